/*
 * tests/unit/test_compile.c: model + topology -> desired state, compared
 * with golden files (tests/golden/compile/; LOOM_UPDATE_GOLDEN=1 rewrites
 * them), plus lookups, determinism and independence from insertion order.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tenancy/compile.h"
#include "tests/unit/test_model_fixture.h"

#define LONG63 "abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefgh"

static void ok(int rc, const struct loom_err *err, const char *what)
{
	if (rc)
		fail_msg("%s: %s %s: %s", what, loom_err_name(err->code), err->field, err->msg);
}

/* The steps that build the "mixed" model, in an order given by @perm. */
static const char *const steps[] = {
	"A {\"segment\":\"soft-a/eth\",\"node\":\"gpu-e1\",\"port\":\"eth0\"}",
	"A {\"segment\":\"soft-a/eth\",\"node\":\"gpu-e2\"}",
	"A {\"segment\":\"soft-b/eth\",\"node\":\"gpu-e1\",\"port\":\"eth1\"}",
	"A {\"segment\":\"soft-a/ib\",\"node\":\"gpu-e1\"}",
	"A {\"segment\":\"soft-a/ib\",\"node\":\"gpu-e2\",\"port\":\"mlx5_0/1\",\"membership\":\"limited\"}",
	"A {\"segment\":\"soft-b/ib\",\"node\":\"gpu-e2\",\"port\":\"mlx5_1/1\"}",
	"A {\"segment\":\"west/eth\",\"node\":\"gpu-w1\"}",
	"A {\"segment\":\"west/ib\",\"node\":\"gpu-w1\",\"membership\":\"full\"}",
	"A {\"segment\":\"" LONG63 "/" LONG63 "\",\"node\":\"gpu-e3\"}",
};

static void build_mixed(struct model *m, const struct topology *topo, const size_t *perm)
{
	struct loom_err err;

	fx_model_init(m);
	ok(fx_tenant(m, topo, "{\"name\":\"soft-a\"}", &err), &err, "soft-a");
	ok(fx_tenant(m, topo, "{\"name\":\"soft-b\"}", &err), &err, "soft-b");
	ok(fx_tenant(m, topo, "{\"name\":\"west\",\"isolation\":\"strict\",\"sites\":[\"west\"]}", &err), &err, "west");
	ok(fx_tenant(m, topo, "{\"name\":\"" LONG63 "\"}", &err), &err, "long");
	ok(fx_segment(m, topo, "soft-a", "{\"name\":\"eth\",\"type\":\"ethernet\",\"mtu\":9000,\"subnet\":\"192.0.2.0/24\"}", &err), &err, "a/eth");
	ok(fx_segment(m, topo, "soft-b", "{\"name\":\"eth\",\"type\":\"ethernet\",\"vni\":10500}", &err), &err, "b/eth");
	ok(fx_segment(m, topo, "west", "{\"name\":\"eth\",\"type\":\"ethernet\"}", &err), &err, "w/eth");
	ok(fx_segment(m, topo, "soft-a", "{\"name\":\"ib\",\"type\":\"infiniband\",\"ipoib\":true,\"ib_mtu\":4096,\"rate_gbps\":400,\"sl\":3}", &err), &err, "a/ib");
	ok(fx_segment(m, topo, "soft-b", "{\"name\":\"ib\",\"type\":\"infiniband\",\"pkey\":\"0x0180\",\"membership\":\"limited\"}", &err), &err, "b/ib");
	ok(fx_segment(m, topo, "west", "{\"name\":\"ib\",\"type\":\"infiniband\",\"membership\":\"limited\"}", &err), &err, "w/ib");
	ok(fx_segment(m, topo, LONG63, "{\"name\":\"" LONG63 "\",\"type\":\"infiniband\"}", &err), &err, "long");
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		ok(fx_attach(m, topo, steps[perm[i]] + 2, &err), &err, steps[perm[i]]);
}

static json_t *compile_json(const struct model *m, const struct topology *topo)
{
	struct desired *d = NULL;
	json_t *j;

	assert_int_equal(compile(m, topo, &d), 0);
	assert_non_null(d);
	j = desired_to_json(d);
	assert_non_null(j);
	desired_free(&d);
	assert_null(d);
	return j;
}

static void test_empty(void **state)
{
	struct topology *topo = fx_topology();
	struct model m;
	struct desired *d = NULL;
	json_t *j;

	(void)state;
	fx_model_init(&m);
	assert_int_equal(compile(&m, topo, &d), 0);
	/* Every target is present, empty: that is what removes everything. */
	assert_int_equal(d->n_vteps, 3);
	assert_int_equal(d->n_sms, 2);
	assert_non_null(desired_vtep(d, "vtep-w1"));
	assert_int_equal(desired_vtep(d, "vtep-w1")->n_vnis, 0);
	assert_non_null(desired_sm(d, "sm-east"));
	assert_null(desired_vtep(d, "vtep-x"));
	assert_null(desired_sm(d, "vtep-e1"));
	j = desired_to_json(d);
	assert_true(fx_golden(j, "tests/golden/compile/empty.json"));
	json_decref(j);
	desired_free(&d);
	desired_free(&d);	/* harmless twice */
	model_clear(&m);
	topology_free(&topo);
}

static void test_mixed(void **state)
{
	static const size_t order[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8 };
	struct topology *topo = fx_topology();
	struct model m;
	struct desired *d = NULL;
	const struct vtep_desired *v;
	const struct sm_desired *sm;
	json_t *j;

	(void)state;
	build_mixed(&m, topo, order);
	j = compile_json(&m, topo);
	assert_true(fx_golden(j, "tests/golden/compile/mixed.json"));
	json_decref(j);

	/* Spot checks on the structs, independent of the golden file. */
	assert_int_equal(compile(&m, topo, &d), 0);
	v = desired_vtep(d, "vtep-e1");
	assert_int_equal(v->n_vnis, 1);
	assert_int_equal(v->vnis[0].vni, 10000);
	assert_int_equal(v->vnis[0].mtu, 9000);
	assert_string_equal(v->vnis[0].rt, "65000:10000");
	assert_int_equal(v->vnis[0].n_ports, 2);
	assert_string_equal(v->vnis[0].ports[0], "swp1");
	assert_string_equal(v->vnis[0].ports[1], "swp2");
	v = desired_vtep(d, "vtep-e2");
	assert_int_equal(v->n_vnis, 2);	/* soft-a via gpu-e2 eth1, soft-b via gpu-e1 eth1 */
	assert_int_equal(v->vnis[0].vni, 10000);
	assert_string_equal(v->vnis[0].ports[0], "swp2");
	assert_int_equal(v->vnis[1].vni, 10500);
	assert_string_equal(v->vnis[1].ports[0], "swp1");
	sm = desired_sm(d, "sm-east");
	assert_int_equal(sm->n_partitions, 3);
	assert_int_equal(sm->partitions[0].pkey, 0x0100);
	assert_string_equal(sm->partitions[0].name, "soft-a_ib");
	assert_true(sm->partitions[0].ipoib);
	assert_int_equal(sm->partitions[0].mtu, 4096);
	assert_int_equal(sm->partitions[0].n_members, 3);	/* gpu-e1 x2, gpu-e2 mlx5_0/1 */
	assert_int_equal(sm->partitions[0].members[0].guid, 0x0002c9030000e101ULL);
	assert_int_equal(sm->partitions[0].members[0].membership, MEMBERSHIP_FULL);
	assert_int_equal(sm->partitions[0].members[2].guid, 0x0002c9030000e201ULL);
	assert_int_equal(sm->partitions[0].members[2].membership, MEMBERSHIP_LIMITED);
	/* The long names are cut to 63 bytes and keep the P_Key for uniqueness. */
	assert_int_equal(sm->partitions[1].pkey, 0x0102);
	assert_int_equal(strlen(sm->partitions[1].name), 63);
	assert_string_equal(sm->partitions[1].name + 58, "_0102");
	/* Segment default membership (limited) applies when the attachment has none. */
	assert_int_equal(sm->partitions[2].pkey, 0x0180);
	assert_int_equal(sm->partitions[2].members[0].membership, MEMBERSHIP_LIMITED);
	/* The attachment's own membership wins over the segment's default. */
	sm = desired_sm(d, "sm-west");
	assert_int_equal(sm->n_partitions, 1);
	assert_int_equal(sm->partitions[0].members[0].membership, MEMBERSHIP_FULL);
	desired_free(&d);
	model_clear(&m);
	topology_free(&topo);
}

static void test_deterministic(void **state)
{
	static const size_t fwd[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8 };
	static const size_t rev[] = { 8, 7, 6, 5, 4, 3, 2, 1, 0 };
	struct topology *topo = fx_topology();
	struct model m1, m2;
	json_t *a, *b, *c;
	char *sa, *sb, *sc;

	(void)state;
	build_mixed(&m1, topo, fwd);
	build_mixed(&m2, topo, rev);
	a = compile_json(&m1, topo);
	b = compile_json(&m1, topo);
	c = compile_json(&m2, topo);
	sa = json_dumps(a, JSON_SORT_KEYS | JSON_COMPACT);
	sb = json_dumps(b, JSON_SORT_KEYS | JSON_COMPACT);
	sc = json_dumps(c, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(sa, sb);
	assert_string_equal(sa, sc);
	/* The key order is fixed too, not only the sorted dump. */
	free(sa);
	free(sc);
	sa = json_dumps(a, JSON_COMPACT);
	sc = json_dumps(c, JSON_COMPACT);
	assert_string_equal(sa, sc);
	free(sa);
	free(sb);
	free(sc);
	json_decref(a);
	json_decref(b);
	json_decref(c);
	model_clear(&m1);
	model_clear(&m2);
	topology_free(&topo);
}

static void test_detach_empties(void **state)
{
	static const size_t order[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8 };
	struct topology *topo = fx_topology();
	struct model m;
	struct loom_err err;
	json_t *j, *empty;

	(void)state;
	build_mixed(&m, topo, order);
	for (size_t i = sizeof(steps) / sizeof(steps[0]); i-- > 0;)
		ok(fx_detach(&m, steps[i] + 2, &err), &err, steps[i]);
	j = compile_json(&m, topo);
	model_clear(&m);
	fx_model_init(&m);	/* fresh model, same topology */
	empty = compile_json(&m, topo);
	assert_true(json_equal(j, empty));
	json_decref(j);
	json_decref(empty);
	model_clear(&m);
	topology_free(&topo);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_mixed),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_detach_empties),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

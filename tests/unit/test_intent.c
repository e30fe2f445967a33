/*
 * tests/unit/test_intent.c: the declarative file: parsing with exact field
 * paths, plans compared with golden files (tests/golden/intent/), the order
 * of changes, immutable fields, and idempotence (apply the plan, plan
 * again: nothing left to do).
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

#include "tenancy/intent.h"
#include "tests/unit/test_model_fixture.h"

struct fx {
	struct model m;
	struct topology *topo;
	struct loom_err err;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->topo = fx_topology();
	fx_model_init(&f->m);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	model_clear(&f->m);
	topology_free(&f->topo);
	free(f);
	return 0;
}

static json_t *load_text(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &je);

	if (!j)
		fail_msg("bad test JSON: %s: %s", text, je.text);
	return j;
}

static struct intent *parse_file(const char *rel)
{
	char *text = fx_read_srcfile(rel);
	struct intent *in = NULL;
	struct loom_err err = { 0 };
	json_t *j;

	assert_non_null(text);
	j = load_text(text);
	if (intent_parse(j, &in, &err))
		fail_msg("%s: %s: %s", rel, err.field, err.msg);
	json_decref(j);
	free(text);
	return in;
}

static struct intent *parse_text(const char *text)
{
	struct intent *in = NULL;
	struct loom_err err = { 0 };
	json_t *j = load_text(text);

	if (intent_parse(j, &in, &err))
		fail_msg("%s: %s: %s", text, err.field, err.msg);
	json_decref(j);
	return in;
}

static json_t *plan_json(const struct change *c, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		assert_int_equal(json_array_append_new(a, change_to_json(&c[i])), 0);
	return a;
}

/* Plan, apply every change, plan again: returns the first plan's length. */
static size_t plan_apply(struct fx *f, const struct intent *in, const char *golden)
{
	struct change *c = NULL, *again = NULL;
	size_t n = 0, n2 = 99;

	loom_err_clear(&f->err);
	if (intent_plan(&f->m, in, &c, &n, &f->err))
		fail_msg("plan: %s: %s", f->err.field, f->err.msg);
	if (golden) {
		json_t *j = plan_json(c, n);

		assert_true(fx_golden(j, golden));
		json_decref(j);
	}
	for (size_t i = 1; i < n; i++)	/* the order the server relies on */
		assert_true(c[i - 1].op <= c[i].op);
	for (size_t i = 0; i < n; i++) {
		loom_err_clear(&f->err);
		if (change_apply(&f->m, f->topo, &c[i], &f->err))
			fail_msg("change %zu (%s): %s: %s", i, change_op_name(c[i].op), f->err.field,
				 f->err.msg);
	}
	changes_free(&c, n);
	assert_null(c);
	assert_int_equal(intent_plan(&f->m, in, &again, &n2, &f->err), 0);
	if (n2) {
		json_t *j = plan_json(again, n2);
		char *s = json_dumps(j, JSON_COMPACT);

		fail_msg("not idempotent, %zu changes left: %s", n2, s);
	}
	assert_null(again);
	return n;
}

static void test_apply_twice(void **state)
{
	struct fx *f = *state;
	struct intent *in = parse_file("tests/golden/intent/example.json");
	char *before, *after;
	size_t n;

	/* A tenant the file does not name stays as it is. */
	assert_int_equal(fx_tenant(&f->m, f->topo, "{\"name\":\"other\"}", &f->err), 0);
	assert_int_equal(fx_segment(&f->m, f->topo, "other", "{\"name\":\"s\",\"type\":\"ethernet\"}", &f->err), 0);
	assert_int_equal(fx_attach(&f->m, f->topo, "{\"segment\":\"other/s\",\"node\":\"cpu-e4\"}", &f->err), 0);

	n = plan_apply(f, in, "tests/golden/intent/example.plan.json");
	assert_int_equal(n, 2 + 3 + 5);	/* 2 tenants, 3 segments, 5 attachments */
	assert_int_equal(model_segment(&f->m, "acme", "rdma")->pkey, 0x0110);
	assert_int_equal(model_segment(&f->m, "acme", "train")->vni, 10001);
	assert_int_equal(model_tenant(&f->m, "acme")->isolation, ISOLATION_STRICT);
	assert_non_null(model_segment(&f->m, "other", "s"));

	/* Applying the same file again: zero changes, the model as it was. */
	before = fx_model_dump(&f->m);
	assert_int_equal(plan_apply(f, in, NULL), 0);
	after = fx_model_dump(&f->m);
	assert_string_equal(before, after);
	free(before);
	free(after);
	intent_free(&in);
	assert_null(in);

	/* The second file: removes, adds, updates; beta is not named: untouched. */
	in = parse_file("tests/golden/intent/example2.json");
	n = plan_apply(f, in, "tests/golden/intent/example2.plan.json");
	assert_true(n > 0);
	assert_null(model_segment(&f->m, "acme", "rdma"));
	assert_non_null(model_segment(&f->m, "beta", "web"));
	assert_int_equal(model_segment(&f->m, "gamma", "x")->vni, 10900);
	/* The deleted segment's P_Key is held for acme. */
	assert_int_equal(f->m.n_holds, 1);
	assert_int_equal(f->m.holds[0].id, 0x0110);
	assert_string_equal(f->m.holds[0].tenant, "acme");
	assert_string_equal(json_string_value(json_object_get(model_tenant(&f->m, "acme")->labels,
							      "cost-center")), "42");
	intent_free(&in);
}

static void test_membership_and_move(void **state)
{
	struct fx *f = *state;
	struct intent *in;
	struct change *c = NULL;
	size_t n = 0;

	in = parse_text("{\"tenants\":[{\"name\":\"a\",\"segments\":[{\"name\":\"ib\",\"type\":\"infiniband\","
			"\"attachments\":[{\"node\":\"gpu-e1\",\"port\":\"mlx5_0/1\"}]},"
			"{\"name\":\"eth\",\"type\":\"ethernet\",\"attachments\":[{\"node\":\"gpu-e1\",\"port\":\"eth0\"}]}]},"
			"{\"name\":\"b\",\"segments\":[{\"name\":\"eth\",\"type\":\"ethernet\"}]}]}");
	plan_apply(f, in, NULL);
	intent_free(&in);

	/* Membership changes: detach then attach.  The NIC port moves from
	 * tenant a to tenant b in one file: detach is planned before attach. */
	in = parse_text("{\"tenants\":[{\"name\":\"b\",\"segments\":[{\"name\":\"eth\",\"type\":\"ethernet\","
			"\"attachments\":[{\"node\":\"gpu-e1\",\"port\":\"eth0\"}]}]},"
			"{\"name\":\"a\",\"segments\":[{\"name\":\"ib\",\"type\":\"infiniband\","
			"\"attachments\":[{\"node\":\"gpu-e1\",\"port\":\"mlx5_0/1\",\"membership\":\"limited\"}]},"
			"{\"name\":\"eth\",\"type\":\"ethernet\"}]}]}");
	assert_int_equal(intent_plan(&f->m, in, &c, &n, &f->err), 0);
	assert_int_equal(n, 4);
	assert_int_equal(c[0].op, CHANGE_DETACH);
	assert_string_equal(c[0].attachment.tenant, "a");
	assert_string_equal(c[0].attachment.segment, "ib");
	assert_int_equal(c[1].op, CHANGE_DETACH);
	assert_string_equal(c[1].attachment.segment, "eth");
	assert_int_equal(c[2].op, CHANGE_ATTACH);
	assert_string_equal(c[2].attachment.tenant, "b");
	assert_int_equal(c[3].op, CHANGE_ATTACH);
	assert_int_equal(c[3].attachment.membership, MEMBERSHIP_LIMITED);
	changes_free(&c, n);
	plan_apply(f, in, NULL);
	intent_free(&in);
}

static void test_omitted_ids_kept(void **state)
{
	struct fx *f = *state;
	struct intent *in;

	assert_int_equal(fx_tenant(&f->m, f->topo, "{\"name\":\"a\",\"isolation\":\"private\"}", &f->err), 0);
	assert_int_equal(fx_segment(&f->m, f->topo, "a", "{\"name\":\"e\",\"type\":\"ethernet\",\"vni\":10700}", &f->err), 0);
	assert_int_equal(fx_segment(&f->m, f->topo, "a", "{\"name\":\"i\",\"type\":\"infiniband\",\"pkey\":300}", &f->err), 0);
	/* No vni, no pkey, no isolation: keep what is there. */
	in = parse_text("{\"tenants\":[{\"name\":\"a\",\"segments\":[{\"name\":\"e\",\"type\":\"ethernet\"},"
			"{\"name\":\"i\",\"type\":\"infiniband\"}]}]}");
	assert_int_equal(plan_apply(f, in, NULL), 0);
	intent_free(&in);
	/* The same values spelled out: still nothing to do. */
	in = parse_text("{\"tenants\":[{\"name\":\"a\",\"isolation\":\"private\",\"sites\":[],\"labels\":{},"
			"\"segments\":[{\"name\":\"e\",\"type\":\"ethernet\",\"vni\":10700,\"mtu\":1500},"
			"{\"name\":\"i\",\"type\":\"infiniband\",\"pkey\":\"0x012c\",\"ib_mtu\":2048,\"membership\":\"full\"}]}]}");
	assert_int_equal(plan_apply(f, in, NULL), 0);
	intent_free(&in);
	/* Omitting a segment removes it. */
	in = parse_text("{\"tenants\":[{\"name\":\"a\"}]}");
	assert_int_equal(plan_apply(f, in, NULL), 2);
	assert_int_equal(f->m.n_segments, 0);
	intent_free(&in);
}

static void test_immutable(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *file, *field;
	} cases[] = {
		{ "{\"tenants\":[{\"name\":\"a\",\"isolation\":\"soft\"}]}", "tenants[0].isolation" },
		{ "{\"tenants\":[{\"name\":\"z\"},{\"name\":\"a\",\"segments\":[{\"name\":\"e\",\"type\":\"infiniband\"}]}]}",
		  "tenants[1].segments[0].type" },
		{ "{\"tenants\":[{\"name\":\"a\",\"segments\":[{\"name\":\"i\",\"type\":\"infiniband\"},"
		  "{\"name\":\"e\",\"type\":\"ethernet\",\"vni\":10701}]}]}", "tenants[0].segments[1].vni" },
		{ "{\"tenants\":[{\"name\":\"a\",\"segments\":[{\"name\":\"e\",\"type\":\"ethernet\",\"mtu\":9000}]}]}",
		  "tenants[0].segments[0].mtu" },
		{ "{\"tenants\":[{\"name\":\"a\",\"segments\":[{\"name\":\"e\",\"type\":\"ethernet\",\"subnet\":\"192.0.2.0/24\"}]}]}",
		  "tenants[0].segments[0].subnet" },
		{ "{\"tenants\":[{\"name\":\"a\",\"segments\":[{\"name\":\"i\",\"type\":\"infiniband\",\"pkey\":301}]}]}",
		  "tenants[0].segments[0].pkey" },
		{ "{\"tenants\":[{\"name\":\"a\",\"segments\":[{\"name\":\"i\",\"type\":\"infiniband\",\"ipoib\":true}]}]}",
		  "tenants[0].segments[0].ipoib" },
		{ "{\"tenants\":[{\"name\":\"a\",\"segments\":[{\"name\":\"i\",\"type\":\"infiniband\",\"sl\":1}]}]}",
		  "tenants[0].segments[0].sl" },
		{ "{\"tenants\":[{\"name\":\"a\",\"segments\":[{\"name\":\"i\",\"type\":\"infiniband\",\"membership\":\"limited\"}]}]}",
		  "tenants[0].segments[0].membership" },
	};

	assert_int_equal(fx_tenant(&f->m, f->topo, "{\"name\":\"a\",\"isolation\":\"strict\"}", &f->err), 0);
	assert_int_equal(fx_segment(&f->m, f->topo, "a", "{\"name\":\"e\",\"type\":\"ethernet\",\"vni\":10700}", &f->err), 0);
	assert_int_equal(fx_segment(&f->m, f->topo, "a", "{\"name\":\"i\",\"type\":\"infiniband\",\"pkey\":300}", &f->err), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct intent *in = parse_text(cases[i].file);
		struct change *c = NULL;
		size_t n = 0;
		int rc;

		loom_err_clear(&f->err);
		rc = intent_plan(&f->m, in, &c, &n, &f->err);
		if (rc != -EINVAL || f->err.code != LOOM_E_IMMUTABLE || strcmp(f->err.field, cases[i].field))
			fail_msg("case %zu: rc %d %s \"%s\": %s", i, rc, loom_err_name(f->err.code),
				 f->err.field, f->err.msg);
		assert_null(c);
		intent_free(&in);
	}
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *file;
		int code;
		const char *field;
	} cases[] = {
		{ "[]", LOOM_E_PARAMS, "" },
		{ "{}", LOOM_E_PARAMS, "tenants" },
		{ "{\"tenants\":{}}", LOOM_E_PARAMS, "tenants" },
		{ "{\"tenants\":[],\"tenant\":[]}", LOOM_E_PARAMS, "tenant" },
		{ "{\"tenants\":[5]}", LOOM_E_PARAMS, "tenants[0]" },
		{ "{\"tenants\":[{\"name\":\"a\"},{\"name\":\"B\"}]}", LOOM_E_PARAMS, "tenants[1].name" },
		{ "{\"tenants\":[{\"name\":\"a\"},{\"name\":\"a\"}]}", LOOM_E_PARAMS, "tenants[1].name" },
		{ "{\"tenants\":[{\"name\":\"a\",\"isolation\":\"x\"}]}", LOOM_E_PARAMS, "tenants[0].isolation" },
		{ "{\"tenants\":[{\"name\":\"a\",\"sites\":[\"e\",7]}]}", LOOM_E_PARAMS, "tenants[0].sites[1]" },
		{ "{\"tenants\":[{\"name\":\"a\",\"segments\":{}}]}", LOOM_E_PARAMS, "tenants[0].segments" },
		{ "{\"tenants\":[{\"name\":\"a\",\"segments\":[7]}]}", LOOM_E_PARAMS, "tenants[0].segments[0]" },
		{ "{\"tenants\":[{\"name\":\"a\",\"segments\":[{\"name\":\"e\",\"type\":\"ethernet\",\"vni\":0}]}]}",
		  LOOM_E_RANGE, "tenants[0].segments[0].vni" },
		{ "{\"tenants\":[{\"name\":\"z\"},{\"name\":\"a\",\"segments\":[{\"name\":\"e\",\"type\":\"ethernet\"},"
		  "{\"name\":\"i\",\"type\":\"infiniband\",\"pkey\":\"0x8001\"}]}]}", LOOM_E_RANGE, "tenants[1].segments[1].pkey" },
		{ "{\"tenants\":[{\"name\":\"a\",\"segments\":[{\"name\":\"e\",\"type\":\"ethernet\"},"
		  "{\"name\":\"e\",\"type\":\"ethernet\"}]}]}", LOOM_E_PARAMS, "tenants[0].segments[1].name" },
		{ "{\"tenants\":[{\"name\":\"a\",\"segments\":[{\"name\":\"e\",\"type\":\"ethernet\",\"tenant\":\"b\"}]}]}",
		  LOOM_E_PARAMS, "tenants[0].segments[0].tenant" },
		{ "{\"tenants\":[{\"name\":\"a\",\"segments\":[{\"name\":\"e\",\"type\":\"ethernet\",\"attachments\":7}]}]}",
		  LOOM_E_PARAMS, "tenants[0].segments[0].attachments" },
		{ "{\"tenants\":[{\"name\":\"a\",\"segments\":[{\"name\":\"e\",\"type\":\"ethernet\",\"attachments\":[{}]}]}]}",
		  LOOM_E_PARAMS, "tenants[0].segments[0].attachments[0].node" },
		{ "{\"tenants\":[{\"name\":\"a\",\"segments\":[{\"name\":\"e\",\"type\":\"ethernet\",\"attachments\":"
		  "[{\"node\":\"n1\"},{\"node\":\"n1\"}]}]}]}", LOOM_E_PARAMS, "tenants[0].segments[0].attachments[1].node" },
		{ "{\"tenants\":[{\"name\":\"a\",\"segments\":[{\"name\":\"e\",\"type\":\"ethernet\",\"attachments\":"
		  "[{\"node\":\"n1\",\"port\":\"eth0\"},{\"node\":\"n1\",\"port\":\"eth0\"}]}]}]}", LOOM_E_PARAMS,
		  "tenants[0].segments[0].attachments[1].port" },
		{ "{\"tenants\":[{\"name\":\"a\",\"segments\":[{\"name\":\"e\",\"type\":\"ethernet\",\"attachments\":"
		  "[{\"node\":\"n1\",\"membership\":\"full\"}]}]}]}", LOOM_E_PARAMS,
		  "tenants[0].segments[0].attachments[0].membership" },
		{ "{\"tenants\":[{\"name\":\"a\",\"segments\":[{\"name\":\"e\",\"type\":\"ethernet\",\"attachments\":"
		  "[{\"node\":\"n1\",\"segment\":\"a/e\"}]}]}]}", LOOM_E_PARAMS,
		  "tenants[0].segments[0].attachments[0].segment" },
		{ "{\"tenants\":[{\"name\":\"a\",\"segments\":[{\"name\":\"e\",\"type\":\"ethernet\",\"attachments\":"
		  "[\"n1\"]}]}]}", LOOM_E_PARAMS, "tenants[0].segments[0].attachments[0]" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = load_text(cases[i].file);
		struct intent *in = NULL;
		struct loom_err err = { 0 };
		int rc = intent_parse(j, &in, &err);

		json_decref(j);
		if (rc != -EINVAL || err.code != cases[i].code || strcmp(err.field, cases[i].field))
			fail_msg("case %zu: rc %d %s \"%s\": %s (want \"%s\")", i, rc,
				 loom_err_name(err.code), err.field, err.msg, cases[i].field);
		assert_null(in);
	}
}

static void test_change_json(void **state)
{
	struct fx *f = *state;
	struct change c;
	json_t *j, *want;

	(void)f;
	memset(&c, 0, sizeof(c));
	c.op = CHANGE_SEGMENT_ADD;
	strcpy(c.segment.tenant, "a");
	strcpy(c.segment.name, "e");
	c.segment.type = SEG_ETHERNET;
	c.segment.mtu = 1500;
	j = change_to_json(&c);
	/* Not yet allocated: no vni, no derived RD/RT in the request. */
	want = json_pack("{ss s{ss ss ss sI}}", "op", "segment.create", "segment", "tenant", "a",
			 "name", "e", "type", "ethernet", "mtu", (json_int_t)1500);
	assert_true(json_equal(j, want));
	json_decref(want);
	json_decref(j);
	c.op = CHANGE_DETACH;
	strcpy(c.attachment.tenant, "a");
	strcpy(c.attachment.segment, "e");
	strcpy(c.attachment.node, "gpu-e1");
	j = change_to_json(&c);
	assert_string_equal(json_string_value(json_object_get(j, "op")), "segment.detach");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "attachment"), "segment")), "a/e");
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_apply_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_membership_and_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_omitted_ids_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_immutable, setup, teardown),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test_setup_teardown(test_change_json, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

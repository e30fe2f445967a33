/*
 * tests/unit/test_slice_json.c: each kind of slice to JSON and back gives
 * an equal slice; a malformed value is refused with the field at fault
 * named, and nothing is returned.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tenancy/slice_json.h"

static char vtep_ports[2][LOOM_IFNAME_MAX] = { "swp1", "swp7" };

static void fill_vtep(struct vtep_desired *d, struct vtep_vni *v)
{
	memset(d, 0, sizeof(*d));
	memset(v, 0, 2 * sizeof(*v));
	strcpy(d->vtep, "leaf1");
	v[0].vni = 10100;
	v[0].mtu = 9000;
	strcpy(v[0].tenant, "acme");
	strcpy(v[0].segment, "eth");
	strcpy(v[0].rd, "10.0.0.1:100");
	strcpy(v[0].rt, "65000:10100");
	v[0].ports = vtep_ports;
	v[0].n_ports = 2;
	v[1].vni = 10200;
	strcpy(v[1].tenant, "beta");
	strcpy(v[1].segment, "eth");
	v[1].ports = vtep_ports;
	d->vnis = v;
	d->n_vnis = 2;
}

static void vtep_round_trip(void **state)
{
	struct vtep_desired d, *back = NULL;
	struct vtep_vni v[2];
	struct loom_err err = { 0 };
	json_t *j;
	char *text;

	(void)state;
	fill_vtep(&d, v);
	j = vtep_desired_to_json(&d);
	assert_non_null(j);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	j = json_loads(text, 0, NULL);
	assert_int_equal(vtep_desired_from_json(j, &back, &err), 0);
	assert_true(vtep_desired_equal(&d, back));
	assert_string_equal(back->vtep, "leaf1");
	vtep_desired_free(&back);
	free(text);
	json_decref(j);

	/* Routed: the VNI's L3 VNI and gateways, the VTEP's VRFs and gateway MAC. */
	{
		struct vtep_vrf vrf = { .l3vni = 100000, .tenant = "acme", .rd = "65000:100000",
					.rt = "65000:100000" };

		v[0].l3vni = 100000;
		snprintf(v[0].gateway4, sizeof(v[0].gateway4), "192.0.2.1/24");
		d.vrfs = &vrf;
		d.n_vrfs = 1;
		snprintf(d.gateway_mac, sizeof(d.gateway_mac), "02:6c:6f:6f:6d:01");
		j = vtep_desired_to_json(&d);
		assert_non_null(j);
		assert_int_equal(vtep_desired_from_json(j, &back, &err), 0);
		assert_true(vtep_desired_equal(&d, back));
		assert_string_equal(back->vnis[0].gateway4, "192.0.2.1/24");
		assert_int_equal(back->vrfs[0].l3vni, 100000);
		vtep_desired_free(&back);
		json_decref(j);
	}
}

/* @text must be refused naming @field; nothing comes back. */
static void vtep_refused(const char *text, const char *field)
{
	struct vtep_desired *back = (void *)1;
	struct loom_err err = { 0 };
	json_t *j = json_loads(text, 0, NULL);

	assert_non_null(j);
	assert_int_not_equal(vtep_desired_from_json(j, &back, &err), 0);
	assert_null(back);
	assert_string_equal(err.field, field);
	assert_non_null(strstr(err.msg, field));
	json_decref(j);
}

static void vtep_malformed(void **state)
{
	(void)state;
	vtep_refused("[]", "slice");
	vtep_refused("{\"vnis\":[]}", "vtep");
	vtep_refused("{\"vtep\":\"l\",\"vnis\":{}}", "vnis");
	vtep_refused("{\"vtep\":\"l\",\"vnis\":[{\"vni\":\"10\",\"tenant\":\"a\",\"segment\":\"s\"}]}", "vnis[0].vni");
	vtep_refused("{\"vtep\":\"l\",\"vnis\":[{\"vni\":16777216,\"tenant\":\"a\",\"segment\":\"s\"}]}",
		     "vnis[0].vni");
	vtep_refused("{\"vtep\":\"l\",\"vnis\":[{\"vni\":5,\"tenant\":\"a\",\"segment\":\"s\"},"
		     "{\"vni\":5,\"tenant\":\"a\",\"segment\":\"t\"}]}", "vnis[1]");
	vtep_refused("{\"vtep\":\"l\",\"vnis\":[{\"vni\":5,\"tenant\":\"a\",\"segment\":\"s\","
		     "\"ports\":[\"averyveryverylongname\"]}]}", "vnis[0].ports[0]");
	vtep_refused("{\"vtep\":\"l\",\"vnis\":[{\"vni\":5,\"segment\":\"s\"}]}", "vnis[0].tenant");
	vtep_refused("{\"vtep\":\"l\",\"vnis\":[{\"vni\":5,\"tenant\":\"a\",\"segment\":\"s\",\"mtu\":-1}]}",
		     "vnis[0].mtu");
}

static void sm_round_trip(void **state)
{
	struct pkey_member mb[2] = {
		{ .guid = 0x0002c90300000001ULL, .membership = MEMBERSHIP_FULL, .node = "gpu1", .port = "mlx5_0/1" },
		{ .guid = 0x0002c90300000002ULL, .membership = MEMBERSHIP_LIMITED, .node = "gpu2", .port = "mlx5_0/1" },
	};
	struct sm_partition p = { .pkey = 0x8001 & 0x7fff, .name = "acme_ib", .tenant = "acme", .segment = "ib",
				  .ipoib = true, .mtu = 4096, .rate_gbps = 200, .sl = 3, .members = mb,
				  .n_members = 2 };
	struct sm_desired d = { .sm = "sm1", .partitions = &p, .n_partitions = 1 }, *back = NULL;
	struct loom_err err = { 0 };
	json_t *j;

	(void)state;
	j = sm_desired_to_json(&d);
	assert_non_null(j);
	assert_int_equal(sm_desired_from_json(j, &back, &err), 0);
	assert_true(sm_desired_equal(&d, back));
	sm_desired_free(&back);
	json_decref(j);

	j = json_loads("{\"sm\":\"s\",\"partitions\":[{\"pkey\":2,\"name\":\"n\",\"tenant\":\"t\",\"segment\":\"g\","
		       "\"members\":[{\"guid\":\"12\",\"membership\":\"full\"}]}]}", 0, NULL);
	assert_int_not_equal(sm_desired_from_json(j, &back, &err), 0);
	assert_null(back);
	assert_string_equal(err.field, "partitions[0].members[0].guid");
	json_decref(j);
	loom_err_clear(&err);
	j = json_loads("{\"sm\":\"s\",\"partitions\":[{\"pkey\":32767,\"name\":\"n\",\"tenant\":\"t\",\"segment\":\"g\"}]}",
		       0, NULL);
	assert_int_not_equal(sm_desired_from_json(j, &back, &err), 0);
	assert_string_equal(err.field, "partitions[0].pkey");
	json_decref(j);
	loom_err_clear(&err);
	j = json_loads("{\"sm\":\"s\",\"partitions\":[{\"pkey\":3,\"name\":\"n\",\"tenant\":\"t\",\"segment\":\"g\","
		       "\"members\":[{\"guid\":\"0x1\",\"membership\":\"half\"}]}]}", 0, NULL);
	assert_int_not_equal(sm_desired_from_json(j, &back, &err), 0);
	assert_string_equal(err.field, "partitions[0].members[0].membership");
	json_decref(j);
}

static void gpu_round_trip(void **state)
{
	const struct mig_model *m = mig_model_at(0);
	struct gpu_layout l[2];
	struct gpu_desired d = { .node = "gpu1", .layouts = l, .n_layouts = 2 }, *back = NULL;
	struct loom_err err = { 0 };
	json_t *j;

	(void)state;
	memset(l, 0, sizeof(l));
	l[0].index = 0;
	l[0].gi[0].profile = &m->profiles[0];
	l[0].gi[0].start = m->profiles[0].starts[0];
	strcpy(l[0].gi[0].tenant, "acme");
	l[0].n_gi = 1;
	l[1].index = 3;
	j = gpu_desired_to_json(&d);
	assert_non_null(j);
	assert_int_equal(gpu_desired_from_json(j, &back, &err), 0);
	assert_true(gpu_desired_equal(&d, back));
	assert_ptr_equal(back->layouts[0].gi[0].profile, &m->profiles[0]);
	gpu_desired_free(&back);
	json_decref(j);

	j = json_loads("{\"node\":\"n\",\"layouts\":[{\"index\":0,\"instances\":[{\"model\":\"nope\","
		       "\"profile\":\"1g.10gb\"}]}]}", 0, NULL);
	assert_int_not_equal(gpu_desired_from_json(j, &back, &err), 0);
	assert_null(back);
	assert_string_equal(err.field, "layouts[0].instances[0].model");
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vtep_round_trip),
		cmocka_unit_test(vtep_malformed),
		cmocka_unit_test(sm_round_trip),
		cmocka_unit_test(gpu_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

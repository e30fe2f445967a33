/*
 * tests/unit/test_model_routing.c: routed segments: the gateway's parse
 * (inside the subnet, a host address, one per family, fields named), the
 * tenant's L3 VNI (taken with its first routed segment, kept while it has
 * one, held when its last one goes, never handed to another tenant while
 * held, its own pool), overlapping subnets across tenants and not inside
 * one, and every refusal leaving the model as it was.
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

#include "tenancy/model.h"
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
	assert_int_equal(fx_tenant(&f->m, f->topo, "{\"name\":\"acme\"}", &f->err), 0);
	assert_int_equal(fx_tenant(&f->m, f->topo, "{\"name\":\"beta\"}", &f->err), 0);
	assert_int_equal(fx_tenant(&f->m, f->topo, "{\"name\":\"gamma\"}", &f->err), 0);
	assert_int_equal(fx_tenant(&f->m, f->topo, "{\"name\":\"delta\"}", &f->err), 0);
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

#define EXPECT_FAIL(f, call, code, field, substr) \
	FX_EXPECT_FAIL(&(f)->m, &(f)->err, call, code, field, substr)

static uint32_t l3vni(struct fx *f, const char *tenant)
{
	const struct tenant *t = model_tenant(&f->m, tenant);

	assert_non_null(t);
	return t->l3vni;
}

/* segment_from_json must refuse @json, naming @field, with @substr in the message. */
static void parse_bad(const char *json, int code, const char *field, const char *substr)
{
	json_t *j = json_loads(json, 0, NULL);
	struct loom_err err;
	struct segment s;

	assert_non_null(j);
	loom_err_clear(&err);
	if (segment_from_json(j, "acme", &s, &err) != -EINVAL || err.code != code ||
	    strcmp(err.field, field) != 0 || !strstr(err.msg, substr))
		fail_msg("%s: got %s field \"%s\": %s (wanted %s field \"%s\" with \"%s\")", json,
			 loom_err_name(err.code), err.field, err.msg, loom_err_name(code), field, substr);
	json_decref(j);
}

static void test_gateway_parse(void **state)
{
	json_t *j = json_loads("{\"name\":\"a\",\"type\":\"ethernet\",\"subnet\":[\"192.0.2.0/24\","
			       "\"2001:DB8:1::/64\"],\"gateway\":[\"2001:db8:1:0::1\",\"192.0.2.1\"]}",
			       0, NULL);
	struct loom_err err;
	struct segment s;
	json_t *out;

	(void)state;
	assert_int_equal(segment_from_json(j, "acme", &s, &err), 0);
	assert_string_equal(s.gateway4, "192.0.2.1");
	assert_string_equal(s.gateway6, "2001:db8:1::1");	/* normalised */
	assert_true(segment_routed(&s));
	out = segment_to_json(&s);
	assert_string_equal(json_string_value(json_array_get(json_object_get(out, "gateway"), 0)),
			    "192.0.2.1");
	json_decref(out);
	json_decref(j);

	parse_bad("{\"name\":\"a\",\"type\":\"ethernet\",\"gateway\":\"192.0.2.1\"}",
		  LOOM_E_PARAMS, "gateway", "needs an IPv4 subnet");
	parse_bad("{\"name\":\"a\",\"type\":\"ethernet\",\"subnet\":\"2001:db8::/64\",\"gateway\":\"192.0.2.1\"}",
		  LOOM_E_PARAMS, "gateway", "needs an IPv4 subnet");
	parse_bad("{\"name\":\"a\",\"type\":\"ethernet\",\"subnet\":\"192.0.2.0/24\",\"gateway\":\"198.51.100.1\"}",
		  LOOM_E_PARAMS, "gateway", "not inside the segment's subnet 192.0.2.0/24");
	parse_bad("{\"name\":\"a\",\"type\":\"ethernet\",\"subnet\":\"192.0.2.0/24\",\"gateway\":\"192.0.2.0\"}",
		  LOOM_E_PARAMS, "gateway", "network address");
	parse_bad("{\"name\":\"a\",\"type\":\"ethernet\",\"subnet\":\"192.0.2.0/24\",\"gateway\":\"192.0.2.255\"}",
		  LOOM_E_PARAMS, "gateway", "broadcast address");
	parse_bad("{\"name\":\"a\",\"type\":\"ethernet\",\"subnet\":\"192.0.2.0/24\",\"gateway\":\"192.0.2.1/24\"}",
		  LOOM_E_PARAMS, "gateway", "no prefix length");
	parse_bad("{\"name\":\"a\",\"type\":\"ethernet\",\"subnet\":\"192.0.2.0/24\",\"gateway\":[\"192.0.2.1\",\"192.0.2.2\"]}",
		  LOOM_E_PARAMS, "gateway[1]", "at most one IPv4");
	parse_bad("{\"name\":\"a\",\"type\":\"ethernet\",\"subnet\":\"192.0.2.0/24\",\"gateway\":7}",
		  LOOM_E_PARAMS, "gateway", "must be an address");
	parse_bad("{\"name\":\"a\",\"type\":\"ethernet\",\"subnet\":\"2001:db8::/64\",\"gateway\":\"2001:db8::\"}",
		  LOOM_E_PARAMS, "gateway", "network address");
	parse_bad("{\"name\":\"a\",\"type\":\"infiniband\",\"gateway\":\"192.0.2.1\"}",
		  LOOM_E_PARAMS, "gateway", "belongs to ethernet");
}

static void test_l3vni_per_tenant(void **state)
{
	struct fx *f = *state;

	/* A layer-2 segment takes no L3 VNI. */
	assert_int_equal(fx_segment(&f->m, f->topo, "acme", "{\"name\":\"l2\",\"type\":\"ethernet\","
				    "\"subnet\":\"203.0.113.0/24\"}", &f->err), 0);
	assert_int_equal(l3vni(f, "acme"), 0);
	assert_int_equal(fx_segment(&f->m, f->topo, "acme", "{\"name\":\"a\",\"type\":\"ethernet\","
				    "\"subnet\":\"192.0.2.0/25\",\"gateway\":\"192.0.2.1\"}", &f->err), 0);
	assert_int_equal(l3vni(f, "acme"), 20000);
	assert_int_equal(fx_segment(&f->m, f->topo, "acme", "{\"name\":\"b\",\"type\":\"ethernet\","
				    "\"subnet\":\"192.0.2.128/25\",\"gateway\":\"192.0.2.129\"}", &f->err), 0);
	assert_int_equal(l3vni(f, "acme"), 20000);	/* one per tenant */
	/* The same subnets in another tenant: allowed, its own L3 VNI. */
	assert_int_equal(fx_segment(&f->m, f->topo, "beta", "{\"name\":\"a\",\"type\":\"ethernet\","
				    "\"subnet\":\"192.0.2.0/25\",\"gateway\":\"192.0.2.1\"}", &f->err), 0);
	assert_int_equal(fx_segment(&f->m, f->topo, "beta", "{\"name\":\"b\",\"type\":\"ethernet\","
				    "\"subnet\":\"192.0.2.128/25\",\"gateway\":\"192.0.2.129\"}", &f->err), 0);
	assert_int_equal(l3vni(f, "beta"), 20001);
	/* L2 VNIs come from their own pool, unaffected. */
	assert_int_equal(model_segment(&f->m, "beta", "a")->vni, 10003);

	{
		char rd[32], rt[32], vrf[16];

		tenant_rd_rt(&f->m.pools, model_tenant(&f->m, "beta"), rd, rt);
		tenant_vrf_name(20001, vrf);
		assert_string_equal(rd, "65000:20001");
		assert_string_equal(rt, "65000:20001");
		assert_string_equal(vrf, "lv20001");
		tenant_rd_rt(&f->m.pools, model_tenant(&f->m, "gamma"), rd, rt);
		assert_string_equal(rd, "");
	}

	/* Overlap inside one tenant: refused, field named, nothing changed. */
	EXPECT_FAIL(f, fx_segment(&f->m, f->topo, "acme", "{\"name\":\"c\",\"type\":\"ethernet\","
				  "\"subnet\":\"192.0.2.0/24\",\"gateway\":\"192.0.2.3\"}", &f->err),
		    LOOM_E_CONFLICT, "subnet", "overlaps 192.0.2.0/25 of segment acme/a");
	/* A tenant without a routed segment that overlaps gets none either. */
	EXPECT_FAIL(f, fx_segment(&f->m, f->topo, "gamma", "{\"name\":\"x\",\"type\":\"ethernet\","
				  "\"subnet\":\"192.0.2.0/24\",\"gateway\":\"192.0.2.1\",\"vni\":10003}", &f->err),
		    LOOM_E_CONFLICT, "vni", "beta/a");
	assert_int_equal(l3vni(f, "gamma"), 0);
}

static void test_l3vni_exhausted_and_held(void **state)
{
	struct fx *f = *state;
	const char *routed = "{\"name\":\"r\",\"type\":\"ethernet\",\"subnet\":\"192.0.2.0/24\","
			     "\"gateway\":\"192.0.2.1\"}";

	assert_int_equal(fx_segment(&f->m, f->topo, "acme", routed, &f->err), 0);
	assert_int_equal(fx_segment(&f->m, f->topo, "beta", routed, &f->err), 0);
	assert_int_equal(fx_segment(&f->m, f->topo, "gamma", routed, &f->err), 0);
	assert_int_equal(l3vni(f, "gamma"), 20002);
	/* Pool 20000-20002 is used up: refused on "gateway", the model unchanged. */
	EXPECT_FAIL(f, fx_segment(&f->m, f->topo, "delta", routed, &f->err),
		    LOOM_E_EXHAUSTED, "gateway", "L3 VNI pool 20000..20002 has no free ID (3 used by tenants");
	/* A layer-2 segment still works for delta. */
	assert_int_equal(fx_segment(&f->m, f->topo, "delta", "{\"name\":\"l2\",\"type\":\"ethernet\"}",
				    &f->err), 0);

	/* beta's last routed segment goes: its L3 VNI is held for beta. */
	assert_int_equal(model_segment_del(&f->m, "beta", "r", &f->err), 0);
	assert_int_equal(l3vni(f, "beta"), 0);
	assert_int_equal(f->m.n_holds, 2);	/* the segment's VNI and the L3 VNI */
	EXPECT_FAIL(f, fx_segment(&f->m, f->topo, "delta", routed, &f->err),
		    LOOM_E_EXHAUSTED, "gateway", "1 held for other tenants");
	/* beta may have it back. */
	assert_int_equal(fx_segment(&f->m, f->topo, "beta", routed, &f->err), 0);
	assert_int_equal(l3vni(f, "beta"), 20001);
	assert_int_equal(model_segment_del(&f->m, "beta", "r", &f->err), 0);
	/* Released (no target carries it any more): delta gets it. */
	model_hold_release(&f->m, SEG_ETHERNET, 20001);
	assert_int_equal(fx_segment(&f->m, f->topo, "delta", routed, &f->err), 0);
	assert_int_equal(l3vni(f, "delta"), 20001);
}

static void test_l3vni_kept_while_routed(void **state)
{
	struct fx *f = *state;

	assert_int_equal(fx_segment(&f->m, f->topo, "acme", "{\"name\":\"a\",\"type\":\"ethernet\","
				    "\"subnet\":\"192.0.2.0/25\",\"gateway\":\"192.0.2.1\"}", &f->err), 0);
	assert_int_equal(fx_segment(&f->m, f->topo, "acme", "{\"name\":\"b\",\"type\":\"ethernet\","
				    "\"subnet\":\"192.0.2.128/25\",\"gateway\":\"192.0.2.129\"}", &f->err), 0);
	assert_int_equal(fx_segment(&f->m, f->topo, "acme", "{\"name\":\"l2\",\"type\":\"ethernet\"}",
				    &f->err), 0);
	assert_int_equal(model_segment_del(&f->m, "acme", "a", &f->err), 0);
	assert_int_equal(l3vni(f, "acme"), 20000);	/* b is still routed */
	assert_int_equal(model_segment_del(&f->m, "acme", "l2", &f->err), 0);
	assert_int_equal(l3vni(f, "acme"), 20000);
	assert_int_equal(model_segment_del(&f->m, "acme", "b", &f->err), 0);
	assert_int_equal(l3vni(f, "acme"), 0);
	/* The tenant can go now; the hold outlives it. */
	assert_int_equal(model_tenant_del(&f->m, "acme", &f->err), 0);
	assert_non_null(f->m.holds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gateway_parse),
		cmocka_unit_test_setup_teardown(test_l3vni_per_tenant, setup, teardown),
		cmocka_unit_test_setup_teardown(test_l3vni_exhausted_and_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_l3vni_kept_while_routed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

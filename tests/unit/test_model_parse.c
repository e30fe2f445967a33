/*
 * tests/unit/test_model_parse.c: the JSON parsers of tenants, segments and
 * attachments: every bad input is refused with the right code and the exact
 * field, and what they write back parses to the same thing.
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

struct bad {
	const char *json;
	int code;
	const char *field;
};

enum kind { TENANT, SEGMENT, ATTACHMENT };

static void check_bad(enum kind kind, const struct bad *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_error_t je;
		json_t *j = json_loads(cases[i].json, JSON_DECODE_ANY, &je);
		struct loom_err err;
		struct tenant t;
		struct segment s;
		struct attachment a;
		int rc;

		if (!j)
			fail_msg("case %zu: bad test JSON %s", i, cases[i].json);
		loom_err_clear(&err);
		memset(&t, 0, sizeof(t));
		if (kind == TENANT)
			rc = tenant_from_json(j, &t, &err);
		else if (kind == SEGMENT)
			rc = segment_from_json(j, "acme", &s, &err);
		else
			rc = attachment_from_json(j, &a, &err);
		json_decref(j);
		if (rc == 0) {
			tenant_release(&t);
			fail_msg("case %zu accepted: %s", i, cases[i].json);
		}
		if (err.code != cases[i].code || strcmp(err.field, cases[i].field) != 0)
			fail_msg("case %zu %s: got %s field \"%s\" (%s), want %s field \"%s\"", i,
				 cases[i].json, loom_err_name(err.code), err.field, err.msg,
				 loom_err_name(cases[i].code), cases[i].field);
		assert_int_equal(rc, -EINVAL);
		assert_true(err.msg[0] != '\0');
	}
}

#define P LOOM_E_PARAMS
#define R LOOM_E_RANGE
#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_tenant_bad(void **state)
{
	static const struct bad cases[] = {
		{ "[]", P, "" },
		{ "\"acme\"", P, "" },
		{ "{}", P, "name" },
		{ "{\"name\":5}", P, "name" },
		{ "{\"name\":\"Acme\"}", P, "name" },
		{ "{\"name\":\"-acme\"}", P, "name" },
		{ "{\"name\":\"acme-\"}", P, "name" },
		{ "{\"name\":\"\"}", P, "name" },
		{ "{\"name\":\"a_b\"}", P, "name" },
		{ "{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", P, "name" },
		{ "{\"name\":\"acme\",\"isolation\":\"hard\"}", P, "isolation" },
		{ "{\"name\":\"acme\",\"isolation\":1}", P, "isolation" },
		{ "{\"name\":\"acme\",\"sites\":\"east\"}", P, "sites" },
		{ "{\"name\":\"acme\",\"sites\":[1]}", P, "sites[0]" },
		{ "{\"name\":\"acme\",\"sites\":[\"east\",\"east\"]}", P, "sites[1]" },
		{ "{\"name\":\"acme\",\"sites\":[\"east\",\"East\"]}", P, "sites[1]" },
		{ "{\"name\":\"acme\",\"sites\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\","
		  "\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\"]}", R, "sites" },
		{ "{\"name\":\"acme\",\"labels\":[]}", P, "labels" },
		{ "{\"name\":\"acme\",\"labels\":{\"team\":1}}", P, "labels.team" },
		{ "{\"name\":\"acme\",\"labels\":{\"a b\":\"x\"}}", P, "labels.a b" },
		{ "{\"name\":\"acme\",\"nmae\":\"x\"}", P, "nmae" },
		{ "{\"name\":\"acme\",\"segments\":[]}", P, "segments" },
	};

	(void)state;
	check_bad(TENANT, cases, N(cases));
}

static void test_tenant_long_label(void **state)
{
	char json[512], val[300];
	struct bad c = { json, R, "labels.k" };

	(void)state;
	memset(val, 'x', 256);
	val[256] = '\0';
	snprintf(json, sizeof(json), "{\"name\":\"acme\",\"labels\":{\"k\":\"%s\"}}", val);
	check_bad(TENANT, &c, 1);
}

static void test_segment_bad(void **state)
{
	static const struct bad cases[] = {
		{ "\"web\"", P, "" },
		{ "{\"type\":\"ethernet\"}", P, "name" },
		{ "{\"name\":\"web\"}", P, "type" },
		{ "{\"name\":\"web\",\"type\":\"vlan\"}", P, "type" },
		{ "{\"name\":\"web\",\"type\":5}", P, "type" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"pkey\":2}", P, "pkey" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"membership\":\"full\"}", P, "membership" },
		{ "{\"name\":\"ib\",\"type\":\"infiniband\",\"vni\":10}", P, "vni" },
		{ "{\"name\":\"ib\",\"type\":\"infiniband\",\"mtu\":1500}", P, "mtu" },
		{ "{\"name\":\"ib\",\"type\":\"infiniband\",\"subnet\":\"192.0.2.0/24\"}", P, "subnet" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"vni\":0}", R, "vni" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"vni\":16777216}", R, "vni" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"vni\":-1}", R, "vni" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"vni\":\"100\"}", P, "vni" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"vni\":1.5}", P, "vni" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"mtu\":575}", R, "mtu" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"mtu\":9217}", R, "mtu" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"mtu\":null}", P, "mtu" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"subnet\":\"192.0.2.1/24\"}", P, "subnet" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"subnet\":\"192.0.2.0\"}", P, "subnet" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"subnet\":\"192.0.2.0/33\"}", R, "subnet" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"subnet\":\"192.0.2.0/0\"}", R, "subnet" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"subnet\":\"192.0.2.0/x\"}", P, "subnet" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"subnet\":\"192.0.2.0/24x\"}", P, "subnet" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"subnet\":\"bogus/24\"}", P, "subnet" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"subnet\":\"2001:db8::1/64\"}", P, "subnet" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"subnet\":\"2001:db8::/129\"}", R, "subnet" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"subnet\":5}", P, "subnet" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"subnet\":[]}", P, "subnet" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"subnet\":[\"192.0.2.0/24\",\"198.51.100.0/24\"]}", P, "subnet[1]" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"subnet\":[\"192.0.2.0/24\",7]}", P, "subnet[1]" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"subnet\":[\"a\",\"b\",\"c\"]}", P, "subnet" },
		{ "{\"name\":\"ib\",\"type\":\"infiniband\",\"pkey\":0}", R, "pkey" },
		{ "{\"name\":\"ib\",\"type\":\"infiniband\",\"pkey\":\"0x0000\"}", R, "pkey" },
		{ "{\"name\":\"ib\",\"type\":\"infiniband\",\"pkey\":\"0x7fff\"}", R, "pkey" },
		{ "{\"name\":\"ib\",\"type\":\"infiniband\",\"pkey\":65535}", R, "pkey" },
		{ "{\"name\":\"ib\",\"type\":\"infiniband\",\"pkey\":\"0x8001\"}", R, "pkey" },
		{ "{\"name\":\"ib\",\"type\":\"infiniband\",\"pkey\":70000}", R, "pkey" },
		{ "{\"name\":\"ib\",\"type\":\"infiniband\",\"pkey\":-2}", R, "pkey" },
		{ "{\"name\":\"ib\",\"type\":\"infiniband\",\"pkey\":\"8001\"}", P, "pkey" },
		{ "{\"name\":\"ib\",\"type\":\"infiniband\",\"pkey\":\"0xzz\"}", P, "pkey" },
		{ "{\"name\":\"ib\",\"type\":\"infiniband\",\"pkey\":\"0x\"}", P, "pkey" },
		{ "{\"name\":\"ib\",\"type\":\"infiniband\",\"pkey\":\"0x10000\"}", P, "pkey" },
		{ "{\"name\":\"ib\",\"type\":\"infiniband\",\"pkey\":true}", P, "pkey" },
		{ "{\"name\":\"ib\",\"type\":\"infiniband\",\"ib_mtu\":1500}", R, "ib_mtu" },
		{ "{\"name\":\"ib\",\"type\":\"infiniband\",\"ib_mtu\":\"4096\"}", P, "ib_mtu" },
		{ "{\"name\":\"ib\",\"type\":\"infiniband\",\"sl\":16}", R, "sl" },
		{ "{\"name\":\"ib\",\"type\":\"infiniband\",\"sl\":-1}", R, "sl" },
		{ "{\"name\":\"ib\",\"type\":\"infiniband\",\"rate_gbps\":33}", R, "rate_gbps" },
		{ "{\"name\":\"ib\",\"type\":\"infiniband\",\"membership\":\"default\"}", P, "membership" },
		{ "{\"name\":\"ib\",\"type\":\"infiniband\",\"membership\":\"both\"}", P, "membership" },
		{ "{\"name\":\"ib\",\"type\":\"infiniband\",\"ipoib\":\"yes\"}", P, "ipoib" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"rd\":\"65000:1\"}", P, "rd" },
		{ "{\"name\":\"web\",\"type\":\"ethernet\",\"tenant\":\"other\"}", P, "tenant" },
		{ "{\"name\":\"Web\",\"type\":\"ethernet\"}", P, "name" },
	};

	(void)state;
	check_bad(SEGMENT, cases, N(cases));
}

static void test_attachment_bad(void **state)
{
	static const struct bad cases[] = {
		{ "[]", P, "" },
		{ "{\"node\":\"gpu-e1\"}", P, "segment" },
		{ "{\"segment\":\"web\",\"node\":\"gpu-e1\"}", P, "segment" },
		{ "{\"segment\":\"acme/Web\",\"node\":\"gpu-e1\"}", P, "segment" },
		{ "{\"segment\":\"/web\",\"node\":\"gpu-e1\"}", P, "segment" },
		{ "{\"segment\":5,\"node\":\"gpu-e1\"}", P, "segment" },
		{ "{\"segment\":\"acme/web\"}", P, "node" },
		{ "{\"segment\":\"acme/web\",\"node\":5}", P, "node" },
		{ "{\"segment\":\"acme/web\",\"node\":\"\"}", P, "node" },
		{ "{\"segment\":\"acme/web\",\"node\":\"gpu e1\"}", P, "node" },
		{ "{\"segment\":\"acme/web\",\"node\":\"gpu-e1\",\"port\":3}", P, "port" },
		{ "{\"segment\":\"acme/web\",\"node\":\"gpu-e1\",\"port\":\"a b\"}", P, "port" },
		{ "{\"segment\":\"acme/web\",\"node\":\"gpu-e1\",\"port\":\"\"}", P, "port" },
		{ "{\"segment\":\"acme/web\",\"node\":\"gpu-e1\",\"membership\":\"x\"}", P, "membership" },
		{ "{\"segment\":\"acme/web\",\"node\":\"gpu-e1\",\"membership\":\"default\"}", P, "membership" },
		{ "{\"segment\":\"acme/web\",\"node\":\"gpu-e1\",\"vlan\":4095}", P, "vlan" },
		{ "{\"segment\":\"acme/web\",\"node\":\"gpu-e1\",\"vlan\":\"any\"}", P, "vlan" },
	};

	(void)state;
	check_bad(ATTACHMENT, cases, N(cases));
}

static json_t *parse_ok(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);

	assert_non_null(j);
	return j;
}

static void test_tenant_good(void **state)
{
	json_t *j = parse_ok("{\"name\":\"acme\",\"isolation\":\"strict\",\"sites\":[\"west\",\"east\"],"
			     "\"labels\":{\"team\":\"ml\"}}");
	struct loom_err err = { 0 };
	struct tenant t, t2;
	json_t *out, *out2;

	(void)state;
	assert_int_equal(tenant_from_json(j, &t, &err), 0);
	assert_string_equal(t.name, "acme");
	assert_int_equal(t.isolation, ISOLATION_STRICT);
	assert_int_equal(t.n_sites, 2);
	assert_string_equal(t.sites[0], "east");	/* sorted */
	assert_string_equal(t.sites[1], "west");
	out = tenant_to_json(&t);
	assert_int_equal(tenant_from_json(out, &t2, &err), 0);
	out2 = tenant_to_json(&t2);
	assert_true(json_equal(out, out2));
	json_decref(j);
	json_decref(out);
	json_decref(out2);
	tenant_release(&t);
	tenant_release(&t2);

	/* Defaults: soft, every site, no labels. */
	j = parse_ok("{\"name\":\"b2\"}");
	assert_int_equal(tenant_from_json(j, &t, &err), 0);
	assert_int_equal(t.isolation, ISOLATION_SOFT);
	assert_int_equal(t.n_sites, 0);
	assert_int_equal(json_object_size(t.labels), 0);
	tenant_release(&t);
	json_decref(j);
}

static void test_segment_good(void **state)
{
	struct loom_err err = { 0 };
	struct segment s;
	json_t *j;

	(void)state;
	j = parse_ok("{\"name\":\"web\",\"type\":\"ethernet\"}");
	assert_int_equal(segment_from_json(j, "acme", &s, &err), 0);
	assert_int_equal(s.vni, 0);
	assert_int_equal(s.mtu, 1500);
	assert_string_equal(s.tenant, "acme");
	json_decref(j);

	j = parse_ok("{\"name\":\"web\",\"type\":\"ethernet\",\"vni\":16777215,\"mtu\":9216,"
		     "\"subnet\":[\"2001:DB8:0:0::/48\",\"192.0.2.0/24\"]}");
	assert_int_equal(segment_from_json(j, "acme", &s, &err), 0);
	assert_int_equal(s.vni, 16777215);
	assert_string_equal(s.subnet4, "192.0.2.0/24");
	assert_string_equal(s.subnet6, "2001:db8::/48");	/* normalised */
	json_decref(j);

	/* The tenant may come from the object when the caller has none. */
	j = parse_ok("{\"name\":\"web\",\"tenant\":\"acme\",\"type\":\"ethernet\",\"subnet\":\"203.0.113.0/25\"}");
	assert_int_equal(segment_from_json(j, NULL, &s, &err), 0);
	assert_string_equal(s.tenant, "acme");
	assert_string_equal(s.subnet4, "203.0.113.0/25");
	json_decref(j);

	/* P_Key as a string or a number; IB defaults. */
	j = parse_ok("{\"name\":\"ib\",\"type\":\"infiniband\",\"pkey\":\"0x7ffe\"}");
	assert_int_equal(segment_from_json(j, "acme", &s, &err), 0);
	assert_int_equal(s.pkey, 0x7ffe);
	assert_int_equal(s.ib_mtu, 2048);
	assert_int_equal(s.sl, 0);
	assert_false(s.ipoib);
	assert_int_equal(s.default_membership, MEMBERSHIP_FULL);
	json_decref(j);
	j = parse_ok("{\"name\":\"ib\",\"type\":\"infiniband\",\"pkey\":1,\"ipoib\":true,"
		     "\"ib_mtu\":4096,\"rate_gbps\":400,\"sl\":15,\"membership\":\"limited\"}");
	assert_int_equal(segment_from_json(j, "acme", &s, &err), 0);
	assert_int_equal(s.pkey, 1);
	assert_true(s.ipoib);
	assert_int_equal(s.ib_mtu, 4096);
	assert_int_equal(s.rate_gbps, 400);
	assert_int_equal(s.sl, 15);
	assert_int_equal(s.default_membership, MEMBERSHIP_LIMITED);
	json_decref(j);
}

static void test_messages(void **state)
{
	struct loom_err err = { 0 };
	struct segment s;
	json_t *j;

	(void)state;
	/* Host bits: say so, and give the network. */
	j = parse_ok("{\"name\":\"web\",\"type\":\"ethernet\",\"subnet\":\"192.0.2.77/24\"}");
	assert_int_not_equal(segment_from_json(j, "acme", &s, &err), 0);
	assert_non_null(strstr(err.msg, "host bits"));
	assert_non_null(strstr(err.msg, "192.0.2.0/24"));
	json_decref(j);
	/* The membership bit is not part of the P_Key: say so. */
	loom_err_clear(&err);
	j = parse_ok("{\"name\":\"ib\",\"type\":\"infiniband\",\"pkey\":\"0x8002\"}");
	assert_int_not_equal(segment_from_json(j, "acme", &s, &err), 0);
	assert_non_null(strstr(err.msg, "membership"));
	assert_non_null(strstr(err.msg, "0x0002"));
	json_decref(j);
	loom_err_clear(&err);
	j = parse_ok("{\"name\":\"ib\",\"type\":\"infiniband\",\"pkey\":\"0xffff\"}");
	assert_int_not_equal(segment_from_json(j, "acme", &s, &err), 0);
	assert_non_null(strstr(err.msg, "default partition"));
	json_decref(j);
}

static void test_attachment_good(void **state)
{
	struct loom_err err = { 0 };
	struct attachment a;
	json_t *j = parse_ok("{\"segment\":\"acme/ib\",\"node\":\"gpu-e1\",\"port\":\"mlx5_0/1\","
			     "\"membership\":\"limited\"}");
	json_t *out;

	(void)state;
	assert_int_equal(attachment_from_json(j, &a, &err), 0);
	assert_string_equal(a.tenant, "acme");
	assert_string_equal(a.segment, "ib");
	assert_string_equal(a.port, "mlx5_0/1");
	assert_int_equal(a.membership, MEMBERSHIP_LIMITED);
	out = attachment_to_json(&a);
	assert_true(json_equal(out, j));
	json_decref(out);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tenant_bad),
		cmocka_unit_test(test_tenant_long_label),
		cmocka_unit_test(test_segment_bad),
		cmocka_unit_test(test_attachment_bad),
		cmocka_unit_test(test_tenant_good),
		cmocka_unit_test(test_segment_good),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_attachment_good),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

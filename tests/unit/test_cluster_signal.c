/*
 * tests/unit/test_cluster_signal.c: an agent's watcher signal
 * (PREFIX/signal/AGENT/SEQ) to JSON and back gives the same signal; a key
 * or value that is not one is refused with the field at fault named, and
 * nothing is returned.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/keys.h"

static void round_trip(const struct cluster_signal *in, const char *agent)
{
	struct loom_err err = { 0 };
	struct cluster_signal out;
	char *text = cluster_signal_encode(in);

	assert_non_null(text);
	assert_int_equal(cluster_signal_decode(agent, in->seq, text, strlen(text), &out, &err), 0);
	assert_int_equal(out.kind, in->kind);
	assert_int_equal(out.seq, in->seq);
	assert_int_equal(out.previous, in->previous);
	assert_int_equal(out.time, in->time);
	assert_memory_equal(&out.carrier, &in->carrier, sizeof(out.carrier));
	assert_memory_equal(&out.hca, &in->hca, sizeof(out.hca));
	free(text);
}

static void test_round_trips(void **state)
{
	struct cluster_signal c = { .seq = 7, .previous = 6, .time = 1700000000, .kind = CLUSTER_SIG_CARRIER };
	struct cluster_signal p = { .seq = 0x19d3c0a1b2c3d4ULL, .time = 1700000001, .kind = CLUSTER_SIG_HCA_PORT };
	struct cluster_signal k = { .seq = 3, .previous = 2, .time = 1700000002, .kind = CLUSTER_SIG_HCA_COUNTERS };

	(void)state;
	strcpy(c.carrier.vtep, "leaf1");
	strcpy(c.carrier.access_port, "swp7");
	round_trip(&c, "leaf1");
	c.carrier.up = true;
	round_trip(&c, "leaf1");
	strcpy(p.hca.sm, "sm1");
	strcpy(p.hca.node, "gpu-a1");
	strcpy(p.hca.port, "mlx5_0/1");
	p.hca.result = -2;
	round_trip(&p, "sm1");
	p.hca.result = 0;
	p.hca.state = 1;
	round_trip(&p, "sm1");
	k.hca = p.hca;
	k.hca.result = 0;
	k.hca.state = 0;
	k.hca.counters = true;
	k.hca.prev = (struct ib_port_counters){ .symbol_errors = 1, .link_recovery = 2, .link_downed = 3 };
	k.hca.cur = (struct ib_port_counters){ .symbol_errors = 65535, .link_recovery = 255, .link_downed = 4 };
	round_trip(&k, "sm1");
}

static void test_keys(void **state)
{
	struct loom_err err = { 0 };
	char key[CLUSTER_KEY_MAX], agent[LOOM_NAME_MAX];
	uint64_t seq = 0;

	(void)state;
	assert_int_equal(cluster_signal_key(key, sizeof(key), "/loom/v1", "leaf1", 0x2a), 0);
	assert_string_equal(key, "/loom/v1/signal/leaf1/000000000000002a");
	assert_int_equal(cluster_signal_key_parse(key, "/loom/v1", agent, sizeof(agent), &seq, &err), 0);
	assert_string_equal(agent, "leaf1");
	assert_int_equal(seq, 0x2a);
	static const char *const bad[] = {
		"/loom/v1/status/leaf1/000000000000002a",	/* not signal/ */
		"/loom/v1/signal/leaf1",			/* no SEQ */
		"/loom/v1/signal//000000000000002a",		/* no agent */
		"/loom/v1/signal/leaf1/2a",			/* not 16 digits */
		"/loom/v1/signal/leaf1/000000000000002A",	/* upper case */
		"/loom/v1/signal/leaf1/00000000000000zz",
		"/loom/v1/signal/leaf1/0000000000000000",	/* SEQ 0 */
		"/loom/v2/signal/leaf1/000000000000002a",	/* another prefix */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		loom_err_clear(&err);
		strcpy(agent, "unchanged");
		assert_int_equal(cluster_signal_key_parse(bad[i], "/loom/v1", agent, sizeof(agent), &seq, &err),
				 -EINVAL);
		assert_string_equal(err.field, "key");
		assert_string_equal(agent, "unchanged");
	}
}

static void test_malformed(void **state)
{
	static const struct {
		const char *agent, *text, *field;
	} bad[] = {
		{ "leaf1", "[]", "" },
		{ "leaf1", "{\"seq\":7", "" },
		{ "leaf1", "{\"seq\":7,\"previous\":6,\"time\":1,\"vtep\":\"leaf1\",\"access_port\":\"p\",\"up\":true}",
		  "kind" },
		{ "leaf1", "{\"seq\":7,\"previous\":6,\"time\":1,\"kind\":\"smoke\"}", "kind" },
		{ "leaf1", "{\"seq\":8,\"previous\":6,\"time\":1,\"kind\":\"carrier\",\"vtep\":\"leaf1\",\"access_port\":\"p\",\"up\":true}",
		  "seq" },
		{ "leaf1", "{\"seq\":7,\"previous\":7,\"time\":1,\"kind\":\"carrier\",\"vtep\":\"leaf1\",\"access_port\":\"p\",\"up\":true}",
		  "previous" },
		{ "leaf1", "{\"seq\":7,\"previous\":6,\"time\":\"now\",\"kind\":\"carrier\",\"vtep\":\"leaf1\",\"access_port\":\"p\",\"up\":true}",
		  "time" },
		{ "leaf1", "{\"seq\":7,\"previous\":6,\"time\":1,\"kind\":\"carrier\",\"vtep\":\"leaf2\",\"access_port\":\"p\",\"up\":true}",
		  "vtep" },
		{ "leaf1", "{\"seq\":7,\"previous\":6,\"time\":1,\"kind\":\"carrier\",\"vtep\":\"leaf1\",\"access_port\":\"\",\"up\":true}",
		  "access_port" },
		{ "leaf1", "{\"seq\":7,\"previous\":6,\"time\":1,\"kind\":\"carrier\",\"vtep\":\"leaf1\",\"access_port\":\"p\",\"up\":\"no\"}",
		  "up" },
		{ "leaf1", "{\"seq\":7,\"previous\":6,\"time\":1,\"kind\":\"carrier\",\"vtep\":\"leaf1\",\"access_port\":\"p\",\"up\":true,\"node\":\"x\"}",
		  "node" },
		{ "sm1", "{\"seq\":7,\"previous\":6,\"time\":1,\"kind\":\"hca_port\",\"sm\":\"sm2\",\"node\":\"n\",\"port\":\"p\",\"result\":0,\"state\":1}",
		  "sm" },
		{ "sm1", "{\"seq\":7,\"previous\":6,\"time\":1,\"kind\":\"hca_port\",\"sm\":\"sm1\",\"node\":\"n\",\"port\":\"p\",\"result\":0,\"state\":9}",
		  "state" },
		{ "sm1", "{\"seq\":7,\"previous\":6,\"time\":1,\"kind\":\"hca_port\",\"sm\":\"sm1\",\"node\":\"n\",\"port\":\"p\",\"result\":5,\"state\":1}",
		  "result" },
		{ "sm1", "{\"seq\":7,\"previous\":6,\"time\":1,\"kind\":\"hca_counters\",\"sm\":\"sm1\",\"node\":\"n\",\"port\":\"p\",\"before\":{\"symbol_errors\":1,\"link_recovery\":0,\"link_downed\":0},\"after\":{\"symbol_errors\":-1,\"link_recovery\":0,\"link_downed\":0}}",
		  "after.symbol_errors" },
		{ "sm1", "{\"seq\":7,\"previous\":6,\"time\":1,\"kind\":\"hca_counters\",\"sm\":\"sm1\",\"node\":\"n\",\"port\":\"p\",\"before\":{\"symbol_errors\":1,\"link_recovery\":0,\"link_downed\":0,\"x\":1},\"after\":{\"symbol_errors\":1,\"link_recovery\":0,\"link_downed\":0}}",
		  "before" },
		{ "sm1", "{\"seq\":7,\"previous\":6,\"time\":1,\"kind\":\"hca_counters\",\"sm\":\"sm1\",\"node\":\"n\",\"port\":\"p\",\"before\":{\"symbol_errors\":1,\"link_recovery\":0,\"link_downed\":0}}",
		  "after" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct loom_err err = { 0 };
		struct cluster_signal out;

		memset(&out, 0x5a, sizeof(out));
		assert_int_equal(cluster_signal_decode(bad[i].agent, 7, bad[i].text, strlen(bad[i].text), &out, &err),
				 -EINVAL);
		if (strcmp(err.field, bad[i].field))
			fail_msg("case %zu: field \"%s\" (%s), wanted \"%s\"", i, err.field, err.msg, bad[i].field);
		assert_true(strstr(err.msg, bad[i].field) != NULL);
		assert_int_equal(out.seq, 0);
		assert_int_equal(out.carrier.vtep[0], 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

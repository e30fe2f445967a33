/*
 * tests/unit/test_fault.c: the fault policy.  Defaults (cordon on critical,
 * record the rest), config keys, the watchers' signals (carrier, HCA port
 * state, error counters past thresholds, cleared counters), the hold-down
 * against a flapping signal, and the lifecycle events an action asks for.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node/fault.h"

static struct fault_event report(const char *node, enum fault_component c,
				 enum fault_severity s, int64_t t)
{
	struct fault_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.source = FAULT_SRC_REPORT;
	ev.component = c;
	ev.severity = s;
	snprintf(ev.node, sizeof(ev.node), "%s", node);
	ev.time = t;
	snprintf(ev.text, sizeof(ev.text), "XID 79: GPU has fallen off the bus");
	return ev;
}

static void test_defaults(void **state)
{
	struct fault_policy p;
	struct fault_history h = { 0 };
	struct fault_decision d;
	struct fault_event ev;

	fault_policy_defaults(&p);
	ev = report("n1", FAULT_GPU, FAULT_INFO, 1000);
	assert_int_equal(fault_policy_decide(&p, &h, &ev, 1000, &d), 0);
	assert_int_equal(d.action, FAULT_ACT_RECORD);
	ev = report("n1", FAULT_GPU, FAULT_WARNING, 1000);
	assert_int_equal(fault_policy_decide(&p, &h, &ev, 1000, &d), 0);
	assert_int_equal(d.action, FAULT_ACT_RECORD);
	assert_int_equal(h.n, 0);	/* recording starts no hold-down */
	ev = report("n1", FAULT_GPU, FAULT_CRITICAL, 1000);
	assert_int_equal(fault_policy_decide(&p, &h, &ev, 1000, &d), 0);
	assert_int_equal(d.action, FAULT_ACT_CORDON);
	assert_false(d.held_down);
	assert_non_null(strstr(d.reason, "critical gpu fault on n1"));
	fault_history_release(&h);
	assert_null(h.marks);
}

/* A flapping signal acts at most once per hold-down. */
static void test_hold_down(void **state)
{
	struct fault_policy p;
	struct fault_history h = { 0 };
	struct fault_decision d;
	struct fault_event ev;
	int acted = 0, held = 0;

	fault_policy_defaults(&p);
	p.hold_down_s = 60;
	/* Carrier flaps every 5 s for 3 minutes. */
	for (int64_t t = 0; t < 180; t += 5) {
		assert_int_equal(fault_from_carrier(&p, "n2", "eth0", false, t, &ev), 1);
		assert_int_equal(fault_policy_decide(&p, &h, &ev, t, &d), 0);
		assert_int_equal(d.wanted, FAULT_ACT_CORDON);
		if (d.action == FAULT_ACT_CORDON) {
			assert_int_equal(t % 60, 0);	/* at 0, 60, 120 */
			acted++;
		} else {
			assert_true(d.held_down);
			assert_int_equal(d.hold_until, t - t % 60 + 60);
			assert_non_null(strstr(d.reason, "held down"));
			held++;
		}
	}
	assert_int_equal(acted, 3);
	assert_int_equal(held, 33);
	/* Another port of the same node, and another node, are other signals. */
	assert_int_equal(fault_from_carrier(&p, "n2", "eth1", false, 130, &ev), 1);
	assert_int_equal(fault_policy_decide(&p, &h, &ev, 130, &d), 0);
	assert_int_equal(d.action, FAULT_ACT_CORDON);
	assert_int_equal(fault_from_carrier(&p, "n3", "eth0", false, 130, &ev), 1);
	assert_int_equal(fault_policy_decide(&p, &h, &ev, 130, &d), 0);
	assert_int_equal(d.action, FAULT_ACT_CORDON);
	/* One second before the end of the hold-down it is held; at the end it acts. */
	assert_int_equal(fault_from_carrier(&p, "n2", "eth1", false, 189, &ev), 1);
	assert_int_equal(fault_policy_decide(&p, &h, &ev, 189, &d), 0);
	assert_int_equal(d.action, FAULT_ACT_RECORD);
	assert_int_equal(fault_policy_decide(&p, &h, &ev, 190, &d), 0);
	assert_int_equal(d.action, FAULT_ACT_CORDON);
	/* Carrier back up is no fault. */
	assert_int_equal(fault_from_carrier(&p, "n2", "eth1", true, 191, &ev), 0);
	fault_history_release(&h);
}

/* A hold-down survives a restart: stored as JSON, restored into a new history. */
static void test_restore(void **state)
{
	struct fault_policy p;
	struct fault_history h = { 0 }, h2 = { 0 };
	struct fault_decision d;
	struct fault_event ev;
	char key[256];
	json_t *j;

	(void)state;
	fault_policy_defaults(&p);
	p.hold_down_s = 60;
	assert_int_equal(fault_from_carrier(&p, "n2", "eth0", false, 1000, &ev), 1);
	assert_int_equal(fault_policy_decide(&p, &h, &ev, 1000, &d), 0);
	assert_int_equal(d.action, FAULT_ACT_CORDON);
	assert_non_null(d.acted);
	assert_int_equal(fault_mark_key(d.acted, key, sizeof(key)), 0);
	assert_string_equal(key, "fault.hold.n2|eth0|carrier|nic");
	j = fault_mark_to_json(d.acted);
	assert_non_null(j);
	/* A held-down repeat starts nothing to store. */
	assert_int_equal(fault_policy_decide(&p, &h, &ev, 1010, &d), 0);
	assert_true(d.held_down);
	assert_null(d.acted);

	/* Restored 30 s later: the same signal is still held down until 1060. */
	assert_int_equal(fault_history_restore(&h2, j, p.hold_down_s, 1030), 1);
	assert_int_equal(fault_policy_decide(&p, &h2, &ev, 1030, &d), 0);
	assert_true(d.held_down);
	assert_int_equal(d.hold_until, 1060);
	/* Restoring it again changes nothing; one past the end it is over. */
	assert_int_equal(fault_history_restore(&h2, j, p.hold_down_s, 1031), 0);
	assert_int_equal(h2.n, 1);
	fault_history_release(&h2);
	assert_int_equal(fault_history_restore(&h2, j, p.hold_down_s, 1060), 0);
	assert_int_equal(h2.n, 0);
	/* Not a mark: refused, nothing added. */
	json_object_set_new(j, "source", json_string("smoke"));
	assert_int_equal(fault_history_restore(&h2, j, p.hold_down_s, 1030), -EINVAL);
	json_object_del(j, "source");
	assert_int_equal(fault_history_restore(&h2, j, p.hold_down_s, 1030), -EINVAL);
	assert_int_equal(h2.n, 0);
	json_decref(j);
	fault_history_release(&h);
	fault_history_release(&h2);
}

/* Many signals over a long time: the history holds one hold-down's worth. */
static void test_history_bounded(void **state)
{
	struct fault_policy p;
	struct fault_history h = { 0 };
	struct fault_decision d;
	struct fault_event ev;
	char port[16];

	fault_policy_defaults(&p);
	p.hold_down_s = 10;
	/* 10,000 different ports flap once each, one a second. */
	for (int64_t t = 0; t < 10000; t++) {
		snprintf(port, sizeof(port), "eth%d", (int)t);
		assert_int_equal(fault_from_carrier(&p, "n1", port, false, t, &ev), 1);
		assert_int_equal(fault_policy_decide(&p, &h, &ev, t, &d), 0);
		assert_int_equal(d.action, FAULT_ACT_CORDON);
	}
	assert_true(h.cap <= 32);
	/* A mark still inside its hold-down survives a prune. */
	assert_int_equal(fault_from_carrier(&p, "n1", "eth9999", false, 10001, &ev), 1);
	assert_int_equal(fault_policy_decide(&p, &h, &ev, 10001, &d), 0);
	assert_true(d.held_down);
	fault_history_prune(&h, p.hold_down_s, 10001);
	assert_true(h.n >= 1 && h.n <= 10);
	{
		size_t before = h.n;

		assert_int_equal(fault_history_prune(&h, p.hold_down_s, 20000), before);
		assert_int_equal(h.n, 0);
	}
	fault_history_release(&h);
}

static void test_config_keys(void **state)
{
	struct fault_policy p;
	struct loom_err err = { 0 };

	fault_policy_defaults(&p);
	assert_int_equal(fault_policy_set(&p, "fault.critical", "replace", &err), 0);
	assert_int_equal(p.on[FAULT_CRITICAL], FAULT_ACT_REPLACE);
	assert_int_equal(fault_policy_set(&p, "fault.warning", "cordon", &err), 0);
	assert_int_equal(p.on[FAULT_WARNING], FAULT_ACT_CORDON);
	assert_int_equal(fault_policy_set(&p, "fault.hold_down", "30", &err), 0);
	assert_int_equal(p.hold_down_s, 30);
	assert_int_equal(fault_policy_set(&p, "fault.symbol_errors", "0", &err), 0);
	assert_int_equal(p.symbol_errors, 0);
	assert_int_equal(fault_policy_set(&p, "fault.link_downed", "3", &err), 0);
	assert_int_equal(p.link_downed, 3);
	assert_int_equal(fault_policy_set(&p, "fault.carrier_severity", "warning", &err), 0);
	assert_int_equal(p.carrier_severity, FAULT_WARNING);
	assert_int_equal(fault_policy_set(&p, "socket", "/run/x", &err), -ENOENT);
	assert_int_equal(fault_policy_set(&p, "fault.bogus", "1", &err), -ENOENT);
	assert_int_equal(err.code, LOOM_OK);
	assert_int_equal(fault_policy_set(&p, "fault.critical", "reboot", &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_CONFIG);
	assert_string_equal(err.field, "fault.critical");
	assert_non_null(strstr(err.msg, "record, cordon or replace"));
	loom_err_clear(&err);
	assert_int_equal(fault_policy_set(&p, "fault.hold_down", "-5", &err), -EINVAL);
	loom_err_clear(&err);
	assert_int_equal(fault_policy_set(&p, "fault.link_recovery", "12x", &err), -EINVAL);
	loom_err_clear(&err);
	assert_int_equal(fault_policy_set(&p, "fault.counter_severity", "fatal", &err), -EINVAL);
	/* A failed set changes nothing. */
	assert_int_equal(p.on[FAULT_CRITICAL], FAULT_ACT_REPLACE);
	assert_int_equal(p.counter_severity, FAULT_WARNING);
}

static void test_port_state(void **state)
{
	struct fault_policy p;
	struct fault_event ev;

	fault_policy_defaults(&p);
	assert_int_equal(fault_from_port_state(&p, "n1", "mlx5_0/1", 4, 10, &ev), 0);
	assert_int_equal(fault_from_port_state(&p, "n1", "mlx5_0/1", 1, 10, &ev), 1);
	assert_int_equal(ev.source, FAULT_SRC_PORT_STATE);
	assert_int_equal(ev.component, FAULT_HCA);
	assert_int_equal(ev.severity, FAULT_CRITICAL);
	assert_string_equal(ev.port, "mlx5_0/1");
	assert_string_equal(ev.text, "HCA port mlx5_0/1 of n1 is Down, not Active");
	assert_int_equal(fault_from_port_state(&p, "n1", "mlx5_0/1", 9, 10, &ev), 1);
	assert_non_null(strstr(ev.text, "unknown state"));
}

static void test_counters(void **state)
{
	struct fault_policy p;
	struct fault_event ev[3];
	struct ib_port_counters prev = { .symbol_errors = 100, .link_recovery = 2, .link_downed = 5 };
	struct ib_port_counters cur = prev;

	fault_policy_defaults(&p);
	/* No change, and a rise below the threshold: nothing. */
	assert_int_equal(fault_from_counters(&p, "n1", "p1", &prev, &cur, 1, ev, 3), 0);
	cur.symbol_errors = 109;
	assert_int_equal(fault_from_counters(&p, "n1", "p1", &prev, &cur, 1, ev, 3), 0);
	/* At the threshold. */
	cur.symbol_errors = 110;
	assert_int_equal(fault_from_counters(&p, "n1", "p1", &prev, &cur, 1, ev, 3), 1);
	assert_int_equal(ev[0].source, FAULT_SRC_SYMBOL_ERR);
	assert_int_equal(ev[0].severity, FAULT_WARNING);
	assert_string_equal(ev[0].text,
			    "SymbolErrorCounter of HCA port p1 on n1 rose by 10 (threshold 10)");
	/* All three; the output array limits how many come back. */
	cur.link_downed = 6;
	cur.link_recovery = 3;
	assert_int_equal(fault_from_counters(&p, "n1", "p1", &prev, &cur, 1, ev, 3), 3);
	assert_int_equal(ev[1].source, FAULT_SRC_LINK_DOWNED);
	assert_int_equal(ev[2].source, FAULT_SRC_LINK_RECOVERY);
	assert_int_equal(fault_from_counters(&p, "n1", "p1", &prev, &cur, 1, ev, 1), 1);
	/* Cleared by someone: the new value is the rise (1 link-down since the clear). */
	cur = (struct ib_port_counters){ .link_downed = 1 };
	assert_int_equal(fault_from_counters(&p, "n1", "p1", &prev, &cur, 1, ev, 3), 1);
	assert_int_equal(ev[0].source, FAULT_SRC_LINK_DOWNED);
	/* Threshold 0 turns a counter off. */
	p.link_downed = 0;
	assert_int_equal(fault_from_counters(&p, "n1", "p1", &prev, &cur, 1, ev, 3), 0);
	/* Counters are warnings by default, so the default policy only records them. */
	{
		struct fault_history h = { 0 };
		struct fault_decision d;

		cur.symbol_errors = 1000;
		fault_policy_defaults(&p);
		assert_int_equal(fault_from_counters(&p, "n1", "p1", &prev, &cur, 1, ev, 3), 2);
		assert_int_equal(fault_policy_decide(&p, &h, &ev[0], 1, &d), 0);
		assert_int_equal(d.action, FAULT_ACT_RECORD);
		fault_history_release(&h);
	}
}

static void test_action_events(void **state)
{
	struct lifecycle_ctx att = { .attached = true }, fail_goal = { .goal = NODE_FAILED };
	enum node_event ev[4];
	bool repl;

	assert_int_equal(fault_action_events(FAULT_ACT_RECORD, NODE_ASSIGNED, NULL, ev, &repl), 0);
	assert_int_equal(fault_action_events(FAULT_ACT_CORDON, NODE_ASSIGNED, NULL, ev, &repl), 1);
	assert_int_equal(ev[0], NODE_EV_CORDON);
	assert_false(repl);
	assert_int_equal(fault_action_events(FAULT_ACT_CORDON, NODE_AVAILABLE, NULL, ev, &repl), 1);
	assert_int_equal(fault_action_events(FAULT_ACT_CORDON, NODE_CORDONED, NULL, ev, &repl), 0);
	assert_int_equal(fault_action_events(FAULT_ACT_CORDON, NODE_FAILED, NULL, ev, &repl), 0);
	assert_int_equal(fault_action_events(FAULT_ACT_REPLACE, NODE_ASSIGNED, &att, ev, &repl), 2);
	assert_int_equal(ev[0], NODE_EV_CORDON);
	assert_int_equal(ev[1], NODE_EV_FAIL);
	assert_true(repl);
	assert_int_equal(fault_action_events(FAULT_ACT_REPLACE, NODE_CORDONED, &att, ev, &repl), 1);
	assert_int_equal(ev[0], NODE_EV_FAIL);
	assert_true(repl);
	assert_int_equal(fault_action_events(FAULT_ACT_REPLACE, NODE_AVAILABLE, NULL, ev, &repl), 1);
	assert_false(repl);
	assert_int_equal(fault_action_events(FAULT_ACT_REPLACE, NODE_DRAINING, &fail_goal, ev, &repl), 0);
	assert_int_equal(fault_action_events(FAULT_ACT_REPLACE, NODE_RETIRED, NULL, ev, &repl), 0);
	/* Every event an action asks for is legal in the state it is asked in. */
	for (int s = 0; s < NODE_STATE_COUNT; s++) {
		for (int a = 0; a < FAULT_ACTION_COUNT; a++) {
			enum node_state cur = s;
			size_t n = fault_action_events(a, s, &att, ev, &repl);

			for (size_t i = 0; i < n; i++) {
				struct lifecycle_step step;
				struct loom_err err = { 0 };

				assert_int_equal(lifecycle_transition(cur, ev[i], &att, &step, &err), 0);
				cur = step.to;
			}
		}
	}
}

static void test_from_json(void **state)
{
	struct fault_event ev;
	struct loom_err err = { 0 };
	json_t *in, *out;
	char *dump;

	in = json_pack("{s:s, s:s, s:s, s:s, s:s}", "node", "gpu-e1", "component", "transceiver",
		       "severity", "critical", "port", "eth1", "text", "rx power -14 dBm");
	assert_int_equal(fault_event_from_json(in, 1700000000, &ev, &err), 0);
	assert_int_equal(ev.source, FAULT_SRC_REPORT);
	assert_int_equal(ev.component, FAULT_TRANSCEIVER);
	assert_int_equal(ev.severity, FAULT_CRITICAL);
	assert_int_equal(ev.time, 1700000000);
	assert_string_equal(ev.port, "eth1");
	out = fault_event_to_json(&ev);
	dump = json_dumps(out, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(dump, "{\"component\":\"transceiver\",\"node\":\"gpu-e1\",\"port\":\"eth1\","
			    "\"severity\":\"critical\",\"source\":\"report\",\"text\":\"rx power -14 dBm\","
			    "\"time\":1700000000}");
	free(dump);
	json_decref(out);
	json_decref(in);

	/* Each bad field is named. */
	static const struct {
		const char *json, *field;
	} bad[] = {
		{ "{\"component\":\"gpu\",\"severity\":\"info\"}", "node" },
		{ "{\"node\":\"Bad_Name\",\"component\":\"gpu\",\"severity\":\"info\"}", "node" },
		{ "{\"node\":\"n1\",\"component\":\"fan\",\"severity\":\"info\"}", "component" },
		{ "{\"node\":\"n1\",\"component\":\"gpu\",\"severity\":3}", "severity" },
		{ "{\"node\":\"n1\",\"component\":\"gpu\",\"severity\":\"fatal\"}", "severity" },
		{ "{\"node\":\"n1\",\"component\":\"gpu\",\"severity\":\"info\",\"time\":-1}", "time" },
		{ "{\"node\":\"n1\",\"component\":\"gpu\",\"severity\":\"info\",\"colour\":\"red\"}", "colour" },
		{ "{\"node\":\"n1\",\"component\":\"gpu\",\"severity\":\"info\",\"text\":\"a\\u0000b\"}", "text" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_error_t jerr;

		in = json_loads(bad[i].json, JSON_ALLOW_NUL, &jerr);
		assert_non_null(in);
		loom_err_clear(&err);
		assert_int_equal(fault_event_from_json(in, 1, &ev, &err), -EINVAL);
		assert_int_equal(err.code, LOOM_E_PARAMS);
		assert_string_equal(err.field, bad[i].field);
		json_decref(in);
	}
	loom_err_clear(&err);
	assert_int_equal(fault_event_from_json(NULL, 1, &ev, &err), -EINVAL);
}

static void test_decision_json(void **state)
{
	struct fault_policy p;
	struct fault_history h = { 0 };
	struct fault_decision d;
	struct fault_event ev;
	json_t *j;

	fault_policy_defaults(&p);
	assert_int_equal(fault_from_carrier(&p, "n1", "eth0", false, 100, &ev), 1);
	assert_int_equal(fault_policy_decide(&p, &h, &ev, 100, &d), 0);
	assert_int_equal(fault_policy_decide(&p, &h, &ev, 101, &d), 0);
	j = fault_decision_to_json(&d);
	assert_string_equal(json_string_value(json_object_get(j, "action")), "record");
	assert_string_equal(json_string_value(json_object_get(j, "wanted")), "cordon");
	assert_true(json_is_true(json_object_get(j, "held_down")));
	assert_int_equal(json_integer_value(json_object_get(j, "hold_until")), 400);
	json_decref(j);
	fault_history_release(&h);
}

static void test_names(void **state)
{
	enum fault_component c;
	enum fault_severity s;
	enum fault_action a;

	for (int i = 0; i < FAULT_COMPONENT_COUNT; i++) {
		assert_int_equal(fault_component_parse(fault_component_name(i), &c), 0);
		assert_int_equal(c, i);
	}
	for (int i = 0; i < FAULT_SEVERITY_COUNT; i++) {
		assert_int_equal(fault_severity_parse(fault_severity_name(i), &s), 0);
		assert_int_equal(s, i);
	}
	for (int i = 0; i < FAULT_ACTION_COUNT; i++) {
		assert_int_equal(fault_action_parse(fault_action_name(i), &a), 0);
		assert_int_equal(a, i);
	}
	assert_int_equal(fault_component_parse("fan", &c), -EINVAL);
	assert_string_equal(fault_source_name(FAULT_SRC_LINK_RECOVERY), "link-recovery");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_hold_down),
		cmocka_unit_test(test_restore),
		cmocka_unit_test(test_history_bounded),
		cmocka_unit_test(test_config_keys),
		cmocka_unit_test(test_port_state),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_action_events),
		cmocka_unit_test(test_from_json),
		cmocka_unit_test(test_decision_json),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

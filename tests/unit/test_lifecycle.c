/*
 * tests/unit/test_lifecycle.c: the node state machine.  Every state x event
 * pair is tried against the expected table written out here (independently
 * of node/lifecycle.c's): legal ones land where they should with the right
 * network effect, illegal ones are refused with LOOM_E_STATE naming the
 * state and the allowed events.  Then draining's confirm, the per-state
 * attachment rule and the names.
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

#include "node/lifecycle.h"

struct expect {
	enum node_state from;
	enum node_event ev;
	int attached;		/* -1: either */
	enum node_state to;
	enum node_state goal;
	enum lifecycle_net net;
};

#define R NODE_REGISTERED
#define V NODE_VERIFYING
#define A NODE_AVAILABLE
#define S NODE_ASSIGNED
#define C NODE_CORDONED
#define D NODE_DRAINING
#define F NODE_FAILED
#define X NODE_RETIRED
#define Q NODE_QUARANTINED

static const struct expect legal[] = {
	{ R, NODE_EV_VERIFY, -1, V, V, LC_NET_NONE },
	{ R, NODE_EV_FAIL, -1, F, F, LC_NET_NONE },
	{ R, NODE_EV_RETIRE, -1, X, X, LC_NET_NONE },
	{ V, NODE_EV_VERIFY_PASS, -1, A, A, LC_NET_NONE },
	{ V, NODE_EV_VERIFY_FAIL, -1, Q, Q, LC_NET_NONE },
	{ V, NODE_EV_FAIL, -1, F, F, LC_NET_NONE },
	{ V, NODE_EV_RETIRE, -1, X, X, LC_NET_NONE },
	{ A, NODE_EV_VERIFY, -1, V, V, LC_NET_NONE },
	{ A, NODE_EV_ASSIGN, -1, S, S, LC_NET_ATTACH },
	{ A, NODE_EV_CORDON, -1, C, C, LC_NET_FREEZE },
	{ A, NODE_EV_FAIL, -1, D, F, LC_NET_REMOVE },
	{ A, NODE_EV_RETIRE, -1, D, X, LC_NET_REMOVE },
	{ S, NODE_EV_RELEASE, -1, D, A, LC_NET_REMOVE },
	{ S, NODE_EV_CORDON, -1, C, C, LC_NET_FREEZE },
	{ S, NODE_EV_DRAIN, -1, D, D, LC_NET_REMOVE },
	{ S, NODE_EV_FAIL, -1, D, F, LC_NET_REMOVE },
	{ S, NODE_EV_RETIRE, -1, D, X, LC_NET_REMOVE },
	{ C, NODE_EV_UNCORDON, 1, S, S, LC_NET_UNFREEZE },
	{ C, NODE_EV_UNCORDON, 0, A, A, LC_NET_UNFREEZE },
	{ C, NODE_EV_RELEASE, -1, D, A, LC_NET_REMOVE },
	{ C, NODE_EV_DRAIN, -1, D, D, LC_NET_REMOVE },
	{ C, NODE_EV_FAIL, -1, D, F, LC_NET_REMOVE },
	{ C, NODE_EV_RETIRE, -1, D, X, LC_NET_REMOVE },
	{ D, NODE_EV_RELEASE, -1, D, A, LC_NET_REMOVE },
	{ D, NODE_EV_FAIL, -1, D, F, LC_NET_REMOVE },
	{ D, NODE_EV_RETIRE, -1, D, X, LC_NET_REMOVE },
	{ F, NODE_EV_VERIFY, -1, V, V, LC_NET_NONE },
	{ F, NODE_EV_RETIRE, -1, X, X, LC_NET_NONE },
	{ Q, NODE_EV_VERIFY, -1, V, V, LC_NET_NONE },
	{ Q, NODE_EV_FAIL, -1, F, F, LC_NET_NONE },
	{ Q, NODE_EV_RETIRE, -1, X, X, LC_NET_NONE },
};

static const struct expect *expected(enum node_state from, enum node_event ev, bool attached)
{
	for (size_t i = 0; i < sizeof(legal) / sizeof(legal[0]); i++)
		if (legal[i].from == from && legal[i].ev == ev &&
		    (legal[i].attached < 0 || legal[i].attached == (int)attached))
			return &legal[i];
	return NULL;
}

/* Every pair, attached or not, removal not verified. */
static void test_every_pair(void **state)
{
	size_t n_legal = 0, n_illegal = 0;

	for (int s = 0; s < NODE_STATE_COUNT; s++) {
		for (int e = 0; e < NODE_EV_COUNT; e++) {
			for (int att = 0; att < 2; att++) {
				struct lifecycle_ctx ctx = { .attached = att, .goal = D };
				const struct expect *x = expected(s, e, att);
				struct lifecycle_step step;
				struct loom_err err = { 0 };
				int rc = lifecycle_transition(s, e, &ctx, &step, &err);

				if (x) {
					assert_int_equal(rc, 0);
					assert_int_equal(step.from, s);
					assert_int_equal(step.event, e);
					assert_int_equal(step.to, x->to);
					assert_int_equal(step.goal, x->goal);
					assert_int_equal(step.net, x->net);
					assert_int_equal(step.pending, x->to == D);
					assert_true(lifecycle_allowed(s, e, &ctx));
					n_legal++;
				} else {
					char want[64];

					assert_int_equal(rc, -EINVAL);
					assert_int_equal(err.code, LOOM_E_STATE);
					assert_string_equal(err.field, "event");
					snprintf(want, sizeof(want), "'%s'", node_state_name(s));
					if (!strstr(err.msg, want) || !strstr(err.msg, node_event_name(e)) ||
					    !strstr(err.msg, "allowed")) {
						fprintf(stderr, "bad message: %s\n", err.msg);
						fail();
					}
					assert_false(lifecycle_allowed(s, e, &ctx));
					n_illegal++;
				}
			}
		}
	}
	/* 30 rows without guard count twice, the two uncordon rows once each. */
	assert_int_equal(n_legal, 2 * (sizeof(legal) / sizeof(legal[0]) - 2) + 2);
	assert_int_equal(n_legal + n_illegal, 2 * NODE_STATE_COUNT * NODE_EV_COUNT);
}

static void test_error_lists_allowed(void **state)
{
	struct lifecycle_step step;
	struct loom_err err = { 0 };

	assert_int_equal(lifecycle_transition(A, NODE_EV_DRAIN, NULL, &step, &err), -EINVAL);
	assert_string_equal(err.msg,
			    "node is 'available', where 'drain' is not allowed; allowed: verify, assign, cordon, fail, retire");
	loom_err_clear(&err);
	assert_int_equal(lifecycle_transition(X, NODE_EV_VERIFY, NULL, &step, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "none (terminal state)"));
}

/* draining -> failed only once every target verified the removal. */
static void test_drain_then_confirm(void **state)
{
	struct lifecycle_ctx ctx = { .attached = true };
	struct lifecycle_step step;
	struct loom_err err = { 0 };

	assert_int_equal(lifecycle_transition(S, NODE_EV_FAIL, &ctx, &step, &err), 0);
	assert_int_equal(step.to, D);
	assert_int_equal(step.goal, F);
	assert_true(step.pending);
	assert_int_equal(step.net, LC_NET_REMOVE);
	/* Not yet confirmed: the state stays draining; a second fail changes nothing. */
	ctx.goal = step.goal;
	assert_int_equal(lifecycle_transition(D, NODE_EV_FAIL, &ctx, &step, &err), 0);
	assert_int_equal(step.to, D);
	assert_true(step.pending);
	/* Verify needs the removal verified first; the message says why. */
	assert_int_equal(lifecycle_transition(D, NODE_EV_VERIFY, &ctx, &step, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_STATE);
	assert_non_null(strstr(err.msg, "not every target has verified"));
	loom_err_clear(&err);
	/* The reconciler says every target verified it out. */
	assert_int_equal(lifecycle_confirm(D, F, &step, &err), 0);
	assert_int_equal(step.to, F);
	assert_false(step.pending);
	/* Confirm outside draining is refused. */
	assert_int_equal(lifecycle_confirm(F, F, &step, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_STATE);
	loom_err_clear(&err);
	assert_int_equal(lifecycle_confirm(D, S, &step, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_PARAMS);
}

/* An explicit drain stays drained; then retire completes at once. */
static void test_drained_then_retire(void **state)
{
	struct lifecycle_ctx ctx = { .attached = true };
	struct lifecycle_step step;

	assert_int_equal(lifecycle_transition(C, NODE_EV_DRAIN, &ctx, &step, NULL), 0);
	assert_int_equal(step.goal, D);
	assert_int_equal(lifecycle_confirm(D, step.goal, &step, NULL), 0);
	assert_int_equal(step.to, D);
	ctx = (struct lifecycle_ctx){ .goal = D, .removal_verified = true };
	assert_int_equal(lifecycle_transition(D, NODE_EV_RETIRE, &ctx, &step, NULL), 0);
	assert_int_equal(step.to, X);
	assert_false(step.pending);
	assert_int_equal(step.net, LC_NET_NONE);
	assert_int_equal(lifecycle_transition(D, NODE_EV_VERIFY, &ctx, &step, NULL), 0);
	assert_int_equal(step.to, V);
	assert_int_equal(lifecycle_transition(D, NODE_EV_RELEASE, &ctx, &step, NULL), 0);
	assert_int_equal(step.to, A);
}

static void test_attach_rules(void **state)
{
	static const enum lifecycle_attach want[NODE_STATE_COUNT] = {
		[R] = LC_ATTACH_NONE, [V] = LC_ATTACH_NONE, [A] = LC_ATTACH_OPEN,
		[S] = LC_ATTACH_OPEN, [C] = LC_ATTACH_FROZEN, [D] = LC_ATTACH_NONE,
		[F] = LC_ATTACH_NONE, [X] = LC_ATTACH_NONE, [Q] = LC_ATTACH_NONE,
	};
	struct loom_err err = { 0 };

	for (int s = 0; s < NODE_STATE_COUNT; s++) {
		assert_int_equal(lifecycle_attach_rule(s), want[s]);
		loom_err_clear(&err);
		if (want[s] == LC_ATTACH_OPEN) {
			assert_int_equal(lifecycle_may_attach("n1", s, &err), 0);
		} else {
			assert_int_equal(lifecycle_may_attach("n1", s, &err), -EINVAL);
			assert_int_equal(err.code, LOOM_E_STATE);
			assert_string_equal(err.field, "node");
			assert_non_null(strstr(err.msg, "n1"));
		}
		assert_int_equal(lifecycle_provisioning_ok(s), s == R || s == V || s == Q);
	}
}

static void test_names_and_event_for(void **state)
{
	enum node_state s;
	enum node_event e;
	struct lifecycle_ctx att = { .attached = true };
	char buf[200];

	for (int i = 0; i < NODE_STATE_COUNT; i++) {
		assert_int_equal(node_state_parse(node_state_name(i), &s), 0);
		assert_int_equal(s, i);
	}
	for (int i = 0; i < NODE_EV_COUNT; i++) {
		assert_int_equal(node_event_parse(node_event_name(i), &e), 0);
		assert_int_equal(e, i);
	}
	assert_int_equal(node_state_parse("broken", &s), -EINVAL);
	assert_int_equal(node_event_parse("", &e), -EINVAL);
	assert_string_equal(node_state_name(NODE_STATE_COUNT), "unknown");
	assert_int_equal(lifecycle_initial(), R);

	assert_int_equal(lifecycle_event_for(S, F, NULL, &e), 0);
	assert_int_equal(e, NODE_EV_FAIL);
	assert_int_equal(lifecycle_event_for(C, S, &att, &e), 0);
	assert_int_equal(e, NODE_EV_UNCORDON);
	assert_int_equal(lifecycle_event_for(C, S, NULL, &e), -ENOENT);
	assert_int_equal(lifecycle_event_for(S, D, NULL, &e), 0);
	assert_int_equal(e, NODE_EV_DRAIN);
	assert_int_equal(lifecycle_event_for(X, V, NULL, &e), -ENOENT);

	assert_int_equal(lifecycle_allowed_list(C, &att, buf, sizeof(buf)),
			 strlen("release, uncordon, drain, fail, retire"));
	assert_string_equal(buf, "release, uncordon, drain, fail, retire");
	/* A short buffer is cut, and the full length still comes back. */
	assert_int_equal(lifecycle_allowed_list(C, &att, buf, 8), 38);
	assert_string_equal(buf, "release");
}

static void test_step_json(void **state)
{
	struct lifecycle_step step;
	json_t *j;
	char *dump;

	assert_int_equal(lifecycle_transition(S, NODE_EV_FAIL, NULL, &step, NULL), 0);
	j = lifecycle_step_to_json(&step);
	dump = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(dump, "{\"event\":\"fail\",\"from\":\"assigned\",\"goal\":\"failed\","
			    "\"network\":\"remove\",\"pending\":true,\"to\":\"draining\"}");
	free(dump);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_pair),
		cmocka_unit_test(test_error_lists_allowed),
		cmocka_unit_test(test_drain_then_confirm),
		cmocka_unit_test(test_drained_then_retire),
		cmocka_unit_test(test_attach_rules),
		cmocka_unit_test(test_names_and_event_for),
		cmocka_unit_test(test_step_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

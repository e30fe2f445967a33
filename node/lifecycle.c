/*
 * node/lifecycle.c: the node lifecycle's one transition table, and the
 * network rule of each state (see node/lifecycle.h and docs/lifecycle.md).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "node/lifecycle.h"

static const char *const state_names[NODE_STATE_COUNT] = {
	[NODE_REGISTERED] = "registered",
	[NODE_VERIFYING] = "verifying",
	[NODE_AVAILABLE] = "available",
	[NODE_ASSIGNED] = "assigned",
	[NODE_CORDONED] = "cordoned",
	[NODE_DRAINING] = "draining",
	[NODE_FAILED] = "failed",
	[NODE_RETIRED] = "retired",
	[NODE_QUARANTINED] = "quarantined",
};

static const char *const event_names[NODE_EV_COUNT] = {
	[NODE_EV_VERIFY] = "verify",
	[NODE_EV_VERIFY_PASS] = "verify-pass",
	[NODE_EV_VERIFY_FAIL] = "verify-fail",
	[NODE_EV_ASSIGN] = "assign",
	[NODE_EV_RELEASE] = "release",
	[NODE_EV_CORDON] = "cordon",
	[NODE_EV_UNCORDON] = "uncordon",
	[NODE_EV_DRAIN] = "drain",
	[NODE_EV_FAIL] = "fail",
	[NODE_EV_RETIRE] = "retire",
};

/* A row applies only when its guard holds for the caller's context. */
enum guard {
	G_ANY,
	G_ATTACHED,	/* the node still has attachments */
	G_EMPTY,	/* it has none */
	G_VERIFIED,	/* draining, and every target verified the removal */
};

struct transition {
	enum node_state from;
	enum node_event event;
	enum guard guard;
	enum node_state to;
	enum node_state goal;	/* to == DRAINING: where it goes on confirm */
	enum lifecycle_net net;
};

/*
 * Every legal transition.  Whatever can leave a tenant segment goes through
 * draining: a node is out of its tenant only once every target verified it.
 * registered, verifying and quarantined nodes never sat in a tenant segment,
 * so they fail or retire directly.
 */
static const struct transition table[] = {
	{ NODE_REGISTERED, NODE_EV_VERIFY, G_ANY, NODE_VERIFYING, 0, LC_NET_NONE },
	{ NODE_REGISTERED, NODE_EV_FAIL, G_ANY, NODE_FAILED, 0, LC_NET_NONE },
	{ NODE_REGISTERED, NODE_EV_RETIRE, G_ANY, NODE_RETIRED, 0, LC_NET_NONE },

	{ NODE_VERIFYING, NODE_EV_VERIFY_PASS, G_ANY, NODE_AVAILABLE, 0, LC_NET_NONE },
	{ NODE_VERIFYING, NODE_EV_VERIFY_FAIL, G_ANY, NODE_QUARANTINED, 0, LC_NET_NONE },
	{ NODE_VERIFYING, NODE_EV_FAIL, G_ANY, NODE_FAILED, 0, LC_NET_NONE },
	{ NODE_VERIFYING, NODE_EV_RETIRE, G_ANY, NODE_RETIRED, 0, LC_NET_NONE },

	{ NODE_AVAILABLE, NODE_EV_VERIFY, G_ANY, NODE_VERIFYING, 0, LC_NET_NONE },
	{ NODE_AVAILABLE, NODE_EV_ASSIGN, G_ANY, NODE_ASSIGNED, 0, LC_NET_ATTACH },
	{ NODE_AVAILABLE, NODE_EV_CORDON, G_ANY, NODE_CORDONED, 0, LC_NET_FREEZE },
	{ NODE_AVAILABLE, NODE_EV_FAIL, G_ANY, NODE_DRAINING, NODE_FAILED, LC_NET_REMOVE },
	{ NODE_AVAILABLE, NODE_EV_RETIRE, G_ANY, NODE_DRAINING, NODE_RETIRED, LC_NET_REMOVE },

	{ NODE_ASSIGNED, NODE_EV_RELEASE, G_ANY, NODE_DRAINING, NODE_AVAILABLE, LC_NET_REMOVE },
	{ NODE_ASSIGNED, NODE_EV_CORDON, G_ANY, NODE_CORDONED, 0, LC_NET_FREEZE },
	{ NODE_ASSIGNED, NODE_EV_DRAIN, G_ANY, NODE_DRAINING, NODE_DRAINING, LC_NET_REMOVE },
	{ NODE_ASSIGNED, NODE_EV_FAIL, G_ANY, NODE_DRAINING, NODE_FAILED, LC_NET_REMOVE },
	{ NODE_ASSIGNED, NODE_EV_RETIRE, G_ANY, NODE_DRAINING, NODE_RETIRED, LC_NET_REMOVE },

	{ NODE_CORDONED, NODE_EV_UNCORDON, G_ATTACHED, NODE_ASSIGNED, 0, LC_NET_UNFREEZE },
	{ NODE_CORDONED, NODE_EV_UNCORDON, G_EMPTY, NODE_AVAILABLE, 0, LC_NET_UNFREEZE },
	{ NODE_CORDONED, NODE_EV_RELEASE, G_ANY, NODE_DRAINING, NODE_AVAILABLE, LC_NET_REMOVE },
	{ NODE_CORDONED, NODE_EV_DRAIN, G_ANY, NODE_DRAINING, NODE_DRAINING, LC_NET_REMOVE },
	{ NODE_CORDONED, NODE_EV_FAIL, G_ANY, NODE_DRAINING, NODE_FAILED, LC_NET_REMOVE },
	{ NODE_CORDONED, NODE_EV_RETIRE, G_ANY, NODE_DRAINING, NODE_RETIRED, LC_NET_REMOVE },

	/* From draining these set the goal; they complete once removal is verified. */
	{ NODE_DRAINING, NODE_EV_RELEASE, G_ANY, NODE_DRAINING, NODE_AVAILABLE, LC_NET_REMOVE },
	{ NODE_DRAINING, NODE_EV_FAIL, G_ANY, NODE_DRAINING, NODE_FAILED, LC_NET_REMOVE },
	{ NODE_DRAINING, NODE_EV_RETIRE, G_ANY, NODE_DRAINING, NODE_RETIRED, LC_NET_REMOVE },
	{ NODE_DRAINING, NODE_EV_VERIFY, G_VERIFIED, NODE_VERIFYING, 0, LC_NET_NONE },

	{ NODE_FAILED, NODE_EV_VERIFY, G_ANY, NODE_VERIFYING, 0, LC_NET_NONE },
	{ NODE_FAILED, NODE_EV_RETIRE, G_ANY, NODE_RETIRED, 0, LC_NET_NONE },

	{ NODE_QUARANTINED, NODE_EV_VERIFY, G_ANY, NODE_VERIFYING, 0, LC_NET_NONE },
	{ NODE_QUARANTINED, NODE_EV_FAIL, G_ANY, NODE_FAILED, 0, LC_NET_NONE },
	{ NODE_QUARANTINED, NODE_EV_RETIRE, G_ANY, NODE_RETIRED, 0, LC_NET_NONE },
	/* retired: terminal. */
};

#define N_TABLE (sizeof(table) / sizeof(table[0]))

const char *node_state_name(enum node_state s)
{
	if ((unsigned int)s >= NODE_STATE_COUNT)
		return "unknown";
	return state_names[s];
}

int node_state_parse(const char *s, enum node_state *out)
{
	for (unsigned int i = 0; i < NODE_STATE_COUNT; i++)
		if (strcmp(s, state_names[i]) == 0) {
			*out = (enum node_state)i;
			return 0;
		}
	return -EINVAL;
}

const char *node_event_name(enum node_event e)
{
	if ((unsigned int)e >= NODE_EV_COUNT)
		return "unknown";
	return event_names[e];
}

int node_event_parse(const char *s, enum node_event *out)
{
	for (unsigned int i = 0; i < NODE_EV_COUNT; i++)
		if (strcmp(s, event_names[i]) == 0) {
			*out = (enum node_event)i;
			return 0;
		}
	return -EINVAL;
}

const char *lifecycle_net_name(enum lifecycle_net n)
{
	switch (n) {
	case LC_NET_NONE: return "none";
	case LC_NET_ATTACH: return "attach";
	case LC_NET_FREEZE: return "freeze";
	case LC_NET_UNFREEZE: return "unfreeze";
	case LC_NET_REMOVE: return "remove";
	}
	return "unknown";
}

const char *lifecycle_attach_name(enum lifecycle_attach a)
{
	switch (a) {
	case LC_ATTACH_NONE: return "none";
	case LC_ATTACH_OPEN: return "open";
	case LC_ATTACH_FROZEN: return "frozen";
	}
	return "unknown";
}

enum node_state lifecycle_initial(void)
{
	return NODE_REGISTERED;
}

static bool guard_holds(enum guard g, const struct lifecycle_ctx *ctx)
{
	switch (g) {
	case G_ANY:
		return true;
	case G_ATTACHED:
		return ctx && ctx->attached;
	case G_EMPTY:
		return !ctx || !ctx->attached;
	case G_VERIFIED:
		return ctx && ctx->removal_verified;
	}
	return false;
}

static const struct transition *find(enum node_state from, enum node_event ev,
				     const struct lifecycle_ctx *ctx, bool *guarded)
{
	*guarded = false;
	for (size_t i = 0; i < N_TABLE; i++) {
		if (table[i].from != from || table[i].event != ev)
			continue;
		if (guard_holds(table[i].guard, ctx))
			return &table[i];
		*guarded = true;
	}
	return NULL;
}

bool lifecycle_allowed(enum node_state from, enum node_event ev,
		       const struct lifecycle_ctx *ctx)
{
	bool guarded;

	/* Without context, a guarded row counts as allowed (it may be). */
	return find(from, ev, ctx, &guarded) != NULL || (!ctx && guarded);
}

size_t lifecycle_allowed_list(enum node_state from, const struct lifecycle_ctx *ctx,
			      char *buf, size_t size)
{
	size_t len = 0;

	if (size)
		buf[0] = '\0';
	for (unsigned int e = 0; e < NODE_EV_COUNT; e++) {
		int n;

		if (!lifecycle_allowed(from, (enum node_event)e, ctx))
			continue;
		n = snprintf(buf + (len < size ? len : size), len < size ? size - len : 0,
			     "%s%s", len ? ", " : "", event_names[e]);
		if (n > 0)
			len += (size_t)n;
	}
	return len;
}

int lifecycle_transition(enum node_state from, enum node_event ev,
			 const struct lifecycle_ctx *ctx,
			 struct lifecycle_step *step, struct loom_err *err)
{
	const struct transition *t;
	char allowed[160];
	bool guarded;

	if ((unsigned int)from >= NODE_STATE_COUNT || (unsigned int)ev >= NODE_EV_COUNT)
		return loom_err_set(err, LOOM_E_PARAMS, "event",
				    "unknown node state or event");
	t = find(from, ev, ctx, &guarded);
	if (!t) {
		lifecycle_allowed_list(from, ctx, allowed, sizeof(allowed));
		if (guarded && from == NODE_DRAINING)
			return loom_err_set(err, LOOM_E_STATE, "event",
					    "node is 'draining' and not every target has verified its removal yet, so '%s' must wait; allowed now: %s",
					    event_names[ev], allowed[0] ? allowed : "none");
		return loom_err_set(err, LOOM_E_STATE, "event",
				    "node is '%s', where '%s' is not allowed; allowed: %s",
				    state_names[from], event_names[ev],
				    allowed[0] ? allowed : "none (terminal state)");
	}
	memset(step, 0, sizeof(*step));
	step->from = from;
	step->event = ev;
	step->to = t->to;
	step->goal = t->to == NODE_DRAINING ? t->goal : t->to;
	step->net = t->net;
	step->pending = t->to == NODE_DRAINING;
	/* A drained node takes its new goal at once: nothing is left to remove. */
	if (from == NODE_DRAINING && t->to == NODE_DRAINING && ctx && ctx->removal_verified) {
		step->to = t->goal;
		step->net = LC_NET_NONE;
		step->pending = t->goal == NODE_DRAINING;
	}
	return 0;
}

int lifecycle_confirm(enum node_state state, enum node_state goal,
		      struct lifecycle_step *step, struct loom_err *err)
{
	if (state != NODE_DRAINING)
		return loom_err_set(err, LOOM_E_STATE, "state",
				    "node is '%s', not 'draining': there is no removal to confirm",
				    node_state_name(state));
	if (goal != NODE_DRAINING && goal != NODE_FAILED && goal != NODE_RETIRED &&
	    goal != NODE_AVAILABLE)
		return loom_err_set(err, LOOM_E_PARAMS, "goal",
				    "'%s' is not a goal of draining (available, failed, retired or draining)",
				    node_state_name(goal));
	memset(step, 0, sizeof(*step));
	step->from = NODE_DRAINING;
	step->event = NODE_EV_DRAIN;
	step->to = goal;
	step->goal = goal;
	step->net = LC_NET_NONE;
	step->pending = false;
	return 0;
}

int lifecycle_event_for(enum node_state from, enum node_state to,
			const struct lifecycle_ctx *ctx, enum node_event *out)
{
	for (size_t i = 0; i < N_TABLE; i++) {
		const struct transition *t = &table[i];
		enum node_state lands = t->to == NODE_DRAINING ? t->goal : t->to;

		if (t->from != from || !guard_holds(t->guard, ctx))
			continue;
		if (lands == to) {
			*out = t->event;
			return 0;
		}
	}
	return -ENOENT;
}

enum lifecycle_attach lifecycle_attach_rule(enum node_state s)
{
	switch (s) {
	case NODE_ASSIGNED:
	case NODE_AVAILABLE:
		return LC_ATTACH_OPEN;
	case NODE_CORDONED:
		return LC_ATTACH_FROZEN;
	case NODE_REGISTERED:
	case NODE_VERIFYING:
	case NODE_DRAINING:
	case NODE_FAILED:
	case NODE_RETIRED:
	case NODE_QUARANTINED:
	case NODE_STATE_COUNT:
		break;
	}
	return LC_ATTACH_NONE;
}

bool lifecycle_provisioning_ok(enum node_state s)
{
	return s == NODE_REGISTERED || s == NODE_VERIFYING || s == NODE_QUARANTINED;
}

int lifecycle_may_attach(const char *node, enum node_state s, struct loom_err *err)
{
	switch (lifecycle_attach_rule(s)) {
	case LC_ATTACH_OPEN:
		return 0;
	case LC_ATTACH_FROZEN:
		return loom_err_set(err, LOOM_E_STATE, "node",
				    "node %s is cordoned: its attachments stay but no new one may use it; uncordon it or pick another node",
				    node);
	case LC_ATTACH_NONE:
		break;
	}
	return loom_err_set(err, LOOM_E_STATE, "node",
			    "node %s is '%s': only an available or assigned node may be attached",
			    node, node_state_name(s));
}

json_t *lifecycle_step_to_json(const struct lifecycle_step *step)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}",
			 "from", node_state_name(step->from),
			 "event", node_event_name(step->event),
			 "to", node_state_name(step->to),
			 "goal", node_state_name(step->goal),
			 "network", lifecycle_net_name(step->net),
			 "pending", step->pending);
}

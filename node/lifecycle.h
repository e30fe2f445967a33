/*
 * node/lifecycle.h: the node lifecycle as a pure state machine.
 *
 * One table (node/lifecycle.c) holds every legal transition: the state it
 * starts from, the event, the state it leads to and what it means for the
 * network.  Leaving a tenant is never instant: a transition that removes a
 * node from its tenant's segments goes to `draining` with a goal (failed,
 * retired, available), and reaches the goal only once the caller confirms
 * that every target verified the removal (lifecycle_confirm).
 *
 * Nothing here touches the store or the system; loomd stores the state, the
 * goal and the reason of every step it takes.
 */
#ifndef LOOM_SRC_LIFECYCLE_H
#define LOOM_SRC_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "lib/err.h"

enum node_state {
	NODE_REGISTERED,
	NODE_VERIFYING,
	NODE_AVAILABLE,
	NODE_ASSIGNED,
	NODE_CORDONED,
	NODE_DRAINING,
	NODE_FAILED,
	NODE_RETIRED,
	NODE_QUARANTINED,
	NODE_STATE_COUNT
};

enum node_event {
	NODE_EV_VERIFY,		/* start the admission checks (again) */
	NODE_EV_VERIFY_PASS,	/* every check passed */
	NODE_EV_VERIFY_FAIL,	/* a check failed (e.g. RDMA bandwidth) */
	NODE_EV_ASSIGN,		/* handed to a tenant */
	NODE_EV_RELEASE,	/* given back by its tenant */
	NODE_EV_CORDON,		/* no new attachment may use it */
	NODE_EV_UNCORDON,
	NODE_EV_DRAIN,		/* take it out of every tenant segment */
	NODE_EV_FAIL,		/* broken: out of every tenant segment, then failed */
	NODE_EV_RETIRE,		/* leaves the fleet for good */
	NODE_EV_COUNT
};

/*
 * What the network must do for a node in a state: the reconciler and the
 * compiler ask this instead of knowing the states themselves.
 */
enum lifecycle_attach {
	LC_ATTACH_NONE,		/* in no tenant segment: remove whatever is there */
	LC_ATTACH_OPEN,		/* attachments programmed, new ones allowed */
	LC_ATTACH_FROZEN,	/* attachments kept programmed, new ones refused */
};

/* What a transition asks of the network. */
enum lifecycle_net {
	LC_NET_NONE,		/* nothing changes */
	LC_NET_ATTACH,		/* program the tenant's attachments of the node */
	LC_NET_FREEZE,		/* keep them, refuse new ones */
	LC_NET_UNFREEZE,	/* new attachments allowed again */
	LC_NET_REMOVE,		/* remove every port from every tenant segment,
				 * verify on every target, then lifecycle_confirm */
};

/* What the caller knows about the node besides its state. */
struct lifecycle_ctx {
	bool attached;		/* the model holds attachments for it */
	enum node_state goal;	/* when draining: where it goes once removed
				 * (NODE_DRAINING = stay drained until told) */
	bool removal_verified;	/* when draining: every target verified it out */
};

struct lifecycle_step {
	enum node_state from;
	enum node_event event;
	enum node_state to;	/* the state to store now */
	enum node_state goal;	/* to == DRAINING: where it goes on confirm */
	enum lifecycle_net net;
	bool pending;		/* to == DRAINING and the goal waits for confirm */
};

const char *node_state_name(enum node_state s);		/* "available" */
int node_state_parse(const char *s, enum node_state *out);
const char *node_event_name(enum node_event e);		/* "cordon" */
int node_event_parse(const char *s, enum node_event *out);
const char *lifecycle_net_name(enum lifecycle_net n);
const char *lifecycle_attach_name(enum lifecycle_attach a);

/* {"from", "event", "to", "goal", "network", "pending"} for the API and the audit row. */
json_t *lifecycle_step_to_json(const struct lifecycle_step *step);

/* The state a node is created in. */
enum node_state lifecycle_initial(void);

/*
 * Apply @ev to a node in @from.  @ctx may be NULL (not attached, no goal).
 * Returns 0 and fills @step, or -EINVAL with LOOM_E_STATE in @err naming
 * the current state and the events it allows ("node is 'available'; allowed:
 * verify, assign, cordon, fail, retire").  From `draining`, fail / retire /
 * release complete at once when ctx->removal_verified, and otherwise only
 * change the goal (step->pending stays true).
 */
int lifecycle_transition(enum node_state from, enum node_event ev,
			 const struct lifecycle_ctx *ctx,
			 struct lifecycle_step *step, struct loom_err *err);

/*
 * Every target verified the node out of every tenant segment: a draining
 * node moves to its goal (or stays drained when the goal is draining).
 * Refused (LOOM_E_STATE) when @state is not draining.
 */
int lifecycle_confirm(enum node_state state, enum node_state goal,
		      struct lifecycle_step *step, struct loom_err *err);

/* Whether @ev is legal from @from (ignoring the attached guard when @ctx is NULL). */
bool lifecycle_allowed(enum node_state from, enum node_event ev,
		       const struct lifecycle_ctx *ctx);

/* "verify, assign, cordon": the events allowed from @from; returns the length. */
size_t lifecycle_allowed_list(enum node_state from, const struct lifecycle_ctx *ctx,
			      char *buf, size_t size);

/* The event that leads from @from to @to directly, or -ENOENT. */
int lifecycle_event_for(enum node_state from, enum node_state to,
			const struct lifecycle_ctx *ctx, enum node_event *out);

/* What the network must carry for a node in @s. */
enum lifecycle_attach lifecycle_attach_rule(enum node_state s);

/* Whether the node may sit in the configured provisioning segment. */
bool lifecycle_provisioning_ok(enum node_state s);

/*
 * For model_attach: 0 when a new attachment may use a node in @s, or
 * -EINVAL with LOOM_E_STATE naming the node and its state.
 */
int lifecycle_may_attach(const char *node, enum node_state s, struct loom_err *err);

#endif

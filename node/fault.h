/*
 * node/fault.h: what a fault does to a node, decided by a configured policy.
 *
 * Faults come from the API (node.fault: DCGM, a BMC watcher, an operator)
 * and from loom's own watchers (carrier loss on an access port, an HCA port
 * leaving Active, IB error counters rising past a threshold).  The watchers'
 * signals are turned into the same struct fault_event, and one pure function
 * decides: record only, cordon, or cordon + drain + replace.  A signal that
 * flaps acts at most once per hold-down; the repeats are only recorded.
 */
#ifndef LOOM_SRC_FAULT_H
#define LOOM_SRC_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lib/err.h"
#include "node/lifecycle.h"
#include "topology/topology.h"

enum fault_component {
	FAULT_GPU, FAULT_HCA, FAULT_NIC, FAULT_TRANSCEIVER, FAULT_PSU, FAULT_OTHER,
	FAULT_COMPONENT_COUNT
};

enum fault_severity { FAULT_INFO, FAULT_WARNING, FAULT_CRITICAL, FAULT_SEVERITY_COUNT };

/* Where the fault came from; a watcher signal is keyed by its kind and port. */
enum fault_source {
	FAULT_SRC_REPORT,	/* node.fault through the API */
	FAULT_SRC_CARRIER,	/* carrier lost on a NIC access port */
	FAULT_SRC_PORT_STATE,	/* HCA port not Active */
	FAULT_SRC_SYMBOL_ERR,	/* PortCounters SymbolErrorCounter rose */
	FAULT_SRC_LINK_DOWNED,	/* PortCounters LinkDownedCounter rose */
	FAULT_SRC_LINK_RECOVERY,	/* PortCounters LinkErrorRecoveryCounter rose */
	FAULT_SOURCE_COUNT
};

enum fault_action {
	FAULT_ACT_RECORD,	/* store and show it, nothing else */
	FAULT_ACT_CORDON,	/* no new attachment may use the node */
	FAULT_ACT_REPLACE,	/* cordon, drain, fail, and replace from the pool */
	FAULT_ACTION_COUNT
};

struct fault_event {
	enum fault_source source;
	enum fault_component component;
	enum fault_severity severity;
	char node[LOOM_NAME_MAX];
	char port[LOOM_NAME_MAX];	/* NIC / HCA port name, or "" */
	int64_t time;			/* seconds since the epoch */
	char text[256];
};

struct fault_policy {
	enum fault_action on[FAULT_SEVERITY_COUNT];	/* default: record, record, cordon */
	unsigned int hold_down_s;	/* default 300 */
	/* Counter increase between two samples that makes a fault (0 = ignore). */
	uint32_t symbol_errors;		/* default 10 */
	uint32_t link_downed;		/* default 1 */
	uint32_t link_recovery;		/* default 1 */
	/* The severity the watchers give their signals. */
	enum fault_severity carrier_severity;	/* default critical */
	enum fault_severity port_state_severity;	/* default critical */
	enum fault_severity counter_severity;	/* default warning */
};

/* One acted-upon signal, for the hold-down. */
struct fault_mark {
	char node[LOOM_NAME_MAX];
	char port[LOOM_NAME_MAX];
	enum fault_source source;
	enum fault_component component;
	int64_t acted_at;
	unsigned int suppressed;	/* repeats within the hold-down */
};

struct fault_history {
	struct fault_mark *marks;
	size_t n, cap;
};

struct fault_decision {
	enum fault_action action;	/* what to do now */
	enum fault_action wanted;	/* what the policy says without the hold-down */
	bool held_down;			/* the signal acted less than hold_down_s ago */
	int64_t hold_until;		/* when held_down: when it may act again */
	char reason[256];		/* for the audit row and `loomctl events` */
	/* The mark a new hold-down starts from (it acted now), for the
	 * caller to store; NULL when nothing acted.  Valid until the next
	 * call on the same history. */
	const struct fault_mark *acted;
};

const char *fault_component_name(enum fault_component c);
int fault_component_parse(const char *s, enum fault_component *out);
const char *fault_severity_name(enum fault_severity s);
int fault_severity_parse(const char *s, enum fault_severity *out);
const char *fault_source_name(enum fault_source s);
int fault_source_parse(const char *s, enum fault_source *out);
const char *fault_action_name(enum fault_action a);	/* record, cordon, replace */
int fault_action_parse(const char *s, enum fault_action *out);

void fault_policy_defaults(struct fault_policy *p);

/*
 * One loomd.conf key of the policy (the caller strips nothing else):
 *   fault.info | fault.warning | fault.critical = record|cordon|replace
 *   fault.hold_down = SECONDS
 *   fault.symbol_errors | fault.link_downed | fault.link_recovery = COUNT
 *   fault.carrier_severity | fault.port_state_severity | fault.counter_severity
 *       = info|warning|critical
 * Returns 0, -ENOENT when @key is not a fault key, or -EINVAL with
 * LOOM_E_CONFIG naming the key.
 */
int fault_policy_set(struct fault_policy *p, const char *key, const char *value,
		     struct loom_err *err);

/*
 * node.fault's params: {"node", "component", "severity", "text"?, "port"?,
 * "time"?} (time defaults to @now).  Unknown keys are refused.  Returns 0
 * or -EINVAL with LOOM_E_PARAMS naming the field.  Does not look at the
 * topology: fault_event_check does.
 */
int fault_event_from_json(const json_t *params, int64_t now, struct fault_event *out,
			  struct loom_err *err);
json_t *fault_event_to_json(const struct fault_event *ev);
json_t *fault_decision_to_json(const struct fault_decision *d);

/* Checks a node.fault report's fields (API); LOOM_E_PARAMS naming the field. */
int fault_event_check(const struct fault_event *ev, const struct topology *topo,
		      struct loom_err *err);

/* Watchers' signals as events.  Return 1 when it is a fault, 0 when not. */
int fault_from_carrier(const struct fault_policy *p, const char *node,
		       const char *port, bool carrier_up, int64_t now,
		       struct fault_event *out);
/* @state: PortInfo PortState (1 Down, 2 Init, 3 Armed, 4 Active). */
int fault_from_port_state(const struct fault_policy *p, const char *node,
			  const char *port, unsigned int state, int64_t now,
			  struct fault_event *out);

struct ib_port_counters {
	uint32_t symbol_errors;		/* SymbolErrorCounter (16 bits on the wire) */
	uint32_t link_recovery;		/* LinkErrorRecoveryCounter (8 bits) */
	uint32_t link_downed;		/* LinkDownedCounter (8 bits) */
};

/*
 * Compare two samples of a port's counters.  Fills up to @max events (one
 * per counter past its threshold) and returns how many.  A counter that went
 * down was cleared (or wrapped): its new value is the increase.
 */
size_t fault_from_counters(const struct fault_policy *p, const char *node,
			   const char *port, const struct ib_port_counters *prev,
			   const struct ib_port_counters *cur, int64_t now,
			   struct fault_event *out, size_t max);

/*
 * The decision.  Updates @hist: an acting signal (action above record)
 * starts a hold-down for (node, port, source, component); a repeat inside it
 * is recorded only and counted.  Returns 0 or -ENOMEM.
 */
int fault_policy_decide(const struct fault_policy *p, struct fault_history *hist,
			const struct fault_event *ev, int64_t now,
			struct fault_decision *out);

/*
 * Drop the marks whose hold-down is over (decide does it itself before the
 * history grows, so it stays as large as the signals of one hold-down).
 * Returns how many were dropped.
 */
size_t fault_history_prune(struct fault_history *hist, unsigned int hold_down_s, int64_t now);
/*
 * A mark as stored across restarts: {node, port, source, component,
 * acted_at}, and its store key ("fault.hold." and the four names).
 */
json_t *fault_mark_to_json(const struct fault_mark *m);
int fault_mark_key(const struct fault_mark *m, char *buf, size_t len);
/*
 * Puts a stored mark back into @hist when its hold-down still runs at
 * @now.  Returns 1 when restored, 0 when its hold-down is over (or @hist
 * holds a newer one), -EINVAL when @j is not a mark, -ENOMEM.
 */
int fault_history_restore(struct fault_history *hist, const json_t *j, unsigned int hold_down_s, int64_t now);
void fault_history_release(struct fault_history *hist);

/*
 * The lifecycle events an action asks for, given the node's state: cordon
 * on an assigned node is [cordon]; replace on it is [cordon, fail] (the
 * caller then runs the replacement, node/replace.h); an action the state
 * already satisfies is [].  Sets *replace when a replacement is wanted
 * (only for nodes that carried a tenant).  Returns the number of events.
 */
size_t fault_action_events(enum fault_action a, enum node_state s,
			   const struct lifecycle_ctx *ctx,
			   enum node_event out[4], bool *replace);

#endif

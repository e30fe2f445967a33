/*
 * src/api_fault.c: the one fault path (src/api_fault.h), for node.fault
 * and for loomd's own watchers: policy and hold-down decide, and the
 * action's lifecycle events (or a replacement) happen in the same request.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/monotime.h"
#include "src/api_fault.h"
#include "src/api_life.h"
#include "src/api_node.h"
#include "src/api_transition.h"
#include "src/metrics.h"
#include "src/replacement.h"

int m_node_fault(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	struct fault_event fe;
	int64_t now = realtime_ns() / 1000000000;

	if (fault_event_from_json(params, now, &fe, err) || fault_event_check(&fe, call->d->topo, err))
		return -EINVAL;
	return api_fault_apply(call, &fe, now, result, err);
}

/* A new hold-down, in the request's transaction: a restart keeps it. */
static int fault_hold_store(struct api_call *call, const struct fault_mark *m, struct loom_err *err)
{
	char key[4 * LOOM_NAME_MAX + 64];
	json_t *j = fault_mark_to_json(m);
	char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
	int ret = 0;

	json_decref(j);
	if (!txt || fault_mark_key(m, key, sizeof(key)))
		ret = loom_err_set(err, LOOM_E_INTERNAL, "", "cannot encode the fault's hold-down");
	else if (store_kv_put(call->d->store, key, txt))
		ret = store_failed(call, err);
	free(txt);
	return ret;
}

/*
 * The one fault path, for node.fault and for loomd's own watchers
 * (loomd_fault_raise): the configured policy decides (with its hold-down);
 * the action's lifecycle events are applied now, in this request.
 */
int api_fault_apply(struct api_call *call, const struct fault_event *fev, int64_t now,
		    json_t **result, struct loom_err *err)
{
	struct loomd *d = call->d;
	const struct fault_event fe = *fev;
	struct fault_decision dec;
	struct node_life cur;
	struct lifecycle_ctx ctx = { 0 };
	enum node_event evs[4];
	bool replace = false;
	size_t n_ev;
	json_t *steps, *removed;
	const struct topo_node *n;
	char reason[sizeof(fe.text) + 64];
	struct loom_err rerr = { 0 };
	json_t *rec = NULL;
	bool started = false;

	n = topology_node(d->topo, fe.node);
	if (!n && topology_foreign(d->topo, TOPO_NODE, fe.node, "node", err))
		return -EPERM;
	if (!n)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "node", "no node '%s' in the topology", fe.node);
	if (api_node_life(d, fe.node, &cur, err))
		return -EINVAL;
	loomd_metrics_fault(d, fault_component_name(fe.component), fault_severity_name(fe.severity));
	if (fault_policy_decide(&d->fault_policy, &d->faults, &fe, now, &dec))
		return loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
	if (dec.acted && fault_hold_store(call, dec.acted, err))
		return -EINVAL;
	ctx.attached = api_node_attached(&d->model, fe.node);
	ctx.goal = cur.pending ? cur.goal : NODE_DRAINING;
	ctx.removal_verified = cur.state == NODE_DRAINING && !cur.pending;
	n_ev = fault_action_events(dec.action, cur.state, &ctx, evs, &replace);
	snprintf(reason, sizeof(reason), "fault %s/%s: %s%s", fault_component_name(fe.component),
		 fault_severity_name(fe.severity), fe.text[0] ? fe.text : dec.reason,
		 dec.held_down ? " (held down: recorded only)" : "");
	steps = json_array();
	removed = json_array();
	if (replace) {
		bool ok;

		if (!loomd_replace_finished(d, fe.node, &ok, NULL)) {
			/* Its replacement is under way already: that is all the policy asks. */
			n_ev = 0;
		} else if (loomd_replace_start(call, fe.node, NULL, NODE_FAILED, reason, &rec, &rerr) == 0) {
			/* The replacement cordons, detaches and fails the node itself,
			 * step by step, after it knows where every attachment goes. */
			json_decref(rec);
			if (api_node_note(call, &cur, "fault", reason, err))
				goto fail;
			n_ev = 0;
			started = true;
		}
		/* No replacement possible: still take the broken node out (cordon, fail). */
	}
	if (n_ev == 0 && !started) {
		/* Record only: the fault in the node's history (its own reason stays). */
		if (api_node_note(call, &cur, "fault", reason, err))
			goto fail;
	}
	for (size_t i = 0; i < n_ev; i++)
		if (api_node_event(call, fe.node, evs[i], reason, steps, removed, err))
			goto fail;
	if (api_node_result(call, n, steps, removed, result, err))
		return -EINVAL;
	json_object_set_new(*result, "fault", fault_event_to_json(&fe));
	json_object_set_new(*result, "decision", fault_decision_to_json(&dec));
	json_object_set_new(*result, "replace_wanted", json_boolean(replace));
	if (replace && !started && rerr.code != LOOM_OK)
		json_object_set_new(*result, "replace_error", json_string(rerr.msg));
	return 0;
fail:
	json_decref(steps);
	json_decref(removed);
	return -EINVAL;
}

struct fault_arg {
	const struct fault_event *fe;
	int64_t now;
	const char *ack_key, *ack_value;
};

static int fault_fn(struct api_call *call, void *arg, json_t **result, struct loom_err *err)
{
	const struct fault_arg *a = arg;

	if (api_fault_apply(call, a->fe, a->now, result, err))
		return -EINVAL;
	if (a->ack_key && store_kv_put(call->d->store, a->ack_key, a->ack_value))
		return store_failed(call, err);
	return 0;
}

void loomd_fault_raise(struct loomd *d, const struct fault_event *fe)
{
	loomd_fault_raise_acked(d, fe, NULL, NULL, NULL);
}

int loomd_fault_raise_acked(struct loomd *d, const struct fault_event *fe, const char *signal, const char *ack_key,
			    const char *ack_value)
{
	struct fault_arg a = { .fe = fe, .now = fe->time, .ack_key = ack_key, .ack_value = ack_value };
	struct loom_err err = { 0 };
	json_t *params = fault_event_to_json(fe), *result = NULL, *dec;
	int ret;

	if (!params)
		return -ENOMEM;
	if (signal) {
		/* The agent's time is shown; the hold-down runs on loomd's clock. */
		a.now = realtime_ns() / 1000000000;
		json_object_set_new(params, "signal", json_string(signal));
	}
	ret = loomd_internal_write(d, "node.fault", params, fault_fn, &a, &result, &err);
	if (ret == 0) {
		dec = json_object_get(json_object_get(result, "decision"), "reason");
		log_info("fault %s on %s%s%s: %s; %s", fault_source_name(fe->source), fe->node,
			 fe->port[0] ? " port " : "", fe->port, fe->text,
			 json_is_string(dec) ? json_string_value(dec) : "");
	} else {
		log_err("fault %s on %s not applied: %s", fault_source_name(fe->source), fe->node, err.msg);
	}
	json_decref(result);
	json_decref(params);
	return ret;
}

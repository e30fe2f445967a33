/*
 * src/api_transition.c: one lifecycle event applied to a node inside a
 * request (src/api_transition.h): the state machine's check, the network
 * effect, the stored step, the provisioning segment and the node's MIG
 * instances following the new state.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "src/api_attach.h"
#include "src/api_gpu.h"
#include "src/api_life.h"
#include "src/api_transition.h"

/* Removes every attachment of @node, through the same path as segment.detach. */
static int node_detach_all(struct api_call *call, const char *node, json_t *removed,
			   struct loom_err *err)
{
	struct model *m = &call->d->model;

	for (size_t i = m->n_attachments; i-- > 0;) {
		const struct attachment *a = &m->attachments[i];

		if (strcmp(a->node, node))
			continue;
		if (removed)
			json_array_append_new(removed, attachment_to_json(a));
		if (api_detach(call, a, err))
			return -EINVAL;
	}
	return 0;
}

/*
 * loomd.conf's provisioning_segment: a node that is registered, verifying
 * or quarantined (lifecycle_provisioning_ok) sits in it with every port that
 * fits, and leaves it with the transition out of those states (one with a
 * network removal has taken it out already).  A node entering one of them
 * while the segment does not exist is refused: a node meant to boot from
 * the provisioning network must not silently sit nowhere.
 */
int api_provisioning_follow(struct api_call *call, const char *node, enum node_state from,
			    enum node_state to, struct loom_err *err)
{
	struct loomd *d = call->d;
	const char *tenant = d->cfg.provisioning_tenant, *segment = d->cfg.provisioning_segment;
	bool in = lifecycle_provisioning_ok(to);
	struct attachment a;

	if (!tenant[0] || in == lifecycle_provisioning_ok(from))
		return 0;
	if (!in) {
		for (size_t i = d->model.n_attachments; i-- > 0;) {
			const struct attachment *have = &d->model.attachments[i];

			if (strcmp(have->tenant, tenant) == 0 && strcmp(have->segment, segment) == 0 &&
			    strcmp(have->node, node) == 0 && api_detach(call, have, err))
				return -EINVAL;
		}
		return 0;
	}
	if (!model_segment(&d->model, tenant, segment))
		return loom_err_set(err, LOOM_E_NOT_FOUND, "provisioning_segment",
				    "node %s would be '%s' and so in the provisioning segment %s/%s (loomd.conf "
				    "provisioning_segment), which does not exist: create it, or unset the key",
				    node, node_state_name(to), tenant, segment);
	memset(&a, 0, sizeof(a));
	snprintf(a.tenant, sizeof(a.tenant), "%s", tenant);
	snprintf(a.segment, sizeof(a.segment), "%s", segment);
	snprintf(a.node, sizeof(a.node), "%s", node);
	return api_attach_put(call, &a, err);
}

/*
 * A node being failed or retired holds no MIG instances any more: they are
 * released in the same request (their rail ports left the segments with
 * the node's other attachments), and a `gpu-release` event row says so in
 * its history.
 */
static int node_gpus_release(struct api_call *call, const struct node_life *life, enum node_event why,
			     struct loom_err *err)
{
	char tenants[256], reason[320];
	int n = gpu_release_node(call, life->name, tenants, sizeof(tenants), err);

	if (n <= 0)
		return n < 0 ? -EINVAL : 0;
	snprintf(reason, sizeof(reason), "%d MIG instance%s released (%s) on %s", n, n == 1 ? "" : "s",
		 tenants, node_event_name(why));
	return api_node_note(call, life, "gpu-release", reason, err);
}

/*
 * Applies @ev to @name: checks it against the state machine, carries out
 * its network effect (detaching everything for a removal) and stores it.
 * A removal stays pending until the targets holding the node's ports
 * verified it (loomd_lifecycle_confirm); with reconcile = no there is no
 * target to wait for and it is confirmed at once.  Then the provisioning
 * segment follows the new state, and a fail or retire releases the node's
 * MIG instances.  Appends each step to @steps.
 */
int api_node_event(struct api_call *call, const char *name, enum node_event ev, const char *reason,
		   json_t *steps, json_t *removed, struct loom_err *err)
{
	struct loomd *d = call->d;
	struct node_life cur, next;
	struct lifecycle_ctx ctx;
	struct lifecycle_step step;
	enum node_state from;

	if (api_node_life(d, name, &cur, err))
		return -EINVAL;
	from = cur.state;
	ctx.attached = api_node_attached(&d->model, name);
	ctx.goal = cur.pending ? cur.goal : NODE_DRAINING;
	/* A drained node that is no longer pending was verified out. */
	ctx.removal_verified = cur.state == NODE_DRAINING && !cur.pending;
	if (lifecycle_transition(cur.state, ev, &ctx, &step, err)) {
		char msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%s", err->msg);
		loom_err_clear(err);
		return loom_err_set(err, LOOM_E_STATE, "name", "node %s: %s", name, msg);
	}
	if (step.net == LC_NET_REMOVE && node_detach_all(call, name, removed, err))
		return -EINVAL;
	next = cur;
	next.state = step.to;
	next.goal = step.goal;
	next.pending = step.pending;
	snprintf(next.reason, sizeof(next.reason), "%s", reason ? reason : "");
	if (api_node_life_store(call, &cur, &next, node_event_name(ev), err))
		return -EINVAL;
	json_array_append_new(steps, lifecycle_step_to_json(&step));
	if (next.pending) {
		/* Post even when nothing was attached, so the targets report in. */
		call->model_touched = true;
		d->life_pending = true;
		if (!d->rec) {
			struct lifecycle_step done;

			cur = next;
			if (lifecycle_confirm(cur.state, cur.goal, &done, err))
				return -EINVAL;
			next.state = done.to;
			next.pending = false;
			snprintf(next.reason, sizeof(next.reason), "%s",
				 "reconcile = no: no target to verify the removal on");
			if (api_node_life_store(call, &cur, &next, "confirm", err))
				return -EINVAL;
			json_array_append_new(steps, lifecycle_step_to_json(&done));
		}
	}
	if (api_provisioning_follow(call, name, from, next.state, err))
		return -EINVAL;
	if (ev == NODE_EV_FAIL || ev == NODE_EV_RETIRE)
		return node_gpus_release(call, &next, ev, err);
	return 0;
}

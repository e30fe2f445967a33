/*
 * src/api_node.c: the node.* methods that show nodes and move them through
 * their lifecycle by hand (cordon, drain, fail, retire, register), a
 * node's history and events.subscribe.  node.verify is in src/verify.c,
 * node.fault in src/api_fault.c, node.replace in src/replacement.c.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/param.h"
#include "src/api_life.h"
#include "src/api_node.h"
#include "src/api_transition.h"
#include "src/replacement.h"

static json_t *json_nullify(json_t *v)
{
	return v ? v : json_null();
}

static json_t *node_json(struct loomd *d, const struct topo_node *n)
{
	const struct model *m = &d->model;
	json_t *o = topo_node_to_json(n);
	struct loom_err lerr = { 0 };
	struct node_life nl;
	char key[LOOM_NAME_MAX + 16], *rdma = NULL;
	json_t *att = json_array();
	json_t *tenants = json_array();

	for (size_t i = 0; i < m->n_attachments; i++) {
		const struct attachment *a = &m->attachments[i];
		size_t k;

		const struct segment *seg;
		json_t *aj;

		if (strcmp(a->node, n->name))
			continue;
		aj = attachment_to_json(a);
		seg = model_segment(m, a->tenant, a->segment);
		if (seg)
			json_object_set_new(aj, "type", json_string(seg_type_name(seg->type)));
		json_array_append_new(att, aj);
		for (k = 0; k < json_array_size(tenants); k++)
			if (strcmp(json_string_value(json_array_get(tenants, k)), a->tenant) == 0)
				break;
		if (k == json_array_size(tenants))
			json_array_append_new(tenants, json_string(a->tenant));
	}
	json_object_set_new(o, "attachments", att);
	json_object_set_new(o, "tenants", tenants);
	if (api_node_life(d, n->name, &nl, &lerr) == 0)
		api_node_life_json(o, &nl);
	snprintf(key, sizeof(key), "rdma.%s", n->name);
	if (store_kv_get(d->store, key, &rdma) == 0 && rdma)
		json_object_set_new(o, "rdma", json_loads(rdma, 0, NULL));
	free(rdma);
	json_object_set_new(o, "replacement", json_nullify(loomd_replace_json(d, n->name)));
	return o;
}

json_t *api_node_json(struct loomd *d, const char *name)
{
	const struct topo_node *n = topology_node(d->topo, name);

	return n ? node_json(d, n) : NULL;
}

int m_node_list(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "site", NULL };
	const struct topology *t = call->d->topo;
	const char *site;

	if (params_only(params, allowed, err) || param_string(params, "site", false, &site, err))
		return -EINVAL;
	*result = json_array();
	for (size_t i = 0; i < t->n_nodes; i++)
		if (!site || strcmp(site, t->nodes[i].site) == 0)
			json_array_append_new(*result, node_json(call->d, &t->nodes[i]));
	return 0;
}

int m_node_show(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "name", NULL };
	const struct topo_node *n;
	const char *name;

	if (params_only(params, allowed, err) || param_string(params, "name", true, &name, err))
		return -EINVAL;
	n = topology_node(call->d->topo, name);
	if (!n && topology_foreign(call->d->topo, TOPO_NODE, name, "name", err))
		return -EPERM;
	if (!n)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "name", "no node '%s' in the topology", name);
	*result = node_json(call->d, n);
	return 0;
}

const struct topo_node *api_node_param(struct api_call *call, json_t *params, const char *reason_key,
				       const char **reason, struct loom_err *err)
{
	const struct topo_node *n;
	const char *name;

	if (param_string(params, "name", true, &name, err))
		return NULL;
	if (reason_key && param_string(params, reason_key, false, reason, err))
		return NULL;
	n = topology_node(call->d->topo, name);
	if (!n && !topology_foreign(call->d->topo, TOPO_NODE, name, "name", err))
		loom_err_set(err, LOOM_E_NOT_FOUND, "name", "no node '%s' in the topology", name);
	return n;
}

int api_node_result(struct api_call *call, const struct topo_node *n, json_t *steps, json_t *removed,
		    json_t **result, struct loom_err *err)
{
	*result = node_json(call->d, n);
	if (!*result) {
		json_decref(steps);
		json_decref(removed);
		return loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
	}
	json_object_set_new(*result, "steps", steps);
	if (removed)
		json_object_set_new(*result, "detached", removed);
	return 0;
}

/* node.cordon / uncordon / drain / fail / retire: one event each. */
static int node_event_method(struct api_call *call, json_t *params, enum node_event ev, json_t **result,
			     struct loom_err *err)
{
	static const char *const allowed[] = { "name", "reason", NULL };
	const struct topo_node *n;
	const char *reason = NULL;
	json_t *steps, *removed;

	if (params_only(params, allowed, err))
		return -EINVAL;
	n = api_node_param(call, params, "reason", &reason, err);
	if (!n)
		return -EINVAL;
	steps = json_array();
	removed = json_array();
	if (api_node_event(call, n->name, ev, reason, steps, removed, err)) {
		json_decref(steps);
		json_decref(removed);
		return -EINVAL;
	}
	return api_node_result(call, n, steps, removed, result, err);
}

int m_node_cordon(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	return node_event_method(call, params, NODE_EV_CORDON, result, err);
}

int m_node_uncordon(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	return node_event_method(call, params, NODE_EV_UNCORDON, result, err);
}

int m_node_drain(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	return node_event_method(call, params, NODE_EV_DRAIN, result, err);
}

int m_node_fail(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	return node_event_method(call, params, NODE_EV_FAIL, result, err);
}

int m_node_retire(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	return node_event_method(call, params, NODE_EV_RETIRE, result, err);
}

/*
 * A node without a lifecycle row counts as available; registering it
 * starts its life over from `registered` (only while nothing uses it).
 */
int m_node_register(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "name", "reason", NULL };
	struct node_life cur, next;
	const struct topo_node *n;
	const char *reason = NULL;
	json_t *steps;
	int ret;

	if (params_only(params, allowed, err))
		return -EINVAL;
	n = api_node_param(call, params, "reason", &reason, err);
	if (!n)
		return -EINVAL;
	ret = store_node_get(call->d->store, n->name, &cur);
	if (ret == 0)
		return loom_err_set(err, LOOM_E_STATE, "name",
				    "node %s is registered already and '%s'; allowed: verify, fail, retire "
				    "(see loomctl node history)", n->name, node_state_name(cur.state));
	if (ret != -ENOENT)
		return store_failed(call, err);
	if (api_node_attached(&call->d->model, n->name))
		return loom_err_set(err, LOOM_E_STATE, "name",
				    "node %s carries tenant attachments ('assigned'); drain it before registering it anew",
				    n->name);
	if (api_node_life(call->d, n->name, &cur, err))
		return -EINVAL;
	next = cur;
	next.state = lifecycle_initial();
	snprintf(next.reason, sizeof(next.reason), "%s", reason ? reason : "");
	if (api_node_life_store(call, &cur, &next, "register", err) ||
	    api_provisioning_follow(call, n->name, cur.state, next.state, err))
		return -EINVAL;
	steps = json_array();
	json_array_append_new(steps, json_pack("{s:s, s:s, s:s}", "from", node_state_name(cur.state),
					       "event", "register", "to", node_state_name(next.state)));
	return api_node_result(call, n, steps, NULL, result, err);
}

int m_node_history(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "name", NULL };
	const struct topo_node *n;

	if (params_only(params, allowed, err))
		return -EINVAL;
	n = api_node_param(call, params, NULL, NULL, err);
	if (!n)
		return -EINVAL;
	if (store_node_events(call->d->store, n->name, result))
		return loom_err_set(err, LOOM_E_STORE, "", "cannot read the node's history: %s",
				    store_errmsg(call->d->store));
	return 0;
}

/*
 * events.subscribe {since?, node?}: from the reply on, the connection gets a
 * notification per node event (transitions, faults, confirmations, the
 * replacement's steps) as soon as it is committed.  Without "since" only
 * new events come; with it, the stored ones after that seq come first.
 */
int m_events_subscribe(struct api_call *call, json_t *params, json_t **result,
		       struct loom_err *err)
{
	static const char *const allowed[] = { "since", "node", NULL };
	const char *node = NULL;
	json_int_t since = -1;
	int64_t last;

	if (params_only(params, allowed, err) ||
	    param_int(params, "since", 0, INT64_MAX, &since, err) ||
	    param_string(params, "node", false, &node, err))
		return -EINVAL;
	if (node && !topology_node(call->d->topo, node) && topology_foreign(call->d->topo, TOPO_NODE, node, "node", err))
		return -EPERM;
	if (node && !topology_node(call->d->topo, node))
		return loom_err_set(err, LOOM_E_NOT_FOUND, "node", "no node '%s' in the topology", node);
	last = store_node_event_last(call->d->store);
	if (last < 0)
		return loom_err_set(err, LOOM_E_STORE, "", "cannot read the node events: %s",
				    store_errmsg(call->d->store));
	call->subscribe = true;
	call->subscribe_after = since >= 0 ? since : last;
	snprintf(call->subscribe_node, sizeof(call->subscribe_node), "%s", node ? node : "");
	*result = json_pack("{s:b, s:I, s:I, s:s?}", "subscribed", 1, "after",
			    (json_int_t)call->subscribe_after, "last", (json_int_t)last, "node", node);
	return *result ? 0 : -ENOMEM;
}

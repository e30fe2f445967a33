/*
 * src/converge.c: what waits for the targets to converge (src/converge.h):
 * pending node removals confirmed, released IDs let go.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/monotime.h"
#include "src/converge.h"
#include "src/reconcile.h"

/*
 * An ID released by a deleted segment stays held (never handed to another
 * tenant) until every target has converged on a desired state without it.
 */
void loomd_release_holds(struct loomd *d)
{
	if (!d->rec || d->model.n_holds == 0 || d->in_txn || !reconciler_converged(d->rec))
		return;
	if (store_begin(d->store))
		return;
	for (size_t i = 0; i < d->model.n_holds; i++)
		if (store_hold_delete(d->store, d->model.holds[i].type, d->model.holds[i].id)) {
			store_rollback(d->store);
			return;
		}
	if (store_commit(d->store)) {
		store_rollback(d->store);
		return;
	}
	while (d->model.n_holds > 0) {
		struct id_hold h = d->model.holds[d->model.n_holds - 1];

		log_debug(LOG_SUB_RECONCILE, "%s %u released by %s: no target carries it any more",
			  h.type == SEG_ETHERNET ? "VNI" : "P_Key", (unsigned)h.id, h.tenant);
		model_hold_release(&d->model, h.type, h.id);
	}
}

/* Adds @name to @ts unless it is there (the array is sized by the caller). */
static void targets_add(struct node_targets *ts, const char *name)
{
	for (size_t i = 0; i < ts->n; i++)
		if (!strcmp(ts->names[i], name))
			return;
	ts->names[ts->n++] = name;
}

int loomd_node_targets(const struct loomd *d, const char *node, struct node_targets *ts)
{
	const struct topo_node *n = d->topo ? topology_node(d->topo, node) : NULL;
	const char **names;

	if (!n)
		return 0;
	names = realloc(ts->names, (ts->n + n->n_nic_ports + n->n_hca_ports + 1) * sizeof(*names));
	if (!names)
		return -1;
	ts->names = names;
	for (size_t i = 0; i < n->n_nic_ports; i++)
		targets_add(ts, n->nic_ports[i].vtep);
	for (size_t i = 0; i < n->n_hca_ports; i++)
		targets_add(ts, n->hca_ports[i].sm);
	if (n->n_gpus)
		targets_add(ts, n->name);
	return 0;
}

void node_targets_free(struct node_targets *ts)
{
	free(ts->names);
	ts->names = NULL;
	ts->n = 0;
}

/*
 * Have the targets that hold the pending nodes' ports verified their
 * removal?  The generation that removed them ran there without error on
 * what it changed; when a newer one was posted since, those targets must
 * have converged instead.  A target in error that holds none of their
 * ports (an unreachable leaf elsewhere) does not hold them up.
 */
static bool removal_verified(struct loomd *d, const struct node_life *nodes, size_t n)
{
	struct node_targets ts = { 0 };
	bool ok = false, done;

	for (size_t i = 0; i < n; i++)
		if (nodes[i].pending && loomd_node_targets(d, nodes[i].name, &ts)) {
			node_targets_free(&ts);
			return false;
		}
	if (ts.n == 0)
		done = true;	/* no target holds a port of theirs */
	else if (d->life_gen == d->posted_gen)
		done = reconciler_done_on(d->rec, d->life_gen, ts.names, ts.n, &ok) && ok;
	else
		done = reconciler_converged_on(d->rec, ts.names, ts.n);
	node_targets_free(&ts);
	return done;
}

void loomd_lifecycle_confirm(struct loomd *d)
{
	struct node_life *nodes = NULL;
	size_t n = 0;
	bool any = false;

	if (!d->rec || d->in_txn || !d->life_gen)
		return;
	if (store_node_list(d->store, &nodes, &n))
		return;
	for (size_t i = 0; i < n; i++)
		any |= nodes[i].pending;
	if (!any)
		goto out;
	if (!removal_verified(d, nodes, n)) {
		free(nodes);
		return;
	}
	if (store_begin(d->store))
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct node_life *nl = &nodes[i];
		struct lifecycle_step step;
		struct loom_err err = { 0 };
		struct node_event_rec ev = { 0 };

		if (!nl->pending)
			continue;
		if (lifecycle_confirm(nl->state, nl->goal, &step, &err)) {
			log_err("node %s: %s", nl->name, err.msg);
			continue;
		}
		ev.time_ns = realtime_ns();
		ev.node = nl->name;
		ev.from = nl->state;
		ev.to = step.to;
		ev.event = "confirm";
		ev.reason = "every target holding its ports verified the node out of its tenant segments";
		ev.uid = getuid();
		nl->state = step.to;
		nl->pending = false;
		nl->since_ns = ev.time_ns;
		if (store_node_put(d->store, nl) || store_node_event_append(d->store, &ev)) {
			log_err("node %s: cannot store the confirmation: %s", nl->name, store_errmsg(d->store));
			store_rollback(d->store);
			goto out;
		}
		log_info("node %s: removal verified on the targets holding its ports, now %s", nl->name,
			 node_state_name(step.to));
	}
	if (store_commit(d->store))
		store_rollback(d->store);
	else
		d->life_gen = 0;
out:
	if (!any)
		d->life_gen = 0;
	free(nodes);
}

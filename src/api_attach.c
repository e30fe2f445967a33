/*
 * src/api_attach.c: attaching a node's port to a segment and detaching it,
 * model, store and node lifecycle together (src/api_attach.h): the one
 * path for segment.attach, the intent, the GPU rail ports and the
 * replacement driver.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fabric/partitions.h"
#include "src/api_attach.h"
#include "src/api_life.h"
#include "src/reconcile.h"

/*
 * Would this attachment overflow an HCA port's P_Key table?  Uses the
 * capacities the subnet-manager targets read from the fabric (unknown ports
 * are not refused here; the target still refuses to write an overflow).
 */
static int check_pkey_capacity(struct loomd *d, const struct attachment *a, struct loom_err *err)
{
	const struct segment *seg = model_segment(&d->model, a->tenant, a->segment);
	const struct topo_node *node = topology_node(d->topo, a->node);

	if (!d->rec || !seg || seg->type != SEG_INFINIBAND || !node)
		return 0;
	for (size_t i = 0; i < node->n_hca_ports; i++) {
		const struct topo_hca_port *hp = &node->hca_ports[i];
		unsigned int foreign = 0, cap, need = 1;

		if (a->port[0] && strcmp(a->port, hp->name))
			continue;
		cap = reconciler_pkey_capacity(d->rec, hp->guid, &foreign);
		if (!cap)
			continue;
		for (size_t k = 0; k < d->model.n_attachments; k++) {
			const struct attachment *o = &d->model.attachments[k];
			const struct segment *os;

			if (strcmp(o->node, a->node) || (o->port[0] && strcmp(o->port, hp->name)))
				continue;
			os = model_segment(&d->model, o->tenant, o->segment);
			need += os && os->type == SEG_INFINIBAND;
		}
		if (need + foreign > cap)
			return partitions_capacity_err(err, "port", hp->guid, a->node, hp->name, need,
						       foreign, cap);
	}
	return 0;
}

/* Into the model and the store, past the node's lifecycle (api_attach checks it). */
int api_attach_put(struct api_call *call, const struct attachment *a, struct loom_err *err)
{
	struct loomd *d = call->d;

	if (check_pkey_capacity(d, a, err) || model_attach(&d->model, d->topo, a, err))
		return -EINVAL;
	call->model_touched = true;
	if (store_attachment_put(d->store, a))
		return store_failed(call, err);
	return 0;
}

int api_attach(struct api_call *call, const struct attachment *a, struct loom_err *err)
{
	struct loomd *d = call->d;
	struct node_life nl;

	if (api_node_life(d, a->node, &nl, err) || lifecycle_may_attach(a->node, nl.state, err))
		return -EINVAL;
	/* A node a running replacement brings in is that replacement's alone. */
	if (!call->replacing && api_node_reserved(d, a->node))
		return loom_err_set(err, LOOM_E_STATE, "node",
				    "node %s is reserved: it replaces %s (replacement running; "
				    "see loomctl replace show %s)", a->node,
				    api_node_reserved(d, a->node), a->node);
	if (api_attach_put(call, a, err))
		return -EINVAL;
	/* The first attachment hands an available node to its tenant. */
	if (nl.state == NODE_AVAILABLE) {
		struct node_life next = nl;

		next.state = NODE_ASSIGNED;
		snprintf(next.reason, sizeof(next.reason), "attached to %s/%s", a->tenant, a->segment);
		if (api_node_life_store(call, &nl, &next, node_event_name(NODE_EV_ASSIGN), err))
			return -EINVAL;
	}
	return 0;
}

int api_detach(struct api_call *call, const struct attachment *a, struct loom_err *err)
{
	struct loomd *d = call->d;
	struct attachment copy = *a;	/* @a may point into the model */

	if (model_detach(&d->model, &copy, err))
		return -EINVAL;
	call->model_touched = true;
	if (store_attachment_delete(d->store, &copy))
		return store_failed(call, err);
	return 0;
}

/*
 * src/api_attach.c: attaching a node's port to a segment and detaching it,
 * model, store and node lifecycle together (src/api_attach.h): the one
 * path for segment.attach, the intent, the GPU rail ports and the
 * replacement driver.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fabric/partitions.h"
#include "src/api_attach.h"
#include "src/api_life.h"
#include "src/reconcile.h"

/* Does attachment @o put @node's port @port in an InfiniBand segment? */
static const struct segment *ib_segment_on(const struct model *m, const struct attachment *o, const char *node,
					   const char *port)
{
	const struct segment *seg;

	if (strcmp(o->node, node) || (o->port[0] && strcmp(o->port, port)))
		return NULL;
	seg = model_segment(m, o->tenant, o->segment);
	return seg && seg->type == SEG_INFINIBAND ? seg : NULL;
}

/*
 * Would this attachment overflow an HCA port's P_Key table?  Counts every
 * InfiniBand segment the model already has the port in (accepted, whether
 * or not a target verified it yet), each once, plus this one, against the
 * capacity and the foreign entries the subnet-manager target read for the
 * port (partitions_port_fits).  A port not read yet is not refused here:
 * the target's containment step still leaves out what does not fit.
 */
static int check_pkey_capacity(struct loomd *d, const struct attachment *a, struct loom_err *err)
{
	const struct segment *seg = model_segment(&d->model, a->tenant, a->segment);
	const struct topo_node *node = topology_node(d->topo, a->node);
	const struct segment **segs = NULL;
	size_t n_segs, cap_segs = 0;

	if (!d->rec || !seg || seg->type != SEG_INFINIBAND || !node)
		return 0;
	for (size_t i = 0; i < node->n_hca_ports; i++) {
		const struct topo_hca_port *hp = &node->hca_ports[i];
		unsigned int foreign = 0, cap, need = 1;

		if (a->port[0] && strcmp(a->port, hp->name))
			continue;
		cap = reconciler_pkey_capacity(d->rec, hp->guid, &foreign);
		n_segs = 0;
		for (size_t k = 0; cap && k < d->model.n_attachments; k++) {
			const struct segment *os = ib_segment_on(&d->model, &d->model.attachments[k], a->node, hp->name);
			bool seen = !os || os == seg;

			/* Each segment once: another attachment may have counted it. */
			for (size_t j = 0; !seen && j < n_segs; j++)
				seen = segs[j] == os;
			if (seen)
				continue;
			if (n_segs == cap_segs) {
				const struct segment **g = realloc(segs, (cap_segs * 2 + 16) * sizeof(*g));

				if (!g) {
					free(segs);
					return loom_err_set(err, LOOM_E_INTERNAL, "port", "out of memory");
				}
				segs = g;
				cap_segs = cap_segs * 2 + 16;
			}
			segs[n_segs++] = os;
		}
		need += (unsigned int)n_segs;
		if (partitions_port_fits(err, "port", hp->guid, a->node, hp->name, need, foreign, cap)) {
			free(segs);
			return -EINVAL;
		}
	}
	free(segs);
	return 0;
}

/* Into the model and the store, past the node's lifecycle (api_attach checks it). */
int api_attach_put(struct api_call *call, struct attachment *a, struct loom_err *err)
{
	struct loomd *d = call->d;

	if (check_pkey_capacity(d, a, err) || model_attach(&d->model, d->topo, a, err))
		return -EINVAL;
	call->model_touched = true;
	if (store_attachment_put(d->store, a))
		return store_failed(call, err);
	return 0;
}

int api_attach(struct api_call *call, struct attachment *a, struct loom_err *err)
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

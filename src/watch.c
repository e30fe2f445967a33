/*
 * src/watch.c: loomd's own fault watchers, on the main thread.  What the
 * targets' handles saw (carrier of the nodes' access ports on a VTEP, the
 * nodes' HCA ports sampled by a subnet manager's worker) becomes a
 * struct fault_event through fault_from_*, and then goes the one way every
 * fault goes: loomd_fault_raise, the same path as node.fault.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "lib/log.h"
#include "lib/monotime.h"
#include "src/api_fault.h"
#include "src/reconcile.h"
#include "src/watch.h"

/* The node and NIC port behind a VTEP's access port, or NULL. */
static const struct topo_node *access_port_owner(const struct topology *topo, const char *vtep,
						 const char *access_port, const struct topo_nic_port **port)
{
	for (size_t i = 0; i < topo->n_nodes; i++)
		for (size_t k = 0; k < topo->nodes[i].n_nic_ports; k++) {
			const struct topo_nic_port *p = &topo->nodes[i].nic_ports[k];

			if (strcmp(p->vtep, vtep) == 0 && strcmp(p->access_port, access_port) == 0) {
				*port = p;
				return &topo->nodes[i];
			}
		}
	return NULL;
}

void loomd_watch_carrier(struct loomd *d, size_t i)
{
	struct carrier_change ch[16];
	size_t n;

	if (!d->rec)
		return;
	while ((n = reconciler_carrier_take(d->rec, i, ch, sizeof(ch) / sizeof(ch[0]))) > 0) {
		for (size_t k = 0; k < n; k++) {
			const struct topo_nic_port *p = NULL;
			const struct topo_node *node = access_port_owner(d->topo, ch[k].vtep, ch[k].access_port, &p);
			struct fault_event fe;
			int64_t now = realtime_ns() / 1000000000;

			if (!node)
				continue;	/* the topology changed since the watch was set */
			if (!fault_from_carrier(&d->fault_policy, node->name, p->name, ch[k].up, now, &fe)) {
				log_info("carrier back on %s's access port %s (%s %s)", node->name, p->name,
					 ch[k].vtep, ch[k].access_port);
				continue;
			}
			snprintf(fe.text, sizeof(fe.text), "carrier lost on %s's access port %s (%s %s)",
				 node->name, p->name, ch[k].vtep, ch[k].access_port);
			loomd_fault_raise(d, &fe);
		}
		if (n < sizeof(ch) / sizeof(ch[0]))
			break;
	}
}

void loomd_watch_hca(struct loomd *d)
{
	struct hca_signal sig[16];
	size_t n;

	if (!d->rec)
		return;
	while ((n = reconciler_hca_take(d->rec, sig, sizeof(sig) / sizeof(sig[0]))) > 0) {
		for (size_t k = 0; k < n; k++) {
			const struct hca_signal *s = &sig[k];
			struct fault_event fe[3];
			size_t n_fe = 0;
			int64_t now = realtime_ns() / 1000000000;

			if (!topology_node(d->topo, s->node))
				continue;	/* the topology changed since the sample */
			if (!s->counters) {
				/* Not answering is a port that cannot be Active. */
				n_fe = (size_t)fault_from_port_state(&d->fault_policy, s->node, s->port,
								     s->result ? 1 : s->state, now, fe);
				if (n_fe && s->result)
					snprintf(fe[0].text, sizeof(fe[0].text),
						 "HCA port %s of %s does not answer PortInfo through %s (%s): its link is down or the node is gone",
						 s->port, s->node, s->sm,
						 s->result == -ENOENT ? "no longer in the fabric" : strerror(-s->result));
			} else {
				n_fe = fault_from_counters(&d->fault_policy, s->node, s->port, &s->prev, &s->cur,
							   now, fe, sizeof(fe) / sizeof(fe[0]));
			}
			for (size_t i = 0; i < n_fe; i++)
				loomd_fault_raise(d, &fe[i]);
		}
		if (n < sizeof(sig) / sizeof(sig[0]))
			break;
	}
}

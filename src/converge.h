/*
 * src/converge.h: what loomd does once the targets have converged.  Both
 * run outside any batch (they open their own transaction) and do nothing
 * while one is open; src/startup.c hangs them on the event loop's hooks.
 */
#ifndef LOOM_SRC_CONVERGE_H
#define LOOM_SRC_CONVERGE_H

#include "src/daemon.h"

/* Releases ID holds once every target converged. */
void loomd_release_holds(struct loomd *d);
/* The names of the targets that hold a node's ports (pointers into the topology). */
struct node_targets {
	const char **names;
	size_t n;
};
/*
 * Adds @node's targets to @ts: the VTEPs of its NIC ports, the subnet
 * managers of its HCA ports, its GPU target (none for a node the topology
 * does not have, or one without ports).  0, or -1 out of memory.
 */
int loomd_node_targets(const struct loomd *d, const char *node, struct node_targets *ts);
void node_targets_free(struct node_targets *ts);

/*
 * The targets that hold the pending nodes' ports verified them out (the
 * others are not waited for): draining nodes waiting for that verification
 * move to their goal (lifecycle_confirm), stored with a node_events row.
 */
void loomd_lifecycle_confirm(struct loomd *d);

#endif

/*
 * topology/delegation.h: the topology's delegations as load.c and
 * topology.c use them (topology/delegation.c); the public side is in
 * topology/topology.h.
 */
#ifndef LOOM_TOPOLOGY_DELEGATION_H
#define LOOM_TOPOLOGY_DELEGATION_H

#include <jansson.h>

#include "lib/err.h"
#include "topology/topology.h"

/* Reads and checks root's "delegations" into @t, whose nodes, VTEPs and
 * subnet managers are loaded and sorted already. */
int delegations_read(const json_t *root, struct topology *t, struct loom_err *err);
void delegations_free(struct topology *t);
/* The delegations as the file has them (an array, [] when none). */
json_t *delegations_to_json(const struct topology *t);

#endif

/*
 * topology/ibnetdiscover.h: turning `ibnetdiscover` output into topology
 * entries for an operator to review (format: docs/topology.md).
 */
#ifndef LOOM_TOPOLOGY_IBNETDISCOVER_H
#define LOOM_TOPOLOGY_IBNETDISCOVER_H

#include <jansson.h>

#include "lib/err.h"

/*
 * Parse the text ibnetdiscover prints (its default output, with or without
 * LIDs assigned) and build
 *   {"switches": [{"guid", "lid", "description", "ports": [...]}],
 *    "nodes":    [{"name", "hca_ports": [{"name", "guid", "rate_gbps", "sm", "lid"?}]}]}
 * where every HCA port carries "sm": @sm.  Nodes are named from the CA's
 * node description ("gpu-e01 mlx5_0" -> node "gpu-e01", port "mlx5_0/1").
 * The nodes lack a site and NIC ports: they are candidates, not a topology.
 *
 * On error returns -EINVAL and fills @err with LOOM_E_TOPOLOGY, err->field
 * "line N" and err->msg saying what was expected there.
 */
int ibnetdiscover_import(const char *text, const char *sm, json_t **out, struct loom_err *err);

/* Link rate in Gb/s for a link as shown, "4xHDR" -> 200; 0 if unknown. */
unsigned int ibnetdiscover_rate_gbps(const char *link);

#endif

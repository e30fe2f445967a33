/*
 * targets/vtep.h: the VTEP target, kernel then FRR on one worker (their
 * order is real coupling: FRR learns the VNIs from the kernel's devices),
 * and the carrier watcher that rides on its netlink socket.
 */
#ifndef LOOM_TARGETS_VTEP_H
#define LOOM_TARGETS_VTEP_H

#include <stdbool.h>
#include <stddef.h>

#include "targets/target.h"

extern const struct target_kind vtep_target_kind;

/*
 * The carrier watcher: after reconciler_drift(r, i), the changes of the
 * nodes' access ports on that VTEP (every topo_nic_port.access_port cabled
 * to it is watched from reconciler_start on).
 */
struct carrier_change {
	char vtep[LOOM_NAME_MAX];
	char access_port[LOOM_IFNAME_MAX];
	bool up;
};
size_t reconciler_carrier_take(struct reconciler *r, size_t i, struct carrier_change *out, size_t max);

#endif

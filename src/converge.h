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
/*
 * Every target converged: draining nodes waiting for that verification
 * move to their goal (lifecycle_confirm), stored with a node_events row.
 */
void loomd_lifecycle_confirm(struct loomd *d);

#endif

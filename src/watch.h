/*
 * src/watch.h: loomd's own fault watchers (src/watch.c), hooked on the
 * event loop by src/startup.c.
 */
#ifndef LOOM_SRC_WATCH_H
#define LOOM_SRC_WATCH_H

#include <stddef.h>

#include "src/daemon.h"

/* Carrier changes seen on drift socket @i. */
void loomd_watch_carrier(struct loomd *d, size_t i);
/* The HCA watcher's signals, after the reconciler's event fd fired. */
void loomd_watch_hca(struct loomd *d);
/* The agents' signals read from etcd (cluster mode), after the event fd fired. */
void loomd_watch_remote(struct loomd *d);

#endif

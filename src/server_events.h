/*
 * src/server_events.h: node events streamed to the clients that called
 * events.subscribe (src/server_events.c).
 */
#ifndef LOOM_SRC_SERVER_EVENTS_H
#define LOOM_SRC_SERVER_EVENTS_H

#include <stdbool.h>

#include "src/daemon.h"

/*
 * Sends the node events committed since each subscriber's last one, as
 * JSON-RPC notifications {"method": "event", "params": EVENT}.  Runs
 * outside a transaction, so only committed events go out.  A subscriber
 * whose output is backed up waits (and keeps its place) until it drains.
 * Returns true when more events are left for another round.
 */
bool events_pump(struct loomd *d);

#endif

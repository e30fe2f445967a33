/*
 * src/server_limit.h: limits per principal (src/server_limit.c): how many
 * connections it may hold and how many requests a second it may make, so
 * that one tenant's automation cannot starve the provisioning layer.
 */
#ifndef LOOM_SRC_SERVER_LIMIT_H
#define LOOM_SRC_SERVER_LIMIT_H

#include <stdbool.h>

#include "lib/err.h"
#include "src/daemon.h"

struct client;

/*
 * @c's principal is known (accepted on the socket, or its handshake
 * ended): counts its connection.  Over limit.connections the client is
 * marked so that every request it makes is refused with LOOM_E_LIMIT.
 */
void limit_connect(struct loomd *d, struct client *c);
/* @c is going away: its connection no longer counts. */
void limit_disconnect(struct loomd *d, struct client *c);
/*
 * May @c make one more request now?  0, or -EINVAL with @err
 * (LOOM_E_LIMIT) saying which limit and what it is.
 */
int limit_request(struct loomd *d, struct client *c, struct loom_err *err);
/* Frees what the limits keep. */
void limit_free(struct loomd *d);

#endif

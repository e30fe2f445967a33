/*
 * src/api_scope.h: what a tenant:NAME principal may see and do
 * (src/api_scope.c).  Every method runs through api_scope_run; for other
 * roles it is the method itself.
 */
#ifndef LOOM_SRC_API_SCOPE_H
#define LOOM_SRC_API_SCOPE_H

#include <jansson.h>

#include "lib/err.h"
#include "src/call.h"

/*
 * Runs @m for call->peer.  A tenant principal may call only the methods
 * scoped here; another tenant's object named in @params is answered as a
 * name that does not exist, lists and status are cut down to its own
 * tenant, and a message naming another tenant is reworded.
 */
int api_scope_run(struct api_call *call, const struct api_method *m, json_t *params, json_t **result,
		  struct loom_err *err);

/* May a tenant principal call @method at all? */
bool api_scope_allowed(const char *method);

/* Is @node assigned to @tenant: its attachments, or its MIG instances, are on it? */
bool api_scope_node_mine(struct loomd *d, const char *tenant, const char *node);

/* The nodes assigned to @tenant, as a set (a JSON object), for its event stream. */
json_t *api_scope_nodes(struct loomd *d, const char *tenant);

/*
 * The node event @ev as a subscriber of role tenant:@tenant may see it
 * (new, a reason naming another tenant reworded), or NULL when it may not:
 * events of nodes assigned to it, and of those it held up to the event
 * that takes them out of its hands.  @seen is that subscriber's set of
 * nodes (api_scope_nodes at subscribe time), kept up to date here.
 */
json_t *api_scope_event(struct loomd *d, const char *tenant, json_t *seen, json_t *ev);

#endif

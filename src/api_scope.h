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

#endif

/*
 * src/api_transition.h: a node lifecycle event inside a request, shared by
 * the node.* methods, the fault path, the RDMA check and the replacement
 * driver.
 */
#ifndef LOOM_SRC_API_TRANSITION_H
#define LOOM_SRC_API_TRANSITION_H

#include <jansson.h>

#include "lib/err.h"
#include "node/lifecycle.h"
#include "src/call.h"

/*
 * Applies @ev to @name (see the function for the whole story); appends
 * each step to @steps and, for a removal, what was detached to @removed
 * (may be NULL).
 */
int api_node_event(struct api_call *call, const char *name, enum node_event ev, const char *reason,
		   json_t *steps, json_t *removed, struct loom_err *err);
/* loomd.conf's provisioning_segment follows the node from @from to @to. */
int api_provisioning_follow(struct api_call *call, const char *node, enum node_state from,
			    enum node_state to, struct loom_err *err);

#endif

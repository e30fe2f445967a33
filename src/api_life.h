/*
 * src/api_life.h: a node's lifecycle row as the API methods, the GPU
 * methods and the replacement driver use it, inside a request.
 */
#ifndef LOOM_SRC_API_LIFE_H
#define LOOM_SRC_API_LIFE_H

#include <stdbool.h>

#include <jansson.h>

#include "lib/err.h"
#include "node/lifecycle.h"
#include "src/call.h"

/* The node's lifecycle row; a node without one is `available`. */
int api_node_life(struct loomd *d, const char *name, struct node_life *out, struct loom_err *err);
/* Stores the node's new state and its node_events row (@event). */
int api_node_life_store(struct api_call *call, const struct node_life *before, struct node_life *after,
			const char *event, struct loom_err *err);
/* A node_events row without a change of state: @event happened to the node. */
int api_node_note(struct api_call *call, const struct node_life *life, const char *event,
		  const char *reason, struct loom_err *err);
/* Does @node carry any attachment? */
bool api_node_attached(const struct model *m, const char *node);
/* node.show's state, pending, reason and since, set on @o. */
void api_node_life_json(json_t *o, const struct node_life *nl);
/* The OLD whose running replacement brings @node in, or NULL. */
const char *api_node_reserved(const struct loomd *d, const char *node);

#endif

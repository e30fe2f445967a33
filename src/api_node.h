/*
 * src/api_node.h: the node.* methods of src/api_node.c, and the node as
 * node.show shows it, for the other node methods.
 */
#ifndef LOOM_SRC_API_NODE_H
#define LOOM_SRC_API_NODE_H

#include <jansson.h>

#include "lib/err.h"
#include "src/call.h"
#include "topology/topology.h"

/* node.show's object for @name (NULL when it is not in the topology). */
json_t *api_node_json(struct loomd *d, const char *name);
/* The node params["name"] names, and params[@reason_key] (when not NULL). */
const struct topo_node *api_node_param(struct api_call *call, json_t *params, const char *reason_key,
				       const char **reason, struct loom_err *err);
/* node.show's object with "steps" and, when not NULL, "detached"; takes both. */
int api_node_result(struct api_call *call, const struct topo_node *n, json_t *steps, json_t *removed,
		    json_t **result, struct loom_err *err);

api_method_fn m_node_list, m_node_show, m_node_cordon, m_node_uncordon, m_node_drain, m_node_fail,
	m_node_retire, m_node_register, m_node_history, m_events_subscribe;

#endif

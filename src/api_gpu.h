/*
 * src/api_gpu.h: the gpu.* methods, and what the tenancy methods, the node
 * lifecycle and the replacement driver do with MIG instances (src/api_gpu.c).
 */
#ifndef LOOM_SRC_API_GPU_H
#define LOOM_SRC_API_GPU_H

#include <stddef.h>

#include <jansson.h>

#include "lib/err.h"
#include "src/call.h"

/*
 * The tenant's MIG instances are released (their rail-port attachments
 * detached first).  Returns the number released, or -EINVAL with @err.
 */
int gpu_release_tenant(struct api_call *call, const char *tenant, struct loom_err *err);
/*
 * Every tenant's MIG instances on @node are released (the node left
 * service); @tenants gets "a, b" (the tenants that held them).  Returns the
 * number released, or -EINVAL with @err.
 */
int gpu_release_node(struct api_call *call, const char *node, char *tenants, size_t tenants_len,
		     struct loom_err *err);
/*
 * @node's MIG instances as groups [{tenant, profile, segments ("a,b"),
 * count}] (what a replacement moves), or NULL when the store failed.
 */
json_t *gpu_node_groups(struct loomd *d, const char *node);
/*
 * Places each group on @node through the gpu.apply path (planner, rail
 * ports into the segments).  Returns the number of instances placed, or
 * -EINVAL with @err (the caller rolls the transaction back).
 */
int gpu_place_groups(struct api_call *call, const char *node, json_t *groups, struct loom_err *err);
/* Appends to @gpus an item for each node holding MIG instances that no GPU worker drives. */
void gpu_status_unmanaged(struct loomd *d, json_t *gpus);
/* How many MIG instances @tenant holds (0 when none), or -errno. */
int gpu_tenant_count(struct loomd *d, const char *tenant);

api_method_fn m_gpu_apply, m_gpu_compact, m_gpu_plan, m_gpu_release, m_gpu_show;

#endif

/*
 * src/api-internal.h: what the API's method files (src/api.c,
 * src/api_gpu.c) share.  Not for other folders: everything here runs on
 * loomd's main thread inside a request's savepoint.
 */
#ifndef LOOM_SRC_API_INTERNAL_H
#define LOOM_SRC_API_INTERNAL_H

#include <stdbool.h>

#include <jansson.h>

#include "lib/err.h"
#include "src/daemon.h"
#include "store/store.h"
#include "tenancy/model.h"

/* Parameters by name (src/api.c). */
int params_only(json_t *params, const char *const *allowed, struct loom_err *err);
int param_string(json_t *params, const char *key, bool required, const char **out,
		 struct loom_err *err);
int param_bool(json_t *params, const char *key, bool *out, struct loom_err *err);
int param_int(json_t *params, const char *key, json_int_t min, json_int_t max,
	      json_int_t *out, struct loom_err *err);

/* The database refused a write: marks the model for reload, sets LOOM_E_STORE. */
int store_failed(struct api_call *call, struct loom_err *err);

/* segment.attach / segment.detach: model, store and node lifecycle together. */
int do_attach(struct api_call *call, const struct attachment *a, struct loom_err *err);
int do_detach(struct api_call *call, const struct attachment *a, struct loom_err *err);

/* The node's lifecycle row (a node without one is available), and a stored step. */
int life_get(struct loomd *d, const char *name, struct node_life *out, struct loom_err *err);
int life_store(struct api_call *call, const struct node_life *before, struct node_life *after,
	       const char *event, struct loom_err *err);

/* ---- src/api_gpu.c ---- */

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

int m_gpu_apply(struct api_call *call, json_t *params, json_t **result, struct loom_err *err);
int m_gpu_compact(struct api_call *call, json_t *params, json_t **result, struct loom_err *err);
int m_gpu_plan(struct api_call *call, json_t *params, json_t **result, struct loom_err *err);
int m_gpu_release(struct api_call *call, json_t *params, json_t **result, struct loom_err *err);
int m_gpu_show(struct api_call *call, json_t *params, json_t **result, struct loom_err *err);

#endif

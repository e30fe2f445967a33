/*
 * src/api_gpu_view.h: what the gpu.* methods plan over: a request's
 * tenant, profile and segments (struct gpu_req), and the stored MIG
 * instances loaded into a fresh planner with the GPUs that may take them
 * (struct gpu_view), so that what is planned always matches what is
 * stored, also after a rolled-back request.
 */
#ifndef LOOM_SRC_API_GPU_VIEW_H
#define LOOM_SRC_API_GPU_VIEW_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"
#include "src/daemon.h"
#include "store/store.h"
#include "tenancy/mig.h"
#include "tenancy/model.h"
#include "topology/topology.h"

#define GPU_SEG_MAX 16		/* segments one instance's rail ports join */
#define GPU_COUNT_MAX 64	/* instances per request */
#define GPU_INDEX_MAX 255

struct gpu_req {
	const struct tenant *tenant;
	const char *profile;
	unsigned int count;
	const char *node;
	const char *site;
	const struct segment *segs[GPU_SEG_MAX];
	size_t n_segs;
	bool want_eth, want_ib;
	char seg_list[GPU_SEGMENTS_MAX];	/* "train,ib" as stored */
	bool assigned_only;	/* only nodes assigned to the tenant (its attachments or instances) */
};

/* The stored instances and a planner holding them on the GPUs considered. */
struct gpu_view {
	struct gpu_inst_rec *recs;
	size_t n_recs;
	struct mig_planner *pl;
	/* Built once per request, so that a fleet costs one pass, not one per GPU. */
	const struct attachment **by_node;	/* the model's attachments, by node */
	size_t n_by_node;
	struct node_life *lives;		/* lifecycle rows, by name */
	size_t n_lives;
	char skipped[256];	/* why GPUs were left out, for a refusal */
	size_t n_skipped;
	/* The request's own node was left out: why, and the code to say it with. */
	int node_code;
	char node_why[192];
};

/*
 * Loads the stored instances and the GPUs that may take them: with @r, only
 * those the request may use (node state, isolation against attachments,
 * rail ports free of other tenants); without, every MIG-capable GPU.
 */
int gpu_view_build(struct loomd *d, const struct gpu_req *r, const char *only_node,
		   struct gpu_view *v, struct loom_err *err);
void gpu_view_free(struct gpu_view *v);

/* GPU @index of @n, or NULL. */
const struct topo_gpu *gpu_topo_gpu(const struct topo_node *n, unsigned int index);
/* The port the topology pairs with @g for a segment of @type ("" without @g). */
const char *gpu_rail_port(const struct topo_gpu *g, enum seg_type type);
/* Is @name one of the comma-separated @list? */
bool gpu_list_has(const char *list, const char *name);
/* The tenant's own attachment of @port (or of the whole node) in @segment, or NULL. */
const struct attachment *gpu_own_attachment(const struct model *m, const char *tenant, const char *segment,
					    const char *node, const char *port, bool exact);

#endif

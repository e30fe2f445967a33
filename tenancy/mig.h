/*
 * tenancy/mig.h: NVIDIA MIG profile tables and the MIG layout planner.
 *
 * Pure: no I/O.  The tables say, per GPU model, which GPU-instance profiles
 * exist (compute and memory slices, how many of each a GPU may hold) and
 * where each may start (in memory slices).  The planner places tenants'
 * requests for N instances of a profile onto a set of GPUs without ever
 * moving an existing instance and without ever putting a strict or private
 * tenant on a node that holds anyone else's instance.  Release and
 * compaction are separate operations; compaction only returns a plan.
 */
#ifndef LOOM_TENANCY_MIG_H
#define LOOM_TENANCY_MIG_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"
#include "topology/topology.h"

#define MIG_SLICES_MAX 8	/* memory slices on the largest model */
#define MIG_PROFILES_MAX 12	/* profiles per model */
#define MIG_INSTANCES_MAX 8	/* GPU instances per GPU (7 on every model) */
#define MIG_PROFILE_NAME_MAX 24	/* "1g.10gb+me", "7g.180gb" */

/*
 * NVML's GPU instance profile *indexes* (nvml.h NVML_GPU_INSTANCE_PROFILE_*),
 * the argument of nvmlDeviceGetGpuInstanceProfileInfo.  The profile *ID*
 * that the device returns for an index (e.g. 19 for 1g.10gb on H100) is
 * what create/list calls take; gpu/nvml.c asks the device for it.
 */
enum mig_nvml_profile {
	MIG_NVML_1_SLICE = 0x0,
	MIG_NVML_2_SLICE = 0x1,
	MIG_NVML_3_SLICE = 0x2,
	MIG_NVML_4_SLICE = 0x3,
	MIG_NVML_7_SLICE = 0x4,
	MIG_NVML_8_SLICE = 0x5,
	MIG_NVML_6_SLICE = 0x6,
	MIG_NVML_1_SLICE_REV1 = 0x7,	/* 1g with media extensions (+me) */
	MIG_NVML_2_SLICE_REV1 = 0x8,	/* 2g+me (A30) */
	MIG_NVML_1_SLICE_REV2 = 0x9,	/* 1g with twice the memory (1g.20gb on H100) */
};

struct mig_profile {
	const char *name;		/* "1g.10gb" */
	unsigned int compute;		/* compute slices ("g") */
	unsigned int mem;		/* memory slices = placement size */
	unsigned int max_count;		/* instances of it one GPU may hold */
	unsigned int nvml_profile;	/* enum mig_nvml_profile */
	unsigned int n_starts;
	unsigned char starts[MIG_SLICES_MAX];	/* legal start slots, ascending */
};

struct mig_model {
	const char *name;		/* canonical: "H100-SXM5-80GB" */
	const char *aliases[6];		/* topology spellings and NVML device names */
	unsigned int mem_slices;	/* 8, or 4 on A30 */
	unsigned int compute_slices;	/* 7, or 4 on A30 */
	const struct mig_profile *profiles;
	size_t n_profiles;
	const char *source;		/* where the table comes from */
};

size_t mig_model_count(void);
const struct mig_model *mig_model_at(size_t i);
/* By canonical name or alias, case-insensitive; NULL when not known. */
const struct mig_model *mig_model_find(const char *name);
const struct mig_profile *mig_profile_find(const struct mig_model *model, const char *name);
const struct mig_profile *mig_profile_by_nvml(const struct mig_model *model, unsigned int nvml_profile);
/* Is @start a legal start slot for @profile? */
bool mig_profile_start_legal(const struct mig_profile *profile, unsigned int start);
/* Bit mask of the memory slices an instance at @start occupies. */
unsigned int mig_profile_mask(const struct mig_profile *profile, unsigned int start);

/*
 * One GPU instance: desired (profile, start, tenant) or observed (+ ids).
 * The desired layouts come out of compile (tenancy/compile.h); the GPU
 * target (gpu/nvml.h) observes, diffs and applies them.
 */
struct gpu_gi {
	const struct mig_profile *profile;
	unsigned int start;
	char tenant[LOOM_NAME_MAX];	/* desired only; for logs and errors */
	/* observed only */
	unsigned int gi_id;
	unsigned int n_ci;		/* compute instances inside it */
	void *handle;			/* nvmlGpuInstance_t, valid until the next observe */
};

/* The desired layout of one GPU: its instances sorted by start. */
struct gpu_layout {
	unsigned int index;		/* NVML device index */
	struct gpu_gi gi[MIG_INSTANCES_MAX];
	size_t n_gi;
};

/* ---- the planner ---- */

/* One GPU instance as the planner sees it (and shows it). */
struct mig_instance {
	char tenant[LOOM_NAME_MAX];
	bool exclusive;			/* owner is strict or private */
	const struct mig_profile *profile;
	unsigned int start;
};

struct mig_gpu {
	char node[LOOM_NAME_MAX];
	char site[LOOM_NAME_MAX];
	unsigned int index;
	const struct mig_model *model;
	struct mig_instance inst[MIG_INSTANCES_MAX];	/* sorted by start */
	size_t n_inst;
	unsigned int used;		/* mask of occupied memory slices */
	/* planner-internal ids, so that the hot loop compares integers */
	int node_id, site_id;
	int tenant_id[MIG_INSTANCES_MAX];
};

struct mig_request {
	const char *tenant;
	bool exclusive;			/* tenant is strict or private */
	const char *profile;		/* "3g.40gb" */
	unsigned int count;		/* N instances, all or none */
	const char *node;		/* only this node, or NULL */
	const char *site;		/* only this site, or NULL */
	const char *const *sites;	/* the tenant's allowed sites; NULL = any */
	size_t n_sites;
};

/* One placed instance, as the planner's answer. */
struct mig_placement {
	char node[LOOM_NAME_MAX];
	unsigned int gpu;
	char tenant[LOOM_NAME_MAX];
	char profile[MIG_PROFILE_NAME_MAX];
	unsigned int start;
	unsigned int size;
};

/* One move of a compaction plan: destroy at @from, create at @to. */
struct mig_move {
	char node[LOOM_NAME_MAX];
	unsigned int gpu;
	char tenant[LOOM_NAME_MAX];
	char profile[MIG_PROFILE_NAME_MAX];
	unsigned int from;
	unsigned int to;
};

struct mig_planner;

struct mig_planner *mig_planner_new(void);
void mig_planner_free(struct mig_planner **planner);

/* Add GPUs first (any order; sorted by node, index on the first plan). */
int mig_planner_add_gpu(struct mig_planner *pl, const char *node, const char *site,
			unsigned int index, const char *model, struct loom_err *err);
/* Record an instance that exists already (from the store or from NVML). */
int mig_planner_add_instance(struct mig_planner *pl, const char *node, unsigned int index,
			     const char *tenant, bool exclusive, const char *profile,
			     unsigned int start, struct loom_err *err);

/*
 * Place req->count instances, all or none.  On success writes the placements
 * into @out (which must hold req->count), records them in the planner and
 * returns the count.  On refusal returns -EINVAL with @err saying why: an
 * unknown profile, no GPU of a model offering it in the tenant's sites,
 * isolation, or fragmentation (with the picture of the GPU that comes
 * closest).  Existing instances never move.
 */
int mig_planner_place(struct mig_planner *pl, const struct mig_request *req,
		      struct mig_placement *out, struct loom_err *err);

/* Remove the tenant's instance at @start on the GPU; -ENOENT if not there. */
int mig_planner_release(struct mig_planner *pl, const char *node, unsigned int index,
			const char *tenant, unsigned int start, struct loom_err *err);

/*
 * Compaction: per GPU, the layout of the same instances (same GPU, same
 * profiles) that leaves the most room for large profiles, with the fewest
 * moves.  Returns the number of moves and a malloc'ed array in *moves (NULL
 * when none).  Changes nothing: mig_planner_apply_moves commits a plan.
 */
int mig_planner_compact(struct mig_planner *pl, struct mig_move **moves);
int mig_planner_apply_moves(struct mig_planner *pl, const struct mig_move *moves,
			    size_t n, struct loom_err *err);

/* GPUs sorted by (node, index); a pointer stays valid until the next add. */
size_t mig_planner_gpu_count(const struct mig_planner *pl);
const struct mig_gpu *mig_planner_gpu_at(struct mig_planner *pl, size_t i);
const struct mig_gpu *mig_planner_gpu_find(struct mig_planner *pl, const char *node,
					   unsigned int index);

/*
 * A text picture of one GPU's slots, for loomctl:
 *   node1 gpu0 H100-SXM5-80GB: 8 memory slices, 2 free
 *     slice  0 1 2 3 4 5 6 7
 *     owner  A A A A B B . .
 *     A = acme 3g.40gb@0
 *     B = beta 2g.20gb@4
 * Returns the length written (like snprintf; truncated when it does not fit).
 */
int mig_gpu_picture(const struct mig_gpu *gpu, char *buf, size_t len);

#endif

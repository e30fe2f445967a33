/*
 * gpu/nvml.h: the GPU target.  MIG layouts observed, diffed, applied and
 * verified through NVML, which is loaded at run time with dlopen so that
 * loom builds and runs on machines without a GPU or driver.
 *
 * loom owns the whole MIG layout of a GPU it is given: instances that are
 * not in the desired layout are destroyed.  It never turns MIG mode on or
 * off unless the caller passes allow_mig_mode (the operator's config).
 */
#ifndef LOOM_GPU_NVML_H
#define LOOM_GPU_NVML_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"
#include "tenancy/mig.h"

/* Where NVML is looked for when the caller names no path. */
#define GPU_NVML_DEFAULT_LIBRARY "libnvidia-ml.so.1"
#define GPU_NVML_LIBRARY_ENV "LOOM_NVML_LIBRARY"

struct gpu_observed {
	unsigned int index;
	char name[96];			/* NVML device name */
	const struct mig_model *model;	/* NULL: no MIG table for that name */
	bool mig_current;		/* MIG mode on now */
	bool mig_pending;		/* MIG mode after the next reset */
	struct gpu_gi gi[MIG_INSTANCES_MAX];	/* sorted by start */
	size_t n_gi;
};

enum gpu_op_kind {
	GPU_OP_DESTROY_GI,	/* its compute instances first, then it */
	GPU_OP_CREATE_GI,	/* with an explicit placement, plus one full compute instance */
	GPU_OP_CREATE_CI,	/* a GI that lost its compute instance */
};

struct gpu_op {
	enum gpu_op_kind kind;
	const struct mig_profile *profile;
	unsigned int start;
	void *handle;		/* the observed GI for DESTROY_GI / CREATE_CI */
};

/*
 * Pure: what turns @obs into @want.  Destroys come before creates, so that
 * a slice is free before it is used again.  Returns the number of ops
 * (at most 2 * MIG_INSTANCES_MAX), written to @ops.
 */
size_t gpu_diff(const struct gpu_observed *obs, const struct gpu_layout *want,
		struct gpu_op ops[2 * MIG_INSTANCES_MAX]);

struct gpu_nvml;

struct gpu_nvml_opts {
	bool allow_mig_mode;	/* operator's config allows loom to enable MIG mode */
};

/*
 * Load NVML from @path (NULL: $LOOM_NVML_LIBRARY, else libnvidia-ml.so.1)
 * and initialise it.  -ENOENT with LOOM_E_UNAVAILABLE when the library or
 * one of its functions is missing, or the driver does not answer.
 */
int gpu_nvml_open(const char *path, struct gpu_nvml **out, struct loom_err *err);
void gpu_nvml_close(struct gpu_nvml **nvml);

int gpu_nvml_device_count(struct gpu_nvml *nv, unsigned int *count, struct loom_err *err);
int gpu_nvml_observe(struct gpu_nvml *nv, unsigned int index, struct gpu_observed *obs,
		     struct loom_err *err);
/*
 * Observe, diff, apply, verify.  Returns the number of operations applied
 * (0 when already converged).  MIG mode off: LOOM_E_STATE unless
 * opts->allow_mig_mode, in which case it is enabled (LOOM_E_STATE if the
 * change waits for a GPU reset).
 */
int gpu_nvml_apply(struct gpu_nvml *nv, const struct gpu_layout *want,
		   const struct gpu_nvml_opts *opts, struct loom_err *err);
/* Read back: 0 when the GPU holds exactly @want, else -EAGAIN with @err saying what differs. */
int gpu_nvml_verify(struct gpu_nvml *nv, const struct gpu_layout *want, struct loom_err *err);

#endif

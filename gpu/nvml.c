/*
 * gpu/nvml.c: the GPU target over NVML, loaded with dlopen.
 *
 * Debian ships no nvml.h, so the few types, constants and functions loom
 * uses are declared in gpu/nvml_abi.h, checked against NVIDIA's nvml.h
 * (NVML 13.3.29) by tests/unit/test_nvml_abi.  Only the current names of
 * the entry points are resolved (nvmlInit_v2, nvmlDeviceGetCount_v2,
 * nvmlDeviceGetHandleByIndex_v2; the MIG calls were never versioned), so
 * the real libnvidia-ml.so.1 loads unchanged.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/nvml.h"
#include "gpu/nvml_abi.h"
#include "lib/log.h"

/* Compute instances one GPU instance may hold: one per compute slice. */
#define MIG_CI_MAX MIG_SLICES_MAX

/* nvmlDeviceGetName may need NVML_DEVICE_NAME_V2_BUFFER_SIZE bytes. */
_Static_assert(sizeof(((struct gpu_observed *)0)->name) >= NVML_DEVICE_NAME_V2_BUFFER_SIZE,
	       "gpu_observed.name is smaller than NVML's device name buffer");

struct nvml_fns {
#define FN_FIELD(field, sym, type) type *field;
	NVML_ABI_ENTRY_POINTS(FN_FIELD)
#undef FN_FIELD
};

static const struct {
	const char *sym;
	size_t off;
} nvml_syms[] = {
#define SYM(field, sym, type) { sym, offsetof(struct nvml_fns, field) },
	NVML_ABI_ENTRY_POINTS(SYM)
#undef SYM
};

struct gpu_nvml {
	void *dl;
	struct nvml_fns fn;
	char path[256];
};

static const char *nv_str(struct gpu_nvml *nv, nvmlReturn_t r)
{
	const char *s = nv->fn.error_string ? nv->fn.error_string(r) : NULL;

	return s ? s : "unknown NVML error";
}

int gpu_nvml_open(const char *path, struct gpu_nvml **out, struct loom_err *err)
{
	struct gpu_nvml *nv;
	nvmlReturn_t r;
	int rc;

	*out = NULL;
	if (!path)
		path = getenv(GPU_NVML_LIBRARY_ENV);
	if (!path || !*path)
		path = GPU_NVML_DEFAULT_LIBRARY;
	nv = calloc(1, sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	snprintf(nv->path, sizeof(nv->path), "%s", path);
	nv->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!nv->dl) {
		loom_err_set(err, LOOM_E_UNAVAILABLE, "gpu",
			     "NVML is not available (%s): install the NVIDIA driver or set %s",
			     dlerror(), GPU_NVML_LIBRARY_ENV);
		rc = -ENOENT;
		goto fail;
	}
	for (size_t i = 0; i < sizeof(nvml_syms) / sizeof(nvml_syms[0]); i++) {
		void *f = dlsym(nv->dl, nvml_syms[i].sym);

		if (!f) {
			loom_err_set(err, LOOM_E_UNAVAILABLE, "gpu",
				     "%s lacks %s: the driver is too old for MIG placements "
				     "(NVML of CUDA 11.2 Update 2, R460, or later needed)",
				     path, nvml_syms[i].sym);
			rc = -ENOENT;
			goto fail;
		}
		/* POSIX guarantees object and function pointers convert through dlsym. */
		memcpy((char *)&nv->fn + nvml_syms[i].off, &f, sizeof(f));
	}
	r = nv->fn.init();
	if (r != NVML_SUCCESS) {
		loom_err_set(err, LOOM_E_UNAVAILABLE, "gpu", "nvmlInit failed: %s",
			     nv_str(nv, r));
		rc = -ENOENT;
		goto fail;
	}
	log_info("gpu: NVML loaded from %s", path);
	*out = nv;
	return 0;
fail:
	if (nv->dl)
		dlclose(nv->dl);
	free(nv);
	return rc;
}

void gpu_nvml_close(struct gpu_nvml **nvml)
{
	struct gpu_nvml *nv = *nvml;

	if (!nv)
		return;
	nv->fn.shutdown();
	dlclose(nv->dl);
	free(nv);
	*nvml = NULL;
}

int gpu_nvml_device_count(struct gpu_nvml *nv, unsigned int *count, struct loom_err *err)
{
	nvmlReturn_t r = nv->fn.count(count);

	if (r != NVML_SUCCESS)
		return loom_err_set(err, LOOM_E_UNAVAILABLE, "gpu",
				    "nvmlDeviceGetCount: %s", nv_str(nv, r));
	return 0;
}

static int device_get(struct gpu_nvml *nv, unsigned int index, nvmlDevice_t *dev,
		      struct loom_err *err)
{
	nvmlReturn_t r = nv->fn.handle_by_index(index, dev);

	if (r != NVML_SUCCESS)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "gpu",
				    "no GPU %u through NVML: %s", index, nv_str(nv, r));
	return 0;
}

/* The device's profile ID for an NVML profile index; -1 if it has none. */
static long gi_profile_id(struct gpu_nvml *nv, nvmlDevice_t dev, const struct mig_profile *p)
{
	nvmlGpuInstanceProfileInfo_t info;

	memset(&info, 0, sizeof(info));
	if (nv->fn.gi_profile_info(dev, p->nvml_profile, &info) != NVML_SUCCESS)
		return -1;
	return info.id;
}

/*
 * Every compute instance in @gi, whatever its profile.  The compute
 * instance profile indexes are walked until the driver answers
 * NVML_ERROR_INVALID_ARGUMENT (how nvml.h says to enumerate them, forward
 * compatibly): NVML 13.3 has 9 (7_SLICE_NVL is new), so a fixed count would
 * miss instances that someone else made with a newer profile.
 */
static unsigned int ci_collect(struct gpu_nvml *nv, nvmlGpuInstance_t gi,
			       nvmlComputeInstance_t out[MIG_CI_MAX])
{
	unsigned int total = 0;

	for (unsigned int prof = 0; prof < NVML_COMPUTE_INSTANCE_PROFILE_SCAN_MAX; prof++) {
		nvmlComputeInstanceProfileInfo_t info;
		nvmlComputeInstance_t cis[MIG_CI_MAX];
		unsigned int n = MIG_CI_MAX;
		nvmlReturn_t r;

		memset(&info, 0, sizeof(info));
		r = nv->fn.ci_profile_info(gi, prof, NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED,
					   &info);
		if (r == NVML_ERROR_INVALID_ARGUMENT)
			break;		/* past this driver's last profile */
		if (r != NVML_SUCCESS)
			continue;	/* not offered on this GPU instance */
		if (nv->fn.ci_list(gi, info.id, cis, &n) != NVML_SUCCESS)
			continue;
		for (unsigned int i = 0; i < n && total < MIG_CI_MAX; i++)
			out[total++] = cis[i];
	}
	return total;
}

static unsigned int ci_count(struct gpu_nvml *nv, nvmlGpuInstance_t gi)
{
	nvmlComputeInstance_t cis[MIG_CI_MAX];

	return ci_collect(nv, gi, cis);
}

int gpu_nvml_observe(struct gpu_nvml *nv, unsigned int index, struct gpu_observed *obs,
		     struct loom_err *err)
{
	nvmlDevice_t dev;
	unsigned int cur = 0, pend = 0;
	nvmlReturn_t r;
	int rc;

	memset(obs, 0, sizeof(*obs));
	obs->index = index;
	rc = device_get(nv, index, &dev, err);
	if (rc < 0)
		return rc;
	r = nv->fn.name(dev, obs->name, sizeof(obs->name));
	if (r != NVML_SUCCESS)
		snprintf(obs->name, sizeof(obs->name), "GPU %u", index);
	obs->model = mig_model_find(obs->name);
	r = nv->fn.get_mig_mode(dev, &cur, &pend);
	if (r == NVML_ERROR_NOT_SUPPORTED)
		return loom_err_set(err, LOOM_E_UNAVAILABLE, "gpu",
				    "GPU %u (%s) does not support MIG", index, obs->name);
	if (r != NVML_SUCCESS)
		return loom_err_set(err, LOOM_E_UNAVAILABLE, "gpu",
				    "nvmlDeviceGetMigMode on GPU %u: %s", index, nv_str(nv, r));
	obs->mig_current = cur == NVML_DEVICE_MIG_ENABLE;
	obs->mig_pending = pend == NVML_DEVICE_MIG_ENABLE;
	if (!obs->model)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "gpu",
				    "GPU %u is a \"%s\", which has no MIG profile table in loom "
				    "(tenancy/mig.c); add one", index, obs->name);
	if (!obs->mig_current)
		return 0;
	for (size_t p = 0; p < obs->model->n_profiles; p++) {
		const struct mig_profile *prof = &obs->model->profiles[p];
		nvmlGpuInstance_t gis[MIG_INSTANCES_MAX];
		unsigned int n = MIG_INSTANCES_MAX;
		long id = gi_profile_id(nv, dev, prof);

		if (id < 0)
			continue;	/* this driver lacks the profile */
		r = nv->fn.gi_list(dev, (unsigned int)id, gis, &n);
		if (r != NVML_SUCCESS)
			return loom_err_set(err, LOOM_E_UNAVAILABLE, "gpu",
					    "nvmlDeviceGetGpuInstances(%s) on GPU %u: %s",
					    prof->name, index, nv_str(nv, r));
		for (unsigned int i = 0; i < n && obs->n_gi < MIG_INSTANCES_MAX; i++) {
			nvmlGpuInstanceInfo_t info;
			struct gpu_gi *g;
			size_t k;

			memset(&info, 0, sizeof(info));
			if (nv->fn.gi_info(gis[i], &info) != NVML_SUCCESS)
				continue;
			/* keep gi[] sorted by start */
			for (k = obs->n_gi; k > 0 && obs->gi[k - 1].start > info.placement.start; k--)
				obs->gi[k] = obs->gi[k - 1];
			g = &obs->gi[k];
			memset(g, 0, sizeof(*g));
			g->profile = prof;
			g->start = info.placement.start;
			g->gi_id = info.id;
			g->handle = gis[i];
			g->n_ci = ci_count(nv, gis[i]);
			obs->n_gi++;
		}
	}
	return 0;
}

size_t gpu_diff(const struct gpu_observed *obs, const struct gpu_layout *want,
		struct gpu_op ops[2 * MIG_INSTANCES_MAX])
{
	size_t n = 0;

	for (size_t i = 0; i < obs->n_gi; i++) {
		bool keep = false;

		for (size_t k = 0; k < want->n_gi; k++)
			keep |= want->gi[k].start == obs->gi[i].start &&
				want->gi[k].profile == obs->gi[i].profile;
		if (!keep)
			ops[n++] = (struct gpu_op){ GPU_OP_DESTROY_GI, obs->gi[i].profile,
						    obs->gi[i].start, obs->gi[i].handle };
	}
	for (size_t k = 0; k < want->n_gi; k++) {
		const struct gpu_gi *have = NULL;

		for (size_t i = 0; i < obs->n_gi; i++)
			if (want->gi[k].start == obs->gi[i].start &&
			    want->gi[k].profile == obs->gi[i].profile)
				have = &obs->gi[i];
		if (!have)
			ops[n++] = (struct gpu_op){ GPU_OP_CREATE_GI, want->gi[k].profile,
						    want->gi[k].start, NULL };
		else if (have->n_ci == 0)
			ops[n++] = (struct gpu_op){ GPU_OP_CREATE_CI, have->profile,
						    have->start, have->handle };
	}
	return n;
}

/* NVML's compute-instance profile index for a CI as large as its GI. */
static unsigned int ci_full_profile(unsigned int compute)
{
	switch (compute) {
	case 1: return NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE;
	case 2: return NVML_COMPUTE_INSTANCE_PROFILE_2_SLICE;
	case 3: return NVML_COMPUTE_INSTANCE_PROFILE_3_SLICE;
	case 4: return NVML_COMPUTE_INSTANCE_PROFILE_4_SLICE;
	case 6: return NVML_COMPUTE_INSTANCE_PROFILE_6_SLICE;
	/* 7_SLICE exists on every MIG driver; 7_SLICE_NVL only from NVML 13.3 */
	case 7: return NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE;
	case 8: return NVML_COMPUTE_INSTANCE_PROFILE_8_SLICE;
	default: return NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE;
	}
}

static int ci_create_full(struct gpu_nvml *nv, nvmlGpuInstance_t gi,
			  const struct mig_profile *p, unsigned int index, struct loom_err *err)
{
	nvmlComputeInstanceProfileInfo_t info;
	nvmlComputeInstance_t ci;
	nvmlReturn_t r;

	memset(&info, 0, sizeof(info));
	r = nv->fn.ci_profile_info(gi, ci_full_profile(p->compute),
				   NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED, &info);
	if (r == NVML_SUCCESS)
		r = nv->fn.ci_create(gi, info.id, &ci);
	if (r != NVML_SUCCESS)
		return loom_err_set(err, LOOM_E_UNAVAILABLE, "gpu",
				    "compute instance for %s on GPU %u: %s", p->name, index,
				    nv_str(nv, r));
	return 0;
}

static int gi_destroy(struct gpu_nvml *nv, nvmlGpuInstance_t gi, const struct gpu_op *op,
		      unsigned int index, struct loom_err *err)
{
	nvmlReturn_t r;
	nvmlComputeInstance_t cis[MIG_CI_MAX];
	unsigned int n;

	/* NVML refuses to destroy a GI that still holds compute instances. */
	n = ci_collect(nv, gi, cis);
	for (unsigned int i = 0; i < n; i++) {
		r = nv->fn.ci_destroy(cis[i]);
		if (r != NVML_SUCCESS)
			return loom_err_set(err, LOOM_E_UNAVAILABLE, "gpu",
					    "destroying a compute instance of %s@%u on "
					    "GPU %u: %s (is a process using it?)",
					    op->profile->name, op->start, index, nv_str(nv, r));
	}
	r = nv->fn.gi_destroy(gi);
	if (r != NVML_SUCCESS)
		return loom_err_set(err, LOOM_E_UNAVAILABLE, "gpu",
				    "destroying %s@%u on GPU %u: %s", op->profile->name,
				    op->start, index, nv_str(nv, r));
	return 0;
}

static int layout_check(const struct gpu_observed *obs, const struct gpu_layout *want,
			struct loom_err *err)
{
	unsigned int used = 0;

	for (size_t k = 0; k < want->n_gi; k++) {
		const struct gpu_gi *g = &want->gi[k];

		if (!g->profile || mig_profile_find(obs->model, g->profile->name) != g->profile ||
		    !mig_profile_start_legal(g->profile, g->start) ||
		    (used & mig_profile_mask(g->profile, g->start)))
			return loom_err_set(err, LOOM_E_PARAMS, "gpu",
					    "desired layout for GPU %u (%s) is not legal at "
					    "instance %zu", want->index, obs->model->name, k);
		used |= mig_profile_mask(g->profile, g->start);
	}
	return 0;
}

static int mig_mode_ensure(struct gpu_nvml *nv, struct gpu_observed *obs,
			   const struct gpu_nvml_opts *opts, struct loom_err *err)
{
	nvmlDevice_t dev;
	nvmlReturn_t r, activation = NVML_SUCCESS;
	int rc;

	if (!opts || !opts->allow_mig_mode)
		return loom_err_set(err, LOOM_E_STATE, "gpu",
				    "MIG mode is off on GPU %u (%s); loom does not change it "
				    "unless loomd.conf allows it (gpu.allow_mig_mode = yes), or "
				    "enable it yourself: nvidia-smi -i %u -mig 1",
				    obs->index, obs->name, obs->index);
	rc = device_get(nv, obs->index, &dev, err);
	if (rc < 0)
		return rc;
	log_info("gpu: enabling MIG mode on GPU %u (%s), as the config allows",
		 obs->index, obs->name);
	r = nv->fn.set_mig_mode(dev, NVML_DEVICE_MIG_ENABLE, &activation);
	if (r != NVML_SUCCESS)
		return loom_err_set(err, LOOM_E_UNAVAILABLE, "gpu",
				    "enabling MIG mode on GPU %u: %s", obs->index, nv_str(nv, r));
	rc = gpu_nvml_observe(nv, obs->index, obs, err);
	if (rc < 0)
		return rc;
	if (!obs->mig_current)
		return loom_err_set(err, LOOM_E_STATE, "gpu",
				    "MIG mode on GPU %u is pending a GPU reset (%s); reset the "
				    "GPU or reboot, then apply again", obs->index,
				    nv_str(nv, activation));
	return 0;
}

int gpu_nvml_apply(struct gpu_nvml *nv, const struct gpu_layout *want,
		   const struct gpu_nvml_opts *opts, struct loom_err *err)
{
	struct gpu_observed obs;
	struct gpu_op ops[2 * MIG_INSTANCES_MAX];
	nvmlDevice_t dev;
	size_t n;
	int rc;

	rc = gpu_nvml_observe(nv, want->index, &obs, err);
	if (rc < 0)
		return rc;
	if (!obs.mig_current) {
		if (want->n_gi == 0)
			return 0;	/* nothing wanted: leave the mode alone */
		rc = mig_mode_ensure(nv, &obs, opts, err);
		if (rc < 0)
			return rc;
	}
	rc = layout_check(&obs, want, err);
	if (rc < 0)
		return rc;
	rc = device_get(nv, want->index, &dev, err);
	if (rc < 0)
		return rc;
	n = gpu_diff(&obs, want, ops);
	for (size_t i = 0; i < n; i++) {
		const struct gpu_op *op = &ops[i];
		nvmlGpuInstancePlacement_t pl = { op->start, op->profile->mem };
		nvmlGpuInstance_t gi;
		nvmlReturn_t r;
		long id;

		switch (op->kind) {
		case GPU_OP_DESTROY_GI:
			log_info("gpu: GPU %u destroy %s@%u", want->index, op->profile->name,
				 op->start);
			rc = gi_destroy(nv, op->handle, op, want->index, err);
			break;
		case GPU_OP_CREATE_GI:
			log_info("gpu: GPU %u create %s@%u", want->index, op->profile->name,
				 op->start);
			id = gi_profile_id(nv, dev, op->profile);
			if (id < 0) {
				rc = loom_err_set(err, LOOM_E_UNAVAILABLE, "gpu",
						  "GPU %u's driver does not offer %s",
						  want->index, op->profile->name);
				break;
			}
			r = nv->fn.gi_create(dev, (unsigned int)id, &pl, &gi);
			if (r != NVML_SUCCESS) {
				rc = loom_err_set(err, LOOM_E_UNAVAILABLE, "gpu",
						  "creating %s at slice %u on GPU %u: %s",
						  op->profile->name, op->start, want->index,
						  nv_str(nv, r));
				break;
			}
			rc = ci_create_full(nv, gi, op->profile, want->index, err);
			break;
		case GPU_OP_CREATE_CI:
			log_info("gpu: GPU %u compute instance for %s@%u", want->index,
				 op->profile->name, op->start);
			rc = ci_create_full(nv, op->handle, op->profile, want->index, err);
			break;
		}
		if (rc < 0)
			return rc;
	}
	rc = gpu_nvml_verify(nv, want, err);
	return rc < 0 ? rc : (int)n;
}

int gpu_nvml_verify(struct gpu_nvml *nv, const struct gpu_layout *want, struct loom_err *err)
{
	struct gpu_observed obs;
	struct gpu_op ops[2 * MIG_INSTANCES_MAX];
	size_t n;
	int rc = gpu_nvml_observe(nv, want->index, &obs, err);

	if (rc < 0)
		return rc;
	if (!obs.mig_current && want->n_gi) {
		loom_err_set(err, LOOM_E_STATE, "gpu", "MIG mode is off on GPU %u (%s)",
			     want->index, obs.name);
		return -EAGAIN;
	}
	n = gpu_diff(&obs, want, ops);
	if (n == 0)
		return 0;
	loom_err_set(err, LOOM_E_STATE, "gpu",
		     "GPU %u differs from its plan in %zu place(s), first: %s %s@%u",
		     want->index, n,
		     ops[0].kind == GPU_OP_DESTROY_GI ? "unexpected" :
		     ops[0].kind == GPU_OP_CREATE_GI ? "missing" : "no compute instance in",
		     ops[0].profile->name, ops[0].start);
	return -EAGAIN;
}

/*
 * tests/fake_nvml/fake_nvml.c: a STAND-IN for libnvidia-ml.so.1, for tests
 * on machines without a GPU.  It implements only the NVML calls loom uses,
 * with NVIDIA's MIG placement rules for two models (H100 80GB and A30),
 * written down here independently of tenancy/mig.c so that the tests
 * cross-check loom's tables.  Profile IDs are those `nvidia-smi mig -lgip`
 * prints on those GPUs.
 *
 * Configured by FAKE_NVML_GPUS, e.g. "h100:on,a30:off" (model, MIG mode);
 * default one H100 with MIG on.  fake_nvml_* functions let a test change
 * things behind loom's back (drift).
 *
 * The types, structs and signatures are gpu/nvml_abi.h's, the same that
 * gpu/nvml.c uses and that test_nvml_abi pins against NVIDIA's nvml.h: the
 * handles are this file's own structs (struct nvmlDevice_st, ...), and every
 * entry point is declared with nvml_abi.h's function type, so a signature
 * that drifts from the declared ABI does not compile.
 *
 * State across processes: when a file LIBRARY.state exists next to the
 * loaded library (e.g. a copy at /tmp/x/node1/libnvidia-ml.so.1 and
 * /tmp/x/node1/libnvidia-ml.so.1.state), the GPUs are read from it on
 * every call and written back after every change, so that a test in
 * another process sees loomd's work and can change it (a shell script
 * edits the text).  Two copies of the library at two paths are two
 * separate "nodes".  The format, one line each:
 *   dev h100|a30 MIG PENDING MODE_SETS NEXT_ID
 * (MIG 9: the GPU is lost, as after an XID 79: nvmlDeviceGetMigMode fails
 * with NVML_ERROR_GPU_IS_LOST)
 *   gi SLOT ID PROFILE_ID START N_CI [CI_SLOT CI_PROFILE]...
 * (gi lines belong to the dev line above them).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/nvml_abi.h"

/* The return codes, by nvml_abi.h's names (the values of nvml.h). */
#define OK NVML_SUCCESS
#define E_INVALID_ARGUMENT NVML_ERROR_INVALID_ARGUMENT
#define E_NOT_FOUND NVML_ERROR_NOT_FOUND
#define E_NOT_SUPPORTED NVML_ERROR_NOT_SUPPORTED
#define E_INSUFFICIENT_SIZE NVML_ERROR_INSUFFICIENT_SIZE
#define E_IN_USE NVML_ERROR_IN_USE
#define E_INSUFFICIENT_RESOURCES NVML_ERROR_INSUFFICIENT_RESOURCES
#define E_UNINITIALIZED NVML_ERROR_UNINITIALIZED
#define E_GPU_IS_LOST 15	/* NVML_ERROR_GPU_IS_LOST, which loom does not name */
#define FAKE_LOST 9		/* a dev line's MIG field for a lost GPU */

struct fprofile {
	int index;		/* NVML_GPU_INSTANCE_PROFILE_* */
	unsigned int id, compute, size, max;
	unsigned int starts;	/* bit s: may start at memory slice s */
};

#define GIP(x) NVML_GPU_INSTANCE_PROFILE_##x
static const struct fprofile h100[] = {
	{ GIP(1_SLICE), 19, 1, 1, 7, 0x7f }, { GIP(1_SLICE_REV1), 20, 1, 1, 1, 0x7f },
	{ GIP(1_SLICE_REV2), 15, 1, 2, 4, 0x55 }, { GIP(2_SLICE), 14, 2, 2, 3, 0x15 },
	{ GIP(3_SLICE), 9, 3, 4, 2, 0x11 }, { GIP(4_SLICE), 5, 4, 4, 1, 0x01 },
	{ GIP(7_SLICE), 0, 7, 8, 1, 0x01 },
};
static const struct fprofile a30[] = {
	{ GIP(1_SLICE), 14, 1, 1, 4, 0x0f }, { GIP(1_SLICE_REV1), 21, 1, 1, 1, 0x0f },
	{ GIP(2_SLICE), 5, 2, 2, 2, 0x05 }, { GIP(2_SLICE_REV1), 6, 2, 2, 1, 0x05 },
	{ GIP(4_SLICE), 0, 4, 4, 1, 0x01 },
};
/* NVML 13.3's GPU instance profile count: past it a driver says INVALID_ARGUMENT. */
#define GIP_COUNT_13_3 0x12

struct nvmlComputeInstance_st { int alive; unsigned int id, profile_id, slices; };
struct nvmlGpuInstance_st {
	int alive;
	unsigned int id, profile_id, start, size, compute;
	struct nvmlComputeInstance_st ci[8];
	struct nvmlDevice_st *dev;
};
struct nvmlDevice_st {
	const char *name;
	const struct fprofile *prof;
	size_t n_prof;
	unsigned int compute_slices;
	unsigned int mig, mig_pending;
	unsigned int mode_sets;
	unsigned int next_id;
	struct nvmlGpuInstance_st gi[8];
};

static struct nvmlDevice_st devs[4];
static unsigned int n_devs;
static int inited;

/*
 * Compute slices per NVML_COMPUTE_INSTANCE_PROFILE_* index, NVML 13.3's
 * nine.  This stand-in offers 1_SLICE_REV1 nowhere and 7_SLICE_NVL (new in
 * 13.3) on 7-slice GPU instances only, so that a test can put a compute
 * instance of a profile past NVML 12's count behind loom's back.
 */
#define CIP_COUNT NVML_COMPUTE_INSTANCE_PROFILE_COUNT_13_3
static const unsigned int ci_slices[CIP_COUNT] = { 1, 2, 3, 4, 7, 8, 6, 1, 7 };

static char state_path[4096];	/* "" = state in this process only */

static void dev_model(struct nvmlDevice_st *d, const char *t)
{
		if (!strncmp(t, "a30", 3)) {
			d->name = "NVIDIA A30";
			d->prof = a30;
			d->n_prof = sizeof(a30) / sizeof(a30[0]);
			d->compute_slices = 4;
		} else {
			d->name = "NVIDIA H100 80GB HBM3";
			d->prof = h100;
			d->n_prof = sizeof(h100) / sizeof(h100[0]);
			d->compute_slices = 7;
		}
}

static const struct fprofile *by_id(const struct nvmlDevice_st *d, unsigned int id);

/* Reads LIBRARY.state (see the top of the file); quietly keeps the old state on a bad file. */
static void state_load(void)
{
	FILE *f;
	char line[512];
	struct nvmlDevice_st *d = NULL;

	if (!state_path[0] || !(f = fopen(state_path, "r")))
		return;
	memset(devs, 0, sizeof(devs));
	n_devs = 0;
	while (fgets(line, sizeof(line), f)) {
		char model[16];
		unsigned int a, b, c, e, slot, id, pid, start, nci;
		int off = 0;

		if (sscanf(line, "dev %15s %u %u %u %u", model, &a, &b, &c, &e) == 5 && n_devs < 4) {
			d = &devs[n_devs++];
			dev_model(d, model);
			d->mig = a;
			d->mig_pending = b;
			d->mode_sets = c;
			d->next_id = e;
		} else if (d && sscanf(line, "gi %u %u %u %u %u%n", &slot, &id, &pid, &start, &nci, &off) == 5
			   && slot < 8) {
			const struct fprofile *prof = by_id(d, pid);
			struct nvmlGpuInstance_st *g = &d->gi[slot];
			const char *p = line + off;

			if (!prof)
				continue;

			memset(g, 0, sizeof(*g));
			g->alive = 1;
			g->id = id;
			g->profile_id = pid;
			g->start = start;
			g->size = prof->size;
			g->compute = prof->compute;
			g->dev = d;
			for (unsigned int k = 0; k < nci && k < 8; k++) {
				unsigned int cs, cp;
				int n = 0;

				if (sscanf(p, " %u %u%n", &cs, &cp, &n) != 2 || cs >= 8 || cp >= CIP_COUNT)
					break;
				p += n;
				g->ci[cs].alive = 1;
				g->ci[cs].id = cs;
				g->ci[cs].profile_id = cp;
				g->ci[cs].slices = ci_slices[cp];
			}
		}
	}
	fclose(f);
}

static void state_save(void)
{
	char tmp[4200];
	FILE *f;

	if (!state_path[0])
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", state_path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	for (unsigned int i = 0; i < n_devs; i++) {
		const struct nvmlDevice_st *d = &devs[i];

		fprintf(f, "dev %s %u %u %u %u\n", d->prof == a30 ? "a30" : "h100", d->mig, d->mig_pending,
			d->mode_sets, d->next_id);
		for (unsigned int k = 0; k < 8; k++) {
			const struct nvmlGpuInstance_st *g = &d->gi[k];
			unsigned int nci = 0;

			if (!g->alive)
				continue;
			for (unsigned int c = 0; c < 8; c++)
				nci += g->ci[c].alive;
			fprintf(f, "gi %u %u %u %u %u", k, g->id, g->profile_id, g->start, nci);
			for (unsigned int c = 0; c < 8; c++)
				if (g->ci[c].alive)
					fprintf(f, " %u %u", c, g->ci[c].profile_id);
			fputc('\n', f);
		}
	}
	fclose(f);
	rename(tmp, state_path);
}

static void setup(void)
{
	const char *cfg = getenv("FAKE_NVML_GPUS");
	char buf[256], *save = NULL;
	Dl_info info;

	memset(devs, 0, sizeof(devs));
	n_devs = 0;
	state_path[0] = '\0';
	if (dladdr((void *)setup, &info) && info.dli_fname) {
		FILE *f;

		snprintf(state_path, sizeof(state_path), "%s.state", info.dli_fname);
		f = fopen(state_path, "r");
		if (f)
			fclose(f);
		else
			state_path[0] = '\0';
	}
	if (state_path[0]) {
		state_load();
		return;
	}
	snprintf(buf, sizeof(buf), "%s", cfg && *cfg ? cfg : "h100:on");
	for (char *t = strtok_r(buf, ",", &save); t && n_devs < 4; t = strtok_r(NULL, ",", &save)) {
		struct nvmlDevice_st *d = &devs[n_devs++];

		dev_model(d, t);
		d->mig = d->mig_pending = strstr(t, ":off") == NULL;
		d->next_id = 1;
	}
}

static const struct fprofile *by_index(const struct nvmlDevice_st *d, unsigned int index)
{
	for (size_t i = 0; i < d->n_prof; i++)
		if ((unsigned int)d->prof[i].index == index)
			return &d->prof[i];
	return NULL;
}

static const struct fprofile *by_id(const struct nvmlDevice_st *d, unsigned int id)
{
	for (size_t i = 0; i < d->n_prof; i++)
		if (d->prof[i].id == id)
			return &d->prof[i];
	return NULL;
}

/*
 * Each entry point is declared with nvml_abi.h's function type before it
 * is defined, so that the compiler holds the definition to it.
 */
nvml_init_fn nvmlInit_v2;
int nvmlInit_v2(void) { setup(); inited = 1; return OK; }
nvml_shutdown_fn nvmlShutdown;
int nvmlShutdown(void) { inited = 0; return OK; }
nvml_error_string_fn nvmlErrorString;
const char *nvmlErrorString(int r)
{
	switch (r) {
	case OK: return "Success";
	case E_INVALID_ARGUMENT: return "Invalid Argument";
	case E_NOT_SUPPORTED: return "Not Supported";
	case E_NOT_FOUND: return "Not Found";
	case E_IN_USE: return "In use by another client";
	case E_INSUFFICIENT_RESOURCES: return "Insufficient Resources";
	case E_GPU_IS_LOST: return "GPU is lost";
	default: return "Unknown Error";
	}
}

nvml_device_count_fn nvmlDeviceGetCount_v2;
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *n)
{
	if (!inited)
		return E_UNINITIALIZED;
	state_load();
	*n = n_devs;
	return OK;
}

nvml_device_by_index_fn nvmlDeviceGetHandleByIndex_v2;
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d)
{
	state_load();
	if (!inited)
		return E_UNINITIALIZED;
	if (i >= n_devs)
		return E_INVALID_ARGUMENT;
	*d = &devs[i];
	return OK;
}

nvml_device_name_fn nvmlDeviceGetName;
nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int len)
{
	if (strlen(d->name) >= len)
		return E_INSUFFICIENT_SIZE;
	strcpy(name, d->name);
	return OK;
}

nvml_get_mig_mode_fn nvmlDeviceGetMigMode;
nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t d, unsigned int *cur, unsigned int *pend)
{
	state_load();
	if (d->mig == FAKE_LOST)
		return E_GPU_IS_LOST;
	*cur = d->mig;
	*pend = d->mig_pending;
	return OK;
}

nvml_set_mig_mode_fn nvmlDeviceSetMigMode;
nvmlReturn_t nvmlDeviceSetMigMode(nvmlDevice_t d, unsigned int mode, nvmlReturn_t *activation)
{
	state_load();
	d->mode_sets++;
	d->mig = d->mig_pending = mode;	/* this stand-in needs no GPU reset */
	state_save();
	*activation = OK;
	return OK;
}

nvml_gi_profile_info_fn nvmlDeviceGetGpuInstanceProfileInfo;
nvmlReturn_t nvmlDeviceGetGpuInstanceProfileInfo(nvmlDevice_t d, unsigned int index,
						 nvmlGpuInstanceProfileInfo_t *info)
{
	const struct fprofile *p = by_index(d, index);

	if (index >= GIP_COUNT_13_3)
		return E_INVALID_ARGUMENT;
	if (!p)
		return E_NOT_SUPPORTED;
	memset(info, 0, sizeof(*info));
	info->id = p->id;
	info->sliceCount = p->compute;
	info->instanceCount = p->max;
	return OK;
}

nvml_gi_list_fn nvmlDeviceGetGpuInstances;
nvmlReturn_t nvmlDeviceGetGpuInstances(nvmlDevice_t d, unsigned int id, nvmlGpuInstance_t *out,
				       unsigned int *n)
{
	unsigned int k = 0;

	state_load();
	if (!d->mig)
		return E_NOT_SUPPORTED;
	if (!by_id(d, id))
		return E_INVALID_ARGUMENT;
	for (size_t i = 0; i < 8; i++) {
		if (!d->gi[i].alive || d->gi[i].profile_id != id)
			continue;
		if (k >= *n)
			return E_INSUFFICIENT_SIZE;
		out[k++] = &d->gi[i];
	}
	*n = k;
	return OK;
}

nvml_gi_create_fn nvmlDeviceCreateGpuInstanceWithPlacement;
nvmlReturn_t nvmlDeviceCreateGpuInstanceWithPlacement(nvmlDevice_t d, unsigned int id,
						      const nvmlGpuInstancePlacement_t *pl,
						      nvmlGpuInstance_t *out)
{
	const struct fprofile *p = by_id(d, id);
	unsigned int used = 0, compute = 0, count = 0, mask;
	struct nvmlGpuInstance_st *free_gi = NULL;

	state_load();
	if (!d->mig)
		return E_NOT_SUPPORTED;
	if (!p || pl->size != p->size || pl->start >= 8 || !(p->starts & (1u << pl->start)))
		return E_INVALID_ARGUMENT;
	mask = ((1u << p->size) - 1u) << pl->start;
	for (size_t i = 0; i < 8; i++) {
		if (!d->gi[i].alive) {
			if (!free_gi)
				free_gi = &d->gi[i];
			continue;
		}
		used |= ((1u << d->gi[i].size) - 1u) << d->gi[i].start;
		compute += d->gi[i].compute;
		count += d->gi[i].profile_id == id;
	}
	if ((used & mask) || compute + p->compute > d->compute_slices || count >= p->max || !free_gi)
		return E_INSUFFICIENT_RESOURCES;
	memset(free_gi, 0, sizeof(*free_gi));
	free_gi->alive = 1;
	free_gi->id = d->next_id++;
	free_gi->profile_id = id;
	free_gi->start = pl->start;
	free_gi->size = p->size;
	free_gi->compute = p->compute;
	free_gi->dev = d;
	state_save();
	*out = free_gi;
	return OK;
}

nvml_gi_destroy_fn nvmlGpuInstanceDestroy;
nvmlReturn_t nvmlGpuInstanceDestroy(nvmlGpuInstance_t gi)
{
	state_load();
	if (!gi->alive)
		return E_INVALID_ARGUMENT;
	for (size_t i = 0; i < 8; i++)
		if (gi->ci[i].alive)
			return E_IN_USE;
	gi->alive = 0;
	state_save();
	return OK;
}

nvml_gi_info_fn nvmlGpuInstanceGetInfo;
nvmlReturn_t nvmlGpuInstanceGetInfo(nvmlGpuInstance_t gi, nvmlGpuInstanceInfo_t *info)
{
	state_load();
	if (!gi->alive)
		return E_INVALID_ARGUMENT;
	info->device = gi->dev;
	info->id = gi->id;
	info->profileId = gi->profile_id;
	info->placement.start = gi->start;
	info->placement.size = gi->size;
	return OK;
}

nvml_ci_profile_info_fn nvmlGpuInstanceGetComputeInstanceProfileInfo;
nvmlReturn_t nvmlGpuInstanceGetComputeInstanceProfileInfo(nvmlGpuInstance_t gi, unsigned int prof,
							  unsigned int eng,
							  nvmlComputeInstanceProfileInfo_t *info)
{
	if (prof >= CIP_COUNT || eng != NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED)
		return E_INVALID_ARGUMENT;	/* how NVML ends an enumeration */
	if (ci_slices[prof] > gi->compute || prof == NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE_REV1 ||
	    (prof == NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE_NVL && gi->compute != 7))
		return E_NOT_SUPPORTED;
	memset(info, 0, sizeof(*info));
	info->id = prof;
	info->sliceCount = ci_slices[prof];
	info->instanceCount = gi->compute / ci_slices[prof];
	return OK;
}

nvml_ci_list_fn nvmlGpuInstanceGetComputeInstances;
nvmlReturn_t nvmlGpuInstanceGetComputeInstances(nvmlGpuInstance_t gi, unsigned int id,
						nvmlComputeInstance_t *out, unsigned int *n)
{
	unsigned int k = 0;

	state_load();
	for (size_t i = 0; i < 8; i++) {
		if (!gi->ci[i].alive || gi->ci[i].profile_id != id)
			continue;
		if (k >= *n)
			return E_INSUFFICIENT_SIZE;
		out[k++] = &gi->ci[i];
	}
	*n = k;
	return OK;
}

nvml_ci_create_fn nvmlGpuInstanceCreateComputeInstance;
nvmlReturn_t nvmlGpuInstanceCreateComputeInstance(nvmlGpuInstance_t gi, unsigned int id,
						  nvmlComputeInstance_t *out)
{
	unsigned int used = 0;

	state_load();
	if (!gi->alive || id >= CIP_COUNT || id == NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE_REV1 ||
	    ci_slices[id] > gi->compute ||
	    (id == NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE_NVL && gi->compute != 7))
		return E_INVALID_ARGUMENT;
	for (size_t i = 0; i < 8; i++)
		if (gi->ci[i].alive)
			used += gi->ci[i].slices;
	if (used + ci_slices[id] > gi->compute)
		return E_INSUFFICIENT_RESOURCES;
	for (size_t i = 0; i < 8; i++) {
		if (gi->ci[i].alive)
			continue;
		gi->ci[i].alive = 1;
		gi->ci[i].id = (unsigned int)i;
		gi->ci[i].profile_id = id;
		gi->ci[i].slices = ci_slices[id];
		state_save();
		*out = &gi->ci[i];
		return OK;
	}
	return E_INSUFFICIENT_RESOURCES;
}

nvml_ci_destroy_fn nvmlComputeInstanceDestroy;
nvmlReturn_t nvmlComputeInstanceDestroy(nvmlComputeInstance_t ci)
{
	state_load();
	if (!ci->alive)
		return E_INVALID_ARGUMENT;
	ci->alive = 0;
	state_save();
	return OK;
}

/* ---- test controls: changes "behind loom's back" ---- */

/* Destroy the GI starting at @start on @dev (and its CIs); 0 or -1. */
int fake_nvml_drop_gi(unsigned int dev, unsigned int start);
int fake_nvml_drop_gi(unsigned int dev, unsigned int start)
{
	for (size_t i = 0; dev < n_devs && i < 8; i++)
		if (devs[dev].gi[i].alive && devs[dev].gi[i].start == start) {
			memset(&devs[dev].gi[i], 0, sizeof(devs[dev].gi[i]));
			return 0;
		}
	return -1;
}

/* Destroy only the compute instances of the GI at @start. */
int fake_nvml_drop_ci(unsigned int dev, unsigned int start);
int fake_nvml_drop_ci(unsigned int dev, unsigned int start)
{
	for (size_t i = 0; dev < n_devs && i < 8; i++)
		if (devs[dev].gi[i].alive && devs[dev].gi[i].start == start) {
			memset(devs[dev].gi[i].ci, 0, sizeof(devs[dev].gi[i].ci));
			return 0;
		}
	return -1;
}

/*
 * Replace the compute instances of the GI at @start by one of CI profile
 * index @prof (e.g. 7_SLICE_NVL, as another tool on a newer driver would
 * make it); 0 or -1.
 */
int fake_nvml_set_ci(unsigned int dev, unsigned int start, unsigned int prof);
int fake_nvml_set_ci(unsigned int dev, unsigned int start, unsigned int prof)
{
	for (size_t i = 0; dev < n_devs && prof < CIP_COUNT && i < 8; i++) {
		struct nvmlGpuInstance_st *g = &devs[dev].gi[i];

		if (!g->alive || g->start != start || ci_slices[prof] > g->compute)
			continue;
		memset(g->ci, 0, sizeof(g->ci));
		g->ci[0].alive = 1;
		g->ci[0].profile_id = prof;
		g->ci[0].slices = ci_slices[prof];
		return 0;
	}
	return -1;
}

unsigned int fake_nvml_gi_count(unsigned int dev);
unsigned int fake_nvml_gi_count(unsigned int dev)
{
	unsigned int n = 0;

	for (size_t i = 0; dev < n_devs && i < 8; i++)
		n += devs[dev].gi[i].alive;
	return n;
}

unsigned int fake_nvml_mode_sets(unsigned int dev);
unsigned int fake_nvml_mode_sets(unsigned int dev)
{
	return dev < n_devs ? devs[dev].mode_sets : 0;
}

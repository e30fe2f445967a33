/*
 * tenancy/mig.c: MIG profile tables (one per GPU model) and the planner
 * that places tenants' GPU instances on them.
 *
 * The slot space of a GPU is tiny (8 memory slices), so the planner
 * precomputes, per model, for every occupancy mask and every profile, the
 * best free start and what placing there costs the larger profiles.  A
 * request then costs one table lookup per eligible GPU.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/array.h"
#include "tenancy/mig.h"

/*
 * The tables.  Source for every one: NVIDIA Multi-Instance GPU User Guide
 * (R580 edition), "Supported MIG Profiles"
 * (https://docs.nvidia.com/datacenter/tesla/mig-user-guide/supported-mig-profiles.html):
 * the per-product tables give the profiles, their fractions of memory and
 * SMs and "Number of Instances Available"; test_mig (test_tables_against_guide)
 * holds every table here to them, row by row.  Two tables borrow their
 * profile names from NVIDIA's mig-parted default configuration instead
 * (H100 NVL 94GB and GB200, with the H100's and B200's fractions and
 * counts); each says so where it is defined.
 *
 * Starts: the guide gives them as `nvidia-smi mig -lgipp` output for the
 * A100 only ({0..6}:1 for 1g and 1g+me, {0,2,4,6}:2, {0,2,4}:2, {0,4}:4,
 * {0}:4, {0}:8); for the A30, H100, H200, B200 and GB200 it draws them as
 * diagrams.  The 8-slice models use the A100's starts because their
 * fractions are identical; for H100 NVL, H200, B200 and GB200 that is an
 * inference that no NVIDIA text confirms (docs/mig.md says so too).
 * To add a model: one table of profiles, one entry in mig_models[].
 */
#define STARTS_1G_8	7, { 0, 1, 2, 3, 4, 5, 6 }	/* 1g anywhere but slice 7 */
#define STARTS_1G2_8	4, { 0, 2, 4, 6 }		/* 1g with 2 memory slices */
#define STARTS_2G_8	3, { 0, 2, 4 }
#define STARTS_3G_8	2, { 0, 4 }
#define STARTS_ONE_0	1, { 0 }

/* The 8-memory-slice family: same shape, names follow the memory per slice. */
#define EIGHT_SLICE_TABLE(g1, g1me, g1x2, g2, g3, g4, g7) {			\
	{ g1,   1, 1, 7, MIG_NVML_1_SLICE,      STARTS_1G_8 },			\
	{ g1me, 1, 1, 1, MIG_NVML_1_SLICE_REV1, STARTS_1G_8 },			\
	{ g1x2, 1, 2, 4, MIG_NVML_1_SLICE_REV2, STARTS_1G2_8 },			\
	{ g2,   2, 2, 3, MIG_NVML_2_SLICE,      STARTS_2G_8 },			\
	{ g3,   3, 4, 2, MIG_NVML_3_SLICE,      STARTS_3G_8 },			\
	{ g4,   4, 4, 1, MIG_NVML_4_SLICE,      STARTS_ONE_0 },			\
	{ g7,   7, 8, 1, MIG_NVML_7_SLICE,      STARTS_ONE_0 },			\
}

/*
 * A100-SXM4-40GB table of the guide (1g.5gb+me since R470, 1g.10gb since
 * R525).  The guide's row gives 1g.10gb a memory fraction of 1/8; its own
 * -lgipp example places it (profile 15) as {0,2,4,6}:2, two slices, as
 * 10 GB of 40 GB and 4 instances imply: two slices here.
 */
static const struct mig_profile a100_40gb[] = EIGHT_SLICE_TABLE(
	"1g.5gb", "1g.5gb+me", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb");
/* A100-SXM4-80GB: the guide's A100 table with the 80GB names it lists. */
static const struct mig_profile a100_80gb[] = EIGHT_SLICE_TABLE(
	"1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb");
/* H100 (SXM5 and PCIe, 80GB) table of the guide. */
static const struct mig_profile h100_80gb[] = EIGHT_SLICE_TABLE(
	"1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb");
/*
 * "H200 141GB product" table of the guide (checked: names, fractions,
 * instance counts).  Starts: inferred (see above).
 */
static const struct mig_profile h200_141gb[] = EIGHT_SLICE_TABLE(
	"1g.18gb", "1g.18gb+me", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb");
/*
 * "B200 180 GB product" table of the guide (checked: names, fractions,
 * instance counts).  Starts: inferred (see above).
 */
static const struct mig_profile b200_180gb[] = EIGHT_SLICE_TABLE(
	"1g.23gb", "1g.23gb+me", "1g.45gb", "2g.45gb", "3g.90gb", "4g.90gb", "7g.180gb");

/*
 * H100 NVL (94 GB; "H100-PCIE 94GB" in the guide's list of supported GPUs):
 * the guide's H100 fractions and counts with the 94 GB names, as NVIDIA's
 * mig-parted default configuration spells them (1g.12gb x7, 1g.12gb+me x1,
 * 1g.24gb x4, 2g.24gb x3, 3g.47gb x2, 4g.47gb x1, 7g.94gb x1).  Starts:
 * inferred (see above).
 */
static const struct mig_profile h100_94gb[] = EIGHT_SLICE_TABLE(
	"1g.12gb", "1g.12gb+me", "1g.24gb", "2g.24gb", "3g.47gb", "4g.47gb", "7g.94gb");
/*
 * GB200 (186 GB in the guide's list of supported GPUs, 7 instances): the
 * Blackwell fractions and counts of the B200 table, with the names NVIDIA's
 * mig-parted default configuration gives the GB200 (device 0x2941: 1g.24gb
 * x7, 1g.47gb x4, 2g.47gb x3, 3g.95gb x2, 4g.95gb x1, 7g.189gb x1).  The
 * +me name follows the family's pattern and is inferred; so are the starts.
 */
static const struct mig_profile gb200_189gb[] = EIGHT_SLICE_TABLE(
	"1g.24gb", "1g.24gb+me", "1g.47gb", "2g.47gb", "3g.95gb", "4g.95gb", "7g.189gb");

/* A30-24GB table of the guide: 4 memory and 4 compute slices. */
static const struct mig_profile a30_24gb[] = {
	{ "1g.6gb",     1, 1, 4, MIG_NVML_1_SLICE,      4, { 0, 1, 2, 3 } },
	{ "1g.6gb+me",  1, 1, 1, MIG_NVML_1_SLICE_REV1, 4, { 0, 1, 2, 3 } },
	{ "2g.12gb",    2, 2, 2, MIG_NVML_2_SLICE,      2, { 0, 2 } },
	{ "2g.12gb+me", 2, 2, 1, MIG_NVML_2_SLICE_REV1, 2, { 0, 2 } },
	{ "4g.24gb",    4, 4, 1, MIG_NVML_4_SLICE,      1, { 0 } },
};

#define MIG_SRC "NVIDIA MIG User Guide, Supported MIG Profiles"
#define N(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Aliases include the NVML device names ("NVIDIA H100 80GB HBM3", "NVIDIA
 * H200", "NVIDIA B200"), as nvidia-smi prints them in public output; the
 * guide does not list NVML names, so they are unverified against NVIDIA's
 * documents.  The H200 NVL has the H200 141GB's table (the guide lists both
 * as 141GB GH100 products; mig-parted configures them alike).  A GPU whose
 * name matches none is reported as having no table rather than guessed at.
 */
static const struct mig_model mig_models[] = {
	{ "A100-40GB", { "A100-SXM4-40GB", "A100-PCIE-40GB", "NVIDIA A100-SXM4-40GB",
			 "NVIDIA A100-PCIE-40GB" },
	  8, 7, a100_40gb, N(a100_40gb), MIG_SRC ", A100-SXM4-40GB" },
	{ "A100-80GB", { "A100-SXM4-80GB", "A100-PCIE-80GB", "NVIDIA A100-SXM4-80GB",
			 "NVIDIA A100 80GB PCIe" },
	  8, 7, a100_80gb, N(a100_80gb), MIG_SRC ", A100 (80GB names)" },
	{ "A30", { "A30-24GB", "NVIDIA A30" },
	  4, 4, a30_24gb, N(a30_24gb), MIG_SRC ", A30-24GB" },
	{ "H100-SXM5-80GB", { "H100-80GB", "H100-SXM", "NVIDIA H100 80GB HBM3" },
	  8, 7, h100_80gb, N(h100_80gb), MIG_SRC ", H100 80GB" },
	{ "H100-PCIE-80GB", { "H100-PCIe", "NVIDIA H100 PCIe" },
	  8, 7, h100_80gb, N(h100_80gb), MIG_SRC ", H100 80GB" },
	{ "H100-NVL-94GB", { "H100-NVL", "H100-94GB", "H100-PCIE-94GB", "NVIDIA H100 NVL" },
	  8, 7, h100_94gb, N(h100_94gb), MIG_SRC ", H100 fractions; 94GB names from mig-parted" },
	{ "H200-141GB", { "H200", "H200-SXM-141GB", "NVIDIA H200", "H200-NVL", "NVIDIA H200 NVL" },
	  8, 7, h200_141gb, N(h200_141gb), MIG_SRC ", H200 141GB (also H200 NVL)" },
	{ "B200", { "B200-180GB", "NVIDIA B200" },
	  8, 7, b200_180gb, N(b200_180gb), MIG_SRC ", B200 180GB" },
	{ "GB200", { "GB200-186GB", "NVIDIA GB200" },
	  8, 7, gb200_189gb, N(gb200_189gb), MIG_SRC ", B200 fractions; GB200 names from mig-parted" },
};

size_t mig_model_count(void)
{
	return N(mig_models);
}

const struct mig_model *mig_model_at(size_t i)
{
	return i < N(mig_models) ? &mig_models[i] : NULL;
}

const struct mig_model *mig_model_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < N(mig_models); i++) {
		const struct mig_model *m = &mig_models[i];

		if (!strcasecmp(m->name, name))
			return m;
		for (size_t a = 0; a < N(m->aliases) && m->aliases[a]; a++)
			if (!strcasecmp(m->aliases[a], name))
				return m;
	}
	return NULL;
}

const struct mig_profile *mig_profile_find(const struct mig_model *model, const char *name)
{
	if (!model || !name)
		return NULL;
	for (size_t i = 0; i < model->n_profiles; i++)
		if (!strcmp(model->profiles[i].name, name))
			return &model->profiles[i];
	return NULL;
}

const struct mig_profile *mig_profile_by_nvml(const struct mig_model *model,
					      unsigned int nvml_profile)
{
	for (size_t i = 0; model && i < model->n_profiles; i++)
		if (model->profiles[i].nvml_profile == nvml_profile)
			return &model->profiles[i];
	return NULL;
}

bool mig_profile_start_legal(const struct mig_profile *profile, unsigned int start)
{
	for (unsigned int i = 0; i < profile->n_starts; i++)
		if (profile->starts[i] == start)
			return true;
	return false;
}

unsigned int mig_profile_mask(const struct mig_profile *profile, unsigned int start)
{
	return ((1u << profile->mem) - 1u) << start;
}

/* ---- placement value: how much room a layout leaves for large profiles ---- */

/* Free positions, weighted by size squared so that one 7g outweighs 1g's. */
static unsigned int layout_value(const struct mig_model *m, unsigned int used)
{
	unsigned int v = 0;

	for (size_t p = 0; p < m->n_profiles; p++) {
		const struct mig_profile *pr = &m->profiles[p];

		for (unsigned int s = 0; s < pr->n_starts; s++)
			if (!(used & mig_profile_mask(pr, pr->starts[s])))
				v += pr->mem * pr->mem;
	}
	return v;
}

#define MASKS (1u << MIG_SLICES_MAX)

/* Per model: best start for each (occupancy, profile), and its cost. */
struct model_cache {
	signed char best[MASKS][MIG_PROFILES_MAX];	/* -1: no free start */
	unsigned short loss[MASKS][MIG_PROFILES_MAX];
	unsigned short value[MASKS];
	unsigned char free_slices[MASKS];
};

struct intern {
	char (*names)[LOOM_NAME_MAX];
	size_t n, cap;
};

struct node_sum {
	int sole;		/* -1 empty, -2 several tenants, else the tenant id */
	bool excl;		/* an exclusive tenant's instance is on it */
	size_t first, n;	/* its GPUs in pl->gpus (sorted) */
};

struct mig_planner {
	struct mig_gpu *gpus;
	size_t n_gpus, cap_gpus;
	bool dirty;		/* sort and node summaries need rebuilding */
	bool unsorted;		/* gpus[] is out of order (else lookups bisect) */
	struct intern nodes, sites, tenants;
	struct node_sum *node_sum;	/* by node id */
	struct model_cache *cache;	/* by model index */
	unsigned char *elig;		/* scratch, one per GPU */
	/* what the hot loop reads, one small entry per GPU (cache friendly) */
	struct gpu_hot {
		unsigned char used, model;
		int node_id, site_id;
	} *hot;
	unsigned int (*mask_count)[MASKS];	/* per model: GPUs per occupancy mask */
};

static void hot_set_used(struct mig_planner *pl, size_t g, unsigned int used)
{
	pl->mask_count[pl->hot[g].model][pl->hot[g].used]--;
	pl->hot[g].used = (unsigned char)used;
	pl->mask_count[pl->hot[g].model][used]++;
}

static int intern_id(struct intern *in, const char *name, bool add)
{
	for (size_t i = 0; i < in->n; i++)
		if (!strcmp(in->names[i], name))
			return (int)i;
	if (!add)
		return -1;
	if (ARRAY_GROW(in->names, in->cap, in->n + 1))
		return -ENOMEM;
	snprintf(in->names[in->n], sizeof(in->names[0]), "%s", name);
	return (int)in->n++;
}

static void cache_build(struct model_cache *c, const struct mig_model *m)
{
	for (unsigned int used = 0; used < MASKS; used++) {
		c->value[used] = (unsigned short)layout_value(m, used);
		c->free_slices[used] = (unsigned char)(m->mem_slices -
					__builtin_popcount(used & ((1u << m->mem_slices) - 1)));
	}
	for (unsigned int used = 0; used < MASKS; used++) {
		for (size_t p = 0; p < MIG_PROFILES_MAX; p++) {
			c->best[used][p] = -1;
			c->loss[used][p] = 0;
		}
		for (size_t p = 0; p < m->n_profiles; p++) {
			const struct mig_profile *pr = &m->profiles[p];
			int best = -1;
			unsigned int best_loss = 0;

			for (unsigned int s = 0; s < pr->n_starts; s++) {
				unsigned int mk = mig_profile_mask(pr, pr->starts[s]);
				unsigned int loss;

				if (used & mk)
					continue;
				loss = c->value[used] - c->value[used | mk];
				/* ties go to the higher start: small ones from the top */
				if (best < 0 || loss <= best_loss) {
					best = pr->starts[s];
					best_loss = loss;
				}
			}
			c->best[used][p] = (signed char)best;
			c->loss[used][p] = (unsigned short)best_loss;
		}
	}
}

struct mig_planner *mig_planner_new(void)
{
	struct mig_planner *pl = calloc(1, sizeof(*pl));

	if (!pl)
		return NULL;
	pl->cache = calloc(N(mig_models), sizeof(*pl->cache));
	pl->mask_count = calloc(N(mig_models), sizeof(*pl->mask_count));
	if (!pl->cache || !pl->mask_count) {
		free(pl->cache);
		free(pl->mask_count);
		free(pl);
		return NULL;
	}
	for (size_t i = 0; i < N(mig_models); i++)
		cache_build(&pl->cache[i], &mig_models[i]);
	return pl;
}

void mig_planner_free(struct mig_planner **planner)
{
	struct mig_planner *pl = *planner;

	if (!pl)
		return;
	free(pl->gpus);
	free(pl->nodes.names);
	free(pl->sites.names);
	free(pl->tenants.names);
	free(pl->node_sum);
	free(pl->cache);
	free(pl->elig);
	free(pl->hot);
	free(pl->mask_count);
	free(pl);
	*planner = NULL;
}

static size_t model_index(const struct mig_model *m)
{
	return (size_t)(m - mig_models);
}

static int gpu_cmp(const void *a, const void *b)
{
	const struct mig_gpu *x = a, *y = b;
	int c = strcmp(x->node, y->node);

	if (c)
		return c;
	return x->index < y->index ? -1 : x->index > y->index;
}

static void node_summarise(struct mig_planner *pl, int nid)
{
	struct node_sum *ns = &pl->node_sum[nid];

	ns->sole = -1;
	ns->excl = false;
	for (size_t g = ns->first; g < ns->first + ns->n; g++) {
		const struct mig_gpu *gpu = &pl->gpus[g];

		for (size_t i = 0; i < gpu->n_inst; i++) {
			if (ns->sole == -1)
				ns->sole = gpu->tenant_id[i];
			else if (ns->sole != gpu->tenant_id[i])
				ns->sole = -2;
			ns->excl |= gpu->inst[i].exclusive;
		}
	}
}

static int planner_prepare(struct mig_planner *pl)
{
	void *p;

	if (!pl->dirty)
		return 0;
	if (pl->unsorted)
		qsort(pl->gpus, pl->n_gpus, sizeof(*pl->gpus), gpu_cmp);
	pl->unsorted = false;
	p = realloc(pl->node_sum, (pl->nodes.n ? pl->nodes.n : 1) * sizeof(*pl->node_sum));
	if (!p)
		return -ENOMEM;
	pl->node_sum = p;
	p = realloc(pl->elig, pl->n_gpus ? pl->n_gpus : 1);
	if (!p)
		return -ENOMEM;
	pl->elig = p;
	p = realloc(pl->hot, (pl->n_gpus ? pl->n_gpus : 1) * sizeof(*pl->hot));
	if (!p)
		return -ENOMEM;
	pl->hot = p;
	memset(pl->mask_count, 0, N(mig_models) * sizeof(*pl->mask_count));
	for (size_t g = 0; g < pl->n_gpus; g++) {
		pl->mask_count[model_index(pl->gpus[g].model)][pl->gpus[g].used]++;
		pl->hot[g].used = (unsigned char)pl->gpus[g].used;
		pl->hot[g].model = (unsigned char)model_index(pl->gpus[g].model);
		pl->hot[g].node_id = pl->gpus[g].node_id;
		pl->hot[g].site_id = pl->gpus[g].site_id;
	}
	for (size_t g = 0; g < pl->n_gpus; g++) {
		struct node_sum *ns = &pl->node_sum[pl->gpus[g].node_id];

		if (g == 0 || pl->gpus[g - 1].node_id != pl->gpus[g].node_id) {
			ns->first = g;
			ns->n = 0;
		}
		ns->n++;
	}
	for (size_t n = 0; n < pl->nodes.n; n++)
		node_summarise(pl, (int)n);
	pl->dirty = false;
	return 0;
}

int mig_planner_add_gpu(struct mig_planner *pl, const char *node, const char *site,
			unsigned int index, const char *model, struct loom_err *err)
{
	const struct mig_model *m = mig_model_find(model);
	struct mig_gpu *gpu;
	int nid, sid;

	if (!m) {
		char names[256];
		size_t off = 0;

		for (size_t i = 0; i < N(mig_models) && off < sizeof(names); i++)
			off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s",
						i ? ", " : "", mig_models[i].name);
		return loom_err_set(err, LOOM_E_NOT_FOUND, "model",
				    "GPU model \"%s\" has no MIG profile table; use one of %s",
				    model ? model : "", names);
	}
	if (!node || !*node || strlen(node) >= LOOM_NAME_MAX)
		return loom_err_set(err, LOOM_E_PARAMS, "node", "node name missing or too long");
	if (!site)
		site = "";
	if (strlen(site) >= LOOM_NAME_MAX)
		return loom_err_set(err, LOOM_E_PARAMS, "site", "site name too long");
	pl->dirty = true;
	if (mig_planner_gpu_find(pl, node, index))
		return loom_err_set(err, LOOM_E_EXISTS, "gpu", "%s gpu %u is listed twice",
				    node, index);
	if (ARRAY_GROW(pl->gpus, pl->cap_gpus, pl->n_gpus + 1))
		return -ENOMEM;
	nid = intern_id(&pl->nodes, node, true);
	sid = intern_id(&pl->sites, site, true);
	if (nid < 0 || sid < 0)
		return -ENOMEM;
	gpu = &pl->gpus[pl->n_gpus++];
	memset(gpu, 0, sizeof(*gpu));
	snprintf(gpu->node, sizeof(gpu->node), "%s", node);
	snprintf(gpu->site, sizeof(gpu->site), "%s", site);
	gpu->index = index;
	/* GPUs added in (node, index) order (loomd's are) stay bisectable:
	 * a fleet's worth of adds must not cost a linear search each. */
	if (pl->n_gpus > 1 && gpu_cmp(gpu - 1, gpu) > 0)
		pl->unsorted = true;
	gpu->model = m;
	gpu->node_id = nid;
	gpu->site_id = sid;
	return 0;
}

size_t mig_planner_gpu_count(const struct mig_planner *pl)
{
	return pl->n_gpus;
}

const struct mig_gpu *mig_planner_gpu_at(struct mig_planner *pl, size_t i)
{
	if (planner_prepare(pl) < 0 || i >= pl->n_gpus)
		return NULL;
	return &pl->gpus[i];
}

static struct mig_gpu *gpu_find(struct mig_planner *pl, const char *node, unsigned int index)
{
	struct mig_gpu key;

	if (pl->unsorted) {
		for (size_t g = 0; g < pl->n_gpus; g++)
			if (pl->gpus[g].index == index && !strcmp(pl->gpus[g].node, node))
				return &pl->gpus[g];
		return NULL;
	}
	if (!pl->n_gpus)
		return NULL;	/* bsearch's array may not be NULL, even empty */
	snprintf(key.node, sizeof(key.node), "%s", node);
	key.index = index;
	return bsearch(&key, pl->gpus, pl->n_gpus, sizeof(*pl->gpus), gpu_cmp);
}

const struct mig_gpu *mig_planner_gpu_find(struct mig_planner *pl, const char *node,
					   unsigned int index)
{
	return node ? gpu_find(pl, node, index) : NULL;
}

static unsigned int gpu_compute_used(const struct mig_gpu *gpu)
{
	unsigned int c = 0;

	for (size_t i = 0; i < gpu->n_inst; i++)
		c += gpu->inst[i].profile->compute;
	return c;
}

static unsigned int gpu_profile_count(const struct mig_gpu *gpu, const struct mig_profile *p)
{
	unsigned int c = 0;

	for (size_t i = 0; i < gpu->n_inst; i++)
		c += gpu->inst[i].profile == p;
	return c;
}

/* Insert keeping inst[] sorted by start; the caller checked it fits. */
static void gpu_insert(struct mig_gpu *gpu, int tenant_id, const char *tenant, bool excl,
		       const struct mig_profile *p, unsigned int start)
{
	size_t i = gpu->n_inst;

	while (i > 0 && gpu->inst[i - 1].start > start) {
		gpu->inst[i] = gpu->inst[i - 1];
		gpu->tenant_id[i] = gpu->tenant_id[i - 1];
		i--;
	}
	snprintf(gpu->inst[i].tenant, sizeof(gpu->inst[i].tenant), "%s", tenant);
	gpu->inst[i].exclusive = excl;
	gpu->inst[i].profile = p;
	gpu->inst[i].start = start;
	gpu->tenant_id[i] = tenant_id;
	gpu->n_inst++;
	gpu->used |= mig_profile_mask(p, start);
}

static void gpu_remove(struct mig_gpu *gpu, size_t i)
{
	gpu->used &= ~mig_profile_mask(gpu->inst[i].profile, gpu->inst[i].start);
	for (; i + 1 < gpu->n_inst; i++) {
		gpu->inst[i] = gpu->inst[i + 1];
		gpu->tenant_id[i] = gpu->tenant_id[i + 1];
	}
	gpu->n_inst--;
}

/* Can @p go at @start on @gpu, by slices, compute and count? */
static bool gpu_fits(const struct mig_gpu *gpu, const struct mig_profile *p, unsigned int start)
{
	return mig_profile_start_legal(p, start) &&
	       !(gpu->used & mig_profile_mask(p, start)) &&
	       gpu->n_inst < MIG_INSTANCES_MAX &&
	       gpu_compute_used(gpu) + p->compute <= gpu->model->compute_slices &&
	       gpu_profile_count(gpu, p) < p->max_count;
}

int mig_planner_add_instance(struct mig_planner *pl, const char *node, unsigned int index,
			     const char *tenant, bool exclusive, const char *profile,
			     unsigned int start, struct loom_err *err)
{
	struct mig_gpu *gpu = gpu_find(pl, node ? node : "", index);
	const struct mig_profile *p;
	int tid;

	if (!gpu)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "gpu", "no GPU %u on node %s",
				    index, node ? node : "");
	if (!tenant || !*tenant || strlen(tenant) >= LOOM_NAME_MAX)
		return loom_err_set(err, LOOM_E_PARAMS, "tenant", "tenant name missing or too long");
	p = mig_profile_find(gpu->model, profile);
	if (!p)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "profile",
				    "profile %s does not exist on %s", profile ? profile : "",
				    gpu->model->name);
	if (!gpu_fits(gpu, p, start))
		return loom_err_set(err, LOOM_E_CONFLICT, "start",
				    "%s at slice %u does not fit on %s gpu %u (illegal start, "
				    "overlap or limit)", p->name, start, node, index);
	tid = intern_id(&pl->tenants, tenant, true);
	if (tid < 0)
		return tid;
	gpu_insert(gpu, tid, tenant, exclusive, p, start);
	pl->dirty = true;
	return 0;
}

/* ---- pictures ---- */

static char inst_letter(size_t i)
{
	return (char)('A' + i);
}

/* "[AAAABB..]" for the slices of @gpu. */
static void gpu_slots(const struct mig_gpu *gpu, char *out, size_t len)
{
	size_t k = 0;

	if (len < gpu->model->mem_slices + 3)
		return;
	out[k++] = '[';
	for (unsigned int s = 0; s < gpu->model->mem_slices; s++) {
		char c = '.';

		for (size_t i = 0; i < gpu->n_inst; i++)
			if (mig_profile_mask(gpu->inst[i].profile, gpu->inst[i].start) & (1u << s))
				c = inst_letter(i);
		out[k++] = c;
	}
	out[k++] = ']';
	out[k] = '\0';
}

/* snprintf-style append: *n counts what would have been written. */
static void __attribute__((format(printf, 4, 5)))
pic_append(char *buf, size_t len, int *n, const char *fmt, ...)
{
	va_list ap;
	int w;

	va_start(ap, fmt);
	if ((size_t)*n < len)
		w = vsnprintf(buf + *n, len - (size_t)*n, fmt, ap);
	else
		w = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (w > 0)
		*n += w;
}

#define APPEND(...) pic_append(buf, len, &n, __VA_ARGS__)

int mig_gpu_picture(const struct mig_gpu *gpu, char *buf, size_t len)
{
	const struct mig_model *m = gpu->model;
	unsigned int nfree = m->mem_slices - (unsigned int)__builtin_popcount(gpu->used);
	int n = 0;

	if (len)
		buf[0] = '\0';
	APPEND("%s gpu%u %s: %u memory slices, %u free\n", gpu->node, gpu->index, m->name,
	       m->mem_slices, nfree);
	APPEND("  slice");
	for (unsigned int s = 0; s < m->mem_slices; s++)
		APPEND(" %u", s);
	APPEND("\n  owner");
	for (unsigned int s = 0; s < m->mem_slices; s++) {
		char c = '.';

		for (size_t i = 0; i < gpu->n_inst; i++)
			if (mig_profile_mask(gpu->inst[i].profile, gpu->inst[i].start) & (1u << s))
				c = inst_letter(i);
		APPEND(" %c", c);
	}
	APPEND("\n");
	for (size_t i = 0; i < gpu->n_inst; i++)
		APPEND("  %c = %s %s@%u%s\n", inst_letter(i), gpu->inst[i].tenant,
		       gpu->inst[i].profile->name, gpu->inst[i].start,
		       gpu->inst[i].exclusive ? " (exclusive)" : "");
	return n;
}

/* ---- placing ---- */

static bool node_allows(const struct node_sum *ns, int tid, bool excl)
{
	if (ns->sole == -1 || ns->sole == tid)
		return true;
	return !excl && !ns->excl;
}

static void node_note(struct node_sum *ns, int tid, bool excl)
{
	if (ns->sole == -1)
		ns->sole = tid;
	else if (ns->sole != tid)
		ns->sole = -2;
	ns->excl |= excl;
}

struct undo_entry {
	size_t g;
	unsigned int start;
};

enum { ELIG_NO = 0, ELIG_MODEL = 1, ELIG_WHERE = 2, ELIG_YES = 3 };

/* "a, b, c" into @buf: the tenant's allowed sites, for a residency refusal. */
static void sites_text(const struct mig_request *req, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; req->sites && i < req->n_sites && off < len; i++) {
		int w = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", req->sites[i]);

		if (w < 0)
			break;
		off += (size_t)w;
	}
}

static bool gpu_in_filter(const struct mig_gpu *gpu, const struct mig_request *req)
{
	return (!req->node || !strcmp(gpu->node, req->node)) &&
	       (!req->site || !strcmp(gpu->site, req->site));
}

/*
 * Why a request did not fit, most specific reason first: no GPU offers the
 * profile at all; none where the request points (node, site); the tenant's
 * sites rule out every one there (residency); isolation; the per-GPU count
 * of the profile (one +me instance per GPU); fragmentation; capacity.
 */
static void refuse(struct mig_planner *pl, const struct mig_request *req,
		   const int *pidx, size_t placed, struct loom_err *err)
{
	size_t n_model = 0, n_filter = 0, n_where = 0, n_yes = 0;
	unsigned int free_total = 0, need = 0, limit = 0, room = 0;
	const struct mig_gpu *closest = NULL, *filtered = NULL;
	unsigned int closest_free = 0;
	char where[160], sites[512];

	for (size_t g = 0; g < pl->n_gpus; g++) {
		const struct mig_gpu *gpu = &pl->gpus[g];
		const struct mig_profile *p;
		unsigned int f;

		n_model += pl->elig[g] >= ELIG_MODEL;
		if (pl->elig[g] >= ELIG_MODEL && gpu_in_filter(gpu, req)) {
			n_filter++;
			filtered = filtered ? filtered : gpu;
		}
		n_where += pl->elig[g] >= ELIG_WHERE;
		if (pl->elig[g] != ELIG_YES)
			continue;
		n_yes++;
		p = &gpu->model->profiles[pidx[model_index(gpu->model)]];
		/* what the per-GPU count of the profile alone would still allow */
		limit = p->max_count;
		room += p->max_count - gpu_profile_count(gpu, p);
		f = pl->cache[pl->hot[g].model].free_slices[pl->hot[g].used];
		free_total += f;
		if (!closest || f > closest_free) {
			closest = gpu;
			closest_free = f;
		}
		if (!need)
			need = p->mem;
	}
	if (req->node)
		snprintf(where, sizeof(where), "on node %s", req->node);
	else if (req->site)
		snprintf(where, sizeof(where), "in site %s", req->site);
	else if (req->sites)
		snprintf(where, sizeof(where), "in the tenant's sites");
	else
		snprintf(where, sizeof(where), "in the inventory");
	sites_text(req, sites, sizeof(sites));
	if (!n_model) {
		loom_err_set(err, LOOM_E_NOT_FOUND, "profile", "no GPU %s offers MIG profile %s",
			     req->node || req->site ? where : "in the inventory", req->profile);
	} else if (!n_filter) {
		loom_err_set(err, LOOM_E_NOT_FOUND, "profile",
			     "no GPU of a model offering %s %s (%zu elsewhere)",
			     req->profile, where, n_model);
	} else if (!n_where && req->node) {
		loom_err_set(err, LOOM_E_POLICY, "node",
			     "residency: node %s is in site %s, and tenant %s may only use "
			     "site%s %s", req->node, filtered->site, req->tenant,
			     req->n_sites == 1 ? "" : "s", sites);
	} else if (!n_where) {
		loom_err_set(err, LOOM_E_POLICY, "profile",
			     "residency: none of tenant %s's allowed sites (%s) has a GPU offering "
			     "%s; %zu GPU%s elsewhere do%s", req->tenant, sites, req->profile,
			     n_filter, n_filter == 1 ? "" : "s", n_filter == 1 ? "es" : "");
	} else if (!n_yes) {
		loom_err_set(err, LOOM_E_POLICY, "tenant",
			     "isolation: all %zu GPUs offering %s %s are on nodes holding "
			     "another tenant's instances, and %s", n_where, req->profile, where,
			     req->exclusive ? "a strict or private tenant gets whole nodes"
					    : "those belong to strict or private tenants");
	} else if (room < req->count) {
		if (strstr(req->profile, "+me"))
			loom_err_set(err, LOOM_E_EXHAUSTED, "count",
				     "one %s instance per GPU: a GPU's media engines go to a single "
				     "+me instance (NVIDIA's limit); the %zu eligible GPU%s %s take%s "
				     "%u more, %u asked; ask for fewer, or for the profile without +me",
				     req->profile, n_yes, n_yes == 1 ? "" : "s", where,
				     n_yes == 1 ? "s" : "", room, req->count);
		else
			loom_err_set(err, LOOM_E_EXHAUSTED, "count",
				     "at most %u %s instance%s per GPU (NVIDIA's limit); the %zu "
				     "eligible GPU%s %s take%s %u more, %u asked", limit, req->profile,
				     limit == 1 ? "" : "s", n_yes, n_yes == 1 ? "" : "s", where,
				     n_yes == 1 ? "s" : "", room, req->count);
	} else if (free_total >= need * req->count && closest) {
		char slots[MIG_SLICES_MAX + 3] = "";

		gpu_slots(closest, slots, sizeof(slots));
		loom_err_set(err, LOOM_E_EXHAUSTED, "count",
			     "fragmentation: placed %zu of %u %s; the %zu eligible GPUs %s have "
			     "%u free memory slices but no free legal start; closest: %s gpu%u "
			     "%s (%u free); release or compact first",
			     placed, req->count, req->profile, n_yes, where, free_total,
			     closest->node, closest->index, slots, closest_free);
	} else {
		loom_err_set(err, LOOM_E_EXHAUSTED, "count",
			     "capacity: only %zu of %u %s fit; the %zu eligible GPUs %s have %u "
			     "free memory slices", placed, req->count, req->profile, n_yes, where,
			     free_total);
	}
}

int mig_planner_place(struct mig_planner *pl, const struct mig_request *req,
		      struct mig_placement *out, struct loom_err *err)
{
	int pidx[N(mig_models)];
	bool any_profile = false;
	int tid, node_id = -1, site_id = -1, rc;
	int *allowed = NULL;
	size_t n_allowed = 0, placed = 0;
	struct undo_entry done[64];
	struct undo_entry *undo = done;

	if (!req || !req->tenant || !*req->tenant || strlen(req->tenant) >= LOOM_NAME_MAX)
		return loom_err_set(err, LOOM_E_PARAMS, "tenant", "tenant name missing or too long");
	if (!req->profile)
		return loom_err_set(err, LOOM_E_PARAMS, "profile", "profile missing");
	if (req->count == 0 || req->count > 1024)
		return loom_err_set(err, LOOM_E_RANGE, "count", "count must be 1 to 1024");
	rc = planner_prepare(pl);
	if (rc < 0)
		return rc;
	for (size_t m = 0; m < N(mig_models); m++) {
		const struct mig_profile *p = mig_profile_find(&mig_models[m], req->profile);

		pidx[m] = p ? (int)(p - mig_models[m].profiles) : -1;
		any_profile |= p != NULL;
	}
	if (!any_profile)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "profile",
				    "no GPU model loom knows has a MIG profile named \"%s\" "
				    "(profiles look like 1g.10gb or 3g.40gb)", req->profile);
	if (req->node && (node_id = intern_id(&pl->nodes, req->node, false)) < 0)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "node",
				    "node %s has no MIG-capable GPU in the planner", req->node);
	if (req->site && (site_id = intern_id(&pl->sites, req->site, false)) < 0)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "site",
				    "site %s has no MIG-capable GPU", req->site);
	tid = intern_id(&pl->tenants, req->tenant, true);
	if (tid < 0)
		return tid;
	if (req->count > N(done)) {
		undo = calloc(req->count, sizeof(*undo));
		if (!undo)
			return -ENOMEM;
	}
	if (req->sites) {
		allowed = calloc(req->n_sites ? req->n_sites : 1, sizeof(*allowed));
		if (!allowed) {
			rc = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < req->n_sites; i++) {
			int id = intern_id(&pl->sites, req->sites[i], false);

			if (id >= 0)
				allowed[n_allowed++] = id;
		}
	}

	/* Eligibility once per request: placing our own never changes it. */
	for (size_t g = 0; g < pl->n_gpus; g++) {
		const struct gpu_hot *gpu = &pl->hot[g];
		bool ok = true;

		pl->elig[g] = ELIG_NO;
		if (pidx[gpu->model] < 0)
			continue;
		pl->elig[g] = ELIG_MODEL;
		if ((node_id >= 0 && gpu->node_id != node_id) ||
		    (site_id >= 0 && gpu->site_id != site_id))
			continue;
		if (req->sites) {
			ok = false;
			for (size_t i = 0; i < n_allowed; i++)
				ok |= allowed[i] == gpu->site_id;
		}
		if (!ok)
			continue;
		pl->elig[g] = ELIG_WHERE;
		if (node_allows(&pl->node_sum[gpu->node_id], tid, req->exclusive))
			pl->elig[g] = ELIG_YES;
	}

	for (placed = 0; placed < req->count; placed++) {
		size_t best_g = SIZE_MAX;
		unsigned int best_score = UINT32_MAX, best_start = 0;
		bool feasible = false;

		/* a full fleet refuses in O(models x masks), not O(GPUs) */
		for (size_t m = 0; m < N(mig_models) && !feasible; m++)
			for (unsigned int mk = 0; pidx[m] >= 0 && mk < MASKS && !feasible; mk++)
				feasible = pl->mask_count[m][mk] && pl->cache[m].best[mk][pidx[m]] >= 0;
		for (size_t g = 0; feasible && g < pl->n_gpus; g++) {
			const struct gpu_hot *h = &pl->hot[g];
			const struct mig_gpu *gpu;
			const struct model_cache *c;
			const struct mig_profile *p;
			unsigned int score;
			int pi, s;

			if (pl->elig[g] != ELIG_YES)
				continue;
			c = &pl->cache[h->model];
			pi = pidx[h->model];
			s = c->best[h->used][pi];
			if (s < 0)
				continue;
			/* loss first (keep large profiles placeable), then best fit */
			score = (unsigned int)c->loss[h->used][pi] * 16u + c->free_slices[h->used];
			if (score >= best_score)
				continue;
			gpu = &pl->gpus[g];
			p = &gpu->model->profiles[pi];
			if (!gpu_fits(gpu, p, (unsigned int)s)) {
				/* count or compute limit: fall back to any fitting start */
				s = -1;
				for (unsigned int k = p->n_starts; k-- > 0;)
					if (gpu_fits(gpu, p, p->starts[k])) {
						s = p->starts[k];
						break;
					}
				if (s < 0)
					continue;
			}
			best_score = score;
			best_g = g;
			best_start = (unsigned int)s;
		}
		if (best_g == SIZE_MAX)
			break;
		{
			struct mig_gpu *gpu = &pl->gpus[best_g];
			const struct mig_profile *p =
				&gpu->model->profiles[pidx[model_index(gpu->model)]];
			struct mig_placement *o = &out[placed];

			gpu_insert(gpu, tid, req->tenant, req->exclusive, p, best_start);
			hot_set_used(pl, best_g, gpu->used);
			node_note(&pl->node_sum[gpu->node_id], tid, req->exclusive);
			undo[placed].g = best_g;
			undo[placed].start = best_start;
			snprintf(o->node, sizeof(o->node), "%s", gpu->node);
			o->gpu = gpu->index;
			snprintf(o->tenant, sizeof(o->tenant), "%s", req->tenant);
			snprintf(o->profile, sizeof(o->profile), "%s", p->name);
			o->start = best_start;
			o->size = p->mem;
		}
	}
	if (placed == req->count) {
		rc = (int)placed;
		goto out;
	}
	/* All or none: take back what this request placed, then explain. */
	for (size_t i = placed; i-- > 0;) {
		struct mig_gpu *gpu = &pl->gpus[undo[i].g];

		for (size_t k = 0; k < gpu->n_inst; k++)
			if (gpu->inst[k].start == undo[i].start) {
				gpu_remove(gpu, k);
				hot_set_used(pl, undo[i].g, gpu->used);
				break;
			}
		node_summarise(pl, gpu->node_id);
	}
	refuse(pl, req, pidx, placed, err);
	rc = -EINVAL;
out:
	if (undo != done)
		free(undo);
	free(allowed);
	return rc;
}

int mig_planner_release(struct mig_planner *pl, const char *node, unsigned int index,
			const char *tenant, unsigned int start, struct loom_err *err)
{
	struct mig_gpu *gpu;
	int rc = planner_prepare(pl);

	if (rc < 0)
		return rc;
	gpu = gpu_find(pl, node ? node : "", index);
	if (!gpu) {
		loom_err_set(err, LOOM_E_NOT_FOUND, "gpu", "no GPU %u on node %s", index,
			     node ? node : "");
		return -ENOENT;
	}
	for (size_t i = 0; i < gpu->n_inst; i++) {
		if (gpu->inst[i].start != start || strcmp(gpu->inst[i].tenant, tenant ? tenant : ""))
			continue;
		gpu_remove(gpu, i);
		hot_set_used(pl, (size_t)(gpu - pl->gpus), gpu->used);
		node_summarise(pl, gpu->node_id);
		return 0;
	}
	loom_err_set(err, LOOM_E_NOT_FOUND, "start",
		     "tenant %s holds no instance at slice %u of %s gpu %u",
		     tenant ? tenant : "", start, gpu->node, index);
	return -ENOENT;
}

/* ---- compaction ---- */

struct compact_search {
	const struct mig_gpu *gpu;
	size_t order[MIG_INSTANCES_MAX];	/* instances, largest first */
	unsigned int cur[MIG_INSTANCES_MAX];	/* start per instance index */
	unsigned int best[MIG_INSTANCES_MAX];
	unsigned int best_value, best_moves;
	const struct model_cache *cache;
};

static void compact_rec(struct compact_search *cs, size_t depth, unsigned int used,
			unsigned int moves)
{
	const struct mig_gpu *gpu = cs->gpu;

	if (moves > cs->best_moves && cs->cache->value[used] < cs->best_value)
		return;
	if (depth == gpu->n_inst) {
		unsigned int v = cs->cache->value[used];

		if (v > cs->best_value || (v == cs->best_value && moves < cs->best_moves)) {
			cs->best_value = v;
			cs->best_moves = moves;
			memcpy(cs->best, cs->cur, sizeof(cs->best));
		}
		return;
	}
	{
		size_t i = cs->order[depth];
		const struct mig_profile *p = gpu->inst[i].profile;

		for (unsigned int k = 0; k < p->n_starts; k++) {
			unsigned int mk = mig_profile_mask(p, p->starts[k]);

			if (used & mk)
				continue;
			cs->cur[i] = p->starts[k];
			compact_rec(cs, depth + 1, used | mk,
				    moves + (p->starts[k] != gpu->inst[i].start));
		}
	}
}

int mig_planner_compact(struct mig_planner *pl, struct mig_move **moves)
{
	struct mig_move *list = NULL;
	size_t n = 0, cap = 0;
	int rc = planner_prepare(pl);

	*moves = NULL;
	if (rc < 0)
		return rc;
	for (size_t g = 0; g < pl->n_gpus; g++) {
		const struct mig_gpu *gpu = &pl->gpus[g];
		struct compact_search cs;

		if (gpu->n_inst == 0)
			continue;
		memset(&cs, 0, sizeof(cs));
		cs.gpu = gpu;
		cs.cache = &pl->cache[model_index(gpu->model)];
		for (size_t i = 0; i < gpu->n_inst; i++) {
			size_t k = i;

			/* insertion sort, largest memory first: prunes early */
			while (k > 0 && gpu->inst[cs.order[k - 1]].profile->mem <
					gpu->inst[i].profile->mem) {
				cs.order[k] = cs.order[k - 1];
				k--;
			}
			cs.order[k] = i;
			cs.best[i] = gpu->inst[i].start;
		}
		cs.best_value = cs.cache->value[gpu->used];
		cs.best_moves = 0;
		compact_rec(&cs, 0, 0, 0);
		for (size_t i = 0; i < gpu->n_inst; i++) {
			struct mig_move *mv;

			if (cs.best[i] == gpu->inst[i].start)
				continue;
			if (ARRAY_GROW(list, cap, n + 1)) {
				free(list);
				return -ENOMEM;
			}
			mv = &list[n++];
			snprintf(mv->node, sizeof(mv->node), "%s", gpu->node);
			mv->gpu = gpu->index;
			snprintf(mv->tenant, sizeof(mv->tenant), "%s", gpu->inst[i].tenant);
			snprintf(mv->profile, sizeof(mv->profile), "%s", gpu->inst[i].profile->name);
			mv->from = gpu->inst[i].start;
			mv->to = cs.best[i];
		}
	}
	*moves = list;
	return (int)n;
}

int mig_planner_apply_moves(struct mig_planner *pl, const struct mig_move *moves,
			    size_t n, struct loom_err *err)
{
	/* Per GPU: take every moved instance out, then put them back. */
	struct mig_instance taken[MIG_INSTANCES_MAX];
	int taken_tid[MIG_INSTANCES_MAX];
	unsigned int to[MIG_INSTANCES_MAX];
	int rc = planner_prepare(pl);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n;) {
		struct mig_gpu *gpu = gpu_find(pl, moves[i].node, moves[i].gpu);
		struct mig_gpu saved;
		size_t k = 0, j;

		if (!gpu)
			return loom_err_set(err, LOOM_E_NOT_FOUND, "moves", "no GPU %u on %s",
					    moves[i].gpu, moves[i].node);
		saved = *gpu;	/* a stale plan leaves the GPU as it was */
		for (j = i; j < n && moves[j].gpu == moves[i].gpu &&
			    !strcmp(moves[j].node, moves[i].node); j++) {
			size_t x;

			for (x = 0; x < gpu->n_inst; x++)
				if (gpu->inst[x].start == moves[j].from &&
				    !strcmp(gpu->inst[x].tenant, moves[j].tenant))
					break;
			if (x == gpu->n_inst || k == MIG_INSTANCES_MAX) {
				*gpu = saved;
				return loom_err_set(err, LOOM_E_CONFLICT, "moves",
						    "the plan is stale: no instance of %s at slice "
						    "%u of %s gpu %u", moves[j].tenant, moves[j].from,
						    moves[j].node, moves[j].gpu);
			}
			taken[k] = gpu->inst[x];
			taken_tid[k] = gpu->tenant_id[x];
			to[k++] = moves[j].to;
			gpu_remove(gpu, x);
		}
		for (size_t x = 0; x < k; x++) {
			if (!gpu_fits(gpu, taken[x].profile, to[x])) {
				*gpu = saved;
				return loom_err_set(err, LOOM_E_CONFLICT, "moves",
						    "the plan is stale: %s@%u does not fit on %s gpu %u",
						    taken[x].profile->name, to[x], gpu->node, gpu->index);
			}
			gpu_insert(gpu, taken_tid[x], taken[x].tenant, taken[x].exclusive,
				   taken[x].profile, to[x]);
		}
		hot_set_used(pl, (size_t)(gpu - pl->gpus), gpu->used);
		i = j;
	}
	return 0;
}

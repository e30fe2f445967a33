/*
 * tests/unit/test_mig.c: the MIG profile tables and the planner (pure).
 * Every profile and start of every table, legal and illegal; seeded random
 * request sequences checked for overlap, limits and isolation after every
 * step; golden pictures of common mixes; refusals; compaction.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tenancy/mig.h"

static struct mig_planner *one_gpu(const char *model)
{
	struct mig_planner *pl = mig_planner_new();
	struct loom_err err = { 0 };

	assert_non_null(pl);
	assert_int_equal(mig_planner_add_gpu(pl, "n1", "s1", 0, model, &err), 0);
	return pl;
}

/* The tables are self-consistent. */
static void test_tables_shape(void **state)
{
	(void)state;
	assert_int_equal(mig_model_count(), 9);
	for (size_t m = 0; m < mig_model_count(); m++) {
		const struct mig_model *mo = mig_model_at(m);

		assert_non_null(mo->source);
		assert_true(mo->n_profiles > 0 && mo->n_profiles <= MIG_PROFILES_MAX);
		assert_ptr_equal(mig_model_find(mo->name), mo);
		for (size_t p = 0; p < mo->n_profiles; p++) {
			const struct mig_profile *pr = &mo->profiles[p];

			assert_true(strlen(pr->name) < MIG_PROFILE_NAME_MAX);
			assert_ptr_equal(mig_profile_find(mo, pr->name), pr);
			assert_true(pr->compute <= mo->compute_slices);
			assert_true(pr->mem <= mo->mem_slices);
			assert_true(pr->max_count >= 1 && pr->max_count <= pr->n_starts);
			for (unsigned int s = 0; s < pr->n_starts; s++) {
				assert_true(pr->starts[s] + pr->mem <= mo->mem_slices);
				if (s)
					assert_true(pr->starts[s] > pr->starts[s - 1]);
			}
		}
	}
	/* spot checks against the guide */
	assert_string_equal(mig_model_find("NVIDIA H100 80GB HBM3")->name, "H100-SXM5-80GB");
	assert_string_equal(mig_model_find("nvidia a30")->name, "A30");
	/* the names NVML reports for the NVL cards and the GB200 */
	assert_string_equal(mig_model_find("NVIDIA H100 NVL")->name, "H100-NVL-94GB");
	assert_string_equal(mig_model_find("NVIDIA H200 NVL")->name, "H200-141GB");
	assert_string_equal(mig_model_find("NVIDIA GB200")->name, "GB200");
	assert_int_equal(mig_profile_find(mig_model_find("NVIDIA H100 NVL"), "3g.47gb")->mem, 4);
	assert_int_equal(mig_profile_find(mig_model_find("NVIDIA GB200"), "1g.47gb")->max_count, 4);
	assert_null(mig_model_find("V100"));
	assert_int_equal(mig_profile_find(mig_model_find("A30"), "2g.12gb")->n_starts, 2);
	assert_int_equal(mig_profile_find(mig_model_find("H200"), "3g.71gb")->starts[1], 4);
	assert_int_equal(mig_profile_find(mig_model_find("B200"), "7g.180gb")->mem, 8);
	assert_int_equal(mig_profile_find(mig_model_find("A100-40GB"), "1g.10gb")->max_count, 4);
	assert_null(mig_profile_find(mig_model_find("A100-40GB"), "1g.10gb+me"));
}

/*
 * Every table, profile by profile, against NVIDIA's MIG User Guide (R580
 * edition, "Supported MIG Profiles": the A30-24GB, A100-SXM4-40GB (and its
 * 80GB names), H100 80GB, H200 141GB and B200 180 GB tables).  mem is the
 * guide's "Fraction of Memory" in memory slices, g its compute slices,
 * n its "Number of Instances Available".  One exception, kept on purpose:
 * the guide's A100-40GB row gives 1g.10gb a memory fraction of 1/8, but
 * the same guide's `nvidia-smi mig -lgipp` example places it (profile 15)
 * as {0,2,4,6}:2, i.e. two slices, as 10 GB of 40 GB and 4 instances imply.
 */
struct guide_row {
	const char *name;
	unsigned int mem, g, n;
};

#define GUIDE_8(g1, g1me, g1x2, g2, g3, g4, g7) {					\
	{ g1, 1, 1, 7 }, { g1me, 1, 1, 1 }, { g1x2, 2, 1, 4 }, { g2, 2, 2, 3 },		\
	{ g3, 4, 3, 2 }, { g4, 4, 4, 1 }, { g7, 8, 7, 1 } }

static const struct {
	const char *model;
	struct guide_row rows[7];
	size_t n;
} guide[] = {
	{ "A100-40GB", GUIDE_8("1g.5gb", "1g.5gb+me", "1g.10gb", "2g.10gb", "3g.20gb",
			       "4g.20gb", "7g.40gb"), 7 },
	{ "A100-80GB", GUIDE_8("1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb",
			       "4g.40gb", "7g.80gb"), 7 },
	{ "A30", { { "1g.6gb", 1, 1, 4 }, { "1g.6gb+me", 1, 1, 1 }, { "2g.12gb", 2, 2, 2 },
		   { "2g.12gb+me", 2, 2, 1 }, { "4g.24gb", 4, 4, 1 } }, 5 },
	{ "H100-SXM5-80GB", GUIDE_8("1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb",
				    "4g.40gb", "7g.80gb"), 7 },
	{ "H100-PCIE-80GB", GUIDE_8("1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb",
				    "4g.40gb", "7g.80gb"), 7 },
	{ "H200-141GB", GUIDE_8("1g.18gb", "1g.18gb+me", "1g.35gb", "2g.35gb", "3g.71gb",
				"4g.71gb", "7g.141gb"), 7 },
	{ "B200", GUIDE_8("1g.23gb", "1g.23gb+me", "1g.45gb", "2g.45gb", "3g.90gb",
			  "4g.90gb", "7g.180gb"), 7 },
	/* H100 fractions and counts; the names NVIDIA's mig-parted gives the 94 GB H100 NVL */
	{ "H100-NVL-94GB", GUIDE_8("1g.12gb", "1g.12gb+me", "1g.24gb", "2g.24gb", "3g.47gb",
				   "4g.47gb", "7g.94gb"), 7 },
	/* B200 fractions and counts; mig-parted's GB200 names (the +me one inferred) */
	{ "GB200", GUIDE_8("1g.24gb", "1g.24gb+me", "1g.47gb", "2g.47gb", "3g.95gb",
			   "4g.95gb", "7g.189gb"), 7 },
};

static void test_tables_against_guide(void **state)
{
	(void)state;
	assert_int_equal(sizeof(guide) / sizeof(guide[0]), mig_model_count());
	for (size_t m = 0; m < sizeof(guide) / sizeof(guide[0]); m++) {
		const struct mig_model *mo = mig_model_find(guide[m].model);

		assert_non_null(mo);
		assert_int_equal(mo->n_profiles, guide[m].n);
		for (size_t r = 0; r < guide[m].n; r++) {
			const struct guide_row *row = &guide[m].rows[r];
			const struct mig_profile *pr = mig_profile_find(mo, row->name);

			if (!pr)
				fail_msg("%s lacks %s", mo->name, row->name);
			assert_int_equal(pr->mem, row->mem);
			assert_int_equal(pr->compute, row->g);
			assert_int_equal(pr->max_count, row->n);
		}
	}
}

/*
 * Starts on the 8-slice models against the guide's own `nvidia-smi mig
 * -lgipp` example (A100): 1g {0..6}:1, 1g+me {0..6}:1, 1g with two memory
 * slices {0,2,4,6}:2, 2g {0,2,4}:2, 3g {0,4}:4, 4g {0}:4, 7g {0}:8.  The
 * guide gives H100, H200 and B200 placements only as diagrams; that their
 * starts are the A100's is an inference from the identical fractions (see
 * docs/mig.md).
 */
static void test_starts_against_guide(void **state)
{
	static const struct {
		unsigned int g, mem, mask;
	} lgipp[] = {
		{ 1, 1, 0x7f }, { 1, 2, 0x55 }, { 2, 2, 0x15 }, { 3, 4, 0x11 }, { 4, 4, 0x01 },
		{ 7, 8, 0x01 },
	};

	(void)state;
	for (size_t m = 0; m < mig_model_count(); m++) {
		const struct mig_model *mo = mig_model_at(m);

		if (mo->mem_slices != 8)
			continue;
		for (size_t p = 0; p < mo->n_profiles; p++) {
			const struct mig_profile *pr = &mo->profiles[p];
			unsigned int mask = 0;
			bool found = false;

			for (unsigned int s = 0; s < pr->n_starts; s++)
				mask |= 1u << pr->starts[s];
			for (size_t k = 0; k < sizeof(lgipp) / sizeof(lgipp[0]); k++) {
				if (lgipp[k].g != pr->compute || lgipp[k].mem != pr->mem)
					continue;
				found = true;
				if (mask != lgipp[k].mask)
					fail_msg("%s %s starts 0x%x, guide 0x%x", mo->name, pr->name,
						 mask, lgipp[k].mask);
			}
			assert_true(found);
		}
	}
}

/* Every profile at every start 0..9 on an empty GPU: accepted iff legal. */
static void test_every_placement(void **state)
{
	(void)state;
	for (size_t m = 0; m < mig_model_count(); m++) {
		const struct mig_model *mo = mig_model_at(m);

		for (size_t p = 0; p < mo->n_profiles; p++) {
			const struct mig_profile *pr = &mo->profiles[p];

			for (unsigned int s = 0; s < 10; s++) {
				struct mig_planner *pl = one_gpu(mo->name);
				struct loom_err err = { 0 };
				bool legal = mig_profile_start_legal(pr, s);
				int rc = mig_planner_add_instance(pl, "n1", 0, "t", false,
								  pr->name, s, &err);

				if (legal)
					assert_int_equal(rc, 0);
				else {
					assert_int_equal(rc, -EINVAL);
					assert_int_equal(err.code, LOOM_E_CONFLICT);
				}
				mig_planner_free(&pl);
			}
		}
	}
}

/* Instance limits: max_count fit (all at once), one more never does. */
static void test_every_limit(void **state)
{
	(void)state;
	for (size_t m = 0; m < mig_model_count(); m++) {
		const struct mig_model *mo = mig_model_at(m);

		for (size_t p = 0; p < mo->n_profiles; p++) {
			const struct mig_profile *pr = &mo->profiles[p];
			struct mig_planner *pl = one_gpu(mo->name);
			struct mig_placement out[MIG_INSTANCES_MAX + 1];
			struct mig_request req = { .tenant = "t", .profile = pr->name,
						   .count = pr->max_count };
			struct loom_err err = { 0 };

			assert_int_equal(mig_planner_place(pl, &req, out, &err), (int)pr->max_count);
			req.count = 1;
			assert_int_equal(mig_planner_place(pl, &req, out, &err), -EINVAL);
			assert_int_equal(err.code, LOOM_E_EXHAUSTED);
			mig_planner_free(&pl);
		}
	}
}

/* ---- invariants over a whole planner ---- */
static void check_invariants(struct mig_planner *pl)
{
	for (size_t g = 0; g < mig_planner_gpu_count(pl); g++) {
		const struct mig_gpu *gpu = mig_planner_gpu_at(pl, g);
		unsigned int used = 0, compute = 0;

		assert_true(gpu->n_inst <= MIG_INSTANCES_MAX);
		for (size_t i = 0; i < gpu->n_inst; i++) {
			const struct mig_instance *in = &gpu->inst[i];
			unsigned int mk = mig_profile_mask(in->profile, in->start);
			unsigned int same = 0;

			assert_ptr_equal(mig_profile_find(gpu->model, in->profile->name), in->profile);
			assert_true(mig_profile_start_legal(in->profile, in->start));
			assert_int_equal(used & mk, 0);			/* no overlap */
			assert_int_equal(mk >> gpu->model->mem_slices, 0);	/* inside the GPU */
			used |= mk;
			compute += in->profile->compute;
			for (size_t k = 0; k < gpu->n_inst; k++)
				same += gpu->inst[k].profile == in->profile;
			assert_true(same <= in->profile->max_count);
		}
		assert_int_equal(used, gpu->used);
		assert_true(compute <= gpu->model->compute_slices);
	}
	/* a strict/private tenant's node holds nobody else */
	for (size_t g = 0; g < mig_planner_gpu_count(pl); g++) {
		const struct mig_gpu *a = mig_planner_gpu_at(pl, g);

		for (size_t i = 0; i < a->n_inst; i++) {
			if (!a->inst[i].exclusive)
				continue;
			for (size_t h = 0; h < mig_planner_gpu_count(pl); h++) {
				const struct mig_gpu *b = mig_planner_gpu_at(pl, h);

				if (strcmp(a->node, b->node))
					continue;
				for (size_t k = 0; k < b->n_inst; k++)
					assert_string_equal(b->inst[k].tenant, a->inst[i].tenant);
			}
		}
	}
}

static const char *const tenants[] = { "acme", "beta", "gamma", "delta", "vault", "secret" };
#define N_TENANTS 6
static bool tenant_excl(size_t t) { return t >= 4; }	/* vault, secret: strict */

static void test_random_sequences(void **state)
{
	static const char *const models[] = { "H100-SXM5-80GB", "A100-40GB", "A30", "H200",
					      "B200", "A100-80GB", "H100-PCIE-80GB" };
	(void)state;
	for (unsigned int seed = 1; seed <= 20; seed++) {
		struct mig_planner *pl = mig_planner_new();
		struct loom_err err = { 0 };
		unsigned int rng = seed;
		unsigned int placed = 0, refused = 0;

		for (unsigned int n = 0; n < 6; n++)
			for (unsigned int i = 0; i < 3; i++) {
				char node[16];

				snprintf(node, sizeof(node), "node%u", n);
				assert_int_equal(mig_planner_add_gpu(pl, node, n < 3 ? "s1" : "s2", i,
								     models[(n + i * 2) % 7], &err), 0);
			}
		for (unsigned int step = 0; step < 400; step++) {
			rng = rng * 1103515245u + 12345u;
			unsigned int r = rng >> 8;

			if (r % 4 == 0) {
				/* release a random instance */
				size_t g = (r >> 4) % mig_planner_gpu_count(pl);
				const struct mig_gpu *gpu = mig_planner_gpu_at(pl, g);

				if (gpu->n_inst) {
					const struct mig_instance *in = &gpu->inst[(r >> 12) % gpu->n_inst];
					char node[LOOM_NAME_MAX], tenant[LOOM_NAME_MAX];
					unsigned int idx = gpu->index, start = in->start;

					snprintf(node, sizeof(node), "%s", gpu->node);
					snprintf(tenant, sizeof(tenant), "%s", in->tenant);
					assert_int_equal(mig_planner_release(pl, node, idx, tenant,
									     start, &err), 0);
				}
			} else {
				const struct mig_model *mo = mig_model_at((r >> 3) % mig_model_count());
				size_t t = (r >> 7) % N_TENANTS;
				struct mig_request req = {
					.tenant = tenants[t], .exclusive = tenant_excl(t),
					.profile = mo->profiles[(r >> 11) % mo->n_profiles].name,
					.count = 1 + (r >> 15) % 3,
				};
				struct mig_placement out[3];
				int rc;

				memset(&err, 0, sizeof(err));
				rc = mig_planner_place(pl, &req, out, &err);
				if (rc > 0) {
					placed += (unsigned int)rc;
					for (int k = 0; k < rc; k++)
						assert_string_equal(out[k].tenant, req.tenant);
				} else {
					assert_int_equal(rc, -EINVAL);
					assert_int_not_equal(err.code, 0);
					refused++;
				}
			}
			check_invariants(pl);
		}
		assert_true(placed > 50);
		assert_true(refused > 0);
		mig_planner_free(&pl);
	}
}

/* ---- golden pictures ---- */
static void golden_check(const char *name, const char *got)
{
	const char *top = getenv("top_srcdir");
	char path[512], want[4096];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/tests/golden/mig/%s", top ? top : ".", name);
	if (getenv("MIG_GOLDEN_WRITE")) {
		f = fopen(path, "w");
		assert_non_null(f);
		fputs(got, f);
		fclose(f);
	}
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(want, 1, sizeof(want) - 1, f);
	want[n] = '\0';
	fclose(f);
	assert_string_equal(got, want);
}

static void place_ok(struct mig_planner *pl, const char *tenant, const char *profile,
		     unsigned int count)
{
	struct mig_request req = { .tenant = tenant, .profile = profile, .count = count };
	struct mig_placement out[8];
	struct loom_err err = { 0 };

	assert_int_equal(mig_planner_place(pl, &req, out, &err), (int)count);
}

static void test_golden_mixes(void **state)
{
	char pic[1024], all[4096];
	struct mig_planner *pl;

	(void)state;
	/* 3g+2g+1g+1g on H100: the guide's classic mix fills the GPU */
	pl = one_gpu("H100-SXM5-80GB");
	place_ok(pl, "acme", "3g.40gb", 1);
	place_ok(pl, "beta", "2g.20gb", 1);
	place_ok(pl, "acme", "1g.10gb", 1);
	place_ok(pl, "gamma", "1g.10gb", 1);
	mig_gpu_picture(mig_planner_gpu_at(pl, 0), pic, sizeof(pic));
	golden_check("h100-3g2g1g1g.txt", pic);
	mig_planner_free(&pl);

	/* A30: 2g + 1g + 1g+me */
	pl = one_gpu("A30");
	place_ok(pl, "acme", "1g.6gb", 1);
	place_ok(pl, "beta", "2g.12gb", 1);
	place_ok(pl, "beta", "1g.6gb+me", 1);
	mig_gpu_picture(mig_planner_gpu_at(pl, 0), pic, sizeof(pic));
	golden_check("a30-mix.txt", pic);
	mig_planner_free(&pl);

	/* A100 40GB, two GPUs: small ones pack onto one GPU, leaving 7g room */
	pl = one_gpu("A100-40GB");
	{
		struct loom_err err = { 0 };

		assert_int_equal(mig_planner_add_gpu(pl, "n1", "s1", 1, "A100-40GB", &err), 0);
	}
	place_ok(pl, "acme", "1g.5gb", 3);
	place_ok(pl, "beta", "2g.10gb", 1);
	place_ok(pl, "gamma", "7g.40gb", 1);
	all[0] = '\0';
	for (size_t g = 0; g < 2; g++) {
		mig_gpu_picture(mig_planner_gpu_at(pl, g), pic, sizeof(pic));
		strcat(all, pic);
	}
	golden_check("a100-40-fill.txt", all);
	mig_planner_free(&pl);
}

static void test_refusals(void **state)
{
	struct mig_planner *pl = mig_planner_new();
	struct mig_placement out[8];
	struct loom_err err = { 0 };
	const char *eu[] = { "eu" };
	struct mig_request req = { .tenant = "acme", .profile = "3g.40gb", .count = 1 };

	(void)state;
	assert_int_equal(mig_planner_add_gpu(pl, "n1", "us", 0, "H100-SXM5-80GB", &err), 0);
	assert_int_equal(mig_planner_add_gpu(pl, "n2", "eu", 0, "A30", &err), 0);
	assert_int_equal(mig_planner_add_gpu(pl, "n1", "us", 0, "A30", &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_EXISTS);

	/* unknown profile */
	memset(&err, 0, sizeof(err));
	req.profile = "5g.50gb";
	assert_int_equal(mig_planner_place(pl, &req, out, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_NOT_FOUND);
	assert_string_equal(err.field, "profile");

	/* residency: the H100 is in "us", the tenant may only use "eu" */
	memset(&err, 0, sizeof(err));
	req.profile = "3g.40gb";
	req.sites = eu;
	req.n_sites = 1;
	assert_int_equal(mig_planner_place(pl, &req, out, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_POLICY);
	assert_string_equal(err.field, "profile");
	assert_non_null(strstr(err.msg, "none of tenant acme's allowed sites (eu) has a GPU offering "
				       "3g.40gb; 1 GPU elsewhere does"));

	/* residency on a named node: its site and the tenant's, not "not found" */
	memset(&err, 0, sizeof(err));
	req.node = "n1";
	assert_int_equal(mig_planner_place(pl, &req, out, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_POLICY);
	assert_string_equal(err.field, "node");
	assert_non_null(strstr(err.msg, "node n1 is in site us, and tenant acme may only use site eu"));
	req.node = NULL;
	req.sites = NULL;

	/* a node without a GPU offering the profile: said for that node */
	memset(&err, 0, sizeof(err));
	req.node = "n2";
	assert_int_equal(mig_planner_place(pl, &req, out, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_NOT_FOUND);
	assert_non_null(strstr(err.msg, "no GPU of a model offering 3g.40gb on node n2 (1 elsewhere)"));
	req.node = NULL;

	/* isolation: a strict tenant never joins a node holding others */
	memset(&err, 0, sizeof(err));
	assert_int_equal(mig_planner_add_instance(pl, "n1", 0, "beta", false, "1g.10gb", 2, &err), 0);
	assert_int_equal(mig_planner_add_instance(pl, "n1", 0, "beta", false, "1g.10gb", 6, &err), 0);
	req.tenant = "vault";
	req.exclusive = true;
	assert_int_equal(mig_planner_place(pl, &req, out, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_POLICY);
	assert_non_null(strstr(err.msg, "isolation"));

	/* fragmentation: 6 slices free, but 1g@2 and 1g@6 block both 3g starts */
	memset(&err, 0, sizeof(err));
	req.tenant = "acme";
	req.exclusive = false;
	assert_int_equal(mig_planner_place(pl, &req, out, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_EXHAUSTED);
	assert_non_null(strstr(err.msg, "fragmentation"));
	assert_non_null(strstr(err.msg, "n1 gpu0 [..A...B.]"));

	/* a strict tenant's node then refuses a soft tenant */
	memset(&err, 0, sizeof(err));
	req.tenant = "vault";
	req.exclusive = true;
	req.profile = "2g.12gb";
	assert_int_equal(mig_planner_place(pl, &req, out, &err), 1);
	assert_string_equal(out[0].node, "n2");
	req.tenant = "acme";
	req.exclusive = false;
	req.profile = "1g.6gb";
	assert_int_equal(mig_planner_place(pl, &req, out, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_POLICY);

	/* unknown node */
	memset(&err, 0, sizeof(err));
	req.node = "n9";
	assert_int_equal(mig_planner_place(pl, &req, out, &err), -EINVAL);
	assert_string_equal(err.field, "node");
	mig_planner_free(&pl);
	assert_null(pl);
}

/* One +me instance per GPU: said as such, not as fragmentation. */
static void test_media_limit(void **state)
{
	struct mig_planner *pl = one_gpu("H100-SXM5-80GB");
	struct mig_placement out[2];
	struct loom_err err = { 0 };
	struct mig_request req = { .tenant = "acme", .profile = "1g.10gb+me", .count = 2 };

	(void)state;
	assert_int_equal(mig_planner_place(pl, &req, out, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_EXHAUSTED);
	assert_string_equal(err.field, "count");
	assert_non_null(strstr(err.msg, "one 1g.10gb+me instance per GPU"));
	assert_non_null(strstr(err.msg, "the 1 eligible GPU in the inventory takes 1 more, 2 asked"));
	assert_null(strstr(err.msg, "fragmentation"));
	assert_int_equal(mig_planner_gpu_at(pl, 0)->n_inst, 0);	/* all or none */
	req.count = 1;
	assert_int_equal(mig_planner_place(pl, &req, out, &err), 1);
	memset(&err, 0, sizeof(err));
	assert_int_equal(mig_planner_place(pl, &req, out, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "one 1g.10gb+me instance per GPU"));
	assert_non_null(strstr(err.msg, "takes 0 more, 1 asked"));
	mig_planner_free(&pl);
}

/* All or none, and existing instances never move. */
static void test_all_or_none_no_moves(void **state)
{
	struct mig_planner *pl = one_gpu("H100-SXM5-80GB");
	struct mig_placement out[8];
	struct loom_err err = { 0 };
	struct mig_request req = { .tenant = "acme", .profile = "1g.10gb", .count = 7 };
	const struct mig_gpu *gpu;

	(void)state;
	assert_int_equal(mig_planner_add_instance(pl, "n1", 0, "beta", false, "2g.20gb", 2, &err), 0);
	assert_int_equal(mig_planner_place(pl, &req, out, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_EXHAUSTED);
	assert_non_null(strstr(err.msg, "capacity"));
	gpu = mig_planner_gpu_at(pl, 0);
	assert_int_equal(gpu->n_inst, 1);	/* nothing half-placed */
	req.count = 5;
	assert_int_equal(mig_planner_place(pl, &req, out, &err), 5);
	gpu = mig_planner_gpu_at(pl, 0);
	assert_string_equal(gpu->inst[2].tenant, "beta");
	assert_int_equal(gpu->inst[2].start, 2);
	assert_int_equal(mig_planner_release(pl, "n1", 0, "beta", 3, &err), -ENOENT);
	assert_int_equal(mig_planner_release(pl, "n1", 0, "beta", 2, &err), 0);
	mig_planner_free(&pl);
}

/* node, site and residency filters pick where, best fit picks among them */
static void test_filters(void **state)
{
	struct mig_planner *pl = mig_planner_new();
	struct mig_placement out[4];
	struct loom_err err = { 0 };
	const char *eu[] = { "eu", "nowhere" };
	struct mig_request req = { .tenant = "acme", .profile = "1g.10gb", .count = 1 };

	(void)state;
	assert_int_equal(mig_planner_add_gpu(pl, "n2", "eu", 0, "H100-SXM5-80GB", &err), 0);
	assert_int_equal(mig_planner_add_gpu(pl, "n1", "us", 1, "H100-PCIE-80GB", &err), 0);
	assert_int_equal(mig_planner_add_gpu(pl, "n1", "us", 0, "H100-SXM5-80GB", &err), 0);
	req.node = "n2";
	assert_int_equal(mig_planner_place(pl, &req, out, &err), 1);
	assert_string_equal(out[0].node, "n2");
	assert_int_equal(out[0].start, 6);	/* small ones from the top */
	req.node = NULL;
	req.site = "us";
	assert_int_equal(mig_planner_place(pl, &req, out, &err), 1);
	assert_string_equal(out[0].node, "n1");
	assert_int_equal(out[0].gpu, 0);	/* node order, then index */
	req.site = NULL;
	req.sites = eu;
	req.n_sites = 2;
	req.count = 3;
	/* best fit: the used eu GPU takes all three */
	assert_int_equal(mig_planner_place(pl, &req, out, &err), 3);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(out[i].node, "n2");
		assert_int_equal(out[i].size, 1);
		assert_string_equal(out[i].profile, "1g.10gb");
	}
	/* an unused GPU gets the next one only when the used ones are full */
	assert_int_equal(mig_planner_gpu_find(pl, "n1", 1)->n_inst, 0);
	check_invariants(pl);
	mig_planner_free(&pl);
}

static void test_compaction(void **state)
{
	struct mig_planner *pl = one_gpu("H100-SXM5-80GB");
	struct mig_placement out[2];
	struct mig_move *moves = NULL;
	struct loom_err err = { 0 };
	struct mig_request req = { .tenant = "gamma", .profile = "3g.40gb", .count = 1 };
	int n;

	(void)state;
	/* 1g@0 and 1g@4: neither 3g start is free */
	assert_int_equal(mig_planner_add_instance(pl, "n1", 0, "acme", false, "1g.10gb", 0, &err), 0);
	assert_int_equal(mig_planner_add_instance(pl, "n1", 0, "beta", false, "1g.10gb", 4, &err), 0);
	assert_int_equal(mig_planner_place(pl, &req, out, &err), -EINVAL);
	n = mig_planner_compact(pl, &moves);
	assert_int_equal(n, 1);		/* one move frees a 3g start */
	assert_int_equal(mig_planner_gpu_at(pl, 0)->n_inst, 2);	/* plan only */
	assert_int_equal(mig_planner_gpu_at(pl, 0)->inst[0].start, 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(mig_planner_apply_moves(pl, moves, (size_t)n, &err), 0);
	free(moves);
	assert_int_equal(mig_planner_place(pl, &req, out, &err), 1);
	/* 3g@0 + 1g@4,5 leaves only 1g room; 3g@4 + 1g@0,1 leaves a 2g */
	n = mig_planner_compact(pl, &moves);
	assert_int_equal(n, 3);
	assert_int_equal(mig_planner_apply_moves(pl, moves, (size_t)n, &err), 0);
	free(moves);
	req.profile = "2g.20gb";
	assert_int_equal(mig_planner_place(pl, &req, out, &err), 1);
	/* compaction is idempotent: a compact GPU needs no moves */
	assert_int_equal(mig_planner_compact(pl, &moves), 0);
	assert_null(moves);
	check_invariants(pl);
	mig_planner_free(&pl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables_shape),
		cmocka_unit_test(test_tables_against_guide),
		cmocka_unit_test(test_starts_against_guide),
		cmocka_unit_test(test_every_placement),
		cmocka_unit_test(test_every_limit),
		cmocka_unit_test(test_random_sequences),
		cmocka_unit_test(test_golden_mixes),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_media_limit),
		cmocka_unit_test(test_all_or_none_no_moves),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_compaction),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

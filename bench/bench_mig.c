/*
 * bench/bench_mig.c: the MIG planner at scale and against exhaustive search.
 *
 * 1. Plan 10,000 instance requests over 1,000 GPUs (125 nodes x 8, mixed
 *    models, 4 sites, 200 tenants of which 10% strict): wall time, the
 *    placement rate and the memory slices used, against a first-fit baseline
 *    (first GPU in node order, lowest free legal start) given the same stream.
 * 2. Small cases (3 GPUs with random existing instances): every request the
 *    planner refuses is checked with an exhaustive search over all placements
 *    of its N instances; any request that search places is a failure.
 * 3. Small sequences (2 GPUs, 6 requests): how many the planner places
 *    against the best any choice of placements could have placed.
 *
 * Usage: bench_mig [-s SEED]
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/monotime.h"
#include "tenancy/mig.h"

static unsigned int rng_state = 1;

static unsigned int rnd(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return (rng_state >> 8) & 0xffffff;
}

/* the request stream: mostly small profiles, as tenants ask for them */
static const char *pick_size(void)
{
	unsigned int r = rnd() % 100;

	if (r < 50)
		return "1g";
	if (r < 55)
		return "1g2";
	if (r < 75)
		return "2g";
	if (r < 90)
		return "3g";
	if (r < 95)
		return "4g";
	return "7g";
}

/* the profile of a size on a model: index into the 8-slice family's order */
static const struct mig_profile *profile_of(const struct mig_model *m, const char *size)
{
	static const char *const order[] = { "1g", "1g+me", "1g2", "2g", "3g", "4g", "7g" };

	if (m->mem_slices == 4) {	/* A30: 1g, 1g+me, 2g, 2g+me, 4g */
		if (!strcmp(size, "1g") || !strcmp(size, "1g2"))
			return &m->profiles[0];
		if (!strcmp(size, "2g"))
			return &m->profiles[2];
		return &m->profiles[4];
	}
	for (size_t i = 0; i < 7; i++)
		if (!strcmp(order[i], size))
			return &m->profiles[i];
	return NULL;
}

struct req {
	char tenant[16];
	bool excl;
	const char *profile;
};

#define N_GPUS 1000
#define N_REQ 10000
#ifndef LIFE
#define LIFE 6000
#endif

static const char *const fleet_models[] = { "H100-SXM5-80GB", "H100-SXM5-80GB", "H100-SXM5-80GB",
					    "A100-80GB", "H200-141GB", "B200", "H100-PCIE-80GB",
					    "H100-SXM5-80GB" };

/* ---- first-fit baseline over the same fleet and stream ---- */
struct ff_gpu {
	const struct mig_model *m;
	unsigned int used, compute;
	int sole;	/* -1 empty */
	bool excl, mixed;
	unsigned int count[MIG_PROFILES_MAX];
};

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Each request lives `life` requests, then is released (if it was placed). */
struct stream {
	struct req r[N_REQ];
	unsigned int life[N_REQ];
	int due_head[N_REQ], due_next[N_REQ];	/* requests released at step r */
};

struct ff_place {
	int gpu;	/* -1: refused */
	const struct mig_profile *p;
	unsigned int start;
};

static unsigned int ff_run(const struct stream *st, unsigned int *large, unsigned int *slices,
			   double *secs)
{
	static struct ff_gpu g[N_GPUS];
	static struct ff_place where[N_REQ];
	static int node_sole[N_GPUS / 8];
	static unsigned int node_inst[N_GPUS / 8];
	static bool node_excl[N_GPUS / 8];
	unsigned int placed = 0;
	double t0 = cpu_now();

	memset(g, 0, sizeof(g));
	for (size_t i = 0; i < N_GPUS; i++)
		g[i].m = mig_model_find(fleet_models[(i / 8) % 8]);
	for (size_t i = 0; i < N_GPUS / 8; i++) {
		node_sole[i] = -1;
		node_inst[i] = 0;
		node_excl[i] = false;
	}
	*large = 0;
	*slices = 0;
	for (size_t r = 0; r < N_REQ; r++) {
		int tid = atoi(st->r[r].tenant + 1);

		/* releases due now */
		for (int qi = st->due_head[r]; qi >= 0; qi = st->due_next[qi]) {
			size_t q = (size_t)qi, nd;

			if (where[q].gpu < 0)
				continue;
			nd = (size_t)where[q].gpu / 8;
			g[where[q].gpu].used &= ~mig_profile_mask(where[q].p, where[q].start);
			g[where[q].gpu].compute -= where[q].p->compute;
			g[where[q].gpu].count[where[q].p - g[where[q].gpu].m->profiles]--;
			if (--node_inst[nd] == 0) {
				node_sole[nd] = -1;
				node_excl[nd] = false;
			}
		}
		where[r].gpu = -1;
		for (size_t i = 0; i < N_GPUS && where[r].gpu < 0; i++) {
			size_t nd = i / 8;
			const struct mig_profile *p = mig_profile_find(g[i].m, st->r[r].profile);

			if (!p)
				continue;
			if (node_sole[nd] != -1 && node_sole[nd] != tid &&
			    (st->r[r].excl || node_excl[nd]))
				continue;
			if (g[i].compute + p->compute > g[i].m->compute_slices ||
			    g[i].count[p - g[i].m->profiles] >= p->max_count)
				continue;
			for (unsigned int s = 0; s < p->n_starts; s++) {
				unsigned int mk = mig_profile_mask(p, p->starts[s]);

				if (g[i].used & mk)
					continue;
				g[i].used |= mk;
				g[i].compute += p->compute;
				g[i].count[p - g[i].m->profiles]++;
				if (node_sole[nd] == -1)
					node_sole[nd] = tid;
				else if (node_sole[nd] != tid)
					node_sole[nd] = -2;
				node_inst[nd]++;
				node_excl[nd] |= st->r[r].excl;
				where[r] = (struct ff_place){ (int)i, p, p->starts[s] };
				*large += p->mem >= 4;
				*slices += p->mem;
				placed++;
				break;
			}
		}
	}
	*secs = cpu_now() - t0;
	return placed;
}

struct run_result {
	unsigned int placed, slices, cap, frag, pol, large_req, large_placed;
	double wall, cpu;
};

static void planner_run(const struct stream *st, struct run_result *res)
{
	static struct mig_placement where[N_REQ];
	static bool ok[N_REQ];
	struct mig_planner *pl = mig_planner_new();
	struct loom_err err = { 0 };
	double t0, c0;

	memset(res, 0, sizeof(*res));
	for (size_t i = 0; i < N_GPUS; i++) {
		char node[16], site[8];
		const struct mig_model *m = mig_model_find(fleet_models[(i / 8) % 8]);

		snprintf(node, sizeof(node), "gpu-node%03zu", i / 8);
		snprintf(site, sizeof(site), "site%zu", (i / 8) % 4);
		if (mig_planner_add_gpu(pl, node, site, (unsigned int)(i % 8), m->name, &err) < 0) {
			fprintf(stderr, "add_gpu: %s\n", err.msg);
			exit(1);
		}
	}
	mig_planner_gpu_at(pl, 0);	/* sort once, outside the timing */
	t0 = mono_s();
	c0 = cpu_now();
	for (size_t r = 0; r < N_REQ; r++) {
		struct mig_request req = { .tenant = st->r[r].tenant, .exclusive = st->r[r].excl,
					   .profile = st->r[r].profile, .count = 1 };
		bool large = st->r[r].profile[0] >= '3';	/* 3g, 4g, 7g: 4+ memory slices */
		int rc;

		for (int q = st->due_head[r]; q >= 0; q = st->due_next[q])
			if (ok[q])
				mig_planner_release(pl, where[q].node, where[q].gpu, where[q].tenant,
						    where[q].start, &err);
		memset(&err, 0, sizeof(err));
		rc = mig_planner_place(pl, &req, &where[r], &err);
		ok[r] = rc == 1;
		res->large_req += large;
		if (rc == 1) {
			res->placed++;
			res->slices += where[r].size;
			res->large_placed += large;
		} else if (err.code == LOOM_E_POLICY) {
			res->pol++;
		} else if (strstr(err.msg, "fragmentation")) {
			res->frag++;
		} else {
			res->cap++;
		}
	}
	res->wall = mono_s() - t0;
	res->cpu = cpu_now() - c0;
	mig_planner_free(&pl);
}

static void bench_scale(void)
{
	static struct stream st;
	struct run_result res, best;
	unsigned int total_slices = 0, ff_slices = 0, ff_large = 0, ff_placed = 0;
	double ff_t = 1e9;

	for (size_t i = 0; i < N_GPUS; i++)
		total_slices += mig_model_find(fleet_models[(i / 8) % 8])->mem_slices;
	for (size_t r = 0; r < N_REQ; r++) {
		unsigned int tn = rnd() % 200;
		const struct mig_model *m = mig_model_find(fleet_models[rnd() % 8]);
		const struct mig_profile *p = profile_of(m, pick_size());

		snprintf(st.r[r].tenant, sizeof(st.r[r].tenant), "t%u", tn);
		st.r[r].excl = tn % 10 == 0;
		st.r[r].profile = p ? p->name : "1g.10gb";
		st.life[r] = 1 + rnd() % LIFE;
	}
	for (size_t r = 0; r < N_REQ; r++)
		st.due_head[r] = -1;
	for (size_t r = N_REQ; r-- > 0;)
		if (r + st.life[r] < N_REQ) {
			st.due_next[r] = st.due_head[r + st.life[r]];
			st.due_head[r + st.life[r]] = (int)r;
		}
	memset(&best, 0, sizeof(best));
	best.wall = best.cpu = 1e9;
	for (int run = 0; run < 5; run++) {
		planner_run(&st, &res);
		if (res.cpu < best.cpu)
			best = res;
	}
	for (int run = 0; run < 3; run++) {
		double t;

		ff_placed = ff_run(&st, &ff_large, &ff_slices, &t);
		if (t < ff_t)
			ff_t = t;
	}
	printf("scale: %d requests (each released after 1-%d further requests) over %d GPUs "
	       "(%u memory slices); best of 5 runs\n", N_REQ, LIFE, N_GPUS, total_slices);
	printf("  planner:   %.1f ms CPU (%.1f ms wall, %.2f us/request incl. releases), placed %u "
	       "(%.1f%%), memory slices granted %u, 3g and larger placed %u of %u; refused: %u "
	       "capacity, %u fragmentation, %u isolation\n",
	       best.cpu * 1e3, best.wall * 1e3, best.cpu * 1e6 / N_REQ, best.placed,
	       100.0 * best.placed / N_REQ, best.slices, best.large_placed, best.large_req,
	       best.cap, best.frag, best.pol);
	printf("  first-fit: %.1f ms CPU, placed %u (%.1f%%), memory slices granted %u, "
	       "3g and larger placed %u\n",
	       ff_t * 1e3, ff_placed, 100.0 * ff_placed / N_REQ, ff_slices, ff_large);
	printf("  ratio planner/first-fit: placed x%.3f, slices x%.3f, 3g+ x%.3f; CPU time x%.2f\n",
	       (double)best.placed / ff_placed, (double)best.slices / ff_slices,
	       (double)best.large_placed / ff_large, best.cpu / ff_t);
}

/* ---- exhaustive search on small cases ---- */
struct ex_gpu {
	const struct mig_model *m;
	int node;
	unsigned int used, compute;
	unsigned int count[MIG_PROFILES_MAX];
	int tenants[MIG_INSTANCES_MAX];
	bool excl[MIG_INSTANCES_MAX];
	size_t n;
};

static bool ex_node_ok(const struct ex_gpu *g, size_t n_gpus, int node, int tid, bool excl)
{
	for (size_t i = 0; i < n_gpus; i++) {
		if (g[i].node != node)
			continue;
		for (size_t k = 0; k < g[i].n; k++)
			if (g[i].tenants[k] != tid && (excl || g[i].excl[k]))
				return false;
	}
	return true;
}

/* Can @left more instances of @pname be placed for tenant @tid? */
static bool ex_search(struct ex_gpu *g, size_t n_gpus, const char *pname, int tid, bool excl,
		      unsigned int left)
{
	if (!left)
		return true;
	for (size_t i = 0; i < n_gpus; i++) {
		const struct mig_profile *p = mig_profile_find(g[i].m, pname);
		size_t pi;

		if (!p || !ex_node_ok(g, n_gpus, g[i].node, tid, excl))
			continue;
		pi = (size_t)(p - g[i].m->profiles);
		if (g[i].compute + p->compute > g[i].m->compute_slices ||
		    g[i].count[pi] >= p->max_count || g[i].n >= MIG_INSTANCES_MAX)
			continue;
		for (unsigned int s = 0; s < p->n_starts; s++) {
			unsigned int mk = mig_profile_mask(p, p->starts[s]);
			bool ok;

			if (g[i].used & mk)
				continue;
			g[i].used |= mk;
			g[i].compute += p->compute;
			g[i].count[pi]++;
			g[i].tenants[g[i].n] = tid;
			g[i].excl[g[i].n++] = excl;
			ok = ex_search(g, n_gpus, pname, tid, excl, left - 1);
			g[i].n--;
			g[i].count[pi]--;
			g[i].compute -= p->compute;
			g[i].used &= ~mk;
			if (ok)
				return true;
		}
	}
	return false;
}

static void ex_load(struct mig_planner *pl, struct ex_gpu *g, size_t n)
{
	memset(g, 0, n * sizeof(*g));
	for (size_t i = 0; i < n; i++) {
		const struct mig_gpu *gpu = mig_planner_gpu_at(pl, i);

		g[i].m = gpu->model;
		g[i].node = gpu->node[1] - '0';
		g[i].used = gpu->used;
		for (size_t k = 0; k < gpu->n_inst; k++) {
			g[i].compute += gpu->inst[k].profile->compute;
			g[i].count[gpu->inst[k].profile - gpu->model->profiles]++;
			g[i].tenants[k] = gpu->inst[k].tenant[1] - '0';
			g[i].excl[k] = gpu->inst[k].exclusive;
		}
		g[i].n = gpu->n_inst;
	}
}

static const char *const small_models[] = { "H100-SXM5-80GB", "A100-40GB", "A30", "B200" };

static struct mig_planner *small_fleet(size_t n_gpus)
{
	struct mig_planner *pl = mig_planner_new();
	struct loom_err err = { 0 };

	for (size_t i = 0; i < n_gpus; i++) {
		char node[8];

		snprintf(node, sizeof(node), "n%zu", i / 2);	/* two GPUs per node */
		mig_planner_add_gpu(pl, node, "s", (unsigned int)(i % 2),
				    small_models[rnd() % 4], &err);
	}
	return pl;
}

static void random_request(struct mig_planner *pl, size_t n_gpus, char *tenant, bool *excl,
			   const char **profile)
{
	const struct mig_gpu *gpu = mig_planner_gpu_at(pl, rnd() % n_gpus);
	unsigned int t = rnd() % 5;

	snprintf(tenant, 8, "t%u", t);
	*excl = t == 4;
	*profile = gpu->model->profiles[rnd() % gpu->model->n_profiles].name;
}

static void bench_exhaustive(void)
{
	unsigned int cases = 0, refused = 0, missed = 0, wrong = 0;
	double t0 = mono_s();

	for (unsigned int c = 0; c < 20000; c++) {
		struct mig_planner *pl = small_fleet(3);
		struct ex_gpu g[3];
		char tenant[8];
		bool excl;
		const char *profile;
		struct loom_err err = { 0 };
		struct mig_placement out[4];

		/* random existing instances */
		for (unsigned int k = 0, pre = rnd() % 8; k < pre; k++) {
			struct mig_request req = { .tenant = tenant, .count = 1 };

			random_request(pl, 3, tenant, &excl, &profile);
			req.exclusive = excl;
			req.profile = profile;
			memset(&err, 0, sizeof(err));
			mig_planner_place(pl, &req, out, &err);
		}
		random_request(pl, 3, tenant, &excl, &profile);
		{
			struct mig_request req = { .tenant = tenant, .exclusive = excl,
						   .profile = profile, .count = 1 + rnd() % 4 };
			bool can;
			int rc;

			ex_load(pl, g, 3);
			can = ex_search(g, 3, profile, tenant[1] - '0', excl, req.count);
			memset(&err, 0, sizeof(err));
			rc = mig_planner_place(pl, &req, out, &err);
			cases++;
			if (rc < 0) {
				refused++;
				if (can) {
					missed++;
					if (missed <= 3)
						fprintf(stderr, "missed: %s x%u (%s)\n", profile,
							req.count, err.msg);
				}
			} else if (!can) {
				wrong++;
			}
		}
		mig_planner_free(&pl);
	}
	printf("exhaustive, per request: %u small cases (3 GPUs, random existing layouts, "
	       "1-4 instances), %u refused by the planner, %u of those placeable by "
	       "exhaustive search, %u placed that exhaustive search could not (%.1f s)\n",
	       cases, refused, missed, wrong, mono_s() - t0);
}

/* best number placeable over a sequence, every feasible request placed somewhere */
static unsigned int seq_best(struct ex_gpu *g, size_t n_gpus, const struct req *reqs,
			     size_t n, size_t r)
{
	unsigned int best = 0;
	bool any = false;

	if (r == n)
		return 0;
	for (size_t i = 0; i < n_gpus; i++) {
		const struct mig_profile *p = mig_profile_find(g[i].m, reqs[r].profile);
		int tid = reqs[r].tenant[1] - '0';
		size_t pi;

		if (!p || !ex_node_ok(g, n_gpus, g[i].node, tid, reqs[r].excl))
			continue;
		pi = (size_t)(p - g[i].m->profiles);
		if (g[i].compute + p->compute > g[i].m->compute_slices ||
		    g[i].count[pi] >= p->max_count)
			continue;
		for (unsigned int s = 0; s < p->n_starts; s++) {
			unsigned int mk = mig_profile_mask(p, p->starts[s]), v;

			if (g[i].used & mk)
				continue;
			any = true;
			g[i].used |= mk;
			g[i].compute += p->compute;
			g[i].count[pi]++;
			g[i].tenants[g[i].n] = tid;
			g[i].excl[g[i].n++] = reqs[r].excl;
			v = 1 + seq_best(g, n_gpus, reqs, n, r + 1);
			g[i].n--;
			g[i].count[pi]--;
			g[i].compute -= p->compute;
			g[i].used &= ~mk;
			if (v > best)
				best = v;
		}
	}
	return any ? best : seq_best(g, n_gpus, reqs, n, r + 1);
}

static void bench_sequences(void)
{
	unsigned int seqs = 0, planner_total = 0, best_total = 0, worse = 0;

	for (unsigned int c = 0; c < 2000; c++) {
		struct mig_planner *pl = small_fleet(2);
		struct ex_gpu g[2];
		struct req reqs[6];
		unsigned int got = 0, best;

		for (size_t r = 0; r < 6; r++) {
			const char *profile;
			bool excl;

			random_request(pl, 2, reqs[r].tenant, &excl, &profile);
			reqs[r].excl = excl;
			reqs[r].profile = profile;
		}
		ex_load(pl, g, 2);
		best = seq_best(g, 2, reqs, 6, 0);
		for (size_t r = 0; r < 6; r++) {
			struct mig_request req = { .tenant = reqs[r].tenant, .exclusive = reqs[r].excl,
						   .profile = reqs[r].profile, .count = 1 };
			struct mig_placement out[1];
			struct loom_err err = { 0 };

			got += mig_planner_place(pl, &req, out, &err) == 1;
		}
		seqs++;
		planner_total += got;
		best_total += best;
		worse += got < best;
		mig_planner_free(&pl);
	}
	printf("exhaustive, sequences: %u sequences of 6 requests on 2 GPUs: planner placed %u, "
	       "best possible %u (x%.3f); %u sequences where another choice placed more\n",
	       seqs, planner_total, best_total, (double)planner_total / best_total, worse);
}

int main(int argc, char **argv)
{
	int opt;

	while ((opt = getopt(argc, argv, "s:")) != -1) {
		if (opt == 's')
			rng_state = (unsigned int)strtoul(optarg, NULL, 10);
		else {
			fprintf(stderr, "usage: %s [-s SEED]\n", argv[0]);
			return 2;
		}
	}
	bench_scale();
	bench_exhaustive();
	bench_sequences();
	return 0;
}

/*
 * src/reconcile.c: worker threads that drive the targets, and the status
 * table the API reads.
 *
 * Locking: one mutex guards every target's job slot, status and counters;
 * workers hold it only to take a job and to publish a result, never while
 * they talk to the kernel, FRR or OpenSM.  The kernel, FRR and OpenSM
 * handles belong to their worker alone (kvtep_event_drain is documented as
 * safe to call from the main loop while the worker runs).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "fabric/smt.h"
#include "gpu/nvml.h"
#include "lib/log.h"
#include "overlay/frr.h"
#include "overlay/kvtep.h"
#include "src/reconcile.h"

/* How often an idle worker checks for cheap signs of drift (FRR or OpenSM
 * restarted, the partitions file edited by hand). */
#define WATCH_INTERVAL_MS 2000
/* How long a run waits for FRR / OpenSM to show what was applied. */
#define FRR_VERIFY_MS 4000
/* ... and at most this long while FRR keeps making progress. */
#define FRR_VERIFY_MAX_MS 60000
/* While bgpd catches up with zebra, its full JSON is read at least this often. */
#define FRR_FULL_READ_MS 1000
/* A batch creating this many VXLAN devices (and deleting none) sends FRR's
 * statements before the kernel work rather than beside it (run_vtep). */
#define FRR_FIRST_MIN_VNIS 100
#define SM_SWEEP_MS 15000
#define SM_VERIFY_MS 8000
/* A run that ends with items pending is retried after this long. */
#define RETRY_MS 1000

enum target_kind { TARGET_VTEP, TARGET_SM, TARGET_GPU };

/* A GPU worker's desired state: the layout of each MIG GPU of its node. */
struct gpu_want {
	struct gpu_layout *layouts;	/* by GPU index */
	size_t n;
};

/* One HCA port an SM worker samples (worker-private). */
struct hca_watch {
	char node[LOOM_NAME_MAX];
	char port[LOOM_NAME_MAX];
	uint64_t guid;
	bool known;		/* a first sample was taken */
	bool bad;		/* not Active or not answering at the last sample */
	unsigned int misses;	/* samples in a row without an answer */
	bool counters_known;
	struct ib_port_counters ctr;
};

/*
 * What one generation changed on a target: the IDs (VNIs or P_Keys) it
 * added, removed or changed there.  A waiter judges only those items, so
 * that another segment's error on the same target does not fail its write.
 */
struct touch {
	uint64_t gen;
	uint32_t *ids;		/* sorted */
	size_t n_ids;
	bool whole;		/* every item counts (a GPU node's whole layout) */
};
/* Touches kept per target; a waiter older than all of them (it would have
 * to outlive this many later writes to the same target) is judged on the
 * whole target instead. */
#define TOUCHES_MAX 64

struct item {
	char tenant[LOOM_NAME_MAX];
	char segment[LOOM_NAME_MAX];
	uint32_t id;		/* VNI or P_Key */
	const char *layer;	/* "kernel", "frr", "opensm" */
	enum seg_state state;
	char reason[256];
	int64_t since_ns;
};

struct capacity {
	uint64_t guid;
	unsigned int capacity;
	unsigned int foreign;	/* entries that are not loom's */
};

struct target {
	struct reconciler *r;
	enum target_kind kind;
	char name[LOOM_NAME_MAX];
	pthread_t thread;
	bool started;
	struct topo_vtep vtep;
	/* VTEP targets: the access ports of the nodes cabled to it, whose
	 * carrier the fault watcher follows (set again when opened late) */
	const char **carrier_ports;
	size_t n_carrier_ports;
	struct topo_sm sm;
	/* GPU targets: the node's MIG GPUs, where NVML is, what MIG mode may do */
	struct topo_gpu *gpus;
	size_t n_gpus;
	char nvml_path[LOOM_PATH_MAX];
	struct gpu_nvml_opts nvml_opts;
	struct gpu_nvml *nvml;		/* worker-private */

	/* Worker-private handles. */
	struct kvtep *kv;
	struct frr_target *frr;
	struct smt *smt;
	struct sm_desired *sm_written;	/* what this worker last wrote to the file */
	bool mode_logged;

	/* Under r->lock. */
	struct vtep_desired *want_vtep;	/* the latest slice (owned) */
	struct sm_desired *want_sm;
	struct gpu_want *want_gpu;
	uint64_t want_gen;		/* generation that last changed the slice */
	uint64_t done_gen;		/* generation of the last finished run */
	bool resync;			/* run even if the slice did not change */
	bool busy;
	struct item *items;
	size_t n_items;
	size_t n_bad;			/* items not programmed after the last run */
	size_t n_pending;		/* of those, pending (a retry may still get them) */
	char error[256];		/* target-level problem, "" when fine */
	int64_t last_run_ns;
	double last_run_ms;
	double phase_ms[3];		/* last run: kernel, FRR apply, FRR verify (VTEP);
					 * write, sweep, verify (SM) */
	unsigned long runs;
	struct capacity *caps;		/* SM targets: P_Key table capacity per port */
	size_t n_caps;
	struct hca_watch *hca;		/* SM targets: the nodes' HCA ports (worker-private) */
	size_t n_hca;
	int64_t next_sample_ns;		/* CLOCK_MONOTONIC; 0 = take one at the next chance */
	struct touch touches[TOUCHES_MAX];	/* oldest first */
	size_t n_touches;
	uint64_t touch_floor;		/* generations up to this one were dropped */
};

struct reconciler {
	enum frr_apply_mode frr_apply;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int event_fd;
	bool stop;
	uint64_t gen;
	struct target *targets;
	size_t n_targets;
	size_t *drift_index;		/* drift fd i -> target index */
	int *drift_fds;
	size_t n_drift;
	unsigned int hca_interval_s;	/* 0 = no HCA watcher */
	struct hca_signal *signals;	/* HCA watcher signals not taken yet */
	size_t n_signals, cap_signals;
	size_t cap_drift;		/* one per VTEP: the arrays never move, and a
					 * worker that opens its VTEP late appends */
};

const char *seg_state_name(enum seg_state s)
{
	static const char *const names[] = { "pending", "programmed", "error" };

	return names[s];
}

static int64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- copies of desired slices ------------------------------------------ */

static void vtep_desired_free(struct vtep_desired **pd)
{
	struct vtep_desired *d = *pd;

	if (!d)
		return;
	for (size_t i = 0; i < d->n_vnis; i++)
		free(d->vnis[i].ports);
	free(d->vnis);
	free(d);
	*pd = NULL;
}

static struct vtep_desired *vtep_desired_dup(const struct vtep_desired *src)
{
	struct vtep_desired *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	*d = *src;
	d->vnis = calloc(src->n_vnis ? src->n_vnis : 1, sizeof(*d->vnis));
	if (!d->vnis) {
		free(d);
		return NULL;
	}
	for (size_t i = 0; i < src->n_vnis; i++) {
		d->vnis[i] = src->vnis[i];
		d->vnis[i].ports = calloc(src->vnis[i].n_ports ? src->vnis[i].n_ports : 1,
					  sizeof(*d->vnis[i].ports));
		if (!d->vnis[i].ports) {
			d->n_vnis = i;
			vtep_desired_free(&d);
			return NULL;
		}
		memcpy(d->vnis[i].ports, src->vnis[i].ports, src->vnis[i].n_ports * sizeof(*d->vnis[i].ports));
	}
	return d;
}

static bool vtep_vni_equal(const struct vtep_vni *x, const struct vtep_vni *y)
{
	return x->vni == y->vni && x->mtu == y->mtu && x->n_ports == y->n_ports
	       && !strcmp(x->rd, y->rd) && !strcmp(x->rt, y->rt) && !strcmp(x->tenant, y->tenant)
	       && !strcmp(x->segment, y->segment)
	       && !memcmp(x->ports, y->ports, x->n_ports * sizeof(*x->ports));
}

static bool vtep_desired_equal(const struct vtep_desired *a, const struct vtep_desired *b)
{
	if (!a || !b || a->n_vnis != b->n_vnis)
		return false;
	for (size_t i = 0; i < a->n_vnis; i++)
		if (!vtep_vni_equal(&a->vnis[i], &b->vnis[i]))
			return false;
	return true;
}

static void sm_desired_free(struct sm_desired **pd)
{
	struct sm_desired *d = *pd;

	if (!d)
		return;
	for (size_t i = 0; i < d->n_partitions; i++)
		free(d->partitions[i].members);
	free(d->partitions);
	free(d);
	*pd = NULL;
}

static struct sm_desired *sm_desired_dup(const struct sm_desired *src)
{
	struct sm_desired *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	*d = *src;
	d->partitions = calloc(src->n_partitions ? src->n_partitions : 1, sizeof(*d->partitions));
	if (!d->partitions) {
		free(d);
		return NULL;
	}
	for (size_t i = 0; i < src->n_partitions; i++) {
		const struct sm_partition *p = &src->partitions[i];

		d->partitions[i] = *p;
		d->partitions[i].members = calloc(p->n_members ? p->n_members : 1, sizeof(*p->members));
		if (!d->partitions[i].members) {
			d->n_partitions = i;
			sm_desired_free(&d);
			return NULL;
		}
		memcpy(d->partitions[i].members, p->members, p->n_members * sizeof(*p->members));
	}
	return d;
}

static bool sm_partition_equal(const struct sm_partition *x, const struct sm_partition *y)
{
	if (x->pkey != y->pkey || x->ipoib != y->ipoib || x->mtu != y->mtu
	    || x->rate_gbps != y->rate_gbps || x->sl != y->sl || x->n_members != y->n_members
	    || strcmp(x->name, y->name) || strcmp(x->tenant, y->tenant) || strcmp(x->segment, y->segment))
		return false;
	for (size_t k = 0; k < x->n_members; k++)
		if (x->members[k].guid != y->members[k].guid
		    || x->members[k].membership != y->members[k].membership)
			return false;
	return true;
}

static bool sm_desired_equal(const struct sm_desired *a, const struct sm_desired *b)
{
	if (!a || !b || a->n_partitions != b->n_partitions)
		return false;
	for (size_t i = 0; i < a->n_partitions; i++)
		if (!sm_partition_equal(&a->partitions[i], &b->partitions[i]))
			return false;
	return true;
}

static void gpu_want_free(struct gpu_want **pw)
{
	if (!*pw)
		return;
	free((*pw)->layouts);
	free(*pw);
	*pw = NULL;
}

static struct gpu_want *gpu_want_dup(const struct gpu_want *src)
{
	struct gpu_want *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->layouts = calloc(src->n ? src->n : 1, sizeof(*w->layouts));
	if (!w->layouts) {
		free(w);
		return NULL;
	}
	memcpy(w->layouts, src->layouts, src->n * sizeof(*w->layouts));
	w->n = src->n;
	return w;
}

static bool gpu_want_equal(const struct gpu_want *a, const struct gpu_want *b)
{
	if (!a || !b || a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct gpu_layout *x = &a->layouts[i], *y = &b->layouts[i];

		if (x->index != y->index || x->n_gi != y->n_gi)
			return false;
		for (size_t k = 0; k < x->n_gi; k++)
			if (x->gi[k].profile != y->gi[k].profile || x->gi[k].start != y->gi[k].start
			    || strcmp(x->gi[k].tenant, y->gi[k].tenant))
				return false;
	}
	return true;
}

/* ---- what a generation changed ------------------------------------------ */

static int ids_add(struct touch *tc, size_t *cap, uint32_t id)
{
	if (tc->n_ids == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		uint32_t *p = realloc(tc->ids, nc * sizeof(*p));

		if (!p)
			return -ENOMEM;
		tc->ids = p;
		*cap = nc;
	}
	tc->ids[tc->n_ids++] = id;
	return 0;
}

/* The VNIs that differ between two slices (both sorted by VNI); @a may be NULL. */
static int vtep_touch(const struct vtep_desired *a, const struct vtep_desired *b, struct touch *tc)
{
	size_t i = 0, j = 0, cap = 0, na = a ? a->n_vnis : 0;
	int ret = 0;

	while (!ret && (i < na || j < b->n_vnis)) {
		if (j == b->n_vnis || (i < na && a->vnis[i].vni < b->vnis[j].vni)) {
			ret = ids_add(tc, &cap, a->vnis[i++].vni);
		} else if (i == na || b->vnis[j].vni < a->vnis[i].vni) {
			ret = ids_add(tc, &cap, b->vnis[j++].vni);
		} else {
			if (!vtep_vni_equal(&a->vnis[i], &b->vnis[j]))
				ret = ids_add(tc, &cap, b->vnis[j].vni);
			i++;
			j++;
		}
	}
	return ret;
}

/* The P_Keys that differ between two slices (both sorted by P_Key). */
static int sm_touch(const struct sm_desired *a, const struct sm_desired *b, struct touch *tc)
{
	size_t i = 0, j = 0, cap = 0, na = a ? a->n_partitions : 0;
	int ret = 0;

	while (!ret && (i < na || j < b->n_partitions)) {
		if (j == b->n_partitions || (i < na && a->partitions[i].pkey < b->partitions[j].pkey)) {
			ret = ids_add(tc, &cap, a->partitions[i++].pkey);
		} else if (i == na || b->partitions[j].pkey < a->partitions[i].pkey) {
			ret = ids_add(tc, &cap, b->partitions[j++].pkey);
		} else {
			if (!sm_partition_equal(&a->partitions[i], &b->partitions[j]))
				ret = ids_add(tc, &cap, b->partitions[j].pkey);
			i++;
			j++;
		}
	}
	return ret;
}

/* Records @tc as the newest touch of @t (r->lock held); takes its ids. */
static void touch_push(struct target *t, struct touch *tc)
{
	if (t->n_touches == TOUCHES_MAX) {
		t->touch_floor = t->touches[0].gen;
		free(t->touches[0].ids);
		memmove(&t->touches[0], &t->touches[1], (TOUCHES_MAX - 1) * sizeof(t->touches[0]));
		t->n_touches--;
	}
	t->touches[t->n_touches++] = *tc;
	tc->ids = NULL;
}

static const struct touch *touch_find(const struct target *t, uint64_t gen)
{
	for (size_t i = 0; i < t->n_touches; i++)
		if (t->touches[i].gen == gen)
			return &t->touches[i];
	return NULL;
}

static bool touch_has(const struct touch *tc, uint32_t id)
{
	size_t lo = 0, hi = tc->n_ids;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (tc->ids[mid] == id)
			return true;
		if (tc->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/*
 * Did generation @gen change @t?  *@tc gets what it changed, or NULL when
 * that was forgotten (then the whole target counts).
 */
static bool gen_touched(const struct target *t, uint64_t gen, const struct touch **tc)
{
	*tc = touch_find(t, gen);
	if (*tc)
		return true;
	return gen <= t->touch_floor && t->want_gen >= gen;
}

static bool item_counts(const struct touch *tc, const struct item *x)
{
	return !tc || tc->whole || touch_has(tc, x->id);
}

/* ---- worker runs ---------------------------------------------------------- */

struct items {
	struct item *v;
	size_t n, cap;
};

static void items_add(struct items *it, const char *tenant, const char *segment, uint32_t id,
		      const char *layer, enum seg_state state, const char *reason)
{
	struct item *x;

	if (it->n == it->cap) {
		size_t cap = it->cap ? it->cap * 2 : 64;
		struct item *p = realloc(it->v, cap * sizeof(*p));

		if (!p)
			return;
		it->v = p;
		it->cap = cap;
	}
	x = &it->v[it->n++];
	memset(x, 0, sizeof(*x));
	snprintf(x->tenant, sizeof(x->tenant), "%s", tenant);
	snprintf(x->segment, sizeof(x->segment), "%s", segment);
	x->id = id;
	x->layer = layer;
	x->state = state;
	snprintf(x->reason, sizeof(x->reason), "%s", reason ? reason : "");
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/*
 * The access ports cabled to this VTEP, for the carrier watcher.  The names
 * point into @topo, which outlives the reconciler (a reload stops it first).
 */
static int carrier_ports_fill(struct target *t, const struct topology *topo)
{
	size_t cap = 0;

	for (size_t i = 0; i < topo->n_nodes; i++)
		cap += topo->nodes[i].n_nic_ports;
	t->carrier_ports = calloc(cap ? cap : 1, sizeof(*t->carrier_ports));
	if (!t->carrier_ports)
		return -ENOMEM;
	for (size_t i = 0; i < topo->n_nodes; i++)
		for (size_t k = 0; k < topo->nodes[i].n_nic_ports; k++) {
			const struct topo_nic_port *p = &topo->nodes[i].nic_ports[k];

			if (strcmp(p->vtep, t->name) == 0 && p->access_port[0])
				t->carrier_ports[t->n_carrier_ports++] = p->access_port;
		}
	return 0;
}

/* Every node's access port cabled to this VTEP has its carrier watched. */
static void carrier_watch(struct target *t)
{
	if (kvtep_carrier_watch(t->kv, t->carrier_ports, t->n_carrier_ports))
		log_warn("vtep %s: cannot watch the access ports' carrier: out of memory", t->name);
}

/* FRR's half of a VTEP run: on its own thread while the kernel is worked,
 * or before it for a large batch of new VNIs (run_vtep). */
struct frr_job {
	struct target *t;
	const struct vtep_desired *want;
	char ferr[300];
	double ms;
};

static void *frr_job_run(void *arg)
{
	struct frr_job *j = arg;
	struct target *t = j->t;
	struct loom_err err = { 0 };
	int64_t t0 = now_ns(CLOCK_MONOTONIC);

	if (!t->frr) {
		t->frr = frr_target_open(&t->vtep, &err);
		if (t->frr)
			frr_target_set_mode(t->frr, t->r->frr_apply);
	}
	if (!t->frr) {
		snprintf(j->ferr, sizeof(j->ferr), "frr: %s", err.msg);
	} else if (frr_restarted(t->frr, &err) > 0) {
		log_info("vtep %s: FRR restarted; re-applying loom's statements", t->name);
	}
	loom_err_clear(&err);
	if (t->frr && frr_sync(t->frr, j->want, &err) < 0)
		snprintf(j->ferr, sizeof(j->ferr), "frr: %s", err.msg);
	j->ms = (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e6;
	return NULL;
}

/* A kernel handle opened by the worker: its drift socket goes to the main loop. */
static void drift_fd_publish(struct target *t)
{
	struct reconciler *r = t->r;

	pthread_mutex_lock(&r->lock);
	if (r->n_drift < r->cap_drift) {
		r->drift_fds[r->n_drift] = kvtep_event_fd(t->kv);
		r->drift_index[r->n_drift++] = (size_t)(t - r->targets);
		log_debug(LOG_SUB_RECONCILE, "vtep %s: netlink opened late; its drift events go to the main loop",
			  t->name);
	}
	pthread_mutex_unlock(&r->lock);
}

/*
 * Polls FRR until it shows @fwant (or stops making progress).  zebra
 * learns the kernel's VXLAN devices asynchronously, and 1,000 new VNIs
 * take it seconds: while zebra's cheap VNI count (@kcount expected) is
 * short, the full JSON is not read; while the count or the number of
 * unverified VNIs keeps moving, polling goes on (up to FRR_VERIFY_MAX_MS)
 * rather than ending the run and coming back RETRY_MS later.  The verdict
 * always comes from frr_verify's full JSON.
 */
static int frr_converge(struct target *t, const struct vtep_desired *fwant, bool need_kernel, int kcount,
			struct frr_vni_status **fst, size_t *n_fst, struct loom_err *err)
{
	int64_t start = now_ns(CLOCK_MONOTONIC), last_read = start;
	int64_t end = start + (int64_t)FRR_VERIFY_MS * 1000000;
	int delay = 20, last = -1, last_z = -1, ret = -1, polls = 0, probes = 0, reads = 0;
	int64_t zebra_all_ms = -1;	/* when zebra's count first reached kcount */
	uint32_t probe = 0;		/* an unverified VNI to ask bgpd about; 0 = none */
	bool full = true;
	uint64_t gen;

	pthread_mutex_lock(&t->r->lock);
	gen = t->want_gen;
	pthread_mutex_unlock(&t->r->lock);

	for (bool first = true;; first = false) {
		bool progress = false;
		int64_t now;
		int cap;

		full = true;
		/* zebra's count first, even on the first pass: a full read
		 * while bgpd is still learning a large change only slows it. */
		if (need_kernel && kcount > 0) {
			struct loom_err zerr = { 0 };
			int z = frr_zebra_vni_count(t->frr, &zerr);

			polls++;
			if (z >= 0) {
				progress = last_z >= 0 && z > last_z;
				full = z >= kcount;
				last_z = z;
			}
		}
		if (full && !first && zebra_all_ms < 0) {
			last_read = now_ns(CLOCK_MONOTONIC);
			zebra_all_ms = (last_read - start) / 1000000;
			/*
			 * zebra was still learning at the first pass, so
			 * nothing was read: the kernel made the VNIs in
			 * ascending order, and the highest is the last that
			 * zebra hands bgpd.
			 */
			if (!probe && fwant->n_vnis)
				probe = fwant->vnis[fwant->n_vnis - 1].vni;
		}
		/*
		 * zebra has them all; bgpd learns them from zebra on the same
		 * thread that would build the full JSON (a full read while it
		 * is learning delays what it reads about).  Ask it about the
		 * last VNI it lacked (zebra reports them in the kernel's
		 * order), and read everything when that one is there, or at
		 * least every FRR_FULL_READ_MS.
		 */
		if (full && probe && now_ns(CLOCK_MONOTONIC) - last_read < (int64_t)FRR_FULL_READ_MS * 1000000) {
			struct loom_err perr = { 0 };

			probes++;
			full = frr_bgp_vni_in_kernel(t->frr, probe, &perr) != 0;
		}
		if (full) {
			free(*fst);
			*fst = NULL;
			*n_fst = 0;
			loom_err_clear(err);
			ret = frr_verify(t->frr, fwant, need_kernel, fst, n_fst, err);
			reads++;
			last_read = now_ns(CLOCK_MONOTONIC);
			if (ret <= 0) {
				log_debug(LOG_SUB_RECONCILE, "vtep %s: FRR verified after %.1f ms: %d count polls, %d probes, %d full reads, zebra's count complete at %" PRId64 " ms",
					  t->name, (double)(now_ns(CLOCK_MONOTONIC) - start) / 1e6, polls, probes, reads,
					  zebra_all_ms);
				return ret;
			}
			probe = 0;
			if (need_kernel)
				for (size_t k = 0; k < *n_fst; k++)
					if ((*fst)[k].verdict == FRR_VNI_NO_KERNEL)
						probe = (*fst)[k].vni;	/* the last one */
			progress = progress || (last >= 0 && ret < last);
			last = ret;
		}
		now = now_ns(CLOCK_MONOTONIC);
		if (progress && now - start < (int64_t)FRR_VERIFY_MAX_MS * 1000000) {
			bool newer;

			/* A newer intent is not kept waiting behind this one. */
			pthread_mutex_lock(&t->r->lock);
			newer = t->want_gen != gen;
			pthread_mutex_unlock(&t->r->lock);
			if (!newer)
				end = now + (int64_t)FRR_VERIFY_MS * 1000000;
		}
		if (now > end)
			break;
		sleep_ms(delay);
		/* Probing one VNI is cheap: look more often once zebra has all. */
		cap = zebra_all_ms >= 0 ? 100 : 200;
		delay = delay * 2 < cap ? delay * 2 : cap;
	}
	if (!full) {
		/* The verdict on what FRR shows now, not on a count. */
		free(*fst);
		*fst = NULL;
		*n_fst = 0;
		loom_err_clear(err);
		ret = frr_verify(t->frr, fwant, need_kernel, fst, n_fst, err);
	}
	return ret;
}

static void run_vtep(struct target *t, const struct vtep_desired *d, struct items *it, char *error,
		     size_t error_len, double phase_ms[3])
{
	int64_t t0 = now_ns(CLOCK_MONOTONIC), t1;
	struct loom_err err = { 0 };
	struct kvtep_vni_status *kst = calloc(d->n_vnis ? d->n_vnis : 1, sizeof(*kst));
	struct frr_vni_status *fst = NULL;
	size_t n_fst = 0, n_foreign = 0, n_created = 0, n_deleted = 0;
	struct vtep_desired *fd = NULL;
	struct frr_job job = { .t = t, .want = d };	/* FRR is given job.want */
	pthread_t frr_thread;
	bool frr_async, kernel_planned = false;
	char kerr[300] = "", ferr[300] = "";
	int ret, kcount = 0;

	if (!kst)
		return;
	if (!t->kv) {
		if (kvtep_open(t->vtep.netns, t->vtep.vtep_ip, t->vtep.mode, &t->kv, &err)) {
			snprintf(kerr, sizeof(kerr), "kernel: %s", err.msg);
			t->kv = NULL;
		} else {
			carrier_watch(t);	/* before its first dump: that sets the baseline */
			drift_fd_publish(t);
		}
	}
	if (t->kv && !t->mode_logged) {
		log_info("vtep %s: %s mode: %s", t->name,
			 kvtep_mode(t->kv) == VTEP_MODE_VLAN_AWARE ? "vlan-aware" : "traditional",
			 kvtep_mode_reason(t->kv));
		t->mode_logged = true;
	}
	if (t->kv) {
		ret = kvtep_sync_plan(t->kv, d);
		if (ret < 0)
			snprintf(kerr, sizeof(kerr), "kernel: netlink failed: %s", strerror(-ret));
		else
			kernel_planned = true;
	}
	/*
	 * A VNI whose number or device names an operator's device holds stays
	 * out of FRR too: with loom's route targets on it, BGP would tie the
	 * operator's device (and its bridge) into the tenant's segment.  The
	 * kernel's plan already knows which those are.
	 */
	for (size_t i = 0; kernel_planned && i < d->n_vnis; i++)
		n_foreign += kvtep_vni_foreign(t->kv, d, i);
	if (n_foreign) {
		fd = vtep_desired_dup(d);
		if (fd) {
			size_t k = 0;

			for (size_t i = 0; i < fd->n_vnis; i++) {
				if (kvtep_vni_foreign(t->kv, d, i))
					free(fd->vnis[i].ports);
				else
					fd->vnis[k++] = fd->vnis[i];
			}
			fd->n_vnis = k;
			job.want = fd;
		}
	}
	/*
	 * FRR's statements go in while the kernel is worked: on removal `no vni
	 * N` and the device deletion (seconds of the kernel's rcu_barrier()
	 * per bridge) are both needed before the VNI is free again, in either
	 * order, and a small change is done sooner overlapped.  A large batch
	 * of new VNIs with nothing to delete has its statements sent first
	 * instead: vtysh's round trip per line then does not compete for the
	 * CPU with the kernel work and zebra learning the devices, and bgpd
	 * meets each VNI from zebra with its RD/RTs already in place (1,000
	 * VNIs: 3.1-3.6 s against 3.3-5.2 s overlapped, BENCHMARKS.md).
	 * Neither order moves a port, so no port is ever in two segments.
	 */
	if (kernel_planned)
		kvtep_plan_counts(t->kv, &n_created, &n_deleted);
	if (n_created >= FRR_FIRST_MIN_VNIS && n_deleted == 0) {
		log_info("vtep %s: %zu new VNIs and nothing to delete: FRR's statements first", t->name,
			 n_created);
		frr_async = false;
	} else {
		frr_async = pthread_create(&frr_thread, NULL, frr_job_run, &job) == 0;
	}
	if (!frr_async)
		frr_job_run(&job);
	if (kernel_planned) {
		ret = kvtep_sync_finish(t->kv, d, kst);
		if (ret < 0)
			snprintf(kerr, sizeof(kerr), "kernel: netlink failed: %s", strerror(-ret));
	}
	t1 = now_ns(CLOCK_MONOTONIC);
	phase_ms[0] = (double)(t1 - t0) / 1e6 - (frr_async ? 0 : job.ms);	/* the kernel's own */
	for (size_t i = 0; i < d->n_vnis; i++) {
		const struct vtep_vni *v = &d->vnis[i];

		if (kerr[0])
			items_add(it, v->tenant, v->segment, v->vni, "kernel", SEG_ERROR, kerr);
		else
			items_add(it, v->tenant, v->segment, v->vni, "kernel",
				  kst[i].state == KVTEP_VNI_PROGRAMMED ? SEG_PROGRAMMED : SEG_ERROR, kst[i].reason);
		kcount += !kerr[0] && kst[i].state == KVTEP_VNI_PROGRAMMED && !kst[i].foreign;
	}
	if (frr_async)
		pthread_join(frr_thread, NULL);
	snprintf(ferr, sizeof(ferr), "%s", job.ferr);
	/* FRR's own time; it overlapped the kernel's. */
	phase_ms[1] = job.ms;

	t0 = now_ns(CLOCK_MONOTONIC);
	if (t->frr && !ferr[0]) {
		loom_err_clear(&err);
		ret = frr_converge(t, job.want, kerr[0] == '\0', kcount, &fst, &n_fst, &err);
		if (ret < 0)
			snprintf(ferr, sizeof(ferr), "frr: %s", err.msg);
	}
	phase_ms[2] = (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e6;
	for (size_t i = 0; i < d->n_vnis; i++) {
		const struct vtep_vni *v = &d->vnis[i];
		const struct frr_vni_status *s = NULL;

		for (size_t k = 0; !ferr[0] && k < n_fst; k++)
			if (fst[k].vni == v->vni && fst[k].verdict != FRR_VNI_EXTRA)
				s = &fst[k];
		if (!kerr[0] && kst[i].foreign && job.want != d)
			items_add(it, v->tenant, v->segment, v->vni, "frr", SEG_ERROR,
				  "not given to FRR while a device loom does not own holds the VNI (see the kernel layer)");
		else if (ferr[0])
			items_add(it, v->tenant, v->segment, v->vni, "frr", SEG_ERROR, ferr);
		else if (!s)
			items_add(it, v->tenant, v->segment, v->vni, "frr", SEG_PENDING, "not verified yet");
		else if (s->verdict == FRR_VNI_OK || (kerr[0] && s->verdict == FRR_VNI_NO_KERNEL))
			items_add(it, v->tenant, v->segment, v->vni, "frr", SEG_PROGRAMMED, NULL);
		else
			items_add(it, v->tenant, v->segment, v->vni, "frr",
				  s->verdict == FRR_VNI_MISMATCH ? SEG_ERROR : SEG_PENDING,
				  frr_vni_verdict_name(s->verdict));
	}
	free(fst);
	free(kst);
	vtep_desired_free(&fd);
	snprintf(error, error_len, "%s%s%s", kerr, kerr[0] && ferr[0] ? "; " : "", ferr);
}

/*
 * Caches, per member port, its P_Key table capacity and how many entries
 * on it are not loom's (Default, the operator's), from the tables the last
 * verify read (no MAD I/O), so that the API can refuse an attachment that
 * would overflow a table without doing fabric I/O on the event loop.
 */
static void sm_capacity_fill(struct target *t, const struct sm_desired *d, struct capacity **caps,
			     size_t *n_caps)
{
	struct smt_port_usage *u = NULL;
	size_t n = 0;
	struct capacity *p;

	if (smt_port_usage(t->smt, d, &u, &n) < 0)
		return;
	p = realloc(*caps, (n ? n : 1) * sizeof(*p));
	if (!p) {
		free(u);
		return;
	}
	*caps = p;
	*n_caps = 0;
	for (size_t i = 0; i < n; i++)
		if (u[i].valid)
			p[(*n_caps)++] = (struct capacity){ .guid = u[i].guid, .capacity = u[i].capacity,
							    .foreign = u[i].foreign };
	free(u);
}

/* Writes @d, signals OpenSM if the file changed, waits for its sweep. */
static int sm_push(struct target *t, const struct sm_desired *d, char *serr, size_t len,
		   double phase_ms[2])
{
	struct loom_err err = { 0 };
	int64_t t0 = now_ns(CLOCK_MONOTONIC), t1;

	if (smt_write(t->smt, d, &err)) {
		snprintf(serr, len, "opensm: %s", err.msg);
		return -EINVAL;
	}
	sm_desired_free(&t->sm_written);
	t->sm_written = sm_desired_dup(d);
	t1 = now_ns(CLOCK_MONOTONIC);
	phase_ms[0] += (double)(t1 - t0) / 1e6;
	if (!smt_write_changed(t->smt))
		return 0;	/* the file already said exactly this: no sweep needed */
	if (smt_signal(t->smt, &err) || smt_wait_sweep(t->smt, SM_SWEEP_MS, &err) < 0) {
		snprintf(serr, len, "opensm: %s", err.msg);
		return -EINVAL;
	}
	phase_ms[1] += (double)(now_ns(CLOCK_MONOTONIC) - t1) / 1e6;
	return 0;
}

/*
 * When a write is refused, finds the members the fabric does not have (a
 * node cabled elsewhere, a typo in the topology) and returns @d without
 * them, so that one bad port does not hold back every other partition of
 * this subnet manager; NULL when no member is missing.  @why gets the
 * first missing member, for the status of the partitions that lost it.
 */
static struct sm_desired *sm_without_unknown(struct target *t, const struct sm_desired *d,
					     char *why, size_t why_len)
{
	struct sm_desired *k = NULL;
	bool any = false;

	for (size_t i = 0; i < d->n_partitions; i++) {
		const struct sm_partition *p = &d->partitions[i];

		for (size_t m = 0; m < p->n_members; m++) {
			struct loom_err err = { 0 };
			unsigned int cap = 0, used = 0;
			char guid[19];

			if (ib_port_pkey_capacity(t->smt, p->members[m].guid, &cap, &used, &err) == 0
			    || err.code != LOOM_E_NOT_FOUND)
				continue;
			if (!k && !(k = sm_desired_dup(d)))
				return NULL;
			if (!any) {
				guid_format(p->members[m].guid, guid);
				snprintf(why, why_len, "opensm: port GUID %s (%s %s) is not in the fabric; "
					 "the partition's other members are programmed", guid,
					 p->members[m].node, p->members[m].port);
			}
			any = true;
			k->partitions[i].members[m].guid = 0;	/* dropped below */
		}
	}
	if (!any)
		return NULL;
	for (size_t i = 0; i < k->n_partitions; i++) {
		struct sm_partition *p = &k->partitions[i];
		size_t kept = 0;

		for (size_t m = 0; m < p->n_members; m++)
			if (p->members[m].guid)
				p->members[kept++] = p->members[m];
		p->n_members = kept;
	}
	return k;
}

static bool guid_in_tenant(const struct sm_desired *d, uint64_t guid, const char *tenant, bool other)
{
	for (size_t i = 0; i < d->n_partitions; i++) {
		const struct sm_partition *p = &d->partitions[i];

		if ((strcmp(p->tenant, tenant) != 0) != other)
			continue;
		for (size_t k = 0; k < p->n_members; k++)
			if (p->members[k].guid == guid)
				return true;
	}
	return false;
}

/*
 * When a port goes from one tenant's partitions to another's between @old
 * and @new, returns the state with only the removals applied (partitions of
 * both, members of both; nothing added); otherwise NULL.
 */
static struct sm_desired *sm_removals_first(const struct sm_desired *old, const struct sm_desired *new)
{
	struct sm_desired *first;
	bool move = false;

	for (size_t i = 0; i < new->n_partitions && !move; i++) {
		const struct sm_partition *p = &new->partitions[i];

		for (size_t k = 0; k < p->n_members && !move; k++)
			move = !guid_in_tenant(old, p->members[k].guid, p->tenant, false)
			       && guid_in_tenant(old, p->members[k].guid, p->tenant, true);
	}
	if (!move)
		return NULL;
	first = sm_desired_dup(old);
	if (!first)
		return NULL;
	size_t n = first->n_partitions, out = 0;

	for (size_t i = 0; i < n; i++) {
		struct sm_partition *p = &first->partitions[i];
		const struct sm_partition *q = NULL;
		size_t kept = 0;

		for (size_t j = 0; j < new->n_partitions && !q; j++)
			if (new->partitions[j].pkey == p->pkey)
				q = &new->partitions[j];
		if (!q) {
			free(p->members);
			continue;
		}
		for (size_t k = 0; k < p->n_members; k++)
			for (size_t j = 0; j < q->n_members; j++)
				if (q->members[j].guid == p->members[k].guid) {
					p->members[kept++] = p->members[k];
					break;
				}
		p->n_members = kept;
		first->partitions[out++] = *p;
	}
	first->n_partitions = out;
	return first;
}

static void run_sm(struct target *t, const struct sm_desired *d, struct items *it, char *error,
		   size_t error_len, struct capacity **caps, size_t *n_caps, double phase_ms[3])
{
	struct loom_err err = { 0 };
	struct smt_pstatus *st = NULL;
	size_t n_st = 0;
	bool hand = false, restarted = false;
	char serr[300] = "", down[300] = "", unknown[300] = "";
	struct sm_desired *known = NULL;	/* d less the members the fabric lacks */

	if (!t->smt && smt_open(&t->sm, &t->smt, &err)) {
		snprintf(serr, sizeof(serr), "opensm: %s", err.msg);
		t->smt = NULL;
	}
	if (t->smt) {
		loom_err_clear(&err);
		smt_changed_by_hand(t->smt, &hand, &err);
		loom_err_clear(&err);
		/* OpenSM not running: the file is still written (OpenSM reads
		 * it when it starts), but nothing is verified, and status says
		 * why, even when nothing changed. */
		if (smt_sm_restarted(t->smt, &restarted, &err) < 0)
			snprintf(down, sizeof(down), "opensm: %s", err.msg);
		if (hand)
			log_warn("sm %s: loom's section of %s was edited by hand; rewriting it", t->name,
				 t->sm.partitions_file);
		if (restarted)
			log_info("sm %s: OpenSM restarted; verifying the fabric again", t->name);
		if (hand || !sm_desired_equal(t->sm_written, d)) {
			struct sm_desired *first = t->sm_written ? sm_removals_first(t->sm_written, d) : NULL;

			/* A port moving between tenants: take it out and verify that on the
			 * fabric before it goes in, so it never carries both P_Keys. */
			if (first) {
				log_info("sm %s: a port changes tenant; removing before adding", t->name);
				if (sm_push(t, first, serr, sizeof(serr), phase_ms) == 0) {
					loom_err_clear(&err);
					if (smt_converge(t->smt, first, SM_VERIFY_MS, &st, &n_st, &err) != 0)
						snprintf(serr, sizeof(serr), "opensm: the removal before a move did not verify: %s",
							 err.msg[0] ? err.msg : "ports still carry the old P_Key");
					smt_pstatus_free(&st);
					n_st = 0;
				}
				sm_desired_free(&first);
			}
			if (!serr[0] && sm_push(t, d, serr, sizeof(serr), phase_ms)
			    && (known = sm_without_unknown(t, d, unknown, sizeof(unknown)))) {
				log_warn("sm %s: %s", t->name, unknown);
				serr[0] = '\0';
				sm_push(t, known, serr, sizeof(serr), phase_ms);
			}
		}
		if (!serr[0] && down[0])
			snprintf(serr, sizeof(serr), "%s", down);
		if (!serr[0]) {
			int64_t t2 = now_ns(CLOCK_MONOTONIC);

			loom_err_clear(&err);
			if (smt_converge(t->smt, known ? known : d, SM_VERIFY_MS, &st, &n_st, &err) < 0)
				snprintf(serr, sizeof(serr), "opensm: %s", err.msg);
			phase_ms[2] = (double)(now_ns(CLOCK_MONOTONIC) - t2) / 1e6;
			sm_capacity_fill(t, d, caps, n_caps);
		}
	}
	for (size_t i = 0; i < d->n_partitions; i++) {
		const struct sm_partition *p = &d->partitions[i];
		const struct smt_pstatus *s = NULL;

		for (size_t k = 0; !serr[0] && k < n_st; k++)
			if (!st[k].removed && st[k].pkey == p->pkey)
				s = &st[k];
		if (serr[0])
			items_add(it, p->tenant, p->segment, p->pkey, "opensm", SEG_ERROR, serr);
		else if (known && known->partitions[i].n_members != p->n_members)
			items_add(it, p->tenant, p->segment, p->pkey, "opensm", SEG_ERROR, unknown);
		else if (!s)
			items_add(it, p->tenant, p->segment, p->pkey, "opensm", SEG_PENDING, "not verified yet");
		else
			items_add(it, p->tenant, p->segment, p->pkey, "opensm",
				  s->state == SMT_PROGRAMMED ? SEG_PROGRAMMED
				  : s->state == SMT_PENDING ? SEG_PENDING : SEG_ERROR, s->reason);
	}
	/* Partitions loom removed count until every port is verified out. */
	for (size_t k = 0; !serr[0] && k < n_st; k++)
		if (st[k].removed)
			items_add(it, "", st[k].name, st[k].pkey, "opensm",
				  st[k].state == SMT_PROGRAMMED ? SEG_PROGRAMMED
				  : st[k].state == SMT_PENDING ? SEG_PENDING : SEG_ERROR,
				  st[k].state == SMT_PROGRAMMED ? "removed" : st[k].reason);
	smt_pstatus_free(&st);
	sm_desired_free(&known);
	snprintf(error, error_len, "%s", serr);
}

/*
 * One GPU worker run: NVML opened (again) when needed, then per GPU
 * observe -> diff -> apply -> verify (gpu_nvml_apply).  One item per GPU.
 */
static void run_gpu(struct target *t, const struct gpu_want *w, struct items *it, char *error,
		    size_t error_len, double phase_ms[3])
{
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	struct loom_err err = { 0 };
	char seg[16];

	if (!t->nvml && gpu_nvml_open(t->nvml_path, &t->nvml, &err)) {
		snprintf(error, error_len, "no NVML reachable for node %s: %s", t->name, err.msg);
		t->nvml = NULL;
		for (size_t i = 0; i < w->n; i++) {
			snprintf(seg, sizeof(seg), "gpu%u", w->layouts[i].index);
			items_add(it, "", seg, w->layouts[i].index, "nvml", SEG_ERROR, error);
		}
		return;
	}
	for (size_t i = 0; i < w->n; i++) {
		const struct gpu_layout *l = &w->layouts[i];
		char why[300] = "";
		int ret;

		loom_err_clear(&err);
		snprintf(seg, sizeof(seg), "gpu%u", l->index);
		ret = gpu_nvml_apply(t->nvml, l, &t->nvml_opts, &err);
		if (ret > 0)
			log_info("gpu %s gpu%u: %d NVML operation(s) applied", t->name, l->index, ret);
		if (ret < 0) {
			snprintf(why, sizeof(why), "%s", err.msg);
			log_warn("gpu %s gpu%u: %s", t->name, l->index, why);
		}
		items_add(it, "", seg, l->index, "nvml",
			  ret >= 0 ? SEG_PROGRAMMED : ret == -EAGAIN ? SEG_PENDING : SEG_ERROR, why);
		if (err.code == LOOM_E_UNAVAILABLE) {
			/* The driver went away: open it again next run. */
			gpu_nvml_close(&t->nvml);
			break;
		}
	}
	phase_ms[0] = (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e6;
}

/* Did someone change a GPU's layout behind loom's back? */
static bool gpu_drifted(struct target *t)
{
	struct gpu_want *w;
	bool drift = false;

	pthread_mutex_lock(&t->r->lock);
	w = t->want_gpu ? gpu_want_dup(t->want_gpu) : NULL;
	pthread_mutex_unlock(&t->r->lock);
	if (!w || !t->nvml) {
		gpu_want_free(&w);
		return false;
	}
	for (size_t i = 0; i < w->n && !drift; i++) {
		struct loom_err err = { 0 };

		drift = gpu_nvml_verify(t->nvml, &w->layouts[i], &err) != 0;
		if (drift)
			log_info("gpu %s gpu%u: drift: %s; repairing", t->name, w->layouts[i].index, err.msg);
	}
	gpu_want_free(&w);
	return drift;
}

/* Cheap checks while idle: did something outside loom undo its work? */
static bool watch(struct target *t)
{
	struct loom_err err = { 0 };
	bool changed = false, restarted = false, down;

	if (t->kind == TARGET_GPU)
		return gpu_drifted(t);
	if (t->kind == TARGET_VTEP)
		return t->frr && frr_restarted(t->frr, &err) > 0;
	if (!t->smt)
		return false;
	smt_changed_by_hand(t->smt, &changed, &err);
	loom_err_clear(&err);
	/* OpenSM gone is drift too: the run that follows reports it. */
	down = smt_sm_restarted(t->smt, &restarted, &err) < 0;
	if (restarted)
		log_info("sm %s: OpenSM restarted; verifying the fabric again", t->name);
	return changed || restarted || down;
}

/* Queues a signal for the main thread (called with r->lock held). */
static void signal_push(struct reconciler *r, const struct hca_signal *sig)
{
	if (r->n_signals == r->cap_signals) {
		size_t cap = r->cap_signals ? r->cap_signals * 2 : 16;
		struct hca_signal *p;

		if (cap > 65536)
			return;	/* nobody takes them: drop rather than grow for ever */
		p = realloc(r->signals, cap * sizeof(*p));
		if (!p)
			return;
		r->signals = p;
		r->cap_signals = cap;
	}
	r->signals[r->n_signals++] = *sig;
}

/*
 * One sample of every HCA port under this SM, compared with the last one.
 * On the worker thread, between runs: the smt handle is the worker's.
 */
static void hca_sample(struct target *t)
{
	struct reconciler *r = t->r;
	struct smt_port_health *h;
	struct hca_signal *sig;
	struct loom_err err = { 0 };
	size_t n_sig = 0;

	if (!t->smt && smt_open(&t->sm, &t->smt, &err)) {
		t->smt = NULL;
		return;
	}
	h = calloc(t->n_hca, sizeof(*h));
	sig = calloc(2 * t->n_hca, sizeof(*sig));
	if (!h || !sig)
		goto out;
	for (size_t i = 0; i < t->n_hca; i++)
		h[i].guid = t->hca[i].guid;
	if (smt_port_health(t->smt, h, t->n_hca, &err) < 0) {
		/* The SM's own port is not usable (OpenSM down, no SM LID):
		 * that says nothing about the nodes' ports. */
		log_debug(LOG_SUB_MAD, "sm %s: HCA watcher: %s", t->name, err.msg);
		goto out;
	}
	if (!t->hca[0].known) {
		size_t answer = 0, counters = 0;

		for (size_t i = 0; i < t->n_hca; i++) {
			answer += h[i].result == 0;
			counters += h[i].counters_ok;
		}
		log_info("sm %s: HCA watcher: first sample of %zu ports: %zu answer PortInfo, %zu PortCounters",
			 t->name, t->n_hca, answer, counters);
	}
	for (size_t i = 0; i < t->n_hca; i++) {
		struct hca_watch *w = &t->hca[i];
		bool bad = h[i].result != 0 || h[i].port_state != 4;
		struct ib_port_counters cur = {
			.symbol_errors = h[i].symbol_errors,
			.link_recovery = h[i].link_recovery,
			.link_downed = h[i].link_downed,
		};

		/*
		 * One unanswered sample is not a dead link (a MAD lost while
		 * OpenSM sweeps, a LID being reassigned): it takes two in a row.
		 * A PortState read as not Active counts at once.
		 */
		w->misses = h[i].result ? w->misses + 1 : 0;
		if (w->known && h[i].result && w->misses < 2)
			bad = w->bad;
		if (w->known && bad && !w->bad) {
			struct hca_signal *s = &sig[n_sig++];

			snprintf(s->node, sizeof(s->node), "%s", w->node);
			snprintf(s->port, sizeof(s->port), "%s", w->port);
			snprintf(s->sm, sizeof(s->sm), "%s", t->name);
			s->result = h[i].result;
			s->state = h[i].port_state;
		} else if (w->known && !bad && w->bad) {
			log_info("sm %s: HCA port %s of %s is Active again", t->name, w->port, w->node);
		}
		w->known = true;
		w->bad = bad;
		if (!h[i].counters_ok)
			continue;	/* keep the last sample: a rise across a gap still counts */
		if (w->counters_known && memcmp(&cur, &w->ctr, sizeof(cur)) != 0) {
			struct hca_signal *s = &sig[n_sig++];

			snprintf(s->node, sizeof(s->node), "%s", w->node);
			snprintf(s->port, sizeof(s->port), "%s", w->port);
			snprintf(s->sm, sizeof(s->sm), "%s", t->name);
			s->counters = true;
			s->prev = w->ctr;
			s->cur = cur;
		}
		w->ctr = cur;
		w->counters_known = true;
	}
	if (n_sig) {
		uint64_t one = 1;

		pthread_mutex_lock(&r->lock);
		for (size_t i = 0; i < n_sig; i++)
			signal_push(r, &sig[i]);
		pthread_mutex_unlock(&r->lock);
		if (write(r->event_fd, &one, sizeof(one)) < 0)
			log_warn("reconciler: eventfd: %s", strerror(errno));
	}
out:
	free(h);
	free(sig);
}

static void *worker(void *arg)
{
	struct target *t = arg;
	struct reconciler *r = t->r;
	int64_t retry_at = 0;

	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		struct vtep_desired *vd = NULL;
		struct sm_desired *sd = NULL;
		struct gpu_want *gd = NULL;
		struct items it = { 0 };
		struct capacity *caps = NULL;
		size_t n_caps = 0;
		char error[sizeof(t->error)] = "";
		uint64_t gen;
		int64_t t0;
		double phase_ms[3] = { 0 };

		if (t->want_gen <= t->done_gen && !t->resync) {
			struct timespec until;
			int64_t deadline = now_ns(CLOCK_REALTIME) + (int64_t)WATCH_INTERVAL_MS * 1000000;

			if (retry_at && retry_at - now_ns(CLOCK_MONOTONIC) < (int64_t)WATCH_INTERVAL_MS * 1000000)
				deadline = now_ns(CLOCK_REALTIME) + (retry_at - now_ns(CLOCK_MONOTONIC));
			if (t->kind == TARGET_SM && r->hca_interval_s && t->n_hca) {
				int64_t left = t->next_sample_ns - now_ns(CLOCK_MONOTONIC);

				if (left < 0)
					left = 0;
				if (now_ns(CLOCK_REALTIME) + left < deadline)
					deadline = now_ns(CLOCK_REALTIME) + left;
			}
			until.tv_sec = deadline / 1000000000;
			until.tv_nsec = deadline % 1000000000;
			if (pthread_cond_timedwait(&r->cond, &r->lock, &until) != ETIMEDOUT || r->stop)
				continue;
			if (t->want_gen <= t->done_gen && !t->resync) {
				bool due = retry_at && now_ns(CLOCK_MONOTONIC) >= retry_at;
				unsigned int every = r->hca_interval_s;

				pthread_mutex_unlock(&r->lock);
				if (t->kind == TARGET_SM && every && t->n_hca
				    && now_ns(CLOCK_MONOTONIC) >= t->next_sample_ns) {
					hca_sample(t);
					t->next_sample_ns = now_ns(CLOCK_MONOTONIC) + (int64_t)every * 1000000000;
				}
				due = due || watch(t);
				pthread_mutex_lock(&r->lock);
				if (!due)
					continue;
				t->resync = true;
			}
		}
		gen = t->want_gen;
		t->resync = false;
		t->busy = true;
		if (t->kind == TARGET_VTEP)
			vd = t->want_vtep ? vtep_desired_dup(t->want_vtep) : NULL;
		else if (t->kind == TARGET_SM)
			sd = t->want_sm ? sm_desired_dup(t->want_sm) : NULL;
		else
			gd = t->want_gpu ? gpu_want_dup(t->want_gpu) : NULL;
		caps = t->caps;
		n_caps = t->n_caps;
		t->caps = NULL;
		t->n_caps = 0;
		pthread_mutex_unlock(&r->lock);

		t0 = now_ns(CLOCK_MONOTONIC);
		if (vd)
			run_vtep(t, vd, &it, error, sizeof(error), phase_ms);
		else if (sd)
			run_sm(t, sd, &it, error, sizeof(error), &caps, &n_caps, phase_ms);
		else if (gd)
			run_gpu(t, gd, &it, error, sizeof(error), phase_ms);

		pthread_mutex_lock(&r->lock);
		/* Keep "since" for items whose state did not change. */
		for (size_t i = 0; i < it.n; i++) {
			it.v[i].since_ns = now_ns(CLOCK_REALTIME);
			for (size_t k = 0; k < t->n_items; k++) {
				struct item *o = &t->items[k];

				if (o->id == it.v[i].id && o->layer == it.v[i].layer && o->state == it.v[i].state
				    && strcmp(o->segment, it.v[i].segment) == 0) {
					it.v[i].since_ns = o->since_ns;
					break;
				}
			}
		}
		free(t->items);
		t->items = it.v;
		t->n_items = it.n;
		t->n_bad = 0;
		t->n_pending = 0;
		for (size_t i = 0; i < it.n; i++) {
			t->n_bad += it.v[i].state != SEG_PROGRAMMED;
			t->n_pending += it.v[i].state == SEG_PENDING;
		}
		/* A target-wide error (a namespace not there yet, FRR down) is
		 * retried too, even with no item to show it. */
		retry_at = t->n_bad || error[0] ? now_ns(CLOCK_MONOTONIC) + (int64_t)RETRY_MS * 1000000 : 0;
		snprintf(t->error, sizeof(t->error), "%s", error);
		t->caps = caps;
		t->n_caps = n_caps;
		if (gen > t->done_gen)
			t->done_gen = gen;
		t->busy = false;
		t->runs++;
		t->last_run_ns = now_ns(CLOCK_REALTIME);
		t->last_run_ms = (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e6;
		memcpy(t->phase_ms, phase_ms, sizeof(t->phase_ms));
		log_debug(LOG_SUB_RECONCILE, "%s %s: run of generation %" PRIu64 " took %.1f ms (%s %.1f, %s %.1f, verify %.1f), %zu of %zu items not programmed",
			  t->kind == TARGET_VTEP ? "vtep" : t->kind == TARGET_SM ? "sm" : "gpu", t->name, gen, t->last_run_ms,
			  t->kind == TARGET_VTEP ? "kernel" : "write", phase_ms[0],
			  t->kind == TARGET_VTEP ? "frr" : "sweep", phase_ms[1], phase_ms[2], t->n_bad, t->n_items);
		{
			uint64_t one = 1;

			if (write(r->event_fd, &one, sizeof(one)) < 0)
				log_warn("reconciler: eventfd: %s", strerror(errno));
		}
		vtep_desired_free(&vd);
		sm_desired_free(&sd);
		gpu_want_free(&gd);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* ---- the main thread's side ---------------------------------------------- */

/* The nodes' HCA ports under this subnet manager, for the HCA watcher. */
static int hca_watch_fill(struct target *t, const struct topology *topo)
{
	size_t n = 0;

	for (size_t i = 0; i < topo->n_nodes; i++)
		for (size_t k = 0; k < topo->nodes[i].n_hca_ports; k++)
			n += strcmp(topo->nodes[i].hca_ports[k].sm, t->name) == 0;
	if (!n)
		return 0;
	t->hca = calloc(n, sizeof(*t->hca));
	if (!t->hca)
		return -ENOMEM;
	for (size_t i = 0; i < topo->n_nodes; i++)
		for (size_t k = 0; k < topo->nodes[i].n_hca_ports; k++) {
			const struct topo_hca_port *p = &topo->nodes[i].hca_ports[k];
			struct hca_watch *w = &t->hca[t->n_hca];

			if (strcmp(p->sm, t->name))
				continue;
			snprintf(w->node, sizeof(w->node), "%s", topo->nodes[i].name);
			snprintf(w->port, sizeof(w->port), "%s", p->name);
			w->guid = p->guid;
			t->n_hca++;
		}
	return 0;
}

void reconciler_watch_hca(struct reconciler *r, unsigned int interval_s)
{
	pthread_mutex_lock(&r->lock);
	r->hca_interval_s = interval_s;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

size_t reconciler_hca_take(struct reconciler *r, struct hca_signal *out, size_t max)
{
	size_t n;

	pthread_mutex_lock(&r->lock);
	n = r->n_signals < max ? r->n_signals : max;
	if (n) {	/* r->signals may be NULL, and memcpy's source may not */
		memcpy(out, r->signals, n * sizeof(*out));
		memmove(r->signals, r->signals + n, (r->n_signals - n) * sizeof(*out));
		r->n_signals -= n;
	}
	pthread_mutex_unlock(&r->lock);
	return n;
}


size_t reconciler_carrier_take(struct reconciler *r, size_t i, struct carrier_change *out, size_t max)
{
	struct target *t = &r->targets[r->drift_index[i]];
	struct kvtep_carrier kc[32];
	size_t n = 0;

	if (max > sizeof(kc) / sizeof(kc[0]))
		max = sizeof(kc) / sizeof(kc[0]);
	n = kvtep_carrier_take(t->kv, kc, max);
	for (size_t k = 0; k < n; k++) {
		snprintf(out[k].vtep, sizeof(out[k].vtep), "%s", t->name);
		snprintf(out[k].access_port, sizeof(out[k].access_port), "%s", kc[k].port);
		out[k].up = kc[k].up;
	}
	return n;
}

int reconciler_start(const struct topology *topo, const struct reconciler_opts *opts,
		     struct reconciler **out)
{
	struct reconciler *r = calloc(1, sizeof(*r));
	size_t n = topo->n_vteps + topo->n_sms + (opts ? opts->n_gpu_nodes : 0);

	if (!r)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->frr_apply = opts ? opts->frr_apply : FRR_APPLY_SESSION;
	r->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	r->targets = calloc(n ? n : 1, sizeof(*r->targets));
	r->drift_fds = calloc(topo->n_vteps ? topo->n_vteps : 1, sizeof(int));
	r->drift_index = calloc(topo->n_vteps ? topo->n_vteps : 1, sizeof(size_t));
	r->cap_drift = topo->n_vteps;
	if (r->event_fd < 0 || !r->targets || !r->drift_fds || !r->drift_index) {
		reconciler_stop(&r);
		return -ENOMEM;
	}
	for (size_t i = 0; i < topo->n_vteps; i++) {
		struct target *t = &r->targets[r->n_targets++];
		struct loom_err err = { 0 };

		t->r = r;
		t->kind = TARGET_VTEP;
		t->vtep = topo->vteps[i];
		snprintf(t->name, sizeof(t->name), "%s", topo->vteps[i].name);
		/* Opened here so the drift socket is subscribed before the first dump. */
		if (kvtep_open(t->vtep.netns, t->vtep.vtep_ip, t->vtep.mode, &t->kv, &err)) {
			log_warn("vtep %s: %s (will retry)", t->name, err.msg);
			t->kv = NULL;
		} else {
			r->drift_fds[r->n_drift] = kvtep_event_fd(t->kv);
			r->drift_index[r->n_drift++] = r->n_targets - 1;
		}
		if (carrier_ports_fill(t, topo)) {
			reconciler_stop(&r);
			return -ENOMEM;
		}
		if (t->kv)
			carrier_watch(t);
	}
	for (size_t i = 0; i < topo->n_sms; i++) {
		struct target *t = &r->targets[r->n_targets++];

		t->r = r;
		t->kind = TARGET_SM;
		t->sm = topo->sms[i];
		snprintf(t->name, sizeof(t->name), "%s", topo->sms[i].name);
		if (hca_watch_fill(t, topo)) {
			reconciler_stop(&r);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; opts && i < opts->n_gpu_nodes; i++) {
		const struct topo_node *node = topology_node(topo, opts->gpu_nodes[i].node);
		struct target *t;

		if (!node) {
			log_warn("gpu.nvml.%s: no such node in the topology; ignored", opts->gpu_nodes[i].node);
			continue;
		}
		t = &r->targets[r->n_targets++];
		t->r = r;
		t->kind = TARGET_GPU;
		snprintf(t->name, sizeof(t->name), "%s", node->name);
		snprintf(t->nvml_path, sizeof(t->nvml_path), "%s", opts->gpu_nodes[i].path);
		t->nvml_opts.allow_mig_mode = opts->allow_mig_mode;
		t->gpus = calloc(node->n_gpus ? node->n_gpus : 1, sizeof(*t->gpus));
		if (!t->gpus) {
			reconciler_stop(&r);
			return -ENOMEM;
		}
		for (size_t k = 0; k < node->n_gpus; k++)
			if (node->gpus[k].mig_capable && mig_model_find(node->gpus[k].model))
				t->gpus[t->n_gpus++] = node->gpus[k];
	}
	for (size_t i = 0; i < r->n_targets; i++) {
		if (pthread_create(&r->targets[i].thread, NULL, worker, &r->targets[i])) {
			reconciler_stop(&r);
			return -EAGAIN;
		}
		r->targets[i].started = true;
	}
	*out = r;
	return 0;
}

void reconciler_stop(struct reconciler **pr)
{
	struct reconciler *r = *pr;

	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	for (size_t i = 0; i < r->n_targets; i++) {
		struct target *t = &r->targets[i];

		if (t->started)
			pthread_join(t->thread, NULL);
		kvtep_close(&t->kv);
		frr_target_close(&t->frr);
		smt_close(&t->smt);
		vtep_desired_free(&t->want_vtep);
		sm_desired_free(&t->want_sm);
		gpu_want_free(&t->want_gpu);
		gpu_nvml_close(&t->nvml);
		free(t->gpus);
		sm_desired_free(&t->sm_written);
		free(t->items);
		free(t->caps);
		free(t->hca);
		free(t->carrier_ports);
		for (size_t k = 0; k < t->n_touches; k++)
			free(t->touches[k].ids);
	}
	free(r->signals);
	if (r->event_fd >= 0)
		close(r->event_fd);
	free(r->targets);
	free(r->drift_fds);
	free(r->drift_index);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	free(r);
	*pr = NULL;
}

int reconciler_event_fd(const struct reconciler *r)
{
	return r->event_fd;
}

size_t reconciler_n_drift_fds(const struct reconciler *r)
{
	struct reconciler *rw = (struct reconciler *)r;
	size_t n;

	pthread_mutex_lock(&rw->lock);
	n = r->n_drift;
	pthread_mutex_unlock(&rw->lock);
	return n;
}

size_t reconciler_max_drift_fds(const struct reconciler *r)
{
	return r->cap_drift;
}

int reconciler_drift_fd(const struct reconciler *r, size_t i)
{
	struct reconciler *rw = (struct reconciler *)r;
	int fd;

	pthread_mutex_lock(&rw->lock);
	fd = i < r->n_drift ? r->drift_fds[i] : -1;
	pthread_mutex_unlock(&rw->lock);
	return fd;
}

void reconciler_drift(struct reconciler *r, size_t i)
{
	struct target *t;

	pthread_mutex_lock(&r->lock);
	t = i < r->n_drift ? &r->targets[r->drift_index[i]] : NULL;
	pthread_mutex_unlock(&r->lock);
	/* t->kv is set before its fd is published and never changes after. */
	if (t && kvtep_event_drain(t->kv) > 0) {
		log_debug(LOG_SUB_RECONCILE, "vtep %s: drift seen; resyncing", t->name);
		pthread_mutex_lock(&r->lock);
		t->resync = true;
		pthread_cond_broadcast(&r->cond);
		pthread_mutex_unlock(&r->lock);
	}
}

uint64_t reconciler_post(struct reconciler *r, const struct desired *d)
{
	uint64_t gen;

	pthread_mutex_lock(&r->lock);
	gen = ++r->gen;
	for (size_t i = 0; i < r->n_targets; i++) {
		struct target *t = &r->targets[i];
		struct touch tc = { .gen = gen };
		int ret;

		if (t->kind == TARGET_GPU) {
			continue;	/* reconciler_post_gpus */
		} else if (t->kind == TARGET_VTEP) {
			const struct vtep_desired *s = desired_vtep(d, t->name);

			if (!s || vtep_desired_equal(t->want_vtep, s))
				continue;
			ret = vtep_touch(t->want_vtep, s, &tc);
			vtep_desired_free(&t->want_vtep);
			t->want_vtep = vtep_desired_dup(s);
		} else {
			const struct sm_desired *s = desired_sm(d, t->name);

			if (!s || sm_desired_equal(t->want_sm, s))
				continue;
			ret = sm_touch(t->want_sm, s, &tc);
			sm_desired_free(&t->want_sm);
			t->want_sm = sm_desired_dup(s);
		}
		if (ret == 0) {
			touch_push(t, &tc);
		} else {
			/* Out of memory: waiters of this generation judge the whole target. */
			free(tc.ids);
			for (size_t k = 0; k < t->n_touches; k++)
				free(t->touches[k].ids);
			t->n_touches = 0;
			t->touch_floor = gen;
		}
		t->want_gen = gen;
	}
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return gen;
}

void reconciler_post_gpus(struct reconciler *r, uint64_t gen, const struct gpu_inst_rec *recs, size_t n)
{
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n_targets; i++) {
		struct target *t = &r->targets[i];
		struct gpu_want w = { 0 };

		if (t->kind != TARGET_GPU)
			continue;
		w.layouts = calloc(t->n_gpus ? t->n_gpus : 1, sizeof(*w.layouts));
		if (!w.layouts)
			continue;
		w.n = t->n_gpus;
		for (size_t k = 0; k < t->n_gpus; k++) {
			struct gpu_layout *l = &w.layouts[k];
			const struct mig_model *model = mig_model_find(t->gpus[k].model);

			l->index = t->gpus[k].index;
			/* recs are sorted by (node, gpu, start): so is each layout. */
			for (size_t j = 0; j < n && l->n_gi < MIG_INSTANCES_MAX; j++) {
				const struct gpu_inst_rec *g = &recs[j];
				const struct mig_profile *p;

				if (strcmp(g->node, t->name) || g->gpu != l->index)
					continue;
				p = mig_profile_find(model, g->profile);
				if (!p)
					continue;
				l->gi[l->n_gi].profile = p;
				l->gi[l->n_gi].start = g->start;
				snprintf(l->gi[l->n_gi].tenant, sizeof(l->gi[l->n_gi].tenant), "%s", g->tenant);
				l->n_gi++;
			}
		}
		if (gpu_want_equal(t->want_gpu, &w)) {
			free(w.layouts);
			continue;
		}
		gpu_want_free(&t->want_gpu);
		t->want_gpu = gpu_want_dup(&w);
		free(w.layouts);
		/* The layout is applied and verified whole: every item counts. */
		touch_push(t, &(struct touch){ .gen = gen, .whole = true });
		t->want_gen = gen;
	}
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

void reconciler_resync_all(struct reconciler *r)
{
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n_targets; i++)
		r->targets[i].resync = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

int reconciler_collect(struct reconciler *r)
{
	uint64_t n = 0;

	if (read(r->event_fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return (int)n;
}

bool reconciler_done(const struct reconciler *r, uint64_t gen, bool *all_ok)
{
	struct reconciler *rw = (struct reconciler *)r;
	bool done = true;

	*all_ok = true;
	pthread_mutex_lock(&rw->lock);
	for (size_t i = 0; i < r->n_targets; i++) {
		const struct target *t = &r->targets[i];
		const struct touch *tc;

		if (!gen_touched(t, gen, &tc))
			continue;	/* this generation did not change it */
		if (t->done_gen < gen) {
			done = false;
			continue;
		}
		/* A target-wide failure (netlink, FRR down) fails every change to it. */
		if (t->error[0])
			*all_ok = false;
		/*
		 * Only the items of what this generation changed count: another
		 * segment's error on the same target is not this write's.
		 * Pending items (FRR or OpenSM not showing it yet) are retried
		 * every RETRY_MS: a waiter waits for those retries until its
		 * deadline, but errors are answered at once.
		 */
		for (size_t k = 0; k < t->n_items; k++) {
			const struct item *x = &t->items[k];

			if (!item_counts(tc, x) || x->state == SEG_PROGRAMMED)
				continue;
			if (x->state == SEG_PENDING)
				done = false;
			else
				*all_ok = false;
		}
	}
	pthread_mutex_unlock(&rw->lock);
	return done;
}

bool reconciler_converged(const struct reconciler *r)
{
	struct reconciler *rw = (struct reconciler *)r;
	bool ok = true;

	pthread_mutex_lock(&rw->lock);
	for (size_t i = 0; i < r->n_targets && ok; i++) {
		const struct target *t = &r->targets[i];

		if (t->kind == TARGET_GPU)
			continue;
		ok = !t->busy && !t->resync && t->done_gen >= t->want_gen && t->n_bad == 0 && !t->error[0];
	}
	pthread_mutex_unlock(&rw->lock);
	return ok;
}

static const char *kind_name(enum target_kind k)
{
	return k == TARGET_VTEP ? "vtep" : k == TARGET_SM ? "sm" : "gpu";
}

static json_t *item_json(const struct target *t, const struct item *x)
{
	char since[40], id[16];
	time_t secs = (time_t)(x->since_ns / 1000000000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(id, sizeof(id), t->kind == TARGET_SM ? "0x%04" PRIx32 : "%" PRIu32, x->id);
	return json_pack("{s:s++, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
			 "segment", x->tenant, x->tenant[0] ? "/" : "", x->segment,
			 "target", t->name, "kind", kind_name(t->kind),
			 "layer", x->layer, "id", id, "state", seg_state_name(x->state),
			 "reason", x->reason, "since", since);
}

static json_t *target_json(const struct target *t)
{
	bool vtep = t->kind == TARGET_VTEP;

	/* last_run_phases_ms splits last_run_ms, to see what dominates a run. */
	return json_pack("{s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:f, s:{s:f, s:f, s:f}}", "name", t->name,
			 "kind", kind_name(t->kind), "error", t->error,
			 "busy", t->busy || t->resync || t->done_gen < t->want_gen,
			 "generation", (json_int_t)t->done_gen, "items", (json_int_t)t->n_items,
			 "not_programmed", (json_int_t)t->n_bad, "runs", (json_int_t)t->runs,
			 "last_run_ms", t->last_run_ms, "last_run_phases_ms",
			 vtep ? "kernel" : t->kind == TARGET_SM ? "write" : "apply", t->phase_ms[0],
			 vtep ? "frr_apply" : t->kind == TARGET_SM ? "sweep" : "-", t->phase_ms[1],
			 "verify", t->phase_ms[2]);
}

json_t *reconciler_status(const struct reconciler *r, const char *tenant, const char *segment)
{
	struct reconciler *rw = (struct reconciler *)r;
	json_t *items = json_array(), *targets = json_array(), *gpus = json_array();

	pthread_mutex_lock(&rw->lock);
	for (size_t i = 0; i < r->n_targets; i++) {
		const struct target *t = &r->targets[i];

		if (!tenant)
			json_array_append_new(targets, target_json(t));
		for (size_t k = 0; k < t->n_items; k++) {
			const struct item *x = &t->items[k];

			if (t->kind == TARGET_GPU) {
				if (!tenant)
					json_array_append_new(gpus, item_json(t, x));
				continue;
			}

			if ((tenant && strcmp(tenant, x->tenant)) || (segment && strcmp(segment, x->segment)))
				continue;
			json_array_append_new(items, item_json(t, x));
		}
	}
	pthread_mutex_unlock(&rw->lock);
	return json_pack("{s:o, s:o, s:o}", "segments", items, "targets", targets, "gpus", gpus);
}

json_t *reconciler_gen_report(const struct reconciler *r, uint64_t gen, bool changed)
{
	struct reconciler *rw = (struct reconciler *)r;
	json_t *out = json_array();

	pthread_mutex_lock(&rw->lock);
	for (size_t i = 0; i < r->n_targets; i++) {
		const struct target *t = &r->targets[i];
		const struct touch *tc;

		if (!gen_touched(t, gen, &tc))
			continue;
		if (t->done_gen < gen) {
			if (changed)
				json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "target", t->name,
								     "state", "pending", "reason", "still running"));
			continue;
		}
		if (changed && t->error[0])
			json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "target", t->name,
							     "state", "error", "reason", t->error));
		for (size_t k = 0; k < t->n_items; k++)
			if (t->items[k].state != SEG_PROGRAMMED && item_counts(tc, &t->items[k]) == changed)
				json_array_append_new(out, item_json(t, &t->items[k]));
	}
	pthread_mutex_unlock(&rw->lock);
	return out;
}

unsigned int reconciler_pkey_capacity(const struct reconciler *r, uint64_t guid, unsigned int *foreign)
{
	struct reconciler *rw = (struct reconciler *)r;
	unsigned int cap = 0;

	pthread_mutex_lock(&rw->lock);
	for (size_t i = 0; i < r->n_targets && !cap; i++)
		for (size_t k = 0; k < r->targets[i].n_caps; k++)
			if (r->targets[i].caps[k].guid == guid) {
				cap = r->targets[i].caps[k].capacity;
				if (foreign)
					*foreign = r->targets[i].caps[k].foreign;
				break;
			}
	pthread_mutex_unlock(&rw->lock);
	return cap;
}

json_t *reconciler_gpu_status(const struct reconciler *r, const char *node, unsigned int index)
{
	struct reconciler *rw = (struct reconciler *)r;
	json_t *out = NULL;

	pthread_mutex_lock(&rw->lock);
	for (size_t i = 0; i < r->n_targets && !out; i++) {
		const struct target *t = &r->targets[i];

		if (t->kind != TARGET_GPU || strcmp(t->name, node))
			continue;
		for (size_t k = 0; k < t->n_items && !out; k++)
			if (t->items[k].id == index)
				out = item_json(t, &t->items[k]);
		if (!out)
			out = json_pack("{s:s, s:s, s:s, s:s}", "target", t->name, "kind", "gpu", "state", "pending",
					"reason", t->error[0] ? t->error : "not run yet");
		else if (t->done_gen < t->want_gen || t->busy) {
			json_object_set_new(out, "state", json_string("pending"));
			json_object_set_new(out, "reason", json_string("a newer layout is being applied"));
		}
	}
	pthread_mutex_unlock(&rw->lock);
	return out;
}

bool reconciler_gpu_managed(const struct reconciler *r, const char *node)
{
	for (size_t i = 0; i < r->n_targets; i++)
		if (r->targets[i].kind == TARGET_GPU && strcmp(r->targets[i].name, node) == 0)
			return true;
	return false;
}

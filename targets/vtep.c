/*
 * targets/vtep.c: the VTEP target.  One run is the kernel's half
 * (overlay/kvtep.h: VXLAN devices, bridges, access ports) and FRR's half
 * (overlay/frr.h: `vni` statements, then what zebra and bgpd show),
 * overlapped on two threads (for a large batch of new VNIs, FRR's half done
 * before the kernel's brings any of them up, frr_order).
 * The kernel's netlink event socket is also the drift socket the main loop
 * watches, and carries the access ports' carrier for the fault watcher.
 *
 * The kernel and FRR handles belong to the worker; kvtep_event_drain and
 * kvtep_carrier_take are documented as safe from the main loop while it
 * runs.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "lib/monotime.h"
#include "overlay/frr.h"
#include "overlay/kvtep.h"
#include "src/reconcile.h"
#include "targets/vtep.h"

/* How long a run waits for FRR to show what was applied. */
#define FRR_VERIFY_MS 4000
/* ... and at most this long while FRR keeps making progress. */
#define FRR_VERIFY_MAX_MS 60000
/* While bgpd catches up with zebra, its full JSON is read at least this often. */
#define FRR_FULL_READ_MS 1000
/* ... and between probes of one VNI, once zebra has them all. */
#define FRR_PROBE_MS 25
/* A batch creating this many VXLAN devices (and deleting none) has FRR's
 * statements in before the kernel brings any of them up (frr_order). */
#define FRR_GATED_MIN_VNIS 100

struct vtep_target {
	struct topo_vtep vtep;
	enum frr_apply_mode frr_apply;
	/* the access ports of the nodes cabled to it, whose carrier the fault
	 * watcher follows (set again when opened late); they point into the
	 * topology, which outlives the reconciler (a reload stops it first) */
	const char **carrier_ports;
	size_t n_carrier_ports;
	/* Worker-private. */
	struct kvtep *kv;		/* set before its fd is published, never changed after */
	struct frr_target *frr;
	bool mode_logged;
	/* The last run left an item not programmed (a statement changed by
	 * hand shows as a mismatch). */
	bool unverified;
};

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Every node's access port cabled to this VTEP has its carrier watched. */
static void carrier_watch(const char *name, struct vtep_target *v)
{
	if (kvtep_carrier_watch(v->kv, v->carrier_ports, v->n_carrier_ports))
		log_warn("vtep %s: cannot watch the access ports' carrier: out of memory", name);
}

/* FRR's half of a VTEP run: on its own thread while the kernel is worked,
 * or before it for a large batch of new VNIs (vtep_run). */
struct frr_job {
	struct target *t;
	const struct vtep_desired *want;
	char ferr[300];
	double ms;
	/* What frr_contain left out (each VNI FRR refused on its own), and
	 * the rest, which verification is then given (its vnis array only is
	 * the job's: the entries are @want's). */
	struct frr_refused *refused;
	size_t n_refused;
	struct vtep_desired kept;
};

struct frr_refused {
	uint32_t vni;
	char why[256];
};

static bool frr_state_has(const struct frr_state *st, uint32_t vni)
{
	for (size_t i = 0; i < st->n_vnis; i++)
		if (st->vnis[i].vni == vni)
			return true;
	return false;
}

/* @want's VNIs marked in @in, in order, into j->kept (shallow). */
static void frr_kept(struct frr_job *j, const struct vtep_desired *want, const bool *in)
{
	j->kept.n_vnis = 0;
	for (size_t i = 0; i < want->n_vnis; i++)
		if (in[i])
			j->kept.vnis[j->kept.n_vnis++] = want->vnis[i];
}

/*
 * FRR refused the batch: one VNI's statements must not fail every VNI of
 * the VTEP.  What FRR already has of @want goes in first, with the
 * removals (if FRR refuses that too, the whole target is in error); then
 * each new VNI on its own, and a VNI FRR refuses is left out with FRR's
 * message.  Returns 0 when everything else went in, -1 otherwise (@err
 * says why).
 */
static int frr_contain(struct frr_job *j, struct vtep_target *v, const struct vtep_desired *want,
		       struct loom_err *err)
{
	struct frr_state have = { 0 };
	bool *in = calloc(want->n_vnis ? want->n_vnis : 1, sizeof(*in));
	int ret = -1;

	j->kept = *want;
	j->kept.vnis = malloc((want->n_vnis ? want->n_vnis : 1) * sizeof(*j->kept.vnis));
	if (!in || !j->kept.vnis) {
		loom_err_set(err, LOOM_E_INTERNAL, "frr", "out of memory");
		goto out;
	}
	frr_target_invalidate(v->frr);
	loom_err_clear(err);
	if (frr_observe(v->frr, &have, err) < 0)
		goto out;
	for (size_t i = 0; i < want->n_vnis; i++)
		in[i] = frr_state_has(&have, want->vnis[i].vni);
	frr_kept(j, want, in);
	loom_err_clear(err);
	if (frr_sync(v->frr, &j->kept, err) < 0)
		goto out;
	for (size_t i = 0; i < want->n_vnis; i++) {
		struct frr_refused *r;

		if (in[i])
			continue;
		in[i] = true;
		frr_kept(j, want, in);
		loom_err_clear(err);
		if (frr_sync(v->frr, &j->kept, err) >= 0)
			continue;
		frr_target_invalidate(v->frr);
		if (err->code == LOOM_E_UNAVAILABLE)
			goto out;	/* FRR went away: the whole target's */
		in[i] = false;
		r = realloc(j->refused, (j->n_refused + 1) * sizeof(*r));
		if (!r)
			goto out;
		j->refused = r;
		r[j->n_refused].vni = want->vnis[i].vni;
		snprintf(r[j->n_refused].why, sizeof(r->why), "frr refused VNI %" PRIu32 "'s statements (the VTEP's other VNIs are programmed): %s",
			 want->vnis[i].vni, err->msg);
		log_warn("vtep %s: %s", reconciler_target_name(j->t), r[j->n_refused].why);
		j->n_refused++;
	}
	frr_kept(j, want, in);
	loom_err_clear(err);
	ret = 0;
out:
	frr_state_release(&have);
	free(in);
	return ret;
}

static void *frr_job_run(void *arg)
{
	struct frr_job *j = arg;
	struct vtep_target *v = reconciler_target_priv(j->t);
	struct loom_err err = { 0 };
	int64_t t0 = mono_ns();

	if (!v->frr) {
		v->frr = frr_target_open(&v->vtep, &err);
		if (v->frr)
			frr_target_set_mode(v->frr, v->frr_apply);
	}
	if (!v->frr) {
		snprintf(j->ferr, sizeof(j->ferr), "frr: %s", err.msg);
	} else if (frr_restarted(v->frr, &err) > 0) {
		log_info("vtep %s: FRR restarted; re-applying loom's statements", reconciler_target_name(j->t));
	}
	loom_err_clear(&err);
	/* Plan against FRR as it is now, not against the view kept since
	 * loom's last apply, when the last run left something unverified:
	 * else a change made by hand is never undone. */
	if (v->frr && v->unverified)
		frr_target_invalidate(v->frr);
	if (v->frr && frr_sync(v->frr, j->want, &err) < 0
	    && (err.code == LOOM_E_UNAVAILABLE || frr_contain(j, v, j->want, &err) < 0))
		snprintf(j->ferr, sizeof(j->ferr), "frr: %s", err.msg);
	j->ms = (double)(mono_ns() - t0) / 1e6;
	return NULL;
}

/* How FRR verification is going (frr_converge). */
struct frr_poll {
	int64_t start, last_read, end;
	int delay, last, last_z, polls, probes, reads;
	int64_t zebra_all_ms;	/* when zebra's count first reached kcount */
	uint32_t probe;		/* an unverified VNI to ask bgpd about; 0 = none */
};

/* One full read of FRR's JSON: the verdict (frr_verify's return). */
static int frr_read(struct vtep_target *v, const struct vtep_desired *fwant, bool need_kernel,
		    struct frr_vni_status **fst, size_t *n_fst, struct loom_err *err)
{
	free(*fst);
	*fst = NULL;
	*n_fst = 0;
	loom_err_clear(err);
	return frr_verify(v->frr, fwant, need_kernel, fst, n_fst, err);
}

/*
 * Should this pass read FRR's full JSON?  zebra's cheap VNI count first,
 * even on the first pass (a full read while bgpd is still learning a large
 * change only slows it); once zebra has them all, a probe of the last VNI
 * bgpd lacked, or a full read at least every FRR_FULL_READ_MS.  Sets
 * *progress when zebra's count moved.
 */
static bool frr_read_due(struct vtep_target *v, const struct vtep_desired *fwant, bool need_kernel,
			 int kcount, bool first, struct frr_poll *p, bool *progress)
{
	bool full = true;

	/* zebra's count, until it first has them all (the full read's verdict
	 * covers one it loses after). */
	if (need_kernel && kcount > 0 && p->zebra_all_ms < 0) {
		struct loom_err zerr = { 0 };
		int z = frr_zebra_vni_count(v->frr, &zerr);

		p->polls++;
		if (z >= 0) {
			*progress = p->last_z >= 0 && z > p->last_z;
			full = z >= kcount;
			p->last_z = z;
		}
	}
	if (full && !first && p->zebra_all_ms < 0) {
		p->last_read = mono_ns();
		p->zebra_all_ms = (p->last_read - p->start) / 1000000;
		/*
		 * zebra was still learning at the first pass, so nothing was
		 * read: the kernel made the VNIs in ascending order, and the
		 * highest is the last that zebra hands bgpd.
		 */
		if (!p->probe && fwant->n_vnis)
			p->probe = fwant->vnis[fwant->n_vnis - 1].vni;
	}
	/*
	 * zebra has them all; bgpd learns them from zebra on the same thread
	 * that would build the full JSON (a full read while it is learning
	 * delays what it reads about).  Ask it about the last VNI it lacked
	 * (zebra reports them in the kernel's order), and read everything when
	 * that one is there, or at least every FRR_FULL_READ_MS.
	 */
	if (full && p->probe && mono_ns() - p->last_read < (int64_t)FRR_FULL_READ_MS * 1000000) {
		struct loom_err perr = { 0 };

		p->probes++;
		full = frr_bgp_vni_in_kernel(v->frr, p->probe, &perr) != 0;
	}
	return full;
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
	struct vtep_target *v = reconciler_target_priv(t);
	struct frr_poll p = { .delay = 20, .last = -1, .last_z = -1, .zebra_all_ms = -1 };
	uint64_t gen = reconciler_target_want_gen(t);
	bool full = true;
	int ret = -1;

	p.start = p.last_read = mono_ns();
	p.end = p.start + (int64_t)FRR_VERIFY_MS * 1000000;
	for (bool first = true;; first = false) {
		bool progress = false;
		int64_t now;
		int cap;

		full = frr_read_due(v, fwant, need_kernel, kcount, first, &p, &progress);
		if (full) {
			int64_t r0 = mono_ns();

			ret = frr_read(v, fwant, need_kernel, fst, n_fst, err);
			p.reads++;
			p.last_read = mono_ns();
			if (ret <= 0) {
				log_debug(LOG_SUB_RECONCILE, "vtep %s: FRR verified after %.1f ms: %d count polls, %d probes, %d full reads (the last %.1f ms), zebra's count complete at %" PRId64 " ms",
					  reconciler_target_name(t), (double)(p.last_read - p.start) / 1e6, p.polls,
					  p.probes, p.reads, (double)(p.last_read - r0) / 1e6, p.zebra_all_ms);
				return ret;
			}
			p.probe = 0;
			if (need_kernel)
				for (size_t k = 0; k < *n_fst; k++)
					if ((*fst)[k].verdict == FRR_VNI_NO_KERNEL)
						p.probe = (*fst)[k].vni;	/* the last one */
			progress = progress || (p.last >= 0 && ret < p.last);
			p.last = ret;
		}
		now = mono_ns();
		/* A newer intent is not kept waiting behind this one. */
		if (progress && now - p.start < (int64_t)FRR_VERIFY_MAX_MS * 1000000
		    && reconciler_target_want_gen(t) == gen)
			p.end = now + (int64_t)FRR_VERIFY_MS * 1000000;
		if (now > p.end)
			break;
		sleep_ms(p.delay);
		/*
		 * Probing one VNI is cheap (one small JSON from bgpd, between
		 * its reads of zebra): every FRR_PROBE_MS once zebra has all,
		 * as often as a person's script would poll.  Full reads and
		 * zebra's count back off.
		 */
		cap = p.zebra_all_ms >= 0 ? 100 : 200;
		p.delay = p.delay * 2 < cap ? p.delay * 2 : cap;
		if (p.zebra_all_ms >= 0 && p.probe)
			p.delay = FRR_PROBE_MS;
	}
	/* The verdict on what FRR shows now, not on a count. */
	if (!full)
		ret = frr_read(v, fwant, need_kernel, fst, n_fst, err);
	return ret;
}

/* The kernel handle, opened late when the namespace was missing at start. */
static void kernel_open(struct target *t, struct vtep_target *v, char *kerr, size_t len)
{
	struct loom_err err = { 0 };
	const char *name = reconciler_target_name(t);

	if (!v->kv) {
		if (kvtep_open(v->vtep.netns, v->vtep.vtep_ip, v->vtep.mode, &v->kv, &err)) {
			snprintf(kerr, len, "kernel: %s", err.msg);
			v->kv = NULL;
		} else {
			carrier_watch(name, v);	/* before its first dump: that sets the baseline */
			reconciler_target_fd_ready(t);
			log_debug(LOG_SUB_RECONCILE, "vtep %s: netlink opened late; its drift events go to the main loop",
				  name);
		}
	}
	if (v->kv && !v->mode_logged) {
		log_info("vtep %s: %s mode: %s", name,
			 kvtep_mode(v->kv) == VTEP_MODE_VLAN_AWARE ? "vlan-aware" : "traditional",
			 kvtep_mode_reason(v->kv));
		v->mode_logged = true;
	}
}

/*
 * A VNI whose number or device names an operator's device holds stays out
 * of FRR too: with loom's route targets on it, BGP would tie the
 * operator's device (and its bridge) into the tenant's segment.  The
 * kernel's plan already knows which those are.  Returns @d without them
 * (a copy the caller frees), or NULL when none is.
 */
static struct vtep_desired *frr_want(const struct vtep_target *v, const struct vtep_desired *d)
{
	struct vtep_desired *fd;
	size_t n_foreign = 0, k = 0;

	for (size_t i = 0; i < d->n_vnis; i++)
		n_foreign += kvtep_vni_foreign(v->kv, d, i);
	if (!n_foreign || !(fd = vtep_desired_dup(d)))
		return NULL;
	for (size_t i = 0; i < fd->n_vnis; i++) {
		if (kvtep_vni_foreign(v->kv, d, i))
			free(fd->vnis[i].ports);
		else
			fd->vnis[k++] = fd->vnis[i];
	}
	fd->n_vnis = k;
	return fd;
}

/* The kernel layer's items; returns how many VNIs the kernel shows as loom's. */
static int kernel_items(const struct vtep_desired *d, const struct kvtep_vni_status *kst, const char *kerr,
			struct target_result *res)
{
	int kcount = 0;

	for (size_t i = 0; i < d->n_vnis; i++) {
		const struct vtep_vni *v = &d->vnis[i];

		if (kerr[0])
			target_result_add(res, v->tenant, v->segment, v->vni, "kernel", SEG_ERROR, kerr);
		else
			target_result_add(res, v->tenant, v->segment, v->vni, "kernel",
					  kst[i].state == KVTEP_VNI_PROGRAMMED ? SEG_PROGRAMMED : SEG_ERROR,
					  kst[i].reason);
		kcount += !kerr[0] && kst[i].state == KVTEP_VNI_PROGRAMMED && !kst[i].foreign;
	}
	return kcount;
}

/* FRR's layer's items, from frr_converge's verdicts (@fst) or @ferr. */
static void frr_items(const struct vtep_desired *d, const struct kvtep_vni_status *kst, const char *kerr,
		      const char *ferr, bool filtered, const struct frr_job *job, const struct frr_vni_status *fst,
		      size_t n_fst, struct target_result *res)
{
	for (size_t i = 0; i < d->n_vnis; i++) {
		const struct vtep_vni *v = &d->vnis[i];
		const struct frr_vni_status *s = NULL;
		const char *refused = NULL;

		for (size_t k = 0; !ferr[0] && k < job->n_refused; k++)
			if (job->refused[k].vni == v->vni)
				refused = job->refused[k].why;

		for (size_t k = 0; !ferr[0] && k < n_fst; k++)
			if (fst[k].vni == v->vni && fst[k].verdict != FRR_VNI_EXTRA)
				s = &fst[k];
		if (!kerr[0] && kst[i].foreign && filtered)
			target_result_add(res, v->tenant, v->segment, v->vni, "frr", SEG_ERROR,
					  "not given to FRR while a device loom does not own holds the VNI (see the kernel layer)");
		else if (ferr[0])
			target_result_add(res, v->tenant, v->segment, v->vni, "frr", SEG_ERROR, ferr);
		else if (refused)
			target_result_add(res, v->tenant, v->segment, v->vni, "frr", SEG_ERROR, refused);
		else if (!s)
			target_result_add(res, v->tenant, v->segment, v->vni, "frr", SEG_PENDING, "not verified yet");
		else if (s->verdict == FRR_VNI_OK || (kerr[0] && s->verdict == FRR_VNI_NO_KERNEL))
			target_result_add(res, v->tenant, v->segment, v->vni, "frr", SEG_PROGRAMMED, NULL);
		else
			target_result_add(res, v->tenant, v->segment, v->vni, "frr",
					  s->verdict == FRR_VNI_MISMATCH ? SEG_ERROR : SEG_PENDING,
					  frr_vni_verdict_name(s->verdict));
	}
}

/* How FRR's half of a run goes with the kernel's (frr_order). */
enum frr_order {
	FRR_BESIDE,		/* on its own thread while the kernel is worked */
	FRR_FIRST,		/* before the kernel's half */
	FRR_BEFORE_LIVE,	/* beside the devices' creation, done before any VNI goes live */
};

/*
 * FRR's statements go in while the kernel is worked: on removal `no vni N`
 * and the device deletion (seconds of the kernel's rcu_barrier() per
 * bridge) are both needed before the VNI is free again, in either order,
 * and a small change is done sooner overlapped.  Neither order moves a
 * port, so no port is ever in two segments.
 *
 * A large batch of new VNIs with nothing to delete has its statements
 * done before any of its VNIs goes live: the kernel creates and enslaves
 * the devices meanwhile (they stay down), and waits for FRR before the
 * first VLAN is mapped or device brought up (kvtep_set_live_gate).  So
 * bgpd meets each VNI from zebra with its RD/RTs already in place, and
 * zebra starts on the new devices without waiting for bgpd's statements
 * (BENCHMARKS.md).  A tenant VRF to delete has FRR's statements strictly
 * first.
 */
static enum frr_order frr_order(const char *name, const struct vtep_target *v, bool kernel_planned)
{
	size_t n_created = 0, n_deleted = 0;

	if (kernel_planned)
		kvtep_plan_counts(v->kv, &n_created, &n_deleted);
	/*
	 * A tenant VRF goes: FRR drops its L3 VNI and BGP instance before the
	 * kernel deletes the VRF under them (FRR 8.4's bgpd aborted on the
	 * two at once in the lab VM).
	 */
	if (kernel_planned && kvtep_plan_vrfs_deleted(v->kv)) {
		log_info("vtep %s: %zu tenant VRF(s) to delete: FRR's statements first", name,
			 kvtep_plan_vrfs_deleted(v->kv));
		return FRR_FIRST;
	}
	if (n_created < FRR_GATED_MIN_VNIS || n_deleted)
		return FRR_BESIDE;
	log_info("vtep %s: %zu new VNIs and nothing to delete: FRR's statements before any of them goes live",
		 name, n_created);
	return FRR_BEFORE_LIVE;
}

/* FRR's thread, joined by the kernel's half before a VNI goes live, or after it. */
struct frr_gate {
	pthread_t thread;
	bool running;
	const char *name;	/* the VTEP's, said when the kernel's half waited here */
	const struct frr_job *job;
};

static void frr_gate_wait(void *arg)
{
	struct frr_gate *g = arg;
	int64_t t0 = mono_ns();

	if (!g->running)
		return;
	pthread_join(g->thread, NULL);
	g->running = false;
	if (g->name)
		log_info("vtep %s: FRR's statements in (%.0f ms, %.0f ms of it waited for): bringing the new VNIs up",
			 g->name, g->job->ms, (double)(mono_ns() - t0) / 1e6);
}

static void vtep_run(struct target *t, const void *want, struct target_result *res)
{
	struct vtep_target *v = reconciler_target_priv(t);
	const struct vtep_desired *d = want;
	int64_t t0 = mono_ns();
	struct loom_err err = { 0 };
	struct kvtep_vni_status *kst = calloc(d->n_vnis ? d->n_vnis : 1, sizeof(*kst));
	struct frr_vni_status *fst = NULL;
	size_t n_fst = 0;
	struct vtep_desired *fd = NULL;
	struct frr_job job = { .t = t, .want = d };	/* FRR is given job.want */
	struct frr_gate gate = { .running = false };
	enum frr_order order = FRR_BESIDE;
	bool frr_async = false, kernel_planned = false;
	char kerr[300] = "", ferr[300] = "";
	int ret, kcount;

	if (!kst)
		return;
	kernel_open(t, v, kerr, sizeof(kerr));
	if (v->kv) {
		ret = kvtep_sync_plan(v->kv, d);
		if (ret < 0)
			snprintf(kerr, sizeof(kerr), "kernel: netlink failed: %s", strerror(-ret));
		else
			kernel_planned = true;
	}
	if (kernel_planned && (fd = frr_want(v, d)))
		job.want = fd;
	order = frr_order(reconciler_target_name(t), v, kernel_planned);
	if (order != FRR_FIRST)
		frr_async = gate.running = pthread_create(&gate.thread, NULL, frr_job_run, &job) == 0;
	if (!frr_async)
		frr_job_run(&job);
	else if (order == FRR_BEFORE_LIVE) {
		gate.name = reconciler_target_name(t);
		gate.job = &job;
		kvtep_set_live_gate(v->kv, frr_gate_wait, &gate);
	}
	if (kernel_planned) {
		ret = kvtep_sync_finish(v->kv, d, kst);
		if (ret < 0)
			snprintf(kerr, sizeof(kerr), "kernel: netlink failed: %s", strerror(-ret));
	}
	/* The kernel's own (with FRR_BEFORE_LIVE, its wait for FRR too). */
	res->phase_ms[0] = (double)(mono_ns() - t0) / 1e6 - (frr_async ? 0 : job.ms);
	kcount = kernel_items(d, kst, kerr, res);
	gate.name = NULL;	/* joined here: the gate was never reached (or it was, and it said so) */
	frr_gate_wait(&gate);
	snprintf(ferr, sizeof(ferr), "%s", job.ferr);
	/* FRR's own time; it overlapped the kernel's. */
	res->phase_ms[1] = job.ms;

	t0 = mono_ns();
	if (v->frr && !ferr[0]) {
		loom_err_clear(&err);
		ret = frr_converge(t, job.kept.vnis ? &job.kept : job.want, kerr[0] == '\0', kcount, &fst, &n_fst,
				   &err);
		if (ret < 0)
			snprintf(ferr, sizeof(ferr), "frr: %s", err.msg);
	}
	res->phase_ms[2] = (double)(mono_ns() - t0) / 1e6;
	frr_items(d, kst, kerr, ferr, job.want != d, &job, fst, n_fst, res);
	free(job.refused);
	free(job.kept.vnis);
	free(fst);
	free(kst);
	vtep_desired_free(&fd);
	snprintf(res->error, sizeof(res->error), "%s%s%s", kerr, kerr[0] && ferr[0] ? "; " : "", ferr);
	v->unverified = false;
	for (size_t i = 0; i < res->n_items; i++)
		v->unverified |= res->items[i].state != SEG_PROGRAMMED;
}

/* Cheap check while idle: FRR restarted (and lost loom's statements)? */
static bool vtep_idle(struct target *t, bool run_due)
{
	struct vtep_target *v = reconciler_target_priv(t);
	struct loom_err err = { 0 };

	return !run_due && v->frr && frr_restarted(v->frr, &err) > 0;
}

static int vtep_event_fd(const struct target *t)
{
	const struct vtep_target *v = reconciler_target_priv(t);

	return v->kv ? kvtep_event_fd(v->kv) : -1;
}

static int vtep_event(struct target *t)
{
	struct vtep_target *v = reconciler_target_priv(t);

	return kvtep_event_drain(v->kv);
}

static void vtep_close(void *priv)
{
	struct vtep_target *v = priv;

	kvtep_close(&v->kv);
	frr_target_close(&v->frr);
	free(v->carrier_ports);
	free(v);
}

static const struct target_ops vtep_ops = {
	.kind = "vtep",
	.phases = { "kernel", "frr_apply", "verify" },
	.log_phases = { "kernel", "frr" },
	.slice = &target_slice_vtep,
	.run = vtep_run,
	.idle = vtep_idle,
	.event_fd = vtep_event_fd,
	.event = vtep_event,
	.close = vtep_close,
};

/* The access ports cabled to VTEP @name, for the carrier watcher. */
static int carrier_ports_fill(struct vtep_target *v, const char *name, const struct topology *topo)
{
	size_t cap = 0;

	for (size_t i = 0; i < topo->n_nodes; i++)
		cap += topo->nodes[i].n_nic_ports;
	v->carrier_ports = calloc(cap ? cap : 1, sizeof(*v->carrier_ports));
	if (!v->carrier_ports)
		return -ENOMEM;
	for (size_t i = 0; i < topo->n_nodes; i++)
		for (size_t k = 0; k < topo->nodes[i].n_nic_ports; k++) {
			const struct topo_nic_port *p = &topo->nodes[i].nic_ports[k];

			if (strcmp(p->vtep, name) == 0 && p->access_port[0])
				v->carrier_ports[v->n_carrier_ports++] = p->access_port;
		}
	return 0;
}

static int vtep_add(struct reconciler *r, const struct topology *topo, const struct reconciler_opts *opts)
{
	for (size_t i = 0; !(opts && opts->null_targets) && i < topo->n_vteps; i++) {
		struct vtep_target *v = calloc(1, sizeof(*v));
		const char *name = topo->vteps[i].name;
		struct loom_err err = { 0 };

		if (!v)
			return -ENOMEM;
		v->vtep = topo->vteps[i];
		v->frr_apply = opts ? opts->frr_apply : FRR_APPLY_SESSION;
		/* Opened here so the drift socket is subscribed before the first dump. */
		if (kvtep_open(v->vtep.netns, v->vtep.vtep_ip, v->vtep.mode, &v->kv, &err)) {
			log_warn("vtep %s: %s (will retry)", name, err.msg);
			v->kv = NULL;
		}
		if (carrier_ports_fill(v, name, topo)) {
			vtep_close(v);
			return -ENOMEM;
		}
		if (v->kv)
			carrier_watch(name, v);
		if (reconciler_target_add(r, name, &vtep_ops, v, NULL))
			return -ENOMEM;
	}
	return 0;
}

const struct target_kind vtep_target_kind = { .name = "vtep", .add = vtep_add };

size_t reconciler_carrier_take(struct reconciler *r, size_t i, struct carrier_change *out, size_t max)
{
	struct target *t = reconciler_target_of_fd(r, i);
	struct kvtep_carrier kc[32];
	struct vtep_target *v;
	size_t n = 0;

	if (!t || reconciler_target_ops(t) != &vtep_ops)
		return 0;
	v = reconciler_target_priv(t);
	if (max > sizeof(kc) / sizeof(kc[0]))
		max = sizeof(kc) / sizeof(kc[0]);
	n = kvtep_carrier_take(v->kv, kc, max);
	for (size_t k = 0; k < n; k++) {
		snprintf(out[k].vtep, sizeof(out[k].vtep), "%s", reconciler_target_name(t));
		snprintf(out[k].access_port, sizeof(out[k].access_port), "%s", kc[k].port);
		out[k].up = kc[k].up;
	}
	return n;
}

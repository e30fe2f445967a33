/*
 * targets/sm.c: the subnet manager target.  One run writes loom's section
 * of OpenSM's partitions file (fabric/smt.h), signals OpenSM when it
 * changed, waits for its sweep and verifies the P_Key tables of the member
 * ports; a port moving between tenants is taken out (and verified out)
 * before it goes in.  While idle it checks whether the file was edited by
 * hand or OpenSM restarted, and runs the HCA watcher (targets/sm_hca.c).
 *
 * The smt handle belongs to the worker.  The P_Key capacities its verify
 * reads are published under the reconciler's lock for the API.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fabric/smt.h"
#include "lib/log.h"
#include "lib/monotime.h"
#include "src/reconcile.h"
#include "targets/sm.h"

#define SM_SWEEP_MS 15000
#define SM_VERIFY_MS 8000

struct capacity {
	uint64_t guid;
	unsigned int capacity;
	unsigned int foreign;	/* entries that are not loom's */
};

struct sm_target {
	struct topo_sm sm;
	struct sm_hca *hca;		/* the nodes' HCA ports (NULL: none) */
	uint64_t *guids;		/* the topology's HCA ports on this SM */
	size_t n_guids;
	/* Worker-private. */
	struct smt *smt;
	struct sm_desired *written;	/* what this worker last wrote to the file */
	bool warm;			/* every port's capacity was read once */
	/*
	 * Under reconciler_lock: the P_Key table capacity per port, kept per
	 * GUID across runs (PartitionCap is fixed per port).  Only the worker
	 * changes it, by swapping in a new array: the API always finds every
	 * port read so far, also while a run is under way.
	 */
	struct capacity *caps;
	size_t n_caps;
	unsigned long sweeps;		/* OpenSM sweeps waited for (worker-private) */
};

/* @d plus one pseudo-partition (P_Key 0, never written) of every topology port on this SM. */
static struct sm_desired *with_every_port(const struct sm_target *s, const struct sm_desired *d)
{
	struct sm_desired *w = sm_desired_dup(d);
	struct sm_partition *p;

	if (!w)
		return NULL;
	p = realloc(w->partitions, (w->n_partitions + 1) * sizeof(*p));
	if (!p) {
		sm_desired_free(&w);
		return NULL;
	}
	w->partitions = p;
	p = &w->partitions[w->n_partitions++];
	memset(p, 0, sizeof(*p));
	p->members = calloc(s->n_guids ? s->n_guids : 1, sizeof(*p->members));
	if (!p->members) {
		sm_desired_free(&w);
		return NULL;
	}
	for (size_t i = 0; i < s->n_guids; i++)
		p->members[i] = (struct pkey_member){ .guid = s->guids[i], .membership = MEMBERSHIP_FULL };
	p->n_members = s->n_guids;
	return w;
}

/*
 * Publishes, per port of @d and every topology HCA port on this SM, its
 * P_Key table capacity and how many entries on it are not loom's
 * (Default, the operator's), from the tables read last, so that the API
 * refuses an attachment that would overflow a table without fabric I/O on
 * the event loop.  The first call reads every port (@warm); later ones do
 * no MAD I/O.  Ports not read keep what was published for them.
 */
static void capacity_publish(struct reconciler *r, struct sm_target *s, const struct sm_desired *d)
{
	struct sm_desired *w = with_every_port(s, d);
	struct smt_port_usage *u = NULL;
	struct capacity *next, *old;
	size_t n = 0, n_next;

	if (!w)
		return;
	if (!s->warm) {
		struct loom_err err = { 0 };

		/* Reads every port; the counts it refuses on do not matter here. */
		smt_check_capacity(s->smt, w, &err);
		s->warm = true;
	}
	if (smt_port_usage(s->smt, w, &u, &n) < 0 || !(next = malloc((s->n_caps + n + 1) * sizeof(*next)))) {
		free(u);
		sm_desired_free(&w);
		return;
	}
	/* Only this worker changes s->caps: reading it unlocked is safe here. */
	if (s->n_caps)	/* memcpy may not take NULL, even for no bytes */
		memcpy(next, s->caps, s->n_caps * sizeof(*next));
	n_next = s->n_caps;
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;

		if (!u[i].valid)
			continue;
		while (k < n_next && next[k].guid != u[i].guid)
			k++;
		next[k] = (struct capacity){ .guid = u[i].guid, .capacity = u[i].capacity, .foreign = u[i].foreign };
		n_next += k == n_next;
	}
	reconciler_lock(r);
	old = s->caps;
	s->caps = next;
	s->n_caps = n_next;
	reconciler_unlock(r);
	free(old);
	free(u);
	sm_desired_free(&w);
}

/* Writes @d, signals OpenSM if the file changed, waits for its sweep. */
static int sm_push(struct sm_target *s, const struct sm_desired *d, char *serr, size_t len, double phase_ms[3])
{
	struct loom_err err = { 0 };
	int64_t t0 = mono_ns(), t1;

	if (smt_write(s->smt, d, &err)) {
		snprintf(serr, len, "opensm: %s", err.msg);
		return -EINVAL;
	}
	sm_desired_free(&s->written);
	s->written = sm_desired_dup(d);
	t1 = mono_ns();
	phase_ms[0] += (double)(t1 - t0) / 1e6;
	if (!smt_write_changed(s->smt))
		return 0;	/* the file already said exactly this: no sweep needed */
	s->sweeps++;
	if (smt_signal(s->smt, &err) || smt_wait_sweep(s->smt, SM_SWEEP_MS, &err) < 0) {
		snprintf(serr, len, "opensm: %s", err.msg);
		return -EINVAL;
	}
	phase_ms[1] += (double)(mono_ns() - t1) / 1e6;
	return 0;
}

/*
 * Writes @d; when the write is refused, the containment step
 * (smt_contain) leaves out what cannot be written (a partition whose
 * P_Key the operator uses, an unknown or unreachable member, a port over
 * capacity) and writes the rest: *kept and *ex then say what went and
 * why.  A refusal with nothing to leave out (the file, OpenSM) stays the
 * whole target's.
 */
static int sm_apply(const char *name, struct sm_target *s, const struct sm_desired *d, char *serr, size_t len,
		    double phase_ms[3], struct sm_desired **kept, struct smt_excluded **ex, size_t *n_ex)
{
	struct loom_err err = { 0 };

	if (sm_push(s, d, serr, len, phase_ms) == 0)
		return 0;
	if (smt_contain(s->smt, d, kept, ex, n_ex, &err) < 0 || *n_ex == 0) {
		sm_desired_free(kept);
		free(*ex);
		*ex = NULL;
		*n_ex = 0;
		return -EINVAL;
	}
	for (size_t i = 0; i < *n_ex; i++)
		log_warn("sm %s: P_Key 0x%04x left out: %s", name, (*ex)[i].pkey, (*ex)[i].reason);
	serr[0] = '\0';
	return sm_push(s, *kept, serr, len, phase_ms);
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
	size_t out = 0;

	for (size_t i = 0; i < new->n_partitions && !move; i++) {
		const struct sm_partition *p = &new->partitions[i];

		for (size_t k = 0; k < p->n_members && !move; k++)
			move = !guid_in_tenant(old, p->members[k].guid, p->tenant, false)
			       && guid_in_tenant(old, p->members[k].guid, p->tenant, true);
	}
	if (!move || !(first = sm_desired_dup(old)))
		return NULL;
	for (size_t i = 0; i < first->n_partitions; i++) {
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

/*
 * A port moving between tenants: take it out and verify that on the fabric
 * before it goes in, so it never carries both P_Keys.
 */
static void sm_move_out_first(const char *name, struct sm_target *s, const struct sm_desired *d, char *serr,
			      size_t len, double phase_ms[3])
{
	struct sm_desired *first = s->written ? sm_removals_first(s->written, d) : NULL;
	struct smt_pstatus *st = NULL;
	size_t n_st = 0;
	struct loom_err err = { 0 };

	if (!first)
		return;
	log_info("sm %s: a port changes tenant; removing before adding", name);
	if (sm_push(s, first, serr, len, phase_ms) == 0) {
		if (smt_converge(s->smt, first, SM_VERIFY_MS, &st, &n_st, &err) != 0)
			snprintf(serr, len, "opensm: the removal before a move did not verify: %s",
				 err.msg[0] ? err.msg : "ports still carry the old P_Key");
		smt_pstatus_free(&st);
	}
	sm_desired_free(&first);
}

static enum seg_state pstate(enum smt_pstate s)
{
	return s == SMT_PROGRAMMED ? SEG_PROGRAMMED : s == SMT_PENDING ? SEG_PENDING : SEG_ERROR;
}

/* Why @pkey (or a member of it) was left out of the write, NULL when it was not. */
static const char *excluded_why(const struct smt_excluded *ex, size_t n_ex, uint16_t pkey)
{
	for (size_t i = 0; i < n_ex; i++)
		if (ex[i].pkey == pkey)
			return ex[i].reason;
	return NULL;
}

/*
 * The items: one per partition of @d (those the containment step left out,
 * whole or in part, in error with its reason), then the removed ones still
 * on the fabric.
 */
static void sm_items(const struct sm_desired *d, const struct smt_excluded *ex, size_t n_ex, const char *serr,
		     const struct smt_pstatus *st, size_t n_st, struct target_result *res)
{
	for (size_t i = 0; i < d->n_partitions; i++) {
		const struct sm_partition *p = &d->partitions[i];
		const struct smt_pstatus *s = NULL;
		const char *why = excluded_why(ex, n_ex, p->pkey);

		for (size_t k = 0; !serr[0] && k < n_st; k++)
			if (!st[k].removed && st[k].pkey == p->pkey)
				s = &st[k];
		if (serr[0])
			target_result_add(res, p->tenant, p->segment, p->pkey, "opensm", SEG_ERROR, serr);
		else if (why)
			target_result_add(res, p->tenant, p->segment, p->pkey, "opensm", SEG_ERROR, why);
		else if (!s)
			target_result_add(res, p->tenant, p->segment, p->pkey, "opensm", SEG_PENDING, "not verified yet");
		else
			target_result_add(res, p->tenant, p->segment, p->pkey, "opensm", pstate(s->state), s->reason);
	}
	/* Partitions loom removed count until every port is verified out. */
	for (size_t k = 0; !serr[0] && k < n_st; k++)
		if (st[k].removed)
			target_result_add(res, "", st[k].name, st[k].pkey, "opensm", pstate(st[k].state),
					  st[k].state == SMT_PROGRAMMED ? "removed" : st[k].reason);
}

/*
 * Before a run: was loom's section edited by hand, did OpenSM restart?
 * OpenSM not running: the file is still written (OpenSM reads it when it
 * starts), but nothing is verified, and status says why (@down), even when
 * nothing changed.  Returns whether the file must be written again.
 */
static bool sm_observe(const char *name, struct sm_target *s, char *down, size_t len)
{
	struct loom_err err = { 0 };
	bool hand = false, restarted = false;

	smt_changed_by_hand(s->smt, &hand, &err);
	loom_err_clear(&err);
	if (smt_sm_restarted(s->smt, &restarted, &err) < 0)
		snprintf(down, len, "opensm: %s", err.msg);
	if (hand)
		log_warn("sm %s: loom's section of %s was edited by hand; rewriting it", name, s->sm.partitions_file);
	if (restarted)
		log_info("sm %s: OpenSM restarted; verifying the fabric again", name);
	return hand;
}

static void sm_run(struct target *t, const void *want, struct target_result *res)
{
	struct sm_target *s = reconciler_target_priv(t);
	const struct sm_desired *d = want;
	const char *name = reconciler_target_name(t);
	struct loom_err err = { 0 };
	struct smt_pstatus *st = NULL;
	struct smt_excluded *ex = NULL;
	size_t n_st = 0, n_ex = 0;
	char serr[300] = "", down[300] = "";
	struct sm_desired *kept = NULL;	/* d less what the containment step left out */

	if (!s->smt && smt_open(&s->sm, &s->smt, &err)) {
		snprintf(serr, sizeof(serr), "opensm: %s", err.msg);
		s->smt = NULL;
	}
	if (s->smt) {
		if (!s->warm)
			capacity_publish(reconciler_target_owner(t), s, d);	/* before the first write */
		if (sm_observe(name, s, down, sizeof(down)) || !sm_desired_equal(s->written, d)) {
			sm_move_out_first(name, s, d, serr, sizeof(serr), res->phase_ms);
			if (!serr[0])
				sm_apply(name, s, d, serr, sizeof(serr), res->phase_ms, &kept, &ex, &n_ex);
		}
		if (!serr[0] && down[0])
			snprintf(serr, sizeof(serr), "%s", down);
		if (!serr[0]) {
			int64_t t2 = mono_ns();

			loom_err_clear(&err);
			if (smt_converge(s->smt, kept ? kept : d, SM_VERIFY_MS, &st, &n_st, &err) < 0)
				snprintf(serr, sizeof(serr), "opensm: %s", err.msg);
			res->phase_ms[2] = (double)(mono_ns() - t2) / 1e6;
			capacity_publish(reconciler_target_owner(t), s, d);
		}
	}
	sm_items(d, ex, n_ex, serr, st, n_st, res);
	res->counters[0] = (double)s->sweeps;
	if (s->smt) {
		struct smt_stats stats;

		/* The handle's own totals (HCA samples between runs included);
		 * they start again from 0 when the handle is opened again. */
		smt_get_stats(s->smt, &stats);
		res->counters[1] = (double)stats.smps;
		res->counters[2] = (double)stats.timeouts;
	}
	smt_pstatus_free(&st);
	sm_desired_free(&kept);
	free(ex);
	snprintf(res->error, sizeof(res->error), "%s", serr);
}

/* Cheap checks while idle: did something outside loom undo its work? */
static bool sm_drifted(const char *name, struct sm_target *s)
{
	struct loom_err err = { 0 };
	bool changed = false, restarted = false, down;

	if (!s->smt)
		return false;
	smt_changed_by_hand(s->smt, &changed, &err);
	loom_err_clear(&err);
	/* OpenSM gone is drift too: the run that follows reports it. */
	down = smt_sm_restarted(s->smt, &restarted, &err) < 0;
	if (restarted)
		log_info("sm %s: OpenSM restarted; verifying the fabric again", name);
	return changed || restarted || down;
}

static bool sm_idle(struct target *t, bool run_due)
{
	struct sm_target *s = reconciler_target_priv(t);

	if (s->hca)
		sm_hca_idle(t, s->hca, &s->sm, &s->smt);
	return !run_due && sm_drifted(reconciler_target_name(t), s);
}

static int64_t sm_next_wake(const struct target *t)
{
	const struct sm_target *s = reconciler_target_priv(t);

	return s->hca ? sm_hca_next(s->hca) : 0;
}

static void sm_close(void *priv)
{
	struct sm_target *s = priv;

	smt_close(&s->smt);
	sm_desired_free(&s->written);
	sm_hca_free(&s->hca);
	free(s->guids);
	free(s->caps);
	free(s);
}

static const struct target_ops sm_ops = {
	.kind = "sm",
	.phases = { "write", "sweep", "verify" },
	.hex_ids = true,
	.counters = { "sweeps_waited", "mads_sent", "mad_timeouts" },
	.slice = &target_slice_sm,
	.run = sm_run,
	.idle = sm_idle,
	.next_wake = sm_next_wake,
	.close = sm_close,
};

/* The topology's HCA ports on @s's subnet manager, whose capacities the API asks for. */
static int sm_guids(const struct topology *topo, struct sm_target *s)
{
	for (size_t i = 0; i < topo->n_nodes; i++)
		for (size_t k = 0; k < topo->nodes[i].n_hca_ports; k++) {
			const struct topo_hca_port *hp = &topo->nodes[i].hca_ports[k];
			uint64_t *g;

			if (strcmp(hp->sm, s->sm.name))
				continue;
			if (!(g = realloc(s->guids, (s->n_guids + 1) * sizeof(*g))))
				return -ENOMEM;
			s->guids = g;
			s->guids[s->n_guids++] = hp->guid;
		}
	return 0;
}

static int sm_add(struct reconciler *r, const struct topology *topo, const struct reconciler_opts *opts)
{
	for (size_t i = 0; !(opts && opts->null_targets) && i < topo->n_sms; i++) {
		struct sm_target *s = calloc(1, sizeof(*s));

		if (!s)
			return -ENOMEM;
		s->sm = topo->sms[i];
		if (sm_guids(topo, s) || sm_hca_new(topo, s->sm.name, &s->hca)) {
			sm_close(s);
			return -ENOMEM;
		}
		if (reconciler_target_add(r, s->sm.name, &sm_ops, s, NULL))
			return -ENOMEM;
	}
	return 0;
}

const struct target_kind sm_target_kind = { .name = "sm", .add = sm_add };

struct sm_hca *sm_target_hca(const struct target *t)
{
	if (reconciler_target_ops(t) != &sm_ops)
		return NULL;
	return ((const struct sm_target *)reconciler_target_priv(t))->hca;
}

unsigned int reconciler_pkey_capacity(const struct reconciler *r, uint64_t guid, unsigned int *foreign)
{
	unsigned int cap = 0;

	reconciler_lock(r);
	for (size_t i = 0; i < reconciler_n_targets(r) && !cap; i++) {
		const struct target *t = reconciler_target_at(r, i);
		const struct sm_target *s;

		if (reconciler_target_ops(t) != &sm_ops)
			continue;
		s = reconciler_target_priv(t);
		for (size_t k = 0; k < s->n_caps; k++)
			if (s->caps[k].guid == guid) {
				cap = s->caps[k].capacity;
				if (foreign)
					*foreign = s->caps[k].foreign;
				break;
			}
	}
	reconciler_unlock(r);
	return cap;
}

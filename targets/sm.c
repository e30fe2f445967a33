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
	/* Worker-private. */
	struct smt *smt;
	struct sm_desired *written;	/* what this worker last wrote to the file */
	/* Under reconciler_lock; taken out by a run and put back at its end. */
	struct capacity *caps;		/* P_Key table capacity per port */
	size_t n_caps;
	unsigned long sweeps;		/* OpenSM sweeps waited for (worker-private) */
};

/*
 * Caches, per member port, its P_Key table capacity and how many entries
 * on it are not loom's (Default, the operator's), from the tables the last
 * verify read (no MAD I/O), so that the API can refuse an attachment that
 * would overflow a table without doing fabric I/O on the event loop.
 */
static void capacity_fill(struct sm_target *s, const struct sm_desired *d, struct capacity **caps,
			  size_t *n_caps)
{
	struct smt_port_usage *u = NULL;
	size_t n = 0;
	struct capacity *p;

	if (smt_port_usage(s->smt, d, &u, &n) < 0)
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
static int sm_push(struct sm_target *s, const struct sm_desired *d, char *serr, size_t len, double phase_ms[3])
{
	struct loom_err err = { 0 };
	int64_t t0 = target_mono_ns(), t1;

	if (smt_write(s->smt, d, &err)) {
		snprintf(serr, len, "opensm: %s", err.msg);
		return -EINVAL;
	}
	sm_desired_free(&s->written);
	s->written = sm_desired_dup(d);
	t1 = target_mono_ns();
	phase_ms[0] += (double)(t1 - t0) / 1e6;
	if (!smt_write_changed(s->smt))
		return 0;	/* the file already said exactly this: no sweep needed */
	s->sweeps++;
	if (smt_signal(s->smt, &err) || smt_wait_sweep(s->smt, SM_SWEEP_MS, &err) < 0) {
		snprintf(serr, len, "opensm: %s", err.msg);
		return -EINVAL;
	}
	phase_ms[1] += (double)(target_mono_ns() - t1) / 1e6;
	return 0;
}

/*
 * When a write is refused, finds the members the fabric does not have (a
 * node cabled elsewhere, a typo in the topology) and returns @d without
 * them, so that one bad port does not hold back every other partition of
 * this subnet manager; NULL when no member is missing.  @why gets the
 * first missing member, for the status of the partitions that lost it.
 */
static struct sm_desired *sm_without_unknown(struct sm_target *s, const struct sm_desired *d, char *why,
					     size_t why_len)
{
	struct sm_desired *k = NULL;
	bool any = false;

	for (size_t i = 0; i < d->n_partitions; i++) {
		const struct sm_partition *p = &d->partitions[i];

		for (size_t m = 0; m < p->n_members; m++) {
			struct loom_err err = { 0 };
			unsigned int cap = 0, used = 0;
			char guid[19];

			if (ib_port_pkey_capacity(s->smt, p->members[m].guid, &cap, &used, &err) == 0
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

/* The items: one per partition of @d, then the removed ones still on the fabric. */
static void sm_items(const struct sm_desired *d, const struct sm_desired *known, const char *unknown,
		     const char *serr, const struct smt_pstatus *st, size_t n_st, struct target_result *res)
{
	for (size_t i = 0; i < d->n_partitions; i++) {
		const struct sm_partition *p = &d->partitions[i];
		const struct smt_pstatus *s = NULL;

		for (size_t k = 0; !serr[0] && k < n_st; k++)
			if (!st[k].removed && st[k].pkey == p->pkey)
				s = &st[k];
		if (serr[0])
			target_result_add(res, p->tenant, p->segment, p->pkey, "opensm", SEG_ERROR, serr);
		else if (known && known->partitions[i].n_members != p->n_members)
			target_result_add(res, p->tenant, p->segment, p->pkey, "opensm", SEG_ERROR, unknown);
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
	struct reconciler *r = reconciler_target_owner(t);
	struct loom_err err = { 0 };
	struct smt_pstatus *st = NULL;
	size_t n_st = 0, n_caps;
	char serr[300] = "", down[300] = "", unknown[300] = "";
	struct sm_desired *known = NULL;	/* d less the members the fabric lacks */
	struct capacity *caps;

	reconciler_lock(r);
	caps = s->caps;
	n_caps = s->n_caps;
	s->caps = NULL;
	s->n_caps = 0;
	reconciler_unlock(r);
	if (!s->smt && smt_open(&s->sm, &s->smt, &err)) {
		snprintf(serr, sizeof(serr), "opensm: %s", err.msg);
		s->smt = NULL;
	}
	if (s->smt) {
		if (sm_observe(name, s, down, sizeof(down)) || !sm_desired_equal(s->written, d)) {
			sm_move_out_first(name, s, d, serr, sizeof(serr), res->phase_ms);
			if (!serr[0] && sm_push(s, d, serr, sizeof(serr), res->phase_ms)
			    && (known = sm_without_unknown(s, d, unknown, sizeof(unknown)))) {
				log_warn("sm %s: %s", name, unknown);
				serr[0] = '\0';
				sm_push(s, known, serr, sizeof(serr), res->phase_ms);
			}
		}
		if (!serr[0] && down[0])
			snprintf(serr, sizeof(serr), "%s", down);
		if (!serr[0]) {
			int64_t t2 = target_mono_ns();

			loom_err_clear(&err);
			if (smt_converge(s->smt, known ? known : d, SM_VERIFY_MS, &st, &n_st, &err) < 0)
				snprintf(serr, sizeof(serr), "opensm: %s", err.msg);
			res->phase_ms[2] = (double)(target_mono_ns() - t2) / 1e6;
			capacity_fill(s, d, &caps, &n_caps);
		}
	}
	sm_items(d, known, unknown, serr, st, n_st, res);
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
	sm_desired_free(&known);
	snprintf(res->error, sizeof(res->error), "%s", serr);
	reconciler_lock(r);
	s->caps = caps;
	s->n_caps = n_caps;
	reconciler_unlock(r);
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

static int sm_add(struct reconciler *r, const struct topology *topo, const struct reconciler_opts *opts)
{
	for (size_t i = 0; !(opts && opts->null_targets) && i < topo->n_sms; i++) {
		struct sm_target *s = calloc(1, sizeof(*s));

		if (!s)
			return -ENOMEM;
		s->sm = topo->sms[i];
		if (sm_hca_new(topo, s->sm.name, &s->hca)) {
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

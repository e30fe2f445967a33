/*
 * src/reconcile.c: the scheduler.  One worker thread per target, each
 * target's last slice of the desired state and what generations changed
 * in it, and the status table the API reads.  It knows no target kind:
 * the kinds (targets/target.h) are registered in targets/registry.c, and
 * a target's handles sit behind the private pointer its ops own.
 *
 * Locking: one mutex guards every target's job slot, status and counters;
 * workers hold it only to take a job and to publish a result, never while
 * a run talks to the kernel, FRR, OpenSM or NVML.
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

#include "lib/log.h"
#include "lib/monotime.h"
#include "src/reconcile.h"

/* How often an idle worker checks for cheap signs of drift (FRR or OpenSM
 * restarted, the partitions file edited by hand, a MIG layout changed). */
#define WATCH_INTERVAL_MS 2000
/* A run that ends with items pending is retried after this long. */
#define RETRY_MS 1000

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

struct target {
	struct reconciler *r;
	const struct target_ops *ops;
	void *priv;			/* the kind's own state */
	char name[LOOM_NAME_MAX];
	pthread_t thread;
	bool started;

	/* Under r->lock. */
	void *want;			/* the latest slice (owned) */
	uint64_t want_gen;		/* generation that last changed the slice */
	uint64_t done_gen;		/* generation of the last finished run */
	bool resync;			/* run even if the slice did not change */
	bool busy;
	struct target_item *items;
	size_t n_items;
	size_t n_bad;			/* items not programmed after the last run */
	size_t n_pending;		/* of those, pending (a retry may still get them) */
	char error[256];		/* target-level problem, "" when fine */
	int64_t last_run_ns;
	double last_run_ms;
	double phase_ms[3];		/* last run, named by ops->phases */
	unsigned long runs;
	unsigned long drifts;		/* drift seen by the main loop, each answered by a run */
	double counters[RUN_COUNTERS_MAX];	/* the kind's totals as of its last run */
	struct touch touches[TOUCHES_MAX];	/* oldest first */
	size_t n_touches;
	uint64_t touch_floor;		/* generations up to this one were dropped */

	/* Worker-private. */
	int64_t retry_at;		/* CLOCK_MONOTONIC; 0 = no retry due */
	int64_t watch_at;		/* CLOCK_MONOTONIC: the next periodic drift check */
};

struct reconciler {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int event_fd;
	bool stop;
	uint64_t gen;
	struct target **targets;	/* each allocated once: workers hold them */
	size_t n_targets, cap_targets;
	struct target **fd_targets;	/* main-loop descriptor i -> its target */
	int *fds;
	size_t n_fds;
	size_t cap_fds;			/* one per target with an event_fd: the arrays never
					 * move, and a worker that opens its handle late appends */
};

const char *seg_state_name(enum seg_state s)
{
	static const char *const names[] = { "pending", "programmed", "error" };

	return names[s];
}

/* ---- what the scheduler offers a kind ------------------------------------ */

void target_result_add(struct target_result *res, const char *tenant, const char *segment, uint32_t id,
		       const char *layer, enum seg_state state, const char *reason)
{
	struct target_item *x;

	if (res->n_items == res->cap_items) {
		size_t cap = res->cap_items ? res->cap_items * 2 : 64;
		struct target_item *p = realloc(res->items, cap * sizeof(*p));

		if (!p)
			return;
		res->items = p;
		res->cap_items = cap;
	}
	x = &res->items[res->n_items++];
	memset(x, 0, sizeof(*x));
	snprintf(x->tenant, sizeof(x->tenant), "%s", tenant);
	snprintf(x->segment, sizeof(x->segment), "%s", segment);
	x->id = id;
	x->layer = layer;
	x->state = state;
	snprintf(x->reason, sizeof(x->reason), "%s", reason ? reason : "");
}

int reconciler_target_add(struct reconciler *r, const char *name, const struct target_ops *ops, void *priv,
			  struct target **out)
{
	struct target *t;

	if (r->n_targets == r->cap_targets) {
		size_t cap = r->cap_targets ? r->cap_targets * 2 : 8;
		struct target **p = realloc(r->targets, cap * sizeof(*p));

		if (!p)
			goto fail;
		r->targets = p;
		r->cap_targets = cap;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		goto fail;
	t->r = r;
	t->ops = ops;
	t->priv = priv;
	snprintf(t->name, sizeof(t->name), "%s", name);
	r->targets[r->n_targets++] = t;
	if (out)
		*out = t;
	return 0;
fail:
	if (priv)
		ops->close(priv);
	return -ENOMEM;
}

size_t reconciler_n_targets(const struct reconciler *r)
{
	return r->n_targets;
}

struct target *reconciler_target_at(const struct reconciler *r, size_t i)
{
	return r->targets[i];
}

struct target *reconciler_target_of_fd(const struct reconciler *r, size_t i)
{
	struct target *t;

	reconciler_lock(r);
	t = i < r->n_fds ? r->fd_targets[i] : NULL;
	reconciler_unlock(r);
	return t;
}

void reconciler_lock(const struct reconciler *r)
{
	pthread_mutex_lock(&((struct reconciler *)r)->lock);
}

void reconciler_unlock(const struct reconciler *r)
{
	pthread_mutex_unlock(&((struct reconciler *)r)->lock);
}

void reconciler_kick(struct reconciler *r)
{
	pthread_cond_broadcast(&r->cond);
}

void reconciler_wake_main(struct reconciler *r)
{
	uint64_t one = 1;

	if (write(r->event_fd, &one, sizeof(one)) < 0)
		log_warn("reconciler: eventfd: %s", strerror(errno));
}

const char *reconciler_target_name(const struct target *t)
{
	return t->name;
}

const struct target_ops *reconciler_target_ops(const struct target *t)
{
	return t->ops;
}

void *reconciler_target_priv(const struct target *t)
{
	return t->priv;
}

struct reconciler *reconciler_target_owner(const struct target *t)
{
	return t->r;
}

uint64_t reconciler_target_want_gen(struct target *t)
{
	uint64_t gen;

	reconciler_lock(t->r);
	gen = t->want_gen;
	reconciler_unlock(t->r);
	return gen;
}

void *reconciler_target_want(struct target *t)
{
	void *w;

	reconciler_lock(t->r);
	w = t->want ? t->ops->slice->dup(t->want) : NULL;
	reconciler_unlock(t->r);
	return w;
}

/* Appends @t's descriptor to the main loop's (r->lock held). */
static void fd_append(struct target *t)
{
	struct reconciler *r = t->r;
	int fd = t->ops->event_fd(t);

	if (fd < 0 || r->n_fds >= r->cap_fds)
		return;
	r->fds[r->n_fds] = fd;
	r->fd_targets[r->n_fds++] = t;
}

void reconciler_target_fd_ready(struct target *t)
{
	reconciler_lock(t->r);
	fd_append(t);
	reconciler_unlock(t->r);
}

size_t reconciler_target_n_items(const struct target *t)
{
	return t->n_items;
}

const struct target_item *reconciler_target_item(const struct target *t, size_t i)
{
	return &t->items[i];
}

const char *reconciler_target_error(const struct target *t)
{
	return t->error;
}

bool reconciler_target_behind(const struct target *t)
{
	return t->done_gen < t->want_gen || t->busy;
}

json_t *reconciler_item_json(const struct target *t, const struct target_item *x)
{
	char since[40], id[16];
	time_t secs = (time_t)(x->since_ns / 1000000000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(id, sizeof(id), t->ops->hex_ids ? "0x%04" PRIx32 : "%" PRIu32, x->id);
	return json_pack("{s:s++, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
			 "segment", x->tenant, x->tenant[0] ? "/" : "", x->segment,
			 "target", t->name, "kind", t->ops->kind,
			 "layer", x->layer, "id", id, "state", seg_state_name(x->state),
			 "reason", x->reason, "since", since);
}

/* ---- what a generation changed ------------------------------------------ */

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
	*tc = NULL;
	if (gen == 0)
		return false;	/* a write that changed no network state touches none */
	*tc = touch_find(t, gen);
	if (*tc)
		return true;
	return gen <= t->touch_floor && t->want_gen >= gen;
}

static bool item_counts(const struct touch *tc, const struct target_item *x)
{
	return !tc || tc->whole || touch_has(tc, x->id);
}

/*
 * Gives @t the slice @s of generation @gen when it differs from the last
 * one (r->lock held), and records which items that changed.
 */
static void target_post(struct target *t, const void *s, uint64_t gen)
{
	struct touch tc = { .gen = gen, .whole = !t->ops->slice->touch };
	int ret = 0;

	if (!s || t->ops->slice->equal(t->want, s))
		return;
	if (t->ops->slice->touch)
		ret = t->ops->slice->touch(t->want, s, &tc.ids, &tc.n_ids);
	if (t->want)
		t->ops->slice->free(t->want);
	t->want = t->ops->slice->dup(s);
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

/* ---- workers --------------------------------------------------------------- */

static bool target_idle(const struct target *t)
{
	return t->want_gen <= t->done_gen && !t->resync;
}

/*
 * An idle worker waits (r->lock held) for a job, a retry, idle work its
 * kind wants (ops->next_wake) or the periodic drift check, and does that
 * idle work; returns true when the target should run now.
 */
static bool worker_wait(struct target *t)
{
	struct reconciler *r = t->r;
	int64_t now_rt = realtime_ns(), now_mono = mono_ns();
	int64_t deadline;
	struct timespec until;
	bool due;

	/* The check keeps its own timer: wake-ups for other targets, coming
	 * faster than it, must not put it off for ever. */
	if (!t->watch_at)
		t->watch_at = now_mono + (int64_t)WATCH_INTERVAL_MS * 1000000;
	deadline = now_rt + (t->watch_at > now_mono ? t->watch_at - now_mono : 0);
	if (t->retry_at && t->retry_at < t->watch_at)
		deadline = now_rt + (t->retry_at > now_mono ? t->retry_at - now_mono : 0);
	if (t->ops->next_wake) {
		int64_t wake = t->ops->next_wake(t);

		if (wake) {
			int64_t left = wake - now_mono;

			if (left < 0)
				left = 0;
			if (now_rt + left < deadline)
				deadline = now_rt + left;
		}
	}
	until.tv_sec = deadline / 1000000000;
	until.tv_nsec = deadline % 1000000000;
	if ((pthread_cond_timedwait(&r->cond, &r->lock, &until) != ETIMEDOUT || r->stop) &&
	    (r->stop || realtime_ns() < deadline))
		return false;
	if (!target_idle(t))
		return false;	/* a job came in: the loop takes it */
	t->watch_at = mono_ns() + (int64_t)WATCH_INTERVAL_MS * 1000000;
	due = t->retry_at && mono_ns() >= t->retry_at;
	if (t->ops->idle) {
		pthread_mutex_unlock(&r->lock);
		due = t->ops->idle(t, due) || due;
		pthread_mutex_lock(&r->lock);
	}
	if (due)
		t->resync = true;
	return due;
}

/* Publishes a run's result (r->lock held); takes @res's items. */
static void worker_publish(struct target *t, uint64_t gen, struct target_result *res, int64_t t0)
{
	struct reconciler *r = t->r;
	const char *const *phase = t->ops->log_phases[0] ? t->ops->log_phases : t->ops->phases;

	/* Keep "since" for items whose state did not change. */
	for (size_t i = 0; i < res->n_items; i++) {
		struct target_item *x = &res->items[i];

		x->since_ns = realtime_ns();
		for (size_t k = 0; k < t->n_items; k++) {
			const struct target_item *o = &t->items[k];

			if (o->id == x->id && o->layer == x->layer && o->state == x->state
			    && strcmp(o->segment, x->segment) == 0) {
				x->since_ns = o->since_ns;
				break;
			}
		}
	}
	free(t->items);
	t->items = res->items;
	t->n_items = res->n_items;
	res->items = NULL;
	t->n_bad = 0;
	t->n_pending = 0;
	for (size_t i = 0; i < t->n_items; i++) {
		t->n_bad += t->items[i].state != SEG_PROGRAMMED;
		t->n_pending += t->items[i].state == SEG_PENDING;
	}
	/* A target-wide error (a namespace not there yet, FRR down) is
	 * retried too, even with no item to show it. */
	t->retry_at = t->n_bad || res->error[0] ? mono_ns() + (int64_t)RETRY_MS * 1000000 : 0;
	snprintf(t->error, sizeof(t->error), "%s", res->error);
	if (gen > t->done_gen)
		t->done_gen = gen;
	t->busy = false;
	t->runs++;
	t->last_run_ns = realtime_ns();
	t->last_run_ms = (double)(mono_ns() - t0) / 1e6;
	memcpy(t->phase_ms, res->phase_ms, sizeof(t->phase_ms));
	memcpy(t->counters, res->counters, sizeof(t->counters));
	log_debug(LOG_SUB_RECONCILE, "%s %s: run of generation %" PRIu64 " took %.1f ms (%s %.1f, %s %.1f, verify %.1f), %zu of %zu items not programmed",
		  t->ops->kind, t->name, gen, t->last_run_ms, phase[0], t->phase_ms[0], phase[1], t->phase_ms[1],
		  t->phase_ms[2], t->n_bad, t->n_items);
	reconciler_wake_main(r);
}

static void *worker(void *arg)
{
	struct target *t = arg;
	struct reconciler *r = t->r;

	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		struct target_result res = { 0 };
		void *want;
		uint64_t gen;
		int64_t t0;

		if (target_idle(t) && !worker_wait(t))
			continue;
		gen = t->want_gen;
		t->resync = false;
		t->busy = true;
		want = t->want ? t->ops->slice->dup(t->want) : NULL;
		pthread_mutex_unlock(&r->lock);

		t0 = mono_ns();
		if (want)
			t->ops->run(t, want, &res);

		pthread_mutex_lock(&r->lock);
		worker_publish(t, gen, &res, t0);
		free(res.items);
		if (want)
			t->ops->slice->free(want);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* ---- the main thread's side ---------------------------------------------- */

int reconciler_start(const struct topology *topo, const struct reconciler_opts *opts,
		     struct reconciler **out)
{
	struct reconciler *r = calloc(1, sizeof(*r));
	int ret = -ENOMEM;

	if (!r)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->event_fd < 0)
		goto fail;
	for (size_t k = 0; target_kinds[k]; k++) {
		ret = target_kinds[k]->add(r, topo, opts);
		if (ret < 0)
			goto fail;
	}
	for (size_t i = 0; i < r->n_targets; i++)
		r->cap_fds += r->targets[i]->ops->event_fd != NULL;
	ret = -ENOMEM;
	r->fds = calloc(r->cap_fds ? r->cap_fds : 1, sizeof(*r->fds));
	r->fd_targets = calloc(r->cap_fds ? r->cap_fds : 1, sizeof(*r->fd_targets));
	if (!r->fds || !r->fd_targets)
		goto fail;
	/* Handles opened by add: subscribed before the first dump. */
	for (size_t i = 0; i < r->n_targets; i++)
		if (r->targets[i]->ops->event_fd)
			fd_append(r->targets[i]);
	for (size_t i = 0; i < r->n_targets; i++) {
		if (pthread_create(&r->targets[i]->thread, NULL, worker, r->targets[i])) {
			ret = -EAGAIN;
			goto fail;
		}
		r->targets[i]->started = true;
	}
	*out = r;
	return 0;
fail:
	reconciler_stop(&r);
	return ret;
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
		struct target *t = r->targets[i];

		if (t->started)
			pthread_join(t->thread, NULL);
	}
	for (size_t i = 0; i < r->n_targets; i++) {
		struct target *t = r->targets[i];

		t->ops->close(t->priv);
		if (t->want)
			t->ops->slice->free(t->want);
		free(t->items);
		for (size_t k = 0; k < t->n_touches; k++)
			free(t->touches[k].ids);
		free(t);
	}
	if (r->event_fd >= 0)
		close(r->event_fd);
	free(r->targets);
	free(r->fds);
	free(r->fd_targets);
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
	size_t n;

	reconciler_lock(r);
	n = r->n_fds;
	reconciler_unlock(r);
	return n;
}

size_t reconciler_max_drift_fds(const struct reconciler *r)
{
	return r->cap_fds;
}

int reconciler_drift_fd(const struct reconciler *r, size_t i)
{
	int fd;

	reconciler_lock(r);
	fd = i < r->n_fds ? r->fds[i] : -1;
	reconciler_unlock(r);
	return fd;
}

void reconciler_drift(struct reconciler *r, size_t i)
{
	struct target *t = reconciler_target_of_fd(r, i);

	if (t && t->ops->event(t) > 0) {
		log_debug(LOG_SUB_RECONCILE, "%s %s: drift seen; resyncing", t->ops->kind, t->name);
		pthread_mutex_lock(&r->lock);
		t->drifts++;
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
		struct target *t = r->targets[i];

		target_post(t, t->ops->slice->of(d, t->name), gen);
	}
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return gen;
}

void reconciler_resync_all(struct reconciler *r)
{
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n_targets; i++)
		r->targets[i]->resync = true;
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

/* Is @t one of @names (every target when @names is NULL)? */
static bool target_named(const struct target *t, const char *const *names, size_t n)
{
	if (!names)
		return true;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(t->name, names[i]))
			return true;
	return false;
}

bool reconciler_done(const struct reconciler *r, uint64_t gen, bool *all_ok)
{
	return reconciler_done_on(r, gen, NULL, 0, all_ok);
}

bool reconciler_done_on(const struct reconciler *r, uint64_t gen, const char *const *names, size_t n_names,
			bool *all_ok)
{
	bool done = true;

	*all_ok = true;
	reconciler_lock(r);
	for (size_t i = 0; i < r->n_targets; i++) {
		const struct target *t = r->targets[i];
		const struct touch *tc;

		if (!target_named(t, names, n_names) || !gen_touched(t, gen, &tc))
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
			const struct target_item *x = &t->items[k];

			if (!item_counts(tc, x) || x->state == SEG_PROGRAMMED)
				continue;
			if (x->state == SEG_PENDING)
				done = false;
			else
				*all_ok = false;
		}
	}
	reconciler_unlock(r);
	return done;
}

bool reconciler_converged(const struct reconciler *r)
{
	return reconciler_converged_on(r, NULL, 0);
}

bool reconciler_converged_on(const struct reconciler *r, const char *const *names, size_t n_names)
{
	bool ok = true;

	reconciler_lock(r);
	for (size_t i = 0; i < r->n_targets && ok; i++) {
		const struct target *t = r->targets[i];

		if (t->ops->node_local || !target_named(t, names, n_names))
			continue;
		ok = !t->busy && !t->resync && t->done_gen >= t->want_gen && t->n_bad == 0 && !t->error[0];
	}
	reconciler_unlock(r);
	return ok;
}

static json_t *target_json(const struct target *t)
{
	/* last_run_phases_ms splits last_run_ms, to see what dominates a run. */
	return json_pack("{s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:f, s:{s:f, s:f, s:f}}", "name", t->name,
			 "kind", t->ops->kind, "error", t->error,
			 "busy", t->busy || t->resync || t->done_gen < t->want_gen,
			 "generation", (json_int_t)t->done_gen, "items", (json_int_t)t->n_items,
			 "not_programmed", (json_int_t)t->n_bad, "runs", (json_int_t)t->runs,
			 "last_run_ms", t->last_run_ms, "last_run_phases_ms",
			 t->ops->phases[0], t->phase_ms[0], t->ops->phases[1], t->phase_ms[1],
			 t->ops->phases[2], t->phase_ms[2]);
}

size_t reconciler_first_runs(const struct reconciler *r, size_t *total, char *waiting, size_t len)
{
	size_t done = 0, off = 0;

	if (len)
		waiting[0] = '\0';
	reconciler_lock(r);
	for (size_t i = 0; i < r->n_targets; i++) {
		const struct target *t = r->targets[i];

		if (t->runs) {
			done++;
			continue;
		}
		if (off < len) {
			int n = snprintf(waiting + off, len - off, "%s%s", off ? ", " : "", t->name);

			off += n > 0 ? (size_t)n : 0;
		}
	}
	*total = r->n_targets;
	reconciler_unlock(r);
	return done;
}

json_t *reconciler_summary(const struct reconciler *r)
{
	json_t *out = json_array();

	reconciler_lock(r);
	for (size_t i = 0; i < r->n_targets; i++) {
		const struct target *t = r->targets[i];
		json_int_t n[SEG_ERROR + 1] = { 0 };
		json_t *tj = target_json(t), *states = json_object();

		for (size_t k = 0; k < t->n_items; k++)
			n[t->items[k].state]++;
		for (int s = SEG_PENDING; s <= SEG_ERROR; s++)
			if (n[s])
				json_object_set_new(states, seg_state_name((enum seg_state)s), json_integer(n[s]));
		json_object_set_new(tj, "states", states);
		json_array_append_new(out, tj);
	}
	reconciler_unlock(r);
	return out;
}

json_t *reconciler_counters(const struct reconciler *r)
{
	json_t *out = json_array();

	reconciler_lock(r);
	for (size_t i = 0; i < r->n_targets; i++) {
		const struct target *t = r->targets[i];
		json_t *c = json_object();

		for (size_t k = 0; k < RUN_COUNTERS_MAX && t->ops->counters[k]; k++)
			json_object_set_new(c, t->ops->counters[k], json_real(t->counters[k]));
		json_array_append_new(out, json_pack("{s:s, s:s, s:I, s:I, s:o}", "name", t->name, "kind",
						     t->ops->kind, "runs", (json_int_t)t->runs, "drift",
						     (json_int_t)t->drifts, "counters", c));
	}
	reconciler_unlock(r);
	return out;
}

json_t *reconciler_status(const struct reconciler *r, const char *tenant, const char *segment)
{
	json_t *items = json_array(), *targets = json_array(), *gpus = json_array();

	reconciler_lock(r);
	for (size_t i = 0; i < r->n_targets; i++) {
		const struct target *t = r->targets[i];

		if (!tenant)
			json_array_append_new(targets, target_json(t));
		for (size_t k = 0; k < t->n_items; k++) {
			const struct target_item *x = &t->items[k];

			if (t->ops->node_local) {
				if (!tenant)
					json_array_append_new(gpus, reconciler_item_json(t, x));
				continue;
			}
			if ((tenant && strcmp(tenant, x->tenant)) || (segment && strcmp(segment, x->segment)))
				continue;
			json_array_append_new(items, reconciler_item_json(t, x));
		}
	}
	reconciler_unlock(r);
	return json_pack("{s:o, s:o, s:o}", "segments", items, "targets", targets, "gpus", gpus);
}

json_t *reconciler_gen_report(const struct reconciler *r, uint64_t gen, bool changed)
{
	json_t *out = json_array();

	reconciler_lock(r);
	for (size_t i = 0; i < r->n_targets; i++) {
		const struct target *t = r->targets[i];
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
				json_array_append_new(out, reconciler_item_json(t, &t->items[k]));
	}
	reconciler_unlock(r);
	return out;
}

/*
 * targets/remote.c: the remote target (targets/remote.h).  In cluster mode
 * (loomd.conf cluster.etcd) every VTEP, subnet manager and MIG node is one
 * of these: its run publishes the slice to PREFIX/desired/NAME and waits
 * for the agent to report that generation in PREFIX/status/NAME.
 *
 * One hub per reconciler holds what the targets share:
 *   - a publisher thread that batches every worker's put into
 *     transactions of at most ETCD_MAX_TXN_OPS operations: one change that
 *     reaches N agents costs ceil(N / 128) requests;
 *   - a watcher thread that reads PREFIX/desired/, PREFIX/status/,
 *     PREFIX/alive/ and PREFIX/signal/ once, then watches them (no agent
 *     watches status/, alive/ or signal/; desired/ is watched to put
 *     loomd's value back when someone else wrote or deleted it), wakes
 *     the waiting runs and the idle workers whose agent reported, came
 *     back or lost its lease, and queues the agents' signals for the main
 *     thread (remote_signals_take: the fault path).
 * An agent whose alive key went away is shown as error "unreachable
 * (since ...)", its items in error, never programmed; nothing is released
 * or moved because of it.  One not seen alive since the hub started is
 * waited for (items pending) for the lease TTL + 1 s first: it may be
 * starting with loomd.
 *
 * Locking: hub->lock guards the hub; it is taken after reconciler_lock
 * (next_wake) and never held while taking it.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/etcd.h"
#include "cluster/keys.h"
#include "lib/log.h"
#include "lib/monotime.h"
#include "src/reconcile.h"
#include "targets/remote.h"

/* How long a run waits for its agent's report before it says "pending"
 * (and is retried by the scheduler). */
#define REMOTE_WAIT_MS 3000
/* The agents' lease TTL when reconciler_opts does not say (loom-agent's default). */
#define REMOTE_LEASE_TTL_DEFAULT 10
/* How long the publisher waits for more puts to join a transaction. */
#define REMOTE_LINGER_US 2000

struct remote_agent {
	char name[LOOM_NAME_MAX];
	/* Under hub->lock. */
	char *status;		/* status/NAME's value, NULL when none */
	uint64_t status_gen;
	char *desired;		/* desired/NAME as last read or seen, NULL when none */
	/* What this process put last (or adopted at start), and the revision
	 * it got; what it is putting now (the worker's, NULL when none). */
	char *ours;
	int64_t ours_rev;
	const char *putting;
	bool overwritten;	/* desired/NAME was written or deleted by someone else */
	bool alive;
	bool seen_alive;	/* alive at least once since the hub started */
	time_t since;		/* when alive last changed (or the hub started) */
	unsigned long seq;	/* bumped on every change of the above */
	bool waiting;		/* a run waits on @cond for this agent */
	pthread_cond_t cond;
};

struct remote_put {
	const char *key, *value;
	pthread_cond_t cond;	/* its worker waits on it: done */
	bool done;
	int ret;
	int64_t revision;	/* the transaction's */
	char error[200];
};

struct remote_hub {
	struct reconciler *r;
	char prefix[128];
	char endpoints[1024];
	/* Highly available controllers: every put compares the leader's
	 * election key's create_revision (fencing; "" = none). */
	char fence_key[256];
	int64_t fence_rev;
	struct etcd *pub, *rd;
	pthread_t pub_thread, watch_thread;
	bool threads;
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* the first read is in, or stop */
	pthread_cond_t pub_cond;	/* the publisher: a put is queued, or stop */
	bool stop;
	bool read_done;		/* the first read of status/ and alive/ is in */
	bool reread;		/* a watch's revision was compacted (watch thread) */
	struct remote_agent *agents;
	size_t n_agents, cap_agents;
	struct remote_put **queue;
	size_t n_queue, cap_queue;
	/* Signals read or seen under PREFIX/signal/, for the main thread. */
	struct remote_signal *signals;
	size_t n_signals, cap_signals;
	unsigned long signals_dropped;
	/* Agents not seen alive yet are waited for until then (CLOCK_REALTIME,
	 * and CLOCK_MONOTONIC for next_wake). */
	struct timespec grace_end;
	int64_t grace_end_mono_ns;
	unsigned int refs;
};

/* Signals kept for the main thread; more (it does not take them) are dropped. */
#define REMOTE_SIGNALS_MAX 65536

struct remote_target {
	struct remote_hub *hub;
	struct remote_agent *agent;
	const struct cluster_slice_kind *kind;
	char key[CLUSTER_KEY_MAX];
	char *published;	/* the last value this process put (or found) */
	uint64_t published_gen;
	unsigned long seen_seq;	/* the agent's seq the last run saw */
	bool graced;		/* the last run found its agent in its grace */
};

/* ---- the hub ---------------------------------------------------------------- */

static struct remote_agent *agent_find(struct remote_hub *h, const char *name)
{
	for (size_t i = 0; i < h->n_agents; i++)
		if (!strcmp(h->agents[i].name, name))
			return &h->agents[i];
	return NULL;
}

static uint64_t value_gen(const char *text, size_t len)
{
	json_t *j = json_loadb(text, len, 0, NULL);
	uint64_t gen = (uint64_t)json_integer_value(json_object_get(j, "generation"));

	json_decref(j);
	return gen;
}

static bool same_value(const char *a, const char *b, size_t len)
{
	return a && strlen(a) == len && !memcmp(a, b, len);
}

/* Queues a signal for the main thread (lock held). */
static void signal_push(struct remote_hub *h, const char *key, const char *value, size_t len)
{
	struct remote_signal *s;

	if (h->n_signals == h->cap_signals) {
		size_t cap = h->cap_signals ? h->cap_signals * 2 : 64;
		struct remote_signal *p = cap <= REMOTE_SIGNALS_MAX ? realloc(h->signals, cap * sizeof(*p)) : NULL;

		if (!p) {
			if (!h->signals_dropped++)
				log_err("remote: signals dropped: the main thread does not take them (%s)", key);
			return;
		}
		h->signals = p;
		h->cap_signals = cap;
	}
	s = &h->signals[h->n_signals];
	s->key = strdup(key);
	s->value = strndup(value, len);
	s->len = len;
	if (!s->key || !s->value) {
		free(s->key);
		free(s->value);
		return;
	}
	h->n_signals++;
	reconciler_wake_main(h->r);
}

/*
 * A key under PREFIX/DIR/ changed (lock held).  Returns whether an idle
 * worker must look (the agent's run is not waiting for it already).
 */
static bool hub_key(struct remote_hub *h, const char *key, const char *value, size_t len, int64_t mod_rev,
		    bool deleted)
{
	size_t plen = strlen(h->prefix);
	const char *dir, *name;
	struct remote_agent *a;

	if (strncmp(key, h->prefix, plen) || key[plen] != '/')
		return false;
	dir = key + plen + 1;
	if (!strncmp(dir, "signal/", 7)) {
		/* Checked on the main thread, which names what is wrong: here
		 * only queued, in the order etcd gave them. */
		if (!deleted)
			signal_push(h, key, value, len);
		return false;
	}
	name = strchr(dir, '/');
	if (!name || !(a = agent_find(h, name + 1)))
		return false;
	if (!strncmp(dir, "status/", 7)) {
		if (deleted)
			return false;
		free(a->status);
		a->status = strndup(value, len);
		a->status_gen = value_gen(value, len);
	} else if (!strncmp(dir, "alive/", 6)) {
		if (a->alive == !deleted)
			return false;
		a->alive = !deleted;
		a->seen_alive |= a->alive;
		a->since = time(NULL);
		log_info("remote %s: agent %s", a->name, deleted ? "lost its lease: unreachable" : "is alive");
	} else if (!strncmp(dir, "desired/", 8)) {
		free(a->desired);
		a->desired = deleted ? NULL : strndup(value, len);
		/* Ours (also one still being put), an older event, or nothing
		 * published yet: nothing to do.  Anything else was written by
		 * someone else, and the agent would act on it. */
		if (!a->ours || mod_rev <= a->ours_rev || (!deleted && (same_value(a->ours, value, len)
									|| same_value(a->putting, value, len))))
			return false;
		a->overwritten = true;
		log_warn("remote %s: %s was %s by someone else (revision %" PRId64 "): putting loomd's value back",
			 a->name, key, deleted ? "deleted" : "written", mod_rev);
	} else {
		return false;
	}
	a->seq++;
	pthread_cond_broadcast(&a->cond);
	return !a->waiting;
}

/* Wakes the idle workers: one of their agents changed. */
static void hub_kick(struct remote_hub *h)
{
	reconciler_lock(h->r);
	reconciler_kick(h->r);
	reconciler_unlock(h->r);
}

static void on_watch(void *arg, const struct etcd_watch_update *u)
{
	struct remote_hub *h = arg;

	if (u->status == ETCD_WATCH_EVENTS) {
		bool kick = false;

		pthread_mutex_lock(&h->lock);
		for (size_t i = 0; i < u->n_events; i++)
			kick |= hub_key(h, u->events[i].kv.key, u->events[i].kv.value, u->events[i].kv.value_len,
					u->events[i].kv.mod_revision, u->events[i].type == ETCD_EV_DELETE);
		pthread_mutex_unlock(&h->lock);
		if (kick)
			hub_kick(h);
	} else if (u->status == ETCD_WATCH_COMPACTED) {
		h->reread = true;
	} else if (u->status == ETCD_WATCH_FOREIGN) {
		log_err("remote: %s", u->message ? u->message : "etcd answered for another cluster");
	}
}

/* Reads PREFIX/@dir/ into the agents; *rev its revision. */
static int hub_read(struct remote_hub *h, const char *dir, int64_t *rev)
{
	struct etcd_header hdr = { 0 };
	struct loom_err err = { 0 };
	struct etcd_kv *kvs = NULL;
	char key[CLUSTER_KEY_MAX];
	bool kick = false;
	size_t n = 0;

	cluster_key(key, sizeof(key), h->prefix, dir, NULL);
	if (etcd_get_prefix(h->rd, key, 0, &kvs, &n, &hdr, &err)) {
		log_warn("remote: reading %s: %s (will retry)", key, err.msg);
		return -EAGAIN;
	}
	pthread_mutex_lock(&h->lock);
	if (!strcmp(dir, "alive"))
		for (size_t i = 0; i < h->n_agents; i++)
			if (h->agents[i].alive) {
				h->agents[i].alive = false;
				h->agents[i].since = time(NULL);
				h->agents[i].seq++;
			}
	if (!strcmp(dir, "desired"))
		/* A key deleted while the watch was away (compaction) is absent here. */
		for (size_t i = 0; i < h->n_agents; i++) {
			struct remote_agent *a = &h->agents[i];
			char k[CLUSTER_KEY_MAX];
			bool found = false;

			cluster_key(k, sizeof(k), h->prefix, "desired", a->name);
			for (size_t j = 0; !found && j < n; j++)
				found = !strcmp(kvs[j].key, k);
			if (!found && a->desired)
				kick |= hub_key(h, k, "", 0, hdr.revision, true);
		}
	for (size_t i = 0; i < n; i++)
		kick |= hub_key(h, kvs[i].key, kvs[i].value, kvs[i].value_len, kvs[i].mod_revision, false);
	pthread_mutex_unlock(&h->lock);
	if (kick && h->read_done)
		hub_kick(h);
	etcd_kvs_free(&kvs, n);
	*rev = hdr.revision;
	return 0;
}

static bool hub_stopping(struct remote_hub *h)
{
	bool stop;

	pthread_mutex_lock(&h->lock);
	stop = h->stop;
	pthread_mutex_unlock(&h->lock);
	return stop;
}

static void *hub_watch_main(void *arg)
{
	struct remote_hub *h = arg;
	static const char *const dirs[] = { "desired", "status", "alive", "signal" };
	struct etcd_watcher *w = NULL;
	struct etcd_watch *ws[4] = { NULL };
	struct loom_err err = { 0 };
	unsigned int pause_ms = 100;

	while (!hub_stopping(h)) {
		int64_t rev[4] = { 0 };
		char key[CLUSTER_KEY_MAX];
		bool again = false, failed = false;

		for (size_t i = 0; i < 4; i++)
			etcd_watch_cancel(w, &ws[i]);
		etcd_watcher_free(&w);
		for (size_t i = 0; !failed && i < 4; i++)
			failed = hub_read(h, dirs[i], &rev[i]) != 0;
		if (failed || etcd_watcher_new(h->endpoints, &w, &err)) {
			struct timespec ts = { .tv_sec = pause_ms / 1000, .tv_nsec = (pause_ms % 1000) * 1000000L };

			nanosleep(&ts, NULL);
			pause_ms = pause_ms * 2 > 5000 ? 5000 : pause_ms * 2;
			continue;
		}
		pause_ms = 100;
		pthread_mutex_lock(&h->lock);
		h->read_done = true;
		pthread_cond_broadcast(&h->cond);
		for (size_t i = 0; i < h->n_agents; i++)
			pthread_cond_broadcast(&h->agents[i].cond);
		pthread_mutex_unlock(&h->lock);
		hub_kick(h);
		for (size_t i = 0; !failed && i < 4; i++) {
			cluster_key(key, sizeof(key), h->prefix, dirs[i], NULL);
			failed = etcd_watch_add(w, key, rev[i] + 1, on_watch, h, &ws[i], &err) != 0;
		}
		if (failed)
			continue;
		h->reread = false;
		while (!again && !hub_stopping(h)) {
			etcd_watcher_run(w, 200);
			/* A compacted revision: read everything again, then watch from there. */
			again = h->reread;
		}
	}
	for (size_t i = 0; i < 4; i++)
		etcd_watch_cancel(w, &ws[i]);
	etcd_watcher_free(&w);
	return NULL;
}

static void *hub_pub_main(void *arg)
{
	struct remote_hub *h = arg;
	struct etcd_op ops[ETCD_MAX_TXN_OPS];
	struct remote_put *batch[ETCD_MAX_TXN_OPS];

	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		struct loom_err err = { 0 };
		struct etcd_header hdr = { 0 };
		bool ok = false;
		size_t n;
		int ret;

		if (!h->n_queue) {
			pthread_cond_wait(&h->pub_cond, &h->lock);
			continue;
		}
		if (h->n_queue < ETCD_MAX_TXN_OPS) {
			/* Let the other workers of the same change join this transaction. */
			pthread_mutex_unlock(&h->lock);
			struct timespec ts = { .tv_nsec = REMOTE_LINGER_US * 1000L };

			nanosleep(&ts, NULL);
			pthread_mutex_lock(&h->lock);
		}
		n = h->n_queue < ETCD_MAX_TXN_OPS ? h->n_queue : ETCD_MAX_TXN_OPS;
		for (size_t i = 0; i < n; i++) {
			batch[i] = h->queue[i];
			ops[i] = (struct etcd_op){ .type = ETCD_OP_PUT, .key = batch[i]->key,
						   .value = batch[i]->value, .len = strlen(batch[i]->value) };
		}
		memmove(h->queue, h->queue + n, (h->n_queue - n) * sizeof(*h->queue));
		h->n_queue -= n;
		pthread_mutex_unlock(&h->lock);
		struct etcd_cmp fence = { .key = h->fence_key, .target = ETCD_CMP_CREATE,
					  .result = ETCD_CMP_EQUAL, .number = h->fence_rev };

		ret = etcd_txn(h->pub, &fence, h->fence_key[0] ? 1 : 0, ops, n, NULL, 0, &ok, &hdr, &err);
		if (!ret && !ok && h->fence_key[0])
			log_warn("remote: fenced: %s (revision %" PRId64 ") is no longer the leader's key; "
				 "%zu slice%s not published", h->fence_key, h->fence_rev, n, n == 1 ? "" : "s");
		pthread_mutex_lock(&h->lock);
		for (size_t i = 0; i < n; i++) {
			batch[i]->ret = ret ? ret : ok ? 0 : -EIO;
			batch[i]->revision = hdr.revision;
			snprintf(batch[i]->error, sizeof(batch[i]->error), "%s",
				 ret ? err.msg : ok ? "" : "fenced: this controller no longer leads");
			batch[i]->done = true;
			/* Only this transaction's workers: a broadcast to every
			 * waiting worker cost 1,000 + 872 + ... wake-ups a change. */
			pthread_cond_signal(&batch[i]->cond);
		}
	}
	/* Whatever is left fails: the workers are being stopped. */
	for (size_t i = 0; i < h->n_queue; i++) {
		h->queue[i]->ret = -ECANCELED;
		snprintf(h->queue[i]->error, sizeof(h->queue[i]->error), "loomd is stopping");
		h->queue[i]->done = true;
		pthread_cond_signal(&h->queue[i]->cond);
	}
	h->n_queue = 0;
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/*
 * Puts @key = @value (agent @a's desired value) through the publisher;
 * blocks until its transaction is in.  @a's own value is @value from
 * then on: its watch event is not taken for someone else's write.
 */
static int hub_publish(struct remote_hub *h, struct remote_agent *a, const char *key, const char *value, char *why,
		       size_t len)
{
	struct remote_put p = { .key = key, .value = value };

	pthread_cond_init(&p.cond, NULL);
	pthread_mutex_lock(&h->lock);
	a->putting = value;
	if (h->n_queue == h->cap_queue) {
		size_t cap = h->cap_queue ? h->cap_queue * 2 : 256;
		struct remote_put **q = realloc(h->queue, cap * sizeof(*q));

		if (!q) {
			a->putting = NULL;
			pthread_mutex_unlock(&h->lock);
			pthread_cond_destroy(&p.cond);
			return -ENOMEM;
		}
		h->queue = q;
		h->cap_queue = cap;
	}
	h->queue[h->n_queue++] = &p;
	pthread_cond_signal(&h->pub_cond);
	while (!p.done)
		pthread_cond_wait(&p.cond, &h->lock);
	a->putting = NULL;
	if (!p.ret) {
		char *copy = strdup(value);

		if (copy) {
			free(a->ours);
			a->ours = copy;
			a->ours_rev = p.revision;
		}
	}
	pthread_mutex_unlock(&h->lock);
	pthread_cond_destroy(&p.cond);
	snprintf(why, len, "%s", p.error);
	return p.ret;
}

static void hub_unref(struct remote_hub *h)
{
	if (--h->refs)
		return;
	if (h->threads) {
		pthread_mutex_lock(&h->lock);
		h->stop = true;
		pthread_cond_broadcast(&h->cond);
		pthread_cond_broadcast(&h->pub_cond);
		for (size_t i = 0; i < h->n_agents; i++)
			pthread_cond_broadcast(&h->agents[i].cond);
		pthread_mutex_unlock(&h->lock);
		pthread_join(h->pub_thread, NULL);
		pthread_join(h->watch_thread, NULL);
	}
	for (size_t i = 0; i < h->n_agents; i++) {
		free(h->agents[i].status);
		free(h->agents[i].desired);
		free(h->agents[i].ours);
		pthread_cond_destroy(&h->agents[i].cond);
	}
	for (size_t i = 0; i < h->n_signals; i++)
		remote_signal_clear(&h->signals[i]);
	free(h->signals);
	free(h->agents);
	free(h->queue);
	etcd_close(&h->pub);
	etcd_close(&h->rd);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
	pthread_cond_destroy(&h->pub_cond);
	free(h);
}

/* ---- the target --------------------------------------------------------------- */

static void when(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The items of @want with one state and reason (not reported, or unreachable). */
static void want_items(const struct cluster_slice_kind *k, const void *want, enum seg_state st, const char *why,
		       struct target_result *res)
{
	if (!strcmp(k->name, "vtep")) {
		const struct vtep_desired *d = want;

		for (size_t i = 0; i < d->n_vnis; i++)
			target_result_add(res, d->vnis[i].tenant, d->vnis[i].segment, d->vnis[i].vni, "remote", st,
					  why);
	} else if (!strcmp(k->name, "sm")) {
		const struct sm_desired *d = want;

		for (size_t i = 0; i < d->n_partitions; i++)
			target_result_add(res, d->partitions[i].tenant, d->partitions[i].segment,
					  d->partitions[i].pkey, "remote", st, why);
	} else {
		const struct gpu_desired *d = want;

		for (size_t i = 0; i < d->n_layouts; i++) {
			char seg[16];

			snprintf(seg, sizeof(seg), "gpu%u", d->layouts[i].index);
			target_result_add(res, "", seg, d->layouts[i].index, "remote", st, why);
		}
	}
}

/*
 * The generation already published for an equal slice (a controller that
 * restarted finds its own last value): 0 when none or different.
 */
static uint64_t published_before(const char *existing, const char *text)
{
	json_t *a = existing ? json_loads(existing, 0, NULL) : NULL, *b = json_loads(text, 0, NULL);
	uint64_t gen = 0;

	if (a && b && json_equal(json_object_get(a, "slice"), json_object_get(b, "slice"))
	    && json_equal(json_object_get(a, "kind"), json_object_get(b, "kind")))
		gen = (uint64_t)json_integer_value(json_object_get(a, "generation"));
	json_decref(a);
	json_decref(b);
	return gen;
}

/* Is @a not seen alive since the hub started, and its grace not over (lock held)? */
static bool in_grace(const struct remote_hub *h, const struct remote_agent *a)
{
	struct timespec now;

	if (a->alive || a->seen_alive)
		return false;
	clock_gettime(CLOCK_REALTIME, &now);
	return now.tv_sec < h->grace_end.tv_sec
	       || (now.tv_sec == h->grace_end.tv_sec && now.tv_nsec < h->grace_end.tv_nsec);
}

/*
 * What the agent last reported and @res (this slice) no longer has: a
 * removal it has not reported yet.  Pending with @why, so that a waiter
 * waits for the agent (a slice without the removed segments has no item
 * of its own for them).  Lock held.
 */
static void gone_items(const struct remote_agent *a, struct target_result *res, const char *why)
{
	struct target_result last = { 0 };
	struct loom_err err = { 0 };
	size_t n_want = res->n_items;
	uint64_t g;

	if (!a->status || cluster_status_decode(a->status, strlen(a->status), &g, &last, &err)) {
		free(last.items);
		return;
	}
	for (size_t i = 0; i < last.n_items; i++) {
		const struct target_item *x = &last.items[i];
		bool kept = false;

		for (size_t k = 0; k < n_want && !kept; k++)
			kept = !strcmp(res->items[k].tenant, x->tenant) && !strcmp(res->items[k].segment, x->segment);
		if (!kept)
			target_result_add(res, x->tenant, x->segment, x->id, x->layer, SEG_PENDING, why);
	}
	free(last.items);
}

static void remote_run(struct target *t, const void *want, struct target_result *res)
{
	struct remote_target *rt = reconciler_target_priv(t);
	struct remote_hub *h = rt->hub;
	struct remote_agent *a = rt->agent;
	uint64_t gen = reconciler_target_want_gen(t), wait_gen = gen;
	char *text = cluster_desired_encode(rt->kind, gen, want);
	char why[256], since[32];
	struct timespec until;
	bool reported, read, put_back;

	if (!text) {
		snprintf(res->error, sizeof(res->error), "out of memory");
		return;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += REMOTE_WAIT_MS / 1000;
	/* The first read tells what is in etcd already. */
	pthread_mutex_lock(&h->lock);
	while (!h->read_done && !h->stop && pthread_cond_timedwait(&h->cond, &h->lock, &until) != ETIMEDOUT)
		;
	read = h->read_done;
	if (read && !rt->published) {
		uint64_t before = published_before(a->desired, text);

		if (before) {
			/* A restarted controller: the agent has this slice already. */
			free(a->ours);
			a->ours = strdup(a->desired);
			a->ours_rev = 0;
			rt->published = text;
			rt->published_gen = before;
			text = NULL;
		}
	}
	put_back = a->overwritten;
	a->overwritten = false;
	pthread_mutex_unlock(&h->lock);
	if (!read) {
		snprintf(res->error, sizeof(res->error), "etcd at %s not reachable", h->endpoints);
		want_items(rt->kind, want, SEG_PENDING, res->error, res);
		free(text);
		return;
	}
	if (text && rt->published && published_before(rt->published, text)) {
		/* Same slice as last put (a resync or a retry): nothing to put. */
		free(text);
		text = NULL;
	}
	if (!text && put_back && rt->published) {
		/* Someone else wrote or deleted desired/NAME: the same value again. */
		text = strdup(rt->published);
		gen = rt->published_gen;
	}
	if (!text)
		wait_gen = rt->published_gen;
	if (text) {
		int ret = hub_publish(h, a, rt->key, text, why, sizeof(why));

		if (ret) {
			snprintf(res->error, sizeof(res->error), "publishing %s: %s", rt->key,
				 why[0] ? why : strerror(-ret));
			want_items(rt->kind, want, SEG_PENDING, res->error, res);
			free(text);
			if (put_back) {
				pthread_mutex_lock(&h->lock);
				a->overwritten = true;
				pthread_mutex_unlock(&h->lock);
			}
			return;
		}
		free(rt->published);
		rt->published = text;
		rt->published_gen = gen;
		wait_gen = gen;
	}
	/* Wait for the agent's report of that generation, or its death; an
	 * agent not seen since the hub started, for its grace. */
	pthread_mutex_lock(&h->lock);
	a->waiting = true;
	for (;;) {
		struct timespec end = until;

		if (h->stop || (a->alive ? a->status_gen == wait_gen : !in_grace(h, a)))
			break;
		if (!a->alive && (h->grace_end.tv_sec < end.tv_sec
				  || (h->grace_end.tv_sec == end.tv_sec && h->grace_end.tv_nsec < end.tv_nsec)))
			end = h->grace_end;
		if (pthread_cond_timedwait(&a->cond, &h->lock, &end) == ETIMEDOUT
		    && end.tv_sec == until.tv_sec && end.tv_nsec == until.tv_nsec)
			break;
	}
	a->waiting = false;
	rt->seen_seq = a->seq;
	reported = a->status && a->status_gen == wait_gen;
	rt->graced = !a->alive && in_grace(h, a);
	if (rt->graced) {
		when(h->grace_end.tv_sec, since, sizeof(since));
		snprintf(why, sizeof(why), "agent %s has not connected since loomd started (waited for until %s)",
			 a->name, since);
		want_items(rt->kind, want, SEG_PENDING, why, res);
	} else if (!a->alive) {
		when(a->since, since, sizeof(since));
		snprintf(res->error, sizeof(res->error), "unreachable (since %s)", since);
		snprintf(why, sizeof(why), "agent %s unreachable since %s", a->name, since);
		want_items(rt->kind, want, SEG_ERROR, why, res);
	} else if (!reported) {
		snprintf(why, sizeof(why), "agent %s has not reported generation %" PRIu64 " yet", a->name, wait_gen);
		want_items(rt->kind, want, SEG_PENDING, why, res);
		gone_items(a, res, why);
	} else {
		struct loom_err err = { 0 };
		uint64_t g;

		if (cluster_status_decode(a->status, strlen(a->status), &g, res, &err))
			snprintf(res->error, sizeof(res->error), "%s: %s", a->name, err.msg);
	}
	pthread_mutex_unlock(&h->lock);
}

/* A run is due when the agent reported something new, died or came back,
 * or when the grace of one that never connected is over. */
static bool remote_changed(const struct target *t)
{
	struct remote_target *rt = reconciler_target_priv(t);
	bool changed;

	pthread_mutex_lock(&rt->hub->lock);
	changed = rt->agent->seq != rt->seen_seq || (rt->graced && !in_grace(rt->hub, rt->agent));
	pthread_mutex_unlock(&rt->hub->lock);
	return changed;
}

static bool remote_idle(struct target *t, bool run_due)
{
	(void)run_due;
	return remote_changed(t);
}

static int64_t remote_next_wake(const struct target *t)
{
	const struct remote_target *rt = reconciler_target_priv(t);

	if (remote_changed(t))
		return 1;
	return rt->graced ? rt->hub->grace_end_mono_ns : 0;
}

static void remote_close(void *priv)
{
	struct remote_target *rt = priv;

	free(rt->published);
	if (rt->hub)
		hub_unref(rt->hub);
	free(rt);
}

#define REMOTE_OPS(kname, slice_ops, hex)                                                   \
	{                                                                                   \
		.kind = "remote", .phases = { "publish", "-", "report" }, .hex_ids = hex,   \
		.slice = &slice_ops, .run = remote_run, .idle = remote_idle,                \
		.next_wake = remote_next_wake, .close = remote_close,                       \
	}

static const struct target_ops remote_vtep_ops = REMOTE_OPS("vtep", target_slice_vtep, false);
static const struct target_ops remote_sm_ops = REMOTE_OPS("sm", target_slice_sm, true);
static const struct target_ops remote_gpu_ops = {
	.kind = "remote", .phases = { "publish", "-", "report" }, .node_local = true,
	.slice = &target_slice_gpu, .run = remote_run, .idle = remote_idle,
	.next_wake = remote_next_wake, .close = remote_close,
};

static int remote_add_one(struct remote_hub *h, const char *name, const struct target_ops *ops)
{
	struct remote_target *rt = calloc(1, sizeof(*rt));
	struct remote_agent *a;

	if (!rt)
		return -ENOMEM;
	if (h->n_agents == h->cap_agents) {
		/* Sized at the start: the pointers into it stay valid. */
		free(rt);
		return -ENOSPC;
	}
	a = &h->agents[h->n_agents++];
	pthread_cond_init(&a->cond, NULL);
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->since = time(NULL);
	rt->hub = h;
	rt->agent = a;
	rt->kind = cluster_slice_kind_of(ops->slice);
	h->refs++;
	if (cluster_key(rt->key, sizeof(rt->key), h->prefix, "desired", name)) {
		remote_close(rt);
		return -ENAMETOOLONG;
	}
	return reconciler_target_add(h->r, name, ops, rt, NULL);
}

static bool node_has_mig(const struct topo_node *n)
{
	for (size_t i = 0; i < n->n_gpus; i++)
		if (n->gpus[i].mig_capable)
			return true;
	return false;
}

static int remote_add(struct reconciler *r, const struct topology *topo, const struct reconciler_opts *opts)
{
	struct remote_hub *h;
	struct loom_err err = { 0 };
	int ret = 0;

	if (!opts || !opts->cluster_etcd || !opts->cluster_etcd[0])
		return 0;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->r = r;
	h->refs = 1;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	pthread_cond_init(&h->pub_cond, NULL);
	snprintf(h->prefix, sizeof(h->prefix), "%s",
		 opts->cluster_prefix && opts->cluster_prefix[0] ? opts->cluster_prefix : CLUSTER_PREFIX_DEFAULT);
	snprintf(h->endpoints, sizeof(h->endpoints), "%s", opts->cluster_etcd);
	clock_gettime(CLOCK_REALTIME, &h->grace_end);
	h->grace_end.tv_sec += (opts->cluster_lease_ttl_s ? opts->cluster_lease_ttl_s : REMOTE_LEASE_TTL_DEFAULT) + 1;
	h->grace_end_mono_ns = mono_ns()
			       + ((int64_t)(opts->cluster_lease_ttl_s ? opts->cluster_lease_ttl_s : REMOTE_LEASE_TTL_DEFAULT)
				  + 1) * 1000000000;
	if (opts->fence_key) {
		snprintf(h->fence_key, sizeof(h->fence_key), "%s", opts->fence_key);
		h->fence_rev = opts->fence_rev;
	}
	h->cap_agents = topo->n_vteps + topo->n_sms + topo->n_nodes;
	h->agents = calloc(h->cap_agents ? h->cap_agents : 1, sizeof(*h->agents));
	if (!h->agents || etcd_open(h->endpoints, 5000, &h->pub, &err) || etcd_open(h->endpoints, 5000, &h->rd, &err)) {
		log_err("remote: %s", err.msg[0] ? err.msg : "out of memory");
		hub_unref(h);
		return -ENOMEM;
	}
	for (size_t i = 0; !ret && i < topo->n_vteps; i++)
		ret = remote_add_one(h, topo->vteps[i].name, &remote_vtep_ops);
	for (size_t i = 0; !ret && i < topo->n_sms; i++)
		ret = remote_add_one(h, topo->sms[i].name, &remote_sm_ops);
	for (size_t i = 0; !ret && i < topo->n_nodes; i++)
		if (node_has_mig(&topo->nodes[i]))
			ret = remote_add_one(h, topo->nodes[i].name, &remote_gpu_ops);
	if (!ret && pthread_create(&h->pub_thread, NULL, hub_pub_main, h) == 0) {
		if (pthread_create(&h->watch_thread, NULL, hub_watch_main, h) == 0)
			h->threads = true;
		else
			ret = -EAGAIN;
		if (!h->threads) {
			pthread_mutex_lock(&h->lock);
			h->stop = true;
			pthread_cond_broadcast(&h->pub_cond);
			pthread_mutex_unlock(&h->lock);
			pthread_join(h->pub_thread, NULL);
		}
	} else if (!ret) {
		ret = -EAGAIN;
	}
	hub_unref(h);	/* the targets hold it from here */
	return ret;
}

const struct target_kind remote_target_kind = { .name = "remote", .add = remote_add };

/* The hub of @r's remote targets, NULL when it has none. */
static struct remote_hub *hub_of(const struct reconciler *r)
{
	for (size_t i = 0; i < reconciler_n_targets(r); i++) {
		const struct target *t = reconciler_target_at(r, i);
		const struct target_ops *ops = reconciler_target_ops(t);

		if (ops == &remote_vtep_ops || ops == &remote_sm_ops || ops == &remote_gpu_ops)
			return ((const struct remote_target *)reconciler_target_priv(t))->hub;
	}
	return NULL;
}

uint64_t remote_etcd_requests(const struct reconciler *r)
{
	struct remote_hub *h = hub_of(r);

	return h ? etcd_requests(h->pub) + etcd_requests(h->rd) : 0;
}

uint64_t remote_etcd_timeouts(const struct reconciler *r, uint64_t *attempts)
{
	struct remote_hub *h = hub_of(r);
	uint64_t a = 0, b = 0, n;

	*attempts = 0;
	if (!h)
		return 0;
	n = etcd_timeouts(h->pub, &a) + etcd_timeouts(h->rd, &b);
	*attempts = a + b;
	return n;
}

size_t remote_signals_take(struct reconciler *r, struct remote_signal *out, size_t max)
{
	struct remote_hub *h = hub_of(r);
	size_t n;

	if (!h)
		return 0;
	pthread_mutex_lock(&h->lock);
	n = h->n_signals < max ? h->n_signals : max;
	if (n) {
		memcpy(out, h->signals, n * sizeof(*out));
		memmove(h->signals, h->signals + n, (h->n_signals - n) * sizeof(*out));
		h->n_signals -= n;
	}
	pthread_mutex_unlock(&h->lock);
	return n;
}

void remote_signal_clear(struct remote_signal *s)
{
	free(s->key);
	free(s->value);
	s->key = s->value = NULL;
}

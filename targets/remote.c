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
 *   - a watcher thread that reads PREFIX/status/, PREFIX/alive/ and
 *     PREFIX/desired/ once, then watches status/ and alive/ (no agent
 *     watches those), and wakes the waiting runs and the idle workers
 *     whose agent reported, came back or lost its lease.
 * An agent without its alive key is shown as error "unreachable (since
 * ...)", its items in error, never programmed; nothing is released or
 * moved because of it.
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
#include "src/reconcile.h"
#include "targets/remote.h"

/* How long a run waits for its agent's report before it says "pending"
 * (and is retried by the scheduler). */
#define REMOTE_WAIT_MS 3000
/* How long the publisher waits for more puts to join a transaction. */
#define REMOTE_LINGER_US 2000

struct remote_agent {
	char name[LOOM_NAME_MAX];
	/* Under hub->lock. */
	char *status;		/* status/NAME's value, NULL when none */
	uint64_t status_gen;
	char *desired;		/* desired/NAME as found at start, NULL when none */
	bool alive;
	time_t since;		/* when alive last changed (or the hub started) */
	unsigned long seq;	/* bumped on every change of the above */
	bool waiting;		/* a run waits on @cond for this agent */
	pthread_cond_t cond;
};

struct remote_put {
	const char *key, *value;
	bool done;
	int ret;
	char error[200];
};

struct remote_hub {
	struct reconciler *r;
	char prefix[128];
	char endpoints[1024];
	struct etcd *pub, *rd;
	pthread_t pub_thread, watch_thread;
	bool threads;
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* the first read is in, or stop */
	pthread_cond_t pub_cond;	/* the publisher: a put is queued, or stop */
	pthread_cond_t done_cond;	/* the workers: a transaction is in */
	bool stop;
	bool read_done;		/* the first read of status/ and alive/ is in */
	bool reread;		/* a watch's revision was compacted (watch thread) */
	struct remote_agent *agents;
	size_t n_agents, cap_agents;
	struct remote_put **queue;
	size_t n_queue, cap_queue;
	unsigned int refs;
};

struct remote_target {
	struct remote_hub *hub;
	struct remote_agent *agent;
	const struct cluster_slice_kind *kind;
	char key[CLUSTER_KEY_MAX];
	char *published;	/* the last value this process put (or found) */
	uint64_t published_gen;
	unsigned long seen_seq;	/* the agent's seq the last run saw */
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

/*
 * A key under PREFIX/DIR/ changed (lock held).  Returns whether an idle
 * worker must look (the agent's run is not waiting for it already).
 */
static bool hub_key(struct remote_hub *h, const char *key, const char *value, size_t len, bool deleted)
{
	size_t plen = strlen(h->prefix);
	const char *dir, *name;
	struct remote_agent *a;

	if (strncmp(key, h->prefix, plen) || key[plen] != '/')
		return false;
	dir = key + plen + 1;
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
		a->since = time(NULL);
		log_info("remote %s: agent %s", a->name, deleted ? "lost its lease: unreachable" : "is alive");
	} else if (!strncmp(dir, "desired/", 8)) {
		free(a->desired);
		a->desired = deleted ? NULL : strndup(value, len);
		return false;
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
					u->events[i].type == ETCD_EV_DELETE);
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
	for (size_t i = 0; i < n; i++)
		hub_key(h, kvs[i].key, kvs[i].value, kvs[i].value_len, false);
	pthread_mutex_unlock(&h->lock);
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
	struct etcd_watcher *w = NULL;
	struct etcd_watch *ws = NULL, *wa = NULL;
	struct loom_err err = { 0 };
	unsigned int pause_ms = 100;

	while (!hub_stopping(h)) {
		int64_t r1 = 0, r2 = 0, r3 = 0;
		char key[CLUSTER_KEY_MAX];
		bool again = false;

		etcd_watch_cancel(w, &ws);
		etcd_watch_cancel(w, &wa);
		etcd_watcher_free(&w);
		if (hub_read(h, "desired", &r1) || hub_read(h, "status", &r2) || hub_read(h, "alive", &r3)
		    || etcd_watcher_new(h->endpoints, &w, &err)) {
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
		cluster_key(key, sizeof(key), h->prefix, "status", NULL);
		if (etcd_watch_add(w, key, r2 + 1, on_watch, h, &ws, &err))
			continue;
		cluster_key(key, sizeof(key), h->prefix, "alive", NULL);
		if (etcd_watch_add(w, key, r3 + 1, on_watch, h, &wa, &err))
			continue;
		h->reread = false;
		while (!again && !hub_stopping(h)) {
			etcd_watcher_run(w, 200);
			/* A compacted revision: read everything again, then watch from there. */
			again = h->reread;
		}
	}
	etcd_watch_cancel(w, &ws);
	etcd_watch_cancel(w, &wa);
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
		ret = etcd_txn(h->pub, NULL, 0, ops, n, NULL, 0, &ok, NULL, &err);
		pthread_mutex_lock(&h->lock);
		for (size_t i = 0; i < n; i++) {
			batch[i]->ret = ret ? ret : ok ? 0 : -EIO;
			snprintf(batch[i]->error, sizeof(batch[i]->error), "%s", ret ? err.msg : "");
			batch[i]->done = true;
		}
		pthread_cond_broadcast(&h->done_cond);
	}
	/* Whatever is left fails: the workers are being stopped. */
	for (size_t i = 0; i < h->n_queue; i++) {
		h->queue[i]->ret = -ECANCELED;
		snprintf(h->queue[i]->error, sizeof(h->queue[i]->error), "loomd is stopping");
		h->queue[i]->done = true;
	}
	h->n_queue = 0;
	pthread_cond_broadcast(&h->done_cond);
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* Puts @key = @value through the publisher; blocks until its transaction is in. */
static int hub_publish(struct remote_hub *h, const char *key, const char *value, char *why, size_t len)
{
	struct remote_put p = { .key = key, .value = value };

	pthread_mutex_lock(&h->lock);
	if (h->n_queue == h->cap_queue) {
		size_t cap = h->cap_queue ? h->cap_queue * 2 : 256;
		struct remote_put **q = realloc(h->queue, cap * sizeof(*q));

		if (!q) {
			pthread_mutex_unlock(&h->lock);
			return -ENOMEM;
		}
		h->queue = q;
		h->cap_queue = cap;
	}
	h->queue[h->n_queue++] = &p;
	pthread_cond_signal(&h->pub_cond);
	while (!p.done)
		pthread_cond_wait(&h->done_cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
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
		pthread_cond_destroy(&h->agents[i].cond);
	}
	free(h->agents);
	free(h->queue);
	etcd_close(&h->pub);
	etcd_close(&h->rd);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
	pthread_cond_destroy(&h->pub_cond);
	pthread_cond_destroy(&h->done_cond);
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

static void remote_run(struct target *t, const void *want, struct target_result *res)
{
	struct remote_target *rt = reconciler_target_priv(t);
	struct remote_hub *h = rt->hub;
	struct remote_agent *a = rt->agent;
	uint64_t gen = reconciler_target_want_gen(t), wait_gen = gen;
	char *text = cluster_desired_encode(rt->kind, gen, want);
	char why[256], since[32];
	struct timespec until;
	bool reported, read;

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
			rt->published = text;
			rt->published_gen = before;
			text = NULL;
		}
	}
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
	if (!text)
		wait_gen = rt->published_gen;
	if (text) {
		int ret = hub_publish(h, rt->key, text, why, sizeof(why));

		if (ret) {
			snprintf(res->error, sizeof(res->error), "publishing %s: %s", rt->key,
				 why[0] ? why : strerror(-ret));
			want_items(rt->kind, want, SEG_PENDING, res->error, res);
			free(text);
			return;
		}
		free(rt->published);
		rt->published = text;
		rt->published_gen = gen;
	}
	/* Wait for the agent's report of that generation, or its death. */
	pthread_mutex_lock(&h->lock);
	a->waiting = true;
	while (a->alive && a->status_gen != wait_gen && !h->stop
	       && pthread_cond_timedwait(&a->cond, &h->lock, &until) != ETIMEDOUT)
		;
	a->waiting = false;
	rt->seen_seq = a->seq;
	reported = a->status && a->status_gen == wait_gen;
	if (!a->alive) {
		when(a->since, since, sizeof(since));
		snprintf(res->error, sizeof(res->error), "unreachable (since %s)", since);
		snprintf(why, sizeof(why), "agent %s unreachable since %s", a->name, since);
		want_items(rt->kind, want, SEG_ERROR, why, res);
	} else if (!reported) {
		snprintf(why, sizeof(why), "agent %s has not reported generation %" PRIu64 " yet", a->name, wait_gen);
		want_items(rt->kind, want, SEG_PENDING, why, res);
	} else {
		struct loom_err err = { 0 };
		uint64_t g;

		if (cluster_status_decode(a->status, strlen(a->status), &g, res, &err))
			snprintf(res->error, sizeof(res->error), "%s: %s", a->name, err.msg);
	}
	pthread_mutex_unlock(&h->lock);
}

/* A run is due when the agent reported something new, died or came back. */
static bool remote_changed(const struct target *t)
{
	struct remote_target *rt = reconciler_target_priv(t);
	bool changed;

	pthread_mutex_lock(&rt->hub->lock);
	changed = rt->agent->seq != rt->seen_seq;
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
	return remote_changed(t) ? 1 : 0;
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
	pthread_cond_init(&h->done_cond, NULL);
	snprintf(h->prefix, sizeof(h->prefix), "%s",
		 opts->cluster_prefix && opts->cluster_prefix[0] ? opts->cluster_prefix : CLUSTER_PREFIX_DEFAULT);
	snprintf(h->endpoints, sizeof(h->endpoints), "%s", opts->cluster_etcd);
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

uint64_t remote_etcd_requests(const struct reconciler *r)
{
	for (size_t i = 0; i < reconciler_n_targets(r); i++) {
		const struct target *t = reconciler_target_at(r, i);
		const struct target_ops *ops = reconciler_target_ops(t);

		if (ops == &remote_vtep_ops || ops == &remote_sm_ops || ops == &remote_gpu_ops) {
			const struct remote_target *rt = reconciler_target_priv(t);

			return etcd_requests(rt->hub->pub) + etcd_requests(rt->hub->rd);
		}
	}
	return 0;
}

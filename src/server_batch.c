/*
 * src/server_batch.c: a batch of requests and its group commit
 * (src/server_batch.h).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "lib/monotime.h"
#include "src/api.h"
#include "src/api_scope.h"
#include "src/ha.h"
#include "src/metrics.h"
#include "src/reconcile.h"
#include "src/rpc.h"
#include "src/server_batch.h"
#include "src/server_limit.h"

/* Per client, at most this many requests are taken per batch (fairness). */
#define LINES_PER_BATCH 64
#define MAX_BATCH 4096

/* A reply waiting for the batch's commit. */
struct pending {
	struct client *client;
	json_t *reply;		/* the reply if all goes well */
	json_t *id;
	bool wrote;		/* a successful write: its reply depends on the COMMIT */
	json_t *result;		/* with wait: the result, answered once the wait is over */
	int wait_s;
	const struct api_wait *wait;	/* with wait: what else it waits for (NULL: the targets) */
	char wait_subject[LOOM_NAME_MAX];
	/* For the metrics: the method (NULL when unknown), the outcome, when it was read. */
	const char *method;
	int code;
	int64_t t0_ns;
	/* cluster.ha: a write's request line, run again when another
	 * controller's entry took the batch's place in the log. */
	char *line;
	size_t line_len;
};

/* A successful write whose client asked to wait for the targets. */
struct waiter {
	struct waiter *next;
	struct client *client;
	json_t *id;
	json_t *result;
	uint64_t gen;
	int64_t ha_seq;		/* a follower's write: its log entry, answered from the leader's word */
	int64_t deadline_ns;	/* CLOCK_MONOTONIC */
	const struct api_wait *wait;
	char wait_subject[LOOM_NAME_MAX];
	const char *method;
	int64_t t0_ns;
};

static struct pending batch[MAX_BATCH];
static size_t n_batch;
/* The batch's writes are running again (cluster.ha): their limits were counted. */
static bool rerunning;

static void waiter_free(struct waiter *w)
{
	json_decref(w->id);
	json_decref(w->result);
	free(w);
}

void waiters_drop(struct loomd *d, const struct client *c)
{
	for (struct waiter **pw = &d->waiters; *pw;) {
		struct waiter *w = *pw;

		if (!c || w->client == c) {
			*pw = w->next;
			waiter_free(w);
		} else {
			pw = &w->next;
		}
	}
}

/* Takes the optional "wait" (seconds) out of a write's params. */
static int wait_param(json_t *params, int *wait_s, struct loom_err *err)
{
	json_t *v = json_object_get(params, "wait");

	*wait_s = 0;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 3600)
		return loom_err_set(err, LOOM_E_PARAMS, "wait", "'wait' must be whole seconds, 0..3600");
	*wait_s = (int)json_integer_value(v);
	json_object_del(params, "wait");
	return 0;
}

/* A method run as an api_call_write. */
struct method_run {
	const struct api_method *m;
	json_t *params;
};

static int method_fn(struct api_call *call, void *arg, json_t **result, struct loom_err *err)
{
	struct method_run *run = arg;

	return api_scope_run(call, run->m, run->params, result, err);
}

/*
 * Runs one request; returns the reply (NULL for a notification).  A write
 * that asked to wait hands its result back in *waited instead, and what
 * it waits for in @p.
 */
static json_t *request_run(struct loomd *d, struct client *c, struct rpc_request *req, bool *wrote,
			   json_t **waited, struct pending *p)
{
	struct loom_err err = { 0 };
	const struct api_method *m = api_method_find(req->method);
	struct api_call call = { .d = d, .peer = &c->peer };
	struct method_run run = { .m = m, .params = req->params };
	json_t *result = NULL, *reply;

	*wrote = false;
	*waited = NULL;
	p->wait_s = 0;
	p->method = m ? m->name : NULL;
	if (!rerunning && limit_request(d, c, &err))
		goto done;
	if (!m) {
		loom_err_set(&err, LOOM_E_METHOD, "method", "no method '%s'", req->method);
		goto done;
	}
	if (c->peer.role == ROLE_NONE || (m->writes && c->peer.role == ROLE_READER)) {
		loom_err_set(&err, LOOM_E_PERMISSION, "method",
			     "%s %s may not call %s: %s", c->peer.tls ? "certificate" : "uid",
			     c->peer.tls ? c->peer.principal : c->peer.principal + 4, req->method,
			     c->peer.role == ROLE_NONE
				     ? c->peer.tls ? "no principal rule of loomd.conf matches it"
						   : "it is neither root nor in the admin or reader group"
				     : c->peer.tls ? "changes need a principal with the admin role"
						   : "changes need root or the admin group");
		goto done;
	}
	if (!m->writes) {
		const char *stale;

		if (api_scope_run(&call, m, req->params, &result, &err) == 0 && call.subscribe) {
			d->n_subscribers += !c->subscribed;
			c->subscribed = true;
			c->ev_after = call.subscribe_after;
			memcpy(c->ev_node, call.subscribe_node, sizeof(c->ev_node));
			if (c->peer.role == ROLE_TENANT) {
				json_decref(c->ev_seen);
				c->ev_seen = api_scope_nodes(d, c->peer.tenant);
			}
		}
		/* A read whose answer comes later waits like a write (done: below). */
		if (err.code == LOOM_OK && call.wait && call.wait->read_limit_s > 0)
			p->wait_s = call.wait->read_limit_s;
		/* cluster.ha without etcd: the answer is this replica's, maybe behind. */
		if (err.code == LOOM_OK && json_is_object(result) && (stale = loomd_ha_stale(d)))
			json_object_set_new(result, "stale", json_string(stale));
		goto done;
	}
	if (wait_param(req->params, &p->wait_s, &err))
		goto done;
	if (api_call_write(&call, req->method, req->params, method_fn, &run, &result, &err) == 0)
		*wrote = true;
done:
	p->code = err.code;
	if (err.code != LOOM_OK) {
		if (m && m->writes && err.code != LOOM_E_LIMIT)
			log_info("%s by %s refused: %s (%s)", req->method, c->peer.principal,
				 err.msg, err.field);
		reply = req->id ? rpc_error(req->id, &err) : NULL;
	} else if (p->wait_s > 0 && req->id) {
		*waited = json_incref(result);
		reply = NULL;
		p->wait = call.wait;
		memcpy(p->wait_subject, call.wait_subject, sizeof(p->wait_subject));
	} else {
		reply = req->id ? rpc_result(req->id, result) : NULL;
	}
	json_decref(result);
	return reply;
}

static void batch_add(struct client *c, json_t *reply, json_t *id, bool wrote, json_t *waited)
{
	struct pending *p = &batch[n_batch++];

	p->client = c;
	p->reply = reply;
	p->id = json_incref(id);
	p->wrote = wrote;
	p->result = waited;
}

void client_take_lines(struct loomd *d, struct client *c)
{
	size_t limit = d->cfg.max_request_bytes;
	size_t off = 0;
	int taken = 0;

	while (!c->dead && n_batch < MAX_BATCH && taken < LINES_PER_BATCH) {
		char *nl = memchr(c->in + off, '\n', c->in_len - off);
		size_t len = nl ? (size_t)(nl - (c->in + off)) : c->in_len - off;
		struct pending *p = &batch[n_batch];
		struct rpc_request req;
		struct loom_err err = { 0 };
		bool wrote = false;
		json_t *reply, *waited;

		if (!nl && len <= limit)
			break;
		memset(p, 0, sizeof(*p));
		p->t0_ns = mono_ns();
		if (len > limit) {
			loom_err_set(&err, LOOM_E_TOO_LARGE, "", "request larger than %zu bytes (max_request_bytes)", limit);
			batch_add(c, rpc_error(NULL, &err), NULL, false, NULL);
			c->closing = true;	/* the rest of the stream cannot be framed */
			c->too_large = true;
			off = c->in_len;
			break;
		}
		off += len + 1;
		if (len == 0 || (len == 1 && c->in[off - 2] == '\r'))
			continue;
		taken++;
		if (rpc_request_parse(c->in + off - len - 1, len, &req, &err)) {
			p->code = err.code;
			batch_add(c, rpc_error(req.id, &err), req.id, false, NULL);
			rpc_request_release(&req);
			continue;
		}
		reply = request_run(d, c, &req, &wrote, &waited, p);
		if (wrote && d->ha) {
			p->line = malloc(len);
			if (p->line) {
				memcpy(p->line, c->in + off - len - 1, len);
				p->line_len = len;
			}
		}
		batch_add(c, reply, req.id, wrote, waited);
		rpc_request_release(&req);
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	c->has_lines = !c->too_large && memchr(c->in, '\n', c->in_len) != NULL;
}

/*
 * Answers a waiting write: its result plus what the targets say; a
 * deferred read: its result alone; either: the error its check set.
 */
static void waiter_answer(struct loomd *d, struct waiter *w, bool converged, const struct loom_err *err)
{
	uint64_t gen = w->wait && w->wait->newest_gen ? d->posted_gen : w->gen;
	json_t *reply;

	if (err->code != LOOM_OK) {
		reply = rpc_error(w->id, err);
	} else {
		if (json_is_object(w->result) && !(w->wait && w->wait->read_limit_s))
			json_object_set_new(w->result, "wait",
					    json_pack("{s:b, s:I, s:o, s:o}", "converged", converged, "generation",
						      (json_int_t)gen, "not_programmed",
						      d->rec ? reconciler_gen_report(d->rec, gen, true) : json_array(),
						      "elsewhere_not_programmed",
						      d->rec ? reconciler_gen_report(d->rec, gen, false)
							     : json_array()));
		reply = rpc_result(w->id, w->result);
	}
	w->client->waiting--;
	client_send(d, w->client, reply);
	json_decref(reply);
	loomd_metrics_request(d, w->method, err->code, w->t0_ns);
}

/*
 * Answers the waiters whose wait is over, or whose time ran out (batch_finish).
 * @moved: the store committed, a generation was posted or the targets
 * reported since the commit hooks last ran.
 */
static void waiters_check(struct loomd *d, bool moved)
{
	int64_t now = mono_ns();

	/* A removal the targets verified is confirmed before its waiter hears,
	 * and a replacement waiting on it moves on.  A wake that moved nothing
	 * (a read, a timer, a drift event before its pass) leaves them be. */
	if (moved)
		loomd_hook_call(d, LOOMD_HOOK_COMMITTED);
	/* The leader tells the followers how far its targets converged. */
	loomd_ha_publish(d);

	for (struct waiter **pw = &d->waiters; *pw;) {
		struct waiter *w = *pw;
		bool expired = now >= w->deadline_ns;
		bool ok = false, converged;
		struct loom_err err = { 0 };

		if (w->wait) {
			if (!w->wait->check(d, w->wait_subject, w->gen, expired, &w->result, &converged, &err)) {
				pw = &w->next;
				continue;
			}
		} else {
			bool done = w->ha_seq ? loomd_ha_converged(d, w->ha_seq, &ok)
					      : !d->rec || reconciler_done(d->rec, w->gen, &ok);

			if (!done && !expired) {
				pw = &w->next;
				continue;
			}
			converged = done && ok;
		}
		waiter_answer(d, w, converged, &err);
		*pw = w->next;
		waiter_free(w);
	}
}

int waiters_timeout_ms(const struct loomd *d)
{
	int64_t now = mono_ns(), first = INT64_MAX;

	for (const struct waiter *w = d->waiters; w; w = w->next)
		if (w->deadline_ns < first)
			first = w->deadline_ns;
	if (first == INT64_MAX)
		return -1;
	return first <= now ? 0 : (int)((first - now) / 1000000 + 1);
}

/* cluster.ha: runs the batch's writes again, on the state the log now says. */
static void batch_rerun(struct loomd *d)
{
	rerunning = true;
	for (size_t i = 0; i < n_batch; i++) {
		struct pending *p = &batch[i];
		struct rpc_request req;
		struct loom_err err = { 0 };
		json_t *waited = NULL;
		bool wrote = false;

		if (!p->line || rpc_request_parse(p->line, p->line_len, &req, &err))
			continue;
		json_decref(p->reply);
		json_decref(p->result);
		p->reply = request_run(d, p->client, &req, &wrote, &waited, p);
		p->wrote = wrote;
		p->result = waited;
		rpc_request_release(&req);
	}
	rerunning = false;
}

/*
 * cluster.ha: the batch's changes into the log, then the COMMIT; on a
 * conflict, caught up, run again (at most HA_RETRIES times).  Returns true
 * when the batch failed (@err says why; nothing was changed).
 */
static bool ha_commit(struct loomd *d, struct loom_err *err)
{
	for (int attempt = 0;; attempt++) {
		switch (loomd_ha_append(d, err)) {
		case HA_APPENDED:
			loomd_ha_committed(d, store_commit(d->store) == 0);
			return false;
		case HA_LANDED:
			return false;
		case HA_FAILED:
			return true;
		case HA_CONFLICT:
			break;
		}
		d->in_txn = false;
		d->txn_writes = 0;
		d->txn_internal = 0;
		if (attempt == HA_RETRIES) {
			loom_err_set(err, LOOM_E_CONFLICT, "", "other controllers wrote first %d times in a row; "
				     "nothing was changed: try again", HA_RETRIES + 1);
			return true;
		}
		batch_rerun(d);
		if (!d->in_txn)
			return false;	/* every write was refused this time: their replies say why */
		if (!d->txn_writes) {
			store_session_end(d->store);
			store_rollback(d->store);
			d->in_txn = false;
			return false;
		}
	}
}

void batch_finish(struct loomd *d, bool reported)
{
	/* The store's commits and the generation posted when the hooks last ran. */
	static uint64_t hooks_commits, hooks_gen;
	bool failed = false, moved;
	struct loom_err err = { 0 };
	uint64_t gen = 0;

	if (d->in_txn) {
		size_t writes = 0;

		for (size_t i = 0; i < n_batch; i++)
			writes += batch[i].wrote;
		int64_t t0 = mono_ns();

		if (!d->txn_writes) {
			store_session_end(d->store);
			store_rollback(d->store);	/* all refused: not a byte written */
		} else if (d->ha) {
			failed = ha_commit(d, &err);
			if (failed)
				log_err("%s", err.msg);
		} else if (store_commit(d->store)) {
			failed = true;
			loom_err_set(&err, LOOM_E_STORE, "", "the commit failed, nothing was changed: %s",
				     store_errmsg(d->store));
			log_err("%s", err.msg);
			store_rollback(d->store);
			loomd_model_reload(d);
		}
		if (d->txn_writes)
			loomd_metrics_commit(d, d->txn_writes, mono_ns() - t0);
		d->in_txn = false;
		d->txn_writes = 0;
		d->txn_internal = 0;
		d->batches++;
		d->batched_writes += writes;
	}
	/* What the other controllers wrote; the lead taken or given up. */
	loomd_ha_poll(d);
	if (d->model_changed)
		gen = loomd_post(d);
	for (size_t i = 0; i < n_batch; i++) {
		struct pending *p = &batch[i];

		if (failed && p->wrote) {
			json_decref(p->reply);
			p->reply = p->id ? rpc_error(p->id, &err) : NULL;
		} else if (p->result) {
			struct waiter *w = calloc(1, sizeof(*w));

			if (w) {
				w->client = p->client;
				w->id = json_incref(p->id);
				w->result = p->result;
				w->gen = gen;
				/* A follower has no reconciler: the leader says when its targets took this entry. */
				if (d->ha && !d->rec && !p->wait && p->wrote)
					w->ha_seq = loomd_ha_seq(d);
				w->deadline_ns = mono_ns() + (int64_t)p->wait_s * 1000000000;
				w->wait = p->wait;
				memcpy(w->wait_subject, p->wait_subject, sizeof(w->wait_subject));
				w->method = p->method;
				w->t0_ns = p->t0_ns;
				w->next = d->waiters;
				d->waiters = w;
				p->client->waiting++;
				p->result = NULL;
			}
		}
		client_send(d, p->client, p->reply);
		if (!p->result)	/* a waiter is counted when it is answered */
			loomd_metrics_request(d, p->method, failed && p->wrote ? LOOM_E_STORE : p->code, p->t0_ns);
		json_decref(p->reply);
		json_decref(p->result);
		json_decref(p->id);
		free(p->line);
		p->line = NULL;
	}
	n_batch = 0;
	/* A removal no target had to change is verified already, a replacement
	 * stored by this batch takes its first steps, and the waiters hear. */
	moved = reported || store_commits(d->store) != hooks_commits || d->posted_gen != hooks_gen;
	/* What the hooks commit or post themselves has them run once more on the next wake. */
	hooks_commits = store_commits(d->store);
	hooks_gen = d->posted_gen;
	waiters_check(d, moved);
}

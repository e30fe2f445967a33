/*
 * cluster/etcd.h: a client for etcd v3 through its JSON gateway (HTTP +
 * JSON, libcurl + jansson), for the controller and the agents.
 *
 * Unary calls (range, put, delete, txn, leases, compaction) block for at
 * most the client's timeout, trying the next endpoint with a backed-off,
 * jittered pause when one does not answer.  Watches are streams driven by a
 * curl multi handle, so one thread can host many (the 1,000-agent
 * benchmark runs them all in one process); the stream is parsed
 * incrementally, object by object, whatever the chunking.
 *
 * Traps handled here, each found in etcd's tracker (see docs/cluster.md):
 * 64-bit numbers are JSON strings and zero fields are left out; a lease is
 * renewed with one POST per keepalive; watches carry
 * `Grpc-Metadata-hasleader: true` so that a member in a minority ends the
 * stream instead of keeping it silent; a watch is cancelled by closing its
 * connection; a response from another cluster (cluster_id) is an error.
 */
#ifndef LOOM_CLUSTER_ETCD_H
#define LOOM_CLUSTER_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

struct etcd_header {
	uint64_t cluster_id;
	uint64_t member_id;
	int64_t revision;
	uint64_t raft_term;
};

struct etcd_kv {
	char *key;
	char *value;		/* NUL-terminated after value_len bytes */
	size_t value_len;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t version;
	int64_t lease;
};

void etcd_kv_clear(struct etcd_kv *kv);
void etcd_kvs_free(struct etcd_kv **pkvs, size_t n);

struct etcd;

/*
 * @endpoints: "http://HOST:PORT[,http://HOST:PORT...]".  @timeout_ms bounds
 * every unary call, retries included.  Nothing is sent until the first call.
 */
int etcd_open(const char *endpoints, int timeout_ms, struct etcd **out, struct loom_err *err);
void etcd_close(struct etcd **pe);
/* The cluster this client has seen (0 before the first answer). */
uint64_t etcd_cluster_id(const struct etcd *e);
/* Requests sent and answered, for benchmarks and metrics. */
uint64_t etcd_requests(const struct etcd *e);
/* Calls that failed because their budget ran out (no member answered in
 * time); *@attempts (may be NULL): single tries cut by their own timeout,
 * which the call may have survived on another member. */
uint64_t etcd_timeouts(const struct etcd *e, uint64_t *attempts);

/* One key; *found is false when it does not exist. */
int etcd_get(struct etcd *e, const char *key, struct etcd_kv *kv, bool *found,
	     struct etcd_header *hdr, struct loom_err *err);
/* Every key under @prefix, sorted by key; at @revision when > 0. */
int etcd_get_prefix(struct etcd *e, const char *prefix, int64_t revision, struct etcd_kv **kvs,
		    size_t *n, struct etcd_header *hdr, struct loom_err *err);
/* The keys under @prefix from @from (included) on, sorted by key; at most @limit (0: all). */
int etcd_get_from(struct etcd *e, const char *prefix, const char *from, int64_t limit, struct etcd_kv **kvs,
		  size_t *n, struct etcd_header *hdr, struct loom_err *err);
int etcd_put(struct etcd *e, const char *key, const void *value, size_t len, int64_t lease,
	     struct etcd_header *hdr, struct loom_err *err);
/* Deletes @key, or every key under it when @prefix. */
int etcd_delete(struct etcd *e, const char *key, bool prefix, int64_t *deleted,
		struct etcd_header *hdr, struct loom_err *err);

enum etcd_cmp_target { ETCD_CMP_CREATE, ETCD_CMP_MOD, ETCD_CMP_VERSION, ETCD_CMP_VALUE };
enum etcd_cmp_result { ETCD_CMP_EQUAL, ETCD_CMP_NOT_EQUAL, ETCD_CMP_LESS, ETCD_CMP_GREATER };

struct etcd_cmp {
	const char *key;
	enum etcd_cmp_target target;
	enum etcd_cmp_result result;
	int64_t number;		/* CREATE, MOD, VERSION */
	const char *value;	/* VALUE */
};

/* ETCD_OP_DELETE_RANGE: every key from @key (included) to @range_end (excluded). */
enum etcd_op_type { ETCD_OP_PUT, ETCD_OP_DELETE, ETCD_OP_DELETE_PREFIX, ETCD_OP_DELETE_RANGE };

struct etcd_op {
	enum etcd_op_type type;
	const char *key;
	const void *value;
	size_t len;
	int64_t lease;
	const char *range_end;	/* ETCD_OP_DELETE_RANGE */
};

/* etcd's own limit (--max-txn-ops, 128 by default). */
#define ETCD_MAX_TXN_OPS 128

/* A transaction; *succeeded says which branch ran. */
int etcd_txn(struct etcd *e, const struct etcd_cmp *cmp, size_t n_cmp, const struct etcd_op *ok,
	     size_t n_ok, const struct etcd_op *fail, size_t n_fail, bool *succeeded,
	     struct etcd_header *hdr, struct loom_err *err);

int etcd_lease_grant(struct etcd *e, int ttl_s, int64_t *id, struct loom_err *err);
/* One renewal; an expired or unknown lease is LOOM_E_NOT_FOUND. */
int etcd_lease_keepalive(struct etcd *e, int64_t id, int *ttl_left, struct loom_err *err);
int etcd_lease_revoke(struct etcd *e, int64_t id, struct loom_err *err);
int etcd_compact(struct etcd *e, int64_t revision, struct loom_err *err);

/* ---- watches ---- */

enum etcd_watch_status {
	ETCD_WATCH_EVENTS,	/* events (maybe none: a progress notification) */
	ETCD_WATCH_COMPACTED,	/* the start revision is gone: read the prefix again */
	ETCD_WATCH_RETRYING,	/* the stream broke (no leader, member gone): reconnecting */
	ETCD_WATCH_FOREIGN,	/* an endpoint answered for another cluster: stopped */
};

enum etcd_event_type { ETCD_EV_PUT, ETCD_EV_DELETE };

struct etcd_event {
	enum etcd_event_type type;
	struct etcd_kv kv;
};

struct etcd_watch_update {
	enum etcd_watch_status status;
	struct etcd_header header;
	const struct etcd_event *events;
	size_t n_events;
	int64_t compact_revision;	/* ETCD_WATCH_COMPACTED */
	const char *message;		/* RETRYING, FOREIGN: why */
};

typedef void (*etcd_watch_fn)(void *arg, const struct etcd_watch_update *u);

struct etcd_watcher;
struct etcd_watch;

/* A set of watch streams driven together (one curl multi handle). */
int etcd_watcher_new(const char *endpoints, struct etcd_watcher **out, struct loom_err *err);
void etcd_watcher_free(struct etcd_watcher **pw);
/*
 * Watches @prefix from @start_revision (0: from now).  Events arrive through
 * @fn from etcd_watcher_run.  After a break it resumes from the last
 * revision seen + 1 on the next endpoint, backing off with jitter.
 */
int etcd_watch_add(struct etcd_watcher *w, const char *prefix, int64_t start_revision, etcd_watch_fn fn,
		   void *arg, struct etcd_watch **out, struct loom_err *err);
/* Closes the stream (etcd's cancel_request can hang; closing cannot). */
void etcd_watch_cancel(struct etcd_watcher *w, struct etcd_watch **pwatch);
/* After ETCD_WATCH_COMPACTED: watch again from @start_revision (the re-read's + 1). */
int etcd_watch_resume(struct etcd_watcher *w, struct etcd_watch *watch, int64_t start_revision);
/* The revision the watch would resume from. */
int64_t etcd_watch_revision(const struct etcd_watch *watch);
/* Runs the streams for at most @timeout_ms; returns after any callback. */
int etcd_watcher_run(struct etcd_watcher *w, int timeout_ms);
/* Streams that broke and were (or will be) resumed, for benchmarks. */
uint64_t etcd_watcher_retries(const struct etcd_watcher *w);

/* ---- the stream parser (exposed for tests and the fuzz target) ---- */

struct etcd_stream {
	char *buf;
	size_t len, cap;
	/* Where the scan for the end of the current object stands. */
	size_t scan;
	unsigned int depth;
	bool in_string, escaped;
};

/*
 * Appends @data, then calls @fn with each complete JSON object in the
 * stream (objects may be split anywhere and need no newline between
 * them).  Returns 0, or -EPROTO when the stream is not JSON objects (the
 * buffer is dropped).
 */
int etcd_stream_feed(struct etcd_stream *s, const char *data, size_t len,
		     void (*fn)(void *arg, void *json_object), void *arg);
void etcd_stream_clear(struct etcd_stream *s);

/* The base64 both ways (etcd's keys and values); malloc'd, NUL-terminated. */
char *etcd_b64_encode(const void *data, size_t len);
char *etcd_b64_decode(const char *text, size_t *len);

#endif

/*
 * store/store.h: loom's durable state in SQLite (WAL, synchronous=FULL,
 * foreign keys on, schema versioned with migrations).
 *
 * The server groups the requests that arrive together into one SQLite
 * transaction (group commit) with a SAVEPOINT per request: a request that
 * fails rolls back to its savepoint and leaves nothing behind; none is
 * acknowledged before the COMMIT that holds it is durable.  Each change
 * writes its audit record in the same savepoint.
 */
#ifndef LOOM_STORE_STORE_H
#define LOOM_STORE_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "lib/err.h"
#include "node/lifecycle.h"
#include "tenancy/model.h"

/* One connection; use a struct store from one thread at a time. */
struct store;

/*
 * Opens (creating the file 0600 and migrating as needed).  Errors: -EIO
 * (cannot open, WAL refused, a migration failed: nothing was changed) or
 * -EPROTO (not a loom file, or a schema newer than this code knows), with
 * LOOM_E_STORE and the reason in @err.
 */
int store_open(const char *path, struct store **out, struct loom_err *err);
void store_close(struct store **s);	/* rolls back an open transaction */
int store_schema_version(struct store *s);
int store_schema_version_latest(void);
/*
 * For tests and offline tools: create or migrate the file at @path up to
 * @version (0..latest; a newer file is left alone) and close it.  loomd
 * uses store_open.
 */
int store_migrate_to(const char *path, int version, struct loom_err *err);

/* Loads tenants, segments, attachments and holds into an initialised model. */
int store_load_model(struct store *s, struct model *m, struct loom_err *err);

/*
 * Transactions.  store_begin takes the write lock (BEGIN IMMEDIATE).
 * Savepoints nest (up to 16) inside an open transaction; outside one they
 * return -EINVAL.  store_savepoint_rollback undoes everything since the
 * matching store_savepoint and drops that savepoint; the transaction goes
 * on.  If store_commit fails, nothing was committed: call store_rollback.
 * store_rollback with no transaction open is a no-op.
 */
int store_begin(struct store *s);
int store_commit(struct store *s);
int store_rollback(struct store *s);
/* How many transactions this store has committed since it was opened. */
uint64_t store_commits(const struct store *s);
int store_savepoint(struct store *s);
int store_savepoint_release(struct store *s);
int store_savepoint_rollback(struct store *s);

/*
 * Object writes, inside a transaction or each on its own.  Errors, with
 * store_errmsg saying why: -EEXIST a key or ID is taken (same VNI or
 * P_Key), -ENOENT a put whose parent is missing or a delete that matched
 * nothing, -EBUSY a delete of a row still referenced (tenant with segments,
 * segment with attachments), -EINVAL a value the schema refuses, -EIO the
 * rest.  A tenant's NULL labels are stored as {} and load as {}.
 */
int store_tenant_put(struct store *s, const struct tenant *t);	/* insert or replace */
int store_tenant_delete(struct store *s, const char *name);
int store_segment_put(struct store *s, const struct segment *seg);
int store_segment_delete(struct store *s, const char *tenant, const char *name);
int store_attachment_put(struct store *s, const struct attachment *a);
int store_attachment_delete(struct store *s, const struct attachment *a);
int store_hold_put(struct store *s, const struct id_hold *h);
int store_hold_delete(struct store *s, enum seg_type type, uint32_t id);

/*
 * Small key/value table for daemon state (e.g. reconciler bookkeeping).
 * Keys beginning with "audit." belong to the store (-EPERM).
 */
int store_kv_put(struct store *s, const char *key, const char *value);
int store_kv_get(struct store *s, const char *key, char **value);
/* Removes @key (no error when it is absent). */
int store_kv_delete(struct store *s, const char *key);	/* *value malloc'd, NULL if absent */
/* Every key beginning with @prefix: {"key": "value", ...} (an empty object when none). */
int store_kv_list(struct store *s, const char *prefix, json_t **out);

/* Audit log: hash-chained records. */
struct audit_entry {
	int64_t seq;		/* assigned by store_audit_append */
	int64_t time_ns;	/* CLOCK_REALTIME */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	/* Who made it: "uid:N", "cn:NAME"...; NULL or "" = not recorded (a v1 record). */
	const char *principal;
	const char *method;
	const char *params;	/* JSON text; stored canonical (sorted keys, compact) */
	const char *result;	/* JSON text of the result or error; stored canonical */
	char hash[65];		/* hex SHA-256, filled by append */
};

/*
 * Append inside the caller's transaction (else -EINVAL): assigns e->seq,
 * fills e->time_ns when 0, and e->hash.  params and result must be JSON
 * text (NULL = null; -EINVAL otherwise); they are stored canonical.
 */
int store_audit_append(struct store *s, struct audit_entry *e);
/*
 * The same, for params and result as JSON values (e->params and e->result
 * are not read): NULL params are stored as {} and a NULL result as null.
 */
int store_audit_append_json(struct store *s, struct audit_entry *e, const json_t *params, const json_t *result);
/* Records with seq > after, at most limit (0 = all), oldest first, as a JSON array. */
int store_audit_list(struct store *s, int64_t after, int64_t limit, json_t **out);
/*
 * Recompute the chain.  Returns 0 when intact (*n_checked set), or
 * -EBADMSG with *first_bad the seq of the first altered record (or where a
 * gap shows a removed one) and @why saying what did not match.
 */
int store_audit_verify(struct store *s, int64_t *n_checked, int64_t *first_bad, char *why, size_t whylen);
/*
 * The newest record's seq and hash (0 and 64 zeros for an empty log), as
 * committed.  Publish it somewhere else now and then: a log rewritten
 * whole, head included, no longer matches it.
 */
int store_audit_head(struct store *s, int64_t *seq, char hash[65]);

/*
 * The node lifecycle (schema 3).  A node of the topology without a row is
 * `available`.  While @pending, a draining node waits for every target to
 * verify it out of its tenant segments and then goes to @goal.
 */
struct node_life {
	char name[LOOM_NAME_MAX];
	enum node_state state;
	enum node_state goal;	/* meaningful when pending */
	bool pending;
	char reason[256];
	int64_t since_ns;	/* CLOCK_REALTIME of the last change */
};

int store_node_put(struct store *s, const struct node_life *n);
/* -ENOENT when the node has no row. */
int store_node_get(struct store *s, const char *name, struct node_life *out);
/* Every row, by name; *out malloc'd (NULL when none). */
int store_node_list(struct store *s, struct node_life **out, size_t *n);

/* One transition of one node, for `loomctl node history`. */
struct node_event_rec {
	int64_t time_ns;
	const char *node;
	enum node_state from, to, goal;
	bool pending;
	const char *event;	/* "cordon", "confirm", "fault" ... */
	const char *reason;
	uid_t uid;
};

int store_node_event_append(struct store *s, const struct node_event_rec *e);
/* The node's events, oldest first: [{seq, time, node, from, to, goal, event, reason, uid}]. */
int store_node_events(struct store *s, const char *node, json_t **out);
/* Every node's events after seq @after, oldest first, at most @limit. */
int store_node_events_after(struct store *s, int64_t after, unsigned int limit, json_t **out);
/* The newest event's seq (0: none yet), or -1 when the store failed. */
int64_t store_node_event_last(struct store *s);
/*
 * Without a query: the highest seq appended through this handle since it
 * was opened (or the newest at open).  It may name an event whose
 * transaction was rolled back, never one older than the newest committed:
 * nothing newer than it exists, so a reader that has it has everything.
 */
int64_t store_node_event_hint(const struct store *s);

/*
 * MIG instances given to tenants (schema 4).  (node, gpu, start) is the
 * key: store_gpu_put answers -EEXIST when that slice range is taken,
 * -ENOENT when the tenant does not exist.  @segments: the tenant's
 * segments, comma-separated, whose rail-port attachments came with the
 * instance.
 */
#define GPU_PROFILE_MAX 24	/* MIG_PROFILE_NAME_MAX */
#define GPU_SEGMENTS_MAX 512

struct gpu_inst_rec {
	char node[LOOM_NAME_MAX];
	unsigned int gpu;		/* GPU index on the node */
	unsigned int start;		/* first memory slice */
	char tenant[LOOM_NAME_MAX];
	char profile[GPU_PROFILE_MAX];	/* "3g.40gb" */
	char segments[GPU_SEGMENTS_MAX];	/* "train,ib" or "" */
	int64_t created_ns;		/* CLOCK_REALTIME */
};

int store_gpu_put(struct store *s, const struct gpu_inst_rec *g);
/* -ENOENT when no instance starts there. */
int store_gpu_delete(struct store *s, const char *node, unsigned int gpu, unsigned int start);
/* Every instance, by (node, gpu, start); *out malloc'd (NULL when none). */
int store_gpu_list(struct store *s, struct gpu_inst_rec **out, size_t *n);

const char *store_errmsg(struct store *s);

/*
 * Changesets (store/session.c, SQLite's session extension): how highly
 * available controllers replicate their writes (docs/ha.md).
 *
 * store_session_start, inside an open transaction, records every row the
 * transaction changes from then on (every table); store_session_take
 * returns those changes as one changeset (malloc'd; the net difference,
 * so what a rolled-back savepoint undid is not in it) and ends the
 * recording.  store_changeset_apply applies a changeset inside the
 * caller's transaction; any conflict (a row not as the changeset expects)
 * aborts it and returns -EPROTO: the file is not the state the changeset
 * was made on.  Without the extension in libsqlite3 each returns
 * -EOPNOTSUPP.
 */
bool store_session_supported(void);
int store_session_start(struct store *s);
int store_session_take(struct store *s, void **changeset, size_t *len);
void store_session_end(struct store *s);
int store_changeset_apply(struct store *s, const void *changeset, size_t len);
/*
 * Copies every row of the loom database at @src_path (opened and migrated
 * to this code's schema first) into @s, parents before children, in
 * chunks of at most @rows rows: before each chunk a session is started,
 * after it @chunk_fn is called (to take the chunk's changeset; a non-zero
 * return stops the copy).  Rows of kv whose key starts with @skip_kv are
 * left out.  One transaction: it commits when every chunk went through,
 * else nothing of it stays.  No transaction may be open.
 */
int store_copy_from(struct store *s, const char *src_path, const char *skip_kv, int rows,
		    int (*chunk_fn)(struct store *s, void *arg, struct loom_err *err), void *arg, struct loom_err *err);

/*
 * The whole database as one image (store/image.c): the SQLite file's
 * pages as sqlite3_serialize gives them, for the snapshots of highly
 * available controllers.  store_image_take: *image malloc'd.  No
 * transaction may be open.
 *
 * store_image_load checks @image first (an SQLite file that passes
 * quick_check, loom's application_id and this code's schema, and kv
 * @key = @value) and then replaces every page of @s with it in one write
 * transaction (SQLite's backup API): on any error nothing of it stays and
 * errmsg says why.  No transaction may be open.
 */
int store_image_take(struct store *s, void **image, size_t *len);
int store_image_load(struct store *s, const void *image, size_t len, const char *key, const char *value);

#endif

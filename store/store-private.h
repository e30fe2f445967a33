/*
 * store/store-private.h: what the store's files share and no caller sees:
 * the connection, its prepared statements (one enum for all; each file
 * brings the SQL of its own), and the helpers that step a statement and
 * turn SQLite's answer into -errno with a message.
 */
#ifndef LOOM_STORE_STORE_PRIVATE_H
#define LOOM_STORE_STORE_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "store/store.h"

#define STORE_SAVEPOINT_MAX 16
/* 'loom' in ASCII: marks the file as ours (PRAGMA application_id). */
#define STORE_APPLICATION_ID 0x6c6f6f6d

/* Every statement prepared once at open, indexing struct store's stmt[]. */
enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_TENANT_PUT,
	ST_TENANT_DEL,
	ST_SEGMENT_PUT,
	ST_SEGMENT_DEL,
	ST_ATTACH_PUT,
	ST_ATTACH_DEL,
	ST_HOLD_PUT,
	ST_HOLD_DEL,
	ST_KV_PUT,
	ST_KV_GET,
	ST_KV_LIST,
	ST_AUDIT_LAST,
	ST_AUDIT_INSERT,
	ST_AUDIT_LIST,
	ST_NODE_PUT,
	ST_NODE_GET,
	ST_NODE_LIST,
	ST_NODE_EVENT_PUT,
	ST_NODE_EVENT_LIST,
	ST_NODE_EVENT_AFTER,
	ST_NODE_EVENT_LAST,
	ST_GPU_PUT,
	ST_GPU_DEL,
	ST_GPU_LIST,
	ST__COUNT
};

/* One statement's SQL.  Each file's list ends with { ST__COUNT, NULL }. */
struct store_sql {
	enum stmt_id id;
	const char *sql;
};

extern const struct store_sql store_sql_tenancy[];	/* tenancy.c */
extern const struct store_sql store_sql_audit[];	/* audit.c */
extern const struct store_sql store_sql_nodes[];	/* nodes.c */
extern const struct store_sql store_sql_gpu[];		/* gpu.c */

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[ST__COUNT];
	/* SAVEPOINT / RELEASE / ROLLBACK TO per depth, prepared on first use. */
	sqlite3_stmt *sp_begin[STORE_SAVEPOINT_MAX];
	sqlite3_stmt *sp_release[STORE_SAVEPOINT_MAX];
	sqlite3_stmt *sp_rollback[STORE_SAVEPOINT_MAX];
	int sp_depth;
	uint64_t commits;	/* transactions committed on this connection (store_commits) */
	EVP_MD_CTX *md;
	EVP_MD *sha256;		/* fetched once: an implicit fetch per record costs more than the hash */
	int64_t ev_hint;	/* highest node event seq appended (maybe rolled back) */
	void *session;		/* sqlite3_session recording this transaction (store/session.c) */
	char errmsg[512];
};

/* What store_errmsg says next (and a debug log line). */
void store_seterr(struct store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A failed step as -errno, with @what and SQLite's message in errmsg. */
int store_fail(struct store *s, int rc, const char *what, bool is_delete);
/* Run a statement that returns no rows; leaves it reset for the next use. */
int store_stmt_run(struct store *s, sqlite3_stmt *st, const char *what, bool is_delete);
/* Run a DELETE; -ENOENT when it matched no row. */
int store_run_delete(struct store *s, sqlite3_stmt *st, const char *what);
/* store_kv_put without the guard on "audit." keys: for the audit log's head. */
int store_kv_write(struct store *s, const char *key, const char *value);

/* Copy a TEXT column into a fixed buffer; -EBADMSG when it does not fit. */
int store_col_copy(sqlite3_stmt *st, int col, char *buf, size_t size);
/* "2026-11-25T14:16:24.123456789Z" */
void store_rfc3339_ns(int64_t time_ns, char *buf, size_t size);
/*
 * Steps @st (bound already) and collects its rows as a JSON array, each
 * made by @row; @what names the list in errors.
 */
int store_json_rows_collect(struct store *s, sqlite3_stmt *st, json_t *(*row)(sqlite3_stmt *),
			    const char *what, json_t **out);
/*
 * Steps @st and decodes every row with @row into a growing array of @size
 * bytes per element; *out (free()) and *n on success.  @what names the
 * list in errors.
 */
int store_rows_collect(struct store *s, sqlite3_stmt *st, size_t size,
		       int (*row)(sqlite3_stmt *, void *), const char *what, void **out, size_t *n);

static inline void stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static inline int bind_text(sqlite3_stmt *st, int i, const char *v)
{
	return sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

/* A TEXT column, "" for NULL. */
static inline const char *col_str(sqlite3_stmt *st, int col)
{
	const char *v = (const char *)sqlite3_column_text(st, col);

	return v ? v : "";
}

/* Canonical JSON: compact, keys sorted, so equal values are equal text. */
static inline char *json_canonical(const json_t *v)
{
	return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

#endif

/*
 * store/session.c: changesets through SQLite's session extension
 * (store/store.h): what one transaction changed, as bytes another copy of
 * the same file can apply; and a whole database copied in chunks.
 */
#include "config.h"

/* The session API is declared only with these (libsqlite3 is built with them). */
#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store-private.h"

#ifdef HAVE_SQLITE_SESSION

bool store_session_supported(void)
{
	return true;
}

int store_session_start(struct store *s)
{
	sqlite3_session *sess = NULL;
	int rc;

	if (sqlite3_get_autocommit(s->db)) {
		store_seterr(s, "session: no transaction is open");
		return -EINVAL;
	}
	store_session_end(s);
	rc = sqlite3session_create(s->db, "main", &sess);
	if (rc == SQLITE_OK)
		rc = sqlite3session_attach(sess, NULL);	/* every table with a primary key */
	if (rc != SQLITE_OK) {
		store_seterr(s, "session: %s", sqlite3_errstr(rc));
		if (sess)
			sqlite3session_delete(sess);
		return -EIO;
	}
	s->session = sess;
	return 0;
}

int store_session_take(struct store *s, void **changeset, size_t *len)
{
	void *cs = NULL;
	int n = 0, rc;

	*changeset = NULL;
	*len = 0;
	if (!s->session) {
		store_seterr(s, "session: none is recording");
		return -EINVAL;
	}
	rc = sqlite3session_changeset(s->session, &n, &cs);
	store_session_end(s);
	if (rc != SQLITE_OK) {
		store_seterr(s, "session: %s", sqlite3_errstr(rc));
		return -EIO;
	}
	/* SQLite's memory: handed over as malloc's. */
	*changeset = malloc(n ? (size_t)n : 1);
	if (*changeset && n)
		memcpy(*changeset, cs, (size_t)n);
	sqlite3_free(cs);
	if (!*changeset) {
		store_seterr(s, "session: out of memory");
		return -ENOMEM;
	}
	*len = (size_t)n;
	return 0;
}

void store_session_end(struct store *s)
{
	if (s->session)
		sqlite3session_delete(s->session);
	s->session = NULL;
}

/* A changeset applies only to the state it was made on: any conflict stops it. */
static int on_conflict(void *arg, int kind, sqlite3_changeset_iter *it)
{
	struct store *s = arg;
	const char *table = "?";
	int ncol = 0, op = 0;

	sqlite3changeset_op(it, &table, &ncol, &op, NULL);
	store_seterr(s, "changeset: %s of a row of %s does not fit this database (%s)",
		     op == SQLITE_INSERT ? "an insert" : op == SQLITE_DELETE ? "a delete" : "an update", table,
		     kind == SQLITE_CHANGESET_DATA ? "the row differs"
		     : kind == SQLITE_CHANGESET_NOTFOUND ? "no such row"
		     : kind == SQLITE_CHANGESET_CONFLICT ? "the row exists already"
		     : kind == SQLITE_CHANGESET_CONSTRAINT ? "a constraint fails"
		     : "a foreign key fails");
	return SQLITE_CHANGESET_ABORT;
}

int store_changeset_apply(struct store *s, const void *changeset, size_t len)
{
	int rc;

	if (sqlite3_get_autocommit(s->db)) {
		store_seterr(s, "changeset: no transaction is open");
		return -EINVAL;
	}
	s->errmsg[0] = '\0';
	rc = sqlite3changeset_apply(s->db, (int)len, (void *)changeset, NULL, on_conflict, s);
	if (rc == SQLITE_ABORT || rc == SQLITE_CONSTRAINT) {
		if (!s->errmsg[0])
			store_seterr(s, "changeset: %s", sqlite3_errmsg(s->db));
		return -EPROTO;
	}
	if (rc != SQLITE_OK) {
		store_seterr(s, "changeset: %s", sqlite3_errmsg(s->db));
		return -EIO;
	}
	return 0;
}

#else

bool store_session_supported(void)
{
	return false;
}

int store_session_start(struct store *s)
{
	store_seterr(s, "session: this libsqlite3 lacks the session extension");
	return -EOPNOTSUPP;
}

int store_session_take(struct store *s, void **changeset, size_t *len)
{
	*changeset = NULL;
	*len = 0;
	store_seterr(s, "session: this libsqlite3 lacks the session extension");
	return -EOPNOTSUPP;
}

void store_session_end(struct store *s)
{
	(void)s;
}

int store_changeset_apply(struct store *s, const void *changeset, size_t len)
{
	store_seterr(s, "changeset: this libsqlite3 lacks the session extension");
	return -EOPNOTSUPP;
}

#endif

int store_kv_delete(struct store *s, const char *key)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (strncmp(key, "audit.", 6) == 0) {
		store_seterr(s, "kv delete: keys beginning with 'audit.' are reserved for the audit log");
		return -EPERM;
	}
	if (sqlite3_prepare_v2(s->db, "DELETE FROM kv WHERE key = ?1", -1, &st, NULL) != SQLITE_OK) {
		store_seterr(s, "kv delete: %s", sqlite3_errmsg(s->db));
		return -EIO;
	}
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		store_seterr(s, "kv delete: %s", sqlite3_errmsg(s->db));
		return -EIO;
	}
	return 0;
}

/* Parents before children (foreign keys). */
static const char *const copy_tables[] = {
	"tenants", "segments", "attachments", "holds", "kv", "audit", "nodes", "node_events", "gpu_instances",
};

static int exec_err(struct store *s, const char *sql, struct loom_err *err)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	store_seterr(s, "%s", sqlite3_errmsg(s->db));
	return loom_err_set(err, LOOM_E_STORE, "", "copying the database: %s", sqlite3_errmsg(s->db));
}

int store_copy_from(struct store *s, const char *src_path, const char *skip_kv, int rows,
		    int (*chunk_fn)(struct store *s, void *arg, struct loom_err *err), void *arg, struct loom_err *err)
{
	struct store *src = NULL;
	char *sql = NULL;
	int ret;

	/* Migrated to this code's schema, so that both have the same columns. */
	ret = store_open(src_path, &src, err);
	store_close(&src);
	if (ret)
		return ret;
	sql = sqlite3_mprintf("ATTACH %Q AS src", src_path);
	ret = sql ? exec_err(s, sql, err) : -ENOMEM;
	sqlite3_free(sql);
	if (ret)
		return ret;
	ret = exec_err(s, "BEGIN IMMEDIATE", err);
	for (size_t t = 0; !ret && t < sizeof(copy_tables) / sizeof(copy_tables[0]); t++) {
		sqlite3_stmt *st = NULL;
		bool kv = strcmp(copy_tables[t], "kv") == 0;
		int changed;

		sql = sqlite3_mprintf("INSERT INTO main.%s SELECT * FROM src.%s%s LIMIT ?1 OFFSET ?2", copy_tables[t],
				      copy_tables[t], kv ? " WHERE substr(key, 1, length(?3)) <> ?3" : "");
		if (!sql)
			ret = -ENOMEM;
		else if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
			ret = loom_err_set(err, LOOM_E_STORE, "", "copying %s: %s", copy_tables[t],
					   sqlite3_errmsg(s->db));
		sqlite3_free(sql);
		for (int64_t off = 0; !ret; off += rows) {
			ret = store_session_start(s);
			if (ret) {
				loom_err_set(err, LOOM_E_STORE, "", "%s", store_errmsg(s));
				break;
			}
			sqlite3_reset(st);
			sqlite3_bind_int(st, 1, rows);
			sqlite3_bind_int64(st, 2, off);
			if (kv)
				sqlite3_bind_text(st, 3, skip_kv ? skip_kv : "\x01", -1, SQLITE_STATIC);
			if (sqlite3_step(st) != SQLITE_DONE) {
				ret = loom_err_set(err, LOOM_E_STORE, "", "copying %s: %s", copy_tables[t],
						   sqlite3_errmsg(s->db));
				break;
			}
			changed = sqlite3_changes(s->db);
			if (changed == 0) {
				store_session_end(s);
				break;
			}
			ret = chunk_fn(s, arg, err);
			if (changed < rows)
				break;
		}
		sqlite3_finalize(st);
	}
	store_session_end(s);
	if (ret)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	else
		ret = exec_err(s, "COMMIT", err);
	sqlite3_exec(s->db, "DETACH src", NULL, NULL, NULL);
	return ret;
}

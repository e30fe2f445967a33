/*
 * store/store.c: loom's durable state in one SQLite file, and the
 * hash-chained audit log kept in the same file (and so in the same
 * transaction as the change it records).
 *
 * Durability: WAL with synchronous=FULL, so a COMMIT that returned is on
 * disk.  The server batches requests into one transaction (group commit)
 * with a SAVEPOINT per request; that is what makes 2,000 durable
 * mutations per second possible with one fsync per batch.  Every statement
 * on that path is prepared once at open and reused.
 *
 * Schema changes are an ordered list of migrations, applied in one
 * transaction at open; PRAGMA user_version says how many have run.
 * docs/store.md describes the schema and the audit record encoding.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "lib/log.h"
#include "store/store.h"

/* 'loom' in ASCII: marks the file as ours (PRAGMA application_id). */
#define STORE_APPLICATION_ID 0x6c6f6f6d
#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_SAVEPOINT_MAX 16
#define AUDIT_HEAD_KEY "audit.head"
#define AUDIT_TAG "loom-audit-v1"
#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

/*
 * The migrations, in order; migration i (1-based) brings user_version from
 * i-1 to i.  Never edit one that has shipped: add a new one.
 */
static const char *const migrations[] = {
	/* 1: the tenant model and the daemon's key/value table. */
	"CREATE TABLE tenants ("
	"  name TEXT PRIMARY KEY NOT NULL,"
	"  isolation TEXT NOT NULL CHECK (isolation IN ('soft','strict','private')),"
	"  sites TEXT NOT NULL DEFAULT '[]',"	/* canonical JSON array */
	"  labels TEXT NOT NULL DEFAULT '{}'"	/* canonical JSON object */
	") WITHOUT ROWID;"
	"CREATE TABLE segments ("
	"  tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE RESTRICT,"
	"  name TEXT NOT NULL,"
	"  type TEXT NOT NULL CHECK (type IN ('ethernet','infiniband')),"
	"  vni INTEGER NOT NULL DEFAULT 0,"
	"  mtu INTEGER NOT NULL DEFAULT 0,"
	"  subnet4 TEXT NOT NULL DEFAULT '',"
	"  subnet6 TEXT NOT NULL DEFAULT '',"
	"  rd TEXT NOT NULL DEFAULT '',"
	"  rt TEXT NOT NULL DEFAULT '',"
	"  pkey INTEGER NOT NULL DEFAULT 0,"
	"  ipoib INTEGER NOT NULL DEFAULT 0,"
	"  ib_mtu INTEGER NOT NULL DEFAULT 0,"
	"  rate_gbps INTEGER NOT NULL DEFAULT 0,"
	"  sl INTEGER NOT NULL DEFAULT 0,"
	"  default_membership TEXT NOT NULL DEFAULT 'default'"
	"    CHECK (default_membership IN ('default','full','limited')),"
	"  PRIMARY KEY (tenant, name)"
	") WITHOUT ROWID;"
	/* No two segments share a VNI, nor a P_Key, whoever owns them. */
	"CREATE UNIQUE INDEX segments_vni ON segments(vni) WHERE type = 'ethernet';"
	"CREATE UNIQUE INDEX segments_pkey ON segments(pkey) WHERE type = 'infiniband';"
	"CREATE TABLE attachments ("
	"  tenant TEXT NOT NULL,"
	"  segment TEXT NOT NULL,"
	"  node TEXT NOT NULL,"
	"  port TEXT NOT NULL DEFAULT '',"
	"  membership TEXT NOT NULL DEFAULT 'default'"
	"    CHECK (membership IN ('default','full','limited')),"
	"  PRIMARY KEY (tenant, segment, node, port),"
	"  FOREIGN KEY (tenant, segment) REFERENCES segments(tenant, name) ON DELETE RESTRICT"
	") WITHOUT ROWID;"
	"CREATE INDEX attachments_node ON attachments(node);"
	"CREATE TABLE holds ("
	"  type TEXT NOT NULL CHECK (type IN ('ethernet','infiniband')),"
	"  id INTEGER NOT NULL,"
	"  tenant TEXT NOT NULL,"	/* no FK: the tenant may be gone */
	"  PRIMARY KEY (type, id)"
	") WITHOUT ROWID;"
	"CREATE TABLE kv ("
	"  key TEXT PRIMARY KEY NOT NULL,"
	"  value TEXT NOT NULL"
	") WITHOUT ROWID;",

	/* 2: the audit log, append-only. */
	"CREATE TABLE audit ("
	"  seq INTEGER PRIMARY KEY,"	/* 1, 2, 3, ... no gaps */
	"  time_ns INTEGER NOT NULL,"
	"  uid INTEGER NOT NULL,"
	"  gid INTEGER NOT NULL,"
	"  pid INTEGER NOT NULL,"
	"  method TEXT NOT NULL,"
	"  params TEXT NOT NULL,"
	"  result TEXT NOT NULL,"
	"  prev_hash TEXT NOT NULL,"
	"  hash TEXT NOT NULL"
	");"
	/* Keeps loom's own code honest; the hash chain is what catches the rest. */
	"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	"  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
	"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	"  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",

	/*
	 * 3: the node lifecycle.  A node without a row is `available` (what
	 * every node was before lifecycles existed); a node that already has
	 * attachments is `assigned` from here on.  `pending` = 1 while a
	 * draining node waits for every target to verify it out.
	 */
	"CREATE TABLE nodes ("
	"  name TEXT PRIMARY KEY NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('registered','verifying','available','assigned',"
	"    'cordoned','draining','failed','retired','quarantined')),"
	"  goal TEXT NOT NULL DEFAULT '',"
	"  pending INTEGER NOT NULL DEFAULT 0,"
	"  reason TEXT NOT NULL DEFAULT '',"
	"  since_ns INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"INSERT INTO nodes (name, state, reason, since_ns)"
	"  SELECT DISTINCT node, 'assigned', 'had attachments when lifecycles were introduced',"
	"    CAST((julianday('now') - 2440587.5) * 86400000000000 AS INTEGER) FROM attachments;"
	"CREATE TABLE node_events ("
	"  seq INTEGER PRIMARY KEY,"
	"  time_ns INTEGER NOT NULL,"
	"  node TEXT NOT NULL,"
	"  from_state TEXT NOT NULL,"
	"  to_state TEXT NOT NULL,"
	"  goal TEXT NOT NULL DEFAULT '',"
	"  event TEXT NOT NULL,"
	"  reason TEXT NOT NULL DEFAULT '',"
	"  uid INTEGER NOT NULL"
	");"
	"CREATE INDEX node_events_node ON node_events(node, seq);",

	/*
	 * 4: MIG instances given to tenants (docs/mig.md).  One GPU slice
	 * range holds at most one instance: (node, gpu, start) is the key.
	 * `segments` lists, comma-separated, the tenant's segments whose rail
	 * port attachments came with the instance (released with it).
	 */
	"CREATE TABLE gpu_instances ("
	"  node TEXT NOT NULL,"
	"  gpu INTEGER NOT NULL CHECK (gpu >= 0),"
	"  start INTEGER NOT NULL CHECK (start >= 0 AND start < 8),"
	"  tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE RESTRICT,"
	"  profile TEXT NOT NULL CHECK (length(profile) > 0),"
	"  segments TEXT NOT NULL DEFAULT '',"
	"  created_ns INTEGER NOT NULL,"
	"  PRIMARY KEY (node, gpu, start)"
	") WITHOUT ROWID;"
	"CREATE INDEX gpu_instances_tenant ON gpu_instances(tenant);",
};

#define STORE_SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

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

static const char *const stmt_sql[ST__COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_TENANT_PUT] =
		"INSERT INTO tenants (name, isolation, sites, labels) VALUES (?1, ?2, ?3, ?4)"
		" ON CONFLICT (name) DO UPDATE SET isolation = excluded.isolation,"
		" sites = excluded.sites, labels = excluded.labels",
	[ST_TENANT_DEL] = "DELETE FROM tenants WHERE name = ?1",
	[ST_SEGMENT_PUT] =
		"INSERT INTO segments (tenant, name, type, vni, mtu, subnet4, subnet6, rd, rt,"
		" pkey, ipoib, ib_mtu, rate_gbps, sl, default_membership)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
		" ON CONFLICT (tenant, name) DO UPDATE SET type = excluded.type,"
		" vni = excluded.vni, mtu = excluded.mtu, subnet4 = excluded.subnet4,"
		" subnet6 = excluded.subnet6, rd = excluded.rd, rt = excluded.rt,"
		" pkey = excluded.pkey, ipoib = excluded.ipoib, ib_mtu = excluded.ib_mtu,"
		" rate_gbps = excluded.rate_gbps, sl = excluded.sl,"
		" default_membership = excluded.default_membership",
	[ST_SEGMENT_DEL] = "DELETE FROM segments WHERE tenant = ?1 AND name = ?2",
	[ST_ATTACH_PUT] =
		"INSERT INTO attachments (tenant, segment, node, port, membership)"
		" VALUES (?1, ?2, ?3, ?4, ?5)"
		" ON CONFLICT (tenant, segment, node, port) DO UPDATE SET membership = excluded.membership",
	[ST_ATTACH_DEL] =
		"DELETE FROM attachments WHERE tenant = ?1 AND segment = ?2 AND node = ?3 AND port = ?4",
	[ST_HOLD_PUT] =
		"INSERT INTO holds (type, id, tenant) VALUES (?1, ?2, ?3)"
		" ON CONFLICT (type, id) DO UPDATE SET tenant = excluded.tenant",
	[ST_HOLD_DEL] = "DELETE FROM holds WHERE type = ?1 AND id = ?2",
	[ST_KV_PUT] =
		"INSERT INTO kv (key, value) VALUES (?1, ?2)"
		" ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	[ST_KV_GET] = "SELECT value FROM kv WHERE key = ?1",
	/* Every key that begins with ?1 (the >= lets the primary key index find the first). */
	[ST_KV_LIST] = "SELECT key, value FROM kv WHERE key >= ?1 AND substr(key, 1, length(?1)) = ?1 ORDER BY key",
	[ST_AUDIT_LAST] = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
	[ST_AUDIT_INSERT] =
		"INSERT INTO audit (seq, time_ns, uid, gid, pid, method, params, result, prev_hash, hash)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[ST_AUDIT_LIST] =
		"SELECT seq, time_ns, uid, gid, pid, method, params, result, hash, prev_hash"
		" FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
	[ST_NODE_PUT] =
		"INSERT INTO nodes (name, state, goal, pending, reason, since_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
		" ON CONFLICT (name) DO UPDATE SET state = excluded.state, goal = excluded.goal,"
		" pending = excluded.pending, reason = excluded.reason, since_ns = excluded.since_ns",
	[ST_NODE_GET] = "SELECT name, state, goal, pending, reason, since_ns FROM nodes WHERE name = ?1",
	[ST_NODE_LIST] = "SELECT name, state, goal, pending, reason, since_ns FROM nodes ORDER BY name",
	[ST_NODE_EVENT_PUT] =
		"INSERT INTO node_events (time_ns, node, from_state, to_state, goal, event, reason, uid)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[ST_NODE_EVENT_LIST] =
		"SELECT seq, time_ns, node, from_state, to_state, goal, event, reason, uid"
		" FROM node_events WHERE node = ?1 ORDER BY seq",
	[ST_NODE_EVENT_AFTER] =
		"SELECT seq, time_ns, node, from_state, to_state, goal, event, reason, uid"
		" FROM node_events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
	[ST_NODE_EVENT_LAST] = "SELECT coalesce(max(seq), 0) FROM node_events",
	[ST_GPU_PUT] =
		"INSERT INTO gpu_instances (node, gpu, start, tenant, profile, segments, created_ns)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[ST_GPU_DEL] = "DELETE FROM gpu_instances WHERE node = ?1 AND gpu = ?2 AND start = ?3",
	[ST_GPU_LIST] =
		"SELECT node, gpu, start, tenant, profile, segments, created_ns FROM gpu_instances"
		" ORDER BY node, gpu, start",
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[ST__COUNT];
	/* SAVEPOINT / RELEASE / ROLLBACK TO per depth, prepared on first use. */
	sqlite3_stmt *sp_begin[STORE_SAVEPOINT_MAX];
	sqlite3_stmt *sp_release[STORE_SAVEPOINT_MAX];
	sqlite3_stmt *sp_rollback[STORE_SAVEPOINT_MAX];
	int sp_depth;
	EVP_MD_CTX *md;
	int64_t ev_hint;	/* highest node event seq appended (maybe rolled back) */
	char errmsg[512];
};

static void store_seterr(struct store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void store_seterr(struct store *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
	va_end(ap);
	log_debug(LOG_SUB_STORE, "store: %s", s->errmsg);
}

const char *store_errmsg(struct store *s)
{
	return s->errmsg;
}

/*
 * Map a failed step to -errno.  A constraint names the conflict: a
 * duplicate key or ID is -EEXIST, a missing parent (put) -ENOENT, a row
 * still referenced (delete) -EBUSY, a CHECK -EINVAL, a refusing trigger
 * -EPERM.  The rest is -EIO.
 */
static int store_fail(struct store *s, int rc, const char *what, bool is_delete)
{
	int ext = sqlite3_extended_errcode(s->db);

	store_seterr(s, "%s: %s", what, sqlite3_errmsg(s->db));
	if ((rc & 0xff) != SQLITE_CONSTRAINT)
		return -EIO;
	/* ON DELETE RESTRICT is enforced by an internal trigger: it reports
	 * SQLITE_CONSTRAINT_TRIGGER, with the foreign key's message. */
	if (strstr(sqlite3_errmsg(s->db), "FOREIGN KEY"))
		ext = SQLITE_CONSTRAINT_FOREIGNKEY;
	switch (ext) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return -EEXIST;
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		return is_delete ? -EBUSY : -ENOENT;
	case SQLITE_CONSTRAINT_CHECK:
	case SQLITE_CONSTRAINT_NOTNULL:
		return -EINVAL;
	case SQLITE_CONSTRAINT_TRIGGER:	/* the audit log's append-only triggers */
		return -EPERM;
	default:
		return -EEXIST;
	}
}

/* Run a statement that returns no rows; leaves it reset for the next use. */
static int stmt_run(struct store *s, sqlite3_stmt *st, const char *what, bool is_delete)
{
	int rc = sqlite3_step(st);
	int ret = 0;

	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		ret = store_fail(s, rc, what, is_delete);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return ret;
}

static void stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static int exec_sql(sqlite3 *db, const char *sql, struct loom_err *err, const char *what)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		loom_err_set(err, LOOM_E_STORE, "", "%s: %s", what, msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

static int pragma_int(sqlite3 *db, const char *sql, int *out)
{
	sqlite3_stmt *st = NULL;
	int ret = -EIO;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	if (sqlite3_step(st) != SQLITE_ROW)
		goto out;
	*out = sqlite3_column_int(st, 0);
	ret = 0;
out:
	sqlite3_finalize(st);
	return ret;
}

/* SQLite creates files with 0644; the state and the audit log are for root. */
static int create_private(const char *path, struct loom_err *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	int e = errno;

	if (fd < 0) {
		loom_err_set(err, LOOM_E_STORE, "", "cannot open %s: %s", path, strerror(e));
		return -e;
	}
	close(fd);
	return 0;
}

static int db_open(const char *path, sqlite3 **out, struct loom_err *err)
{
	sqlite3 *db = NULL;
	char journal[16] = "";
	sqlite3_stmt *st = NULL;
	int ret;

	ret = create_private(path, err);
	if (ret < 0)
		return ret;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		loom_err_set(err, LOOM_E_STORE, "", "cannot open %s: %s", path,
			     db ? sqlite3_errmsg(db) : "out of memory");
		ret = -EIO;
		goto fail;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
	/* WAL must be asked for outside a transaction and can be refused. */
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		loom_err_set(err, LOOM_E_STORE, "", "%s: cannot set WAL mode: %s", path, sqlite3_errmsg(db));
		ret = -EIO;
		goto fail;
	}
	snprintf(journal, sizeof(journal), "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	st = NULL;
	if (strcmp(journal, "wal") != 0) {
		loom_err_set(err, LOOM_E_STORE, "", "%s: SQLite kept journal mode '%s' instead of WAL "
			     "(is the folder on a file system without shared memory?)", path, journal);
		ret = -EIO;
		goto fail;
	}
	ret = exec_sql(db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;", err, path);
	if (ret < 0)
		goto fail;
	*out = db;
	return 0;
fail:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return ret;
}

/*
 * Bring the schema to @target in one transaction: either every missing
 * migration is applied, or none is.  BEGIN IMMEDIATE takes the write lock
 * before user_version is read, so two processes cannot both migrate.
 */
static int db_migrate(sqlite3 *db, const char *path, int target, struct loom_err *err)
{
	int version = 0, app_id = 0;
	char sql[64];
	int ret;

	ret = exec_sql(db, "BEGIN IMMEDIATE", err, path);
	if (ret < 0)
		return ret;
	if (pragma_int(db, "PRAGMA user_version", &version) < 0 ||
	    pragma_int(db, "PRAGMA application_id", &app_id) < 0) {
		loom_err_set(err, LOOM_E_STORE, "", "%s: cannot read the schema version: %s", path,
			     sqlite3_errmsg(db));
		ret = -EIO;
		goto fail;
	}
	if (app_id != STORE_APPLICATION_ID && (app_id != 0 || version != 0)) {
		loom_err_set(err, LOOM_E_STORE, "", "%s is not a loom database (application_id %#x, "
			     "user_version %d); point state_dir at loom's own file", path,
			     (unsigned int)app_id, version);
		ret = -EPROTO;
		goto fail;
	}
	if (version > STORE_SCHEMA_VERSION) {
		loom_err_set(err, LOOM_E_STORE, "", "%s has schema version %d, newer than the %d this "
			     "loomd knows; run a loomd at least as new as the one that wrote it", path,
			     version, STORE_SCHEMA_VERSION);
		ret = -EPROTO;
		goto fail;
	}
	for (int v = version; v < target; v++) {
		char what[64];

		snprintf(what, sizeof(what), "%s: migration %d", path, v + 1);
		ret = exec_sql(db, migrations[v], err, what);
		if (ret < 0)
			goto fail;
	}
	if (target > version) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d; PRAGMA application_id = %d;",
			 target, STORE_APPLICATION_ID);
		ret = exec_sql(db, sql, err, path);
		if (ret < 0)
			goto fail;
		log_info("store: %s migrated from schema %d to %d", path, version, target);
	}
	ret = exec_sql(db, "COMMIT", err, path);
	if (ret < 0)
		goto fail;
	return 0;
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return ret;
}

int store_migrate_to(const char *path, int version, struct loom_err *err)
{
	sqlite3 *db = NULL;
	int ret;

	if (version < 0 || version > STORE_SCHEMA_VERSION)
		return loom_err_set(err, LOOM_E_STORE, "", "no schema version %d (known: 0..%d)",
				    version, STORE_SCHEMA_VERSION);
	ret = db_open(path, &db, err);
	if (ret < 0)
		return ret;
	ret = db_migrate(db, path, version, err);
	sqlite3_close(db);
	return ret;
}

int store_open(const char *path, struct store **out, struct loom_err *err)
{
	struct store *s;
	int ret;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = db_open(path, &s->db, err);
	if (ret < 0)
		goto fail;
	ret = db_migrate(s->db, path, STORE_SCHEMA_VERSION, err);
	if (ret < 0)
		goto fail;
	for (int i = 0; i < ST__COUNT; i++) {
		if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
				       &s->stmt[i], NULL) != SQLITE_OK) {
			loom_err_set(err, LOOM_E_INTERNAL, "", "%s: cannot prepare statement %d: %s",
				     path, i, sqlite3_errmsg(s->db));
			ret = -EIO;
			goto fail;
		}
	}
	s->md = EVP_MD_CTX_new();
	if (!s->md) {
		ret = -ENOMEM;
		goto fail;
	}
	s->ev_hint = store_node_event_last(s);
	if (s->ev_hint < 0) {
		loom_err_set(err, LOOM_E_INTERNAL, "", "%s: cannot read the node events: %s", path, s->errmsg);
		ret = -EIO;
		goto fail;
	}
	*out = s;
	return 0;
fail:
	store_close(&s);
	return ret;
}

void store_close(struct store **sp)
{
	struct store *s = *sp;

	if (!s)
		return;
	for (int i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	for (int i = 0; i < STORE_SAVEPOINT_MAX; i++) {
		sqlite3_finalize(s->sp_begin[i]);
		sqlite3_finalize(s->sp_release[i]);
		sqlite3_finalize(s->sp_rollback[i]);
	}
	/* An open transaction is rolled back by close: it was never acknowledged. */
	if (s->db)
		sqlite3_close(s->db);
	EVP_MD_CTX_free(s->md);
	free(s);
	*sp = NULL;
}

int store_schema_version(struct store *s)
{
	int v = -1;

	if (pragma_int(s->db, "PRAGMA user_version", &v) < 0)
		return -EIO;
	return v;
}

int store_schema_version_latest(void)
{
	return STORE_SCHEMA_VERSION;
}

/* ---- transactions ---- */

int store_begin(struct store *s)
{
	if (!sqlite3_get_autocommit(s->db)) {
		store_seterr(s, "begin: a transaction is already open");
		return -EINVAL;
	}
	s->sp_depth = 0;
	return stmt_run(s, s->stmt[ST_BEGIN], "begin", false);
}

int store_commit(struct store *s)
{
	if (sqlite3_get_autocommit(s->db)) {
		/* SQLite rolls the whole transaction back itself after some
		 * errors (disk full, I/O): committing must not look like success. */
		store_seterr(s, "commit: no transaction is open (it was rolled back: %s)",
			     sqlite3_errmsg(s->db));
		return -EIO;
	}
	if (s->sp_depth) {
		store_seterr(s, "commit: %d savepoint(s) still open", s->sp_depth);
		return -EINVAL;
	}
	return stmt_run(s, s->stmt[ST_COMMIT], "commit", false);
}

int store_rollback(struct store *s)
{
	s->sp_depth = 0;
	if (sqlite3_get_autocommit(s->db))
		return 0;
	return stmt_run(s, s->stmt[ST_ROLLBACK], "rollback", false);
}

/* @verb is "SAVEPOINT", "RELEASE" or "ROLLBACK TO". */
static int sp_stmt(struct store *s, sqlite3_stmt **slot, const char *verb, int depth)
{
	char sql[64];

	if (*slot)
		return 0;
	snprintf(sql, sizeof(sql), "%s sp%d", verb, depth);
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL) != SQLITE_OK) {
		store_seterr(s, "%s: %s", sql, sqlite3_errmsg(s->db));
		return -EIO;
	}
	return 0;
}

int store_savepoint(struct store *s)
{
	int ret;

	if (sqlite3_get_autocommit(s->db)) {
		store_seterr(s, "savepoint: no transaction is open (call store_begin first)");
		return -EINVAL;
	}
	if (s->sp_depth >= STORE_SAVEPOINT_MAX) {
		store_seterr(s, "savepoint: more than %d nested savepoints", STORE_SAVEPOINT_MAX);
		return -E2BIG;
	}
	ret = sp_stmt(s, &s->sp_begin[s->sp_depth], "SAVEPOINT", s->sp_depth);
	if (!ret)
		ret = stmt_run(s, s->sp_begin[s->sp_depth], "savepoint", false);
	if (!ret)
		s->sp_depth++;
	return ret;
}

int store_savepoint_release(struct store *s)
{
	int d = s->sp_depth - 1;
	int ret;

	if (d < 0) {
		store_seterr(s, "release: no savepoint is open");
		return -EINVAL;
	}
	ret = sp_stmt(s, &s->sp_release[d], "RELEASE", d);
	if (!ret)
		ret = stmt_run(s, s->sp_release[d], "release", false);
	if (!ret)
		s->sp_depth = d;
	return ret;
}

/* Undo everything since the savepoint, and drop the savepoint itself. */
int store_savepoint_rollback(struct store *s)
{
	int d = s->sp_depth - 1;
	int ret;

	if (d < 0) {
		store_seterr(s, "rollback to savepoint: no savepoint is open");
		return -EINVAL;
	}
	ret = sp_stmt(s, &s->sp_rollback[d], "ROLLBACK TO", d);
	if (!ret)
		ret = sp_stmt(s, &s->sp_release[d], "RELEASE", d);
	if (!ret)
		ret = stmt_run(s, s->sp_rollback[d], "rollback to savepoint", false);
	if (!ret)
		ret = stmt_run(s, s->sp_release[d], "release", false);
	if (!ret)
		s->sp_depth = d;
	return ret;
}

/* ---- the model's objects ---- */

static int bind_text(sqlite3_stmt *st, int i, const char *v)
{
	return sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

/* Canonical JSON: compact, keys sorted, so equal values are equal text. */
static char *json_canonical(const json_t *v)
{
	return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

int store_tenant_put(struct store *s, const struct tenant *t)
{
	sqlite3_stmt *st = s->stmt[ST_TENANT_PUT];
	json_t *sites = json_array();
	char *sites_txt = NULL, *labels_txt = NULL;
	int ret = -ENOMEM;

	if (!sites)
		goto out;
	for (size_t i = 0; i < t->n_sites && i < LOOM_MAX_SITES; i++)
		if (json_array_append_new(sites, json_string(t->sites[i])) < 0)
			goto out;
	sites_txt = json_canonical(sites);
	labels_txt = t->labels ? json_canonical(t->labels) : strdup("{}");
	if (!sites_txt || !labels_txt)
		goto out;
	bind_text(st, 1, t->name);
	bind_text(st, 2, isolation_name(t->isolation));
	bind_text(st, 3, sites_txt);
	bind_text(st, 4, labels_txt);
	ret = stmt_run(s, st, "tenant put", false);
out:
	if (ret == -ENOMEM)
		store_seterr(s, "tenant put: out of memory");
	json_decref(sites);
	free(sites_txt);
	free(labels_txt);
	return ret;
}

/* Run a DELETE; -ENOENT when it matched no row. */
static int run_delete(struct store *s, sqlite3_stmt *st, const char *what)
{
	int ret = stmt_run(s, st, what, true);

	if (!ret && sqlite3_changes(s->db) == 0) {
		store_seterr(s, "%s: no such row", what);
		ret = -ENOENT;
	}
	return ret;
}

int store_tenant_delete(struct store *s, const char *name)
{
	sqlite3_stmt *st = s->stmt[ST_TENANT_DEL];

	bind_text(st, 1, name);
	return run_delete(s, st, "tenant delete");
}

int store_segment_put(struct store *s, const struct segment *seg)
{
	sqlite3_stmt *st = s->stmt[ST_SEGMENT_PUT];

	bind_text(st, 1, seg->tenant);
	bind_text(st, 2, seg->name);
	bind_text(st, 3, seg_type_name(seg->type));
	sqlite3_bind_int64(st, 4, seg->vni);
	sqlite3_bind_int64(st, 5, seg->mtu);
	bind_text(st, 6, seg->subnet4);
	bind_text(st, 7, seg->subnet6);
	bind_text(st, 8, seg->rd);
	bind_text(st, 9, seg->rt);
	sqlite3_bind_int64(st, 10, seg->pkey);
	sqlite3_bind_int(st, 11, seg->ipoib);
	sqlite3_bind_int64(st, 12, seg->ib_mtu);
	sqlite3_bind_int64(st, 13, seg->rate_gbps);
	sqlite3_bind_int64(st, 14, seg->sl);
	bind_text(st, 15, membership_name(seg->default_membership));
	return stmt_run(s, st, "segment put", false);
}

int store_segment_delete(struct store *s, const char *tenant, const char *name)
{
	sqlite3_stmt *st = s->stmt[ST_SEGMENT_DEL];

	bind_text(st, 1, tenant);
	bind_text(st, 2, name);
	return run_delete(s, st, "segment delete");
}

int store_attachment_put(struct store *s, const struct attachment *a)
{
	sqlite3_stmt *st = s->stmt[ST_ATTACH_PUT];

	bind_text(st, 1, a->tenant);
	bind_text(st, 2, a->segment);
	bind_text(st, 3, a->node);
	bind_text(st, 4, a->port);
	bind_text(st, 5, membership_name(a->membership));
	return stmt_run(s, st, "attachment put", false);
}

int store_attachment_delete(struct store *s, const struct attachment *a)
{
	sqlite3_stmt *st = s->stmt[ST_ATTACH_DEL];

	bind_text(st, 1, a->tenant);
	bind_text(st, 2, a->segment);
	bind_text(st, 3, a->node);
	bind_text(st, 4, a->port);
	return run_delete(s, st, "attachment delete");
}

int store_hold_put(struct store *s, const struct id_hold *h)
{
	sqlite3_stmt *st = s->stmt[ST_HOLD_PUT];

	bind_text(st, 1, seg_type_name(h->type));
	sqlite3_bind_int64(st, 2, h->id);
	bind_text(st, 3, h->tenant);
	return stmt_run(s, st, "hold put", false);
}

int store_hold_delete(struct store *s, enum seg_type type, uint32_t id)
{
	sqlite3_stmt *st = s->stmt[ST_HOLD_DEL];

	bind_text(st, 1, seg_type_name(type));
	sqlite3_bind_int64(st, 2, id);
	return run_delete(s, st, "hold delete");
}

static int kv_put(struct store *s, const char *key, const char *value)
{
	sqlite3_stmt *st = s->stmt[ST_KV_PUT];

	bind_text(st, 1, key);
	bind_text(st, 2, value);
	return stmt_run(s, st, "kv put", false);
}

/* "audit." keys are the store's own: the head must only move with the log. */
int store_kv_put(struct store *s, const char *key, const char *value)
{
	if (strncmp(key, "audit.", 6) == 0) {
		store_seterr(s, "kv put: keys beginning with 'audit.' are reserved for the audit log");
		return -EPERM;
	}
	return kv_put(s, key, value);
}

int store_kv_get(struct store *s, const char *key, char **value)
{
	sqlite3_stmt *st = s->stmt[ST_KV_GET];
	int rc, ret = 0;

	*value = NULL;
	bind_text(st, 1, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*value = strdup((const char *)sqlite3_column_text(st, 0));
		if (!*value) {
			store_seterr(s, "kv get: out of memory");
			ret = -ENOMEM;
		}
	} else if (rc != SQLITE_DONE) {
		ret = store_fail(s, rc, "kv get", false);
	}
	stmt_done(st);
	return ret;
}

int store_kv_list(struct store *s, const char *prefix, json_t **out)
{
	sqlite3_stmt *st = s->stmt[ST_KV_LIST];
	int rc, ret = 0;

	*out = json_object();
	if (!*out)
		return -ENOMEM;
	bind_text(st, 1, prefix);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (json_object_set_new(*out, (const char *)sqlite3_column_text(st, 0),
					json_string((const char *)sqlite3_column_text(st, 1)))) {
			store_seterr(s, "kv list: out of memory");
			ret = -ENOMEM;
			break;
		}
	}
	if (!ret && rc != SQLITE_DONE)
		ret = store_fail(s, rc, "kv list", false);
	stmt_done(st);
	if (ret) {
		json_decref(*out);
		*out = NULL;
	}
	return ret;
}

/* ---- loading ---- */

/* Copy a TEXT column into a fixed buffer; a value that does not fit is corrupt. */
static int col_copy(sqlite3_stmt *st, int col, char *buf, size_t size)
{
	const char *v = (const char *)sqlite3_column_text(st, col);

	if (!v || strlen(v) >= size)
		return -EBADMSG;
	memcpy(buf, v, strlen(v) + 1);
	return 0;
}

static int row_tenant(sqlite3_stmt *st, struct tenant *t)
{
	const char *iso = (const char *)sqlite3_column_text(st, 1);
	json_t *sites = NULL;
	size_t i;
	json_t *v;
	int ret = -EBADMSG;

	memset(t, 0, sizeof(*t));
	if (col_copy(st, 0, t->name, sizeof(t->name)) < 0 || !iso ||
	    isolation_parse(iso, &t->isolation) < 0)
		goto out;
	sites = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
	if (!json_is_array(sites) || json_array_size(sites) > LOOM_MAX_SITES)
		goto out;
	json_array_foreach(sites, i, v) {
		if (!json_is_string(v) || json_string_length(v) >= sizeof(t->sites[0]))
			goto out;
		memcpy(t->sites[i], json_string_value(v), json_string_length(v) + 1);
	}
	t->n_sites = json_array_size(sites);
	t->labels = json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL);
	if (!json_is_object(t->labels))
		goto out;
	ret = 0;
out:
	if (ret < 0)
		tenant_release(t);
	json_decref(sites);
	return ret;
}

static int row_segment(sqlite3_stmt *st, struct segment *g)
{
	const char *type = (const char *)sqlite3_column_text(st, 2);
	const char *memb = (const char *)sqlite3_column_text(st, 14);

	memset(g, 0, sizeof(*g));
	if (col_copy(st, 0, g->tenant, sizeof(g->tenant)) < 0 ||
	    col_copy(st, 1, g->name, sizeof(g->name)) < 0 ||
	    !type || seg_type_parse(type, &g->type) < 0 ||
	    col_copy(st, 5, g->subnet4, sizeof(g->subnet4)) < 0 ||
	    col_copy(st, 6, g->subnet6, sizeof(g->subnet6)) < 0 ||
	    col_copy(st, 7, g->rd, sizeof(g->rd)) < 0 ||
	    col_copy(st, 8, g->rt, sizeof(g->rt)) < 0 ||
	    !memb || membership_parse(memb, &g->default_membership) < 0)
		return -EBADMSG;
	g->vni = (uint32_t)sqlite3_column_int64(st, 3);
	g->mtu = (unsigned int)sqlite3_column_int64(st, 4);
	g->pkey = (uint16_t)sqlite3_column_int64(st, 9);
	g->ipoib = sqlite3_column_int(st, 10) != 0;
	g->ib_mtu = (unsigned int)sqlite3_column_int64(st, 11);
	g->rate_gbps = (unsigned int)sqlite3_column_int64(st, 12);
	g->sl = (unsigned int)sqlite3_column_int64(st, 13);
	return 0;
}

static int row_attachment(sqlite3_stmt *st, struct attachment *a)
{
	const char *memb = (const char *)sqlite3_column_text(st, 4);

	memset(a, 0, sizeof(*a));
	if (col_copy(st, 0, a->tenant, sizeof(a->tenant)) < 0 ||
	    col_copy(st, 1, a->segment, sizeof(a->segment)) < 0 ||
	    col_copy(st, 2, a->node, sizeof(a->node)) < 0 ||
	    col_copy(st, 3, a->port, sizeof(a->port)) < 0 ||
	    !memb || membership_parse(memb, &a->membership) < 0)
		return -EBADMSG;
	return 0;
}

static int row_hold(sqlite3_stmt *st, struct id_hold *h)
{
	const char *type = (const char *)sqlite3_column_text(st, 0);

	memset(h, 0, sizeof(*h));
	if (!type || seg_type_parse(type, &h->type) < 0 ||
	    col_copy(st, 2, h->tenant, sizeof(h->tenant)) < 0)
		return -EBADMSG;
	h->id = (uint32_t)sqlite3_column_int64(st, 1);
	return 0;
}

enum load_kind { LOAD_TENANT, LOAD_SEGMENT, LOAD_ATTACHMENT, LOAD_HOLD };

static const struct {
	const char *table;
	const char *sql;
} load_queries[] = {
	[LOAD_TENANT] = { "tenants", "SELECT name, isolation, sites, labels FROM tenants ORDER BY name" },
	[LOAD_SEGMENT] = { "segments",
			   "SELECT tenant, name, type, vni, mtu, subnet4, subnet6, rd, rt, pkey, ipoib,"
			   " ib_mtu, rate_gbps, sl, default_membership FROM segments ORDER BY tenant, name" },
	[LOAD_ATTACHMENT] = { "attachments",
			      "SELECT tenant, segment, node, port, membership FROM attachments"
			      " ORDER BY tenant, segment, node, port" },
	[LOAD_HOLD] = { "holds", "SELECT type, id, tenant FROM holds ORDER BY type, id" },
};

static int load_row(struct model *m, enum load_kind kind, sqlite3_stmt *st)
{
	union {
		struct tenant t;
		struct segment g;
		struct attachment a;
		struct id_hold h;
	} u;
	int ret;

	switch (kind) {
	case LOAD_TENANT:
		ret = row_tenant(st, &u.t);
		if (!ret) {
			ret = model_load_tenant(m, &u.t);
			if (ret < 0)
				tenant_release(&u.t);
		}
		return ret;
	case LOAD_SEGMENT:
		ret = row_segment(st, &u.g);
		return ret ? ret : model_load_segment(m, &u.g);
	case LOAD_ATTACHMENT:
		ret = row_attachment(st, &u.a);
		return ret ? ret : model_load_attachment(m, &u.a);
	case LOAD_HOLD:
		ret = row_hold(st, &u.h);
		return ret ? ret : model_load_hold(m, &u.h);
	}
	return -EINVAL;
}

int store_load_model(struct store *s, struct model *m, struct loom_err *err)
{
	sqlite3_stmt *st = NULL;
	bool own_txn = sqlite3_get_autocommit(s->db);
	int64_t row = 0;
	int ret = 0, rc;

	/* One read transaction: the four tables are seen at one instant. */
	if (own_txn && sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		ret = -EIO;
		goto fail_sql;
	}
	for (int k = LOAD_TENANT; k <= LOAD_HOLD; k++) {
		if (sqlite3_prepare_v2(s->db, load_queries[k].sql, -1, &st, NULL) != SQLITE_OK) {
			ret = -EIO;
			goto fail_sql;
		}
		row = 0;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			row++;
			ret = load_row(m, (enum load_kind)k, st);
			if (ret == -EBADMSG) {
				loom_err_set(err, LOOM_E_STORE, "", "table %s, row %" PRId64 ": a value "
					     "is malformed or too long; restore the state file from a backup",
					     load_queries[k].table, row);
				goto fail;
			}
			if (ret < 0) {
				loom_err_set(err, LOOM_E_INTERNAL, "", "loading %s: out of memory",
					     load_queries[k].table);
				goto fail;
			}
		}
		if (rc != SQLITE_DONE) {
			ret = -EIO;
			goto fail_sql;
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	if (own_txn)
		sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	model_load_finish(m);
	return 0;
fail_sql:
	loom_err_set(err, LOOM_E_STORE, "", "loading the model: %s", sqlite3_errmsg(s->db));
	store_seterr(s, "loading the model: %s", sqlite3_errmsg(s->db));
fail:
	sqlite3_finalize(st);
	if (own_txn && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	model_clear(m);
	return ret;
}

/* ---- the audit log ---- */

static void hash_field(EVP_MD_CTX *md, const char *v, size_t len)
{
	unsigned char prefix[8];

	for (int i = 0; i < 8; i++)
		prefix[i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	EVP_DigestUpdate(md, prefix, sizeof(prefix));
	EVP_DigestUpdate(md, v, len);
}

static void hash_int(EVP_MD_CTX *md, int64_t v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%" PRId64, v);

	hash_field(md, buf, (size_t)n);
}

/* The record encoding of docs/store.md, "Audit record hash". */
static int audit_hash(EVP_MD_CTX *md, int64_t seq, int64_t time_ns, int64_t uid, int64_t gid,
		      int64_t pid, const char *method, const char *params, const char *result,
		      const char *prev_hash, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		return -EIO;
	hash_field(md, AUDIT_TAG, strlen(AUDIT_TAG));
	hash_int(md, seq);
	hash_int(md, time_ns);
	hash_int(md, uid);
	hash_int(md, gid);
	hash_int(md, pid);
	hash_field(md, method, strlen(method));
	hash_field(md, params, strlen(params));
	hash_field(md, result, strlen(result));
	hash_field(md, prev_hash, strlen(prev_hash));
	if (EVP_DigestFinal_ex(md, digest, &n) != 1 || n != 32)
		return -EIO;
	for (unsigned int i = 0; i < n; i++) {
		out[2 * i] = hex[digest[i] >> 4];
		out[2 * i + 1] = hex[digest[i] & 0xf];
	}
	out[64] = '\0';
	return 0;
}

/* Parse and re-encode: what is hashed and stored is always canonical JSON. */
static char *canonical_text(const char *txt)
{
	json_t *v;
	char *out;

	if (!txt)
		return strdup("null");
	v = json_loads(txt, JSON_DECODE_ANY, NULL);
	if (!v)
		return NULL;
	out = json_canonical(v);
	json_decref(v);
	return out;
}

int store_audit_append(struct store *s, struct audit_entry *e)
{
	sqlite3_stmt *st = s->stmt[ST_AUDIT_LAST];
	char prev[65] = ZERO_HASH, head[96];
	char *params = NULL, *result = NULL;
	int64_t seq = 1;
	struct timespec ts;
	int rc, ret;

	if (sqlite3_get_autocommit(s->db)) {
		/* The record belongs in the same transaction as its change. */
		store_seterr(s, "audit append: no transaction is open");
		return -EINVAL;
	}
	if (!e->method || !e->method[0]) {
		store_seterr(s, "audit append: the method is empty");
		return -EINVAL;
	}
	params = canonical_text(e->params);
	result = canonical_text(e->result);
	if (!params || !result) {
		store_seterr(s, "audit append: %s is not JSON", !params ? "params" : "result");
		ret = -EINVAL;
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		seq = sqlite3_column_int64(st, 0) + 1;
		snprintf(prev, sizeof(prev), "%s", (const char *)sqlite3_column_text(st, 1));
	} else if (rc != SQLITE_DONE) {
		ret = store_fail(s, rc, "audit append", false);
		stmt_done(st);
		goto out;
	}
	stmt_done(st);
	if (!e->time_ns) {
		clock_gettime(CLOCK_REALTIME, &ts);
		e->time_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	}
	ret = audit_hash(s->md, seq, e->time_ns, (int64_t)e->uid, (int64_t)e->gid, (int64_t)e->pid,
			 e->method, params, result, prev, e->hash);
	if (ret < 0) {
		store_seterr(s, "audit append: SHA-256 failed");
		goto out;
	}
	st = s->stmt[ST_AUDIT_INSERT];
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_int64(st, 2, e->time_ns);
	sqlite3_bind_int64(st, 3, (int64_t)e->uid);
	sqlite3_bind_int64(st, 4, (int64_t)e->gid);
	sqlite3_bind_int64(st, 5, (int64_t)e->pid);
	bind_text(st, 6, e->method);
	bind_text(st, 7, params);
	bind_text(st, 8, result);
	bind_text(st, 9, prev);
	bind_text(st, 10, e->hash);
	ret = stmt_run(s, st, "audit append", false);
	if (ret < 0)
		goto out;
	/* The head outside the table: removing the newest rows shows. */
	snprintf(head, sizeof(head), "%" PRId64 ":%s", seq, e->hash);
	ret = kv_put(s, AUDIT_HEAD_KEY, head);
	if (ret < 0)
		goto out;
	e->seq = seq;
out:
	free(params);
	free(result);
	return ret;
}

int store_audit_head(struct store *s, int64_t *seq, char hash[65])
{
	char *head = NULL, *colon;
	int ret;

	*seq = 0;
	memcpy(hash, ZERO_HASH, 65);
	ret = store_kv_get(s, AUDIT_HEAD_KEY, &head);
	if (ret < 0 || !head)
		return ret;
	colon = strchr(head, ':');
	if (!colon || strlen(colon + 1) != 64) {
		store_seterr(s, "audit head: malformed value '%s'", head);
		free(head);
		return -EBADMSG;
	}
	*seq = strtoll(head, NULL, 10);
	memcpy(hash, colon + 1, 65);
	free(head);
	return 0;
}

/* "2026-11-25T14:16:24.123456789Z" */
static void rfc3339_ns(int64_t time_ns, char *buf, size_t size)
{
	time_t sec = (time_t)(time_ns / 1000000000);
	long ns = (long)(time_ns % 1000000000);
	struct tm tm;
	char date[32];

	if (ns < 0) {
		ns += 1000000000;
		sec--;
	}
	gmtime_r(&sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%09ldZ", date, ns);
}

static json_t *json_parse_or_string(const char *txt)
{
	json_t *v = txt ? json_loads(txt, JSON_DECODE_ANY, NULL) : NULL;

	/* Stored text was canonical JSON; if someone changed it, show it as is. */
	return v ? v : json_string(txt ? txt : "");
}

/*
 * Steps @st (bound already) and collects its rows as a JSON array, each
 * made by @row; @what names the list in errors.
 */
static int json_rows_collect(struct store *s, sqlite3_stmt *st, json_t *(*row)(sqlite3_stmt *),
			     const char *what, json_t **out)
{
	json_t *arr = json_array();
	int rc, ret = 0;

	*out = NULL;
	if (!arr) {
		stmt_done(st);
		return -ENOMEM;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *rec = row(st);

		if (!rec || json_array_append_new(arr, rec) < 0) {
			store_seterr(s, "%s: out of memory", what);
			ret = -ENOMEM;
			goto out;
		}
	}
	if (rc != SQLITE_DONE)
		ret = store_fail(s, rc, what, false);
out:
	stmt_done(st);
	if (ret < 0)
		json_decref(arr);
	else
		*out = arr;
	return ret;
}

/* The audit row @st stands on, as JSON. */
static json_t *audit_json(sqlite3_stmt *st)
{
	char when[48];

	rfc3339_ns(sqlite3_column_int64(st, 1), when, sizeof(when));
	return json_pack("{s:I, s:s, s:I, s:I, s:I, s:s, s:o, s:o, s:s, s:s}",
			 "seq", (json_int_t)sqlite3_column_int64(st, 0),
			 "time", when,
			 "uid", (json_int_t)sqlite3_column_int64(st, 2),
			 "gid", (json_int_t)sqlite3_column_int64(st, 3),
			 "pid", (json_int_t)sqlite3_column_int64(st, 4),
			 "method", (const char *)sqlite3_column_text(st, 5),
			 "params", json_parse_or_string((const char *)sqlite3_column_text(st, 6)),
			 "result", json_parse_or_string((const char *)sqlite3_column_text(st, 7)),
			 "hash", (const char *)sqlite3_column_text(st, 8),
			 "prev_hash", (const char *)sqlite3_column_text(st, 9));
}

int store_audit_list(struct store *s, int64_t after, int64_t limit, json_t **out)
{
	sqlite3_stmt *st = s->stmt[ST_AUDIT_LIST];

	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, limit > 0 ? limit : -1);
	return json_rows_collect(s, st, audit_json, "audit list", out);
}

static const char *col_str(sqlite3_stmt *st, int col)
{
	const char *v = (const char *)sqlite3_column_text(st, col);

	return v ? v : "";
}

/*
 * Walk the chain oldest first.  For each record: its seq must be the next
 * one (else a record was removed), its own hash must match its fields
 * (else it was altered), and its prev_hash must be the previous record's
 * hash (else the previous one was rewritten with a fresh hash, or removed
 * and the rest renumbered).  Then the head in kv must be the last record
 * (else the newest were removed, or rows were added behind loom's back).
 */
int store_audit_verify(struct store *s, int64_t *n_checked, int64_t *first_bad, char *why, size_t whylen)
{
	static const char sql[] =
		"SELECT seq, time_ns, uid, gid, pid, method, params, result, prev_hash, hash"
		" FROM audit ORDER BY seq";
	sqlite3_stmt *st = NULL;
	bool own_txn = sqlite3_get_autocommit(s->db);
	char prev[65] = ZERO_HASH, calc[65];
	char *head = NULL;
	int64_t expect = 1, head_seq = 0;
	const char *head_hash = "";
	int rc, ret = 0;

	*n_checked = 0;
	*first_bad = 0;
	if (whylen)
		why[0] = '\0';
	if (own_txn && sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		goto fail_sql;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		goto fail_sql;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(st, 0);
		const char *prev_hash = col_str(st, 8), *hash = col_str(st, 9);

		if (seq != expect) {
			*first_bad = expect;
			snprintf(why, whylen, "record %" PRId64 " is missing: the record after %" PRId64
				 " is %" PRId64, expect, expect - 1, seq);
			goto bad;
		}
		if (audit_hash(s->md, seq, sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
			       sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4),
			       col_str(st, 5), col_str(st, 6), col_str(st, 7), prev_hash, calc) < 0) {
			ret = -EIO;
			store_seterr(s, "audit verify: SHA-256 failed");
			goto out;
		}
		if (strcmp(calc, hash) != 0) {
			*first_bad = seq;
			snprintf(why, whylen, "record %" PRId64 " was altered: its fields hash to %.16s..., "
				 "the stored hash is %.16s...", seq, calc, hash);
			goto bad;
		}
		if (strcmp(prev_hash, prev) != 0) {
			*first_bad = seq - 1;
			snprintf(why, whylen, "record %" PRId64 "'s prev_hash does not match the hash of "
				 "record %" PRId64 ": record %" PRId64 " was rewritten (or removed and "
				 "the rest renumbered)", seq, seq - 1, seq - 1);
			goto bad;
		}
		memcpy(prev, hash, sizeof(prev));
		expect++;
		(*n_checked)++;
	}
	if (rc != SQLITE_DONE)
		goto fail_sql;
	ret = store_kv_get(s, AUDIT_HEAD_KEY, &head);
	if (ret < 0)
		goto out;
	if (head) {
		char *colon = strchr(head, ':');

		head_seq = strtoll(head, NULL, 10);
		head_hash = colon ? colon + 1 : "";
	}
	if (head_seq > expect - 1) {
		*first_bad = expect;
		snprintf(why, whylen, "the log ends at record %" PRId64 " but its head says %" PRId64
			 ": records %" PRId64 "..%" PRId64 " were removed", expect - 1, head_seq,
			 expect, head_seq);
		goto bad;
	}
	if (head_seq < expect - 1) {
		*first_bad = head_seq + 1;
		snprintf(why, whylen, "the head says the log ends at record %" PRId64 " but it goes on "
			 "to %" PRId64 ": records were added outside loom, or the head was reset",
			 head_seq, expect - 1);
		goto bad;
	}
	if (head_seq > 0 && strcmp(head_hash, prev) != 0) {
		*first_bad = head_seq;
		snprintf(why, whylen, "the newest record %" PRId64 " does not match the head's hash: "
			 "it was rewritten", head_seq);
		goto bad;
	}
	goto out;
bad:
	log_warn("store: audit log does not verify: %s", why);
	ret = -EBADMSG;
	goto out;
fail_sql:
	store_seterr(s, "audit verify: %s", sqlite3_errmsg(s->db));
	ret = -EIO;
out:
	free(head);
	sqlite3_finalize(st);
	if (own_txn && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	return ret;
}

/* ---- the node lifecycle ---- */

int store_node_put(struct store *s, const struct node_life *n)
{
	sqlite3_stmt *st = s->stmt[ST_NODE_PUT];

	bind_text(st, 1, n->name);
	bind_text(st, 2, node_state_name(n->state));
	bind_text(st, 3, n->pending ? node_state_name(n->goal) : "");
	sqlite3_bind_int(st, 4, n->pending);
	bind_text(st, 5, n->reason);
	sqlite3_bind_int64(st, 6, n->since_ns);
	return stmt_run(s, st, "node put", false);
}

static int row_node(sqlite3_stmt *st, struct node_life *n)
{
	const char *goal = col_str(st, 2);

	memset(n, 0, sizeof(*n));
	if (col_copy(st, 0, n->name, sizeof(n->name)) ||
	    node_state_parse(col_str(st, 1), &n->state))
		return -EBADMSG;
	n->goal = n->state;
	if (goal[0] && node_state_parse(goal, &n->goal))
		return -EBADMSG;
	n->pending = sqlite3_column_int(st, 3) != 0;
	snprintf(n->reason, sizeof(n->reason), "%s", col_str(st, 4));
	n->since_ns = sqlite3_column_int64(st, 5);
	return 0;
}

int store_node_get(struct store *s, const char *name, struct node_life *out)
{
	sqlite3_stmt *st = s->stmt[ST_NODE_GET];
	int rc, ret = -ENOENT;

	bind_text(st, 1, name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ret = row_node(st, out);
		if (ret)
			store_seterr(s, "node get: the row of '%s' is corrupt", name);
	} else if (rc != SQLITE_DONE) {
		ret = store_fail(s, rc, "node get", false);
	}
	stmt_done(st);
	return ret;
}

/*
 * Steps @st and decodes every row with @row into a growing array of @size
 * bytes per element; *out (free()) and *n on success.  @what names the
 * list in errors.
 */
static int rows_collect(struct store *s, sqlite3_stmt *st, size_t size, int (*row)(sqlite3_stmt *, void *),
			const char *what, void **out, size_t *n)
{
	char *v = NULL;
	size_t len = 0, cap = 0;
	int rc, ret = 0;

	*out = NULL;
	*n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (len == cap) {
			size_t nc = cap ? cap * 2 : 16;
			char *nv = realloc(v, nc * size);

			if (!nv) {
				store_seterr(s, "%s: out of memory", what);
				ret = -ENOMEM;
				goto out;
			}
			v = nv;
			cap = nc;
		}
		if (row(st, v + len * size)) {
			store_seterr(s, "%s: a row is corrupt", what);
			ret = -EBADMSG;
			goto out;
		}
		len++;
	}
	if (rc != SQLITE_DONE)
		ret = store_fail(s, rc, what, false);
out:
	stmt_done(st);
	if (ret < 0) {
		free(v);
		return ret;
	}
	*out = v;
	*n = len;
	return 0;
}

static int row_node_any(sqlite3_stmt *st, void *out) { return row_node(st, out); }

int store_node_list(struct store *s, struct node_life **out, size_t *n)
{
	return rows_collect(s, s->stmt[ST_NODE_LIST], sizeof(**out), row_node_any, "node list",
			    (void **)out, n);
}

int store_node_event_append(struct store *s, const struct node_event_rec *e)
{
	sqlite3_stmt *st = s->stmt[ST_NODE_EVENT_PUT];
	int ret;

	sqlite3_bind_int64(st, 1, e->time_ns);
	bind_text(st, 2, e->node);
	bind_text(st, 3, node_state_name(e->from));
	bind_text(st, 4, node_state_name(e->to));
	bind_text(st, 5, e->pending ? node_state_name(e->goal) : "");
	bind_text(st, 6, e->event);
	bind_text(st, 7, e->reason ? e->reason : "");
	sqlite3_bind_int64(st, 8, (int64_t)e->uid);
	ret = stmt_run(s, st, "node event", false);
	if (ret == 0)
		s->ev_hint = sqlite3_last_insert_rowid(s->db);
	return ret;
}

int64_t store_node_event_hint(const struct store *s)
{
	return s->ev_hint;
}

/* The node_events row @st stands on, as JSON. */
static json_t *node_event_json(sqlite3_stmt *st)
{
	char when[48];

	rfc3339_ns(sqlite3_column_int64(st, 1), when, sizeof(when));
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}",
			 "seq", (json_int_t)sqlite3_column_int64(st, 0),
			 "time", when,
			 "node", col_str(st, 2),
			 "from", col_str(st, 3),
			 "to", col_str(st, 4),
			 "goal", col_str(st, 5),
			 "event", col_str(st, 6),
			 "reason", col_str(st, 7),
			 "uid", (json_int_t)sqlite3_column_int64(st, 8));
}


int store_node_events(struct store *s, const char *node, json_t **out)
{
	sqlite3_stmt *st = s->stmt[ST_NODE_EVENT_LIST];

	bind_text(st, 1, node);
	return json_rows_collect(s, st, node_event_json, "node events", out);
}

int store_node_events_after(struct store *s, int64_t after, unsigned int limit, json_t **out)
{
	sqlite3_stmt *st = s->stmt[ST_NODE_EVENT_AFTER];

	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, limit);
	return json_rows_collect(s, st, node_event_json, "node events", out);
}

int64_t store_node_event_last(struct store *s)
{
	sqlite3_stmt *st = s->stmt[ST_NODE_EVENT_LAST];
	int64_t seq = -1;
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		seq = sqlite3_column_int64(st, 0);
	else
		store_fail(s, rc, "node events", false);
	stmt_done(st);
	return seq;
}

/* ---- MIG instances (schema 4) ---- */

int store_gpu_put(struct store *s, const struct gpu_inst_rec *g)
{
	sqlite3_stmt *st = s->stmt[ST_GPU_PUT];

	bind_text(st, 1, g->node);
	sqlite3_bind_int64(st, 2, g->gpu);
	sqlite3_bind_int64(st, 3, g->start);
	bind_text(st, 4, g->tenant);
	bind_text(st, 5, g->profile);
	bind_text(st, 6, g->segments);
	sqlite3_bind_int64(st, 7, g->created_ns);
	return stmt_run(s, st, "gpu instance put", false);
}

int store_gpu_delete(struct store *s, const char *node, unsigned int gpu, unsigned int start)
{
	sqlite3_stmt *st = s->stmt[ST_GPU_DEL];

	bind_text(st, 1, node);
	sqlite3_bind_int64(st, 2, gpu);
	sqlite3_bind_int64(st, 3, start);
	return run_delete(s, st, "gpu instance delete");
}

static int row_gpu(sqlite3_stmt *st, struct gpu_inst_rec *g)
{
	sqlite3_int64 gpu = sqlite3_column_int64(st, 1), start = sqlite3_column_int64(st, 2);

	memset(g, 0, sizeof(*g));
	if (col_copy(st, 0, g->node, sizeof(g->node)) || col_copy(st, 3, g->tenant, sizeof(g->tenant))
	    || col_copy(st, 4, g->profile, sizeof(g->profile))
	    || col_copy(st, 5, g->segments, sizeof(g->segments))
	    || gpu < 0 || gpu > UINT32_MAX || start < 0 || start > UINT32_MAX)
		return -EBADMSG;
	g->gpu = (unsigned int)gpu;
	g->start = (unsigned int)start;
	g->created_ns = sqlite3_column_int64(st, 6);
	return 0;
}

static int row_gpu_any(sqlite3_stmt *st, void *out) { return row_gpu(st, out); }

int store_gpu_list(struct store *s, struct gpu_inst_rec **out, size_t *n)
{
	return rows_collect(s, s->stmt[ST_GPU_LIST], sizeof(**out), row_gpu_any, "gpu instance list",
			    (void **)out, n);
}

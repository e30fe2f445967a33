/*
 * store/store.c: the store's core: opening the SQLite file, the schema's
 * migrations, transactions and savepoints, the daemon's key/value table,
 * and the helpers the other store files share (store-private.h).  What is
 * stored lives one file per kind: tenancy.c (tenants, segments,
 * attachments, holds), audit.c (the hash-chained audit log), nodes.c
 * (node lifecycles and their events), gpu.c (MIG instances).
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "lib/array.h"
#include "lib/log.h"
#include "store/store-private.h"

#define STORE_BUSY_TIMEOUT_MS 5000

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

	/*
	 * 5: the audit names the principal of each write ("uid:N" on the
	 * socket, the client certificate's "cn:NAME" over TLS).  Older rows
	 * keep NULL and their v1 hash, so the chain still verifies.
	 */
	"ALTER TABLE audit ADD COLUMN principal TEXT;",

	/*
	 * 6: the same CHECKs, written as OR chains.  SQLite builds a scratch
	 * table for an IN list of three or more constants on every row it
	 * checks (40,000 instructions a tenant row, a third of a write).  Each
	 * CHECK is changed in place, as SQLite's documentation allows for a
	 * constraint every row already meets; db_migrate bumps schema_version
	 * and checks integrity after a migration that writes sqlite_schema.
	 */
	"PRAGMA writable_schema = ON;"
	"UPDATE sqlite_schema SET sql = replace(sql,"
	"  'CHECK (isolation IN (''soft'',''strict'',''private''))',"
	"  'CHECK (isolation = ''soft'' OR isolation = ''strict'' OR isolation = ''private'')')"
	"  WHERE type = 'table' AND name = 'tenants';"
	"UPDATE sqlite_schema SET sql = replace(replace(sql,"
	"  'CHECK (type IN (''ethernet'',''infiniband''))',"
	"  'CHECK (type = ''ethernet'' OR type = ''infiniband'')'),"
	"  'CHECK (default_membership IN (''default'',''full'',''limited''))',"
	"  'CHECK (default_membership = ''default'' OR default_membership = ''full'''"
	"  || ' OR default_membership = ''limited'')')"
	"  WHERE type = 'table' AND name = 'segments';"
	"UPDATE sqlite_schema SET sql = replace(sql,"
	"  'CHECK (membership IN (''default'',''full'',''limited''))',"
	"  'CHECK (membership = ''default'' OR membership = ''full'' OR membership = ''limited'')')"
	"  WHERE type = 'table' AND name = 'attachments';"
	"UPDATE sqlite_schema SET sql = replace(sql,"
	"  'CHECK (state IN (''registered'',''verifying'',''available'',''assigned'','"
	"  || '    ''cordoned'',''draining'',''failed'',''retired'',''quarantined''))',"
	"  'CHECK (state = ''registered'' OR state = ''verifying'' OR state = ''available'''"
	"  || ' OR state = ''assigned'' OR state = ''cordoned'' OR state = ''draining'''"
	"  || ' OR state = ''failed'' OR state = ''retired'' OR state = ''quarantined'')')"
	"  WHERE type = 'table' AND name = 'nodes';"
	"PRAGMA writable_schema = OFF;",

	/*
	 * 7: a soft tenant's segment on a shared NIC port has its own 802.1Q
	 * tag there (docs/model.md); 0 = the whole port, as every older row.
	 */
	"ALTER TABLE attachments ADD COLUMN vlan INTEGER NOT NULL DEFAULT 0"
	"  CHECK (vlan >= 0 AND vlan <= 4094);",

	/*
	 * 8: routing (docs/model.md): a routed segment's anycast gateway
	 * addresses, and the L3 VNI its tenant holds while it has one (0 =
	 * none, as every older row).  No two tenants hold one L3 VNI.
	 */
	"ALTER TABLE segments ADD COLUMN gateway4 TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE segments ADD COLUMN gateway6 TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE tenants ADD COLUMN l3vni INTEGER NOT NULL DEFAULT 0"
	"  CHECK (l3vni >= 0 AND l3vni <= 16777215);"
	"CREATE UNIQUE INDEX tenants_l3vni ON tenants(l3vni) WHERE l3vni != 0;",
};

#define STORE_SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

static const struct store_sql store_sql_core[] = {
	{ ST_BEGIN, "BEGIN IMMEDIATE" },
	{ ST_COMMIT, "COMMIT" },
	{ ST_ROLLBACK, "ROLLBACK" },
	{ ST_KV_PUT,
		"INSERT INTO kv (key, value) VALUES (?1, ?2)"
		" ON CONFLICT (key) DO UPDATE SET value = excluded.value" },
	{ ST_KV_GET, "SELECT value FROM kv WHERE key = ?1" },
	/* Every key that begins with ?1 (the >= lets the primary key index find the first). */
	{ ST_KV_LIST, "SELECT key, value FROM kv WHERE key >= ?1 AND substr(key, 1, length(?1)) = ?1 ORDER BY key" },
	{ ST__COUNT, NULL },
};

/* Every file's statements; store_open prepares them all. */
static const struct store_sql *const store_sql_lists[] = {
	store_sql_core, store_sql_tenancy, store_sql_audit, store_sql_nodes, store_sql_gpu,
};

void store_seterr(struct store *s, const char *fmt, ...)
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
int store_fail(struct store *s, int rc, const char *what, bool is_delete)
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

int store_stmt_run(struct store *s, sqlite3_stmt *st, const char *what, bool is_delete)
{
	int rc = sqlite3_step(st);
	int ret = 0;

	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		ret = store_fail(s, rc, what, is_delete);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return ret;
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
 * After a migration that wrote sqlite_schema itself: bump schema_version so
 * that every connection reads the schema again, and check the file (the
 * steps SQLite's documentation gives for such a change).
 */
static int schema_edited(sqlite3 *db, const char *what, struct loom_err *err)
{
	sqlite3_stmt *st = NULL;
	char sql[64];
	int version = 0, ret;

	if (pragma_int(db, "PRAGMA schema_version", &version) < 0)
		return loom_err_set(err, LOOM_E_STORE, "", "%s: cannot read schema_version: %s", what,
				    sqlite3_errmsg(db));
	snprintf(sql, sizeof(sql), "PRAGMA schema_version = %d;", version + 1);
	ret = exec_sql(db, sql, err, what);
	if (ret < 0)
		return ret;
	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW ||
	    strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
		loom_err_set(err, LOOM_E_STORE, "", "%s: the schema as changed does not check: %s", what,
			     st && sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0)
							     : sqlite3_errmsg(db));
		ret = -EIO;
	}
	sqlite3_finalize(st);
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
		if (ret == 0 && strstr(migrations[v], "writable_schema"))
			ret = schema_edited(db, what, err);
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

/* Prepare every file's statements, each once for the life of the handle. */
static int prepare_all(struct store *s, const char *path, struct loom_err *err)
{
	for (size_t l = 0; l < sizeof(store_sql_lists) / sizeof(store_sql_lists[0]); l++) {
		for (const struct store_sql *q = store_sql_lists[l]; q->sql; q++) {
			if (sqlite3_prepare_v3(s->db, q->sql, -1, SQLITE_PREPARE_PERSISTENT,
					       &s->stmt[q->id], NULL) != SQLITE_OK) {
				loom_err_set(err, LOOM_E_INTERNAL, "", "%s: cannot prepare statement %d: %s",
					     path, (int)q->id, sqlite3_errmsg(s->db));
				return -EIO;
			}
		}
	}
	for (int i = 0; i < ST__COUNT; i++) {
		if (!s->stmt[i])
			return loom_err_set(err, LOOM_E_INTERNAL, "", "statement %d has no SQL", i);
	}
	return 0;
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
	ret = prepare_all(s, path, err);
	if (ret < 0)
		goto fail;
	s->md = EVP_MD_CTX_new();
	s->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!s->md || !s->sha256) {
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
	store_session_end(s);
	/* An open transaction is rolled back by close: it was never acknowledged. */
	if (s->db)
		sqlite3_close(s->db);
	EVP_MD_CTX_free(s->md);
	EVP_MD_free(s->sha256);
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
	return store_stmt_run(s, s->stmt[ST_BEGIN], "begin", false);
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
	int ret = store_stmt_run(s, s->stmt[ST_COMMIT], "commit", false);

	if (!ret)
		s->commits++;
	return ret;
}

uint64_t store_commits(const struct store *s)
{
	return s->commits;
}

int store_rollback(struct store *s)
{
	s->sp_depth = 0;
	if (sqlite3_get_autocommit(s->db))
		return 0;
	return store_stmt_run(s, s->stmt[ST_ROLLBACK], "rollback", false);
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
		ret = store_stmt_run(s, s->sp_begin[s->sp_depth], "savepoint", false);
	if (!ret)
		s->sp_depth++;
	return ret;
}

/* RELEASE the innermost savepoint, at depth @d. */
static int sp_release(struct store *s, int d)
{
	int ret = sp_stmt(s, &s->sp_release[d], "RELEASE", d);

	if (!ret)
		ret = store_stmt_run(s, s->sp_release[d], "release", false);
	if (!ret)
		s->sp_depth = d;
	return ret;
}

int store_savepoint_release(struct store *s)
{
	if (s->sp_depth < 1) {
		store_seterr(s, "release: no savepoint is open");
		return -EINVAL;
	}
	return sp_release(s, s->sp_depth - 1);
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
	/* Both prepared before anything runs: failing to prepare undoes nothing. */
	ret = sp_stmt(s, &s->sp_rollback[d], "ROLLBACK TO", d);
	if (!ret)
		ret = sp_stmt(s, &s->sp_release[d], "RELEASE", d);
	if (!ret)
		ret = store_stmt_run(s, s->sp_rollback[d], "rollback to savepoint", false);
	return ret ? ret : sp_release(s, d);
}

/* ---- the key/value table ---- */

int store_kv_write(struct store *s, const char *key, const char *value)
{
	sqlite3_stmt *st = s->stmt[ST_KV_PUT];

	bind_text(st, 1, key);
	bind_text(st, 2, value);
	return store_stmt_run(s, st, "kv put", false);
}

/* "audit." keys are the store's own: the head must only move with the log. */
int store_kv_put(struct store *s, const char *key, const char *value)
{
	if (strncmp(key, "audit.", 6) == 0) {
		store_seterr(s, "kv put: keys beginning with 'audit.' are reserved for the audit log");
		return -EPERM;
	}
	return store_kv_write(s, key, value);
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

/* ---- helpers the other files share ---- */

int store_run_delete(struct store *s, sqlite3_stmt *st, const char *what)
{
	int ret = store_stmt_run(s, st, what, true);

	if (!ret && sqlite3_changes(s->db) == 0) {
		store_seterr(s, "%s: no such row", what);
		ret = -ENOENT;
	}
	return ret;
}

int store_col_copy(sqlite3_stmt *st, int col, char *buf, size_t size)
{
	const char *v = (const char *)sqlite3_column_text(st, col);

	if (!v || strlen(v) >= size)
		return -EBADMSG;
	memcpy(buf, v, strlen(v) + 1);
	return 0;
}

void store_rfc3339_ns(int64_t time_ns, char *buf, size_t size)
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

int store_json_rows_collect(struct store *s, sqlite3_stmt *st, json_t *(*row)(sqlite3_stmt *),
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

int store_rows_collect(struct store *s, sqlite3_stmt *st, size_t size,
		       int (*row)(sqlite3_stmt *, void *), const char *what, void **out, size_t *n)
{
	void *v = NULL;
	size_t len = 0, cap = 0;
	int rc, ret = 0;

	*out = NULL;
	*n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (array_grow(&v, &cap, len + 1, size)) {
			store_seterr(s, "%s: out of memory", what);
			ret = -ENOMEM;
			goto out;
		}
		if (row(st, (char *)v + len * size)) {
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

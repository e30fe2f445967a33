/*
 * bench/bench_store.c: durable mutations per second through store/,
 * against a naive baseline in the same run on the same disk.
 *
 * A "mutation" is what one API request writes: one segment row plus its
 * audit record.  Three ways, each on a fresh file with the same pragmas
 * (WAL, synchronous=FULL, foreign_keys=ON):
 *   baseline  sqlite3_exec of SQL text (parsed every time), one
 *             transaction per mutation: what code without prepared
 *             statements or batching does;
 *   store/1   store_* with prepared statements, one transaction per
 *             mutation (one fsync each);
 *   store/32  group commit: 32 requests per transaction, a savepoint each.
 *
 * Usage: bench_store [-n MUTATIONS] [-d DIR]   (DIR: where the files go;
 * default $TMPDIR or /tmp; the disk is what is measured).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "lib/monotime.h"
#include "store/store.h"

static void remove_db(const char *path)
{
	char p[PATH_MAX + 8];

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

static void make_segment(struct segment *g, int i)
{
	memset(g, 0, sizeof(*g));
	snprintf(g->tenant, sizeof(g->tenant), "bench");
	snprintf(g->name, sizeof(g->name), "seg-%d", i);
	g->type = SEG_ETHERNET;
	g->vni = 10000 + (uint32_t)i;
	g->mtu = 9000;
	snprintf(g->subnet4, sizeof(g->subnet4), "198.51.100.0/24");
	snprintf(g->rd, sizeof(g->rd), "65000:%u", g->vni);
	snprintf(g->rt, sizeof(g->rt), "65000:%u", g->vni);
}

static int bench_store(const char *path, int n, int batch, double *secs)
{
	struct loom_err err = { 0 };
	struct store *s = NULL;
	struct tenant t = { .name = "bench", .isolation = ISOLATION_SOFT };
	struct segment g;
	char params[128];
	double t0;
	int ret;

	remove_db(path);
	ret = store_open(path, &s, &err);
	if (ret < 0) {
		fprintf(stderr, "store_open: %s\n", err.msg);
		return ret;
	}
	ret = store_tenant_put(s, &t);
	if (ret < 0)
		goto out;
	t0 = mono_s();
	for (int i = 0; i < n; i += batch) {
		ret = store_begin(s);
		for (int j = i; !ret && j < i + batch && j < n; j++) {
			struct audit_entry e = { .uid = 0, .gid = 0, .pid = 1234, .method = "segment.create",
						 .params = params, .result = "{\"ok\":true}" };

			make_segment(&g, j);
			snprintf(params, sizeof(params), "{\"tenant\":\"bench\",\"name\":\"%s\",\"vni\":%u}",
				 g.name, g.vni);
			ret = store_savepoint(s);
			if (!ret)
				ret = store_segment_put(s, &g);
			if (!ret)
				ret = store_audit_append(s, &e);
			if (!ret)
				ret = store_savepoint_release(s);
		}
		if (!ret)
			ret = store_commit(s);
		if (ret < 0) {
			fprintf(stderr, "store: %s\n", store_errmsg(s));
			goto out;
		}
	}
	*secs = mono_s() - t0;
out:
	store_close(&s);
	remove_db(path);
	return ret;
}

/* The baseline: SQL text through sqlite3_exec, one transaction each. */
static int bench_baseline(const char *path, int n, double *secs)
{
	struct loom_err err = { 0 };
	sqlite3 *db = NULL;
	char sql[1024], *msg = NULL;
	double t0;
	int ret = -EIO;

	remove_db(path);
	/* Same schema as the store, made by the store. */
	if (store_migrate_to(path, store_schema_version_latest(), &err) < 0) {
		fprintf(stderr, "migrate: %s\n", err.msg);
		return -EIO;
	}
	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
			 "INSERT INTO tenants (name, isolation) VALUES ('bench', 'soft')", NULL, NULL, &msg) != SQLITE_OK)
		goto out;
	t0 = mono_s();
	for (int i = 0; i < n; i++) {
		uint32_t vni = 10000 + (uint32_t)i;

		snprintf(sql, sizeof(sql),
			 "BEGIN IMMEDIATE;"
			 "INSERT INTO segments (tenant, name, type, vni, mtu, subnet4, rd, rt)"
			 " VALUES ('bench', 'seg-%d', 'ethernet', %u, 9000, '198.51.100.0/24', '65000:%u', '65000:%u');"
			 "INSERT INTO audit (seq, time_ns, uid, gid, pid, method, params, result, prev_hash, hash)"
			 " VALUES (%d, %d, 0, 0, 1234, 'segment.create', '{}', '{}', '', '');"
			 "COMMIT;", i, vni, vni, vni, i + 1, i);
		if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
			goto out;
	}
	*secs = mono_s() - t0;
	ret = 0;
out:
	if (msg)
		fprintf(stderr, "baseline: %s\n", msg);
	sqlite3_free(msg);
	sqlite3_close(db);
	remove_db(path);
	return ret;
}

int main(int argc, char **argv)
{
	const char *base = getenv("TMPDIR");
	char dir[PATH_MAX], path[PATH_MAX + 16];
	int n = 2000, opt;
	double base_s = 0, one_s = 0, group_s = 0;

	snprintf(dir, sizeof(dir), "%s", base && *base ? base : "/tmp");
	while ((opt = getopt(argc, argv, "n:d:")) != -1) {
		switch (opt) {
		case 'n':
			n = atoi(optarg);
			break;
		case 'd':
			snprintf(dir, sizeof(dir), "%s", optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [-n MUTATIONS] [-d DIR]\n", argv[0]);
			return 2;
		}
	}
	if (n <= 0)
		n = 2000;
	snprintf(path, sizeof(path), "%s/lst-bench-%d.db", dir, (int)getpid());
	if (bench_baseline(path, n, &base_s) < 0 || bench_store(path, n, 1, &one_s) < 0 ||
	    bench_store(path, n, 32, &group_s) < 0)
		return 1;
	printf("mutations: %d (one segment row + one audit record each), files in %s\n", n, dir);
	printf("%-44s %10.0f /s\n", "baseline: sqlite3_exec text, 1 per txn", n / base_s);
	printf("%-44s %10.0f /s  (x%.2f baseline)\n", "store: prepared, 1 per txn", n / one_s, base_s / one_s);
	printf("%-44s %10.0f /s  (x%.2f baseline)\n", "store: group commit, 32 per txn", n / group_s,
	       base_s / group_s);
	return 0;
}

/*
 * tests/unit/store_testutil.h: what the store tests share: a private
 * folder from mkdtemp (removed at the end, with the WAL and SHM files),
 * and a second, raw SQLite connection to play the attacker with.
 */
#ifndef LOOM_TESTS_STORE_TESTUTIL_H
#define LOOM_TESTS_STORE_TESTUTIL_H

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

struct tdir {
	char dir[PATH_MAX];
	char db[PATH_MAX];
};

static inline int tdir_make(struct tdir *t)
{
	const char *base = getenv("TMPDIR");

	snprintf(t->dir, sizeof(t->dir), "%s/lst-store-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(t->dir))
		return -1;
	snprintf(t->db, sizeof(t->db), "%s/loom.db", t->dir);
	return 0;
}

static inline void tdir_remove(struct tdir *t)
{
	DIR *d = opendir(t->dir);
	struct dirent *de;
	char p[PATH_MAX + 256];

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", t->dir, de->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(t->dir);
}

/* Run SQL on a separate connection, as someone with the file would. */
static inline int raw_exec(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	char *msg = NULL;
	int rc;

	if (sqlite3_open(db, &h) != SQLITE_OK) {
		sqlite3_close(h);
		return -1;
	}
	rc = sqlite3_exec(h, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fprintf(stderr, "# raw_exec: %s: %s\n", sql, msg ? msg : "?");
	sqlite3_free(msg);
	sqlite3_close(h);
	return rc == SQLITE_OK ? 0 : -1;
}

/* First column of the first row as an integer, or -1. */
static inline long long raw_int(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;

	if (sqlite3_open(db, &h) == SQLITE_OK && sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

#endif

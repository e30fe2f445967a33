/*
 * src/check.c: the private copy of the database that `loomd -n` opens
 * (src/check.h says why).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "src/check.h"

/* Plain reads and writes: the source is opened O_RDONLY and nothing else. */
static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in, out, ret = 0;
	ssize_t n;

	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		ret = -errno;
		close(in);
		return ret;
	}
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));

			if (w < 0) {
				if (errno == EINTR)
					continue;
				ret = -errno;
				goto out;
			}
			off += w;
		}
	}
out:
	close(in);
	if (close(out) && !ret)
		ret = -errno;
	return ret;
}

/* The copy's schema version (its WAL recovered into it first); -1 unknown. */
static int copy_version(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

int db_snapshot_take(const char *db, struct db_snapshot *s, struct loom_err *err)
{
	const char *tmp = getenv("TMPDIR");
	char wal[PATH_MAX + 8], copy_wal[PATH_MAX + 8];
	struct stat st;
	int ret;

	memset(s, 0, sizeof(*s));
	if (stat(db, &st) == 0) {
		s->exists = true;
	} else if (errno != ENOENT) {
		return loom_err_set(err, LOOM_E_STORE, "", "cannot read %s: %s", db, strerror(errno));
	}
	if (!tmp || !*tmp)
		tmp = "/tmp";
	if ((size_t)snprintf(s->dir, sizeof(s->dir), "%s/loomd-check.XXXXXX", tmp) >= sizeof(s->dir) ||
	    !mkdtemp(s->dir)) {
		s->dir[0] = '\0';
		return loom_err_set(err, LOOM_E_STORE, "", "cannot make a scratch folder in %s for "
				    "the check's copy of the database: %s", tmp, strerror(errno));
	}
	snprintf(s->path, sizeof(s->path), "%s/loom.db", s->dir);
	if (!s->exists)
		return 0;
	ret = copy_file(db, s->path);
	snprintf(wal, sizeof(wal), "%s-wal", db);
	snprintf(copy_wal, sizeof(copy_wal), "%s-wal", s->path);
	if (!ret && stat(wal, &st) == 0 && st.st_size > 0)
		ret = copy_file(wal, copy_wal);
	if (ret) {
		db_snapshot_drop(s);
		return loom_err_set(err, LOOM_E_STORE, "", "cannot copy %s for the check: %s", db,
				    strerror(-ret));
	}
	s->version = copy_version(s->path);
	return 0;
}

void db_snapshot_drop(struct db_snapshot *s)
{
	static const char *const tails[] = { "", "-wal", "-shm", "-journal" };
	char p[PATH_MAX + 16];

	if (!s->dir[0])
		return;
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", s->path, tails[i]);
		unlink(p);
	}
	rmdir(s->dir);
	s->dir[0] = '\0';
}

void db_snapshot_err_rename(const struct db_snapshot *s, const char *db, struct loom_err *err)
{
	char out[sizeof(err->msg)];
	size_t plen = strlen(s->path), o = 0;
	const char *m = err->msg;

	if (!plen)
		return;
	while (*m && o + 1 < sizeof(out)) {
		if (!strncmp(m, s->path, plen)) {
			o += (size_t)snprintf(out + o, sizeof(out) - o, "%s", db);
			if (o >= sizeof(out)) {
				o = sizeof(out) - 1;
				break;
			}
			m += plen;
		} else {
			out[o++] = *m++;
		}
	}
	out[o] = '\0';
	snprintf(err->msg, sizeof(err->msg), "%s", out);
}

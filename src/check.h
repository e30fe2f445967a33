/*
 * src/check.h: what `loomd -n` opens instead of the database.  A check
 * must write nothing: not create a missing database, not migrate an old
 * one, not even leave SQLite's -wal / -shm files next to it (a read-only
 * SQLite connection does).  So the check copies the database file and its
 * write-ahead log, byte for byte with plain reads, into a private folder
 * and opens the copy: loading, migrating and checking it there proves
 * what loomd would do, and the original is never opened.  A copy taken
 * while a loomd is writing may miss its latest commits: the check reads
 * what is on disk, not what that loomd holds.
 */
#ifndef LOOM_SRC_CHECK_H
#define LOOM_SRC_CHECK_H

#include <limits.h>
#include <stdbool.h>

#include "lib/err.h"

struct db_snapshot {
	char dir[PATH_MAX];	/* the private folder ("" when none) */
	char path[PATH_MAX];	/* the copy to open */
	bool exists;		/* the database file exists */
	int version;		/* its schema version; 0 when it does not exist, -1 unknown */
};

/*
 * Copy @db (and @db-wal when present) into a new folder under $TMPDIR (or
 * /tmp).  A missing @db is no error: the copy is then absent too, and
 * opening it creates an empty database there.  Errors are LOOM_E_STORE.
 */
int db_snapshot_take(const char *db, struct db_snapshot *s, struct loom_err *err);
/* Remove the copy and its folder. */
void db_snapshot_drop(struct db_snapshot *s);
/* An error about the copy, said about the database it stands for. */
void db_snapshot_err_rename(const struct db_snapshot *s, const char *db, struct loom_err *err);

#endif

/*
 * tests/unit/test_check.c: `loomd -n` (loomd_open with check_only) writes
 * nothing: a missing database is not created, an old one is not migrated,
 * no -wal / -shm file appears next to it, no socket is unlinked, and the
 * scratch copy is gone afterwards.  Errors name the real file.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "src/check.h"
#include "src/startup.h"
#include "tests/unit/store_testutil.h"

/* Every byte of the folder's files, in name order, as one string of "name:size:sum;". */
static void folder_print(const char *dir, char *out, size_t len)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort);
	size_t o = 0;

	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		char p[PATH_MAX + 256];
		unsigned long long sum = 1469598103934665603ULL, size = 0;
		FILE *f;
		int c;

		if (names[i]->d_name[0] != '.') {
			snprintf(p, sizeof(p), "%s/%s", dir, names[i]->d_name);
			f = fopen(p, "rb");
			while (f && (c = fgetc(f)) != EOF) {
				sum = (sum ^ (unsigned char)c) * 1099511628211ULL;
				size++;
			}
			if (f)
				fclose(f);
			o += (size_t)snprintf(out + o, o < len ? len - o : 0, "%s:%llu:%llx;",
					      names[i]->d_name, size, sum);
		}
		free(names[i]);
	}
	free(names);
}

static struct loomd *check_open(const char *db, const char *socket, struct loom_err *err, int *ret)
{
	struct loomd *d = calloc(1, sizeof(*d));
	const char *top = getenv("top_srcdir");

	assert_non_null(d);
	config_defaults(&d->cfg);
	snprintf(d->cfg.database, sizeof(d->cfg.database), "%s", db);
	snprintf(d->cfg.socket, sizeof(d->cfg.socket), "%s", socket);
	snprintf(d->cfg.topology, sizeof(d->cfg.topology), "%s/tests/integration/data/topo-api.json",
		 top ? top : "..");
	d->cfg.reconcile = false;
	*ret = loomd_open(d, true, err);
	return d;
}

static void check_close(struct loomd **d)
{
	loomd_close(*d);
	free(*d);
	*d = NULL;
}

static void test_missing_database(void **state)
{
	struct tdir t;
	struct loom_err err = { 0 };
	char db[PATH_MAX + 32], sock[PATH_MAX + 32], copy_dir[PATH_MAX];
	struct loomd *d;
	struct stat st;
	int ret;

	(void)state;
	assert_int_equal(tdir_make(&t), 0);
	snprintf(db, sizeof(db), "%s/state/loom.db", t.dir);
	snprintf(sock, sizeof(sock), "%s/loomd.sock", t.dir);
	d = check_open(db, sock, &err, &ret);
	if (ret)
		fail_msg("check: %s", err.msg);
	assert_false(d->check_db->exists);
	assert_int_equal(store_schema_version(d->store), store_schema_version_latest());
	assert_int_equal(d->model.n_tenants, 0);
	snprintf(copy_dir, sizeof(copy_dir), "%s", d->check_db->dir);
	assert_int_equal(stat(copy_dir, &st), 0);
	check_close(&d);
	assert_int_equal(stat(copy_dir, &st), -1);	/* the copy is gone */
	snprintf(db, sizeof(db), "%s/state", t.dir);
	assert_int_equal(stat(db, &st), -1);		/* nothing created, not even the folder */
	assert_int_equal(errno, ENOENT);
	tdir_remove(&t);
}

static void test_old_schema_untouched(void **state)
{
	struct tdir t;
	struct loom_err err = { 0 };
	char sock[PATH_MAX + 32], before[2048], after[2048];
	struct loomd *d;
	FILE *f;
	int ret;

	(void)state;
	assert_int_equal(tdir_make(&t), 0);
	assert_int_equal(store_migrate_to(t.db, 1, &err), 0);
	assert_int_equal(raw_exec(t.db, "INSERT INTO tenants (name, isolation, sites, labels) "
					"VALUES ('old', 'soft', '[\"east\"]', '{}')"), 0);
	/* A socket file where a running loomd would have it: -n leaves it be. */
	snprintf(sock, sizeof(sock), "%s/loomd.sock", t.dir);
	f = fopen(sock, "w");
	assert_non_null(f);
	fclose(f);
	folder_print(t.dir, before, sizeof(before));
	assert_non_null(strstr(before, "loom.db:"));
	assert_null(strstr(before, "loom.db-wal"));

	d = check_open(t.db, sock, &err, &ret);
	if (ret)
		fail_msg("check: %s", err.msg);
	assert_true(d->check_db->exists);
	assert_int_equal(d->check_db->version, 1);
	assert_int_equal(store_schema_version(d->store), store_schema_version_latest());
	assert_int_equal(d->model.n_tenants, 1);
	assert_string_equal(d->model.tenants[0]->name, "old");
	check_close(&d);

	folder_print(t.dir, after, sizeof(after));
	assert_string_equal(after, before);	/* byte for byte, no -wal, -shm, socket kept */
	assert_int_equal(raw_int(t.db, "PRAGMA user_version"), 1);
	tdir_remove(&t);
}

/* A file that is not loom's: refused, said about the real file, not the copy. */
static void test_error_names_the_file(void **state)
{
	struct tdir t;
	struct loom_err err = { 0 };
	char sock[PATH_MAX + 32], before[2048], after[2048];
	struct loomd *d;
	FILE *f;
	int ret;

	(void)state;
	assert_int_equal(tdir_make(&t), 0);
	assert_int_equal(raw_exec(t.db, "PRAGMA application_id = 7; PRAGMA user_version = 3; "
					"CREATE TABLE other (x)"), 0);
	snprintf(sock, sizeof(sock), "%s/loomd.sock", t.dir);
	f = fopen(sock, "w");
	assert_non_null(f);
	fclose(f);
	folder_print(t.dir, before, sizeof(before));
	d = check_open(t.db, sock, &err, &ret);
	assert_int_not_equal(ret, 0);
	assert_non_null(strstr(err.msg, t.db));
	assert_null(strstr(err.msg, "loomd-check"));
	check_close(&d);
	folder_print(t.dir, after, sizeof(after));
	assert_string_equal(after, before);
	tdir_remove(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_database),
		cmocka_unit_test(test_old_schema_untouched),
		cmocka_unit_test(test_error_names_the_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * store/image.c: the whole database as one image (store/store.h), which a
 * highly available controller's snapshot carries (docs/ha.md): taken with
 * sqlite3_serialize, put back with the backup API, so that loading is one
 * write transaction: all of it or nothing.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/store-private.h"

/* Bytes 18 and 19 of an SQLite file: 1 for a rollback journal, 2 for WAL. */
#define IMAGE_VERSION_OFF 18

int store_image_take(struct store *s, void **image, size_t *len)
{
	sqlite3_int64 n = 0;
	unsigned char *img, *copy;

	*image = NULL;
	*len = 0;
	if (!sqlite3_get_autocommit(s->db)) {
		store_seterr(s, "image: a transaction is open");
		return -EINVAL;
	}
	img = sqlite3_serialize(s->db, "main", &n, 0);
	if (!img || n < 100) {
		store_seterr(s, "image: %s", img ? "the database is empty" : sqlite3_errmsg(s->db));
		sqlite3_free(img);
		return -EIO;
	}
	copy = malloc((size_t)n);
	if (!copy) {
		sqlite3_free(img);
		store_seterr(s, "image: out of memory (%lld bytes)", (long long)n);
		return -ENOMEM;
	}
	memcpy(copy, img, (size_t)n);
	sqlite3_free(img);
	/* The pages as a rollback-journal file: one read in memory has no WAL to look at. */
	copy[IMAGE_VERSION_OFF] = copy[IMAGE_VERSION_OFF + 1] = 1;
	*image = copy;
	*len = (size_t)n;
	return 0;
}

static int image_int(sqlite3 *db, const char *sql, int *out)
{
	sqlite3_stmt *st = NULL;
	int ret = -EIO;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		*out = sqlite3_column_int(st, 0);
		ret = 0;
	}
	sqlite3_finalize(st);
	return ret;
}

/* Is @db a sound loom database of this schema, with kv @key = @value? */
static int image_check(struct store *s, sqlite3 *db, const char *key, const char *value)
{
	sqlite3_stmt *st = NULL;
	int app = 0, version = -1, ret = -EPROTO;

	if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		store_seterr(s, "image: not a readable SQLite database (%s)", sqlite3_errmsg(db));
		goto out;
	}
	if (strcmp((const char *)sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "", "ok")) {
		store_seterr(s, "image: SQLite's quick_check fails: %s", sqlite3_column_text(st, 0));
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (image_int(db, "PRAGMA application_id", &app) || app != STORE_APPLICATION_ID ||
	    image_int(db, "PRAGMA user_version", &version)) {
		store_seterr(s, "image: not a loom database (application_id %#x)", (unsigned int)app);
		goto out;
	}
	if (version != store_schema_version_latest()) {
		store_seterr(s, "image: schema %d, this loomd's is %d", version, store_schema_version_latest());
		goto out;
	}
	if (sqlite3_prepare_v2(db, "SELECT value FROM kv WHERE key = ?1", -1, &st, NULL) != SQLITE_OK) {
		store_seterr(s, "image: %s", sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW || strcmp(col_str(st, 0), value)) {
		store_seterr(s, "image: its %s is %s, expected %s", key,
			     sqlite3_column_type(st, 0) == SQLITE_NULL ? "absent" : col_str(st, 0), value);
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(st);
	return ret;
}

int store_image_load(struct store *s, const void *image, size_t len, const char *key, const char *value)
{
	sqlite3 *mem = NULL;
	sqlite3_backup *b;
	unsigned char *buf;
	int rc, ret;

	if (!sqlite3_get_autocommit(s->db)) {
		store_seterr(s, "image: a transaction is open");
		return -EINVAL;
	}
	if (len < 100 || memcmp(image, "SQLite format 3", 16)) {
		store_seterr(s, "image: not an SQLite file (%zu bytes)", len);
		return -EPROTO;
	}
	if (sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		store_seterr(s, "image: %s", mem ? sqlite3_errmsg(mem) : "out of memory");
		sqlite3_close(mem);
		return -ENOMEM;
	}
	buf = sqlite3_malloc64(len);
	if (!buf) {
		sqlite3_close(mem);
		store_seterr(s, "image: out of memory (%zu bytes)", len);
		return -ENOMEM;
	}
	memcpy(buf, image, len);
	buf[IMAGE_VERSION_OFF] = buf[IMAGE_VERSION_OFF + 1] = 1;
	/* On failure SQLite frees @buf itself (FREEONCLOSE). */
	rc = sqlite3_deserialize(mem, "main", buf, (sqlite3_int64)len, (sqlite3_int64)len,
				 SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_READONLY);
	if (rc != SQLITE_OK) {
		store_seterr(s, "image: %s", sqlite3_errstr(rc));
		ret = -EPROTO;
		goto out;
	}
	ret = image_check(s, mem, key, value);
	if (ret)
		goto out;
	store_session_end(s);
	b = sqlite3_backup_init(s->db, "main", mem, "main");
	if (!b) {
		store_seterr(s, "image: %s", sqlite3_errmsg(s->db));
		ret = -EIO;
		goto out;
	}
	/* One step for every page: one write transaction on @s, rolled back on failure. */
	rc = sqlite3_backup_step(b, -1);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		store_seterr(s, "image: copying it in: %s", sqlite3_errstr(rc));
		ret = -EIO;
		goto out;
	}
	s->ev_hint = store_node_event_last(s);
	ret = 0;
out:
	sqlite3_close(mem);
	return ret;
}

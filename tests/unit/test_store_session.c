/*
 * tests/unit/test_store_session.c: changesets (store/session.c) between
 * two real SQLite files: what a transaction changed, rolled-back
 * savepoints left out; a changeset that does not fit the file refused and
 * nothing of it applied; a whole database copied in chunks; a whole
 * database as one image, loaded into another that had state of its own,
 * and an image that is corrupt, of another position or truncated refused
 * with the target left as it was.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/store.h"
#include "tests/unit/store_testutil.h"

static const struct pools test_pools = {
	.vni_min = 10000, .vni_max = 19999, .pkey_min = 0x100, .pkey_max = 0x7ffe, .rt_asn = 65000,
};

static void tenant(struct tenant *t, const char *name)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->isolation = ISOLATION_SOFT;
}

static int64_t count(struct store *s, const char *prefix)
{
	json_t *all = NULL;
	int64_t n;

	/* The kv table is the one place a test may list without the model. */
	assert_int_equal(store_kv_list(s, prefix, &all), 0);
	n = (int64_t)json_object_size(all);
	json_decref(all);
	return n;
}

static void test_changeset_roundtrip(void **state)
{
	struct tdir a, b;
	struct store *sa = NULL, *sb = NULL;
	struct loom_err err = { 0 };
	struct tenant t;
	struct model m;
	void *cs = NULL;
	size_t len = 0;
	char *v = NULL;

	(void)state;
	if (!store_session_supported())
		skip();
	assert_int_equal(tdir_make(&a), 0);
	assert_int_equal(tdir_make(&b), 0);
	assert_int_equal(store_open(a.db, &sa, &err), 0);
	assert_int_equal(store_open(b.db, &sb, &err), 0);

	assert_int_equal(store_session_take(sa, &cs, &len), -EINVAL);	/* none recording */
	assert_int_equal(store_session_start(sa), -EINVAL);		/* no transaction */
	assert_int_equal(store_begin(sa), 0);
	assert_int_equal(store_session_start(sa), 0);
	tenant(&t, "kept");
	assert_int_equal(store_tenant_put(sa, &t), 0);
	assert_int_equal(store_kv_put(sa, "x.one", "1"), 0);
	assert_int_equal(store_savepoint(sa), 0);
	tenant(&t, "undone");
	assert_int_equal(store_tenant_put(sa, &t), 0);
	assert_int_equal(store_kv_put(sa, "x.two", "2"), 0);
	assert_int_equal(store_savepoint_rollback(sa), 0);	/* and releases it */
	assert_int_equal(store_session_take(sa, &cs, &len), 0);
	assert_true(len > 0);
	assert_int_equal(store_commit(sa), 0);

	assert_int_equal(store_changeset_apply(sb, cs, len), -EINVAL);	/* no transaction */
	assert_int_equal(store_begin(sb), 0);
	assert_int_equal(store_changeset_apply(sb, cs, len), 0);
	assert_int_equal(store_commit(sb), 0);
	model_init(&m, &test_pools);
	assert_int_equal(store_load_model(sb, &m, &err), 0);
	assert_int_equal(m.n_tenants, 1);
	assert_string_equal(m.tenants[0]->name, "kept");
	model_clear(&m);
	assert_int_equal(count(sb, "x."), 1);
	assert_int_equal(store_kv_get(sb, "x.one", &v), 0);
	assert_string_equal(v, "1");
	free(v);

	/* Again: the rows exist already; refused, and nothing of it applied. */
	assert_int_equal(store_begin(sb), 0);
	assert_int_equal(store_kv_put(sb, "x.one", "changed"), 0);
	assert_int_equal(store_changeset_apply(sb, cs, len), -EPROTO);
	assert_non_null(strstr(store_errmsg(sb), "does not fit"));
	assert_int_equal(store_rollback(sb), 0);
	assert_int_equal(store_kv_get(sb, "x.one", &v), 0);
	assert_string_equal(v, "1");
	free(v);

	free(cs);
	store_close(&sa);
	store_close(&sb);
	tdir_remove(&a);
	tdir_remove(&b);
}

struct chunks {
	struct store *dst;	/* each chunk applied here */
	int n;
};

static int take_chunk(struct store *s, void *arg, struct loom_err *err)
{
	struct chunks *c = arg;
	void *cs = NULL;
	size_t len = 0;
	int ret;

	(void)err;
	assert_int_equal(store_session_take(s, &cs, &len), 0);
	assert_int_equal(store_begin(c->dst), 0);
	ret = store_changeset_apply(c->dst, cs, len);
	assert_int_equal(ret, 0);
	assert_int_equal(store_commit(c->dst), 0);
	free(cs);
	c->n++;
	return 0;
}

static void test_copy_in_chunks(void **state)
{
	struct tdir src, mid, dst;
	struct store *s = NULL, *m = NULL, *d = NULL;
	struct loom_err err = { 0 };
	struct audit_entry e = { .method = "t.put", .params = "{}", .result = "{}" };
	struct chunks c = { 0 };
	struct tenant t;
	int64_t n_checked = 0, bad = 0;
	char why[256];

	(void)state;
	if (!store_session_supported())
		skip();
	assert_int_equal(tdir_make(&src), 0);
	assert_int_equal(tdir_make(&mid), 0);
	assert_int_equal(tdir_make(&dst), 0);
	assert_int_equal(store_open(src.db, &s, &err), 0);
	assert_int_equal(store_begin(s), 0);
	for (int i = 0; i < 5; i++) {
		char name[16];

		snprintf(name, sizeof(name), "t%d", i);
		tenant(&t, name);
		assert_int_equal(store_tenant_put(s, &t), 0);
		assert_int_equal(store_audit_append(s, &e), 0);
	}
	assert_int_equal(store_kv_put(s, "ha.seq", "9"), 0);
	assert_int_equal(store_commit(s), 0);
	store_close(&s);

	assert_int_equal(store_open(mid.db, &m, &err), 0);
	assert_int_equal(store_open(dst.db, &d, &err), 0);
	c.dst = d;
	assert_int_equal(store_copy_from(m, src.db, "ha.", 2, take_chunk, &c, &err), 0);
	/* tenants 3 chunks (2+2+1), kv 1 (audit.head; ha.seq left out), audit 3 */
	assert_int_equal(c.n, 7);
	assert_int_equal(store_audit_verify(d, &n_checked, &bad, why, sizeof(why)), 0);
	assert_int_equal(n_checked, 5);
	assert_int_equal(count(d, "ha."), 0);
	assert_int_equal(store_audit_verify(m, &n_checked, &bad, why, sizeof(why)), 0);

	/* A missing file: refused, nothing copied. */
	c.n = 0;
	memset(&err, 0, sizeof(err));
	assert_int_not_equal(store_copy_from(d, "/nonexistent/dir/x.db", NULL, 2, take_chunk, &c, &err), 0);
	assert_int_equal(c.n, 0);

	store_close(&m);
	store_close(&d);
	tdir_remove(&src);
	tdir_remove(&mid);
	tdir_remove(&dst);
}

static void test_image(void **state)
{
	struct tdir a, b;
	struct store *sa = NULL, *sb = NULL;
	struct loom_err err = { 0 };
	struct audit_entry e = { .method = "t.put", .params = "{}", .result = "{}" };
	struct tenant t;
	int64_t n_checked = 0, bad = 0;
	unsigned char *img = NULL;
	size_t len = 0;
	char why[256], *v = NULL;

	(void)state;
	assert_int_equal(tdir_make(&a), 0);
	assert_int_equal(tdir_make(&b), 0);
	assert_int_equal(store_open(a.db, &sa, &err), 0);
	assert_int_equal(store_open(b.db, &sb, &err), 0);
	assert_int_equal(store_begin(sa), 0);
	for (int i = 0; i < 50; i++) {
		char name[16];

		snprintf(name, sizeof(name), "t%d", i);
		tenant(&t, name);
		assert_int_equal(store_tenant_put(sa, &t), 0);
		assert_int_equal(store_audit_append(sa, &e), 0);
	}
	assert_int_equal(store_kv_put(sa, "ha.seq", "42"), 0);
	assert_int_equal(store_image_take(sa, (void **)&img, &len), -EINVAL);	/* a transaction is open */
	assert_int_equal(store_commit(sa), 0);
	assert_int_equal(store_image_take(sa, (void **)&img, &len), 0);
	assert_true(len >= 4096);

	/* @sb has state of its own: replaced whole. */
	assert_int_equal(store_begin(sb), 0);
	assert_int_equal(store_kv_put(sb, "ha.seq", "7"), 0);
	assert_int_equal(store_kv_put(sb, "x.mine", "1"), 0);
	assert_int_equal(store_commit(sb), 0);

	/* Refused, @sb as it was: another position, a flipped byte, a truncated image. */
	assert_int_equal(store_image_load(sb, img, len, "ha.seq", "41"), -EPROTO);
	assert_non_null(strstr(store_errmsg(sb), "ha.seq is 42, expected 41"));
	img[4096] ^= 0xff;	/* page 2's b-tree page type (a flip in free space only the SHA-256 above sees) */
	assert_int_not_equal(store_image_load(sb, img, len, "ha.seq", "42"), 0);
	img[4096] ^= 0xff;
	assert_int_not_equal(store_image_load(sb, img, len / 2, "ha.seq", "42"), 0);
	assert_int_not_equal(store_image_load(sb, img, 50, "ha.seq", "42"), 0);
	assert_int_equal(store_kv_get(sb, "ha.seq", &v), 0);
	assert_string_equal(v, "7");
	free(v);
	assert_int_equal(count(sb, "x."), 1);

	assert_int_equal(store_image_load(sb, img, len, "ha.seq", "42"), 0);
	assert_int_equal(store_kv_get(sb, "ha.seq", &v), 0);
	assert_string_equal(v, "42");
	free(v);
	assert_int_equal(count(sb, "x."), 0);
	assert_int_equal(store_audit_verify(sb, &n_checked, &bad, why, sizeof(why)), 0);
	assert_int_equal(n_checked, 50);
	/* It goes on as a database of its own. */
	assert_int_equal(store_begin(sb), 0);
	tenant(&t, "after");
	assert_int_equal(store_tenant_put(sb, &t), 0);
	assert_int_equal(store_audit_append(sb, &e), 0);
	assert_int_equal(store_commit(sb), 0);
	assert_int_equal(store_audit_verify(sb, &n_checked, &bad, why, sizeof(why)), 0);
	assert_int_equal(n_checked, 51);
	store_close(&sb);
	/* And on disk, opened again. */
	assert_int_equal(store_open(b.db, &sb, &err), 0);
	assert_int_equal(store_audit_verify(sb, &n_checked, &bad, why, sizeof(why)), 0);
	assert_int_equal(n_checked, 51);

	free(img);
	store_close(&sa);
	store_close(&sb);
	tdir_remove(&a);
	tdir_remove(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_changeset_roundtrip),
		cmocka_unit_test(test_copy_in_chunks),
		cmocka_unit_test(test_image),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

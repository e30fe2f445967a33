/*
 * tests/unit/test_store_audit.c: the hash-chained audit log on real SQLite
 * files: append, list, verify, and tampering through a second SQLite
 * connection (as anyone with the file could), each time checking that the
 * record named is the one that was touched.  The hash is also recomputed
 * here, independently, from the encoding in docs/store.md.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "store/store.h"
#include "tests/unit/store_testutil.h"

#define N_RECORDS 10
#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"

struct fixture {
	struct tdir dir;
	struct store *s;
};

static int append_n(struct store *s, int first, int n)
{
	for (int i = first; i < first + n; i++) {
		char params[64], result[64], method[32];
		struct audit_entry e = {
			.uid = (uid_t)(1000 + i), .gid = 100, .pid = (pid_t)(4000 + i),
			.method = method, .params = params, .result = result,
		};

		snprintf(method, sizeof(method), "tenant.%s", i % 2 ? "create" : "delete");
		/* Not canonical on purpose: spaces, unsorted keys. */
		snprintf(params, sizeof(params), "{ \"name\": \"t%d\", \"isolation\": \"soft\" }", i);
		snprintf(result, sizeof(result), "{\"ok\": true}");
		if (store_begin(s) < 0 || store_audit_append(s, &e) < 0 || store_commit(s) < 0)
			return -1;
		if (e.seq != i || strlen(e.hash) != 64)
			return -1;
	}
	return 0;
}

static int setup_empty(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct loom_err err = { 0 };

	if (!f || tdir_make(&f->dir) < 0)
		return -1;
	*state = f;
	return store_open(f->dir.db, &f->s, &err) < 0 ? -1 : 0;
}

/* A log of N_RECORDS records, one transaction each. */
static int setup(void **state)
{
	struct fixture *f;

	if (setup_empty(state) < 0)
		return -1;
	f = *state;
	return append_n(f->s, 1, N_RECORDS);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_close(&f->s);
	tdir_remove(&f->dir);
	free(f);
	return 0;
}

/* Tamper as an attacker would: first drop the append-only triggers. */
static void tamper(struct fixture *f, const char *sql)
{
	char buf[1024];

	snprintf(buf, sizeof(buf), "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; %s", sql);
	assert_int_equal(raw_exec(f->dir.db, buf), 0);
}

static void expect_bad(struct fixture *f, int64_t record, const char *word)
{
	int64_t n = -1, bad = -1;
	char why[256];

	assert_int_equal(store_audit_verify(f->s, &n, &bad, why, sizeof(why)), -EBADMSG);
	fprintf(stderr, "# verify: %s\n", why);
	assert_int_equal(bad, record);
	assert_non_null(strstr(why, word));
}

/* The encoding of docs/store.md, written again from the document. */
static void field(EVP_MD_CTX *md, const char *v)
{
	uint64_t len = strlen(v);
	unsigned char be[8];

	for (int i = 7; i >= 0; i--, len >>= 8)
		be[i] = (unsigned char)(len & 0xff);
	EVP_DigestUpdate(md, be, 8);
	EVP_DigestUpdate(md, v, strlen(v));
}

static void doc_hash(const char *const fields[9], char out[65])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char d[32];
	unsigned int n = 0;

	assert_non_null(md);
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	field(md, "loom-audit-v1");
	for (int i = 0; i < 9; i++)
		field(md, fields[i]);
	EVP_DigestFinal_ex(md, d, &n);
	EVP_MD_CTX_free(md);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void test_append_verify(void **state)
{
	struct fixture *f = *state;
	int64_t n = 0, bad = -1;
	char why[256];

	json_t *list = NULL;
	int64_t head_seq = 0;
	char head[65];

	assert_int_equal(store_audit_verify(f->s, &n, &bad, why, sizeof(why)), 0);
	assert_int_equal(n, N_RECORDS);
	assert_int_equal(bad, 0);
	/* The head is the newest record. */
	assert_int_equal(store_audit_head(f->s, &head_seq, head), 0);
	assert_int_equal(head_seq, N_RECORDS);
	assert_int_equal(store_audit_list(f->s, N_RECORDS - 1, 0, &list), 0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "hash")), head);
	json_decref(list);
	/* Inside an open transaction too (the daemon may verify in one). */
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_audit_verify(f->s, &n, &bad, why, sizeof(why)), 0);
	assert_int_equal(store_rollback(f->s), 0);
}

/* Records are only written within the change's transaction. */
static void test_append_rules(void **state)
{
	struct fixture *f = *state;
	struct audit_entry e = { .pid = 1, .method = "m", .params = "{}", .result = "{}" };
	int64_t n = 0, bad = 0;
	char why[256];
	json_t *list = NULL;

	assert_int_equal(store_audit_append(f->s, &e), -EINVAL);
	assert_int_equal(store_begin(f->s), 0);
	e.params = "{not json";
	assert_int_equal(store_audit_append(f->s, &e), -EINVAL);
	assert_non_null(strstr(store_errmsg(f->s), "params"));
	e.params = NULL;	/* = null */
	e.method = "";
	assert_int_equal(store_audit_append(f->s, &e), -EINVAL);
	e.method = "m";
	/* A request rolled back to its savepoint leaves no record. */
	assert_int_equal(store_savepoint(f->s), 0);
	assert_int_equal(store_audit_append(f->s, &e), 0);
	assert_int_equal(e.seq, N_RECORDS + 1);
	assert_int_equal(store_savepoint_rollback(f->s), 0);
	{
		/* ... and the head is back where it was. */
		int64_t hs = 0;
		char h[65];

		assert_int_equal(store_audit_head(f->s, &hs, h), 0);
		assert_int_equal(hs, N_RECORDS);
	}
	e.time_ns = 0;
	assert_int_equal(store_audit_append(f->s, &e), 0);
	assert_int_equal(e.seq, N_RECORDS + 1);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(store_audit_verify(f->s, &n, &bad, why, sizeof(why)), 0);
	assert_int_equal(n, N_RECORDS + 1);
	assert_int_equal(store_audit_list(f->s, N_RECORDS, 0, &list), 0);
	assert_int_equal(json_array_size(list), 1);
	assert_true(json_is_null(json_object_get(json_array_get(list, 0), "params")));
	json_decref(list);
	/* loom's own SQL cannot rewrite the log: the triggers refuse. */
	assert_int_not_equal(raw_exec(f->dir.db, "UPDATE audit SET method = 'x' WHERE seq = 1"), 0);
	assert_int_not_equal(raw_exec(f->dir.db, "DELETE FROM audit WHERE seq = 1"), 0);
}

static void test_list(void **state)
{
	struct fixture *f = *state;
	json_t *list = NULL, *r;
	const char *prev = ZEROS;
	size_t i;

	assert_int_equal(store_audit_list(f->s, 0, 0, &list), 0);
	assert_int_equal(json_array_size(list), N_RECORDS);
	json_array_foreach(list, i, r) {
		const char *t = json_string_value(json_object_get(r, "time"));
		char hash[65];
		char seq[24], tns[24], uid[24], gid[24], pid[24];
		char *params = json_dumps(json_object_get(r, "params"), JSON_COMPACT | JSON_SORT_KEYS);
		char *result = json_dumps(json_object_get(r, "result"), JSON_COMPACT | JSON_SORT_KEYS);
		const char *fields[9] = { seq, tns, uid, gid, pid,
					  json_string_value(json_object_get(r, "method")), params, result,
					  json_string_value(json_object_get(r, "prev_hash")) };
		long long ns;

		assert_int_equal(json_integer_value(json_object_get(r, "seq")), (json_int_t)i + 1);
		assert_int_equal(json_integer_value(json_object_get(r, "uid")), 1001 + (json_int_t)i);
		assert_int_equal(json_integer_value(json_object_get(r, "gid")), 100);
		assert_int_equal(json_integer_value(json_object_get(r, "pid")), 4001 + (json_int_t)i);
		/* params come back parsed, stored canonical */
		assert_true(json_is_object(json_object_get(r, "params")));
		assert_string_equal(params, i == 0 ? "{\"isolation\":\"soft\",\"name\":\"t1\"}" : params);
		assert_true(json_is_true(json_object_get(json_object_get(r, "result"), "ok")));
		/* RFC 3339, UTC, nanoseconds: 2026-11-25T14:16:24.123456789Z */
		assert_non_null(t);
		assert_int_equal(strlen(t), 30);
		assert_int_equal(t[10], 'T');
		assert_int_equal(t[19], '.');
		assert_int_equal(t[29], 'Z');
		/* the chain links */
		assert_string_equal(json_string_value(json_object_get(r, "prev_hash")), prev);
		prev = json_string_value(json_object_get(r, "hash"));
		/* and the hash is what the document says it is */
		{
			struct tm tm = { 0 };

			assert_non_null(strptime(t, "%Y-%m-%dT%H:%M:%S", &tm));
			ns = (long long)timegm(&tm) * 1000000000LL + strtoll(t + 20, NULL, 10);
		}
		snprintf(seq, sizeof(seq), "%zu", i + 1);
		snprintf(tns, sizeof(tns), "%lld", ns);
		snprintf(uid, sizeof(uid), "%zu", 1001 + i);
		snprintf(gid, sizeof(gid), "100");
		snprintf(pid, sizeof(pid), "%zu", 4001 + i);
		doc_hash(fields, hash);
		assert_string_equal(hash, prev);
		free(params);
		free(result);
	}
	json_decref(list);

	/* after / limit */
	assert_int_equal(store_audit_list(f->s, 3, 2, &list), 0);
	assert_int_equal(json_array_size(list), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "seq")), 4);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 1), "seq")), 5);
	json_decref(list);
	assert_int_equal(store_audit_list(f->s, N_RECORDS, 0, &list), 0);
	assert_true(json_is_array(list));
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
}

/* A fixed record has a fixed hash; docs/store.md shows the same example. */
static void test_known_answer(void **state)
{
	struct fixture *f = *state;
	struct store *s = f->s;
	struct audit_entry e = {
		.time_ns = 1700000000123456789LL, .uid = 0, .gid = 0, .pid = 4242,
		.method = "tenant.create", .params = "{\"name\": \"acme\", \"isolation\": \"strict\"}",
		.result = "{\"ok\":true}",
	};
	json_t *list = NULL;

	int64_t hs = -1;
	char h[65];

	/* An empty log: head 0 and zeros, and it verifies. */
	assert_int_equal(store_audit_head(s, &hs, h), 0);
	assert_int_equal(hs, 0);
	assert_string_equal(h, ZEROS);
	{
		int64_t n = -1, bad = -1;
		char why[128];

		assert_int_equal(store_audit_verify(s, &n, &bad, why, sizeof(why)), 0);
		assert_int_equal(n, 0);
	}
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_audit_append(s, &e), 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(e.seq, 1);
	/* Computed with Python's hashlib from the description in docs/store.md. */
	assert_string_equal(e.hash, "5f2edbf5fb7d743d8430e15d3105f38250e0d9cbb72886f9a00e88e734a544f2");
	assert_int_equal(store_audit_list(s, 0, 0, &list), 0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "time")),
			    "2023-11-14T22:13:20.123456789Z");
	json_decref(list);
}

static void test_tamper_params(void **state)
{
	tamper(*state, "UPDATE audit SET params = '{\"isolation\":\"soft\",\"name\":\"evil\"}' WHERE seq = 5");
	expect_bad(*state, 5, "altered");
}

static void test_tamper_result(void **state)
{
	tamper(*state, "UPDATE audit SET result = '{\"ok\":false}' WHERE seq = 6");
	expect_bad(*state, 6, "altered");
}

static void test_tamper_method(void **state)
{
	tamper(*state, "UPDATE audit SET method = 'tenant.update' WHERE seq = 4");
	expect_bad(*state, 4, "altered");
}

static void test_tamper_uid(void **state)
{
	tamper(*state, "UPDATE audit SET uid = 0 WHERE seq = 7");
	expect_bad(*state, 7, "altered");
}

static void test_tamper_hash(void **state)
{
	tamper(*state, "UPDATE audit SET hash = '" ZEROS "' WHERE seq = 5");
	expect_bad(*state, 5, "altered");
}

static void test_delete_middle(void **state)
{
	tamper(*state, "DELETE FROM audit WHERE seq = 5");
	expect_bad(*state, 5, "missing");
}

static void test_delete_first(void **state)
{
	tamper(*state, "DELETE FROM audit WHERE seq = 1");
	expect_bad(*state, 1, "missing");
}

/* Removing one and renumbering the rest: the hashes cover seq. */
static void test_delete_renumber(void **state)
{
	tamper(*state, "DELETE FROM audit WHERE seq = 5; UPDATE audit SET seq = seq - 1 WHERE seq > 5");
	expect_bad(*state, 5, "altered");
}

static void test_delete_newest(void **state)
{
	tamper(*state, "DELETE FROM audit WHERE seq > 8");
	expect_bad(*state, 9, "removed");
}

static void test_delete_all(void **state)
{
	tamper(*state, "DELETE FROM audit");
	expect_bad(*state, 1, "removed");
}

/*
 * A careful attacker rewrites a record's params and gives it a correct new
 * hash, computed from the public encoding.
 */
static void rewrite_record(struct fixture *f, int64_t seq_no)
{
	json_t *list = NULL, *r;
	char seq[24], tns[24], uid[24], gid[24], pid[24], hash[65], sql[512], q[96];
	const char *evil = "{\"isolation\":\"soft\",\"name\":\"evil\"}";
	char *result;

	assert_int_equal(store_audit_list(f->s, seq_no - 1, 1, &list), 0);
	r = json_array_get(list, 0);
	snprintf(seq, sizeof(seq), "%" PRId64, seq_no);
	snprintf(q, sizeof(q), "SELECT time_ns FROM audit WHERE seq = %" PRId64, seq_no);
	snprintf(tns, sizeof(tns), "%lld", raw_int(f->dir.db, q));
	snprintf(uid, sizeof(uid), "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(r, "uid")));
	snprintf(gid, sizeof(gid), "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(r, "gid")));
	snprintf(pid, sizeof(pid), "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(r, "pid")));
	result = json_dumps(json_object_get(r, "result"), JSON_COMPACT | JSON_SORT_KEYS);
	{
		const char *fields[9] = { seq, tns, uid, gid, pid,
					  json_string_value(json_object_get(r, "method")), evil, result,
					  json_string_value(json_object_get(r, "prev_hash")) };

		doc_hash(fields, hash);
	}
	free(result);
	json_decref(list);
	snprintf(sql, sizeof(sql), "UPDATE audit SET params = '%s', hash = '%s' WHERE seq = %" PRId64,
		 evil, hash, seq_no);
	tamper(f, sql);
}

/* Record 6 still names the old record 5. */
static void test_rewrite_with_valid_hash(void **state)
{
	rewrite_record(*state, 5);
	expect_bad(*state, 5, "rewritten");
}

/* The newest record has no successor: the head in kv catches it. */
static void test_rewrite_newest(void **state)
{
	rewrite_record(*state, N_RECORDS);
	expect_bad(*state, N_RECORDS, "rewritten");
}

/* Resetting the head while rows go on beyond it. */
/* Records naming a principal (v2) follow v1 records and the chain verifies;
 * the principal is covered by the hash. */
static void test_principal(void **state)
{
	struct fixture *f = *state;
	struct audit_entry e = { .uid = (uid_t)-1, .gid = (gid_t)-1, .principal = "cn:prov",
				 .method = "tenant.create", .params = "{\"name\":\"p\"}", .result = "{}" };
	int64_t n = -1, bad = -1;
	char why[256], sql[128];
	json_t *list = NULL;

	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_audit_append(f->s, &e), 0);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(append_n(f->s, N_RECORDS + 2, 1), 0);
	assert_int_equal(store_audit_verify(f->s, &n, &bad, why, sizeof(why)), 0);
	assert_int_equal(n, N_RECORDS + 2);
	assert_int_equal(store_audit_list(f->s, N_RECORDS, 0, &list), 0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "principal")), "cn:prov");
	assert_true(json_is_null(json_object_get(json_array_get(list, 1), "principal")));
	json_decref(list);
	snprintf(sql, sizeof(sql), "UPDATE audit SET principal = 'cn:other' WHERE seq = %d", N_RECORDS + 1);
	tamper(f, sql);
	expect_bad(f, N_RECORDS + 1, "altered");
}

/* Dropping the principal turns a v2 record into a v1 one: its hash no longer matches. */
static void test_principal_dropped(void **state)
{
	struct fixture *f = *state;
	struct audit_entry e = { .uid = 0, .principal = "uid:0", .method = "tenant.create",
				 .params = "{}", .result = "{}" };

	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_audit_append(f->s, &e), 0);
	assert_int_equal(store_commit(f->s), 0);
	tamper(f, "UPDATE audit SET principal = NULL WHERE seq = 11");
	expect_bad(f, N_RECORDS + 1, "altered");
}

static void test_head_reset(void **state)
{
	struct fixture *f = *state;
	char sql[256];

	snprintf(sql, sizeof(sql), "UPDATE kv SET value = '7:%s' WHERE key = 'audit.head'", ZEROS);
	tamper(f, sql);
	expect_bad(f, 8, "head");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_principal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_principal_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_known_answer, setup_empty, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_params, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_result, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_method, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_uid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_hash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_middle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_renumber, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_newest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rewrite_with_valid_hash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rewrite_newest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_head_reset, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

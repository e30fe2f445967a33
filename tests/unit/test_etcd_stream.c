/*
 * tests/unit/test_etcd_stream.c: the etcd watch stream parser and base64:
 * objects split at every byte, several in one chunk, the error object etcd
 * sends without a trailing newline, garbage refused; binary values.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "cluster/etcd.h"

/* Captured from etcd 3.4.23's gateway: created, one PUT, a progress
 * notification, a DELETE, and the no-leader error (no newline after it). */
static const char stream[] =
	"{\"result\":{\"header\":{\"cluster_id\":\"15118495548433857066\",\"member_id\":\"13668033151171901709\","
	"\"revision\":\"2\",\"raft_term\":\"2\"},\"created\":true}}\n"
	"{\"result\":{\"header\":{\"cluster_id\":\"15118495548433857066\",\"member_id\":\"13668033151171901709\","
	"\"revision\":\"3\",\"raft_term\":\"2\"},\"events\":[{\"kv\":{\"key\":\"L2xvb20vYQ==\",\"create_revision\":\"3\","
	"\"mod_revision\":\"3\",\"version\":\"1\",\"value\":\"aGVsbG8=\"}}]}}\n"
	"{\"result\":{\"header\":{\"cluster_id\":\"15118495548433857066\",\"revision\":\"3\"}}}\n"
	"{\"result\":{\"header\":{\"revision\":\"4\"},\"events\":[{\"type\":\"DELETE\",\"kv\":{\"key\":\"L2xvb20vYQ==\","
	"\"mod_revision\":\"4\"}}]}}\n"
	"{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"etcdserver: no leader\",\"http_status\":\"Service Unavailable\"}}";

struct seen {
	int n;
	char kinds[8][16];
};

static void collect(void *arg, void *obj)
{
	struct seen *s = arg;
	json_t *j = obj, *res = json_object_get(j, "result");
	const char *kind = json_object_get(j, "error") ? "error" :
			   json_is_true(json_object_get(res, "created")) ? "created" :
			   json_array_size(json_object_get(res, "events")) ? "events" : "progress";

	if (s->n < 8)
		snprintf(s->kinds[s->n], sizeof(s->kinds[0]), "%s", kind);
	s->n++;
}

static void check_seen(const struct seen *s)
{
	assert_int_equal(s->n, 5);
	assert_string_equal(s->kinds[0], "created");
	assert_string_equal(s->kinds[1], "events");
	assert_string_equal(s->kinds[2], "progress");
	assert_string_equal(s->kinds[3], "events");
	assert_string_equal(s->kinds[4], "error");
}

static void test_whole(void **state)
{
	struct etcd_stream st = { 0 };
	struct seen s = { 0 };

	(void)state;
	assert_int_equal(etcd_stream_feed(&st, stream, strlen(stream), collect, &s), 0);
	check_seen(&s);
	assert_int_equal(st.len, 0);
	etcd_stream_clear(&st);
}

static void test_split_everywhere(void **state)
{
	size_t len = strlen(stream);

	(void)state;
	for (size_t cut = 1; cut < len; cut++) {
		struct etcd_stream st = { 0 };
		struct seen s = { 0 };

		assert_int_equal(etcd_stream_feed(&st, stream, cut, collect, &s), 0);
		assert_int_equal(etcd_stream_feed(&st, stream + cut, len - cut, collect, &s), 0);
		check_seen(&s);
		etcd_stream_clear(&st);
	}
}

static void test_byte_by_byte(void **state)
{
	struct etcd_stream st = { 0 };
	struct seen s = { 0 };

	(void)state;
	for (size_t i = 0; stream[i]; i++)
		assert_int_equal(etcd_stream_feed(&st, stream + i, 1, collect, &s), 0);
	check_seen(&s);
	etcd_stream_clear(&st);
}

static void test_garbage(void **state)
{
	static const char *const bad[] = { "<html>", "[1,2]", "{\"a\":}", "\"x\"", "{\"a\":1}}" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct etcd_stream st = { 0 };
		struct seen s = { 0 };

		assert_int_equal(etcd_stream_feed(&st, bad[i], strlen(bad[i]), collect, &s), -EPROTO);
		assert_int_equal(st.len, 0);
		etcd_stream_clear(&st);
	}
}

static void test_b64(void **state)
{
	static const unsigned char bin[] = { 0, 1, 0xff, 0xfe, '=', 0 };
	size_t len;
	char *enc, *dec;

	(void)state;
	for (size_t n = 0; n <= sizeof(bin); n++) {
		enc = etcd_b64_encode(bin, n);
		dec = etcd_b64_decode(enc, &len);
		assert_non_null(dec);
		assert_int_equal(len, n);
		assert_memory_equal(dec, bin, n);
		free(enc);
		free(dec);
	}
	dec = etcd_b64_decode("L2xvb20vYQ==", &len);
	assert_string_equal(dec, "/loom/a");
	free(dec);
	assert_null(etcd_b64_decode("abc", &len));
	assert_null(etcd_b64_decode("a*c=", &len));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole),
		cmocka_unit_test(test_split_everywhere),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_b64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

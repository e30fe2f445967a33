/*
 * tests/unit/test_rpc.c: JSON-RPC framing: what is accepted, what is
 * refused with which code and field, and the shape of replies.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "src/rpc.h"

static int parse(const char *line, struct rpc_request *req, struct loom_err *err)
{
	loom_err_clear(err);
	return rpc_request_parse(line, strlen(line), req, err);
}

static void test_valid(void **state)
{
	struct rpc_request req;
	struct loom_err err;

	(void)state;
	assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"method\":\"tenant.list\",\"id\":5}", &req, &err), 0);
	assert_string_equal(req.method, "tenant.list");
	assert_true(json_is_object(req.params));
	assert_int_equal(json_object_size(req.params), 0);
	assert_int_equal(json_integer_value(req.id), 5);
	rpc_request_release(&req);

	/* A notification has no id. */
	assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"method\":\"a.b\",\"params\":{\"x\":1}}", &req, &err), 0);
	assert_null(req.id);
	assert_int_equal(json_integer_value(json_object_get(req.params, "x")), 1);
	rpc_request_release(&req);
}

static void expect_error(const char *line, int code, const char *field, bool has_id)
{
	struct rpc_request req;
	struct loom_err err;

	assert_int_not_equal(parse(line, &req, &err), 0);
	assert_int_equal(err.code, code);
	assert_string_equal(err.field, field);
	assert_true(err.msg[0] != '\0');
	assert_true((req.id != NULL) == has_id);
	assert_null(req.params);
	rpc_request_release(&req);
}

static void test_invalid(void **state)
{
	(void)state;
	expect_error("", LOOM_E_PARSE, "", false);
	expect_error("{", LOOM_E_PARSE, "", false);
	expect_error("nul\x01l", LOOM_E_PARSE, "", false);
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"method\":\"b\"}", LOOM_E_PARSE, "", false);
	expect_error("[]", LOOM_E_REQUEST, "", false);
	expect_error("42", LOOM_E_REQUEST, "", false);
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":1}", LOOM_E_REQUEST, "method", true);
	expect_error("{\"jsonrpc\":2,\"method\":\"a\",\"id\":1}", LOOM_E_REQUEST, "jsonrpc", true);
	expect_error("{\"method\":\"a\",\"id\":\"x\"}", LOOM_E_REQUEST, "jsonrpc", true);
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"params\":[],\"id\":1}", LOOM_E_REQUEST, "params", true);
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":1.5}", LOOM_E_REQUEST, "id", false);
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":1,\"x\":0}", LOOM_E_REQUEST, "x", true);
	/* jansson refuses \u0000 in strings unless told otherwise: a parse error. */
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"a\\u0000b\",\"id\":1}", LOOM_E_PARSE, "", false);
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"id\":1}",
		     LOOM_E_REQUEST, "method", true);
}

static void test_replies(void **state)
{
	struct loom_err err = { 0 }, back;
	json_t *id = json_integer(9);
	json_t *r;

	(void)state;
	r = rpc_result(id, NULL);
	assert_true(json_is_null(json_object_get(r, "result")));
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 9);
	json_decref(r);

	loom_err_set(&err, LOOM_E_POLICY, "node", "node %s is taken", "n1");
	r = rpc_error(id, &err);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "error"), "code")), LOOM_E_POLICY);
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(r, "error"), "data"), "name")),
			    "policy_violation");
	assert_int_equal(rpc_error_read(json_object_get(r, "error"), &back), 0);
	assert_int_equal(back.code, LOOM_E_POLICY);
	assert_string_equal(back.field, "node");
	assert_string_equal(back.msg, "node n1 is taken");
	json_decref(r);
	json_decref(id);
}

static void test_err_helpers(void **state)
{
	struct loom_err err = { 0 };

	(void)state;
	loom_err_set(&err, LOOM_E_RANGE, "vni", "first");
	loom_err_set(&err, LOOM_E_PARAMS, "mtu", "second");	/* the first error wins */
	assert_int_equal(err.code, LOOM_E_RANGE);
	loom_err_prefix(&err, "segments[2]");
	assert_string_equal(err.field, "segments[2].vni");
	loom_err_prefix(&err, "intent.tenants[0]");
	assert_string_equal(err.field, "intent.tenants[0].segments[2].vni");
	assert_string_equal(loom_err_name(LOOM_E_TAMPERED), "audit_tampered");
	assert_string_equal(loom_err_name(12345), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_err_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * src/rpc.c: JSON-RPC 2.0 requests and responses.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "src/rpc.h"

void rpc_request_release(struct rpc_request *req)
{
	json_decref(req->params);
	json_decref(req->id);
	req->params = NULL;
	req->id = NULL;
}

int rpc_request_parse(const char *line, size_t len, struct rpc_request *req, struct loom_err *err)
{
	json_error_t jerr;
	json_t *root, *v;
	const char *key;
	int ret = 0;

	memset(req, 0, sizeof(*req));
	/* JSON_REJECT_DUPLICATES: {"method":"a","method":"b"} must not be ambiguous. */
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!root)
		return loom_err_set(err, LOOM_E_PARSE, "", "invalid JSON at column %d: %s",
				    jerr.column, jerr.text);
	if (!json_is_object(root)) {
		ret = loom_err_set(err, LOOM_E_REQUEST, "", "a request must be a JSON object");
		goto out;
	}
	v = json_object_get(root, "id");
	if (v) {
		if (!json_is_string(v) && !json_is_integer(v) && !json_is_null(v)) {
			ret = loom_err_set(err, LOOM_E_REQUEST, "id", "id must be a string, an integer or null");
			goto out;
		}
		req->id = json_incref(v);
	}
	json_object_foreach(root, key, v) {
		if (strcmp(key, "jsonrpc") && strcmp(key, "method") && strcmp(key, "params") && strcmp(key, "id")) {
			ret = loom_err_set(err, LOOM_E_REQUEST, key, "unknown member '%s' in the request", key);
			goto out;
		}
	}
	v = json_object_get(root, "jsonrpc");
	if (!json_is_string(v) || strcmp(json_string_value(v), "2.0")) {
		ret = loom_err_set(err, LOOM_E_REQUEST, "jsonrpc", "jsonrpc must be the string \"2.0\"");
		goto out;
	}
	v = json_object_get(root, "method");
	if (!json_is_string(v)) {
		ret = loom_err_set(err, LOOM_E_REQUEST, "method", "method must be a string");
		goto out;
	}
	if (json_string_length(v) == 0 || json_string_length(v) >= sizeof(req->method)
	    || strlen(json_string_value(v)) != json_string_length(v)) {
		ret = loom_err_set(err, LOOM_E_REQUEST, "method", "method must be 1..%zu characters without NUL",
				   sizeof(req->method) - 1);
		goto out;
	}
	memcpy(req->method, json_string_value(v), json_string_length(v) + 1);
	v = json_object_get(root, "params");
	if (v && !json_is_object(v)) {
		ret = loom_err_set(err, LOOM_E_REQUEST, "params", "params must be an object (by-name parameters)");
		goto out;
	}
	req->params = v ? json_incref(v) : json_object();
out:
	json_decref(root);
	if (ret) {
		json_decref(req->params);
		req->params = NULL;
	}
	return ret;
}

json_t *rpc_result(json_t *id, json_t *result)
{
	return json_pack("{s:s, s:O, s:O}", "jsonrpc", "2.0", "result", result ? result : json_null(),
			 "id", id ? id : json_null());
}

json_t *rpc_error(json_t *id, const struct loom_err *err)
{
	json_t *data = json_pack("{s:s, s:s, s:s}", "name", loom_err_name(err->code),
				 "field", err->field, "hint", loom_err_hint(err->code));

	return json_pack("{s:s, s:{s:i, s:s, s:o}, s:O}", "jsonrpc", "2.0", "error",
			 "code", err->code, "message", err->msg, "data", data,
			 "id", id ? id : json_null());
}

int rpc_error_read(const json_t *error, struct loom_err *err)
{
	json_t *data;

	if (!json_is_object(error) || !json_is_integer(json_object_get(error, "code")))
		return -EINVAL;
	loom_err_clear(err);
	err->code = (int)json_integer_value(json_object_get(error, "code"));
	snprintf(err->msg, sizeof(err->msg), "%s",
		 json_is_string(json_object_get(error, "message"))
			 ? json_string_value(json_object_get(error, "message")) : "");
	data = json_object_get(error, "data");
	if (json_is_string(json_object_get(data, "field")))
		snprintf(err->field, sizeof(err->field), "%s", json_string_value(json_object_get(data, "field")));
	return 0;
}

/*
 * tests/fuzz/fuzz_rpc.c: libFuzzer target for everything a client's bytes
 * reach before the model is touched: the JSON-RPC framing and the parsers
 * of tenants, segments, attachments and the declarative intent.
 *
 * Run: tools/fuzz SECONDS rpc (seeds: tests/fuzz/corpus/rpc).
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "src/rpc.h"
#include "tenancy/intent.h"
#include "tenancy/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rpc_request req;
	struct loom_err err = { 0 };
	struct tenant t;
	struct segment s;
	struct attachment a;
	struct intent *doc = NULL;

	if (rpc_request_parse((const char *)data, size, &req, &err) == 0) {
		json_t *p = req.params;

		loom_err_clear(&err);
		if (tenant_from_json(p, &t, &err) == 0)
			tenant_release(&t);
		loom_err_clear(&err);
		segment_from_json(p, "fuzz", &s, &err);
		loom_err_clear(&err);
		attachment_from_json(p, &a, &err);
		loom_err_clear(&err);
		if (json_object_get(p, "intent") && intent_parse(json_object_get(p, "intent"), &doc, &err) == 0)
			intent_free(&doc);
	}
	rpc_request_release(&req);
	return 0;
}

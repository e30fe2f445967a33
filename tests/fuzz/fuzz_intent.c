/*
 * tests/fuzz/fuzz_intent.c: libFuzzer target for the declarative file
 * (`loomctl apply -f`, intent.apply): the JSON, intent_parse's checks, and
 * the plan against an empty model, as the server computes it.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tenancy/intent.h"
#include "tenancy/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct pools pools = { .vni_min = 10000, .vni_max = 10999,
					    .pkey_min = 0x0100, .pkey_max = 0x01ff,
					    .rt_asn = 65000 };
	struct loom_err err = { 0 };
	struct intent *doc = NULL;
	struct change *changes = NULL;
	struct model m;
	json_error_t jerr;
	json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
	size_t n = 0;

	if (!root)
		return 0;
	if (intent_parse(root, &doc, &err) == 0) {
		model_init(&m, &pools);
		loom_err_clear(&err);
		if (intent_plan(&m, doc, &changes, &n, &err) == 0) {
			for (size_t i = 0; i < n; i++)
				json_decref(change_to_json(&changes[i]));
			changes_free(&changes, n);
		}
		model_clear(&m);
		intent_free(&doc);
	}
	json_decref(root);
	return 0;
}

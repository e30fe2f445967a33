/*
 * tests/fuzz/fuzz_topology.c: libFuzzer target for the topology loader.
 * Whatever loads must write back (topology_to_json) to JSON that loads
 * again into the same JSON: a crash or an abort here is a bug.
 *
 * Run: tools/fuzz SECONDS topology (seeds: tests/fuzz/corpus/topology).
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "topology/topology.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct loom_err err = { 0 };
	struct topology *t = NULL, *again = NULL;
	json_error_t jerr;
	json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
	json_t *out, *out2;

	if (!root)
		return 0;
	if (topology_load_json(root, &t, &err) == 0) {
		out = topology_to_json(t);
		if (!out || topology_load_json(out, &again, &err))
			abort();
		out2 = topology_to_json(again);
		if (!json_equal(out, out2))
			abort();
		json_decref(out);
		json_decref(out2);
		topology_free(&again);
		topology_free(&t);
	}
	json_decref(root);
	return 0;
}

/*
 * tests/fuzz/fuzz_slice.c: libFuzzer target for a target's slice as an
 * agent reads it from etcd (desired/<agent>, written by the controller or,
 * wrongly, by hand): tenancy/slice_json.c's decoders for VTEP, subnet
 * manager and GPU slices; what decodes is encoded again.
 *
 * Run: tools/fuzz SECONDS slice (seeds: tests/fuzz/corpus/slice).
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tenancy/slice_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, 0, NULL);
	struct vtep_desired *v = NULL;
	struct sm_desired *s = NULL;
	struct gpu_desired *g = NULL;
	struct loom_err err = { 0 };

	if (!j)
		return 0;
	if (vtep_desired_from_json(j, &v, &err) == 0) {
		json_decref(vtep_desired_to_json(v));
		vtep_desired_free(&v);
	}
	loom_err_clear(&err);
	if (sm_desired_from_json(j, &s, &err) == 0) {
		json_decref(sm_desired_to_json(s));
		sm_desired_free(&s);
	}
	loom_err_clear(&err);
	if (gpu_desired_from_json(j, &g, &err) == 0) {
		json_decref(gpu_desired_to_json(g));
		gpu_desired_free(&g);
	}
	json_decref(j);
	return 0;
}

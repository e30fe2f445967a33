/*
 * tenancy/slice_json.h: one target's slice of the desired state as JSON,
 * both ways: what the controller publishes for an agent (desired/<agent>
 * in etcd, docs/cluster.md) and what the agent reads back.
 *
 * Decoding validates everything a hand-written value could get wrong and
 * names the field at fault in the error ("vnis[2].ports[0]"); it builds
 * nothing on failure, so a malformed value changes nothing.  Arrays must
 * come sorted by their key, as compile makes them (a diff is one merge
 * pass): an unsorted or repeated key is an error, not silently fixed.
 */
#ifndef LOOM_TENANCY_SLICE_JSON_H
#define LOOM_TENANCY_SLICE_JSON_H

#include <jansson.h>

#include "lib/err.h"
#include "tenancy/compile.h"

json_t *vtep_desired_to_json(const struct vtep_desired *d);
int vtep_desired_from_json(const json_t *j, struct vtep_desired **out, struct loom_err *err);

json_t *sm_desired_to_json(const struct sm_desired *d);
int sm_desired_from_json(const json_t *j, struct sm_desired **out, struct loom_err *err);

/* A GPU instance is named by its model and profile ("H100-SXM5-80GB", "1g.10gb"). */
json_t *gpu_desired_to_json(const struct gpu_desired *d);
int gpu_desired_from_json(const json_t *j, struct gpu_desired **out, struct loom_err *err);

#endif

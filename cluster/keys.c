/*
 * cluster/keys.c: loom's keys in etcd and their values (cluster/keys.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/keys.h"
#include "tenancy/slice_json.h"

int cluster_key(char *buf, size_t len, const char *prefix, const char *dir, const char *agent)
{
	int n = snprintf(buf, len, "%s/%s/%s", prefix, dir, agent ? agent : "");

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static json_t *vtep_to(const void *s)
{
	return vtep_desired_to_json(s);
}

static int vtep_from(const json_t *j, void **out, struct loom_err *err)
{
	return vtep_desired_from_json(j, (struct vtep_desired **)out, err);
}

static json_t *sm_to(const void *s)
{
	return sm_desired_to_json(s);
}

static int sm_from(const json_t *j, void **out, struct loom_err *err)
{
	return sm_desired_from_json(j, (struct sm_desired **)out, err);
}

static json_t *gpu_to(const void *s)
{
	return gpu_desired_to_json(s);
}

static int gpu_from(const json_t *j, void **out, struct loom_err *err)
{
	return gpu_desired_from_json(j, (struct gpu_desired **)out, err);
}

static const struct cluster_slice_kind kinds[] = {
	{ "vtep", &target_slice_vtep, vtep_to, vtep_from },
	{ "sm", &target_slice_sm, sm_to, sm_from },
	{ "gpu", &target_slice_gpu, gpu_to, gpu_from },
};

const struct cluster_slice_kind *cluster_slice_kind(const char *name)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kinds[i].name, name))
			return &kinds[i];
	return NULL;
}

const struct cluster_slice_kind *cluster_slice_kind_of(const struct target_slice *slice)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i].slice == slice)
			return &kinds[i];
	return NULL;
}

char *cluster_desired_encode(const struct cluster_slice_kind *k, uint64_t gen, const void *slice)
{
	json_t *j = json_pack("{sI ss so}", "generation", (json_int_t)gen, "kind", k->name, "slice",
			      k->to_json(slice));
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(j);
	return text;
}

/* The name a slice carries: its VTEP, SM or node. */
static const char *slice_owner(const json_t *slice)
{
	static const char *const keys[] = { "vtep", "sm", "node" };

	for (size_t i = 0; i < 3; i++)
		if (json_is_string(json_object_get(slice, keys[i])))
			return json_string_value(json_object_get(slice, keys[i]));
	return "";
}

int cluster_desired_decode(const struct cluster_slice_kind *k, const char *agent, const char *text, size_t len,
			   uint64_t *gen, void **slice, struct loom_err *err)
{
	json_error_t jerr;
	json_t *j = json_loadb(text, len, 0, &jerr), *g, *kind, *s;
	int ret;

	*slice = NULL;
	if (!j)
		return loom_err_set(err, LOOM_E_PARSE, "", "not JSON: %s (line %d)", jerr.text, jerr.line);
	g = json_object_get(j, "generation");
	kind = json_object_get(j, "kind");
	s = json_object_get(j, "slice");
	if (!json_is_object(j))
		ret = loom_err_set(err, LOOM_E_PARAMS, "", "not an object");
	else if (!json_is_integer(g) || json_integer_value(g) <= 0)
		ret = loom_err_set(err, LOOM_E_PARAMS, "generation", "generation: missing or not a positive integer");
	else if (!json_is_string(kind) || strcmp(json_string_value(kind), k->name))
		ret = loom_err_set(err, LOOM_E_PARAMS, "kind", "kind: not \"%s\"", k->name);
	else if (!json_is_object(s))
		ret = loom_err_set(err, LOOM_E_PARAMS, "slice", "slice: missing or not an object");
	else if (strcmp(slice_owner(s), agent))
		ret = loom_err_set(err, LOOM_E_PARAMS, "slice", "slice: for \"%s\", not for \"%s\"", slice_owner(s),
				   agent);
	else if ((ret = k->from_json(s, slice, err)) == 0)
		*gen = (uint64_t)json_integer_value(g);
	else if (err) {
		char msg[sizeof(err->msg)];

		loom_err_prefix(err, "slice");
		snprintf(msg, sizeof(msg), "slice.%s", err->msg);
		memcpy(err->msg, msg, sizeof(msg));
	}
	json_decref(j);
	return ret;
}

char *cluster_status_encode(uint64_t gen, const char *error, const struct target_item *items, size_t n)
{
	json_t *arr = json_array(), *j;
	char *text;

	for (size_t i = 0; arr && i < n; i++) {
		const struct target_item *x = &items[i];

		if (json_array_append_new(arr, json_pack("{ss ss sI ss ss ss}", "tenant", x->tenant, "segment",
							 x->segment, "id", (json_int_t)x->id, "layer", x->layer,
							 "state", seg_state_name(x->state), "reason", x->reason))) {
			json_decref(arr);
			return NULL;
		}
	}
	if (!arr)
		return NULL;
	j = json_pack("{sI ss so}", "generation", (json_int_t)gen, "error", error ? error : "", "items", arr);
	text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	return text;
}

/* The static layer name loom knows for @name. */
static const char *layer_static(const char *name)
{
	static const char *const layers[] = { "kernel", "frr", "opensm", "nvml", "null" };

	for (size_t i = 0; i < sizeof(layers) / sizeof(layers[0]); i++)
		if (!strcmp(layers[i], name))
			return layers[i];
	return "remote";
}

int cluster_status_decode(const char *text, size_t len, uint64_t *gen, struct target_result *res,
			  struct loom_err *err)
{
	json_t *j = json_loadb(text, len, 0, NULL), *items, *x;
	size_t i;

	if (!j || !json_is_integer(json_object_get(j, "generation"))) {
		json_decref(j);
		return loom_err_set(err, LOOM_E_PARSE, "", "status is not an object with a generation");
	}
	*gen = (uint64_t)json_integer_value(json_object_get(j, "generation"));
	if (json_is_string(json_object_get(j, "error")))
		snprintf(res->error, sizeof(res->error), "%s", json_string_value(json_object_get(j, "error")));
	items = json_object_get(j, "items");
	json_array_foreach(items, i, x) {
		const char *state = json_string_value(json_object_get(x, "state"));
		const char *layer = json_string_value(json_object_get(x, "layer"));
		enum seg_state st = SEG_PENDING;

		if (state && !strcmp(state, "programmed"))
			st = SEG_PROGRAMMED;
		else if (state && !strcmp(state, "error"))
			st = SEG_ERROR;
		target_result_add(res, json_string_value(json_object_get(x, "tenant")) ?: "",
				  json_string_value(json_object_get(x, "segment")) ?: "",
				  (uint32_t)json_integer_value(json_object_get(x, "id")), layer_static(layer ?: ""), st,
				  json_string_value(json_object_get(x, "reason")));
	}
	json_decref(j);
	return 0;
}

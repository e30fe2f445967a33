/*
 * cluster/keys.c: loom's keys in etcd and their values (cluster/keys.h).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
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

/* ---- watcher signals ---------------------------------------------------------- */

static const char *const signal_kinds[] = { "carrier", "hca_port", "hca_counters" };

const char *cluster_signal_kind_name(enum cluster_signal_kind k)
{
	return (size_t)k < sizeof(signal_kinds) / sizeof(signal_kinds[0]) ? signal_kinds[k] : "?";
}

int cluster_signal_key(char *buf, size_t len, const char *prefix, const char *agent, uint64_t seq)
{
	int n = agent ? snprintf(buf, len, "%s/signal/%s/%016" PRIx64, prefix, agent, seq)
		      : snprintf(buf, len, "%s/signal/", prefix);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int cluster_signal_key_parse(const char *key, const char *prefix, char *agent, size_t len, uint64_t *seq,
			     struct loom_err *err)
{
	size_t plen = strlen(prefix);
	const char *name, *slash;
	uint64_t n = 0;

	if (strncmp(key, prefix, plen) || strncmp(key + plen, "/signal/", 8))
		return loom_err_set(err, LOOM_E_PARAMS, "key", "key: not under %s/signal/", prefix);
	name = key + plen + 8;
	slash = strchr(name, '/');
	if (!slash || slash == name || (size_t)(slash - name) >= len || (size_t)(slash - name) >= LOOM_NAME_MAX)
		return loom_err_set(err, LOOM_E_PARAMS, "key", "key: not %s/signal/AGENT/SEQ", prefix);
	if (strlen(slash + 1) != 16)
		return loom_err_set(err, LOOM_E_PARAMS, "key", "key: SEQ \"%s\" is not 16 hex digits", slash + 1);
	for (const char *c = slash + 1; *c; c++) {
		int d = *c >= '0' && *c <= '9' ? *c - '0' : *c >= 'a' && *c <= 'f' ? *c - 'a' + 10 : -1;

		if (d < 0)
			return loom_err_set(err, LOOM_E_PARAMS, "key", "key: SEQ \"%s\" is not 16 lower-case hex digits",
					    slash + 1);
		n = n << 4 | (uint64_t)d;
	}
	if (!n)
		return loom_err_set(err, LOOM_E_PARAMS, "key", "key: SEQ 0 (they start at 1)");
	memcpy(agent, name, (size_t)(slash - name));
	agent[slash - name] = '\0';
	*seq = n;
	return 0;
}

static json_t *counters_to(const struct ib_port_counters *c)
{
	return json_pack("{sI sI sI}", "symbol_errors", (json_int_t)c->symbol_errors, "link_recovery",
			 (json_int_t)c->link_recovery, "link_downed", (json_int_t)c->link_downed);
}

char *cluster_signal_encode(const struct cluster_signal *s)
{
	json_t *j = json_pack("{sI sI sI ss}", "seq", (json_int_t)s->seq, "previous", (json_int_t)s->previous,
			      "time", (json_int_t)s->time, "kind", cluster_signal_kind_name(s->kind));
	char *text;

	if (!j)
		return NULL;
	if (s->kind == CLUSTER_SIG_CARRIER) {
		json_object_set_new(j, "vtep", json_string(s->carrier.vtep));
		json_object_set_new(j, "access_port", json_string(s->carrier.access_port));
		json_object_set_new(j, "up", json_boolean(s->carrier.up));
	} else {
		json_object_set_new(j, "sm", json_string(s->hca.sm));
		json_object_set_new(j, "node", json_string(s->hca.node));
		json_object_set_new(j, "port", json_string(s->hca.port));
		if (s->kind == CLUSTER_SIG_HCA_PORT) {
			json_object_set_new(j, "result", json_integer(s->hca.result));
			json_object_set_new(j, "state", json_integer(s->hca.state));
		} else {
			json_object_set_new(j, "before", counters_to(&s->hca.prev));
			json_object_set_new(j, "after", counters_to(&s->hca.cur));
		}
	}
	text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return text;
}

/* An integer field in [min, max]. */
static int sig_int(const json_t *j, const char *field, json_int_t min, json_int_t max, json_int_t *out,
		   struct loom_err *err)
{
	const json_t *v = json_object_get(j, field);

	if (!json_is_integer(v))
		return loom_err_set(err, LOOM_E_PARAMS, field, "%s: missing or not an integer", field);
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		return loom_err_set(err, LOOM_E_PARAMS, field, "%s: %" JSON_INTEGER_FORMAT " is outside %"
				    JSON_INTEGER_FORMAT "..%" JSON_INTEGER_FORMAT, field, json_integer_value(v),
				    min, max);
	*out = json_integer_value(v);
	return 0;
}

/* A non-empty string field that fits @len. */
static int sig_str(const json_t *j, const char *field, char *buf, size_t len, struct loom_err *err)
{
	const json_t *v = json_object_get(j, field);

	if (!json_is_string(v) || !json_string_length(v))
		return loom_err_set(err, LOOM_E_PARAMS, field, "%s: missing or not a non-empty string", field);
	if (json_string_length(v) >= len)
		return loom_err_set(err, LOOM_E_PARAMS, field, "%s: longer than %zu bytes", field, len - 1);
	memcpy(buf, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int sig_counters(const json_t *j, const char *field, struct ib_port_counters *c, struct loom_err *err)
{
	static const char *const names[] = { "symbol_errors", "link_recovery", "link_downed" };
	const json_t *o = json_object_get(j, field);
	uint32_t *dst[] = { &c->symbol_errors, &c->link_recovery, &c->link_downed };
	const char *key;
	json_t *v;

	if (!json_is_object(o))
		return loom_err_set(err, LOOM_E_PARAMS, field, "%s: missing or not an object", field);
	json_object_foreach((json_t *)o, key, v) {
		size_t i;

		for (i = 0; i < 3 && strcmp(key, names[i]); i++)
			;
		if (i == 3)
			return loom_err_set(err, LOOM_E_PARAMS, field, "%s.%s: unknown field", field, key);
	}
	for (size_t i = 0; i < 3; i++) {
		json_int_t n;
		int ret = sig_int(o, names[i], 0, UINT32_MAX, &n, err);

		if (ret) {
			loom_err_prefix(err, field);
			if (err) {
				char msg[sizeof(err->msg)];

				snprintf(msg, sizeof(msg), "%s.%s", field, err->msg);
				memcpy(err->msg, msg, sizeof(msg));
			}
			return ret;
		}
		*dst[i] = (uint32_t)n;
	}
	return 0;
}

int cluster_signal_decode(const char *agent, uint64_t seq, const char *text, size_t len, struct cluster_signal *out,
			  struct loom_err *err)
{
	static const char *const common[] = { "seq", "previous", "time", "kind" };
	static const char *const carrier[] = { "vtep", "access_port", "up" };
	static const char *const hca_port[] = { "sm", "node", "port", "result", "state" };
	static const char *const hca_ctr[] = { "sm", "node", "port", "before", "after" };
	const char *const *own;
	json_error_t jerr;
	json_t *j = json_loadb(text, len, 0, &jerr), *v;
	const char *key, *kind;
	json_int_t n;
	int ret = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!j)
		return loom_err_set(err, LOOM_E_PARSE, "", "not JSON: %s (line %d)", jerr.text, jerr.line);
	if (!json_is_object(j)) {
		loom_err_set(err, LOOM_E_PARAMS, "", "not an object");
		goto out;
	}
	kind = json_string_value(json_object_get(j, "kind"));
	for (n = 0; kind && n < 3 && strcmp(kind, signal_kinds[n]); n++)
		;
	if (!kind || n == 3) {
		loom_err_set(err, LOOM_E_PARAMS, "kind", "kind: missing or none of carrier, hca_port, hca_counters");
		goto out;
	}
	out->kind = (enum cluster_signal_kind)n;
	own = out->kind == CLUSTER_SIG_CARRIER ? carrier : out->kind == CLUSTER_SIG_HCA_PORT ? hca_port : hca_ctr;
	json_object_foreach(j, key, v) {
		bool known = false;

		for (size_t i = 0; i < 4; i++)
			known |= !strcmp(key, common[i]);
		for (size_t i = 0; i < (out->kind == CLUSTER_SIG_CARRIER ? 3u : 5u); i++)
			known |= !strcmp(key, own[i]);
		if (!known) {
			loom_err_set(err, LOOM_E_PARAMS, key, "%s: unknown field for kind %s", key, kind);
			goto out;
		}
	}
	if (sig_int(j, "seq", 1, INT64_MAX, &n, err))
		goto out;
	if ((uint64_t)n != seq) {
		loom_err_set(err, LOOM_E_PARAMS, "seq", "seq: %" JSON_INTEGER_FORMAT " is not its key's %" PRIu64, n,
			     seq);
		goto out;
	}
	out->seq = seq;
	if (sig_int(j, "previous", 0, (json_int_t)seq - 1, &n, err))
		goto out;
	out->previous = (uint64_t)n;
	if (sig_int(j, "time", 1, INT64_MAX, &n, err))
		goto out;
	out->time = n;
	if (out->kind == CLUSTER_SIG_CARRIER) {
		struct carrier_change *c = &out->carrier;

		if (sig_str(j, "vtep", c->vtep, sizeof(c->vtep), err)
		    || sig_str(j, "access_port", c->access_port, sizeof(c->access_port), err))
			goto out;
		if (strcmp(c->vtep, agent)) {
			loom_err_set(err, LOOM_E_PARAMS, "vtep", "vtep: \"%s\" is not the agent's own VTEP \"%s\"",
				     c->vtep, agent);
			goto out;
		}
		if (!json_is_boolean(json_object_get(j, "up"))) {
			loom_err_set(err, LOOM_E_PARAMS, "up", "up: missing or not true or false");
			goto out;
		}
		c->up = json_is_true(json_object_get(j, "up"));
	} else {
		struct hca_signal *h = &out->hca;

		if (sig_str(j, "sm", h->sm, sizeof(h->sm), err) || sig_str(j, "node", h->node, sizeof(h->node), err)
		    || sig_str(j, "port", h->port, sizeof(h->port), err))
			goto out;
		if (strcmp(h->sm, agent)) {
			loom_err_set(err, LOOM_E_PARAMS, "sm", "sm: \"%s\" is not the agent's own subnet manager \"%s\"",
				     h->sm, agent);
			goto out;
		}
		if (out->kind == CLUSTER_SIG_HCA_PORT) {
			if (sig_int(j, "result", -4095, 0, &n, err))
				goto out;
			h->result = (int)n;
			if (sig_int(j, "state", 0, 5, &n, err))
				goto out;
			h->state = (unsigned int)n;
		} else {
			h->counters = true;
			if (sig_counters(j, "before", &h->prev, err) || sig_counters(j, "after", &h->cur, err))
				goto out;
		}
	}
	ret = 0;
out:
	json_decref(j);
	if (ret)
		memset(out, 0, sizeof(*out));
	return ret;
}

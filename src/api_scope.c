/*
 * src/api_scope.c: tenant-scoped access (src/api_scope.h).
 *
 * A tenant:NAME principal (a certificate rule or a tenant_group of
 * loomd.conf) may call the methods of the table below and nothing else:
 * anything not listed is permission_denied whatever its parameters, so a
 * method added later is closed to tenants until it is scoped here.
 *
 * "Another tenant's object answers exactly like a name that does not
 * exist" is done by construction rather than by copying each method's
 * wording: the foreign name is swapped for one that exists nowhere, the
 * method runs (and fails, or answers about nothing), and the swapped name
 * is put back into what it said.  The reply is then the one a missing
 * name gets, byte for byte.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/api_scope.h"
#include "store/store.h"

enum scope {
	SCOPE_TENANT_LIST,	/* tenant.list: only its own */
	SCOPE_TENANT_NAME,	/* "name" is a tenant */
	SCOPE_TENANT_PARAM,	/* "tenant" is a tenant (its own when absent) */
	SCOPE_SEGMENT,		/* "segment" is TENANT/NAME */
	SCOPE_SEGMENT_NODE,	/* "segment", and "node" must not be another tenant's */
	SCOPE_STATUS,		/* status.show: "segment" optional, the result cut down */
	SCOPE_EVENTS,		/* events.subscribe: "node" must be assigned to it; the stream filtered */
	SCOPE_GPU,		/* gpu.plan/apply/release: "tenant" its own, "node" assigned to it */
	SCOPE_GPU_SHOW,		/* gpu.show: its own instances on nodes assigned to it */
	SCOPE_GPU_COMPACT,	/* gpu.compact: a node assigned to it, whose GPUs hold only its instances */
};

static const struct {
	const char *method;
	enum scope scope;
} scoped[] = {
	{ "events.subscribe", SCOPE_EVENTS },
	{ "gpu.apply", SCOPE_GPU },
	{ "gpu.compact", SCOPE_GPU_COMPACT },
	{ "gpu.plan", SCOPE_GPU },
	{ "gpu.release", SCOPE_GPU },
	{ "gpu.show", SCOPE_GPU_SHOW },
	{ "segment.attach", SCOPE_SEGMENT_NODE },
	{ "segment.create", SCOPE_TENANT_PARAM },
	{ "segment.delete", SCOPE_SEGMENT },
	{ "segment.detach", SCOPE_SEGMENT_NODE },
	{ "segment.list", SCOPE_TENANT_PARAM },
	{ "segment.show", SCOPE_SEGMENT },
	{ "status.show", SCOPE_STATUS },
	{ "tenant.list", SCOPE_TENANT_LIST },
	{ "tenant.show", SCOPE_TENANT_NAME },
};

static int scope_of(const char *method)
{
	for (size_t i = 0; i < sizeof(scoped) / sizeof(scoped[0]); i++)
		if (strcmp(scoped[i].method, method) == 0)
			return (int)scoped[i].scope;
	return -1;
}

bool api_scope_allowed(const char *method)
{
	return scope_of(method) >= 0;
}

/* A tenant name, and a node name, that exist nowhere. */
static void absent_tenant(const struct model *m, char out[LOOM_NAME_MAX])
{
	for (unsigned int i = 0;; i++) {
		snprintf(out, LOOM_NAME_MAX, "zz-absent-tenant-%u", i);
		if (!model_tenant(m, out))
			return;
	}
}

static void absent_node(const struct topology *t, char out[LOOM_NAME_MAX])
{
	for (unsigned int i = 0;; i++) {
		snprintf(out, LOOM_NAME_MAX, "zz-absent-node-%u", i);
		if (!t || !topology_node(t, out))
			return;
	}
}

/* @s with every @from replaced by @to, in new memory (NULL: none to replace, or no memory). */
static char *replaced(const char *s, const char *from, const char *to)
{
	size_t lf = strlen(from), lt = strlen(to), n = 0, len;
	const char *p, *q;
	char *out, *o;

	for (p = s; lf && (p = strstr(p, from)); p += lf)
		n++;
	if (!n)
		return NULL;
	len = strlen(s) + n * lt + 1;
	out = malloc(len);
	if (!out)
		return NULL;
	for (o = out, q = s; (p = strstr(q, from)); q = p + lf) {
		memcpy(o, q, (size_t)(p - q));
		o += p - q;
		memcpy(o, to, lt);
		o += lt;
	}
	strcpy(o, q);
	return out;
}

/* A string in @params swapped for another: put back after the call. */
struct swap {
	const char *key;
	char original[2 * LOOM_NAME_MAX + 2];
	char absent[LOOM_NAME_MAX];
	char absent_value[2 * LOOM_NAME_MAX + 2];
};

static void swap_set(json_t *params, struct swap *sw, const char *key, const char *value, const char *absent,
		     const char *rest)
{
	sw->key = key;
	snprintf(sw->original, sizeof(sw->original), "%s", value);
	snprintf(sw->absent, sizeof(sw->absent), "%s", absent);
	snprintf(sw->absent_value, sizeof(sw->absent_value), "%s%s%s", absent, rest ? "/" : "", rest ? rest : "");
	json_object_set_new(params, key, json_string(sw->absent_value));
}

/* The other tenant's name in a TENANT/NAME @ref (or the whole of @ref). */
static void swap_segment(const struct model *m, const char *own, json_t *params, struct swap *sw)
{
	const char *ref = json_string_value(json_object_get(params, "segment"));
	const char *slash = ref ? strchr(ref, '/') : NULL;
	char absent[LOOM_NAME_MAX];

	if (!slash || ((size_t)(slash - ref) == strlen(own) && strncmp(ref, own, strlen(own)) == 0))
		return;
	char theirs[LOOM_NAME_MAX + 1], rest[LOOM_NAME_MAX + 1];

	absent_tenant(m, absent);
	/* Copied first: swapping the parameter frees the string @ref points into. */
	snprintf(theirs, sizeof(theirs), "%.*s", (int)(slash - ref), ref);
	snprintf(rest, sizeof(rest), "%s", slash + 1);
	swap_set(params, sw, "segment", ref, absent, rest);
	/* What is put back is the tenant part: the rest is the caller's own text. */
	snprintf(sw->original, sizeof(sw->original), "%s", theirs);
}

/* Which tenants' MIG instances are on @node: bit 0 its own, bit 1 another's. */
static int node_instances(struct loomd *d, const char *own, const char *node)
{
	struct gpu_inst_rec *recs = NULL;
	size_t n = 0;
	int found = 0;

	if (store_gpu_list(d->store, &recs, &n))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(recs[i].node, node) == 0)
			found |= strcmp(recs[i].tenant, own) ? 2 : 1;
	free(recs);
	return found;
}

bool api_scope_node_mine(struct loomd *d, const char *tenant, const char *node)
{
	const struct model *m = &d->model;

	for (size_t i = 0; i < m->n_attachments; i++)
		if (strcmp(m->attachments[i].node, node) == 0 && strcmp(m->attachments[i].tenant, tenant) == 0)
			return true;
	return node_instances(d, tenant, node) & 1;
}

/*
 * Is @node another tenant's, as far as @own may know?  For attach: another
 * tenant uses it and it is not assigned to @own (a soft tenant may attach
 * a node it shares with other soft tenants, once it is assigned to it);
 * for detach: it carries none of @own's attachments and some of another's.
 */
static bool node_foreign(struct loomd *d, const char *own, const char *node, bool attach)
{
	const struct model *m = &d->model;
	bool mine = false, theirs = false;

	for (size_t i = 0; i < m->n_attachments; i++) {
		if (strcmp(m->attachments[i].node, node))
			continue;
		if (strcmp(m->attachments[i].tenant, own) == 0)
			mine = true;
		else
			theirs = true;
	}
	if (attach && theirs && !mine)
		mine = node_instances(d, own, node) & 1;
	return theirs && !mine;
}

/* For gpu.* and events: a node not assigned to @own is one that does not exist. */
static bool node_hidden(struct loomd *d, const char *own, const char *node)
{
	return !api_scope_node_mine(d, own, node);
}

/* Does @msg name a tenant other than @own ('T', "T/...")? */
static bool names_other_tenant(const struct model *m, const char *own, const char *msg)
{
	for (size_t i = 0; i < m->n_tenants; i++) {
		const char *t = m->tenants[i]->name, *p = msg;
		size_t n = strlen(t);

		if (strcmp(t, own) == 0)
			continue;
		while ((p = strstr(p, t))) {
			bool start = p == msg || !(p[-1] == '-' || (p[-1] >= 'a' && p[-1] <= 'z')
						   || (p[-1] >= '0' && p[-1] <= '9'));

			if (start && (p[n] == '/' || p[n] == '\'' || p[n] == '"' || p[n] == ' ' || !p[n]))
				return true;
			p += n;
		}
	}
	return false;
}

static void status_cut(json_t *result, const char *own)
{
	json_t *segs = json_object_get(result, "segments"), *kept = json_array(), *x;
	size_t i, n = strlen(own);

	json_array_foreach(segs, i, x) {
		const char *s = json_string_value(json_object_get(x, "segment"));

		if (s && strncmp(s, own, n) == 0 && s[n] == '/')
			json_array_append(kept, x);
	}
	json_object_set_new(result, "segments", kept);
	/* Per target counts and GPU slices add up every tenant's: not shown. */
	json_object_set_new(result, "targets", json_array());
	json_object_set_new(result, "gpus", json_array());
}

/* gpu.show: its own instances only; a GPU it shares loses what adds up others'. */
static void gpu_show_cut(json_t *result, const char *own)
{
	json_t *g, *x;
	size_t i, j;

	json_array_foreach(result, i, g) {
		json_t *kept = json_array();
		bool others = false;

		json_array_foreach(json_object_get(g, "instances"), j, x) {
			const char *t = json_string_value(json_object_get(x, "tenant"));

			if (t && strcmp(t, own) == 0)
				json_array_append(kept, x);
			else
				others = true;
		}
		json_object_set_new(g, "instances", kept);
		if (others) {
			json_object_del(g, "picture");
			json_object_del(g, "free");
			json_object_del(g, "apply");
		}
	}
}

/* A state in which a node is still in a tenant's hands. */
static bool state_held(const char *to)
{
	return to && (strcmp(to, "assigned") == 0 || strcmp(to, "cordoned") == 0 || strcmp(to, "draining") == 0);
}

json_t *api_scope_nodes(struct loomd *d, const char *tenant)
{
	json_t *set = json_object();
	struct gpu_inst_rec *recs = NULL;
	size_t n = 0;

	for (size_t i = 0; set && i < d->model.n_attachments; i++)
		if (strcmp(d->model.attachments[i].tenant, tenant) == 0)
			json_object_set_new(set, d->model.attachments[i].node, json_true());
	if (set && store_gpu_list(d->store, &recs, &n) == 0)
		for (size_t i = 0; i < n; i++)
			if (strcmp(recs[i].tenant, tenant) == 0)
				json_object_set_new(set, recs[i].node, json_true());
	free(recs);
	return set;
}

json_t *api_scope_event(struct loomd *d, const char *tenant, json_t *seen, json_t *ev)
{
	const char *node = json_string_value(json_object_get(ev, "node"));
	const char *reason = json_string_value(json_object_get(ev, "reason"));
	bool mine;
	json_t *out;

	if (!node)
		return NULL;
	mine = api_scope_node_mine(d, tenant, node);
	if (!mine && !json_object_get(seen, node))
		return NULL;
	/* Kept while the node is in its hands: the event that takes it out
	 * (a drain's confirmation, say) still goes out, the next ones do not. */
	if (mine || state_held(json_string_value(json_object_get(ev, "to"))))
		json_object_set_new(seen, node, json_true());
	else
		json_object_del(seen, node);
	out = json_deep_copy(ev);
	if (out && reason && names_other_tenant(&d->model, tenant, reason))
		json_object_set_new(out, "reason", json_string("(it involves another tenant's objects)"));
	return out;
}

int api_scope_run(struct api_call *call, const struct api_method *m, json_t *params, json_t **result,
		  struct loom_err *err)
{
	const struct model *model = &call->d->model;
	const char *own = call->peer->tenant, *v;
	struct swap sw[2] = { { 0 } };
	char absent[LOOM_NAME_MAX];
	int scope, ret;

	if (call->peer->role != ROLE_TENANT)
		return m->fn(call, params, result, err);
	scope = scope_of(m->name);
	if (scope < 0)
		return loom_err_set(err, LOOM_E_PERMISSION, "method", "%s may not call %s: a tenant:%s "
				    "principal may use only its own segments, attachments and GPU instances",
				    call->peer->principal, m->name, own);
	if (!params)
		return m->fn(call, params, result, err);
	switch ((enum scope)scope) {
	case SCOPE_TENANT_LIST:
		break;
	case SCOPE_TENANT_NAME:
	case SCOPE_TENANT_PARAM: {
		const char *key = scope == SCOPE_TENANT_NAME ? "name" : "tenant";

		v = json_string_value(json_object_get(params, key));
		if (!json_object_get(params, key) && scope == SCOPE_TENANT_PARAM
		    && strcmp(m->name, "segment.list") == 0) {
			json_object_set_new(params, key, json_string(own));
		} else if (v && strcmp(v, own)) {
			absent_tenant(model, absent);
			swap_set(params, &sw[0], key, v, absent, NULL);
		}
		break;
	}
	case SCOPE_STATUS:
	case SCOPE_SEGMENT:
	case SCOPE_SEGMENT_NODE:
		swap_segment(model, own, params, &sw[0]);
		v = json_string_value(json_object_get(params, "node"));
		if (scope == SCOPE_SEGMENT_NODE && v
		    && node_foreign(call->d, own, v, strcmp(m->name, "segment.attach") == 0)) {
			absent_node(call->d->topo, absent);
			swap_set(params, &sw[1], "node", v, absent, NULL);
		}
		break;
	case SCOPE_EVENTS:
	case SCOPE_GPU:
	case SCOPE_GPU_SHOW:
	case SCOPE_GPU_COMPACT:
		v = json_string_value(json_object_get(params, "tenant"));
		if (scope == SCOPE_GPU_SHOW && !json_object_get(params, "tenant")) {
			json_object_set_new(params, "tenant", json_string(own));
		} else if (scope != SCOPE_EVENTS && scope != SCOPE_GPU_COMPACT && v && strcmp(v, own)) {
			absent_tenant(model, absent);
			swap_set(params, &sw[0], "tenant", v, absent, NULL);
		}
		v = json_string_value(json_object_get(params, "node"));
		if (scope == SCOPE_GPU_COMPACT && !v && json_object_get(params, "node") == NULL)
			return loom_err_set(err, LOOM_E_PARAMS, "node", "a tenant:%s principal compacts one node "
					    "at a time: name one assigned to %s", own, own);
		if (v && node_hidden(call->d, own, v)) {
			absent_node(call->d->topo, absent);
			swap_set(params, &sw[1], "node", v, absent, NULL);
		} else if (v && scope == SCOPE_GPU_COMPACT && (node_instances(call->d, own, v) & 2)) {
			/* Compaction moves every instance of a GPU: another's work would stop. */
			return loom_err_set(err, LOOM_E_POLICY, "node", "refused: it would involve another "
					    "tenant's objects");
		}
		break;
	}
	ret = m->fn(call, params, result, err);
	/* Before the swapped names are put back: those are the caller's own words. */
	if (ret && names_other_tenant(model, own, err->msg))
		snprintf(err->msg, sizeof(err->msg), "refused: it would involve another tenant's objects");
	for (size_t i = 0; i < 2; i++) {
		if (!sw[i].key)
			continue;
		char *msg = replaced(err->msg, sw[i].absent, sw[i].original);

		if (msg) {
			snprintf(err->msg, sizeof(err->msg), "%s", msg);
			free(msg);
		}
		if (*result) {
			char *text = json_dumps(*result, JSON_COMPACT | JSON_ENCODE_ANY);
			char *back = text ? replaced(text, sw[i].absent, sw[i].original) : NULL;

			if (back) {
				json_decref(*result);
				*result = json_loads(back, JSON_DECODE_ANY, NULL);
			}
			free(back);
			free(text);
		}
	}
	if (ret == 0 && *result) {
		if (scope == SCOPE_TENANT_LIST) {
			json_t *kept = json_array(), *x;
			size_t i;

			json_array_foreach(*result, i, x)
				if (json_string_value(json_object_get(x, "name"))
				    && strcmp(json_string_value(json_object_get(x, "name")), own) == 0)
					json_array_append(kept, x);
			json_decref(*result);
			*result = kept;
		} else if (scope == SCOPE_STATUS) {
			status_cut(*result, own);
		} else if (scope == SCOPE_GPU_SHOW) {
			gpu_show_cut(*result, own);
		}
	}
	return ret;
}

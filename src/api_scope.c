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

enum scope {
	SCOPE_TENANT_LIST,	/* tenant.list: only its own */
	SCOPE_TENANT_NAME,	/* "name" is a tenant */
	SCOPE_TENANT_PARAM,	/* "tenant" is a tenant (its own when absent) */
	SCOPE_SEGMENT,		/* "segment" is TENANT/NAME */
	SCOPE_SEGMENT_NODE,	/* "segment", and "node" must not be another tenant's */
	SCOPE_STATUS,		/* status.show: "segment" optional, the result cut down */
};

static const struct {
	const char *method;
	enum scope scope;
} scoped[] = {
	{ "gpu.release", SCOPE_TENANT_PARAM },
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

/* Is @node another tenant's (an attachment of it in another tenant), for attach;
 * not its own (no attachment of it in its tenant), for detach? */
static bool node_foreign(const struct model *m, const char *own, const char *node, bool attach)
{
	bool mine = false, theirs = false;

	for (size_t i = 0; i < m->n_attachments; i++) {
		if (strcmp(m->attachments[i].node, node))
			continue;
		if (strcmp(m->attachments[i].tenant, own) == 0)
			mine = true;
		else
			theirs = true;
	}
	return attach ? theirs : !mine && theirs;
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
		    && node_foreign(model, own, v, strcmp(m->name, "segment.attach") == 0)) {
			absent_node(call->d->topo, absent);
			swap_set(params, &sw[1], "node", v, absent, NULL);
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
		}
	}
	return ret;
}

/*
 * src/api_tenancy.c: the tenant.*, segment.*, status.show and intent.*
 * methods.  A change is made in the model first (tenancy/ checks
 * everything and changes nothing on error), then in the store.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/param.h"
#include "src/api_attach.h"
#include "src/api_gpu.h"
#include "src/api_life.h"
#include "src/api_tenancy.h"
#include "src/reconcile.h"
#include "tenancy/intent.h"

/* "tenant/name" -> its two halves; checks both are names. */
static int segment_ref(const char *ref, const char *field, char tenant[LOOM_NAME_MAX],
		       char name[LOOM_NAME_MAX], struct loom_err *err)
{
	const char *slash = strchr(ref, '/');
	size_t tl = slash ? (size_t)(slash - ref) : 0;

	if (!slash || tl == 0 || tl >= LOOM_NAME_MAX || strlen(slash + 1) >= LOOM_NAME_MAX) {
		return loom_err_set(err, LOOM_E_PARAMS, field,
				    "'%s' must name a segment as TENANT/SEGMENT (got '%s')", field, ref);
	}
	memcpy(tenant, ref, tl);
	tenant[tl] = '\0';
	strcpy(name, slash + 1);
	if (!name_is_valid(tenant) || !name_is_valid(name))
		return loom_err_set(err, LOOM_E_PARAMS, field,
				    "'%s' must be TENANT/SEGMENT, both lowercase DNS labels (got '%s')", field, ref);
	return 0;
}

static const struct segment *segment_find(struct loomd *d, json_t *params, const char *field,
					  struct loom_err *err)
{
	char tenant[LOOM_NAME_MAX], name[LOOM_NAME_MAX];
	const struct segment *s;
	const char *ref;

	if (param_string(params, field, true, &ref, err) || segment_ref(ref, field, tenant, name, err))
		return NULL;
	s = model_segment(&d->model, tenant, name);
	if (!s)
		loom_err_set(err, LOOM_E_NOT_FOUND, field, "no segment '%s'", ref);
	return s;
}

static int do_tenant_add(struct api_call *call, const struct tenant *t, struct loom_err *err)
{
	struct loomd *d = call->d;

	if (model_tenant_add(&d->model, d->topo, t, err))
		return -EINVAL;
	call->model_touched = true;
	if (store_tenant_put(d->store, model_tenant(&d->model, t->name)))
		return store_failed(call, err);
	return 0;
}

static int do_tenant_update(struct api_call *call, const struct tenant *t, struct loom_err *err)
{
	struct loomd *d = call->d;

	if (model_tenant_update(&d->model, d->topo, t, err))
		return -EINVAL;
	call->model_touched = true;
	if (store_tenant_put(d->store, model_tenant(&d->model, t->name)))
		return store_failed(call, err);
	return 0;
}

/* The tenant's row again when a segment change gave or took its L3 VNI. */
static int l3vni_store(struct api_call *call, const char *tenant, uint32_t before, struct loom_err *err)
{
	struct loomd *d = call->d;
	const struct tenant *t = model_tenant(&d->model, tenant);
	const struct id_hold *h;

	if (!t || t->l3vni == before)
		return 0;
	if (store_tenant_put(d->store, t))
		return store_failed(call, err);
	for (size_t i = 0; before && i < d->model.n_holds; i++) {
		h = &d->model.holds[i];
		if (h->type == SEG_ETHERNET && h->id == before && store_hold_put(d->store, h))
			return store_failed(call, err);
	}
	return 0;
}

static uint32_t tenant_l3vni(const struct loomd *d, const char *tenant)
{
	const struct tenant *t = model_tenant(&d->model, tenant);

	return t ? t->l3vni : 0;
}

static int do_segment_add(struct api_call *call, struct segment *s, struct loom_err *err)
{
	struct loomd *d = call->d;
	uint32_t l3vni = tenant_l3vni(d, s->tenant);

	loomd_operator_pkeys_refresh(d);	/* the pool skips the operator's P_Keys */
	if (model_segment_add(&d->model, d->topo, s, err))
		return -EINVAL;
	call->model_touched = true;
	if (store_segment_put(d->store, model_segment(&d->model, s->tenant, s->name)))
		return store_failed(call, err);
	return l3vni_store(call, s->tenant, l3vni, err);
}

/* Detaches every attachment of one segment. */
static int do_detach_all(struct api_call *call, const char *tenant, const char *segment,
			 struct loom_err *err)
{
	struct model *m = &call->d->model;

	for (size_t i = m->n_attachments; i-- > 0;) {
		const struct attachment *a = &m->attachments[i];

		if (strcmp(a->tenant, tenant) == 0 && strcmp(a->segment, segment) == 0
		    && api_detach(call, a, err))
			return -EINVAL;
	}
	return 0;
}

static int do_segment_del(struct api_call *call, const char *tenant, const char *name,
			  bool cascade, struct loom_err *err)
{
	struct loomd *d = call->d;
	char t[LOOM_NAME_MAX], n[LOOM_NAME_MAX];
	const struct segment *s = model_segment(&d->model, tenant, name);
	enum seg_type type;
	uint32_t id, l3vni;

	if (!s)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "segment", "no segment '%s/%s'", tenant, name);
	l3vni = tenant_l3vni(d, tenant);
	snprintf(t, sizeof(t), "%s", tenant);	/* the arguments may point into the model */
	snprintf(n, sizeof(n), "%s", name);
	type = s->type;
	id = type == SEG_ETHERNET ? s->vni : s->pkey;
	if (cascade && do_detach_all(call, t, n, err))
		return -EINVAL;
	if (model_segment_del(&d->model, t, n, err))
		return -EINVAL;
	call->model_touched = true;
	if (store_segment_delete(d->store, t, n))
		return store_failed(call, err);
	/* The ID stays held for this tenant until no target carries it. */
	for (size_t i = 0; i < d->model.n_holds; i++) {
		const struct id_hold *h = &d->model.holds[i];

		if (h->type == type && h->id == id && store_hold_put(d->store, h))
			return store_failed(call, err);
	}
	return l3vni_store(call, t, l3vni, err);
}

static int do_tenant_del(struct api_call *call, const char *name, bool cascade, struct loom_err *err)
{
	struct loomd *d = call->d;
	char t[LOOM_NAME_MAX];

	if (!model_tenant(&d->model, name))
		return loom_err_set(err, LOOM_E_NOT_FOUND, "name", "no tenant '%s'", name);
	snprintf(t, sizeof(t), "%s", name);
	/* MIG instances go first (their rail ports with them), or the delete waits. */
	if (cascade) {
		if (gpu_release_tenant(call, t, err) < 0)
			return -EINVAL;
	} else {
		int n = gpu_tenant_count(d, t);

		if (n < 0)
			return loom_err_set(err, LOOM_E_STORE, "", "cannot read the MIG instances: %s",
					    store_errmsg(d->store));
		if (n > 0)
			return loom_err_set(err, LOOM_E_IN_USE, "name",
					    "tenant %s holds %d MIG instance(s); release them (loomctl gpu release %s) "
					    "or delete with cascade", t, n, t);
	}
	if (cascade) {
		for (size_t i = d->model.n_segments; i-- > 0;) {
			const struct segment *s = &d->model.segments[i];

			if (strcmp(s->tenant, t) == 0 && do_segment_del(call, t, s->name, true, err))
				return -EINVAL;
		}
	}
	if (model_tenant_del(&d->model, t, err))
		return -EINVAL;
	call->model_touched = true;
	if (store_tenant_delete(d->store, t))
		return store_failed(call, err);
	return 0;
}

static json_t *tenant_json_full(const struct model *m, const struct tenant *t)
{
	json_t *o = tenant_to_json(t);
	json_t *segs = json_array();

	/* Derived, read-only: tenant.update drops it before parsing. */
	if (t->l3vni) {
		char rd[32], rt[32], vrf[16];

		tenant_rd_rt(&m->pools, t, rd, rt);
		tenant_vrf_name(t->l3vni, vrf);
		/* The RD is per VTEP (VTEP-IP:L3VNI mod 65536): desired.show has it. */
		json_object_set_new(o, "routing", json_pack("{s:I,s:s,s:s}", "l3vni",
							    (json_int_t)t->l3vni, "vrf", vrf, "rt", rt));
	}
	for (size_t i = 0; i < m->n_segments; i++)
		if (strcmp(m->segments[i].tenant, t->name) == 0)
			json_array_append_new(segs, json_string(m->segments[i].name));
	json_object_set_new(o, "segments", segs);
	return o;
}

int m_tenant_create(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	struct tenant t;
	int ret;

	if (tenant_from_json(params, &t, err))
		return -EINVAL;
	ret = do_tenant_add(call, &t, err);
	if (!ret)
		*result = tenant_json_full(&call->d->model, model_tenant(&call->d->model, t.name));
	tenant_release(&t);
	return ret;
}

/* Fields not given keep their current values. */
int m_tenant_update(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	const struct tenant *cur;
	const char *name;
	json_t *merged;
	struct tenant t;
	int ret;

	if (param_string(params, "name", true, &name, err))
		return -EINVAL;
	cur = model_tenant(&call->d->model, name);
	if (!cur)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "name", "no tenant '%s'", name);
	merged = tenant_to_json(cur);
	json_object_update(merged, params);
	ret = tenant_from_json(merged, &t, err);
	json_decref(merged);
	if (ret)
		return -EINVAL;
	ret = do_tenant_update(call, &t, err);
	if (!ret)
		*result = tenant_json_full(&call->d->model, model_tenant(&call->d->model, t.name));
	tenant_release(&t);
	return ret;
}

int m_tenant_list(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { NULL };
	const struct model *m = &call->d->model;

	if (params_only(params, allowed, err))
		return -EINVAL;
	*result = json_array();
	for (size_t i = 0; i < m->n_tenants; i++)
		json_array_append_new(*result, tenant_json_full(m, m->tenants[i]));
	return 0;
}

int m_tenant_show(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "name", NULL };
	const struct tenant *t;
	const char *name;

	if (params_only(params, allowed, err) || param_string(params, "name", true, &name, err))
		return -EINVAL;
	t = model_tenant(&call->d->model, name);
	if (!t)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "name", "no tenant '%s'", name);
	*result = tenant_json_full(&call->d->model, t);
	return 0;
}

int m_tenant_delete(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "name", "cascade", NULL };
	const char *name;
	bool cascade;

	if (params_only(params, allowed, err) || param_string(params, "name", true, &name, err)
	    || param_bool(params, "cascade", &cascade, err))
		return -EINVAL;
	if (do_tenant_del(call, name, cascade, err))
		return -EINVAL;
	*result = json_pack("{s:s}", "deleted", name);
	return 0;
}

static json_t *segment_json_full(const struct model *m, const struct segment *s)
{
	json_t *o = segment_to_json(s);
	json_t *att = json_array();

	for (size_t i = 0; i < m->n_attachments; i++) {
		const struct attachment *a = &m->attachments[i];

		if (strcmp(a->tenant, s->tenant) == 0 && strcmp(a->segment, s->name) == 0)
			json_array_append_new(att, attachment_to_json(a));
	}
	json_object_set_new(o, "attachments", att);
	return o;
}

int m_segment_create(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	json_t *fields = json_copy(params);
	struct segment s;
	const char *tenant;
	int ret = -EINVAL;

	if (!fields)
		return -ENOMEM;
	if (param_string(params, "tenant", true, &tenant, err))
		goto out;
	if (!model_tenant(&call->d->model, tenant)) {
		loom_err_set(err, LOOM_E_NOT_FOUND, "tenant", "no tenant '%s'", tenant);
		goto out;
	}
	json_object_del(fields, "tenant");
	if (segment_from_json(fields, tenant, &s, err))
		goto out;
	ret = do_segment_add(call, &s, err);
	if (!ret)
		*result = segment_json_full(&call->d->model, model_segment(&call->d->model, s.tenant, s.name));
out:
	json_decref(fields);
	return ret;
}

int m_segment_list(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "tenant", NULL };
	const struct model *m = &call->d->model;
	const char *tenant;

	if (params_only(params, allowed, err) || param_string(params, "tenant", false, &tenant, err))
		return -EINVAL;
	if (tenant && !model_tenant(m, tenant))
		return loom_err_set(err, LOOM_E_NOT_FOUND, "tenant", "no tenant '%s'", tenant);
	*result = json_array();
	for (size_t i = 0; i < m->n_segments; i++)
		if (!tenant || strcmp(m->segments[i].tenant, tenant) == 0)
			json_array_append_new(*result, segment_json_full(m, &m->segments[i]));
	return 0;
}

int m_segment_show(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "segment", NULL };
	const struct segment *s;

	if (params_only(params, allowed, err))
		return -EINVAL;
	s = segment_find(call->d, params, "segment", err);
	if (!s)
		return -EINVAL;
	*result = segment_json_full(&call->d->model, s);
	if (call->d->rec) {
		json_t *st = reconciler_status(call->d->rec, s->tenant, s->name);

		json_object_set(*result, "status", json_object_get(st, "segments"));
		json_decref(st);
	}
	return 0;
}

int m_status_show(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "segment", NULL };
	char tenant[LOOM_NAME_MAX], name[LOOM_NAME_MAX];
	const char *ref;

	if (params_only(params, allowed, err) || param_string(params, "segment", false, &ref, err))
		return -EINVAL;
	if (ref && segment_ref(ref, "segment", tenant, name, err))
		return -EINVAL;
	if (!call->d->rec) {
		*result = json_pack("{s:[], s:[], s:s}", "segments", "targets", "note",
				    "reconcile = no: loomd drives no targets");
		return 0;
	}
	*result = reconciler_status(call->d->rec, ref ? tenant : NULL, ref ? name : NULL);
	if (!ref)
		gpu_status_unmanaged(call->d, json_object_get(*result, "gpus"));
	return 0;
}

int m_segment_delete(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "segment", "cascade", NULL };
	char tenant[LOOM_NAME_MAX], name[LOOM_NAME_MAX];
	const struct segment *s;
	bool cascade;

	if (params_only(params, allowed, err) || param_bool(params, "cascade", &cascade, err))
		return -EINVAL;
	s = segment_find(call->d, params, "segment", err);
	if (!s)
		return -EINVAL;
	snprintf(tenant, sizeof(tenant), "%s", s->tenant);
	snprintf(name, sizeof(name), "%s", s->name);
	if (do_segment_del(call, tenant, name, cascade, err))
		return -EINVAL;
	*result = json_pack("{s:s++}", "deleted", tenant, "/", name);
	return 0;
}

int m_segment_attach(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	struct attachment a;

	if (attachment_from_json(params, &a, err) || api_attach(call, &a, err))
		return -EINVAL;
	*result = attachment_to_json(&a);
	return 0;
}

int m_segment_detach(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	struct attachment a;

	if (attachment_from_json(params, &a, err) || api_detach(call, &a, err))
		return -EINVAL;
	*result = attachment_to_json(&a);
	return 0;
}

/*
 * The provisioning segment's attachments of nodes that belong there are
 * loomd's (api_provisioning_follow), not the file's: a file naming the
 * provisioning tenant does not detach them.  Drops those detaches from
 * @changes (plain attachments, nothing to free) and returns the new count.
 */
static size_t provisioning_keep(struct loomd *d, struct change *changes, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		const struct attachment *a = &changes[i].attachment;
		struct node_life nl;
		struct loom_err ignored = { 0 };

		if (changes[i].op == CHANGE_DETACH && d->cfg.provisioning_tenant[0] &&
		    strcmp(a->tenant, d->cfg.provisioning_tenant) == 0 &&
		    strcmp(a->segment, d->cfg.provisioning_segment) == 0 &&
		    api_node_life(d, a->node, &nl, &ignored) == 0 && lifecycle_provisioning_ok(nl.state))
			continue;
		if (k != i)
			changes[k] = changes[i];
		k++;
	}
	return k;
}

static int intent_run(struct api_call *call, json_t *params, bool dry_run, json_t **result,
		      struct loom_err *err)
{
	static const char *const allowed[] = { "intent", "dry_run", NULL };
	struct intent *doc = NULL;
	struct change *changes = NULL;
	size_t n = 0;
	json_t *list;
	int ret = -EINVAL;

	if (params_only(params, allowed, err))
		return -EINVAL;
	loomd_operator_pkeys_refresh(call->d);	/* the pool skips the operator's P_Keys */
	if (!json_is_object(json_object_get(params, "intent")))
		return loom_err_set(err, LOOM_E_PARAMS, "intent", "'intent' must be an object {\"tenants\": [...]}");
	if (intent_parse(json_object_get(params, "intent"), &doc, err)) {
		loom_err_prefix(err, "intent");
		return -EINVAL;
	}
	if (intent_plan(&call->d->model, doc, &changes, &n, err)) {
		loom_err_prefix(err, "intent");
		goto out;
	}
	n = provisioning_keep(call->d, changes, n);
	list = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, change_to_json(&changes[i]));
	for (size_t i = 0; !dry_run && i < n; i++) {
		struct change *c = &changes[i];

		switch (c->op) {
		case CHANGE_DETACH:
			ret = api_detach(call, &c->attachment, err);
			break;
		case CHANGE_SEGMENT_DEL:
			ret = do_segment_del(call, c->segment.tenant, c->segment.name, false, err);
			break;
		case CHANGE_TENANT_ADD:
			ret = do_tenant_add(call, &c->tenant, err);
			break;
		case CHANGE_TENANT_UPDATE:
			ret = do_tenant_update(call, &c->tenant, err);
			break;
		case CHANGE_SEGMENT_ADD:
			ret = do_segment_add(call, &c->segment, err);
			break;
		case CHANGE_ATTACH:
			ret = api_attach(call, &c->attachment, err);
			break;
		default:
			ret = loom_err_set(err, LOOM_E_INTERNAL, "", "unknown change %d", (int)c->op);
		}
		if (ret) {
			char where[32];

			snprintf(where, sizeof(where), "changes[%zu]", i);
			loom_err_prefix(err, where);
			json_decref(list);
			goto out;
		}
	}
	*result = json_pack("{s:b, s:I, s:o}", "applied", !dry_run, "count", (json_int_t)n, "changes", list);
	ret = 0;
out:
	changes_free(&changes, n);
	intent_free(&doc);
	return ret;
}

int m_intent_apply(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	bool dry_run;

	if (param_bool(params, "dry_run", &dry_run, err))
		return -EINVAL;
	return intent_run(call, params, dry_run, result, err);
}

int m_intent_diff(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	return intent_run(call, params, true, result, err);
}

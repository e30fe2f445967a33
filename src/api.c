/*
 * src/api.c: the JSON-RPC methods, dispatched from one table.
 *
 * A method that writes changes the model (tenancy/, which checks
 * everything first and changes nothing on error) and then the store, inside
 * the savepoint the server opened for it.  If a store write fails after the
 * model changed, the method sets call->model_touched and the server reloads
 * the model from the store once the savepoint is rolled back.
 *
 * Parameters are by name; unknown parameters are refused, so a typo never
 * silently does something else.  Every method is documented in docs/api.md.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "src/api-internal.h"
#include "src/daemon.h"
#include "src/reconcile.h"
#include "src/verify.h"
#include "tenancy/compile.h"
#include "tenancy/intent.h"
#include "topology/ibnetdiscover.h"

#define UNUSED_PARAMS(p) (void)(p)

/* ---- parameter helpers ------------------------------------------------ */

/* Refuses any key of @params that is not in the NULL-terminated @allowed. */
int params_only(json_t *params, const char *const *allowed, struct loom_err *err)
{
	const char *key;
	json_t *v;

	json_object_foreach(params, key, v) {
		size_t i;

		for (i = 0; allowed[i]; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (!allowed[i])
			return loom_err_set(err, LOOM_E_PARAMS, key, "unknown parameter '%s'", key);
	}
	return 0;
}

int param_string(json_t *params, const char *key, bool required, const char **out,
			struct loom_err *err)
{
	json_t *v = json_object_get(params, key);

	*out = NULL;
	if (!v) {
		if (required)
			return loom_err_set(err, LOOM_E_PARAMS, key, "missing parameter '%s'", key);
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) == 0)
		return loom_err_set(err, LOOM_E_PARAMS, key, "'%s' must be a non-empty string", key);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return loom_err_set(err, LOOM_E_PARAMS, key, "'%s' must not contain NUL", key);
	*out = json_string_value(v);
	return 0;
}

int param_bool(json_t *params, const char *key, bool *out, struct loom_err *err)
{
	json_t *v = json_object_get(params, key);

	*out = false;
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return loom_err_set(err, LOOM_E_PARAMS, key, "'%s' must be true or false", key);
	*out = json_is_true(v);
	return 0;
}

int param_int(json_t *params, const char *key, json_int_t min, json_int_t max,
		     json_int_t *out, struct loom_err *err)
{
	json_t *v = json_object_get(params, key);

	if (!v)
		return 0;
	if (!json_is_integer(v))
		return loom_err_set(err, LOOM_E_PARAMS, key, "'%s' must be an integer", key);
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		return loom_err_set(err, LOOM_E_RANGE, key, "'%s' must be in %lld..%lld", key,
				    (long long)min, (long long)max);
	*out = json_integer_value(v);
	return 0;
}

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

int store_failed(struct api_call *call, struct loom_err *err)
{
	call->model_touched = true;
	return loom_err_set(err, LOOM_E_STORE, "", "the database refused the change: %s",
			    store_errmsg(call->d->store));
}

/* ---- the changes, model and store together ---------------------------- */

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

static int do_segment_add(struct api_call *call, struct segment *s, struct loom_err *err)
{
	struct loomd *d = call->d;

	if (model_segment_add(&d->model, d->topo, s, err))
		return -EINVAL;
	call->model_touched = true;
	if (store_segment_put(d->store, model_segment(&d->model, s->tenant, s->name)))
		return store_failed(call, err);
	return 0;
}

/*
 * Would this attachment overflow an HCA port's P_Key table?  Uses the
 * capacities the subnet-manager targets read from the fabric (unknown ports
 * are not refused here; the target still refuses to write an overflow).
 */
static int check_pkey_capacity(struct loomd *d, const struct attachment *a, struct loom_err *err)
{
	const struct segment *seg = model_segment(&d->model, a->tenant, a->segment);
	const struct topo_node *node = topology_node(d->topo, a->node);

	if (!d->rec || !seg || seg->type != SEG_INFINIBAND || !node)
		return 0;
	for (size_t i = 0; i < node->n_hca_ports; i++) {
		const struct topo_hca_port *hp = &node->hca_ports[i];
		unsigned int foreign = 0, cap, need = 1;

		if (a->port[0] && strcmp(a->port, hp->name))
			continue;
		cap = reconciler_pkey_capacity(d->rec, hp->guid, &foreign);
		if (!cap)
			continue;
		for (size_t k = 0; k < d->model.n_attachments; k++) {
			const struct attachment *o = &d->model.attachments[k];
			const struct segment *os;

			if (strcmp(o->node, a->node) || (o->port[0] && strcmp(o->port, hp->name)))
				continue;
			os = model_segment(&d->model, o->tenant, o->segment);
			need += os && os->type == SEG_INFINIBAND;
		}
		if (need + foreign > cap)
			return loom_err_set(err, LOOM_E_EXHAUSTED, "port",
					    "port %s:%s (GUID 0x%016llx) has a P_Key table of %u entries "
					    "(NodeInfo.PartitionCap): %u taken by partitions loom does not own, "
					    "and loom would need %u; detach the port from another InfiniBand "
					    "segment first",
					    a->node, hp->name, (unsigned long long)hp->guid, cap, foreign, need);
	}
	return 0;
}

static void life_to_json(json_t *o, const struct node_life *nl);

/* Into the model and the store, past the node's lifecycle (do_attach checks it). */
static int attach_put(struct api_call *call, const struct attachment *a, struct loom_err *err)
{
	struct loomd *d = call->d;

	if (check_pkey_capacity(d, a, err) || model_attach(&d->model, d->topo, a, err))
		return -EINVAL;
	call->model_touched = true;
	if (store_attachment_put(d->store, a))
		return store_failed(call, err);
	return 0;
}

int do_attach(struct api_call *call, const struct attachment *a, struct loom_err *err)
{
	struct loomd *d = call->d;
	struct node_life nl;

	if (life_get(d, a->node, &nl, err) || lifecycle_may_attach(a->node, nl.state, err))
		return -EINVAL;
	/* A node a running replacement brings in is that replacement's alone. */
	if (!call->replacing && loomd_replace_reserved(d, a->node))
		return loom_err_set(err, LOOM_E_STATE, "node",
				    "node %s is reserved: it replaces %s (replacement running; "
				    "see loomctl replace show %s)", a->node,
				    loomd_replace_reserved(d, a->node), a->node);
	if (attach_put(call, a, err))
		return -EINVAL;
	/* The first attachment hands an available node to its tenant. */
	if (nl.state == NODE_AVAILABLE) {
		struct node_life next = nl;

		next.state = NODE_ASSIGNED;
		snprintf(next.reason, sizeof(next.reason), "attached to %s/%s", a->tenant, a->segment);
		if (life_store(call, &nl, &next, node_event_name(NODE_EV_ASSIGN), err))
			return -EINVAL;
	}
	return 0;
}

int do_detach(struct api_call *call, const struct attachment *a, struct loom_err *err)
{
	struct loomd *d = call->d;
	struct attachment copy = *a;	/* @a may point into the model */

	if (model_detach(&d->model, &copy, err))
		return -EINVAL;
	call->model_touched = true;
	if (store_attachment_delete(d->store, &copy))
		return store_failed(call, err);
	return 0;
}

/* Detaches every attachment of one segment. */
static int do_detach_all(struct api_call *call, const char *tenant, const char *segment,
			 struct loom_err *err)
{
	struct model *m = &call->d->model;

	for (size_t i = m->n_attachments; i-- > 0;) {
		const struct attachment *a = &m->attachments[i];

		if (strcmp(a->tenant, tenant) == 0 && strcmp(a->segment, segment) == 0
		    && do_detach(call, a, err))
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
	uint32_t id;

	if (!s)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "segment", "no segment '%s/%s'", tenant, name);
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
	return 0;
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

/* ---- system ------------------------------------------------------------ */

static int m_system_info(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { NULL };
	struct loomd *d = call->d;

	if (params_only(params, allowed, err))
		return -EINVAL;
	*result = json_pack("{s:s, s:I, s:i, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I}, s:{s:s, s:s}, s:I, s:I,"
			    " s:I, s:I}",
			    "version", PACKAGE_VERSION,
			    "started_ns", (json_int_t)d->started_ns,
			    "schema_version", store_schema_version(d->store),
			    "counts", "tenants", (json_int_t)d->model.n_tenants,
			    "segments", (json_int_t)d->model.n_segments,
			    "attachments", (json_int_t)d->model.n_attachments,
			    "pools", "vni_min", (json_int_t)d->model.pools.vni_min,
			    "vni_max", (json_int_t)d->model.pools.vni_max,
			    "pkey_min", (json_int_t)d->model.pools.pkey_min,
			    "pkey_max", (json_int_t)d->model.pools.pkey_max,
			    "paths", "database", d->cfg.database, "topology", d->cfg.topology,
			    "batches", (json_int_t)d->batches,
			    "batched_writes", (json_int_t)d->batched_writes,
			    "clients", (json_int_t)d->n_clients,
			    "subscribers", (json_int_t)d->n_subscribers);
	return *result ? 0 : -ENOMEM;
}

/* ---- tenants ----------------------------------------------------------- */

static json_t *tenant_json_full(const struct model *m, const struct tenant *t)
{
	json_t *o = tenant_to_json(t);
	json_t *segs = json_array();

	for (size_t i = 0; i < m->n_segments; i++)
		if (strcmp(m->segments[i].tenant, t->name) == 0)
			json_array_append_new(segs, json_string(m->segments[i].name));
	json_object_set_new(o, "segments", segs);
	return o;
}

static int m_tenant_create(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
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
static int m_tenant_update(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
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

static int m_tenant_list(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
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

static int m_tenant_show(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
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

static int m_tenant_delete(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
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

/* ---- segments ---------------------------------------------------------- */

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

static int m_segment_create(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
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

static int m_segment_list(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
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

static int m_segment_show(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
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

static int m_status_show(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
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

static int m_segment_delete(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
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

static int m_segment_attach(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	struct attachment a;

	if (attachment_from_json(params, &a, err) || do_attach(call, &a, err))
		return -EINVAL;
	*result = attachment_to_json(&a);
	return 0;
}

static int m_segment_detach(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	struct attachment a;

	if (attachment_from_json(params, &a, err) || do_detach(call, &a, err))
		return -EINVAL;
	*result = attachment_to_json(&a);
	return 0;
}

/* ---- nodes and topology ------------------------------------------------ */

static json_t *json_nullify(json_t *v)
{
	return v ? v : json_null();
}

static json_t *node_json(struct loomd *d, const struct topo_node *n)
{
	const struct model *m = &d->model;
	json_t *o = topo_node_to_json(n);
	struct loom_err lerr = { 0 };
	struct node_life nl;
	char key[LOOM_NAME_MAX + 16], *rdma = NULL;
	json_t *att = json_array();
	json_t *tenants = json_array();

	for (size_t i = 0; i < m->n_attachments; i++) {
		const struct attachment *a = &m->attachments[i];
		size_t k;

		const struct segment *seg;
		json_t *aj;

		if (strcmp(a->node, n->name))
			continue;
		aj = attachment_to_json(a);
		seg = model_segment(m, a->tenant, a->segment);
		if (seg)
			json_object_set_new(aj, "type", json_string(seg_type_name(seg->type)));
		json_array_append_new(att, aj);
		for (k = 0; k < json_array_size(tenants); k++)
			if (strcmp(json_string_value(json_array_get(tenants, k)), a->tenant) == 0)
				break;
		if (k == json_array_size(tenants))
			json_array_append_new(tenants, json_string(a->tenant));
	}
	json_object_set_new(o, "attachments", att);
	json_object_set_new(o, "tenants", tenants);
	if (life_get(d, n->name, &nl, &lerr) == 0)
		life_to_json(o, &nl);
	snprintf(key, sizeof(key), "rdma.%s", n->name);
	if (store_kv_get(d->store, key, &rdma) == 0 && rdma)
		json_object_set_new(o, "rdma", json_loads(rdma, 0, NULL));
	free(rdma);
	json_object_set_new(o, "replacement", json_nullify(loomd_replace_json(d, n->name)));
	return o;
}

static int m_node_list(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "site", NULL };
	const struct topology *t = call->d->topo;
	const char *site;

	if (params_only(params, allowed, err) || param_string(params, "site", false, &site, err))
		return -EINVAL;
	*result = json_array();
	for (size_t i = 0; i < t->n_nodes; i++)
		if (!site || strcmp(site, t->nodes[i].site) == 0)
			json_array_append_new(*result, node_json(call->d, &t->nodes[i]));
	return 0;
}

static int m_node_show(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "name", NULL };
	const struct topo_node *n;
	const char *name;

	if (params_only(params, allowed, err) || param_string(params, "name", true, &name, err))
		return -EINVAL;
	n = topology_node(call->d->topo, name);
	if (!n)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "name", "no node '%s' in the topology", name);
	*result = node_json(call->d, n);
	return 0;
}

/* ---- the node lifecycle ------------------------------------------------ */

/* The node's lifecycle row; a node without one is `available`. */
int life_get(struct loomd *d, const char *name, struct node_life *out, struct loom_err *err)
{
	int ret = store_node_get(d->store, name, out);

	if (ret == -ENOENT) {
		memset(out, 0, sizeof(*out));
		snprintf(out->name, sizeof(out->name), "%s", name);
		out->state = NODE_AVAILABLE;
		out->goal = NODE_AVAILABLE;
		return 0;
	}
	if (ret)
		return loom_err_set(err, LOOM_E_STORE, "", "cannot read the lifecycle of node %s: %s", name,
				    store_errmsg(d->store));
	return 0;
}

static bool node_attached(const struct model *m, const char *node)
{
	for (size_t i = 0; i < m->n_attachments; i++)
		if (strcmp(m->attachments[i].node, node) == 0)
			return true;
	return false;
}

static void life_to_json(json_t *o, const struct node_life *nl)
{
	char when[48] = "";

	if (nl->since_ns) {
		time_t sec = (time_t)(nl->since_ns / 1000000000);
		struct tm tm;

		gmtime_r(&sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	json_object_set_new(o, "state", json_string(node_state_name(nl->state)));
	json_object_set_new(o, "pending", nl->pending ? json_string(node_state_name(nl->goal)) : json_null());
	json_object_set_new(o, "reason", json_string(nl->reason));
	json_object_set_new(o, "since", nl->since_ns ? json_string(when) : json_null());
}

/* Stores the node's new state and its node_events row. */
int life_store(struct api_call *call, const struct node_life *before, struct node_life *after,
	       const char *event, struct loom_err *err)
{
	struct loomd *d = call->d;
	struct node_event_rec ev = {
		.time_ns = now_realtime_ns(),
		.node = after->name,
		.from = before->state,
		.to = after->state,
		.goal = after->goal,
		.pending = after->pending,
		.event = event,
		.reason = after->reason,
		.uid = call->peer->uid,
	};

	after->since_ns = ev.time_ns;
	if (store_node_put(d->store, after) || store_node_event_append(d->store, &ev))
		return store_failed(call, err);
	return 0;
}

/* Removes every attachment of @node, through the same path as segment.detach. */
static int node_detach_all(struct api_call *call, const char *node, json_t *removed,
			   struct loom_err *err)
{
	struct model *m = &call->d->model;

	for (size_t i = m->n_attachments; i-- > 0;) {
		const struct attachment *a = &m->attachments[i];

		if (strcmp(a->node, node))
			continue;
		if (removed)
			json_array_append_new(removed, attachment_to_json(a));
		if (do_detach(call, a, err))
			return -EINVAL;
	}
	return 0;
}

/* A node_events row without a change of state: @event happened to the node. */
static int node_note(struct api_call *call, const struct node_life *life, const char *event,
		     const char *reason, struct loom_err *err)
{
	struct node_event_rec ev = {
		.time_ns = now_realtime_ns(),
		.node = life->name,
		.from = life->state,
		.to = life->state,
		.goal = life->goal,
		.pending = life->pending,
		.event = event,
		.reason = reason,
		.uid = call->peer->uid,
	};

	return store_node_event_append(call->d->store, &ev) ? store_failed(call, err) : 0;
}

/*
 * loomd.conf's provisioning_segment: a node that is registered, verifying
 * or quarantined (lifecycle_provisioning_ok) sits in it with every port that
 * fits, and leaves it with the transition out of those states (one with a
 * network removal has taken it out already).  A node entering one of them
 * while the segment does not exist is refused: a node meant to boot from
 * the provisioning network must not silently sit nowhere.
 */
static int provisioning_follow(struct api_call *call, const char *node, enum node_state from,
			       enum node_state to, struct loom_err *err)
{
	struct loomd *d = call->d;
	const char *tenant = d->cfg.provisioning_tenant, *segment = d->cfg.provisioning_segment;
	bool in = lifecycle_provisioning_ok(to);
	struct attachment a;

	if (!tenant[0] || in == lifecycle_provisioning_ok(from))
		return 0;
	if (!in) {
		for (size_t i = d->model.n_attachments; i-- > 0;) {
			const struct attachment *have = &d->model.attachments[i];

			if (strcmp(have->tenant, tenant) == 0 && strcmp(have->segment, segment) == 0 &&
			    strcmp(have->node, node) == 0 && do_detach(call, have, err))
				return -EINVAL;
		}
		return 0;
	}
	if (!model_segment(&d->model, tenant, segment))
		return loom_err_set(err, LOOM_E_NOT_FOUND, "provisioning_segment",
				    "node %s would be '%s' and so in the provisioning segment %s/%s (loomd.conf "
				    "provisioning_segment), which does not exist: create it, or unset the key",
				    node, node_state_name(to), tenant, segment);
	memset(&a, 0, sizeof(a));
	snprintf(a.tenant, sizeof(a.tenant), "%s", tenant);
	snprintf(a.segment, sizeof(a.segment), "%s", segment);
	snprintf(a.node, sizeof(a.node), "%s", node);
	return attach_put(call, &a, err);
}

/*
 * A node being failed or retired holds no MIG instances any more: they are
 * released in the same request (their rail ports left the segments with
 * the node's other attachments), and a `gpu-release` event row says so in
 * its history.
 */
static int node_gpus_release(struct api_call *call, const struct node_life *life, enum node_event why,
			     struct loom_err *err)
{
	char tenants[256], reason[320];
	int n = gpu_release_node(call, life->name, tenants, sizeof(tenants), err);

	if (n <= 0)
		return n < 0 ? -EINVAL : 0;
	snprintf(reason, sizeof(reason), "%d MIG instance%s released (%s) on %s", n, n == 1 ? "" : "s",
		 tenants, node_event_name(why));
	return node_note(call, life, "gpu-release", reason, err);
}

/*
 * Applies @ev to @name: checks it against the state machine, carries out
 * its network effect (detaching everything for a removal) and stores it.
 * A removal stays pending until the reconciler reports every target
 * converged (loomd_lifecycle_confirm); with reconcile = no there is no
 * target to wait for and it is confirmed at once.  Then the provisioning
 * segment follows the new state, and a fail or retire releases the node's
 * MIG instances.  Appends each step to @steps.
 */
static int node_apply(struct api_call *call, const char *name, enum node_event ev, const char *reason,
		      json_t *steps, json_t *removed, struct loom_err *err)
{
	struct loomd *d = call->d;
	struct node_life cur, next;
	struct lifecycle_ctx ctx;
	struct lifecycle_step step;
	enum node_state from;

	if (life_get(d, name, &cur, err))
		return -EINVAL;
	from = cur.state;
	ctx.attached = node_attached(&d->model, name);
	ctx.goal = cur.pending ? cur.goal : NODE_DRAINING;
	/* A drained node that is no longer pending was verified out. */
	ctx.removal_verified = cur.state == NODE_DRAINING && !cur.pending;
	if (lifecycle_transition(cur.state, ev, &ctx, &step, err)) {
		char msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%s", err->msg);
		loom_err_clear(err);
		return loom_err_set(err, LOOM_E_STATE, "name", "node %s: %s", name, msg);
	}
	if (step.net == LC_NET_REMOVE && node_detach_all(call, name, removed, err))
		return -EINVAL;
	next = cur;
	next.state = step.to;
	next.goal = step.goal;
	next.pending = step.pending;
	snprintf(next.reason, sizeof(next.reason), "%s", reason ? reason : "");
	if (life_store(call, &cur, &next, node_event_name(ev), err))
		return -EINVAL;
	json_array_append_new(steps, lifecycle_step_to_json(&step));
	if (next.pending) {
		/* Post even when nothing was attached, so the targets report in. */
		call->model_touched = true;
		d->life_pending = true;
		if (!d->rec) {
			struct lifecycle_step done;

			cur = next;
			if (lifecycle_confirm(cur.state, cur.goal, &done, err))
				return -EINVAL;
			next.state = done.to;
			next.pending = false;
			snprintf(next.reason, sizeof(next.reason), "%s",
				 "reconcile = no: no target to verify the removal on");
			if (life_store(call, &cur, &next, "confirm", err))
				return -EINVAL;
			json_array_append_new(steps, lifecycle_step_to_json(&done));
		}
	}
	if (provisioning_follow(call, name, from, next.state, err))
		return -EINVAL;
	if (ev == NODE_EV_FAIL || ev == NODE_EV_RETIRE)
		return node_gpus_release(call, &next, ev, err);
	return 0;
}

static const struct topo_node *node_param(struct api_call *call, json_t *params, const char *reason_key,
					  const char **reason, struct loom_err *err)
{
	const struct topo_node *n;
	const char *name;

	if (param_string(params, "name", true, &name, err))
		return NULL;
	if (reason_key && param_string(params, reason_key, false, reason, err))
		return NULL;
	n = topology_node(call->d->topo, name);
	if (!n)
		loom_err_set(err, LOOM_E_NOT_FOUND, "name", "no node '%s' in the topology", name);
	return n;
}

static int node_result(struct api_call *call, const struct topo_node *n, json_t *steps, json_t *removed,
		       json_t **result, struct loom_err *err)
{
	*result = node_json(call->d, n);
	if (!*result) {
		json_decref(steps);
		json_decref(removed);
		return loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
	}
	json_object_set_new(*result, "steps", steps);
	if (removed)
		json_object_set_new(*result, "detached", removed);
	return 0;
}

/* node.cordon / uncordon / drain / fail / retire: one event each. */
static int node_event_method(struct api_call *call, json_t *params, enum node_event ev, json_t **result,
			     struct loom_err *err)
{
	static const char *const allowed[] = { "name", "reason", NULL };
	const struct topo_node *n;
	const char *reason = NULL;
	json_t *steps, *removed;

	if (params_only(params, allowed, err))
		return -EINVAL;
	n = node_param(call, params, "reason", &reason, err);
	if (!n)
		return -EINVAL;
	steps = json_array();
	removed = json_array();
	if (node_apply(call, n->name, ev, reason, steps, removed, err)) {
		json_decref(steps);
		json_decref(removed);
		return -EINVAL;
	}
	return node_result(call, n, steps, removed, result, err);
}

static int m_node_cordon(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	return node_event_method(call, params, NODE_EV_CORDON, result, err);
}

static int m_node_uncordon(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	return node_event_method(call, params, NODE_EV_UNCORDON, result, err);
}

static int m_node_drain(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	return node_event_method(call, params, NODE_EV_DRAIN, result, err);
}

static int m_node_fail(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	return node_event_method(call, params, NODE_EV_FAIL, result, err);
}

static int m_node_retire(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	return node_event_method(call, params, NODE_EV_RETIRE, result, err);
}

/*
 * A node without a lifecycle row counts as available; registering it
 * starts its life over from `registered` (only while nothing uses it).
 */
static int m_node_register(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "name", "reason", NULL };
	struct node_life cur, next;
	const struct topo_node *n;
	const char *reason = NULL;
	json_t *steps;
	int ret;

	if (params_only(params, allowed, err))
		return -EINVAL;
	n = node_param(call, params, "reason", &reason, err);
	if (!n)
		return -EINVAL;
	ret = store_node_get(call->d->store, n->name, &cur);
	if (ret == 0)
		return loom_err_set(err, LOOM_E_STATE, "name",
				    "node %s is registered already and '%s'; allowed: verify, fail, retire "
				    "(see loomctl node history)", n->name, node_state_name(cur.state));
	if (ret != -ENOENT)
		return store_failed(call, err);
	if (node_attached(&call->d->model, n->name))
		return loom_err_set(err, LOOM_E_STATE, "name",
				    "node %s carries tenant attachments ('assigned'); drain it before registering it anew",
				    n->name);
	if (life_get(call->d, n->name, &cur, err))
		return -EINVAL;
	next = cur;
	next.state = lifecycle_initial();
	snprintf(next.reason, sizeof(next.reason), "%s", reason ? reason : "");
	if (life_store(call, &cur, &next, "register", err) ||
	    provisioning_follow(call, n->name, cur.state, next.state, err))
		return -EINVAL;
	steps = json_array();
	json_array_append_new(steps, json_pack("{s:s, s:s, s:s}", "from", node_state_name(cur.state),
					       "event", "register", "to", node_state_name(next.state)));
	return node_result(call, n, steps, NULL, result, err);
}

/* One RDMA measurement fed in, judged against its port's rate. */
static int verify_result(struct api_call *call, const struct topo_node *n, json_t *r, size_t i,
			 struct rdma_bw_result *res, struct loom_err *err)
{
	static const char *const allowed[] = { "port", "gbps", "duration_s", "peer", NULL };
	const struct topo_hca_port *hp = NULL;
	const char *port, *peer;
	char field[48];
	json_t *g = json_object_get(r, "gbps"), *dur = json_object_get(r, "duration_s");

	snprintf(field, sizeof(field), "results[%zu]", i);
	if (!json_is_object(r))
		return loom_err_set(err, LOOM_E_PARAMS, field, "'%s' must be an object {port, gbps, duration_s, peer}", field);
	if (params_only(r, allowed, err) || param_string(r, "port", true, &port, err)
	    || param_string(r, "peer", false, &peer, err)) {
		loom_err_prefix(err, field);
		return -EINVAL;
	}
	if (!json_is_number(g) || json_number_value(g) < 0) {
		loom_err_set(err, LOOM_E_PARAMS, "gbps", "'gbps' must be a number >= 0");
		loom_err_prefix(err, field);
		return -EINVAL;
	}
	if (dur && (!json_is_number(dur) || json_number_value(dur) < 0)) {
		loom_err_set(err, LOOM_E_PARAMS, "duration_s", "'duration_s' must be a number >= 0");
		loom_err_prefix(err, field);
		return -EINVAL;
	}
	for (size_t k = 0; k < n->n_hca_ports; k++)
		if (strcmp(n->hca_ports[k].name, port) == 0)
			hp = &n->hca_ports[k];
	if (!hp) {
		loom_err_set(err, LOOM_E_NOT_FOUND, "port", "node %s has no HCA port '%s'", n->name, port);
		loom_err_prefix(err, field);
		return -EINVAL;
	}
	memset(res, 0, sizeof(*res));
	res->gbps = json_number_value(g);
	res->duration_s = dur ? json_number_value(dur) : 0;
	snprintf(res->device, sizeof(res->device), "%s", port);
	snprintf(res->peer, sizeof(res->peer), "%s", peer ? peer : "");
	rdma_bw_judge(&call->d->rdma, hp->rate_gbps, res);
	return 0;
}

/* Stores judged results (kv rdma.NODE) and moves a verifying node on. */
static int verify_conclude(struct api_call *call, const char *name, json_t *judged, bool pass,
			   const char *why, const char *reason, json_t *steps, struct loom_err *err)
{
	char *txt = json_dumps(judged, JSON_COMPACT);
	char key[LOOM_NAME_MAX + 16];

	snprintf(key, sizeof(key), "rdma.%s", name);
	if (!txt || store_kv_put(call->d->store, key, txt)) {
		free(txt);
		return store_failed(call, err);
	}
	free(txt);
	if (!pass)
		return node_apply(call, name, NODE_EV_VERIFY_FAIL, why, steps, NULL, err);
	return node_apply(call, name, NODE_EV_VERIFY_PASS, reason ? reason : "every RDMA measurement passed",
			  steps, NULL, err);
}

/*
 * node.verify: starts verification and, when measurements are given,
 * judges them.  Without measurements, and with rdma.tool and rdma.peer in
 * loomd.conf, it starts the RDMA check itself (src/verify.c) and returns
 * with the node `verifying`; the check's end moves it on
 * (api_verify_finish).  Otherwise the node waits in `verifying` for
 * results fed in (from loom-rdma-bw or ib_write_bw run by the operator).
 */
static int m_node_verify(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "name", "reason", "results", NULL };
	const struct topo_node *n;
	const char *reason = NULL;
	json_t *results = json_object_get(params, "results");
	json_t *steps = NULL, *judged = NULL;
	struct node_life cur;
	char why[256] = "";
	bool pass = true, run = false;
	int ret = -EINVAL;

	if (params_only(params, allowed, err))
		return -EINVAL;
	n = node_param(call, params, "reason", &reason, err);
	if (!n)
		return -EINVAL;
	if (results && (!json_is_array(results) || json_array_size(results) == 0))
		return loom_err_set(err, LOOM_E_PARAMS, "results",
				    "'results' must be a non-empty array of {port, gbps, duration_s, peer}");
	steps = json_array();
	judged = json_array();
	for (size_t i = 0; results && i < json_array_size(results); i++) {
		struct rdma_bw_result res;

		if (verify_result(call, n, json_array_get(results, i), i, &res, err))
			goto out;
		json_array_append_new(judged, rdma_bw_result_to_json(&res));
		if (!res.pass && pass) {
			pass = false;
			snprintf(why, sizeof(why), "RDMA bandwidth: %s", res.reason);
		}
	}
	if (life_get(call->d, n->name, &cur, err))
		goto out;
	if (!results && cur.state == NODE_VERIFYING && rdma_job_running(call->d, n->name)) {
		ret = loom_err_set(err, LOOM_E_STATE, "name",
				   "an RDMA check of node %s is running already; wait for it (node show)", n->name);
		goto out;
	}
	if (cur.state != NODE_VERIFYING
	    && node_apply(call, n->name, NODE_EV_VERIFY, reason, steps, NULL, err))
		goto out;
	if (results) {
		if (verify_conclude(call, n->name, judged, pass, why, reason, steps, err))
			goto out;
	} else {
		struct rdma_bw_opts o;
		const char *prefix[CONF_RUNNER_WORDS + 1];

		run = config_rdma_check(&call->d->cfg, &o, prefix);
		if (run) {
			if (rdma_job_start(call->d, n, err))
				goto out;
			snprintf(call->rdma_node, sizeof(call->rdma_node), "%s", n->name);
		}
	}
	ret = node_result(call, n, steps, NULL, result, err);
	steps = NULL;
	if (!ret && results)
		json_object_set_new(*result, "rdma", json_incref(judged));
	if (!ret)
		json_object_set_new(*result, "rdma_running", json_boolean(run));
out:
	json_decref(steps);
	json_decref(judged);
	return ret;
}

int api_verify_finish(struct api_call *call, const struct rdma_job_result *job, json_t **result,
		      struct loom_err *err)
{
	struct loomd *d = call->d;
	const struct topo_node *n = topology_node(d->topo, job->node);
	json_t *judged = json_array(), *steps = json_array();
	struct node_life cur;
	char why[256] = "";
	bool pass = true, peer_fault = false;
	int ret = -EINVAL;

	if (!n) {
		ret = loom_err_set(err, LOOM_E_NOT_FOUND, "name", "node %s left the topology during its RDMA check",
				   job->node);
		goto out;
	}
	for (size_t i = 0; i < job->n_runs; i++) {
		const struct rdma_port_run *r = &job->runs[i];
		json_t *o;

		if (r->ret < 0) {
			const char *peer = r->peer[0] ? r->peer : job->peer;

			o = json_pack("{s:s, s:s, s:b, s:s, s:s}", "port", r->port, "peer", peer, "pass", 0,
				      "reason", r->error, "fault", r->peer_fault ? "peer" : "node");
			peer_fault |= r->peer_fault;
			if (pass)
				snprintf(why, sizeof(why), "RDMA check of %s against %s failed: %s", r->port,
					 peer, r->error);
			pass = false;
		} else {
			struct rdma_bw_result res = r->res;

			rdma_bw_judge(&d->rdma, r->rate_gbps, &res);
			o = rdma_bw_result_to_json(&res);
			json_object_set_new(o, "port", json_string(r->port));
			if (!res.pass && pass) {
				pass = false;
				snprintf(why, sizeof(why), "RDMA bandwidth: %s: %s", r->port, res.reason);
			}
		}
		json_array_append_new(judged, o);
	}
	if (life_get(d, n->name, &cur, err))
		goto out;
	/* The peer failed: no verdict on the node, which stays verifying for a retry. */
	if (cur.state == NODE_VERIFYING && !peer_fault) {
		if (verify_conclude(call, n->name, judged, pass, why,
				    "every HCA port passed the RDMA check", steps, err))
			goto out;
	} else {
		/* Moved on meanwhile (failed, retired by the operator): keep the numbers only. */
		char *txt = json_dumps(judged, JSON_COMPACT);
		char key[LOOM_NAME_MAX + 16];

		if (peer_fault && cur.state == NODE_VERIFYING)
			log_warn("node %s stays verifying, to be checked again: a reference peer failed (%s)",
				 n->name, why);
		else
			log_info("node %s is %s, no longer verifying: its RDMA results are stored, its state stays",
				 n->name, node_state_name(cur.state));
		snprintf(key, sizeof(key), "rdma.%s", n->name);
		if (!txt || store_kv_put(d->store, key, txt)) {
			free(txt);
			ret = store_failed(call, err);
			goto out;
		}
		free(txt);
	}
	ret = node_result(call, n, steps, NULL, result, err);
	steps = NULL;
	if (!ret)
		json_object_set_new(*result, "rdma", json_incref(judged));
out:
	json_decref(steps);
	json_decref(judged);
	return ret;
}

json_t *api_node_json(struct loomd *d, const char *name)
{
	const struct topo_node *n = topology_node(d->topo, name);

	return n ? node_json(d, n) : NULL;
}

static int m_node_fault(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	struct fault_event fe;
	int64_t now = now_realtime_ns() / 1000000000;

	if (fault_event_from_json(params, now, &fe, err) || fault_event_check(&fe, call->d->topo, err))
		return -EINVAL;
	return api_fault_apply(call, &fe, now, result, err);
}

/* A new hold-down, in the request's transaction: a restart keeps it. */
static int fault_hold_store(struct api_call *call, const struct fault_mark *m, struct loom_err *err)
{
	char key[4 * LOOM_NAME_MAX + 64];
	json_t *j = fault_mark_to_json(m);
	char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
	int ret = 0;

	json_decref(j);
	if (!txt || fault_mark_key(m, key, sizeof(key)))
		ret = loom_err_set(err, LOOM_E_INTERNAL, "", "cannot encode the fault's hold-down");
	else if (store_kv_put(call->d->store, key, txt))
		ret = store_failed(call, err);
	free(txt);
	return ret;
}

/*
 * The one fault path, for node.fault and for loomd's own watchers
 * (loomd_fault_raise): the configured policy decides (with its hold-down);
 * the action's lifecycle events are applied now, in this request.
 */
int api_fault_apply(struct api_call *call, const struct fault_event *fev, int64_t now,
		    json_t **result, struct loom_err *err)
{
	struct loomd *d = call->d;
	const struct fault_event fe = *fev;
	struct fault_decision dec;
	struct node_life cur;
	struct lifecycle_ctx ctx = { 0 };
	enum node_event evs[4];
	bool replace = false;
	size_t n_ev;
	json_t *steps, *removed;
	const struct topo_node *n;
	char reason[sizeof(fe.text) + 64];
	struct loom_err rerr = { 0 };
	json_t *rec = NULL;
	bool started = false;

	n = topology_node(d->topo, fe.node);
	if (!n)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "node", "no node '%s' in the topology", fe.node);
	if (life_get(d, fe.node, &cur, err))
		return -EINVAL;
	if (fault_policy_decide(&d->fault_policy, &d->faults, &fe, now, &dec))
		return loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
	if (dec.acted && fault_hold_store(call, dec.acted, err))
		return -EINVAL;
	ctx.attached = node_attached(&d->model, fe.node);
	ctx.goal = cur.pending ? cur.goal : NODE_DRAINING;
	ctx.removal_verified = cur.state == NODE_DRAINING && !cur.pending;
	n_ev = fault_action_events(dec.action, cur.state, &ctx, evs, &replace);
	snprintf(reason, sizeof(reason), "fault %s/%s: %s%s", fault_component_name(fe.component),
		 fault_severity_name(fe.severity), fe.text[0] ? fe.text : dec.reason,
		 dec.held_down ? " (held down: recorded only)" : "");
	steps = json_array();
	removed = json_array();
	if (replace) {
		bool ok;

		if (!loomd_replace_finished(d, fe.node, &ok, NULL)) {
			/* Its replacement is under way already: that is all the policy asks. */
			n_ev = 0;
		} else if (loomd_replace_start(call, fe.node, NULL, NODE_FAILED, reason, &rec, &rerr) == 0) {
			/* The replacement cordons, detaches and fails the node itself,
			 * step by step, after it knows where every attachment goes. */
			struct node_life same = cur;

			json_decref(rec);
			if (life_store(call, &cur, &same, "fault", err))
				goto fail;
			n_ev = 0;
			started = true;
		}
		/* No replacement possible: still take the broken node out (cordon, fail). */
	}
	if (n_ev == 0 && !started) {
		/* Record only: the fault in the node's history (its own reason stays). */
		if (node_note(call, &cur, "fault", reason, err))
			goto fail;
	}
	for (size_t i = 0; i < n_ev; i++)
		if (node_apply(call, fe.node, evs[i], reason, steps, removed, err))
			goto fail;
	if (node_result(call, n, steps, removed, result, err))
		return -EINVAL;
	json_object_set_new(*result, "fault", fault_event_to_json(&fe));
	json_object_set_new(*result, "decision", fault_decision_to_json(&dec));
	json_object_set_new(*result, "replace_wanted", json_boolean(replace));
	if (replace && !started && rerr.code != LOOM_OK)
		json_object_set_new(*result, "replace_error", json_string(rerr.msg));
	return 0;
fail:
	json_decref(steps);
	json_decref(removed);
	return -EINVAL;
}

/* ---- shared with the replacement driver (src/replacement.c) ----------- */

int api_node_life(struct loomd *d, const char *name, struct node_life *out, struct loom_err *err)
{
	return life_get(d, name, out, err);
}

int api_node_life_store(struct api_call *call, const struct node_life *before, struct node_life *after,
			const char *event, struct loom_err *err)
{
	return life_store(call, before, after, event, err);
}

int api_node_event(struct api_call *call, const char *name, enum node_event ev, const char *reason,
		   json_t *steps, json_t *removed, struct loom_err *err)
{
	return node_apply(call, name, ev, reason, steps, removed, err);
}

int api_attach(struct api_call *call, const struct attachment *a, struct loom_err *err)
{
	return do_attach(call, a, err);
}

int api_detach(struct api_call *call, const struct attachment *a, struct loom_err *err)
{
	return do_detach(call, a, err);
}

static int m_node_history(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "name", NULL };
	const struct topo_node *n;

	if (params_only(params, allowed, err))
		return -EINVAL;
	n = node_param(call, params, NULL, NULL, err);
	if (!n)
		return -EINVAL;
	if (store_node_events(call->d->store, n->name, result))
		return loom_err_set(err, LOOM_E_STORE, "", "cannot read the node's history: %s",
				    store_errmsg(call->d->store));
	return 0;
}

/*
 * events.subscribe {since?, node?}: from the reply on, the connection gets a
 * notification per node event (transitions, faults, confirmations, the
 * replacement's steps) as soon as it is committed.  Without "since" only
 * new events come; with it, the stored ones after that seq come first.
 */
static int m_events_subscribe(struct api_call *call, json_t *params, json_t **result,
			      struct loom_err *err)
{
	static const char *const allowed[] = { "since", "node", NULL };
	const char *node = NULL;
	json_int_t since = -1;
	int64_t last;

	if (params_only(params, allowed, err) ||
	    param_int(params, "since", 0, INT64_MAX, &since, err) ||
	    param_string(params, "node", false, &node, err))
		return -EINVAL;
	if (node && !topology_node(call->d->topo, node))
		return loom_err_set(err, LOOM_E_NOT_FOUND, "node", "no node '%s' in the topology", node);
	last = store_node_event_last(call->d->store);
	if (last < 0)
		return loom_err_set(err, LOOM_E_STORE, "", "cannot read the node events: %s",
				    store_errmsg(call->d->store));
	call->subscribe = true;
	call->subscribe_after = since >= 0 ? since : last;
	snprintf(call->subscribe_node, sizeof(call->subscribe_node), "%s", node ? node : "");
	*result = json_pack("{s:b, s:I, s:I, s:s?}", "subscribed", 1, "after",
			    (json_int_t)call->subscribe_after, "last", (json_int_t)last, "node", node);
	return *result ? 0 : -ENOMEM;
}

static int m_topology_show(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { NULL };

	if (params_only(params, allowed, err))
		return -EINVAL;
	*result = topology_to_json(call->d->topo);
	return *result ? 0 : -ENOMEM;
}

static int m_topology_reload(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { NULL };

	if (params_only(params, allowed, err) || loomd_topology_reload(call->d, err))
		return -EINVAL;
	*result = json_pack("{s:s, s:I}", "reloaded", call->d->cfg.topology,
			    "nodes", (json_int_t)call->d->topo->n_nodes);
	return 0;
}

/*
 * Turns `ibnetdiscover` output into topology entries for the operator to
 * review and merge into the topology file; changes nothing.
 */
static int m_topology_import(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "text", "sm", NULL };
	const char *text, *sm;

	if (params_only(params, allowed, err) || param_string(params, "text", true, &text, err)
	    || param_string(params, "sm", true, &sm, err))
		return -EINVAL;
	if (!topology_sm(call->d->topo, sm))
		return loom_err_set(err, LOOM_E_NOT_FOUND, "sm", "no subnet manager '%s' in the topology", sm);
	if (ibnetdiscover_import(text, sm, result, err)) {
		loom_err_prefix(err, "text");
		return -EINVAL;
	}
	return 0;
}

static int m_desired_show(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { NULL };
	struct desired *des = NULL;

	if (params_only(params, allowed, err))
		return -EINVAL;
	if (compile(&call->d->model, call->d->topo, &des))
		return loom_err_set(err, LOOM_E_INTERNAL, "", "compile failed: out of memory");
	*result = desired_to_json(des);
	desired_free(&des);
	return 0;
}

/* ---- audit ------------------------------------------------------------- */

static int m_audit_list(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "after", "limit", NULL };
	json_int_t after = 0, limit = 100;

	if (params_only(params, allowed, err) || param_int(params, "after", 0, INT64_MAX, &after, err)
	    || param_int(params, "limit", 0, 100000, &limit, err))
		return -EINVAL;
	if (store_audit_list(call->d->store, after, limit, result))
		return loom_err_set(err, LOOM_E_STORE, "", "cannot read the audit log: %s",
				    store_errmsg(call->d->store));
	return 0;
}

static int m_audit_verify(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { NULL };
	int64_t checked = 0, bad = 0;
	char why[256] = "";
	int ret;

	if (params_only(params, allowed, err))
		return -EINVAL;
	ret = store_audit_verify(call->d->store, &checked, &bad, why, sizeof(why));
	if (ret == -EBADMSG)
		return loom_err_set(err, LOOM_E_TAMPERED, "seq", "audit record %lld does not verify: %s",
				    (long long)bad, why);
	if (ret)
		return loom_err_set(err, LOOM_E_STORE, "", "cannot read the audit log: %s",
				    store_errmsg(call->d->store));
	*result = json_pack("{s:b, s:I}", "ok", 1, "records", (json_int_t)checked);
	return 0;
}

/* ---- the declarative intent -------------------------------------------- */

/*
 * The provisioning segment's attachments of nodes that belong there are
 * loomd's (provisioning_follow), not the file's: a file naming the
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
		    life_get(d, a->node, &nl, &ignored) == 0 && lifecycle_provisioning_ok(nl.state))
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
			ret = do_detach(call, &c->attachment, err);
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
			ret = do_attach(call, &c->attachment, err);
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

static int m_intent_apply(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	bool dry_run;

	if (param_bool(params, "dry_run", &dry_run, err))
		return -EINVAL;
	return intent_run(call, params, dry_run, result, err);
}

static int m_intent_diff(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	return intent_run(call, params, true, result, err);
}

/* ---- the table ---------------------------------------------------------- */

static const struct api_method methods[] = {
	{ "audit.list", false, m_audit_list },
	{ "audit.verify", false, m_audit_verify },
	{ "desired.show", false, m_desired_show },
	{ "events.subscribe", false, m_events_subscribe },
	{ "gpu.apply", true, m_gpu_apply },
	{ "gpu.compact", true, m_gpu_compact },
	{ "gpu.plan", false, m_gpu_plan },
	{ "gpu.release", true, m_gpu_release },
	{ "gpu.show", false, m_gpu_show },
	{ "intent.apply", true, m_intent_apply },
	{ "intent.diff", false, m_intent_diff },
	{ "node.cordon", true, m_node_cordon },
	{ "node.drain", true, m_node_drain },
	{ "node.fail", true, m_node_fail },
	{ "node.fault", true, m_node_fault },
	{ "node.history", false, m_node_history },
	{ "node.list", false, m_node_list },
	{ "node.register", true, m_node_register },
	{ "node.replace", true, api_node_replace },
	{ "node.retire", true, m_node_retire },
	{ "node.show", false, m_node_show },
	{ "node.uncordon", true, m_node_uncordon },
	{ "node.verify", true, m_node_verify },
	{ "replace.list", false, api_replace_list },
	{ "replace.show", false, api_replace_show },
	{ "segment.attach", true, m_segment_attach },
	{ "segment.create", true, m_segment_create },
	{ "segment.delete", true, m_segment_delete },
	{ "segment.detach", true, m_segment_detach },
	{ "segment.list", false, m_segment_list },
	{ "segment.show", false, m_segment_show },
	{ "status.show", false, m_status_show },
	{ "system.info", false, m_system_info },
	{ "tenant.create", true, m_tenant_create },
	{ "tenant.delete", true, m_tenant_delete },
	{ "tenant.list", false, m_tenant_list },
	{ "tenant.show", false, m_tenant_show },
	{ "tenant.update", true, m_tenant_update },
	{ "topology.import", false, m_topology_import },
	{ "topology.reload", true, m_topology_reload },
	{ "topology.show", false, m_topology_show },
};

static int cmp_method(const void *key, const void *elem)
{
	return strcmp(key, ((const struct api_method *)elem)->name);
}

const struct api_method *api_method_find(const char *name)
{
	return bsearch(name, methods, sizeof(methods) / sizeof(methods[0]), sizeof(methods[0]), cmp_method);
}

const struct api_method *api_methods(size_t *n)
{
	*n = sizeof(methods) / sizeof(methods[0]);
	return methods;
}

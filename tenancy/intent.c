/*
 * tenancy/intent.c: the declarative file: parsing it, and planning the
 * changes that make the model match it (semantics in tenancy/intent.h and
 * docs/model.md).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/array.h"
#include "tenancy/intent.h"
#include "tenancy/model-private.h"

static void intent_tenant_release(struct intent_tenant *it)
{
	for (size_t j = 0; j < it->n_segments; j++)
		free(it->segments[j].attachments);
	free(it->segments);
	tenant_release(&it->tenant);
}

void intent_free(struct intent **docp)
{
	struct intent *doc = docp ? *docp : NULL;

	if (!doc)
		return;
	for (size_t i = 0; i < doc->n_tenants; i++)
		intent_tenant_release(&doc->tenants[i]);
	free(doc->tenants);
	free(doc);
	*docp = NULL;
}

/* A shallow copy of @obj without @key (the nested list parsed separately). */
static json_t *without(const json_t *obj, const char *key)
{
	json_t *c = json_copy((json_t *)obj);

	if (c)
		json_object_del(c, key);
	return c;
}

static int parse_attachments(const json_t *list, struct intent_segment *is, struct loom_err *err)
{
	json_t *v;
	size_t k;

	if (!list)
		return 0;
	if (!json_is_array(list))
		return loom_err_set(err, LOOM_E_PARAMS, "attachments",
				    "\"attachments\" must be an array");
	if (json_array_size(list) &&
	    !(is->attachments = calloc(json_array_size(list), sizeof(*is->attachments))))
		return -ENOMEM;
	json_array_foreach(list, k, v) {
		struct attachment *a = &is->attachments[k];
		char prefix[32];
		int rc;

		snprintf(prefix, sizeof(prefix), "attachments[%zu]", k);
		rc = attachment_parse_fields(v, false, a, err);
		if (!rc && is->seg.type == SEG_ETHERNET && a->membership != MEMBERSHIP_DEFAULT)
			rc = loom_err_set(err, LOOM_E_PARAMS, "membership",
					  "membership is for infiniband segments; %s is ethernet",
					  is->seg.name);
		for (size_t p = 0; !rc && p < k; p++)
			if (strcmp(is->attachments[p].node, a->node) == 0 &&
			    strcmp(is->attachments[p].port, a->port) == 0)
				rc = loom_err_set(err, LOOM_E_PARAMS, a->port[0] ? "port" : "node",
						  "node %s%s%s is listed twice in segment %s", a->node,
						  a->port[0] ? " port " : "", a->port, is->seg.name);
		if (rc) {
			loom_err_prefix(err, prefix);
			return rc;
		}
		memcpy(a->tenant, is->seg.tenant, sizeof(a->tenant));
		memcpy(a->segment, is->seg.name, sizeof(a->segment));
		is->n_attachments++;
	}
	return 0;
}

static int parse_segments(const json_t *list, struct intent_tenant *it, struct loom_err *err)
{
	json_t *v;
	size_t j;

	if (!list)
		return 0;
	if (!json_is_array(list))
		return loom_err_set(err, LOOM_E_PARAMS, "segments", "\"segments\" must be an array");
	if (json_array_size(list) &&
	    !(it->segments = calloc(json_array_size(list), sizeof(*it->segments))))
		return -ENOMEM;
	json_array_foreach(list, j, v) {
		struct intent_segment *is = &it->segments[j];
		char prefix[32];
		json_t *obj;
		int rc;

		snprintf(prefix, sizeof(prefix), "segments[%zu]", j);
		if (!json_is_object(v)) {
			rc = loom_err_set(err, LOOM_E_PARAMS, "", "a segment must be a JSON object");
		} else if (!(obj = without(v, "attachments"))) {
			return -ENOMEM;
		} else {
			rc = segment_from_json(obj, it->tenant.name, &is->seg, err);
			json_decref(obj);
		}
		for (size_t p = 0; !rc && p < j; p++)
			if (strcmp(it->segments[p].seg.name, is->seg.name) == 0)
				rc = loom_err_set(err, LOOM_E_PARAMS, "name",
						  "segment %s is listed twice in tenant %s", is->seg.name,
						  it->tenant.name);
		if (!rc)
			rc = parse_attachments(json_object_get(v, "attachments"), is, err);
		it->n_segments++;	/* so that intent_free frees what was parsed */
		if (rc) {
			loom_err_prefix(err, prefix);
			return rc;
		}
	}
	return 0;
}

int intent_parse(const json_t *doc, struct intent **out, struct loom_err *err)
{
	struct intent *in = NULL;
	const char *key;
	json_t *list, *v;
	size_t i;
	int rc = 0;

	if (!json_is_object(doc))
		return loom_err_set(err, LOOM_E_PARAMS, "",
				    "the file must be a JSON object {\"tenants\": [...]}");
	json_object_foreach((json_t *)doc, key, v)
		if (strcmp(key, "tenants") != 0)
			return loom_err_set(err, LOOM_E_PARAMS, key,
					    "unknown key \"%s\"; the file has only \"tenants\"", key);
	list = json_object_get(doc, "tenants");
	if (!json_is_array(list))
		return loom_err_set(err, LOOM_E_PARAMS, "tenants",
				    "\"tenants\" must be an array of tenants");
	in = calloc(1, sizeof(*in));
	if (!in || (json_array_size(list) &&
		    !(in->tenants = calloc(json_array_size(list), sizeof(*in->tenants))))) {
		rc = -ENOMEM;
		goto out;
	}
	json_array_foreach(list, i, v) {
		struct intent_tenant *it = &in->tenants[i];
		char prefix[32];
		json_t *obj;

		snprintf(prefix, sizeof(prefix), "tenants[%zu]", i);
		if (!json_is_object(v)) {
			rc = loom_err_set(err, LOOM_E_PARAMS, "", "a tenant must be a JSON object");
		} else if (!(obj = without(v, "segments"))) {
			rc = -ENOMEM;
			goto out;
		} else {
			rc = tenant_from_json(obj, &it->tenant, err);
			json_decref(obj);
		}
		if (rc) {
			loom_err_prefix(err, prefix);
			goto out;
		}
		in->n_tenants++;
		it->isolation_given = json_object_get(v, "isolation") != NULL;
		for (size_t p = 0; !rc && p < i; p++)
			if (strcmp(in->tenants[p].tenant.name, it->tenant.name) == 0)
				rc = loom_err_set(err, LOOM_E_PARAMS, "name",
						  "tenant %s is listed twice", it->tenant.name);
		if (!rc)
			rc = parse_segments(json_object_get(v, "segments"), it, err);
		if (rc) {
			loom_err_prefix(err, prefix);
			goto out;
		}
	}
	*out = in;
	in = NULL;
out:
	intent_free(&in);
	return rc;
}

/* The changes, one bucket per op, concatenated at the end in op order. */
struct plan {
	struct change *v[CHANGE_ATTACH + 1];
	size_t n[CHANGE_ATTACH + 1], cap[CHANGE_ATTACH + 1];
};

static struct change *plan_add(struct plan *p, enum change_op op)
{
	if (ARRAY_GROW(p->v[op], p->cap[op], p->n[op] + 1))
		return NULL;
	memset(&p->v[op][p->n[op]], 0, sizeof(p->v[op][0]));
	p->v[op][p->n[op]].op = op;
	return &p->v[op][p->n[op]++];
}

static int add_attachment(struct plan *p, enum change_op op, const struct attachment *a)
{
	struct change *c = plan_add(p, op);

	if (!c)
		return -ENOMEM;
	c->attachment = *a;
	return 0;
}

static int add_tenant(struct plan *p, enum change_op op, const struct tenant *t)
{
	struct change *c = plan_add(p, op);

	if (!c)
		return -ENOMEM;
	c->tenant = *t;
	c->tenant.labels = t->labels ? json_deep_copy(t->labels) : json_object();
	if (!c->tenant.labels) {
		p->n[op]--;
		return -ENOMEM;
	}
	return 0;
}

static int add_segment(struct plan *p, enum change_op op, const struct segment *s)
{
	struct change *c = plan_add(p, op);

	if (!c)
		return -ENOMEM;
	c->segment = *s;
	return 0;
}

static size_t first_segment(const struct model *m, const char *tenant)
{
	struct segment key;

	memset(&key, 0, sizeof(key));
	snprintf(key.tenant, sizeof(key.tenant), "%s", tenant);
	return model_lower_bound(m->segments, m->n_segments, sizeof(key), &key, model_cmp_segment);
}

static bool same_place(const struct attachment *a, const struct attachment *b)
{
	return strcmp(a->node, b->node) == 0 && strcmp(a->port, b->port) == 0;
}

/* @want (the intent) asks for something else than @cur (the model) has:
 * "auto" is any VLAN, so an applied intent stays applied. */
static bool attachment_differs(const struct attachment *want, const struct attachment *cur)
{
	if (want->membership != cur->membership)
		return true;
	if (want->vlan == LOOM_VLAN_AUTO)
		return cur->vlan == 0;
	return want->vlan != cur->vlan;
}

static int detach_all(struct plan *p, const struct model *m, const char *tenant,
		      const char *segment)
{
	for (size_t k = model_first_attachment(m, tenant, segment);
	     k < m->n_attachments && strcmp(m->attachments[k].tenant, tenant) == 0 &&
	     strcmp(m->attachments[k].segment, segment) == 0; k++)
		if (add_attachment(p, CHANGE_DETACH, &m->attachments[k]))
			return -ENOMEM;
	return 0;
}

/* The first field (in the file's terms) in which the file's segment differs. */
static const char *segment_differs(const struct segment *cur, const struct segment *want)
{
	if (cur->type != want->type)
		return "type";
	if (cur->type == SEG_ETHERNET) {
		if (want->vni && want->vni != cur->vni)
			return "vni";
		if (want->mtu != cur->mtu)
			return "mtu";
		if (strcmp(want->subnet4, cur->subnet4) || strcmp(want->subnet6, cur->subnet6))
			return "subnet";
		if (strcmp(want->gateway4, cur->gateway4) || strcmp(want->gateway6, cur->gateway6))
			return "gateway";
		return NULL;
	}
	if (want->pkey && want->pkey != cur->pkey)
		return "pkey";
	if (want->ipoib != cur->ipoib)
		return "ipoib";
	if (want->ib_mtu != cur->ib_mtu)
		return "ib_mtu";
	if (want->rate_gbps != cur->rate_gbps)
		return "rate_gbps";
	if (want->sl != cur->sl)
		return "sl";
	if (want->default_membership != cur->default_membership)
		return "membership";
	return NULL;
}

static int plan_segment_attachments(struct plan *p, const struct model *m,
				    const struct intent_segment *is)
{
	const char *tenant = is->seg.tenant, *name = is->seg.name;
	size_t k0 = model_first_attachment(m, tenant, name), k1 = k0;

	while (k1 < m->n_attachments && strcmp(m->attachments[k1].tenant, tenant) == 0 &&
	       strcmp(m->attachments[k1].segment, name) == 0)
		k1++;
	struct attachment *sorted = NULL;

	/*
	 * Both sides are looked up by binary search (the model's attachments of
	 * one segment are sorted by node/port; the file's are sorted here), so
	 * a segment with thousands of attachments costs O((A + F) log).
	 */
	if (is->n_attachments) {
		sorted = malloc(is->n_attachments * sizeof(*sorted));
		if (!sorted)
			return -ENOMEM;
		memcpy(sorted, is->attachments, is->n_attachments * sizeof(*sorted));
		qsort(sorted, is->n_attachments, sizeof(*sorted), model_cmp_attachment);
	}
	for (size_t k = k0; k < k1; k++) {
		const struct attachment *cur = &m->attachments[k];
		const struct attachment *want = NULL;

		if (sorted) {
			size_t f = model_lower_bound(sorted, is->n_attachments, sizeof(*sorted), cur,
						     model_cmp_attachment);

			if (f < is->n_attachments && same_place(&sorted[f], cur))
				want = &sorted[f];
		}
		if (!want || attachment_differs(want, cur))
			if (add_attachment(p, CHANGE_DETACH, cur)) {
				free(sorted);
				return -ENOMEM;
			}
	}
	free(sorted);
	for (size_t f = 0; f < is->n_attachments; f++) {
		const struct attachment *want = &is->attachments[f];
		const struct attachment *cur = NULL;

		if (k1 > k0) {
			size_t k = k0 + model_lower_bound(&m->attachments[k0], k1 - k0,
							  sizeof(*want), want, model_cmp_attachment);

			if (k < k1 && same_place(&m->attachments[k], want))
				cur = &m->attachments[k];
		}
		if (!cur || attachment_differs(want, cur))
			if (add_attachment(p, CHANGE_ATTACH, want))
				return -ENOMEM;
	}
	return 0;
}

static int plan_tenant(struct plan *p, const struct model *m, const struct intent_tenant *it,
		       size_t ti, struct loom_err *err)
{
	const struct tenant *cur = model_tenant(m, it->tenant.name);
	char field[96];

	if (!cur) {
		if (add_tenant(p, CHANGE_TENANT_ADD, &it->tenant))
			return -ENOMEM;
	} else {
		struct tenant want = it->tenant;
		bool same;

		if (it->isolation_given && it->tenant.isolation != cur->isolation) {
			snprintf(field, sizeof(field), "tenants[%zu].isolation", ti);
			return loom_err_set(err, LOOM_E_IMMUTABLE, field,
					    "tenant %s is %s and the file says %s; isolation cannot "
					    "change after creation", cur->name,
					    isolation_name(cur->isolation),
					    isolation_name(it->tenant.isolation));
		}
		want.isolation = cur->isolation;
		same = want.n_sites == cur->n_sites &&
		       memcmp(want.sites, cur->sites, want.n_sites * sizeof(want.sites[0])) == 0 &&
		       json_equal(want.labels ? want.labels : json_object(),
				  cur->labels ? cur->labels : json_object());
		if (!same && add_tenant(p, CHANGE_TENANT_UPDATE, &want))
			return -ENOMEM;

		/* The tenant's segments that the file no longer lists go. */
		for (size_t k = first_segment(m, cur->name);
		     k < m->n_segments && strcmp(m->segments[k].tenant, cur->name) == 0; k++) {
			const struct segment *s = &m->segments[k];
			size_t j;

			for (j = 0; j < it->n_segments; j++)
				if (strcmp(it->segments[j].seg.name, s->name) == 0)
					break;
			if (j < it->n_segments)
				continue;
			if (detach_all(p, m, s->tenant, s->name) ||
			    add_segment(p, CHANGE_SEGMENT_DEL, s))
				return -ENOMEM;
		}
	}
	for (size_t j = 0; j < it->n_segments; j++) {
		const struct intent_segment *is = &it->segments[j];
		const struct segment *cs = cur ? model_segment(m, cur->name, is->seg.name) : NULL;

		if (cs) {
			const char *diff = segment_differs(cs, &is->seg);

			if (diff) {
				snprintf(field, sizeof(field), "tenants[%zu].segments[%zu].%s", ti, j,
					 diff);
				return loom_err_set(err, LOOM_E_IMMUTABLE, field,
						    "segment %s/%s differs from the file in \"%s\", which "
						    "cannot change; delete the segment from the file, "
						    "apply, then add it back", cs->tenant, cs->name, diff);
			}
			if (plan_segment_attachments(p, m, is))
				return -ENOMEM;
			continue;
		}
		if (add_segment(p, CHANGE_SEGMENT_ADD, &is->seg))
			return -ENOMEM;
		for (size_t f = 0; f < is->n_attachments; f++)
			if (add_attachment(p, CHANGE_ATTACH, &is->attachments[f]))
				return -ENOMEM;
	}
	return 0;
}

void changes_free(struct change **changes, size_t n)
{
	struct change *c = changes ? *changes : NULL;

	if (!c)
		return;
	for (size_t i = 0; i < n; i++)
		if (c[i].op == CHANGE_TENANT_ADD || c[i].op == CHANGE_TENANT_UPDATE)
			tenant_release(&c[i].tenant);
	free(c);
	*changes = NULL;
}

int intent_plan(const struct model *m, const struct intent *doc, struct change **out,
		size_t *n, struct loom_err *err)
{
	struct plan p;
	struct change *all = NULL;
	size_t total = 0, off = 0;
	int rc = 0;

	memset(&p, 0, sizeof(p));
	for (size_t i = 0; i < doc->n_tenants && !rc; i++)
		rc = plan_tenant(&p, m, &doc->tenants[i], i, err);
	if (rc)
		goto out;
	for (int op = 0; op <= CHANGE_ATTACH; op++)
		total += p.n[op];
	if (total && !(all = calloc(total, sizeof(*all)))) {
		rc = -ENOMEM;
		goto out;
	}
	for (int op = 0; op <= CHANGE_ATTACH; op++) {
		if (p.n[op])
			memcpy(&all[off], p.v[op], p.n[op] * sizeof(*all));
		off += p.n[op];
		p.n[op] = 0;	/* the labels now belong to @all */
	}
	*out = all;
	*n = total;
out:
	for (int op = 0; op <= CHANGE_ATTACH; op++)
		changes_free(&p.v[op], p.n[op]);
	return rc;
}

static const char *const op_names[] = {
	[CHANGE_DETACH] = "segment.detach",
	[CHANGE_SEGMENT_DEL] = "segment.delete",
	[CHANGE_TENANT_ADD] = "tenant.create",
	[CHANGE_TENANT_UPDATE] = "tenant.update",
	[CHANGE_SEGMENT_ADD] = "segment.create",
	[CHANGE_ATTACH] = "segment.attach",
};

const char *change_op_name(enum change_op op)
{
	return op_names[op];
}

json_t *change_to_json(const struct change *c)
{
	json_t *payload = NULL;
	const char *key = "attachment";

	switch (c->op) {
	case CHANGE_DETACH:
	case CHANGE_ATTACH:
		payload = attachment_to_json(&c->attachment);
		break;
	case CHANGE_SEGMENT_DEL:
	case CHANGE_SEGMENT_ADD:
		key = "segment";
		payload = segment_to_json(&c->segment);
		if (payload && c->op == CHANGE_SEGMENT_ADD) {
			/* Derived or still to be allocated: not part of the request. */
			json_object_del(payload, "rd");
			json_object_del(payload, "rt");
			if (c->segment.type == SEG_ETHERNET && !c->segment.vni)
				json_object_del(payload, "vni");
			if (c->segment.type == SEG_INFINIBAND && !c->segment.pkey)
				json_object_del(payload, "pkey");
		}
		break;
	case CHANGE_TENANT_ADD:
	case CHANGE_TENANT_UPDATE:
		key = "tenant";
		payload = tenant_to_json(&c->tenant);
		break;
	}
	if (!payload)
		return NULL;
	return json_pack("{ss so}", "op", change_op_name(c->op), key, payload);
}

int change_apply(struct model *m, const struct topology *topo, const struct change *c,
		 struct loom_err *err)
{
	struct attachment a;
	struct segment s;

	switch (c->op) {
	case CHANGE_DETACH:
		return model_detach(m, &c->attachment, err);
	case CHANGE_SEGMENT_DEL:
		return model_segment_del(m, c->segment.tenant, c->segment.name, err);
	case CHANGE_TENANT_ADD:
		return model_tenant_add(m, topo, &c->tenant, err);
	case CHANGE_TENANT_UPDATE:
		return model_tenant_update(m, topo, &c->tenant, err);
	case CHANGE_SEGMENT_ADD:
		s = c->segment;
		return model_segment_add(m, topo, &s, err);
	case CHANGE_ATTACH:
		a = c->attachment;
		return model_attach(m, topo, &a, err);
	}
	return -EINVAL;
}

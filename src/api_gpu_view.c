/*
 * src/api_gpu_view.c: the planner's view of the stored MIG instances and
 * the GPUs a request may use (src/api_gpu_view.h).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/api_gpu_view.h"
#include "src/api_life.h"
#include "src/reconcile.h"

static void view_skip(struct gpu_view *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void view_skip(struct gpu_view *v, const char *fmt, ...)
{
	size_t off = strlen(v->skipped);
	va_list ap;

	if (v->n_skipped++ < 3 && off + 2 < sizeof(v->skipped)) {
		if (off)
			off += (size_t)snprintf(v->skipped + off, sizeof(v->skipped) - off, "; ");
		va_start(ap, fmt);
		if (off < sizeof(v->skipped))
			vsnprintf(v->skipped + off, sizeof(v->skipped) - off, fmt, ap);
		va_end(ap);
	}
}

void gpu_view_free(struct gpu_view *v)
{
	free(v->recs);
	v->recs = NULL;
	free(v->by_node);
	v->by_node = NULL;
	free(v->lives);
	v->lives = NULL;
	mig_planner_free(&v->pl);
}

const struct topo_gpu *gpu_topo_gpu(const struct topo_node *n, unsigned int index)
{
	for (size_t i = 0; n && i < n->n_gpus; i++)
		if (n->gpus[i].index == index)
			return &n->gpus[i];
	return NULL;
}

const char *gpu_rail_port(const struct topo_gpu *g, enum seg_type type)
{
	if (!g)
		return "";
	return type == SEG_ETHERNET ? g->nic_port : g->hca_port;
}

/* Is @name one of the comma-separated @list? */
bool gpu_list_has(const char *list, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = list; *p;) {
		const char *comma = strchr(p, ',');
		size_t l = comma ? (size_t)(comma - p) : strlen(p);

		if (l == len && strncmp(p, name, len) == 0)
			return true;
		if (!comma)
			break;
		p = comma + 1;
	}
	return false;
}

static int cmp_att_node(const void *x, const void *y)
{
	const struct attachment *const *a = x, *const *b = y;

	return strcmp((*a)->node, (*b)->node);
}

/* The attachments of @node: a range of v->by_node. */
static const struct attachment *const *node_atts(const struct gpu_view *v, const char *node, size_t *n)
{
	size_t lo = 0, hi = v->n_by_node, first;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(v->by_node[mid]->node, node) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	first = lo;
	while (lo < v->n_by_node && strcmp(v->by_node[lo]->node, node) == 0)
		lo++;
	*n = lo - first;
	return v->by_node + first;
}

/* Does @tenant have an attachment or an instance on @node? */
static bool assigned(const struct gpu_view *v, const char *node, const char *tenant)
{
	size_t n;
	const struct attachment *const *atts = node_atts(v, node, &n);

	for (size_t i = 0; i < n; i++)
		if (strcmp(atts[i]->tenant, tenant) == 0)
			return true;
	for (size_t i = 0; i < v->n_recs; i++)
		if (strcmp(v->recs[i].node, node) == 0 && strcmp(v->recs[i].tenant, tenant) == 0)
			return true;
	return false;
}

/* Another tenant's attachment that covers @port of @node (type @type), or NULL. */
static const struct attachment *port_holder(const struct model *m, const struct gpu_view *v, const char *node,
					    const char *port, enum seg_type type, const char *tenant)
{
	size_t n;
	const struct attachment *const *atts = node_atts(v, node, &n);

	for (size_t i = 0; i < n; i++) {
		const struct attachment *a = atts[i];
		const struct segment *s;

		if (strcmp(a->tenant, tenant) == 0)
			continue;
		s = model_segment(m, a->tenant, a->segment);
		if (s && s->type == type && (!a->port[0] || strcmp(a->port, port) == 0))
			return a;
	}
	return NULL;
}

/* The tenant's own attachment of @port (or of the whole node) in @segment, or NULL. */
const struct attachment *gpu_own_attachment(const struct model *m, const char *tenant, const char *segment,
					    const char *node, const char *port, bool exact)
{
	for (size_t i = 0; i < m->n_attachments; i++) {
		const struct attachment *a = &m->attachments[i];

		if (strcmp(a->tenant, tenant) || strcmp(a->segment, segment) || strcmp(a->node, node))
			continue;
		if (strcmp(a->port, port) == 0 || (!exact && !a->port[0]))
			return a;
	}
	return NULL;
}

/*
 * May the requesting tenant's instances go onto node @n at all?  Only an
 * available node, or an assigned one whose other tenants are, like the
 * requester, soft (the planner checks the same for MIG instances).
 */
static int cmp_life(const void *key, const void *elem)
{
	return strcmp(key, ((const struct node_life *)elem)->name);
}

static int node_blocked(struct loomd *d, const struct gpu_view *v, const struct topo_node *n,
			const struct tenant *t, char *why, size_t len)
{
	const struct model *m = &d->model;
	const struct node_life *row = bsearch(n->name, v->lives, v->n_lives, sizeof(*v->lives), cmp_life);
	enum node_state state = row ? row->state : NODE_AVAILABLE;	/* no row: available */
	const struct attachment *const *atts;
	size_t n_atts;

	if (state != NODE_AVAILABLE && state != NODE_ASSIGNED) {
		snprintf(why, len, "node %s is '%s': only an available or assigned node takes MIG instances",
			 n->name, node_state_name(state));
		return LOOM_E_STATE;
	}
	atts = node_atts(v, n->name, &n_atts);
	for (size_t i = 0; i < n_atts; i++) {
		const struct attachment *a = atts[i];
		const struct tenant *o;

		if (strcmp(a->tenant, t->name) == 0)
			continue;
		o = model_tenant(m, a->tenant);
		if (t->isolation != ISOLATION_SOFT) {
			snprintf(why, len, "node %s is used by tenant %s; %s tenant %s gets dedicated nodes",
				 n->name, a->tenant, isolation_name(t->isolation), t->name);
			return LOOM_E_POLICY;
		}
		if (o && o->isolation != ISOLATION_SOFT) {
			snprintf(why, len, "node %s is dedicated to %s tenant %s", n->name,
				 isolation_name(o->isolation), o->name);
			return LOOM_E_POLICY;
		}
	}
	return 0;
}

/*
 * Loads the stored instances and the GPUs that may take them: with @r, only
 * those the request may use (node state, isolation against attachments,
 * rail ports free of other tenants); without, every MIG-capable GPU.
 */
int gpu_view_build(struct loomd *d, const struct gpu_req *r, const char *only_node,
		   struct gpu_view *v, struct loom_err *err)
{
	const struct topology *topo = d->topo;

	memset(v, 0, sizeof(*v));
	if (store_gpu_list(d->store, &v->recs, &v->n_recs))
		return loom_err_set(err, LOOM_E_STORE, "", "cannot read the MIG instances: %s",
				    store_errmsg(d->store));
	v->pl = mig_planner_new();
	v->by_node = malloc((d->model.n_attachments ? d->model.n_attachments : 1) * sizeof(*v->by_node));
	if (!v->pl || !v->by_node)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
	for (size_t i = 0; i < d->model.n_attachments; i++)
		if (!only_node || strcmp(d->model.attachments[i].node, only_node) == 0)
			v->by_node[v->n_by_node++] = &d->model.attachments[i];
	qsort(v->by_node, v->n_by_node, sizeof(*v->by_node), cmp_att_node);
	if (r && only_node) {
		/* One node: one row (a node without one is available). */
		v->lives = calloc(1, sizeof(*v->lives));
		if (!v->lives)
			return loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
		if (api_node_life(d, only_node, v->lives, err))
			return -EINVAL;
		v->n_lives = 1;
	} else if (r && store_node_list(d->store, &v->lives, &v->n_lives)) {
		return loom_err_set(err, LOOM_E_STORE, "", "cannot read the node lifecycles: %s",
				    store_errmsg(d->store));
	}
	for (size_t i = 0; i < topo->n_nodes; i++) {
		const struct topo_node *n = &topo->nodes[i];
		char why[192];
		int b;

		if (only_node && strcmp(only_node, n->name))
			continue;
		/* Not named in the refusal: what is not the tenant's it does not see. */
		if (r && r->assigned_only && !assigned(v, n->name, r->tenant->name))
			continue;
		if (r) {
			b = node_blocked(d, v, n, r->tenant, why, sizeof(why));
			if (b) {
				view_skip(v, "%s", why);
				if (r->node && strcmp(r->node, n->name) == 0) {
					v->node_code = b;
					snprintf(v->node_why, sizeof(v->node_why), "%s", why);
				}
				continue;
			}
		}
		for (size_t k = 0; k < n->n_gpus; k++) {
			const struct topo_gpu *g = &n->gpus[k];
			const struct attachment *a = NULL;
			const char *port = "";

			if (!g->mig_capable || !mig_model_find(g->model))
				continue;
			if (r && r->want_eth && g->nic_port[0]
			    && (a = port_holder(&d->model, v, n->name, g->nic_port, SEG_ETHERNET, r->tenant->name)))
				port = g->nic_port;
			if (r && !a && r->want_ib && g->hca_port[0]
			    && (a = port_holder(&d->model, v, n->name, g->hca_port, SEG_INFINIBAND, r->tenant->name)))
				port = g->hca_port;
			if (a) {
				view_skip(v, "%s gpu%u: its rail port %s is in segment %s/%s of tenant %s",
					  n->name, g->index, port, a->tenant, a->segment, a->tenant);
				continue;
			}
			if (mig_planner_add_gpu(v->pl, n->name, n->site, g->index, g->model, err))
				return -EINVAL;
		}
	}
	/* Pointers into the model: a later attach may move its array. */
	free(v->by_node);
	v->by_node = NULL;
	v->n_by_node = 0;
	for (size_t i = 0; i < v->n_recs; i++) {
		const struct gpu_inst_rec *g = &v->recs[i];
		const struct tenant *t = model_tenant(&d->model, g->tenant);

		if (!mig_planner_gpu_find(v->pl, g->node, g->gpu))
			continue;
		if (mig_planner_add_instance(v->pl, g->node, g->gpu, g->tenant,
					     t && t->isolation != ISOLATION_SOFT, g->profile, g->start, err)) {
			char msg[sizeof(err->msg)];

			snprintf(msg, sizeof(msg), "%s", err->msg);
			loom_err_clear(err);
			return loom_err_set(err, LOOM_E_INTERNAL, "",
					    "stored instance %s gpu%u %s@%u of %s does not fit the topology: %s",
					    g->node, g->gpu, g->profile, g->start, g->tenant, msg);
		}
	}
	return 0;
}

/*
 * src/api_gpu.c: the gpu.* methods.  MIG instances given to tenants are
 * rows of the store (gpu_instances); every request that plans loads them,
 * with the topology's GPUs, into a fresh mig_planner (src/api_gpu_view.h).
 *
 * An instance comes with its network: the NIC port and HCA port that the
 * topology pairs with its GPU (the rail) are attached to the tenant's
 * segments through the same path as segment.attach, and detached, when the
 * tenant's last instance that needs them is released, before the row goes.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/monotime.h"
#include "lib/param.h"
#include "src/api_attach.h"
#include "src/api_gpu.h"
#include "src/api_gpu_view.h"
#include "src/api_life.h"
#include "src/reconcile.h"

/* tenant, profile, count, node, site, segments -> @r. */
static int gpu_req_parse(struct loomd *d, json_t *params, struct gpu_req *r, struct loom_err *err)
{
	static const char *const allowed[] = { "tenant", "profile", "count", "node", "site", "segments", NULL };
	const struct model *m = &d->model;
	json_t *segs = json_object_get(params, "segments");
	json_int_t count = 1;
	const char *tenant;
	size_t n_eth = 0, off = 0;

	memset(r, 0, sizeof(*r));
	if (params_only(params, allowed, err) || param_string(params, "tenant", true, &tenant, err)
	    || param_string(params, "profile", true, &r->profile, err)
	    || param_int(params, "count", 1, GPU_COUNT_MAX, &count, err)
	    || param_string(params, "node", false, &r->node, err)
	    || param_string(params, "site", false, &r->site, err))
		return -EINVAL;
	r->count = (unsigned int)count;
	r->tenant = model_tenant(m, tenant);
	if (!r->tenant)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "tenant", "no tenant '%s'", tenant);
	if (r->node && !topology_node(d->topo, r->node) && topology_foreign(d->topo, TOPO_NODE, r->node, "node", err))
		return -EPERM;
	if (r->node && !topology_node(d->topo, r->node))
		return loom_err_set(err, LOOM_E_NOT_FOUND, "node", "no node '%s' in the topology", r->node);
	if (r->site && !topology_site(d->topo, r->site))
		return loom_err_set(err, LOOM_E_NOT_FOUND, "site", "no site '%s' in the topology", r->site);
	if (r->site && r->tenant->n_sites) {
		size_t i;

		for (i = 0; i < r->tenant->n_sites; i++)
			if (strcmp(r->tenant->sites[i], r->site) == 0)
				break;
		if (i == r->tenant->n_sites)
			return loom_err_set(err, LOOM_E_POLICY, "site",
					    "tenant %s may not use site %s (data residency: see tenant show)",
					    tenant, r->site);
	}
	if (r->node && r->site && strcmp(topology_node(d->topo, r->node)->site, r->site))
		return loom_err_set(err, LOOM_E_PARAMS, "site", "node %s is in site %s, not %s", r->node,
				    topology_node(d->topo, r->node)->site, r->site);
	if (segs) {
		size_t i;
		json_t *v;

		if (!json_is_array(segs) || json_array_size(segs) == 0)
			return loom_err_set(err, LOOM_E_PARAMS, "segments",
					    "'segments' must be a non-empty array of the tenant's segment names");
		if (json_array_size(segs) > GPU_SEG_MAX)
			return loom_err_set(err, LOOM_E_RANGE, "segments",
					    "an instance joins at most %d segments", GPU_SEG_MAX);
		json_array_foreach(segs, i, v) {
			char field[32];
			const struct segment *s;

			snprintf(field, sizeof(field), "segments[%zu]", i);
			if (!json_is_string(v) || !name_is_valid(json_string_value(v)))
				return loom_err_set(err, LOOM_E_PARAMS, field,
						    "'%s' must be a segment name of tenant %s", field, tenant);
			s = model_segment(m, tenant, json_string_value(v));
			if (!s)
				return loom_err_set(err, LOOM_E_NOT_FOUND, field, "no segment '%s/%s'", tenant,
						    json_string_value(v));
			for (size_t k = 0; k < r->n_segs; k++)
				if (r->segs[k] == s)
					return loom_err_set(err, LOOM_E_PARAMS, field, "segment %s is named twice",
							    s->name);
			r->segs[r->n_segs++] = s;
		}
	} else {
		for (size_t i = 0; i < m->n_segments; i++) {
			if (strcmp(m->segments[i].tenant, tenant))
				continue;
			if (r->n_segs == GPU_SEG_MAX)
				return loom_err_set(err, LOOM_E_RANGE, "segments",
						    "tenant %s has more than %d segments; name the instance's "
						    "with 'segments'", tenant, GPU_SEG_MAX);
			r->segs[r->n_segs++] = &m->segments[i];
		}
	}
	for (size_t i = 0; i < r->n_segs; i++) {
		n_eth += r->segs[i]->type == SEG_ETHERNET;
		r->want_eth |= r->segs[i]->type == SEG_ETHERNET;
		r->want_ib |= r->segs[i]->type == SEG_INFINIBAND;
		off += (size_t)snprintf(r->seg_list + off, off < sizeof(r->seg_list) ? sizeof(r->seg_list) - off : 0,
					"%s%s", i ? "," : "", r->segs[i]->name);
	}
	if (off >= sizeof(r->seg_list))
		return loom_err_set(err, LOOM_E_RANGE, "segments", "the segment names are too long together");
	if (n_eth > 1)
		return loom_err_set(err, LOOM_E_PARAMS, "segments",
				    "%s ethernet segments for one instance, but a NIC port sits in one bridge "
				    "only; name one ethernet segment (and any infiniband ones) with 'segments'",
				    segs ? "two or more" : "tenant has several");
	return 0;
}

/*
 * The rail ports of GPU @g joined to the request's segments: attached now
 * unless @dry, or unless the tenant has them there already (a second
 * instance on a GPU of the same rail, or the operator's whole-node
 * attachment).  Each appears in @net.
 */
static int gpu_attach_rail(struct api_call *call, const struct gpu_req *r, const struct topo_node *n,
			   const struct topo_gpu *g, bool dry, json_t *net, struct loom_err *err)
{
	for (size_t i = 0; i < r->n_segs; i++) {
		const struct segment *s = r->segs[i];
		const char *port = gpu_rail_port(g, s->type);
		struct attachment a;
		bool have;

		if (!port[0]) {
			json_array_append_new(net, json_pack("{s:s, s:n, s:s}", "segment", s->name, "port",
							     "note", "the topology pairs no port of this kind with the GPU"));
			continue;
		}
		have = gpu_own_attachment(&call->d->model, r->tenant->name, s->name, n->name, port, false) != NULL;
		json_array_append_new(net, json_pack("{s:s, s:s, s:s, s:b}", "segment", s->name, "node", n->name,
						     "port", port, "new", !have));
		if (have || dry)
			continue;
		memset(&a, 0, sizeof(a));
		snprintf(a.tenant, sizeof(a.tenant), "%s", r->tenant->name);
		snprintf(a.segment, sizeof(a.segment), "%s", s->name);
		snprintf(a.node, sizeof(a.node), "%s", n->name);
		snprintf(a.port, sizeof(a.port), "%s", port);
		if (api_attach(call, &a, err))
			return -EINVAL;
	}
	return 0;
}

/* gpu.plan (dry) and gpu.apply. */
static int gpu_place(struct api_call *call, json_t *params, bool dry, json_t **result, struct loom_err *err)
{
	struct loomd *d = call->d;
	struct mig_placement *out = NULL;
	const char *sites[LOOM_MAX_SITES];
	struct mig_request req;
	struct gpu_view v = { 0 };
	struct gpu_req r;
	json_t *list = NULL;
	int ret = -EINVAL, rc;

	if (gpu_req_parse(d, params, &r, err))
		return -EINVAL;
	/* A tenant:NAME principal places only on the nodes assigned to it. */
	r.assigned_only = call->peer && call->peer->role == ROLE_TENANT;
	if (gpu_view_build(d, &r, r.node, &v, err))
		goto out;
	if (v.node_code) {
		loom_err_set(err, v.node_code, "node", "%s", v.node_why);
		goto out;
	}
	for (size_t i = 0; i < r.tenant->n_sites; i++)
		sites[i] = r.tenant->sites[i];
	memset(&req, 0, sizeof(req));
	req.tenant = r.tenant->name;
	req.exclusive = r.tenant->isolation != ISOLATION_SOFT;
	req.profile = r.profile;
	req.count = r.count;
	req.node = r.node;
	req.site = r.site;
	req.sites = r.tenant->n_sites ? sites : NULL;
	req.n_sites = r.tenant->n_sites;
	out = calloc(r.count, sizeof(*out));
	if (!out) {
		loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
		goto out;
	}
	rc = mig_planner_place(v.pl, &req, out, err);
	if (rc < 0) {
		size_t len = strlen(err->msg);

		if (v.n_skipped && len + 16 < sizeof(err->msg))
			snprintf(err->msg + len, sizeof(err->msg) - len, " (left out: %s%s)", v.skipped,
				 v.n_skipped > 3 ? "; ..." : "");
		goto out;
	}
	list = json_array();
	for (size_t i = 0; i < r.count; i++) {
		const struct mig_placement *p = &out[i];
		const struct topo_node *n = topology_node(d->topo, p->node);
		const struct topo_gpu *g = gpu_topo_gpu(n, p->gpu);
		json_t *pj, *net = json_array();

		pj = json_pack("{s:s, s:I, s:s, s:s, s:I, s:I}", "node", p->node, "gpu", (json_int_t)p->gpu,
			       "tenant", p->tenant, "profile", p->profile, "start", (json_int_t)p->start,
			       "size", (json_int_t)p->size);
		json_object_set_new(pj, "network", net);
		json_array_append_new(list, pj);
		if (!dry) {
			struct gpu_inst_rec rec;

			memset(&rec, 0, sizeof(rec));
			snprintf(rec.node, sizeof(rec.node), "%s", p->node);
			rec.gpu = p->gpu;
			rec.start = p->start;
			snprintf(rec.tenant, sizeof(rec.tenant), "%s", p->tenant);
			snprintf(rec.profile, sizeof(rec.profile), "%s", p->profile);
			snprintf(rec.segments, sizeof(rec.segments), "%s", r.seg_list);
			rec.created_ns = realtime_ns();
			call->model_touched = true;
			if (store_gpu_put(d->store, &rec)) {
				store_failed(call, err);
				goto out;
			}
		}
		if (gpu_attach_rail(call, &r, n, g, dry, net, err)) {
			char where[32];

			snprintf(where, sizeof(where), "placements[%zu]", i);
			loom_err_prefix(err, where);
			goto out;
		}
		if (!dry) {
			struct node_life cur, next;

			/* A node that takes an instance is the tenant's, network or not. */
			if (api_node_life(d, p->node, &cur, err))
				goto out;
			if (cur.state == NODE_AVAILABLE) {
				next = cur;
				next.state = NODE_ASSIGNED;
				snprintf(next.reason, sizeof(next.reason), "MIG instance for %s", p->tenant);
				if (api_node_life_store(call, &cur, &next, node_event_name(NODE_EV_ASSIGN), err))
					goto out;
			}
		}
	}
	*result = json_pack("{s:s, s:s, s:I, s:b, s:o}", "tenant", r.tenant->name, "profile", r.profile,
			    "count", (json_int_t)r.count, "applied", !dry, "placements", list);
	list = NULL;
	ret = 0;
out:
	json_decref(list);
	free(out);
	gpu_view_free(&v);
	return ret;
}

int m_gpu_plan(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	return gpu_place(call, params, true, result, err);
}

int m_gpu_apply(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	return gpu_place(call, params, false, result, err);
}

static json_t *rec_to_json(const struct gpu_inst_rec *g)
{
	return json_pack("{s:s, s:I, s:s, s:s, s:I}", "node", g->node, "gpu", (json_int_t)g->gpu,
			 "tenant", g->tenant, "profile", g->profile, "start", (json_int_t)g->start);
}

/*
 * Releases the tenant's instances that match (@node NULL: all; @gpu / @start
 * < 0: any).  Rail-port attachments that no remaining instance of the
 * tenant needs are detached first, then the rows go.  Returns the count.
 */
static int release_matching(struct api_call *call, const char *tenant, const char *node, long gpu, long start,
			    json_t *released, json_t *detached, struct loom_err *err)
{
	struct loomd *d = call->d;
	struct gpu_inst_rec *recs = NULL;
	bool *gone = NULL;
	size_t n = 0;
	int count = 0, ret = -EINVAL;

	if (store_gpu_list(d->store, &recs, &n))
		return loom_err_set(err, LOOM_E_STORE, "", "cannot read the MIG instances: %s",
				    store_errmsg(d->store));
	gone = calloc(n ? n : 1, sizeof(*gone));
	if (!gone) {
		loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct gpu_inst_rec *g = &recs[i];

		gone[i] = strcmp(g->tenant, tenant) == 0 && (!node || strcmp(g->node, node) == 0)
			  && (gpu < 0 || g->gpu == (unsigned long)gpu) && (start < 0 || g->start == (unsigned long)start);
		count += gone[i];
	}
	for (size_t i = 0; i < n; i++) {
		const struct gpu_inst_rec *g = &recs[i];
		const struct topo_node *tn;
		const struct topo_gpu *tg;
		char list[GPU_SEGMENTS_MAX], *save = NULL;

		if (!gone[i])
			continue;
		tn = topology_node(d->topo, g->node);
		tg = gpu_topo_gpu(tn, g->gpu);
		snprintf(list, sizeof(list), "%s", g->segments);
		for (char *name = strtok_r(list, ",", &save); name && tg; name = strtok_r(NULL, ",", &save)) {
			const struct segment *s = model_segment(&d->model, tenant, name);
			const struct attachment *a;
			const char *port;
			bool needed = false;

			if (!s)
				continue;
			port = gpu_rail_port(tg, s->type);
			if (!port[0])
				continue;
			for (size_t k = 0; k < n && !needed; k++) {
				const struct gpu_inst_rec *o = &recs[k];

				needed = !gone[k] && strcmp(o->tenant, tenant) == 0 && strcmp(o->node, g->node) == 0
					 && gpu_list_has(o->segments, name)
					 && strcmp(gpu_rail_port(gpu_topo_gpu(tn, o->gpu), s->type), port) == 0;
			}
			a = needed ? NULL : gpu_own_attachment(&d->model, tenant, name, g->node, port, true);
			if (!a)
				continue;
			json_array_append_new(detached, attachment_to_json(a));
			if (api_detach(call, a, err))
				goto out;
		}
		call->model_touched = true;
		if (store_gpu_delete(d->store, g->node, g->gpu, g->start)) {
			store_failed(call, err);
			goto out;
		}
		json_array_append_new(released, rec_to_json(g));
	}
	ret = count;
out:
	free(gone);
	free(recs);
	return ret;
}

int m_gpu_release(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "tenant", "node", "gpu", "start", NULL };
	json_int_t gpu = -1, start = -1;
	const char *tenant, *node;
	json_t *released, *detached;
	int n;

	if (params_only(params, allowed, err) || param_string(params, "tenant", true, &tenant, err)
	    || param_string(params, "node", false, &node, err)
	    || param_int(params, "gpu", 0, GPU_INDEX_MAX, &gpu, err)
	    || param_int(params, "start", 0, MIG_SLICES_MAX - 1, &start, err))
		return -EINVAL;
	if (!model_tenant(&call->d->model, tenant))
		return loom_err_set(err, LOOM_E_NOT_FOUND, "tenant", "no tenant '%s'", tenant);
	if (node && !topology_node(call->d->topo, node) && topology_foreign(call->d->topo, TOPO_NODE, node, "node", err))
		return -EPERM;
	if (node && !topology_node(call->d->topo, node))
		return loom_err_set(err, LOOM_E_NOT_FOUND, "node", "no node '%s' in the topology", node);
	if (gpu >= 0 && !node)
		return loom_err_set(err, LOOM_E_PARAMS, "gpu", "'gpu' needs 'node'");
	if (start >= 0 && gpu < 0)
		return loom_err_set(err, LOOM_E_PARAMS, "start", "'start' needs 'node' and 'gpu'");
	released = json_array();
	detached = json_array();
	n = release_matching(call, tenant, node, (long)gpu, (long)start, released, detached, err);
	if (n == 0)
		loom_err_set(err, LOOM_E_NOT_FOUND, start >= 0 ? "start" : gpu >= 0 ? "gpu" : node ? "node" : "tenant",
			     "tenant %s holds no MIG instance%s%s%s", tenant, node ? " on " : "", node ? node : "",
			     gpu >= 0 ? " there (see loomctl gpu show)" : "");
	if (n <= 0) {
		json_decref(released);
		json_decref(detached);
		return -EINVAL;
	}
	*result = json_pack("{s:s, s:o, s:o}", "tenant", tenant, "released", released, "detached", detached);
	return 0;
}

int gpu_release_tenant(struct api_call *call, const char *tenant, struct loom_err *err)
{
	json_t *released = json_array(), *detached = json_array();
	int n = release_matching(call, tenant, NULL, -1, -1, released, detached, err);

	json_decref(released);
	json_decref(detached);
	return n;
}

int gpu_release_node(struct api_call *call, const char *node, char *tenants, size_t tenants_len,
		     struct loom_err *err)
{
	struct gpu_inst_rec *recs = NULL;
	json_t *released = json_array(), *detached = json_array();
	size_t n = 0, len = 0;
	int total = 0;

	tenants[0] = '\0';
	if (store_gpu_list(call->d->store, &recs, &n)) {
		total = loom_err_set(err, LOOM_E_STORE, "", "cannot read the MIG instances: %s",
				     store_errmsg(call->d->store));
		goto out;
	}
	/* Each tenant's first record on the node releases all of that tenant's there. */
	for (size_t i = 0; i < n; i++) {
		const struct gpu_inst_rec *g = &recs[i];
		bool seen = false;
		int r;

		if (strcmp(g->node, node))
			continue;
		for (size_t k = 0; k < i && !seen; k++)
			seen = strcmp(recs[k].node, node) == 0 && strcmp(recs[k].tenant, g->tenant) == 0;
		if (seen)
			continue;
		r = release_matching(call, g->tenant, node, -1, -1, released, detached, err);
		if (r < 0) {
			total = r;
			goto out;
		}
		total += r;
		if (len < tenants_len)
			len += (size_t)snprintf(tenants + len, tenants_len - len, "%s%s", len ? ", " : "", g->tenant);
	}
out:
	json_decref(released);
	json_decref(detached);
	free(recs);
	return total;
}

json_t *gpu_node_groups(struct loomd *d, const char *node)
{
	struct gpu_inst_rec *recs = NULL;
	json_t *groups = json_array();
	size_t n = 0;

	if (!groups || store_gpu_list(d->store, &recs, &n)) {
		json_decref(groups);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		const struct gpu_inst_rec *g = &recs[i];
		json_t *grp = NULL, *v;
		size_t k;

		if (strcmp(g->node, node))
			continue;
		json_array_foreach(groups, k, v)
			if (!strcmp(json_string_value(json_object_get(v, "tenant")), g->tenant) &&
			    !strcmp(json_string_value(json_object_get(v, "profile")), g->profile) &&
			    !strcmp(json_string_value(json_object_get(v, "segments")), g->segments))
				grp = v;
		if (grp)
			json_object_set_new(grp, "count",
					    json_integer(json_integer_value(json_object_get(grp, "count")) + 1));
		else
			json_array_append_new(groups, json_pack("{s:s, s:s, s:s, s:i}", "tenant", g->tenant,
								"profile", g->profile, "segments", g->segments,
								"count", 1));
	}
	free(recs);
	return groups;
}

int gpu_place_groups(struct api_call *call, const char *node, json_t *groups, struct loom_err *err)
{
	json_t *grp;
	size_t i;
	int placed = 0;

	json_array_foreach(groups, i, grp) {
		const char *segs = json_string_value(json_object_get(grp, "segments"));
		json_t *params = json_pack("{s:O, s:O, s:O, s:s}", "tenant", json_object_get(grp, "tenant"),
					   "profile", json_object_get(grp, "profile"),
					   "count", json_object_get(grp, "count"), "node", node);
		json_t *result = NULL, *list = json_array();
		char buf[GPU_SEGMENTS_MAX], *save = NULL;
		int ret;

		if (!params || !list || !segs) {
			json_decref(params);
			json_decref(list);
			return loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
		}
		snprintf(buf, sizeof(buf), "%s", segs);
		for (char *name = strtok_r(buf, ",", &save); name; name = strtok_r(NULL, ",", &save))
			json_array_append_new(list, json_string(name));
		if (json_array_size(list))
			json_object_set(params, "segments", list);
		json_decref(list);
		ret = gpu_place(call, params, false, &result, err);
		json_decref(params);
		json_decref(result);
		if (ret)
			return -EINVAL;
		placed += (int)json_integer_value(json_object_get(grp, "count"));
	}
	return placed;
}

int gpu_tenant_count(struct loomd *d, const char *tenant)
{
	struct gpu_inst_rec *recs = NULL;
	size_t n = 0;
	int count = 0;

	if (store_gpu_list(d->store, &recs, &n))
		return -EIO;
	for (size_t i = 0; i < n; i++)
		count += strcmp(recs[i].tenant, tenant) == 0;
	free(recs);
	return count;
}

static void time_text(int64_t ns, char *buf, size_t len)
{
	time_t sec = (time_t)(ns / 1000000000);
	struct tm tm;

	gmtime_r(&sec, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *segments_json(const char *list)
{
	json_t *arr = json_array();
	char buf[GPU_SEGMENTS_MAX], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *name = strtok_r(buf, ",", &save); name; name = strtok_r(NULL, ",", &save))
		json_array_append_new(arr, json_string(name));
	return arr;
}

/*
 * What the GPU target reports for one GPU: loomd runs centrally and NVML is
 * local to a node, so a node whose NVML loomd.conf does not name is planned
 * and recorded, not applied.
 */
static json_t *gpu_apply_status(struct loomd *d, const char *node, unsigned int index)
{
	json_t *st = d->rec ? reconciler_gpu_status(d->rec, node, index) : NULL;
	char why[192];

	if (st)
		return st;
	if (!d->rec)
		snprintf(why, sizeof(why), "reconcile = no: loomd drives no targets");
	else
		snprintf(why, sizeof(why), "no NVML reachable for node %s (no gpu.nvml.%s in loomd.conf): "
			 "planned and recorded, not applied", node, node);
	return json_pack("{s:s, s:s}", "state", "unmanaged", "reason", why);
}

void gpu_status_unmanaged(struct loomd *d, json_t *gpus)
{
	struct gpu_inst_rec *recs = NULL;
	size_t n = 0;

	if (!d->rec || !gpus || store_gpu_list(d->store, &recs, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		char seg[16];
		json_t *st;

		/* once per GPU: the rows are sorted by (node, gpu, start) */
		if (i && strcmp(recs[i].node, recs[i - 1].node) == 0 && recs[i].gpu == recs[i - 1].gpu)
			continue;
		if (reconciler_gpu_managed(d->rec, recs[i].node))
			continue;
		st = gpu_apply_status(d, recs[i].node, recs[i].gpu);
		snprintf(seg, sizeof(seg), "gpu%u", recs[i].gpu);
		json_object_set_new(st, "target", json_string(recs[i].node));
		json_object_set_new(st, "kind", json_string("gpu"));
		json_object_set_new(st, "segment", json_string(seg));
		json_object_set_new(st, "layer", json_string("nvml"));
		json_array_append_new(gpus, st);
	}
	free(recs);
}

int m_gpu_show(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "node", "tenant", NULL };
	struct loomd *d = call->d;
	const char *node, *tenant;
	struct gpu_view v;
	json_t *list;

	if (params_only(params, allowed, err) || param_string(params, "node", false, &node, err)
	    || param_string(params, "tenant", false, &tenant, err))
		return -EINVAL;
	if (node && !topology_node(d->topo, node) && topology_foreign(d->topo, TOPO_NODE, node, "node", err))
		return -EPERM;
	if (node && !topology_node(d->topo, node))
		return loom_err_set(err, LOOM_E_NOT_FOUND, "node", "no node '%s' in the topology", node);
	if (tenant && !model_tenant(&d->model, tenant))
		return loom_err_set(err, LOOM_E_NOT_FOUND, "tenant", "no tenant '%s'", tenant);
	if (gpu_view_build(d, NULL, node, &v, err)) {
		gpu_view_free(&v);
		return -EINVAL;
	}
	list = json_array();
	for (size_t i = 0; i < d->topo->n_nodes; i++) {
		const struct topo_node *n = &d->topo->nodes[i];

		if (node && strcmp(node, n->name))
			continue;
		for (size_t k = 0; k < n->n_gpus; k++) {
			const struct topo_gpu *g = &n->gpus[k];
			const struct mig_gpu *mg = mig_planner_gpu_find(v.pl, n->name, g->index);
			json_t *o, *inst = json_array();
			bool mine = !tenant;

			for (size_t r = 0; r < v.n_recs; r++) {
				const struct gpu_inst_rec *rec = &v.recs[r];
				const struct mig_profile *prof;
				char when[48];
				json_t *ij;

				if (strcmp(rec->node, n->name) || rec->gpu != g->index)
					continue;
				mine |= tenant && strcmp(rec->tenant, tenant) == 0;
				prof = mg ? mig_profile_find(mg->model, rec->profile) : NULL;
				time_text(rec->created_ns, when, sizeof(when));
				ij = rec_to_json(rec);
				json_object_del(ij, "node");
				json_object_del(ij, "gpu");
				json_object_set_new(ij, "size", json_integer(prof ? prof->mem : 0));
				json_object_set_new(ij, "segments", segments_json(rec->segments));
				json_object_set_new(ij, "created", json_string(when));
				json_array_append_new(inst, ij);
			}
			if (!mine) {
				json_decref(inst);
				continue;
			}
			o = json_pack("{s:s, s:s, s:I, s:s, s:b, s:s, s:s}", "node", n->name, "site", n->site,
				      "gpu", (json_int_t)g->index, "model", g->model, "mig_capable", g->mig_capable,
				      "nic_port", g->nic_port, "hca_port", g->hca_port);
			json_object_set_new(o, "instances", inst);
			if (mg) {
				char pic[1024];

				mig_gpu_picture(mg, pic, sizeof(pic));
				json_object_set_new(o, "slices", json_integer(mg->model->mem_slices));
				json_object_set_new(o, "free", json_integer(mg->model->mem_slices
									    - (unsigned int)__builtin_popcount(mg->used)));
				json_object_set_new(o, "picture", json_string(pic));
			} else {
				json_object_set_new(o, "note", json_string(g->mig_capable
					? "no MIG profile table for this model" : "not MIG capable"));
			}
			json_object_set_new(o, "apply", gpu_apply_status(d, n->name, g->index));
			json_array_append_new(list, o);
		}
	}
	gpu_view_free(&v);
	*result = list;
	return 0;
}

int m_gpu_compact(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "node", "dry_run", NULL };
	struct loomd *d = call->d;
	struct mig_move *moves = NULL;
	struct gpu_view v;
	const char *node;
	bool dry;
	json_t *list = NULL;
	int n, ret = -EINVAL;

	if (params_only(params, allowed, err) || param_string(params, "node", false, &node, err)
	    || param_bool(params, "dry_run", &dry, err))
		return -EINVAL;
	if (node && !topology_node(d->topo, node) && topology_foreign(d->topo, TOPO_NODE, node, "node", err))
		return -EPERM;
	if (node && !topology_node(d->topo, node))
		return loom_err_set(err, LOOM_E_NOT_FOUND, "node", "no node '%s' in the topology", node);
	if (gpu_view_build(d, NULL, node, &v, err))
		goto out;
	n = mig_planner_compact(v.pl, &moves);
	if (n < 0) {
		loom_err_set(err, LOOM_E_INTERNAL, "", "compaction failed: %s", strerror(-n));
		goto out;
	}
	list = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(list, json_pack("{s:s, s:I, s:s, s:s, s:I, s:I}", "node", moves[i].node,
						      "gpu", (json_int_t)moves[i].gpu, "tenant", moves[i].tenant,
						      "profile", moves[i].profile, "from", (json_int_t)moves[i].from,
						      "to", (json_int_t)moves[i].to));
	if (!dry && n > 0) {
		struct gpu_inst_rec *moved = calloc((size_t)n, sizeof(*moved));

		if (!moved || mig_planner_apply_moves(v.pl, moves, (size_t)n, err)) {
			free(moved);
			loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
			goto out;
		}
		call->model_touched = true;
		/* All rows out first: one move may land where another leaves. */
		for (int i = 0; i < n; i++) {
			for (size_t k = 0; k < v.n_recs; k++)
				if (strcmp(v.recs[k].node, moves[i].node) == 0 && v.recs[k].gpu == moves[i].gpu
				    && v.recs[k].start == moves[i].from)
					moved[i] = v.recs[k];
			moved[i].start = moves[i].to;
			if (store_gpu_delete(d->store, moves[i].node, moves[i].gpu, moves[i].from)) {
				free(moved);
				store_failed(call, err);
				goto out;
			}
		}
		for (int i = 0; i < n; i++) {
			if (store_gpu_put(d->store, &moved[i])) {
				free(moved);
				store_failed(call, err);
				goto out;
			}
		}
		free(moved);
	}
	*result = json_pack("{s:b, s:o}", "applied", !dry && n > 0, "moves", list);
	list = NULL;
	ret = 0;
out:
	json_decref(list);
	free(moves);
	gpu_view_free(&v);
	return ret;
}

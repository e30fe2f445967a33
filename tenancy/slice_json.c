/*
 * tenancy/slice_json.c: a target's slice as JSON and back
 * (tenancy/slice_json.h).  The encoders write what compile made; the
 * decoders trust nothing: every field is checked for type, range and
 * length, every array for order, and the first fault is named by its path.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tenancy/slice_json.h"

/* ---- reading fields ---------------------------------------------------- */

static int field_err(struct loom_err *err, const char *path, const char *what)
{
	return loom_err_set(err, LOOM_E_PARAMS, path, "%s: %s", path, what);
}

/* A string of at most @size - 1 bytes into @buf; "" when absent and optional. */
static int get_str(const json_t *obj, const char *key, const char *at, char *buf, size_t size, bool required,
		   struct loom_err *err)
{
	const json_t *v = json_object_get(obj, key);
	char path[160];

	snprintf(path, sizeof(path), "%s%s%s", at, *at ? "." : "", key);
	buf[0] = '\0';
	if (!v)
		return required ? field_err(err, path, "missing") : 0;
	if (!json_is_string(v))
		return field_err(err, path, "not a string");
	if (json_string_length(v) >= size || strlen(json_string_value(v)) != json_string_length(v))
		return loom_err_set(err, LOOM_E_PARAMS, path, "%s: longer than %zu bytes or has a NUL", path,
				    size - 1);
	if (required && !json_string_length(v))
		return field_err(err, path, "empty");
	memcpy(buf, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

/* An integer in [@min, @max]; 0 when absent and optional. */
static int get_uint(const json_t *obj, const char *key, const char *at, uint64_t min, uint64_t max, bool required,
		    uint64_t *out, struct loom_err *err)
{
	const json_t *v = json_object_get(obj, key);
	char path[160];

	snprintf(path, sizeof(path), "%s%s%s", at, *at ? "." : "", key);
	*out = 0;
	if (!v)
		return required ? field_err(err, path, "missing") : 0;
	if (!json_is_integer(v))
		return field_err(err, path, "not an integer");
	if (json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) < min
	    || (uint64_t)json_integer_value(v) > max)
		return loom_err_set(err, LOOM_E_RANGE, path, "%s: %" PRId64 " is outside %" PRIu64 "..%" PRIu64,
				    path, (int64_t)json_integer_value(v), min, max);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* An array (empty when absent); *n its size. */
static int get_array(const json_t *obj, const char *key, const char *at, const json_t **arr, struct loom_err *err)
{
	const json_t *v = json_object_get(obj, key);
	char path[160];

	snprintf(path, sizeof(path), "%s%s%s", at, *at ? "." : "", key);
	*arr = v;
	if (v && !json_is_array(v))
		return field_err(err, path, "not an array");
	return 0;
}

static int need_object(const json_t *v, const char *path, struct loom_err *err)
{
	return json_is_object(v) ? 0 : field_err(err, *path ? path : "slice", "not an object");
}

/* ---- VTEP ----------------------------------------------------------------- */

static json_t *vni_json(const struct vtep_vni *v)
{
	json_t *ports = json_array(), *o;

	for (size_t i = 0; ports && i < v->n_ports; i++)
		if (json_array_append_new(ports, json_string(v->ports[i]))) {
			json_decref(ports);
			return NULL;
		}
	if (!ports)
		return NULL;
	o = json_pack("{sI sI ss ss ss ss so}", "vni", (json_int_t)v->vni, "mtu", (json_int_t)v->mtu,
		      "tenant", v->tenant, "segment", v->segment, "rd", v->rd, "rt", v->rt, "ports", ports);
	if (o && v->port_vlans) {
		json_t *vl = json_array();

		for (size_t i = 0; vl && i < v->n_ports; i++)
			if (json_array_append_new(vl, json_integer(v->port_vlans[i])))
				break;
		if (!vl || json_object_set_new(o, "vlans", vl)) {
			json_decref(o);
			return NULL;
		}
	}
	if (o && v->l3vni &&
	    (json_object_set_new(o, "l3vni", json_integer(v->l3vni)) ||
	     json_object_set_new(o, "gateway4", json_string(v->gateway4)) ||
	     json_object_set_new(o, "gateway6", json_string(v->gateway6)))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *vtep_desired_to_json(const struct vtep_desired *d)
{
	json_t *vnis = json_array(), *o;

	for (size_t i = 0; vnis && i < d->n_vnis; i++)
		if (json_array_append_new(vnis, vni_json(&d->vnis[i]))) {
			json_decref(vnis);
			return NULL;
		}
	if (!vnis)
		return NULL;
	o = json_pack("{ss so}", "vtep", d->vtep, "vnis", vnis);
	/* Routing: only when there is some, so older agents' slices stay as they were. */
	if (o && d->n_vrfs &&
	    (json_object_set_new(o, "vrfs", vtep_vrfs_to_json(d)) ||
	     json_object_set_new(o, "gateway_mac", json_string(d->gateway_mac)))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int vrfs_from_json(const json_t *j, struct vtep_desired *d, struct loom_err *err)
{
	const json_t *vrfs;
	int ret;

	if ((ret = get_array(j, "vrfs", "", &vrfs, err)))
		return ret;
	if (!vrfs || !json_array_size(vrfs))
		return 0;
	if ((ret = get_str(j, "gateway_mac", "", d->gateway_mac, sizeof(d->gateway_mac), true, err)))
		return ret;
	d->vrfs = calloc(json_array_size(vrfs), sizeof(*d->vrfs));
	if (!d->vrfs)
		return -ENOMEM;
	for (size_t i = 0; i < json_array_size(vrfs); i++) {
		const json_t *f = json_array_get(vrfs, i);
		struct vtep_vrf *v = &d->vrfs[i];
		uint64_t n;
		char at[32];

		snprintf(at, sizeof(at), "vrfs[%zu]", i);
		d->n_vrfs = i + 1;
		if ((ret = need_object(f, at, err)) ||
		    (ret = get_uint(f, "l3vni", at, 1, 0xffffff, true, &n, err)))
			return ret;
		v->l3vni = (uint32_t)n;
		if ((ret = get_str(f, "tenant", at, v->tenant, sizeof(v->tenant), true, err)) ||
		    (ret = get_str(f, "rd", at, v->rd, sizeof(v->rd), false, err)) ||
		    (ret = get_str(f, "rt", at, v->rt, sizeof(v->rt), false, err)) ||
		    (ret = get_str(f, "router_id", at, v->router_id, sizeof(v->router_id), false, err)))
			return ret;
		if (i && d->vrfs[i - 1].l3vni >= v->l3vni)
			return field_err(err, at, "vrfs must be sorted by l3vni and distinct");
	}
	return 0;
}

static int vni_from_json(const json_t *j, const char *at, struct vtep_vni *v, struct loom_err *err)
{
	const json_t *ports, *vlans;
	uint64_t n;
	int ret;

	if ((ret = need_object(j, at, err)))
		return ret;
	if ((ret = get_uint(j, "vni", at, 1, 0xffffff, true, &n, err)))
		return ret;
	v->vni = (uint32_t)n;
	if ((ret = get_uint(j, "mtu", at, 0, 65535, false, &n, err)))
		return ret;
	v->mtu = (unsigned int)n;
	if ((ret = get_str(j, "tenant", at, v->tenant, sizeof(v->tenant), true, err))
	    || (ret = get_str(j, "segment", at, v->segment, sizeof(v->segment), true, err))
	    || (ret = get_str(j, "rd", at, v->rd, sizeof(v->rd), false, err))
	    || (ret = get_str(j, "rt", at, v->rt, sizeof(v->rt), false, err))
	    || (ret = get_array(j, "ports", at, &ports, err)))
		return ret;
	if ((ret = get_uint(j, "l3vni", at, 0, 0xffffff, false, &n, err)))
		return ret;
	v->l3vni = (uint32_t)n;
	if ((ret = get_str(j, "gateway4", at, v->gateway4, sizeof(v->gateway4), false, err))
	    || (ret = get_str(j, "gateway6", at, v->gateway6, sizeof(v->gateway6), false, err)))
		return ret;
	v->n_ports = ports ? json_array_size(ports) : 0;
	v->ports = calloc(v->n_ports ? v->n_ports : 1, sizeof(*v->ports));
	if (!v->ports)
		return -ENOMEM;
	for (size_t i = 0; i < v->n_ports; i++) {
		const json_t *p = json_array_get(ports, i);
		char path[200];

		snprintf(path, sizeof(path), "%s.ports[%zu]", at, i);
		if (!json_is_string(p) || !json_string_length(p) || json_string_length(p) >= LOOM_IFNAME_MAX
		    || strchr(json_string_value(p), '/'))
			return field_err(err, path, "not an interface name");
		snprintf(v->ports[i], sizeof(v->ports[i]), "%s", json_string_value(p));
		if (i && strcmp(v->ports[i - 1], v->ports[i]) >= 0)
			return field_err(err, path, "ports must be sorted and distinct");
	}
	vlans = json_object_get(j, "vlans");
	if (!vlans)
		return 0;
	{
		char path[200];

		snprintf(path, sizeof(path), "%s.vlans", at);
		if (!json_is_array(vlans) || json_array_size(vlans) != v->n_ports)
			return field_err(err, path, "must be an array as long as ports");
	}
	v->port_vlans = calloc(v->n_ports ? v->n_ports : 1, sizeof(*v->port_vlans));
	if (!v->port_vlans)
		return -ENOMEM;
	for (size_t i = 0; i < v->n_ports; i++) {
		const json_t *x = json_array_get(vlans, i);
		char path[200];

		snprintf(path, sizeof(path), "%s.vlans[%zu]", at, i);
		if (!json_is_integer(x) || json_integer_value(x) < 0 ||
		    json_integer_value(x) > LOOM_VLAN_MAX)
			return field_err(err, path, "not a VLAN ID (0..4094, 0 = untagged)");
		v->port_vlans[i] = (uint16_t)json_integer_value(x);
	}
	return 0;
}

int vtep_desired_from_json(const json_t *j, struct vtep_desired **out, struct loom_err *err)
{
	struct vtep_desired *d = calloc(1, sizeof(*d));
	const json_t *vnis;
	int ret;

	*out = NULL;
	if (!d)
		return -ENOMEM;
	if ((ret = need_object(j, "", err)) || (ret = get_str(j, "vtep", "", d->vtep, sizeof(d->vtep), true, err))
	    || (ret = get_array(j, "vnis", "", &vnis, err)))
		goto fail;
	d->vnis = calloc(vnis && json_array_size(vnis) ? json_array_size(vnis) : 1, sizeof(*d->vnis));
	if (!d->vnis) {
		ret = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; vnis && i < json_array_size(vnis); i++) {
		char at[32];

		snprintf(at, sizeof(at), "vnis[%zu]", i);
		d->n_vnis = i + 1;
		if ((ret = vni_from_json(json_array_get(vnis, i), at, &d->vnis[i], err)))
			goto fail;
		if (i && d->vnis[i - 1].vni >= d->vnis[i].vni) {
			ret = field_err(err, at, "vnis must be sorted by vni and distinct");
			goto fail;
		}
	}
	if ((ret = vrfs_from_json(j, d, err)))
		goto fail;
	*out = d;
	return 0;
fail:
	vtep_desired_free(&d);
	return ret;
}

/* ---- subnet manager -------------------------------------------------------- */

static json_t *partition_json(const struct sm_partition *p)
{
	json_t *members = json_array();

	for (size_t i = 0; members && i < p->n_members; i++) {
		const struct pkey_member *mb = &p->members[i];
		char guid[19];

		snprintf(guid, sizeof(guid), "0x%016" PRIx64, mb->guid);
		if (json_array_append_new(members, json_pack("{ss ss ss ss}", "guid", guid, "membership",
							     mb->membership == MEMBERSHIP_LIMITED ? "limited" : "full",
							     "node", mb->node, "port", mb->port))) {
			json_decref(members);
			return NULL;
		}
	}
	if (!members)
		return NULL;
	return json_pack("{sI ss ss ss sb sI sI sI so}", "pkey", (json_int_t)p->pkey, "name", p->name, "tenant",
			 p->tenant, "segment", p->segment, "ipoib", p->ipoib, "mtu", (json_int_t)p->mtu,
			 "rate_gbps", (json_int_t)p->rate_gbps, "sl", (json_int_t)p->sl, "members", members);
}

json_t *sm_desired_to_json(const struct sm_desired *d)
{
	json_t *parts = json_array();

	for (size_t i = 0; parts && i < d->n_partitions; i++)
		if (json_array_append_new(parts, partition_json(&d->partitions[i]))) {
			json_decref(parts);
			return NULL;
		}
	if (!parts)
		return NULL;
	return json_pack("{ss so}", "sm", d->sm, "partitions", parts);
}

static int member_from_json(const json_t *j, const char *at, struct pkey_member *mb, struct loom_err *err)
{
	char guid[24], membership[16], path[220];
	char *end;
	int ret;

	if ((ret = need_object(j, at, err)) || (ret = get_str(j, "guid", at, guid, sizeof(guid), true, err))
	    || (ret = get_str(j, "membership", at, membership, sizeof(membership), true, err))
	    || (ret = get_str(j, "node", at, mb->node, sizeof(mb->node), false, err))
	    || (ret = get_str(j, "port", at, mb->port, sizeof(mb->port), false, err)))
		return ret;
	snprintf(path, sizeof(path), "%s.guid", at);
	errno = 0;
	mb->guid = strtoull(guid, &end, 16);
	if (strncmp(guid, "0x", 2) || errno || *end || !mb->guid)
		return field_err(err, path, "not a GUID (0x followed by hex digits, not zero)");
	snprintf(path, sizeof(path), "%s.membership", at);
	if (!strcmp(membership, "full"))
		mb->membership = MEMBERSHIP_FULL;
	else if (!strcmp(membership, "limited"))
		mb->membership = MEMBERSHIP_LIMITED;
	else
		return field_err(err, path, "neither \"full\" nor \"limited\"");
	return 0;
}

static int partition_from_json(const json_t *j, const char *at, struct sm_partition *p, struct loom_err *err)
{
	const json_t *members, *ipoib;
	uint64_t n;
	int ret;

	if ((ret = need_object(j, at, err)) || (ret = get_uint(j, "pkey", at, 1, 0x7ffe, true, &n, err)))
		return ret;
	p->pkey = (uint16_t)n;
	if ((ret = get_str(j, "name", at, p->name, sizeof(p->name), true, err))
	    || (ret = get_str(j, "tenant", at, p->tenant, sizeof(p->tenant), true, err))
	    || (ret = get_str(j, "segment", at, p->segment, sizeof(p->segment), true, err)))
		return ret;
	ipoib = json_object_get(j, "ipoib");
	if (ipoib && !json_is_boolean(ipoib)) {
		char path[200];

		snprintf(path, sizeof(path), "%s.ipoib", at);
		return field_err(err, path, "not true or false");
	}
	p->ipoib = json_is_true(ipoib);
	if ((ret = get_uint(j, "mtu", at, 0, 65535, false, &n, err)))
		return ret;
	p->mtu = (unsigned int)n;
	if ((ret = get_uint(j, "rate_gbps", at, 0, 100000, false, &n, err)))
		return ret;
	p->rate_gbps = (unsigned int)n;
	if ((ret = get_uint(j, "sl", at, 0, 15, false, &n, err)))
		return ret;
	p->sl = (unsigned int)n;
	if ((ret = get_array(j, "members", at, &members, err)))
		return ret;
	p->n_members = members ? json_array_size(members) : 0;
	p->members = calloc(p->n_members ? p->n_members : 1, sizeof(*p->members));
	if (!p->members)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_members; i++) {
		char mat[220];

		snprintf(mat, sizeof(mat), "%s.members[%zu]", at, i);
		if ((ret = member_from_json(json_array_get(members, i), mat, &p->members[i], err)))
			return ret;
		if (i && p->members[i - 1].guid >= p->members[i].guid)
			return field_err(err, mat, "members must be sorted by guid and distinct");
	}
	return 0;
}

int sm_desired_from_json(const json_t *j, struct sm_desired **out, struct loom_err *err)
{
	struct sm_desired *d = calloc(1, sizeof(*d));
	const json_t *parts;
	int ret;

	*out = NULL;
	if (!d)
		return -ENOMEM;
	if ((ret = need_object(j, "", err)) || (ret = get_str(j, "sm", "", d->sm, sizeof(d->sm), true, err))
	    || (ret = get_array(j, "partitions", "", &parts, err)))
		goto fail;
	d->partitions = calloc(parts && json_array_size(parts) ? json_array_size(parts) : 1, sizeof(*d->partitions));
	if (!d->partitions) {
		ret = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; parts && i < json_array_size(parts); i++) {
		char at[40];

		snprintf(at, sizeof(at), "partitions[%zu]", i);
		d->n_partitions = i + 1;
		if ((ret = partition_from_json(json_array_get(parts, i), at, &d->partitions[i], err)))
			goto fail;
		if (i && d->partitions[i - 1].pkey >= d->partitions[i].pkey) {
			ret = field_err(err, at, "partitions must be sorted by pkey and distinct");
			goto fail;
		}
	}
	*out = d;
	return 0;
fail:
	sm_desired_free(&d);
	return ret;
}

/* ---- GPU node -------------------------------------------------------------- */

/* The model whose table holds @p (profiles are static table entries). */
static const struct mig_model *profile_model(const struct mig_profile *p)
{
	for (size_t i = 0; i < mig_model_count(); i++) {
		const struct mig_model *m = mig_model_at(i);

		if (p >= m->profiles && p < m->profiles + m->n_profiles)
			return m;
	}
	return NULL;
}

json_t *gpu_desired_to_json(const struct gpu_desired *d)
{
	json_t *layouts = json_array();

	for (size_t i = 0; layouts && i < d->n_layouts; i++) {
		const struct gpu_layout *l = &d->layouts[i];
		json_t *gis = json_array();

		for (size_t k = 0; gis && k < l->n_gi; k++) {
			const struct mig_model *m = profile_model(l->gi[k].profile);

			if (!m || json_array_append_new(gis, json_pack("{ss ss sI ss}", "model", m->name, "profile",
									l->gi[k].profile->name, "start",
									(json_int_t)l->gi[k].start, "tenant",
									l->gi[k].tenant))) {
				json_decref(gis);
				gis = NULL;
			}
		}
		if (!gis || json_array_append_new(layouts, json_pack("{sI so}", "index", (json_int_t)l->index,
								     "instances", gis))) {
			json_decref(layouts);
			return NULL;
		}
	}
	if (!layouts)
		return NULL;
	return json_pack("{ss so}", "node", d->node, "layouts", layouts);
}

static int gi_from_json(const json_t *j, const char *at, struct gpu_gi *gi, struct loom_err *err)
{
	char model[LOOM_NAME_MAX], profile[LOOM_NAME_MAX], path[200];
	const struct mig_model *m;
	uint64_t n;
	int ret;

	if ((ret = need_object(j, at, err)) || (ret = get_str(j, "model", at, model, sizeof(model), true, err))
	    || (ret = get_str(j, "profile", at, profile, sizeof(profile), true, err))
	    || (ret = get_uint(j, "start", at, 0, MIG_SLICES_MAX - 1, false, &n, err))
	    || (ret = get_str(j, "tenant", at, gi->tenant, sizeof(gi->tenant), false, err)))
		return ret;
	gi->start = (unsigned int)n;
	m = mig_model_find(model);
	snprintf(path, sizeof(path), "%s.model", at);
	if (!m)
		return field_err(err, path, "no such GPU model");
	gi->profile = mig_profile_find(m, profile);
	snprintf(path, sizeof(path), "%s.profile", at);
	if (!gi->profile)
		return field_err(err, path, "no such profile on that model");
	snprintf(path, sizeof(path), "%s.start", at);
	if (!mig_profile_start_legal(gi->profile, gi->start))
		return field_err(err, path, "not a legal start slot for that profile");
	return 0;
}

int gpu_desired_from_json(const json_t *j, struct gpu_desired **out, struct loom_err *err)
{
	struct gpu_desired *d = calloc(1, sizeof(*d));
	const json_t *layouts;
	int ret;

	*out = NULL;
	if (!d)
		return -ENOMEM;
	if ((ret = need_object(j, "", err)) || (ret = get_str(j, "node", "", d->node, sizeof(d->node), true, err))
	    || (ret = get_array(j, "layouts", "", &layouts, err)))
		goto fail;
	d->n_layouts = layouts ? json_array_size(layouts) : 0;
	d->layouts = calloc(d->n_layouts ? d->n_layouts : 1, sizeof(*d->layouts));
	if (!d->layouts) {
		ret = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < d->n_layouts; i++) {
		const json_t *l = json_array_get(layouts, i), *gis;
		struct gpu_layout *gl = &d->layouts[i];
		char at[40];
		uint64_t n;

		snprintf(at, sizeof(at), "layouts[%zu]", i);
		if ((ret = need_object(l, at, err)) || (ret = get_uint(l, "index", at, 0, 63, true, &n, err))
		    || (ret = get_array(l, "instances", at, &gis, err)))
			goto fail;
		gl->index = (unsigned int)n;
		if (i && d->layouts[i - 1].index >= gl->index) {
			ret = field_err(err, at, "layouts must be sorted by index and distinct");
			goto fail;
		}
		if (gis && json_array_size(gis) > MIG_INSTANCES_MAX) {
			char path[60];

			snprintf(path, sizeof(path), "%s.instances", at);
			ret = field_err(err, path, "more instances than a GPU holds");
			goto fail;
		}
		for (size_t k = 0; gis && k < json_array_size(gis); k++) {
			char gat[80];

			snprintf(gat, sizeof(gat), "%s.instances[%zu]", at, k);
			if ((ret = gi_from_json(json_array_get(gis, k), gat, &gl->gi[k], err)))
				goto fail;
			if (k && gl->gi[k - 1].start >= gl->gi[k].start) {
				ret = field_err(err, gat, "instances must be sorted by start and distinct");
				goto fail;
			}
			gl->n_gi = k + 1;
		}
	}
	*out = d;
	return 0;
fail:
	gpu_desired_free(&d);
	return ret;
}

/*
 * topology/delegation.c: the topology's delegations (docs/topology.md,
 * "Delegations"): reading and checking them, writing them back, and
 * cutting a loaded topology down to one loom instance's share.
 *
 * A delegation hands whole nodes to another instance together with the
 * VTEPs and subnet managers their ports reach, plus the tenants that
 * instance may hold and its own VNI and P_Key ranges.  Whole nodes with
 * their targets, so that the two shares never meet: no instance ever
 * programs a target on which the other has segments, and no ID one
 * allocates can collide with the other's.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topology/delegation.h"

#define PATH_LEN sizeof(((struct loom_err *)0)->field)

static const char *const kind_words[] = {
	[TOPO_VTEP] = "VTEP",
	[TOPO_SM] = "subnet manager",
	[TOPO_NODE] = "node",
};

static const char *const kind_keys[] = {
	[TOPO_VTEP] = "vteps",
	[TOPO_SM] = "subnet_managers",
	[TOPO_NODE] = "nodes",
};

static int fail(struct loom_err *err, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct loom_err *err, const char *path, const char *fmt, ...)
{
	char msg[sizeof(err->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	loom_err_set(err, LOOM_E_TOPOLOGY, path, "%s", msg);
	return -EINVAL;
}

static int nomem(struct loom_err *err)
{
	loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory while loading the topology");
	return -ENOMEM;
}

static char (*names_of(struct topo_delegation *d, enum topo_kind k, size_t **n))[LOOM_NAME_MAX]
{
	switch (k) {
	case TOPO_VTEP:
		*n = &d->n_vteps;
		return d->vteps;
	case TOPO_SM:
		*n = &d->n_sms;
		return d->sms;
	default:
		*n = &d->n_nodes;
		return d->nodes;
	}
}

static bool exists(const struct topology *t, enum topo_kind k, const char *name)
{
	switch (k) {
	case TOPO_VTEP:
		return topology_vtep(t, name) != NULL;
	case TOPO_SM:
		return topology_sm(t, name) != NULL;
	default:
		return topology_node(t, name) != NULL;
	}
}

/* An optional array of names at @o.@key into *@out. */
static int names_read(const json_t *o, const char *key, const char *path, char (**out)[LOOM_NAME_MAX],
		      size_t *n, struct loom_err *err)
{
	const json_t *a = json_object_get(o, key), *v;
	char sub[PATH_LEN];
	size_t i;

	*out = NULL;
	*n = 0;
	snprintf(sub, sizeof(sub), "%s.%s", path, key);
	if (!a)
		return 0;
	if (!json_is_array(a))
		return fail(err, sub, "must be an array of names");
	if (!json_array_size(a))
		return 0;
	if (!(*out = calloc(json_array_size(a), sizeof(**out))))
		return nomem(err);
	json_array_foreach(a, i, v) {
		snprintf(sub, sizeof(sub), "%s.%s[%zu]", path, key, i);
		if (!json_is_string(v) || !topology_name_ok(json_string_value(v)))
			return fail(err, sub, "must be a name (a lowercase DNS label)");
		snprintf((*out)[i], LOOM_NAME_MAX, "%s", json_string_value(v));
		*n = i + 1;
	}
	return 0;
}

/* "FIRST-LAST" (decimal, or 0x hex) within @lo..@hi. */
static int range_read(const json_t *o, const char *key, const char *path, uint32_t lo, uint32_t hi,
		      uint32_t *first, uint32_t *last, struct loom_err *err)
{
	const char *s = json_string_value(json_object_get(o, key));
	char sub[PATH_LEN], *end;
	unsigned long long a, b;

	snprintf(sub, sizeof(sub), "%s.%s", path, key);
	if (!json_object_get(o, key))
		return fail(err, sub, "is required: the instance's own range, disjoint from every other's");
	if (!s || !*s)
		goto bad;
	errno = 0;
	a = strtoull(s, &end, 0);
	if (errno || *end != '-' || end == s)
		goto bad;
	s = end + 1;
	b = strtoull(s, &end, 0);
	if (errno || *end || end == s || a < lo || a > b || b > hi)
		goto bad;
	*first = (uint32_t)a;
	*last = (uint32_t)b;
	return 0;
bad:
	return fail(err, sub, "expected \"FIRST-LAST\" with %u <= FIRST <= LAST <= %u", lo, hi);
}

static const char *const delegation_keys[] = {
	"instance", "tenants", "vteps", "subnet_managers", "nodes", "vni_range", "pkey_range",
};

static int one_read(const json_t *o, const char *path, struct topo_delegation *d, struct loom_err *err)
{
	const char *key, *inst;
	char sub[PATH_LEN];
	const json_t *v;
	size_t *n;
	int rc;

	if (!json_is_object(o))
		return fail(err, path, "must be an object");
	json_object_foreach((json_t *)o, key, v) {
		size_t i;

		for (i = 0; i < sizeof(delegation_keys) / sizeof(delegation_keys[0]); i++)
			if (strcmp(key, delegation_keys[i]) == 0)
				break;
		snprintf(sub, sizeof(sub), "%s.%s", path, key);
		if (i == sizeof(delegation_keys) / sizeof(delegation_keys[0]))
			return fail(err, sub, "unknown key (a delegation takes instance, tenants, vteps, "
				    "subnet_managers, nodes, vni_range, pkey_range)");
	}
	inst = json_string_value(json_object_get(o, "instance"));
	snprintf(sub, sizeof(sub), "%s.instance", path);
	if (!inst || !topology_name_ok(inst))
		return fail(err, sub, "is required: the name of the loom instance (its loomd.conf's "
			    "instance), a lowercase DNS label");
	snprintf(d->instance, sizeof(d->instance), "%s", inst);
	if ((rc = names_read(o, "tenants", path, &d->tenants, &d->n_tenants, err)))
		return rc;
	if (!d->n_tenants) {
		snprintf(sub, sizeof(sub), "%s.tenants", path);
		return fail(err, sub, "is required: the tenants instance %s holds (at least one)", inst);
	}
	for (int k = TOPO_VTEP; k <= TOPO_NODE; k++) {
		char(**arr)[LOOM_NAME_MAX] = k == TOPO_VTEP ? &d->vteps : k == TOPO_SM ? &d->sms : &d->nodes;

		names_of(d, (enum topo_kind)k, &n);
		if ((rc = names_read(o, kind_keys[k], path, arr, n, err)))
			return rc;
	}
	if ((rc = range_read(o, "vni_range", path, 1, 16777215, &d->vni_min, &d->vni_max, err)))
		return rc;
	return range_read(o, "pkey_range", path, 1, 0x7ffe, &d->pkey_min, &d->pkey_max, err);
}

/* Where @name (a @kind) is delegated: the delegation's index and the
 * name's index in it, the first such (@skip_d, @skip_i: not this one). */
static bool find(const struct topology *t, enum topo_kind k, const char *name, size_t skip_d, size_t skip_i,
		 size_t *di, size_t *ii)
{
	for (size_t x = 0; x < t->n_delegations; x++) {
		size_t *n;
		char(*names)[LOOM_NAME_MAX] = names_of(&t->delegations[x], k, &n);

		for (size_t y = 0; y < *n; y++) {
			if ((x == skip_d && y == skip_i) || strcmp(names[y], name))
				continue;
			*di = x;
			*ii = y;
			return true;
		}
	}
	return false;
}

static bool tenant_find(const struct topology *t, const char *name, size_t *di, size_t *ii)
{
	for (size_t x = 0; x < t->n_delegations; x++)
		for (size_t y = 0; y < t->delegations[x].n_tenants; y++)
			if (strcmp(t->delegations[x].tenants[y], name) == 0) {
				*di = x;
				*ii = y;
				return true;
			}
	return false;
}

static bool overlaps(uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
	return a <= d && c <= b;
}

/* A node's targets must go with it: where its port reaches. */
static int node_targets_check(const struct topology *t, struct loom_err *err)
{
	char sub[PATH_LEN];

	for (size_t i = 0; i < t->n_nodes; i++) {
		const struct topo_node *nd = &t->nodes[i];
		size_t ndi = SIZE_MAX, nii = 0, di, ii;
		bool mine = find(t, TOPO_NODE, nd->name, SIZE_MAX, SIZE_MAX, &ndi, &nii);

		for (size_t p = 0; p < nd->n_nic_ports + nd->n_hca_ports; p++) {
			bool nic = p < nd->n_nic_ports;
			const char *port = nic ? nd->nic_ports[p].name : nd->hca_ports[p - nd->n_nic_ports].name;
			const char *target = nic ? nd->nic_ports[p].vtep : nd->hca_ports[p - nd->n_nic_ports].sm;
			enum topo_kind k = nic ? TOPO_VTEP : TOPO_SM;
			bool tgt = target[0] && find(t, k, target, SIZE_MAX, SIZE_MAX, &di, &ii);

			if (!target[0] || (mine && tgt && di == ndi) || (!mine && !tgt))
				continue;
			if (mine) {
				snprintf(sub, sizeof(sub), "delegations[%zu].nodes[%zu]", ndi, nii);
				return fail(err, sub, "node %s is delegated to instance %s, but its port %s "
					    "reaches %s %s, which is not: delegate the %s with it (in \"%s\")",
					    nd->name, t->delegations[ndi].instance, port, kind_words[k], target,
					    kind_words[k], kind_keys[k]);
			}
			snprintf(sub, sizeof(sub), "delegations[%zu].%s[%zu]", di, kind_keys[k], ii);
			return fail(err, sub, "%s %s is delegated to instance %s, but node %s (not delegated "
				    "to it) reaches it through port %s: delegate the node too, or recable it",
				    kind_words[k], target, t->delegations[di].instance, nd->name, port);
		}
	}
	return 0;
}

int delegations_read(const json_t *root, struct topology *t, struct loom_err *err)
{
	const json_t *a = json_object_get(root, "delegations");
	char sub[PATH_LEN], other[PATH_LEN];
	size_t di, ii;
	int rc;

	if (!a)
		return 0;
	if (!json_is_array(a))
		return fail(err, "delegations", "must be an array");
	if (!json_array_size(a))
		return 0;
	if (!(t->delegations = calloc(json_array_size(a), sizeof(*t->delegations))))
		return nomem(err);
	for (size_t x = 0; x < json_array_size(a); x++) {
		t->n_delegations = x + 1;	/* so that delegations_free sees a half-read one */
		snprintf(sub, sizeof(sub), "delegations[%zu]", x);
		if ((rc = one_read(json_array_get(a, x), sub, &t->delegations[x], err)))
			return rc;
	}
	for (size_t x = 0; x < t->n_delegations; x++) {
		struct topo_delegation *d = &t->delegations[x];

		for (size_t y = 0; y < x; y++) {
			const struct topo_delegation *e = &t->delegations[y];

			if (strcmp(d->instance, e->instance) == 0) {
				snprintf(sub, sizeof(sub), "delegations[%zu].instance", x);
				return fail(err, sub, "instance %s has a delegation already (delegations[%zu]): "
					    "one delegation per instance", d->instance, y);
			}
			if (overlaps(d->vni_min, d->vni_max, e->vni_min, e->vni_max)) {
				snprintf(sub, sizeof(sub), "delegations[%zu].vni_range", x);
				return fail(err, sub, "VNIs %u-%u overlap those of instance %s "
					    "(delegations[%zu].vni_range %u-%u): two instances would allocate "
					    "the same VNIs and route targets", d->vni_min, d->vni_max,
					    e->instance, y, e->vni_min, e->vni_max);
			}
			if (overlaps(d->pkey_min, d->pkey_max, e->pkey_min, e->pkey_max)) {
				snprintf(sub, sizeof(sub), "delegations[%zu].pkey_range", x);
				return fail(err, sub, "P_Keys 0x%04x-0x%04x overlap those of instance %s "
					    "(delegations[%zu].pkey_range 0x%04x-0x%04x)", d->pkey_min,
					    d->pkey_max, e->instance, y, e->pkey_min, e->pkey_max);
			}
		}
		for (size_t y = 0; y < d->n_tenants; y++) {
			snprintf(sub, sizeof(sub), "delegations[%zu].tenants[%zu]", x, y);
			if (!topology_name_ok(d->tenants[y]))
				return fail(err, sub, "must be a tenant name");
			tenant_find(t, d->tenants[y], &di, &ii);
			if (di != x || ii != y) {
				snprintf(other, sizeof(other), "delegations[%zu].tenants[%zu]", di, ii);
				return fail(err, sub, "tenant %s is delegated twice (already at %s, to "
					    "instance %s)", d->tenants[y], other, t->delegations[di].instance);
			}
		}
		for (int k = TOPO_VTEP; k <= TOPO_NODE; k++) {
			size_t *n;
			char(*names)[LOOM_NAME_MAX] = names_of(d, (enum topo_kind)k, &n);

			for (size_t y = 0; y < *n; y++) {
				snprintf(sub, sizeof(sub), "delegations[%zu].%s[%zu]", x, kind_keys[k], y);
				if (!exists(t, (enum topo_kind)k, names[y]))
					return fail(err, sub, "%s %s is not in the topology's \"%s\"",
						    kind_words[k], names[y], kind_keys[k]);
				find(t, (enum topo_kind)k, names[y], SIZE_MAX, SIZE_MAX, &di, &ii);
				if (di != x || ii != y) {
					snprintf(other, sizeof(other), "delegations[%zu].%s[%zu]", di,
						 kind_keys[k], ii);
					return fail(err, sub, "%s %s is delegated twice (already at %s, to "
						    "instance %s)", kind_words[k], names[y], other,
						    t->delegations[di].instance);
				}
			}
		}
	}
	return node_targets_check(t, err);
}

void delegations_free(struct topology *t)
{
	for (size_t x = 0; x < t->n_delegations; x++) {
		free(t->delegations[x].tenants);
		free(t->delegations[x].vteps);
		free(t->delegations[x].sms);
		free(t->delegations[x].nodes);
	}
	free(t->delegations);
	free(t->cut);
	t->delegations = NULL;
	t->cut = NULL;
	t->n_delegations = t->n_cut = 0;
}

static json_t *names_json(char (*names)[LOOM_NAME_MAX], size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_string(names[i]))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

json_t *delegations_to_json(const struct topology *t)
{
	json_t *a = json_array();
	char buf[32];
	int bad = !a;

	for (size_t x = 0; !bad && x < t->n_delegations; x++) {
		struct topo_delegation *d = &t->delegations[x];
		json_t *o = json_object();

		bad |= !o || json_object_set_new(o, "instance", json_string(d->instance));
		bad |= !o || json_object_set_new(o, "tenants", names_json(d->tenants, d->n_tenants));
		bad |= !o || json_object_set_new(o, "vteps", names_json(d->vteps, d->n_vteps));
		bad |= !o || json_object_set_new(o, "subnet_managers", names_json(d->sms, d->n_sms));
		bad |= !o || json_object_set_new(o, "nodes", names_json(d->nodes, d->n_nodes));
		snprintf(buf, sizeof(buf), "%u-%u", d->vni_min, d->vni_max);
		bad |= !o || json_object_set_new(o, "vni_range", json_string(buf));
		snprintf(buf, sizeof(buf), "0x%04x-0x%04x", d->pkey_min, d->pkey_max);
		bad |= !o || json_object_set_new(o, "pkey_range", json_string(buf));
		bad |= json_array_append_new(a, o);
	}
	if (bad) {
		json_decref(a);
		return NULL;
	}
	return a;
}

/* ---- one instance's share ---------------------------------------------- */

/* Keeps the elements of @arr (@elem bytes, names first) for which @keep. */
static int cut_array(struct topology *t, void *arr, size_t *n, size_t elem, enum topo_kind k,
		     void (*drop)(void *), struct loom_err *err)
{
	char *base = arr;
	size_t kept = 0;

	for (size_t i = 0; i < *n; i++) {
		char *e = base + i * elem;
		size_t di = SIZE_MAX, ii = 0;
		bool delegated = find(t, k, e, SIZE_MAX, SIZE_MAX, &di, &ii);
		bool keep = t->own ? delegated && &t->delegations[di] == t->own : !delegated;
		struct topo_cut *c;

		if (keep) {
			if (kept != i)
				memcpy(base + kept * elem, e, elem);
			kept++;
			continue;
		}
		c = realloc(t->cut, (t->n_cut + 1) * sizeof(*t->cut));
		if (!c)
			return nomem(err);
		t->cut = c;
		c = &t->cut[t->n_cut++];
		c->kind = k;
		snprintf(c->name, sizeof(c->name), "%s", e);
		c->owner = delegated ? (int)di : -1;
		c->index = delegated ? (int)ii : -1;
		if (drop)
			drop(e);
	}
	*n = kept;
	return 0;
}

static void node_drop(void *e)
{
	struct topo_node *n = e;

	free(n->nic_ports);
	free(n->hca_ports);
	free(n->gpus);
}

int topology_delegate(struct topology *t, const char *instance, struct loom_err *err)
{
	int rc;

	snprintf(t->instance, sizeof(t->instance), "%s", instance);
	t->own = NULL;
	for (size_t x = 0; x < t->n_delegations; x++)
		if (strcmp(t->delegations[x].instance, instance) == 0)
			t->own = &t->delegations[x];
	/* Sorted arrays stay sorted: elements are only taken out. */
	if ((rc = cut_array(t, t->vteps, &t->n_vteps, sizeof(*t->vteps), TOPO_VTEP, NULL, err)) ||
	    (rc = cut_array(t, t->sms, &t->n_sms, sizeof(*t->sms), TOPO_SM, NULL, err)) ||
	    (rc = cut_array(t, t->nodes, &t->n_nodes, sizeof(*t->nodes), TOPO_NODE, node_drop, err)))
		return rc;
	return 0;
}

int topology_foreign(const struct topology *t, enum topo_kind kind, const char *name, const char *field,
		     struct loom_err *err)
{
	for (size_t i = 0; name && i < t->n_cut; i++) {
		const struct topo_cut *c = &t->cut[i];

		if (c->kind != kind || strcmp(c->name, name))
			continue;
		if (c->owner >= 0)
			loom_err_set(err, LOOM_E_DELEGATED, field, "%s %s is delegated to loom instance %s "
				     "(topology delegations[%d].%s[%d]); this instance (%s) neither programs "
				     "nor attaches it", kind_words[kind], name, t->delegations[c->owner].instance,
				     c->owner, kind_keys[kind], c->index, t->instance);
		else
			loom_err_set(err, LOOM_E_DELEGATED, field, "%s %s is not delegated to loom instance %s "
				     "(topology delegations[%td]); the instance that keeps what no "
				     "delegation lists manages it", kind_words[kind], name, t->instance,
				     t->own - t->delegations);
		return -EPERM;
	}
	return 0;
}

int topology_tenant_owned(const struct topology *t, const char *name, const char *field, struct loom_err *err)
{
	size_t di, ii;
	bool delegated = tenant_find(t, name, &di, &ii);

	if (t->own && (!delegated || &t->delegations[di] != t->own))
		return loom_err_set(err, LOOM_E_DELEGATED, field, "tenant %s is not delegated to loom instance "
				    "%s (topology delegations[%td].tenants); this instance holds only "
				    "its delegation's tenants", name, t->instance, t->own - t->delegations), -EPERM;
	if (!t->own && delegated)
		return loom_err_set(err, LOOM_E_DELEGATED, field, "tenant %s is delegated to loom instance %s "
				    "(topology delegations[%zu].tenants[%zu]); its segments live there, "
				    "and this instance (%s) keeps nothing of them", name,
				    t->delegations[di].instance, di, ii, t->instance), -EPERM;
	return 0;
}

int topology_ranges_check(const struct topology *t, uint32_t vni_min, uint32_t vni_max, uint32_t pkey_min,
			  uint32_t pkey_max, struct loom_err *err)
{
	const struct topo_delegation *o = t->own;

	if (o && (vni_min < o->vni_min || vni_max > o->vni_max))
		return loom_err_set(err, LOOM_E_CONFIG, "vni_range", "vni_range %u-%u is outside the VNIs the "
				    "topology delegates to instance %s (delegations[%td].vni_range %u-%u)",
				    vni_min, vni_max, t->instance, o - t->delegations, o->vni_min, o->vni_max);
	if (o && (pkey_min < o->pkey_min || pkey_max > o->pkey_max))
		return loom_err_set(err, LOOM_E_CONFIG, "pkey_range", "pkey_range 0x%04x-0x%04x is outside the "
				    "P_Keys the topology delegates to instance %s (delegations[%td].pkey_range "
				    "0x%04x-0x%04x)", pkey_min, pkey_max, t->instance, o - t->delegations,
				    o->pkey_min, o->pkey_max);
	for (size_t x = 0; x < t->n_delegations; x++) {
		const struct topo_delegation *d = &t->delegations[x];

		if (d == o)
			continue;
		if (overlaps(vni_min, vni_max, d->vni_min, d->vni_max))
			return loom_err_set(err, LOOM_E_CONFIG, "vni_range", "vni_range %u-%u overlaps the VNIs "
					    "delegated to instance %s (topology delegations[%zu].vni_range %u-%u): "
					    "the two instances could allocate the same VNI and route target; is "
					    "this loomd.conf's instance (%s) right?", vni_min, vni_max, d->instance,
					    x, d->vni_min, d->vni_max, t->instance);
		if (overlaps(pkey_min, pkey_max, d->pkey_min, d->pkey_max))
			return loom_err_set(err, LOOM_E_CONFIG, "pkey_range", "pkey_range 0x%04x-0x%04x overlaps "
					    "the P_Keys delegated to instance %s (topology delegations[%zu]."
					    "pkey_range 0x%04x-0x%04x); is this loomd.conf's instance (%s) right?",
					    pkey_min, pkey_max, d->instance, x, d->pkey_min, d->pkey_max,
					    t->instance);
	}
	return 0;
}

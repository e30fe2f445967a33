/*
 * isolation/check.c: the fabric's truth against the intent.  Pure and
 * deterministic: the findings come out sorted, so that the same truth gives
 * the same report byte for byte.
 *
 * Where a segment is needed comes from compile() (the same function that
 * gives the targets their desired state), but nothing of what the targets
 * hold is taken from loom: every device, bridge membership, RT and P_Key
 * checked here is what the readers found on the fabric.  The lookups the
 * checker repeats (VNI, P_Key and RT -> segment; ifindex -> link) are
 * sorted arrays and binary searches, so that a fabric of hundreds of VTEPs
 * with a thousand VNIs each is checked in well under a second.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "isolation/isolation.h"
#include "lib/array.h"
#include "lib/monotime.h"
#include "tenancy/compile.h"

/* The P_Key without its membership bit (0x7fff: the default partition). */
#define PKEY_BASE_MASK_ISO 0x7fffu

static const char *const kind_names[FINDING_KINDS] = {
	[FINDING_UNREADABLE] = "unreadable",
	[FINDING_PORT_WRONG_BRIDGE] = "port_wrong_bridge",
	[FINDING_FOREIGN_PORT] = "foreign_port",
	[FINDING_BRIDGE_TWO_VNIS] = "bridge_two_vnis",
	[FINDING_RT_CROSS_TENANT] = "rt_cross_tenant",
	[FINDING_RT_UNKNOWN] = "rt_unknown",
	[FINDING_VNI_NOT_NEEDED] = "vni_not_needed",
	[FINDING_VNI_UNKNOWN] = "vni_unknown",
	[FINDING_FDB_VNI] = "fdb_vni",
	[FINDING_PKEY_FOREIGN] = "pkey_foreign",
	[FINDING_PKEY_FULL] = "pkey_full",
	[FINDING_PKEY_STALE] = "pkey_stale",
	[FINDING_PKEY_SHARED] = "pkey_shared",
	[FINDING_MIG_RAIL] = "mig_rail",
	[FINDING_MIG_UNOWNED] = "mig_unowned",
	[FINDING_VRF_CROSS_TENANT] = "vrf_cross_tenant",
};

const char *finding_kind_name(enum finding_kind k)
{
	return (unsigned int)k < FINDING_KINDS ? kind_names[k] : "unknown";
}

/* ---- lookups ----------------------------------------------------------- */

struct seg_key {
	uint32_t id;			/* VNI or P_Key */
	const char *rt;			/* for the RT index */
	const struct segment *seg;
};

/* A VTEP's access port: which node and NIC port of the topology it faces. */
struct access_key {
	const char *vtep;
	const char *ifname;
	const struct topo_node *node;
	const struct topo_nic_port *np;
};

struct check {
	const struct topology *topo;
	const struct isolation_intent *intent;
	const struct fabric_truth *truth;
	struct desired *desired;
	struct seg_key *by_vni, *by_pkey, *by_rt;
	size_t n_vni, n_pkey, n_rt;
	struct access_key *access;
	size_t n_access;
	struct findings *out;
	int rc;				/* the first -ENOMEM */
};

static int key_cmp(const void *a, const void *b)
{
	const struct seg_key *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

static int rt_cmp(const void *a, const void *b)
{
	const struct seg_key *x = a, *y = b;

	return strcmp(x->rt, y->rt);
}

static const struct segment *seg_by_vni(const struct check *c, uint32_t vni)
{
	struct seg_key k = { .id = vni }, *hit;

	hit = c->n_vni ? bsearch(&k, c->by_vni, c->n_vni, sizeof(k), key_cmp) : NULL;
	return hit ? hit->seg : NULL;
}

static const struct segment *seg_by_pkey(const struct check *c, uint16_t pkey)
{
	struct seg_key k = { .id = pkey }, *hit;

	hit = c->n_pkey ? bsearch(&k, c->by_pkey, c->n_pkey, sizeof(k), key_cmp) : NULL;
	return hit ? hit->seg : NULL;
}

static const struct segment *seg_by_rt(const struct check *c, const char *rt)
{
	struct seg_key k = { .rt = rt }, *hit;

	hit = c->n_rt ? bsearch(&k, c->by_rt, c->n_rt, sizeof(k), rt_cmp) : NULL;
	return hit ? hit->seg : NULL;
}

static int access_cmp(const void *a, const void *b)
{
	const struct access_key *x = a, *y = b;
	int d = strcmp(x->vtep, y->vtep);

	return d ? d : strcmp(x->ifname, y->ifname);
}

static int access_build(struct check *c)
{
	const struct topology *topo = c->topo;
	size_t n = 0;

	for (size_t i = 0; i < topo->n_nodes; i++)
		n += topo->nodes[i].n_nic_ports;
	c->access = calloc(n ? n : 1, sizeof(*c->access));
	if (!c->access)
		return -ENOMEM;
	for (size_t i = 0; i < topo->n_nodes; i++)
		for (size_t k = 0; k < topo->nodes[i].n_nic_ports; k++) {
			const struct topo_nic_port *np = &topo->nodes[i].nic_ports[k];

			c->access[c->n_access++] = (struct access_key){
				.vtep = np->vtep, .ifname = np->access_port,
				.node = &topo->nodes[i], .np = np };
		}
	if (c->n_access)
		qsort(c->access, c->n_access, sizeof(*c->access), access_cmp);
	return 0;
}

static int index_build(struct check *c)
{
	const struct model *m = c->intent->model;
	size_t n = m->n_segments;

	if (access_build(c))
		return -ENOMEM;

	c->by_vni = calloc(n ? n : 1, sizeof(*c->by_vni));
	c->by_pkey = calloc(n ? n : 1, sizeof(*c->by_pkey));
	c->by_rt = calloc(n ? n : 1, sizeof(*c->by_rt));
	if (!c->by_vni || !c->by_pkey || !c->by_rt)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct segment *s = &m->segments[i];

		if (s->type == SEG_ETHERNET) {
			c->by_vni[c->n_vni++] = (struct seg_key){ .id = s->vni, .seg = s };
			if (s->rt[0])
				c->by_rt[c->n_rt++] = (struct seg_key){ .rt = s->rt, .seg = s };
		} else {
			c->by_pkey[c->n_pkey++] = (struct seg_key){ .id = s->pkey, .seg = s };
		}
	}
	/* qsort may not take NULL, even for no elements. */
	if (c->n_vni)
		qsort(c->by_vni, c->n_vni, sizeof(*c->by_vni), key_cmp);
	if (c->n_pkey)
		qsort(c->by_pkey, c->n_pkey, sizeof(*c->by_pkey), key_cmp);
	if (c->n_rt)
		qsort(c->by_rt, c->n_rt, sizeof(*c->by_rt), rt_cmp);
	return 0;
}

static const struct truth_link *link_by_ifindex(const struct truth_vtep *v, int ifindex)
{
	size_t lo = 0, hi = v->n_links;

	if (ifindex <= 0)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v->links[mid].ifindex == ifindex)
			return &v->links[mid];
		if (v->links[mid].ifindex < ifindex)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static const struct truth_link *link_by_name(const struct truth_vtep *v, const char *name)
{
	for (size_t i = 0; i < v->n_links; i++)
		if (!strcmp(v->links[i].name, name))
			return &v->links[i];
	return NULL;
}

/* A tenant VRF's L3 VNI on this VTEP (docs/overlay.md, "Routing"): loom's, no segment's. */
static bool desired_l3vni(const struct vtep_desired *d, uint32_t vni)
{
	for (size_t i = 0; d && i < d->n_vrfs; i++)
		if (d->vrfs[i].l3vni == vni)
			return true;
	return false;
}

static const struct vtep_vni *desired_vni(const struct vtep_desired *d, uint32_t vni)
{
	size_t lo = 0, hi = d ? d->n_vnis : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->vnis[mid].vni == vni)
			return &d->vnis[mid];
		if (d->vnis[mid].vni < vni)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Access port @port of VNI @v, untagged (@tag 0) or as a soft tenant's
 * tagged share (loom's sub-interface PORT.TAG). */
static bool vni_has_port(const struct vtep_vni *v, const char *port, uint16_t tag)
{
	for (size_t i = 0; v && i < v->n_ports; i++)
		if (!strcmp(v->ports[i], port) && (v->port_vlans ? v->port_vlans[i] : 0) == tag)
			return true;
	return false;
}

static const struct pkey_member *desired_member(const struct sm_desired *d, uint16_t pkey,
						uint64_t guid)
{
	const struct sm_partition *p = NULL;
	size_t lo = 0, hi = d ? d->n_partitions : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->partitions[mid].pkey == pkey) {
			p = &d->partitions[mid];
			break;
		}
		if (d->partitions[mid].pkey < pkey)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (lo = 0, hi = p ? p->n_members : 0; lo < hi;) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->members[mid].guid == guid)
			return &p->members[mid];
		if (p->members[mid].guid < guid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The topology's node and port behind a VTEP's access port, or NULL. */
static const struct topo_nic_port *access_port(const struct check *c, const char *vtep,
					       const char *ifname, const struct topo_node **node)
{
	struct access_key k = { .vtep = vtep, .ifname = ifname }, *hit;

	hit = c->n_access ? bsearch(&k, c->access, c->n_access, sizeof(k), access_cmp) : NULL;
	if (!hit)
		return NULL;
	*node = hit->node;
	return hit->np;
}

/* ---- findings ---------------------------------------------------------- */

static void tenant_add(struct finding *f, const char *tenant)
{
	size_t i;

	if (!tenant || !*tenant)
		return;
	for (i = 0; i < f->n_tenants; i++)
		if (!strcmp(f->tenants[i], tenant))
			return;
	if (f->n_tenants == FINDING_TENANTS_MAX)
		return;
	snprintf(f->tenants[f->n_tenants++], sizeof(f->tenants[0]), "%s", tenant);
}

__attribute__((format(printf, 7, 8)))
static struct finding *report(struct check *c, enum finding_kind kind, const char *target,
			      const char *object, const char *tenant1, const char *tenant2,
			      const char *fmt, ...)
{
	struct finding *f;
	va_list ap;

	if (ARRAY_GROW(c->out->v, c->out->cap, c->out->n + 1)) {
		c->rc = -ENOMEM;
		return NULL;
	}
	f = &c->out->v[c->out->n++];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	snprintf(f->target, sizeof(f->target), "%s", target);
	snprintf(f->object, sizeof(f->object), "%s", object);
	tenant_add(f, tenant1);
	tenant_add(f, tenant2);
	va_start(ap, fmt);
	vsnprintf(f->evidence, sizeof(f->evidence), fmt, ap);
	va_end(ap);
	return f;
}

static int tenants_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int finding_cmp(const void *a, const void *b)
{
	const struct finding *x = a, *y = b;
	int d;

	if ((d = strcmp(x->target, y->target)))
		return d;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if ((d = strcmp(x->object, y->object)))
		return d;
	return strcmp(x->evidence, y->evidence);
}

/* ---- VTEPs ------------------------------------------------------------- */

/* The VXLAN device enslaved to bridge @br (the first by ifindex), or NULL. */
static const struct truth_link *bridge_vxlan(const struct truth_vtep *v, int br, size_t *count)
{
	const struct truth_link *first = NULL;

	*count = 0;
	for (size_t i = 0; i < v->n_links; i++)
		if (v->links[i].master == br && v->links[i].kind == TRUTH_LINK_VXLAN) {
			if (!first)
				first = &v->links[i];
			++*count;
		}
	return first;
}

static void seg_name(char *buf, size_t len, const struct segment *s)
{
	if (s)
		snprintf(buf, len, "%s/%s", s->tenant, s->name);
	else
		snprintf(buf, len, "no segment");
}

/*
 * A VTEP's links by master, the VXLAN devices first in each bridge's run:
 * a bridge's members are one binary search away, so that a VTEP with a
 * thousand bridges is not a million comparisons.
 */
struct members {
	const struct truth_link **v;
	size_t n;
};

static int member_cmp(const void *a, const void *b)
{
	const struct truth_link *x = *(const struct truth_link *const *)a;
	const struct truth_link *y = *(const struct truth_link *const *)b;
	int xv = x->kind != TRUTH_LINK_VXLAN, yv = y->kind != TRUTH_LINK_VXLAN;

	if (x->master != y->master)
		return x->master < y->master ? -1 : 1;
	if (xv != yv)
		return xv - yv;
	return (x->ifindex > y->ifindex) - (x->ifindex < y->ifindex);
}

static int members_build(const struct truth_vtep *v, struct members *m)
{
	m->n = 0;
	m->v = calloc(v->n_links ? v->n_links : 1, sizeof(*m->v));
	if (!m->v)
		return -ENOMEM;
	for (size_t i = 0; i < v->n_links; i++)
		if (v->links[i].master > 0)
			m->v[m->n++] = &v->links[i];
	if (m->n)
		qsort(m->v, m->n, sizeof(*m->v), member_cmp);
	return 0;
}

/* The members of bridge @br: *first and the count. */
static size_t members_of(const struct members *m, int br, const struct truth_link *const **first)
{
	size_t lo = 0, hi = m->n, end;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->v[mid]->master < br)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (end = lo; end < m->n && m->v[end]->master == br; end++)
		;
	*first = m->v + lo;
	return end - lo;
}

/* The tenant whose L3 VNI is @l3vni, or NULL. */
static const struct tenant *tenant_of_l3vni(const struct check *c, uint32_t l3vni)
{
	const struct model *m = c->intent->model;

	for (size_t i = 0; l3vni && i < m->n_tenants; i++)
		if (m->tenants[i]->l3vni == l3vni)
			return m->tenants[i];
	return NULL;
}

/* The tenant whose VRF is named @name (loom's "lvN"), or NULL. */
static const struct tenant *tenant_of_vrf(const struct check *c, const char *name)
{
	char *end;
	unsigned long n;

	if (strncmp(name, "lv", 2) || name[2] < '1' || name[2] > '9')
		return NULL;
	n = strtoul(name + 2, &end, 10);
	return *end || n > UINT32_MAX ? NULL : tenant_of_l3vni(c, (uint32_t)n);
}

/*
 * A bridge of tenant @owner (a segment's, made its SVI, or the tenant's L3
 * VNI's) must sit in no VRF but its tenant's own "lvL3VNI": in any other
 * it routes between this tenant and whatever that VRF holds.
 */
static void check_vrf_of(struct check *c, const struct truth_vtep *v, const struct truth_link *br,
			 const struct tenant *owner, const char *what)
{
	const struct truth_link *m = br->master ? link_by_ifindex(v, br->master) : NULL;
	const struct tenant *other;
	char own[16];

	if (!m || m->kind != TRUTH_LINK_VRF)
		return;
	tenant_vrf_name(owner->l3vni, own);
	if (owner->l3vni && !strcmp(m->name, own))
		return;
	other = tenant_of_vrf(c, m->name);
	report(c, FINDING_VRF_CROSS_TENANT, v->vtep, br->name, owner->name,
	       other ? other->name : NULL, "bridge %s (%s) is in VRF %s, %s%s; %s%s%s",
	       br->name, what, m->name, other ? other->name : "no tenant's", other ? "'s" : "",
	       owner->name,
	       owner->l3vni ? "'s VRF is " : " routes in no VRF",
	       owner->l3vni ? own : "");
}

static void check_bridges(struct check *c, const struct truth_vtep *v,
			  const struct vtep_desired *want, const struct members *mem)
{
	for (size_t b = 0; b < v->n_links; b++) {
		const struct truth_link *br = &v->links[b], *vx;
		const struct truth_link *const *ms;
		const struct segment *s;
		char sname[2 * LOOM_NAME_MAX + 1];
		size_t n_ms, n_vx = 0;

		if (br->kind != TRUTH_LINK_BRIDGE)
			continue;
		n_ms = members_of(mem, br->ifindex, &ms);
		while (n_vx < n_ms && ms[n_vx]->kind == TRUTH_LINK_VXLAN)
			n_vx++;
		vx = n_vx ? ms[0] : NULL;
		if (!vx || !vx->vni)
			continue;	/* no VNI: not a segment's bridge */
		s = seg_by_vni(c, vx->vni);
		if (n_vx > 1) {
			for (size_t i = 1; i < n_vx; i++) {
				const struct truth_link *o = ms[i];
				const struct segment *s2;
				char s2name[2 * LOOM_NAME_MAX + 1];

				if (o->vni == vx->vni)
					continue;
				s2 = seg_by_vni(c, o->vni);
				seg_name(sname, sizeof(sname), s);
				seg_name(s2name, sizeof(s2name), s2);
				report(c, FINDING_BRIDGE_TWO_VNIS, v->vtep, br->name,
				       s ? s->tenant : NULL, s2 ? s2->tenant : NULL,
				       "bridge %s holds VXLAN devices %s (VNI %" PRIu32 ", %s) and %s (VNI %" PRIu32 ", %s)",
				       br->name, vx->name, vx->vni, sname, o->name, o->vni, s2name);
			}
		}
		if (!s) {
			const struct tenant *t = n_vx == 1 ? tenant_of_l3vni(c, vx->vni) : NULL;

			if (t) {
				char what[LOOM_NAME_MAX + 16];

				snprintf(what, sizeof(what), "%s's L3 VNI", t->name);
				check_vrf_of(c, v, br, t, what);
			}
			continue;	/* else an operator's bridge: vni_unknown covers its VNI */
		}
		seg_name(sname, sizeof(sname), s);
		if (n_vx == 1) {
			const struct tenant *t = model_tenant(c->intent->model, s->tenant);

			if (t)
				check_vrf_of(c, v, br, t, sname);
		}
		for (size_t i = n_vx; i < n_ms; i++) {
			const struct truth_link *p = ms[i];
			const struct topo_node *node = NULL;
			const struct topo_nic_port *np;
			const struct vtep_vni *dv;

			const char *pname = p->name;
			uint16_t tag = 0;

			/* A tagged share of an access port: judged as that port with its tag. */
			if (p->kind == TRUTH_LINK_VLAN && p->vlan_id) {
				const struct truth_link *parent = link_by_ifindex(v, p->link);

				if (parent && access_port(c, v->vtep, parent->name, &node)) {
					pname = parent->name;
					tag = p->vlan_id;
				}
			}
			np = access_port(c, v->vtep, pname, &node);
			if (!np) {
				report(c, FINDING_FOREIGN_PORT, v->vtep, p->name, s->tenant, NULL,
				       "%s (no access port of the topology%s) is a port of bridge %s (VNI %" PRIu32 ", %s)",
				       p->name, p->alias[0] ? ", alias set" : "", br->name, vx->vni,
				       sname);
				continue;
			}
			dv = desired_vni(want, vx->vni);
			if (vni_has_port(dv, pname, tag))
				continue;
			/* Which segments the attachments do put this port in. */
			{
				struct finding *f;
				char where[160] = "";
				size_t used = 0;

				f = report(c, FINDING_PORT_WRONG_BRIDGE, v->vtep, p->name, s->tenant,
					   NULL, "x");
				if (!f)
					return;
				for (size_t k = 0; want && k < want->n_vnis; k++) {
					const struct vtep_vni *o = &want->vnis[k];

					if (!vni_has_port(o, pname, tag))
						continue;
					tenant_add(f, o->tenant);
					if (used < sizeof(where))
						used += (size_t)snprintf(where + used, sizeof(where) - used,
									 "%s%s/%s (VNI %" PRIu32 ")",
									 used ? ", " : "", o->tenant,
									 o->segment, o->vni);
				}
				snprintf(f->evidence, sizeof(f->evidence),
					 "%s (%s/%s) is a port of bridge %s (VNI %" PRIu32 ", %s); its attachments put it in %s",
					 p->name, node->name, np->name, br->name, vx->vni, sname,
					 used ? where : "no segment");
			}
		}
	}
}

/* VNIs already reported on this VTEP, so that FRR's half does not repeat them. */
struct vni_set {
	uint32_t *v;
	size_t n, cap;
};

static bool vni_set_has(const struct vni_set *s, uint32_t vni)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == vni)
			return true;
	return false;
}

static void vni_set_add(struct check *c, struct vni_set *s, uint32_t vni)
{
	if (ARRAY_GROW(s->v, s->cap, s->n + 1)) {
		c->rc = -ENOMEM;
		return;
	}
	s->v[s->n++] = vni;
}

static void check_vxlans(struct check *c, const struct truth_vtep *v,
			 const struct vtep_desired *want, struct vni_set *seen)
{
	bool frr_ok = v->frr_rc == 0;

	for (size_t i = 0; i < v->n_links; i++) {
		const struct truth_link *x = &v->links[i];
		const struct segment *s;
		char obj[32];

		if (x->kind != TRUTH_LINK_VXLAN || !x->vni)
			continue;
		snprintf(obj, sizeof(obj), "vni %" PRIu32, x->vni);
		s = seg_by_vni(c, x->vni);
		if (s && !desired_vni(want, x->vni)) {
			report(c, FINDING_VNI_NOT_NEEDED, v->vtep, obj, s->tenant, NULL,
			       "VXLAN device %s (VNI %" PRIu32 ", %s/%s) is on this VTEP but no attachment here needs it%s",
			       x->name, x->vni, s->tenant, s->name,
			       frr_ok && v->frr.advertise_all_vni ? "; advertise-all-vni advertises it" : "");
			vni_set_add(c, seen, x->vni);
		} else if (!s && frr_ok && v->frr.advertise_all_vni && !desired_l3vni(want, x->vni)) {
			report(c, FINDING_VNI_UNKNOWN, v->vtep, obj, NULL, NULL,
			       "VXLAN device %s (VNI %" PRIu32 ") is no segment's, and advertise-all-vni advertises it in EVPN to every VTEP",
			       x->name, x->vni);
			vni_set_add(c, seen, x->vni);
		}
	}
}

static void check_rts(struct check *c, const struct truth_vtep *v, const struct frr_vni *fv,
		      const struct segment *s, const char (*rts)[FRR_RTSTR_MAX], unsigned int n,
		      const char *dir)
{
	char obj[32];

	snprintf(obj, sizeof(obj), "vni %" PRIu32, fv->vni);
	for (unsigned int k = 0; k < n; k++) {
		const struct segment *o;

		if (!strcmp(rts[k], s->rt))
			continue;
		o = seg_by_rt(c, rts[k]);
		if (o && !strcmp(o->tenant, s->tenant))
			continue;	/* the tenant's own segments: no tenant boundary crossed */
		if (o)
			report(c, FINDING_RT_CROSS_TENANT, v->vtep, obj, s->tenant, o->tenant,
			       "vni %" PRIu32 " (%s/%s) has route-target %s %s, the RT of %s/%s (VNI %" PRIu32 ")",
			       fv->vni, s->tenant, s->name, dir, rts[k], o->tenant, o->name, o->vni);
		else
			report(c, FINDING_RT_UNKNOWN, v->vtep, obj, s->tenant, NULL,
			       "vni %" PRIu32 " (%s/%s) has route-target %s %s, which is no segment's (its own is %s)",
			       fv->vni, s->tenant, s->name, dir, rts[k], s->rt);
	}
}

static void check_frr(struct check *c, const struct truth_vtep *v,
		      const struct vtep_desired *want, const struct vni_set *seen)
{
	for (size_t i = 0; i < v->frr.n_vnis; i++) {
		const struct frr_vni *fv = &v->frr.vnis[i];
		const struct segment *s = seg_by_vni(c, fv->vni);
		char obj[32];

		snprintf(obj, sizeof(obj), "vni %" PRIu32, fv->vni);
		if (!s) {
			if (!vni_set_has(seen, fv->vni))
				report(c, FINDING_VNI_UNKNOWN, v->vtep, obj, NULL, NULL,
				       "FRR has `vni %" PRIu32 "` (rd %s) in address-family l2vpn evpn; no segment has that VNI",
				       fv->vni, fv->rd[0] ? fv->rd : "auto");
			continue;
		}
		if (!desired_vni(want, fv->vni) && !vni_set_has(seen, fv->vni))
			report(c, FINDING_VNI_NOT_NEEDED, v->vtep, obj, s->tenant, NULL,
			       "FRR has `vni %" PRIu32 "` (%s/%s) but no attachment on this VTEP needs it",
			       fv->vni, s->tenant, s->name);
		check_rts(c, v, fv, s, (const char (*)[FRR_RTSTR_MAX])fv->rt_import, fv->n_import,
			  "import");
		check_rts(c, v, fv, s, (const char (*)[FRR_RTSTR_MAX])fv->rt_export, fv->n_export,
			  "export");
	}
}

/*
 * bgpd's `router bgp ASN vrf lvN` of a tenant routed on this VTEP: its
 * l2vpn evpn route-targets are the tenant's alone; another tenant's L3 RT
 * or segment RT imports (or hands out) that tenant's routes.  A VRF block
 * no desired VRF of this VTEP has is one bgpd keeps inactive after the
 * tenant left (docs/overlay-frr.md): no kernel VRF routes through it.
 */
static void check_frr_vrfs(struct check *c, const struct truth_vtep *v,
			   const struct vtep_desired *want)
{
	const struct model *m = c->intent->model;

	for (size_t i = 0; i < v->frr.n_vrfs; i++) {
		const struct frr_vrf *fv = &v->frr.vrfs[i];
		const struct vtep_vrf *dv = NULL;
		char obj[32];

		for (size_t k = 0; want && k < want->n_vrfs; k++)
			if (want->vrfs[k].l3vni == fv->l3vni)
				dv = &want->vrfs[k];
		if (!dv || !fv->bgp)
			continue;
		snprintf(obj, sizeof(obj), "vrf lv%" PRIu32, fv->l3vni);
		for (int dir = 0; dir < 2; dir++) {
			const char (*rts)[FRR_RTSTR_MAX] = dir ? (const char (*)[FRR_RTSTR_MAX])fv->evpn.rt_export
							       : (const char (*)[FRR_RTSTR_MAX])fv->evpn.rt_import;
			unsigned int n = dir ? fv->evpn.n_export : fv->evpn.n_import;

			for (unsigned int k = 0; k < n; k++) {
				const struct segment *o;
				const struct tenant *t = NULL;
				char rd[32], rt[32];

				if (!strcmp(rts[k], dv->rt))
					continue;
				for (size_t j = 0; j < m->n_tenants && !t; j++) {
					tenant_rd_rt(&m->pools, m->tenants[j], rd, rt);
					if (rt[0] && !strcmp(rt, rts[k]))
						t = m->tenants[j];
				}
				o = t ? NULL : seg_by_rt(c, rts[k]);
				if ((t && !strcmp(t->name, dv->tenant)) || (o && !strcmp(o->tenant, dv->tenant)))
					continue;	/* the tenant's own: no boundary crossed */
				if (t || o)
					report(c, FINDING_RT_CROSS_TENANT, v->vtep, obj, dv->tenant,
					       t ? t->name : o->tenant,
					       "VRF lv%" PRIu32 " (%s) has route-target %s %s, the RT of %s%s%s",
					       fv->l3vni, dv->tenant, dir ? "export" : "import", rts[k],
					       t ? t->name : o->tenant, t ? "'s VRF" : "/",
					       t ? "" : o->name);
				else
					report(c, FINDING_RT_UNKNOWN, v->vtep, obj, dv->tenant, NULL,
					       "VRF lv%" PRIu32 " (%s) has route-target %s %s, which is no "
					       "tenant's or segment's (its own is %s)", fv->l3vni, dv->tenant,
					       dir ? "export" : "import", rts[k], dv->rt);
			}
		}
	}
}

static void check_fdb(struct check *c, const struct truth_vtep *v)
{
	for (size_t i = 0; i < v->n_fdb; i++) {
		const struct truth_fdb *e = &v->fdb[i];
		const struct truth_link *x = link_by_ifindex(v, e->ifindex);
		const struct segment *from, *to;
		char from_name[2 * LOOM_NAME_MAX + 1], to_name[2 * LOOM_NAME_MAX + 1];

		if (!x || x->kind != TRUTH_LINK_VXLAN || !e->vni || e->vni == x->vni || !x->vni)
			continue;
		from = seg_by_vni(c, x->vni);
		to = seg_by_vni(c, e->vni);
		if (!from && !to)
			continue;	/* between two operator VNIs */
		seg_name(from_name, sizeof(from_name), from);
		seg_name(to_name, sizeof(to_name), to);
		report(c, FINDING_FDB_VNI, v->vtep, x->name, from ? from->tenant : NULL,
		       to ? to->tenant : NULL,
		       "FDB entry %02x:%02x:%02x:%02x:%02x:%02x dst %s on %s (VNI %" PRIu32 ", %s) sends into VNI %" PRIu32 " (%s)",
		       e->mac[0], e->mac[1], e->mac[2], e->mac[3], e->mac[4], e->mac[5],
		       e->dst[0] ? e->dst : "-", x->name, x->vni, from_name, e->vni, to_name);
	}
}

static void check_vtep(struct check *c, const struct truth_vtep *v)
{
	const struct vtep_desired *want = desired_vtep(c->desired, v->vtep);
	struct vni_set seen = { 0 };
	struct members mem = { 0 };

	if (v->kernel_rc)
		report(c, FINDING_UNREADABLE, v->vtep, "kernel", NULL, NULL,
		       "the VTEP's links could not be read: %s", v->error);
	if (v->frr_rc)
		report(c, FINDING_UNREADABLE, v->vtep, "frr", NULL, NULL,
		       "FRR's running-config could not be read: %s", v->error);
	if (!v->kernel_rc && members_build(v, &mem)) {
		c->rc = -ENOMEM;
		return;
	}
	if (!v->kernel_rc) {
		check_bridges(c, v, want, &mem);
		check_vxlans(c, v, want, &seen);
		check_fdb(c, v);
	}
	if (!v->frr_rc) {
		check_frr(c, v, want, &seen);
		check_frr_vrfs(c, v, want);
	}
	free(seen.v);
	free(mem.v);
}

/* ---- HCA ports --------------------------------------------------------- */

static const char *hold_tenant(const struct model *m, uint16_t pkey)
{
	for (size_t i = 0; i < m->n_holds; i++)
		if (m->holds[i].type == SEG_INFINIBAND && m->holds[i].id == pkey)
			return m->holds[i].tenant;
	return NULL;
}

static void check_hca(struct check *c, const struct truth_hca_port *h)
{
	const struct model *m = c->intent->model;
	const struct topo_node *node = topology_node(c->topo, h->node);
	const struct topo_hca_port *hp = node ? topo_node_hca_port(node, h->port) : NULL;
	const struct sm_desired *sd = hp ? desired_sm(c->desired, hp->sm) : NULL;
	char obj[2 * LOOM_NAME_MAX + 1];

	snprintf(obj, sizeof(obj), "%s", h->port);
	if (h->rc) {
		report(c, FINDING_UNREADABLE, h->node, obj, NULL, NULL,
		       "the P_Key table of %s (GUID 0x%016" PRIx64 ") could not be read: %s",
		       h->port, h->guid, h->error);
		return;
	}
	for (size_t i = 0; i < h->n_pkeys; i++) {
		uint16_t base = h->pkeys[i] & PKEY_BASE_MASK_ISO;
		bool full = h->pkeys[i] & 0x8000;
		const struct segment *s;
		const struct pkey_member *pm;

		if (!base || base == PKEY_BASE_MASK_ISO)
			continue;	/* empty entry, the default partition */
		s = seg_by_pkey(c, base);
		if (!s) {
			/* An operator's partition inside the pool is reserved, not stale
			 * (pkey_shared judges it). */
			if (base >= m->pools.pkey_min && base <= m->pools.pkey_max &&
			    !model_reserved_find(m, SEG_INFINIBAND, base))
				report(c, FINDING_PKEY_STALE, h->node, obj, hold_tenant(m, base), NULL,
				       "%s (GUID 0x%016" PRIx64 ") holds P_Key 0x%04x (%s), in loom's pool but no segment's",
				       h->port, h->guid, h->pkeys[i], full ? "full" : "limited");
			continue;
		}
		pm = desired_member(sd, base, h->guid);
		if (!pm) {
			struct finding *f;

			f = report(c, FINDING_PKEY_FOREIGN, h->node, obj, s->tenant, NULL,
				   "%s (GUID 0x%016" PRIx64 ") holds P_Key 0x%04x (%s) of %s/%s, which it is not attached to",
				   h->port, h->guid, h->pkeys[i], full ? "full" : "limited",
				   s->tenant, s->name);
			/* The tenants the port does belong to. */
			for (size_t p = 0; f && sd && p < sd->n_partitions; p++)
				for (size_t k = 0; k < sd->partitions[p].n_members; k++)
					if (sd->partitions[p].members[k].guid == h->guid)
						tenant_add(f, sd->partitions[p].tenant);
			continue;
		}
		if (full && pm->membership == MEMBERSHIP_LIMITED)
			report(c, FINDING_PKEY_FULL, h->node, obj, s->tenant, NULL,
			       "%s (GUID 0x%016" PRIx64 ") is a full member of P_Key 0x%04x (%s/%s); its attachment says limited",
			       h->port, h->guid, base, s->tenant, s->name);
	}
}

/*
 * A P_Key that is no segment's (an operator's partition, a stale one) on
 * ports of two tenants, where one of the two is a full member: the ports
 * can talk over it, whatever loom's partitions say.
 */
struct pk_row {
	uint16_t base;
	bool full;
	const char *sm;
	const struct truth_hca_port *h;
};

static int pk_row_cmp(const void *a, const void *b)
{
	const struct pk_row *x = a, *y = b;
	int d = strcmp(x->sm, y->sm);

	if (d)
		return d;
	if (x->base != y->base)
		return x->base < y->base ? -1 : 1;
	return (x->h > y->h) - (x->h < y->h);
}

static bool part_has(const struct sm_partition *part, uint64_t guid)
{
	for (size_t k = 0; k < part->n_members; k++)
		if (part->members[k].guid == guid)
			return true;
	return false;
}

/* A tenant whose partitions hold @guid, or NULL. */
static const char *port_tenant(const struct sm_desired *sd, uint64_t guid)
{
	for (size_t p = 0; sd && p < sd->n_partitions; p++)
		if (part_has(&sd->partitions[p], guid))
			return sd->partitions[p].tenant;
	return NULL;
}

/* Do the two ports belong to one tenant (a node shared by soft tenants may be in several)? */
static bool share_tenant(const struct sm_desired *sd, uint64_t a, uint64_t b)
{
	for (size_t p = 0; sd && p < sd->n_partitions; p++) {
		if (!part_has(&sd->partitions[p], a))
			continue;
		for (size_t q = 0; q < sd->n_partitions; q++)
			if (!strcmp(sd->partitions[q].tenant, sd->partitions[p].tenant) &&
			    part_has(&sd->partitions[q], b))
				return true;
	}
	return false;
}

static void check_pkeys_shared(struct check *c)
{
	const struct fabric_truth *t = c->truth;
	struct pk_row *rows = NULL;
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < t->n_hca_ports; i++) {
		const struct truth_hca_port *h = &t->hca_ports[i];
		const struct topo_node *node = topology_node(c->topo, h->node);
		const struct topo_hca_port *hp = node ? topo_node_hca_port(node, h->port) : NULL;

		for (size_t k = 0; hp && !h->rc && k < h->n_pkeys; k++) {
			uint16_t base = h->pkeys[k] & PKEY_BASE_MASK_ISO;

			if (!base || base == PKEY_BASE_MASK_ISO || seg_by_pkey(c, base))
				continue;
			if (ARRAY_GROW(rows, cap, n + 1)) {
				c->rc = -ENOMEM;
				free(rows);
				return;
			}
			rows[n++] = (struct pk_row){ base, h->pkeys[k] & 0x8000, hp->sm, h };
		}
	}
	if (n)
		qsort(rows, n, sizeof(*rows), pk_row_cmp);
	for (size_t a = 0; a < n;) {
		const struct sm_desired *sd = desired_sm(c->desired, rows[a].sm);
		size_t b = a;
		bool found = false;

		while (b < n && rows[b].base == rows[a].base && !strcmp(rows[b].sm, rows[a].sm))
			b++;
		for (size_t i = a; i < b && !found; i++) {
			const char *ti = port_tenant(sd, rows[i].h->guid);

			for (size_t j = i + 1; ti && j < b && !found; j++) {
				const char *tj = port_tenant(sd, rows[j].h->guid);
				struct finding *f;

				if ((!rows[i].full && !rows[j].full) || !tj ||
				    share_tenant(sd, rows[i].h->guid, rows[j].h->guid))
					continue;	/* two limited members cannot talk; one tenant's ports may */
				found = true;
				f = report(c, FINDING_PKEY_SHARED, rows[i].sm, "", ti, tj, "x");
				if (!f)
					break;
				snprintf(f->object, sizeof(f->object), "pkey 0x%04x", rows[i].base);
				snprintf(f->evidence, sizeof(f->evidence),
					 "P_Key 0x%04x is no segment's; %s %s (%s, %s's) and %s %s (%s, %s's) both hold it, so they can talk",
					 rows[i].base, rows[i].h->node, rows[i].h->port,
					 rows[i].full ? "full" : "limited", ti, rows[j].h->node,
					 rows[j].h->port, rows[j].full ? "full" : "limited", tj);
			}
		}
		a = b;
	}
	free(rows);
}

/* ---- GPUs -------------------------------------------------------------- */

static const struct gpu_inst_rec *gpu_owner(const struct isolation_intent *in, const char *node,
					    unsigned int gpu, unsigned int start)
{
	for (size_t i = 0; i < in->n_gpus; i++)
		if (in->gpus[i].gpu == gpu && in->gpus[i].start == start &&
		    !strcmp(in->gpus[i].node, node))
			return &in->gpus[i];
	return NULL;
}

static const struct truth_vtep *truth_vtep_find(const struct fabric_truth *t, const char *name)
{
	for (size_t i = 0; i < t->n_vteps; i++)
		if (!strcmp(t->vteps[i].vtep, name))
			return &t->vteps[i];
	return NULL;
}

static const struct truth_hca_port *truth_hca_find(const struct fabric_truth *t,
						   const char *node, const char *port)
{
	for (size_t i = 0; i < t->n_hca_ports; i++)
		if (!strcmp(t->hca_ports[i].node, node) && !strcmp(t->hca_ports[i].port, port))
			return &t->hca_ports[i];
	return NULL;
}

/* Report when the rail NIC port of @gpu sits, on the fabric, in a segment of another tenant. */
static void rail_nic(struct check *c, const struct truth_gpu *g, const struct topo_node *node,
		     const struct topo_gpu *tg, const struct gpu_inst_rec *own, const char *obj)
{
	const struct topo_nic_port *np = topo_node_nic_port(node, tg->nic_port);
	const struct truth_vtep *v = np ? truth_vtep_find(c->truth, np->vtep) : NULL;
	const struct truth_link *port, *br, *vx;
	const struct segment *s;
	size_t n_vx;

	if (!v || v->kernel_rc)
		return;
	port = link_by_name(v, np->access_port);
	br = port ? link_by_ifindex(v, port->master) : NULL;
	vx = br ? bridge_vxlan(v, br->ifindex, &n_vx) : NULL;
	s = vx ? seg_by_vni(c, vx->vni) : NULL;
	if (!s || !strcmp(s->tenant, own->tenant))
		return;
	report(c, FINDING_MIG_RAIL, g->node, obj, own->tenant, s->tenant,
	       "GPU %u instance %s at slice %u is %s's; its rail port %s (%s %s) is in bridge %s (VNI %" PRIu32 ", %s/%s)",
	       g->index, own->profile, own->start, own->tenant, np->name, np->vtep,
	       np->access_port, br->name, vx->vni, s->tenant, s->name);
}

static void rail_hca(struct check *c, const struct truth_gpu *g, const struct topo_gpu *tg,
		     const struct gpu_inst_rec *own, const char *obj)
{
	const struct truth_hca_port *h = truth_hca_find(c->truth, g->node, tg->hca_port);

	if (!h || h->rc)
		return;
	for (size_t i = 0; i < h->n_pkeys; i++) {
		const struct segment *s = seg_by_pkey(c, h->pkeys[i] & PKEY_BASE_MASK_ISO);

		if (!s || !strcmp(s->tenant, own->tenant))
			continue;
		report(c, FINDING_MIG_RAIL, g->node, obj, own->tenant, s->tenant,
		       "GPU %u instance %s at slice %u is %s's; its rail port %s holds P_Key 0x%04x of %s/%s",
		       g->index, own->profile, own->start, own->tenant, h->port, h->pkeys[i],
		       s->tenant, s->name);
	}
}

static void check_gpu(struct check *c, const struct truth_gpu *g)
{
	const struct topo_node *node = topology_node(c->topo, g->node);
	const struct topo_gpu *tg = NULL;
	char obj[32];

	snprintf(obj, sizeof(obj), "gpu %u", g->index);
	if (g->rc) {
		report(c, FINDING_UNREADABLE, g->node, obj, NULL, NULL,
		       "GPU %u's MIG instances could not be read: %s", g->index, g->error);
		return;
	}
	for (size_t i = 0; node && i < node->n_gpus; i++)
		if (node->gpus[i].index == g->index)
			tg = &node->gpus[i];
	for (size_t i = 0; i < g->n_gi; i++) {
		const struct gpu_inst_rec *own = gpu_owner(c->intent, g->node, g->index,
							   g->gi[i].start);

		if (!own) {
			report(c, FINDING_MIG_UNOWNED, g->node, obj, NULL, NULL,
			       "GPU %u has MIG instance %s at slice %u that no tenant was given",
			       g->index, g->gi[i].profile, g->gi[i].start);
			continue;
		}
		if (!tg)
			continue;
		if (tg->nic_port[0])
			rail_nic(c, g, node, tg, own, obj);
		if (tg->hca_port[0])
			rail_hca(c, g, tg, own, obj);
	}
}

/* ---- the check --------------------------------------------------------- */

int isolation_check(const struct topology *topo, const struct isolation_intent *intent,
		    const struct fabric_truth *truth, struct findings *out)
{
	struct check c = { .topo = topo, .intent = intent, .truth = truth, .out = out };
	size_t first = out->n;
	int rc;

	rc = compile(intent->model, topo, &c.desired);
	if (rc)
		goto out;
	rc = index_build(&c);
	if (rc)
		goto out;
	for (size_t i = 0; i < truth->n_vteps && !c.rc; i++)
		check_vtep(&c, &truth->vteps[i]);
	for (size_t i = 0; i < truth->n_hca_ports && !c.rc; i++)
		check_hca(&c, &truth->hca_ports[i]);
	if (!c.rc)
		check_pkeys_shared(&c);
	for (size_t i = 0; i < truth->n_gpus && !c.rc; i++)
		check_gpu(&c, &truth->gpus[i]);
	rc = c.rc;
	if (rc)
		goto out;
	for (size_t i = first; i < out->n; i++)
		if (out->v[i].n_tenants)
			qsort(out->v[i].tenants, out->v[i].n_tenants, sizeof(out->v[i].tenants[0]),
			      tenants_cmp);
	if (out->n > first)	/* qsort of no elements may still not take NULL */
		qsort(out->v + first, out->n - first, sizeof(out->v[0]), finding_cmp);
	rc = (int)(out->n - first);
out:
	free(c.by_vni);
	free(c.by_pkey);
	free(c.by_rt);
	free(c.access);
	desired_free(&c.desired);
	return rc;
}

json_t *findings_to_json(const struct findings *f)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < f->n; i++) {
		const struct finding *x = &f->v[i];
		json_t *tenants = json_array();

		for (size_t k = 0; tenants && k < x->n_tenants; k++)
			json_array_append_new(tenants, json_string(x->tenants[k]));
		if (!tenants || json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:o, s:s}",
					"kind", finding_kind_name(x->kind), "target", x->target,
					"object", x->object, "tenants", tenants,
					"evidence", x->evidence))) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

json_t *isolation_report(const struct fabric_truth *truth, const struct findings *f,
			 int64_t time_ns)
{
	char when[32];
	struct tm tm;
	time_t secs;
	json_t *list = findings_to_json(f);

	if (!list)
		return NULL;
	if (!time_ns)
		time_ns = realtime_ns();
	secs = (time_t)(time_ns / 1000000000);
	gmtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_pack("{s:i, s:s, s:b, s:{s:I, s:I, s:I}, s:I, s:o}",
			 "version", 1, "time", when, "clean", f->n == 0,
			 "targets", "vteps", (json_int_t)truth->n_vteps,
			 "hca_ports", (json_int_t)truth->n_hca_ports,
			 "gpus", (json_int_t)truth->n_gpus,
			 "n_findings", (json_int_t)f->n, "findings", list);
}

/*
 * overlay/kvtep_plan.c: the kernel VTEP target's planner.  It owns the
 * diff: the observation (kvtep_observe.c) indexed by VNI once, merged with
 * the desired VNIs (both sorted) in one pass, into the ordered list of
 * actions kvtep_apply.c sends; and the per-VNI errors found on the way (a
 * VNI or name held by a device loom does not own, a missing access port).
 * It owns the names and aliases of loom's devices too.  No socket here:
 * the unit tests run it on observations set by hand.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/array.h"
#include "overlay/kvtep_priv.h"
#include "overlay/nl.h"

static const char *const op_names[] = {
	[OP_RELEASE] = "release port", [OP_DOOM] = "doom", [OP_REGROUP] = "regroup",
	[OP_DELETE_GROUP] = "delete group", [OP_BRIDGE_NEW] = "create bridge",
	[OP_VXLAN_NEW] = "create vxlan", [OP_ALIAS] = "set alias", [OP_MTU] = "set mtu",
	[OP_UP] = "set up", [OP_MASTER] = "set master", [OP_BRPORT] = "set bridge port",
	[OP_ENSLAVE] = "enslave port", [OP_NOIPV6] = "disable ipv6 on",
	[OP_VLAN_FLUSH] = "flush vlans of", [OP_VLAN_SET] = "set vlan on",
	[OP_SUBIF_NEW] = "create vlan sub-interface",
};

void kv_name_bridge(char *buf, size_t len, uint32_t vni)
{
	snprintf(buf, len, "lb%u", vni);
}

void kv_name_vxlan(char *buf, size_t len, uint32_t vni)
{
	snprintf(buf, len, "lx%u", vni);
}

/* "lb123" -> 123 for prefix "lb"; false unless the whole name matches. */
bool kv_name_vni(const char *name, const char *prefix, uint32_t *vni)
{
	const char *p = name + 2;
	uint32_t v = 0;

	if (strncmp(name, prefix, 2) || !*p || *p == '0')
		return false;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || v > 1677721)
			return false;
		v = v * 10 + (uint32_t)(*p - '0');
	}
	if (v > 16777215)
		return false;
	*vni = v;
	return true;
}

void kv_alias_for(char *buf, size_t len, const struct vtep_vni *v)
{
	snprintf(buf, len, KVTEP_ALIAS_PREFIX "%s/%s", v->tenant, v->segment);
}

/* alias == alias_for(v), without formatting: the no-change diff runs this per device. */
static bool alias_matches(const char *alias, const struct vtep_vni *v)
{
	size_t t = strlen(v->tenant), sg = strlen(v->segment);
	const size_t pre = sizeof(KVTEP_ALIAS_PREFIX) - 1;

	if (pre + t + 1 + sg >= KVTEP_ALIAS_MAX)	/* stored truncated: compare in full */
		return false;
	return !memcmp(alias, KVTEP_ALIAS_PREFIX, pre) && !memcmp(alias + pre, v->tenant, t) &&
	       alias[pre + t] == '/' && !strcmp(alias + pre + t + 1, v->segment);
}

struct kv_action *kv_act_add(struct kvtep *h, enum kv_op op, enum kv_stage stage,
				 size_t vni_idx, uint32_t vni, const struct kv_link *l,
				 const char *name)
{
	struct kv_action *a;

	if (ARRAY_GROW(h->acts, h->cap_acts, h->n_acts + 1))
		return NULL;
	a = &h->acts[h->n_acts];
	memset(a, 0, sizeof(*a));
	a->op = op;
	a->stage = stage;
	a->vni = vni;
	a->vni_idx = vni_idx;
	a->order = h->n_acts++;
	if (l) {
		a->ifindex = l->ifindex;
		snprintf(a->name, sizeof(a->name), "%s", l->name);
	} else if (name) {
		snprintf(a->name, sizeof(a->name), "%s", name);
	}
	return a;
}

static int cmp_action(const void *a, const void *b)
{
	const struct kv_action *x = a, *y = b;

	if (x->stage != y->stage)
		return (x->stage > y->stage) - (x->stage < y->stage);
	return (x->order > y->order) - (x->order < y->order);
}


static int cmp_vni_ref(const void *a, const void *b)
{
	const struct vni_ref *x = a, *y = b;

	if (x->vni != y->vni)
		return (x->vni > y->vni) - (x->vni < y->vni);
	return (x->link->ifindex > y->link->ifindex) - (x->link->ifindex < y->link->ifindex);
}

const struct kv_link *kv_vni_ref_find(const struct vni_ref *r, size_t n, uint32_t vni)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r[mid].vni < vni)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && r[lo].vni == vni ? r[lo].link : NULL;
}

bool kv_port_desired(const struct vtep_vni *v, const char *name)
{
	size_t lo = 0, hi = v->n_ports;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(v->ports[mid], name);

		if (!c)	/* a tagged port is in the bridge through its sub-interface */
			return !kv_port_tag(v, mid);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}


static int cmp_slave_ref(const void *a, const void *b)
{
	const struct slave_ref *x = a, *y = b;

	if (x->master != y->master)
		return (x->master > y->master) - (x->master < y->master);
	return (x->link->ifindex > y->link->ifindex) - (x->link->ifindex < y->link->ifindex);
}

void kv_plan_idx_free(struct plan_idx *p)
{
	free(p->br);
	free(p->vx);
	free(p->op_vx);
	free(p->op_name);
	free(p->sl);
	memset(p, 0, sizeof(*p));
}

/* Grow every array to @n entries; contents are not kept. */
static int plan_idx_reserve(struct plan_idx *p, size_t n)
{
	void *a[5];
	size_t i;

	if (n <= p->cap)
		return 0;
	a[0] = realloc(p->br, n * sizeof(*p->br));
	a[1] = realloc(p->vx, n * sizeof(*p->vx));
	a[2] = realloc(p->op_vx, n * sizeof(*p->op_vx));
	a[3] = realloc(p->op_name, n * sizeof(*p->op_name));
	a[4] = realloc(p->sl, n * sizeof(*p->sl));
	/* Whatever moved is kept, so that a failure leaks nothing. */
	if (a[0])
		p->br = a[0];
	if (a[1])
		p->vx = a[1];
	if (a[2])
		p->op_vx = a[2];
	if (a[3])
		p->op_name = a[3];
	if (a[4])
		p->sl = a[4];
	for (i = 0; i < 5; i++)
		if (!a[i])
			return -ENOMEM;
	p->cap = n;
	return 0;
}

/* Devices loom made in VNI order come out of the dump sorted already. */
static void sort_unless_sorted(void *base, size_t n, size_t size,
			       int (*cmp)(const void *, const void *))
{
	const char *b = base;
	size_t i;

	for (i = 1; i < n; i++)
		if (cmp(b + (i - 1) * size, b + i * size) > 0) {
			qsort(base, n, size, cmp);
			return;
		}
}

uint16_t kv_port_tag(const struct vtep_vni *v, size_t i)
{
	return v->port_vlans ? v->port_vlans[i] : 0;
}

bool kv_port_dev(const struct vtep_vni *v, size_t i, char *buf, size_t len)
{
	uint16_t tag = kv_port_tag(v, i);
	int n;

	if (!tag)
		n = snprintf(buf, len, "%s", v->ports[i]);
	else
		n = snprintf(buf, len, "%s.%u", v->ports[i], tag);
	return n > 0 && (size_t)n < len;
}

/* Whether loom's sub-interface @name is one a desired VNI puts in a bridge. */
static bool subif_desired(const struct kvtep *h, const char *name)
{
	const struct vtep_desired *d = h->desired;
	char dev[IFNAMSIZ];

	for (size_t vi = 0; vi < d->n_vnis; vi++) {
		if (!d->vnis[vi].port_vlans)
			continue;
		for (size_t i = 0; i < d->vnis[vi].n_ports; i++)
			if (kv_port_tag(&d->vnis[vi], i) &&
			    kv_port_dev(&d->vnis[vi], i, dev, sizeof(dev)) && !strcmp(dev, name))
				return true;
	}
	return false;
}

/* Orphans (loom-marked, name not ours) go to the doomed list with VNI 0. */
static int plan_idx_build(struct kvtep *h, struct plan_idx *p)
{
	const struct kv_obs *o = &h->obs;
	size_t i;
	uint32_t vni;
	int ret;

	ret = plan_idx_reserve(p, o->n ? o->n : 1);
	if (ret)
		return ret;
	p->n_br = p->n_vx = p->n_op_vx = p->n_op_name = p->n_sl = 0;
	for (i = 0; i < o->n; i++) {
		const struct kv_link *l = &o->links[i];

		if (l->owned && l->kind == KIND_VLAN && subif_desired(h, l->name)) {
			/* a soft tenant's sub-interface: planned with its VNI's ports */
		} else if (kv_route_keeps(h, l)) {
			/* a desired tenant VRF or its L3 VNI's devices: kvtep_route.c's */
		} else if (l->owned) {
			if (kv_name_vni(l->name, "lb", &vni))
				p->br[p->n_br++] = (struct vni_ref){ vni, l };
			else if (kv_name_vni(l->name, "lx", &vni))
				p->vx[p->n_vx++] = (struct vni_ref){ vni, l };
			else
				p->br[p->n_br++] = (struct vni_ref){ 0, l };	/* orphan */
		} else {
			if (l->kind == KIND_VXLAN && !l->collect_md)
				p->op_vx[p->n_op_vx++] = (struct vni_ref){ l->vni, l };
			/* An operator's device that has the name loom wants. */
			if (kv_name_vni(l->name, "lb", &vni) || kv_name_vni(l->name, "lx", &vni))
				p->op_name[p->n_op_name++] = (struct vni_ref){ vni, l };
		}
		if (l->master > 0) {
			const struct kv_link *m = kv_obs_by_ifindex(o, l->master);

			if (m && m->owned && m->kind == KIND_BRIDGE)
				p->sl[p->n_sl++] = (struct slave_ref){ l->master, l };
		}
	}
	sort_unless_sorted(p->br, p->n_br, sizeof(*p->br), cmp_vni_ref);
	sort_unless_sorted(p->vx, p->n_vx, sizeof(*p->vx), cmp_vni_ref);
	sort_unless_sorted(p->op_vx, p->n_op_vx, sizeof(*p->op_vx), cmp_vni_ref);
	sort_unless_sorted(p->op_name, p->n_op_name, sizeof(*p->op_name), cmp_vni_ref);
	sort_unless_sorted(p->sl, p->n_sl, sizeof(*p->sl), cmp_slave_ref);
	return 0;
}

#define ACT(op, st, l, name)                                                   \
	do {                                                                   \
		if (!kv_act_add(h, (op), (st), vi, vni, (l), (name)))             \
			return -ENOMEM;                                        \
	} while (0)

/* First slave of bridge @master in p->sl, or p->n_sl. */
static size_t slave_first(const struct plan_idx *p, int master)
{
	size_t lo = 0, hi = p->n_sl;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->sl[mid].master < master)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const struct kv_link *slave_find(const struct plan_idx *p, int master, const char *name)
{
	size_t i;

	for (i = slave_first(p, master); i < p->n_sl && p->sl[i].master == master; i++)
		if (!strcmp(p->sl[i].link->name, name))
			return p->sl[i].link;
	return NULL;
}

/* Release every port of loom bridge @br that is not desired there. */
int kv_plan_release(struct kvtep *h, const struct plan_idx *p, const struct kv_link *br,
			const struct vtep_vni *v, size_t vi, uint32_t vni)
{
	size_t lo = slave_first(p, br->ifindex);

	for (; lo < p->n_sl && p->sl[lo].master == br->ifindex; lo++) {
		const struct kv_link *l = p->sl[lo].link;

		/* Loom's own devices (its VXLAN device too) are doomed or re-parented. */
		if (l->owned || (v && kv_port_desired(v, l->name)))
			continue;
		ACT(OP_RELEASE, ST_RELEASE, l, NULL);
	}
	return 0;
}

int kv_plan_doom(struct kvtep *h, const struct plan_idx *p, const struct kv_link *l,
		     size_t vi, uint32_t vni)
{
	int ret;

	if (l->kind == KIND_BRIDGE) {
		ret = kv_plan_release(h, p, l, NULL, vi, vni);
		if (ret)
			return ret;
	}
	if (l->group != KVTEP_GROUP_DOOMED)
		ACT(OP_DOOM, ST_DOOM, l, NULL);
	h->n_doomed++;
	h->n_vrf_doomed += l->kind == KIND_VRF;
	return 1;	/* something to delete */
}

bool kv_vxlan_fits(const struct kvtep *h, const struct kv_link *l, uint32_t vni)
{
	return l->kind == KIND_VXLAN && !l->collect_md && l->vni == vni &&
	       l->local.s_addr == h->local.s_addr && l->port == NL_VXLAN_PORT && l->learning == 0;
}

/*
 * A VNI, or a name loom wants for it, held by a device loom does not own:
 * nothing is planned for it, and verify reports it.  Returns true then.
 */
bool kv_plan_foreign(struct kvtep *h, const struct plan_idx *p, size_t vi)
{
	uint32_t vni = h->desired->vnis[vi].vni;
	const struct kv_link *op = kv_vni_ref_find(p->op_vx, p->n_op_vx, vni);
	struct kv_verr *e = &h->plan_err[vi];
	const struct kv_link *l;

	if (op) {
		kv_verr_set(e, LOOM_E_CONFLICT,
			    "VNI %u is already used by VXLAN device %s, which loom does not own; "
			    "remove it or give the segment another VNI",
			    vni, op->name);
		e->foreign = true;
		return true;
	}
	l = kv_vni_ref_find(p->op_name, p->n_op_name, vni);
	if (l) {
		kv_verr_set(e, LOOM_E_CONFLICT,
			    "device name %s is taken by a device loom does not own; rename it",
			    l->name);
		e->foreign = true;
		return true;
	}
	return false;
}

/* VNI @vi's bridge; *brp is left at the bridge kept, NULL when one is made. */
static int plan_bridge(struct kvtep *h, const struct plan_idx *p, size_t vi,
		       const struct kv_link **brp, bool *del)
{
	const struct vtep_vni *v = &h->desired->vnis[vi];
	uint32_t vni = v->vni;
	const struct kv_link *br = kv_vni_ref_find(p->br, p->n_br, vni);
	char brname[IFNAMSIZ];
	struct kv_action *a;
	int ret;

	if (br && br->kind != KIND_BRIDGE) {
		*del |= kv_plan_doom(h, p, br, vi, vni) > 0;
		br = NULL;
	}
	*brp = br;
	if (!br) {
		/* Names are only formatted for devices to be created. */
		kv_name_bridge(brname, sizeof(brname), vni);
		ACT(OP_BRIDGE_NEW, ST_BRIDGE, NULL, brname);
		ACT(OP_ALIAS, ST_BRIDGE, NULL, brname);
		/* Up before anything joins it: see enum kv_stage. */
		ACT(OP_NOIPV6, ST_SYSCTL_FIRST, NULL, brname);
		ACT(OP_UP, ST_UP_FIRST, NULL, brname);
		/*
		 * Set apart from the creation: only an MTU set by changelink
		 * stops the bridge from shrinking it to its smallest port's.
		 */
		if (v->mtu) {
			a = kv_act_add(h, OP_MTU, ST_BRIDGE, vi, vni, NULL, brname);
			if (!a)
				return -ENOMEM;
			a->mtu = v->mtu;
		}
		return 0;
	}
	ret = kv_plan_release(h, p, br, v, vi, vni);
	if (ret)
		return ret;
	if (br->group != KVTEP_GROUP)
		ACT(OP_REGROUP, ST_DOOM, br, NULL);
	if (!alias_matches(br->alias, v))
		ACT(OP_ALIAS, ST_FIX, br, NULL);
	if (v->mtu && br->mtu != v->mtu) {
		a = kv_act_add(h, OP_MTU, ST_FIX, vi, vni, br, NULL);
		if (!a)
			return -ENOMEM;
		a->mtu = v->mtu;
	}
	/* Down: made before a crash, or set down by hand; IPv6 off first. */
	if (!(br->flags & IFF_UP)) {
		ACT(OP_NOIPV6, ST_SYSCTL, br, NULL);
		ACT(OP_UP, ST_UP, br, NULL);
	}
	return 0;
}

/* VNI @vi's VXLAN device, in bridge @br (NULL: the one being made). */
int kv_plan_vxlan(struct kvtep *h, const struct plan_idx *p, size_t vi,
		      const struct kv_link *br, bool *del)
{
	const struct vtep_vni *v = &h->desired->vnis[vi];
	uint32_t vni = v->vni;
	const struct kv_link *vx = kv_vni_ref_find(p->vx, p->n_vx, vni);
	bool br_new = !br;
	char vxname[IFNAMSIZ];
	struct kv_action *a;

	if (vx && !kv_vxlan_fits(h, vx, vni)) {
		*del |= kv_plan_doom(h, p, vx, vi, vni) > 0;
		vx = NULL;
	}
	if (!vx) {
		kv_name_vxlan(vxname, sizeof(vxname), vni);
		a = kv_act_add(h, OP_VXLAN_NEW, ST_VXLAN, vi, vni, NULL, vxname);
		if (!a)
			return -ENOMEM;
		a->mtu = v->mtu;
		a->peer = br_new ? 0 : br->ifindex;
		ACT(OP_ALIAS, ST_VXLAN, NULL, vxname);
		ACT(OP_BRPORT, ST_VXLAN, NULL, vxname);
		ACT(OP_NOIPV6, ST_SYSCTL, NULL, vxname);
		ACT(OP_UP, ST_UP, NULL, vxname);
		return 0;
	}
	if (vx->group != KVTEP_GROUP)
		ACT(OP_REGROUP, ST_DOOM, vx, NULL);
	if (!alias_matches(vx->alias, v))
		ACT(OP_ALIAS, ST_FIX, vx, NULL);
	if (v->mtu && vx->mtu != v->mtu) {
		a = kv_act_add(h, OP_MTU, ST_FIX, vi, vni, vx, NULL);
		if (!a)
			return -ENOMEM;
		a->mtu = v->mtu;
	}
	if (br_new || vx->master != br->ifindex) {
		a = kv_act_add(h, OP_MASTER, ST_FIX, vi, vni, vx, NULL);
		if (!a)
			return -ENOMEM;
		a->peer = br_new ? 0 : br->ifindex;
	}
	if (br_new || vx->master != br->ifindex || vx->port_learning != 0 ||
	    (h->caps.neigh_suppress && vx->neigh_suppress != 1))
		ACT(OP_BRPORT, ST_FIX, vx, NULL);
	if (!(vx->flags & IFF_UP)) {
		ACT(OP_NOIPV6, ST_SYSCTL, vx, NULL);
		ACT(OP_UP, ST_UP, vx, NULL);
	}
	return 0;
}

int kv_plan_subif(struct kvtep *h, const struct plan_idx *p, size_t vi, size_t i,
		  const struct kv_link **out, bool *del)
{
	const struct vtep_vni *v = &h->desired->vnis[vi];
	uint16_t tag = kv_port_tag(v, i);
	struct kv_verr *e = &h->plan_err[vi];
	const struct kv_link *parent, *l, *m;
	uint32_t vni = v->vni;
	char name[IFNAMSIZ];
	struct kv_action *a;

	*out = NULL;
	parent = kv_obs_by_name(&h->obs, v->ports[i]);
	if (!parent) {
		kv_verr_set(e, LOOM_E_NOT_FOUND,
			    "access port %s does not exist on this VTEP; check the node's NIC "
			    "ports in the topology",
			    v->ports[i]);
		return 1;
	}
	if (!kv_port_dev(v, i, name, sizeof(name))) {
		kv_verr_set(e, LOOM_E_PARAMS,
			    "the sub-interface %s.%u of access port %s would be longer than %d "
			    "characters; give the port a shorter name",
			    v->ports[i], tag, v->ports[i], IFNAMSIZ - 1);
		return 1;
	}
	m = parent->master > 0 ? kv_obs_by_ifindex(&h->obs, parent->master) : NULL;
	/* In a loom bridge, the plan releases it (not desired there untagged). */
	if (parent->owned || parent->kind == KIND_BRIDGE ||
	    (parent->master > 0 && !(m && m->owned && m->kind == KIND_BRIDGE))) {
		kv_verr_set(e, LOOM_E_CONFLICT,
			    "access port %s carries VLAN %u, so it must stay out of every bridge "
			    "and be no loom device",
			    v->ports[i], tag);
		return 1;
	}
	l = kv_obs_by_name(&h->obs, name);
	if (l && !l->owned) {
		kv_verr_set(e, LOOM_E_CONFLICT,
			    "device %s exists and loom does not own it; remove it (loom makes the "
			    "sub-interface of VLAN %u itself)",
			    name, tag);
		return 1;
	}
	if (l && (l->kind != KIND_VLAN || l->link != parent->ifindex || l->vlan_id != tag)) {
		*del |= kv_plan_doom(h, p, l, vi, vni) > 0;
		l = NULL;
	}
	if (!(parent->flags & IFF_UP))
		ACT(OP_UP, ST_PORT_UP, parent, NULL);
	if (l) {
		if (l->group != KVTEP_GROUP)
			ACT(OP_REGROUP, ST_DOOM, l, NULL);
		if (!alias_matches(l->alias, v))
			ACT(OP_ALIAS, ST_FIX, l, NULL);
		*out = l;
		return 0;
	}
	a = kv_act_add(h, OP_SUBIF_NEW, ST_SUBIF, vi, vni, NULL, name);
	if (!a)
		return -ENOMEM;
	a->peer = parent->ifindex;
	a->vid = tag;
	ACT(OP_ALIAS, ST_SUBIF, NULL, name);
	/* Live before it joins its bridge: see enum kv_stage. */
	ACT(OP_NOIPV6, ST_SYSCTL_FIRST, NULL, name);
	ACT(OP_UP, ST_UP_FIRST, NULL, name);
	return 0;
}

/* VNI @vi's access ports, into bridge @br (NULL: the one being made). */
bool kv_port_usable(const struct kvtep *h, const struct kv_link *l, const char *pn,
		    const struct kv_link **master, struct kv_verr *e)
{
	const struct kv_link *m;

	*master = NULL;
	if (!l) {
		kv_verr_set(e, LOOM_E_NOT_FOUND,
			    "access port %s does not exist on this VTEP; check the node's "
			    "NIC ports in the topology",
			    pn);
		return false;
	}
	if (l->owned || l->kind == KIND_BRIDGE) {
		kv_verr_set(e, LOOM_E_CONFLICT, "access port %s is a bridge or a loom device, not a port", pn);
		return false;
	}
	m = l->master > 0 ? kv_obs_by_ifindex(&h->obs, l->master) : NULL;
	if (m && !(m->owned && m->kind == KIND_BRIDGE)) {
		kv_verr_set(e, LOOM_E_CONFLICT,
			    "access port %s is enslaved to %s, which loom does not own; "
			    "release it first (ip link set %s nomaster)",
			    pn, m->name, pn);
		return false;
	}
	*master = m;
	return true;
}

static int plan_ports(struct kvtep *h, const struct plan_idx *p, size_t vi,
		      const struct kv_link *br, bool *del)
{
	const struct vtep_vni *v = &h->desired->vnis[vi];
	uint32_t vni = v->vni;
	struct kv_verr *e = &h->plan_err[vi];
	bool br_new = !br;
	struct kv_action *a;
	size_t i;

	for (i = 0; i < v->n_ports; i++) {
		const char *pn = v->ports[i];
		const struct kv_link *l, *m;

		if (kv_port_tag(v, i)) {
			char sub[IFNAMSIZ];
			int ret = kv_plan_subif(h, p, vi, i, &l, del);

			if (ret < 0)
				return ret;
			if (ret)
				continue;
			if (!l) {	/* made by this plan */
				kv_port_dev(v, i, sub, sizeof(sub));
				a = kv_act_add(h, OP_ENSLAVE, ST_ENSLAVE, vi, vni, NULL, sub);
				if (!a)
					return -ENOMEM;
				a->peer = br_new ? 0 : br->ifindex;
				continue;
			}
			if (br_new || l->master != br->ifindex) {
				a = kv_act_add(h, OP_ENSLAVE, ST_ENSLAVE, vi, vni, l, NULL);
				if (!a)
					return -ENOMEM;
				a->peer = br_new ? 0 : br->ifindex;
			}
			if (!(l->flags & IFF_UP))
				ACT(OP_UP, ST_PORT_UP, l, NULL);
			continue;
		}
		/* Usually the port is in its bridge already: look there first. */
		l = br_new ? NULL : slave_find(p, br->ifindex, pn);
		if (!l)
			l = kv_obs_by_name(&h->obs, pn);
		if (!kv_port_usable(h, l, pn, &m, e))
			continue;
		if (br_new || !m || m->ifindex != br->ifindex) {
			a = kv_act_add(h, OP_ENSLAVE, ST_ENSLAVE, vi, vni, l, NULL);
			if (!a)
				return -ENOMEM;
			a->peer = br_new ? 0 : br->ifindex;
		}
		if (!(l->flags & IFF_UP))
			ACT(OP_UP, ST_PORT_UP, l, NULL);
	}
	return 0;
}

static int plan_vni(struct kvtep *h, const struct plan_idx *p, size_t vi, bool *del)
{
	const struct kv_link *br;
	int ret;

	if (kv_plan_foreign(h, p, vi))
		return 0;
	ret = plan_bridge(h, p, vi, &br, del);
	if (!ret)
		ret = kv_plan_vxlan(h, p, vi, br, del);
	if (!ret)
		ret = plan_ports(h, p, vi, br, del);
	return ret;
}

int kvtep_plan(struct kvtep *h, const struct vtep_desired *d)
{
	struct plan_idx *p;
	size_t bi = 0, xi = 0, di = 0, vi;
	bool del = false;
	int ret;

	h->n_acts = 0;
	h->n_doomed = 0;
	h->n_vrf_doomed = 0;
	h->desired = d;
	h->n_err = 0;
	if (d->n_vnis > h->cap_err) {
		struct kv_verr *pe, *ae;
		uint16_t *vid;

		pe = realloc(h->plan_err, d->n_vnis * sizeof(*pe));
		if (!pe)
			return -ENOMEM;
		h->plan_err = pe;
		ae = realloc(h->apply_err, d->n_vnis * sizeof(*ae));
		if (!ae)
			return -ENOMEM;
		h->apply_err = ae;
		vid = realloc(h->vid, d->n_vnis * sizeof(*vid));
		if (!vid)
			return -ENOMEM;
		h->vid = vid;
		h->cap_err = d->n_vnis;
	}
	h->n_err = d->n_vnis;
	/* Only the codes say "set"; the messages are written with them. */
	for (vi = 0; vi < d->n_vnis; vi++) {
		h->plan_err[vi].code = h->apply_err[vi].code = 0;
		h->plan_err[vi].foreign = false;
		h->vid[vi] = 0;
	}
	if (!h->pidx) {
		h->pidx = calloc(1, sizeof(*h->pidx));
		if (!h->pidx)
			return -ENOMEM;
	}
	p = h->pidx;
	ret = plan_idx_build(h, p);
	if (ret)
		goto out;

	if (h->mode == VTEP_MODE_VLAN_AWARE) {
		ret = kv_plan_vlan_aware(h, p, &del);
		if (ret)
			goto out;
		goto delete;
	}
	/* Loom devices whose VNI is no longer desired: one merge pass each. */
	vi = KVTEP_NO_VNI;
	for (bi = 0; bi < p->n_br; bi++) {
		uint32_t vni = p->br[bi].vni;

		while (di < d->n_vnis && d->vnis[di].vni < vni)
			di++;
		if (vni && di < d->n_vnis && d->vnis[di].vni == vni)
			continue;
		ret = kv_plan_doom(h, p, p->br[bi].link, vi, vni);
		if (ret < 0)
			goto out;
		del = true;
	}
	for (di = 0, xi = 0; xi < p->n_vx; xi++) {
		uint32_t vni = p->vx[xi].vni;

		while (di < d->n_vnis && d->vnis[di].vni < vni)
			di++;
		if (di < d->n_vnis && d->vnis[di].vni == vni)
			continue;
		ret = kv_plan_doom(h, p, p->vx[xi].link, vi, vni);
		if (ret < 0)
			goto out;
		del = true;
	}
	for (vi = 0; vi < d->n_vnis; vi++) {
		ret = plan_vni(h, p, vi, &del);
		if (ret)
			goto out;
	}
delete:
	if (del && !kv_act_add(h, OP_DELETE_GROUP, ST_DELETE, KVTEP_NO_VNI, 0, NULL, NULL)) {
		ret = -ENOMEM;
		goto out;
	}
	if (h->n_acts)	/* qsort's array may not be NULL, even empty */
		qsort(h->acts, h->n_acts, sizeof(*h->acts), cmp_action);
	ret = (int)h->n_acts;
out:
	return ret;
}

size_t kvtep_plan_count(const struct kvtep *h)
{
	return h->n_acts;
}

int kvtep_plan_describe(const struct kvtep *h, size_t i, char *buf, size_t len)
{
	const struct kv_action *a;

	if (i >= h->n_acts)
		return -ENOENT;
	a = &h->acts[i];
	if (a->op == OP_DELETE_GROUP)
		snprintf(buf, len, "delete group 0x%x", KVTEP_GROUP_DOOMED);
	else if (a->op == OP_VLAN_SET || a->op == OP_SUBIF_NEW)
		snprintf(buf, len, "%s %s vid %u vni %u", op_names[a->op], a->name, a->vid, a->vni);
	else if (a->vni_idx != KVTEP_NO_VNI)
		snprintf(buf, len, "%s %s vni %u", op_names[a->op], a->name, a->vni);
	else
		snprintf(buf, len, "%s %s", op_names[a->op], a->name);
	return 0;
}

void kvtep_plan_counts(const struct kvtep *h, size_t *created, size_t *deleted)
{
	size_t n = 0;

	for (size_t i = 0; i < h->n_acts; i++)
		n += h->acts[i].op == OP_VXLAN_NEW;
	*created = n;
	*deleted = h->n_doomed;
}

size_t kvtep_plan_vrfs_deleted(const struct kvtep *h)
{
	return h->n_vrf_doomed;
}

bool kvtep_vni_foreign(const struct kvtep *h, const struct vtep_desired *d, size_t i)
{
	return h->desired == d && i < h->n_err && h->plan_err[i].code && h->plan_err[i].foreign;
}

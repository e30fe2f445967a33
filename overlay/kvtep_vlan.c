/*
 * overlay/kvtep_vlan.c: the kernel VTEP target's vlan-aware mode.  It owns
 * what differs from the traditional layout: one VLAN-filtering bridge per
 * VTEP ("lbv", default PVID 0), one VXLAN device per VNI in it ("lxN", the
 * VNI's VLAN as its PVID, untagged), each access port in its segment's VLAN
 * (PVID, untagged) and in no other; which VLAN each VNI gets (the one it
 * has, else the lowest free); the bridge ports' VLANs read from the kernel;
 * and the verdict per VNI.  One VXLAN device per VNI is the layout FRR 8.4's
 * zebra maps VLAN to VNI from (through the VXLAN port's PVID); the single
 * `external vnifilter` device is learnt by zebra only from FRR 8.5 on.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "overlay/kvtep_priv.h"
#include "overlay/nl.h"
#include "overlay/nl_attr.h"

#define ACT(op, st, l, name)                                                   \
	do {                                                                   \
		if (!kv_act_add(h, (op), (st), vi, vni, (l), (name)))          \
			return -ENOMEM;                                        \
	} while (0)

/* ---- reading VLANs ------------------------------------------------------- */

void kv_link_vlans(const struct nlattr *spec, struct kv_link *l)
{
	const struct nlattr *a;
	uint16_t begin = 0;

	l->n_vlans = 0;
	l->pvid = 0;
	l->pvid_untagged = false;
	mnl_attr_for_each_nested(a, spec) {
		const struct bridge_vlan_info *vi;

		if (mnl_attr_get_type(a) != IFLA_BRIDGE_VLAN_INFO ||
		    mnl_attr_get_payload_len(a) < sizeof(*vi))
			continue;
		vi = mnl_attr_get_payload(a);
		if (vi->vid == 0 || vi->vid > 4094)
			continue;
		if (vi->flags & BRIDGE_VLAN_INFO_RANGE_BEGIN) {
			begin = vi->vid;
			continue;
		}
		if ((vi->flags & BRIDGE_VLAN_INFO_RANGE_END) && begin && begin <= vi->vid)
			l->n_vlans = (uint16_t)(l->n_vlans + vi->vid - begin + 1);
		else
			l->n_vlans++;
		begin = 0;
		if (vi->flags & BRIDGE_VLAN_INFO_PVID) {
			l->pvid = vi->vid;
			l->pvid_untagged = vi->flags & BRIDGE_VLAN_INFO_UNTAGGED;
		}
	}
}

static void vlans_on_link(struct reply_ctx *c, const struct nlmsghdr *nlh)
{
	struct kvtep *h = c->data;
	const struct ifinfomsg *ifi;
	const struct nlattr *a;
	struct kv_link *l;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return;
	ifi = mnl_nlmsg_get_payload(nlh);
	l = (struct kv_link *)kv_obs_by_ifindex(&h->obs, ifi->ifi_index);
	if (!l)
		return;		/* made after the link dump: the next one sees it */
	mnl_attr_for_each(a, nlh, sizeof(*ifi)) {
		if (mnl_attr_get_type(a) == IFLA_AF_SPEC)
			kv_link_vlans(a, l);
	}
}

int kv_observe_vlans(struct kvtep *h)
{
	struct reply_ctx c = { .h = h, .on_link = vlans_on_link, .data = h };
	size_t len;
	int ret;

	for (size_t i = 0; i < h->obs.n; i++) {
		h->obs.links[i].n_vlans = 0;
		h->obs.links[i].pvid = 0;
		h->obs.links[i].pvid_untagged = false;
	}
	c.seq_lo = ++h->seq;
	c.seq_hi = c.seq_lo + 1;
	len = nl_bridge_vlan_dump(h->sendbuf, KVTEP_BATCH_BYTES, c.seq_lo);
	ret = kv_send_all(h, h->sendbuf, len);
	if (!ret)
		ret = kv_replies_wait(&c, 0);
	if (!ret && c.first_err)
		ret = -abs(c.first_err);
	return ret;
}

/* ---- plan ---------------------------------------------------------------- */

static bool vlan_exact(const struct kv_link *l, uint16_t vid)
{
	return l->n_vlans == 1 && l->pvid == vid && l->pvid_untagged;
}

static bool bit(const uint8_t *set, uint16_t v)
{
	return set[v / 8] & (1u << (v % 8));
}

static void bit_set(uint8_t *set, uint16_t v)
{
	set[v / 8] = (uint8_t)(set[v / 8] | (1u << (v % 8)));
}

static bool vni_desired(const struct vtep_desired *d, uint32_t vni)
{
	size_t lo = 0, hi = d->n_vnis;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->vnis[mid].vni < vni)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < d->n_vnis && d->vnis[lo].vni == vni;
}

/* Every device desired in the bridge (access ports, sub-interfaces), by
 * name, with its first VNI. */
struct port_want {
	char name[IFNAMSIZ];
	size_t vi;
};

static int cmp_port_want(const void *a, const void *b)
{
	const struct port_want *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return (x->vi > y->vi) - (x->vi < y->vi);
}

static const struct port_want *port_want_find(const struct port_want *w, size_t n,
					      const char *name)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(w[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && !strcmp(w[lo].name, name) ? &w[lo] : NULL;
}

/* Into VLAN @vid alone; @l NULL: a device made by this plan (no VLANs yet). */
static int plan_vlan(struct kvtep *h, size_t vi, uint32_t vni, const struct kv_link *l,
		     const char *name, uint16_t vid)
{
	struct kv_action *a;

	if (l && l->n_vlans)
		ACT(OP_VLAN_FLUSH, ST_VLAN, l, NULL);
	a = kv_act_add(h, OP_VLAN_SET, ST_VLAN, vi, vni, l, l ? NULL : name);
	if (!a)
		return -ENOMEM;
	a->vid = vid;
	return 0;
}

static int plan_bridge(struct kvtep *h, const struct kv_link *br)
{
	size_t vi = KVTEP_NO_VNI;
	uint32_t vni = 0;

	if (!br) {
		ACT(OP_BRIDGE_NEW, ST_BRIDGE, NULL, KVTEP_VLAN_BRIDGE);
		ACT(OP_ALIAS, ST_BRIDGE, NULL, KVTEP_VLAN_BRIDGE);
		ACT(OP_NOIPV6, ST_SYSCTL, NULL, KVTEP_VLAN_BRIDGE);
		ACT(OP_UP, ST_UP, NULL, KVTEP_VLAN_BRIDGE);
		return 0;
	}
	if (br->group != KVTEP_GROUP)
		ACT(OP_REGROUP, ST_DOOM, br, NULL);
	if (strcmp(br->alias, KVTEP_VLAN_BRIDGE_ALIAS))
		ACT(OP_ALIAS, ST_FIX, br, NULL);
	if (!(br->flags & IFF_UP)) {
		ACT(OP_NOIPV6, ST_SYSCTL, br, NULL);
		ACT(OP_UP, ST_UP, br, NULL);
	}
	return 0;
}

/* VNI @vi's access ports into bridge @br (NULL: being made), VLAN h->vid[vi]. */
static int plan_ports(struct kvtep *h, const struct plan_idx *p, const struct port_want *want,
		      size_t n_want, size_t vi, const struct kv_link *br, bool *del)
{
	const struct vtep_vni *v = &h->desired->vnis[vi];
	struct kv_verr *e = &h->plan_err[vi];
	uint32_t vni = v->vni;
	struct kv_action *a;
	int ret;

	for (size_t i = 0; i < v->n_ports; i++) {
		char pn[IFNAMSIZ];
		const struct port_want *w;
		const struct kv_link *l, *m;
		bool in_br;

		if (kv_port_tag(v, i)) {
			if (!kv_port_dev(v, i, pn, sizeof(pn)))
				snprintf(pn, sizeof(pn), "%s", v->ports[i]);	/* refused below */
			w = port_want_find(want, n_want, pn);
			if (w && w->vi != vi) {
				kv_verr_set(e, LOOM_E_CONFLICT,
					    "sub-interface %s is in VNI %u too on this VTEP", pn,
					    h->desired->vnis[w->vi].vni);
				continue;
			}
			ret = kv_plan_subif(h, p, vi, i, &l, del);
			if (ret < 0)
				return ret;
			if (ret)
				continue;
			in_br = l && br && l->master == br->ifindex;
			if (!in_br) {
				a = kv_act_add(h, OP_ENSLAVE, ST_ENSLAVE, vi, vni, l, l ? NULL : pn);
				if (!a)
					return -ENOMEM;
				a->peer = br ? br->ifindex : 0;
			}
			if (!in_br || !vlan_exact(l, h->vid[vi])) {
				ret = plan_vlan(h, vi, vni, l, pn, h->vid[vi]);
				if (ret)
					return ret;
			}
			if (l && !(l->flags & IFF_UP))
				ACT(OP_UP, ST_PORT_UP, l, NULL);
			continue;
		}
		snprintf(pn, sizeof(pn), "%s", v->ports[i]);
		w = port_want_find(want, n_want, pn);
		l = kv_obs_by_name(&h->obs, pn);
		if (w && w->vi != vi) {
			kv_verr_set(e, LOOM_E_CONFLICT,
				    "access port %s is in VNI %u too on this VTEP; a port is in "
				    "one segment (soft tenants share a port through VLANs)",
				    pn, h->desired->vnis[w->vi].vni);
			continue;
		}
		if (!kv_port_usable(h, l, pn, &m, e))
			continue;
		in_br = br && l->master == br->ifindex;
		if (!in_br) {
			a = kv_act_add(h, OP_ENSLAVE, ST_ENSLAVE, vi, vni, l, NULL);
			if (!a)
				return -ENOMEM;
			a->peer = br ? br->ifindex : 0;
		}
		if (!in_br || !vlan_exact(l, h->vid[vi])) {
			/* Out of its old VLAN and into the new one in one batch,
			 * in that order: never in two segments. */
			ret = plan_vlan(h, vi, vni, l, NULL, h->vid[vi]);
			if (ret)
				return ret;
		}
		if (!(l->flags & IFF_UP))
			ACT(OP_UP, ST_PORT_UP, l, NULL);
	}
	return 0;
}

int kv_plan_vlan_aware(struct kvtep *h, struct plan_idx *p, bool *del)
{
	const struct vtep_desired *d = h->desired;
	const struct kv_link *br = kv_obs_by_name(&h->obs, KVTEP_VLAN_BRIDGE);
	uint8_t used[KVTEP_VID_MAX / 8 + 1] = { 0 };
	struct port_want *want = NULL;
	size_t n_want = 0, vi, i;
	uint16_t next = KVTEP_VID_MIN;
	bool keep;
	int ret = 0;

	if (br && !br->owned) {
		for (vi = 0; vi < d->n_vnis; vi++)
			kv_verr_set(&h->plan_err[vi], LOOM_E_CONFLICT,
				    "device name %s (the vlan-aware bridge) is taken by a device "
				    "loom does not own; rename it",
				    KVTEP_VLAN_BRIDGE);
		return 0;
	}
	keep = br && br->kind == KIND_BRIDGE && br->vlan_filtering && d->n_vnis;
	if (!keep)
		br = NULL;

	/* Loom's other bridges (traditional mode's, orphans) and the VXLAN
	 * devices of VNIs no longer desired go. */
	for (i = 0; i < p->n_br; i++) {
		if (br && p->br[i].link == br)
			continue;
		ret = kv_plan_doom(h, p, p->br[i].link, KVTEP_NO_VNI, p->br[i].vni);
		if (ret < 0)
			return ret;
		*del = true;
	}
	for (i = 0; i < p->n_vx; i++) {
		if (vni_desired(d, p->vx[i].vni))
			continue;
		ret = kv_plan_doom(h, p, p->vx[i].link, KVTEP_NO_VNI, p->vx[i].vni);
		if (ret < 0)
			return ret;
		*del = true;
	}
	if (!d->n_vnis)
		return 0;

	/* VLANs: each VNI keeps the one its VXLAN device has, the others get
	 * the lowest free. */
	for (vi = 0; vi < d->n_vnis; vi++) {
		const struct kv_link *vx;

		if (kv_plan_foreign(h, p, vi))
			continue;
		vx = kv_vni_ref_find(p->vx, p->n_vx, d->vnis[vi].vni);
		if (br && vx && vx->master == br->ifindex && vx->pvid >= KVTEP_VID_MIN &&
		    vx->pvid <= KVTEP_VID_MAX && !bit(used, vx->pvid)) {
			h->vid[vi] = vx->pvid;
			bit_set(used, vx->pvid);
		}
	}
	for (vi = 0; vi < d->n_vnis; vi++) {
		if (h->vid[vi] || h->plan_err[vi].code)
			continue;
		while (next <= KVTEP_VID_MAX && bit(used, next))
			next++;
		if (next > KVTEP_VID_MAX) {
			kv_verr_set(&h->plan_err[vi], LOOM_E_EXHAUSTED,
				    "no VLAN left for VNI %u on bridge %s: a vlan-aware VTEP "
				    "carries at most %d VNIs; set the VTEP's mode to traditional",
				    d->vnis[vi].vni, KVTEP_VLAN_BRIDGE,
				    KVTEP_VID_MAX - KVTEP_VID_MIN + 1);
			continue;
		}
		h->vid[vi] = next;
		bit_set(used, next);
	}

	ret = plan_bridge(h, br);
	if (ret)
		return ret;

	/* Every port desired here, to release the others and find a port
	 * two segments want. */
	for (vi = 0; vi < d->n_vnis; vi++)
		n_want += d->vnis[vi].n_ports;
	want = calloc(n_want ? n_want : 1, sizeof(*want));
	if (!want)
		return -ENOMEM;
	n_want = 0;
	for (vi = 0; vi < d->n_vnis; vi++)
		for (i = 0; i < d->vnis[vi].n_ports; i++) {
			want[n_want].vi = vi;
			if (kv_port_dev(&d->vnis[vi], i, want[n_want].name, IFNAMSIZ))
				n_want++;
		}
	if (n_want)
		qsort(want, n_want, sizeof(*want), cmp_port_want);
	if (br) {
		for (i = 0; i < p->n_sl; i++) {
			const struct kv_link *l = p->sl[i].link;

			if (p->sl[i].master != br->ifindex || l->owned ||
			    port_want_find(want, n_want, l->name))
				continue;
			if (!kv_act_add(h, OP_RELEASE, ST_RELEASE, KVTEP_NO_VNI, 0, l, NULL)) {
				ret = -ENOMEM;
				goto out;
			}
		}
	}

	for (vi = 0; vi < d->n_vnis; vi++) {
		uint32_t vni = d->vnis[vi].vni;
		const struct kv_link *vx;
		char vxname[IFNAMSIZ];

		if (h->plan_err[vi].code)
			continue;
		ret = kv_plan_vxlan(h, p, vi, br, del);
		if (ret)
			goto out;
		vx = kv_vni_ref_find(p->vx, p->n_vx, vni);
		if (vx && !kv_vxlan_fits(h, vx, vni))
			vx = NULL;	/* doomed and made again */
		if (!vx || !br || vx->master != br->ifindex || !vlan_exact(vx, h->vid[vi])) {
			kv_name_vxlan(vxname, sizeof(vxname), vni);
			ret = plan_vlan(h, vi, vni, vx, vxname, h->vid[vi]);
			if (ret)
				goto out;
		}
		ret = plan_ports(h, p, want, n_want, vi, br, del);
		if (ret)
			goto out;
	}
out:
	free(want);
	return ret;
}

/* ---- verdict ------------------------------------------------------------- */

bool kv_verify_vni_vlan(struct kvtep *h, const struct vtep_desired *d, size_t i,
			struct kv_verr *fault, struct kv_expect **ex, size_t *n_ex, size_t *cap_ex)
{
	const struct vtep_vni *v = &d->vnis[i];
	const struct kv_obs *o = &h->obs;
	const struct kv_link *br = kv_obs_by_name(o, KVTEP_VLAN_BRIDGE), *vx, *p;
	char vxname[IFNAMSIZ];
	uint16_t vid = 0;
	bool ok = true;

	kv_name_vxlan(vxname, sizeof(vxname), v->vni);
	vx = kv_obs_by_name(o, vxname);
	if (!br || !br->owned || br->kind != KIND_BRIDGE || !br->vlan_filtering) {
		kv_verr_set(fault, LOOM_E_STATE, "VLAN-filtering bridge %s is missing",
			    KVTEP_VLAN_BRIDGE);
		return false;
	}
	kv_expect_add(ex, n_ex, cap_ex, br->name, 0, false, 0);
	if (!(br->flags & IFF_UP))
		kv_verr_set(fault, LOOM_E_STATE, "bridge %s is down", br->name), ok = false;
	if (h->desired == d && i < h->n_err)
		vid = h->vid[i];
	else if (vx)
		vid = vx->pvid;
	if (!vid) {
		kv_verr_set(fault, LOOM_E_STATE, "VNI %u has no VLAN on bridge %s", v->vni,
			    br->name);
		return false;
	}
	if (!vx || !vx->owned || !kv_vxlan_fits(h, vx, v->vni)) {
		kv_verr_set(fault, LOOM_E_STATE, "VXLAN device %s is missing or misconfigured",
			    vxname);
		ok = false;
	} else {
		kv_expect_add(ex, n_ex, cap_ex, vxname, br->ifindex, false, vid);
		if (vx->master != br->ifindex)
			kv_verr_set(fault, LOOM_E_STATE, "VXLAN device %s is not in bridge %s",
				    vxname, br->name), ok = false;
		else if (!vlan_exact(vx, vid))
			kv_verr_set(fault, LOOM_E_STATE,
				    "VXLAN device %s is not in VLAN %u alone (PVID, untagged)",
				    vxname, vid), ok = false;
		if (!kv_verify_vxlan_port(h, v, vx, fault))
			ok = false;
	}
	for (size_t k = 0; k < v->n_ports; k++) {
		char dev[IFNAMSIZ];

		p = kv_verify_port(o, v, k, br, dev, sizeof(dev), fault);
		if (!p) {
			ok = false;
			continue;
		}
		kv_expect_add(ex, n_ex, cap_ex, p->name, br->ifindex, true, vid);
		if (!vlan_exact(p, vid))
			kv_verr_set(fault, LOOM_E_STATE,
				    "access port %s is not in VLAN %u alone (PVID, untagged)",
				    dev, vid), ok = false;
		if (!(p->flags & IFF_UP))
			kv_verr_set(fault, LOOM_E_STATE, "access port %s is down", dev),
				ok = false;
	}
	return ok;
}

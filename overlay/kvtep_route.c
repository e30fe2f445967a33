/*
 * overlay/kvtep_route.c: tenant routing on a VTEP (docs/overlay.md,
 * "Routing"), traditional mode.  Per tenant with a routed segment here: the
 * VRF lvL3VNI (table KVTEP_VRF_TABLE_BASE + L3 VNI), the L3 VNI's bridge
 * lbL3VNI and VXLAN device lxL3VNI in it (symmetric IRB's transit VNI; the
 * bridge's own MAC is the router MAC FRR announces); and each routed
 * segment's bridge made its SVI: in the VRF, with the site's anycast
 * gateway MAC, the gateway addresses and forwarding on.
 *
 * It runs after the layer-2 apply, on a fresh observation, one request at
 * a time: a handful per tenant, nothing per host.  The layer-2 planner
 * leaves the devices named here alone while their L3 VNI is desired, and
 * deletes them (loom's group) once it is not.  Operator VRFs, the default
 * VRF and every device loom does not own are never changed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include "lib/array.h"
#include "lib/log.h"
#include "overlay/kvtep_priv.h"
#include "overlay/nl.h"

/* ---- names ----------------------------------------------------------------- */

void kv_name_vrf(char *buf, size_t len, uint32_t l3vni)
{
	snprintf(buf, len, "lv%u", l3vni);
}

bool kv_l3vni_desired(const struct vtep_desired *d, uint32_t vni)
{
	size_t lo = 0, hi = d ? d->n_vrfs : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->vrfs[mid].l3vni == vni)
			return true;
		if (d->vrfs[mid].l3vni < vni)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* A loom device this file keeps: a desired VRF, or its L3 VNI's bridge or VXLAN device. */
bool kv_route_keeps(const struct kvtep *h, const struct kv_link *l)
{
	uint32_t vni;

	if (!h->desired || !h->desired->n_vrfs || !l->owned)
		return false;
	if (kv_name_vni(l->name, "lv", &vni) || kv_name_vni(l->name, "lb", &vni) ||
	    kv_name_vni(l->name, "lx", &vni))
		return kv_l3vni_desired(h->desired, vni);
	return false;
}

static int mac_parse6(const char *s, uint8_t mac[6])
{
	unsigned int b[6];

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

/* "192.0.2.1/24" -> family, bytes, prefix length. */
static int cidr_parse(const char *s, int *af, uint8_t addr[16], unsigned int *plen)
{
	char a[64];
	const char *slash = strchr(s, '/');

	if (!slash || (size_t)(slash - s) >= sizeof(a))
		return -EINVAL;
	memcpy(a, s, (size_t)(slash - s));
	a[slash - s] = '\0';
	*af = strchr(a, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(*af, a, addr) != 1)
		return -EINVAL;
	*plen = (unsigned int)atoi(slash + 1);
	return 0;
}

/* ---- addresses ---------------------------------------------------------------- */

struct kv_addr {
	int ifindex;
	int family;
	unsigned int plen;
	unsigned char scope;
	uint32_t flags;		/* IFA_F_* */
	uint8_t addr[16];
};

struct kv_addrs {
	struct kv_addr *a;
	size_t n, cap;
};

static int addr_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type <= IFA_MAX && (type == IFA_LOCAL || type == IFA_ADDRESS || type == IFA_FLAGS))
		tb[type] = a;
	return MNL_CB_OK;
}

static void on_addr(struct reply_ctx *c, const struct nlmsghdr *nlh)
{
	struct kv_addrs *out = c->data;
	const struct nlattr *tb[IFA_MAX + 1] = { NULL };
	const struct ifaddrmsg *ifa;
	const struct nlattr *at;
	struct kv_addr *x;
	size_t alen;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifa))
		return;
	ifa = mnl_nlmsg_get_payload(nlh);
	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return;
	if (mnl_attr_parse(nlh, sizeof(*ifa), addr_attr, tb) < 0)
		return;
	alen = ifa->ifa_family == AF_INET ? 4 : 16;
	at = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	if (!at || mnl_attr_get_payload_len(at) != alen)
		return;
	if (ARRAY_GROW(out->a, out->cap, out->n + 1))
		return;
	x = &out->a[out->n++];
	memset(x, 0, sizeof(*x));
	x->ifindex = (int)ifa->ifa_index;
	x->family = ifa->ifa_family;
	x->plen = ifa->ifa_prefixlen;
	x->scope = ifa->ifa_scope;
	x->flags = tb[IFA_FLAGS] && mnl_attr_get_payload_len(tb[IFA_FLAGS]) == 4 ?
		   mnl_attr_get_u32(tb[IFA_FLAGS]) : ifa->ifa_flags;
	memcpy(x->addr, mnl_attr_get_payload(at), alen);
}

static int addr_dump(struct kvtep *h, struct kv_addrs *out)
{
	struct reply_ctx c = { .h = h, .on_addr = on_addr, .data = out };
	size_t len;
	int ret;

	out->n = 0;
	c.seq_lo = ++h->seq;
	c.seq_hi = c.seq_lo + 1;
	len = nl_addr_dump(h->sendbuf, KVTEP_BATCH_BYTES, c.seq_lo);
	ret = kv_send_all(h, h->sendbuf, len);
	if (ret)
		return ret;
	return kv_replies_wait(&c, 0);
}

static const struct kv_addr *addr_find(const struct kv_addrs *as, int ifindex, int af,
					const uint8_t *addr, unsigned int plen)
{
	for (size_t i = 0; i < as->n; i++)
		if (as->a[i].ifindex == ifindex && as->a[i].family == af && as->a[i].plen == plen &&
		    !memcmp(as->a[i].addr, addr, af == AF_INET ? 4 : 16))
			return &as->a[i];
	return NULL;
}

/*
 * An SVI's IPv6 address that failed duplicate address detection, or NULL:
 * the gateway (@addr) or the link-local.  The anycast gateway's addresses
 * and MAC are the same on every VTEP of a segment, so DAD fails them on
 * all but the first (its probe is flooded over VXLAN to a VTEP holding
 * the address).  A failed gateway is not used; with a failed link-local
 * the kernel sends no neighbour solicitation on the SVI (they come from
 * the link-local), so every host behind it drops out of the neighbour
 * table and, through EVPN, out of every other VTEP's routes.
 */
static const struct kv_addr *addr_dad_failed(const struct kv_addrs *as, int ifindex,
					     const uint8_t *gw6, unsigned int plen)
{
	for (size_t i = 0; i < as->n; i++) {
		const struct kv_addr *a = &as->a[i];

		if (a->ifindex != ifindex || a->family != AF_INET6 || !(a->flags & IFA_F_DADFAILED))
			continue;
		if (a->scope == RT_SCOPE_LINK || (a->plen == plen && !memcmp(a->addr, gw6, 16)))
			return a;
	}
	return NULL;
}

/* ---- the pass ------------------------------------------------------------------- */

/*
 * A per-device sysctl inside the VTEP's namespace,
 * /proc/sys/net/@fam/conf/@dev/@key: writes @val, or with @val NULL reads
 * it.  Returns the value read (0 after a write), or -errno.
 */
static int sysctl_dev(struct kvtep *h, const char *fam, const char *dev, const char *key,
		      const char *val)
{
	char path[128], buf[16];
	int self = -1, fd, ret = 0;
	ssize_t n;

	if (h->netns_fd >= 0 && (self = kv_netns_enter(h->netns_fd)) < 0) {
		log_warn("kvtep %s: cannot enter the namespace for a sysctl: %s", h->netns,
			 strerror(-self));
		return self;
	}
	snprintf(path, sizeof(path), "/proc/sys/net/%s/conf/%s/%s", fam, dev, key);
	fd = open(path, (val ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
	} else if (val) {
		if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
			ret = -errno;
	} else if ((n = read(fd, buf, sizeof(buf) - 1)) <= 0) {
		ret = n < 0 ? -errno : -EIO;
	} else {
		buf[n] = '\0';
		ret = atoi(buf);
	}
	if (fd >= 0)
		close(fd);
	if (ret < 0)
		log_debug(LOG_SUB_NETLINK, "kvtep: %s: %s", path, strerror(-ret));
	if (self >= 0)
		kv_netns_leave(self);
	return ret;
}

/*
 * Routing is forwarding: on for loom's routed devices only (IPv4), never
 * globally.  IPv6 comes on with duplicate address detection off: the
 * link-local it makes from the anycast MAC is the same on every VTEP
 * (addr_dad_failed says what a failed one breaks).
 */
static void forwarding_on(struct kvtep *h, const char *dev, bool v6)
{
	sysctl_dev(h, "ipv4", dev, "forwarding", "1");
	if (v6) {
		sysctl_dev(h, "ipv6", dev, "accept_dad", "0");
		sysctl_dev(h, "ipv6", dev, "disable_ipv6", "0");
		sysctl_dev(h, "ipv6", dev, "forwarding", "1");
	}
}

/* Whether a routed segment of @d has an IPv6 gateway on this VTEP. */
static bool routes_v6(const struct vtep_desired *d)
{
	for (size_t i = 0; i < d->n_vnis; i++)
		if (d->vnis[i].l3vni && d->vnis[i].gateway6[0])
			return true;
	return false;
}

/*
 * IPv6 is the exception: Linux (6.1) forwards IPv6 only with the
 * namespace's net.ipv6.conf.all.forwarding on; the per-device setting
 * does not route.  So a VTEP with an IPv6 gateway gets it on, once (it
 * also sets every device's, and makes the VTEP's own interfaces ignore
 * router advertisements, as on any router).  loom never turns it off: it
 * cannot know who else needs it.  Returns 1 when it was switched on.
 */
static int forwarding6_all(struct kvtep *h, const struct vtep_desired *d)
{
	if (!routes_v6(d) || sysctl_dev(h, "ipv6", "all", "forwarding", NULL) == 1)
		return 0;
	log_info("kvtep %s: net.ipv6.conf.all.forwarding on: IPv6 gateways need it", h->netns);
	return sysctl_dev(h, "ipv6", "all", "forwarding", "1") == 0;
}

/* Send the request in h->sendbuf; on failure record @what against @e. */
static int req(struct kvtep *h, size_t len, struct kv_verr *e, const char *what, const char *dev)
{
	int ret = kv_request_one(h, len);

	h->route_sent++;
	if (ret)
		kv_verr_set(e, ret == -EMSGSIZE ? LOOM_E_INTERNAL : LOOM_E_UNAVAILABLE,
			    "%s %s: %s", what, dev, strerror(-ret));
	return ret;
}

/* The device @name after a change: its ifindex, or 0 (recorded against @e). */
static int ifindex_of(struct kvtep *h, const char *name, struct kv_verr *e)
{
	int ifindex = kv_link_ifindex(h, name);

	if (ifindex <= 0) {
		kv_verr_set(e, LOOM_E_UNAVAILABLE, "device %s cannot be found after its creation", name);
		return 0;
	}
	return ifindex;
}

/* The first error of tenant VRF @f goes to every routed VNI of it. */
static void vrf_err(struct kvtep *h, const struct vtep_desired *d, uint32_t l3vni,
		    const struct kv_verr *e)
{
	if (!e->code)
		return;
	for (size_t i = 0; i < d->n_vnis && i < h->n_route_err; i++)
		if (d->vnis[i].l3vni == l3vni && !h->route_err[i].code)
			h->route_err[i] = *e;
}

/* An operator's (not loom's) VXLAN device using VNI @vni, or NULL. */
static const struct kv_link *foreign_vni(const struct kvtep *h, uint32_t vni)
{
	for (size_t i = 0; i < h->obs.n; i++) {
		const struct kv_link *l = &h->obs.links[i];

		if (l->kind == KIND_VXLAN && !l->owned && !l->collect_md && l->vni == vni)
			return l;
	}
	return NULL;
}

/* The VRF, the L3 VNI's bridge and VXLAN device of one tenant; its VRF's ifindex or 0. */
static int plan_vrf(struct kvtep *h, const struct vtep_vrf *f, struct kv_verr *e)
{
	char vrf[IFNAMSIZ], br[IFNAMSIZ], vx[IFNAMSIZ], alias[KVTEP_ALIAS_MAX];
	uint32_t table = KVTEP_VRF_TABLE_BASE + f->l3vni;
	const struct kv_link *l, *op;
	struct nl_brport bp = { .learning = 0, .neigh_suppress = h->caps.neigh_suppress ? 1 : -1,
				.vlan_tunnel = -1 };
	int vrf_if, br_if;
	uint8_t mac[NL_ETH_ALEN];
	bool fresh, br_up = false;

	kv_name_vrf(vrf, sizeof(vrf), f->l3vni);
	kv_name_bridge(br, sizeof(br), f->l3vni);
	kv_name_vxlan(vx, sizeof(vx), f->l3vni);
	op = foreign_vni(h, f->l3vni);
	if (op) {
		kv_verr_set(e, LOOM_E_CONFLICT, "L3 VNI %u of tenant %s is already used by VXLAN "
			    "device %s, which loom does not own", f->l3vni, f->tenant, op->name);
		return 0;
	}
	for (int k = 0; k < 3; k++) {
		const char *n = k == 0 ? vrf : k == 1 ? br : vx;

		l = kv_obs_by_name(&h->obs, n);
		if (l && !l->owned) {
			kv_verr_set(e, LOOM_E_CONFLICT, "device %s exists and loom does not own it; "
				    "loom needs the name for tenant %s's L3 VNI %u", n, f->tenant,
				    f->l3vni);
			return 0;
		}
	}

	/* The VRF. */
	l = kv_obs_by_name(&h->obs, vrf);
	if (l && (l->kind != KIND_VRF || l->vrf_table != table)) {
		if (req(h, nl_link_del(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, l->ifindex, NULL), e,
			"deleting the misconfigured", vrf))
			return 0;
		l = NULL;
	}
	snprintf(alias, sizeof(alias), KVTEP_ALIAS_PREFIX "%s/vrf", f->tenant);
	if (!l) {
		if (req(h, nl_link_vrf_new_group(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, vrf, table,
						 KVTEP_GROUP), e, "creating VRF", vrf) ||
		    req(h, nl_link_set_alias(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, 0, vrf, alias),
			e, "naming", vrf) ||
		    !(vrf_if = ifindex_of(h, vrf, e)) ||
		    req(h, nl_link_set_up(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, vrf_if, NULL, true),
			e, "setting up", vrf))
			return 0;
	} else {
		vrf_if = l->ifindex;
		if (!(l->flags & IFF_UP) &&
		    req(h, nl_link_set_up(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, vrf_if, NULL, true),
			e, "setting up", vrf))
			return 0;
	}

	/* The L3 VNI's bridge: its MAC (unique per VTEP) is the router MAC. */
	snprintf(alias, sizeof(alias), KVTEP_ALIAS_PREFIX "%s/l3vni", f->tenant);
	l = kv_obs_by_name(&h->obs, br);
	if (l && l->kind != KIND_BRIDGE) {
		if (req(h, nl_link_del(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, l->ifindex, NULL), e,
			"deleting the misconfigured", br))
			return 0;
		l = NULL;
	}
	fresh = !l;
	if (fresh) {
		kv_mac_for(h, f->l3vni, mac);
		if (req(h, nl_link_bridge_new_mac(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, br, 0,
						  KVTEP_GROUP, false, mac), e, "creating bridge", br) ||
		    req(h, nl_link_set_alias(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, 0, br, alias), e,
			"naming", br) ||
		    !(br_if = ifindex_of(h, br, e)))
			return 0;
	} else {
		br_if = l->ifindex;
		br_up = l->flags & IFF_UP;
	}
	if ((fresh || l->master != vrf_if) &&
	    req(h, nl_link_set_master(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, br_if, NULL, vrf_if),
		e, "putting into its VRF:", br))
		return 0;
	if (fresh || l->master != vrf_if)
		forwarding_on(h, br, true);

	/* The L3 VNI's VXLAN device. */
	l = kv_obs_by_name(&h->obs, vx);
	if (l && !kv_vxlan_fits(h, l, f->l3vni)) {
		if (req(h, nl_link_del(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, l->ifindex, NULL), e,
			"deleting the misconfigured", vx))
			return 0;
		l = NULL;
	}
	if (!l) {
		struct nl_vxlan v = { .name = vx, .vni = f->l3vni, .local = h->local,
				      .port = NL_VXLAN_PORT, .group = KVTEP_GROUP, .master = br_if };

		if (req(h, nl_link_vxlan_new(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, &v), e,
			"creating VXLAN device", vx) ||
		    req(h, nl_link_set_alias(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, 0, vx, alias), e,
			"naming", vx) ||
		    req(h, nl_brport_set(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, 0, vx, &bp), e,
			"setting the bridge port options of", vx) ||
		    req(h, nl_link_set_up(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, 0, vx, true), e,
			"setting up", vx))
			return 0;
	} else {
		if (l->master != br_if &&
		    req(h, nl_link_set_master(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, l->ifindex,
					      NULL, br_if), e, "putting into its bridge:", vx))
			return 0;
		if ((l->master != br_if || l->port_learning != 0 ||
		     (h->caps.neigh_suppress && l->neigh_suppress != 1)) &&
		    req(h, nl_brport_set(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, l->ifindex, NULL,
					 &bp), e, "setting the bridge port options of", vx))
			return 0;
		if (!(l->flags & IFF_UP) &&
		    req(h, nl_link_set_up(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, l->ifindex, NULL,
					  true), e, "setting up", vx))
			return 0;
	}
	if ((fresh || !br_up) &&
	    req(h, nl_link_set_up(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, br_if, NULL, true), e,
		"setting up", br))
		return 0;
	return vrf_if;
}

/* One routed segment's bridge as its SVI in VRF @vrf_if. */
static void plan_svi(struct kvtep *h, const struct vtep_vni *v, int vrf_if, const uint8_t gwmac[6],
		     const struct kv_addrs *as, struct kv_verr *e)
{
	char br[IFNAMSIZ];
	const struct kv_link *l;
	const char *gw[2] = { v->gateway4, v->gateway6 };
	bool changed = false, forwarded = false;

	kv_name_bridge(br, sizeof(br), v->vni);
	l = kv_obs_by_name(&h->obs, br);
	if (!l || !l->owned || l->kind != KIND_BRIDGE)
		return;	/* the layer-2 verdict says why */
	if (l->master != vrf_if) {
		if (req(h, nl_link_set_master(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, l->ifindex, NULL,
					      vrf_if), e, "putting into its VRF:", br))
			return;
		changed = true;
	}
	if (!l->has_mac || memcmp(l->mac, gwmac, 6)) {
		if (req(h, nl_link_set_mac(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, l->ifindex, NULL,
					   gwmac), e, "setting the gateway MAC of", br))
			return;
		changed = true;
	}
	/* Addresses: the gateways, and no other global one (the bridge is loom's). */
	for (size_t i = 0; i < as->n; i++) {
		const struct kv_addr *a = &as->a[i];
		bool want = false;

		if (a->ifindex != l->ifindex || a->scope != RT_SCOPE_UNIVERSE)
			continue;
		for (int k = 0; k < 2; k++) {
			uint8_t addr[16];
			unsigned int plen;
			int af;

			if (gw[k][0] && !cidr_parse(gw[k], &af, addr, &plen) && af == a->family &&
			    plen == a->plen && !memcmp(addr, a->addr, af == AF_INET ? 4 : 16))
				want = true;
		}
		if (!want)
			req(h, nl_addr(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, false, l->ifindex,
				       a->family, a->addr, a->plen), e, "removing an address from", br);
	}
	/* An IPv6 address that failed DAD (addr_dad_failed): removed and added
	 * again without DAD, the same address; the bridge stops DAD for good. */
	bool dad_off = false;

	for (size_t i = 0; i < as->n; i++) {
		const struct kv_addr *a = &as->a[i];
		char text[INET6_ADDRSTRLEN];

		if (a->ifindex != l->ifindex || a->family != AF_INET6 || !(a->flags & IFA_F_DADFAILED))
			continue;
		inet_ntop(AF_INET6, a->addr, text, sizeof(text));
		log_warn("kvtep %s: %s on %s failed duplicate address detection: added again "
			 "without it", h->netns, text, br);
		if (!dad_off)
			sysctl_dev(h, "ipv6", br, "accept_dad", "0");
		dad_off = true;
		if (!req(h, nl_addr(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, false, l->ifindex,
				    AF_INET6, a->addr, a->plen), e, "removing a failed address from", br))
			req(h, nl_addr(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, true, l->ifindex,
				       AF_INET6, a->addr, a->plen), e, "adding an address again to", br);
	}
	/* Enslaving to a VRF cycles the device, which may drop its addresses. */
	for (int k = 0; k < 2; k++) {
		uint8_t addr[16];
		unsigned int plen;
		int af;

		if (!gw[k][0])
			continue;
		if (cidr_parse(gw[k], &af, addr, &plen)) {
			kv_verr_set(e, LOOM_E_PARAMS, "gateway %s is not an address", gw[k]);
			continue;
		}
		if (addr_find(as, l->ifindex, af, addr, plen) && !changed)
			continue;
		if (!forwarded) {
			forwarding_on(h, br, v->gateway6[0] != '\0');
			forwarded = true;
		}
		req(h, nl_addr(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, true, l->ifindex, af, addr,
			       plen), e, "adding the gateway address to", br);
	}
	if (changed && !forwarded)
		forwarding_on(h, br, v->gateway6[0] != '\0');
}

/* A bridge of a desired layer-2-only VNI still in one of loom's VRFs: out, addresses off. */
static void plan_unroute(struct kvtep *h, const struct vtep_vni *v, const struct kv_addrs *as,
			 struct kv_verr *e)
{
	char br[IFNAMSIZ];
	const struct kv_link *l, *m;

	kv_name_bridge(br, sizeof(br), v->vni);
	l = kv_obs_by_name(&h->obs, br);
	if (!l || !l->owned || l->master <= 0)
		return;
	m = kv_obs_by_ifindex(&h->obs, l->master);
	if (!m || !m->owned || m->kind != KIND_VRF)
		return;
	req(h, nl_link_set_master(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, l->ifindex, NULL, 0), e,
	    "taking out of its VRF:", br);
	for (size_t i = 0; i < as->n; i++)
		if (as->a[i].ifindex == l->ifindex && as->a[i].scope == RT_SCOPE_UNIVERSE)
			req(h, nl_addr(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, false, l->ifindex,
				       as->a[i].family, as->a[i].addr, as->a[i].plen), e,
			    "removing an address from", br);
}

/* Whether a loom bridge sits in a loom VRF (a routed segment left to undo). */
static bool any_routed_bridge(const struct kvtep *h)
{
	for (size_t i = 0; i < h->obs.n; i++) {
		const struct kv_link *l = &h->obs.links[i], *m;

		if (l->owned && l->kind == KIND_BRIDGE && l->master > 0 &&
		    (m = kv_obs_by_ifindex(&h->obs, l->master)) && m->owned && m->kind == KIND_VRF)
			return true;
	}
	return false;
}

static int route_err_reset(struct kvtep *h, const struct vtep_desired *d)
{
	if (d->n_vnis > h->cap_route_err) {
		struct kv_verr *e = realloc(h->route_err, d->n_vnis * sizeof(*e));

		if (!e)
			return -ENOMEM;
		h->route_err = e;
		h->cap_route_err = d->n_vnis;
	}
	h->n_route_err = d->n_vnis;
	for (size_t i = 0; i < d->n_vnis; i++)
		h->route_err[i].code = 0;
	return 0;
}

/* Returns how many requests it sent (0: nothing changed), or -errno. */
int kv_route_sync(struct kvtep *h, const struct vtep_desired *d, bool observe)
{
	struct kv_addrs as = { 0 };
	uint8_t gwmac[6];
	int *vrf_if = NULL, ret;

	ret = route_err_reset(h, d);
	if (ret)
		return ret;
	h->route_sent = 0;
	if (h->mode != VTEP_MODE_TRADITIONAL) {
		struct kv_verr e = { 0 };

		kv_verr_set(&e, LOOM_E_UNAVAILABLE, "routed segments need the traditional VTEP mode "
			    "for now (this VTEP is vlan-aware)");
		for (size_t i = 0; i < d->n_vrfs; i++)
			vrf_err(h, d, d->vrfs[i].l3vni, &e);
		return 0;
	}
	if (!d->n_vrfs && !any_routed_bridge(h))
		return 0;
	if (observe && (ret = kvtep_observe(h)) < 0)
		return ret;
	if (d->n_vrfs && mac_parse6(d->gateway_mac, gwmac)) {
		struct kv_verr e = { 0 };

		kv_verr_set(&e, LOOM_E_PARAMS, "gateway MAC '%s' is not a MAC address", d->gateway_mac);
		for (size_t i = 0; i < d->n_vrfs; i++)
			vrf_err(h, d, d->vrfs[i].l3vni, &e);
		return 0;
	}
	ret = addr_dump(h, &as);
	if (ret < 0)
		goto out;
	vrf_if = calloc(d->n_vrfs ? d->n_vrfs : 1, sizeof(*vrf_if));
	if (!vrf_if) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < d->n_vrfs; i++) {
		struct kv_verr e = { 0 };

		vrf_if[i] = plan_vrf(h, &d->vrfs[i], &e);
		vrf_err(h, d, d->vrfs[i].l3vni, &e);
	}
	for (size_t i = 0; i < d->n_vnis; i++) {
		const struct vtep_vni *v = &d->vnis[i];
		size_t k;

		if (!v->l3vni) {
			plan_unroute(h, v, &as, &h->route_err[i]);
			continue;
		}
		for (k = 0; k < d->n_vrfs && d->vrfs[k].l3vni != v->l3vni; k++)
			;
		if (k == d->n_vrfs || !vrf_if[k])
			continue;
		plan_svi(h, v, vrf_if[k], gwmac, &as, &h->route_err[i]);
	}
	ret = (int)h->route_sent + forwarding6_all(h, d);
out:
	free(as.a);
	free(vrf_if);
	return ret;
}

/* ---- the verdict --------------------------------------------------------------- */

int kv_route_verify(struct kvtep *h, const struct vtep_desired *d, struct kvtep_vni_status *st,
		    bool same)
{
	struct kv_addrs as = { 0 };
	uint8_t gwmac[6];
	int bad = 0, ret, fwd6 = -1;

	if (!d->n_vrfs)
		return 0;
	if (routes_v6(d))
		fwd6 = sysctl_dev(h, "ipv6", "all", "forwarding", NULL);
	if (mac_parse6(d->gateway_mac, gwmac))
		memset(gwmac, 0, sizeof(gwmac));
	ret = addr_dump(h, &as);
	if (ret < 0) {
		free(as.a);
		return ret;
	}
	for (size_t i = 0; i < d->n_vnis; i++) {
		const struct vtep_vni *v = &d->vnis[i];
		char vrf[IFNAMSIZ], l3br[IFNAMSIZ], l3vx[IFNAMSIZ], br[IFNAMSIZ];
		const struct kv_link *lv, *lb, *lx, *b;
		struct kv_verr fault = { 0 };
		const char *gw[2] = { v->gateway4, v->gateway6 };
		const struct kv_addr *dad;

		if (!v->l3vni || st[i].state != KVTEP_VNI_PROGRAMMED)
			continue;
		kv_name_vrf(vrf, sizeof(vrf), v->l3vni);
		kv_name_bridge(l3br, sizeof(l3br), v->l3vni);
		kv_name_vxlan(l3vx, sizeof(l3vx), v->l3vni);
		kv_name_bridge(br, sizeof(br), v->vni);
		lv = kv_obs_by_name(&h->obs, vrf);
		lb = kv_obs_by_name(&h->obs, l3br);
		lx = kv_obs_by_name(&h->obs, l3vx);
		b = kv_obs_by_name(&h->obs, br);
		if (!lv || !lv->owned || lv->kind != KIND_VRF ||
		    lv->vrf_table != KVTEP_VRF_TABLE_BASE + v->l3vni || !(lv->flags & IFF_UP))
			kv_verr_set(&fault, LOOM_E_STATE, "VRF %s is missing, misconfigured or down", vrf);
		else if (!lb || !lb->owned || lb->kind != KIND_BRIDGE || lb->master != lv->ifindex ||
			 !(lb->flags & IFF_UP))
			kv_verr_set(&fault, LOOM_E_STATE, "L3 VNI bridge %s is missing, down or not in "
				    "VRF %s", l3br, vrf);
		else if (!lx || !lx->owned || !kv_vxlan_fits(h, lx, v->l3vni) ||
			 lx->master != lb->ifindex || !(lx->flags & IFF_UP))
			kv_verr_set(&fault, LOOM_E_STATE, "L3 VNI VXLAN device %s is missing, down or "
				    "not in bridge %s", l3vx, l3br);
		else if (!b || b->master != lv->ifindex)
			kv_verr_set(&fault, LOOM_E_STATE, "bridge %s is not in VRF %s", br, vrf);
		else if (!b->has_mac || memcmp(b->mac, gwmac, 6))
			kv_verr_set(&fault, LOOM_E_STATE, "bridge %s lacks the gateway MAC %s", br,
				    d->gateway_mac);
		for (int k = 0; k < 2 && !fault.code; k++) {
			uint8_t addr[16];
			unsigned int plen;
			int af;

			if (gw[k][0] && (cidr_parse(gw[k], &af, addr, &plen) ||
					 !addr_find(&as, b->ifindex, af, addr, plen)))
				kv_verr_set(&fault, LOOM_E_STATE, "bridge %s lacks gateway address %s",
					    br, gw[k]);
			else if (gw[k][0] && af == AF_INET6 &&
				 (dad = addr_dad_failed(&as, b->ifindex, addr, plen))) {
				char text[INET6_ADDRSTRLEN];

				inet_ntop(AF_INET6, dad->addr, text, sizeof(text));
				kv_verr_set(&fault, LOOM_E_STATE, "IPv6 address %s on bridge %s failed "
					    "duplicate address detection: the VTEP %s", text, br,
					    dad->scope == RT_SCOPE_LINK ? "cannot resolve IPv6 neighbours "
					    "on it" : "does not answer as the gateway");
			}
		}
		if (!fault.code && v->gateway6[0] && fwd6 != 1)
			kv_verr_set(&fault, LOOM_E_STATE, "IPv6 forwarding is off on this VTEP "
				    "(net.ipv6.conf.all.forwarding): no IPv6 is routed through "
				    "gateway %s", v->gateway6);
		if (!fault.code && !(same && i < h->n_route_err && h->route_err[i].code))
			continue;
		if (same && i < h->n_route_err && h->route_err[i].code)
			fault = h->route_err[i];
		st[i].state = KVTEP_VNI_ERROR;
		st[i].code = fault.code;
		snprintf(st[i].reason, sizeof(st[i].reason), "%s", fault.msg);
		bad++;
	}
	free(as.a);
	return bad;
}

/* What the watch follows besides the layer-2 devices: each VRF and its L3 VNI's devices. */
int kv_route_expect(struct kvtep *h, const struct vtep_desired *d, struct kv_expect **ex,
		    size_t *n_ex, size_t *cap_ex)
{
	for (size_t i = 0; i < d->n_vrfs && h->mode == VTEP_MODE_TRADITIONAL; i++) {
		char vrf[IFNAMSIZ], br[IFNAMSIZ], vx[IFNAMSIZ];
		const struct kv_link *lv, *lb, *lx;

		kv_name_vrf(vrf, sizeof(vrf), d->vrfs[i].l3vni);
		kv_name_bridge(br, sizeof(br), d->vrfs[i].l3vni);
		kv_name_vxlan(vx, sizeof(vx), d->vrfs[i].l3vni);
		lv = kv_obs_by_name(&h->obs, vrf);
		lb = kv_obs_by_name(&h->obs, br);
		lx = kv_obs_by_name(&h->obs, vx);
		if (!lv || !lb || !lx || !lv->owned || !lb->owned || !lx->owned)
			continue;
		if (kv_expect_add(ex, n_ex, cap_ex, vrf, 0, false, 0) ||
		    kv_expect_add(ex, n_ex, cap_ex, br, lv->ifindex, false, 0) ||
		    kv_expect_add(ex, n_ex, cap_ex, vx, lb->ifindex, false, 0))
			return -ENOMEM;
	}
	return 0;
}

/* The master a routed VNI's bridge is expected to have: its VRF's ifindex (0: unchecked). */
int kv_route_bridge_master(const struct kvtep *h, const struct vtep_vni *v)
{
	char vrf[IFNAMSIZ];
	const struct kv_link *lv;

	if (!v->l3vni || h->mode != VTEP_MODE_TRADITIONAL)
		return 0;
	kv_name_vrf(vrf, sizeof(vrf), v->l3vni);
	lv = kv_obs_by_name(&h->obs, vrf);
	return lv && lv->owned ? lv->ifindex : 0;
}

/*
 * overlay/kvtep_observe.c: reading links from the kernel.  It owns the
 * parsing of RTM_NEWLINK (libmnl callbacks, each attribute's length
 * checked, unknown ones skipped), the observation (one link dump, sorted by
 * ifindex and indexed by name, and the lookups in it), and single-device
 * GETs for the probe and for kernels that do not echo a new bridge.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "lib/array.h"
#include "overlay/kvtep_priv.h"
#include "overlay/kvtep_test.h"
#include "overlay/nl.h"
#include "overlay/nl_attr.h"

/* ---- parsing links (overlay/nl_attr.h) --------------------------------- */

int nl_attr_keep(const struct nlattr *a, const struct nlattr **tb, uint16_t max,
		 const struct nl_attr_policy *policy)
{
	uint16_t type = mnl_attr_get_type(a);
	const struct nl_attr_policy *p;

	if (mnl_attr_type_valid(a, max) < 0)
		return MNL_CB_OK;	/* newer kernels add attributes */
	p = &policy[type];
	if (p->len && mnl_attr_get_payload_len(a) != p->len)
		return MNL_CB_OK;
	if (p->type != MNL_TYPE_UNSPEC && mnl_attr_validate(a, p->type) < 0)
		return MNL_CB_OK;
	tb[type] = a;
	return MNL_CB_OK;
}

static const struct nl_attr_policy link_policy[IFLA_MAX + 1] = {
	[IFLA_IFNAME] = { MNL_TYPE_NUL_STRING, 0 },
	[IFLA_IFALIAS] = { MNL_TYPE_NUL_STRING, 0 },
	[IFLA_MTU] = { MNL_TYPE_U32, 0 },
	[IFLA_MASTER] = { MNL_TYPE_U32, 0 },
	[IFLA_LINK] = { MNL_TYPE_U32, 0 },
	[IFLA_GROUP] = { MNL_TYPE_U32, 0 },
	[IFLA_LINKINFO] = { MNL_TYPE_NESTED, 0 },
	[IFLA_ADDRESS] = { MNL_TYPE_UNSPEC, 6 },	/* Ethernet only; others skipped */
};

static const struct nl_attr_policy info_policy[IFLA_INFO_MAX + 1] = {
	[IFLA_INFO_KIND] = { MNL_TYPE_NUL_STRING, 0 },
	[IFLA_INFO_SLAVE_KIND] = { MNL_TYPE_NUL_STRING, 0 },
	[IFLA_INFO_DATA] = { MNL_TYPE_NESTED, 0 },
	[IFLA_INFO_SLAVE_DATA] = { MNL_TYPE_NESTED, 0 },
};

static const struct nl_attr_policy vxlan_policy[IFLA_VXLAN_MAX + 1] = {
	[IFLA_VXLAN_ID] = { MNL_TYPE_U32, 0 },
	[IFLA_VXLAN_LOCAL] = { MNL_TYPE_UNSPEC, sizeof(struct in_addr) },
	[IFLA_VXLAN_PORT] = { MNL_TYPE_U16, 0 },
	[IFLA_VXLAN_LEARNING] = { MNL_TYPE_U8, 0 },
	[IFLA_VXLAN_COLLECT_METADATA] = { MNL_TYPE_U8, 0 },
	[IFLA_VXLAN_VNIFILTER] = { MNL_TYPE_U8, 0 },
};

static const struct nl_attr_policy bridge_policy[IFLA_BR_MAX + 1] = {
	[IFLA_BR_VLAN_FILTERING] = { MNL_TYPE_U8, 0 },
};

static const struct nl_attr_policy vlan_policy[IFLA_VLAN_MAX + 1] = {
	[IFLA_VLAN_ID] = { MNL_TYPE_U16, 0 },
};

static const struct nl_attr_policy vrf_policy[IFLA_VRF_MAX + 1] = {
	[IFLA_VRF_TABLE] = { MNL_TYPE_U32, 0 },
};

static int nl_attr_vrf(const struct nlattr *a, void *tb)
{
	return nl_attr_keep(a, tb, IFLA_VRF_MAX, vrf_policy);
}

static int nl_attr_bridge(const struct nlattr *a, void *tb)
{
	return nl_attr_keep(a, tb, IFLA_BR_MAX, bridge_policy);
}

static int nl_attr_vlan(const struct nlattr *a, void *tb)
{
	return nl_attr_keep(a, tb, IFLA_VLAN_MAX, vlan_policy);
}

static const struct nl_attr_policy brport_policy[IFLA_BRPORT_MAX + 1] = {
	[IFLA_BRPORT_LEARNING] = { MNL_TYPE_U8, 0 },
	[IFLA_BRPORT_NEIGH_SUPPRESS] = { MNL_TYPE_U8, 0 },
};

int nl_attr_link(const struct nlattr *a, void *tb)
{
	return nl_attr_keep(a, tb, IFLA_MAX, link_policy);
}

int nl_attr_link_info(const struct nlattr *a, void *tb)
{
	return nl_attr_keep(a, tb, IFLA_INFO_MAX, info_policy);
}

int nl_attr_vxlan(const struct nlattr *a, void *tb)
{
	return nl_attr_keep(a, tb, IFLA_VXLAN_MAX, vxlan_policy);
}

int nl_attr_brport(const struct nlattr *a, void *tb)
{
	return nl_attr_keep(a, tb, IFLA_BRPORT_MAX, brport_policy);
}

static bool alias_is_loom(const char *alias)
{
	return !strncmp(alias, KVTEP_ALIAS_PREFIX, sizeof(KVTEP_ALIAS_PREFIX) - 1);
}

const struct ifinfomsg *kv_link_attrs(const struct nlmsghdr *nlh, const struct nlattr **tb)
{
	const struct ifinfomsg *ifi;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return NULL;
	ifi = mnl_nlmsg_get_payload(nlh);
	if (mnl_attr_parse(nlh, sizeof(*ifi), nl_attr_link, tb) < 0 || !tb[IFLA_IFNAME])
		return NULL;
	return ifi;
}

bool kv_link_parse(const struct nlmsghdr *nlh, struct kv_link *l)
{
	const struct nlattr *tb[IFLA_MAX + 1] = { NULL };
	const struct nlattr *info[IFLA_INFO_MAX + 1] = { NULL };
	const struct ifinfomsg *ifi = kv_link_attrs(nlh, tb);

	if (!ifi)
		return false;
	memset(l, 0, sizeof(*l));
	l->learning = l->port_learning = l->neigh_suppress = -1;
	l->ifindex = ifi->ifi_index;
	l->flags = ifi->ifi_flags;
	snprintf(l->name, sizeof(l->name), "%s", mnl_attr_get_str(tb[IFLA_IFNAME]));
	if (tb[IFLA_IFALIAS])
		snprintf(l->alias, sizeof(l->alias), "%s", mnl_attr_get_str(tb[IFLA_IFALIAS]));
	if (tb[IFLA_MTU])
		l->mtu = mnl_attr_get_u32(tb[IFLA_MTU]);
	if (tb[IFLA_MASTER])
		l->master = (int)mnl_attr_get_u32(tb[IFLA_MASTER]);
	if (tb[IFLA_GROUP])
		l->group = mnl_attr_get_u32(tb[IFLA_GROUP]);
	if (tb[IFLA_ADDRESS]) {
		memcpy(l->mac, mnl_attr_get_payload(tb[IFLA_ADDRESS]), sizeof(l->mac));
		l->has_mac = true;
	}
	l->owned = l->group == KVTEP_GROUP || l->group == KVTEP_GROUP_DOOMED ||
		   alias_is_loom(l->alias);
	if (!tb[IFLA_LINKINFO] ||
	    mnl_attr_parse_nested(tb[IFLA_LINKINFO], nl_attr_link_info, info) < 0)
		return true;
	if (info[IFLA_INFO_KIND]) {
		const char *kind = mnl_attr_get_str(info[IFLA_INFO_KIND]);

		if (!strcmp(kind, "bridge"))
			l->kind = KIND_BRIDGE;
		else if (!strcmp(kind, "vxlan"))
			l->kind = KIND_VXLAN;
		else if (!strcmp(kind, "vlan"))
			l->kind = KIND_VLAN;
		else if (!strcmp(kind, "vrf"))
			l->kind = KIND_VRF;
	}
	if (l->kind == KIND_VRF && info[IFLA_INFO_DATA]) {
		const struct nlattr *vr[IFLA_VRF_MAX + 1] = { NULL };

		if (mnl_attr_parse_nested(info[IFLA_INFO_DATA], nl_attr_vrf, vr) >= 0 &&
		    vr[IFLA_VRF_TABLE])
			l->vrf_table = mnl_attr_get_u32(vr[IFLA_VRF_TABLE]);
	}
	if (l->kind == KIND_BRIDGE && info[IFLA_INFO_DATA]) {
		const struct nlattr *br[IFLA_BR_MAX + 1] = { NULL };

		if (mnl_attr_parse_nested(info[IFLA_INFO_DATA], nl_attr_bridge, br) >= 0 &&
		    br[IFLA_BR_VLAN_FILTERING])
			l->vlan_filtering = mnl_attr_get_u8(br[IFLA_BR_VLAN_FILTERING]);
	}
	if (l->kind == KIND_VLAN && info[IFLA_INFO_DATA]) {
		const struct nlattr *vl[IFLA_VLAN_MAX + 1] = { NULL };

		if (tb[IFLA_LINK])
			l->link = (int)mnl_attr_get_u32(tb[IFLA_LINK]);
		if (mnl_attr_parse_nested(info[IFLA_INFO_DATA], nl_attr_vlan, vl) >= 0 &&
		    vl[IFLA_VLAN_ID])
			l->vlan_id = mnl_attr_get_u16(vl[IFLA_VLAN_ID]);
	}
	if (l->kind == KIND_VXLAN && info[IFLA_INFO_DATA]) {
		const struct nlattr *vx[IFLA_VXLAN_MAX + 1] = { NULL };

		if (mnl_attr_parse_nested(info[IFLA_INFO_DATA], nl_attr_vxlan, vx) >= 0) {
			if (vx[IFLA_VXLAN_ID])
				l->vni = mnl_attr_get_u32(vx[IFLA_VXLAN_ID]);
			if (vx[IFLA_VXLAN_LOCAL])
				memcpy(&l->local, mnl_attr_get_payload(vx[IFLA_VXLAN_LOCAL]),
				       sizeof(l->local));
			if (vx[IFLA_VXLAN_PORT])
				l->port = ntohs(mnl_attr_get_u16(vx[IFLA_VXLAN_PORT]));
			if (vx[IFLA_VXLAN_LEARNING])
				l->learning = (int8_t)mnl_attr_get_u8(vx[IFLA_VXLAN_LEARNING]);
			if (vx[IFLA_VXLAN_COLLECT_METADATA])
				l->collect_md = mnl_attr_get_u8(vx[IFLA_VXLAN_COLLECT_METADATA]);
			if (vx[IFLA_VXLAN_VNIFILTER])
				l->vnifilter = mnl_attr_get_u8(vx[IFLA_VXLAN_VNIFILTER]);
		}
	}
	if (info[IFLA_INFO_SLAVE_KIND] &&
	    !strcmp(mnl_attr_get_str(info[IFLA_INFO_SLAVE_KIND]), "bridge")) {
		l->brport = true;
		if (info[IFLA_INFO_SLAVE_DATA]) {
			const struct nlattr *bp[IFLA_BRPORT_MAX + 1] = { NULL };

			if (mnl_attr_parse_nested(info[IFLA_INFO_SLAVE_DATA], nl_attr_brport,
						  bp) >= 0) {
				if (bp[IFLA_BRPORT_LEARNING])
					l->port_learning =
						(int8_t)mnl_attr_get_u8(bp[IFLA_BRPORT_LEARNING]);
				if (bp[IFLA_BRPORT_NEIGH_SUPPRESS])
					l->neigh_suppress = (int8_t)mnl_attr_get_u8(
						bp[IFLA_BRPORT_NEIGH_SUPPRESS]);
			}
		}
	}
	return true;
}

/* ---- observe ---------------------------------------------------------- */

static void obs_on_link(struct reply_ctx *c, const struct nlmsghdr *nlh)
{
	struct kv_obs *o = c->data;

	if (c->first_err)
		return;
	if (ARRAY_GROW(o->links, o->cap, o->n + 1)) {
		c->first_err = ENOMEM;
		return;
	}
	if (kv_link_parse(nlh, &o->links[o->n]))
		o->n++;
}

static int cmp_link_ifindex(const void *a, const void *b)
{
	const struct kv_link *x = a, *y = b;

	return (x->ifindex > y->ifindex) - (x->ifindex < y->ifindex);
}

static int cmp_link_name(const void *a, const void *b)
{
	const struct kv_link *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/* Sort the links by ifindex and index them by name. */
static int obs_index(struct kv_obs *o)
{
	struct kv_link **idx;
	size_t i;

	if (o->n)	/* qsort's array may not be NULL, even empty */
		qsort(o->links, o->n, sizeof(*o->links), cmp_link_ifindex);
	idx = realloc(o->by_name, (o->n ? o->n : 1) * sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	o->by_name = idx;
	for (i = 0; i < o->n; i++)
		idx[i] = &o->links[i];
	qsort(idx, o->n, sizeof(*idx), cmp_link_name);
	return (int)o->n;
}

static int observe_into(struct kvtep *h, struct kv_obs *o)
{
	struct reply_ctx c = { .h = h, .on_link = obs_on_link, .data = o };
	size_t len;
	int ret;

	/* Events from here on may come after what this dump shows. */
	kv_observe_start(h);
	o->n = 0;
	c.seq_lo = ++h->seq;
	c.seq_hi = c.seq_lo + 1;
	len = nl_link_dump(h->sendbuf, KVTEP_BATCH_BYTES, c.seq_lo);
	ret = kv_send_all(h, h->sendbuf, len);
	if (ret)
		return ret;
	ret = kv_replies_wait(&c, 0);
	if (ret)
		return ret;
	if (c.first_err)
		return -abs(c.first_err);
	return obs_index(o);
}

int kv_observe_links(struct kvtep *h)
{
	return observe_into(h, &h->obs);
}

int kvtep_observe(struct kvtep *h)
{
	int ret = observe_into(h, &h->obs);

	if (ret >= 0 && h->mode == VTEP_MODE_VLAN_AWARE) {
		int vr = kv_observe_vlans(h);

		if (vr < 0)
			ret = vr;
	}

	if (ret >= 0)
		kv_carrier_baseline(h);
	return ret;
}

/* ---- one device --------------------------------------------------------- */

static void get_on_link(struct reply_ctx *c, const struct nlmsghdr *nlh)
{
	struct kv_link *l = c->data;

	if (!kv_link_parse(nlh, l))
		l->ifindex = 0;
}

int kv_link_get(struct kvtep *h, const char *name, struct kv_link *l)
{
	struct reply_ctx c = { .h = h, .on_link = get_on_link, .data = l };
	int ret, tries;
	size_t len;

	memset(l, 0, sizeof(*l));
	c.seq_lo = ++h->seq;
	c.seq_hi = c.seq_lo + 1;
	len = nl_link_get(h->sendbuf, KVTEP_BATCH_BYTES, c.seq_lo, 0, name);
	ret = kv_send_all(h, h->sendbuf, len);
	if (ret)
		return ret;
	/* A GET without NLM_F_ACK answers with the link or an error. */
	for (tries = 0; tries < 4 && !l->ifindex && !c.first_err; tries++) {
		struct pollfd pfd = { .fd = mnl_socket_get_fd(h->req), .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 5000) <= 0)
			return -ETIMEDOUT;
		n = recv(pfd.fd, h->recvbuf, KVTEP_RECV_BYTES, 0);
		if (n < 0)
			return -errno;
		kv_replies_parse(&c, h->recvbuf, (size_t)n);
	}
	return l->ifindex > 0 ? l->ifindex : -ENODEV;
}

int kv_link_ifindex(struct kvtep *h, const char *name)
{
	struct kv_link l;

	return kv_link_get(h, name, &l);
}

/* ---- for unit tests (overlay/kvtep_test.h) ----------------------------- */

int kvtep_test_observe(struct kvtep *h, const struct kvtep_test_link *t, size_t n)
{
	struct kv_obs *o = &h->obs;
	size_t i;
	int ret;

	free(o->links);
	o->links = calloc(n ? n : 1, sizeof(*o->links));
	if (!o->links)
		return -ENOMEM;
	o->cap = n ? n : 1;
	o->n = n;
	for (i = 0; i < n; i++) {
		struct kv_link *l = &o->links[i];

		l->ifindex = t[i].ifindex;
		snprintf(l->name, sizeof(l->name), "%s", t[i].name);
		snprintf(l->alias, sizeof(l->alias), "%s", t[i].alias ? t[i].alias : "");
		l->kind = !strcmp(t[i].kind, "bridge") ? KIND_BRIDGE
			  : !strcmp(t[i].kind, "vxlan") ? KIND_VXLAN
			  : !strcmp(t[i].kind, "vlan") ? KIND_VLAN : KIND_OTHER;

		l->master = t[i].master;
		l->flags = t[i].up ? IFF_UP | KV_IFF_LOWER_UP : 0;
		l->mtu = t[i].mtu;
		l->group = t[i].group;
		l->owned = l->group == KVTEP_GROUP || l->group == KVTEP_GROUP_DOOMED ||
			   alias_is_loom(l->alias);
		l->vni = t[i].vni;
		if (t[i].local)
			inet_pton(AF_INET, t[i].local, &l->local);
		l->port = l->kind == KIND_VXLAN ? NL_VXLAN_PORT : 0;
		l->learning = l->kind == KIND_VXLAN ? 0 : -1;
		l->brport = l->master > 0;
		l->port_learning = t[i].port_learning;
		l->neigh_suppress = t[i].neigh_suppress;
	}
	ret = obs_index(o);
	if (ret >= 0)
		kv_carrier_baseline(h);
	return ret;
}

int kvtep_test_vlans(struct kvtep *h, const struct kvtep_test_vlan *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct kv_link *l = (struct kv_link *)kv_obs_by_name(&h->obs, v[i].name);

		if (!l)
			return -ENOENT;
		l->pvid = v[i].pvid;
		l->n_vlans = v[i].pvid ? 1 : 0;
		l->pvid_untagged = v[i].pvid != 0;
		l->vlan_filtering = v[i].vlan_filtering;
		l->link = v[i].link;
		l->vlan_id = v[i].vlan_id;
	}
	return 0;
}

static int test_on_error(struct reply_ctx *c, uint32_t seq, int err, const char *msg)
{
	char copy[256];

	snprintf(copy, sizeof(copy), "%u %d %s", seq, err, msg ? msg : "");
	return 0;
}

int kvtep_test_datagram(struct kvtep *h, bool events, const void *buf, size_t len)
{
	struct reply_ctx c = { .h = h, .on_error = test_on_error, .on_link = obs_on_link,
			       .data = &h->obs, .seq_lo = 0, .seq_hi = UINT32_MAX };
	int ret;

	if (events) {
		kv_test_events(h, buf, len);
		return 0;
	}
	h->obs.n = 0;
	ret = kv_replies_parse(&c, buf, len);
	if (ret < 0)
		return ret;
	ret = obs_index(&h->obs);
	if (ret >= 0)
		kv_carrier_baseline(h);
	return ret;
}

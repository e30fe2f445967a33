/*
 * overlay/nl.c: pure rtnetlink encoders (see nl.h).
 *
 * Every encoder checks the room left before each write through libmnl's
 * *_check helpers, so a short buffer yields 0 rather than an overflow.
 */
#include "config.h"

#include <string.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include "overlay/nl.h"

#define NL_REQ (NLM_F_REQUEST | NLM_F_ACK)
#define NL_CREATE (NL_REQ | NLM_F_CREATE | NLM_F_EXCL)

/* Header plus a fixed family header; NULL when even that does not fit. */
static struct nlmsghdr *nl_put(void *buf, size_t len, uint16_t type, uint16_t flags,
			       uint32_t seq, size_t extra)
{
	struct nlmsghdr *nlh;

	if (len < MNL_NLMSG_HDRLEN + MNL_ALIGN(extra))
		return NULL;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	nlh->nlmsg_seq = seq;
	mnl_nlmsg_put_extra_header(nlh, extra);
	return nlh;
}

/* RTM_NEWLINK/DELLINK/GETLINK header naming one device. */
static struct nlmsghdr *nl_link_put(void *buf, size_t len, uint16_t type, uint16_t flags,
				    uint32_t seq, unsigned char family, int ifindex,
				    const char *name)
{
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;

	nlh = nl_put(buf, len, type, flags, seq, sizeof(*ifi));
	if (!nlh)
		return NULL;
	ifi = mnl_nlmsg_get_payload(nlh);
	ifi->ifi_family = family;
	ifi->ifi_index = ifindex > 0 ? ifindex : 0;
	if (ifindex <= 0 && name) {
		if (strlen(name) >= IFNAMSIZ)
			return NULL;
		if (!mnl_attr_put_strz_check(nlh, len, IFLA_IFNAME, name))
			return NULL;
	}
	return nlh;
}

static void nl_set_up(struct nlmsghdr *nlh, bool up)
{
	struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);

	ifi->ifi_change |= IFF_UP;
	if (up)
		ifi->ifi_flags |= IFF_UP;
}

/* Attributes every link loom creates carries: MTU and netdev group. */
static bool nl_put_common(struct nlmsghdr *nlh, size_t len, unsigned int mtu, uint32_t group,
			  int master)
{
	if (mtu && !mnl_attr_put_u32_check(nlh, len, IFLA_MTU, mtu))
		return false;
	if (group && !mnl_attr_put_u32_check(nlh, len, IFLA_GROUP, group))
		return false;
	if (master > 0 && !mnl_attr_put_u32_check(nlh, len, IFLA_MASTER, (uint32_t)master))
		return false;
	return true;
}

static size_t nl_bridge_new(void *buf, size_t len, uint32_t seq, const char *name,
			    unsigned int mtu, uint32_t group, bool up, bool vlan_filtering,
			    const uint8_t *mac)
{
	struct nlmsghdr *nlh;
	struct nlattr *info, *data;

	nlh = nl_link_put(buf, len, RTM_NEWLINK, NL_CREATE, seq, AF_UNSPEC, 0, name);
	if (!nlh || !name)
		return 0;
	if (up)
		nl_set_up(nlh, true);
	if (!nl_put_common(nlh, len, mtu, group, 0))
		return 0;
	if (mac) {
		struct nlattr *addr = mnl_nlmsg_get_payload_tail(nlh);

		if (!mnl_attr_put_check(nlh, len, IFLA_ADDRESS, NL_ETH_ALEN, mac))
			return 0;
		/* libmnl 1.0.4 leaves the alignment padding as it found it. */
		memset((char *)mnl_attr_get_payload(addr) + NL_ETH_ALEN, 0,
		       MNL_ALIGN(NL_ETH_ALEN) - NL_ETH_ALEN);
	}
	info = mnl_attr_nest_start_check(nlh, len, IFLA_LINKINFO);
	if (!info || !mnl_attr_put_strz_check(nlh, len, IFLA_INFO_KIND, "bridge"))
		return 0;
	if (vlan_filtering) {
		/* Default PVID 0: a new port is in no VLAN until loom puts it in
		 * one (with the kernel's default it would also sit in VLAN 1,
		 * joining every port of the bridge). */
		data = mnl_attr_nest_start_check(nlh, len, IFLA_INFO_DATA);
		if (!data || !mnl_attr_put_u8_check(nlh, len, IFLA_BR_VLAN_FILTERING, 1) ||
		    !mnl_attr_put_u16_check(nlh, len, IFLA_BR_VLAN_DEFAULT_PVID, 0))
			return 0;
		mnl_attr_nest_end(nlh, data);
	}
	mnl_attr_nest_end(nlh, info);
	return nlh->nlmsg_len;
}

size_t nl_link_bridge_new(void *buf, size_t len, uint32_t seq, const char *name,
			  unsigned int mtu, uint32_t group, bool up)
{
	return nl_bridge_new(buf, len, seq, name, mtu, group, up, false, NULL);
}

size_t nl_link_bridge_new_mac(void *buf, size_t len, uint32_t seq, const char *name,
			      unsigned int mtu, uint32_t group, bool up,
			      const uint8_t mac[NL_ETH_ALEN])
{
	return nl_bridge_new(buf, len, seq, name, mtu, group, up, false, mac);
}

size_t nl_link_bridge_vlan_new(void *buf, size_t len, uint32_t seq, const char *name,
			       unsigned int mtu, uint32_t group, bool up)
{
	return nl_bridge_new(buf, len, seq, name, mtu, group, up, true, NULL);
}

size_t nl_link_bridge_vlan_new_mac(void *buf, size_t len, uint32_t seq, const char *name,
				   unsigned int mtu, uint32_t group, bool up,
				   const uint8_t mac[NL_ETH_ALEN])
{
	return nl_bridge_new(buf, len, seq, name, mtu, group, up, true, mac);
}

size_t nl_link_vlan_new(void *buf, size_t len, uint32_t seq, const char *name, int link,
			uint16_t vid, uint32_t group)
{
	struct nlmsghdr *nlh;
	struct nlattr *info, *data;

	if (link <= 0 || vid == 0 || vid >= 4095)
		return 0;
	nlh = nl_link_put(buf, len, RTM_NEWLINK, NL_CREATE, seq, AF_UNSPEC, 0, name);
	if (!nlh || !name)
		return 0;
	if (!nl_put_common(nlh, len, 0, group, 0) ||
	    !mnl_attr_put_u32_check(nlh, len, IFLA_LINK, (uint32_t)link))
		return 0;
	info = mnl_attr_nest_start_check(nlh, len, IFLA_LINKINFO);
	if (!info || !mnl_attr_put_strz_check(nlh, len, IFLA_INFO_KIND, "vlan"))
		return 0;
	data = mnl_attr_nest_start_check(nlh, len, IFLA_INFO_DATA);
	if (!data || !mnl_attr_put_u16_check(nlh, len, IFLA_VLAN_ID, vid))
		return 0;
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return nlh->nlmsg_len;
}

static size_t nl_vxlan_new(void *buf, size_t len, uint32_t seq, const struct nl_vxlan *vx,
			   bool vnifilter)
{
	struct nlmsghdr *nlh;
	struct nlattr *info, *data;
	uint16_t port = vx->port ? vx->port : NL_VXLAN_PORT;

	nlh = nl_link_put(buf, len, RTM_NEWLINK, NL_CREATE, seq, AF_UNSPEC, 0, vx->name);
	if (!nlh || !vx->name)
		return 0;
	if (vx->up)
		nl_set_up(nlh, true);
	if (!nl_put_common(nlh, len, vx->mtu, vx->group, vx->master))
		return 0;
	info = mnl_attr_nest_start_check(nlh, len, IFLA_LINKINFO);
	if (!info || !mnl_attr_put_strz_check(nlh, len, IFLA_INFO_KIND, "vxlan"))
		return 0;
	data = mnl_attr_nest_start_check(nlh, len, IFLA_INFO_DATA);
	if (!data)
		return 0;
	if (vnifilter) {
		if (!mnl_attr_put_u8_check(nlh, len, IFLA_VXLAN_COLLECT_METADATA, 1) ||
		    !mnl_attr_put_u8_check(nlh, len, IFLA_VXLAN_VNIFILTER, 1))
			return 0;
	} else if (!mnl_attr_put_u32_check(nlh, len, IFLA_VXLAN_ID, vx->vni)) {
		return 0;
	}
	if (!mnl_attr_put_check(nlh, len, IFLA_VXLAN_LOCAL, sizeof(vx->local), &vx->local) ||
	    !mnl_attr_put_u16_check(nlh, len, IFLA_VXLAN_PORT, htons(port)) ||
	    !mnl_attr_put_u8_check(nlh, len, IFLA_VXLAN_LEARNING, 0))
		return 0;
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return nlh->nlmsg_len;
}

size_t nl_link_vxlan_new(void *buf, size_t len, uint32_t seq, const struct nl_vxlan *vx)
{
	return nl_vxlan_new(buf, len, seq, vx, false);
}

size_t nl_link_vxlan_vnifilter_new(void *buf, size_t len, uint32_t seq,
				   const struct nl_vxlan *vx)
{
	return nl_vxlan_new(buf, len, seq, vx, true);
}

size_t nl_link_vrf_new(void *buf, size_t len, uint32_t seq, const char *name, uint32_t table)
{
	struct nlmsghdr *nlh;
	struct nlattr *info, *data;

	nlh = nl_link_put(buf, len, RTM_NEWLINK, NL_CREATE, seq, AF_UNSPEC, 0, name);
	if (!nlh || !name)
		return 0;
	info = mnl_attr_nest_start_check(nlh, len, IFLA_LINKINFO);
	if (!info || !mnl_attr_put_strz_check(nlh, len, IFLA_INFO_KIND, "vrf"))
		return 0;
	data = mnl_attr_nest_start_check(nlh, len, IFLA_INFO_DATA);
	if (!data || !mnl_attr_put_u32_check(nlh, len, IFLA_VRF_TABLE, table))
		return 0;
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return nlh->nlmsg_len;
}

size_t nl_link_set_master(void *buf, size_t len, uint32_t seq, int ifindex,
			  const char *name, int master)
{
	struct nlmsghdr *nlh;

	nlh = nl_link_put(buf, len, RTM_NEWLINK, NL_REQ, seq, AF_UNSPEC, ifindex, name);
	if (!nlh || !mnl_attr_put_u32_check(nlh, len, IFLA_MASTER,
					    master > 0 ? (uint32_t)master : 0))
		return 0;
	return nlh->nlmsg_len;
}

size_t nl_link_set_up(void *buf, size_t len, uint32_t seq, int ifindex,
		      const char *name, bool up)
{
	struct nlmsghdr *nlh;

	nlh = nl_link_put(buf, len, RTM_NEWLINK, NL_REQ, seq, AF_UNSPEC, ifindex, name);
	if (!nlh)
		return 0;
	nl_set_up(nlh, up);
	return nlh->nlmsg_len;
}

size_t nl_link_set_mtu(void *buf, size_t len, uint32_t seq, int ifindex,
		       const char *name, unsigned int mtu)
{
	struct nlmsghdr *nlh;

	nlh = nl_link_put(buf, len, RTM_NEWLINK, NL_REQ, seq, AF_UNSPEC, ifindex, name);
	if (!nlh || !mnl_attr_put_u32_check(nlh, len, IFLA_MTU, mtu))
		return 0;
	return nlh->nlmsg_len;
}

size_t nl_link_set_alias(void *buf, size_t len, uint32_t seq, int ifindex,
			 const char *name, const char *alias)
{
	struct nlmsghdr *nlh;

	nlh = nl_link_put(buf, len, RTM_NEWLINK, NL_REQ, seq, AF_UNSPEC, ifindex, name);
	if (!nlh || !alias || !mnl_attr_put_strz_check(nlh, len, IFLA_IFALIAS, alias))
		return 0;
	return nlh->nlmsg_len;
}

size_t nl_link_set_group(void *buf, size_t len, uint32_t seq, int ifindex,
			 const char *name, uint32_t group)
{
	struct nlmsghdr *nlh;

	nlh = nl_link_put(buf, len, RTM_NEWLINK, NL_REQ, seq, AF_UNSPEC, ifindex, name);
	if (!nlh || !mnl_attr_put_u32_check(nlh, len, IFLA_GROUP, group))
		return 0;
	return nlh->nlmsg_len;
}

size_t nl_link_del(void *buf, size_t len, uint32_t seq, int ifindex, const char *name)
{
	struct nlmsghdr *nlh;

	if (ifindex <= 0 && !name)
		return 0;
	nlh = nl_link_put(buf, len, RTM_DELLINK, NL_REQ, seq, AF_UNSPEC, ifindex, name);
	return nlh ? nlh->nlmsg_len : 0;
}

size_t nl_link_del_group(void *buf, size_t len, uint32_t seq, uint32_t group)
{
	struct nlmsghdr *nlh;

	nlh = nl_link_put(buf, len, RTM_DELLINK, NL_REQ, seq, AF_UNSPEC, 0, NULL);
	if (!nlh || !mnl_attr_put_u32_check(nlh, len, IFLA_GROUP, group))
		return 0;
	return nlh->nlmsg_len;
}

size_t nl_brport_set(void *buf, size_t len, uint32_t seq, int ifindex,
		     const char *name, const struct nl_brport *opt)
{
	struct nlmsghdr *nlh;
	struct nlattr *info, *data;

	nlh = nl_link_put(buf, len, RTM_NEWLINK, NL_REQ, seq, AF_UNSPEC, ifindex, name);
	if (!nlh)
		return 0;
	info = mnl_attr_nest_start_check(nlh, len, IFLA_LINKINFO);
	if (!info || !mnl_attr_put_strz_check(nlh, len, IFLA_INFO_SLAVE_KIND, "bridge"))
		return 0;
	data = mnl_attr_nest_start_check(nlh, len, IFLA_INFO_SLAVE_DATA);
	if (!data)
		return 0;
	if (opt->learning >= 0 &&
	    !mnl_attr_put_u8_check(nlh, len, IFLA_BRPORT_LEARNING, opt->learning ? 1 : 0))
		return 0;
	if (opt->neigh_suppress >= 0 &&
	    !mnl_attr_put_u8_check(nlh, len, IFLA_BRPORT_NEIGH_SUPPRESS,
				   opt->neigh_suppress ? 1 : 0))
		return 0;
	if (opt->vlan_tunnel >= 0 &&
	    !mnl_attr_put_u8_check(nlh, len, IFLA_BRPORT_VLAN_TUNNEL, opt->vlan_tunnel ? 1 : 0))
		return 0;
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return nlh->nlmsg_len;
}

size_t nl_vnifilter_add(void *buf, size_t len, uint32_t seq, int ifindex,
			uint32_t first, uint32_t last)
{
	struct nlmsghdr *nlh;
	struct tunnel_msg *tm;
	struct nlattr *entry;

	if (ifindex <= 0 || last < first)
		return 0;
	nlh = nl_put(buf, len, RTM_NEWTUNNEL, NL_REQ | NLM_F_CREATE, seq, sizeof(*tm));
	if (!nlh)
		return 0;
	tm = mnl_nlmsg_get_payload(nlh);
	tm->family = AF_BRIDGE;
	tm->ifindex = (uint32_t)ifindex;
	entry = mnl_attr_nest_start_check(nlh, len, VXLAN_VNIFILTER_ENTRY);
	if (!entry || !mnl_attr_put_u32_check(nlh, len, VXLAN_VNIFILTER_ENTRY_START, first))
		return 0;
	if (last != first &&
	    !mnl_attr_put_u32_check(nlh, len, VXLAN_VNIFILTER_ENTRY_END, last))
		return 0;
	mnl_attr_nest_end(nlh, entry);
	return nlh->nlmsg_len;
}

size_t nl_bridge_vlan_add(void *buf, size_t len, uint32_t seq, int ifindex,
			  uint16_t vid, bool pvid, bool untagged)
{
	struct nlmsghdr *nlh;
	struct nlattr *spec;
	struct bridge_vlan_info vinfo = { .vid = vid };

	if (ifindex <= 0 || vid == 0 || vid >= 4095)
		return 0;
	if (pvid)
		vinfo.flags |= BRIDGE_VLAN_INFO_PVID;
	if (untagged)
		vinfo.flags |= BRIDGE_VLAN_INFO_UNTAGGED;
	nlh = nl_link_put(buf, len, RTM_SETLINK, NL_REQ, seq, AF_BRIDGE, ifindex, NULL);
	if (!nlh)
		return 0;
	spec = mnl_attr_nest_start_check(nlh, len, IFLA_AF_SPEC);
	if (!spec || !mnl_attr_put_check(nlh, len, IFLA_BRIDGE_VLAN_INFO, sizeof(vinfo), &vinfo))
		return 0;
	mnl_attr_nest_end(nlh, spec);
	return nlh->nlmsg_len;
}

size_t nl_bridge_vlan_flush(void *buf, size_t len, uint32_t seq, int ifindex)
{
	struct nlmsghdr *nlh;
	struct nlattr *spec;
	struct bridge_vlan_info lo = { .flags = BRIDGE_VLAN_INFO_RANGE_BEGIN, .vid = 1 };
	struct bridge_vlan_info hi = { .flags = BRIDGE_VLAN_INFO_RANGE_END, .vid = 4094 };

	if (ifindex <= 0)
		return 0;
	nlh = nl_link_put(buf, len, RTM_DELLINK, NL_REQ, seq, AF_BRIDGE, ifindex, NULL);
	if (!nlh)
		return 0;
	spec = mnl_attr_nest_start_check(nlh, len, IFLA_AF_SPEC);
	if (!spec || !mnl_attr_put_check(nlh, len, IFLA_BRIDGE_VLAN_INFO, sizeof(lo), &lo) ||
	    !mnl_attr_put_check(nlh, len, IFLA_BRIDGE_VLAN_INFO, sizeof(hi), &hi))
		return 0;
	mnl_attr_nest_end(nlh, spec);
	return nlh->nlmsg_len;
}

size_t nl_bridge_vlan_tunnel_add(void *buf, size_t len, uint32_t seq, int ifindex,
				 uint16_t vid, uint32_t vni)
{
	struct nlmsghdr *nlh;
	struct nlattr *spec, *tun;

	if (ifindex <= 0 || vid == 0 || vid >= 4095)
		return 0;
	nlh = nl_link_put(buf, len, RTM_SETLINK, NL_REQ, seq, AF_BRIDGE, ifindex, NULL);
	if (!nlh)
		return 0;
	spec = mnl_attr_nest_start_check(nlh, len, IFLA_AF_SPEC);
	if (!spec)
		return 0;
	tun = mnl_attr_nest_start_check(nlh, len, IFLA_BRIDGE_VLAN_TUNNEL_INFO);
	if (!tun || !mnl_attr_put_u32_check(nlh, len, IFLA_BRIDGE_VLAN_TUNNEL_ID, vni) ||
	    !mnl_attr_put_u16_check(nlh, len, IFLA_BRIDGE_VLAN_TUNNEL_VID, vid))
		return 0;
	mnl_attr_nest_end(nlh, tun);
	mnl_attr_nest_end(nlh, spec);
	return nlh->nlmsg_len;
}

size_t nl_link_dump(void *buf, size_t len, uint32_t seq)
{
	struct nlmsghdr *nlh;

	nlh = nl_link_put(buf, len, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq,
			  AF_UNSPEC, 0, NULL);
	/* Statistics are a third of each message and loom never reads them. */
	if (!nlh || !mnl_attr_put_u32_check(nlh, len, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS))
		return 0;
	return nlh->nlmsg_len;
}

size_t nl_bridge_vlan_dump(void *buf, size_t len, uint32_t seq)
{
	struct nlmsghdr *nlh;

	nlh = nl_link_put(buf, len, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq, AF_BRIDGE, 0,
			  NULL);
	if (!nlh || !mnl_attr_put_u32_check(nlh, len, IFLA_EXT_MASK, RTEXT_FILTER_BRVLAN))
		return 0;
	return nlh->nlmsg_len;
}

size_t nl_link_get(void *buf, size_t len, uint32_t seq, int ifindex, const char *name)
{
	struct nlmsghdr *nlh;

	if (ifindex <= 0 && !name)
		return 0;
	nlh = nl_link_put(buf, len, RTM_GETLINK, NLM_F_REQUEST, seq, AF_UNSPEC, ifindex, name);
	if (!nlh || !mnl_attr_put_u32_check(nlh, len, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS))
		return 0;
	return nlh->nlmsg_len;
}

/* ---- routing: VRFs, addresses, a device's MAC ---------------------------- */

size_t nl_link_vrf_new_group(void *buf, size_t len, uint32_t seq, const char *name,
			     uint32_t table, uint32_t group)
{
	struct nlmsghdr *nlh;
	struct nlattr *info, *data;

	nlh = nl_link_put(buf, len, RTM_NEWLINK, NL_CREATE, seq, AF_UNSPEC, 0, name);
	if (!nlh || !name || (group && !mnl_attr_put_u32_check(nlh, len, IFLA_GROUP, group)))
		return 0;
	info = mnl_attr_nest_start_check(nlh, len, IFLA_LINKINFO);
	if (!info || !mnl_attr_put_strz_check(nlh, len, IFLA_INFO_KIND, "vrf"))
		return 0;
	data = mnl_attr_nest_start_check(nlh, len, IFLA_INFO_DATA);
	if (!data || !mnl_attr_put_u32_check(nlh, len, IFLA_VRF_TABLE, table))
		return 0;
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return nlh->nlmsg_len;
}

size_t nl_link_set_mac(void *buf, size_t len, uint32_t seq, int ifindex, const char *name,
		       const uint8_t mac[NL_ETH_ALEN])
{
	struct nlmsghdr *nlh;

	nlh = nl_link_put(buf, len, RTM_NEWLINK, NL_REQ, seq, AF_UNSPEC, ifindex, name);
	if (!nlh || !mnl_attr_put_check(nlh, len, IFLA_ADDRESS, NL_ETH_ALEN, mac))
		return 0;
	return nlh->nlmsg_len;
}

size_t nl_addr(void *buf, size_t len, uint32_t seq, bool add, int ifindex, int family,
	       const void *addr, unsigned int plen)
{
	size_t alen = family == AF_INET ? 4 : 16;
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;

	if (ifindex <= 0 || (family != AF_INET && family != AF_INET6) || plen > alen * 8)
		return 0;
	nlh = nl_put(buf, len, add ? RTM_NEWADDR : RTM_DELADDR,
		     add ? NL_REQ | NLM_F_CREATE | NLM_F_REPLACE : NL_REQ, seq, sizeof(*ifa));
	if (!nlh)
		return 0;
	ifa = mnl_nlmsg_get_payload(nlh);
	ifa->ifa_family = (unsigned char)family;
	ifa->ifa_prefixlen = (unsigned char)plen;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (unsigned int)ifindex;
	/* Every address loom adds is an anycast gateway: no duplicate address
	 * detection, which would fail it on every VTEP but the first. */
	if (add && family == AF_INET6)
		ifa->ifa_flags = IFA_F_NODAD;
	if (!mnl_attr_put_check(nlh, len, IFA_LOCAL, alen, addr) ||
	    !mnl_attr_put_check(nlh, len, IFA_ADDRESS, alen, addr))
		return 0;
	return nlh->nlmsg_len;
}

size_t nl_addr_dump(void *buf, size_t len, uint32_t seq)
{
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;

	nlh = nl_put(buf, len, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, sizeof(*ifa));
	if (!nlh)
		return 0;
	ifa = mnl_nlmsg_get_payload(nlh);
	ifa->ifa_family = AF_UNSPEC;
	return nlh->nlmsg_len;
}

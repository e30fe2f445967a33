/*
 * overlay/nl.h: pure rtnetlink encoders for the kernel VTEP target.
 *
 * Each encoder writes exactly one netlink message into the caller's buffer
 * and returns the bytes written, or 0 when the message does not fit (the
 * buffer is then left in an unspecified state).  They touch no socket and no
 * global state, so the unit tests compare their output byte for byte with
 * golden files.  Every request carries NLM_F_REQUEST | NLM_F_ACK; the caller
 * may OR in more header flags (NLM_F_ECHO) after encoding.
 *
 * A device is named either by ifindex (> 0) or, when ifindex is 0, by name
 * (IFLA_IFNAME).  Addresses are in network byte order.
 */
#ifndef LOOM_OVERLAY_NL_H
#define LOOM_OVERLAY_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>

/* The UDP port IANA assigned to VXLAN. */
#define NL_VXLAN_PORT 4789
#define NL_ETH_ALEN 6

struct nl_vxlan {
	const char *name;
	uint32_t vni;
	struct in_addr local;
	uint16_t port;		/* host order; 0 -> NL_VXLAN_PORT */
	unsigned int mtu;	/* 0 = kernel default */
	uint32_t group;		/* netdev group, 0 = default */
	int master;		/* ifindex of the bridge, 0 = none */
	bool up;
};

/* Bridge port options; -1 leaves an option as it is. */
struct nl_brport {
	int neigh_suppress;
	int learning;
	int vlan_tunnel;
};

/* Traditional mode: one bridge and one VXLAN device per VNI. */
size_t nl_link_bridge_new(void *buf, size_t len, uint32_t seq, const char *name,
			  unsigned int mtu, uint32_t group, bool up);
/* The same with IFLA_ADDRESS: a bridge given its MAC keeps it as ports join. */
size_t nl_link_bridge_new_mac(void *buf, size_t len, uint32_t seq, const char *name,
			      unsigned int mtu, uint32_t group, bool up,
			      const uint8_t mac[NL_ETH_ALEN]);
size_t nl_link_vxlan_new(void *buf, size_t len, uint32_t seq, const struct nl_vxlan *vx);
/* master 0 releases the device from its master (nomaster). */
size_t nl_link_set_master(void *buf, size_t len, uint32_t seq, int ifindex,
			  const char *name, int master);
size_t nl_link_set_up(void *buf, size_t len, uint32_t seq, int ifindex,
		      const char *name, bool up);
size_t nl_link_set_mtu(void *buf, size_t len, uint32_t seq, int ifindex,
		       const char *name, unsigned int mtu);
size_t nl_link_set_alias(void *buf, size_t len, uint32_t seq, int ifindex,
			 const char *name, const char *alias);
size_t nl_link_set_group(void *buf, size_t len, uint32_t seq, int ifindex,
			 const char *name, uint32_t group);
size_t nl_link_del(void *buf, size_t len, uint32_t seq, int ifindex, const char *name);
/* One RTM_DELLINK that removes every device of a netdev group at once. */
size_t nl_link_del_group(void *buf, size_t len, uint32_t seq, uint32_t group);
size_t nl_brport_set(void *buf, size_t len, uint32_t seq, int ifindex,
		     const char *name, const struct nl_brport *opt);

/* vlan-aware mode. */
size_t nl_link_bridge_vlan_new(void *buf, size_t len, uint32_t seq, const char *name,
			       unsigned int mtu, uint32_t group, bool up);
/* The same with IFLA_ADDRESS, as nl_link_bridge_new_mac.  Both set the
 * bridge's default PVID to 0: a new port joins no VLAN by itself. */
size_t nl_link_bridge_vlan_new_mac(void *buf, size_t len, uint32_t seq, const char *name,
				   unsigned int mtu, uint32_t group, bool up,
				   const uint8_t mac[NL_ETH_ALEN]);
/* An 802.1Q sub-interface @name of device @link carrying tag @vid. */
size_t nl_link_vlan_new(void *buf, size_t len, uint32_t seq, const char *name, int link,
			uint16_t vid, uint32_t group);
/* `external vnifilter`: one VXLAN device for all VNIs (vx->vni is ignored). */
size_t nl_link_vxlan_vnifilter_new(void *buf, size_t len, uint32_t seq,
				   const struct nl_vxlan *vx);
/* RTM_NEWTUNNEL: let VNIs first..last through the vnifilter device. */
size_t nl_vnifilter_add(void *buf, size_t len, uint32_t seq, int ifindex,
			uint32_t first, uint32_t last);
/* AF_BRIDGE IFLA_AF_SPEC / IFLA_BRIDGE_VLAN_INFO on a bridge port. */
size_t nl_bridge_vlan_add(void *buf, size_t len, uint32_t seq, int ifindex,
			  uint16_t vid, bool pvid, bool untagged);
/* AF_BRIDGE RTM_DELLINK of VLANs 1-4094 (one range): the port leaves every VLAN. */
size_t nl_bridge_vlan_flush(void *buf, size_t len, uint32_t seq, int ifindex);
/* IFLA_BRIDGE_VLAN_TUNNEL_INFO: map VLAN vid to VNI on a VXLAN bridge port. */
size_t nl_bridge_vlan_tunnel_add(void *buf, size_t len, uint32_t seq, int ifindex,
				 uint16_t vid, uint32_t vni);

/* Used by the capability probe only. */
size_t nl_link_vrf_new(void *buf, size_t len, uint32_t seq, const char *name,
		       uint32_t table);

/* Routing: a VRF in netdev group @group; a device's MAC; an address on a
 * device (@add false: remove it; IFA_LOCAL and IFA_ADDRESS both @addr, as
 * `ip addr add` does for a broadcast device; an IPv6 one added with
 * IFA_F_NODAD, as an anycast gateway must be); every address (AF_UNSPEC). */
size_t nl_link_vrf_new_group(void *buf, size_t len, uint32_t seq, const char *name,
			     uint32_t table, uint32_t group);
size_t nl_link_set_mac(void *buf, size_t len, uint32_t seq, int ifindex, const char *name,
		       const uint8_t mac[NL_ETH_ALEN]);
size_t nl_addr(void *buf, size_t len, uint32_t seq, bool add, int ifindex, int family,
	       const void *addr, unsigned int plen);
size_t nl_addr_dump(void *buf, size_t len, uint32_t seq);

/* Queries. */
size_t nl_link_dump(void *buf, size_t len, uint32_t seq);
/* AF_BRIDGE link dump with each bridge port's VLANs (RTEXT_FILTER_BRVLAN). */
size_t nl_bridge_vlan_dump(void *buf, size_t len, uint32_t seq);
size_t nl_link_get(void *buf, size_t len, uint32_t seq, int ifindex, const char *name);

#endif

/*
 * overlay/kvtep_test.h: a socketless kvtep handle whose observation the
 * unit tests set by hand, so plan (the diff) runs without a kernel.
 */
#ifndef LOOM_OVERLAY_KVTEP_TEST_H
#define LOOM_OVERLAY_KVTEP_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "overlay/kvtep.h"

struct kvtep_test_link {
	const char *name;
	int ifindex;
	const char *kind;	/* "bridge", "vxlan", "veth", ... */
	int master;
	bool up;
	unsigned int mtu;
	uint32_t group;
	const char *alias;
	uint32_t vni;		/* vxlan */
	const char *local;	/* vxlan */
	int8_t neigh_suppress;	/* bridge port; -1 unknown */
	int8_t port_learning;	/* bridge port; -1 unknown */
};

/* What vlan-aware mode reads besides (kvtep_test_vlans, after observe). */
struct kvtep_test_vlan {
	const char *name;
	uint16_t pvid;		/* bridge port: its one VLAN (PVID, untagged); 0 none */
	bool vlan_filtering;	/* bridge */
	int link;		/* "vlan" device: the device it is on */
	uint16_t vlan_id;	/* "vlan" device: its tag */
};

/* Close with kvtep_close.  A link that is up has carrier (IFF_LOWER_UP). */
struct kvtep *kvtep_test_handle(const char *vtep_ip, bool neigh_suppress);
int kvtep_test_observe(struct kvtep *h, const struct kvtep_test_link *links, size_t n);
int kvtep_test_vlans(struct kvtep *h, const struct kvtep_test_vlan *v, size_t n);
/* The mode in force, as kvtep_open would have chosen it. */
void kvtep_test_set_mode(struct kvtep *h, enum vtep_mode mode);
/* kvtep_verify on the observation set by kvtep_test_observe. */
int kvtep_test_verify(struct kvtep *h, const struct vtep_desired *d, struct kvtep_vni_status *st);
/*
 * One link event as the event socket would deliver it (@type RTM_NEWLINK or
 * RTM_DELLINK, @family AF_UNSPEC or AF_BRIDGE, @operstate < 0: no
 * IFLA_OPERSTATE), through kvtep_event_drain's per-message path.
 */
int kvtep_test_link_event(struct kvtep *h, uint16_t type, uint8_t family, const char *name,
			  unsigned int flags, int operstate);

/*
 * One datagram from the kernel through what reads it (tests/fuzz):
 * @events false, as replies to a link dump (links, errors and ACKs with
 * their extended-ACK text), whose links become the observation; true, as
 * the event socket's messages.  @buf must be aligned for nlmsghdr.
 * Returns the links observed, 0 for events, or -errno.
 */
int kvtep_test_datagram(struct kvtep *h, bool events, const void *buf, size_t len);

#endif

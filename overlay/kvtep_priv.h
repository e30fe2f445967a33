/*
 * overlay/kvtep_priv.h: what the kernel VTEP target's files share, and
 * nothing outside overlay/kvtep*.c includes.  The handle itself, the
 * observation (links as the last dump saw them), the planned actions, the
 * per-VNI errors, and the verdict's expectations the watch follows.
 *
 *   kvtep.c          the handle: open/close, the capability probe, the mode
 *   kvtep_sock.c     netlink sockets in the VTEP's namespace, requests, ACKs
 *   kvtep_observe.c  parsing links; the dump into the observation
 *   kvtep_plan.c     the diff: observation + desired state -> actions
 *   kvtep_apply.c    the actions sent in batches, each one acknowledged
 *   kvtep_verify.c   the verdict per VNI and what drift means; sync
 *   kvtep_watch.c    the event socket: drift and the ports' carrier
 */
#ifndef LOOM_OVERLAY_KVTEP_PRIV_H
#define LOOM_OVERLAY_KVTEP_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include "overlay/kvtep.h"
#include "overlay/nl.h"

#define KVTEP_BATCH_BYTES (64 * 1024)	/* request bytes per sendmsg */
#define KVTEP_BATCH_MSGS 512		/* bounds the replies queued per sendmsg */
#define KVTEP_SOCKBUF (8 * 1024 * 1024)
#define KVTEP_RECV_BYTES (64 * 1024)
/*
 * How long a reply may take.  A group deletion answers only when every
 * device is gone, and each bridge costs an RCU barrier (~17-20 ms here), so
 * its limit grows with the number of devices it deletes.
 */
#define KVTEP_IDLE_TIMEOUT_MS 30000
#define KVTEP_DELETE_MS_PER_DEVICE 100
#define KVTEP_ALIAS_MAX 160
#define KVTEP_NO_VNI SIZE_MAX

/* linux/if.h's IFF_LOWER_UP, the driver's carrier flag (that header
 * clashes with net/if.h). */
#define KV_IFF_LOWER_UP 0x10000

enum link_kind { KIND_OTHER, KIND_BRIDGE, KIND_VXLAN, KIND_VLAN, KIND_VRF };

/* vlan-aware mode: the one VLAN-filtering bridge of the VTEP. */
#define KVTEP_VLAN_BRIDGE "lbv"
#define KVTEP_VLAN_BRIDGE_ALIAS KVTEP_ALIAS_PREFIX "vlan-aware bridge"
/* The VLANs loom gives VNIs on that bridge (1 stays the kernel's default). */
#define KVTEP_VID_MIN 2
#define KVTEP_VID_MAX 4094

struct kv_link {
	int ifindex;
	int master;
	unsigned int flags;
	unsigned int mtu;
	uint32_t group;
	enum link_kind kind;
	bool owned;
	bool brport;		/* enslaved to a bridge */
	bool collect_md;
	bool vnifilter;
	bool vlan_filtering;	/* bridge */
	/* Bridge port VLANs (vlan-aware mode's second dump, or an AF_BRIDGE
	 * event): how many, the PVID (0 none) and whether it is untagged. */
	uint16_t n_vlans;
	uint16_t pvid;
	bool pvid_untagged;
	/* 802.1Q sub-interface: its tag and the device it is on */
	uint16_t vlan_id;
	int link;
	int8_t learning;	/* vxlan learning; -1 unknown */
	int8_t port_learning;	/* bridge port learning; -1 unknown */
	int8_t neigh_suppress;	/* -1 unknown */
	uint32_t vni;
	struct in_addr local;
	uint16_t port;		/* host order */
	uint32_t vrf_table;	/* VRF: its routing table */
	uint8_t mac[6];		/* IFLA_ADDRESS, when has_mac */
	bool has_mac;
	char name[IFNAMSIZ];
	char alias[KVTEP_ALIAS_MAX];
};

struct kv_obs {
	struct kv_link *links;	/* sorted by ifindex */
	size_t n, cap;
	struct kv_link **by_name;	/* sorted by name */
};

enum kv_op {
	OP_RELEASE, OP_DOOM, OP_REGROUP, OP_DELETE_GROUP, OP_BRIDGE_NEW, OP_VXLAN_NEW,
	OP_ALIAS, OP_MTU, OP_UP, OP_MASTER, OP_BRPORT, OP_ENSLAVE, OP_NOIPV6,
	OP_VLAN_FLUSH, OP_VLAN_SET, OP_SUBIF_NEW,
};

/*
 * Stages, in the order apply sends them; see docs/overlay.md.  A new
 * traditional bridge is made without a MAC and brought up (IPv6 off first)
 * before anything joins it, then its access ports join, then its VXLAN
 * device (down): such a bridge is up with carrier from the start, and keeps
 * it while a live port is in it.  FRR 8.4's zebra walks all interfaces for
 * each update of a bridge that is not up with carrier, so it walks once a
 * VNI (when the bridge comes up) instead of three times.  New
 * sub-interfaces come up early too, so that a tagged port is live when it
 * joins.  The VXLAN devices go up last, after the live gate: that is when
 * zebra hands a VNI to bgpd.
 */
enum kv_stage {
	ST_RELEASE, ST_DOOM, ST_DELETE, ST_BRIDGE, ST_SUBIF, ST_SYSCTL_FIRST, ST_UP_FIRST,
	ST_FIX, ST_ENSLAVE, ST_VXLAN, ST_VLAN, ST_SYSCTL, ST_UP, ST_PORT_UP,
};

struct kv_action {
	enum kv_op op;
	enum kv_stage stage;
	uint32_t vni;
	size_t vni_idx;		/* index into the desired VNIs, or KVTEP_NO_VNI */
	size_t order;		/* tie-break to keep the plan stable */
	int ifindex;		/* 0: by name */
	int peer;		/* master ifindex; 0 with a VNI: that VNI's new bridge */
	unsigned int mtu;
	uint16_t vid;		/* OP_VLAN_SET, OP_SUBIF_NEW */
	char name[IFNAMSIZ];
};

struct kv_verr {
	int code;
	bool foreign;		/* another device holds the VNI or its names */
	char msg[200];
};

/* What verify found right, watched for drift. */
struct kv_expect {
	char name[IFNAMSIZ];
	int master;		/* expected master ifindex, 0 = none expected */
	bool port;		/* an access port (loom does not own it) */
	uint16_t vid;		/* vlan-aware: its one VLAN (PVID, untagged); 0 unchecked */
	int addr_ifindex;	/* a routed segment's bridge: its addresses are watched */
	/* scratch for one drain */
	bool touched;		/* in this drain's list */
	bool seen, deleted, up;	/* seen: an AF_UNSPEC event (up, master) */
	int8_t ev_vlan_ok;	/* from AF_BRIDGE events: -1 none seen, 0 wrong, 1 right */
	bool ev_addr_bad;	/* a global address removed, or one failed DAD */
	int ev_master;
};

struct kv_newbr {
	uint32_t vni;
	int ifindex;
};

/* An access port whose carrier the fault watcher follows. */
struct kv_carrier {
	char name[IFNAMSIZ];
	int state;		/* -1 not known yet, 0 no carrier, 1 carrier */
};

struct plan_idx;	/* kvtep_plan.c's indexes of the observation */

struct kvtep {
	struct mnl_socket *req;
	struct mnl_socket *ev;
	uint32_t req_portid;
	uint32_t seq;
	struct in_addr local;
	enum vtep_mode mode;
	char mode_reason[256];
	struct kvtep_caps caps;
	char netns[LOOM_NAME_MAX];
	int netns_fd;		/* the VTEP's namespace, -1 = our own */

	struct kv_obs obs;
	const struct vtep_desired *desired;
	struct kv_action *acts;
	size_t n_acts, cap_acts;
	struct kv_verr *plan_err;	/* per desired VNI */
	struct kv_verr *apply_err;	/* per desired VNI */
	struct kv_verr *route_err;	/* per desired VNI: the routing pass's first error */
	size_t n_route_err, cap_route_err;
	size_t route_sent;	/* requests the last routing pass sent */
	uint16_t *vid;			/* vlan-aware: per desired VNI, its VLAN (0 none) */
	size_t n_err, cap_err;
	size_t n_doomed;	/* devices the planned group deletion removes */
	size_t n_vrf_doomed;	/* of them, tenant VRFs */
	struct kv_newbr *newbr;
	size_t n_newbr, cap_newbr;
	struct plan_idx *pidx;	/* kept between plans: no allocation per diff */
	/* kvtep_set_live_gate: called once before a VNI can go live for zebra */
	void (*live_gate)(void *arg);
	void *live_gate_arg;

	pthread_mutex_t lock;	/* guards expect and the carrier watch */
	struct kv_expect *expect;	/* sorted by name */
	size_t n_expect;
	struct kv_carrier *carrier;	/* sorted by name */
	size_t n_carrier;
	struct kvtep_carrier *changes;	/* transitions not taken yet (a ring would lose order) */
	size_t n_changes, cap_changes;
	/*
	 * Set by the worker while it applies (lock held to change it): a link
	 * dump comes before its verdict, so the drain's drift is already
	 * covered.  Cleared as each link dump starts (kv_observe_start).
	 */
	bool observe_due;

	char *sendbuf;
	char *recvbuf;
	char *evbuf;		/* the drain's own: it runs on another thread */
};

/* kvtep.c: record the first fault against a VNI (@e NULL: none to record). */
void kv_verr_set(struct kv_verr *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * kvtep_watch.c: struct kvtep's observe_due.  kv_observe_due(true): the
 * worker applies, and a link dump comes before its verdict (false: none
 * will).  kv_observe_start: a link dump starts; the events queued before it
 * are read first, as covered.
 */
void kv_observe_due(struct kvtep *h, bool due);
void kv_observe_start(struct kvtep *h);

/* kvtep_verify.c: calls the live gate (kvtep_set_live_gate), if any, once. */
void kv_live_gate_pass(struct kvtep *h);

/* ---- kvtep_sock.c ---- */

/*
 * mnl_nlmsg_ok compares the length as an int: a length of 2^31 or more
 * passes and mnl_nlmsg_next then steps backwards out of the buffer.
 */
static inline bool kv_nlmsg_fits(const struct nlmsghdr *nlh, int len)
{
	return mnl_nlmsg_ok(nlh, len) && nlh->nlmsg_len <= (uint32_t)len;
}

/* One exchange on the request socket: the replies in [seq_lo, seq_hi). */
struct reply_ctx {
	struct kvtep *h;
	int timeout_ms;			/* 0: KVTEP_IDLE_TIMEOUT_MS */
	uint32_t seq_lo, seq_hi;	/* expected range [lo, hi) */
	size_t acks;			/* ACKs or errors seen in range */
	int (*on_error)(struct reply_ctx *c, uint32_t seq, int err, const char *msg);
	void (*on_link)(struct reply_ctx *c, const struct nlmsghdr *nlh);
	void (*on_addr)(struct reply_ctx *c, const struct nlmsghdr *nlh);
	void *data;
	int first_err;
};

/* Open the request and event sockets inside /run/netns/@netns ("" or NULL:
 * our own).  Returns 0 or -errno (-ENOENT: no such namespace). */
int kv_sockets_open_in(struct kvtep *h, const char *netns);
/* Enter namespace @fd: returns a descriptor of the thread's own namespace
 * for kv_netns_leave, or -errno.  kv_netns_leave aborts when it cannot go
 * back (the thread would go on in the VTEP's namespace). */
int kv_netns_enter(int fd);
void kv_netns_leave(int self);
int kv_send_all(struct kvtep *h, const void *buf, size_t len);
/* Handle one datagram's messages; returns 1 when a dump ended, 0, or -errno. */
int kv_replies_parse(struct reply_ctx *c, const char *buf, size_t n);
/* Receive until @want ACKs (or, with want == 0, a dump's DONE) arrived. */
int kv_replies_wait(struct reply_ctx *c, size_t want);
/* Send the request of @len bytes in h->sendbuf and wait for its ACK;
 * returns 0 or the kernel's -errno. */
int kv_request_one(struct kvtep *h, size_t len);

/* ---- kvtep_observe.c ---- */

/* The header and the link attributes of one RTM_NEWLINK/RTM_DELLINK into
 * @tb; NULL when it is short or has no name. */
const struct ifinfomsg *kv_link_attrs(const struct nlmsghdr *nlh, const struct nlattr **tb);
/* Parse one RTM_NEWLINK into @l; returns false when it is not usable. */
bool kv_link_parse(const struct nlmsghdr *nlh, struct kv_link *l);
/* RTM_GETLINK one device by name into @l; returns its ifindex or -errno. */
int kv_link_get(struct kvtep *h, const char *name, struct kv_link *l);
int kv_link_ifindex(struct kvtep *h, const char *name);
/* Lookups in the observation; inline because the diff makes one or two
 * per link (a call each cost the no-change diff 4-5% at 4,000 VNIs). */
static inline const struct kv_link *kv_obs_by_name(const struct kv_obs *o, const char *name)
{
	size_t lo = 0, hi = o->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(o->by_name[mid]->name, name);

		if (!c)
			return o->by_name[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static inline const struct kv_link *kv_obs_by_ifindex(const struct kv_obs *o, int ifindex)
{
	size_t lo = 0, hi = o->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (o->links[mid].ifindex == ifindex)
			return &o->links[mid];
		if (o->links[mid].ifindex < ifindex)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ---- kvtep_plan.c ---- */

struct plan_idx {
	struct vni_ref *br, *vx, *op_vx, *op_name;
	size_t n_br, n_vx, n_op_vx, n_op_name;
	struct slave_ref *sl;
	size_t n_sl;
	size_t cap;		/* links every array has room for */
};

/* Loom's devices indexed by VNI, and operators' VXLAN VNIs. */
struct vni_ref {
	uint32_t vni;
	const struct kv_link *link;
};

/* Slaves of loom bridges, sorted by master, to find a bridge's ports at once. */
struct slave_ref {
	int master;
	const struct kv_link *link;
};

struct kv_action *kv_act_add(struct kvtep *h, enum kv_op op, enum kv_stage stage,
			     size_t vni_idx, uint32_t vni, const struct kv_link *l,
			     const char *name);
const struct kv_link *kv_vni_ref_find(const struct vni_ref *r, size_t n, uint32_t vni);
bool kv_port_desired(const struct vtep_vni *v, const char *name);
/* Release ports of @br not desired by @v (NULL: any); doom @l. */
int kv_plan_release(struct kvtep *h, const struct plan_idx *p, const struct kv_link *br,
		    const struct vtep_vni *v, size_t vi, uint32_t vni);
int kv_plan_doom(struct kvtep *h, const struct plan_idx *p, const struct kv_link *l,
		 size_t vi, uint32_t vni);
bool kv_plan_foreign(struct kvtep *h, const struct plan_idx *p, size_t vi);
int kv_plan_vxlan(struct kvtep *h, const struct plan_idx *p, size_t vi,
		  const struct kv_link *br, bool *del);
/* Access port @i of @v: its 802.1Q tag (0 none), and the device that goes
 * into the bridge (the port, or loom's sub-interface PORT.TAG); false when
 * that name does not fit. */
uint16_t kv_port_tag(const struct vtep_vni *v, size_t i);
bool kv_port_dev(const struct vtep_vni *v, size_t i, char *buf, size_t len);
/* Plan the sub-interface of tagged port @i of VNI @vi: 0 with *out the
 * existing one or NULL (made by this plan, by name), 1 when an error was
 * recorded against the VNI, -ENOMEM. */
int kv_plan_subif(struct kvtep *h, const struct plan_idx *p, size_t vi, size_t i,
		  const struct kv_link **out, bool *del);
/* vlan-aware mode (kvtep_vlan.c): the plan after the shared index. */
int kv_plan_vlan_aware(struct kvtep *h, struct plan_idx *p, bool *del);
/*
 * Can access port @pn (@l as observed; NULL: not there) go into a loom
 * bridge?  No: @e says why, false.  Yes: *@master is the bridge it is in
 * now (one of loom's) or NULL.
 */
bool kv_port_usable(const struct kvtep *h, const struct kv_link *l, const char *pn,
		    const struct kv_link **master, struct kv_verr *e);
/* vlan-aware mode's verdict of VNI @i (kvtep_vlan.c); see kvtep_verify.c. */
bool kv_verify_vni_vlan(struct kvtep *h, const struct vtep_desired *d, size_t i,
			struct kv_verr *fault, struct kv_expect **ex, size_t *n_ex,
			size_t *cap_ex);
int kv_expect_add(struct kv_expect **arr, size_t *n, size_t *cap, const char *name, int master,
		  bool port, uint16_t vid);
/* Bridge port VLANs from an IFLA_AF_SPEC nest into @l. */
void kv_link_vlans(const struct nlattr *spec, struct kv_link *l);
/* One dump of the bridge ports' VLANs into the observation. */
int kv_observe_vlans(struct kvtep *h);
/* One link dump into h->obs, without the VLANs: for ifindexes of new devices. */
int kv_observe_links(struct kvtep *h);

void kv_name_bridge(char *buf, size_t len, uint32_t vni);
void kv_name_vxlan(char *buf, size_t len, uint32_t vni);
/* "lb123" -> 123 for prefix "lb"; false unless the whole name matches. */
bool kv_name_vni(const char *name, const char *prefix, uint32_t *vni);
void kv_alias_for(char *buf, size_t len, const struct vtep_vni *v);
/* @l is the VXLAN device loom would make for @vni on this VTEP. */
bool kv_vxlan_fits(const struct kvtep *h, const struct kv_link *l, uint32_t vni);
/* Verify's checks shared by both VTEP modes (overlay/kvtep_verify.c). */
bool kv_verify_vxlan_port(const struct kvtep *h, const struct vtep_vni *v, const struct kv_link *vx,
			  struct kv_verr *fault);
const struct kv_link *kv_verify_port(const struct kv_obs *o, const struct vtep_vni *v, size_t i,
				     const struct kv_link *br, char *dev, size_t len, struct kv_verr *fault);
void kv_plan_idx_free(struct plan_idx *p);

/* ---- kvtep_route.c ---- */

/* A tenant VRF's routing table: this base plus its L3 VNI (clear of 253-255). */
#define KVTEP_VRF_TABLE_BASE 1000000000U

void kv_name_vrf(char *buf, size_t len, uint32_t l3vni);
bool kv_l3vni_desired(const struct vtep_desired *d, uint32_t vni);
/* @l is one of the devices the routing pass keeps (the layer-2 plan leaves it). */
bool kv_route_keeps(const struct kvtep *h, const struct kv_link *l);
/* The routing pass after the layer-2 apply (@observe: dump the links first). */
int kv_route_sync(struct kvtep *h, const struct vtep_desired *d, bool observe);
/* Downgrade routed VNIs that are not routed right; returns how many. */
int kv_route_verify(struct kvtep *h, const struct vtep_desired *d, struct kvtep_vni_status *st,
		    bool same);
int kv_route_expect(struct kvtep *h, const struct vtep_desired *d, struct kv_expect **ex,
		    size_t *n_ex, size_t *cap_ex);
int kv_route_bridge_master(const struct kvtep *h, const struct vtep_vni *v);
/* kvtep_apply.c: the MAC loom gives the bridge of @vni on this VTEP. */
void kv_mac_for(const struct kvtep *h, uint32_t vni, uint8_t mac[NL_ETH_ALEN]);

/* ---- kvtep_watch.c ---- */

/* The ports watched but not known yet take their carrier from h->obs. */
void kv_carrier_baseline(struct kvtep *h);
/* One event datagram through the drain's per-message path (kvtep_test_datagram). */
void kv_test_events(struct kvtep *h, const void *buf, size_t len);

#endif

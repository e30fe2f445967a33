/*
 * overlay/kvtep.c: the kernel VTEP target: namespace-bound netlink sockets,
 * the capability probe, observe (one link dump), plan (one merge pass),
 * batched apply, verify and the drift monitor.  Encoding lives in nl.c.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "lib/log.h"
#include "overlay/kvtep.h"
#include "overlay/kvtep_test.h"
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

enum link_kind { KIND_OTHER, KIND_BRIDGE, KIND_VXLAN };

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
	int8_t learning;	/* vxlan learning; -1 unknown */
	int8_t port_learning;	/* bridge port learning; -1 unknown */
	int8_t neigh_suppress;	/* -1 unknown */
	uint32_t vni;
	struct in_addr local;
	uint16_t port;		/* host order */
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
};

static const char *const op_names[] = {
	[OP_RELEASE] = "release port", [OP_DOOM] = "doom", [OP_REGROUP] = "regroup",
	[OP_DELETE_GROUP] = "delete group", [OP_BRIDGE_NEW] = "create bridge",
	[OP_VXLAN_NEW] = "create vxlan", [OP_ALIAS] = "set alias", [OP_MTU] = "set mtu",
	[OP_UP] = "set up", [OP_MASTER] = "set master", [OP_BRPORT] = "set bridge port",
	[OP_ENSLAVE] = "enslave port", [OP_NOIPV6] = "disable ipv6 on",
};

/*
 * Stages, in the order apply sends them; see docs/overlay.md.  Ports are
 * enslaved and masters fixed while a new bridge is still down: a bridge
 * that comes up with its ports already in it announces its carrier once,
 * not once without ports and again with them (one link event a VNI fewer
 * for zebra and bgpd to walk their interfaces over).
 */
enum kv_stage {
	ST_RELEASE, ST_DOOM, ST_DELETE, ST_BRIDGE, ST_VXLAN, ST_FIX, ST_ENSLAVE, ST_SYSCTL,
	ST_UP, ST_PORT_UP,
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
	/* scratch for one drain */
	bool seen, deleted, up;
	int ev_master;
};

struct kv_newbr {
	uint32_t vni;
	int ifindex;
};

/* linux/if.h values (that header clashes with net/if.h): the driver's
 * carrier flag, and the RFC 2863 operational states without one. */
#define KV_IFF_LOWER_UP 0x10000
#define KV_OPER_LOWERLAYERDOWN 3
#define KV_OPER_DOWN 2

/* An access port whose carrier the fault watcher follows. */
struct kv_carrier {
	char name[IFNAMSIZ];
	int state;		/* -1 not known yet, 0 no carrier, 1 carrier */
};

struct plan_idx;
static void plan_idx_free(struct plan_idx *p);

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
	size_t n_err, cap_err;
	size_t n_doomed;	/* devices the planned group deletion removes */
	struct kv_newbr *newbr;
	size_t n_newbr, cap_newbr;
	struct plan_idx *pidx;	/* kept between plans: no allocation per diff */

	pthread_mutex_t lock;	/* guards expect and the carrier watch */
	struct kv_expect *expect;	/* sorted by name */
	size_t n_expect;
	struct kv_carrier *carrier;	/* sorted by name */
	size_t n_carrier;
	struct kvtep_carrier *changes;	/* transitions not taken yet (a ring would lose order) */
	size_t n_changes, cap_changes;

	char *sendbuf;
	char *recvbuf;
	char *evbuf;		/* the drain's own: it runs on another thread */
};

static void verr_set(struct kv_verr *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void verr_set(struct kv_verr *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (!e || e->code)
		return;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

/* ---- sockets ---------------------------------------------------------- */

static int sock_tune(struct mnl_socket *nl)
{
	int fd = mnl_socket_get_fd(nl);
	int one = 1, size = KVTEP_SOCKBUF;

	/* FORCE needs CAP_NET_ADMIN; fall back to what the sysctl allows. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	/* Short ACKs, and the kernel's reason with each error. */
	mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
	return 0;
}

static int sockets_open(struct kvtep *h)
{
	int ret;

	h->req = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	h->ev = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!h->req || !h->ev)
		return -errno;
	sock_tune(h->req);
	sock_tune(h->ev);
	if (mnl_socket_bind(h->req, 0, MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	/* Subscribed before the first dump, so no change falls between them. */
	ret = mnl_socket_bind(h->ev, RTMGRP_LINK, MNL_SOCKET_AUTOPID);
	if (ret < 0)
		return -errno;
	h->req_portid = mnl_socket_get_portid(h->req);
	return 0;
}

/* Create the sockets inside /run/netns/@netns, then return to our own. */
static int sockets_open_in(struct kvtep *h, const char *netns)
{
	char path[sizeof("/run/netns/") + LOOM_NAME_MAX];
	int self = -1, target = -1, ret;

	if (!netns || !*netns)
		return sockets_open(h);
	if (strchr(netns, '/') || !strcmp(netns, ".") || !strcmp(netns, "..") ||
	    strlen(netns) >= LOOM_NAME_MAX)
		return -EINVAL;
	snprintf(path, sizeof(path), "/run/netns/%s", netns);
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return -errno;
	target = open(path, O_RDONLY | O_CLOEXEC);
	if (target < 0) {
		ret = -errno;
		goto out;
	}
	if (setns(target, CLONE_NEWNET) < 0) {
		ret = -errno;
		goto out;
	}
	ret = sockets_open(h);
	if (!ret) {
		h->netns_fd = target;	/* kept for the per-device sysctls */
		target = -1;
	}
	if (setns(self, CLONE_NEWNET) < 0) {
		/* This thread would stay in the VTEP's namespace: never go on. */
		log_err("kvtep: cannot return to the own network namespace: %s",
			strerror(errno));
		abort();
	}
out:
	if (target >= 0)
		close(target);
	close(self);
	return ret;
}

/* ---- requests and replies --------------------------------------------- */

struct reply_ctx {
	struct kvtep *h;
	int timeout_ms;			/* 0: KVTEP_IDLE_TIMEOUT_MS */
	uint32_t seq_lo, seq_hi;	/* expected range [lo, hi) */
	size_t acks;			/* ACKs or errors seen in range */
	int (*on_error)(struct reply_ctx *c, uint32_t seq, int err, const char *msg);
	void (*on_link)(struct reply_ctx *c, const struct nlmsghdr *nlh);
	void *data;
	int first_err;
};

static const char *ext_ack_msg(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	size_t off = sizeof(*e);

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	if (mnl_nlmsg_get_payload_len(nlh) < off)
		return NULL;
	mnl_attr_for_each(a, nlh, off) {
		if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			return mnl_attr_get_str(a);
	}
	return NULL;
}

/*
 * mnl_nlmsg_ok compares the length as an int: a length of 2^31 or more
 * passes and mnl_nlmsg_next then steps backwards out of the buffer.
 */
static bool nlmsg_fits(const struct nlmsghdr *nlh, int len)
{
	return mnl_nlmsg_ok(nlh, len) && nlh->nlmsg_len <= (uint32_t)len;
}

/* Handle one datagram's messages; returns 1 when a dump ended, 0, or -errno. */
static int replies_parse(struct reply_ctx *c, const char *buf, size_t n)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)(const void *)buf;
	int len = (int)n, done = 0;

	for (; nlmsg_fits(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
		if (nlh->nlmsg_pid != c->h->req_portid && nlh->nlmsg_pid != 0)
			continue;
		if (nlh->nlmsg_seq < c->seq_lo || nlh->nlmsg_seq >= c->seq_hi)
			continue;	/* a late reply to an earlier, finished exchange */
		switch (nlh->nlmsg_type) {
		case NLMSG_ERROR: {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

			/* The kernel's errors are -errno; anything else is garbage. */
			if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e) || e->error > 0 ||
			    e->error < -4095)
				return -EBADMSG;
			c->acks++;
			if (e->error && c->on_error)
				c->on_error(c, nlh->nlmsg_seq, -e->error, ext_ack_msg(nlh));
			if (e->error && !c->first_err)
				c->first_err = e->error;
			break;
		}
		case NLMSG_DONE:
			done = 1;
			break;
		case RTM_NEWLINK:
			if (c->on_link)
				c->on_link(c, nlh);
			break;
		default:
			break;	/* nothing else is asked for */
		}
	}
	return done;
}

/* Receive until @want ACKs (or, with want == 0, a dump's DONE) arrived. */
static int replies_wait(struct reply_ctx *c, size_t want)
{
	struct kvtep *h = c->h;
	struct pollfd pfd = { .fd = mnl_socket_get_fd(h->req), .events = POLLIN };
	ssize_t n;
	int ret;

	for (;;) {
		if (want && c->acks >= want)
			return 0;
		ret = poll(&pfd, 1, c->timeout_ms > 0 ? c->timeout_ms : KVTEP_IDLE_TIMEOUT_MS);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0)
			return -errno;
		if (ret == 0)
			return -ETIMEDOUT;
		n = recv(pfd.fd, h->recvbuf, KVTEP_RECV_BYTES, 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;	/* ENOBUFS: replies were lost */
		}
		ret = replies_parse(c, h->recvbuf, (size_t)n);
		if (ret < 0)
			return ret;
		if (!want && ret == 1)
			return 0;
	}
}

static int send_all(struct kvtep *h, const void *buf, size_t len)
{
	ssize_t n = mnl_socket_sendto(h->req, buf, len);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

/* Send one request and wait for its ACK; returns 0 or the kernel's -errno. */
static int request_one(struct kvtep *h, size_t len)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)(void *)h->sendbuf;
	struct reply_ctx c = { .h = h };
	int ret;

	if (!len)
		return -EMSGSIZE;
	c.seq_lo = nlh->nlmsg_seq;
	c.seq_hi = nlh->nlmsg_seq + 1;
	ret = send_all(h, h->sendbuf, len);
	if (ret)
		return ret;
	ret = replies_wait(&c, 1);
	return ret ? ret : c.first_err;
}

/* ---- parsing links ---------------------------------------------------- */

static int attr_cb_link(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, IFLA_MAX) < 0)
		return MNL_CB_OK;	/* newer kernels add attributes */
	switch (type) {
	case IFLA_IFNAME:
	case IFLA_IFALIAS:
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
			return MNL_CB_OK;
		break;
	case IFLA_MTU:
	case IFLA_MASTER:
	case IFLA_GROUP:
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			return MNL_CB_OK;
		break;
	case IFLA_LINKINFO:
		if (mnl_attr_validate(a, MNL_TYPE_NESTED) < 0)
			return MNL_CB_OK;
		break;
	default:
		break;
	}
	tb[type] = a;
	return MNL_CB_OK;
}

static int attr_cb_info(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, IFLA_INFO_MAX) < 0)
		return MNL_CB_OK;
	switch (type) {
	case IFLA_INFO_KIND:
	case IFLA_INFO_SLAVE_KIND:
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
			return MNL_CB_OK;
		break;
	case IFLA_INFO_DATA:
	case IFLA_INFO_SLAVE_DATA:
		if (mnl_attr_validate(a, MNL_TYPE_NESTED) < 0)
			return MNL_CB_OK;
		break;
	default:
		break;
	}
	tb[type] = a;
	return MNL_CB_OK;
}

static int attr_cb_vxlan(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, IFLA_VXLAN_MAX) < 0)
		return MNL_CB_OK;
	switch (type) {
	case IFLA_VXLAN_ID:
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			return MNL_CB_OK;
		break;
	case IFLA_VXLAN_LOCAL:
		if (mnl_attr_get_payload_len(a) != sizeof(struct in_addr))
			return MNL_CB_OK;
		break;
	case IFLA_VXLAN_PORT:
		if (mnl_attr_validate(a, MNL_TYPE_U16) < 0)
			return MNL_CB_OK;
		break;
	case IFLA_VXLAN_LEARNING:
	case IFLA_VXLAN_COLLECT_METADATA:
	case IFLA_VXLAN_VNIFILTER:
		if (mnl_attr_validate(a, MNL_TYPE_U8) < 0)
			return MNL_CB_OK;
		break;
	default:
		break;
	}
	tb[type] = a;
	return MNL_CB_OK;
}

static int attr_cb_brport(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, IFLA_BRPORT_MAX) < 0)
		return MNL_CB_OK;
	switch (type) {
	case IFLA_BRPORT_LEARNING:
	case IFLA_BRPORT_NEIGH_SUPPRESS:
		if (mnl_attr_validate(a, MNL_TYPE_U8) < 0)
			return MNL_CB_OK;
		break;
	default:
		break;
	}
	tb[type] = a;
	return MNL_CB_OK;
}

static bool alias_is_loom(const char *alias)
{
	return !strncmp(alias, KVTEP_ALIAS_PREFIX, sizeof(KVTEP_ALIAS_PREFIX) - 1);
}

/* Parse one RTM_NEWLINK into @l; returns false when it is not usable. */
static bool link_parse(const struct nlmsghdr *nlh, struct kv_link *l)
{
	const struct nlattr *tb[IFLA_MAX + 1] = { NULL };
	const struct nlattr *info[IFLA_INFO_MAX + 1] = { NULL };
	const struct ifinfomsg *ifi;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return false;
	ifi = mnl_nlmsg_get_payload(nlh);
	if (mnl_attr_parse(nlh, sizeof(*ifi), attr_cb_link, tb) < 0 || !tb[IFLA_IFNAME])
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
	l->owned = l->group == KVTEP_GROUP || l->group == KVTEP_GROUP_DOOMED ||
		   alias_is_loom(l->alias);
	if (!tb[IFLA_LINKINFO] ||
	    mnl_attr_parse_nested(tb[IFLA_LINKINFO], attr_cb_info, info) < 0)
		return true;
	if (info[IFLA_INFO_KIND]) {
		const char *kind = mnl_attr_get_str(info[IFLA_INFO_KIND]);

		if (!strcmp(kind, "bridge"))
			l->kind = KIND_BRIDGE;
		else if (!strcmp(kind, "vxlan"))
			l->kind = KIND_VXLAN;
	}
	if (l->kind == KIND_VXLAN && info[IFLA_INFO_DATA]) {
		const struct nlattr *vx[IFLA_VXLAN_MAX + 1] = { NULL };

		if (mnl_attr_parse_nested(info[IFLA_INFO_DATA], attr_cb_vxlan, vx) >= 0) {
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

			if (mnl_attr_parse_nested(info[IFLA_INFO_SLAVE_DATA], attr_cb_brport,
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
	struct kv_link *grown;

	if (c->first_err)
		return;
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 256;

		grown = realloc(o->links, cap * sizeof(*grown));
		if (!grown) {
			c->first_err = ENOMEM;
			return;
		}
		o->links = grown;
		o->cap = cap;
	}
	if (link_parse(nlh, &o->links[o->n]))
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

static const struct kv_link *obs_by_name(const struct kv_obs *o, const char *name)
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

static const struct kv_link *obs_by_ifindex(const struct kv_obs *o, int ifindex)
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

	o->n = 0;
	c.seq_lo = ++h->seq;
	c.seq_hi = c.seq_lo + 1;
	len = nl_link_dump(h->sendbuf, KVTEP_BATCH_BYTES, c.seq_lo);
	ret = send_all(h, h->sendbuf, len);
	if (ret)
		return ret;
	ret = replies_wait(&c, 0);
	if (ret)
		return ret;
	if (c.first_err)
		return -abs(c.first_err);
	return obs_index(o);
}

static void carrier_baseline(struct kvtep *h);

int kvtep_observe(struct kvtep *h)
{
	int ret = observe_into(h, &h->obs);

	if (ret >= 0)
		carrier_baseline(h);
	return ret;
}

/* ---- probe ------------------------------------------------------------ */

static const char *const probe_names[] = {
	"loomprobe0", "loomprobe1", "loomprobe2", "loomprobe3", "loomprobe4",
};

static void probe_on_link(struct reply_ctx *c, const struct nlmsghdr *nlh)
{
	struct kv_link *l = c->data;

	if (!link_parse(nlh, l))
		l->ifindex = 0;
}

/* RTM_GETLINK one device by name; returns its ifindex or -errno. */
static int probe_link(struct kvtep *h, const char *name, struct kv_link *l)
{
	struct reply_ctx c = { .h = h, .on_link = probe_on_link, .data = l };
	int ret, tries;
	size_t len;

	memset(l, 0, sizeof(*l));
	c.seq_lo = ++h->seq;
	c.seq_hi = c.seq_lo + 1;
	len = nl_link_get(h->sendbuf, KVTEP_BATCH_BYTES, c.seq_lo, 0, name);
	ret = send_all(h, h->sendbuf, len);
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
		replies_parse(&c, h->recvbuf, (size_t)n);
	}
	return l->ifindex > 0 ? l->ifindex : -ENODEV;
}

static int probe_ifindex(struct kvtep *h, const char *name)
{
	struct kv_link l;

	return probe_link(h, name, &l);
}

static void probe(struct kvtep *h)
{
	struct kvtep_caps *caps = &h->caps;
	bool made[5] = { false };
	struct nl_vxlan vx = { .local = h->local, .vni = 16777215, .port = NL_VXLAN_PORT };
	int ret, br;
	size_t i;

	/* Left over from a crash in the middle of an earlier probe. */
	for (i = 0; i < 5; i++)
		request_one(h, nl_link_del(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, 0,
					   probe_names[i]));

	ret = request_one(h, nl_link_bridge_new(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq,
						probe_names[0], 0, 0, false));
	caps->bridge = made[0] = ret == 0;
	br = caps->bridge ? probe_ifindex(h, probe_names[0]) : 0;

	vx.name = probe_names[1];
	vx.master = br > 0 ? br : 0;
	ret = request_one(h, nl_link_vxlan_new(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, &vx));
	made[1] = ret == 0;
	/* EEXIST: the VNI is taken, so the kernel knew what a VXLAN device is. */
	caps->vxlan = ret == 0 || ret == -EEXIST;
	if (made[1] && br > 0) {
		struct nl_brport bp = { .neigh_suppress = 1, .learning = 0, .vlan_tunnel = -1 };

		ret = request_one(h, nl_brport_set(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, 0,
						   probe_names[1], &bp));
		caps->neigh_suppress = ret == 0;
	}

	ret = request_one(h, nl_link_bridge_vlan_new(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq,
						     probe_names[2], 0, 0, false));
	caps->vlan_filtering = made[2] = ret == 0;

	vx.name = probe_names[3];
	vx.master = 0;
	ret = request_one(h, nl_link_vxlan_vnifilter_new(h->sendbuf, KVTEP_BATCH_BYTES,
							 ++h->seq, &vx));
	made[3] = ret == 0;
	/*
	 * Kernels without vnifilter ignore the unknown attribute and make a
	 * plain external device: believe it only when the kernel reports it back.
	 */
	if (made[3]) {
		struct kv_link l;

		caps->vnifilter = probe_link(h, probe_names[3], &l) > 0 && l.vnifilter;
	} else {
		caps->vnifilter = ret == -EEXIST;
	}

	ret = request_one(h, nl_link_vrf_new(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq,
					     probe_names[4], 0x7fff0000U));
	caps->vrf = made[4] = ret == 0;

	for (i = 0; i < 5; i++)
		if (made[i])
			request_one(h, nl_link_del(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, 0,
						   probe_names[i]));
}

static void caps_missing(const struct kvtep_caps *c, char *buf, size_t len)
{
	const struct {
		bool have;
		const char *what;
	} list[] = {
		{ c->bridge, "bridges" }, { c->vxlan, "VXLAN" },
		{ c->vlan_filtering, "bridge VLAN filtering" },
		{ c->vnifilter, "VXLAN vnifilter" }, { c->vrf, "VRF" },
		{ c->neigh_suppress, "bridge neighbour suppression" },
	};
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof(list) / sizeof(list[0]) && off < len; i++) {
		if (list[i].have)
			continue;
		off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? ", " : "",
					list[i].what);
	}
	if (!off)
		snprintf(buf, len, "nothing");
}

static int mode_choose(struct kvtep *h, enum vtep_mode want, struct loom_err *err)
{
	const struct kvtep_caps *c = &h->caps;
	bool trad = c->bridge && c->vxlan;
	bool aware = trad && c->vlan_filtering && c->vnifilter;
	char missing[160];

	caps_missing(c, missing, sizeof(missing));
	switch (want) {
	case VTEP_MODE_TRADITIONAL:
		if (!trad)
			return loom_err_set(err, LOOM_E_UNAVAILABLE, "mode",
					    "traditional mode needs bridges and VXLAN; this "
					    "kernel lacks %s",
					    missing);
		h->mode = VTEP_MODE_TRADITIONAL;
		snprintf(h->mode_reason, sizeof(h->mode_reason),
			 "traditional: configured (kernel lacks %s)", missing);
		return 0;
	case VTEP_MODE_VLAN_AWARE:
		if (!aware)
			return loom_err_set(err, LOOM_E_UNAVAILABLE, "mode",
					    "vlan-aware mode needs bridge VLAN filtering and "
					    "VXLAN vnifilter; this kernel lacks %s; use mode "
					    "traditional or auto",
					    missing);
		return loom_err_set(err, LOOM_E_UNAVAILABLE, "mode",
				    "the kernel supports vlan-aware mode but loom's vlan-aware "
				    "reconciler is not built yet; use mode traditional or auto");
	case VTEP_MODE_AUTO:
	default:
		if (!trad)
			return loom_err_set(err, LOOM_E_UNAVAILABLE, "mode",
					    "no usable mode: this kernel lacks %s", missing);
		h->mode = VTEP_MODE_TRADITIONAL;
		if (aware)
			snprintf(h->mode_reason, sizeof(h->mode_reason),
				 "auto chose traditional: the kernel could do vlan-aware, but "
				 "loom's vlan-aware reconciler is not built yet");
		else
			snprintf(h->mode_reason, sizeof(h->mode_reason),
				 "auto chose traditional: vlan-aware needs bridge VLAN "
				 "filtering and VXLAN vnifilter, and this kernel lacks %s",
				 missing);
		return 0;
	}
}

/* ---- open / close ----------------------------------------------------- */

int kvtep_open(const char *netns, const char *vtep_ip, enum vtep_mode mode,
	       struct kvtep **out, struct loom_err *err)
{
	struct kvtep *h;
	int ret;

	*out = NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->netns_fd = -1;
	pthread_mutex_init(&h->lock, NULL);
	snprintf(h->netns, sizeof(h->netns), "%s", netns ? netns : "");
	h->seq = (uint32_t)time(NULL);
	if (!vtep_ip || inet_pton(AF_INET, vtep_ip, &h->local) != 1) {
		ret = loom_err_set(err, LOOM_E_PARAMS, "vtep_ip",
				   "VTEP address \"%s\" is not an IPv4 address",
				   vtep_ip ? vtep_ip : "");
		goto fail;
	}
	h->sendbuf = malloc(KVTEP_BATCH_BYTES);
	h->recvbuf = malloc(KVTEP_RECV_BYTES);
	h->evbuf = malloc(KVTEP_RECV_BYTES);
	if (!h->sendbuf || !h->recvbuf || !h->evbuf) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = sockets_open_in(h, netns);
	if (ret == -ENOENT) {
		loom_err_set(err, LOOM_E_NOT_FOUND, "netns",
			     "network namespace \"%s\" does not exist (no /run/netns/%s); "
			     "create it or correct the VTEP's netns in the topology",
			     h->netns, h->netns);
		goto fail;
	}
	if (ret) {
		loom_err_set(err, LOOM_E_UNAVAILABLE, "netns",
			     "cannot open netlink sockets in network namespace \"%s\": %s",
			     h->netns, strerror(-ret));
		goto fail;
	}
	probe(h);
	ret = mode_choose(h, mode, err);
	if (ret)
		goto fail;
	log_info("kvtep %s: %s", *h->netns ? h->netns : "(own netns)", h->mode_reason);
	*out = h;
	return 0;
fail:
	kvtep_close(&h);
	return ret;
}

void kvtep_close(struct kvtep **hp)
{
	struct kvtep *h = *hp;

	if (!h)
		return;
	if (h->req)
		mnl_socket_close(h->req);
	if (h->ev)
		mnl_socket_close(h->ev);
	if (h->netns_fd >= 0)
		close(h->netns_fd);
	free(h->obs.links);
	free(h->obs.by_name);
	free(h->acts);
	free(h->plan_err);
	free(h->apply_err);
	free(h->newbr);
	if (h->pidx)
		plan_idx_free(h->pidx);
	free(h->pidx);
	free(h->expect);
	free(h->carrier);
	free(h->changes);
	free(h->sendbuf);
	free(h->recvbuf);
	free(h->evbuf);
	pthread_mutex_destroy(&h->lock);
	free(h);
	*hp = NULL;
}

enum vtep_mode kvtep_mode(const struct kvtep *h)
{
	return h->mode;
}

const char *kvtep_mode_reason(const struct kvtep *h)
{
	return h->mode_reason;
}

const struct kvtep_caps *kvtep_caps(const struct kvtep *h)
{
	return &h->caps;
}

int kvtep_event_fd(const struct kvtep *h)
{
	return mnl_socket_get_fd(h->ev);
}

/* ---- plan ------------------------------------------------------------- */

static void name_bridge(char *buf, size_t len, uint32_t vni)
{
	snprintf(buf, len, "lb%u", vni);
}

static void name_vxlan(char *buf, size_t len, uint32_t vni)
{
	snprintf(buf, len, "lx%u", vni);
}

/* "lb123" -> 123 for prefix "lb"; false unless the whole name matches. */
static bool name_vni(const char *name, const char *prefix, uint32_t *vni)
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

/*
 * The MAC a new bridge is created with.  A bridge left to pick its own
 * takes its lowest port's MAC each time a port joins, and every change is
 * one more link event (2-3 a VNI) that zebra and bgpd handle by walking all
 * interfaces.  Locally administered, unicast: 02, the VTEP address folded
 * to 16 bits, the VNI; unique among one VTEP's bridges.  The bridge carries
 * no address, so its MAC only needs to be stable, not known to anyone.
 */
static void mac_for(const struct kvtep *h, uint32_t vni, uint8_t mac[NL_ETH_ALEN])
{
	uint32_t ip = ntohl(h->local.s_addr);
	uint16_t fold = (uint16_t)((ip >> 16) ^ (ip & 0xffff));

	mac[0] = 0x02;
	mac[1] = (uint8_t)(fold >> 8);
	mac[2] = (uint8_t)fold;
	mac[3] = (uint8_t)(vni >> 16);
	mac[4] = (uint8_t)(vni >> 8);
	mac[5] = (uint8_t)vni;
}

static void alias_for(char *buf, size_t len, const struct vtep_vni *v)
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

static struct kv_action *act_add(struct kvtep *h, enum kv_op op, enum kv_stage stage,
				 size_t vni_idx, uint32_t vni, const struct kv_link *l,
				 const char *name)
{
	struct kv_action *a;

	if (h->n_acts == h->cap_acts) {
		size_t cap = h->cap_acts ? h->cap_acts * 2 : 256;
		struct kv_action *grown = realloc(h->acts, cap * sizeof(*grown));

		if (!grown)
			return NULL;
		h->acts = grown;
		h->cap_acts = cap;
	}
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

/* Loom's devices indexed by VNI, and operators' VXLAN VNIs. */
struct vni_ref {
	uint32_t vni;
	const struct kv_link *link;
};

static int cmp_vni_ref(const void *a, const void *b)
{
	const struct vni_ref *x = a, *y = b;

	if (x->vni != y->vni)
		return (x->vni > y->vni) - (x->vni < y->vni);
	return (x->link->ifindex > y->link->ifindex) - (x->link->ifindex < y->link->ifindex);
}

static const struct kv_link *vni_ref_find(const struct vni_ref *r, size_t n, uint32_t vni)
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

static bool port_desired(const struct vtep_vni *v, const char *name)
{
	size_t lo = 0, hi = v->n_ports;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(v->ports[mid], name);

		if (!c)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Slaves of loom bridges, sorted by master, to find a bridge's ports at once. */
struct slave_ref {
	int master;
	const struct kv_link *link;
};

static int cmp_slave_ref(const void *a, const void *b)
{
	const struct slave_ref *x = a, *y = b;

	if (x->master != y->master)
		return (x->master > y->master) - (x->master < y->master);
	return (x->link->ifindex > y->link->ifindex) - (x->link->ifindex < y->link->ifindex);
}

struct plan_idx {
	struct vni_ref *br, *vx, *op_vx, *op_name;
	size_t n_br, n_vx, n_op_vx, n_op_name;
	struct slave_ref *sl;
	size_t n_sl;
	size_t cap;		/* links every array has room for */
};

static void plan_idx_free(struct plan_idx *p)
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

		if (l->owned) {
			if (name_vni(l->name, "lb", &vni))
				p->br[p->n_br++] = (struct vni_ref){ vni, l };
			else if (name_vni(l->name, "lx", &vni))
				p->vx[p->n_vx++] = (struct vni_ref){ vni, l };
			else
				p->br[p->n_br++] = (struct vni_ref){ 0, l };	/* orphan */
		} else {
			if (l->kind == KIND_VXLAN && !l->collect_md)
				p->op_vx[p->n_op_vx++] = (struct vni_ref){ l->vni, l };
			/* An operator's device that has the name loom wants. */
			if (name_vni(l->name, "lb", &vni) || name_vni(l->name, "lx", &vni))
				p->op_name[p->n_op_name++] = (struct vni_ref){ vni, l };
		}
		if (l->master > 0) {
			const struct kv_link *m = obs_by_ifindex(o, l->master);

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
		if (!act_add(h, (op), (st), vi, vni, (l), (name)))             \
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
static int plan_release(struct kvtep *h, const struct plan_idx *p, const struct kv_link *br,
			const struct vtep_vni *v, size_t vi, uint32_t vni)
{
	size_t lo = slave_first(p, br->ifindex);

	for (; lo < p->n_sl && p->sl[lo].master == br->ifindex; lo++) {
		const struct kv_link *l = p->sl[lo].link;

		/* Loom's own devices (its VXLAN device too) are doomed or re-parented. */
		if (l->owned || (v && port_desired(v, l->name)))
			continue;
		ACT(OP_RELEASE, ST_RELEASE, l, NULL);
	}
	return 0;
}

static int plan_doom(struct kvtep *h, const struct plan_idx *p, const struct kv_link *l,
		     size_t vi, uint32_t vni)
{
	int ret;

	if (l->kind == KIND_BRIDGE) {
		ret = plan_release(h, p, l, NULL, vi, vni);
		if (ret)
			return ret;
	}
	if (l->group != KVTEP_GROUP_DOOMED)
		ACT(OP_DOOM, ST_DOOM, l, NULL);
	h->n_doomed++;
	return 1;	/* something to delete */
}

static bool vxlan_fits(const struct kvtep *h, const struct kv_link *l, uint32_t vni)
{
	return l->kind == KIND_VXLAN && !l->collect_md && l->vni == vni &&
	       l->local.s_addr == h->local.s_addr && l->port == NL_VXLAN_PORT && l->learning == 0;
}

static int plan_vni(struct kvtep *h, const struct plan_idx *p, size_t vi, bool *del)
{
	const struct vtep_vni *v = &h->desired->vnis[vi];
	uint32_t vni = v->vni;
	const struct kv_link *br = vni_ref_find(p->br, p->n_br, vni);
	const struct kv_link *vx = vni_ref_find(p->vx, p->n_vx, vni);
	const struct kv_link *op = vni_ref_find(p->op_vx, p->n_op_vx, vni);
	const struct kv_link *l;
	struct kv_verr *e = &h->plan_err[vi];
	char brname[IFNAMSIZ], vxname[IFNAMSIZ];
	bool br_new, vx_new;
	struct kv_action *a;
	size_t i;
	int ret;

	if (op) {
		verr_set(e, LOOM_E_CONFLICT,
			 "VNI %u is already used by VXLAN device %s, which loom does not own; "
			 "remove it or give the segment another VNI",
			 vni, op->name);
		e->foreign = true;
		return 0;
	}
	l = vni_ref_find(p->op_name, p->n_op_name, vni);
	if (l) {
		verr_set(e, LOOM_E_CONFLICT,
			 "device name %s is taken by a device loom does not own; rename it",
			 l->name);
		e->foreign = true;
		return 0;
	}

	/* The bridge. */
	if (br && br->kind != KIND_BRIDGE) {
		*del |= plan_doom(h, p, br, vi, vni) > 0;
		br = NULL;
	}
	br_new = !br;
	if (br_new) {
		/* Names are only formatted for devices to be created. */
		name_bridge(brname, sizeof(brname), vni);
		ACT(OP_BRIDGE_NEW, ST_BRIDGE, NULL, brname);
		ACT(OP_ALIAS, ST_BRIDGE, NULL, brname);
		ACT(OP_NOIPV6, ST_SYSCTL, NULL, brname);
		ACT(OP_UP, ST_UP, NULL, brname);
		/*
		 * Set apart from the creation: only an MTU set by changelink
		 * stops the bridge from shrinking it to its smallest port's.
		 */
		if (v->mtu) {
			a = act_add(h, OP_MTU, ST_BRIDGE, vi, vni, NULL, brname);
			if (!a)
				return -ENOMEM;
			a->mtu = v->mtu;
		}
	} else {
		ret = plan_release(h, p, br, v, vi, vni);
		if (ret)
			return ret;
		if (br->group != KVTEP_GROUP)
			ACT(OP_REGROUP, ST_DOOM, br, NULL);
		if (!alias_matches(br->alias, v))
			ACT(OP_ALIAS, ST_FIX, br, NULL);
		if (v->mtu && br->mtu != v->mtu) {
			a = act_add(h, OP_MTU, ST_FIX, vi, vni, br, NULL);
			if (!a)
				return -ENOMEM;
			a->mtu = v->mtu;
		}
		/* Down: made before a crash, or set down by hand; IPv6 off first. */
		if (!(br->flags & IFF_UP)) {
			ACT(OP_NOIPV6, ST_SYSCTL, br, NULL);
			ACT(OP_UP, ST_UP, br, NULL);
		}
	}

	/* The VXLAN device. */
	if (vx && !vxlan_fits(h, vx, vni)) {
		*del |= plan_doom(h, p, vx, vi, vni) > 0;
		vx = NULL;
	}
	vx_new = !vx;
	if (vx_new) {
		name_vxlan(vxname, sizeof(vxname), vni);
		a = act_add(h, OP_VXLAN_NEW, ST_VXLAN, vi, vni, NULL, vxname);
		if (!a)
			return -ENOMEM;
		a->mtu = v->mtu;
		a->peer = br_new ? 0 : br->ifindex;
		ACT(OP_ALIAS, ST_VXLAN, NULL, vxname);
		ACT(OP_BRPORT, ST_VXLAN, NULL, vxname);
		ACT(OP_NOIPV6, ST_SYSCTL, NULL, vxname);
		ACT(OP_UP, ST_UP, NULL, vxname);
	} else {
		if (vx->group != KVTEP_GROUP)
			ACT(OP_REGROUP, ST_DOOM, vx, NULL);
		if (!alias_matches(vx->alias, v))
			ACT(OP_ALIAS, ST_FIX, vx, NULL);
		if (v->mtu && vx->mtu != v->mtu) {
			a = act_add(h, OP_MTU, ST_FIX, vi, vni, vx, NULL);
			if (!a)
				return -ENOMEM;
			a->mtu = v->mtu;
		}
		if (br_new || vx->master != br->ifindex) {
			a = act_add(h, OP_MASTER, ST_FIX, vi, vni, vx, NULL);
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
	}

	/* Access ports. */
	for (i = 0; i < v->n_ports; i++) {
		const char *pn = v->ports[i];
		const struct kv_link *m;

		/* Usually the port is in its bridge already: look there first. */
		l = br_new ? NULL : slave_find(p, br->ifindex, pn);
		if (!l)
			l = obs_by_name(&h->obs, pn);
		if (!l) {
			verr_set(e, LOOM_E_NOT_FOUND,
				 "access port %s does not exist on this VTEP; check the node's "
				 "NIC ports in the topology",
				 pn);
			continue;
		}
		if (l->owned || l->kind == KIND_BRIDGE) {
			verr_set(e, LOOM_E_CONFLICT,
				 "access port %s is a bridge or a loom device, not a port", pn);
			continue;
		}
		m = l->master > 0 ? obs_by_ifindex(&h->obs, l->master) : NULL;
		if (m && !(m->owned && m->kind == KIND_BRIDGE)) {
			verr_set(e, LOOM_E_CONFLICT,
				 "access port %s is enslaved to %s, which loom does not own; "
				 "release it first (ip link set %s nomaster)",
				 pn, m->name, pn);
			continue;
		}
		if (br_new || !m || m->ifindex != br->ifindex) {
			a = act_add(h, OP_ENSLAVE, ST_ENSLAVE, vi, vni, l, NULL);
			if (!a)
				return -ENOMEM;
			a->peer = br_new ? 0 : br->ifindex;
		}
		if (!(l->flags & IFF_UP))
			ACT(OP_UP, ST_PORT_UP, l, NULL);
	}
	return 0;
}

int kvtep_plan(struct kvtep *h, const struct vtep_desired *d)
{
	struct plan_idx *p;
	size_t bi = 0, xi = 0, di = 0, vi;
	bool del = false;
	int ret;

	h->n_acts = 0;
	h->n_doomed = 0;
	h->desired = d;
	h->n_err = 0;
	if (d->n_vnis > h->cap_err) {
		struct kv_verr *pe, *ae;

		pe = realloc(h->plan_err, d->n_vnis * sizeof(*pe));
		if (!pe)
			return -ENOMEM;
		h->plan_err = pe;
		ae = realloc(h->apply_err, d->n_vnis * sizeof(*ae));
		if (!ae)
			return -ENOMEM;
		h->apply_err = ae;
		h->cap_err = d->n_vnis;
	}
	h->n_err = d->n_vnis;
	/* Only the codes say "set"; the messages are written with them. */
	for (vi = 0; vi < d->n_vnis; vi++) {
		h->plan_err[vi].code = h->apply_err[vi].code = 0;
		h->plan_err[vi].foreign = false;
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

	/* Loom devices whose VNI is no longer desired: one merge pass each. */
	vi = KVTEP_NO_VNI;
	for (bi = 0; bi < p->n_br; bi++) {
		uint32_t vni = p->br[bi].vni;

		while (di < d->n_vnis && d->vnis[di].vni < vni)
			di++;
		if (vni && di < d->n_vnis && d->vnis[di].vni == vni)
			continue;
		ret = plan_doom(h, p, p->br[bi].link, vi, vni);
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
		ret = plan_doom(h, p, p->vx[xi].link, vi, vni);
		if (ret < 0)
			goto out;
		del = true;
	}
	for (vi = 0; vi < d->n_vnis; vi++) {
		ret = plan_vni(h, p, vi, &del);
		if (ret)
			goto out;
	}
	if (del && !act_add(h, OP_DELETE_GROUP, ST_DELETE, KVTEP_NO_VNI, 0, NULL, NULL)) {
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
	else if (a->vni_idx != KVTEP_NO_VNI)
		snprintf(buf, len, "%s %s vni %u", op_names[a->op], a->name, a->vni);
	else
		snprintf(buf, len, "%s %s", op_names[a->op], a->name);
	return 0;
}

/* ---- apply ------------------------------------------------------------ */

struct batch {
	struct kvtep *h;
	size_t off;		/* bytes queued in sendbuf */
	size_t first, n;	/* actions queued: [first, first + n) */
	uint32_t seq_base;	/* seq of action 0 */
	int failed;
};

static int cmp_newbr(const void *a, const void *b)
{
	const struct kv_newbr *x = a, *y = b;

	return (x->vni > y->vni) - (x->vni < y->vni);
}

static int newbr_add(struct kvtep *h, uint32_t vni, int ifindex)
{
	if (h->n_newbr == h->cap_newbr) {
		size_t cap = h->cap_newbr ? h->cap_newbr * 2 : 256;
		struct kv_newbr *grown = realloc(h->newbr, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		h->newbr = grown;
		h->cap_newbr = cap;
	}
	h->newbr[h->n_newbr++] = (struct kv_newbr){ vni, ifindex };
	return 0;
}

static int newbr_find(const struct kvtep *h, uint32_t vni)
{
	size_t lo = 0, hi = h->n_newbr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (h->newbr[mid].vni < vni)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < h->n_newbr && h->newbr[lo].vni == vni ? h->newbr[lo].ifindex : 0;
}

static struct kv_verr *act_err(struct kvtep *h, const struct kv_action *a)
{
	return a->vni_idx != KVTEP_NO_VNI && a->vni_idx < h->n_err ? &h->apply_err[a->vni_idx]
								    : NULL;
}

static int apply_on_error(struct reply_ctx *c, uint32_t seq, int err, const char *msg)
{
	struct batch *b = c->data;
	struct kvtep *h = b->h;
	size_t i = seq - b->seq_base;
	const struct kv_action *a;
	char what[64];

	if (i >= h->n_acts)
		return 0;
	a = &h->acts[i];
	kvtep_plan_describe(h, i, what, sizeof(what));
	b->failed++;
	log_debug(LOG_SUB_NETLINK, "kvtep: %s failed: %s%s%s", what, strerror(err),
		  msg ? ": " : "", msg ? msg : "");
	if (a->vni_idx == KVTEP_NO_VNI)
		log_warn("kvtep %s: %s failed: %s%s%s", h->netns, what, strerror(err),
			 msg ? ": " : "", msg ? msg : "");
	verr_set(act_err(h, a), LOOM_E_UNAVAILABLE, "the kernel refused to %s: %s%s%s%s", what,
		 strerror(err), msg ? " (" : "", msg ? msg : "", msg ? ")" : "");
	return 0;
}

static void apply_on_link(struct reply_ctx *c, const struct nlmsghdr *nlh)
{
	struct batch *b = c->data;
	struct kv_link l;
	uint32_t vni;

	/* NLM_F_ECHO of a bridge loom just created: learn its ifindex. */
	if (link_parse(nlh, &l) && l.kind == KIND_BRIDGE && name_vni(l.name, "lb", &vni) &&
	    !newbr_find(b->h, vni))
		newbr_add(b->h, vni, l.ifindex);
}

static int batch_flush(struct batch *b)
{
	struct kvtep *h = b->h;
	struct reply_ctx c = { .h = h, .on_error = apply_on_error, .on_link = apply_on_link,
			       .data = b };
	int ret;

	if (!b->n)
		return 0;
	c.seq_lo = b->seq_base + (uint32_t)b->first;
	c.seq_hi = c.seq_lo + (uint32_t)b->n;
	if (h->acts[b->first].stage == ST_DELETE)
		c.timeout_ms = KVTEP_IDLE_TIMEOUT_MS +
			       (int)(h->n_doomed < 1000000 ? h->n_doomed : 1000000) *
				       KVTEP_DELETE_MS_PER_DEVICE;
	ret = send_all(h, h->sendbuf, b->off);
	if (!ret)
		ret = replies_wait(&c, b->n);
	b->off = 0;
	b->first += b->n;
	b->n = 0;
	if (h->n_newbr)	/* qsort's array may not be NULL, even empty */
		qsort(h->newbr, h->n_newbr, sizeof(*h->newbr), cmp_newbr);
	return ret;
}

/* The bridge an action points at; 0 when it was never created. */
static int act_peer(struct kvtep *h, const struct kv_action *a)
{
	return a->peer > 0 ? a->peer : newbr_find(h, a->vni);
}

static size_t act_encode(struct kvtep *h, const struct kv_action *a, char *buf, size_t len,
			 uint32_t seq, int *peer_missing)
{
	const struct vtep_vni *v = a->vni_idx != KVTEP_NO_VNI ? &h->desired->vnis[a->vni_idx]
							      : NULL;
	char alias[KVTEP_ALIAS_MAX];
	uint8_t mac[NL_ETH_ALEN];
	struct nl_vxlan vx;
	struct nl_brport bp;
	size_t n = 0;
	int peer;

	*peer_missing = 0;
	switch (a->op) {
	case OP_RELEASE:
		n = nl_link_set_master(buf, len, seq, a->ifindex, a->name, 0);
		break;
	case OP_DOOM:
		n = nl_link_set_group(buf, len, seq, a->ifindex, a->name, KVTEP_GROUP_DOOMED);
		break;
	case OP_REGROUP:
		n = nl_link_set_group(buf, len, seq, a->ifindex, a->name, KVTEP_GROUP);
		break;
	case OP_DELETE_GROUP:
		n = nl_link_del_group(buf, len, seq, KVTEP_GROUP_DOOMED);
		break;
	case OP_BRIDGE_NEW:
		mac_for(h, a->vni, mac);
		n = nl_link_bridge_new_mac(buf, len, seq, a->name, a->mtu, KVTEP_GROUP, false, mac);
		if (n)
			((struct nlmsghdr *)(void *)buf)->nlmsg_flags |= NLM_F_ECHO;
		break;
	case OP_VXLAN_NEW:
		peer = act_peer(h, a);
		if (!peer) {
			*peer_missing = 1;
			break;
		}
		vx = (struct nl_vxlan){ .name = a->name, .vni = a->vni, .local = h->local,
					.port = NL_VXLAN_PORT, .mtu = a->mtu,
					.group = KVTEP_GROUP, .master = peer, .up = false };
		n = nl_link_vxlan_new(buf, len, seq, &vx);
		break;
	case OP_ALIAS:
		if (!v)
			break;
		alias_for(alias, sizeof(alias), v);
		n = nl_link_set_alias(buf, len, seq, a->ifindex, a->name, alias);
		break;
	case OP_MTU:
		n = nl_link_set_mtu(buf, len, seq, a->ifindex, a->name, a->mtu);
		break;
	case OP_UP:
		n = nl_link_set_up(buf, len, seq, a->ifindex, a->name, true);
		break;
	case OP_MASTER:
	case OP_ENSLAVE:
		peer = act_peer(h, a);
		if (!peer) {
			*peer_missing = 1;
			break;
		}
		n = nl_link_set_master(buf, len, seq, a->ifindex, a->name, peer);
		break;
	case OP_NOIPV6:
		break;	/* not a netlink message: see sysctl_stage */
	case OP_BRPORT:
		bp = (struct nl_brport){ .learning = 0,
					 .neigh_suppress = h->caps.neigh_suppress ? 1 : -1,
					 .vlan_tunnel = -1 };
		n = nl_brport_set(buf, len, seq, a->ifindex, a->name, &bp);
		break;
	}
	return n;
}

/* Kernels before 6.3 ignore NLM_F_ECHO on creation: ask for each bridge. */
static void newbr_fallback(struct kvtep *h, size_t end)
{
	size_t i;
	int ifindex;

	for (i = 0; i < end; i++) {
		const struct kv_action *a = &h->acts[i];

		if (a->op != OP_BRIDGE_NEW || newbr_find(h, a->vni))
			continue;
		ifindex = probe_ifindex(h, a->name);
		if (ifindex > 0 && !newbr_add(h, a->vni, ifindex))
			qsort(h->newbr, h->n_newbr, sizeof(*h->newbr), cmp_newbr);
	}
}

/*
 * IPv6 off on each device loom creates, before it goes up.  Loom's devices
 * carry no addresses; with IPv6 on, each would add link-local and multicast
 * routes, and the kernel walks the whole IPv6 FIB for every device that goes
 * down, which makes thousands of VNIs quadratic to create and delete.  There
 * is no netlink attribute for disable_ipv6, so it is the per-device sysctl,
 * opened from inside the VTEP's namespace.  Returns the index after the stage.
 */
static size_t sysctl_stage(struct kvtep *h, size_t i)
{
	char path[64 + IFNAMSIZ];
	int self = -1, fd;
	bool entered = false;

	if (h->netns_fd >= 0) {
		self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		entered = self >= 0 && setns(h->netns_fd, CLONE_NEWNET) == 0;
		if (!entered)
			log_warn("kvtep %s: cannot enter the namespace to turn IPv6 off: %s",
				 h->netns, strerror(errno));
	}
	for (; i < h->n_acts && h->acts[i].stage == ST_SYSCTL; i++) {
		if (h->netns_fd >= 0 && !entered)
			continue;
		snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6",
			 h->acts[i].name);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		/* ENOENT: no IPv6 in this kernel, or the device was not created. */
		if (fd < 0)
			continue;
		if (write(fd, "1", 1) != 1)
			log_debug(LOG_SUB_NETLINK, "kvtep: %s: %s", path, strerror(errno));
		close(fd);
	}
	if (entered && setns(self, CLONE_NEWNET) < 0) {
		log_err("kvtep: cannot return to the own network namespace: %s",
			strerror(errno));
		abort();
	}
	if (self >= 0)
		close(self);
	return i;
}

int kvtep_apply(struct kvtep *h)
{
	struct batch b = { .h = h };
	size_t i;
	int ret = 0;

	if (!h->desired)
		return -EINVAL;
	h->n_newbr = 0;
	b.seq_base = h->seq + 1;
	h->seq += (uint32_t)h->n_acts + 1;
	for (i = 0; i < h->n_acts; i++) {
		const struct kv_action *a = &h->acts[i];
		size_t n;
		int missing;

		/* A stage may need the ifindexes the previous one created. */
		if (b.n && (a->stage != h->acts[i - 1].stage || b.n >= KVTEP_BATCH_MSGS)) {
			ret = batch_flush(&b);
			if (ret)
				goto out;
		}
		if (i && a->stage != h->acts[i - 1].stage && h->acts[i - 1].stage == ST_BRIDGE)
			newbr_fallback(h, i);
		if (a->stage == ST_SYSCTL) {
			i = sysctl_stage(h, i) - 1;
			b.first = i + 1;
			continue;
		}
		if (!b.n)
			b.first = i;
		n = act_encode(h, a, h->sendbuf + b.off, KVTEP_BATCH_BYTES - b.off,
			       b.seq_base + (uint32_t)i, &missing);
		if (!n && !missing && b.n) {
			ret = batch_flush(&b);
			if (ret)
				goto out;
			b.first = i;
			n = act_encode(h, a, h->sendbuf, KVTEP_BATCH_BYTES,
				       b.seq_base + (uint32_t)i, &missing);
		}
		if (!n) {
			char what[64];

			kvtep_plan_describe(h, i, what, sizeof(what));
			verr_set(act_err(h, a), LOOM_E_UNAVAILABLE, "%s: %s", what,
				 missing ? "its bridge was not created" : "cannot be encoded");
			b.failed++;
			/* Keep the batch's action range contiguous. */
			if (b.n) {
				ret = batch_flush(&b);
				if (ret)
					goto out;
			}
			b.first = i + 1;
			continue;
		}
		b.off += n;
		b.n++;
	}
	ret = batch_flush(&b);
out:
	if (ret)
		return ret;
	return b.failed;
}

/* ---- verify ----------------------------------------------------------- */

static int cmp_expect(const void *a, const void *b)
{
	const struct kv_expect *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static int expect_add(struct kv_expect **arr, size_t *n, size_t *cap, const char *name,
		      int master, bool port)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 256;
		struct kv_expect *grown = realloc(*arr, c * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		*arr = grown;
		*cap = c;
	}
	memset(&(*arr)[*n], 0, sizeof(**arr));
	snprintf((*arr)[*n].name, sizeof((*arr)[*n].name), "%s", name);
	(*arr)[*n].master = master;
	(*arr)[*n].port = port;
	(*n)++;
	return 0;
}

/* Check one VNI against the observation; the first fault found is the reason. */
static bool verify_vni(struct kvtep *h, const struct vtep_vni *v, struct kv_verr *fault,
		       struct kv_expect **ex, size_t *n_ex, size_t *cap_ex)
{
	const struct kv_obs *o = &h->obs;
	char brname[IFNAMSIZ], vxname[IFNAMSIZ];
	const struct kv_link *br, *vx, *p;
	size_t i;
	bool ok = true;

	name_bridge(brname, sizeof(brname), v->vni);
	name_vxlan(vxname, sizeof(vxname), v->vni);
	br = obs_by_name(o, brname);
	vx = obs_by_name(o, vxname);
	if (!br || !br->owned || br->kind != KIND_BRIDGE) {
		verr_set(fault, LOOM_E_STATE, "bridge %s is missing", brname);
		return false;
	}
	expect_add(ex, n_ex, cap_ex, brname, 0, false);
	if (!(br->flags & IFF_UP))
		verr_set(fault, LOOM_E_STATE, "bridge %s is down", brname), ok = false;
	if (v->mtu && br->mtu != v->mtu)
		verr_set(fault, LOOM_E_STATE, "bridge %s has MTU %u, not %u", brname, br->mtu,
			 v->mtu), ok = false;
	if (!vx || !vx->owned || !vxlan_fits(h, vx, v->vni)) {
		verr_set(fault, LOOM_E_STATE, "VXLAN device %s is missing or misconfigured",
			 vxname);
		ok = false;
	} else {
		expect_add(ex, n_ex, cap_ex, vxname, br->ifindex, false);
		if (vx->master != br->ifindex)
			verr_set(fault, LOOM_E_STATE, "VXLAN device %s is not in bridge %s",
				 vxname, brname), ok = false;
		if (!(vx->flags & IFF_UP))
			verr_set(fault, LOOM_E_STATE, "VXLAN device %s is down", vxname),
				ok = false;
		if (v->mtu && vx->mtu != v->mtu)
			verr_set(fault, LOOM_E_STATE, "VXLAN device %s has MTU %u, not %u",
				 vxname, vx->mtu, v->mtu), ok = false;
		if (vx->port_learning != 0)
			verr_set(fault, LOOM_E_STATE, "bridge port %s still learns", vxname),
				ok = false;
		if (h->caps.neigh_suppress && vx->neigh_suppress != 1)
			verr_set(fault, LOOM_E_STATE,
				 "bridge port %s lacks neighbour suppression", vxname),
				ok = false;
	}
	for (i = 0; i < v->n_ports; i++) {
		p = obs_by_name(o, v->ports[i]);
		if (!p) {
			verr_set(fault, LOOM_E_NOT_FOUND, "access port %s does not exist",
				 v->ports[i]);
			ok = false;
			continue;
		}
		if (p->master != br->ifindex) {
			verr_set(fault, LOOM_E_STATE, "access port %s is not in bridge %s",
				 v->ports[i], brname);
			ok = false;
			continue;
		}
		expect_add(ex, n_ex, cap_ex, p->name, br->ifindex, true);
		if (!(p->flags & IFF_UP))
			verr_set(fault, LOOM_E_STATE, "access port %s is down", v->ports[i]),
				ok = false;
	}
	return ok;
}

/* Judge each VNI on the observation in the handle. */
static int verify_obs(struct kvtep *h, const struct vtep_desired *d, struct kvtep_vni_status *st)
{
	struct kv_expect *ex = NULL, *old;
	size_t n_ex = 0, cap_ex = 0, i;
	int bad = 0;

	for (i = 0; i < d->n_vnis; i++) {
		const struct vtep_vni *v = &d->vnis[i];
		struct kv_verr fault = { 0 };
		const struct kv_verr *why = NULL;
		bool same = h->desired == d && i < h->n_err;

		st[i].vni = v->vni;
		st[i].foreign = same && h->plan_err[i].code && h->plan_err[i].foreign;
		if (verify_vni(h, v, &fault, &ex, &n_ex, &cap_ex) &&
		    !(same && h->plan_err[i].code)) {
			st[i].state = KVTEP_VNI_PROGRAMMED;
			st[i].code = LOOM_OK;
			st[i].reason[0] = '\0';
			continue;
		}
		/* Say why it went wrong before what is wrong now. */
		if (same && h->plan_err[i].code)
			why = &h->plan_err[i];
		else if (same && h->apply_err[i].code)
			why = &h->apply_err[i];
		else
			why = &fault;
		st[i].state = KVTEP_VNI_ERROR;
		st[i].code = why->code ? why->code : LOOM_E_STATE;
		snprintf(st[i].reason, sizeof(st[i].reason), "%s", why->msg);
		bad++;
	}
	if (n_ex)	/* qsort's array may not be NULL, even empty */
		qsort(ex, n_ex, sizeof(*ex), cmp_expect);
	pthread_mutex_lock(&h->lock);
	old = h->expect;
	h->expect = ex;
	h->n_expect = n_ex;
	pthread_mutex_unlock(&h->lock);
	free(old);
	return bad;
}

int kvtep_verify(struct kvtep *h, const struct vtep_desired *d, struct kvtep_vni_status *st)
{
	int ret = kvtep_observe(h);

	return ret < 0 ? ret : verify_obs(h, d, st);
}

int kvtep_sync_plan(struct kvtep *h, const struct vtep_desired *d)
{
	int ret;

	ret = kvtep_observe(h);
	if (ret < 0)
		return ret;
	return kvtep_plan(h, d);
}

void kvtep_plan_counts(const struct kvtep *h, size_t *created, size_t *deleted)
{
	size_t n = 0;

	for (size_t i = 0; i < h->n_acts; i++)
		n += h->acts[i].op == OP_VXLAN_NEW;
	*created = n;
	*deleted = h->n_doomed;
}

bool kvtep_vni_foreign(const struct kvtep *h, const struct vtep_desired *d, size_t i)
{
	return h->desired == d && i < h->n_err && h->plan_err[i].code && h->plan_err[i].foreign;
}

int kvtep_sync_finish(struct kvtep *h, const struct vtep_desired *d, struct kvtep_vni_status *st)
{
	int ret;

	/* Nothing to send: what was just observed is still the truth. */
	if (kvtep_plan_count(h) == 0)
		return verify_obs(h, d, st);
	ret = kvtep_apply(h);
	if (ret < 0)
		return ret;
	return kvtep_verify(h, d, st);
}

int kvtep_sync(struct kvtep *h, const struct vtep_desired *d, struct kvtep_vni_status *st)
{
	int ret;

	ret = kvtep_sync_plan(h, d);
	if (ret < 0)
		return ret;
	return kvtep_sync_finish(h, d, st);
}

/* ---- drift ------------------------------------------------------------ */

static struct kv_expect *expect_find(struct kvtep *h, const char *name)
{
	size_t lo = 0, hi = h->n_expect;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(h->expect[mid].name, name);

		if (!c)
			return &h->expect[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ---- carrier of the nodes' access ports (the fault watcher) ------------ */

static int cmp_carrier(const void *a, const void *b)
{
	return strcmp(((const struct kv_carrier *)a)->name, ((const struct kv_carrier *)b)->name);
}

static struct kv_carrier *carrier_find(struct kvtep *h, const char *name)
{
	struct kv_carrier key;

	if (!h->n_carrier)
		return NULL;
	snprintf(key.name, sizeof(key.name), "%s", name);
	return bsearch(&key, h->carrier, h->n_carrier, sizeof(key), cmp_carrier);
}

int kvtep_carrier_watch(struct kvtep *h, const char *const *names, size_t n)
{
	struct kv_carrier *c = calloc(n ? n : 1, sizeof(*c)), *old;
	size_t k = 0;

	if (!c)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!names[i][0] || strlen(names[i]) >= IFNAMSIZ)
			continue;
		snprintf(c[k].name, sizeof(c[k].name), "%s", names[i]);
		c[k++].state = -1;
	}
	qsort(c, k, sizeof(*c), cmp_carrier);
	pthread_mutex_lock(&h->lock);
	/* Keep what is known about ports that stay watched. */
	for (size_t i = 0; i < k; i++) {
		const struct kv_carrier *o = carrier_find(h, c[i].name);

		if (o)
			c[i].state = o->state;
	}
	old = h->carrier;
	h->carrier = c;
	h->n_carrier = k;
	pthread_mutex_unlock(&h->lock);
	free(old);
	return 0;
}

/*
 * What a dump shows is the starting point: a port without carrier when
 * loomd starts (a node not cabled yet) is not a loss.  Only ports not known
 * yet take it; the events keep the others current.
 */
static void carrier_baseline(struct kvtep *h)
{
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->n_carrier; i++) {
		const struct kv_link *l;

		if (h->carrier[i].state >= 0)
			continue;
		l = obs_by_name(&h->obs, h->carrier[i].name);
		if (l)
			h->carrier[i].state = (l->flags & KV_IFF_LOWER_UP) ? 1 : 0;
	}
	pthread_mutex_unlock(&h->lock);
}

static void carrier_push(struct kvtep *h, const char *name, bool up)
{
	struct kvtep_carrier *c;

	/*
	 * A change that undoes one not taken yet cancels it.  The event
	 * socket is subscribed before the dump that sets the baseline, so
	 * events older than the dump can arrive after it: a port that came up
	 * while the VTEP was being built shows its old "no carrier" and then
	 * "carrier" again, both in one drain.  That is no loss.  (A real flap
	 * inside one drain, well under a millisecond, is not seen either.)
	 */
	for (size_t i = h->n_changes; i-- > 0;) {
		if (strcmp(h->changes[i].port, name))
			continue;
		if (h->changes[i].up != up) {
			memmove(&h->changes[i], &h->changes[i + 1], (h->n_changes - i - 1) * sizeof(*c));
			h->n_changes--;
			return;
		}
		break;
	}
	if (h->n_changes == h->cap_changes) {
		size_t cap = h->cap_changes ? h->cap_changes * 2 : 16;

		/* Nobody takes them (no watcher): keep the newest only. */
		if (cap > 4096) {
			memmove(h->changes, h->changes + 1, (h->n_changes - 1) * sizeof(*c));
			h->n_changes--;
		} else {
			c = realloc(h->changes, cap * sizeof(*c));
			if (!c)
				return;
			h->changes = c;
			h->cap_changes = cap;
		}
	}
	c = &h->changes[h->n_changes++];
	snprintf(c->port, sizeof(c->port), "%s", name);
	c->up = up;
}

/*
 * Carrier is IFF_LOWER_UP (the kernel clears it with the operational state
 * DOWN / LOWERLAYERDOWN, and for a port set down); a deleted port has none.
 * Called with h->lock held.
 */
static void carrier_event(struct kvtep *h, const struct nlmsghdr *nlh, const struct ifinfomsg *ifi,
			  const struct nlattr **tb)
{
	struct kv_carrier *c;
	int up;

	/* A bridge's own notices about its ports (AF_BRIDGE: a port joins, or
	 * leaves with RTM_DELLINK, when loom releases it) say nothing about
	 * the carrier. */
	if (ifi->ifi_family != AF_UNSPEC)
		return;
	c = carrier_find(h, mnl_attr_get_str(tb[IFLA_IFNAME]));
	if (!c)
		return;
	/*
	 * The carrier is IFF_LOWER_UP, as in the baseline's dump.  Not the
	 * operstate: the kernel's linkwatch updates it up to a second after
	 * the carrier, so a message in between (LOWER_UP, operstate still
	 * LOWERLAYERDOWN) would read as a loss of a carrier that just came.
	 */
	up = nlh->nlmsg_type == RTM_NEWLINK && (ifi->ifi_flags & KV_IFF_LOWER_UP);
	if (c->state >= 0 && c->state != up)
		carrier_push(h, c->name, up);
	c->state = up;
}

size_t kvtep_carrier_take(struct kvtep *h, struct kvtep_carrier *out, size_t max)
{
	size_t n;

	pthread_mutex_lock(&h->lock);
	n = h->n_changes < max ? h->n_changes : max;
	if (n) {	/* h->changes may be NULL, and memcpy's source may not */
		memcpy(out, h->changes, n * sizeof(*out));
		memmove(h->changes, h->changes + n, (h->n_changes - n) * sizeof(*out));
		h->n_changes -= n;
	}
	pthread_mutex_unlock(&h->lock);
	return n;
}

static void drain_msg(struct kvtep *h, const struct nlmsghdr *nlh, struct kv_expect **touched,
		      size_t *n_touched, size_t cap)
{
	const struct nlattr *tb[IFLA_MAX + 1] = { NULL };
	const struct ifinfomsg *ifi;
	struct kv_expect *e;

	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return;
	ifi = mnl_nlmsg_get_payload(nlh);
	if (mnl_attr_parse(nlh, sizeof(*ifi), attr_cb_link, tb) < 0 || !tb[IFLA_IFNAME])
		return;
	carrier_event(h, nlh, ifi, tb);
	e = expect_find(h, mnl_attr_get_str(tb[IFLA_IFNAME]));
	if (!e)
		return;
	/* The last event of a drain wins: passing states during an apply do not count. */
	if (!e->seen && *n_touched < cap)
		touched[(*n_touched)++] = e;
	e->seen = true;
	e->deleted = nlh->nlmsg_type == RTM_DELLINK;
	e->up = ifi->ifi_flags & IFF_UP;
	e->ev_master = tb[IFLA_MASTER] ? (int)mnl_attr_get_u32(tb[IFLA_MASTER]) : 0;
}

int kvtep_event_drain(struct kvtep *h)
{
	int fd = mnl_socket_get_fd(h->ev);
	struct kv_expect **touched = NULL;
	size_t n_touched = 0, i;
	bool drift = false;
	ssize_t n;
	int ret = 0;

	pthread_mutex_lock(&h->lock);
	touched = calloc(h->n_expect ? h->n_expect : 1, sizeof(*touched));
	if (!touched) {
		ret = -ENOMEM;
		goto out;
	}
	for (;;) {
		const struct nlmsghdr *nlh;
		int len;

		n = recv(fd, h->evbuf, KVTEP_RECV_BYTES, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == ENOBUFS) {
				/* Events were lost: only a resync can tell what changed. */
				drift = true;
				continue;
			}
			ret = -errno;
			goto out;
		}
		len = (int)n;
		for (nlh = (const struct nlmsghdr *)(const void *)h->evbuf; nlmsg_fits(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len))
			drain_msg(h, nlh, touched, &n_touched, h->n_expect);
	}
	for (i = 0; i < n_touched; i++) {
		struct kv_expect *e = touched[i];

		if (e->deleted || !e->up || (e->master && e->ev_master != e->master)) {
			log_debug(LOG_SUB_NETLINK, "kvtep %s: drift on %s", h->netns, e->name);
			drift = true;
		}
		e->seen = false;
	}
	ret = drift;
out:
	pthread_mutex_unlock(&h->lock);
	free(touched);
	return ret;
}

/* ---- for unit tests (overlay/kvtep_test.h) ----------------------------- */

struct kvtep *kvtep_test_handle(const char *vtep_ip, bool neigh_suppress)
{
	struct kvtep *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->netns_fd = -1;
	pthread_mutex_init(&h->lock, NULL);
	inet_pton(AF_INET, vtep_ip, &h->local);
	h->caps = (struct kvtep_caps){ .bridge = true, .vxlan = true,
				       .neigh_suppress = neigh_suppress };
	h->mode = VTEP_MODE_TRADITIONAL;
	return h;
}

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
			  : !strcmp(t[i].kind, "vxlan") ? KIND_VXLAN : KIND_OTHER;
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
		carrier_baseline(h);
	return ret;
}

int kvtep_test_link_event(struct kvtep *h, uint16_t type, uint8_t family, const char *name,
			  unsigned int flags, int operstate)
{
	char buf[512];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;
	struct kv_expect *touched[1];
	size_t n_touched = 0;

	nlh->nlmsg_type = type;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = family;
	ifi->ifi_index = 1;
	ifi->ifi_flags = flags;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	if (operstate >= 0)
		mnl_attr_put_u8(nlh, IFLA_OPERSTATE, (uint8_t)operstate);
	pthread_mutex_lock(&h->lock);
	drain_msg(h, nlh, touched, &n_touched, 0);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

int kvtep_test_verify(struct kvtep *h, const struct vtep_desired *d, struct kvtep_vni_status *st)
{
	return verify_obs(h, d, st);
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
	const struct nlmsghdr *nlh;
	size_t n_touched = 0;
	int left = (int)len, ret;

	if (events) {
		pthread_mutex_lock(&h->lock);
		for (nlh = buf; nlmsg_fits(nlh, left); nlh = mnl_nlmsg_next(nlh, &left))
			drain_msg(h, nlh, NULL, &n_touched, 0);
		pthread_mutex_unlock(&h->lock);
		return 0;
	}
	h->obs.n = 0;
	ret = replies_parse(&c, buf, len);
	if (ret < 0)
		return ret;
	ret = obs_index(&h->obs);
	if (ret >= 0)
		carrier_baseline(h);
	return ret;
}

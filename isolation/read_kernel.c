/*
 * isolation/read_kernel.c: one VTEP's kernel as it is, read over rtnetlink
 * (libmnl) inside the VTEP's network namespace: every link with its master,
 * netdev group, ifalias, kind and VXLAN ID, and the bridge FDB (AF_BRIDGE
 * neighbours with their VNI and remote address).
 *
 * This is a second reader, apart from the kernel VTEP target's (kvtep.c):
 * the isolation check must not take the target's word for what the kernel
 * holds, and it reads every link, not only those the target cares about.
 * Only the attribute checks are shared with it (overlay/nl_attr.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include "isolation/isolation.h"
#include "isolation/read.h"
#include "lib/log.h"
#include "overlay/nl_attr.h"

#define READ_TIMEOUT_S 5	/* a dump that stalls this long is a failure */

/* A socket in /run/netns/@netns ("" = ours); the thread comes back to its own. */
static int socket_open_in(const char *netns, struct mnl_socket **out)
{
	char path[sizeof("/run/netns/") + LOOM_NAME_MAX];
	struct timeval tv = { .tv_sec = READ_TIMEOUT_S };
	struct mnl_socket *nl = NULL;
	int self = -1, target = -1, ret = 0;

	if (netns && *netns) {
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
	}
	nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl)
		ret = -errno;
	else if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		ret = -errno;
	else
		setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (self >= 0 && setns(self, CLONE_NEWNET) < 0) {
		/* This thread would stay in the VTEP's namespace: never go on. */
		log_err("isolation: cannot return to the own network namespace: %s",
			strerror(errno));
		abort();
	}
out:
	if (ret && nl)
		mnl_socket_close(nl);
	else if (!ret)
		*out = nl;
	if (target >= 0)
		close(target);
	if (self >= 0)
		close(self);
	return ret;
}

/* ---- links ------------------------------------------------------------- */

static const struct nl_attr_policy bridge_policy[IFLA_BR_MAX + 1] = {
	[IFLA_BR_VLAN_FILTERING] = { MNL_TYPE_U8, 0 },
};

static const struct nl_attr_policy vlan_policy[IFLA_VLAN_MAX + 1] = {
	[IFLA_VLAN_ID] = { MNL_TYPE_U16, 0 },
};

static int attr_bridge(const struct nlattr *a, void *tb)
{
	return nl_attr_keep(a, tb, IFLA_BR_MAX, bridge_policy);
}

static int attr_vlan(const struct nlattr *a, void *tb)
{
	return nl_attr_keep(a, tb, IFLA_VLAN_MAX, vlan_policy);
}

/* A bridge port's VLANs (AF_BRIDGE dump with RTEXT_FILTER_BRVLAN). */
static int on_brvlan(const struct nlmsghdr *nlh, void *data)
{
	struct truth_vtep *v = data;
	const struct ifinfomsg *ifi;
	const struct nlattr *a, *b;
	struct truth_link *l = NULL;

	if (nlh->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return MNL_CB_OK;
	ifi = mnl_nlmsg_get_payload(nlh);
	for (size_t lo = 0, hi = v->n_links; lo < hi && !l;) {	/* sorted by ifindex */
		size_t mid = lo + (hi - lo) / 2;

		if (v->links[mid].ifindex == ifi->ifi_index)
			l = &v->links[mid];
		else if (v->links[mid].ifindex < ifi->ifi_index)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!l)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*ifi)) {
		if (mnl_attr_get_type(a) != IFLA_AF_SPEC)
			continue;
		mnl_attr_for_each_nested(b, a) {
			const struct bridge_vlan_info *vi;

			if (mnl_attr_get_type(b) != IFLA_BRIDGE_VLAN_INFO ||
			    mnl_attr_get_payload_len(b) < sizeof(*vi))
				continue;
			vi = mnl_attr_get_payload(b);
			l->n_vlans++;
			if (vi->flags & BRIDGE_VLAN_INFO_PVID)
				l->pvid = vi->vid;
		}
	}
	return MNL_CB_OK;
}

static int on_link(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[IFLA_MAX + 1] = { NULL };
	const struct nlattr *info[IFLA_INFO_MAX + 1] = { NULL };
	struct truth_vtep *v = data;
	const struct ifinfomsg *ifi;
	struct truth_link *l;

	if (nlh->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return MNL_CB_OK;
	ifi = mnl_nlmsg_get_payload(nlh);
	if (mnl_attr_parse(nlh, sizeof(*ifi), nl_attr_link, tb) < 0 || !tb[IFLA_IFNAME])
		return MNL_CB_OK;
	l = truth_vtep_add_link(v);
	if (!l)
		return MNL_CB_ERROR;
	l->ifindex = ifi->ifi_index;
	snprintf(l->name, sizeof(l->name), "%s", mnl_attr_get_str(tb[IFLA_IFNAME]));
	if (tb[IFLA_IFALIAS])
		snprintf(l->alias, sizeof(l->alias), "%s", mnl_attr_get_str(tb[IFLA_IFALIAS]));
	if (tb[IFLA_MASTER])
		l->master = (int)mnl_attr_get_u32(tb[IFLA_MASTER]);
	if (tb[IFLA_GROUP])
		l->group = mnl_attr_get_u32(tb[IFLA_GROUP]);
	if (!tb[IFLA_LINKINFO] ||
	    mnl_attr_parse_nested(tb[IFLA_LINKINFO], nl_attr_link_info, info) < 0 || !info[IFLA_INFO_KIND])
		return MNL_CB_OK;
	if (!strcmp(mnl_attr_get_str(info[IFLA_INFO_KIND]), "bridge")) {
		const struct nlattr *br[IFLA_BR_MAX + 1] = { NULL };

		l->kind = TRUTH_LINK_BRIDGE;
		if (info[IFLA_INFO_DATA] &&
		    mnl_attr_parse_nested(info[IFLA_INFO_DATA], attr_bridge, br) >= 0 &&
		    br[IFLA_BR_VLAN_FILTERING])
			l->vlan_filtering = mnl_attr_get_u8(br[IFLA_BR_VLAN_FILTERING]);
	} else if (!strcmp(mnl_attr_get_str(info[IFLA_INFO_KIND]), "vlan")) {
		const struct nlattr *vl[IFLA_VLAN_MAX + 1] = { NULL };

		l->kind = TRUTH_LINK_VLAN;
		if (tb[IFLA_LINK])
			l->link = (int)mnl_attr_get_u32(tb[IFLA_LINK]);
		if (info[IFLA_INFO_DATA] &&
		    mnl_attr_parse_nested(info[IFLA_INFO_DATA], attr_vlan, vl) >= 0 &&
		    vl[IFLA_VLAN_ID])
			l->vlan_id = mnl_attr_get_u16(vl[IFLA_VLAN_ID]);
	} else if (!strcmp(mnl_attr_get_str(info[IFLA_INFO_KIND]), "vrf")) {
		l->kind = TRUTH_LINK_VRF;
	} else if (!strcmp(mnl_attr_get_str(info[IFLA_INFO_KIND]), "vxlan")) {
		const struct nlattr *vx[IFLA_VXLAN_MAX + 1] = { NULL };

		l->kind = TRUTH_LINK_VXLAN;
		if (info[IFLA_INFO_DATA] &&
		    mnl_attr_parse_nested(info[IFLA_INFO_DATA], nl_attr_vxlan, vx) >= 0 &&
		    vx[IFLA_VXLAN_ID])
			l->vni = mnl_attr_get_u32(vx[IFLA_VXLAN_ID]);
	}
	return MNL_CB_OK;
}

/* ---- FDB --------------------------------------------------------------- */

static const struct nl_attr_policy neigh_policy[NDA_MAX + 1] = {
	[NDA_VNI] = { MNL_TYPE_U32, 0 },
	[NDA_MASTER] = { MNL_TYPE_U32, 0 },
	[NDA_LLADDR] = { MNL_TYPE_UNSPEC, 6 },
};

static int attr_neigh(const struct nlattr *a, void *tb)
{
	return nl_attr_keep(a, tb, NDA_MAX, neigh_policy);
}

static int on_neigh(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[NDA_MAX + 1] = { NULL };
	struct truth_vtep *v = data;
	const struct ndmsg *nd;
	struct truth_fdb *e;

	if (nlh->nlmsg_type != RTM_NEWNEIGH || mnl_nlmsg_get_payload_len(nlh) < sizeof(*nd))
		return MNL_CB_OK;
	nd = mnl_nlmsg_get_payload(nlh);
	if (nd->ndm_family != AF_BRIDGE ||
	    mnl_attr_parse(nlh, sizeof(*nd), attr_neigh, tb) < 0 || !tb[NDA_LLADDR])
		return MNL_CB_OK;
	e = truth_vtep_add_fdb(v);
	if (!e)
		return MNL_CB_ERROR;
	e->ifindex = nd->ndm_ifindex;
	memcpy(e->mac, mnl_attr_get_payload(tb[NDA_LLADDR]), sizeof(e->mac));
	if (tb[NDA_MASTER])
		e->master = (int)mnl_attr_get_u32(tb[NDA_MASTER]);
	if (tb[NDA_VNI])
		e->vni = mnl_attr_get_u32(tb[NDA_VNI]);
	if (tb[NDA_DST]) {
		uint16_t len = mnl_attr_get_payload_len(tb[NDA_DST]);

		if (len == 4)
			inet_ntop(AF_INET, mnl_attr_get_payload(tb[NDA_DST]), e->dst, sizeof(e->dst));
		else if (len == 16)
			inet_ntop(AF_INET6, mnl_attr_get_payload(tb[NDA_DST]), e->dst, sizeof(e->dst));
	}
	return MNL_CB_OK;
}

/* ---- dumps ------------------------------------------------------------- */

static int dump(struct mnl_socket *nl, uint16_t type, uint8_t family, mnl_cb_t cb,
		struct truth_vtep *v, uint32_t seq)
{
	char buf[256];	/* one request: a header and its family */
	size_t hdr = type == RTM_GETLINK ? sizeof(struct ifinfomsg) : sizeof(struct ndmsg);
	unsigned int portid = mnl_socket_get_portid(nl);
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	uint8_t *fam;
	ssize_t n;
	int rc;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	fam = mnl_nlmsg_put_extra_header(nlh, hdr);
	*fam = family;	/* ifi_family and ndm_family are both the first byte */
	/* The bridge ports' VLANs come only when asked for. */
	if (type == RTM_GETLINK && family == AF_BRIDGE)
		mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_BRVLAN);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		char rbuf[32768];

		n = mnl_socket_recvfrom(nl, rbuf, sizeof(rbuf));
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		rc = mnl_cb_run(rbuf, (size_t)n, seq, portid, cb, v);
		if (rc == MNL_CB_STOP)
			return 0;
		if (rc < 0)
			return errno ? -errno : -EIO;
	}
}

int truth_read_kernel(const char *netns, struct truth_vtep *v)
{
	struct mnl_socket *nl = NULL;
	int rc;

	rc = socket_open_in(netns, &nl);
	if (rc) {
		snprintf(v->error, sizeof(v->error), "%s%s%s: %s",
			 netns && *netns ? "network namespace " : "own network namespace",
			 netns && *netns ? netns : "", rc == -ENOENT ? " (no /run/netns entry)" : "",
			 strerror(-rc));
		goto out;
	}
	rc = dump(nl, RTM_GETLINK, AF_UNSPEC, on_link, v, (uint32_t)time(NULL));
	if (!rc)
		rc = dump(nl, RTM_GETNEIGH, AF_BRIDGE, on_neigh, v, (uint32_t)time(NULL) + 1);
	truth_vtep_finish(v);
	for (size_t i = 0; !rc && i < v->n_links; i++)
		if (v->links[i].kind == TRUTH_LINK_BRIDGE && v->links[i].vlan_filtering) {
			rc = dump(nl, RTM_GETLINK, AF_BRIDGE, on_brvlan, v, (uint32_t)time(NULL) + 2);
			if (!rc)
				rc = truth_vtep_fold_vlans(v);
			break;
		}
	if (rc)
		snprintf(v->error, sizeof(v->error), "netlink dump: %s", strerror(-rc));
	mnl_socket_close(nl);
out:
	v->kernel_rc = rc;
	return rc;
}

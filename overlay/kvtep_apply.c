/*
 * overlay/kvtep_apply.c: the kernel VTEP target's apply.  It owns sending
 * the planned actions: encoded (nl.c) stage by stage into batches of one
 * sendmsg each, every one acknowledged, a refusal recorded against its VNI;
 * the ifindexes of the bridges just made (echoed, or asked for on older
 * kernels) for the stages after; and IPv6 turned off on new devices.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include "lib/array.h"
#include "lib/log.h"
#include "overlay/kvtep_priv.h"
#include "overlay/nl.h"

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
	if (ARRAY_GROW(h->newbr, h->cap_newbr, h->n_newbr + 1))
		return -ENOMEM;
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
	kv_verr_set(act_err(h, a), LOOM_E_UNAVAILABLE, "the kernel refused to %s: %s%s%s%s", what,
		    strerror(err), msg ? " (" : "", msg ? msg : "", msg ? ")" : "");
	return 0;
}

static void apply_on_link(struct reply_ctx *c, const struct nlmsghdr *nlh)
{
	struct batch *b = c->data;
	struct kv_link l;
	uint32_t vni;

	/* NLM_F_ECHO of a bridge loom just created: learn its ifindex. */
	if (!kv_link_parse(nlh, &l) || l.kind != KIND_BRIDGE)
		return;
	if (kv_name_vni(l.name, "lb", &vni) && !newbr_find(b->h, vni))
		newbr_add(b->h, vni, l.ifindex);
	else if (!strcmp(l.name, KVTEP_VLAN_BRIDGE) && !newbr_find(b->h, 0))
		newbr_add(b->h, 0, l.ifindex);	/* vlan-aware: the one bridge, key 0 */
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
	ret = kv_send_all(h, h->sendbuf, b->off);
	if (!ret)
		ret = kv_replies_wait(&c, b->n);
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
	if (a->peer > 0)
		return a->peer;
	return newbr_find(h, h->mode == VTEP_MODE_VLAN_AWARE ? 0 : a->vni);
}

/*
 * The MAC loom gives the bridges whose MAC matters: an L3 VNI's (the router
 * MAC FRR announces) and vlan-aware mode's lbv.  Locally administered,
 * unicast: 02, the VTEP address folded to 16 bits, the VNI; unique among
 * one VTEP's bridges.  A traditional VNI's bridge gets none: one given a
 * MAC has no carrier until a port is live in it (the kernel reselects the
 * port states when the bridge ID changes), and zebra walks all interfaces
 * for each update of such a bridge.  One that picks its own takes its
 * lowest port's MAC as ports join; those events come while it is up with
 * carrier, which zebra handles without the walk.  It carries no address
 * (a routed segment's gets the gateway MAC from kvtep_route.c).
 */
void kv_mac_for(const struct kvtep *h, uint32_t vni, uint8_t mac[NL_ETH_ALEN])
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
		/* A VNI's own bridge picks its MAC: see enum kv_stage and
		 * kv_mac_for. */
		if (h->mode == VTEP_MODE_VLAN_AWARE) {
			kv_mac_for(h, a->vni, mac);
			n = nl_link_bridge_vlan_new_mac(buf, len, seq, a->name, a->mtu, KVTEP_GROUP,
							false, mac);
		} else {
			n = nl_link_bridge_new(buf, len, seq, a->name, a->mtu, KVTEP_GROUP, false);
		}
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
		if (!strcmp(a->name, KVTEP_VLAN_BRIDGE) && h->mode == VTEP_MODE_VLAN_AWARE)
			snprintf(alias, sizeof(alias), "%s", KVTEP_VLAN_BRIDGE_ALIAS);
		else if (v)
			kv_alias_for(alias, sizeof(alias), v);
		else
			break;
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
	case OP_VLAN_FLUSH:
		n = nl_bridge_vlan_flush(buf, len, seq, a->ifindex);
		break;
	case OP_VLAN_SET:
		n = nl_bridge_vlan_add(buf, len, seq, a->ifindex, a->vid, true, true);
		break;
	case OP_SUBIF_NEW:
		n = nl_link_vlan_new(buf, len, seq, a->name, a->peer, a->vid, KVTEP_GROUP);
		break;
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
		ifindex = kv_link_ifindex(h, a->name);
		if (ifindex > 0 && !newbr_add(h, a->vni, ifindex))
			qsort(h->newbr, h->n_newbr, sizeof(*h->newbr), cmp_newbr);
	}
}

static void vlan_ifindexes(struct kvtep *h, size_t i)
{
	size_t k;
	int ret;

	for (k = i; k < h->n_acts && h->acts[k].stage == ST_VLAN; k++)
		if (!h->acts[k].ifindex)
			break;
	if (k == h->n_acts || h->acts[k].stage != ST_VLAN)
		return;
	ret = kv_observe_links(h);
	if (ret < 0) {
		log_warn("kvtep %s: cannot read the new devices' ifindexes: %s", h->netns,
			 strerror(-ret));
		return;
	}
	for (; i < h->n_acts && h->acts[i].stage == ST_VLAN; i++) {
		struct kv_action *a = &h->acts[i];
		const struct kv_link *l;

		if (a->ifindex)
			continue;
		l = kv_obs_by_name(&h->obs, a->name);
		if (l)
			a->ifindex = l->ifindex;
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
	enum kv_stage stage = h->acts[i].stage;
	char path[64 + IFNAMSIZ];
	int self = -1, fd;

	if (h->netns_fd >= 0) {
		self = kv_netns_enter(h->netns_fd);
		if (self < 0)
			log_warn("kvtep %s: cannot enter the namespace to turn IPv6 off: %s",
				 h->netns, strerror(-self));
	}
	for (; i < h->n_acts && h->acts[i].stage == stage; i++) {
		if (h->netns_fd >= 0 && self < 0)
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
	if (self >= 0)
		kv_netns_leave(self);
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
		/* Everything before ST_VLAN was sent (a new stage flushed the
		 * batch): from here on a VNI can go live. */
		if (a->stage >= ST_VLAN && h->live_gate)
			kv_live_gate_pass(h);
		/* AF_BRIDGE requests name their device by ifindex only: learn
		 * those of the devices just made with one dump. */
		if (a->stage == ST_VLAN && (!i || h->acts[i - 1].stage != ST_VLAN))
			vlan_ifindexes(h, i);
		if (a->stage == ST_SYSCTL || a->stage == ST_SYSCTL_FIRST) {
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
			kv_verr_set(act_err(h, a), LOOM_E_UNAVAILABLE, "%s: %s", what,
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

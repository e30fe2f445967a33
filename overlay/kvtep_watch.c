/*
 * overlay/kvtep_watch.c: the kernel VTEP target's watch, on the main loop.
 * It owns the event socket's reading: link events against what verify
 * found right (a loom device deleted, set down or re-parented, an access
 * port out of its bridge, or events lost) make drift; and the carrier of
 * the access ports the fault watcher follows, queued change by change.
 * Everything here runs under h->lock, beside a worker using the handle.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "lib/array.h"
#include "lib/log.h"
#include "overlay/kvtep_priv.h"
#include "overlay/kvtep_test.h"

int kvtep_event_fd(const struct kvtep *h)
{
	return mnl_socket_get_fd(h->ev);
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
void kv_carrier_baseline(struct kvtep *h)
{
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->n_carrier; i++) {
		const struct kv_link *l;

		if (h->carrier[i].state >= 0)
			continue;
		l = kv_obs_by_name(&h->obs, h->carrier[i].name);
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
		/* Nobody takes them (no watcher): keep the newest only. */
		if (h->cap_changes >= 4096) {
			memmove(h->changes, h->changes + 1, (h->n_changes - 1) * sizeof(*c));
			h->n_changes--;
		} else if (ARRAY_GROW(h->changes, h->cap_changes, h->n_changes + 1)) {
			return;
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

/* ---- the drain ------------------------------------------------------- */

void kv_observe_due(struct kvtep *h, bool due)
{
	pthread_mutex_lock(&h->lock);
	h->observe_due = due;
	pthread_mutex_unlock(&h->lock);
}

static void touch(struct kv_expect *e, struct kv_expect **touched, size_t *n_touched, size_t cap)
{
	if (!e->touched && *n_touched < cap) {
		touched[(*n_touched)++] = e;
		e->touched = true;
	}
}

/*
 * An address event on a routed segment's bridge (its SVI) is drift when a
 * global address goes (a gateway, or one loom removed: the pass that
 * follows finds nothing to do) or when one failed duplicate address
 * detection (kvtep_route.c, addr_dad_failed).
 */
static void addr_event(struct kvtep *h, const struct nlmsghdr *nlh, struct kv_expect **touched,
		       size_t *n_touched, size_t cap)
{
	const struct ifaddrmsg *ifa;
	const struct nlattr *a;
	uint32_t flags;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifa))
		return;
	ifa = mnl_nlmsg_get_payload(nlh);
	flags = ifa->ifa_flags;
	mnl_attr_for_each(a, nlh, sizeof(*ifa)) {
		if (mnl_attr_get_type(a) == IFA_FLAGS && mnl_attr_get_payload_len(a) == 4)
			flags = mnl_attr_get_u32(a);
	}
	if (!(nlh->nlmsg_type == RTM_DELADDR && ifa->ifa_scope == RT_SCOPE_UNIVERSE) &&
	    !(nlh->nlmsg_type == RTM_NEWADDR && (flags & IFA_F_DADFAILED)))
		return;
	for (size_t i = 0; i < h->n_expect; i++) {
		struct kv_expect *e = &h->expect[i];

		if (e->addr_ifindex <= 0 || e->addr_ifindex != (int)ifa->ifa_index)
			continue;
		e->ev_addr_bad = true;
		touch(e, touched, n_touched, cap);
	}
}

static void drain_msg(struct kvtep *h, const struct nlmsghdr *nlh, struct kv_expect **touched,
		      size_t *n_touched, size_t cap)
{
	const struct nlattr *tb[IFLA_MAX + 1] = { NULL };
	const struct ifinfomsg *ifi;
	struct kv_expect *e;

	if (nlh->nlmsg_type == RTM_NEWADDR || nlh->nlmsg_type == RTM_DELADDR) {
		addr_event(h, nlh, touched, n_touched, cap);
		return;
	}
	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return;
	ifi = kv_link_attrs(nlh, tb);
	if (!ifi)
		return;
	carrier_event(h, nlh, ifi, tb);
	e = expect_find(h, mnl_attr_get_str(tb[IFLA_IFNAME]));
	if (!e)
		return;
	/* The last event of a drain wins: passing states during an apply do not count. */
	touch(e, touched, n_touched, cap);
	/*
	 * A bridge's own notice about a port (AF_BRIDGE) carries its VLANs;
	 * its RTM_DELLINK means the port left the bridge (the AF_UNSPEC
	 * message says that too), not that the device is gone.
	 */
	if (ifi->ifi_family == AF_BRIDGE) {
		if (e->vid && nlh->nlmsg_type == RTM_NEWLINK) {
			struct kv_link l = { 0 };
			const struct nlattr *a;

			mnl_attr_for_each(a, nlh, sizeof(*ifi)) {
				if (mnl_attr_get_type(a) == IFLA_AF_SPEC)
					kv_link_vlans(a, &l);
			}
			e->ev_vlan_ok = l.n_vlans == 1 && l.pvid == e->vid && l.pvid_untagged;
		}
		return;
	}
	e->seen = true;
	e->deleted = nlh->nlmsg_type == RTM_DELLINK;
	e->up = ifi->ifi_flags & IFF_UP;
	e->ev_master = tb[IFLA_MASTER] ? (int)mnl_attr_get_u32(tb[IFLA_MASTER]) : 0;
}

/* kvtep_event_drain, h->lock held. */
static int drain_locked(struct kvtep *h)
{
	int fd = mnl_socket_get_fd(h->ev);
	struct kv_expect **touched = NULL;
	size_t n_touched = 0, i;
	bool drift = false;
	ssize_t n;
	int ret = 0;

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
		for (nlh = (const struct nlmsghdr *)(const void *)h->evbuf; kv_nlmsg_fits(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len))
			drain_msg(h, nlh, touched, &n_touched, h->n_expect);
	}
	for (i = 0; i < n_touched; i++) {
		struct kv_expect *e = touched[i];

		if ((e->seen && (e->deleted || !e->up || (e->master && e->ev_master != e->master))) ||
		    e->ev_vlan_ok == 0 || e->ev_addr_bad) {
			log_debug(LOG_SUB_NETLINK, "kvtep %s: drift on %s", h->netns, e->name);
			drift = true;
		}
		e->seen = e->touched = e->ev_addr_bad = false;
		e->ev_vlan_ok = -1;
	}
	/*
	 * The worker is applying and will dump the links before its verdict.
	 * It cannot start that dump while this drain holds the lock, so every
	 * event read here came before it: the verdict sees what they show (a
	 * wrong state is then a bad VNI, retried), and a resync for them
	 * would only repeat the run.  Without this, a large apply's own
	 * passing states made the drain report drift every wake.
	 */
	if (drift && h->observe_due) {
		log_debug(LOG_SUB_NETLINK, "kvtep %s: drift during loom's own apply; its verdict dumps after it",
			  h->netns);
		drift = false;
	}
	ret = drift;
out:
	free(touched);
	return ret;
}

int kvtep_event_drain(struct kvtep *h)
{
	int ret;

	pthread_mutex_lock(&h->lock);
	ret = drain_locked(h);
	pthread_mutex_unlock(&h->lock);
	return ret;
}

void kv_observe_start(struct kvtep *h)
{
	pthread_mutex_lock(&h->lock);
	/*
	 * The apply's own events were all queued before its last ACK: read
	 * them now, as covered, so that the main loop does not meet the last
	 * of them after the dump and take their states (against the old
	 * expectations) for drift.  Carrier changes among them wait in the
	 * queue for kvtep_carrier_take: loomd takes them when the run reports.
	 */
	if (h->observe_due && h->ev)
		(void)drain_locked(h);
	h->observe_due = false;
	pthread_mutex_unlock(&h->lock);
}

/* ---- for unit tests (overlay/kvtep_test.h) ----------------------------- */

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

void kv_test_events(struct kvtep *h, const void *buf, size_t len)
{
	const struct nlmsghdr *nlh;
	size_t n_touched = 0;
	int left = (int)len;

	pthread_mutex_lock(&h->lock);
	for (nlh = buf; kv_nlmsg_fits(nlh, left); nlh = mnl_nlmsg_next(nlh, &left))
		drain_msg(h, nlh, NULL, &n_touched, 0);
	pthread_mutex_unlock(&h->lock);
}

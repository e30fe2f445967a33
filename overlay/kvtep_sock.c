/*
 * overlay/kvtep_sock.c: the kernel VTEP target's transport.  It owns the
 * two netlink sockets (requests and events), opened inside the VTEP's
 * network namespace, entering and leaving that namespace, and one exchange
 * on the request socket: send, then read replies in a sequence range until
 * every ACK (or a dump's end) has come.  What the messages say is decided
 * by the callers (observe, probe, apply); encoding lives in nl.c.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "lib/log.h"
#include "overlay/kvtep_priv.h"

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
	/* Subscribed before the first dump, so no change falls between them.
	 * Addresses: a routed segment's gateways (kvtep_watch.c). */
	ret = mnl_socket_bind(h->ev, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
			      MNL_SOCKET_AUTOPID);
	if (ret < 0)
		return -errno;
	h->req_portid = mnl_socket_get_portid(h->req);
	return 0;
}

int kv_netns_enter(int fd)
{
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int ret;

	if (self < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET) < 0) {
		ret = -errno;
		close(self);
		return ret;
	}
	return self;
}

void kv_netns_leave(int self)
{
	if (setns(self, CLONE_NEWNET) < 0) {
		/* This thread would stay in the VTEP's namespace: never go on. */
		log_err("kvtep: cannot return to the own network namespace: %s",
			strerror(errno));
		abort();
	}
	close(self);
}

/* Create the sockets inside /run/netns/@netns, then return to our own. */
int kv_sockets_open_in(struct kvtep *h, const char *netns)
{
	char path[sizeof("/run/netns/") + LOOM_NAME_MAX];
	int self, target, ret;

	if (!netns || !*netns)
		return sockets_open(h);
	if (strchr(netns, '/') || !strcmp(netns, ".") || !strcmp(netns, "..") ||
	    strlen(netns) >= LOOM_NAME_MAX)
		return -EINVAL;
	snprintf(path, sizeof(path), "/run/netns/%s", netns);
	target = open(path, O_RDONLY | O_CLOEXEC);
	if (target < 0)
		return -errno;
	self = kv_netns_enter(target);
	if (self < 0) {
		close(target);
		return self;
	}
	ret = sockets_open(h);
	if (!ret)
		h->netns_fd = target;	/* kept for the per-device sysctls */
	else
		close(target);
	kv_netns_leave(self);
	return ret;
}

/* ---- requests and replies --------------------------------------------- */

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

/* Handle one datagram's messages; returns 1 when a dump ended, 0, or -errno. */
int kv_replies_parse(struct reply_ctx *c, const char *buf, size_t n)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)(const void *)buf;
	int len = (int)n, done = 0;

	for (; kv_nlmsg_fits(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
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
		case RTM_NEWADDR:
			if (c->on_addr)
				c->on_addr(c, nlh);
			break;
		default:
			break;	/* nothing else is asked for */
		}
	}
	return done;
}

/* Receive until @want ACKs (or, with want == 0, a dump's DONE) arrived. */
int kv_replies_wait(struct reply_ctx *c, size_t want)
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
		ret = kv_replies_parse(c, h->recvbuf, (size_t)n);
		if (ret < 0)
			return ret;
		if (!want && ret == 1)
			return 0;
	}
}

int kv_send_all(struct kvtep *h, const void *buf, size_t len)
{
	ssize_t n = mnl_socket_sendto(h->req, buf, len);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

/* Send one request and wait for its ACK; returns 0 or the kernel's -errno. */
int kv_request_one(struct kvtep *h, size_t len)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)(void *)h->sendbuf;
	struct reply_ctx c = { .h = h };
	int ret;

	if (!len)
		return -EMSGSIZE;
	c.seq_lo = nlh->nlmsg_seq;
	c.seq_hi = nlh->nlmsg_seq + 1;
	ret = kv_send_all(h, h->sendbuf, len);
	if (ret)
		return ret;
	ret = kv_replies_wait(&c, 1);
	return ret ? ret : c.first_err;
}

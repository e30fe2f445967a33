/*
 * src/server_frame.c: the API socket's clients (src/server_frame.h).
 *
 * Nothing here blocks: client sockets are non-blocking, a client whose
 * replies pile up is not read until it drains them (OUT_HIGH_WATER), and
 * a request line longer than max_request_bytes is refused before more
 * memory is given to it.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"
#include "src/server_frame.h"

#define READ_CHUNK 65536

int server_epoll_mod(struct loomd *d, int op, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	return epoll_ctl(d->epfd, op, fd, &ev) ? -errno : 0;
}

static bool peer_in_group(int fd, gid_t primary, gid_t want)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (want == (gid_t)-1)
		return false;
	if (primary == want)
		return true;
	/* SO_PEERGROUPS: the peer's supplementary groups as of connect(). */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len))
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == want)
			return true;
	return false;
}

void client_accept(struct loomd *d)
{
	for (;;) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		struct client *c;
		int fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn("accept: %s", strerror(errno));
			return;
		}
		if (d->n_clients >= d->cfg.max_clients || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
			log_warn("refusing a client: %s", d->n_clients >= d->cfg.max_clients
				 ? "max_clients reached" : strerror(errno));
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		c->fd = fd;
		c->peer.uid = cred.uid;
		c->peer.gid = cred.gid;
		c->peer.pid = cred.pid;
		if (cred.uid == 0 || peer_in_group(fd, cred.gid, d->cfg.admin_gid))
			c->peer.role = ROLE_ADMIN;
		else if (peer_in_group(fd, cred.gid, d->cfg.reader_gid))
			c->peer.role = ROLE_READER;
		c->events = EPOLLIN;
		if (server_epoll_mod(d, EPOLL_CTL_ADD, fd, EPOLLIN, c)) {
			close(fd);
			free(c);
			continue;
		}
		c->next = d->clients;
		if (d->clients)
			d->clients->prev = c;
		d->clients = c;
		d->n_clients++;
		log_debug(LOG_SUB_API, "client fd %d: uid %u gid %u pid %d role %d", fd,
			  (unsigned)cred.uid, (unsigned)cred.gid, (int)cred.pid, c->peer.role);
	}
}

void client_close(struct loomd *d, struct client *c)
{
	if (c->dead)
		return;
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->dead = true;
}

/*
 * What to wait for: input unless the client finished sending (a closed
 * input is readable for ever and would spin the loop), output while some
 * is unsent.
 */
void client_watch(struct loomd *d, struct client *c)
{
	uint32_t events = (c->closing ? 0 : EPOLLIN) | (c->out_len > 0 ? EPOLLOUT : 0);

	if (c->dead || events == c->events)
		return;
	c->events = events;
	server_epoll_mod(d, EPOLL_CTL_MOD, c->fd, events, c);
}

void client_flush(struct loomd *d, struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			client_close(d, c);
			return;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		if (c->closing && !c->has_lines && !c->waiting) {
			client_close(d, c);
			return;
		}
	}
	client_watch(d, c);
}

void client_send(struct loomd *d, struct client *c, json_t *reply)
{
	char *text;
	size_t len;

	if (c->dead || !reply)
		return;
	text = json_dumps(reply, JSON_COMPACT);
	if (!text) {
		client_close(d, c);
		return;
	}
	len = strlen(text);
	if (c->out_len + len + 1 > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *p;

		while (cap < c->out_len + len + 1)
			cap *= 2;
		p = realloc(c->out, cap);
		if (!p) {
			free(text);
			client_close(d, c);
			return;
		}
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, text, len);
	c->out[c->out_len + len] = '\n';
	c->out_len += len + 1;
	free(text);
	client_flush(d, c);
}

bool client_read(struct loomd *d, struct client *c)
{
	size_t limit = d->cfg.max_request_bytes + 1;	/* a full line plus its newline */

	for (;;) {
		ssize_t n;
		size_t room;

		if (c->in_cap - c->in_len < READ_CHUNK && c->in_cap < limit) {
			size_t cap = c->in_cap ? c->in_cap * 2 : READ_CHUNK;
			char *p;

			if (cap > limit)
				cap = limit;
			p = realloc(c->in, cap);
			if (!p)
				return false;
			c->in = p;
			c->in_cap = cap;
		}
		room = c->in_cap - c->in_len;
		if (room == 0)
			break;	/* full: the line scan decides whether it is too large */
		n = read(c->fd, c->in + c->in_len, room);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return false;
		}
		if (n == 0) {
			/* End of input: a last request without its newline still counts. */
			if (c->in_len == 0 && c->out_len == 0 && !c->waiting)
				return false;
			c->closing = true;
			if (c->in_len > 0 && c->in[c->in_len - 1] != '\n') {
				if (c->in_len == c->in_cap) {
					char *p = realloc(c->in, c->in_cap + 1);

					if (!p)
						return false;
					c->in = p;
					c->in_cap++;
				}
				c->in[c->in_len++] = '\n';
			}
			break;
		}
		c->in_len += (size_t)n;
		if ((size_t)n < room)
			break;
	}
	c->has_lines = memchr(c->in, '\n', c->in_len) != NULL || c->in_len >= limit;
	return true;
}

void client_free(struct loomd *d, struct client *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		d->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->in);
	free(c->out);
	d->n_subscribers -= c->subscribed;
	free(c);
	d->n_clients--;
}

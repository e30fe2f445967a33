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
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/monotime.h"
#include "src/server_frame.h"
#include "src/server_limit.h"
#include "src/server_tls.h"

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

static void client_link(struct loomd *d, struct client *c)
{
	c->next = d->clients;
	if (d->clients)
		d->clients->prev = c;
	d->clients = c;
	d->n_clients++;
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
		snprintf(c->peer.principal, sizeof(c->peer.principal), "uid:%u", (unsigned)cred.uid);
		if (cred.uid == 0 || peer_in_group(fd, cred.gid, d->cfg.admin_gid))
			c->peer.role = ROLE_ADMIN;
		else if (peer_in_group(fd, cred.gid, d->cfg.reader_gid))
			c->peer.role = ROLE_READER;
		for (size_t i = 0; c->peer.role == ROLE_NONE && i < d->cfg.n_tenant_groups; i++)
			if (peer_in_group(fd, cred.gid, d->cfg.tenant_groups[i].gid)) {
				c->peer.role = ROLE_TENANT;
				snprintf(c->peer.tenant, sizeof(c->peer.tenant), "%s", d->cfg.tenant_groups[i].tenant);
			}
		c->events = EPOLLIN;
		if (server_epoll_mod(d, EPOLL_CTL_ADD, fd, EPOLLIN, c)) {
			close(fd);
			free(c);
			continue;
		}
		client_link(d, c);
		limit_connect(d, c);
		log_debug(LOG_SUB_API, "client fd %d: uid %u gid %u pid %d role %d", fd,
			  (unsigned)cred.uid, (unsigned)cred.gid, (int)cred.pid, c->peer.role);
	}
}

static void addr_text(const struct sockaddr_storage *sa, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned int port = 0;

	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(buf, size, "%s:%u", host, port);
	} else if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(buf, size, "[%s]:%u", host, port);
	} else {
		snprintf(buf, size, "?");
	}
}

void client_accept_tls(struct loomd *d)
{
	for (;;) {
		struct sockaddr_storage sa;
		socklen_t salen = sizeof(sa);
		int one = 1;
		struct client *c;
		int fd = accept4(server_tls_fd(d->tls), (struct sockaddr *)&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn("accept (TLS): %s", strerror(errno));
			return;
		}
		if (d->n_clients >= d->cfg.max_clients) {
			log_warn("refusing a TLS client: max_clients reached");
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (!c || !(c->ssl = server_tls_session(d->tls, fd))) {
			free(c);
			close(fd);
			return;
		}
		c->fd = fd;
		addr_text(&sa, c->addr, sizeof(c->addr));
		c->handshaking = true;
		c->handshake_deadline_ms = mono_ms() + (int64_t)d->cfg.tls_handshake_timeout_s * 1000;
		c->events = EPOLLIN;
		if (server_epoll_mod(d, EPOLL_CTL_ADD, fd, EPOLLIN, c)) {
			SSL_free(c->ssl);
			close(fd);
			free(c);
			continue;
		}
		client_link(d, c);
		/* The ClientHello is often there already. */
		client_handshake(d, c);
	}
}

void client_handshake(struct loomd *d, struct client *c)
{
	uint32_t events = EPOLLIN;
	int rc;

	if (c->refused) {
		char sink[4096];
		ssize_t n;

		while ((n = read(c->fd, sink, sizeof(sink))) > 0)
			;
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			client_close(d, c);
		return;
	}
	rc = server_tls_handshake(c->ssl, &d->cfg, c->addr, &c->peer, &events);
	if (rc == -2) {
		/*
		 * Over TLS 1.3 the client may already be sending its request when
		 * the alert saying why it was refused goes out: closing now with
		 * that request unread would reset the connection and lose the
		 * alert.  So the input is read and dropped until the client
		 * closes, for a second at most.
		 */
		c->refused = true;
		shutdown(c->fd, SHUT_WR);
		c->handshake_deadline_ms = mono_ms() + 1000;
		if (c->events != EPOLLIN) {
			c->events = EPOLLIN;
			server_epoll_mod(d, EPOLL_CTL_MOD, c->fd, EPOLLIN, c);
		}
		return;
	}
	if (rc < 0) {
		client_close(d, c);
		return;
	}
	if (rc == 0) {
		if (events != c->events) {
			c->events = events;
			server_epoll_mod(d, EPOLL_CTL_MOD, c->fd, events, c);
		}
		return;
	}
	c->handshaking = false;
	limit_connect(d, c);
	client_watch(d, c);
	/* Requests that came with the handshake's last flight. */
	if (!client_read(d, c))
		client_close(d, c);
}

int client_handshakes_expire(struct loomd *d)
{
	int64_t now = mono_ms(), next = -1;

	for (struct client *c = d->clients; c; c = c->next) {
		if (c->dead || !c->handshaking)
			continue;
		if (c->handshake_deadline_ms <= now) {
			if (!c->refused)
				log_warn("TLS client %s refused: no handshake within %u s", c->addr,
					 d->cfg.tls_handshake_timeout_s);
			client_close(d, c);
		} else if (next < 0 || c->handshake_deadline_ms - now < next) {
			next = c->handshake_deadline_ms - now;
		}
	}
	return next < 0 ? -1 : (int)next + 1;
}

void client_close(struct loomd *d, struct client *c)
{
	if (c->dead)
		return;
	limit_disconnect(d, c);
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->ssl) {
		/* A close_notify if the socket takes it now; never waited for. */
		if (!c->handshaking)
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
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

	if (c->dead || c->handshaking || events == c->events)
		return;
	c->events = events;
	server_epoll_mod(d, EPOLL_CTL_MOD, c->fd, events, c);
}

void client_flush(struct loomd *d, struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = c->ssl ? server_tls_write(c->ssl, c->out + c->out_off, c->out_len - c->out_off)
				   : write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

		if (c->ssl && n < 0) {
			if (n == -EAGAIN)
				break;
			client_close(d, c);
			return;
		}
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
		if (c->ssl) {
			n = server_tls_read(c->ssl, c->in + c->in_len, room);
			if (n == -EAGAIN)
				break;
			if (n < 0)
				return false;
		} else {
			n = read(c->fd, c->in + c->in_len, room);
		}
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
		/* A TLS read ends at a record: go on until the session has no more. */
		if ((size_t)n < room && !c->ssl)
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
	SSL_free(c->ssl);
	free(c->in);
	free(c->out);
	d->n_subscribers -= c->subscribed;
	json_decref(c->ev_seen);
	free(c);
	d->n_clients--;
}

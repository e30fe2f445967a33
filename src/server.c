/*
 * src/server.c: loomd's event loop (src/server.h).
 *
 * One epoll loop owns every file descriptor: the listening socket and the
 * clients (src/server_frame.c), a signalfd, the resync timer, the
 * reconciler's event and drift fds, and those other parts of loomd asked
 * it to watch (loomd_fd_add).  Each iteration reads what is ready, takes
 * the complete request lines into one batch and commits it
 * (src/server_batch.c), then streams the node events committed
 * (src/server_events.c).  What the rest of loomd does about a commit, a
 * report of the targets or a drift event, the loop does not know: it
 * calls the hooks (src/daemon.h).
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/log.h"
#include "src/readiness.h"
#include "src/reconcile.h"
#include "src/server.h"
#include "src/server_batch.h"
#include "src/server_events.h"
#include "src/server_frame.h"
#include "src/server_limit.h"
#include "src/server_tls.h"

/* Tags for epoll's data.ptr so one switch dispatches every event. */
static char tag_listen, tag_tls, tag_signal, tag_resync, tag_reconcile;

static char *drift_tags;	/* one byte per drift fd of the reconciler */
static size_t n_drift_tags;

/* Is there a live loomd on this socket?  Then we must not unlink it. */
static bool socket_in_use(const struct sockaddr_un *addr)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool used;

	if (fd < 0)
		return false;
	used = connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0;
	close(fd);
	return used;
}

static int mkdir_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

static int listen_open(struct loomd *d, struct loom_err *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	gid_t group = d->cfg.reader_gid != (gid_t)-1 ? d->cfg.reader_gid : d->cfg.admin_gid;
	mode_t old;
	int fd, ret;

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", d->cfg.socket);
	if (socket_in_use(&addr))
		return loom_err_set(err, LOOM_E_CONFIG, "socket",
				    "another loomd is listening on %s", d->cfg.socket);
	ret = mkdir_parent(d->cfg.socket);
	if (ret)
		return loom_err_set(err, LOOM_E_CONFIG, "socket", "cannot create the folder of %s: %s",
				    d->cfg.socket, strerror(-ret));
	unlink(d->cfg.socket);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "socket: %s", strerror(errno));
	/* The socket is born with its final permissions: no window where it is wider. */
	old = umask(~d->cfg.socket_mode & 0777);
	ret = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old);
	if (ret) {
		ret = loom_err_set(err, LOOM_E_CONFIG, "socket", "cannot bind %s: %s", d->cfg.socket, strerror(errno));
		goto fail;
	}
	if (group != (gid_t)-1 && chown(d->cfg.socket, (uid_t)-1, group))
		log_warn("cannot give %s to group %u: %s", d->cfg.socket, (unsigned)group, strerror(errno));
	if (listen(fd, 128)) {
		ret = loom_err_set(err, LOOM_E_INTERNAL, "", "listen: %s", strerror(errno));
		goto fail;
	}
	d->listen_fd = fd;
	return server_epoll_mod(d, EPOLL_CTL_ADD, fd, EPOLLIN, &tag_listen);
fail:
	close(fd);
	return ret;
}

static int signals_open(struct loomd *d)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	d->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->signal_fd < 0)
		return -errno;
	return server_epoll_mod(d, EPOLL_CTL_ADD, d->signal_fd, EPOLLIN, &tag_signal);
}

static int resync_open(struct loomd *d)
{
	struct itimerspec its = {
		.it_interval.tv_sec = d->cfg.resync_interval_s,
		.it_value.tv_sec = d->cfg.resync_interval_s,
	};

	d->resync_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (d->resync_fd < 0)
		return -errno;
	if (timerfd_settime(d->resync_fd, 0, &its, NULL))
		return -errno;
	return server_epoll_mod(d, EPOLL_CTL_ADD, d->resync_fd, EPOLLIN, &tag_resync);
}

int server_open(struct loomd *d, struct loom_err *err)
{
	int ret;

	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->listen_fd = d->signal_fd = d->resync_fd = -1;
	if (d->epfd < 0)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "epoll_create1: %s", strerror(errno));
	ret = signals_open(d);
	if (!ret)
		ret = resync_open(d);
	for (size_t i = 0; !ret && i < d->n_fds; i++)
		ret = server_epoll_mod(d, EPOLL_CTL_ADD, d->fds[i].fd, EPOLLIN, &d->fds[i]);
	if (ret)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "event loop set-up: %s", strerror(-ret));
	ret = listen_open(d, err);
	if (ret || !d->cfg.listen_host[0])
		return ret;
	ret = server_tls_open(&d->tls, &d->cfg, err);
	if (ret)
		return ret;
	log_info("listening on tls://%s:%s", d->cfg.listen_host, d->cfg.listen_port);
	return server_epoll_mod(d, EPOLL_CTL_ADD, server_tls_fd(d->tls), EPOLLIN, &tag_tls);
}

/* SIGHUP: the TLS key, certificate, CA and CRL are read again. */
static void tls_reload(struct loomd *d)
{
	struct loom_err err = { 0 };

	if (!d->tls)
		return;
	if (server_tls_reload(d->tls, &d->cfg, &err))
		log_err("TLS files reload refused, keeping the old ones: %s", err.msg);
	else
		log_info("TLS key, certificate, CA and CRL reloaded");
}

/* Frees the clients closed during this iteration, and their waiters. */
static void clients_reap(struct loomd *d)
{
	struct client *c = d->clients, *next;

	for (; c; c = next) {
		next = c->next;
		if (!c->dead)
			continue;
		waiters_drop(d, c);
		client_free(d, c);
	}
}

/* Watches the drift fds the reconciler has that the loop does not watch yet. */
static int drift_watch_new(struct loomd *d)
{
	size_t n = reconciler_n_drift_fds(d->rec);
	int ret = 0;

	for (; !ret && n_drift_tags < n; n_drift_tags++) {
		ret = server_epoll_mod(d, EPOLL_CTL_ADD, reconciler_drift_fd(d->rec, n_drift_tags), EPOLLIN,
				&drift_tags[n_drift_tags]);
		if (ret)
			log_err("cannot watch the drift events of a VTEP: %s", strerror(-ret));
	}
	return ret;
}

int server_add_reconciler(struct loomd *d, struct loom_err *err)
{
	size_t cap = reconciler_max_drift_fds(d->rec);
	int ret = server_epoll_mod(d, EPOLL_CTL_ADD, reconciler_event_fd(d->rec), EPOLLIN, &tag_reconcile);

	/* Room for every VTEP's fd up front: epoll holds pointers into it. */
	free(drift_tags);
	drift_tags = calloc(cap ? cap : 1, 1);
	n_drift_tags = 0;
	if (!drift_tags)
		ret = -ENOMEM;
	if (!ret)
		ret = drift_watch_new(d);
	if (ret)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "cannot watch the reconciler: %s", strerror(-ret));
	return 0;
}

static void handle_signal(struct loomd *d)
{
	struct signalfd_siginfo si;

	while (read(d->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			d->reload_requested = true;
		else
			d->stop = true;
	}
}

int server_run(struct loomd *d)
{
	struct epoll_event events[64];
	bool events_more = false;

	/* Replacements a restart interrupted go on from their stored step,
	 * and RDMA checks it cut short run again. */
	loomd_hook_call(d, LOOMD_HOOK_START);

	while (!d->stop) {
		bool pending = events_more, reported = false;
		int n, timeout, handshakes;

		for (struct client *c = d->clients; c; c = c->next)
			pending |= !c->dead && (c->has_lines || (c->ssl && !c->handshaking && SSL_pending(c->ssl) > 0));
		timeout = pending ? 0 : waiters_timeout_ms(d);
		handshakes = d->tls ? client_handshakes_expire(d) : -1;
		if (handshakes >= 0 && (timeout < 0 || handshakes < timeout))
			timeout = handshakes;
		n = epoll_wait(d->epfd, events, 64, timeout);
		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < n; i++) {
			void *ptr = events[i].data.ptr;
			struct client *c = ptr;

			if (ptr == &tag_listen) {
				client_accept(d);
			} else if (ptr == &tag_tls) {
				client_accept_tls(d);
			} else if (ptr == &tag_signal) {
				handle_signal(d);
			} else if (ptr == &tag_resync) {
				uint64_t ticks;

				if (read(d->resync_fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
					log_warn("resync timer: %s", strerror(errno));
				if (d->rec)
					reconciler_resync_all(d->rec);
			} else if ((struct loomd_fd *)ptr >= d->fds && (struct loomd_fd *)ptr < d->fds + d->n_fds) {
				((struct loomd_fd *)ptr)->fn(d);
			} else if (ptr == &tag_reconcile) {
				/* A controller that stopped leading earlier in this
				 * batch of events (cluster.ha) stopped its reconciler:
				 * what it had reported is gone with it. */
				if (!d->rec)
					continue;
				/* The targets reported: their watchers now; the
				 * waiters, then what waits for convergence, once the
				 * batch is done (below). */
				reconciler_collect(d->rec);
				loomd_hook_call(d, LOOMD_HOOK_REPORTED);
				drift_watch_new(d);
				/* A worker reads its VTEP's pending events itself
				 * before its verdict's dump (kvtep_watch.c,
				 * kv_observe_start): what it queued for the drift
				 * hooks (carrier changes) is taken now. */
				for (size_t k = 0; k < n_drift_tags; k++)
					loomd_drift_hook_call(d, k);
				reported = true;
			} else if (drift_tags && (char *)ptr >= drift_tags && (char *)ptr < drift_tags + n_drift_tags) {
				size_t k = (size_t)((char *)ptr - drift_tags);

				if (!d->rec)
					continue;
				reconciler_drift(d->rec, k);
				loomd_drift_hook_call(d, k);
			} else {
				if (c->dead)
					continue;
				if (c->handshaking) {
					client_handshake(d, c);
					continue;
				}
				if (events[i].events & EPOLLOUT)
					client_flush(d, c);
				if (!c->dead && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				    && c->out_len - c->out_off < OUT_HIGH_WATER && !c->closing
				    && !client_read(d, c))
					client_close(d, c);
				else if (!c->dead && c->closing)
					client_watch(d, c);
			}
		}
		/* What a TLS session decrypted but the input buffer had no room for. */
		for (struct client *c = d->clients; c; c = c->next)
			if (c->ssl && !c->dead && !c->handshaking && !c->closing && SSL_pending(c->ssl) > 0
			    && c->out_len - c->out_off < OUT_HIGH_WATER && !client_read(d, c))
				client_close(d, c);
		for (struct client *c = d->clients; c; c = c->next)
			if (c->has_lines && !c->dead && c->out_len - c->out_off < OUT_HIGH_WATER)
				client_take_lines(d, c);
		/* The commit, then, once per iteration, the commit hooks, the
		 * leader's word (cluster.ha) and the waiters (waiters_check). */
		batch_finish(d, reported);
		if (reported)
			loomd_hook_call(d, LOOMD_HOOK_CONVERGED);
		events_more = events_pump(d);
		for (struct client *c = d->clients; c; c = c->next)
			if (c->closing && !c->dead && !c->has_lines && c->out_len == 0 && !c->waiting)
				client_close(d, c);
		clients_reap(d);
		if (d->reload_requested) {
			struct loom_err err = { 0 };

			d->reload_requested = false;
			loomd_readiness_reloading(d);
			tls_reload(d);
			if (loomd_topology_reload(d, &err))
				log_err("topology reload refused, keeping the old one: %s%s%s", err.msg,
					err.field[0] ? " at " : "", err.field);
			else
				log_info("topology reloaded from %s", d->cfg.topology);
			loomd_readiness_reloaded(d, err.code == LOOM_OK);
		}
	}
	return 0;
}

void server_close(struct loomd *d)
{
	waiters_drop(d, NULL);
	free(drift_tags);
	drift_tags = NULL;
	for (struct client *c = d->clients; c; c = c->next)
		client_close(d, c);
	clients_reap(d);
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		unlink(d->cfg.socket);
	}
	server_tls_close(&d->tls);
	limit_free(d);
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	if (d->resync_fd >= 0)
		close(d->resync_fd);
	if (d->epfd >= 0)
		close(d->epfd);
}

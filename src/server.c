/*
 * src/server.c: loomd's event loop and the API socket.
 *
 * One epoll loop owns every file descriptor: the listening socket, the
 * clients, a signalfd and the resync timer.  Nothing in it blocks: client
 * sockets are non-blocking, a client whose replies pile up is not read
 * until it drains them, and a request line longer than max_request_bytes
 * is refused before more memory is given to it.
 *
 * Requests that arrive together are handled as one batch: reads answer at
 * once from the in-memory model; writes run each in a SAVEPOINT of one
 * SQLite transaction (group commit), and every reply of the batch is sent
 * only after that transaction's COMMIT is durable.  A request that fails
 * rolls back to its savepoint and leaves nothing behind.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "src/daemon.h"
#include "src/reconcile.h"
#include "src/rpc.h"
#include "src/verify.h"

/* Per client, at most this many requests are taken per batch (fairness). */
#define LINES_PER_BATCH 64
/* Stop reading a client while this much of its output is unsent. */
#define OUT_HIGH_WATER (1u << 20)
#define READ_CHUNK 65536
#define MAX_BATCH 4096

struct client {
	struct client *prev, *next;
	int fd;
	struct api_peer peer;
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_len, out_off, out_cap;
	uint32_t events;	/* what epoll watches for it */
	bool closing;		/* close once the output is flushed */
	bool dead;		/* closed; freed at the end of the iteration */
	bool has_lines;		/* complete lines left in the input buffer */
	bool too_large;		/* a line over the limit: nothing more is read */
	unsigned int waiting;	/* replies held back until the targets converge */
	/* events.subscribe: node events after ev_after (of ev_node, or all)
	 * are sent as notifications. */
	bool subscribed;
	int64_t ev_after;
	char ev_node[LOOM_NAME_MAX];
};

/* A reply waiting for the batch's commit. */
struct pending {
	struct client *client;
	json_t *reply;		/* the reply if all goes well */
	json_t *id;
	bool wrote;		/* a successful write: its reply depends on the COMMIT */
	json_t *result;		/* with wait: the result, answered once targets converge */
	int wait_s;
	char replace_old[LOOM_NAME_MAX];	/* with wait: the replacement it waits for */
	char rdma_node[LOOM_NAME_MAX];	/* with wait: also until this node's RDMA check ends */
};

/* A successful write whose client asked to wait for the targets. */
struct waiter {
	struct waiter *next;
	struct client *client;
	json_t *id;
	json_t *result;
	uint64_t gen;
	int64_t deadline_ns;	/* CLOCK_MONOTONIC */
	char replace_old[LOOM_NAME_MAX];	/* "" or: answer once this replacement ended */
	char rdma_node[LOOM_NAME_MAX];	/* node.verify: also until its RDMA check ended */
};

static struct pending batch[MAX_BATCH];
static size_t n_batch;

/* Tags for epoll's data.ptr so one switch dispatches every event. */
static char tag_listen, tag_signal, tag_resync, tag_reconcile, tag_rdma;
static char *drift_tags;	/* one byte per drift fd of the reconciler */
static size_t n_drift_tags;

static int64_t now_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t now_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int epoll_mod(struct loomd *d, int op, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	return epoll_ctl(d->epfd, op, fd, &ev) ? -errno : 0;
}

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
	return epoll_mod(d, EPOLL_CTL_ADD, fd, EPOLLIN, &tag_listen);
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
	return epoll_mod(d, EPOLL_CTL_ADD, d->signal_fd, EPOLLIN, &tag_signal);
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
	return epoll_mod(d, EPOLL_CTL_ADD, d->resync_fd, EPOLLIN, &tag_resync);
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
	if (!ret && d->rdma_fd >= 0)
		ret = epoll_mod(d, EPOLL_CTL_ADD, d->rdma_fd, EPOLLIN, &tag_rdma);
	if (ret)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "event loop set-up: %s", strerror(-ret));
	return listen_open(d, err);
}

/* ---- clients ---------------------------------------------------------- */

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

static void client_accept(struct loomd *d)
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
		if (epoll_mod(d, EPOLL_CTL_ADD, fd, EPOLLIN, c)) {
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

static void client_close(struct loomd *d, struct client *c)
{
	if (c->dead)
		return;
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->dead = true;
}

static void waiter_free(struct waiter *w)
{
	json_decref(w->id);
	json_decref(w->result);
	free(w);
}

static void clients_reap(struct loomd *d)
{
	struct client *c = d->clients, *next;

	for (; c; c = next) {
		next = c->next;
		if (!c->dead)
			continue;
		for (struct waiter **pw = &d->waiters; *pw;) {
			struct waiter *w = *pw;

			if (w->client == c) {
				*pw = w->next;
				waiter_free(w);
			} else {
				pw = &w->next;
			}
		}
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
}

/*
 * What to wait for: input unless the client finished sending (a closed
 * input is readable for ever and would spin the loop), output while some
 * is unsent.
 */
static void client_watch(struct loomd *d, struct client *c)
{
	uint32_t events = (c->closing ? 0 : EPOLLIN) | (c->out_len > 0 ? EPOLLOUT : 0);

	if (c->dead || events == c->events)
		return;
	c->events = events;
	epoll_mod(d, EPOLL_CTL_MOD, c->fd, events, c);
}

static void client_flush(struct loomd *d, struct client *c)
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

static void client_send(struct loomd *d, struct client *c, json_t *reply)
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

/* Reads what the socket has; returns false when the client went away. */
static bool client_read(struct loomd *d, struct client *c)
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

/* ---- requests --------------------------------------------------------- */

static void audit_write(struct loomd *d, const struct api_peer *peer, const char *method,
			json_t *params, json_t *result, struct loom_err *err)
{
	struct audit_entry e = {
		.time_ns = now_realtime_ns(),
		.uid = peer->uid,
		.gid = peer->gid,
		.pid = peer->pid,
		.method = method,
	};
	char *p = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	char *r = json_dumps(result ? result : json_null(), JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

	e.params = p ? p : "{}";
	e.result = r ? r : "null";
	if (store_audit_append(d->store, &e))
		loom_err_set(err, LOOM_E_STORE, "", "cannot write the audit record: %s", store_errmsg(d->store));
	free(p);
	free(r);
}

static int batch_begin(struct loomd *d, struct loom_err *err)
{
	if (d->in_txn)
		return 0;
	if (store_begin(d->store))
		return loom_err_set(err, LOOM_E_STORE, "", "cannot begin a transaction: %s", store_errmsg(d->store));
	d->in_txn = true;
	return 0;
}

/* Takes the optional "wait" (seconds) out of a write's params. */
static int wait_param(json_t *params, int *wait_s, struct loom_err *err)
{
	json_t *v = json_object_get(params, "wait");

	*wait_s = 0;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 3600)
		return loom_err_set(err, LOOM_E_PARAMS, "wait", "'wait' must be whole seconds, 0..3600");
	*wait_s = (int)json_integer_value(v);
	json_object_del(params, "wait");
	return 0;
}

/*
 * Runs one request; returns the reply (NULL for a notification).  A write
 * that asked to wait hands its result back in *waited instead.
 */
static json_t *request_run(struct loomd *d, struct client *c, struct rpc_request *req, bool *wrote,
			   json_t **waited, int *wait_s, char replace_old[LOOM_NAME_MAX],
			   char rdma_node[LOOM_NAME_MAX])
{
	struct loom_err err = { 0 };
	const struct api_method *m = api_method_find(req->method);
	struct api_call call = { .d = d, .peer = &c->peer };
	json_t *result = NULL, *reply;

	*wrote = false;
	*waited = NULL;
	*wait_s = 0;
	replace_old[0] = '\0';
	rdma_node[0] = '\0';
	if (!m) {
		loom_err_set(&err, LOOM_E_METHOD, "method", "no method '%s'", req->method);
		goto done;
	}
	if (c->peer.role == ROLE_NONE || (m->writes && c->peer.role != ROLE_ADMIN)) {
		loom_err_set(&err, LOOM_E_PERMISSION, "method",
			     "uid %u may not call %s: %s", (unsigned)c->peer.uid, req->method,
			     c->peer.role == ROLE_NONE
				     ? "it is neither root nor in the admin or reader group"
				     : "changes need root or the admin group");
		goto done;
	}
	if (!m->writes) {
		if (m->fn(&call, req->params, &result, &err) == 0 && call.subscribe) {
			d->n_subscribers += !c->subscribed;
			c->subscribed = true;
			c->ev_after = call.subscribe_after;
			memcpy(c->ev_node, call.subscribe_node, sizeof(c->ev_node));
		}
		goto done;
	}
	if (wait_param(req->params, wait_s, &err))
		goto done;
	if (batch_begin(d, &err) || store_savepoint(d->store)) {
		loom_err_set(&err, LOOM_E_STORE, "", "cannot open a savepoint: %s", store_errmsg(d->store));
		goto done;
	}
	if (m->fn(&call, req->params, &result, &err) == 0)
		audit_write(d, &c->peer, req->method, req->params, result, &err);
	if (err.code == LOOM_OK) {
		store_savepoint_release(d->store);
		d->txn_writes++;
		*wrote = true;
		d->model_changed |= call.model_touched;
		memcpy(rdma_node, call.rdma_node, sizeof(call.rdma_node));
	} else {
		store_savepoint_rollback(d->store);
		store_savepoint_release(d->store);
		if (call.model_touched)
			loomd_model_reload(d);
	}
done:
	if (err.code != LOOM_OK) {
		if (m && m->writes)
			log_info("%s by uid %u refused: %s (%s)", req->method, (unsigned)c->peer.uid,
				 err.msg, err.field);
		reply = req->id ? rpc_error(req->id, &err) : NULL;
	} else if (*wait_s > 0 && req->id) {
		*waited = json_incref(result);
		reply = NULL;
		memcpy(replace_old, call.wait_replace, LOOM_NAME_MAX);
	} else {
		reply = req->id ? rpc_result(req->id, result) : NULL;
	}
	json_decref(result);
	return reply;
}

int loomd_internal_write(struct loomd *d, const char *method, json_t *params,
			 int (*fn)(struct api_call *call, void *arg, json_t **result, struct loom_err *err),
			 void *arg, json_t **result, struct loom_err *err)
{
	struct api_peer self = { .uid = getuid(), .gid = getgid(), .pid = getpid(), .role = ROLE_ADMIN };
	struct api_call call = { .d = d, .peer = &self };

	*result = NULL;
	if (batch_begin(d, err) || store_savepoint(d->store))
		return loom_err_set(err, LOOM_E_STORE, "", "cannot open a savepoint: %s", store_errmsg(d->store));
	if (fn(&call, arg, result, err) == 0)
		audit_write(d, &self, method, params, *result, err);
	if (err->code == LOOM_OK) {
		store_savepoint_release(d->store);
		d->txn_writes++;
		d->model_changed |= call.model_touched;
		return 0;
	}
	store_savepoint_rollback(d->store);
	store_savepoint_release(d->store);
	if (call.model_touched)
		loomd_model_reload(d);
	json_decref(*result);
	*result = NULL;
	return -EINVAL;
}

struct fault_arg {
	const struct fault_event *fe;
};

static int fault_fn(struct api_call *call, void *arg, json_t **result, struct loom_err *err)
{
	const struct fault_event *fe = ((struct fault_arg *)arg)->fe;

	return api_fault_apply(call, fe, fe->time, result, err);
}

void loomd_fault_raise(struct loomd *d, const struct fault_event *fe)
{
	struct fault_arg a = { .fe = fe };
	struct loom_err err = { 0 };
	json_t *params = fault_event_to_json(fe), *result = NULL, *dec;

	if (!params)
		return;
	if (loomd_internal_write(d, "node.fault", params, fault_fn, &a, &result, &err) == 0) {
		dec = json_object_get(json_object_get(result, "decision"), "reason");
		log_info("fault %s on %s%s%s: %s; %s", fault_source_name(fe->source), fe->node,
			 fe->port[0] ? " port " : "", fe->port, fe->text,
			 json_is_string(dec) ? json_string_value(dec) : "");
	} else {
		log_err("fault %s on %s not applied: %s", fault_source_name(fe->source), fe->node, err.msg);
	}
	json_decref(result);
	json_decref(params);
}

static void batch_add(struct client *c, json_t *reply, json_t *id, bool wrote, json_t *waited, int wait_s,
		      const char *replace_old, const char *rdma_node)
{
	struct pending *p = &batch[n_batch++];

	snprintf(p->replace_old, sizeof(p->replace_old), "%s", replace_old ? replace_old : "");
	snprintf(p->rdma_node, sizeof(p->rdma_node), "%s", rdma_node ? rdma_node : "");
	p->client = c;
	p->reply = reply;
	p->id = json_incref(id);
	p->wrote = wrote;
	p->result = waited;
	p->wait_s = wait_s;
}

/* Takes up to LINES_PER_BATCH complete lines of one client into the batch. */
static void client_take_lines(struct loomd *d, struct client *c)
{
	size_t limit = d->cfg.max_request_bytes;
	size_t off = 0;
	int taken = 0;

	while (!c->dead && n_batch < MAX_BATCH && taken < LINES_PER_BATCH) {
		char *nl = memchr(c->in + off, '\n', c->in_len - off);
		size_t len = nl ? (size_t)(nl - (c->in + off)) : c->in_len - off;
		struct rpc_request req;
		struct loom_err err = { 0 };
		bool wrote = false;
		json_t *reply, *waited;
		char replace_old[LOOM_NAME_MAX];
		int wait_s;
		char rdma_node[LOOM_NAME_MAX] = "";

		if (!nl && len <= limit)
			break;
		if (len > limit) {
			loom_err_set(&err, LOOM_E_TOO_LARGE, "", "request larger than %zu bytes (max_request_bytes)", limit);
			batch_add(c, rpc_error(NULL, &err), NULL, false, NULL, 0, NULL, NULL);
			c->closing = true;	/* the rest of the stream cannot be framed */
			c->too_large = true;
			off = c->in_len;
			break;
		}
		off += len + 1;
		if (len == 0 || (len == 1 && c->in[off - 2] == '\r'))
			continue;
		taken++;
		if (rpc_request_parse(c->in + off - len - 1, len, &req, &err)) {
			batch_add(c, rpc_error(req.id, &err), req.id, false, NULL, 0, NULL, NULL);
			rpc_request_release(&req);
			continue;
		}
		reply = request_run(d, c, &req, &wrote, &waited, &wait_s, replace_old, rdma_node);
		batch_add(c, reply, req.id, wrote, waited, wait_s, replace_old, rdma_node);
		rpc_request_release(&req);
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	c->has_lines = !c->too_large && memchr(c->in, '\n', c->in_len) != NULL;
}

/* Answers a waiting write: its result plus what the targets say. */
static void waiter_answer(struct loomd *d, struct waiter *w, bool converged, json_t *replacement)
{
	/* A replacement posts as it goes: what stands in its way is in the newest
	 * generation.  not_programmed decides; elsewhere_not_programmed is only shown. */
	uint64_t gen = w->replace_old[0] ? d->posted_gen : w->gen;
	json_t *wait = json_pack("{s:b, s:I, s:o, s:o}", "converged", converged, "generation", (json_int_t)gen,
				 "not_programmed", d->rec ? reconciler_gen_report(d->rec, gen, true) : json_array(),
				 "elsewhere_not_programmed",
				 d->rec ? reconciler_gen_report(d->rec, gen, false) : json_array());
	json_t *reply;

	/* A replacement's waiter gets the record as it ended (or stands). */
	if (replacement && json_is_object(w->result)) {
		if (json_object_get(w->result, "replacement"))
			json_object_set(w->result, "replacement", replacement);
		else
			json_object_update(w->result, replacement);
	}
	if (json_is_object(w->result))
		json_object_set_new(w->result, "wait", wait);
	else
		json_decref(wait);
	reply = rpc_result(w->id, w->result);
	w->client->waiting--;
	client_send(d, w->client, reply);
	json_decref(reply);
}

/* Answers the waiters whose targets are done, or whose time ran out. */
static void waiters_check(struct loomd *d)
{
	int64_t now = now_mono_ns();

	/* A removal the targets verified is confirmed before its waiter hears,
	 * and a replacement waiting on it moves on. */
	loomd_lifecycle_confirm(d);
	loomd_replace_drive(d);

	for (struct waiter **pw = &d->waiters; *pw;) {
		struct waiter *w = *pw;
		json_t *rec = NULL;
		bool ok = false;
		bool done, rdma;

		if (w->replace_old[0])
			done = loomd_replace_finished(d, w->replace_old, &ok, &rec);
		else
			done = !d->rec || reconciler_done(d->rec, w->gen, &ok);
		rdma = w->rdma_node[0] && rdma_job_running(d, w->rdma_node);
		if ((!done || rdma) && now < w->deadline_ns) {
			json_decref(rec);
			pw = &w->next;
			continue;
		}
		if (w->rdma_node[0]) {
			/* The check ended (or the wait ran out): the node as it is now. */
			json_t *now_json = api_node_json(d, w->rdma_node);

			if (now_json) {
				json_object_set_new(now_json, "rdma_running", json_boolean(rdma));
				json_decref(w->result);
				w->result = now_json;
			}
		}
		/* Without a reconciler a verify's wait is for its RDMA check alone. */
		if (w->rdma_node[0] && !d->rec)
			ok = true;
		waiter_answer(d, w, done && ok && !rdma, rec);
		json_decref(rec);
		*pw = w->next;
		waiter_free(w);
	}
}

/* Events read per round: a long backlog goes out over several rounds. */
#define EVENTS_ROUND 256

/*
 * Sends the node events committed since each subscriber's last one, as
 * JSON-RPC notifications {"method": "event", "params": EVENT}.  Runs
 * outside a transaction, so only committed events go out.  A subscriber
 * whose output is backed up waits (and keeps its place) until it drains.
 * Returns true when more events are left for another round.
 */
static bool events_pump(struct loomd *d)
{
	int64_t from = INT64_MAX;
	json_t *evs = NULL, *ev;
	size_t i, n;

	if (d->in_txn)
		return false;
	for (struct client *c = d->clients; c; c = c->next)
		if (c->subscribed && !c->dead && c->out_len - c->out_off < OUT_HIGH_WATER &&
		    c->ev_after < from)
			from = c->ev_after;
	/* Nothing appended since: no query on every wake-up of the loop. */
	if (from == INT64_MAX || from >= store_node_event_hint(d->store))
		return false;
	if (store_node_events_after(d->store, from, EVENTS_ROUND, &evs)) {
		log_warn("events: cannot read the node events: %s", store_errmsg(d->store));
		return false;
	}
	n = json_array_size(evs);
	json_array_foreach(evs, i, ev) {
		int64_t seq = json_integer_value(json_object_get(ev, "seq"));
		const char *node = json_string_value(json_object_get(ev, "node"));
		json_t *note = NULL;

		for (struct client *c = d->clients; c; c = c->next) {
			if (!c->subscribed || c->dead || c->ev_after >= seq ||
			    c->out_len - c->out_off >= OUT_HIGH_WATER)
				continue;
			c->ev_after = seq;
			if (c->ev_node[0] && strcmp(c->ev_node, node ? node : ""))
				continue;
			if (!note)
				note = json_pack("{s:s, s:s, s:O}", "jsonrpc", "2.0", "method", "event",
						 "params", ev);
			client_send(d, c, note);
		}
		json_decref(note);
	}
	json_decref(evs);
	return n == EVENTS_ROUND;
}

static int waiters_timeout_ms(const struct loomd *d)
{
	int64_t now = now_mono_ns(), first = INT64_MAX;

	for (const struct waiter *w = d->waiters; w; w = w->next)
		if (w->deadline_ns < first)
			first = w->deadline_ns;
	if (first == INT64_MAX)
		return -1;
	return first <= now ? 0 : (int)((first - now) / 1000000 + 1);
}

/* Commits the batch's transaction, then sends every reply it holds. */
static void batch_finish(struct loomd *d)
{
	bool failed = false;
	struct loom_err err = { 0 };
	uint64_t gen = 0;

	if (d->in_txn) {
		size_t writes = 0;

		for (size_t i = 0; i < n_batch; i++)
			writes += batch[i].wrote;
		if (!d->txn_writes) {
			store_rollback(d->store);	/* all refused: not a byte written */
		} else if (store_commit(d->store)) {
			failed = true;
			loom_err_set(&err, LOOM_E_STORE, "", "the commit failed, nothing was changed: %s",
				     store_errmsg(d->store));
			log_err("%s", err.msg);
			store_rollback(d->store);
			loomd_model_reload(d);
		}
		d->in_txn = false;
		d->txn_writes = 0;
		d->batches++;
		d->batched_writes += writes;
	}
	if (d->model_changed)
		gen = loomd_post(d);
	for (size_t i = 0; i < n_batch; i++) {
		struct pending *p = &batch[i];

		if (failed && p->wrote) {
			json_decref(p->reply);
			p->reply = p->id ? rpc_error(p->id, &err) : NULL;
		} else if (p->result) {
			struct waiter *w = calloc(1, sizeof(*w));

			if (w) {
				w->client = p->client;
				w->id = json_incref(p->id);
				w->result = p->result;
				w->gen = gen;
				w->deadline_ns = now_mono_ns() + (int64_t)p->wait_s * 1000000000;
				memcpy(w->replace_old, p->replace_old, sizeof(w->replace_old));
				memcpy(w->rdma_node, p->rdma_node, sizeof(w->rdma_node));
				w->next = d->waiters;
				d->waiters = w;
				p->client->waiting++;
				p->result = NULL;
			}
		}
		client_send(d, p->client, p->reply);
		json_decref(p->reply);
		json_decref(p->result);
		json_decref(p->id);
	}
	n_batch = 0;
	/* A removal no target had to change is verified already; a replacement
	 * stored by this batch takes its first steps. */
	loomd_lifecycle_confirm(d);
	loomd_replace_drive(d);
	if (d->waiters)
		waiters_check(d);
}

/* Watches the drift fds the reconciler has that the loop does not watch yet. */
static int drift_watch_new(struct loomd *d)
{
	size_t n = reconciler_n_drift_fds(d->rec);
	int ret = 0;

	for (; !ret && n_drift_tags < n; n_drift_tags++) {
		ret = epoll_mod(d, EPOLL_CTL_ADD, reconciler_drift_fd(d->rec, n_drift_tags), EPOLLIN,
				&drift_tags[n_drift_tags]);
		if (ret)
			log_err("cannot watch the drift events of a VTEP: %s", strerror(-ret));
	}
	return ret;
}

int server_add_reconciler(struct loomd *d, struct loom_err *err)
{
	size_t cap = reconciler_max_drift_fds(d->rec);
	int ret = epoll_mod(d, EPOLL_CTL_ADD, reconciler_event_fd(d->rec), EPOLLIN, &tag_reconcile);

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
	loomd_lifecycle_confirm(d);
	loomd_replace_drive(d);
	rdma_jobs_resume(d);

	while (!d->stop) {
		bool pending = events_more;
		int n;

		for (struct client *c = d->clients; c; c = c->next)
			pending |= c->has_lines && !c->dead;
		n = epoll_wait(d->epfd, events, 64, pending ? 0 : waiters_timeout_ms(d));
		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < n; i++) {
			void *ptr = events[i].data.ptr;
			struct client *c = ptr;

			if (ptr == &tag_listen) {
				client_accept(d);
			} else if (ptr == &tag_signal) {
				handle_signal(d);
			} else if (ptr == &tag_resync) {
				uint64_t ticks;

				if (read(d->resync_fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
					log_warn("resync timer: %s", strerror(errno));
				if (d->rec)
					reconciler_resync_all(d->rec);
			} else if (ptr == &tag_rdma) {
				rdma_jobs_collect(d);
			} else if (ptr == &tag_reconcile) {
				reconciler_collect(d->rec);
				loomd_watch_hca(d);
				drift_watch_new(d);
				waiters_check(d);
				loomd_lifecycle_confirm(d);
				loomd_replace_drive(d);
				loomd_release_holds(d);
			} else if (drift_tags && (char *)ptr >= drift_tags && (char *)ptr < drift_tags + n_drift_tags) {
				reconciler_drift(d->rec, (size_t)((char *)ptr - drift_tags));
				loomd_watch_carrier(d, (size_t)((char *)ptr - drift_tags));
			} else {
				if (c->dead)
					continue;
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
		for (struct client *c = d->clients; c; c = c->next)
			if (c->has_lines && !c->dead && c->out_len - c->out_off < OUT_HIGH_WATER)
				client_take_lines(d, c);
		batch_finish(d);
		if (d->waiters)
			waiters_check(d);
		events_more = events_pump(d);
		for (struct client *c = d->clients; c; c = c->next)
			if (c->closing && !c->dead && !c->has_lines && c->out_len == 0 && !c->waiting)
				client_close(d, c);
		clients_reap(d);
		if (d->reload_requested) {
			struct loom_err err = { 0 };

			d->reload_requested = false;
			if (loomd_topology_reload(d, &err))
				log_err("topology reload refused, keeping the old one: %s%s%s", err.msg,
					err.field[0] ? " at " : "", err.field);
			else
				log_info("topology reloaded from %s", d->cfg.topology);
		}
	}
	return 0;
}

void server_close(struct loomd *d)
{
	while (d->waiters) {
		struct waiter *w = d->waiters;

		d->waiters = w->next;
		waiter_free(w);
	}
	free(drift_tags);
	drift_tags = NULL;
	for (struct client *c = d->clients; c; c = c->next)
		client_close(d, c);
	clients_reap(d);
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		unlink(d->cfg.socket);
	}
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	if (d->resync_fd >= 0)
		close(d->resync_fd);
	if (d->epfd >= 0)
		close(d->epfd);
}

/*
 * src/verify.c: the RDMA admission check run from node.verify (see
 * src/verify.h).  The thread of a job runs the tool (lib/child.h through
 * rdma_bw_run, argv arrays only) and never touches loomd's state; the main
 * loop collects finished jobs and applies them through the API's verify
 * path.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lib/log.h"
#include "src/daemon.h"
#include "src/verify.h"

/* A failure at the peer's end is tried again this often, this far apart. */
#define RDMA_PEER_TRIES 3
#define RDMA_PEER_PAUSE_S 2
/* How long a check waits in the queue for a reference peer's port. */
#define RDMA_QUEUE_WAIT_MS (600 * 1000)
/* rdma.peer: at most this many reference nodes. */
#define RDMA_PEERS_MAX 16

/*
 * The reference peers' ports, shared by every job of this loomd: one check
 * per peer port at a time, the others queued (fabric/rdma_bw.h).  Rebuilt
 * from loomd.conf and the topology when no job runs, so no thread holds
 * an index into it then.
 */
static struct rdma_pool pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

struct rdma_job {
	struct rdma_job *next;
	pthread_t thread;
	int event_fd;
	char node[LOOM_NAME_MAX];
	char peers[CONF_PEERS_LEN];	/* rdma.peer as configured, for the audit */
	struct rdma_bw_opts opts;
	char program[LOOM_PATH_MAX];
	char runner[CONF_RUNNER_WORDS][CONF_WORD_MAX];
	const char *prefix[CONF_RUNNER_WORDS + 1];
	struct topo_hca_port *hca;	/* the node's ports, one per run */
	struct rdma_port_run *runs;
	size_t n_runs;
	pthread_mutex_t lock;
	bool done;		/* under lock */
};

/* "mlx5_0/1" -> "mlx5_0", 1; a name without a port number is port 1. */
static void port_split(const char *name, char *dev, size_t size, unsigned int *port)
{
	const char *slash = strrchr(name, '/');
	char *end;
	unsigned long v;

	*port = 1;
	if (!slash) {
		snprintf(dev, size, "%s", name);
		return;
	}
	snprintf(dev, size, "%.*s", (int)(slash - name), name);
	v = strtoul(slash + 1, &end, 10);
	if (!*end && v >= 1 && v <= 255)
		*port = (unsigned int)v;
}

/* rdma.peer / rdma.peer_address: words separated by blanks or commas. */
static size_t split_words(const char *s, char out[][LOOM_NAME_MAX], size_t max)
{
	size_t n = 0;

	while (*s && n < max) {
		size_t len = strcspn(s, " \t,");

		if (len) {
			snprintf(out[n++], LOOM_NAME_MAX, "%.*s", (int)len, s);
			s += len;
		}
		s += strspn(s, " \t,");
	}
	return n;
}

/* One port's check against one peer port; fills @r. */
static int run_one(struct rdma_job *j, struct rdma_port_run *r, const struct rdma_pool_port *pp,
		   struct loom_err *err)
{
	struct rdma_bw_opts o = j->opts;
	struct rdma_end server = { .host = pp->peer, .prefix = j->prefix[0] ? j->prefix : NULL };
	struct rdma_end client = {
		.host = j->node, .device = r->device, .ib_port = r->ib_port,
		.prefix = j->prefix[0] ? j->prefix : NULL,
	};

	snprintf(r->peer, sizeof(r->peer), "%s", pp->peer);
	port_split(pp->port, r->peer_device, sizeof(r->peer_device), &r->peer_ib_port);
	server.device = r->peer_device;
	server.ib_port = r->peer_ib_port;
	o.tcp_port = pp->tcp_port;
	return rdma_bw_run(&o, &server, &client, pp->addr, &r->res, err);
}

static void *job_main(void *arg)
{
	struct rdma_job *j = arg;
	uint64_t one = 1;

	for (size_t i = 0; i < j->n_runs; i++) {
		struct rdma_port_run *r = &j->runs[i];
		struct loom_err err = { 0 };
		int avoid = -1;

		for (int t = 1; t <= RDMA_PEER_TRIES; t++) {
			int idx = rdma_pool_acquire(&pool, j->node, &j->hca[i], avoid, RDMA_QUEUE_WAIT_MS);

			loom_err_clear(&err);
			if (idx < 0) {
				/* Not the node's fault: it stays verifying. */
				r->ret = idx;
				r->peer_fault = true;
				loom_err_set(&err, LOOM_E_UNAVAILABLE, "", "%s",
					     idx == -ETIMEDOUT ? "no reference peer's port came free in time" :
					     idx == -ECANCELED ? "loomd stopped before a reference peer's port came free" :
					     "no reference peer has a port on this port's fabric");
				break;
			}
			r->ret = run_one(j, r, &pool.ports[idx], &err);
			rdma_pool_release(&pool, idx);
			r->peer_fault = r->ret < 0 && r->res.fault == RDMA_FAULT_PEER;
			if (!r->peer_fault || t == RDMA_PEER_TRIES)
				break;
			log_warn("node %s: RDMA check of %s against %s: %s; trying again (%d of %d)", j->node,
				 r->port, r->peer, err.msg, t + 1, RDMA_PEER_TRIES);
			avoid = idx;
			sleep(RDMA_PEER_PAUSE_S);
		}
		if (r->ret < 0)
			snprintf(r->error, sizeof(r->error), "%s", err.msg);
		log_info("node %s: RDMA check of %s against %s %s: %s%s", j->node, r->port, r->peer,
			 r->peer_device, r->ret < 0 ? "failed: " : "done", r->ret < 0 ? r->error : "");
	}
	pthread_mutex_lock(&j->lock);
	j->done = true;
	pthread_mutex_unlock(&j->lock);
	if (write(j->event_fd, &one, sizeof(one)) < 0)
		log_warn("rdma check: eventfd: %s", strerror(errno));
	return NULL;
}

static void job_free(struct rdma_job **pj)
{
	struct rdma_job *j = *pj;

	if (!j)
		return;
	pthread_mutex_destroy(&j->lock);
	free(j->hca);
	free(j->runs);
	free(j);
	*pj = NULL;
}

bool rdma_job_running(const struct loomd *d, const char *node)
{
	for (const struct rdma_job *j = d->rdma_jobs; j; j = j->next)
		if (strcmp(j->node, node) == 0)
			return true;
	return false;
}

/*
 * Checks rdma.peer against the topology and, when no job runs, rebuilds
 * the pool from it.  @node is the node to check.
 */
static int pool_prepare(struct loomd *d, const struct topo_node *node, const struct rdma_bw_opts *o,
			struct loom_err *err)
{
	char peers[RDMA_PEERS_MAX][LOOM_NAME_MAX], addrs[RDMA_PEERS_MAX][LOOM_NAME_MAX];
	size_t n_peers = split_words(d->cfg.rdma_peer, peers, RDMA_PEERS_MAX);
	size_t n_addrs = split_words(d->cfg.rdma_peer_address, addrs, RDMA_PEERS_MAX);
	bool rebuild = !d->rdma_jobs;

	if (n_addrs && n_addrs != n_peers)
		return loom_err_set(err, LOOM_E_CONFIG, "rdma.peer_address",
				    "rdma.peer_address names %zu addresses for %zu peers; give one per peer, in order, or none",
				    n_addrs, n_peers);
	if (n_peers == 1 && strcmp(peers[0], node->name) == 0)
		return loom_err_set(err, LOOM_E_PARAMS, "name",
				    "node %s is the reference peer (rdma.peer) and cannot be measured against itself",
				    node->name);
	if (rebuild)
		rdma_pool_clear(&pool);
	for (size_t i = 0; i < n_peers; i++) {
		const struct topo_node *peer = topology_node(d->topo, peers[i]);

		if (!peer)
			return loom_err_set(err, LOOM_E_CONFIG, "rdma.peer",
					    "rdma.peer '%s' is not a node of the topology; fix loomd.conf or feed results in",
					    peers[i]);
		if (!peer->n_hca_ports)
			return loom_err_set(err, LOOM_E_CONFIG, "rdma.peer",
					    "the reference peer %s has no HCA port", peer->name);
		if (rebuild && rdma_pool_add(&pool, peer, n_addrs ? addrs[i] : "", o->tcp_port))
			return loom_err_set(err, LOOM_E_CONFIG, "rdma.peer",
					    "the reference peers have more than %d HCA ports", RDMA_POOL_MAX);
	}
	for (size_t i = 0; i < node->n_hca_ports; i++) {
		const struct topo_hca_port *p = &node->hca_ports[i];
		int idx;

		pthread_mutex_lock(&pool.lock);
		idx = rdma_pool_pick(&pool, node->name, p, -1);
		pthread_mutex_unlock(&pool.lock);
		if (idx == -ENOENT)
			return loom_err_set(err, LOOM_E_CONFIG, "rdma.peer",
					    "no reference peer (rdma.peer) has a port on the fabric of %s's %s (%s)",
					    node->name, p->name, p->sm[0] ? p->sm : "RoCE, no subnet manager");
	}
	return 0;
}

int rdma_job_start(struct loomd *d, const struct topo_node *node, struct loom_err *err)
{
	struct rdma_job *j;
	const char *prefix[CONF_RUNNER_WORDS + 1];
	struct rdma_bw_opts o;
	int rc;

	if (d->rdma_fd < 0)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "the RDMA check is not set up");
	if (!node->n_hca_ports)
		return loom_err_set(err, LOOM_E_PARAMS, "name", "node %s has no HCA port to check", node->name);
	if (rdma_job_running(d, node->name))
		return loom_err_set(err, LOOM_E_STATE, "name",
				    "an RDMA check of node %s is running already; wait for it (node show)", node->name);
	config_rdma_check(&d->cfg, &o, prefix);
	rc = pool_prepare(d, node, &o, err);
	if (rc)
		return rc;
	j = calloc(1, sizeof(*j));
	if (!j)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
	j->runs = calloc(node->n_hca_ports, sizeof(*j->runs));
	j->hca = calloc(node->n_hca_ports, sizeof(*j->hca));
	if (!j->runs || !j->hca) {
		free(j->runs);
		free(j->hca);
		free(j);
		return loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
	}
	pthread_mutex_init(&j->lock, NULL);
	j->event_fd = d->rdma_fd;
	snprintf(j->node, sizeof(j->node), "%s", node->name);
	snprintf(j->peers, sizeof(j->peers), "%s", d->cfg.rdma_peer);
	j->opts = o;
	/* The job keeps its own copies: loomd.conf's strings are not the thread's. */
	if (j->opts.program) {
		snprintf(j->program, sizeof(j->program), "%s", j->opts.program);
		j->opts.program = j->program;
	}
	memcpy(j->runner, d->cfg.rdma_runner, sizeof(j->runner));
	for (size_t i = 0; i < d->cfg.n_rdma_runner; i++)
		j->prefix[i] = j->runner[i];
	for (size_t i = 0; i < node->n_hca_ports; i++) {
		const struct topo_hca_port *p = &node->hca_ports[i];
		struct rdma_port_run *r = &j->runs[j->n_runs];

		j->hca[j->n_runs++] = *p;
		snprintf(r->port, sizeof(r->port), "%s", p->name);
		r->rate_gbps = p->rate_gbps;
		port_split(p->name, r->device, sizeof(r->device), &r->ib_port);
	}
	if (pthread_create(&j->thread, NULL, job_main, j)) {
		job_free(&j);
		return loom_err_set(err, LOOM_E_INTERNAL, "", "cannot start the RDMA check's thread");
	}
	j->next = d->rdma_jobs;
	d->rdma_jobs = j;
	log_info("node %s: RDMA check of %zu HCA port%s against the reference peers (%s) started", j->node,
		 j->n_runs, j->n_runs == 1 ? "" : "s", j->peers);
	return 0;
}

int rdma_jobs_open(struct loomd *d)
{
	d->rdma_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return d->rdma_fd < 0 ? -errno : 0;
}

int rdma_jobs_fd(const struct loomd *d)
{
	return d->rdma_fd;
}

static int finish_fn(struct api_call *call, void *arg, json_t **result, struct loom_err *err)
{
	return api_verify_finish(call, arg, result, err);
}

void rdma_jobs_collect(struct loomd *d)
{
	uint64_t n;

	if (read(d->rdma_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("rdma check: eventfd: %s", strerror(errno));
	for (struct rdma_job **pj = &d->rdma_jobs; *pj;) {
		struct rdma_job *j = *pj;
		struct rdma_job_result res = { .node = j->node, .peer = j->peers, .runs = j->runs,
					       .n_runs = j->n_runs };
		struct loom_err err = { 0 };
		json_t *params, *result = NULL;
		bool done;

		pthread_mutex_lock(&j->lock);
		done = j->done;
		pthread_mutex_unlock(&j->lock);
		if (!done) {
			pj = &j->next;
			continue;
		}
		pthread_join(j->thread, NULL);
		*pj = j->next;
		params = json_pack("{s:s, s:s, s:s}", "name", j->node, "source", "rdma-check", "peer", j->peers);
		if (loomd_internal_write(d, "node.verify", params, finish_fn, &res, &result, &err))
			log_err("node %s: the RDMA check's result could not be stored: %s", j->node, err.msg);
		else
			log_info("node %s: RDMA check finished, node %s", j->node,
				 json_string_value(json_object_get(result, "state")));
		json_decref(params);
		json_decref(result);
		job_free(&j);
	}
}

void rdma_jobs_close(struct loomd *d)
{
	/* Checks waiting for a peer's port give up; running ones end by their limits. */
	rdma_pool_close(&pool);
	while (d->rdma_jobs) {
		struct rdma_job *j = d->rdma_jobs;

		d->rdma_jobs = j->next;
		pthread_join(j->thread, NULL);
		job_free(&j);
	}
	if (d->rdma_fd >= 0)
		close(d->rdma_fd);
	d->rdma_fd = -1;
}

void rdma_jobs_resume(struct loomd *d)
{
	struct rdma_bw_opts o;
	const char *prefix[CONF_RUNNER_WORDS + 1];
	struct node_life *v = NULL;
	size_t n = 0;

	if (!config_rdma_check(&d->cfg, &o, prefix))
		return;
	if (store_node_list(d->store, &v, &n)) {
		log_err("cannot resume RDMA checks: %s", store_errmsg(d->store));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct topo_node *node = topology_node(d->topo, v[i].name);
		struct loom_err err = { 0 };

		if (v[i].state != NODE_VERIFYING || !node)
			continue;
		if (rdma_job_start(d, node, &err))
			log_warn("node %s is verifying; its RDMA check did not start again: %s", v[i].name, err.msg);
		else
			log_info("node %s is verifying: its RDMA check, cut short by a restart, runs again",
				 v[i].name);
	}
	free(v);
}

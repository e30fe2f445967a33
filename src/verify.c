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

struct rdma_job {
	struct rdma_job *next;
	pthread_t thread;
	int event_fd;
	char node[LOOM_NAME_MAX];
	char peer[LOOM_NAME_MAX];
	char addr[LOOM_NAME_MAX];
	struct rdma_bw_opts opts;
	char program[LOOM_PATH_MAX];
	char runner[CONF_RUNNER_WORDS][CONF_WORD_MAX];
	const char *prefix[CONF_RUNNER_WORDS + 1];
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

/*
 * The peer's port to measure @p against: on the same fabric (subnet
 * manager), preferring the same name (mlx5_1/1 against mlx5_1/1), then the
 * same rail; else the first port on that fabric, else the first port.
 */
static const struct topo_hca_port *peer_port(const struct topo_node *peer, const struct topo_hca_port *p)
{
	const struct topo_hca_port *same_sm = NULL, *same_rail = NULL;

	for (size_t i = 0; i < peer->n_hca_ports; i++) {
		const struct topo_hca_port *q = &peer->hca_ports[i];

		if (strcmp(q->sm, p->sm))
			continue;
		if (strcmp(q->name, p->name) == 0)
			return q;
		if (!same_rail && p->rail[0] && strcmp(q->rail, p->rail) == 0)
			same_rail = q;
		if (!same_sm)
			same_sm = q;
	}
	if (same_rail)
		return same_rail;
	if (same_sm)
		return same_sm;
	return peer->n_hca_ports ? &peer->hca_ports[0] : NULL;
}

static void *job_main(void *arg)
{
	struct rdma_job *j = arg;
	uint64_t one = 1;

	for (size_t i = 0; i < j->n_runs; i++) {
		struct rdma_port_run *r = &j->runs[i];
		struct rdma_end server = {
			.host = j->peer, .device = r->peer_device, .ib_port = r->peer_ib_port,
			.prefix = j->prefix[0] ? j->prefix : NULL,
		};
		struct rdma_end client = {
			.host = j->node, .device = r->device, .ib_port = r->ib_port,
			.prefix = j->prefix[0] ? j->prefix : NULL,
		};
		struct loom_err err = { 0 };

		for (int t = 1; t <= RDMA_PEER_TRIES; t++) {
			loom_err_clear(&err);
			r->ret = rdma_bw_run(&j->opts, &server, &client, j->addr, &r->res, &err);
			r->peer_fault = r->ret < 0 && r->res.fault == RDMA_FAULT_PEER;
			if (!r->peer_fault || t == RDMA_PEER_TRIES)
				break;
			log_warn("node %s: RDMA check of %s against %s: %s; trying again (%d of %d)", j->node,
				 r->port, j->peer, err.msg, t + 1, RDMA_PEER_TRIES);
			sleep(RDMA_PEER_PAUSE_S);
		}
		if (r->ret < 0)
			snprintf(r->error, sizeof(r->error), "%s", err.msg);
		log_info("node %s: RDMA check of %s against %s %s: %s%s", j->node, r->port, j->peer,
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

int rdma_job_start(struct loomd *d, const struct topo_node *node, struct loom_err *err)
{
	const struct topo_node *peer = topology_node(d->topo, d->cfg.rdma_peer);
	struct rdma_job *j;
	const char *prefix[CONF_RUNNER_WORDS + 1];

	if (d->rdma_fd < 0)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "the RDMA check is not set up");
	if (!peer)
		return loom_err_set(err, LOOM_E_CONFIG, "rdma.peer",
				    "rdma.peer '%s' is not a node of the topology; fix loomd.conf or feed results in",
				    d->cfg.rdma_peer);
	if (strcmp(peer->name, node->name) == 0)
		return loom_err_set(err, LOOM_E_PARAMS, "name",
				    "node %s is the reference peer (rdma.peer) and cannot be measured against itself",
				    node->name);
	if (!node->n_hca_ports)
		return loom_err_set(err, LOOM_E_PARAMS, "name", "node %s has no HCA port to check", node->name);
	if (!peer->n_hca_ports)
		return loom_err_set(err, LOOM_E_CONFIG, "rdma.peer", "the reference peer %s has no HCA port",
				    peer->name);
	if (rdma_job_running(d, node->name))
		return loom_err_set(err, LOOM_E_STATE, "name",
				    "an RDMA check of node %s is running already; wait for it (node show)", node->name);
	j = calloc(1, sizeof(*j));
	if (!j)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
	j->runs = calloc(node->n_hca_ports, sizeof(*j->runs));
	if (!j->runs) {
		free(j);
		return loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
	}
	pthread_mutex_init(&j->lock, NULL);
	j->event_fd = d->rdma_fd;
	snprintf(j->node, sizeof(j->node), "%s", node->name);
	snprintf(j->peer, sizeof(j->peer), "%s", peer->name);
	snprintf(j->addr, sizeof(j->addr), "%s", d->cfg.rdma_peer_address[0] ? d->cfg.rdma_peer_address : peer->name);
	config_rdma_check(&d->cfg, &j->opts, prefix);
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
		const struct topo_hca_port *pp = peer_port(peer, p);
		struct rdma_port_run *r = &j->runs[j->n_runs++];

		snprintf(r->port, sizeof(r->port), "%s", p->name);
		r->rate_gbps = p->rate_gbps;
		port_split(p->name, r->device, sizeof(r->device), &r->ib_port);
		port_split(pp->name, r->peer_device, sizeof(r->peer_device), &r->peer_ib_port);
	}
	if (pthread_create(&j->thread, NULL, job_main, j)) {
		job_free(&j);
		return loom_err_set(err, LOOM_E_INTERNAL, "", "cannot start the RDMA check's thread");
	}
	j->next = d->rdma_jobs;
	d->rdma_jobs = j;
	log_info("node %s: RDMA check of %zu HCA port%s against %s (%s) started", j->node, j->n_runs,
		 j->n_runs == 1 ? "" : "s", j->peer, j->addr);
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
		struct rdma_job_result res = { .node = j->node, .peer = j->peer, .runs = j->runs,
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
		params = json_pack("{s:s, s:s, s:s}", "name", j->node, "source", "rdma-check", "peer", j->peer);
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

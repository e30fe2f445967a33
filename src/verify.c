/*
 * src/verify.c: node.verify and the RDMA admission check it runs (see
 * src/verify.h).  The thread of a job runs the tool (lib/child.h through
 * rdma_bw_run, argv arrays only) and never touches loomd's state; the main
 * loop collects finished jobs and judges them through the same path as
 * results fed in to node.verify.
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
#include "lib/param.h"
#include "src/api_life.h"
#include "src/api_node.h"
#include "src/api_transition.h"
#include "src/reconcile.h"
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

/*
 * A `wait` on node.verify lasts until the targets ran its generation and
 * its RDMA check ended; the waiter then gets the node as it is now.
 */
static bool rdma_wait_check(struct loomd *d, const char *node, uint64_t gen, bool expired, json_t **result,
			    bool *converged, struct loom_err *err)
{
	(void)err;
	bool ok = false, done = !d->rec || reconciler_done(d->rec, gen, &ok);
	bool running = rdma_job_running(d, node);
	json_t *now_json;

	if ((!done || running) && !expired)
		return false;
	now_json = api_node_json(d, node);
	if (now_json) {
		json_object_set_new(now_json, "rdma_running", json_boolean(running));
		json_decref(*result);
		*result = now_json;
	}
	/* Without a reconciler a verify's wait is for its RDMA check alone. */
	if (!d->rec)
		ok = true;
	*converged = done && ok && !running;
	return true;
}

static const struct api_wait rdma_wait = { .check = rdma_wait_check };

/* ---- node.verify -------------------------------------------------------- */

/* One RDMA measurement fed in, judged against its port's rate. */
static int verify_result(struct api_call *call, const struct topo_node *n, json_t *r, size_t i,
			 struct rdma_bw_result *res, struct loom_err *err)
{
	static const char *const allowed[] = { "port", "gbps", "duration_s", "peer", NULL };
	const struct topo_hca_port *hp = NULL;
	const char *port, *peer;
	char field[48];
	json_t *g = json_object_get(r, "gbps"), *dur = json_object_get(r, "duration_s");

	snprintf(field, sizeof(field), "results[%zu]", i);
	if (!json_is_object(r))
		return loom_err_set(err, LOOM_E_PARAMS, field, "'%s' must be an object {port, gbps, duration_s, peer}", field);
	if (params_only(r, allowed, err) || param_string(r, "port", true, &port, err)
	    || param_string(r, "peer", false, &peer, err)) {
		loom_err_prefix(err, field);
		return -EINVAL;
	}
	if (!json_is_number(g) || json_number_value(g) < 0) {
		loom_err_set(err, LOOM_E_PARAMS, "gbps", "'gbps' must be a number >= 0");
		loom_err_prefix(err, field);
		return -EINVAL;
	}
	if (dur && (!json_is_number(dur) || json_number_value(dur) < 0)) {
		loom_err_set(err, LOOM_E_PARAMS, "duration_s", "'duration_s' must be a number >= 0");
		loom_err_prefix(err, field);
		return -EINVAL;
	}
	for (size_t k = 0; k < n->n_hca_ports; k++)
		if (strcmp(n->hca_ports[k].name, port) == 0)
			hp = &n->hca_ports[k];
	if (!hp) {
		loom_err_set(err, LOOM_E_NOT_FOUND, "port", "node %s has no HCA port '%s'", n->name, port);
		loom_err_prefix(err, field);
		return -EINVAL;
	}
	memset(res, 0, sizeof(*res));
	res->gbps = json_number_value(g);
	res->duration_s = dur ? json_number_value(dur) : 0;
	snprintf(res->device, sizeof(res->device), "%s", port);
	snprintf(res->peer, sizeof(res->peer), "%s", peer ? peer : "");
	rdma_bw_judge(&call->d->rdma, hp->rate_gbps, res);
	return 0;
}

/* Stores judged results (kv rdma.NODE) and moves a verifying node on. */
/* The judged measurements, kv rdma.NODE (node.show's "rdma"). */
static int verify_store(struct api_call *call, const char *name, json_t *judged, struct loom_err *err)
{
	char *txt = json_dumps(judged, JSON_COMPACT);
	char key[LOOM_NAME_MAX + 16];
	int ret = 0;

	snprintf(key, sizeof(key), "rdma.%s", name);
	if (!txt || store_kv_put(call->d->store, key, txt))
		ret = store_failed(call, err);
	free(txt);
	return ret;
}

static int verify_conclude(struct api_call *call, const char *name, json_t *judged, bool pass,
			   const char *why, const char *reason, json_t *steps, struct loom_err *err)
{
	if (verify_store(call, name, judged, err))
		return -EINVAL;
	if (!pass)
		return api_node_event(call, name, NODE_EV_VERIFY_FAIL, why, steps, NULL, err);
	return api_node_event(call, name, NODE_EV_VERIFY_PASS,
			      reason ? reason : "every RDMA measurement passed", steps, NULL, err);
}

/*
 * node.verify: starts verification and, when measurements are given,
 * judges them.  Without measurements, and with rdma.tool and rdma.peer in
 * loomd.conf, it starts the RDMA check itself (src/verify.c) and returns
 * with the node `verifying`; the check's end moves it on
 * (verify_finish).  Otherwise the node waits in `verifying` for
 * results fed in (from loom-rdma-bw or ib_write_bw run by the operator).
 */
int m_node_verify(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "name", "reason", "results", NULL };
	const struct topo_node *n;
	const char *reason = NULL;
	json_t *results = json_object_get(params, "results");
	json_t *steps = NULL, *judged = NULL;
	struct node_life cur;
	char why[256] = "";
	bool pass = true, run = false;
	int ret = -EINVAL;

	if (params_only(params, allowed, err))
		return -EINVAL;
	n = api_node_param(call, params, "reason", &reason, err);
	if (!n)
		return -EINVAL;
	if (results && (!json_is_array(results) || json_array_size(results) == 0))
		return loom_err_set(err, LOOM_E_PARAMS, "results",
				    "'results' must be a non-empty array of {port, gbps, duration_s, peer}");
	steps = json_array();
	judged = json_array();
	for (size_t i = 0; results && i < json_array_size(results); i++) {
		struct rdma_bw_result res;

		if (verify_result(call, n, json_array_get(results, i), i, &res, err))
			goto out;
		json_array_append_new(judged, rdma_bw_result_to_json(&res));
		if (!res.pass && pass) {
			pass = false;
			snprintf(why, sizeof(why), "RDMA bandwidth: %s", res.reason);
		}
	}
	if (api_node_life(call->d, n->name, &cur, err))
		goto out;
	if (!results && cur.state == NODE_VERIFYING && rdma_job_running(call->d, n->name)) {
		ret = loom_err_set(err, LOOM_E_STATE, "name",
				   "an RDMA check of node %s is running already; wait for it (node show)", n->name);
		goto out;
	}
	if (cur.state != NODE_VERIFYING
	    && api_node_event(call, n->name, NODE_EV_VERIFY, reason, steps, NULL, err))
		goto out;
	if (results) {
		if (verify_conclude(call, n->name, judged, pass, why, reason, steps, err))
			goto out;
	} else {
		struct rdma_bw_opts o;
		const char *prefix[CONF_RUNNER_WORDS + 1];

		run = config_rdma_check(&call->d->cfg, &o, prefix);
		if (run) {
			if (rdma_job_start(call->d, n, err))
				goto out;
			call->wait = &rdma_wait;
			snprintf(call->wait_subject, sizeof(call->wait_subject), "%s", n->name);
		}
	}
	ret = api_node_result(call, n, steps, NULL, result, err);
	steps = NULL;
	if (!ret && results)
		json_object_set_new(*result, "rdma", json_incref(judged));
	if (!ret)
		json_object_set_new(*result, "rdma_running", json_boolean(run));
out:
	json_decref(steps);
	json_decref(judged);
	return ret;
}

static int verify_finish(struct api_call *call, const struct rdma_job_result *job, json_t **result,
			 struct loom_err *err)
{
	struct loomd *d = call->d;
	const struct topo_node *n = topology_node(d->topo, job->node);
	json_t *judged = json_array(), *steps = json_array();
	struct node_life cur;
	char why[256] = "";
	bool pass = true, peer_fault = false;
	int ret = -EINVAL;

	if (!n) {
		ret = loom_err_set(err, LOOM_E_NOT_FOUND, "name", "node %s left the topology during its RDMA check",
				   job->node);
		goto out;
	}
	for (size_t i = 0; i < job->n_runs; i++) {
		const struct rdma_port_run *r = &job->runs[i];
		json_t *o;

		if (r->ret < 0) {
			const char *peer = r->peer[0] ? r->peer : job->peer;

			o = json_pack("{s:s, s:s, s:b, s:s, s:s}", "port", r->port, "peer", peer, "pass", 0,
				      "reason", r->error, "fault", r->peer_fault ? "peer" : "node");
			peer_fault |= r->peer_fault;
			if (pass)
				snprintf(why, sizeof(why), "RDMA check of %s against %s failed: %s", r->port,
					 peer, r->error);
			pass = false;
		} else {
			struct rdma_bw_result res = r->res;

			rdma_bw_judge(&d->rdma, r->rate_gbps, &res);
			o = rdma_bw_result_to_json(&res);
			json_object_set_new(o, "port", json_string(r->port));
			if (!res.pass && pass) {
				pass = false;
				snprintf(why, sizeof(why), "RDMA bandwidth: %s: %s", r->port, res.reason);
			}
		}
		json_array_append_new(judged, o);
	}
	if (api_node_life(d, n->name, &cur, err))
		goto out;
	/* The peer failed: no verdict on the node, which stays verifying for a retry. */
	if (cur.state == NODE_VERIFYING && !peer_fault) {
		if (verify_conclude(call, n->name, judged, pass, why,
				    "every HCA port passed the RDMA check", steps, err))
			goto out;
	} else {
		/* Moved on meanwhile (failed, retired by the operator): keep the numbers only. */
		if (peer_fault && cur.state == NODE_VERIFYING)
			log_warn("node %s stays verifying, to be checked again: a reference peer failed (%s)",
				 n->name, why);
		else
			log_info("node %s is %s, no longer verifying: its RDMA results are stored, its state stays",
				 n->name, node_state_name(cur.state));
		if (verify_store(call, n->name, judged, err))
			goto out;
	}
	ret = api_node_result(call, n, steps, NULL, result, err);
	steps = NULL;
	if (!ret)
		json_object_set_new(*result, "rdma", json_incref(judged));
out:
	json_decref(steps);
	json_decref(judged);
	return ret;
}

static int finish_fn(struct api_call *call, void *arg, json_t **result, struct loom_err *err)
{
	return verify_finish(call, arg, result, err);
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

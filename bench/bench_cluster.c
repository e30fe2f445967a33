/*
 * bench/bench_cluster.c: one change reaching N agents through etcd.
 *
 * One process plays the controller (a reconciler of remote targets, as
 * loomd in cluster mode) and N agents on the null target (each with its
 * own etcd connection, lease, watch and reconciler; the watches of one
 * hosting thread share its etcd_watcher).  It measures, for a change that
 * reaches every agent, the time from reconciler_post until the controller
 * has every agent's report of it, and the etcd requests it cost; then how
 * long an agent that stops renewing its lease takes to show unreachable.
 *
 * With REREADS > 0, that many times before the death: every agent is cut
 * off (its hosting thread stops, and every etcd connection of the process
 * is cut with `ss -K`, as a network path lost), the controller changes
 * every agent's slice, etcd's history is compacted past the revision the
 * agents' watches would resume from, and the agents are let go: each
 * finds its watch's revision compacted, reads its key again and reports.
 * Timed from the let-go until the controller has every report; with the
 * etcd requests that ran out of their budget (must be none), the single
 * tries cut by their timeout, and the watch streams resumed.
 *
 * usage: bench_cluster ENDPOINTS AGENTS THREADS TTL_S CHANGES [REREADS]
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "agent/agent.h"
#include "lib/log.h"
#include "src/reconcile.h"
#include "targets/remote.h"

struct host {
	struct etcd_watcher *w;
	struct agent **agents;
	size_t n;
	bool first;		/* hosts agent 0 */
	atomic_bool parked;	/* stopped while cut off */
	pthread_t thread;
};

static atomic_bool stop;
static atomic_bool cut_off;	/* the hosting threads stop stepping */
static atomic_int kill_first = 0;	/* 1: the host of agent 0 drops it */
static int64_t killed_at_ns;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *host_main(void *arg)
{
	struct host *h = arg;

	while (!atomic_load(&stop)) {
		if (atomic_load(&cut_off)) {
			atomic_store(&h->parked, true);
			usleep(1000);
			continue;
		}
		atomic_store(&h->parked, false);
		if (h->first && atomic_load(&kill_first) == 1) {
			/* A death: no revoke, no more keepalives (as kill -9). */
			agent_free(&h->agents[0], false);
			killed_at_ns = now_ns();
			atomic_store(&kill_first, 2);
		}
		for (size_t i = 0; i < h->n; i++)
			if (h->agents[i])
				agent_step(h->agents[i]);
		etcd_watcher_run(h->w, 5);
	}
	return NULL;
}

static struct topology *make_topology(size_t n)
{
	json_t *vteps = json_array(), *root;
	struct topology *topo = NULL;
	struct loom_err err = { 0 };

	for (size_t i = 0; i < n; i++) {
		char name[32], ip[32];

		snprintf(name, sizeof(name), "vt-%04zu", i);
		snprintf(ip, sizeof(ip), "10.%zu.%zu.1", 1 + i / 250, i % 250);
		json_array_append_new(vteps, json_pack("{ss ss ss si ss}", "name", name, "site", "s1", "vtep_ip", ip,
						       "asn", 65000, "vty_dir", "/nonexistent"));
	}
	root = json_pack("{s[{ss}] so s[]}", "sites", "name", "s1", "vteps", vteps, "nodes");
	if (topology_load_json(root, &topo, &err))
		fprintf(stderr, "topology: %s (%s)\n", err.msg, err.field);
	json_decref(root);
	return topo;
}

/* Every VTEP's slice: one VNI on each when @with, none otherwise. */
static struct desired *make_desired(const struct topology *topo, bool with, uint32_t vni)
{
	struct desired *d = calloc(1, sizeof(*d));

	d->n_vteps = topo->n_vteps;
	d->vteps = calloc(d->n_vteps, sizeof(*d->vteps));
	for (size_t i = 0; i < d->n_vteps; i++) {
		struct vtep_desired *v = &d->vteps[i];

		snprintf(v->vtep, sizeof(v->vtep), "%s", topo->vteps[i].name);
		v->vnis = calloc(1, sizeof(*v->vnis));
		if (!with)
			continue;
		v->n_vnis = 1;
		v->vnis[0].vni = vni;
		v->vnis[0].mtu = 9000;
		snprintf(v->vnis[0].tenant, sizeof(v->vnis[0].tenant), "bench");
		snprintf(v->vnis[0].segment, sizeof(v->vnis[0].segment), "s%u", vni);
		v->vnis[0].ports = calloc(1, sizeof(*v->vnis[0].ports));
		v->vnis[0].n_ports = 1;
		snprintf(v->vnis[0].ports[0], sizeof(v->vnis[0].ports[0]), "swp1");
	}
	return d;
}

/* The ms until the controller had sent its transactions, of the last converge. */
static double published_ms;

static struct host *g_hosts;
static size_t g_n_hosts;

/* Has every agent written its status for controller generation @gen?
 * (Read from the hosting threads' agents without their lock: a benchmark's
 * poll.)  The benchmark's own check beside reconciler_done, which waits
 * for the controller's view: the two must agree. */
static bool agents_reported(uint64_t gen)
{
	for (size_t k = 0; k < g_n_hosts; k++)
		for (size_t i = 0; i < g_hosts[k].n; i++)
			if (g_hosts[k].agents[i] && agent_reported_gen(g_hosts[k].agents[i]) < gen)
				return false;
	return true;
}

/* Posts @d and drives the controller until every agent reported it (in
 * the controller, and in etcd); ms. */
static double converge(struct reconciler *ctl, const struct desired *d, bool *all_ok)
{
	int64_t t0 = now_ns();
	uint64_t req0 = remote_etcd_requests(ctl), need = (d->n_vteps + 127) / 128;
	uint64_t gen = reconciler_post(ctl, d);

	published_ms = -1;
	while (!reconciler_done(ctl, gen, all_ok) || !agents_reported(gen)) {
		reconciler_collect(ctl);
		if (published_ms < 0 && remote_etcd_requests(ctl) - req0 >= need)
			published_ms = (now_ns() - t0) / 1e6;
		usleep(1000);
		if (now_ns() - t0 > 120LL * 1000000000) {
			*all_ok = false;
			break;
		}
	}
	return (now_ns() - t0) / 1e6;
}

/* Sums over the agents: etcd calls out of budget, tries cut by their
 * timeout, re-reads after a compaction; and the hosts' watch resumptions. */
struct agent_sums {
	uint64_t timeouts, attempt_timeouts, rereads, watch_retries;
};

static struct agent_sums agents_sums(struct host *hosts, size_t n_hosts)
{
	struct agent_sums s = { 0 };

	for (size_t k = 0; k < n_hosts; k++) {
		s.watch_retries += etcd_watcher_retries(hosts[k].w);
		for (size_t i = 0; i < hosts[k].n; i++) {
			uint64_t att = 0;

			if (!hosts[k].agents[i])
				continue;
			s.timeouts += etcd_timeouts(agent_etcd(hosts[k].agents[i]), &att);
			s.attempt_timeouts += att;
			s.rereads += agent_rereads(hosts[k].agents[i]);
		}
	}
	return s;
}

/* Cuts every established TCP connection of this machine to the etcd
 * members' client ports (@eps): the agents' and the controller's. */
static void cut_connections(const char *eps)
{
	char cmd[2048] = "ss -K -tnH state established '( ";
	const char *p = eps;
	bool first = true;

	while ((p = strstr(p, "://"))) {
		const char *colon = strchr(p + 3, ':');
		size_t len = strlen(cmd);

		if (!colon)
			break;
		snprintf(cmd + len, sizeof(cmd) - len, "%sdport = :%d", first ? "" : " or ", atoi(colon + 1));
		first = false;
		p = colon;
	}
	strncat(cmd, " )' >/dev/null 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: %s failed\n", cmd);
}

/*
 * Round @round of the compaction re-read: cut off, change, compact, let go;
 * returns the ms from the let-go until the controller has every report.
 */
static double reread_round(struct reconciler *ctl, struct host *hosts, size_t n_hosts, const struct topology *topo,
			   const char *eps, unsigned int round, bool *ok)
{
	struct desired *d = make_desired(topo, round % 2 == 0, 5000 + round);
	struct agent_sums s0 = agents_sums(hosts, n_hosts), s1;
	uint64_t ctl0 = remote_etcd_requests(ctl), gen;
	size_t need = (topo->n_vteps + 127) / 128;
	struct loom_err err = { 0 };
	struct etcd *e = NULL;
	struct etcd_header hdr = { 0 };
	struct etcd_kv kv = { 0 };
	bool found = false;
	int64_t t0, t_cut;
	double ms;

	atomic_store(&cut_off, true);
	for (size_t k = 0; k < n_hosts; k++)
		while (!atomic_load(&hosts[k].parked))
			usleep(1000);
	t_cut = now_ns();
	cut_connections(eps);
	gen = reconciler_post(ctl, d);
	/* The controller's puts land (it has no agent report to wait for yet). */
	while (remote_etcd_requests(ctl) - ctl0 < need && now_ns() - t_cut < 20LL * 1000000000) {
		reconciler_collect(ctl);
		usleep(2000);
	}
	usleep(100000);
	etcd_open(eps, 5000, &e, &err);
	for (int i = 0; i < 3; i++)
		etcd_put(e, "/bench/filler", "x", 1, 0, NULL, &err);
	if (etcd_get(e, "/bench/filler", &kv, &found, &hdr, &err) || etcd_compact(e, hdr.revision, &err))
		fprintf(stderr, "compaction: %s\n", err.msg);
	etcd_kv_clear(&kv);
	etcd_close(&e);
	printf("reread %u: agents cut off (threads stopped, connections cut) %.0f ms; controller published "
	       "(%" PRIu64 " requests) and etcd compacted to revision %" PRId64 "\n",
	       round + 1, (now_ns() - t_cut) / 1e6, remote_etcd_requests(ctl) - ctl0, hdr.revision);
	t0 = now_ns();
	atomic_store(&cut_off, false);
	while (!reconciler_done(ctl, gen, ok) || !agents_reported(gen)) {
		reconciler_collect(ctl);
		usleep(1000);
		if (now_ns() - t0 > 120LL * 1000000000) {
			*ok = false;
			break;
		}
	}
	ms = (now_ns() - t0) / 1e6;
	s1 = agents_sums(hosts, n_hosts);
	{
		uint64_t ct_att = 0, ct = remote_etcd_timeouts(ctl, &ct_att);

		printf("reread %u: all %zu agents re-read and reported in %.0f ms%s (target < 30000); agents' re-reads "
		       "after compaction %" PRIu64 ", watch streams resumed %" PRIu64 "; etcd requests out of "
		       "budget: agents %" PRIu64 ", controller %" PRIu64 " (target 0); single tries cut by their "
		       "timeout: agents %" PRIu64 ", controller %" PRIu64 "\n",
		       round + 1, topo->n_vteps, ms, *ok ? "" : " (NOT all reported)", s1.rereads - s0.rereads,
		       s1.watch_retries - s0.watch_retries, s1.timeouts - s0.timeouts, ct,
		       s1.attempt_timeouts - s0.attempt_timeouts, ct_att);
		if (s1.timeouts != s0.timeouts || ct)
			*ok = false;
	}
	desired_free(&d);
	return ms;
}

/* With BENCH_PERF_CTL=FIFO (bench/cluster_agents.sh with CLUSTER_PERF),
 * a `perf record --control fifo:FIFO -D -1` records only the changes. */
static void perf_ctl(const char *cmd)
{
	const char *fifo = getenv("BENCH_PERF_CTL");
	FILE *f;

	if (!fifo || !(f = fopen(fifo, "w")))
		return;
	fprintf(f, "%s\n", cmd);
	fclose(f);
	usleep(100000);
}

static uint64_t agents_requests(struct host *hosts, size_t n_hosts)
{
	uint64_t n = 0;

	for (size_t k = 0; k < n_hosts; k++)
		for (size_t i = 0; i < hosts[k].n; i++)
			if (hosts[k].agents[i])
				n += agent_etcd_requests(hosts[k].agents[i]);
	return n;
}

int main(int argc, char **argv)
{
	const char *eps;
	size_t n_agents, n_hosts;
	unsigned int ttl, changes, rereads;
	struct reconciler_opts opts = { 0 };
	struct reconciler *ctl = NULL;
	struct topology *topo;
	struct host *hosts;
	struct loom_err err = { 0 };
	bool ok = true;
	double ms;

	if (argc != 6 && argc != 7) {
		fprintf(stderr, "usage: bench_cluster ENDPOINTS AGENTS THREADS TTL_S CHANGES [REREADS]\n");
		return 2;
	}
	eps = argv[1];
	n_agents = strtoul(argv[2], NULL, 10);
	n_hosts = strtoul(argv[3], NULL, 10);
	ttl = (unsigned int)strtoul(argv[4], NULL, 10);
	changes = (unsigned int)strtoul(argv[5], NULL, 10);
	rereads = argc > 6 ? (unsigned int)strtoul(argv[6], NULL, 10) : 0;
	log_level = getenv("BENCH_LOG") ? LOG_LVL_INFO : LOG_LVL_ERR;
	setvbuf(stdout, NULL, _IOLBF, 0);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	topo = make_topology(n_agents);
	if (!topo)
		return 1;

	/* The agents, spread over the hosting threads. */
	hosts = calloc(n_hosts, sizeof(*hosts));
	for (size_t k = 0; k < n_hosts; k++) {
		if (etcd_watcher_new(eps, &hosts[k].w, &err)) {
			fprintf(stderr, "watcher: %s\n", err.msg);
			return 1;
		}
		hosts[k].agents = calloc(n_agents / n_hosts + 1, sizeof(*hosts[k].agents));
	}
	for (size_t i = 0; i < n_agents; i++) {
		struct host *h = &hosts[i % n_hosts];
		struct agent_conf c;

		agent_conf_defaults(&c);
		snprintf(c.name, sizeof(c.name), "%s", topo->vteps[i].name);
		snprintf(c.kind, sizeof(c.kind), "vtep");
		snprintf(c.etcd, sizeof(c.etcd), "%s", getenv("BENCH_AGENT_EPS") ? getenv("BENCH_AGENT_EPS") : eps);
		c.lease_ttl_s = ttl;
		c.null_target = true;
		c.resync_interval_s = 0;
		if (agent_new(&c, topo, h->w, &h->agents[h->n++], &err)) {
			fprintf(stderr, "agent %zu: %s\n", i, err.msg);
			return 1;
		}
	}
	hosts[0].first = true;
	g_hosts = hosts;
	g_n_hosts = n_hosts;
	for (size_t k = 0; k < n_hosts; k++)
		pthread_create(&hosts[k].thread, NULL, host_main, &hosts[k]);

	/* Every agent holds its lease before anything is measured. */
	{
		struct etcd *e = NULL;
		int64_t t0 = now_ns();
		size_t n = 0;

		etcd_open(eps, 5000, &e, &err);
		while (n < n_agents) {
			struct etcd_kv *kvs = NULL;

			usleep(50000);
			n = 0;
			if (etcd_get_prefix(e, "/loom/v1/alive/", 0, &kvs, &n, NULL, &err) == 0)
				etcd_kvs_free(&kvs, n);
		}
		printf("%zu agents started (lease, alive key, desired read, watch) in %.0f ms\n", n_agents,
		       (now_ns() - t0) / 1e6);
		etcd_close(&e);
	}

	/* The controller. */
	opts.null_targets = true;
	opts.cluster_etcd = eps;
	if (reconciler_start(topo, &opts, &ctl)) {
		fprintf(stderr, "controller: did not start\n");
		return 1;
	}
	{
		struct desired *d = make_desired(topo, false, 0);

		ms = converge(ctl, d, &ok);
		printf("first publish (every agent's empty slice, agents starting): %.0f ms%s\n", ms,
		       ok ? "" : " (NOT all reported)");
		if (!ok) {
			json_t *st = reconciler_gen_report(ctl, reconciler_post(ctl, d), true);
			char *txt = json_dumps(st, JSON_COMPACT);

			printf("%.600s\n", txt);
			free(txt);
			json_decref(st);
		}
		desired_free(&d);
	}
	perf_ctl("enable");
	for (unsigned int c = 0; c < changes; c++) {
		struct desired *d = make_desired(topo, c % 2 == 0, 1000 + c);
		uint64_t ctl0 = remote_etcd_requests(ctl), ag0 = agents_requests(hosts, n_hosts);

		ms = converge(ctl, d, &ok);
		printf("change %u (%s a VNI on all %zu VTEPs): %.0f ms until all reported%s (the controller's "
		       "transactions sent after %.0f ms); etcd requests: controller %" PRIu64 ", agents %" PRIu64
		       " (status puts + keepalives meanwhile)\n",
		       c + 1, c % 2 == 0 ? "add" : "remove", n_agents, ms, ok ? "" : " (NOT all reported)", published_ms,
		       remote_etcd_requests(ctl) - ctl0, agents_requests(hosts, n_hosts) - ag0);
		desired_free(&d);
	}

	perf_ctl("disable");
	for (unsigned int r = 0; r < rereads; r++)
		reread_round(ctl, hosts, n_hosts, topo, eps, r, &ok);

	/* A death: agent 0 stops renewing its lease. */
	atomic_store(&kill_first, 1);
	while (atomic_load(&kill_first) != 2)
		usleep(1000);
	printf("agent %s stops renewing its lease\n", topo->vteps[0].name);
	for (;;) {
		bool unreachable = false;

		reconciler_collect(ctl);
		reconciler_lock(ctl);
		for (size_t i = 0; i < reconciler_n_targets(ctl); i++) {
			const struct target *t = reconciler_target_at(ctl, i);

			if (!strcmp(reconciler_target_name(t), topo->vteps[0].name))
				unreachable = !strncmp(reconciler_target_error(t), "unreachable", 11);
		}
		reconciler_unlock(ctl);
		if (unreachable)
			break;
		if (now_ns() - killed_at_ns > (int64_t)(ttl * 3 + 5) * 1000000000) {
			printf("agent death: NOT shown unreachable within %u s\n", ttl * 3 + 5);
			break;
		}
		usleep(5000);
	}
	printf("agent death shown unreachable after %.0f ms (lease TTL %u s)\n", (now_ns() - killed_at_ns) / 1e6,
	       ttl);

	atomic_store(&stop, true);
	for (size_t k = 0; k < n_hosts; k++) {
		pthread_join(hosts[k].thread, NULL);
		for (size_t i = 0; i < hosts[k].n; i++)
			agent_free(&hosts[k].agents[i], true);
		etcd_watcher_free(&hosts[k].w);
		free(hosts[k].agents);
	}
	reconciler_stop(&ctl);
	free(hosts);
	topology_free(&topo);
	curl_global_cleanup();
	return ok ? 0 : 1;
}

/*
 * agent/agent.h: loom-agent, the part of loom that runs on a VTEP, a
 * subnet-manager host or a GPU node of a site run from one controller
 * (docs/cluster.md, loom-agent(8)).
 *
 * An agent drives the same target code loomd runs in-process (a
 * reconciler on a topology cut down to its own target) from the slice the
 * controller publishes to PREFIX/desired/NAME, and writes back
 * PREFIX/status/NAME, PREFIX/alive/NAME (bound to its lease) and its
 * watchers' signals, PREFIX/signal/NAME/SEQ (carrier of the nodes' access
 * ports on a VTEP, HCA port state and counters under an SM), which the
 * controller feeds into its fault path.  It keeps
 * what it programmed whatever happens to etcd or the controller: a missing,
 * deleted or malformed desired value, an unreachable etcd or another
 * cluster behind its endpoints change nothing on the dataplane.
 *
 * The loop is split so that one process can host many agents (the
 * benchmark): agents share an etcd_watcher; each has its own etcd
 * connection, lease and reconciler, and agent_step does its unary work.
 */
#ifndef LOOM_AGENT_AGENT_H
#define LOOM_AGENT_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster/etcd.h"
#include "lib/err.h"
#include "topology/topology.h"

struct agent_conf {
	char path[256];
	char name[LOOM_NAME_MAX];
	char kind[8];			/* vtep, sm, node */
	char etcd[1024];		/* cluster.etcd */
	char prefix[128];		/* cluster.prefix */
	char cluster_id[24];		/* cluster.id: hex, "" = any */
	unsigned int lease_ttl_s;	/* cluster.lease_ttl */
	unsigned int timeout_ms;	/* cluster.timeout_ms: every etcd request */
	char topology[256];
	bool null_target;		/* targets = null */
	char nvml[LOOM_PATH_MAX];	/* gpu.nvml (kind node) */
	bool allow_mig_mode;
	char frr_apply[16];
	char log_level[16];
	unsigned int resync_interval_s;
	unsigned int counter_interval_s;	/* fault.counter_interval: the SM's HCA watcher, 0 = off */
};

void agent_conf_defaults(struct agent_conf *c);
int agent_conf_load(const char *path, struct agent_conf *c, struct loom_err *err);

struct agent;

/* What -n checks: the topology loads and has @c->name as a @c->kind. */
int agent_check(const struct agent_conf *c, struct loom_err *err);

/*
 * Loads the topology, checks that it has @c->name as a @c->kind and starts
 * the reconciler on that target alone; talks to etcd from agent_step on.
 * @topo: NULL to load @c->topology, else shared (the benchmark), not freed.
 */
int agent_new(const struct agent_conf *c, const struct topology *topo, struct etcd_watcher *w,
	      struct agent **out, struct loom_err *err);
/* Stops the reconciler (the dataplane stays as it is) and revokes the
 * lease when @revoke. */
void agent_free(struct agent **pa, bool revoke);

/* Does what is due: etcd reads, lease, status; returns ms until next due. */
int agent_step(struct agent *a);
/* The reconciler's descriptor: readable when a run finished. */
int agent_event_fd(const struct agent *a);
/* The last controller generation reported done (benchmarks). */
uint64_t agent_reported_gen(const struct agent *a);
uint64_t agent_etcd_requests(const struct agent *a);
/* Its etcd client (benchmarks: etcd_timeouts). */
const struct etcd *agent_etcd(const struct agent *a);
/* Times it read desired/NAME again because its watch's revision was compacted. */
uint64_t agent_rereads(const struct agent *a);

#endif

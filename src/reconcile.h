/*
 * src/reconcile.h: the reconciler.  It turns the compiled desired state into
 * work for the targets and keeps the status of every segment on every target.
 *
 * Each target (a VTEP: kernel then FRR; a subnet manager: OpenSM and its
 * fabric; a GPU node) runs on its own worker thread, so that a slow vtysh
 * or a sweep of OpenSM never blocks loomd's event loop or another target.
 * The main thread posts jobs (a private copy of the target's slice of the
 * desired state, tagged with a generation) and is woken through an eventfd
 * when a worker finished one.  A worker's run is level-triggered and
 * idempotent: observe -> plan -> apply -> verify, so a crash at any point
 * is repaired by the next run.  The kinds of target are registered in
 * targets/registry.c (targets/target.h); this scheduler names none.
 */
#ifndef LOOM_SRC_RECONCILE_H
#define LOOM_SRC_RECONCILE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "src/conf.h"
#include "overlay/frr.h"
/* The kinds' own questions (P_Key capacity, HCA signals, carrier changes,
 * a GPU's status) are answered in their files; declared there. */
#include "targets/gpu.h"
#include "targets/sm.h"
#include "targets/target.h"
#include "targets/vtep.h"
#include "tenancy/compile.h"
#include "topology/topology.h"

struct reconciler;

struct reconciler_opts {
	const struct conf_nvml *gpu_nodes;	/* loomd.conf gpu.nvml.NODE */
	size_t n_gpu_nodes;
	bool allow_mig_mode;		/* gpu.allow_mig_mode: loom may turn MIG mode on */
	enum frr_apply_mode frr_apply;	/* how FRR targets apply (loomd.conf frr_apply) */
	/* Every VTEP and subnet manager is a null target (targets/null.h):
	 * no namespace, FRR or OpenSM; for tests and benchmarks. */
	bool null_targets;
	/* Cluster mode (loomd.conf cluster.etcd): every VTEP, subnet manager
	 * and MIG node is a remote target (targets/remote.h) driven by its
	 * agent through etcd at these endpoints, under this prefix; set
	 * null_targets with it so that no local kind adds its own. */
	const char *cluster_etcd;
	const char *cluster_prefix;
	/* The agents' lease TTL (cluster.lease_ttl): an agent not seen alive
	 * since the start is waited for this + 1 s before it is unreachable. */
	unsigned int cluster_lease_ttl_s;
	/* Highly available controllers (src/ha.h): the leader's election key
	 * and its create_revision, compared by every put (fencing). */
	const char *fence_key;
	int64_t fence_rev;
};

/*
 * Starts one worker per VTEP and per subnet manager of @topo, and one per
 * node of @opts->gpu_nodes that the topology has (@opts may be NULL).  A
 * GPU worker owns the whole MIG layout of its node's MIG-capable GPUs.
 */
int reconciler_start(const struct topology *topo, const struct reconciler_opts *opts,
		     struct reconciler **out);
void reconciler_stop(struct reconciler **r);

/* The eventfd the main loop watches; call reconciler_collect when readable. */
int reconciler_event_fd(const struct reconciler *r);
/*
 * Drift sockets (one per kernel VTEP: targets whose kind has an event_fd);
 * call reconciler_drift(r, i) when fd i is readable.  A VTEP whose
 * namespace was missing at start is opened later by its worker, which then
 * appends its fd and wakes the event fd:
 * after reconciler_collect, watch the fds from the last count seen up to
 * reconciler_n_drift_fds (never more than reconciler_max_drift_fds).
 */
size_t reconciler_n_drift_fds(const struct reconciler *r);
size_t reconciler_max_drift_fds(const struct reconciler *r);
int reconciler_drift_fd(const struct reconciler *r, size_t i);
void reconciler_drift(struct reconciler *r, size_t i);



/*
 * Posts a new desired state (compile, and compile_gpus for the GPU
 * targets).  Targets whose slice differs from what they were last given
 * get a job; returns the generation of this post.
 */
uint64_t reconciler_post(struct reconciler *r, const struct desired *d);

/* Every target re-observes and repairs (periodic resync, drift, restart). */
void reconciler_resync_all(struct reconciler *r);

/* Drains the eventfd; returns the number of jobs that finished. */
int reconciler_collect(struct reconciler *r);

/*
 * Has every target that generation @gen changed finished a run of it (or
 * of a later one), with none of the items @gen changed there (its VNIs or
 * P_Keys, added, changed or removed) left pending (pending items are
 * retried, so not done yet)?  *all_ok is false when one of those items is
 * in error or the target has a target-wide error.  Other segments' items
 * on the same targets do not count.  A generation older than the last 64
 * changes to a target is judged on all of that target's items.
 */
bool reconciler_done(const struct reconciler *r, uint64_t gen, bool *all_ok);
/*
 * reconciler_done judged on the targets named in @names only (@n of them;
 * NULL: every target): a node's removal waits for the targets that hold
 * its ports, not for a target in error elsewhere in the fabric.
 * Generation 0 (a write that changed no network state) touches none.
 */
bool reconciler_done_on(const struct reconciler *r, uint64_t gen, const char *const *names, size_t n,
			bool *all_ok);
/*
 * Is every network target idle and converged (nothing pending, no error)?
 * GPU workers do not count: a GPU in error must not hold back a network
 * removal or an ID release.
 */
bool reconciler_converged(const struct reconciler *r);
/* reconciler_converged judged on the targets named in @names only. */
bool reconciler_converged_on(const struct reconciler *r, const char *const *names, size_t n);

/*
 * Status as JSON: one entry per (segment, target, layer) with state,
 * reason and since; plus the targets themselves.  Filters may be NULL.
 */
json_t *reconciler_status(const struct reconciler *r, const char *tenant, const char *segment);
/*
 * How many targets have finished their first run (of *@total); @waiting
 * gets the names of the others, comma-separated (cut at @len).
 */
size_t reconciler_first_runs(const struct reconciler *r, size_t *total, char *waiting, size_t len);
/*
 * For the metrics: the targets as reconciler_status lists them, each with
 * "states": {STATE: n} counting its items, without an entry per item.
 */
json_t *reconciler_summary(const struct reconciler *r);
/* For the metrics: [{name, kind, runs, drift, counters: {NAME: total}}] per target. */
json_t *reconciler_counters(const struct reconciler *r);
/*
 * Status entries not programmed on the targets generation @gen changed
 * (for `wait`): with @changed, those of what @gen changed (plus targets
 * still running it and target-wide errors), which decide reconciler_done;
 * without, the other segments' entries on those targets (reported, not
 * judged).
 */
json_t *reconciler_gen_report(const struct reconciler *r, uint64_t gen, bool changed);


#endif

/*
 * src/daemon.h: the state of one loomd, and the core every other part of
 * it builds on: the model kept in step with the store, the desired state
 * posted to the reconciler, the topology reloaded, and the hook lists
 * through which the event loop tells the rest what happened.
 *
 * Nothing declared here calls upward: the event loop (src/server.c), the
 * API methods (src/api*.c) and the lifecycle drivers (replacement, verify,
 * watch, converge) all call in, and the loop reaches them only through
 * the hooks that src/startup.c registers.
 */
#ifndef LOOM_SRC_DAEMON_H
#define LOOM_SRC_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "fabric/rdma_bw.h"
#include "lib/err.h"
#include "node/fault.h"
#include "src/conf.h"
#include "store/store.h"
#include "tenancy/model.h"
#include "topology/topology.h"

struct client;
struct server_tls;
struct loomd;
struct reconciler;
struct waiter;
struct rdma_job;
struct pkeys_stamp;
struct db_snapshot;
struct loomd_ha;

/*
 * A replacement loomd is driving (src/replacement.c).  Its record, with
 * every step, lives in the store (kv `replace.OLD`); this is the index.
 */
struct replace_run {
	char old_node[LOOM_NAME_MAX];
	char new_node[LOOM_NAME_MAX];
	uint64_t wait_gen;	/* verify-attached: the generation carrying NEW in (0: not posted yet) */
};

/*
 * Where the event loop calls out, in the manner of FRR's lib/hook.h: a
 * part of loomd registers a function on a point, and the loop calls every
 * function of that point in the order they were registered, without
 * knowing who they are.
 */
enum loomd_hook {
	LOOMD_HOOK_START,	/* the loop is about to start */
	LOOMD_HOOK_COMMITTED,	/* after a loop iteration's batch, when something committed, posted or reported */
	LOOMD_HOOK_REPORTED,	/* targets reported: the reconciler's results were collected */
	LOOMD_HOOK_CONVERGED,	/* an iteration with a report, once its waiters were answered */
	LOOMD_HOOK_RECONCILER,	/* a new reconciler started (topology reload): watch its fds */
	LOOMD_HOOK_MAX
};

typedef void loomd_hook_fn(struct loomd *d);
/* The one hook with an argument: drift socket @index of the reconciler was read. */
typedef void loomd_drift_fn(struct loomd *d, size_t index);

#define LOOMD_HOOKS_PER_POINT 8
#define LOOMD_FDS_MAX 8

/* A file descriptor of some part of loomd that the event loop watches for it. */
struct loomd_fd {
	int fd;
	loomd_hook_fn *fn;	/* called when @fd is readable */
};

struct loomd {
	struct loom_config cfg;
	struct store *store;
	struct topology *topo;
	struct model model;

	int epfd;
	int listen_fd;
	struct server_tls *tls;	/* listen = tls://...: the TLS listener, else NULL */
	int signal_fd;
	int resync_fd;		/* timerfd: periodic full resync */
	bool stop;
	bool reload_requested;

	struct client *clients;	/* doubly linked */
	unsigned int n_clients;
	unsigned int n_subscribers;	/* clients streaming events (events.subscribe) */

	/* The reconciler (NULL with reconcile = no) and requests waiting on it. */
	struct reconciler *rec;
	struct waiter *waiters;
	bool model_changed;	/* recompile and post after this batch */
	uint64_t posted_gen;	/* the newest generation posted */
	/* A lifecycle removal is pending: post after this batch, and the
	 * generation that carries it (0 = none). */
	bool life_pending;
	uint64_t life_gen;

	/* The node lifecycle: fault policy and its hold-down history, and the
	 * RDMA admission thresholds, from loomd.conf. */
	struct fault_policy fault_policy;
	struct fault_history faults;
	/* Cluster mode: the last signal SEQ acted on per agent (src/watch.c). */
	json_t *signals_applied;
	struct rdma_thresholds rdma;
	/* RDMA checks node.verify runs (src/verify.c). */
	struct rdma_job *rdma_jobs;
	int rdma_fd;		/* eventfd: a job finished; -1 when not open */

	/* Replacements being driven, step by step (src/replacement.c). */
	struct replace_run *replacing;
	size_t n_replacing;

	/* The P_Keys the operator's own partitions use (the model borrows
	 * them as reserved IDs), and each partitions file as last read. */
	struct id_reserved *operator_pkeys;
	size_t n_operator_pkeys;
	struct pkeys_stamp *pkeys_stamps;
	size_t n_pkeys_stamps;

	/* loomd -n: the private copy of the database it opened instead (src/check.h). */
	struct db_snapshot *check_db;

	/* Group commit: the transaction open for the current batch, and how
	 * many writes it holds (none: rolled back, the file left as it was). */
	bool in_txn;
	unsigned int txn_writes;
	unsigned int txn_internal;	/* of them, loomd's own (fenced: src/ha.h) */
	/* cluster.ha: the replicated log and the election (src/ha.c), else NULL. */
	struct loomd_ha *ha;
	uint64_t batches, batched_writes;
	int64_t started_ns;

	/* Prometheus metrics (src/metrics.c); NULL without metrics.listen. */
	struct loomd_metrics *metrics;
	/* systemd (src/readiness.c): READY=1 sent; the watchdog's timer (-1: none). */
	bool ready;
	int watchdog_fd;

	loomd_hook_fn *hooks[LOOMD_HOOK_MAX][LOOMD_HOOKS_PER_POINT];
	loomd_drift_fn *drift_hooks[LOOMD_HOOKS_PER_POINT];
	struct loomd_fd fds[LOOMD_FDS_MAX];
	size_t n_fds;
};

/* Adds @fn to the end of @point's list; -ENOSPC when the list is full. */
int loomd_hook_add(struct loomd *d, enum loomd_hook point, loomd_hook_fn *fn);
/* Calls every function of @point, in the order they were added. */
void loomd_hook_call(struct loomd *d, enum loomd_hook point);
/* The same for the drift hook. */
int loomd_drift_hook_add(struct loomd *d, loomd_drift_fn *fn);
void loomd_drift_hook_call(struct loomd *d, size_t index);

/*
 * Has the event loop watch @fd and call @fn when it is readable; before
 * server_open, which adds them all.  -ENOSPC when the table is full.
 */
int loomd_fd_add(struct loomd *d, int fd, loomd_hook_fn *fn);

/* Reloads the model from the store (after a failed request or commit). */
int loomd_model_reload(struct loomd *d);
/* Compiles the model and posts it to the reconciler; returns the generation. */
uint64_t loomd_post(struct loomd *d);
/* Starts the reconciler over d->topo with loomd.conf's options. */
int loomd_reconciler_start(struct loomd *d);
/*
 * Loads the topology file and, when it fits the model, swaps it in; a
 * running reconciler is started anew over it (LOOMD_HOOK_RECONCILER).
 */
int loomd_topology_reload(struct loomd *d, struct loom_err *err);

/*
 * The topology file cut down to this instance's share (loomd.conf's
 * instance and the file's delegations), its ID pools checked against
 * the other instances'.
 */
int loomd_topology_read(const struct loom_config *cfg, struct topology **out, struct loom_err *err);

/*
 * Read the P_Keys the operator's own lines use in every subnet manager's
 * partitions file (outside loom's section, Default aside) and hand them to
 * the model as reserved IDs, so that the pool never allocates one and an
 * explicit request for one is refused.  A file is read again only when it
 * changed (inode, size, mtime); one that cannot be parsed keeps what was
 * read before (logged).  Called at start-up and before every request that
 * may allocate a P_Key.
 */
void loomd_operator_pkeys_refresh(struct loomd *d);
/* [{pkey, partition, file, segment?}]: `segment` when a segment carries it already. */
json_t *loomd_operator_pkeys_json(const struct loomd *d);

#endif

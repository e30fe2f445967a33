/*
 * src/daemon.h: the state of one loomd, shared by the event loop
 * (src/server.c) and the API methods (src/api.c).
 */
#ifndef LOOM_SRC_DAEMON_H
#define LOOM_SRC_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "lib/err.h"
#include "fabric/rdma_bw.h"
#include "src/conf.h"
#include "node/fault.h"
#include "src/store.h"
#include "tenancy/model.h"
#include "topology/topology.h"

enum api_role { ROLE_NONE, ROLE_READER, ROLE_ADMIN };

struct api_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	enum api_role role;
};

struct client;
struct reconciler;
struct waiter;
struct rdma_job;
struct rdma_job_result;

/*
 * A replacement loomd is driving (src/replacement.c).  Its record, with
 * every step, lives in the store (kv `replace.OLD`); this is the index.
 */
struct replace_run {
	char old_node[LOOM_NAME_MAX];
	char new_node[LOOM_NAME_MAX];
	uint64_t wait_gen;	/* verify-attached: the generation carrying NEW in (0: not posted yet) */
};

struct loomd {
	struct loom_config cfg;
	struct store *store;
	struct topology *topo;
	struct model model;

	int epfd;
	int listen_fd;
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
	struct rdma_thresholds rdma;
	/* RDMA checks node.verify runs (src/verify.c). */
	struct rdma_job *rdma_jobs;
	int rdma_fd;		/* eventfd: a job finished; -1 when not open */

	/* Replacements being driven, step by step (src/replacement.c). */
	struct replace_run *replacing;
	size_t n_replacing;

	/* Group commit: the transaction open for the current batch. */
	bool in_txn;
	uint64_t batches, batched_writes;
	int64_t started_ns;
};

/* Methods of the API.  A method that writes runs inside a savepoint of the
 * batch's transaction; its handler changes the model and the store together
 * and the server writes the audit record. */
struct api_call {
	struct loomd *d;
	const struct api_peer *peer;
	bool model_touched;	/* the model changed: reload it if the request fails */
	bool replacing;		/* the replacement driver: may attach the node it reserved */
	/* With wait: answer once the replacement of this node has ended. */
	char wait_replace[LOOM_NAME_MAX];
	/* node.verify started an RDMA check of this node: a `wait` waits for it. */
	char rdma_node[LOOM_NAME_MAX];
	/* events.subscribe: the server streams node events after this seq
	 * (of this node only, when named) to the client once it answered. */
	bool subscribe;
	int64_t subscribe_after;
	char subscribe_node[LOOM_NAME_MAX];
};

struct api_method {
	const char *name;
	bool writes;
	int (*fn)(struct api_call *call, json_t *params, json_t **result, struct loom_err *err);
};

const struct api_method *api_method_find(const char *name);

/*
 * The fault path of node.fault, for an event already checked: policy and
 * hold-down, the lifecycle events of the action, node_events rows.  Runs
 * inside the caller's savepoint like a method.
 */
int api_fault_apply(struct api_call *call, const struct fault_event *fe, int64_t now,
		    json_t **result, struct loom_err *err);

/*
 * A watcher's fault (carrier, HCA port state, counters) on the main
 * thread: api_fault_apply as loomd itself, in the current batch's
 * transaction, with an audit record "node.fault" whose params carry the
 * source.  The batch commits at the end of the loop iteration.
 */
void loomd_fault_raise(struct loomd *d, const struct fault_event *fe);

/*
 * A write loomd makes itself (a watcher's fault, a finished RDMA check):
 * @fn runs as a method would, as uid getuid() with the admin role, in a
 * savepoint of the current batch's transaction, with an audit record of
 * @method and @params.  The batch commits at the end of the loop
 * iteration.  Returns 0, or -EINVAL with @err when it was rolled back.
 */
int loomd_internal_write(struct loomd *d, const char *method, json_t *params,
			 int (*fn)(struct api_call *call, void *arg, json_t **result, struct loom_err *err),
			 void *arg, json_t **result, struct loom_err *err);

/*
 * A finished RDMA check (src/verify.c): judges each port's measurement
 * against its rate, stores them (kv rdma.NODE, shown by node.show) and,
 * when the node is still `verifying`, applies verify-pass or verify-fail
 * (a port without a measurement fails it).  Runs as a method.
 */
int api_verify_finish(struct api_call *call, const struct rdma_job_result *job, json_t **result,
		      struct loom_err *err);
/* node.show's object for @name (NULL when it is not in the topology). */
json_t *api_node_json(struct loomd *d, const char *name);

/* Carrier changes seen on drift socket @i (src/watch.c). */
void loomd_watch_carrier(struct loomd *d, size_t i);
/* The HCA watcher's signals, after the reconciler's event fd fired. */
void loomd_watch_hca(struct loomd *d);
const struct api_method *api_methods(size_t *n);

/* Opens the topology, the store and the model; then the socket unless @check_only. */
int loomd_open(struct loomd *d, bool check_only, struct loom_err *err);
void loomd_close(struct loomd *d);

/* Loads the topology file and, when it fits the model, swaps it in. */
int loomd_topology_reload(struct loomd *d, struct loom_err *err);
/* Compiles the model and posts it to the reconciler; returns the generation. */
uint64_t loomd_post(struct loomd *d);
/* Releases ID holds once every target converged. */
void loomd_release_holds(struct loomd *d);
/*
 * Every target converged: draining nodes waiting for that verification
 * move to their goal (lifecycle_confirm), stored with a node_events row.
 */
void loomd_lifecycle_confirm(struct loomd *d);

/* Reloads the model from the store (after a failed request or commit). */
int loomd_model_reload(struct loomd *d);

int server_open(struct loomd *d, struct loom_err *err);
/* Watches the reconciler's eventfd and drift sockets. */
int server_add_reconciler(struct loomd *d, struct loom_err *err);
int server_run(struct loomd *d);
void server_close(struct loomd *d);

int64_t now_realtime_ns(void);

/*
 * The node lifecycle's building blocks in src/api.c, shared with the
 * replacement driver: the same checks, model changes, store rows and
 * node_events as the node.* and segment.* methods.
 */
int api_node_life(struct loomd *d, const char *name, struct node_life *out, struct loom_err *err);
int api_node_life_store(struct api_call *call, const struct node_life *before, struct node_life *after,
			const char *event, struct loom_err *err);
int api_node_event(struct api_call *call, const char *name, enum node_event ev, const char *reason,
		   json_t *steps, json_t *removed, struct loom_err *err);
int api_attach(struct api_call *call, const struct attachment *a, struct loom_err *err);
int api_detach(struct api_call *call, const struct attachment *a, struct loom_err *err);

/*
 * Node replacement driven by loomd (src/replacement.c, docs/lifecycle.md).
 * loomd_replace_start checks OLD and NEW (or picks NEW), builds the plan and
 * stores its record, inside the caller's request; loomd_replace_drive then
 * runs the steps, one transaction each, outside any request, and is called
 * after each batch, whenever the reconciler reports, and at start.
 */
int loomd_replace_load(struct loomd *d);
void loomd_replace_release(struct loomd *d);
int loomd_replace_start(struct api_call *call, const char *old_node, const char *new_node,
			enum node_state goal, const char *reason, json_t **record, struct loom_err *err);
void loomd_replace_drive(struct loomd *d);
/* Has the replacement of @old_node ended?  *ok: it ended `done`; *record: its record (new ref). */
bool loomd_replace_finished(struct loomd *d, const char *old_node, bool *ok, json_t **record);
/* The newest replacement record @node takes part in (as old or new), or NULL. */
json_t *loomd_replace_json(struct loomd *d, const char *node);
/* The OLD whose running replacement brings @node in, or NULL. */
const char *loomd_replace_reserved(const struct loomd *d, const char *node);
int api_node_replace(struct api_call *call, json_t *params, json_t **result, struct loom_err *err);
int api_replace_show(struct api_call *call, json_t *params, json_t **result, struct loom_err *err);
int api_replace_list(struct api_call *call, json_t *params, json_t **result, struct loom_err *err);

#endif

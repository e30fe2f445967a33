/*
 * targets/target.h: the interface between the reconciler (src/reconcile.c,
 * a scheduler that knows no target kind) and the kinds of target it drives.
 *
 * A target kind is one file in targets/ with a struct target_ops and a
 * struct target_kind, and one line in targets/registry.c.  The kind's add
 * function creates its targets from the topology (reconciler_target_add);
 * the scheduler then gives each target its own worker thread, keeps the
 * last slice of the desired state it was given (through the slice ops),
 * queues a job when that slice changed, and publishes what a run reported
 * (items, a target-wide error, phase times) for status, `wait` and the
 * convergence checks.  A kind keeps its handles in the private pointer the
 * scheduler holds for it (reconciler_target_priv); they belong to the
 * target's worker, except where the kind's file says otherwise.
 *
 * Locking: the scheduler's one mutex (reconciler_lock) guards what it
 * publishes; ops are called without it, except next_wake and event_fd.  A kind that
 * shares state with the main thread (SM capacities, HCA signals) takes the
 * same mutex.
 */
#ifndef LOOM_TARGETS_TARGET_H
#define LOOM_TARGETS_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tenancy/compile.h"
#include "topology/topology.h"

struct reconciler;
struct reconciler_opts;
struct target;			/* one target as the scheduler keeps it */

enum seg_state { SEG_PENDING, SEG_PROGRAMMED, SEG_ERROR };

const char *seg_state_name(enum seg_state s);

/* One status item: a segment's VNI or P_Key (or a GPU) on one layer. */
struct target_item {
	char tenant[LOOM_NAME_MAX];
	char segment[LOOM_NAME_MAX];
	uint32_t id;		/* VNI, P_Key or GPU index */
	const char *layer;	/* "kernel", "frr", "opensm", "nvml", "null": static */
	enum seg_state state;
	char reason[256];
	int64_t since_ns;	/* set by the scheduler */
};

#define RUN_COUNTERS_MAX 4

/* What one run reports. */
struct target_result {
	struct target_item *items;
	size_t n_items, cap_items;
	char error[256];	/* target-wide problem, "" when fine */
	double phase_ms[3];	/* named by target_ops.phases */
	/* The kind's own running totals (named by target_ops.counters), as of
	 * the end of this run; kept by the scheduler for the metrics. */
	double counters[RUN_COUNTERS_MAX];
};

/* Appends an item (dropped when out of memory: the run is retried anyway). */
void target_result_add(struct target_result *res, const char *tenant, const char *segment, uint32_t id,
		       const char *layer, enum seg_state state, const char *reason);

/*
 * A kind of slice of the desired state (targets/slices.c): what the
 * scheduler needs to keep the last one a target was given and to tell
 * what a new one changed.
 */
struct target_slice {
	/* Target @name's slice of @d, NULL when @d has none for it (then the
	 * target keeps what it had). */
	const void *(*of)(const struct desired *d, const char *name);
	void *(*dup)(const void *s);
	bool (*equal)(const void *a, const void *b);	/* false when either is NULL */
	void (*free)(void *s);
	/*
	 * The item IDs that differ between @old (NULL: none given yet) and
	 * @new: sorted, in a malloc'd *ids.  NULL: every item of the target
	 * counts for the generation that changed it.
	 */
	int (*touch)(const void *old, const void *new, uint32_t **ids, size_t *n);
};

/* A VTEP's VNIs, a subnet manager's partitions, a node's MIG layouts. */
extern const struct target_slice target_slice_vtep, target_slice_sm, target_slice_gpu;

struct target_ops {
	const char *kind;		/* status JSON's "kind" */
	const char *phases[3];		/* names of last_run_phases_ms */
	/* The first two as the debug log's "run of generation" line names
	 * them, which benchmarks parse; NULL: phases */
	const char *log_phases[2];
	bool hex_ids;			/* item IDs are P_Keys: shown "0x%04x" */
	/* Names of the running totals a run reports in target_result.counters
	 * (e.g. "mads_sent"); NULL from the first unused one. */
	const char *counters[RUN_COUNTERS_MAX];
	/* Items listed under status's "gpus", not "segments", and not judged
	 * by reconciler_converged: a node's device in error must not hold
	 * back a network removal or an ID release. */
	bool node_local;

	const struct target_slice *slice;	/* which part of the desired state it takes */

	/* One run: observe -> plan -> apply -> verify @want, level-triggered. */
	void (*run)(struct target *t, const void *want, struct target_result *res);
	/*
	 * Optional: work while idle, every WATCH_INTERVAL or when next_wake
	 * is due (HCA sampling, cheap drift checks).  Returns whether a run
	 * is needed; with @run_due (a retry is due anyway) drift checks may
	 * be skipped.
	 */
	bool (*idle)(struct target *t, bool run_due);
	/* Optional, under reconciler_lock: when idle work is due next
	 * (CLOCK_MONOTONIC ns), 0 for no wish. */
	int64_t (*next_wake)(const struct target *t);
	/*
	 * Optional: a descriptor the main loop watches (-1 while there is none
	 * yet; a worker that gets one later calls reconciler_target_fd_ready),
	 * and what to do when it is readable: > 0 asks for a run.  event runs
	 * on the main thread.
	 */
	int (*event_fd)(const struct target *t);
	int (*event)(struct target *t);
	/* Frees the private state (after the worker stopped). */
	void (*close)(void *priv);
};

/* A kind: adds its targets for a topology (0 or -errno). */
struct target_kind {
	const char *name;
	int (*add)(struct reconciler *r, const struct topology *topo, const struct reconciler_opts *opts);
};

/* Every kind, NULL-terminated (targets/registry.c). */
extern const struct target_kind *const target_kinds[];

/* ---- what the scheduler offers a kind (src/reconcile.c) ----------------- */

/* Adds a target; the scheduler owns @priv from here on, even on failure. */
int reconciler_target_add(struct reconciler *r, const char *name, const struct target_ops *ops, void *priv,
			  struct target **out);

size_t reconciler_n_targets(const struct reconciler *r);
struct target *reconciler_target_at(const struct reconciler *r, size_t i);
/* The target behind the main loop's descriptor @i (reconciler_drift_fd). */
struct target *reconciler_target_of_fd(const struct reconciler *r, size_t i);

void reconciler_lock(const struct reconciler *r);
void reconciler_unlock(const struct reconciler *r);
/* Wakes every idle worker to look again (lock held). */
void reconciler_kick(struct reconciler *r);
/* Wakes the main loop (reconciler_event_fd). */
void reconciler_wake_main(struct reconciler *r);

const char *reconciler_target_name(const struct target *t);
const struct target_ops *reconciler_target_ops(const struct target *t);
void *reconciler_target_priv(const struct target *t);
struct reconciler *reconciler_target_owner(const struct target *t);
/* The generation that last changed the target's slice (locks). */
uint64_t reconciler_target_want_gen(struct target *t);
/* A copy of the target's latest slice (locks; NULL when none). */
void *reconciler_target_want(struct target *t);
/* A worker got its event_fd: the main loop watches it from the next collect. */
void reconciler_target_fd_ready(struct target *t);

/* Under reconciler_lock: what the target's last run reported. */
size_t reconciler_target_n_items(const struct target *t);
const struct target_item *reconciler_target_item(const struct target *t, size_t i);
const char *reconciler_target_error(const struct target *t);
/* A run is under way or queued for a newer slice. */
bool reconciler_target_behind(const struct target *t);
/* An item as status shows it: {segment, target, kind, layer, id, state, reason, since}. */
json_t *reconciler_item_json(const struct target *t, const struct target_item *x);

#endif

/*
 * targets/sm.h: the subnet manager target (OpenSM's partitions file and
 * the fabric's P_Key tables), the P_Key capacities its verify caches, and
 * the HCA watcher that samples the nodes' ports between runs.
 */
#ifndef LOOM_TARGETS_SM_H
#define LOOM_TARGETS_SM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/fault.h"
#include "targets/target.h"

extern const struct target_kind sm_target_kind;

/*
 * The HCA watcher: every @interval_s (0 = off) each subnet manager's worker
 * samples the nodes' HCA ports under it (smt_port_health: PortInfo and
 * PortCounters through its umad port), between runs.  The first sample of
 * a port is its baseline; after that a port leaving Active (or not
 * answering two samples in a row) and a change of its error counters
 * become signals, taken on the main thread when the event fd fired.
 */
void reconciler_watch_hca(struct reconciler *r, unsigned int interval_s);

struct hca_signal {
	char node[LOOM_NAME_MAX];
	char port[LOOM_NAME_MAX];
	char sm[LOOM_NAME_MAX];
	bool counters;		/* true: counters changed (prev -> cur); false: the port left Active */
	int result;		/* port state: 0 read (state), else -errno: it does not answer */
	unsigned int state;
	struct ib_port_counters prev, cur;
};
size_t reconciler_hca_take(struct reconciler *r, struct hca_signal *out, size_t max);

/* Cached P_Key table capacity of an HCA port (0 = unknown). */
unsigned int reconciler_pkey_capacity(const struct reconciler *r, uint64_t guid, unsigned int *foreign);

/* ---- between targets/sm.c and targets/sm_hca.c ---- */

struct sm_hca;
/* The nodes' HCA ports under subnet manager @sm (NULL when none; -ENOMEM). */
int sm_hca_new(const struct topology *topo, const char *sm, struct sm_hca **out);
void sm_hca_free(struct sm_hca **h);
/* When the next sample is due (CLOCK_MONOTONIC ns), 0 when the watcher is off (lock held). */
int64_t sm_hca_next(const struct sm_hca *h);
struct smt;
/* Samples when due, on the SM's worker: *@smt is its handle, opened here
 * when it is not yet. */
void sm_hca_idle(struct target *t, struct sm_hca *h, const struct topo_sm *sm, struct smt **smt);
/* Sets the interval (lock held). */
void sm_hca_set_interval(struct sm_hca *h, unsigned int interval_s);
/* The SM target's watcher (NULL when @t is not an SM target or has none). */
struct sm_hca *sm_target_hca(const struct target *t);

#endif

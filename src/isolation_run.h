/*
 * src/isolation_run.h: the isolation check inside loomd: the API method
 * isolation.verify and the periodic run (isolation.interval).  Both read
 * the fabric through isolation_verify (isolation/isolation.h) against the
 * model loomd holds; findings not seen by the previous run become node
 * events ("isolation", one per finding, on the finding's target) and one
 * audit record (method isolation.verify, the new findings as its result),
 * written as loomd itself through loomd_internal_write.
 *
 * The periodic run reads the fabric on a thread (a topology of its own,
 * loaded from the file loomd runs with; never the model) and wakes the
 * loop through an eventfd; the loop then runs the pure check against the
 * model and records.  A run still reading when the timer fires again
 * makes that tick skip.
 *
 * isolation.verify runs on the loop, synchronously: the server answers a
 * read method at once (only writes wait, src/server_batch.c), and the
 * read is bounded (a netlink dump per VTEP, one vtysh run per VTEP within
 * FRR's time limit, one SubnGet(P_KeyTable) per 32 entries per HCA port
 * within the umad time limit, one NVML query per GPU); on the three-VTEP
 * lab it takes 0.15 to 0.25 s.
 */
#ifndef LOOM_SRC_ISOLATION_RUN_H
#define LOOM_SRC_ISOLATION_RUN_H

#include <jansson.h>

#include "lib/err.h"
#include "src/call.h"

/*
 * Reads, checks and records (events and audit for new findings).
 * *@report is the report; returns the number of findings or -errno with @err.
 */
int loomd_isolation_run(struct loomd *d, const char *source, json_t **report, struct loom_err *err);

/* isolation.interval: arms the periodic run's timer and adds it to the loop. */
int loomd_isolation_open(struct loomd *d);
void loomd_isolation_close(struct loomd *d);

/* isolation.verify {signed}: the report; signed, with its text and signature. */
api_method_fn m_isolation_verify;

#endif

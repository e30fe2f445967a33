/*
 * src/isolation_run.h: the isolation check inside loomd: the API method
 * isolation.verify and the periodic run (isolation.interval).  Both read
 * the fabric through isolation_verify (isolation/isolation.h) against the
 * model loomd holds; findings not seen by the previous run become node
 * events ("isolation", one per finding, on the finding's target) and one
 * audit record (method isolation.verify, the new findings as its result),
 * written as loomd itself through loomd_internal_write.
 *
 * The read runs on the event loop's thread.  It is bounded: each VTEP's
 * kernel is a netlink dump, FRR one `vtysh -c 'show running-config'` with
 * FRR's time limit, each HCA port one SubnGet(P_KeyTable) block per 32
 * entries with the umad time limit, each GPU one NVML query; the lab's
 * whole read takes 0.15 to 0.25 s.  The check reads the model while
 * it runs, which a thread could not do without copying it; a fabric of
 * thousands of targets would want that copy and a thread.
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

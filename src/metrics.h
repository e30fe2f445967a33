/*
 * src/metrics.h: loomd's metrics for Prometheus (metrics.listen in
 * loomd.conf): what each family means is in docs/metrics.md.  Counters are
 * bumped where things happen (requests, commits, faults); gauges
 * read from the model, the store and the reconciler are refreshed on the
 * event loop at most once a second after something changed, so a scrape,
 * served from the listener's own thread, never waits for the loop.
 */
#ifndef LOOM_SRC_METRICS_H
#define LOOM_SRC_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "src/daemon.h"

/* Starts the listener when metrics.listen is set; an address that cannot
 * be had is an error naming the key.  Registers its hooks. */
int loomd_metrics_open(struct loomd *d, struct loom_err *err);
void loomd_metrics_close(struct loomd *d);

/* One answered request: @method ("" when unknown), its error code
 * (LOOM_OK for success) and when it started (CLOCK_MONOTONIC ns). */
void loomd_metrics_request(struct loomd *d, const char *method, int code, int64_t t0_ns);
/* One group commit of @writes writes that took @ns. */
void loomd_metrics_commit(struct loomd *d, size_t writes, int64_t ns);
/* A fault reported (acted on or only recorded). */
void loomd_metrics_fault(struct loomd *d, const char *component, const char *severity);

#endif

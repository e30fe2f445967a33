/*
 * src/isolation_run.h: the isolation check inside loomd: the API method
 * isolation.verify and the periodic run (isolation.interval).  Both check
 * the fabric's truth (isolation/isolation.h) against the model loomd
 * holds; findings not seen by the previous run become node
 * events ("isolation", one per finding, on the finding's target) and one
 * audit record (method isolation.verify, the new findings as its result),
 * written as loomd itself through loomd_internal_write.
 *
 * Both read the fabric on a thread (a topology of its own, loaded from the
 * file loomd runs with; never the model) and wake the loop through an
 * eventfd; the loop then runs the pure check against the model, records,
 * and answers the isolation.verify requests that wait for that read: the
 * method's answer is deferred (an api_wait with read_limit_s, answered by
 * the server like a write's wait), so a read of the fabric never holds up
 * the loop.  A request that comes while a read runs waits for the next
 * one, started as soon as that one is done (what it reports was read
 * after it was asked); requests that wait together share one read.  A
 * timer tick while a read runs is skipped.
 */
#ifndef LOOM_SRC_ISOLATION_RUN_H
#define LOOM_SRC_ISOLATION_RUN_H

#include <jansson.h>

#include "lib/err.h"
#include "src/call.h"

/* The reads' eventfd, and with isolation.interval the periodic run's timer, on the loop. */
int loomd_isolation_open(struct loomd *d);
void loomd_isolation_close(struct loomd *d);

/* isolation.verify {signed}: the report; signed, with its text and signature. */
api_method_fn m_isolation_verify;

#endif

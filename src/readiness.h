/*
 * src/readiness.h: loomd and systemd (Type=notify): READY=1 once every
 * target has finished its first run (at once with reconcile = no),
 * STATUS= lines saying what loomd starts and waits for, WATCHDOG=1 from
 * the event loop at half the interval systemd asked for, RELOADING=1
 * around a SIGHUP's reload and STOPPING=1.  Nothing is sent outside
 * systemd.
 */
#ifndef LOOM_SRC_READINESS_H
#define LOOM_SRC_READINESS_H

#include "lib/err.h"
#include "src/daemon.h"

int loomd_readiness_open(struct loomd *d, struct loom_err *err);
void loomd_readiness_close(struct loomd *d);
/* The reconciler's workers were just started (before any READY=1). */
void loomd_readiness_started(struct loomd *d);
void loomd_readiness_reloading(struct loomd *d);
void loomd_readiness_reloaded(struct loomd *d, bool ok);

#endif

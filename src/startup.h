/*
 * src/startup.h: bringing a loomd up and down (src/startup.c).
 */
#ifndef LOOM_SRC_STARTUP_H
#define LOOM_SRC_STARTUP_H

#include <stdbool.h>

#include "lib/err.h"
#include "src/daemon.h"

/*
 * Opens the topology, the store and the model; then the socket unless
 * @check_only.  A check opens a private copy of the database (d->check_db)
 * and writes nothing next to the real one.
 */
int loomd_open(struct loomd *d, bool check_only, struct loom_err *err);
void loomd_close(struct loomd *d);
/* Reads the fault hold-downs still running from the store into d->faults. */
void loomd_faults_restore(struct loomd *d);

#endif

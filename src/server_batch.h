/*
 * src/server_batch.h: requests that arrive together handled as one batch
 * (src/server_batch.c): reads answer at once from the in-memory model;
 * writes run each in a SAVEPOINT of one SQLite transaction (group commit),
 * and every reply of the batch is sent only after that transaction's
 * COMMIT is durable.  A write that asked to `wait` is answered once the
 * targets ran it (or what its method set in call->wait ended).
 */
#ifndef LOOM_SRC_SERVER_BATCH_H
#define LOOM_SRC_SERVER_BATCH_H

#include "src/daemon.h"
#include "src/server_frame.h"

/* Takes up to LINES_PER_BATCH complete lines of one client into the batch. */
void client_take_lines(struct loomd *d, struct client *c);
/*
 * Commits the batch's transaction and sends every reply it holds; then, the
 * one place the loop does so, once per iteration: LOOMD_HOOK_COMMITTED (only
 * when something moved: a commit to the store, a new generation posted, or
 * @reported, the targets reported this iteration), the leader's word on
 * convergence (cluster.ha), and the answers of the waiters whose wait is
 * over or whose time ran out.
 */
void batch_finish(struct loomd *d, bool reported);
/* How long the loop may sleep before a waiter's time runs out (-1: no waiter). */
int waiters_timeout_ms(const struct loomd *d);
/* Drops the waiters of @c (it went away), or every waiter (@c NULL). */
void waiters_drop(struct loomd *d, const struct client *c);

#endif

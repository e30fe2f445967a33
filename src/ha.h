/*
 * src/ha.h: highly available controllers (docs/ha.md).
 *
 * With cluster.ha = yes, etcd holds the state of record as a log of SQLite
 * changesets under PREFIX/ha/log/; each loomd keeps a replica of it in its
 * own SQLite file.  A batch of writes runs in the local file as always,
 * recording a changeset; before the COMMIT the changeset is appended to
 * the log as the entry after the last one this replica applied, in an
 * etcd transaction that succeeds only if no one appended that entry first
 * (optimistic concurrency).  On a conflict the batch is rolled back, the
 * replica catches up with the log and the batch's requests run again.
 * A watch on the log rings whenever another controller appends; the
 * replica applies the new entries in order and reloads its model.
 *
 * One controller leads (an etcd lease, a key under PREFIX/ha/election/,
 * the lowest create_revision wins): it alone drives the targets and makes
 * loomd's own writes (faults, replacements, RDMA checks, released IDs),
 * and every one of those appends also compares its election key's
 * create_revision (fencing: an ex-leader's append never lands).
 *
 * Without cluster.ha, d->ha is NULL and none of this runs.
 */
#ifndef LOOM_SRC_HA_H
#define LOOM_SRC_HA_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "lib/err.h"
#include "src/daemon.h"

/* Requests of a batch are run again at most this many times on conflicts. */
#define HA_RETRIES 64
/* The largest changeset one log entry takes (etcd's request limit is 1.5 MiB, base64 adds a third). */
#define HA_ENTRY_MAX (1024 * 1024)

/*
 * After store_open: checks or initialises the cluster's state (exactly one
 * controller initialises it), brings the replica up to the log's end, and
 * starts the election and the log's watch.  Nothing is loaded into the
 * model yet.
 */
int loomd_ha_open(struct loomd *d, struct loom_err *err);
/* Stops the threads and resigns (the lease is revoked: another leads at once). */
void loomd_ha_close(struct loomd *d);

/* Does this loomd lead (always true without cluster.ha)? */
bool loomd_ha_leader(const struct loomd *d);
/* The leader's election key and its create_revision (-ENOENT: not leading). */
int loomd_ha_fence(const struct loomd *d, char *key, size_t len, int64_t *rev);
/* Starts recording the batch's changeset (after BEGIN). */
int loomd_ha_begin(struct loomd *d, struct loom_err *err);

enum ha_append {
	HA_APPENDED,		/* in the log: COMMIT and answer */
	HA_CONFLICT,		/* another entry took the place (or the leader was fenced): rolled back, caught up; run again */
	HA_LANDED,		/* our entry was in the log after all (a retried request): rolled back, caught up, answer */
	HA_FAILED,		/* refused (etcd unreachable, too large): rolled back; @err says why */
};

/*
 * Appends the open transaction's changes to the log, before store_commit.
 * On anything but HA_APPENDED the transaction is rolled back, the replica
 * caught up and the model reloaded.
 */
enum ha_append loomd_ha_append(struct loomd *d, struct loom_err *err);
/* After the COMMIT of an appended entry. */
void loomd_ha_committed(struct loomd *d, bool ok);

/* Outside a transaction: applies what others appended, takes or gives up the lead. */
void loomd_ha_poll(struct loomd *d);
/* The leader: generation @gen was compiled from the log up to this replica's entry. */
void loomd_ha_posted(struct loomd *d, uint64_t gen);
/* The leader: puts how far the targets converged, when that moved (fenced). */
void loomd_ha_publish(struct loomd *d);
/* This replica's log entry (0 without cluster.ha). */
int64_t loomd_ha_seq(const struct loomd *d);
/* A follower: has the leader said its targets converged through entry @seq?  @ok: all well. */
bool loomd_ha_converged(const struct loomd *d, int64_t seq, bool *ok);

/* A reason when reads may be stale (etcd unreachable or without quorum), else NULL. */
const char *loomd_ha_stale(const struct loomd *d);
/* For system.info: {"ha":true, "name", "role", "leader", "leader_since", "log_seq", "stale"?}. */
json_t *loomd_ha_info(const struct loomd *d);

/*
 * Offline: copies the single-machine database @path into an empty
 * cluster's log (audit chain included), or the cluster's state into a new
 * single-machine database at @path.
 */
int loomd_ha_import(const struct loom_config *cfg, const char *path, struct loom_err *err);
int loomd_ha_export(const struct loom_config *cfg, const char *path, struct loom_err *err);

#endif

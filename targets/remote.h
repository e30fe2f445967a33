/*
 * targets/remote.h: the remote target (targets/remote.c).  In cluster mode
 * (reconciler_opts.cluster_etcd) every VTEP, subnet manager and MIG node
 * is driven by its loom-agent through etcd: a run publishes the target's
 * slice and waits for the agent's report (docs/cluster.md).
 */
#ifndef LOOM_TARGETS_REMOTE_H
#define LOOM_TARGETS_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "targets/target.h"

extern const struct target_kind remote_target_kind;

/* etcd requests the remote targets of @r sent (publisher and reader), for
 * benchmarks and metrics; 0 when it has none. */
uint64_t remote_etcd_requests(const struct reconciler *r);
/* Of those, the calls that ran out of their budget; *@attempts: single
 * tries cut by their own timeout. */
uint64_t remote_etcd_timeouts(const struct reconciler *r, uint64_t *attempts);

/*
 * The agents' signals as read under PREFIX/signal/ (at start, after a
 * compaction, and as they come), in etcd's order, unchecked: the caller
 * parses and checks them (cluster_signal_key_parse, cluster_signal_decode)
 * and skips those it acted on already (a re-read delivers them again).
 * The event fd fires when some came in.
 */
struct remote_signal {
	char *key;
	char *value;		/* NUL-terminated after len bytes */
	size_t len;
};
size_t remote_signals_take(struct reconciler *r, struct remote_signal *out, size_t max);
void remote_signal_clear(struct remote_signal *s);

#endif

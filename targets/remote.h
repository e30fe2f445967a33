/*
 * targets/remote.h: the remote target (targets/remote.c).  In cluster mode
 * (reconciler_opts.cluster_etcd) every VTEP, subnet manager and MIG node
 * is driven by its loom-agent through etcd: a run publishes the target's
 * slice and waits for the agent's report (docs/cluster.md).
 */
#ifndef LOOM_TARGETS_REMOTE_H
#define LOOM_TARGETS_REMOTE_H

#include "targets/target.h"

extern const struct target_kind remote_target_kind;

/* etcd requests the remote targets of @r sent (publisher and reader), for
 * benchmarks and metrics; 0 when it has none. */
uint64_t remote_etcd_requests(const struct reconciler *r);

#endif

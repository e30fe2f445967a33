/*
 * src/api_fault.h: node.fault, and the faults loomd's watchers raise.
 */
#ifndef LOOM_SRC_API_FAULT_H
#define LOOM_SRC_API_FAULT_H

#include <stdint.h>

#include <jansson.h>

#include "lib/err.h"
#include "node/fault.h"
#include "src/call.h"

/*
 * The fault path of node.fault, for an event already checked: policy and
 * hold-down, the lifecycle events of the action, node_events rows.  Runs
 * inside the caller's savepoint like a method.
 */
int api_fault_apply(struct api_call *call, const struct fault_event *fe, int64_t now,
		    json_t **result, struct loom_err *err);

/*
 * A watcher's fault (carrier, HCA port state, counters) on the main
 * thread: api_fault_apply as loomd itself, in the current batch's
 * transaction, with an audit record "node.fault" whose params carry the
 * source.  The batch commits at the end of the loop iteration.
 */
void loomd_fault_raise(struct loomd *d, const struct fault_event *fe);
/*
 * The same for a signal an agent wrote to etcd (@signal: its key, shown in
 * the audit record's params): the policy's hold-down runs on loomd's
 * clock, and @ack_key = @ack_value goes into the store in the same
 * savepoint, so that a restarted loomd knows the signal was acted on.
 * Returns 0 or -EINVAL (logged).
 */
int loomd_fault_raise_acked(struct loomd *d, const struct fault_event *fe, const char *signal, const char *ack_key,
			    const char *ack_value);

api_method_fn m_node_fault;

#endif

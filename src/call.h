/*
 * src/call.h: one API call: who makes it, what it carries between the
 * method and the event loop, and how a write runs (in a SAVEPOINT of the
 * batch's transaction, with its audit record).
 *
 * Every method file (src/api_*.c) and everything that writes as loomd
 * itself (watchers, the RDMA check, the replacement driver) builds on
 * this; the event loop (src/server_batch.c) runs client requests through
 * the same api_call_write.
 */
#ifndef LOOM_SRC_CALL_H
#define LOOM_SRC_CALL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "lib/err.h"
#include "src/daemon.h"

struct api_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	enum api_role role;
	/* Who it is, as the audit names it: "uid:N" on the socket, the
	 * certificate's matched field ("cn:NAME", "dns:NAME") over TLS. */
	char principal[160];
	bool tls;
	char tenant[LOOM_NAME_MAX];	/* ROLE_TENANT: the one tenant it may see */
};

/*
 * What a write that asked to `wait` waits for beyond the targets, set by
 * the method that knows (a replacement, an RDMA check).  Without one the
 * wait is for the targets to run the write's generation.
 *
 * A read method may set one too (with @read_limit_s): its answer is then
 * deferred, without holding up the loop, until check says it is ready
 * (isolation.verify, whose fabric read runs on a thread).
 */
struct api_wait {
	/* The reply reports on the newest generation posted (the wait spans several). */
	bool newest_gen;
	/* A read's answer is the result alone (no "wait" object), given within this many seconds. */
	int read_limit_s;
	/*
	 * Is the wait for @subject over (or @expired)?  Returns true to answer
	 * now, with *converged for the reply; may change *result or replace it.
	 * An error set in @err is the answer instead of the result.
	 */
	bool (*check)(struct loomd *d, const char *subject, uint64_t gen, bool expired, json_t **result,
		      bool *converged, struct loom_err *err);
};

/* A method that writes runs inside a savepoint of the batch's transaction;
 * its handler changes the model and the store together and the audit
 * record is written after it. */
struct api_call {
	struct loomd *d;
	const struct api_peer *peer;
	bool model_touched;	/* the model changed: reload it if the request fails */
	bool replacing;		/* the replacement driver: may attach the node it reserved */
	/* With wait: what to wait for, about @wait_subject (a node). */
	const struct api_wait *wait;
	char wait_subject[LOOM_NAME_MAX];
	/* events.subscribe: the server streams node events after this seq
	 * (of this node only, when named) to the client once it answered. */
	bool subscribe;
	int64_t subscribe_after;
	char subscribe_node[LOOM_NAME_MAX];
};

typedef int api_method_fn(struct api_call *call, json_t *params, json_t **result, struct loom_err *err);

struct api_method {
	const char *name;
	bool writes;
	api_method_fn *fn;
};

/* The database refused a write: marks the model for reload, sets LOOM_E_STORE. */
int store_failed(struct api_call *call, struct loom_err *err);

typedef int api_write_fn(struct api_call *call, void *arg, json_t **result, struct loom_err *err);

/*
 * Runs @fn as the write @method with @params: in a savepoint of the
 * batch's transaction (opened when none is), with an audit record as
 * call->peer.  On success the savepoint is released and the model marked
 * for posting; on failure it is rolled back, the model reloaded when the
 * write touched it, and *result dropped.  Returns 0, or -EINVAL with @err.
 */
int api_call_write(struct api_call *call, const char *method, json_t *params, api_write_fn *fn, void *arg,
		   json_t **result, struct loom_err *err);

/*
 * A write loomd makes itself (a watcher's fault, a finished RDMA check):
 * api_call_write as uid getuid() with the admin role.  The batch commits
 * at the end of the loop iteration.
 */
int loomd_internal_write(struct loomd *d, const char *method, json_t *params, api_write_fn *fn, void *arg,
			 json_t **result, struct loom_err *err);

#endif

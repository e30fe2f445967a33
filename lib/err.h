/*
 * lib/err.h: the errors loom shows to people and to the provisioning layer.
 *
 * Every error that leaves loom has a stable numeric code (also the JSON-RPC
 * error code), a stable short name, the field that was wrong (a JSON path
 * such as "params.segments[2].vni", or "" when no field is to blame), a
 * message saying what was wrong, and a hint saying what to do.  The
 * catalogue lives in lib/err.c and docs/errors.md.
 */
#ifndef LOOM_LIB_ERR_H
#define LOOM_LIB_ERR_H

#include <stddef.h>

enum loom_errcode {
	LOOM_OK = 0,
	/* JSON-RPC 2.0's own codes. */
	LOOM_E_PARSE = -32700,		/* the request is not JSON */
	LOOM_E_REQUEST = -32600,	/* not a JSON-RPC 2.0 request object */
	LOOM_E_METHOD = -32601,		/* no such method */
	LOOM_E_PARAMS = -32602,		/* a parameter is missing, of the wrong type or malformed */
	LOOM_E_INTERNAL = -32603,	/* a bug or a failing system call */
	/* loom's own, 1000 and up; never renumbered. */
	LOOM_E_NOT_FOUND = 1001,	/* a named object does not exist */
	LOOM_E_EXISTS = 1002,		/* an object of that name exists already */
	LOOM_E_POLICY = 1003,		/* isolation or residency policy forbids it */
	LOOM_E_EXHAUSTED = 1004,	/* an ID pool has no free ID left */
	LOOM_E_PERMISSION = 1005,	/* the peer's uid/gid may not do this */
	LOOM_E_CONFLICT = 1006,		/* an ID or address is taken by something else */
	LOOM_E_TOO_LARGE = 1007,	/* the request is larger than the limit */
	LOOM_E_STORE = 1008,		/* the database failed; nothing was changed */
	LOOM_E_IN_USE = 1009,		/* the object is still used by others */
	LOOM_E_RANGE = 1010,		/* a value is outside its allowed range or pool */
	LOOM_E_IMMUTABLE = 1011,	/* a field that cannot change after creation */
	LOOM_E_TOPOLOGY = 1012,		/* the topology file is invalid */
	LOOM_E_CONFIG = 1013,		/* the configuration file is invalid */
	LOOM_E_STATE = 1014,		/* not allowed in the object's current state */
	LOOM_E_UNAVAILABLE = 1015,	/* a backend (FRR, OpenSM, kernel) is not reachable */
	LOOM_E_TIMEOUT = 1016,		/* a wait ran out before the targets converged */
	LOOM_E_TAMPERED = 1017,		/* the audit chain does not verify */
	LOOM_E_LIMIT = 1018,		/* the principal is over its connection or request limit */
	LOOM_E_DELEGATED = 1019,	/* the object is delegated to another loom instance */
};

struct loom_err {
	int code;		/* enum loom_errcode; LOOM_OK when unset */
	char field[128];	/* JSON path of the field at fault, or "" */
	char msg[384];		/* what was wrong, in one sentence */
};

/*
 * Fill @err (which may be NULL) and return -EINVAL, so that a validator can
 * say `return loom_err_set(err, LOOM_E_PARAMS, "name", "...")`.  The first
 * error set wins: later calls do not overwrite a set error.
 */
int loom_err_set(struct loom_err *err, int code, const char *field,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void loom_err_clear(struct loom_err *err);

/* Prefix the field with a path, e.g. "segments[3]" + "vni" -> "segments[3].vni". */
void loom_err_prefix(struct loom_err *err, const char *prefix);

const char *loom_err_name(int code);	/* "not_found", ...; "unknown" if not catalogued */
const char *loom_err_hint(int code);	/* what to do about it */

#endif

/*
 * lib/err.c: the catalogue of loom's error codes, and filling an error.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"

static const struct {
	int code;
	const char *name;
	const char *hint;
} catalogue[] = {
	{ LOOM_E_PARSE, "parse_error", "send one JSON object per line" },
	{ LOOM_E_REQUEST, "invalid_request", "send {\"jsonrpc\":\"2.0\",\"method\":...,\"params\":{...},\"id\":...}" },
	{ LOOM_E_METHOD, "method_not_found", "see docs/api.md for the methods" },
	{ LOOM_E_PARAMS, "invalid_params", "fix the named field; docs/api.md lists each method's parameters" },
	{ LOOM_E_INTERNAL, "internal_error", "see loomd's log; this is a bug or a failing system call" },
	{ LOOM_E_NOT_FOUND, "not_found", "check the name with the matching list command" },
	{ LOOM_E_EXISTS, "exists", "choose another name, or delete the existing object first" },
	{ LOOM_E_POLICY, "policy_violation", "tenant isolation or data residency forbids this; see docs/model.md" },
	{ LOOM_E_EXHAUSTED, "pool_exhausted", "widen the pool in loomd.conf or delete unused segments" },
	{ LOOM_E_PERMISSION, "permission_denied", "run as root or as a member of the admin group in loomd.conf" },
	{ LOOM_E_CONFLICT, "conflict", "the ID or address is in use; pick another or let loom allocate one" },
	{ LOOM_E_TOO_LARGE, "too_large", "split the request; the limit is max_request_bytes in loomd.conf" },
	{ LOOM_E_STORE, "store_error", "the database failed and nothing was changed; check disk space and loomd's log" },
	{ LOOM_E_IN_USE, "in_use", "detach or delete what still uses it first (or use cascade where offered)" },
	{ LOOM_E_RANGE, "out_of_range", "use a value inside the documented range or configured pool" },
	{ LOOM_E_IMMUTABLE, "immutable", "this field cannot change; delete and recreate the object" },
	{ LOOM_E_TOPOLOGY, "topology_invalid", "fix the topology file at the named path; see docs/topology.md" },
	{ LOOM_E_CONFIG, "config_invalid", "fix the named key in loomd.conf; see loomd(8)" },
	{ LOOM_E_STATE, "invalid_state", "the object's current state does not allow this" },
	{ LOOM_E_UNAVAILABLE, "backend_unavailable", "check that FRR / OpenSM / the namespace is up" },
	{ LOOM_E_TIMEOUT, "timeout", "the change is stored; see `loomctl status` for what has not converged" },
	{ LOOM_E_TAMPERED, "audit_tampered", "the audit log was altered; investigate the named record" },
	{ LOOM_E_LIMIT, "rate_limited", "slow down and retry; the limits are limit.connections and "
	  "limit.requests_per_second in loomd.conf" },
	{ LOOM_E_DELEGATED, "delegated", "another loom instance manages it (the topology's delegations); "
	  "use that instance's API" },
};

static size_t find(int code)
{
	for (size_t i = 0; i < sizeof(catalogue) / sizeof(catalogue[0]); i++)
		if (catalogue[i].code == code)
			return i;
	return (size_t)-1;
}

const char *loom_err_name(int code)
{
	size_t i = find(code);

	return i == (size_t)-1 ? "unknown" : catalogue[i].name;
}

const char *loom_err_hint(int code)
{
	size_t i = find(code);

	return i == (size_t)-1 ? "" : catalogue[i].hint;
}

int loom_err_set(struct loom_err *err, int code, const char *field,
		 const char *fmt, ...)
{
	va_list ap;

	if (!err || err->code != LOOM_OK)
		return -EINVAL;
	err->code = code;
	snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

void loom_err_clear(struct loom_err *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

void loom_err_prefix(struct loom_err *err, const char *prefix)
{
	char joined[sizeof(err->field)];

	if (!err || !prefix || !*prefix)
		return;
	if (err->field[0])
		snprintf(joined, sizeof(joined), "%s%s%s", prefix,
			 err->field[0] == '[' ? "" : ".", err->field);
	else
		snprintf(joined, sizeof(joined), "%s", prefix);
	memcpy(err->field, joined, sizeof(err->field));
}

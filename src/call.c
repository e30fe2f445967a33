/*
 * src/call.c: a write in a savepoint of the batch's transaction, and its
 * audit record (src/call.h).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "lib/monotime.h"
#include "src/call.h"
#include "src/ha.h"

int store_failed(struct api_call *call, struct loom_err *err)
{
	call->model_touched = true;
	return loom_err_set(err, LOOM_E_STORE, "", "the database refused the change: %s",
			    store_errmsg(call->d->store));
}

static void audit_write(struct loomd *d, const struct api_peer *peer, const char *method,
			json_t *params, json_t *result, struct loom_err *err)
{
	struct audit_entry e = {
		.time_ns = realtime_ns(),
		.uid = peer->uid,
		.gid = peer->gid,
		.pid = peer->pid,
		.principal = peer->principal,
		.method = method,
	};

	if (store_audit_append_json(d->store, &e, params, result))
		loom_err_set(err, LOOM_E_STORE, "", "cannot write the audit record: %s", store_errmsg(d->store));
}

/* The batch's transaction: opened by its first write, committed at its end. */
static int batch_begin(struct loomd *d, struct loom_err *err)
{
	if (d->in_txn)
		return 0;
	if (store_begin(d->store))
		return loom_err_set(err, LOOM_E_STORE, "", "cannot begin a transaction: %s", store_errmsg(d->store));
	if (loomd_ha_begin(d, err)) {
		store_rollback(d->store);
		return -EIO;
	}
	d->in_txn = true;
	return 0;
}

int api_call_write(struct api_call *call, const char *method, json_t *params, api_write_fn *fn, void *arg,
		   json_t **result, struct loom_err *err)
{
	struct loomd *d = call->d;

	*result = NULL;
	if (batch_begin(d, err))
		return -EIO;
	if (store_savepoint(d->store))
		return loom_err_set(err, LOOM_E_STORE, "", "cannot open a savepoint: %s", store_errmsg(d->store));
	if (fn(call, arg, result, err) == 0)
		audit_write(d, call->peer, method, params, *result, err);
	if (err->code == LOOM_OK) {
		store_savepoint_release(d->store);
		d->txn_writes++;
		d->model_changed |= call->model_touched;
		return 0;
	}
	store_savepoint_rollback(d->store);
	store_savepoint_release(d->store);
	if (call->model_touched)
		loomd_model_reload(d);
	json_decref(*result);
	*result = NULL;
	return -EINVAL;
}

int loomd_internal_write(struct loomd *d, const char *method, json_t *params, api_write_fn *fn, void *arg,
			 json_t **result, struct loom_err *err)
{
	struct api_peer self = { .uid = getuid(), .gid = getgid(), .pid = getpid(), .role = ROLE_ADMIN,
				 .principal = "loomd" };
	struct api_call call = { .d = d, .peer = &self };
	int ret;

	/* With cluster.ha only the leader writes as loomd, and fenced (src/ha.h). */
	if (!loomd_ha_leader(d)) {
		*result = NULL;
		return loom_err_set(err, LOOM_E_STATE, "", "%s: this controller is not the leader", method);
	}
	ret = api_call_write(&call, method, params, fn, arg, result, err);
	if (ret == 0)
		d->txn_internal++;
	return ret;
}

/*
 * src/api_admin.c: the methods about loomd itself: system.info, the
 * topology, the desired state and the audit log.
 */
#include "config.h"

#include <errno.h>

#include "lib/param.h"
#include "src/api_admin.h"
#include "src/ha.h"
#include "tenancy/compile.h"
#include "topology/ibnetdiscover.h"

int m_system_info(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { NULL };
	struct loomd *d = call->d;

	if (params_only(params, allowed, err))
		return -EINVAL;
	loomd_operator_pkeys_refresh(d);
	*result = json_pack("{s:s, s:I, s:i, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I}, s:{s:s, s:s}, s:I, s:I,"
			    " s:I, s:I}",
			    "version", PACKAGE_VERSION,
			    "started_ns", (json_int_t)d->started_ns,
			    "schema_version", store_schema_version(d->store),
			    "counts", "tenants", (json_int_t)d->model.n_tenants,
			    "segments", (json_int_t)d->model.n_segments,
			    "attachments", (json_int_t)d->model.n_attachments,
			    "pools", "vni_min", (json_int_t)d->model.pools.vni_min,
			    "vni_max", (json_int_t)d->model.pools.vni_max,
			    "pkey_min", (json_int_t)d->model.pools.pkey_min,
			    "pkey_max", (json_int_t)d->model.pools.pkey_max,
			    "paths", "database", d->cfg.database, "topology", d->cfg.topology,
			    "batches", (json_int_t)d->batches,
			    "batched_writes", (json_int_t)d->batched_writes,
			    "clients", (json_int_t)d->n_clients,
			    "subscribers", (json_int_t)d->n_subscribers);
	if (*result)
		json_object_set_new(*result, "instance", json_string(d->cfg.instance));
	if (*result)
		json_object_set_new(json_object_get(*result, "pools"), "operator_pkeys",
				    loomd_operator_pkeys_json(d));
	if (*result && d->ha)
		json_object_set_new(*result, "cluster", loomd_ha_info(d));
	return *result ? 0 : -ENOMEM;
}

int m_topology_show(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { NULL };

	if (params_only(params, allowed, err))
		return -EINVAL;
	*result = topology_to_json(call->d->topo);
	return *result ? 0 : -ENOMEM;
}

int m_topology_reload(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { NULL };

	if (params_only(params, allowed, err) || loomd_topology_reload(call->d, err))
		return -EINVAL;
	*result = json_pack("{s:s, s:I}", "reloaded", call->d->cfg.topology,
			    "nodes", (json_int_t)call->d->topo->n_nodes);
	return 0;
}

/*
 * Turns `ibnetdiscover` output into topology entries for the operator to
 * review and merge into the topology file; changes nothing.
 */
int m_topology_import(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "text", "sm", NULL };
	const char *text, *sm;

	if (params_only(params, allowed, err) || param_string(params, "text", true, &text, err)
	    || param_string(params, "sm", true, &sm, err))
		return -EINVAL;
	if (!topology_sm(call->d->topo, sm) && topology_foreign(call->d->topo, TOPO_SM, sm, "sm", err))
		return -EPERM;
	if (!topology_sm(call->d->topo, sm))
		return loom_err_set(err, LOOM_E_NOT_FOUND, "sm", "no subnet manager '%s' in the topology", sm);
	if (ibnetdiscover_import(text, sm, result, err)) {
		loom_err_prefix(err, "text");
		return -EINVAL;
	}
	return 0;
}

int m_desired_show(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { NULL };
	struct desired *des = NULL;

	if (params_only(params, allowed, err))
		return -EINVAL;
	if (compile(&call->d->model, call->d->topo, &des))
		return loom_err_set(err, LOOM_E_INTERNAL, "", "compile failed: out of memory");
	*result = desired_to_json(des);
	desired_free(&des);
	return 0;
}

int m_audit_list(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "after", "limit", NULL };
	json_int_t after = 0, limit = 100;

	if (params_only(params, allowed, err) || param_int(params, "after", 0, INT64_MAX, &after, err)
	    || param_int(params, "limit", 0, 100000, &limit, err))
		return -EINVAL;
	if (store_audit_list(call->d->store, after, limit, result))
		return loom_err_set(err, LOOM_E_STORE, "", "cannot read the audit log: %s",
				    store_errmsg(call->d->store));
	return 0;
}

int m_audit_verify(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { NULL };
	int64_t checked = 0, bad = 0;
	char why[256] = "";
	int ret;

	if (params_only(params, allowed, err))
		return -EINVAL;
	ret = store_audit_verify(call->d->store, &checked, &bad, why, sizeof(why));
	if (ret == -EBADMSG)
		return loom_err_set(err, LOOM_E_TAMPERED, "seq", "audit record %lld does not verify: %s",
				    (long long)bad, why);
	if (ret)
		return loom_err_set(err, LOOM_E_STORE, "", "cannot read the audit log: %s",
				    store_errmsg(call->d->store));
	*result = json_pack("{s:b, s:I}", "ok", 1, "records", (json_int_t)checked);
	return 0;
}

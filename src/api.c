/*
 * src/api.c: the JSON-RPC methods, dispatched from one table
 * {name, writes, handler}; each handler lives with its kind:
 *
 *   src/api_tenancy.c   tenant.*, segment.*, status.show, intent.*
 *   src/api_node.c      node.* by hand, node.history, events.subscribe
 *   src/api_fault.c     node.fault
 *   src/verify.c        node.verify
 *   src/replacement.c   node.replace, replace.*
 *   src/api_gpu*.c      gpu.*
 *   src/api_admin.c     system.info, topology.*, desired.show, audit.*
 *
 * A method that writes changes the model (tenancy/, which checks
 * everything first and changes nothing on error) and then the store, inside
 * the savepoint the server opened for it (src/call.h).  If a store write
 * fails after the model changed, the method sets call->model_touched and
 * the model is reloaded from the store once the savepoint is rolled back.
 *
 * Parameters are by name (lib/param.h); unknown parameters are refused, so
 * a typo never silently does something else.  Every method is documented
 * in docs/api.md.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "src/api.h"
#include "src/api_admin.h"
#include "src/api_fault.h"
#include "src/api_gpu.h"
#include "src/api_node.h"
#include "src/api_tenancy.h"
#include "src/isolation_run.h"
#include "src/replacement.h"
#include "src/verify.h"

static const struct api_method methods[] = {
	{ "audit.list", false, m_audit_list },
	{ "audit.verify", false, m_audit_verify },
	{ "desired.show", false, m_desired_show },
	{ "events.subscribe", false, m_events_subscribe },
	{ "gpu.apply", true, m_gpu_apply },
	{ "gpu.compact", true, m_gpu_compact },
	{ "gpu.plan", false, m_gpu_plan },
	{ "gpu.release", true, m_gpu_release },
	{ "gpu.show", false, m_gpu_show },
	{ "intent.apply", true, m_intent_apply },
	{ "intent.diff", false, m_intent_diff },
	{ "isolation.verify", false, m_isolation_verify },
	{ "node.cordon", true, m_node_cordon },
	{ "node.drain", true, m_node_drain },
	{ "node.fail", true, m_node_fail },
	{ "node.fault", true, m_node_fault },
	{ "node.history", false, m_node_history },
	{ "node.list", false, m_node_list },
	{ "node.register", true, m_node_register },
	{ "node.replace", true, api_node_replace },
	{ "node.retire", true, m_node_retire },
	{ "node.show", false, m_node_show },
	{ "node.uncordon", true, m_node_uncordon },
	{ "node.verify", true, m_node_verify },
	{ "replace.list", false, api_replace_list },
	{ "replace.show", false, api_replace_show },
	{ "segment.attach", true, m_segment_attach },
	{ "segment.create", true, m_segment_create },
	{ "segment.delete", true, m_segment_delete },
	{ "segment.detach", true, m_segment_detach },
	{ "segment.list", false, m_segment_list },
	{ "segment.show", false, m_segment_show },
	{ "status.show", false, m_status_show },
	{ "system.info", false, m_system_info },
	{ "tenant.create", true, m_tenant_create },
	{ "tenant.delete", true, m_tenant_delete },
	{ "tenant.list", false, m_tenant_list },
	{ "tenant.show", false, m_tenant_show },
	{ "tenant.update", true, m_tenant_update },
	{ "topology.import", false, m_topology_import },
	{ "topology.reload", true, m_topology_reload },
	{ "topology.show", false, m_topology_show },
};

static int cmp_method(const void *key, const void *elem)
{
	return strcmp(key, ((const struct api_method *)elem)->name);
}

const struct api_method *api_method_find(const char *name)
{
	return bsearch(name, methods, sizeof(methods) / sizeof(methods[0]), sizeof(methods[0]), cmp_method);
}

const struct api_method *api_methods(size_t *n)
{
	*n = sizeof(methods) / sizeof(methods[0]);
	return methods;
}

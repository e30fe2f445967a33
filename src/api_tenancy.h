/*
 * src/api_tenancy.h: the tenancy methods of src/api_tenancy.c.
 */
#ifndef LOOM_SRC_API_TENANCY_H
#define LOOM_SRC_API_TENANCY_H

#include "src/call.h"

api_method_fn m_tenant_create, m_tenant_update, m_tenant_list, m_tenant_show, m_tenant_delete,
	m_segment_create, m_segment_list, m_segment_show, m_segment_delete, m_segment_attach,
	m_segment_detach, m_status_show, m_intent_apply, m_intent_diff;

#endif

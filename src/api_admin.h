/*
 * src/api_admin.h: the methods of src/api_admin.c.
 */
#ifndef LOOM_SRC_API_ADMIN_H
#define LOOM_SRC_API_ADMIN_H

#include "src/call.h"

api_method_fn m_system_info, m_topology_show, m_topology_reload, m_topology_import, m_desired_show,
	m_audit_list, m_audit_verify;

#endif

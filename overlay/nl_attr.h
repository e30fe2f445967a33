/*
 * overlay/nl_attr.h: the libmnl attribute callbacks for RTM_NEWLINK, shared
 * by every reader of links (the kernel VTEP target's observation and the
 * isolation check's own reader).  Each one is given to mnl_attr_parse() or
 * mnl_attr_parse_nested() with a `const struct nlattr *tb[MAX + 1]` zeroed by
 * the caller; it stores each attribute whose length checks out for its type
 * and skips the others, unknown ones included (newer kernels add them).
 */
#ifndef LOOM_OVERLAY_NL_ATTR_H
#define LOOM_OVERLAY_NL_ATTR_H

#include <stdint.h>

#include <libmnl/libmnl.h>

/*
 * What an attribute type must be to be kept: of libmnl type @type
 * (MNL_TYPE_UNSPEC: any), and when @len is not 0, exactly @len bytes long.
 */
struct nl_attr_policy {
	enum mnl_attr_data_type type;
	uint16_t len;
};

/*
 * Stores @a in @tb[its type] when the type is at most @max and the
 * attribute passes @policy[type] (an array of @max + 1); skips it
 * otherwise.  Always MNL_CB_OK: one bad attribute does not end a parse.
 */
int nl_attr_keep(const struct nlattr *a, const struct nlattr **tb, uint16_t max,
		 const struct nl_attr_policy *policy);

/* RTM_NEWLINK's top level: tb[IFLA_MAX + 1]. */
int nl_attr_link(const struct nlattr *a, void *tb);
/* IFLA_LINKINFO: tb[IFLA_INFO_MAX + 1]. */
int nl_attr_link_info(const struct nlattr *a, void *tb);
/* IFLA_INFO_DATA of a vxlan device: tb[IFLA_VXLAN_MAX + 1]. */
int nl_attr_vxlan(const struct nlattr *a, void *tb);
/* IFLA_INFO_SLAVE_DATA of a bridge port: tb[IFLA_BRPORT_MAX + 1]. */
int nl_attr_brport(const struct nlattr *a, void *tb);

#endif

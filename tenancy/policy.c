/*
 * tenancy/policy.c: the checked mutations of the model and the isolation
 * and residency policy they enforce (docs/model.md).
 *
 * Every mutation checks everything first and changes the model only at the
 * end, after making room, so that an error (or -ENOMEM) leaves the model
 * exactly as it was.  The checks of an attachment are written against a
 * prefix of the (sorted) attachment array so that model_check_topology can
 * replay the whole model against a new topology without copying it.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/array.h"
#include "tenancy/model.h"
#include "tenancy/model-private.h"

#define ETH_MTU_DEFAULT 1500
#define IB_MTU_DEFAULT 2048

static const char *port_kind(enum seg_type t)
{
	return t == SEG_ETHERNET ? "NIC" : "HCA";
}

static size_t node_ports(const struct topo_node *n, enum seg_type t)
{
	return t == SEG_ETHERNET ? n->n_nic_ports : n->n_hca_ports;
}

/* The i-th port of kind @t on @n: its name and its VTEP (NIC) or SM (HCA). */
static void node_port(const struct topo_node *n, enum seg_type t, size_t i, const char **name,
		      const char **target)
{
	if (t == SEG_ETHERNET) {
		*name = n->nic_ports[i].name;
		*target = n->nic_ports[i].vtep;
	} else {
		*name = n->hca_ports[i].name;
		*target = n->hca_ports[i].sm;
	}
}

/* Does an attachment's port ("" = all) take the named port? */
static bool takes(const char *att_port, const char *port)
{
	return !att_port[0] || strcmp(att_port, port) == 0;
}

/* Do two attachments on the same node (same kind of port) share a port?
 * @shared gets one port they share, for the message. */
static bool overlap(const struct topo_node *n, enum seg_type t, const char *p1, const char *p2,
		    const char **shared)
{
	const char *target;

	if (p1[0] && p2[0] && strcmp(p1, p2) != 0)
		return false;
	if (p1[0] || p2[0]) {
		*shared = p1[0] ? p1 : p2;
		return true;
	}
	if (!node_ports(n, t))
		return false;
	node_port(n, t, 0, shared, &target);
	return true;
}

static bool site_allowed(const struct tenant *t, const char *site)
{
	if (!t->n_sites)
		return true;
	for (size_t i = 0; i < t->n_sites; i++)
		if (strcmp(t->sites[i], site) == 0)
			return true;
	return false;
}

static void sites_text(const struct tenant *t, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < t->n_sites && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "", t->sites[i]);
}

/*
 * Lookups of an attachment's segment and tenant, remembering the last one:
 * the attachments are sorted by tenant/segment, so a scan hits the same
 * ones many times in a row.
 */
struct att_ctx {
	const struct model *m;
	const struct segment *seg;
	const struct tenant *ten;
};

static void att_ctx_get(struct att_ctx *c, const struct attachment *a)
{
	if (!c->seg || strcmp(c->seg->tenant, a->tenant) || strcmp(c->seg->name, a->segment))
		c->seg = model_segment(c->m, a->tenant, a->segment);
	if (!c->ten || strcmp(c->ten->name, a->tenant))
		c->ten = model_tenant(c->m, a->tenant);
}

/*
 * Two ethernet attachments @a (new) and @o on the same NIC port @shared:
 * allowed only when both are tagged, each on its own VLAN.
 */
static int vlan_share(const struct attachment *a, const struct attachment *o, const char *shared,
		      struct loom_err *err)
{
	if (!a->vlan || !o->vlan)
		return loom_err_set(err, LOOM_E_POLICY, a->vlan ? "vlan" : a->port[0] ? "port" : "node",
				    "NIC port %s of node %s is in segment %s/%s %s; a port is either "
				    "one segment's whole, or shared by tagged segments (\"vlan\") only",
				    shared, a->node, o->tenant, o->segment,
				    o->vlan ? "on a VLAN" : "untagged (the whole port)");
	if (a->vlan == o->vlan)
		return loom_err_set(err, LOOM_E_CONFLICT, "vlan",
				    "VLAN %u on NIC port %s of node %s is taken by segment %s/%s; "
				    "choose another VLAN or \"auto\"",
				    a->vlan, shared, a->node, o->tenant, o->segment);
	return 0;
}

/* Replace a->vlan LOOM_VLAN_AUTO by the lowest VLAN free on every NIC
 * port of the node the attachment takes. */
static int vlan_pick(const struct model *m, const struct topology *topo, struct attachment *a,
		     struct loom_err *err)
{
	const struct topo_node *node = topology_node(topo, a->node);
	struct att_ctx ctx = { .m = m };
	uint8_t used[LOOM_VLAN_MAX / 8 + 1] = { 0 };
	const char *shared = "";

	if (!node)
		return 0;	/* attach_check says so */
	for (size_t i = 0; i < m->n_attachments; i++) {
		const struct attachment *o = &m->attachments[i];

		if (!o->vlan || o->vlan > LOOM_VLAN_MAX || strcmp(o->node, a->node))
			continue;
		att_ctx_get(&ctx, o);
		if (!ctx.seg || ctx.seg->type != SEG_ETHERNET ||
		    !overlap(node, SEG_ETHERNET, o->port, a->port, &shared))
			continue;
		used[o->vlan / 8] = (uint8_t)(used[o->vlan / 8] | (1u << (o->vlan % 8)));
	}
	for (unsigned int v = LOOM_VLAN_AUTO_MIN; v <= LOOM_VLAN_MAX; v++)
		if (!(used[v / 8] & (1u << (v % 8)))) {
			a->vlan = (uint16_t)v;
			return 0;
		}
	return loom_err_set(err, LOOM_E_EXHAUSTED, "vlan",
			    "no VLAN left on NIC port %s of node %s: %d..%d are all taken by "
			    "other segments",
			    a->port[0] ? a->port : shared, a->node, LOOM_VLAN_AUTO_MIN, LOOM_VLAN_MAX);
}

/*
 * Would @a be allowed next to the attachments atts[0..n)?  Does not look at
 * whether @a is already among them (the caller checks duplicates).
 */
static int attach_check(const struct model *m, const struct attachment *atts, size_t n,
			const struct topology *topo, const struct attachment *a,
			struct loom_err *err)
{
	const struct segment *seg = model_segment(m, a->tenant, a->segment);
	const struct tenant *ten = model_tenant(m, a->tenant);
	const struct topo_node *node;
	struct att_ctx ctx = { .m = m };
	const char *pname, *target;
	bool mine_excl;

	if (!seg || !ten)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "segment",
				    "segment %s/%s does not exist", a->tenant, a->segment);
	node = topology_node(topo, a->node);
	if (!node && topology_foreign(topo, TOPO_NODE, a->node, "node", err))
		return -EPERM;
	if (!node)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "node",
				    "node %s is not in the topology", a->node);
	if (seg->type == SEG_ETHERNET && a->membership != MEMBERSHIP_DEFAULT)
		return loom_err_set(err, LOOM_E_PARAMS, "membership",
				    "membership is for infiniband segments; %s/%s is ethernet",
				    a->tenant, a->segment);
	if (a->vlan && seg->type != SEG_ETHERNET)
		return loom_err_set(err, LOOM_E_PARAMS, "vlan",
				    "a VLAN is for ethernet segments; %s/%s is %s", a->tenant,
				    a->segment, seg_type_name(seg->type));
	if (a->vlan && ten->isolation != ISOLATION_SOFT)
		return loom_err_set(err, LOOM_E_POLICY, "vlan",
				    "%s tenant %s gets whole ports; only soft tenants share a port "
				    "through VLANs",
				    isolation_name(ten->isolation), ten->name);
	if (a->vlan > LOOM_VLAN_MAX)
		return loom_err_set(err, LOOM_E_PARAMS, "vlan", "VLAN %u is outside %d..%d",
				    a->vlan, LOOM_VLAN_MIN, LOOM_VLAN_MAX);
	if (a->port[0]) {
		bool nic = topo_node_nic_port(node, a->port) != NULL;
		bool hca = topo_node_hca_port(node, a->port) != NULL;

		if ((seg->type == SEG_ETHERNET && !nic && hca) ||
		    (seg->type == SEG_INFINIBAND && !hca && nic))
			return loom_err_set(err, LOOM_E_PARAMS, "port",
					    "port %s of node %s is a %s port; %s segment %s/%s takes %s "
					    "ports", a->port, a->node, nic ? "NIC" : "HCA",
					    seg_type_name(seg->type), a->tenant, a->segment,
					    port_kind(seg->type));
		if (!nic && !hca)
			return loom_err_set(err, LOOM_E_NOT_FOUND, "port",
					    "node %s has no port %s", a->node, a->port);
	} else if (!node_ports(node, seg->type)) {
		return loom_err_set(err, LOOM_E_PARAMS, "node",
				    "node %s has no %s port, so it cannot join %s segment %s/%s",
				    a->node, port_kind(seg->type), seg_type_name(seg->type),
				    a->tenant, a->segment);
	}
	if (!site_allowed(ten, node->site)) {
		char allowed[LOOM_MAX_SITES * LOOM_NAME_MAX];

		sites_text(ten, allowed, sizeof(allowed));
		return loom_err_set(err, LOOM_E_POLICY, "node",
				    "node %s is in site %s, but tenant %s may only use sites %s "
				    "(data residency)", a->node, node->site, ten->name, allowed);
	}

	mine_excl = ten->isolation != ISOLATION_SOFT;
	for (size_t i = 0; i < n; i++) {
		const struct attachment *o = &atts[i];
		const char *shared;

		if (strcmp(o->node, a->node) != 0)
			continue;
		att_ctx_get(&ctx, o);
		if (!ctx.seg || !ctx.ten)
			continue;
		if (strcmp(o->tenant, a->tenant) == 0 && strcmp(o->segment, a->segment) == 0) {
			if (overlap(node, seg->type, o->port, a->port, &shared))
				return loom_err_set(err, LOOM_E_EXISTS, a->port[0] ? "port" : "node",
						    "port %s of node %s is already in %s/%s (attachment "
						    "%s%s%s); detach that first to change it", shared,
						    a->node, a->tenant, a->segment, o->node,
						    o->port[0] ? ":" : " (every port)", o->port);
			continue;
		}
		if (strcmp(o->tenant, a->tenant) != 0) {
			if (mine_excl)
				return loom_err_set(err, LOOM_E_POLICY, "node",
						    "node %s is used by tenant %s (segment %s/%s); %s "
						    "tenant %s gets dedicated nodes", a->node, o->tenant,
						    o->tenant, o->segment, isolation_name(ten->isolation),
						    ten->name);
			if (ctx.ten->isolation != ISOLATION_SOFT)
				return loom_err_set(err, LOOM_E_POLICY, "node",
						    "node %s is dedicated to %s tenant %s (segment %s/%s)",
						    a->node, isolation_name(ctx.ten->isolation), o->tenant,
						    o->tenant, o->segment);
			if (ctx.seg->type == seg->type &&
			    overlap(node, seg->type, o->port, a->port, &shared)) {
				int rc;

				if (seg->type == SEG_ETHERNET && (a->vlan || o->vlan)) {
					rc = vlan_share(a, o, shared, err);
					if (rc)
						return rc;
					continue;
				}
				return loom_err_set(err, LOOM_E_POLICY, a->port[0] ? "port" : "node",
						    "%s port %s of node %s is in segment %s/%s of tenant "
						    "%s; a port never serves two tenants",
						    port_kind(seg->type), shared, a->node, o->tenant,
						    o->segment, o->tenant);
			}
		}
		if (seg->type == SEG_ETHERNET && ctx.seg->type == SEG_ETHERNET &&
		    overlap(node, seg->type, o->port, a->port, &shared)) {
			if (a->vlan || o->vlan) {
				int rc = vlan_share(a, o, shared, err);

				if (rc)
					return rc;
				continue;
			}
			return loom_err_set(err, LOOM_E_POLICY, a->port[0] ? "port" : "node",
					    "NIC port %s of node %s is already in ethernet segment %s/%s; "
					    "an access port can only be in one bridge", shared, a->node,
					    o->tenant, o->segment);
		}
	}

	/* Private tenants own their VTEPs and subnet managers outright.  Without
	 * one in the picture there is nothing to scan. */
	if (ten->isolation != ISOLATION_PRIVATE) {
		size_t t;

		for (t = 0; t < m->n_tenants; t++)
			if (m->tenants[t]->isolation == ISOLATION_PRIVATE)
				break;
		if (t == m->n_tenants)
			return 0;
	}
	for (size_t i = 0; i < n; i++) {
		const struct attachment *o = &atts[i];
		const struct topo_node *onode;

		if (strcmp(o->tenant, a->tenant) == 0)
			continue;
		att_ctx_get(&ctx, o);
		if (!ctx.seg || !ctx.ten || ctx.seg->type != seg->type)
			continue;
		if (ten->isolation != ISOLATION_PRIVATE && ctx.ten->isolation != ISOLATION_PRIVATE)
			continue;
		onode = strcmp(o->node, a->node) ? topology_node(topo, o->node) : node;
		if (!onode)
			continue;
		for (size_t p = 0; p < node_ports(node, seg->type); p++) {
			node_port(node, seg->type, p, &pname, &target);
			if (!takes(a->port, pname))
				continue;
			for (size_t q = 0; q < node_ports(onode, seg->type); q++) {
				const char *oname, *otarget;

				node_port(onode, seg->type, q, &oname, &otarget);
				if (!takes(o->port, oname) || strcmp(otarget, target) != 0)
					continue;
				return loom_err_set(err, LOOM_E_POLICY, a->port[0] ? "port" : "node",
						    "%s %s (via port %s of node %s) is used by tenant %s "
						    "(node %s, segment %s/%s); a private tenant's %ss are "
						    "used by no other tenant",
						    seg->type == SEG_ETHERNET ? "VTEP" : "subnet manager",
						    target, pname, a->node, o->tenant, o->node, o->tenant,
						    o->segment,
						    seg->type == SEG_ETHERNET ? "VTEP" : "subnet manager");
			}
		}
	}
	return 0;
}

static int cmp_site(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The field is "sites", not "sites[i]": the model's list is sorted, so its
 * index need not be the one the user wrote; the message names the site. */
static int sites_check(const struct topology *topo, const struct tenant *t, struct loom_err *err)
{
	if (t->n_sites > LOOM_MAX_SITES)
		return loom_err_set(err, LOOM_E_RANGE, "sites", "at most %d sites", LOOM_MAX_SITES);
	for (size_t i = 0; i < t->n_sites; i++)
		if (!topology_site(topo, t->sites[i]))
			return loom_err_set(err, LOOM_E_NOT_FOUND, "sites",
					    "site %s is not in the topology", t->sites[i]);
	return 0;
}

int model_tenant_add(struct model *m, const struct topology *topo, const struct tenant *t,
		     struct loom_err *err)
{
	struct tenant copy;
	int rc;

	if (!name_is_valid(t->name))
		return loom_err_set(err, LOOM_E_PARAMS, "name",
				    "\"%s\" is not a lowercase DNS label", t->name);
	if (model_tenant(m, t->name))
		return loom_err_set(err, LOOM_E_EXISTS, "name", "tenant %s exists already", t->name);
	if (topology_tenant_owned(topo, t->name, "name", err))
		return -EPERM;
	if ((rc = sites_check(topo, t, err)))
		return rc;
	copy = *t;
	qsort(copy.sites, copy.n_sites, sizeof(copy.sites[0]), cmp_site);	/* model.h: sorted */
	copy.labels = t->labels ? json_deep_copy(t->labels) : json_object();
	if (!copy.labels)
		return -ENOMEM;
	rc = model_insert_tenant(m, &copy);
	if (rc)
		json_decref(copy.labels);
	return rc;
}

int model_tenant_update(struct model *m, const struct topology *topo, const struct tenant *t,
			struct loom_err *err)
{
	const struct tenant *cur = model_tenant(m, t->name);
	struct tenant *dst;
	struct tenant next;
	json_t *labels;
	int rc;

	if (!cur)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "name", "tenant %s does not exist", t->name);
	if (cur->isolation != t->isolation)
		return loom_err_set(err, LOOM_E_IMMUTABLE, "isolation",
				    "tenant %s is %s; isolation cannot change after creation",
				    t->name, isolation_name(cur->isolation));
	if ((rc = sites_check(topo, t, err)))
		return rc;
	next = *t;
	for (size_t i = 0; i < m->n_attachments; i++) {
		const struct attachment *a = &m->attachments[i];
		const struct topo_node *node;

		if (strcmp(a->tenant, t->name) != 0)
			continue;
		node = topology_node(topo, a->node);
		if (node && !site_allowed(&next, node->site))
			return loom_err_set(err, LOOM_E_POLICY, "sites",
					    "node %s in site %s is attached to %s/%s; detach it before "
					    "removing its site from tenant %s", a->node, node->site,
					    a->tenant, a->segment, t->name);
	}
	labels = t->labels ? json_deep_copy(t->labels) : json_object();
	if (!labels)
		return -ENOMEM;
	dst = (struct tenant *)cur;
	json_decref(dst->labels);
	memcpy(dst->sites, t->sites, sizeof(dst->sites));
	dst->n_sites = t->n_sites;
	qsort(dst->sites, dst->n_sites, sizeof(dst->sites[0]), cmp_site);
	dst->labels = labels;
	return 0;
}

int model_tenant_del(struct model *m, const char *name, struct loom_err *err)
{
	const struct tenant *t = model_tenant(m, name);
	struct segment key;
	size_t i, n = 0;
	char list[256];
	size_t off = 0;

	if (!t)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "name", "tenant %s does not exist", name);
	memset(&key, 0, sizeof(key));
	strcpy(key.tenant, name);
	list[0] = '\0';
	for (i = model_lower_bound(m->segments, m->n_segments, sizeof(key), &key, model_cmp_segment);
	     i < m->n_segments && strcmp(m->segments[i].tenant, name) == 0; i++, n++)
		if (n < 5 && off < sizeof(list))
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s/%s",
						n ? ", " : "", name, m->segments[i].name);
	if (n)
		return loom_err_set(err, LOOM_E_IN_USE, "name",
				    "tenant %s still has %zu segment(s): %s%s; delete them first",
				    name, n, list, n > 5 ? ", ..." : "");
	i = model_lower_bound(m->tenants, m->n_tenants, sizeof(t), &t, model_cmp_tenant);
	tenant_release(m->tenants[i]);
	model_remove_tenant(m, i);
	return 0;
}

/* "192.0.2.0/24" -> family, address bytes, prefix length. */
static int cidr_split(const char *s, int *af, unsigned char bin[16], int *plen)
{
	char addr[LOOM_ADDR_MAX];
	const char *slash = strchr(s, '/');
	char *end;
	long v;

	if (!slash || (size_t)(slash - s) >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	*af = strchr(addr, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(*af, addr, bin) != 1)
		return -EINVAL;
	v = strtol(slash + 1, &end, 10);
	if (*end || slash[1] == '\0' || v < 1 || v > (*af == AF_INET ? 32 : 128))
		return -EINVAL;
	*plen = (int)v;
	return 0;
}

/* Two networks overlap when one contains the other. */
static bool cidr_overlap(const char *x, const char *y)
{
	unsigned char a[16], b[16];
	int afa, afb, pa, pb, p;

	if (cidr_split(x, &afa, a, &pa) || cidr_split(y, &afb, b, &pb) || afa != afb)
		return false;
	p = pa < pb ? pa : pb;
	for (int bit = 0; bit < p; bit++)
		if ((a[bit / 8] ^ b[bit / 8]) & (0x80 >> (bit % 8)))
			return false;
	return true;
}

static int subnet_check(const struct model *m, const struct segment *s, const char *subnet,
			struct loom_err *err)
{
	unsigned char bin[16];
	int af, plen;

	if (!subnet[0])
		return 0;
	if (cidr_split(subnet, &af, bin, &plen))
		return loom_err_set(err, LOOM_E_PARAMS, "subnet", "\"%s\" is not a subnet", subnet);
	for (size_t i = 0; i < m->n_segments; i++) {
		const struct segment *o = &m->segments[i];

		if (strcmp(o->tenant, s->tenant) != 0 || o->type != SEG_ETHERNET)
			continue;
		if (cidr_overlap(subnet, o->subnet4) || cidr_overlap(subnet, o->subnet6))
			return loom_err_set(err, LOOM_E_CONFLICT, "subnet",
					    "subnet %s overlaps %s of segment %s/%s; a tenant's subnets "
					    "do not overlap", subnet,
					    cidr_overlap(subnet, o->subnet4) ? o->subnet4 : o->subnet6,
					    o->tenant, o->name);
	}
	return 0;
}

int model_segment_add(struct model *m, const struct topology *topo, struct segment *s,
		      struct loom_err *err)
{
	struct segment c = *s;
	uint32_t l3vni = 0;
	int rc;

	if (!name_is_valid(c.name))
		return loom_err_set(err, LOOM_E_PARAMS, "name",
				    "\"%s\" is not a lowercase DNS label", c.name);
	if (!model_tenant(m, c.tenant))
		return loom_err_set(err, LOOM_E_NOT_FOUND, "tenant",
				    "tenant %s does not exist", c.tenant);
	if (model_segment(m, c.tenant, c.name))
		return loom_err_set(err, LOOM_E_EXISTS, "name",
				    "segment %s/%s exists already", c.tenant, c.name);
	if (c.type == SEG_ETHERNET) {
		if (!c.mtu)
			c.mtu = ETH_MTU_DEFAULT;
		if (c.mtu < 576 || c.mtu > 9216)
			return loom_err_set(err, LOOM_E_RANGE, "mtu", "mtu %u is outside 576..9216", c.mtu);
		if (c.vni > 16777215)
			return loom_err_set(err, LOOM_E_RANGE, "vni", "vni %u is outside 1..16777215", c.vni);
		if ((rc = subnet_check(m, &c, c.subnet4, err)) ||
		    (rc = subnet_check(m, &c, c.subnet6, err)))
			return rc;
		if ((rc = pool_vni_take(m, c.tenant, &c.vni, "vni", err)))
			return rc;
		/* The tenant's first routed segment brings its L3 VNI. */
		if (segment_routed(&c) && !model_tenant(m, c.tenant)->l3vni &&
		    (rc = pool_l3vni_take(m, c.tenant, &l3vni, "gateway", err)))
			return rc;
		c.pkey = 0;
		c.ipoib = false;
		c.ib_mtu = c.rate_gbps = c.sl = 0;
		c.default_membership = MEMBERSHIP_DEFAULT;
	} else {
		if (!c.ib_mtu)
			c.ib_mtu = IB_MTU_DEFAULT;
		if (c.ib_mtu != 256 && c.ib_mtu != 512 && c.ib_mtu != 1024 && c.ib_mtu != 2048 &&
		    c.ib_mtu != 4096)
			return loom_err_set(err, LOOM_E_RANGE, "ib_mtu",
					    "ib_mtu must be 256, 512, 1024, 2048 or 4096");
		if (c.sl > 15)
			return loom_err_set(err, LOOM_E_RANGE, "sl", "sl %u is outside 0..15", c.sl);
		if (c.pkey >= 0x7fff)
			return loom_err_set(err, LOOM_E_RANGE, "pkey",
					    "P_Key 0x%04x is outside 0x0001..0x7ffe", c.pkey);
		if ((rc = pool_pkey_take(m, c.tenant, &c.pkey, "pkey", err)))
			return rc;
		if (c.default_membership == MEMBERSHIP_DEFAULT)
			c.default_membership = MEMBERSHIP_FULL;
		c.vni = 0;
		c.mtu = 0;
		c.subnet4[0] = c.subnet6[0] = '\0';
		c.gateway4[0] = c.gateway6[0] = '\0';
	}
	pool_derive_rd_rt(&m->pools, &c);
	if ((rc = model_insert_segment(m, &c)))
		return rc;
	if (l3vni)
		((struct tenant *)model_tenant(m, c.tenant))->l3vni = l3vni;
	*s = c;
	return 0;
}

/* Whether @tenant has a routed segment other than @except. */
static bool tenant_routed(const struct model *m, const char *tenant, const struct segment *except)
{
	struct segment key;

	memset(&key, 0, sizeof(key));
	strcpy(key.tenant, tenant);
	for (size_t i = model_lower_bound(m->segments, m->n_segments, sizeof(key), &key,
					  model_cmp_segment);
	     i < m->n_segments && strcmp(m->segments[i].tenant, tenant) == 0; i++)
		if (&m->segments[i] != except && segment_routed(&m->segments[i]))
			return true;
	return false;
}

int model_segment_del(struct model *m, const char *tenant, const char *name, struct loom_err *err)
{
	const struct segment *s = model_segment(m, tenant, name);
	struct id_hold hold, l3hold;
	const struct id_hold *old, *l3old = NULL;
	struct tenant *owner;
	size_t i, n = 0;
	char list[256];
	size_t off = 0;
	int rc;

	if (!s)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "name",
				    "segment %s/%s does not exist", tenant, name);
	owner = (struct tenant *)model_tenant(m, tenant);
	list[0] = '\0';
	for (i = model_first_attachment(m, tenant, name);
	     i < m->n_attachments && strcmp(m->attachments[i].tenant, tenant) == 0 &&
	     strcmp(m->attachments[i].segment, name) == 0; i++, n++)
		if (n < 5 && off < sizeof(list))
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s%s%s",
						n ? ", " : "", m->attachments[i].node,
						m->attachments[i].port[0] ? ":" : "",
						m->attachments[i].port);
	if (n)
		return loom_err_set(err, LOOM_E_IN_USE, "name",
				    "segment %s/%s still has %zu attachment(s): %s%s; detach them first",
				    tenant, name, n, list, n > 5 ? ", ..." : "");

	/* Its ID may still be programmed: hold it for this tenant. */
	memset(&hold, 0, sizeof(hold));
	hold.type = s->type;
	hold.id = s->type == SEG_ETHERNET ? s->vni : s->pkey;
	strcpy(hold.tenant, tenant);
	old = model_hold_find(m, hold.type, hold.id);
	/* The tenant's last routed segment takes its L3 VNI along, into a hold. */
	memset(&l3hold, 0, sizeof(l3hold));
	if (owner && owner->l3vni && segment_routed(s) && !tenant_routed(m, tenant, s)) {
		l3hold.type = SEG_ETHERNET;
		l3hold.id = owner->l3vni;
		strcpy(l3hold.tenant, tenant);
		l3old = model_hold_find(m, l3hold.type, l3hold.id);
	}
	if ((rc = ARRAY_GROW(m->holds, m->cap_holds,
			     m->n_holds + !old + (l3hold.id && !l3old))))
		return rc;
	model_remove_segment(m, (size_t)(s - m->segments));
	if (!old)
		model_insert_hold(m, &hold);	/* cannot fail: room was made */
	if (l3hold.id) {
		if (!l3old)
			model_insert_hold(m, &l3hold);
		owner->l3vni = 0;
	}
	return 0;
}

int model_attach(struct model *m, const struct topology *topo, struct attachment *a,
		 struct loom_err *err)
{
	size_t i = model_first_attachment(m, a->tenant, a->segment);
	int rc;

	for (; i < m->n_attachments && strcmp(m->attachments[i].tenant, a->tenant) == 0 &&
	       strcmp(m->attachments[i].segment, a->segment) == 0; i++) {
		const struct attachment *o = &m->attachments[i];

		if (strcmp(o->node, a->node) == 0 && strcmp(o->port, a->port) == 0)
			return loom_err_set(err, LOOM_E_EXISTS, a->port[0] ? "port" : "node",
					    "node %s%s%s is already attached to %s/%s", a->node,
					    a->port[0] ? " port " : "", a->port, a->tenant, a->segment);
	}
	if (a->vlan == LOOM_VLAN_AUTO) {
		const struct segment *seg = model_segment(m, a->tenant, a->segment);
		const struct tenant *ten = model_tenant(m, a->tenant);

		/* What attach_check refuses, it refuses naming "auto", not a pick. */
		if (seg && ten && seg->type == SEG_ETHERNET && ten->isolation == ISOLATION_SOFT) {
			rc = vlan_pick(m, topo, a, err);
			if (rc)
				return rc;
		}
	}
	rc = attach_check(m, m->attachments, m->n_attachments, topo, a, err);
	if (rc)
		return rc;
	return model_insert_attachment(m, a);
}

int model_detach(struct model *m, const struct attachment *a, struct loom_err *err)
{
	size_t i = model_first_attachment(m, a->tenant, a->segment);

	for (; i < m->n_attachments && strcmp(m->attachments[i].tenant, a->tenant) == 0 &&
	       strcmp(m->attachments[i].segment, a->segment) == 0; i++) {
		if (strcmp(m->attachments[i].node, a->node) == 0 &&
		    strcmp(m->attachments[i].port, a->port) == 0) {
			model_remove_attachment(m, i);
			return 0;
		}
	}
	return loom_err_set(err, LOOM_E_NOT_FOUND, a->port[0] ? "port" : "node",
			    "node %s%s%s is not attached to %s/%s", a->node,
			    a->port[0] ? " port " : "", a->port, a->tenant, a->segment);
}

int model_hold_add(struct model *m, const struct id_hold *h)
{
	const struct id_hold *old = model_hold_find(m, h->type, h->id);

	if (old)
		return strcmp(old->tenant, h->tenant) == 0 ? 0 : -EEXIST;
	return model_insert_hold(m, h);
}

void model_hold_release(struct model *m, enum seg_type type, uint32_t id)
{
	const struct id_hold *h = model_hold_find(m, type, id);

	if (h)
		model_remove_hold(m, (size_t)(h - m->holds));
}

int model_check_topology(const struct model *m, const struct topology *topo, struct loom_err *err)
{
	for (size_t i = 0; i < m->n_tenants; i++) {
		const struct tenant *t = m->tenants[i];
		char name_field[32];

		/* A delegation that now takes (or no longer gives) a tenant the
		 * store holds: the file or loomd.conf's instance is wrong. */
		snprintf(name_field, sizeof(name_field), "tenants[%zu]", i);
		if (topology_tenant_owned(topo, t->name, name_field, err))
			return -EPERM;
		for (size_t j = 0; j < t->n_sites; j++) {
			if (!topology_site(topo, t->sites[j])) {
				char field[64];

				snprintf(field, sizeof(field), "tenants[%zu].sites[%zu]", i, j);
				return loom_err_set(err, LOOM_E_IN_USE, field,
						    "tenant %s allows site %s, which the topology no "
						    "longer has", t->name, t->sites[j]);
			}
		}
	}
	/* Replay the attachments in order: each against the ones before it. */
	for (size_t i = 0; i < m->n_attachments; i++) {
		int rc = attach_check(m, m->attachments, i, topo, &m->attachments[i], err);

		if (rc) {
			char prefix[32];

			snprintf(prefix, sizeof(prefix), "attachments[%zu]", i);
			loom_err_prefix(err, prefix);
			return rc;
		}
	}
	return 0;
}

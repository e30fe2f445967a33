/*
 * topology/topology.h: the inventory loom manages, loaded from a JSON file
 * (format: docs/topology.md).  Sites, racks, VTEPs, subnet managers and
 * nodes with their NIC ports, HCA ports and GPUs.
 *
 * Pure: nothing here touches the system beyond reading the file.  Every
 * array is sorted by name (nodes' ports by port name) so lookups are
 * binary searches and iteration order is deterministic.
 */
#ifndef LOOM_TOPOLOGY_H
#define LOOM_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lib/err.h"

#define LOOM_NAME_MAX 64	/* names are at most 63 bytes, plus NUL */
#define LOOM_IFNAME_MAX 16	/* IFNAMSIZ */
#define LOOM_PATH_MAX 256
#define LOOM_ADDR_MAX 46	/* INET6_ADDRSTRLEN */

struct topo_site {
	char name[LOOM_NAME_MAX];
	/*
	 * The anycast gateway MAC of routed segments on the site's VTEPs
	 * ("" = LOOM_GATEWAY_MAC_DEFAULT): the same on every VTEP, so a host
	 * keeps its gateway's MAC wherever it is attached.
	 */
	char gateway_mac[18];
};

/* Locally administered, "loom" in the middle: no vendor's. */
#define LOOM_GATEWAY_MAC_DEFAULT "02:6c:6f:6f:6d:01"

struct topo_rack {
	char name[LOOM_NAME_MAX];
	char site[LOOM_NAME_MAX];
};

enum vtep_mode { VTEP_MODE_AUTO, VTEP_MODE_TRADITIONAL, VTEP_MODE_VLAN_AWARE };

struct topo_vtep {
	char name[LOOM_NAME_MAX];
	char site[LOOM_NAME_MAX];
	char vtep_ip[LOOM_ADDR_MAX];	/* local VXLAN source address (IPv4) */
	uint32_t asn;			/* the VTEP's own BGP ASN (router bgp ASN) */
	char vty_dir[LOOM_PATH_MAX];	/* FRR vty socket dir (vtysh --vty_socket) */
	char netns[LOOM_NAME_MAX];	/* "" = loomd's own namespace */
	enum vtep_mode mode;
};

struct topo_sm {
	char name[LOOM_NAME_MAX];
	char site[LOOM_NAME_MAX];
	char partitions_file[LOOM_PATH_MAX];
	char pid_file[LOOM_PATH_MAX];
	char umad_ca[LOOM_NAME_MAX];	/* "" = first CA */
	int umad_port;			/* 0 = first active port */
};

struct topo_nic_port {
	char name[LOOM_NAME_MAX];		/* node-local name, e.g. "eth0" */
	char mac[18];				/* "aa:bb:cc:dd:ee:ff", lowercase */
	char vtep[LOOM_NAME_MAX];		/* the VTEP it is cabled to */
	char access_port[LOOM_IFNAME_MAX];	/* the VTEP's interface facing it */
	char rail[LOOM_NAME_MAX];		/* optional rail / class label */
};

struct topo_hca_port {
	char name[LOOM_NAME_MAX];	/* node-local name, e.g. "mlx5_0/1" */
	uint64_t guid;			/* port GUID */
	unsigned int rate_gbps;		/* link rate, e.g. 100, 200, 400 */
	char sm[LOOM_NAME_MAX];		/* the subnet manager of its fabric */
	char rail[LOOM_NAME_MAX];	/* optional */
	uint16_t lid;			/* 0 = unknown (resolved from the fabric) */
};

struct topo_gpu {
	unsigned int index;		/* GPU index on the node */
	char model[LOOM_NAME_MAX];	/* e.g. "H100-SXM5-80GB" */
	bool mig_capable;
	char nic_port[LOOM_NAME_MAX];	/* rail pairing: NIC port name, or "" */
	char hca_port[LOOM_NAME_MAX];	/* rail pairing: HCA port name, or "" */
};

struct topo_node {
	char name[LOOM_NAME_MAX];
	char site[LOOM_NAME_MAX];
	char rack[LOOM_NAME_MAX];	/* "" when not given */
	struct topo_nic_port *nic_ports;	/* sorted by name */
	size_t n_nic_ports;
	struct topo_hca_port *hca_ports;	/* sorted by name */
	size_t n_hca_ports;
	struct topo_gpu *gpus;			/* sorted by index */
	size_t n_gpus;
};

/*
 * A delegation: a private tenant's VTEPs, subnet managers and nodes handed
 * to a separate loom instance (docs/topology.md, "Delegations").  Each
 * loomd keeps exactly its share: the instance named here keeps what the
 * delegation lists, every other instance what no delegation lists.
 */
struct topo_delegation {
	char instance[LOOM_NAME_MAX];
	char (*tenants)[LOOM_NAME_MAX];
	size_t n_tenants;
	char (*vteps)[LOOM_NAME_MAX];
	size_t n_vteps;
	char (*sms)[LOOM_NAME_MAX];
	size_t n_sms;
	char (*nodes)[LOOM_NAME_MAX];
	size_t n_nodes;
	uint32_t vni_min, vni_max;	/* the instance's VNIs (and so route targets) */
	uint32_t pkey_min, pkey_max;	/* and P_Keys: disjoint from every other's */
};

enum topo_kind { TOPO_VTEP, TOPO_SM, TOPO_NODE };

/* Something topology_delegate took out: another instance's. */
struct topo_cut {
	enum topo_kind kind;
	char name[LOOM_NAME_MAX];
	int owner;		/* delegation index, -1: the instance that keeps the rest */
	int index;		/* its index in that delegation's list (-1 for the rest) */
};

struct topology {
	struct topo_site *sites;
	size_t n_sites;
	struct topo_rack *racks;
	size_t n_racks;
	struct topo_vtep *vteps;
	size_t n_vteps;
	struct topo_sm *sms;
	size_t n_sms;
	struct topo_node *nodes;
	size_t n_nodes;
	struct topo_delegation *delegations;	/* in the file's order */
	size_t n_delegations;
	/* After topology_delegate: this instance's name, its delegation (NULL:
	 * it keeps what no delegation lists), and what was taken out. */
	char instance[LOOM_NAME_MAX];
	const struct topo_delegation *own;
	struct topo_cut *cut;
	size_t n_cut;
};

/*
 * Load and validate.  On error returns -EINVAL (or -errno for I/O) and
 * fills @err with LOOM_E_TOPOLOGY, err->field naming the JSON path
 * ("nodes[3].hca_ports[0].guid") and err->msg what is wrong (with the
 * line:column for JSON syntax errors).  *out is untouched on error.
 */
int topology_load_file(const char *path, struct topology **out, struct loom_err *err);
int topology_load_json(const json_t *root, struct topology **out, struct loom_err *err);
void topology_free(struct topology **topo);

/*
 * Cuts @t down to the share of loom instance @instance: the VTEPs,
 * subnet managers and nodes its delegation lists, or (an instance no
 * delegation names) everything no delegation lists.  What goes is kept in
 * t->cut so that a request naming it is answered with the delegation.
 */
int topology_delegate(struct topology *t, const char *instance, struct loom_err *err);

/*
 * @name (a @kind) was cut away as another instance's: fills @err
 * (LOOM_E_DELEGATED, @field) naming the instance and the delegation, and
 * returns -EPERM.  0 when it was not (absent for another reason).
 */
int topology_foreign(const struct topology *t, enum topo_kind kind, const char *name, const char *field,
		     struct loom_err *err);

/* May this instance hold tenant @name?  -EPERM with LOOM_E_DELEGATED (@field) when not. */
int topology_tenant_owned(const struct topology *t, const char *name, const char *field, struct loom_err *err);

/*
 * The instance's ID pools against the delegations: an instance's own
 * ranges must lie inside its delegation's, the others' outside every
 * delegation's.  LOOM_E_CONFIG naming vni_range / pkey_range.
 */
int topology_ranges_check(const struct topology *t, uint32_t vni_min, uint32_t vni_max, uint32_t pkey_min,
			  uint32_t pkey_max, struct loom_err *err);

/* Lookups by name; NULL when absent. */
const struct topo_site *topology_site(const struct topology *t, const char *name);
const struct topo_vtep *topology_vtep(const struct topology *t, const char *name);
const struct topo_sm *topology_sm(const struct topology *t, const char *name);
const struct topo_node *topology_node(const struct topology *t, const char *name);
const struct topo_nic_port *topo_node_nic_port(const struct topo_node *n, const char *name);
const struct topo_hca_port *topo_node_hca_port(const struct topo_node *n, const char *name);

/* The topology as JSON (the same shape as the file, normalised). */
json_t *topology_to_json(const struct topology *t);
json_t *topo_node_to_json(const struct topo_node *n);

/*
 * Whether @s is a valid name for a site, rack, VTEP, subnet manager or
 * node: a lowercase DNS label of 1-63 letters, digits and '-'.
 */
bool topology_name_ok(const char *s);

/* Parse / format a GUID: "0x0002c90300000001" or "0002:c903:0000:0001". */
int guid_parse(const char *s, uint64_t *out);
void guid_format(uint64_t guid, char buf[19]);	/* "0x%016llx" */

#endif

/*
 * tenancy/compile.h: intent + topology -> desired state, one per target.
 *
 * Pure and deterministic: the same model and topology give byte-identical
 * output.  Every array is sorted by its key so that a target's diff against
 * observed state is one merge pass.
 */
#ifndef LOOM_TENANCY_COMPILE_H
#define LOOM_TENANCY_COMPILE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tenancy/mig.h"
#include "tenancy/model.h"
#include "topology/topology.h"

/* One VNI on one VTEP. */
struct vtep_vni {
	uint32_t vni;
	unsigned int mtu;
	char tenant[LOOM_NAME_MAX];
	char segment[LOOM_NAME_MAX];
	char rd[32];
	char rt[32];
	char (*ports)[LOOM_IFNAME_MAX];	/* access ports on this VTEP, sorted */
	/*
	 * Parallel to ports, NULL when all are 0: a soft tenant's segment on
	 * a shared port has its 802.1Q tag there (the VTEP puts loom's
	 * sub-interface PORT.VLAN in the segment instead of the port).
	 */
	uint16_t *port_vlans;
	size_t n_ports;
	/*
	 * A routed segment: its tenant's L3 VNI (the VRF its bridge is in, an
	 * entry of the VTEP's vrfs) and the gateway addresses with the
	 * subnet's prefix length ("192.0.2.1/24"); 0 and "" = layer 2 only.
	 */
	uint32_t l3vni;
	char gateway4[LOOM_ADDR_MAX + 4];
	char gateway6[LOOM_ADDR_MAX + 4];
};

/* A tenant's VRF on one VTEP: there when one of its routed segments is. */
struct vtep_vrf {
	uint32_t l3vni;
	char tenant[LOOM_NAME_MAX];
	/*
	 * Per VTEP: "VTEP-IP:N" with N the L3 VNI modulo 65536 (l3vni_range
	 * is at most 65536 wide), and the VRF's BGP router-id, the VTEP's IP.
	 * Every VTEP's VRF has the same gateway addresses, so a router-id or
	 * RD left to FRR would be the same on all of them.
	 */
	char rd[32];
	char router_id[LOOM_ADDR_MAX];
	char rt[32];			/* the tenant's, the same everywhere */
};

struct vtep_desired {
	char vtep[LOOM_NAME_MAX];
	struct vtep_vni *vnis;		/* sorted by vni */
	size_t n_vnis;
	struct vtep_vrf *vrfs;		/* sorted by l3vni; NULL when none */
	size_t n_vrfs;
	char gateway_mac[18];		/* the site's anycast gateway MAC ("" without vrfs) */
};

struct pkey_member {
	uint64_t guid;
	enum membership membership;	/* FULL or LIMITED, never DEFAULT */
	char node[LOOM_NAME_MAX];
	char port[LOOM_NAME_MAX];
};

struct sm_partition {
	uint16_t pkey;			/* 15-bit */
	char name[LOOM_NAME_MAX];	/* derived from tenant and segment */
	char tenant[LOOM_NAME_MAX];
	char segment[LOOM_NAME_MAX];
	bool ipoib;
	unsigned int mtu;		/* bytes, 0 = default */
	unsigned int rate_gbps;		/* 0 = default */
	unsigned int sl;
	struct pkey_member *members;	/* sorted by guid */
	size_t n_members;
};

struct sm_desired {
	char sm[LOOM_NAME_MAX];
	struct sm_partition *partitions;	/* sorted by pkey */
	size_t n_partitions;
};

/* The MIG layouts of one node: one per MIG GPU of it, by index. */
struct gpu_desired {
	char node[LOOM_NAME_MAX];
	struct gpu_layout *layouts;
	size_t n_layouts;
};

struct desired {
	struct vtep_desired *vteps;	/* one per topology VTEP, sorted by name */
	size_t n_vteps;
	struct sm_desired *sms;		/* one per topology SM, sorted by name */
	size_t n_sms;
	struct gpu_desired *gpus;	/* compile_gpus: one per topology node, sorted by name */
	size_t n_gpus;
};

/*
 * Compile.  Every VTEP and SM of the topology gets an entry, empty when no
 * segment reaches it (an empty desired state is what removes everything).
 * An ethernet segment is on a VTEP when an attached node has a NIC port on
 * that VTEP; an infiniband segment is on an SM when an attached node has an
 * HCA port in that SM's fabric.  Returns 0 or -ENOMEM.
 */
int compile(const struct model *m, const struct topology *topo, struct desired **out);
void desired_free(struct desired **d);

/*
 * The MIG layouts into @d: every node of @topo gets one layout per
 * MIG-capable GPU of a known model it has (none when it has none), empty
 * when no instance is on it (an empty layout is what destroys loom's
 * instances).  @inst are the
 * instances placed (the store's rows), sorted by (node, gpu, start); one
 * whose profile the GPU's model lacks is left out.  Without this call @d
 * has no GPU slices, and GPU targets are left as they were.  Returns 0 or
 * -ENOMEM.
 */
int compile_gpus(const struct topology *topo, const struct mig_placement *inst, size_t n,
		 struct desired *d);

const struct vtep_desired *desired_vtep(const struct desired *d, const char *vtep);
const struct sm_desired *desired_sm(const struct desired *d, const char *sm);
const struct gpu_desired *desired_gpu(const struct desired *d, const char *node);

/*
 * One target's slice, copied, compared and freed on its own: the
 * reconciler keeps the last slice each target was given and gives a
 * target a job only when its slice changed.  _diff: the IDs (VNIs or
 * P_Keys) added, removed or changed between @a (NULL: none before) and
 * @b, sorted, in a malloc'd *ids (NULL when none).
 */
struct vtep_desired *vtep_desired_dup(const struct vtep_desired *src);
bool vtep_desired_equal(const struct vtep_desired *a, const struct vtep_desired *b);
void vtep_desired_free(struct vtep_desired **d);
int vtep_desired_diff(const struct vtep_desired *a, const struct vtep_desired *b, uint32_t **ids,
		      size_t *n);

struct sm_desired *sm_desired_dup(const struct sm_desired *src);
bool sm_desired_equal(const struct sm_desired *a, const struct sm_desired *b);
void sm_desired_free(struct sm_desired **d);
int sm_desired_diff(const struct sm_desired *a, const struct sm_desired *b, uint32_t **ids, size_t *n);

struct gpu_desired *gpu_desired_dup(const struct gpu_desired *src);
bool gpu_desired_equal(const struct gpu_desired *a, const struct gpu_desired *b);
void gpu_desired_free(struct gpu_desired **d);

/* Stable JSON (for golden files, the API and loomctl). */
json_t *desired_to_json(const struct desired *d);
/* A VTEP's VRFs as a JSON array. */
json_t *vtep_vrfs_to_json(const struct vtep_desired *d);

#endif

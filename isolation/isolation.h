/*
 * isolation/isolation.h: the independent isolation check.  What the fabric
 * holds (its truth: each VTEP's links, bridges, VXLAN devices and FDB, FRR's
 * configured VNIs; each HCA port's P_Key table; each GPU's MIG instances) is
 * checked against the intent (tenants, segments, attachments, MIG
 * instances given to tenants) and the topology, and every path that could
 * carry one tenant's traffic to another is reported as a finding.
 *
 * The checker (isolation/check.c) is pure: truth in, findings out, so that
 * every kind of finding is unit-tested with golden JSON.  The truth is read
 * by isolation/collect.c through the readers of each backend
 * (overlay/truth.c for netlink, frr_observe for FRR's running-config,
 * smt_read_pkeys for P_Key tables, gpu_nvml_observe for MIG), never from
 * loom's desired state or its targets' views.
 */
#ifndef LOOM_ISOLATION_ISOLATION_H
#define LOOM_ISOLATION_ISOLATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lib/err.h"
#include "overlay/frr.h"
#include "store/store.h"
#include "tenancy/mig.h"
#include "tenancy/model.h"
#include "topology/topology.h"

/* ---- the fabric's truth ------------------------------------------------ */

enum truth_link_kind { TRUTH_LINK_OTHER, TRUTH_LINK_BRIDGE, TRUTH_LINK_VXLAN, TRUTH_LINK_VLAN, TRUTH_LINK_VRF };

/* One link of a VTEP's namespace, as the kernel reports it. */
struct truth_link {
	char name[LOOM_IFNAME_MAX];
	int ifindex;
	enum truth_link_kind kind;
	int master;			/* ifindex of its bridge or VRF; 0 = none */
	uint32_t group;			/* netdev group */
	char alias[128];		/* ifalias, "" when none */
	uint32_t vni;			/* VXLAN only; 0 with external/vnifilter */
	int link;			/* 802.1Q sub-interface: the device it is on */
	uint16_t vlan_id;		/* 802.1Q sub-interface: its tag */
	bool vlan_filtering;		/* bridge */
	uint16_t pvid, n_vlans;		/* bridge port: its PVID (0 none) and VLAN count */
};

/* One bridge FDB entry (AF_BRIDGE neighbour). */
struct truth_fdb {
	int ifindex;			/* the port it is on */
	int master;			/* the bridge, 0 = none given */
	uint8_t mac[6];
	uint32_t vni;			/* NDA_VNI, 0 = the device's own */
	char dst[LOOM_ADDR_MAX];	/* NDA_DST, "" when none */
};

struct truth_vtep {
	char vtep[LOOM_NAME_MAX];
	/* 0 read; -errno when the links could not be read (@error says why). */
	int kernel_rc;
	int frr_rc;			/* the same for FRR */
	char error[256];
	struct truth_link *links;	/* sorted by ifindex */
	size_t n_links, cap_links;
	struct truth_fdb *fdb;
	size_t n_fdb, cap_fdb;
	struct frr_state frr;		/* FRR's running-config: vni blocks, advertise-all-vni */
};

#define TRUTH_PKEYS_MAX 128

struct truth_hca_port {
	char node[LOOM_NAME_MAX];
	char port[LOOM_NAME_MAX];
	uint64_t guid;
	int rc;				/* 0 read, -errno not */
	char error[256];
	uint16_t pkeys[TRUTH_PKEYS_MAX];	/* the non-zero entries, membership bit kept */
	size_t n_pkeys;
};

struct truth_gi {
	char profile[MIG_PROFILE_NAME_MAX];
	unsigned int start;
};

struct truth_gpu {
	char node[LOOM_NAME_MAX];
	unsigned int index;
	int rc;
	char error[256];
	struct truth_gi gi[MIG_INSTANCES_MAX];
	size_t n_gi;
};

struct fabric_truth {
	struct truth_vtep *vteps;
	size_t n_vteps, cap_vteps;
	struct truth_hca_port *hca_ports;
	size_t n_hca_ports, cap_hca_ports;
	struct truth_gpu *gpus;
	size_t n_gpus, cap_gpus;
};

void fabric_truth_free(struct fabric_truth **t);
/* Append an empty entry (zeroed); NULL on -ENOMEM. */
struct truth_vtep *fabric_truth_add_vtep(struct fabric_truth *t, const char *vtep);
struct truth_hca_port *fabric_truth_add_hca_port(struct fabric_truth *t, const char *node,
						 const char *port, uint64_t guid);
struct truth_gpu *fabric_truth_add_gpu(struct fabric_truth *t, const char *node,
				       unsigned int index);
struct truth_link *truth_vtep_add_link(struct truth_vtep *v);
struct truth_fdb *truth_vtep_add_fdb(struct truth_vtep *v);
/* Sort every VTEP's links by ifindex (the readers call it once). */
void truth_vtep_finish(struct truth_vtep *v);
/*
 * After truth_vtep_finish: each VLAN of a VLAN-filtering bridge becomes a
 * bridge of its own ("BRIDGE:VID", a made-up ifindex), its ports (those
 * whose one VLAN it is) re-parented to it, so that the checks judge a
 * vlan-aware VTEP as they judge per-VNI bridges.  A port in no VLAN carries
 * nothing and loses its master; a port in several VLANs is left as it is
 * (not judged).  Returns 0 or -ENOMEM.
 */
int truth_vtep_fold_vlans(struct truth_vtep *v);

/* ---- the intent -------------------------------------------------------- */

struct isolation_intent {
	const struct model *model;		/* tenants, segments, attachments, pools */
	const struct gpu_inst_rec *gpus;	/* MIG instances given to tenants */
	size_t n_gpus;
};

/* ---- findings ---------------------------------------------------------- */

enum finding_kind {
	FINDING_UNREADABLE,		/* a target's truth could not be read: nothing is proven there */
	FINDING_PORT_WRONG_BRIDGE,	/* an access port in a segment's bridge it is not attached to */
	FINDING_FOREIGN_PORT,		/* a device that is neither loom's nor an access port, in a loom bridge */
	FINDING_BRIDGE_TWO_VNIS,	/* one bridge carrying two VXLAN devices (VNIs) */
	FINDING_RT_CROSS_TENANT,	/* an import/export RT that is another tenant's segment's */
	FINDING_RT_UNKNOWN,		/* an import/export RT of no segment: pulls in whatever uses it */
	FINDING_VNI_NOT_NEEDED,		/* a segment's VNI on a VTEP where no attachment needs it */
	FINDING_VNI_UNKNOWN,		/* a VNI in EVPN (device with advertise-all-vni, or vni block) no intent names */
	FINDING_FDB_VNI,		/* an FDB entry that sends a VXLAN device's frames into another VNI */
	FINDING_PKEY_FOREIGN,		/* a segment's P_Key on a port not attached to it */
	FINDING_PKEY_FULL,		/* full membership where the attachment says limited */
	FINDING_PKEY_STALE,		/* a P_Key of loom's pool that no segment holds */
	FINDING_PKEY_SHARED,		/* a P_Key of no segment joining two tenants' ports */
	FINDING_MIG_RAIL,		/* a tenant's MIG instance on a GPU whose rail port is in another's segment */
	FINDING_MIG_UNOWNED,		/* a MIG instance on a GPU that no tenant was given */
	FINDING_VRF_CROSS_TENANT,	/* a tenant's bridge (SVI or L3 VNI) in a VRF not its tenant's */
	FINDING_KINDS
};

const char *finding_kind_name(enum finding_kind k);

#define FINDING_TENANTS_MAX 4

struct finding {
	enum finding_kind kind;
	char target[LOOM_NAME_MAX];	/* VTEP, node (HCA port / GPU) */
	char object[96];		/* "lb10100", "swp1", "vni 10100", "mlx5_0/1", "gpu 0" */
	char tenants[FINDING_TENANTS_MAX][LOOM_NAME_MAX];	/* sorted, unique */
	size_t n_tenants;
	char evidence[320];		/* what the fabric holds, in one sentence */
};

struct findings {
	struct finding *v;		/* sorted by target, kind, object */
	size_t n, cap;
};

void findings_release(struct findings *f);

/*
 * The check.  Pure: @truth against @intent and @topo.  Appends to @out
 * (sorted when it returns).  Returns the number of findings, or -ENOMEM.
 */
int isolation_check(const struct topology *topo, const struct isolation_intent *intent,
		    const struct fabric_truth *truth, struct findings *out);

/* The findings as a JSON array (stable: golden files compare it). */
json_t *findings_to_json(const struct findings *f);

/*
 * The report: {"version", "time" (RFC 3339, UTC), "clean", "targets":
 * {"vteps", "hca_ports", "gpus"}, "findings"}.  @time_ns is the wall clock
 * of the read (0: now).
 */
json_t *isolation_report(const struct fabric_truth *truth, const struct findings *f,
			 int64_t time_ns);

/* ---- reading the truth (isolation/collect.c) --------------------------- */

/* Which NVML library reaches a node's GPUs (loomd.conf gpu.nvml.NODE). */
struct isolation_nvml {
	const char *node;
	const char *path;
};

struct isolation_read_opts {
	const char *vtysh;		/* NULL: "vtysh" */
	int frr_timeout_ms;		/* 0: frr's default */
	bool no_vteps, no_hca, no_gpus;	/* skip a kind of target */
	const struct isolation_nvml *nvml;	/* a node without one is unreadable */
	size_t n_nvml;
};

/*
 * Read every target of @topo: each VTEP's kernel (overlay/truth.c) and FRR,
 * each HCA port's P_Key table through its SM's umad port, each GPU's MIG
 * instances (MIG-capable GPUs only).  A target that cannot be read is kept
 * with its rc and error (the checker reports it as unreadable).  Returns 0
 * or -ENOMEM.
 */
int isolation_read(const struct topology *topo, const struct isolation_read_opts *opts,
		   struct fabric_truth **out);

/*
 * What the API method isolation.verify and the periodic run call: read,
 * check and build the report.  *@report is the report (see
 * isolation_report); returns the number of findings (0: clean) or -errno
 * with @err.
 */
int isolation_verify(const struct topology *topo, const struct isolation_intent *intent,
		     const struct isolation_read_opts *opts, json_t **report,
		     struct loom_err *err);

/*
 * Sign @len bytes at @data with the private key in the PEM file @key_path
 * (SHA-256; RSA, EC or Ed25519).  *@sig is malloc'd; the signature checks
 * with `openssl dgst -sha256 -verify PUB -signature SIG DATA` (Ed25519:
 * `openssl pkeyutl -verify -rawin`).  Returns 0 or -errno with @err.
 */
int isolation_sign(const char *key_path, const void *data, size_t len,
		   unsigned char **sig, size_t *sig_len, struct loom_err *err);

#endif

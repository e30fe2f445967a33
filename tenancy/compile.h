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
	size_t n_ports;
};

struct vtep_desired {
	char vtep[LOOM_NAME_MAX];
	struct vtep_vni *vnis;		/* sorted by vni */
	size_t n_vnis;
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

struct desired {
	struct vtep_desired *vteps;	/* one per topology VTEP, sorted by name */
	size_t n_vteps;
	struct sm_desired *sms;		/* one per topology SM, sorted by name */
	size_t n_sms;
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

const struct vtep_desired *desired_vtep(const struct desired *d, const char *vtep);
const struct sm_desired *desired_sm(const struct desired *d, const char *sm);

/* Stable JSON (for golden files, the API and loomctl). */
json_t *desired_to_json(const struct desired *d);

#endif

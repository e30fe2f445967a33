/*
 * tenancy/model.h: the tenant model held in memory: tenants, their segments
 * and attachments, and the ID pools.  loomd keeps one struct model that
 * mirrors the store; every mutation is first checked here (pure, no I/O),
 * then written to the store in the request's transaction, then applied to
 * the model.
 *
 * Arrays are kept sorted (tenants, held by pointer, by name; segments by tenant/name,
 * attachments by tenant/segment/node/port) so that lookups are binary
 * searches and every listing is deterministic.
 */
#ifndef LOOM_TENANCY_MODEL_H
#define LOOM_TENANCY_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lib/err.h"
#include "topology/topology.h"

#define LOOM_MAX_SITES 16

enum isolation { ISOLATION_SOFT, ISOLATION_STRICT, ISOLATION_PRIVATE };
enum seg_type { SEG_ETHERNET, SEG_INFINIBAND };
enum membership { MEMBERSHIP_DEFAULT, MEMBERSHIP_FULL, MEMBERSHIP_LIMITED };

struct tenant {
	char name[LOOM_NAME_MAX];	/* lowercase DNS label, 1..63 */
	enum isolation isolation;
	char sites[LOOM_MAX_SITES][LOOM_NAME_MAX];	/* allowed sites; sorted */
	size_t n_sites;
	json_t *labels;			/* object of string -> string; owned */
	/*
	 * Routing (docs/model.md): the tenant's L3 VNI, from the L3 VNI pool,
	 * while it has a routed segment (0 = none).  Not part of the tenant's
	 * JSON (tenant_from_json/_to_json): the model sets it.
	 */
	uint32_t l3vni;
};

struct segment {
	char tenant[LOOM_NAME_MAX];
	char name[LOOM_NAME_MAX];	/* DNS label; full name is tenant/name */
	enum seg_type type;
	/* ethernet */
	uint32_t vni;			/* 1..16777215 */
	unsigned int mtu;		/* 576..9216, default 1500 (ethernet) */
	char subnet4[LOOM_ADDR_MAX];	/* "192.0.2.0/24" or "" */
	char subnet6[LOOM_ADDR_MAX];	/* "2001:db8::/64" or "" */
	/*
	 * The anycast gateway's address in subnet4 / subnet6 ("" = none).  A
	 * segment with a gateway is routed: the tenant's VRF holds it.
	 */
	char gateway4[LOOM_ADDR_MAX];
	char gateway6[LOOM_ADDR_MAX];
	char rd[32];			/* derived, see docs/model.md */
	char rt[32];			/* derived */
	/* infiniband */
	uint16_t pkey;			/* 15-bit P_Key, 0x0001..0x7ffe */
	bool ipoib;
	unsigned int ib_mtu;		/* 256, 512, 1024, 2048 or 4096 */
	unsigned int rate_gbps;		/* 0 = OpenSM default */
	unsigned int sl;		/* 0..15 */
	enum membership default_membership;	/* FULL or LIMITED */
};

struct attachment {
	char tenant[LOOM_NAME_MAX];
	char segment[LOOM_NAME_MAX];
	char node[LOOM_NAME_MAX];
	char port[LOOM_NAME_MAX];	/* "" = every port of the node that fits */
	enum membership membership;	/* DEFAULT = the segment's default */
	/*
	 * Ethernet, soft tenants only: the 802.1Q tag this segment has on the
	 * node's port, which it shares with other segments (each on its own
	 * VLAN); 0 = the whole port, untagged.  LOOM_VLAN_AUTO before
	 * model_attach: the lowest VLAN free on the port.
	 */
	uint16_t vlan;
};

#define LOOM_VLAN_MIN 1
#define LOOM_VLAN_MAX 4094
#define LOOM_VLAN_AUTO_MIN 2	/* where "auto" starts: 1 is many switches' default */
#define LOOM_VLAN_AUTO 0xffff

/* An ID that was released but may still be programmed somewhere. */
struct id_hold {
	enum seg_type type;		/* which pool: VNI or P_Key */
	uint32_t id;
	char tenant[LOOM_NAME_MAX];	/* who held it */
};

/*
 * An ID inside a pool that someone else already uses on the fabric (an
 * operator's partition in a subnet manager's partitions file, outside
 * loom's section): never handed out, and refused when asked for.
 */
struct id_reserved {
	enum seg_type type;
	uint32_t id;
	char owner[LOOM_NAME_MAX];	/* e.g. the operator's partition name ("" = unnamed) */
	char where[LOOM_PATH_MAX];	/* e.g. the partitions file */
};

struct pools {
	uint32_t vni_min, vni_max;	/* inclusive */
	uint16_t pkey_min, pkey_max;	/* inclusive, 15-bit */
	unsigned int rt_asn;		/* the ASN in derived RD/RT, 1..65535 */
	uint32_t l3vni_min, l3vni_max;	/* tenants' L3 VNIs, inclusive; apart from the VNI pool */
};

struct model {
	struct pools pools;
	/*
	 * Tenants are held by pointer: a struct tenant is over 1 KB (its
	 * sites), and inserting into a sorted array of tens of thousands of
	 * them moved megabytes per tenant.create.
	 */
	struct tenant **tenants;
	size_t n_tenants, cap_tenants;
	struct segment *segments;
	size_t n_segments, cap_segments;
	struct attachment *attachments;
	size_t n_attachments, cap_attachments;
	struct id_hold *holds;
	size_t n_holds, cap_holds;
	/*
	 * IDs others use (loomd reads them from the partitions files): borrowed,
	 * not owned; like the pools, model_clear keeps them.  Sorted by
	 * (type, id) with model_reserved_set.
	 */
	const struct id_reserved *reserved;
	size_t n_reserved;
};

int model_init(struct model *m, const struct pools *pools);
void model_clear(struct model *m);	/* frees everything, keeps pools and reserved IDs */

/*
 * Point the model at the IDs others use (@ids sorted by (type, id), e.g.
 * with model_reserved_sort; the caller keeps them alive).  Segments that
 * carry one already are not changed: model_reserved_find tells who.
 */
void model_reserved_set(struct model *m, const struct id_reserved *ids, size_t n);
void model_reserved_sort(struct id_reserved *ids, size_t n);
const struct id_reserved *model_reserved_find(const struct model *m, enum seg_type type, uint32_t id);

/* Names and strings <-> enums. */
const char *isolation_name(enum isolation i);
int isolation_parse(const char *s, enum isolation *out);
const char *seg_type_name(enum seg_type t);
int seg_type_parse(const char *s, enum seg_type *out);
const char *membership_name(enum membership m);
int membership_parse(const char *s, enum membership *out);
bool name_is_valid(const char *s);	/* lowercase DNS label, 1..63 */

/* Lookups; NULL when absent. */
const struct tenant *model_tenant(const struct model *m, const char *name);
const struct segment *model_segment(const struct model *m, const char *tenant, const char *name);
const struct segment *model_segment_by_vni(const struct model *m, uint32_t vni);
const struct segment *model_segment_by_pkey(const struct model *m, uint16_t pkey);

/*
 * JSON <-> structs.  The parsers check types, ranges and formats and name
 * the field at fault ("vni", "sites[1]", ...) in @err; they do not look at
 * the model.  Unknown keys are refused (a typo must not be silently
 * ignored).
 */
int tenant_from_json(const json_t *obj, struct tenant *out, struct loom_err *err);
int segment_from_json(const json_t *obj, const char *tenant, struct segment *out, struct loom_err *err);
int attachment_from_json(const json_t *obj, struct attachment *out, struct loom_err *err);
json_t *tenant_to_json(const struct tenant *t);
json_t *segment_to_json(const struct segment *s);
json_t *attachment_to_json(const struct attachment *a);
void tenant_release(struct tenant *t);	/* frees labels */

/*
 * Mutations.  Each checks everything first (names, references into the
 * topology, IDs, policy) and changes nothing on error.  On success the
 * model owns a copy.  model_segment_add fills s->vni / s->pkey from the
 * pool when they are 0, and derives rd/rt.
 */
int model_tenant_add(struct model *m, const struct topology *topo, const struct tenant *t, struct loom_err *err);
int model_tenant_update(struct model *m, const struct topology *topo, const struct tenant *t, struct loom_err *err);
int model_tenant_del(struct model *m, const char *name, struct loom_err *err);
int model_segment_add(struct model *m, const struct topology *topo, struct segment *s, struct loom_err *err);
int model_segment_del(struct model *m, const char *tenant, const char *name, struct loom_err *err);
/* model_attach replaces a->vlan LOOM_VLAN_AUTO by the VLAN it picked. */
int model_attach(struct model *m, const struct topology *topo, struct attachment *a, struct loom_err *err);
int model_detach(struct model *m, const struct attachment *a, struct loom_err *err);

/*
 * Routing.  A segment is routed when it has a gateway.  A tenant holds an
 * L3 VNI while it has a routed segment: model_segment_add takes one from
 * the L3 VNI pool for the tenant's first, model_segment_del puts it in a
 * hold (type SEG_ETHERNET: L3 VNIs are VXLAN VNIs like the others, in a
 * pool of their own) when its last one goes.  The caller writes the
 * tenant's row again when t->l3vni changed.
 */
static inline bool segment_routed(const struct segment *s)
{
	return s->type == SEG_ETHERNET && (s->gateway4[0] || s->gateway6[0]);
}
/* The VRF device of L3 VNI @l3vni on every VTEP: "lvL3VNI" (fits IFNAMSIZ). */
void tenant_vrf_name(uint32_t l3vni, char buf[16]);
/* The tenant's route distinguisher / target "ASN:L3VNI" ("" without one). */
void tenant_rd_rt(const struct pools *p, const struct tenant *t, char rd[32], char rt[32]);

/* Holds: an ID in a hold is not handed to another tenant. */
int model_hold_add(struct model *m, const struct id_hold *h);
void model_hold_release(struct model *m, enum seg_type type, uint32_t id);

/*
 * Loading from the store: append without policy checks (the store only
 * holds what was checked when it was written), then model_load_finish()
 * sorts.  Each returns 0 or -ENOMEM; the model takes ownership of labels.
 */
int model_load_tenant(struct model *m, const struct tenant *t);
int model_load_segment(struct model *m, const struct segment *s);
int model_load_attachment(struct model *m, const struct attachment *a);
int model_load_hold(struct model *m, const struct id_hold *h);
void model_load_finish(struct model *m);

/* Check the whole model against a (new) topology; used on topology reload. */
int model_check_topology(const struct model *m, const struct topology *topo, struct loom_err *err);

#endif

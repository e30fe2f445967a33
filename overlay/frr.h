/*
 * overlay/frr.h: the FRR target.  Programs the BGP EVPN statements loom owns
 * into one VTEP's FRR through vtysh, and verifies them from FRR's JSON.
 *
 * loom owns, under the VTEP's `router bgp ASN` (default VRF):
 *   address-family l2vpn evpn
 *    advertise-all-vni
 *    vni N
 *     rd X
 *     route-target import X
 *     route-target export X
 *    exit-vni
 * Every `vni N` block of that address family is loom's; everything else
 * (neighbours, `neighbor X activate`, addresses, other address families,
 * other statements inside a vni block) is the operator's and never touched.
 * loom adds `advertise-all-vni` when it is missing and never removes it, nor
 * the address family, nor `router bgp` (the operator's underlay needs them).
 *
 * The pure half (parse running-config, plan, render, parse JSON) is in
 * overlay/frr_config.c and unit-tested with golden files; the half that
 * talks to FRR is overlay/frr.c, over the transports in frr_vty.c (the
 * daemons' vty sockets) and frr_vtysh.c (vtysh).  Every function may block
 * (on a vtysh child or a vty socket, with a time limit): loomd calls them
 * from the VTEP's worker thread.
 */
#ifndef LOOM_OVERLAY_FRR_H
#define LOOM_OVERLAY_FRR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "lib/err.h"
#include "tenancy/compile.h"
#include "topology/topology.h"

#define FRR_RT_MAX 8		/* route-targets kept per direction per VNI */
#define FRR_RTSTR_MAX 32	/* "4294967295:65535" / "203.0.113.1:65535" */

/* One `vni N` block as FRR has it. */
struct frr_vni {
	uint32_t vni;
	char rd[FRR_RTSTR_MAX];			/* "" = no rd configured */
	char rt_import[FRR_RT_MAX][FRR_RTSTR_MAX];
	unsigned int n_import;
	char rt_export[FRR_RT_MAX][FRR_RTSTR_MAX];
	unsigned int n_export;
	bool overflow;		/* more RTs than FRR_RT_MAX: rebuild the block */
};

/*
 * One tenant VRF loom made (named lvL3VNI): zebra's `vrf lvN` / `vni N`,
 * and bgpd's `router bgp ASN vrf lvN` with its address families.
 */
struct frr_vrf {
	uint32_t l3vni;		/* from the name */
	uint32_t zebra_vni;	/* the `vni` under `vrf lvN` in zebra, 0 = none */
	bool bgp;		/* `router bgp ASN vrf lvN` exists */
	bool redist4, redist6;	/* `redistribute connected` in ipv4 / ipv6 unicast */
	bool adv4, adv6;	/* `advertise ipv4|ipv6 unicast` in l2vpn evpn */
	char router_id[FRR_RTSTR_MAX];	/* `bgp router-id` of the instance, "" = none */
	struct frr_vni evpn;	/* its l2vpn evpn rd and route-targets (vni unused) */
};

/* What FRR has of loom's statements (from `show running-config`). */
struct frr_state {
	uint32_t asn;		/* `router bgp ASN` of the default VRF; 0 = none */
	bool evpn_af;		/* `address-family l2vpn evpn` present */
	bool advertise_all_vni;
	struct frr_vni *vnis;	/* sorted by vni */
	size_t n_vnis;
	struct frr_vrf *vrfs;	/* sorted by l3vni */
	size_t n_vrfs;
};

/* A batch of vtysh configuration lines (already in `configure` mode). */
struct frr_plan {
	char **lines;
	size_t n_lines, cap;
	size_t n_changes;	/* statements added or removed (0 = in sync) */
	bool zebra;		/* has zebra's lines (a tenant VRF's vrf / vni) */
	struct frr_state after;	/* loom's statements once the plan is applied */
};

/* Per-VNI result of verification. */
enum frr_vni_verdict {
	FRR_VNI_OK,		/* in BGP with loom's RD/RTs and in the kernel */
	FRR_VNI_NO_KERNEL,	/* RD/RTs right, VXLAN device not (yet) in zebra */
	FRR_VNI_MISMATCH,	/* BGP has other RD/RTs */
	FRR_VNI_MISSING,	/* BGP does not know the VNI */
	FRR_VNI_EXTRA,		/* BGP has a VNI loom did not ask for */
};

struct frr_vni_status {
	uint32_t vni;
	enum frr_vni_verdict verdict;
	char detail[160];	/* what differs, for status / logs */
	unsigned int remote_vteps;	/* from zebra, 0 when unknown */
};

/* One VNI as `show bgp l2vpn evpn vni json` reports it. */
struct frr_bgp_vni {
	uint32_t vni;
	bool in_kernel;
	char rd[FRR_RTSTR_MAX];
	char rt_import[FRR_RT_MAX][FRR_RTSTR_MAX];
	unsigned int n_import;
	char rt_export[FRR_RT_MAX][FRR_RTSTR_MAX];
	unsigned int n_export;
	unsigned int remote_vteps;	/* from `show evpn vni json`, 0 = unknown */
};

struct frr_bgp_vnis {
	bool advertise_all_vni;
	struct frr_bgp_vni *vnis;	/* sorted by vni */
	size_t n_vnis;
	struct frr_bgp_vni *l3;		/* the L3 VNIs ("type": "L3"), sorted by vni */
	size_t n_l3;
};

/* ---- pure: overlay/frr_config.c ---- */

/*
 * Parse `show running-config` text for the default VRF's `router bgp`
 * block.  When @asn is not 0 and the block has another ASN, fills @err
 * (LOOM_E_CONFLICT) and returns -EINVAL.  A config with no `router bgp`
 * gives asn 0 and no VNIs.  Returns 0, -EINVAL or -ENOMEM.
 */
int frr_config_parse(const char *text, uint32_t asn, struct frr_state *out,
		     struct loom_err *err);
/*
 * Add zebra's `vrf lvN` / ` vni N` blocks of @text (zebra's running-config)
 * to @st's VRFs.  0 or -ENOMEM.
 */
int frr_config_parse_zebra(const char *text, struct frr_state *st);
void frr_state_release(struct frr_state *st);
int frr_state_copy(const struct frr_state *from, struct frr_state *to);	/* 0 or -ENOMEM */

/*
 * The lines that turn @have into @want for `router bgp @asn`, removals
 * first.  @have NULL means "FRR has nothing of ours" (e.g. after a restart).
 * Returns the number of statements changed (0 = nothing to do, the plan is
 * then empty) or -ENOMEM / -EINVAL (a desired rd/rt that is not a single
 * token).
 */
int frr_plan_build(const struct frr_state *have, const struct vtep_desired *want,
		   uint32_t asn, struct frr_plan *out);
void frr_plan_release(struct frr_plan *plan);
/* The plan as a vtysh input file (-f), with indentation; malloc'd. */
char *frr_plan_render(const struct frr_plan *plan);

/*
 * Parse `show bgp l2vpn evpn vni json` (@bgp_json) and optionally
 * `show evpn vni json` (@zebra_json, may be NULL) into @out.
 */
int frr_bgp_vnis_parse(const json_t *bgp_json, const json_t *zebra_json,
		       struct frr_bgp_vnis *out, struct loom_err *err);
void frr_bgp_vnis_release(struct frr_bgp_vnis *v);

/*
 * Compare what BGP reports with @want: one status per desired VNI and one
 * FRR_VNI_EXTRA per VNI BGP has beyond it, sorted by vni.  Returns the
 * number of desired VNIs that are not verified, or -ENOMEM.  With
 * @need_kernel false, FRR_VNI_NO_KERNEL counts as fine.  An EXTRA is
 * reported, not counted: with advertise-all-vni BGP shows every VXLAN
 * device of the kernel, and those devices are the kernel target's.
 */
int frr_verify_compare(const struct frr_bgp_vnis *have, const struct vtep_desired *want,
		       bool need_kernel, struct frr_vni_status **out, size_t *n_out);
const char *frr_vni_verdict_name(enum frr_vni_verdict v);

/*
 * Split vtysh's combined output into FRR's error messages: a line starting
 * with '%' (also "line N: % ..." from -f) or a known failure sentence.
 * Copies the first one (and how many there were) into @msg; returns the
 * number of error lines.
 */
int frr_output_errors(const char *output, char *msg, size_t msg_size);

/* ---- the target: overlay/frr.c ---- */

enum frr_apply_mode {
	FRR_APPLY_FILE,		/* vtysh -f FILE (one file per batch) */
	FRR_APPLY_ARGS,		/* vtysh -c LINE -c LINE ... */
	FRR_APPLY_SESSION,	/* default: one long-lived vtysh per target, each batch
				 * written to its stdin and ended by a
				 * sentinel; no vtysh start-up per batch.
				 * Batches over 256 lines still go with -f,
				 * which is faster for them. */
	FRR_APPLY_VTY,		/* opt-in: no vtysh at all; the batch is
				 * pipelined to bgpd's own vty socket (the
				 * protocol vtysh speaks: command NUL, answer
				 * then NUL NUL NUL status), one status per
				 * line. */
};

struct frr_target;

/*
 * Open a target for @vtep (its ASN and vty socket dir).  Does not need FRR
 * to be up: the first operation that cannot reach it fails with
 * LOOM_E_UNAVAILABLE.  NULL on error with @err filled.
 */
struct frr_target *frr_target_open(const struct topo_vtep *vtep, struct loom_err *err);
void frr_target_close(struct frr_target **t);

/* Settings (defaults: "vtysh" from PATH, 30 s, FRR_APPLY_SESSION). */
void frr_target_set_vtysh(struct frr_target *t, const char *path);
void frr_target_set_timeout(struct frr_target *t, int timeout_ms);
void frr_target_set_mode(struct frr_target *t, enum frr_apply_mode mode);

/*
 * Read loom's statements from FRR (`show running-config bgpd`) and keep
 * them as the target's view of FRR.  @out may be NULL.
 */
int frr_observe(struct frr_target *t, struct frr_state *out, struct loom_err *err);
/*
 * Plan against the target's view of FRR: the last observation updated by
 * every successful apply, kept only while bgpd and zebra keep their pids
 * (checked on every call, two connect()s).  With no valid view it observes
 * first.  So an intent change costs one vtysh (the apply); statements
 * changed by hand behind loom's back are found by the next full observe:
 * the periodic resync calls frr_target_invalidate() (or frr_observe()).
 * Returns the number of changes (frr_plan_build).
 */
int frr_plan(struct frr_target *t, const struct vtep_desired *want,
	     struct frr_plan *out, struct loom_err *err);
/* Forget the view of FRR: the next frr_plan observes. */
void frr_target_invalidate(struct frr_target *t);
/*
 * Send the plan as one batch: to the target's vtysh session (started on
 * first use, restarted after an error or an FRR restart), or in one vtysh
 * run (FRR_APPLY_ARGS falls back to -f for batches that would not fit the
 * argv limit).  Any "% ..." line or non-zero exit is an
 * error (LOOM_E_UNAVAILABLE when FRR is down, LOOM_E_CONFLICT otherwise)
 * carrying FRR's message.
 */
int frr_apply(struct frr_target *t, const struct frr_plan *plan, struct loom_err *err);
/* frr_plan + frr_apply; returns the number of changes applied. */
int frr_sync(struct frr_target *t, const struct vtep_desired *want, struct loom_err *err);
/*
 * Read `show bgp l2vpn evpn vni json` from bgpd straight from its vty
 * socket (no vtysh) and compare (frr_verify_compare); once bgpd shows
 * everything, also `show evpn vni json` from zebra's socket for the remote
 * VTEP counts.  Returns the number of VNIs not verified, or -errno with
 * @err filled.
 */
int frr_verify(struct frr_target *t, const struct vtep_desired *want, bool need_kernel,
	       struct frr_vni_status **out, size_t *n_out, struct loom_err *err);
/*
 * How many L2 VNIs zebra knows (`show evpn json` numL2Vnis, from zebra's
 * vty socket): a cheap progress count while zebra learns a large change
 * from the kernel, so that the full JSON of frr_verify is read only when it
 * can succeed.  It counts every VXLAN device, also an operator's: a hint,
 * never a verdict.  Returns the count or -errno with @err filled.
 */
int frr_zebra_vni_count(struct frr_target *t, struct loom_err *err);
/*
 * Does bgpd know VNI @vni with its VXLAN device (`show bgp l2vpn evpn vni
 * N json`, inKernel, from bgpd's vty socket)?  One VNI's JSON: a cheap
 * probe while bgpd learns a large change from zebra, so that the full JSON
 * (which bgpd builds on the same thread that learns) is read only when it
 * can succeed.  A hint, never a verdict.  Returns 1, 0 or -errno.
 */
int frr_bgp_vni_in_kernel(struct frr_target *t, uint32_t vni, struct loom_err *err);
/*
 * Has bgpd or zebra restarted since the last call (or since open)?  The
 * daemons' pids are read from their vty sockets (SO_PEERCRED), so this
 * costs two connect()s and no vtysh.  Returns 1 (restarted: re-apply),
 * 0, or -errno (LOOM_E_UNAVAILABLE with the vty dir when FRR is down).
 * The first call only records the pids and returns 0.
 */
int frr_restarted(struct frr_target *t, struct loom_err *err);
/* The pids seen last (0 = unknown). */
void frr_daemon_pids(const struct frr_target *t, pid_t *bgpd, pid_t *zebra);

#endif

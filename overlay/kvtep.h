/*
 * overlay/kvtep.h: the kernel VTEP target (netlink through libmnl).
 *
 * One handle per VTEP, opened inside the VTEP's network namespace.  It keeps
 * one request socket and one event socket, both living in that namespace.
 * The reconciler drives it as observe -> plan -> apply -> verify; every call
 * but kvtep_event_fd / kvtep_event_drain may block on netlink (with time
 * limits) and belongs on the VTEP's worker thread.  kvtep_event_drain is for
 * the main loop, when kvtep_event_fd is readable; it is safe to call while a
 * worker runs the other calls on the same handle.
 *
 * Traditional mode, per VNI N: bridge "lbN" and VXLAN device "lxN" (VNI N,
 * local VTEP IP, dstport 4789, nolearning), both carrying the VNI's MTU, the
 * VXLAN device enslaved to the bridge with learning off and neighbour
 * suppression on (where the kernel has it), both up, the segment's access
 * ports enslaved and up.  Every device loom creates is in netdev group
 * KVTEP_GROUP and carries an ifalias starting with "loom:"; only such
 * devices are ever changed or deleted (access ports are only enslaved and
 * released).  vlan-aware mode: one VLAN-filtering bridge "lbv", lxN in it
 * with the VNI's VLAN as PVID, access ports in that VLAN alone.  A soft
 * tenant's tagged port goes in as loom's 802.1Q sub-interface PORT.TAG, in
 * both modes.  See docs/overlay.md.
 */
#ifndef LOOM_OVERLAY_KVTEP_H
#define LOOM_OVERLAY_KVTEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "tenancy/compile.h"
#include "topology/topology.h"

/* Netdev groups: "loom" and "lood" in ASCII, unlikely to be an operator's. */
#define KVTEP_GROUP 0x6c6f6f6dU		/* live loom devices */
#define KVTEP_GROUP_DOOMED 0x6c6f6f64U	/* loom devices about to be deleted */
#define KVTEP_ALIAS_PREFIX "loom:"

enum kvtep_vni_state { KVTEP_VNI_PROGRAMMED, KVTEP_VNI_ERROR };

struct kvtep_vni_status {
	uint32_t vni;
	enum kvtep_vni_state state;
	int code;		/* enum loom_errcode; LOOM_OK when programmed */
	char reason[256];	/* "" when programmed */
	/* The VNI or its device names belong to a device loom does not own:
	 * FRR must not carry the VNI either (it would tie the operator's
	 * device into the segment). */
	bool foreign;
};

struct kvtep;

/*
 * Open the VTEP in network namespace @netns ("" or NULL: the caller's own),
 * with VXLAN source address @vtep_ip (IPv4), and probe the kernel.  A @mode
 * the kernel cannot do fails with LOOM_E_UNAVAILABLE in @err.
 * Returns 0 or -errno.
 */
int kvtep_open(const char *netns, const char *vtep_ip, enum vtep_mode mode,
	       struct kvtep **out, struct loom_err *err);
void kvtep_close(struct kvtep **h);

/* The mode in force (never AUTO) and one sentence saying why, for the log. */
enum vtep_mode kvtep_mode(const struct kvtep *h);
const char *kvtep_mode_reason(const struct kvtep *h);

/* Kernel capabilities found by the probe. */
struct kvtep_caps {
	bool bridge, vxlan, neigh_suppress, vlan_filtering, vnifilter, vrf;
};
const struct kvtep_caps *kvtep_caps(const struct kvtep *h);

/* Dump the links (one dump) into the handle.  Returns the link count or -errno. */
int kvtep_observe(struct kvtep *h);

/*
 * Diff @d against the last observation into the handle's ordered action
 * list: release ports, delete, create, fix, enslave ports.  @d must stay
 * valid until kvtep_apply returns.  Returns the number of actions or -errno.
 */
int kvtep_plan(struct kvtep *h, const struct vtep_desired *d);

/* One line per action, for logs and tests ("create bridge lb100", ...). */
size_t kvtep_plan_count(const struct kvtep *h);
int kvtep_plan_describe(const struct kvtep *h, size_t i, char *buf, size_t len);

/*
 * Send the planned actions in batches, every one acknowledged.  A failure
 * is recorded against its VNI (see kvtep_verify) and does not stop the
 * others.  Returns the number of failed actions, or -errno when the socket
 * itself failed.
 */
int kvtep_apply(struct kvtep *h);

/*
 * Observe again and fill @st (d->n_vnis entries, in d's order) with each
 * VNI's state.  Returns the number of VNIs in error, or -errno.
 */
int kvtep_verify(struct kvtep *h, const struct vtep_desired *d, struct kvtep_vni_status *st);

/* observe + plan + apply + verify. */
int kvtep_sync(struct kvtep *h, const struct vtep_desired *d, struct kvtep_vni_status *st);
/*
 * kvtep_sync in two halves, so that other work (FRR's statements) can
 * start between them: observe + plan (returns the number of actions or
 * -errno), then apply + verify (as kvtep_sync).  Between the two,
 * kvtep_vni_foreign says whether d->vnis[@i] is held by a device loom does
 * not own (the plan leaves it alone and kvtep_verify will report it).
 */
int kvtep_sync_plan(struct kvtep *h, const struct vtep_desired *d);
int kvtep_sync_finish(struct kvtep *h, const struct vtep_desired *d, struct kvtep_vni_status *st);
bool kvtep_vni_foreign(const struct kvtep *h, const struct vtep_desired *d, size_t i);
/* After kvtep_sync_plan: how many VXLAN devices the plan creates, and how
 * many devices (bridges and VXLAN devices) it deletes. */
void kvtep_plan_counts(const struct kvtep *h, size_t *created, size_t *deleted);
/* After kvtep_sync_plan: how many tenant VRFs (docs/overlay.md, "Routing") it deletes. */
size_t kvtep_plan_vrfs_deleted(const struct kvtep *h);
/*
 * Between kvtep_sync_plan and kvtep_sync_finish: @fn(@arg) is called once
 * by kvtep_sync_finish after the devices are created and enslaved, and
 * before the first change that can make a VNI live for zebra (a VLAN
 * mapped, a device brought up, the routing pass).  What must be in FRR
 * before zebra tells bgpd of a VNI waits there.  Not called when the
 * apply fails before that point; forgotten when kvtep_sync_finish returns.
 */
void kvtep_set_live_gate(struct kvtep *h, void (*fn)(void *arg), void *arg);

/* The event socket (non-blocking) for the main loop's poll. */
int kvtep_event_fd(const struct kvtep *h);

/*
 * Read every pending link event.  Returns 1 when one of them touches loom's
 * state as last verified (a loom device deleted, set down or re-parented, an
 * access port out of its bridge, or events lost to overflow), 0 when none
 * did, or -errno.  While the worker applies (kvtep_sync_finish, until its
 * verdict's link dump starts) it returns 0: that dump shows what the events
 * did, and a wrong state is a bad VNI, retried.  As that dump starts, the
 * worker drains what is pending itself: carrier changes it read are queued
 * for kvtep_carrier_take like the main loop's, to be taken after the run.
 */
int kvtep_event_drain(struct kvtep *h);

/*
 * The fault watcher's carrier signal: the access ports (names in the VTEP's
 * namespace) whose carrier kvtep_event_drain follows.  A port's first state
 * comes from the worker's next dump or its first event; after that each
 * change (lost, back) is queued for kvtep_carrier_take.  Main loop side,
 * like kvtep_event_drain.  Returns 0 or -ENOMEM.
 */
int kvtep_carrier_watch(struct kvtep *h, const char *const *names, size_t n);

struct kvtep_carrier {
	char port[16];		/* IFNAMSIZ */
	bool up;		/* false: carrier lost; true: back */
};

/* Takes up to @max queued carrier changes, oldest first; returns how many. */
size_t kvtep_carrier_take(struct kvtep *h, struct kvtep_carrier *out, size_t max);

#endif

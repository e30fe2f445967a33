/*
 * overlay/kvtep_verify.c: the kernel VTEP target's verdict.  It owns
 * judging each desired VNI on a fresh observation (programmed, or an error
 * with a code and the first reason: what went wrong in plan or apply before
 * what is wrong now), and handing the watch the states it found right, so
 * that a later event against them reads as drift.  kvtep_sync and its two
 * halves, the sequence the reconciler runs, end here.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/array.h"
#include "lib/log.h"
#include "overlay/kvtep_priv.h"
#include "overlay/kvtep_test.h"

static int cmp_expect(const void *a, const void *b)
{
	const struct kv_expect *x = a, *y = b;

	return strcmp(x->name, y->name);
}

int kv_expect_add(struct kv_expect **arr, size_t *n, size_t *cap, const char *name, int master,
		  bool port, uint16_t vid)
{
	if (ARRAY_GROW(*arr, *cap, *n + 1))
		return -ENOMEM;
	memset(&(*arr)[*n], 0, sizeof(**arr));
	snprintf((*arr)[*n].name, sizeof((*arr)[*n].name), "%s", name);
	(*arr)[*n].master = master;
	(*arr)[*n].port = port;
	(*arr)[*n].vid = vid;
	(*arr)[*n].ev_vlan_ok = -1;
	(*n)++;
	return 0;
}

/*
 * The VXLAN device's state as a port of its bridge (up, MTU, no learning,
 * neighbour suppression where the kernel has it), both VTEP modes; the
 * last fault found goes into @fault.
 */
bool kv_verify_vxlan_port(const struct kvtep *h, const struct vtep_vni *v, const struct kv_link *vx,
			  struct kv_verr *fault)
{
	bool ok = true;

	if (!(vx->flags & IFF_UP))
		kv_verr_set(fault, LOOM_E_STATE, "VXLAN device %s is down", vx->name), ok = false;
	if (v->mtu && vx->mtu != v->mtu)
		kv_verr_set(fault, LOOM_E_STATE, "VXLAN device %s has MTU %u, not %u", vx->name, vx->mtu,
			    v->mtu), ok = false;
	if (vx->port_learning != 0)
		kv_verr_set(fault, LOOM_E_STATE, "bridge port %s still learns", vx->name), ok = false;
	if (h->caps.neigh_suppress && vx->neigh_suppress != 1)
		kv_verr_set(fault, LOOM_E_STATE, "bridge port %s lacks neighbour suppression", vx->name),
			ok = false;
	return ok;
}

/*
 * Access port @i of @v (its 802.1Q sub-interface for a tagged one, named in
 * @dev) as observed, when it is there and in @br; else NULL with @fault set.
 */
const struct kv_link *kv_verify_port(const struct kv_obs *o, const struct vtep_vni *v, size_t i,
				     const struct kv_link *br, char *dev, size_t len, struct kv_verr *fault)
{
	uint16_t tag = kv_port_tag(v, i);
	const struct kv_link *p;

	if (!kv_port_dev(v, i, dev, len)) {
		kv_verr_set(fault, LOOM_E_PARAMS, "the sub-interface of %s for VLAN %u does not fit a device name",
			    v->ports[i], tag);
		return NULL;
	}
	p = kv_obs_by_name(o, dev);
	if (p && tag && (p->kind != KIND_VLAN || p->vlan_id != tag || !p->owned)) {
		kv_verr_set(fault, LOOM_E_STATE, "%s is not loom's sub-interface for VLAN %u", dev, tag);
		return NULL;
	}
	if (!p) {
		kv_verr_set(fault, LOOM_E_NOT_FOUND, "access port %s does not exist", dev);
		return NULL;
	}
	if (p->master != br->ifindex) {
		kv_verr_set(fault, LOOM_E_STATE, "access port %s is not in bridge %s", dev, br->name);
		return NULL;
	}
	return p;
}

/* Check one VNI against the observation; the first fault found is the reason. */
static bool verify_vni(struct kvtep *h, const struct vtep_vni *v, struct kv_verr *fault,
		       struct kv_expect **ex, size_t *n_ex, size_t *cap_ex)
{
	const struct kv_obs *o = &h->obs;
	char brname[IFNAMSIZ], vxname[IFNAMSIZ];
	const struct kv_link *br, *vx, *p;
	size_t i;
	bool ok = true;

	kv_name_bridge(brname, sizeof(brname), v->vni);
	kv_name_vxlan(vxname, sizeof(vxname), v->vni);
	br = kv_obs_by_name(o, brname);
	vx = kv_obs_by_name(o, vxname);
	if (!br || !br->owned || br->kind != KIND_BRIDGE) {
		kv_verr_set(fault, LOOM_E_STATE, "bridge %s is missing", brname);
		return false;
	}
	if (!kv_expect_add(ex, n_ex, cap_ex, brname, kv_route_bridge_master(h, v), false, 0) &&
	    (*ex)[*n_ex - 1].master > 0)
		(*ex)[*n_ex - 1].addr_ifindex = br->ifindex;	/* the SVI: its gateways */
	if (!(br->flags & IFF_UP))
		kv_verr_set(fault, LOOM_E_STATE, "bridge %s is down", brname), ok = false;
	if (v->mtu && br->mtu != v->mtu)
		kv_verr_set(fault, LOOM_E_STATE, "bridge %s has MTU %u, not %u", brname, br->mtu,
			    v->mtu), ok = false;
	if (!vx || !vx->owned || !kv_vxlan_fits(h, vx, v->vni)) {
		kv_verr_set(fault, LOOM_E_STATE, "VXLAN device %s is missing or misconfigured",
			    vxname);
		ok = false;
	} else {
		kv_expect_add(ex, n_ex, cap_ex, vxname, br->ifindex, false, 0);
		if (vx->master != br->ifindex)
			kv_verr_set(fault, LOOM_E_STATE, "VXLAN device %s is not in bridge %s",
				    vxname, brname), ok = false;
		if (!kv_verify_vxlan_port(h, v, vx, fault))
			ok = false;
	}
	for (i = 0; i < v->n_ports; i++) {
		char dev[IFNAMSIZ];

		p = kv_verify_port(o, v, i, br, dev, sizeof(dev), fault);
		if (!p) {
			ok = false;
			continue;
		}
		kv_expect_add(ex, n_ex, cap_ex, p->name, br->ifindex, true, 0);
		if (!(p->flags & IFF_UP))
			kv_verr_set(fault, LOOM_E_STATE, "access port %s is down", dev),
				ok = false;
	}
	return ok;
}

/* Judge each VNI on the observation in the handle. */
static int verify_obs(struct kvtep *h, const struct vtep_desired *d, struct kvtep_vni_status *st)
{
	struct kv_expect *ex = NULL, *old;
	size_t n_ex = 0, cap_ex = 0, i;
	int bad = 0;

	for (i = 0; i < d->n_vnis; i++) {
		const struct vtep_vni *v = &d->vnis[i];
		struct kv_verr fault = { 0 };
		const struct kv_verr *why = NULL;
		bool same = h->desired == d && i < h->n_err;

		st[i].vni = v->vni;
		st[i].foreign = same && h->plan_err[i].code && h->plan_err[i].foreign;
		bool right = h->mode == VTEP_MODE_VLAN_AWARE
				     ? kv_verify_vni_vlan(h, d, i, &fault, &ex, &n_ex, &cap_ex)
				     : verify_vni(h, v, &fault, &ex, &n_ex, &cap_ex);

		if (right && !(same && h->plan_err[i].code)) {
			st[i].state = KVTEP_VNI_PROGRAMMED;
			st[i].code = LOOM_OK;
			st[i].reason[0] = '\0';
			continue;
		}
		/* Say why it went wrong before what is wrong now. */
		if (same && h->plan_err[i].code)
			why = &h->plan_err[i];
		else if (same && h->apply_err[i].code)
			why = &h->apply_err[i];
		else
			why = &fault;
		st[i].state = KVTEP_VNI_ERROR;
		st[i].code = why->code ? why->code : LOOM_E_STATE;
		snprintf(st[i].reason, sizeof(st[i].reason), "%s", why->msg);
		bad++;
	}
	if (kv_route_expect(h, d, &ex, &n_ex, &cap_ex) < 0)
		log_warn("kvtep %s: out of memory for the routing devices' drift watch", h->netns);
	if (n_ex)	/* qsort's array may not be NULL, even empty */
		qsort(ex, n_ex, sizeof(*ex), cmp_expect);
	pthread_mutex_lock(&h->lock);
	old = h->expect;
	h->expect = ex;
	h->n_expect = n_ex;
	pthread_mutex_unlock(&h->lock);
	free(old);
	return bad;
}

/* The layer-2 verdict, then the routed VNIs' (which needs the addresses). */
static int verify_all(struct kvtep *h, const struct vtep_desired *d, struct kvtep_vni_status *st)
{
	int bad = verify_obs(h, d, st), r;

	if (!d->n_vrfs)
		return bad;
	r = kv_route_verify(h, d, st, h->desired == d);
	return r < 0 ? r : bad + r;
}

int kvtep_verify(struct kvtep *h, const struct vtep_desired *d, struct kvtep_vni_status *st)
{
	int ret = kvtep_observe(h);

	return ret < 0 ? ret : verify_all(h, d, st);
}

int kvtep_sync_plan(struct kvtep *h, const struct vtep_desired *d)
{
	int ret;

	ret = kvtep_observe(h);
	if (ret < 0)
		return ret;
	return kvtep_plan(h, d);
}

void kvtep_set_live_gate(struct kvtep *h, void (*fn)(void *arg), void *arg)
{
	h->live_gate = fn;
	h->live_gate_arg = arg;
}

void kv_live_gate_pass(struct kvtep *h)
{
	void (*fn)(void *arg) = h->live_gate;

	h->live_gate = NULL;
	if (fn)
		fn(h->live_gate_arg);
}

static int sync_finish(struct kvtep *h, const struct vtep_desired *d, struct kvtep_vni_status *st)
{
	int ret;

	/* Nothing to send: what was just observed is still the truth. */
	if (kvtep_plan_count(h) == 0) {
		kv_live_gate_pass(h);
		ret = kv_route_sync(h, d, false);
		if (ret < 0)
			return ret;
		if (!ret)
			return verify_all(h, d, st);
		kv_observe_due(h, true);
		return kvtep_verify(h, d, st);
	}
	/* kvtep_verify's dump comes after the apply: drift seen meanwhile is
	 * no news (the routing pass's own dump ends that, until it is done). */
	kv_observe_due(h, true);
	ret = kvtep_apply(h);
	if (ret < 0)
		return ret;
	/* The plan had nothing from ST_VLAN on: the routing pass is next. */
	kv_live_gate_pass(h);
	ret = kv_route_sync(h, d, true);
	if (ret < 0)
		return ret;
	kv_observe_due(h, true);
	return kvtep_verify(h, d, st);
}

int kvtep_sync_finish(struct kvtep *h, const struct vtep_desired *d, struct kvtep_vni_status *st)
{
	int ret = sync_finish(h, d, st);

	h->live_gate = NULL;
	/* An error return skipped the dump: the run is retried instead. */
	kv_observe_due(h, false);
	return ret;
}

int kvtep_sync(struct kvtep *h, const struct vtep_desired *d, struct kvtep_vni_status *st)
{
	int ret;

	ret = kvtep_sync_plan(h, d);
	if (ret < 0)
		return ret;
	return kvtep_sync_finish(h, d, st);
}

/* ---- for unit tests (overlay/kvtep_test.h) ----------------------------- */

int kvtep_test_verify(struct kvtep *h, const struct vtep_desired *d, struct kvtep_vni_status *st)
{
	return verify_obs(h, d, st);
}

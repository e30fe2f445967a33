/*
 * tests/unit/test_isolation.c: the isolation checker on a fabric built by
 * hand.  A clean fabric (exactly what the intent asks for) gives no
 * finding; each test then plants one kind of path between tenants in the
 * truth and compares the findings with a golden file
 * (tests/golden/isolation/KIND.json; LOOM_UPDATE_GOLDEN=1 rewrites them).
 *
 * The intent: tenants acme and globex; acme/eth (VNI 10100) on gpu-e1 eth0
 * (vtep-e1 swp1), globex/eth (VNI 10200) on gpu-e2 eth0 (vtep-e1 swp2);
 * acme/ib (P_Key 0x0110) on gpu-e1 mlx5_0/1, globex/ib (0x0120, limited)
 * on gpu-e2 mlx5_0/1; gpu-e1's GPU 0 (rail eth0 and mlx5_0/1) carries one
 * 3g.40gb instance of acme's.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "isolation/isolation.h"
#include "tests/unit/test_model_fixture.h"

struct fx {
	struct topology *topo;
	struct model m;
	struct gpu_inst_rec gpus[2];
	struct isolation_intent intent;
	struct fabric_truth *truth;
};

static void ok(int rc, const struct loom_err *err, const char *what)
{
	if (rc)
		fail_msg("%s: %s %s: %s", what, loom_err_name(err->code), err->field, err->msg);
}

static void link_add(struct truth_vtep *v, const char *name, int ifindex,
		     enum truth_link_kind kind, int master, uint32_t vni, bool loom)
{
	struct truth_link *l = truth_vtep_add_link(v);

	assert_non_null(l);
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->ifindex = ifindex;
	l->kind = kind;
	l->master = master;
	l->vni = vni;
	if (loom) {
		l->group = 0x6c6f6f6dU;
		snprintf(l->alias, sizeof(l->alias), "loom:%s", name);
	}
}

static struct frr_vni *frr_vni_add(struct truth_vtep *v, const struct segment *s, uint32_t vni)
{
	struct frr_vni *fv;

	v->frr.vnis = realloc(v->frr.vnis, (v->frr.n_vnis + 1) * sizeof(*fv));
	assert_non_null(v->frr.vnis);
	fv = &v->frr.vnis[v->frr.n_vnis++];
	memset(fv, 0, sizeof(*fv));
	fv->vni = vni;
	if (s) {
		snprintf(fv->rd, sizeof(fv->rd), "%s", s->rd);
		snprintf(fv->rt_import[fv->n_import++], sizeof(fv->rt_import[0]), "%s", s->rt);
		snprintf(fv->rt_export[fv->n_export++], sizeof(fv->rt_export[0]), "%s", s->rt);
	}
	return fv;
}

static struct truth_hca_port *hca_add(struct fabric_truth *t, const char *node, uint64_t guid,
				      uint16_t pkey)
{
	struct truth_hca_port *h = fabric_truth_add_hca_port(t, node, "mlx5_0/1", guid);

	assert_non_null(h);
	h->pkeys[h->n_pkeys++] = 0xffff;
	h->pkeys[h->n_pkeys++] = pkey;
	return h;
}

/* The truth that matches the intent exactly. */
static struct fabric_truth *clean_truth(const struct model *m)
{
	struct fabric_truth *t = calloc(1, sizeof(*t));
	const struct segment *a = model_segment(m, "acme", "eth");
	const struct segment *g = model_segment(m, "globex", "eth");
	struct truth_vtep *v;
	struct truth_gpu *gpu;

	assert_non_null(t);
	v = fabric_truth_add_vtep(t, "vtep-e1");
	assert_non_null(v);
	link_add(v, "lo", 1, TRUTH_LINK_OTHER, 0, 0, false);
	link_add(v, "swp1", 2, TRUTH_LINK_OTHER, 10, 0, false);
	link_add(v, "swp2", 3, TRUTH_LINK_OTHER, 12, 0, false);
	link_add(v, "swp4", 4, TRUTH_LINK_OTHER, 0, 0, false);
	link_add(v, "lb10100", 10, TRUTH_LINK_BRIDGE, 0, 0, true);
	link_add(v, "lx10100", 11, TRUTH_LINK_VXLAN, 10, 10100, true);
	link_add(v, "lb10200", 12, TRUTH_LINK_BRIDGE, 0, 0, true);
	link_add(v, "lx10200", 13, TRUTH_LINK_VXLAN, 12, 10200, true);
	truth_vtep_finish(v);
	v->frr.asn = 65001;
	v->frr.evpn_af = true;
	v->frr.advertise_all_vni = true;
	frr_vni_add(v, a, 10100);
	frr_vni_add(v, g, 10200);

	v = fabric_truth_add_vtep(t, "vtep-e2");
	assert_non_null(v);
	link_add(v, "swp1", 2, TRUTH_LINK_OTHER, 0, 0, false);
	link_add(v, "swp2", 3, TRUTH_LINK_OTHER, 0, 0, false);
	link_add(v, "swp3", 4, TRUTH_LINK_OTHER, 0, 0, false);
	truth_vtep_finish(v);
	v->frr.asn = 65002;
	v->frr.evpn_af = true;
	v->frr.advertise_all_vni = true;

	assert_non_null(fabric_truth_add_vtep(t, "vtep-w1"));

	hca_add(t, "gpu-e1", 0x0002c9030000e101ULL, 0x8110);
	hca_add(t, "gpu-e2", 0x0002c9030000e201ULL, 0x0120);

	gpu = fabric_truth_add_gpu(t, "gpu-e1", 0);
	assert_non_null(gpu);
	snprintf(gpu->gi[0].profile, sizeof(gpu->gi[0].profile), "3g.40gb");
	gpu->gi[0].start = 0;
	gpu->n_gi = 1;
	return t;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct topo_node *n;
	struct loom_err err;

	assert_non_null(f);
	f->topo = fx_topology();
	/* gpu-e1 gets one MIG-capable GPU whose rail is eth0 and mlx5_0/1. */
	n = (struct topo_node *)topology_node(f->topo, "gpu-e1");
	assert_non_null(n);
	n->gpus = calloc(1, sizeof(*n->gpus));
	assert_non_null(n->gpus);
	n->n_gpus = 1;
	snprintf(n->gpus[0].model, sizeof(n->gpus[0].model), "A100-SXM4-40GB");
	n->gpus[0].mig_capable = true;
	snprintf(n->gpus[0].nic_port, sizeof(n->gpus[0].nic_port), "eth0");
	snprintf(n->gpus[0].hca_port, sizeof(n->gpus[0].hca_port), "mlx5_0/1");

	fx_model_init(&f->m);
	ok(fx_tenant(&f->m, f->topo, "{\"name\":\"acme\"}", &err), &err, "acme");
	ok(fx_tenant(&f->m, f->topo, "{\"name\":\"globex\"}", &err), &err, "globex");
	ok(fx_segment(&f->m, f->topo, "acme", "{\"name\":\"eth\",\"type\":\"ethernet\",\"vni\":10100}", &err), &err, "a/eth");
	ok(fx_segment(&f->m, f->topo, "globex", "{\"name\":\"eth\",\"type\":\"ethernet\",\"vni\":10200}", &err), &err, "g/eth");
	ok(fx_segment(&f->m, f->topo, "acme", "{\"name\":\"ib\",\"type\":\"infiniband\",\"pkey\":\"0x0110\"}", &err), &err, "a/ib");
	ok(fx_segment(&f->m, f->topo, "globex", "{\"name\":\"ib\",\"type\":\"infiniband\",\"pkey\":\"0x0120\",\"membership\":\"limited\"}", &err), &err, "g/ib");
	ok(fx_attach(&f->m, f->topo, "{\"segment\":\"acme/eth\",\"node\":\"gpu-e1\",\"port\":\"eth0\"}", &err), &err, "att1");
	ok(fx_attach(&f->m, f->topo, "{\"segment\":\"globex/eth\",\"node\":\"gpu-e2\",\"port\":\"eth0\"}", &err), &err, "att2");
	ok(fx_attach(&f->m, f->topo, "{\"segment\":\"acme/ib\",\"node\":\"gpu-e1\",\"port\":\"mlx5_0/1\"}", &err), &err, "att3");
	ok(fx_attach(&f->m, f->topo, "{\"segment\":\"globex/ib\",\"node\":\"gpu-e2\",\"port\":\"mlx5_0/1\"}", &err), &err, "att4");

	snprintf(f->gpus[0].node, sizeof(f->gpus[0].node), "gpu-e1");
	snprintf(f->gpus[0].tenant, sizeof(f->gpus[0].tenant), "acme");
	snprintf(f->gpus[0].profile, sizeof(f->gpus[0].profile), "3g.40gb");
	snprintf(f->gpus[0].segments, sizeof(f->gpus[0].segments), "eth,ib");
	f->intent.model = &f->m;
	f->intent.gpus = f->gpus;
	f->intent.n_gpus = 1;
	f->truth = clean_truth(&f->m);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	fabric_truth_free(&f->truth);
	assert_null(f->truth);
	model_clear(&f->m);
	topology_free(&f->topo);
	free(f);
	return 0;
}

static struct truth_vtep *vtep(struct fx *f, const char *name)
{
	for (size_t i = 0; i < f->truth->n_vteps; i++)
		if (!strcmp(f->truth->vteps[i].vtep, name))
			return &f->truth->vteps[i];
	print_error("no VTEP %s\n", name);
	abort();
}

static struct truth_link *link_named(struct truth_vtep *v, const char *name)
{
	for (size_t i = 0; i < v->n_links; i++)
		if (!strcmp(v->links[i].name, name))
			return &v->links[i];
	print_error("no link %s\n", name);
	abort();
}

/* Check, compare with the golden file, and check that every finding is of @kind. */
static void expect(struct fx *f, enum finding_kind kind, size_t n, const char *golden)
{
	struct findings out = { 0 };
	json_t *j;
	int rc;

	rc = isolation_check(f->topo, &f->intent, f->truth, &out);
	assert_int_equal(rc, (int)out.n);
	j = findings_to_json(&out);
	assert_non_null(j);
	if (!fx_golden(j, golden))
		fail_msg("%s differs", golden);
	for (size_t i = 0; i < out.n; i++)
		if (out.v[i].kind != kind)
			fail_msg("finding %zu is %s, wanted only %s", i,
				 finding_kind_name(out.v[i].kind), finding_kind_name(kind));
	assert_int_equal(out.n, n);
	json_decref(j);
	findings_release(&out);
}

static void test_clean(void **state)
{
	struct fx *f = *state;
	struct findings out = { 0 };
	json_t *report;
	char *text;

	assert_int_equal(isolation_check(f->topo, &f->intent, f->truth, &out), 0);
	assert_int_equal(out.n, 0);
	report = isolation_report(f->truth, &out, 1798761600000000000LL);
	assert_non_null(report);
	text = json_dumps(report, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(text, "{\"clean\":true,\"findings\":[],\"n_findings\":0,"
			    "\"targets\":{\"gpus\":1,\"hca_ports\":2,\"vteps\":3},"
			    "\"time\":\"2027-01-01T00:00:00Z\",\"version\":1}");
	free(text);
	json_decref(report);
	findings_release(&out);
}

static void test_unreadable(void **state)
{
	struct fx *f = *state;
	struct truth_vtep *v = vtep(f, "vtep-w1");

	v->kernel_rc = -ENOENT;
	snprintf(v->error, sizeof(v->error), "network namespace \"w1\" does not exist");
	f->truth->hca_ports[1].rc = -ETIMEDOUT;
	snprintf(f->truth->hca_ports[1].error, sizeof(f->truth->hca_ports[1].error),
		 "no answer from LID 3");
	f->truth->hca_ports[1].n_pkeys = 0;
	expect(f, FINDING_UNREADABLE, 2, "tests/golden/isolation/unreadable.json");
}

static void test_port_wrong_bridge(void **state)
{
	struct fx *f = *state;

	/* globex's port, moved by hand into acme's bridge. */
	link_named(vtep(f, "vtep-e1"), "swp2")->master = 10;
	expect(f, FINDING_PORT_WRONG_BRIDGE, 1, "tests/golden/isolation/port_wrong_bridge.json");
}

/* vtep-e1 laid out vlan-aware: one VLAN-filtering bridge, VNI 10100 in
 * VLAN 2 with swp1, VNI 10200 in VLAN 3 with swp2. */
static void vlan_aware_e1(struct fx *f, uint16_t swp2_vlan)
{
	struct truth_vtep *v = vtep(f, "vtep-e1");
	static const struct { const char *name; uint16_t pvid; } vl[] = {
		{ "lx10100", 2 }, { "lx10200", 3 }, { "swp1", 2 }, { "swp2", 0 },
	};

	v->n_links = 0;
	link_add(v, "lo", 1, TRUTH_LINK_OTHER, 0, 0, false);
	link_add(v, "swp1", 2, TRUTH_LINK_OTHER, 10, 0, false);
	link_add(v, "swp2", 3, TRUTH_LINK_OTHER, 10, 0, false);
	link_add(v, "swp4", 4, TRUTH_LINK_OTHER, 0, 0, false);
	link_add(v, "lbv", 10, TRUTH_LINK_BRIDGE, 0, 0, true);
	link_add(v, "lx10100", 11, TRUTH_LINK_VXLAN, 10, 10100, true);
	link_add(v, "lx10200", 13, TRUTH_LINK_VXLAN, 10, 10200, true);
	truth_vtep_finish(v);
	link_named(v, "lbv")->vlan_filtering = true;
	for (size_t i = 0; i < sizeof(vl) / sizeof(vl[0]); i++) {
		struct truth_link *l = link_named(v, vl[i].name);

		l->pvid = i == 3 ? swp2_vlan : vl[i].pvid;
		l->n_vlans = l->pvid ? 1 : 0;
	}
	assert_int_equal(truth_vtep_fold_vlans(v), 0);
}

static void test_vlan_aware_clean(void **state)
{
	struct fx *f = *state;
	struct findings out = { 0 };

	vlan_aware_e1(f, 3);
	assert_int_equal(isolation_check(f->topo, &f->intent, f->truth, &out), 0);
	findings_release(&out);
	/* Folded: VLAN 2 and 3 of lbv are bridges of their own. */
	assert_int_equal(link_named(vtep(f, "vtep-e1"), "swp1")->master,
			 link_named(vtep(f, "vtep-e1"), "lbv:2")->ifindex);
	assert_int_equal(link_named(vtep(f, "vtep-e1"), "lx10200")->master,
			 link_named(vtep(f, "vtep-e1"), "lbv:3")->ifindex);
}

static void test_vlan_aware_wrong_vlan(void **state)
{
	struct fx *f = *state;

	/* globex's port, put by hand into acme's VLAN of the one bridge. */
	vlan_aware_e1(f, 2);
	expect(f, FINDING_PORT_WRONG_BRIDGE, 1, "tests/golden/isolation/vlan_port_wrong_bridge.json");
}

static void test_port_unattached(void **state)
{
	struct fx *f = *state;

	/* cpu-e4's port, attached to nothing, in globex's bridge. */
	link_named(vtep(f, "vtep-e1"), "swp4")->master = 12;
	expect(f, FINDING_PORT_WRONG_BRIDGE, 1, "tests/golden/isolation/port_unattached.json");
}

static void test_foreign_port(void **state)
{
	struct fx *f = *state;
	struct truth_vtep *v = vtep(f, "vtep-e1");

	link_add(v, "veth-op", 20, TRUTH_LINK_OTHER, 10, 0, false);
	truth_vtep_finish(v);
	expect(f, FINDING_FOREIGN_PORT, 1, "tests/golden/isolation/foreign_port.json");
}

static void test_bridge_two_vnis(void **state)
{
	struct fx *f = *state;
	struct truth_vtep *v = vtep(f, "vtep-e1");

	/* A second VXLAN device, with globex's VNI, in acme's bridge: it is no
	 * longer needed where it is (it is outside globex's bridge) nor
	 * advertised apart, so only the bridge is reported. */
	link_add(v, "vx-op", 21, TRUTH_LINK_VXLAN, 10, 10200, false);
	truth_vtep_finish(v);
	expect(f, FINDING_BRIDGE_TWO_VNIS, 1, "tests/golden/isolation/bridge_two_vnis.json");
}

static void test_rt_cross_tenant(void **state)
{
	struct fx *f = *state;
	struct truth_vtep *v = vtep(f, "vtep-e1");
	const struct segment *g = model_segment(&f->m, "globex", "eth");
	struct frr_vni *fv = &v->frr.vnis[0];

	snprintf(fv->rt_import[fv->n_import++], sizeof(fv->rt_import[0]), "%s", g->rt);
	expect(f, FINDING_RT_CROSS_TENANT, 1, "tests/golden/isolation/rt_cross_tenant.json");
}

static void test_rt_unknown(void **state)
{
	struct fx *f = *state;
	struct frr_vni *fv = &vtep(f, "vtep-e1")->frr.vnis[1];

	snprintf(fv->rt_export[fv->n_export++], sizeof(fv->rt_export[0]), "65000:99999");
	expect(f, FINDING_RT_UNKNOWN, 1, "tests/golden/isolation/rt_unknown.json");
}

static void test_vni_not_needed(void **state)
{
	struct fx *f = *state;
	struct truth_vtep *v = vtep(f, "vtep-e2");

	/* acme's VNI on vtep-e2, where no acme attachment is: in the kernel
	 * (a device left behind) and, for globex's, only in FRR. */
	link_add(v, "lb10100", 10, TRUTH_LINK_BRIDGE, 0, 0, true);
	link_add(v, "lx10100", 11, TRUTH_LINK_VXLAN, 10, 10100, true);
	truth_vtep_finish(v);
	frr_vni_add(v, model_segment(&f->m, "acme", "eth"), 10100);
	frr_vni_add(v, model_segment(&f->m, "globex", "eth"), 10200);
	expect(f, FINDING_VNI_NOT_NEEDED, 2, "tests/golden/isolation/vni_not_needed.json");
}

static void test_vni_unknown(void **state)
{
	struct fx *f = *state;
	struct truth_vtep *v = vtep(f, "vtep-e1");

	/* An operator's VXLAN device, picked up by advertise-all-vni, and a
	 * `vni` block no segment has. */
	link_add(v, "vxop", 30, TRUTH_LINK_VXLAN, 0, 5000, false);
	truth_vtep_finish(v);
	frr_vni_add(v, NULL, 6000);
	expect(f, FINDING_VNI_UNKNOWN, 2, "tests/golden/isolation/vni_unknown.json");
}

static void test_vni_unknown_not_advertised(void **state)
{
	struct fx *f = *state;
	struct truth_vtep *v = vtep(f, "vtep-e1");
	struct findings out = { 0 };

	/* Without advertise-all-vni FRR does not carry the operator's device. */
	link_add(v, "vxop", 30, TRUTH_LINK_VXLAN, 0, 5000, false);
	truth_vtep_finish(v);
	v->frr.advertise_all_vni = false;
	assert_int_equal(isolation_check(f->topo, &f->intent, f->truth, &out), 0);
	findings_release(&out);
}

static void test_fdb_vni(void **state)
{
	struct fx *f = *state;
	struct truth_fdb *e = truth_vtep_add_fdb(vtep(f, "vtep-e1"));
	static const uint8_t mac[6] = { 0x02, 0, 0, 0, 0x02, 0 };

	assert_non_null(e);
	e->ifindex = 11;
	e->master = 10;
	memcpy(e->mac, mac, sizeof(mac));
	e->vni = 10200;
	snprintf(e->dst, sizeof(e->dst), "192.0.2.2");
	/* The same entry without a VNI override is harmless. */
	e = truth_vtep_add_fdb(vtep(f, "vtep-e1"));
	assert_non_null(e);
	e->ifindex = 11;
	memcpy(e->mac, mac, sizeof(mac));
	snprintf(e->dst, sizeof(e->dst), "192.0.2.2");
	expect(f, FINDING_FDB_VNI, 1, "tests/golden/isolation/fdb_vni.json");
}

static void test_pkey_foreign(void **state)
{
	struct fx *f = *state;
	struct truth_hca_port *h = &f->truth->hca_ports[1];

	h->pkeys[h->n_pkeys++] = 0x0110;	/* acme's, on globex's port */
	expect(f, FINDING_PKEY_FOREIGN, 1, "tests/golden/isolation/pkey_foreign.json");
}

static void test_pkey_full(void **state)
{
	struct fx *f = *state;

	f->truth->hca_ports[1].pkeys[1] = 0x8120;	/* full where limited was asked */
	expect(f, FINDING_PKEY_FULL, 1, "tests/golden/isolation/pkey_full.json");
}

static void test_pkey_stale(void **state)
{
	struct fx *f = *state;
	struct truth_hca_port *h = &f->truth->hca_ports[1];

	static const struct id_reserved ops = { .type = SEG_INFINIBAND, .id = 0x0160, .owner = "ops" };

	h->pkeys[h->n_pkeys++] = 0x8150;	/* in the pool, no segment's */
	h->pkeys[h->n_pkeys++] = 0x0050;	/* the operator's, outside the pool: not loom's to judge */
	h->pkeys[h->n_pkeys++] = 0x8160;	/* the operator's, inside the pool: reserved */
	model_reserved_set(&f->m, &ops, 1);
	expect(f, FINDING_PKEY_STALE, 1, "tests/golden/isolation/pkey_stale.json");
}

static void test_pkey_shared(void **state)
{
	struct fx *f = *state;
	struct truth_hca_port *a = &f->truth->hca_ports[0], *g = &f->truth->hca_ports[1];
	struct findings out = { 0 };

	/* The operator's partition 0x0050 (outside loom's pool), limited on
	 * both tenants' ports: they cannot talk over it. */
	a->pkeys[a->n_pkeys++] = 0x0050;
	g->pkeys[g->n_pkeys++] = 0x0050;
	assert_int_equal(isolation_check(f->topo, &f->intent, f->truth, &out), 0);
	findings_release(&out);
	/* One of them full: acme's and globex's ports can. */
	a->pkeys[a->n_pkeys - 1] = 0x8050;
	expect(f, FINDING_PKEY_SHARED, 1, "tests/golden/isolation/pkey_shared.json");
}

static void test_mig_rail(void **state)
{
	struct fx *f = *state;

	/* The instance is globex's, but the GPU's rail ports are in acme's
	 * bridge and partition. */
	snprintf(f->gpus[0].tenant, sizeof(f->gpus[0].tenant), "globex");
	expect(f, FINDING_MIG_RAIL, 2, "tests/golden/isolation/mig_rail.json");
}

static void test_mig_unowned(void **state)
{
	struct fx *f = *state;
	struct truth_gpu *g = &f->truth->gpus[0];

	snprintf(g->gi[1].profile, sizeof(g->gi[1].profile), "2g.10gb");
	g->gi[1].start = 4;
	g->n_gi = 2;
	expect(f, FINDING_MIG_UNOWNED, 1, "tests/golden/isolation/mig_unowned.json");
}

/*
 * Routed: acme/r (VNI 10101) on gpu-e1 eth1 and globex/r (VNI 10201) on
 * gpu-e2 eth1, both behind vtep-e2 (swp1, swp2), the same subnet; the
 * truth of vtep-e2 as loom makes it: each tenant's VRF (lv20000 acme,
 * lv20001 globex), its L3 VNI's bridge and VXLAN device in it, each
 * segment's bridge in its tenant's VRF, and bgpd's VRF blocks with the
 * tenant's route-target.
 */
static struct truth_vtep *routed(struct fx *f)
{
	static const char *const segs[][2] = {
		{ "acme", "{\"name\":\"r\",\"type\":\"ethernet\",\"vni\":10101,\"subnet\":\"192.0.2.0/24\",\"gateway\":\"192.0.2.1\"}" },
		{ "globex", "{\"name\":\"r\",\"type\":\"ethernet\",\"vni\":10201,\"subnet\":\"192.0.2.0/24\",\"gateway\":\"192.0.2.1\"}" },
	};
	struct truth_vtep *v = vtep(f, "vtep-e2");
	struct loom_err err;

	for (int i = 0; i < 2; i++)
		ok(fx_segment(&f->m, f->topo, segs[i][0], segs[i][1], &err), &err, segs[i][0]);
	ok(fx_attach(&f->m, f->topo, "{\"segment\":\"acme/r\",\"node\":\"gpu-e1\",\"port\":\"eth1\"}", &err), &err, "att r1");
	ok(fx_attach(&f->m, f->topo, "{\"segment\":\"globex/r\",\"node\":\"gpu-e2\",\"port\":\"eth1\"}", &err), &err, "att r2");
	assert_int_equal(model_tenant(&f->m, "acme")->l3vni, 20000);
	assert_int_equal(model_tenant(&f->m, "globex")->l3vni, 20001);
	link_add(v, "lv20000", 30, TRUTH_LINK_VRF, 0, 0, true);
	link_add(v, "lv20001", 31, TRUTH_LINK_VRF, 0, 0, true);
	link_add(v, "lb20000", 32, TRUTH_LINK_BRIDGE, 30, 0, true);
	link_add(v, "lx20000", 33, TRUTH_LINK_VXLAN, 32, 20000, true);
	link_add(v, "lb20001", 34, TRUTH_LINK_BRIDGE, 31, 0, true);
	link_add(v, "lx20001", 35, TRUTH_LINK_VXLAN, 34, 20001, true);
	link_add(v, "lb10101", 36, TRUTH_LINK_BRIDGE, 30, 0, true);
	link_add(v, "lx10101", 37, TRUTH_LINK_VXLAN, 36, 10101, true);
	link_add(v, "lb10201", 38, TRUTH_LINK_BRIDGE, 31, 0, true);
	link_add(v, "lx10201", 39, TRUTH_LINK_VXLAN, 38, 10201, true);
	link_named(v, "swp1")->master = 36;
	link_named(v, "swp2")->master = 38;
	truth_vtep_finish(v);
	frr_vni_add(v, model_segment(&f->m, "acme", "r"), 10101);
	frr_vni_add(v, model_segment(&f->m, "globex", "r"), 10201);
	v->frr.vrfs = calloc(2, sizeof(*v->frr.vrfs));
	assert_non_null(v->frr.vrfs);
	v->frr.n_vrfs = 2;
	for (int i = 0; i < 2; i++) {
		struct frr_vrf *r = &v->frr.vrfs[i];

		r->l3vni = r->zebra_vni = 20000 + (uint32_t)i;
		r->bgp = true;
		snprintf(r->evpn.rt_import[r->evpn.n_import++], sizeof(r->evpn.rt_import[0]), "65000:%u", 20000 + i);
		snprintf(r->evpn.rt_export[r->evpn.n_export++], sizeof(r->evpn.rt_export[0]), "65000:%u", 20000 + i);
	}
	return v;
}

static void test_vrf_clean(void **state)
{
	struct fx *f = *state;

	routed(f);
	expect(f, FINDING_VRF_CROSS_TENANT, 0, "tests/golden/isolation/vrf_clean.json");
}

/* acme's SVI in globex's VRF; globex's L3 VNI in acme's; a segment's bridge in an operator's VRF. */
static void test_vrf_cross_tenant(void **state)
{
	struct fx *f = *state;
	struct truth_vtep *v = routed(f);

	link_named(v, "lb10101")->master = 31;
	link_named(v, "lb20001")->master = 30;
	link_add(v, "vrf-op", 40, TRUTH_LINK_VRF, 0, 0, false);
	link_named(v, "lb10201")->master = 40;
	truth_vtep_finish(v);
	expect(f, FINDING_VRF_CROSS_TENANT, 3, "tests/golden/isolation/vrf_cross_tenant.json");
}

/* bgpd's VRF of acme imports globex's L3 RT and exports globex/r's segment RT. */
static void test_vrf_rt_cross_tenant(void **state)
{
	struct fx *f = *state;
	struct frr_vrf *r = &routed(f)->frr.vrfs[0];

	snprintf(r->evpn.rt_import[r->evpn.n_import++], sizeof(r->evpn.rt_import[0]), "65000:20001");
	snprintf(r->evpn.rt_export[r->evpn.n_export++], sizeof(r->evpn.rt_export[0]), "%s",
		 model_segment(&f->m, "globex", "r")->rt);
	expect(f, FINDING_RT_CROSS_TENANT, 2, "tests/golden/isolation/vrf_rt_cross_tenant.json");
}

/* An RT of nobody's in a tenant VRF; bgpd's leftover block of a VRF not desired here is left alone. */
static void test_vrf_rt_unknown(void **state)
{
	struct fx *f = *state;
	struct truth_vtep *v = routed(f);
	struct frr_vrf *r;

	snprintf(v->frr.vrfs[1].evpn.rt_import[v->frr.vrfs[1].evpn.n_import++],
		 sizeof(v->frr.vrfs[1].evpn.rt_import[0]), "65000:77");
	v->frr.vrfs = realloc(v->frr.vrfs, 3 * sizeof(*v->frr.vrfs));
	assert_non_null(v->frr.vrfs);
	r = &v->frr.vrfs[v->frr.n_vrfs++];
	memset(r, 0, sizeof(*r));
	r->l3vni = 20002;
	r->bgp = true;
	snprintf(r->evpn.rt_import[r->evpn.n_import++], sizeof(r->evpn.rt_import[0]), "65000:20000");
	expect(f, FINDING_RT_UNKNOWN, 1, "tests/golden/isolation/vrf_rt_unknown.json");
}

static void test_kind_names(void **state)
{
	(void)state;
	for (int k = 0; k < FINDING_KINDS; k++)
		assert_string_not_equal(finding_kind_name(k), "unknown");
	assert_string_equal(finding_kind_name(FINDING_KINDS), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_clean, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port_wrong_bridge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port_unattached, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vlan_aware_clean, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vlan_aware_wrong_vlan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bridge_two_vnis, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rt_cross_tenant, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rt_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vni_not_needed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vni_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vni_unknown_not_advertised, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fdb_vni, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pkey_foreign, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pkey_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pkey_stale, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pkey_shared, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mig_rail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mig_unowned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vrf_clean, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vrf_cross_tenant, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vrf_rt_cross_tenant, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vrf_rt_unknown, setup, teardown),
		cmocka_unit_test(test_kind_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

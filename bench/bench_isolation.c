/*
 * bench/bench_isolation.c: the isolation checker on a generated fabric of
 * 256 VTEPs x 1,000 VNIs and 2,000 HCA ports (the truth simulated: what
 * the readers would have filled in), as loom's intent describes it, so
 * that the check must look at everything and find nothing; then the same
 * with one path planted per VTEP (a foreign port in a bridge), so that
 * reporting is measured too.
 *
 *   each VTEP: 1,000 bridges, 1,000 VXLAN devices, 1,000 access ports
 *              (one node per VTEP with 1,000 NIC ports), 1,000 FDB
 *              entries, FRR with 1,000 vni blocks (rd, one import, one
 *              export)
 *   intent:    1,000 tenants, one Ethernet segment each, attached on every
 *              VTEP (256,000 attachments); 250 InfiniBand segments over
 *              2,000 HCA ports (8 on each of 250 nodes), one P_Key each
 *
 * Usage: bench_isolation [vteps] [vnis] [hca_ports] (default 256 1000 2000).
 * Prints one line per measurement; the numbers go into BENCHMARKS.md.
 *
 * The readers on one real target (bench/isolation.sh sets them up and
 * times `ip -j`, `bridge -j`, vtysh and smpquery on the same state):
 *   bench_isolation read-kernel NETNS [N]      truth_read_kernel, N times
 *   bench_isolation read-frr VTY_DIR ASN [N]   frr_observe (vtysh + parse), N times
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isolation/isolation.h"
#include "isolation/read.h"
#include "lib/monotime.h"
#include "overlay/frr.h"

#define HCA_PER_NODE 8

static size_t n_vteps = 256, n_vnis = 1000, n_hca = 2000;

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	return p;
}

static void must(int rc, const char *what)
{
	if (rc) {
		fprintf(stderr, "%s: %d\n", what, rc);
		exit(1);
	}
}

static size_t n_ib(void)
{
	return n_hca / HCA_PER_NODE ? n_hca / HCA_PER_NODE : 1;	/* IB segments: one per HCA node */
}

static struct topology *topo_build(void)
{
	struct topology *t = xcalloc(1, sizeof(*t));

	t->n_sites = 1;
	t->sites = xcalloc(1, sizeof(*t->sites));
	strcpy(t->sites[0].name, "dc1");
	t->n_vteps = n_vteps;
	t->vteps = xcalloc(n_vteps, sizeof(*t->vteps));
	t->n_sms = 1;
	t->sms = xcalloc(1, sizeof(*t->sms));
	strcpy(t->sms[0].name, "sm0");
	strcpy(t->sms[0].site, "dc1");
	t->n_nodes = n_vteps;
	t->nodes = xcalloc(n_vteps, sizeof(*t->nodes));
	for (size_t v = 0; v < n_vteps; v++) {
		struct topo_node *n = &t->nodes[v];

		snprintf(t->vteps[v].name, sizeof(t->vteps[v].name), "vt%03zu", v);
		strcpy(t->vteps[v].site, "dc1");
		snprintf(n->name, sizeof(n->name), "n%03zu", v);
		strcpy(n->site, "dc1");
		n->n_nic_ports = n_vnis;
		n->nic_ports = xcalloc(n_vnis, sizeof(*n->nic_ports));
		for (size_t p = 0; p < n_vnis; p++) {
			snprintf(n->nic_ports[p].name, sizeof(n->nic_ports[p].name), "p%04zu", p);
			snprintf(n->nic_ports[p].vtep, sizeof(n->nic_ports[p].vtep), "vt%03zu", v);
			snprintf(n->nic_ports[p].access_port, sizeof(n->nic_ports[p].access_port),
				 "a%04zu", p);
		}
		if (v < n_ib()) {
			n->n_hca_ports = HCA_PER_NODE;
			n->hca_ports = xcalloc(HCA_PER_NODE, sizeof(*n->hca_ports));
			for (size_t k = 0; k < HCA_PER_NODE; k++) {
				snprintf(n->hca_ports[k].name, sizeof(n->hca_ports[k].name),
					 "mlx5_%zu/1", k);
				n->hca_ports[k].guid = 0x0002c90300000000ULL + v * 16 + k;
				strcpy(n->hca_ports[k].sm, "sm0");
			}
		}
	}
	return t;
}

static void model_build(struct model *m)
{
	struct pools pools = { .vni_min = 10000, .vni_max = 10000 + (uint32_t)n_vnis - 1,
			       .pkey_min = 0x0100, .pkey_max = 0x0fff, .rt_asn = 65000 };

	must(model_init(m, &pools), "model_init");
	for (size_t i = 0; i < n_vnis; i++) {
		struct tenant t = { 0 };
		struct segment s = { .type = SEG_ETHERNET, .mtu = 1500 };

		snprintf(t.name, sizeof(t.name), "t%04zu", i);
		must(model_load_tenant(m, &t), "tenant");
		snprintf(s.tenant, sizeof(s.tenant), "t%04zu", i);
		strcpy(s.name, "eth");
		s.vni = 10000 + (uint32_t)i;
		snprintf(s.rd, sizeof(s.rd), "65000:%" PRIu32, s.vni);
		snprintf(s.rt, sizeof(s.rt), "65000:%" PRIu32, s.vni);
		must(model_load_segment(m, &s), "segment");
		for (size_t v = 0; v < n_vteps; v++) {
			struct attachment a = { .membership = MEMBERSHIP_DEFAULT };

			snprintf(a.tenant, sizeof(a.tenant), "t%04zu", i);
			strcpy(a.segment, "eth");
			snprintf(a.node, sizeof(a.node), "n%03zu", v);
			snprintf(a.port, sizeof(a.port), "p%04zu", i);
			must(model_load_attachment(m, &a), "attachment");
		}
	}
	for (size_t j = 0; j < n_ib(); j++) {
		struct segment s = { .type = SEG_INFINIBAND, .default_membership = MEMBERSHIP_FULL };

		snprintf(s.tenant, sizeof(s.tenant), "t%04zu", j % n_vnis);
		strcpy(s.name, "ib");
		s.pkey = (uint16_t)(0x0100 + j);
		must(model_load_segment(m, &s), "ib segment");
		for (size_t k = 0; k < HCA_PER_NODE; k++) {
			struct attachment a = { .membership = MEMBERSHIP_DEFAULT };

			snprintf(a.tenant, sizeof(a.tenant), "t%04zu", j % n_vnis);
			strcpy(a.segment, "ib");
			snprintf(a.node, sizeof(a.node), "n%03zu", j);
			snprintf(a.port, sizeof(a.port), "mlx5_%zu/1", k);
			must(model_load_attachment(m, &a), "ib attachment");
		}
	}
	model_load_finish(m);
}

static struct fabric_truth *truth_build(const struct topology *topo)
{
	struct fabric_truth *t = xcalloc(1, sizeof(*t));

	for (size_t v = 0; v < n_vteps; v++) {
		struct truth_vtep *tv = fabric_truth_add_vtep(t, topo->vteps[v].name);
		struct truth_link *l;

		if (!tv)
			exit(1);
		l = truth_vtep_add_link(tv);
		strcpy(l->name, "lo");
		l->ifindex = 1;
		tv->frr.asn = 65000;
		tv->frr.evpn_af = tv->frr.advertise_all_vni = true;
		tv->frr.vnis = xcalloc(n_vnis, sizeof(*tv->frr.vnis));
		tv->frr.n_vnis = n_vnis;
		for (size_t i = 0; i < n_vnis; i++) {
			int port = 2 + (int)i, br = 2 + (int)n_vnis + 2 * (int)i, vx = br + 1;
			uint32_t vni = 10000 + (uint32_t)i;
			struct frr_vni *fv = &tv->frr.vnis[i];
			struct truth_fdb *e;

			l = truth_vtep_add_link(tv);
			snprintf(l->name, sizeof(l->name), "a%04zu", i);
			l->ifindex = port;
			l->master = br;
			l = truth_vtep_add_link(tv);
			snprintf(l->name, sizeof(l->name), "lb%" PRIu32, vni);
			l->ifindex = br;
			l->kind = TRUTH_LINK_BRIDGE;
			l->group = 0x6c6f6f6dU;
			l = truth_vtep_add_link(tv);
			snprintf(l->name, sizeof(l->name), "lx%" PRIu32, vni);
			l->ifindex = vx;
			l->kind = TRUTH_LINK_VXLAN;
			l->master = br;
			l->vni = vni;
			l->group = 0x6c6f6f6dU;
			e = truth_vtep_add_fdb(tv);
			e->ifindex = vx;
			e->master = br;
			e->mac[0] = 0x02;
			e->mac[5] = (uint8_t)i;
			snprintf(e->dst, sizeof(e->dst), "203.0.113.%zu", 1 + (v + 1) % 250);
			fv->vni = vni;
			snprintf(fv->rd, sizeof(fv->rd), "65000:%" PRIu32, vni);
			snprintf(fv->rt_import[0], sizeof(fv->rt_import[0]), "65000:%" PRIu32, vni);
			snprintf(fv->rt_export[0], sizeof(fv->rt_export[0]), "65000:%" PRIu32, vni);
			fv->n_import = fv->n_export = 1;
		}
		truth_vtep_finish(tv);
	}
	for (size_t j = 0; j < n_ib(); j++)
		for (size_t k = 0; k < HCA_PER_NODE; k++) {
			const struct topo_hca_port *hp = &topo->nodes[j].hca_ports[k];
			struct truth_hca_port *h = fabric_truth_add_hca_port(t, topo->nodes[j].name,
									     hp->name, hp->guid);

			h->pkeys[h->n_pkeys++] = 0xffff;
			h->pkeys[h->n_pkeys++] = (uint16_t)(0x8000 | (0x0100 + j));
		}
	return t;
}

static double check_once(const struct topology *topo, const struct isolation_intent *in,
			 const struct fabric_truth *truth, size_t *n_found, double *json_s)
{
	struct findings f = { 0 };
	double t0 = mono_s(), t1;
	json_t *rep;
	char *text;
	int rc = isolation_check(topo, in, truth, &f);

	t1 = mono_s();
	if (rc < 0) {
		fprintf(stderr, "isolation_check: %d\n", rc);
		exit(1);
	}
	rep = isolation_report(truth, &f, 0);
	text = json_dumps(rep, JSON_SORT_KEYS | JSON_INDENT(2));
	*json_s = mono_s() - t1;
	*n_found = f.n;
	free(text);
	json_decref(rep);
	findings_release(&f);
	return t1 - t0;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void measure(const char *what, const struct topology *topo,
		    const struct isolation_intent *in, const struct fabric_truth *truth)
{
	double t[5], js = 0;
	size_t found = 0;

	for (size_t i = 0; i < 5; i++)
		t[i] = check_once(topo, in, truth, &found, &js);
	qsort(t, 5, sizeof(t[0]), dbl_cmp);
	printf("%-34s %8.1f ms median (min %.1f, max %.1f) of 5; %zu findings; report JSON %.1f ms\n",
	       what, t[2] * 1e3, t[0] * 1e3, t[4] * 1e3, found, js * 1e3);
}

static void report_times(const char *what, double *t, size_t n, const char *extra)
{
	qsort(t, n, sizeof(t[0]), dbl_cmp);
	printf("%-34s %8.2f ms median (min %.2f, max %.2f) of %zu; %s\n", what, t[n / 2] * 1e3,
	       t[0] * 1e3, t[n - 1] * 1e3, n, extra);
}

static int read_kernel(const char *netns, size_t n)
{
	double *t = xcalloc(n, sizeof(*t));
	char extra[128] = "";

	for (size_t i = 0; i < n; i++) {
		struct truth_vtep v = { 0 };
		double t0 = mono_s();

		if (truth_read_kernel(netns, &v)) {
			fprintf(stderr, "read-kernel: %s\n", v.error);
			return 1;
		}
		t[i] = mono_s() - t0;
		snprintf(extra, sizeof(extra), "%zu links, %zu FDB entries", v.n_links, v.n_fdb);
		free(v.links);
		free(v.fdb);
	}
	report_times("read-kernel (netlink dump)", t, n, extra);
	free(t);
	return 0;
}

static int read_frr(const char *vty_dir, uint32_t asn, size_t n)
{
	struct topo_vtep tv = { .asn = asn };
	double *t = xcalloc(n, sizeof(*t));
	char extra[128] = "";

	strcpy(tv.name, "bench");
	snprintf(tv.vty_dir, sizeof(tv.vty_dir), "%s", vty_dir);
	for (size_t i = 0; i < n; i++) {
		struct loom_err err = { 0 };
		struct frr_target *ft = frr_target_open(&tv, &err);
		struct frr_state st = { 0 };
		double t0 = mono_s();

		if (!ft || frr_observe(ft, &st, &err)) {
			fprintf(stderr, "read-frr: %s\n", err.msg);
			return 1;
		}
		t[i] = mono_s() - t0;
		snprintf(extra, sizeof(extra), "%zu vni blocks", st.n_vnis);
		frr_state_release(&st);
		frr_target_close(&ft);
	}
	report_times("read-frr (running-config, parsed)", t, n, extra);
	free(t);
	return 0;
}

int main(int argc, char **argv)
{
	struct topology *topo;
	struct fabric_truth *truth;
	struct model m;
	struct isolation_intent in;
	double t0;

	if (argc > 2 && !strcmp(argv[1], "read-kernel"))
		return read_kernel(argv[2], argc > 3 ? strtoul(argv[3], NULL, 10) : 5);
	if (argc > 3 && !strcmp(argv[1], "read-frr"))
		return read_frr(argv[2], (uint32_t)strtoul(argv[3], NULL, 10),
				argc > 4 ? strtoul(argv[4], NULL, 10) : 5);
	if (argc > 1)
		n_vteps = strtoul(argv[1], NULL, 10);
	if (argc > 2)
		n_vnis = strtoul(argv[2], NULL, 10);
	if (argc > 3)
		n_hca = strtoul(argv[3], NULL, 10);
	if (!n_vteps || !n_vnis || n_vnis > 9999 || n_vteps > 999 || n_hca / HCA_PER_NODE > n_vteps) {
		fprintf(stderr, "usage: bench_isolation [vteps <= 999] [vnis <= 9999] [hca_ports <= 8 x vteps]\n");
		return 2;
	}
	t0 = mono_s();
	topo = topo_build();
	model_build(&m);
	truth = truth_build(topo);
	in = (struct isolation_intent){ .model = &m };
	printf("fabric: %zu VTEPs x %zu VNIs (%zu links, %zu FRR vni blocks), %zu HCA ports, %zu attachments; built in %.1f s\n",
	       n_vteps, n_vnis, n_vteps * (3 * n_vnis + 1), n_vteps * n_vnis, truth->n_hca_ports,
	       m.n_attachments, mono_s() - t0);
	measure("check, clean fabric", topo, &in, truth);
	/* One foreign port in a loom bridge on every VTEP. */
	for (size_t v = 0; v < truth->n_vteps; v++) {
		struct truth_vtep *tv = &truth->vteps[v];
		struct truth_link *l = truth_vtep_add_link(tv);

		strcpy(l->name, "veth-op");
		l->ifindex = 1000000;
		l->master = 2 + (int)n_vnis;
		truth_vtep_finish(tv);
	}
	measure("check, one finding per VTEP", topo, &in, truth);
	fabric_truth_free(&truth);
	model_clear(&m);
	topology_free(&topo);
	return 0;
}

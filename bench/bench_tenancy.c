/*
 * bench/bench_tenancy.c: how fast tenancy/ allocates IDs, checks
 * attachments and compiles desired state at the scale of a large GPU cloud
 * (4,000 VNIs over thousands of ports), each measured against the obvious
 * baseline in the same run:
 *
 *   alloc:   model_segment_add (bitmap over the pool's first c+1 IDs)
 *            vs trying candidates from the bottom with model_segment_by_vni
 *   compile: compile() (rows grouped and sorted once)
 *            vs one scan of all attachments per VTEP
 *   tenants: model_tenant_add of 50,000 tenants in random order (the
 *            sorted array holds pointers: an insert moves 8 bytes per
 *            later tenant, not a whole struct tenant)
 *
 * Usage: bench_tenancy [segments] (default 4000).  Prints one line per
 * measurement; the numbers go into BENCHMARKS.md.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/monotime.h"
#include "tenancy/compile.h"
#include "tenancy/model.h"

#define N_VTEPS 64
#define N_SMS 4
#define NIC_PER_NODE 4

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	return p;
}

/* n_nodes nodes of 4 NIC ports (spread over 64 VTEPs) and 1 HCA port. */
static struct topology *big_topology(size_t n_nodes)
{
	struct topology *t = xcalloc(1, sizeof(*t));

	t->n_sites = 1;
	t->sites = xcalloc(1, sizeof(*t->sites));
	strcpy(t->sites[0].name, "dc1");
	t->n_vteps = N_VTEPS;
	t->vteps = xcalloc(N_VTEPS, sizeof(*t->vteps));
	for (size_t v = 0; v < N_VTEPS; v++) {
		snprintf(t->vteps[v].name, sizeof(t->vteps[v].name), "vtep%03zu", v);
		strcpy(t->vteps[v].site, "dc1");
	}
	t->n_sms = N_SMS;
	t->sms = xcalloc(N_SMS, sizeof(*t->sms));
	for (size_t s = 0; s < N_SMS; s++) {
		snprintf(t->sms[s].name, sizeof(t->sms[s].name), "sm%zu", s);
		strcpy(t->sms[s].site, "dc1");
	}
	t->n_nodes = n_nodes;
	t->nodes = xcalloc(n_nodes, sizeof(*t->nodes));
	for (size_t i = 0; i < n_nodes; i++) {
		struct topo_node *n = &t->nodes[i];

		snprintf(n->name, sizeof(n->name), "node%05zu", i);
		strcpy(n->site, "dc1");
		n->n_nic_ports = NIC_PER_NODE;
		n->nic_ports = xcalloc(NIC_PER_NODE, sizeof(*n->nic_ports));
		for (size_t p = 0; p < NIC_PER_NODE; p++) {
			struct topo_nic_port *np = &n->nic_ports[p];

			snprintf(np->name, sizeof(np->name), "eth%zu", p);
			snprintf(np->vtep, sizeof(np->vtep), "vtep%03zu", (i * NIC_PER_NODE + p) % N_VTEPS);
			snprintf(np->access_port, sizeof(np->access_port), "swp%zu",
				 (i * NIC_PER_NODE + p) / N_VTEPS);
		}
		n->n_hca_ports = 1;
		n->hca_ports = xcalloc(1, sizeof(*n->hca_ports));
		strcpy(n->hca_ports[0].name, "mlx5_0/1");
		n->hca_ports[0].guid = 0x0002c90300000000ULL + i + 1;
		snprintf(n->hca_ports[0].sm, sizeof(n->hca_ports[0].sm), "sm%zu", i % N_SMS);
	}
	return t;
}

/* The baseline allocator: try IDs from the bottom, look each one up. */
static uint32_t naive_vni(const struct model *m)
{
	for (uint32_t v = m->pools.vni_min; v <= m->pools.vni_max; v++)
		if (!model_segment_by_vni(m, v))
			return v;
	return 0;
}

static double bench_alloc(size_t n, bool naive)
{
	struct pools pools = { .vni_min = 10000, .vni_max = 10000 + 200000, .pkey_min = 1,
			       .pkey_max = 0x7ffe, .rt_asn = 65000 };
	struct topology *topo = big_topology(1);
	struct loom_err err = { 0 };
	struct tenant t = { .name = "t" };
	struct model m;
	double t0, dt;

	model_init(&m, &pools);
	if (model_tenant_add(&m, topo, &t, &err))
		exit(1);
	t0 = mono_s();
	for (size_t i = 0; i < n; i++) {
		struct segment s = { .type = SEG_ETHERNET };

		strcpy(s.tenant, "t");
		snprintf(s.name, sizeof(s.name), "s%zu", i);
		if (naive)
			s.vni = naive_vni(&m);
		if (model_segment_add(&m, topo, &s, &err)) {
			fprintf(stderr, "segment_add: %s\n", err.msg);
			exit(1);
		}
	}
	dt = mono_s() - t0;
	model_clear(&m);
	topology_free(&topo);
	return dt;
}

/* The baseline compile (ethernet part): for each VTEP, scan everything. */
static size_t naive_compile(const struct model *m, const struct topology *topo)
{
	size_t entries = 0;

	for (size_t v = 0; v < topo->n_vteps; v++) {
		for (size_t i = 0; i < m->n_attachments; i++) {
			const struct attachment *a = &m->attachments[i];
			const struct segment *s = model_segment(m, a->tenant, a->segment);
			const struct topo_node *n = topology_node(topo, a->node);

			if (!s || !n || s->type != SEG_ETHERNET)
				continue;
			for (size_t p = 0; p < n->n_nic_ports; p++)
				if ((!a->port[0] || !strcmp(a->port, n->nic_ports[p].name)) &&
				    !strcmp(n->nic_ports[p].vtep, topo->vteps[v].name))
					entries++;
		}
	}
	return entries;
}

/* Insert @n tenants with names in a scrambled order; seconds. */
static double bench_tenants(size_t n)
{
	struct pools pools = { .vni_min = 1, .vni_max = 16777215, .pkey_min = 1,
			       .pkey_max = 0x7ffe, .rt_asn = 65000 };
	struct topology *topo = big_topology(1);
	struct loom_err err = { 0 };
	struct model m;
	double t0, dt;

	model_init(&m, &pools);
	t0 = mono_s();
	for (size_t i = 0; i < n; i++) {
		struct tenant t = { .isolation = ISOLATION_SOFT };

		/* 7919 is prime and coprime with n: every name once, out of order. */
		snprintf(t.name, sizeof(t.name), "t%07zu", (i * 7919) % n);
		if (model_tenant_add(&m, topo, &t, &err)) {
			fprintf(stderr, "tenant_add %s: %s\n", t.name, err.msg);
			exit(1);
		}
	}
	dt = mono_s() - t0;
	model_clear(&m);
	topology_free(&topo);
	return dt;
}

int main(int argc, char **argv)
{
	size_t n_seg = argc > 1 ? strtoul(argv[1], NULL, 10) : 4000;
	size_t n_nodes = (n_seg * 2 + NIC_PER_NODE - 1) / NIC_PER_NODE;
	size_t n_ib = n_seg / 4;
	struct pools pools = { .vni_min = 1, .vni_max = 16777215, .pkey_min = 1,
			       .pkey_max = 0x7ffe, .rt_asn = 65000 };
	struct topology *topo = big_topology(n_nodes);
	struct loom_err err = { 0 };
	struct tenant t = { .name = "t" };
	struct desired *d = NULL;
	struct model m;
	double t0, t_attach, t_compile, t_naive, t_json;
	size_t ports = 0, naive_entries, members = 0;
	json_t *j;

	/* Allocation: ours at n_seg, and both at 1,000 for the ratio. */
	printf("alloc 1000 segments: bitmap %.4f s, naive %.4f s\n", bench_alloc(1000, false),
	       bench_alloc(1000, true));
	printf("alloc %zu segments: bitmap %.4f s\n", n_seg, bench_alloc(n_seg, false));
	{
		double dt = bench_tenants(50000);

		printf("tenants 50000 (model_tenant_add, random order): %.4f s, %.2f us each\n",
		       dt, dt * 1e6 / 50000);
	}

	/* n_seg ethernet segments on 2 NIC ports each; n_ib partitions on 8 HCAs each. */
	model_init(&m, &pools);
	if (model_tenant_add(&m, topo, &t, &err))
		return 1;
	for (size_t i = 0; i < n_seg + n_ib; i++) {
		struct segment s = { .type = i < n_seg ? SEG_ETHERNET : SEG_INFINIBAND };

		strcpy(s.tenant, "t");
		snprintf(s.name, sizeof(s.name), "%s%05zu", i < n_seg ? "e" : "i", i);
		if (model_segment_add(&m, topo, &s, &err)) {
			fprintf(stderr, "segment_add: %s\n", err.msg);
			return 1;
		}
	}
	t0 = mono_s();
	for (size_t i = 0; i < n_seg + n_ib; i++) {
		for (size_t k = 0; k < (i < n_seg ? 2 : 8); k++) {
			struct attachment a = { .membership = MEMBERSHIP_DEFAULT };
			size_t port = i < n_seg ? i * 2 + k : ((i - n_seg) * 8 + k) % n_nodes;

			strcpy(a.tenant, "t");
			snprintf(a.segment, sizeof(a.segment), "%s%05zu", i < n_seg ? "e" : "i", i);
			if (i < n_seg) {
				snprintf(a.node, sizeof(a.node), "node%05zu", port / NIC_PER_NODE);
				snprintf(a.port, sizeof(a.port), "eth%zu", port % NIC_PER_NODE);
			} else {
				snprintf(a.node, sizeof(a.node), "node%05zu", port);
			}
			if (model_attach(&m, topo, &a, &err)) {
				fprintf(stderr, "attach %s/%s %s: %s\n", a.segment, a.node, a.port, err.msg);
				return 1;
			}
		}
	}
	t_attach = mono_s() - t0;

	t0 = mono_s();
	if (compile(&m, topo, &d))
		return 1;
	t_compile = mono_s() - t0;
	for (size_t v = 0; v < d->n_vteps; v++)
		for (size_t k = 0; k < d->vteps[v].n_vnis; k++)
			ports += d->vteps[v].vnis[k].n_ports;
	for (size_t s = 0; s < d->n_sms; s++)
		for (size_t k = 0; k < d->sms[s].n_partitions; k++)
			members += d->sms[s].partitions[k].n_members;
	t0 = mono_s();
	j = desired_to_json(d);
	t_json = mono_s() - t0;
	t0 = mono_s();
	naive_entries = naive_compile(&m, topo);
	t_naive = mono_s() - t0;
	if (naive_entries != ports) {
		fprintf(stderr, "mismatch: naive %zu, compile %zu\n", naive_entries, ports);
		return 1;
	}
	printf("attach %zu (checked, model_attach): %.4f s, %.1f us each\n", m.n_attachments,
	       t_attach, t_attach * 1e6 / (double)m.n_attachments);
	printf("compile: %zu VNIs x %zu access ports on %d VTEPs, %zu partitions x %zu members: %.4f s\n",
	       n_seg, ports, N_VTEPS, n_ib, members, t_compile);
	printf("baseline per-VTEP scan (ethernet only): %.4f s (ratio %.1fx)\n", t_naive,
	       t_naive / t_compile);
	printf("desired_to_json: %.4f s\n", t_json);
	json_decref(j);
	desired_free(&d);
	model_clear(&m);
	topology_free(&topo);
	return 0;
}

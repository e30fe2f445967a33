/*
 * tenancy/compile.c: the model and the topology -> desired state for every
 * VTEP and every subnet manager, and the store's MIG instances -> the
 * layout of every MIG GPU; each target's slice of it copied, compared,
 * diffed and freed for the reconciler.
 *
 * Work is grouped before it is built: each attachment is expanded once into
 * (target, ID, port) rows, the rows are sorted, and each target's list is
 * cut from consecutive rows.  The cost is O(R log R) for R rows whatever the
 * number of VTEPs, with no scan of the attachments per target.
 *
 * Partition names (docs/model.md): "<tenant>_<segment>", which only holds
 * a-z, 0-9, '-' and '_' and so never meets a character OpenSM's
 * partitions.conf parser treats as syntax; when longer than 63 bytes it is
 * cut to 58 and "_<pkey as 4 hex digits>" appended, which keeps it unique.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/array.h"
#include "tenancy/compile.h"

struct eth_row {
	size_t vtep;			/* index into topo->vteps */
	const struct segment *seg;
	const char *port;		/* the VTEP's access port */
	uint16_t vlan;			/* its tag there, 0 = untagged */
};

struct ib_row {
	size_t sm;			/* index into topo->sms */
	const struct segment *seg;
	uint64_t guid;
	enum membership membership;
	const char *node;
	const char *port;
};

struct rows {
	struct eth_row *eth;
	size_t n_eth, cap_eth;
	struct ib_row *ib;
	size_t n_ib, cap_ib;
};

static size_t index_of(const void *base, const void *elem, size_t size)
{
	return (size_t)((const char *)elem - (const char *)base) / size;
}

static int cmp_eth_row(const void *a, const void *b)
{
	const struct eth_row *x = a, *y = b;
	int c;

	if (x->vtep != y->vtep)
		return x->vtep < y->vtep ? -1 : 1;
	if (x->seg->vni != y->seg->vni)
		return x->seg->vni < y->seg->vni ? -1 : 1;
	c = strcmp(x->port, y->port);
	if (c)
		return c;
	return (x->vlan > y->vlan) - (x->vlan < y->vlan);
}

static int cmp_ib_row(const void *a, const void *b)
{
	const struct ib_row *x = a, *y = b;

	if (x->sm != y->sm)
		return x->sm < y->sm ? -1 : 1;
	if (x->seg->pkey != y->seg->pkey)
		return x->seg->pkey < y->seg->pkey ? -1 : 1;
	if (x->guid != y->guid)
		return x->guid < y->guid ? -1 : 1;
	return 0;
}

static int expand(const struct model *m, const struct topology *topo, struct rows *r)
{
	const struct segment *seg = NULL;

	for (size_t i = 0; i < m->n_attachments; i++) {
		const struct attachment *a = &m->attachments[i];
		const struct topo_node *node = topology_node(topo, a->node);

		if (!seg || strcmp(seg->tenant, a->tenant) || strcmp(seg->name, a->segment))
			seg = model_segment(m, a->tenant, a->segment);
		if (!seg || !node)
			continue;	/* model_check_topology refuses such a topology */
		/* A port named: one binary search, not a pass over every port
		 * (a node may have hundreds of NIC ports or VFs). */
		if (seg->type == SEG_ETHERNET) {
			const struct topo_nic_port *hit = a->port[0] ? topo_node_nic_port(node, a->port) : NULL;
			size_t first = hit ? (size_t)(hit - node->nic_ports) : 0;
			size_t end = hit ? first + 1 : a->port[0] ? 0 : node->n_nic_ports;

			for (size_t p = first; p < end; p++) {
				const struct topo_nic_port *np = &node->nic_ports[p];
				const struct topo_vtep *v;

				if (a->port[0] && strcmp(a->port, np->name))
					continue;
				v = topology_vtep(topo, np->vtep);
				if (!v)
					continue;
				if (ARRAY_GROW(r->eth, r->cap_eth, r->n_eth + 1))
					return -ENOMEM;
				r->eth[r->n_eth++] = (struct eth_row){
					index_of(topo->vteps, v, sizeof(*v)), seg, np->access_port,
					a->vlan <= LOOM_VLAN_MAX ? a->vlan : 0
				};
			}
		} else {
			const struct topo_hca_port *hit = a->port[0] ? topo_node_hca_port(node, a->port) : NULL;
			size_t first = hit ? (size_t)(hit - node->hca_ports) : 0;
			size_t end = hit ? first + 1 : a->port[0] ? 0 : node->n_hca_ports;

			for (size_t p = first; p < end; p++) {
				const struct topo_hca_port *hp = &node->hca_ports[p];
				const struct topo_sm *sm;

				if (a->port[0] && strcmp(a->port, hp->name))
					continue;
				sm = topology_sm(topo, hp->sm);
				if (!sm)
					continue;
				if (ARRAY_GROW(r->ib, r->cap_ib, r->n_ib + 1))
					return -ENOMEM;
				r->ib[r->n_ib++] = (struct ib_row){
					index_of(topo->sms, sm, sizeof(*sm)), seg, hp->guid,
					a->membership == MEMBERSHIP_DEFAULT ? seg->default_membership
									    : a->membership,
					node->name, hp->name
				};
			}
		}
	}
	return 0;
}

static void partition_name(const struct segment *s, char *out, size_t len)
{
	char full[2 * LOOM_NAME_MAX + 2];

	snprintf(full, sizeof(full), "%s_%s", s->tenant, s->name);
	if (strlen(full) < len)
		snprintf(out, len, "%s", full);
	else
		snprintf(out, len, "%.58s_%04x", full, s->pkey);
}

/* "192.0.2.1" in "192.0.2.0/24" -> "192.0.2.1/24"; "" stays "". */
static void gateway_cidr(char *out, size_t len, const char *gw, const char *subnet)
{
	const char *slash = strchr(subnet, '/');

	if (!gw[0] || !slash)
		out[0] = '\0';
	else
		snprintf(out, len, "%s%s", gw, slash);
}

static int cmp_vrf(const void *a, const void *b)
{
	uint32_t x = ((const struct vtep_vrf *)a)->l3vni, y = ((const struct vtep_vrf *)b)->l3vni;

	return x < y ? -1 : x > y;
}

/* The VTEP's VRFs: one per L3 VNI its routed VNIs name; the site's gateway MAC. */
static int build_vrfs(const struct model *m, const struct topology *topo, size_t vtep,
		      struct vtep_desired *vd)
{
	const struct topo_site *site = topology_site(topo, topo->vteps[vtep].site);

	for (size_t i = 0; i < vd->n_vnis; i++) {
		const struct vtep_vni *v = &vd->vnis[i];
		const struct tenant *t;
		struct vtep_vrf *f;
		size_t k;

		if (!v->l3vni)
			continue;
		for (k = 0; k < vd->n_vrfs && vd->vrfs[k].l3vni != v->l3vni; k++)
			;
		if (k < vd->n_vrfs)
			continue;
		if (!vd->vrfs && !(vd->vrfs = calloc(vd->n_vnis, sizeof(*vd->vrfs))))
			return -ENOMEM;
		f = &vd->vrfs[vd->n_vrfs++];
		f->l3vni = v->l3vni;
		memcpy(f->tenant, v->tenant, sizeof(f->tenant));
		t = model_tenant(m, v->tenant);
		if (t) {
			char rd[32];

			tenant_rd_rt(&m->pools, t, rd, f->rt);
			snprintf(f->rd, sizeof(f->rd), "%s:%u", topo->vteps[vtep].vtep_ip,
				 (unsigned int)(f->l3vni % 65536));
			snprintf(f->router_id, sizeof(f->router_id), "%s", topo->vteps[vtep].vtep_ip);
		}
	}
	if (vd->n_vrfs) {
		qsort(vd->vrfs, vd->n_vrfs, sizeof(*vd->vrfs), cmp_vrf);
		snprintf(vd->gateway_mac, sizeof(vd->gateway_mac), "%s",
			 site && site->gateway_mac[0] ? site->gateway_mac : LOOM_GATEWAY_MAC_DEFAULT);
	}
	return 0;
}

static int build_vtep(const struct model *m, struct vtep_desired *vd, const struct eth_row *rows,
		      size_t n)
{
	size_t i = 0, nv = 0;

	for (size_t k = 0; k < n; k++)
		if (k == 0 || rows[k].seg->vni != rows[k - 1].seg->vni)
			nv++;
	if (!nv)
		return 0;
	vd->vnis = calloc(nv, sizeof(*vd->vnis));
	if (!vd->vnis)
		return -ENOMEM;
	while (i < n) {
		struct vtep_vni *v = &vd->vnis[vd->n_vnis++];
		const struct segment *s = rows[i].seg;
		size_t j = i;

		while (j < n && rows[j].seg->vni == s->vni)
			j++;
		v->vni = s->vni;
		v->mtu = s->mtu;
		memcpy(v->tenant, s->tenant, sizeof(v->tenant));
		memcpy(v->segment, s->name, sizeof(v->segment));
		memcpy(v->rd, s->rd, sizeof(v->rd));
		memcpy(v->rt, s->rt, sizeof(v->rt));
		if (segment_routed(s)) {
			const struct tenant *t = model_tenant(m, s->tenant);

			v->l3vni = t ? t->l3vni : 0;
			gateway_cidr(v->gateway4, sizeof(v->gateway4), s->gateway4, s->subnet4);
			gateway_cidr(v->gateway6, sizeof(v->gateway6), s->gateway6, s->subnet6);
		}
		v->ports = calloc(j - i, sizeof(*v->ports));
		if (!v->ports)
			return -ENOMEM;
		for (size_t k = i; k < j; k++)
			if (rows[k].vlan && !v->port_vlans) {
				v->port_vlans = calloc(j - i, sizeof(*v->port_vlans));
				if (!v->port_vlans)
					return -ENOMEM;
			}
		for (size_t k = i; k < j; k++) {
			/* Rows are sorted by port: a repeated port is one entry
			 * (policy keeps a port in a segment once). */
			if (v->n_ports && strcmp(v->ports[v->n_ports - 1], rows[k].port) == 0)
				continue;
			if (v->port_vlans)
				v->port_vlans[v->n_ports] = rows[k].vlan;
			snprintf(v->ports[v->n_ports++], sizeof(v->ports[0]), "%s", rows[k].port);
		}
		i = j;
	}
	return 0;
}

static int build_sm(struct sm_desired *sd, const struct ib_row *rows, size_t n)
{
	size_t i = 0, np = 0;

	for (size_t k = 0; k < n; k++)
		if (k == 0 || rows[k].seg->pkey != rows[k - 1].seg->pkey)
			np++;
	if (!np)
		return 0;
	sd->partitions = calloc(np, sizeof(*sd->partitions));
	if (!sd->partitions)
		return -ENOMEM;
	while (i < n) {
		struct sm_partition *p = &sd->partitions[sd->n_partitions++];
		const struct segment *s = rows[i].seg;
		size_t j = i;

		while (j < n && rows[j].seg->pkey == s->pkey)
			j++;
		p->pkey = s->pkey;
		partition_name(s, p->name, sizeof(p->name));
		memcpy(p->tenant, s->tenant, sizeof(p->tenant));
		memcpy(p->segment, s->name, sizeof(p->segment));
		p->ipoib = s->ipoib;
		p->mtu = s->ib_mtu;
		p->rate_gbps = s->rate_gbps;
		p->sl = s->sl;
		p->members = calloc(j - i, sizeof(*p->members));
		if (!p->members)
			return -ENOMEM;
		for (size_t k = i; k < j; k++) {
			struct pkey_member *last = p->n_members ? &p->members[p->n_members - 1] : NULL;

			/* One GUID once; full membership wins over limited. */
			if (last && last->guid == rows[k].guid) {
				if (rows[k].membership == MEMBERSHIP_FULL)
					last->membership = MEMBERSHIP_FULL;
				continue;
			}
			last = &p->members[p->n_members++];
			last->guid = rows[k].guid;
			last->membership = rows[k].membership == MEMBERSHIP_LIMITED ? MEMBERSHIP_LIMITED
										    : MEMBERSHIP_FULL;
			snprintf(last->node, sizeof(last->node), "%s", rows[k].node);
			snprintf(last->port, sizeof(last->port), "%s", rows[k].port);
		}
		i = j;
	}
	return 0;
}

int compile(const struct model *m, const struct topology *topo, struct desired **out)
{
	struct rows r = { 0 };
	struct desired *d = calloc(1, sizeof(*d));
	size_t k;
	int rc = -ENOMEM;

	if (!d)
		goto out;
	if (topo->n_vteps && !(d->vteps = calloc(topo->n_vteps, sizeof(*d->vteps))))
		goto out;
	if (topo->n_sms && !(d->sms = calloc(topo->n_sms, sizeof(*d->sms))))
		goto out;
	d->n_vteps = topo->n_vteps;
	d->n_sms = topo->n_sms;
	for (size_t i = 0; i < topo->n_vteps; i++)
		memcpy(d->vteps[i].vtep, topo->vteps[i].name, sizeof(d->vteps[i].vtep));
	for (size_t i = 0; i < topo->n_sms; i++)
		memcpy(d->sms[i].sm, topo->sms[i].name, sizeof(d->sms[i].sm));

	if ((rc = expand(m, topo, &r)))
		goto out;
	if (r.n_eth)
		qsort(r.eth, r.n_eth, sizeof(*r.eth), cmp_eth_row);
	if (r.n_ib)
		qsort(r.ib, r.n_ib, sizeof(*r.ib), cmp_ib_row);
	for (size_t i = 0; i < r.n_eth; i = k) {
		for (k = i; k < r.n_eth && r.eth[k].vtep == r.eth[i].vtep; k++)
			;
		if ((rc = build_vtep(m, &d->vteps[r.eth[i].vtep], &r.eth[i], k - i)) ||
		    (rc = build_vrfs(m, topo, r.eth[i].vtep, &d->vteps[r.eth[i].vtep])))
			goto out;
	}
	for (size_t i = 0; i < r.n_ib; i = k) {
		for (k = i; k < r.n_ib && r.ib[k].sm == r.ib[i].sm; k++)
			;
		if ((rc = build_sm(&d->sms[r.ib[i].sm], &r.ib[i], k - i)))
			goto out;
	}
	*out = d;
	d = NULL;
	rc = 0;
out:
	free(r.eth);
	free(r.ib);
	desired_free(&d);
	return rc;
}

void desired_free(struct desired **dp)
{
	struct desired *d = dp ? *dp : NULL;

	if (!d)
		return;
	for (size_t i = 0; i < d->n_vteps && d->vteps; i++) {
		for (size_t j = 0; j < d->vteps[i].n_vnis; j++) {
			free(d->vteps[i].vnis[j].ports);
			free(d->vteps[i].vnis[j].port_vlans);
		}
		free(d->vteps[i].vnis);
		free(d->vteps[i].vrfs);
	}
	for (size_t i = 0; i < d->n_sms && d->sms; i++) {
		for (size_t j = 0; j < d->sms[i].n_partitions; j++)
			free(d->sms[i].partitions[j].members);
		free(d->sms[i].partitions);
	}
	for (size_t i = 0; i < d->n_gpus && d->gpus; i++)
		free(d->gpus[i].layouts);
	free(d->vteps);
	free(d->sms);
	free(d->gpus);
	free(d);
	*dp = NULL;
}

static int cmp_name(const void *key, const void *elem)
{
	return strcmp(key, elem);
}

const struct vtep_desired *desired_vtep(const struct desired *d, const char *vtep)
{
	if (!d->vteps)
		return NULL;
	return bsearch(vtep, d->vteps, d->n_vteps, sizeof(*d->vteps), cmp_name);
}

const struct sm_desired *desired_sm(const struct desired *d, const char *sm)
{
	if (!d->sms)
		return NULL;
	return bsearch(sm, d->sms, d->n_sms, sizeof(*d->sms), cmp_name);
}

const struct gpu_desired *desired_gpu(const struct desired *d, const char *node)
{
	if (!d->gpus)
		return NULL;
	return bsearch(node, d->gpus, d->n_gpus, sizeof(*d->gpus), cmp_name);
}

static int cmp_gpu_desired(const void *a, const void *b)
{
	return strcmp(((const struct gpu_desired *)a)->node, ((const struct gpu_desired *)b)->node);
}

/* The layout of one MIG GPU: the instances placed on it (@inst sorted by start). */
static void build_layout(struct gpu_layout *l, const struct topo_gpu *gpu, const char *node,
			 const struct mig_placement *inst, size_t n)
{
	const struct mig_model *model = mig_model_find(gpu->model);

	l->index = gpu->index;
	for (size_t j = 0; j < n && l->n_gi < MIG_INSTANCES_MAX; j++) {
		const struct mig_placement *g = &inst[j];
		const struct mig_profile *p;

		if (strcmp(g->node, node) || g->gpu != l->index)
			continue;
		p = mig_profile_find(model, g->profile);
		if (!p)
			continue;
		l->gi[l->n_gi].profile = p;
		l->gi[l->n_gi].start = g->start;
		snprintf(l->gi[l->n_gi].tenant, sizeof(l->gi[l->n_gi].tenant), "%s", g->tenant);
		l->n_gi++;
	}
}

static bool gpu_is_mig(const struct topo_gpu *gpu)
{
	return gpu->mig_capable && mig_model_find(gpu->model);
}

int compile_gpus(const struct topology *topo, const struct mig_placement *inst, size_t n,
		 struct desired *d)
{
	d->gpus = calloc(topo->n_nodes ? topo->n_nodes : 1, sizeof(*d->gpus));
	if (!d->gpus)
		return -ENOMEM;
	for (size_t i = 0; i < topo->n_nodes; i++) {
		const struct topo_node *node = &topo->nodes[i];
		struct gpu_desired *g;
		size_t n_mig = 0;

		for (size_t k = 0; k < node->n_gpus; k++)
			n_mig += gpu_is_mig(&node->gpus[k]);
		g = &d->gpus[d->n_gpus++];
		snprintf(g->node, sizeof(g->node), "%s", node->name);
		g->layouts = calloc(n_mig ? n_mig : 1, sizeof(*g->layouts));
		if (!g->layouts)
			goto fail;
		for (size_t k = 0; k < node->n_gpus; k++)
			if (gpu_is_mig(&node->gpus[k]))
				build_layout(&g->layouts[g->n_layouts++], &node->gpus[k], node->name, inst, n);
	}
	qsort(d->gpus, d->n_gpus, sizeof(*d->gpus), cmp_gpu_desired);
	return 0;
fail:
	/* No GPU slices at all rather than a node's layouts half built. */
	for (size_t i = 0; i < d->n_gpus; i++)
		free(d->gpus[i].layouts);
	free(d->gpus);
	d->gpus = NULL;
	d->n_gpus = 0;
	return -ENOMEM;
}

/* ---- one target's slice: copy, compare, free, diff ----------------------- */

void vtep_desired_free(struct vtep_desired **pd)
{
	struct vtep_desired *d = *pd;

	if (!d)
		return;
	for (size_t i = 0; i < d->n_vnis; i++) {
		free(d->vnis[i].ports);
		free(d->vnis[i].port_vlans);
	}
	free(d->vnis);
	free(d->vrfs);
	free(d);
	*pd = NULL;
}

struct vtep_desired *vtep_desired_dup(const struct vtep_desired *src)
{
	struct vtep_desired *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	*d = *src;
	d->vrfs = NULL;
	if (src->n_vrfs) {
		d->vrfs = malloc(src->n_vrfs * sizeof(*d->vrfs));
		if (!d->vrfs) {
			free(d);
			return NULL;
		}
		memcpy(d->vrfs, src->vrfs, src->n_vrfs * sizeof(*d->vrfs));
	}
	d->vnis = calloc(src->n_vnis ? src->n_vnis : 1, sizeof(*d->vnis));
	if (!d->vnis) {
		free(d->vrfs);
		free(d);
		return NULL;
	}
	for (size_t i = 0; i < src->n_vnis; i++) {
		d->vnis[i] = src->vnis[i];
		d->vnis[i].port_vlans = NULL;
		d->vnis[i].ports = calloc(src->vnis[i].n_ports ? src->vnis[i].n_ports : 1,
					  sizeof(*d->vnis[i].ports));
		if (d->vnis[i].ports && src->vnis[i].port_vlans) {
			d->vnis[i].port_vlans = calloc(src->vnis[i].n_ports ? src->vnis[i].n_ports : 1,
						       sizeof(*d->vnis[i].port_vlans));
			if (d->vnis[i].port_vlans)
				memcpy(d->vnis[i].port_vlans, src->vnis[i].port_vlans,
				       src->vnis[i].n_ports * sizeof(*d->vnis[i].port_vlans));
		}
		if (!d->vnis[i].ports || (src->vnis[i].port_vlans && !d->vnis[i].port_vlans)) {
			d->n_vnis = i + 1;
			d->n_vnis = i;
			vtep_desired_free(&d);
			return NULL;
		}
		memcpy(d->vnis[i].ports, src->vnis[i].ports, src->vnis[i].n_ports * sizeof(*d->vnis[i].ports));
	}
	return d;
}

static bool vtep_vni_equal(const struct vtep_vni *x, const struct vtep_vni *y)
{
	return x->vni == y->vni && x->mtu == y->mtu && x->n_ports == y->n_ports
	       && !strcmp(x->rd, y->rd) && !strcmp(x->rt, y->rt) && !strcmp(x->tenant, y->tenant)
	       && !strcmp(x->segment, y->segment) && x->l3vni == y->l3vni
	       && !strcmp(x->gateway4, y->gateway4) && !strcmp(x->gateway6, y->gateway6)
	       && !memcmp(x->ports, y->ports, x->n_ports * sizeof(*x->ports))
	       && !x->port_vlans == !y->port_vlans
	       && (!x->port_vlans ||
		   !memcmp(x->port_vlans, y->port_vlans, x->n_ports * sizeof(*x->port_vlans)));
}

bool vtep_desired_equal(const struct vtep_desired *a, const struct vtep_desired *b)
{
	if (!a || !b || a->n_vnis != b->n_vnis || a->n_vrfs != b->n_vrfs ||
	    strcmp(a->gateway_mac, b->gateway_mac))
		return false;
	for (size_t i = 0; i < a->n_vrfs; i++)
		if (a->vrfs[i].l3vni != b->vrfs[i].l3vni || strcmp(a->vrfs[i].tenant, b->vrfs[i].tenant) ||
		    strcmp(a->vrfs[i].rd, b->vrfs[i].rd) || strcmp(a->vrfs[i].rt, b->vrfs[i].rt) ||
		    strcmp(a->vrfs[i].router_id, b->vrfs[i].router_id))
			return false;
	for (size_t i = 0; i < a->n_vnis; i++)
		if (!vtep_vni_equal(&a->vnis[i], &b->vnis[i]))
			return false;
	return true;
}

void sm_desired_free(struct sm_desired **pd)
{
	struct sm_desired *d = *pd;

	if (!d)
		return;
	for (size_t i = 0; i < d->n_partitions; i++)
		free(d->partitions[i].members);
	free(d->partitions);
	free(d);
	*pd = NULL;
}

struct sm_desired *sm_desired_dup(const struct sm_desired *src)
{
	struct sm_desired *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	*d = *src;
	d->partitions = calloc(src->n_partitions ? src->n_partitions : 1, sizeof(*d->partitions));
	if (!d->partitions) {
		free(d);
		return NULL;
	}
	for (size_t i = 0; i < src->n_partitions; i++) {
		const struct sm_partition *p = &src->partitions[i];

		d->partitions[i] = *p;
		d->partitions[i].members = calloc(p->n_members ? p->n_members : 1, sizeof(*p->members));
		if (!d->partitions[i].members) {
			d->n_partitions = i;
			sm_desired_free(&d);
			return NULL;
		}
		memcpy(d->partitions[i].members, p->members, p->n_members * sizeof(*p->members));
	}
	return d;
}

static bool sm_partition_equal(const struct sm_partition *x, const struct sm_partition *y)
{
	if (x->pkey != y->pkey || x->ipoib != y->ipoib || x->mtu != y->mtu
	    || x->rate_gbps != y->rate_gbps || x->sl != y->sl || x->n_members != y->n_members
	    || strcmp(x->name, y->name) || strcmp(x->tenant, y->tenant) || strcmp(x->segment, y->segment))
		return false;
	for (size_t k = 0; k < x->n_members; k++)
		if (x->members[k].guid != y->members[k].guid
		    || x->members[k].membership != y->members[k].membership)
			return false;
	return true;
}

bool sm_desired_equal(const struct sm_desired *a, const struct sm_desired *b)
{
	if (!a || !b || a->n_partitions != b->n_partitions)
		return false;
	for (size_t i = 0; i < a->n_partitions; i++)
		if (!sm_partition_equal(&a->partitions[i], &b->partitions[i]))
			return false;
	return true;
}

void gpu_desired_free(struct gpu_desired **pd)
{
	if (!*pd)
		return;
	free((*pd)->layouts);
	free(*pd);
	*pd = NULL;
}

struct gpu_desired *gpu_desired_dup(const struct gpu_desired *src)
{
	struct gpu_desired *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	*d = *src;
	d->layouts = calloc(src->n_layouts ? src->n_layouts : 1, sizeof(*d->layouts));
	if (!d->layouts) {
		free(d);
		return NULL;
	}
	memcpy(d->layouts, src->layouts, src->n_layouts * sizeof(*d->layouts));
	return d;
}

bool gpu_desired_equal(const struct gpu_desired *a, const struct gpu_desired *b)
{
	if (!a || !b || a->n_layouts != b->n_layouts)
		return false;
	for (size_t i = 0; i < a->n_layouts; i++) {
		const struct gpu_layout *x = &a->layouts[i], *y = &b->layouts[i];

		if (x->index != y->index || x->n_gi != y->n_gi)
			return false;
		for (size_t k = 0; k < x->n_gi; k++)
			if (x->gi[k].profile != y->gi[k].profile || x->gi[k].start != y->gi[k].start
			    || strcmp(x->gi[k].tenant, y->gi[k].tenant))
				return false;
	}
	return true;
}

static int ids_add(uint32_t **ids, size_t *n, size_t *cap, uint32_t id)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		uint32_t *p = realloc(*ids, nc * sizeof(*p));

		if (!p)
			return -ENOMEM;
		*ids = p;
		*cap = nc;
	}
	(*ids)[(*n)++] = id;
	return 0;
}

int vtep_desired_diff(const struct vtep_desired *a, const struct vtep_desired *b, uint32_t **ids,
		      size_t *n)
{
	size_t i = 0, j = 0, cap = 0, na = a ? a->n_vnis : 0;
	int ret = 0;

	*ids = NULL;
	*n = 0;
	while (!ret && (i < na || j < b->n_vnis)) {
		if (j == b->n_vnis || (i < na && a->vnis[i].vni < b->vnis[j].vni)) {
			ret = ids_add(ids, n, &cap, a->vnis[i++].vni);
		} else if (i == na || b->vnis[j].vni < a->vnis[i].vni) {
			ret = ids_add(ids, n, &cap, b->vnis[j++].vni);
		} else {
			if (!vtep_vni_equal(&a->vnis[i], &b->vnis[j]))
				ret = ids_add(ids, n, &cap, b->vnis[j].vni);
			i++;
			j++;
		}
	}
	return ret;
}

int sm_desired_diff(const struct sm_desired *a, const struct sm_desired *b, uint32_t **ids, size_t *n)
{
	size_t i = 0, j = 0, cap = 0, na = a ? a->n_partitions : 0;
	int ret = 0;

	*ids = NULL;
	*n = 0;
	while (!ret && (i < na || j < b->n_partitions)) {
		if (j == b->n_partitions || (i < na && a->partitions[i].pkey < b->partitions[j].pkey)) {
			ret = ids_add(ids, n, &cap, a->partitions[i++].pkey);
		} else if (i == na || b->partitions[j].pkey < a->partitions[i].pkey) {
			ret = ids_add(ids, n, &cap, b->partitions[j++].pkey);
		} else {
			if (!sm_partition_equal(&a->partitions[i], &b->partitions[j]))
				ret = ids_add(ids, n, &cap, b->partitions[j].pkey);
			i++;
			j++;
		}
	}
	return ret;
}

/* ---- JSON ------------------------------------------------------------------ */

static json_t *vni_to_json(const struct vtep_vni *v)
{
	json_t *ports = json_array(), *o;

	for (size_t i = 0; ports && i < v->n_ports; i++)
		if (json_array_append_new(ports, json_string(v->ports[i]))) {
			json_decref(ports);
			return NULL;
		}
	if (!ports)
		return NULL;
	o = json_pack("{sI sI ss ss ss ss so}", "vni", (json_int_t)v->vni,
		      "mtu", (json_int_t)v->mtu, "tenant", v->tenant, "segment", v->segment,
		      "rd", v->rd, "rt", v->rt, "ports", ports);
	if (o && v->port_vlans) {
		json_t *vl = json_array();

		for (size_t i = 0; vl && i < v->n_ports; i++)
			if (json_array_append_new(vl, json_integer(v->port_vlans[i])))
				break;
		if (!vl || json_object_set_new(o, "vlans", vl)) {
			json_decref(o);
			return NULL;
		}
	}
	if (o && v->l3vni) {
		json_t *gw = json_array();

		if (gw && v->gateway4[0])
			json_array_append_new(gw, json_string(v->gateway4));
		if (gw && v->gateway6[0])
			json_array_append_new(gw, json_string(v->gateway6));
		if (!gw || json_object_set_new(o, "l3vni", json_integer(v->l3vni)) ||
		    json_object_set_new(o, "gateway", gw)) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* The VTEP's VRFs, for desired_to_json and the slices (absent when none). */
json_t *vtep_vrfs_to_json(const struct vtep_desired *d)
{
	json_t *a = json_array();
	char vrf[16];

	for (size_t i = 0; a && i < d->n_vrfs; i++) {
		tenant_vrf_name(d->vrfs[i].l3vni, vrf);
		if (json_array_append_new(a, json_pack("{sI ss ss ss ss ss}", "l3vni",
						       (json_int_t)d->vrfs[i].l3vni, "vrf", vrf,
						       "tenant", d->vrfs[i].tenant, "rd", d->vrfs[i].rd,
						       "rt", d->vrfs[i].rt, "router_id",
						       d->vrfs[i].router_id))) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *partition_to_json(const struct sm_partition *p)
{
	json_t *members = json_array();
	char guid[19];

	for (size_t i = 0; members && i < p->n_members; i++) {
		const struct pkey_member *mb = &p->members[i];

		guid_format(mb->guid, guid);
		if (json_array_append_new(members,
					  json_pack("{ss ss ss ss}", "guid", guid, "membership",
						    membership_name(mb->membership), "node", mb->node,
						    "port", mb->port))) {
			json_decref(members);
			return NULL;
		}
	}
	if (!members)
		return NULL;
	return json_pack("{sI ss ss ss sb sI sI sI so}", "pkey", (json_int_t)p->pkey, "name", p->name,
			 "tenant", p->tenant, "segment", p->segment, "ipoib", p->ipoib,
			 "mtu", (json_int_t)p->mtu, "rate_gbps", (json_int_t)p->rate_gbps,
			 "sl", (json_int_t)p->sl, "members", members);
}

json_t *desired_to_json(const struct desired *d)
{
	json_t *root = NULL, *vteps = json_array(), *sms = json_array();

	if (!vteps || !sms)
		goto fail;
	for (size_t i = 0; i < d->n_vteps; i++) {
		json_t *vnis = json_array();

		json_t *o = vnis ? json_pack("{ss so}", "vtep", d->vteps[i].vtep, "vnis", vnis) : NULL;

		if (!o || json_array_append_new(vteps, o))
			goto fail;
		if (d->vteps[i].n_vrfs &&
		    (json_object_set_new(o, "vrfs", vtep_vrfs_to_json(&d->vteps[i])) ||
		     json_object_set_new(o, "gateway_mac", json_string(d->vteps[i].gateway_mac))))
			goto fail;
		for (size_t j = 0; j < d->vteps[i].n_vnis; j++)
			if (json_array_append_new(vnis, vni_to_json(&d->vteps[i].vnis[j])))
				goto fail;
	}
	for (size_t i = 0; i < d->n_sms; i++) {
		json_t *parts = json_array();

		if (!parts || json_array_append_new(sms, json_pack("{ss so}", "sm", d->sms[i].sm,
								   "partitions", parts)))
			goto fail;
		for (size_t j = 0; j < d->sms[i].n_partitions; j++)
			if (json_array_append_new(parts, partition_to_json(&d->sms[i].partitions[j])))
				goto fail;
	}
	root = json_pack("{so so}", "vteps", vteps, "sms", sms);
	return root;
fail:
	json_decref(vteps);
	json_decref(sms);
	return NULL;
}

/*
 * isolation/fabric_truth.c: the container the truth readers fill and the
 * checker reads.  Nothing here reads the fabric.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "isolation/isolation.h"
#include "lib/array.h"

static void vtep_release(struct truth_vtep *v)
{
	free(v->links);
	free(v->fdb);
	frr_state_release(&v->frr);
}

void fabric_truth_free(struct fabric_truth **t)
{
	if (!t || !*t)
		return;
	for (size_t i = 0; i < (*t)->n_vteps; i++)
		vtep_release(&(*t)->vteps[i]);
	free((*t)->vteps);
	free((*t)->hca_ports);
	free((*t)->gpus);
	free(*t);
	*t = NULL;
}

struct truth_vtep *fabric_truth_add_vtep(struct fabric_truth *t, const char *vtep)
{
	struct truth_vtep *v;

	if (ARRAY_GROW(t->vteps, t->cap_vteps, t->n_vteps + 1))
		return NULL;
	v = &t->vteps[t->n_vteps++];
	memset(v, 0, sizeof(*v));
	snprintf(v->vtep, sizeof(v->vtep), "%s", vtep);
	return v;
}

struct truth_hca_port *fabric_truth_add_hca_port(struct fabric_truth *t, const char *node,
						 const char *port, uint64_t guid)
{
	struct truth_hca_port *h;

	if (ARRAY_GROW(t->hca_ports, t->cap_hca_ports, t->n_hca_ports + 1))
		return NULL;
	h = &t->hca_ports[t->n_hca_ports++];
	memset(h, 0, sizeof(*h));
	snprintf(h->node, sizeof(h->node), "%s", node);
	snprintf(h->port, sizeof(h->port), "%s", port);
	h->guid = guid;
	return h;
}

struct truth_gpu *fabric_truth_add_gpu(struct fabric_truth *t, const char *node,
				       unsigned int index)
{
	struct truth_gpu *g;

	if (ARRAY_GROW(t->gpus, t->cap_gpus, t->n_gpus + 1))
		return NULL;
	g = &t->gpus[t->n_gpus++];
	memset(g, 0, sizeof(*g));
	snprintf(g->node, sizeof(g->node), "%s", node);
	g->index = index;
	return g;
}

struct truth_link *truth_vtep_add_link(struct truth_vtep *v)
{
	struct truth_link *l;

	if (ARRAY_GROW(v->links, v->cap_links, v->n_links + 1))
		return NULL;
	l = &v->links[v->n_links++];
	memset(l, 0, sizeof(*l));
	return l;
}

struct truth_fdb *truth_vtep_add_fdb(struct truth_vtep *v)
{
	struct truth_fdb *f;

	if (ARRAY_GROW(v->fdb, v->cap_fdb, v->n_fdb + 1))
		return NULL;
	f = &v->fdb[v->n_fdb++];
	memset(f, 0, sizeof(*f));
	return f;
}

static int link_cmp(const void *a, const void *b)
{
	const struct truth_link *x = a, *y = b;

	return (x->ifindex > y->ifindex) - (x->ifindex < y->ifindex);
}

void truth_vtep_finish(struct truth_vtep *v)
{
	if (v->n_links)
		if (v->n_links)
			qsort(v->links, v->n_links, sizeof(v->links[0]), link_cmp);
}

static const struct truth_link *link_find(const struct truth_vtep *v, int ifindex)
{
	size_t lo = 0, hi = v->n_links;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v->links[mid].ifindex == ifindex)
			return &v->links[mid];
		if (v->links[mid].ifindex < ifindex)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

#define FOLD_BASE 0x40000000	/* made-up ifindexes: above any the kernel gives here */

int truth_vtep_fold_vlans(struct truth_vtep *v)
{
	size_t n = v->n_links, added = 0;

	for (size_t i = 0; i < n; i++) {
		const struct truth_link *br = link_find(v, v->links[i].master);
		struct truth_link *p = &v->links[i], *vb;
		int id;

		if (!br || br->kind != TRUTH_LINK_BRIDGE || !br->vlan_filtering ||
		    br->ifindex >= FOLD_BASE || p->n_vlans > 1)
			continue;
		if (!p->n_vlans || !p->pvid) {
			p->master = 0;
			continue;
		}
		id = FOLD_BASE + (br->ifindex & 0x3ffff) * 4096 + p->pvid;
		vb = NULL;
		for (size_t k = n; k < n + added; k++)
			if (v->links[k].ifindex == id)
				vb = &v->links[k];
		if (!vb) {
			char name[sizeof(vb->name)];
			uint32_t group = br->group;
			uint16_t pvid = p->pvid;

			snprintf(name, sizeof(name), "%.10s:%u", br->name, pvid);
			vb = truth_vtep_add_link(v);	/* may move v->links */
			if (!vb)
				return -ENOMEM;
			p = &v->links[i];
			vb->ifindex = id;
			vb->kind = TRUTH_LINK_BRIDGE;
			vb->group = group;
			snprintf(vb->name, sizeof(vb->name), "%s", name);
			added++;
		}
		p->master = id;
	}
	truth_vtep_finish(v);
	return 0;
}

void findings_release(struct findings *f)
{
	free(f->v);
	f->v = NULL;
	f->n = f->cap = 0;
}

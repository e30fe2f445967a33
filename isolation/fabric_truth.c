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

void findings_release(struct findings *f)
{
	free(f->v);
	f->v = NULL;
	f->n = f->cap = 0;
}

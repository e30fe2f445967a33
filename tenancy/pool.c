/*
 * tenancy/pool.c: the VNI and P_Key pools, and the derived RD/RT.
 *
 * The pools are ranges from loomd.conf; loom owns the IDs inside them and
 * nothing else (docs/model.md).  An ID is unavailable to a tenant when a
 * segment carries it, when it is held for another tenant (released but
 * perhaps still programmed somewhere), or when someone else uses it on the
 * fabric (an operator's partition: the model's reserved IDs).
 *
 * Choosing the lowest free ID needs no index kept between calls: with c
 * IDs unavailable inside the pool, the lowest free one lies in the first
 * c + 1 IDs of the pool, so one pass over segments, holds and reserved IDs
 * marks a bitmap of c + 1 bits and a second finds its first clear bit.
 * That is O(segments + holds + reserved) per allocation whatever the width
 * of the pool.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tenancy/model-private.h"

struct pool_view {
	enum seg_type type;
	uint32_t min, max;
	const char *what;	/* "VNI", "L3 VNI" or "P_Key" */
	bool l3;		/* the tenants' L3 VNIs count as used too */
};

/* VNIs print in decimal, P_Keys as four hex digits, as engineers write them. */
static void id_text(const struct pool_view *p, uint32_t id, char buf[16])
{
	if (p->type == SEG_ETHERNET)
		snprintf(buf, 16, "%u", id);
	else
		snprintf(buf, 16, "0x%04x", id);
}

static uint32_t seg_id(const struct segment *s)
{
	return s->type == SEG_ETHERNET ? s->vni : s->pkey;
}

static bool held_for_other(const struct id_hold *h, const char *tenant)
{
	return strcmp(h->tenant, tenant) != 0;
}

static int pool_take(const struct model *m, const struct pool_view *p, const char *tenant,
		     uint32_t *id, const char *field, struct loom_err *err)
{
	uint64_t *bits = NULL;
	size_t used = 0, held = 0, others = 0, nbits;
	uint64_t width = (uint64_t)p->max - p->min + 1;
	char lo[16], hi[16], idtxt[16];
	int rc;

	id_text(p, p->min, lo);
	id_text(p, p->max, hi);
	if (p->min == 0 || p->max < p->min)
		return loom_err_set(err, LOOM_E_EXHAUSTED, field,
				    "the %s pool %s..%s is empty; configure a range in loomd.conf",
				    p->what, lo, hi);

	if (*id) {
		const struct id_hold *h;
		const struct id_reserved *r;

		id_text(p, *id, idtxt);
		if (*id < p->min || *id > p->max)
			return loom_err_set(err, LOOM_E_RANGE, field,
					    "%s %s is outside loom's pool %s..%s; loom only programs IDs "
					    "inside its pool (widen the pool in loomd.conf, or omit the "
					    "ID to have one allocated)", p->what, idtxt, lo, hi);
		for (size_t i = 0; i < m->n_segments; i++) {
			const struct segment *s = &m->segments[i];

			if (s->type == p->type && seg_id(s) == *id)
				return loom_err_set(err, LOOM_E_CONFLICT, field,
						    "%s %s is already used by segment %s/%s",
						    p->what, idtxt, s->tenant, s->name);
		}
		for (size_t i = 0; p->l3 && i < m->n_tenants; i++)
			if (m->tenants[i]->l3vni == *id && strcmp(m->tenants[i]->name, tenant) != 0)
				return loom_err_set(err, LOOM_E_CONFLICT, field,
						    "%s %s is already tenant %s's", p->what, idtxt,
						    m->tenants[i]->name);
		r = model_reserved_find(m, p->type, *id);
		if (r)
			return loom_err_set(err, LOOM_E_CONFLICT, field,
					    "%s %s is the operator's: %s%s%s in %s (outside loom's "
					    "section) uses it, and loom never hands it out; pick "
					    "another or let loom allocate one", p->what, idtxt,
					    r->owner[0] ? "partition '" : "an unnamed partition",
					    r->owner, r->owner[0] ? "'" : "", r->where);
		h = model_hold_find(m, p->type, *id);
		if (h && held_for_other(h, tenant))
			return loom_err_set(err, LOOM_E_CONFLICT, field,
					    "%s %s was released by tenant %s and is held until no target "
					    "carries it any more; pick another or let loom allocate one",
					    p->what, idtxt, h->tenant);
		return 0;
	}

	/* Count what is unavailable inside the pool, then mark it. */
	for (size_t i = 0; i < m->n_segments; i++)
		if (m->segments[i].type == p->type && seg_id(&m->segments[i]) >= p->min &&
		    seg_id(&m->segments[i]) <= p->max)
			used++;
	for (size_t i = 0; p->l3 && i < m->n_tenants; i++)
		used += m->tenants[i]->l3vni >= p->min && m->tenants[i]->l3vni <= p->max;
	for (size_t i = 0; i < m->n_holds; i++)
		if (m->holds[i].type == p->type && m->holds[i].id >= p->min &&
		    m->holds[i].id <= p->max && held_for_other(&m->holds[i], tenant))
			held++;
	for (size_t i = 0; i < m->n_reserved; i++)
		others += m->reserved[i].type == p->type && m->reserved[i].id >= p->min &&
			  m->reserved[i].id <= p->max;
	nbits = used + held + others + 1;
	if (nbits > width)
		nbits = (size_t)width;
	bits = calloc((nbits + 63) / 64, sizeof(*bits));
	if (!bits)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_segments; i++) {
		uint32_t v = seg_id(&m->segments[i]);

		if (m->segments[i].type == p->type && v >= p->min && v - p->min < nbits)
			bits[(v - p->min) / 64] |= 1ULL << ((v - p->min) % 64);
	}
	for (size_t i = 0; p->l3 && i < m->n_tenants; i++) {
		uint32_t v = m->tenants[i]->l3vni;

		if (v && v >= p->min && v - p->min < nbits)
			bits[(v - p->min) / 64] |= 1ULL << ((v - p->min) % 64);
	}
	for (size_t i = 0; i < m->n_holds; i++) {
		uint32_t v = m->holds[i].id;

		if (m->holds[i].type == p->type && v >= p->min && v - p->min < nbits &&
		    held_for_other(&m->holds[i], tenant))
			bits[(v - p->min) / 64] |= 1ULL << ((v - p->min) % 64);
	}
	for (size_t i = 0; i < m->n_reserved; i++) {
		uint32_t v = m->reserved[i].id;

		if (m->reserved[i].type == p->type && v >= p->min && v - p->min < nbits)
			bits[(v - p->min) / 64] |= 1ULL << ((v - p->min) % 64);
	}
	rc = -ENOSPC;
	for (size_t w = 0; w < (nbits + 63) / 64 && rc; w++) {
		if (bits[w] == ~0ULL)
			continue;
		for (size_t b = 0; b < 64 && w * 64 + b < nbits; b++) {
			if (!(bits[w] & (1ULL << b))) {
				*id = p->min + (uint32_t)(w * 64 + b);
				rc = 0;
				break;
			}
		}
	}
	if (rc)
		rc = loom_err_set(err, LOOM_E_EXHAUSTED, field,
				  "the %s pool %s..%s has no free ID (%zu used by %s, %zu held "
				  "for other tenants, %zu the operator's)", p->what, lo, hi, used,
				  p->l3 ? "tenants" : "segments",
				  held, others);
	free(bits);
	return rc;
}

int pool_vni_take(const struct model *m, const char *tenant, uint32_t *id,
		  const char *field, struct loom_err *err)
{
	struct pool_view p = { SEG_ETHERNET, m->pools.vni_min, m->pools.vni_max, "VNI", false };

	return pool_take(m, &p, tenant, id, field, err);
}

int pool_l3vni_take(const struct model *m, const char *tenant, uint32_t *id,
		    const char *field, struct loom_err *err)
{
	struct pool_view p = { SEG_ETHERNET, m->pools.l3vni_min, m->pools.l3vni_max, "L3 VNI", true };

	return pool_take(m, &p, tenant, id, field, err);
}

int pool_pkey_take(const struct model *m, const char *tenant, uint16_t *id,
		   const char *field, struct loom_err *err)
{
	/* 0x7fff is the default partition: never handed out, whatever the pool says. */
	struct pool_view p = { SEG_INFINIBAND, m->pools.pkey_min,
			       m->pools.pkey_max < 0x7ffe ? m->pools.pkey_max : 0x7ffe, "P_Key", false };
	uint32_t v = *id;
	int rc = pool_take(m, &p, tenant, &v, field, err);

	if (!rc)
		*id = (uint16_t)v;
	return rc;
}

void pool_derive_rd_rt(const struct pools *p, struct segment *s)
{
	if (s->type != SEG_ETHERNET) {
		s->rd[0] = s->rt[0] = '\0';
		return;
	}
	snprintf(s->rd, sizeof(s->rd), "%u:%u", p->rt_asn, s->vni);
	snprintf(s->rt, sizeof(s->rt), "%u:%u", p->rt_asn, s->vni);
}

void tenant_rd_rt(const struct pools *p, const struct tenant *t, char rd[32], char rt[32])
{
	rd[0] = rt[0] = '\0';
	if (!t->l3vni)
		return;
	snprintf(rd, 32, "%u:%u", p->rt_asn, t->l3vni);
	snprintf(rt, 32, "%u:%u", p->rt_asn, t->l3vni);
}

void tenant_vrf_name(uint32_t l3vni, char buf[16])
{
	snprintf(buf, 16, "lv%u", l3vni);
}

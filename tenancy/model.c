/*
 * tenancy/model.c: the in-memory model's storage: sorted arrays, lookups,
 * sorted insertion and removal for the checked mutations, loading from the
 * store, and the names of its enums.  JSON parsing lives in tenancy/parse.c,
 * the checked mutations and policy in tenancy/policy.c, ID pools in
 * tenancy/pool.c.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/array.h"
#include "tenancy/model.h"
#include "tenancy/model-private.h"

int model_init(struct model *m, const struct pools *pools)
{
	memset(m, 0, sizeof(*m));
	m->pools = *pools;
	return 0;
}

void tenant_release(struct tenant *t)
{
	json_decref(t->labels);
	t->labels = NULL;
}

void model_clear(struct model *m)
{
	struct pools pools = m->pools;
	const struct id_reserved *reserved = m->reserved;
	size_t n_reserved = m->n_reserved;

	for (size_t i = 0; i < m->n_tenants; i++) {
		tenant_release(m->tenants[i]);
		free(m->tenants[i]);
	}
	free(m->tenants);
	free(m->segments);
	free(m->attachments);
	free(m->holds);
	memset(m, 0, sizeof(*m));
	m->pools = pools;
	m->reserved = reserved;
	m->n_reserved = n_reserved;
}

static int cmp_reserved(const void *x, const void *y)
{
	const struct id_reserved *a = x, *b = y;

	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

void model_reserved_sort(struct id_reserved *ids, size_t n)
{
	if (n)
		qsort(ids, n, sizeof(*ids), cmp_reserved);
}

void model_reserved_set(struct model *m, const struct id_reserved *ids, size_t n)
{
	m->reserved = n ? ids : NULL;
	m->n_reserved = n;
}

const struct id_reserved *model_reserved_find(const struct model *m, enum seg_type type, uint32_t id)
{
	struct id_reserved key = { .type = type, .id = id };

	if (!m->n_reserved)
		return NULL;
	return bsearch(&key, m->reserved, m->n_reserved, sizeof(key), cmp_reserved);
}

static const char *const isolation_names[] = { "soft", "strict", "private" };
static const char *const seg_type_names[] = { "ethernet", "infiniband" };
static const char *const membership_names[] = { "default", "full", "limited" };

static int parse_enum(const char *s, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

#define NAMES(a) (a), (sizeof(a) / sizeof((a)[0]))

const char *isolation_name(enum isolation i) { return isolation_names[i]; }
const char *seg_type_name(enum seg_type t) { return seg_type_names[t]; }
const char *membership_name(enum membership m) { return membership_names[m]; }

int isolation_parse(const char *s, enum isolation *out)
{
	int v = parse_enum(s, NAMES(isolation_names));

	if (v < 0)
		return v;
	*out = (enum isolation)v;
	return 0;
}

int seg_type_parse(const char *s, enum seg_type *out)
{
	int v = parse_enum(s, NAMES(seg_type_names));

	if (v < 0)
		return v;
	*out = (enum seg_type)v;
	return 0;
}

int membership_parse(const char *s, enum membership *out)
{
	int v = parse_enum(s, NAMES(membership_names));

	if (v < 0)
		return v;
	*out = (enum membership)v;
	return 0;
}

bool name_is_valid(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* Ordering keys: tenants by name; segments by tenant/name; attachments by
 * tenant/segment/node/port. */
int model_cmp_tenant(const void *a, const void *b)
{
	const struct tenant *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

int model_cmp_segment(const void *a, const void *b)
{
	const struct segment *x = a, *y = b;
	int c = strcmp(x->tenant, y->tenant);

	return c ? c : strcmp(x->name, y->name);
}

int model_cmp_attachment(const void *a, const void *b)
{
	const struct attachment *x = a, *y = b;
	int c = strcmp(x->tenant, y->tenant);

	if (!c)
		c = strcmp(x->segment, y->segment);
	if (!c)
		c = strcmp(x->node, y->node);
	return c ? c : strcmp(x->port, y->port);
}

int model_cmp_hold(const void *a, const void *b)
{
	const struct id_hold *x = a, *y = b;

	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

const struct tenant *model_tenant(const struct model *m, const char *name)
{
	struct tenant key;
	const struct tenant *keyp = &key;
	struct tenant *const *found;

	if (strlen(name) >= sizeof(key.name) || !m->tenants)
		return NULL;
	strcpy(key.name, name);
	found = bsearch(&keyp, m->tenants, m->n_tenants, sizeof(keyp), model_cmp_tenant);
	return found ? *found : NULL;
}

const struct segment *model_segment(const struct model *m, const char *tenant, const char *name)
{
	struct segment key;

	if (strlen(tenant) >= sizeof(key.tenant) || strlen(name) >= sizeof(key.name) || !m->segments)
		return NULL;
	strcpy(key.tenant, tenant);
	strcpy(key.name, name);
	return bsearch(&key, m->segments, m->n_segments, sizeof(key), model_cmp_segment);
}

const struct segment *model_segment_by_vni(const struct model *m, uint32_t vni)
{
	for (size_t i = 0; i < m->n_segments; i++)
		if (m->segments[i].type == SEG_ETHERNET && m->segments[i].vni == vni)
			return &m->segments[i];
	return NULL;
}

const struct segment *model_segment_by_pkey(const struct model *m, uint16_t pkey)
{
	for (size_t i = 0; i < m->n_segments; i++)
		if (m->segments[i].type == SEG_INFINIBAND && m->segments[i].pkey == pkey)
			return &m->segments[i];
	return NULL;
}

#define APPEND(m, field, elem)                                                  \
	(ARRAY_GROW((m)->field, (m)->cap_##field, (m)->n_##field + 1)             \
		 ?: (memcpy(&(m)->field[(m)->n_##field++], (elem), sizeof(*(elem))), 0))

int model_load_tenant(struct model *m, const struct tenant *t)
{
	struct tenant *copy = malloc(sizeof(*copy));
	int rc;

	if (!copy)
		return -ENOMEM;
	*copy = *t;
	rc = APPEND(m, tenants, &copy);
	if (rc)
		free(copy);
	return rc;
}

int model_load_segment(struct model *m, const struct segment *s)
{
	return APPEND(m, segments, s);
}

int model_load_attachment(struct model *m, const struct attachment *a)
{
	return APPEND(m, attachments, a);
}

int model_load_hold(struct model *m, const struct id_hold *h)
{
	return APPEND(m, holds, h);
}

void model_load_finish(struct model *m)
{
	if (m->n_tenants)
		qsort(m->tenants, m->n_tenants, sizeof(*m->tenants), model_cmp_tenant);
	if (m->n_segments)
		qsort(m->segments, m->n_segments, sizeof(*m->segments), model_cmp_segment);
	if (m->n_attachments)
		qsort(m->attachments, m->n_attachments, sizeof(*m->attachments), model_cmp_attachment);
	if (m->n_holds)
		qsort(m->holds, m->n_holds, sizeof(*m->holds), model_cmp_hold);
}

size_t model_lower_bound(const void *base, size_t n, size_t size, const void *key,
			 int (*cmp)(const void *, const void *))
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp((const char *)base + mid * size, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

size_t model_first_attachment(const struct model *m, const char *tenant, const char *segment)
{
	struct attachment key;

	memset(&key, 0, sizeof(key));
	snprintf(key.tenant, sizeof(key.tenant), "%s", tenant);
	snprintf(key.segment, sizeof(key.segment), "%s", segment);
	return model_lower_bound(m->attachments, m->n_attachments, sizeof(key), &key,
				 model_cmp_attachment);
}

/* Insert @elem into the sorted array at its place; capacity grows first so
 * that a failure leaves the array as it was. */
static int sorted_insert(void **arr, size_t *n, size_t *cap, size_t size, const void *elem,
			 int (*cmp)(const void *, const void *))
{
	size_t i;
	char *base;
	int rc = array_grow(arr, cap, *n + 1, size);

	if (rc)
		return rc;
	base = *arr;
	i = model_lower_bound(base, *n, size, elem, cmp);
	memmove(base + (i + 1) * size, base + i * size, (*n - i) * size);
	memcpy(base + i * size, elem, size);
	(*n)++;
	return 0;
}

static void sorted_remove(void *arr, size_t *n, size_t size, size_t i)
{
	char *base = arr;

	memmove(base + i * size, base + (i + 1) * size, (*n - i - 1) * size);
	(*n)--;
}

#define RESERVE(m, field) ARRAY_GROW((m)->field, (m)->cap_##field, (m)->n_##field + 1)
#define INSERT(m, field, elem, cmp)                                                   \
	sorted_insert((void **)&(m)->field, &(m)->n_##field, &(m)->cap_##field,        \
		      sizeof(*(m)->field), (elem), (cmp))

int model_reserve_tenants(struct model *m) { return RESERVE(m, tenants); }
int model_reserve_segments(struct model *m) { return RESERVE(m, segments); }
int model_reserve_attachments(struct model *m) { return RESERVE(m, attachments); }
int model_reserve_holds(struct model *m) { return RESERVE(m, holds); }

int model_insert_tenant(struct model *m, const struct tenant *t)
{
	struct tenant *copy = malloc(sizeof(*copy));
	int rc;

	if (!copy)
		return -ENOMEM;
	*copy = *t;
	rc = INSERT(m, tenants, &copy, model_cmp_tenant);
	if (rc)
		free(copy);
	return rc;
}

int model_insert_segment(struct model *m, const struct segment *s)
{
	return INSERT(m, segments, s, model_cmp_segment);
}

int model_insert_attachment(struct model *m, const struct attachment *a)
{
	return INSERT(m, attachments, a, model_cmp_attachment);
}

int model_insert_hold(struct model *m, const struct id_hold *h)
{
	return INSERT(m, holds, h, model_cmp_hold);
}

void model_remove_tenant(struct model *m, size_t i)
{
	free(m->tenants[i]);
	sorted_remove(m->tenants, &m->n_tenants, sizeof(*m->tenants), i);
}

void model_remove_segment(struct model *m, size_t i)
{
	sorted_remove(m->segments, &m->n_segments, sizeof(*m->segments), i);
}

void model_remove_attachment(struct model *m, size_t i)
{
	sorted_remove(m->attachments, &m->n_attachments, sizeof(*m->attachments), i);
}

void model_remove_hold(struct model *m, size_t i)
{
	sorted_remove(m->holds, &m->n_holds, sizeof(*m->holds), i);
}

const struct id_hold *model_hold_find(const struct model *m, enum seg_type type, uint32_t id)
{
	struct id_hold key = { .type = type, .id = id };

	if (!m->holds)
		return NULL;
	return bsearch(&key, m->holds, m->n_holds, sizeof(key), model_cmp_hold);
}

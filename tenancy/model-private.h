/*
 * tenancy/model-private.h: what tenancy/'s own files share about the
 * model's storage (sorted insertion and removal, the orderings, the ID
 * pools).  Nothing outside tenancy/ includes it.
 */
#ifndef LOOM_TENANCY_MODEL_PRIVATE_H
#define LOOM_TENANCY_MODEL_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "tenancy/model.h"

/* The orderings of the model's arrays (see model.h). */
int model_cmp_tenant(const void *a, const void *b);
int model_cmp_segment(const void *a, const void *b);
int model_cmp_attachment(const void *a, const void *b);
int model_cmp_hold(const void *a, const void *b);

/* Make room for one more element (so that a later insert cannot fail). */
int model_reserve_tenants(struct model *m);
int model_reserve_segments(struct model *m);
int model_reserve_attachments(struct model *m);
int model_reserve_holds(struct model *m);

/* Insert at the sorted place; 0 or -ENOMEM.  The element is copied. */
int model_insert_tenant(struct model *m, const struct tenant *t);
int model_insert_segment(struct model *m, const struct segment *s);
int model_insert_attachment(struct model *m, const struct attachment *a);
int model_insert_hold(struct model *m, const struct id_hold *h);

/* Remove by index (the element's own resources are the caller's; a
 * tenant's struct itself, held by pointer, is freed here). */
void model_remove_tenant(struct model *m, size_t i);
void model_remove_segment(struct model *m, size_t i);
void model_remove_attachment(struct model *m, size_t i);
void model_remove_hold(struct model *m, size_t i);

/* Index of the first element not less than the key (a lower bound). */
size_t model_lower_bound(const void *base, size_t n, size_t size, const void *key,
			 int (*cmp)(const void *, const void *));

/* The index of the first attachment of tenant/segment (a lower bound). */
size_t model_first_attachment(const struct model *m, const char *tenant, const char *segment);

/* The hold on (type, id), or NULL. */
const struct id_hold *model_hold_find(const struct model *m, enum seg_type type, uint32_t id);

/*
 * ID pools (tenancy/pool.c).  pool_vni_take / pool_pkey_take check an
 * explicit ID (*id != 0) or choose the lowest free one (*id == 0) for
 * @tenant.  They change nothing in the model; errors name @field.
 */
int pool_vni_take(const struct model *m, const char *tenant, uint32_t *id,
		  const char *field, struct loom_err *err);
int pool_l3vni_take(const struct model *m, const char *tenant, uint32_t *id,
		    const char *field, struct loom_err *err);
int pool_pkey_take(const struct model *m, const char *tenant, uint16_t *id,
		   const char *field, struct loom_err *err);
/*
 * An attachment's own fields (tenancy/parse.c); @with_segment says whether
 * "segment" is expected (the API) or implied by where it sits (the
 * declarative file).
 */
int attachment_parse_fields(const json_t *obj, bool with_segment, struct attachment *out,
			    struct loom_err *err);

/* Fill s->rd and s->rt from the VNI (docs/model.md). */
void pool_derive_rd_rt(const struct pools *p, struct segment *s);

#endif

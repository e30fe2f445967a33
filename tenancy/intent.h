/*
 * tenancy/intent.h: the declarative file of `loomctl apply -f` / `diff -f`.
 *
 *   {"tenants": [{<tenant fields>, "segments": [{<segment fields>,
 *       "attachments": [{"node", "port"?, "membership"?}]}]}]}
 *
 * Semantics (docs/model.md): the file owns the tenants it names and leaves
 * the others alone; inside a named tenant it is the whole truth, so its
 * segments and attachments that the file does not list are removed.
 * Tenants are never deleted by a file.  An omitted vni / pkey / isolation
 * keeps the current value, so applying the same file twice changes nothing.
 */
#ifndef LOOM_TENANCY_INTENT_H
#define LOOM_TENANCY_INTENT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "lib/err.h"
#include "tenancy/model.h"
#include "topology/topology.h"

struct intent_segment {
	struct segment seg;		/* vni / pkey 0 when the file omits them */
	struct attachment *attachments;	/* tenant and segment filled in; file order */
	size_t n_attachments;
};

struct intent_tenant {
	struct tenant tenant;		/* owns labels */
	bool isolation_given;		/* false: keep the current one (soft when new) */
	struct intent_segment *segments;	/* file order */
	size_t n_segments;
};

struct intent {
	struct intent_tenant *tenants;	/* file order */
	size_t n_tenants;
};

/*
 * Parse and check a file's JSON (each object as the API's parsers do, plus
 * no tenant, segment or attachment listed twice).  Errors name the path,
 * e.g. "tenants[1].segments[0].vni".
 */
int intent_parse(const json_t *doc, struct intent **out, struct loom_err *err);
void intent_free(struct intent **doc);

/*
 * One change, in the order the server applies them.  The op names are the
 * API methods that carry them out.
 */
enum change_op {
	CHANGE_DETACH,			/* "segment.detach": attachment */
	CHANGE_SEGMENT_DEL,		/* "segment.delete": segment (tenant, name) */
	CHANGE_TENANT_ADD,		/* "tenant.create": tenant */
	CHANGE_TENANT_UPDATE,		/* "tenant.update": tenant */
	CHANGE_SEGMENT_ADD,		/* "segment.create": segment */
	CHANGE_ATTACH,			/* "segment.attach": attachment */
};

struct change {
	enum change_op op;
	struct tenant tenant;		/* TENANT_*; owns labels */
	struct segment segment;		/* SEGMENT_* */
	struct attachment attachment;	/* DETACH, ATTACH */
};

/*
 * What applying @doc to @m would change: detaches, segment deletes, tenant
 * creates and updates, segment creates, attaches (so a port leaves its old
 * segment before it joins a new one).  Fails with LOOM_E_IMMUTABLE (naming
 * the field) when a segment or tenant in the file differs from the model in
 * a field that cannot change.  Policy is not checked here: the server
 * applies the changes one by one through the model, in one transaction.
 * *out is NULL when *n is 0.
 */
int intent_plan(const struct model *m, const struct intent *doc, struct change **out,
		size_t *n, struct loom_err *err);
void changes_free(struct change **changes, size_t n);

const char *change_op_name(enum change_op op);
json_t *change_to_json(const struct change *c);

/* Carry out one change through the model's checked mutations. */
int change_apply(struct model *m, const struct topology *topo, const struct change *c,
		 struct loom_err *err);

#endif

/*
 * node/replace.h: replacing a node (pure): which available node may take an
 * old node's place, why a given one may not, and the ordered steps that
 * move every attachment from OLD to NEW without a port ever sitting in two
 * tenants (OLD out and verified before NEW goes in).
 *
 * Compatible means: same site; the same GPU model and count; for each of
 * OLD's NIC ports a NIC port of NEW on the same rail (or, with no rail
 * label, cabled to the same VTEP); for each of OLD's HCA ports an HCA port
 * of NEW under the same subnet manager, on the same rail, at least as fast.
 */
#ifndef LOOM_SRC_REPLACE_H
#define LOOM_SRC_REPLACE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"
#include "node/lifecycle.h"
#include "tenancy/model.h"
#include "topology/topology.h"

/* A node's lifecycle state, as the caller knows it (unsorted is fine). */
struct node_state_ref {
	const char *node;
	enum node_state state;
};

#define REPLACE_WHY_MAX 8

struct replace_why {
	char reason[REPLACE_WHY_MAX][160];
	size_t n;		/* reasons kept (at most REPLACE_WHY_MAX) */
	size_t total;		/* reasons found */
};

/*
 * Whether @new_node may replace @old_node.  Returns 0 when it may, or
 * -EINVAL with LOOM_E_POLICY (LOOM_E_NOT_FOUND for unknown nodes,
 * LOOM_E_STATE when NEW is not available) in @err: the first reason, and
 * every reason in @why (may be NULL).
 */
int replace_check(const struct topology *topo, const char *old_node,
		  const char *new_node, const struct node_state_ref *states,
		  size_t n_states, struct replace_why *why, struct loom_err *err);

/*
 * Pick the replacement: the compatible available node in OLD's rack if
 * there is one, else the first compatible one by name.  Fills @out
 * (LOOM_NAME_MAX bytes).  -ENOENT with LOOM_E_NOT_FOUND when none fits,
 * naming how many available nodes were checked and why the first was not.
 */
int replace_pick(const struct topology *topo, const char *old_node,
		 const struct node_state_ref *states, size_t n_states,
		 char *out, size_t out_size, struct loom_err *err);

/*
 * OLD's port @port mapped onto NEW (same rail / VTEP, or same SM and
 * rail); "" maps to "".  Ports sharing a class are paired in name order.
 * Returns 0 or -ENOENT.
 */
int replace_map_port(const struct topo_node *old_n, const struct topo_node *new_n,
		     const char *port, char *out, size_t out_size);

enum replace_step_kind {
	RS_CORDON_OLD,		/* lifecycle: cordon OLD (no new attachment) */
	RS_DETACH,		/* model_detach(att) for OLD */
	RS_VERIFY_REMOVED,	/* barrier: every target verified OLD out; confirm */
	RS_ASSIGN_NEW,		/* lifecycle: assign NEW to the tenant */
	RS_ATTACH,		/* model_attach(att) for NEW */
	RS_VERIFY_ATTACHED,	/* barrier: every target verified NEW in */
};

struct replace_step {
	enum replace_step_kind kind;
	struct attachment att;	/* RS_DETACH / RS_ATTACH; else node only */
};

struct replace_plan {
	char old_node[LOOM_NAME_MAX];
	char new_node[LOOM_NAME_MAX];
	struct replace_step *steps;
	size_t n_steps;
};

/*
 * The steps for moving @n_atts attachments (the model's, any node: only
 * OLD's are used) from OLD to NEW.  @old_state says whether OLD needs a
 * cordon first.  Returns 0, -ENOMEM, or -EINVAL with @err when a port of
 * OLD has no counterpart on NEW.
 */
int replace_plan_build(const struct topology *topo, const char *old_node,
		       enum node_state old_state, const char *new_node,
		       const struct attachment *atts, size_t n_atts,
		       struct replace_plan *plan, struct loom_err *err);
void replace_plan_release(struct replace_plan *plan);

const char *replace_step_kind_name(enum replace_step_kind k);
/* {"old", "new", "steps": [{"step": 1, "kind", "node", "tenant", "segment", "port", "text"}]} */
json_t *replace_plan_to_json(const struct replace_plan *plan);
/* ["reason", ...] */
json_t *replace_why_to_json(const struct replace_why *why);
/* "detach acme/train from n1 port eth0"; returns the length like snprintf. */
int replace_step_describe(const struct replace_step *s, const char *old_node,
			  const char *new_node, char *buf, size_t size);

#endif

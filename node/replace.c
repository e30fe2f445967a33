/*
 * node/replace.c: replacement candidates and the replacement plan
 * (node/replace.h).  Pure: the topology, the node states and the model's
 * attachments come in, a decision or a list of steps goes out.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/array.h"
#include "node/replace.h"

/* The class a port must match on the replacement: its rail, else its VTEP / SM. */
static void nic_class(const struct topo_nic_port *p, char *buf, size_t size)
{
	if (p->rail[0])
		snprintf(buf, size, "rail %s", p->rail);
	else
		snprintf(buf, size, "VTEP %s", p->vtep);
}

static void hca_class(const struct topo_hca_port *p, char *buf, size_t size)
{
	snprintf(buf, size, "SM %s%s%s", p->sm, p->rail[0] ? " rail " : "", p->rail);
}

static size_t nic_count(const struct topo_node *n, const char *cls)
{
	char c[LOOM_NAME_MAX * 2];
	size_t k = 0;

	for (size_t i = 0; i < n->n_nic_ports; i++) {
		nic_class(&n->nic_ports[i], c, sizeof(c));
		k += strcmp(c, cls) == 0;
	}
	return k;
}

/* The @idx-th NIC port of class @cls (ports are sorted by name), or NULL. */
static const struct topo_nic_port *nic_nth(const struct topo_node *n, const char *cls, size_t idx)
{
	char c[LOOM_NAME_MAX * 2];

	for (size_t i = 0; i < n->n_nic_ports; i++) {
		nic_class(&n->nic_ports[i], c, sizeof(c));
		if (strcmp(c, cls) == 0 && idx-- == 0)
			return &n->nic_ports[i];
	}
	return NULL;
}

static const struct topo_hca_port *hca_nth(const struct topo_node *n, const char *cls, size_t idx)
{
	char c[LOOM_NAME_MAX * 2];

	for (size_t i = 0; i < n->n_hca_ports; i++) {
		hca_class(&n->hca_ports[i], c, sizeof(c));
		if (strcmp(c, cls) == 0 && idx-- == 0)
			return &n->hca_ports[i];
	}
	return NULL;
}

static size_t gpu_model_count(const struct topo_node *n, const char *model)
{
	size_t k = 0;

	for (size_t i = 0; i < n->n_gpus; i++)
		k += strcmp(n->gpus[i].model, model) == 0;
	return k;
}

static enum node_state state_of(const struct node_state_ref *states, size_t n,
				const char *node, bool *known)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(states[i].node, node) == 0) {
			*known = true;
			return states[i].state;
		}
	*known = false;
	return NODE_REGISTERED;
}

struct why_acc {
	struct replace_why *why;
	struct loom_err *err;
	int first_code;
};

__attribute__((format(printf, 3, 4)))
static void why_add(struct why_acc *w, int code, const char *fmt, ...)
{
	char buf[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (!w->first_code) {
		w->first_code = code;
		loom_err_set(w->err, code, "new", "%s", buf);
	}
	if (w->why) {
		if (w->why->n < REPLACE_WHY_MAX)
			snprintf(w->why->reason[w->why->n++], sizeof(w->why->reason[0]), "%s", buf);
		w->why->total++;
	}
}

static void check_nodes(const struct topo_node *o, const struct topo_node *n,
			struct why_acc *w)
{
	char cls[LOOM_NAME_MAX * 2];

	if (strcmp(o->site, n->site) != 0)
		why_add(w, LOOM_E_POLICY, "%s is in site %s, %s in site %s",
			n->name, n->site, o->name, o->site);
	if (o->n_gpus != n->n_gpus)
		why_add(w, LOOM_E_POLICY, "%s has %zu GPUs, %s has %zu",
			n->name, n->n_gpus, o->name, o->n_gpus);
	for (size_t i = 0; i < o->n_gpus; i++) {
		const char *model = o->gpus[i].model;
		bool seen = false;

		for (size_t j = 0; j < i; j++)
			seen |= strcmp(o->gpus[j].model, model) == 0;
		if (seen)
			continue;
		if (gpu_model_count(o, model) != gpu_model_count(n, model))
			why_add(w, LOOM_E_POLICY, "%s has %zu %s GPUs, %s has %zu",
				n->name, gpu_model_count(n, model), model, o->name,
				gpu_model_count(o, model));
	}
	for (size_t i = 0; i < o->n_nic_ports; i++) {
		size_t need, have;
		bool seen = false;

		nic_class(&o->nic_ports[i], cls, sizeof(cls));
		for (size_t j = 0; j < i; j++) {
			char c2[LOOM_NAME_MAX * 2];

			nic_class(&o->nic_ports[j], c2, sizeof(c2));
			seen |= strcmp(c2, cls) == 0;
		}
		if (seen)
			continue;
		need = nic_count(o, cls);
		have = nic_count(n, cls);
		if (have < need)
			why_add(w, LOOM_E_POLICY, "%s has %zu NIC port(s) on %s, %s needs %zu",
				n->name, have, cls, o->name, need);
	}
	for (size_t i = 0; i < o->n_hca_ports; i++) {
		const struct topo_hca_port *op = &o->hca_ports[i], *np;
		size_t idx = 0;

		hca_class(op, cls, sizeof(cls));
		for (size_t j = 0; j < i; j++) {
			char c2[LOOM_NAME_MAX * 2];

			hca_class(&o->hca_ports[j], c2, sizeof(c2));
			idx += strcmp(c2, cls) == 0;
		}
		np = hca_nth(n, cls, idx);
		if (!np)
			why_add(w, LOOM_E_POLICY, "%s has no HCA port on %s for %s's %s",
				n->name, cls, o->name, op->name);
		else if (np->rate_gbps < op->rate_gbps)
			why_add(w, LOOM_E_POLICY, "%s's HCA port %s runs at %u Gb/s, %s's %s at %u Gb/s",
				n->name, np->name, np->rate_gbps, o->name, op->name, op->rate_gbps);
	}
}

int replace_check(const struct topology *topo, const char *old_node,
		  const char *new_node, const struct node_state_ref *states,
		  size_t n_states, struct replace_why *why, struct loom_err *err)
{
	struct why_acc w = { .why = why, .err = err };
	const struct topo_node *o, *n;
	enum node_state s;
	bool known;

	if (why)
		memset(why, 0, sizeof(*why));
	o = topology_node(topo, old_node);
	if (!o && topology_foreign(topo, TOPO_NODE, old_node, "old", err))
		return -EPERM;
	if (!o)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "old",
				    "node '%s' is not in the topology", old_node);
	n = topology_node(topo, new_node);
	if (!n && topology_foreign(topo, TOPO_NODE, new_node, "new", err))
		return -EPERM;
	if (!n)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "new",
				    "node '%s' is not in the topology", new_node);
	if (o == n)
		return loom_err_set(err, LOOM_E_PARAMS, "new",
				    "a node cannot replace itself: name another node or none");
	s = state_of(states, n_states, new_node, &known);
	if (!known || s != NODE_AVAILABLE)
		why_add(&w, LOOM_E_STATE, "%s is '%s', not 'available'", new_node,
			known ? node_state_name(s) : "unknown");
	check_nodes(o, n, &w);
	if (!w.first_code)
		return 0;
	if (why && why->total > 1 && err) {
		size_t len = strlen(err->msg);

		snprintf(err->msg + len, sizeof(err->msg) - len, " (and %zu more reasons)",
			 why->total - 1);
	}
	return -EINVAL;
}

int replace_pick(const struct topology *topo, const char *old_node,
		 const struct node_state_ref *states, size_t n_states,
		 char *out, size_t out_size, struct loom_err *err)
{
	const struct topo_node *o = topology_node(topo, old_node);
	const struct topo_node *best = NULL;
	struct replace_why first_why = { .n = 0 };
	const char *first_bad = NULL;
	size_t checked = 0;

	if (!o)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "old",
				    "node '%s' is not in the topology", old_node);
	for (size_t i = 0; i < topo->n_nodes; i++) {
		const struct topo_node *n = &topo->nodes[i];
		struct replace_why why;
		enum node_state s;
		bool known;

		if (n == o)
			continue;
		s = state_of(states, n_states, n->name, &known);
		if (!known || s != NODE_AVAILABLE)
			continue;
		checked++;
		if (replace_check(topo, old_node, n->name, states, n_states, &why, NULL) < 0) {
			if (!first_bad) {
				first_bad = n->name;
				first_why = why;
			}
			continue;
		}
		/* Same rack first: shorter cables to the same leaf, same failure domain. */
		if (!best || (o->rack[0] && strcmp(n->rack, o->rack) == 0 &&
			      strcmp(best->rack, o->rack) != 0))
			best = n;
	}
	if (!best) {
		if (!checked)
			loom_err_set(err, LOOM_E_NOT_FOUND, "new",
				     "no available node to replace %s: add nodes to the pool or name one", old_node);
		else
			loom_err_set(err, LOOM_E_NOT_FOUND, "new",
				     "none of the %zu available node(s) is compatible with %s; e.g. %s: %s",
				     checked, old_node, first_bad, first_why.n ? first_why.reason[0] : "?");
		return -ENOENT;
	}
	snprintf(out, out_size, "%s", best->name);
	return 0;
}

int replace_map_port(const struct topo_node *old_n, const struct topo_node *new_n,
		     const char *port, char *out, size_t out_size)
{
	char cls[LOOM_NAME_MAX * 2], c2[LOOM_NAME_MAX * 2];
	const struct topo_nic_port *np;
	const struct topo_hca_port *hp;
	size_t idx = 0;

	if (!port[0]) {
		snprintf(out, out_size, "%s", "");
		return 0;
	}
	np = topo_node_nic_port(old_n, port);
	if (np) {
		nic_class(np, cls, sizeof(cls));
		for (const struct topo_nic_port *p = old_n->nic_ports; p < np; p++) {
			nic_class(p, c2, sizeof(c2));
			idx += strcmp(c2, cls) == 0;
		}
		np = nic_nth(new_n, cls, idx);
		if (!np)
			return -ENOENT;
		snprintf(out, out_size, "%s", np->name);
		return 0;
	}
	hp = topo_node_hca_port(old_n, port);
	if (!hp)
		return -ENOENT;
	hca_class(hp, cls, sizeof(cls));
	for (const struct topo_hca_port *p = old_n->hca_ports; p < hp; p++) {
		hca_class(p, c2, sizeof(c2));
		idx += strcmp(c2, cls) == 0;
	}
	hp = hca_nth(new_n, cls, idx);
	if (!hp)
		return -ENOENT;
	snprintf(out, out_size, "%s", hp->name);
	return 0;
}

static int plan_push(struct replace_plan *p, size_t *cap, enum replace_step_kind k,
		     const struct attachment *att, const char *node)
{
	struct replace_step *s;

	if (ARRAY_GROW(p->steps, *cap, p->n_steps + 1))
		return -ENOMEM;
	s = &p->steps[p->n_steps++];
	memset(s, 0, sizeof(*s));
	s->kind = k;
	if (att)
		s->att = *att;
	snprintf(s->att.node, sizeof(s->att.node), "%s", node);
	return 0;
}

int replace_plan_build(const struct topology *topo, const char *old_node,
		       enum node_state old_state, const char *new_node,
		       const struct attachment *atts, size_t n_atts,
		       struct replace_plan *plan, struct loom_err *err)
{
	const struct topo_node *o = topology_node(topo, old_node);
	const struct topo_node *n = topology_node(topo, new_node);
	struct attachment moved;
	size_t cap = 0;
	int rc = 0;

	memset(plan, 0, sizeof(*plan));
	if (!o || !n)
		return loom_err_set(err, LOOM_E_NOT_FOUND, o ? "new" : "old",
				    "node '%s' is not in the topology", o ? new_node : old_node);
	snprintf(plan->old_node, sizeof(plan->old_node), "%s", old_node);
	snprintf(plan->new_node, sizeof(plan->new_node), "%s", new_node);
	/* Map every port first: a plan that cannot finish must not start. */
	for (size_t i = 0; i < n_atts; i++) {
		char port[LOOM_NAME_MAX];

		if (strcmp(atts[i].node, old_node) != 0)
			continue;
		if (replace_map_port(o, n, atts[i].port, port, sizeof(port)) < 0)
			return loom_err_set(err, LOOM_E_POLICY, "new",
					    "%s has no port matching %s's %s (attached to %s/%s)",
					    new_node, old_node, atts[i].port, atts[i].tenant,
					    atts[i].segment);
	}
	if (old_state == NODE_ASSIGNED || old_state == NODE_AVAILABLE)
		rc = plan_push(plan, &cap, RS_CORDON_OLD, NULL, old_node);
	for (size_t i = 0; !rc && i < n_atts; i++)
		if (strcmp(atts[i].node, old_node) == 0)
			rc = plan_push(plan, &cap, RS_DETACH, &atts[i], old_node);
	/* Nothing of NEW joins before every target has OLD out: detach before attach. */
	if (!rc)
		rc = plan_push(plan, &cap, RS_VERIFY_REMOVED, NULL, old_node);
	if (!rc) {
		memset(&moved, 0, sizeof(moved));
		for (size_t i = 0; i < n_atts; i++)
			if (strcmp(atts[i].node, old_node) == 0) {
				snprintf(moved.tenant, sizeof(moved.tenant), "%s", atts[i].tenant);
				break;
			}
		rc = plan_push(plan, &cap, RS_ASSIGN_NEW, &moved, new_node);
	}
	for (size_t i = 0; !rc && i < n_atts; i++) {
		if (strcmp(atts[i].node, old_node) != 0)
			continue;
		moved = atts[i];
		replace_map_port(o, n, atts[i].port, moved.port, sizeof(moved.port));
		rc = plan_push(plan, &cap, RS_ATTACH, &moved, new_node);
	}
	if (!rc)
		rc = plan_push(plan, &cap, RS_VERIFY_ATTACHED, NULL, new_node);
	if (rc)
		replace_plan_release(plan);
	return rc;
}

void replace_plan_release(struct replace_plan *plan)
{
	free(plan->steps);
	plan->steps = NULL;
	plan->n_steps = 0;
}

const char *replace_step_kind_name(enum replace_step_kind k)
{
	switch (k) {
	case RS_CORDON_OLD: return "cordon-old";
	case RS_DETACH: return "detach";
	case RS_VERIFY_REMOVED: return "verify-removed";
	case RS_ASSIGN_NEW: return "assign-new";
	case RS_ATTACH: return "attach";
	case RS_VERIFY_ATTACHED: return "verify-attached";
	}
	return "unknown";
}

int replace_step_describe(const struct replace_step *s, const char *old_node,
			  const char *new_node, char *buf, size_t size)
{
	const char *port = s->att.port[0] ? s->att.port : "every port";

	switch (s->kind) {
	case RS_CORDON_OLD:
		return snprintf(buf, size, "cordon %s", old_node);
	case RS_DETACH:
		return snprintf(buf, size, "detach %s (%s) from %s/%s", s->att.node, port,
				s->att.tenant, s->att.segment);
	case RS_VERIFY_REMOVED:
		return snprintf(buf, size, "wait until every target verified %s out of its tenant's segments",
				old_node);
	case RS_ASSIGN_NEW:
		return snprintf(buf, size, "assign %s", new_node);
	case RS_ATTACH:
		return snprintf(buf, size, "attach %s (%s) to %s/%s", s->att.node, port,
				s->att.tenant, s->att.segment);
	case RS_VERIFY_ATTACHED:
		return snprintf(buf, size, "wait until every target verified %s in", new_node);
	}
	return snprintf(buf, size, "?");
}

json_t *replace_plan_to_json(const struct replace_plan *plan)
{
	json_t *steps = json_array(), *o;

	if (!steps)
		return NULL;
	for (size_t i = 0; i < plan->n_steps; i++) {
		const struct replace_step *s = &plan->steps[i];
		char text[256];

		replace_step_describe(s, plan->old_node, plan->new_node, text, sizeof(text));
		if (json_array_append_new(steps, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s}",
							   "step", (json_int_t)(i + 1),
							   "kind", replace_step_kind_name(s->kind),
							   "node", s->att.node, "tenant", s->att.tenant,
							   "segment", s->att.segment, "port", s->att.port,
							   "text", text))) {
			json_decref(steps);
			return NULL;
		}
	}
	o = json_pack("{s:s, s:s, s:o}", "old", plan->old_node, "new", plan->new_node,
		      "steps", steps);
	return o;
}

json_t *replace_why_to_json(const struct replace_why *why)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < why->n; i++)
		if (json_array_append_new(a, json_string(why->reason[i]))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

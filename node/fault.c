/*
 * node/fault.c: the fault policy (node/fault.h): watchers' signals into fault
 * events, the per-severity action, and the hold-down against flapping.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/array.h"
#include "lib/param.h"
#include "node/fault.h"

static const char *const component_names[FAULT_COMPONENT_COUNT] = {
	"gpu", "hca", "nic", "transceiver", "psu", "other",
};
static const char *const severity_names[FAULT_SEVERITY_COUNT] = {
	"info", "warning", "critical",
};
static const char *const source_names[FAULT_SOURCE_COUNT] = {
	"report", "carrier", "port-state", "symbol-errors", "link-downed", "link-recovery",
};
static const char *const action_names[FAULT_ACTION_COUNT] = {
	"record", "cordon", "replace",
};

static int parse_name(const char *const *names, unsigned int n, const char *s)
{
	for (unsigned int i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

const char *fault_component_name(enum fault_component c)
{
	return (unsigned int)c < FAULT_COMPONENT_COUNT ? component_names[c] : "unknown";
}

int fault_component_parse(const char *s, enum fault_component *out)
{
	int i = parse_name(component_names, FAULT_COMPONENT_COUNT, s);

	if (i < 0)
		return i;
	*out = (enum fault_component)i;
	return 0;
}

const char *fault_severity_name(enum fault_severity s)
{
	return (unsigned int)s < FAULT_SEVERITY_COUNT ? severity_names[s] : "unknown";
}

int fault_severity_parse(const char *s, enum fault_severity *out)
{
	int i = parse_name(severity_names, FAULT_SEVERITY_COUNT, s);

	if (i < 0)
		return i;
	*out = (enum fault_severity)i;
	return 0;
}

const char *fault_source_name(enum fault_source s)
{
	return (unsigned int)s < FAULT_SOURCE_COUNT ? source_names[s] : "unknown";
}

int fault_source_parse(const char *s, enum fault_source *out)
{
	int i = parse_name(source_names, FAULT_SOURCE_COUNT, s);

	if (i < 0)
		return i;
	*out = (enum fault_source)i;
	return 0;
}

const char *fault_action_name(enum fault_action a)
{
	return (unsigned int)a < FAULT_ACTION_COUNT ? action_names[a] : "unknown";
}

int fault_action_parse(const char *s, enum fault_action *out)
{
	int i = parse_name(action_names, FAULT_ACTION_COUNT, s);

	if (i < 0)
		return i;
	*out = (enum fault_action)i;
	return 0;
}

void fault_policy_defaults(struct fault_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->on[FAULT_INFO] = FAULT_ACT_RECORD;
	p->on[FAULT_WARNING] = FAULT_ACT_RECORD;
	p->on[FAULT_CRITICAL] = FAULT_ACT_CORDON;
	p->hold_down_s = 300;
	p->symbol_errors = 10;
	p->link_downed = 1;
	p->link_recovery = 1;
	p->carrier_severity = FAULT_CRITICAL;
	p->port_state_severity = FAULT_CRITICAL;
	p->counter_severity = FAULT_WARNING;
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int fault_policy_set(struct fault_policy *p, const char *key, const char *value,
		     struct loom_err *err)
{
	static const struct {
		const char *key;
		size_t off;
	} counters[] = {
		{ "fault.symbol_errors", offsetof(struct fault_policy, symbol_errors) },
		{ "fault.link_downed", offsetof(struct fault_policy, link_downed) },
		{ "fault.link_recovery", offsetof(struct fault_policy, link_recovery) },
	};
	static const struct {
		const char *key;
		size_t off;
	} severities[] = {
		{ "fault.carrier_severity", offsetof(struct fault_policy, carrier_severity) },
		{ "fault.port_state_severity", offsetof(struct fault_policy, port_state_severity) },
		{ "fault.counter_severity", offsetof(struct fault_policy, counter_severity) },
	};
	enum fault_severity sev;
	enum fault_action act;
	uint32_t n;

	if (strncmp(key, "fault.", 6) != 0)
		return -ENOENT;
	if (fault_severity_parse(key + 6, &sev) == 0) {
		if (fault_action_parse(value, &act) < 0)
			return loom_err_set(err, LOOM_E_CONFIG, key,
					    "'%s' is not an action: use record, cordon or replace", value);
		p->on[sev] = act;
		return 0;
	}
	if (strcmp(key, "fault.hold_down") == 0) {
		if (parse_u32(value, &n) < 0 || n > 7 * 24 * 3600)
			return loom_err_set(err, LOOM_E_CONFIG, key,
					    "'%s' is not a number of seconds from 0 to 604800", value);
		p->hold_down_s = n;
		return 0;
	}
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		if (strcmp(key, counters[i].key) != 0)
			continue;
		if (parse_u32(value, &n) < 0)
			return loom_err_set(err, LOOM_E_CONFIG, key,
					    "'%s' is not a count (0 turns the check off)", value);
		memcpy((char *)p + counters[i].off, &n, sizeof(n));
		return 0;
	}
	for (size_t i = 0; i < sizeof(severities) / sizeof(severities[0]); i++) {
		if (strcmp(key, severities[i].key) != 0)
			continue;
		if (fault_severity_parse(value, &sev) < 0)
			return loom_err_set(err, LOOM_E_CONFIG, key,
					    "'%s' is not a severity: use info, warning or critical", value);
		memcpy((char *)p + severities[i].off, &sev, sizeof(sev));
		return 0;
	}
	return -ENOENT;
}

int fault_event_check(const struct fault_event *ev, const struct topology *topo,
		      struct loom_err *err)
{
	const struct topo_node *n;

	if ((unsigned int)ev->component >= FAULT_COMPONENT_COUNT)
		return loom_err_set(err, LOOM_E_PARAMS, "component",
				    "use gpu, hca, nic, transceiver, psu or other");
	if ((unsigned int)ev->severity >= FAULT_SEVERITY_COUNT)
		return loom_err_set(err, LOOM_E_PARAMS, "severity",
				    "use info, warning or critical");
	n = topo ? topology_node(topo, ev->node) : NULL;
	if (!n && topo && topology_foreign(topo, TOPO_NODE, ev->node, "node", err))
		return -EPERM;
	if (!n)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "node",
				    "node '%s' is not in the topology", ev->node);
	if (ev->port[0] && !topo_node_nic_port(n, ev->port) && !topo_node_hca_port(n, ev->port))
		return loom_err_set(err, LOOM_E_NOT_FOUND, "port",
				    "node '%s' has no NIC or HCA port '%s'", ev->node, ev->port);
	return 0;
}

static void event_fill(struct fault_event *out, enum fault_source src,
		       enum fault_component comp, enum fault_severity sev,
		       const char *node, const char *port, int64_t now)
{
	memset(out, 0, sizeof(*out));
	out->source = src;
	out->component = comp;
	out->severity = sev;
	snprintf(out->node, sizeof(out->node), "%s", node);
	snprintf(out->port, sizeof(out->port), "%s", port ? port : "");
	out->time = now;
}

int fault_from_carrier(const struct fault_policy *p, const char *node,
		       const char *port, bool carrier_up, int64_t now,
		       struct fault_event *out)
{
	if (carrier_up)
		return 0;
	event_fill(out, FAULT_SRC_CARRIER, FAULT_NIC, p->carrier_severity, node, port, now);
	snprintf(out->text, sizeof(out->text), "carrier lost on %s's access port %s",
		 node, port);
	return 1;
}

int fault_from_port_state(const struct fault_policy *p, const char *node,
			  const char *port, unsigned int state, int64_t now,
			  struct fault_event *out)
{
	static const char *const names[] = { "NoChange", "Down", "Init", "Armed", "Active" };

	if (state == 4)
		return 0;
	event_fill(out, FAULT_SRC_PORT_STATE, FAULT_HCA, p->port_state_severity, node, port, now);
	snprintf(out->text, sizeof(out->text), "HCA port %s of %s is %s, not Active",
		 port, node, state < sizeof(names) / sizeof(names[0]) ? names[state] : "in an unknown state");
	return 1;
}

static uint32_t rise(uint32_t prev, uint32_t cur)
{
	/* Cleared or wrapped (the wire counters saturate at 16/8 bits and
	 * watchers clear them): count what is there now. */
	return cur >= prev ? cur - prev : cur;
}

size_t fault_from_counters(const struct fault_policy *p, const char *node,
			   const char *port, const struct ib_port_counters *prev,
			   const struct ib_port_counters *cur, int64_t now,
			   struct fault_event *out, size_t max)
{
	const struct {
		enum fault_source src;
		const char *name;
		uint32_t delta, threshold;
	} c[] = {
		{ FAULT_SRC_SYMBOL_ERR, "SymbolErrorCounter",
		  rise(prev->symbol_errors, cur->symbol_errors), p->symbol_errors },
		{ FAULT_SRC_LINK_DOWNED, "LinkDownedCounter",
		  rise(prev->link_downed, cur->link_downed), p->link_downed },
		{ FAULT_SRC_LINK_RECOVERY, "LinkErrorRecoveryCounter",
		  rise(prev->link_recovery, cur->link_recovery), p->link_recovery },
	};
	size_t n = 0;

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]) && n < max; i++) {
		if (!c[i].threshold || c[i].delta < c[i].threshold)
			continue;
		event_fill(&out[n], c[i].src, FAULT_HCA, p->counter_severity, node, port, now);
		snprintf(out[n].text, sizeof(out[n].text),
			 "%s of HCA port %s on %s rose by %" PRIu32 " (threshold %" PRIu32 ")",
			 c[i].name, port, node, c[i].delta, c[i].threshold);
		n++;
	}
	return n;
}

static struct fault_mark *mark_find(struct fault_history *h, const struct fault_event *ev)
{
	for (size_t i = 0; i < h->n; i++) {
		struct fault_mark *m = &h->marks[i];

		if (m->source == ev->source && m->component == ev->component &&
		    strcmp(m->node, ev->node) == 0 && strcmp(m->port, ev->port) == 0)
			return m;
	}
	return NULL;
}

/* A new mark at the end of @hist; marks past their hold-down go first. */
static struct fault_mark *mark_add(struct fault_history *hist, const char *node, const char *port,
				   enum fault_source source, enum fault_component component,
				   unsigned int hold_down_s, int64_t now)
{
	struct fault_mark *m;

	if (hist->n == hist->cap)
		fault_history_prune(hist, hold_down_s, now);
	if (ARRAY_GROW(hist->marks, hist->cap, hist->n + 1))
		return NULL;
	m = &hist->marks[hist->n++];
	memset(m, 0, sizeof(*m));
	snprintf(m->node, sizeof(m->node), "%s", node);
	snprintf(m->port, sizeof(m->port), "%s", port);
	m->source = source;
	m->component = component;
	return m;
}

int fault_policy_decide(const struct fault_policy *p, struct fault_history *hist,
			const struct fault_event *ev, int64_t now,
			struct fault_decision *out)
{
	enum fault_action wanted;
	struct fault_mark *m;

	memset(out, 0, sizeof(*out));
	wanted = (unsigned int)ev->severity < FAULT_SEVERITY_COUNT ?
		p->on[ev->severity] : FAULT_ACT_RECORD;
	out->wanted = wanted;
	out->action = wanted;
	if (wanted == FAULT_ACT_RECORD) {
		snprintf(out->reason, sizeof(out->reason),
			 "%s %s fault on %s: policy records %s faults only",
			 fault_severity_name(ev->severity), fault_component_name(ev->component),
			 ev->node, fault_severity_name(ev->severity));
		return 0;
	}
	m = mark_find(hist, ev);
	if (m && now >= m->acted_at && now - m->acted_at < (int64_t)p->hold_down_s) {
		m->suppressed++;
		out->action = FAULT_ACT_RECORD;
		out->held_down = true;
		out->hold_until = m->acted_at + p->hold_down_s;
		snprintf(out->reason, sizeof(out->reason),
			 "%s on %s%s%s acted %" PRId64 " s ago; held down until %" PRId64 " (repeat %u): recorded only",
			 fault_source_name(ev->source), ev->node, ev->port[0] ? " port " : "",
			 ev->port, now - m->acted_at, out->hold_until, m->suppressed);
		return 0;
	}
	if (!m) {
		m = mark_add(hist, ev->node, ev->port, ev->source, ev->component, p->hold_down_s, now);
		if (!m)
			return -ENOMEM;
	}
	m->acted_at = now;
	m->suppressed = 0;
	out->acted = m;
	snprintf(out->reason, sizeof(out->reason), "%s %s fault on %s (%s): policy says %s",
		 fault_severity_name(ev->severity), fault_component_name(ev->component),
		 ev->node, fault_source_name(ev->source), fault_action_name(wanted));
	return 0;
}

json_t *fault_mark_to_json(const struct fault_mark *m)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:I}", "node", m->node, "port", m->port,
			 "source", fault_source_name(m->source),
			 "component", fault_component_name(m->component),
			 "acted_at", (json_int_t)m->acted_at);
}

int fault_mark_key(const struct fault_mark *m, char *buf, size_t len)
{
	int n = snprintf(buf, len, "fault.hold.%s|%s|%s|%s", m->node, m->port,
			 fault_source_name(m->source), fault_component_name(m->component));

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int fault_history_restore(struct fault_history *hist, const json_t *j, unsigned int hold_down_s, int64_t now)
{
	const char *node = NULL, *port = NULL, *source = NULL, *component = NULL;
	json_int_t acted_at = 0;
	struct fault_event key = { 0 };
	struct fault_mark *m;

	if (json_unpack((json_t *)j, "{s:s, s:s, s:s, s:s, s:I}", "node", &node, "port", &port,
			"source", &source, "component", &component, "acted_at", &acted_at) ||
	    !*node || strlen(node) >= sizeof(key.node) || strlen(port) >= sizeof(key.port) ||
	    fault_source_parse(source, &key.source) || fault_component_parse(component, &key.component))
		return -EINVAL;
	if (acted_at > now || now - acted_at >= (int64_t)hold_down_s)
		return 0;
	snprintf(key.node, sizeof(key.node), "%s", node);
	snprintf(key.port, sizeof(key.port), "%s", port);
	m = mark_find(hist, &key);
	if (m && m->acted_at >= acted_at)
		return 0;
	if (!m) {
		m = mark_add(hist, node, port, key.source, key.component, hold_down_s, now);
		if (!m)
			return -ENOMEM;
	}
	m->acted_at = acted_at;
	m->suppressed = 0;
	return 1;
}

size_t fault_history_prune(struct fault_history *hist, unsigned int hold_down_s, int64_t now)
{
	size_t kept = 0, dropped;

	for (size_t i = 0; i < hist->n; i++) {
		const struct fault_mark *m = &hist->marks[i];

		if (now >= m->acted_at && now - m->acted_at >= (int64_t)hold_down_s)
			continue;
		hist->marks[kept++] = *m;
	}
	dropped = hist->n - kept;
	hist->n = kept;
	return dropped;
}

void fault_history_release(struct fault_history *hist)
{
	free(hist->marks);
	hist->marks = NULL;
	hist->n = hist->cap = 0;
}

size_t fault_action_events(enum fault_action a, enum node_state s,
			   const struct lifecycle_ctx *ctx,
			   enum node_event out[4], bool *replace)
{
	size_t n = 0;

	*replace = false;
	switch (a) {
	case FAULT_ACT_RECORD:
	case FAULT_ACTION_COUNT:
		break;
	case FAULT_ACT_CORDON:
		if (s == NODE_AVAILABLE || s == NODE_ASSIGNED)
			out[n++] = NODE_EV_CORDON;
		break;
	case FAULT_ACT_REPLACE:
		switch (s) {
		case NODE_ASSIGNED:
			out[n++] = NODE_EV_CORDON;
			out[n++] = NODE_EV_FAIL;
			*replace = true;
			break;
		case NODE_CORDONED:
			out[n++] = NODE_EV_FAIL;
			*replace = ctx && ctx->attached;
			break;
		case NODE_AVAILABLE:
		case NODE_REGISTERED:
		case NODE_VERIFYING:
			/* Nothing to replace: it served no tenant. */
			out[n++] = NODE_EV_FAIL;
			break;
		case NODE_DRAINING:
			if (!ctx || ctx->goal != NODE_FAILED)
				out[n++] = NODE_EV_FAIL;
			break;
		case NODE_FAILED:
		case NODE_RETIRED:
		case NODE_QUARANTINED:
		case NODE_STATE_COUNT:
			break;
		}
		break;
	}
	return n;
}

int fault_event_from_json(const json_t *params, int64_t now, struct fault_event *out,
			  struct loom_err *err)
{
	static const char *const keys[] = { "node", "component", "severity", "text", "port", "time", NULL };
	char word[32];
	const json_t *v;
	int rc;

	if (!json_is_object(params))
		return loom_err_set(err, LOOM_E_PARAMS, "", "params must be an object");
	if (params_only(params, keys, err))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->source = FAULT_SRC_REPORT;
	out->time = now;
	rc = param_text(params, "node", true, out->node, sizeof(out->node), err);
	if (!rc && !topology_name_ok(out->node))
		rc = loom_err_set(err, LOOM_E_PARAMS, "node", "\"%s\" is not a node name", out->node);
	if (!rc)
		rc = param_text(params, "component", true, word, sizeof(word), err);
	if (!rc && fault_component_parse(word, &out->component) < 0)
		rc = loom_err_set(err, LOOM_E_PARAMS, "component",
				  "\"%s\": use gpu, hca, nic, transceiver, psu or other", word);
	if (!rc)
		rc = param_text(params, "severity", true, word, sizeof(word), err);
	if (!rc && fault_severity_parse(word, &out->severity) < 0)
		rc = loom_err_set(err, LOOM_E_PARAMS, "severity",
				  "\"%s\": use info, warning or critical", word);
	if (!rc)
		rc = param_text(params, "text", false, out->text, sizeof(out->text), err);
	if (!rc)
		rc = param_text(params, "port", false, out->port, sizeof(out->port), err);
	if (rc)
		return rc;
	v = json_object_get(params, "time");
	if (v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return loom_err_set(err, LOOM_E_PARAMS, "time",
					    "\"time\" must be seconds since the epoch (an integer >= 0)");
		out->time = json_integer_value(v);
	}
	return 0;
}

json_t *fault_event_to_json(const struct fault_event *ev)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s}",
			 "node", ev->node, "port", ev->port,
			 "source", fault_source_name(ev->source),
			 "component", fault_component_name(ev->component),
			 "severity", fault_severity_name(ev->severity),
			 "time", (json_int_t)ev->time, "text", ev->text);
}

json_t *fault_decision_to_json(const struct fault_decision *d)
{
	json_t *o = json_pack("{s:s, s:s, s:b, s:s}",
			      "action", fault_action_name(d->action),
			      "wanted", fault_action_name(d->wanted),
			      "held_down", d->held_down, "reason", d->reason);

	if (o && d->held_down && json_object_set_new(o, "hold_until", json_integer(d->hold_until))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/*
 * src/watch.c: loomd's own fault watchers, on the main thread.  What the
 * targets' handles saw (carrier of the nodes' access ports on a VTEP, the
 * nodes' HCA ports sampled by a subnet manager's worker) becomes a
 * struct fault_event through fault_from_*, and then goes the one way every
 * fault goes: loomd_fault_raise, the same path as node.fault.
 *
 * In cluster mode the same signals come from the agents, through etcd
 * (PREFIX/signal/AGENT/SEQ, targets/remote.h): each is checked (its key,
 * every field, the node and port it names) and turned into the same
 * events by the same code.  The last SEQ acted on per agent is stored
 * (kv "cluster.signal.AGENT") with the fault it raised, in the same
 * savepoint: a signal read again (a restarted loomd, a compacted watch)
 * or written again (an agent's retry) is not acted on twice.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/keys.h"
#include "lib/log.h"
#include "lib/monotime.h"
#include "src/api_fault.h"
#include "src/reconcile.h"
#include "src/watch.h"
#include "targets/remote.h"

/* The node and NIC port behind a VTEP's access port, or NULL. */
static const struct topo_node *access_port_owner(const struct topology *topo, const char *vtep,
						 const char *access_port, const struct topo_nic_port **port)
{
	for (size_t i = 0; i < topo->n_nodes; i++)
		for (size_t k = 0; k < topo->nodes[i].n_nic_ports; k++) {
			const struct topo_nic_port *p = &topo->nodes[i].nic_ports[k];

			if (strcmp(p->vtep, vtep) == 0 && strcmp(p->access_port, access_port) == 0) {
				*port = p;
				return &topo->nodes[i];
			}
		}
	return NULL;
}

/*
 * A carrier change as a fault: 1 with *fe filled, 0 when it is none (the
 * carrier came back: logged), -ENOENT when no node's NIC port is cabled
 * to that access port.
 */
static int carrier_fault(struct loomd *d, const struct carrier_change *ch, int64_t now, struct fault_event *fe)
{
	const struct topo_nic_port *p = NULL;
	const struct topo_node *node = access_port_owner(d->topo, ch->vtep, ch->access_port, &p);

	if (!node)
		return -ENOENT;
	if (!fault_from_carrier(&d->fault_policy, node->name, p->name, ch->up, now, fe)) {
		log_info("carrier back on %s's access port %s (%s %s)", node->name, p->name, ch->vtep,
			 ch->access_port);
		return 0;
	}
	snprintf(fe->text, sizeof(fe->text), "carrier lost on %s's access port %s (%s %s)", node->name, p->name,
		 ch->vtep, ch->access_port);
	return 1;
}

/* An HCA watcher's signal as faults (at most 3); returns how many. */
static size_t hca_faults(struct loomd *d, const struct hca_signal *s, int64_t now, struct fault_event fe[3])
{
	size_t n_fe;

	if (s->counters)
		return fault_from_counters(&d->fault_policy, s->node, s->port, &s->prev, &s->cur, now, fe, 3);
	/* Not answering is a port that cannot be Active. */
	n_fe = (size_t)fault_from_port_state(&d->fault_policy, s->node, s->port, s->result ? 1 : s->state, now, fe);
	if (n_fe && s->result)
		snprintf(fe[0].text, sizeof(fe[0].text),
			 "HCA port %s of %s does not answer PortInfo through %s (%s): its link is down or the node is gone",
			 s->port, s->node, s->sm,
			 s->result == -ENOENT ? "no longer in the fabric" : strerror(-s->result));
	return n_fe;
}

void loomd_watch_carrier(struct loomd *d, size_t i)
{
	struct carrier_change ch[16];
	size_t n;

	if (!d->rec)
		return;
	while ((n = reconciler_carrier_take(d->rec, i, ch, sizeof(ch) / sizeof(ch[0]))) > 0) {
		for (size_t k = 0; k < n; k++) {
			struct fault_event fe;

			/* -ENOENT: the topology changed since the watch was set. */
			if (carrier_fault(d, &ch[k], realtime_ns() / 1000000000, &fe) == 1)
				loomd_fault_raise(d, &fe);
		}
		if (n < sizeof(ch) / sizeof(ch[0]))
			break;
	}
}

void loomd_watch_hca(struct loomd *d)
{
	struct hca_signal sig[16];
	size_t n;

	if (!d->rec)
		return;
	while ((n = reconciler_hca_take(d->rec, sig, sizeof(sig) / sizeof(sig[0]))) > 0) {
		for (size_t k = 0; k < n; k++) {
			struct fault_event fe[3];
			size_t n_fe;

			if (!topology_node(d->topo, sig[k].node))
				continue;	/* the topology changed since the sample */
			n_fe = hca_faults(d, &sig[k], realtime_ns() / 1000000000, fe);
			for (size_t i = 0; i < n_fe; i++)
				loomd_fault_raise(d, &fe[i]);
		}
		if (n < sizeof(sig) / sizeof(sig[0]))
			break;
	}
}

/* ---- the agents' signals (cluster mode) ------------------------------------------ */

/* The last SEQ of @agent's acted on: from memory, else from the store. */
static uint64_t signal_applied(struct loomd *d, const char *agent)
{
	char key[LOOM_NAME_MAX + 32], *v = NULL;
	json_t *j;
	uint64_t seq = 0;

	if (!d->signals_applied && !(d->signals_applied = json_object()))
		return 0;
	j = json_object_get(d->signals_applied, agent);
	if (j)
		return (uint64_t)json_integer_value(j);
	snprintf(key, sizeof(key), "cluster.signal.%s", agent);
	if (store_kv_get(d->store, key, &v) == 0 && v)
		seq = strtoull(v, NULL, 10);
	free(v);
	json_object_set_new(d->signals_applied, agent, json_integer((json_int_t)seq));
	return seq;
}

static void signal_applied_set(struct loomd *d, const char *agent, uint64_t seq)
{
	if (d->signals_applied)
		json_object_set_new(d->signals_applied, agent, json_integer((json_int_t)seq));
}

/* The fields of a decoded signal against the topology; -EINVAL naming the field. */
static int signal_check(struct loomd *d, const char *agent, const struct cluster_signal *cs, struct loom_err *err)
{
	const struct topo_node *node;

	if (cs->kind == CLUSTER_SIG_CARRIER) {
		const struct topo_nic_port *p = NULL;

		if (!topology_vtep(d->topo, agent))
			return loom_err_set(err, LOOM_E_PARAMS, "kind",
					    "kind: a carrier signal from \"%s\", which is not a VTEP", agent);
		if (!access_port_owner(d->topo, agent, cs->carrier.access_port, &p))
			return loom_err_set(err, LOOM_E_NOT_FOUND, "access_port",
					    "access_port: no node's NIC port is cabled to %s's \"%s\"", agent,
					    cs->carrier.access_port);
		return 0;
	}
	if (!topology_sm(d->topo, agent))
		return loom_err_set(err, LOOM_E_PARAMS, "kind",
				    "kind: an HCA signal from \"%s\", which is not a subnet manager", agent);
	node = topology_node(d->topo, cs->hca.node);
	if (!node)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "node", "node: the topology has no node \"%s\"",
				    cs->hca.node);
	for (size_t i = 0; i < node->n_hca_ports; i++) {
		if (strcmp(node->hca_ports[i].name, cs->hca.port))
			continue;
		if (strcmp(node->hca_ports[i].sm, agent))
			return loom_err_set(err, LOOM_E_PARAMS, "port",
					    "port: %s's HCA port \"%s\" is under subnet manager %s, not %s",
					    cs->hca.node, cs->hca.port, node->hca_ports[i].sm, agent);
		return 0;
	}
	return loom_err_set(err, LOOM_E_NOT_FOUND, "port", "port: node %s has no HCA port \"%s\"", cs->hca.node,
			    cs->hca.port);
}

static void remote_signal_apply(struct loomd *d, const struct remote_signal *rs)
{
	char agent[LOOM_NAME_MAX], ack_key[LOOM_NAME_MAX + 32], ack[24];
	struct loom_err err = { 0 };
	struct cluster_signal cs;
	struct fault_event fe[3];
	uint64_t seq, applied;
	size_t n_fe = 0;

	if (cluster_signal_key_parse(rs->key, d->cfg.cluster_prefix, agent, sizeof(agent), &seq, &err))
		goto refused;
	if (!topology_vtep(d->topo, agent) && !topology_sm(d->topo, agent)) {
		loom_err_set(&err, LOOM_E_NOT_FOUND, "key", "key: the topology has no VTEP or subnet manager \"%s\"",
			     agent);
		goto refused;
	}
	applied = signal_applied(d, agent);
	if (seq <= applied) {
		log_debug(LOG_SUB_RECONCILE, "signal %s: acted on already (up to %016" PRIx64 ")", rs->key, applied);
		return;
	}
	signal_applied_set(d, agent, seq);
	if (cluster_signal_decode(agent, seq, rs->value, rs->len, &cs, &err) || signal_check(d, agent, &cs, &err))
		goto refused;
	if (applied && cs.previous && cs.previous > applied)
		log_warn("signals of agent %s after %016" PRIx64 " up to %016" PRIx64 " were gone before loomd read "
			 "them (an agent keeps its newest %u)", agent, applied, cs.previous, CLUSTER_SIGNAL_KEEP);
	if (cs.kind == CLUSTER_SIG_CARRIER)
		n_fe = carrier_fault(d, &cs.carrier, cs.time, &fe[0]) == 1;
	else
		n_fe = hca_faults(d, &cs.hca, cs.time, fe);
	snprintf(ack_key, sizeof(ack_key), "cluster.signal.%s", agent);
	snprintf(ack, sizeof(ack), "%" PRIu64, seq);
	for (size_t i = 0; i < n_fe; i++) {
		/* "agent NAME": where it was seen, for the node's history. */
		size_t len = strlen(fe[i].text);

		snprintf(fe[i].text + len, sizeof(fe[i].text) - len, " (agent %s)", agent);
		loomd_fault_raise_acked(d, &fe[i], rs->key, ack_key, ack);
	}
	return;
refused:
	log_err("signal %s refused: %s%s%s%s; nothing changed", rs->key, err.msg, err.field[0] ? " (field " : "",
		err.field, err.field[0] ? ")" : "");
}

void loomd_watch_remote(struct loomd *d)
{
	struct remote_signal sig[16];
	size_t n;

	if (!d->rec || !d->cfg.cluster_etcd[0])
		return;
	while ((n = remote_signals_take(d->rec, sig, sizeof(sig) / sizeof(sig[0]))) > 0) {
		for (size_t k = 0; k < n; k++) {
			remote_signal_apply(d, &sig[k]);
			remote_signal_clear(&sig[k]);
		}
		if (n < sizeof(sig) / sizeof(sig[0]))
			break;
	}
}

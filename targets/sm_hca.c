/*
 * targets/sm_hca.c: the HCA watcher of a subnet manager target.  Between
 * runs, every interval, the SM's worker samples the nodes' HCA ports under
 * it (PortInfo and PortCounters through its umad port) and compares each
 * with the last sample; a port leaving Active and a change of its error
 * counters become signals the main thread takes (reconciler_hca_take).
 *
 * The ports' samples are the worker's; the interval, the next sample's
 * time and the signals are under the reconciler's lock.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fabric/smt.h"
#include "lib/log.h"
#include "lib/monotime.h"
#include "src/reconcile.h"
#include "targets/sm.h"

/* Signals kept for the main thread; nobody taking them: drop rather than
 * grow for ever. */
#define HCA_SIGNALS_MAX 65536

/* One HCA port the watcher samples. */
struct hca_port {
	char node[LOOM_NAME_MAX];
	char port[LOOM_NAME_MAX];
	uint64_t guid;
	bool known;		/* a first sample was taken */
	bool bad;		/* not Active or not answering at the last sample */
	unsigned int misses;	/* samples in a row without an answer */
	bool counters_known;
	struct ib_port_counters ctr;
};

struct sm_hca {
	struct hca_port *ports;
	size_t n_ports;
	/* Under reconciler_lock. */
	unsigned int interval_s;	/* 0 = off */
	int64_t next_sample_ns;		/* CLOCK_MONOTONIC; 0 = take one at the next chance */
	struct hca_signal *signals;	/* not taken yet */
	size_t n_signals, cap_signals;
};

int sm_hca_new(const struct topology *topo, const char *sm, struct sm_hca **out)
{
	struct sm_hca *h;
	size_t n = 0;

	*out = NULL;
	for (size_t i = 0; i < topo->n_nodes; i++)
		for (size_t k = 0; k < topo->nodes[i].n_hca_ports; k++)
			n += strcmp(topo->nodes[i].hca_ports[k].sm, sm) == 0;
	if (!n)
		return 0;
	h = calloc(1, sizeof(*h));
	if (!h || !(h->ports = calloc(n, sizeof(*h->ports)))) {
		free(h);
		return -ENOMEM;
	}
	for (size_t i = 0; i < topo->n_nodes; i++)
		for (size_t k = 0; k < topo->nodes[i].n_hca_ports; k++) {
			const struct topo_hca_port *p = &topo->nodes[i].hca_ports[k];
			struct hca_port *w = &h->ports[h->n_ports];

			if (strcmp(p->sm, sm))
				continue;
			snprintf(w->node, sizeof(w->node), "%s", topo->nodes[i].name);
			snprintf(w->port, sizeof(w->port), "%s", p->name);
			w->guid = p->guid;
			h->n_ports++;
		}
	*out = h;
	return 0;
}

void sm_hca_free(struct sm_hca **ph)
{
	if (!*ph)
		return;
	free((*ph)->ports);
	free((*ph)->signals);
	free(*ph);
	*ph = NULL;
}

int64_t sm_hca_next(const struct sm_hca *h)
{
	if (!h->interval_s)
		return 0;
	return h->next_sample_ns > 0 ? h->next_sample_ns : 1;	/* 0 would mean "no wish" */
}

void sm_hca_set_interval(struct sm_hca *h, unsigned int interval_s)
{
	h->interval_s = interval_s;
}

/* Queues a signal for the main thread (lock held). */
static void signal_push(struct sm_hca *h, const struct hca_signal *sig)
{
	if (h->n_signals == h->cap_signals) {
		size_t cap = h->cap_signals ? h->cap_signals * 2 : 16;
		struct hca_signal *p;

		if (cap > HCA_SIGNALS_MAX)
			return;
		p = realloc(h->signals, cap * sizeof(*p));
		if (!p)
			return;
		h->signals = p;
		h->cap_signals = cap;
	}
	h->signals[h->n_signals++] = *sig;
}

static void log_first_sample(const char *name, const struct smt_port_health *ph, size_t n)
{
	size_t answer = 0, counters = 0;

	for (size_t i = 0; i < n; i++) {
		answer += ph[i].result == 0;
		counters += ph[i].counters_ok;
	}
	log_info("sm %s: HCA watcher: first sample of %zu ports: %zu answer PortInfo, %zu PortCounters", name, n,
		 answer, counters);
}

/* Compares port @w's new sample @ph with its last; appends the signals to @sig. */
static size_t port_compare(const char *name, struct hca_port *w, const struct smt_port_health *ph,
			   struct hca_signal *sig)
{
	bool bad = ph->result != 0 || ph->port_state != 4;
	struct ib_port_counters cur = {
		.symbol_errors = ph->symbol_errors,
		.link_recovery = ph->link_recovery,
		.link_downed = ph->link_downed,
	};
	size_t n_sig = 0;

	/*
	 * One unanswered sample is not a dead link (a MAD lost while OpenSM
	 * sweeps, a LID being reassigned): it takes two in a row.  A PortState
	 * read as not Active counts at once.
	 */
	w->misses = ph->result ? w->misses + 1 : 0;
	if (w->known && ph->result && w->misses < 2)
		bad = w->bad;
	if (w->known && bad && !w->bad) {
		struct hca_signal *s = &sig[n_sig++];

		snprintf(s->node, sizeof(s->node), "%s", w->node);
		snprintf(s->port, sizeof(s->port), "%s", w->port);
		snprintf(s->sm, sizeof(s->sm), "%s", name);
		s->result = ph->result;
		s->state = ph->port_state;
	} else if (w->known && !bad && w->bad) {
		log_info("sm %s: HCA port %s of %s is Active again", name, w->port, w->node);
	}
	w->known = true;
	w->bad = bad;
	if (!ph->counters_ok)
		return n_sig;	/* keep the last sample: a rise across a gap still counts */
	if (w->counters_known && memcmp(&cur, &w->ctr, sizeof(cur)) != 0) {
		struct hca_signal *s = &sig[n_sig++];

		snprintf(s->node, sizeof(s->node), "%s", w->node);
		snprintf(s->port, sizeof(s->port), "%s", w->port);
		snprintf(s->sm, sizeof(s->sm), "%s", name);
		s->counters = true;
		s->prev = w->ctr;
		s->cur = cur;
	}
	w->ctr = cur;
	w->counters_known = true;
	return n_sig;
}

/* One sample of every port, compared with the last one. */
static void hca_sample(struct target *t, struct sm_hca *hca, const struct topo_sm *sm, struct smt **smt)
{
	struct reconciler *r = reconciler_target_owner(t);
	const char *name = reconciler_target_name(t);
	struct smt_port_health *h;
	struct hca_signal *sig;
	struct loom_err err = { 0 };
	size_t n_sig = 0;

	if (!*smt && smt_open(sm, smt, &err)) {
		*smt = NULL;
		return;
	}
	h = calloc(hca->n_ports, sizeof(*h));
	sig = calloc(2 * hca->n_ports, sizeof(*sig));
	if (!h || !sig)
		goto out;
	for (size_t i = 0; i < hca->n_ports; i++)
		h[i].guid = hca->ports[i].guid;
	if (smt_port_health(*smt, h, hca->n_ports, &err) < 0) {
		/* The SM's own port is not usable (OpenSM down, no SM LID):
		 * that says nothing about the nodes' ports. */
		log_debug(LOG_SUB_MAD, "sm %s: HCA watcher: %s", name, err.msg);
		goto out;
	}
	if (!hca->ports[0].known)
		log_first_sample(name, h, hca->n_ports);
	for (size_t i = 0; i < hca->n_ports; i++)
		n_sig += port_compare(name, &hca->ports[i], &h[i], sig + n_sig);
	if (n_sig) {
		reconciler_lock(r);
		for (size_t i = 0; i < n_sig; i++)
			signal_push(hca, &sig[i]);
		reconciler_unlock(r);
		reconciler_wake_main(r);
	}
out:
	free(h);
	free(sig);
}

void sm_hca_idle(struct target *t, struct sm_hca *h, const struct topo_sm *sm, struct smt **smt)
{
	struct reconciler *r = reconciler_target_owner(t);
	unsigned int every;
	bool due;

	reconciler_lock(r);
	every = h->interval_s;
	due = every && mono_ns() >= h->next_sample_ns;
	reconciler_unlock(r);
	if (!due)
		return;
	hca_sample(t, h, sm, smt);
	reconciler_lock(r);
	h->next_sample_ns = mono_ns() + (int64_t)every * 1000000000;
	reconciler_unlock(r);
}

void reconciler_watch_hca(struct reconciler *r, unsigned int interval_s)
{
	reconciler_lock(r);
	for (size_t i = 0; i < reconciler_n_targets(r); i++) {
		struct sm_hca *h = sm_target_hca(reconciler_target_at(r, i));

		if (h)
			sm_hca_set_interval(h, interval_s);
	}
	reconciler_kick(r);
	reconciler_unlock(r);
}

size_t reconciler_hca_take(struct reconciler *r, struct hca_signal *out, size_t max)
{
	size_t n = 0;

	reconciler_lock(r);
	for (size_t i = 0; i < reconciler_n_targets(r) && n < max; i++) {
		struct sm_hca *h = sm_target_hca(reconciler_target_at(r, i));
		size_t k;

		if (!h)
			continue;
		k = h->n_signals < max - n ? h->n_signals : max - n;
		if (!k)
			continue;	/* h->signals may be NULL, and memcpy's source may not */
		memcpy(out + n, h->signals, k * sizeof(*out));
		memmove(h->signals, h->signals + k, (h->n_signals - k) * sizeof(*out));
		h->n_signals -= k;
		n += k;
	}
	reconciler_unlock(r);
	return n;
}

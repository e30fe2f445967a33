/*
 * cluster/keys.h: where loom keeps its state in etcd, and what the values
 * look like.  Under a prefix (default /loom/v1):
 *
 *   PREFIX/desired/AGENT  {"generation":G,"kind":"vtep|sm|gpu","slice":{...}}
 *                         written by the controller only; watched by AGENT only
 *   PREFIX/status/AGENT   {"generation":G,"error":"...","items":[...]}
 *                         written by AGENT only; read by the controller
 *   PREFIX/alive/AGENT    {"since":...} bound to AGENT's lease: gone when
 *                         the lease expires
 *   PREFIX/signal/AGENT/SEQ  one signal of AGENT's watchers (carrier, HCA
 *                         port state, HCA counters); SEQ counts up, 16 hex
 *                         digits; written by AGENT only (the newest
 *                         CLUSTER_SIGNAL_KEEP kept), read by the controller
 *
 * No key an agent watches is written for anyone else: a change costs one
 * put per agent it reaches and one notification, to that agent.
 */
#ifndef LOOM_CLUSTER_KEYS_H
#define LOOM_CLUSTER_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lib/err.h"
#include "targets/sm.h"
#include "targets/target.h"
#include "targets/vtep.h"

#define CLUSTER_PREFIX_DEFAULT "/loom/v1"
#define CLUSTER_KEY_MAX 256

/* PREFIX/@dir/@agent (@agent NULL: the folder, with its trailing '/'). */
int cluster_key(char *buf, size_t len, const char *prefix, const char *dir, const char *agent);

/* A kind of slice as it travels: its name, the scheduler's ops and the codec. */
struct cluster_slice_kind {
	const char *name;			/* "vtep", "sm", "gpu" */
	const struct target_slice *slice;
	json_t *(*to_json)(const void *s);
	int (*from_json)(const json_t *j, void **out, struct loom_err *err);
};

const struct cluster_slice_kind *cluster_slice_kind(const char *name);
const struct cluster_slice_kind *cluster_slice_kind_of(const struct target_slice *slice);

/* desired/AGENT's value (malloc'd, compact JSON); NULL when out of memory. */
char *cluster_desired_encode(const struct cluster_slice_kind *k, uint64_t gen, const void *slice);
/*
 * Decodes desired/AGENT's value, which must be of kind @k and name @agent
 * (the slice's vtep/sm/node); *slice is the decoded slice, NULL on error
 * (the field at fault named in @err).
 */
int cluster_desired_decode(const struct cluster_slice_kind *k, const char *agent, const char *text, size_t len,
			   uint64_t *gen, void **slice, struct loom_err *err);

/* status/AGENT's value from a run's items (malloc'd). */
char *cluster_status_encode(uint64_t gen, const char *error, const struct target_item *items, size_t n);
/*
 * Decodes status/AGENT's value into @res (items appended; the layer names
 * mapped to the static ones loom knows, "remote" otherwise).
 */
int cluster_status_decode(const char *text, size_t len, uint64_t *gen, struct target_result *res,
			  struct loom_err *err);

/* ---- watcher signals: PREFIX/signal/AGENT/SEQ ---- */

/* An agent keeps its newest signals: the controller reads what it missed. */
#define CLUSTER_SIGNAL_KEEP 128

enum cluster_signal_kind {
	CLUSTER_SIG_CARRIER,		/* carrier of a node's access port on a VTEP */
	CLUSTER_SIG_HCA_PORT,		/* an HCA port left Active (or does not answer) */
	CLUSTER_SIG_HCA_COUNTERS,	/* an HCA port's error counters changed */
};

struct cluster_signal {
	uint64_t seq;		/* its key's SEQ */
	uint64_t previous;	/* the agent's signal before it, 0: the first of its log */
	int64_t time;		/* when the agent saw it, seconds since the epoch */
	enum cluster_signal_kind kind;
	struct carrier_change carrier;	/* CLUSTER_SIG_CARRIER */
	struct hca_signal hca;		/* the two HCA kinds (hca.counters says which) */
};

const char *cluster_signal_kind_name(enum cluster_signal_kind k);
/* PREFIX/signal/@agent/SEQ (@agent NULL: the folder of every agent's). */
int cluster_signal_key(char *buf, size_t len, const char *prefix, const char *agent, uint64_t seq);
/*
 * Splits a key under PREFIX/signal/ into its agent and SEQ; -EINVAL with
 * field "key" when it is not PREFIX/signal/AGENT/SEQ (16 hex digits, > 0).
 */
int cluster_signal_key_parse(const char *key, const char *prefix, char *agent, size_t len, uint64_t *seq,
			     struct loom_err *err);
/* The value of signal @s (malloc'd, compact JSON); NULL when out of memory. */
char *cluster_signal_encode(const struct cluster_signal *s);
/*
 * Decodes signal SEQ @seq of agent @agent: every field checked (unknown
 * ones refused), a carrier signal's vtep and an HCA signal's sm must be
 * @agent.  -EINVAL with the field at fault named in @err.  Whether the
 * node and port exist is the caller's question (the topology).
 */
int cluster_signal_decode(const char *agent, uint64_t seq, const char *text, size_t len, struct cluster_signal *out,
			  struct loom_err *err);

#endif

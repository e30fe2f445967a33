/*
 * agent/agent.c: one loom agent (agent/agent.h).
 *
 * State machine of the etcd side, driven by agent_step and the watch
 * callback:
 *   - no watch yet: read desired/NAME once, apply it when present, watch it
 *     from the read's revision + 1 (a missing key is waited for, never
 *     taken as "remove everything");
 *   - no lease: grant one and put alive/NAME bound to it; then one
 *     keepalive per TTL/3; an expired lease is granted again;
 *   - a run finished: status/NAME is written when it says something new;
 *   - a watcher saw something (carrier on a VTEP, HCA ports under an SM):
 *     signal/NAME/SEQ, in order, SEQ one more than the agent's last
 *     (read from etcd at start, so a restart continues the count).
 * Every failure is retried with a doubling, jittered pause and changes
 * nothing on the dataplane (fail-static).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "cluster/keys.h"
#include "lib/log.h"
#include "lib/monotime.h"
#include "src/reconcile.h"

/* ---- agent.conf -------------------------------------------------------------- */

void agent_conf_defaults(struct agent_conf *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->prefix, sizeof(c->prefix), "%s", CLUSTER_PREFIX_DEFAULT);
	snprintf(c->topology, sizeof(c->topology), "%s", SYSCONFDIR "/loom/topology.json");
	snprintf(c->frr_apply, sizeof(c->frr_apply), "vtysh-session");
	snprintf(c->log_level, sizeof(c->log_level), "info");
	c->lease_ttl_s = 10;
	c->timeout_ms = 5000;
	c->resync_interval_s = 60;
	c->counter_interval_s = 30;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int conf_uint(const char *key, const char *v, unsigned int min, unsigned int max, unsigned int *out,
		     struct loom_err *err)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || end == v || *end || n < min || n > max)
		return loom_err_set(err, LOOM_E_CONFIG, key, "%s: not a number in %u..%u", key, min, max);
	*out = (unsigned int)n;
	return 0;
}

static int conf_bool(const char *key, const char *v, bool *out, struct loom_err *err)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
		*out = false;
	else
		return loom_err_set(err, LOOM_E_CONFIG, key, "%s: not yes or no", key);
	return 0;
}

/* key = value into @c; unknown keys are errors (a typo must not pass). */
static int conf_set(struct agent_conf *c, const char *key, const char *v, struct loom_err *err)
{
#define STR(k, field)                                                                                   \
	if (!strcmp(key, k)) {                                                                          \
		if (strlen(v) >= sizeof(c->field))                                                      \
			return loom_err_set(err, LOOM_E_CONFIG, key, "%s: longer than %zu bytes", key, \
					    sizeof(c->field) - 1);                                      \
		snprintf(c->field, sizeof(c->field), "%s", v);                                          \
		return 0;                                                                               \
	}
	STR("name", name);
	STR("kind", kind);
	STR("cluster.etcd", etcd);
	STR("cluster.prefix", prefix);
	STR("cluster.id", cluster_id);
	STR("topology", topology);
	STR("gpu.nvml", nvml);
	STR("frr_apply", frr_apply);
	STR("log_level", log_level);
#undef STR
	if (!strcmp(key, "cluster.lease_ttl"))
		return conf_uint(key, v, 2, 3600, &c->lease_ttl_s, err);
	if (!strcmp(key, "cluster.timeout_ms"))
		return conf_uint(key, v, 100, 600000, &c->timeout_ms, err);
	if (!strcmp(key, "resync_interval"))
		return conf_uint(key, v, 0, 86400, &c->resync_interval_s, err);
	if (!strcmp(key, "fault.counter_interval"))
		return conf_uint(key, v, 0, 86400, &c->counter_interval_s, err);
	if (!strcmp(key, "gpu.allow_mig_mode"))
		return conf_bool(key, v, &c->allow_mig_mode, err);
	if (!strcmp(key, "targets")) {
		if (strcmp(v, "real") && strcmp(v, "null"))
			return loom_err_set(err, LOOM_E_CONFIG, key, "targets: neither real nor null");
		c->null_target = !strcmp(v, "null");
		return 0;
	}
	return loom_err_set(err, LOOM_E_CONFIG, key, "%s: unknown key", key);
}

static int conf_check(const struct agent_conf *c, struct loom_err *err)
{
	if (!c->name[0])
		return loom_err_set(err, LOOM_E_CONFIG, "name", "name: missing (the VTEP, SM or node this agent is)");
	if (strcmp(c->kind, "vtep") && strcmp(c->kind, "sm") && strcmp(c->kind, "node"))
		return loom_err_set(err, LOOM_E_CONFIG, "kind", "kind: \"%s\" is none of vtep, sm, node", c->kind);
	if (!c->etcd[0])
		return loom_err_set(err, LOOM_E_CONFIG, "cluster.etcd", "cluster.etcd: missing (http://HOST:PORT,...)");
	if (c->prefix[0] != '/' || c->prefix[strlen(c->prefix) - 1] == '/')
		return loom_err_set(err, LOOM_E_CONFIG, "cluster.prefix",
				    "cluster.prefix: must start with / and not end with one");
	if (c->null_target && !strcmp(c->kind, "node"))
		return loom_err_set(err, LOOM_E_CONFIG, "targets", "targets = null: takes a vtep or an sm");
	if (!c->null_target && !strcmp(c->kind, "node") && !c->nvml[0])
		return loom_err_set(err, LOOM_E_CONFIG, "gpu.nvml", "gpu.nvml: needed for kind node");
	return 0;
}

int agent_conf_load(const char *path, struct agent_conf *c, struct loom_err *err)
{
	FILE *f = fopen(path, "r");
	char line[2048];
	unsigned int lineno = 0;
	int ret = 0;

	agent_conf_defaults(c);
	snprintf(c->path, sizeof(c->path), "%s", path);
	if (!f)
		return loom_err_set(err, LOOM_E_CONFIG, "", "%s: %s", path, strerror(errno));
	while (!ret && fgets(line, sizeof(line), f)) {
		char *s = trim(line), *eq;

		lineno++;
		if (!*s || *s == '#')
			continue;
		eq = strchr(s, '=');
		if (!eq) {
			ret = loom_err_set(err, LOOM_E_CONFIG, "", "%s:%u: not key = value", path, lineno);
			break;
		}
		*eq = '\0';
		ret = conf_set(c, trim(s), trim(eq + 1), err);
	}
	fclose(f);
	return ret ? ret : conf_check(c, err);
}

/* ---- the agent ----------------------------------------------------------------- */

struct agent {
	struct agent_conf conf;
	const struct cluster_slice_kind *kind;
	struct topology *own_topo;	/* loaded here, NULL when shared */
	struct topology view;		/* the topology cut down to this target */
	struct conf_nvml nvml;
	struct reconciler *rec;

	struct etcd *etcd;
	struct etcd_watcher *watcher;
	struct etcd_watch *watch;
	char desired_key[CLUSTER_KEY_MAX], status_key[CLUSTER_KEY_MAX], alive_key[CLUSTER_KEY_MAX];
	uint64_t cluster_id;		/* cluster.id, 0 = any */
	bool foreign;			/* etcd is another cluster: stopped */
	bool compacted;			/* the watch stopped: read again, then resume */

	int64_t lease;
	int64_t step_at;		/* agent_step has nothing to do before */
	int64_t keepalive_at, lease_retry_at, read_retry_at, resync_at;
	unsigned int backoff_ms;

	void *slice;			/* the last slice applied */
	uint64_t ctl_gen;		/* its controller generation */
	uint64_t local_gen;		/* reconciler_post's */
	char refused[400];		/* why the last desired value was refused */
	bool status_dirty;
	char *status_sent;		/* the last status value written */
	uint64_t reported_gen;

	/* Watcher signals not written yet, oldest first; the first n_sig_numbered
	 * have their SEQ and value (kept for a retry: the same key, the same
	 * bytes). */
	struct agent_signal *sigq;
	size_t n_sigq, cap_sigq, n_sig_numbered;
	bool sig_read;			/* the last SEQ in etcd was read */
	uint64_t sig_last;		/* the last SEQ written (or found) */
	int64_t sig_retry_at;
	uint64_t sig_sent, sig_dropped;
	uint64_t rereads;		/* desired/NAME read again after a compaction */
};

struct agent_signal {
	struct cluster_signal s;
	char *value;			/* encoded once numbered */
};

/* Signals kept while etcd is away; beyond that the oldest are dropped. */
#define AGENT_SIGNALS_MAX 4096
/* Signals per transaction: a put and the delete of the one CLUSTER_SIGNAL_KEEP older each. */
#define AGENT_SIGNALS_TXN 32

static int64_t now_ms(void)
{
	return mono_ns() / 1000000;
}

/* A doubling pause with jitter, 100 ms to 5 s. */
static int64_t backoff(struct agent *a)
{
	unsigned int ms = a->backoff_ms ? a->backoff_ms : 100;

	a->backoff_ms = ms * 2 > 5000 ? 5000 : ms * 2;
	return now_ms() + ms / 2 + (unsigned int)rand() % (ms / 2 + 1);
}

static const char *slice_kind_name(const char *agent_kind)
{
	return !strcmp(agent_kind, "node") ? "gpu" : agent_kind;
}

/* The topology cut down to this agent's target; nodes stay (carrier ports, GUIDs). */
static int view_make(struct agent *a, const struct topology *t, struct loom_err *err)
{
	const char *name = a->conf.name;

	a->view = *t;
	a->view.n_vteps = 0;
	a->view.n_sms = 0;
	if (!strcmp(a->conf.kind, "vtep")) {
		const struct topo_vtep *v = topology_vtep(t, name);

		if (!v)
			return loom_err_set(err, LOOM_E_TOPOLOGY, "name",
					    "name: the topology has no VTEP \"%s\" (kind vtep)", name);
		a->view.vteps = (struct topo_vtep *)v;
		a->view.n_vteps = 1;
	} else if (!strcmp(a->conf.kind, "sm")) {
		const struct topo_sm *s = topology_sm(t, name);

		if (!s)
			return loom_err_set(err, LOOM_E_TOPOLOGY, "name",
					    "name: the topology has no subnet manager \"%s\" (kind sm)", name);
		a->view.sms = (struct topo_sm *)s;
		a->view.n_sms = 1;
	} else if (!topology_node(t, name)) {
		return loom_err_set(err, LOOM_E_TOPOLOGY, "name", "name: the topology has no node \"%s\" (kind node)",
				    name);
	}
	return 0;
}

int agent_check(const struct agent_conf *c, struct loom_err *err)
{
	struct agent *a = calloc(1, sizeof(*a));
	int ret;

	if (!a)
		return -ENOMEM;
	a->conf = *c;
	ret = topology_load_file(c->topology, &a->own_topo, err);
	if (!ret)
		ret = view_make(a, a->own_topo, err);
	topology_free(&a->own_topo);
	free(a);
	return ret;
}

int agent_new(const struct agent_conf *c, const struct topology *topo, struct etcd_watcher *w,
	      struct agent **out, struct loom_err *err)
{
	struct agent *a = calloc(1, sizeof(*a));
	struct reconciler_opts opts = { 0 };
	int ret;

	*out = NULL;
	if (!a)
		return -ENOMEM;
	a->conf = *c;
	a->watcher = w;
	a->kind = cluster_slice_kind(slice_kind_name(c->kind));
	if (c->cluster_id[0])
		a->cluster_id = strtoull(c->cluster_id, NULL, 16);
	if (!topo) {
		ret = topology_load_file(c->topology, &a->own_topo, err);
		if (ret)
			goto fail;
		topo = a->own_topo;
	}
	ret = view_make(a, topo, err);
	if (ret)
		goto fail;
	if (cluster_key(a->desired_key, sizeof(a->desired_key), c->prefix, "desired", c->name)
	    || cluster_key(a->status_key, sizeof(a->status_key), c->prefix, "status", c->name)
	    || cluster_key(a->alive_key, sizeof(a->alive_key), c->prefix, "alive", c->name)) {
		ret = loom_err_set(err, LOOM_E_CONFIG, "cluster.prefix", "cluster.prefix: too long");
		goto fail;
	}
	opts.null_targets = c->null_target;
	opts.allow_mig_mode = c->allow_mig_mode;
	opts.frr_apply = !strcmp(c->frr_apply, "vty") ? FRR_APPLY_VTY
			 : !strcmp(c->frr_apply, "vtysh") ? FRR_APPLY_FILE : FRR_APPLY_SESSION;
	if (!strcmp(c->kind, "node")) {
		snprintf(a->nvml.node, sizeof(a->nvml.node), "%s", c->name);
		snprintf(a->nvml.path, sizeof(a->nvml.path), "%s", c->nvml);
		opts.gpu_nodes = &a->nvml;
		opts.n_gpu_nodes = 1;
	}
	ret = reconciler_start(&a->view, &opts, &a->rec);
	if (ret) {
		loom_err_set(err, LOOM_E_INTERNAL, "", "the reconciler did not start: %s", strerror(-ret));
		goto fail;
	}
	if (!strcmp(c->kind, "sm") && !c->null_target)
		reconciler_watch_hca(a->rec, c->counter_interval_s);
	ret = etcd_open(c->etcd, (int)c->timeout_ms, &a->etcd, err);
	if (ret)
		goto fail;
	a->resync_at = now_ms() + (int64_t)c->resync_interval_s * 1000;
	a->status_dirty = true;
	*out = a;
	return 0;
fail:
	agent_free(&a, false);
	return ret ? ret : -EINVAL;
}

void agent_free(struct agent **pa, bool revoke)
{
	struct agent *a = *pa;

	if (!a)
		return;
	if (a->watch)
		etcd_watch_cancel(a->watcher, &a->watch);
	if (revoke && a->lease && a->etcd) {
		struct loom_err err = { 0 };

		if (etcd_lease_revoke(a->etcd, a->lease, &err))
			log_warn("agent %s: revoking its lease: %s", a->conf.name, err.msg);
	}
	reconciler_stop(&a->rec);
	for (size_t i = 0; i < a->n_sigq; i++)
		free(a->sigq[i].value);
	free(a->sigq);
	if (a->slice)
		a->kind->slice->free(a->slice);
	etcd_close(&a->etcd);
	topology_free(&a->own_topo);
	free(a->status_sent);
	free(a);
	*pa = NULL;
}

int agent_event_fd(const struct agent *a)
{
	return reconciler_event_fd(a->rec);
}

uint64_t agent_reported_gen(const struct agent *a)
{
	return a->reported_gen;
}

uint64_t agent_etcd_requests(const struct agent *a)
{
	return etcd_requests(a->etcd);
}

const struct etcd *agent_etcd(const struct agent *a)
{
	return a->etcd;
}

uint64_t agent_rereads(const struct agent *a)
{
	return a->rereads;
}

/* Is etcd the cluster cluster.id names?  Stops everything when not. */
static bool cluster_ok(struct agent *a)
{
	uint64_t id = etcd_cluster_id(a->etcd);

	if (a->foreign)
		return false;
	if (!a->cluster_id || !id || id == a->cluster_id)
		return true;
	log_err("agent %s: etcd at %s is cluster %" PRIx64 ", not cluster.id %" PRIx64
		": not reading or writing anything there; keeping what is programmed",
		a->conf.name, a->conf.etcd, id, a->cluster_id);
	a->foreign = true;
	if (a->watch)
		etcd_watch_cancel(a->watcher, &a->watch);
	return false;
}

/* A desired value: decoded, checked, and posted when it changes the slice. */
static void desired_apply(struct agent *a, const char *text, size_t len, int64_t revision)
{
	struct loom_err err = { 0 };
	struct desired d = { 0 };
	uint64_t gen = 0;
	void *slice = NULL;

	if (cluster_desired_decode(a->kind, a->conf.name, text, len, &gen, &slice, &err)) {
		snprintf(a->refused, sizeof(a->refused), "%s (revision %" PRId64 ") refused: %s", a->desired_key,
			 revision, err.msg);
		log_err("agent %s: %s; keeping what is programmed", a->conf.name, a->refused);
		a->status_dirty = true;
		return;
	}
	a->refused[0] = '\0';
	a->status_dirty = true;
	if (a->slice && a->kind->slice->equal(a->slice, slice)) {
		log_debug(LOG_SUB_RECONCILE, "agent %s: generation %" PRIu64 " leaves the slice as it is",
			  a->conf.name, gen);
		a->kind->slice->free(slice);
		a->ctl_gen = gen;
		return;
	}
	if (!strcmp(a->kind->name, "vtep")) {
		d.vteps = slice;
		d.n_vteps = 1;
	} else if (!strcmp(a->kind->name, "sm")) {
		d.sms = slice;
		d.n_sms = 1;
	} else {
		d.gpus = slice;
		d.n_gpus = 1;
	}
	if (a->slice)
		a->kind->slice->free(a->slice);
	a->slice = slice;
	a->ctl_gen = gen;
	a->local_gen = reconciler_post(a->rec, &d);
	log_info("agent %s: generation %" PRIu64 " applied (run %" PRIu64 ")", a->conf.name, gen, a->local_gen);
}

/* Reads desired/NAME again (start, compaction): applies it only if it differs. */
static int desired_read(struct agent *a, int64_t *revision)
{
	struct etcd_header hdr = { 0 };
	struct etcd_kv kv = { 0 };
	struct loom_err err = { 0 };
	bool found = false;

	if (etcd_get(a->etcd, a->desired_key, &kv, &found, &hdr, &err)) {
		log_warn("agent %s: reading %s: %s (will retry; keeping what is programmed)", a->conf.name,
			 a->desired_key, err.msg);
		return -EAGAIN;
	}
	if (!cluster_ok(a)) {
		etcd_kv_clear(&kv);
		return -EXDEV;
	}
	if (found)
		desired_apply(a, kv.value, kv.value_len, kv.mod_revision);
	else
		log_warn("agent %s: no %s in etcd cluster %" PRIx64 " yet: waiting for the controller "
			 "(is cluster.etcd loom's cluster?)", a->conf.name, a->desired_key, hdr.cluster_id);
	etcd_kv_clear(&kv);
	*revision = hdr.revision;
	return 0;
}

static void on_watch(void *arg, const struct etcd_watch_update *u)
{
	struct agent *a = arg;

	switch (u->status) {
	case ETCD_WATCH_EVENTS:
		for (size_t i = 0; i < u->n_events; i++) {
			const struct etcd_event *ev = &u->events[i];

			if (ev->type == ETCD_EV_DELETE)
				log_warn("agent %s: %s was deleted; keeping what is programmed", a->conf.name,
					 a->desired_key);
			else
				desired_apply(a, ev->kv.value, ev->kv.value_len, ev->kv.mod_revision);
		}
		break;
	case ETCD_WATCH_COMPACTED:
		/* Read again from agent_step: not from inside the watcher's delivery. */
		log_info("agent %s: the watch's revision was compacted (%" PRId64 "): reading again", a->conf.name,
			 u->compact_revision);
		a->compacted = true;
		break;
	case ETCD_WATCH_RETRYING:
		log_debug(LOG_SUB_RECONCILE, "agent %s: watch: %s (resuming)", a->conf.name,
			  u->message ? u->message : "");
		break;
	case ETCD_WATCH_FOREIGN:
		log_err("agent %s: %s; keeping what is programmed", a->conf.name,
			u->message ? u->message : "etcd answered for another cluster");
		a->foreign = true;
		break;
	}
}

/* When the next keepalive is due: a third of the TTL, less up to a fifth
 * of that at random, so that agents started together spread out. */
static int64_t keepalive_due(const struct agent *a, int64_t now)
{
	int64_t third = (int64_t)a->conf.lease_ttl_s * 1000 / 3;

	return now + third - (third / 5) * (rand() % 1000) / 1000;
}

static void lease_step(struct agent *a, int64_t now)
{
	struct loom_err err = { 0 };
	char value[96];
	int ttl = 0;

	if (a->lease && now >= a->keepalive_at) {
		int ret = etcd_lease_keepalive(a->etcd, a->lease, &ttl, &err);

		if (ret == 0) {
			a->keepalive_at = keepalive_due(a, now);
		} else if (err.code == LOOM_E_NOT_FOUND) {
			log_warn("agent %s: lease %" PRIx64 " expired: granting a new one", a->conf.name,
				 (uint64_t)a->lease);
			a->lease = 0;
		} else {
			log_warn("agent %s: keepalive: %s (will retry)", a->conf.name, err.msg);
			a->keepalive_at = now + 500;
		}
	}
	if (a->lease || now < a->lease_retry_at)
		return;
	loom_err_clear(&err);
	if (etcd_lease_grant(a->etcd, (int)a->conf.lease_ttl_s, &a->lease, &err)) {
		log_warn("agent %s: lease grant: %s (will retry)", a->conf.name, err.msg);
		a->lease = 0;
		a->lease_retry_at = backoff(a);
		return;
	}
	snprintf(value, sizeof(value), "{\"pid\":%ld,\"since\":%lld}", (long)getpid(), (long long)time(NULL));
	if (etcd_put(a->etcd, a->alive_key, value, strlen(value), a->lease, NULL, &err)) {
		log_warn("agent %s: writing %s: %s (will retry)", a->conf.name, a->alive_key, err.msg);
		etcd_lease_revoke(a->etcd, a->lease, &err);
		a->lease = 0;
		a->lease_retry_at = backoff(a);
		return;
	}
	a->keepalive_at = keepalive_due(a, now);
	a->backoff_ms = 0;
}

/* status/NAME when the last generation is done and it says something new. */
static void status_step(struct agent *a)
{
	struct loom_err err = { 0 };
	struct target_item *items = NULL;
	char error[400] = "";
	size_t n = 0;
	char *text;
	bool ok;

	if (!a->status_dirty || (!a->ctl_gen && !a->refused[0]))
		return;
	if (a->local_gen && !reconciler_done(a->rec, a->local_gen, &ok))
		return;
	reconciler_lock(a->rec);
	if (reconciler_n_targets(a->rec)) {
		const struct target *t = reconciler_target_at(a->rec, 0);

		n = reconciler_target_n_items(t);
		items = calloc(n ? n : 1, sizeof(*items));
		for (size_t i = 0; items && i < n; i++)
			items[i] = *reconciler_target_item(t, i);
		snprintf(error, sizeof(error), "%s", reconciler_target_error(t));
	} else {
		snprintf(error, sizeof(error), "no target of kind %s runs here", a->conf.kind);
	}
	reconciler_unlock(a->rec);
	if (a->refused[0])
		snprintf(error, sizeof(error), "%s", a->refused);
	text = items ? cluster_status_encode(a->ctl_gen, error, items, n) : NULL;
	free(items);
	if (!text)
		return;
	if (a->status_sent && !strcmp(text, a->status_sent)) {
		free(text);
		a->status_dirty = false;
		a->reported_gen = a->ctl_gen;
		return;
	}
	if (etcd_put(a->etcd, a->status_key, text, strlen(text), 0, NULL, &err)) {
		log_warn("agent %s: writing %s: %s (will retry)", a->conf.name, a->status_key, err.msg);
		free(text);
		return;
	}
	free(a->status_sent);
	a->status_sent = text;
	a->status_dirty = false;
	a->reported_gen = a->ctl_gen;
	log_debug(LOG_SUB_RECONCILE, "agent %s: reported generation %" PRIu64, a->conf.name, a->ctl_gen);
}

/* ---- watcher signals ----------------------------------------------------------- */

static void signal_queue(struct agent *a, const struct cluster_signal *sig)
{
	if (a->n_sigq == AGENT_SIGNALS_MAX && a->n_sig_numbered < a->n_sigq) {
		/* etcd has been away for long: the oldest not yet numbered goes. */
		size_t k = a->n_sig_numbered;

		memmove(&a->sigq[k], &a->sigq[k + 1], (a->n_sigq - k - 1) * sizeof(*a->sigq));
		a->n_sigq--;
		if (!a->sig_dropped++ || !(a->sig_dropped % 1000))
			log_err("agent %s: %" PRIu64 " watcher signal%s dropped: etcd has not taken them for long",
				a->conf.name, a->sig_dropped, a->sig_dropped == 1 ? "" : "s");
	}
	if (a->n_sigq == a->cap_sigq) {
		size_t cap = a->cap_sigq ? a->cap_sigq * 2 : 16;
		struct agent_signal *q;

		if (a->n_sigq == AGENT_SIGNALS_MAX || !(q = realloc(a->sigq, cap * sizeof(*q)))) {
			log_err("agent %s: a %s signal dropped (the queue is full)", a->conf.name,
				cluster_signal_kind_name(sig->kind));
			a->sig_dropped++;
			return;
		}
		a->sigq = q;
		a->cap_sigq = cap;
	}
	a->sigq[a->n_sigq].s = *sig;
	a->sigq[a->n_sigq].s.time = (int64_t)time(NULL);
	a->sigq[a->n_sigq].value = NULL;
	a->n_sigq++;
}

/* The carrier changes drift socket @i carried (a VTEP). */
static void signals_carrier(struct agent *a, size_t i)
{
	struct carrier_change ch[16];
	size_t n;

	while ((n = reconciler_carrier_take(a->rec, i, ch, sizeof(ch) / sizeof(ch[0]))) > 0) {
		for (size_t k = 0; k < n; k++) {
			struct cluster_signal sig = { .kind = CLUSTER_SIG_CARRIER, .carrier = ch[k] };

			log_info("agent %s: carrier %s on access port %s", a->conf.name, ch[k].up ? "back" : "lost",
				 ch[k].access_port);
			signal_queue(a, &sig);
		}
		if (n < sizeof(ch) / sizeof(ch[0]))
			break;
	}
}

/* The HCA watcher's signals (an SM). */
static void signals_hca(struct agent *a)
{
	struct hca_signal hs[16];
	size_t n;

	while ((n = reconciler_hca_take(a->rec, hs, sizeof(hs) / sizeof(hs[0]))) > 0) {
		for (size_t k = 0; k < n; k++) {
			struct cluster_signal sig = {
				.kind = hs[k].counters ? CLUSTER_SIG_HCA_COUNTERS : CLUSTER_SIG_HCA_PORT, .hca = hs[k],
			};

			log_info("agent %s: HCA port %s of %s: %s", a->conf.name, hs[k].port, hs[k].node,
				 hs[k].counters ? "error counters changed" : "left Active or does not answer");
			signal_queue(a, &sig);
		}
		if (n < sizeof(hs) / sizeof(hs[0]))
			break;
	}
}

/* The last SEQ under signal/NAME/ (0: none); a restart counts on from it. */
static int signal_last_read(struct agent *a, uint64_t *last)
{
	struct loom_err err = { 0 };
	struct etcd_kv *kvs = NULL;
	char dir[CLUSTER_KEY_MAX], name[LOOM_NAME_MAX];
	size_t n = 0;

	*last = 0;
	if (cluster_key(dir, sizeof(dir), a->conf.prefix, "signal", a->conf.name) || strlen(dir) + 2 > sizeof(dir))
		return -ENAMETOOLONG;
	strcat(dir, "/");
	if (etcd_get_prefix(a->etcd, dir, 0, &kvs, &n, NULL, &err)) {
		log_warn("agent %s: reading %s: %s (will retry)", a->conf.name, dir, err.msg);
		return -EAGAIN;
	}
	/* Sorted by key, and SEQ is fixed-width hex: the last that parses is the newest. */
	for (size_t i = n; i-- > 0;) {
		uint64_t seq;

		loom_err_clear(&err);
		if (!cluster_signal_key_parse(kvs[i].key, a->conf.prefix, name, sizeof(name), &seq, &err)) {
			*last = seq;
			break;
		}
	}
	etcd_kvs_free(&kvs, n);
	return 0;
}

/* Gives the queue's first signals without one their SEQ and value. */
static int signal_number(struct agent *a, size_t upto)
{
	for (size_t i = a->n_sig_numbered; i < upto; i++) {
		struct agent_signal *q = &a->sigq[i];

		q->s.previous = a->sig_last;
		/* A new log starts at the clock in microseconds: above any SEQ a
		 * log that was wiped by hand can have reached. */
		q->s.seq = a->sig_last ? a->sig_last + 1 : (uint64_t)(realtime_ns() / 1000);
		q->value = cluster_signal_encode(&q->s);
		if (!q->value)
			return -ENOMEM;
		a->sig_last = q->s.seq;
		a->n_sig_numbered++;
	}
	return 0;
}

/* A transaction failed its compare: which of ours are there already? */
static void signal_recheck(struct agent *a, size_t n)
{
	struct loom_err err = { 0 };
	size_t done = 0;

	for (size_t i = 0; i < n; i++) {
		struct agent_signal *q = &a->sigq[i];
		struct etcd_kv kv = { 0 };
		char key[CLUSTER_KEY_MAX];
		bool found = false;

		cluster_signal_key(key, sizeof(key), a->conf.prefix, a->conf.name, q->s.seq);
		if (etcd_get(a->etcd, key, &kv, &found, NULL, &err)) {
			log_warn("agent %s: reading %s: %s (will retry)", a->conf.name, key, err.msg);
			a->sig_retry_at = backoff(a);
			return;
		}
		if (found && kv.value_len == strlen(q->value) && !memcmp(kv.value, q->value, kv.value_len)) {
			/* An earlier try that timed out went through. */
			done = i + 1;
			etcd_kv_clear(&kv);
			continue;
		}
		etcd_kv_clear(&kv);
		if (found) {
			log_warn("agent %s: %s holds another signal (another agent named %s? written by hand?): "
				 "numbering again after the last one in etcd", a->conf.name, key, a->conf.name);
			for (size_t k = i; k < a->n_sig_numbered; k++) {
				free(a->sigq[k].value);
				a->sigq[k].value = NULL;
			}
			a->n_sig_numbered = i;
			a->sig_last = q->s.previous;	/* then raised to the last in etcd */
			a->sig_read = false;
			break;
		}
	}
	for (size_t i = 0; i < done; i++)
		free(a->sigq[i].value);
	memmove(a->sigq, a->sigq + done, (a->n_sigq - done) * sizeof(*a->sigq));
	a->n_sigq -= done;
	a->n_sig_numbered -= done;
	a->sig_sent += done;
}

/*
 * Writes the queued signals, in order, at most AGENT_SIGNALS_TXN per
 * transaction: each put only if its key does not exist yet (a retry after
 * a timeout cannot write a signal twice under two SEQs), each with the
 * delete of the key CLUSTER_SIGNAL_KEEP older.
 */
static void signal_step(struct agent *a, int64_t now)
{
	struct etcd_cmp cmp[AGENT_SIGNALS_TXN];
	struct etcd_op ops[2 * AGENT_SIGNALS_TXN];
	char keys[2 * AGENT_SIGNALS_TXN][CLUSTER_KEY_MAX];
	struct loom_err err = { 0 };
	size_t n, n_ops = 0;
	bool ok = false;

	if (!a->n_sigq || now < a->sig_retry_at)
		return;
	if (!a->sig_read) {
		uint64_t last;

		if (signal_last_read(a, &last)) {
			a->sig_retry_at = backoff(a);
			return;
		}
		if (last > a->sig_last)
			a->sig_last = last;
		a->sig_read = true;
	}
	n = a->n_sigq < AGENT_SIGNALS_TXN ? a->n_sigq : AGENT_SIGNALS_TXN;
	if (signal_number(a, n))
		return;
	for (size_t i = 0; i < n; i++) {
		struct agent_signal *q = &a->sigq[i];

		cluster_signal_key(keys[2 * i], sizeof(keys[0]), a->conf.prefix, a->conf.name, q->s.seq);
		cmp[i] = (struct etcd_cmp){ .key = keys[2 * i], .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL };
		ops[n_ops++] = (struct etcd_op){ .type = ETCD_OP_PUT, .key = keys[2 * i], .value = q->value,
						 .len = strlen(q->value) };
		if (q->s.seq > CLUSTER_SIGNAL_KEEP) {
			cluster_signal_key(keys[2 * i + 1], sizeof(keys[0]), a->conf.prefix, a->conf.name,
					   q->s.seq - CLUSTER_SIGNAL_KEEP);
			ops[n_ops++] = (struct etcd_op){ .type = ETCD_OP_DELETE, .key = keys[2 * i + 1] };
		}
	}
	if (etcd_txn(a->etcd, cmp, n, ops, n_ops, NULL, 0, &ok, NULL, &err)) {
		log_warn("agent %s: writing %zu signal%s: %s (will retry)", a->conf.name, n, n == 1 ? "" : "s",
			 err.msg);
		a->sig_retry_at = backoff(a);
		return;
	}
	if (!ok) {
		signal_recheck(a, n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		free(a->sigq[i].value);
	memmove(a->sigq, a->sigq + n, (a->n_sigq - n) * sizeof(*a->sigq));
	a->n_sigq -= n;
	a->n_sig_numbered -= n;
	a->sig_sent += n;
	log_debug(LOG_SUB_RECONCILE, "agent %s: %zu signal%s written, up to %016" PRIx64 " (%" PRIu64 " since start)",
		  a->conf.name, n, n == 1 ? "" : "s", a->sig_last, a->sig_sent);
}

int agent_step(struct agent *a)
{
	struct pollfd pfd = { .fd = reconciler_event_fd(a->rec), .events = POLLIN };
	int64_t now = now_ms(), next;
	int64_t rev;

	/* A VTEP's event sockets at every call: the carrier watcher takes each
	 * change as it comes (a change and its undoing taken together cancel). */
	for (size_t i = 0; i < reconciler_n_drift_fds(a->rec); i++) {
		struct pollfd d = { .fd = reconciler_drift_fd(a->rec, i), .events = POLLIN };

		if (d.fd >= 0 && poll(&d, 1, 0) > 0) {
			reconciler_drift(a->rec, i);
			signals_carrier(a, i);
		}
	}
	/* Cheap when idle: one process may host a thousand agents. */
	if (!a->status_dirty && !a->compacted && !a->n_sigq && now < a->step_at)
		return (int)(a->step_at - now);
	if (poll(&pfd, 1, 0) > 0) {
		if (reconciler_collect(a->rec) > 0)
			a->status_dirty = true;
		signals_hca(a);
	}
	if (a->conf.resync_interval_s && now >= a->resync_at) {
		reconciler_resync_all(a->rec);
		a->resync_at = now + (int64_t)a->conf.resync_interval_s * 1000;
	}
	if (a->foreign) {
		a->step_at = now + 1000;
		return 1000;
	}
	if (!a->watch && now >= a->read_retry_at) {
		if (desired_read(a, &rev) == 0) {
			struct loom_err err = { 0 };

			if (etcd_watch_add(a->watcher, a->desired_key, rev + 1, on_watch, a, &a->watch, &err)) {
				log_warn("agent %s: watch: %s (will retry)", a->conf.name, err.msg);
				a->read_retry_at = backoff(a);
			}
		} else {
			a->read_retry_at = backoff(a);
		}
	}
	if (a->watch && a->compacted && now >= a->read_retry_at) {
		if (desired_read(a, &rev) == 0) {
			a->compacted = false;
			a->rereads++;
			etcd_watch_resume(a->watcher, a->watch, rev + 1);
		} else {
			a->read_retry_at = backoff(a);
		}
	}
	if (a->foreign) {
		a->step_at = now + 1000;
		return 1000;
	}
	lease_step(a, now);
	status_step(a);
	signal_step(a, now);
	next = a->lease ? a->keepalive_at - now : 200;
	if (!a->watch && a->read_retry_at - now < next)
		next = a->read_retry_at - now;
	if (a->n_sigq && a->sig_retry_at - now < next)
		next = a->sig_retry_at - now;
	if (a->status_dirty)
		next = 5;
	next = next < 0 ? 0 : next > 1000 ? 1000 : next;
	a->step_at = now + next;
	return (int)next;
}

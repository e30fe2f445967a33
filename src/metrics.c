/*
 * src/metrics.c: loomd's metric families and where their values come from.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/monotime.h"
#include "node/lifecycle.h"
#include "src/metrics.h"
#include "src/reconcile.h"
#include "store/store.h"

/* Seconds: API calls answer in tens of microseconds to seconds (a wait). */
#define LATENCY_BUCKETS { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30 }, 14

static const struct metric_family_def families[] = {
	{ "loom_build_info", METRIC_GAUGE, "loomd's version, always 1.", { 0 }, 0 },
	{ "loom_requests_total", METRIC_COUNTER, "API requests answered, by method and outcome (ok or the error's name).",
	  { 0 }, 0 },
	{ "loom_request_duration_seconds", METRIC_HISTOGRAM,
	  "Time from reading a request to queueing its reply (after its commit; after its wait with -w).",
	  LATENCY_BUCKETS },
	{ "loom_commit_writes", METRIC_HISTOGRAM, "Writes per group commit (one fsync each).",
	  { 1, 2, 4, 8, 16, 32, 64, 128, 256 }, 9 },
	{ "loom_commit_duration_seconds", METRIC_HISTOGRAM, "Time a group commit took (COMMIT and its fsync).",
	  LATENCY_BUCKETS },
	{ "loom_store_bytes", METRIC_GAUGE, "Size of the SQLite database and its WAL.", { 0 }, 0 },
	{ "loom_audit_records", METRIC_GAUGE, "Records in the audit hash chain.", { 0 }, 0 },
	{ "loom_nodes", METRIC_GAUGE, "Nodes of the topology by lifecycle state.", { 0 }, 0 },
	{ "loom_gpu_instances", METRIC_GAUGE, "MIG instances held by tenants, by profile.", { 0 }, 0 },
	{ "loom_faults_total", METRIC_COUNTER, "Faults reported, by component and severity.", { 0 }, 0 },
	{ "loom_target_runs_total", METRIC_COUNTER, "Runs of each target (observe, diff, apply, verify).", { 0 },
	  0 },
	{ "loom_target_run_duration_seconds", METRIC_HISTOGRAM,
	  "Duration of targets' runs (the newest run of each target every refresh).",
	  { 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30 }, 11 },
	{ "loom_target_up", METRIC_GAUGE, "1 when the target has no target-wide error.", { 0 }, 0 },
	{ "loom_target_busy", METRIC_GAUGE, "1 while the target has work it has not finished.", { 0 }, 0 },
	{ "loom_drift_repairs_total", METRIC_COUNTER,
	  "Changes to loom's objects seen on a target between runs, each answered by a run that repairs them.",
	  { 0 }, 0 },
	{ "loom_opensm_sweeps_waited_total", METRIC_COUNTER,
	  "OpenSM sweeps a subnet manager target signalled and waited for.", { 0 }, 0 },
	{ "loom_mads_sent_total", METRIC_COUNTER, "SMPs and SA queries a subnet manager target sent, retries included.",
	  { 0 }, 0 },
	{ "loom_mad_timeouts_total", METRIC_COUNTER, "MAD requests that ran out of retries.", { 0 }, 0 },
	{ "loom_target_items", METRIC_GAUGE, "Status items (a VNI, a P_Key or a GPU on one layer) by state.",
	  { 0 }, 0 },
};

struct loomd_metrics {
	struct metrics *m;
	struct metrics_http *http;
	int timer;
	bool model_dirty, targets_dirty;
	/* Runs already seen per target, so a refresh observes a new run once. */
	json_t *runs_seen;
};

static struct loomd_metrics *lm_of(struct loomd *d)
{
	return d->metrics;
}

void loomd_metrics_request(struct loomd *d, const char *method, int code, int64_t t0_ns)
{
	struct loomd_metrics *lm = lm_of(d);
	char labels[256], mv[128];

	if (!lm)
		return;
	metrics_label_value(mv, sizeof(mv), method && *method ? method : "unknown");
	snprintf(labels, sizeof(labels), "method=\"%s\",outcome=\"%s\"", mv,
		 code == LOOM_OK ? "ok" : loom_err_name(code));
	metrics_add(lm->m, "loom_requests_total", labels, 1);
	snprintf(labels, sizeof(labels), "method=\"%s\"", mv);
	metrics_observe(lm->m, "loom_request_duration_seconds", labels, (double)(mono_ns() - t0_ns) / 1e9);
}

void loomd_metrics_commit(struct loomd *d, size_t writes, int64_t ns)
{
	struct loomd_metrics *lm = lm_of(d);

	if (!lm)
		return;
	metrics_observe(lm->m, "loom_commit_writes", NULL, (double)writes);
	metrics_observe(lm->m, "loom_commit_duration_seconds", NULL, (double)ns / 1e9);
}

void loomd_metrics_fault(struct loomd *d, const char *component, const char *severity)
{
	struct loomd_metrics *lm = lm_of(d);
	char labels[160], c[64], s[64];

	if (!lm)
		return;
	metrics_label_value(c, sizeof(c), component);
	metrics_label_value(s, sizeof(s), severity);
	snprintf(labels, sizeof(labels), "component=\"%s\",severity=\"%s\"", c, s);
	metrics_add(lm->m, "loom_faults_total", labels, 1);
}

static void model_refresh(struct loomd *d, struct loomd_metrics *lm)
{
	unsigned int by_state[NODE_STATE_COUNT] = { 0 };
	struct node_life *rows = NULL;
	struct gpu_inst_rec *gpus = NULL;
	size_t n_rows = 0, n_gpus = 0;
	char labels[128], hash[65], path[300];
	int64_t seq = 0;
	double bytes = 0;
	struct stat st;

	if (store_node_list(d->store, &rows, &n_rows) == 0) {
		/* A node without a row is available. */
		by_state[NODE_AVAILABLE] = (unsigned int)d->topo->n_nodes;
		for (size_t i = 0; i < n_rows; i++)
			if (topology_node(d->topo, rows[i].name)) {
				by_state[NODE_AVAILABLE]--;
				by_state[rows[i].state]++;
			}
		metrics_clear(lm->m, "loom_nodes");
		for (int s = 0; s < NODE_STATE_COUNT; s++) {
			snprintf(labels, sizeof(labels), "state=\"%s\"", node_state_name((enum node_state)s));
			metrics_set(lm->m, "loom_nodes", labels, by_state[s]);
		}
	}
	free(rows);
	if (store_gpu_list(d->store, &gpus, &n_gpus) == 0) {
		metrics_clear(lm->m, "loom_gpu_instances");
		for (size_t i = 0; i < n_gpus; i++) {
			unsigned int count = 0;
			char pv[64];

			for (size_t k = 0; k < n_gpus; k++)
				count += strcmp(gpus[k].profile, gpus[i].profile) == 0;
			metrics_label_value(pv, sizeof(pv), gpus[i].profile);
			snprintf(labels, sizeof(labels), "profile=\"%s\"", pv);
			metrics_set(lm->m, "loom_gpu_instances", labels, count);
		}
	}
	free(gpus);
	if (store_audit_head(d->store, &seq, hash) == 0)
		metrics_set(lm->m, "loom_audit_records", NULL, (double)seq);
	if (stat(d->cfg.database, &st) == 0)
		bytes += (double)st.st_size;
	snprintf(path, sizeof(path), "%s-wal", d->cfg.database);
	if (stat(path, &st) == 0)
		bytes += (double)st.st_size;
	metrics_set(lm->m, "loom_store_bytes", NULL, bytes);
}

/* The targets' own totals: drift answered, and each kind's counters. */
static void counters_refresh(struct loomd *d, struct loomd_metrics *lm)
{
	static const struct {
		const char *counter, *family;
	} map[] = {
		{ "sweeps_waited", "loom_opensm_sweeps_waited_total" },
		{ "mads_sent", "loom_mads_sent_total" },
		{ "mad_timeouts", "loom_mad_timeouts_total" },
	};
	json_t *all = reconciler_counters(d->rec), *t;
	size_t i;

	json_array_foreach(all, i, t) {
		const char *name = json_string_value(json_object_get(t, "name"));
		json_t *c = json_object_get(t, "counters");
		char labels[128], nv[96];

		if (!name)
			continue;
		metrics_label_value(nv, sizeof(nv), name);
		snprintf(labels, sizeof(labels), "target=\"%s\"", nv);
		metrics_set(lm->m, "loom_drift_repairs_total", labels,
			    (double)json_integer_value(json_object_get(t, "drift")));
		for (size_t k = 0; k < sizeof(map) / sizeof(map[0]); k++)
			if (json_object_get(c, map[k].counter))
				metrics_set(lm->m, map[k].family, labels,
					    json_number_value(json_object_get(c, map[k].counter)));
	}
	json_decref(all);
}

static void targets_refresh(struct loomd *d, struct loomd_metrics *lm)
{
	json_t *targets, *t, *n;
	size_t i;

	if (!d->rec)
		return;
	/* Counts per target and state, not the status's entry per item: a few
	 * microseconds on the event loop with 1,000 VNIs on a VTEP. */
	targets = reconciler_summary(d->rec);
	metrics_clear(lm->m, "loom_target_items");
	json_array_foreach(targets, i, t) {
		const char *name = json_string_value(json_object_get(t, "name"));
		const char *kind = json_string_value(json_object_get(t, "kind"));
		const char *error = json_string_value(json_object_get(t, "error"));
		const char *state;
		json_int_t runs = json_integer_value(json_object_get(t, "runs"));
		json_int_t seen = json_integer_value(json_object_get(lm->runs_seen, name ? name : ""));
		char labels[384], nv[96], kv[32], sv[32];

		if (!name || !kind)
			continue;
		metrics_label_value(nv, sizeof(nv), name);
		metrics_label_value(kv, sizeof(kv), kind);
		snprintf(labels, sizeof(labels), "target=\"%s\",kind=\"%s\"", nv, kv);
		metrics_set(lm->m, "loom_target_runs_total", labels, (double)runs);
		metrics_set(lm->m, "loom_target_up", labels, error && *error ? 0 : 1);
		metrics_set(lm->m, "loom_target_busy", labels, json_is_true(json_object_get(t, "busy")));
		json_object_foreach(json_object_get(t, "states"), state, n) {
			metrics_label_value(sv, sizeof(sv), state);
			snprintf(labels, sizeof(labels), "target=\"%s\",kind=\"%s\",state=\"%s\"", nv, kv, sv);
			metrics_set(lm->m, "loom_target_items", labels, (double)json_integer_value(n));
		}
		if (runs != seen) {
			snprintf(labels, sizeof(labels), "kind=\"%s\"", kv);
			metrics_observe(lm->m, "loom_target_run_duration_seconds", labels,
					json_number_value(json_object_get(t, "last_run_ms")) / 1e3);
			json_object_set_new(lm->runs_seen, name, json_integer(runs));
		}
	}
	json_decref(targets);
	counters_refresh(d, lm);
}

/* The once-a-second timer: refresh what changed since. */
static void on_timer(struct loomd *d)
{
	struct loomd_metrics *lm = lm_of(d);
	uint64_t ticks;

	if (read(lm->timer, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		log_warn("metrics timer: %s", strerror(errno));
	if (lm->model_dirty && !d->in_txn)
		model_refresh(d, lm);
	if (lm->targets_dirty)
		targets_refresh(d, lm);
	lm->model_dirty = lm->targets_dirty = false;
}

static void on_committed(struct loomd *d)
{
	if (lm_of(d))
		lm_of(d)->model_dirty = true;
}

static void on_reported(struct loomd *d)
{
	if (lm_of(d))
		lm_of(d)->targets_dirty = true;
}

/* Everything loomd_metrics_open() may have started, in any state. */
static void lm_free(struct loomd_metrics *lm)
{
	metrics_http_stop(&lm->http);
	if (lm->timer >= 0)
		close(lm->timer);
	metrics_free(&lm->m);
	json_decref(lm->runs_seen);
	free(lm);
}

int loomd_metrics_open(struct loomd *d, struct loom_err *err)
{
	struct itimerspec its = { .it_interval = { .tv_sec = 1 }, .it_value = { .tv_sec = 1 } };
	struct loomd_metrics *lm;
	char labels[64];
	int ret;

	if (!d->cfg.metrics_listen[0])
		return 0;
	lm = calloc(1, sizeof(*lm));
	if (!lm)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
	lm->timer = -1;
	lm->m = metrics_new(families, sizeof(families) / sizeof(families[0]));
	lm->runs_seen = json_object();
	if (!lm->m || !lm->runs_seen) {
		ret = loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
		goto fail;
	}
	snprintf(labels, sizeof(labels), "version=\"%s\"", PACKAGE_VERSION);
	metrics_set(lm->m, "loom_build_info", labels, 1);
	ret = metrics_http_start(lm->m, d->cfg.metrics_listen, "metrics.listen", &lm->http, err);
	if (ret)
		goto fail;
	lm->timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (lm->timer < 0 || timerfd_settime(lm->timer, 0, &its, NULL) < 0) {
		ret = loom_err_set(err, LOOM_E_INTERNAL, "metrics.listen", "cannot start the metrics timer: %s",
				   strerror(errno));
		goto fail;
	}
	d->metrics = lm;
	lm->model_dirty = lm->targets_dirty = true;
	if ((ret = loomd_fd_add(d, lm->timer, on_timer)) || (ret = loomd_hook_add(d, LOOMD_HOOK_COMMITTED, on_committed)) ||
	    (ret = loomd_hook_add(d, LOOMD_HOOK_REPORTED, on_reported))) {
		d->metrics = NULL;
		loom_err_set(err, LOOM_E_INTERNAL, "", "no room for the metrics' hooks");
		goto fail;
	}
	log_info("metrics on http://%s/metrics", d->cfg.metrics_listen);
	return 0;
fail:
	lm_free(lm);
	return ret ? ret : -EINVAL;
}

void loomd_metrics_close(struct loomd *d)
{
	struct loomd_metrics *lm = d->metrics;

	if (!lm)
		return;
	lm_free(lm);
	d->metrics = NULL;
}

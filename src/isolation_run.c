/*
 * src/isolation_run.c: isolation.verify and the periodic isolation check
 * (see src/isolation_run.h).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "isolation/isolation.h"
#include "lib/log.h"
#include "lib/monotime.h"
#include "lib/param.h"
#include "src/api_life.h"
#include "src/isolation_run.h"

/* The findings of the previous run: only new ones become events. */
static json_t *last_findings;
static int timer_fd = -1;

static bool seen_before(json_t *finding)
{
	size_t i;
	json_t *f;

	json_array_foreach(last_findings, i, f)
		if (json_equal(f, finding))
			return true;
	return false;
}

/* One node event per new finding, on its target; the audit record is the caller's. */
static int record_fn(struct api_call *call, void *arg, json_t **result, struct loom_err *err)
{
	json_t *fresh = arg, *f;
	size_t i;

	json_array_foreach(fresh, i, f) {
		const char *target = json_string_value(json_object_get(f, "target"));
		json_t *tenants = json_object_get(f, "tenants"), *t;
		char reason[512], who[160] = "";
		struct node_life life;
		size_t k;

		json_array_foreach(tenants, k, t) {
			size_t len = strlen(who);

			snprintf(who + len, sizeof(who) - len, "%s%s", len ? "," : "", json_string_value(t));
		}
		snprintf(reason, sizeof(reason), "%s %s (tenants %s): %s",
			 json_string_value(json_object_get(f, "kind")),
			 json_string_value(json_object_get(f, "object")), who[0] ? who : "none",
			 json_string_value(json_object_get(f, "evidence")));
		if (api_node_life(call->d, target, &life, err) || api_node_note(call, &life, "isolation", reason, err))
			return -EINVAL;
	}
	*result = json_pack("{s:O}", "findings", fresh);
	return 0;
}

static int record(struct loomd *d, const char *source, json_t *findings, struct loom_err *err)
{
	json_t *fresh = json_array(), *f, *params, *result = NULL;
	size_t i;
	int ret = 0;

	json_array_foreach(findings, i, f)
		if (!seen_before(f))
			json_array_append(fresh, f);
	if (json_array_size(fresh)) {
		params = json_pack("{s:s}", "source", source);
		ret = loomd_internal_write(d, "isolation.verify", params, record_fn, fresh, &result, err);
		json_decref(params);
		json_decref(result);
	}
	json_decref(fresh);
	if (!ret) {
		json_decref(last_findings);
		last_findings = json_incref(findings);
	}
	return ret;
}

int loomd_isolation_run(struct loomd *d, const char *source, json_t **report, struct loom_err *err)
{
	struct isolation_nvml nvml[CONF_NVML_MAX];
	struct isolation_read_opts ro = { .nvml = nvml, .n_nvml = d->cfg.n_nvml };
	struct gpu_inst_rec *gpus = NULL;
	size_t n_gpus = 0;
	int64_t t0 = mono_ns();
	int n;

	*report = NULL;
	for (size_t i = 0; i < d->cfg.n_nvml; i++)
		nvml[i] = (struct isolation_nvml){ .node = d->cfg.nvml[i].node, .path = d->cfg.nvml[i].path };
	if (store_gpu_list(d->store, &gpus, &n_gpus))
		return loom_err_set(err, LOOM_E_STORE, "", "cannot read the MIG instances: %s",
				    store_errmsg(d->store));
	n = isolation_verify(d->topo, &(struct isolation_intent){ .model = &d->model, .gpus = gpus,
								  .n_gpus = n_gpus },
			     &ro, report, err);
	free(gpus);
	if (n < 0)
		return n;
	if (record(d, source, json_object_get(*report, "findings"), err)) {
		json_decref(*report);
		*report = NULL;
		return -EIO;
	}
	if (n)
		log_warn("isolation check (%s): %d finding%s, %.1f ms", source, n, n == 1 ? "" : "s",
			 (mono_ns() - t0) / 1e6);
	else
		log_info("isolation check (%s): clean, %.1f ms", source, (mono_ns() - t0) / 1e6);
	return n;
}

static void hex(char *out, const unsigned char *in, size_t len)
{
	for (size_t i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
}

/*
 * The signed form: the report's text exactly as signed (sorted keys,
 * indented, a final newline) and its signature in hex; the client writes
 * both to files for `openssl dgst -sha256 -verify`.
 */
static int report_sign(struct loomd *d, json_t *report, json_t **out, struct loom_err *err)
{
	char *text = json_dumps(report, JSON_SORT_KEYS | JSON_INDENT(2)), *sig_hex = NULL, *doc = NULL;
	unsigned char *sig = NULL;
	size_t sig_len = 0, len;
	int ret = -ENOMEM;

	if (!d->cfg.isolation_key[0]) {
		free(text);
		return loom_err_set(err, LOOM_E_CONFIG, "isolation.key",
				    "no signing key: set isolation.key in loomd.conf to a PEM private key");
	}
	if (!text)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
	len = strlen(text);
	doc = malloc(len + 2);
	if (!doc)
		goto out;
	memcpy(doc, text, len);
	doc[len] = '\n';
	doc[len + 1] = '\0';
	ret = isolation_sign(d->cfg.isolation_key, doc, len + 1, &sig, &sig_len, err);
	if (ret)
		goto out;
	ret = -ENOMEM;
	sig_hex = malloc(2 * sig_len + 1);
	if (!sig_hex)
		goto out;
	hex(sig_hex, sig, sig_len);
	sig_hex[2 * sig_len] = '\0';
	*out = json_pack("{s:O, s:s, s:s, s:s}", "report", report, "document", doc, "signature", sig_hex,
			 "digest", "sha256");
	ret = *out ? 0 : -ENOMEM;
out:
	if (ret == -ENOMEM)
		loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
	free(text);
	free(doc);
	free(sig);
	free(sig_hex);
	return ret;
}

int m_isolation_verify(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "signed", NULL };
	json_t *sign = json_object_get(params, "signed"), *report = NULL;
	int ret;

	if (params_only(params, allowed, err))
		return -EINVAL;
	if (sign && !json_is_boolean(sign))
		return loom_err_set(err, LOOM_E_PARAMS, "signed", "'signed' must be true or false");
	if (json_is_true(sign) && !call->d->cfg.isolation_key[0])
		return loom_err_set(err, LOOM_E_CONFIG, "isolation.key",
				    "no signing key: set isolation.key in loomd.conf to a PEM private key");
	ret = loomd_isolation_run(call->d, "request", &report, err);
	if (ret < 0)
		return ret;
	if (json_is_true(sign)) {
		ret = report_sign(call->d, report, result, err);
		json_decref(report);
		return ret;
	}
	*result = report;
	return 0;
}

/*
 * The periodic run reads on a thread: the fabric's truth only, through a
 * topology of its own (loaded from the file loomd runs with, so that a
 * topology.reload meanwhile frees nothing it uses).  The loop checks the
 * truth against the model once the thread is done (the check is pure and
 * fast), and records the findings.
 */
struct periodic_job {
	pthread_t thread;
	char topology_path[sizeof(((struct loom_config *)0)->topology)];
	char instance[sizeof(((struct loom_config *)0)->instance)];
	struct conf_nvml nvml[CONF_NVML_MAX];
	size_t n_nvml;
	struct fabric_truth *truth;
	int rc;
	int64_t time_ns;
	char error[256];
};

static struct periodic_job *job;
static int job_fd = -1;

static void *periodic_main(void *arg)
{
	struct periodic_job *j = arg;
	struct isolation_nvml nvml[CONF_NVML_MAX];
	struct isolation_read_opts ro = { .nvml = nvml, .n_nvml = j->n_nvml };
	struct topology *topo = NULL;
	struct loom_err err = { 0 };
	uint64_t one = 1;

	for (size_t i = 0; i < j->n_nvml; i++)
		nvml[i] = (struct isolation_nvml){ .node = j->nvml[i].node, .path = j->nvml[i].path };
	j->time_ns = realtime_ns();
	/* This instance's share only: another's targets are not its to read. */
	j->rc = topology_load_file(j->topology_path, &topo, &err);
	if (!j->rc)
		j->rc = topology_delegate(topo, j->instance, &err);
	if (j->rc)
		snprintf(j->error, sizeof(j->error), "the topology: %s", err.msg);
	else if ((j->rc = isolation_read(topo, &ro, &j->truth)))
		snprintf(j->error, sizeof(j->error), "reading the fabric: %s", strerror(-j->rc));
	topology_free(&topo);
	if (write(job_fd, &one, sizeof(one)) < 0)
		log_warn("isolation check: eventfd: %s", strerror(errno));
	return NULL;
}

static void periodic_free(struct periodic_job **pj)
{
	if (!*pj)
		return;
	fabric_truth_free(&(*pj)->truth);
	free(*pj);
	*pj = NULL;
}

/* The thread is done: check its truth against the model, record. */
static void on_job_done(struct loomd *d)
{
	struct gpu_inst_rec *gpus = NULL;
	struct findings f = { 0 };
	struct loom_err err = { 0 };
	json_t *report = NULL;
	size_t n_gpus = 0;
	uint64_t n;
	int rc;

	if (read(job_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("isolation check: eventfd: %s", strerror(errno));
	if (!job)
		return;
	pthread_join(job->thread, NULL);
	if (job->rc) {
		log_err("periodic isolation check failed: %s", job->error);
		goto out;
	}
	if (store_gpu_list(d->store, &gpus, &n_gpus)) {
		log_err("periodic isolation check: cannot read the MIG instances: %s", store_errmsg(d->store));
		goto out;
	}
	rc = isolation_check(d->topo, &(struct isolation_intent){ .model = &d->model, .gpus = gpus,
								  .n_gpus = n_gpus },
			     job->truth, &f);
	report = rc < 0 ? NULL : isolation_report(job->truth, &f, job->time_ns);
	if (!report) {
		log_err("periodic isolation check: out of memory");
		goto out;
	}
	if (record(d, "periodic", json_object_get(report, "findings"), &err))
		log_err("periodic isolation check: the findings could not be recorded: %s", err.msg);
	else if (rc)
		log_warn("isolation check (periodic): %d finding%s, read in %.1f ms", rc, rc == 1 ? "" : "s",
			 (realtime_ns() - job->time_ns) / 1e6);
	else
		log_info("isolation check (periodic): clean, read in %.1f ms",
			 (realtime_ns() - job->time_ns) / 1e6);
out:
	json_decref(report);
	findings_release(&f);
	free(gpus);
	periodic_free(&job);
}

static void on_timer(struct loomd *d)
{
	uint64_t n;

	if (read(timer_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("isolation check: timerfd: %s", strerror(errno));
	if (job)
		return;		/* the previous run still reads: this one is skipped */
	job = calloc(1, sizeof(*job));
	if (!job) {
		log_err("periodic isolation check: out of memory");
		return;
	}
	snprintf(job->topology_path, sizeof(job->topology_path), "%s", d->cfg.topology);
	snprintf(job->instance, sizeof(job->instance), "%s", d->cfg.instance);
	memcpy(job->nvml, d->cfg.nvml, sizeof(job->nvml));
	job->n_nvml = d->cfg.n_nvml;
	if (pthread_create(&job->thread, NULL, periodic_main, job)) {
		log_err("periodic isolation check: cannot start its thread");
		periodic_free(&job);
	}
}

int loomd_isolation_open(struct loomd *d)
{
	struct itimerspec its = { 0 };
	int ret;

	if (!d->cfg.isolation_interval_s)
		return 0;
	job_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (job_fd < 0 || timer_fd < 0)
		return -errno;
	its.it_value.tv_sec = its.it_interval.tv_sec = d->cfg.isolation_interval_s;
	if (timerfd_settime(timer_fd, 0, &its, NULL))
		return -errno;
	ret = loomd_fd_add(d, job_fd, on_job_done);
	return ret ? ret : loomd_fd_add(d, timer_fd, on_timer);
}

void loomd_isolation_close(struct loomd *d)
{
	(void)d;
	/* A read in progress is bounded by its time limits (netlink, vtysh, umad). */
	if (job) {
		pthread_join(job->thread, NULL);
		periodic_free(&job);
	}
	if (timer_fd >= 0)
		close(timer_fd);
	if (job_fd >= 0)
		close(job_fd);
	timer_fd = job_fd = -1;
	json_decref(last_findings);
	last_findings = NULL;
}

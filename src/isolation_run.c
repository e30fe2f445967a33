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

/*
 * The periodic run reads on a thread: the fabric's truth only, through a
 * topology of its own (loaded from the file loomd runs with, so that a
 * topology.reload meanwhile frees nothing it uses).  The loop checks the
 * truth against the model once the thread is done (the check is pure and
 * fast), and records the findings.
 */
struct periodic_job {
	pthread_t thread;
	uint64_t seq;		/* 1, 2, ...: the reads started */
	bool requested;		/* started for isolation.verify (else by the timer) */
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
static bool job_start(struct loomd *d, bool requested);

/* The reads started, the newest one done and its report (or why it failed),
 * and the read isolation.verify's waiting requests need (0: none). */
static uint64_t jobs_started, done_seq, want_seq;
static json_t *done_report;
static char done_error[300];

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
	const char *source;
	size_t n_gpus = 0;
	uint64_t n;
	int rc;

	if (read(job_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("isolation check: eventfd: %s", strerror(errno));
	if (!job)
		return;
	pthread_join(job->thread, NULL);
	source = job->requested ? "request" : "periodic";
	done_error[0] = '\0';
	if (job->rc) {
		snprintf(done_error, sizeof(done_error), "%s", job->error);
		log_err("isolation check (%s) failed: %s", source, job->error);
		goto out;
	}
	if (store_gpu_list(d->store, &gpus, &n_gpus)) {
		snprintf(done_error, sizeof(done_error), "cannot read the MIG instances: %s", store_errmsg(d->store));
		log_err("isolation check (%s): %s", source, done_error);
		goto out;
	}
	rc = isolation_check(d->topo, &(struct isolation_intent){ .model = &d->model, .gpus = gpus,
								  .n_gpus = n_gpus },
			     job->truth, &f);
	report = rc < 0 ? NULL : isolation_report(job->truth, &f, job->time_ns);
	if (!report) {
		snprintf(done_error, sizeof(done_error), "out of memory");
		log_err("isolation check (%s): out of memory", source);
		goto out;
	}
	if (record(d, source, json_object_get(report, "findings"), &err)) {
		snprintf(done_error, sizeof(done_error), "the findings could not be recorded: %s", err.msg);
		log_err("isolation check (%s): %s", source, done_error);
	} else if (rc) {
		log_warn("isolation check (%s): %d finding%s, read in %.1f ms", source, rc, rc == 1 ? "" : "s",
			 (realtime_ns() - job->time_ns) / 1e6);
	} else {
		log_info("isolation check (%s): clean, read in %.1f ms", source,
			 (realtime_ns() - job->time_ns) / 1e6);
	}
out:
	json_decref(done_report);
	done_report = done_error[0] ? NULL : json_incref(report);
	done_seq = job->seq;
	json_decref(report);
	findings_release(&f);
	free(gpus);
	periodic_free(&job);
	/* A request that came while this read ran needs one of its own. */
	if (want_seq > done_seq)
		job_start(d, true);
	/* Its waiters hear at the end of this loop iteration (waiters_check). */
}

/* Starts a read on its thread; false when it could not start. */
static bool job_start(struct loomd *d, bool requested)
{
	job = calloc(1, sizeof(*job));
	if (!job) {
		log_err("isolation check: out of memory");
		return false;
	}
	job->seq = ++jobs_started;
	job->requested = requested;
	snprintf(job->topology_path, sizeof(job->topology_path), "%s", d->cfg.topology);
	snprintf(job->instance, sizeof(job->instance), "%s", d->cfg.instance);
	memcpy(job->nvml, d->cfg.nvml, sizeof(job->nvml));
	job->n_nvml = d->cfg.n_nvml;
	if (pthread_create(&job->thread, NULL, periodic_main, job)) {
		log_err("isolation check: cannot start its thread");
		periodic_free(&job);
		return false;
	}
	return true;
}

static void on_timer(struct loomd *d)
{
	uint64_t n;

	if (read(timer_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("isolation check: timerfd: %s", strerror(errno));
	if (job)
		return;		/* the previous run still reads: this one is skipped */
	job_start(d, false);
}

/* ---- isolation.verify ------------------------------------------------------ */

/*
 * The reads are bounded (netlink, FRR's time limit per VTEP, the umad
 * time limit per MAD, NVML), so this is only a backstop.
 */
#define VERIFY_LIMIT_S 120

/* The wait's subject: "SEQ:SIGNED", the read the request needs. */
static bool verify_ready(struct loomd *d, const char *subject, uint64_t gen, bool expired, json_t **result,
			 bool *converged, struct loom_err *err)
{
	unsigned long long seq = 0;
	int sign = 0;

	(void)gen;
	*converged = true;
	if (sscanf(subject, "%llu:%d", &seq, &sign) != 2)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "isolation.verify: bad wait subject"), true;
	if (done_seq < seq) {
		if (expired)
			loom_err_set(err, LOOM_E_UNAVAILABLE, "", "the fabric read did not finish within %d s",
				     VERIFY_LIMIT_S);
		return expired;
	}
	if (!done_report) {
		loom_err_set(err, LOOM_E_UNAVAILABLE, "", "the isolation check failed: %s", done_error);
		return true;
	}
	json_decref(*result);
	*result = NULL;
	if (sign)
		report_sign(d, done_report, result, err);
	else
		*result = json_incref(done_report);
	return true;
}

static const struct api_wait verify_wait = { .read_limit_s = VERIFY_LIMIT_S, .check = verify_ready };

int m_isolation_verify(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "signed", NULL };
	json_t *sign = json_object_get(params, "signed");
	uint64_t need;

	if (params_only(params, allowed, err))
		return -EINVAL;
	if (sign && !json_is_boolean(sign))
		return loom_err_set(err, LOOM_E_PARAMS, "signed", "'signed' must be true or false");
	if (json_is_true(sign) && !call->d->cfg.isolation_key[0])
		return loom_err_set(err, LOOM_E_CONFIG, "isolation.key",
				    "no signing key: set isolation.key in loomd.conf to a PEM private key");
	/* A read already under way began before this request: the next one. */
	need = job ? job->seq + 1 : jobs_started + 1;
	if (!job && !job_start(call->d, true))
		return loom_err_set(err, LOOM_E_INTERNAL, "", "cannot start the fabric read");
	if (need > want_seq)
		want_seq = need;
	/* Answered by verify_ready once the read is checked, off the event loop. */
	*result = json_object();
	call->wait = &verify_wait;
	snprintf(call->wait_subject, sizeof(call->wait_subject), "%llu:%d", (unsigned long long)need,
		 json_is_true(sign));
	return *result ? 0 : loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
}

int loomd_isolation_open(struct loomd *d)
{
	struct itimerspec its = { 0 };
	int ret;

	job_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (job_fd < 0)
		return -errno;
	ret = loomd_fd_add(d, job_fd, on_job_done);
	if (ret || !d->cfg.isolation_interval_s)
		return ret;
	timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (timer_fd < 0)
		return -errno;
	its.it_value.tv_sec = its.it_interval.tv_sec = d->cfg.isolation_interval_s;
	if (timerfd_settime(timer_fd, 0, &its, NULL))
		return -errno;
	return loomd_fd_add(d, timer_fd, on_timer);
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
	json_decref(done_report);
	done_report = NULL;
	jobs_started = done_seq = want_seq = 0;
}

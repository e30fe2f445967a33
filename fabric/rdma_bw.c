/*
 * fabric/rdma_bw.c: pass thresholds per link rate, the ib_write_bw report
 * parser, and the runner of the two ends (fabric/rdma_bw.h).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fabric/rdma_bw.h"
#include "lib/monotime.h"
#include "lib/child.h"

/* Sorted by nominal rate.  Data rates: see the comment on struct rdma_rate. */
static const struct rdma_rate rates[] = {
	{ 5, "1x DDR", 4.0 },
	{ 10, "4x SDR", 8.0 },
	{ 14, "1x FDR", 14.0625 * 64 / 66 },
	{ 20, "4x DDR", 16.0 },
	{ 25, "1x EDR", 25.0 },
	{ 30, "12x SDR", 24.0 },
	{ 40, "4x QDR", 32.0 },
	{ 50, "1x HDR", 50.0 },
	{ 56, "4x FDR", 4 * 14.0625 * 64 / 66 },
	{ 60, "12x DDR", 48.0 },
	{ 100, "4x EDR", 100.0 },
	{ 120, "12x QDR", 96.0 },
	{ 168, "12x FDR", 12 * 14.0625 * 64 / 66 },
	{ 200, "4x HDR", 200.0 },
	{ 300, "12x EDR", 300.0 },
	{ 400, "4x NDR", 400.0 },
	{ 600, "12x HDR", 600.0 },
	{ 800, "4x XDR", 800.0 },
	{ 1200, "12x NDR", 1200.0 },
	{ 2400, "12x XDR", 2400.0 },
};

const struct rdma_rate *rdma_rate_lookup(unsigned int rate_gbps)
{
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++)
		if (rates[i].gbps == rate_gbps)
			return &rates[i];
	return NULL;
}

void rdma_thresholds_defaults(struct rdma_thresholds *t)
{
	memset(t, 0, sizeof(*t));
	t->pct = 90.0;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static struct rdma_threshold_override *override_for(struct rdma_thresholds *t,
						    unsigned int rate)
{
	for (size_t i = 0; i < t->n_over; i++)
		if (t->over[i].rate_gbps == rate)
			return &t->over[i];
	if (t->n_over == RDMA_OVERRIDES_MAX)
		return NULL;
	memset(&t->over[t->n_over], 0, sizeof(t->over[0]));
	t->over[t->n_over].rate_gbps = rate;
	return &t->over[t->n_over++];
}

int rdma_thresholds_set(struct rdma_thresholds *t, const char *key, const char *value,
			struct loom_err *err)
{
	struct rdma_threshold_override *o;
	const char *rate_s;
	unsigned long rate;
	bool is_pct;
	char *end;
	double v;

	if (strcmp(key, "rdma.pass_pct") == 0) {
		if (parse_double(value, 1, 100, &v) < 0)
			return loom_err_set(err, LOOM_E_CONFIG, key,
					    "'%s' is not a percentage from 1 to 100", value);
		t->pct = v;
		return 0;
	}
	if (strncmp(key, "rdma.pass_pct.", 14) == 0) {
		is_pct = true;
		rate_s = key + 14;
	} else if (strncmp(key, "rdma.min_gbps.", 14) == 0) {
		is_pct = false;
		rate_s = key + 14;
	} else {
		return -ENOENT;
	}
	errno = 0;
	rate = strtoul(rate_s, &end, 10);
	if (errno || end == rate_s || *end || !rdma_rate_lookup((unsigned int)rate))
		return loom_err_set(err, LOOM_E_CONFIG, key,
				    "'%s' is not an InfiniBand link rate in Gb/s (10, 20, 40, 56, 100, 200, 400, 800, ...)",
				    rate_s);
	if (is_pct ? parse_double(value, 1, 100, &v) : parse_double(value, 0.001, 10000, &v))
		return loom_err_set(err, LOOM_E_CONFIG, key, is_pct ?
				    "'%s' is not a percentage from 1 to 100" :
				    "'%s' is not a bandwidth in Gb/s", value);
	o = override_for(t, (unsigned int)rate);
	if (!o)
		return loom_err_set(err, LOOM_E_CONFIG, key,
				    "more than %d per-rate overrides", RDMA_OVERRIDES_MAX);
	if (is_pct)
		o->pct = v;
	else
		o->min_gbps = v;
	return 0;
}

double rdma_threshold_gbps(const struct rdma_thresholds *t, unsigned int rate_gbps,
			   double *line_gbps)
{
	const struct rdma_rate *r = rdma_rate_lookup(rate_gbps);
	double line = r ? r->data_gbps : (double)rate_gbps;
	double pct = t->pct;

	if (line_gbps)
		*line_gbps = line;
	for (size_t i = 0; i < t->n_over; i++) {
		if (t->over[i].rate_gbps != rate_gbps)
			continue;
		if (t->over[i].min_gbps > 0)
			return t->over[i].min_gbps;
		if (t->over[i].pct > 0)
			pct = t->over[i].pct;
	}
	return line * pct / 100.0;
}

void rdma_bw_judge(const struct rdma_thresholds *t, unsigned int rate_gbps,
		   struct rdma_bw_result *res)
{
	const struct rdma_rate *r = rdma_rate_lookup(rate_gbps);

	res->rate_gbps = rate_gbps;
	res->threshold_gbps = rdma_threshold_gbps(t, rate_gbps, &res->line_gbps);
	res->pct_of_line = res->line_gbps > 0 ? 100.0 * res->gbps / res->line_gbps : 0;
	res->pass = res->gbps >= res->threshold_gbps;
	snprintf(res->reason, sizeof(res->reason),
		 "%.2f Gb/s is %.1f%% of the %.2f Gb/s a %s link carries; the pass mark is %.2f Gb/s: %s",
		 res->gbps, res->pct_of_line, res->line_gbps, r ? r->name : "(unknown rate)",
		 res->threshold_gbps, res->pass ? "pass" : "fail");
}

static double round2(double v)
{
	/* Without libm: LOOM_LIBS does not link it. */
	return (double)(long long)(v * 100.0 + (v >= 0 ? 0.5 : -0.5)) / 100.0;
}

json_t *rdma_bw_result_to_json(const struct rdma_bw_result *res)
{
	return json_pack("{s:f, s:f, s:f, s:f, s:f, s:i, s:b, s:s, s:f, s:s, s:s, s:i, s:I, s:I}",
			 "gbps", round2(res->gbps), "peak_gbps", round2(res->peak_gbps),
			 "pct_of_line", round2(res->pct_of_line), "line_gbps", round2(res->line_gbps),
			 "threshold_gbps", round2(res->threshold_gbps), "rate_gbps", (int)res->rate_gbps,
			 "pass", res->pass, "reason", res->reason,
			 "duration_s", round2(res->duration_s), "peer", res->peer,
			 "device", res->device, "qps", (int)res->qps,
			 "bytes", (json_int_t)res->bytes, "iterations", (json_int_t)res->iterations);
}

int rdma_bw_format_report(const struct rdma_bw_report *r, char *buf, size_t size)
{
	static const char sep[] =
		"---------------------------------------------------------------------------------------";
	double bytes = (double)r->msgs * (double)r->size;
	double secs = r->secs > 0 ? r->secs : 1e-9;
	double bw = r->gbits ? bytes * 8 / secs / 1e9 : bytes / secs / 1048576.0;
	const char *unit = r->gbits ? "Gb/sec" : "MB/sec";

	/* Peak equals average: the built-in test keeps no per-interval samples. */
	return snprintf(buf, size,
			"%s\n                    RDMA_Write BW Test (loom-rdma-bw)\n"
			" Device          : %s\n"
			" Number of qps   : %u\n"
			" Connection type : RC\n"
			" Link type       : %s\n"
			" Duration        : %u[sec]\n"
			"%s\n"
			" #bytes     #iterations    BW peak[%s]    BW average[%s]   MsgRate[Mpps]\n"
			" %-7lu    %-10llu       %-7.2f            %-7.2f\t\t   %-7.6f\n"
			"%s\n",
			sep, r->device, r->qps, r->link, r->duration_s, sep, unit, unit,
			r->size, r->msgs, bw, bw, (double)r->msgs / secs / 1e6, sep);
}

/* Split a header line into columns separated by two or more blanks. */
static size_t header_columns(const char *line, char cols[][40], size_t max)
{
	size_t n = 0;
	const char *p = line;

	while (*p && *p != '\n' && n < max) {
		size_t len = 0;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '\n')
			break;
		while (p[len] && p[len] != '\n' && p[len] != '\t' &&
		       !(p[len] == ' ' && (p[len + 1] == ' ' || p[len + 1] == '\t')))
			len++;
		snprintf(cols[n], sizeof(cols[0]), "%.*s", (int)len, p);
		n++;
		p += len;
	}
	return n;
}

static int find_col(char cols[][40], size_t n, const char *prefix)
{
	for (size_t i = 0; i < n; i++)
		if (strncmp(cols[i], prefix, strlen(prefix)) == 0)
			return (int)i;
	return -1;
}

/* "Number of qps   : 4\t\tTransport type : IB" -> the word after "key ... :". */
static void field_after(const char *text, const char *key, char *out, size_t size)
{
	const char *p = strstr(text, key), *colon;
	size_t len = 0;

	out[0] = '\0';
	if (!p)
		return;
	colon = strchr(p, ':');
	if (!colon || memchr(p, '\n', (size_t)(colon - p)))
		return;
	colon++;
	while (*colon == ' ' || *colon == '\t')
		colon++;
	while (colon[len] && !isspace((unsigned char)colon[len]))
		len++;
	snprintf(out, size, "%.*s", (int)len, colon);
}

int rdma_bw_parse_perftest(const char *text, struct rdma_bw_result *res,
			   struct loom_err *err)
{
	char cols[16][40], word[LOOM_NAME_MAX];
	const char *hdr = text, *line;
	int c_bytes, c_iter, c_peak, c_avg, c_rate;
	double unit = 0;
	size_t ncol;
	bool found = false;

	/* The table's header: the last "#bytes" line with a BW average column. */
	for (const char *p = strstr(text, "#bytes"); p; p = strstr(p + 1, "#bytes")) {
		const char *eol = strchr(p, '\n');
		const char *avg = strstr(p, "BW average[");

		if (avg && (!eol || avg < eol))
			hdr = p;
	}
	if (hdr == text && !strstr(text, "#bytes"))
		return loom_err_set(err, LOOM_E_UNAVAILABLE, "",
				    "the bandwidth tool printed no result table");
	ncol = header_columns(hdr, cols, 16);
	c_bytes = find_col(cols, ncol, "#bytes");
	c_iter = find_col(cols, ncol, "#iterations");
	c_peak = find_col(cols, ncol, "BW peak");
	c_avg = find_col(cols, ncol, "BW average");
	c_rate = find_col(cols, ncol, "MsgRate");
	if (c_bytes < 0 || c_avg < 0)
		return loom_err_set(err, LOOM_E_UNAVAILABLE, "",
				    "the bandwidth tool's table has no #bytes / BW average column");
	if (strstr(cols[c_avg], "[Gb/sec]"))
		unit = 1.0;
	else if (strstr(cols[c_avg], "[MB/sec]"))
		unit = 1048576.0 * 8 / 1e9;	/* perftest's MB is MiB */
	else
		return loom_err_set(err, LOOM_E_UNAVAILABLE, "",
				    "unknown bandwidth unit in '%s'", cols[c_avg]);

	/* Rows follow until the separator; the largest message size counts. */
	line = strchr(hdr, '\n');
	while (line && *++line) {
		double v[16];
		size_t n = 0;
		const char *p = line;
		char *end;

		if (*line == '-' || *line == '\n')
			break;
		while (n < 16) {
			while (*p == ' ' || *p == '\t')
				p++;
			if (!*p || *p == '\n')
				break;
			v[n] = strtod(p, &end);
			if (end == p)
				break;
			n++;
			p = end;
		}
		if (n > (size_t)c_avg && (!found || v[c_bytes] >= (double)res->bytes)) {
			found = true;
			res->bytes = (unsigned long)v[c_bytes];
			res->iterations = c_iter >= 0 && (size_t)c_iter < n ? (unsigned long)v[c_iter] : 0;
			res->peak_gbps = c_peak >= 0 && (size_t)c_peak < n ? v[c_peak] * unit : 0;
			res->gbps = v[c_avg] * unit;
			res->msg_rate_mpps = c_rate >= 0 && (size_t)c_rate < n ? v[c_rate] : 0;
		}
		line = strchr(line, '\n');
	}
	if (!found)
		return loom_err_set(err, LOOM_E_UNAVAILABLE, "",
				    "the bandwidth tool's table has no result row (server end, or the test failed)");
	field_after(text, "Number of qps", word, sizeof(word));
	res->qps = (unsigned int)strtoul(word, NULL, 10);
	field_after(text, "Device ", res->device, sizeof(res->device));
	return 0;
}

void rdma_bw_opts_defaults(struct rdma_bw_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->tool = RDMA_TOOL_PERFTEST;
	o->qps = 4;
	o->size = 1 << 20;
	o->duration_s = 5;
	o->tcp_port = 18515;
	o->gid_index = -1;
}

int rdma_bw_opts_set(struct rdma_bw_opts *o, const char *key, const char *value,
		     struct loom_err *err)
{
	static const struct {
		const char *key;
		double lo, hi;
		const char *what;
	} keys[] = {
		{ "rdma.qps", 1, 64, "a number of queue pairs from 1 to 64" },
		{ "rdma.size", 4096, 1 << 30, "a message size in bytes from 4096 to 1073741824" },
		{ "rdma.duration", 1, 600, "seconds from 1 to 600" },
		{ "rdma.gid_index", 0, 255, "a GID index from 0 to 255, or auto" },
		{ "rdma.timeout", 0, 3600, "seconds from 0 (duration + 40) to 3600" },
		{ "rdma.tx_depth", 0, 8192, "a send queue depth from 1 to 8192, or 0 (the tool's default)" },
	};
	double v;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(key, keys[i].key))
			continue;
		if (i == 3 && strcmp(value, "auto") == 0) {
			o->gid_index = -1;
			return 0;
		}
		if (parse_double(value, keys[i].lo, keys[i].hi, &v) || v != (double)(long)v)
			return loom_err_set(err, LOOM_E_CONFIG, key, "'%s' is not %s", value, keys[i].what);
		switch (i) {
		case 0: o->qps = (unsigned int)v; break;
		case 1: o->size = (unsigned long)v; break;
		case 2: o->duration_s = (unsigned int)v; break;
		case 3: o->gid_index = (int)v; break;
		case 4: o->timeout_ms = (int)v * 1000; break;
		default: o->tx_depth = (unsigned int)v; break;
		}
		return 0;
	}
	return -ENOENT;
}

static int argv_push(struct rdma_argv *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int argv_push(struct rdma_argv *a, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (a->argc + 1 >= RDMA_ARGV_MAX)
		return -E2BIG;
	va_start(ap, fmt);
	n = vsnprintf(a->buf + a->used, sizeof(a->buf) - a->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(a->buf) - a->used)
		return -E2BIG;
	a->argv[a->argc++] = a->buf + a->used;
	a->argv[a->argc] = NULL;
	a->used += (size_t)n + 1;
	return 0;
}

/* A prefix word with every "{host}" replaced. */
static int push_templated(struct rdma_argv *a, const char *word, const char *host)
{
	char tmp[512];
	size_t len = 0;

	for (const char *p = word; *p; ) {
		if (strncmp(p, "{host}", 6) == 0) {
			len += (size_t)snprintf(tmp + len, sizeof(tmp) - len, "%s", host ? host : "");
			p += 6;
		} else if (len + 1 < sizeof(tmp)) {
			tmp[len++] = *p++;
			tmp[len] = '\0';
		} else {
			return -E2BIG;
		}
		if (len >= sizeof(tmp))
			return -E2BIG;
	}
	tmp[len] = '\0';
	return argv_push(a, "%s", tmp);
}

int rdma_bw_argv(const struct rdma_bw_opts *o, const struct rdma_end *end,
		 const char *server_addr, struct rdma_argv *out)
{
	const char *prog = o->program ? o->program :
		o->tool == RDMA_TOOL_BUILTIN ? "loom-rdma-bw" : "ib_write_bw";
	int rc = 0;

	memset(out, 0, sizeof(*out));
	/* A value starting with '-' would be read as an option by the tool or by ssh. */
	if (!end->device || !end->device[0] || end->device[0] == '-' ||
	    (server_addr && (!server_addr[0] || server_addr[0] == '-')) ||
	    (end->host && end->host[0] == '-'))
		return -EINVAL;
	for (size_t i = 0; end->prefix && end->prefix[i] && !rc; i++)
		rc = push_templated(out, end->prefix[i], end->host);
	if (!rc)
		rc = argv_push(out, "%s", prog);
	if (!rc)
		rc = argv_push(out, "-d");
	if (!rc)
		rc = argv_push(out, "%s", end->device);
	if (!rc)
		rc = argv_push(out, "-i");
	if (!rc)
		rc = argv_push(out, "%u", end->ib_port ? end->ib_port : 1);
	if (!rc)
		rc = argv_push(out, "-q");
	if (!rc)
		rc = argv_push(out, "%u", o->qps);
	if (!rc)
		rc = argv_push(out, "-s");
	if (!rc)
		rc = argv_push(out, "%lu", o->size);
	if (!rc)
		rc = argv_push(out, "-D");
	if (!rc)
		rc = argv_push(out, "%u", o->duration_s);
	if (!rc)
		rc = argv_push(out, "-p");
	if (!rc)
		rc = argv_push(out, "%u", o->tcp_port);
	if (!rc && o->gid_index >= 0)
		rc = argv_push(out, "-x");
	if (!rc && o->gid_index >= 0)
		rc = argv_push(out, "%d", o->gid_index);
	if (!rc)
		rc = argv_push(out, "--report_gbits");
	/* perftest -F: no cpufreq warning; loom judges the number, not the host tuning. */
	if (!rc && o->tool == RDMA_TOOL_PERFTEST)
		rc = argv_push(out, "-F");
	if (!rc && o->tool == RDMA_TOOL_PERFTEST && o->tx_depth)
		rc = argv_push(out, "-t");
	if (!rc && o->tool == RDMA_TOOL_PERFTEST && o->tx_depth)
		rc = argv_push(out, "%u", o->tx_depth);
	if (!rc && server_addr)
		rc = argv_push(out, "%s", server_addr);
	return rc;
}

struct server_run {
	const char *const *argv;
	int timeout_ms;
	int cancel_fd;		/* readable once the client end gave up */
	struct child_result res;
	int rc;
	int done;		/* set with __atomic when the server end returned */
};

static void *server_thread(void *arg)
{
	struct server_run *s = arg;

	s->rc = child_run_cancel(s->argv, s->timeout_ms, 1 << 20, s->cancel_fd, &s->res);
	__atomic_store_n(&s->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static bool not_listening_yet(const struct child_result *r)
{
	return (r->out && (strstr(r->out, "Couldn't connect") || strstr(r->out, "not listening"))) ||
	       (r->err && (strstr(r->err, "Couldn't connect") || strstr(r->err, "not listening")));
}

/* The last line of a child's output, for an error message. */
static const char *last_words(const struct child_result *r, char *buf, size_t size)
{
	const char *s = r->err && r->err[0] ? r->err : r->out ? r->out : "";
	size_t len = strlen(s), start;

	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	start = len;
	while (start && s[start - 1] != '\n')
		start--;
	snprintf(buf, size, "%.*s", (int)(len - start), s + start);
	return buf;
}

int rdma_bw_run(const struct rdma_bw_opts *o, const struct rdma_end *server,
		const struct rdma_end *client, const char *server_addr,
		struct rdma_bw_result *res, struct loom_err *err)
{
	/* How long the client keeps trying while the server end starts. */
	const double connect_window_s = 10.0;
	/* How long the server end may take to exit once the client is done. */
	const time_t server_grace_s = 15;
	struct server_run srv = { 0 };
	struct child_result cres = { 0 };
	struct rdma_argv sargv, cargv;
	int cancel[2] = { -1, -1 };
	struct timespec until;
	pthread_t tid;
	double t0, t1 = 0, t_start = 0;
	int timeout_ms, rc;
	bool client_ok, server_first;
	char words[200];

	memset(res, 0, sizeof(*res));
	rc = rdma_bw_argv(o, server, NULL, &sargv);
	if (!rc)
		rc = rdma_bw_argv(o, client, server_addr, &cargv);
	if (rc)
		return loom_err_set(err, LOOM_E_PARAMS, "", "cannot build the command line of an end (%s)",
				    rc == -E2BIG ? "too long" : "a value starts with '-' or is empty");
	if (pipe2(cancel, O_CLOEXEC) < 0)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "pipe: %s", strerror(errno));
	timeout_ms = o->timeout_ms ? o->timeout_ms :
		(int)(o->duration_s + connect_window_s + 30) * 1000;
	srv.argv = sargv.argv;
	srv.timeout_ms = timeout_ms;
	srv.cancel_fd = cancel[0];
	rc = pthread_create(&tid, NULL, server_thread, &srv);
	if (rc) {
		loom_err_set(err, LOOM_E_INTERNAL, "", "cannot start a thread: %s", strerror(rc));
		rc = -rc;
		goto out_pipe;
	}
	t0 = mono_s();
	for (;;) {
		t_start = mono_s();
		rc = child_run(cargv.argv, timeout_ms, 1 << 20, &cres);
		t1 = mono_s();
		if (rc < 0 || cres.status == 0 || !not_listening_yet(&cres) ||
		    __atomic_load_n(&srv.done, __ATOMIC_ACQUIRE) || t1 - t0 > connect_window_s)
			break;
		child_result_release(&cres);
		/* Poll again shortly; the server end is still starting. */
		nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 * 1000 }, NULL);
	}
	server_first = __atomic_load_n(&srv.done, __ATOMIC_ACQUIRE);
	client_ok = rc == 0 && cres.status == 0 && !cres.timed_out;
	/* A server end whose client gave up would wait for its time limit: end it. */
	if (client_ok) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += server_grace_s;
		if (pthread_timedjoin_np(tid, NULL, &until) == 0)
			goto joined;
	}
	if (write(cancel[1], "x", 1) < 0) {
		close(cancel[1]);	/* a hang-up cancels too */
		cancel[1] = -1;
	}
	pthread_join(tid, NULL);
joined:
	res->fault = RDMA_FAULT_NODE;
	if (rc < 0) {
		loom_err_set(err, LOOM_E_UNAVAILABLE, "", "cannot start the client end %s: %s",
			     cargv.argv[0], strerror(-rc));
		goto out;
	}
	/* The peer's faults first: a client end fails too when its server end did. */
	res->fault = RDMA_FAULT_PEER;
	if (srv.rc < 0) {
		rc = srv.rc;
		loom_err_set(err, LOOM_E_UNAVAILABLE, "", "the peer's fault: cannot start the server end %s: %s",
			     sargv.argv[0], strerror(-rc));
		goto out;
	}
	if (server_first && !client_ok && srv.res.status != 0 && !srv.res.cancelled) {
		rc = -EIO;
		loom_err_set(err, LOOM_E_UNAVAILABLE, "", "the peer's fault: the server end on %s exited with %d first: %s",
			     server->host ? server->host : "this node", srv.res.status,
			     last_words(&srv.res, words, sizeof(words)));
		goto out;
	}
	if (!cres.timed_out && cres.status != 0 && not_listening_yet(&cres)) {
		rc = -EIO;
		loom_err_set(err, LOOM_E_UNAVAILABLE, "", "the peer's fault: the server end on %s did not listen within %.0f s: %s",
			     server->host ? server->host : "this node", connect_window_s,
			     last_words(&cres, words, sizeof(words)));
		goto out;
	}
	res->fault = RDMA_FAULT_NODE;
	if (cres.timed_out) {
		rc = -ETIMEDOUT;
		loom_err_set(err, LOOM_E_TIMEOUT, "", "the client end did not finish within %d ms",
			     timeout_ms);
		goto out;
	}
	if (cres.status != 0) {
		rc = -EIO;
		loom_err_set(err, LOOM_E_UNAVAILABLE, "", "the client end on %s exited with %d: %s",
			     client->host ? client->host : "this node", cres.status,
			     last_words(&cres, words, sizeof(words)));
		goto out;
	}
	/* The client's report stands even when the server end had to be ended. */
	if (srv.res.status != 0 && !srv.res.cancelled) {
		rc = -EIO;
		res->fault = RDMA_FAULT_PEER;
		loom_err_set(err, LOOM_E_UNAVAILABLE, "", "the peer's fault: the server end on %s exited with %d: %s",
			     server->host ? server->host : "this node", srv.res.status,
			     last_words(&srv.res, words, sizeof(words)));
		goto out;
	}
	res->fault = RDMA_FAULT_NONE;
	rc = rdma_bw_parse_perftest(cres.out, res, err);
	if (rc < 0) {
		res->fault = RDMA_FAULT_NODE;
		goto out;
	}
	res->duration_s = t1 - t_start;
	snprintf(res->peer, sizeof(res->peer), "%s", server->host ? server->host : "");
out:
	child_result_release(&cres);
	if (srv.rc == 0)
		child_result_release(&srv.res);
out_pipe:
	for (int i = 0; i < 2; i++)
		if (cancel[i] >= 0)
			close(cancel[i]);
	return rc;
}

void rdma_pool_init(struct rdma_pool *p)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
}

void rdma_pool_destroy(struct rdma_pool *p)
{
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
}

void rdma_pool_clear(struct rdma_pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->n = 0;
	p->closing = false;
	pthread_mutex_unlock(&p->lock);
}

int rdma_pool_add(struct rdma_pool *p, const struct topo_node *peer, const char *addr,
		  unsigned int base_tcp_port)
{
	int rc = 0;

	pthread_mutex_lock(&p->lock);
	if (p->n + peer->n_hca_ports > RDMA_POOL_MAX) {
		rc = -E2BIG;
		goto out;
	}
	for (size_t i = 0; i < peer->n_hca_ports; i++) {
		const struct topo_hca_port *hp = &peer->hca_ports[i];
		struct rdma_pool_port *pp = &p->ports[p->n];

		memset(pp, 0, sizeof(*pp));
		snprintf(pp->peer, sizeof(pp->peer), "%s", peer->name);
		snprintf(pp->addr, sizeof(pp->addr), "%s", addr && addr[0] ? addr : peer->name);
		snprintf(pp->port, sizeof(pp->port), "%s", hp->name);
		snprintf(pp->sm, sizeof(pp->sm), "%s", hp->sm);
		snprintf(pp->rail, sizeof(pp->rail), "%s", hp->rail);
		pp->rate_gbps = hp->rate_gbps;
		pp->tcp_port = base_tcp_port + (unsigned int)p->n;
		p->n++;
	}
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* How well @q fits @want: higher is better, 0 = not at all. */
static int pool_fit(const struct rdma_pool_port *q, const char *node, const struct topo_hca_port *want)
{
	if (strcmp(q->peer, node) == 0 || strcmp(q->sm, want->sm))
		return 0;
	if (strcmp(q->port, want->name) == 0)
		return 4;
	if (want->rail[0] && strcmp(q->rail, want->rail) == 0)
		return 3;
	if (q->rate_gbps == want->rate_gbps)
		return 2;
	return 1;
}

int rdma_pool_pick(const struct rdma_pool *p, const char *node, const struct topo_hca_port *want,
		   int avoid)
{
	int best = -1, best_fit = 0;
	bool fits = false;

	for (size_t i = 0; i < p->n; i++) {
		int fit = pool_fit(&p->ports[i], node, want);

		if (!fit)
			continue;
		fits = true;
		if (p->ports[i].busy)
			continue;
		/* After a failure at @avoid's peer, another peer's port first. */
		if (avoid < 0 || (size_t)avoid >= p->n || strcmp(p->ports[i].peer, p->ports[avoid].peer))
			fit += 10;
		if (best < 0 || fit > best_fit) {
			best = (int)i;
			best_fit = fit;
		}
	}
	if (best >= 0)
		return best;
	return fits ? -EBUSY : -ENOENT;
}

int rdma_pool_acquire(struct rdma_pool *p, const char *node, const struct topo_hca_port *want,
		      int avoid, int timeout_ms)
{
	struct timespec until;
	int idx;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&p->lock);
	for (;;) {
		if (p->closing) {
			idx = -ECANCELED;
			break;
		}
		idx = rdma_pool_pick(p, node, want, avoid);
		if (idx != -EBUSY)
			break;
		if (pthread_cond_timedwait(&p->cond, &p->lock, &until) == ETIMEDOUT) {
			idx = -ETIMEDOUT;
			break;
		}
	}
	if (idx >= 0)
		p->ports[idx].busy = true;
	pthread_mutex_unlock(&p->lock);
	return idx;
}

void rdma_pool_release(struct rdma_pool *p, int idx)
{
	pthread_mutex_lock(&p->lock);
	if (idx >= 0 && (size_t)idx < p->n)
		p->ports[idx].busy = false;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

void rdma_pool_close(struct rdma_pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->closing = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

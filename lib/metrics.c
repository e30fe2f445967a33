/*
 * lib/metrics.c: the metric registry and its HTTP listener.
 *
 * Series live in one array per family, found by their label string; a
 * family has tens of series at most (methods, targets, states), so a linear
 * search under the lock costs less than a hash.  The listener is one thread
 * that serves one scrape at a time with short socket timeouts: Prometheus
 * scrapes once every few seconds, and a client that stalls is dropped after
 * a second rather than holding the next scrape.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/array.h"
#include "lib/log.h"
#include "lib/metrics.h"

struct series {
	char *labels;
	double value;			/* counter, gauge; histogram: sum */
	unsigned long long count;	/* histogram */
	unsigned long long bucket[METRIC_MAX_BUCKETS];
};

struct family {
	const struct metric_family_def *def;
	struct series *series;
	size_t n, cap;
};

struct metrics {
	pthread_mutex_t lock;
	struct family *fam;
	size_t n_fam;
	void (*scrape_fn)(struct metrics *, void *);
	void *scrape_arg;
};

struct metrics *metrics_new(const struct metric_family_def *defs, size_t n)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->fam = calloc(n ? n : 1, sizeof(*m->fam));
	if (!m->fam) {
		free(m);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		m->fam[i].def = &defs[i];
	m->n_fam = n;
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

static void family_clear(struct family *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->series[i].labels);
	f->n = 0;
}

void metrics_free(struct metrics **pm)
{
	struct metrics *m = *pm;

	if (!m)
		return;
	for (size_t i = 0; i < m->n_fam; i++) {
		family_clear(&m->fam[i]);
		free(m->fam[i].series);
	}
	free(m->fam);
	pthread_mutex_destroy(&m->lock);
	free(m);
	*pm = NULL;
}

static struct family *family_find(struct metrics *m, const char *name, enum metric_type type)
{
	for (size_t i = 0; i < m->n_fam; i++)
		if (strcmp(m->fam[i].def->name, name) == 0)
			return m->fam[i].def->type == type ? &m->fam[i] : NULL;
	return NULL;
}

/* The series of @labels in @f, made when new; NULL only when out of memory. */
static struct series *series_get(struct family *f, const char *labels)
{
	struct series *s;

	if (!labels)
		labels = "";
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->series[i].labels, labels) == 0)
			return &f->series[i];
	if (ARRAY_GROW(f->series, f->cap, f->n + 1))
		return NULL;
	s = &f->series[f->n];
	memset(s, 0, sizeof(*s));
	s->labels = strdup(labels);
	if (!s->labels)
		return NULL;
	f->n++;
	return s;
}

static void update(struct metrics *m, const char *name, enum metric_type type, const char *labels,
		   double v, bool set)
{
	struct family *f;
	struct series *s;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	f = family_find(m, name, type);
	if (!f) {
		pthread_mutex_unlock(&m->lock);
		log_err("metrics: no %s family %s", type == METRIC_COUNTER ? "counter" :
			type == METRIC_GAUGE ? "gauge" : "histogram", name);
		return;
	}
	s = series_get(f, labels);
	if (s && type == METRIC_HISTOGRAM) {
		s->value += v;
		s->count++;
		for (size_t i = 0; i < f->def->n_buckets; i++)
			if (v <= f->def->buckets[i])
				s->bucket[i]++;
	} else if (s) {
		s->value = set ? v : s->value + v;
	}
	pthread_mutex_unlock(&m->lock);
}

void metrics_add(struct metrics *m, const char *family, const char *labels, double v)
{
	update(m, family, METRIC_COUNTER, labels, v, false);
}

void metrics_set(struct metrics *m, const char *family, const char *labels, double v)
{
	struct family *f;

	/* A counter may be set too, from a source that counts by itself. */
	if (m) {
		pthread_mutex_lock(&m->lock);
		f = family_find(m, family, METRIC_COUNTER);
		pthread_mutex_unlock(&m->lock);
		if (f) {
			update(m, family, METRIC_COUNTER, labels, v, true);
			return;
		}
	}
	update(m, family, METRIC_GAUGE, labels, v, true);
}

void metrics_observe(struct metrics *m, const char *family, const char *labels, double v)
{
	update(m, family, METRIC_HISTOGRAM, labels, v, false);
}

void metrics_clear(struct metrics *m, const char *family)
{
	struct family *f;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	f = family_find(m, family, METRIC_GAUGE);
	if (f)
		family_clear(f);
	pthread_mutex_unlock(&m->lock);
}

void metrics_on_scrape(struct metrics *m, void (*fn)(struct metrics *, void *), void *arg)
{
	pthread_mutex_lock(&m->lock);
	m->scrape_fn = fn;
	m->scrape_arg = arg;
	pthread_mutex_unlock(&m->lock);
}

void metrics_label_value(char *out, size_t size, const char *v)
{
	size_t o = 0;

	if (!size)
		return;
	for (; *v; v++) {
		bool esc = *v == '\\' || *v == '"' || *v == '\n';

		if (o + (esc ? 2 : 1) >= size)
			break;	/* an escape is never cut in half */
		if (esc)
			out[o++] = '\\';
		out[o++] = *v == '\n' ? 'n' : *v;
	}
	out[o] = '\0';
}

/* A growing text buffer; on failure it stays NULL and later appends are dropped. */
struct text {
	char *s;
	size_t len, cap;
	bool failed;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	for (;;) {
		size_t room = t->cap - t->len;

		va_start(ap, fmt);
		n = vsnprintf(t->s ? t->s + t->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if ((size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		if (ARRAY_GROW(t->s, t->cap, t->len + (size_t)n + 1)) {
			t->failed = true;
			return;
		}
	}
}

/* Prometheus' float syntax: integers without a fraction, +Inf spelt so. */
static void text_num(struct text *t, double v)
{
	if (isinf(v))
		text_add(t, v > 0 ? "+Inf" : "-Inf");
	else if (isnan(v))
		text_add(t, "NaN");
	else if (v == (double)(long long)v && fabs(v) < 1e15)
		text_add(t, "%lld", (long long)v);
	else
		text_add(t, "%.9g", v);
}

static void render_histogram(struct text *t, const struct family *f, const struct series *s)
{
	const char *name = f->def->name;
	const char *sep = s->labels[0] ? "," : "";

	for (size_t b = 0; b < f->def->n_buckets; b++) {
		text_add(t, "%s_bucket{%s%sle=\"", name, s->labels, sep);
		text_num(t, f->def->buckets[b]);
		text_add(t, "\"} %llu\n", s->bucket[b]);
	}
	text_add(t, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, s->labels, sep, s->count);
	text_add(t, "%s_sum%s%s%s ", name, s->labels[0] ? "{" : "", s->labels, s->labels[0] ? "}" : "");
	text_num(t, s->value);
	text_add(t, "\n%s_count%s%s%s %llu\n", name, s->labels[0] ? "{" : "", s->labels,
		 s->labels[0] ? "}" : "", s->count);
}

char *metrics_render(struct metrics *m)
{
	static const char *const type_name[] = { "counter", "gauge", "histogram" };
	void (*fn)(struct metrics *, void *);
	struct text t = { 0 };
	void *arg;

	pthread_mutex_lock(&m->lock);
	fn = m->scrape_fn;
	arg = m->scrape_arg;
	pthread_mutex_unlock(&m->lock);
	if (fn)
		fn(m, arg);

	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n_fam; i++) {
		const struct family *f = &m->fam[i];

		text_add(&t, "# HELP %s %s\n# TYPE %s %s\n", f->def->name, f->def->help, f->def->name,
			 type_name[f->def->type]);
		for (size_t k = 0; k < f->n; k++) {
			const struct series *s = &f->series[k];

			if (f->def->type == METRIC_HISTOGRAM) {
				render_histogram(&t, f, s);
				continue;
			}
			text_add(&t, "%s%s%s%s ", f->def->name, s->labels[0] ? "{" : "", s->labels,
				 s->labels[0] ? "}" : "");
			text_num(&t, s->value);
			text_add(&t, "\n");
		}
	}
	pthread_mutex_unlock(&m->lock);
	if (t.failed || !t.s) {
		free(t.s);
		return NULL;
	}
	return t.s;
}

/* ---- the HTTP listener ---- */

struct metrics_http {
	struct metrics *m;
	int fd;
	int stop_pipe[2];
	int port;
	pthread_t thread;
};

/* "ADDR:PORT" or "[ADDR]:PORT" -> addrinfo; 0 or -EINVAL. */
static int parse_listen(const char *where, struct addrinfo **res)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	char host[128];
	const char *colon, *port;
	size_t hl;

	if (where[0] == '[') {
		const char *end = strchr(where, ']');

		if (!end || end[1] != ':')
			return -EINVAL;
		hl = (size_t)(end - where - 1);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, where + 1, hl);
		port = end + 2;
	} else {
		colon = strrchr(where, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - where);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, where, hl);
		port = colon + 1;
	}
	host[hl] = '\0';
	if (!*port || strspn(port, "0123456789") != strlen(port) || atol(port) > 65535)
		return -EINVAL;
	return getaddrinfo(host, port, &hints, res) == 0 ? 0 : -EINVAL;
}

bool metrics_listen_valid(const char *where)
{
	struct addrinfo *ai = NULL;

	if (parse_listen(where, &ai))
		return false;
	freeaddrinfo(ai);
	return true;
}

static void send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

static void serve_one(struct metrics_http *h, int fd)
{
	struct timeval tv = { .tv_sec = 1 };
	char req[2048], head[256];
	size_t got = 0;
	char *body;
	int n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* The request head only; a scrape has no body. */
	while (got < sizeof(req) - 1) {
		ssize_t r = recv(fd, req + got, sizeof(req) - 1 - got, 0);

		if (r <= 0)
			return;
		got += (size_t)r;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	req[got] = '\0';
	if (strncmp(req, "GET /metrics ", 13) != 0 && strncmp(req, "GET /metrics?", 13) != 0) {
		static const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
					 "Content-Length: 23\r\nConnection: close\r\n\r\nonly /metrics is here.\n";

		send_all(fd, nf, sizeof(nf) - 1);
		return;
	}
	body = metrics_render(h->m);
	if (!body) {
		static const char ie[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
					 "Connection: close\r\n\r\n";

		send_all(fd, ie, sizeof(ie) - 1);
		return;
	}
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n", strlen(body));
	send_all(fd, head, (size_t)n);
	send_all(fd, body, strlen(body));
	free(body);
}

static void *http_thread(void *arg)
{
	struct metrics_http *h = arg;
	struct pollfd pfd[2] = { { .fd = h->fd, .events = POLLIN }, { .fd = h->stop_pipe[0], .events = POLLIN } };

	for (;;) {
		int fd;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			break;
		fd = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		serve_one(h, fd);
		close(fd);
	}
	return NULL;
}

int metrics_http_start(struct metrics *m, const char *where, const char *key,
		       struct metrics_http **out, struct loom_err *err)
{
	struct metrics_http *h;
	struct addrinfo *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int one = 1, rc;

	*out = NULL;
	if (parse_listen(where, &ai))
		return loom_err_set(err, LOOM_E_CONFIG, key,
				    "%s = %s is not ADDR:PORT (a numeric address, e.g. 127.0.0.1:9464 or [::1]:9464)",
				    key, where);
	h = calloc(1, sizeof(*h));
	if (!h) {
		freeaddrinfo(ai);
		return -ENOMEM;
	}
	h->m = m;
	h->stop_pipe[0] = h->stop_pipe[1] = -1;
	h->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (h->fd < 0 || setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(h->fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(h->fd, 16) < 0) {
		rc = -errno;
		loom_err_set(err, LOOM_E_CONFIG, key, "%s = %s cannot be listened on: %s", key, where,
			     strerror(errno));
		goto fail;
	}
	if (getsockname(h->fd, (struct sockaddr *)&ss, &sl) == 0)
		h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							 : ((struct sockaddr_in *)&ss)->sin_port);
	if (pipe2(h->stop_pipe, O_CLOEXEC) < 0 || pthread_create(&h->thread, NULL, http_thread, h)) {
		rc = -errno ? -errno : -EAGAIN;
		loom_err_set(err, LOOM_E_INTERNAL, key, "cannot start the metrics listener: %s", strerror(-rc));
		goto fail;
	}
	freeaddrinfo(ai);
	*out = h;
	return 0;
fail:
	freeaddrinfo(ai);
	if (h->fd >= 0)
		close(h->fd);
	if (h->stop_pipe[0] >= 0) {
		close(h->stop_pipe[0]);
		close(h->stop_pipe[1]);
	}
	free(h);
	return rc;
}

void metrics_http_stop(struct metrics_http **ph)
{
	struct metrics_http *h = *ph;

	if (!h)
		return;
	if (write(h->stop_pipe[1], "x", 1) < 0)
		log_warn("metrics: cannot wake the listener: %s", strerror(errno));
	pthread_join(h->thread, NULL);
	close(h->fd);
	close(h->stop_pipe[0]);
	close(h->stop_pipe[1]);
	free(h);
	*ph = NULL;
}

int metrics_http_port(const struct metrics_http *h)
{
	return h->port;
}

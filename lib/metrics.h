/*
 * lib/metrics.h: counters, gauges and histograms in Prometheus' text format
 * (exposition format 0.0.4), and a small HTTP listener that serves them from
 * a thread of its own, so a scrape never waits for loomd's event loop.
 *
 * A family is declared once (name, type, help, bucket bounds for a
 * histogram); its series are told apart by a label string the caller forms,
 * e.g. `method="tenant.create",outcome="ok"` (values escaped with
 * metrics_label_value).  Every update takes one mutex: loomd's rates (tens of
 * thousands a second at most) make that cheaper than anything cleverer.
 */
#ifndef LOOM_LIB_METRICS_H
#define LOOM_LIB_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

#define METRIC_MAX_BUCKETS 16

struct metric_family_def {
	const char *name;
	enum metric_type type;
	const char *help;
	/* Histogram upper bounds, ascending; +Inf is implied. */
	double buckets[METRIC_MAX_BUCKETS];
	size_t n_buckets;
};

struct metrics;

struct metrics *metrics_new(const struct metric_family_def *defs, size_t n);
void metrics_free(struct metrics **pm);

/* Updates; an unknown family name is a programming error, logged once. */
void metrics_add(struct metrics *m, const char *family, const char *labels, double v);
/* Sets a gauge, or a counter whose source counts by itself. */
void metrics_set(struct metrics *m, const char *family, const char *labels, double v);
void metrics_observe(struct metrics *m, const char *family, const char *labels, double v);
/* Drops every series of a gauge family, for gauges re-published whole
 * (e.g. nodes by state: a state nobody is in any more must disappear). */
void metrics_clear(struct metrics *m, const char *family);

/*
 * Called by the listener before each render, outside the metrics lock, to
 * refresh gauges read from elsewhere (e.g. the reconciler's own lock).
 */
void metrics_on_scrape(struct metrics *m, void (*fn)(struct metrics *, void *), void *arg);

/* The whole exposition; a malloc'd string the caller frees, or NULL. */
char *metrics_render(struct metrics *m);

/* Writes @v as a label value (quotes, backslashes and newlines escaped). */
void metrics_label_value(char *out, size_t size, const char *v);

/*
 * Serves GET /metrics on @where ("ADDR:PORT", IPv6 as "[ADDR]:PORT") from a
 * thread.  A listener that cannot be had (bad address, port taken) is an
 * error naming @key.  Stop it with metrics_http_stop.
 */
struct metrics_http;
/* Is @where a listen address metrics_http_start accepts (no bind tried)? */
bool metrics_listen_valid(const char *where);
int metrics_http_start(struct metrics *m, const char *where, const char *key,
		       struct metrics_http **out, struct loom_err *err);
void metrics_http_stop(struct metrics_http **ph);
/* The port actually bound (useful with port 0 in tests). */
int metrics_http_port(const struct metrics_http *h);

#endif

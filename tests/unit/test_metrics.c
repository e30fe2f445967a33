/*
 * tests/unit/test_metrics.c: lib/metrics.c: the text format (types, labels,
 * escaping, histogram buckets), gauges re-published whole, the scrape hook,
 * and the HTTP listener on a real loopback socket, with its errors naming
 * the configuration key.
 */
#include "config.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/metrics.h"

static const struct metric_family_def defs[] = {
	{ "loom_requests_total", METRIC_COUNTER, "Requests answered.", { 0 }, 0 },
	{ "loom_nodes", METRIC_GAUGE, "Nodes by lifecycle state.", { 0 }, 0 },
	{ "loom_request_duration_seconds", METRIC_HISTOGRAM, "Time to answer.", { 0.001, 0.01, 0.1 }, 3 },
};

static void test_text_format(void **state)
{
	struct metrics *m = metrics_new(defs, 3);
	char *t;

	(void)state;
	metrics_add(m, "loom_requests_total", "method=\"tenant.create\",outcome=\"ok\"", 1);
	metrics_add(m, "loom_requests_total", "method=\"tenant.create\",outcome=\"ok\"", 2);
	metrics_set(m, "loom_nodes", "state=\"available\"", 4);
	metrics_observe(m, "loom_request_duration_seconds", "method=\"info\"", 0.0005);
	metrics_observe(m, "loom_request_duration_seconds", "method=\"info\"", 0.05);
	t = metrics_render(m);
	assert_non_null(t);
	assert_non_null(strstr(t, "# HELP loom_requests_total Requests answered.\n# TYPE loom_requests_total counter\n"));
	assert_non_null(strstr(t, "loom_requests_total{method=\"tenant.create\",outcome=\"ok\"} 3\n"));
	assert_non_null(strstr(t, "# TYPE loom_nodes gauge\nloom_nodes{state=\"available\"} 4\n"));
	assert_non_null(strstr(t, "loom_request_duration_seconds_bucket{method=\"info\",le=\"0.001\"} 1\n"));
	assert_non_null(strstr(t, "loom_request_duration_seconds_bucket{method=\"info\",le=\"0.01\"} 1\n"));
	assert_non_null(strstr(t, "loom_request_duration_seconds_bucket{method=\"info\",le=\"0.1\"} 2\n"));
	assert_non_null(strstr(t, "loom_request_duration_seconds_bucket{method=\"info\",le=\"+Inf\"} 2\n"));
	assert_non_null(strstr(t, "loom_request_duration_seconds_sum{method=\"info\"} 0.0505\n"));
	assert_non_null(strstr(t, "loom_request_duration_seconds_count{method=\"info\"} 2\n"));
	free(t);
	metrics_free(&m);
	assert_null(m);
}

static void test_clear_and_unlabelled(void **state)
{
	struct metrics *m = metrics_new(defs, 3);
	char *t;

	(void)state;
	metrics_set(m, "loom_nodes", "state=\"failed\"", 1);
	metrics_clear(m, "loom_nodes");
	metrics_set(m, "loom_nodes", NULL, 7);
	/* Wrong type for the family: refused, nothing made. */
	metrics_add(m, "loom_nodes", "state=\"x\"", 1);
	metrics_add(m, "loom_no_such_total", NULL, 1);
	t = metrics_render(m);
	assert_null(strstr(t, "failed"));
	assert_null(strstr(t, "state=\"x\""));
	assert_null(strstr(t, "loom_no_such_total"));
	assert_non_null(strstr(t, "\nloom_nodes 7\n"));
	free(t);
	metrics_free(&m);
}

static void test_label_escaping(void **state)
{
	char out[64];

	(void)state;
	metrics_label_value(out, sizeof(out), "a\"b\\c\nd");
	assert_string_equal(out, "a\\\"b\\\\c\\nd");
	metrics_label_value(out, 4, "abcdef");
	assert_string_equal(out, "abc");
	/* An escape that does not fit whole is left out, never cut in half. */
	metrics_label_value(out, 3, "a\"b");
	assert_string_equal(out, "a");
}

static void refresh(struct metrics *m, void *arg)
{
	int *calls = arg;

	(*calls)++;
	metrics_set(m, "loom_nodes", "state=\"available\"", *calls);
}

static void test_scrape_hook(void **state)
{
	struct metrics *m = metrics_new(defs, 3);
	int calls = 0;
	char *t;

	(void)state;
	metrics_on_scrape(m, refresh, &calls);
	free(metrics_render(m));
	t = metrics_render(m);
	assert_int_equal(calls, 2);
	assert_non_null(strstr(t, "loom_nodes{state=\"available\"} 2\n"));
	free(t);
	metrics_free(&m);
}

/* One HTTP exchange with the listener on 127.0.0.1:@port; the reply or NULL. */
static char *http_get(int port, const char *request)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ssize_t n;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, request, strlen(request)) != (ssize_t)strlen(request)) {
		close(fd);
		free(buf);
		return NULL;
	}
	while ((n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
	return buf;
}

static void test_http(void **state)
{
	struct metrics *m = metrics_new(defs, 3);
	struct metrics_http *h = NULL, *h2 = NULL;
	struct loom_err err = { 0 };
	char where[64], *r;
	int port;

	(void)state;
	metrics_add(m, "loom_requests_total", "method=\"info\",outcome=\"ok\"", 1);
	assert_int_equal(metrics_http_start(m, "127.0.0.1:0", "metrics.listen", &h, &err), 0);
	port = metrics_http_port(h);
	assert_true(port > 0);
	r = http_get(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_non_null(r);
	assert_non_null(strstr(r, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(r, "Content-Type: text/plain; version=0.0.4"));
	assert_non_null(strstr(r, "\r\n\r\n# HELP loom_requests_total"));
	assert_non_null(strstr(r, "loom_requests_total{method=\"info\",outcome=\"ok\"} 1\n"));
	free(r);
	r = http_get(port, "GET / HTTP/1.1\r\n\r\n");
	assert_non_null(strstr(r, "HTTP/1.1 404"));
	free(r);

	/* The port taken: refused, naming the key. */
	snprintf(where, sizeof(where), "127.0.0.1:%d", port);
	assert_int_not_equal(metrics_http_start(m, where, "metrics.listen", &h2, &err), 0);
	assert_null(h2);
	assert_string_equal(err.field, "metrics.listen");
	assert_non_null(strstr(err.msg, "cannot be listened on"));
	metrics_http_stop(&h);
	assert_null(h);
	metrics_free(&m);
}

static void test_bad_addresses(void **state)
{
	static const char *const bad[] = { "9464", "localhost:9464", "127.0.0.1:", "127.0.0.1:99999",
					   "[::1]9464", "127.0.0.1:94x4", "" };
	struct metrics *m = metrics_new(defs, 3);

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct metrics_http *h = NULL;
		struct loom_err err = { 0 };

		assert_int_not_equal(metrics_http_start(m, bad[i], "metrics.listen", &h, &err), 0);
		assert_null(h);
		assert_string_equal(err.field, "metrics.listen");
		assert_non_null(strstr(err.msg, "is not ADDR:PORT"));
	}
	metrics_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_format),
		cmocka_unit_test(test_clear_and_unlabelled),
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_scrape_hook),
		cmocka_unit_test(test_http),
		cmocka_unit_test(test_bad_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

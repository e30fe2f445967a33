/*
 * bench/bench_tls.c: loomd's API over TLS against the Unix socket, from N
 * concurrent clients (threads, one connection each, one request in
 * flight each):
 *   - reads (tenant.show) and durable creates (tenant.create) per second,
 *     p50/p99, on each transport, and the ratio TLS / socket,
 *   - full handshakes per second (connect, mutual TLS 1.3 handshake, one
 *     system.info, close), N at a time.
 * Usage: bench_tls SOCKET HOST PORT CERT KEY CA SECONDS CLIENTS...
 */
#include "config.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

enum mode { M_READ, M_CREATE, M_HANDSHAKE };

static const char *sock_path, *host, *port;
static SSL_CTX *ctx;

struct conn {
	int fd;
	SSL *ssl;
};

struct worker {
	pthread_t thread;
	bool tls;
	enum mode mode;
	int id, round;
	double seconds;
	long done, failed;
	double *lat;
	size_t n_lat, cap_lat;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int conn_open(struct conn *c, bool tls)
{
	c->ssl = NULL;
	if (!tls) {
		struct sockaddr_un addr = { .sun_family = AF_UNIX };

		snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock_path);
		c->fd = socket(AF_UNIX, SOCK_STREAM, 0);
		return c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) ? -1 : 0;
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	int one = 1;

	if (getaddrinfo(host, port, &hints, &res))
		return -1;
	c->fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (c->fd < 0 || connect(c->fd, res->ai_addr, res->ai_addrlen)) {
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->ssl = SSL_new(ctx);
	SSL_set_fd(c->ssl, c->fd);
	return SSL_connect(c->ssl) == 1 ? 0 : -1;
}

static void conn_close(struct conn *c)
{
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (c->fd >= 0)
		close(c->fd);
}

static int roundtrip(struct conn *c, const char *req, size_t len)
{
	char buf[8192];
	size_t got = 0;

	if ((c->ssl ? SSL_write(c->ssl, req, (int)len) : write(c->fd, req, len)) != (ssize_t)len)
		return -1;
	while (got == 0 || buf[got - 1] != '\n') {
		ssize_t n = c->ssl ? SSL_read(c->ssl, buf + got, (int)(sizeof(buf) - got - 1))
				   : read(c->fd, buf + got, sizeof(buf) - got - 1);

		if (n <= 0)
			return -1;
		got += (size_t)n;
		if (got >= sizeof(buf) - 1)
			got = 0;
	}
	buf[got] = '\0';
	return strstr(buf, "\"result\"") ? 0 : 1;
}

static void lat_add(struct worker *w, double t)
{
	if (w->n_lat == w->cap_lat) {
		w->cap_lat = w->cap_lat ? w->cap_lat * 2 : 4096;
		w->lat = realloc(w->lat, w->cap_lat * sizeof(double));
	}
	w->lat[w->n_lat++] = t;
}

static void *work(void *arg)
{
	static const char info[] = "{\"jsonrpc\":\"2.0\",\"method\":\"system.info\",\"id\":1}\n";
	struct worker *w = arg;
	double end = now() + w->seconds;
	struct conn c = { .fd = -1 };
	char req[256];

	if (w->mode != M_HANDSHAKE && conn_open(&c, w->tls)) {
		fprintf(stderr, "bench_tls: cannot connect\n");
		exit(1);
	}
	for (long i = 0; now() < end; i++) {
		double t0 = now();
		size_t len;
		int rc;

		if (w->mode == M_HANDSHAKE) {
			struct conn h = { .fd = -1 };

			rc = conn_open(&h, true) || roundtrip(&h, info, sizeof(info) - 1);
			conn_close(&h);
		} else {
			if (w->mode == M_CREATE)
				len = (size_t)snprintf(req, sizeof(req), "{\"jsonrpc\":\"2.0\",\"method\":\"tenant.create\","
					"\"params\":{\"name\":\"%c%d-%d-%ld\"},\"id\":%ld}\n", w->tls ? 't' : 'u', w->round,
					w->id, i, i);
			else
				len = (size_t)snprintf(req, sizeof(req), "{\"jsonrpc\":\"2.0\",\"method\":\"tenant.show\","
					"\"params\":{\"name\":\"bench\"},\"id\":%ld}\n", i);
			rc = roundtrip(&c, req, len);
		}
		if (rc)
			w->failed++;
		else
			w->done++;
		lat_add(w, now() - t0);
	}
	conn_close(&c);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Runs one row; returns the rate. */
static double run(bool tls, enum mode mode, double seconds, int clients, int round, double *p99)
{
	static const char *const names[] = { "read", "create", "handshake" };
	struct worker *w = calloc((size_t)clients, sizeof(*w));
	double *all, elapsed, t0 = now(), rate;
	long done = 0, failed = 0;
	size_t n = 0;

	for (int i = 0; i < clients; i++) {
		w[i] = (struct worker){ .tls = tls, .mode = mode, .id = i, .round = round, .seconds = seconds };
		pthread_create(&w[i].thread, NULL, work, &w[i]);
	}
	for (int i = 0; i < clients; i++) {
		pthread_join(w[i].thread, NULL);
		done += w[i].done;
		failed += w[i].failed;
		n += w[i].n_lat;
	}
	elapsed = now() - t0;
	all = malloc((n ? n : 1) * sizeof(double));
	n = 0;
	for (int i = 0; i < clients; i++) {
		memcpy(all + n, w[i].lat, w[i].n_lat * sizeof(double));
		n += w[i].n_lat;
		free(w[i].lat);
	}
	qsort(all, n, sizeof(double), cmp_double);
	rate = (double)done / elapsed;
	*p99 = n ? all[n * 99 / 100] * 1e3 : 0;
	printf("| %-9s | %-6s | %7d | %10.0f | %8.3f | %8.3f | %6ld |\n", names[mode], tls ? "tls" : "socket",
	       clients, rate, n ? all[n / 2] * 1e3 : 0, *p99, failed);
	fflush(stdout);
	free(all);
	free(w);
	return rate;
}

int main(int argc, char **argv)
{
	if (argc < 9) {
		fprintf(stderr, "usage: bench_tls SOCKET HOST PORT CERT KEY CA SECONDS CLIENTS...\n");
		return 2;
	}
	sock_path = argv[1];
	host = argv[2];
	port = argv[3];
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, argv[4]) != 1
	    || SSL_CTX_use_PrivateKey_file(ctx, argv[5], SSL_FILETYPE_PEM) != 1
	    || SSL_CTX_load_verify_locations(ctx, argv[6], NULL) != 1) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	printf("| op        | via    | clients | per second | p50 ms   | p99 ms   | failed |\n");
	printf("|-----------|--------|---------|------------|----------|----------|--------|\n");
	for (int a = 8; a < argc; a++) {
		int clients = atoi(argv[a]);
		double p99u, p99t, ru, rt;

		for (enum mode m = M_READ; m <= M_CREATE; m++) {
			ru = run(false, m, atof(argv[7]), clients, a, &p99u);
			rt = run(true, m, atof(argv[7]), clients, a, &p99t);
			printf("| %-9s | ratio  | %7d | %9.2fx | %8s | %7.2fx | %6s |\n", m == M_READ ? "read" : "create",
			       clients, rt / ru, "", p99t / (p99u > 0 ? p99u : 1e-9), "");
		}
		run(true, M_HANDSHAKE, atof(argv[7]), clients, a, &p99t);
	}
	SSL_CTX_free(ctx);
	return 0;
}

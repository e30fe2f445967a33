/*
 * bench/bench_api.c: loomd's API under load, from N concurrent clients
 * (threads, one connection each, one request in flight each):
 *   - durable creates per second (tenant.create; each acknowledged only
 *     after its commit is durable),
 *   - read latency p50/p99 and reads per second (tenant.show).
 * Usage: bench_api SOCKET[,SOCKET...] SECONDS CLIENTS...
 * With several sockets (highly available controllers, docs/ha.md) client
 * i talks to socket i modulo their number.  BENCH_API_PREFIX (default "b")
 * starts the tenants' names, so that runs on one database do not collide.
 * BENCH_API_OPS=create (or read) in the environment runs only that half,
 * for a profile of one path.
 */
#include "config.h"

#include <errno.h>
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

#include "lib/array.h"
#include "lib/monotime.h"

struct worker {
	pthread_t thread;
	const char *socket;
	int id;
	int round;
	bool writes;
	double seconds;
	long done;
	long failed;
	double *lat;		/* seconds per request */
	size_t n_lat, cap_lat;
};

/* The @i-th of the comma-separated sockets in @list, modulo their number. */
static int connect_to(const char *list, int i)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	int n = 1, k;
	const char *p = list, *end;

	for (const char *c = list; *c; c++)
		n += *c == ',';
	for (k = i % n; k > 0; k--)
		p = strchr(p, ',') + 1;
	end = strchr(p, ',');
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%.*s", end ? (int)(end - p) : (int)strlen(p), p);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		perror("bench_api: connect");
		exit(1);
	}
	return fd;
}

/* One request, one reply; returns 0 when the reply is a result. */
static int roundtrip(int fd, const char *req, size_t len)
{
	char buf[8192];
	size_t got = 0;

	if (write(fd, req, len) != (ssize_t)len)
		return -1;
	while (got == 0 || buf[got - 1] != '\n') {
		ssize_t n = read(fd, buf + got, sizeof(buf) - got - 1);

		if (n <= 0)
			return -1;
		got += (size_t)n;
		if (got >= sizeof(buf) - 1)
			got = 0;	/* a long reply: keep reading to its end */
	}
	buf[got] = '\0';
	return strstr(buf, "\"result\"") ? 0 : 1;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	int fd = connect_to(w->socket, w->id);
	double end = mono_s() + w->seconds;
	const char *pfx = getenv("BENCH_API_PREFIX") ? getenv("BENCH_API_PREFIX") : "b";
	char req[256];

	for (long i = 0; mono_s() < end; i++) {
		size_t len;
		double t0 = mono_s();

		if (w->writes)
			len = (size_t)snprintf(req, sizeof(req),
				"{\"jsonrpc\":\"2.0\",\"method\":\"tenant.create\",\"params\":{\"name\":\"%s%d-%d-%ld\"},\"id\":%ld}\n",
				pfx, w->round, w->id, i, i);
		else
			len = (size_t)snprintf(req, sizeof(req),
				"{\"jsonrpc\":\"2.0\",\"method\":\"tenant.show\",\"params\":{\"name\":\"%s%d-0-0\"},\"id\":%ld}\n",
				pfx, w->round, i);
		if (roundtrip(fd, req, len))
			w->failed++;
		else
			w->done++;
		if (ARRAY_GROW(w->lat, w->cap_lat, w->n_lat + 1)) {
			w->failed++;
			break;
		}
		w->lat[w->n_lat++] = mono_s() - t0;
	}
	close(fd);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void run(const char *sock, double seconds, int clients, bool writes, int round)
{
	struct worker *w = calloc((size_t)clients, sizeof(*w));
	double *all;
	size_t n = 0;
	long done = 0, failed = 0;
	double t0 = mono_s(), elapsed;

	for (int i = 0; i < clients; i++) {
		w[i] = (struct worker){ .socket = sock, .id = i, .round = round, .writes = writes, .seconds = seconds };
		pthread_create(&w[i].thread, NULL, work, &w[i]);
	}
	for (int i = 0; i < clients; i++) {
		pthread_join(w[i].thread, NULL);
		done += w[i].done;
		failed += w[i].failed;
		n += w[i].n_lat;
	}
	elapsed = mono_s() - t0;
	all = malloc(n * sizeof(double));
	n = 0;
	for (int i = 0; i < clients; i++) {
		memcpy(all + n, w[i].lat, w[i].n_lat * sizeof(double));
		n += w[i].n_lat;
		free(w[i].lat);
	}
	qsort(all, n, sizeof(double), cmp_double);
	printf("| %-6s | %7d | %9.0f | %8.3f | %8.3f | %6ld |\n", writes ? "create" : "read", clients,
	       (double)done / elapsed, n ? all[n / 2] * 1e3 : 0, n ? all[n * 99 / 100] * 1e3 : 0, failed);
	fflush(stdout);
	free(all);
	free(w);
}

int main(int argc, char **argv)
{
	const char *ops = getenv("BENCH_API_OPS");

	if (argc < 4) {
		fprintf(stderr, "usage: bench_api SOCKET SECONDS CLIENTS...\n");
		return 2;
	}
	printf("| op     | clients | per second | p50 ms | p99 ms | failed |\n");
	printf("|--------|---------|-----------|----------|----------|--------|\n");
	for (int a = 3; a < argc; a++) {
		int clients = atoi(argv[a]);

		if (!ops || strcmp(ops, "read") != 0)
			run(argv[1], atof(argv[2]), clients, true, a);
		if (!ops || strcmp(ops, "create") != 0)
			run(argv[1], atof(argv[2]), clients, false, a);
	}
	return 0;
}

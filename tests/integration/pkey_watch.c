/*
 * tests/integration/pkey_watch.c: reads one HCA port's P_Key table from the
 * fabric (SMPs through fabric/smt) as fast as it can, and prints the table
 * each time it changes, so that a test can prove what a port carried
 * *during* a change, not only before and after it.
 *
 *   pkey_watch --partitions FILE --pid-file FILE --guid GUID [--max-ms N]
 *
 * Prints "ready" once the first read succeeded, then one line per distinct
 * table: "<ms> <entry> <entry> ..." where <ms> is the wall clock
 * (CLOCK_REALTIME, ms since the epoch, comparable with `date +%s%N`) when
 * the read that saw it completed, and the entries are the non-zero ones as
 * read (0x8000 = full member); on SIGTERM / SIGINT / after --max-ms a last
 * line "samples <reads> errors <failed reads>".  Leaves with _exit: the
 * umad2sim preload aborts in its exit handler.
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fabric/smt.h"
#include "lib/err.h"
#include "topology/topology.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static long long epoch_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "partitions", required_argument, NULL, 'f' },
		{ "pid-file", required_argument, NULL, 'p' },
		{ "guid", required_argument, NULL, 'g' },
		{ "max-ms", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	struct topo_sm sm = { .name = "watch" };
	struct loom_err err = { 0 };
	struct smt *s = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	struct timespec t0;
	uint16_t last[64], cur[64];
	int n_last = -1, n, o;
	uint64_t guid = 0;
	long max_ms = 60000;
	unsigned long samples = 0, errors = 0;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'f': snprintf(sm.partitions_file, sizeof(sm.partitions_file), "%s", optarg); break;
		case 'p': snprintf(sm.pid_file, sizeof(sm.pid_file), "%s", optarg); break;
		case 'g': guid = strtoull(optarg, NULL, 0); break;
		case 'm': max_ms = atol(optarg); break;
		default:
			fprintf(stderr, "usage: pkey_watch --partitions FILE --pid-file FILE --guid GUID [--max-ms N]\n");
			_exit(2);
		}
	}
	if (!guid || !sm.partitions_file[0]) {
		fprintf(stderr, "pkey_watch: --guid and --partitions are required\n");
		_exit(2);
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (smt_open(&sm, &s, &err)) {
		printf("error %s\n", err.msg);
		_exit(1);
	}
	/* Fail fast on a port that does not answer: one retry, 100 ms each. */
	smt_set_mad_params(s, 100, 1, 4);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!stop && ms_since(&t0) < max_ms) {
		loom_err_clear(&err);
		n = smt_read_pkeys(s, guid, cur, sizeof(cur) / sizeof(cur[0]), &err);
		if (n < 0) {
			errors++;
			if (n_last < 0 && ms_since(&t0) > 5000) {
				printf("error %s\n", err.msg);
				_exit(1);
			}
			continue;
		}
		samples++;
		if (n_last < 0)
			printf("ready\n");
		if (n != n_last || memcmp(cur, last, (size_t)n * sizeof(cur[0]))) {
			printf("%lld", epoch_ms());
			for (int i = 0; i < n; i++)
				if (cur[i])
					printf(" 0x%04x", cur[i]);
			printf("\n");
			memcpy(last, cur, (size_t)n * sizeof(cur[0]));
			n_last = n;
		}
	}
	printf("samples %lu errors %lu\n", samples, errors);
	fflush(stdout);
	_exit(0);
}

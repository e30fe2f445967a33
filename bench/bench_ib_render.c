/*
 * bench/bench_ib_render.c: render loom's section for 500 partitions over
 * 2,000 port GUIDs (32 members each, every port in 8 partitions), splice
 * it into a partitions file that holds the operator's lines, and replace
 * the file atomically (temp file, fsync, rename, fsync of the folder).
 *
 *   bench_ib_render [DIR] [RUNS]     (default /tmp, 20 runs)
 *
 * Prints the median and worst of each phase in milliseconds.  Baseline
 * named in BENCHMARKS.md: the 100 ms target for rendering partitions.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fabric/partitions.h"
#include "lib/monotime.h"

#define N_PARTS 500
#define N_PORTS 2000
#define PER_PART 32

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int cmp_member(const void *a, const void *b)
{
	const struct pkey_member *x = a, *y = b;

	return x->guid < y->guid ? -1 : x->guid > y->guid;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	int runs = argc > 2 ? atoi(argv[2]) : 20;
	struct sm_partition *parts = calloc(N_PARTS, sizeof(*parts));
	struct sm_desired d = { .sm = "bench", .partitions = parts, .n_partitions = N_PARTS };
	double *t_render = calloc((size_t)runs, sizeof(double));
	double *t_write = calloc((size_t)runs, sizeof(double));
	double *t_total = calloc((size_t)runs, sizeof(double));
	char path[512];
	size_t bytes = 0;

	snprintf(path, sizeof(path), "%s/lib-bench-partitions.conf", dir);
	for (int i = 0; i < N_PARTS; i++) {
		parts[i].pkey = (uint16_t)(0x0100 + i);
		snprintf(parts[i].name, sizeof(parts[i].name), "tenant%03d.segment", i);
		parts[i].ipoib = true;
		parts[i].mtu = 4096;
		parts[i].rate_gbps = 200;
		parts[i].members = calloc(PER_PART, sizeof(struct pkey_member));
		parts[i].n_members = PER_PART;
		for (int m = 0; m < PER_PART; m++) {
			/* spread: partition i takes ports i*4+m*... so each port lands in 8 partitions */
			int port = (i * PER_PART + m) % N_PORTS;

			parts[i].members[m].guid = 0x0002c90300000000ULL + (uint64_t)port + 1;
			parts[i].members[m].membership = m % 4 ? MEMBERSHIP_FULL : MEMBERSHIP_LIMITED;
		}
		qsort(parts[i].members, PER_PART, sizeof(struct pkey_member), cmp_member);
	}
	{
		static const char op[] = "Default=0x7fff, ipoib : ALL=full;\nstorage=0x0010 : ALL_CAS=limited;\n";

		if (partitions_file_write(path, op, sizeof(op) - 1, NULL) < 0) {
			perror(path);
			return 1;
		}
	}
	if (partitions_validate(&d, NULL) < 0) {
		fprintf(stderr, "invalid bench input\n");
		return 1;
	}
	for (int r = 0; r < runs; r++) {
		struct partitions_file *f = NULL;
		char *section = NULL, *text = NULL;
		size_t slen, tlen;
		double t0 = mono_ns() / 1e6, t1, t2;

		if (partitions_file_read(path, &f, NULL) < 0 ||
		    partitions_render(&d, 0, &section, &slen) < 0 ||
		    partitions_splice(f, section, slen, &text, &tlen) < 0)
			return 1;
		t1 = mono_ns() / 1e6;
		if (partitions_file_write(path, text, tlen, NULL) < 0)
			return 1;
		t2 = mono_ns() / 1e6;
		t_render[r] = t1 - t0;
		t_write[r] = t2 - t1;
		t_total[r] = t2 - t0;
		bytes = tlen;
		free(section);
		free(text);
		partitions_file_free(&f);
	}
	qsort(t_render, (size_t)runs, sizeof(double), cmp_d);
	qsort(t_write, (size_t)runs, sizeof(double), cmp_d);
	qsort(t_total, (size_t)runs, sizeof(double), cmp_d);
	printf("partitions %d, ports %d, members %d, file %zu bytes, runs %d\n",
	       N_PARTS, N_PORTS, N_PARTS * PER_PART, bytes, runs);
	printf("read+parse+render+splice: median %.2f ms, worst %.2f ms\n",
	       t_render[runs / 2], t_render[runs - 1]);
	printf("atomic write (fsync, rename, fsync dir): median %.2f ms, worst %.2f ms\n",
	       t_write[runs / 2], t_write[runs - 1]);
	printf("total: median %.2f ms, worst %.2f ms (target < 100 ms)\n",
	       t_total[runs / 2], t_total[runs - 1]);
	unlink(path);
	for (int i = 0; i < N_PARTS; i++)
		free(parts[i].members);
	free(parts);
	free(t_render);
	free(t_write);
	free(t_total);
	return 0;
}

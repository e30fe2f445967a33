/*
 * tests/integration/ib_driver.c: drives one struct smt the way loomd would,
 * one command per line on stdin, one answer per line on stdout, so that a
 * shell test keeps a single smt (and its memory of what it wrote) across
 * OpenSM restarts and hand edits.
 *
 *   ib_driver --partitions FILE --pid-file FILE [--sm NAME] [--ca CA --port N]
 *
 * Commands: write F | signal | sweep MS | verify F | converge F MS |
 * apply F MS | pkeys GUID | capacity GUID | usage F | handedit | restarted | stats | quit
 * where F is a desired-state JSON file:
 *   {"partitions":[{"pkey":2,"name":"a","ipoib":true,"mtu":2048,
 *     "rate_gbps":0,"sl":0,"members":[{"guid":"0x..","membership":"full"}]}]}
 * Answers start with "ok" or "error <code-name> <field> <message>".
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "fabric/smt.h"
#include "lib/err.h"

static void desired_clear(struct sm_desired *d)
{
	for (size_t i = 0; i < d->n_partitions; i++)
		free(d->partitions[i].members);
	free(d->partitions);
	memset(d, 0, sizeof(*d));
}

static int desired_load(const char *path, struct sm_desired *d)
{
	json_error_t jerr;
	json_t *root, *parts, *p;
	size_t i;

	memset(d, 0, sizeof(*d));
	root = json_load_file(path, 0, &jerr);
	if (!root)
		return -EINVAL;
	parts = json_object_get(root, "partitions");
	d->n_partitions = json_array_size(parts);
	d->partitions = calloc(d->n_partitions + 1, sizeof(*d->partitions));
	json_array_foreach(parts, i, p) {
		struct sm_partition *sp = &d->partitions[i];
		json_t *pk = json_object_get(p, "pkey"), *ms, *m;
		size_t j;

		sp->pkey = (uint16_t)(json_is_string(pk) ? strtoul(json_string_value(pk), NULL, 0)
							 : (unsigned long)json_integer_value(pk));
		snprintf(sp->name, sizeof(sp->name), "%s",
			 json_string_value(json_object_get(p, "name")) ?: "");
		sp->ipoib = json_is_true(json_object_get(p, "ipoib"));
		sp->mtu = (unsigned int)json_integer_value(json_object_get(p, "mtu"));
		sp->rate_gbps = (unsigned int)json_integer_value(json_object_get(p, "rate_gbps"));
		sp->sl = (unsigned int)json_integer_value(json_object_get(p, "sl"));
		ms = json_object_get(p, "members");
		sp->n_members = json_array_size(ms);
		sp->members = calloc(sp->n_members + 1, sizeof(*sp->members));
		json_array_foreach(ms, j, m) {
			const char *g = json_string_value(json_object_get(m, "guid"));
			const char *mm = json_string_value(json_object_get(m, "membership"));

			if (g)
				guid_parse(g, &sp->members[j].guid);
			sp->members[j].membership = mm && !strcmp(mm, "limited")
						    ? MEMBERSHIP_LIMITED : MEMBERSHIP_FULL;
		}
	}
	json_decref(root);
	return 0;
}

static void print_err(const struct loom_err *e, int rc)
{
	if (e->code)
		printf("error %s %s %s\n", loom_err_name(e->code), e->field[0] ? e->field : "-", e->msg);
	else
		printf("error internal - %s\n", strerror(-rc));
}

static void print_status(int bad, const struct smt_pstatus *st, size_t n)
{
	json_t *a = json_array();
	char *s;

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:i,s:s,s:b,s:s,s:i,s:i,s:s}",
						   "pkey", st[i].pkey, "name", st[i].name,
						   "removed", st[i].removed,
						   "state", smt_pstate_name(st[i].state),
						   "ports_ok", st[i].ports_ok,
						   "ports_total", st[i].ports_total,
						   "reason", st[i].reason));
	s = json_dumps(a, JSON_COMPACT);
	printf("ok %d %s\n", bad, s);
	free(s);
	json_decref(a);
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
		{ "sm", required_argument, NULL, 's' },
		{ "ca", required_argument, NULL, 'c' },
		{ "port", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	struct topo_sm sm = { .name = "sm1" };
	struct loom_err err = { 0 };
	struct smt *s = NULL;
	char line[4096];
	int o, rc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'f': snprintf(sm.partitions_file, sizeof(sm.partitions_file), "%s", optarg); break;
		case 'p': snprintf(sm.pid_file, sizeof(sm.pid_file), "%s", optarg); break;
		case 's': snprintf(sm.name, sizeof(sm.name), "%s", optarg); break;
		case 'c': snprintf(sm.umad_ca, sizeof(sm.umad_ca), "%s", optarg); break;
		case 'P': sm.umad_port = atoi(optarg); break;
		default: return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = smt_open(&sm, &s, &err);
	if (rc < 0) {
		print_err(&err, rc);
		return 1;
	}
	printf("ok ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		char cmd[32] = "", arg[1024] = "", arg2[64] = "";
		struct sm_desired d = { 0 };
		struct smt_pstatus *st = NULL;
		size_t n = 0;

		loom_err_clear(&err);
		if (sscanf(line, "%31s %1023s %63s", cmd, arg, arg2) < 1)
			continue;
		if (!strcmp(cmd, "quit"))
			break;
		if (!strcmp(cmd, "write") || !strcmp(cmd, "verify") || !strcmp(cmd, "converge") ||
		    !strcmp(cmd, "apply")) {
			if (desired_load(arg, &d) < 0) {
				printf("error internal - cannot load %s\n", arg);
				continue;
			}
		}
		if (!strcmp(cmd, "write")) {
			rc = smt_write(s, &d, &err);
			if (rc < 0)
				print_err(&err, rc);
			else
				printf("ok%s\n", smt_write_changed(s) ? "" : " unchanged");
		} else if (!strcmp(cmd, "signal")) {
			rc = smt_signal(s, &err);
			if (rc < 0)
				print_err(&err, rc);
			else
				printf("ok\n");
		} else if (!strcmp(cmd, "sweep")) {
			rc = smt_wait_sweep(s, atoi(arg), &err);
			if (rc < 0)
				print_err(&err, rc);
			else
				printf("ok %d\n", rc);
		} else if (!strcmp(cmd, "verify") || !strcmp(cmd, "converge")) {
			rc = !strcmp(cmd, "verify") ? smt_verify(s, &d, &st, &n, &err)
						    : smt_converge(s, &d, atoi(arg2), &st, &n, &err);
			if (rc < 0)
				print_err(&err, rc);
			else
				print_status(rc, st, n);
		} else if (!strcmp(cmd, "apply")) {
			struct timespec t0;
			int sweep = 0;

			clock_gettime(CLOCK_MONOTONIC, &t0);
			rc = smt_write(s, &d, &err);
			if (rc == 0 && smt_write_changed(s)) {
				rc = smt_signal(s, &err);
				if (rc == 0)
					rc = sweep = smt_wait_sweep(s, atoi(arg2), &err);
			}
			if (rc >= 0)
				rc = smt_converge(s, &d, atoi(arg2), &st, &n, &err);
			if (rc < 0) {
				print_err(&err, rc);
			} else {
				fprintf(stderr, "apply: sweep %d ms, total %ld ms\n", sweep, ms_since(&t0));
				print_status(rc, st, n);
			}
		} else if (!strcmp(cmd, "pkeys")) {
			uint16_t pk[4096];
			uint64_t g = 0;

			guid_parse(arg, &g);
			rc = smt_read_pkeys(s, g, pk, 4096, &err);
			if (rc < 0) {
				print_err(&err, rc);
			} else {
				printf("ok");
				for (int i = 0; i < rc; i++)
					if (pk[i] & 0x7fff)
						printf(" 0x%04x", pk[i]);
				printf("\n");
			}
		} else if (!strcmp(cmd, "usage")) {
			struct smt_port_usage *u = NULL;
			size_t nu = 0;

			if (desired_load(arg, &d) < 0 || smt_port_usage(s, &d, &u, &nu) < 0) {
				printf("error internal - usage\n");
			} else {
				printf("ok");
				for (size_t i = 0; i < nu; i++)
					printf(" 0x%016" PRIx64 ":%s:%u:%u:%u", u[i].guid,
					       u[i].valid ? "valid" : "invalid", u[i].capacity,
					       u[i].used, u[i].foreign);
				printf("\n");
			}
			free(u);
		} else if (!strcmp(cmd, "capacity")) {
			unsigned int cap, used;
			uint64_t g = 0;

			guid_parse(arg, &g);
			rc = ib_port_pkey_capacity(s, g, &cap, &used, &err);
			if (rc < 0)
				print_err(&err, rc);
			else
				printf("ok %u %u\n", cap, used);
		} else if (!strcmp(cmd, "handedit")) {
			bool changed = false;

			rc = smt_changed_by_hand(s, &changed, &err);
			if (rc < 0 && !changed)
				print_err(&err, rc);
			else
				printf("ok %s\n", changed ? "changed" : "unchanged");
		} else if (!strcmp(cmd, "restarted")) {
			bool r = false;

			rc = smt_sm_restarted(s, &r, &err);
			if (rc < 0)
				print_err(&err, rc);
			else
				printf("ok %s\n", r ? "yes" : "no");
		} else if (!strcmp(cmd, "stats")) {
			struct smt_stats stats;

			smt_get_stats(s, &stats);
			printf("ok %lu %lu %lu\n", stats.smps, stats.retries, stats.timeouts);
		} else {
			printf("error internal - unknown command %s\n", cmd);
		}
		smt_pstatus_free(&st);
		desired_clear(&d);
	}
	smt_close(&s);
	/*
	 * umad2sim (ibsim's preload) aborts in its own exit handler with
	 * "free(): invalid pointer"; everything is flushed and closed, so
	 * leave without running exit handlers.
	 */
	fflush(stdout);
	_exit(0);
}

/*
 * tests/integration/frr_drive.c: drive the FRR target from a test script.
 *
 *   frr_drive [-m file|args|session] [-k] VTYDIR ASN CMD [VNI,RD,RT ...]
 *
 * CMD: observe (print loom's statements as FRR has them), plan (print the
 * lines a sync would send), sync (plan + apply; prints the change count),
 * verify (prints one line per VNI; exit 1 unless all verified; -k needs the
 * kernel devices too), watch (sync, then wait for FRR to restart and
 * re-apply: see below), learned N LAST (polls zebra's VNI count until it is
 * N, then bgpd until VNI LAST and then N VNIs in all are in the kernel,
 * every 20 ms on the daemons' vty sockets as loomd does, no vtysh; prints
 * "zebra_ms Z bgpd_ms B" from its start; bench/frr_learn.sh).
 * An RD or RT of "-" means "let FRR derive it".  Errors print
 * "error NAME: message" and exit 2.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "overlay/frr.h"
#include "overlay/frr_priv.h"

static int parse_vnis(int argc, char **argv, struct vtep_desired *d)
{
	d->vnis = calloc((size_t)argc + 1, sizeof(*d->vnis));
	if (!d->vnis)
		return -ENOMEM;
	for (int i = 0; i < argc; i++) {
		struct vtep_vni *v = &d->vnis[d->n_vnis++];
		char rd[32], rt[32];

		if (sscanf(argv[i], "%" SCNu32 ",%31[^,],%31s", &v->vni, rd, rt) != 3) {
			fprintf(stderr, "bad VNI spec %s (want VNI,RD,RT)\n", argv[i]);
			return -EINVAL;
		}
		snprintf(v->rd, sizeof(v->rd), "%s", strcmp(rd, "-") ? rd : "");
		snprintf(v->rt, sizeof(v->rt), "%s", strcmp(rt, "-") ? rt : "");
	}
	return 0;
}

static void print_state(const struct frr_state *st)
{
	printf("asn %" PRIu32 " evpn %d advertise-all-vni %d vnis %zu\n",
	       st->asn, st->evpn_af, st->advertise_all_vni, st->n_vnis);
	for (size_t i = 0; i < st->n_vnis; i++) {
		const struct frr_vni *v = &st->vnis[i];

		printf("vni %" PRIu32 " rd %s", v->vni, v->rd[0] ? v->rd : "-");
		for (unsigned int k = 0; k < v->n_import; k++)
			printf(" import %s", v->rt_import[k]);
		for (unsigned int k = 0; k < v->n_export; k++)
			printf(" export %s", v->rt_export[k]);
		printf("\n");
	}
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void nap_20ms(void)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

/* How many VNIs bgpd shows in the kernel (`inKernel`), -1 on error. */
static int bgp_in_kernel(struct frr_target *t, struct loom_err *err)
{
	json_t *j = frr_vty_json(t, "bgpd", "show bgp l2vpn evpn vni json", err), *v;
	const char *key;
	int n = 0;

	if (!j)
		return -1;
	json_object_foreach(j, key, v) {
		const char *k = json_string_value(json_object_get(v, "inKernel"));

		n += k && !strcmp(k, "True");
	}
	json_decref(j);
	return n;
}

/* learned N LAST: see the head of this file.  Gives up after 120 s. */
static int learned(struct frr_target *t, int n, uint32_t last)
{
	struct loom_err err = { 0 };
	double t0 = now_ms(), tz = -1, end = t0 + 120e3;

	while (now_ms() < end) {
		loom_err_clear(&err);
		if (tz < 0) {
			if (frr_zebra_vni_count(t, &err) >= n)
				tz = now_ms();
		} else if (frr_bgp_vni_in_kernel(t, last, &err) == 1 && bgp_in_kernel(t, &err) >= n) {
			printf("zebra_ms %.0f bgpd_ms %.0f\n", tz - t0, now_ms() - t0);
			return 0;
		}
		nap_20ms();
	}
	printf("timeout zebra_ms %.0f\n", tz < 0 ? -1 : tz - t0);
	return 1;
}

static int fail(const struct loom_err *err, int rc)
{
	printf("error %s: %s\n", loom_err_name(err->code), err->msg);
	fprintf(stderr, "rc %d\n", rc);
	return 2;
}

int main(int argc, char **argv)
{
	struct topo_vtep vtep = { .name = "vtep" };
	struct vtep_desired want = { .vtep = "vtep" };
	struct loom_err err = { 0 };
	struct frr_target *t = NULL;
	bool kernel = false;
	const char *mode = NULL;	/* the target's default */
	int opt, rc, ret = 2;

	while ((opt = getopt(argc, argv, "m:k")) != -1) {
		switch (opt) {
		case 'm':
			mode = optarg;
			break;
		case 'k':
			kernel = true;
			break;
		default:
			return 2;
		}
	}
	if (argc - optind < 3) {
		fprintf(stderr, "usage: frr_drive [-m file|args] [-k] VTYDIR ASN CMD [VNI,RD,RT ...]\n");
		return 2;
	}
	snprintf(vtep.vty_dir, sizeof(vtep.vty_dir), "%s", argv[optind]);
	vtep.asn = (uint32_t)strtoul(argv[optind + 1], NULL, 10);
	const char *cmd = argv[optind + 2];

	if (strcmp(cmd, "learned") && parse_vnis(argc - optind - 3, argv + optind + 3, &want) < 0)
		return 2;
	t = frr_target_open(&vtep, &err);
	if (!t)
		return fail(&err, -EINVAL);
	if (mode)
		frr_target_set_mode(t, !strcmp(mode, "args") ? FRR_APPLY_ARGS :
				       !strcmp(mode, "session") ? FRR_APPLY_SESSION :
				       !strcmp(mode, "vty") ? FRR_APPLY_VTY : FRR_APPLY_FILE);

	if (!strcmp(cmd, "learned")) {
		if (argc - optind != 5) {
			fprintf(stderr, "usage: frr_drive VTYDIR ASN learned N LAST\n");
			goto out;
		}
		ret = learned(t, atoi(argv[optind + 3]), (uint32_t)strtoul(argv[optind + 4], NULL, 10));
	} else if (!strcmp(cmd, "observe")) {
		struct frr_state st;

		rc = frr_observe(t, &st, &err);
		if (rc < 0) {
			ret = fail(&err, rc);
			goto out;
		}
		print_state(&st);
		frr_state_release(&st);
		ret = 0;
	} else if (!strcmp(cmd, "plan")) {
		struct frr_plan plan;

		rc = frr_plan(t, &want, &plan, &err);
		if (rc < 0) {
			ret = fail(&err, rc);
			goto out;
		}
		printf("changes %d\n", rc);
		for (size_t i = 0; i < plan.n_lines; i++)
			printf("%s\n", plan.lines[i]);
		frr_plan_release(&plan);
		ret = 0;
	} else if (!strcmp(cmd, "sync")) {
		rc = frr_sync(t, &want, &err);
		if (rc < 0) {
			ret = fail(&err, rc);
			goto out;
		}
		printf("changes %d\n", rc);
		ret = 0;
	} else if (!strcmp(cmd, "verify")) {
		struct frr_vni_status *st = NULL;
		size_t n = 0;

		rc = frr_verify(t, &want, kernel, &st, &n, &err);
		if (rc < 0) {
			ret = fail(&err, rc);
			goto out;
		}
		for (size_t i = 0; i < n; i++)
			printf("vni %" PRIu32 " %s remote_vteps %u %s\n", st[i].vni,
			       frr_vni_verdict_name(st[i].verdict), st[i].remote_vteps, st[i].detail);
		free(st);
		ret = rc ? 1 : 0;
	} else if (!strcmp(cmd, "watch")) {
		/* The reconciler's restart path in one process: record the
		 * daemons, sync, say "ready", wait for a line on stdin (the
		 * test restarts FRR meanwhile), then poll frr_restarted() and
		 * re-apply once it says FRR restarted. */
		char line[64];
		pid_t b0, z0, b1, z1;

		rc = frr_restarted(t, &err);
		if (rc == 0)
			rc = frr_sync(t, &want, &err);
		if (rc < 0) {
			ret = fail(&err, rc);
			goto out;
		}
		frr_daemon_pids(t, &b0, &z0);
		printf("ready bgpd %d zebra %d\n", (int)b0, (int)z0);
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			goto out;
		for (int i = 0; i < 200; i++) {	/* 20 s */
			loom_err_clear(&err);
			rc = frr_restarted(t, &err);
			if (rc == 1) {
				/* bgpd may still be reading its config: retry. */
				for (int k = 0; k < 50; k++) {
					loom_err_clear(&err);
					rc = frr_sync(t, &want, &err);
					if (rc >= 0)
						break;
					usleep(100000);
				}
				if (rc < 0) {
					ret = fail(&err, rc);
					goto out;
				}
				frr_daemon_pids(t, &b1, &z1);
				printf("restarted bgpd %d zebra %d changes %d\n", (int)b1, (int)z1, rc);
				ret = 0;
				goto out;
			}
			usleep(100000);
		}
		printf("no restart seen\n");
		ret = 1;
	} else {
		fprintf(stderr, "unknown command %s\n", cmd);
	}
out:
	frr_target_close(&t);
	free(want.vnis);
	return ret;
}

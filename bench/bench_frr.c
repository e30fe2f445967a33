/*
 * bench/bench_frr.c: the FRR target's cost with thousands of VNIs.
 *
 *   bench_frr VTYDIR ASN VTEP_IP N [ROUNDS [WORKDIR]]
 *
 * Loads N VNIs (vtysh -f, then again with -c sequences after removing them
 * all), then ROUNDS times: adds one VNI (diff against the target's view of
 * FRR + one vtysh), verifies, syncs again (no-op), removes it; then adds it
 * again after a full read of FRR (observe + diff + apply) and does a full
 * no-op resync.  Medians are printed.
 *
 * With WORKDIR, each round also runs the baseline right after loom's add,
 * so both see the same machine load: the whole running-config plus one VNI
 * written to WORKDIR/plus1.conf and applied with
 * `frr-reload.py --reload` (the usual way to apply a config).  Leaves N VNIs configured (VNI 10000 .. 10000+N-1) for the
 * frr-reload.py baseline in bench_frr.sh.  Prints key=value lines.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/child.h"
#include "lib/monotime.h"
#include "overlay/frr.h"

/* The changes frr_plan counts for one new VNI: the vni block, its rd, and
 * its one `route-target both` line (import and export together). */
#define ADD_ONE_CHANGES 3

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The running config with one more VNI block, for frr-reload.py. */
static int write_plus1(const char *vty, const char *path, uint32_t vni, const char *vtep_ip)
{
	const char *argv[] = { "vtysh", "--vty_socket", vty, "-c", "show running-config", NULL };
	struct child_result r;
	const char *p, *start;
	FILE *f;

	if (child_run(argv, 60000, 1u << 28, &r) < 0 || r.status)
		return -1;
	start = strstr(r.out, "frr version");
	p = strstr(r.out, "\n  advertise-all-vni\n");
	f = fopen(path, "w");
	if (!start || !p || !f) {
		child_result_release(&r);
		if (f)
			fclose(f);
		return -1;
	}
	p += strlen("\n  advertise-all-vni\n");
	fwrite(start, 1, (size_t)(p - start), f);
	fprintf(f, "  vni %" PRIu32 "\n   rd %s:%" PRIu32 "\n   route-target import 65000:%" PRIu32
		"\n   route-target export 65000:%" PRIu32 "\n  exit-vni\n",
		vni, vtep_ip, vni % 65536, vni, vni);
	fputs(p, f);
	fclose(f);
	child_result_release(&r);
	return 0;
}

static int die(const char *what, const struct loom_err *err)
{
	fprintf(stderr, "bench_frr: %s: %s: %s\n", what, loom_err_name(err->code), err->msg);
	return 1;
}

int main(int argc, char **argv)
{
	struct topo_vtep vtep = { .name = "bench" };
	struct vtep_desired want = { .vtep = "bench" }, none = { .vtep = "bench" };
	struct loom_err err = { 0 };
	struct frr_target *t;
	size_t n;
	int rounds, rc;
	double t0, t1;

	if (argc < 5) {
		fprintf(stderr, "usage: bench_frr VTYDIR ASN VTEP_IP N [ROUNDS]\n");
		return 2;
	}
	snprintf(vtep.vty_dir, sizeof(vtep.vty_dir), "%s", argv[1]);
	vtep.asn = (uint32_t)strtoul(argv[2], NULL, 10);
	n = strtoul(argv[4], NULL, 10);
	rounds = argc > 5 ? atoi(argv[5]) : 5;
	if (rounds < 1 || rounds > 100)
		rounds = 5;
	want.vnis = calloc(n + 1, sizeof(*want.vnis));
	if (!want.vnis)
		return 1;
	for (size_t i = 0; i <= n; i++) {
		struct vtep_vni *v = &want.vnis[i];

		v->vni = 10000 + (uint32_t)i;
		snprintf(v->rd, sizeof(v->rd), "%s:%" PRIu32, argv[3], v->vni % 65536);
		snprintf(v->rt, sizeof(v->rt), "65000:%" PRIu32, v->vni);
	}
	t = frr_target_open(&vtep, &err);
	if (!t)
		return die("open", &err);
	frr_target_set_timeout(t, 120000);
	frr_target_set_mode(t, FRR_APPLY_FILE);

	/* Start from nothing of ours. */
	if (frr_sync(t, &none, &err) < 0)
		return die("clear", &err);

	want.n_vnis = n;
	t0 = mono_s();
	rc = frr_sync(t, &want, &err);
	t1 = mono_s();
	if (rc < 0)
		return die("load (file)", &err);
	printf("load_n=%zu\nload_file_changes=%d\nload_file_s=%.3f\n", n, rc, t1 - t0);

	t0 = mono_s();
	rc = frr_sync(t, &none, &err);
	t1 = mono_s();
	if (rc < 0)
		return die("remove all", &err);
	printf("remove_all_s=%.3f\n", t1 - t0);

	frr_target_set_mode(t, FRR_APPLY_ARGS);
	t0 = mono_s();
	rc = frr_sync(t, &want, &err);
	t1 = mono_s();
	if (rc < 0)
		return die("load (args)", &err);
	printf("load_args_s=%.3f\n", t1 - t0);

	if (frr_sync(t, &none, &err) < 0)
		return die("remove all", &err);
	frr_target_set_mode(t, FRR_APPLY_SESSION);
	t0 = mono_s();
	rc = frr_sync(t, &want, &err);
	t1 = mono_s();
	if (rc < 0)
		return die("load (session)", &err);
	printf("load_session_s=%.3f\n", t1 - t0);

	if (frr_sync(t, &none, &err) < 0)
		return die("remove all", &err);
	frr_target_set_mode(t, FRR_APPLY_VTY);
	t0 = mono_s();
	rc = frr_sync(t, &want, &err);
	t1 = mono_s();
	if (rc < 0)
		return die("load (vty)", &err);
	printf("load_vty_s=%.3f\n", t1 - t0);
	frr_target_set_mode(t, FRR_APPLY_FILE);

	enum { ADD, DIFF, APPLY, VERIFY, NOOP, REMOVE, ADD_FULL, OBSERVE, NOOP_FULL,
	       ADD_ARGS, ADD_SESSION, ADD_VTY, RELOAD, N_COLS };
	static const char *const names[N_COLS] = {
		"add1_s", "add1_diff_s", "add1_apply_s", "verify_s", "noop_sync_s",
		"remove1_s", "add1_full_s", "observe_s", "noop_sync_full_s",
		"add1_args_s", "add1_session_s", "add1_vty_s", "reload_add1_s",
	};
	const char *workdir = argc > 6 ? argv[6] : NULL;
	char plus1[512] = "";

	if (workdir) {
		snprintf(plus1, sizeof(plus1), "%s/plus1.conf", workdir);
		if (write_plus1(vtep.vty_dir, plus1, want.vnis[n].vni, argv[3]) < 0)
			return fprintf(stderr, "bench_frr: cannot write %s\n", plus1), 1;
	}
	double *col[N_COLS];

	for (int c = 0; c < N_COLS; c++) {
		col[c] = calloc((size_t)rounds, sizeof(double));
		if (!col[c])
			return 1;
	}
	/* Start the session vtysh once, untimed: add and remove a VNI. */
	frr_target_set_mode(t, FRR_APPLY_SESSION);
	want.n_vnis = n + 1;
	if (frr_sync(t, &want, &err) < 0)
		return die("session warm-up", &err);
	want.n_vnis = n;
	if (frr_sync(t, &want, &err) < 0)
		return die("session warm-up", &err);
	frr_target_set_mode(t, FRR_APPLY_FILE);

	for (int r = 0; r < rounds; r++) {
		struct frr_plan plan;

		/* Every round starts from a fresh read of FRR (the baseline
		 * below changes FRR behind the target's back). */
		if (frr_observe(t, NULL, &err) < 0)
			return die("observe", &err);
		struct frr_vni_status *vs = NULL;
		size_t nvs = 0;
		double a, b, c;

		/* Add one VNI the way the reconciler does on an intent change:
		 * diff against the target's view of FRR, one vtysh to apply. */
		want.n_vnis = n + 1;
		a = mono_s();
		rc = frr_plan(t, &want, &plan, &err);
		b = mono_s();
		if (rc != ADD_ONE_CHANGES)
			return rc < 0 ? die("plan", &err)
				      : (fprintf(stderr, "bench_frr: add planned %d changes, want %d\n", rc, ADD_ONE_CHANGES), 1);
		if (frr_apply(t, &plan, &err) < 0)
			return die("apply", &err);
		c = mono_s();
		frr_plan_release(&plan);
		col[ADD][r] = c - a;
		col[DIFF][r] = b - a;
		col[APPLY][r] = c - b;

		a = mono_s();
		rc = frr_verify(t, &want, false, &vs, &nvs, &err);
		b = mono_s();
		if (rc != 0)
			return fprintf(stderr, "bench_frr: verify: %d not verified (%s)\n", rc, err.msg), 1;
		free(vs);
		col[VERIFY][r] = b - a;

		a = mono_s();
		rc = frr_sync(t, &want, &err);
		b = mono_s();
		if (rc != 0)
			return fprintf(stderr, "bench_frr: no-op sync changed %d\n", rc), 1;
		col[NOOP][r] = b - a;

		want.n_vnis = n;
		a = mono_s();
		rc = frr_sync(t, &want, &err);
		b = mono_s();
		if (rc != 1)
			return fprintf(stderr, "bench_frr: remove changed %d, want 1\n", rc), 1;
		col[REMOVE][r] = b - a;

		/* The same add with a full read of FRR first (what the
		 * periodic resync does): observe + diff + apply. */
		want.n_vnis = n + 1;
		frr_target_invalidate(t);
		a = mono_s();
		if (frr_observe(t, NULL, &err) < 0)
			return die("observe", &err);
		b = mono_s();
		rc = frr_sync(t, &want, &err);
		c = mono_s();
		if (rc != ADD_ONE_CHANGES)
			return fprintf(stderr, "bench_frr: full add changed %d, want %d\n", rc, ADD_ONE_CHANGES), 1;
		col[ADD_FULL][r] = c - a;
		col[OBSERVE][r] = b - a;

		frr_target_invalidate(t);
		a = mono_s();
		rc = frr_sync(t, &want, &err);
		b = mono_s();
		if (rc != 0)
			return fprintf(stderr, "bench_frr: full no-op sync changed %d\n", rc), 1;
		col[NOOP_FULL][r] = b - a;

		want.n_vnis = n;
		if (frr_sync(t, &want, &err) != 1)
			return die("remove", &err);

		/* The add again, applied with vtysh -c sequences. */
		frr_target_set_mode(t, FRR_APPLY_ARGS);
		want.n_vnis = n + 1;
		a = mono_s();
		rc = frr_sync(t, &want, &err);
		b = mono_s();
		if (rc != ADD_ONE_CHANGES)
			return fprintf(stderr, "bench_frr: -c add changed %d, want %d\n", rc, ADD_ONE_CHANGES), 1;
		col[ADD_ARGS][r] = b - a;
		want.n_vnis = n;
		if (frr_sync(t, &want, &err) != 1)
			return die("remove", &err);
		/* And with the long-lived vtysh session (started untimed). */
		frr_target_set_mode(t, FRR_APPLY_SESSION);
		want.n_vnis = n + 1;
		want.vnis[n].vni += 1;	/* a VNI the first add has not used */
		a = mono_s();
		rc = frr_sync(t, &want, &err);
		b = mono_s();
		if (rc != ADD_ONE_CHANGES)
			return rc < 0 ? die("session add", &err)
				      : (fprintf(stderr, "bench_frr: session add changed %d\n", rc), 1);
		col[ADD_SESSION][r] = b - a;
		want.n_vnis = n;
		if (frr_sync(t, &want, &err) != 1)
			return die("remove", &err);
		/* And pipelined to bgpd's vty socket (loomd's default). */
		frr_target_set_mode(t, FRR_APPLY_VTY);
		want.n_vnis = n + 1;
		a = mono_s();
		rc = frr_sync(t, &want, &err);
		b = mono_s();
		if (rc != ADD_ONE_CHANGES)
			return rc < 0 ? die("vty add", &err)
				      : (fprintf(stderr, "bench_frr: vty add changed %d\n", rc), 1);
		col[ADD_VTY][r] = b - a;
		want.n_vnis = n;
		if (frr_sync(t, &want, &err) != 1)
			return die("remove", &err);
		want.vnis[n].vni -= 1;
		frr_target_set_mode(t, FRR_APPLY_FILE);

		if (workdir) {
			const char *rl[] = { "/usr/lib/frr/frr-reload.py", "--reload",
					     "--vty_socket", vtep.vty_dir, "--confdir", workdir,
					     "--rundir", workdir, plus1, NULL };
			struct child_result cr;

			a = mono_s();
			rc = child_run(rl, 120000, 1u << 24, &cr);
			b = mono_s();
			if (rc < 0 || cr.status)
				return fprintf(stderr, "bench_frr: frr-reload.py failed: %s\n",
					       rc < 0 ? "cannot run" : cr.err), 1;
			child_result_release(&cr);
			col[RELOAD][r] = b - a;
			/* It must really have added the VNI. */
			frr_target_invalidate(t);
			want.n_vnis = n + 1;
			rc = frr_verify(t, &want, false, &vs, &nvs, &err);
			free(vs);
			vs = NULL;
			if (rc != 0)
				return fprintf(stderr, "bench_frr: after frr-reload.py %d not verified\n", rc), 1;
			want.n_vnis = n;
			if (frr_sync(t, &want, &err) != 1)
				return die("remove after reload", &err);
		}
	}
	printf("rounds=%d\n", rounds);
	/* Ratio per round first (median() sorts the columns in place):
	 * both sides of a round ran back to back, under the same load. */
	double best = 1e9, worst = 0, sbest = 1e9, sworst = 0, vbest = 1e9, vworst = 0;

	for (int r = 0; workdir && r < rounds; r++) {
		double q = col[RELOAD][r] / col[ADD][r];
		double qs = col[RELOAD][r] / col[ADD_SESSION][r];

		if (q < best)
			best = q;
		if (q > worst)
			worst = q;
		if (qs < sbest)
			sbest = qs;
		if (qs > sworst)
			sworst = qs;
		qs = col[RELOAD][r] / col[ADD_VTY][r];
		if (qs < vbest)
			vbest = qs;
		if (qs > vworst)
			vworst = qs;
	}
	for (int c = 0; c < N_COLS; c++)
		if (c != RELOAD || workdir)
			printf("%s=%.4f\n", names[c], median(col[c], rounds));
	if (workdir)
		printf("ratio_file_median=%.1f\nratio_file_full_observe=%.1f\n"
		       "ratio_file_round_min=%.1f\nratio_file_round_max=%.1f\n"
		       "ratio_session_median=%.1f\nratio_session_round_min=%.1f\nratio_session_round_max=%.1f\n",
		       median(col[RELOAD], rounds) / median(col[ADD], rounds),
		       median(col[RELOAD], rounds) / median(col[ADD_FULL], rounds), best, worst,
		       median(col[RELOAD], rounds) / median(col[ADD_SESSION], rounds), sbest, sworst);
	if (workdir)
		printf("ratio_vty_median=%.1f\nratio_vty_round_min=%.1f\nratio_vty_round_max=%.1f\n",
		       median(col[RELOAD], rounds) / median(col[ADD_VTY], rounds), vbest, vworst);
	for (int c = 0; c < N_COLS; c++)
		free(col[c]);
	free(want.vnis);
	frr_target_close(&t);
	return 0;
}

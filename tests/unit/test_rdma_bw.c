/*
 * tests/unit/test_rdma_bw.c: the RDMA admission check's logic.
 *
 * What ran where: no RDMA device exists on the machines these tests run on
 * (no HCA, no IB kernel stack, no rdma_rxe), so no bandwidth is measured
 * here.  Covered: the threshold arithmetic for every rate from SDR to XDR
 * and the overrides; the ib_write_bw parser on golden outputs
 * (tests/golden/rdma/, see its README); the argv of both ends; the runner
 * end to end with a stand-in shell script in place of the tool (the one
 * mock: it prints a golden report), including the retry while the server
 * end is not listening and an operator prefix with {host}; and the real
 * ib_write_bw and loom-rdma-bw failing for lack of a device.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fabric/rdma_bw.h"

static char *slurp(const char *name)
{
	char path[512];
	FILE *f;
	char *s;
	long n;

	snprintf(path, sizeof(path), "%s/%s", GOLDEN_DIR, name);
	f = fopen(path, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = malloc((size_t)n + 1);
	assert_non_null(s);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = '\0';
	fclose(f);
	return s;
}

#define assert_near(a, b) assert_true(fabs((a) - (b)) < 0.01)

static void test_rates(void **state)
{
	static const struct {
		unsigned int rate;
		const char *name;
		double line, pass;
	} want[] = {
		{ 10, "4x SDR", 8, 7.2 },
		{ 20, "4x DDR", 16, 14.4 },
		{ 40, "4x QDR", 32, 28.8 },
		{ 56, "4x FDR", 54.545, 49.09 },
		{ 100, "4x EDR", 100, 90 },
		{ 200, "4x HDR", 200, 180 },
		{ 400, "4x NDR", 400, 360 },
		{ 800, "4x XDR", 800, 720 },
		{ 120, "12x QDR", 96, 86.4 },
		{ 25, "1x EDR", 25, 22.5 },
	};
	struct rdma_thresholds t;
	double line;

	rdma_thresholds_defaults(&t);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct rdma_rate *r = rdma_rate_lookup(want[i].rate);

		assert_non_null(r);
		assert_string_equal(r->name, want[i].name);
		assert_near(rdma_threshold_gbps(&t, want[i].rate, &line), want[i].pass);
		assert_near(line, want[i].line);
	}
	/* Not an InfiniBand rate: the nominal value is taken as the line rate. */
	assert_null(rdma_rate_lookup(33));
	assert_near(rdma_threshold_gbps(&t, 33, &line), 29.7);
	assert_near(line, 33);
}

static void test_overrides(void **state)
{
	struct rdma_thresholds t;
	struct loom_err err = { 0 };

	rdma_thresholds_defaults(&t);
	assert_int_equal(rdma_thresholds_set(&t, "rdma.pass_pct", "95", &err), 0);
	assert_near(rdma_threshold_gbps(&t, 400, NULL), 380);
	assert_int_equal(rdma_thresholds_set(&t, "rdma.pass_pct.400", "92", &err), 0);
	assert_near(rdma_threshold_gbps(&t, 400, NULL), 368);
	assert_near(rdma_threshold_gbps(&t, 200, NULL), 190);
	assert_int_equal(rdma_thresholds_set(&t, "rdma.min_gbps.200", "185.5", &err), 0);
	assert_near(rdma_threshold_gbps(&t, 200, NULL), 185.5);
	/* Setting the same rate again updates its one entry. */
	assert_int_equal(rdma_thresholds_set(&t, "rdma.pass_pct.400", "93", &err), 0);
	assert_int_equal(t.n_over, 2);
	assert_near(rdma_threshold_gbps(&t, 400, NULL), 372);

	assert_int_equal(rdma_thresholds_set(&t, "socket", "x", &err), -ENOENT);
	assert_int_equal(err.code, LOOM_OK);
	assert_int_equal(rdma_thresholds_set(&t, "rdma.pass_pct", "101", &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_CONFIG);
	assert_string_equal(err.field, "rdma.pass_pct");
	loom_err_clear(&err);
	assert_int_equal(rdma_thresholds_set(&t, "rdma.pass_pct", "ninety", &err), -EINVAL);
	loom_err_clear(&err);
	assert_int_equal(rdma_thresholds_set(&t, "rdma.pass_pct.33", "90", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not an InfiniBand link rate"));
	loom_err_clear(&err);
	assert_int_equal(rdma_thresholds_set(&t, "rdma.min_gbps.400", "-1", &err), -EINVAL);
	assert_near(t.pct, 95);
}

static void test_parse_ndr(void **state)
{
	char *text = slurp("ndr_4qp_gbits.txt");
	struct rdma_bw_result r;
	struct rdma_thresholds t;

	memset(&r, 0, sizeof(r));
	assert_int_equal(rdma_bw_parse_perftest(text, &r, NULL), 0);
	assert_near(r.gbps, 391.77);
	assert_near(r.peak_gbps, 391.86);
	assert_int_equal(r.bytes, 1048576);
	assert_int_equal(r.iterations, 233580);
	assert_near(r.msg_rate_mpps, 0.046703);
	assert_int_equal(r.qps, 4);
	assert_string_equal(r.device, "mlx5_0");
	rdma_thresholds_defaults(&t);
	rdma_bw_judge(&t, 400, &r);
	assert_true(r.pass);
	assert_near(r.pct_of_line, 97.94);
	assert_near(r.threshold_gbps, 360);
	assert_string_equal(r.reason,
			    "391.77 Gb/s is 97.9% of the 400.00 Gb/s a 4x NDR link carries; the pass mark is 360.00 Gb/s: pass");
	{
		json_t *j = rdma_bw_result_to_json(&r);
		char *dump = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(10));

		assert_string_equal(dump, "{\"bytes\":1048576,\"device\":\"mlx5_0\",\"duration_s\":0.0,"
				    "\"gbps\":391.77,\"iterations\":233580,\"line_gbps\":400.0,"
				    "\"pass\":true,\"pct_of_line\":97.94,\"peak_gbps\":391.86,\"peer\":\"\","
				    "\"qps\":4,\"rate_gbps\":400,\"reason\":\"391.77 Gb/s is 97.9% of the 400.00 Gb/s "
				    "a 4x NDR link carries; the pass mark is 360.00 Gb/s: pass\","
				    "\"threshold_gbps\":360.0}");
		free(dump);
		json_decref(j);
	}
	/* The same result on a port the topology says is XDR fails. */
	rdma_bw_judge(&t, 800, &r);
	assert_false(r.pass);
	free(text);
}

static void test_parse_mib(void **state)
{
	char *text = slurp("edr_1qp_mib.txt");
	struct rdma_bw_result r;
	struct rdma_thresholds t;

	memset(&r, 0, sizeof(r));
	assert_int_equal(rdma_bw_parse_perftest(text, &r, NULL), 0);
	/* 11744.09 MiB/s * 2^20 * 8 / 10^9 */
	assert_near(r.gbps, 98.516);
	assert_near(r.peak_gbps, 98.529);
	assert_int_equal(r.bytes, 65536);
	assert_int_equal(r.qps, 1);
	assert_string_equal(r.device, "mlx5_1");
	rdma_thresholds_defaults(&t);
	rdma_bw_judge(&t, 100, &r);
	assert_true(r.pass);
	/* An operator who wants 99% on EDR: the same run fails. */
	assert_int_equal(rdma_thresholds_set(&t, "rdma.pass_pct.100", "99", NULL), 0);
	rdma_bw_judge(&t, 100, &r);
	assert_false(r.pass);
	free(text);
}

static void test_parse_sweep(void **state)
{
	char *text = slurp("hdr_sweep_degraded.txt");
	struct rdma_bw_result r;
	struct rdma_thresholds t;

	memset(&r, 0, sizeof(r));
	assert_int_equal(rdma_bw_parse_perftest(text, &r, NULL), 0);
	assert_int_equal(r.bytes, 8388608);	/* the largest size counts */
	assert_near(r.gbps, 161.3);
	assert_int_equal(r.qps, 2);
	rdma_thresholds_defaults(&t);
	rdma_bw_judge(&t, 200, &r);
	assert_false(r.pass);
	assert_near(r.pct_of_line, 80.65);
	assert_non_null(strstr(r.reason, ": fail"));
	free(text);
}

static void test_parse_no_result(void **state)
{
	char *text = slurp("server_no_rows.txt");
	struct rdma_bw_result r;
	struct loom_err err = { 0 };

	memset(&r, 0, sizeof(r));
	assert_int_equal(rdma_bw_parse_perftest(text, &r, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_UNAVAILABLE);
	assert_non_null(strstr(err.msg, "no result row"));
	loom_err_clear(&err);
	assert_int_equal(rdma_bw_parse_perftest(" Unable to find the Infiniband/RoCE device\n", &r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "no result table"));
	loom_err_clear(&err);
	assert_int_equal(rdma_bw_parse_perftest(" #bytes     #iterations    BW peak[KB/sec]    BW average[KB/sec]\n 1 2 3 4\n",
						&r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "unknown bandwidth unit"));
	free(text);
}

/* loom-rdma-bw's report, read back by the same parser as ib_write_bw's. */
static void test_builtin_report(void **state)
{
	struct rdma_bw_report rep = {
		.device = "mlx5_4", .qps = 4, .link = "IB", .duration_s = 5,
		.size = 1048576, .msgs = 233580, .secs = 5.0, .gbits = true,
	};
	struct rdma_bw_result r;
	char buf[2048];

	assert_true(rdma_bw_format_report(&rep, buf, sizeof(buf)) < (int)sizeof(buf));
	memset(&r, 0, sizeof(r));
	assert_int_equal(rdma_bw_parse_perftest(buf, &r, NULL), 0);
	/* 233580 x 1 MiB in 5 s = 391.87 Gb/s */
	assert_near(r.gbps, 233580.0 * 1048576 * 8 / 5 / 1e9);
	assert_int_equal(r.bytes, 1048576);
	assert_int_equal(r.iterations, 233580);
	assert_int_equal(r.qps, 4);
	assert_string_equal(r.device, "mlx5_4");
	/* The MiB/s form parses to the same Gb/s. */
	rep.gbits = false;
	rdma_bw_format_report(&rep, buf, sizeof(buf));
	memset(&r, 0, sizeof(r));
	assert_int_equal(rdma_bw_parse_perftest(buf, &r, NULL), 0);
	assert_true(fabs(r.gbps - 233580.0 * 1048576 * 8 / 5 / 1e9) < 0.05);
}

static void test_argv(void **state)
{
	static const char *const ssh[] = { "ssh", "-oBatchMode=yes", "root@{host}", NULL };
	static const char *const want_srv[] = {
		"ib_write_bw", "-d", "mlx5_0", "-i", "1", "-q", "4", "-s", "1048576", "-D", "5",
		"-p", "18515", "--report_gbits", "-F", NULL,
	};
	struct rdma_bw_opts o;
	struct rdma_end srv = { .host = "ref-1", .device = "mlx5_0" };
	struct rdma_end cli = { .host = "gpu-7", .device = "mlx5_3", .ib_port = 2, .prefix = ssh };
	struct rdma_argv a;

	rdma_bw_opts_defaults(&o);
	assert_int_equal(rdma_bw_argv(&o, &srv, NULL, &a), 0);
	assert_int_equal(a.argc, 15);
	for (size_t i = 0; want_srv[i]; i++)
		assert_string_equal(a.argv[i], want_srv[i]);
	assert_null(a.argv[a.argc]);

	o.tool = RDMA_TOOL_BUILTIN;
	o.qps = 8;
	assert_int_equal(rdma_bw_argv(&o, &cli, "192.0.2.10", &a), 0);
	assert_string_equal(a.argv[0], "ssh");
	assert_string_equal(a.argv[2], "root@gpu-7");
	assert_string_equal(a.argv[3], "loom-rdma-bw");
	assert_string_equal(a.argv[5], "mlx5_3");
	assert_string_equal(a.argv[7], "2");
	assert_string_equal(a.argv[9], "8");
	assert_string_equal(a.argv[a.argc - 2], "--report_gbits");	/* no -F */
	assert_string_equal(a.argv[a.argc - 1], "192.0.2.10");

	/* Nothing that could be read as an option, by the tool or by ssh. */
	assert_int_equal(rdma_bw_argv(&o, &cli, "-oProxyCommand=x", &a), -EINVAL);
	cli.device = "--help";
	assert_int_equal(rdma_bw_argv(&o, &cli, "192.0.2.10", &a), -EINVAL);
	cli.device = "mlx5_3";
	cli.host = "-oProxyCommand=x";
	assert_int_equal(rdma_bw_argv(&o, &cli, "192.0.2.10", &a), -EINVAL);
}

/* A scratch folder with the stand-in tool; removed by the teardown. */
static char dir[64];

static int setup_dir(void **state)
{
	static const char script[] =
		"#!/bin/sh\n"
		"# Stand-in for ib_write_bw: no RDMA device exists where the tests run.\n"
		"d=$(dirname \"$0\")\n"
		"for a; do last=$a; done\n"
		"case $last in\n"
		"-F|--report_gbits) role=server ;;\n"
		"*) role=client ;;\n"
		"esac\n"
		"echo \"$role ${LML_HOST:-local} $*\" >> \"$d/calls\"\n"
		"if [ $role = client ] && [ -e \"$d/client-fails\" ]; then\n"
		"  echo \"boom: port not Active\" >&2; exit 3\n"
		"fi\n"
		"if [ $role = server ] && [ -e \"$d/server-fails\" ]; then\n"
		"  echo \"Couldn't find device mlx5_0\" >&2; exit 1\n"
		"fi\n"
		"if [ $role = client ] && [ -e \"$d/server-fails\" ]; then\n"
		"  sleep 0.3; echo \"Couldn't connect to $last:18515\" >&2; exit 1\n"
		"fi\n"
		"if [ $role = client ] && [ -e \"$d/refuse-once\" ]; then\n"
		"  rm -f \"$d/refuse-once\"\n"
		"  echo \"Couldn't connect to $last:18515\" >&2; exit 1\n"
		"fi\n"
		"if [ $role = client ]; then touch \"$d/connected\"; cat \"$GOLDEN/ndr_4qp_gbits.txt\"; exit 0; fi\n"
		"# Like the real server end: wait (at most 5 s) for a client.\n"
		"i=0; while [ ! -e \"$d/connected\" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done\n"
		"rm -f \"$d/connected\"; cat \"$GOLDEN/server_no_rows.txt\"\n";
	char path[128];
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/lml-rdma-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/fake-bw", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(script, f);
	fclose(f);
	chmod(path, 0755);
	setenv("GOLDEN", GOLDEN_DIR, 1);
	return 0;
}

static int teardown_dir(void **state)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/fake-bw", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/calls", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/refuse-once", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/connected", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/client-fails", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/server-fails", dir);
	unlink(path);
	return rmdir(dir);
}

static int count_lines(const char *path, const char *prefix)
{
	char line[512];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strncmp(line, prefix, strlen(prefix)) == 0;
	fclose(f);
	return n;
}

static void test_run_stand_in(void **state)
{
	static const char *const pfx[] = { "env", "LML_HOST={host}", NULL };
	char prog[128], calls[128], refuse[128], failing[128];
	time_t t0;
	struct rdma_bw_opts o;
	struct rdma_end srv = { .host = "ref-1", .device = "mlx5_0", .prefix = pfx };
	struct rdma_end cli = { .host = "gpu-7", .device = "mlx5_1", .prefix = pfx };
	struct rdma_bw_result r;
	struct loom_err err = { 0 };
	FILE *f;

	snprintf(prog, sizeof(prog), "%s/fake-bw", dir);
	snprintf(calls, sizeof(calls), "%s/calls", dir);
	snprintf(refuse, sizeof(refuse), "%s/refuse-once", dir);
	snprintf(failing, sizeof(failing), "%s/client-fails", dir);
	rdma_bw_opts_defaults(&o);
	o.program = prog;
	o.timeout_ms = 10000;
	if (rdma_bw_run(&o, &srv, &cli, "192.0.2.10", &r, &err) < 0) {
		fprintf(stderr, "run: %s\n", err.msg);
		fail();
	}
	assert_near(r.gbps, 391.77);
	assert_string_equal(r.peer, "ref-1");
	assert_true(r.duration_s >= 0 && r.duration_s < 10);
	/* Each end ran once, behind the prefix with its own host. */
	assert_int_equal(count_lines(calls, "server ref-1 -d mlx5_0 -i 1 -q 4 -s 1048576 -D 5 -p 18515 --report_gbits -F"), 1);
	assert_int_equal(count_lines(calls, "client gpu-7 -d mlx5_1 -i 1 -q 4"), 1);

	/* The client is refused once (server not listening yet), then retried. */
	unlink(calls);
	f = fopen(refuse, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(rdma_bw_run(&o, &srv, &cli, "192.0.2.10", &r, &err), 0);
	assert_int_equal(count_lines(calls, "client"), 2);
	assert_int_equal(count_lines(calls, "server"), 1);
	assert_near(r.gbps, 391.77);

	/*
	 * The client end fails for good: the server end (which would wait 5 s
	 * for a client) is ended at once, and the client's words are reported.
	 */
	f = fopen(failing, "w");
	assert_non_null(f);
	fclose(f);
	t0 = time(NULL);
	assert_int_equal(rdma_bw_run(&o, &srv, &cli, "192.0.2.10", &r, &err), -EIO);
	assert_true(time(NULL) - t0 <= 2);
	assert_int_equal(err.code, LOOM_E_UNAVAILABLE);
	assert_string_equal(err.msg, "the client end on gpu-7 exited with 3: boom: port not Active");
	assert_int_equal(r.fault, RDMA_FAULT_NODE);
	unlink(failing);

	/* The server end fails (the peer lost its device): the peer's fault. */
	snprintf(failing, sizeof(failing), "%s/server-fails", dir);
	f = fopen(failing, "w");
	assert_non_null(f);
	fclose(f);
	loom_err_clear(&err);
	assert_int_equal(rdma_bw_run(&o, &srv, &cli, "192.0.2.10", &r, &err), -EIO);
	assert_int_equal(r.fault, RDMA_FAULT_PEER);
	assert_string_equal(err.msg, "the peer's fault: the server end on ref-1 exited with 1 first: "
			    "Couldn't find device mlx5_0");
	unlink(failing);
}

/* rdma.qps, .size, .duration, .gid_index, .timeout, .tx_depth; -x and -t reach the argv. */
static void test_opts_set(void **state)
{
	struct rdma_bw_opts o;
	struct rdma_end end = { .device = "rxe0" };
	struct rdma_argv a;
	struct loom_err err = { 0 };

	rdma_bw_opts_defaults(&o);
	assert_int_equal(o.gid_index, -1);
	assert_int_equal(rdma_bw_opts_set(&o, "rdma.qps", "1", &err), 0);
	assert_int_equal(rdma_bw_opts_set(&o, "rdma.size", "65536", &err), 0);
	assert_int_equal(rdma_bw_opts_set(&o, "rdma.duration", "3", &err), 0);
	assert_int_equal(rdma_bw_opts_set(&o, "rdma.gid_index", "1", &err), 0);
	assert_int_equal(rdma_bw_opts_set(&o, "rdma.timeout", "40", &err), 0);
	assert_int_equal(o.qps, 1);
	assert_int_equal(o.size, 65536);
	assert_int_equal(o.duration_s, 3);
	assert_int_equal(o.timeout_ms, 40000);
	assert_int_equal(rdma_bw_argv(&o, &end, "192.0.2.2", &a), 0);
	assert_string_equal(a.argv[13], "-x");
	assert_string_equal(a.argv[14], "1");
	assert_string_equal(a.argv[15], "--report_gbits");
	assert_int_equal(rdma_bw_opts_set(&o, "rdma.tx_depth", "4", &err), 0);
	assert_int_equal(rdma_bw_argv(&o, &end, "192.0.2.2", &a), 0);
	assert_string_equal(a.argv[16], "-F");
	assert_string_equal(a.argv[17], "-t");
	assert_string_equal(a.argv[18], "4");
	assert_string_equal(a.argv[19], "192.0.2.2");
	assert_int_equal(rdma_bw_opts_set(&o, "rdma.gid_index", "auto", &err), 0);
	assert_int_equal(o.gid_index, -1);
	assert_int_equal(rdma_bw_opts_set(&o, "rdma.qps", "0", &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_CONFIG);
	assert_string_equal(err.field, "rdma.qps");
	loom_err_clear(&err);
	assert_int_equal(rdma_bw_opts_set(&o, "rdma.size", "1.5", &err), -EINVAL);
	loom_err_clear(&err);
	assert_int_equal(rdma_bw_opts_set(&o, "rdma.duration", "5s", &err), -EINVAL);
	loom_err_clear(&err);
	assert_int_equal(rdma_bw_opts_set(&o, "rdma.peer", "x", &err), -ENOENT);
}

/* The real tools, on a machine without an RDMA device: a clear failure. */
static void test_run_no_device(void **state)
{
	const char *builddir = getenv("top_builddir");
	struct rdma_bw_opts o;
	struct rdma_end srv = { .host = "ref-1", .device = "mlx5_0" };
	struct rdma_end cli = { .host = "gpu-7", .device = "mlx5_0" };
	struct rdma_bw_result r;
	struct loom_err err = { 0 };
	char prog[512];

	rdma_bw_opts_defaults(&o);
	o.duration_s = 1;
	o.timeout_ms = 10000;
	if (access("/usr/bin/ib_write_bw", X_OK) == 0) {
		o.program = "/usr/bin/ib_write_bw";
		assert_int_equal(rdma_bw_run(&o, &srv, &cli, "127.0.0.1", &r, &err), -EIO);
		assert_int_equal(err.code, LOOM_E_UNAVAILABLE);
		assert_non_null(strstr(err.msg, "exited with 1"));
		fprintf(stderr, "# ib_write_bw here: %s\n", err.msg);
	} else {
		fprintf(stderr, "# ib_write_bw is not installed: skipped that half\n");
	}
#ifdef HAVE_IBVERBS
	if (builddir) {
		loom_err_clear(&err);
		snprintf(prog, sizeof(prog), "%s/loom-rdma-bw", builddir);
		o.tool = RDMA_TOOL_BUILTIN;
		o.program = prog;
		assert_int_equal(rdma_bw_run(&o, &srv, &cli, "127.0.0.1", &r, &err), -EIO);
		assert_int_equal(err.code, LOOM_E_UNAVAILABLE);
		assert_non_null(strstr(err.msg, "exited with 2"));
		assert_non_null(strstr(err.msg, "no RDMA device"));
		fprintf(stderr, "# loom-rdma-bw here: %s\n", err.msg);
	}
#else
	(void)builddir;
	(void)prog;
#endif
	/* A program that does not exist. */
	loom_err_clear(&err);
	o.program = "/nonexistent/lml-bw";
	assert_true(rdma_bw_run(&o, &srv, &cli, "127.0.0.1", &r, &err) < 0);
	assert_int_equal(err.code, LOOM_E_UNAVAILABLE);
}

/* Two peers: ref-1 (mlx5_0/1, mlx5_1/1 on sm-a) and ref-2 (roce0/1, no SM: RoCE). */
static void pool_fill(struct rdma_pool *p, struct topo_node *r1, struct topo_node *r2)
{
	static struct topo_hca_port p1[2], p2[1];

	memset(p1, 0, sizeof(p1));
	memset(p2, 0, sizeof(p2));
	snprintf(p1[0].name, sizeof(p1[0].name), "mlx5_0/1");
	snprintf(p1[0].sm, sizeof(p1[0].sm), "sm-a");
	p1[0].rate_gbps = 400;
	snprintf(p1[1].name, sizeof(p1[1].name), "mlx5_1/1");
	snprintf(p1[1].sm, sizeof(p1[1].sm), "sm-a");
	snprintf(p1[1].rail, sizeof(p1[1].rail), "r1");
	p1[1].rate_gbps = 400;
	snprintf(p2[0].name, sizeof(p2[0].name), "roce0/1");
	p2[0].rate_gbps = 100;
	memset(r1, 0, sizeof(*r1));
	memset(r2, 0, sizeof(*r2));
	snprintf(r1->name, sizeof(r1->name), "ref-1");
	r1->hca_ports = p1;
	r1->n_hca_ports = 2;
	snprintf(r2->name, sizeof(r2->name), "ref-2");
	r2->hca_ports = p2;
	r2->n_hca_ports = 1;
	rdma_pool_init(p);
	assert_int_equal(rdma_pool_add(p, r1, "192.0.2.1", 18515), 0);
	assert_int_equal(rdma_pool_add(p, r2, "", 18515), 0);
}

static void test_pool_pick(void **state)
{
	struct rdma_pool p;
	struct topo_node r1, r2;
	struct topo_hca_port want = { .name = "mlx5_1/1", .sm = "sm-a", .rate_gbps = 400 };
	struct topo_hca_port roce = { .name = "eth2", .rate_gbps = 100 };
	struct topo_hca_port other = { .name = "mlx5_0/1", .sm = "sm-b", .rate_gbps = 400 };

	pool_fill(&p, &r1, &r2);
	assert_int_equal(p.n, 3);
	/* Each peer port its own TCP port; the address defaults to the name. */
	assert_int_equal(p.ports[1].tcp_port, 18516);
	assert_int_equal(p.ports[2].tcp_port, 18517);
	assert_string_equal(p.ports[0].addr, "192.0.2.1");
	assert_string_equal(p.ports[2].addr, "ref-2");
	/* Same fabric and name first. */
	assert_int_equal(rdma_pool_pick(&p, "gpu-1", &want, -1), 1);
	/* That one busy: the other port on the fabric. */
	p.ports[1].busy = true;
	assert_int_equal(rdma_pool_pick(&p, "gpu-1", &want, -1), 0);
	p.ports[0].busy = true;
	assert_int_equal(rdma_pool_pick(&p, "gpu-1", &want, -1), -EBUSY);
	p.ports[0].busy = p.ports[1].busy = false;
	/* RoCE ports (no SM) fit RoCE ports only; another fabric fits none. */
	assert_int_equal(rdma_pool_pick(&p, "gpu-1", &roce, -1), 2);
	assert_int_equal(rdma_pool_pick(&p, "gpu-1", &other, -1), -ENOENT);
	/* Never the node's own ports: a peer in the pool is checked against the others. */
	assert_int_equal(rdma_pool_pick(&p, "ref-2", &roce, -1), -ENOENT);
	/* After a failure at ref-1, ref-1 is still used when it is the only fit. */
	assert_int_equal(rdma_pool_pick(&p, "gpu-1", &want, 1), 1);
	rdma_pool_destroy(&p);
}

struct pool_waiter {
	struct rdma_pool *pool;
	const struct topo_hca_port *want;
	int got;
};

static void *pool_wait_main(void *arg)
{
	struct pool_waiter *w = arg;

	w->got = rdma_pool_acquire(w->pool, "gpu-2", w->want, -1, 5000);
	return NULL;
}

/* A second check for a busy port waits its turn; close wakes waiters. */
static void test_pool_queue(void **state)
{
	struct rdma_pool p;
	struct topo_node r1, r2;
	struct topo_hca_port roce = { .name = "eth2", .rate_gbps = 100 };
	struct pool_waiter w = { .pool = &p, .want = &roce, .got = 99 };
	pthread_t t;
	int a;

	pool_fill(&p, &r1, &r2);
	a = rdma_pool_acquire(&p, "gpu-1", &roce, -1, 1000);
	assert_int_equal(a, 2);
	assert_int_equal(rdma_pool_acquire(&p, "gpu-3", &roce, -1, 100), -ETIMEDOUT);
	assert_int_equal(pthread_create(&t, NULL, pool_wait_main, &w), 0);
	nanosleep(&(struct timespec){ .tv_nsec = 200 * 1000 * 1000 }, NULL);
	assert_int_equal(__atomic_load_n(&w.got, __ATOMIC_ACQUIRE), 99);	/* still queued */
	rdma_pool_release(&p, a);
	pthread_join(t, NULL);
	assert_int_equal(w.got, 2);
	rdma_pool_close(&p);
	assert_int_equal(rdma_pool_acquire(&p, "gpu-3", &roce, -1, 1000), -ECANCELED);
	rdma_pool_destroy(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rates),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_parse_ndr),
		cmocka_unit_test(test_parse_mib),
		cmocka_unit_test(test_parse_sweep),
		cmocka_unit_test(test_parse_no_result),
		cmocka_unit_test(test_builtin_report),
		cmocka_unit_test(test_argv),
		cmocka_unit_test(test_opts_set),
		cmocka_unit_test(test_pool_pick),
		cmocka_unit_test(test_pool_queue),
		cmocka_unit_test_setup_teardown(test_run_stand_in, setup_dir, teardown_dir),
		cmocka_unit_test(test_run_no_device),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * tests/unit/test_conf.c: loomd.conf: defaults, every key, errors naming
 * the file, line and key, and `loomd -n` output parsing again to the same.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "src/conf.h"

static char path[] = "/tmp/loom-test-conf.XXXXXX";

static int load_text(const char *text, struct loom_config *c, struct loom_err *err)
{
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	int ret;

	fputs(text, f);
	fclose(f);
	loom_err_clear(err);
	ret = config_load(path, c, err);
	unlink(path);
	strcpy(path, "/tmp/loom-test-conf.XXXXXX");
	return ret;
}

static void test_all_keys(void **state)
{
	struct loom_config c;
	struct loom_err err;

	(void)state;
	assert_int_equal(load_text("# comment\n\n socket = /tmp/x.sock \ndatabase=/tmp/x.db\n"
				   "topology = /tmp/t.json\nvni_range = 100-200\npkey_range = 0x10-0x20\n"
				   "route_target_asn = 64512\nadmin_group = wheel\nreader_group = users\n"
				   "socket_mode = 0666\nlog_level = debug\ndebug = api,netlink\n"
				   "max_request_bytes = 4096\nmax_clients = 10\nresync_interval = 5\n", &c, &err), 0);
	assert_string_equal(c.socket, "/tmp/x.sock");
	assert_string_equal(c.database, "/tmp/x.db");
	assert_int_equal(c.pools.vni_min, 100);
	assert_int_equal(c.pools.vni_max, 200);
	assert_int_equal(c.pools.pkey_min, 0x10);
	assert_int_equal(c.pools.pkey_max, 0x20);
	assert_int_equal(c.pools.rt_asn, 64512);
	assert_int_equal(c.socket_mode, 0666);
	assert_int_equal(c.max_request_bytes, 4096);
	assert_int_equal(c.max_clients, 10);
	assert_int_equal(c.resync_interval_s, 5);
	assert_string_equal(c.debug, "api,netlink");
}

static void expect_bad(const char *text, const char *key, const char *in_msg)
{
	struct loom_config c;
	struct loom_err err;

	assert_int_not_equal(load_text(text, &c, &err), 0);
	assert_int_equal(err.code, LOOM_E_CONFIG);
	assert_string_equal(err.field, key);
	if (!strstr(err.msg, in_msg))
		fail_msg("message '%s' lacks '%s'", err.msg, in_msg);
}

static void test_errors(void **state)
{
	(void)state;
	expect_bad("socket = relative.sock\n", "socket", ":1: socket: must be an absolute path");
	expect_bad("\n\nvni_range = 0-10\n", "vni_range", ":3: vni_range");
	expect_bad("vni_range = 20-10\n", "vni_range", "FIRST <= LAST");
	expect_bad("vni_range = 1-16777216\n", "vni_range", "16777215");
	expect_bad("pkey_range = 0x0000-0x10\n", "pkey_range", "0x0001");
	expect_bad("pkey_range = 0x10-0x7fff\n", "pkey_range", "0x7ffe");
	expect_bad("route_target_asn = 70000\n", "route_target_asn", "2-byte ASN");
	expect_bad("socket_mode = 666\n", "socket_mode", "octal");
	expect_bad("log_level = loud\n", "log_level", "err, warn, info or debug");
	expect_bad("debug = api,bogus\n", "debug", "comma list");
	expect_bad("max_request_bytes = 12\n", "max_request_bytes", "1024");
	expect_bad("max_clients = -1\n", "max_clients", "1..65536");
	expect_bad("colour = blue\n", "colour", "unknown key");
	expect_bad("gpu.nvml.Node_1 = /x.so\n", "gpu.nvml.Node_1", "NODE a node name");
	expect_bad("gpu.nvml.n1 = relative.so\n", "gpu.nvml.n1", "absolute");
	expect_bad("gpu.allow_mig_mode = maybe\n", "gpu.allow_mig_mode", "yes or no");
	expect_bad("just words\n", "", "expected 'key = value'");
}

static void test_print_parses_again(void **state)
{
	struct loom_config a, b;
	struct loom_err err;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_int_equal(load_text("vni_range = 5000-6000\nsocket_mode = 0640\ndebug = store\n"
				   "gpu.nvml.n1 = /opt/a/libnvidia-ml.so.1\ngpu.nvml.n2 = /opt/b.so\n"
				   "gpu.nvml.n1 = /opt/c.so\ngpu.allow_mig_mode = yes\n", &a, &err), 0);
	/* The last line for a node wins; every node once. */
	assert_int_equal(a.n_nvml, 2);
	assert_string_equal(a.nvml[0].path, "/opt/c.so");
	assert_true(a.gpu_allow_mig_mode);
	f = open_memstream(&text, &len);
	config_print(&a, f);
	fclose(f);
	assert_int_equal(load_text(text, &b, &err), 0);
	free(text);
	b.admin_gid = a.admin_gid;
	b.reader_gid = a.reader_gid;
	memcpy(b.path, a.path, sizeof(a.path));
	assert_memory_equal(&a, &b, sizeof(a));
}

static void test_missing_file(void **state)
{
	struct loom_config c;
	struct loom_err err = { 0 };

	(void)state;
	assert_int_not_equal(config_load("/nonexistent/loomd.conf", &c, &err), 0);
	assert_int_equal(err.code, LOOM_E_CONFIG);
	assert_non_null(strstr(err.msg, "/nonexistent/loomd.conf"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_keys),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_print_parses_again),
		cmocka_unit_test(test_missing_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

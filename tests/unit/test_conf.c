/*
 * tests/unit/test_conf.c: loomd.conf: defaults, every key, errors naming
 * the file, line and key, and `loomd -n` output parsing again to the same.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/ssl.h>

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
	assert_string_equal(c.provisioning_tenant, "");

	assert_int_equal(load_text("provisioning_segment = infra/pxe-1\n", &c, &err), 0);
	assert_string_equal(c.provisioning_tenant, "infra");
	assert_string_equal(c.provisioning_segment, "pxe-1");
	assert_int_equal(load_text("provisioning_segment = infra/pxe\nprovisioning_segment =\n", &c, &err), 0);
	assert_string_equal(c.provisioning_tenant, "");
	assert_string_equal(c.provisioning_segment, "");
	assert_int_not_equal(load_text("provisioning_segment = infra/PXE\n", &c, &err), 0);
	assert_non_null(strstr(err.msg, "provisioning_segment"));
	assert_non_null(strstr(err.msg, "TENANT/SEGMENT"));
}

static void test_fault_rdma_keys(void **state)
{
	struct loom_config c;
	struct loom_err err;
	struct rdma_bw_opts o;
	const char *prefix[CONF_RUNNER_WORDS + 1];

	(void)state;
	assert_int_equal(load_text("", &c, &err), 0);
	assert_int_equal(c.fault.on[FAULT_CRITICAL], FAULT_ACT_CORDON);
	assert_int_equal(c.fault.on[FAULT_WARNING], FAULT_ACT_RECORD);
	assert_int_equal(c.fault.hold_down_s, 300);
	assert_int_equal(c.counter_interval_s, 30);
	assert_true(c.rdma.pct == 90);
	assert_false(config_rdma_check(&c, &o, prefix));
	assert_null(prefix[0]);

	assert_int_equal(load_text("fault.info = cordon\nfault.warning = replace\nfault.critical = record\n"
				   "fault.hold_down = 5\nfault.symbol_errors = 0\nfault.link_downed = 3\n"
				   "fault.link_recovery = 7\nfault.carrier_severity = warning\n"
				   "fault.port_state_severity = info\nfault.counter_severity = critical\n"
				   "fault.counter_interval = 2\nrdma.pass_pct = 92.5\nrdma.pass_pct.400 = 95\n"
				   "rdma.min_gbps.200 = 185\nrdma.tool = /usr/local/bin/loom-rdma-bw\n"
				   "rdma.peer = ref-1\nrdma.peer_address = 192.0.2.9\n"
				   "rdma.runner =  ssh  -oBatchMode=yes\troot@{host} \n", &c, &err), 0);
	assert_int_equal(c.fault.on[FAULT_INFO], FAULT_ACT_CORDON);
	assert_int_equal(c.fault.on[FAULT_WARNING], FAULT_ACT_REPLACE);
	assert_int_equal(c.fault.on[FAULT_CRITICAL], FAULT_ACT_RECORD);
	assert_int_equal(c.fault.hold_down_s, 5);
	assert_int_equal(c.fault.symbol_errors, 0);
	assert_int_equal(c.fault.link_downed, 3);
	assert_int_equal(c.fault.link_recovery, 7);
	assert_int_equal(c.fault.carrier_severity, FAULT_WARNING);
	assert_int_equal(c.fault.port_state_severity, FAULT_INFO);
	assert_int_equal(c.fault.counter_severity, FAULT_CRITICAL);
	assert_int_equal(c.counter_interval_s, 2);
	assert_true(c.rdma.pct == 92.5);
	assert_true(rdma_threshold_gbps(&c.rdma, 400, NULL) == 380);
	assert_true(rdma_threshold_gbps(&c.rdma, 200, NULL) == 185);
	assert_string_equal(c.rdma_peer, "ref-1");
	assert_string_equal(c.rdma_peer_address, "192.0.2.9");
	assert_int_equal(c.n_rdma_runner, 3);
	assert_true(config_rdma_check(&c, &o, prefix));
	assert_int_equal(o.tool, RDMA_TOOL_BUILTIN);
	assert_string_equal(o.program, "/usr/local/bin/loom-rdma-bw");
	assert_string_equal(prefix[0], "ssh");
	assert_string_equal(prefix[1], "-oBatchMode=yes");
	assert_string_equal(prefix[2], "root@{host}");
	assert_null(prefix[3]);

	assert_int_equal(load_text("rdma.tool = ib_write_bw\nrdma.peer = ref-1\n", &c, &err), 0);
	assert_true(config_rdma_check(&c, &o, prefix));
	assert_int_equal(o.tool, RDMA_TOOL_PERFTEST);
	assert_null(o.program);
	assert_null(prefix[0]);
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
	expect_bad("frr_apply = telnet\n", "frr_apply", "vtysh-session");
	expect_bad("just words\n", "", "expected 'key = value'");
	expect_bad("\nfault.critical = panic\n", "fault.critical", ":2: fault.critical: 'panic' is not an action");
	expect_bad("fault.hold_down = -1\n", "fault.hold_down", "number of seconds");
	expect_bad("fault.symbol_errors = many\n", "fault.symbol_errors", "is not a count");
	expect_bad("fault.carrier_severity = dire\n", "fault.carrier_severity", "not a severity");
	expect_bad("fault.counter_interval = 99999\n", "fault.counter_interval", "0 (off) to 86400");
	expect_bad("fault.bogus = 1\n", "fault.bogus", "unknown key");
	expect_bad("rdma.pass_pct = 120\n", "rdma.pass_pct", "percentage");
	expect_bad("rdma.pass_pct.33 = 90\n", "rdma.pass_pct.33", "not an InfiniBand link rate");
	expect_bad("rdma.min_gbps.400 = fast\n", "rdma.min_gbps.400", "bandwidth");
	expect_bad("rdma.tool = perf\n", "rdma.tool", "loom-rdma-bw, ib_write_bw");
	expect_bad("rdma.peer = Ref_1\n", "rdma.peer", "node name");
	expect_bad("rdma.peer_address = -oProxyCommand=x\n", "rdma.peer_address", "not starting with '-'");
	expect_bad("rdma.runner = sh -c 'ssh $HOST'\n", "rdma.runner", "not a shell string");
	expect_bad("cluster.snapshot_entries = 9\n", "cluster.snapshot_entries", "10..1000000000");
	expect_bad("cluster.snapshot_entries = lots\n", "cluster.snapshot_entries", "number of log entries");
	expect_bad("cluster.snapshot_entries = 1000000001\n", "cluster.snapshot_entries", "10..1000000000");
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
				   "gpu.nvml.n1 = /opt/c.so\ngpu.allow_mig_mode = yes\nfrr_apply = vty\n"
				   "fault.critical = replace\nfault.hold_down = 60\nfault.counter_interval = 5\n"
				   "rdma.pass_pct = 92.5\nrdma.pass_pct.400 = 95\nrdma.min_gbps.400 = 370\n"
				   "rdma.min_gbps.100 = 88.25\nrdma.tool = ib_write_bw\nrdma.peer = ref-1\n"
				   "rdma.runner = ssh -oBatchMode=yes root@{host}\n"
				   "cluster.snapshot_entries = 500\n", &a, &err), 0);
	assert_int_equal(a.cluster_snapshot_entries, 500);
	/* The last line for a node wins; every node once. */
	assert_int_equal(a.n_nvml, 2);
	assert_string_equal(a.nvml[0].path, "/opt/c.so");
	assert_true(a.gpu_allow_mig_mode);
	assert_string_equal(a.frr_apply, "vty");
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

static void test_tls_keys(void **state)
{
	struct loom_config c;
	struct loom_err err;

	(void)state;
	assert_int_equal(load_text("listen = tls://[::1]:8443\ntls.cert = /c.pem\ntls.key = /k.pem\n"
				   "tls.ca = /ca.pem\ntls.min_version = 1.3\n"
				   "principal = cn:Jane Doe admin\nprincipal = dns:ops-* reader\n", &c, &err), 0);
	assert_string_equal(c.listen_host, "::1");
	assert_string_equal(c.listen_port, "8443");
	assert_int_equal(c.tls_min_version, TLS1_3_VERSION);
	assert_int_equal(c.n_principals, 2);
	assert_string_equal(c.principals[0].value, "Jane Doe");
	assert_int_equal(c.principals[0].role, ROLE_ADMIN);
	assert_int_equal(c.principals[1].field, CERT_DNS);
	assert_true(c.principals[1].prefix);
	assert_string_equal(c.principals[1].value, "ops-");
	assert_int_equal(load_text("listen = tls://0.0.0.0:8443\n", &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "needs tls.cert, tls.key and tls.ca"));
	assert_int_not_equal(load_text("listen = http://x:1\n", &c, &err), 0);
	assert_int_not_equal(load_text("listen = tls://x:99999\n", &c, &err), 0);
	assert_int_not_equal(load_text("principal = cn:x root\n", &c, &err), 0);
	assert_int_not_equal(load_text("principal = ip:1.2.3.4 admin\n", &c, &err), 0);
	assert_int_equal(load_text("limit.connections = 8\nlimit.requests_per_second = 100\n", &c, &err), 0);
	assert_int_equal(c.limit_connections, 8);
	assert_int_equal(c.limit_rps, 100);
	assert_int_not_equal(load_text("limit.connections = -1\n", &c, &err), 0);
	assert_int_equal(load_text("principal = cn:acme-bot tenant:acme\ntenant_group = acme-ops acme\n", &c, &err), 0);
	assert_int_equal(c.principals[0].role, ROLE_TENANT);
	assert_string_equal(c.principals[0].tenant, "acme");
	assert_int_equal(c.n_tenant_groups, 1);
	assert_string_equal(c.tenant_groups[0].group, "acme-ops");
	assert_string_equal(c.tenant_groups[0].tenant, "acme");
	assert_int_not_equal(load_text("principal = cn:x tenant:Bad_Name\n", &c, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_keys),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_fault_rdma_keys),
		cmocka_unit_test(test_print_parses_again),
		cmocka_unit_test(test_tls_keys),
		cmocka_unit_test(test_missing_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

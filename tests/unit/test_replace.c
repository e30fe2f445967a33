/*
 * tests/unit/test_replace.c: replacement candidates and plans against a
 * topology loaded through topology_load_json (the real loader and its
 * checks): the pick prefers OLD's rack, each kind of incompatibility is
 * named, ports map by rail / SM whatever their names, and the plan never
 * puts a port in two tenants (simulated step by step).  Also the node.fault
 * report check, which needs a topology.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "node/fault.h"
#include "node/replace.h"

static unsigned int serial;

struct spec {
	const char *name, *site, *rack;
	const char *nic[2];		/* port names */
	const char *nic_rail[2];
	const char *hca[2];
	const char *hca_rail[2];
	unsigned int rate[2];
	unsigned int n_gpus;
	const char *model;
};

static json_t *node_json(const struct spec *s)
{
	json_t *nics = json_array(), *hcas = json_array(), *gpus = json_array();
	bool west = strcmp(s->site, "west") == 0;

	for (int i = 0; i < 2 && s->nic[i]; i++) {
		char mac[18], acc[16];

		serial++;
		snprintf(mac, sizeof(mac), "02:00:00:00:%02x:%02x", serial >> 8, serial & 0xff);
		snprintf(acc, sizeof(acc), "acc%u", serial);
		json_array_append_new(nics, json_pack("{s:s, s:s, s:s, s:s, s:s}",
			"name", s->nic[i], "mac", mac,
			"vtep", west ? "vt-w1" : (i ? "vt-e2" : "vt-e1"),
			"access_port", acc, "rail", s->nic_rail[i]));
	}
	for (int i = 0; i < 2 && s->hca[i]; i++) {
		char guid[19];

		serial++;
		snprintf(guid, sizeof(guid), "0x%016x", 0x100000 + serial);
		json_array_append_new(hcas, json_pack("{s:s, s:s, s:i, s:s, s:s}",
			"name", s->hca[i], "guid", guid, "rate_gbps", (int)s->rate[i],
			"sm", west ? "sm-west" : "sm-east", "rail", s->hca_rail[i]));
	}
	for (unsigned int i = 0; i < s->n_gpus; i++)
		json_array_append_new(gpus, json_pack("{s:i, s:s}", "index", (int)i,
						      "model", s->model));
	return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "name", s->name, "site", s->site,
			 "rack", s->rack, "nic_ports", nics, "hca_ports", hcas, "gpus", gpus);
}

#define STD_NIC { "eth0", "eth1" }, { "rail0", "rail1" }
#define STD_HCA { "mlx5_0/1", "mlx5_1/1" }, { "rail0", "rail1" }
#define H100 "H100-SXM5-80GB"

static const struct spec specs[] = {
	{ "n-old", "east", "e1", STD_NIC, STD_HCA, { 400, 400 }, 4, H100 },
	/* Same classes under other port names, in another order. */
	{ "n-good", "east", "e2", { "ens1", "ens2" }, { "rail1", "rail0" },
	  { "ib0", "ib1" }, { "rail1", "rail0" }, { 400, 400 }, 4, H100 },
	{ "n-rack", "east", "e1", STD_NIC, STD_HCA, { 400, 400 }, 4, H100 },
	{ "n-west", "west", "w1", STD_NIC, STD_HCA, { 400, 400 }, 4, H100 },
	{ "n-a100", "east", "e2", STD_NIC, STD_HCA, { 400, 400 }, 4, "A100-SXM4-80GB" },
	{ "n-slow", "east", "e2", STD_NIC, STD_HCA, { 400, 200 }, 4, H100 },
	{ "n-rail", "east", "e2", { "eth0", "eth1" }, { "rail0", "rail2" }, STD_HCA, { 400, 400 }, 4, H100 },
	{ "n-busy", "east", "e1", STD_NIC, STD_HCA, { 400, 400 }, 4, H100 },
	{ "n-few", "east", "e2", STD_NIC, { "mlx5_0/1" }, { "rail0" }, { 400 }, 2, H100 },
};

static struct topology *topo;

static int setup(void **state)
{
	json_t *root, *nodes = json_array();
	struct loom_err err = { 0 };

	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		json_array_append_new(nodes, node_json(&specs[i]));
	root = json_pack("{s:[{s:s},{s:s}], s:[{s:s,s:s},{s:s,s:s},{s:s,s:s}],"
			 " s:[{s:s,s:s,s:s,s:i,s:s},{s:s,s:s,s:s,s:i,s:s},{s:s,s:s,s:s,s:i,s:s}],"
			 " s:[{s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s}], s:o}",
			 "sites", "name", "east", "name", "west",
			 "racks", "name", "e1", "site", "east", "name", "e2", "site", "east",
			 "name", "w1", "site", "west",
			 "vteps",
			 "name", "vt-e1", "site", "east", "vtep_ip", "203.0.113.1", "asn", 65001, "vty_dir", "/tmp/lml-e1",
			 "name", "vt-e2", "site", "east", "vtep_ip", "203.0.113.2", "asn", 65002, "vty_dir", "/tmp/lml-e2",
			 "name", "vt-w1", "site", "west", "vtep_ip", "203.0.113.3", "asn", 65003, "vty_dir", "/tmp/lml-w1",
			 "subnet_managers",
			 "name", "sm-east", "site", "east", "partitions_file", "/tmp/lml-e.conf", "pid_file", "/tmp/lml-e.pid",
			 "name", "sm-west", "site", "west", "partitions_file", "/tmp/lml-w.conf", "pid_file", "/tmp/lml-w.pid",
			 "nodes", nodes);
	assert_non_null(root);
	if (topology_load_json(root, &topo, &err) < 0)
		fprintf(stderr, "topology: %s: %s\n", err.field, err.msg);
	json_decref(root);
	assert_non_null(topo);
	return 0;
}

static int teardown(void **state)
{
	topology_free(&topo);
	assert_null(topo);
	return 0;
}

static const struct node_state_ref states[] = {
	{ "n-old", NODE_ASSIGNED }, { "n-good", NODE_AVAILABLE }, { "n-rack", NODE_AVAILABLE },
	{ "n-west", NODE_AVAILABLE }, { "n-a100", NODE_AVAILABLE }, { "n-slow", NODE_AVAILABLE },
	{ "n-rail", NODE_AVAILABLE }, { "n-busy", NODE_ASSIGNED }, { "n-few", NODE_AVAILABLE },
};
#define N_STATES (sizeof(states) / sizeof(states[0]))

static void expect_refused(const char *new_node, int code, const char *needle)
{
	struct replace_why why;
	struct loom_err err = { 0 };

	assert_int_equal(replace_check(topo, "n-old", new_node, states, N_STATES, &why, &err), -EINVAL);
	assert_int_equal(err.code, code);
	assert_string_equal(err.field, "new");
	if (!strstr(err.msg, needle)) {
		fprintf(stderr, "%s: '%s' lacks '%s'\n", new_node, err.msg, needle);
		fail();
	}
	assert_true(why.n >= 1);
}

static void test_check(void **state)
{
	struct replace_why why;
	struct loom_err err = { 0 };

	assert_int_equal(replace_check(topo, "n-old", "n-good", states, N_STATES, &why, &err), 0);
	assert_int_equal(why.total, 0);
	assert_int_equal(replace_check(topo, "n-old", "n-rack", states, N_STATES, NULL, &err), 0);
	expect_refused("n-west", LOOM_E_POLICY, "n-west is in site west, n-old in site east");
	expect_refused("n-a100", LOOM_E_POLICY, "n-a100 has 0 H100-SXM5-80GB GPUs, n-old has 4");
	expect_refused("n-slow", LOOM_E_POLICY,
		       "n-slow's HCA port mlx5_1/1 runs at 200 Gb/s, n-old's mlx5_1/1 at 400 Gb/s");
	expect_refused("n-rail", LOOM_E_POLICY, "n-rail has 0 NIC port(s) on rail rail1, n-old needs 1");
	expect_refused("n-busy", LOOM_E_STATE, "n-busy is 'assigned', not 'available'");
	expect_refused("n-few", LOOM_E_POLICY, "n-few has 2 GPUs, n-old has 4 (and 2 more reasons)");
	assert_int_equal(replace_check(topo, "n-old", "n-few", states, N_STATES, &why, NULL), -EINVAL);
	assert_int_equal(why.total, 3);
	{
		json_t *j = replace_why_to_json(&why);

		assert_int_equal(json_array_size(j), 3);
		assert_string_equal(json_string_value(json_array_get(j, 0)), why.reason[0]);
		json_decref(j);
	}
	assert_string_equal(why.reason[2], "n-few has no HCA port on SM sm-east rail rail1 for n-old's mlx5_1/1");
	/* A node missing from the states is not known to be available. */
	assert_int_equal(replace_check(topo, "n-old", "n-good", states, 1, &why, &err), -EINVAL);
	assert_string_equal(why.reason[0], "n-good is 'unknown', not 'available'");
	/* Unknown names, and a node replacing itself. */
	loom_err_clear(&err);
	assert_int_equal(replace_check(topo, "n-nope", "n-good", states, N_STATES, NULL, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_NOT_FOUND);
	assert_string_equal(err.field, "old");
	loom_err_clear(&err);
	assert_int_equal(replace_check(topo, "n-old", "n-nope", states, N_STATES, NULL, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_NOT_FOUND);
	loom_err_clear(&err);
	assert_int_equal(replace_check(topo, "n-old", "n-old", states, N_STATES, NULL, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_PARAMS);
}

static void test_pick(void **state)
{
	struct node_state_ref st[N_STATES];
	struct loom_err err = { 0 };
	char out[LOOM_NAME_MAX];

	/* n-good comes first by name, n-rack shares n-old's rack: n-rack wins. */
	assert_int_equal(replace_pick(topo, "n-old", states, N_STATES, out, sizeof(out), &err), 0);
	assert_string_equal(out, "n-rack");
	memcpy(st, states, sizeof(st));
	st[2].state = NODE_ASSIGNED;	/* n-rack taken */
	assert_int_equal(replace_pick(topo, "n-old", st, N_STATES, out, sizeof(out), &err), 0);
	assert_string_equal(out, "n-good");
	st[1].state = NODE_CORDONED;	/* n-good too: none left that fits */
	assert_int_equal(replace_pick(topo, "n-old", st, N_STATES, out, sizeof(out), &err), -ENOENT);
	assert_int_equal(err.code, LOOM_E_NOT_FOUND);
	assert_non_null(strstr(err.msg, "none of the 5 available node(s) is compatible with n-old; e.g. n-a100:"));
	for (size_t i = 1; i < N_STATES; i++)
		st[i].state = NODE_FAILED;
	loom_err_clear(&err);
	assert_int_equal(replace_pick(topo, "n-old", st, N_STATES, out, sizeof(out), &err), -ENOENT);
	assert_non_null(strstr(err.msg, "no available node to replace n-old"));
}

static void test_map_port(void **state)
{
	const struct topo_node *o = topology_node(topo, "n-old");
	const struct topo_node *n = topology_node(topo, "n-good");
	const struct topo_node *few = topology_node(topo, "n-few");
	char out[LOOM_NAME_MAX];

	assert_int_equal(replace_map_port(o, n, "eth0", out, sizeof(out)), 0);
	assert_string_equal(out, "ens2");	/* rail0 */
	assert_int_equal(replace_map_port(o, n, "eth1", out, sizeof(out)), 0);
	assert_string_equal(out, "ens1");	/* rail1 */
	assert_int_equal(replace_map_port(o, n, "mlx5_0/1", out, sizeof(out)), 0);
	assert_string_equal(out, "ib1");
	assert_int_equal(replace_map_port(o, n, "mlx5_1/1", out, sizeof(out)), 0);
	assert_string_equal(out, "ib0");
	assert_int_equal(replace_map_port(o, n, "", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(replace_map_port(o, n, "nope", out, sizeof(out)), -ENOENT);
	assert_int_equal(replace_map_port(o, few, "mlx5_1/1", out, sizeof(out)), -ENOENT);
}

static struct attachment att(const char *tenant, const char *seg, const char *node,
			     const char *port, enum membership m)
{
	struct attachment a;

	memset(&a, 0, sizeof(a));
	snprintf(a.tenant, sizeof(a.tenant), "%s", tenant);
	snprintf(a.segment, sizeof(a.segment), "%s", seg);
	snprintf(a.node, sizeof(a.node), "%s", node);
	snprintf(a.port, sizeof(a.port), "%s", port);
	a.membership = m;
	return a;
}

/*
 * Walk a plan keeping which tenant each (node, port) is in; "" (the whole
 * node) counts for every port.  No port may ever be in two tenants, NEW
 * gets nothing before OLD is verified out, and at the end NEW holds what
 * OLD held.
 */
struct member {
	char node[LOOM_NAME_MAX], port[LOOM_NAME_MAX], tenant[LOOM_NAME_MAX], seg[LOOM_NAME_MAX];
	bool live;
};

static void check_no_two_tenants(const struct member *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++) {
			if (!m[i].live || !m[j].live || strcmp(m[i].node, m[j].node))
				continue;
			if (m[i].port[0] && m[j].port[0] && strcmp(m[i].port, m[j].port))
				continue;
			assert_string_equal(m[i].tenant, m[j].tenant);
		}
}

static void test_plan(void **state)
{
	const struct attachment atts[] = {
		att("acme", "eth-a", "n-old", "", MEMBERSHIP_DEFAULT),
		att("acme", "ib-a", "n-old", "mlx5_1/1", MEMBERSHIP_FULL),
		att("acme", "eth-b", "n-old", "eth0", MEMBERSHIP_DEFAULT),
		att("other", "eth-x", "n-busy", "", MEMBERSHIP_DEFAULT),
	};
	static const char *const want[] = {
		"cordon n-old",
		"detach n-old (every port) from acme/eth-a",
		"detach n-old (mlx5_1/1) from acme/ib-a",
		"detach n-old (eth0) from acme/eth-b",
		"wait until every target verified n-old out of its tenant's segments",
		"assign n-good",
		"attach n-good (every port) to acme/eth-a",
		"attach n-good (ib0) to acme/ib-a",
		"attach n-good (ens2) to acme/eth-b",
		"wait until every target verified n-good in",
	};
	struct member m[16];
	size_t nm = 0;
	struct replace_plan plan;
	struct loom_err err = { 0 };
	bool old_out = false;

	/* The other tenant sits on the other node all along. */
	memset(m, 0, sizeof(m));
	for (size_t i = 0; i < 4; i++) {
		snprintf(m[nm].node, sizeof(m[nm].node), "%s", atts[i].node);
		snprintf(m[nm].port, sizeof(m[nm].port), "%s", atts[i].port);
		snprintf(m[nm].tenant, sizeof(m[nm].tenant), "%s", atts[i].tenant);
		snprintf(m[nm].seg, sizeof(m[nm].seg), "%s", atts[i].segment);
		m[nm++].live = true;
	}
	assert_int_equal(replace_plan_build(topo, "n-old", NODE_ASSIGNED, "n-good", atts, 4, &plan, &err), 0);
	assert_int_equal(plan.n_steps, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < plan.n_steps; i++) {
		const struct replace_step *s = &plan.steps[i];
		char buf[200];

		replace_step_describe(s, plan.old_node, plan.new_node, buf, sizeof(buf));
		assert_string_equal(buf, want[i]);
		switch (s->kind) {
		case RS_DETACH:
			for (size_t k = 0; k < nm; k++)
				if (m[k].live && !strcmp(m[k].node, s->att.node) &&
				    !strcmp(m[k].port, s->att.port) && !strcmp(m[k].seg, s->att.segment))
					m[k].live = false;
			break;
		case RS_VERIFY_REMOVED:
			for (size_t k = 0; k < nm; k++)
				assert_false(m[k].live && !strcmp(m[k].node, "n-old"));
			old_out = true;
			break;
		case RS_ASSIGN_NEW:
			assert_true(old_out);
			assert_string_equal(s->att.tenant, "acme");
			break;
		case RS_ATTACH:
			assert_true(old_out);
			assert_string_equal(s->att.node, "n-good");
			assert_true(nm < sizeof(m) / sizeof(m[0]));
			snprintf(m[nm].node, sizeof(m[nm].node), "%s", s->att.node);
			snprintf(m[nm].port, sizeof(m[nm].port), "%s", s->att.port);
			snprintf(m[nm].tenant, sizeof(m[nm].tenant), "%s", s->att.tenant);
			snprintf(m[nm].seg, sizeof(m[nm].seg), "%s", s->att.segment);
			m[nm++].live = true;
			break;
		case RS_CORDON_OLD:
		case RS_VERIFY_ATTACHED:
			break;
		}
		check_no_two_tenants(m, nm);
	}
	/* Memberships and segments carried over. */
	assert_int_equal(plan.steps[7].att.membership, MEMBERSHIP_FULL);
	{
		json_t *j = replace_plan_to_json(&plan);
		json_t *st = json_object_get(j, "steps");

		assert_string_equal(json_string_value(json_object_get(j, "new")), "n-good");
		assert_int_equal(json_array_size(st), plan.n_steps);
		assert_int_equal(json_integer_value(json_object_get(json_array_get(st, 7), "step")), 8);
		assert_string_equal(json_string_value(json_object_get(json_array_get(st, 7), "kind")), "attach");
		assert_string_equal(json_string_value(json_object_get(json_array_get(st, 7), "port")), "ib0");
		assert_string_equal(json_string_value(json_object_get(json_array_get(st, 7), "text")), want[7]);
		json_decref(j);
	}
	replace_plan_release(&plan);
	assert_null(plan.steps);

	/* A cordoned OLD needs no cordon; no attachments still verifies it out. */
	assert_int_equal(replace_plan_build(topo, "n-old", NODE_CORDONED, "n-good", atts + 3, 1, &plan, &err), 0);
	assert_int_equal(plan.n_steps, 3);
	assert_int_equal(plan.steps[0].kind, RS_VERIFY_REMOVED);
	assert_int_equal(plan.steps[1].kind, RS_ASSIGN_NEW);
	assert_int_equal(plan.steps[2].kind, RS_VERIFY_ATTACHED);
	replace_plan_release(&plan);

	/* A port without a counterpart stops the plan before it starts. */
	assert_int_equal(replace_plan_build(topo, "n-old", NODE_ASSIGNED, "n-few", atts, 4, &plan, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_POLICY);
	assert_string_equal(err.msg, "n-few has no port matching n-old's mlx5_1/1 (attached to acme/ib-a)");
	assert_null(plan.steps);
}

static void test_fault_event_check(void **state)
{
	struct fault_event ev;
	struct loom_err err = { 0 };

	memset(&ev, 0, sizeof(ev));
	ev.component = FAULT_TRANSCEIVER;
	ev.severity = FAULT_CRITICAL;
	snprintf(ev.node, sizeof(ev.node), "n-old");
	snprintf(ev.port, sizeof(ev.port), "mlx5_1/1");
	assert_int_equal(fault_event_check(&ev, topo, &err), 0);
	snprintf(ev.port, sizeof(ev.port), "eth9");
	assert_int_equal(fault_event_check(&ev, topo, &err), -EINVAL);
	assert_string_equal(err.field, "port");
	loom_err_clear(&err);
	snprintf(ev.node, sizeof(ev.node), "n-zzz");
	assert_int_equal(fault_event_check(&ev, topo, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_NOT_FOUND);
	assert_string_equal(err.field, "node");
	loom_err_clear(&err);
	ev.severity = (enum fault_severity)7;
	assert_int_equal(fault_event_check(&ev, topo, &err), -EINVAL);
	assert_string_equal(err.field, "severity");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_pick),
		cmocka_unit_test(test_map_port),
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_fault_event_check),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

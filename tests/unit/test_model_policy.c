/*
 * tests/unit/test_model_policy.c: every rule of the checked mutations, each
 * allowed case and each refused one, with the model compared before and
 * after every refusal (it must not change).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tenancy/model.h"
#include "tests/unit/test_model_fixture.h"

struct fx {
	struct model m;
	struct topology *topo;
	struct loom_err err;
};

#define FAIL(call, code, field, substr) FX_EXPECT_FAIL(&f->m, &f->err, call, code, field, substr)
#define OK(call)                                                                       \
	do {                                                                           \
		int rc_ = (call);                                                      \
		if (rc_)                                                               \
			fail_msg("%s: %s field \"%s\": %s", #call,                     \
				 loom_err_name(f->err.code), f->err.field, f->err.msg); \
	} while (0)
#define TENANT(json) fx_tenant(&f->m, f->topo, json, &f->err)
#define SEGMENT(t, json) fx_segment(&f->m, f->topo, t, json, &f->err)
#define ATTACH(json) fx_attach(&f->m, f->topo, json, &f->err)
#define DETACH(json) fx_detach(&f->m, json, &f->err)

/*
 * Tenants: soft-a and soft-b (soft, any site), strict-c (strict),
 * priv-d (private, east), west-only (soft, west).  Each has an ethernet
 * segment "eth" and an infiniband segment "ib".
 */
static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	static const char *const tenants[] = {
		"{\"name\":\"soft-a\"}",
		"{\"name\":\"soft-b\",\"isolation\":\"soft\"}",
		"{\"name\":\"strict-c\",\"isolation\":\"strict\"}",
		"{\"name\":\"priv-d\",\"isolation\":\"private\",\"sites\":[\"east\"]}",
		"{\"name\":\"west-only\",\"sites\":[\"west\"],\"labels\":{\"region\":\"w\"}}",
	};

	assert_non_null(f);
	f->topo = fx_topology();
	fx_model_init(&f->m);
	for (size_t i = 0; i < sizeof(tenants) / sizeof(tenants[0]); i++) {
		json_error_t je;
		json_t *j = json_loads(tenants[i], 0, &je);
		const char *name = json_string_value(json_object_get(j, "name"));

		OK(TENANT(tenants[i]));
		OK(SEGMENT(name, "{\"name\":\"eth\",\"type\":\"ethernet\"}"));
		OK(SEGMENT(name, "{\"name\":\"ib\",\"type\":\"infiniband\"}"));
		json_decref(j);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	model_clear(&f->m);
	topology_free(&f->topo);
	free(f);
	return 0;
}

static void test_tenant_rules(void **state)
{
	struct fx *f = *state;
	struct tenant t;

	FAIL(TENANT("{\"name\":\"soft-a\"}"), LOOM_E_EXISTS, "name", "soft-a");
	FAIL(TENANT("{\"name\":\"new\",\"sites\":[\"east\",\"mars\"]}"), LOOM_E_NOT_FOUND, "sites", "mars");
	OK(TENANT("{\"name\":\"new\",\"sites\":[\"east\"]}"));
	assert_non_null(model_tenant(&f->m, "new"));

	/* A struct built by hand is checked too. */
	memset(&t, 0, sizeof(t));
	strcpy(t.name, "Bad");
	loom_err_clear(&f->err);
	FAIL(model_tenant_add(&f->m, f->topo, &t, &f->err), LOOM_E_PARAMS, "name", NULL);

	/* Update: isolation is immutable; sites and labels may change. */
	memset(&t, 0, sizeof(t));
	strcpy(t.name, "strict-c");
	t.isolation = ISOLATION_SOFT;
	loom_err_clear(&f->err);
	FAIL(model_tenant_update(&f->m, f->topo, &t, &f->err), LOOM_E_IMMUTABLE, "isolation", "strict");
	strcpy(t.name, "nobody");
	loom_err_clear(&f->err);
	FAIL(model_tenant_update(&f->m, f->topo, &t, &f->err), LOOM_E_NOT_FOUND, "name", NULL);

	strcpy(t.name, "soft-a");
	t.n_sites = 1;
	strcpy(t.sites[0], "mars");
	loom_err_clear(&f->err);
	FAIL(model_tenant_update(&f->m, f->topo, &t, &f->err), LOOM_E_NOT_FOUND, "sites", "mars");

	/* Attached in east: east cannot be dropped, west can be added. */
	OK(ATTACH("{\"segment\":\"soft-a/eth\",\"node\":\"gpu-e1\",\"port\":\"eth0\"}"));
	strcpy(t.sites[0], "west");
	loom_err_clear(&f->err);
	FAIL(model_tenant_update(&f->m, f->topo, &t, &f->err), LOOM_E_POLICY, "sites", "gpu-e1");
	t.n_sites = 2;
	strcpy(t.sites[0], "east");
	strcpy(t.sites[1], "west");
	t.labels = json_pack("{ss}", "team", "ml");
	loom_err_clear(&f->err);
	OK(model_tenant_update(&f->m, f->topo, &t, &f->err));
	json_decref(t.labels);
	assert_int_equal(model_tenant(&f->m, "soft-a")->n_sites, 2);
	assert_string_equal(json_string_value(json_object_get(model_tenant(&f->m, "soft-a")->labels, "team")), "ml");

	/* Delete: refused while segments exist, naming them. */
	loom_err_clear(&f->err);
	FAIL(model_tenant_del(&f->m, "soft-b", &f->err), LOOM_E_IN_USE, "name", "soft-b/eth, soft-b/ib");
	loom_err_clear(&f->err);
	FAIL(model_tenant_del(&f->m, "nobody", &f->err), LOOM_E_NOT_FOUND, "name", NULL);
	loom_err_clear(&f->err);
	OK(model_tenant_del(&f->m, "new", &f->err));
	assert_null(model_tenant(&f->m, "new"));
}

static void test_segment_rules(void **state)
{
	struct fx *f = *state;
	struct segment s;

	FAIL(SEGMENT("nobody", "{\"name\":\"x\",\"type\":\"ethernet\"}"), LOOM_E_NOT_FOUND, "tenant", "nobody");
	FAIL(SEGMENT("soft-a", "{\"name\":\"eth\",\"type\":\"infiniband\"}"), LOOM_E_EXISTS, "name", "soft-a/eth");
	/* A hand-built struct is range-checked like a parsed one. */
	memset(&s, 0, sizeof(s));
	strcpy(s.tenant, "soft-a");
	strcpy(s.name, "big");
	s.type = SEG_ETHERNET;
	s.mtu = 20000;
	loom_err_clear(&f->err);
	FAIL(model_segment_add(&f->m, f->topo, &s, &f->err), LOOM_E_RANGE, "mtu", NULL);
	s.type = SEG_INFINIBAND;
	s.sl = 16;
	loom_err_clear(&f->err);
	FAIL(model_segment_add(&f->m, f->topo, &s, &f->err), LOOM_E_RANGE, "sl", NULL);

	OK(ATTACH("{\"segment\":\"soft-a/ib\",\"node\":\"gpu-e1\"}"));
	loom_err_clear(&f->err);
	FAIL(model_segment_del(&f->m, "soft-a", "ib", &f->err), LOOM_E_IN_USE, "name", "gpu-e1");
	loom_err_clear(&f->err);
	FAIL(model_segment_del(&f->m, "soft-a", "nope", &f->err), LOOM_E_NOT_FOUND, "name", NULL);
	OK(DETACH("{\"segment\":\"soft-a/ib\",\"node\":\"gpu-e1\"}"));
	loom_err_clear(&f->err);
	OK(model_segment_del(&f->m, "soft-a", "ib", &f->err));
	assert_null(model_segment(&f->m, "soft-a", "ib"));
}

static void test_attach_references(void **state)
{
	struct fx *f = *state;

	FAIL(ATTACH("{\"segment\":\"soft-a/nope\",\"node\":\"gpu-e1\"}"), LOOM_E_NOT_FOUND, "segment", "soft-a/nope");
	FAIL(ATTACH("{\"segment\":\"nobody/eth\",\"node\":\"gpu-e1\"}"), LOOM_E_NOT_FOUND, "segment", NULL);
	FAIL(ATTACH("{\"segment\":\"soft-a/eth\",\"node\":\"gpu-x9\"}"), LOOM_E_NOT_FOUND, "node", "gpu-x9");
	FAIL(ATTACH("{\"segment\":\"soft-a/eth\",\"node\":\"gpu-e1\",\"port\":\"eth7\"}"), LOOM_E_NOT_FOUND, "port", "eth7");
	/* The port must be of the segment's kind. */
	FAIL(ATTACH("{\"segment\":\"soft-a/eth\",\"node\":\"gpu-e1\",\"port\":\"mlx5_0/1\"}"), LOOM_E_PARAMS, "port", "HCA");
	FAIL(ATTACH("{\"segment\":\"soft-a/ib\",\"node\":\"gpu-e1\",\"port\":\"eth0\"}"), LOOM_E_PARAMS, "port", "NIC");
	/* A port-less attachment needs at least one port of that kind. */
	FAIL(ATTACH("{\"segment\":\"soft-a/ib\",\"node\":\"cpu-e4\"}"), LOOM_E_PARAMS, "node", "no HCA port");
	FAIL(ATTACH("{\"segment\":\"soft-a/eth\",\"node\":\"gpu-e1\",\"membership\":\"limited\"}"), LOOM_E_PARAMS, "membership", NULL);
	OK(ATTACH("{\"segment\":\"soft-a/eth\",\"node\":\"cpu-e4\"}"));
	OK(ATTACH("{\"segment\":\"soft-a/ib\",\"node\":\"gpu-e1\",\"port\":\"mlx5_0/1\",\"membership\":\"limited\"}"));

	/* Duplicates and overlaps inside one segment. */
	FAIL(ATTACH("{\"segment\":\"soft-a/eth\",\"node\":\"cpu-e4\"}"), LOOM_E_EXISTS, "node", NULL);
	FAIL(ATTACH("{\"segment\":\"soft-a/eth\",\"node\":\"cpu-e4\",\"port\":\"eth0\"}"), LOOM_E_EXISTS, "port", "every port");
	FAIL(ATTACH("{\"segment\":\"soft-a/ib\",\"node\":\"gpu-e1\",\"port\":\"mlx5_0/1\"}"), LOOM_E_EXISTS, "port", NULL);
	FAIL(ATTACH("{\"segment\":\"soft-a/ib\",\"node\":\"gpu-e1\"}"), LOOM_E_EXISTS, "node", "mlx5_0/1");
	OK(ATTACH("{\"segment\":\"soft-a/ib\",\"node\":\"gpu-e1\",\"port\":\"mlx5_1/1\"}"));

	/* Detach: exact match only. */
	FAIL(DETACH("{\"segment\":\"soft-a/ib\",\"node\":\"gpu-e1\"}"), LOOM_E_NOT_FOUND, "node", NULL);
	FAIL(DETACH("{\"segment\":\"soft-a/ib\",\"node\":\"gpu-e2\",\"port\":\"mlx5_1/1\"}"), LOOM_E_NOT_FOUND, "port", NULL);
	OK(DETACH("{\"segment\":\"soft-a/ib\",\"node\":\"gpu-e1\",\"port\":\"mlx5_1/1\"}"));
	assert_int_equal(f->m.n_attachments, 2);
}

static void test_residency(void **state)
{
	struct fx *f = *state;

	FAIL(ATTACH("{\"segment\":\"west-only/eth\",\"node\":\"gpu-e1\"}"), LOOM_E_POLICY, "node", "data residency");
	FAIL(ATTACH("{\"segment\":\"priv-d/ib\",\"node\":\"gpu-w1\"}"), LOOM_E_POLICY, "node", "site west");
	OK(ATTACH("{\"segment\":\"west-only/eth\",\"node\":\"gpu-w1\"}"));
	OK(ATTACH("{\"segment\":\"soft-a/eth\",\"node\":\"gpu-e1\",\"port\":\"eth0\"}"));	/* any site */
}

static void test_dedicated_nodes(void **state)
{
	struct fx *f = *state;

	/* Soft tenants share a node on different ports ... */
	OK(ATTACH("{\"segment\":\"soft-a/eth\",\"node\":\"gpu-e1\",\"port\":\"eth0\"}"));
	OK(ATTACH("{\"segment\":\"soft-b/eth\",\"node\":\"gpu-e1\",\"port\":\"eth1\"}"));
	OK(ATTACH("{\"segment\":\"soft-b/ib\",\"node\":\"gpu-e1\",\"port\":\"mlx5_0/1\"}"));
	/* ... but never one port. */
	FAIL(ATTACH("{\"segment\":\"soft-a/ib\",\"node\":\"gpu-e1\",\"port\":\"mlx5_0/1\"}"), LOOM_E_POLICY, "port", "soft-b");
	FAIL(ATTACH("{\"segment\":\"soft-a/ib\",\"node\":\"gpu-e1\"}"), LOOM_E_POLICY, "node", "two tenants");
	FAIL(ATTACH("{\"segment\":\"soft-a/eth\",\"node\":\"gpu-e1\",\"port\":\"eth1\"}"), LOOM_E_POLICY, "port", "soft-b");

	/* A strict tenant cannot take a node another tenant uses ... */
	FAIL(ATTACH("{\"segment\":\"strict-c/eth\",\"node\":\"gpu-e1\"}"), LOOM_E_POLICY, "node", "dedicated");
	FAIL(ATTACH("{\"segment\":\"strict-c/ib\",\"node\":\"gpu-e1\",\"port\":\"mlx5_1/1\"}"), LOOM_E_POLICY, "node", "soft-");
	/* ... and nobody joins a strict tenant's node, even on a free port. */
	OK(ATTACH("{\"segment\":\"strict-c/eth\",\"node\":\"gpu-e2\",\"port\":\"eth0\"}"));
	OK(ATTACH("{\"segment\":\"strict-c/ib\",\"node\":\"gpu-e2\"}"));	/* its own node: fine */
	FAIL(ATTACH("{\"segment\":\"soft-a/eth\",\"node\":\"gpu-e2\",\"port\":\"eth1\"}"), LOOM_E_POLICY, "node", "strict tenant strict-c");
	FAIL(ATTACH("{\"segment\":\"priv-d/ib\",\"node\":\"gpu-e2\",\"port\":\"mlx5_1/1\"}"), LOOM_E_POLICY, "node", "strict-c");
}

static void test_one_bridge(void **state)
{
	struct fx *f = *state;

	OK(SEGMENT("soft-a", "{\"name\":\"eth2\",\"type\":\"ethernet\"}"));
	OK(SEGMENT("soft-a", "{\"name\":\"ib2\",\"type\":\"infiniband\"}"));
	OK(ATTACH("{\"segment\":\"soft-a/eth\",\"node\":\"gpu-e1\",\"port\":\"eth0\"}"));
	/* One access port, one bridge: even within a tenant. */
	FAIL(ATTACH("{\"segment\":\"soft-a/eth2\",\"node\":\"gpu-e1\",\"port\":\"eth0\"}"), LOOM_E_POLICY, "port", "one bridge");
	FAIL(ATTACH("{\"segment\":\"soft-a/eth2\",\"node\":\"gpu-e1\"}"), LOOM_E_POLICY, "node", "soft-a/eth");
	OK(ATTACH("{\"segment\":\"soft-a/eth2\",\"node\":\"gpu-e1\",\"port\":\"eth1\"}"));
	/* An HCA port may be in several of its tenant's partitions. */
	OK(ATTACH("{\"segment\":\"soft-a/ib\",\"node\":\"gpu-e1\"}"));
	OK(ATTACH("{\"segment\":\"soft-a/ib2\",\"node\":\"gpu-e1\",\"port\":\"mlx5_0/1\"}"));
}

/* The VLAN a segment has on a node's port (model_attach resolved it). */
static int vlan_of(const struct model *m, const char *tenant, const char *seg, const char *node)
{
	for (size_t i = 0; i < m->n_attachments; i++) {
		const struct attachment *a = &m->attachments[i];

		if (!strcmp(a->tenant, tenant) && !strcmp(a->segment, seg) && !strcmp(a->node, node))
			return a->vlan;
	}
	return -1;
}

static void test_vlan_share(void **state)
{
	struct fx *f = *state;
	struct loom_err perr;
	struct attachment a;
	json_t *j;

	OK(SEGMENT("soft-a", "{\"name\":\"eth2\",\"type\":\"ethernet\"}"));
	/* Two soft tenants share eth0 of gpu-e1, each on its VLAN ... */
	OK(ATTACH("{\"segment\":\"soft-a/eth\",\"node\":\"gpu-e1\",\"port\":\"eth0\",\"vlan\":\"auto\"}"));
	OK(ATTACH("{\"segment\":\"soft-b/eth\",\"node\":\"gpu-e1\",\"port\":\"eth0\",\"vlan\":\"auto\"}"));
	assert_int_equal(vlan_of(&f->m, "soft-a", "eth", "gpu-e1"), 2);
	assert_int_equal(vlan_of(&f->m, "soft-b", "eth", "gpu-e1"), 3);
	/* ... and a second segment of one of them, on a VLAN it names. */
	OK(ATTACH("{\"segment\":\"soft-a/eth2\",\"node\":\"gpu-e1\",\"port\":\"eth0\",\"vlan\":100}"));
	/* A VLAN in use on the port: refused, naming the segment that has it. */
	OK(SEGMENT("soft-b", "{\"name\":\"eth3\",\"type\":\"ethernet\"}"));
	FAIL(ATTACH("{\"segment\":\"soft-b/eth3\",\"node\":\"gpu-e1\",\"port\":\"eth0\",\"vlan\":100}"),
	     LOOM_E_CONFLICT, "vlan", "VLAN 100 on NIC port eth0 of node gpu-e1 is taken by segment soft-a/eth2");
	/* auto skips every VLAN taken on the port. */
	OK(ATTACH("{\"segment\":\"soft-b/eth3\",\"node\":\"gpu-e1\",\"port\":\"eth0\",\"vlan\":\"auto\"}"));
	assert_int_equal(vlan_of(&f->m, "soft-b", "eth3", "gpu-e1"), 4);
	/* The same VLAN on another port is another VLAN. */
	OK(SEGMENT("soft-a", "{\"name\":\"eth4\",\"type\":\"ethernet\"}"));
	OK(ATTACH("{\"segment\":\"soft-a/eth4\",\"node\":\"gpu-e1\",\"port\":\"eth1\",\"vlan\":100}"));
	/* A whole-port attachment cannot join a shared port, nor the reverse. */
	OK(SEGMENT("soft-b", "{\"name\":\"eth5\",\"type\":\"ethernet\"}"));
	FAIL(ATTACH("{\"segment\":\"soft-b/eth5\",\"node\":\"gpu-e1\",\"port\":\"eth0\"}"),
	     LOOM_E_POLICY, "port", "tagged segments (\"vlan\") only");
	OK(ATTACH("{\"segment\":\"soft-b/eth5\",\"node\":\"gpu-e3\",\"port\":\"eth0\"}"));
	FAIL(ATTACH("{\"segment\":\"soft-a/eth4\",\"node\":\"gpu-e3\",\"port\":\"eth0\",\"vlan\":7}"),
	     LOOM_E_POLICY, "vlan", "untagged (the whole port)");
	/* Strict and private tenants get whole ports; VLANs are ethernet's. */
	FAIL(ATTACH("{\"segment\":\"strict-c/eth\",\"node\":\"gpu-e2\",\"vlan\":5}"),
	     LOOM_E_POLICY, "vlan", "strict tenant strict-c gets whole ports");
	FAIL(ATTACH("{\"segment\":\"priv-d/eth\",\"node\":\"gpu-e3\",\"vlan\":\"auto\"}"),
	     LOOM_E_POLICY, "vlan", "private tenant priv-d gets whole ports");
	FAIL(ATTACH("{\"segment\":\"soft-a/ib\",\"node\":\"gpu-e1\",\"vlan\":5}"),
	     LOOM_E_PARAMS, "vlan", "ethernet segments");
	/* Bad values never reach the model. */
	static const char *const bad[] = { "0", "4095", "-1", "\"x\"", "1.5", "true" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char js[160];

		snprintf(js, sizeof(js), "{\"segment\":\"soft-a/eth\",\"node\":\"gpu-e1\",\"vlan\":%s}", bad[i]);
		j = json_loads(js, 0, NULL);
		assert_non_null(j);
		loom_err_clear(&perr);
		assert_int_not_equal(attachment_from_json(j, &a, &perr), 0);
		assert_int_equal(perr.code, LOOM_E_PARAMS);
		assert_string_equal(perr.field, "vlan");
		json_decref(j);
	}
	/* The VLAN goes out in the attachment's JSON, and only when set. */
	j = attachment_to_json(&f->m.attachments[0]);
	assert_non_null(j);
	assert_true(json_integer_value(json_object_get(j, "vlan")) >= 2 ||
		    json_object_get(j, "vlan") == NULL);
	json_decref(j);
}

/* Every VLAN of a port taken: "auto" says so and changes nothing. */
static void test_vlan_exhausted(void **state)
{
	struct fx *f = *state;
	char js[200];

	f->m.pools.vni_max = 30000;	/* room for a segment per VLAN */
	for (int v = LOOM_VLAN_AUTO_MIN; v <= LOOM_VLAN_MAX; v++) {
		snprintf(js, sizeof(js), "{\"name\":\"v%d\",\"type\":\"ethernet\",\"vni\":%d}", v, 20000 + v);
		OK(SEGMENT("soft-a", js));
		snprintf(js, sizeof(js),
			 "{\"segment\":\"soft-a/v%d\",\"node\":\"gpu-e1\",\"port\":\"eth0\",\"vlan\":%d}", v, v);
		OK(ATTACH(js));
	}
	FAIL(ATTACH("{\"segment\":\"soft-b/eth\",\"node\":\"gpu-e1\",\"port\":\"eth0\",\"vlan\":\"auto\"}"),
	     LOOM_E_EXHAUSTED, "vlan", "no VLAN left on NIC port eth0 of node gpu-e1");
	/* VLAN 1 is not handed out by auto, but may be asked for. */
	OK(ATTACH("{\"segment\":\"soft-b/eth\",\"node\":\"gpu-e1\",\"port\":\"eth0\",\"vlan\":1}"));
}

static void test_private_targets(void **state)
{
	struct fx *f = *state;

	/* priv-d on gpu-e3: VTEP vtep-e2, SM sm-east. */
	OK(ATTACH("{\"segment\":\"priv-d/eth\",\"node\":\"gpu-e3\"}"));
	/* Another tenant may not reach vtep-e2 from a different node ... */
	FAIL(ATTACH("{\"segment\":\"soft-a/eth\",\"node\":\"gpu-e1\",\"port\":\"eth1\"}"), LOOM_E_POLICY, "port", "VTEP vtep-e2");
	FAIL(ATTACH("{\"segment\":\"soft-a/eth\",\"node\":\"gpu-e2\"}"), LOOM_E_POLICY, "node", "priv-d");
	/* ... but vtep-e1 is free. */
	OK(ATTACH("{\"segment\":\"soft-a/eth\",\"node\":\"gpu-e1\",\"port\":\"eth0\"}"));
	/* And the private tenant may not reach vtep-e1 now that soft-a uses it. */
	FAIL(ATTACH("{\"segment\":\"priv-d/eth\",\"node\":\"cpu-e4\"}"), LOOM_E_POLICY, "node", "VTEP vtep-e1");
	/* Subnet managers likewise. */
	OK(ATTACH("{\"segment\":\"soft-b/ib\",\"node\":\"gpu-e2\"}"));
	FAIL(ATTACH("{\"segment\":\"priv-d/ib\",\"node\":\"gpu-e3\"}"), LOOM_E_POLICY, "node", "subnet manager sm-east");
	/* Ethernet use of a VTEP says nothing about the SM and the reverse. */
	OK(ATTACH("{\"segment\":\"soft-b/eth\",\"node\":\"gpu-w1\"}"));
	OK(DETACH("{\"segment\":\"soft-b/ib\",\"node\":\"gpu-e2\"}"));
	OK(ATTACH("{\"segment\":\"priv-d/ib\",\"node\":\"gpu-e3\"}"));
	FAIL(ATTACH("{\"segment\":\"soft-b/ib\",\"node\":\"gpu-e2\",\"port\":\"mlx5_1/1\"}"), LOOM_E_POLICY, "port", "sm-east");
}

static void test_check_topology(void **state)
{
	struct fx *f = *state;
	struct topo_nic_port *p;
	struct topo_node *n;

	OK(ATTACH("{\"segment\":\"priv-d/eth\",\"node\":\"gpu-e3\"}"));
	OK(ATTACH("{\"segment\":\"soft-a/eth\",\"node\":\"gpu-e1\",\"port\":\"eth0\"}"));
	OK(ATTACH("{\"segment\":\"west-only/ib\",\"node\":\"gpu-w1\"}"));
	loom_err_clear(&f->err);
	OK(model_check_topology(&f->m, f->topo, &f->err));

	/* Re-cabled: gpu-e1 eth0 now lands on the private tenant's VTEP. */
	n = (struct topo_node *)topology_node(f->topo, "gpu-e1");
	p = &n->nic_ports[0];
	strcpy(p->vtep, "vtep-e2");
	loom_err_clear(&f->err);
	FAIL(model_check_topology(&f->m, f->topo, &f->err), LOOM_E_POLICY, "attachments[1].port", "vtep-e2");
	strcpy(p->vtep, "vtep-e1");

	/* A node moved out of its tenant's sites. */
	n = (struct topo_node *)topology_node(f->topo, "gpu-w1");
	strcpy(n->site, "east");
	loom_err_clear(&f->err);
	FAIL(model_check_topology(&f->m, f->topo, &f->err), LOOM_E_POLICY, "attachments[2].node", "residency");
	strcpy(n->site, "west");

	/* A port that is gone. */
	strcpy(n->hca_ports[0].name, "mlx5_9/1");
	loom_err_clear(&f->err);
	OK(model_check_topology(&f->m, f->topo, &f->err));	/* port-less: any port will do */
	n = (struct topo_node *)topology_node(f->topo, "gpu-e1");
	strcpy(n->nic_ports[0].name, "eth9");
	loom_err_clear(&f->err);
	FAIL(model_check_topology(&f->m, f->topo, &f->err), LOOM_E_NOT_FOUND, "attachments[1].port", "eth0");
	strcpy(n->nic_ports[0].name, "eth0");

	/* A site a tenant allows is gone. */
	strcpy(f->topo->sites[1].name, "wost");
	loom_err_clear(&f->err);
	FAIL(model_check_topology(&f->m, f->topo, &f->err), LOOM_E_IN_USE, "tenants[4].sites[0]", "west");
}

/*
 * Routed segments follow the layer-2 rules: two soft tenants' routed
 * segments with the same subnet share a port through VLANs (their VRFs
 * keep them apart), a whole-port routed attachment cannot join a shared
 * port, strict tenants get whole ports, and a private tenant's routed
 * segment keeps its VTEP to itself.  Each refusal names its field and
 * leaves the model as it was.
 */
static void test_routed_policy(void **state)
{
	struct fx *f = *state;
	static const char *const routed =
		"{\"name\":\"r\",\"type\":\"ethernet\",\"subnet\":\"192.0.2.0/25\",\"gateway\":\"192.0.2.1\"}";
	static const char *const routed2 =
		"{\"name\":\"r2\",\"type\":\"ethernet\",\"subnet\":\"192.0.2.128/25\","
		"\"gateway\":\"192.0.2.129\"}";

	f->m.pools.l3vni_max = 20009;	/* an L3 VNI for each of the four tenants */
	OK(SEGMENT("soft-a", routed));
	OK(SEGMENT("soft-b", routed));
	OK(SEGMENT("soft-b", routed2));
	OK(SEGMENT("strict-c", routed));
	OK(SEGMENT("priv-d", routed));
	OK(ATTACH("{\"segment\":\"soft-a/r\",\"node\":\"gpu-e1\",\"port\":\"eth0\",\"vlan\":\"auto\"}"));
	OK(ATTACH("{\"segment\":\"soft-b/r\",\"node\":\"gpu-e1\",\"port\":\"eth0\",\"vlan\":\"auto\"}"));
	assert_true(model_tenant(&f->m, "soft-a")->l3vni != 0);
	assert_true(model_tenant(&f->m, "soft-b")->l3vni != 0);
	assert_int_not_equal(model_tenant(&f->m, "soft-a")->l3vni, model_tenant(&f->m, "soft-b")->l3vni);
	FAIL(ATTACH("{\"segment\":\"soft-b/r2\",\"node\":\"gpu-e1\",\"port\":\"eth0\"}"),
	     LOOM_E_POLICY, "port", "tagged segments (\"vlan\") only");
	FAIL(ATTACH("{\"segment\":\"strict-c/r\",\"node\":\"gpu-e2\",\"vlan\":5}"),
	     LOOM_E_POLICY, "vlan", "strict tenant strict-c gets whole ports");
	FAIL(ATTACH("{\"segment\":\"priv-d/r\",\"node\":\"gpu-e3\",\"vlan\":\"auto\"}"),
	     LOOM_E_POLICY, "vlan", "private tenant priv-d gets whole ports");
	/* priv-d's routed segment on gpu-e3 takes vtep-e2 for itself. */
	OK(ATTACH("{\"segment\":\"priv-d/r\",\"node\":\"gpu-e3\"}"));
	FAIL(ATTACH("{\"segment\":\"soft-b/r2\",\"node\":\"gpu-e2\",\"port\":\"eth1\",\"vlan\":\"auto\"}"),
	     LOOM_E_POLICY, "port", "VTEP vtep-e2");
	/* ... and vtep-e1 stays out of its reach while the soft tenants use it. */
	FAIL(ATTACH("{\"segment\":\"priv-d/r\",\"node\":\"cpu-e4\"}"), LOOM_E_POLICY, "node", "VTEP vtep-e1");
	OK(ATTACH("{\"segment\":\"soft-b/r2\",\"node\":\"gpu-e2\",\"port\":\"eth0\"}"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tenant_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_segment_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_references, setup, teardown),
		cmocka_unit_test_setup_teardown(test_residency, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dedicated_nodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_bridge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vlan_share, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vlan_exhausted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_private_targets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_routed_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_topology, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

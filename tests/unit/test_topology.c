/*
 * tests/unit/test_topology.c: the topology loader (every validation rule,
 * one bad document each, checked for the exact code and JSON path), the
 * JSON round trip, lookups, GUID forms, and the ibnetdiscover importer
 * against captures taken from ibsim + OpenSM (tests/golden/topology/).
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
#include <jansson.h>

#include "lib/err.h"
#include "topology/ibnetdiscover.h"
#include "topology/topology.h"

static const char *srcdir(void)
{
	const char *d = getenv("top_srcdir");

	return d && *d ? d : ".";
}

static void src_path(char *buf, size_t size, const char *rel)
{
	snprintf(buf, size, "%s/%s", srcdir(), rel);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long len;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	assert_true(len >= 0);
	rewind(f);
	buf = malloc((size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

/* ---- the sample ------------------------------------------------------- */

static void test_sample_loads(void **state)
{
	struct loom_err err = { 0 };
	struct topology *t = NULL;
	char path[512];

	(void)state;
	src_path(path, sizeof(path), "etc/topology.sample.json");
	assert_int_equal(topology_load_file(path, &t, &err), 0);
	assert_int_equal(err.code, LOOM_OK);
	assert_non_null(t);
	assert_int_equal(t->n_sites, 2);
	assert_int_equal(t->n_racks, 3);
	assert_int_equal(t->n_vteps, 4);
	assert_int_equal(t->n_sms, 2);
	assert_int_equal(t->n_nodes, 8);
	/* 3 VTEPs at east, 1 at west, as the README's sample run expects. */
	size_t east = 0;
	for (size_t i = 0; i < t->n_vteps; i++)
		east += !strcmp(t->vteps[i].site, "east");
	assert_int_equal(east, 3);
	/* Everything sorted by name (nodes: cpu-w1 was listed last). */
	assert_string_equal(t->nodes[0].name, "cpu-w1");
	for (size_t i = 1; i < t->n_nodes; i++)
		assert_true(strcmp(t->nodes[i - 1].name, t->nodes[i].name) < 0);
	for (size_t i = 1; i < t->n_vteps; i++)
		assert_true(strcmp(t->vteps[i - 1].name, t->vteps[i].name) < 0);
	topology_free(&t);
	assert_null(t);
}

static void test_round_trip(void **state)
{
	struct loom_err err = { 0 };
	struct topology *a = NULL, *b = NULL;
	json_t *ja, *jb;
	char path[512];

	(void)state;
	src_path(path, sizeof(path), "etc/topology.sample.json");
	assert_int_equal(topology_load_file(path, &a, &err), 0);
	ja = topology_to_json(a);
	assert_non_null(ja);
	assert_int_equal(topology_load_json(ja, &b, &err), 0);
	jb = topology_to_json(b);
	assert_non_null(jb);
	assert_true(json_equal(ja, jb));

	/* Field by field, not only through the JSON writer. */
	assert_int_equal(a->n_nodes, b->n_nodes);
	assert_memory_equal(a->sites, b->sites, a->n_sites * sizeof(*a->sites));
	assert_memory_equal(a->racks, b->racks, a->n_racks * sizeof(*a->racks));
	assert_memory_equal(a->vteps, b->vteps, a->n_vteps * sizeof(*a->vteps));
	assert_memory_equal(a->sms, b->sms, a->n_sms * sizeof(*a->sms));
	for (size_t i = 0; i < a->n_nodes; i++) {
		const struct topo_node *x = &a->nodes[i], *y = &b->nodes[i];

		assert_string_equal(x->name, y->name);
		assert_string_equal(x->site, y->site);
		assert_string_equal(x->rack, y->rack);
		assert_int_equal(x->n_nic_ports, y->n_nic_ports);
		assert_int_equal(x->n_hca_ports, y->n_hca_ports);
		assert_int_equal(x->n_gpus, y->n_gpus);
		if (x->n_nic_ports)
			assert_memory_equal(x->nic_ports, y->nic_ports, x->n_nic_ports * sizeof(*x->nic_ports));
		if (x->n_hca_ports)
			assert_memory_equal(x->hca_ports, y->hca_ports, x->n_hca_ports * sizeof(*x->hca_ports));
		if (x->n_gpus)
			assert_memory_equal(x->gpus, y->gpus, x->n_gpus * sizeof(*x->gpus));
	}

	/* The node writer gives the same object the whole-topology writer does. */
	json_t *n0 = topo_node_to_json(&a->nodes[3]);
	assert_true(json_equal(n0, json_array_get(json_object_get(ja, "nodes"), 3)));
	json_decref(n0);

	json_decref(ja);
	json_decref(jb);
	topology_free(&a);
	topology_free(&b);
}

static void test_lookups(void **state)
{
	struct loom_err err = { 0 };
	struct topology *t = NULL;
	const struct topo_node *n;
	const struct topo_nic_port *nic;
	const struct topo_hca_port *hca;
	const struct topo_vtep *v;
	const struct topo_sm *sm;
	char path[512];

	(void)state;
	src_path(path, sizeof(path), "etc/topology.sample.json");
	assert_int_equal(topology_load_file(path, &t, &err), 0);

	assert_non_null(topology_site(t, "west"));
	assert_null(topology_site(t, "north"));
	v = topology_vtep(t, "vtep-e3");
	assert_non_null(v);
	assert_string_equal(v->vtep_ip, "192.0.2.13");
	assert_int_equal(v->asn, 65013);
	assert_int_equal(v->mode, VTEP_MODE_TRADITIONAL);
	assert_int_equal(topology_vtep(t, "vtep-e1")->mode, VTEP_MODE_AUTO);
	assert_null(topology_vtep(t, "vtep-x"));
	sm = topology_sm(t, "sm-east");
	assert_non_null(sm);
	assert_string_equal(sm->umad_ca, "mlx5_0");
	assert_int_equal(sm->umad_port, 1);
	assert_int_equal(topology_sm(t, "sm-west")->umad_port, 0);
	assert_string_equal(topology_sm(t, "sm-west")->umad_ca, "");
	assert_null(topology_sm(t, "sm-north"));

	n = topology_node(t, "gpu-e2");
	assert_non_null(n);
	assert_string_equal(n->site, "east");
	assert_string_equal(n->rack, "east-r01");
	nic = topo_node_nic_port(n, "eth1");
	assert_non_null(nic);
	assert_string_equal(nic->vtep, "vtep-e2");
	assert_string_equal(nic->access_port, "swp2");
	assert_string_equal(nic->mac, "0c:42:a1:e0:02:01");
	assert_string_equal(nic->rail, "rail1");
	hca = topo_node_hca_port(n, "mlx5_1/1");
	assert_non_null(hca);
	assert_int_equal(hca->guid, 0x0002c90300b00041ULL);
	assert_int_equal(hca->rate_gbps, 200);
	assert_string_equal(hca->sm, "sm-east");
	assert_null(topo_node_nic_port(n, "eth9"));
	assert_null(topo_node_hca_port(n, "mlx5_9/1"));
	assert_int_equal(n->n_gpus, 4);
	for (size_t i = 0; i < n->n_gpus; i++)
		assert_int_equal(n->gpus[i].index, i);
	assert_string_equal(n->gpus[3].hca_port, "mlx5_1/1");
	assert_true(n->gpus[0].mig_capable);

	n = topology_node(t, "gpu-e5");
	assert_int_equal(n->hca_ports[0].lid, 13);
	assert_false(n->gpus[0].mig_capable);
	n = topology_node(t, "cpu-w1");
	assert_non_null(n);
	assert_string_equal(n->rack, "");
	assert_int_equal(n->n_hca_ports, 0);
	assert_null(n->hca_ports);
	assert_null(topo_node_hca_port(n, "mlx5_0/1"));
	assert_null(topology_node(t, "gpu-e99"));
	topology_free(&t);
}

static void test_guid_forms(void **state)
{
	uint64_t g = 0;
	char buf[19];

	(void)state;
	assert_int_equal(guid_parse("0x0002c90300000001", &g), 0);
	assert_int_equal(g, 0x0002c90300000001ULL);
	assert_int_equal(guid_parse("0002:c903:0000:0001", &g), 0);
	assert_int_equal(g, 0x0002c90300000001ULL);
	assert_int_equal(guid_parse("0X2C90300000001", &g), 0);
	assert_int_equal(g, 0x0002c90300000001ULL);
	guid_format(g, buf);
	assert_string_equal(buf, "0x0002c90300000001");
	assert_int_equal(guid_parse("0x0", &g), -EINVAL);
	assert_int_equal(guid_parse("", &g), -EINVAL);
	assert_int_equal(guid_parse("0x12345678901234567", &g), -EINVAL);
	assert_int_equal(guid_parse("0xg1", &g), -EINVAL);
}

/* ---- bad documents ----------------------------------------------------- */

static const char base_doc[] =
	"{\"sites\":[{\"name\":\"east\"},{\"name\":\"west\"}],"
	" \"racks\":[{\"name\":\"r1\",\"site\":\"east\"},{\"name\":\"r2\",\"site\":\"west\"}],"
	" \"vteps\":[{\"name\":\"v1\",\"site\":\"east\",\"vtep_ip\":\"192.0.2.1\",\"asn\":65001,\"vty_dir\":\"/run/frr/v1\"},"
	"            {\"name\":\"v2\",\"site\":\"east\",\"vtep_ip\":\"192.0.2.2\",\"asn\":65002,\"vty_dir\":\"/run/frr/v2\","
	"             \"netns\":\"v2\",\"mode\":\"traditional\"}],"
	" \"subnet_managers\":[{\"name\":\"sm1\",\"site\":\"east\",\"partitions_file\":\"/tmp/p.conf\",\"pid_file\":\"/tmp/sm.pid\","
	"                       \"umad_ca\":\"mlx5_0\",\"umad_port\":1}],"
	" \"nodes\":["
	"  {\"name\":\"n1\",\"site\":\"east\",\"rack\":\"r1\","
	"   \"nic_ports\":[{\"name\":\"eth0\",\"mac\":\"02:00:00:00:00:01\",\"vtep\":\"v1\",\"access_port\":\"swp1\"},"
	"                {\"name\":\"eth1\",\"mac\":\"02:00:00:00:00:02\",\"vtep\":\"v2\",\"access_port\":\"swp1\",\"rail\":\"r0\"}],"
	"   \"hca_ports\":[{\"name\":\"mlx5_0/1\",\"guid\":\"0x0002c90300000001\",\"rate_gbps\":200,\"sm\":\"sm1\",\"lid\":4}],"
	"   \"gpus\":[{\"index\":0,\"model\":\"H100-SXM5-80GB\",\"mig_capable\":true,\"nic_port\":\"eth0\",\"hca_port\":\"mlx5_0/1\"}]},"
	"  {\"name\":\"n2\",\"site\":\"east\","
	"   \"nic_ports\":[{\"name\":\"eth0\",\"mac\":\"02:00:00:00:00:03\",\"vtep\":\"v1\",\"access_port\":\"swp2\"}],"
	"   \"hca_ports\":[{\"name\":\"mlx5_0/1\",\"guid\":\"0x0002c90300000002\",\"rate_gbps\":200,\"sm\":\"sm1\"}],"
	"   \"gpus\":[]}]}";

/*
 * Set (or, with value NULL, delete) the member at @path: "a[1].b",
 * "a[+]" appends.  Small on purpose: it only has to reach into base_doc.
 */
static void doc_set(json_t *root, const char *path, const char *value)
{
	char buf[256], *tok, *save = NULL;
	json_t *cur = root, *v = NULL;

	if (value) {
		json_error_t jerr;

		v = json_loads(value, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
		if (!v)
			fail_msg("bad test value %s: %s", value, jerr.text);
	}
	snprintf(buf, sizeof(buf), "%s", path);
	/* Split "a[1].b" into "a", "[1]", "b". */
	char parts[16][64];
	int n = 0;
	for (tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save)) {
		char *br = strchr(tok, '[');

		if (br != tok && n < 16)
			snprintf(parts[n++], sizeof(parts[0]), "%.*s", (int)(br ? br - tok : (long)strlen(tok)), tok);
		while (br && n < 16) {
			char *end = strchr(br, ']');

			snprintf(parts[n++], sizeof(parts[0]), "%.*s", (int)(end - br + 1), br);
			br = strchr(end, '[');
		}
	}
	for (int i = 0; i < n; i++) {
		bool last = i == n - 1;
		const char *p = parts[i];

		if (p[0] == '[') {
			if (!strcmp(p, "[+]")) {
				assert_true(last);
				assert_int_equal(json_array_append_new(cur, v), 0);
				return;
			}
			size_t idx = strtoul(p + 1, NULL, 10);
			if (last) {
				if (v)
					assert_int_equal(json_array_set_new(cur, idx, v), 0);
				else
					assert_int_equal(json_array_remove(cur, idx), 0);
				return;
			}
			cur = json_array_get(cur, idx);
		} else {
			if (last) {
				if (v)
					assert_int_equal(json_object_set_new(cur, p, v), 0);
				else
					assert_int_equal(json_object_del(cur, p), 0);
				return;
			}
			cur = json_object_get(cur, p);
		}
		if (!cur)
			fail_msg("test path %s does not reach into the base document", path);
	}
}

struct bad_case {
	const char *rule;	/* what the case breaks */
	const char *path;	/* what to change */
	const char *value;	/* the new value as JSON; NULL deletes */
	const char *field;	/* the err->field expected */
};

#define LONG64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const struct bad_case bad_cases[] = {
	/* shape */
	{ "unknown top-level key", "colour", "\"blue\"", "colour" },
	{ "unknown node key", "nodes[0].color", "1", "nodes[0].color" },
	{ "unknown HCA port key", "nodes[0].hca_ports[0].speed", "\"4xHDR\"", "nodes[0].hca_ports[0].speed" },
	{ "unknown VTEP key", "vteps[1].ip", "\"192.0.2.9\"", "vteps[1].ip" },
	{ "array of wrong type", "sites", "{}", "sites" },
	{ "nested array of wrong type", "nodes[1].gpus", "\"none\"", "nodes[1].gpus" },
	{ "element not an object", "racks[0]", "\"r1\"", "racks[0]" },
	{ "string for an integer", "vteps[0].asn", "\"65001\"", "vteps[0].asn" },
	{ "real for an integer", "nodes[0].hca_ports[0].rate_gbps", "200.5", "nodes[0].hca_ports[0].rate_gbps" },
	{ "string for a bool", "nodes[0].gpus[0].mig_capable", "\"yes\"", "nodes[0].gpus[0].mig_capable" },
	{ "number for a string", "nodes[0].nic_ports[0].vtep", "1", "nodes[0].nic_ports[0].vtep" },
	{ "null for a string", "subnet_managers[0].pid_file", "null", "subnet_managers[0].pid_file" },
	{ "missing required key", "vteps[0].vty_dir", NULL, "vteps[0].vty_dir" },
	{ "missing node site", "nodes[1].site", NULL, "nodes[1].site" },
	{ "missing GPU model", "nodes[0].gpus[0].model", NULL, "nodes[0].gpus[0].model" },
	/* names */
	{ "uppercase name", "sites[0].name", "\"East\"", "sites[0].name" },
	{ "name starting with '-'", "racks[1].name", "\"-r2\"", "racks[1].name" },
	{ "name with '_'", "vteps[0].name", "\"v_1\"", "vteps[0].name" },
	{ "empty name", "subnet_managers[0].name", "\"\"", "subnet_managers[0].name" },
	{ "name of 64 bytes", "nodes[1].name", "\"" LONG64 "\"", "nodes[1].name" },
	{ "port name with a space", "nodes[0].nic_ports[0].name", "\"eth 0\"", "nodes[0].nic_ports[0].name" },
	{ "port name of 64 bytes", "nodes[0].hca_ports[0].name", "\"" LONG64 "\"", "nodes[0].hca_ports[0].name" },
	{ "netns with '/'", "vteps[1].netns", "\"a/b\"", "vteps[1].netns" },
	{ "rail with a space", "nodes[0].nic_ports[1].rail", "\"rail 0\"", "nodes[0].nic_ports[1].rail" },
	/* uniqueness */
	{ "duplicate site", "sites[+]", "{\"name\":\"east\"}", "sites[2].name" },
	{ "duplicate rack", "racks[1].name", "\"r1\"", "racks[1].name" },
	{ "duplicate VTEP", "vteps[1].name", "\"v1\"", "vteps[1].name" },
	{ "duplicate SM", "subnet_managers[+]",
	  "{\"name\":\"sm1\",\"site\":\"west\",\"partitions_file\":\"/x\",\"pid_file\":\"/y\"}",
	  "subnet_managers[1].name" },
	{ "duplicate node", "nodes[1].name", "\"n1\"", "nodes[1].name" },
	{ "NIC and HCA port with one name", "nodes[0].hca_ports[0].name", "\"eth1\"", "nodes[0].hca_ports[0].name" },
	{ "two NIC ports with one name", "nodes[0].nic_ports[1].name", "\"eth0\"", "nodes[0].nic_ports[1].name" },
	{ "duplicate GUID, same spelling", "nodes[1].hca_ports[0].guid", "\"0x0002c90300000001\"",
	  "nodes[1].hca_ports[0].guid" },
	{ "duplicate GUID, other spelling", "nodes[1].hca_ports[0].guid", "\"0002:C903:0000:0001\"",
	  "nodes[1].hca_ports[0].guid" },
	{ "duplicate MAC in other case", "nodes[1].nic_ports[0].mac", "\"02:00:00:00:00:0A\"", NULL },
	{ "duplicate VTEP IP", "vteps[1].vtep_ip", "\"192.0.2.1\"", "vteps[1].vtep_ip" },
	{ "access port twice on one VTEP", "nodes[1].nic_ports[0].access_port", "\"swp1\"",
	  "nodes[1].nic_ports[0].access_port" },
	{ "GPU index twice", "nodes[0].gpus[+]", "{\"index\":0,\"model\":\"H100-SXM5-80GB\"}", "nodes[0].gpus[1].index" },
	/* values */
	{ "IPv4 with an octet > 255", "vteps[0].vtep_ip", "\"192.0.2.256\"", "vteps[0].vtep_ip" },
	{ "IPv6 VTEP address", "vteps[0].vtep_ip", "\"2001:db8::1\"", "vteps[0].vtep_ip" },
	{ "multicast VTEP address", "vteps[0].vtep_ip", "\"239.1.1.1\"", "vteps[0].vtep_ip" },
	{ "ASN 0", "vteps[0].asn", "0", "vteps[0].asn" },
	{ "ASN 2^32", "vteps[1].asn", "4294967296", "vteps[1].asn" },
	{ "ASN negative", "vteps[1].asn", "-5", "vteps[1].asn" },
	{ "VTEP mode unknown", "vteps[1].mode", "\"vxlan\"", "vteps[1].mode" },
	{ "access port with '/'", "nodes[0].nic_ports[0].access_port", "\"swp/1\"", "nodes[0].nic_ports[0].access_port" },
	{ "access port of 16 bytes", "nodes[0].nic_ports[0].access_port", "\"swp1234567890123\"",
	  "nodes[0].nic_ports[0].access_port" },
	{ "access port with a space", "nodes[1].nic_ports[0].access_port", "\"swp 2\"", "nodes[1].nic_ports[0].access_port" },
	{ "malformed MAC", "nodes[0].nic_ports[0].mac", "\"02:00:00:00:00\"", "nodes[0].nic_ports[0].mac" },
	{ "multicast MAC", "nodes[0].nic_ports[0].mac", "\"01:00:5e:00:00:01\"", "nodes[0].nic_ports[0].mac" },
	{ "malformed GUID", "nodes[0].hca_ports[0].guid", "\"0xZZ\"", "nodes[0].hca_ports[0].guid" },
	{ "zero GUID", "nodes[0].hca_ports[0].guid", "\"0x0000000000000000\"", "nodes[0].hca_ports[0].guid" },
	{ "GUID as a number", "nodes[0].hca_ports[0].guid", "42", "nodes[0].hca_ports[0].guid" },
	{ "rate 0", "nodes[0].hca_ports[0].rate_gbps", "0", "nodes[0].hca_ports[0].rate_gbps" },
	{ "LID beyond unicast", "nodes[0].hca_ports[0].lid", "49152", "nodes[0].hca_ports[0].lid" },
	{ "negative GPU index", "nodes[0].gpus[0].index", "-1", "nodes[0].gpus[0].index" },
	{ "empty GPU model", "nodes[0].gpus[0].model", "\"\"", "nodes[0].gpus[0].model" },
	{ "umad port out of range", "subnet_managers[0].umad_port", "300", "subnet_managers[0].umad_port" },
	{ "path longer than its buffer", "vteps[0].vty_dir", NULL /* set below */, "vteps[0].vty_dir" },
	{ "control character in a path", "subnet_managers[0].partitions_file", "\"/tmp/a\\nb\"",
	  "subnet_managers[0].partitions_file" },
	{ "NUL inside a name", "sites[1].name", "\"we\\u0000st\"", "sites[1].name" },
	/* references */
	{ "rack at unknown site", "racks[0].site", "\"north\"", "racks[0].site" },
	{ "VTEP at unknown site", "vteps[1].site", "\"north\"", "vteps[1].site" },
	{ "SM at unknown site", "subnet_managers[0].site", "\"north\"", "subnet_managers[0].site" },
	{ "node at unknown site", "nodes[1].site", "\"north\"", "nodes[1].site" },
	{ "node in unknown rack", "nodes[0].rack", "\"r9\"", "nodes[0].rack" },
	{ "node in a rack of another site", "nodes[0].rack", "\"r2\"", "nodes[0].rack" },
	{ "NIC port on unknown VTEP", "nodes[1].nic_ports[0].vtep", "\"v9\"", "nodes[1].nic_ports[0].vtep" },
	{ "HCA port on unknown SM", "nodes[1].hca_ports[0].sm", "\"sm9\"", "nodes[1].hca_ports[0].sm" },
	{ "GPU paired with a missing NIC port", "nodes[0].gpus[0].nic_port", "\"eth7\"", "nodes[0].gpus[0].nic_port" },
	{ "GPU paired with a missing HCA port", "nodes[0].gpus[0].hca_port", "\"mlx5_9/1\"", "nodes[0].gpus[0].hca_port" },
	{ "GPU paired with an HCA port as NIC", "nodes[0].gpus[0].nic_port", "\"mlx5_0/1\"", "nodes[0].gpus[0].nic_port" },
};

static void test_base_doc_loads(void **state)
{
	struct loom_err err = { 0 };
	struct topology *t = NULL;
	json_error_t jerr;
	json_t *root = json_loads(base_doc, JSON_REJECT_DUPLICATES, &jerr);

	(void)state;
	assert_non_null(root);
	if (topology_load_json(root, &t, &err))
		fail_msg("base document refused: %s: %s", err.field, err.msg);
	/* The same access port on two VTEPs is fine (n1 eth0 and eth1). */
	assert_string_equal(topology_node(t, "n1")->nic_ports[1].access_port, "swp1");
	/* An empty document is an empty, valid topology. */
	topology_free(&t);
	json_decref(root);
	root = json_object();
	assert_int_equal(topology_load_json(root, &t, &err), 0);
	assert_int_equal(t->n_nodes + t->n_sites + t->n_vteps, 0);
	topology_free(&t);
	json_decref(root);
}

static void test_bad_documents(void **state)
{
	char longpath[300];
	int failures = 0;

	(void)state;
	memset(longpath, 'a', sizeof(longpath));
	longpath[0] = '"';
	longpath[1] = '/';
	longpath[sizeof(longpath) - 2] = '"';
	longpath[sizeof(longpath) - 1] = '\0';

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		const char *value = c->value;
		const char *field = c->field;
		struct topology *t = NULL;
		struct loom_err err = { 0 };
		json_error_t jerr;
		json_t *root = json_loads(base_doc, 0, &jerr);
		int rc;

		assert_non_null(root);
		if (!strcmp(c->rule, "path longer than its buffer"))
			value = longpath;
		if (!strcmp(c->rule, "duplicate MAC in other case")) {
			/* n1 eth0 gets the lowercase spelling; n2 eth0 is the repeat. */
			doc_set(root, "nodes[0].nic_ports[0].mac", "\"02:00:00:00:00:0a\"");
			field = "nodes[1].nic_ports[0].mac";
		}
		doc_set(root, c->path, value);
		rc = topology_load_json(root, &t, &err);
		if (rc != -EINVAL || err.code != LOOM_E_TOPOLOGY || strcmp(err.field, field) || !err.msg[0] || t) {
			print_error("case \"%s\": rc %d code %d field \"%s\" (want \"%s\"): %s\n",
				    c->rule, rc, err.code, err.field, field, err.msg);
			failures++;
		}
		topology_free(&t);
		json_decref(root);
	}
	assert_int_equal(failures, 0);
	assert_true(sizeof(bad_cases) / sizeof(bad_cases[0]) >= 25);
}

/* Messages say what is wrong, naming the value. */
static void test_messages(void **state)
{
	struct loom_err err = { 0 };
	struct topology *t = NULL;
	json_error_t jerr;
	json_t *root = json_loads(base_doc, 0, &jerr);

	(void)state;
	doc_set(root, "nodes[1].hca_ports[0].guid", "\"0x0002c90300000001\"");
	assert_int_equal(topology_load_json(root, &t, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "0x0002c90300000001"));
	assert_non_null(strstr(err.msg, "nodes[0].hca_ports[0].guid"));
	json_decref(root);

	loom_err_clear(&err);
	root = json_loads(base_doc, 0, &jerr);
	doc_set(root, "nodes[0].rack", "\"r2\"");
	assert_int_equal(topology_load_json(root, &t, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "west"));
	json_decref(root);

	loom_err_clear(&err);
	root = json_loads(base_doc, 0, &jerr);
	doc_set(root, "nodes[0].hca_ports[0].speed", "1");
	assert_int_equal(topology_load_json(root, &t, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "speed"));
	assert_non_null(strstr(err.msg, "rate_gbps"));	/* lists the known keys */
	json_decref(root);

	/* Not an object at all. */
	loom_err_clear(&err);
	root = json_array();
	assert_int_equal(topology_load_json(root, &t, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_TOPOLOGY);
	assert_string_equal(err.field, "");
	json_decref(root);
}

static void write_tmp(char *path, size_t size, const char *text)
{
	int fd;

	snprintf(path, size, "/tmp/ltp-topo-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_file_errors(void **state)
{
	struct loom_err err = { 0 };
	struct topology *t = NULL;
	char path[64];

	(void)state;
	/* Syntax: line 3, column of the stray comma. */
	write_tmp(path, sizeof(path), "{\n  \"sites\": [\n    {\"name\": \"east\"},\n  ]\n}\n");
	assert_int_equal(topology_load_file(path, &t, &err), -EINVAL);
	unlink(path);
	assert_int_equal(err.code, LOOM_E_TOPOLOGY);
	assert_string_equal(err.field, "");
	assert_non_null(strstr(err.msg, ":4:"));
	assert_null(t);

	/* Duplicate keys are refused, not silently last-one-wins. */
	loom_err_clear(&err);
	write_tmp(path, sizeof(path), "{\"sites\": [{\"name\": \"a\", \"name\": \"b\"}]}");
	assert_int_equal(topology_load_file(path, &t, &err), -EINVAL);
	unlink(path);
	assert_non_null(strstr(err.msg, "duplicate"));

	loom_err_clear(&err);
	assert_int_equal(topology_load_file("/nonexistent/ltp-topology.json", &t, &err), -ENOENT);
	assert_int_equal(err.code, LOOM_E_TOPOLOGY);
	assert_null(t);
}

/* ---- ibnetdiscover ------------------------------------------------------ */

/*
 * The API test topology with site west delegated to instance zeta: the
 * file round-trips with its delegations, each instance's cut keeps its
 * share only, and what was cut is answered as delegated.
 */
static void test_delegations(void **state)
{
	static const char deleg[] = "[{\"instance\": \"zeta\", \"tenants\": [\"zeta\"], "
		"\"vteps\": [\"vt-w1\"], \"subnet_managers\": [\"sm-west\"], "
		"\"nodes\": [\"gpu-w2\", \"gpu-w1\"], \"vni_range\": \"20000-20999\", "
		"\"pkey_range\": \"0x400-0x4ff\"}]";
	struct loom_err err = { 0 };
	struct topology *main_t = NULL, *zeta = NULL, *again = NULL;
	char path[512];
	json_t *root, *j;

	(void)state;
	src_path(path, sizeof(path), "tests/integration/data/topo-api.json");
	root = json_load_file(path, 0, NULL);
	assert_non_null(root);
	json_object_set_new(root, "delegations", json_loads(deleg, 0, NULL));
	assert_int_equal(topology_load_json(root, &main_t, &err), 0);
	assert_int_equal(topology_load_json(root, &zeta, &err), 0);
	assert_int_equal(main_t->n_delegations, 1);
	assert_int_equal(main_t->delegations[0].pkey_min, 0x400);

	/* Written back and read again: the same delegations. */
	j = topology_to_json(main_t);
	assert_non_null(j);
	assert_int_equal(topology_load_json(j, &again, &err), 0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "delegations"), 0),
							      "pkey_range")), "0x0400-0x04ff");
	json_decref(j);
	topology_free(&again);

	assert_int_equal(topology_delegate(main_t, "main", &err), 0);
	assert_int_equal(topology_delegate(zeta, "zeta", &err), 0);
	assert_int_equal(main_t->n_nodes, 4);
	assert_int_equal(main_t->n_vteps, 2);
	assert_int_equal(main_t->n_sms, 1);
	assert_null(topology_node(main_t, "gpu-w1"));
	assert_non_null(topology_node(main_t, "gpu-e4"));	/* still sorted: found by bsearch */
	assert_int_equal(zeta->n_nodes, 2);
	assert_non_null(topology_node(zeta, "gpu-w2"));
	assert_null(topology_vtep(zeta, "vt-e1"));
	assert_int_equal(zeta->n_sites, main_t->n_sites);

	assert_int_not_equal(topology_foreign(main_t, TOPO_NODE, "gpu-w2", "node", &err), 0);
	assert_int_equal(err.code, LOOM_E_DELEGATED);
	assert_string_equal(err.field, "node");
	assert_non_null(strstr(err.msg, "delegated to loom instance zeta (topology delegations[0].nodes[0])"));
	loom_err_clear(&err);
	assert_int_equal(topology_foreign(main_t, TOPO_NODE, "gpu-x9", "node", &err), 0);
	assert_int_equal(topology_foreign(main_t, TOPO_VTEP, "gpu-w2", "vtep", &err), 0);
	assert_int_not_equal(topology_foreign(zeta, TOPO_SM, "sm-east", "sm", &err), 0);
	assert_non_null(strstr(err.msg, "subnet manager sm-east is not delegated to loom instance zeta"));
	loom_err_clear(&err);

	assert_int_equal(topology_tenant_owned(main_t, "acme", "name", &err), 0);
	assert_int_not_equal(topology_tenant_owned(main_t, "zeta", "name", &err), 0);
	loom_err_clear(&err);
	assert_int_equal(topology_tenant_owned(zeta, "zeta", "name", &err), 0);
	assert_int_not_equal(topology_tenant_owned(zeta, "acme", "name", &err), 0);
	loom_err_clear(&err);

	assert_int_equal(topology_ranges_check(main_t, 10000, 19999, 0x100, 0x3ff, &err), 0);
	assert_int_not_equal(topology_ranges_check(main_t, 10000, 20000, 0x100, 0x3ff, &err), 0);
	assert_string_equal(err.field, "vni_range");
	loom_err_clear(&err);
	assert_int_not_equal(topology_ranges_check(main_t, 10000, 19999, 0x100, 0x400, &err), 0);
	assert_string_equal(err.field, "pkey_range");
	loom_err_clear(&err);
	assert_int_equal(topology_ranges_check(zeta, 20000, 20099, 0x400, 0x4ff, &err), 0);
	assert_int_not_equal(topology_ranges_check(zeta, 19999, 20099, 0x400, 0x4ff, &err), 0);
	assert_string_equal(err.field, "vni_range");
	loom_err_clear(&err);

	json_decref(root);
	topology_free(&main_t);
	topology_free(&zeta);
}

static void import_golden(const char *capture, const char *golden, const char *sm)
{
	struct loom_err err = { 0 };
	json_error_t jerr;
	json_t *got = NULL, *want;
	char path[512];
	char *text;

	src_path(path, sizeof(path), capture);
	text = slurp(path);
	if (ibnetdiscover_import(text, sm, &got, &err))
		fail_msg("%s: %s: %s", capture, err.field, err.msg);
	free(text);
	src_path(path, sizeof(path), golden);
	want = json_load_file(path, 0, &jerr);
	assert_non_null(want);
	if (!json_equal(got, want)) {
		char *s = json_dumps(got, JSON_INDENT(2));

		print_error("%s differs from %s; got:\n%s\n", capture, golden, s);
		free(s);
		fail();
	}
	json_decref(want);

	/*
	 * The candidates are topology entries: with a site and the SM they
	 * name, they load as they are.
	 */
	json_t *doc = json_object(), *nodes = json_object_get(got, "nodes");
	size_t i;
	json_t *n;
	struct topology *t = NULL;

	json_array_foreach(nodes, i, n)
		json_object_set_new(n, "site", json_string("east"));
	json_object_set_new(doc, "sites", json_pack("[{s:s}]", "name", "east"));
	json_object_set_new(doc, "subnet_managers",
			    json_pack("[{s:s,s:s,s:s,s:s}]", "name", sm, "site", "east",
				      "partitions_file", "/tmp/p", "pid_file", "/tmp/q"));
	json_object_set(doc, "nodes", nodes);
	if (topology_load_json(doc, &t, &err))
		fail_msg("imported nodes do not load: %s: %s", err.field, err.msg);
	assert_int_equal(t->n_nodes, json_array_size(nodes));
	topology_free(&t);
	json_decref(doc);
	json_decref(got);
}

static void test_import_east(void **state)
{
	(void)state;
	import_golden("tests/golden/topology/ibnetdiscover-east.txt",
		      "tests/golden/topology/ibnetdiscover-east.json", "sm-east");
}

static void test_import_ibsim_example(void **state)
{
	(void)state;
	import_golden("tests/golden/topology/ibnetdiscover-2sw2path4hca.txt",
		      "tests/golden/topology/ibnetdiscover-2sw2path4hca.json", "sm-lab");
}

/* The captured east fabric is the sample's east site: same GUIDs, rates, LIDs. */
static void test_import_matches_sample(void **state)
{
	struct loom_err err = { 0 };
	struct topology *t = NULL;
	json_t *got = NULL, *nodes;
	char path[512];
	char *text;
	size_t i, j, ports = 0;
	json_t *n, *p;

	(void)state;
	src_path(path, sizeof(path), "etc/topology.sample.json");
	assert_int_equal(topology_load_file(path, &t, &err), 0);
	src_path(path, sizeof(path), "tests/golden/topology/ibnetdiscover-east.txt");
	text = slurp(path);
	assert_int_equal(ibnetdiscover_import(text, "sm-east", &got, &err), 0);
	free(text);
	nodes = json_object_get(got, "nodes");
	json_array_foreach(nodes, i, n) {
		const struct topo_node *tn = topology_node(t, json_string_value(json_object_get(n, "name")));

		assert_non_null(tn);
		json_array_foreach(json_object_get(n, "hca_ports"), j, p) {
			const struct topo_hca_port *hp =
				topo_node_hca_port(tn, json_string_value(json_object_get(p, "name")));
			uint64_t g = 0;

			assert_non_null(hp);
			assert_int_equal(guid_parse(json_string_value(json_object_get(p, "guid")), &g), 0);
			assert_int_equal(hp->guid, g);
			assert_int_equal(hp->rate_gbps, json_integer_value(json_object_get(p, "rate_gbps")));
			assert_string_equal(hp->sm, "sm-east");
			ports++;
		}
	}
	assert_int_equal(ports, 9);
	json_decref(got);
	topology_free(&t);
}

static void test_rates(void **state)
{
	(void)state;
	assert_int_equal(ibnetdiscover_rate_gbps("4xSDR"), 10);
	assert_int_equal(ibnetdiscover_rate_gbps("4xDDR"), 20);
	assert_int_equal(ibnetdiscover_rate_gbps("4xQDR"), 40);
	assert_int_equal(ibnetdiscover_rate_gbps("4xFDR10"), 40);
	assert_int_equal(ibnetdiscover_rate_gbps("4xFDR"), 56);
	assert_int_equal(ibnetdiscover_rate_gbps("4xEDR"), 100);
	assert_int_equal(ibnetdiscover_rate_gbps("4xHDR"), 200);
	assert_int_equal(ibnetdiscover_rate_gbps("4xNDR"), 400);
	assert_int_equal(ibnetdiscover_rate_gbps("2xNDR"), 200);
	assert_int_equal(ibnetdiscover_rate_gbps("1xHDR"), 50);
	assert_int_equal(ibnetdiscover_rate_gbps("12xQDR"), 120);
	assert_int_equal(ibnetdiscover_rate_gbps("4xXDR"), 800);
	assert_int_equal(ibnetdiscover_rate_gbps("3xHDR"), 0);
	assert_int_equal(ibnetdiscover_rate_gbps("4xFOO"), 0);
	assert_int_equal(ibnetdiscover_rate_gbps("HDR"), 0);
	assert_int_equal(ibnetdiscover_rate_gbps(""), 0);
}

/* A hand-written NDR fabric: the default description, a router, CRLF. */
static void test_import_ndr_and_defaults(void **state)
{
	static const char text[] =
		"# hand-written\r\n"
		"switchguid=0xb83fd20300aa0000(b83fd20300aa0000)\r\n"
		"Switch\t64 \"S-b83fd20300aa0000\"\t\t# \"MF0;qm9700:MQM9700/U1\" enhanced port 0 lid 7 lmc 0\r\n"
		"[1]\t\"H-b83fd20300bb0000\"[1](b83fd20300bb0001) \t\t# \"MT4129 ConnectX7   Mellanox Technologies\" lid 9 4xNDR\r\n"
		"[2]\t\"H-b83fd20300cc0000\"[1](b83fd20300cc0001) \t\t# \"MT4129 ConnectX7   Mellanox Technologies\" lid 10 2xNDR\r\n"
		"[3]\t\"R-b83fd20300dd0000\"[1](b83fd20300dd0001) \t\t# \"router\" lid 11 4xHDR\r\n"
		"\r\n"
		"caguid=0xb83fd20300bb0000\r\n"
		"Ca\t1 \"H-b83fd20300bb0000\"\t\t# \"MT4129 ConnectX7   Mellanox Technologies\"\r\n"
		"[1](b83fd20300bb0001) \t\"S-b83fd20300aa0000\"[1]\t\t# lid 9 lmc 0 \"MF0;qm9700:MQM9700/U1\" lid 7 4xNDR\r\n"
		"\r\n"
		"Ca\t1 \"H-b83fd20300cc0000\"\t\t# \"MT4129 ConnectX7   Mellanox Technologies\"\r\n"
		"[1](b83fd20300cc0001) \t\"S-b83fd20300aa0000\"[2]\t\t# lid 10 lmc 0 \"MF0;qm9700:MQM9700/U1\" lid 7 2xNDR\r\n"
		"\r\n"
		"rtguid=0xb83fd20300dd0000\r\n"
		"Rt\t1 \"R-b83fd20300dd0000\"\t\t# \"router\"\r\n"
		"[1](b83fd20300dd0001) \t\"S-b83fd20300aa0000\"[3]\t\t# lid 11 lmc 0 \"MF0;qm9700:MQM9700/U1\" lid 7 4xHDR\r\n";
	struct loom_err err = { 0 };
	json_t *out = NULL, *n, *p, *sw;

	(void)state;
	if (ibnetdiscover_import(text, "sm-x", &out, &err))
		fail_msg("%s: %s", err.field, err.msg);
	/* No host in the description: each CA is its own candidate, by GUID. */
	assert_int_equal(json_array_size(json_object_get(out, "nodes")), 2);
	n = json_array_get(json_object_get(out, "nodes"), 0);
	assert_string_equal(json_string_value(json_object_get(n, "name")), "ca-b83fd20300bb0000");
	p = json_array_get(json_object_get(n, "hca_ports"), 0);
	assert_string_equal(json_string_value(json_object_get(p, "name")), "hca/1");
	assert_string_equal(json_string_value(json_object_get(p, "guid")), "0xb83fd20300bb0001");
	assert_int_equal(json_integer_value(json_object_get(p, "rate_gbps")), 400);
	assert_int_equal(json_integer_value(json_object_get(p, "lid")), 9);
	p = json_array_get(json_object_get(json_array_get(json_object_get(out, "nodes"), 1), "hca_ports"), 0);
	assert_int_equal(json_integer_value(json_object_get(p, "rate_gbps")), 200);
	sw = json_array_get(json_object_get(out, "switches"), 0);
	assert_int_equal(json_integer_value(json_object_get(sw, "lid")), 7);
	assert_string_equal(json_string_value(json_object_get(sw, "description")), "MF0;qm9700:MQM9700/U1");
	assert_int_equal(json_array_size(json_object_get(sw, "ports")), 3);
	p = json_array_get(json_object_get(sw, "ports"), 2);
	assert_string_equal(json_string_value(json_object_get(p, "remote_type")), "router");
	json_decref(out);
}

/* Two CAs in one host with the same one-word description keep apart. */
static void test_import_same_description(void **state)
{
	static const char text[] =
		"Ca\t2 \"H-0000000000000010\"\t\t# \"node7\"\n"
		"[1](11) \t\"S-0000000000000001\"[1]\t\t# lid 2 lmc 0 \"sw\" lid 1 4xEDR\n"
		"\n"
		"Ca\t2 \"H-0000000000000020\"\t\t# \"node7\"\n"
		"[1](21) \t\"S-0000000000000001\"[2]\t\t# lid 3 lmc 0 \"sw\" lid 1 4xEDR\n";
	struct loom_err err = { 0 };
	json_t *out = NULL, *ports;

	(void)state;
	assert_int_equal(ibnetdiscover_import(text, "sm1", &out, &err), 0);
	assert_int_equal(json_array_size(json_object_get(out, "nodes")), 1);
	ports = json_object_get(json_array_get(json_object_get(out, "nodes"), 0), "hca_ports");
	assert_int_equal(json_array_size(ports), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(ports, 0), "name")),
			    "0000000000000020/1");
	assert_string_equal(json_string_value(json_object_get(json_array_get(ports, 1), "name")), "hca/1");
	json_decref(out);
}

static void test_import_errors(void **state)
{
	static const struct {
		const char *text;
		const char *field;
		const char *says;
	} cases[] = {
		{ "Switch\t8 \"S-01\"\t# \"sw\" lid 1 lmc 0\n[1]\t\"H-02\"[1](3)\t# \"h\" lid 2 4xZDR\n",
		  "line 2", "width and speed" },
		{ "#\n\nhello world\n", "line 3", "not a line of ibnetdiscover output" },
		{ "[1]\t\"H-02\"[1](3)\t# \"h\" lid 2 4xEDR\n", "line 1", "outside" },
		{ "Switch\tx \"S-01\"\n", "line 1", "number of ports" },
		{ "Switch\t8 S-01\n", "line 1", "node's id" },
		{ "Switch\t8 \"S-01\"\t# \"sw\" lid 1 lmc 0\n[9]\t\"H-02\"[1](3)\t# \"h\" lid 2 4xEDR\n",
		  "line 2", "does not exist" },
		{ "Ca\t2 \"H-01\"\t# \"h\"\n[1]\t\"S-02\"[1]\t# lid 2 lmc 0 \"s\" lid 1 4xEDR\n",
		  "line 2", "port GUID" },
		{ "Ca\t2 \"H-01\"\t# \"h\"\n[1](2)\t\"S-02\"[1]\t# lid 2 lmc 0 \"s\" 4xEDR\n",
		  "line 2", "remote \"lid N\"" },
		{ "Ca\t2 \"H-01\"\t# \"h\"\n[1](2)\t\"S-02\"\t# lid 2 lmc 0 \"s\" lid 1 4xEDR\n",
		  "line 2", "after the remote node's id" },
		{ "caguid=zz\n", "line 1", "GUID" },
		{ "Ca\t2 \"H-01\"\t# \"h\"\n[1](2)\t\"S-02\"[1]\t# \"s\" lid 1 4xEDR\n",
		  "line 2", "port's \"lid N\"" },
		{ "Switch\t8 \"H-01\"\n", "line 1", "does not match" },
		{ "# only comments\n\n", "", "no Switch or Ca records" },
		/* Found by tests/fuzz/fuzz_ibnetdiscover: a quote at the end of the line. */
		{ "Switch\t8 \"S-01\"\n[1]\t\"", "line 2", "remote node's id" },
		{ "Switch\t8 \"", "line 1", "node's id" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct loom_err err = { 0 };
		json_t *out = NULL;

		assert_int_equal(ibnetdiscover_import(cases[i].text, "sm1", &out, &err), -EINVAL);
		assert_null(out);
		assert_int_equal(err.code, LOOM_E_TOPOLOGY);
		if (strcmp(err.field, cases[i].field) || !strstr(err.msg, cases[i].says))
			fail_msg("case %zu: field \"%s\" msg \"%s\"", i, err.field, err.msg);
	}
	/* The SM name is checked like any topology name. */
	struct loom_err err = { 0 };
	json_t *out = NULL;
	assert_int_equal(ibnetdiscover_import("Ca\t1 \"H-01\"\n", "SM 1", &out, &err), -EINVAL);
	assert_string_equal(err.field, "sm");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_loads),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_guid_forms),
		cmocka_unit_test(test_base_doc_loads),
		cmocka_unit_test(test_bad_documents),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_rates),
		cmocka_unit_test(test_delegations),
		cmocka_unit_test(test_import_east),
		cmocka_unit_test(test_import_ibsim_example),
		cmocka_unit_test(test_import_matches_sample),
		cmocka_unit_test(test_import_ndr_and_defaults),
		cmocka_unit_test(test_import_same_description),
		cmocka_unit_test(test_import_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

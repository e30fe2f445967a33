/*
 * bench/topology_load.c: how long loading a large topology takes, against
 * the baseline of only parsing its JSON text (json_loads), which any loader
 * pays.  The ratio is what validation, cross-checks and sorting cost.
 *
 *   bench/topology_load [NODES] [ROUNDS]      (default 4096 nodes, 5 rounds)
 *
 * Each node has 2 NIC ports, 8 HCA ports and 8 GPUs (a DGX-like H100 box);
 * 8 sites, 256 VTEPs, 8 subnet managers.  Nodes are written in reverse name
 * order so the sort does real work.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/monotime.h"
#include "topology/topology.h"

static json_t *make_topology(unsigned int n_nodes)
{
	json_t *root = json_object(), *sites = json_array(), *racks = json_array();
	json_t *vteps = json_array(), *sms = json_array(), *nodes = json_array();
	char name[64], buf[64], buf2[64];

	for (unsigned int s = 0; s < 8; s++) {
		snprintf(name, sizeof(name), "site%u", s);
		json_array_append_new(sites, json_pack("{s:s}", "name", name));
		snprintf(buf, sizeof(buf), "sm-site%u", s);
		snprintf(buf2, sizeof(buf2), "/var/lib/loom/%s/partitions.conf", buf);
		json_array_append_new(sms, json_pack("{s:s,s:s,s:s,s:s}", "name", buf, "site", name,
						     "partitions_file", buf2, "pid_file", "/run/opensm.pid"));
	}
	for (unsigned int v = 0; v < 256; v++) {
		char site[16];

		snprintf(name, sizeof(name), "vtep%03u", v);
		snprintf(site, sizeof(site), "site%u", v % 8);
		/* Documentation ranges only, even for a benchmark. */
		if (v < 200)
			snprintf(buf, sizeof(buf), "192.0.2.%u", v + 1);
		else
			snprintf(buf, sizeof(buf), "198.51.100.%u", v - 199);
		snprintf(buf2, sizeof(buf2), "/var/run/frr/%s", name);
		json_array_append_new(vteps, json_pack("{s:s,s:s,s:s,s:i,s:s}", "name", name, "site", site,
						       "vtep_ip", buf, "asn", 65000 + v, "vty_dir", buf2));
	}
	for (unsigned int r = 0; r < n_nodes / 16 + 1; r++) {
		snprintf(name, sizeof(name), "rack%04u", r);
		snprintf(buf, sizeof(buf), "site%u", (r * 16 / 32) % 8);
		json_array_append_new(racks, json_pack("{s:s,s:s}", "name", name, "site", buf));
	}
	for (unsigned int k = n_nodes; k-- > 0;) {
		unsigned int rack = k / 16, site = (rack * 16 / 32) % 8;
		json_t *nic = json_array(), *hca = json_array(), *gpu = json_array();
		char rackname[64], sitename[64], smname[64];

		snprintf(rackname, sizeof(rackname), "rack%04u", rack);
		snprintf(sitename, sizeof(sitename), "site%u", site);
		snprintf(smname, sizeof(smname), "sm-site%u", site);
		for (unsigned int p = 0; p < 2; p++) {
			unsigned int vtep = (site + 8 * ((k / 16 + p) % 32)) % 256;

			snprintf(name, sizeof(name), "eth%u", p);
			snprintf(buf, sizeof(buf), "0c:42:%02x:%02x:%02x:%02x", (k >> 16) & 0xff, (k >> 8) & 0xff,
				 k & 0xff, p);
			snprintf(buf2, sizeof(buf2), "vtep%03u", vtep);
			char ap[16];

			/* One access port per NIC port, so none repeats on a VTEP. */
			snprintf(ap, sizeof(ap), "swp%u", 2 * k + p);
			json_array_append_new(nic, json_pack("{s:s,s:s,s:s,s:s}", "name", name, "mac", buf,
							     "vtep", buf2, "access_port", ap));
		}
		for (unsigned int p = 0; p < 8; p++) {
			snprintf(name, sizeof(name), "mlx5_%u/1", p);
			snprintf(buf, sizeof(buf), "0x0002c903%04x%02x%02x", k & 0xffff, p, (k >> 16) & 0xff);
			json_array_append_new(hca, json_pack("{s:s,s:s,s:i,s:s}", "name", name, "guid", buf,
							     "rate_gbps", 400, "sm", smname));
		}
		for (unsigned int g = 0; g < 8; g++) {
			snprintf(name, sizeof(name), "mlx5_%u/1", g);
			snprintf(buf, sizeof(buf), "eth%u", g / 4);
			json_array_append_new(gpu, json_pack("{s:i,s:s,s:b,s:s,s:s}", "index", 7 - g, "model",
							     "H100-SXM5-80GB", "mig_capable", 1, "nic_port", buf,
							     "hca_port", name));
		}
		snprintf(name, sizeof(name), "gpu%05u", k);
		json_array_append_new(nodes, json_pack("{s:s,s:s,s:s,s:o,s:o,s:o}", "name", name, "site",
						       sitename, "rack", rackname, "nic_ports", nic,
						       "hca_ports", hca, "gpus", gpu));
	}
	json_object_set_new(root, "sites", sites);
	json_object_set_new(root, "racks", racks);
	json_object_set_new(root, "vteps", vteps);
	json_object_set_new(root, "subnet_managers", sms);
	json_object_set_new(root, "nodes", nodes);
	return root;
}

int main(int argc, char **argv)
{
	unsigned int n_nodes = argc > 1 ? (unsigned int)strtoul(argv[1], NULL, 10) : 4096;
	unsigned int rounds = argc > 2 ? (unsigned int)strtoul(argv[2], NULL, 10) : 5;
	double best_parse = 1e9, best_load = 1e9, best_out = 1e9;
	json_t *doc = make_topology(n_nodes);
	char *text = json_dumps(doc, JSON_COMPACT);
	struct loom_err err = { 0 };

	json_decref(doc);
	if (!text)
		return 1;
	for (unsigned int r = 0; r < rounds; r++) {
		struct topology *t = NULL;
		json_error_t jerr;
		double t0, t1, t2, t3;
		json_t *root, *out;

		t0 = mono_s();
		root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
		t1 = mono_s();
		if (!root || topology_load_json(root, &t, &err)) {
			fprintf(stderr, "load failed: %s: %s\n", err.field, err.msg);
			return 1;
		}
		t2 = mono_s();
		out = topology_to_json(t);
		t3 = mono_s();
		if (!out)
			return 1;
		if (t1 - t0 < best_parse)
			best_parse = t1 - t0;
		if (t2 - t0 < best_load)
			best_load = t2 - t0;
		if (t3 - t2 < best_out)
			best_out = t3 - t2;
		json_decref(out);
		json_decref(root);
		topology_free(&t);
	}
	printf("nodes %u (%u HCA ports, %u GPUs), JSON %zu bytes, best of %u rounds\n",
	       n_nodes, n_nodes * 8, n_nodes * 8, strlen(text), rounds);
	printf("baseline json_loads only:      %8.1f ms\n", best_parse * 1e3);
	printf("json_loads + topology_load:    %8.1f ms  (ratio %.2f)\n", best_load * 1e3,
	       best_load / best_parse);
	printf("topology_to_json:              %8.1f ms\n", best_out * 1e3);
	free(text);
	return 0;
}

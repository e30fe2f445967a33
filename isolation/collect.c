/*
 * isolation/collect.c: the fabric's truth from every target of the
 * topology, through each backend's own reading code: the kernel over
 * netlink (read_kernel.c), FRR's running-config through vtysh and
 * overlay/frr_config.c's parser (frr_observe), each HCA port's P_Key table
 * with SMPs (smt_read_pkeys), each GPU's MIG instances through NVML
 * (gpu_nvml_observe).  Then isolation_verify: read, check, report.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fabric/smt.h"
#include "gpu/nvml.h"
#include "isolation/isolation.h"
#include "isolation/read.h"
#include "lib/monotime.h"
#include "overlay/frr.h"

static void read_frr(const struct topo_vtep *tv, const struct isolation_read_opts *o,
		     struct truth_vtep *v)
{
	struct loom_err err = { 0 };
	struct frr_target *t = frr_target_open(tv, &err);
	int rc = -EINVAL;

	if (t) {
		if (o->vtysh)
			frr_target_set_vtysh(t, o->vtysh);
		if (o->frr_timeout_ms)
			frr_target_set_timeout(t, o->frr_timeout_ms);
		rc = frr_observe(t, &v->frr, &err);
		frr_target_close(&t);
	}
	v->frr_rc = rc;
	if (rc && !v->error[0])
		snprintf(v->error, sizeof(v->error), "%s", err.msg);
}

static int read_vteps(const struct topology *topo, const struct isolation_read_opts *o,
		      struct fabric_truth *truth)
{
	for (size_t i = 0; i < topo->n_vteps; i++) {
		const struct topo_vtep *tv = &topo->vteps[i];
		struct truth_vtep *v = fabric_truth_add_vtep(truth, tv->name);

		if (!v)
			return -ENOMEM;
		if (truth_read_kernel(tv->netns, v) == -ENOMEM)
			return -ENOMEM;
		read_frr(tv, o, v);
	}
	return 0;
}

static int read_sm(const struct topology *topo, const struct topo_sm *sm,
		   struct fabric_truth *truth)
{
	struct loom_err err = { 0 };
	struct smt *s = NULL;
	int orc = smt_open(sm, &s, &err);

	if (!orc)
		smt_set_mad_params(s, 200, 2, 16);
	for (size_t n = 0; n < topo->n_nodes; n++) {
		const struct topo_node *node = &topo->nodes[n];

		for (size_t p = 0; p < node->n_hca_ports; p++) {
			const struct topo_hca_port *hp = &node->hca_ports[p];
			struct truth_hca_port *h;
			uint16_t pkeys[TRUTH_PKEYS_MAX];
			int rc;

			if (strcmp(hp->sm, sm->name))
				continue;
			h = fabric_truth_add_hca_port(truth, node->name, hp->name, hp->guid);
			if (!h) {
				smt_close(&s);
				return -ENOMEM;
			}
			if (orc) {
				h->rc = orc;
				snprintf(h->error, sizeof(h->error), "SM %s: %s", sm->name, err.msg);
				continue;
			}
			loom_err_clear(&err);
			rc = smt_read_pkeys(s, hp->guid, pkeys, TRUTH_PKEYS_MAX, &err);
			if (rc < 0) {
				h->rc = rc;
				snprintf(h->error, sizeof(h->error), "%s", err.msg);
				continue;
			}
			for (int k = 0; k < rc; k++)
				if (pkeys[k] & 0x7fff)
					h->pkeys[h->n_pkeys++] = pkeys[k];
		}
	}
	smt_close(&s);
	return 0;
}

static const char *nvml_path(const struct isolation_read_opts *o, const char *node)
{
	for (size_t i = 0; i < o->n_nvml; i++)
		if (!strcmp(o->nvml[i].node, node))
			return o->nvml[i].path;
	return NULL;
}

static int read_gpus(const struct topology *topo, const struct isolation_read_opts *o,
		     struct fabric_truth *truth)
{
	for (size_t n = 0; n < topo->n_nodes; n++) {
		const struct topo_node *node = &topo->nodes[n];
		const char *path = nvml_path(o, node->name);
		struct loom_err err = { 0 };
		struct gpu_nvml *nv = NULL;
		int orc = -ENOENT;

		if (!node->n_gpus)
			continue;
		if (path)
			orc = gpu_nvml_open(path, &nv, &err);
		else
			snprintf(err.msg, sizeof(err.msg), "no NVML configured for node %s",
				 node->name);
		for (size_t g = 0; g < node->n_gpus; g++) {
			struct gpu_observed obs;
			struct truth_gpu *tg;
			int rc = orc;

			if (!node->gpus[g].mig_capable)
				continue;
			tg = fabric_truth_add_gpu(truth, node->name, node->gpus[g].index);
			if (!tg) {
				gpu_nvml_close(&nv);
				return -ENOMEM;
			}
			if (!rc) {
				loom_err_clear(&err);
				rc = gpu_nvml_observe(nv, node->gpus[g].index, &obs, &err);
			}
			if (rc) {
				tg->rc = rc;
				snprintf(tg->error, sizeof(tg->error), "%s", err.msg);
				continue;
			}
			for (size_t k = 0; k < obs.n_gi && k < MIG_INSTANCES_MAX; k++) {
				snprintf(tg->gi[k].profile, sizeof(tg->gi[k].profile), "%s",
					 obs.gi[k].profile ? obs.gi[k].profile->name : "?");
				tg->gi[k].start = obs.gi[k].start;
				tg->n_gi++;
			}
		}
		gpu_nvml_close(&nv);
	}
	return 0;
}

int isolation_read(const struct topology *topo, const struct isolation_read_opts *opts,
		   struct fabric_truth **out)
{
	static const struct isolation_read_opts none = { 0 };
	struct fabric_truth *truth = calloc(1, sizeof(*truth));
	int rc = 0;

	if (!truth)
		return -ENOMEM;
	if (!opts)
		opts = &none;
	if (!opts->no_vteps)
		rc = read_vteps(topo, opts, truth);
	for (size_t i = 0; !rc && !opts->no_hca && i < topo->n_sms; i++)
		rc = read_sm(topo, &topo->sms[i], truth);
	if (!rc && !opts->no_gpus)
		rc = read_gpus(topo, opts, truth);
	if (rc) {
		fabric_truth_free(&truth);
		return rc;
	}
	*out = truth;
	return 0;
}

int isolation_verify(const struct topology *topo, const struct isolation_intent *intent,
		     const struct isolation_read_opts *opts, json_t **report,
		     struct loom_err *err)
{
	struct fabric_truth *truth = NULL;
	struct findings f = { 0 };
	int64_t when = realtime_ns();
	int rc;

	rc = isolation_read(topo, opts, &truth);
	if (!rc)
		rc = isolation_check(topo, intent, truth, &f);
	if (rc >= 0) {
		*report = isolation_report(truth, &f, when);
		if (!*report)
			rc = -ENOMEM;
	}
	if (rc < 0)
		loom_err_set(err, LOOM_E_INTERNAL, "", "isolation check: %s", strerror(-rc));
	findings_release(&f);
	fabric_truth_free(&truth);
	return rc;
}

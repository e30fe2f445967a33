/*
 * targets/gpu.c: the GPU target.  One run opens NVML (again) when needed,
 * then per GPU of the node observe -> diff -> apply -> verify
 * (gpu_nvml_apply); one status item per GPU.  While idle it verifies the
 * layouts, to repair a change made behind loom's back.  The NVML handle
 * belongs to the worker.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/nvml.h"
#include "lib/log.h"
#include "lib/monotime.h"
#include "src/reconcile.h"
#include "targets/gpu.h"

struct gpu_target {
	char nvml_path[LOOM_PATH_MAX];
	struct gpu_nvml_opts nvml_opts;
	struct gpu_nvml *nvml;		/* worker-private */
};

static void gpu_run(struct target *t, const void *want, struct target_result *res)
{
	struct gpu_target *g = reconciler_target_priv(t);
	const struct gpu_desired *w = want;
	const char *name = reconciler_target_name(t);
	int64_t t0 = mono_ns();
	struct loom_err err = { 0 };
	char seg[16];

	if (!g->nvml && gpu_nvml_open(g->nvml_path, &g->nvml, &err)) {
		snprintf(res->error, sizeof(res->error), "no NVML reachable for node %s: %s", name, err.msg);
		g->nvml = NULL;
		for (size_t i = 0; i < w->n_layouts; i++) {
			snprintf(seg, sizeof(seg), "gpu%u", w->layouts[i].index);
			target_result_add(res, "", seg, w->layouts[i].index, "nvml", SEG_ERROR, res->error);
		}
		return;
	}
	for (size_t i = 0; i < w->n_layouts; i++) {
		const struct gpu_layout *l = &w->layouts[i];
		char why[300] = "";
		int ret;

		loom_err_clear(&err);
		snprintf(seg, sizeof(seg), "gpu%u", l->index);
		ret = gpu_nvml_apply(g->nvml, l, &g->nvml_opts, &err);
		if (ret > 0)
			log_info("gpu %s gpu%u: %d NVML operation(s) applied", name, l->index, ret);
		if (ret < 0) {
			snprintf(why, sizeof(why), "%s", err.msg);
			log_warn("gpu %s gpu%u: %s", name, l->index, why);
		}
		target_result_add(res, "", seg, l->index, "nvml",
				  ret >= 0 ? SEG_PROGRAMMED : ret == -EAGAIN ? SEG_PENDING : SEG_ERROR, why);
		if (err.code != LOOM_E_UNAVAILABLE)
			continue;
		/*
		 * NVML lost this GPU, or the driver went away: open it again
		 * and go on with the next GPU, which may be fine.  When it
		 * cannot be opened, every GPU left gets an item saying so.
		 */
		gpu_nvml_close(&g->nvml);
		loom_err_clear(&err);
		if (gpu_nvml_open(g->nvml_path, &g->nvml, &err)) {
			g->nvml = NULL;
			snprintf(why, sizeof(why), "not applied: NVML went away while gpu%u was applied "
				 "and cannot be opened again: %s", l->index, err.msg);
			for (size_t k = i + 1; k < w->n_layouts; k++) {
				snprintf(seg, sizeof(seg), "gpu%u", w->layouts[k].index);
				target_result_add(res, "", seg, w->layouts[k].index, "nvml", SEG_ERROR, why);
			}
			break;
		}
	}
	res->phase_ms[0] = (double)(mono_ns() - t0) / 1e6;
}

/* Did someone change a GPU's layout behind loom's back? */
static bool gpu_idle(struct target *t, bool run_due)
{
	struct gpu_target *g = reconciler_target_priv(t);
	struct gpu_desired *w;
	bool drift = false;

	if (run_due)
		return false;
	w = reconciler_target_want(t);
	if (!w || !g->nvml) {
		gpu_desired_free(&w);
		return false;
	}
	for (size_t i = 0; i < w->n_layouts && !drift; i++) {
		struct loom_err err = { 0 };

		drift = gpu_nvml_verify(g->nvml, &w->layouts[i], &err) != 0;
		if (drift)
			log_info("gpu %s gpu%u: drift: %s; repairing", reconciler_target_name(t), w->layouts[i].index,
				 err.msg);
	}
	gpu_desired_free(&w);
	return drift;
}

static void gpu_close(void *priv)
{
	struct gpu_target *g = priv;

	gpu_nvml_close(&g->nvml);
	free(g);
}

static const struct target_ops gpu_ops = {
	.kind = "gpu",
	.phases = { "apply", "-", "verify" },
	.node_local = true,
	.slice = &target_slice_gpu,
	.run = gpu_run,
	.idle = gpu_idle,
	.close = gpu_close,
};

static int gpu_add(struct reconciler *r, const struct topology *topo, const struct reconciler_opts *opts)
{
	for (size_t i = 0; opts && !opts->null_targets && i < opts->n_gpu_nodes; i++) {
		const struct topo_node *node = topology_node(topo, opts->gpu_nodes[i].node);
		struct gpu_target *g;

		if (!node) {
			struct loom_err e = { 0 };

			/* Another instance's node: its GPUs are that instance's to drive. */
			if (topology_foreign(topo, TOPO_NODE, opts->gpu_nodes[i].node, "", &e))
				log_warn("gpu.nvml.%s: %s; ignored", opts->gpu_nodes[i].node, e.msg);
			else
				log_warn("gpu.nvml.%s: no such node in the topology; ignored", opts->gpu_nodes[i].node);
			continue;
		}
		g = calloc(1, sizeof(*g));
		if (!g)
			return -ENOMEM;
		snprintf(g->nvml_path, sizeof(g->nvml_path), "%s", opts->gpu_nodes[i].path);
		g->nvml_opts.allow_mig_mode = opts->allow_mig_mode;
		if (reconciler_target_add(r, node->name, &gpu_ops, g, NULL))
			return -ENOMEM;
	}
	return 0;
}

const struct target_kind gpu_target_kind = { .name = "gpu", .add = gpu_add };

/* The GPU target of @node (lock held), NULL when none: this kind's, or any
 * other that takes a node's GPU slice (in cluster mode, the remote one its
 * agent reports through). */
static const struct target *gpu_target_find(const struct reconciler *r, const char *node)
{
	for (size_t i = 0; i < reconciler_n_targets(r); i++) {
		const struct target *t = reconciler_target_at(r, i);

		if (reconciler_target_ops(t)->slice == &target_slice_gpu && strcmp(reconciler_target_name(t), node) == 0)
			return t;
	}
	return NULL;
}

json_t *reconciler_gpu_status(const struct reconciler *r, const char *node, unsigned int index)
{
	const struct target *t;
	json_t *out = NULL;

	reconciler_lock(r);
	t = gpu_target_find(r, node);
	for (size_t k = 0; t && k < reconciler_target_n_items(t) && !out; k++)
		if (reconciler_target_item(t, k)->id == index)
			out = reconciler_item_json(t, reconciler_target_item(t, k));
	if (t && !out) {
		const char *error = reconciler_target_error(t);

		out = json_pack("{s:s, s:s, s:s, s:s}", "target", reconciler_target_name(t), "kind", "gpu", "state",
				"pending", "reason", error[0] ? error : "not run yet");
	} else if (t && reconciler_target_behind(t)) {
		json_object_set_new(out, "state", json_string("pending"));
		json_object_set_new(out, "reason", json_string("a newer layout is being applied"));
	}
	reconciler_unlock(r);
	return out;
}

bool reconciler_gpu_managed(const struct reconciler *r, const char *node)
{
	return gpu_target_find(r, node) != NULL;
}

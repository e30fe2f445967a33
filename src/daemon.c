/*
 * src/daemon.c: bringing a loomd up and down, and the reloads that keep
 * its in-memory model and topology in step with the store and the file.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "src/daemon.h"
#include "src/reconcile.h"
#include "src/verify.h"
#include "tenancy/compile.h"
#include "tenancy/mig.h"

int loomd_model_reload(struct loomd *d)
{
	struct loom_err err = { 0 };

	model_clear(&d->model);
	if (store_load_model(d->store, &d->model, &err)) {
		log_err("cannot reload the model from the store: %s", err.msg);
		return -EIO;
	}
	return 0;
}

/*
 * The stored MIG instances -> the GPU targets' layouts in @des.  Inside a
 * failed batch's rollback the rows are those committed; without them the
 * GPU targets keep what they have.
 */
static void compile_mig(struct loomd *d, struct desired *des)
{
	struct gpu_inst_rec *recs = NULL;
	struct mig_placement *inst;
	size_t n = 0;

	if (store_gpu_list(d->store, &recs, &n)) {
		log_err("cannot read the MIG instances: %s", store_errmsg(d->store));
		return;
	}
	inst = calloc(n ? n : 1, sizeof(*inst));
	for (size_t i = 0; inst && i < n; i++) {
		snprintf(inst[i].node, sizeof(inst[i].node), "%s", recs[i].node);
		snprintf(inst[i].tenant, sizeof(inst[i].tenant), "%s", recs[i].tenant);
		snprintf(inst[i].profile, sizeof(inst[i].profile), "%s", recs[i].profile);
		inst[i].gpu = recs[i].gpu;
		inst[i].start = recs[i].start;
	}
	if (!inst || compile_gpus(d->topo, inst, n, des))
		log_err("compile failed: out of memory");
	free(inst);
	free(recs);
}

uint64_t loomd_post(struct loomd *d)
{
	struct desired *des = NULL;
	uint64_t gen;

	d->model_changed = false;
	if (!d->rec)
		return 0;
	if (compile(&d->model, d->topo, &des)) {
		log_err("compile failed: out of memory");
		return 0;
	}
	compile_mig(d, des);
	gen = reconciler_post(d->rec, des);
	desired_free(&des);
	d->posted_gen = gen;
	/*
	 * Pending removals (this batch's, or found in the store at start) are
	 * verified by this generation.  An older one still unconfirmed keeps
	 * its generation: posted_gen moves on, and the confirmation then waits
	 * for every target to converge.
	 */
	if (d->life_pending && !d->life_gen)
		d->life_gen = gen;
	d->life_pending = false;
	return gen;
}

/*
 * An ID released by a deleted segment stays held (never handed to another
 * tenant) until every target has converged on a desired state without it.
 */
void loomd_release_holds(struct loomd *d)
{
	if (!d->rec || d->model.n_holds == 0 || d->in_txn || !reconciler_converged(d->rec))
		return;
	if (store_begin(d->store))
		return;
	for (size_t i = 0; i < d->model.n_holds; i++)
		if (store_hold_delete(d->store, d->model.holds[i].type, d->model.holds[i].id)) {
			store_rollback(d->store);
			return;
		}
	if (store_commit(d->store)) {
		store_rollback(d->store);
		return;
	}
	while (d->model.n_holds > 0) {
		struct id_hold h = d->model.holds[d->model.n_holds - 1];

		log_debug(LOG_SUB_RECONCILE, "%s %u released by %s: no target carries it any more",
			  h.type == SEG_ETHERNET ? "VNI" : "P_Key", (unsigned)h.id, h.tenant);
		model_hold_release(&d->model, h.type, h.id);
	}
}

void loomd_lifecycle_confirm(struct loomd *d)
{
	struct node_life *nodes = NULL;
	size_t n = 0;
	bool any = false, ok = false;

	if (!d->rec || d->in_txn || !d->life_gen)
		return;
	/*
	 * The generation that removed the nodes ran on every target it
	 * changed, without error on what it changed; when a newer one was
	 * posted since, wait for all targets to converge instead.
	 */
	if (d->life_gen == d->posted_gen) {
		if (!reconciler_done(d->rec, d->life_gen, &ok) || !ok)
			return;
	} else if (!reconciler_converged(d->rec)) {
		return;
	}
	if (store_node_list(d->store, &nodes, &n))
		return;
	for (size_t i = 0; i < n; i++)
		any |= nodes[i].pending;
	if (!any || store_begin(d->store))
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct node_life *nl = &nodes[i];
		struct lifecycle_step step;
		struct loom_err err = { 0 };
		struct node_event_rec ev = { 0 };

		if (!nl->pending)
			continue;
		if (lifecycle_confirm(nl->state, nl->goal, &step, &err)) {
			log_err("node %s: %s", nl->name, err.msg);
			continue;
		}
		ev.time_ns = now_realtime_ns();
		ev.node = nl->name;
		ev.from = nl->state;
		ev.to = step.to;
		ev.event = "confirm";
		ev.reason = "every target verified the node out of its tenant segments";
		ev.uid = getuid();
		nl->state = step.to;
		nl->pending = false;
		nl->since_ns = ev.time_ns;
		if (store_node_put(d->store, nl) || store_node_event_append(d->store, &ev)) {
			log_err("node %s: cannot store the confirmation: %s", nl->name, store_errmsg(d->store));
			store_rollback(d->store);
			goto out;
		}
		log_info("node %s: removal verified on every target, now %s", nl->name,
			 node_state_name(step.to));
	}
	if (store_commit(d->store))
		store_rollback(d->store);
	else
		d->life_gen = 0;
out:
	if (!any)
		d->life_gen = 0;
	free(nodes);
}

/* Every stored MIG instance must still find its node and a MIG-capable GPU of a model with its profile. */
static int gpu_check_topology(struct loomd *d, const struct topology *topo, struct loom_err *err)
{
	struct gpu_inst_rec *recs = NULL;
	size_t n = 0;
	int ret = 0;

	if (store_gpu_list(d->store, &recs, &n))
		return loom_err_set(err, LOOM_E_STORE, "", "cannot read the MIG instances: %s",
				    store_errmsg(d->store));
	for (size_t i = 0; i < n && !ret; i++) {
		const struct topo_node *node = topology_node(topo, recs[i].node);
		const struct topo_gpu *g = NULL;

		for (size_t k = 0; node && k < node->n_gpus; k++)
			if (node->gpus[k].index == recs[i].gpu)
				g = &node->gpus[k];
		if (!g || !g->mig_capable || !mig_profile_find(mig_model_find(g->model), recs[i].profile))
			ret = loom_err_set(err, LOOM_E_IN_USE, "nodes",
					   "tenant %s holds MIG instance %s@%u on %s gpu %u, which the new topology "
					   "%s; release it first (loomctl gpu release)", recs[i].tenant,
					   recs[i].profile, recs[i].start, recs[i].node, recs[i].gpu,
					   !node ? "does not have (no such node)" : !g ? "does not have (no such GPU)"
					   : "no longer offers (not MIG capable, or another model)");
	}
	free(recs);
	return ret;
}

static void reconciler_opts_fill(const struct loomd *d, struct reconciler_opts *opts)
{
	*opts = (struct reconciler_opts){ 0 };
	opts->gpu_nodes = d->cfg.nvml;
	opts->n_gpu_nodes = d->cfg.n_nvml;
	opts->allow_mig_mode = d->cfg.gpu_allow_mig_mode;
	opts->frr_apply = strcmp(d->cfg.frr_apply, "vty") == 0 ? FRR_APPLY_VTY
			  : strcmp(d->cfg.frr_apply, "vtysh") == 0 ? FRR_APPLY_FILE
			  : FRR_APPLY_SESSION;
}

int loomd_topology_reload(struct loomd *d, struct loom_err *err)
{
	struct topology *topo = NULL;
	struct reconciler_opts opts;
	bool had_rec;

	if (topology_load_file(d->cfg.topology, &topo, err))
		return -EINVAL;
	/* A new file must still carry every node and port that intent uses. */
	if (model_check_topology(&d->model, topo, err) || gpu_check_topology(d, topo, err)) {
		topology_free(&topo);
		return -EINVAL;
	}
	/* The workers read the old topology until they are stopped. */
	had_rec = d->rec != NULL;
	if (had_rec)
		reconciler_stop(&d->rec);
	topology_free(&d->topo);
	d->topo = topo;
	if (had_rec) {
		/* Targets come and go with the topology: start them anew. */
		reconciler_opts_fill(d, &opts);
		if (reconciler_start(d->topo, &opts, &d->rec) == 0) {
			struct loom_err e2 = { 0 };

			reconciler_watch_hca(d->rec, d->cfg.counter_interval_s);
			if (server_add_reconciler(d, &e2))
				log_err("%s", e2.msg);
			loomd_post(d);
		} else {
			log_err("cannot restart the reconciler");
		}
	}
	return 0;
}

/*
 * The hold-downs still running, as api_fault_apply stored them: a restart
 * inside one does not let the same signal act again.  A mark that cannot
 * be read is logged and skipped (a hold-down only ever holds back).
 */
static void faults_restore(struct loomd *d)
{
	int64_t now = now_realtime_ns() / 1000000000;
	json_t *all = NULL, *v;
	const char *key;
	size_t n = 0;

	if (store_kv_list(d->store, "fault.hold.", &all)) {
		log_warn("cannot read the fault hold-downs: %s", store_errmsg(d->store));
		return;
	}
	json_object_foreach(all, key, v) {
		json_t *j = json_loads(json_string_value(v), 0, NULL);
		int r = j ? fault_history_restore(&d->faults, j, d->fault_policy.hold_down_s, now) : -EINVAL;

		if (r < 0)
			log_warn("fault hold-down %s: %s; ignored", key,
				 r == -ENOMEM ? "out of memory" : "not a hold-down record");
		n += r > 0;
		json_decref(j);
	}
	json_decref(all);
	if (n)
		log_info("%zu fault hold-down%s still running after the restart", n, n == 1 ? "" : "s");
}

int loomd_open(struct loomd *d, bool check_only, struct loom_err *err)
{
	struct reconciler_opts opts;
	int ret;

	d->rdma_fd = -1;
	d->started_ns = now_realtime_ns();
	d->fault_policy = d->cfg.fault;
	d->rdma = d->cfg.rdma;
	model_init(&d->model, &d->cfg.pools);
	ret = topology_load_file(d->cfg.topology, &d->topo, err);
	if (ret)
		return ret;
	ret = store_open(d->cfg.database, &d->store, err);
	if (ret)
		return ret;
	ret = store_load_model(d->store, &d->model, err);
	if (ret)
		return ret;
	ret = model_check_topology(&d->model, d->topo, err);
	if (ret)
		return ret;
	if (loomd_replace_load(d))
		return loom_err_set(err, LOOM_E_STORE, "", "cannot read the replacements in progress: %s",
				    store_errmsg(d->store));
	faults_restore(d);
	if (check_only)
		return 0;
	ret = rdma_jobs_open(d);
	if (ret)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "eventfd: %s", strerror(-ret));
	ret = server_open(d, err);
	if (ret || !d->cfg.reconcile)
		return ret;
	reconciler_opts_fill(d, &opts);
	ret = reconciler_start(d->topo, &opts, &d->rec);
	if (ret)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "cannot start the reconciler: %s", strerror(-ret));
	reconciler_watch_hca(d->rec, d->cfg.counter_interval_s);
	/* The first run repairs whatever a crash or an operator left behind,
	 * and confirms removals a restart interrupted. */
	d->life_pending = true;
	loomd_post(d);
	return server_add_reconciler(d, err);
}

void loomd_close(struct loomd *d)
{
	rdma_jobs_close(d);
	reconciler_stop(&d->rec);
	server_close(d);
	model_clear(&d->model);
	fault_history_release(&d->faults);
	loomd_replace_release(d);
	topology_free(&d->topo);
	store_close(&d->store);
}

/*
 * src/daemon.c: loomd's core (src/daemon.h): the model kept in step with
 * the store, the desired state posted, the topology reloaded, the hook
 * lists, and the operator's P_Keys kept out of the pool.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fabric/partitions.h"
#include "lib/log.h"
#include "lib/monotime.h"
#include "src/daemon.h"
#include "src/ha.h"
#include "src/readiness.h"
#include "src/reconcile.h"
#include "tenancy/compile.h"
#include "tenancy/mig.h"

int loomd_hook_add(struct loomd *d, enum loomd_hook point, loomd_hook_fn *fn)
{
	for (size_t i = 0; i < LOOMD_HOOKS_PER_POINT; i++)
		if (!d->hooks[point][i]) {
			d->hooks[point][i] = fn;
			return 0;
		}
	return -ENOSPC;
}

void loomd_hook_call(struct loomd *d, enum loomd_hook point)
{
	/* With cluster.ha, what must happen once happens on the leader only. */
	if (point != LOOMD_HOOK_RECONCILER && !loomd_ha_leader(d))
		return;
	for (size_t i = 0; i < LOOMD_HOOKS_PER_POINT && d->hooks[point][i]; i++)
		d->hooks[point][i](d);
}

int loomd_drift_hook_add(struct loomd *d, loomd_drift_fn *fn)
{
	for (size_t i = 0; i < LOOMD_HOOKS_PER_POINT; i++)
		if (!d->drift_hooks[i]) {
			d->drift_hooks[i] = fn;
			return 0;
		}
	return -ENOSPC;
}

void loomd_drift_hook_call(struct loomd *d, size_t index)
{
	for (size_t i = 0; i < LOOMD_HOOKS_PER_POINT && d->drift_hooks[i]; i++)
		d->drift_hooks[i](d, index);
}

int loomd_fd_add(struct loomd *d, int fd, loomd_hook_fn *fn)
{
	if (d->n_fds >= LOOMD_FDS_MAX)
		return -ENOSPC;
	d->fds[d->n_fds].fd = fd;
	d->fds[d->n_fds].fn = fn;
	d->n_fds++;
	return 0;
}

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
	loomd_ha_posted(d, gen);
	/*
	 * Pending removals (this batch's, or found in the store at start) are
	 * verified by this generation.  An older one still unconfirmed keeps
	 * its generation: posted_gen moves on, and the confirmation then waits
	 * for the targets holding the nodes' ports to converge.
	 */
	if (d->life_pending && !d->life_gen)
		d->life_gen = gen;
	d->life_pending = false;
	return gen;
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

static void reconciler_opts_fill(const struct loomd *d, struct reconciler_opts *opts, char *fence_key,
				 size_t fence_len)
{
	*opts = (struct reconciler_opts){ 0 };
	opts->gpu_nodes = d->cfg.nvml;
	opts->n_gpu_nodes = d->cfg.n_nvml;
	opts->allow_mig_mode = d->cfg.gpu_allow_mig_mode;
	opts->frr_apply = strcmp(d->cfg.frr_apply, "vty") == 0 ? FRR_APPLY_VTY
			  : strcmp(d->cfg.frr_apply, "vtysh") == 0 ? FRR_APPLY_FILE
			  : FRR_APPLY_SESSION;
	if (d->cfg.cluster_etcd[0]) {
		/* Cluster mode: every target is a remote one, driven by its agent. */
		opts->cluster_etcd = d->cfg.cluster_etcd;
		opts->cluster_prefix = d->cfg.cluster_prefix;
		opts->cluster_lease_ttl_s = d->cfg.cluster_lease_ttl_s;
		opts->null_targets = true;
		if (d->ha && loomd_ha_fence(d, fence_key, fence_len, &opts->fence_rev) == 0)
			opts->fence_key = fence_key;
	}
}

int loomd_reconciler_start(struct loomd *d)
{
	struct reconciler_opts opts;
	char fence_key[256];
	int ret;

	reconciler_opts_fill(d, &opts, fence_key, sizeof(fence_key));
	ret = reconciler_start(d->topo, &opts, &d->rec);
	if (ret == 0) {
		reconciler_watch_hca(d->rec, d->cfg.counter_interval_s);
		loomd_readiness_started(d);
	}
	return ret;
}

int loomd_topology_read(const struct loom_config *cfg, struct topology **out, struct loom_err *err)
{
	struct topology *topo = NULL;
	int ret = topology_load_file(cfg->topology, &topo, err);

	if (!ret)
		ret = topology_delegate(topo, cfg->instance, err);
	if (!ret)
		ret = topology_ranges_check(topo, cfg->pools.vni_min, cfg->pools.vni_max, cfg->pools.pkey_min,
					    cfg->pools.pkey_max, err);
	if (ret) {
		topology_free(&topo);
		return ret;
	}
	*out = topo;
	return 0;
}

int loomd_topology_reload(struct loomd *d, struct loom_err *err)
{
	struct topology *topo = NULL;
	bool had_rec;

	if (loomd_topology_read(&d->cfg, &topo, err))
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
		if (loomd_reconciler_start(d) == 0) {
			loomd_hook_call(d, LOOMD_HOOK_RECONCILER);
			loomd_post(d);
		} else {
			log_err("cannot restart the reconciler");
		}
	}
	return 0;
}

/* What a partitions file looked like when it was last read. */
struct pkeys_stamp {
	char path[LOOM_PATH_MAX];
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

static void stamp_take(const char *path, struct pkeys_stamp *s)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	snprintf(s->path, sizeof(s->path), "%s", path);
	if (stat(path, &st))
		return;
	s->exists = true;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->size = st.st_size;
	s->mtime = st.st_mtim;
}

static bool stamp_same(const struct pkeys_stamp *a, const struct pkeys_stamp *b)
{
	return !strcmp(a->path, b->path) && a->exists == b->exists && a->dev == b->dev &&
	       a->ino == b->ino && a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Appends the operator's P_Keys of one file to *list; 0 or -errno with @err. */
static int operator_pkeys_read(const char *path, struct id_reserved **list, size_t *n,
			       struct loom_err *err)
{
	struct partitions_file *f = NULL;
	int ret = partitions_file_read(path, &f, err);

	if (ret)
		return ret;
	for (size_t j = 0; j < f->n_foreign; j++) {
		const struct partitions_found *p = &f->foreign[j];
		struct id_reserved *grown;

		if (p->pkey == 0 || p->pkey == 0x7fff)
			continue;	/* none, or Default: never in a pool */
		grown = realloc(*list, (*n + 1) * sizeof(**list));
		if (!grown) {
			ret = -ENOMEM;
			break;
		}
		*list = grown;
		memset(&grown[*n], 0, sizeof(grown[*n]));
		grown[*n].type = SEG_INFINIBAND;
		grown[*n].id = p->pkey;
		snprintf(grown[*n].owner, sizeof(grown[*n].owner), "%s", p->name);
		snprintf(grown[*n].where, sizeof(grown[*n].where), "%s", path);
		(*n)++;
	}
	partitions_file_free(&f);
	return ret;
}

void loomd_operator_pkeys_refresh(struct loomd *d)
{
	size_t n_sms = d->topo ? d->topo->n_sms : 0;
	struct pkeys_stamp *now = calloc(n_sms ? n_sms : 1, sizeof(*now));
	struct id_reserved *list = NULL;
	size_t n = 0;
	bool same = now && d->pkeys_stamps && d->n_pkeys_stamps == n_sms;

	if (!now) {
		log_warn("operator's P_Keys: out of memory; keeping what was read before");
		return;
	}
	for (size_t i = 0; i < n_sms; i++) {
		stamp_take(d->topo->sms[i].partitions_file, &now[i]);
		same = same && stamp_same(&now[i], &d->pkeys_stamps[i]);
	}
	if (same) {
		free(now);
		return;
	}
	for (size_t i = 0; i < n_sms; i++) {
		struct loom_err err = { 0 };
		int ret = operator_pkeys_read(d->topo->sms[i].partitions_file, &list, &n, &err);

		if (ret) {
			log_warn("operator's P_Keys: cannot read %s (%s); keeping what was read before",
				 d->topo->sms[i].partitions_file, err.msg[0] ? err.msg : strerror(-ret));
			free(list);
			free(now);
			return;
		}
	}
	model_reserved_sort(list, n);
	model_reserved_set(&d->model, list, n);
	if (n != d->n_operator_pkeys ||
	    (n && memcmp(list, d->operator_pkeys, n * sizeof(*list))))
		log_info("%zu P_Key%s used by the operator's own partitions: loom will not allocate %s",
			 n, n == 1 ? "" : "s", n == 1 ? "it" : "them");
	free(d->operator_pkeys);
	d->operator_pkeys = list;
	d->n_operator_pkeys = n;
	free(d->pkeys_stamps);
	d->pkeys_stamps = now;
	d->n_pkeys_stamps = n_sms;
}

json_t *loomd_operator_pkeys_json(const struct loomd *d)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < d->n_operator_pkeys; i++) {
		const struct id_reserved *r = &d->operator_pkeys[i];
		const struct segment *s = model_segment_by_pkey(&d->model, (uint16_t)r->id);
		char pkey[8];
		json_t *o;

		snprintf(pkey, sizeof(pkey), "0x%04x", r->id);
		o = json_pack("{s:s, s:s, s:s}", "pkey", pkey, "partition", r->owner, "file", r->where);
		if (o && s) {
			char full[2 * LOOM_NAME_MAX + 1];

			snprintf(full, sizeof(full), "%s/%s", s->tenant, s->name);
			json_object_set_new(o, "segment", json_string(full));
		}
		json_array_append_new(a, o);
	}
	return a;
}

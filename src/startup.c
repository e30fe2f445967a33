/*
 * src/startup.c: bringing a loomd up and down (src/startup.h): the
 * topology, the store and the model; the replacements and fault
 * hold-downs a restart must carry on; the event loop, the reconciler, and
 * the hooks through which the loop reaches everything else.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/etcd.h"
#include "lib/log.h"
#include "lib/monotime.h"
#include "src/check.h"
#include "src/converge.h"
#include "src/ha.h"
#include "src/isolation_run.h"
#include "src/metrics.h"
#include "src/readiness.h"
#include "src/reconcile.h"
#include "src/replacement.h"
#include "src/server.h"
#include "src/startup.h"
#include "src/verify.h"
#include "src/watch.h"

/*
 * The hold-downs still running, as api_fault_apply stored them: a restart
 * inside one does not let the same signal act again.  A mark that cannot
 * be read is logged and skipped (a hold-down only ever holds back).
 */
void loomd_faults_restore(struct loomd *d)
{
	int64_t now = realtime_ns() / 1000000000;
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

/*
 * Which instance's state the database holds: recorded the first time a
 * loomd of a delegating topology opens it, and checked at every start, so
 * that a loomd.conf naming the wrong instance (or two instances pointed
 * at one file) is refused before it programs anything.
 */
static int instance_mark(struct loomd *d, bool check_only, struct loom_err *err)
{
	char *mark = NULL;
	int ret;

	if (store_kv_get(d->store, "instance", &mark))
		return loom_err_set(err, LOOM_E_STORE, "", "cannot read the database's instance: %s",
				    store_errmsg(d->store));
	if (mark && strcmp(mark, d->cfg.instance)) {
		loom_err_set(err, LOOM_E_CONFIG, "instance", "the database %s holds the state of loom instance "
			     "%s, but loomd.conf says instance = %s: each instance has its own database",
			     d->cfg.database, mark, d->cfg.instance);
		free(mark);
		return -EINVAL;
	}
	ret = 0;
	if (!mark && d->topo->n_delegations && !check_only && store_kv_put(d->store, "instance", d->cfg.instance))
		ret = loom_err_set(err, LOOM_E_STORE, "", "cannot record the database's instance: %s",
				   store_errmsg(d->store));
	free(mark);
	return ret;
}

/*
 * The same in cluster mode, for the etcd prefix: two instances publishing
 * under one prefix would overwrite each other's slices.  PREFIX/instance
 * is created once (a transaction, so that two instances starting together
 * cannot both win).  etcd out of reach is no reason not to start (the
 * agents keep what they have); it is logged, and the check is made at the
 * next start.
 */
static int cluster_instance_mark(struct loomd *d, bool check_only, struct loom_err *err)
{
	char key[sizeof(d->cfg.cluster_prefix) + 16];
	struct loom_err e = { 0 };
	struct etcd_kv kv = { 0 };
	struct etcd *etcd = NULL;
	bool found = false, created = false;
	int ret = 0;

	if (!d->cfg.cluster_etcd[0] || !d->topo->n_delegations)
		return 0;
	snprintf(key, sizeof(key), "%s/instance", d->cfg.cluster_prefix);
	if (etcd_open(d->cfg.cluster_etcd, 3000, &etcd, &e))
		goto unreachable;
	if (!check_only) {
		struct etcd_cmp cmp = { .key = key, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL };
		struct etcd_op put = { .type = ETCD_OP_PUT, .key = key, .value = d->cfg.instance,
				       .len = strlen(d->cfg.instance) };

		if (etcd_txn(etcd, &cmp, 1, &put, 1, NULL, 0, &created, NULL, &e))
			goto unreachable;
	}
	if (!created && etcd_get(etcd, key, &kv, &found, NULL, &e))
		goto unreachable;
	if (found && strcmp(kv.value, d->cfg.instance))
		ret = loom_err_set(err, LOOM_E_CONFIG, "cluster.prefix", "etcd's %s belongs to loom instance %s, "
				   "but loomd.conf says instance = %s: each instance needs its own "
				   "cluster.prefix (or etcd cluster)", d->cfg.cluster_prefix, kv.value,
				   d->cfg.instance);
	goto out;
unreachable:
	log_warn("cannot check which instance %s belongs to: %s", d->cfg.cluster_prefix, e.msg);
out:
	etcd_kv_clear(&kv);
	etcd_close(&etcd);
	return ret;
}

static void on_new_reconciler(struct loomd *d)
{
	struct loom_err err = { 0 };

	if (server_add_reconciler(d, &err))
		log_err("%s", err.msg);
}

/*
 * Who reacts to what the event loop sees, in the order they run.  Once per
 * loop iteration, after its batch's commit (and before a waiter hears): a
 * removal the targets verified is confirmed, and a replacement moves on.
 * When the targets report: the HCA watcher reads their samples, and the
 * agents' signals are read (cluster mode); at the end of that iteration,
 * once the waiters were answered, released IDs are let go.  When a VTEP's
 * drift socket was read: the carrier watcher.
 */
static int hooks_register(struct loomd *d)
{
	static const struct {
		enum loomd_hook point;
		loomd_hook_fn *fn;
	} hooks[] = {
		{ LOOMD_HOOK_START, loomd_lifecycle_confirm },
		{ LOOMD_HOOK_START, loomd_replace_drive },
		{ LOOMD_HOOK_START, rdma_jobs_resume },
		{ LOOMD_HOOK_COMMITTED, loomd_lifecycle_confirm },
		{ LOOMD_HOOK_COMMITTED, loomd_replace_drive },
		{ LOOMD_HOOK_REPORTED, loomd_watch_hca },
		{ LOOMD_HOOK_REPORTED, loomd_watch_remote },
		{ LOOMD_HOOK_CONVERGED, loomd_release_holds },
		{ LOOMD_HOOK_RECONCILER, on_new_reconciler },
	};
	int ret = loomd_drift_hook_add(d, loomd_watch_carrier);

	for (size_t i = 0; !ret && i < sizeof(hooks) / sizeof(hooks[0]); i++)
		ret = loomd_hook_add(d, hooks[i].point, hooks[i].fn);
	return ret;
}

int loomd_open(struct loomd *d, bool check_only, struct loom_err *err)
{
	int ret;

	/* No descriptor yet: a check (no socket) must close and unlink nothing. */
	d->rdma_fd = d->epfd = d->listen_fd = d->signal_fd = d->resync_fd = d->watchdog_fd = -1;
	d->started_ns = realtime_ns();
	d->fault_policy = d->cfg.fault;
	d->rdma = d->cfg.rdma;
	model_init(&d->model, &d->cfg.pools);
	ret = loomd_topology_read(&d->cfg, &d->topo, err);
	if (ret)
		return ret;
	if (check_only) {
		d->check_db = calloc(1, sizeof(*d->check_db));
		if (!d->check_db)
			return loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
		ret = db_snapshot_take(d->cfg.database, d->check_db, err);
		if (ret)
			return ret;
		ret = store_open(d->check_db->path, &d->store, err);
		db_snapshot_err_rename(d->check_db, d->cfg.database, err);
	} else {
		ret = store_open(d->cfg.database, &d->store, err);
	}
	if (ret)
		return ret;
	/* Both marks checked before either is written. */
	ret = instance_mark(d, true, err);
	if (!ret)
		ret = cluster_instance_mark(d, check_only, err);
	if (!ret)
		ret = instance_mark(d, check_only, err);
	if (ret)
		return ret;
	/* cluster.ha: the file is a replica of the cluster's log, brought up to its end. */
	if (!check_only) {
		ret = loomd_ha_open(d, err);
		if (ret)
			return ret;
	}
	ret = store_load_model(d->store, &d->model, err);
	if (ret)
		return ret;
	ret = model_check_topology(&d->model, d->topo, err);
	if (ret)
		return ret;
	loomd_operator_pkeys_refresh(d);
	if (loomd_replace_load(d))
		return loom_err_set(err, LOOM_E_STORE, "", "cannot read the replacements in progress: %s",
				    store_errmsg(d->store));
	loomd_faults_restore(d);
	if (check_only)
		return 0;
	ret = hooks_register(d);
	if (ret)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "hooks: %s", strerror(-ret));
	ret = rdma_jobs_open(d);
	if (!ret)
		ret = loomd_fd_add(d, rdma_jobs_fd(d), rdma_jobs_collect);
	if (!ret)
		ret = loomd_isolation_open(d);
	if (ret)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "eventfd: %s", strerror(-ret));
	ret = loomd_metrics_open(d, err);
	if (!ret)
		ret = loomd_readiness_open(d, err);
	if (ret)
		return ret;
	ret = server_open(d, err);
	/* With cluster.ha only the leader drives the targets (src/ha.c starts them). */
	if (ret || !d->cfg.reconcile || d->ha)
		return ret;
	ret = loomd_reconciler_start(d);
	if (ret)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "cannot start the reconciler: %s", strerror(-ret));
	/* The first run repairs whatever a crash or an operator left behind,
	 * and confirms removals a restart interrupted. */
	d->life_pending = true;
	loomd_post(d);
	return server_add_reconciler(d, err);
}

void loomd_close(struct loomd *d)
{
	/* cluster.ha: resign first, so that another leads at once. */
	loomd_ha_close(d);
	if (!d->check_db)
		loomd_readiness_close(d);
	/* The listener reads nothing of loomd's; it goes first all the same. */
	loomd_metrics_close(d);
	rdma_jobs_close(d);
	loomd_isolation_close(d);
	reconciler_stop(&d->rec);
	server_close(d);
	model_clear(&d->model);
	model_reserved_set(&d->model, NULL, 0);
	free(d->operator_pkeys);
	d->operator_pkeys = NULL;
	d->n_operator_pkeys = 0;
	free(d->pkeys_stamps);
	d->pkeys_stamps = NULL;
	d->n_pkeys_stamps = 0;
	fault_history_release(&d->faults);
	json_decref(d->signals_applied);
	d->signals_applied = NULL;
	loomd_replace_release(d);
	topology_free(&d->topo);
	store_close(&d->store);
	if (d->check_db) {
		db_snapshot_drop(d->check_db);
		free(d->check_db);
		d->check_db = NULL;
	}
}

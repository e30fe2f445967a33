/*
 * src/daemon.c: bringing a loomd up and down, and the reloads that keep
 * its in-memory model and topology in step with the store and the file.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "lib/log.h"
#include "src/daemon.h"

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

int loomd_topology_reload(struct loomd *d, struct loom_err *err)
{
	struct topology *topo = NULL;

	if (topology_load_file(d->cfg.topology, &topo, err))
		return -EINVAL;
	/* A new file must still carry every node and port that intent uses. */
	if (model_check_topology(&d->model, topo, err)) {
		topology_free(&topo);
		return -EINVAL;
	}
	topology_free(&d->topo);
	d->topo = topo;
	return 0;
}

int loomd_open(struct loomd *d, bool check_only, struct loom_err *err)
{
	int ret;

	d->started_ns = now_realtime_ns();
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
	if (check_only)
		return 0;
	return server_open(d, err);
}

void loomd_close(struct loomd *d)
{
	server_close(d);
	model_clear(&d->model);
	topology_free(&d->topo);
	store_close(&d->store);
}

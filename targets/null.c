/*
 * targets/null.c: the null target (targets/null.h).  It takes a VTEP's or
 * a subnet manager's slice, records what it was asked and reports every
 * item programmed, in no time: what is left of a run is the scheduler's
 * own work (slices, touches, status), which is what its unit test and the
 * scale benchmarks measure.  The smallest complete kind: a model for a new
 * one.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "src/reconcile.h"
#include "targets/null.h"

struct null_target {
	/* Under reconciler_lock: what the last run was asked. */
	unsigned long runs;
	uint32_t *ids;
	size_t n_ids;
};

/* Records a run's IDs (the worker's; taken under the lock). */
static void null_record(struct target *t, uint32_t *ids, size_t n)
{
	struct null_target *nt = reconciler_target_priv(t);
	struct reconciler *r = reconciler_target_owner(t);

	reconciler_lock(r);
	free(nt->ids);
	nt->ids = ids;
	nt->n_ids = n;
	nt->runs++;
	reconciler_unlock(r);
}

static void null_vtep_run(struct target *t, const void *want, struct target_result *res)
{
	const struct vtep_desired *d = want;
	uint32_t *ids = calloc(d->n_vnis ? d->n_vnis : 1, sizeof(*ids));

	for (size_t i = 0; i < d->n_vnis; i++) {
		const struct vtep_vni *v = &d->vnis[i];

		if (ids)
			ids[i] = v->vni;
		target_result_add(res, v->tenant, v->segment, v->vni, "null", SEG_PROGRAMMED, NULL);
	}
	null_record(t, ids, ids ? d->n_vnis : 0);
}

static void null_sm_run(struct target *t, const void *want, struct target_result *res)
{
	const struct sm_desired *d = want;
	uint32_t *ids = calloc(d->n_partitions ? d->n_partitions : 1, sizeof(*ids));

	for (size_t i = 0; i < d->n_partitions; i++) {
		const struct sm_partition *p = &d->partitions[i];

		if (ids)
			ids[i] = p->pkey;
		target_result_add(res, p->tenant, p->segment, p->pkey, "null", SEG_PROGRAMMED, NULL);
	}
	null_record(t, ids, ids ? d->n_partitions : 0);
}

static void null_close(void *priv)
{
	struct null_target *nt = priv;

	free(nt->ids);
	free(nt);
}

static const struct target_ops null_vtep_ops = {
	.kind = "null",
	.phases = { "run", "-", "verify" },
	.slice = &target_slice_vtep,
	.run = null_vtep_run,
	.close = null_close,
};

static const struct target_ops null_sm_ops = {
	.kind = "null",
	.phases = { "run", "-", "verify" },
	.hex_ids = true,
	.slice = &target_slice_sm,
	.run = null_sm_run,
	.close = null_close,
};

static int null_add_one(struct reconciler *r, const char *name, const struct target_ops *ops)
{
	struct null_target *nt = calloc(1, sizeof(*nt));

	if (!nt)
		return -ENOMEM;
	return reconciler_target_add(r, name, ops, nt, NULL);
}

static int null_add(struct reconciler *r, const struct topology *topo, const struct reconciler_opts *opts)
{
	int ret = 0;

	if (!opts || !opts->null_targets || opts->cluster_etcd)
		return 0;
	for (size_t i = 0; !ret && i < topo->n_vteps; i++)
		ret = null_add_one(r, topo->vteps[i].name, &null_vtep_ops);
	for (size_t i = 0; !ret && i < topo->n_sms; i++)
		ret = null_add_one(r, topo->sms[i].name, &null_sm_ops);
	return ret;
}

const struct target_kind null_target_kind = { .name = "null", .add = null_add };

int null_target_asked(const struct reconciler *r, const char *name, unsigned long *runs, uint32_t **ids,
		      size_t *n_ids)
{
	int ret = -ENOENT;

	*ids = NULL;
	*n_ids = 0;
	reconciler_lock(r);
	for (size_t i = 0; i < reconciler_n_targets(r) && ret == -ENOENT; i++) {
		const struct target *t = reconciler_target_at(r, i);
		const struct target_ops *ops = reconciler_target_ops(t);
		const struct null_target *nt = reconciler_target_priv(t);

		if ((ops != &null_vtep_ops && ops != &null_sm_ops) || strcmp(reconciler_target_name(t), name))
			continue;
		*runs = nt->runs;
		ret = 0;
		if (!nt->n_ids)
			break;
		*ids = malloc(nt->n_ids * sizeof(**ids));
		if (!*ids) {
			ret = -ENOMEM;
			break;
		}
		memcpy(*ids, nt->ids, nt->n_ids * sizeof(**ids));
		*n_ids = nt->n_ids;
	}
	reconciler_unlock(r);
	return ret;
}

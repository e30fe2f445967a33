/*
 * tests/unit/test_reconcile.c: the reconciler as a scheduler, on null
 * targets (reconciler_opts.null_targets): a compiled desired state posted,
 * the generation waited for, status items and the `wait` verdict checked,
 * and only the targets whose slice changed given a job; and the MIG
 * layouts the GPU targets are given (compile_gpus).
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
#include <time.h>

#include <cmocka.h>

#include "src/reconcile.h"
#include "targets/null.h"
#include "tenancy/compile.h"
#include "tests/unit/test_model_fixture.h"

struct fixture {
	struct topology *topo;
	struct model m;
	struct reconciler *r;
};

static void ok(int rc, const struct loom_err *err, const char *what)
{
	if (rc)
		fail_msg("%s: %s %s: %s", what, loom_err_name(err->code), err->field, err->msg);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct reconciler_opts opts = { .null_targets = true };
	struct loom_err err;

	assert_non_null(f);
	f->topo = fx_topology();
	fx_model_init(&f->m);
	ok(fx_tenant(&f->m, f->topo, "{\"name\":\"soft-a\"}", &err), &err, "tenant");
	ok(fx_segment(&f->m, f->topo, "soft-a", "{\"name\":\"eth\",\"type\":\"ethernet\"}", &err), &err, "eth");
	ok(fx_segment(&f->m, f->topo, "soft-a", "{\"name\":\"ib\",\"type\":\"infiniband\"}", &err), &err, "ib");
	ok(fx_attach(&f->m, f->topo, "{\"segment\":\"soft-a/eth\",\"node\":\"gpu-e1\",\"port\":\"eth0\"}", &err),
	   &err, "attach eth");
	ok(fx_attach(&f->m, f->topo, "{\"segment\":\"soft-a/ib\",\"node\":\"gpu-e1\"}", &err), &err, "attach ib");
	assert_int_equal(reconciler_start(f->topo, &opts, &f->r), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	reconciler_stop(&f->r);
	assert_null(f->r);
	model_clear(&f->m);
	topology_free(&f->topo);
	free(f);
	return 0;
}

static uint64_t post(struct fixture *f)
{
	struct desired *d = NULL;
	uint64_t gen;

	assert_int_equal(compile(&f->m, f->topo, &d), 0);
	gen = reconciler_post(f->r, d);
	desired_free(&d);
	return gen;
}

/* Waits (up to 5 s) for generation @gen to be done; returns all_ok. */
static bool wait_done(struct fixture *f, uint64_t gen)
{
	struct timespec pause = { .tv_nsec = 2000000 };
	bool all_ok = false;

	for (int i = 0; i < 2500; i++) {
		reconciler_collect(f->r);
		if (reconciler_done(f->r, gen, &all_ok))
			return all_ok;
		nanosleep(&pause, NULL);
	}
	fail_msg("generation %llu not done after 5 s", (unsigned long long)gen);
	return false;
}

static unsigned long runs_of(struct fixture *f, const char *name)
{
	unsigned long runs = 0;
	uint32_t *ids = NULL;
	size_t n = 0;

	assert_int_equal(null_target_asked(f->r, name, &runs, &ids, &n), 0);
	free(ids);
	return runs;
}

static json_t *target_of(json_t *status, const char *name)
{
	size_t i;
	json_t *t;

	json_array_foreach(json_object_get(status, "targets"), i, t)
		if (strcmp(json_string_value(json_object_get(t, "name")), name) == 0)
			return t;
	fail_msg("no target %s in status", name);
	return NULL;
}

static void test_post_and_status(void **state)
{
	struct fixture *f = *state;
	const char *names[] = { "vtep-e1", "vtep-e2", "vtep-w1", "sm-east", "sm-west" };
	uint64_t gen = post(f);
	json_t *st, *items, *x, *report;
	const struct segment *eth;
	char vni[16];
	size_t i;

	assert_true(wait_done(f, gen));
	assert_true(reconciler_converged(f->r));
	report = reconciler_gen_report(f->r, gen, true);
	assert_int_equal(json_array_size(report), 0);
	json_decref(report);

	/* Every target, in the registry's order, is a null target that ran once. */
	st = reconciler_status(f->r, NULL, NULL);
	assert_int_equal(json_array_size(json_object_get(st, "targets")), 5);
	for (i = 0; i < 5; i++) {
		json_t *t = json_array_get(json_object_get(st, "targets"), i);

		assert_string_equal(json_string_value(json_object_get(t, "name")), names[i]);
		assert_string_equal(json_string_value(json_object_get(t, "kind")), "null");
		assert_int_equal(json_integer_value(json_object_get(t, "generation")), gen);
		assert_int_equal(json_integer_value(json_object_get(t, "runs")), 1);
		assert_int_equal(runs_of(f, names[i]), 1);
	}
	assert_int_equal(json_array_size(json_object_get(st, "gpus")), 0);

	/* One item per (segment, target): the VNI on vtep-e1, the P_Key on sm-east. */
	items = json_object_get(st, "segments");
	assert_int_equal(json_array_size(items), 2);
	eth = model_segment(&f->m, "soft-a", "eth");
	assert_non_null(eth);
	snprintf(vni, sizeof(vni), "%u", eth->vni);
	x = json_array_get(items, 0);
	assert_string_equal(json_string_value(json_object_get(x, "segment")), "soft-a/eth");
	assert_string_equal(json_string_value(json_object_get(x, "target")), "vtep-e1");
	assert_string_equal(json_string_value(json_object_get(x, "layer")), "null");
	assert_string_equal(json_string_value(json_object_get(x, "id")), vni);
	assert_string_equal(json_string_value(json_object_get(x, "state")), "programmed");
	x = json_array_get(items, 1);
	assert_string_equal(json_string_value(json_object_get(x, "segment")), "soft-a/ib");
	assert_string_equal(json_string_value(json_object_get(x, "target")), "sm-east");
	assert_string_equal(json_string_value(json_object_get(x, "id")), "0x0100");
	json_decref(st);

	/* The filters: another tenant's view is empty. */
	st = reconciler_status(f->r, "west", NULL);
	assert_int_equal(json_array_size(json_object_get(st, "segments")), 0);
	assert_int_equal(json_array_size(json_object_get(st, "targets")), 0);
	json_decref(st);
}

static void test_only_changed_targets_run(void **state)
{
	struct fixture *f = *state;
	uint64_t gen1 = post(f), gen2, gen3;
	struct loom_err err;
	const struct segment *eth;
	uint32_t *ids = NULL;
	unsigned long runs = 0;
	size_t n = 0;
	json_t *st;

	assert_true(wait_done(f, gen1));
	/* gpu-e3's eth0 is on vtep-e2 only. */
	ok(fx_attach(&f->m, f->topo, "{\"segment\":\"soft-a/eth\",\"node\":\"gpu-e3\",\"port\":\"eth0\"}", &err),
	   &err, "attach gpu-e3");
	gen2 = post(f);
	assert_true(gen2 > gen1);
	assert_true(wait_done(f, gen2));
	assert_int_equal(runs_of(f, "vtep-e1"), 1);
	assert_int_equal(runs_of(f, "vtep-e2"), 2);
	assert_int_equal(runs_of(f, "vtep-w1"), 1);
	assert_int_equal(runs_of(f, "sm-east"), 1);
	assert_int_equal(runs_of(f, "sm-west"), 1);

	/* vtep-e2 was asked for the segment's VNI. */
	eth = model_segment(&f->m, "soft-a", "eth");
	assert_non_null(eth);
	assert_int_equal(null_target_asked(f->r, "vtep-e2", &runs, &ids, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], eth->vni);
	free(ids);

	st = reconciler_status(f->r, NULL, NULL);
	assert_int_equal(json_integer_value(json_object_get(target_of(st, "vtep-e2"), "generation")), gen2);
	assert_int_equal(json_integer_value(json_object_get(target_of(st, "vtep-e1"), "generation")), gen1);
	json_decref(st);

	/* The same state again changes nothing: done at once, no job. */
	gen3 = post(f);
	assert_true(gen3 > gen2);
	assert_true(wait_done(f, gen3));
	reconciler_collect(f->r);
	assert_int_equal(runs_of(f, "vtep-e2"), 2);
	assert_int_equal(null_target_asked(f->r, "no-such", &runs, &ids, &n), -ENOENT);
}

/* A generation not done yet, then done: the `wait` verdict follows the runs. */
static void test_wait_verdict(void **state)
{
	struct fixture *f = *state;
	uint64_t gen = post(f);
	bool all_ok = false;
	json_t *report;

	assert_true(wait_done(f, gen));
	assert_true(reconciler_done(f->r, gen, &all_ok));
	assert_true(all_ok);
	/* An older generation that touched the same targets is done too. */
	assert_true(reconciler_done(f->r, gen - 1 ? gen - 1 : gen, &all_ok));
	report = reconciler_gen_report(f->r, gen, false);
	assert_int_equal(json_array_size(report), 0);
	json_decref(report);
	/* No pkey capacity: null targets read no fabric. */
	assert_int_equal(reconciler_pkey_capacity(f->r, 0x1234, NULL), 0);
	assert_false(reconciler_gpu_managed(f->r, "gpu-e1"));
	assert_null(reconciler_gpu_status(f->r, "gpu-e1", 0));
}

/* compile_gpus: a layout per MIG GPU of every node, instances by placement. */
static void test_compile_gpus(void **state)
{
	struct topology *topo = fx_topology();
	struct topo_node *node = NULL;
	struct mig_placement inst[3] = {
		{ .node = "gpu-e1", .gpu = 0, .tenant = "soft-a", .profile = "3g.40gb", .start = 4 },
		{ .node = "gpu-e1", .gpu = 0, .tenant = "soft-a", .profile = "no-such", .start = 0 },
		{ .node = "gpu-e1", .gpu = 1, .tenant = "soft-a", .profile = "1g.10gb", .start = 0 },
	};
	const struct gpu_desired *g;
	struct gpu_desired *copy;
	struct desired *d = NULL;
	struct model m;

	(void)state;
	for (size_t i = 0; i < topo->n_nodes; i++)
		if (strcmp(topo->nodes[i].name, "gpu-e1") == 0)
			node = &topo->nodes[i];
	if (!node)
		fail_msg("no node gpu-e1 in the fixture");
	node->gpus = calloc(2, sizeof(*node->gpus));
	assert_non_null(node->gpus);
	node->n_gpus = 2;
	node->gpus[0] = (struct topo_gpu){ .index = 0, .model = "H100-SXM5-80GB", .mig_capable = true };
	node->gpus[1] = (struct topo_gpu){ .index = 1, .model = "H100-SXM5-80GB", .mig_capable = false };
	fx_model_init(&m);
	assert_int_equal(compile(&m, topo, &d), 0);
	assert_null(desired_gpu(d, "gpu-e1"));	/* not compiled: GPU targets keep theirs */
	assert_int_equal(compile_gpus(topo, inst, 3, d), 0);
	g = desired_gpu(d, "gpu-e1");
	assert_non_null(g);
	assert_int_equal(g->n_layouts, 1);	/* GPU 1 is not MIG-capable */
	assert_int_equal(g->layouts[0].index, 0);
	assert_int_equal(g->layouts[0].n_gi, 1);	/* an unknown profile is left out */
	assert_string_equal(g->layouts[0].gi[0].profile->name, "3g.40gb");
	assert_int_equal(g->layouts[0].gi[0].start, 4);
	assert_string_equal(g->layouts[0].gi[0].tenant, "soft-a");
	g = desired_gpu(d, "cpu-e4");
	assert_non_null(g);
	assert_int_equal(g->n_layouts, 0);
	copy = gpu_desired_dup(desired_gpu(d, "gpu-e1"));
	assert_true(gpu_desired_equal(copy, desired_gpu(d, "gpu-e1")));
	assert_false(gpu_desired_equal(copy, desired_gpu(d, "cpu-e4")));
	gpu_desired_free(&copy);
	assert_null(copy);
	desired_free(&d);
	model_clear(&m);
	topology_free(&topo);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_post_and_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_only_changed_targets_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_verdict, setup, teardown),
		cmocka_unit_test(test_compile_gpus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * tests/unit/test_gpu_nvml.c: the GPU target against a fake NVML.
 *
 * This machine has no GPU: tests/fake_nvml/libfake_nvml.so is a STAND-IN
 * for libnvidia-ml.so.1 that implements the NVML calls loom uses with
 * NVIDIA's placement rules for H100 80GB and A30.  The target loads it by
 * path exactly as it would load the real library; the test reaches the
 * fake's own controls (fake_nvml_*) through a second dlopen of the same
 * file to change things behind loom's back.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gpu/nvml.h"
#include "lib/log.h"

static char lib_path[512];
static void *fake;
static int (*drop_gi)(unsigned int, unsigned int);
static int (*drop_ci)(unsigned int, unsigned int);
static unsigned int (*gi_count)(unsigned int);
static unsigned int (*mode_sets)(unsigned int);
static int (*set_ci)(unsigned int, unsigned int, unsigned int);

static int setup(void **state)
{
	const char *top = getenv("top_builddir");
	void *f;

	(void)state;
	snprintf(lib_path, sizeof(lib_path), "%s/tests/fake_nvml/libfake_nvml.so",
		 top ? top : ".");
	fake = dlopen(lib_path, RTLD_NOW | RTLD_LOCAL);
	if (!fake) {
		fprintf(stderr, "# %s\n", dlerror());
		return -1;
	}
	f = dlsym(fake, "fake_nvml_drop_gi");
	memcpy(&drop_gi, &f, sizeof(f));
	f = dlsym(fake, "fake_nvml_drop_ci");
	memcpy(&drop_ci, &f, sizeof(f));
	f = dlsym(fake, "fake_nvml_gi_count");
	memcpy(&gi_count, &f, sizeof(f));
	f = dlsym(fake, "fake_nvml_mode_sets");
	memcpy(&mode_sets, &f, sizeof(f));
	f = dlsym(fake, "fake_nvml_set_ci");
	memcpy(&set_ci, &f, sizeof(f));
	return drop_gi && drop_ci && gi_count && mode_sets && set_ci ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	dlclose(fake);
	return 0;
}

static struct gpu_nvml *open_fake(const char *gpus)
{
	struct gpu_nvml *nv = NULL;
	struct loom_err err = { 0 };

	setenv("FAKE_NVML_GPUS", gpus, 1);
	assert_int_equal(gpu_nvml_open(lib_path, &nv, &err), 0);
	assert_non_null(nv);
	return nv;
}

static void layout_add(struct gpu_layout *l, const char *model, const char *profile,
		       unsigned int start)
{
	struct gpu_gi *g = &l->gi[l->n_gi++];

	memset(g, 0, sizeof(*g));
	g->profile = mig_profile_find(mig_model_find(model), profile);
	assert_non_null(g->profile);
	g->start = start;
	snprintf(g->tenant, sizeof(g->tenant), "acme");
}

static void test_missing_library(void **state)
{
	struct gpu_nvml *nv = NULL;
	struct loom_err err = { 0 };

	(void)state;
	assert_int_equal(gpu_nvml_open("/nonexistent/libnvidia-ml.so.1", &nv, &err), -ENOENT);
	assert_null(nv);
	assert_int_equal(err.code, LOOM_E_UNAVAILABLE);
	assert_non_null(strstr(err.msg, "NVML is not available"));
}

static void test_observe(void **state)
{
	struct gpu_nvml *nv = open_fake("h100:on,a30:off");
	struct gpu_observed obs;
	struct loom_err err = { 0 };
	unsigned int n = 0;

	(void)state;
	assert_int_equal(gpu_nvml_device_count(nv, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(gpu_nvml_observe(nv, 0, &obs, &err), 0);
	assert_string_equal(obs.model->name, "H100-SXM5-80GB");
	assert_true(obs.mig_current);
	assert_int_equal(obs.n_gi, 0);
	assert_int_equal(gpu_nvml_observe(nv, 1, &obs, &err), 0);
	assert_string_equal(obs.model->name, "A30");
	assert_false(obs.mig_current);
	assert_int_equal(gpu_nvml_observe(nv, 7, &obs, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_NOT_FOUND);
	gpu_nvml_close(&nv);
	assert_null(nv);
}

static void test_apply_drift_relayout(void **state)
{
	struct gpu_nvml *nv = open_fake("h100:on");
	struct gpu_layout want = { .index = 0 };
	struct gpu_observed obs;
	struct loom_err err = { 0 };

	(void)state;
	layout_add(&want, "H100-SXM5-80GB", "3g.40gb", 0);
	layout_add(&want, "H100-SXM5-80GB", "2g.20gb", 4);
	layout_add(&want, "H100-SXM5-80GB", "1g.10gb", 6);
	assert_int_equal(gpu_nvml_apply(nv, &want, NULL, &err), 3);
	assert_int_equal(gi_count(0), 3);
	assert_int_equal(gpu_nvml_verify(nv, &want, &err), 0);
	assert_int_equal(gpu_nvml_observe(nv, 0, &obs, &err), 0);
	assert_int_equal(obs.n_gi, 3);
	assert_int_equal(obs.gi[1].start, 4);
	assert_string_equal(obs.gi[1].profile->name, "2g.20gb");
	assert_int_equal(obs.gi[1].n_ci, 1);
	/* converged: nothing to do */
	assert_int_equal(gpu_nvml_apply(nv, &want, NULL, &err), 0);

	/* drift: an instance destroyed behind loom's back */
	assert_int_equal(drop_gi(0, 4), 0);
	assert_int_equal(gpu_nvml_verify(nv, &want, &err), -EAGAIN);
	assert_non_null(strstr(err.msg, "missing 2g.20gb@4"));
	memset(&err, 0, sizeof(err));
	assert_int_equal(gpu_nvml_apply(nv, &want, NULL, &err), 1);
	assert_int_equal(gpu_nvml_verify(nv, &want, &err), 0);

	/* drift: a compute instance gone */
	assert_int_equal(drop_ci(0, 6), 0);
	assert_int_equal(gpu_nvml_verify(nv, &want, &err), -EAGAIN);
	memset(&err, 0, sizeof(err));
	assert_int_equal(gpu_nvml_apply(nv, &want, NULL, &err), 1);
	assert_int_equal(gpu_nvml_verify(nv, &want, &err), 0);

	/* a new layout: three destroyed, one 7g created */
	want.n_gi = 0;
	layout_add(&want, "H100-SXM5-80GB", "7g.80gb", 0);
	assert_int_equal(gpu_nvml_apply(nv, &want, NULL, &err), 4);
	assert_int_equal(gi_count(0), 1);

	/* an illegal layout is refused before NVML is touched */
	want.n_gi = 0;
	layout_add(&want, "H100-SXM5-80GB", "3g.40gb", 2);
	memset(&err, 0, sizeof(err));
	assert_int_equal(gpu_nvml_apply(nv, &want, NULL, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_PARAMS);
	assert_int_equal(gi_count(0), 1);
	assert_int_equal(mode_sets(0), 0);
	gpu_nvml_close(&nv);
}

/* loom's tables against the fake's independent rules: every legal start works. */
static void test_tables_against_fake(void **state)
{
	static const char *const models[] = { "H100-SXM5-80GB", "A30" };
	struct gpu_nvml *nv = open_fake("h100:on,a30:on");
	struct loom_err err = { 0 };

	(void)state;
	for (unsigned int d = 0; d < 2; d++) {
		const struct mig_model *m = mig_model_find(models[d]);

		for (size_t p = 0; p < m->n_profiles; p++)
			for (unsigned int s = 0; s < m->profiles[p].n_starts; s++) {
				struct gpu_layout want = { .index = d };

				layout_add(&want, models[d], m->profiles[p].name,
					   m->profiles[p].starts[s]);
				memset(&err, 0, sizeof(err));
				assert_true(gpu_nvml_apply(nv, &want, NULL, &err) >= 1);
				assert_int_equal(gi_count(d), 1);
			}
	}
	gpu_nvml_close(&nv);
}

/*
 * A compute instance of a profile that NVML 12 did not have (index 8,
 * 7_SLICE_NVL, new in NVML 13.3), made behind loom's back: observe counts
 * it (profiles are enumerated until the driver says INVALID_ARGUMENT, not
 * up to a count fixed at build time), and a re-layout destroys it before
 * its GPU instance.
 */
static void test_ci_profile_past_nvml12(void **state)
{
	struct gpu_nvml *nv = open_fake("h100:on");
	struct gpu_layout want = { 0 };
	struct gpu_observed obs;
	struct loom_err err = { 0 };

	(void)state;
	layout_add(&want, "H100-SXM5-80GB", "7g.80gb", 0);
	assert_true(gpu_nvml_apply(nv, &want, NULL, &err) >= 0);
	assert_int_equal(set_ci(0, 0, 8), 0);
	assert_int_equal(gpu_nvml_observe(nv, 0, &obs, &err), 0);
	assert_int_equal(obs.n_gi, 1);
	assert_int_equal(obs.gi[0].n_ci, 1);
	assert_int_equal(gpu_nvml_verify(nv, &want, &err), 0);

	memset(&want, 0, sizeof(want));
	layout_add(&want, "H100-SXM5-80GB", "3g.40gb", 0);
	assert_true(gpu_nvml_apply(nv, &want, NULL, &err) >= 0);
	assert_int_equal(gpu_nvml_verify(nv, &want, &err), 0);
	assert_int_equal(gi_count(0), 1);
	gpu_nvml_close(&nv);
}

static void test_mig_mode_off(void **state)
{
	struct gpu_nvml *nv = open_fake("h100:on,a30:off");
	struct gpu_layout want = { .index = 1 };
	struct gpu_nvml_opts allow = { .allow_mig_mode = true };
	struct loom_err err = { 0 };

	(void)state;
	/* nothing wanted: MIG mode is left alone, no error */
	assert_int_equal(gpu_nvml_apply(nv, &want, NULL, &err), 0);
	layout_add(&want, "A30", "2g.12gb", 2);
	assert_int_equal(gpu_nvml_apply(nv, &want, NULL, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_STATE);
	assert_non_null(strstr(err.msg, "MIG mode is off on GPU 1 (NVIDIA A30)"));
	assert_int_equal(mode_sets(1), 0);	/* never touched without the flag */
	assert_int_equal(gpu_nvml_verify(nv, &want, &err), -EAGAIN);
	/* the operator allows it */
	memset(&err, 0, sizeof(err));
	assert_int_equal(gpu_nvml_apply(nv, &want, &allow, &err), 1);
	assert_int_equal(mode_sets(1), 1);
	assert_int_equal(gpu_nvml_verify(nv, &want, &err), 0);
	gpu_nvml_close(&nv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_library),
		cmocka_unit_test(test_observe),
		cmocka_unit_test(test_apply_drift_relayout),
		cmocka_unit_test(test_tables_against_fake),
		cmocka_unit_test(test_mig_mode_off),
		cmocka_unit_test(test_ci_profile_past_nvml12),
	};

	log_level = LOG_LVL_WARN;	/* the target logs each create/destroy at info */
	return cmocka_run_group_tests(tests, setup, teardown);
}

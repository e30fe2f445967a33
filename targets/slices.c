/*
 * targets/slices.c: the kinds of slice of the desired state a target can
 * take, as the scheduler handles them.  Glue only: the copies, compares
 * and diffs are tenancy/compile.c's.
 */
#include "config.h"

#include "targets/target.h"

static const void *vtep_of(const struct desired *d, const char *name)
{
	return desired_vtep(d, name);
}

static void *vtep_dup(const void *s)
{
	return vtep_desired_dup(s);
}

static bool vtep_equal(const void *a, const void *b)
{
	return vtep_desired_equal(a, b);
}

static void vtep_free(void *s)
{
	struct vtep_desired *d = s;

	vtep_desired_free(&d);
}

static int vtep_touch(const void *old, const void *new, uint32_t **ids, size_t *n)
{
	return vtep_desired_diff(old, new, ids, n);
}

const struct target_slice target_slice_vtep = {
	.of = vtep_of, .dup = vtep_dup, .equal = vtep_equal, .free = vtep_free, .touch = vtep_touch,
};

static const void *sm_of(const struct desired *d, const char *name)
{
	return desired_sm(d, name);
}

static void *sm_dup(const void *s)
{
	return sm_desired_dup(s);
}

static bool sm_equal(const void *a, const void *b)
{
	return sm_desired_equal(a, b);
}

static void sm_free(void *s)
{
	struct sm_desired *d = s;

	sm_desired_free(&d);
}

static int sm_touch(const void *old, const void *new, uint32_t **ids, size_t *n)
{
	return sm_desired_diff(old, new, ids, n);
}

const struct target_slice target_slice_sm = {
	.of = sm_of, .dup = sm_dup, .equal = sm_equal, .free = sm_free, .touch = sm_touch,
};

static const void *gpu_of(const struct desired *d, const char *name)
{
	return desired_gpu(d, name);
}

static void *gpu_dup(const void *s)
{
	return gpu_desired_dup(s);
}

static bool gpu_equal(const void *a, const void *b)
{
	return gpu_desired_equal(a, b);
}

static void gpu_free(void *s)
{
	struct gpu_desired *d = s;

	gpu_desired_free(&d);
}

/* No touch: a node's layouts are applied and verified whole, every item counts. */
const struct target_slice target_slice_gpu = {
	.of = gpu_of, .dup = gpu_dup, .equal = gpu_equal, .free = gpu_free,
};

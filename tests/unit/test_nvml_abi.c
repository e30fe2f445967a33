/*
 * tests/unit/test_nvml_abi.c: pins the NVML ABI that loom declares itself
 * (gpu/nvml_abi.h, used by gpu/nvml.c and the stand-in tests/fake_nvml)
 * to NVIDIA's own nvml.h.
 *
 * Reference: nvml.h of NVML 13.3.29 (CUDA 13.3), as vendored by
 * NVIDIA/go-nvml (pkg/nvml/nvml.h, commit 2f9e261f, July 2026).  The
 * numbers below were read from it, and the offsets and sizes were measured
 * by compiling that header for x86_64 (LP64); the same layouts come out of
 * the nvml.h of NVML 12.0 and of 11.2 Update 2, the first with
 * nvmlDeviceCreateGpuInstanceWithPlacement.  What changed between those
 * releases is only how many profile indexes exist (compute instance
 * profiles: 7 in 11.x, 8 in 12.x, 9 in 13.3), which loom does not fix at
 * build time (gpu/nvml.c enumerates until NVML_ERROR_INVALID_ARGUMENT).
 *
 * If a test here fails, the declaration is what is wrong, not the number.
 */
#include "config.h"

#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gpu/nvml_abi.h"
#include "tenancy/mig.h"

static void test_return_codes(void **state)
{
	(void)state;
	assert_int_equal(sizeof(nvmlReturn_t), 4);
	assert_int_equal(NVML_SUCCESS, 0);
	assert_int_equal(NVML_ERROR_UNINITIALIZED, 1);
	assert_int_equal(NVML_ERROR_INVALID_ARGUMENT, 2);
	assert_int_equal(NVML_ERROR_NOT_SUPPORTED, 3);
	assert_int_equal(NVML_ERROR_NO_PERMISSION, 4);
	assert_int_equal(NVML_ERROR_NOT_FOUND, 6);
	assert_int_equal(NVML_ERROR_INSUFFICIENT_SIZE, 7);
	assert_int_equal(NVML_ERROR_IN_USE, 19);
	assert_int_equal(NVML_ERROR_INSUFFICIENT_RESOURCES, 23);
}

static void test_constants(void **state)
{
	(void)state;
	assert_int_equal(NVML_DEVICE_NAME_V2_BUFFER_SIZE, 96);
	assert_int_equal(NVML_DEVICE_MIG_DISABLE, 0);
	assert_int_equal(NVML_DEVICE_MIG_ENABLE, 1);
	assert_int_equal(NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED, 0);

	assert_int_equal(NVML_GPU_INSTANCE_PROFILE_1_SLICE, 0x0);
	assert_int_equal(NVML_GPU_INSTANCE_PROFILE_2_SLICE, 0x1);
	assert_int_equal(NVML_GPU_INSTANCE_PROFILE_3_SLICE, 0x2);
	assert_int_equal(NVML_GPU_INSTANCE_PROFILE_4_SLICE, 0x3);
	assert_int_equal(NVML_GPU_INSTANCE_PROFILE_7_SLICE, 0x4);
	assert_int_equal(NVML_GPU_INSTANCE_PROFILE_8_SLICE, 0x5);
	assert_int_equal(NVML_GPU_INSTANCE_PROFILE_6_SLICE, 0x6);
	assert_int_equal(NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV1, 0x7);
	assert_int_equal(NVML_GPU_INSTANCE_PROFILE_2_SLICE_REV1, 0x8);
	assert_int_equal(NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV2, 0x9);

	assert_int_equal(NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE, 0x0);
	assert_int_equal(NVML_COMPUTE_INSTANCE_PROFILE_2_SLICE, 0x1);
	assert_int_equal(NVML_COMPUTE_INSTANCE_PROFILE_3_SLICE, 0x2);
	assert_int_equal(NVML_COMPUTE_INSTANCE_PROFILE_4_SLICE, 0x3);
	assert_int_equal(NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE, 0x4);
	assert_int_equal(NVML_COMPUTE_INSTANCE_PROFILE_8_SLICE, 0x5);
	assert_int_equal(NVML_COMPUTE_INSTANCE_PROFILE_6_SLICE, 0x6);
	assert_int_equal(NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE_REV1, 0x7);
	assert_int_equal(NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE_NVL, 0x8);
	assert_int_equal(NVML_COMPUTE_INSTANCE_PROFILE_COUNT_13_3, 0x9);
	/* the enumeration bound must leave room for every index NVML has */
	assert_true(NVML_COMPUTE_INSTANCE_PROFILE_SCAN_MAX > NVML_COMPUTE_INSTANCE_PROFILE_COUNT_13_3);
}

/* tenancy/mig.h keeps its own copy of the GPU instance profile indexes. */
static void test_mig_profile_indexes(void **state)
{
	(void)state;
	assert_int_equal(MIG_NVML_1_SLICE, NVML_GPU_INSTANCE_PROFILE_1_SLICE);
	assert_int_equal(MIG_NVML_2_SLICE, NVML_GPU_INSTANCE_PROFILE_2_SLICE);
	assert_int_equal(MIG_NVML_3_SLICE, NVML_GPU_INSTANCE_PROFILE_3_SLICE);
	assert_int_equal(MIG_NVML_4_SLICE, NVML_GPU_INSTANCE_PROFILE_4_SLICE);
	assert_int_equal(MIG_NVML_7_SLICE, NVML_GPU_INSTANCE_PROFILE_7_SLICE);
	assert_int_equal(MIG_NVML_8_SLICE, NVML_GPU_INSTANCE_PROFILE_8_SLICE);
	assert_int_equal(MIG_NVML_6_SLICE, NVML_GPU_INSTANCE_PROFILE_6_SLICE);
	assert_int_equal(MIG_NVML_1_SLICE_REV1, NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV1);
	assert_int_equal(MIG_NVML_2_SLICE_REV1, NVML_GPU_INSTANCE_PROFILE_2_SLICE_REV1);
	assert_int_equal(MIG_NVML_1_SLICE_REV2, NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV2);
}

/*
 * Offsets and sizes as the reference nvml.h compiles on x86_64 (LP64).
 * Field order is also what makes them: a swapped pair of unsigned ints
 * keeps the size but moves an offset.
 */
static void test_struct_layouts(void **state)
{
	(void)state;
	if (sizeof(void *) != 8 || _Alignof(unsigned long long) != 8)
		skip();		/* the reference numbers are LP64's */

	assert_int_equal(sizeof(nvmlGpuInstancePlacement_t), 8);
	assert_int_equal(offsetof(nvmlGpuInstancePlacement_t, start), 0);
	assert_int_equal(offsetof(nvmlGpuInstancePlacement_t, size), 4);

	assert_int_equal(sizeof(nvmlGpuInstanceProfileInfo_t), 48);
	assert_int_equal(offsetof(nvmlGpuInstanceProfileInfo_t, id), 0);
	assert_int_equal(offsetof(nvmlGpuInstanceProfileInfo_t, isP2pSupported), 4);
	assert_int_equal(offsetof(nvmlGpuInstanceProfileInfo_t, sliceCount), 8);
	assert_int_equal(offsetof(nvmlGpuInstanceProfileInfo_t, instanceCount), 12);
	assert_int_equal(offsetof(nvmlGpuInstanceProfileInfo_t, multiprocessorCount), 16);
	assert_int_equal(offsetof(nvmlGpuInstanceProfileInfo_t, copyEngineCount), 20);
	assert_int_equal(offsetof(nvmlGpuInstanceProfileInfo_t, decoderCount), 24);
	assert_int_equal(offsetof(nvmlGpuInstanceProfileInfo_t, encoderCount), 28);
	assert_int_equal(offsetof(nvmlGpuInstanceProfileInfo_t, jpegCount), 32);
	assert_int_equal(offsetof(nvmlGpuInstanceProfileInfo_t, ofaCount), 36);
	assert_int_equal(offsetof(nvmlGpuInstanceProfileInfo_t, memorySizeMB), 40);

	assert_int_equal(sizeof(nvmlGpuInstanceInfo_t), 24);
	assert_int_equal(offsetof(nvmlGpuInstanceInfo_t, device), 0);
	assert_int_equal(offsetof(nvmlGpuInstanceInfo_t, id), 8);
	assert_int_equal(offsetof(nvmlGpuInstanceInfo_t, profileId), 12);
	assert_int_equal(offsetof(nvmlGpuInstanceInfo_t, placement), 16);
	assert_int_equal(offsetof(nvmlGpuInstanceInfo_t, placement.start), 16);
	assert_int_equal(offsetof(nvmlGpuInstanceInfo_t, placement.size), 20);

	assert_int_equal(sizeof(nvmlComputeInstanceProfileInfo_t), 36);
	assert_int_equal(offsetof(nvmlComputeInstanceProfileInfo_t, id), 0);
	assert_int_equal(offsetof(nvmlComputeInstanceProfileInfo_t, sliceCount), 4);
	assert_int_equal(offsetof(nvmlComputeInstanceProfileInfo_t, instanceCount), 8);
	assert_int_equal(offsetof(nvmlComputeInstanceProfileInfo_t, multiprocessorCount), 12);
	assert_int_equal(offsetof(nvmlComputeInstanceProfileInfo_t, sharedCopyEngineCount), 16);
	assert_int_equal(offsetof(nvmlComputeInstanceProfileInfo_t, sharedDecoderCount), 20);
	assert_int_equal(offsetof(nvmlComputeInstanceProfileInfo_t, sharedEncoderCount), 24);
	assert_int_equal(offsetof(nvmlComputeInstanceProfileInfo_t, sharedJpegCount), 28);
	assert_int_equal(offsetof(nvmlComputeInstanceProfileInfo_t, sharedOfaCount), 32);
}

/*
 * The exported names loom resolves, in nvml.h's current spelling (nvml.h
 * maps nvmlInit, nvmlDeviceGetCount and nvmlDeviceGetHandleByIndex to their
 * _v2; none of the MIG calls has a versioned name).
 */
static const char *const reference_symbols[] = {
	"nvmlInit_v2",
	"nvmlShutdown",
	"nvmlErrorString",
	"nvmlDeviceGetCount_v2",
	"nvmlDeviceGetHandleByIndex_v2",
	"nvmlDeviceGetName",
	"nvmlDeviceGetMigMode",
	"nvmlDeviceSetMigMode",
	"nvmlDeviceGetGpuInstanceProfileInfo",
	"nvmlDeviceGetGpuInstances",
	"nvmlDeviceCreateGpuInstanceWithPlacement",
	"nvmlGpuInstanceDestroy",
	"nvmlGpuInstanceGetInfo",
	"nvmlGpuInstanceGetComputeInstanceProfileInfo",
	"nvmlGpuInstanceGetComputeInstances",
	"nvmlGpuInstanceCreateComputeInstance",
	"nvmlComputeInstanceDestroy",
};

static const char *const loom_symbols[] = {
#define NAME(field, sym, type) sym,
	NVML_ABI_ENTRY_POINTS(NAME)
#undef NAME
};

static void test_entry_point_names(void **state)
{
	size_t n = sizeof(reference_symbols) / sizeof(reference_symbols[0]);

	(void)state;
	assert_int_equal(sizeof(loom_symbols) / sizeof(loom_symbols[0]), n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(loom_symbols[i], reference_symbols[i]);
}

/* The stand-in exports every name loom resolves (and is built on this header). */
static void test_fake_exports_them(void **state)
{
	const char *top = getenv("top_builddir");
	char path[512];
	void *dl;

	(void)state;
	snprintf(path, sizeof(path), "%s/tests/fake_nvml/libfake_nvml.so", top ? top : ".");
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl)
		fprintf(stderr, "# %s\n", dlerror());
	assert_non_null(dl);
	for (size_t i = 0; i < sizeof(loom_symbols) / sizeof(loom_symbols[0]); i++) {
		if (!dlsym(dl, loom_symbols[i]))
			fail_msg("the fake NVML lacks %s", loom_symbols[i]);
	}
	dlclose(dl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_return_codes),
		cmocka_unit_test(test_constants),
		cmocka_unit_test(test_mig_profile_indexes),
		cmocka_unit_test(test_struct_layouts),
		cmocka_unit_test(test_entry_point_names),
		cmocka_unit_test(test_fake_exports_them),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

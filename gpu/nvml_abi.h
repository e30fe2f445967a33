/*
 * gpu/nvml_abi.h: the part of NVIDIA's NVML ABI that loom uses, declared
 * here because Debian ships no nvml.h.
 *
 * Shared by gpu/nvml.c (which loads libnvidia-ml.so.1 with dlopen and never
 * links against these names) and by the stand-in tests/fake_nvml, so that
 * both use one set of layouts.  tests/unit/test_nvml_abi pins every value
 * and every offset below against NVIDIA's nvml.h as published (NVML 13.3.29,
 * CUDA 13.3, vendored in NVIDIA/go-nvml pkg/nvml/nvml.h); the layouts of the
 * structs have been the same since NVML 11.2 Update 2 (R460), the first
 * nvml.h with nvmlDeviceCreateGpuInstanceWithPlacement.
 *
 * Only names and numbers are declared, no NVIDIA text: a value here that
 * disagrees with nvml.h is a bug, and the unit test says which.
 */
#ifndef LOOM_GPU_NVML_ABI_H
#define LOOM_GPU_NVML_ABI_H

/* nvmlReturn_t is a C enum in nvml.h: int-sized on every Linux ABI. */
typedef int nvmlReturn_t;
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct nvmlGpuInstance_st *nvmlGpuInstance_t;
typedef struct nvmlComputeInstance_st *nvmlComputeInstance_t;

/* enum nvmlReturn_enum: the codes loom or the stand-in name. */
#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_NO_PERMISSION 4
#define NVML_ERROR_NOT_FOUND 6
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_IN_USE 19
#define NVML_ERROR_INSUFFICIENT_RESOURCES 23

#define NVML_DEVICE_NAME_V2_BUFFER_SIZE 96	/* what nvmlDeviceGetName may need */

#define NVML_DEVICE_MIG_DISABLE 0x0
#define NVML_DEVICE_MIG_ENABLE 0x1

/*
 * GPU instance profile *indexes* (the argument of
 * nvmlDeviceGetGpuInstanceProfileInfo); tenancy/mig.h mirrors the ones its
 * tables use as enum mig_nvml_profile.  Newer headers add more (REV2 came
 * with NVML 12.0, _GFX with 12.8, _NO_ME/_ALL_ME with 12.9), so the
 * count is not a constant of the ABI: a driver answers
 * NVML_ERROR_INVALID_ARGUMENT past its own last index.
 */
#define NVML_GPU_INSTANCE_PROFILE_1_SLICE 0x0
#define NVML_GPU_INSTANCE_PROFILE_2_SLICE 0x1
#define NVML_GPU_INSTANCE_PROFILE_3_SLICE 0x2
#define NVML_GPU_INSTANCE_PROFILE_4_SLICE 0x3
#define NVML_GPU_INSTANCE_PROFILE_7_SLICE 0x4
#define NVML_GPU_INSTANCE_PROFILE_8_SLICE 0x5
#define NVML_GPU_INSTANCE_PROFILE_6_SLICE 0x6
#define NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV1 0x7
#define NVML_GPU_INSTANCE_PROFILE_2_SLICE_REV1 0x8
#define NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV2 0x9

/*
 * Compute instance profile indexes.  NVML 11.2 Update 2 to 11.8 had 7 of
 * them, 12.x 8 (1_SLICE_REV1), 13.3 has 9 (7_SLICE_NVL): like the GPU
 * instance ones they are enumerated until the driver answers
 * NVML_ERROR_INVALID_ARGUMENT, and NVML_COMPUTE_INSTANCE_PROFILE_SCAN_MAX
 * only bounds that loop.
 */
#define NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE 0x0
#define NVML_COMPUTE_INSTANCE_PROFILE_2_SLICE 0x1
#define NVML_COMPUTE_INSTANCE_PROFILE_3_SLICE 0x2
#define NVML_COMPUTE_INSTANCE_PROFILE_4_SLICE 0x3
#define NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE 0x4
#define NVML_COMPUTE_INSTANCE_PROFILE_8_SLICE 0x5
#define NVML_COMPUTE_INSTANCE_PROFILE_6_SLICE 0x6
#define NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE_REV1 0x7
#define NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE_NVL 0x8
#define NVML_COMPUTE_INSTANCE_PROFILE_COUNT_13_3 0x9	/* NVML 13.3's COUNT */
#define NVML_COMPUTE_INSTANCE_PROFILE_SCAN_MAX 32	/* loom's bound, not NVML's */

#define NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED 0x0

typedef struct nvmlGpuInstancePlacement_st {
	unsigned int start;		/* first memory slice */
	unsigned int size;		/* memory slices */
} nvmlGpuInstancePlacement_t;

/* The unversioned (v1) struct that nvmlDeviceGetGpuInstanceProfileInfo fills. */
typedef struct nvmlGpuInstanceProfileInfo_st {
	unsigned int id;		/* the profile ID create/list calls take */
	unsigned int isP2pSupported;
	unsigned int sliceCount;	/* compute slices */
	unsigned int instanceCount;
	unsigned int multiprocessorCount;
	unsigned int copyEngineCount;
	unsigned int decoderCount;
	unsigned int encoderCount;
	unsigned int jpegCount;
	unsigned int ofaCount;
	unsigned long long memorySizeMB;
} nvmlGpuInstanceProfileInfo_t;

typedef struct nvmlGpuInstanceInfo_st {
	nvmlDevice_t device;
	unsigned int id;
	unsigned int profileId;
	nvmlGpuInstancePlacement_t placement;
} nvmlGpuInstanceInfo_t;

/* The unversioned (v1) struct of nvmlGpuInstanceGetComputeInstanceProfileInfo. */
typedef struct nvmlComputeInstanceProfileInfo_st {
	unsigned int id;
	unsigned int sliceCount;
	unsigned int instanceCount;
	unsigned int multiprocessorCount;
	unsigned int sharedCopyEngineCount;
	unsigned int sharedDecoderCount;
	unsigned int sharedEncoderCount;
	unsigned int sharedJpegCount;
	unsigned int sharedOfaCount;
} nvmlComputeInstanceProfileInfo_t;

/*
 * The entry points, by the names the library exports.  nvml.h maps the
 * plain names of three of them to their current versions (nvmlInit ->
 * nvmlInit_v2, nvmlDeviceGetCount -> _v2, nvmlDeviceGetHandleByIndex ->
 * _v2); the others have never been versioned.  gpu/nvml.c resolves them
 * with dlsym (a function-pointer type per entry point below); the stand-in
 * defines them, so the compiler checks its signatures against these.
 */
typedef nvmlReturn_t nvml_init_fn(void);
typedef nvmlReturn_t nvml_shutdown_fn(void);
typedef const char *nvml_error_string_fn(nvmlReturn_t result);
typedef nvmlReturn_t nvml_device_count_fn(unsigned int *deviceCount);
typedef nvmlReturn_t nvml_device_by_index_fn(unsigned int index, nvmlDevice_t *device);
typedef nvmlReturn_t nvml_device_name_fn(nvmlDevice_t device, char *name, unsigned int length);
typedef nvmlReturn_t nvml_get_mig_mode_fn(nvmlDevice_t device, unsigned int *currentMode,
					  unsigned int *pendingMode);
typedef nvmlReturn_t nvml_set_mig_mode_fn(nvmlDevice_t device, unsigned int mode,
					  nvmlReturn_t *activationStatus);
typedef nvmlReturn_t nvml_gi_profile_info_fn(nvmlDevice_t device, unsigned int profile,
					     nvmlGpuInstanceProfileInfo_t *info);
typedef nvmlReturn_t nvml_gi_list_fn(nvmlDevice_t device, unsigned int profileId,
				     nvmlGpuInstance_t *gpuInstances, unsigned int *count);
typedef nvmlReturn_t nvml_gi_create_fn(nvmlDevice_t device, unsigned int profileId,
				       const nvmlGpuInstancePlacement_t *placement,
				       nvmlGpuInstance_t *gpuInstance);
typedef nvmlReturn_t nvml_gi_destroy_fn(nvmlGpuInstance_t gpuInstance);
typedef nvmlReturn_t nvml_gi_info_fn(nvmlGpuInstance_t gpuInstance, nvmlGpuInstanceInfo_t *info);
typedef nvmlReturn_t nvml_ci_profile_info_fn(nvmlGpuInstance_t gpuInstance, unsigned int profile,
					     unsigned int engProfile,
					     nvmlComputeInstanceProfileInfo_t *info);
typedef nvmlReturn_t nvml_ci_list_fn(nvmlGpuInstance_t gpuInstance, unsigned int profileId,
				     nvmlComputeInstance_t *computeInstances, unsigned int *count);
typedef nvmlReturn_t nvml_ci_create_fn(nvmlGpuInstance_t gpuInstance, unsigned int profileId,
				       nvmlComputeInstance_t *computeInstance);
typedef nvmlReturn_t nvml_ci_destroy_fn(nvmlComputeInstance_t computeInstance);

/* X(field, exported symbol, function type): one line per entry point loom resolves. */
#define NVML_ABI_ENTRY_POINTS(X)						\
	X(init, "nvmlInit_v2", nvml_init_fn)					\
	X(shutdown, "nvmlShutdown", nvml_shutdown_fn)				\
	X(error_string, "nvmlErrorString", nvml_error_string_fn)		\
	X(count, "nvmlDeviceGetCount_v2", nvml_device_count_fn)			\
	X(handle_by_index, "nvmlDeviceGetHandleByIndex_v2", nvml_device_by_index_fn) \
	X(name, "nvmlDeviceGetName", nvml_device_name_fn)			\
	X(get_mig_mode, "nvmlDeviceGetMigMode", nvml_get_mig_mode_fn)		\
	X(set_mig_mode, "nvmlDeviceSetMigMode", nvml_set_mig_mode_fn)		\
	X(gi_profile_info, "nvmlDeviceGetGpuInstanceProfileInfo", nvml_gi_profile_info_fn) \
	X(gi_list, "nvmlDeviceGetGpuInstances", nvml_gi_list_fn)		\
	X(gi_create, "nvmlDeviceCreateGpuInstanceWithPlacement", nvml_gi_create_fn) \
	X(gi_destroy, "nvmlGpuInstanceDestroy", nvml_gi_destroy_fn)		\
	X(gi_info, "nvmlGpuInstanceGetInfo", nvml_gi_info_fn)			\
	X(ci_profile_info, "nvmlGpuInstanceGetComputeInstanceProfileInfo",	\
	  nvml_ci_profile_info_fn)						\
	X(ci_list, "nvmlGpuInstanceGetComputeInstances", nvml_ci_list_fn)	\
	X(ci_create, "nvmlGpuInstanceCreateComputeInstance", nvml_ci_create_fn)	\
	X(ci_destroy, "nvmlComputeInstanceDestroy", nvml_ci_destroy_fn)

#endif

/*
 * targets/gpu.h: the GPU target.  One per node of loomd.conf's
 * gpu.nvml.NODE that the topology has; it owns the whole MIG layout of the
 * node's MIG-capable GPUs (compile_gpus) and drives it through NVML.
 */
#ifndef LOOM_TARGETS_GPU_H
#define LOOM_TARGETS_GPU_H

#include <stdbool.h>

#include <jansson.h>

#include "targets/target.h"

extern const struct target_kind gpu_target_kind;

/* One GPU's item {target, kind, layer, state, reason, since}, or NULL when no worker drives it. */
json_t *reconciler_gpu_status(const struct reconciler *r, const char *node, unsigned int index);
/* Is there a GPU worker for @node? */
bool reconciler_gpu_managed(const struct reconciler *r, const char *node);

#endif

/*
 * targets/registry.c: every kind of target the reconciler drives.  Their
 * order is the order of the targets in status (and of the workers'
 * start): a new kind is its file and one line here.
 */
#include "config.h"

#include <stddef.h>

#include "targets/gpu.h"
#include "targets/null.h"
#include "targets/remote.h"
#include "targets/sm.h"
#include "targets/vtep.h"

const struct target_kind *const target_kinds[] = {
	&vtep_target_kind,
	&sm_target_kind,
	&gpu_target_kind,
	&null_target_kind,
	&remote_target_kind,
	NULL,
};

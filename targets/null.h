/*
 * targets/null.h: the null target.  It drives nothing: each run records
 * what it was asked and reports every item programmed (layer "null").
 * With reconciler_opts.null_targets every VTEP and subnet manager of the
 * topology is one, taking that VTEP's or SM's slice: the scheduler,
 * compile and status run for real, without namespaces, FRR or OpenSM (the
 * scheduler's unit test, the scale benchmarks).
 */
#ifndef LOOM_TARGETS_NULL_H
#define LOOM_TARGETS_NULL_H

#include <stddef.h>
#include <stdint.h>

#include "targets/target.h"

extern const struct target_kind null_target_kind;

/*
 * What null target @name was asked: how many runs, and the IDs (VNIs or
 * P_Keys) of the slice of its last run, in *ids (malloc'd, NULL when
 * none).  -ENOENT when there is no null target @name, -ENOMEM.
 */
int null_target_asked(const struct reconciler *r, const char *name, unsigned long *runs, uint32_t **ids,
		      size_t *n_ids);

#endif

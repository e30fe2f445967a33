/*
 * isolation/read.h: the truth readers, one per kind of target.  Each fills
 * its part of a struct fabric_truth from the fabric itself and records
 * why it could not (rc and error in the entry), so that a target that
 * does not answer is reported, never taken as clean.  They block (netlink,
 * vtysh, MADs, NVML): call them from a worker, not the main loop.
 */
#ifndef LOOM_ISOLATION_READ_H
#define LOOM_ISOLATION_READ_H

#include "isolation/isolation.h"

/* Links and bridge FDB of namespace @netns ("" = ours) into @v; 0 or -errno. */
int truth_read_kernel(const char *netns, struct truth_vtep *v);

#endif

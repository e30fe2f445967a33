/*
 * src/verify.h: node.verify, and the RDMA admission check it runs itself
 * when loomd.conf names a tool and a reference peer (rdma.tool, rdma.peer).
 *
 * One job per node: a thread runs rdma_bw_run for each of the node's HCA
 * ports, one port after the other, each against a reference peer's port on
 * the same fabric taken from the pool of rdma.peer's ports (one check per
 * peer port at a time, the others queued: fabric/rdma_bw.h), and wakes the
 * main loop through an eventfd.  The main loop
 * then judges and stores the results and moves the node to available or
 * quarantined (verify_finish), as loomd itself, in one audited write.
 * A run that failed at the peer's end is tried again (RDMA_PEER_TRIES in
 * all); if it still fails the node stays `verifying`, the peer named as
 * the cause, for the next node.verify or loomd's restart to run it again.
 * Nothing here touches the store or the model: the thread owns its job
 * only.
 */
#ifndef LOOM_SRC_VERIFY_H
#define LOOM_SRC_VERIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "fabric/rdma_bw.h"
#include "lib/err.h"
#include "src/call.h"
#include "src/conf.h"
#include "topology/topology.h"

/* One HCA port's measurement, or why there is none. */
struct rdma_port_run {
	char port[LOOM_NAME_MAX];	/* the node's HCA port */
	unsigned int rate_gbps;
	char device[LOOM_NAME_MAX];	/* "mlx5_0" of "mlx5_0/1" */
	unsigned int ib_port;
	char peer[LOOM_NAME_MAX];	/* the reference node it ran against */
	char peer_device[LOOM_NAME_MAX];
	unsigned int peer_ib_port;
	int ret;			/* 0, or -errno: no measurement */
	bool peer_fault;		/* ret < 0 through the peer's end, not the node's */
	char error[sizeof(((struct loom_err *)0)->msg)];
	struct rdma_bw_result res;
};

struct rdma_job;

/*
 * Starts the check of @node against the configured peer: refuses (with
 * @err) a node without HCA ports, the peer itself, a peer without HCA
 * ports, or a node whose check is already running.
 */
int rdma_job_start(struct loomd *d, const struct topo_node *node, struct loom_err *err);
bool rdma_job_running(const struct loomd *d, const char *node);

/* The eventfd the main loop watches (opened by rdma_jobs_open). */
int rdma_jobs_open(struct loomd *d);
int rdma_jobs_fd(const struct loomd *d);
/* When the fd fired: finishes every job that is done (main thread). */
void rdma_jobs_collect(struct loomd *d);
/*
 * At start: a node stored `verifying` while loomd.conf names a tool and a
 * peer had its check cut short by a restart (a check writes nothing until
 * it ends): start it again.
 */
void rdma_jobs_resume(struct loomd *d);
/* Waits for running jobs (each is bounded by the tool's time limits). */
void rdma_jobs_close(struct loomd *d);

/* What a finished job hands to its judge (verify_finish). */
struct rdma_job_result {
	const char *node;
	const char *peer;	/* rdma.peer as configured; each run names its own */
	const struct rdma_port_run *runs;
	size_t n_runs;
};

/*
 * node.verify: starts verification and, when measurements are given,
 * judges them; without, and with rdma.tool and rdma.peer, starts the RDMA
 * check itself.
 */
api_method_fn m_node_verify;

#endif

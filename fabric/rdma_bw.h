/*
 * fabric/rdma_bw.h: the RDMA bandwidth check that gates a node's admission.
 *
 * Three parts: the pass threshold for a port's link rate (default 90% of
 * the rate's data rate, overridable per rate); a parser of perftest's
 * ib_write_bw output (loom's own loom-rdma-bw prints the same table); and a
 * runner that starts the server end and the client end through argv arrays
 * (lib/child.h), locally or behind an operator-set prefix such as
 * {"ssh", "-oBatchMode=yes", "{host}"}, never through a shell string.
 *
 * No RDMA data path exists where loom is built and tested (no HCA, no IB
 * kernel stack, no rdma_rxe): the tests run the parser on golden outputs,
 * the runner against stand-in tools and against the real ib_write_bw
 * failing for lack of a device.  See docs/lifecycle.md.
 */
#ifndef LOOM_FABRIC_RDMA_BW_H
#define LOOM_FABRIC_RDMA_BW_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "lib/err.h"
#include "topology/topology.h"

/*
 * A link rate as the topology gives it (rate_gbps: the nominal rate, e.g.
 * 40 for 4x QDR) and what the link can carry after line coding: 8b/10b up
 * to QDR (4x QDR carries 32 Gb/s), 64b/66b from FDR (4x FDR: 54.5), EDR and
 * later quote the data rate itself (100, 200, 400, 800).  A nominal 40 is
 * taken as QDR (FDR10 carries 40; override per rate if that is the fleet).
 */
struct rdma_rate {
	unsigned int gbps;	/* nominal */
	const char *name;	/* "4x NDR" */
	double data_gbps;	/* what a perfect test could reach */
};

/* The rate's entry, or NULL when the rate is not an InfiniBand rate. */
const struct rdma_rate *rdma_rate_lookup(unsigned int rate_gbps);

#define RDMA_OVERRIDES_MAX 16

struct rdma_threshold_override {
	unsigned int rate_gbps;
	double pct;		/* 0 = the default percentage */
	double min_gbps;	/* 0 = from the percentage; else this floor in Gb/s */
};

struct rdma_thresholds {
	double pct;		/* default 90 */
	struct rdma_threshold_override over[RDMA_OVERRIDES_MAX];
	size_t n_over;
};

void rdma_thresholds_defaults(struct rdma_thresholds *t);

/*
 * loomd.conf keys: rdma.pass_pct = 90; rdma.pass_pct.400 = 95 (per rate);
 * rdma.min_gbps.400 = 370 (a floor in Gb/s, wins over the percentage).
 * Returns 0, -ENOENT for a key that is not ours, -EINVAL with LOOM_E_CONFIG.
 */
int rdma_thresholds_set(struct rdma_thresholds *t, const char *key, const char *value,
			struct loom_err *err);

/*
 * The pass mark in Gb/s for a port at @rate_gbps; fills *line_gbps (the
 * data rate the percentage applies to) when not NULL.  An unknown rate is
 * taken at its nominal value.
 */
double rdma_threshold_gbps(const struct rdma_thresholds *t, unsigned int rate_gbps,
			   double *line_gbps);

/* Which end a failed run is blamed on (rdma_bw_run fills it in). */
enum rdma_fault {
	RDMA_FAULT_NONE,
	RDMA_FAULT_NODE,	/* the client end: the node under test */
	RDMA_FAULT_PEER,	/* the server end: the reference peer */
};

struct rdma_bw_result {
	double gbps;		/* BW average, Gb/s (10^9 bit/s) */
	double peak_gbps;
	double msg_rate_mpps;
	unsigned long bytes;	/* message size of the row used */
	unsigned long iterations;
	unsigned int qps;	/* "Number of qps", 0 when not printed */
	char device[LOOM_NAME_MAX];	/* "Device", "" when not printed */
	double duration_s;	/* the client's wall time (runner) */
	char peer[LOOM_NAME_MAX];	/* the reference node (runner) */
	/* From rdma_bw_judge: */
	unsigned int rate_gbps;
	double line_gbps;
	double threshold_gbps;
	double pct_of_line;
	bool pass;
	char reason[256];
	/* From rdma_bw_run when it fails: */
	enum rdma_fault fault;
};

/*
 * Parse ib_write_bw's report (either unit: MB/sec is MiB/s, Gb/sec is
 * 10^9 bit/s, see --report_gbits).  With several message sizes (-a) the
 * largest one counts.  Returns 0, or -EINVAL with LOOM_E_UNAVAILABLE when
 * the text has no result row.  Fills only the parsed fields.
 */
int rdma_bw_parse_perftest(const char *text, struct rdma_bw_result *res,
			   struct loom_err *err);

/* What loom-rdma-bw measured, to print as ib_write_bw's table. */
struct rdma_bw_report {
	const char *device;
	unsigned int qps;
	const char *link;	/* "IB" or "Ethernet" */
	unsigned int duration_s;
	unsigned long size;	/* message bytes */
	unsigned long long msgs;	/* messages completed */
	double secs;		/* wall time of the writes */
	bool gbits;		/* Gb/sec, else MiB/sec (perftest's MB/sec) */
};

/* The report in ib_write_bw's layout (rdma_bw_parse_perftest reads it); like snprintf. */
int rdma_bw_format_report(const struct rdma_bw_report *r, char *buf, size_t size);

/* Compare @res against the threshold for @rate_gbps: fills the judge fields. */
void rdma_bw_judge(const struct rdma_thresholds *t, unsigned int rate_gbps,
		   struct rdma_bw_result *res);

/*
 * {"gbps", "peak_gbps", "pct_of_line", "line_gbps", "threshold_gbps",
 *  "rate_gbps", "pass", "reason", "duration_s", "peer", "device", "qps",
 *  "bytes", "iterations"}: what the store keeps and `loomctl node show` shows.
 * Reals are rounded to 0.01; dump with JSON_REAL_PRECISION(10) to print
 * them that way (jansson's default prints 391.76999999999998).
 */
json_t *rdma_bw_result_to_json(const struct rdma_bw_result *res);

enum rdma_tool {
	RDMA_TOOL_PERFTEST,	/* ib_write_bw */
	RDMA_TOOL_BUILTIN,	/* loom-rdma-bw (fabric/rdma_verbs.c) */
};

struct rdma_bw_opts {
	enum rdma_tool tool;
	const char *program;	/* NULL = "ib_write_bw" / "loom-rdma-bw" from PATH */
	unsigned int qps;	/* default 4 */
	unsigned long size;	/* message bytes, default 1 MiB */
	unsigned int duration_s;	/* default 5 */
	unsigned int tcp_port;	/* out-of-band exchange, default 18515 */
	int timeout_ms;		/* per end; default duration + 30 s */
	int gid_index;		/* RoCE GID index (-x); -1 = the tool's choice */
	unsigned int tx_depth;	/* perftest's -t (sends in flight per QP); 0 = its default */
};

/*
 * loomd.conf keys for the shape of the check: rdma.qps (1-64),
 * rdma.size (message bytes, 4096 to 1 GiB), rdma.duration (seconds, 1-600),
 * rdma.gid_index (0-255, or "auto" for the tool's choice; RoCE needs the
 * index of the port's IPv4 or IPv6 GID), rdma.timeout (seconds per end,
 * 0 = duration + 40), rdma.tx_depth (ib_write_bw's -t, 1-8192, 0 = its
 * default of 128: a short queue in flight keeps a shaped link from
 * holding a queue pair's packets long after the run).  Returns 0, -ENOENT for a key that is not ours,
 * -EINVAL with LOOM_E_CONFIG.
 */
int rdma_bw_opts_set(struct rdma_bw_opts *o, const char *key, const char *value,
		     struct loom_err *err);


/* One end of the test: which node, which HCA port, how to reach the node. */
struct rdma_end {
	const char *host;	/* replaces "{host}" in the prefix; reported as peer */
	const char *device;	/* "mlx5_0" */
	unsigned int ib_port;	/* 1 */
	const char *const *prefix;	/* NULL = run locally; else e.g. {"ssh", "{host}", NULL} */
};

#define RDMA_ARGV_MAX 48

struct rdma_argv {
	const char *argv[RDMA_ARGV_MAX];
	size_t argc;
	char buf[2048];
	size_t used;
};

void rdma_bw_opts_defaults(struct rdma_bw_opts *o);

/*
 * The argv for one end: the prefix (with "{host}" replaced), then the tool
 * with -d DEV -i PORT -q QPS -s SIZE -D SECONDS -p TCPPORT [-x GID]
 * --report_gbits (and -F [-t DEPTH] for perftest), then @server_addr for the client end (NULL for the
 * server end).  Returns 0, -E2BIG when it does not fit, -EINVAL for an
 * argument that could be taken for an option (a leading '-').
 */
int rdma_bw_argv(const struct rdma_bw_opts *o, const struct rdma_end *end,
		 const char *server_addr, struct rdma_argv *out);

/*
 * Run the check: the server end, then the client end connecting to
 * @server_addr (retried while the server is not listening yet, for a
 * bounded time), then parse the client's report.  Fills @res (peer =
 * server->host, duration_s = client wall time); the caller judges it with
 * rdma_bw_judge().  Returns 0, or -errno with @err: LOOM_E_UNAVAILABLE
 * when an end failed (its stderr in the message), LOOM_E_TIMEOUT; then
 * res->fault says which end is to blame.  The peer is when its server end
 * could not start, exited with an error before the client end was done,
 * or never listened within the connect window; every other failure,
 * a hang included, is the node's.
 */
int rdma_bw_run(const struct rdma_bw_opts *o, const struct rdma_end *server,
		const struct rdma_end *client, const char *server_addr,
		struct rdma_bw_result *res, struct loom_err *err);

/*
 * The reference peers' HCA ports that checks run against.  One check per
 * peer port at a time: two would share the port and halve each
 * measurement.  A check that finds every fitting port busy waits its turn.
 * Each peer port has its own TCP port for the tool's exchange (the base
 * plus its index), so checks against two ports of one peer can run at
 * once.  A port fits a node's port when both are on the same fabric (the
 * same subnet manager, or both RoCE: no subnet manager); among the free
 * ones the same name wins, then the same rail, then the same rate.
 */
#define RDMA_POOL_MAX 64

struct rdma_pool_port {
	char peer[LOOM_NAME_MAX];	/* the reference node */
	char addr[LOOM_NAME_MAX];	/* what the client end connects to */
	char port[LOOM_NAME_MAX];	/* "mlx5_0/1" */
	char sm[LOOM_NAME_MAX];		/* "" = RoCE */
	char rail[LOOM_NAME_MAX];
	unsigned int rate_gbps;
	unsigned int tcp_port;
	bool busy;
};

struct rdma_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct rdma_pool_port ports[RDMA_POOL_MAX];
	size_t n;
	bool closing;		/* waiters give up (loomd's shutdown) */
};

void rdma_pool_init(struct rdma_pool *p);
void rdma_pool_destroy(struct rdma_pool *p);
/* Drops every port (none may be busy). */
void rdma_pool_clear(struct rdma_pool *p);
/* Adds @peer's HCA ports, reached at @addr.  Returns 0 or -E2BIG. */
int rdma_pool_add(struct rdma_pool *p, const struct topo_node *peer, const char *addr,
		  unsigned int base_tcp_port);
/*
 * The index of the best free port for node @node's port @want, never one
 * of @node's own, preferring another peer's to @avoid's (-1: none); -EBUSY when
 * every fitting port is busy, -ENOENT when none fits.  Pure: the caller
 * holds the lock or owns the pool.
 */
int rdma_pool_pick(const struct rdma_pool *p, const char *node, const struct topo_hca_port *want,
		   int avoid);
/*
 * Waits (at most @timeout_ms) for a fitting port and marks it busy: its
 * index, -ENOENT (none fits), -ETIMEDOUT, -ECANCELED (the pool closes).
 */
int rdma_pool_acquire(struct rdma_pool *p, const char *node, const struct topo_hca_port *want,
		      int avoid, int timeout_ms);
void rdma_pool_release(struct rdma_pool *p, int idx);
/* Wakes every waiter with -ECANCELED from now on. */
void rdma_pool_close(struct rdma_pool *p);

#endif

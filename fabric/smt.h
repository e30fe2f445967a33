/*
 * fabric/smt.h: the subnet-manager target.  One struct smt per OpenSM that
 * loom drives: it writes loom's section of the partitions file, signals
 * OpenSM, waits for the sweep, and verifies the result on the fabric by
 * reading every member port's P_Key table with SMPs (libibumad).
 *
 * Blocking with time limits: loomd runs each target on its own worker
 * thread.  Inside one call the MADs are asynchronous (many SMPs in flight,
 * each with its own TID, timeout and retries, one poll loop on the umad
 * fd).  A struct smt is not thread-safe; one thread uses it at a time.
 */
#ifndef LOOM_FABRIC_SMT_H
#define LOOM_FABRIC_SMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "tenancy/compile.h"
#include "topology/topology.h"

struct smt;

enum smt_pstate {
	SMT_PROGRAMMED,		/* every member carries it, right bit; nobody else does */
	SMT_PENDING,		/* not yet (OpenSM has not swept, or is sweeping) */
	SMT_ERROR,		/* a member cannot be read or is not in the fabric */
};

struct smt_pstatus {
	uint16_t pkey;
	char name[LOOM_NAME_MAX];
	char tenant[LOOM_NAME_MAX];	/* from the desired partition; "" when removed */
	char segment[LOOM_NAME_MAX];
	bool removed;		/* no longer desired: programmed = gone from every port;
				 * name is then its name in loom's section */
	enum smt_pstate state;
	unsigned int ports_ok;	/* members (or, when removed, ports) as desired */
	unsigned int ports_total;
	char reason[256];	/* the first problem found, "" when programmed */
};

struct smt_stats {
	unsigned long smps;		/* SMPs and SA queries sent, retries included */
	unsigned long retries;
	unsigned long timeouts;		/* requests that ran out of retries */
};

/*
 * Open the umad port named by @sm (umad_ca/umad_port; "" / 0 = first active)
 * and register the SMI and SA agents.  No fabric I/O yet.
 * LOOM_E_UNAVAILABLE when there is no such port.
 */
int smt_open(const struct topo_sm *sm, struct smt **out, struct loom_err *err);
void smt_close(struct smt **s);

/* The umad fd (for an event loop that wants to watch it) and counters. */
int smt_fd(const struct smt *s);
void smt_get_stats(const struct smt *s, struct smt_stats *out);
/* Per-request timeout, retries, and SMPs in flight (defaults 200 ms, 3, 64). */
void smt_set_mad_params(struct smt *s, unsigned int timeout_ms, unsigned int retries,
			unsigned int window);

/*
 * Validate @d, check it against the fabric (every member GUID must be a
 * port of this fabric; no port's P_Key table may overflow) and against the
 * operator's partitions in the file (no shared P_Key), render loom's
 * section and replace the file atomically.  On any error the file is left
 * as it was.  Does not signal OpenSM.  Returns 0 or -errno.  When the file
 * already held exactly this section nothing is written and no fabric I/O
 * is done (a no-op resync); smt_write_changed() then says false and no
 * SIGHUP is needed.
 */
int smt_write(struct smt *s, const struct sm_desired *d, struct loom_err *err);
bool smt_write_changed(const struct smt *s);

/*
 * What of @d a write cannot take, each left out alone so that the rest is
 * written: a partition OpenSM would refuse (partitions_validate's rules)
 * or whose P_Key an operator's partition outside loom's section uses goes
 * whole; a member the fabric does not have or that cannot be reached, and
 * a port whose P_Key table cannot take every partition it is in, loses
 * only that membership (a port over capacity keeps the P_Keys it carries
 * now, then the lowest others that fit).  *kept gets @d less those,
 * *ex (malloc'd, *n_ex of them) each exclusion with its reason, in the
 * wording of smt_write's refusals.  Reads the file and every member's
 * P_Key table.  Returns 0, or -errno with @err when the file or the SM's
 * port cannot be used at all (a problem of the whole target).
 */
struct smt_excluded {
	uint16_t pkey;
	uint64_t guid;		/* the member left out; 0: the whole partition */
	char reason[256];
};
int smt_contain(struct smt *s, const struct sm_desired *d, struct sm_desired **kept, struct smt_excluded **ex,
		size_t *n_ex, struct loom_err *err);

/*
 * SIGHUP to the pid in the SM's pid file (LOOM_E_UNAVAILABLE naming the
 * pid file when it is missing, unreadable, or names no running opensm).
 * Remembers OpenSM's activity counter (SMInfo.ActCount) for
 * smt_wait_sweep.
 */
int smt_signal(struct smt *s, struct loom_err *err);

/*
 * Wait until OpenSM has swept after smt_signal: its SMInfo.ActCount moved
 * and then stayed still for a settle interval.  Returns the milliseconds
 * waited, or LOOM_E_TIMEOUT after @timeout_ms.
 */
int smt_wait_sweep(struct smt *s, int timeout_ms, struct loom_err *err);

/*
 * Read the P_Key table of every port loom has put in or taken out of a
 * partition, and compare with @d.  *out gets one status per desired
 * partition (in @d's order) followed by one per partition loom removed and
 * still has to see gone.  Returns the number of statuses that are not
 * SMT_PROGRAMMED (0 = converged), or -errno with @err set when the fabric
 * cannot be read at all.
 */
int smt_verify(struct smt *s, const struct sm_desired *d, struct smt_pstatus **out,
	       size_t *n_out, struct loom_err *err);

/* smt_verify until converged or @timeout_ms; returns what the last one did. */
int smt_converge(struct smt *s, const struct sm_desired *d, int timeout_ms,
		 struct smt_pstatus **out, size_t *n_out, struct loom_err *err);

/*
 * Has loom's section been edited by hand (its checksum no longer matches,
 * it differs from what this smt wrote, or it was removed)?
 */
int smt_changed_by_hand(struct smt *s, bool *changed, struct loom_err *err);

/*
 * Has OpenSM restarted (another pid, or the same pid with another start
 * time) since smt_open / the last call that said so?  Forgets cached LIDs
 * when it has.  LOOM_E_UNAVAILABLE when OpenSM is not running.
 */
int smt_sm_restarted(struct smt *s, bool *restarted, struct loom_err *err);

/*
 * A port's P_Key table: its capacity (NodeInfo.PartitionCap, read from the
 * port) and how many entries are in use now.  LOOM_E_NOT_FOUND when the
 * GUID is not in the fabric.
 */
int ib_port_pkey_capacity(struct smt *s, uint64_t port_guid, unsigned int *capacity,
			  unsigned int *used, struct loom_err *err);

/*
 * Would @d overflow a port's table?  Counts, per member port, loom's
 * partitions plus the entries on the port that loom does not own (Default,
 * the operator's).  LOOM_E_EXHAUSTED naming the port, its node and its
 * capacity.
 */
int smt_check_capacity(struct smt *s, const struct sm_desired *d, struct loom_err *err);

/*
 * Per member port of @d, what the last smt_verify / smt_check_capacity read
 * (no MAD I/O: cheap to call after smt_converge).  foreign counts the
 * entries that are neither @d's P_Keys nor any P_Key loom manages (Default,
 * the operator's).  valid is false for a port that could not be read.
 * *out is malloc'd (free it), sorted by GUID.
 */
struct smt_port_usage {
	uint64_t guid;
	uint16_t lid;
	bool valid;
	unsigned int capacity;		/* NodeInfo.PartitionCap */
	unsigned int used;		/* non-zero entries */
	unsigned int foreign;
};
int smt_port_usage(struct smt *s, const struct sm_desired *d, struct smt_port_usage **out,
		   size_t *n_out);

/* Read one port's P_Key table (up to @max entries); returns the count. */
int smt_read_pkeys(struct smt *s, uint64_t port_guid, uint16_t *pkeys, size_t max,
		   struct loom_err *err);

/*
 * The HCA watcher's sample: per port GUID, PortInfo.PortState and the
 * PortCounters error counters (PerfMgt GMP), all requests in flight at
 * once.  result: 0 read; -ENOENT the SA does not know the port (gone from
 * the fabric); -ETIMEDOUT / -EHOSTUNREACH it does not answer (its link is
 * down: a LID-routed MAD cannot reach it).  counters_ok is false when the
 * counters could not be read (no PerfMgt agent, or no answer).  Returns 0,
 * or -errno with @err when the SM's own port cannot be used.
 */
struct smt_port_health {
	uint64_t guid;		/* in */
	int result;
	uint8_t port_state;	/* 1 Down, 2 Init, 3 Armed, 4 Active */
	bool counters_ok;
	uint32_t symbol_errors, link_recovery, link_downed;
};
int smt_port_health(struct smt *s, struct smt_port_health *ports, size_t n, struct loom_err *err);

void smt_pstatus_free(struct smt_pstatus **st);
const char *smt_pstate_name(enum smt_pstate st);

#endif

/*
 * overlay/frr_priv.h: what the FRR target's files share, and nothing
 * outside overlay/frr*.c includes.
 *
 *   frr_config.c  the pure half: parse, plan, render, JSON (no FRR at all)
 *   frr.c         the target: open/close, the view frr_plan diffs against,
 *                 observe / plan / apply / verify, restarts
 *   frr_vty.c     the daemons' vty sockets: their pids, one command and its
 *                 JSON, a whole batch pipelined to bgpd
 *   frr_vtysh.c   vtysh children: one run, a batch by -f or -c, and the
 *                 long-lived vtysh session
 */
#ifndef LOOM_OVERLAY_FRR_PRIV_H
#define LOOM_OVERLAY_FRR_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "lib/child.h"
#include "lib/err.h"
#include "overlay/frr.h"

#define FRR_OUTPUT_MAX (256u << 20)	/* running-config of 100k VNIs fits */

struct frr_target {
	struct topo_vtep vtep;
	char vtysh[LOOM_PATH_MAX];
	int timeout_ms;
	enum frr_apply_mode mode;
	pid_t bgpd_pid, zebra_pid;	/* frr_restarted()'s memory */
	bool pids_known;
	/* The view of FRR frr_plan() diffs against (see frr.h). */
	struct frr_state view;
	bool view_valid;
	pid_t view_bgpd, view_zebra;	/* the daemons the view was read from */
	/* FRR_APPLY_SESSION: a vtysh kept running, talked to over a socket
	 * pair (send() with MSG_NOSIGNAL: a dead vtysh cannot SIGPIPE us). */
	pid_t sess_pid;
	int sess_fd;
	unsigned long sess_seq;
};

/* ---- frr_vty.c ---- */

/* Both daemons' pids, or LOOM_E_UNAVAILABLE. -EAGAIN: alive but busy. */
int frr_vty_pids(const struct frr_target *t, pid_t *bgpd, pid_t *zebra, struct loom_err *err);
/* When a command failed, say whether FRR is down (clearer than vtysh's
 * words): < 0 with @err set when it is, 0 when both daemons answer. */
int frr_vty_probe_down(const struct frr_target *t, struct loom_err *err);
/* One show command on a daemon's vty, its JSON parsed; NULL with @err set. */
json_t *frr_vty_json(struct frr_target *t, const char *daemon, const char *cmd,
		     struct loom_err *err);
/* FRR_APPLY_VTY: the whole plan pipelined to bgpd's vty socket. */
int frr_vty_apply(struct frr_target *t, const struct frr_plan *plan, struct loom_err *err);

/* ---- frr_vtysh.c ---- */

/*
 * Run vtysh against this VTEP (@daemon alone, or NULL: all) with @args
 * appended.  Succeeds only when it exited 0 and printed no FRR error line;
 * otherwise @err carries FRR's own message.  On success @res holds the
 * output.
 */
int frr_vtysh_run(struct frr_target *t, const char *daemon, const char *const *args,
		  size_t n_args, const char *what, struct child_result *res,
		  struct loom_err *err);
/* FRR_APPLY_FILE, and batches too large for the others: vtysh -f. */
int frr_vtysh_apply_file(struct frr_target *t, const struct frr_plan *plan,
			 struct loom_err *err);
/* FRR_APPLY_ARGS: one vtysh -c per line (-f when they do not fit an argv). */
int frr_vtysh_apply_args(struct frr_target *t, const struct frr_plan *plan,
			 struct loom_err *err);
/* FRR_APPLY_SESSION: through the long-lived vtysh, started when needed. */
int frr_session_apply(struct frr_target *t, const struct frr_plan *plan, struct loom_err *err);
/* Ends the session's vtysh (if any): on close, and when FRR restarted. */
void frr_session_stop(struct frr_target *t);

#endif

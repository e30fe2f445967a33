/*
 * overlay/frr.c: the FRR target, the half that talks to FRR.  Every change
 * goes through one vtysh child per batch (argv array, output captured, time
 * limit); restarts are noticed from the daemons' pids, which the kernel
 * hands us for free on their vty sockets (SO_PEERCRED).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/child.h"
#include "lib/log.h"
#include "overlay/frr.h"

#define FRR_TIMEOUT_MS_DEFAULT 30000
#define FRR_OUTPUT_MAX (256u << 20)	/* running-config of 100k VNIs fits */
#define FRR_ARGV_BYTES_MAX (512u << 10)	/* a quarter of ARG_MAX here */

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
};

struct frr_target *frr_target_open(const struct topo_vtep *vtep, struct loom_err *err)
{
	struct frr_target *t;

	if (!vtep->vty_dir[0]) {
		loom_err_set(err, LOOM_E_TOPOLOGY, "vty_dir",
			     "VTEP %s has no FRR vty socket dir", vtep->name);
		return NULL;
	}
	if (!vtep->asn) {
		loom_err_set(err, LOOM_E_TOPOLOGY, "asn", "VTEP %s has no ASN", vtep->name);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
		return NULL;
	}
	t->vtep = *vtep;
	snprintf(t->vtysh, sizeof(t->vtysh), "vtysh");
	t->timeout_ms = FRR_TIMEOUT_MS_DEFAULT;
	t->mode = FRR_APPLY_FILE;
	return t;
}

void frr_target_close(struct frr_target **t)
{
	if (!t || !*t)
		return;
	frr_state_release(&(*t)->view);
	free(*t);
	*t = NULL;
}

void frr_target_invalidate(struct frr_target *t)
{
	t->view_valid = false;
	frr_state_release(&t->view);
}

void frr_target_set_vtysh(struct frr_target *t, const char *path)
{
	snprintf(t->vtysh, sizeof(t->vtysh), "%s", path);
}

void frr_target_set_timeout(struct frr_target *t, int timeout_ms)
{
	t->timeout_ms = timeout_ms > 0 ? timeout_ms : FRR_TIMEOUT_MS_DEFAULT;
}

void frr_target_set_mode(struct frr_target *t, enum frr_apply_mode mode)
{
	t->mode = mode;
}

void frr_daemon_pids(const struct frr_target *t, pid_t *bgpd, pid_t *zebra)
{
	*bgpd = t->bgpd_pid;
	*zebra = t->zebra_pid;
}

/* The pid of the daemon listening on DIR/NAME.vty, or -errno. */
static int vty_peer_pid(const char *dir, const char *daemon, pid_t *pid)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd, rc = 0;

	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s.vty", dir, daemon) >=
	    sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	/* Non-blocking: a daemon with a full backlog must not stall us. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		goto out;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		rc = -errno;
		goto out;
	}
	*pid = cred.pid;
out:
	close(fd);
	return rc;
}

static int unavailable(const struct frr_target *t, struct loom_err *err, const char *what)
{
	loom_err_set(err, LOOM_E_UNAVAILABLE, "vty_dir",
		     "FRR for VTEP %s is not reachable at %s: %s",
		     t->vtep.name, t->vtep.vty_dir, what);
	return -EHOSTDOWN;
}

/* When vtysh failed, say whether FRR is down (clearer than vtysh's words). */
static int probe_down(const struct frr_target *t, struct loom_err *err)
{
	static const char *const daemons[] = { "bgpd", "zebra" };

	for (size_t i = 0; i < sizeof(daemons) / sizeof(daemons[0]); i++) {
		pid_t pid;
		int rc = vty_peer_pid(t->vtep.vty_dir, daemons[i], &pid);

		if (rc < 0 && rc != -EAGAIN) {
			char what[128];

			snprintf(what, sizeof(what), "%s.vty: %s (is %s running?)",
				 daemons[i], strerror(-rc), daemons[i]);
			return unavailable(t, err, what);
		}
	}
	return 0;
}

/*
 * Run vtysh against this VTEP with @args appended.  Succeeds only when it
 * exited 0 and printed no FRR error line; otherwise @err carries FRR's own
 * message.  On success @res holds the output.
 */
static int vtysh_run(struct frr_target *t, const char *daemon,
		     const char *const *args, size_t n_args,
		     const char *what, struct child_result *res, struct loom_err *err)
{
	const char **argv = calloc(n_args + 6, sizeof(*argv));
	char msg[256];
	int rc, n_bad;
	size_t k = 0;

	if (!argv)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory"), -ENOMEM;
	argv[k++] = t->vtysh;
	argv[k++] = "--vty_socket";
	argv[k++] = t->vtep.vty_dir;
	if (daemon) {
		/* Talk to that daemon alone: loom's statements are bgpd's,
		 * and vtysh then skips the other daemons' handshakes. */
		argv[k++] = "-d";
		argv[k++] = daemon;
	}
	memcpy(argv + k, args, n_args * sizeof(*argv));
	rc = child_run(argv, t->timeout_ms, FRR_OUTPUT_MAX, res);
	free(argv);
	if (rc < 0) {
		loom_err_set(err, LOOM_E_INTERNAL, "", "cannot run %s: %s", t->vtysh, strerror(-rc));
		return rc;
	}
	if (res->timed_out) {
		child_result_release(res);
		loom_err_set(err, LOOM_E_UNAVAILABLE, "vty_dir",
			     "vtysh (%s) for VTEP %s at %s did not finish in %d ms",
			     what, t->vtep.name, t->vtep.vty_dir, t->timeout_ms);
		return -ETIMEDOUT;
	}
	n_bad = frr_output_errors(res->err, msg, sizeof(msg));
	if (!n_bad)
		n_bad = frr_output_errors(res->out, msg, sizeof(msg));
	else
		n_bad += frr_output_errors(res->out, NULL, 0);
	if (!n_bad && res->status == 0)
		return 0;
	rc = probe_down(t, err);
	if (!rc) {
		if (!msg[0])
			snprintf(msg, sizeof(msg), "%.200s", res->err[0] ? res->err : res->out);
		loom_err_set(err, LOOM_E_CONFLICT, "vty_dir",
			     "FRR for VTEP %s refused %s (%d error line%s, vtysh exit %d): %s",
			     t->vtep.name, what, n_bad, n_bad == 1 ? "" : "s", res->status, msg);
		rc = -EPROTO;
	}
	log_debug(LOG_SUB_FRR, "frr %s: %s failed: %s", t->vtep.name, what, err ? err->msg : msg);
	child_result_release(res);
	return rc;
}

/* Both daemons' pids, or LOOM_E_UNAVAILABLE. -EAGAIN: alive but busy. */
static int daemon_pids(const struct frr_target *t, pid_t *bgpd, pid_t *zebra,
		       struct loom_err *err)
{
	char what[128];
	int rc;

	*bgpd = *zebra = 0;
	rc = vty_peer_pid(t->vtep.vty_dir, "bgpd", bgpd);
	if (rc == 0)
		rc = vty_peer_pid(t->vtep.vty_dir, "zebra", zebra);
	if (rc < 0 && rc != -EAGAIN) {
		snprintf(what, sizeof(what), "%s.vty: %s (is %s running?)",
			 *bgpd ? "zebra" : "bgpd", strerror(-rc), *bgpd ? "zebra" : "bgpd");
		return unavailable(t, err, what);
	}
	return rc;
}

int frr_observe(struct frr_target *t, struct frr_state *out, struct loom_err *err)
{
	static const char *const args[] = { "-c", "show running-config bgpd" };
	struct child_result res;
	struct frr_state st;
	pid_t bgpd, zebra;
	int rc;

	frr_target_invalidate(t);
	/* The pids before the read: a restart during it voids the view. */
	rc = daemon_pids(t, &bgpd, &zebra, err);
	if (rc < 0 && rc != -EAGAIN)
		return rc;
	rc = vtysh_run(t, "bgpd", args, 2, "show running-config", &res, err);
	if (rc < 0)
		return rc;
	rc = frr_config_parse(res.out, t->vtep.asn, &st, err);
	child_result_release(&res);
	if (rc == -EINVAL && err)
		snprintf(err->field, sizeof(err->field), "asn");
	if (rc < 0)
		return rc;
	if (bgpd && zebra && frr_state_copy(&st, &t->view) == 0) {
		t->view_valid = true;
		t->view_bgpd = bgpd;
		t->view_zebra = zebra;
	}
	if (out)
		*out = st;
	else
		frr_state_release(&st);
	return 0;
}

int frr_plan(struct frr_target *t, const struct vtep_desired *want,
	     struct frr_plan *out, struct loom_err *err)
{
	pid_t bgpd, zebra;
	int rc;

	if (t->view_valid) {
		rc = daemon_pids(t, &bgpd, &zebra, err);
		if (rc < 0 && rc != -EAGAIN)
			return rc;
		if (rc < 0 || bgpd != t->view_bgpd || zebra != t->view_zebra)
			frr_target_invalidate(t);
	}
	if (!t->view_valid) {
		rc = frr_observe(t, NULL, err);
		if (rc < 0)
			return rc;
	}
	if (!t->view.asn) {
		rc = loom_err_set(err, LOOM_E_STATE, "asn",
				  "FRR for VTEP %s at %s has no `router bgp %u`: configure the underlay first",
				  t->vtep.name, t->vtep.vty_dir, t->vtep.asn);
		frr_target_invalidate(t);
		return rc;
	}
	rc = frr_plan_build(&t->view, want, t->vtep.asn, out);
	if (rc == -EINVAL)
		return loom_err_set(err, LOOM_E_PARAMS, "vnis",
				    "a desired RD/RT for VTEP %s is not a single RD/RT token", t->vtep.name);
	if (rc < 0)
		loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
	return rc;
}

static int apply_file(struct frr_target *t, const struct frr_plan *plan,
		      struct loom_err *err)
{
	const char *tmpdir = getenv("TMPDIR");
	char path[LOOM_PATH_MAX];
	char *text = frr_plan_render(plan);
	const char *args[2] = { "-f", path };
	struct child_result res;
	int fd = -1, rc;

	if (!text)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory"), -ENOMEM;
	snprintf(path, sizeof(path), "%s/loom-frr-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		loom_err_set(err, LOOM_E_INTERNAL, "", "cannot create %s: %s", path, strerror(errno));
		path[0] = '\0';
		goto out;
	}
	size_t len = strlen(text), off = 0;

	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = -errno;
			loom_err_set(err, LOOM_E_INTERNAL, "", "cannot write %s: %s", path, strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	rc = vtysh_run(t, "bgpd", args, 2, "loom's EVPN statements", &res, err);
	if (!rc)
		child_result_release(&res);
out:
	if (fd >= 0)
		close(fd);
	if (path[0])
		unlink(path);
	free(text);
	return rc;
}

static int apply_args(struct frr_target *t, const struct frr_plan *plan,
		      struct loom_err *err)
{
	size_t n = 2 + 2 * plan->n_lines, k = 0, bytes = 0;
	const char **args;
	struct child_result res;
	int rc;

	for (size_t i = 0; i < plan->n_lines; i++)
		bytes += strlen(plan->lines[i]) + 4 + 2 * sizeof(char *);
	if (bytes > FRR_ARGV_BYTES_MAX) {
		/* Too large for one argv: the kernel would refuse the exec. */
		log_debug(LOG_SUB_FRR, "frr %s: %zu lines do not fit an argv, using -f",
			  t->vtep.name, plan->n_lines);
		return apply_file(t, plan, err);
	}
	args = calloc(n, sizeof(*args));
	if (!args)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory"), -ENOMEM;
	args[k++] = "-c";
	args[k++] = "configure terminal";
	for (size_t i = 0; i < plan->n_lines; i++) {
		const char *l = plan->lines[i];

		while (*l == ' ')
			l++;
		args[k++] = "-c";
		args[k++] = l;
	}
	rc = vtysh_run(t, "bgpd", args, k, "loom's EVPN statements", &res, err);
	if (!rc)
		child_result_release(&res);
	free(args);
	return rc;
}

int frr_apply(struct frr_target *t, const struct frr_plan *plan, struct loom_err *err)
{
	int rc;

	if (!plan->n_lines)
		return 0;
	rc = t->mode == FRR_APPLY_ARGS ? apply_args(t, plan, err) : apply_file(t, plan, err);
	if (rc < 0) {
		/* FRR may have taken part of it: read it again next time. */
		frr_target_invalidate(t);
		return rc;
	}
	log_debug(LOG_SUB_FRR, "frr %s: applied %zu changes in %zu lines",
		  t->vtep.name, plan->n_changes, plan->n_lines);
	if (t->view_valid) {
		struct frr_state next;

		if (frr_state_copy(&plan->after, &next) == 0) {
			frr_state_release(&t->view);
			t->view = next;
		} else {
			frr_target_invalidate(t);
		}
	}
	return 0;
}

int frr_sync(struct frr_target *t, const struct vtep_desired *want, struct loom_err *err)
{
	struct frr_plan plan;
	int n, rc;

	n = frr_plan(t, want, &plan, err);
	if (n <= 0)
		return n;
	rc = frr_apply(t, &plan, err);
	frr_plan_release(&plan);
	return rc < 0 ? rc : n;
}

/* Parse the next JSON value of a concatenation; advances *off. */
static json_t *json_next(const char *buf, size_t len, size_t *off)
{
	json_error_t jerr;
	json_t *j;

	while (*off < len && (buf[*off] == ' ' || buf[*off] == '\n' || buf[*off] == '\r'))
		(*off)++;
	if (*off >= len)
		return NULL;
	j = json_loadb(buf + *off, len - *off, JSON_DISABLE_EOF_CHECK, &jerr);
	if (j)
		*off += (size_t)jerr.position;
	return j;
}

int frr_verify(struct frr_target *t, const struct vtep_desired *want, bool need_kernel,
	       struct frr_vni_status **out, size_t *n_out, struct loom_err *err)
{
	static const char *const args[] = { "-c", "show bgp l2vpn evpn vni json",
					    "-c", "show evpn vni json" };
	struct child_result res;
	struct frr_bgp_vnis have;
	json_t *bgp = NULL, *zebra = NULL;
	size_t off = 0;
	int rc;

	rc = vtysh_run(t, NULL, args, 4, "show bgp l2vpn evpn vni json", &res, err);
	if (rc < 0)
		return rc;
	bgp = json_next(res.out, res.out_len, &off);
	if (bgp)
		zebra = json_next(res.out, res.out_len, &off);
	if (!bgp) {
		rc = loom_err_set(err, LOOM_E_INTERNAL, "",
				  "FRR for VTEP %s gave no JSON for show bgp l2vpn evpn vni json: %.120s",
				  t->vtep.name, res.out);
		goto out;
	}
	rc = frr_bgp_vnis_parse(bgp, zebra, &have, err);
	if (rc < 0)
		goto out;
	rc = frr_verify_compare(&have, want, need_kernel, out, n_out);
	frr_bgp_vnis_release(&have);
	if (rc == -ENOMEM)
		loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
out:
	json_decref(bgp);
	json_decref(zebra);
	child_result_release(&res);
	return rc;
}

int frr_restarted(struct frr_target *t, struct loom_err *err)
{
	pid_t bgpd, zebra;
	int rc;

	rc = daemon_pids(t, &bgpd, &zebra, err);
	if (rc == -EAGAIN)
		return 0;	/* alive but busy: ask again next time */
	if (rc < 0)
		return rc;
	if (!t->pids_known) {
		t->pids_known = true;
		t->bgpd_pid = bgpd;
		t->zebra_pid = zebra;
		return 0;
	}
	if (bgpd == t->bgpd_pid && zebra == t->zebra_pid)
		return 0;
	log_info("frr %s: FRR restarted (bgpd %d -> %d, zebra %d -> %d): re-applying",
		 t->vtep.name, (int)t->bgpd_pid, (int)bgpd, (int)t->zebra_pid, (int)zebra);
	t->bgpd_pid = bgpd;
	t->zebra_pid = zebra;
	frr_target_invalidate(t);
	return 1;
}

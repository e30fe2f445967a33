/*
 * overlay/frr_vtysh.c: the FRR target's transport through vtysh.  It owns
 * running vtysh as a child (an argv array, output captured, a time limit,
 * FRR's error lines turned into the error), the batches that go through
 * one vtysh run (-f with a file, or one -c per line), and the long-lived
 * vtysh session FRR_APPLY_SESSION writes its batches to.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/child.h"
#include "lib/log.h"
#include "lib/monotime.h"
#include "overlay/frr_priv.h"

#define FRR_ARGV_BYTES_MAX (512u << 10)	/* a quarter of ARG_MAX here */

extern char **environ;

int frr_vtysh_run(struct frr_target *t, const char *daemon, const char *const *args,
		  size_t n_args, const char *what, struct child_result *res,
		  struct loom_err *err)
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
	rc = frr_vty_probe_down(t, err);
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

int frr_vtysh_apply_file(struct frr_target *t, const struct frr_plan *plan,
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
	/* A tenant VRF's `vrf`/`vni` lines are zebra's: then every daemon. */
	rc = frr_vtysh_run(t, plan->zebra ? NULL : "bgpd", args, 2, "loom's EVPN statements", &res,
			   err);
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

int frr_vtysh_apply_args(struct frr_target *t, const struct frr_plan *plan,
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
		return frr_vtysh_apply_file(t, plan, err);
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
	rc = frr_vtysh_run(t, "bgpd", args, k, "loom's EVPN statements", &res, err);
	if (!rc)
		child_result_release(&res);
	free(args);
	return rc;
}

/* ---- session mode ---- */

void frr_session_stop(struct frr_target *t)
{
	if (t->sess_fd >= 0)
		close(t->sess_fd);	/* vtysh sees EOF on stdin and exits */
	t->sess_fd = -1;
	if (t->sess_pid > 0) {
		int i;

		for (i = 0; i < 100; i++) {	/* up to 1 s, then SIGKILL */
			pid_t r = waitpid(t->sess_pid, NULL, WNOHANG);

			if (r == t->sess_pid || (r < 0 && errno != EINTR))
				break;
			if (i == 0)
				kill(t->sess_pid, SIGTERM);
			usleep(10000);
		}
		if (i == 100) {
			kill(t->sess_pid, SIGKILL);
			while (waitpid(t->sess_pid, NULL, 0) < 0 && errno == EINTR)
				;
		}
	}
	t->sess_pid = 0;
}

/*
 * Write @text to the session's vtysh followed by a sentinel (a command
 * that does not exist, so vtysh answers "% Unknown command: SENTINEL"),
 * and collect what vtysh printed up to that answer.  Writing and reading
 * share one poll loop: vtysh echoes every line, so a large batch would
 * otherwise fill both directions and stall.
 */
static int session_exchange(struct frr_target *t, const char *text, char **out,
			    struct loom_err *err)
{
	char sentinel[64], marker[96];
	char *buf = NULL, *sendbuf = NULL;
	size_t len = 0, cap = 0, sent = 0, total;
	long long deadline = mono_ms() + t->timeout_ms;
	int rc = 0;

	t->sess_seq++;
	snprintf(sentinel, sizeof(sentinel), "loom-sync-%lu", t->sess_seq);
	snprintf(marker, sizeof(marker), "%% Unknown command: %s", sentinel);
	if (asprintf(&sendbuf, "%s%s\n", text, sentinel) < 0)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory"), -ENOMEM;
	total = strlen(sendbuf);
	for (;;) {
		struct pollfd pfd = { .fd = t->sess_fd,
				      .events = POLLIN | (sent < total ? POLLOUT : 0) };
		long long left = deadline - mono_ms();
		int n;

		if (left <= 0) {
			rc = -ETIMEDOUT;
			break;
		}
		n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (pfd.revents & POLLOUT) {
			ssize_t w = send(t->sess_fd, sendbuf + sent, total - sent,
					 MSG_NOSIGNAL | MSG_DONTWAIT);

			if (w < 0 && errno != EAGAIN && errno != EINTR) {
				rc = -errno;
				break;
			}
			if (w > 0)
				sent += (size_t)w;
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			if (len + 65536 + 1 > cap) {
				size_t nc = cap ? cap * 2 : 131072;
				char *nb = realloc(buf, nc);

				if (!nb) {
					rc = -ENOMEM;
					break;
				}
				buf = nb;
				cap = nc;
			}
			ssize_t r = recv(t->sess_fd, buf + len, cap - len - 1, MSG_DONTWAIT);

			if (r == 0) {
				rc = -EPIPE;	/* vtysh exited */
				break;
			}
			if (r < 0 && errno != EAGAIN && errno != EINTR) {
				rc = -errno;
				break;
			}
			if (r > 0) {
				/* Look for the marker only in what is new (and
				 * the marker's length before it). */
				size_t from = len > sizeof(marker) ? len - sizeof(marker) : 0;
				char *m;

				len += (size_t)r;
				buf[len] = '\0';
				m = strstr(buf + from, marker);
				if (m) {
					*m = '\0';
					break;
				}
			}
		}
	}
	free(sendbuf);
	if (rc < 0) {
		free(buf);
		frr_session_stop(t);
		if (!frr_vty_probe_down(t, err))
			loom_err_set(err, LOOM_E_UNAVAILABLE, "vty_dir",
				     "the vtysh session for VTEP %s at %s failed: %s",
				     t->vtep.name, t->vtep.vty_dir,
				     rc == -ETIMEDOUT ? "no answer in time" : strerror(-rc));
		return rc;
	}
	*out = buf ? buf : strdup("");
	return *out ? 0 : -ENOMEM;
}

static int session_start(struct frr_target *t, struct loom_err *err)
{
	const char *argv[] = { t->vtysh, "--vty_socket", t->vtep.vty_dir, "-d", "bgpd", NULL };
	posix_spawn_file_actions_t fa;
	int sv[2], rc;
	char *greeting = NULL;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "socketpair: %s", strerror(errno)), -errno;
	rc = -posix_spawn_file_actions_init(&fa);
	if (!rc)
		rc = -posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
	if (!rc)
		rc = -posix_spawn_file_actions_adddup2(&fa, sv[1], 1);
	if (!rc)
		rc = -posix_spawn_file_actions_adddup2(&fa, sv[1], 2);
	if (!rc)
		rc = -posix_spawnp(&t->sess_pid, t->vtysh, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(sv[1]);
	if (rc) {
		close(sv[0]);
		t->sess_pid = 0;
		return loom_err_set(err, LOOM_E_INTERNAL, "", "cannot run %s: %s", t->vtysh, strerror(-rc)), rc;
	}
	t->sess_fd = sv[0];
	/* The first exchange swallows the greeting and proves bgpd answers. */
	rc = session_exchange(t, "", &greeting, err);
	free(greeting);
	return rc;
}

int frr_session_apply(struct frr_target *t, const struct frr_plan *plan, struct loom_err *err)
{
	size_t len = sizeof("configure terminal\nend\n");
	char *text, *p, *out = NULL, msg[256];
	int rc, n_bad;

	if (t->sess_fd < 0) {
		rc = session_start(t, err);
		if (rc < 0)
			return rc;
	}
	for (size_t i = 0; i < plan->n_lines; i++)
		len += strlen(plan->lines[i]) + 1;
	text = malloc(len);
	if (!text)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory"), -ENOMEM;
	p = text + sprintf(text, "configure terminal\n");
	for (size_t i = 0; i < plan->n_lines; i++) {
		const char *l = plan->lines[i];

		while (*l == ' ')
			l++;
		p += sprintf(p, "%s\n", l);
	}
	sprintf(p, "end\n");
	rc = session_exchange(t, text, &out, err);
	free(text);
	if (rc < 0)
		return rc;
	n_bad = frr_output_errors(out, msg, sizeof(msg));
	free(out);
	if (n_bad) {
		/* The session may be what is broken (e.g. "closing connection
		 * to bgpd"): the next batch starts a fresh vtysh. */
		frr_session_stop(t);
		loom_err_set(err, LOOM_E_CONFLICT, "vty_dir",
			     "FRR for VTEP %s refused loom's EVPN statements (%d error line%s): %s",
			     t->vtep.name, n_bad, n_bad == 1 ? "" : "s", msg);
		return -EPROTO;
	}
	return 0;
}

/*
 * lib/child.c: run a helper program with an argv array and capture what it
 * prints.  posix_spawn (not fork) keeps this cheap from a large, threaded
 * daemon; both output pipes are drained in one poll loop so a chatty child
 * can never block on a full pipe while we wait for the other stream.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/array.h"
#include "lib/child.h"
#include "lib/monotime.h"

extern char **environ;

struct sink {
	char *buf;
	size_t len, cap, max;
};

static int sink_read(int fd, struct sink *s)
{
	char chunk[16384];
	ssize_t n = read(fd, chunk, sizeof(chunk));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -errno;
	if (n == 0)
		return 0;
	size_t keep = (size_t)n;

	if (s->len + keep > s->max)
		keep = s->max > s->len ? s->max - s->len : 0;
	if (ARRAY_GROW(s->buf, s->cap, s->len + keep + 1))
		return -ENOMEM;
	memcpy(s->buf + s->len, chunk, keep);
	s->len += keep;
	s->buf[s->len] = '\0';
	return 1;
}

static int sink_finish(struct sink *s)
{
	if (s->buf)
		return 0;
	s->buf = calloc(1, 1);
	return s->buf ? 0 : -ENOMEM;
}

int child_run(const char *const argv[], int timeout_ms, size_t max_output,
	      struct child_result *res)
{
	return child_run_cancel(argv, timeout_ms, max_output, -1, res);
}

int child_run_cancel(const char *const argv[], int timeout_ms, size_t max_output,
		     int cancel_fd, struct child_result *res)
{
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	struct sink so = { .max = max_output }, se = { .max = max_output };
	posix_spawn_file_actions_t fa;
	int fa_init = 0, rc, wstatus = 0, timed_out = 0, cancelled = 0;
	pid_t pid = -1;

	memset(res, 0, sizeof(*res));
	if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		rc = -errno;
		goto out;
	}
	rc = -posix_spawn_file_actions_init(&fa);
	if (rc)
		goto out;
	fa_init = 1;
	rc = -posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (!rc)
		rc = -posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	if (!rc)
		rc = -posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	if (rc)
		goto out;
	rc = -posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	if (rc) {
		pid = -1;
		goto out;
	}
	close(outp[1]);
	close(errp[1]);
	outp[1] = errp[1] = -1;

	long long deadline = mono_ms() + timeout_ms;
	struct pollfd pfd[3] = { { .fd = outp[0], .events = POLLIN },
				 { .fd = errp[0], .events = POLLIN },
				 { .fd = cancel_fd, .events = POLLIN } };

	while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
		long long left = deadline - mono_ms();

		if (left <= 0) {
			timed_out = 1;
			kill(pid, SIGKILL);
			break;
		}
		int n = poll(pfd, 3, (int)left);

		/* Readable (or closed) cancel descriptor: the caller gave up. */
		if (n > 0 && pfd[2].fd >= 0 && pfd[2].revents) {
			cancelled = 1;
			kill(pid, SIGKILL);
			break;
		}

		if (n < 0 && errno != EINTR) {
			rc = -errno;
			kill(pid, SIGKILL);
			break;
		}
		for (int i = 0; i < 2 && n > 0; i++) {
			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			int r = sink_read(pfd[i].fd, i == 0 ? &so : &se);

			if (r < 0) {
				rc = r;
				kill(pid, SIGKILL);
				goto reap;
			}
			if (r == 0)
				pfd[i].fd = -1;
		}
	}
reap:
	while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	pid = -1;
	if (rc)
		goto out;
	rc = sink_finish(&so);
	if (!rc)
		rc = sink_finish(&se);
	if (rc)
		goto out;
	res->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus)
		      : 128 + (WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0);
	res->timed_out = timed_out;
	res->cancelled = cancelled;
	res->out = so.buf;
	res->out_len = so.len;
	res->err = se.buf;
	res->err_len = se.len;
	so.buf = se.buf = NULL;
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (fa_init)
		posix_spawn_file_actions_destroy(&fa);
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	free(so.buf);
	free(se.buf);
	return rc;
}

void child_result_release(struct child_result *res)
{
	if (!res)
		return;
	free(res->out);
	free(res->err);
	memset(res, 0, sizeof(*res));
}

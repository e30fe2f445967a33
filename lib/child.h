/*
 * lib/child.h: run a helper program (vtysh, ...) with an argv array, never a
 * shell, capture its stdout and stderr, and give up after a time limit.
 *
 * Safe to call from several worker threads at once: every descriptor is
 * close-on-exec, so one thread's child never inherits another's pipes.
 */
#ifndef LOOM_LIB_CHILD_H
#define LOOM_LIB_CHILD_H

#include <stddef.h>
#include <sys/types.h>

struct child_result {
	int status;		/* exit code, or 128 + signal when killed */
	int timed_out;		/* 1 when the time limit ran out (child killed) */
	int cancelled;		/* 1 when cancel_fd fired (child killed) */
	char *out;		/* stdout, NUL-terminated, never NULL after success */
	size_t out_len;
	char *err;		/* stderr, NUL-terminated */
	size_t err_len;
};

/*
 * Run argv[0] (looked up in PATH when it has no '/') with argv, stdin from
 * /dev/null, and wait at most @timeout_ms.  Output beyond @max_output bytes
 * per stream is dropped (the child is not blocked).  Returns 0 when the
 * child ran (whatever its exit status: look at res->status) or -errno when
 * it could not be started; res is filled on 0 and must be released with
 * child_result_release().
 */
int child_run(const char *const argv[], int timeout_ms, size_t max_output,
	      struct child_result *res);
void child_result_release(struct child_result *res);

/*
 * child_run, and the child is also killed as soon as @cancel_fd (e.g. the
 * read end of a pipe another thread writes to; -1 for none) turns readable
 * or is hung up: res->cancelled is then 1.
 */
int child_run_cancel(const char *const argv[], int timeout_ms, size_t max_output,
		     int cancel_fd, struct child_result *res);

#endif

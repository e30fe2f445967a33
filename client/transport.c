/*
 * client/transport.c: loomd's socket: one JSON-RPC request a connection,
 * its answer read line by line, refusals and -w's verdict said on stderr.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/err.h"
#include "src/rpc.h"
#include "client/loomctl.h"

int ctl_connect(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(ctl_socket) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "loomctl: socket path too long: %s\n", ctl_socket);
		return -1;
	}
	strcpy(addr.sun_path, ctl_socket);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		int e = errno;

		fprintf(stderr, "loomctl: cannot reach loomd at %s: %s%s\n", ctl_socket, strerror(e),
			e == EACCES ? " (you need root or membership in loomd's admin or reader group)"
			: e == ENOENT || e == ECONNREFUSED ? " (is loomd running? see -s)" : "");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int ctl_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Waits up to @wait_ms (-1: for ever) for more from loomd and appends it to
 * @r (NUL-terminated).  Returns 0, or -1 after saying why on stderr.
 */
int reply_read(int fd, struct reply_buf *r, int wait_ms)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, wait_ms) <= 0) {
			fprintf(stderr, "loomctl: no reply from loomd within %d s\n", timeout_ms / 1000);
			return -1;
		}
		if (r->len + 1 >= r->cap) {
			size_t cap = r->cap ? r->cap * 2 : 65536;
			char *q = realloc(r->buf, cap);

			if (!q) {
				fprintf(stderr, "loomctl: out of memory\n");
				return -1;
			}
			r->buf = q;
			r->cap = cap;
		}
		n = read(fd, r->buf + r->len, r->cap - r->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "loomctl: loomd closed the connection\n");
			return -1;
		}
		r->len += (size_t)n;
		r->buf[r->len] = '\0';
		return 0;
	}
}

/* Takes the first whole line off @r; the caller frees it.  NULL: none yet. */
char *reply_line(struct reply_buf *r)
{
	char *nl = r->len ? memchr(r->buf, '\n', r->len) : NULL;
	char *line;

	if (!nl)
		return NULL;
	line = strndup(r->buf, (size_t)(nl - r->buf));
	r->len -= (size_t)(nl + 1 - r->buf);
	memmove(r->buf, nl + 1, r->len + 1);
	return line;
}

/* Reads one reply line; the caller frees it. */
static char *read_line(int fd)
{
	struct reply_buf r = { 0 };
	char *line = NULL;

	while (!line && reply_read(fd, &r, timeout_ms) == 0)
		line = reply_line(&r);
	free(r.buf);
	return line;
}

static bool method_writes(const char *m)
{
	static const char *const writes[] = { "tenant.create", "tenant.update", "tenant.delete",
		"segment.create", "segment.delete", "segment.attach", "segment.detach", "intent.apply",
		"node.register", "node.verify", "node.cordon", "node.uncordon", "node.drain", "node.fail",
		"node.retire", "node.fault", "node.replace", "gpu.apply", "gpu.release",
		"gpu.compact", NULL };

	for (size_t i = 0; writes[i]; i++)
		if (strcmp(m, writes[i]) == 0)
			return true;
	return false;
}

/* The status items a wait names, one line each on stderr. */
static void print_not_programmed(json_t *items)
{
	size_t i;
	json_t *x;

	json_array_foreach(items, i, x)
		fprintf(stderr, "  %s %s %s: %s %s\n", str(x, "target"), str(x, "layer"), str(x, "segment"),
			str(x, "state"), str(x, "reason"));
}

int print_refusal(const char *method, json_t *error)
{
	struct loom_err err;

	rpc_error_read(error, &err);
	fprintf(stderr, "loomctl: %s: %s%s%s%s [%s]\n", method, err.msg,
		err.field[0] ? " (field: " : "", err.field, err.field[0] ? ")" : "",
		loom_err_name(err.code));
	return err.code;
}

/* -w's verdict: a replacement says where it stands, then what the targets say. */
static int wait_verdict(const char *method, json_t *res)
{
	json_t *wait = json_object_get(res, "wait");
	int ret = 0;

	if (wait && !json_is_true(json_object_get(wait, "converged"))) {
		json_t *rec = json_object_get(res, "done_steps") ? res : json_object_get(res, "replacement");

		if (json_is_object(rec)) {
			json_t *steps = json_object_get(rec, "steps");
			json_int_t done = json_integer_value(json_object_get(rec, "done_steps"));
			json_t *at = json_array_get(steps, (size_t)done);

			fprintf(stderr, "loomctl: %s: the replacement of %s by %s is %s after %d s%s%s%s%s\n",
				method, str(rec, "old"), str(rec, "new"), str(rec, "state"), wait_s,
				at ? ", at: " : "", str(at, "text"), *str(rec, "error") ? "; " : "",
				str(rec, "error"));
		}
		fprintf(stderr, "loomctl: %s: stored, but not every target converged within %d s:\n",
			method, wait_s);
		print_not_programmed(json_object_get(wait, "not_programmed"));
		ret = EXIT_NOT_CONVERGED;
	}
	if (wait && json_array_size(json_object_get(wait, "elsewhere_not_programmed"))) {
		fprintf(stderr, "loomctl: %s: note: on the same targets, other segments are not "
			"programmed (not this change's doing):\n", method);
		print_not_programmed(json_object_get(wait, "elsewhere_not_programmed"));
	}
	return ret;
}

int ctl_call(const char *method, json_t *params, json_t **result)
{
	json_t *req, *reply, *error;
	char *text = NULL, *line;
	int fd, ret = EXIT_UNREACHABLE;

	*result = NULL;
	if (wait_s > 0 && params && method_writes(method) && !json_object_get(params, "dry_run"))
		json_object_set_new(params, "wait", json_integer(wait_s));
	req = json_pack("{s:s, s:s, s:O, s:i}", "jsonrpc", "2.0", "method", method,
			"params", params ? params : json_object(), "id", 1);
	fd = ctl_connect();
	if (fd < 0) {
		json_decref(req);
		return EXIT_UNREACHABLE;
	}
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!text || ctl_write_all(fd, text, strlen(text)) || ctl_write_all(fd, "\n", 1)) {
		fprintf(stderr, "loomctl: cannot send the request: %s\n", strerror(errno));
		goto out;
	}
	line = read_line(fd);
	if (!line)
		goto out;
	reply = json_loads(line, 0, NULL);
	free(line);
	if (!json_is_object(reply)) {
		fprintf(stderr, "loomctl: loomd sent something that is not a JSON-RPC reply\n");
		json_decref(reply);
		goto out;
	}
	error = json_object_get(reply, "error");
	if (error) {
		if (json_out)
			print_json(error);
		ret = print_refusal(method, error) == LOOM_E_TAMPERED ? EXIT_TAMPERED : EXIT_REFUSED;
	} else {
		*result = json_incref(json_object_get(reply, "result"));
		ret = wait_verdict(method, *result);
	}
	json_decref(reply);
out:
	free(text);
	close(fd);
	return ret;
}

int ctl_run(const char *method, json_t *params, void (*print)(json_t *))
{
	json_t *res;
	int ret = ctl_call(method, params, &res);

	if (ret == 0) {
		if (json_out || !print)
			print_json(res);
		else
			print(res);
	}
	json_decref(res);
	return ret;
}

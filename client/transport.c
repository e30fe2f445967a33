/*
 * client/transport.c: loomd's socket, or its TLS listener (-s
 * tls://HOST:PORT with --cert, --key and --ca): one JSON-RPC request a
 * connection, its answer read line by line, refusals and -w's verdict
 * said on stderr.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "lib/array.h"
#include "lib/err.h"
#include "src/rpc.h"
#include "client/loomctl.h"

const char *ctl_tls_cert, *ctl_tls_key, *ctl_tls_ca;

/* The one connection's TLS session (NULL on the Unix socket). */
static SSL *conn_ssl;
static SSL_CTX *conn_ctx;

static const char *tls_error(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();

	if (!e)
		return "the connection was closed";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

static int tcp_connect(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	int fd = -1, e = 0, one = 1, rc = getaddrinfo(host, port, &hints, &res);

	if (rc) {
		fprintf(stderr, "loomctl: cannot resolve %s: %s\n", host, gai_strerror(rc));
		return -1;
	}
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen)) {
			e = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		fprintf(stderr, "loomctl: cannot reach loomd at tls://%s:%s: %s\n", host, port, strerror(e));
	else
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* tls://HOST:PORT or tls://[V6]:PORT: the server is checked against --ca and HOST. */
static int tls_connect(const char *url)
{
	char host[256], port[8];
	const char *h = url + 6, *end, *colon;
	X509_VERIFY_PARAM *vp;
	int fd;

	if (*h == '[') {
		end = strchr(++h, ']');
		colon = end && end[1] == ':' ? end + 1 : NULL;
	} else {
		colon = strrchr(h, ':');
		end = colon;
	}
	if (!colon || end == h || (size_t)(end - h) >= sizeof(host) || strlen(colon + 1) >= sizeof(port)
	    || !colon[1]) {
		fprintf(stderr, "loomctl: -s %s: expected tls://HOST:PORT\n", url);
		return -1;
	}
	memcpy(host, h, (size_t)(end - h));
	host[end - h] = '\0';
	snprintf(port, sizeof(port), "%s", colon + 1);
	if (!ctl_tls_cert || !ctl_tls_key || !ctl_tls_ca) {
		fprintf(stderr, "loomctl: %s needs --cert, --key and --ca (or cert, key and ca in the "
			"client config file)\n", url);
		return -1;
	}
	conn_ctx = SSL_CTX_new(TLS_client_method());
	if (!conn_ctx)
		goto tls_fail;
	SSL_CTX_set_min_proto_version(conn_ctx, TLS1_2_VERSION);
	if (SSL_CTX_use_certificate_chain_file(conn_ctx, ctl_tls_cert) != 1) {
		fprintf(stderr, "loomctl: cannot use the certificate %s: %s\n", ctl_tls_cert, tls_error());
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(conn_ctx, ctl_tls_key, SSL_FILETYPE_PEM) != 1
	    || SSL_CTX_check_private_key(conn_ctx) != 1) {
		fprintf(stderr, "loomctl: cannot use the key %s: %s\n", ctl_tls_key, tls_error());
		return -1;
	}
	if (SSL_CTX_load_verify_locations(conn_ctx, ctl_tls_ca, NULL) != 1) {
		fprintf(stderr, "loomctl: cannot load the CA %s: %s\n", ctl_tls_ca, tls_error());
		return -1;
	}
	SSL_CTX_set_verify(conn_ctx, SSL_VERIFY_PEER, NULL);
	fd = tcp_connect(host, port);
	if (fd < 0)
		return -1;
	conn_ssl = SSL_new(conn_ctx);
	if (!conn_ssl || SSL_set_fd(conn_ssl, fd) != 1)
		goto tls_fail;
	vp = SSL_get0_param(conn_ssl);
	/* The server's certificate must name the host we were told to reach. */
	if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1) {
		ERR_clear_error();
		SSL_set_tlsext_host_name(conn_ssl, host);
		X509_VERIFY_PARAM_set1_host(vp, host, 0);
	}
	if (SSL_connect(conn_ssl) != 1) {
		long v = SSL_get_verify_result(conn_ssl);

		fprintf(stderr, "loomctl: TLS handshake with %s failed: %s\n", url,
			v != X509_V_OK ? X509_verify_cert_error_string(v) : tls_error());
		close(fd);
		return -1;
	}
	return fd;
tls_fail:
	fprintf(stderr, "loomctl: TLS set-up failed: %s\n", tls_error());
	return -1;
}

void ctl_close(int fd)
{
	if (conn_ssl) {
		SSL_shutdown(conn_ssl);
		SSL_free(conn_ssl);
		conn_ssl = NULL;
	}
	SSL_CTX_free(conn_ctx);
	conn_ctx = NULL;
	if (fd >= 0)
		close(fd);
}

/* key = value lines: server, cert, key, ca; what the command line gave stays. */
int ctl_config_load(const char *path, bool must_exist)
{
	FILE *f = fopen(path, "re");
	char line[1024];
	unsigned int lineno = 0;

	if (!f) {
		if (!must_exist)
			return 0;
		fprintf(stderr, "loomctl: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *k = line, *v, *eq, *e;
		const char **dst = NULL;

		lineno++;
		while (isspace((unsigned char)*k))
			k++;
		if (!*k || *k == '#')
			continue;
		eq = strchr(k, '=');
		if (!eq)
			goto bad;
		for (e = eq; e > k && isspace((unsigned char)e[-1]);)
			*--e = '\0';
		*eq = '\0';
		for (v = eq + 1; isspace((unsigned char)*v);)
			v++;
		for (e = v + strlen(v); e > v && isspace((unsigned char)e[-1]);)
			*--e = '\0';
		if (strcmp(k, "server") == 0)
			dst = &ctl_socket;
		else if (strcmp(k, "cert") == 0)
			dst = &ctl_tls_cert;
		else if (strcmp(k, "key") == 0)
			dst = &ctl_tls_key;
		else if (strcmp(k, "ca") == 0)
			dst = &ctl_tls_ca;
		else
			goto bad;
		if (!*dst || dst == &ctl_socket)
			*dst = strdup(v);
	}
	fclose(f);
	return 0;
bad:
	fprintf(stderr, "loomctl: %s:%u: expected 'server|cert|key|ca = VALUE'\n", path, lineno);
	fclose(f);
	return -1;
}

int ctl_connect(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (strncmp(ctl_socket, "tls://", 6) == 0)
		return tls_connect(ctl_socket);

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
		ssize_t n = conn_ssl ? SSL_write(conn_ssl, buf, (int)len) : write(fd, buf, len);

		if (conn_ssl && n <= 0) {
			fprintf(stderr, "loomctl: TLS: %s\n", tls_error());
			return -EIO;
		}

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

		if (!(conn_ssl && SSL_pending(conn_ssl) > 0) && poll(&p, 1, wait_ms) <= 0) {
			fprintf(stderr, "loomctl: no reply from loomd within %d s\n", timeout_ms / 1000);
			return -1;
		}
		/* Room for a good read and the NUL. */
		if (ARRAY_GROW(r->buf, r->cap, r->len + 65536)) {
			fprintf(stderr, "loomctl: out of memory\n");
			return -1;
		}
		if (conn_ssl) {
			ERR_clear_error();
			n = SSL_read(conn_ssl, r->buf + r->len, (int)(r->cap - r->len - 1));
			if (n <= 0 && SSL_get_error(conn_ssl, (int)n) == SSL_ERROR_SSL) {
				/* Over TLS 1.3 the server judges our certificate after
				 * our side of the handshake ended: its alert shows here. */
				fprintf(stderr, "loomctl: loomd refused the TLS connection: %s\n", tls_error());
				return -1;
			}
		} else {
			n = read(fd, r->buf + r->len, r->cap - r->len - 1);
		}
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
		/* A highly available controller cut off from etcd (docs/ha.md). */
		if (!json_out && json_is_string(json_object_get(*result, "stale")))
			fprintf(stderr, "loomctl: warning: this answer may be stale: %s\n",
				json_string_value(json_object_get(*result, "stale")));
		ret = wait_verdict(method, *result);
	}
	json_decref(reply);
out:
	free(text);
	ctl_close(fd);
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

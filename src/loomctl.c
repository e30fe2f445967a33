/*
 * src/loomctl.c: the command line for people (and scripts, with -o json).
 *
 * Each command turns its arguments into one JSON-RPC request, sends it on
 * loomd's socket and prints the result: a table for people, or the result
 * object itself with -o json.  Exit codes (loomctl(8)):
 *   0 success, 1 loomd refused the request, 2 usage error,
 *   3 loomd cannot be reached, 4 `diff`: apply would change something,
 *   5 `audit verify`: the chain does not verify.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/err.h"
#include "src/rpc.h"

enum { EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3, EXIT_DIFF = 4, EXIT_TAMPERED = 5,
       EXIT_NOT_CONVERGED = 6 };

static const char *socket_path = RUNSTATEDIR "/loom/loomd.sock";
static bool json_out;
static int timeout_ms = 600000;
static int wait_s;		/* -w: writes return once the targets converged */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: loomctl [-s SOCKET] [-o table|json] [-t SECONDS] [-w SECONDS] COMMAND ...\n"
		"\n"
		"  tenant create NAME [--isolation soft|strict|private] [--site SITE]... [--label K=V]...\n"
		"  tenant update NAME [--site SITE]... [--label K=V]...\n"
		"  tenant list | show NAME | delete NAME [--cascade]\n"
		"  segment create TENANT/NAME --type ethernet|infiniband [--vni N] [--mtu N]\n"
		"         [--subnet CIDR]... [--pkey P] [--ipoib] [--ib-mtu N] [--rate GBPS] [--sl N]\n"
		"         [--membership full|limited]\n"
		"  segment list [TENANT] | show TENANT/NAME | delete TENANT/NAME [--cascade]\n"
		"  attach TENANT/SEGMENT NODE[:PORT] [--membership full|limited]\n"
		"  detach TENANT/SEGMENT NODE[:PORT]\n"
		"  node list [--site SITE] | show NAME\n"
		"  node register|cordon|uncordon|drain|fail|retire NAME [--reason TEXT]\n"
		"  node verify NAME [--result PORT,GBPS[,PEER[,SECONDS]]]... [--reason TEXT]\n"
		"                       judge RDMA measurements against the port's rate\n"
		"  node fault NAME --component C --severity S [--text T] [--port P]\n"
		"  node history NAME    every lifecycle transition of the node\n"
		"  events [--node NODE] [--since SEQ] [--count N]\n"
		"                       stream node events (transitions, faults, replacement\n"
		"                       steps) as they are committed; -o json: one object a line\n"
		"  gpu plan|apply TENANT PROFILE [--count N] [--node NODE] [--site SITE] [--segment SEG]...\n"
		"                       place N MIG instances (plan: dry run); their GPUs' rail ports\n"
		"                       join the tenant's segments (default: all of them)\n"
		"  gpu show [--node NODE] [--tenant TENANT]   each GPU's slots and who holds them\n"
		"  gpu release TENANT [--node NODE [--gpu N [--start S]]]\n"
		"  gpu compact [--node NODE] [--dry-run]   repack instances (moves interrupt them)\n"
		"  node replace OLD [NEW] [--goal failed|retired|draining] [--reason TEXT]\n"
		"                       move OLD's attachments to NEW (picked when not named)\n"
		"  replace show NODE | list   a replacement's steps, their state and times\n"
		"  topology show | reload\n"
		"  topology import-ib --sm SM [FILE]   ibnetdiscover output (FILE or stdin) as\n"
		"                       topology entries to review and merge\n"
		"  audit list [--after SEQ] [--limit N] | verify\n"
		"  apply -f FILE        make the tenants named in FILE as it says\n"
		"  diff -f FILE         show what apply would change (exit 4 if anything)\n"
		"  desired show         the compiled desired state per VTEP and subnet manager\n"
		"  status [TENANT/SEGMENT]  what every target reports for every segment\n"
		"  info                 loomd's version, counts and pools\n"
		"  call METHOD [JSON]   send any method with JSON params\n"
		"\n"
		"\n"
		"  -w SECONDS  changes return once every target they reach is programmed and\n"
		"              verified (exit 6 if not within SECONDS); default: at once\n"
		"\n"
		"Exit: 0 ok, 1 refused by loomd, 2 usage, 3 loomd unreachable, 4 diff pending,\n"
		"      5 audit tampered, 6 not converged within -w.\n");
}

static int usage_error(const char *fmt, const char *arg) __attribute__((format(printf, 1, 0)));
static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "loomctl: ");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	fprintf(stderr, fmt, arg);	/* every caller passes a literal with one %s */
#pragma GCC diagnostic pop
	fprintf(stderr, "\nTry 'loomctl -h'.\n");
	return EXIT_USAGE;
}

/* ---- transport ---------------------------------------------------------- */

static int connect_loomd(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(socket_path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "loomctl: socket path too long: %s\n", socket_path);
		return -1;
	}
	strcpy(addr.sun_path, socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		int e = errno;

		fprintf(stderr, "loomctl: cannot reach loomd at %s: %s%s\n", socket_path, strerror(e),
			e == EACCES ? " (you need root or membership in loomd's admin or reader group)"
			: e == ENOENT || e == ECONNREFUSED ? " (is loomd running? see -s)" : "");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int write_all(int fd, const char *buf, size_t len)
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

/* What loomd sent and was not taken yet; lines are taken off the front. */
struct reply_buf {
	char *buf;
	size_t len, cap;
};

/*
 * Waits up to @wait_ms (-1: for ever) for more from loomd and appends it to
 * @r (NUL-terminated).  Returns 0, or -1 after saying why on stderr.
 */
static int reply_read(int fd, struct reply_buf *r, int wait_ms)
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

/* Reads one reply line; the caller frees it. */
static char *read_line(int fd)
{
	struct reply_buf r = { 0 };

	while (reply_read(fd, &r, timeout_ms) == 0) {
		char *nl = memchr(r.buf, '\n', r.len);

		if (nl) {
			*nl = '\0';
			return r.buf;
		}
	}
	free(r.buf);
	return NULL;
}

/*
 * Sends one request; on success *result holds the result.  Returns 0, or an
 * exit code.
 */
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

/* A string member, or "" when absent. */
static const char *jstr(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "";
}

/* The status items a wait names, one line each on stderr. */
static void print_not_programmed(json_t *items)
{
	size_t i;
	json_t *x;

	json_array_foreach(items, i, x)
		fprintf(stderr, "  %s %s %s: %s %s\n", jstr(x, "target"), jstr(x, "layer"), jstr(x, "segment"),
			jstr(x, "state"), jstr(x, "reason"));
}

static int call(const char *method, json_t *params, json_t **result)
{
	json_t *req;

	if (wait_s > 0 && params && method_writes(method) && !json_object_get(params, "dry_run"))
		json_object_set_new(params, "wait", json_integer(wait_s));
	req = json_pack("{s:s, s:s, s:O, s:i}", "jsonrpc", "2.0", "method", method,
				"params", params ? params : json_object(), "id", 1);
	json_t *reply, *error;
	char *text, *line;
	int fd, ret = EXIT_UNREACHABLE;

	*result = NULL;
	fd = connect_loomd();
	if (fd < 0) {
		json_decref(req);
		return EXIT_UNREACHABLE;
	}
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!text || write_all(fd, text, strlen(text)) || write_all(fd, "\n", 1)) {
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
		struct loom_err err;

		rpc_error_read(error, &err);
		if (json_out)
			json_dumpf(error, stdout, JSON_INDENT(2)), putchar('\n');
		fprintf(stderr, "loomctl: %s: %s%s%s%s [%s]\n", method, err.msg,
			err.field[0] ? " (field: " : "", err.field, err.field[0] ? ")" : "",
			loom_err_name(err.code));
		ret = err.code == LOOM_E_TAMPERED ? EXIT_TAMPERED : EXIT_REFUSED;
	} else {
		json_t *wait = json_object_get(json_object_get(reply, "result"), "wait");

		*result = json_incref(json_object_get(reply, "result"));
		ret = 0;
		if (wait && !json_is_true(json_object_get(wait, "converged"))) {
			json_t *res = json_object_get(reply, "result");
			json_t *rec = json_object_get(res, "done_steps") ? res : json_object_get(res, "replacement");

			if (json_is_object(rec)) {
				/* A replacement: say where it stands, then what the targets say. */
				json_t *steps = json_object_get(rec, "steps");
				json_int_t done = json_integer_value(json_object_get(rec, "done_steps"));
				json_t *at = json_array_get(steps, (size_t)done);

				fprintf(stderr, "loomctl: %s: the replacement of %s by %s is %s after %d s%s%s%s%s\n",
					method, jstr(rec, "old"), jstr(rec, "new"), jstr(rec, "state"), wait_s,
					at ? ", at: " : "", jstr(at, "text"), *jstr(rec, "error") ? "; " : "",
					jstr(rec, "error"));
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
	}
	json_decref(reply);
out:
	free(text);
	close(fd);
	return ret;
}

/* ---- output -------------------------------------------------------------- */

#define MAX_COLS 10

struct table {
	const char *head[MAX_COLS];
	size_t n_cols;
	char **cells;		/* row-major */
	size_t n_rows, cap_rows;
};

static void table_row(struct table *t, ...)
{
	va_list ap;

	if (t->n_rows == t->cap_rows) {
		t->cap_rows = t->cap_rows ? t->cap_rows * 2 : 16;
		t->cells = realloc(t->cells, t->cap_rows * t->n_cols * sizeof(char *));
		if (!t->cells)
			abort();
	}
	va_start(ap, t);
	for (size_t c = 0; c < t->n_cols; c++) {
		const char *s = va_arg(ap, const char *);

		t->cells[t->n_rows * t->n_cols + c] = strdup(s && *s ? s : "-");
	}
	va_end(ap);
	t->n_rows++;
}

static void table_print(struct table *t)
{
	size_t width[MAX_COLS];

	for (size_t c = 0; c < t->n_cols; c++) {
		width[c] = strlen(t->head[c]);
		for (size_t r = 0; r < t->n_rows; r++) {
			size_t w = strlen(t->cells[r * t->n_cols + c]);

			if (w > width[c])
				width[c] = w;
		}
	}
	for (size_t c = 0; c < t->n_cols; c++)
		printf("%-*s%s", c + 1 < t->n_cols ? (int)width[c] : 0, t->head[c], c + 1 < t->n_cols ? "  " : "\n");
	for (size_t r = 0; r < t->n_rows; r++)
		for (size_t c = 0; c < t->n_cols; c++)
			printf("%-*s%s", c + 1 < t->n_cols ? (int)width[c] : 0, t->cells[r * t->n_cols + c],
			       c + 1 < t->n_cols ? "  " : "\n");
	for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
		free(t->cells[i]);
	free(t->cells);
}

static const char *str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "";
}

/* An integer member as text; "" when absent or zero. */
static const char *num(json_t *o, const char *key, char *buf, size_t size, bool hex)
{
	json_t *v = json_object_get(o, key);

	if (json_is_string(v))
		return json_string_value(v);
	if (!json_is_integer(v) || json_integer_value(v) == 0)
		return "";
	snprintf(buf, size, hex ? "0x%04" PRIx64 : "%" PRId64, (int64_t)json_integer_value(v));
	return buf;
}

/* A JSON array of strings (or of objects with "name") as "a,b,c". */
static const char *joined(json_t *arr, char *buf, size_t size)
{
	size_t i, off = 0;
	json_t *v;

	buf[0] = '\0';
	json_array_foreach(arr, i, v) {
		const char *s = json_is_string(v) ? json_string_value(v) : str(v, "name");

		off += (size_t)snprintf(buf + off, off < size ? size - off : 0, "%s%s", i ? "," : "", s);
	}
	return buf;
}

static void print_json(json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
	putchar('\n');
}

static void print_tenants(json_t *list)
{
	struct table t = { .head = { "TENANT", "ISOLATION", "SITES", "SEGMENTS", "LABELS" }, .n_cols = 5 };
	char sites[512], segs[1024], labels[512];
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v) {
		const char *k;
		json_t *lv;
		size_t off = 0;

		labels[0] = '\0';
		json_object_foreach(json_object_get(v, "labels"), k, lv)
			off += (size_t)snprintf(labels + off, off < sizeof(labels) ? sizeof(labels) - off : 0,
						"%s%s=%s", off ? "," : "", k, json_string_value(lv));
		table_row(&t, str(v, "name"), str(v, "isolation"), joined(json_object_get(v, "sites"), sites, sizeof(sites)),
			  joined(json_object_get(v, "segments"), segs, sizeof(segs)), labels);
	}
	table_print(&t);
}

static void print_segments(json_t *list)
{
	struct table t = { .head = { "SEGMENT", "TYPE", "ID", "MTU", "SUBNET", "RT", "ATTACHED" }, .n_cols = 7 };
	char name[160], id[32], mtu[16], subnet[128], att[1024];
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v) {
		bool eth = strcmp(str(v, "type"), "ethernet") == 0;
		size_t j, off = 0;
		json_t *a;

		snprintf(name, sizeof(name), "%s/%s", str(v, "tenant"), str(v, "name"));
		att[0] = '\0';
		json_array_foreach(json_object_get(v, "attachments"), j, a)
			off += (size_t)snprintf(att + off, off < sizeof(att) ? sizeof(att) - off : 0, "%s%s%s%s",
						j ? "," : "", str(a, "node"), *str(a, "port") ? ":" : "", str(a, "port"));
		if (json_is_array(json_object_get(v, "subnet")))
			joined(json_object_get(v, "subnet"), subnet, sizeof(subnet));
		else
			snprintf(subnet, sizeof(subnet), "%s", str(v, "subnet"));
		table_row(&t, name, str(v, "type"),
			  eth ? num(v, "vni", id, sizeof(id), false) : num(v, "pkey", id, sizeof(id), true),
			  num(v, eth ? "mtu" : "ib_mtu", mtu, sizeof(mtu), false), subnet,
			  eth ? str(v, "rt") : "", att);
	}
	table_print(&t);
}

/* "draining->failed" while a removal waits for the targets, else the state. */
static const char *node_state_text(json_t *n, char *buf, size_t size)
{
	const char *pending = json_string_value(json_object_get(n, "pending"));

	if (pending)
		snprintf(buf, size, "%s->%s", str(n, "state"), pending);
	else
		snprintf(buf, size, "%s", str(n, "state"));
	return buf;
}

static void print_nodes(json_t *list)
{
	char state[64];
	struct table t = { .head = { "NODE", "STATE", "SITE", "RACK", "NICS", "HCAS", "GPUS", "TENANTS" }, .n_cols = 8 };
	char nics[16], hcas[16], gpus[16], tenants[512];
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v) {
		snprintf(nics, sizeof(nics), "%zu", json_array_size(json_object_get(v, "nic_ports")));
		snprintf(hcas, sizeof(hcas), "%zu", json_array_size(json_object_get(v, "hca_ports")));
		snprintf(gpus, sizeof(gpus), "%zu", json_array_size(json_object_get(v, "gpus")));
		table_row(&t, str(v, "name"), node_state_text(v, state, sizeof(state)), str(v, "site"),
			  str(v, "rack"), nics, hcas, gpus,
			  joined(json_object_get(v, "tenants"), tenants, sizeof(tenants)));
	}
	table_print(&t);
}

static void print_audit(json_t *list)
{
	struct table t = { .head = { "SEQ", "TIME", "UID", "METHOD", "PARAMS" }, .n_cols = 5 };
	char seq[24], uid[16];
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v) {
		char *params = json_dumps(json_object_get(v, "params"), JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

		if (params && strlen(params) > 80)
			strcpy(params + 77, "...");
		table_row(&t, num(v, "seq", seq, sizeof(seq), false), str(v, "time"),
			  json_integer_value(json_object_get(v, "uid")) == 0 ? "0" : num(v, "uid", uid, sizeof(uid), false),
			  str(v, "method"), params ? params : "");
		free(params);
	}
	table_print(&t);
}

static void print_status(json_t *res)
{
	struct table t = { .head = { "SEGMENT", "TARGET", "LAYER", "ID", "STATE", "SINCE", "REASON" }, .n_cols = 7 };
	size_t i;
	json_t *v;

	json_array_foreach(json_object_get(res, "segments"), i, v)
		table_row(&t, str(v, "segment"), str(v, "target"), str(v, "layer"), str(v, "id"),
			  str(v, "state"), str(v, "since"), str(v, "reason"));
	/* GPU workers: one row per GPU, "NODE gpuN" in the segment column. */
	json_array_foreach(json_object_get(res, "gpus"), i, v)
		table_row(&t, str(v, "segment"), str(v, "target"), str(v, "layer"), str(v, "id"),
			  str(v, "state"), str(v, "since"), str(v, "reason"));
	table_print(&t);
	json_array_foreach(json_object_get(res, "targets"), i, v)
		if (*str(v, "error"))
			printf("target %s: %s\n", str(v, "name"), str(v, "error"));
}

static void print_changes(json_t *res)
{
	size_t i;
	json_t *c;

	if (json_array_size(json_object_get(res, "changes")) == 0) {
		printf("no changes\n");
		return;
	}
	json_array_foreach(json_object_get(res, "changes"), i, c) {
		const char *op = str(c, "op");
		char *rest;
		json_t *copy = json_copy(c);

		json_object_del(copy, "op");
		rest = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
		printf("%c %-14s %s\n", strstr(op, "del") || strstr(op, "detach") ? '-' : strstr(op, "update") ? '~' : '+',
		       op, rest ? rest : "");
		free(rest);
		json_decref(copy);
	}
	printf("%s %zu change%s\n", json_is_true(json_object_get(res, "applied")) ? "applied" : "would apply",
	       json_array_size(json_object_get(res, "changes")),
	       json_array_size(json_object_get(res, "changes")) == 1 ? "" : "s");
}

/* ---- commands -------------------------------------------------------------- */

/* Options shared by the create/update commands: --key VALUE pairs. */
struct opts {
	json_t *params;
	json_t *results;
	json_t *sites;
	json_t *labels;
	json_t *subnets;
	bool cascade;
	const char *file;
};

static int opt_int(json_t *params, const char *key, const char *v)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(v, &end, 0);
	if (errno || *end || !*v)
		return usage_error("expected a number, got '%s'", v);
	json_object_set_new(params, key, json_integer(n));
	return 0;
}

/* Parses --options after the positional arguments into o->params. */
/* --result PORT,GBPS[,PEER[,SECONDS]]: one RDMA measurement for node verify. */
static int opt_result(json_t *results, const char *v)
{
	char buf[512], *save = NULL, *port, *gbps, *peer, *secs, *end = NULL;
	json_t *r;
	double g, d = 0;

	if (strlen(v) >= sizeof(buf))
		return usage_error("--result is too long: '%s'", v);
	strcpy(buf, v);
	port = strtok_r(buf, ",", &save);
	gbps = strtok_r(NULL, ",", &save);
	peer = strtok_r(NULL, ",", &save);
	secs = strtok_r(NULL, ",", &save);
	if (!port || !gbps)
		return usage_error("--result wants PORT,GBPS[,PEER[,SECONDS]], got '%s'", v);
	errno = 0;
	g = strtod(gbps, &end);
	if (errno || *end || end == gbps)
		return usage_error("--result: '%s' is not a number of Gb/s", gbps);
	if (secs) {
		d = strtod(secs, &end);
		if (errno || *end || end == secs)
			return usage_error("--result: '%s' is not a number of seconds", secs);
	}
	r = json_pack("{s:s, s:f}", "port", port, "gbps", g);
	if (peer)
		json_object_set_new(r, "peer", json_string(peer));
	if (secs)
		json_object_set_new(r, "duration_s", json_real(d));
	json_array_append_new(results, r);
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		int ret = 0;

		if (strcmp(a, "--cascade") == 0) {
			o->cascade = true;
			json_object_set_new(o->params, "cascade", json_true());
			continue;
		}
		if (strcmp(a, "--ipoib") == 0) {
			json_object_set_new(o->params, "ipoib", json_true());
			continue;
		}
		if (strncmp(a, "--", 2) != 0 && strcmp(a, "-f") != 0)
			return usage_error("unexpected argument '%s'", a);
		if (!v)
			return usage_error("%s needs a value", a);
		i++;
		if (strcmp(a, "--isolation") == 0 || strcmp(a, "--type") == 0 || strcmp(a, "--membership") == 0) {
			json_object_set_new(o->params, a + 2, json_string(v));
		} else if (strcmp(a, "--site") == 0) {
			json_array_append_new(o->sites, json_string(v));
		} else if (strcmp(a, "--subnet") == 0) {
			json_array_append_new(o->subnets, json_string(v));
		} else if (strcmp(a, "--label") == 0) {
			const char *eq = strchr(v, '=');
			char key[256];

			if (!eq || eq == v || (size_t)(eq - v) >= sizeof(key))
				return usage_error("--label wants KEY=VALUE, got '%s'", v);
			memcpy(key, v, (size_t)(eq - v));
			key[eq - v] = '\0';
			json_object_set_new(o->labels, key, json_string(eq + 1));
		} else if (strcmp(a, "--vni") == 0 || strcmp(a, "--mtu") == 0 || strcmp(a, "--sl") == 0
			   || strcmp(a, "--after") == 0 || strcmp(a, "--limit") == 0) {
			ret = opt_int(o->params, a + 2, v);
		} else if (strcmp(a, "--ib-mtu") == 0) {
			ret = opt_int(o->params, "ib_mtu", v);
		} else if (strcmp(a, "--rate") == 0) {
			ret = opt_int(o->params, "rate_gbps", v);
		} else if (strcmp(a, "--pkey") == 0) {
			ret = opt_int(o->params, "pkey", v);
		} else if (strcmp(a, "--reason") == 0 || strcmp(a, "--component") == 0 || strcmp(a, "--goal") == 0
			   || strcmp(a, "--severity") == 0 || strcmp(a, "--text") == 0
			   || strcmp(a, "--port") == 0) {
			json_object_set_new(o->params, a + 2, json_string(v));
		} else if (strcmp(a, "--result") == 0) {
			ret = opt_result(o->results, v);
		} else if (strcmp(a, "-f") == 0 || strcmp(a, "--file") == 0) {
			o->file = v;
		} else {
			return usage_error("unknown option '%s'", a);
		}
		if (ret)
			return ret;
	}
	if (json_array_size(o->sites))
		json_object_set(o->params, "sites", o->sites);
	if (json_array_size(o->results))
		json_object_set(o->params, "results", o->results);
	if (json_object_size(o->labels))
		json_object_set(o->params, "labels", o->labels);
	if (json_array_size(o->subnets) == 1)
		json_object_set(o->params, "subnet", json_array_get(o->subnets, 0));
	else if (json_array_size(o->subnets) > 1)
		json_object_set(o->params, "subnet", o->subnets);
	return 0;
}

/* "node:port" -> node and port members of params. */
static void node_port(json_t *params, const char *arg)
{
	const char *colon = strchr(arg, ':');

	if (!colon) {
		json_object_set_new(params, "node", json_string(arg));
		return;
	}
	json_object_set_new(params, "node", json_stringn(arg, (size_t)(colon - arg)));
	json_object_set_new(params, "port", json_string(colon + 1));
}

static int run(const char *method, json_t *params, void (*printer)(json_t *))
{
	json_t *res;
	int ret = call(method, params, &res);

	if (ret == 0) {
		if (json_out || !printer)
			print_json(res);
		else
			printer(res);
	}
	json_decref(res);
	return ret;
}

static void print_one_tenant(json_t *t)
{
	json_t *list = json_pack("[O]", t);

	print_tenants(list);
	json_decref(list);
}

static void print_status(json_t *res);

static void print_one_segment(json_t *s)
{
	json_t *list = json_pack("[O]", s);

	print_segments(list);
	json_decref(list);
	if (json_array_size(json_object_get(s, "status"))) {
		json_t *st = json_pack("{s:O}", "segments", json_object_get(s, "status"));

		putchar('\n');
		print_status(st);
		json_decref(st);
	}
}

/* The node's lifecycle: state, pending goal, reason, since. */
static void print_life(json_t *n)
{
	char state[64];

	printf("state %s  since %s  reason %s\n\n", node_state_text(n, state, sizeof(state)),
	       *str(n, "since") ? str(n, "since") : "-", *str(n, "reason") ? str(n, "reason") : "-");
}

/* A transition's reply: what it did and where the node is now. */
static void print_transition(json_t *n)
{
	size_t i;
	json_t *v;

	json_array_foreach(json_object_get(n, "steps"), i, v)
		printf("%s: %s --%s--> %s%s%s\n", str(n, "name"), str(v, "from"), str(v, "event"), str(v, "to"),
		       json_is_true(json_object_get(v, "pending")) ? ", pending " : "",
		       json_is_true(json_object_get(v, "pending")) ? str(v, "goal") : "");
	json_array_foreach(json_object_get(n, "detached"), i, v)
		printf("detached %s/%s %s%s%s\n", str(v, "tenant"), str(v, "segment"), str(v, "node"),
		       *str(v, "port") ? ":" : "", str(v, "port"));
	json_array_foreach(json_object_get(n, "rdma"), i, v) {
		char *txt = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);

		printf("rdma %s\n", txt ? txt : "");
		free(txt);
	}
	if (json_is_true(json_object_get(n, "rdma_running")))
		printf("rdma check running against the reference peer (see node show, or use -w)\n");
	if (json_object_get(n, "decision")) {
		json_t *dcs = json_object_get(n, "decision");

		printf("fault: action %s%s\n", str(dcs, "action"),
		       json_is_true(json_object_get(dcs, "held_down")) ? " (held down)" : "");
	}
	print_life(n);
}

static void print_history(json_t *list)
{
	struct table t = { .head = { "SEQ", "TIME", "EVENT", "FROM", "TO", "GOAL", "UID", "REASON" }, .n_cols = 8 };
	char seq[24], uid[16];
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v) {
		snprintf(seq, sizeof(seq), "%lld", (long long)json_integer_value(json_object_get(v, "seq")));
		snprintf(uid, sizeof(uid), "%lld", (long long)json_integer_value(json_object_get(v, "uid")));
		table_row(&t, seq, str(v, "time"), str(v, "event"), str(v, "from"), str(v, "to"),
			  *str(v, "goal") ? str(v, "goal") : "-", uid, *str(v, "reason") ? str(v, "reason") : "-");
	}
	table_print(&t);
}

/* One node: its ports, with the segments each is in. */
static void print_node(json_t *n)
{
	struct table t = { .head = { "PORT", "KIND", "ADDRESS", "ATTACHED TO", "SEGMENTS" }, .n_cols = 5 };
	const char *kinds[] = { "nic_ports", "hca_ports" };
	char tenants[512];

	joined(json_object_get(n, "tenants"), tenants, sizeof(tenants));
	printf("node %s  site %s  rack %s  gpus %zu  tenants %s\n\n", str(n, "name"), str(n, "site"),
	       *str(n, "rack") ? str(n, "rack") : "-", json_array_size(json_object_get(n, "gpus")),
	       tenants[0] ? tenants : "-");
	print_life(n);
	if (json_is_object(json_object_get(n, "replacement"))) {
		json_t *r = json_object_get(n, "replacement");

		printf("replacement: %s by %s, %s, %lld of %zu steps done (loomctl replace show %s)\n\n",
		       str(r, "old"), str(r, "new"), str(r, "state"),
		       (long long)json_integer_value(json_object_get(r, "done_steps")),
		       json_array_size(json_object_get(r, "steps")), str(n, "name"));
	}
	for (size_t k = 0; k < 2; k++) {
		size_t i;
		json_t *p;

		json_array_foreach(json_object_get(n, kinds[k]), i, p) {
			char where[160], segs[512];
			size_t j, off = 0;
			json_t *a;

			if (k == 0)
				snprintf(where, sizeof(where), "%s:%s", str(p, "vtep"), str(p, "access_port"));
			else
				snprintf(where, sizeof(where), "sm %s", str(p, "sm"));
			segs[0] = '\0';
			json_array_foreach(json_object_get(n, "attachments"), j, a) {
				if (*str(a, "port") && strcmp(str(a, "port"), str(p, "name")))
					continue;
				if (strcmp(str(a, "type"), k == 0 ? "ethernet" : "infiniband"))
					continue;
				off += (size_t)snprintf(segs + off, off < sizeof(segs) ? sizeof(segs) - off : 0, "%s%s",
							off ? "," : "", str(a, "segment"));
			}
			table_row(&t, str(p, "name"), k == 0 ? "nic" : "hca", k == 0 ? str(p, "mac") : str(p, "guid"),
				  where, segs);
		}
	}
	table_print(&t);
}

/* A replacement: its nodes and state, then one row per step. */
static void print_replacement(json_t *r)
{
	struct table t = { .head = { "STEP", "KIND", "STATE", "STARTED", "MS", "WHAT" }, .n_cols = 6 };
	char step[16], ms[32];
	size_t i;
	json_t *v;

	printf("replace %s by %s  state %s  goal %s  started %s%s%s\n", str(r, "old"), str(r, "new"),
	       str(r, "state"), str(r, "goal"), str(r, "started"), *str(r, "error") ? "  error: " : "",
	       str(r, "error"));
	json_array_foreach(json_object_get(r, "steps"), i, v) {
		snprintf(step, sizeof(step), "%lld", (long long)json_integer_value(json_object_get(v, "step")));
		if (json_is_number(json_object_get(v, "ms")))
			snprintf(ms, sizeof(ms), "%.1f", json_number_value(json_object_get(v, "ms")));
		else
			snprintf(ms, sizeof(ms), "-");
		table_row(&t, step, str(v, "kind"), str(v, "state"), *str(v, "started") ? str(v, "started") : "-",
			  ms, str(v, "text"));
	}
	table_print(&t);
}

static void print_replacements(json_t *list)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v) {
		if (i)
			putchar('\n');
		print_replacement(v);
	}
}

static void print_done(json_t *res)
{
	const char *k;
	json_t *v;

	json_object_foreach(res, k, v)
		if (json_is_string(v))
			printf("%s %s\n", k, json_string_value(v));
}

static void print_attachment(json_t *a)
{
	printf("%s %s%s%s\n", str(a, "segment"), str(a, "node"), *str(a, "port") ? ":" : "", str(a, "port"));
}

static void print_verify(json_t *res)
{
	printf("audit chain intact: %" PRId64 " records\n", (int64_t)json_integer_value(json_object_get(res, "records")));
}

/* ---- gpu ---- */

static void print_gpu_placements(json_t *res)
{
	struct table t = { .head = { "NODE", "GPU", "PROFILE", "START", "TENANT", "NETWORK" }, .n_cols = 6 };
	size_t i, k;
	json_t *p, *n;

	json_array_foreach(json_object_get(res, "placements"), i, p) {
		char gpu[16], start[16], net[512];
		size_t off = 0;

		net[0] = '\0';
		json_array_foreach(json_object_get(p, "network"), k, n)
			off += (size_t)snprintf(net + off, off < sizeof(net) ? sizeof(net) - off : 0, "%s%s:%s%s",
						off ? "," : "", str(n, "segment"), *str(n, "port") ? str(n, "port") : "-",
						json_is_false(json_object_get(n, "new")) ? "(had)" : "");
		snprintf(gpu, sizeof(gpu), "%lld", (long long)json_integer_value(json_object_get(p, "gpu")));
		snprintf(start, sizeof(start), "%lld", (long long)json_integer_value(json_object_get(p, "start")));
		table_row(&t, str(p, "node"), gpu, str(p, "profile"), start, str(p, "tenant"), net);
	}
	printf("%s %lld x %s for %s:\n\n", json_is_true(json_object_get(res, "applied")) ? "applied" : "plan (nothing changed)",
	       (long long)json_integer_value(json_object_get(res, "count")), str(res, "profile"), str(res, "tenant"));
	table_print(&t);
}

/* Each GPU's slot picture (which tenant holds which slice) and what its target says. */
static void print_gpus(json_t *list)
{
	size_t i;
	json_t *g;

	json_array_foreach(list, i, g) {
		json_t *ap = json_object_get(g, "apply");

		if (*str(g, "picture"))
			fputs(str(g, "picture"), stdout);
		else
			printf("%s gpu%lld %s: %s\n", str(g, "node"), (long long)json_integer_value(json_object_get(g, "gpu")),
			       str(g, "model"), str(g, "note"));
		printf("  rail: nic %s, hca %s\n", *str(g, "nic_port") ? str(g, "nic_port") : "-",
		       *str(g, "hca_port") ? str(g, "hca_port") : "-");
		if (ap)
			printf("  apply: %s%s%s\n", str(ap, "state"), *str(ap, "reason") ? ": " : "", str(ap, "reason"));
		putchar('\n');
	}
}

static void print_gpu_release(json_t *res)
{
	size_t i;
	json_t *v;

	json_array_foreach(json_object_get(res, "detached"), i, v)
		printf("detached %s/%s %s:%s\n", str(v, "tenant"), str(v, "segment"), str(v, "node"), str(v, "port"));
	json_array_foreach(json_object_get(res, "released"), i, v)
		printf("released %s gpu%lld %s@%lld of %s\n", str(v, "node"),
		       (long long)json_integer_value(json_object_get(v, "gpu")), str(v, "profile"),
		       (long long)json_integer_value(json_object_get(v, "start")), str(v, "tenant"));
}

static void print_gpu_compact(json_t *res)
{
	struct table t = { .head = { "NODE", "GPU", "TENANT", "PROFILE", "FROM", "TO" }, .n_cols = 6 };
	size_t i;
	json_t *m;

	json_array_foreach(json_object_get(res, "moves"), i, m) {
		char gpu[16], from[16], to[16];

		snprintf(gpu, sizeof(gpu), "%lld", (long long)json_integer_value(json_object_get(m, "gpu")));
		snprintf(from, sizeof(from), "%lld", (long long)json_integer_value(json_object_get(m, "from")));
		snprintf(to, sizeof(to), "%lld", (long long)json_integer_value(json_object_get(m, "to")));
		table_row(&t, str(m, "node"), gpu, str(m, "tenant"), str(m, "profile"), from, to);
	}
	printf("%s: %zu move(s)\n", json_is_true(json_object_get(res, "applied")) ? "applied" : "not applied",
	       json_array_size(json_object_get(res, "moves")));
	if (t.n_rows)
		table_print(&t);
}

/* gpu subcommands take their own options: --site is one site here, not a list. */
static int cmd_gpu(int argc, char **argv, json_t *p)
{
	const char *verb = argc > 1 ? argv[1] : "";
	json_t *segs = json_array();
	int first = 2, ret = 0;

	if (strcmp(verb, "plan") == 0 || strcmp(verb, "apply") == 0) {
		if (argc < 4) {
			json_decref(segs);
			return usage_error("missing %s", "TENANT PROFILE");
		}
		json_object_set_new(p, "tenant", json_string(argv[2]));
		json_object_set_new(p, "profile", json_string(argv[3]));
		first = 4;
	} else if (strcmp(verb, "release") == 0) {
		if (argc < 3) {
			json_decref(segs);
			return usage_error("missing %s", "TENANT");
		}
		json_object_set_new(p, "tenant", json_string(argv[2]));
		first = 3;
	} else if (strcmp(verb, "show") && strcmp(verb, "compact")) {
		json_decref(segs);
		return usage_error("unknown command 'gpu %s'", verb);
	}
	for (int i = first; i < argc && !ret; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--dry-run") == 0) {
			json_object_set_new(p, "dry_run", json_true());
			continue;
		}
		if (!v) {
			ret = usage_error("%s needs a value", a);
			break;
		}
		i++;
		if (strcmp(a, "--count") == 0 || strcmp(a, "--gpu") == 0 || strcmp(a, "--start") == 0)
			ret = opt_int(p, a + 2, v);
		else if (strcmp(a, "--node") == 0 || strcmp(a, "--site") == 0 || strcmp(a, "--tenant") == 0)
			json_object_set_new(p, a + 2, json_string(v));
		else if (strcmp(a, "--segment") == 0)
			json_array_append_new(segs, json_string(v));
		else
			ret = usage_error("unknown option '%s'", a);
	}
	if (json_array_size(segs))
		json_object_set(p, "segments", segs);
	json_decref(segs);
	if (ret)
		return ret;
	if (strcmp(verb, "plan") == 0)
		return run("gpu.plan", p, print_gpu_placements);
	if (strcmp(verb, "apply") == 0)
		return run("gpu.apply", p, print_gpu_placements);
	if (strcmp(verb, "release") == 0)
		return run("gpu.release", p, print_gpu_release);
	if (strcmp(verb, "compact") == 0)
		return run("gpu.compact", p, print_gpu_compact);
	return run("gpu.show", p, print_gpus);
}

static int cmd_file(const char *method, struct opts *o, bool diff)
{
	json_error_t jerr;
	json_t *doc, *res;
	int ret;

	if (!o->file)
		return usage_error("%s needs -f FILE", method);
	doc = json_load_file(o->file, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		fprintf(stderr, "loomctl: %s:%d:%d: %s\n", o->file, jerr.line, jerr.column, jerr.text);
		return EXIT_USAGE;
	}
	json_object_set_new(o->params, "intent", doc);
	ret = call(method, o->params, &res);
	if (ret == 0) {
		if (json_out)
			print_json(res);
		else
			print_changes(res);
		if (diff && json_array_size(json_object_get(res, "changes")) > 0)
			ret = EXIT_DIFF;
	}
	json_decref(res);
	return ret;
}

/* One event as a line: SEQ TIME NODE FROM -> TO EVENT (goal) REASON. */
static void print_event(json_t *ev)
{
	printf("%lld %s %s %s -> %s %s%s%s%s %s\n", (long long)json_integer_value(json_object_get(ev, "seq")),
	       str(ev, "time"), str(ev, "node"), str(ev, "from"), str(ev, "to"), str(ev, "event"),
	       *str(ev, "goal") ? " (goal " : "", str(ev, "goal"), *str(ev, "goal") ? ")" : "",
	       *str(ev, "reason") ? str(ev, "reason") : "-");
	fflush(stdout);
}

/*
 * events [--node NODE] [--since SEQ] [--count N]: subscribes and prints
 * every node event as it is committed (after SEQ first, when given), until
 * loomd goes away, N events were printed, or the user stops it.
 */
static int cmd_events(int argc, char **argv)
{
	json_t *params = json_object(), *req;
	long long count = -1, printed = 0;
	struct reply_buf r = { 0 };
	char *text = NULL;
	bool answered = false;
	int fd = -1, ret = EXIT_UNREACHABLE;

	for (int i = 1; i < argc; i++) {
		char *end;

		if (i + 1 >= argc)
			return json_decref(params), usage_error("%s needs a value", argv[i]);
		if (strcmp(argv[i], "--node") == 0) {
			json_object_set_new(params, "node", json_string(argv[++i]));
		} else if (strcmp(argv[i], "--since") == 0 || strcmp(argv[i], "--count") == 0) {
			long long v = strtoll(argv[i + 1], &end, 10);

			if (*end || end == argv[i + 1] || v < 0)
				return json_decref(params), usage_error("%s wants a whole number", argv[i]);
			if (strcmp(argv[i++], "--since") == 0)
				json_object_set_new(params, "since", json_integer(v));
			else
				count = v;
		} else {
			return json_decref(params), usage_error("unexpected argument '%s'", argv[i]);
		}
	}
	req = json_pack("{s:s, s:s, s:o, s:i}", "jsonrpc", "2.0", "method", "events.subscribe",
			"params", params, "id", 1);
	text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!text)
		goto out;
	fd = connect_loomd();
	if (fd < 0 || write_all(fd, text, strlen(text)) || write_all(fd, "\n", 1))
		goto out;
	while (count < 0 || printed < count) {
		char *nl;

		/* The subscription's answer within the usual time; events whenever. */
		if (reply_read(fd, &r, answered ? -1 : timeout_ms))
			goto out;
		while ((nl = memchr(r.buf, '\n', r.len)) && (count < 0 || printed < count)) {
			json_t *msg;

			*nl = '\0';
			msg = json_loads(r.buf, 0, NULL);
			r.len -= (size_t)(nl + 1 - r.buf);
			memmove(r.buf, nl + 1, r.len);
			if (!json_is_object(msg)) {
				fprintf(stderr, "loomctl: loomd sent something that is not JSON-RPC\n");
				json_decref(msg);
				goto out;
			}
			if (json_object_get(msg, "error")) {
				struct loom_err err;

				rpc_error_read(json_object_get(msg, "error"), &err);
				fprintf(stderr, "loomctl: events.subscribe: %s%s%s%s [%s]\n", err.msg,
					err.field[0] ? " (field: " : "", err.field, err.field[0] ? ")" : "",
					loom_err_name(err.code));
				json_decref(msg);
				ret = EXIT_REFUSED;
				goto out;
			}
			if (json_object_get(msg, "result")) {
				answered = true;
			} else if (json_is_object(json_object_get(msg, "params"))) {
				json_t *ev = json_object_get(msg, "params");

				if (json_out) {
					json_dumpf(ev, stdout, JSON_COMPACT);
					putchar('\n');
					fflush(stdout);
				} else {
					print_event(ev);
				}
				printed++;
			}
			json_decref(msg);
		}
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(text);
	free(r.buf);
	return ret;
}

static int dispatch(int argc, char **argv, struct opts *o)
{
	const char *noun = argv[0], *verb = argc > 1 ? argv[1] : "";
	json_t *p = o->params;
	int npos;	/* positional arguments after the verb */

#define OPTS(from) do { int r_ = parse_opts(argc - (from), argv + (from), o); if (r_) return r_; } while (0)
#define NEED(n, what) do { if (argc < (n)) return usage_error("missing %s", what); } while (0)

	if (strcmp(noun, "tenant") == 0) {
		if (strcmp(verb, "create") == 0 || strcmp(verb, "update") == 0) {
			NEED(3, "tenant name");
			json_object_set_new(p, "name", json_string(argv[2]));
			OPTS(3);
			return run(strcmp(verb, "create") == 0 ? "tenant.create" : "tenant.update", p, print_one_tenant);
		}
		if (strcmp(verb, "list") == 0) {
			OPTS(2);
			return run("tenant.list", p, print_tenants);
		}
		if (strcmp(verb, "show") == 0) {
			NEED(3, "tenant name");
			json_object_set_new(p, "name", json_string(argv[2]));
			OPTS(3);
			return run("tenant.show", p, print_one_tenant);
		}
		if (strcmp(verb, "delete") == 0) {
			NEED(3, "tenant name");
			json_object_set_new(p, "name", json_string(argv[2]));
			OPTS(3);
			return run("tenant.delete", p, print_done);
		}
	} else if (strcmp(noun, "segment") == 0) {
		if (strcmp(verb, "create") == 0) {
			const char *slash;

			NEED(3, "TENANT/NAME");
			slash = strchr(argv[2], '/');
			if (!slash)
				return usage_error("segments are named TENANT/NAME, got '%s'", argv[2]);
			json_object_set_new(p, "tenant", json_stringn(argv[2], (size_t)(slash - argv[2])));
			json_object_set_new(p, "name", json_string(slash + 1));
			OPTS(3);
			return run("segment.create", p, print_one_segment);
		}
		if (strcmp(verb, "list") == 0) {
			npos = argc > 2 && strncmp(argv[2], "--", 2) ? 1 : 0;
			if (npos)
				json_object_set_new(p, "tenant", json_string(argv[2]));
			OPTS(2 + npos);
			return run("segment.list", p, print_segments);
		}
		if (strcmp(verb, "show") == 0 || strcmp(verb, "delete") == 0) {
			NEED(3, "TENANT/NAME");
			json_object_set_new(p, "segment", json_string(argv[2]));
			OPTS(3);
			return strcmp(verb, "show") == 0 ? run("segment.show", p, print_one_segment)
							 : run("segment.delete", p, print_done);
		}
	} else if (strcmp(noun, "attach") == 0 || strcmp(noun, "detach") == 0) {
		NEED(3, "TENANT/SEGMENT NODE[:PORT]");
		json_object_set_new(p, "segment", json_string(argv[1]));
		node_port(p, argv[2]);
		OPTS(3);
		return run(noun[0] == 'a' ? "segment.attach" : "segment.detach", p, print_attachment);
	} else if (strcmp(noun, "node") == 0) {
		if (strcmp(verb, "list") == 0) {
			OPTS(2);
			return run("node.list", p, print_nodes);
		}
		if (strcmp(verb, "show") == 0) {
			NEED(3, "node name");
			json_object_set_new(p, "name", json_string(argv[2]));
			OPTS(3);
			return run("node.show", p, print_node);
		}
		if (strcmp(verb, "history") == 0) {
			NEED(3, "node name");
			json_object_set_new(p, "name", json_string(argv[2]));
			OPTS(3);
			return run("node.history", p, print_history);
		}
		if (strcmp(verb, "replace") == 0) {
			NEED(3, "node name");
			json_object_set_new(p, "name", json_string(argv[2]));
			npos = argc > 3 && strncmp(argv[3], "--", 2) ? 1 : 0;
			if (npos)
				json_object_set_new(p, "new", json_string(argv[3]));
			OPTS(3 + npos);
			return run("node.replace", p, print_replacement);
		}
		if (strcmp(verb, "register") == 0 || strcmp(verb, "verify") == 0 || strcmp(verb, "cordon") == 0
		    || strcmp(verb, "uncordon") == 0 || strcmp(verb, "drain") == 0 || strcmp(verb, "fail") == 0
		    || strcmp(verb, "retire") == 0 || strcmp(verb, "fault") == 0) {
			char method[32];

			NEED(3, "node name");
			json_object_set_new(p, strcmp(verb, "fault") == 0 ? "node" : "name", json_string(argv[2]));
			OPTS(3);
			snprintf(method, sizeof(method), "node.%s", verb);
			return run(method, p, print_transition);
		}
	} else if (strcmp(noun, "gpu") == 0) {
		return cmd_gpu(argc, argv, p);
	} else if (strcmp(noun, "events") == 0) {
		return cmd_events(argc, argv);
	} else if (strcmp(noun, "replace") == 0) {
		if (strcmp(verb, "show") == 0) {
			NEED(3, "node name");
			json_object_set_new(p, "name", json_string(argv[2]));
			OPTS(3);
			return run("replace.show", p, print_replacement);
		}
		if (strcmp(verb, "list") == 0)
			return run("replace.list", p, print_replacements);
	} else if (strcmp(noun, "topology") == 0) {
		if (strcmp(verb, "show") == 0)
			return run("topology.show", p, NULL);
		if (strcmp(verb, "reload") == 0)
			return run("topology.reload", p, print_done);
		if (strcmp(verb, "import-ib") == 0) {
			const char *file = NULL, *sm = NULL;
			char *text = NULL;
			size_t len = 0;
			FILE *in, *mem;
			char buf[65536];
			size_t n;
			int ret;

			for (int i = 2; i < argc; i++) {
				if (strcmp(argv[i], "--sm") == 0 && i + 1 < argc)
					sm = argv[++i];
				else if (!file && argv[i][0] != '-')
					file = argv[i];
				else
					return usage_error("unexpected argument '%s'", argv[i]);
			}
			if (!sm)
				return usage_error("%s needs --sm NAME", "topology import-ib");
			in = file ? fopen(file, "re") : stdin;
			if (!in) {
				fprintf(stderr, "loomctl: %s: %s\n", file, strerror(errno));
				return EXIT_USAGE;
			}
			mem = open_memstream(&text, &len);
			while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
				fwrite(buf, 1, n, mem);
			fclose(mem);
			if (file)
				fclose(in);
			json_object_set_new(p, "text", json_stringn(text, len));
			json_object_set_new(p, "sm", json_string(sm));
			free(text);
			ret = run("topology.import", p, NULL);
			return ret;
		}
	} else if (strcmp(noun, "audit") == 0) {
		if (strcmp(verb, "list") == 0) {
			OPTS(2);
			return run("audit.list", p, print_audit);
		}
		if (strcmp(verb, "verify") == 0)
			return run("audit.verify", p, print_verify);
	} else if (strcmp(noun, "apply") == 0 || strcmp(noun, "diff") == 0) {
		OPTS(1);
		return cmd_file(noun[0] == 'a' ? "intent.apply" : "intent.diff", o, noun[0] == 'd');
	} else if (strcmp(noun, "desired") == 0 && strcmp(verb, "show") == 0) {
		return run("desired.show", p, NULL);
	} else if (strcmp(noun, "status") == 0) {
		if (argc > 1)
			json_object_set_new(p, "segment", json_string(argv[1]));
		return run("status.show", p, print_status);
	} else if (strcmp(noun, "info") == 0) {
		return run("system.info", p, NULL);
	} else if (strcmp(noun, "call") == 0) {
		json_t *params;
		json_error_t jerr;

		NEED(2, "METHOD");
		params = argc > 2 ? json_loads(argv[2], 0, &jerr) : json_object();
		if (!params)
			return usage_error("params are not JSON: %s", jerr.text);
		json_decref(o->params);
		o->params = params;
		return run(argv[1], params, NULL);
	}
	return usage_error("unknown command '%s'", argc > 1 ? verb : noun);
#undef OPTS
#undef NEED
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	const char *env = getenv("LOOM_SOCKET");
	int opt, ret;

	if (env && *env)
		socket_path = env;
	while ((opt = getopt(argc, argv, "+s:o:t:w:hV")) != -1) {
		switch (opt) {
		case 's': socket_path = optarg; break;
		case 'o':
			if (strcmp(optarg, "json") && strcmp(optarg, "table"))
				return usage_error("-o takes table or json, not '%s'", optarg);
			json_out = strcmp(optarg, "json") == 0;
			break;
		case 't': timeout_ms = atoi(optarg) * 1000; break;
		case 'w': wait_s = atoi(optarg); break;
		case 'V': printf("loomctl %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	o.params = json_object();
	o.sites = json_array();
	o.labels = json_object();
	o.subnets = json_array();
	o.results = json_array();
	ret = dispatch(argc - optind, argv + optind, &o);
	json_decref(o.params);
	json_decref(o.sites);
	json_decref(o.labels);
	json_decref(o.subnets);
	json_decref(o.results);
	return ret;
}

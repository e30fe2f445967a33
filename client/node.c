/*
 * client/node.c: nodes and their lifecycle (transitions, faults, RDMA
 * verification, history), replacements, and the node event stream.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/loomctl.h"

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
static int cmd_events(struct cmd_ctx *c)
{
	long long count = c->given[OPT_STOP_AFTER] ? atoll(c->given[OPT_STOP_AFTER]) : -1, printed = 0;
	struct reply_buf r = { 0 };
	json_t *req;
	char *text = NULL, *line;
	bool answered = false;
	int fd = -1, ret = EXIT_UNREACHABLE;

	req = json_pack("{s:s, s:s, s:O, s:i}", "jsonrpc", "2.0", "method", "events.subscribe",
			"params", c->params, "id", 1);
	text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!text)
		goto out;
	fd = ctl_connect();
	if (fd < 0 || ctl_write_all(fd, text, strlen(text)) || ctl_write_all(fd, "\n", 1))
		goto out;
	while (count < 0 || printed < count) {
		/* The subscription's answer within the usual time; events whenever. */
		if (reply_read(fd, &r, answered ? -1 : timeout_ms))
			goto out;
		while ((count < 0 || printed < count) && (line = reply_line(&r))) {
			json_t *msg = json_loads(line, 0, NULL);

			free(line);
			if (!json_is_object(msg)) {
				fprintf(stderr, "loomctl: loomd sent something that is not JSON-RPC\n");
				json_decref(msg);
				goto out;
			}
			if (json_object_get(msg, "error")) {
				if (json_out)
					print_json(json_object_get(msg, "error"));
				print_refusal("events.subscribe", json_object_get(msg, "error"));
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
	ctl_close(fd);
	free(text);
	free(r.buf);
	return ret;
}

const struct ctl_cmd node_cmds[] = {
	{ "node", "list", NULL, OPT(OPT_SITE), 0, "node.list", { NULL }, print_nodes, cmd_send,
	  "every node of the topology, its state and tenants" },
	{ "node", "show", "NODE", 0, 0, "node.show", { "name" }, print_node, cmd_send,
	  "one node: its lifecycle, ports and their segments" },
	{ "node", "history", "NODE", 0, 0, "node.history", { "name" }, print_history, cmd_send,
	  "every lifecycle transition of the node" },
	{ "node", "register", "NODE", OPT(OPT_REASON), 0, "node.register", { "name" }, print_transition, cmd_send,
	  "make a racked node available\n"
	  "It joins the provisioning segment, if loomd.conf names one." },
	{ "node", "verify", "NODE", OPT(OPT_RESULT) | OPT(OPT_REASON), 0, "node.verify", { "name" },
	  print_transition, cmd_send,
	  "judge RDMA measurements against the port's rate\n"
	  "Without --result loomd runs the check against the reference peer." },
	{ "node", "cordon", "NODE", OPT(OPT_REASON), 0, "node.cordon", { "name" }, print_transition, cmd_send,
	  "no new attachments on the node" },
	{ "node", "uncordon", "NODE", OPT(OPT_REASON), 0, "node.uncordon", { "name" }, print_transition, cmd_send,
	  "the node takes attachments again" },
	{ "node", "drain", "NODE", OPT(OPT_REASON), 0, "node.drain", { "name" }, print_transition, cmd_send,
	  "detach the node from every segment, then hold it" },
	{ "node", "fail", "NODE", OPT(OPT_REASON), 0, "node.fail", { "name" }, print_transition, cmd_send,
	  "take a broken node out of every segment" },
	{ "node", "retire", "NODE", OPT(OPT_REASON), 0, "node.retire", { "name" }, print_transition, cmd_send,
	  "take the node out of service for good" },
	{ "node", "fault", "NODE", OPT(OPT_COMPONENT) | OPT(OPT_SEVERITY) | OPT(OPT_TEXT) | OPT(OPT_PORT),
	  0, "node.fault", { "node" }, print_transition, cmd_send,
	  "report a fault; loomd decides what happens to the node" },
	{ "node", "replace", "OLD [NEW]", OPT(OPT_GOAL) | OPT(OPT_REASON), 0, "node.replace", { "name", "new" },
	  print_replacement, cmd_send,
	  "move OLD's attachments to NEW (picked when not named)\n"
	  "OLD is cordoned, detached, verified out and failed (or --goal); only then NEW\n"
	  "is attached with the same ports and verified in.  With -w it returns when\n"
	  "the replacement ended." },
	{ "replace", "show", "NODE", 0, 0, "replace.show", { "name" }, print_replacement, cmd_send,
	  "a replacement's steps, their state and times" },
	{ "replace", "list", NULL, 0, 0, "replace.list", { NULL }, print_replacements, cmd_send,
	  "every replacement" },
	{ "events", NULL, NULL, OPT(OPT_NODE) | OPT(OPT_SINCE) | OPT(OPT_STOP_AFTER), 0, "events.subscribe",
	  { NULL }, NULL, cmd_events,
	  "stream node events as they are committed\n"
	  "Transitions, faults, confirmations and replacement steps, one line each:\n"
	  "seq, time, node, from -> to, event, reason; -o json: one object a line." },
	{ NULL }
};

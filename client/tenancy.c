/*
 * client/tenancy.c: tenants, segments, attachments, the declarative
 * intent (apply, diff), the compiled desired state and what the targets
 * report about it (status).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "client/loomctl.h"

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

static void print_one_tenant(json_t *t)
{
	json_t *list = json_pack("[O]", t);

	print_tenants(list);
	json_decref(list);
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
		json_array_foreach(json_object_get(v, "attachments"), j, a) {
			json_t *vlan = json_object_get(a, "vlan");

			off += (size_t)snprintf(att + off, off < sizeof(att) ? sizeof(att) - off : 0, "%s%s%s%s",
						j ? "," : "", str(a, "node"), *str(a, "port") ? ":" : "", str(a, "port"));
			/* a shared port: NODE[:PORT]@VLAN */
			if (json_is_integer(vlan))
				off += (size_t)snprintf(att + off, off < sizeof(att) ? sizeof(att) - off : 0,
							"@%" JSON_INTEGER_FORMAT, json_integer_value(vlan));
		}
		if (json_is_array(json_object_get(v, "subnet")))
			joined(json_object_get(v, "subnet"), subnet, sizeof(subnet));
		else
			snprintf(subnet, sizeof(subnet), "%s", str(v, "subnet"));
		/* A routed segment: "SUBNET gw ADDR" */
		if (json_object_get(v, "gateway")) {
			char gw[128];
			size_t len = strlen(subnet);

			if (json_is_array(json_object_get(v, "gateway")))
				joined(json_object_get(v, "gateway"), gw, sizeof(gw));
			else
				snprintf(gw, sizeof(gw), "%s", str(v, "gateway"));
			snprintf(subnet + len, sizeof(subnet) - len, " gw %s", gw);
		}
		table_row(&t, name, str(v, "type"),
			  eth ? num(v, "vni", id, sizeof(id), false) : num(v, "pkey", id, sizeof(id), true),
			  num(v, eth ? "mtu" : "ib_mtu", mtu, sizeof(mtu), false), subnet,
			  eth ? str(v, "rt") : "", att);
	}
	table_print(&t);
}

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

void status_fprint(FILE *out, json_t *res)
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
	table_fprint(out, &t);
	json_array_foreach(json_object_get(res, "targets"), i, v)
		if (*str(v, "error"))
			fprintf(out, "target %s: %s\n", str(v, "name"), str(v, "error"));
}

void print_status(json_t *res)
{
	status_fprint(stdout, res);
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

static void print_attachment(json_t *a)
{
	json_t *vlan = json_object_get(a, "vlan");

	printf("%s %s%s%s", str(a, "segment"), str(a, "node"), *str(a, "port") ? ":" : "", str(a, "port"));
	if (json_is_integer(vlan))
		printf(" vlan %" JSON_INTEGER_FORMAT, json_integer_value(vlan));
	printf("\n");
}

/* segment create TENANT/NAME: the two halves are two parameters. */
static int cmd_segment_create(struct cmd_ctx *c)
{
	const char *ref = c->args[0], *slash = strchr(ref, '/');

	if (!slash)
		return usage_error("segments are named TENANT/NAME, got '%s'", ref);
	json_object_set_new(c->params, "tenant", json_stringn(ref, (size_t)(slash - ref)));
	json_object_set_new(c->params, "name", json_string(slash + 1));
	return cmd_send(c);
}

/* attach|detach TENANT/SEGMENT NODE[:PORT] */
static int cmd_attachment(struct cmd_ctx *c)
{
	const char *arg = c->args[1], *colon = strchr(arg, ':'), *vlan;

	if (!colon) {
		json_object_set_new(c->params, "node", json_string(arg));
	} else {
		json_object_set_new(c->params, "node", json_stringn(arg, (size_t)(colon - arg)));
		json_object_set_new(c->params, "port", json_string(colon + 1));
	}
	/* --vlan N goes as a number ("auto" as it is): the API takes either. */
	vlan = json_string_value(json_object_get(c->params, "vlan"));
	if (vlan && *vlan && strspn(vlan, "0123456789") == strlen(vlan) && strlen(vlan) < 6)
		json_object_set_new(c->params, "vlan", json_integer(atoi(vlan)));
	return cmd_send(c);
}

/* apply|diff -f FILE: the file's intent; diff exits 4 when it would change something. */
static int cmd_intent(struct cmd_ctx *c)
{
	const char *file = c->given[OPT_FILE];
	json_error_t jerr;
	json_t *doc, *res;
	int ret;

	doc = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		fprintf(stderr, "loomctl: %s:%d:%d: %s\n", file, jerr.line, jerr.column, jerr.text);
		return EXIT_USAGE;
	}
	json_object_set_new(c->params, "intent", doc);
	ret = ctl_call(c->cmd->method, c->params, &res);
	if (ret == 0) {
		if (json_out)
			print_json(res);
		else
			print_changes(res);
		if (strcmp(c->cmd->noun, "diff") == 0 && json_array_size(json_object_get(res, "changes")) > 0)
			ret = EXIT_DIFF;
	}
	json_decref(res);
	return ret;
}

#define SEGMENT_OPTS (OPT(OPT_TYPE) | OPT(OPT_VNI) | OPT(OPT_MTU) | OPT(OPT_SUBNET) | OPT(OPT_GATEWAY) | OPT(OPT_PKEY) \
		      | OPT(OPT_IPOIB) | OPT(OPT_IB_MTU) | OPT(OPT_RATE) | OPT(OPT_SL) | OPT(OPT_MEMBERSHIP))

const struct ctl_cmd tenancy_cmds[] = {
	{ "tenant", "create", "NAME", OPT(OPT_ISOLATION) | OPT(OPT_SITES) | OPT(OPT_LABEL), 0,
	  "tenant.create", { "name" }, print_one_tenant, cmd_send,
	  "create a tenant\n"
	  "Names are lowercase DNS labels.  Sites limit where its nodes may be (data\n"
	  "residency)." },
	{ "tenant", "update", "TENANT", OPT(OPT_SITES) | OPT(OPT_LABEL), 0,
	  "tenant.update", { "name" }, print_one_tenant, cmd_send,
	  "change a tenant's sites or labels\n"
	  "Options not given keep their values; isolation cannot change." },
	{ "tenant", "list", NULL, 0, 0, "tenant.list", { NULL }, print_tenants, cmd_send, "every tenant" },
	{ "tenant", "show", "TENANT", 0, 0, "tenant.show", { "name" }, print_one_tenant, cmd_send, "one tenant" },
	{ "tenant", "delete", "TENANT", OPT(OPT_CASCADE), 0, "tenant.delete", { "name" }, print_done, cmd_send,
	  "delete a tenant\n"
	  "With --cascade its segments and attachments go too; without, it must hold none." },
	{ "segment", "create", "TENANT/NAME", SEGMENT_OPTS, 0, "segment.create", { NULL }, print_one_segment,
	  cmd_segment_create,
	  "create an Ethernet (EVPN/VXLAN) or InfiniBand segment\n"
	  "Ethernet takes --vni, --mtu, --subnet and --gateway (routed); InfiniBand --pkey, --ipoib, --ib-mtu,\n"
	  "--rate, --sl and --membership.  IDs not given come from the pools." },
	{ "segment", "list", "[TENANT]", 0, 0, "segment.list", { "tenant" }, print_segments, cmd_send,
	  "every segment, or a tenant's" },
	{ "segment", "show", "TENANT/SEGMENT", 0, 0, "segment.show", { "segment" }, print_one_segment, cmd_send,
	  "one segment, and what the targets report about it" },
	{ "segment", "delete", "TENANT/SEGMENT", OPT(OPT_CASCADE), 0, "segment.delete", { "segment" }, print_done,
	  cmd_send,
	  "delete a segment\n"
	  "With --cascade its attachments go too; without, it must have none." },
	{ "attach", NULL, "TENANT/SEGMENT NODE[:PORT]", OPT(OPT_MEMBERSHIP) | OPT(OPT_VLAN), 0, "segment.attach", { "segment" },
	  print_attachment, cmd_attachment,
	  "put a node, or one of its ports, into a segment\n"
	  "A node alone: all its ports of the segment's kind.  With --vlan, a soft\n"
	  "tenant's segment shares the port with others, each on its own VLAN." },
	{ "detach", NULL, "TENANT/SEGMENT NODE[:PORT]", 0, 0, "segment.detach", { "segment" }, print_attachment,
	  cmd_attachment, "take a node or one port out of a segment" },
	{ "apply", NULL, NULL, OPT(OPT_FILE), OPT(OPT_FILE), "intent.apply", { NULL }, NULL, cmd_intent,
	  "make the tenants named in FILE as it says\n"
	  "Their segments and attachments not in the file are removed; tenants not\n"
	  "named are untouched.  All of it is one transaction." },
	{ "diff", NULL, NULL, OPT(OPT_FILE), OPT(OPT_FILE), "intent.diff", { NULL }, NULL, cmd_intent,
	  "what apply would change (exit 4 if anything)" },
	{ "desired", "show", NULL, 0, 0, "desired.show", { NULL }, NULL, cmd_send,
	  "the compiled desired state per VTEP and subnet manager" },
	{ "status", NULL, "[TENANT/SEGMENT]", 0, 0, "status.show", { "segment" }, print_status, cmd_send,
	  "what every target reports for every segment" },
	{ NULL }
};

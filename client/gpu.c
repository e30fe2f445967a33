/*
 * client/gpu.c: MIG instances: where they would go (plan), placing and
 * releasing them, repacking, and each GPU's slot picture.
 */
#include "config.h"

#include <string.h>

#include "client/loomctl.h"

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

/* plan and apply take the same options; --site is one site here, not a list. */
#define PLACE_OPTS (OPT(OPT_COUNT) | OPT(OPT_NODE) | OPT(OPT_SITE) | OPT(OPT_SEGMENT))

const struct ctl_cmd gpu_cmds[] = {
	{ "gpu", "plan", "TENANT PROFILE", PLACE_OPTS, 0, "gpu.plan", { "tenant", "profile" },
	  print_gpu_placements, cmd_send,
	  "where N MIG instances of PROFILE would go (dry run)\n"
	  "Their GPUs' rail ports would join the tenant's segments (default: all of\n"
	  "them).  A refusal says why." },
	{ "gpu", "apply", "TENANT PROFILE", PLACE_OPTS, 0, "gpu.apply", { "tenant", "profile" },
	  print_gpu_placements, cmd_send,
	  "place N MIG instances of PROFILE, all or none\n"
	  "Each instance's rail ports join the tenant's segments (all of them, or those\n"
	  "given with --segment).  With -w it returns once the targets applied it." },
	{ "gpu", "show", NULL, OPT(OPT_NODE) | OPT(OPT_TENANT), 0, "gpu.show", { NULL }, print_gpus, cmd_send,
	  "each GPU's slots and who holds them" },
	{ "gpu", "release", "TENANT", OPT(OPT_NODE) | OPT(OPT_GPU) | OPT(OPT_START), 0, "gpu.release",
	  { "tenant" }, print_gpu_release, cmd_send,
	  "release a tenant's MIG instances\n"
	  "All of them, or those on a node, on one of its GPUs, at one slot.\n"
	  "A rail port no remaining instance of the tenant needs is detached first." },
	{ "gpu", "compact", NULL, OPT(OPT_NODE) | OPT(OPT_DRY_RUN), 0, "gpu.compact", { NULL }, print_gpu_compact,
	  cmd_send, "repack MIG instances (a move interrupts their work)" },
	{ NULL }
};

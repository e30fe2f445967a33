/*
 * client/command.c: the command table's machinery.  Finds the command a
 * line names, reads its words against what that command takes (its
 * positional arguments, then the options in its mask; any other option is
 * refused, naming the option and the command), runs its handler, and
 * writes help from the same table.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "client/loomctl.h"

/* Every option, once; commands pick theirs with OPT(id). */
const struct ctl_opt ctl_opts[N_OPTS] = {
	[OPT_ISOLATION] = { "--isolation", NULL, "soft|strict|private", OPT_STRING, "isolation",
			    "how the tenant is kept apart from others" },
	[OPT_SITES] = { "--site", NULL, "SITE", OPT_LIST, "sites", "a site its nodes may be in (data residency)" },
	[OPT_SITE] = { "--site", NULL, "SITE", OPT_STRING, "site", "only in this site" },
	[OPT_LABEL] = { "--label", NULL, "K=V", OPT_LABELS, "labels", "a label, kept for the provisioning layer" },
	[OPT_CASCADE] = { "--cascade", NULL, NULL, OPT_FLAG, "cascade", "remove what it holds too" },
	[OPT_TYPE] = { "--type", NULL, "ethernet|infiniband", OPT_STRING, "type", "the segment's kind" },
	[OPT_VNI] = { "--vni", NULL, "N", OPT_INT, "vni", "Ethernet: the VXLAN VNI (default: from the pool)" },
	[OPT_MTU] = { "--mtu", NULL, "N", OPT_INT, "mtu", "Ethernet: the MTU" },
	[OPT_SUBNET] = { "--subnet", NULL, "CIDR", OPT_SUBNETS, "subnet", "Ethernet: a subnet, IPv4 or IPv6" },
	[OPT_GATEWAY] = { "--gateway", NULL, "ADDR", OPT_SUBNETS, "gateway",
			  "Ethernet: the anycast gateway in the subnet; the segment is routed in its tenant's VRF" },
	[OPT_PKEY] = { "--pkey", NULL, "P", OPT_INT, "pkey", "InfiniBand: the partition key (default: from the pool)" },
	[OPT_IPOIB] = { "--ipoib", NULL, NULL, OPT_FLAG, "ipoib", "InfiniBand: IP over IB in the partition" },
	[OPT_IB_MTU] = { "--ib-mtu", NULL, "N", OPT_INT, "ib_mtu", "InfiniBand: the MTU" },
	[OPT_RATE] = { "--rate", NULL, "GBPS", OPT_INT, "rate_gbps", "InfiniBand: the partition's rate" },
	[OPT_SL] = { "--sl", NULL, "N", OPT_INT, "sl", "InfiniBand: the service level" },
	[OPT_MEMBERSHIP] = { "--membership", NULL, "full|limited", OPT_STRING, "membership",
			     "InfiniBand: full or limited partition membership" },
	[OPT_VLAN] = { "--vlan", NULL, "N|auto", OPT_STRING, "vlan",
		       "Ethernet, soft tenants: share the port, on this 802.1Q VLAN (auto: the lowest free)" },
	[OPT_REASON] = { "--reason", NULL, "TEXT", OPT_STRING, "reason", "why, kept in the node's history" },
	[OPT_RESULT] = { "--result", NULL, "PORT,GBPS[,PEER[,SECONDS]]", OPT_RESULTS, "results",
			 "one RDMA measurement of a port" },
	[OPT_COMPONENT] = { "--component", NULL, "gpu|hca|nic|transceiver|psu|other", OPT_STRING, "component",
			    "the part at fault" },
	[OPT_SEVERITY] = { "--severity", NULL, "info|warning|critical", OPT_STRING, "severity",
			   "how bad it is" },
	[OPT_TEXT] = { "--text", NULL, "TEXT", OPT_STRING, "text", "what the monitor said" },
	[OPT_PORT] = { "--port", NULL, "PORT", OPT_STRING, "port", "the port at fault" },
	[OPT_GOAL] = { "--goal", NULL, "failed|retired|draining", OPT_STRING, "goal",
		       "where the old node ends (default failed)" },
	[OPT_NODE] = { "--node", NULL, "NODE", OPT_STRING, "node", "only this node" },
	[OPT_TENANT] = { "--tenant", NULL, "TENANT", OPT_STRING, "tenant", "only this tenant's" },
	[OPT_SINCE] = { "--since", NULL, "SEQ", OPT_WHOLE, "since", "the stored events after SEQ first (0: all)" },
	[OPT_STOP_AFTER] = { "--count", NULL, "N", OPT_WHOLE, NULL, "end after N" },
	[OPT_COUNT] = { "--count", NULL, "N", OPT_INT, "count", "how many (default 1)" },
	[OPT_GPU] = { "--gpu", NULL, "N", OPT_INT, "gpu", "only this GPU of the node" },
	[OPT_START] = { "--start", NULL, "S", OPT_INT, "start", "only the instance at this slot" },
	[OPT_SEGMENT] = { "--segment", NULL, "SEGMENT", OPT_LIST, "segments",
			  "a segment of the tenant the rail ports join (default: all)" },
	[OPT_DRY_RUN] = { "--dry-run", NULL, NULL, OPT_FLAG, "dry_run", "say what would move, move nothing" },
	[OPT_AFTER] = { "--after", NULL, "SEQ", OPT_INT, "after", "records after SEQ" },
	[OPT_LIMIT] = { "--limit", NULL, "N", OPT_INT, "limit", "at most N records (default 100)" },
	[OPT_FILE] = { "-f", "--file", "FILE", OPT_STRING, NULL, "the intent, JSON (docs/model.md)" },
	[OPT_SM] = { "--sm", NULL, "SM", OPT_STRING, "sm", "the subnet manager whose fabric it is" },
	[OPT_SIGNED] = { "--signed", NULL, "FILE", OPT_STRING, NULL,
			 "also write the report to FILE, signed (FILE.sig) with isolation.key" },
	[OPT_INTERVAL] = { "--interval", NULL, "SECONDS", OPT_STRING, NULL, "how often to ask (default 1)" },
};

static const struct ctl_cmd *const areas[] = { tenancy_cmds, watch_cmds, node_cmds, gpu_cmds, admin_cmds };

void cmd_each(cmd_visit_fn fn, void *arg)
{
	for (size_t a = 0; a < sizeof(areas) / sizeof(areas[0]); a++)
		for (const struct ctl_cmd *c = areas[a]; c->noun; c++)
			if (!fn(c, arg))
				return;
}

struct find {
	const char *noun, *verb;
	const struct ctl_cmd *found;
	bool noun_known, has_verbs;
};

static bool find_visit(const struct ctl_cmd *c, void *arg)
{
	struct find *f = arg;

	if (strcmp(c->noun, f->noun))
		return true;
	f->noun_known = true;
	f->has_verbs |= c->verb != NULL;
	if (!c->verb || (f->verb && strcmp(c->verb, f->verb) == 0)) {
		f->found = c;
		return false;
	}
	return true;
}

/* The command NOUN [VERB] names; a one-word command ignores @verb. */
const struct ctl_cmd *cmd_find(const char *noun, const char *verb)
{
	struct find f = { .noun = noun, .verb = verb };

	cmd_each(find_visit, &f);
	return f.found;
}

bool cmd_noun_known(const char *noun)
{
	struct find f = { .noun = noun, .verb = "" };

	cmd_each(find_visit, &f);
	return f.noun_known;
}

bool cmd_noun_has_verbs(const char *noun)
{
	struct find f = { .noun = noun, .verb = "" };

	cmd_each(find_visit, &f);
	return f.has_verbs;
}

/* How many positional arguments the command wants, at least and at most. */
void cmd_arg_counts(const struct ctl_cmd *cmd, int *min, int *max)
{
	const char *p = cmd->args ? cmd->args : "";

	*min = *max = 0;
	while (*p) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		if (*p == '[')
			(*max)++;
		else
			(*min)++, (*max)++;
		p += strcspn(p, " ");
	}
}

/* The @i-th positional argument's name as help shows it, without brackets. */
const char *cmd_arg_name(const struct ctl_cmd *cmd, int i, char *buf, size_t size)
{
	const char *p = cmd->args ? cmd->args : "";

	buf[0] = '\0';
	for (int k = 0; *p; k++) {
		size_t n;

		while (*p == ' ')
			p++;
		n = strcspn(p, " ");
		if (k == i) {
			if (*p == '[' && n >= 2)
				p++, n -= 2;
			snprintf(buf, size, "%.*s", (int)n, p);
			break;
		}
		p += n;
	}
	return buf;
}

/* The command's option spelled @word, or NULL when it takes none so spelled. */
const struct ctl_opt *cmd_opt(const struct ctl_cmd *cmd, const char *word, enum opt_id *id)
{
	for (int i = 0; i < N_OPTS; i++) {
		const struct ctl_opt *o = &ctl_opts[i];

		if (!(cmd->opts & OPT(i)))
			continue;
		if (strcmp(word, o->name) == 0 || (o->alias && strcmp(word, o->alias) == 0)) {
			if (id)
				*id = (enum opt_id)i;
			return o;
		}
	}
	return NULL;
}

static bool opt_exists(const char *word)
{
	for (int i = 0; i < N_OPTS; i++)
		if (strcmp(word, ctl_opts[i].name) == 0 || (ctl_opts[i].alias && strcmp(word, ctl_opts[i].alias) == 0))
			return true;
	return false;
}

int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "loomctl: ");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	fprintf(stderr, fmt, arg);	/* every caller passes a literal with one %s */
#pragma GCC diagnostic pop
	fprintf(stderr, "\nTry 'loomctl -h'.\n");
	return EXIT_USAGE;
}

void cmd_name(const struct ctl_cmd *cmd, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s", cmd->noun, cmd->verb ? " " : "", cmd->verb ? cmd->verb : "");
}

/* A usage error in one command: the message, then where its help is. */
static int cmd_error(const struct ctl_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cmd_error(const struct ctl_cmd *cmd, const char *fmt, ...)
{
	char name[64];
	va_list ap;

	cmd_name(cmd, name, sizeof(name));
	fprintf(stderr, "loomctl: %s: ", name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'loomctl help %s'.\n", name);
	return EXIT_USAGE;
}

/* An option given where it is not taken: say so, and what is. */
static int refuse_option(const struct ctl_cmd *cmd, const char *word)
{
	char takes[512] = "";
	size_t off = 0;

	for (int i = 0; i < N_OPTS; i++)
		if (cmd->opts & OPT(i))
			off += (size_t)snprintf(takes + off, off < sizeof(takes) ? sizeof(takes) - off : 0, "%s%s",
						off ? ", " : "", ctl_opts[i].name);
	if (opt_exists(word))
		return cmd_error(cmd, "option '%s' is not taken by this command (it takes %s)", word,
				 takes[0] ? takes : "no options");
	return cmd_error(cmd, "unknown option '%s' (it takes %s)", word, takes[0] ? takes : "no options");
}

static int parse_int(const struct ctl_opt *o, const char *v, json_int_t *out)
{
	char *end;
	long long n;

	errno = 0;
	if (o->kind == OPT_WHOLE) {
		n = strtoll(v, &end, 10);
		if (errno || *end || end == v || n < 0)
			return usage_error("%s wants a whole number", o->name);
	} else {
		n = strtoll(v, &end, 0);
		if (errno || *end || !*v)
			return usage_error("expected a number, got '%s'", v);
	}
	*out = n;
	return 0;
}

/* --result PORT,GBPS[,PEER[,SECONDS]]: one RDMA measurement for node verify. */
static int parse_result(json_t *results, const char *v)
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

/*
 * One option's value into @c->params, or for the repeatable kinds into
 * @acc[id], which parse() adds once every word was read.
 */
static int take_option(struct cmd_ctx *c, enum opt_id id, const char *v, json_t **acc)
{
	const struct ctl_opt *o = &ctl_opts[id];
	json_int_t n;

	c->given[id] = v ? v : "";
	switch (o->kind) {
	case OPT_FLAG:
		if (o->key)
			json_object_set_new(c->params, o->key, json_true());
		return 0;
	case OPT_STRING:
		if (o->key)
			json_object_set_new(c->params, o->key, json_string(v));
		return 0;
	case OPT_INT:
	case OPT_WHOLE:
		if (parse_int(o, v, &n))
			return EXIT_USAGE;
		if (o->key)
			json_object_set_new(c->params, o->key, json_integer(n));
		return 0;
	case OPT_LIST:
	case OPT_SUBNETS:
		if (!acc[id])
			acc[id] = json_array();
		json_array_append_new(acc[id], json_string(v));
		return 0;
	case OPT_LABELS: {
		const char *eq = strchr(v, '=');
		char key[256];

		if (!eq || eq == v || (size_t)(eq - v) >= sizeof(key))
			return usage_error("--label wants KEY=VALUE, got '%s'", v);
		memcpy(key, v, (size_t)(eq - v));
		key[eq - v] = '\0';
		if (!acc[id])
			acc[id] = json_object();
		json_object_set_new(acc[id], key, json_string(eq + 1));
		return 0;
	}
	case OPT_RESULTS:
		if (!acc[id])
			acc[id] = json_array();
		return parse_result(acc[id], v);
	}
	return 0;
}

#define HELP_WANTED (-1)	/* parse() met --help where an option may stand */

/*
 * Reads @argv (the words after the command's name): positional arguments
 * into c->args and, where the command names one, their key in c->params;
 * options into c->params.  Options may come before, between or after the
 * positional arguments.  Returns 0, an exit code, or HELP_WANTED.
 */
static int parse(struct cmd_ctx *c, int argc, char **argv)
{
	const struct ctl_cmd *cmd = c->cmd;
	json_t *acc[N_OPTS] = { 0 };
	int min, max, ret = 0;
	char arg[64];

	cmd_arg_counts(cmd, &min, &max);
	c->args = calloc((size_t)max + 1, sizeof(char *));
	if (!c->args)
		return usage_error("%s", "out of memory");
	for (int i = 0; i < argc && !ret; i++) {
		const char *a = argv[i];
		const struct ctl_opt *o;
		enum opt_id id;

		if (a[0] != '-' || !a[1]) {
			if (c->n_args == max) {
				ret = cmd_error(cmd, "unexpected argument '%s'", a);
				continue;
			}
			if (c->n_args < 2 && cmd->keys[c->n_args])
				json_object_set_new(c->params, cmd->keys[c->n_args], json_string(a));
			c->args[c->n_args++] = argv[i];
			continue;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			ret = HELP_WANTED;
			break;
		}
		o = cmd_opt(cmd, a, &id);
		if (!o)
			ret = refuse_option(cmd, a);
		else if (o->kind == OPT_FLAG)
			ret = take_option(c, id, NULL, acc);
		else if (i + 1 >= argc)
			ret = usage_error("%s needs a value", a);
		else
			ret = take_option(c, id, argv[++i], acc);
	}
	if (!ret && c->n_args < min)
		ret = cmd_error(cmd, "missing %s", cmd_arg_name(cmd, c->n_args, arg, sizeof(arg)));
	for (int i = 0; i < N_OPTS && !ret; i++)
		if ((cmd->need & OPT(i)) && !c->given[i])
			ret = cmd_error(cmd, "needs %s %s", ctl_opts[i].name, ctl_opts[i].value);
	for (int i = 0; i < N_OPTS; i++) {
		if (!acc[i])
			continue;
		if (!ret && ctl_opts[i].kind == OPT_SUBNETS && json_array_size(acc[i]) == 1)
			json_object_set(c->params, ctl_opts[i].key, json_array_get(acc[i], 0));
		else if (!ret)
			json_object_set(c->params, ctl_opts[i].key, acc[i]);
		json_decref(acc[i]);
	}
	return ret;
}

int cmd_send(struct cmd_ctx *c)
{
	return ctl_run(c->cmd->method, c->params, c->cmd->print);
}

/* Runs the command @argv names (global options already taken). */
int cmd_dispatch(int argc, char **argv)
{
	const struct ctl_cmd *cmd = cmd_find(argv[0], argc > 1 ? argv[1] : NULL);
	struct cmd_ctx c = { .cmd = cmd };
	int first, ret;

	if (!cmd) {
		char what[128];

		if (!cmd_noun_known(argv[0]))
			return usage_error("unknown command '%s'", argv[0]);
		if (argc < 2)
			return usage_error("'%s' needs a subcommand", argv[0]);
		snprintf(what, sizeof(what), "%s %s", argv[0], argv[1]);
		return usage_error("unknown command '%s'", what);
	}
	first = cmd->verb ? 2 : 1;
	if (cmd_raw(cmd)) {
		c.args = argv + first;
		c.n_args = argc - first;
		return cmd->handler(&c);
	}
	c.params = json_object();
	ret = parse(&c, argc - first, argv + first);
	if (ret == HELP_WANTED) {
		struct cmd_ctx h = { .args = argv, .n_args = first };

		ret = cmd_help(&h);
	} else if (!ret) {
		ret = cmd->handler(&c);
	}
	json_decref(c.params);
	free(c.args);
	return ret;
}

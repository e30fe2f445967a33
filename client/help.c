/*
 * client/help.c: help, written from the command table: the overview
 * (loomctl -h), one noun's commands, one command with its options
 * (help COMMAND, COMMAND --help), and with -o json the table itself.
 */
#include "config.h"

#include <string.h>

#include "client/loomctl.h"

#define HELP_COL 23	/* where a command's description starts */
#define HELP_WIDTH 79

static const char global_synopsis[] = "[-s SOCKET|tls://HOST:PORT] [-c FILE] [-o table|json] [-t SECONDS] [-w SECONDS]";

/* A line being filled with units that never break, wrapped to @indent. */
struct wrap {
	FILE *out;
	size_t col, indent;
	bool fresh;		/* nothing on this line yet but the indent */
};

static void put_unit(struct wrap *w, const char *unit)
{
	size_t n = strlen(unit);

	if (!w->fresh && w->col + 1 + n > HELP_WIDTH) {
		fprintf(w->out, "\n%*s", (int)w->indent, "");
		w->col = w->indent;
		w->fresh = true;
	}
	if (!w->fresh) {
		fputc(' ', w->out);
		w->col++;
	}
	fputs(unit, w->out);
	w->col += n;
	w->fresh = false;
}

/* The command, its arguments and its options, wrapped. */
static void put_synopsis(struct wrap *w, const struct ctl_cmd *cmd)
{
	const char *p = cmd->args ? cmd->args : "";
	char unit[128];

	put_unit(w, cmd->noun);
	if (cmd->verb)
		put_unit(w, cmd->verb);
	while (*p) {
		size_t n;

		while (*p == ' ')
			p++;
		n = strcspn(p, " ");
		if (!n)
			break;
		snprintf(unit, sizeof(unit), "%.*s", (int)n, p);
		put_unit(w, unit);
		p += n;
	}
	for (int i = 0; i < N_OPTS; i++) {
		const struct ctl_opt *o = &ctl_opts[i];
		bool need = cmd->need & OPT(i);

		if (!(cmd->opts & OPT(i)))
			continue;
		snprintf(unit, sizeof(unit), "%s%s%s%s%s%s", need ? "" : "[", o->name, o->value ? " " : "",
			 o->value ? o->value : "", need ? "" : "]", opt_repeats(o) ? "..." : "");
		put_unit(w, unit);
	}
}

/* Lines of @text after the first, each indented by @indent. */
static void put_more(FILE *out, const char *text, size_t indent)
{
	const char *nl = strchr(text, '\n');

	while (nl) {
		const char *next = strchr(nl + 1, '\n');
		int n = next ? (int)(next - nl - 1) : (int)strlen(nl + 1);

		fprintf(out, "%*s%.*s\n", (int)indent, "", n, nl + 1);
		nl = next;
	}
}

/* One command in the overview: its synopsis, then what it does. */
static void put_overview(FILE *out, const struct ctl_cmd *cmd)
{
	struct wrap w = { .out = out, .col = 2, .indent = 9, .fresh = true };
	int n = (int)strcspn(cmd->help, "\n");

	fputs("  ", out);
	put_synopsis(&w, cmd);
	if (w.col + 2 <= HELP_COL)
		fprintf(out, "%*s%.*s\n", (int)(HELP_COL - w.col), "", n, cmd->help);
	else
		fprintf(out, "\n%*s%.*s\n", HELP_COL, "", n, cmd->help);
}

struct overview {
	FILE *out;
	const char *noun;	/* only this noun's commands; NULL: all */
};

static bool overview_visit(const struct ctl_cmd *cmd, void *arg)
{
	struct overview *ov = arg;

	if (cmd->help && (!ov->noun || strcmp(ov->noun, cmd->noun) == 0))
		put_overview(ov->out, cmd);
	return true;
}

void usage(FILE *out)
{
	struct overview ov = { .out = out };

	fprintf(out, "usage: loomctl %s COMMAND ...\n\n", global_synopsis);
	cmd_each(overview_visit, &ov);
	fprintf(out,
		"\n"
		"  -s SOCKET   loomd's socket (default: $LOOM_SOCKET, else %s),\n"
		"              or tls://HOST:PORT, its TLS listener, with:\n"
		"  --cert FILE, --key FILE  this client's certificate and key (PEM)\n"
		"  --ca FILE   the CA loomd's certificate must chain to\n"
		"  -c FILE     client config file: server, cert, key, ca = VALUE lines\n"
		"              (default: $LOOMCTL_CONF, else ~/.config/loom/loomctl.conf)\n"
		"  -o FORMAT   table (default) or json: the result as the API returns it\n"
		"  -t SECONDS  how long to wait for loomd's answer (default 600)\n"
		"  -w SECONDS  changes return once every target they reach is programmed and\n"
		"              verified (exit 6 if not within SECONDS); default: at once\n"
		"\n"
		"'loomctl help COMMAND' says more about a command and its options.\n"
		"Exit: 0 ok, 1 refused by loomd, 2 usage, 3 loomd unreachable, 4 diff pending,\n"
		"      5 audit tampered, 6 not converged within -w.\n", RUNSTATEDIR "/loom/loomd.sock");
}

/* One command in full: synopsis, description, each option. */
static void put_detail(FILE *out, const struct ctl_cmd *cmd)
{
	struct wrap w = { .out = out, .col = 31, .indent = 9 };
	int n = (int)strcspn(cmd->help, "\n");

	fprintf(out, "usage: loomctl [GLOBAL OPTIONS]");
	put_synopsis(&w, cmd);
	fprintf(out, "\n\n  %.*s\n", n, cmd->help);
	put_more(out, cmd->help, 2);
	if (cmd->opts)
		fputc('\n', out);
	for (int i = 0; i < N_OPTS; i++) {
		const struct ctl_opt *o = &ctl_opts[i];
		char head[128];
		int width;

		if (!(cmd->opts & OPT(i)))
			continue;
		width = snprintf(head, sizeof(head), "  %s%s%s%s%s", o->name, o->alias ? ", " : "",
			     o->alias ? o->alias : "", o->value ? " " : "", o->value ? o->value : "");
		if (width + 2 <= HELP_COL)
			fprintf(out, "%-*s%s", HELP_COL, head, o->help);
		else
			fprintf(out, "%s\n%*s%s", head, HELP_COL, "", o->help);
		fprintf(out, "%s%s\n", opt_repeats(o) ? "; repeatable" : "",
			cmd->need & OPT(i) ? "; required" : "");
	}
}

/* -o json help: the table itself, for other shells' completion and for tools. */
static bool json_visit(const struct ctl_cmd *cmd, void *arg)
{
	json_t *list = arg, *opts;
	char name[64];

	if (!cmd->help)
		return true;
	opts = json_array();
	for (int i = 0; i < N_OPTS; i++) {
		const struct ctl_opt *o = &ctl_opts[i];

		if (cmd->opts & OPT(i))
			json_array_append_new(opts, json_pack("{s:s, s:s?, s:s?, s:b, s:b}", "name", o->name,
							      "alias", o->alias, "value", o->value,
							      "repeatable", opt_repeats(o),
							      "required", (cmd->need & OPT(i)) != 0));
	}
	cmd_name(cmd, name, sizeof(name));
	json_array_append_new(list, json_pack("{s:s, s:s, s:o, s:s?, s:s}", "command", name, "args",
					      cmd->args ? cmd->args : "", "options", opts, "method", cmd->method,
					      "help", cmd->help));
	return true;
}

struct help_filter {
	const char *noun, *verb;
	json_t *list;
};

static bool json_filter_visit(const struct ctl_cmd *cmd, void *arg)
{
	struct help_filter *f = arg;

	if ((!f->noun || strcmp(f->noun, cmd->noun) == 0)
	    && (!f->verb || !cmd->verb || strcmp(f->verb, cmd->verb) == 0))
		json_visit(cmd, f->list);
	return true;
}

/*
 * help [NOUN [VERB]], also `COMMAND --help`: the overview, one noun's
 * commands, or one command in full.
 */
int cmd_help(struct cmd_ctx *c)
{
	const char *noun = c->n_args > 0 ? c->args[0] : NULL;
	const char *verb = c->n_args > 1 ? c->args[1] : NULL;
	const struct ctl_cmd *cmd = noun ? cmd_find(noun, verb) : NULL;

	if (cmd && !cmd->help)
		return usage_error("no command '%s'", noun);
	if (noun && !cmd_noun_known(noun))
		return usage_error("no command '%s'", noun);
	if (noun && verb && !cmd && cmd_noun_has_verbs(noun))
		return usage_error("no command '%s'", verb);
	if (json_out) {
		struct help_filter f = { .noun = noun, .verb = cmd ? cmd->verb : NULL, .list = json_array() };

		cmd_each(json_filter_visit, &f);
		print_json(f.list);
		json_decref(f.list);
		return 0;
	}
	if (!noun) {
		usage(stdout);
	} else if (cmd && (cmd->verb ? verb != NULL : true)) {
		put_detail(stdout, cmd);
	} else {
		struct overview ov = { .out = stdout, .noun = noun };

		cmd_each(overview_visit, &ov);
		printf("\n'loomctl help %s VERB' says more about one of them.\n", noun);
	}
	return 0;
}

/*
 * client/complete.c: `loomctl complete [--] WORD...`, asked by the shell's
 * completion (etc/bash-completion/loomctl).  WORDS are the command line
 * after "loomctl", the last one the word being completed (maybe empty).
 * It prints the candidates that start with that word, one a line, or the
 * single line "@file" when a file name is wanted.  Commands and options
 * come from the command table; tenant, segment, node and site names from
 * loomd (on the socket a -s among WORDS names), quietly nothing when
 * loomd cannot be asked.
 */
#include "config.h"

#include <string.h>

#include "client/loomctl.h"

/* The candidates, in order, each once. */
struct cands {
	json_t *set;
	const char *cur;
};

static void add(struct cands *k, const char *s)
{
	if (s && *s && strncmp(s, k->cur, strlen(k->cur)) == 0)
		json_object_set_new(k->set, s, json_true());
}

struct noun_filter {
	struct cands *k;
	const char *noun;	/* NULL: every noun; else this noun's verbs */
	bool methods;		/* the API methods commands send */
};

static bool table_visit(const struct ctl_cmd *cmd, void *arg)
{
	struct noun_filter *f = arg;

	if (!cmd->help)
		return true;
	if (f->methods)
		add(f->k, cmd->method);
	else if (!f->noun)
		add(f->k, cmd->noun);
	else if (strcmp(f->noun, cmd->noun) == 0)
		add(f->k, cmd->verb);
	return true;
}

static void add_from_table(struct cands *k, const char *noun, bool methods)
{
	struct noun_filter f = { .k = k, .noun = noun, .methods = methods };

	cmd_each(table_visit, &f);
}

/* Asks loomd @method and adds each element's @key (or "tenant/name" for segments). */
static void add_from_loomd(struct cands *k, const char *method, json_t *params, const char *key,
			   const char *list_key)
{
	json_t *res = NULL, *list, *v;
	size_t i;

	if (ctl_call(method, params, &res) == 0) {
		list = list_key ? json_object_get(res, list_key) : res;
		json_array_foreach(list, i, v) {
			char name[256];

			if (strcmp(key, "tenant/name") == 0) {
				snprintf(name, sizeof(name), "%s/%s", str(v, "tenant"), str(v, "name"));
				add(k, name);
			} else {
				add(k, str(v, key));
			}
		}
	}
	json_decref(res);
}

/* Candidates for a value named @meta (an argument's or an option's). */
static void add_value(struct cands *k, const char *meta, const char *first_arg)
{
	json_t *p = json_object();

	if (strchr(meta, '|')) {
		char buf[128], *save = NULL;

		snprintf(buf, sizeof(buf), "%s", meta);
		for (char *w = strtok_r(buf, "|", &save); w; w = strtok_r(NULL, "|", &save))
			add(k, w);
	} else if (strcmp(meta, "FILE") == 0 || strcmp(meta, "SOCKET") == 0) {
		json_object_set_new(k->set, "@file", json_true());
	} else if (strcmp(meta, "TENANT") == 0) {
		add_from_loomd(k, "tenant.list", p, "name", NULL);
	} else if (strcmp(meta, "TENANT/SEGMENT") == 0) {
		add_from_loomd(k, "segment.list", p, "tenant/name", NULL);
	} else if (strcmp(meta, "SEGMENT") == 0 && first_arg) {
		json_object_set_new(p, "tenant", json_string(first_arg));
		add_from_loomd(k, "segment.list", p, "name", NULL);
	} else if (strcmp(meta, "NODE") == 0 || strcmp(meta, "NODE[:PORT]") == 0 || strcmp(meta, "OLD") == 0
		   || strcmp(meta, "NEW") == 0) {
		add_from_loomd(k, "node.list", p, "name", NULL);
	} else if (strcmp(meta, "SITE") == 0) {
		add_from_loomd(k, "topology.show", p, "name", "sites");
	} else if (strcmp(meta, "COMMAND") == 0) {
		add_from_table(k, NULL, false);
	} else if (strcmp(meta, "SUBCOMMAND") == 0 && first_arg) {
		add_from_table(k, first_arg, false);
	} else if (strcmp(meta, "METHOD") == 0) {
		add_from_table(k, NULL, true);
	}
	json_decref(p);
}

/* The command's options not given yet (a repeatable one always). */
static void add_options(struct cands *k, const struct ctl_cmd *cmd, uint64_t used)
{
	for (int i = 0; i < N_OPTS; i++) {
		if (!(cmd->opts & OPT(i)) || ((used & OPT(i)) && !opt_repeats(&ctl_opts[i])))
			continue;
		add(k, ctl_opts[i].name);
		if (ctl_opts[i].alias && k->cur[0] == '-' && k->cur[1] == '-')
			add(k, ctl_opts[i].alias);
	}
}

/* Completes within one command: an option's value, an option, or the next argument. */
static void complete_command(struct cands *k, const struct ctl_cmd *cmd, char **w, int n)
{
	const struct ctl_opt *pending = NULL;
	const char *first_arg = NULL;
	uint64_t used = 0;
	int n_pos = 0, min, max;
	char meta[64];

	for (int i = 0; i < n; i++) {
		const struct ctl_opt *o;
		enum opt_id id;

		if (pending) {
			pending = NULL;
			continue;
		}
		if (w[i][0] == '-' && w[i][1]) {
			o = cmd_opt(cmd, w[i], &id);
			if (o) {
				used |= OPT(id);
				pending = o->kind == OPT_FLAG ? NULL : o;
			}
			continue;
		}
		if (!n_pos)
			first_arg = w[i];
		n_pos++;
	}
	cmd_arg_counts(cmd, &min, &max);
	if (pending && pending->value)
		add_value(k, pending->value, first_arg);
	else if (k->cur[0] == '-' || n_pos >= max)
		add_options(k, cmd, used);
	else
		add_value(k, cmd_arg_name(cmd, n_pos, meta, sizeof(meta)), first_arg);
}

static void complete_words(struct cands *k, char **w, int n)
{
	static const char *const globals[] = { "-s", "-o", "-t", "-w", "-h", "-V", "--help", "--version" };
	const struct ctl_cmd *cmd;
	int i = 0;

	/* The global options come before the command; -s says which loomd to ask. */
	while (i < n - 1 && w[i][0] == '-' && w[i][1]) {
		bool takes = strchr("sotw", w[i][1]) && !w[i][2];

		if (takes && i + 1 == n - 1) {
			add_value(k, w[i][1] == 's' ? "SOCKET" : w[i][1] == 'o' ? "table|json" : "", NULL);
			return;
		}
		if (w[i][1] == 's')
			ctl_socket = w[i][2] ? w[i] + 2 : w[i + 1];
		i += takes ? 2 : 1;
	}
	if (i == n - 1) {
		if (k->cur[0] == '-') {
			for (size_t g = 0; g < sizeof(globals) / sizeof(globals[0]); g++)
				add(k, globals[g]);
		} else {
			add_from_table(k, NULL, false);
		}
		return;
	}
	if (cmd_noun_has_verbs(w[i])) {
		if (i + 1 == n - 1) {
			add_from_table(k, w[i], false);
			return;
		}
		cmd = cmd_find(w[i], w[i + 1]);
		i += 2;
	} else {
		cmd = cmd_find(w[i], NULL);
		i += 1;
	}
	if (cmd && !cmd_raw(cmd))
		complete_command(k, cmd, w + i, n - 1 - i);
}

int cmd_complete(struct cmd_ctx *c)
{
	char *empty[] = { (char *)"" };
	char **w = c->args;
	int n = c->n_args;
	struct cands k;
	const char *s;
	json_t *v;

	if (n && strcmp(w[0], "--") == 0)
		w++, n--;
	if (!n)
		w = empty, n = 1;
	k.set = json_object();
	k.cur = w[n - 1];
	/* Names must come fast or not at all; and as names, not as tables. */
	json_out = false;
	wait_s = 0;
	timeout_ms = 2000;
	complete_words(&k, w, n);
	if (json_object_get(k.set, "@file"))
		puts("@file");
	else
		json_object_foreach(k.set, s, v)
			puts(s);
	json_decref(k.set);
	return 0;
}

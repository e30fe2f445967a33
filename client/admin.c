/*
 * client/admin.c: the topology, the audit chain, loomd's own info, any
 * method by name (call), and help.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/loomctl.h"

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

static void print_verify(json_t *res)
{
	printf("audit chain intact: %" PRId64 " records\n", (int64_t)json_integer_value(json_object_get(res, "records")));
}

static void print_isolation(json_t *report)
{
	json_t *findings = json_object_get(report, "findings"), *f, *t;
	size_t i, k;

	if (!json_array_size(findings)) {
		printf("isolation: clean (%s)\n", json_string_value(json_object_get(report, "time")));
		return;
	}
	printf("%-12s %-18s %-16s %-20s %s\n", "TARGET", "KIND", "OBJECT", "TENANTS", "EVIDENCE");
	json_array_foreach(findings, i, f) {
		char who[160] = "";

		json_array_foreach(json_object_get(f, "tenants"), k, t) {
			size_t len = strlen(who);

			snprintf(who + len, sizeof(who) - len, "%s%s", len ? "," : "", json_string_value(t));
		}
		printf("%-12s %-18s %-16s %-20s %s\n", json_string_value(json_object_get(f, "target")),
		       json_string_value(json_object_get(f, "kind")), json_string_value(json_object_get(f, "object")),
		       who[0] ? who : "-", json_string_value(json_object_get(f, "evidence")));
	}
}

/* Writes @len bytes to @path; returns 0 or prints why and returns -1. */
static int write_out(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "we");

	if (!f || fwrite(data, 1, len, f) != len) {
		fprintf(stderr, "loomctl: %s: %s\n", path, strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	if (fclose(f)) {
		fprintf(stderr, "loomctl: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The signature in hex as bytes, into @path. */
static int write_sig(const char *path, const char *hex)
{
	size_t len = strlen(hex) / 2;
	unsigned char *sig = malloc(len ? len : 1);
	int ret;

	if (!sig)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned int b;

		if (sscanf(hex + 2 * i, "%2x", &b) != 1) {
			free(sig);
			fprintf(stderr, "loomctl: the signature is not hex\n");
			return -1;
		}
		sig[i] = (unsigned char)b;
	}
	ret = write_out(path, sig, len);
	free(sig);
	return ret;
}

/*
 * verify isolation [--signed FILE]: exit 0 when clean, EXIT_FINDINGS with
 * findings.  Signed, the report's exact text goes to FILE and its
 * signature to FILE.sig.
 */
static int cmd_isolation(struct cmd_ctx *c)
{
	const char *out = c->given[OPT_SIGNED];
	json_t *result = NULL, *report;
	int ret;

	if (out)
		json_object_set_new(c->params, "signed", json_true());
	ret = ctl_call(c->cmd->method, c->params, &result);
	if (ret)
		return ret;
	report = out ? json_object_get(result, "report") : result;
	if (out) {
		const char *doc = json_string_value(json_object_get(result, "document"));
		const char *sig = json_string_value(json_object_get(result, "signature"));
		char sig_path[4096];

		snprintf(sig_path, sizeof(sig_path), "%s.sig", out);
		if (!doc || !sig || write_out(out, doc, strlen(doc)) || write_sig(sig_path, sig)) {
			json_decref(result);
			return EXIT_REFUSED;
		}
	}
	if (json_out) {
		char *text = json_dumps(report, JSON_SORT_KEYS | JSON_INDENT(2));

		printf("%s\n", text ? text : "null");
		free(text);
	} else {
		print_isolation(report);
	}
	ret = json_array_size(json_object_get(report, "findings")) ? EXIT_FINDINGS : 0;
	json_decref(result);
	return ret;
}

/* topology import-ib --sm SM [FILE]: ibnetdiscover's output, from FILE or stdin. */
static int cmd_import_ib(struct cmd_ctx *c)
{
	const char *file = c->n_args ? c->args[0] : NULL;
	char *text = NULL, buf[65536];
	size_t len = 0, n;
	FILE *in, *mem;

	in = file && strcmp(file, "-") ? fopen(file, "re") : stdin;
	if (!in) {
		fprintf(stderr, "loomctl: %s: %s\n", file, strerror(errno));
		return EXIT_USAGE;
	}
	mem = open_memstream(&text, &len);
	if (!mem) {
		fprintf(stderr, "loomctl: %s\n", strerror(errno));
		if (in != stdin)
			fclose(in);
		return EXIT_USAGE;
	}
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, mem);
	fclose(mem);
	if (in != stdin)
		fclose(in);
	json_object_set_new(c->params, "text", json_stringn(text, len));
	free(text);
	return cmd_send(c);
}

/* call METHOD [JSON]: any method, the params as given. */
static int cmd_call(struct cmd_ctx *c)
{
	json_error_t jerr;
	json_t *params;
	int ret;

	params = c->n_args > 1 ? json_loads(c->args[1], 0, &jerr) : json_object();
	if (!params)
		return usage_error("params are not JSON: %s", jerr.text);
	ret = ctl_run(c->args[0], params, NULL);
	json_decref(params);
	return ret;
}

const struct ctl_cmd admin_cmds[] = {
	{ "topology", "show", NULL, 0, 0, "topology.show", { NULL }, NULL, cmd_send, "the topology loomd runs with" },
	{ "topology", "reload", NULL, 0, 0, "topology.reload", { NULL }, print_done, cmd_send,
	  "read the topology file again\n"
	  "Refused when the new file drops something in use." },
	{ "topology", "import-ib", "[FILE]", OPT(OPT_SM), OPT(OPT_SM), "topology.import", { NULL }, NULL,
	  cmd_import_ib,
	  "ibnetdiscover output as topology entries to merge\n"
	  "Reads FILE, or stdin; prints the entries to review." },
	{ "audit", "list", NULL, OPT(OPT_AFTER) | OPT(OPT_LIMIT), 0, "audit.list", { NULL }, print_audit, cmd_send,
	  "the audit records: who changed what, when" },
	{ "audit", "verify", NULL, 0, 0, "audit.verify", { NULL }, print_verify, cmd_send,
	  "recompute the audit hash chain (exit 5 if altered)\n"
	  "Names the first record that was altered or removed." },
	{ "verify", "isolation", NULL, OPT(OPT_SIGNED), 0, "isolation.verify", { NULL }, NULL, cmd_isolation,
	  "read the fabric and report every path between tenants (exit 7 if any)\n"
	  "Bridges, VXLAN devices, FDB and FRR's VNIs on every VTEP, P_Key tables of\n"
	  "every HCA port, MIG instances of every GPU, checked against the intent.\n"
	  "--signed FILE writes the report and FILE.sig for openssl dgst -verify." },
	{ "info", NULL, NULL, 0, 0, "system.info", { NULL }, NULL, cmd_send, "loomd's version, counts and pools" },
	{ "call", NULL, "METHOD [JSON]", 0, 0, NULL, { NULL }, NULL, cmd_call,
	  "send any method with JSON params (docs/api.md)" },
	{ "help", NULL, "[COMMAND] [SUBCOMMAND]", 0, 0, NULL, { NULL }, NULL, cmd_help,
	  "this overview, or one command and its options" },
	/* The shell's completion: candidates for the last of WORDS; not in help. */
	{ "complete", NULL, "WORD...", 0, 0, NULL, { NULL }, NULL, cmd_complete, NULL },
	{ NULL }
};

/*
 * client/loomctl.h: what loomctl's files share.
 *
 * loomctl is a table of commands (command.c): each names its positional
 * arguments, the options it takes, the API method it sends and how its
 * answer is printed.  The command files (tenancy.c, node.c, gpu.c,
 * admin.c) each hold their area's part of the table and its printers;
 * transport.c talks to loomd, print.c draws tables, complete.c answers the
 * shell's completion.
 */
#ifndef LOOM_CLIENT_LOOMCTL_H
#define LOOM_CLIENT_LOOMCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

/* Exit codes (loomctl(8)). */
enum {
	EXIT_REFUSED = 1,	/* loomd refused the request */
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3,
	EXIT_DIFF = 4,		/* diff: apply would change something */
	EXIT_TAMPERED = 5,	/* audit verify: the chain does not verify */
	EXIT_NOT_CONVERGED = 6,	/* -w ran out */
	EXIT_FINDINGS = 7,	/* verify isolation: a path between tenants was found */
};

/* The global options (main.c). */
extern const char *ctl_socket;	/* -s, else $LOOM_SOCKET, else the default */
extern bool json_out;		/* -o json */
extern int timeout_ms;		/* -t: how long to wait for an answer */
extern int wait_s;		/* -w: writes return once the targets converged */

/* ---- options ------------------------------------------------------------ */

/* Every option any command takes; a command lists its own as a bit mask. */
enum opt_id {
	/* In the order help lists them. */
	OPT_ISOLATION, OPT_SITES, OPT_LABEL, OPT_CASCADE,
	OPT_TYPE, OPT_VNI, OPT_MTU, OPT_SUBNET, OPT_GATEWAY, OPT_PKEY, OPT_IPOIB, OPT_IB_MTU, OPT_RATE, OPT_SL,
	OPT_MEMBERSHIP, OPT_VLAN,
	OPT_RESULT, OPT_COMPONENT, OPT_SEVERITY, OPT_TEXT, OPT_PORT, OPT_GOAL, OPT_REASON,
	OPT_COUNT, OPT_NODE, OPT_SITE, OPT_TENANT, OPT_SEGMENT, OPT_GPU, OPT_START, OPT_DRY_RUN,
	OPT_INTERVAL, OPT_SINCE, OPT_STOP_AFTER, OPT_AFTER, OPT_LIMIT, OPT_FILE, OPT_SM,
	OPT_SIGNED,
	N_OPTS
};
#define OPT(id) (UINT64_C(1) << (id))

/* How an option's value is read and where it goes. */
enum opt_kind {
	OPT_FLAG,	/* no value: params[key] = true */
	OPT_STRING,	/* params[key] = VALUE */
	OPT_INT,	/* params[key] = VALUE as a number (0x... allowed) */
	OPT_WHOLE,	/* params[key] = VALUE, a whole number >= 0 */
	OPT_LIST,	/* VALUE appended to the array params[key]; repeatable */
	OPT_SUBNETS,	/* one: params[key] = VALUE; more: an array; repeatable */
	OPT_LABELS,	/* KEY=VALUE into the object params[key]; repeatable */
	OPT_RESULTS,	/* PORT,GBPS[,PEER[,SECONDS]] appended to params[key]; repeatable */
};

struct ctl_opt {
	const char *name;	/* "--site" */
	const char *alias;	/* another spelling ("--file" for -f), or NULL */
	const char *value;	/* what help shows for its value ("a|b" lists the choices); NULL for a flag */
	enum opt_kind kind;
	const char *key;	/* the API parameter; NULL: the command reads it itself */
	const char *help;
};

extern const struct ctl_opt ctl_opts[N_OPTS];

static inline bool opt_repeats(const struct ctl_opt *o)
{
	return o->kind == OPT_LIST || o->kind == OPT_SUBNETS || o->kind == OPT_LABELS
	       || o->kind == OPT_RESULTS;
}

/* ---- commands ----------------------------------------------------------- */

struct cmd_ctx;

struct ctl_cmd {
	const char *noun;
	const char *verb;	/* NULL: a one-word command */
	const char *args;	/* positional arguments as help shows them: "[X]" is optional;
				   "WORD...": the words as they are, options and all */
	uint64_t opts;		/* the options it takes: OPT(OPT_SITES) | ... */
	uint64_t need;		/* those of them it cannot do without */
	const char *method;	/* what it sends, for handlers that send one method */
	const char *keys[2];	/* the API parameters the positional arguments go to */
	void (*print)(json_t *result);	/* the table for people; NULL: JSON always */
	int (*handler)(struct cmd_ctx *c);
	const char *help;	/* what it does, more lines after a '\n'; NULL: not in help */
};

static inline bool cmd_raw(const struct ctl_cmd *cmd)
{
	return cmd->args && strcmp(cmd->args, "WORD...") == 0;
}

/* One run of a command, its words parsed. */
struct cmd_ctx {
	const struct ctl_cmd *cmd;
	char **args;		/* the positional arguments */
	int n_args;
	json_t *params;		/* positional keys, then the options that have one */
	const char *given[N_OPTS];	/* each option's last value ("" for a flag), or NULL */
};

/* The areas' tables, each ended by an entry whose noun is NULL. */
extern const struct ctl_cmd tenancy_cmds[];
extern const struct ctl_cmd node_cmds[];
extern const struct ctl_cmd gpu_cmds[];
extern const struct ctl_cmd watch_cmds[];
extern const struct ctl_cmd admin_cmds[];

/* command.c: finding, parsing and running commands; help.c: explaining them. */
typedef bool (*cmd_visit_fn)(const struct ctl_cmd *cmd, void *arg);
void cmd_each(cmd_visit_fn fn, void *arg);
bool cmd_noun_known(const char *noun);
bool cmd_noun_has_verbs(const char *noun);
const struct ctl_cmd *cmd_find(const char *noun, const char *verb);
void cmd_name(const struct ctl_cmd *cmd, char *buf, size_t size);
void cmd_arg_counts(const struct ctl_cmd *cmd, int *min, int *max);
const char *cmd_arg_name(const struct ctl_cmd *cmd, int i, char *buf, size_t size);
const struct ctl_opt *cmd_opt(const struct ctl_cmd *cmd, const char *word, enum opt_id *id);
int cmd_dispatch(int argc, char **argv);
void usage(FILE *out);
int cmd_help(struct cmd_ctx *c);
int usage_error(const char *fmt, const char *arg) __attribute__((format(printf, 1, 0)));

/* The handler for the common case: send cmd->method with c->params, print. */
int cmd_send(struct cmd_ctx *c);

/* complete.c */
int cmd_complete(struct cmd_ctx *c);

/* ---- transport.c --------------------------------------------------------- */

/* --cert, --key, --ca (or the client config file): for -s tls://HOST:PORT. */
extern const char *ctl_tls_cert, *ctl_tls_key, *ctl_tls_ca;
/* Reads server, cert, key, ca from @path; what is set already stays
 * (server excepted: -s and $LOOM_SOCKET are applied after). */
int ctl_config_load(const char *path, bool must_exist);
/* loomd's socket or TLS listener; the fd, or -1 after saying why. */
int ctl_connect(void);
/* Ends the connection ctl_connect made (its TLS session too). */
void ctl_close(int fd);
int ctl_write_all(int fd, const char *buf, size_t len);

/* What loomd sent and was not taken yet; lines are taken off the front. */
struct reply_buf {
	char *buf;
	size_t len, cap;
};
int reply_read(int fd, struct reply_buf *r, int wait_ms);
char *reply_line(struct reply_buf *r);

/* Sends one request; *result holds the result.  Returns 0 or an exit code. */
int ctl_call(const char *method, json_t *params, json_t **result);
/* ctl_call, then print the result with @print (or as JSON). */
int ctl_run(const char *method, json_t *params, void (*print)(json_t *));
/* The "loomctl: METHOD: message (field: F) [name]" line; returns the code. */
int print_refusal(const char *method, json_t *error);

/* ---- print.c ------------------------------------------------------------- */

#define MAX_COLS 10

struct table {
	const char *head[MAX_COLS];
	size_t n_cols;
	char **cells;		/* row-major */
	size_t n_rows, cap_cells;
};

void table_row(struct table *t, ...);
void table_fprint(FILE *out, struct table *t);
void table_print(struct table *t);

const char *str(json_t *o, const char *key);
const char *num(json_t *o, const char *key, char *buf, size_t size, bool hex);
const char *joined(json_t *arr, char *buf, size_t size);
void print_json(json_t *v);
void print_done(json_t *res);

/* status.show's answer as the status table (tenancy.c). */
void status_fprint(FILE *out, json_t *res);
void print_status(json_t *res);

#endif

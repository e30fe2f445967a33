/*
 * client/watch.c: watch status: the status table, drawn again whenever
 * what it shows changes.  loomd streams node events but not target
 * states, so this asks status.show every --interval and compares the
 * drawn table with the last one; a terminal gets the screen cleared and a
 * header, a pipe gets each new table after a blank line, -o json one
 * status object a line.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/loomctl.h"

static void draw(const char *table, json_t *res, const struct cmd_ctx *c, double interval, bool tty,
		 long long drawn)
{
	if (json_out) {
		json_dumpf(res, stdout, JSON_COMPACT);
		putchar('\n');
	} else if (tty) {
		char when[32];
		time_t now = time(NULL);
		struct tm tm;

		localtime_r(&now, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		/* Home, clear, then the table: the terminal shows only the latest. */
		printf("\033[H\033[2JEvery %gs: loomctl status%s%s    %s\n\n%s", interval, c->n_args ? " " : "",
		       c->n_args ? c->args[0] : "", when, table);
	} else {
		printf("%s%s", drawn ? "\n" : "", table);
	}
	fflush(stdout);
}

static void nap(double seconds)
{
	struct timespec ts = { .tv_sec = (time_t)seconds,
			       .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int cmd_watch_status(struct cmd_ctx *c)
{
	const char *iv = c->given[OPT_INTERVAL];
	long long count = c->given[OPT_STOP_AFTER] ? atoll(c->given[OPT_STOP_AFTER]) : -1, drawn = 0;
	bool tty = isatty(STDOUT_FILENO);
	double interval = 1;
	char *last = NULL;
	int ret = 0;

	if (iv) {
		char *end;

		errno = 0;
		interval = strtod(iv, &end);
		if (errno || *end || end == iv || !(interval >= 0.05 && interval <= 86400))
			return usage_error("--interval wants seconds (0.05 to 86400), got '%s'", iv);
	}
	while (count < 0 || drawn < count) {
		char *table = NULL;
		size_t len = 0;
		json_t *res;
		FILE *mem;

		ret = ctl_call("status.show", c->params, &res);
		if (ret)
			break;
		mem = open_memstream(&table, &len);
		if (!mem) {
			json_decref(res);
			ret = EXIT_UNREACHABLE;
			break;
		}
		status_fprint(mem, res);
		fclose(mem);
		if (!last || strcmp(last, table)) {
			draw(table, res, c, interval, tty, drawn++);
			free(last);
			last = table;
		} else {
			free(table);
		}
		json_decref(res);
		if (count < 0 || drawn < count)
			nap(interval);
	}
	free(last);
	return ret;
}

const struct ctl_cmd watch_cmds[] = {
	{ "watch", "status", "[TENANT/SEGMENT]", OPT(OPT_INTERVAL) | OPT(OPT_STOP_AFTER), 0, "status.show",
	  { "segment" }, NULL, cmd_watch_status,
	  "the status table, drawn again whenever it changes\n"
	  "Asks every --interval seconds; --count ends after N drawings.  On a terminal\n"
	  "the screen is cleared first; -o json prints one status object a line." },
	{ NULL }
};

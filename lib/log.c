/*
 * lib/log.c: one line per message on stderr, with a level prefix that
 * journald understands (<3>, <4>, <6>, <7>) when stderr is the journal.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

enum log_level log_level = LOG_LVL_INFO;
unsigned int log_debug_mask;
const char *log_ident = "loomd";

static const char *const level_names[] = { "err", "warn", "info", "debug" };
static const int level_prio[] = { 3, 4, 6, 7 };

static const struct {
	const char *name;
	unsigned int bit;
} subsystems[] = {
	{ "api", LOG_SUB_API },		{ "store", LOG_SUB_STORE },
	{ "reconcile", LOG_SUB_RECONCILE }, { "netlink", LOG_SUB_NETLINK },
	{ "frr", LOG_SUB_FRR },		{ "opensm", LOG_SUB_OPENSM },
	{ "mad", LOG_SUB_MAD },		{ "lifecycle", LOG_SUB_LIFECYCLE },
	{ "gpu", LOG_SUB_GPU },
};

int log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

int log_debug_parse(const char *list, unsigned int *mask)
{
	char buf[256];
	char *save = NULL;

	*mask = 0;
	if (strcmp(list, "all") == 0) {
		*mask = ~0u;
		return 0;
	}
	snprintf(buf, sizeof(buf), "%s", list);
	for (char *tok = strtok_r(buf, ", ", &save); tok;
	     tok = strtok_r(NULL, ", ", &save)) {
		size_t i;

		for (i = 0; i < sizeof(subsystems) / sizeof(subsystems[0]); i++)
			if (strcmp(tok, subsystems[i].name) == 0)
				break;
		if (i == sizeof(subsystems) / sizeof(subsystems[0]))
			return -1;
		*mask |= subsystems[i].bit;
	}
	return 0;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static int journal = -1;
	char line[2048];
	va_list ap;

	if (level > log_level)
		return;
	if (journal < 0)
		journal = getenv("JOURNAL_STREAM") != NULL;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (journal)
		fprintf(stderr, "<%d>%s\n", level_prio[level], line);
	else
		fprintf(stderr, "%s: %s: %s\n", log_ident, level_names[level], line);
}

/*
 * tests/integration/topo_tool.c: a thin command-line front to topology/ for
 * the integration tests (and for generating golden files by hand):
 *   topo_tool check FILE                 load a topology, print it normalised
 *   topo_tool import SM [FILE|-]         ibnetdiscover text -> candidate JSON
 * Errors go to stderr as "code field: message"; the exit status is 1.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/err.h"
#include "topology/ibnetdiscover.h"
#include "topology/topology.h"

static char *slurp(FILE *f)
{
	size_t cap = 4096, len = 0, n;
	char *buf = malloc(cap), *grown;

	while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len - 1 == 0) {
			if (!(grown = realloc(buf, cap * 2))) {
				free(buf);
				return NULL;
			}
			buf = grown;
			cap *= 2;
		}
	}
	if (buf)
		buf[len] = '\0';
	return buf;
}

static int report(const struct loom_err *err)
{
	fprintf(stderr, "%s %s: %s\n", loom_err_name(err->code), err->field, err->msg);
	return 1;
}

int main(int argc, char **argv)
{
	struct loom_err err = { 0 };
	json_t *out = NULL;
	int rc = 0;

	if (argc == 3 && !strcmp(argv[1], "check")) {
		struct topology *t = NULL;

		if (topology_load_file(argv[2], &t, &err))
			return report(&err);
		out = topology_to_json(t);
		topology_free(&t);
	} else if ((argc == 3 || argc == 4) && !strcmp(argv[1], "import")) {
		FILE *f = argc == 3 || !strcmp(argv[3], "-") ? stdin : fopen(argv[3], "r");
		char *text;

		if (!f) {
			fprintf(stderr, "%s: %s\n", argv[3], strerror(errno));
			return 1;
		}
		text = slurp(f);
		if (f != stdin)
			fclose(f);
		if (!text)
			return 1;
		rc = ibnetdiscover_import(text, argv[2], &out, &err);
		free(text);
		if (rc)
			return report(&err);
	} else {
		fprintf(stderr, "usage: %s check FILE | import SM [FILE|-]\n", argv[0]);
		return 2;
	}
	if (!out || json_dumpf(out, stdout, JSON_INDENT(2)) || fputc('\n', stdout) == EOF)
		rc = 1;
	json_decref(out);
	return rc;
}

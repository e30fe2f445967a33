/*
 * client/print.c: tables for people, and the few ways a JSON member is
 * shown in a cell.  -o json bypasses all of it (print_json).
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "client/loomctl.h"

/* Adds one row: n_cols strings; NULL or "" shows as "-". */
void table_row(struct table *t, ...)
{
	va_list ap;

	if (t->n_rows == t->cap_rows) {
		t->cap_rows = t->cap_rows ? t->cap_rows * 2 : 16;
		t->cells = realloc(t->cells, t->cap_rows * t->n_cols * sizeof(char *));
		if (!t->cells)
			abort();
	}
	va_start(ap, t);
	for (size_t c = 0; c < t->n_cols; c++) {
		const char *s = va_arg(ap, const char *);

		t->cells[t->n_rows * t->n_cols + c] = strdup(s && *s ? s : "-");
	}
	va_end(ap);
	t->n_rows++;
}

/* Prints the head and the rows, columns as wide as their widest cell, and frees the rows. */
void table_fprint(FILE *out, struct table *t)
{
	size_t width[MAX_COLS];

	for (size_t c = 0; c < t->n_cols; c++) {
		width[c] = strlen(t->head[c]);
		for (size_t r = 0; r < t->n_rows; r++) {
			size_t w = strlen(t->cells[r * t->n_cols + c]);

			if (w > width[c])
				width[c] = w;
		}
	}
	for (size_t c = 0; c < t->n_cols; c++)
		fprintf(out, "%-*s%s", c + 1 < t->n_cols ? (int)width[c] : 0, t->head[c],
			c + 1 < t->n_cols ? "  " : "\n");
	for (size_t r = 0; r < t->n_rows; r++)
		for (size_t c = 0; c < t->n_cols; c++)
			fprintf(out, "%-*s%s", c + 1 < t->n_cols ? (int)width[c] : 0, t->cells[r * t->n_cols + c],
				c + 1 < t->n_cols ? "  " : "\n");
	for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
		free(t->cells[i]);
	free(t->cells);
}

void table_print(struct table *t)
{
	table_fprint(stdout, t);
}

/* A string member, or "" when absent or not a string. */
const char *str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "";
}

/* An integer member as text; "" when absent or zero. */
const char *num(json_t *o, const char *key, char *buf, size_t size, bool hex)
{
	json_t *v = json_object_get(o, key);

	if (json_is_string(v))
		return json_string_value(v);
	if (!json_is_integer(v) || json_integer_value(v) == 0)
		return "";
	snprintf(buf, size, hex ? "0x%04" PRIx64 : "%" PRId64, (int64_t)json_integer_value(v));
	return buf;
}

/* A JSON array of strings (or of objects with "name") as "a,b,c". */
const char *joined(json_t *arr, char *buf, size_t size)
{
	size_t i, off = 0;
	json_t *v;

	buf[0] = '\0';
	json_array_foreach(arr, i, v) {
		const char *s = json_is_string(v) ? json_string_value(v) : str(v, "name");

		off += (size_t)snprintf(buf + off, off < size ? size - off : 0, "%s%s", i ? "," : "", s);
	}
	return buf;
}

void print_json(json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
	putchar('\n');
}

/* An answer that only names what it did: "deleted acme". */
void print_done(json_t *res)
{
	const char *k;
	json_t *v;

	json_object_foreach(res, k, v)
		if (json_is_string(v))
			printf("%s %s\n", k, json_string_value(v));
}

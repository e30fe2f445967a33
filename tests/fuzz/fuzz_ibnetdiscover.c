/*
 * tests/fuzz/fuzz_ibnetdiscover.c: libFuzzer target for the ibnetdiscover
 * importer, the one parser in topology/ that reads free text.
 *
 * Run: tools/fuzz SECONDS ibnetdiscover (seeds: tests/fuzz/corpus/ibnetdiscover).
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "topology/ibnetdiscover.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct loom_err err = { 0 };
	json_t *out = NULL;
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (ibnetdiscover_import(text, "sm1", &out, &err) == 0)
		json_decref(out);
	free(text);
	return 0;
}

/*
 * tests/fuzz/fuzz_partitions.c: libFuzzer target for OpenSM's partitions
 * file as loom reads it (the operator's lines around loom's section, the
 * section's markers and checksum), and the splice of a section into it.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fabric/partitions.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char section[] = "# loom section\n";
	struct loom_err err = { 0 };
	struct partitions_file *f = NULL;
	char *out = NULL;
	size_t out_len = 0;

	if (partitions_parse((const char *)data, size, &f, &err) == 0) {
		if (partitions_splice(f, section, sizeof(section) - 1, &out, &out_len) == 0)
			free(out);
		partitions_file_free(&f);
	}
	return 0;
}

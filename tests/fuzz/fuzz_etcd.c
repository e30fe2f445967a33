/*
 * tests/fuzz/fuzz_etcd.c: libFuzzer target for the etcd watch stream as
 * loom-agent and loomd read it (cluster/etcd.c's incremental parser), fed
 * whole and cut in two at a point the input's first byte picks, and the
 * base64 decoder of keys and values.
 *
 * Run: tools/fuzz SECONDS etcd (seeds: tests/fuzz/corpus/etcd, captured
 * from etcd 3.4.23's gateway).
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cluster/etcd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void count(void *arg, void *obj)
{
	json_t *j = obj;

	/* What the watcher reads of each object. */
	*(size_t *)arg += 1 + json_array_size(json_object_get(json_object_get(j, "result"), "events"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct etcd_stream s = { 0 };
	size_t n = 0, cut = size ? data[0] % (size + 1) : 0;
	char *text, *dec;
	size_t len;

	if (etcd_stream_feed(&s, (const char *)data, cut, count, &n) == 0)
		etcd_stream_feed(&s, (const char *)data + cut, size - cut, count, &n);
	etcd_stream_clear(&s);
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	dec = etcd_b64_decode(text, &len);
	free(dec);
	free(text);
	return 0;
}

/*
 * tests/fuzz/fuzz_netlink.c: libFuzzer target for rtnetlink as loomd's
 * kernel target reads it (overlay/kvtep.c): link dumps, errors and ACKs
 * with extended-ACK attributes, and link events on the event socket.
 *
 * Input: one byte, then one datagram as recv() gives it.  The byte's low
 * bit picks the path: 0 the request socket's replies, 1 the event socket.
 * Netlink's own headers are aligned in the kernel's buffer, so the datagram
 * is copied to an aligned one first, as recv() into loomd's buffer does.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "overlay/kvtep_test.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const watched[] = { "eth0", "uplink", "vx10000", "br10000" };
	struct kvtep *h;
	void *buf;

	if (size < 1)
		return 0;
	buf = malloc(size);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	h = kvtep_test_handle("192.0.2.1", true);
	if (h && kvtep_carrier_watch(h, watched, sizeof(watched) / sizeof(watched[0])) == 0)
		kvtep_test_datagram(h, data[0] & 1, buf, size - 1);
	kvtep_close(&h);
	free(buf);
	return 0;
}

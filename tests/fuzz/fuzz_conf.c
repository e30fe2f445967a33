/*
 * tests/fuzz/fuzz_conf.c: libFuzzer target for loomd.conf (config_load
 * reads a path, so the input goes through a memfd), and config_print of
 * whatever loads, as `loomd -n` prints it.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "src/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static FILE *sink;
	static struct loom_config c;
	struct loom_err err = { 0 };
	char path[64];

	if (fd < 0) {
		fd = memfd_create("loomd.conf", MFD_CLOEXEC);
		sink = fopen("/dev/null", "we");
		if (fd < 0 || !sink)
			return 0;
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (config_load(path, &c, &err) == 0)
		config_print(&c, sink);
	return 0;
}

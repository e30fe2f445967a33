/*
 * tests/fuzz/replay.c: a main() for any of tests/fuzz's targets, so the
 * normal gcc build (and the sanitizer build) runs every corpus through its
 * target on each `make check`, without clang or libFuzzer.
 *
 *   fuzz_X_replay DIR|FILE...   each file once; TAP: one test per argument
 *
 * A crash, an abort or a sanitizer report in the target fails the test (the
 * process ends before its "ok").  A folder is read one level deep, files in
 * name order, so a failure names the same input every time.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Returns 0 or -errno; the input is in a buffer of its own size, as
 * libFuzzer gives it, so an overread is caught. */
static int replay_file(const char *path)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;
	ssize_t n;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			goto out;
		}
		got += (size_t)n;
	}
	LLVMFuzzerTestOneInput(buf, got);
out:
	free(buf);
	close(fd);
	return ret;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays @path (a file, or a folder's files); returns the count or -errno. */
static long replay_path(const char *path)
{
	struct stat st;
	struct dirent *de;
	char **names = NULL, **grown, full[4096];
	size_t n = 0, cap = 0, i;
	long count = 0;
	DIR *dir;
	int ret;

	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode)) {
		ret = replay_file(path);
		return ret ? ret : 1;
	}
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(names, cap * sizeof(*names));
			if (!grown) {
				count = -ENOMEM;
				goto out;
			}
			names = grown;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			count = -ENOMEM;
			goto out;
		}
		n++;
	}
	qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++) {
		snprintf(full, sizeof(full), "%s/%s", path, names[i]);
		if (stat(full, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		ret = replay_file(full);
		if (ret) {
			count = ret;
			goto out;
		}
		count++;
	}
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(dir);
	return count;
}

int main(int argc, char **argv)
{
	const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	int i, failed = 0;

	printf("1..%d\n", argc - 1);
	for (i = 1; i < argc; i++) {
		long n = replay_path(argv[i]);

		if (n < 0) {
			printf("not ok %d - %s %s: %s\n", i, name, argv[i], strerror((int)-n));
			failed++;
		} else {
			printf("ok %d - %s %s: %ld inputs\n", i, name, argv[i], n);
		}
		fflush(stdout);
	}
	return failed ? 1 : 0;
}

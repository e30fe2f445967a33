/*
 * tests/integration/notify_listen.c: stands where systemd's notify socket
 * would: binds a datagram socket at PATH and prints each message it gets,
 * one line per field, prefixed with the milliseconds since it started,
 * for SECONDS.  Used by readiness.sh.
 */
#include "config.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/monotime.h"

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int64_t t0 = mono_ms(), end;
	int fd;

	if (argc != 3 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: notify_listen PATH SECONDS\n");
		return 2;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[1]);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("notify_listen");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	end = t0 + atoi(argv[2]) * 1000;
	while (mono_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char buf[4096], *line, *save = NULL;
		ssize_t n;

		if (poll(&p, 1, (int)(end - mono_ms())) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			printf("%lld %s\n", (long long)(mono_ms() - t0), line);
	}
	unlink(argv[1]);
	return 0;
}

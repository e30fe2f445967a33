/*
 * tests/integration/rawclient.c: a raw client for loomd's socket, for the
 * integration tests.  Modes:
 *   rawclient SOCKET              send stdin as it is, print every reply line
 *   rawclient SOCKET --stream N   create tenants s0..sN-1 one at a time and
 *                                 print each name once loomd acknowledged it
 *   rawclient SOCKET --hold       connect, send half a request, then sleep
 *                                 (a stalled client) until killed
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int connect_to(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		perror("rawclient: connect");
		exit(3);
	}
	return fd;
}

/* Returns -1 once loomd stopped reading (it may have refused the request). */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Copies replies to stdout until EOF or 10 s of silence. */
static void drain(int fd)
{
	char buf[65536];
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (poll(&p, 1, 10000) > 0) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n <= 0)
			break;
		fwrite(buf, 1, (size_t)n, stdout);
	}
	fflush(stdout);
}

static int stream(int fd, long n)
{
	char req[256], reply[4096];

	for (long i = 0; i < n; i++) {
		size_t len = (size_t)snprintf(req, sizeof(req),
			"{\"jsonrpc\":\"2.0\",\"method\":\"tenant.create\",\"params\":{\"name\":\"s%ld\"},\"id\":%ld}\n", i, i);
		size_t got = 0;

		if (write_all(fd, req, len))
			return 0;
		while (!memchr(reply, '\n', got)) {
			ssize_t r = read(fd, reply + got, sizeof(reply) - got - 1);

			if (r <= 0)
				return 0;	/* loomd went away: what was printed is what was acknowledged */
			got += (size_t)r;
		}
		reply[got] = '\0';
		if (!strstr(reply, "\"result\"")) {
			fprintf(stderr, "rawclient: s%ld refused: %s", i, reply);
			return 1;
		}
		printf("s%ld\n", i);
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	char buf[65536];
	size_t n;
	int fd;

	if (argc < 2) {
		fprintf(stderr, "usage: rawclient SOCKET [--stream N | --hold]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	fd = connect_to(argv[1]);
	if (argc > 3 && strcmp(argv[2], "--stream") == 0)
		return stream(fd, atol(argv[3]));
	if (argc > 2 && strcmp(argv[2], "--hold") == 0) {
		if (write_all(fd, "{\"jsonrpc\":\"2.0\",", 17))
			return 3;
		pause();
		return 0;
	}
	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
		if (write_all(fd, buf, n))
			break;
	shutdown(fd, SHUT_WR);
	drain(fd);
	return 0;
}

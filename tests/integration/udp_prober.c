/*
 * tests/integration/udp_prober.c: every host probes every other, all the
 * time, and any packet between two hosts that may not talk is reported at
 * once.  One process holds one UDP socket in each host's network namespace
 * (opened there, then back home), sends a request from every host to every
 * other every --interval-ms (default 50, so each ordered pair is probed at
 * least every 100 ms), answers requests, and records replies.
 *
 *   udp_prober [--port N] [--interval-ms N] NETNS=ADDR ...
 *
 * Hosts are numbered in argument order.  Commands on stdin, one a line:
 *   allow BITS   the pairs that may talk, N*N '0'/'1' row-major (i talks
 *                to j); starts a new epoch.  Until the first, nothing may.
 *   mark         forget the replies seen; answers "marked"
 *   matrix       answers "matrix BITS": the pairs (i, j) where i had a
 *                reply from j since the last mark
 *   stats        answers "stats SENT RECEIVED VIOLATIONS"
 *   quit
 * A packet that crosses a pair the allow matrix forbids (a request arriving
 * at j from i, or a reply at i from j) prints "violation request|reply I J
 * MS" at once (MS: CLOCK_REALTIME milliseconds).  A probe is judged against
 * the union of the matrix in force when it was sent and the one in force
 * when it arrived, so that narrowing the matrix does not blame packets
 * that were already in flight; older probes are ignored.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/monotime.h"

#define HOSTS_MAX 64
#define PROBE_MAGIC 0x6c6f6f70U	/* "loop" */

enum { PROBE_REQ = 1, PROBE_REP = 2 };

struct probe {
	uint32_t magic;
	uint8_t type;
	uint8_t from, to;	/* host numbers: from sent the request, to answers it */
	uint8_t pad;
	uint32_t epoch;		/* the allow epoch when the request was sent */
	uint32_t seq;
};

struct host {
	char netns[64];
	struct in_addr addr;
	int fd;
};

static struct host hosts[HOSTS_MAX];
static size_t n_hosts;
static unsigned char allow_cur[HOSTS_MAX][HOSTS_MAX], allow_prev[HOSTS_MAX][HOSTS_MAX];
static unsigned char seen[HOSTS_MAX][HOSTS_MAX];
static uint32_t epoch;	/* 0: no matrix given yet, nothing may talk */
static unsigned long sent, received, violations;

static int socket_in(const char *netns, uint16_t port)
{
	char path[128];
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int self, target, fd = -1, one = 1;

	snprintf(path, sizeof(path), "/run/netns/%s", netns);
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	target = open(path, O_RDONLY | O_CLOEXEC);
	if (self < 0 || target < 0 || setns(target, CLONE_NEWNET) < 0)
		goto out;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			close(fd);
			fd = -1;
		}
	}
	if (setns(self, CLONE_NEWNET) < 0)
		abort();	/* never go on in a host's namespace */
out:
	if (self >= 0)
		close(self);
	if (target >= 0)
		close(target);
	return fd;
}

/* May i and j talk, for a probe sent in epoch @e? */
static bool allowed(size_t i, size_t j, uint32_t e, bool *stale)
{
	*stale = false;
	if (e == epoch)
		return allow_cur[i][j] || allow_cur[j][i];
	if (e + 1 == epoch)
		return allow_cur[i][j] || allow_cur[j][i] || allow_prev[i][j] || allow_prev[j][i];
	*stale = true;
	return true;
}

static void violation(const char *what, size_t i, size_t j)
{
	violations++;
	printf("violation %s %zu %zu %lld\n", what, i, j, (long long)(realtime_ns() / 1000000));
	fflush(stdout);
}

static void on_packet(size_t me, const struct probe *p, const struct sockaddr_in *from)
{
	bool stale;

	if (p->magic != PROBE_MAGIC || p->from >= n_hosts || p->to >= n_hosts)
		return;
	if (p->type == PROBE_REQ) {
		struct probe rep = *p;

		if (p->to != me)
			return;
		if (!allowed(p->from, me, p->epoch, &stale) && !stale)
			violation("request", p->from, me);
		rep.type = PROBE_REP;
		sendto(hosts[me].fd, &rep, sizeof(rep), 0, (const struct sockaddr *)from,
		       sizeof(*from));
		return;
	}
	if (p->type != PROBE_REP || p->from != me ||
	    from->sin_addr.s_addr != hosts[p->to].addr.s_addr)
		return;
	received++;
	if (!allowed(me, p->to, p->epoch, &stale) && !stale)
		violation("reply", me, p->to);
	seen[me][p->to] = 1;
}

static void round_send(uint16_t port, uint32_t seq)
{
	for (size_t i = 0; i < n_hosts; i++)
		for (size_t j = 0; j < n_hosts; j++) {
			struct probe p = { .magic = PROBE_MAGIC, .type = PROBE_REQ,
					   .from = (uint8_t)i, .to = (uint8_t)j,
					   .epoch = epoch, .seq = seq };
			struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port),
						  .sin_addr = hosts[j].addr };

			if (i == j)
				continue;
			if (sendto(hosts[i].fd, &p, sizeof(p), 0, (struct sockaddr *)&to,
				   sizeof(to)) == (ssize_t)sizeof(p))
				sent++;
		}
}

/* One command line; returns false on quit or a bad line. */
static bool command(char *line)
{
	line[strcspn(line, "\r\n")] = '\0';
	if (!strncmp(line, "allow ", 6)) {
		const char *bits = line + 6;

		if (strlen(bits) != n_hosts * n_hosts) {
			fprintf(stderr, "udp_prober: allow needs %zu bits\n", n_hosts * n_hosts);
			return true;
		}
		memcpy(allow_prev, allow_cur, sizeof(allow_prev));
		for (size_t i = 0; i < n_hosts; i++)
			for (size_t j = 0; j < n_hosts; j++)
				allow_cur[i][j] = bits[i * n_hosts + j] == '1';
		epoch++;
		printf("epoch %u\n", epoch);
	} else if (!strcmp(line, "mark")) {
		memset(seen, 0, sizeof(seen));
		printf("marked\n");
	} else if (!strcmp(line, "matrix")) {
		printf("matrix ");
		for (size_t i = 0; i < n_hosts; i++)
			for (size_t j = 0; j < n_hosts; j++)
				putchar(i == j ? '0' : seen[i][j] ? '1' : '0');
		putchar('\n');
	} else if (!strcmp(line, "stats")) {
		printf("stats %lu %lu %lu\n", sent, received, violations);
	} else if (!strcmp(line, "quit")) {
		return false;
	}
	fflush(stdout);
	return true;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	struct pollfd pfd[HOSTS_MAX + 1];
	char line[HOSTS_MAX * HOSTS_MAX + 64];
	size_t line_len = 0;
	uint16_t port = 7777;
	int interval_ms = 50, o;
	int64_t next;
	uint32_t seq = 0;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'p': port = (uint16_t)atoi(optarg); break;
		case 'i': interval_ms = atoi(optarg); break;
		default: return 2;
		}
	}
	for (int a = optind; a < argc; a++) {
		char *eq = strchr(argv[a], '=');

		if (!eq || n_hosts == HOSTS_MAX || (size_t)(eq - argv[a]) >= sizeof(hosts[0].netns) ||
		    inet_pton(AF_INET, eq + 1, &hosts[n_hosts].addr) != 1) {
			fprintf(stderr, "udp_prober: bad host %s (NETNS=ADDR)\n", argv[a]);
			return 2;
		}
		memcpy(hosts[n_hosts].netns, argv[a], (size_t)(eq - argv[a]));
		hosts[n_hosts].fd = socket_in(hosts[n_hosts].netns, port);
		if (hosts[n_hosts].fd < 0) {
			fprintf(stderr, "udp_prober: cannot open a socket in %s\n", hosts[n_hosts].netns);
			return 1;
		}
		pfd[n_hosts] = (struct pollfd){ .fd = hosts[n_hosts].fd, .events = POLLIN };
		n_hosts++;
	}
	if (n_hosts < 2)
		return 2;
	pfd[n_hosts] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready %zu\n", n_hosts);
	next = mono_ms();
	for (;;) {
		int64_t now = mono_ms();
		int wait = next > now ? (int)(next - now) : 0;

		if (poll(pfd, n_hosts + 1, wait) < 0 && errno != EINTR)
			return 1;
		for (size_t i = 0; i < n_hosts; i++) {
			struct probe p;
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);

			if (!(pfd[i].revents & POLLIN))
				continue;
			while (recvfrom(hosts[i].fd, &p, sizeof(p), 0, (struct sockaddr *)&from, &fl) ==
			       (ssize_t)sizeof(p)) {
				on_packet(i, &p, &from);
				fl = sizeof(from);
			}
		}
		if (pfd[n_hosts].revents & (POLLIN | POLLHUP)) {
			ssize_t n = read(STDIN_FILENO, line + line_len, sizeof(line) - 1 - line_len);
			char *nl;

			if (n <= 0)
				break;
			line_len += (size_t)n;
			line[line_len] = '\0';
			while ((nl = strchr(line, '\n'))) {
				*nl = '\0';
				if (!command(line))
					goto done;
				memmove(line, nl + 1, line_len - (size_t)(nl + 1 - line) + 1);
				line_len -= (size_t)(nl + 1 - line);
			}
			if (line_len == sizeof(line) - 1)
				line_len = 0;	/* a line too long for any matrix: dropped */
		}
		if (mono_ms() >= next) {
			round_send(port, seq++);
			next += interval_ms;
			if (next < mono_ms())
				next = mono_ms() + interval_ms;
		}
	}
done:
	printf("stats %lu %lu %lu\n", sent, received, violations);
	return 0;
}

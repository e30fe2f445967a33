/*
 * tests/unit/test_notify.c: lib/notify.c against a real notify socket: the
 * datagrams systemd would read, the watchdog interval from the environment,
 * and nothing sent (no crash) outside systemd.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/notify.h"

static char dir[] = "/tmp/loom-test-notify.XXXXXX";
static char sock_path[sizeof(dir) + 16];
static int fd = -1;

static int setup(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(sock_path, sizeof(sock_path), "%s/notify", dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	setenv("NOTIFY_SOCKET", sock_path, 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	close(fd);
	unlink(sock_path);
	rmdir(dir);
	return 0;
}

/* The next datagram, or "" when none is waiting. */
static const char *next_msg(void)
{
	static char buf[512];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void test_messages(void **state)
{
	(void)state;
	notify_ready();
	assert_string_equal(next_msg(), "READY=1");
	notify_reloading();
	assert_string_equal(next_msg(), "RELOADING=1");
	notify_watchdog();
	assert_string_equal(next_msg(), "WATCHDOG=1");
	notify_stopping();
	assert_string_equal(next_msg(), "STOPPING=1");
	assert_string_equal(next_msg(), "");
}

static void test_status_once(void **state)
{
	(void)state;
	notify_status("waiting for %u of %u targets", 2u, 5u);
	assert_string_equal(next_msg(), "STATUS=waiting for 2 of 5 targets");
	notify_status("waiting for %u of %u targets", 2u, 5u);
	assert_string_equal(next_msg(), "");
	notify_status("ready");
	assert_string_equal(next_msg(), "STATUS=ready");
}

static void test_watchdog_interval(void **state)
{
	char pid[32];

	(void)state;
	unsetenv("WATCHDOG_USEC");
	assert_int_equal(notify_watchdog_ms(), 0);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	setenv("WATCHDOG_USEC", "30000000", 1);
	assert_int_equal(notify_watchdog_ms(), 30000);
	/* Meant for another process: not ours to ping. */
	setenv("WATCHDOG_PID", "1", 1);
	assert_int_equal(notify_watchdog_ms(), 0);
	unsetenv("WATCHDOG_PID");
	unsetenv("WATCHDOG_USEC");
}

static void test_outside_systemd(void **state)
{
	(void)state;
	unsetenv("NOTIFY_SOCKET");
	notify_ready();
	notify_status("nobody listens");
	assert_string_equal(next_msg(), "");
	setenv("NOTIFY_SOCKET", sock_path, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_status_once),
		cmocka_unit_test(test_watchdog_interval),
		cmocka_unit_test(test_outside_systemd),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

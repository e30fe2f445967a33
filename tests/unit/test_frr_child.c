/*
 * tests/unit/test_frr_child.c: lib/child.c, the runner the FRR target
 * starts vtysh with.  Runs real coreutils (echo, seq, ls, sleep, false).
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/child.h"

static void test_stdout_and_status(void **state)
{
	const char *argv[] = { "echo", "router bgp 65001", NULL };
	struct child_result r;

	(void)state;
	assert_int_equal(child_run(argv, 5000, 1 << 20, &r), 0);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.timed_out, 0);
	assert_string_equal(r.out, "router bgp 65001\n");
	assert_int_equal(r.out_len, 17);
	assert_string_equal(r.err, "");
	child_result_release(&r);
	assert_null(r.out);
}

static void test_stderr_and_failure(void **state)
{
	const char *argv[] = { "ls", "/nonexistent-loom-path", NULL };
	const char *f[] = { "false", NULL };
	struct child_result r;

	(void)state;
	assert_int_equal(child_run(argv, 5000, 1 << 20, &r), 0);
	assert_int_not_equal(r.status, 0);
	assert_non_null(strstr(r.err, "nonexistent-loom-path"));
	assert_string_equal(r.out, "");
	child_result_release(&r);
	assert_int_equal(child_run(f, 5000, 1 << 20, &r), 0);
	assert_int_equal(r.status, 1);
	child_result_release(&r);
}

static void test_large_output_capped(void **state)
{
	/* 200,000 lines (about 1.3 MB) through the pipe: drained while the
	 * child runs, kept up to the cap, the child never blocked. */
	const char *argv[] = { "seq", "1", "200000", NULL };
	struct child_result r;

	(void)state;
	assert_int_equal(child_run(argv, 10000, 1 << 22, &r), 0);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.out_len, 1288895);
	assert_memory_equal(r.out + r.out_len - 7, "200000\n", 7);
	child_result_release(&r);
	assert_int_equal(child_run(argv, 10000, 1000, &r), 0);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.out_len, 1000);
	child_result_release(&r);
}

static void test_timeout_kills(void **state)
{
	const char *argv[] = { "sleep", "30", NULL };
	struct child_result r;

	(void)state;
	assert_int_equal(child_run(argv, 100, 1 << 20, &r), 0);
	assert_int_equal(r.timed_out, 1);
	assert_int_equal(r.status, 128 + 9);
	child_result_release(&r);
}

static void test_missing_program(void **state)
{
	const char *argv[] = { "/nonexistent/vtysh", NULL };
	struct child_result r;

	(void)state;
	assert_int_equal(child_run(argv, 1000, 1 << 20, &r), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stdout_and_status),
		cmocka_unit_test(test_stderr_and_failure),
		cmocka_unit_test(test_large_output_capped),
		cmocka_unit_test(test_timeout_kills),
		cmocka_unit_test(test_missing_program),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * tests/unit/test_monotime.c: lib/monotime.h: the monotonic clock never
 * goes back, its three units agree, a sleep shows in it, and the wall
 * clock is the epoch's.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "lib/monotime.h"

static void test_mono_never_goes_back(void **state)
{
	int64_t prev = mono_ns();

	(void)state;
	for (int i = 0; i < 100000; i++) {
		int64_t now = mono_ns();

		assert_true(now >= prev);
		prev = now;
	}
}

static void test_mono_units_agree(void **state)
{
	int64_t ns = mono_ns();
	int64_t ms = mono_ms();
	double s = mono_s();
	int64_t ns2 = mono_ns();

	(void)state;
	assert_true(ms >= ns / 1000000 && ms <= ns2 / 1000000);
	assert_true(s >= (double)(ns / 1000000000) && s <= (double)(ns2 / 1000000000) + 1.0);
}

static void test_mono_counts_a_sleep(void **state)
{
	struct timespec nap = { .tv_sec = 0, .tv_nsec = 20 * 1000000 };
	int64_t t0 = mono_ns(), m0 = mono_ms();

	(void)state;
	while (nanosleep(&nap, &nap) != 0)
		;
	assert_true(mono_ns() - t0 >= 20 * 1000000);
	assert_true(mono_ms() - m0 >= 19);	/* ms rounds down at both ends */
}

static void test_realtime_is_the_epoch(void **state)
{
	time_t before = time(NULL);
	int64_t now = realtime_ns();
	time_t after = time(NULL);

	(void)state;
	assert_true(now / 1000000000 >= (int64_t)before - 1);
	assert_true(now / 1000000000 <= (int64_t)after + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mono_never_goes_back),
		cmocka_unit_test(test_mono_units_agree),
		cmocka_unit_test(test_mono_counts_a_sleep),
		cmocka_unit_test(test_realtime_is_the_epoch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

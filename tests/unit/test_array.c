/*
 * tests/unit/test_array.c: lib/array.h: growth from empty, doubling,
 * jumps past a double, no work when the room is there, the contents
 * kept across a move, and a size that would overflow refused with
 * nothing changed.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "lib/array.h"

struct pair {
	int a;
	long b;
};

static void test_grow_from_empty(void **state)
{
	struct pair *v = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(ARRAY_GROW(v, cap, 1), 0);
	assert_non_null(v);
	assert_int_equal(cap, ARRAY_FIRST_CAP);
	v[cap - 1].a = 7;	/* the whole room is usable */
	free(v);
}

static void test_grow_doubles(void **state)
{
	int *v = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(ARRAY_GROW(v, cap, ARRAY_FIRST_CAP + 1), 0);
	assert_int_equal(cap, 2 * ARRAY_FIRST_CAP);
	assert_int_equal(ARRAY_GROW(v, cap, 2 * ARRAY_FIRST_CAP + 1), 0);
	assert_int_equal(cap, 4 * ARRAY_FIRST_CAP);
	/* Far past the next double: doubles until it fits. */
	assert_int_equal(ARRAY_GROW(v, cap, 1000), 0);
	assert_int_equal(cap, 1024);
	free(v);
}

static void test_grow_noop_when_room(void **state)
{
	int *v = NULL, *before;
	size_t cap = 0;

	(void)state;
	assert_int_equal(ARRAY_GROW(v, cap, 3), 0);
	before = v;
	assert_int_equal(ARRAY_GROW(v, cap, cap), 0);
	assert_ptr_equal(v, before);
	assert_int_equal(cap, ARRAY_FIRST_CAP);
	assert_int_equal(ARRAY_GROW(v, cap, 0), 0);
	assert_int_equal(cap, ARRAY_FIRST_CAP);
	free(v);
}

static void test_grow_keeps_contents(void **state)
{
	struct pair *v = NULL;
	size_t n = 0, cap = 0;

	(void)state;
	for (int i = 0; i < 5000; i++) {
		assert_int_equal(ARRAY_GROW(v, cap, n + 1), 0);
		v[n].a = i;
		v[n].b = -i;
		n++;
	}
	assert_true(cap >= n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(v[i].a, (int)i);
		assert_int_equal(v[i].b, -(long)i);
	}
	free(v);
}

static void test_grow_overflow(void **state)
{
	struct pair *v = NULL;
	void *raw;
	size_t cap = 0;

	(void)state;
	assert_int_equal(ARRAY_GROW(v, cap, 4), 0);
	raw = v;
	/* need * elem does not fit a size_t: refused, nothing changed. */
	assert_int_equal(ARRAY_GROW(v, cap, SIZE_MAX / sizeof(*v) + 1), -ENOMEM);
	assert_ptr_equal(v, raw);
	assert_int_equal(cap, ARRAY_FIRST_CAP);
	/* The doubling itself would overflow. */
	assert_int_equal(array_grow(&raw, &cap, SIZE_MAX, 1), -ENOMEM);
	assert_ptr_equal(raw, v);
	assert_int_equal(cap, ARRAY_FIRST_CAP);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grow_from_empty),
		cmocka_unit_test(test_grow_doubles),
		cmocka_unit_test(test_grow_noop_when_room),
		cmocka_unit_test(test_grow_keeps_contents),
		cmocka_unit_test(test_grow_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

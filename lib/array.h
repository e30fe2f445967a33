/*
 * lib/array.h: one growable array for the whole tree (the part of FRR's
 * lib/darr.h that loom needs).  An array is a pointer, a count the caller
 * keeps, and a capacity in elements that array_grow keeps; the room
 * doubles, so appending n elements costs O(n) copies in all.
 */
#ifndef LOOM_LIB_ARRAY_H
#define LOOM_LIB_ARRAY_H

#include <stddef.h>

/* The room an empty array gets on its first growth, in elements. */
#define ARRAY_FIRST_CAP 16

/*
 * Make room for at least @need elements of @elem bytes in *@arr, which
 * has room for *@cap: nothing when it fits, else the room doubles (from
 * ARRAY_FIRST_CAP when empty) until it does.  Returns 0, or -ENOMEM with
 * *@arr and *@cap unchanged (also when the size would overflow).  The new
 * room is not initialised.
 */
int array_grow(void **arr, size_t *cap, size_t need, size_t elem);

/*
 * array_grow on a typed pointer, e.g.
 *     if (ARRAY_GROW(m->tenants, m->cap_tenants, m->n_tenants + 1))
 *             return -ENOMEM;
 *     m->tenants[m->n_tenants++] = t;
 * @arr and @cap are lvalues, read more than once.
 */
#define ARRAY_GROW(arr, cap, need)                                               \
	({                                                                       \
		void *array_p_ = (arr);                                          \
		int array_rc_ = array_grow(&array_p_, &(cap), (need), sizeof(*(arr))); \
		(arr) = array_p_;                                                \
		array_rc_;                                                       \
	})

#endif

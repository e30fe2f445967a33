/*
 * lib/monotime.h: the clocks, read one way everywhere (in the manner of
 * FRR's lib/monotime.h).  Deadlines, timeouts and durations use the
 * monotonic clock, which no one can set back; only timestamps that are
 * stored or shown to people use the wall clock.
 */
#ifndef LOOM_LIB_MONOTIME_H
#define LOOM_LIB_MONOTIME_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. */
static inline int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CLOCK_MONOTONIC in milliseconds (rounded down). */
static inline int64_t mono_ms(void)
{
	return mono_ns() / 1000000;
}

/* CLOCK_MONOTONIC in seconds, for durations that are printed. */
static inline double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CLOCK_REALTIME in nanoseconds since the epoch: for timestamps that are kept. */
static inline int64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif

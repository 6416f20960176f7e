/*
 * clock.c: the daemon's one clock. Deadlines, buckets and pauses are all
 * in monotonic milliseconds, so a wall-clock step never fires or delays
 * one.
 */
#include <stdint.h>
#include <time.h>

#include "chald.h"

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The accept-to-exec latency is well below a millisecond unjailed. */
int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Only for what is shown as a date (process_start_time_seconds). */
double
now_unix(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

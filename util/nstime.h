/*
 * nstime.h - times as nanoseconds in a uint64_t, and struct timespec: the
 * one conversion each way.  Header only: libbus includes it as well as
 * the programs, and links nothing of util.  (Not "time.h": the name would
 * hide the system header from the files beside it.)
 */
#ifndef UTIL_NSTIME_H
#define UTIL_NSTIME_H

#include <stdint.h>
#include <time.h>

#define NSTIME_PER_SEC 1000000000u

/* ts in nanoseconds since its clock's start. */
static inline uint64_t nstime_from_ts(struct timespec ts)
{
	return (uint64_t)ts.tv_sec * NSTIME_PER_SEC + (uint64_t)ts.tv_nsec;
}

static inline struct timespec nstime_to_ts(uint64_t ns)
{
	return (struct timespec){
		.tv_sec = (time_t)(ns / NSTIME_PER_SEC),
		.tv_nsec = (long)(ns % NSTIME_PER_SEC),
	};
}

/* clock now, in nanoseconds. */
static inline uint64_t nstime_clock(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return nstime_from_ts(ts);
}

/* CLOCK_MONOTONIC now, in nanoseconds. */
static inline uint64_t nstime_mono(void)
{
	return nstime_clock(CLOCK_MONOTONIC);
}

#endif

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

#define NS_PER_SEC 1000000000u

/* ts in nanoseconds since its clock's start. */
static inline uint64_t ts_to_ns(struct timespec ts)
{
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static inline struct timespec ns_to_ts(uint64_t ns)
{
	return (struct timespec){
		.tv_sec = (time_t)(ns / NS_PER_SEC),
		.tv_nsec = (long)(ns % NS_PER_SEC),
	};
}

/* clock now, in nanoseconds. */
static inline uint64_t clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts_to_ns(ts);
}

/* CLOCK_MONOTONIC now, in nanoseconds. */
static inline uint64_t mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

#endif

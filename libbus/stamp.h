/*
 * stamp.h - the enqueue timestamp: CLOCK_MONOTONIC, read cheaply.
 *
 * Every record carries the CLOCK_MONOTONIC time of its commit.  Reading
 * that clock through the vDSO costs about as much as the rest of a send
 * (a TSC read plus the kernel's conversion under a sequence lock).  When
 * the kernel itself keeps time with the TSC, a producer instead reads the
 * TSC and converts it with a rate it measured against CLOCK_MONOTONIC:
 * it re-anchors on the real clock once per STAMP_PERIOD_NS, so a stamp is
 * off by the rate's error over at most that period (well under a
 * microsecond; the rate is measured over the previous period).  So it
 * does where the kernel keeps time otherwise (kvm-clock) but the TSC is
 * invariant (constant_tsc, nonstop_tsc).  Stamps of one producer never go
 * back.  Elsewhere (a TSC that is not invariant, another architecture, a
 * test's clock) every stamp reads the clock itself.
 */
#ifndef BUS_STAMP_H
#define BUS_STAMP_H

#include <stdbool.h>
#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define STAMP_HAVE_TSC 1
#else
#define STAMP_HAVE_TSC 0
#endif

/* How long a producer extrapolates from one anchor, in nanoseconds. */
#define STAMP_PERIOD_NS 1000000u

struct stamp_clock {
	uint64_t (*now_ns)(void); /* the reference clock */
	uint64_t tsc0;            /* TSC at the anchor */
	uint64_t ns0;             /* the reference clock at the anchor */
	uint64_t mult;            /* nanoseconds per tick, 32.32 fixed point; 0: unknown */
	uint64_t limit;           /* ticks after tsc0 before anchoring again */
	uint64_t last;            /* the last stamp given */
	bool tsc;                 /* converting the TSC at all */
};

/*
 * Sets c up to stamp with now_ns; use_tsc asks for the TSC, granted only
 * if the kernel keeps CLOCK_MONOTONIC with it (read from sysfs: call this
 * at attach, not on a fast path).
 */
void stamp_init(struct stamp_clock *c, uint64_t (*now_ns)(void), bool use_tsc);

/*
 * Whether stamps may come from the TSC: the kernel's clocksource is the
 * TSC, or the processor's TSC is invariant (constant_tsc and nonstop_tsc
 * in /proc/cpuinfo), as under kvm-clock on most virtual machines.  Read
 * once per process.
 */
bool stamp_tsc_usable(void);

/* The rule of stamp_tsc_usable() on the clocksource's name and the flags. */
bool stamp_tsc_decide(const char *clocksource, const char *cpu_flags);

/* The slow path of stamp_now(): anchors on the reference clock. */
uint64_t stamp_anchor(struct stamp_clock *c);

#if STAMP_HAVE_TSC
/* The stamp d ticks after the anchor (d < limit), never before the last. */
static inline uint64_t stamp_tsc(struct stamp_clock *c, uint64_t d)
{
	/* d < 2^26 and mult < 2^37 (stamp_anchor): no overflow */
	uint64_t ns = c->ns0 + ((d * c->mult) >> 32);

	if (ns < c->last)
		ns = c->last;
	c->last = ns;
	return ns;
}
#endif

static inline uint64_t stamp_now(struct stamp_clock *c)
{
#if STAMP_HAVE_TSC
	if (c->tsc) {
		uint64_t d = __rdtsc() - c->tsc0;

		if (d >= c->limit)
			return stamp_anchor(c);
		return stamp_tsc(c, d);
	}
#endif
	return c->now_ns();
}

/*
 * stamp_now() where it needs no call: returns true and sets *ns from the
 * TSC, or returns false having changed nothing (then stamp_now()).
 */
static inline bool stamp_quick(struct stamp_clock *c, uint64_t *ns)
{
#if STAMP_HAVE_TSC
	if (c->tsc) {
		uint64_t d = __rdtsc() - c->tsc0;

		if (d >= c->limit)
			return false;
		*ns = stamp_tsc(c, d);
		return true;
	}
#endif
	(void)c;
	(void)ns;
	return false;
}

#endif

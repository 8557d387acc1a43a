/*
 * stats.h - a queue's counters, read from its segment (stats.c).
 *
 * bus_stats_read_fd() maps a descriptor and calls stats_read(); the tests
 * and the fuzz target call it on a segment they laid out themselves (in
 * memory that ends at a guard page) with a clock of their choosing.
 */
#ifndef BUS_STATS_H
#define BUS_STATS_H

#include <stdint.h>

#include "bus/bus.h"
#include "segment.h"

/*
 * Fills *ret from the validated segment s as of now_ns (CLOCK_MONOTONIC):
 * the identity from s's validated copy, the rest read once each from the
 * segment.  Returns 0.
 */
int stats_read(struct seg *s, uint64_t now_ns, bus_stats *ret);

#endif

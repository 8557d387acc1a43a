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
 * Fills *ret from the validated segment s as of now_ns (CLOCK_MONOTONIC).
 * Returns 0, or -EBADMSG if the header's name no longer reads as a queue
 * name (rewritten since validation); *ret is then undefined.
 */
int stats_read(struct seg *s, uint64_t now_ns, bus_stats *ret);

#endif

/*
 * handle.h - how producer and consumer handles are built from a segment.
 *
 * The public constructors map a segment from a file descriptor; these take
 * a segment already mapped (or laid out in caller-owned memory, as the
 * unit tests do) and the wait operations to use, so the same send and
 * receive paths serve busd's clients, direct attachment and the tests.
 */
#ifndef BUS_HANDLE_H
#define BUS_HANDLE_H

#include "bus/bus.h"
#include "segment.h"
#include "wait.h"

/*
 * Attach to *s, taking it over on success (it is closed with the handle);
 * on failure *s is untouched.  ops NULL: wait_futex_ops.  Returns 0 or a
 * negative errno (-EUSERS: no free slot, -EBUSY: a live consumer).
 */
int producer_attach(struct seg *s, const struct wait_ops *ops,
                    bus_producer **ret);
int consumer_attach(struct seg *s, const struct wait_ops *ops,
                    bus_consumer **ret);

/* The segment a handle is attached to. */
struct seg *producer_seg(bus_producer *p);
struct seg *consumer_seg(bus_consumer *c);

/* Default spin before sleeping, ns. */
#define BUS_DEFAULT_SPIN_NS 20000u

#endif

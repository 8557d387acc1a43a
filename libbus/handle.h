/*
 * handle.h - how producer and consumer handles are built from a segment.
 *
 * The public constructors map a segment from a file descriptor; these take
 * a segment already mapped (or laid out in caller-owned memory, as the
 * unit tests do) and the wait operations to use, so the same send and
 * receive paths serve busd's clients, direct attachment and the tests.
 *
 * The header of the two handle modules: producer_* are defined in
 * producer.c, consumer_* in consumer.c.
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

/*
 * producer_attach() and consumer_attach() with the default wait operations,
 * in the form seg_attach_fd() takes (ret: a bus_producer ** or a
 * bus_consumer **).
 */
int producer_attach_seg(struct seg *s, void *ret);
int consumer_attach_seg(struct seg *s, void *ret);

/* The segment a handle is attached to. */
struct seg *producer_seg(bus_producer *p);
struct seg *consumer_seg(bus_consumer *c);

/*
 * Sends one message of a call: flags REC_REQUEST or REC_REPLY (ring.h),
 * the call header, then len payload bytes, waiting as bus_send().
 * Returns as bus_send(); -EMSGSIZE if header and payload exceed the
 * queue's max_message.
 */
struct rec_call;
int producer_send_call(bus_producer *p, uint32_t flags, const struct rec_call *call,
                       uint32_t type, const void *data, size_t len, int timeout_ms);

/* Counts a reply dropped by the caller owning p's slot (slot.late). */
void producer_count_late(bus_producer *p);

/*
 * The busd a consumer was attached through (bus_consumer_open), which
 * bus_reply() asks for reply queues: its socket path, copied; NULL for a
 * consumer opened on a descriptor.  Returns 0 or -ENOMEM.
 */
int consumer_set_busd(bus_consumer *c, const char *socket_path);
const char *consumer_busd(const bus_consumer *c);

/*
 * The service side of calls (reply.h): the reply queues a consumer has
 * answered into, kept by the consumer handle and freed with it.
 */
struct replier;
struct replier **consumer_replier(bus_consumer *c);

/* Default spin before sleeping, ns. */
#define HANDLE_DEFAULT_SPIN_NS 20000u

#endif

/*
 * pollwake.h - waking producers that wait for room in an event loop.
 *
 * Several producers may wait for room at once, each in its own loop, so
 * each needs a descriptor of its own: a shared one would let one drain
 * the wake another still waits for.  bus_producer_fd() makes it: a
 * non-blocking datagram socket bound to an abstract name with 64 random
 * bits in it ("\0bus.wake.<16 hex digits>"), which it publishes in its
 * slot (wake_name).  Nobody can take the name before the producer binds
 * it, and nobody outside the queue learns it; a process that sends to it
 * anyway causes a spurious wake, no more.
 *
 * The handshake is full_wait's (wait.h), with WAIT_POLL and a flag per
 * slot:
 *
 *   producer (send with timeout 0 found no room)   signaller (released room)
 *   drain its socket                                store the head (seq_cst)
 *   slot.wake_armed = 1                             x = load(full_wait) (seq_cst)
 *   fetch_or(full_wait, SLEEPING|POLL) (seq_cst)    if it clears x's bits and x had
 *   re-check the room (seq_cst); if none:              POLL: for every slot with
 *     return -EAGAIN, the loop polls the socket          wake_armed, exchange it to 0
 *                                                        and send a datagram there
 *
 * The flag is stored before the announce, so a signaller that sees the
 * announce's POLL bit also sees the flag.  Producers never withdraw an
 * announce (others may share it): a stale flag costs one spurious wake.
 */
#ifndef BUS_POLLWAKE_H
#define BUS_POLLWAKE_H

#include <stdint.h>

#include "segment.h"
#include "wait.h"

/*
 * Makes s->sock_fd the producer's wake socket and publishes its name in
 * slot.  Returns the descriptor or a negative errno.
 */
int pollwake_bind(struct seg *s, struct seg_slot *slot);

/*
 * The producer's arm before its announce: drains its socket and sets its
 * slot's flag.
 */
void pollwake_arm(const struct wait_ops *ops, struct seg *s,
                  struct seg_slot *slot);

/*
 * For the signaller of full_wait whose wait_signal() consumed WAIT_POLL:
 * sends a wake to every producer whose flag is set (s->sock_fd is made
 * for sending if needed).
 */
void pollwake_producers(const struct wait_ops *ops, struct seg *s);

/*
 * wait_futex_ops.poke: sends a one-byte datagram to the socket called
 * name, from *sock (made first if -1); errors (the producer gone, its
 * queue of wakes full) need nothing done.
 */
void pollwake_poke(int *sock, uint64_t name);

/*
 * wait_signal() on full_wait after room was made (all sleepers), then
 * the producers' sockets if a poller announced.  Returns as wait_signal.
 */
static inline uint32_t pollwake_signal_full(const struct wait_ops *ops,
                                            struct seg *s)
{
	uint32_t took = wait_signal(ops, &s->hdr->full_wait, INT32_MAX, -1);

	if (took & WAIT_POLL)
		pollwake_producers(ops, s);
	return took;
}

#endif

/*
 * wait.h - futex wait tokens: sleep and wake through a word in the segment.
 *
 * A wait word is a 32-bit counter whose low bit says "someone is asleep
 * (or about to be)".  Signallers pay one load while nobody sleeps.
 *
 * Waiter:                              Signaller:
 *   v = wait_prepare(w)  (sets bit)      make the condition true
 *   re-check the condition               (a seq_cst store)
 *   if still false: wait_sleep(w, v)     wait_signal(w): seq_cst load of w;
 *                                        if bit set: bump w, clear bit, wake
 *
 * The waiter's announce (a seq_cst read-modify-write) and re-check (a
 * seq_cst load), and the signaller's condition store and load of w (both
 * seq_cst), are the two halves of a store-then-load (Dekker) handshake:
 * at least one side sees the other's store, so either the waiter finds
 * the condition true, or the signaller finds the bit and changes w, and
 * the futex wait on the old value returns at once.  No wakeup is lost.
 * The protocol is explained in docs/wait-protocol.md and model-checked
 * with spin in tests/model/wait.pml (no lost wakeup, no deadlock).
 *
 * Two words per segment use it: cons_wait (one consumer waits for records,
 * producers signal after commit) and full_wait (producers wait for space,
 * the consumer signals after release).  Only the functions declared here
 * write a wait word; everything else makes its condition true and calls
 * them.
 *
 * A consumer in an event loop waits on a descriptor instead of the futex
 * (bus_consumer_fd): a FIFO that every handle attached through busd holds.
 * It drains the FIFO, announces with WAIT_POLL beside WAIT_SLEEPING
 * (wait_prepare_poll), re-checks, and returns to its loop; a signaller
 * that changes a word with WAIT_POLL set also writes a byte to the FIFO.
 * Draining before the announce is what makes a byte written after it
 * stay for the poll to see.
 *
 * The OS calls that block, wake or read the clock go through struct
 * wait_ops, which every function here that may wake takes, so that tests
 * can drive and count them.
 */
#ifndef BUS_WAIT_H
#define BUS_WAIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "atom.h"

#define WAIT_SLEEPING 1u /* a sleeper announced itself */
#define WAIT_POLL     2u /* and it waits on the wake descriptor */
#define WAIT_STEP     4u /* the counter above the two bits */
#define WAIT_FOREVER  UINT64_MAX

/* Every member must be set: a segment's bits decide which are called. */
struct wait_ops {
	/*
	 * Sleeps while *w == val, until woken or CLOCK_MONOTONIC reaches
	 * deadline_ns (WAIT_FOREVER: no deadline).  Returns 0 when woken,
	 * when *w != val, or on a signal; -ETIMEDOUT at the deadline.
	 */
	int (*wait)(_Atomic uint32_t *w, uint32_t val, uint64_t deadline_ns);
	/* Wakes up to n sleepers on w. */
	void (*wake)(_Atomic uint32_t *w, int n);
	/* CLOCK_MONOTONIC in nanoseconds. */
	uint64_t (*now_ns)(void);
	/* Makes the wake descriptor fd readable (writes a byte). */
	void (*notify)(int fd);
	/*
	 * Empties the wake descriptor fd (reads until it would block);
	 * returns whether there was anything to read.
	 */
	bool (*drain)(int fd);
	/*
	 * Sends a wake to the producer socket called name (pollwake.h),
	 * from *sock, made first if it is -1 (and then kept by the caller).
	 */
	void (*poke)(int *sock, uint64_t name);
};

/*
 * Shared (not FUTEX_PRIVATE) futexes, clock_gettime(CLOCK_MONOTONIC), and
 * write(2)/read(2) of a byte on a non-blocking wake FIFO.
 */
extern const struct wait_ops wait_futex_ops;

/* Announces a sleeper on w; returns the value to pass to wait_sleep(). */
uint32_t wait_prepare(_Atomic uint32_t *w);

/*
 * wait_prepare() for a word with a single waiter (cons_wait): also clears
 * WAIT_POLL, which a waiter that died on the descriptor may have left,
 * since a signaller that finds WAIT_POLL on such a word writes the
 * descriptor instead of making the futex wake.
 */
uint32_t wait_prepare_sole(_Atomic uint32_t *w);

/*
 * Announces a waiter on w that waits on the wake descriptor, not the
 * futex; the caller has drained the descriptor before (ops->drain).
 * Returns the announced value, for wait_cancel().
 */
uint32_t wait_prepare_poll(_Atomic uint32_t *w);

/*
 * The waiter found its condition true after wait_prepare(_poll)():
 * withdraws the announcement so signallers stop paying for a wake.  Only
 * for a word with a single waiter (cons_wait): with several, another may
 * share the bit.
 */
void wait_cancel(_Atomic uint32_t *w, uint32_t val);

/* Sleeps on w unless it moved from val; see wait_ops.wait. */
int wait_sleep(const struct wait_ops *ops, _Atomic uint32_t *w, uint32_t val,
               uint64_t deadline_ns);

/* Out of line: wait_signal() once a sleeper announced itself. */
uint32_t wait_signal_slow(const struct wait_ops *ops, _Atomic uint32_t *w,
                          uint32_t v, int n, int wake_fd);

/*
 * The load of wait_signal() below, also for a caller that makes the slow call
 * itself (out of its own fast path): returns the word if a sleeper
 * announced itself, for wait_signal_slow(), else 0.
 */
static inline uint32_t wait_signal_pending(_Atomic uint32_t *w)
{
	/* seq_cst: ordered after the caller's seq_cst store of the condition */
	uint32_t v = atom_load_sc(w);

	return v & WAIT_SLEEPING ? v : 0;
}

/*
 * After making the condition true with a seq_cst store: wakes up to n
 * sleepers if any announced, and makes wake_fd readable if the waiter
 * waits on it (wake_fd -1: there is none, or, for full_wait, the caller
 * wakes the producers' sockets itself: pollwake.h).  n 1 means a word
 * with a single waiter (cons_wait): one that waits on the descriptor
 * waits on nothing else, so the futex wake is skipped.  Returns the bits it
 * took from the word (WAIT_SLEEPING, with WAIT_POLL if a waiter polls):
 * non-zero when it made the wake call.  Inline: on a busy queue this one
 * load is all a signaller does.
 */
static inline uint32_t wait_signal(const struct wait_ops *ops,
                                   _Atomic uint32_t *w, int n, int wake_fd)
{
	uint32_t v = wait_signal_pending(w);

	return v ? wait_signal_slow(ops, w, v, n, wake_fd) : 0;
}

/*
 * Moves w on (keeping its bits) and wakes up to n sleepers, whether or
 * not one announced itself, and makes wake_fd readable (if not -1): a
 * waiter between its announce and its futex wait returns at once, one
 * that sleeps is woken, one that waits on the descriptor sees it
 * readable.  For a wake with no condition the waiter could check first
 * (a producer's death).
 */
void wait_bump(const struct wait_ops *ops, _Atomic uint32_t *w, int n,
               int wake_fd);

/* Deadline for a timeout in ms (negative: WAIT_FOREVER). */
uint64_t wait_deadline(const struct wait_ops *ops, int timeout_ms);

#endif

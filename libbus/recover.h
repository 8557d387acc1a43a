/*
 * recover.h - skipping the claims of producers that died before commit.
 *
 * A producer killed between its claim and its commit leaves a record that
 * never becomes readable, and the consumer would wait at it forever.  Each
 * producer writes the extent of its claim into its slot before the CAS
 * that makes it (claim_pos, claim_need) and clears it after the commit, so
 * an uncommitted record is always covered by the intent of the producer
 * that owns it.  Recovery marks such a record REC_DEAD (with padding when
 * the claim ran over the end of the ring) so the consumer skips it, but
 * only when every producer whose intent covers it is dead by the kernel's
 * word (its slot lock is gone); a slow live producer is waited for, never
 * overwritten.
 *
 * Only the holder of the consumer lease runs recovery, so the record state
 * has a single writer besides the producers.  That is the consumer, on its
 * own cursor, in the slow path of a receive and when it closes; busd wakes
 * it when it learns of a death, and, when no consumer is attached, takes
 * the lease for a moment to recover a dead claim at the head itself so
 * that its space is not held until a consumer comes.  Without busd the
 * consumer looks again every RECOVER_POLL_NS while it waits on a claimed
 * record.
 */
#ifndef BUS_RECOVER_H
#define BUS_RECOVER_H

#include "ring.h"
#include "segment.h"

#define RECOVER_POLL_NS (50u * 1000000u)

enum recover_result {
	RECOVER_NOTHING, /* nothing claimed and uncommitted at the cursor */
	RECOVER_WAIT,    /* its owner lives, or cannot be told for sure */
	RECOVER_DONE,    /* a dead producer's claim was marked; read again */
};

/*
 * Looks at the record at c's cursor and recovers it if its producer is
 * dead; counts it in the segment's `recovered`.  Only the holder of the
 * consumer lease may call it.
 */
enum recover_result recover_claim(struct ring_cons *c, struct seg *s);

/*
 * Steps c's cursor over what holds no message at the head (padding, dead
 * claims, and claims of dead producers, which it recovers first) and
 * releases it, when c holds nothing (cursor at the head): a dead claim's
 * space goes back to the producers at once, not at the next release,
 * which needs another message.  Stops at a message, a live claim or a
 * corrupt record (those are the consumer's to read and report), leaving
 * the published cursor (cons.read_pos) as it was.  Returns the bytes
 * released; the caller wakes producers blocked on a full queue.  Only the
 * holder of the consumer lease may call it.
 */
uint64_t recover_head(struct ring_cons *c, struct seg *s);

/*
 * For busd, when a producer died: if no consumer holds the lease, takes
 * it for a moment and does recover_head() on the head, then wakes
 * blocked producers through ops.  Returns the bytes released (0 when a
 * consumer is attached: it recovers by itself once woken).
 */
uint64_t recover_unconsumed(struct seg *s, const struct wait_ops *ops);

/*
 * 1 if slot i's last claim is settled (committed, or skipped and passed
 * by the consumer), so a new producer may take the slot; a dead
 * producer's unsettled intent must stay for recovery to find.
 */
int recover_slot_settled(struct seg *s, uint32_t i);

#endif

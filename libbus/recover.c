/*
 * recover.c - skipping dead producers' claims (see recover.h).
 */
#include <errno.h>

#include "atom.h"
#include "recover.h"
#include "pollwake.h"
#include "wait.h"

/* A dead producer's intent that covers the stuck position. */
struct candidate {
	uint64_t pos;
	uint64_t need;
};

/*
 * With several dead intents covering pos (stale ones from a failed
 * CAS), keeps those consistent with what the ring shows: a claim
 * ends at the tail or where the next record or claim begins, and a
 * negative length at pos gives the record's own extent.
 */
static int consistent(struct seg *s, struct candidate cand, uint64_t pos,
                      int32_t len, uint64_t tail)
{
	uint64_t end = cand.pos + cand.need;
	uint64_t mask = s->capacity - 1;

	if (len < 0 && ring_rec_extent((uint64_t) - (int64_t)len - REC_HDR) != end - pos)
		return 0;
	if (end == tail)
		return 1;
	if (tail - end > s->capacity || tail - end == 0)
		return 0;
	/* relaxed: a hint; committed, claimed or padding, it is not zero */
	if (atom_load_relaxed((_Atomic int32_t *)(s->ring + (end & mask))) != 0)
		return 1;
	for (uint32_t i = 0; i < s->max_producers; i++)
		if (atom_load_relaxed(&s->slots[i].claim_need) &&
		    atom_load_relaxed(&s->slots[i].claim_pos) == end)
			return 1;
	return 0;
}

enum recover_result recover_claim(struct ring_cons *c, struct seg *s)
{
	struct seg_header *h = s->hdr;
	uint64_t pos = c->pos, mask = s->capacity - 1;
	/* acquire: a claim's intent was stored before its CAS (release) */
	uint64_t tail = atom_load_acquire(&h->tail);
	struct rec_hdr *r = (struct rec_hdr *)(s->ring + (pos & mask));
	/* acquire: pairs with a commit that may have happened meanwhile */
	int32_t len = atom_load_acquire(&r->len);
	struct candidate found = {0, 0};
	int n = 0, kept = 0;

	if (tail == pos || tail - pos > s->capacity || len > 0)
		return RECOVER_NOTHING;
	for (uint32_t i = 0; i < s->max_producers; i++) {
		struct seg_slot *slot = &s->slots[i];
		/*
		 * acquire: pairs with the commit's release of the intent, so
		 * an intent seen cleared means the commit is seen too.  A
		 * live owner's intent for pos is stable until it commits.
		 */
		uint64_t need = atom_load_acquire(&slot->claim_need);
		uint64_t at = atom_load_relaxed(&slot->claim_pos);

		if (need == 0 || pos - at >= need)
			continue;
		/* Not an intent a producer writes: a scribble, never trusted. */
		if (at % REC_ALIGN || need % REC_ALIGN || need > s->capacity)
			return RECOVER_WAIT;
		if (seg_held(s, SEG_LOCK_SLOT(i), &slot->pid))
			return RECOVER_WAIT;
		n++;
		if (!consistent(s, (struct candidate){at, need}, pos, len, tail))
			continue;
		/*
		 * Intents alike to the byte are one claim: a producer that
		 * lost the CAS computed its own from the same tail, and either
		 * way the same bytes are marked.  Preempted between its store
		 * and the CAS, then killed, it leaves that twin for good.
		 */
		if (kept == 0 || at != found.pos || need != found.need)
			kept++;
		found = (struct candidate){at, need};
	}
	/* Nobody's claim, or no single dead claim: not ours to overwrite. */
	if (n == 0 || kept != 1)
		return RECOVER_WAIT;
	/*
	 * The length was read before the owners' locks were asked about.
	 * An owner that committed and then closed its handle (or exited)
	 * in between looks dead now, and its record is committed: marking
	 * it would lose the message.  Its commit came before it let go of
	 * the lock, and the kernel orders the lock's release before our
	 * probe that found it gone, so the length read again here shows the
	 * commit.  A dead owner writes nothing more, so what is still
	 * uncommitted now stays so while we mark it.
	 *
	 * acquire: pairs with the commit, as the read above.
	 */
	if (atom_load_acquire(&r->len) != len)
		return RECOVER_NOTHING;

	uint64_t rest = found.pos + found.need - pos;
	uint64_t idx = pos & mask;

	if (rest > s->capacity - idx) {
		/* The claim began with padding to the end that never came. */
		r->flags = REC_PAD;
		/* release: the flags word before the length that makes it valid */
		atom_store_release(&r->len, (int32_t)(s->capacity - idx));
		rest -= s->capacity - idx;
		r = (struct rec_hdr *)s->ring;
	}
	r->flags = REC_DEAD;
	/* release: the flags word before the length that makes it valid */
	atom_store_release(&r->len, (int32_t)rest);
	/* relaxed: a counter; the lease makes us its only writer now */
	atom_fetch_add_relaxed(&h->recovered, 1);
	return RECOVER_DONE;
}

int recover_slot_settled(struct seg *s, uint32_t i)
{
	struct seg_slot *slot = &s->slots[i];
	/* relaxed: the slot's lock is ours; its last owner is gone */
	uint64_t need = atom_load_relaxed(&slot->claim_need);
	uint64_t end = atom_load_relaxed(&slot->claim_pos) + need;

	/* acquire: the head, once past the claim, was released after it */
	return need == 0 || (int64_t)(atom_load_acquire(&s->hdr->head) - end) >= 0;
}

uint64_t recover_head(struct ring_cons *c, struct seg *s)
{
	/* relaxed: the lease is ours; restored below, read only by successors */
	uint64_t read = atom_load_relaxed(&s->hdr->cons.read_pos);
	struct rec_hdr *r;
	uint64_t n;

	if (c->pos != c->head)
		return 0;
	/*
	 * Bounded: padding, then a dead claim per slot at most (one process
	 * may hold many slots and die with a claim in each); each pass that
	 * goes on moves the cursor.
	 */
	for (uint32_t i = 0; i < s->max_producers + 2; i++) {
		int rc = ring_read(c, &r);

		if (rc == 0 || rc == RING_READ_CALL) {
			/* A message: not ours to take.  Back to its start. */
			c->pos = c->last;
			break;
		}
		if (rc != -EAGAIN || recover_claim(c, s) != RECOVER_DONE)
			break;
	}
	n = ring_release(c);
	/*
	 * ring_read published its cursor; a predecessor's (messages it read
	 * and did not release, to be flagged redelivered) stays as it was
	 * unless it now lies behind the head.
	 *
	 * relaxed: for a successor, as ring_read's own store
	 */
	atom_store_relaxed(&s->hdr->cons.read_pos,
	                   read - c->head <= s->capacity ? read : c->head);
	/* Nothing returned since that release (consumer.c: held messages). */
	c->last = c->head - REC_ALIGN;
	return n;
}

uint64_t recover_unconsumed(struct seg *s, const struct wait_ops *ops)
{
	struct seg_header *h = s->hdr;
	struct ring_cons c;
	uint64_t n = 0;

	/* relaxed: hints; the lease and ring_read decide */
	uint64_t head = atom_load_relaxed(&h->head);
	struct rec_hdr *r = (struct rec_hdr *)(s->ring + (head & (s->capacity - 1)));

	/*
	 * Cheap for busd, which calls this for every queue at every death:
	 * an empty queue, or a message at the head (the consumer to come
	 * will read it and what follows), is left alone without the lease.
	 */
	if (head == atom_load_relaxed(&h->tail) || head % REC_ALIGN)
		return 0;
	if (atom_load_relaxed(&r->len) > 0) {
		uint32_t flags = atom_load_relaxed_plain(&r->flags);

		if (flags == 0 || ring_rec_is_call(flags))
			return 0;
	}
	if (seg_claim(s, SEG_LOCK_CONSUMER, &h->cons_pid) < 0)
		return 0;
	if (ring_cons_init(&c, s) == 0)
		n = recover_head(&c, s);
	seg_unclaim(s, SEG_LOCK_CONSUMER, &h->cons_pid);
	if (n)
		pollwake_signal_full(ops, s);
	return n;
}

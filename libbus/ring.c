/*
 * ring.c - the MPSC record ring (protocol in ring.h).
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "atom.h"
#include "compiler.h"
#include "ring.h"
#include "segment.h"

void ring_prod_init(struct ring_prod *p, struct seg *s, uint32_t slot_index)
{
	assert(slot_index < s->max_producers);
	*p = (struct ring_prod){
		.hdr = s->hdr,
		.slot = &s->slots[slot_index],
		.ring = s->ring,
		.capacity = s->capacity,
		.mask = s->capacity - 1,
		/* acquire: the consumer's zeroing up to head precedes our writes */
		.cached_head = atom_load_acquire(&s->hdr->head),
		/* relaxed: the slot is ours (we hold its lock); earlier owners are dead */
		.seq = atom_load_relaxed(&s->slots[slot_index].next_seq),
		.max_message = s->max_message,
		.slot_index = slot_index,
	};
}

/* Returns err with no claim in progress (recover.h reads the intent). */
static int no_claim(struct ring_prod *p, int err)
{
	ring_claim_forget(p);
	return err;
}

int ring_claim_slow(struct ring_prod *p, size_t len, uint64_t tail,
                    struct rec_hdr **ret)
{
	struct seg_header *h = p->hdr;
	uint64_t ext = ring_rec_extent(len), need, pad;

	for (;;) {
		/* Scribbled (ring_claim_try()): nothing can be claimed. */
		if (tail % REC_ALIGN)
			return no_claim(p, -EBADMSG);
		need = ring_claim_need(p, tail, ext, &pad);
		if (!ring_room(p, tail, need)) {
			/* acquire: the consumer zeroed everything before head */
			p->cached_head = atom_load_acquire(&h->head);
			if (!ring_room(p, tail, need)) {
				/*
				 * relaxed: only to tell "full" from "stale
				 * tail"; loaded after the head, so in a sound
				 * ring now - head <= capacity.
				 */
				uint64_t now = atom_load_relaxed(&h->tail);

				if (now != tail) {
					tail = now;
					continue;
				}
				/*
				 * The head is past the tail: someone wrote it,
				 * or the consumer read a record where nothing
				 * was claimed.  Claiming on could overwrite
				 * unread records, or records it has passed.
				 */
				if (tail - p->cached_head > p->capacity)
					return no_claim(p, -EBADMSG);
				return no_claim(p, -EAGAIN);
			}
		}
		if (ring_claim_try(p, &tail, ext, &pad))
			break;
	}
	*ret = ring_claimed(p, tail, pad, len);
	return 0;
}

void ring_give_back(struct ring_prod *p, uint64_t pos, uint64_t ext)
{
	struct rec_hdr *r = (struct rec_hdr *)(p->ring + (pos & p->mask));

	assert(pos % REC_ALIGN == 0 && ext % REC_ALIGN == 0 && ext >= REC_ALIGN);
	r->flags = REC_SKIP;
	/* release: the flags word is visible before the length */
	atom_store_release(&r->len, (int32_t)ext);
}

void ring_abort(struct ring_prod *p, struct rec_hdr *r, size_t len)
{
	struct seg_slot *slot = p->slot;

	r->flags = REC_SKIP;
	/*
	 * seq_cst: as ring_commit(): releases the flags word to the
	 * consumer, and is the store half of the consumer-wake handshake.
	 */
	atom_store_sc(&r->len, (int32_t)ring_rec_extent(len));
	/* release: as ring_commit(), after the record is settled */
	atom_store_release(&slot->claim_need, 0);
	/* relaxed: a single-writer counter */
	atom_counter_add(&slot->aborted, 1);
}

int ring_has_room(struct ring_prod *p, size_t len)
{
	uint64_t pad, tail, need;

	/* relaxed: the tail only sizes the padding a claim would need */
	tail = atom_load_relaxed(&p->hdr->tail);
	need = ring_claim_need(p, tail, ring_rec_extent(len), &pad);
	/* seq_cst: the load half of the full-queue handshake (wait.h) */
	p->cached_head = atom_load_sc(&p->hdr->head);
	return tail + need - p->cached_head <= p->capacity;
}

/*
 * Where redelivery ends for a consumer starting at head: the furthest of
 * the previous consumer's cursor and the end its own predecessor left,
 * each only if it lies within a ring ahead of the head.
 */
static uint64_t redelivery_end(struct seg *s, uint64_t head)
{
	/* relaxed: the previous consumers are gone; hostile values are bounded */
	uint64_t read = atom_load_relaxed(&s->hdr->cons.read_pos);
	uint64_t kept = atom_load_relaxed(&s->hdr->cons.redeliver_end);
	uint64_t end = head;

	if (read - head <= s->capacity)
		end = read;
	if ((kept & 1) && (kept - 1) - head <= s->capacity &&
	    (kept - 1) - head > end - head)
		end = kept - 1;
	/* relaxed: for our successors; the lease is ours */
	atom_store_relaxed(&s->hdr->cons.redeliver_end, end + 1);
	return end;
}

int ring_cons_init(struct ring_cons *c, struct seg *s)
{
	/* acquire: pairs with the previous consumer's release of head */
	uint64_t head = atom_load_acquire(&s->hdr->head);

	*c = (struct ring_cons){
		.hdr = s->hdr,
		.ring = s->ring,
		.capacity = s->capacity,
		.mask = s->capacity - 1,
		.head = head,
		.pos = head,
		/* acquire: records up to the tail were claimed before we look */
		.cached_tail = atom_load_acquire(&s->hdr->tail),
		/* Nothing returned yet: last is before the head (consumer.c). */
		.last = head - REC_ALIGN,
		.redeliver_end = head % REC_ALIGN ? head : redelivery_end(s, head),
		.max_message = s->max_message,
	};
	return head % REC_ALIGN ? -EBADMSG : 0;
}

/* 1 if [pos, pos + ext) lies before the tail, reloading it if needed. */
static int before_tail(struct ring_cons *c, uint64_t ext)
{
	if (c->cached_tail - c->pos >= ext && c->cached_tail - c->pos <= c->capacity)
		return 1;
	/* acquire: a committed record's claim is visible (it came first) */
	c->cached_tail = atom_load_acquire(&c->hdr->tail);
	return c->cached_tail - c->pos >= ext && c->cached_tail - c->pos <= c->capacity;
}

/*
 * The message of a call at the cursor, of commit word len and flags as
 * read once: checked as ring_read_step() checks a plain one, with room
 * for the call header, which is copied once into c->call.
 */
static int read_call(struct ring_cons *c, struct rec_hdr **ret, int32_t len,
                     uint32_t flags)
{
	uint64_t idx = c->pos & c->mask;
	struct rec_hdr *r = (struct rec_hdr *)(c->ring + idx);
	uint32_t plen = (uint32_t)len - REC_HDR;

	if ((uint32_t)len < REC_HDR + REC_CALL_HDR || plen > c->max_message ||
	    ring_rec_extent(plen) > c->capacity - idx)
		return -EBADMSG;
	memcpy(&c->call, ring_rec_payload(r), sizeof(c->call));
	/* The copy is made here, once: only it is used (segment.h). */
	compiler_barrier();
	c->call_flags = flags;
	c->last = c->pos;
	c->last_len = plen;
	c->pos += ring_rec_extent(plen);
	/* relaxed: for a successor, as ring_read_step() */
	atom_store_relaxed(&c->hdr->cons.read_pos, c->pos);
	*ret = r;
	return RING_READ_CALL;
}

/*
 * The record at the cursor is corrupt: its length word as read once is
 * kept for ring_skip(), which must judge the same length, not a second
 * reading a producer may have changed meanwhile.
 */
static int refuse(struct ring_cons *c, int32_t len)
{
	c->bad_len = len;
	return -EBADMSG;
}

int ring_read_slow(struct ring_cons *c, struct rec_hdr **ret, int32_t len,
                   uint32_t flags)
{
	int r;

	do {
		uint64_t to_end = c->capacity - (c->pos & c->mask);

		/* A call's message first: the common reason to be here. */
		if (ring_rec_is_call(flags)) {
			r = read_call(c, ret, len, flags);
			return r == -EBADMSG ? refuse(c, len) : r;
		}
		if (flags == REC_PAD) {
			/* Padding always runs exactly to the end of the ring. */
			if ((uint64_t)len != to_end || !before_tail(c, to_end))
				return refuse(c, len);
			c->pos += to_end;
		} else if (flags == REC_DEAD || flags == REC_SKIP) {
			/*
			 * A dead producer's claim, as recovery marked it, or
			 * bytes a producer gave back (ring_give_back).
			 */
			if ((uint32_t)len % REC_ALIGN ||
			    (uint32_t)len < (flags == REC_DEAD ? REC_HDR : REC_ALIGN) ||
			    (uint64_t)len > to_end || !before_tail(c, (uint64_t)len))
				return refuse(c, len);
			c->pos += (uint64_t)len;
		} else {
			/*
			 * Other flags, or a length that does not frame a
			 * record here (ring_read_step()): corrupt.
			 */
			return refuse(c, len);
		}
		r = ring_read_step(c, ret, &len, &flags);
	} while (r == RING_READ_OTHER);
	return r;
}

int ring_skip(struct ring_cons *c)
{
	uint64_t idx = c->pos & c->mask;
	/*
	 * The length ring_read() judged corrupt, not a second reading; used
	 * once (0, which frames nothing, when -EBADMSG came from elsewhere).
	 */
	int32_t len = c->bad_len;
	uint64_t ext;

	c->bad_len = 0;
	/* Only a length a record can have frames it; then the rest was bad. */
	if (len < (int32_t)REC_HDR || (uint32_t)len - REC_HDR > c->max_message)
		return -EBADMSG;
	ext = ring_rec_extent((uint32_t)len - REC_HDR);
	if (ext > c->capacity - idx || !before_tail(c, ext))
		return -EBADMSG;
	c->pos += ext;
	return 0;
}

uint64_t ring_used(const struct seg *s)
{
	/* relaxed: a report, not a decision */
	uint64_t head = atom_load_relaxed(&s->hdr->head);
	uint64_t tail = atom_load_relaxed(&s->hdr->tail);

	/* the validated capacity, not the header's (segment.h) */
	return tail - head <= s->capacity ? tail - head : 0;
}

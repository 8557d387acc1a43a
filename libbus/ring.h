/*
 * ring.h - the multi-producer, single-consumer record ring.
 *
 * The ring is `capacity` bytes (a power of two) addressed by free-running
 * 64-bit positions; a byte's index is pos & (capacity - 1), and positions
 * are compared only by difference, so they may wrap past 2^64.
 *
 * Every message is one 8-byte-aligned record: a 32-byte rec_hdr, then the
 * payload.  The header's first word is the commit word:
 *   0    nothing written yet (consumed bytes are zeroed on release)
 *   < 0  claimed and being written; -(header + payload) bytes
 *   > 0  committed; header + payload bytes
 * A record never crosses the end of the ring: when it does not fit, its
 * producer first fills the rest with a padding record (REC_PAD), which the
 * consumer skips.  Padding is at least 8 bytes, so its length and flags
 * words always exist.
 *
 * Producers claim space with a CAS on the shared tail, checked against a
 * cached head that is reloaded only when the ring looks full; they write
 * the negative length at once, then header and payload, then store the
 * positive length.  A producer holds no lock: a stalled one delays the
 * consumer only at its own record, never other producers' claims.
 *
 * The consumer reads committed records at its cursor, any number of them,
 * and on release zeroes everything it read and stores the new head.
 *
 * This module neither sleeps nor wakes anyone (wait.h does) and keeps no
 * statistics beyond what it is handed.
 */
#ifndef BUS_RING_H
#define BUS_RING_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "atom.h"
#include "compiler.h"
#include "segment.h"

#define REC_ALIGN 8u
#define REC_HDR   32u

/* rec_hdr.flags */
#define REC_PAD     0x1u /* padding to the end of the ring */
#define REC_DEAD    0x2u /* a claim whose producer died: skipped (recover.h) */
#define REC_SKIP    0x4u /* bytes a producer claimed and gave back: skipped */
/*
 * Messages of a call (bus_client_call, bus_reply): a record of either
 * flag is a message whose payload starts with a struct rec_call.  Plain
 * messages keep flags 0, so the receive fast path (ring_read_step) sees
 * them as it always did and sends calls to the slow path, which reads the
 * call header once into the consumer's private view.
 */
#define REC_REQUEST 0x8u  /* a request: a reply is wanted */
#define REC_REPLY   0x10u /* the reply to a request */
#define REC_CALL    (REC_REQUEST | REC_REPLY)

struct rec_hdr {
	_Atomic int32_t len; /* commit word, see above */
	uint32_t flags;      /* REC_PAD */
	uint32_t type;       /* message type id */
	uint32_t producer;   /* producer slot */
	uint64_t seq;        /* the slot's sequence number */
	uint64_t enqueue_ns; /* CLOCK_MONOTONIC at commit */
};

_Static_assert(sizeof(struct rec_hdr) == REC_HDR, "record header size");

/*
 * The call header, first in the payload of a REC_REQUEST or REC_REPLY
 * record.  call_id numbers the caller's calls (never 0); reply_to names
 * the caller's reply queue in a request (busd resolves it, see
 * docs/request-reply.md) and is 0 in a reply.
 */
struct rec_call {
	uint64_t call_id;
	uint64_t reply_to;
};

#define REC_CALL_HDR 16u
_Static_assert(sizeof(struct rec_call) == REC_CALL_HDR, "call header size");

/* 1 if flags are those of a message of a call. */
static inline bool ring_rec_is_call(uint32_t flags)
{
	return flags == REC_REQUEST || flags == REC_REPLY;
}

/* Bytes a record with a payload of len bytes occupies in the ring. */
static inline uint64_t ring_rec_extent(uint64_t len)
{
	return (REC_HDR + len + REC_ALIGN - 1) & ~(uint64_t)(REC_ALIGN - 1);
}

static inline void *ring_rec_payload(struct rec_hdr *r)
{
	return (uint8_t *)r + REC_HDR;
}

/* A producer's view of the ring. */
struct ring_prod {
	struct seg_header *hdr;
	struct seg_slot *slot;
	uint8_t *ring;
	uint64_t capacity;
	uint64_t mask;
	uint64_t cached_head; /* last head seen; the ring has at least this much room */
	uint64_t seq;         /* next sequence number */
	uint32_t max_message;
	uint32_t slot_index;
};

/* The consumer's view of the ring. */
struct ring_cons {
	struct seg_header *hdr;
	uint8_t *ring;
	uint64_t capacity;
	uint64_t mask;
	uint64_t head;          /* released up to here (our copy of hdr->head) */
	uint64_t pos;           /* read up to here; pos - head is held unreleased */
	uint64_t cached_tail;   /* last tail seen; records end at or before it */
	uint64_t last;          /* position of the record ring_read returned last */
	uint32_t last_len;      /* and its payload length, as validated */
	uint64_t redeliver_end; /* records before this were read by a dead consumer */
	uint32_t max_message;
	/*
	 * The record ring_read returned last was a call's (RING_READ_CALL):
	 * its flags and call header as read once, its payload after the
	 * header (last_len counts the header too).
	 */
	uint32_t call_flags;
	struct rec_call call;
	/* The length word of the record ring_read refused last (ring_skip). */
	int32_t bad_len;
};

/* Binds p to slot slot_index of s, continuing the slot's sequence. */
void ring_prod_init(struct ring_prod *p, struct seg *s, uint32_t slot_index);

/*
 * Reloads the head with sequential consistency: the load half of the
 * full-queue wait handshake (wait.h).  Returns 1 if len payload bytes
 * would fit now, 0 otherwise.
 */
int ring_has_room(struct ring_prod *p, size_t len);

/*
 * Binds c to s, starting at the released head.  Records between the head
 * and the cursor a previous consumer published were read by it but not
 * released: they are delivered again, before redeliver_end.  Returns 0, or
 * -EBADMSG if the shared head was scribbled (not 8-aligned).
 */
int ring_cons_init(struct ring_cons *c, struct seg *s);

/*
 * Steps over the corrupt record at the cursor, which ring_read() just
 * refused with -EBADMSG, when the length ring_read() read from it is one
 * a record can have (header to header + max_message, not past the end of
 * the ring or the tail): then only the rest of its header was bad.
 * Returns 0, or -EBADMSG if it cannot know where the next record starts.
 */
int ring_skip(struct ring_cons *c);

/*
 * The fast paths below are inline: a send or a receive is a few dozen
 * instructions, and calls between translation units would be a third of
 * them.  What is rare (a full ring, padding, a dead claim, a corrupt
 * record) stays out of line in ring.c.
 */

/* Bytes a claim at tail needs for a record of extent ext: padding + record. */
static inline uint64_t ring_claim_need(const struct ring_prod *p, uint64_t tail,
                                       uint64_t ext, uint64_t *pad)
{
	uint64_t to_end = p->capacity - (tail & p->mask);

	*pad = ext > to_end ? to_end : 0;
	return *pad + ext;
}

/* Writes the claim's padding, if any, and its mark; returns the record. */
static inline struct rec_hdr *ring_claimed(struct ring_prod *p, uint64_t tail,
                                           uint64_t pad, size_t len)
{
	struct rec_hdr *r = (struct rec_hdr *)(p->ring + (tail & p->mask));

	if (pad) {
		r->flags = REC_PAD;
		/* release: the flags word is visible before the padding length */
		atom_store_release(&r->len, (int32_t)pad);
		r = (struct rec_hdr *)p->ring;
	}
	/*
	 * relaxed: nobody reads a claimed record while we live; the mark is
	 * for recovery after our death.  The compiler barrier keeps the
	 * payload stores after it; a dead process's stores have all reached
	 * memory by the time the kernel reports its death.
	 */
	atom_store_relaxed(&r->len, -(int32_t)(REC_HDR + len));
	compiler_barrier();
	return r;
}

/*
 * Room for need bytes at tail by the cached head: tail - head <= capacity
 * - need (need <= capacity: max_message keeps a record within half the
 * ring).  Written so, a head past the tail reads as no room, never as
 * room.
 */
static inline bool ring_room(const struct ring_prod *p, uint64_t tail,
                             uint64_t need)
{
	return tail - p->cached_head <= p->capacity - need;
}

/*
 * One try at claiming a record of extent ext at *tail, the claim's body
 * for ring_claim() and ring_claim_slow(): if the tail is 8-aligned and
 * the cached head leaves room, publishes the intent and moves the tail
 * with a CAS.  Returns true if the claim is ours (*pad set); false with
 * *tail as the CAS found it, or as it was when the tail is not 8-aligned
 * (scribbled) or the cached head says full: ring_claim_slow() tells which.
 */
COMPILER_HOT_INLINE bool ring_claim_try(struct ring_prod *p, uint64_t *tail,
                                        uint64_t ext, uint64_t *pad)
{
	struct seg_slot *slot = p->slot;
	uint64_t need = ring_claim_need(p, *tail, ext, pad);

	/* Producers only ever move the tail by 8-aligned amounts. */
	if (*tail % REC_ALIGN || !ring_room(p, *tail, need))
		return false;
	/*
	 * The intent, for recovery should we die before the commit.
	 * relaxed stores, kept before the CAS by its release order.
	 */
	atom_store_relaxed(&slot->claim_pos, *tail);
	atom_store_relaxed(&slot->claim_need, need);
	/*
	 * release: the intent is in place before the claim exists.  The CAS
	 * only decides who owns [tail, tail + need); what we write there is
	 * published by the commit word.
	 */
	return atom_cas_release(&p->hdr->tail, tail, *tail + need);
}

/*
 * Out of line: ring_claim() when its first try at tail did not succeed:
 * reloads the head when the ring looks full, tells a full ring from a
 * stale tail and a scribbled one, and tries again.
 */
int ring_claim_slow(struct ring_prod *p, size_t len, uint64_t tail,
                    struct rec_hdr **ret);

/*
 * Claims a record for len payload bytes and marks it claimed.  Returns 0
 * and sets *ret, -EMSGSIZE if len exceeds the queue's maximum, -EAGAIN if
 * the ring has no room (nothing claimed then), or -EBADMSG if the shared
 * positions were scribbled (the tail not 8-aligned, or the head past it).
 * Inline is the first try, which succeeds unless the cached head says
 * full or another producer's CAS came first.
 */
static inline int ring_claim(struct ring_prod *p, size_t len, struct rec_hdr **ret)
{
	uint64_t ext = ring_rec_extent(len), tail, pad;

	if (len > p->max_message)
		return -EMSGSIZE;
	/* relaxed: a guess; the CAS decides */
	tail = atom_load_relaxed(&p->hdr->tail);
	if (ring_claim_try(p, &tail, ext, &pad)) {
		*ret = ring_claimed(p, tail, pad, len);
		return 0;
	}
	return ring_claim_slow(p, len, tail, ret);
}

/*
 * ring_claim()'s inline first try alone, for a caller with a slow path of
 * its own: returns true and sets *ret to the claimed record, or returns
 * false having claimed nothing, whatever the reason (ring_claim() then
 * tells).  A lost CAS leaves the intent published: before giving up, the
 * slow path either claims, which rewrites it, or withdraws it
 * (ring_claim_forget).
 */
COMPILER_HOT_INLINE bool ring_claim_first(struct ring_prod *p, size_t len,
                                          struct rec_hdr **ret)
{
	uint64_t tail, pad;

	if (len > p->max_message)
		return false;
	/* relaxed: a guess; the CAS decides */
	tail = atom_load_relaxed(&p->hdr->tail);
	if (!ring_claim_try(p, &tail, ring_rec_extent(len), &pad))
		return false;
	*ret = ring_claimed(p, tail, pad, len);
	return true;
}

/* No claim in progress any more: recovery has no intent to read. */
static inline void ring_claim_forget(struct ring_prod *p)
{
	/* relaxed: only recovery reads it, after our death */
	atom_store_relaxed(&p->slot->claim_need, 0);
}

/*
 * Fills the claimed record's header with flags (0, or REC_REQUEST or
 * REC_REPLY with the call header written first in the payload) and
 * commits it; the payload must be written.  len must be the length it
 * was claimed with.
 */
static inline void ring_commit_as(struct ring_prod *p, struct rec_hdr *r,
                                  uint32_t flags, uint32_t type, size_t len,
                                  uint64_t now_ns)
{
	struct seg_slot *slot = p->slot;

	r->flags = flags;
	r->type = type;
	r->producer = p->slot_index;
	r->seq = p->seq++;
	r->enqueue_ns = now_ns;
	/*
	 * seq_cst: releases the header and payload to the consumer, and is
	 * the store half of the consumer-wake handshake (wait.h): it is
	 * ordered before the producer's load of the consumer's wait word.
	 */
	atom_store_sc(&r->len, (int32_t)(REC_HDR + len));
	/*
	 * release: the claim is committed; recovery has nothing to find.
	 * Ordered after the commit, so that recovery (which loads the
	 * intent with acquire) never sees the intent gone and the record
	 * still claimed.  A plain store on x86-64.
	 */
	atom_store_release(&slot->claim_need, 0);
	/*
	 * relaxed: single-writer counters, readers want only a recent value.
	 * next_seq also counts the slot's messages (stats.c).
	 */
	atom_store_relaxed(&slot->next_seq, p->seq);
	atom_counter_add(&slot->bytes, len);
}

/* ring_commit_as() of a plain message: the constant folds away. */
static inline void ring_commit(struct ring_prod *p, struct rec_hdr *r,
                               uint32_t type, size_t len, uint64_t now_ns)
{
	ring_commit_as(p, r, 0, type, len, now_ns);
}

/*
 * A loan (bus_send_reserve) claims a record for its largest payload and
 * may commit fewer bytes, or none.  What it does not use is given back as
 * a REC_SKIP record: at least 8 bytes (its length and flags words), a
 * multiple of 8, never past the end of the ring, which the consumer steps
 * over like a dead claim and zeroes on release.  The record's own length
 * word always says what was committed, so no byte of the slack is ever
 * delivered; and nothing moves back the shared tail, which other
 * producers may already have claimed past.
 */

/*
 * Marks the ext bytes at pos (inside a claim of ours, 8-aligned, ext a
 * multiple of 8 and at least 8) as skipped.  Call it before the commit
 * that publishes the record in front of them: the commit word's release
 * makes the mark visible first.
 */
void ring_give_back(struct ring_prod *p, uint64_t pos, uint64_t ext);

/*
 * Gives up the claimed record r of len payload bytes: it becomes one
 * REC_SKIP record, nothing is delivered, no sequence number is used, and
 * the slot's aborted counter counts it.  Like ring_commit() its store
 * of the length is the store half of the consumer-wake handshake.
 */
void ring_abort(struct ring_prod *p, struct rec_hdr *r, size_t len);

/* ring_read_step() found something other than a plain committed record. */
#define RING_READ_OTHER 1
/*
 * ring_read() read a message of a call: as 0, and c->call_flags and
 * c->call hold what it is (the payload starts after the call header).
 */
#define RING_READ_CALL  2

/*
 * One step of a read at the cursor, the body of ring_read() and
 * ring_read_slow().  A plain committed record is read: returns 0, sets
 * *ret and moves the cursor past it.  Nothing committed there yet (or the
 * ring held whole) is -EAGAIN.  Anything else (padding, a dead claim, a
 * corrupt record) returns RING_READ_OTHER with its length and flags, as
 * read once, in *lenp and *flagsp, the cursor left on it.
 */
COMPILER_HOT_INLINE int ring_read_step(struct ring_cons *c, struct rec_hdr **ret,
                                       int32_t *lenp, uint32_t *flagsp)
{
	uint64_t idx = c->pos & c->mask;
	struct rec_hdr *r = (struct rec_hdr *)(c->ring + idx);
	int32_t len;
	uint32_t flags, plen;
	uint64_t ext;

	/*
	 * Holding the whole ring unreleased: the cursor is back at the
	 * first held record, nothing after it can be new.
	 */
	if (c->pos - c->head >= c->capacity)
		return -EAGAIN;
	/*
	 * seq_cst: acquires the record (pairs with the commit store), and
	 * is the load half of the consumer's wait handshake.  On x86-64 and
	 * AArch64 it is the same instruction as acquire.
	 */
	len = atom_load_sc(&r->len);
	if (len <= 0)
		return -EAGAIN;
	/*
	 * Read once: a producer can rewrite its record at any time, so what
	 * is checked must be what is used (see also last_len).
	 */
	flags = r->flags;
	plen = (uint32_t)len - REC_HDR;
	ext = ring_rec_extent(plen);
	/*
	 * Not checked against the tail: when the consumer keeps up, its
	 * cached tail is always stale, and reloading it would pull the line
	 * every producer's CAS writes, once per message (50 ns of a 250 ns
	 * round trip).  A record where nothing was claimed can only be
	 * written by a process that could as well rewrite claimed records;
	 * it is read, and the head released past the tail is refused by
	 * ring_claim().
	 */
	if (flags != 0 || (uint32_t)len < REC_HDR || plen > c->max_message ||
	    ext > c->capacity - idx) {
		*lenp = len;
		*flagsp = flags;
		return RING_READ_OTHER;
	}
	c->last = c->pos;
	c->last_len = plen;
	c->pos += ext;
	/* relaxed: for a successor, should we die before releasing */
	atom_store_relaxed(&c->hdr->cons.read_pos, c->pos);
	*ret = r;
	return 0;
}

/*
 * Out of line: ring_read() once ring_read_step() returned
 * RING_READ_OTHER for a record of commit word len and flags at the
 * cursor: steps over padding and dead claims, reads a call's message
 * (RING_READ_CALL), refuses anything else.
 */
int ring_read_slow(struct ring_cons *c, struct rec_hdr **ret, int32_t len,
                   uint32_t flags);

/*
 * Reads the next committed record at the cursor, skipping padding, and
 * moves the cursor past it; its validated payload length is in
 * c->last_len (use it, not the record's length word, which a producer
 * could rewrite).  The record stays valid until ring_release().
 * Returns 0 and sets *ret, RING_READ_CALL (a call's message: *ret set,
 * see c->call), -EAGAIN if the next record is not committed yet, or
 * -EBADMSG if it is corrupt (the cursor stays on it).  A record
 * is not checked against the tail (see ring_read_step(); ring_claim()
 * refuses a head released past it).
 */
static inline int ring_read(struct ring_cons *c, struct rec_hdr **ret)
{
	int32_t len;
	uint32_t flags;
	int r = ring_read_step(c, ret, &len, &flags);

	return r != RING_READ_OTHER ? r : ring_read_slow(c, ret, len, flags);
}

/*
 * Returns every record read since the last release to the producers:
 * zeroes their bytes, then publishes the new head.  Returns the number of
 * bytes released.
 */

static inline uint64_t ring_release(struct ring_cons *c)
{
	uint64_t n = c->pos - c->head;
	uint64_t idx = c->head & c->mask;
	uint64_t to_end = c->capacity - idx;

	if (n == 0)
		return 0;
	/* A later claim starts from zeros: recovery relies on it. */
	if (n <= to_end) {
		memset(c->ring + idx, 0, n);
	} else {
		memset(c->ring + idx, 0, to_end);
		memset(c->ring, 0, n - to_end);
	}
	c->head = c->pos;
	/*
	 * seq_cst: releases the zeroing to the producers (they write here
	 * only after loading this head), and is the store half of the
	 * full-queue handshake: ordered before our load of the wait word.
	 */
	atom_store_sc(&c->hdr->head, c->head);
	return n;
}

/* Bytes committed or claimed but not yet released (approximate). */
uint64_t ring_used(const struct seg *s);

#endif

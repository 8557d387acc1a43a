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

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct seg;
struct seg_header;
struct seg_slot;

#define REC_ALIGN 8u
#define REC_HDR   32u

/* rec_hdr.flags */
#define REC_PAD  0x1u /* padding to the end of the ring */
#define REC_DEAD 0x2u /* a claim whose producer died: skipped (recover.h) */

struct rec_hdr {
	_Atomic int32_t len; /* commit word, see above */
	uint32_t flags;      /* REC_PAD */
	uint32_t type;       /* message type id */
	uint32_t producer;   /* producer slot */
	uint64_t seq;        /* per-producer sequence number */
	uint64_t enqueue_ns; /* CLOCK_MONOTONIC at commit */
};

_Static_assert(sizeof(struct rec_hdr) == REC_HDR, "record header size");

/* Bytes a record with a payload of len bytes occupies in the ring. */
static inline uint64_t rec_extent(uint64_t len)
{
	return (REC_HDR + len + REC_ALIGN - 1) & ~(uint64_t)(REC_ALIGN - 1);
}

static inline void *rec_payload(struct rec_hdr *r)
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
	uint64_t head;        /* released up to here (our copy of hdr->head) */
	uint64_t pos;         /* read up to here; pos - head is held unreleased */
	uint64_t cached_tail; /* last tail seen; records end at or before it */
	uint64_t last;        /* position of the record ring_read returned last */
	uint32_t last_len;    /* and its payload length, as validated */
	uint64_t redeliver_end; /* records before this were read by a dead consumer */
	uint32_t max_message;
};

/* Binds p to slot slot_index of s, continuing the slot's sequence. */
void ring_prod_init(struct ring_prod *p, struct seg *s, uint32_t slot_index);

/*
 * Claims a record for len payload bytes and marks it claimed.  Returns 0
 * and sets *ret, -EMSGSIZE if len exceeds the queue's maximum, -EAGAIN if
 * the ring has no room (nothing claimed then), or -EBADMSG if the shared
 * tail was scribbled (not 8-aligned).
 */
int ring_claim(struct ring_prod *p, size_t len, struct rec_hdr **ret);

/*
 * Fills the claimed record's header and commits it; the payload must be
 * written.  len must be the length it was claimed with.
 */
void ring_commit(struct ring_prod *p, struct rec_hdr *r, uint32_t type,
                 size_t len, uint64_t now_ns);

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
 * Reads the next committed record at the cursor, skipping padding, and
 * moves the cursor past it; its validated payload length is in
 * c->last_len (use it, not the record's length word, which a producer
 * could rewrite).  The record stays valid until ring_release().
 * Returns 0 and sets *ret, -EAGAIN if the next record is not committed
 * yet, or -EBADMSG if it is corrupt (the cursor stays on it).
 */
int ring_read(struct ring_cons *c, struct rec_hdr **ret);

/*
 * Steps over the corrupt record at the cursor when its length is one a
 * record can have (header to header + max_message, not past the end of
 * the ring or the tail): then only the rest of its header was bad.
 * Returns 0, or -EBADMSG if it cannot know where the next record starts.
 */
int ring_skip(struct ring_cons *c);

/*
 * Returns every record read since the last release to the producers:
 * zeroes their bytes, then publishes the new head.  Returns the number of
 * bytes released.
 */
uint64_t ring_release(struct ring_cons *c);

/* Bytes committed or claimed but not yet released (approximate). */
uint64_t ring_used(const struct seg_header *h);

#endif

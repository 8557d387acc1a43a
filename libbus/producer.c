/*
 * producer.c - producer handles: attach to a slot, send, block on full.
 *
 * A producer owns one slot of the segment for its lifetime, marked by a
 * kernel lock on the slot's byte (segment.h); its records carry the slot
 * index and the slot's running sequence number.  The fast path is
 * ring_claim + copy + ring_commit + one load of the consumer's wait word:
 * no system call unless the consumer sleeps or the queue is full.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "atom.h"
#include "compiler.h"
#include "cpu.h"
#include "handle.h"
#include "pollwake.h"
#include "recover.h"
#include "ring.h"
#include "stamp.h"

/* Not a SEG_STATE_* flag: the handle has a loan open (see state below). */
#define LOAN_OPEN 0x80000000u

struct bus_producer {
	struct ring_prod ring;
	struct seg seg;
	const struct wait_ops *ops;
	/*
	 * The state word every claim checks: the segment's, or while a loan
	 * is open loan_state, which holds LOAN_OPEN.  A send then fails the
	 * check it makes anyway, and learns why (-EBUSY) out of its fast
	 * path: refusing sends during a loan costs bus_send() nothing.
	 */
	_Atomic uint32_t *state;
	_Atomic uint32_t loan_state;
	struct rec_hdr *loan;     /* the open loan's record, NULL if none */
	size_t loan_max;          /* and the payload bytes it claimed */
	struct stamp_clock clock; /* enqueue timestamps */
	uint32_t spin_ns;
	bool use_fd; /* bus_producer_fd() was called: -EAGAIN arms it */
};

static int slot_acquire(struct seg *s, uint32_t *ret)
{
	for (uint32_t i = 0; i < s->max_producers; i++) {
		int r = seg_claim(s, SEG_LOCK_SLOT(i), &s->slots[i].pid);

		if (r == -EBUSY)
			continue;
		if (r < 0)
			return r;
		if (!recover_slot_settled(s, i)) {
			/* Its dead owner's claim awaits recovery: leave it be. */
			seg_unclaim(s, SEG_LOCK_SLOT(i), &s->slots[i].pid);
			continue;
		}
		/* relaxed: settled; our own claims rewrite it */
		atom_store_relaxed(&s->slots[i].claim_need, 0);
		atom_counter_add(&s->slots[i].gen, 1);
		*ret = i;
		return 0;
	}
	return -EUSERS;
}

int producer_attach(struct seg *s, const struct wait_ops *ops,
                    bus_producer **ret)
{
	bus_producer *p;
	uint32_t slot;
	int r;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	r = slot_acquire(s, &slot);
	if (r < 0) {
		free(p);
		return r;
	}
	p->seg = *s;
	p->state = &p->seg.hdr->state;
	/* relaxed: the handle is private; only claim() reads it, through state */
	atom_store_relaxed(&p->loan_state, LOAN_OPEN);
	p->ops = ops ? ops : &wait_futex_ops;
	p->spin_ns = HANDLE_DEFAULT_SPIN_NS;
	/* The TSC only stands in for CLOCK_MONOTONIC, not for a test's clock. */
	stamp_init(&p->clock, p->ops->now_ns, p->ops == &wait_futex_ops);
	ring_prod_init(&p->ring, &p->seg, slot);
	*ret = p;
	return 0;
}

int producer_attach_seg(struct seg *s, void *ret)
{
	return producer_attach(s, NULL, ret);
}

int bus_producer_open_fd(int seg_fd, bus_producer **ret)
{
	return seg_attach_fd(seg_fd, -1, producer_attach_seg, ret);
}

void bus_producer_close(bus_producer *p)
{
	if (!p)
		return;
	bus_send_abort(p);
	seg_unclaim(&p->seg, SEG_LOCK_SLOT(p->ring.slot_index),
	            &p->seg.slots[p->ring.slot_index].pid);
	seg_close(&p->seg);
	free(p);
}

struct seg *producer_seg(bus_producer *p)
{
	return &p->seg;
}

int bus_producer_set_spin(bus_producer *p, uint32_t spin_ns)
{
	p->spin_ns = spin_ns;
	return 0;
}

size_t bus_producer_max_message(const bus_producer *p)
{
	return p->ring.max_message;
}

uint32_t bus_producer_slot(const bus_producer *p)
{
	return p->ring.slot_index;
}

/* ring_claim; scribbled positions also mark the queue broken for all. */
COMPILER_HOT_INLINE int try_claim(bus_producer *p, size_t len, struct rec_hdr **ret)
{
	int r = ring_claim(&p->ring, len, ret);

	if (r == -EBADMSG)
		seg_set_broken(&p->seg, p->ops);
	return r;
}

/* The queue is full: spin, then sleep on full_wait until a claim succeeds. */
static int claim_slow(bus_producer *p, size_t len, int timeout_ms,
                      struct rec_hdr **ret)
{
	struct seg_header *h = p->seg.hdr;
	uint64_t deadline = wait_deadline(p->ops, timeout_ms);
	uint64_t spin_end = p->ops->now_ns() + p->spin_ns;
	bool slept = false;
	int r;

	/*
	 * Spin only while nobody sleeps for space.  Once one producer
	 * sleeps, a spinner would take every bit of space the consumer
	 * frees before the sleeper is even woken, and the sleeper would
	 * find the ring full again: the others join the sleepers, and the
	 * consumer's wake lets them all race afresh.
	 */
	do {
		cpu_relax();
		r = try_claim(p, len, ret);
	} while (r == -EAGAIN && p->spin_ns && p->ops->now_ns() < spin_end &&
	         /* relaxed: a hint; sleeping is always safe (wait.h) */
	         !(atom_load_relaxed(&h->full_wait) & WAIT_SLEEPING));

	while (r == -EAGAIN) {
		uint32_t v = wait_prepare(&h->full_wait);

		uint32_t state;

		/* seq_cst: the load half of the handshake with seg_set_deleted */
		state = atom_load_sc(&h->state);
		if (state != SEG_STATE_LIVE)
			return seg_state_error(state);
		if (!ring_has_room(&p->ring, len)) {
			if (!slept) {
				atom_counter_add(&p->ring.slot->blocked, 1);
				slept = true;
			}
			if (wait_sleep(p->ops, &h->full_wait, v, deadline) == -ETIMEDOUT) {
				r = try_claim(p, len, ret);
				return r == -EAGAIN ? -ETIMEDOUT : r;
			}
		}
		r = try_claim(p, len, ret);
	}
	return r;
}

/* Why a claim may not go on: a loan is open, or the queue's state. */
static int claim_refused(const bus_producer *p, uint32_t state)
{
	return p->loan ? -EBUSY : seg_state_error(state);
}

/*
 * An event loop's send found the queue full: arms the producer's wake
 * socket (pollwake.h), or claims the room that came meanwhile.
 */
static int arm_fd(bus_producer *p, size_t len, struct rec_hdr **ret)
{
	struct seg_header *h = p->seg.hdr;
	uint32_t state;

	pollwake_arm(p->ops, &p->seg, p->ring.slot);
	/* Not withdrawn if room is found: other producers may share it. */
	wait_prepare_poll(&h->full_wait);
	/* seq_cst: the load half of the handshake with set_state */
	state = atom_load_sc(&h->state);
	if (state != SEG_STATE_LIVE)
		return seg_state_error(state);
	if (!ring_has_room(&p->ring, len)) {
		atom_counter_add(&p->ring.slot->blocked, 1);
		return -EAGAIN;
	}
	/* relaxed: spares us a wake we no longer need; a late one is harmless */
	atom_store_relaxed(&p->ring.slot->wake_armed, 0);
	return try_claim(p, len, ret);
}

/* Claims a record for len bytes, waiting as timeout_ms says. */
COMPILER_HOT_INLINE int claim(bus_producer *p, size_t len, int timeout_ms,
                              struct rec_hdr **ret)
{
	/* relaxed: a read-mostly flag; nothing we write depends on it */
	uint32_t state = atom_load_relaxed(p->state);
	int r;

	if (state != SEG_STATE_LIVE)
		return claim_refused(p, state);
	r = try_claim(p, len, ret);
	if (r != -EAGAIN)
		return r;
	atom_counter_add(&p->ring.slot->full, 1);
	if (timeout_ms == 0)
		return p->use_fd ? arm_fd(p, len, ret) : -EAGAIN;
	return claim_slow(p, len, timeout_ms, ret);
}

COMPILER_HOT_INLINE void commit_as(bus_producer *p, struct rec_hdr *r, uint32_t flags,
                                   uint32_t type, size_t len)
{
	ring_commit_as(&p->ring, r, flags, type, len, stamp_now(&p->clock));
	if (wait_signal(p->ops, &p->seg.hdr->cons_wait, 1, p->seg.wake_fd))
		atom_counter_add(&p->ring.slot->wakes, 1);
}

/* A plain message: commit_as() with flags 0, which folds away. */
COMPILER_HOT_INLINE void commit(bus_producer *p, struct rec_hdr *r, uint32_t type,
                                size_t len)
{
	commit_as(p, r, 0, type, len);
}

int bus_send(bus_producer *p, uint32_t type, const void *data, size_t len,
             int timeout_ms)
{
	struct rec_hdr *r;
	int rc;

	if (!p || (!data && len))
		return -EINVAL;
	rc = claim(p, len, timeout_ms, &r);
	if (rc < 0)
		return rc;
	if (len)
		memcpy(ring_rec_payload(r), data, len);
	commit(p, r, type, len);
	return 0;
}

int bus_send_pb(bus_producer *p, uint32_t type, const ProtobufCMessage *m,
                int timeout_ms)
{
	struct rec_hdr *r;
	size_t len;
	int rc;

	if (!p || !m)
		return -EINVAL;
	len = protobuf_c_message_get_packed_size(m);
	rc = claim(p, len, timeout_ms, &r);
	if (rc < 0)
		return rc;
	/*
	 * Packs straight into the claimed record.  The sizes differ only if
	 * the caller changed m meanwhile; then send zeros, never stale bytes.
	 */
	if (protobuf_c_message_pack(m, ring_rec_payload(r)) != len)
		memset(ring_rec_payload(r), 0, len);
	commit(p, r, type, len);
	return 0;
}

/*
 * The loan API: a record claimed for up to max_len payload bytes, which
 * the caller writes in place, then commits (possibly shorter) or gives
 * up.  The claim is bus_send()'s own (claim(): the same intent and claim
 * mark), so a producer that dies holding a loan is recovered as one that
 * died inside bus_send().
 *
 * A loan costs two calls where bus_send() costs one.  So that it costs
 * no more, each keeps only its common case inline and ends in a call to
 * the rest (a tail call: no registers to save): a reservation whose
 * first claim succeeds, a commit of the whole loan (no slack to give
 * back) with a stamp from the TSC and no consumer asleep.
 */
COMPILER_HOT_INLINE void loan_open(bus_producer *p, struct rec_hdr *r, size_t max_len,
                                   void **buf)
{
	p->loan = r;
	p->loan_max = max_len;
	p->state = &p->loan_state;
	*buf = ring_rec_payload(r);
}

/* bus_send_reserve() but for its common case: claim() decides. */
static __attribute__((noinline)) int reserve_slow(bus_producer *p, size_t max_len,
                                                  int timeout_ms, void **buf)
{
	struct rec_hdr *r;
	int rc;

	rc = claim(p, max_len, timeout_ms, &r);
	if (rc < 0)
		return rc;
	loan_open(p, r, max_len, buf);
	return 0;
}

int bus_send_reserve(bus_producer *p, size_t max_len, int timeout_ms, void **buf)
{
	struct rec_hdr *r;

	if (!p || !buf)
		return -EINVAL;
	/*
	 * claim()'s first step inline: a live queue, so no loan open, and
	 * a claim won at once.  Anything else, claim() decides.
	 */
	/* relaxed: as claim() */
	if (atom_load_relaxed(p->state) != SEG_STATE_LIVE)
		return reserve_slow(p, max_len, timeout_ms, buf);
	if (!ring_claim_first(&p->ring, max_len, &r)) {
		/*
		 * It may have lost its CAS and left its intent: withdrawn
		 * (no claim of ours is in progress, no loan being open), as
		 * claim() may refuse without claiming.
		 */
		ring_claim_forget(&p->ring);
		return reserve_slow(p, max_len, timeout_ms, buf);
	}
	loan_open(p, r, max_len, buf);
	return 0;
}

COMPILER_HOT_INLINE struct rec_hdr *loan_end(bus_producer *p)
{
	struct rec_hdr *r = p->loan;

	p->loan = NULL;
	p->state = &p->seg.hdr->state;
	return r;
}

/*
 * bus_send_commit() but for its common case: refused, shorter than the
 * loan, or its stamp needs a call.
 */
static __attribute__((noinline)) int commit_rest(bus_producer *p, uint32_t type,
                                                 size_t len)
{
	uint64_t ext, claimed;
	struct rec_hdr *r;

	if (!p || !p->loan || len > p->loan_max)
		return -EINVAL;
	ext = ring_rec_extent(len);
	claimed = ring_rec_extent(p->loan_max);
	r = loan_end(p);
	/*
	 * Committed shorter: the record says len, and the bytes claimed
	 * beyond it become a record the consumer skips (ring.h).  Marked
	 * before the commit, which publishes both.
	 */
	if (claimed > ext)
		ring_give_back(&p->ring, (uint64_t)((uint8_t *)r - p->ring.ring) + ext,
		               claimed - ext);
	commit(p, r, type, len);
	return 0;
}

/* A commit's wake: the consumer announced itself (v, wait_signal_pending). */
static __attribute__((noinline)) int commit_wake(bus_producer *p, uint32_t v)
{
	if (wait_signal_slow(p->ops, &p->seg.hdr->cons_wait, v, 1, p->seg.wake_fd))
		atom_counter_add(&p->ring.slot->wakes, 1);
	return 0;
}

int bus_send_commit(bus_producer *p, uint32_t type, size_t len)
{
	uint64_t now;
	uint32_t v;

	if (!p || !p->loan || len != p->loan_max || !stamp_quick(&p->clock, &now))
		return commit_rest(p, type, len);
	/* commit(), its wake out of line */
	ring_commit(&p->ring, loan_end(p), type, len, now);
	v = wait_signal_pending(&p->seg.hdr->cons_wait);
	if (v)
		return commit_wake(p, v);
	return 0;
}

void bus_send_abort(bus_producer *p)
{
	if (!p || !p->loan)
		return;
	ring_abort(&p->ring, loan_end(p), p->loan_max);
	/* The consumer may sleep at this record: wake it as a commit does. */
	if (wait_signal(p->ops, &p->seg.hdr->cons_wait, 1, p->seg.wake_fd))
		atom_counter_add(&p->ring.slot->wakes, 1);
}

int bus_producer_fd(bus_producer *p)
{
	int fd;

	if (!p)
		return -EINVAL;
	fd = pollwake_bind(&p->seg, p->ring.slot);
	if (fd >= 0)
		p->use_fd = true;
	return fd;
}

int producer_send_call(bus_producer *p, uint32_t flags, const struct rec_call *call,
                       uint32_t type, const void *data, size_t len, int timeout_ms)
{
	struct rec_hdr *r;
	int rc;

	if (!p || (!data && len) || !ring_rec_is_call(flags))
		return -EINVAL;
	if (len > p->ring.max_message || p->ring.max_message - len < REC_CALL_HDR)
		return -EMSGSIZE;
	rc = claim(p, REC_CALL_HDR + len, timeout_ms, &r);
	if (rc < 0)
		return rc;
	memcpy(ring_rec_payload(r), call, REC_CALL_HDR);
	if (len)
		memcpy((uint8_t *)ring_rec_payload(r) + REC_CALL_HDR, data, len);
	commit_as(p, r, flags, type, REC_CALL_HDR + len);
	return 0;
}

void producer_count_late(bus_producer *p)
{
	atom_counter_add(&p->ring.slot->late, 1);
}

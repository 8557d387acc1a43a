/*
 * consumer.c - the consumer handle: the lease, receive, release, sleep.
 *
 * One consumer per queue: it holds the kernel lock on SEG_LOCK_CONSUMER
 * (segment.h), so a second one gets -EBUSY while the first lives and
 * takes over when it dies, starting at the released head (what the dead
 * one had read but not released is read again).
 *
 * Received messages are views into the ring; their space is given back
 * only by bus_release(), which zeroes it, publishes the head and wakes
 * producers blocked on a full queue if any announced themselves.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atom.h"
#include "compiler.h"
#include "cpu.h"
#include "handle.h"
#include "pollwake.h"
#include "recover.h"
#include "reply.h"
#include "ring.h"

struct bus_consumer {
	struct ring_cons ring;
	struct seg seg;
	const struct wait_ops *ops;
	uint32_t spin_ns;
	uint64_t stuck_pos;      /* where a polling consumer found a pending claim */
	uint64_t stuck_since;    /* and when */
	uint32_t received;       /* single receives, for sampling the latency */
	bool use_fd;             /* bus_consumer_fd() was called: -EAGAIN arms it */
	char *busd;              /* busd's socket path, for bus_reply(); NULL if none */
	struct replier *replier; /* reply queues answered into (reply.c) */
};

/*
 * A single receive reads the clock for the latency histogram once every
 * LATENCY_SAMPLE messages (the first included): a clock read costs as much
 * as the rest of a receive.  A batch reads it once for all its messages.
 */
#define LATENCY_SAMPLE 16u

/* Tries of the consumer lease, 1 ms apart, before -EBUSY. */
#define LEASE_RETRIES 10

int consumer_attach(struct seg *s, const struct wait_ops *ops,
                    bus_consumer **ret)
{
	bus_consumer *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	r = seg_claim(s, SEG_LOCK_CONSUMER, &s->hdr->cons_pid);
	/*
	 * busd takes the lease for a moment to recover a dead producer's
	 * claim when no consumer is attached (recover_unconsumed): a
	 * consumer that comes then waits for it, briefly, rather than be
	 * told the queue has one.  (busd maps files; a segment in
	 * caller-owned memory is not busd's.)
	 */
	for (int i = 0; r == -EBUSY && s->fd >= 0 && i < LEASE_RETRIES; i++) {
		struct timespec ms = {.tv_nsec = 1000000};

		nanosleep(&ms, NULL);
		r = seg_claim(s, SEG_LOCK_CONSUMER, &s->hdr->cons_pid);
	}
	if (r < 0) {
		free(c);
		return r;
	}
	c->seg = *s;
	c->ops = ops ? ops : &wait_futex_ops;
	c->spin_ns = HANDLE_DEFAULT_SPIN_NS;
	r = ring_cons_init(&c->ring, &c->seg);
	if (r < 0) {
		seg_unclaim(s, SEG_LOCK_CONSUMER, &s->hdr->cons_pid);
		free(c);
		return r;
	}
	atom_counter_add(&s->hdr->cons_gen, 1);
	*ret = c;
	return 0;
}

int consumer_attach_seg(struct seg *s, void *ret)
{
	return consumer_attach(s, NULL, ret);
}

int bus_consumer_open_fd(int seg_fd, bus_consumer **ret)
{
	return seg_attach_fd(seg_fd, -1, consumer_attach_seg, ret);
}

/*
 * Gives back what the cursor stepped over (padding, dead claims) when no
 * message is held: nothing returned since the last release (ring.last is
 * then before the head).  Otherwise it goes with the next release.
 */
static void release_skipped(bus_consumer *c)
{
	if (c->ring.pos != c->ring.head &&
	    (int64_t)(c->ring.last - c->ring.head) < 0)
		bus_release(c);
}

void bus_consumer_close(bus_consumer *c)
{
	if (!c)
		return;
	/* What a poll stepped over (padding) first: then pos is the head. */
	release_skipped(c);
	/*
	 * Holding nothing, step over a dead claim at the head and give its
	 * space back now: after we are gone nobody may until the next
	 * consumer (or busd, at the next death it sees).
	 */
	if (c->ring.pos == c->ring.head && recover_head(&c->ring, &c->seg) &&
	    pollwake_signal_full(c->ops, &c->seg))
		atom_counter_add(&c->seg.hdr->cons.wakes, 1);
	/* Unreleased messages stay for the next consumer (ring_cons_init). */
	seg_unclaim(&c->seg, SEG_LOCK_CONSUMER, &c->seg.hdr->cons_pid);
	seg_close(&c->seg);
	reply_free(c->replier);
	free(c->busd);
	free(c);
}

int consumer_set_busd(bus_consumer *c, const char *socket_path)
{
	char *copy = strdup(socket_path);

	if (!copy)
		return -ENOMEM;
	free(c->busd);
	c->busd = copy;
	return 0;
}

const char *consumer_busd(const bus_consumer *c)
{
	return c->busd;
}

struct replier **consumer_replier(bus_consumer *c)
{
	return &c->replier;
}

struct seg *consumer_seg(bus_consumer *c)
{
	return &c->seg;
}

int bus_consumer_set_spin(bus_consumer *c, uint32_t spin_ns)
{
	c->spin_ns = spin_ns;
	return 0;
}

void bus_release(bus_consumer *c)
{
	if (!c || ring_release(&c->ring) == 0)
		return;
	if (pollwake_signal_full(c->ops, &c->seg))
		atom_counter_add(&c->seg.hdr->cons.wakes, 1);
}

/*
 * The record at the cursor is claimed and not committed, and we are about
 * to wait for it: say so for stats (stats.c), once per position.  A note
 * a predecessor left for the same record is older and kept.
 */
static void note_stall(bus_consumer *c, uint64_t now)
{
	struct seg_cons_stats *cs = &c->seg.hdr->cons;

	/* relaxed: we are the only writer; only stats read them */
	if (atom_load_relaxed(&cs->stall_pos) == c->ring.pos && atom_load_relaxed(&cs->stall_ns))
		return;
	atom_store_relaxed(&cs->stall_ns, now);
	/* release: a reader that sees this position sees its time */
	atom_store_release(&cs->stall_pos, c->ring.pos);
}

/* The queue is empty: spin, then sleep on cons_wait until a record comes. */
static int read_slow(bus_consumer *c, int timeout_ms, struct rec_hdr **ret)
{
	struct seg_header *h = c->seg.hdr;
	uint64_t deadline = wait_deadline(c->ops, timeout_ms);
	uint64_t spin_end = c->ops->now_ns() + c->spin_ns;
	int r;

	do {
		cpu_relax();
		r = ring_read(&c->ring, ret);
	} while (r == -EAGAIN && c->spin_ns && c->ops->now_ns() < spin_end);

	while (r == -EAGAIN) {
		uint32_t v = wait_prepare_sole(&h->cons_wait);
		uint64_t until = deadline;
		enum recover_result rr;

		r = ring_read(&c->ring, ret);
		if (r == -EAGAIN) {
			/* seq_cst: the load half of the handshake with set_state */
			uint32_t state = atom_load_sc(&h->state);

			if (state != SEG_STATE_LIVE)
				r = seg_state_error(state);
		}
		if (r != -EAGAIN) {
			wait_cancel(&h->cons_wait, v);
			break;
		}
		/* About to sleep anyway: is a dead producer's claim in the way? */
		rr = recover_claim(&c->ring, &c->seg);
		if (rr == RECOVER_DONE) {
			wait_cancel(&h->cons_wait, v);
			r = ring_read(&c->ring, ret);
			continue;
		}
		/* A claim is pending: look again soon, its owner may die. */
		if (rr == RECOVER_WAIT) {
			uint64_t now = c->ops->now_ns();
			uint64_t soon = now + RECOVER_POLL_NS;

			note_stall(c, now);
			until = soon < deadline ? soon : deadline;
		}
		/* Whatever was stepped over is free space, not a held message. */
		release_skipped(c);
		atom_counter_add(&h->cons.sleeps, 1);
		if (wait_sleep(c->ops, &h->cons_wait, v, until) == -ETIMEDOUT &&
		    until == deadline) {
			r = ring_read(&c->ring, ret);
			return r == -EAGAIN ? -ETIMEDOUT : r;
		}
		r = ring_read(&c->ring, ret);
	}
	return r;
}

/*
 * A consumer that polls (timeout 0) never reaches read_slow: it tries
 * recovery itself once the cursor has sat on a claimed record for
 * RECOVER_STUCK_NS, and then at most that often.
 */
#define RECOVER_STUCK_NS 1000000u

static int poll_recover(bus_consumer *c, struct rec_hdr **ret)
{
	uint64_t now;
	int r;

	/* relaxed: only whether anything is claimed beyond the cursor */
	if (atom_load_relaxed(&c->seg.hdr->tail) == c->ring.pos)
		return -EAGAIN;
	now = c->ops->now_ns();
	if (c->stuck_pos != c->ring.pos || !c->stuck_since) {
		c->stuck_pos = c->ring.pos;
		c->stuck_since = now;
		note_stall(c, now);
		return -EAGAIN;
	}
	if (now - c->stuck_since < RECOVER_STUCK_NS)
		return -EAGAIN;
	c->stuck_since = now;
	if (recover_claim(&c->ring, &c->seg) != RECOVER_DONE)
		return -EAGAIN;
	r = ring_read(&c->ring, ret);
	if (r == -EAGAIN)
		release_skipped(c);
	return r;
}

/*
 * A corrupt record: reported once and stepped over when its length still
 * frames it, else the queue is marked broken (and stays -EBADMSG).
 */
static int corrupt(bus_consumer *c)
{
	if (ring_skip(&c->ring) == 0)
		atom_counter_add(&c->seg.hdr->cons.corrupt, 1);
	else
		seg_set_broken(&c->seg, c->ops);
	return -EBADMSG;
}

/*
 * An event loop's receive found nothing: arms the wake descriptor (see
 * wait.h), or finds the record that came meanwhile.  Drained before the
 * announce, so that a byte written after the announce stays.
 */
static int arm_fd(bus_consumer *c, struct rec_hdr **ret)
{
	struct seg_header *h = c->seg.hdr;
	uint32_t v;
	int r;

	c->ops->drain(c->seg.wake_fd);
	v = wait_prepare_poll(&h->cons_wait);
	r = ring_read(&c->ring, ret);
	if (r == -EAGAIN) {
		/* seq_cst: the load half of the handshake with set_state */
		uint32_t state = atom_load_sc(&h->state);

		if (state != SEG_STATE_LIVE)
			r = seg_state_error(state);
	}
	/*
	 * A claim at the cursor: its owner commits (and wakes us) or dies,
	 * and then only busd wakes us (seg_wake_consumer), once: recover
	 * now if it is dead already, since nothing else will.
	 */
	if (r == -EAGAIN &&
	    recover_claim(&c->ring, &c->seg) == RECOVER_DONE) {
		r = ring_read(&c->ring, ret);
		if (r == -EAGAIN)
			release_skipped(c);
	}
	if (r != -EAGAIN)
		wait_cancel(&h->cons_wait, v);
	else
		atom_counter_add(&h->cons.sleeps, 1);
	return r;
}

/* Reads the next record; an empty deleted queue is -EPIPE. */
COMPILER_HOT_INLINE int read_one(bus_consumer *c, int timeout_ms, struct rec_hdr **ret)
{
	int r = ring_read(&c->ring, ret);

	if (r == -EAGAIN) {
		/* relaxed: checked only once the queue looks drained */
		uint32_t state = atom_load_relaxed(&c->seg.hdr->state);

		/* Deleted and drained, or broken (e.g. by a producer's claim) */
		if (state != SEG_STATE_LIVE)
			return seg_state_error(state);
		r = timeout_ms != 0 ? read_slow(c, timeout_ms, ret)
		                    : poll_recover(c, ret);
		if (r == -EAGAIN && timeout_ms == 0 && c->use_fd)
			r = arm_fd(c, ret);
	}
	return r == -EBADMSG ? corrupt(c) : r;
}

COMPILER_HOT_INLINE void to_msg(bus_consumer *c, struct rec_hdr *r, bus_msg *m)
{
	/* The length ring_read validated, not a second read of shared memory. */
	uint32_t len = c->ring.last_len;

	*m = (bus_msg){
		.data = ring_rec_payload(r),
		.len = len,
		.type = r->type,
		.producer = r->producer,
		.seq = r->seq,
		.enqueue_ns = r->enqueue_ns,
	};
	if ((int64_t)(c->ring.last - c->ring.redeliver_end) < 0) {
		m->flags = BUS_MSG_REDELIVERED;
		atom_counter_add(&c->seg.hdr->cons.redelivered, 1);
	}
	atom_counter_add(&c->seg.hdr->cons.msgs, 1);
	atom_counter_add(&c->seg.hdr->cons.bytes, len);
}

/*
 * A message of a call (ring_read() returned RING_READ_CALL): the payload
 * after the call header, and the header as ring_read copied it.
 */
static __attribute__((noinline)) void to_msg_call(bus_consumer *c,
                                                  struct rec_hdr *r, bus_msg *m)
{
	bool request = c->ring.call_flags == REC_REQUEST;

	to_msg(c, r, m);
	m->data = (const uint8_t *)m->data + REC_CALL_HDR;
	m->len -= REC_CALL_HDR;
	m->flags |= request ? BUS_MSG_REQUEST : BUS_MSG_REPLY;
	m->call_id = c->ring.call.call_id;
	m->reply_to = request ? c->ring.call.reply_to : 0;
	if (request)
		atom_counter_add(&c->seg.hdr->cons.requests, 1);
}

/* Counts the delay of a message received at now in the histogram. */
static void note_latency(bus_consumer *c, const bus_msg *m, uint64_t now)
{
	uint64_t ns = now > m->enqueue_ns ? now - m->enqueue_ns : 0;

	atom_counter_add(&c->seg.hdr->cons.hist[63 - __builtin_clzll(ns | 1)], 1);
}

int bus_recv(bus_consumer *c, bus_msg *ret, int timeout_ms)
{
	struct rec_hdr *r;
	int rc;

	if (!c || !ret)
		return -EINVAL;
	rc = read_one(c, timeout_ms, &r);
	if (__builtin_expect(rc != 0, 0)) {
		if (rc < 0)
			return rc;
		to_msg_call(c, r, ret);
	} else {
		to_msg(c, r, ret);
	}
	if (c->received++ % LATENCY_SAMPLE == 0)
		note_latency(c, ret, c->ops->now_ns());
	return 0;
}

int bus_recv_batch(bus_consumer *c, bus_msg *msgs, size_t n, int timeout_ms)
{
	struct rec_hdr *r;
	uint64_t now;
	size_t i;
	int rc;

	if (!c || !msgs || n == 0 || n > INT32_MAX)
		return -EINVAL;
	rc = read_one(c, timeout_ms, &r);
	for (i = 0; rc >= 0;) {
		if (rc == RING_READ_CALL)
			to_msg_call(c, r, &msgs[i]);
		else
			to_msg(c, r, &msgs[i]);
		if (++i == n)
			break;
		rc = ring_read(&c->ring, &r);
	}
	if (i == 0)
		return rc;
	now = c->ops->now_ns();
	for (size_t k = 0; k < i; k++)
		note_latency(c, &msgs[k], now);
	return (int)i;
}

int bus_consumer_fd(bus_consumer *c)
{
	if (!c)
		return -EINVAL;
	if (c->seg.wake_fd < 0)
		return -EOPNOTSUPP;
	c->use_fd = true;
	return c->seg.wake_fd;
}

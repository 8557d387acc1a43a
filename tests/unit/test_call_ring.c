/*
 * test_call_ring.c - records of calls (REC_REQUEST, REC_REPLY) in the
 * ring, in one thread, in caller-owned memory.
 *
 * A call's record carries a 16-byte call header first in its payload; the
 * consumer's fast path hands it to the slow path, which checks the length
 * leaves room for that header and copies it once (ring.c, read_call).
 * These tests check, byte by byte:
 *
 *  - round_trip: a request and a reply through the ring functions and
 *    through the handles: RING_READ_CALL, the copied header, last_len,
 *    and the bus_msg (data after the header, len minus 16, flags,
 *    call_id, reply_to only in a request, the requests counter);
 *  - short_call: a call record whose length has no room for the header
 *    is -EBADMSG with the cursor on it, stepped over by ring_skip when
 *    its length frames it (counted corrupt, the next message comes), and
 *    the queue marked broken when it does not;
 *  - at_the_end: a request that fills the ring to its end, then one
 *    after padding at the ring's start;
 *  - recover_head: recovery at the head steps over padding and a dead
 *    claim and stops at a request (never releases it); busd's
 *    recover_unconsumed leaves a request at the head alone;
 *  - batch_mixed: bus_recv_batch with plain and call records mixed, and
 *    a batch that stops at a corrupt call record;
 *  - stats_oldest: stats count a call record as a message waiting (the
 *    oldest age), behind padding too, and sum the call counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "harness.h"
#include "recover.h"
#include "stats.h"

/* --- helpers --- */

static void seg_new(struct mem_seg *m, uint64_t capacity, uint64_t pos)
{
	struct seg_params sp = {.name = "calls", .capacity = capacity, .initial_pos = pos, .max_producers = 2};

	harness_seg_new(m, &sp);
}

static uint8_t *at(const struct mem_seg *m, uint64_t pos)
{
	return m->seg.ring + harness_idx(m, pos);
}

/*
 * Claims and commits one call record through the ring functions: the
 * call header, then len bytes of `byte`, committed at now_ns.
 */
static struct rec_hdr *put_call(struct ring_prod *p, uint32_t flags,
                                uint64_t call_id, uint64_t reply_to,
                                size_t len, uint8_t byte, uint64_t now_ns)
{
	struct rec_call call = {.call_id = call_id, .reply_to = reply_to};
	struct rec_hdr *r = NULL;

	assert_int_equal(ring_claim(p, REC_CALL_HDR + len, &r), 0);
	memcpy(ring_rec_payload(r), &call, sizeof(call));
	memset((uint8_t *)ring_rec_payload(r) + REC_CALL_HDR, byte, len);
	ring_commit_as(p, r, flags, 9, REC_CALL_HDR + len, now_ns);
	return r;
}

/*
 * Writes a committed record by hand at pos (a hostile producer's) and
 * moves the tail past it by ext.
 */
static void put_raw(struct mem_seg *m, uint64_t pos, int32_t len,
                    uint32_t flags, uint64_t ext)
{
	struct rec_hdr *r = (struct rec_hdr *)at(m, pos);

	r->flags = flags;
	atomic_store(&r->len, len);
	atomic_store(&m->seg.hdr->tail, pos + ext);
}

static void check_call(const struct mem_seg *m, const bus_msg *msg,
                       uint64_t pos, uint32_t flag, uint64_t call_id,
                       uint64_t reply_to, size_t len, uint8_t byte)
{
	const uint8_t *d = msg->data;

	assert_int_equal(msg->flags, flag);
	assert_int_equal(msg->call_id, call_id);
	assert_int_equal(msg->reply_to, reply_to);
	assert_int_equal(msg->len, len);
	assert_ptr_equal(msg->data, at(m, pos) + REC_HDR + REC_CALL_HDR);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(d[i], byte);
}

static void check_plain(const struct mem_seg *m, const bus_msg *msg,
                        uint64_t pos, size_t len)
{
	assert_int_equal(msg->flags, 0);
	assert_int_equal(msg->call_id, 0);
	assert_int_equal(msg->reply_to, 0);
	assert_int_equal(msg->len, len);
	assert_ptr_equal(msg->data, at(m, pos) + REC_HDR);
}

static int send_plain(bus_producer *p, size_t len)
{
	uint8_t buf[256];

	assert_true(len <= sizeof(buf));
	memset(buf, 'p', len);
	return bus_send(p, 1, buf, len, 0);
}

static int send_call(bus_producer *p, uint32_t flags, uint64_t call_id,
                     uint64_t reply_to, size_t len, uint8_t byte)
{
	struct rec_call call = {.call_id = call_id, .reply_to = reply_to};
	uint8_t buf[256];

	assert_true(len <= sizeof(buf));
	memset(buf, byte, len);
	return producer_send_call(p, flags, &call, 9, buf, len, 0);
}

/* --- round trip --- */

static void test_round_trip(void **state)
{
	struct mem_seg m;
	struct ring_prod p;
	struct ring_cons c;
	struct rec_hdr *r = NULL, *req, *rep;
	bus_producer *bp;
	bus_consumer *bc;
	bus_msg msg;

	(void)state;
	seg_new(&m, 1024, 0);

	/* The ring functions. */
	ring_prod_init(&p, &m.seg, 0);
	assert_int_equal(ring_cons_init(&c, &m.seg), 0);
	req = put_call(&p, REC_REQUEST, 7, 0xabcdef, 20, 'q', 1);
	rep = put_call(&p, REC_REPLY, 7, 0, 0, 0, 2);
	assert_int_equal(atomic_load(&req->len), REC_HDR + REC_CALL_HDR + 20);
	assert_int_equal(req->flags, REC_REQUEST);

	assert_int_equal(ring_read(&c, &r), RING_READ_CALL);
	assert_ptr_equal(r, req);
	assert_int_equal(c.call_flags, REC_REQUEST);
	assert_int_equal(c.call.call_id, 7);
	assert_int_equal(c.call.reply_to, 0xabcdef);
	assert_int_equal(c.last, 0);
	assert_int_equal(c.last_len, REC_CALL_HDR + 20);
	assert_int_equal(c.pos, ring_rec_extent(REC_CALL_HDR + 20));
	/* A copy: the record rewritten now does not change it. */
	memset(ring_rec_payload(req), 0xff, REC_CALL_HDR);
	assert_int_equal(c.call.call_id, 7);

	assert_int_equal(ring_read(&c, &r), RING_READ_CALL);
	assert_ptr_equal(r, rep);
	assert_int_equal(c.call_flags, REC_REPLY);
	assert_int_equal(c.call.call_id, 7);
	assert_int_equal(c.last_len, REC_CALL_HDR);
	assert_int_equal(ring_read(&c, &r), -EAGAIN);
	assert_int_equal(ring_release(&c), 2 * 64 - 8);

	/* The handles. */
	bp = harness_prod_new(&m);
	bc = harness_cons_new(&m);
	uint64_t pos = atomic_load(&m.seg.hdr->tail);

	assert_int_equal(send_call(bp, REC_REQUEST, 41, 77, 5, 'a'), 0);
	/* A reply keeps reply_to 0 in the message whatever the record says. */
	assert_int_equal(send_call(bp, REC_REPLY, 42, 99, 0, 0), 0);
	assert_int_equal(send_plain(bp, 3), 0);
	assert_int_equal(bus_recv(bc, &msg, 0), 0);
	check_call(&m, &msg, pos, BUS_MSG_REQUEST, 41, 77, 5, 'a');
	assert_int_equal(msg.type, 9);
	pos += ring_rec_extent(REC_CALL_HDR + 5);
	assert_int_equal(bus_recv(bc, &msg, 0), 0);
	check_call(&m, &msg, pos, BUS_MSG_REPLY, 42, 0, 0, 0);
	pos += ring_rec_extent(REC_CALL_HDR);
	assert_int_equal(bus_recv(bc, &msg, 0), 0);
	check_plain(&m, &msg, pos, 3);
	assert_int_equal(bus_recv(bc, &msg, 0), -EAGAIN);
	bus_release(bc);
	assert_int_equal(atomic_load(&m.seg.hdr->cons.requests), 1);
	assert_int_equal(atomic_load(&m.seg.hdr->cons.msgs), 3);
	assert_int_equal(atomic_load(&m.seg.hdr->cons.corrupt), 0);

	/* The largest call: max_message in all, header included. */
	assert_int_equal(bus_producer_max_message(bp), m.seg.max_message);
	{
		struct rec_call call = {.call_id = 1, .reply_to = 1};
		static uint8_t big[1024];

		assert_int_equal(producer_send_call(bp, REC_REQUEST, &call, 0, big,
		                                    m.seg.max_message - REC_CALL_HDR + 1, 0),
		                 -EMSGSIZE);
		assert_int_equal(producer_send_call(bp, REC_REQUEST, &call, 0, big,
		                                    m.seg.max_message - REC_CALL_HDR, 0),
		                 0);
		assert_int_equal(bus_recv(bc, &msg, 0), 0);
		assert_int_equal(msg.len, m.seg.max_message - REC_CALL_HDR);
		assert_int_equal(msg.flags, BUS_MSG_REQUEST);
		bus_release(bc);
	}
}

/* --- a call record too short for its header --- */

static void test_short_call(void **state)
{
	/* Payload lengths with no room for the 16-byte call header. */
	static const uint32_t shorts[] = {0, 1, 8, 15};
	static const uint32_t flags[] = {REC_REQUEST, REC_REPLY};
	struct mem_seg m;
	struct ring_cons c;
	struct rec_hdr *r = NULL;

	(void)state;
	seg_new(&m, 256, 0);

	for (size_t f = 0; f < 2; f++) {
		for (size_t k = 0; k < HARNESS_NITEMS(shorts); k++) {
			uint64_t ext = ring_rec_extent(shorts[k]);

			memset(m.seg.ring, 0, 256);
			atomic_store(&m.seg.hdr->head, 0);
			put_raw(&m, 0, (int32_t)(REC_HDR + shorts[k]), flags[f], ext);
			assert_int_equal(ring_cons_init(&c, &m.seg), 0);
			assert_int_equal(ring_read(&c, &r), -EBADMSG);
			assert_int_equal(c.pos, 0);
			assert_int_equal(ring_read(&c, &r), -EBADMSG);
			/* Its length frames it: stepped over. */
			assert_int_equal(ring_skip(&c), 0);
			assert_int_equal(c.pos, ext);
			assert_int_equal(ring_read(&c, &r), -EAGAIN);
			/* A length past the ring's end does not frame it. */
			memset(m.seg.ring, 0, 256);
			atomic_store(&m.seg.hdr->head, 240);
			put_raw(&m, 240, (int32_t)(REC_HDR + 8), flags[f], 64);
			assert_int_equal(ring_cons_init(&c, &m.seg), 0);
			assert_int_equal(ring_read(&c, &r), -EBADMSG);
			assert_int_equal(ring_skip(&c), -EBADMSG);
			assert_int_equal(c.pos, 240);
		}
	}
	harness_seg_free(&m);

	/* Through the handles: reported once, counted, the next one comes. */
	seg_new(&m, 1024, 0);
	{
		bus_producer *bp = harness_prod_new(&m);
		bus_consumer *bc;
		bus_msg msg;
		uint64_t pos;

		assert_int_equal(send_call(bp, REC_REQUEST, 1, 2, 8, 'x'), 0);
		pos = atomic_load(&m.seg.hdr->tail);
		assert_int_equal(send_call(bp, REC_REQUEST, 3, 4, 0, 0), 0);
		assert_int_equal(send_call(bp, REC_REPLY, 5, 0, 1, 'y'), 0);
		/* The second record's length cut to 8 bytes of payload. */
		atomic_store(&((struct rec_hdr *)at(&m, pos))->len, REC_HDR + 8);
		bc = harness_cons_new(&m);
		assert_int_equal(bus_recv(bc, &msg, 0), 0);
		check_call(&m, &msg, 0, BUS_MSG_REQUEST, 1, 2, 8, 'x');
		assert_int_equal(bus_recv(bc, &msg, 0), -EBADMSG);
		assert_int_equal(atomic_load(&m.seg.hdr->cons.corrupt), 1);
		/*
		 * Stepped over by its (cut) length, 40 of its 48 bytes: the
		 * cursor lands on the call header's reply_to (4), which frames
		 * no record.  Refused, not misread: the queue is broken.
		 */
		assert_int_equal(bus_recv(bc, &msg, 0), -EBADMSG);
		assert_int_equal(atomic_load(&m.seg.hdr->state), SEG_STATE_BROKEN);
		assert_int_equal(bus_recv(bc, &msg, 0), -EBADMSG);
		assert_int_equal(atomic_load(&m.seg.hdr->cons.corrupt), 1);
		assert_int_equal(atomic_load(&m.seg.hdr->cons.msgs), 1);
	}
	harness_let_go(NULL);

	/* A cut that keeps the extent: skipped exactly, the next one comes. */
	seg_new(&m, 1024, 0);
	{
		bus_producer *bp = harness_prod_new(&m);
		bus_consumer *bc = harness_cons_new(&m);
		bus_msg msg;
		uint64_t pos;

		pos = atomic_load(&m.seg.hdr->tail);
		assert_int_equal(send_call(bp, REC_REPLY, 3, 0, 0, 0), 0);
		assert_int_equal(send_call(bp, REC_REPLY, 5, 0, 1, 'y'), 0);
		/* 48 bytes, cut to 41: the same 48-byte extent, too short */
		atomic_store(&((struct rec_hdr *)at(&m, pos))->len, REC_HDR + 9);
		assert_int_equal(bus_recv(bc, &msg, 0), -EBADMSG);
		assert_int_equal(bus_recv(bc, &msg, 0), 0);
		check_call(&m, &msg, pos + 48, BUS_MSG_REPLY, 5, 0, 1, 'y');
		assert_int_equal(atomic_load(&m.seg.hdr->cons.corrupt), 1);
		bus_release(bc);

		/* Not framed (past the ring's end): the queue is broken. */
		pos = atomic_load(&m.seg.hdr->tail);
		assert_int_equal(send_call(bp, REC_REQUEST, 6, 7, 0, 0), 0);
		atomic_store(&((struct rec_hdr *)at(&m, pos))->len, INT32_MAX);
		assert_int_equal(bus_recv(bc, &msg, 0), -EBADMSG);
		assert_int_equal(atomic_load(&m.seg.hdr->state), SEG_STATE_BROKEN);
		assert_int_equal(bus_recv(bc, &msg, 0), -EBADMSG);
		assert_int_equal(send_call(bp, REC_REQUEST, 8, 9, 0, 0), -EBADMSG);
	}
}

/* --- at the end of the ring --- */

static void test_at_the_end(void **state)
{
	struct mem_seg m;
	struct ring_prod p;
	struct ring_cons c;
	struct rec_hdr *r = NULL, *a, *b;
	const uint64_t base = 5 * 256 + 256 - 64;

	(void)state;
	seg_new(&m, 256, base);
	ring_prod_init(&p, &m.seg, 1);
	/* 64 bytes: exactly to the end of the ring. */
	a = put_call(&p, REC_REQUEST, 1, 11, 16, 'a', 1);
	assert_ptr_equal(a, m.seg.ring + 192);
	/* 48 bytes do not fit in the 0 left: the next starts at 0. */
	b = put_call(&p, REC_REPLY, 2, 0, 0, 0, 2);
	assert_ptr_equal(b, m.seg.ring);
	assert_int_equal(atomic_load(&m.seg.hdr->tail), base + 64 + 48);

	assert_int_equal(ring_cons_init(&c, &m.seg), 0);
	assert_int_equal(ring_read(&c, &r), RING_READ_CALL);
	assert_ptr_equal(r, a);
	assert_int_equal(c.call.reply_to, 11);
	assert_int_equal(ring_read(&c, &r), RING_READ_CALL);
	assert_ptr_equal(r, b);
	assert_int_equal(c.call_flags, REC_REPLY);
	assert_int_equal(c.call.call_id, 2);
	assert_int_equal(ring_release(&c), 112);

	/* A 120-byte request at 48, read and released. */
	assert_int_equal(atomic_load(&m.seg.hdr->tail) % 256, 48);
	a = put_call(&p, REC_REQUEST, 3, 33, 72, 'c', 3);
	assert_ptr_equal(a, m.seg.ring + 48);
	assert_int_equal(ring_read(&c, &r), RING_READ_CALL);
	assert_int_equal(ring_release(&c), 120);
	/* 88 left of the next 120: padding to the end, the request at 0. */
	b = put_call(&p, REC_REQUEST, 4, 44, 72, 'd', 4);
	assert_ptr_equal(b, m.seg.ring);
	assert_int_equal(atomic_load(&((struct rec_hdr *)(m.seg.ring + 168))->len), 88);
	assert_int_equal(((struct rec_hdr *)(m.seg.ring + 168))->flags, REC_PAD);
	assert_int_equal(ring_read(&c, &r), RING_READ_CALL);
	assert_ptr_equal(r, b);
	assert_int_equal(c.last, base + 64 + 48 + 120 + 88);
	assert_int_equal(c.call.call_id, 4);
	assert_int_equal(c.call.reply_to, 44);
	assert_int_equal(c.last_len, REC_CALL_HDR + 72);
	assert_int_equal(ring_read(&c, &r), -EAGAIN);
	assert_int_equal(ring_release(&c), 88 + 120);
}

/* The same, through the handles: padding, then a request at the start. */
static void test_at_the_end_handles(void **state)
{
	struct mem_seg m;
	bus_producer *bp;
	bus_consumer *bc;
	bus_msg msg;
	uint32_t pad;
	int32_t padlen;

	(void)state;
	seg_new(&m, 256, 256 - 40);
	bp = harness_prod_new(&m);
	bc = harness_cons_new(&m);
	/* 40 left, 48 needed: 40 bytes of padding, the request at 0. */
	assert_int_equal(send_call(bp, REC_REQUEST, 9, 10, 0, 0), 0);
	memcpy(&padlen, m.seg.ring + 216, 4);
	memcpy(&pad, m.seg.ring + 220, 4);
	assert_int_equal(padlen, 40);
	assert_int_equal(pad, REC_PAD);
	assert_int_equal(send_call(bp, REC_REPLY, 11, 0, 3, 'r'), 0);
	assert_int_equal(bus_recv(bc, &msg, 0), 0);
	check_call(&m, &msg, 0, BUS_MSG_REQUEST, 9, 10, 0, 0);
	assert_int_equal(bus_recv(bc, &msg, 0), 0);
	check_call(&m, &msg, 48, BUS_MSG_REPLY, 11, 0, 3, 'r');
	bus_release(bc);
	assert_int_equal(atomic_load(&m.seg.hdr->head), 256 + 48 + 56);
}

/* --- recovery at the head --- */

static void test_recover_head(void **state)
{
	struct mem_seg m;
	struct ring_prod p0, p1;
	struct ring_cons c;
	struct rec_hdr *r = NULL, *req;
	bus_consumer *bc;
	bus_msg msg;

	(void)state;
	seg_new(&m, 256, 256 - 40);
	ring_prod_init(&p0, &m.seg, 0);
	ring_prod_init(&p1, &m.seg, 1);
	/* Padding (40), then a claim of slot 1 (72) that is never committed. */
	assert_int_equal(ring_claim(&p1, 40, &r), 0);
	assert_ptr_equal(r, m.seg.ring);
	/* A request behind it. */
	req = put_call(&p0, REC_REQUEST, 1, 2, 8, 'z', 1);
	assert_ptr_equal(req, m.seg.ring + 72);

	/*
	 * No consumer: busd's pass takes the lease and steps over the padding
	 * and the dead claim (slot 1's pid is 0: dead, in memory).
	 */
	assert_int_equal(recover_unconsumed(&m.seg, &wait_futex_ops), 40 + 72);
	assert_int_equal(atomic_load(&m.seg.hdr->head), 256 + 72);
	assert_int_equal(atomic_load(&m.seg.hdr->recovered), 1);
	/* A request at the head: left alone, without even the lease. */
	assert_int_equal(recover_unconsumed(&m.seg, &wait_futex_ops), 0);
	assert_int_equal(atomic_load(&m.seg.hdr->head), 256 + 72);
	assert_int_equal(atomic_load(&m.seg.hdr->cons_pid), 0);

	/* recover_head itself, on a request at the head: nothing released. */
	assert_int_equal(ring_cons_init(&c, &m.seg), 0);
	assert_int_equal(recover_head(&c, &m.seg), 0);
	assert_int_equal(c.pos, 256 + 72);
	assert_int_equal(c.head, 256 + 72);
	assert_int_equal(atomic_load(&m.seg.hdr->cons.read_pos), 256 + 72);
	assert_int_equal(atomic_load(&req->len), REC_HDR + REC_CALL_HDR + 8);

	/* The request is still there for the consumer. */
	bc = harness_cons_new(&m);
	assert_int_equal(bus_recv(bc, &msg, 0), 0);
	check_call(&m, &msg, 72, BUS_MSG_REQUEST, 1, 2, 8, 'z');
	assert_int_equal(msg.flags & BUS_MSG_REDELIVERED, 0);
	/*
	 * Closing while holding it: not released (it is redelivered to the
	 * next consumer), whatever recovery at the close does.
	 */
	harness_cons_close(bc);
	assert_int_equal(atomic_load(&m.seg.hdr->head), 256 + 72);
	bc = harness_cons_new(&m);
	assert_int_equal(bus_recv(bc, &msg, 0), 0);
	check_call(&m, &msg, 72, BUS_MSG_REQUEST | BUS_MSG_REDELIVERED, 1, 2, 8, 'z');
	bus_release(bc);
	assert_int_equal(atomic_load(&m.seg.hdr->head), 256 + 72 + 56);

	/*
	 * A dead claim, then a reply: recover_head on an idle consumer
	 * releases the claim and stops at the reply.
	 */
	assert_int_equal(ring_claim(&p1, 8, &r), 0);
	put_call(&p0, REC_REPLY, 3, 0, 0, 0, 2);
	assert_int_equal(bus_recv(bc, &msg, 0), -EAGAIN);
	harness_cons_close(bc);
	/* the close recovered the claim at the head, not the reply */
	assert_int_equal(atomic_load(&m.seg.hdr->head), 256 + 72 + 56 + 40);
	bc = harness_cons_new(&m);
	assert_int_equal(bus_recv(bc, &msg, 0), 0);
	check_call(&m, &msg, 72 + 56 + 40, BUS_MSG_REPLY, 3, 0, 0, 0);
	bus_release(bc);
}

/* --- batches of plain and call records --- */

static void test_batch_mixed(void **state)
{
	struct mem_seg m;
	bus_producer *bp;
	bus_consumer *bc;
	bus_msg msgs[8];
	uint64_t pos[6];
	int n;

	(void)state;
	seg_new(&m, 1024, 1024 - 64);
	bp = harness_prod_new(&m);
	bc = harness_cons_new(&m);
	pos[0] = atomic_load(&m.seg.hdr->tail);
	assert_int_equal(send_plain(bp, 4), 0);
	pos[1] = atomic_load(&m.seg.hdr->tail);
	/* 24 left: padding, then the request at the start */
	assert_int_equal(send_call(bp, REC_REQUEST, 100, 200, 6, 'a'), 0);
	pos[1] = 1024;
	pos[2] = atomic_load(&m.seg.hdr->tail);
	assert_int_equal(send_plain(bp, 0), 0);
	pos[3] = atomic_load(&m.seg.hdr->tail);
	assert_int_equal(send_call(bp, REC_REPLY, 101, 0, 0, 0), 0);
	pos[4] = atomic_load(&m.seg.hdr->tail);
	assert_int_equal(send_plain(bp, 9), 0);
	pos[5] = atomic_load(&m.seg.hdr->tail);
	assert_int_equal(send_call(bp, REC_REQUEST, 102, 201, 1, 'b'), 0);

	n = bus_recv_batch(bc, msgs, 8, 0);
	assert_int_equal(n, 6);
	check_plain(&m, &msgs[0], pos[0], 4);
	check_call(&m, &msgs[1], pos[1], BUS_MSG_REQUEST, 100, 200, 6, 'a');
	check_plain(&m, &msgs[2], pos[2], 0);
	check_call(&m, &msgs[3], pos[3], BUS_MSG_REPLY, 101, 0, 0, 0);
	check_plain(&m, &msgs[4], pos[4], 9);
	check_call(&m, &msgs[5], pos[5], BUS_MSG_REQUEST, 102, 201, 1, 'b');
	assert_int_equal(bus_recv_batch(bc, msgs, 8, 0), -EAGAIN);
	bus_release(bc);
	assert_int_equal(atomic_load(&m.seg.hdr->cons.requests), 2);
	assert_int_equal(atomic_load(&m.seg.hdr->cons.msgs), 6);

	/* A short call record in the middle: the batch stops before it. */
	pos[0] = atomic_load(&m.seg.hdr->tail);
	assert_int_equal(send_plain(bp, 1), 0);
	pos[1] = atomic_load(&m.seg.hdr->tail);
	assert_int_equal(send_call(bp, REC_REQUEST, 103, 202, 0, 0), 0);
	pos[2] = atomic_load(&m.seg.hdr->tail);
	assert_int_equal(send_call(bp, REC_REQUEST, 104, 203, 2, 'c'), 0);
	/* 48 bytes, cut to 40: framed, corrupt */
	atomic_store(&((struct rec_hdr *)at(&m, pos[1]))->len, REC_HDR + 15);
	n = bus_recv_batch(bc, msgs, 8, 0);
	assert_int_equal(n, 1);
	check_plain(&m, &msgs[0], pos[0], 1);
	assert_int_equal(bus_recv_batch(bc, msgs, 8, 0), -EBADMSG);
	assert_int_equal(atomic_load(&m.seg.hdr->cons.corrupt), 1);
	n = bus_recv_batch(bc, msgs, 8, 0);
	assert_int_equal(n, 1);
	check_call(&m, &msgs[0], pos[2], BUS_MSG_REQUEST, 104, 203, 2, 'c');
	bus_release(bc);
	assert_int_equal(atomic_load(&m.seg.hdr->head), atomic_load(&m.seg.hdr->tail));
	/* Released bytes are zero again. */
	for (uint64_t i = 0; i < 1024; i++)
		assert_int_equal(m.seg.ring[i], 0);
}

/* --- stats --- */

static void test_stats_oldest(void **state)
{
	struct mem_seg m;
	struct ring_prod p;
	struct ring_cons c;
	struct rec_hdr *r = NULL;
	bus_stats st;

	(void)state;
	seg_new(&m, 256, 256 - 40);
	ring_prod_init(&p, &m.seg, 0);
	/* Padding of 40, then a request committed at 1000. */
	put_call(&p, REC_REQUEST, 1, 2, 8, 'x', 1000);
	assert_int_equal(stats_read(&m.seg, 6000, &st), 0);
	assert_int_equal(st.oldest_age_ns, 5000);
	assert_int_equal(st.depth_msgs, 1);
	/* A reply behind it changes nothing. */
	put_call(&p, REC_REPLY, 1, 0, 0, 0, 3000);
	assert_int_equal(stats_read(&m.seg, 6000, &st), 0);
	assert_int_equal(st.oldest_age_ns, 5000);

	/* The request read and released: the reply is the oldest. */
	assert_int_equal(ring_cons_init(&c, &m.seg), 0);
	assert_int_equal(ring_read(&c, &r), RING_READ_CALL);
	ring_release(&c);
	assert_int_equal(stats_read(&m.seg, 6000, &st), 0);
	assert_int_equal(st.oldest_age_ns, 3000);
	assert_int_equal(ring_read(&c, &r), RING_READ_CALL);
	ring_release(&c);
	assert_int_equal(stats_read(&m.seg, 6000, &st), 0);
	assert_int_equal(st.oldest_age_ns, 0);

	/* The call counters, summed from the consumer's line and the slots. */
	atomic_store(&m.seg.hdr->cons.requests, 5);
	atomic_store(&m.seg.hdr->cons.replies, 4);
	atomic_store(&m.seg.hdr->cons.replies_dead, 1);
	atomic_store(&m.seg.slots[0].late, 2);
	atomic_store(&m.seg.slots[1].late, 3);
	assert_int_equal(stats_read(&m.seg, 6000, &st), 0);
	assert_int_equal(st.requests, 5);
	assert_int_equal(st.replies, 4);
	assert_int_equal(st.dead_replies, 1);
	assert_int_equal(st.late_replies, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_round_trip, harness_let_go),
		cmocka_unit_test_teardown(test_short_call, harness_let_go),
		cmocka_unit_test_teardown(test_at_the_end, harness_let_go),
		cmocka_unit_test_teardown(test_at_the_end_handles, harness_let_go),
		cmocka_unit_test_teardown(test_recover_head, harness_let_go),
		cmocka_unit_test_teardown(test_batch_mixed, harness_let_go),
		cmocka_unit_test_teardown(test_stats_oldest, harness_let_go),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

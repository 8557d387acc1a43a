/*
 * test_loan.c - the loan API: bus_send_reserve, bus_send_commit,
 * bus_send_abort, in one process, byte by byte.
 *
 * Each test lays a segment out in calloc'd memory and drives it through
 * the public calls with timeout 0, then checks the ring itself: where the
 * record and the bytes given back lie, what the consumer receives (exact
 * lengths and contents), that nothing aborted is delivered, that no
 * sequence number is spent on an abort, and that released bytes are zero.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "harness.h"
#include "stats.h"
#include "test.pb-c.h"

/* Room for the segments a test holds at once (harness_seg_new). */
#define SEGS_MAX 8

static struct mem_seg *seg_new(uint64_t capacity, uint64_t initial_pos)
{
	static struct mem_seg segs[SEGS_MAX];
	static unsigned next;
	struct seg_params sp = {.name = "loan", .capacity = capacity, .initial_pos = initial_pos};
	struct mem_seg *m = &segs[next++ % SEGS_MAX];

	harness_seg_new(m, &sp);
	return m;
}

/* A loan of n bytes, which must be granted at once. */
static uint8_t *loan(bus_producer *p, size_t n)
{
	void *buf = NULL;

	assert_int_equal(bus_send_reserve(p, n, 0, &buf), 0);
	return buf;
}

/* The queue of most tests: 256 bytes, a producer and a consumer. */
struct queue {
	struct mem_seg *m;
	bus_producer *p;
	bus_consumer *c;
};

static struct queue queue_new(void)
{
	struct queue q = {.m = seg_new(256, 0)};

	q.p = harness_prod_new(q.m);
	q.c = harness_cons_new(q.m);
	return q;
}

static uint64_t claim_need_of(const struct mem_seg *m)
{
	return atomic_load(&m->seg.slots[0].claim_need);
}

static void pattern(uint8_t *b, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed + 7 * i);
}

static bool has_pattern(const void *data, size_t n, uint8_t seed)
{
	const uint8_t *b = data;

	for (size_t i = 0; i < n; i++)
		if (b[i] != (uint8_t)(seed + 7 * i))
			return false;
	return true;
}

static uint64_t aborted_of(struct mem_seg *m)
{
	bus_stats st;

	assert_int_equal(stats_read(&m->seg, harness_now_ns(), &st), 0);
	return st.aborted;
}

/* Receives one message and checks it; then nothing else is waiting. */
static void recv_one(bus_consumer *c, uint32_t type, size_t len, uint8_t seed,
                     uint64_t seq)
{
	bus_msg msg;

	assert_int_equal(bus_recv(c, &msg, 0), 0);
	assert_int_equal(msg.type, type);
	assert_int_equal(msg.len, len);
	assert_int_equal(msg.seq, seq);
	assert_true(has_pattern(msg.data, len, seed));
	assert_int_equal(bus_recv(c, &msg, 0), -EAGAIN);
	bus_release(c);
}

/*
 * A loan committed shorter than it was claimed: the record says the
 * committed length, the rest of the claim is one skipped record, and
 * both are zero once released.  Also the edge cases of the slack: the
 * smallest (8 bytes) and none (the same extent).
 */
static void test_commit_shorter(void **state)
{
	struct queue q = queue_new();
	void *buf = NULL;

	(void)state;
	/* 90 bytes claimed: extent 128; 20 committed: extent 56. */
	assert_int_equal(bus_send_reserve(q.p, 90, 0, &buf), 0);
	assert_ptr_equal(buf, q.m->seg.ring + REC_HDR);
	assert_int_equal(harness_tail(q.m), 128);
	assert_int_equal(harness_len_at(q.m, 0), -(int32_t)(REC_HDR + 90));
	memset(buf, 0xee, 90); /* what lies beyond len must never show */
	pattern(buf, 20, 1);
	assert_int_equal(bus_send_commit(q.p, 5, 20), 0);
	assert_int_equal(harness_len_at(q.m, 0), REC_HDR + 20);
	assert_int_equal(harness_len_at(q.m, 56), 72);
	assert_int_equal(harness_flags_at(q.m, 56), REC_SKIP);
	recv_one(q.c, 5, 20, 1, 0);
	assert_int_equal(harness_head(q.m), 128);
	assert_true(harness_all_zero(q.m->seg.ring, 256));

	/* 25 claimed (extent 64), 24 committed (extent 56): 8 given back. */
	assert_int_equal(bus_send_reserve(q.p, 25, 0, &buf), 0);
	pattern(buf, 25, 2);
	assert_int_equal(bus_send_commit(q.p, 6, 24), 0);
	assert_int_equal(harness_len_at(q.m, 128 + 56), 8);
	assert_int_equal(harness_flags_at(q.m, 128 + 56), REC_SKIP);
	recv_one(q.c, 6, 24, 2, 1);
	assert_int_equal(harness_head(q.m), 192);

	/* 20 claimed, 17 committed: the same extent, nothing given back. */
	assert_int_equal(bus_send_reserve(q.p, 20, 0, &buf), 0);
	pattern(buf, 20, 3);
	assert_int_equal(bus_send_commit(q.p, 7, 17), 0);
	assert_int_equal(harness_tail(q.m), 248);
	recv_one(q.c, 7, 17, 3, 2);
	/* An empty message out of a loan, after 8 bytes of padding. */
	assert_int_equal(bus_send_reserve(q.p, 40, 0, &buf), 0);
	assert_int_equal(bus_send_commit(q.p, 8, 0), 0);
	recv_one(q.c, 8, 0, 0, 3);
	assert_int_equal(harness_head(q.m), 256 + 72);
	assert_true(harness_all_zero(q.m->seg.ring, 256));
}

/* Committed at its full length, a loan is exactly a bus_send. */
static void test_commit_exact(void **state)
{
	struct queue q = queue_new();
	uint8_t data[64];
	bus_msg msg;

	(void)state;
	pattern(loan(q.p, 64), 64, 9);
	assert_int_equal(bus_send_commit(q.p, 11, 64), 0);
	assert_int_equal(harness_tail(q.m), 96);
	assert_int_equal(harness_len_at(q.m, 0), REC_HDR + 64);
	/* The same record as bus_send() makes, after it. */
	pattern(data, 64, 10);
	assert_int_equal(bus_send(q.p, 12, data, 64, 0), 0);
	assert_int_equal(harness_tail(q.m), 192);
	assert_int_equal(memcmp(q.m->seg.ring, q.m->seg.ring + 96, 4), 0);
	assert_int_equal(bus_recv(q.c, &msg, 0), 0);
	assert_int_equal(msg.len, 64);
	assert_true(has_pattern(msg.data, 64, 9));
	recv_one(q.c, 12, 64, 10, 1);
	assert_true(harness_all_zero(q.m->seg.ring, 256));
	assert_int_equal(atomic_load(&q.m->seg.slots[0].next_seq), 2);
	assert_int_equal(aborted_of(q.m), 0);
}

/* An abort delivers nothing, spends no sequence number and is counted. */
static void test_abort(void **state)
{
	struct queue q = queue_new();
	uint8_t data[16];
	void *buf = NULL;
	bus_msg msg;

	(void)state;
	assert_int_equal(bus_send_reserve(q.p, 50, 0, &buf), 0);
	memset(buf, 0xab, 50);
	bus_send_abort(q.p);
	assert_int_equal(harness_len_at(q.m, 0), 88);
	assert_int_equal(harness_flags_at(q.m, 0), REC_SKIP);
	assert_int_equal(aborted_of(q.m), 1);
	assert_int_equal(bus_recv(q.c, &msg, 0), -EAGAIN);
	/* A second abort with nothing open does nothing. */
	bus_send_abort(q.p);
	assert_int_equal(aborted_of(q.m), 1);

	pattern(data, sizeof(data), 4);
	assert_int_equal(bus_send(q.p, 3, data, sizeof(data), 0), 0);
	recv_one(q.c, 3, sizeof(data), 4, 0); /* seq 0: the abort used none */
	assert_int_equal(harness_head(q.m), 88 + 48);
	assert_true(harness_all_zero(q.m->seg.ring, 256));

	/* Aborts alone, then the consumer steps over them and releases. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(bus_send_reserve(q.p, 8, 0, &buf), 0);
		bus_send_abort(q.p);
	}
	assert_int_equal(bus_recv(q.c, &msg, 0), -EAGAIN);
	assert_int_equal(aborted_of(q.m), 4);
	assert_int_equal(atomic_load(&q.m->seg.slots[0].next_seq), 1);
}

/* While a loan is open, every other sending call is refused. */
static void test_busy(void **state)
{
	struct queue q = queue_new();
	Bustest__Probe probe = BUSTEST__PROBE__INIT;
	void *buf = NULL, *again = &again;
	uint8_t byte = 1;
	bus_msg msg;

	(void)state;
	assert_int_equal(bus_send_reserve(q.p, 16, 0, &buf), 0);
	pattern(buf, 16, 5);
	/* The loan's intent, for recovery should we die holding it. */
	assert_int_equal(claim_need_of(q.m), 48);
	assert_int_equal(bus_send(q.p, 1, &byte, 1, 0), -EBUSY);
	/* Refused without waiting, whatever the size. */
	assert_int_equal(bus_send(q.p, 1, NULL, 0, -1), -EBUSY);
	assert_int_equal(bus_send(q.p, 1, q.m->seg.ring, 1u << 20, -1), -EBUSY);
	assert_int_equal(bus_send_pb(q.p, 1, &probe.base, -1), -EBUSY);
	assert_int_equal(bus_send_reserve(q.p, 8, -1, &again), -EBUSY);
	assert_int_equal(bus_send_reserve(q.p, 1u << 20, 0, &again), -EBUSY);
	assert_ptr_equal(again, &again);
	assert_int_equal(harness_tail(q.m), 48);
	/* Refusals leave the open loan's intent as it was. */
	assert_int_equal(claim_need_of(q.m), 48);
	assert_int_equal(atomic_load(&q.m->seg.slots[0].claim_pos), 0);
	assert_int_equal(bus_send_commit(q.p, 2, 16), 0);
	assert_int_equal(claim_need_of(q.m), 0);
	/* Closed: sending works again. */
	assert_int_equal(bus_send(q.p, 1, &byte, 1, 0), 0);
	assert_int_equal(bus_send_pb(q.p, 1, &probe.base, 0), 0);
	assert_int_equal(bus_recv(q.c, &msg, 0), 0);
	assert_int_equal(msg.len, 16);
	assert_true(has_pattern(msg.data, 16, 5));
	assert_int_equal(bus_recv(q.c, &msg, 0), 0);
	assert_int_equal(msg.seq, 1);
	assert_int_equal(bus_recv(q.c, &msg, 0), 0);
	assert_int_equal(msg.seq, 2);
	assert_int_equal(bus_recv(q.c, &msg, 0), -EAGAIN);
	bus_release(q.c);
	/* The deleted queue's error comes back once no loan is open. */
	seg_set_deleted(&q.m->seg, &wait_futex_ops);
	assert_int_equal(bus_send(q.p, 1, &byte, 1, 0), -EPIPE);
	assert_int_equal(bus_send_reserve(q.p, 8, 0, &buf), -EPIPE);
}

/* Bad arguments, commit with no loan, a commit too long keeps the loan. */
static void test_invalid(void **state)
{
	struct queue q = queue_new();
	void *buf = NULL;

	(void)state;
	assert_int_equal(bus_send_reserve(NULL, 8, 0, &buf), -EINVAL);
	assert_int_equal(bus_send_reserve(q.p, 8, 0, NULL), -EINVAL);
	assert_int_equal(bus_send_commit(NULL, 1, 0), -EINVAL);
	assert_int_equal(bus_send_commit(q.p, 1, 0), -EINVAL);
	bus_send_abort(NULL);
	bus_send_abort(q.p);
	assert_int_equal(harness_tail(q.m), 0);
	assert_int_equal(aborted_of(q.m), 0);

	assert_int_equal(bus_send_reserve(q.p, 30, 0, &buf), 0);
	pattern(buf, 30, 6);
	assert_int_equal(bus_send_commit(q.p, 1, 31), -EINVAL);
	assert_int_equal(bus_send_commit(q.p, 1, SIZE_MAX), -EINVAL);
	/* Still open: sends are refused, a right commit goes through. */
	assert_int_equal(bus_send(q.p, 1, NULL, 0, 0), -EBUSY);
	assert_int_equal(bus_send_commit(q.p, 4, 30), 0);
	assert_int_equal(bus_send_commit(q.p, 4, 30), -EINVAL);
	recv_one(q.c, 4, 30, 6, 0);
}

/* Larger than the queue's largest message: as bus_send, and no loan. */
static void test_too_large(void **state)
{
	struct mem_seg *m = seg_new(256, 0);
	bus_producer *p = harness_prod_new(m);
	size_t max = bus_producer_max_message(p);
	void *buf = &buf;

	(void)state;
	assert_int_equal(max, 256 / 2 - 32);
	assert_int_equal(bus_send(p, 1, m->seg.ring, max + 1, 0), -EMSGSIZE);
	assert_int_equal(bus_send_reserve(p, max + 1, 0, &buf), -EMSGSIZE);
	assert_int_equal(bus_send_reserve(p, SIZE_MAX, -1, &buf), -EMSGSIZE);
	assert_ptr_equal(buf, &buf);
	assert_int_equal(bus_send_commit(p, 1, 0), -EINVAL);
	assert_int_equal(bus_send_reserve(p, max, 0, &buf), 0);
	assert_int_equal(bus_send_commit(p, 1, max), 0);
}

/* A full ring: -EAGAIN at once with timeout 0, counted as bus_send's. */
static void test_full(void **state)
{
	struct queue q = queue_new();
	void *buf = &buf;
	bus_msg msg;

	(void)state;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(bus_send_reserve(q.p, 96, 0, &buf), 0);
		assert_int_equal(bus_send_commit(q.p, 1, 96), 0);
	}
	assert_int_equal(bus_send_reserve(q.p, 96, 0, &buf), -EAGAIN);
	assert_int_equal(claim_need_of(q.m), 0); /* no intent left behind */
	assert_int_equal(bus_send_reserve(q.p, 96, 1, &buf), -ETIMEDOUT);
	assert_int_equal(claim_need_of(q.m), 0);
	assert_int_equal(atomic_load(&q.m->seg.slots[0].full), 2);
	/* No loan was left open. */
	assert_int_equal(bus_send(q.p, 1, NULL, 0, 0), -EAGAIN);
	assert_int_equal(bus_recv(q.c, &msg, 0), 0);
	bus_release(q.c);
	assert_int_equal(bus_send_reserve(q.p, 96, 0, &buf), 0);
	bus_send_abort(q.p);
}

/*
 * Loans across the end of the ring: padding first, the record at index
 * 0, its payload contiguous; given-back bytes and aborts there too.
 */
static void test_wrap(void **state)
{
	/* Start 64 bytes before the end of the ring. */
	struct mem_seg *m = seg_new(256, 4096 - 64);
	bus_producer *p = harness_prod_new(m);
	bus_consumer *c = harness_cons_new(m);
	void *buf = NULL;
	bus_msg msg;

	(void)state;
	/* 60 bytes claimed: extent 96 > 64 to the end: pad 64, record at 0. */
	assert_int_equal(bus_send_reserve(p, 60, 0, &buf), 0);
	assert_ptr_equal(buf, m->seg.ring + REC_HDR);
	assert_int_equal(harness_len_at(m, 192), 64);
	assert_int_equal(harness_flags_at(m, 192), REC_PAD);
	assert_int_equal(harness_tail(m), 4096 + 96);
	pattern(buf, 60, 7);
	assert_int_equal(bus_send_commit(p, 2, 10), 0);
	assert_int_equal(harness_len_at(m, 48), 48);
	assert_int_equal(harness_flags_at(m, 48), REC_SKIP);
	recv_one(c, 2, 10, 7, 0);
	assert_int_equal(harness_head(m), 4096 + 96);
	assert_true(harness_all_zero(m->seg.ring, 256));

	/* Fill up to 64 before the end again, then an abort across it. */
	assert_int_equal(bus_send_reserve(p, 64, 0, &buf), 0);
	bus_send_abort(p); /* [96, 192) */
	assert_int_equal(bus_send_reserve(p, 40, 0, &buf), 0);
	bus_send_abort(p); /* pad [192, 256), skip [0, 72) */
	assert_int_equal(harness_len_at(m, 192), 64);
	assert_int_equal(harness_flags_at(m, 192), REC_PAD);
	assert_int_equal(harness_len_at(m, 0), 72);
	assert_int_equal(harness_flags_at(m, 0), REC_SKIP);
	/* Full until the consumer steps over them and releases. */
	assert_int_equal(bus_send_reserve(p, 8, 0, &buf), -EAGAIN);
	assert_int_equal(bus_recv(c, &msg, 0), -EAGAIN);
	bus_release(c);
	assert_int_equal(bus_send_reserve(p, 8, 0, &buf), 0);
	pattern(buf, 8, 8);
	assert_int_equal(bus_send_commit(p, 3, 8), 0);
	recv_one(c, 3, 8, 8, 1);
	assert_int_equal(harness_head(m), 4096 + 256 + 72 + 40);
	assert_true(harness_all_zero(m->seg.ring, 256));
	assert_int_equal(aborted_of(m), 2);
}

/* Closing a producer with a loan open aborts it; the ring goes on. */
static void test_close_aborts(void **state)
{
	struct mem_seg *m = seg_new(256, 0);
	bus_producer *p = harness_prod_new(m), *q;
	bus_consumer *c = harness_cons_new(m);
	void *buf = NULL;
	uint8_t data[8];
	bus_msg msg;

	(void)state;
	assert_int_equal(bus_send_reserve(p, 40, 0, &buf), 0);
	memset(buf, 0x55, 40);
	harness_prod_close(p);
	assert_int_equal(harness_len_at(m, 0), 72);
	assert_int_equal(harness_flags_at(m, 0), REC_SKIP);
	assert_int_equal(atomic_load(&m->seg.slots[0].claim_need), 0);
	assert_int_equal(aborted_of(m), 1);
	assert_int_equal(bus_recv(c, &msg, 0), -EAGAIN);
	q = harness_prod_new(m);
	pattern(data, sizeof(data), 9);
	assert_int_equal(bus_send(q, 1, data, sizeof(data), 0), 0);
	recv_one(c, 1, sizeof(data), 9, 0);
	assert_true(harness_all_zero(m->seg.ring, 256));
}

/*
 * What the consumer accepts as bytes given back: a multiple of 8, at
 * least 8, within the ring's end and the tail; else the record is
 * corrupt.  Written by hand, as a hostile producer could.
 */
/*
 * A loan of 64 bytes committed as message n of len bytes (pattern n), the
 * consumer asleep or not (wait_prepare): the wakes of slot 0 are then
 * n - 1, a sleeper is awake, and the consumer receives it as seq n - 1.
 */
static void commit_counting_wakes(struct mem_seg *m, bus_producer *p, bus_consumer *c,
                                  bool asleep, uint8_t n, size_t len)
{
	_Atomic uint32_t *w = &m->seg.hdr->cons_wait;
	void *buf = NULL;

	if (asleep)
		wait_prepare(w);
	assert_int_equal(bus_send_reserve(p, 64, 0, &buf), 0);
	pattern(buf, len, n);
	assert_int_equal(bus_send_commit(p, n, len), 0);
	assert_int_equal(atomic_load(&m->seg.slots[0].wakes), n - 1);
	if (asleep)
		assert_int_equal(atomic_load(w) & WAIT_SLEEPING, 0);
	recv_one(c, n, len, n, n - 1);
}

/*
 * A consumer announced itself asleep: each commit, whole or shorter, and
 * each abort wakes it and counts the wake, as bus_send() does.
 */
static void test_commit_wakes(void **state)
{
	struct mem_seg *m = seg_new(4096, 0);
	bus_producer *p = harness_prod_new(m);
	bus_consumer *c = harness_cons_new(m);
	_Atomic uint32_t *w = &m->seg.hdr->cons_wait;
	void *buf = NULL;
	bus_msg msg;

	(void)state;
	/* Nobody asleep: no wake. */
	commit_counting_wakes(m, p, c, false, 1, 64);
	commit_counting_wakes(m, p, c, true, 2, 64);
	commit_counting_wakes(m, p, c, true, 3, 40);

	wait_prepare(w);
	assert_int_equal(bus_send_reserve(p, 64, 0, &buf), 0);
	bus_send_abort(p);
	assert_int_equal(atomic_load(&m->seg.slots[0].wakes), 3);
	assert_int_equal(atomic_load(w) & WAIT_SLEEPING, 0);

	assert_int_equal(bus_recv(c, &msg, 0), -EAGAIN);
	assert_int_equal(claim_need_of(m), 0);
}

static void test_skip_checked(void **state)
{
	static const struct {
		int32_t len;
		uint64_t tail;
		int want;
	} cases[] = {
		{8, 8, -EAGAIN},
		{64, 64, -EAGAIN},
		{12, 16, -EBADMSG},
		{16, 8, -EBADMSG},
		{264, 256, -EBADMSG},
	};

	(void)state;
	for (size_t i = 0; i < HARNESS_NITEMS(cases); i++) {
		struct mem_seg *m = seg_new(256, 0);
		struct ring_cons rc;
		struct rec_hdr *r = (struct rec_hdr *)m->seg.ring, *none = NULL;

		r->flags = REC_SKIP;
		atomic_store(&r->len, cases[i].len);
		atomic_store(&m->seg.hdr->tail, cases[i].tail);
		assert_int_equal(ring_cons_init(&rc, &m->seg), 0);
		assert_int_equal(ring_read(&rc, &none), cases[i].want);
		if (cases[i].want == -EAGAIN)
			assert_int_equal(rc.pos, (uint64_t)cases[i].len);
		harness_let_go(NULL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_commit_shorter, harness_let_go),
		cmocka_unit_test_teardown(test_commit_exact, harness_let_go),
		cmocka_unit_test_teardown(test_abort, harness_let_go),
		cmocka_unit_test_teardown(test_busy, harness_let_go),
		cmocka_unit_test_teardown(test_invalid, harness_let_go),
		cmocka_unit_test_teardown(test_too_large, harness_let_go),
		cmocka_unit_test_teardown(test_full, harness_let_go),
		cmocka_unit_test_teardown(test_wrap, harness_let_go),
		cmocka_unit_test_teardown(test_close_aborts, harness_let_go),
		cmocka_unit_test_teardown(test_commit_wakes, harness_let_go),
		cmocka_unit_test_teardown(test_skip_checked, harness_let_go),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

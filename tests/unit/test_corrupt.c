/*
 * test_corrupt.c - corrupt records met by a consumer, through the public
 * receive path.
 *
 * A record whose length is one a record can have (so only the rest of its
 * header is bad) is reported once as -EBADMSG and stepped over; the
 * messages around it are delivered.  A record that cannot be framed
 * marks the queue broken: every receive and every send then fails with
 * -EBADMSG, and the stats say so.  So does a head past the tail, refused
 * by the next claim.  Nothing is read out of bounds
 * (the sanitizer builds run this too).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "harness.h"

static struct mem_seg ms;
static bus_producer *prod;
static bus_consumer *cons;

/* Each test's queue, in memory: made by the setup, freed by the teardown. */
static const struct seg_params params = {.name = "corrupt", .capacity = 1024, .max_message = 200};
static struct harness_mem_fixture fx = {&params, NULL, &ms, &prod, &cons};

static struct rec_hdr *rec_at(uint64_t pos)
{
	return (struct rec_hdr *)(ms.seg.ring + (pos & (ms.seg.capacity - 1)));
}

/* Sends 3 messages and returns the position of the second. */
static uint64_t send_three(void)
{
	uint64_t second = 0;

	for (uint32_t i = 0; i < 3; i++) {
		if (i == 1)
			second = atomic_load(&ms.seg.hdr->tail);
		assert_int_equal(bus_send(prod, 7, &i, sizeof(i), 0), 0);
	}
	return second;
}

static void expect(uint32_t v)
{
	bus_msg m;

	assert_int_equal(bus_recv(cons, &m, 0), 0);
	assert_int_equal(*(const uint32_t *)m.data, v);
}

static void skipped_once(uint32_t flags, int32_t len)
{
	uint64_t at = send_three();
	bus_msg m;

	rec_at(at)->flags = flags;
	atomic_store(&rec_at(at)->len, len);
	expect(0);
	assert_int_equal(bus_recv(cons, &m, 0), -EBADMSG);
	expect(2);
	assert_int_equal(bus_recv(cons, &m, 0), -EAGAIN);
	bus_release(cons);
	assert_int_equal(atomic_load(&ms.seg.hdr->cons.corrupt), 1);
	assert_false(atomic_load(&ms.seg.hdr->state) & SEG_STATE_BROKEN);
	/* The queue goes on. */
	send_three();
	expect(0);
	expect(1);
	expect(2);
	bus_release(cons);
}

static void test_unknown_flags_skipped(void **state)
{
	(void)state;
	/* 36 bytes: header + the 4-byte payload, as sent */
	skipped_once(0x40, 36);
}

static void test_padding_flag_mid_ring_skipped(void **state)
{
	(void)state;
	/* A record claiming to be padding where padding cannot be. */
	skipped_once(REC_PAD, 36);
}

static void test_oversized_payload_breaks_queue(void **state)
{
	uint64_t at = send_three();
	bus_msg m;

	(void)state;
	/* A payload above max_message: this length frames no real record. */
	atomic_store(&rec_at(at)->len, (int32_t)(REC_HDR + 201));
	expect(0);
	assert_int_equal(bus_recv(cons, &m, 0), -EBADMSG);
	assert_true(atomic_load(&ms.seg.hdr->state) & SEG_STATE_BROKEN);
	bus_release(cons);
}

static void test_unframeable_breaks_queue(void **state)
{
	uint64_t at = send_three();
	bus_msg m;

	(void)state;
	atomic_store(&rec_at(at)->len, 3);
	expect(0);
	assert_int_equal(bus_recv(cons, &m, 0), -EBADMSG);
	assert_int_equal(bus_recv(cons, &m, 0), -EBADMSG);
	assert_int_equal(bus_recv(cons, &m, 100), -EBADMSG);
	assert_true(atomic_load(&ms.seg.hdr->state) & SEG_STATE_BROKEN);
	assert_int_equal(bus_send(prod, 1, "x", 1, 0), -EBADMSG);
	assert_int_equal(bus_send(prod, 1, "x", 1, -1), -EBADMSG);
	bus_release(cons);
}

/*
 * A record framing more than was ever claimed: the consumer does not check
 * records against the tail (that would cost it a shared line per message),
 * so it receives the record and releases past the tail.  A producer whose
 * claim loads that head refuses it and marks the queue broken for all.
 */
static void test_length_past_tail_breaks_queue(void **state)
{
	uint64_t third = send_three() + 40;
	uint64_t tail = atomic_load(&ms.seg.hdr->tail);
	struct seg s = ms.seg;
	bus_producer *p2;
	bus_msg m;

	(void)state;
	atomic_store(&rec_at(third)->len, REC_HDR + 120);
	expect(0);
	expect(1);
	assert_int_equal(bus_recv(cons, &m, 0), 0);
	assert_int_equal(m.len, 120);
	assert_true(third + ring_rec_extent(120) > tail);
	bus_release(cons);
	assert_int_equal(atomic_load(&ms.seg.hdr->head), third + ring_rec_extent(120));
	/* A producer attaching now loads that head. */
	assert_int_equal(producer_attach(&s, NULL, &p2), 0);
	assert_int_equal(bus_send(p2, 1, "x", 1, 0), -EBADMSG);
	assert_int_equal(atomic_load(&ms.seg.hdr->tail), tail);
	assert_true(atomic_load(&ms.seg.hdr->state) & SEG_STATE_BROKEN);
	assert_int_equal(bus_send(p2, 1, "x", 1, -1), -EBADMSG);
	assert_int_equal(bus_send(prod, 1, "x", 1, 0), -EBADMSG);
	assert_int_equal(bus_recv(cons, &m, 0), -EBADMSG);
	assert_int_equal(bus_recv(cons, &m, 100), -EBADMSG);
	bus_producer_close(p2);
}

/*
 * A head written past the tail (the consumer never releases past it) is
 * refused by the next claim that reloads it, which marks the queue broken:
 * trusting it, a producer could claim over unread records.
 */
static void test_head_past_tail_breaks_queue(void **state)
{
	uint64_t tail;
	bus_msg m;

	(void)state;
	send_three();
	tail = atomic_load(&ms.seg.hdr->tail);
	/* Past the tail by less than one record's need, and by more. */
	for (uint64_t d = 8; d <= 2048; d *= 16) {
		struct seg s = ms.seg;
		bus_producer *p2;

		atomic_store(&ms.seg.hdr->state, SEG_STATE_LIVE);
		atomic_store(&ms.seg.hdr->head, tail + d);
		/* A producer attaching now loads the written head. */
		assert_int_equal(producer_attach(&s, NULL, &p2), 0);
		assert_int_equal(bus_send(p2, 1, "x", 1, 0), -EBADMSG);
		assert_int_equal(atomic_load(&ms.seg.hdr->tail), tail);
		assert_true(atomic_load(&ms.seg.hdr->state) & SEG_STATE_BROKEN);
		bus_producer_close(p2);
	}
	/* The consumer drains what was committed, then is told. */
	expect(0);
	expect(1);
	expect(2);
	assert_int_equal(bus_recv(cons, &m, 0), -EBADMSG);
}

/* A scribbled tail or head is refused, never used as an index. */
static void test_scribbled_positions(void **state)
{
	struct seg s = ms.seg;
	bus_consumer *other;
	bus_msg m;

	(void)state;
	atomic_store(&ms.seg.hdr->tail, 4093);
	atomic_store(&ms.seg.hdr->head, 4093);
	assert_int_equal(bus_send(prod, 1, "x", 1, 0), -EBADMSG);
	assert_int_equal(bus_send(prod, 1, "x", 1, -1), -EBADMSG);
	assert_true(atomic_load(&ms.seg.hdr->state) & SEG_STATE_BROKEN);
	/* Repaired by hand below, to show nothing else was disturbed. */
	atomic_store(&ms.seg.hdr->state, SEG_STATE_LIVE);
	bus_consumer_close(cons);
	cons = NULL;
	assert_int_equal(consumer_attach(&s, NULL, &other), -EBADMSG);
	/* The refused consumer left the lease free. */
	assert_int_equal(atomic_load(&ms.seg.hdr->cons_pid), 0);
	atomic_store(&ms.seg.hdr->tail, 4096);
	atomic_store(&ms.seg.hdr->head, 4096);
	assert_int_equal(consumer_attach(&s, NULL, &cons), 0);
	assert_int_equal(bus_send(prod, 1, "y", 1, 0), 0);
	assert_int_equal(bus_recv(cons, &m, 0), 0);
	bus_release(cons);
}

#define MEM_TEST(f)                                                    \
	cmocka_unit_test_prestate_setup_teardown(f, harness_mem_setup, \
	                                         harness_mem_teardown, &fx)

int main(void)
{
	const struct CMUnitTest tests[] = {
		MEM_TEST(test_unknown_flags_skipped),
		MEM_TEST(test_padding_flag_mid_ring_skipped),
		MEM_TEST(test_oversized_payload_breaks_queue),
		MEM_TEST(test_unframeable_breaks_queue),
		MEM_TEST(test_length_past_tail_breaks_queue),
		MEM_TEST(test_head_past_tail_breaks_queue),
		MEM_TEST(test_scribbled_positions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

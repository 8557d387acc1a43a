/*
 * test_recover.c - recovery of claims whose producer died before commit.
 *
 * A producer "dies" here the way a memory-only segment can tell: its slot
 * is released (pid 0) while its claim is still open, with whatever it had
 * written of the record by then.  Every point at which a real producer
 * can be killed is reproduced: right after the CAS (nothing written),
 * after the negative length, half-way through the payload, before or
 * after the padding of a claim that wraps.  The consumer must skip
 * exactly that claim, deliver everything around it, count it, and never
 * touch a claim whose producer is alive.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "harness.h"
#include "recover.h"

static struct mem_seg ms;
static bus_consumer *cons;

/* setup/teardown alike to test_wait.c's on purpose: each names its own fixture. */
static int setup(void **state)
{
	struct seg_params p = {.name = "recover", .capacity = 1024};

	(void)state;
	if (harness_mem_open(&ms, &p, NULL, NULL, &cons) < 0)
		return -1;
	bus_consumer_set_spin(cons, 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	harness_mem_close(&ms, NULL, cons);
	return 0;
}

static bus_producer *new_producer(void)
{
	struct seg s = ms.seg;
	bus_producer *p = NULL;

	assert_int_equal(producer_attach(&s, NULL, &p), 0);
	return p;
}

/* The producer dies: its slot is free, its claim stays as it is. */
static void die(bus_producer *p)
{
	atomic_store(&ms.seg.slots[bus_producer_slot(p)].pid, 0);
}

static void send_u32(bus_producer *p, uint32_t v)
{
	assert_int_equal(bus_send(p, 1, &v, sizeof(v), 0), 0);
}

static uint32_t recv_u32(int timeout_ms)
{
	bus_msg m;
	uint32_t v;

	assert_int_equal(bus_recv(cons, &m, timeout_ms), 0);
	assert_int_equal(m.len, sizeof(v));
	memcpy(&v, m.data, sizeof(v));
	return v;
}

/* Claims a record of len bytes on p's behalf, as bus_send would. */
static struct rec_hdr *claim(bus_producer *p, size_t len)
{
	struct ring_prod rp;
	struct rec_hdr *r;

	ring_prod_init(&rp, &ms.seg, bus_producer_slot(p));
	assert_int_equal(ring_claim(&rp, len, &r), 0);
	return r;
}

enum death {
	AFTER_CAS,
	AFTER_MARK,
	MID_PAYLOAD
};

static void kill_mid_claim(enum death when)
{
	bus_producer *a = new_producer(), *b = new_producer();
	struct rec_hdr *r;

	send_u32(b, 1);
	r = claim(a, 100);
	if (when == AFTER_CAS)
		atomic_store(&r->len, 0); /* died before the negative length */
	if (when == MID_PAYLOAD)
		memset(ring_rec_payload(r), 0xee, 40);
	die(a);
	send_u32(b, 2);
	send_u32(b, 3);

	assert_int_equal(recv_u32(0), 1);
	/* Blocked by the dead claim; recovery runs before sleeping. */
	assert_int_equal(recv_u32(1000), 2);
	assert_int_equal(recv_u32(0), 3);
	assert_int_equal(atomic_load(&ms.seg.hdr->recovered), 1);
	bus_release(cons);
	assert_int_equal(atomic_load(&ms.seg.hdr->head), atomic_load(&ms.seg.hdr->tail));
	bus_producer_close(b);
	bus_producer_close(a);
}

/* One function a case, alike on purpose: cmocka reports each by name. */
static void test_dead_after_cas(void **state)
{
	(void)state;
	kill_mid_claim(AFTER_CAS);
}

static void test_dead_after_mark(void **state)
{
	(void)state;
	kill_mid_claim(AFTER_MARK);
}

static void test_dead_mid_payload(void **state)
{
	(void)state;
	kill_mid_claim(MID_PAYLOAD);
}

/* Moves head and tail so that the next claim starts at ring index idx. */
static void advance_to(bus_producer *p, uint64_t idx)
{
	while ((atomic_load(&ms.seg.hdr->tail) & (ms.seg.capacity - 1)) != idx) {
		uint64_t left = idx - (atomic_load(&ms.seg.hdr->tail) & (ms.seg.capacity - 1));
		size_t len = left >= 64 ? 32 : left - REC_HDR;

		assert_int_equal(bus_send(p, 1, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", len, 0), 0);
		bus_msg m;
		assert_int_equal(bus_recv(cons, &m, 0), 0);
		bus_release(cons);
	}
}

/* A claim that wraps: padding then record; death before either commits. */
static void test_dead_before_padding(void **state)
{
	bus_producer *a = new_producer(), *b = new_producer();
	struct rec_hdr *r;
	uint64_t pad_at;

	(void)state;
	advance_to(b, 960);
	pad_at = atomic_load(&ms.seg.hdr->tail);
	r = claim(a, 100); /* 64 bytes of padding, then the record at 0 */
	assert_ptr_equal(r, (struct rec_hdr *)ms.seg.ring);
	/* As if killed right after the CAS: neither word written. */
	atomic_store((_Atomic int32_t *)(ms.seg.ring + 960), 0);
	*(uint32_t *)(ms.seg.ring + 964) = 0;
	atomic_store(&r->len, 0);
	die(a);
	send_u32(b, 7);
	assert_int_equal(recv_u32(1000), 7);
	assert_int_equal(atomic_load(&ms.seg.hdr->recovered), 1);
	bus_release(cons);
	assert_true(atomic_load(&ms.seg.hdr->head) - pad_at == 64 + ring_rec_extent(100) + ring_rec_extent(4));
	bus_producer_close(b);
	bus_producer_close(a);
}

/* The padding was committed, the record at index 0 was not. */
static void test_dead_after_padding(void **state)
{
	bus_producer *a = new_producer(), *b = new_producer();

	(void)state;
	advance_to(b, 960);
	(void)claim(a, 100);
	die(a);
	send_u32(b, 8);
	assert_int_equal(recv_u32(1000), 8);
	assert_int_equal(atomic_load(&ms.seg.hdr->recovered), 1);
	bus_release(cons);
	bus_producer_close(b);
	bus_producer_close(a);
}

/*
 * Two producers read the same tail and stored the same intent; one won
 * the CAS, the other was preempted before its own failed, and both were
 * killed there.  Their intents are one claim: recovered, not declined.
 */
static void twin_intents(uint64_t at)
{
	bus_producer *a = new_producer(), *b = new_producer(), *c = new_producer();
	struct seg_slot *sa = &ms.seg.slots[bus_producer_slot(a)];
	struct seg_slot *sc = &ms.seg.slots[bus_producer_slot(c)];
	struct rec_hdr *r;

	advance_to(b, at);
	r = claim(a, 100);
	atomic_store(&r->len, 0); /* killed right after the CAS */
	atomic_store(&sc->claim_pos, atomic_load(&sa->claim_pos));
	atomic_store(&sc->claim_need, atomic_load(&sa->claim_need));
	die(a);
	die(c);
	send_u32(b, 5);
	assert_int_equal(recv_u32(1000), 5);
	assert_int_equal(atomic_load(&ms.seg.hdr->recovered), 1);
	bus_release(cons);
	assert_int_equal(atomic_load(&ms.seg.hdr->head), atomic_load(&ms.seg.hdr->tail));
	/* Both slots are settled: free for the next producers. */
	assert_true(recover_slot_settled(&ms.seg, bus_producer_slot(a)));
	assert_true(recover_slot_settled(&ms.seg, bus_producer_slot(c)));
	bus_producer_close(c);
	bus_producer_close(b);
	bus_producer_close(a);
}

static void test_dead_twin_intents(void **state)
{
	(void)state;
	twin_intents(128);
}

/* The same with a claim that wraps: padding to the end, then the record. */
static void test_dead_twin_intents_padding(void **state)
{
	(void)state;
	twin_intents(960);
}

/*
 * A polling consumer steps over padding to a dead claim at the ring's
 * start, then closes before it recovers: closing gives back the padding
 * and the dead claim, so the space is free with no consumer attached.
 */
static void test_close_after_poll_padding(void **state)
{
	bus_producer *a = new_producer(), *b = new_producer();
	bus_msg m;

	(void)state;
	advance_to(b, 960);
	(void)claim(a, 100);
	die(a);
	assert_int_equal(bus_recv(cons, &m, 0), -EAGAIN);
	bus_consumer_close(cons);
	cons = NULL;
	assert_int_equal(atomic_load(&ms.seg.hdr->head), atomic_load(&ms.seg.hdr->tail));
	assert_int_equal(atomic_load(&ms.seg.hdr->recovered), 1);
	bus_producer_close(b);
	bus_producer_close(a);
}

/* A live producer's claim is waited for, never overwritten. */
static void test_live_claim_untouched(void **state)
{
	bus_producer *a = new_producer(), *b = new_producer();
	struct ring_prod rp;
	struct rec_hdr *r;
	bus_msg m;
	uint32_t v = 42;

	(void)state;
	ring_prod_init(&rp, &ms.seg, bus_producer_slot(a));
	assert_int_equal(ring_claim(&rp, sizeof(v), &r), 0);
	send_u32(b, 9);
	/* Polls and a short timed wait: nothing, and nothing recovered. */
	for (int i = 0; i < 100; i++)
		assert_int_equal(bus_recv(cons, &m, 0), -EAGAIN);
	assert_int_equal(bus_recv(cons, &m, 20), -ETIMEDOUT);
	assert_int_equal(atomic_load(&ms.seg.hdr->recovered), 0);
	memcpy(ring_rec_payload(r), &v, sizeof(v));
	ring_commit(&rp, r, 1, sizeof(v), 0);
	assert_int_equal(recv_u32(0), 42);
	assert_int_equal(recv_u32(0), 9);
	bus_release(cons);
	bus_producer_close(b);
	bus_producer_close(a);
}

/* A dead owner's slot is not reused until its claim is settled. */
static void test_slot_kept_until_settled(void **state)
{
	bus_producer *a = new_producer(), *b = new_producer(), *c;
	uint32_t dead_slot = bus_producer_slot(a);

	(void)state;
	(void)claim(a, 16);
	die(a);
	c = new_producer();
	assert_int_not_equal(bus_producer_slot(c), dead_slot);
	bus_producer_close(c);
	send_u32(b, 5);
	assert_int_equal(recv_u32(1000), 5);
	bus_release(cons);
	/* Settled and passed by the head: the slot is free to take. */
	c = new_producer();
	assert_int_equal(bus_producer_slot(c), dead_slot);
	send_u32(c, 6);
	assert_int_equal(recv_u32(0), 6);
	bus_release(cons);
	bus_producer_close(c);
	bus_producer_close(b);
	free(a);
}

/* A consumer that only polls (timeout 0) heals the queue too. */
static void test_polling_consumer_recovers(void **state)
{
	bus_producer *a = new_producer(), *b = new_producer();
	uint64_t until = harness_now_ns() + 2000000000u;
	bus_msg m;
	int r;

	(void)state;
	(void)claim(a, 16);
	die(a);
	send_u32(b, 11);
	while ((r = bus_recv(cons, &m, 0)) == -EAGAIN && harness_now_ns() < until)
		;
	assert_int_equal(r, 0);
	assert_int_equal(*(const uint32_t *)m.data, 11);
	bus_release(cons);
	bus_producer_close(b);
	bus_producer_close(a);
}

/*
 * The consumer dies (its lease goes, nothing of it is released) and a
 * new one attaches through s.
 */
static void consumer_dies(struct seg *s)
{
	atomic_store(&ms.seg.hdr->cons_pid, 0);
	free(cons);
	assert_int_equal(consumer_attach(s, NULL, &cons), 0);
}

/* Messages 1 and 2 come flagged as redelivered, then 3 as new. */
static void recv_1_to_3_redelivered(void)
{
	bus_msg m;

	for (uint32_t i = 1; i < 4; i++) {
		assert_int_equal(bus_recv(cons, &m, 0), 0);
		assert_int_equal(*(const uint32_t *)m.data, i);
		assert_int_equal(m.flags, i < 3 ? BUS_MSG_REDELIVERED : 0);
	}
}

/* A consumer that dies holding messages: its successor gets them again. */
static void test_redelivery_after_consumer_death(void **state)
{
	bus_producer *p = new_producer();
	struct seg s = ms.seg;

	(void)state;
	for (uint32_t i = 0; i < 4; i++)
		send_u32(p, i);
	assert_int_equal(recv_u32(0), 0);
	bus_release(cons);
	assert_int_equal(recv_u32(0), 1);
	assert_int_equal(recv_u32(0), 2);
	/* Dies holding 1 and 2: the lease goes, nothing is released. */
	consumer_dies(&s);
	recv_1_to_3_redelivered();
	assert_int_equal(atomic_load(&ms.seg.hdr->cons.redelivered), 2);
	bus_release(cons);
	bus_producer_close(p);
}

/*
 * Two consumers die in turn: the first holding 0..2, the second after it
 * received 0 again and released it.  The third still gets 1 and 2
 * flagged: the second consumer's cursor moved on from the first one's,
 * but the end of redelivery is kept apart from the cursor.
 */
static void test_redelivery_after_two_deaths(void **state)
{
	bus_producer *p = new_producer();
	struct seg s = ms.seg;
	bus_msg m;

	(void)state;
	for (uint32_t i = 0; i < 4; i++)
		send_u32(p, i);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(recv_u32(0), i);
	/* Dies holding 0, 1 and 2. */
	consumer_dies(&s);
	assert_int_equal(bus_recv(cons, &m, 0), 0);
	assert_int_equal(*(const uint32_t *)m.data, 0);
	assert_int_equal(m.flags, BUS_MSG_REDELIVERED);
	bus_release(cons);
	/* The second dies holding nothing, its cursor past 0 only. */
	consumer_dies(&s);
	recv_1_to_3_redelivered();
	bus_release(cons);
	bus_producer_close(p);
}

/* Each test runs between setup and teardown. */
#define FIXTURE_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		FIXTURE_TEST(test_dead_after_cas),
		FIXTURE_TEST(test_dead_after_mark),
		FIXTURE_TEST(test_dead_mid_payload),
		FIXTURE_TEST(test_dead_before_padding),
		FIXTURE_TEST(test_dead_after_padding),
		FIXTURE_TEST(test_dead_twin_intents),
		FIXTURE_TEST(test_dead_twin_intents_padding),
		FIXTURE_TEST(test_close_after_poll_padding),
		FIXTURE_TEST(test_live_claim_untouched),
		FIXTURE_TEST(test_slot_kept_until_settled),
		FIXTURE_TEST(test_polling_consumer_recovers),
		FIXTURE_TEST(test_redelivery_after_consumer_death),
		FIXTURE_TEST(test_redelivery_after_two_deaths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

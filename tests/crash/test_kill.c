/*
 * test_kill.c - processes killed at the worst instants, without busd.
 *
 * A producer process claims a record and is SIGKILLed before it commits,
 * at each point where that can happen; a consumer process is killed while
 * it holds messages it has not released.  The queue must heal by itself
 * (the consumer's own recovery, within its periodic look), deliver every
 * message of the living exactly once, skip only the dead claim, and hand
 * what the dead consumer held to its successor, flagged as redelivered.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "harness.h"

static char name[64];

/* Each test's queue in /dev/shm: made by the setup, unlinked by the teardown. */
static const struct seg_params params = {.name = "kill", .capacity = 4096};
static struct harness_shm_fixture fx = {name, sizeof(name), "kill", &params};

enum death {
	AFTER_CAS,
	AFTER_MARK,
	MID_PAYLOAD
};

struct victim {
	enum death when;
	uint32_t before;    /* messages sent before the fatal claim */
	uint32_t linger_ms; /* alive with the claim open this long, then killed */
};

/* Sends `before` messages, then dies inside a claim. */
static int victim_main(void *arg)
{
	const struct victim *v = arg;
	bus_producer *p;
	struct seg *s;
	struct ring_prod rp;
	struct rec_hdr *r;

	if (harness_producer(name, &p) < 0)
		return 1;
	for (uint32_t i = 0; i < v->before; i++)
		if (bus_send(p, 1, &i, sizeof(i), -1) < 0)
			return 2;
	s = producer_seg(p);
	ring_prod_init(&rp, s, bus_producer_slot(p));
	if (ring_claim(&rp, 200, &r) < 0)
		return 3;
	if (v->when == AFTER_CAS)
		atomic_store(&r->len, 0);
	if (v->when == MID_PAYLOAD)
		memset(ring_rec_payload(r), 0x5a, 100);
	usleep(v->linger_ms * 1000u);
	raise(SIGKILL);
	return 4;
}

static int survivor_main(void *arg)
{
	bus_producer *p;

	(void)arg;
	if (harness_producer(name, &p) < 0)
		return 1;
	for (uint32_t i = 1000; i < 1010; i++)
		if (bus_send(p, 2, &i, sizeof(i), -1) < 0)
			return 2;
	bus_producer_close(p);
	return 0;
}

/*
 * linger_ms 0: the consumer meets the claim after the death.  Otherwise it
 * waits at the claim while its owner lives, and must notice the death.
 * Started alike to test_loan_kill.c's on purpose: each crash test shows its sequence.
 */
static void producer_killed(enum death when, uint32_t linger_ms)
{
	struct victim v = {.when = when, .before = 10, .linger_ms = linger_ms};
	bus_consumer *c;
	bus_msg m;
	pid_t pid;
	uint64_t t0;

	assert_int_equal(harness_consumer(name, &c), 0);
	bus_consumer_set_spin(c, 0);
	pid = harness_fork(victim_main, &v);
	if (!linger_ms)
		assert_int_equal(harness_wait(pid, 10), 1000 + SIGKILL);
	for (uint32_t i = 0; i < 10; i++) {
		assert_int_equal(bus_recv(c, &m, 2000), 0);
		assert_int_equal(*(const uint32_t *)m.data, i);
	}
	bus_release(c);
	if (linger_ms) {
		/* Alive: its claim is waited for, not overwritten. */
		assert_int_equal(bus_recv(c, &m, (int)linger_ms / 3), -ETIMEDOUT);
		assert_int_equal(atomic_load(&consumer_seg(c)->hdr->recovered), 0);
	}
	pid_t victim = pid;

	pid = harness_fork(survivor_main, NULL);
	/*
	 * The dead claim is next: the consumer must get past it by itself,
	 * asleep at it when its owner dies if linger_ms says so.
	 */
	t0 = harness_now_ns();
	for (uint32_t i = 1000; i < 1010; i++) {
		assert_int_equal(bus_recv(c, &m, 2000), 0);
		assert_int_equal(*(const uint32_t *)m.data, i);
		assert_int_equal(m.type, 2);
	}
	assert_true(harness_now_ns() - t0 < linger_ms * 1000000u + 1000000000u);
	if (linger_ms)
		assert_int_equal(harness_wait(victim, 10), 1000 + SIGKILL);
	assert_int_equal(harness_wait(pid, 10), 0);
	assert_int_equal(bus_recv(c, &m, 0), -EAGAIN);
	assert_int_equal(atomic_load(&consumer_seg(c)->hdr->recovered), 1);
	bus_release(c);
	bus_consumer_close(c);
}

/* One function a case, alike on purpose: cmocka reports each by name. */
static void test_producer_killed_after_cas(void **state)
{
	(void)state;
	producer_killed(AFTER_CAS, 0);
}

static void test_producer_killed_after_mark(void **state)
{
	(void)state;
	producer_killed(AFTER_MARK, 0);
}

static void test_producer_killed_mid_payload(void **state)
{
	(void)state;
	producer_killed(MID_PAYLOAD, 0);
}

static void test_producer_killed_while_consumer_waits(void **state)
{
	(void)state;
	producer_killed(AFTER_MARK, 300);
}

/* Receives 0-2 and releases them, receives 3 and 4, dies holding them. */
static int dying_consumer(void *arg)
{
	bus_consumer *c;
	bus_msg m;

	(void)arg;
	if (harness_consumer(name, &c) < 0)
		return 1;
	for (int i = 0; i < 3; i++)
		if (bus_recv(c, &m, 2000) < 0)
			return 2;
	bus_release(c);
	for (int i = 0; i < 2; i++)
		if (bus_recv(c, &m, 2000) < 0)
			return 3;
	raise(SIGKILL);
	return 4;
}

static void test_consumer_killed_holding(void **state)
{
	bus_producer *p;
	bus_consumer *c, *again;
	bus_msg m;
	pid_t pid;

	(void)state;
	assert_int_equal(harness_producer(name, &p), 0);
	for (uint32_t i = 0; i < 10; i++)
		assert_int_equal(bus_send(p, 1, &i, sizeof(i), 0), 0);
	pid = harness_fork(dying_consumer, NULL);
	assert_int_equal(harness_wait(pid, 10), 1000 + SIGKILL);
	assert_int_equal(harness_consumer(name, &c), 0);
	/* A live consumer still refuses a second one. */
	assert_int_equal(harness_consumer(name, &again), -EBUSY);
	for (uint32_t i = 3; i < 10; i++) {
		assert_int_equal(bus_recv(c, &m, 0), 0);
		assert_int_equal(*(const uint32_t *)m.data, i);
		assert_int_equal(m.flags, i < 5 ? BUS_MSG_REDELIVERED : 0);
	}
	assert_int_equal(bus_recv(c, &m, 0), -EAGAIN);
	assert_int_equal(atomic_load(&consumer_seg(c)->hdr->cons.redelivered), 2);
	bus_release(c);
	bus_consumer_close(c);
	bus_producer_close(p);
}

/* Each test runs with the queue of fx. */
HARNESS_MAIN(HARNESS_SHM_TEST(test_producer_killed_after_cas, &fx),
             HARNESS_SHM_TEST(test_producer_killed_after_mark, &fx),
             HARNESS_SHM_TEST(test_producer_killed_mid_payload, &fx),
             HARNESS_SHM_TEST(test_producer_killed_while_consumer_waits, &fx),
             HARNESS_SHM_TEST(test_consumer_killed_holding, &fx))

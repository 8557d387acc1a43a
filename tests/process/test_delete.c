/*
 * test_delete.c - a deleted queue: -EPIPE for everyone, after the drain.
 *
 * busd deletes a queue with seg_set_deleted(); here the parent plays
 * busd.  A consumer asleep on the empty queue and a producer asleep on a
 * full one, each in its own process, must wake and get -EPIPE; a
 * consumer with messages left must receive all of them first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "harness.h"

static char name[64];

/* Each test's queue in /dev/shm: made by the setup, unlinked by the teardown. */
static const struct seg_params params = {.name = "delete", .capacity = 1024};
static struct harness_shm_fixture fx = {name, sizeof(name), "delete", &params};

static void delete_queue(void)
{
	struct seg s;
	const char *why;

	assert_int_equal(seg_open_shm(name, &s, &why), 0);
	seg_set_deleted(&s, &wait_futex_ops);
	seg_close(&s);
}

/* Exit 0: woke with -EPIPE; 1: attach; 2: other result. */
static int sleeping_consumer(void *arg)
{
	bus_consumer *c;
	bus_msg m;
	int r;

	(void)arg;
	if (harness_consumer(name, &c) < 0)
		return 1;
	bus_consumer_set_spin(c, 0);
	r = bus_recv(c, &m, -1);
	bus_consumer_close(c);
	return r == -EPIPE ? 0 : 2;
}

static int sleeping_producer(void *arg)
{
	bus_producer *p;
	char buf[64] = {0};
	int r;

	(void)arg;
	if (harness_producer(name, &p) < 0)
		return 1;
	bus_producer_set_spin(p, 0);
	while ((r = bus_send(p, 1, buf, sizeof(buf), -1)) == 0)
		;
	bus_producer_close(p);
	return r == -EPIPE ? 0 : 2;
}

/* The counter by which a child shows it sleeps on the queue. */
static uint64_t asleep(const struct seg *s, bool producer)
{
	return producer ? atomic_load(&s->slots[0].blocked)
	                : atomic_load(&s->hdr->cons.sleeps);
}

/*
 * Runs child in its own process, waits (10 s at most) until it sleeps on
 * the queue, deletes the queue and checks that the child woke to -EPIPE.
 */
static void delete_under_sleeper(int (*child)(void *), bool producer)
{
	struct seg s;
	const char *why;
	uint64_t deadline = harness_now_ns() + 10000000000u;
	pid_t pid;

	pid = harness_fork(child, NULL);
	assert_true(pid > 0);
	assert_int_equal(seg_open_shm(name, &s, &why), 0);
	while (asleep(&s, producer) == 0 && harness_now_ns() < deadline)
		usleep(1000);
	assert_true(asleep(&s, producer) > 0);
	seg_set_deleted(&s, &wait_futex_ops);
	seg_close(&s);
	assert_int_equal(harness_wait(pid, 10), 0);
}

static void test_sleeping_consumer_wakes(void **state)
{
	(void)state;
	delete_under_sleeper(sleeping_consumer, false);
}

static void test_blocked_producer_wakes(void **state)
{
	(void)state;
	delete_under_sleeper(sleeping_producer, true);
}

/* What was queued before the delete is delivered, then -EPIPE. */
static void test_drain_then_epipe(void **state)
{
	bus_producer *p;
	bus_consumer *c;
	bus_msg m;

	(void)state;
	assert_int_equal(harness_producer(name, &p), 0);
	assert_int_equal(harness_consumer(name, &c), 0);
	for (uint32_t i = 0; i < 5; i++)
		assert_int_equal(bus_send(p, 1, &i, sizeof(i), 0), 0);
	delete_queue();
	assert_int_equal(bus_send(p, 1, "x", 1, 0), -EPIPE);
	assert_int_equal(bus_send(p, 1, "x", 1, -1), -EPIPE);
	for (uint32_t i = 0; i < 5; i++) {
		assert_int_equal(bus_recv(c, &m, -1), 0);
		assert_int_equal(*(const uint32_t *)m.data, i);
	}
	assert_int_equal(bus_recv(c, &m, 0), -EPIPE);
	assert_int_equal(bus_recv(c, &m, -1), -EPIPE);
	bus_consumer_close(c);
	bus_producer_close(p);
}

/* Each test runs with the queue of fx. */
HARNESS_MAIN(HARNESS_SHM_TEST(test_sleeping_consumer_wakes, &fx),
             HARNESS_SHM_TEST(test_blocked_producer_wakes, &fx),
             HARNESS_SHM_TEST(test_drain_then_epipe, &fx))

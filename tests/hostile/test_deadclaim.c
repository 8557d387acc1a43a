/*
 * test_deadclaim.c - a producer dies between its claim and its commit,
 * and the space of its claim must come back at once.
 *
 * A 4 KiB queue holds one 992-byte message (1 KiB of ring).  A producer
 * claims a 2,016-byte record (2 KiB) and is SIGKILLed before it commits.
 * The message is received and released.  What is left in the ring is the
 * dead claim alone, and a 2,016-byte send needs 2 KiB more than that:
 * it fits only once the dead claim's space is given back.
 *
 *  - busd_recovers: the message was received before the claim, and no
 *    consumer is attached when the producer dies.  busd sees the death
 *    (the producer attached through busd, so busd watches it), and as
 *    nobody holds the consumer lease it takes it for a moment, recovers
 *    the claim and gives its space back: the send succeeds with no
 *    consumer at all.
 *  - consumer_closes: no consumer when the producer dies, the message
 *    still in front of the claim.  A consumer then receives the message,
 *    releases it and closes: closing steps over the dead claim behind it
 *    and gives its space back.
 *  - consumer_waits: a consumer waits in recv when the producer dies; it
 *    recovers the claim and, holding nothing, gives the space back at
 *    once, before any other message comes.
 *  - consumer_polls: the producer attached straight to the segment, so
 *    busd knows nothing of its death; a consumer that polls (timeout 0)
 *    recovers the claim and gives the space back.
 *
 * Each then checks that the consumer receives exactly what was sent and
 * that the stats read depth 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "handle.h"
#include "harness.h"
#include "recover.h"
#include "ring.h"
#include "segment.h"

#define QUEUE "dead"
#define SMALL 992  /* a 1 KiB record */
#define LARGE 2016 /* a 2 KiB record: the largest a 4 KiB queue takes */

static char sock[300];

/*
 * The victim: attaches (through busd, or straight to the segment at
 * path), claims a LARGE record with the ring's own claim, and dies
 * before the commit.
 */
static int claim_and_die(void *arg)
{
	const char *path = arg;
	bus *b;
	bus_producer *p;
	struct ring_prod rp;
	struct rec_hdr *r;

	if (path) {
		int fd = open(path, O_RDWR | O_CLOEXEC);

		if (fd < 0 || bus_producer_open_fd(fd, &p) < 0)
			return 10;
	} else if (bus_open(sock, &b) < 0 || bus_producer_open(b, QUEUE, &p) < 0) {
		return 11;
	}
	ring_prod_init(&rp, producer_seg(p), bus_producer_slot(p));
	if (ring_claim(&rp, LARGE, &r) < 0)
		return 12;
	memset(ring_rec_payload(r), 'x', LARGE / 2);
	raise(SIGKILL);
	return 13;
}

static void send_one(bus_producer *p, size_t len, int timeout_ms, int expect)
{
	static char buf[LARGE];
	int rc;

	memset(buf, 'm', len);
	rc = bus_send(p, 0, buf, len, timeout_ms);
	if (rc != expect)
		fail_msg("a %zu-byte send returned %s, expected %s", len,
		         bus_strerror(rc), bus_strerror(expect));
}

/* Creates the queue; returns a producer that sent SMALL into it. */
static bus_producer *setup(struct e2e *e, bus *b)
{
	bus_producer *p;

	snprintf(sock, sizeof(sock), "%s", e->socket);
	e2e_create(e, QUEUE, "4K");
	assert_int_equal(bus_producer_open(b, QUEUE, &p), 0);
	send_one(p, SMALL, 0, 0);
	return p;
}

/* A producer claims LARGE and dies (through busd, or straight). */
static void kill_claimer(struct e2e *e, bool straight)
{
	static char path[300];
	pid_t victim;

	if (straight)
		assert_true(e2e_shm_path(e, QUEUE, path, sizeof(path)));
	victim = e2e_fork(e, claim_and_die, straight ? path : NULL);
	assert_int_equal(e2e_wait(e, victim, 30), 1000 + SIGKILL);
}

static void expect_depth(struct e2e *e, bus *b, uint64_t msgs, uint64_t bytes)
{
	bus_stats st;

	assert_int_equal(bus_queue_stats(b, QUEUE, &st), 0);
	if (st.depth_msgs != msgs || st.depth_bytes != bytes) {
		e2e_dump_log(e);
		fail_msg("depth %llu messages, %llu bytes; expected %llu, %llu",
		         (unsigned long long)st.depth_msgs,
		         (unsigned long long)st.depth_bytes, (unsigned long long)msgs,
		         (unsigned long long)bytes);
	}
}

/* Receives one message of len bytes and releases it. */
static void recv_one(bus_consumer *c, size_t len)
{
	bus_msg m;

	assert_int_equal(bus_recv(c, &m, 5000), 0);
	assert_int_equal(m.len, len);
	bus_release(c);
}

/* The space is back: LARGE fits; a consumer gets it and nothing else. */
static void finish(struct e2e *e, bus *b, bus_producer *p, bus_consumer *c)
{
	bus_msg m;

	send_one(p, LARGE, 3000, 0);
	/* padding from 3 KiB to the end, then the record at the start */
	expect_depth(e, b, 1, 1024 + 2048);
	if (!c)
		assert_int_equal(bus_consumer_open(b, QUEUE, &c), 0);
	recv_one(c, LARGE);
	assert_int_equal(bus_recv(c, &m, 0), -EAGAIN);
	expect_depth(e, b, 0, 0);
	bus_consumer_close(c);
	bus_producer_close(p);
	bus_close(b);
}

/* A consumer that has received the first message (SMALL). */
static bus_consumer *open_first(bus *b)
{
	bus_consumer *c;

	assert_int_equal(bus_consumer_open(b, QUEUE, &c), 0);
	recv_one(c, SMALL);
	return c;
}

static void busd_recovers(void **state)
{
	struct e2e *e = *state;
	bus *b = e2e_open(e);
	bus_producer *p = setup(e, b);

	bus_consumer_close(open_first(b));
	kill_claimer(e, false);
	finish(e, b, p, NULL);
}

static void consumer_closes(void **state)
{
	struct e2e *e = *state;
	bus *b = e2e_open(e);
	bus_producer *p = setup(e, b);

	kill_claimer(e, false);
	bus_consumer_close(open_first(b));
	finish(e, b, p, NULL);
}

/* A consumer blocked in bus_recv while the claim is stuck at its cursor. */
static void wait_blocked(bus_consumer *c)
{
	bus_msg m;

	assert_int_equal(bus_recv(c, &m, 300), -ETIMEDOUT);
}

/* It tries recovery once the claim has sat at its cursor a while. */
static void wait_polling(bus_consumer *c)
{
	bus_msg m;

	for (int i = 0; i < 50; i++) {
		assert_int_equal(bus_recv(c, &m, 0), -EAGAIN);
		e2e_sleep_ms(2);
	}
}

/*
 * A consumer that received the first message stays while the claimer
 * dies straight, waits as wait does; then the queue is empty.
 */
static void consumer_stays(void **state, void (*wait)(bus_consumer *c))
{
	struct e2e *e = *state;
	bus *b = e2e_open(e);
	bus_producer *p = setup(e, b);
	bus_consumer *c = open_first(b);

	kill_claimer(e, true);
	wait(c);
	expect_depth(e, b, 0, 0);
	finish(e, b, p, c);
}

static void consumer_waits(void **state)
{
	consumer_stays(state, wait_blocked);
}

static void consumer_polls(void **state)
{
	consumer_stays(state, wait_polling);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		E2E_TEST(busd_recovers),
		E2E_TEST(consumer_closes),
		E2E_TEST(consumer_waits),
		E2E_TEST(consumer_polls),
	};

	return E2E_RUN_GROUP("hostile deadclaim", tests);
}

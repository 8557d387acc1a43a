/*
 * test_loan_kill.c - a producer SIGKILLed with a loan open.
 *
 * A loan (bus_send_reserve) claims its record as bus_send() does, so a
 * producer killed between reserve and commit must be recovered as one
 * killed inside bus_send(): the consumer skips the dead claim by itself,
 * counts it recovered, and every message of the living producers (plain
 * sends and loans, committed shorter or aborted) arrives exactly once, in
 * order per producer, with its exact length and contents.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "harness.h"
#include "recover.h"

#define PER_SURVIVOR 300
#define SURVIVORS    2

static char name[64];

/* Each test's queue in /dev/shm: made by the setup, unlinked by the teardown. */
static const struct seg_params params = {.name = "loankill", .capacity = 4096};
static struct harness_shm_fixture fx = {name, sizeof(name), "loankill", &params};

/* Message i of producer `who`: 4 to 67 bytes of a pattern of (who, i). */
static size_t msg_len(uint32_t i)
{
	return 4 + (i * 13) % 64;
}

static void msg_fill(uint8_t *b, uint32_t who, uint32_t i)
{
	size_t n = msg_len(i);

	memcpy(b, &i, sizeof(i));
	for (size_t k = sizeof(i); k < n; k++)
		b[k] = (uint8_t)(who * 31 + i + k);
}

static bool msg_ok(const bus_msg *m, uint32_t who, uint32_t i)
{
	uint8_t want[80];

	if (m->len != msg_len(i))
		return false;
	msg_fill(want, who, i);
	return memcmp(m->data, want, m->len) == 0;
}

struct victim {
	uint32_t before;    /* loans committed before the fatal one */
	uint32_t linger_ms; /* alive with the loan open this long, then killed */
	bool written;       /* the payload written (in part) before the death */
};

/* Commits `before` loans (one in three aborted first), then dies in one. */
static int victim_main(void *arg)
{
	const struct victim *v = arg;
	bus_producer *p;
	void *buf;

	if (harness_producer(name, &p) < 0)
		return 1;
	for (uint32_t i = 0; i < v->before; i++) {
		if (i % 3 == 0) {
			if (bus_send_reserve(p, 100, -1, &buf) < 0)
				return 2;
			memset(buf, 0xdd, 100);
			bus_send_abort(p);
		}
		if (bus_send_reserve(p, 100, -1, &buf) < 0)
			return 3;
		msg_fill(buf, 1, i);
		if (bus_send_commit(p, 1, msg_len(i)) < 0)
			return 4;
	}
	if (bus_send_reserve(p, 200, -1, &buf) < 0)
		return 5;
	if (v->written)
		memset(buf, 0x5a, 150);
	usleep(v->linger_ms * 1000u);
	raise(SIGKILL);
	return 6;
}

/* Sends PER_SURVIVOR messages, plain (type 2) or as loans (type 3). */
static int survivor_main(void *arg)
{
	bool loans = *(const bool *)arg;
	uint32_t who = loans ? 3 : 2;
	uint8_t b[80];
	bus_producer *p;
	void *buf;

	if (harness_producer(name, &p) < 0)
		return 1;
	for (uint32_t i = 0; i < PER_SURVIVOR; i++) {
		if (!loans) {
			msg_fill(b, who, i);
			if (bus_send(p, who, b, msg_len(i), -1) < 0)
				return 2;
			continue;
		}
		if (i % 5 == 0) {
			if (bus_send_reserve(p, 64, -1, &buf) < 0)
				return 3;
			bus_send_abort(p);
		}
		if (bus_send_reserve(p, 72, -1, &buf) < 0)
			return 4;
		msg_fill(buf, who, i);
		if (bus_send_commit(p, who, msg_len(i)) < 0)
			return 5;
	}
	bus_producer_close(p);
	return 0;
}

/*
 * linger_ms 0: the consumer meets the dead claim after the death.
 * Otherwise it waits at the claim while its owner lives (the survivors'
 * messages queue up behind it, and they block on the full ring), and
 * must notice the death by itself.
 */
static void loan_killed(uint32_t linger_ms, bool written)
{
	struct victim v = {.before = 10, .linger_ms = linger_ms, .written = written};
	bool kinds[SURVIVORS] = {false, true};
	uint32_t next[4] = {0};
	pid_t victim, surv[SURVIVORS];
	bus_producer *after;
	bus_consumer *c;
	bus_msg m;

	/* started as in test_kill.c on purpose: each crash test shows its sequence */
	assert_int_equal(harness_consumer(name, &c), 0);
	bus_consumer_set_spin(c, 0);
	victim = harness_fork(victim_main, &v);
	if (!linger_ms)
		assert_int_equal(harness_wait(victim, 10), 1000 + SIGKILL);
	for (uint32_t i = 0; i < v.before; i++) {
		assert_int_equal(bus_recv(c, &m, 2000), 0);
		assert_int_equal(m.type, 1);
		assert_true(msg_ok(&m, 1, i));
		assert_int_equal(m.seq, i); /* aborts spend no sequence number */
	}
	bus_release(c);
	if (linger_ms) {
		/* Alive: its loan is waited for, not overwritten. */
		assert_int_equal(bus_recv(c, &m, (int)linger_ms / 3), -ETIMEDOUT);
		assert_int_equal(atomic_load(&consumer_seg(c)->hdr->recovered), 0);
	}
	for (int k = 0; k < SURVIVORS; k++)
		surv[k] = harness_fork(survivor_main, &kinds[k]);
	for (uint32_t n = 0; n < SURVIVORS * PER_SURVIVOR; n++) {
		assert_int_equal(bus_recv(c, &m, (int)linger_ms + 5000), 0);
		assert_true(m.type == 2 || m.type == 3);
		assert_true(msg_ok(&m, m.type, next[m.type]));
		next[m.type]++;
		bus_release(c);
	}
	assert_int_equal(next[2], PER_SURVIVOR);
	assert_int_equal(next[3], PER_SURVIVOR);
	if (linger_ms)
		assert_int_equal(harness_wait(victim, 10), 1000 + SIGKILL);
	for (int k = 0; k < SURVIVORS; k++)
		assert_int_equal(harness_wait(surv[k], 10), 0);
	assert_int_equal(bus_recv(c, &m, 0), -EAGAIN);
	assert_int_equal(atomic_load(&consumer_seg(c)->hdr->recovered), 1);

	/* The dead producer's slot (the first) is settled, free for anyone. */
	assert_true(recover_slot_settled(consumer_seg(c), 0));
	assert_int_equal(harness_producer(name, &after), 0);
	assert_int_equal(bus_send(after, 4, "x", 1, 0), 0);
	assert_int_equal(bus_recv(c, &m, 1000), 0);
	assert_int_equal(m.type, 4);
	bus_release(c);
	bus_producer_close(after);
	bus_consumer_close(c);
}

static void test_loan_killed_unwritten(void **state)
{
	(void)state;
	loan_killed(0, false);
}

static void test_loan_killed_written(void **state)
{
	(void)state;
	loan_killed(0, true);
}

static void test_loan_killed_while_consumer_waits(void **state)
{
	(void)state;
	loan_killed(300, true);
}

/* Each test runs with the queue of fx. */
HARNESS_MAIN(HARNESS_SHM_TEST(test_loan_killed_unwritten, &fx),
             HARNESS_SHM_TEST(test_loan_killed_written, &fx),
             HARNESS_SHM_TEST(test_loan_killed_while_consumer_waits, &fx))

/*
 * test_pingpong.c - no lost wakeup between two sleeping processes.
 *
 * Two forked processes share two queues: "ping" sends round r on A->B and
 * waits for it back on B->A; "pong" waits on A->B and echoes.  Every
 * handle has spin 0 and every receive blocks with timeout -1, so each
 * round trip goes through the futex sleep/wake path on both queues.  Each
 * message carries its round number and each side checks it (and that the
 * library's msg.seq equals it).  A lost wakeup leaves both sides asleep
 * forever: the parent's harness_wait deadline then kills them and the
 * test fails with status -1.  Other failures are the children's exit
 * codes (enum below).  The achieved round trips per second are printed
 * for information only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <cmocka.h>

#include "harness.h"

#define ROUNDS     HARNESS_SCALE(1000000, 50000)
#define DEADLINE_S 240

enum {
	EX_ATTACH = 10, /* could not attach */
	EX_SEND,        /* bus_send failed */
	EX_RECV,        /* bus_recv failed */
	EX_LEN,         /* message of the wrong size or type */
	EX_ROUND,       /* round number not the expected one */
	EX_SEQ,         /* msg.seq not the round number */
	EX_EXTRA,       /* something left in a queue at the end */
};

struct side {
	const char *out; /* queue this side produces into */
	const char *in;  /* queue this side consumes */
	bool starts;     /* ping: send first */
};

/* Receives round r on c: checks size, type, round number and seq. */
static int expect_round(bus_consumer *c, uint64_t r)
{
	uint64_t got;
	bus_msg m;
	int rc = bus_recv(c, &m, -1);

	if (rc < 0) {
		fprintf(stderr, "pid %d: bus_recv: %s\n", (int)getpid(),
		        bus_strerror(rc));
		return EX_RECV;
	}
	if (m.len != sizeof(got) || m.type != 1)
		return EX_LEN;
	memcpy(&got, m.data, sizeof(got));
	bus_release(c);
	if (got != r) {
		fprintf(stderr, "pid %d: round %llu, expected %llu\n", (int)getpid(),
		        (unsigned long long)got, (unsigned long long)r);
		return EX_ROUND;
	}
	if (m.seq != r)
		return EX_SEQ;
	return 0;
}

static int side_main(void *arg)
{
	const struct side *sd = arg;
	bus_producer *p = NULL;
	bus_consumer *c = NULL;
	int rc = 0;
	bus_msg m;

	if (harness_producer(sd->out, &p) < 0 || harness_consumer(sd->in, &c) < 0) {
		bus_producer_close(p);
		return EX_ATTACH;
	}
	bus_producer_set_spin(p, 0);
	bus_consumer_set_spin(c, 0);
	for (uint64_t r = 0; r < (uint64_t)ROUNDS && rc == 0; r++) {
		if (!sd->starts)
			rc = expect_round(c, r);
		if (rc == 0 && bus_send(p, 1, &r, sizeof(r), -1) < 0)
			rc = EX_SEND;
		if (rc == 0 && sd->starts)
			rc = expect_round(c, r);
	}
	if (rc == 0 && bus_recv(c, &m, 0) != -EAGAIN)
		rc = EX_EXTRA;
	bus_consumer_close(c);
	bus_producer_close(p);
	return rc;
}

struct qstats {
	uint64_t sleeps, wakes, msgs;
};

/* The consumer sleeps and the producers' wake calls of a queue. */
static int read_qstats(const char *name, struct qstats *q)
{
	struct seg s;
	const char *why = NULL;
	int rc = seg_open_shm(name, &s, &why);

	memset(q, 0, sizeof(*q));
	if (rc < 0)
		return rc;
	q->sleeps = atomic_load(&s.hdr->cons.sleeps);
	q->msgs = atomic_load(&s.hdr->cons.msgs);
	for (uint32_t i = 0; i < s.max_producers; i++)
		q->wakes += atomic_load(&s.slots[i].wakes);
	seg_close(&s);
	return 0;
}

static void test_pingpong(void **state)
{
	struct seg_params params = {.name = "pingpong", .capacity = 4096};
	char ab[64], ba[64];
	struct side ping, pong;
	struct qstats qa, qb;
	int st_ping, st_pong, ra, rb;
	pid_t pid_ping, pid_pong;
	uint64_t t0, ns;

	(void)state;
	assert_int_equal(harness_shm_new(ab, sizeof(ab), "ab", &params), 0);
	if (harness_shm_new(ba, sizeof(ba), "ba", &params) < 0) {
		shm_unlink(ab);
		fail_msg("cannot create %s", ba);
	}
	ping = (struct side){.out = ab, .in = ba, .starts = true};
	pong = (struct side){.out = ba, .in = ab, .starts = false};

	t0 = harness_now_ns();
	pid_ping = harness_fork(side_main, &ping);
	pid_pong = pid_ping > 0 ? harness_fork(side_main, &pong) : -1;
	if (pid_pong < 0) {
		if (pid_ping > 0) {
			kill(pid_ping, SIGKILL);
			harness_wait(pid_ping, 10);
		}
		shm_unlink(ab);
		shm_unlink(ba);
		fail_msg("fork: %s", strerror(errno));
	}
	st_ping = harness_wait(pid_ping, DEADLINE_S);
	if (st_ping == -1)
		kill(pid_pong, SIGKILL);
	st_pong = harness_wait(pid_pong, st_ping == -1 ? 10 : 30);
	ns = harness_now_ns() - t0;
	ra = read_qstats(ab, &qa);
	rb = read_qstats(ba, &qb);
	shm_unlink(ab);
	shm_unlink(ba);

	printf("# %d round trips in %.2f s: %.0f round trips/s (information "
	       "only)\n",
	       ROUNDS, (double)ns / 1e9, ROUNDS / ((double)ns / 1e9));
	printf("# A->B: %llu consumer sleeps, %llu wake calls; B->A: %llu, %llu\n",
	       (unsigned long long)qa.sleeps, (unsigned long long)qa.wakes,
	       (unsigned long long)qb.sleeps, (unsigned long long)qb.wakes);

	/* -1: killed at the deadline, most likely asleep after a lost wakeup. */
	assert_int_equal(st_ping, 0);
	assert_int_equal(st_pong, 0);
	assert_int_equal(ra, 0);
	assert_int_equal(rb, 0);
	assert_int_equal(qa.msgs, (uint64_t)ROUNDS);
	assert_int_equal(qb.msgs, (uint64_t)ROUNDS);
	/* The sleep/wake path was taken on both queues, not only spinning. */
	assert_true(qa.sleeps >= 1 && qb.sleeps >= 1);
	assert_true(qa.wakes >= 1 && qb.wakes >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pingpong),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

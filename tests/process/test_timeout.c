/*
 * test_timeout.c - timed receives and sends keep their deadlines.
 *
 * - bus_recv on an empty queue with timeout 200 ms returns -ETIMEDOUT
 *   after at least 200 ms (and within a generous bound); timeout 0
 *   returns -EAGAIN at once without sleeping.
 * - bus_send on a full queue: timeout 0 gives -EAGAIN at once, 200 ms
 *   gives -ETIMEDOUT after at least 200 ms, and neither claims anything:
 *   the tail does not move and the next message gets the next sequence
 *   number, right after the ones sent before.
 * - A timed receive (2 s) that gets a message sent by another process
 *   after 100 ms returns it at once; a timed send (2 s) on a full queue
 *   returns once another process frees space after 100 ms.
 * - Signals do not break timeouts: with a SIGALRM handler installed
 *   without SA_RESTART and an interval timer firing every 20 ms, a 300 ms
 *   receive and a 300 ms send still return -ETIMEDOUT after >= 300 ms, and
 *   a receive without timeout still waits for the message.
 *
 * A failure shows as a cmocka assertion in the parent (return code or
 * elapsed time), or as a child's exit code (enum below).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <sys/time.h>
#include <cmocka.h>

#include "harness.h"

#define MSG_LEN  100
#define SLACK_MS 1000 /* how late a timed call may return: generous */

enum {
	EX_ATTACH = 10, /* could not attach */
	EX_PIPE,        /* the go byte did not come */
	EX_SEND,        /* bus_send failed */
	EX_RECV,        /* bus_recv failed */
	EX_PAYLOAD,     /* received the wrong message */
};

static double ms_since(uint64_t t0)
{
	return (double)(harness_now_ns() - t0) / 1e6;
}

/* A message: its counter, then bytes derived from it. */
static void fill(uint8_t *buf, uint64_t counter)
{
	for (size_t i = 0; i < MSG_LEN; i++)
		buf[i] = (uint8_t)(counter * 13 + i);
	memcpy(buf, &counter, sizeof(counter));
}

static bool is_msg(const bus_msg *m, uint64_t counter)
{
	uint8_t want[MSG_LEN];

	fill(want, counter);
	return m->len == MSG_LEN && memcmp(m->data, want, MSG_LEN) == 0;
}

/* One queue per test, named here, unlinked by the teardown. */
struct fixture {
	char name[64];
	int go[2]; /* parent -> child: "start now" */
};

static int setup(void **state)
{
	static struct fixture fx;
	struct seg_params params = {.name = "timeout", .capacity = 4096};

	if (harness_shm_new(fx.name, sizeof(fx.name), "timeout", &params) < 0)
		return -1;
	if (pipe(fx.go) < 0) {
		shm_unlink(fx.name);
		return -1;
	}
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	shm_unlink(fx->name);
	close(fx->go[0]);
	close(fx->go[1]);
	return 0;
}

/* Child side of the go pipe: waits for the parent's byte. */
static bool wait_go(struct fixture *fx)
{
	char b;

	close(fx->go[1]);
	return read(fx->go[0], &b, 1) == 1;
}

static void send_go(struct fixture *fx)
{
	assert_int_equal(write(fx->go[1], "g", 1), 1);
}

/* Fills the queue with timeout-0 sends; returns how many fit. */
static uint64_t fill_queue(bus_producer *p)
{
	uint8_t buf[MSG_LEN];
	uint64_t n = 0;
	int r;

	for (;;) {
		fill(buf, n);
		r = bus_send(p, 3, buf, sizeof(buf), 0);
		if (r == -EAGAIN)
			return n;
		assert_int_equal(r, 0);
		n++;
	}
}

/* Receives messages from..to-1 in order, then nothing. */
static void drain_in_order(bus_consumer *c, uint64_t from, uint64_t to)
{
	bus_msg m;

	for (uint64_t i = from; i < to; i++) {
		assert_int_equal(bus_recv(c, &m, 0), 0);
		assert_int_equal(m.seq, i);
		assert_true(is_msg(&m, i));
		bus_release(c);
	}
	assert_int_equal(bus_recv(c, &m, 0), -EAGAIN);
}

/* What the header of the named queue holds now: its tail, or cons.sleeps. */
enum counter {
	TAIL,
	SLEEPS
};

static uint64_t seg_load(const char *name, enum counter which)
{
	struct seg s;
	const char *why = NULL;
	uint64_t v;

	assert_int_equal(seg_open_shm(name, &s, &why), 0);
	v = which == TAIL ? atomic_load(&s.hdr->tail) : atomic_load(&s.hdr->cons.sleeps);
	seg_close(&s);
	return v;
}

/* bus_recv and bus_send, timed: *ms is how long the call took. */
static int timed_recv(bus_consumer *c, bus_msg *m, int timeout_ms, double *ms)
{
	uint64_t t0 = harness_now_ns();
	int r = bus_recv(c, m, timeout_ms);

	*ms = ms_since(t0);
	return r;
}

static int timed_send(bus_producer *p, const uint8_t *buf, int timeout_ms, double *ms)
{
	uint64_t t0 = harness_now_ns();
	int r = bus_send(p, 3, buf, MSG_LEN, timeout_ms);

	*ms = ms_since(t0);
	return r;
}

/* A call with a timeout of want_ms timed out, neither early nor late. */
static void check_timed_out(int r, double ms, double want_ms)
{
	assert_int_equal(r, -ETIMEDOUT);
	assert_true(ms >= want_ms);
	assert_true(ms < want_ms + SLACK_MS);
}

/* Attaching (r) failed: the child pid is killed before the check fails. */
static void attached_or_kill(int r, pid_t pid, const char *what)
{
	if (r < 0) {
		kill(pid, SIGKILL);
		harness_wait(pid, 10);
		fail_msg("%s attach", what);
	}
}

/* A fresh consumer receives from..to-1 in order, then nothing. */
static void drain_fresh(struct fixture *fx, uint64_t from, uint64_t to)
{
	bus_consumer *c;

	assert_int_equal(harness_consumer(fx->name, &c), 0);
	drain_in_order(c, from, to);
	bus_consumer_close(c);
}

/* A timed bus_recv by a consumer attached for it alone. */
static int recv_fresh(struct fixture *fx, int timeout_ms, double *ms)
{
	bus_consumer *c;
	bus_msg m;
	int r;

	assert_int_equal(harness_consumer(fx->name, &c), 0);
	r = timed_recv(c, &m, timeout_ms, ms);
	bus_consumer_close(c);
	return r;
}

/* ---- plain timeouts ---- */

static void test_recv_timeout_empty(void **state)
{
	struct fixture *fx = *state;
	double ms;
	int r = recv_fresh(fx, 200, &ms);

	printf("# recv timeout 200 ms: returned after %.1f ms\n", ms);
	check_timed_out(r, ms, 200.0);
	assert_true(seg_load(fx->name, SLEEPS) >= 1);
}

static void test_recv_timeout_zero(void **state)
{
	struct fixture *fx = *state;
	double ms;
	int r = recv_fresh(fx, 0, &ms);

	assert_int_equal(r, -EAGAIN);
	assert_true(ms < 100.0);
	/* Timeout 0 never sleeps. */
	assert_int_equal(seg_load(fx->name, SLEEPS), 0);
}

static void test_send_timeout_full(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[MSG_LEN];
	bus_producer *p;
	bus_consumer *c;
	uint64_t n, tail;
	double ms0, ms;
	bus_msg m;
	int r0, r;

	assert_int_equal(harness_producer(fx->name, &p), 0);
	n = fill_queue(p);
	assert_true(n > 0);
	tail = seg_load(fx->name, TAIL);

	fill(buf, n);
	r0 = timed_send(p, buf, 0, &ms0);
	r = timed_send(p, buf, 200, &ms);
	printf("# send timeout 200 ms on a full queue: returned after %.1f ms\n",
	       ms);
	assert_int_equal(r0, -EAGAIN);
	assert_true(ms0 < 100.0);
	check_timed_out(r, ms, 200.0);
	/* Nothing was claimed: the tail stayed where the last success left it. */
	assert_int_equal(seg_load(fx->name, TAIL), tail);

	/* The messages before are intact and in order, with nothing between. */
	assert_int_equal(harness_consumer(fx->name, &c), 0);
	drain_in_order(c, 0, n);
	/* The next send takes the next sequence number: no gap, no ghost. */
	assert_int_equal(bus_send(p, 3, buf, sizeof(buf), 0), 0);
	assert_int_equal(bus_recv(c, &m, 0), 0);
	assert_int_equal(m.seq, n);
	assert_true(is_msg(&m, n));
	bus_release(c);
	assert_int_equal(bus_recv(c, &m, 0), -EAGAIN);
	bus_consumer_close(c);
	bus_producer_close(p);
}

/* ---- a wait that ends early because another process acted ---- */

/*
 * A child's start: attaches its producer (p) or its consumer (c, when p
 * is NULL), then waits for the parent's "go".  Returns 0, or the exit
 * status that says which step failed.
 */
static int child_start(struct fixture *fx, bus_producer **p, bus_consumer **c)
{
	if ((p ? harness_producer(fx->name, p) : harness_consumer(fx->name, c)) < 0)
		return EX_ATTACH;
	if (!wait_go(fx)) {
		if (p)
			bus_producer_close(*p);
		else
			bus_consumer_close(*c);
		return EX_PIPE;
	}
	return 0;
}

/* A child that sends message 0 a pause after the parent's "go". */
struct sender {
	struct fixture *fx;
	useconds_t pause_us;
};

static int late_sender(void *arg)
{
	const struct sender *sd = arg;
	struct fixture *fx = sd->fx;
	uint8_t buf[MSG_LEN];
	bus_producer *p;
	int r;

	r = child_start(fx, &p, NULL);
	if (r != 0)
		return r;
	usleep(sd->pause_us);
	fill(buf, 0);
	r = bus_send(p, 3, buf, sizeof(buf), 0);
	bus_producer_close(p);
	return r == 0 ? 0 : EX_SEND;
}

/*
 * Forks a late_sender whose message 0 comes pause_us after the go, and
 * attaches *c as its consumer; returns the child's pid.
 */
static pid_t start_late_sender(struct fixture *fx, useconds_t pause_us, bus_consumer **c)
{
	pid_t pid = harness_fork(late_sender, &(struct sender){fx, pause_us});

	assert_true(pid > 0);
	attached_or_kill(harness_consumer(fx->name, c), pid, "consumer");
	return pid;
}

static void test_recv_gets_message_mid_wait(void **state)
{
	struct fixture *fx = *state;
	bus_consumer *c;
	bus_msg m;
	double ms;
	bool right;
	pid_t pid;
	int r;

	pid = start_late_sender(fx, 100000, &c);
	send_go(fx);
	r = timed_recv(c, &m, 2000, &ms);
	right = r == 0 && is_msg(&m, 0) && m.seq == 0;
	bus_consumer_close(c);
	printf("# recv timeout 2 s, message sent after 100 ms: returned after "
	       "%.1f ms\n",
	       ms);
	assert_int_equal(harness_wait(pid, 10), 0);
	assert_int_equal(r, 0);
	assert_true(right);
	assert_true(ms >= 90.0);
	assert_true(ms < 1500.0);
}

static int late_releaser(void *arg)
{
	struct fixture *fx = arg;
	bus_consumer *c;
	bus_msg m;
	int r;

	r = child_start(fx, NULL, &c);
	if (r != 0)
		return r;
	usleep(100000);
	/* Two records free room for one more even if it needs padding. */
	for (uint64_t i = 0; i < 2; i++) {
		r = bus_recv(c, &m, 0);
		if (r < 0) {
			bus_consumer_close(c);
			return EX_RECV;
		}
		if (m.seq != i || !is_msg(&m, i)) {
			bus_consumer_close(c);
			return EX_PAYLOAD;
		}
	}
	bus_release(c);
	bus_consumer_close(c);
	return 0;
}

static void test_send_gets_space_mid_wait(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[MSG_LEN];
	bus_producer *p;
	uint64_t n;
	int r, status;
	double ms;
	pid_t pid;

	pid = harness_fork(late_releaser, fx);
	assert_true(pid > 0);
	attached_or_kill(harness_producer(fx->name, &p), pid, "producer");
	n = fill_queue(p);
	send_go(fx);
	fill(buf, n);
	r = timed_send(p, buf, 2000, &ms);
	status = harness_wait(pid, 10);
	printf("# send timeout 2 s on a full queue, space freed after 100 ms: "
	       "returned after %.1f ms\n",
	       ms);
	assert_int_equal(status, 0);
	assert_int_equal(r, 0);
	assert_true(ms >= 90.0);
	assert_true(ms < 1500.0);

	/* The consumer is gone; a new one gets the rest, in order. */
	drain_fresh(fx, 2, n + 1);
	bus_producer_close(p);
}

/* ---- signals during timed waits ---- */

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/* SIGALRM every 20 ms, handler without SA_RESTART, until alarm_stop(). */
static void alarm_start(struct sigaction *old)
{
	struct sigaction sa;
	struct itimerval it = {
		.it_interval = {.tv_usec = 20000},
		.it_value = {.tv_usec = 20000},
	};

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: interrupted calls fail with EINTR */
	alarms = 0;
	assert_int_equal(sigaction(SIGALRM, &sa, old), 0);
	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
}

/* Returns how many alarms came since alarm_start(), then stops them. */
static int alarm_stop(const struct sigaction *old)
{
	struct itimerval off = {0};
	int n = alarms;

	assert_int_equal(setitimer(ITIMER_REAL, &off, NULL), 0);
	assert_int_equal(sigaction(SIGALRM, old, NULL), 0);
	return n;
}

/*
 * A timed bus_recv by c, without spinning, under alarm_start()'s alarms
 * (and after the go to the child of go_fx, if given).  *n is how many
 * alarms came.
 */
static int recv_under_alarms(bus_consumer *c, bus_msg *m, int timeout_ms,
                             struct fixture *go_fx, double *ms, int *n)
{
	struct sigaction old;
	int r;

	bus_consumer_set_spin(c, 0);
	alarm_start(&old);
	if (go_fx)
		send_go(go_fx);
	r = timed_recv(c, m, timeout_ms, ms);
	*n = alarm_stop(&old);
	return r;
}

/* Opens like the tests above on purpose: each declares what it measures. */
static void test_recv_timeout_with_signals(void **state)
{
	struct fixture *fx = *state;
	bus_consumer *c;
	bus_msg m;
	double ms;
	int r, n;

	assert_int_equal(harness_consumer(fx->name, &c), 0);
	r = recv_under_alarms(c, &m, 300, NULL, &ms, &n);
	bus_consumer_close(c);
	printf("# recv timeout 300 ms with SIGALRM every 20 ms: returned after "
	       "%.1f ms, %d signals\n",
	       ms, n);
	check_timed_out(r, ms, 300.0);
	/* The signals did arrive during the wait. */
	assert_true(n >= 5);
}

static void test_send_timeout_with_signals(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[MSG_LEN];
	struct sigaction old;
	bus_producer *p;
	uint64_t n;
	double ms;
	int r, sigs;

	assert_int_equal(harness_producer(fx->name, &p), 0);
	bus_producer_set_spin(p, 0);
	n = fill_queue(p);
	fill(buf, n);
	alarm_start(&old);
	r = timed_send(p, buf, 300, &ms);
	sigs = alarm_stop(&old);
	printf("# send timeout 300 ms with SIGALRM every 20 ms: returned after "
	       "%.1f ms, %d signals\n",
	       ms, sigs);
	check_timed_out(r, ms, 300.0);
	assert_true(sigs >= 5);

	drain_fresh(fx, 0, n);
	bus_producer_close(p);
}

static void test_recv_forever_with_signals(void **state)
{
	struct fixture *fx = *state;
	bus_consumer *c;
	bus_msg m;
	double ms;
	bool right;
	int r, n;
	pid_t pid;

	pid = start_late_sender(fx, 300000, &c);
	r = recv_under_alarms(c, &m, -1, fx, &ms, &n);
	right = r == 0 && m.seq == 0 && is_msg(&m, 0);
	bus_consumer_close(c);
	printf("# recv without timeout, SIGALRM every 20 ms, message after "
	       "300 ms: returned after %.1f ms, %d signals\n",
	       ms, n);
	assert_int_equal(harness_wait(pid, 10), 0);
	assert_int_equal(r, 0);
	assert_true(right);
	assert_true(ms >= 250.0);
	assert_true(n >= 5);
}

/* Each test runs between setup and teardown. */
#define FIXTURE_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		FIXTURE_TEST(test_recv_timeout_empty),
		FIXTURE_TEST(test_recv_timeout_zero),
		FIXTURE_TEST(test_send_timeout_full),
		FIXTURE_TEST(test_recv_gets_message_mid_wait),
		FIXTURE_TEST(test_send_gets_space_mid_wait),
		FIXTURE_TEST(test_recv_timeout_with_signals),
		FIXTURE_TEST(test_send_timeout_with_signals),
		FIXTURE_TEST(test_recv_forever_with_signals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

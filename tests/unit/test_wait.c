/*
 * test_wait.c - the wake protocol, driven deterministically.
 *
 * The handles are built with a fake wait_ops table: a clock that moves
 * only when read, a "futex wait" that first lets the test run the other
 * side (as if it ran just before the sleeper entered the kernel), then
 * behaves as the kernel does (returns at once if the word moved, else
 * sleeps until the deadline), and a "wake" that counts.  That makes the
 * racy windows of the protocol reproducible: a wakeup that the protocol
 * could lose shows up here as a timeout or a "would sleep forever".
 * Deletion, a broken queue and the wake after a producer's death take the
 * same table, so they are driven the same way.  So do the descriptors of
 * event loops: a "drain" that first lets the test run the other side (as
 * if it ran between the drain and the announce), and a "notify" and
 * "poke" that count the writes that would make a descriptor readable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "harness.h"
#include "wait.h"

static struct fake {
	uint64_t now;
	int waits;
	int moved; /* waits that returned at once: the word had moved */
	int wakes;
	uint64_t last_deadline;
	_Atomic uint32_t *last_word;
	_Atomic uint32_t *last_wake_word;
	int last_wake_n;
	void (*before_sleep)(void);
	bool slept_forever;
	void (*before_drain)(void);
	int drains, notifies, pokes;
	uint64_t last_poke_name;
} fake;

static int fake_wait(_Atomic uint32_t *w, uint32_t val, uint64_t deadline_ns)
{
	void (*hook)(void) = fake.before_sleep;

	fake.waits++;
	fake.last_deadline = deadline_ns;
	fake.last_word = w;
	fake.before_sleep = NULL;
	if (hook)
		hook();
	if (atomic_load(w) != val) {
		fake.moved++;
		return 0; /* the kernel's EAGAIN: the word moved */
	}
	if (deadline_ns == WAIT_FOREVER) {
		/* Nobody is left to wake us: a real futex would hang here. */
		fake.slept_forever = true;
		return -ETIMEDOUT;
	}
	if (fake.now < deadline_ns)
		fake.now = deadline_ns;
	return -ETIMEDOUT;
}

static void fake_wake(_Atomic uint32_t *w, int n)
{
	fake.wakes++;
	fake.last_wake_word = w;
	fake.last_wake_n = n;
}

static uint64_t fake_now(void)
{
	return fake.now += 1000;
}

static void fake_notify(int fd)
{
	(void)fd;
	fake.notifies++;
}

static bool fake_drain(int fd)
{
	void (*hook)(void) = fake.before_drain;

	(void)fd;
	fake.drains++;
	fake.before_drain = NULL;
	if (hook)
		hook();
	return false;
}

static void fake_poke(int *sock, uint64_t name)
{
	(void)sock;
	fake.pokes++;
	fake.last_poke_name = name;
}

static const struct wait_ops fake_ops = HARNESS_WAIT_OPS(fake);

static struct mem_seg ms;
static bus_producer *prod;
static bus_consumer *cons;

static int setup(void **state)
{
	struct seg_params p = {.name = "wait", .capacity = 1024};

	(void)state;
	memset(&fake, 0, sizeof(fake));
	fake.now = 1000000000;
	if (harness_mem_open(&ms, &p, &fake_ops, &prod, &cons) < 0)
		return -1;
	bus_producer_set_spin(prod, 0);
	bus_consumer_set_spin(cons, 0);
	return 0;
}

/* setup/teardown alike to test_recover.c's on purpose: each names its own fixture. */
static int teardown(void **state)
{
	(void)state;
	harness_mem_close(&ms, prod, cons);
	return 0;
}

static void send_one(uint32_t v)
{
	assert_int_equal(bus_send(prod, 1, &v, sizeof(v), 0), 0);
}

static uint32_t recv_one(void)
{
	bus_msg m;
	uint32_t v;

	assert_int_equal(bus_recv(cons, &m, 0), 0);
	assert_int_equal(m.len, sizeof(v));
	memcpy(&v, m.data, sizeof(v));
	return v;
}

/* Primitives: prepare sets the bit, signal clears it, bumps and wakes. */
static void test_primitives(void **state)
{
	_Atomic uint32_t w = 8;
	uint32_t v;

	(void)state;
	assert_false(wait_signal(&fake_ops, &w, 1, -1));
	assert_int_equal(atomic_load(&w), 8);
	assert_int_equal(fake.wakes, 0);

	v = wait_prepare(&w);
	assert_int_equal(v, 9);
	assert_int_equal(wait_prepare(&w), 9); /* a second waiter: same value */
	assert_true(wait_signal(&fake_ops, &w, 1, -1));
	assert_int_equal(atomic_load(&w), 12);
	assert_int_equal(fake.wakes, 1);
	/* A sleeper with the old value returns at once, like FUTEX_WAIT. */
	assert_int_equal(wait_sleep(&fake_ops, &w, v, WAIT_FOREVER), 0);
	assert_false(fake.slept_forever);
	/* A waiter that found its condition withdraws: no wake is paid. */
	v = wait_prepare(&w);
	wait_cancel(&w, v);
	assert_int_equal(atomic_load(&w), 12);
	assert_false(wait_signal(&fake_ops, &w, 1, -1));
	assert_int_equal(fake.wakes, 1);
	/* A withdrawal after a signaller moved the word changes nothing. */
	v = wait_prepare(&w);
	assert_true(wait_signal(&fake_ops, &w, 1, -1));
	wait_cancel(&w, v);
	assert_int_equal(atomic_load(&w), 16);
	/* Counter wrap keeps both bits clear. */
	atomic_store(&w, UINT32_MAX);
	assert_true(wait_signal(&fake_ops, &w, 1, -1));
	assert_int_equal(atomic_load(&w), 0);
}

/* A bump moves the word whatever it holds, keeps the bits and wakes. */
static void test_bump(void **state)
{
	_Atomic uint32_t w = 8;
	uint32_t v;

	(void)state;
	wait_bump(&fake_ops, &w, 1, -1);
	assert_int_equal(atomic_load(&w), 12);
	assert_int_equal(fake.wakes, 1);
	assert_ptr_equal(fake.last_wake_word, &w);
	assert_int_equal(fake.last_wake_n, 1);
	/* A waiter between its announce and its sleep does not sleep. */
	v = wait_prepare(&w);
	wait_bump(&fake_ops, &w, 1, -1);
	assert_int_equal(atomic_load(&w), v + WAIT_STEP);
	assert_int_equal(wait_sleep(&fake_ops, &w, v, WAIT_FOREVER), 0);
	assert_false(fake.slept_forever);
	assert_int_equal(fake.moved, 1);
	/* The bit stays: a signaller still owes the waiter a wake. */
	assert_true(wait_signal(&fake_ops, &w, 1, -1));
	assert_int_equal(fake.wakes, 3);
}

/* Messages 0..n-1, each sent, received and released in turn. */
static void send_recv_each(uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		send_one(i);
		assert_int_equal(recv_one(), i);
		bus_release(cons);
	}
}

/* A busy queue: producers never call into the kernel. */
static void test_busy_no_syscalls(void **state)
{
	(void)state;
	send_recv_each(10000);
	assert_int_equal(fake.wakes, 0);
	assert_int_equal(fake.waits, 0);
	assert_int_equal(atomic_load(&ms.seg.slots[0].wakes), 0);
}

static void send_7(void)
{
	send_one(7);
}

/*
 * The window between the consumer's re-check and its futex wait: the
 * producer commits there.  It must see the sleeper and change the word,
 * so the wait returns at once and the message is received.
 */
static void test_commit_before_sleep(void **state)
{
	bus_msg m;

	(void)state;
	fake.before_sleep = send_7;
	assert_int_equal(bus_recv(cons, &m, -1), 0);
	assert_false(fake.slept_forever);
	assert_int_equal(*(const uint32_t *)m.data, 7);
	assert_int_equal(fake.waits, 1);
	assert_int_equal(fake.wakes, 1);
	assert_ptr_equal(fake.last_word, &ms.seg.hdr->cons_wait);
	assert_int_equal(atomic_load(&ms.seg.slots[0].wakes), 1);
	assert_int_equal(atomic_load(&ms.seg.hdr->cons.sleeps), 1);
	bus_release(cons);
	/* The bit was cleared by the wake: later sends make no call. */
	for (uint32_t i = 0; i < 20; i++)
		send_one(i);
	assert_int_equal(fake.wakes, 1);
}

/* Nothing arrives: -ETIMEDOUT at the deadline computed from the clock. */
static void test_timeout_deadline(void **state)
{
	bus_msg m;
	uint64_t start = fake.now;

	(void)state;
	assert_int_equal(bus_recv(cons, &m, 250), -ETIMEDOUT);
	assert_int_equal(fake.waits, 1);
	assert_true(fake.last_deadline >= start + 250000000u);
	assert_true(fake.last_deadline <= start + 250000000u + 10000u);
	assert_int_equal(bus_recv(cons, &m, 0), -EAGAIN);
	assert_int_equal(fake.waits, 1);
}

static int spurious_left;

static void spurious(void)
{
	/* Move the word as a signal or stale wake would, with no message. */
	atomic_fetch_add(&ms.seg.hdr->cons_wait, WAIT_STEP);
	if (--spurious_left > 0)
		fake.before_sleep = spurious;
	else
		fake.before_sleep = send_7;
}

/* Spurious returns go back to sleep with the same deadline. */
static void test_spurious_wakeups(void **state)
{
	bus_msg m;
	uint64_t first;

	(void)state;
	spurious_left = 3;
	fake.before_sleep = spurious;
	assert_int_equal(bus_recv(cons, &m, 5000), 0);
	assert_int_equal(*(const uint32_t *)m.data, 7);
	assert_int_equal(fake.waits, 4);
	first = fake.last_deadline;
	assert_true(first != WAIT_FOREVER);
	bus_release(cons);
}

static void drain_one(void)
{
	bus_msg m;

	assert_int_equal(bus_recv(cons, &m, 0), 0);
	bus_release(cons);
}

/*
 * A producer sleeps on a full queue; the consumer frees space in the
 * window before the producer's futex wait: the release must wake it.
 */
static void test_full_release_before_sleep(void **state)
{
	uint32_t n = 0;
	uint32_t v = 0;

	(void)state;
	while (bus_send(prod, 1, &v, sizeof(v), 0) == 0)
		n++;
	assert_true(n > 0);
	fake.before_sleep = drain_one;
	assert_int_equal(bus_send(prod, 1, &v, sizeof(v), -1), 0);
	assert_false(fake.slept_forever);
	assert_ptr_equal(fake.last_word, &ms.seg.hdr->full_wait);
	assert_int_equal(fake.wakes, 1);
	assert_int_equal(atomic_load(&ms.seg.hdr->cons.wakes), 1);
	assert_int_equal(atomic_load(&ms.seg.slots[0].blocked), 1);
	assert_true(atomic_load(&ms.seg.slots[0].full) >= 2);
}

/* A full queue with a timeout: -ETIMEDOUT and nothing claimed. */
static void test_full_timeout(void **state)
{
	uint32_t v = 0;
	uint64_t tail;

	(void)state;
	while (bus_send(prod, 1, &v, sizeof(v), 0) == 0)
		v++;
	tail = atomic_load(&ms.seg.hdr->tail);
	assert_int_equal(bus_send(prod, 1, &v, sizeof(v), 100), -ETIMEDOUT);
	assert_int_equal(atomic_load(&ms.seg.hdr->tail), tail);
	for (uint32_t i = 0; i < v; i++)
		assert_int_equal(recv_one(), i);
	bus_release(cons);
}

static void delete_queue(void)
{
	seg_set_deleted(&ms.seg, &fake_ops);
}

static void break_queue(void)
{
	seg_set_broken(&ms.seg, &fake_ops);
}

/*
 * The consumer waited n times, each time finding its word moved (never
 * asleep for good), and n wakes came, the last for one waiter on the
 * consumer's word.
 */
static void check_consumer_woken(int n)
{
	assert_false(fake.slept_forever);
	assert_int_equal(fake.waits, n);
	assert_int_equal(fake.moved, n);
	assert_int_equal(fake.wakes, n);
	assert_ptr_equal(fake.last_wake_word, &ms.seg.hdr->cons_wait);
	assert_int_equal(fake.last_wake_n, 1);
}

/*
 * The queue is deleted in the window before the consumer's futex wait:
 * the deletion must move the word and wake it, and the consumer then
 * finds the queue deleted and drained.
 */
static void test_delete_before_sleep(void **state)
{
	bus_msg m;

	(void)state;
	fake.before_sleep = delete_queue;
	assert_int_equal(bus_recv(cons, &m, -1), -EPIPE);
	/* Only the consumer announced itself: one wake, of it. */
	check_consumer_woken(1);
	assert_int_equal(bus_send(prod, 1, "x", 1, 0), -EPIPE);
}

/*
 * A producer sleeps on a full queue and the queue is deleted (or found
 * broken) before its futex wait: every producer sleeping there is woken,
 * and this one fails as the state says.
 */
static void full_then_state(void (*hook)(void), int err)
{
	uint32_t v = 0;

	while (bus_send(prod, 1, &v, sizeof(v), 0) == 0)
		v++;
	fake.before_sleep = hook;
	assert_int_equal(bus_send(prod, 1, &v, sizeof(v), -1), err);
	assert_false(fake.slept_forever);
	assert_int_equal(fake.waits, 1);
	assert_int_equal(fake.moved, 1);
	assert_int_equal(fake.wakes, 1);
	assert_ptr_equal(fake.last_wake_word, &ms.seg.hdr->full_wait);
	assert_int_equal(fake.last_wake_n, INT32_MAX);
}

static void test_full_delete_before_sleep(void **state)
{
	(void)state;
	full_then_state(delete_queue, -EPIPE);
}

static void test_full_broken_before_sleep(void **state)
{
	(void)state;
	full_then_state(break_queue, -EBADMSG);
}

/* Nobody waits: a state change costs a load of each word, no wake. */
static void test_delete_no_sleeper(void **state)
{
	uint32_t cw = atomic_load(&ms.seg.hdr->cons_wait);
	uint32_t fw = atomic_load(&ms.seg.hdr->full_wait);

	(void)state;
	seg_set_deleted(&ms.seg, &fake_ops);
	assert_int_equal(fake.wakes, 0);
	assert_int_equal(atomic_load(&ms.seg.hdr->cons_wait), cw);
	assert_int_equal(atomic_load(&ms.seg.hdr->full_wait), fw);
}

static void producer_died(void)
{
	seg_wake_consumer(&ms.seg, &fake_ops);
	/* Nothing to recover: the next sleep gets a message. */
	fake.before_sleep = send_7;
}

/*
 * busd saw a producer die and wakes the consumer, in the window before its
 * futex wait: the wait returns at once (the word moved), the consumer
 * looks again, sleeps again and gets the next message.
 */
static void test_death_wake_before_sleep(void **state)
{
	bus_msg m;

	(void)state;
	fake.before_sleep = producer_died;
	assert_int_equal(bus_recv(cons, &m, -1), 0);
	assert_int_equal(*(const uint32_t *)m.data, 7);
	/* The death's wake, then the commit's: the bump kept the bit. */
	check_consumer_woken(2);
	assert_int_equal(atomic_load(&ms.seg.slots[0].wakes), 1);
	bus_release(cons);
}

/* A death wake with nobody asleep still calls wake: it cannot know. */
static void test_death_wake_no_sleeper(void **state)
{
	uint32_t cw = atomic_load(&ms.seg.hdr->cons_wait);

	(void)state;
	seg_wake_consumer(&ms.seg, &fake_ops);
	assert_int_equal(fake.wakes, 1);
	assert_int_equal(atomic_load(&ms.seg.hdr->cons_wait), cw + WAIT_STEP);
	/* The bit was clear and stays clear: a send makes no call. */
	send_one(1);
	assert_int_equal(fake.wakes, 1);
	assert_int_equal(recv_one(), 1);
	bus_release(cons);
}

/* With a spin budget the consumer polls the clock before sleeping. */
static void test_spin_then_sleep(void **state)
{
	bus_msg m;
	uint64_t start = fake.now;

	(void)state;
	bus_consumer_set_spin(cons, 50000);
	assert_int_equal(bus_recv(cons, &m, 1), -ETIMEDOUT);
	/* The fake clock moves 1 us per read: spinning read it >= 50 times. */
	assert_true(fake.now - start >= 1000000u);
	assert_int_equal(fake.waits, 1);
}

/* --- descriptors (bus_consumer_fd, bus_producer_fd) --- */

/*
 * Gives the consumer and the producer the wake descriptor, as busd would
 * (a pipe stands in for the FIFO; the fake table never touches it), and
 * has the consumer ask for it.
 */
static void consumer_fd_on(void)
{
	int p[2];

	assert_int_equal(pipe(p), 0);
	consumer_seg(cons)->wake_fd = p[0];
	producer_seg(prod)->wake_fd = p[1];
	assert_int_equal(bus_consumer_fd(cons), p[0]);
}

static uint32_t cons_bits(void)
{
	return atomic_load(&ms.seg.hdr->cons_wait) & (WAIT_SLEEPING | WAIT_POLL);
}

/* Armed by a receive that found nothing; the next commit writes once. */
static void test_fd_arm_then_commit(void **state)
{
	bus_msg m;

	(void)state;
	consumer_fd_on();
	assert_int_equal(bus_recv(cons, &m, 0), -EAGAIN);
	assert_int_equal(fake.drains, 1);
	assert_int_equal(cons_bits(), WAIT_SLEEPING | WAIT_POLL);
	send_one(7);
	assert_int_equal(fake.notifies, 1);
	assert_int_equal(cons_bits(), 0);
	/* Until the next arm, commits write nothing. */
	send_one(8);
	assert_int_equal(fake.notifies, 1);
	assert_int_equal(recv_one(), 7);
	assert_int_equal(recv_one(), 8);
	bus_release(cons);
	assert_int_equal(fake.waits, 0); /* never the futex */
}

/* A commit between the drain and the announce: the re-check finds it. */
static void test_fd_commit_before_announce(void **state)
{
	bus_msg m;

	(void)state;
	consumer_fd_on();
	fake.before_drain = send_7;
	assert_int_equal(bus_recv(cons, &m, 0), 0);
	assert_int_equal(*(const uint32_t *)m.data, 7);
	bus_release(cons);
	/* Withdrawn: no bits left for a signaller to pay for. */
	assert_int_equal(cons_bits(), 0);
	assert_int_equal(fake.notifies, 0);
	send_one(8);
	assert_int_equal(fake.notifies, 0);
	assert_int_equal(recv_one(), 8);
	bus_release(cons);
}

/* A busy queue with a descriptor: no arm, no write, no drain. */
static void test_fd_busy_no_calls(void **state)
{
	(void)state;
	consumer_fd_on();
	send_recv_each(1000);
	assert_int_equal(fake.drains, 0);
	assert_int_equal(fake.notifies, 0);
}

/* Deletion, or a producer's death seen by busd, writes it too. */
static void test_fd_delete_and_death(void **state)
{
	bus_msg m;

	(void)state;
	consumer_fd_on();
	assert_int_equal(bus_recv(cons, &m, 0), -EAGAIN);
	ms.seg.wake_fd = consumer_seg(cons)->wake_fd;
	seg_wake_consumer(&ms.seg, &fake_ops);
	assert_int_equal(fake.notifies, 1);
	assert_int_equal(bus_recv(cons, &m, 0), -EAGAIN);
	seg_set_deleted(&ms.seg, &fake_ops);
	ms.seg.wake_fd = -1; /* the consumer's to close */
	assert_int_equal(fake.notifies, 2);
	assert_int_equal(bus_recv(cons, &m, 0), -EPIPE);
}

/* Fills the ring from prod, then gives prod its wake socket. */
static void fill_ring_then_fd(void)
{
	uint32_t v = 0;

	while (bus_send(prod, 1, &v, sizeof(v), 0) == 0)
		v++;
	assert_true(v > 0);
	assert_true(bus_producer_fd(prod) >= 0);
}

/* A producer armed on a full queue; the release sends it one wake. */
static void test_pfd_arm_then_release(void **state)
{
	struct seg_slot *slot = &ms.seg.slots[bus_producer_slot(prod)];
	uint32_t v = 0;

	(void)state;
	fill_ring_then_fd();
	assert_true(atomic_load(&slot->wake_name) != 0);
	assert_int_equal(bus_send(prod, 1, &v, sizeof(v), 0), -EAGAIN);
	assert_int_equal(atomic_load(&slot->wake_armed), 1);
	assert_true(atomic_load(&ms.seg.hdr->full_wait) & WAIT_POLL);
	drain_one();
	assert_int_equal(fake.pokes, 1);
	assert_int_equal(fake.last_poke_name, atomic_load(&slot->wake_name));
	assert_int_equal(atomic_load(&slot->wake_armed), 0);
	/* Taken: the next release sends nothing. */
	assert_int_equal(bus_send(prod, 1, &v, sizeof(v), 0), 0);
	drain_one();
	assert_int_equal(fake.pokes, 1);
	assert_int_equal(fake.waits, 0);
}

/* A release between the producer's drain and its announce: it sends. */
static void test_pfd_release_before_announce(void **state)
{
	struct seg_slot *slot = &ms.seg.slots[bus_producer_slot(prod)];
	uint32_t v = 0;

	(void)state;
	fill_ring_then_fd();
	fake.before_drain = drain_one;
	assert_int_equal(bus_send(prod, 1, &v, sizeof(v), 0), 0);
	/* It found the room itself: its flag is down, nobody pokes it. */
	assert_int_equal(atomic_load(&slot->wake_armed), 0);
	assert_int_equal(fake.pokes, 0);
}

/* Deletion wakes a producer that waits on its socket. */
static void test_pfd_delete(void **state)
{
	uint32_t v = 0;

	(void)state;
	fill_ring_then_fd();
	assert_int_equal(bus_send(prod, 1, &v, sizeof(v), 0), -EAGAIN);
	seg_set_deleted(&ms.seg, &fake_ops);
	assert_int_equal(fake.pokes, 1);
	assert_int_equal(bus_send(prod, 1, &v, sizeof(v), 0), -EPIPE);
}

/* A bare in-memory segment has no wake FIFO for its consumer. */
static void test_fd_none(void **state)
{
	(void)state;
	assert_int_equal(bus_consumer_fd(cons), -EOPNOTSUPP);
	assert_int_equal(bus_consumer_fd(NULL), -EINVAL);
	assert_int_equal(bus_producer_fd(NULL), -EINVAL);
}

/* Each test runs between setup and teardown. */
#define FIXTURE_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		FIXTURE_TEST(test_primitives),
		FIXTURE_TEST(test_busy_no_syscalls),
		FIXTURE_TEST(test_commit_before_sleep),
		FIXTURE_TEST(test_timeout_deadline),
		FIXTURE_TEST(test_spurious_wakeups),
		FIXTURE_TEST(test_full_release_before_sleep),
		FIXTURE_TEST(test_full_timeout),
		FIXTURE_TEST(test_spin_then_sleep),
		FIXTURE_TEST(test_bump),
		FIXTURE_TEST(test_delete_before_sleep),
		FIXTURE_TEST(test_full_delete_before_sleep),
		FIXTURE_TEST(test_full_broken_before_sleep),
		FIXTURE_TEST(test_delete_no_sleeper),
		FIXTURE_TEST(test_death_wake_before_sleep),
		FIXTURE_TEST(test_fd_arm_then_commit),
		FIXTURE_TEST(test_fd_commit_before_announce),
		FIXTURE_TEST(test_fd_busy_no_calls),
		FIXTURE_TEST(test_fd_delete_and_death),
		FIXTURE_TEST(test_pfd_arm_then_release),
		FIXTURE_TEST(test_pfd_release_before_announce),
		FIXTURE_TEST(test_pfd_delete),
		FIXTURE_TEST(test_fd_none),
		FIXTURE_TEST(test_death_wake_no_sleeper),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

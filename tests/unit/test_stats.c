/*
 * test_stats.c - the stats a reader computes from a segment.
 *
 * Producers and the consumer attach through their own open file
 * descriptions of a /dev/shm segment, as they would through busd; the
 * stats are read through yet another one, read-only, as an operator's
 * tool would.  Counters, depth, who is attached (from the kernel's
 * locks), percentiles and the oldest message's age are checked.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "harness.h"

static char name[64];

static int setup(void **state)
{
	struct seg_params p = {.name = "stats.q", .capacity = 4096};

	(void)state;
	harness_shm_name(name, sizeof(name), "stats");
	return harness_shm_create(name, &p);
}

static int teardown(void **state)
{
	(void)state;
	shm_unlink(name);
	return 0;
}

static void read_stats(bus_stats *st)
{
	int fd = shm_open(name, O_RDONLY | O_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bus_stats_read_fd(fd, st), 0);
	/* The caller keeps its descriptor. */
	assert_true(fcntl(fd, F_GETFD) >= 0);
	close(fd);
}

static void test_counters(void **state)
{
	bus_producer *p1, *p2;
	bus_consumer *c;
	bus_stats st;
	bus_msg m;
	char payload[100] = "x";

	(void)state;
	read_stats(&st);
	assert_string_equal(st.name, "stats.q");
	assert_int_equal(st.capacity, 4096);
	assert_int_equal(st.producers, 0);
	assert_int_equal(st.consumer_pid, 0);
	assert_int_equal(st.enqueued, 0);
	assert_int_equal(st.oldest_age_ns, 0);

	assert_int_equal(harness_producer(name, &p1), 0);
	assert_int_equal(harness_producer(name, &p2), 0);
	assert_int_equal(harness_consumer(name, &c), 0);
	for (int i = 0; i < 6; i++)
		assert_int_equal(bus_send(i % 2 ? p2 : p1, 1, payload, 10u * (unsigned)i, 0), 0);
	read_stats(&st);
	assert_int_equal(st.producers, 2);
	assert_int_equal(st.consumer_pid, getpid());
	assert_int_equal(st.enqueued, 6);
	assert_int_equal(st.enqueued_bytes, 0 + 10 + 20 + 30 + 40 + 50);
	assert_int_equal(st.depth_msgs, 6);
	assert_int_equal(st.depth_bytes, 6 * 32 + 0 + 16 + 24 + 32 + 40 + 56);
	assert_true(st.oldest_age_ns > 0);

	for (int i = 0; i < 4; i++)
		assert_int_equal(bus_recv(c, &m, 0), 0);
	read_stats(&st);
	assert_int_equal(st.dequeued, 4);
	assert_int_equal(st.dequeued_bytes, 0 + 10 + 20 + 30);
	assert_int_equal(st.depth_msgs, 2);
	/* Received but not released still occupies the ring. */
	assert_int_equal(st.depth_bytes, 6 * 32 + 0 + 16 + 24 + 32 + 40 + 56);
	bus_release(c);
	read_stats(&st);
	assert_int_equal(st.depth_bytes, 2 * 32 + 40 + 56);

	bus_producer_close(p2);
	read_stats(&st);
	assert_int_equal(st.producers, 1);
	for (int i = 0; i < 2; i++)
		assert_int_equal(bus_recv(c, &m, 0), 0);
	bus_release(c);
	read_stats(&st);
	assert_int_equal(st.depth_msgs, 0);
	assert_int_equal(st.depth_bytes, 0);
	assert_int_equal(st.oldest_age_ns, 0);
	assert_true(st.p50_ns > 0);
	assert_true(st.p50_ns <= st.p99_ns && st.p99_ns <= st.p999_ns);

	bus_consumer_close(c);
	bus_producer_close(p1);
	read_stats(&st);
	assert_int_equal(st.producers, 0);
	assert_int_equal(st.consumer_pid, 0);
	assert_int_equal(st.enqueued, 6);
}

/* Percentiles are the upper bounds of the buckets that hold them. */
static void test_percentiles(void **state)
{
	struct seg s;
	const char *why;
	bus_stats st;

	(void)state;
	assert_int_equal(seg_open_shm(name, &s, &why), 0);
	atomic_store(&s.hdr->cons.hist[10], 500);
	atomic_store(&s.hdr->cons.hist[20], 490);
	atomic_store(&s.hdr->cons.hist[30], 9);
	atomic_store(&s.hdr->cons.hist[40], 1);
	read_stats(&st);
	assert_int_equal(st.p50_ns, UINT64_C(1) << 11);
	assert_int_equal(st.p99_ns, UINT64_C(1) << 21);
	assert_int_equal(st.p999_ns, UINT64_C(1) << 31);
	assert_int_equal(st.latency_hist[40], 1);
	assert_false(st.deleted);
	seg_set_deleted(&s);
	read_stats(&st);
	assert_true(st.deleted);
	seg_close(&s);
}

/* Not a segment: refused, and the caller's descriptor stays open. */
static void test_not_a_segment(void **state)
{
	bus_stats st;
	int fd = open("/dev/null", O_RDONLY);

	(void)state;
	assert_int_equal(bus_stats_read_fd(fd, &st), -EBADMSG);
	assert_true(fcntl(fd, F_GETFD) >= 0);
	close(fd);
	assert_int_equal(bus_stats_read_fd(-1, &st), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_counters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_percentiles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_segment, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_stats.c - the stats a reader computes from a segment.
 *
 * Producers and the consumer attach through their own open file
 * descriptions of a /dev/shm segment, as they would through busd; the
 * stats are read through yet another one, read-only, as an operator's
 * tool would.  Counters, depth, who is attached (from the kernel's
 * locks), percentiles and the oldest message's age are checked.
 *
 * Then the reader on segments laid out in memory whose end abuts a
 * PROT_NONE page (any read past the ring faults, in every build): a head
 * in the last 24 bytes of the ring, and stalls, a claim left uncommitted
 * with messages or the consumer waiting behind it, read with a clock the
 * test chooses.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "harness.h"
#include "stats.h"

static char name[64];

/* Each test's queue in /dev/shm: made by the setup, unlinked by the teardown. */
static const struct seg_params params = {.name = "stats.q", .capacity = 4096};
static struct harness_shm_fixture fx = {name, sizeof(name), "stats", &params};

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
	seg_set_deleted(&s, &wait_futex_ops);
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

/* --- segments in memory followed by a guard page --- */

struct guarded {
	void *map;
	size_t map_size;
	struct seg seg;
};

/* Lays out a segment whose ring's last byte is the last before a PROT_NONE page. */
static void guarded_new(struct guarded *g, const struct seg_params *p)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), size, body;
	const char *why = NULL;
	uint8_t *mem;

	assert_int_equal(seg_size(p, &size, &why), 0);
	body = (size + page - 1) / page * page;
	g->map_size = body + page;
	g->map = mmap(NULL, g->map_size, PROT_READ | PROT_WRITE,
	              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(g->map != MAP_FAILED);
	assert_int_equal(mprotect((uint8_t *)g->map + body, page, PROT_NONE), 0);
	mem = (uint8_t *)g->map + body - size;
	assert_int_equal(seg_format(mem, size, p, &why), 0);
	assert_int_equal(seg_view(mem, size, &g->seg, &why), 0);
}

static void guarded_free(struct guarded *g)
{
	munmap(g->map, g->map_size);
}

static struct rec_hdr *rec_at(struct seg *s, uint64_t pos)
{
	return (struct rec_hdr *)(s->ring + (pos & (s->capacity - 1)));
}

#define NOW (UINT64_C(1000) * 1000000000u)

/*
 * The head in the last 24 bytes of the ring, where only padding fits: a
 * padding record whose flags word reads 0 (the consumer zeroing it as it
 * releases, or a producer's scribble) has a length but no room for the
 * rest of a header.  The reader must not look for a stamp past the ring.
 */
static void test_head_at_ring_end(void **state)
{
	(void)state;
	for (uint64_t off = 8; off <= 24; off += 8) {
		struct seg_params p = {
			.name = "stats.end",
			.capacity = 4096,
			.initial_pos = 4096 - off,
		};
		struct guarded g;
		struct rec_hdr *r, *m;
		bus_stats st;

		guarded_new(&g, &p);
		r = rec_at(&g.seg, 4096 - off);
		/* padding to the end, then a message at the ring's start */
		atomic_store(&g.seg.hdr->tail, 4096 - off + off + 64);
		m = rec_at(&g.seg, 4096);
		m->enqueue_ns = NOW - 5000;
		atomic_store(&m->len, 64);
		for (uint32_t flags = 0; flags < 4; flags++) {
			r->flags = flags;
			atomic_store(&r->len, (int32_t)off);
			assert_int_equal(stats_read(&g.seg, NOW, &st), 0);
			/* Real padding is stepped over to the message behind it. */
			assert_int_equal(st.oldest_age_ns, flags == REC_PAD ? 5000 : 0);
			assert_int_equal(st.stalled_ns, 0);
			assert_int_equal(st.depth_bytes, off + 64);
		}
		/* A claim there (negative length) is no stamp to read either. */
		atomic_store(&r->len, -(int32_t)off);
		assert_int_equal(stats_read(&g.seg, NOW, &st), 0);
		assert_int_equal(st.oldest_age_ns, 0);
		guarded_free(&g);
	}
}

/* A clock for the consumer: stall notes carry its time. */
static uint64_t test_clock = NOW;

static uint64_t test_now(void)
{
	return test_clock;
}

static int test_wait(_Atomic uint32_t *w, uint32_t val, uint64_t deadline)
{
	(void)w;
	(void)val;
	(void)deadline;
	return -ETIMEDOUT;
}

static void test_wake(_Atomic uint32_t *w, int n)
{
	(void)w;
	(void)n;
}

static void test_notify(int fd)
{
	(void)fd;
}

static bool test_drain(int fd)
{
	(void)fd;
	return false;
}

static void test_poke(int *sock, uint64_t wake_name)
{
	(void)sock;
	(void)wake_name;
}

static const struct wait_ops test_ops = HARNESS_WAIT_OPS(test);

/*
 * A producer claims and stops; another commits behind it.  The queue is
 * stalled since that commit at least, behind the first one's slot; then
 * since the consumer found the claim in its way; and not once the claim
 * is committed.
 */
static void test_stall(void **state)
{
	struct seg_params p = {.name = "stats.stall", .capacity = 4096};
	struct guarded g;
	struct ring_prod rp;
	struct rec_hdr *r, *behind;
	bus_producer *a, *b;
	bus_consumer *c;
	struct seg s;
	bus_stats st;
	bus_msg msg;
	uint64_t one = 1;

	(void)state;
	test_clock = NOW;
	guarded_new(&g, &p);
	s = g.seg;
	assert_int_equal(producer_attach(&s, &test_ops, &a), 0);
	s = g.seg;
	assert_int_equal(producer_attach(&s, &test_ops, &b), 0);
	assert_int_equal(bus_send(b, 1, &one, sizeof(one), 0), 0);

	/* a claims 100 bytes and stops before its commit */
	ring_prod_init(&rp, &g.seg, bus_producer_slot(a));
	assert_int_equal(ring_claim(&rp, 100, &r), 0);
	assert_int_equal(stats_read(&g.seg, NOW + 10, &st), 0);
	/* A send in progress with nothing behind it is no stall. */
	assert_int_equal(st.stalled_ns, 0);
	assert_int_equal(st.stalled_slot, BUS_STATS_NO_SLOT);
	assert_int_equal(st.oldest_age_ns, 10);

	test_clock = NOW + 1000;
	assert_int_equal(bus_send(b, 1, &one, sizeof(one), 0), 0);
	behind = rec_at(&g.seg, 40 + 136);
	assert_int_equal(behind->enqueue_ns, NOW + 1000);

	s = g.seg;
	assert_int_equal(consumer_attach(&s, &test_ops, &c), 0);
	assert_int_equal(bus_recv(c, &msg, 0), 0);
	bus_release(c);
	/* The consumer is at the claim but has not waited there yet. */
	assert_int_equal(stats_read(&g.seg, NOW + 5000, &st), 0);
	assert_int_equal(st.stalled_ns, 4000);
	assert_int_equal(st.stalled_slot, bus_producer_slot(a));
	assert_int_equal(st.stalled_pid, getpid());
	assert_int_equal(st.stalled_alive, 1);
	/* The oldest message waiting is the one behind the claim. */
	assert_int_equal(st.oldest_age_ns, 4000);

	/* Polling, the consumer notes the claim in its way: an earlier bound. */
	test_clock = NOW + 500;
	assert_int_equal(bus_recv(c, &msg, 0), -EAGAIN);
	test_clock = NOW + 100000;
	assert_int_equal(bus_recv(c, &msg, 0), -EAGAIN);
	assert_int_equal(atomic_load(&g.seg.hdr->cons.stall_ns), NOW + 500);
	assert_int_equal(stats_read(&g.seg, NOW + 9500, &st), 0);
	assert_int_equal(st.stalled_ns, 9000);
	assert_int_equal(st.stalled_slot, bus_producer_slot(a));

	/* Its producer dies: still stalled (until recovery), and said so. */
	atomic_store(&g.seg.slots[bus_producer_slot(a)].pid, 0);
	assert_int_equal(stats_read(&g.seg, NOW + 9500, &st), 0);
	assert_int_equal(st.stalled_slot, bus_producer_slot(a));
	assert_int_equal(st.stalled_alive, 0);
	atomic_store(&g.seg.slots[bus_producer_slot(a)].pid, (uint32_t)getpid());

	/* Killed right after the CAS: no length, the slot's intent frames it. */
	atomic_store(&r->len, 0);
	assert_int_equal(stats_read(&g.seg, NOW + 9500, &st), 0);
	assert_int_equal(st.stalled_ns, 9000);
	assert_int_equal(st.stalled_slot, bus_producer_slot(a));
	assert_int_equal(st.oldest_age_ns, 8500);

	/* Committed at last: no stall, and the consumer goes on. */
	ring_commit(&rp, r, 1, 100, NOW + 9000);
	assert_int_equal(stats_read(&g.seg, NOW + 9500, &st), 0);
	assert_int_equal(st.stalled_ns, 0);
	assert_int_equal(st.stalled_slot, BUS_STATS_NO_SLOT);
	assert_int_equal(st.stalled_pid, 0);
	assert_int_equal(st.oldest_age_ns, 500);
	assert_int_equal(bus_recv(c, &msg, 0), 0);
	assert_int_equal(msg.len, 100);
	assert_int_equal(bus_recv(c, &msg, 0), 0);
	assert_int_equal(msg.len, sizeof(one));
	bus_release(c);
	assert_int_equal(stats_read(&g.seg, NOW + 9500, &st), 0);
	assert_int_equal(st.oldest_age_ns, 0);
	assert_int_equal(st.depth_bytes, 0);

	bus_consumer_close(c);
	bus_producer_close(b);
	bus_producer_close(a);
	guarded_free(&g);
}

/*
 * A stall with nothing behind it is seen once the consumer waits at it;
 * a consumer that attaches later keeps the first note's time.  A claim
 * that wraps (padding first) is found past its padding.
 */
/*
 * A consumer, attached anew, finds nothing to read at NOW + found_at (a
 * claim in its way); stats_read at NOW + read_at (into *st) then says
 * the queue has stalled for stalled ns.  Returns the consumer.
 */
static bus_consumer *consumer_finds_claim(struct guarded *g, uint64_t found_at,
                                          uint64_t read_at, uint64_t stalled,
                                          bus_stats *st)
{
	struct seg s = g->seg;
	bus_consumer *c;
	bus_msg msg;

	assert_int_equal(consumer_attach(&s, &test_ops, &c), 0);
	test_clock = NOW + found_at;
	assert_int_equal(bus_recv(c, &msg, 0), -EAGAIN);
	assert_int_equal(stats_read(&g->seg, NOW + read_at, st), 0);
	assert_int_equal(st->stalled_ns, stalled);
	return c;
}

static void test_stall_noted(void **state)
{
	struct seg_params p = {
		.name = "stats.noted",
		.capacity = 1024,
		.initial_pos = 1024 - 40,
	};
	struct guarded g;
	struct ring_prod rp;
	struct rec_hdr *r;
	bus_producer *a;
	bus_consumer *c;
	struct seg s;
	bus_stats st;
	bus_msg msg;

	(void)state;
	guarded_new(&g, &p);
	s = g.seg;
	assert_int_equal(producer_attach(&s, &test_ops, &a), 0);
	ring_prod_init(&rp, &g.seg, bus_producer_slot(a));
	/* 64 bytes do not fit in the last 40: padding, then the record at 0 */
	assert_int_equal(ring_claim(&rp, 32, &r), 0);
	assert_ptr_equal(r, g.seg.ring);
	assert_int_equal(stats_read(&g.seg, NOW, &st), 0);
	assert_int_equal(st.stalled_ns, 0);

	c = consumer_finds_claim(&g, 7, 20, 13, &st);
	assert_int_equal(st.stalled_slot, bus_producer_slot(a));
	assert_int_equal(st.oldest_age_ns, 0);

	/* The consumer goes; the next one finds the same claim later. */
	bus_consumer_close(c);
	c = consumer_finds_claim(&g, 50, 60, 53, &st);

	ring_commit(&rp, r, 1, 32, NOW + 55);
	assert_int_equal(stats_read(&g.seg, NOW + 60, &st), 0);
	assert_int_equal(st.stalled_ns, 0);
	assert_int_equal(st.oldest_age_ns, 5);
	assert_int_equal(bus_recv(c, &msg, 0), 0);
	bus_release(c);
	bus_consumer_close(c);
	bus_producer_close(a);
	guarded_free(&g);
}

/* The first three tests run with the queue of fx. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		HARNESS_SHM_TEST(test_counters, &fx),
		HARNESS_SHM_TEST(test_percentiles, &fx),
		HARNESS_SHM_TEST(test_not_a_segment, &fx),
		cmocka_unit_test(test_head_at_ring_end),
		cmocka_unit_test(test_stall),
		cmocka_unit_test(test_stall_noted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

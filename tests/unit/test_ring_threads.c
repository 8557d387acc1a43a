/*
 * test_ring_threads.c - the ring and wait paths under ThreadSanitizer.
 *
 * Multi-process behaviour is tested with real processes (tests/process);
 * ThreadSanitizer cannot see across processes, though, so this program
 * runs the same send/receive/sleep/wake paths between threads of one
 * process, where every ordering mistake in the ring is a reportable race.
 * It also checks delivery: every message once, in per-producer order.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "harness.h"

#define PRODUCERS    3
#define PER_PRODUCER HARNESS_SCALE(200000u, 20000u)

struct payload {
	uint32_t producer;
	uint32_t n;
	uint32_t check;
	uint8_t fill[52];
};

static struct mem_seg ms;

static void *producer_main(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	struct seg s = ms.seg;
	bus_producer *p;
	struct payload m = {.producer = id};

	if (producer_attach(&s, NULL, &p) < 0)
		return (void *)1;
	/* Alternate spinning and pure sleeping producers. */
	bus_producer_set_spin(p, id % 2 ? 0 : 2000);
	for (uint32_t i = 0; i < PER_PRODUCER; i++) {
		size_t len = offsetof(struct payload, fill) + (i * 7u + id) % 53u;

		m.n = i;
		m.check = id * 2654435761u ^ i;
		if (bus_send(p, id, &m, len, -1) < 0)
			return (void *)2;
	}
	bus_producer_close(p);
	return NULL;
}

static void test_threads(void **state)
{
	struct seg_params sp = {.name = "threads", .capacity = 4096};
	pthread_t th[PRODUCERS];
	uint32_t next[PRODUCERS] = {0};
	uint64_t seq[PRODUCERS] = {0};
	uint32_t slot[PRODUCERS];
	bool seen[PRODUCERS] = {false};
	bus_consumer *c;
	uint64_t total = 0;

	(void)state;
	assert_int_equal(harness_mem_open(&ms, &sp, NULL, NULL, &c), 0);
	bus_consumer_set_spin(c, 1000);
	for (uintptr_t i = 0; i < PRODUCERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, producer_main, (void *)i), 0);

	while (total < (uint64_t)PRODUCERS * PER_PRODUCER) {
		bus_msg batch[16];
		int n = bus_recv_batch(c, batch, 16, 10000);

		assert_true(n > 0);
		for (int k = 0; k < n; k++) {
			struct payload m = {0};
			uint32_t id = batch[k].type;

			assert_true(id < PRODUCERS);
			assert_true(batch[k].len >= offsetof(struct payload, fill));
			memcpy(&m, batch[k].data, batch[k].len);
			assert_int_equal(m.producer, id);
			assert_int_equal(m.n, next[id]);
			assert_int_equal(m.check, id * 2654435761u ^ m.n);
			if (!seen[id]) {
				slot[id] = batch[k].producer;
				seq[id] = batch[k].seq;
				seen[id] = true;
			}
			assert_int_equal(batch[k].producer, slot[id]);
			assert_int_equal(batch[k].seq, seq[id]);
			next[id]++;
			seq[id]++;
			total++;
		}
		bus_release(c);
	}
	for (int i = 0; i < PRODUCERS; i++) {
		void *rv;

		assert_int_equal(pthread_join(th[i], &rv), 0);
		assert_null(rv);
		assert_int_equal(next[i], PER_PRODUCER);
	}
	assert_int_equal(atomic_load(&ms.seg.hdr->head), atomic_load(&ms.seg.hdr->tail));
	harness_mem_close(&ms, NULL, c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

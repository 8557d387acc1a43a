/*
 * test_ring.c - the MPSC record ring, in one thread, byte by byte.
 *
 * Each test lays a segment out in calloc'd memory (no file, no locks) and
 * drives the ring either through its internal API (ring_claim, ring_commit,
 * ring_read, ring_release) or through the public send/receive path on
 * handles attached to that memory, with timeout 0 so nothing ever sleeps.
 * The checks are exact: positions, ring indexes, padding records, payload
 * bytes, sequence numbers, producer slots, and that released bytes are
 * zero.  The last test compares a long random run against a software model
 * of the ring that predicts every position and every "full".
 *
 * Threads and real processes are tested elsewhere (test_ring_threads,
 * tests/process); this file checks the single-threaded protocol only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "harness.h"
#include "ring_model.h"

/* m made from sp, with a producer (slot 0) and a consumer of its ring. */
static void ring_new(struct mem_seg *m, const struct seg_params *sp,
                     struct ring_prod *p, struct ring_cons *c)
{
	harness_seg_new(m, sp);
	ring_prod_init(p, &m->seg, 0);
	assert_int_equal(ring_cons_init(c, &m->seg), 0);
}

/* The last release gives back want bytes and leaves the ring zeroed; m is freed. */
static void release_last(struct mem_seg *m, struct ring_cons *c, uint64_t want)
{
	assert_int_equal(ring_release(c), want);
	assert_true(harness_all_zero(m->seg.ring, 256));
	harness_seg_free(m);
}

/* --- helpers --- */

static uint64_t splitmix(uint64_t x)
{
	x += UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

static uint64_t rng_next(uint64_t *s)
{
	*s = splitmix(*s);
	return *s;
}

/* Deterministic payload bytes for a seed. */
static void fill(uint8_t *b, size_t n, uint64_t seed)
{
	uint64_t w = 0;

	for (size_t i = 0; i < n; i++) {
		if (i % 8 == 0)
			w = splitmix(seed + i);
		b[i] = (uint8_t)(w >> (8 * (i % 8)));
	}
}

static bool matches(const void *data, size_t n, uint64_t seed)
{
	const uint8_t *b = data;
	uint64_t w = 0;

	for (size_t i = 0; i < n; i++) {
		if (i % 8 == 0)
			w = splitmix(seed + i);
		if (b[i] != (uint8_t)(w >> (8 * (i % 8))))
			return false;
	}
	return true;
}

static uint64_t full_of(const struct mem_seg *m, uint32_t slot)
{
	return atomic_load(&m->seg.slots[slot].full);
}

/* Claims, fills with fill(seed) and commits one record; returns it. */
static struct rec_hdr *put(struct ring_prod *p, size_t len, uint32_t type,
                           uint64_t seed)
{
	struct rec_hdr *r = NULL;

	assert_int_equal(ring_claim(p, len, &r), 0);
	assert_non_null(r);
	assert_int_equal(atomic_load(&r->len), -(int32_t)(REC_HDR + len));
	fill(ring_rec_payload(r), len, seed);
	ring_commit(p, r, type, len, 1);
	assert_int_equal(atomic_load(&r->len), (int32_t)(REC_HDR + len));
	return r;
}

/* Reads one record and checks it is `want` with the given contents. */
static void get(struct ring_cons *c, struct rec_hdr *want, size_t len,
                uint32_t type, uint32_t producer, uint64_t seq, uint64_t seed)
{
	struct rec_hdr *r = NULL;

	assert_int_equal(ring_read(c, &r), 0);
	assert_ptr_equal(r, want);
	assert_int_equal(atomic_load(&r->len), (int32_t)(REC_HDR + len));
	assert_int_equal(r->flags, 0);
	assert_int_equal(r->type, type);
	assert_int_equal(r->producer, producer);
	assert_int_equal(r->seq, seq);
	assert_true(matches(ring_rec_payload(r), len, seed));
}

/* Sends len bytes of fill(seed) through the public path. */
static int send_seeded(bus_producer *p, uint32_t type, size_t len, uint64_t seed)
{
	uint8_t buf[4096];

	assert_true(len <= sizeof(buf));
	fill(buf, len, seed);
	return bus_send(p, type, buf, len, 0);
}

/* Checks a received message: contents, header fields, where it lies. */
static void check_msg(const struct mem_seg *m, const bus_msg *msg,
                      uint64_t start, size_t len, uint32_t type,
                      uint32_t producer, uint64_t seq, uint64_t seed)
{
	assert_int_equal(msg->len, len);
	assert_int_equal(msg->type, type);
	assert_int_equal(msg->producer, producer);
	assert_int_equal(msg->seq, seq);
	assert_int_equal(msg->flags, 0);
	assert_ptr_equal(msg->data, m->seg.ring + harness_idx(m, start) + REC_HDR);
	assert_true(matches(msg->data, len, seed));
}

/* --- exact fit at the end --- */

static void test_exact_fit_at_end(void **state)
{
	struct seg_params sp = {.name = "exact", .capacity = 256};
	struct mem_seg m;
	struct ring_prod p;
	struct ring_cons c;
	struct rec_hdr *r[4];

	(void)state;
	harness_seg_new(&m, &sp);
	assert_int_equal(m.seg.max_message, 96);
	ring_prod_init(&p, &m.seg, 0);
	assert_int_equal(ring_cons_init(&c, &m.seg), 0);

	/* 96 + 128 + 32 bytes: the third record ends exactly at the end. */
	r[0] = put(&p, 64, 1, 10);
	assert_ptr_equal(r[0], m.seg.ring + 0);
	assert_int_equal(harness_tail(&m), 96);
	r[1] = put(&p, 96, 2, 11);
	assert_ptr_equal(r[1], m.seg.ring + 96);
	assert_int_equal(harness_tail(&m), 224);
	r[2] = put(&p, 0, 3, 12);
	assert_ptr_equal(r[2], m.seg.ring + 224);
	assert_int_equal(harness_tail(&m), 256);
	/* No padding was written: the record itself fills the end. */
	assert_int_equal(harness_len_at(&m, 224), REC_HDR);
	assert_int_equal(harness_flags_at(&m, 224), 0);

	/* The ring is full now: not even an empty record fits. */
	{
		struct rec_hdr *none = NULL;

		assert_int_equal(ring_claim(&p, 0, &none), -EAGAIN);
		assert_null(none);
		assert_int_equal(harness_tail(&m), 256);
	}

	get(&c, r[0], 64, 1, 0, 0, 10);
	assert_int_equal(c.pos, 96);
	get(&c, r[1], 96, 2, 0, 1, 11);
	assert_int_equal(c.pos, 224);
	get(&c, r[2], 0, 3, 0, 2, 12);
	assert_int_equal(c.pos, 256);
	/* (Reading on from here is test_read_all_of_full_ring's case.) */
	assert_int_equal(ring_release(&c), 256);
	assert_int_equal(harness_head(&m), 256);
	assert_true(harness_all_zero(m.seg.ring, 256));

	/* The next record starts at index 0, with no padding before it. */
	r[3] = put(&p, 8, 4, 13);
	assert_ptr_equal(r[3], m.seg.ring + 0);
	assert_int_equal(harness_tail(&m), 256 + 40);
	get(&c, r[3], 8, 4, 0, 3, 13);
	assert_int_equal(c.pos, 296);
	assert_int_equal(ring_release(&c), 40);

	/* Two half-ring records: the second ends at the end, ring full. */
	assert_int_equal(ring_cons_init(&c, &m.seg), 0);
	assert_int_equal(c.pos, 296);
	r[0] = put(&p, 96, 5, 14); /* [296, 424): index 40..168 */
	assert_ptr_equal(r[0], m.seg.ring + 40);
	r[1] = put(&p, 56, 6, 15); /* extent 88: index 168..256 exactly */
	assert_ptr_equal(r[1], m.seg.ring + 168);
	assert_int_equal(harness_tail(&m), 512);
	get(&c, r[0], 96, 5, 0, 4, 14);
	assert_int_equal(ring_release(&c), 128);
	/* 128 free bytes at index 0..40 and 40..168: a max record fits at 0. */
	r[2] = put(&p, 96, 7, 16);
	assert_ptr_equal(r[2], m.seg.ring + 0);
	assert_int_equal(harness_tail(&m), 640);
	get(&c, r[1], 56, 6, 0, 5, 15);
	get(&c, r[2], 96, 7, 0, 6, 16);
	assert_int_equal(c.pos, 640);
	release_last(&m, &c, 216);
}

/* --- padding at the wrap --- */

static void test_padding_at_wrap(void **state)
{
	struct seg_params sp = {.name = "pad", .capacity = 256};
	struct mem_seg m;
	struct ring_prod p;
	struct ring_cons c;
	struct rec_hdr *r, *a, *b, *none = NULL;

	(void)state;
	ring_new(&m, &sp, &p, &c);

	a = put(&p, 60, 1, 20); /* extent 96 */
	b = put(&p, 60, 1, 21);
	get(&c, a, 60, 1, 0, 0, 20);
	get(&c, b, 60, 1, 0, 1, 21);
	assert_int_equal(ring_release(&c), 192);
	assert_true(harness_all_zero(m.seg.ring, 256));

	/* 64 bytes to the end, the record needs 96: pad 64, record at 0. */
	assert_int_equal(ring_claim(&p, 60, &r), 0);
	assert_ptr_equal(r, m.seg.ring + 0);
	assert_int_equal(harness_tail(&m), 192 + 64 + 96);
	assert_int_equal(harness_len_at(&m, 192), 64);
	assert_int_equal(harness_flags_at(&m, 192), REC_PAD);
	assert_true(harness_all_zero(m.seg.ring + 200, 56));
	assert_int_equal(harness_len_at(&m, 0), -(int32_t)(REC_HDR + 60));
	/* Claimed but not committed: the consumer sees nothing yet. */
	assert_int_equal(ring_read(&c, &none), -EAGAIN);
	assert_null(none);
	fill(ring_rec_payload(r), 60, 22);
	ring_commit(&p, r, 9, 60, 1);
	/* The padding is skipped: the consumer gets the record at 0. */
	get(&c, r, 60, 9, 0, 2, 22);
	assert_int_equal(c.pos, 352);
	assert_int_equal(ring_read(&c, &none), -EAGAIN);
	assert_int_equal(ring_release(&c), 64 + 96);
	assert_int_equal(harness_head(&m), 352);
	assert_true(harness_all_zero(m.seg.ring, 256));

	/* The smallest padding: 8 bytes, just its length and flags words. */
	a = put(&p, 88, 1, 23); /* [352, 472): index 96..216 */
	b = put(&p, 0, 1, 24);  /* [472, 504): index 216..248 */
	assert_ptr_equal(b, m.seg.ring + 216);
	get(&c, a, 88, 1, 0, 3, 23);
	get(&c, b, 0, 1, 0, 4, 24);
	assert_int_equal(ring_release(&c), 152);
	assert_int_equal(harness_idx(&m, harness_tail(&m)), 248);
	r = put(&p, 0, 2, 25);
	assert_ptr_equal(r, m.seg.ring + 0);
	assert_int_equal(harness_len_at(&m, 248), 8);
	assert_int_equal(harness_flags_at(&m, 248), REC_PAD);
	assert_int_equal(harness_tail(&m), 504 + 8 + 32);
	get(&c, r, 0, 2, 0, 5, 25);
	assert_int_equal(c.pos, 544);
	release_last(&m, &c, 40);
}

/* --- full ring --- */

/* Later tests open alike to this one on purpose: each declares its own queue. */
static void test_full_ring(void **state)
{
	struct seg_params sp = {.name = "full", .capacity = 256};
	struct mem_seg m;
	bus_producer *p;
	bus_consumer *c;
	bus_msg msg;
	uint32_t slot;

	(void)state;
	harness_queue_new(&m, &sp, &p, &c);
	slot = bus_producer_slot(p);
	assert_int_equal(slot, 0);

	/* Four records of extent 64 fill the ring exactly. */
	for (int i = 0; i < 4; i++)
		assert_int_equal(send_seeded(p, 1, 32, 100 + (uint64_t)i), 0);
	assert_int_equal(harness_tail(&m), 256);
	assert_int_equal(full_of(&m, slot), 0);
	assert_int_equal(send_seeded(p, 1, 32, 999), -EAGAIN);
	assert_int_equal(harness_tail(&m), 256);
	assert_int_equal(full_of(&m, slot), 1);
	assert_int_equal(bus_send(p, 1, NULL, 0, 0), -EAGAIN);
	assert_int_equal(harness_tail(&m), 256);
	assert_int_equal(full_of(&m, slot), 2);
	assert_int_equal(ring_used(&m.seg), 256);

	/* Received but not released is still held: still full. */
	assert_int_equal(bus_recv(c, &msg, 0), 0);
	check_msg(&m, &msg, 0, 32, 1, slot, 0, 100);
	assert_int_equal(send_seeded(p, 1, 32, 999), -EAGAIN);
	assert_int_equal(full_of(&m, slot), 3);
	assert_int_equal(harness_tail(&m), 256);

	bus_release(c);
	assert_int_equal(harness_head(&m), 64);
	assert_true(harness_all_zero(m.seg.ring, 64));
	assert_int_equal(send_seeded(p, 1, 32, 104), 0);
	assert_int_equal(harness_tail(&m), 320);
	assert_int_equal(full_of(&m, slot), 3);
	assert_int_equal(send_seeded(p, 1, 32, 999), -EAGAIN);
	assert_int_equal(full_of(&m, slot), 4);

	for (uint64_t i = 1; i < 5; i++) {
		assert_int_equal(bus_recv(c, &msg, 0), 0);
		check_msg(&m, &msg, 64 * i, 32, 1, slot, i, 100 + i);
	}
	bus_release(c);
	assert_int_equal(harness_head(&m), 320);
	assert_int_equal(bus_recv(c, &msg, 0), -EAGAIN);

	/*
	 * Room for the record but not for the padding it needs: 128 bytes
	 * free, the record's extent is 128, but 64 bytes of padding come
	 * first.  The failing claim must write no padding either.
	 */
	assert_int_equal(send_seeded(p, 1, 32, 105), 0);
	assert_int_equal(send_seeded(p, 1, 32, 106), 0);
	assert_int_equal(harness_tail(&m), 448);
	assert_int_equal(send_seeded(p, 2, 96, 999), -EAGAIN);
	assert_int_equal(harness_tail(&m), 448);
	assert_int_equal(full_of(&m, slot), 5);
	assert_true(harness_all_zero(m.seg.ring + 192, 64));
	assert_true(harness_all_zero(m.seg.ring, 64));

	/* One more record released: 192 free, padding + record fit. */
	assert_int_equal(bus_recv(c, &msg, 0), 0);
	check_msg(&m, &msg, 320, 32, 1, slot, 5, 105);
	bus_release(c);
	assert_int_equal(send_seeded(p, 2, 96, 107), 0);
	assert_int_equal(harness_tail(&m), 448 + 64 + 128);
	assert_int_equal(harness_len_at(&m, 192), 64);
	assert_int_equal(harness_flags_at(&m, 192), REC_PAD);
	assert_int_equal(bus_recv(c, &msg, 0), 0);
	check_msg(&m, &msg, 384, 32, 1, slot, 6, 106);
	assert_int_equal(bus_recv(c, &msg, 0), 0);
	check_msg(&m, &msg, 512, 96, 2, slot, 7, 107);
	bus_release(c);
	assert_int_equal(harness_head(&m), harness_tail(&m));
	assert_true(harness_all_zero(m.seg.ring, 256));
	assert_int_equal(full_of(&m, slot), 5);

	harness_queue_free(&m, p, c);
}

/*
 * A full ring read to its end, nothing released yet: the cursor is a
 * whole capacity past the head, on bytes the consumer itself still holds.
 * There is nothing more to read: that is "empty" (-EAGAIN, or
 * -ETIMEDOUT after a wait), not a corrupt record.
 */
static void test_read_all_of_full_ring(void **state)
{
	struct seg_params sp = {.name = "readall", .capacity = 256};
	struct mem_seg m;
	struct ring_prod p;
	struct ring_cons c;
	struct rec_hdr *r[4], *none = NULL;
	bus_producer *bp;
	bus_consumer *bc;
	bus_msg msgs[8];

	(void)state;
	ring_new(&m, &sp, &p, &c);
	for (int i = 0; i < 4; i++)
		r[i] = put(&p, 32, 1, 70 + (uint64_t)i);
	assert_int_equal(harness_tail(&m), 256);
	for (int i = 0; i < 4; i++)
		get(&c, r[i], 32, 1, 0, (uint64_t)i, 70 + (uint64_t)i);
	assert_int_equal(c.pos, 256);
	assert_int_equal(c.head, 0);
	assert_int_equal(ring_read(&c, &none), -EAGAIN);
	assert_null(none);
	assert_int_equal(c.pos, 256);
	assert_int_equal(ring_release(&c), 256);
	assert_int_equal(ring_read(&c, &none), -EAGAIN);

	/* The same through the public path, one by one and as a batch. */
	bp = harness_prod_new(&m);
	bc = harness_cons_new(&m);
	for (uint64_t i = 0; i < 4; i++)
		assert_int_equal(send_seeded(bp, 2, 32, 80 + i), 0);
	for (uint64_t i = 0; i < 4; i++) {
		assert_int_equal(bus_recv(bc, &msgs[i], 0), 0);
		check_msg(&m, &msgs[i], 256 + 64 * i, 32, 2, 0, 4 + i, 80 + i);
	}
	assert_int_equal(bus_recv(bc, &msgs[4], 0), -EAGAIN);
	assert_int_equal(bus_recv(bc, &msgs[4], 1), -ETIMEDOUT);
	bus_release(bc);
	for (uint64_t i = 0; i < 4; i++)
		assert_int_equal(send_seeded(bp, 2, 32, 90 + i), 0);
	assert_int_equal(bus_recv_batch(bc, msgs, 8, 0), 4);
	for (uint64_t i = 0; i < 4; i++)
		check_msg(&m, &msgs[i], 512 + 64 * i, 32, 2, 0, 8 + i, 90 + i);
	assert_int_equal(bus_recv_batch(bc, msgs, 8, 0), -EAGAIN);
	bus_release(bc);
	assert_int_equal(harness_head(&m), 768);
	assert_true(harness_all_zero(m.seg.ring, 256));
	harness_queue_free(&m, bp, bc);
}

/* --- largest and empty messages --- */

/* Opens like test_full_ring on purpose: each test declares its own queue. */
static void test_max_and_zero_size(void **state)
{
	struct seg_params sp = {.name = "sizes", .capacity = 256};
	struct mem_seg m;
	bus_producer *p;
	bus_consumer *c;
	bus_msg msg;
	uint8_t big[4096];

	(void)state;
	assert_int_equal(seg_max_message_for(256), 96);
	harness_queue_new(&m, &sp, &p, &c);
	assert_int_equal(bus_producer_max_message(p), 96);

	assert_int_equal(send_seeded(p, 1, 96, 30), 0);
	assert_int_equal(harness_tail(&m), 128);
	assert_int_equal(bus_recv(c, &msg, 0), 0);
	check_msg(&m, &msg, 0, 96, 1, 0, 0, 30);
	bus_release(c);

	fill(big, sizeof(big), 31);
	assert_int_equal(bus_send(p, 1, big, 97, 0), -EMSGSIZE);
	assert_int_equal(bus_send(p, 1, big, sizeof(big), 0), -EMSGSIZE);
	assert_int_equal(bus_send(p, 1, big, SIZE_MAX, 0), -EMSGSIZE);
	assert_int_equal(harness_tail(&m), 128);
	assert_int_equal(full_of(&m, 0), 0);
	assert_true(harness_all_zero(m.seg.ring, 256));
	assert_int_equal(bus_send(p, 1, NULL, 1, 0), -EINVAL);

	/* Empty messages, with and without a data pointer. */
	assert_int_equal(bus_send(p, 7, NULL, 0, 0), 0);
	assert_int_equal(bus_send(p, 8, big, 0, 0), 0);
	assert_int_equal(harness_tail(&m), 128 + 64);
	assert_int_equal(bus_recv(c, &msg, 0), 0);
	check_msg(&m, &msg, 128, 0, 7, 0, 1, 0);
	assert_int_equal(bus_recv(c, &msg, 0), 0);
	check_msg(&m, &msg, 160, 0, 8, 0, 2, 0);
	assert_int_equal(bus_recv(c, &msg, 0), -EAGAIN);
	bus_release(c);
	assert_true(harness_all_zero(m.seg.ring, 256));
	harness_queue_free(&m, p, c);

	/*
	 * A largest message fits an empty ring wherever the ring's positions
	 * stand: with padding it never needs more than the capacity.
	 */
	for (uint64_t start = 0; start < 256; start += REC_ALIGN) {
		struct seg_params at = {.name = "sizes", .capacity = 256, .initial_pos = 7 * 256 + start};
		uint64_t rec = start + 128 <= 256 ? start : 256;

		harness_seg_new(&m, &at);
		p = harness_prod_new(&m);
		c = harness_cons_new(&m);
		assert_int_equal(send_seeded(p, 3, 96, 40 + start), 0);
		assert_int_equal(harness_tail(&m), 7 * 256 + rec + 128);
		assert_int_equal(bus_recv(c, &msg, 0), 0);
		check_msg(&m, &msg, 7 * 256 + rec, 96, 3, 0, 0, 40 + start);
		bus_release(c);
		assert_true(harness_all_zero(m.seg.ring, 256));
		harness_queue_free(&m, p, c);
	}

	/* An explicit maximum below the capacity's. */
	{
		struct seg_params small = {.name = "sizes", .capacity = 4096, .max_message = 100};

		harness_seg_new(&m, &small);
		assert_int_equal(m.seg.max_message, 100);
		p = harness_prod_new(&m);
		c = harness_cons_new(&m);
		assert_int_equal(bus_producer_max_message(p), 100);
		assert_int_equal(bus_send(p, 1, big, 101, 0), -EMSGSIZE);
		assert_int_equal(harness_tail(&m), 0);
		assert_int_equal(send_seeded(p, 1, 100, 50), 0);
		assert_int_equal(bus_recv(c, &msg, 0), 0);
		check_msg(&m, &msg, 0, 100, 1, 0, 0, 50);
		bus_release(c);
		harness_queue_free(&m, p, c);
	}

	/* An explicit maximum equal to the largest allowed. */
	{
		struct seg_params top = {.name = "sizes", .capacity = 4096, .max_message = 2016};

		assert_int_equal(seg_max_message_for(4096), 2016);
		harness_seg_new(&m, &top);
		p = harness_prod_new(&m);
		c = harness_cons_new(&m);
		assert_int_equal(bus_producer_max_message(p), 2016);
		assert_int_equal(bus_send(p, 1, big, 2017, 0), -EMSGSIZE);
		assert_int_equal(send_seeded(p, 1, 2016, 51), 0);
		assert_int_equal(send_seeded(p, 1, 2016, 52), 0);
		assert_int_equal(harness_tail(&m), 4096);
		assert_int_equal(bus_recv(c, &msg, 0), 0);
		check_msg(&m, &msg, 0, 2016, 1, 0, 0, 51);
		assert_int_equal(bus_recv(c, &msg, 0), 0);
		check_msg(&m, &msg, 2048, 2016, 1, 0, 1, 52);
		bus_release(c);
		harness_queue_free(&m, p, c);
	}
}

/* --- a model of the ring: every position and every "full" predicted --- */

static void check_expect(const struct mem_seg *m, const bus_msg *msg,
                         const struct expect *e)
{
	check_msg(m, msg, e->start, e->len, e->type, e->producer, e->seq, e->seed);
}

/* Receives the message the model expects next and counts it. */
static void recv_expected(bus_consumer *c, const struct mem_seg *m, struct model *md,
                          uint64_t *delivered)
{
	bus_msg msg;

	assert_int_equal(bus_recv(c, &msg, 0), 0);
	check_expect(m, &msg, model_read(md));
	(*delivered)++;
}

/* The bytes nobody has claimed are all zero. */
static void check_free_zero(const struct mem_seg *m)
{
	uint64_t cap = m->seg.capacity;
	uint64_t used = harness_tail(m) - harness_head(m);
	uint64_t idx = harness_idx(m, harness_tail(m));
	uint64_t free_bytes = cap - used;
	uint64_t first = free_bytes < cap - idx ? free_bytes : cap - idx;

	assert_true(used <= cap);
	assert_true(harness_all_zero(m->seg.ring + idx, first));
	assert_true(harness_all_zero(m->seg.ring, free_bytes - first));
}

/* --- positions across 2^64 --- */

static void test_positions_wrap_2_64(void **state)
{
	const uint64_t cap = 1024;
	const uint64_t initial = (uint64_t)0 - 3 * cap / 2;
	struct seg_params sp = {.name = "wrap64", .capacity = cap, .initial_pos = initial};
	static struct model md;
	struct mem_seg m;
	bus_producer *p;
	bus_consumer *c;
	uint64_t seq = 0, seed = 7, sent_bytes = 0, delivered = 0;
	bool crossed = false;
	bool full_across = false;

	(void)state;
	assert_int_equal(initial % REC_ALIGN, 0);
	harness_seg_new(&m, &sp);
	assert_int_equal(harness_head(&m), initial);
	assert_int_equal(harness_tail(&m), initial);
	p = harness_prod_new(&m);
	c = harness_cons_new(&m);
	model_init(&md, cap, initial);

	/* Rounds: fill until full, then receive some and release. */
	for (int round = 0; round < 200 && (!crossed || sent_bytes < 12 * cap);
	     round++) {
		for (;;) {
			uint32_t len = (uint32_t)(rng_next(&seed) % (m.seg.max_message + 1));
			uint64_t s = splitmix(seq);
			bool fits = model_send(&md, len, 5, 0, seq, s);
			int r = send_seeded(p, 5, len, s);

			if (!fits) {
				assert_int_equal(r, -EAGAIN);
				assert_int_equal(harness_tail(&m), md.tail);
				if (md.head > md.tail)
					full_across = true;
				break;
			}
			assert_int_equal(r, 0);
			assert_int_equal(harness_tail(&m), md.tail);
			seq++;
			sent_bytes += len;
		}
		check_free_zero(&m);
		for (uint64_t k = 1 + rng_next(&seed) % model_unread(&md);
		     k > 0; k--)
			recv_expected(c, &m, &md, &delivered);
		bus_release(c);
		model_release(&md);
		assert_int_equal(harness_head(&m), md.head);
		check_free_zero(&m);
		if (harness_tail(&m) < initial)
			crossed = true;
	}
	while (model_unread(&md) > 0)
		recv_expected(c, &m, &md, &delivered);
	bus_release(c);
	model_release(&md);
	assert_true(crossed);
	assert_true(full_across);
	assert_true(sent_bytes >= 12 * cap);
	assert_int_equal(delivered, seq);
	assert_int_equal(harness_head(&m), harness_tail(&m));
	assert_true(harness_head(&m) < initial);
	assert_true(harness_all_zero(m.seg.ring, cap));
	harness_queue_free(&m, p, c);
}

/* --- a batch across the end of the ring --- */

static void test_batch_spans_wrap(void **state)
{
	const uint64_t cap = 1024;
	struct seg_params sp = {.name = "batch", .capacity = cap, .initial_pos = 824};
	/* 824 + 96 * 2 = 1016: then 8 bytes of padding, and on from 0. */
	static const uint64_t starts[10] = {
		824,
		920,
		1024,
		1120,
		1216,
		1312,
		1408,
		1504,
		1600,
		1696,
	};
	struct mem_seg m;
	bus_producer *p;
	bus_consumer *c;
	bus_msg msgs[16];

	(void)state;
	harness_queue_new(&m, &sp, &p, &c);

	for (uint64_t i = 0; i < 6; i++)
		assert_int_equal(send_seeded(p, 3, 64, 300 + i), 0);
	assert_int_equal(harness_tail(&m), 1408);
	assert_int_equal(harness_len_at(&m, 1016), 8);
	assert_int_equal(harness_flags_at(&m, 1016), REC_PAD);

	assert_int_equal(bus_recv_batch(c, msgs, 16, 0), 6);
	for (uint64_t i = 0; i < 6; i++)
		check_msg(&m, &msgs[i], starts[i], 64, 3, 0, i, 300 + i);

	/* While the batch is held, producers fill what is left. */
	for (uint64_t i = 6; i < 10; i++)
		assert_int_equal(send_seeded(p, 3, 64, 300 + i), 0);
	assert_int_equal(harness_tail(&m), 1792);
	assert_int_equal(send_seeded(p, 3, 64, 999), -EAGAIN);
	assert_int_equal(harness_tail(&m), 1792);

	/* A second part of the batch, one message at a time. */
	for (uint64_t i = 6; i < 10; i++)
		assert_int_equal(bus_recv(c, &msgs[i], 0), 0);
	assert_int_equal(bus_recv(c, &msgs[10], 0), -EAGAIN);
	for (uint64_t i = 0; i < 10; i++)
		check_msg(&m, &msgs[i], starts[i], 64, 3, 0, i, 300 + i);
	assert_int_equal(harness_head(&m), 824);
	assert_false(harness_all_zero(m.seg.ring + 824, 200));

	/* One release returns both parts: [824, 1024) and [0, 768). */
	bus_release(c);
	assert_int_equal(harness_head(&m), 1792);
	assert_int_equal(harness_head(&m), harness_tail(&m));
	assert_true(harness_all_zero(m.seg.ring, cap));

	/*
	 * A batch shorter than what is queued takes the oldest.  The fifth
	 * record does not fit the 32 bytes left at the end: padding first.
	 */
	{
		static const uint64_t at[5] = {1792, 1848, 1904, 1960, 2048};

		for (uint64_t i = 10; i < 15; i++)
			assert_int_equal(send_seeded(p, 4, 24, 300 + i), 0);
		assert_int_equal(harness_tail(&m), 2048 + 56);
		assert_int_equal(harness_len_at(&m, 992), 32);
		assert_int_equal(harness_flags_at(&m, 992), REC_PAD);
		assert_int_equal(bus_recv_batch(c, msgs, 3, 0), 3);
		for (uint64_t i = 0; i < 3; i++)
			check_msg(&m, &msgs[i], at[i], 24, 4, 0, 10 + i, 310 + i);
		assert_int_equal(bus_recv_batch(c, msgs, 16, 0), 2);
		for (uint64_t i = 0; i < 2; i++)
			check_msg(&m, &msgs[i], at[3 + i], 24, 4, 0, 13 + i, 313 + i);
		assert_int_equal(bus_recv_batch(c, msgs, 16, 0), -EAGAIN);
		bus_release(c);
		assert_int_equal(harness_head(&m), 2048 + 56);
		assert_true(harness_all_zero(m.seg.ring, cap));
	}

	harness_queue_free(&m, p, c);
}

/* --- corrupt record headers --- */

struct bad_rec {
	const char *what;
	uint64_t idx; /* ring index of the cursor */
	int32_t len;
	uint32_t flags;
	uint64_t tail_off; /* tail - cursor */
	int expect;        /* ring_read's result, or REFUSED_BY_CLAIM */
};

/*
 * A record that frames itself but lies where nothing was claimed: ring_read
 * does not look at the tail (it would cost a shared line per message), so
 * it is read and released; a claim that loads the head then finds it past
 * the tail and refuses it.
 */
#define REFUSED_BY_CLAIM 1

/* Capacity 256, max_message 96. */
static const struct bad_rec bad_recs[] = {
	{"valid record (control)", 0, 40, 0, 40, 0},
	{"valid record at the end (control)", 216, 40, 0, 40, 0},
	{"length 8", 0, 8, 0, 64, -EBADMSG},
	{"length 31", 0, 31, 0, 64, -EBADMSG},
	{"length 1", 0, 1, 0, 64, -EBADMSG},
	{"payload of max_message + 1", 0, REC_HDR + 97, 0, 256, -EBADMSG},
	{"length INT32_MAX", 0, INT32_MAX, 0, 256, -EBADMSG},
	{"record crosses the end", 192, REC_HDR + 40, 0, 128, -EBADMSG},
	{"record crosses the end, 8 left", 248, REC_HDR, 0, 64, -EBADMSG},
	{"padding shorter than the end", 192, 32, REC_PAD, 128, -EBADMSG},
	{"padding longer than the end", 192, 72, REC_PAD, 128, -EBADMSG},
	{"padding of 16 with 8 left", 248, 16, REC_PAD, 64, -EBADMSG},
	{"padding in the middle", 0, 64, REC_PAD, 128, -EBADMSG},
	{"a request too short for its call header", 0, 40, REC_REQUEST, 64, -EBADMSG},
	{"unknown flag 0x20", 0, 40, 0x20, 64, -EBADMSG},
	{"request and reply flags together", 0, 56, REC_REQUEST | REC_REPLY, 64, -EBADMSG},
	{"pad and dead flags together", 0, 40, REC_PAD | REC_DEAD, 64, -EBADMSG},
	{"dead record not 8-aligned", 0, 36, REC_DEAD, 64, -EBADMSG},
	{"dead record shorter than a header", 0, 24, REC_DEAD, 64, -EBADMSG},
	{"dead record crosses the end", 192, 72, REC_DEAD, 128, -EBADMSG},
	{"dead record beyond the tail", 0, 64, REC_DEAD, 32, -EBADMSG},
	{"unknown flag 0x80000000", 0, 40, 0x80000000u, 64, -EBADMSG},
	{"record beyond the tail", 0, 40, 0, 0, REFUSED_BY_CLAIM},
	{"record partly beyond the tail", 0, 40, 0, 8, REFUSED_BY_CLAIM},
	{"record behind the tail", 0, 40, 0, (uint64_t)0 - 8, REFUSED_BY_CLAIM},
	{"padding beyond the tail", 192, 64, REC_PAD, 0, -EBADMSG},
	{"padding partly beyond the tail", 192, 64, REC_PAD, 32, -EBADMSG},
	{"padding with unknown flag", 192, 64, REC_PAD | 0x8, 128, -EBADMSG},
};

static void check_bad_rec(struct mem_seg *m, const struct bad_rec *b,
                          uint64_t base)
{
	uint64_t pos = base + b->idx;
	uint8_t before[256];
	struct ring_cons c;
	struct rec_hdr *r = NULL;
	int rc;

	memset(m->seg.ring, 0, 256);
	atomic_store(&m->seg.hdr->head, pos);
	atomic_store(&m->seg.hdr->tail, pos + b->tail_off);
	memcpy(m->seg.ring + b->idx, &b->len, sizeof(b->len));
	memcpy(m->seg.ring + b->idx + 4, &b->flags, sizeof(b->flags));
	memcpy(before, m->seg.ring, sizeof(before));
	assert_int_equal(ring_cons_init(&c, &m->seg), 0);
	assert_int_equal(c.pos, pos);

	rc = ring_read(&c, &r);
	if (b->expect == REFUSED_BY_CLAIM) {
		struct ring_prod p;
		struct rec_hdr *claimed = NULL;
		uint64_t tail = pos + b->tail_off;

		if (rc != 0)
			fail_msg("%s at position %#llx: ring_read returned %d, expected 0",
			         b->what, (unsigned long long)pos, rc);
		assert_int_equal(ring_release(&c), 40);
		ring_prod_init(&p, &m->seg, 0);
		for (size_t len = 0; len <= 96; len += 48) {
			assert_int_equal(ring_claim(&p, len, &claimed), -EBADMSG);
			assert_null(claimed);
			assert_int_equal(harness_tail(m), tail);
			assert_int_equal(atomic_load(&p.slot->claim_need), 0);
		}
		return;
	}
	if (rc != b->expect)
		fail_msg("%s at position %#llx: ring_read returned %d, expected %d",
		         b->what, (unsigned long long)pos, rc, b->expect);
	if (b->expect == 0) {
		assert_ptr_equal(r, m->seg.ring + b->idx);
		assert_int_equal(c.pos, pos + ring_rec_extent((uint32_t)b->len - REC_HDR));
		return;
	}
	assert_null(r);
	assert_int_equal(c.pos, pos);
	assert_int_equal(c.head, pos);
	/* Still refused on a second look; nothing was written. */
	assert_int_equal(ring_read(&c, &r), -EBADMSG);
	assert_int_equal(c.pos, pos);
	assert_int_equal(ring_release(&c), 0);
	assert_memory_equal(before, m->seg.ring, sizeof(before));
	assert_int_equal(harness_head(m), pos);
}

static void test_corrupt_headers(void **state)
{
	struct seg_params sp = {.name = "corrupt", .capacity = 256};
	/* Positions near 0 and just below 2^64 (the tail then wraps). */
	const uint64_t bases[] = {0, 5 * 256, (uint64_t)0 - 256};
	struct mem_seg m;

	(void)state;
	harness_seg_new(&m, &sp);
	assert_int_equal(m.seg.max_message, 96);

	/* Valid padding, then a corrupt record: the cursor stops on it. */
	{
		struct ring_cons c;
		struct rec_hdr *r = NULL;
		int32_t pad = 64, shortlen = 8;
		uint32_t pad_flags = REC_PAD;

		memset(m.seg.ring, 0, 256);
		atomic_store(&m.seg.hdr->head, 192);
		atomic_store(&m.seg.hdr->tail, 192 + 128);
		memcpy(m.seg.ring + 192, &pad, sizeof(pad));
		memcpy(m.seg.ring + 196, &pad_flags, sizeof(pad_flags));
		memcpy(m.seg.ring, &shortlen, sizeof(shortlen));
		assert_int_equal(ring_cons_init(&c, &m.seg), 0);
		assert_int_equal(ring_read(&c, &r), -EBADMSG);
		assert_null(r);
		assert_int_equal(c.pos, 256);
		assert_int_equal(c.head, 192);
	}

	/* Each case at each base position. */
	for (size_t k = 0; k < HARNESS_NITEMS(bad_recs); k++)
		for (size_t i = 0; i < HARNESS_NITEMS(bases); i++)
			check_bad_rec(&m, &bad_recs[k], bases[i]);
	harness_seg_free(&m);
}

/* --- claim order and per-producer FIFO --- */

static void test_claim_order(void **state)
{
	struct seg_params sp = {.name = "order", .capacity = 1024};
	struct mem_seg m;
	struct ring_prod a, b;
	struct ring_cons c;
	struct rec_hdr *ra, *rb, *rb2, *r = NULL;

	(void)state;
	harness_seg_new(&m, &sp);
	ring_prod_init(&a, &m.seg, 0);
	ring_prod_init(&b, &m.seg, 3);
	assert_int_equal(ring_cons_init(&c, &m.seg), 0);

	/* a claims first, b commits first: nothing is readable before a. */
	assert_int_equal(ring_claim(&a, 8, &ra), 0);
	assert_int_equal(ring_claim(&b, 16, &rb), 0);
	assert_ptr_equal(ra, m.seg.ring);
	assert_ptr_equal(rb, m.seg.ring + 40);
	assert_int_equal(harness_tail(&m), 40 + 48);
	fill(ring_rec_payload(rb), 16, 61);
	ring_commit(&b, rb, 2, 16, 1);
	assert_int_equal(ring_read(&c, &r), -EAGAIN);
	assert_null(r);
	assert_int_equal(c.pos, 0);
	fill(ring_rec_payload(ra), 8, 60);
	ring_commit(&a, ra, 1, 8, 1);
	get(&c, ra, 8, 1, 0, 0, 60);
	get(&c, rb, 16, 2, 3, 0, 61);
	assert_int_equal(ring_read(&c, &r), -EAGAIN);

	/* Sequences are per producer: a's next is 1, b's next is 1. */
	rb = put(&b, 0, 2, 62);
	ra = put(&a, 0, 1, 63);
	rb2 = put(&b, 0, 2, 64);
	assert_ptr_equal(rb, m.seg.ring + 88);
	assert_ptr_equal(ra, m.seg.ring + 120);
	assert_ptr_equal(rb2, m.seg.ring + 152);
	get(&c, rb, 0, 2, 3, 1, 62);
	get(&c, ra, 0, 1, 0, 1, 63);
	get(&c, rb2, 0, 2, 3, 2, 64);
	assert_int_equal(atomic_load(&m.seg.slots[0].next_seq), 2);
	assert_int_equal(atomic_load(&m.seg.slots[3].next_seq), 3);
	assert_int_equal(atomic_load(&m.seg.slots[3].bytes), 16);
	assert_int_equal(ring_release(&c), 88 + 96);
	harness_seg_free(&m);
}

static void test_per_producer_fifo(void **state)
{
	enum {
		NP = 3,
		NMSG = 90
	};
	struct seg_params sp = {.name = "fifo", .capacity = 4096, .max_producers = 4};
	struct mem_seg m;
	bus_producer *p[NP];
	bus_consumer *c;
	uint64_t sent[NP] = {0}, recvd[NP] = {0};
	uint32_t slot[NP];
	int order[NMSG];
	int next = 0;

	(void)state;
	harness_seg_new(&m, &sp);
	for (int i = 0; i < NP; i++) {
		p[i] = harness_prod_new(&m);
		slot[i] = bus_producer_slot(p[i]);
		assert_int_equal(slot[i], (uint32_t)i);
		assert_int_equal(atomic_load(&m.seg.slots[i].pid), (uint32_t)getpid());
	}
	c = harness_cons_new(&m);

	/* An irregular interleaving, with receives in between. */
	for (int n = 0; n < NMSG; n++) {
		static const int pattern[9] = {0, 1, 1, 0, 2, 2, 2, 0, 1};
		int who = pattern[n % 9];

		order[n] = who;
		assert_int_equal(send_seeded(p[who], 100 + (uint32_t)who,
		                             (size_t)(n % 40),
		                             (uint64_t)who << 32 | sent[who]),
		                 0);
		sent[who]++;
		if (n % 11 != 10 && n != NMSG - 1)
			continue;
		for (; next <= n; next++) {
			int w = order[next];
			bus_msg msg;

			assert_int_equal(bus_recv(c, &msg, 0), 0);
			assert_int_equal(msg.producer, slot[w]);
			assert_int_equal(msg.type, 100 + (uint32_t)w);
			assert_int_equal(msg.seq, recvd[w]);
			assert_int_equal(msg.len, (size_t)(next % 40));
			assert_true(matches(msg.data, msg.len, (uint64_t)w << 32 | recvd[w]));
			recvd[w]++;
		}
		assert_int_equal(bus_recv(c, &(bus_msg){0}, 0), -EAGAIN);
		bus_release(c);
	}
	for (int i = 0; i < NP; i++) {
		assert_int_equal(sent[i], NMSG / NP);
		assert_int_equal(recvd[i], NMSG / NP);
	}

	/* A new producer on a freed slot continues that slot's sequence. */
	harness_prod_close(p[1]);
	assert_int_equal(atomic_load(&m.seg.slots[1].pid), 0);
	p[1] = harness_prod_new(&m);
	assert_int_equal(bus_producer_slot(p[1]), 1);
	assert_int_equal(atomic_load(&m.seg.slots[1].gen), 2);
	assert_int_equal(bus_send(p[1], 7, "x", 1, 0), 0);
	assert_int_equal(bus_send(p[0], 7, "y", 1, 0), 0);
	{
		bus_msg msg[3];

		assert_int_equal(bus_recv_batch(c, msg, 3, 0), 2);
		assert_int_equal(msg[0].producer, 1);
		assert_int_equal(msg[0].seq, NMSG / NP);
		assert_memory_equal(msg[0].data, "x", 1);
		assert_int_equal(msg[1].producer, 0);
		assert_int_equal(msg[1].seq, NMSG / NP);
		assert_memory_equal(msg[1].data, "y", 1);
		bus_release(c);
	}
	for (int i = 0; i < NP; i++)
		harness_prod_close(p[i]);
	harness_cons_close(c);
	harness_seg_free(&m);
}

/* --- a random run against the model --- */

static void test_random_model(void **state)
{
	enum {
		NP = 3,
		MAX_BATCH = 8
	};
	const uint64_t cap = 2048;
	const uint64_t initial = (uint64_t)0 - 20 * cap;
	const long ops = HARNESS_SCALE(200000L, 20000L);
	struct seg_params sp = {.name = "model", .capacity = cap, .max_producers = NP, .initial_pos = initial};
	static struct model md;
	struct mem_seg m;
	bus_producer *p[NP];
	bus_consumer *c;
	uint64_t seq[NP] = {0}, full[NP] = {0};
	uint64_t rng = 0x5eed5eedULL, delivered = 0, sent = 0, laps = 0;
	bus_msg held[MODEL_QUEUE];
	size_t nheld = 0;
	uint32_t maxm;

	(void)state;
	harness_seg_new(&m, &sp);
	maxm = m.seg.max_message;
	for (int i = 0; i < NP; i++) {
		p[i] = harness_prod_new(&m);
		assert_int_equal(bus_producer_slot(p[i]), (uint32_t)i);
	}
	c = harness_cons_new(&m);
	model_init(&md, cap, initial);

	for (long op = 0; op < ops; op++) {
		uint64_t dice = rng_next(&rng) % 100;

		if (dice < 55) {
			int who = (int)(rng_next(&rng) % NP);
			uint64_t kind = rng_next(&rng) % 100;
			uint32_t len = kind < 70   ? (uint32_t)(rng_next(&rng) % 65)
			               : kind < 98 ? (uint32_t)(rng_next(&rng) % (maxm + 1))
			               : kind < 99 ? maxm
			                           : maxm + 1;
			uint64_t seed = splitmix(((uint64_t)who << 48) ^ seq[who]);
			uint32_t type = bus_type_id("model") + (uint32_t)who;
			int r = send_seeded(p[who], type, len, seed);

			if (len > maxm) {
				assert_int_equal(r, -EMSGSIZE);
			} else if (model_send(&md, len, type, (uint32_t)who, seq[who],
			                      seed)) {
				assert_int_equal(r, 0);
				seq[who]++;
				sent++;
			} else {
				assert_int_equal(r, -EAGAIN);
				full[who]++;
			}
			assert_int_equal(harness_tail(&m), md.tail);
			assert_int_equal(full_of(&m, (uint32_t)who), full[who]);
		} else if (dice < 85) {
			bus_msg msgs[MAX_BATCH];
			size_t want = 1 + rng_next(&rng) % MAX_BATCH;
			size_t avail = model_unread(&md);
			int got = want == 1 ? bus_recv(c, msgs, 0)
			                    : bus_recv_batch(c, msgs, want, 0);

			if (avail == 0) {
				assert_int_equal(got, -EAGAIN);
				continue;
			}
			if (want == 1)
				assert_int_equal(got, 0);
			else
				assert_int_equal(got, want < avail ? want : avail);
			for (size_t k = 0; k < (want == 1 ? 1 : (size_t)got); k++) {
				check_expect(&m, &msgs[k], model_read(&md));
				held[nheld++] = msgs[k];
				delivered++;
			}
		} else {
			uint64_t before = harness_head(&m);

			/* Every view held so far is still intact. */
			for (size_t k = 0; k < nheld; k++)
				check_expect(&m, &held[k], &md.q[(md.first + k) % MODEL_QUEUE]);
			bus_release(c);
			model_release(&md);
			nheld = 0;
			assert_int_equal(harness_head(&m), md.head);
			laps += (md.head - initial) / cap != (before - initial) / cap;
			check_free_zero(&m);
		}
	}
	for (size_t k = 0; k < nheld; k++)
		check_expect(&m, &held[k], &md.q[(md.first + k) % MODEL_QUEUE]);
	bus_release(c);
	model_release(&md);
	while (model_unread(&md) > 0) {
		recv_expected(c, &m, &md, &delivered);
		bus_release(c);
		model_release(&md);
	}
	assert_int_equal(bus_recv(c, &(bus_msg){0}, 0), -EAGAIN);
	assert_int_equal(delivered, sent);
	assert_int_equal(harness_head(&m), harness_tail(&m));
	assert_true(harness_all_zero(m.seg.ring, cap));
	/* The run went past 2^64 and round the ring many times. */
	assert_true(harness_head(&m) < initial);
	assert_true(laps >= (uint64_t)ops / 400);
	for (int i = 0; i < NP; i++) {
		assert_int_equal(atomic_load(&m.seg.slots[i].next_seq), seq[i]);
		assert_true(full[i] > 0);
		harness_prod_close(p[i]);
	}
	assert_int_equal(atomic_load(&m.seg.hdr->cons.msgs), delivered);
	harness_cons_close(c);
	harness_seg_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_exact_fit_at_end, harness_let_go),
		cmocka_unit_test_teardown(test_padding_at_wrap, harness_let_go),
		cmocka_unit_test_teardown(test_full_ring, harness_let_go),
		cmocka_unit_test_teardown(test_read_all_of_full_ring, harness_let_go),
		cmocka_unit_test_teardown(test_max_and_zero_size, harness_let_go),
		cmocka_unit_test_teardown(test_positions_wrap_2_64, harness_let_go),
		cmocka_unit_test_teardown(test_batch_spans_wrap, harness_let_go),
		cmocka_unit_test_teardown(test_corrupt_headers, harness_let_go),
		cmocka_unit_test_teardown(test_claim_order, harness_let_go),
		cmocka_unit_test_teardown(test_per_producer_fifo, harness_let_go),
		cmocka_unit_test_teardown(test_random_model, harness_let_go),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

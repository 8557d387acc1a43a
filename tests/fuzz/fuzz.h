/*
 * fuzz.h - what the fuzz targets share: the libFuzzer entry points, a
 * check that aborts (so libFuzzer and the replay driver both see a
 * failure), a wait_ops table whose clock jumps, and the consumer's drain
 * loop with its oracle.
 *
 * The targets are built two ways (tests/fuzz/meson.build): linked with
 * replay.c, which feeds every file of a corpus through
 * LLVMFuzzerTestOneInput once (a regression test in every build), and,
 * in the clang build that scripts/fuzz.sh sets up, linked with libFuzzer.
 *
 * A target never prints on success; a broken invariant prints one line
 * naming it and aborts.
 */
#ifndef BUS_FUZZ_H
#define BUS_FUZZ_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bus/bus.h"
#include "handle.h"
#include "ring.h"
#include "segment.h"
#include "test.pb-c.h"
#include "wait.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                            \
	do {                                                                        \
		if (!(cond)) {                                                      \
			fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, \
			        __LINE__, #cond);                                   \
			abort();                                                    \
		}                                                                   \
	} while (0)

/* Little-endian reads from the input, which may be short: missing bytes are 0. */
static inline uint64_t fuzz_le(const uint8_t *data, size_t size, size_t at,
                               unsigned nbytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < nbytes; i++)
		if (at + i < size)
			v |= (uint64_t)data[at + i] << (8 * i);
	return v;
}

/*
 * A clock that moves 2 ms per reading and waits that return at once: a
 * polling consumer (timeout 0) then tries recovery on its second look at
 * a stuck claim (consumer.c waits 1 ms), and nothing ever sleeps.
 */
static uint64_t fuzz_clock_ns;

static inline uint64_t fuzz_now_ns(void)
{
	fuzz_clock_ns += 2000000u;
	return fuzz_clock_ns;
}

static inline int fuzz_wait(_Atomic uint32_t *w, uint32_t val,
                            uint64_t deadline_ns)
{
	(void)w;
	(void)val;
	(void)deadline_ns;
	return -ETIMEDOUT;
}

static inline void fuzz_wake(_Atomic uint32_t *w, int n)
{
	(void)w;
	(void)n;
}

/* Descriptors: a segment's bits may ask for their writes; none is made. */
static inline void fuzz_notify(int fd)
{
	(void)fd;
}

static inline bool fuzz_drain_fd(int fd)
{
	(void)fd;
	return false;
}

static inline void fuzz_poke(int *sock, uint64_t name)
{
	(void)sock;
	(void)name;
}

/*
 * The stand-ins for libbus/wait.c's wait_futex_ops, one callback a
 * slot: alike in form to it and to other ops tables (busbench's
 * transports), as designated initialisers of such a table are.
 */
__attribute__((unused)) static const struct wait_ops fuzz_ops = {
	.wait = fuzz_wait,
	.wake = fuzz_wake,
	.now_ns = fuzz_now_ns,
	.notify = fuzz_notify,
	.drain = fuzz_drain_fd,
	.poke = fuzz_poke,
};

/*
 * Memory for a segment whose last byte (the ring's) is followed by a
 * PROT_NONE page.  ASan checks an unaligned 4-byte access by the 8-byte
 * granule it starts in, so a load at ring + capacity - 3 would pass
 * unseen in a malloc'd copy; here it faults.  size must be a multiple
 * of 128 (every valid segment's is), so the header keeps its alignment.
 */
struct fuzz_guarded {
	void *map;
	size_t map_size;
	uint8_t *mem;
};

static inline void fuzz_guarded_new(struct fuzz_guarded *g, size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t body = (size + page - 1) / page * page;

	FUZZ_CHECK(size % 128 == 0);
	g->map_size = body + page;
	g->map = mmap(NULL, g->map_size, PROT_READ | PROT_WRITE,
	              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	FUZZ_CHECK(g->map != MAP_FAILED);
	FUZZ_CHECK(mprotect((uint8_t *)g->map + body, page, PROT_NONE) == 0);
	g->mem = (uint8_t *)g->map + body - size;
}

static inline void fuzz_guarded_free(struct fuzz_guarded *g)
{
	munmap(g->map, g->map_size);
}

/* Bytes of arena for unpacking one ring message: bounded, never grown. */
#define FUZZ_ARENA 16384u

/*
 * Unpacks a received message with each test descriptor: the only results
 * allowed are a message, -EBADMSG and -ENOBUFS; a message must pack again
 * (which walks every pointer the arena allocator handed out).
 */
static inline void fuzz_unpack(const bus_msg *m)
{
	static const ProtobufCMessageDescriptor *const descs[] = {
		&bustest__probe__descriptor,
		&bustest__nested__descriptor,
	};
	/* max_align_t: the arena's own alignment fix-up is tested elsewhere */
	static max_align_t arena[FUZZ_ARENA / sizeof(max_align_t)];

	for (size_t i = 0; i < sizeof(descs) / sizeof(descs[0]); i++) {
		ProtobufCMessage *pm = NULL;
		int r = bus_msg_unpack(m, descs[i], arena, sizeof(arena), &pm);

		FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -ENOBUFS);
		if (r == 0) {
			size_t n = protobuf_c_message_get_packed_size(pm);
			uint8_t *buf = malloc(n ? n : 1);

			FUZZ_CHECK(buf != NULL);
			FUZZ_CHECK(protobuf_c_message_pack(pm, buf) == n);
			free(buf);
		}
	}
}

/* How the consumer drains (chosen by the input). */
struct fuzz_drain {
	bool release_each; /* bus_release after every message, else at the end */
	bool batch;        /* bus_recv_batch of up to 4, else bus_recv */
	bool unpack;       /* try the protobuf descriptors on each message */
};

/*
 * Receives until the ring has nothing more to give, checking every
 * message against the segment it came from: inside the ring, no longer
 * than the queue's maximum.  Returns the number of messages received.
 */
static inline unsigned fuzz_drain(bus_consumer *c, const struct fuzz_drain *o)
{
	const struct seg *s = consumer_seg(c);
	const uint8_t *ring = s->ring, *end = s->ring + s->capacity;
	unsigned got = 0, empty = 0, bad = 0;
	bus_msg msgs[4];

	/*
	 * Each success moves the cursor by 8 bytes or more, so a ring of C
	 * bytes yields at most C / 8 messages between releases.  -EAGAIN is
	 * tried again (the second look may recover a dead claim); -EBADMSG
	 * too (a corrupt record that still frames itself is stepped over,
	 * a queue marked broken says -EBADMSG for ever).
	 */
	for (unsigned iter = 0; iter < 4 * s->capacity / REC_ALIGN + 16; iter++) {
		int r = o->batch ? bus_recv_batch(c, msgs, 4, 0)
		                 : bus_recv(c, &msgs[0], 0);

		if (r == -EAGAIN || r == -EPIPE) {
			if (++empty > 3)
				break;
			continue;
		}
		if (r == -EBADMSG) {
			if (++bad > 64)
				break;
			continue;
		}
		FUZZ_CHECK(r >= 0);
		empty = bad = 0;
		if (!o->batch)
			r = 1;
		FUZZ_CHECK(r >= 1 && r <= 4);
		for (int i = 0; i < r; i++) {
			const uint8_t *p = msgs[i].data;

			FUZZ_CHECK(p >= ring + REC_HDR && p <= end);
			FUZZ_CHECK(msgs[i].len <= s->max_message);
			FUZZ_CHECK(msgs[i].len <= (size_t)(end - p));
			if (o->unpack)
				fuzz_unpack(&msgs[i]);
			got++;
		}
		if (o->release_each)
			bus_release(c);
	}
	bus_release(c);
	return got;
}

/*
 * After a drain: the head the consumer published is where a producer
 * may write.  It lies within a ring's length behind the tail, or past the
 * tail: the consumer does not check plain records against the tail, so
 * records scribbled where nothing was claimed are read and released.  A
 * claim that loads such a head must refuse it and claim nothing.
 */
static inline void fuzz_check_positions(const struct seg *s)
{
	struct seg_header *h = s->hdr;
	uint64_t head = atomic_load_explicit(&h->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&h->tail, memory_order_relaxed);
	struct seg view = *s;
	struct ring_prod p;
	struct rec_hdr *r = NULL;
	uint64_t need;

	FUZZ_CHECK(head % REC_ALIGN == 0);
	if (tail - head <= s->capacity)
		return;
	/* The probe's claim clears slot 0's intent: keep the input's. */
	need = atomic_load_explicit(&s->slots[0].claim_need, memory_order_relaxed);
	ring_prod_init(&p, &view, 0);
	FUZZ_CHECK(ring_claim(&p, 0, &r) == -EBADMSG);
	FUZZ_CHECK(r == NULL);
	FUZZ_CHECK(atomic_load_explicit(&h->tail, memory_order_relaxed) == tail);
	atomic_store_explicit(&s->slots[0].claim_need, need, memory_order_relaxed);
}

#endif

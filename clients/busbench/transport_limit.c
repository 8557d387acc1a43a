/*
 * transport_limit.c - the two physical limits the bus is measured against.
 *
 * shm-spsc-limit: a bare single-producer, single-consumer ring in an
 * anonymous shared mapping: fixed slots of exactly the payload size (no
 * record header, no framing), the producer's tail and the consumer's head
 * on separate 128-byte lines, each side caching the other's index and
 * reloading it only when the ring looks full or empty, acquire/release
 * ordering, busy polling on both sides, and the consumer publishing its
 * head once per batch it read.  A side that has polled SPSC_POLLS times
 * in vain yields the processor (sched_yield) before polling on: with
 * dedicated cores that never happens while the peer keeps up, and on an
 * oversubscribed machine it lets a peer that shares the core run instead
 * of burning the rest of a time slice.  Nothing a general-purpose queue needs is
 * there: several producers, sleeping, crash recovery, counters, timestamps.
 * It is what copying a message through shared memory costs on this machine.
 *
 * futex-limit: a bare shared-futex ping-pong that carries no data.  The
 * sender stores a new value into a 32-bit word and always calls
 * FUTEX_WAKE; the receiver waits with FUTEX_WAIT until the word moves.
 * It is what one sleeping hand-off each way costs, for the pure blocking
 * latency test.  It has no throughput test.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>

#include "bench.h"

/* --- shm-spsc-limit --- */

/* Vain polls before a side yields the processor. */
#define SPSC_POLLS 256u

/* One vain poll: pause, and now and then let someone else run. */
static void spsc_idle(unsigned *polls)
{
	if (++*polls % SPSC_POLLS == 0)
		sched_yield();
	else
		bench_relax();
}

struct spsc {
	/* Written before the fork, read-only afterwards. */
	alignas(BENCH_LINE) uint64_t slots; /* a power of two */
	uint64_t stride;                    /* bytes per slot */
	uint64_t data_offset;
	/* Written by the consumer: slots it is done with. */
	alignas(BENCH_LINE) _Atomic uint64_t head;
	/* Written by the producer: slots it has filled. */
	alignas(BENCH_LINE) _Atomic uint64_t tail;
};

static bool spsc_unsupported(const struct chan_cfg *cfg, char *why, size_t n)
{
	if (cfg->producers > 1) {
		snprintf(why, n, "a single-producer ring");
		return true;
	}
	if (cfg->size * 2 > cfg->capacity) {
		snprintf(why, n, "fewer than two %zu-byte slots in %llu bytes "
		                 "(raise --capacity)",
		         cfg->size,
		         (unsigned long long)cfg->capacity);
		return true;
	}
	return false;
}

static int spsc_setup(struct chan *ch)
{
	uint64_t stride = (ch->cfg.size + 7) & ~(uint64_t)7;
	uint64_t slots = 2;
	size_t hdr = (sizeof(struct spsc) + 4095) & ~(size_t)4095;
	struct spsc *s;

	while (slots * 2 * stride <= ch->cfg.capacity)
		slots *= 2;
	ch->map_size = hdr + (size_t)(slots * stride);
	ch->map = mmap(NULL, ch->map_size, PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ch->map == MAP_FAILED) {
		ch->map = NULL;
		return chan_fail(ch, -errno, "mmap %zu bytes: %s", ch->map_size,
		                 strerror(errno));
	}
	s = ch->map;
	s->slots = slots;
	s->stride = stride;
	s->data_offset = hdr;
	/* Fault the ring in before the fork, as a segment's is. */
	memset((uint8_t *)ch->map + hdr, 0, (size_t)(slots * stride));
	return 0;
}

static void unmap(struct chan *ch)
{
	if (ch->map)
		munmap(ch->map, ch->map_size);
	ch->map = NULL;
}

static uint8_t *spsc_slot(struct spsc *s, uint64_t i)
{
	return (uint8_t *)s + s->data_offset + (i & (s->slots - 1)) * s->stride;
}

static int spsc_open(struct chan *ch)
{
	ch->pos = ch->cached = ch->held = 0;
	return 0;
}

static int spsc_send(struct chan *ch, const void *buf, size_t len)
{
	struct spsc *s = ch->map;
	uint64_t t = ch->pos;
	unsigned polls = 0;

	while (t - ch->cached >= s->slots) {
		/* acquire: the consumer is done reading the slots before head */
		ch->cached = atomic_load_explicit(&s->head, memory_order_acquire);
		if (t - ch->cached >= s->slots)
			spsc_idle(&polls);
	}
	memcpy(spsc_slot(s, t), buf, len);
	/* release: the slot's bytes are visible before the new tail */
	atomic_store_explicit(&s->tail, t + 1, memory_order_release);
	ch->pos = t + 1;
	return 0;
}

static int spsc_recv(struct chan *ch, struct view *v, int max)
{
	struct spsc *s = ch->map;
	unsigned polls = 0;
	uint64_t n;

	while (ch->cached == ch->pos) {
		/* acquire: pairs with the producer's release of tail */
		ch->cached = atomic_load_explicit(&s->tail, memory_order_acquire);
		if (ch->cached == ch->pos)
			spsc_idle(&polls);
	}
	n = ch->cached - ch->pos;
	if (n > (uint64_t)max)
		n = (uint64_t)max;
	for (uint64_t i = 0; i < n; i++)
		v[i] = (struct view){spsc_slot(s, ch->pos + i), ch->cfg.size};
	ch->held = n;
	return (int)n;
}

static void spsc_release(struct chan *ch)
{
	struct spsc *s = ch->map;

	ch->pos += ch->held;
	ch->held = 0;
	/* release: our reads of the slots are done before the producer reuses them */
	atomic_store_explicit(&s->head, ch->pos, memory_order_release);
}

static void spsc_close(struct chan *ch)
{
	(void)ch;
}

const struct transport tp_spsc = {
	.name = "shm-spsc-limit",
	.what = "limit: a bare single-producer ring in shared memory, busy polling",
	.throughput = true,
	.multi_producer = false,
	.waits = 1u << WAIT_SPIN,
	.has_size = true,
	.unsupported = spsc_unsupported,
	.setup = spsc_setup,
	.teardown = unmap,
	.tx_open = spsc_open,
	.send = spsc_send,
	.rx_open = spsc_open,
	.recv = spsc_recv,
	.release = spsc_release,
	.close = spsc_close,
};

/* --- futex-limit --- */

struct futex_word {
	alignas(BENCH_LINE) _Atomic uint32_t word;
};

/* Word values: data message seq carries seq + 1, the end marker its bit. */
#define FUTEX_END_BIT 0x80000000u
#define FUTEX_SEQ     0x7fffffffu

static bool futex_unsupported(const struct chan_cfg *cfg, char *why, size_t n)
{
	if (cfg->producers > 1) {
		snprintf(why, n, "a ping-pong between two processes");
		return true;
	}
	return false;
}

static int futex_setup(struct chan *ch)
{
	ch->map_size = sizeof(struct futex_word);
	ch->map = mmap(NULL, ch->map_size, PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ch->map == MAP_FAILED) {
		ch->map = NULL;
		return chan_fail(ch, -errno, "mmap: %s", strerror(errno));
	}
	return 0;
}

static int futex_tx_open(struct chan *ch)
{
	ch->pos = 0;
	return 0;
}

static int futex_rx_open(struct chan *ch)
{
	ch->pos = 0;
	ch->buf = calloc(1, ch->cfg.size);
	if (!ch->buf)
		return chan_fail(ch, -ENOMEM, "out of memory");
	return 0;
}

static int futex_send(struct chan *ch, const void *buf, size_t len)
{
	struct futex_word *f = ch->map;
	struct msg_hdr h;
	uint32_t v;

	(void)len;
	memcpy(&h, buf, sizeof(h));
	if (h.kind == MSG_END)
		v = FUTEX_END_BIT | (uint32_t)(h.seq & FUTEX_SEQ);
	else
		v = (uint32_t)((h.seq + 1) & FUTEX_SEQ);
	/* release: nothing else is carried, but the order costs nothing here */
	atomic_store_explicit(&f->word, v, memory_order_release);
	bench_futex_wake(&f->word, 1);
	return 0;
}

static int futex_recv(struct chan *ch, struct view *v, int max)
{
	struct futex_word *f = ch->map;
	uint32_t last = (uint32_t)ch->pos, w;
	struct msg_hdr h = {.producer = 0};

	(void)max;
	/* acquire: pairs with the sender's release store */
	while ((w = atomic_load_explicit(&f->word, memory_order_acquire)) == last)
		bench_futex_wait(&f->word, last);
	ch->pos = w;
	if (w & FUTEX_END_BIT) {
		h.kind = MSG_END;
		h.seq = w & FUTEX_SEQ;
	} else {
		h.kind = MSG_DATA;
		h.seq = (uint64_t)w - 1;
	}
	memcpy(ch->buf, &h, sizeof(h));
	*v = (struct view){ch->buf, ch->cfg.size};
	return 1;
}

static void futex_release(struct chan *ch)
{
	(void)ch;
}

static void futex_close(struct chan *ch)
{
	free(ch->buf);
	ch->buf = NULL;
}

const struct transport tp_futex = {
	.name = "futex-limit",
	.what = "limit: a bare shared-futex ping-pong carrying no data (latency only)",
	.throughput = false,
	.multi_producer = false,
	.waits = 1u << WAIT_BLOCK,
	.has_size = false,
	.unsupported = futex_unsupported,
	.setup = futex_setup,
	.teardown = unmap,
	.tx_open = futex_tx_open,
	.send = futex_send,
	.rx_open = futex_rx_open,
	.recv = futex_recv,
	.release = futex_release,
	.close = futex_close,
};

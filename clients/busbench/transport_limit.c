/*
 * transport_limit.c - the two physical limits the bus is measured against.
 *
 * shm-spsc-limit: a bare single-producer, single-consumer byte ring in an
 * anonymous shared mapping, laid out as bus's ring is but with less in
 * it.  Each message is one 8-byte-aligned record: an 8-byte commit word
 * (the payload length, and the lap the record was written in), then the
 * payload.  The producer copies the payload in and stores the commit word
 * (release); the consumer polls the commit word at its cursor (acquire),
 * reads as many committed records as the batch holds, and publishes its
 * head once per batch, on release; the producer caches that head and
 * reloads it only when the ring looks full.  There is no shared tail:
 * like bus's consumer, this one never loads a line the producer writes
 * per message other than the record itself (a polled tail would cost a
 * cache-line transfer per message whenever the consumer keeps up, and
 * made this "limit" slower than bus).  Waiting is bus's, no more: with
 * the spinning wait (latency) both sides spin with a pause and never
 * sleep; with the default wait (throughput) a side spins as long as a bus
 * handle does by default, then sleeps on a futex, with the same
 * store-then-load handshake as bus (a seq_cst commit or head store, then
 * a load of the peer's wait word), so that on a machine shared with other
 * work a side whose peer lost its CPU gives its own away instead of
 * burning it (a pure spinner then fell to a few percent of bus).  It never
 * yields (bus does not).  The consumer zeroes what it releases, as bus's
 * does, though nothing here needs the zeros (the lap in the commit word
 * tells a new record from last lap's, and every message of a channel has
 * the same size, so records sit at the same offsets every lap and no
 * payload byte is ever taken for a commit word): on some machines the
 * zeroing makes the producer faster (spsc_zero), and a bound must not
 * lack what speeds bus up.  Nothing a general-purpose queue needs is
 * there: several producers, crash recovery, validation, counters,
 * timestamps.  It is what copying a message through shared memory costs
 * on this machine: a bound on bus.
 *
 * futex-limit: a bare shared-futex ping-pong that carries no data.  The
 * sender stores a new value into a 32-bit word and always calls
 * FUTEX_WAKE; the receiver waits with FUTEX_WAIT until the word moves.
 * It is what one sleeping hand-off each way costs, for the pure blocking
 * latency test.  It has no throughput test.
 *
 * The tables here (tp_spsc, tp_futex) are alike in form to the other
 * transports' on purpose, as rows of one table are: see struct
 * transport in transport.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"
#include "cpu.h"
#include "handle.h"

/* --- shm-spsc-limit --- */

#define SPSC_ALIGN 8u
#define SPSC_HDR   8u         /* the commit word */
#define SPSC_PAD   UINT32_MAX /* length of padding to the end of the ring */

struct spsc {
	/* Written before the fork, read-only afterwards. */
	alignas(BENCH_LINE) uint64_t capacity; /* ring bytes, a power of two */
	uint64_t mask;
	unsigned shift; /* log2(capacity): a position's lap is pos >> shift */
	uint64_t data_offset;
	/* Written by the consumer, once per batch: bytes it is done with. */
	alignas(BENCH_LINE) _Atomic uint64_t head;
	/* Futex words, 1 while the consumer (producer) sleeps or is about to. */
	alignas(BENCH_LINE) _Atomic uint32_t cons_wait;
	alignas(BENCH_LINE) _Atomic uint32_t prod_wait;
};

/* Vain polls between clock reads while spinning (bus reads it every poll). */
#define SPSC_CLOCK_POLLS 64u

/*
 * One vain poll of a side that waits with mode w: true to poll on, false
 * once the spin is over and the side should sleep.  *polls and *end start
 * at 0 for each wait.
 */
static bool spsc_spin(enum wait_mode w, unsigned *polls, uint64_t *end)
{
	if (w == WAIT_SPIN) {
		cpu_relax();
		return true;
	}
	if (w == WAIT_BLOCK)
		return false;
	if ((*polls)++ % SPSC_CLOCK_POLLS == 0) {
		uint64_t now = nstime_mono();

		/* As long as a bus handle spins by default. */
		if (*end == 0)
			*end = now + HANDLE_DEFAULT_SPIN_NS;
		else if (now >= *end)
			return false;
	}
	cpu_relax();
	return true;
}

/*
 * After a seq_cst store that makes the peer's condition true: wakes the
 * peer if it announced itself on w.  Bus's signallers do the same load.
 */
static void spsc_signal(_Atomic uint32_t *w)
{
	/* seq_cst: the load half of the handshake, after the caller's store */
	if (atomic_load_explicit(w, memory_order_seq_cst)) {
		/* relaxed: the futex call orders it for the sleeper */
		atomic_store_explicit(w, 0, memory_order_relaxed);
		bench_futex_wake(w, 1);
	}
}

/* Announces a sleeper on w; the caller then re-checks with seq_cst. */
static void spsc_announce(_Atomic uint32_t *w)
{
	/* seq_cst: the store half of the handshake, before the re-check */
	atomic_store_explicit(w, 1, memory_order_seq_cst);
}

/* The re-check found the condition true: no sleep after all. */
static void spsc_cancel(_Atomic uint32_t *w)
{
	/* relaxed: only spares the peer a wake; a stale 1 costs one call */
	atomic_store_explicit(w, 0, memory_order_relaxed);
}

/* Bytes a record of len payload bytes occupies. */
static uint64_t spsc_extent(uint64_t len)
{
	return (SPSC_HDR + len + SPSC_ALIGN - 1) & ~(uint64_t)(SPSC_ALIGN - 1);
}

/* The commit word of a record of len bytes at position pos. */
static uint64_t spsc_word(const struct spsc *s, uint64_t pos, uint32_t len)
{
	/* Lap + 1: the zeroed ring's words (0) never read as committed. */
	return (uint64_t)((uint32_t)(pos >> s->shift) + 1u) << 32 | len;
}

static bool spsc_unsupported(const struct chan_cfg *cfg, char *why, size_t n)
{
	if (cfg->producers > 1) {
		snprintf(why, n, "a single-producer ring");
		return true;
	}
	if (spsc_extent(cfg->size) * 2 > cfg->capacity) {
		snprintf(why, n, "fewer than two %zu-byte records in %llu bytes "
		                 "(raise --capacity)",
		         cfg->size,
		         (unsigned long long)cfg->capacity);
		return true;
	}
	return false;
}

static int spsc_setup(struct chan *ch)
{
	size_t hdr = (sizeof(struct spsc) + 4095) & ~(size_t)4095;
	uint64_t cap = ch->cfg.capacity;
	struct spsc *s;

	if (cap == 0 || (cap & (cap - 1)) != 0)
		return chan_fail(ch, -EINVAL, "ring of %llu bytes: not a power of two",
		                 (unsigned long long)cap);
	ch->map_size = hdr + (size_t)cap;
	ch->map = mmap(NULL, ch->map_size, PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ch->map == MAP_FAILED) {
		ch->map = NULL;
		return chan_fail(ch, -errno, "mmap %zu bytes: %s", ch->map_size,
		                 strerror(errno));
	}
	s = ch->map;
	s->capacity = cap;
	s->mask = cap - 1;
	s->shift = (unsigned)__builtin_ctzll(cap);
	s->data_offset = hdr;
	/* Fault the ring in before the fork, as a segment's is. */
	memset((uint8_t *)ch->map + hdr, 0, (size_t)cap);
	return 0;
}

static void unmap(struct chan *ch)
{
	if (ch->map)
		munmap(ch->map, ch->map_size);
	ch->map = NULL;
}

static _Atomic uint64_t *spsc_rec(struct spsc *s, uint64_t pos)
{
	return (_Atomic uint64_t *)((uint8_t *)s + s->data_offset + (pos & s->mask));
}

static int spsc_open(struct chan *ch)
{
	/* Producer: pos is the tail, cached the head last seen.  Consumer:
	 * pos is the cursor, held the bytes read since the last release. */
	ch->pos = ch->cached = ch->held = 0;
	return 0;
}

/* Room for need more bytes at tail t, by the cached head (reloaded). */
static bool spsc_room(struct chan *ch, struct spsc *s, uint64_t t,
                      uint64_t need, memory_order mo)
{
	if (t + need - ch->cached <= s->capacity)
		return true;
	/* acquire (seq_cst after an announce): the consumer is done reading
	 * the bytes before head */
	ch->cached = atomic_load_explicit(&s->head, mo);
	return t + need - ch->cached <= s->capacity;
}

static int spsc_send(struct chan *ch, const void *buf, size_t len)
{
	struct spsc *s = ch->map;
	uint64_t t = ch->pos, ext = spsc_extent(len);
	uint64_t to_end = s->capacity - (t & s->mask);
	uint64_t pad = ext > to_end ? to_end : 0;
	unsigned polls = 0;
	uint64_t end = 0;
	_Atomic uint64_t *w;

	while (!spsc_room(ch, s, t, pad + ext, memory_order_acquire)) {
		if (spsc_spin(ch->cfg.wait, &polls, &end))
			continue;
		spsc_announce(&s->prod_wait);
		if (spsc_room(ch, s, t, pad + ext, memory_order_seq_cst))
			spsc_cancel(&s->prod_wait);
		else
			bench_futex_wait(&s->prod_wait, 1);
	}
	if (pad) {
		/* release: nothing to publish but the skip; the order is free */
		atomic_store_explicit(spsc_rec(s, t), spsc_word(s, t, SPSC_PAD),
		                      memory_order_release);
		t += pad;
	}
	w = spsc_rec(s, t);
	memcpy((uint8_t *)w + SPSC_HDR, buf, len);
	ch->pos = t + ext;
	if (ch->cfg.wait == WAIT_SPIN) {
		/* release: the payload is visible before the commit word; a
		 * consumer that never sleeps needs no more */
		atomic_store_explicit(w, spsc_word(s, t, (uint32_t)len),
		                      memory_order_release);
		return 0;
	}
	/* seq_cst: releases the payload, and is the store half of the
	 * handshake with a consumer going to sleep (as bus's commit) */
	atomic_store_explicit(w, spsc_word(s, t, (uint32_t)len),
	                      memory_order_seq_cst);
	spsc_signal(&s->cons_wait);
	return 0;
}

/* Whether the commit word at pos is this lap's (a record or padding). */
static bool spsc_committed(struct spsc *s, uint64_t pos, uint64_t word)
{
	return word >> 32 == spsc_word(s, pos, 0) >> 32;
}

static int spsc_recv(struct chan *ch, struct view *v, int max)
{
	struct spsc *s = ch->map;
	uint64_t pos = ch->pos, end = 0;
	unsigned polls = 0;
	int n = 0;

	while (n < max) {
		_Atomic uint64_t *w = spsc_rec(s, pos);
		/* acquire: pairs with the producer's release of the commit word */
		uint64_t word = atomic_load_explicit(w, memory_order_acquire);
		uint32_t len = (uint32_t)word;

		/* Last lap's word (or the whole ring held): not committed yet. */
		if (!spsc_committed(s, pos, word)) {
			if (n > 0)
				break;
			if (spsc_spin(ch->cfg.wait, &polls, &end))
				continue;
			spsc_announce(&s->cons_wait);
			/* seq_cst: the re-check, the load half of the handshake */
			word = atomic_load_explicit(w, memory_order_seq_cst);
			if (spsc_committed(s, pos, word))
				spsc_cancel(&s->cons_wait);
			else
				bench_futex_wait(&s->cons_wait, 1);
			continue;
		}
		if (len == SPSC_PAD) {
			pos += s->capacity - (pos & s->mask);
			continue;
		}
		v[n++] = (struct view){(uint8_t *)w + SPSC_HDR, len};
		pos += spsc_extent(len);
	}
	ch->held += pos - ch->pos;
	ch->pos = pos;
	return n;
}

/*
 * Zeroes the n bytes from position from, as bus's consumer zeroes what it
 * releases.  Nothing here needs the zeros (the lap in the commit word
 * tells a new record from an old one), but the stores leave the lines
 * modified in the consumer's cache, and on some placements of the two
 * CPUs (a virtual machine's vCPUs, at the host's whim) a producer writes
 * a line it must take from the other cache three times faster than one
 * that cache holds shared after only reading it: without them this ring
 * fell to 3-4M msgs/s at 1 KiB where bus, zeroing, kept 9M.  A bound must
 * have whatever makes bus faster (docs/benchmarks.md).
 */
static void spsc_zero(struct spsc *s, uint64_t from, uint64_t n)
{
	uint8_t *ring = (uint8_t *)s + s->data_offset;
	uint64_t idx = from & s->mask, to_end = s->capacity - idx;

	if (n <= to_end) {
		memset(ring + idx, 0, n);
	} else {
		memset(ring + idx, 0, to_end);
		memset(ring, 0, n - to_end);
	}
}

static void spsc_release(struct chan *ch)
{
	struct spsc *s = ch->map;

	if (ch->held == 0)
		return;
	spsc_zero(s, ch->pos - ch->held, ch->held);
	ch->held = 0;
	if (ch->cfg.wait == WAIT_SPIN) {
		/* release: our reads of the records are done before the
		 * producer reuses them; a producer that never sleeps needs no more */
		atomic_store_explicit(&s->head, ch->pos, memory_order_release);
		return;
	}
	/* seq_cst: as above, and the store half of the handshake with a
	 * producer going to sleep on a full ring (as bus's release) */
	atomic_store_explicit(&s->head, ch->pos, memory_order_seq_cst);
	spsc_signal(&s->prod_wait);
}

const struct transport tp_spsc = {
	.name = "shm-spsc-limit",
	.what = "limit: a bare single-producer ring in shared memory, waiting as bus does",
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
	.close = chan_nothing,
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
	.release = chan_nothing,
	.close = chan_free_buf,
};

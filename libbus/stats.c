/*
 * stats.c - a queue's counters, read from its segment.
 *
 * Every counter has one writer (a producer's slot, the consumer's lines,
 * or recovery), so a reader sums single-writer values with relaxed loads:
 * each figure is recent, the set is not one atomic snapshot.  Who is
 * attached is asked of the kernel (the liveness locks, segment.h), not
 * of pid fields that a dead process leaves behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "atomics.h"
#include "ring.h"
#include "segment.h"

/* Upper bound of the bucket holding the q-th (per mille) delay, 0 if none. */
static uint64_t percentile(const uint64_t *hist, uint64_t total, uint64_t per_mille)
{
	uint64_t want = (total * per_mille + 999) / 1000;
	uint64_t seen = 0;

	if (total == 0)
		return 0;
	for (int b = 0; b < SEG_HIST_BUCKETS; b++) {
		seen += hist[b];
		if (seen >= want)
			return b >= 63 ? UINT64_MAX : UINT64_C(2) << b;
	}
	return UINT64_MAX;
}

/* Age of the committed message at the head, 0 if none is there. */
static uint64_t oldest_age(const struct seg *s)
{
	struct seg_header *h = s->hdr;
	/* acquire: the records before the tail were claimed before we look */
	uint64_t head = load_acquire(&h->head);
	uint64_t tail = load_acquire(&h->tail);
	uint64_t mask = s->capacity - 1;
	struct timespec now;
	uint64_t at, ns;

	/* A scribbled head would make us read across the ring's end. */
	if (head % REC_ALIGN)
		return 0;
	for (int hop = 0; hop < 2 && tail != head; hop++) {
		struct rec_hdr *r = (struct rec_hdr *)(s->ring + (head & mask));
		/* acquire: pairs with the commit; the consumer may be zeroing it */
		int32_t len = load_acquire(&r->len);

		if (len <= 0)
			return 0;
		if (__atomic_load_n(&r->flags, __ATOMIC_RELAXED) == REC_PAD) {
			head += s->capacity - (head & mask);
			continue;
		}
		at = __atomic_load_n(&r->enqueue_ns, __ATOMIC_RELAXED);
		clock_gettime(CLOCK_MONOTONIC, &now);
		ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
		return ns > at ? ns - at : 0;
	}
	return 0;
}

/* Fills *st from the segment; its locks answer who is attached. */
static void stats_fill(struct seg *s, bus_stats *st)
{
	struct seg_header *h = s->hdr;
	uint64_t total = 0;

	memset(st, 0, sizeof(*st));
	/* The identity validated when mapped, not the header again. */
	memcpy(st->name, s->name, sizeof(st->name));
	memcpy(st->uuid, s->uuid, sizeof(st->uuid));
	st->capacity = s->capacity;
	st->max_message = s->max_message;
	st->max_producers = s->max_producers;
	/* relaxed everywhere below: a report, each counter single-writer */
	for (uint32_t i = 0; i < s->max_producers; i++) {
		struct seg_slot *slot = &s->slots[i];

		/* One sequence number per message committed in the slot. */
		st->enqueued += load_relaxed(&slot->next_seq);
		st->enqueued_bytes += load_relaxed(&slot->bytes);
		st->full += load_relaxed(&slot->full);
		st->blocked += load_relaxed(&slot->blocked);
		st->consumer_wakeups += load_relaxed(&slot->wakes);
		if (load_relaxed(&slot->pid) != 0 &&
		    seg_held(s, SEG_LOCK_SLOT(i), &slot->pid))
			st->producers++;
	}
	st->dequeued = load_relaxed(&h->cons.msgs);
	st->dequeued_bytes = load_relaxed(&h->cons.bytes);
	st->consumer_sleeps = load_relaxed(&h->cons.sleeps);
	st->producer_wakeups = load_relaxed(&h->cons.wakes);
	st->redelivered = load_relaxed(&h->cons.redelivered);
	st->recovered = load_relaxed(&h->recovered);
	if (seg_held(s, SEG_LOCK_CONSUMER, &h->cons_pid))
		st->consumer_pid = load_relaxed(&h->cons_pid);
	st->depth_bytes = ring_used(h);
	st->depth_msgs = st->enqueued > st->dequeued ? st->enqueued - st->dequeued : 0;
	for (int b = 0; b < SEG_HIST_BUCKETS; b++) {
		st->latency_hist[b] = load_relaxed(&h->cons.hist[b]);
		total += st->latency_hist[b];
	}
	st->p50_ns = percentile(st->latency_hist, total, 500);
	st->p99_ns = percentile(st->latency_hist, total, 990);
	st->p999_ns = percentile(st->latency_hist, total, 999);
	st->oldest_age_ns = oldest_age(s);
	st->deleted = !!(load_relaxed(&h->state) & SEG_STATE_DELETED);
	st->broken = !!(load_relaxed(&h->state) & SEG_STATE_BROKEN);
	st->corrupt = load_relaxed(&h->cons.corrupt);
}

int bus_stats_read_fd(int seg_fd, bus_stats *ret)
{
	struct seg s;
	const char *why;
	int fd, r;

	if (seg_fd < 0 || !ret)
		return -EINVAL;
	/* The seg owns what it maps; give it a copy so the caller keeps seg_fd. */
	fd = fcntl(seg_fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = seg_map_fd_ro(fd, &s, &why);
	if (r < 0) {
		close(fd);
		return r;
	}
	stats_fill(&s, ret);
	seg_close(&s);
	return 0;
}

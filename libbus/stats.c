/*
 * stats.c - a queue's counters, read from its segment.
 *
 * Every counter has one writer (a producer's slot, the consumer's lines,
 * or recovery), so a reader sums single-writer values with relaxed loads:
 * each figure is recent, the set is not one atomic snapshot.  Who is
 * attached is asked of the kernel (the liveness locks, segment.h), not
 * of pid fields that a dead process leaves behind.
 *
 * Besides counters, the reader looks at a few records: the oldest message
 * waiting (for its age), and the record the consumer reads next.  When
 * that one is claimed and not committed while the consumer waits at it or
 * committed messages wait behind it, the queue is stalled: nothing behind
 * it is delivered until its producer commits or recovery skips it.  The
 * stall's age is a lower bound, the earliest of two moments the claim
 * certainly existed at: when the consumer found it in its way (consumer.c
 * notes that, in its slow path), and the commit of the first message
 * behind it (claimed later, so committed later).  The producer named is
 * the slot whose claim intent covers the record (recover.h).
 *
 * The segment is input, even mapped read-only: its writers may be hostile
 * and are running.  Every shared field is loaded once into a local, the
 * local is checked, and only the local is used; a record's fields are
 * read only when its whole header lies inside the ring.  Nothing here
 * writes to the segment.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "atom.h"
#include "ring.h"
#include "segment.h"
#include "stats.h"
#include "util/nstime.h"

/* The consumer's stall note lies in the header's spare room (layout v1). */
_Static_assert(offsetof(struct seg_header, cons.stall_pos) == 1592, "layout v1");
_Static_assert(offsetof(struct seg_header, cons.stall_ns) == 1600, "layout v1");
/* So is a slot's aborted counter. */
_Static_assert(offsetof(struct seg_slot, aborted) == 72, "layout v1");

/* Records stepped over, at most, looking for a message or a claim. */
#define WALK_HOPS 16

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

/* The ring as one reading of its positions saw it. */
struct view {
	struct seg *s;
	uint64_t head, tail; /* loaded once; 8-aligned, tail - head <= capacity */
};

/* What the record at a position was when looked at. */
enum seen_kind {
	SEEN_END,   /* at or past the tail: nothing there yet */
	SEEN_BAD,   /* a record that frames nothing: stop looking */
	SEEN_SKIP,  /* padding, a recovered dead claim or bytes given back, ext bytes */
	SEEN_MSG,   /* a committed message of ext bytes, committed at enq_ns */
	SEEN_CLAIM, /* claimed, not committed; ext its extent, 0 if unknown */
};

struct seen {
	enum seen_kind kind;
	uint64_t ext;
	uint64_t enq_ns;
};

/*
 * Reads the record at pos once: its length and flags into locals, and
 * its stamp only when a record of that length fits before the ring's
 * end (a header starting in the last 24 bytes does not).
 */
static struct seen look(const struct view *v, uint64_t pos)
{
	struct seg *s = v->s;
	uint64_t idx = pos & (s->capacity - 1);
	uint64_t room = s->capacity - idx;
	struct rec_hdr *r = (struct rec_hdr *)(s->ring + idx);
	struct seen out = {SEEN_BAD, 0, 0};
	uint32_t flags, plen;
	int32_t len;

	if (pos - v->head >= v->tail - v->head)
		return (struct seen){SEEN_END, 0, 0};
	/* 8-aligned, so the length and flags words lie inside the ring */
	if (pos % REC_ALIGN)
		return out;
	/* acquire: pairs with the commit (or recovery's mark) of the record */
	len = atom_load_acquire(&r->len);
	/* relaxed: one reading; only this copy is used */
	flags = atom_load_relaxed_plain(&r->flags);
	if (len <= 0) {
		/* claimed: a negative length is the record's own size */
		uint64_t claimed = len < 0 ? (uint64_t) - (int64_t)len : 0;

		out.kind = SEEN_CLAIM;
		if (claimed >= REC_HDR && claimed - REC_HDR <= s->max_message &&
		    ring_rec_extent(claimed - REC_HDR) <= room)
			out.ext = ring_rec_extent(claimed - REC_HDR);
		return out;
	}
	if (flags == REC_PAD) {
		/* padding runs exactly to the end of the ring */
		if ((uint64_t)len == room)
			out = (struct seen){SEEN_SKIP, room, 0};
		return out;
	}
	if (flags == REC_DEAD || flags == REC_SKIP) {
		if ((uint32_t)len % REC_ALIGN == 0 &&
		    (uint32_t)len >= (flags == REC_DEAD ? REC_HDR : REC_ALIGN) &&
		    (uint64_t)len <= room)
			out = (struct seen){SEEN_SKIP, (uint64_t)len, 0};
		return out;
	}
	if ((flags != 0 && !ring_rec_is_call(flags)) || (uint32_t)len < REC_HDR ||
	    (flags != 0 && (uint32_t)len < REC_HDR + REC_CALL_HDR))
		return out;
	plen = (uint32_t)len - REC_HDR;
	if (plen > s->max_message || ring_rec_extent(plen) > room)
		return out;
	out = (struct seen){SEEN_MSG, ring_rec_extent(plen), 0};
	/* relaxed: the stamp of a committed record (acquired above) */
	out.enq_ns = atom_load_relaxed_plain(&r->enqueue_ns);
	return out;
}

/*
 * The producer slot whose claim intent covers pos, and where that claim
 * ends: an intent starting at pos first, else the first that covers it.
 * Returns false if none does.
 */
static bool claim_owner(struct seg *s, uint64_t pos, uint32_t *slot,
                        uint64_t *end)
{
	bool found = false;

	for (uint32_t i = 0; i < s->max_producers; i++) {
		/* relaxed: a report; a live owner's intent holds until it commits */
		uint64_t need = atom_load_relaxed(&s->slots[i].claim_need);
		uint64_t at = atom_load_relaxed(&s->slots[i].claim_pos);

		if (need == 0 || need > s->capacity || pos - at >= need)
			continue;
		if (!found || at == pos) {
			*slot = i;
			*end = at + need;
			found = true;
		}
		if (at == pos)
			break;
	}
	return found;
}

/*
 * The first committed message at or after pos, stepping over padding,
 * dead claims and claims in progress.  Returns true and sets *enq_ns to
 * its stamp, false if there is none within WALK_HOPS records.
 */
static bool first_msg(const struct view *v, uint64_t pos, uint64_t *enq_ns)
{
	for (int hop = 0; hop < WALK_HOPS; hop++) {
		struct seen r = look(v, pos);
		uint32_t slot;
		uint64_t end;

		switch (r.kind) {
		case SEEN_MSG:
			*enq_ns = r.enq_ns;
			return true;
		case SEEN_SKIP:
			pos += r.ext;
			break;
		case SEEN_CLAIM:
			/* pos - at < need, so the claim ends after pos */
			if (r.ext)
				pos += r.ext;
			else if (claim_owner(v->s, pos, &slot, &end))
				pos = end;
			else
				return false;
			break;
		default:
			return false;
		}
	}
	return false;
}

static uint64_t age(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

/*
 * Finds the claim the consumer waits at, if any, and fills the stalled_*
 * fields.  Where the consumer reads next: where it noted a stall, if
 * that record is still claimed; else its published cursor (or the head,
 * if the cursor is not in the ring) past padding and dead claims.
 */
static void find_stall(const struct view *v, uint64_t now, bus_stats *st)
{
	struct seg *s = v->s;
	struct seg_header *h = s->hdr;
	/* acquire: pairs with the consumer's release of stall_pos after stall_ns */
	uint64_t note_pos = atom_load_acquire(&h->cons.stall_pos);
	/* relaxed: at least as new as note_pos (acquired above) */
	uint64_t note_ns = atom_load_relaxed(&h->cons.stall_ns);
	/* relaxed: the consumer's cursor, a hint where to look */
	uint64_t pos = atom_load_relaxed(&h->cons.read_pos);
	uint64_t since = UINT64_MAX, end = 0, enq;
	uint32_t slot = BUS_STATS_NO_SLOT;
	struct seen r = look(v, note_pos);

	if (note_ns != 0 && r.kind == SEEN_CLAIM) {
		pos = note_pos;
		since = note_ns;
	} else {
		if (pos - v->head > v->tail - v->head)
			pos = v->head;
		for (int hop = 0;; hop++) {
			if (hop == WALK_HOPS)
				return;
			r = look(v, pos);
			if (r.kind == SEEN_CLAIM)
				break;
			if (r.kind != SEEN_SKIP)
				return;
			pos += r.ext;
		}
	}
	if (!claim_owner(s, pos, &slot, &end))
		slot = BUS_STATS_NO_SLOT;
	if (r.ext)
		end = pos + r.ext;
	/* A message committed behind the claim was claimed after it. */
	if (end && end != pos && first_msg(v, end, &enq) && enq < since)
		since = enq;
	/* Nobody waits on it: a send in progress, not a stall. */
	if (since == UINT64_MAX)
		return;
	st->stalled_ns = now > since ? now - since : 1;
	st->stalled_slot = slot;
	if (slot != BUS_STATS_NO_SLOT) {
		struct seg_slot *sl = &s->slots[slot];

		/* relaxed: the pid its producer wrote at attach, for the report */
		st->stalled_pid = atom_load_relaxed(&sl->pid);
		st->stalled_alive = seg_held(s, SEG_LOCK_SLOT(slot), &sl->pid);
	}
}

int stats_read(struct seg *s, uint64_t now, bus_stats *st)
{
	struct seg_header *h = s->hdr;
	/* acquire: the records before the tail were claimed before we look */
	struct view v = {s, atom_load_acquire(&h->head), atom_load_acquire(&h->tail)};
	bool sound = v.head % REC_ALIGN == 0 && v.tail % REC_ALIGN == 0 &&
	             v.tail - v.head <= s->capacity;
	uint64_t total = 0, enq;
	uint32_t state;

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
		st->enqueued += atom_load_relaxed(&slot->next_seq);
		st->enqueued_bytes += atom_load_relaxed(&slot->bytes);
		st->full += atom_load_relaxed(&slot->full);
		st->blocked += atom_load_relaxed(&slot->blocked);
		st->consumer_wakeups += atom_load_relaxed(&slot->wakes);
		st->aborted += atom_load_relaxed(&slot->aborted);
		st->late_replies += atom_load_relaxed(&slot->late);
		if (atom_load_relaxed(&slot->pid) != 0 &&
		    seg_held(s, SEG_LOCK_SLOT(i), &slot->pid))
			st->producers++;
	}
	st->dequeued = atom_load_relaxed(&h->cons.msgs);
	st->dequeued_bytes = atom_load_relaxed(&h->cons.bytes);
	st->consumer_sleeps = atom_load_relaxed(&h->cons.sleeps);
	st->producer_wakeups = atom_load_relaxed(&h->cons.wakes);
	st->redelivered = atom_load_relaxed(&h->cons.redelivered);
	st->recovered = atom_load_relaxed(&h->recovered);
	if (seg_held(s, SEG_LOCK_CONSUMER, &h->cons_pid))
		st->consumer_pid = atom_load_relaxed(&h->cons_pid);
	/* The positions as loaded once, not the ring's own (shared) capacity. */
	st->depth_bytes = sound ? v.tail - v.head : 0;
	st->depth_msgs = st->enqueued > st->dequeued ? st->enqueued - st->dequeued : 0;
	for (int b = 0; b < SEG_HIST_BUCKETS; b++) {
		st->latency_hist[b] = atom_load_relaxed(&h->cons.hist[b]);
		total += st->latency_hist[b];
	}
	st->p50_ns = percentile(st->latency_hist, total, 500);
	st->p99_ns = percentile(st->latency_hist, total, 990);
	st->p999_ns = percentile(st->latency_hist, total, 999);
	st->stalled_slot = BUS_STATS_NO_SLOT;
	if (sound) {
		if (first_msg(&v, v.head, &enq))
			st->oldest_age_ns = age(now, enq);
		find_stall(&v, now, st);
	}
	state = atom_load_relaxed(&h->state);
	st->deleted = !!(state & SEG_STATE_DELETED);
	st->broken = !!(state & SEG_STATE_BROKEN);
	st->corrupt = atom_load_relaxed(&h->cons.corrupt);
	st->requests = atom_load_relaxed(&h->cons.requests);
	st->replies = atom_load_relaxed(&h->cons.replies);
	st->dead_replies = atom_load_relaxed(&h->cons.replies_dead);
	return 0;
}

int bus_stats_read_fd(int seg_fd, bus_stats *ret)
{
	struct timespec now;
	bus_stats st;
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
	clock_gettime(CLOCK_MONOTONIC, &now);
	r = stats_read(&s, nstime_from_ts(now), &st);
	seg_close(&s);
	if (r == 0)
		*ret = st;
	return r;
}

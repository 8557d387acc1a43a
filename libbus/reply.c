/*
 * reply.c - the service's side of request and reply (bus_reply).
 *
 * A request names its caller's reply queue by an opaque 64-bit value
 * (reply_to) that only busd resolves: the consumer asks busd, once per
 * caller, for a producer's descriptor of that queue (client_attach_reply,
 * which busd grants to whoever may consume the service's queue), and keeps
 * the producer in a small cache.  From then on a reply is a plain send of
 * a REC_REPLY record: no system call.
 *
 * A caller that closed or died has its reply queue deleted by busd: the
 * cached producer's send fails with -EPIPE, busd answers a new attach
 * with -EPIPE, and the entry goes.  A reply queue that is full is checked
 * for a living consumer (its kernel lock) before the service waits on it,
 * so a service never waits on a caller that is gone, even while busd is
 * down and has not deleted the queue yet.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "atom.h"
#include "bus/bus.h"
#include "client.h"
#include "control.h"
#include "handle.h"
#include "reply.h"
#include "ring.h"

/* Reply queues kept open per service consumer; the least recently used goes. */
#define REPLIER_CACHE 64

struct replier_entry {
	uint64_t reply_to;
	bus_producer *p;
	uint64_t used; /* replier.tick at its last reply */
};

struct replier {
	bus *b;                    /* to busd, opened at the first reply */
	struct seg_cons_stats *cs; /* the service queue's consumer counters */
	size_t n;
	size_t last; /* the entry of the last reply (may be >= n once evicted) */
	uint64_t tick;
	struct replier_entry v[REPLIER_CACHE];
};

static void evict(struct replier *r, size_t i)
{
	bus_producer_close(r->v[i].p);
	r->v[i] = r->v[--r->n];
}

void reply_free(struct replier *r)
{
	if (!r)
		return;
	while (r->n)
		evict(r, r->n - 1);
	bus_close(r->b);
	free(r);
}

/* 1 if p's queue is deleted or broken: its caller is gone. */
static bool queue_gone(bus_producer *p)
{
	/* relaxed: a hint; a send checks the state again */
	return atom_load_relaxed(&producer_seg(p)->hdr->state) != SEG_STATE_LIVE;
}

/* Makes room for one more entry: drops the gone, then the least recent. */
static void make_room(struct replier *r)
{
	size_t oldest = 0;

	for (size_t i = 0; i < r->n;) {
		if (queue_gone(r->v[i].p)) {
			evict(r, i);
			continue;
		}
		i++;
	}
	if (r->n < REPLIER_CACHE)
		return;
	for (size_t i = 1; i < r->n; i++)
		if (r->v[i].used < r->v[oldest].used)
			oldest = i;
	evict(r, oldest);
}

/* The producer of reply_to's queue: from the cache, or attached through busd. */
static int producer_for(bus_consumer *c, struct replier *r, uint64_t reply_to,
                        size_t *ret)
{
	int fds[CONTROL_MAX_FDS] = {-1, -1}, rc;
	bus_producer *p;

	for (size_t i = 0; i < r->n; i++) {
		if (r->v[i].reply_to == reply_to) {
			*ret = i;
			return 0;
		}
	}
	if (!r->b) {
		rc = bus_open(consumer_busd(c), &r->b);
		if (rc < 0)
			return rc;
	}
	make_room(r);
	rc = client_attach_reply(r->b, consumer_seg(c)->name, reply_to, fds);
	if (rc < 0)
		return rc;
	rc = bus_producer_open_fd(fds[0], &p);
	if (rc < 0) {
		for (int i = 0; i < CONTROL_MAX_FDS; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		return rc;
	}
	/* The handle owns it from here (seg_close). */
	producer_seg(p)->wake_fd = fds[1];
	r->v[r->n] = (struct replier_entry){.reply_to = reply_to, .p = p};
	*ret = r->n++;
	return 0;
}

/* 1 if the consumer of p's queue (the caller) holds its lease: it lives. */
static bool caller_alive(bus_producer *p)
{
	struct seg *s = producer_seg(p);

	return seg_held(s, SEG_LOCK_CONSUMER, &s->hdr->cons_pid);
}

/*
 * bus_reply() but for its common case: the first reply to a caller (the
 * cache is made, busd asked), a full reply queue, a caller gone.  tried
 * is what the common case's send returned, 1 if it did not try.
 */
static __attribute__((noinline)) int reply_slow(bus_consumer *c,
                                                const bus_msg *request,
                                                const struct rec_call *call,
                                                uint32_t type, const void *data,
                                                size_t len, int timeout_ms,
                                                int tried)
{
	struct replier **rp = consumer_replier(c), *r;
	bus_producer *p;
	size_t i;
	int rc;

	if (!consumer_busd(c))
		return -EOPNOTSUPP;
	if (!*rp) {
		*rp = calloc(1, sizeof(**rp));
		if (!*rp)
			return -ENOMEM;
		(*rp)->cs = &consumer_seg(c)->hdr->cons;
	}
	r = *rp;
	rc = producer_for(c, r, request->reply_to, &i);
	if (rc == 0) {
		p = r->v[i].p;
		r->v[i].used = ++r->tick;
		r->last = i;
		/* Not twice: a full queue is counted once per reply. */
		rc = tried == -EAGAIN ? tried
		                      : producer_send_call(p, REC_REPLY, call, type, data,
		                                           len, 0);
		if (rc == -EAGAIN && !caller_alive(p))
			rc = -EPIPE;
		else if (rc == -EAGAIN && timeout_ms != 0)
			rc = producer_send_call(p, REC_REPLY, call, type, data, len,
			                        timeout_ms);
		if (rc == -EPIPE)
			evict(r, i);
	}
	if (rc == 0)
		atom_counter_add(&r->cs->replies, 1);
	else if (rc == -EPIPE)
		atom_counter_add(&r->cs->replies_dead, 1);
	return rc;
}

int bus_reply(bus_consumer *c, const bus_msg *request, uint32_t type,
              const void *data, size_t len, int timeout_ms)
{
	struct rec_call call;
	struct replier *r;

	if (!c || !request || (!data && len) || !(request->flags & BUS_MSG_REQUEST) ||
	    request->reply_to == 0)
		return -EINVAL;
	call = (struct rec_call){.call_id = request->call_id};
	/*
	 * The common case inline: the caller answered last, room at once.
	 * Anything else (another caller, a full queue, one gone, an error)
	 * goes the whole way, which tries the send again first.
	 */
	r = *consumer_replier(c);
	if (r && r->last < r->n && r->v[r->last].reply_to == request->reply_to) {
		int rc = producer_send_call(r->v[r->last].p, REC_REPLY, &call, type,
		                            data, len, 0);

		if (rc == 0) {
			r->v[r->last].used = ++r->tick;
			atom_counter_add(&r->cs->replies, 1);
			return 0;
		}
		return reply_slow(c, request, &call, type, data, len, timeout_ms, rc);
	}
	return reply_slow(c, request, &call, type, data, len, timeout_ms, 1);
}

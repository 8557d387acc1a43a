/*
 * prom.c - buscli stats --prometheus: the queues' counters in the
 * Prometheus text exposition format (version 0.0.4).
 *
 * Each metric family is declared once (# HELP, # TYPE) before its
 * samples, one sample per queue labelled {queue="NAME"}; label values and
 * help text are escaped as the format requires.  A deleted queue whose
 * segment is still in /dev/shm (seen only while busd is down) is left
 * out, so that no label set appears twice.
 *
 * The latency histogram comes from the segment's power-of-two buckets:
 * bucket b holds delays in [2^b, 2^(b+1)) ns, so every bucket lies wholly
 * below a bound le = 2^k ns and the cumulative counts are exact.  The
 * bounds run from 2^LE_FIRST to 2^LE_LAST ns (64 ns to about 69 s): a
 * fixed set, as Prometheus wants, with everything slower under +Inf.  The
 * segment keeps counts, not the delays themselves, so _sum is an estimate
 * that puts each delay in the middle of its bucket.  The consumer counts a
 * sample of what it receives (libbus reads the clock for one bus_recv()
 * in several, for every message of a batch), so _count is the number of
 * delays measured, not of messages received.
 *
 * Two families are not one sample per queue: bus_queue_stalled_producer
 * has a sample (1, labelled with the slot, its pid and whether it lives)
 * only for a queue that is stalled behind a slot's claim, and
 * bus_queue_readable also has one (0) for each queue whose segment could
 * not be read, which has no sample anywhere else.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "buscli.h"

#define LE_FIRST 6
#define LE_LAST  36

enum kind {
	COUNTER,
	GAUGE
};

/* How a sample's value is written: a count, or nanoseconds as seconds. */
enum unit {
	UNIT_COUNT,
	UNIT_NS
};

struct family {
	const char *name;
	enum kind kind;
	enum unit unit;
	const char *help;
	uint64_t (*value)(const bus_stats *st);
};

/*
 * A value getter for each family: one line a getter, so the list below
 * is alike line for line on purpose, as a table is.
 */
#define GETTER(fn, expr)                        \
	static uint64_t fn(const bus_stats *st) \
	{                                       \
		return (uint64_t)(expr);        \
	}

GETTER(v_enq, st->enqueued)
GETTER(v_deq, st->dequeued)
GETTER(v_enq_bytes, st->enqueued_bytes)
GETTER(v_deq_bytes, st->dequeued_bytes)
GETTER(v_full, st->full)
GETTER(v_blocked, st->blocked)
GETTER(v_cons_wakeups, st->consumer_wakeups)
GETTER(v_cons_sleeps, st->consumer_sleeps)
GETTER(v_prod_wakeups, st->producer_wakeups)
GETTER(v_recovered, st->recovered)
GETTER(v_redelivered, st->redelivered)
GETTER(v_depth, st->depth_msgs)
GETTER(v_depth_bytes, st->depth_bytes)
GETTER(v_capacity, st->capacity)
GETTER(v_max_message, st->max_message)
GETTER(v_producers, st->producers)
GETTER(v_max_producers, st->max_producers)
GETTER(v_consumer, st->consumer_pid != 0)
GETTER(v_oldest, st->oldest_age_ns)
GETTER(v_corrupt, st->corrupt)
GETTER(v_aborted, st->aborted)
GETTER(v_requests, st->requests)
GETTER(v_replies, st->replies)
GETTER(v_late, st->late_replies)
GETTER(v_dead, st->dead_replies)
GETTER(v_broken, st->broken != 0)
GETTER(v_stalled, st->stalled_ns)

static const struct family families[] = {
	{"bus_queue_messages_enqueued_total", COUNTER, UNIT_COUNT,
         "Messages committed by producers since the queue was created.", v_enq},
	{"bus_queue_messages_dequeued_total", COUNTER, UNIT_COUNT,
         "Messages received by consumers since the queue was created.", v_deq},
	{"bus_queue_enqueued_bytes_total", COUNTER, UNIT_COUNT,
         "Payload bytes committed by producers.", v_enq_bytes},
	{"bus_queue_dequeued_bytes_total", COUNTER, UNIT_COUNT,
         "Payload bytes received by consumers.", v_deq_bytes},
	{"bus_queue_sends_full_total", COUNTER, UNIT_COUNT,
         "Sends that found the queue full.", v_full},
	{"bus_queue_sends_blocked_total", COUNTER, UNIT_COUNT,
         "Sends that slept waiting for space.", v_blocked},
	{"bus_queue_consumer_wakeups_total", COUNTER, UNIT_COUNT,
         "Futex wakes producers made for a sleeping consumer.", v_cons_wakeups},
	{"bus_queue_consumer_sleeps_total", COUNTER, UNIT_COUNT,
         "Times the consumer slept on an empty queue.", v_cons_sleeps},
	{"bus_queue_producer_wakeups_total", COUNTER, UNIT_COUNT,
         "Futex wakes the consumer made for producers blocked on a full queue.",
         v_prod_wakeups},
	{"bus_queue_recovered_total", COUNTER, UNIT_COUNT,
         "Records recovered from producers that died mid-write.", v_recovered},
	{"bus_queue_redelivered_total", COUNTER, UNIT_COUNT,
         "Messages delivered again after a consumer died holding them.",
         v_redelivered},
	{"bus_queue_depth_messages", GAUGE, UNIT_COUNT,
         "Messages waiting in the queue.", v_depth},
	{"bus_queue_depth_bytes", GAUGE, UNIT_COUNT,
         "Ring bytes claimed and not yet released.", v_depth_bytes},
	{"bus_queue_capacity_bytes", GAUGE, UNIT_COUNT,
         "Size of the queue's ring in bytes.", v_capacity},
	{"bus_queue_max_message_bytes", GAUGE, UNIT_COUNT,
         "Largest payload the queue accepts.", v_max_message},
	{"bus_queue_producers", GAUGE, UNIT_COUNT,
         "Producers attached now.", v_producers},
	{"bus_queue_max_producers", GAUGE, UNIT_COUNT,
         "Producer slots of the queue.", v_max_producers},
	{"bus_queue_consumer_attached", GAUGE, UNIT_COUNT,
         "1 if a live consumer is attached, else 0.", v_consumer},
	{"bus_queue_oldest_message_age_seconds", GAUGE, UNIT_NS,
         "Age of the oldest message waiting in the queue, 0 if none.", v_oldest},
	{"bus_queue_corrupt_records_total", COUNTER, UNIT_COUNT,
         "Corrupt records the consumer reported and stepped over.", v_corrupt},
	{"bus_queue_aborted_total", COUNTER, UNIT_COUNT,
         "Loans producers gave up (bus_send_abort): skipped, never delivered.",
         v_aborted},
	{"bus_queue_requests_total", COUNTER, UNIT_COUNT,
         "Requests the queue's consumer received (request and reply).",
         v_requests},
	{"bus_queue_replies_total", COUNTER, UNIT_COUNT,
         "Replies the queue's consumer sent (bus_reply).", v_replies},
	{"bus_queue_late_replies_total", COUNTER, UNIT_COUNT,
         "Replies callers dropped: their call had timed out or was cancelled.",
         v_late},
	{"bus_queue_dead_replies_total", COUNTER, UNIT_COUNT,
         "Replies refused because the caller had closed or died.", v_dead},
	{"bus_queue_broken", GAUGE, UNIT_COUNT,
         "1 if a record the consumer cannot step over stopped the queue, else 0.",
         v_broken},
	{"bus_queue_stalled_seconds", GAUGE, UNIT_NS,
         "How long the record the consumer reads next has been claimed and not "
         "committed while others wait behind it; 0 if the queue is not stalled.",
         v_stalled},
};

/* A label value as the format wants it: \\, \" and \n escaped. */
static void put_label(struct buf *o, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_puts(o, "\\\\");
		else if (*s == '"')
			buf_puts(o, "\\\"");
		else if (*s == '\n')
			buf_puts(o, "\\n");
		else
			buf_put(o, s, 1);
	}
}

/* Help text escapes \\ and \n only. */
static void put_help(struct buf *o, const char *name, const char *help,
                     const char *kind)
{
	buf_printf(o, "# HELP %s ", name);
	for (; *help; help++) {
		if (*help == '\\')
			buf_puts(o, "\\\\");
		else if (*help == '\n')
			buf_puts(o, "\\n");
		else
			buf_put(o, help, 1);
	}
	buf_printf(o, "\n# TYPE %s %s\n", name, kind);
}

/* Nanoseconds as exact decimal seconds: 1024 -> "0.000001024". */
static void fmt_seconds(char out[32], uint64_t ns)
{
	char frac[16];
	int n;

	n = snprintf(frac, sizeof(frac), "%09" PRIu64, ns % 1000000000u);
	while (n > 0 && frac[n - 1] == '0')
		frac[--n] = '\0';
	snprintf(out, 32, "%" PRIu64 "%s%s", ns / 1000000000u, n ? "." : "", frac);
}

static void put_sample(struct buf *o, const char *name, const char *suffix,
                       const char *queue, const char *le)
{
	buf_printf(o, "%s%s{queue=\"", name, suffix);
	put_label(o, queue);
	buf_puts(o, "\"");
	if (le)
		buf_printf(o, ",le=\"%s\"", le);
	buf_puts(o, "} ");
}

static void put_histogram(struct buf *o, const bus_stats *st)
{
	static const char *name = "bus_queue_latency_seconds";
	uint64_t cum = 0, total = 0;
	double sum = 0;
	int b = 0;

	for (int k = LE_FIRST; k <= LE_LAST; k++) {
		char le[32];

		/* buckets b < k end at or below 2^k ns */
		for (; b < k; b++)
			cum += st->latency_hist[b];
		fmt_seconds(le, UINT64_C(1) << k);
		put_sample(o, name, "_bucket", st->name, le);
		buf_printf(o, "%" PRIu64 "\n", cum);
	}
	for (int i = 0; i < BUS_STATS_BUCKETS; i++) {
		/* the middle of [2^i, 2^(i+1)), and of [0, 2) for the first */
		double mid = i ? 1.5 * (double)(UINT64_C(1) << i) : 1.0;

		total += st->latency_hist[i];
		sum += (double)st->latency_hist[i] * mid / 1e9;
	}
	put_sample(o, name, "_bucket", st->name, "+Inf");
	buf_printf(o, "%" PRIu64 "\n", total);
	put_sample(o, name, "_sum", st->name, NULL);
	buf_printf(o, "%.9g\n", sum);
	put_sample(o, name, "_count", st->name, NULL);
	buf_printf(o, "%" PRIu64 "\n", total);
}

/* 1 if a queue of that name was read (a bad one then is a stale segment). */
static bool listed(const bus_stats *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!v[i].deleted && strcmp(v[i].name, name) == 0)
			return true;
	return false;
}

/*
 * Which producer a stalled queue waits for: a sample of 1 per stalled
 * queue whose slot is known, labelled with the slot and the pid its
 * producer wrote into it; no sample while the queue flows.
 */
static void put_stalled_producer(struct buf *o, const bus_stats *v, size_t n)
{
	static const char *name = "bus_queue_stalled_producer";

	put_help(o, name, "1 for the producer slot whose uncommitted claim stalls the "
	                  "queue, labelled with the slot and the pid that producer "
	                  "wrote into its slot; no sample if the queue is not stalled.",
	         "gauge");
	for (size_t i = 0; i < n; i++) {
		if (v[i].deleted || !v[i].stalled_ns || v[i].stalled_slot == BUS_STATS_NO_SLOT)
			continue;
		buf_printf(o, "%s{queue=\"", name);
		put_label(o, v[i].name);
		buf_printf(o, "\",slot=\"%" PRIu32 "\",pid=\"%" PRIu32 "\",alive=\"%d\"} 1\n",
		           v[i].stalled_slot, v[i].stalled_pid, v[i].stalled_alive ? 1 : 0);
	}
}

/*
 * Whether each queue's segment could be read: 1 for those shown, 0 for
 * those that failed (and so have no other sample).
 */
static void put_readable(struct buf *o, const bus_stats *v, size_t n,
                         const struct stats_fault *bad, size_t nbad)
{
	static const char *name = "bus_queue_readable";

	put_help(o, name, "1 if the queue's segment was read, 0 if it could not be "
	                  "(it fails validation: corrupt, or another layout version).",
	         "gauge");
	for (size_t i = 0; i < n; i++) {
		if (v[i].deleted)
			continue;
		put_sample(o, name, "", v[i].name, NULL);
		buf_puts(o, "1\n");
	}
	for (size_t i = 0; i < nbad; i++) {
		bool again = listed(v, n, bad[i].name);

		/* one sample per name: a live queue, or its first bad segment */
		for (size_t k = 0; k < i && !again; k++)
			again = strcmp(bad[k].name, bad[i].name) == 0;
		if (again)
			continue;
		put_sample(o, name, "", bad[i].name, NULL);
		buf_puts(o, "0\n");
	}
}

void render_prometheus(struct buf *o, const bus_stats *v, size_t n,
                       const struct stats_fault *bad, size_t nbad, bool direct)
{
	put_help(o, "bus_busd_up", "1 if busd answered, 0 if these figures were "
	                           "read from the segments in /dev/shm.",
	         "gauge");
	buf_printf(o, "bus_busd_up %d\n", direct ? 0 : 1);
	for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
		const struct family *fam = &families[f];

		put_help(o, fam->name, fam->help, fam->kind == COUNTER ? "counter" : "gauge");
		for (size_t i = 0; i < n; i++) {
			char secs[32];

			if (v[i].deleted)
				continue;
			put_sample(o, fam->name, "", v[i].name, NULL);
			if (fam->unit == UNIT_NS) {
				fmt_seconds(secs, fam->value(&v[i]));
				buf_printf(o, "%s\n", secs);
			} else {
				buf_printf(o, "%" PRIu64 "\n", fam->value(&v[i]));
			}
		}
	}
	put_stalled_producer(o, v, n);
	put_readable(o, v, n, bad, nbad);
	put_help(o, "bus_queue_latency_seconds", "Enqueue-to-receive delay of a sample "
	                                         "of received messages (_sum estimated from power-of-two buckets).",
	         "histogram");
	for (size_t i = 0; i < n; i++)
		if (!v[i].deleted)
			put_histogram(o, &v[i]);
}

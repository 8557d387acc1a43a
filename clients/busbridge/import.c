/*
 * import.c - an import route SUBJECT:QUEUE[:DURABLE]: busbridge pulls
 * SUBJECT from JetStream with the durable consumer DURABLE and sends each
 * message to QUEUE as a producer.
 *
 * The route remembers L, the stream sequence of the last message it
 * committed to the queue, in its position file (state.h), stored right
 * after each commit.  At every (re)connect it deletes the durable and
 * makes it again to start at L + 1, so that what was delivered and not
 * committed comes again at once and in order (not after AckWait, behind
 * newer messages).  It fetches a batch only when the previous one is all
 * committed and acked.  Together these make every delivery with a
 * sequence above L arrive in stream order, so "seq <= L" means exactly
 * "committed already": such a delivery is acked and skipped.
 *
 * What can still duplicate: a busbridge killed between bus_send()'s
 * commit and the store of L (the rest of bus_send(), which may make a
 * futex wake for the consumer, and one store) delivers that one message
 * again; a host crash can lose the last second of stores (see
 * state.h) and deliver up to that second again.  Nothing else does.
 *
 * A full queue stops the route: it retries the send in 1 s slices and
 * tells JetStream every 10 s that the fetched messages are in progress,
 * so they are not redelivered meanwhile.  A message larger than the
 * queue's max_message stalls the route the same way (retried every 5 s,
 * logged once): nothing is dropped, and a queue made again larger takes
 * it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "natsconn.h"
#include "util/num.h"
#include "state.h"
#include "stats.h"

#define FETCH_TIMEOUT_MS   500
#define SEND_SLICE_MS      1000
#define IN_PROGRESS_NS     (10 * 1000000000ull)
#define TOO_LARGE_MS       5000
#define ACK_WAIT_NS        (30 * 1000000000ll)
#define FLUSH_TIMEOUT_MS   1000
#define LAG_ASK_MS         500
#define CONSUMER_NOT_FOUND 10014 /* JSConsumerNotFoundErr */

/*
 * libnats delays ordinary publishes ~1 ms in its flusher thread, and the
 * pull request behind each fetch is one; acks are too.  Sending at once
 * saves that per fetch but costs a write per ack.  Measured on 2 cores,
 * 200k small messages through an import route alone: 78k msgs/s without
 * SendAsap, 58k with.
 */
#define IMPORT_SEND_ASAP false

struct import_state {
	struct route *r;
	struct natsconn conn;
	natsSubscription *sub;
	bus_producer *p;
	int local_err; /* the attach failure logged last, 0: none */
	struct backoff local_bo;
	bool bad_type_said; /* a malformed Bus-Type header was logged */
	uint64_t too_large; /* the sequence logged as too large, 0: none */
	uint64_t lag_ns;    /* when the server was last asked for the lag */
};

/* The batch in hand: what is fetched, and how far it is committed. */
struct batch {
	natsMsgList list;
	int next;             /* the message being sent */
	uint64_t progress_ns; /* the last in-progress ack (or the fetch) */
};

/* --- the local queue --- */

/* Attaches the producer, or waits before the next try: true if it did. */
static bool attach(struct import_state *im)
{
	bool opening = true;
	bus *b = NULL;
	int rc = bus_open(im->r->cfg->socket, &b);

	if (rc == 0) {
		opening = false;
		rc = bus_producer_open(b, im->r->rc->queue, &im->p);
	}
	/* The producer outlives the connection; busd is needed only to attach. */
	bus_close(b);
	if (rc == 0) {
		route_log(im->r, LOG_LEVEL_INFO, "queue_attached", "producing to the queue",
		          "max_message=%zu", bus_producer_max_message(im->p));
		im->local_err = 0;
		backoff_reset(&im->local_bo);
		return true;
	}
	route_local_failed(im->r, &im->local_err, rc, opening, NULL);
	backoff_sleep(&im->local_bo, im->r->stop);
	return false;
}

static void detach(struct import_state *im)
{
	bus_producer_close(im->p);
	im->p = NULL;
}

/* --- the consumer --- */

/*
 * No position file yet, but maybe a durable of that name (a state
 * directory lost, or moved here): start from what it acked.
 */
static int adopt_durable(struct import_state *im, char *why, size_t n)
{
	const struct route *r = im->r;
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_GetConsumerInfo(&ci, im->conn.js, r->cfg->stream,
	                                  r->rc->durable, NULL, &jerr);

	if (s == NATS_NOT_FOUND || jerr == CONSUMER_NOT_FOUND)
		return 0;
	if (s != NATS_OK || !ci) {
		snprintf(why, n, "cannot read consumer %s: %s (code %d)", r->rc->durable,
		         natsconn_error(s), (int)jerr);
		return -1;
	}
	if (ci->AckFloor.Stream > 0) {
		seq_store(r->seq, ci->AckFloor.Stream);
		seq_sync(r->seq, true);
		route_log(r, LOG_LEVEL_INFO, "durable_adopted", "nothing committed yet: "
		                                                "starting after what the "
		                                                "durable acked",
		          "last_seq=%" PRIu64, ci->AckFloor.Stream);
	}
	jsConsumerInfo_Destroy(ci);
	return 0;
}

/* Deletes the durable and makes it again, to deliver from last + 1. */
static int make_consumer(struct import_state *im, uint64_t last, char *why,
                         size_t n)
{
	const struct route *r = im->r;
	jsConsumerConfig cc;
	jsErrCode jerr = 0;
	natsStatus s = js_DeleteConsumer(im->conn.js, r->cfg->stream, r->rc->durable,
	                                 NULL, &jerr);

	if (s != NATS_OK && s != NATS_NOT_FOUND && jerr != CONSUMER_NOT_FOUND) {
		snprintf(why, n, "cannot delete consumer %s: %s (code %d)", r->rc->durable,
		         natsconn_error(s), (int)jerr);
		return -1;
	}
	jsConsumerConfig_Init(&cc);
	cc.Durable = r->rc->durable;
	cc.FilterSubject = r->rc->subject;
	cc.AckPolicy = js_AckExplicit;
	cc.AckWait = ACK_WAIT_NS;
	/* A fetch larger than MaxAckPending waits out its timeout every time. */
	cc.MaxAckPending = 2 * (int64_t)r->cfg->batch;
	cc.MaxDeliver = -1;
	cc.DeliverPolicy = last ? js_DeliverByStartSequence : js_DeliverAll;
	cc.OptStartSeq = last ? last + 1 : 0;
	s = js_AddConsumer(NULL, im->conn.js, r->cfg->stream, &cc, NULL, &jerr);
	if (s != NATS_OK) {
		snprintf(why, n, "cannot create consumer %s: %s (code %d)", r->rc->durable,
		         natsconn_error(s), (int)jerr);
		return -1;
	}
	route_log(r, LOG_LEVEL_DEBUG, "consumer_created", "consumer made again",
	          "start_seq=%" PRIu64, last + 1);
	return 0;
}

static int subscribe(struct import_state *im, char *why, size_t n)
{
	const struct route *r = im->r;
	jsSubOptions so;
	jsErrCode jerr = 0;
	natsStatus s;

	/*
	 * Nothing committed by us yet: a durable's acks can only be another
	 * importer's (we ack only after recording a commit), so start after
	 * them.  Also when the position file exists at 0, which a busbridge
	 * killed before its first connection leaves.
	 */
	if (seq_last(r->seq) == 0 && adopt_durable(im, why, n) < 0)
		return -1;
	if (make_consumer(im, seq_last(r->seq), why, n) < 0)
		return -1;
	jsSubOptions_Init(&so);
	so.Stream = r->cfg->stream;
	so.Consumer = r->rc->durable;
	s = js_PullSubscribe(&im->sub, im->conn.js, r->rc->subject, r->rc->durable,
	                     NULL, &so, &jerr);
	if (s != NATS_OK) {
		snprintf(why, n, "cannot subscribe with consumer %s: %s (code %d)",
		         r->rc->durable, natsconn_error(s), (int)jerr);
		return -1;
	}
	return 0;
}

/* Drops the subscription (keeping the durable) and the connection. */
static void disconnect(struct import_state *im, const char *why)
{
	natsSubscription_Destroy(im->sub);
	im->sub = NULL;
	if (why)
		natsconn_fail(&im->conn, why);
	else
		natsconn_close(&im->conn);
	stat_set(&im->r->st->in_flight, 0);
}

/* Connects and subscribes, or waits before the next try: true if it did. */
static bool connect(struct import_state *im)
{
	char why[512];

	if (natsconn_open(&im->conn) == 0) {
		if (subscribe(im, why, sizeof(why)) == 0)
			return true;
		disconnect(im, why);
	}
	natsconn_backoff(&im->conn);
	return false;
}

/* --- sending --- */

/* The Bus-Type header as a type id; 0 if absent or malformed. */
static uint32_t msg_type(struct import_state *im, natsMsg *m)
{
	const char *v = NULL;
	uint64_t t;

	if (natsMsgHeader_Get(m, "Bus-Type", &v) != NATS_OK || !v)
		return 0;
	if (num_parse_u64(v, &t) == 0 && t <= UINT32_MAX)
		return (uint32_t)t;
	if (!im->bad_type_said)
		route_log(im->r, LOG_LEVEL_WARN, "bad_type_header", "malformed Bus-Type "
		                                                    "header: sending with type 0 "
		                                                    "(logged once)",
		          "value=\"%.32s\"", v);
	im->bad_type_said = true;
	return 0;
}

/* Tells JetStream that every fetched, unacked message is still being worked on. */
static void keep_alive(struct batch *bt)
{
	uint64_t now = nstime_mono();

	if (now - bt->progress_ns < IN_PROGRESS_NS)
		return;
	bt->progress_ns = now;
	for (int i = bt->next; i < bt->list.Count; i++)
		natsMsg_InProgress(bt->list.Msgs[i], NULL);
}

static void too_large(struct import_state *im, uint64_t seq, int len)
{
	if (im->too_large != seq) {
		stat_add(&im->r->st->errors, 1);
		route_log(im->r, LOG_LEVEL_ERROR, "message_too_large",
		          "a message exceeds the queue's max_message: the route waits "
		          "(retrying every 5 s) until the queue is made larger",
		          "seq=%" PRIu64 " len=%d max_message=%zu", seq, len,
		          bus_producer_max_message(im->p));
	}
	im->too_large = seq;
	bridge_nap(TOO_LARGE_MS, im->r->stop);
}

/*
 * While the route waits on its queue, the lag of the message in hand goes
 * stale (the stream grows behind it): ask the server, at most once a
 * second, how many messages the consumer has not yet delivered.  A server
 * that does not answer within LAG_ASK_MS leaves the last figure.
 */
static void refresh_lag(struct import_state *im)
{
	uint64_t now = nstime_mono();
	jsConsumerInfo *ci = NULL;
	jsOptions o;

	if (now - im->lag_ns < BRIDGE_LAG_PERIOD_NS)
		return;
	im->lag_ns = now;
	jsOptions_Init(&o);
	o.Wait = LAG_ASK_MS;
	if (natsSubscription_GetConsumerInfo(&ci, im->sub, &o, NULL) != NATS_OK || !ci)
		return;
	stat_set(&im->r->st->lag, ci->NumPending);
	jsConsumerInfo_Destroy(ci);
}

/* A send failure other than a full queue: what to do before trying again. */
static void send_failed(struct import_state *im, int rc, uint64_t seq, int len)
{
	if (rc == -EMSGSIZE) {
		too_large(im, seq, len);
		return;
	}
	if (rc == -EPIPE)
		route_log(im->r, LOG_LEVEL_WARN, "queue_deleted", "the queue was deleted; "
		                                                  "attaching again",
		          NULL);
	else
		route_log(im->r, LOG_LEVEL_ERROR, "queue_send_failed", "cannot send; "
		                                                       "attaching again",
		          "reason=\"%s\"", bus_strerror(rc));
	stat_add(&im->r->st->errors, rc == -EPIPE ? 0 : 1);
	detach(im);
}

/*
 * Sends the batch's current message until it is committed.  Returns 0,
 * or -1 if told to stop first (the message is not committed).
 */
static int send_one(struct import_state *im, struct batch *bt, uint64_t seq)
{
	natsMsg *m = bt->list.Msgs[bt->next];
	const char *data = natsMsg_GetData(m);
	int len = natsMsg_GetDataLength(m);
	uint32_t type = msg_type(im, m);

	for (;;) {
		if (!im->p) {
			attach(im);
		} else {
			int rc = bus_send(im->p, type, data, (size_t)len, SEND_SLICE_MS);

			if (rc == 0)
				return 0;
			if (rc == -ETIMEDOUT || rc == -EAGAIN)
				refresh_lag(im);
			else
				send_failed(im, rc, seq, len);
		}
		if (atomic_load_explicit(im->r->stop, memory_order_relaxed))
			return -1;
		keep_alive(bt);
	}
}

/*
 * One fetched message: skipped if committed already, else sent, its
 * position stored, then acked.  Returns 0, -1 if told to stop, or -2
 * if the message cannot be placed in the stream (no metadata).
 */
static int handle(struct import_state *im, struct batch *bt)
{
	struct stats_route *st = im->r->st;
	natsMsg *m = bt->list.Msgs[bt->next];
	jsMsgMetaData *meta = NULL;
	uint64_t seq;

	if (natsMsg_GetMetaData(&meta, m) != NATS_OK || !meta) {
		/*
		 * Not one to step over: committing the ones behind it would
		 * move L past it, and its redelivery would then be skipped.
		 * Connect again, and the consumer starts at L + 1 once more.
		 */
		stat_add(&st->errors, 1);
		route_log(im->r, LOG_LEVEL_ERROR, "bad_message", "a fetched message has no "
		                                                 "JetStream metadata: fetching "
		                                                 "again from the last commit",
		          NULL);
		return -2;
	}
	seq = meta->Sequence.Stream;
	stat_add(&st->redeliveries, meta->NumDelivered > 1);
	stat_set(&st->lag, meta->NumPending);
	jsMsgMetaData_Destroy(meta);
	if (seq <= seq_last(im->r->seq)) {
		natsMsg_Ack(m, NULL);
		stat_add(&st->skipped, 1);
		stat_add(&st->acks, 1);
		return 0;
	}
	if (send_one(im, bt, seq) < 0)
		return -1;
	/* Right after the commit: the window for a duplicate is these lines. */
	seq_store(im->r->seq, seq);
	natsMsg_Ack(m, NULL);
	stat_add(&st->messages, 1);
	stat_add(&st->bytes, (uint64_t)natsMsg_GetDataLength(m));
	stat_add(&st->acks, 1);
	return 0;
}

/* Fetches a batch and commits all of it before the next fetch. */
static void import_batch(struct import_state *im)
{
	struct batch bt = {.progress_ns = nstime_mono()};
	jsErrCode jerr = 0;
	int rc = 0;
	char why[512];
	natsStatus s = natsSubscription_Fetch(&bt.list, im->sub, (int)im->r->cfg->batch,
	                                      FETCH_TIMEOUT_MS, &jerr);

	seq_sync(im->r->seq, false);
	if (s == NATS_TIMEOUT)
		return;
	if (s != NATS_OK) {
		snprintf(why, sizeof(why), "fetch failed: %s (code %d)", natsconn_error(s),
		         (int)jerr);
		disconnect(im, why);
		/* a server that answers and refuses is not tried in a tight loop */
		natsconn_backoff(&im->conn);
		return;
	}
	natsconn_ok(&im->conn);
	stat_set(&im->r->st->in_flight, (uint64_t)bt.list.Count);
	for (; bt.next < bt.list.Count; bt.next++) {
		rc = handle(im, &bt);
		if (rc < 0)
			break;
		stat_sub(&im->r->st->in_flight, 1);
	}
	natsMsgList_Destroy(&bt.list);
	if (rc == -2) {
		disconnect(im, "a message without JetStream metadata");
		natsconn_backoff(&im->conn);
	}
	stat_set(&im->r->st->in_flight, 0);
}

/* --- the thread --- */

static void shut_down(struct import_state *im)
{
	/* The acks of what was committed go out before the connection closes. */
	if (im->conn.nc)
		natsConnection_FlushTimeout(im->conn.nc, FLUSH_TIMEOUT_MS);
	disconnect(im, NULL);
	detach(im);
	seq_sync(im->r->seq, true);
}

void *import_run(void *arg)
{
	struct route *r = arg;
	struct import_state im = {.r = r};

	natsconn_init(&im.conn, r, NULL, IMPORT_SEND_ASAP);
	backoff_reset(&im.local_bo);
	while (!atomic_load_explicit(r->stop, memory_order_relaxed)) {
		if (!im.p && !attach(&im))
			continue;
		if (!im.sub && !connect(&im))
			continue;
		stat_state(r->st, ROUTE_UP);
		import_batch(&im);
	}
	shut_down(&im);
	route_log(r, LOG_LEVEL_INFO, "route_stop", "route stopped",
	          "messages=%" PRIu64 " last_seq=%" PRIu64,
	          atomic_load(&r->st->messages), seq_last(r->seq));
	return NULL;
}

/*
 * export.c - an export route QUEUE:SUBJECT: busbridge is the queue's
 * consumer and publishes each message to SUBJECT in JetStream.
 *
 * The route works in rounds.  It receives up to `window` messages and
 * keeps their views (the ring keeps their space), publishes them all
 * asynchronously, and waits for every publish ack.  Only when all are
 * acked (a Duplicate ack too: JetStream has that message) does it
 * release them and receive more.  A failed ack, an ack missing after
 * 5 s or a dead connection fails the round: the connection is destroyed,
 * and once a new one works the whole round is published again, in ring
 * order; what JetStream stored already comes back as duplicates.
 *
 * So a message leaves the queue only after JetStream has it.  Killed at
 * any instant, busbridge leaves its unreleased messages to the next
 * consumer (flagged BUS_MSG_REDELIVERED), which publishes them with the
 * same Nats-Msg-Id: <queue uuid>-<slot>-<seq>-<enqueue_ns>.  enqueue_ns
 * is in the id because a producer killed between committing a record
 * and storing its slot's next sequence leaves the next producer in that
 * slot to reuse the sequence: (slot, seq) alone could name two messages,
 * and JetStream would drop the second as a duplicate of the first.
 *
 * Acks arrive on a libnats thread (on_ack) and are matched to the round
 * by the natsMsg pointer handed over; an ack of any connection but the
 * current one is ignored, so a late callback of a destroyed connection
 * cannot mark the round of the next.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "natsconn.h"
#include "stats.h"

#define RECV_TIMEOUT_MS  100 /* how often a quiet route looks at stop and NATS */
#define ACK_TIMEOUT_NS   (5 * 1000000000ull)
#define WAIT_SLICE_NS    (50 * 1000000ull)
#define BUSY_RETRY_MS    5000 /* the queue has another consumer */
#define TOO_LARGE_MS     5000 /* a message above NATS's max_payload */
#define MSG_ID_MAX       128
#define FLUSH_TIMEOUT_MS 1000

/*
 * libnats delays ordinary publishes ~1 ms in its flusher thread; a round
 * publishes up to `window` messages and then waits for their acks, so the
 * delay is paid once per round, while sending each publish at once costs
 * a write per message.  Measured on 2 cores, 200k small messages through
 * an export route alone: 58k msgs/s without SendAsap, 51k with.
 */
#define EXPORT_SEND_ASAP false

enum ack_state {
	ACK_NONE,
	ACK_PENDING,
	ACK_OK,
	ACK_FAILED,
};

struct export_state {
	struct route *r;

	pthread_mutex_t mu;
	pthread_cond_t cv; /* an ack arrived */
	/* Guarded by mu: what the ack callback reads and writes. */
	jsCtx *js;      /* the connection whose acks count; NULL: none */
	natsMsg **sent; /* [window]: the message handed to libnats, to match its ack */
	uint8_t *ack;   /* [window]: enum ack_state */
	size_t n;       /* publishes of the round */
	size_t cursor;  /* where the next ack is looked for first */
	size_t done;    /* acks of the round */
	size_t failed;  /* of which failed */
	char why[256];  /* the first failure's reason */
	bool no_stream; /* a failure was "no responders": the stream is to mend */

	/* The route thread's own. */
	struct natsconn conn;
	bus *b;
	bus_consumer *c;
	bus_msg *msgs;  /* [window]: held views, valid until bus_release() */
	size_t held;    /* messages received and not released */
	bool republish; /* the held messages were published before */
	char uuid[33];  /* the queue's UUID in hex, for the ids */
	uint64_t lag_ns;
	int local_err;           /* the attach failure logged last, 0: none */
	int recv_err;            /* the receive failure logged last, 0: none */
	uint32_t too_large_slot; /* the message logged as too large: */
	uint64_t too_large_seq;  /* its slot and seq + 1 (0: none) */
	struct backoff local_bo;
};

/* --- acks, on libnats's thread --- */

/* The round's pending publish of m; n if there is none. */
static size_t find_pending(const struct export_state *ex, const natsMsg *m)
{
	/* Acks come in publish order on one connection: cursor is the guess. */
	for (size_t k = 0; k < ex->n; k++) {
		size_t i = (ex->cursor + k) % ex->n;

		if (ex->ack[i] == ACK_PENDING && ex->sent[i] == m)
			return i;
	}
	return ex->n;
}

static void note_ack(struct export_state *ex, const natsMsg *m,
                     const jsPubAck *pa, const jsPubAckErr *pae)
{
	struct stats_route *st = ex->r->st;
	size_t i = find_pending(ex, m);

	if (i == ex->n)
		return;
	ex->sent[i] = NULL;
	ex->cursor = i + 1;
	ex->done++;
	stat_sub(&st->in_flight, 1);
	if (pa) {
		ex->ack[i] = ACK_OK;
		stat_add(&st->acks, 1);
		if (pa->Duplicate)
			stat_add(&st->duplicates, 1);
	} else {
		ex->ack[i] = ACK_FAILED;
		ex->failed++;
		if (pae && pae->Err == NATS_NO_RESPONDERS)
			ex->no_stream = true;
		stat_add(&st->errors, 1);
		if (!ex->why[0])
			snprintf(ex->why, sizeof(ex->why), "publish failed: %s (code %d)",
			         pae && pae->ErrText ? pae->ErrText : natsStatus_GetText(pae ? pae->Err : NATS_ERR),
			         pae ? (int)pae->ErrCode : 0);
	}
	if (ex->done == ex->n || !pa)
		pthread_cond_signal(&ex->cv);
}

/* jsOptions.PublishAsync.AckHandler: owns m, which it must destroy. */
static void on_ack(jsCtx *js, natsMsg *m, jsPubAck *pa, jsPubAckErr *pae,
                   void *closure)
{
	struct export_state *ex = closure;

	pthread_mutex_lock(&ex->mu);
	if (js == ex->js)
		note_ack(ex, m, pa, pae);
	pthread_mutex_unlock(&ex->mu);
	natsMsg_Destroy(m);
}

/* --- the local queue --- */

static void hex_uuid(char out[33], const uint8_t uuid[16])
{
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", uuid[i]);
}

/* One try at becoming the queue's consumer.  Returns 0 or a negative errno. */
static int attach_once(struct export_state *ex, bool *opening)
{
	const char *queue = ex->r->rc->queue;
	bus_stats st;
	int rc;

	*opening = !ex->b;
	if (!ex->b && (rc = bus_open(ex->r->cfg->socket, &ex->b)) < 0)
		return rc;
	*opening = false;
	rc = bus_consumer_open(ex->b, queue, &ex->c);
	if (rc < 0)
		return rc;
	/* The UUID tells this queue's messages from those of a namesake. */
	rc = bus_queue_stats(ex->b, queue, &st);
	if (rc < 0) {
		bus_consumer_close(ex->c);
		ex->c = NULL;
		return rc;
	}
	hex_uuid(ex->uuid, st.uuid);
	stat_set(&ex->r->st->lag, st.depth_msgs);
	ex->lag_ns = nstime_mono();
	return 0;
}

/* Becomes the queue's consumer, or waits before the next try: true if it did. */
static bool attach(struct export_state *ex)
{
	bool opening;
	int rc = attach_once(ex, &opening);

	if (rc == 0) {
		route_log(ex->r, LOG_LEVEL_INFO, "queue_attached", "consuming the queue",
		          "uuid=%s", ex->uuid);
		ex->local_err = 0;
		backoff_reset(&ex->local_bo);
		return true;
	}
	route_local_failed(ex->r, &ex->local_err, rc, opening, ex->b);
	/* A fresh connection next time: bus_open() tells "no busd" apart. */
	bus_close(ex->b);
	ex->b = NULL;
	if (rc == -EBUSY)
		bridge_nap(BUSY_RETRY_MS, ex->r->stop);
	else
		backoff_sleep(&ex->local_bo, ex->r->stop);
	return false;
}

/* Gives up the consumer; held messages go to the next one, redelivered. */
static void detach(struct export_state *ex)
{
	bus_consumer_close(ex->c);
	ex->c = NULL;
	ex->held = 0;
	ex->republish = false;
	stat_state(ex->r->st, ROUTE_WAIT_LOCAL);
}

/* The queue's depth, asked of busd at most once a second. */
static void refresh_lag(struct export_state *ex)
{
	uint64_t now = nstime_mono();
	bus_stats st;

	if (now - ex->lag_ns < BRIDGE_LAG_PERIOD_NS)
		return;
	ex->lag_ns = now;
	/* busd down: the last figure stays */
	if (bus_queue_stats(ex->b, ex->r->rc->queue, &st) == 0)
		stat_set(&ex->r->st->lag, st.depth_msgs);
}

/* A receive failure; each kind is logged once in a row. */
static void recv_failed(struct export_state *ex, int rc)
{
	bool again = rc == ex->recv_err;

	ex->recv_err = rc;
	if (rc == -EPIPE) {
		route_log(ex->r, LOG_LEVEL_WARN, "queue_deleted", "the queue was deleted "
		                                                  "and drained; attaching again",
		          NULL);
		detach(ex);
		return;
	}
	if (rc == -EBADMSG) {
		stat_add(&ex->r->st->errors, 1);
		if (!again)
			route_log(ex->r, LOG_LEVEL_ERROR, "queue_corrupt", "corrupt record in "
			                                                   "the queue",
			          NULL);
		/* a broken queue answers at once, every time */
		if (again)
			bridge_nap(1000, ex->r->stop);
		return;
	}
	route_log(ex->r, LOG_LEVEL_ERROR, "queue_recv_failed", "cannot receive; "
	                                                       "attaching again",
	          "reason=\"%s\"", bus_strerror(rc));
	detach(ex);
	backoff_sleep(&ex->local_bo, ex->r->stop);
}

/* Fills the round from the queue: up to window messages. */
static void receive(struct export_state *ex)
{
	uint64_t redelivered = 0;
	int k = bus_recv_batch(ex->c, ex->msgs, ex->r->cfg->window, RECV_TIMEOUT_MS);

	if (k == -ETIMEDOUT || k == -EAGAIN)
		return;
	if (k < 0) {
		recv_failed(ex, k);
		return;
	}
	ex->recv_err = 0;
	ex->held = (size_t)k;
	ex->republish = false;
	for (int i = 0; i < k; i++)
		redelivered += (ex->msgs[i].flags & BUS_MSG_REDELIVERED) != 0;
	stat_add(&ex->r->st->redeliveries, redelivered);
}

/* --- publishing --- */

static natsStatus set_header_u64(natsMsg *nm, const char *key, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return natsMsgHeader_Set(nm, key, buf);
}

/*
 * The JetStream message for m: the payload and two headers.  Bus-Type
 * carries the type; the producer slot, sequence number and commit time
 * travel in the message id, whose fields are fixed (docs/bridge.md).
 * Each further header costs the server parsing on every message: with
 * the four fields repeated as headers of their own, JetStream ran a 64 B
 * path about 5% slower.  The id itself goes in through jsPubOptions.
 */
static natsStatus build(const struct export_state *ex, const bus_msg *m,
                        natsMsg **ret, char id[MSG_ID_MAX])
{
	natsMsg *nm = NULL;
	natsStatus s = natsMsg_Create(&nm, ex->r->rc->subject, NULL,
	                              (const char *)m->data, (int)m->len);

	if (s == NATS_OK)
		s = set_header_u64(nm, "Bus-Type", m->type);
	if (s != NATS_OK) {
		natsMsg_Destroy(nm);
		return s;
	}
	snprintf(id, MSG_ID_MAX, "%s-%" PRIu32 "-%" PRIu64 "-%" PRIu64, ex->uuid,
	         m->producer, m->seq, m->enqueue_ns);
	*ret = nm;
	return NATS_OK;
}

static void round_begin(struct export_state *ex)
{
	pthread_mutex_lock(&ex->mu);
	ex->n = ex->held;
	ex->cursor = 0;
	ex->done = 0;
	ex->failed = 0;
	ex->why[0] = '\0';
	ex->no_stream = false;
	memset(ex->ack, ACK_NONE, ex->held);
	pthread_mutex_unlock(&ex->mu);
}

/* Publishes message i of the round.  On failure we still own nm. */
static natsStatus publish_one(struct export_state *ex, size_t i)
{
	char id[MSG_ID_MAX];
	jsPubOptions po;
	natsMsg *nm = NULL;
	natsStatus s = build(ex, &ex->msgs[i], &nm, id);

	if (s != NATS_OK)
		return s;
	jsPubOptions_Init(&po);
	po.MsgId = id;
	/* Before the call: its ack may come before the call returns. */
	pthread_mutex_lock(&ex->mu);
	ex->sent[i] = nm;
	ex->ack[i] = ACK_PENDING;
	pthread_mutex_unlock(&ex->mu);
	stat_add(&ex->r->st->in_flight, 1);
	s = js_PublishMsgAsync(ex->conn.js, &nm, &po);
	if (s == NATS_OK)
		return s;
	pthread_mutex_lock(&ex->mu);
	ex->sent[i] = NULL;
	ex->ack[i] = ACK_NONE;
	pthread_mutex_unlock(&ex->mu);
	stat_sub(&ex->r->st->in_flight, 1);
	natsMsg_Destroy(nm);
	return s;
}

/*
 * Publishes the held messages in ring order.  Returns how many were
 * handed to libnats; *s is NATS_OK if all were, else why the next failed.
 */
static size_t publish_round(struct export_state *ex, natsStatus *s)
{
	size_t i;

	round_begin(ex);
	if (ex->republish)
		stat_add(&ex->r->st->redeliveries, ex->held);
	ex->republish = true;
	*s = NATS_OK;
	for (i = 0; i < ex->held && *s == NATS_OK; i++)
		*s = publish_one(ex, i);
	if (*s == NATS_OK)
		return i;
	i--;
	pthread_mutex_lock(&ex->mu);
	ex->n = i; /* the round is what went out */
	if (ex->done == ex->n)
		pthread_cond_signal(&ex->cv);
	pthread_mutex_unlock(&ex->mu);
	return i;
}

static void wait_slice(struct export_state *ex, uint64_t deadline)
{
	uint64_t now = nstime_mono(), ns = deadline - now;
	struct timespec ts;

	if (ns > WAIT_SLICE_NS)
		ns = WAIT_SLICE_NS;
	ts = nstime_to_ts(nstime_mono() + ns);
	pthread_cond_timedwait(&ex->cv, &ex->mu, &ts);
}

/*
 * Waits for the round's acks: up to 5 s, whatever the stop flag says (a
 * stop releases what is acked).  Returns 0 if every one is OK, or -1
 * with the reason in why.
 */
static int await_acks(struct export_state *ex, char *why, size_t n)
{
	uint64_t deadline = nstime_mono() + ACK_TIMEOUT_NS;
	bool alive = true;
	int rc = 0;

	pthread_mutex_lock(&ex->mu);
	while (ex->done < ex->n && !ex->failed && alive &&
	       nstime_mono() < deadline) {
		wait_slice(ex, deadline);
		pthread_mutex_unlock(&ex->mu);
		alive = natsconn_alive(&ex->conn);
		pthread_mutex_lock(&ex->mu);
	}
	if (ex->failed) {
		snprintf(why, n, "%s", ex->why);
		rc = -1;
	} else if (ex->done < ex->n) {
		if (alive)
			stat_add(&ex->r->st->errors, ex->n - ex->done);
		snprintf(why, n, alive ? "%zu of %zu publish acks missing after 5 s" : "connection lost with %zu of %zu acks missing",
		         ex->n - ex->done, ex->n);
		rc = -1;
	}
	pthread_mutex_unlock(&ex->mu);
	return rc;
}

/*
 * Forgets the connection's publishes (libnats frees them with it): from
 * here on its late acks are ignored and cannot touch the next round.
 */
static void disown(struct export_state *ex)
{
	pthread_mutex_lock(&ex->mu);
	ex->js = NULL;
	memset(ex->sent, 0, ex->n * sizeof(*ex->sent));
	pthread_mutex_unlock(&ex->mu);
	stat_set(&ex->r->st->in_flight, 0);
}

/*
 * Drops the connection and waits before the next: a server that takes
 * the connection but refuses every publish (a stream at its limits, a
 * subject taken off it) must not be reconnected to in a tight loop.
 * The wait grows until a round succeeds (natsconn_ok).
 */
static void connection_failed(struct export_state *ex, const char *why)
{
	disown(ex);
	natsconn_fail(&ex->conn, why);
	natsconn_backoff(&ex->conn);
}

/* Connects, or waits before the next try: true if it did. */
static bool connect(struct export_state *ex)
{
	if (natsconn_open(&ex->conn) < 0) {
		natsconn_backoff(&ex->conn);
		return false;
	}
	pthread_mutex_lock(&ex->mu);
	ex->js = ex->conn.js;
	pthread_mutex_unlock(&ex->mu);
	return true;
}

/* Every held message is in JetStream: give them back to the ring. */
static void release(struct export_state *ex)
{
	uint64_t bytes = 0;

	for (size_t i = 0; i < ex->held; i++)
		bytes += ex->msgs[i].len;
	bus_release(ex->c);
	stat_add(&ex->r->st->messages, ex->held);
	stat_add(&ex->r->st->bytes, bytes);
	ex->held = 0;
	ex->republish = false;
	natsconn_ok(&ex->conn);
}

/* A message NATS refuses for its size: the route waits, nothing is dropped. */
static void too_large(struct export_state *ex, size_t i)
{
	const bus_msg *m = &ex->msgs[i];

	if (ex->too_large_slot != m->producer || ex->too_large_seq != m->seq + 1) {
		stat_add(&ex->r->st->errors, 1);
		route_log(ex->r, LOG_LEVEL_ERROR, "message_too_large",
		          "a message exceeds the NATS server's max_payload: the route "
		          "waits until the server takes it",
		          "slot=%" PRIu32 " seq=%" PRIu64 " len=%zu max_payload=%lld",
		          m->producer, m->seq, m->len,
		          (long long)natsConnection_GetMaxPayload(ex->conn.nc));
	}
	ex->too_large_slot = m->producer;
	ex->too_large_seq = m->seq + 1;
	bridge_nap(TOO_LARGE_MS, ex->r->stop);
}

/* One round: publish what is held, wait for the acks, release or retry. */
static void forward(struct export_state *ex)
{
	char why[512];
	natsStatus s;
	size_t sent = publish_round(ex, &s);
	int rc;

	/*
	 * Out now rather than after libnats's flusher delay (about 1 ms):
	 * the round's acks are all we wait for.  One PING per round, not a
	 * write per publish as SendAsap would make.
	 */
	if (sent > 0)
		natsConnection_FlushTimeout(ex->conn.nc, FLUSH_TIMEOUT_MS);
	rc = await_acks(ex, why, sizeof(why));

	if (s == NATS_MAX_PAYLOAD && rc == 0) {
		too_large(ex, sent);
		return;
	}
	if (s != NATS_OK && rc == 0)
		snprintf(why, sizeof(why), "publish failed: %s", natsconn_error(s));
	if (s != NATS_OK || rc < 0) {
		if (s != NATS_OK)
			stat_add(&ex->r->st->errors, 1);
		pthread_mutex_lock(&ex->mu);
		ex->conn.repair = ex->no_stream;
		pthread_mutex_unlock(&ex->mu);
		connection_failed(ex, why);
		return;
	}
	release(ex);
}

/* --- the thread --- */

/*
 * The ack wait's deadlines are CLOCK_MONOTONIC (wait_slice); a condition
 * variable on the default CLOCK_REALTIME would take them for long past
 * and return at once, turning the wait into a spin against libnats's
 * thread.
 */
static int cond_init_monotonic(pthread_cond_t *cv)
{
	pthread_condattr_t ca;
	int r = pthread_condattr_init(&ca);

	if (r == 0)
		r = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (r == 0)
		r = pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
	return r;
}

static struct export_state *state_new(struct route *r)
{
	size_t w = r->cfg->window;
	struct export_state *ex = calloc(1, sizeof(*ex));
	jsOptions jo;

	if (!ex)
		return NULL;
	ex->r = r;
	ex->sent = calloc(w, sizeof(*ex->sent));
	ex->ack = calloc(w, 1);
	ex->msgs = calloc(w, sizeof(*ex->msgs));
	if (!ex->sent || !ex->ack || !ex->msgs || pthread_mutex_init(&ex->mu, NULL) != 0) {
		free(ex->sent);
		free(ex->ack);
		free(ex->msgs);
		free(ex);
		return NULL;
	}
	if (cond_init_monotonic(&ex->cv) != 0) {
		pthread_mutex_destroy(&ex->mu);
		free(ex->sent);
		free(ex->ack);
		free(ex->msgs);
		free(ex);
		return NULL;
	}
	jsOptions_Init(&jo);
	jo.PublishAsync.AckHandler = on_ack;
	jo.PublishAsync.AckHandlerClosure = ex;
	natsconn_init(&ex->conn, r, &jo, EXPORT_SEND_ASAP);
	backoff_reset(&ex->local_bo);
	return ex;
}

void export_free(struct route *r)
{
	struct export_state *ex = r->ex;

	if (!ex)
		return;
	pthread_cond_destroy(&ex->cv);
	pthread_mutex_destroy(&ex->mu);
	free(ex->sent);
	free(ex->ack);
	free(ex->msgs);
	free(ex);
	r->ex = NULL;
}

static void shut_down(struct export_state *ex)
{
	if (ex->c && ex->held)
		route_log(ex->r, LOG_LEVEL_WARN, "stop_unacked", "stopping with messages "
		                                                 "JetStream has not acked: "
		                                                 "left in the queue for the next "
		                                                 "consumer",
		          "messages=%zu", ex->held);
	if (ex->c)
		bus_consumer_close(ex->c);
	ex->c = NULL;
	disown(ex);
	natsconn_close(&ex->conn);
	bus_close(ex->b);
	ex->b = NULL;
}

void *export_run(void *arg)
{
	struct route *r = arg;
	struct export_state *ex = state_new(r);

	if (!ex) {
		route_log(r, LOG_LEVEL_ERROR, "route_failed", "out of memory: the route "
		                                              "does not run",
		          NULL);
		return NULL;
	}
	r->ex = ex;
	while (!atomic_load_explicit(r->stop, memory_order_relaxed)) {
		if (!ex->c && !attach(ex))
			continue;
		refresh_lag(ex);
		if (!ex->conn.nc && !connect(ex))
			continue;
		stat_state(r->st, ROUTE_UP);
		if (ex->held)
			forward(ex);
		else if (!natsconn_alive(&ex->conn))
			connection_failed(ex, "connection lost");
		else
			receive(ex);
	}
	shut_down(ex);
	route_log(r, LOG_LEVEL_INFO, "route_stop", "route stopped",
	          "messages=%" PRIu64, atomic_load(&r->st->messages));
	return NULL;
}

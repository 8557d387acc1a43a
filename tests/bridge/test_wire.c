/*
 * test_wire.c - what busbridge puts into JetStream and what it takes
 * from it, read and written with libnats as any other client would.
 *
 *  - export_headers: each message of A's queue is stored once, in ring
 *    order, with its payload and the bus header fields as NATS headers:
 *    Bus-Type, and Nats-Msg-Id <uuid>-<slot>-<seq>-<enqueue_ns> (the
 *    queue's UUID in 32 hex digits, the slot, the sequence per producer
 *    from 0, CLOCK_MONOTONIC at the commit), so that a copy republished
 *    after a crash has the same id.
 *  - import_foreign: messages that a plain NATS client published reach
 *    B's queue in stream order, typed as their Bus-Type header says: 0
 *    when it is absent or malformed, the malformed one logged once.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flow.h"
#include "harness.h"
#include "natsenv.h"

#if HAVE_LIBNATS
#include <nats/nats.h>

#define WAIT_MS E2E_SCALE(20000, 60000)
#define PER     5 /* messages per producer */

/* A JetStream context on the test's server; fails the test otherwise. */
static jsCtx *js_open(const struct nenv *n, natsConnection **nc)
{
	jsCtx *js = NULL;
	natsStatus s = natsConnection_ConnectTo(nc, n->url);

	if (s != NATS_OK)
		fail_msg("connect %s: %s", n->url, natsStatus_GetText(s));
	s = natsConnection_JetStream(&js, *nc, NULL);
	if (s != NATS_OK)
		fail_msg("JetStream context: %s", natsStatus_GetText(s));
	return js;
}

static void js_close(jsCtx *js, natsConnection *nc)
{
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* Header key of m as an unsigned decimal; fails the test otherwise. */
static uint64_t header_u64(natsMsg *m, const char *key)
{
	const char *v = NULL;
	char *end;
	uint64_t x;

	if (natsMsgHeader_Get(m, key, &v) != NATS_OK || !v || !*v)
		fail_msg("no header %s", key);
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || *end || *v < '0' || *v > '9')
		fail_msg("header %s: '%s' is not a decimal", key, v);
	return x;
}

struct sent {
	uint32_t slot;
	uint64_t t0, t1; /* CLOCK_MONOTONIC around the sends, ns */
};

/* A producer on A's queue; its slot into s. */
static bus_producer *producer(const struct e2e *h, struct sent *s)
{
	bus *b = e2e_open(h);
	bus_producer *prod;

	assert_int_equal(bus_producer_open(b, "orders", &prod), 0);
	bus_close(b);
	s->slot = bus_producer_slot(prod);
	return prod;
}

/* PER messages "pP-I" of type 100 * (p + 1) + I. */
static void send_some(bus_producer *prod, int p, struct sent *s)
{
	s->t0 = e2e_now_ms() * 1000000u;
	for (int i = 0; i < PER; i++) {
		char text[32];
		int len = snprintf(text, sizeof(text), "p%d-%d", p, i);

		assert_int_equal(bus_send(prod, (uint32_t)(100 * (p + 1) + i), text, (size_t)len,
		                          5000),
		                 0);
	}
	s->t1 = (e2e_now_ms() + 1) * 1000000u;
	bus_producer_close(prod);
}

static void uuid_hex(const uint8_t uuid[16], char out[33])
{
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", uuid[i]);
}

/* Stream message seq: producer p's message i, every header right. */
static void check_stored(jsCtx *js, uint64_t seq, int p, int i, const struct sent *s,
                         const char *uuid)
{
	char text[32], id[128];
	const char *v = NULL;
	natsMsg *m = NULL;
	uint64_t enq;
	natsStatus st = js_GetMsg(&m, js, NENV_STREAM, seq, NULL, NULL);

	if (st != NATS_OK)
		fail_msg("stream message %" PRIu64 ": %s", seq, natsStatus_GetText(st));
	snprintf(text, sizeof(text), "p%d-%d", p, i);
	assert_string_equal(natsMsg_GetSubject(m), "bus.orders");
	assert_int_equal(natsMsg_GetDataLength(m), strlen(text));
	assert_memory_equal(natsMsg_GetData(m), text, strlen(text));
	assert_int_equal(header_u64(m, "Bus-Type"), 100 * (p + 1) + i);
	assert_int_equal(natsMsgHeader_Get(m, "Nats-Msg-Id", &v), NATS_OK);
	/* The commit time is the id's last field; the rest is known. */
	assert_non_null(strrchr(v, '-'));
	enq = strtoull(strrchr(v, '-') + 1, NULL, 10);
	assert_true(enq >= s->t0 - 1000000u && enq <= s->t1);
	snprintf(id, sizeof(id), "%s-%" PRIu32 "-%d-%" PRIu64, uuid, s->slot, i, enq);
	assert_string_equal(v, id);
	natsMsg_Destroy(m);
}

static void export_headers(void **state)
{
	struct nenv *n = *state;
	struct nenv_bridge *ex;
	struct sent s[2];
	natsConnection *nc = NULL;
	natsMsg *m = NULL;
	char uuid[33];
	bus_stats st;
	bus *b;
	jsCtx *js;

	nenv_nats_start(n);
	nenv_queue(n->a, "orders", 0);
	b = e2e_open(n->a);
	assert_int_equal(bus_queue_stats(b, "orders", &st), 0);
	bus_close(b);
	uuid_hex(st.uuid, uuid);
	ex = nenv_bridge_new(n, n->a, "export", "--export", "orders:bus.orders", NULL);
	nenv_bridge_start(n, ex);
	{
		/* both attached at once: two slots, each with its sequence from 0 */
		bus_producer *p0 = producer(n->a, &s[0]), *p1 = producer(n->a, &s[1]);

		assert_int_not_equal(s[0].slot, s[1].slot);
		send_some(p0, 0, &s[0]);
		send_some(p1, 1, &s[1]);
	}
	assert_true(nenv_wait_stat(n, ex, 0, "messages", 2 * PER, WAIT_MS));

	js = js_open(n, &nc);
	for (int p = 0; p < 2; p++)
		for (int i = 0; i < PER; i++)
			check_stored(js, (uint64_t)p * PER + (uint64_t)i + 1, p, i, &s[p], uuid);
	/* each once: nothing after them */
	assert_int_not_equal(js_GetMsg(&m, js, NENV_STREAM, 2 * PER + 1, NULL, NULL), NATS_OK);
	js_close(js, nc);
	assert_int_equal(nenv_bridge_stop(n, ex), 0);
}

struct foreign {
	const char *type; /* Bus-Type header, NULL: none */
	uint32_t want;
};

static void publish(jsCtx *js, const char *payload, const char *type)
{
	natsMsg *m = NULL;
	jsPubAck *ack = NULL;
	natsStatus s = natsMsg_Create(&m, "bus.in", NULL, payload, (int)strlen(payload));

	if (s == NATS_OK && type)
		s = natsMsgHeader_Set(m, "Bus-Type", type);
	if (s == NATS_OK)
		s = js_PublishMsg(&ack, js, m, NULL, NULL);
	if (s != NATS_OK)
		fail_msg("publish %s: %s", payload, natsStatus_GetText(s));
	jsPubAck_Destroy(ack);
	natsMsg_Destroy(m);
}

static void import_foreign(void **state)
{
	struct nenv *n = *state;
	const struct foreign msgs[] = {
		{"4242", 4242},
		{NULL, 0},
		{"x12", 0},
		{"99999999999", 0},
		{"-1", 0},
		{"7", 7},
	};
	const size_t count = sizeof(msgs) / sizeof(msgs[0]);
	struct nenv_bridge *im;
	natsConnection *nc = NULL;
	bus_consumer *c;
	jsCtx *js;

	nenv_nats_start(n);
	nenv_queue(n->b, "in", 0);
	im = nenv_bridge_new(n, n->b, "import", "--import", "bus.in:in", NULL);
	nenv_bridge_start(n, im);
	/* up: the stream exists and covers bus.in */
	nenv_bridge_wait_up(n, im, WAIT_MS);
	js = js_open(n, &nc);
	for (size_t i = 0; i < count; i++) {
		char payload[16];

		snprintf(payload, sizeof(payload), "f%zu", i);
		publish(js, payload, msgs[i].type);
	}
	js_close(js, nc);

	c = nenv_consumer(n->b, "in");
	for (size_t i = 0; i < count; i++) {
		char payload[16];
		bus_msg m;

		nenv_recv(n, c, &m, WAIT_MS, "import-foreign", i);
		snprintf(payload, sizeof(payload), "f%zu", i);
		assert_int_equal(m.len, strlen(payload));
		assert_memory_equal(m.data, payload, m.len);
		if (m.type != msgs[i].want)
			fail_msg("message %zu (Bus-Type %s): type %" PRIu32 ", expected %" PRIu32, i,
			         msgs[i].type ? msgs[i].type : "absent", m.type, msgs[i].want);
		bus_release(c);
	}
	{
		bus_msg m;

		assert_int_equal(bus_recv(c, &m, 500), -ETIMEDOUT);
	}
	bus_consumer_close(c);
	assert_int_equal(nenv_bridge_log_count(im, "event=bad_type_header", NULL), 1);
	assert_int_equal(nenv_bridge_stop(n, im), 0);
}

/*
 * What update_stream changes in the stream's config: its subjects (the
 * first nsubjects of subjects) if nsubjects > 0, its message limit (-1:
 * none, new messages refused beyond it) if limit.
 */
struct stream_edit {
	const char *subjects[2];
	int nsubjects;
	bool limit;
	int64_t max_msgs;
};

/* Reads the stream's config, changes what e says, updates the stream. */
static void update_stream(jsCtx *js, struct stream_edit *e)
{
	jsStreamInfo *si = NULL;
	jsStreamConfig sc;
	natsStatus s = js_GetStreamInfo(&si, js, NENV_STREAM, NULL, NULL);

	if (s != NATS_OK)
		fail_msg("stream info: %s", natsStatus_GetText(s));
	sc = *si->Config;
	if (e->nsubjects > 0) {
		sc.Subjects = e->subjects;
		sc.SubjectsLen = e->nsubjects;
	}
	if (e->limit) {
		sc.MaxMsgs = e->max_msgs;
		sc.Discard = js_DiscardNew;
	}
	s = js_UpdateStream(NULL, js, &sc, NULL, NULL);
	jsStreamInfo_Destroy(si);
	if (s != NATS_OK)
		fail_msg("stream update: %s", natsStatus_GetText(s));
}

/*
 * Sets the stream's subjects to keep, plus subject if add: as another
 * busbridge's update, made from an older read, would leave them.
 */
static void set_subjects(jsCtx *js, const char *keep, const char *subject, bool add)
{
	struct stream_edit e = {.subjects = {keep, subject}, .nsubjects = add ? 2 : 1};

	update_stream(js, &e);
}

/*
 * The export route's subject taken off the stream again and again while
 * messages flow (a lost update between busbridges that share the
 * stream): each time its publishes find no stream, and it must put its
 * subject back and republish, losing and duplicating nothing, without
 * spinning, and still stop cleanly.
 */
static void subject_removed(void **state)
{
	struct nenv *n = *state;
	struct flow f = {.nprod = 2, .count = E2E_SCALE(6000, 1000), .rate = E2E_SCALE(1000, 200), .max_len = 100, .queue_a = "orders", .queue_b = "orders"};
	uint64_t total = (uint64_t)f.nprod * f.count;
	struct nenv_bridge *ex, *im;
	natsConnection *nc = NULL;
	struct flow_result r;
	pid_t prod[2], cons;
	int removals = 0;
	jsCtx *js;

	nenv_nats_start(n);
	nenv_flow_pair(n, &f, "bus.orders", 0, 0, &ex, &im);
	nenv_bridge_wait_up(n, ex, WAIT_MS);
	nenv_bridge_wait_up(n, im, WAIT_MS);
	js = js_open(n, &nc);
	set_subjects(js, "bus.other", "bus.orders", true);
	cons = nenv_flow_start(n, &f, prod);
	/* while the producers run: off every 300 ms, the bridges put it back */
	while (flow_committed(&f) < total) {
		e2e_sleep_ms(300);
		set_subjects(js, "bus.other", NULL, false);
		removals++;
	}
	js_close(js, nc);
	flow_wait_producers(n->a, &f, 0, prod);
	nenv_flow_wait(n, &f, E2E_SCALE(60000, 180000), "subject-removed", &r);
	fprintf(stderr, "subject-removed: %d removals, export reconnects %" PRIu64 "\n", removals,
	        nenv_stat(n, ex, 0, "reconnects"));
	flow_assert_exact(&r, total);
	/* backoff: far fewer reconnects than a tight loop would make */
	assert_true(nenv_stat(n, ex, 0, "reconnects") <= (uint64_t)removals * 10);
	nenv_stop_pair(n, ex, im, &f, cons);
	flow_free(&f);
}

/* The stream's message limit (-1: none), new messages refused beyond it. */
static void set_limit(jsCtx *js, int64_t max_msgs)
{
	struct stream_edit e = {.limit = true, .max_msgs = max_msgs};

	update_stream(js, &e);
}

/*
 * JetStream up but refusing every publish (the stream full, new messages
 * discarded): the export route must back off between its tries as it
 * does when NATS is away (100 ms doubling to 5 s), not reconnect in a
 * tight loop, and deliver everything once the stream takes messages again.
 * The bound asks only for the first step, 100 ms between tries (40 in
 * 4 s), with room for the doubling to be reset by each reconnection.
 */
static void publish_refused(void **state)
{
	struct nenv *n = *state;
	struct flow f = {.nprod = 1, .count = 200, .max_len = 100, .queue_a = "orders", .queue_b = "orders"};
	struct nenv_bridge *ex, *im;
	natsConnection *nc = NULL;
	struct flow_result r;
	uint64_t reconnects;
	pid_t cons;
	jsCtx *js;

	nenv_nats_start(n);
	nenv_flow_pair(n, &f, "bus.orders", 0, 0, &ex, &im);
	nenv_bridge_wait_up(n, ex, WAIT_MS);
	js = js_open(n, &nc);
	set_limit(js, 1);
	cons = flow_start_consumer(n->b, &f);
	assert_int_equal(e2e_wait(n->a, flow_start_producer(n->a, &f, 0), 60), 0);

	/* 4 s of refusals: at most 40 tries 100 ms apart */
	e2e_sleep_ms(4000);
	nenv_bridge_alive(n, ex);
	reconnects = nenv_stat(n, ex, 0, "reconnects");
	fprintf(stderr, "publish-refused: %" PRIu64 " reconnects, %d log lines in 4 s\n",
	        reconnects, nenv_bridge_log_count(ex, "event=", NULL));
	if (reconnects > 50)
		fail_msg("%" PRIu64 " reconnects in 4 s of refused publishes: no backoff",
		         reconnects);

	set_limit(js, -1);
	js_close(js, nc);
	nenv_flow_wait(n, &f, WAIT_MS, "publish-refused", &r);
	flow_assert_exact(&r, 200);
	nenv_stop_pair(n, ex, im, &f, cons);
	flow_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		NENV_TEST(export_headers),
		NENV_TEST(import_foreign),
		NENV_TEST(subject_removed),
		NENV_TEST(publish_refused),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	nats_Close();
	return rc;
}

#else

int main(void)
{
	fprintf(stderr, "skipped: libnats not found at build time (libnats-dev)\n");
	return HARNESS_SKIP;
}

#endif

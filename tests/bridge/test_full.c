/*
 * test_full.c - the import route's local queue is full for longer than
 * JetStream's AckWait.
 *
 * B's queue holds 4 KiB and its consumer starts only after STALL_MS, more
 * than the consumer's AckWait (30 s, the brief): the importer has fetched
 * a batch, sent what fits and waits on the full queue with the rest
 * fetched and unacked.  It must stop fetching (in flight stays within one
 * batch) and keep those messages its own (natsMsg_InProgress), so that
 * JetStream does not redeliver them when AckWait runs out.  Then the
 * consumer drains B slowly.  Everything arrives exactly once, and the
 * import route's redeliveries (deliveries with NumDelivered > 1) and
 * skipped (redeliveries of committed messages) are 0: the route never
 * reconnected, so each message was delivered to it once, and the
 * bound the design allows here is nothing.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "flow.h"
#include "natsenv.h"

#define NPROD    3
#define COUNT    E2E_SCALE(1000, 300) /* per producer */
#define CAP_B    4096
#define BATCH    256   /* busbridge's default --batch */
#define STALL_MS 33000 /* AckWait is 30 s */
#define WAIT_MS  E2E_SCALE(60000, 180000)

/* Samples the import route while B is full: within one batch, fetching stopped. */
static void watch_stall(struct nenv *n, struct nenv_bridge *im, const struct flow *f)
{
	uint64_t end = e2e_now_ms() + STALL_MS, first = 0, inflight = 0, messages;
	int samples = 0;

	while (e2e_now_ms() < end) {
		e2e_sleep_ms(2000);
		nenv_bridge_alive(n, im);
		inflight = nenv_stat(n, im, 0, "in_flight");
		/* the import route's lag: what waits in the stream for it */
		assert_true(nenv_stat(n, im, 0, "lag") > 0);
		messages = nenv_stat(n, im, 0, "messages");
		if (samples++ == 0)
			first = messages;
		if (inflight > BATCH)
			fail_msg("import in flight %" PRIu64 " > one batch (%d)", inflight, BATCH);
		/* nobody consumes on B: nothing more can be committed */
		assert_int_equal(messages, first);
	}
	assert_int_equal(atomic_load(&f->sh->received), 0);
	assert_true(first > 0);
	assert_true(first < (uint64_t)NPROD * COUNT);
	fprintf(stderr, "full: %" PRIu64 " messages in B's queue, %" PRIu64 " in flight, during the stall\n",
	        first, inflight);
}

static void full(void **state)
{
	struct nenv *n = *state;
	struct nenv_bridge *ex, *im;
	struct flow f = {.nprod = NPROD, .count = COUNT, .max_len = 200, .delay_us = 300, .queue_a = "orders", .queue_b = "orders"};
	uint64_t total = (uint64_t)NPROD * COUNT;
	struct flow_result r;
	pid_t prod[NPROD], cons;

	nenv_nats_start(n);
	nenv_flow_pair(n, &f, "bus.orders", 0, CAP_B, &ex, &im);
	flow_start_producers(n->a, &f, 0, prod);
	flow_wait_producers(n->a, &f, 0, prod);
	/* A's queue holds it all: the exporter publishes everything */
	assert_true(nenv_wait_stat(n, ex, 0, "messages", total, WAIT_MS));

	watch_stall(n, im, &f);
	cons = flow_start_consumer(n->b, &f);
	nenv_flow_wait(n, &f, WAIT_MS, "full", &r);
	flow_assert_exact(&r, total);
	assert_int_equal(nenv_stat(n, im, 0, "messages"), total);
	assert_int_equal(nenv_stat(n, im, 0, "redeliveries"), 0);
	assert_int_equal(nenv_stat(n, im, 0, "skipped"), 0);
	assert_int_equal(nenv_stat(n, im, 0, "errors"), 0);
	assert_int_equal(nenv_stat(n, im, 0, "reconnects"), 0);

	nenv_finish_pair(n, ex, im, &f, cons, total);
}

NENV_MAIN(full)

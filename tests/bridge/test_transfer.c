/*
 * test_transfer.c - host A's queue exported to JetStream, host B's queue
 * imported from the subject: the plain path, with nothing going wrong.
 *
 * Several producer processes send into A's queue; a consumer on B logs
 * what arrives.  Every message must arrive exactly once, in per-producer
 * order, with its type and payload intact; the bridges' figures must
 * agree with the traffic (messages, bytes, nothing in flight, no
 * duplicates, redeliveries or errors), the import route's state file
 * must hold the last stream sequence (the stream holds only this
 * subject, from 1), and both bridges must stop with exit 0 on SIGTERM
 * without anything more arriving after.
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

#define NPROD   4
#define COUNT   E2E_SCALE(15000, 1500) /* per producer */
#define WAIT_MS E2E_SCALE(60000, 180000)
#define STAT_MS 10000

/* The figures of a route that carried total messages of bytes, cleanly. */
static void check_route(struct nenv *n, struct nenv_bridge *br, uint64_t total,
                        uint64_t bytes)
{
	/* the exporter may still wait for the last acks B did not need */
	assert_true(nenv_wait_stat(n, br, 0, "in_flight", 0, STAT_MS));
	/* nothing waits: A's queue is empty, the stream has nothing pending */
	assert_true(nenv_wait_stat(n, br, 0, "lag", 0, STAT_MS));
	assert_int_equal(nenv_stat(n, br, 0, "messages"), total);
	assert_int_equal(nenv_stat(n, br, 0, "bytes"), bytes);
	assert_int_equal(nenv_stat(n, br, 0, "duplicates"), 0);
	assert_int_equal(nenv_stat(n, br, 0, "redeliveries"), 0);
	assert_int_equal(nenv_stat(n, br, 0, "skipped"), 0);
	assert_int_equal(nenv_stat(n, br, 0, "errors"), 0);
	assert_int_equal(nenv_stat(n, br, 0, "reconnects"), 0);
}

static void transfer(void **state)
{
	struct nenv *n = *state;
	struct nenv_bridge *ex, *im;
	struct flow f = {.nprod = NPROD, .count = COUNT, .max_len = 300, .queue_a = "orders", .queue_b = "orders_in"};
	uint64_t total = (uint64_t)NPROD * COUNT, t0 = e2e_now_ms(), seq = 0;
	struct flow_result r;
	pid_t prod[NPROD], cons;

	nenv_nats_start(n);
	nenv_flow_pair(n, &f, "bus.orders", 0, 0, &ex, &im);
	cons = nenv_flow_start(n, &f, prod);
	flow_wait_producers(n->a, &f, 0, prod);
	assert_int_equal(flow_committed(&f), total);

	nenv_flow_wait(n, &f, WAIT_MS, "transfer", &r);
	fprintf(stderr, "transfer: %" PRIu64 " messages in %.1f s\n", total,
	        (double)(e2e_now_ms() - t0) / 1000.0);
	flow_assert_exact(&r, total);

	check_route(n, ex, total, flow_bytes(&f));
	check_route(n, im, total, flow_bytes(&f));
	/* default durable: '_' doubled */
	assert_true(nenv_seq_read(im, "orders__in", &seq));
	assert_int_equal(seq, total);

	nenv_finish_pair(n, ex, im, &f, cons, total);
}

NENV_MAIN(transfer)

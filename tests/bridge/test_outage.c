/*
 * test_outage.c - NATS gone for 10 s in the middle of a run.
 *
 * Producers on A send at a steady rate for longer than the outage; once
 * messages flow to B, nats-server is SIGKILLed (no goodbye to anyone,
 * publishes and acks in flight lost with the connections) and started
 * again 10 s later on the same port and store.  Meanwhile the bridges
 * must stay up; A's queue takes up the slack.  At the end: nothing lost,
 * no duplicate at B, per-producer order, both routes count a reconnect
 * and log the outage (nats_down, then nats_up).
 */
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "flow.h"
#include "natsenv.h"

#define NPROD     3
#define RATE      E2E_SCALE(1500, 300) /* per producer per second */
#define SECONDS   16                   /* producers' run: outage 10 s */
#define OUTAGE_MS 10000
#define WAIT_MS   E2E_SCALE(60000, 180000)

/* Waits until the consumer on B has logged at least want messages. */
static void wait_logged(struct nenv *n, const struct flow *f, uint64_t want)
{
	uint64_t deadline = e2e_now_ms() + E2E_SCALE(20000, 60000);

	while (atomic_load(&f->sh->logged) < want) {
		if (e2e_now_ms() > deadline) {
			nenv_dump_logs(n);
			fail_msg("only %" PRIu64 " of %" PRIu64 " messages reached B",
			         atomic_load(&f->sh->logged), want);
		}
		e2e_sleep_ms(20);
	}
}

static void outage(void **state)
{
	struct nenv *n = *state;
	struct nenv_bridge *ex, *im;
	struct flow f = {.nprod = NPROD, .count = (uint64_t)RATE * SECONDS, .rate = RATE, .max_len = 200, .queue_a = "orders", .queue_b = "orders"};
	uint64_t total = (uint64_t)NPROD * RATE * SECONDS, at_kill;
	struct flow_result r;
	pid_t prod[NPROD], cons;

	nenv_nats_start(n);
	nenv_flow_pair(n, &f, "bus.orders", 0, 0, &ex, &im);
	cons = nenv_flow_start(n, &f, prod);

	wait_logged(n, &f, (uint64_t)RATE * NPROD);
	assert_int_equal(nenv_nats_stop(n, SIGKILL), 1000 + SIGKILL);
	at_kill = flow_committed(&f);
	e2e_sleep_ms(OUTAGE_MS);
	nenv_bridge_alive(n, ex);
	nenv_bridge_alive(n, im);
	nenv_nats_start(n);
	fprintf(stderr, "outage: %" PRIu64 " messages sent before the kill, %" PRIu64 " by the restart\n",
	        at_kill, flow_committed(&f));

	flow_wait_producers(n->a, &f, 0, prod);
	nenv_flow_wait(n, &f, WAIT_MS, "outage", &r);
	flow_assert_exact(&r, total);

	assert_true(nenv_stat(n, ex, 0, "reconnects") >= 1);
	assert_true(nenv_stat(n, im, 0, "reconnects") >= 1);
	assert_int_equal(nenv_stat(n, ex, 0, "messages"), total);
	assert_int_equal(nenv_stat(n, im, 0, "messages"), total);
	for (int i = 0; i < 2; i++) {
		struct nenv_bridge *br = i ? im : ex;

		assert_true(nenv_bridge_log_count(br, "event=nats_down", NULL) >= 1);
		assert_true(nenv_bridge_log_count(br, "event=nats_up", NULL) >= 1);
	}

	nenv_finish_pair(n, ex, im, &f, cons, total);
}

NENV_MAIN(outage)

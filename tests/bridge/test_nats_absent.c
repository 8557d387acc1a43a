/*
 * test_nats_absent.c - the bridges start before NATS does.
 *
 * Both bridges start with nothing listening at their NATS URL: they must
 * stay up and wait (not exit, not report their routes up).  Producers on
 * A send more than A's queue holds: they fill it and block, and nothing
 * reaches B.  Then nats-server starts: everything arrives, exactly once
 * and in order, and both bridges log that NATS came up.
 */
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
#include "natsenv.h"

#define NPROD   3
#define COUNT   E2E_SCALE(4000, 800) /* per producer: far more than A holds */
#define CAP_A   65536
#define WAIT_MS E2E_SCALE(60000, 180000)

/* Waits until a send on A's queue found it full: the producers block. */
static void wait_full(struct nenv *n, const char *queue)
{
	uint64_t deadline = e2e_now_ms() + E2E_SCALE(20000, 60000);
	bus *b = e2e_open(n->a);
	bus_stats st;

	for (;;) {
		assert_int_equal(bus_queue_stats(b, queue, &st), 0);
		if (st.full > 0)
			break;
		if (e2e_now_ms() > deadline)
			fail_msg("queue %s never filled: depth %" PRIu64 " bytes", queue,
			         st.depth_bytes);
		e2e_sleep_ms(20);
	}
	bus_close(b);
}

/* The bridge's route waits for NATS: not up. */
static void check_waiting(struct nenv *n, const struct nenv_bridge *br)
{
	char *json = nenv_stats_json(n, br);
	int st = nenv_route_state(json, 0);

	if (st != NENV_STATE_NATS)
		fail_msg("busbridge %s: route state %d, not waiting for NATS: %s", br->name,
		         st, json);
	free(json);
}

static void nats_absent(void **state)
{
	struct nenv *n = *state;
	struct nenv_bridge *ex, *im;
	struct flow f = {.nprod = NPROD, .count = COUNT, .max_len = 200, .queue_a = "orders", .queue_b = "orders"};
	uint64_t total = (uint64_t)NPROD * COUNT;
	struct flow_result r;
	pid_t prod[NPROD], cons;

	nenv_flow_pair(n, &f, "bus.orders", CAP_A, 0, &ex, &im);
	cons = nenv_flow_start(n, &f, prod);

	wait_full(n, f.queue_a);
	e2e_sleep_ms(1000);
	nenv_bridge_alive(n, ex);
	nenv_bridge_alive(n, im);
	assert_int_equal(atomic_load(&f.sh->received), 0);
	assert_true(flow_committed(&f) < total);
	check_waiting(n, ex);
	check_waiting(n, im);
	/* the export route's lag: what waits in A's queue */
	assert_true(nenv_stat(n, ex, 0, "lag") > 0);
	fprintf(stderr, "nats-absent: %" PRIu64 " of %" PRIu64 " sent before NATS\n",
	        flow_committed(&f), total);

	nenv_nats_start(n);
	flow_wait_producers(n->a, &f, 0, prod);
	nenv_flow_wait(n, &f, WAIT_MS, "nats-absent", &r);
	flow_assert_exact(&r, total);
	assert_true(nenv_bridge_log_count(ex, "event=nats_up", NULL) >= 1);
	assert_true(nenv_bridge_log_count(im, "event=nats_up", NULL) >= 1);

	nenv_finish_pair(n, ex, im, &f, cons, total);
}

NENV_MAIN(nats_absent)

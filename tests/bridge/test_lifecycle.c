/*
 * test_lifecycle.c - the local ends come and go; the bridges are stopped
 * and started again.
 *
 *  - queues_later: both bridges start before their queues exist: they
 *    wait (routes "waiting for busd or the queue"), then carry everything
 *    once the queues are created.
 *  - too_large: a message larger than B's queue's max_message stalls the
 *    import route (an error counted and logged once, nothing after it
 *    delivered, nothing dropped); deleting the queue and creating it
 *    larger lets the message and the rest through, each once.
 *  - queue_busy: A's queue has another consumer: the export route waits
 *    (an error logged) and takes over once that consumer leaves.
 *  - durable_without_state: the import route's state file is lost but
 *    its durable remains: a busbridge with a fresh state directory goes
 *    on from the durable's ack floor, delivering nothing twice.
 *  - six_routes: one busbridge with six export routes and one with six
 *    import routes start on a fresh stream, their routes racing to add
 *    their subjects to it; every message of every queue arrives once.
 *  - sigterm_restarts: during traffic each bridge is stopped with SIGTERM
 *    (exit 0) and started again, several times: a clean stop leaves no
 *    duplicate window, so B gets everything exactly once.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flow.h"
#include "natsenv.h"

#define WAIT_MS E2E_SCALE(30000, 120000)

/* Waits until route 0 of br is in state want (NENV_STATE_*). */
static void wait_state(struct nenv *n, const struct nenv_bridge *br, int want)
{
	uint64_t deadline = e2e_now_ms() + WAIT_MS;

	nenv_bridge_wait_stats(n, br, WAIT_MS);
	for (;;) {
		char *json = nenv_stats_json(n, br);
		int st = nenv_route_state(json, 0);

		if (st == want) {
			free(json);
			return;
		}
		if (e2e_now_ms() > deadline) {
			nenv_dump_logs(n);
			fail_msg("busbridge %s: route state %d, not %d: %s", br->name, st, want,
			         json);
		}
		free(json);
		e2e_sleep_ms(100);
	}
}

/*
 * Runs producers first..nprod-1 of f, count messages each, to the end:
 * exactly once (and nothing of the others).
 */
static void run_flow_from(struct nenv *n, struct flow *f, int first, const char *what)
{
	uint64_t total = (uint64_t)(f->nprod - first) * f->count;
	struct flow_result r;
	pid_t prod[FLOW_MAX_PROD], cons;

	cons = flow_start_consumer(n->b, f);
	flow_start_producers(n->a, f, first, prod);
	flow_wait_producers(n->a, f, first, prod);
	nenv_flow_wait(n, f, WAIT_MS, what, &r);
	flow_stop_consumer(n->b, f, cons);
	flow_check(f, &r);
	assert_int_equal(r.missing, 0);
	assert_int_equal(r.distinct, total);
	assert_int_equal(r.records, total);
}

static void run_flow(struct nenv *n, struct flow *f, const char *what)
{
	run_flow_from(n, f, 0, what);
}

/* Maps f, runs it to the end (run_flow), stops both bridges (exit 0). */
static void run_flow_stop(struct nenv *n, struct flow *f, const char *what,
                          struct nenv_bridge *ex, struct nenv_bridge *im)
{
	nenv_flow_init(n, f);
	run_flow(n, f, what);
	assert_int_equal(nenv_bridge_stop(n, ex), 0);
	assert_int_equal(nenv_bridge_stop(n, im), 0);
	flow_free(f);
}

static void queues_later(void **state)
{
	struct nenv *n = *state;
	struct flow f = {.nprod = 2, .count = E2E_SCALE(2000, 300), .max_len = 200, .queue_a = "later", .queue_b = "later_b"};
	struct nenv_bridge *ex, *im;

	nenv_nats_start(n);
	ex = nenv_bridge_new(n, n->a, "export", "--export", "later:bus.later", NULL);
	im = nenv_bridge_new(n, n->b, "import", "--import", "bus.later:later_b", NULL);
	nenv_bridge_start(n, ex);
	nenv_bridge_start(n, im);
	wait_state(n, ex, NENV_STATE_LOCAL);
	wait_state(n, im, NENV_STATE_LOCAL);

	nenv_queue(n->a, "later", 0);
	nenv_queue(n->b, "later_b", 0);
	nenv_bridge_wait_up(n, ex, WAIT_MS);
	nenv_bridge_wait_up(n, im, WAIT_MS);
	run_flow_stop(n, &f, "queues-later", ex, im);
}

/* --- too_large: raw messages, one of them too large for B --- */

#define SMALL  20
#define BIG    3000
#define MAXMSG 1024

static void send_text(bus_producer *p, int i)
{
	char buf[BIG];
	size_t len = (size_t)snprintf(buf, sizeof(buf), "m%d", i);

	if (i == SMALL) {
		memset(buf + len, 'x', BIG - len); /* the big one: "m20xxx..." */
		len = BIG;
	}
	assert_int_equal(bus_send(p, 7, buf, len, 5000), 0);
}

/* Receives message i (its text, or the big one) on c within the deadline. */
static void expect(const struct nenv *n, bus_consumer *c, int i)
{
	char want[16];
	bus_msg m;

	nenv_recv(n, c, &m, WAIT_MS, "too-large", (size_t)i);
	snprintf(want, sizeof(want), "m%d", i);
	assert_int_equal(m.type, 7);
	assert_true(m.len >= strlen(want));
	assert_memory_equal(m.data, want, strlen(want));
	assert_int_equal(m.len, i == SMALL ? BIG : strlen(want));
	assert_int_equal(m.flags, 0);
	bus_release(c);
}

/* Creates B's queue with max_message bytes; returns its consumer. */
static bus_consumer *make_b(struct nenv *n, uint32_t max_message)
{
	bus_queue_opts qo = {.max_message = max_message};
	bus *b = e2e_open(n->b);

	assert_int_equal(bus_queue_create(b, "small", &qo, NULL), 0);
	bus_close(b);
	return nenv_consumer(n->b, "small");
}

static void too_large(void **state)
{
	struct nenv *n = *state;
	struct nenv_bridge *ex, *im;
	bus_producer *p;
	bus_consumer *c;
	bus_msg m;
	bus *b;

	nenv_nats_start(n);
	nenv_queue(n->a, "src", 0);
	c = make_b(n, MAXMSG);
	ex = nenv_bridge_new(n, n->a, "export", "--export", "src:bus.src", NULL);
	im = nenv_bridge_new(n, n->b, "import", "--import", "bus.src:small", NULL);
	nenv_bridge_start(n, ex);
	nenv_bridge_start(n, im);
	b = e2e_open(n->a);
	assert_int_equal(bus_producer_open(b, "src", &p), 0);
	bus_close(b);
	for (int i = 0; i <= 2 * SMALL; i++)
		send_text(p, i);
	bus_producer_close(p);

	/* everything before the big one, then nothing: the route waits */
	for (int i = 0; i < SMALL; i++)
		expect(n, c, i);
	assert_true(nenv_wait_stat(n, im, 0, "errors", 1, WAIT_MS));
	assert_int_equal(bus_recv(c, &m, 2000), -ETIMEDOUT);
	assert_int_equal(nenv_stat(n, im, 0, "errors"), 1);
	assert_int_equal(nenv_bridge_log_count(im, "event=message_too_large", NULL), 1);
	nenv_bridge_alive(n, im);

	/* the operator's fix: the queue again, larger */
	b = e2e_open(n->b);
	assert_int_equal(bus_queue_delete(b, "small"), 0);
	bus_close(b);
	assert_int_equal(bus_recv(c, &m, 1000), -EPIPE);
	bus_consumer_close(c);
	c = make_b(n, 2 * BIG);
	for (int i = SMALL; i <= 2 * SMALL; i++)
		expect(n, c, i);
	assert_int_equal(bus_recv(c, &m, 1000), -ETIMEDOUT);
	bus_consumer_close(c);
	assert_int_equal(nenv_stat(n, im, 0, "messages"), 2 * SMALL + 1);
	assert_int_equal(nenv_bridge_stop(n, ex), 0);
	assert_int_equal(nenv_bridge_stop(n, im), 0);
}

/* --- queue_busy: A's queue has a consumer already --- */

static void queue_busy(void **state)
{
	struct nenv *n = *state;
	struct flow f = {.nprod = 2, .count = E2E_SCALE(1000, 200), .max_len = 200, .queue_a = "busy", .queue_b = "busy"};
	struct nenv_bridge *ex, *im;
	bus_consumer *other;
	bus *b;

	nenv_nats_start(n);
	nenv_pair(n, "busy", "bus.busy", "busy", 0, 0, &ex, &im);
	b = e2e_open(n->a);
	assert_int_equal(bus_consumer_open(b, "busy", &other), 0);
	bus_close(b);
	nenv_bridge_start(n, ex);
	nenv_bridge_start(n, im);
	/* the queue's one consumer is someone else: the route waits, saying so */
	wait_state(n, ex, NENV_STATE_LOCAL);
	e2e_sleep_ms(1000);
	nenv_bridge_alive(n, ex);
	assert_true(nenv_bridge_log_count(ex, "level=error", NULL) >= 1);

	bus_consumer_close(other);
	nenv_bridge_wait_up(n, ex, WAIT_MS);
	run_flow_stop(n, &f, "queue-busy", ex, im);
}

/*
 * The import route's state file lost (a new host, a wiped disk) while its
 * durable consumer remains: the new busbridge starts from the durable's
 * ack floor, not from the stream's start, so B gets nothing twice.
 */
static void durable_without_state(void **state)
{
	struct nenv *n = *state;
	/* producers 0 and 1 before the loss, 2 and 3 after, each to its own log */
	struct flow f = {.nprod = 4, .count = E2E_SCALE(2000, 300), .max_len = 200, .queue_a = "orders", .queue_b = "orders"};
	struct flow g;
	struct nenv_bridge *ex, *im, *im2;
	char fresh[400];

	nenv_nats_start(n);
	g = f;
	nenv_flow_pair(n, &f, "bus.orders", 0, 0, &ex, &im);
	f.nprod = 2;
	run_flow(n, &f, "before the loss");
	assert_int_equal(nenv_bridge_stop(n, im), 0);

	/* the same durable from a state directory that has never seen it */
	snprintf(fresh, sizeof(fresh), "%s/state-fresh", n->dir);
	im2 = nenv_bridge_new(n, n->b, "import-fresh", "--import", "bus.orders:orders", NULL);
	nenv_bridge_set_state_dir(im2, fresh);
	nenv_bridge_start(n, im2);
	nenv_bridge_wait_up(n, im2, WAIT_MS);
	nenv_flow_init(n, &g);
	snprintf(g.log_path, sizeof(g.log_path), "%s/after.log", n->dir);
	run_flow_from(n, &g, 2, "after the loss");
	assert_int_equal(nenv_stat(n, im2, 0, "messages"), 2 * g.count);
	assert_int_equal(nenv_bridge_stop(n, ex), 0);
	assert_int_equal(nenv_bridge_stop(n, im2), 0);
	flow_free(&f);
	flow_free(&g);
}

/*
 * One busbridge on A with six export routes, one on B with six import
 * routes, on a fresh stream: the routes (threads) each add their subject
 * to the one stream at the same time (read, add, update: they race), and
 * every message of every queue must arrive once all the same.
 */
#define NSUBJ   6
#define PERQ    100
#define RECV_MS E2E_SCALE(15000, 30000) /* they come within a second */

/*
 * PERQ messages "qN-I" into each queue, round robin, 1 ms apart: they
 * arrive while the routes start and update the stream.
 */
static void send_texts(const struct e2e *h, char names[][16], int nq)
{
	bus_producer *p[NSUBJ];
	bus *b = e2e_open(h);

	for (int q = 0; q < nq; q++)
		assert_int_equal(bus_producer_open(b, names[q], &p[q]), 0);
	bus_close(b);
	for (int i = 0; i < PERQ; i++) {
		for (int q = 0; q < nq; q++) {
			char text[32];
			int len = snprintf(text, sizeof(text), "%s-%d", names[q], i);

			assert_int_equal(bus_send(p[q], 1, text, (size_t)len, 5000), 0);
		}
		e2e_sleep_ms(1);
	}
	for (int q = 0; q < nq; q++)
		bus_producer_close(p[q]);
}

static void receive_texts(struct nenv *n, const struct e2e *h, const char *queue)
{
	bus_consumer *c = nenv_consumer(h, queue);
	bus_msg m;

	for (int i = 0; i < PERQ; i++) {
		char text[32];
		int len = snprintf(text, sizeof(text), "%s-%d", queue, i);

		nenv_recv(n, c, &m, RECV_MS, queue, (size_t)i);
		assert_int_equal(m.len, (size_t)len);
		assert_memory_equal(m.data, text, (size_t)len);
		bus_release(c);
	}
	assert_int_equal(bus_recv(c, &m, 300), -ETIMEDOUT);
	bus_consumer_close(c);
}

static void six_routes(void **state)
{
	struct nenv *n = *state;
	struct nenv_bridge *ex, *im;
	char *exargs[2 * NSUBJ] = {0}, *imargs[2 * NSUBJ] = {0};
	char names[NSUBJ][16], exr[NSUBJ][64], imr[NSUBJ][64];

	nenv_nats_start(n);
	for (int i = 0; i < NSUBJ; i++) {
		snprintf(names[i], sizeof(names[i]), "q%d", i);
		nenv_queue(n->a, names[i], 0);
		nenv_queue(n->b, names[i], 0);
		snprintf(exr[i], sizeof(exr[i]), "%s:bus.%s", names[i], names[i]);
		snprintf(imr[i], sizeof(imr[i]), "bus.%s:%s", names[i], names[i]);
		exargs[2 * i] = "--export";
		exargs[2 * i + 1] = exr[i];
		imargs[2 * i] = "--import";
		imargs[2 * i + 1] = imr[i];
	}
	ex = nenv_bridge_new(n, n->a, "export", exargs[0], exargs[1], exargs[2], exargs[3],
	                     exargs[4], exargs[5], exargs[6], exargs[7], exargs[8], exargs[9],
	                     exargs[10], exargs[11], NULL);
	im = nenv_bridge_new(n, n->b, "import", imargs[0], imargs[1], imargs[2], imargs[3],
	                     imargs[4], imargs[5], imargs[6], imargs[7], imargs[8], imargs[9],
	                     imargs[10], imargs[11], NULL);
	nenv_bridge_start(n, ex);
	nenv_bridge_start(n, im);
	send_texts(n->a, names, NSUBJ);
	for (int i = 0; i < NSUBJ; i++)
		receive_texts(n, n->b, names[i]);
	for (int i = 0; i < NSUBJ; i++) {
		assert_int_equal(nenv_stat(n, ex, i, "messages"), PERQ);
		assert_int_equal(nenv_stat(n, im, i, "messages"), PERQ);
	}
	assert_int_equal(nenv_bridge_stop(n, ex), 0);
	assert_int_equal(nenv_bridge_stop(n, im), 0);
}

/* --- sigterm_restarts --- */

static void restart(struct nenv *n, struct nenv_bridge *br)
{
	nenv_bridge_alive(n, br);
	assert_int_equal(nenv_bridge_stop(n, br), 0);
	e2e_sleep_ms(200);
	nenv_bridge_start(n, br);
}

static void sigterm_restarts(void **state)
{
	struct nenv *n = *state;
	struct flow f = {.nprod = 3, .count = E2E_SCALE(8000, 1000), .rate = E2E_SCALE(1000, 150), .max_len = 200, .queue_a = "orders", .queue_b = "orders"};
	uint64_t total = (uint64_t)f.nprod * f.count;
	struct nenv_bridge *ex, *im;
	struct flow_result r;
	pid_t prod[3], cons;

	nenv_nats_start(n);
	nenv_flow_pair(n, &f, "bus.orders", 0, 0, &ex, &im);
	cons = nenv_flow_start(n, &f, prod);
	/* stops spread over the producers' run (8 s) */
	for (int i = 0; i < 6; i++) {
		e2e_sleep_ms(1000);
		restart(n, i % 3 == 1 ? im : ex);
		if (i % 3 == 2)
			restart(n, im);
	}
	flow_wait_producers(n->a, &f, 0, prod);
	if (!flow_wait_all(&f, WAIT_MS, &r))
		nenv_dump_logs(n);
	nenv_stop_pair(n, ex, im, &f, cons);
	flow_check(&f, &r);
	flow_print("sigterm-restarts", &r);
	flow_assert_exact(&r, total);
	assert_int_equal(r.records, total);
	flow_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		NENV_TEST(queues_later),
		NENV_TEST(too_large),
		NENV_TEST(queue_busy),
		NENV_TEST(durable_without_state),
		NENV_TEST(six_routes),
		NENV_TEST(sigterm_restarts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

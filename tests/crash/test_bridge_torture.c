/*
 * test_bridge_torture.c - busbridge under load while its parts are
 * SIGKILLed at random instants: the exporting busbridge (host A), the
 * importing busbridge (host B), nats-server (restarted on the same port
 * and store) and host B's consumer, each KILLS times, in a random order
 * at random times (the tests/bridge harness: two busd, a real JetStream).
 *
 * Producers on A send continuously at a steady rate; B's consumer logs
 * every message to a file before it releases it.  After the last kill the
 * producers stop, everything drains, and the log must show:
 *
 *  - every message committed on A, in per-producer order, intact;
 *  - copies flagged BUS_MSG_REDELIVERED are bus's own at-least-once to a
 *    consumer that died before its release: counted, not faults;
 *  - duplicates not flagged: at most one per importer kill, the window
 *    the design documents (killed between bus_send's commit and the store
 *    of the stream sequence); exporter and nats-server kills make none
 *    (JetStream's duplicate window drops the republished copies, and the
 *    importer skips stream sequences it committed).
 *
 * BUS_TORTURE_SEED=N replays a run's random choices (the seed is printed).
 */
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "flow.h"
#include "natsenv.h"

#define NPROD   3
#define RATE    E2E_SCALE(2000, 300) /* per producer per second */
#define KILLS   3                    /* of each kind */
#define RUN_MS  E2E_SCALE(45000, 60000)
#define WAIT_MS E2E_SCALE(120000, 300000)

enum victim {
	V_EXPORTER,
	V_IMPORTER,
	V_NATS,
	V_CONSUMER,
	V_KINDS
};

static const char *const victim_name[V_KINDS] = {"exporter", "importer", "nats-server",
                                                 "consumer"};

struct event {
	uint64_t at_ms; /* after the start */
	enum victim v;
};

struct torture {
	struct nenv *n;
	struct nenv_bridge *ex, *im;
	struct flow f;
	pid_t cons;
	unsigned rs;
	int kills[V_KINDS];
};

static int by_time(const void *a, const void *b)
{
	const struct event *x = a, *y = b;

	return (x->at_ms > y->at_ms) - (x->at_ms < y->at_ms);
}

/* KILLS of each kind at random instants in [2 s, RUN_MS - 3 s]. */
static void schedule(struct event *ev, unsigned *rs)
{
	for (int i = 0; i < V_KINDS * KILLS; i++)
		ev[i] = (struct event){
			.at_ms = 2000 + (uint64_t)rand_r(rs) % (RUN_MS - 5000),
			.v = (enum victim)(i % V_KINDS),
		};
	qsort(ev, V_KINDS * KILLS, sizeof(*ev), by_time);
}

/* A pause of lo..hi ms before the victim comes back. */
static void pause_ms(struct torture *t, unsigned lo, unsigned hi)
{
	e2e_sleep_ms(lo + (unsigned)rand_r(&t->rs) % (hi - lo + 1));
}

static void kill_one(struct torture *t, enum victim v)
{
	struct nenv *n = t->n;

	switch (v) {
	case V_EXPORTER:
	case V_IMPORTER: {
		struct nenv_bridge *br = v == V_EXPORTER ? t->ex : t->im;

		nenv_bridge_alive(n, br);
		nenv_bridge_kill(n, br);
		pause_ms(t, 0, 500);
		nenv_bridge_start(n, br);
		break;
	}
	case V_NATS:
		assert_int_equal(nenv_nats_stop(n, SIGKILL), 1000 + SIGKILL);
		pause_ms(t, 500, 3000);
		nenv_nats_start(n);
		break;
	case V_CONSUMER:
		kill(t->cons, SIGKILL);
		assert_int_equal(e2e_wait(n->b, t->cons, 10), 1000 + SIGKILL);
		pause_ms(t, 0, 200);
		t->cons = flow_start_consumer(n->b, &t->f);
		break;
	default:
		fail_msg("no victim %d", (int)v);
	}
	t->kills[v]++;
}

static void run_schedule(struct torture *t, const struct event *ev, uint64_t t0)
{
	for (int i = 0; i < V_KINDS * KILLS; i++) {
		uint64_t now = e2e_now_ms() - t0;

		if (ev[i].at_ms > now)
			e2e_sleep_ms((unsigned)(ev[i].at_ms - now));
		kill_one(t, ev[i].v);
		fprintf(stderr, "bridge-torture: %5.1f s: %s killed (%" PRIu64 " sent, %" PRIu64 " logged)\n",
		        (double)(e2e_now_ms() - t0) / 1000.0, victim_name[ev[i].v],
		        flow_committed(&t->f), atomic_load(&t->f.sh->logged));
	}
	{
		uint64_t now = e2e_now_ms() - t0;

		if (now < RUN_MS)
			e2e_sleep_ms((unsigned)(RUN_MS - now));
	}
}

static unsigned pick_seed(void)
{
	const char *env = getenv("BUS_TORTURE_SEED");

	return env && *env ? (unsigned)strtoul(env, NULL, 0)
	                   : (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
}

static void bridge_torture(void **state)
{
	static struct torture t;
	struct nenv *n = *state;
	struct event ev[V_KINDS * KILLS];
	struct flow_result r;
	pid_t prod[NPROD];
	uint64_t t0 = e2e_now_ms();
	unsigned seed = pick_seed();

	fprintf(stderr, "bridge-torture: seed %u (BUS_TORTURE_SEED=%u to replay)\n", seed, seed);
	t = (struct torture){.n = n, .rs = seed};
	/*
	 * The consumer pauses while it holds each batch, so that a kill
	 * often finds it holding messages: bus redelivers those, flagged.
	 */
	t.f = (struct flow){.nprod = NPROD, .rate = RATE, .max_len = 300, .hold_ms = 2, .queue_a = "orders", .queue_b = "orders", .deadline_s = E2E_SCALE(300, 900)};
	schedule(ev, &t.rs);

	nenv_nats_start(n);
	nenv_flow_pair(n, &t.f, "bus.orders", 0, 0, &t.ex, &t.im);
	t.cons = nenv_flow_start(n, &t.f, prod);

	run_schedule(&t, ev, t0);
	atomic_store(&t.f.sh->stop_producers, 1);
	flow_wait_producers(n->a, &t.f, 0, prod);
	if (!flow_wait_all(&t.f, WAIT_MS, &r))
		nenv_dump_logs(n);
	/* clean stops; nothing more may arrive after */
	assert_int_equal(nenv_bridge_stop(n, t.ex), 0);
	assert_int_equal(nenv_bridge_stop(n, t.im), 0);
	e2e_sleep_ms(200);
	flow_stop_consumer(n->b, &t.f, t.cons);
	flow_check(&t.f, &r);

	flow_print("bridge-torture", &r);
	fprintf(stderr,
	        "bridge-torture: kills: exporter %d, importer %d, nats-server %d, consumer %d; "
	        "%" PRIu64 " messages committed on A; duplicates not flagged %" PRIu64
	        " (at most %d), flagged redelivered copies %" PRIu64 "; %.1f s\n",
	        t.kills[V_EXPORTER], t.kills[V_IMPORTER], t.kills[V_NATS], t.kills[V_CONSUMER],
	        flow_committed(&t.f), r.dups, t.kills[V_IMPORTER], r.redelivered_copies,
	        (double)(e2e_now_ms() - t0) / 1000.0);
	assert_int_equal(r.bad, 0);
	assert_int_equal(r.gaps, 0);
	assert_int_equal(r.missing, 0);
	assert_int_equal(r.extra, 0);
	assert_int_equal(r.distinct, flow_committed(&t.f));
	assert_true(r.dups <= (uint64_t)t.kills[V_IMPORTER]);
	for (int v = 0; v < V_KINDS; v++)
		assert_int_equal(t.kills[v], KILLS);
	/* the kills happened under load, not after it */
	assert_true(r.distinct > (uint64_t)RATE * NPROD * (RUN_MS / 1000) / 2);
	flow_free(&t.f);
}

NENV_MAIN(bridge_torture)

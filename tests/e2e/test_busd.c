/*
 * test_busd.c - busd's life and death, seen by its clients.
 *
 *  - kill9_under_load: busd is killed with SIGKILL while two producers
 *    and a consumer are moving messages.  They keep going while it is
 *    down (busd is not on the data path); `buscli stats` reads the
 *    segment directly and says so; busd started again adopts the queue
 *    (same UUID in `buscli list`), and the counters carry on.  The
 *    consumer checks that every message arrived exactly once, in
 *    per-producer order.
 *  - restart_keeps_contents: SIGTERM (busd exits 0), start again: the
 *    messages queued before are still there.
 *  - second_busd_refused: a second busd on the same socket exits non-zero
 *    with one clear line, and the first keeps serving on the same socket.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "harness.h"

#define NPROD      2
#define PART_AB    E2E_SCALE(6000, 1500) /* per producer, before the restart */
#define PART_C     E2E_SCALE(2000, 500)  /* per producer, after it */
#define TOTAL      ((uint64_t)NPROD * (PART_AB + PART_C))
#define DEADLINE_S E2E_SCALE(120, 300)

/* Shared between the test and its children (MAP_SHARED | MAP_ANONYMOUS). */
struct shared {
	_Atomic uint64_t sent;     /* by every producer */
	_Atomic uint64_t received; /* by the consumer */
	_Atomic int phase;         /* 1: busd was killed; 2: it is back */
};

struct child_arg {
	struct shared *sh;
	const char *socket;
	int index;
};

/*
 * Sends "p<k> <i>", paced: part A (busd is killed during it), part B
 * (only once busd is dead), part C (once busd is back).
 * Opens alike to the other children on purpose: each exit code names its step.
 */
static int producer(void *argp)
{
	struct child_arg *a = argp;
	bus_producer *p;
	char msg[64];
	bus *b;

	if (bus_open(a->socket, &b) < 0)
		return 10;
	if (bus_producer_open(b, "survive", &p) < 0)
		return 11;
	bus_close(b);
	for (int i = 0; i < PART_AB + PART_C; i++) {
		int n = snprintf(msg, sizeof(msg), "p%d %d", a->index, i);

		/* half-way: wait for busd's death; at the end of B, for its return */
		if (i == PART_AB / 2 || i == PART_AB) {
			uint64_t deadline = e2e_now_ms() + DEADLINE_S * 1000u;
			int want = i == PART_AB ? 2 : 1;

			while (atomic_load(&a->sh->phase) < want && e2e_now_ms() < deadline)
				e2e_sleep_ms(5);
		}
		if (bus_send(p, 0, msg, (size_t)n, -1) < 0)
			return 12;
		atomic_fetch_add(&a->sh->sent, 1);
		if (i % 10 == 9)
			e2e_sleep_ms(1);
	}
	bus_producer_close(p);
	return 0;
}

/* Opens like the producer on purpose: each exit code names its step. */
/* Receives everything, checking order and uniqueness per producer. */
static int consumer(void *argp)
{
	struct child_arg *a = argp;
	uint64_t deadline = e2e_now_ms() + DEADLINE_S * 1000u;
	int next[NPROD] = {0};
	bus_consumer *c;
	bus *b;

	if (bus_open(a->socket, &b) < 0)
		return 20;
	if (bus_consumer_open(b, "survive", &c) < 0)
		return 21;
	bus_close(b);
	while (atomic_load(&a->sh->received) < TOTAL) {
		char text[64];
		bus_msg m;
		int k, i, rc = bus_recv(c, &m, 500);

		if (rc == -ETIMEDOUT && e2e_now_ms() < deadline)
			continue;
		if (rc < 0)
			return 22;
		if (m.len >= sizeof(text))
			return 23;
		memcpy(text, m.data, m.len);
		text[m.len] = '\0';
		if (!e2e_parse_pmsg(text, NPROD, &k, &i))
			return 23;
		if (i != next[k]) {
			fprintf(stderr, "consumer: p%d sent %d, expected %d\n", k, i, next[k]);
			return 24;
		}
		next[k]++;
		bus_release(c);
		atomic_fetch_add(&a->sh->received, 1);
	}
	{
		bus_msg m;

		if (bus_recv(c, &m, 200) != -ETIMEDOUT)
			return 25; /* something extra */
	}
	bus_consumer_close(c);
	return 0;
}

static uint64_t json_field(const char *json, const char *key)
{
	uint64_t v = UINT64_MAX;

	if (!e2e_json_u64(json, key, &v))
		fail_msg("no field \"%s\" in %s", key, json);
	return v;
}

/* Waits until *v reaches want; returns its value. */
static uint64_t wait_for(_Atomic uint64_t *v, uint64_t want, int timeout_s)
{
	uint64_t deadline = e2e_now_ms() + (uint64_t)timeout_s * 1000u;

	while (atomic_load(v) < want && e2e_now_ms() < deadline)
		e2e_sleep_ms(2);
	return atomic_load(v);
}

static void kill9_under_load(void **state)
{
	struct e2e *e = *state;
	struct shared *sh;
	struct child_arg args[NPROD + 1];
	pid_t pids[NPROD + 1];
	char uuid[40], uuid2[40];
	uint64_t sent_at_kill, enq;
	struct e2e_run r;
	bus_stats st;
	bus *b;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	          -1, 0);
	assert_true(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	e2e_create(e, "survive", "16K");
	e2e_cli(e, &r, NULL, 0, 30, "list", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_true(e2e_json_str(r.out, "uuid", uuid, sizeof(uuid)));
	e2e_run_free(&r);

	for (int k = 0; k <= NPROD; k++) {
		args[k] = (struct child_arg){.sh = sh, .socket = e->socket, .index = k};
		pids[k] = e2e_fork(e, k < NPROD ? producer : consumer, &args[k]);
	}
	/* under load: some traffic has flowed, most has not */
	assert_true(wait_for(&sh->received, NPROD * PART_AB / 10, DEADLINE_S) >=
	            NPROD * PART_AB / 10);
	e2e_busd_kill(e);
	sent_at_kill = atomic_load(&sh->sent);
	atomic_store(&sh->phase, 1);
	fprintf(stderr, "busd killed after %" PRIu64 " messages sent\n", sent_at_kill);

	/* busd is down: producers and the consumer carry on */
	assert_int_equal(wait_for(&sh->received, NPROD * PART_AB, DEADLINE_S),
	                 NPROD * PART_AB);
	assert_true(atomic_load(&sh->sent) > sent_at_kill);

	/* stats stay readable, straight from the segment */
	e2e_cli(e, &r, NULL, 0, 30, "stats", "survive", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.err, "busd not reachable"));
	assert_int_equal(e2e_count_lines(r.err, r.err_len), 1);
	assert_non_null(strstr(r.out, "\"source\":\"segments\""));
	assert_int_equal(json_field(r.out, "enqueued"), NPROD * PART_AB);
	assert_int_equal(json_field(r.out, "dequeued"), NPROD * PART_AB);
	assert_int_equal(json_field(r.out, "producers"), NPROD);
	assert_int_equal(json_field(r.out, "consumer_pid"), (uint64_t)pids[NPROD]);
	assert_true(e2e_json_str(r.out, "uuid", uuid2, sizeof(uuid2)));
	assert_string_equal(uuid, uuid2);
	e2e_run_free(&r);
	e2e_cli(e, &r, NULL, 0, 30, "stats", NULL); /* every queue, as a table */
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "queue survive"));
	e2e_run_free(&r);
	/* what needs busd says clearly that it is not there */
	e2e_cli(e, &r, NULL, 0, 30, "list", NULL);
	e2e_expect_error(&r, 1, "busd not reachable");

	/* busd again: it adopts the queue, same UUID, counters intact */
	e2e_busd_start(e);
	e2e_cli(e, &r, NULL, 0, 30, "list", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_true(e2e_json_str(r.out, "uuid", uuid2, sizeof(uuid2)));
	assert_string_equal(uuid, uuid2);
	assert_non_null(strstr(r.out, "\"name\":\"survive\""));
	e2e_run_free(&r);
	b = e2e_open(e);
	assert_int_equal(bus_queue_stats(b, "survive", &st), 0);
	assert_int_equal(st.enqueued, NPROD * PART_AB);
	assert_int_equal(st.producers, NPROD);

	atomic_store(&sh->phase, 2);
	for (int k = 0; k <= NPROD; k++) {
		int s = e2e_wait(e, pids[k], DEADLINE_S);

		if (s != 0)
			fprintf(stderr, "%s %d: status %d\n", k < NPROD ? "producer" : "consumer",
			        k, s);
		assert_int_equal(s, 0);
	}
	assert_int_equal(atomic_load(&sh->received), TOTAL);
	assert_int_equal(bus_queue_stats(b, "survive", &st), 0);
	enq = st.enqueued;
	assert_int_equal(enq, TOTAL);
	assert_int_equal(st.dequeued, TOTAL);
	assert_int_equal(st.depth_msgs, 0);
	assert_int_equal(st.producers, 0);
	assert_int_equal(st.consumer_pid, 0);
	assert_int_equal(bus_queue_delete(b, "survive"), 0);
	bus_close(b);
	assert_int_equal(e2e_shm_count(e, "survive"), 0);
	munmap(sh, sizeof(*sh));
}

static void restart_keeps_contents(void **state)
{
	struct e2e *e = *state;
	struct e2e_run r;

	e2e_create(e, "kept", NULL);
	e2e_cli(e, &r, "one\ntwo\nthree\n", 14, 30, "publish", "kept", NULL);
	assert_int_equal(r.status, 0);
	e2e_run_free(&r);
	assert_int_equal(e2e_busd_stop(e), 0); /* SIGTERM: a clean exit */
	e2e_busd_start(e);
	e2e_cli_ok(e, "one\ntwo\nthree\n", "recv", "kept", "--count", "3", "--timeout", "5000", NULL);
	e2e_cli_ok(e, NULL, "delete", "kept", NULL);
}

static void second_busd_refused(void **state)
{
	struct e2e *e = *state;
	char log2[320], text[4096] = "";
	struct stat before, after;
	struct e2e_run r;
	size_t n = 0;
	FILE *f;
	pid_t pid;
	int st;

	assert_int_equal(stat(e->socket, &before), 0);
	snprintf(log2, sizeof(log2), "%s/busd2.log", e->dir);
	pid = e2e_busd_spawn(e, log2);
	st = e2e_wait(e, pid, 30);
	assert_true(st > 0 && st < 256); /* exited by itself, non-zero */
	f = fopen(log2, "r");
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	fprintf(stderr, "second busd said: %s", text);
	assert_true(n > 0);
	assert_non_null(strstr(text, e->socket)); /* names the socket */

	/* the first one serves on, on the same socket file */
	assert_int_equal(stat(e->socket, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	e2e_create(e, "still", NULL);
	e2e_cli(e, &r, NULL, 0, 30, "list", NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "still"));
	e2e_run_free(&r);
	e2e_cli_ok(e, NULL, "delete", "still", NULL);
}

E2E_MAIN("e2e busd",
         E2E_TEST(kill9_under_load),
         E2E_TEST(restart_keeps_contents),
         E2E_TEST(second_busd_refused))

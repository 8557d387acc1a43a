/*
 * test_traffic.c - messages through a real busd, between real processes.
 *
 *  - mixed_publishers: two `buscli publish` processes fed numbered lines
 *    through stdin pipes and two C producers (bus_producer_open) send into
 *    one small queue at once; one C consumer checks that every message
 *    arrives exactly once and in per-producer order (by the numbering in
 *    the text for buscli, by seq for C), and that types are kept.
 *  - cli_receiver: the same with `buscli recv --json` as the receiver.
 *  - stats_match: after N sent and M received, `buscli stats --json` and
 *    bus_queue_stats() agree with the traffic and with who is attached.
 *  - second_consumer: -EBUSY through the C API, and `buscli recv` exits 1
 *    with one clear line, while a consumer is attached.
 *  - delete_c_api: after a delete the producer gets -EPIPE, the consumer
 *    drains what is left, then gets -EPIPE; the name and segment are gone.
 *  - delete_cli: the same seen from `buscli publish` and `buscli recv`.
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
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "util/io.h"
#include "harness.h"

#define NPUB         4 /* 2 buscli + 2 C */
#define PER_PRODUCER E2E_SCALE(20000, 3000)
#define DEADLINE_S   E2E_SCALE(120, 300)

#define TYPE_CLI0      7u
#define TYPE_CLI1_NAME "demo.Tick"
#define TYPE_C_NAME    "test.E2eMessage"

struct producer_arg {
	const char *socket;
	const char *queue;
	int index; /* 2 or 3: tag "p2", "p3" */
	int count;
};

/* A C producer process: "p<index> <i>" for i in [0, count). */
static int c_producer(void *argp)
{
	struct producer_arg *a = argp;
	uint32_t type = bus_type_id(TYPE_C_NAME);
	bus_producer *p;
	char msg[64];
	bus *b;

	if (bus_open(a->socket, &b) < 0)
		return 10;
	if (bus_producer_open(b, a->queue, &p) < 0) {
		bus_close(b);
		return 11;
	}
	bus_close(b);
	for (int i = 0; i < a->count; i++) {
		int n = snprintf(msg, sizeof(msg), "p%d %d", a->index, i);

		if (bus_send(p, type, msg, (size_t)n, -1) < 0) {
			bus_producer_close(p);
			return 12;
		}
	}
	bus_producer_close(p);
	return 0;
}

struct feeder_arg {
	int fd;
	int index;
	int count;
};

/* Writes the numbered lines "p<index> <i>\n" into a publisher's stdin. */
static int feeder(void *argp)
{
	struct feeder_arg *a = argp;
	char *buf = malloc(65536);
	size_t len = 0;

	if (!buf)
		return 20;
	for (int i = 0; i < a->count; i++) {
		len += (size_t)snprintf(buf + len, 64, "p%d %d\n", a->index, i);
		if (len > 65536 - 64 || i == a->count - 1) {
			if (io_write_all(a->fd, buf, len) < 0) {
				free(buf);
				return 21;
			}
			len = 0;
		}
	}
	free(buf);
	close(a->fd);
	return 0;
}

/* Per-tag bookkeeping of what the receiver saw. */
struct tally {
	int next[NPUB];      /* next number expected from p<k> */
	uint64_t seq0[NPUB]; /* seq of p<k>'s first message */
	uint32_t slot[NPUB]; /* producer slot of p<k> */
	int errors;
};

static uint32_t expected_type(int k)
{
	if (k == 0)
		return TYPE_CLI0;
	if (k == 1)
		return bus_type_id(TYPE_CLI1_NAME);
	return bus_type_id(TYPE_C_NAME);
}

/* Checks one message; returns false (after printing why) on any surprise. */
static bool tally_one(struct tally *t, const char *payload, size_t len, uint32_t type,
                      uint32_t slot, uint64_t seq)
{
	char text[64];
	int k, i;

	if (len >= sizeof(text))
		goto bad;
	memcpy(text, payload, len);
	text[len] = '\0';
	if (!e2e_parse_pmsg(text, NPUB, &k, &i))
		goto bad;
	if (i != t->next[k]) {
		fprintf(stderr, "p%d: got %d, expected %d (order or loss)\n", k, i, t->next[k]);
		return false;
	}
	if (type != expected_type(k)) {
		fprintf(stderr, "p%d: type %" PRIu32 ", expected %" PRIu32 "\n", k, type,
		        expected_type(k));
		return false;
	}
	if (i == 0) {
		t->seq0[k] = seq;
		t->slot[k] = slot;
	} else if (slot != t->slot[k] || seq != t->seq0[k] + (uint64_t)i) {
		fprintf(stderr, "p%d #%d: slot %" PRIu32 " seq %" PRIu64 ", expected slot %" PRIu32 " seq %" PRIu64 "\n", k, i, slot, seq, t->slot[k],
		        t->seq0[k] + (uint64_t)i);
		return false;
	}
	t->next[k]++;
	return true;
bad:
	fprintf(stderr, "unexpected payload of %zu bytes: %.*s\n", len, (int)len, payload);
	return false;
}

/* Starts the four publishers into queue; pids go to pids[]. */
static void start_publishers(struct e2e *e, const char *queue, int count,
                             struct producer_arg pa[2], pid_t pids[6])
{
	static char type_cli0[16];
	int n = 0;

	snprintf(type_cli0, sizeof(type_cli0), "%u", TYPE_CLI0);
	for (int k = 0; k < 2; k++) {
		struct e2e_proc p;
		struct feeder_arg fa;

		if (k == 0)
			e2e_spawn_cli(e, &p, E2E_IN, "publish", queue, "--type",
			              type_cli0, NULL);
		else
			e2e_spawn_cli(e, &p, E2E_IN, "publish", queue, "--type",
			              TYPE_CLI1_NAME, NULL);
		pids[n++] = p.pid;
		fa = (struct feeder_arg){.fd = p.in, .index = k, .count = count};
		pids[n++] = e2e_fork(e, feeder, &fa);
		close(p.in); /* the feeder has its own copy */
	}
	for (int k = 0; k < 2; k++) {
		pa[k] = (struct producer_arg){.socket = e->socket, .queue = queue, .index = 2 + k, .count = count};
		pids[n++] = e2e_fork(e, c_producer, &pa[k]);
	}
}

static void wait_publishers(struct e2e *e, pid_t pids[6])
{
	for (int i = 0; i < 6; i++) {
		int st = e2e_wait(e, pids[i], DEADLINE_S);

		if (st != 0)
			fprintf(stderr, "publisher process %d (pid %d): status %d\n", i,
			        (int)pids[i], st);
		assert_int_equal(st, 0);
	}
}

static void delete_queue(struct e2e *e, const char *queue)
{
	e2e_cli_ok(e, NULL, "delete", queue, NULL);
}

static void mixed_publishers(void **state)
{
	struct e2e *e = *state;
	const int count = PER_PRODUCER;
	uint64_t deadline = e2e_now_ms() + DEADLINE_S * 1000u;
	struct tally t = {0};
	struct producer_arg pa[2];
	bus_consumer *c;
	bus_stats st;
	pid_t pids[6];
	long got = 0;
	bus *b;

	e2e_create(e, "traffic", "64K");
	b = e2e_open(e);
	assert_int_equal(bus_consumer_open(b, "traffic", &c), 0);
	start_publishers(e, "traffic", count, pa, pids);

	while (got < (long)NPUB * count && e2e_now_ms() < deadline) {
		bus_msg m[64];
		int n = bus_recv_batch(c, m, 64, 1000);

		if (n == -ETIMEDOUT)
			continue;
		assert_true(n > 0);
		for (int i = 0; i < n; i++)
			assert_true(tally_one(&t, m[i].data, m[i].len, m[i].type, m[i].producer,
			                      m[i].seq));
		bus_release(c);
		got += n;
	}
	for (int k = 0; k < NPUB; k++)
		assert_int_equal(t.next[k], count);
	wait_publishers(e, pids);
	/* nothing more than what was sent */
	{
		bus_msg m;

		assert_int_equal(bus_recv(c, &m, 0), -EAGAIN);
	}
	assert_int_equal(bus_queue_stats(b, "traffic", &st), 0);
	assert_int_equal(st.enqueued, (uint64_t)NPUB * count);
	assert_int_equal(st.dequeued, (uint64_t)NPUB * count);
	assert_int_equal(st.depth_msgs, 0);
	bus_consumer_close(c);
	bus_close(b);
	delete_queue(e, "traffic");
	assert_int_equal(e2e_shm_count(e, "traffic"), 0);
}

/* Pulls the payload out of one line of `buscli recv --json`. */
static bool parse_json_line(const char *line, char *payload, size_t n, uint32_t *type,
                            uint32_t *slot, uint64_t *seq)
{
	uint64_t v;

	if (!e2e_json_u64(line, "type", &v))
		return false;
	*type = (uint32_t)v;
	if (!e2e_json_u64(line, "producer", &v))
		return false;
	*slot = (uint32_t)v;
	if (!e2e_json_u64(line, "seq", seq))
		return false;
	if (!strstr(line, "\"encoding\":\"utf-8\""))
		return false;
	return e2e_json_str(line, "payload", payload, n);
}

static void cli_receiver(void **state)
{
	struct e2e *e = *state;
	const int count = E2E_SCALE(5000, 1000);
	struct producer_arg pa[2];
	struct tally t = {0};
	struct e2e_proc rp;
	struct e2e_run r;
	char total[32];
	pid_t pids[6];
	char *line;

	e2e_create(e, "cli-recv", "64K");
	snprintf(total, sizeof(total), "%d", NPUB * count);
	e2e_spawn_cli(e, &rp, E2E_OUT | E2E_ERR, "recv", "cli-recv", "--json", "--count",
	              total, "--batch", "16", NULL);
	start_publishers(e, "cli-recv", count, pa, pids);
	e2e_communicate(e, &rp, NULL, 0, DEADLINE_S, &r);
	if (r.status != 0)
		fprintf(stderr, "buscli recv: status %d, stderr: %s\n", r.status, r.err);
	assert_int_equal(r.status, 0);
	assert_int_equal(e2e_count_lines(r.out, r.out_len), (size_t)NPUB * count);
	line = r.out;
	for (int i = 0; i < NPUB * count; i++) {
		char *nl = strchr(line, '\n');
		char payload[64];
		uint32_t type = 0, slot = 0;
		uint64_t seq = 0;

		assert_non_null(nl);
		*nl = '\0';
		if (!parse_json_line(line, payload, sizeof(payload), &type, &slot, &seq))
			fail_msg("bad JSON line: %s", line);
		assert_true(tally_one(&t, payload, strlen(payload), type, slot, seq));
		line = nl + 1;
	}
	for (int k = 0; k < NPUB; k++)
		assert_int_equal(t.next[k], count);
	e2e_run_free(&r);
	wait_publishers(e, pids);
	delete_queue(e, "cli-recv");
}

static uint64_t json_field(const char *json, const char *key)
{
	uint64_t v = UINT64_MAX;

	if (!e2e_json_u64(json, key, &v))
		fail_msg("no field \"%s\" in %s", key, json);
	return v;
}

static void stats_match(void **state)
{
	struct e2e *e = *state;
	const uint64_t n = 100, m = 40;
	bus_producer *p;
	bus_consumer *c;
	struct e2e_run r;
	bus_stats st;
	char pidtext[32];
	bus *b;

	e2e_create(e, "stats", NULL);
	b = e2e_open(e);
	assert_int_equal(bus_producer_open(b, "stats", &p), 0);
	assert_int_equal(bus_consumer_open(b, "stats", &c), 0);
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(bus_send(p, 0, "0123456789", 10, 0), 0);
	for (uint64_t i = 0; i < m; i++) {
		bus_msg msg;

		assert_int_equal(bus_recv(c, &msg, 1000), 0);
		bus_release(c);
	}

	e2e_cli(e, &r, NULL, 0, 30, "stats", "stats", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.err_len, 0);
	assert_int_equal(json_field(r.out, "enqueued"), n);
	assert_int_equal(json_field(r.out, "enqueued_bytes"), n * 10);
	assert_int_equal(json_field(r.out, "dequeued"), m);
	assert_int_equal(json_field(r.out, "dequeued_bytes"), m * 10);
	assert_int_equal(json_field(r.out, "depth"), n - m);
	assert_true(json_field(r.out, "depth_bytes") >= (n - m) * 10);
	assert_int_equal(json_field(r.out, "producers"), 1);
	assert_int_equal(json_field(r.out, "consumer_pid"), (uint64_t)getpid());
	assert_true(json_field(r.out, "oldest_age_ns") > 0);
	assert_true(json_field(r.out, "p50_ns") > 0);
	assert_non_null(strstr(r.out, "\"source\":\"busd\""));
	e2e_run_free(&r);

	assert_int_equal(bus_queue_stats(b, "stats", &st), 0);
	assert_string_equal(st.name, "stats");
	assert_int_equal(st.enqueued, n);
	assert_int_equal(st.dequeued, m);
	assert_int_equal(st.depth_msgs, n - m);
	assert_int_equal(st.producers, 1);
	assert_int_equal(st.consumer_pid, (uint32_t)getpid());

	/* the readable table says the same */
	e2e_cli(e, &r, NULL, 0, 30, "stats", "stats", NULL);
	assert_int_equal(r.status, 0);
	snprintf(pidtext, sizeof(pidtext), "pid %d", (int)getpid());
	assert_non_null(strstr(r.out, "queue stats"));
	assert_non_null(strstr(r.out, "100 messages"));
	assert_non_null(strstr(r.out, "60 messages"));
	assert_non_null(strstr(r.out, pidtext));
	e2e_run_free(&r);

	/* detached: no producer, no consumer; buscli recv takes 10 more */
	bus_consumer_close(c);
	bus_producer_close(p);
	e2e_cli(e, &r, NULL, 0, 30, "recv", "stats", "--count", "10", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(e2e_count_lines(r.out, r.out_len), 10);
	e2e_run_free(&r);
	e2e_cli(e, &r, NULL, 0, 30, "stats", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "\"name\":\"stats\""));
	assert_int_equal(json_field(r.out, "dequeued"), m + 10);
	assert_int_equal(json_field(r.out, "depth"), n - m - 10);
	assert_int_equal(json_field(r.out, "producers"), 0);
	assert_int_equal(json_field(r.out, "consumer_pid"), 0);
	e2e_run_free(&r);
	bus_close(b);
	delete_queue(e, "stats");
}

static void second_consumer(void **state)
{
	struct e2e *e = *state;
	bus_consumer *c, *c2 = NULL;
	struct e2e_run r;
	bus *b;

	e2e_create(e, "busy", NULL);
	b = e2e_open(e);
	assert_int_equal(bus_consumer_open(b, "busy", &c), 0);
	assert_int_equal(bus_consumer_open(b, "busy", &c2), -EBUSY);
	assert_null(c2);

	e2e_cli(e, &r, NULL, 0, 30, "recv", "busy", "--timeout", "100", NULL);
	assert_int_equal(r.status, 1);
	assert_true(e2e_one_error_line(&r));
	assert_non_null(strstr(r.err, "'busy'"));
	assert_non_null(strstr(r.err, "consumer"));
	e2e_run_free(&r);

	/* once it is gone, the next one gets the queue */
	bus_consumer_close(c);
	e2e_cli_ok(e, NULL, "recv", "busy", "--timeout", "100", NULL);
	bus_close(b);
	delete_queue(e, "busy");
}

static void delete_c_api(void **state)
{
	struct e2e *e = *state;
	bus_producer *p;
	bus_consumer *c;
	struct e2e_run r;
	char msg[16];
	bus_msg m;
	bus *b;

	e2e_create(e, "doomed", NULL);
	b = e2e_open(e);
	assert_int_equal(bus_producer_open(b, "doomed", &p), 0);
	assert_int_equal(bus_consumer_open(b, "doomed", &c), 0);
	for (int i = 0; i < 10; i++) {
		int n = snprintf(msg, sizeof(msg), "m%d", i);

		assert_int_equal(bus_send(p, 0, msg, (size_t)n, 0), 0);
	}
	delete_queue(e, "doomed");

	assert_int_equal(bus_send(p, 0, "late", 4, 0), -EPIPE);
	assert_int_equal(bus_send(p, 0, "late", 4, -1), -EPIPE);
	for (int i = 0; i < 10; i++) {
		int n = snprintf(msg, sizeof(msg), "m%d", i);

		assert_int_equal(bus_recv(c, &m, 1000), 0);
		assert_int_equal(m.len, (size_t)n);
		assert_memory_equal(m.data, msg, (size_t)n);
		bus_release(c);
	}
	assert_int_equal(bus_recv(c, &m, 0), -EPIPE);
	assert_int_equal(bus_recv(c, &m, -1), -EPIPE);

	/* the name is gone at once */
	e2e_cli(e, &r, NULL, 0, 30, "list", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_null(strstr(r.out, "doomed"));
	e2e_run_free(&r);
	e2e_cli(e, &r, NULL, 0, 30, "publish", "doomed", "x", NULL);
	assert_int_equal(r.status, 1);
	assert_true(e2e_one_error_line(&r));
	assert_non_null(strstr(r.err, "'doomed'"));
	assert_non_null(strstr(r.err, "no such queue"));
	e2e_run_free(&r);
	{
		bus_producer *p2 = NULL;

		assert_int_equal(bus_producer_open(b, "doomed", &p2), -ENOENT);
	}
	bus_producer_close(p);
	bus_consumer_close(c);
	bus_close(b);
	assert_int_equal(e2e_shm_count(e, "doomed"), 0);
}

static void delete_cli(void **state)
{
	struct e2e *e = *state;
	uint64_t deadline = e2e_now_ms() + 30000;
	struct e2e_proc pub, rcv;
	struct e2e_run pr, rr;
	char *out = NULL;
	size_t len = 0, cap = 0;
	bus_stats st = {0};
	bus *b;

	e2e_create(e, "doomed2", NULL);
	b = e2e_open(e);
	/* a publisher streaming from a pipe, and a receiver that prints */
	e2e_spawn_cli(e, &pub, E2E_IN | E2E_OUT | E2E_ERR, "publish", "doomed2", NULL);
	assert_int_equal(io_write_all(pub.in, "a\nb\nc\nd\ne\n", 10), 0);
	while (e2e_now_ms() < deadline &&
	       (bus_queue_stats(b, "doomed2", &st) < 0 || st.enqueued < 5))
		e2e_sleep_ms(10);
	assert_int_equal(st.enqueued, 5);
	e2e_spawn_cli(e, &rcv, E2E_OUT | E2E_ERR, "recv", "doomed2", NULL);
	e2e_read_lines(rcv.out, &out, &len, &cap, 5, 30000);
	assert_string_equal(out, "a\nb\nc\nd\ne\n");

	delete_queue(e, "doomed2");
	/* the publisher's next line fails: one line, with the count so far */
	assert_int_equal(io_write_all(pub.in, "f\n", 2), 0);
	close(pub.in);
	pub.in = -1;
	e2e_communicate(e, &pub, NULL, 0, 30, &pr);
	assert_int_equal(pr.status, 1);
	assert_true(e2e_one_error_line(&pr));
	assert_string_equal(pr.err,
	                    "buscli: publish to 'doomed2': queue deleted (5 messages published)\n");
	e2e_run_free(&pr);
	/* the receiver had everything; it says the queue is gone */
	e2e_communicate(e, &rcv, NULL, 0, 30, &rr);
	assert_int_equal(rr.status, 1);
	assert_int_equal(rr.out_len, 0);
	assert_true(e2e_one_error_line(&rr));
	assert_non_null(strstr(rr.err, "'doomed2': queue deleted"));
	e2e_run_free(&rr);
	free(out);
	bus_close(b);
	assert_int_equal(e2e_shm_count(e, "doomed2"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		E2E_TEST(mixed_publishers),
		E2E_TEST(cli_receiver),
		E2E_TEST(stats_match),
		E2E_TEST(second_consumer),
		E2E_TEST(delete_c_api),
		E2E_TEST(delete_cli),
	};

	return E2E_RUN_GROUP("e2e traffic", tests);
}

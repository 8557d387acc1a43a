/*
 * test_rpc.c - request and reply (bus_client_*, bus_reply) with real
 * processes and a real busd.
 *
 *  - call_answers: a service process answers 2,000 calls of a caller;
 *    each answer is its question's; the queue's stats count the requests
 *    and replies; a plain message on the same queue is no request.
 *  - late_dropped: a service that answers after the caller gave up: the
 *    late answer is dropped and counted, the next call gets its own.
 *  - many_in_flight: 64 calls sent before any answer is read, answered
 *    out of order by the service; each arrives once; a cancelled call's
 *    answer is dropped; the client's descriptor wakes an event loop.
 *  - dead_caller: a caller killed with a request in the queue: busd
 *    deletes its reply queue (/dev/shm), and the service's reply says
 *    -EPIPE and is counted, and the service goes on answering others.
 *  - close_removes: bus_client_close() has busd delete the reply queue;
 *    meanwhile `buscli stats` of all queues leaves it out and succeeds.
 *  - reply_queue_private: a reply queue cannot be attached by name in any
 *    role, nor created by a client, nor named by a replier of another
 *    service; a reply queue of a big service queue is no bigger than
 *    busd's default capacity when its largest message fits.
 *  - busd_restart: busd killed and started again while a client lives:
 *    its reply queue is adopted and calls go on; a caller that died while
 *    busd was down has its reply queue deleted at the start.
 *  - full_reply_queue: a caller that does not read its replies: the
 *    service's bus_reply times out (-ETIMEDOUT) rather than hang, and a
 *    dead caller's full queue is -EPIPE at once.
 *  - examples_rpc: the examples rpc-server and rpc-client ($RPC_SERVER,
 *    $RPC_CLIENT): the client's calls are answered with the server's
 *    prices, a plain message is skipped, a symbol it does not price is
 *    said so, a missing queue and a service gone are clear errors, and
 *    the server exits 0 on SIGTERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "harness.h"

#define WAIT_S E2E_SCALE(30, 120)
#define CALLS  E2E_SCALE(2000, 300)

struct svc_arg {
	const char *socket;
	const char *queue;
	int count;    /* requests to answer, then exit 0 */
	int delay_ms; /* before each reply */
	int batch;    /* receive this many before answering, in reverse */
};

/* The answer to a question: "re:" and the question. */
static size_t answer(const bus_msg *m, char *out, size_t cap)
{
	return (size_t)snprintf(out, cap, "re:%.*s", (int)m->len, (const char *)m->data);
}

/*
 * A service process: answers count requests (plain messages are counted
 * apart and not answered), batch at a time in reverse order.  Exits with
 * 0, or 10 + the step that failed.
 */
static int service(void *arg)
{
	const struct svc_arg *a = arg;
	bus_msg msgs[64];
	bus_consumer *c;
	char out[256];
	int done = 0;
	bus *b;

	if (bus_open(a->socket, &b) < 0 || bus_consumer_open(b, a->queue, &c) < 0)
		return 10;
	while (done < a->count) {
		int n = 0;

		while (n < (a->batch ? a->batch : 1)) {
			int r = bus_recv(c, &msgs[n], WAIT_S * 1000);

			if (r < 0)
				return 11;
			if (msgs[n].flags & BUS_MSG_REQUEST)
				n++;
		}
		for (int i = n - 1; i >= 0; i--) {
			size_t len = answer(&msgs[i], out, sizeof(out));

			if (a->delay_ms)
				e2e_sleep_ms((unsigned)a->delay_ms);
			/* A copy of the request answers as well as the original. */
			bus_msg copy = msgs[i];
			int r = bus_reply(c, &copy, 7, out, len, WAIT_S * 1000);

			if (r < 0 && r != -EPIPE)
				return 12;
			done++;
		}
		bus_release(c);
	}
	bus_consumer_close(c);
	bus_close(b);
	return 0;
}

static void create(struct e2e *e, const char *q)
{
	e2e_create(e, q, "64K");
}

/* Creates queue q (64K); a new connection to busd. */
static bus *open_queue(struct e2e *e, const char *q)
{
	create(e, q);
	return e2e_open(e);
}

static void check_answer(const bus_msg *reply, const char *question)
{
	char want[256];
	int n = snprintf(want, sizeof(want), "re:%s", question);

	assert_int_equal(reply->len, (size_t)n);
	assert_memory_equal(reply->data, want, (size_t)n);
	assert_true(reply->flags & BUS_MSG_REPLY);
	assert_int_equal(reply->type, 7);
}

static void call_answers(void **state)
{
	struct e2e *e = *state;
	struct svc_arg a = {e->socket, "svc", CALLS, 0, 0};
	bus_client *cl;
	bus_producer *p;
	bus_stats st;
	char q[64];
	pid_t pid;
	bus *b;

	b = open_queue(e, "svc");
	pid = e2e_fork(e, service, &a);
	assert_int_equal(bus_client_open(b, "svc", &cl), 0);
	/* A plain message among the requests: the service does not answer it. */
	assert_int_equal(bus_producer_open(b, "svc", &p), 0);
	assert_int_equal(bus_send(p, 1, "plain", 5, -1), 0);
	assert_int_equal(bus_client_max_request(cl), 64 * 1024 / 2 - 32 - 16);
	/* Sleeping at once changes how it waits, not what it gets. */
	assert_int_equal(bus_client_set_spin(cl, 0), 0);
	assert_int_equal(bus_client_set_spin(NULL, 0), -EINVAL);
	for (int i = 0; i < CALLS; i++) {
		bus_msg reply;
		int n = snprintf(q, sizeof(q), "question %d", i);

		assert_int_equal(bus_client_call(cl, 3, q, (size_t)n, &reply, WAIT_S * 1000), 0);
		check_answer(&reply, q);
		assert_int_equal(reply.call_id, (uint64_t)i + 1);
	}
	assert_int_equal(e2e_wait(e, pid, WAIT_S), 0);
	assert_int_equal(bus_queue_stats(b, "svc", &st), 0);
	assert_int_equal(st.requests, CALLS);
	assert_int_equal(st.replies, CALLS);
	assert_int_equal(st.late_replies, 0);
	assert_int_equal(st.dead_replies, 0);
	/* The plain message was received too, and is no request. */
	assert_int_equal(st.dequeued, CALLS + 1);
	bus_producer_close(p);
	bus_client_close(cl);
	bus_close(b);
}

static void late_dropped(void **state)
{
	struct e2e *e = *state;
	struct svc_arg a = {e->socket, "late", 3, 300, 0};
	bus_client *cl;
	bus_msg reply;
	bus_stats st;
	pid_t pid;
	bus *b;

	b = open_queue(e, "late");
	pid = e2e_fork(e, service, &a);
	assert_int_equal(bus_client_open(b, "late", &cl), 0);
	/* Answered after 300 ms: given up at 50. */
	assert_int_equal(bus_client_call(cl, 3, "one", 3, &reply, 50), -ETIMEDOUT);
	/* The next call's answer is its own, not the late "re:one". */
	assert_int_equal(bus_client_call(cl, 3, "two", 3, &reply, WAIT_S * 1000), 0);
	check_answer(&reply, "two");
	assert_int_equal(bus_client_call(cl, 3, "three", 5, &reply, WAIT_S * 1000), 0);
	check_answer(&reply, "three");
	assert_int_equal(e2e_wait(e, pid, WAIT_S), 0);
	assert_int_equal(bus_queue_stats(b, "late", &st), 0);
	assert_int_equal(st.late_replies, 1);
	assert_int_equal(st.replies, 3);
	bus_client_close(cl);
	bus_close(b);
}

static bool readable(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

#define FLIGHT 64

static void many_in_flight(void **state)
{
	struct e2e *e = *state;
	struct svc_arg a = {e->socket, "many", FLIGHT, 0, 16};
	uint64_t ids[FLIGHT], id;
	bool seen[FLIGHT] = {false};
	int got = 0, fd;
	bus_client *cl;
	bus_msg reply;
	bus_stats st;
	char q[32];
	pid_t pid;
	bus *b;

	b = open_queue(e, "many");
	assert_int_equal(bus_client_open(b, "many", &cl), 0);
	fd = bus_client_fd(cl);
	assert_true(fd >= 0);
	assert_int_equal(bus_client_recv(cl, &reply, &id, 0), -EAGAIN);
	assert_false(readable(fd, 0));
	for (int i = 0; i < FLIGHT; i++) {
		int n = snprintf(q, sizeof(q), "q%d", i);

		assert_int_equal(bus_client_send(cl, 3, q, (size_t)n, &ids[i]), 0);
	}
	assert_int_equal(bus_client_in_flight(cl), FLIGHT);
	/* bus_client_call waits for one answer only: not while others fly. */
	assert_int_equal(bus_client_call(cl, 3, "x", 1, &reply, 0), -EBUSY);
	assert_int_equal(bus_client_cancel(cl, ids[5]), 0);
	assert_int_equal(bus_client_cancel(cl, ids[5]), -ENOENT);
	pid = e2e_fork(e, service, &a);
	while (got < FLIGHT - 1) {
		int r = bus_client_recv(cl, &reply, &id, 0);

		if (r == -EAGAIN) {
			assert_true(readable(fd, WAIT_S * 1000));
			continue;
		}
		assert_int_equal(r, 0);
		assert_true(id >= ids[0] && id <= ids[FLIGHT - 1]);
		assert_int_not_equal(id, ids[5]);
		assert_false(seen[id - ids[0]]);
		seen[id - ids[0]] = true;
		snprintf(q, sizeof(q), "q%d", (int)(id - ids[0]));
		check_answer(&reply, q);
		got++;
		if (got % 7 == 0)
			bus_client_release(cl);
	}
	bus_client_release(cl);
	assert_int_equal(bus_client_in_flight(cl), 0);
	assert_int_equal(e2e_wait(e, pid, WAIT_S), 0);
	/* The cancelled call's answer came, and was dropped. */
	assert_int_equal(bus_client_recv(cl, &reply, &id, 200), -ETIMEDOUT);
	assert_int_equal(bus_queue_stats(b, "many", &st), 0);
	assert_int_equal(st.late_replies, 1);
	bus_client_close(cl);
	bus_close(b);
}

struct caller_arg {
	const char *socket;
	const char *queue;
	int pipe_fd; /* written once the request is sent */
};

/*
 * A caller that sends one request, says so, and waits to be killed.
 * Opens alike to test_pollfd.c's armed_consumer on purpose: each exit
 * code names its step.
 */
static int caller_then_hang(void *arg)
{
	const struct caller_arg *a = arg;
	bus_client *cl;
	uint64_t id;
	bus *b;

	if (bus_open(a->socket, &b) < 0 || bus_client_open(b, a->queue, &cl) < 0)
		return 10;
	if (bus_client_send(cl, 3, "hello", 5, &id) < 0)
		return 11;
	if (write(a->pipe_fd, "x", 1) != 1)
		return 12;
	for (;;)
		pause();
}

static void dead_caller(void **state)
{
	struct e2e *e = *state;
	int pfd[2], base;
	struct caller_arg ca;
	bus_consumer *c;
	bus_client *cl;
	bus_msg m, reply;
	bus_stats st;
	uint64_t deadline;
	char x;
	pid_t pid;
	bus *b;

	b = open_queue(e, "dc");
	base = e2e_shm_count(e, NULL);
	assert_int_equal(pipe(pfd), 0);
	ca = (struct caller_arg){e->socket, "dc", pfd[1]};
	pid = e2e_fork(e, caller_then_hang, &ca);
	assert_int_equal(read(pfd[0], &x, 1), 1);
	/* Its reply queue exists (segment and wake FIFO). */
	assert_true(e2e_shm_count(e, NULL) > base);
	assert_int_equal(bus_consumer_open(b, "dc", &c), 0);
	assert_int_equal(bus_recv(c, &m, WAIT_S * 1000), 0);
	assert_true(m.flags & BUS_MSG_REQUEST);
	assert_true(m.call_id != 0 && m.reply_to != 0);
	kill(pid, SIGKILL);
	assert_int_equal(e2e_wait(e, pid, WAIT_S), 1000 + SIGKILL);
	/* busd learns of the death from the kernel and deletes the queue. */
	deadline = e2e_now_ms() + (uint64_t)WAIT_S * 1000;
	while (e2e_shm_count(e, NULL) > base && e2e_now_ms() < deadline)
		e2e_sleep_ms(5);
	assert_int_equal(e2e_shm_count(e, NULL), base);
	assert_int_equal(bus_reply(c, &m, 7, "late", 4, WAIT_S * 1000), -EPIPE);
	bus_release(c);
	/* The service goes on: a live caller is answered. */
	assert_int_equal(bus_client_open(b, "dc", &cl), 0);
	assert_int_equal(bus_client_send(cl, 3, "live", 4, NULL), 0);
	assert_int_equal(bus_recv(c, &m, WAIT_S * 1000), 0);
	assert_int_equal(bus_reply(c, &m, 7, "re:live", 7, WAIT_S * 1000), 0);
	bus_release(c);
	assert_int_equal(bus_client_recv(cl, &reply, NULL, WAIT_S * 1000), 0);
	check_answer(&reply, "live");
	assert_int_equal(bus_queue_stats(b, "dc", &st), 0);
	assert_int_equal(st.dead_replies, 1);
	assert_int_equal(st.replies, 1);
	assert_int_equal(st.requests, 2);
	bus_client_close(cl);
	bus_consumer_close(c);
	close(pfd[0]);
	close(pfd[1]);
	bus_close(b);
}

static void close_removes(void **state)
{
	struct e2e *e = *state;
	bus_queue_info info[8];
	bus_client *cl;
	int base;
	bus *b;

	b = open_queue(e, "cr");
	base = e2e_shm_count(e, NULL);
	assert_int_equal(bus_client_open(b, "cr", &cl), 0);
	assert_true(e2e_shm_count(e, NULL) > base);
	/* Listed, under the reserved prefix, for its owner. */
	assert_int_equal(bus_queue_list(b, info, 8), 2);
	assert_memory_equal(info[0].name, ".r.", 3);
	/* All queues' stats leave it out (nobody may read them) and succeed. */
	{
		struct e2e_run r;

		e2e_cli(e, &r, NULL, 0, WAIT_S, "stats", NULL);
		assert_int_equal(r.status, 0);
		assert_non_null(strstr(r.out, "queue cr"));
		assert_null(strstr(r.out, ".r."));
		e2e_run_free(&r);
	}
	bus_client_close(cl);
	assert_int_equal(e2e_shm_count(e, NULL), base);
	assert_int_equal(bus_queue_list(b, info, 8), 1);
	bus_close(b);
}

/* Test functions open alike on purpose: each declares its handles in view. */
static void reply_queue_private(void **state)
{
	struct e2e *e = *state;
	bus_queue_info info[8];
	bus_producer *p;
	bus_consumer *c;
	bus_client *cl;
	bus_stats st;
	bus *b;

	create(e, "pa");
	b = open_queue(e, "pb");
	assert_int_equal(bus_client_open(b, "pa", &cl), 0);
	assert_int_equal(bus_queue_list(b, info, 8), 3);
	assert_memory_equal(info[0].name, ".r.", 3);
	assert_int_equal(bus_producer_open(b, info[0].name, &p), -EACCES);
	assert_int_equal(bus_consumer_open(b, info[0].name, &c), -EACCES);
	assert_int_equal(bus_queue_stats(b, info[0].name, &st), -EACCES);
	assert_non_null(strstr(bus_last_error(b), "reply queue"));
	/* The reply queues' names are busd's. */
	assert_int_equal(bus_queue_create(b, ".r.mine", NULL, NULL), -EINVAL);
	assert_non_null(strstr(bus_last_error(b), "reply queues"));
	/* A reply queue is no service. */
	{
		bus_client *cl2;

		assert_int_equal(bus_client_open(b, info[0].name, &cl2), -EACCES);
	}
	/* A replier of another service cannot reach pa's callers. */
	{
		bus_msg m;

		assert_int_equal(bus_client_send(cl, 3, "x", 1, NULL), 0);
		assert_int_equal(bus_consumer_open(b, "pa", &c), 0);
		assert_int_equal(bus_recv(c, &m, WAIT_S * 1000), 0);
		bus_consumer_close(c);
		assert_int_equal(bus_consumer_open(b, "pb", &c), 0);
		assert_int_equal(bus_reply(c, &m, 7, "x", 1, 0), -EPIPE);
		bus_consumer_close(c);
	}
	/* A plain message is no request. */
	assert_int_equal(bus_consumer_open(b, "pb", &c), 0);
	{
		bus_msg plain = {0};

		assert_int_equal(bus_reply(c, &plain, 7, "x", 1, 0), -EINVAL);
	}
	bus_consumer_close(c);
	bus_client_close(cl);
	assert_int_equal(bus_client_open(b, "nosuch", &cl), -ENOENT);
	/*
	 * A big service queue with small messages: its callers' reply queues
	 * take busd's default capacity (1 MiB), not its 8 MiB.
	 */
	{
		bus_queue_opts o = {.capacity = 8u << 20, .max_message = 4096};

		assert_int_equal(bus_queue_create(b, "big", &o, NULL), 0);
		assert_int_equal(bus_client_open(b, "big", &cl), 0);
		assert_int_equal(bus_queue_list(b, info, 8), 4);
		assert_memory_equal(info[0].name, ".r.", 3);
		assert_int_equal(info[0].capacity, 1u << 20);
		assert_int_equal(info[0].max_message, 4096);
		assert_int_equal(bus_client_max_request(cl), 4096 - 16);
		bus_client_close(cl);
	}
	bus_close(b);
}

static void busd_restart(void **state)
{
	struct e2e *e = *state;
	struct svc_arg a = {e->socket, "rs", 2, 0, 0};
	struct caller_arg ca;
	bus_client *cl;
	bus_msg reply;
	int pfd[2], base;
	pid_t pid, svc;
	char x;
	bus *b;

	b = open_queue(e, "rs");
	base = e2e_shm_count(e, NULL);
	assert_int_equal(bus_client_open(b, "rs", &cl), 0);
	/* A second caller that will die while busd is down. */
	assert_int_equal(pipe(pfd), 0);
	ca = (struct caller_arg){e->socket, "rs", pfd[1]};
	pid = e2e_fork(e, caller_then_hang, &ca);
	assert_int_equal(read(pfd[0], &x, 1), 1);
	e2e_busd_kill(e);
	kill(pid, SIGKILL);
	assert_int_equal(e2e_wait(e, pid, WAIT_S), 1000 + SIGKILL);
	e2e_busd_start(e);
	/* The live caller's queue is adopted; the dead one's deleted. */
	assert_int_equal(e2e_log_count(e, "reply.adopt", NULL), 1);
	assert_int_equal(e2e_log_count(e, "reply.delete", NULL), 1);
	/* Answered: the dead caller's request first (-EPIPE), then ours. */
	svc = e2e_fork(e, service, &a);
	assert_int_equal(bus_client_call(cl, 3, "after", 5, &reply, WAIT_S * 1000), 0);
	check_answer(&reply, "after");
	assert_int_equal(e2e_wait(e, svc, WAIT_S), 0);
	bus_client_close(cl);
	assert_int_equal(e2e_shm_count(e, NULL), base);
	close(pfd[0]);
	close(pfd[1]);
	bus_close(b);
}

static void full_reply_queue(void **state)
{
	struct e2e *e = *state;
	struct caller_arg ca;
	bus_consumer *c;
	bus_client *cl;
	bus_msg m[64];
	int pfd[2], n = 0, r;
	char big[8192];
	pid_t pid;
	char x;
	bus *b;

	memset(big, 'b', sizeof(big));
	b = open_queue(e, "fq");
	assert_int_equal(bus_client_open(b, "fq", &cl), 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(bus_client_send(cl, 3, "q", 1, NULL), 0);
	assert_int_equal(bus_consumer_open(b, "fq", &c), 0);
	assert_int_equal(bus_recv_batch(c, m, 64, WAIT_S * 1000), 16);
	/* 64 KiB of reply queue: a few 8 KiB replies fill it. */
	while ((r = bus_reply(c, &m[n], 7, big, sizeof(big), 100)) == 0)
		n++;
	assert_int_equal(r, -ETIMEDOUT);
	assert_true(n >= 5 && n < 16);
	bus_client_close(cl);
	assert_int_equal(bus_reply(c, &m[n], 7, big, sizeof(big), 100), -EPIPE);
	bus_release(c);
	/* A dead caller's full queue: -EPIPE at once, before busd noticed. */
	assert_int_equal(pipe(pfd), 0);
	ca = (struct caller_arg){e->socket, "fq", pfd[1]};
	pid = e2e_fork(e, caller_then_hang, &ca);
	assert_int_equal(read(pfd[0], &x, 1), 1);
	assert_int_equal(bus_recv(c, &m[0], WAIT_S * 1000), 0);
	n = 0;
	while ((r = bus_reply(c, &m[0], 7, big, sizeof(big), 0)) == 0)
		n++;
	assert_int_equal(r, -EAGAIN);
	e2e_busd_kill(e);
	kill(pid, SIGKILL);
	assert_int_equal(e2e_wait(e, pid, WAIT_S), 1000 + SIGKILL);
	{
		uint64_t t0 = e2e_now_ms();

		assert_int_equal(bus_reply(c, &m[0], 7, big, sizeof(big), WAIT_S * 1000),
		                 -EPIPE);
		assert_true(e2e_now_ms() - t0 < 1000);
	}
	bus_release(c);
	bus_consumer_close(c);
	e2e_busd_start(e);
	close(pfd[0]);
	close(pfd[1]);
	bus_close(b);
}

/* Runs rpc-client with args (NULL-terminated) to completion into *r. */
#define rpc_client(e, r, ...) e2e_exec(e, r, WAIT_S, getenv("RPC_CLIENT"), __VA_ARGS__)

static void examples_rpc(void **state)
{
	struct e2e *e = *state;
	char *server_argv[] = {getenv("RPC_SERVER"), "prices", NULL};
	struct e2e_run r = {0};
	struct e2e_proc srv;
	bus_producer *p;
	bus_consumer *c;
	int i;
	bus *b;

	/* meson sets them; without them the test cannot say anything. */
	assert_non_null(server_argv[0]);
	assert_non_null(getenv("RPC_CLIENT"));
	create(e, "prices");
	assert_int_equal(setenv("BUS_SOCKET", e->socket, 1), 0);
	e2e_spawn(e, &srv, server_argv, false, true, true);
	/* Serving once a second consumer is refused. */
	b = e2e_open(e);
	for (i = 0; i < WAIT_S * 100; i++) {
		int rc = bus_consumer_open(b, "prices", &c);

		if (rc == -EBUSY)
			break;
		if (rc == 0)
			bus_consumer_close(c);
		e2e_sleep_ms(10);
	}
	assert_true(i < WAIT_S * 100);
	/* A plain message among the requests: skipped, not answered. */
	assert_int_equal(bus_producer_open(b, "prices", &p), 0);
	assert_int_equal(bus_send(p, 1, "hello", 5, WAIT_S * 1000), 0);
	bus_producer_close(p);

	rpc_client(e, &r, "prices", "ACME", "3", NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "ACME x1: 123.45 (123.45 each)\n"
	                           "ACME x2: 246.90 (123.45 each)\n"
	                           "ACME x3: 370.35 (123.45 each)\n");
	e2e_run_free(&r);
	rpc_client(e, &r, "prices", "NOPE", "1", NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "NOPE x1: not priced\n");
	e2e_run_free(&r);
	rpc_client(e, &r, "no-such-queue", "ACME", NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "rpc-client: call 'no-such-queue': "));
	e2e_run_free(&r);
	rpc_client(e, &r, "--help", NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "usage: rpc-client QUEUE SYMBOL"));
	e2e_run_free(&r);

	kill(srv.pid, SIGTERM);
	e2e_communicate(e, &srv, NULL, 0, WAIT_S, &r);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, ": ACME x1 = 12345 cents\n"));
	assert_non_null(strstr(r.out, ": ACME x3 = 37035 cents\n"));
	assert_non_null(strstr(r.out, ": NOPE x1 = 0 cents\n"));
	assert_non_null(strstr(r.err, "skipped a plain message (type 1)"));
	e2e_run_free(&r);

	/* No service any more: the call times out, and says so. */
	rpc_client(e, &r, "prices", "ACME", "1", "200", NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "call 1: no answer from 'prices' in 200 ms"));
	e2e_run_free(&r);
	bus_close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		E2E_TEST(call_answers),
		E2E_TEST(late_dropped),
		E2E_TEST(many_in_flight),
		E2E_TEST(dead_caller),
		E2E_TEST(close_removes),
		E2E_TEST(reply_queue_private),
		E2E_TEST(busd_restart),
		E2E_TEST(full_reply_queue),
		E2E_TEST(examples_rpc),
	};

	return E2E_RUN_GROUP("e2e rpc", tests);
}

/*
 * test_flood.c - local users flooding busd with connections, garbage and
 * strange strings; busd must keep serving everyone else.
 *
 * busd runs as root with max-connections = 32 (so max-connections-per-uid
 * is 8 by default) and a config that grants uid 4242 produce on a queue,
 * which opens the socket to other users; the attackers are forked
 * children that drop to uid 65534 and below, with no rights at all.
 *
 *  - idle_flood: one uid opens 40 connections and holds them idle: it
 *    gets 8, the others are refused with -EDQUOT (buscli as that uid says
 *    "too many connections from uid 65534"), and meanwhile root's
 *    `buscli list` and a publish and receive through the C API work.
 *  - no_hello_flood: the same with raw connections that never send a
 *    request: 8 held, the rest refused with -EDQUOT in a Response with id
 *    0; root is served meanwhile; the 8 are closed with -ETIMEDOUT once
 *    the hello timeout (5 s) has passed.
 *  - many_uids: root holds 10 idle connections, three uids take 8 each:
 *    the table is full, so the newest push out root's longest-idle ones;
 *    root's evicted connections work again at once (libbus connects
 *    again), root's buscli list works, and the warning about produce
 *    granted without consume is in busd's log.
 *  - garbage: 3 connections of another uid send thousands of undecodable
 *    packets: busd's log grows by at most 20 packet.bad lines per
 *    connection and one a second (busd's limit per client), says how
 *    many it suppressed, and still serves a normal client.
 *  - garbage_many: 24 connections of 6 uids send 100 each, more than
 *    the limit for all clients lets through: at most 200 lines and 20 a
 *    second, and a line saying how many were suppressed.
 *  - nul_strings: raw requests whose strings hold a NUL ("a\0b") are
 *    refused with -EINVAL naming the field, for create, attach, delete
 *    and list; no queue "a" is created, an existing "a" is neither
 *    attached to nor deleted by them, and busd keeps serving.
 *
 * Needs root (to run children as other uids); otherwise exits 77.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "control.h"
#include "../e2e/e2e.h"
#include "harness.h"

#define MAX_CONN 32
#define PER_UID  8 /* max-connections / 4, busd's default */
#define FLOOD    40
#define HELLO_MS 5000 /* busd's hello timeout (BUSD_HELLO_MS) */
#define ATTACKER 65534u
#define QUEUE    "pub"

/* busd's log limits for what clients cause (BUSD_LOG_* in busd/daemon.h). */
#define CLIENT_BURST 20
#define CLIENT_PER_S 1
#define ALL_BURST    200
#define ALL_PER_S    20

static char conf[300];

/* Restarts busd with the test's config, its socket reachable by others. */
static void restart_busd(struct e2e *e)
{
	assert_int_equal(e2e_busd_stop(e), 0);
	assert_int_equal(chmod(e->dir, 0755), 0);
	snprintf(conf, sizeof(conf), "%s/busd.conf", e->dir);
	e2e_write_file(conf, "[busd]\n"
	                     "max-connections = 32\n"
	                     "\n"
	                     "[queue " QUEUE "]\n"
	                     "capacity = 4K\n"
	                     "produce = uid:4242\n");
	e->config = conf;
	e2e_busd_start(e);
}

static int become(uid_t uid)
{
	if (setgroups(0, NULL) < 0 || setgid((gid_t)uid) < 0 || setuid(uid) < 0)
		return -1;
	return geteuid() == uid ? 0 : -1;
}

static int raw_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

/*
 * Reads one Response from fd within timeout_ms: 1 with its error in
 * *err and its id in *id, 0 at EOF or timeout, -1 for anything else.
 */
static int read_response(int fd, int timeout_ms, int *err, uint64_t *id)
{
	static uint8_t buf[CONTROL_MAX_PACKET];
	static _Alignas(16) uint8_t arena[CONTROL_ARENA];
	struct pollfd p = {.fd = fd, .events = POLLIN};
	BusControl__Response *r;
	ssize_t n;

	if (poll(&p, 1, timeout_ms) != 1)
		return 0;
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && errno == ECONNRESET) /* a reset comes before the packets */
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n <= 0)
		return 0;
	if (control_decode_response(buf, (size_t)n, arena, sizeof(arena), &r) < 0)
		return -1;
	*err = r->error;
	*id = r->id;
	return 1;
}

/* Whether the socket's directory can be reached by ATTACKER at all. */
static int probe_main(void *arg)
{
	struct e2e *e = arg;
	int fd;

	if (become(ATTACKER) < 0)
		return 10;
	fd = raw_connect(e->socket);
	if (fd == -EACCES)
		return HARNESS_SKIP;
	if (fd < 0)
		return 11;
	close(fd);
	return 0;
}

static int setup(void **state)
{
	const char *why = e2e_precheck();
	struct e2e *e;
	pid_t pid;
	int st;

	if (!why && geteuid() != 0)
		why = "not root: cannot run attackers as other users";
	if (why)
		e2e_skip(why);
	if (e2e_setup(state) != 0)
		return -1;
	e = *state;
	restart_busd(e);
	pid = e2e_fork(e, probe_main, e);
	st = e2e_wait(e, pid, 30);
	if (st == HARNESS_SKIP) {
		fprintf(stderr, "skipped: uid %u cannot reach %s\n", ATTACKER, e->socket);
		e2e_teardown(state);
		exit(HARNESS_SKIP);
	}
	assert_int_equal(st, 0);
	return 0;
}

/* --- results from an attacker child, over a pipe --- */

struct tally {
	int ok;     /* connections held */
	int edquot; /* refused: too many from this uid */
	int other;  /* refused or failed another way */
	int other_rc;
	int timedout; /* held ones closed with -ETIMEDOUT (no hello) */
	int elapsed_ms;
};

struct attacker {
	struct e2e *e;
	uid_t uid;
	int n;
	bool hello;    /* bus_open (a ping) rather than a raw connect */
	int report[2]; /* child -> parent: struct tally */
	int go[2];     /* parent -> child: a byte means go on, EOF stop */
};

static void send_tally(struct attacker *a, const struct tally *t)
{
	if (write(a->report[1], t, sizeof(*t)) != (ssize_t)sizeof(*t))
		_exit(20);
}

static bool wait_go(struct attacker *a)
{
	char c;

	return read(a->go[0], &c, 1) == 1;
}

/* Opens a->n connections as a->uid, reports, holds them until told. */
static int attacker_main(void *arg)
{
	struct attacker *a = arg;
	struct tally t = {0};
	bus *b[FLOOD] = {0};
	int fds[FLOOD];
	uint64_t t0;

	close(a->report[0]);
	close(a->go[1]);
	if (become(a->uid) < 0)
		return 10;
	t0 = e2e_now_ms();
	for (int i = 0; i < a->n; i++) {
		int rc;

		fds[i] = -1;
		if (a->hello) {
			rc = bus_open(a->e->socket, &b[i]);
		} else {
			rc = raw_connect(a->e->socket);
			if (rc >= 0) {
				fds[i] = rc;
				rc = 0;
			}
		}
		if (rc == 0) {
			t.ok++;
		} else if (rc == -EDQUOT) {
			t.edquot++;
		} else {
			t.other++;
			t.other_rc = rc;
		}
	}
	if (!a->hello) {
		/* busd answers the ones over the limit with a reason, then closes. */
		e2e_sleep_ms(E2E_SCALE(500, 2000));
		for (int i = 0; i < a->n; i++) {
			uint64_t id = 1;
			int err = 0, r = read_response(fds[i], 0, &err, &id);

			if (r == 0)
				continue;
			close(fds[i]);
			fds[i] = -1;
			t.ok--;
			if (r == 1 && id == 0 && err == -EDQUOT) {
				t.edquot++;
			} else {
				t.other++;
				t.other_rc = r == 1 ? err : -EBADMSG;
			}
		}
	}
	send_tally(a, &t);
	if (!a->hello && wait_go(a)) {
		/* The held ones: closed for want of a hello, with the reason. */
		for (int i = 0; i < a->n; i++) {
			uint64_t id = 1;
			int err = 0;

			if (fds[i] < 0)
				continue;
			if (read_response(fds[i], HELLO_MS + E2E_SCALE(5000, 20000), &err, &id) == 1 &&
			    id == 0 && err == -ETIMEDOUT)
				t.timedout++;
		}
		t.elapsed_ms = (int)(e2e_now_ms() - t0);
		send_tally(a, &t);
	}
	wait_go(a);
	for (int i = 0; i < a->n; i++) {
		bus_close(b[i]);
		if (fds[i] >= 0)
			close(fds[i]);
	}
	return 0;
}

static pid_t attacker_start(struct e2e *e, struct attacker *a, uid_t uid, int n,
                            bool hello)
{
	pid_t pid;

	*a = (struct attacker){.e = e, .uid = uid, .n = n, .hello = hello};
	assert_int_equal(pipe2(a->report, O_CLOEXEC), 0);
	assert_int_equal(pipe2(a->go, O_CLOEXEC), 0);
	pid = e2e_fork(e, attacker_main, a);
	close(a->report[1]);
	close(a->go[0]);
	return pid;
}

static void attacker_tally(struct attacker *a, struct tally *t)
{
	struct pollfd p = {.fd = a->report[0], .events = POLLIN};

	assert_int_equal(poll(&p, 1, E2E_SCALE(30000, 90000)), 1);
	assert_int_equal(read(a->report[0], t, sizeof(*t)), (ssize_t)sizeof(*t));
}

static void attacker_go(struct attacker *a)
{
	assert_int_equal(write(a->go[1], "g", 1), 1);
}

static void attacker_stop(struct e2e *e, struct attacker *a, pid_t pid)
{
	close(a->go[1]);
	close(a->report[0]);
	if (pid > 0)
		assert_int_equal(e2e_wait(e, pid, 30), 0);
}

/* --- what root must still be able to do --- */

static void root_is_served(struct e2e *e)
{
	struct e2e_run r;
	bus *b;
	int rc;

	e2e_cli(e, &r, NULL, 0, 30, "list", NULL);
	if (r.status != 0)
		fprintf(stderr, "root's buscli list: status %d: %s\n", r.status, r.err);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, QUEUE));
	e2e_run_free(&r);

	rc = bus_open(e->socket, &b);
	if (rc < 0)
		fprintf(stderr, "root's bus_open: %s\n", bus_strerror(rc));
	assert_int_equal(rc, 0);
	e2e_send_recv(b, QUEUE, 0, "still served", 2000);
	bus_close(b);
}

/* buscli list as uid, its stderr into *r. */
static int cli_as_main(void *arg)
{
	struct e2e *e = arg;
	char path[400];
	int fd;

	snprintf(path, sizeof(path), "%s/cli-as.err", e->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0 || become(ATTACKER) < 0 || dup2(fd, STDERR_FILENO) < 0)
		return 120;
	execl(e->buscli_path, e->buscli_path, "--socket", e->socket, "list",
	      (char *)NULL);
	return 121;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	static char buf[8192];
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* --- the tests --- */

static void idle_flood(void **state)
{
	struct e2e *e = *state;
	struct attacker a;
	struct tally t;
	char path[400];
	const char *err;
	pid_t pid;

	pid = attacker_start(e, &a, ATTACKER, FLOOD, true);
	attacker_tally(&a, &t);
	fprintf(stderr, "idle flood: %d held, %d refused (too many), %d other (%s)\n",
	        t.ok, t.edquot, t.other, t.other ? bus_strerror(t.other_rc) : "-");
	root_is_served(e);
	assert_int_equal(t.ok, PER_UID);
	assert_int_equal(t.edquot, FLOOD - PER_UID);
	assert_int_equal(t.other, 0);

	/* buscli as the flooder: one clear line. */
	assert_int_equal(e2e_wait(e, e2e_fork(e, cli_as_main, e), 30), 1);
	snprintf(path, sizeof(path), "%s/cli-as.err", e->dir);
	err = slurp(path);
	assert_non_null(err);
	fprintf(stderr, "buscli as uid %u: %s", ATTACKER, err);
	assert_non_null(strstr(err, "too many connections from uid 65534"));
	assert_int_equal(e2e_count_lines(err, strlen(err)), 1);
	attacker_stop(e, &a, pid);
}

static void no_hello_flood(void **state)
{
	struct e2e *e = *state;
	struct attacker a;
	struct tally t;
	pid_t pid;

	pid = attacker_start(e, &a, ATTACKER, FLOOD, false);
	attacker_tally(&a, &t);
	fprintf(stderr, "no-hello flood: %d held, %d refused (too many), %d other (%d)\n",
	        t.ok, t.edquot, t.other, t.other_rc);
	root_is_served(e);
	assert_int_equal(t.ok, PER_UID);
	assert_int_equal(t.edquot, FLOOD - PER_UID);
	assert_int_equal(t.other, 0);

	attacker_go(&a);
	attacker_tally(&a, &t);
	fprintf(stderr, "no-hello flood: %d closed for want of a hello after %d ms\n",
	        t.timedout, t.elapsed_ms);
	assert_int_equal(t.timedout, PER_UID);
	assert_true(t.elapsed_ms >= HELLO_MS - 500);
	attacker_stop(e, &a, pid);
	root_is_served(e);
}

static void many_uids(void **state)
{
	enum {
		ROOT_HELD = 10,
		UIDS = 3
	};
	struct e2e *e = *state;
	struct attacker a[UIDS];
	bus_queue_info qi[4];
	pid_t pid[UIDS];
	bus *held[ROOT_HELD];
	bus_producer *p = NULL;
	int ok = 0, edquot = 0;

	/* busd said at start what produce without consume means. */
	assert_true(e2e_log_count(e, "event=queue.produce_only", NULL) > 0);
	assert_true(e2e_log_count(e, "who=\"uid:4242\"", NULL) > 0);

	for (int i = 0; i < ROOT_HELD; i++)
		assert_int_equal(bus_open(e->socket, &held[i]), 0);
	for (int i = 0; i < UIDS; i++) {
		struct tally t;

		pid[i] = attacker_start(e, &a[i], ATTACKER - (uid_t)i, PER_UID, true);
		attacker_tally(&a[i], &t);
		ok += t.ok;
		edquot += t.edquot;
		assert_int_equal(t.other, 0);
	}
	/* 10 + 24 > 32: the last two pushed out root's longest-idle two. */
	fprintf(stderr, "many uids: %d held, %d refused\n", ok, edquot);
	assert_int_equal(ok, UIDS * PER_UID);
	assert_true(e2e_log_count(e, "connection limit reached", NULL) > 0);

	/* Root's evicted connections work again, transparently. */
	assert_int_equal(bus_queue_list(held[0], qi, 4), 1);
	assert_string_equal(qi[0].name, QUEUE);
	assert_int_equal(bus_producer_open(held[1], QUEUE, &p), 0);
	bus_producer_close(p);
	for (int i = 0; i < ROOT_HELD; i++) {
		int n = bus_queue_list(held[i], qi, 4);

		if (n != 1)
			fprintf(stderr, "held[%d]: %s (%s)\n", i, bus_strerror(n),
			        bus_last_error(held[i]));
		assert_int_equal(n, 1);
	}
	root_is_served(e);
	for (int i = 0; i < ROOT_HELD; i++)
		bus_close(held[i]);
	/* Newest first: a child holds copies of its elders' pipes. */
	for (int i = UIDS - 1; i >= 0; i--)
		attacker_stop(e, &a[i], pid[i]);
}

/* --- garbage --- */

static size_t log_lines(const struct e2e *e, const char *needle, size_t *bytes)
{
	FILE *f = fopen(e->log, "r");
	char line[4096];
	size_t n = 0, total = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		total += strlen(line);
		if (!needle || strstr(line, needle))
			n++;
	}
	fclose(f);
	if (bytes)
		*bytes = total;
	return n;
}

struct garbage {
	struct e2e *e;
	uid_t uid;
	int conns;
	int packets; /* per connection */
};

/* Sends undecodable packets on each connection, reading each answer. */
static int garbage_main(void *arg)
{
	struct garbage *g = arg;
	int fds[64];

	if (g->conns > 64 || become(g->uid) < 0)
		return 10;
	for (int i = 0; i < g->conns; i++) {
		fds[i] = raw_connect(g->e->socket);
		if (fds[i] < 0)
			return 11;
	}
	for (int k = 0; k < g->packets; k++) {
		for (int i = 0; i < g->conns; i++) {
			uint64_t id;
			int err;

			if (send(fds[i], "\xff\xff\xff garbage", 11, MSG_NOSIGNAL) != 11)
				return 12;
			if (read_response(fds[i], 10000, &err, &id) != 1 || err != -EBADMSG)
				return 13;
		}
	}
	for (int i = 0; i < g->conns; i++)
		close(fds[i]);
	return 0;
}

static void garbage_from(struct e2e *e, int conns, int packets)
{
	struct garbage g = {.e = e, .uid = ATTACKER, .conns = conns, .packets = packets};

	assert_int_equal(e2e_wait(e, e2e_fork(e, garbage_main, &g), 120), 0);
}

static void garbage(void **state)
{
	/* Connections of one uid are at most PER_UID: several uids for many. */
	const int few = 3, packets = E2E_SCALE(5000, 1000);
	struct e2e *e = *state;
	size_t before, after, bytes, bad;
	uint64_t t0 = e2e_now_ms(), secs;

	before = log_lines(e, "event=packet.bad", NULL);
	garbage_from(e, few, packets);
	/* Let busd see the closes and report what it held back. */
	e2e_sleep_ms(1500);
	after = log_lines(e, "event=packet.bad", &bytes);
	secs = (e2e_now_ms() - t0) / 1000 + 1;
	bad = after - before;
	fprintf(stderr, "garbage: %d x %d packets -> %zu packet.bad lines in %llu s, "
	                "log %zu bytes\n",
	        few, packets, bad, (unsigned long long)secs, bytes);
	assert_true(bad <= (size_t)few * (CLIENT_BURST + CLIENT_PER_S * secs));
	assert_true(e2e_log_count(e, "event=log.suppressed", NULL) > 0);
	assert_true(e2e_log_count(e, "suppressed=", NULL) > 0);
	assert_true(bytes < 256 * 1024);
	root_is_served(e);
}

static void garbage_many(void **state)
{
	struct e2e *e = *state;
	size_t before, after, bad;
	uint64_t t0 = e2e_now_ms(), secs;
	int conns = 0;
	pid_t pids[8];
	int n = 0;

	/* 4 connections from each of 6 uids, 20 lines each: more than all may log. */
	before = log_lines(e, "event=packet.bad", NULL);
	for (int u = 0; u < 6; u++) {
		static struct garbage g[6];

		g[u] = (struct garbage){
			.e = e,
			.uid = ATTACKER - (uid_t)u,
			.conns = PER_UID / 2,
			.packets = 100,
		};
		conns += g[u].conns;
		pids[n++] = e2e_fork(e, garbage_main, &g[u]);
	}
	for (int i = 0; i < n; i++)
		assert_int_equal(e2e_wait(e, pids[i], 120), 0);
	e2e_sleep_ms(1500);
	after = log_lines(e, "event=packet.bad", NULL);
	secs = (e2e_now_ms() - t0) / 1000 + 1;
	bad = after - before;
	fprintf(stderr, "garbage from %d connections: %zu packet.bad lines in %llu s\n",
	        conns, bad, (unsigned long long)secs);
	assert_true(bad <= ALL_BURST + ALL_PER_S * secs);
	assert_true(e2e_log_count(e, "msg=\"log lines of clients suppressed", NULL) > 0);
	root_is_served(e);
}

/* --- NUL in strings --- */

/*
 * Sends a request packed from req with every "aXb" in it turned into
 * "a\0b" on the wire (protobuf-c cannot pack a string with a NUL), and
 * returns busd's error; *msg gets its message.
 */
static int send_nul(struct e2e *e, BusControl__Request *req, char *msg, size_t n)
{
	static uint8_t buf[CONTROL_MAX_PACKET];
	static _Alignas(16) uint8_t arena[CONTROL_ARENA];
	BusControl__Response *r;
	size_t len;
	ssize_t got;
	int fd = raw_connect(e->socket);

	assert_true(fd >= 0);
	req->version = CONTROL_VERSION;
	req->id = 7;
	len = protobuf_c_message_pack(&req->base, buf);
	for (size_t i = 0; i + 2 < len; i++)
		if (memcmp(buf + i, "aXb", 3) == 0)
			buf[i + 1] = '\0';
	assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
	got = recv(fd, buf, sizeof(buf), 0);
	assert_true(got > 0);
	assert_int_equal(control_decode_response(buf, (size_t)got, arena, sizeof(arena), &r), 0);
	assert_int_equal(r->id, 7);
	snprintf(msg, n, "%s", r->message ? r->message : "");
	close(fd);
	return r->error;
}

static void nul_strings(void **state)
{
	struct e2e *e = *state;
	BusControl__Request req = BUS_CONTROL__REQUEST__INIT;
	BusControl__CreateQueue cq = BUS_CONTROL__CREATE_QUEUE__INIT;
	BusControl__DeleteQueue dq = BUS_CONTROL__DELETE_QUEUE__INIT;
	BusControl__ListQueues lq = BUS_CONTROL__LIST_QUEUES__INIT;
	BusControl__Attach at = BUS_CONTROL__ATTACH__INIT;
	bus_queue_info qi[8];
	char msg[512];
	int rc, n;
	bus *b;

	cq.name = "aXb";
	req.op_case = BUS_CONTROL__REQUEST__OP_CREATE;
	req.create = &cq;
	rc = send_nul(e, &req, msg, sizeof(msg));
	fprintf(stderr, "create 'a\\0b': %s: %s\n", bus_strerror(rc), msg);
	assert_int_equal(rc, -EINVAL);
	assert_non_null(strstr(msg, "NUL"));
	assert_non_null(strstr(msg, "name"));
	b = e2e_open(e);
	n = bus_queue_list(b, qi, 8);
	assert_int_equal(n, 1); /* the config's queue alone */
	assert_string_equal(qi[0].name, QUEUE);
	assert_int_equal(e2e_shm_count(e, "a"), 0);

	/* With a queue "a" there, "a\0b" must not reach it either. */
	assert_int_equal(bus_queue_create(b, "a", NULL, NULL), 0);
	at.name = "aXb";
	at.role = BUS_CONTROL__ROLE__ROLE_PRODUCER;
	req.op_case = BUS_CONTROL__REQUEST__OP_ATTACH;
	req.attach = &at;
	assert_int_equal(send_nul(e, &req, msg, sizeof(msg)), -EINVAL);
	dq.name = "aXb";
	req.op_case = BUS_CONTROL__REQUEST__OP_DELETE;
	req.delete_ = &dq;
	assert_int_equal(send_nul(e, &req, msg, sizeof(msg)), -EINVAL);
	lq.after = "aXb";
	req.op_case = BUS_CONTROL__REQUEST__OP_LIST;
	req.list = &lq;
	assert_int_equal(send_nul(e, &req, msg, sizeof(msg)), -EINVAL);
	assert_int_equal(bus_queue_list(b, qi, 8), 2);
	assert_string_equal(qi[0].name, "a");
	assert_int_equal(bus_queue_delete(b, "a"), 0);
	bus_close(b);
	root_is_served(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(idle_flood, setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(no_hello_flood, setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(many_uids, setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(garbage, setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(garbage_many, setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(nul_strings, setup, e2e_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

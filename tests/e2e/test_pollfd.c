/*
 * test_pollfd.c - the consumer's descriptor (bus_consumer_fd) with real
 * processes and a real busd: every way an event loop waits, and
 * everything that must make it readable.
 *
 *  - poll_wakes: armed by a receive that found nothing, the descriptor is
 *    not readable until another process commits a message, then is; the
 *    receive that drains the queue empties it again.
 *  - epoll_edge: four producer processes send in bursts with pauses while
 *    the consumer waits in an edge-triggered epoll loop; every message
 *    arrives once, in each producer's order, and no wait hangs.
 *  - select_level: the same with select(2) and one producer.
 *  - delete_wakes: a queue deleted while the consumer waits makes the
 *    descriptor readable and the receive says -EPIPE.
 *  - busd_restart: busd is killed while the consumer waits; a producer
 *    attached through the restarted busd wakes it within 100 ms.
 *  - consumer_replaced: a consumer killed while armed is replaced; the
 *    new one's descriptor is woken by the next message.
 *  - bare_segment: a handle opened on a bare segment descriptor has no
 *    wake descriptor: -EOPNOTSUPP.
 *  - producer_poll: a producer's descriptor (bus_producer_fd), armed by a
 *    send that found the queue full, is not readable until the consumer
 *    (another process) releases room, then is, and the send succeeds.
 *  - producers_mixed: two producer processes, of 64-byte and 4 KiB
 *    messages, each in its own poll loop on a small queue, against a
 *    consumer that releases in small steps: every message arrives, no
 *    poll times out (each producer has a socket of its own: one cannot
 *    swallow the other's wake).
 *  - producer_deleted: a queue deleted while a producer polls wakes it,
 *    and its send says -EPIPE.
 *  - producer_bare: a producer opened on a bare segment has a descriptor
 *    too (it needs no busd), woken by a consumer opened the same way.
 *  - fifo_private: the wake FIFO beside the segment is a FIFO of busd's
 *    uid, mode 0600; run as root, a process of another uid cannot open it.
 *  - example_epoll: clients/examples/epoll-consumer on two queues against
 *    four producer processes: every message once, in each producer's
 *    order; then, the queues idle for 2 s, under 20 ms of its CPU time (no
 *    busy polling); SIGTERM ends it with exit 0 and its counts.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "harness.h"

#define NPROD  4
#define PER    E2E_SCALE(20000, 2000)
#define BURST  500
#define WAIT_S E2E_SCALE(30, 120)

static bool readable(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

struct prod_arg {
	const char *socket;
	const char *queue;
	int id, count, pause_ms;
};

/* A producer process: count messages "pID SEQ", a pause every BURST. */
static int producer(void *arg)
{
	const struct prod_arg *a = arg;
	bus_producer *p;
	char buf[32];
	bus *b;

	if (bus_open(a->socket, &b) < 0 || bus_producer_open(b, a->queue, &p) < 0)
		return 2;
	if (a->pause_ms)
		e2e_sleep_ms((unsigned)a->pause_ms);
	for (int i = 0; i < a->count; i++) {
		int n = snprintf(buf, sizeof(buf), "p%d %d", a->id, i);

		if (bus_send(p, 1, buf, (size_t)n, -1) < 0)
			return 3;
		if (i % BURST == BURST - 1)
			e2e_sleep_ms(1 + (unsigned)(i / BURST) % 3);
	}
	bus_producer_close(p);
	bus_close(b);
	return 0;
}

/* Checks a received message against next[] (per-producer order). */
static void check_msg(const bus_msg *m, int nprod, int *next)
{
	char text[32];
	int k, i;

	assert_true(m->len < sizeof(text));
	memcpy(text, m->data, m->len);
	text[m->len] = '\0';
	assert_true(e2e_parse_pmsg(text, nprod, &k, &i));
	assert_int_equal(i, next[k]);
	next[k]++;
}

/* Receives until -EAGAIN; returns how many came. */
static int drain(bus_consumer *c, int nprod, int *next)
{
	bus_msg m;
	int n = 0, r;

	while ((r = bus_recv(c, &m, 0)) == 0) {
		check_msg(&m, nprod, next);
		bus_release(c);
		n++;
	}
	assert_int_equal(r, -EAGAIN);
	return n;
}

static void open_consumer(struct e2e *e, const char *queue, bus **b,
                          bus_consumer **c, int *fd)
{
	e2e_create(e, queue, "64K");
	*b = e2e_open(e);
	assert_int_equal(bus_consumer_open(*b, queue, c), 0);
	*fd = bus_consumer_fd(*c);
	assert_true(*fd >= 0);
	/* The same descriptor every time. */
	assert_int_equal(bus_consumer_fd(*c), *fd);
}

static void poll_wakes(void **state)
{
	struct e2e *e = *state;
	struct prod_arg a = {e->socket, "pw", 0, 1, 200};
	int next[1] = {0}, fd;
	bus_consumer *c;
	bus_msg m;
	pid_t pid;
	bus *b;

	open_consumer(e, "pw", &b, &c, &fd);
	assert_int_equal(bus_recv(c, &m, 0), -EAGAIN);
	assert_false(readable(fd, 0));
	pid = e2e_fork(e, producer, &a);
	assert_true(readable(fd, WAIT_S * 1000));
	assert_int_equal(drain(c, 1, next), 1);
	/* The receive that found nothing emptied and re-armed it. */
	assert_false(readable(fd, 0));
	assert_int_equal(e2e_wait(e, pid, WAIT_S), 0);
	bus_consumer_close(c);
	bus_close(b);
}

static void epoll_edge(void **state)
{
	struct e2e *e = *state;
	struct prod_arg a[NPROD];
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET}, out;
	int next[NPROD] = {0}, fd, ep, got = 0, wakes = 0;
	pid_t pids[NPROD];
	bus_consumer *c;
	bus *b;

	open_consumer(e, "et", &b, &c, &fd);
	ep = epoll_create1(EPOLL_CLOEXEC);
	assert_true(ep >= 0);
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
	for (int k = 0; k < NPROD; k++) {
		a[k] = (struct prod_arg){e->socket, "et", k, PER, 50};
		pids[k] = e2e_fork(e, producer, &a[k]);
	}
	/* Edge-triggered: drain until -EAGAIN after every event. */
	got += drain(c, NPROD, next);
	while (got < NPROD * PER) {
		int n = epoll_wait(ep, &out, 1, WAIT_S * 1000);

		if (n < 0 && errno == EINTR)
			continue;
		/* A timeout here is a lost wakeup. */
		assert_int_equal(n, 1);
		wakes++;
		got += drain(c, NPROD, next);
	}
	for (int k = 0; k < NPROD; k++) {
		assert_int_equal(next[k], PER);
		assert_int_equal(e2e_wait(e, pids[k], WAIT_S), 0);
	}
	print_message("epoll_edge: %d messages, %d wakes\n", got, wakes);
	close(ep);
	bus_consumer_close(c);
	bus_close(b);
}

static void select_level(void **state)
{
	struct e2e *e = *state;
	struct prod_arg a = {e->socket, "sel", 0, PER / 4, 50};
	int next[1] = {0}, fd, got = 0;
	bus_consumer *c;
	pid_t pid;
	bus *b;

	open_consumer(e, "sel", &b, &c, &fd);
	assert_true(fd < FD_SETSIZE);
	pid = e2e_fork(e, producer, &a);
	got += drain(c, 1, next);
	while (got < PER / 4) {
		fd_set r;
		struct timeval tv = {.tv_sec = WAIT_S};
		int n;

		FD_ZERO(&r);
		FD_SET(fd, &r);
		n = select(fd + 1, &r, NULL, NULL, &tv);
		if (n < 0 && errno == EINTR)
			continue;
		assert_int_equal(n, 1);
		got += drain(c, 1, next);
	}
	assert_int_equal(e2e_wait(e, pid, WAIT_S), 0);
	bus_consumer_close(c);
	bus_close(b);
}

struct del_arg {
	const char *socket;
	const char *queue;
};

static int deleter(void *arg)
{
	const struct del_arg *a = arg;
	bus *b;

	e2e_sleep_ms(200);
	if (bus_open(a->socket, &b) < 0)
		return 2;
	if (bus_queue_delete(b, a->queue) < 0)
		return 3;
	bus_close(b);
	return 0;
}

static void delete_wakes(void **state)
{
	struct e2e *e = *state;
	struct del_arg a = {e->socket, "del"};
	bus_consumer *c;
	bus_msg m;
	pid_t pid;
	bus *b;
	int fd;

	open_consumer(e, "del", &b, &c, &fd);
	assert_int_equal(bus_recv(c, &m, 0), -EAGAIN);
	pid = e2e_fork(e, deleter, &a);
	assert_true(readable(fd, WAIT_S * 1000));
	assert_int_equal(bus_recv(c, &m, 0), -EPIPE);
	assert_int_equal(e2e_wait(e, pid, WAIT_S), 0);
	bus_consumer_close(c);
	bus_close(b);
}

static void busd_restart(void **state)
{
	struct e2e *e = *state;
	struct prod_arg a = {e->socket, "rs", 0, 1, 0};
	int next[1] = {0}, fd;
	bus_consumer *c;
	uint64_t t0;
	bus_msg m;
	pid_t pid;
	bus *b;

	open_consumer(e, "rs", &b, &c, &fd);
	assert_int_equal(bus_recv(c, &m, 0), -EAGAIN);
	e2e_busd_kill(e);
	e2e_busd_start(e);
	/* A starting busd wakes consumers to look for dead producers' claims. */
	assert_int_equal(bus_recv(c, &m, 0), -EAGAIN);
	assert_false(readable(fd, 0));
	/* Attached through the new busd, after the restart. */
	pid = e2e_fork(e, producer, &a);
	assert_int_equal(e2e_wait(e, pid, WAIT_S), 0);
	t0 = e2e_now_ms();
	assert_true(readable(fd, 100));
	assert_true(e2e_now_ms() - t0 <= 100);
	assert_int_equal(drain(c, 1, next), 1);
	bus_consumer_close(c);
	bus_close(b);
}

struct armed_arg {
	const char *socket;
	const char *queue;
	int ready; /* write end of a pipe: a byte once armed */
};

/*
 * A consumer that arms its descriptor, says so, and waits to be killed.
 * Opens alike to the other children here and to test_rpc.c's
 * caller_then_hang on purpose: each exit code names its step.
 */
static int armed_consumer(void *arg)
{
	const struct armed_arg *a = arg;
	bus_consumer *c;
	bus_msg m;
	bus *b;

	if (bus_open(a->socket, &b) < 0 || bus_consumer_open(b, a->queue, &c) < 0)
		return 2;
	if (bus_consumer_fd(c) < 0 || bus_recv(c, &m, 0) != -EAGAIN)
		return 3;
	if (write(a->ready, "r", 1) != 1)
		return 4;
	for (;;)
		pause();
}

static void consumer_replaced(void **state)
{
	struct e2e *e = *state;
	struct prod_arg pa = {e->socket, "rep", 0, 1, 0};
	struct armed_arg ca = {e->socket, "rep", -1};
	int next[1] = {0}, fd, ready[2];
	bus_consumer *c;
	char byte;
	bus_msg m;
	pid_t pid;
	bus *b;

	e2e_create(e, "rep", "64K");
	b = e2e_open(e);
	assert_int_equal(pipe(ready), 0);
	ca.ready = ready[1];
	pid = e2e_fork(e, armed_consumer, &ca);
	close(ready[1]);
	/* Armed, with its bits in the wait word: kill it there. */
	assert_int_equal(read(ready[0], &byte, 1), 1);
	close(ready[0]);
	assert_int_equal(bus_consumer_open(b, "rep", &c), -EBUSY);
	kill(pid, SIGKILL);
	assert_int_equal(e2e_wait(e, pid, WAIT_S), 1000 + SIGKILL);
	assert_int_equal(bus_consumer_open(b, "rep", &c), 0);
	fd = bus_consumer_fd(c);
	assert_true(fd >= 0);
	assert_int_equal(bus_recv(c, &m, 0), -EAGAIN);
	assert_false(readable(fd, 0));
	pid = e2e_fork(e, producer, &pa);
	assert_true(readable(fd, WAIT_S * 1000));
	assert_int_equal(drain(c, 1, next), 1);
	assert_int_equal(e2e_wait(e, pid, WAIT_S), 0);
	bus_consumer_close(c);
	bus_close(b);
}

static void bare_segment(void **state)
{
	struct e2e *e = *state;
	char path[512];
	bus_consumer *c;
	int fd;

	e2e_create(e, "bare", "64K");
	assert_true(e2e_shm_path(e, "bare", path, sizeof(path)));
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(bus_consumer_open_fd(fd, &c), 0);
	assert_int_equal(bus_consumer_fd(c), -EOPNOTSUPP);
	assert_int_equal(bus_consumer_fd(NULL), -EINVAL);
	bus_consumer_close(c);
}

/* Sends with timeout 0 until the queue is full; returns how many went. */
static int fill(bus_producer *p, size_t size)
{
	static char buf[4096];
	int n = 0, r;

	while ((r = bus_send(p, 1, buf, size, 0)) == 0)
		n++;
	assert_int_equal(r, -EAGAIN);
	return n;
}

struct slow_arg {
	const char *socket;
	const char *queue;
	int count;
};

/* Child processes open alike on purpose: each exit code names its step. */
/* A consumer that waits 200 ms, then receives and releases count. */
static int slow_consumer(void *arg)
{
	const struct slow_arg *a = arg;
	bus_consumer *c;
	bus_msg m;
	bus *b;

	if (bus_open(a->socket, &b) < 0 || bus_consumer_open(b, a->queue, &c) < 0)
		return 2;
	e2e_sleep_ms(200);
	for (int i = 0; i < a->count; i++) {
		if (bus_recv(c, &m, 5000) < 0)
			return 3;
		bus_release(c);
	}
	bus_consumer_close(c);
	bus_close(b);
	return 0;
}

/* A producer of a new queue (64K) on a new connection *b; its fd in *fd. */
static bus_producer *new_producer(struct e2e *e, const char *queue, bus **b, int *fd)
{
	bus_producer *p;

	e2e_create(e, queue, "64K");
	*b = e2e_open(e);
	assert_int_equal(bus_producer_open(*b, queue, &p), 0);
	*fd = bus_producer_fd(p);
	assert_true(*fd >= 0);
	return p;
}

/*
 * The full producer's fd wakes (child pid made room, or deleted the
 * queue), a one-byte send then returns want, and pid exits 0.
 */
static void send_after_wake(struct e2e *e, bus *b, bus_producer *p, int fd, pid_t pid,
                            int want)
{
	char byte = 0;

	assert_true(readable(fd, WAIT_S * 1000));
	assert_int_equal(bus_send(p, 1, &byte, 1, 0), want);
	assert_int_equal(e2e_wait(e, pid, WAIT_S), 0);
	bus_producer_close(p);
	bus_close(b);
}

static void producer_poll(void **state)
{
	struct e2e *e = *state;
	struct slow_arg a = {e->socket, "pp", 10};
	bus_producer *p;
	pid_t pid;
	bus *b;
	int fd;

	p = new_producer(e, "pp", &b, &fd);
	assert_int_equal(bus_producer_fd(p), fd);
	assert_true(fill(p, 64) > 100);
	assert_false(readable(fd, 0));
	pid = e2e_fork(e, slow_consumer, &a);
	send_after_wake(e, b, p, fd, pid, 0);
}

struct loop_arg {
	const char *socket;
	const char *queue;
	int id, count;
	size_t size;
};

/* A producer in a poll loop: count messages of size, "pID SEQ" first. */
static int poll_producer(void *arg)
{
	const struct loop_arg *a = arg;
	static char buf[4096];
	bus_producer *p;
	int fd, r;
	bus *b;

	if (bus_open(a->socket, &b) < 0 || bus_producer_open(b, a->queue, &p) < 0)
		return 2;
	fd = bus_producer_fd(p);
	if (fd < 0)
		return 3;
	for (int i = 0; i < a->count;) {
		int n = snprintf(buf, sizeof(buf), "p%d %d", a->id, i);

		memset(buf + n, 0, a->size - (size_t)n);
		r = bus_send(p, 1, buf, a->size, 0);
		if (r == 0) {
			i++;
			continue;
		}
		if (r != -EAGAIN)
			return 4;
		/* A lost wake would leave us here. */
		if (!readable(fd, WAIT_S * 1000))
			return 5;
	}
	bus_producer_close(p);
	bus_close(b);
	return 0;
}

static void producers_mixed(void **state)
{
	struct e2e *e = *state;
	struct loop_arg a[2] = {
		{e->socket, "mix", 0, E2E_SCALE(4000, 1000), 64},
		{e->socket, "mix", 1, E2E_SCALE(4000, 1000), 4096},
	};
	int next[2] = {0}, total = a[0].count + a[1].count;
	bus_consumer *c;
	pid_t pids[2];
	bus *b;

	e2e_create(e, "mix", "64K");
	b = e2e_open(e);
	assert_int_equal(bus_consumer_open(b, "mix", &c), 0);
	for (int k = 0; k < 2; k++)
		pids[k] = e2e_fork(e, poll_producer, &a[k]);
	for (int got = 0; got < total; got++) {
		char text[32];
		bus_msg m;
		int k, i;

		assert_int_equal(bus_recv(c, &m, WAIT_S * 1000), 0);
		assert_true(m.len >= 4);
		memcpy(text, m.data, sizeof(text) - 1);
		text[sizeof(text) - 1] = '\0';
		text[strnlen(text, sizeof(text) - 1)] = '\0';
		assert_true(e2e_parse_pmsg(text, 2, &k, &i));
		assert_int_equal(m.len, a[k].size);
		assert_int_equal(i, next[k]);
		next[k]++;
		/* Release in small steps, so the producers fill it again. */
		bus_release(c);
		if (got % 64 == 63)
			e2e_sleep_ms(1);
	}
	for (int k = 0; k < 2; k++)
		assert_int_equal(e2e_wait(e, pids[k], WAIT_S), 0);
	bus_consumer_close(c);
	bus_close(b);
}

static void producer_deleted(void **state)
{
	struct e2e *e = *state;
	struct del_arg a = {e->socket, "pdel"};
	bus_producer *p;
	pid_t pid;
	bus *b;
	int fd;

	p = new_producer(e, "pdel", &b, &fd);
	fill(p, 64);
	pid = e2e_fork(e, deleter, &a);
	send_after_wake(e, b, p, fd, pid, -EPIPE);
}

static void producer_bare(void **state)
{
	struct e2e *e = *state;
	char path[512], byte = 0;
	bus_producer *p;
	bus_consumer *c;
	int sfd, cfd, pfd;
	bus_msg m;

	e2e_create(e, "pbare", "64K");
	assert_true(e2e_shm_path(e, "pbare", path, sizeof(path)));
	sfd = open(path, O_RDWR | O_CLOEXEC);
	cfd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(sfd >= 0 && cfd >= 0);
	assert_int_equal(bus_producer_open_fd(sfd, &p), 0);
	assert_int_equal(bus_consumer_open_fd(cfd, &c), 0);
	pfd = bus_producer_fd(p);
	assert_true(pfd >= 0);
	assert_int_equal(bus_producer_fd(NULL), -EINVAL);
	fill(p, 64);
	assert_false(readable(pfd, 0));
	assert_int_equal(bus_recv(c, &m, 0), 0);
	bus_release(c);
	assert_true(readable(pfd, 1000));
	assert_int_equal(bus_send(p, 1, &byte, 1, 0), 0);
	bus_producer_close(p);
	bus_consumer_close(c);
}

/* Opens path (the argument) as uid 65534; exits with errno, 0 if opened. */
static int open_as_other(void *arg)
{
	int fd;

	if (setgid(65534) < 0 || setuid(65534) < 0)
		return 100;
	fd = open(arg, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	return fd >= 0 ? 0 : errno;
}

static void fifo_private(void **state)
{
	struct e2e *e = *state;
	char path[512];
	struct stat st;

	e2e_create(e, "priv", "64K");
	assert_true(e2e_shm_path(e, "priv", path, sizeof(path) - 8));
	strcat(path, ".wake");
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_uid, geteuid());
	if (geteuid() != 0) {
		print_message("fifo_private: not root, the other uid is not tried\n");
		return;
	}
	assert_int_equal(e2e_wait(e, e2e_fork(e, open_as_other, path), WAIT_S), EACCES);
}

#define EX_PER E2E_SCALE(5000, 1000)

/* utime + stime of pid, in milliseconds (/proc/PID/stat). */
static long cpu_ms(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	/* After the command's closing parenthesis: state, then 12 fields on. */
	p = strrchr(buf, ')');
	assert_non_null(p);
	p += 2;
	for (int field = 0; field < 11; field++) {
		p = strchr(p, ' ');
		assert_non_null(p);
		p++;
	}
	ut = strtoul(p, &p, 10);
	st = strtoul(p, NULL, 10);
	return (long)((ut + st) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

static void example_epoll(void **state)
{
	struct e2e *e = *state;
	const char *exe = getenv("EPOLL_CONSUMER");
	char *argv[] = {(char *)exe, "qa", "qb", NULL};
	struct prod_arg a[NPROD];
	int next[NPROD] = {0}, status;
	char *buf = NULL, *line, *save;
	size_t len = 0, cap = 0, lines = 0;
	struct e2e_run r = {0};
	struct e2e_proc ec;
	pid_t pids[NPROD];
	bus_consumer *c;
	long before;
	bus *b;

	/* meson sets it; without it the test cannot say anything. */
	assert_non_null(exe);
	e2e_create(e, "qa", "64K");
	e2e_create(e, "qb", "64K");
	assert_int_equal(setenv("BUS_SOCKET", e->socket, 1), 0);
	e2e_spawn(e, &ec, argv, false, true, true);
	/* Attached to both once a second consumer is refused. */
	b = e2e_open(e);
	for (int i = 0; i < WAIT_S * 100; i++) {
		int ra = bus_consumer_open(b, "qa", &c);

		if (ra == 0)
			bus_consumer_close(c);
		if (ra == -EBUSY && bus_consumer_open(b, "qb", &c) == -EBUSY)
			break;
		if (ra == -EBUSY)
			bus_consumer_close(c);
		e2e_sleep_ms(10);
	}
	for (int k = 0; k < NPROD; k++) {
		a[k] = (struct prod_arg){e->socket, k % 2 ? "qb" : "qa", k, EX_PER, 0};
		pids[k] = e2e_fork(e, producer, &a[k]);
	}
	while (lines < (size_t)NPROD * EX_PER) {
		assert_int_equal(e2e_read_lines(ec.out, &buf, &len, &cap,
		                                (size_t)NPROD * EX_PER, WAIT_S * 1000),
		                 0);
		lines = e2e_count_lines(buf, len);
		assert_true(lines > 0);
	}
	assert_int_equal(lines, (size_t)NPROD * EX_PER);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *space = strchr(line, ' ');
		int k, i;

		assert_non_null(space);
		*space = '\0';
		assert_true(e2e_parse_pmsg(space + 1, NPROD, &k, &i));
		assert_string_equal(line, k % 2 ? "qb" : "qa");
		assert_int_equal(i, next[k]);
		next[k]++;
	}
	for (int k = 0; k < NPROD; k++) {
		assert_int_equal(next[k], EX_PER);
		assert_int_equal(e2e_wait(e, pids[k], WAIT_S), 0);
	}
	/* Idle: only the 1 s timer may cost it anything. */
	before = cpu_ms(ec.pid);
	e2e_sleep_ms(2000);
	print_message("example_epoll: %ld ms of CPU in 2 s idle\n", cpu_ms(ec.pid) - before);
	assert_true(cpu_ms(ec.pid) - before < 20);
	kill(ec.pid, SIGTERM);
	e2e_communicate(e, &ec, NULL, 0, WAIT_S, &r);
	status = r.status;
	assert_int_equal(status, 0);
	assert_non_null(strstr(r.err, "received: qa"));
	{
		unsigned long long na, nb;
		const char *last = r.err, *p;

		while ((p = strstr(last + 1, "received: ")))
			last = p;
		char *end;

		assert_int_equal(strncmp(last, "received: qa ", 13), 0);
		na = strtoull(last + 13, &end, 10);
		assert_int_equal(strncmp(end, ", qb ", 5), 0);
		nb = strtoull(end + 5, NULL, 10);
		assert_int_equal(na + nb, (unsigned long long)NPROD * EX_PER);
	}
	e2e_run_free(&r);
	free(buf);
	bus_close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		E2E_TEST(poll_wakes),
		E2E_TEST(epoll_edge),
		E2E_TEST(select_level),
		E2E_TEST(delete_wakes),
		E2E_TEST(busd_restart),
		E2E_TEST(consumer_replaced),
		E2E_TEST(bare_segment),
		E2E_TEST(producer_poll),
		E2E_TEST(producers_mixed),
		E2E_TEST(producer_deleted),
		E2E_TEST(producer_bare),
		E2E_TEST(fifo_private),
		E2E_TEST(example_epoll),
	};

	return E2E_RUN_GROUP("e2e pollfd", tests);
}

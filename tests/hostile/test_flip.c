/*
 * test_flip.c - a producer flips segment header fields while others
 * attach, read stats and adopt the segment (issue: validate a copy).
 *
 * Every process that maps a segment validates its header, and must then
 * use only what it validated: a producer can write the whole segment, so
 * a field read a second time may have changed between the two reads.
 * Here an attacker process flips one identity field of a live queue's
 * header between its right value and a wild one, as fast as it can,
 * while other processes:
 *
 *  - attach producers to the segment directly (bus_producer_open_fd),
 *    send, and close, in a tight loop;
 *  - attach the consumer the same way, receive and release;
 *  - read stats from the segment (bus_stats_read_fd);
 *  - run buscli stats, publish and recv through busd;
 *  - restart busd, which adopts the segment.
 *
 * Each of them may be refused (-EBADMSG: the header it read was wild),
 * and none may die.  Once the attacker stops, every message a send
 * reported as sent is received: nothing is lost.
 *
 * Cases, one field each: ring_offset, slots_offset, capacity,
 * max_producers, max_message, and the queue name without its NUL.
 */
#include <errno.h>
#include <fcntl.h>
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "harness.h"
#include "segment.h"

#define QUEUE     "flip"
#define FLIP_MS   E2E_SCALE(1500, 1500)
#define RESTARTS  E2E_SCALE(8, 3)
#define CLI_RUNS  E2E_SCALE(12, 4)
#define MSG_BYTES 64
/* what buscli publishes: MSG_BYTES characters, as the producers send */
#define CLI_MSG   "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
_Static_assert(sizeof(CLI_MSG) == MSG_BYTES + 1, "one message size");

/* What the processes of one case share (an anonymous shared mapping). */
struct shared {
	_Atomic int stop;         /* the attacker has stopped: finish up */
	_Atomic uint64_t sent;    /* sends that returned 0 */
	_Atomic uint64_t got;     /* messages received */
	_Atomic uint64_t refused; /* attaches refused (-EBADMSG, -EPROTO) */
	_Atomic uint64_t attached;
};

enum field {
	F_RING_OFFSET,
	F_SLOTS_OFFSET,
	F_CAPACITY,
	F_MAX_PRODUCERS,
	F_MAX_MESSAGE,
	F_NAME,
};

struct flip_case {
	struct e2e *e;
	struct shared *sh;
	char path[300]; /* /dev/shm/... of the queue */
	enum field field;
	const char *what;
};

static int open_segment(const struct flip_case *c)
{
	return open(c->path, O_RDWR | O_CLOEXEC);
}

/*
 * The attacker: maps the header and writes the field's right and wild
 * values in turn until FLIP_MS have passed, then leaves the right one.
 */
static int attacker(void *arg)
{
	struct flip_case *c = arg;
	int fd = open_segment(c);
	volatile struct seg_header *h;
	uint64_t good64 = 0, until = e2e_now_ms() + FLIP_MS;
	uint32_t good32 = 0;
	char good_name[sizeof(h->name)];

	if (fd < 0)
		return 10;
	h = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		return 11;
	memcpy(good_name, (const void *)h->name, sizeof(good_name));
	switch (c->field) {
	case F_RING_OFFSET:
		good64 = h->ring_offset;
		break;
	case F_SLOTS_OFFSET:
		good64 = h->slots_offset;
		break;
	case F_CAPACITY:
		good64 = h->capacity;
		break;
	case F_MAX_PRODUCERS:
		good32 = h->max_producers;
		break;
	case F_MAX_MESSAGE:
		good32 = h->max_message;
		break;
	case F_NAME:
		break;
	}
	for (unsigned i = 0;; i++) {
		bool wild = i & 1;

		if ((i & 1023) == 0 && e2e_now_ms() > until)
			wild = false;
		switch (c->field) {
		case F_RING_OFFSET:
			h->ring_offset = wild ? UINT64_C(1) << 40 : good64;
			break;
		case F_SLOTS_OFFSET:
			h->slots_offset = wild ? UINT64_C(1) << 40 : good64;
			break;
		case F_CAPACITY:
			h->capacity = wild ? UINT64_C(1) << 29 : good64;
			break;
		case F_MAX_PRODUCERS:
			h->max_producers = wild ? 1000000u : good32;
			break;
		case F_MAX_MESSAGE:
			h->max_message = wild ? 0x7fff0000u : good32;
			break;
		case F_NAME:
			if (wild)
				memset((void *)h->name, 'A', sizeof(h->name));
			else
				memcpy((void *)h->name, good_name, sizeof(good_name));
			break;
		}
		if ((i & 1023) == 0 && e2e_now_ms() > until)
			break;
	}
	atomic_store(&c->sh->stop, 1);
	return 0;
}

static void count_attach(struct shared *sh, int rc)
{
	if (rc == 0)
		atomic_fetch_add(&sh->attached, 1);
	else if (rc == -EBADMSG || rc == -EPROTO)
		atomic_fetch_add(&sh->refused, 1);
}

/* Attaches, sends one message, detaches; again and again. */
static int producer(void *arg)
{
	struct flip_case *c = arg;
	char msg[MSG_BYTES];

	memset(msg, 'p', sizeof(msg));
	while (!atomic_load(&c->sh->stop)) {
		bus_producer *p;
		int fd = open_segment(c), rc;

		if (fd < 0)
			return 20;
		rc = bus_producer_open_fd(fd, &p);
		count_attach(c->sh, rc);
		if (rc < 0) {
			close(fd);
			if (rc != -EBADMSG && rc != -EPROTO && rc != -EUSERS)
				return 21;
			continue;
		}
		rc = bus_send(p, 0, msg, sizeof(msg), 0);
		if (rc == 0)
			atomic_fetch_add(&c->sh->sent, 1);
		else if (rc != -EAGAIN)
			return 22;
		bus_producer_close(p);
	}
	return 0;
}

/*
 * Attaches the consumer (again every 64 messages) and receives until
 * the attacker has stopped and every sent message has come.
 */
static int consumer(void *arg)
{
	struct flip_case *c = arg;
	uint64_t deadline = 0;

	for (;;) {
		bus_consumer *cons;
		int fd = open_segment(c), rc;

		if (fd < 0)
			return 30;
		rc = bus_consumer_open_fd(fd, &cons);
		count_attach(c->sh, rc);
		if (rc < 0) {
			close(fd);
			if (rc != -EBADMSG && rc != -EPROTO)
				return 31;
			continue;
		}
		for (int i = 0; i < 64; i++) {
			bus_msg m;

			rc = bus_recv(cons, &m, 20);
			if (rc == -ETIMEDOUT)
				break;
			if (rc < 0)
				return 32;
			if (m.len != MSG_BYTES)
				return 33;
			bus_release(cons);
			atomic_fetch_add(&c->sh->got, 1);
		}
		bus_consumer_close(cons);
		if (atomic_load(&c->sh->stop)) {
			if (!deadline)
				deadline = e2e_now_ms() + 20000;
			if (atomic_load(&c->sh->got) >= atomic_load(&c->sh->sent) &&
			    atomic_load(&c->sh->stop) == 2)
				return 0;
			if (e2e_now_ms() > deadline) {
				fprintf(stderr, "consumer: %llu of %llu messages came\n",
				        (unsigned long long)atomic_load(&c->sh->got),
				        (unsigned long long)atomic_load(&c->sh->sent));
				return 34;
			}
		}
	}
}

/* Reads the segment's stats directly, again and again. */
static int stats_reader(void *arg)
{
	struct flip_case *c = arg;

	while (!atomic_load(&c->sh->stop)) {
		bus_stats st;
		int fd = open_segment(c), rc;

		if (fd < 0)
			return 40;
		rc = bus_stats_read_fd(fd, &st);
		close(fd);
		count_attach(c->sh, rc);
		if (rc < 0 && rc != -EBADMSG && rc != -EPROTO)
			return 41;
		if (rc == 0 && (memchr(st.name, 0, sizeof(st.name)) == NULL ||
		                st.capacity != 4096))
			return 42;
	}
	return 0;
}

/* buscli through busd: may be refused, must not die. */
static void cli_round(struct flip_case *c)
{
	static const char *const cmds[][4] = {
		{"stats", QUEUE, NULL, NULL},
		{"stats", "--json", NULL, NULL},
		{"publish", QUEUE, CLI_MSG, NULL},
	};

	for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++) {
		struct e2e_run r;

		e2e_cli_v(c->e, &r, NULL, 0, 30, (char *const *)cmds[k]);
		if (r.status != 0 && r.status != 1) {
			e2e_dump_log(c->e);
			fail_msg("%s: buscli %s exited %d: %s", c->what, cmds[k][0],
			         r.status, r.err);
		}
		/* A publish that succeeded is one more message to receive. */
		if (r.status == 0 && strcmp(cmds[k][0], "publish") == 0)
			atomic_fetch_add(&c->sh->sent, 1);
		e2e_run_free(&r);
	}
}

static void expect_exit0(struct flip_case *c, pid_t pid, const char *who)
{
	int st = e2e_wait(c->e, pid, 120);

	if (st != 0) {
		e2e_dump_log(c->e);
		fail_msg("%s: the %s exited with %d (1000 + signal if killed)", c->what,
		         who, st);
	}
}

static void run_case(void **state, enum field field, const char *what)
{
	struct e2e *e = *state;
	struct flip_case c = {.e = e, .field = field, .what = what};
	pid_t att, prod[2], cons, stats;

	c.sh = mmap(NULL, sizeof(*c.sh), PROT_READ | PROT_WRITE,
	            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(c.sh != MAP_FAILED);
	e2e_create(e, QUEUE, "4K");
	assert_true(e2e_shm_path(e, QUEUE, c.path, sizeof(c.path)));

	att = e2e_fork(e, attacker, &c);
	for (int i = 0; i < 2; i++)
		prod[i] = e2e_fork(e, producer, &c);
	stats = e2e_fork(e, stats_reader, &c);
	cons = e2e_fork(e, consumer, &c);
	/* busd adopts the segment while it flips */
	for (int i = 0; i < RESTARTS && !atomic_load(&c.sh->stop); i++) {
		int st = e2e_busd_stop(e);

		if (st != 0)
			fail_msg("%s: busd exited with %d when stopped", what, st);
		e2e_busd_start(e);
	}
	for (int i = 0; i < CLI_RUNS && !atomic_load(&c.sh->stop); i++)
		cli_round(&c);
	expect_exit0(&c, att, "attacker");
	for (int i = 0; i < 2; i++)
		expect_exit0(&c, prod[i], "producer");
	expect_exit0(&c, stats, "stats reader");
	/* The header is right again: busd must still serve the queue. */
	if (e2e_busd_stop(e) != 0)
		fail_msg("%s: busd did not stop cleanly", what);
	e2e_busd_start(e);
	atomic_store(&c.sh->stop, 2);
	expect_exit0(&c, cons, "consumer");
	assert_int_equal(atomic_load(&c.sh->got), atomic_load(&c.sh->sent));
	fprintf(stderr,
	        "%s: %llu sent and received, %llu attaches, %llu refused\n", what,
	        (unsigned long long)atomic_load(&c.sh->sent),
	        (unsigned long long)atomic_load(&c.sh->attached),
	        (unsigned long long)atomic_load(&c.sh->refused));
	/* Attacks came through: some attaches saw the wild value. */
	assert_true(atomic_load(&c.sh->refused) > 0);
	munmap(c.sh, sizeof(*c.sh));
}

/* One function a case, alike on purpose: cmocka reports each by name. */
static void flip_ring_offset(void **state)
{
	run_case(state, F_RING_OFFSET, "ring_offset");
}

static void flip_slots_offset(void **state)
{
	run_case(state, F_SLOTS_OFFSET, "slots_offset");
}

static void flip_capacity(void **state)
{
	run_case(state, F_CAPACITY, "capacity");
}

static void flip_max_producers(void **state)
{
	run_case(state, F_MAX_PRODUCERS, "max_producers");
}

static void flip_max_message(void **state)
{
	run_case(state, F_MAX_MESSAGE, "max_message");
}

static void flip_name(void **state)
{
	run_case(state, F_NAME, "name");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		E2E_TEST(flip_ring_offset),
		E2E_TEST(flip_slots_offset),
		E2E_TEST(flip_capacity),
		E2E_TEST(flip_max_producers),
		E2E_TEST(flip_max_message),
		E2E_TEST(flip_name),
	};

	return E2E_RUN_GROUP("hostile flip", tests);
}

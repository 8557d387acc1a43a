/*
 * test_rpc_torture.c - request and reply while callers and the service
 * are SIGKILLed at random instants, with a real busd (the e2e harness).
 *
 * One service process consumes queue "svc" and answers every request
 * with the request's payload followed by its 64-bit FNV-1a checksum, of
 * type ~(request type).  NCALLERS caller processes (slots) make calls
 * with bus_client_call() and a timeout; each question is unique to its
 * (slot, incarnation pid, call index, random salt) and each answer is
 * checked to be exactly its question's: a caller that gets another
 * question's answer prints it and exits with MISMATCH_EXIT.
 *
 * The parent SIGKILLs a random caller or the service NKILLS times, at
 * random points of the run's progress (a third of the kills the
 * service's), and starts a replacement at once: a caller slot goes on until it has
 * CALLS answers in all (its incarnations together); a new service takes
 * over the queue and answers the requests the dead one held (they come
 * again, flagged BUS_MSG_REDELIVERED).  After each caller kill the
 * parent waits until busd has deleted that caller's reply queue (its
 * segment and FIFO in /dev/shm, named after the caller's pid).
 *
 * Once, chaos paused, a "stuck" caller sends STUCK_N large requests with
 * bus_client_send() and never reads: its reply queue fills and the
 * service's bus_reply (timeout REPLY_TIMEOUT_MS) waits for room.  The
 * parent then kills it.  The service measures every bus_reply: how long
 * it ran after its caller was killed (the parent notes each kill's
 * instant before the kill) must stay under DEAD_MAX_MS, well under the
 * reply timeout, so a service that waited on a dead caller's full queue
 * fails here.
 *
 * At the end: no mismatch, every slot answered CALLS times, the service
 * never timed out a reply, no reply queue left in /dev/shm (only the
 * service queue's names), and a summary line with the figures.
 *
 * BUS_TORTURE_SEED=N replays the parent's random choices (printed).
 */
#include <dirent.h>
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "harness.h"

#define QUEUE            "svc"
#define QUEUE_CAPACITY   (128 * 1024)
#define NCALLERS         8
#define CALLS            E2E_SCALE(10000, 1000)
#define CALL_TIMEOUT_MS  E2E_SCALE(5000, 10000)
#define REPLY_TIMEOUT_MS 10000 /* the service's wait for room in a reply queue */
#define DEAD_MAX_MS      1000  /* the longest a reply may run after its caller died */
#define WAIT_S           E2E_SCALE(30, 120)
#define DEADLINE_S       E2E_SCALE(120, 400) /* the whole run */
#define NKILLS           E2E_SCALE(36, 18)   /* a third of them the service's */
#define MAX_KILLS        (NKILLS + 8)
#define STUCK_SLOT       NCALLERS
#define STUCK_N          24
#define STUCK_LEN        8000
#define MAGIC            0x52504354u /* "RPCT" */
#define MISMATCH_EXIT    3

/* A question: this header, then pad bytes derived from it. */
struct question {
	uint32_t magic;
	uint32_t slot;
	int32_t pid;
	uint32_t idx;
	uint64_t salt;
	uint32_t len; /* the whole question's length */
	uint32_t type;
};

struct kill_note {
	_Atomic int32_t pid;
	_Atomic uint64_t t_us; /* e2e clock, microseconds */
};

struct shared {
	_Atomic uint64_t answered[NCALLERS];
	_Atomic uint64_t timeouts[NCALLERS];
	_Atomic uint64_t mismatches;
	_Atomic int stop_service;
	/* the service, all incarnations */
	_Atomic uint64_t svc_ok;
	_Atomic uint64_t svc_epipe;
	_Atomic uint64_t svc_timedout;
	_Atomic uint64_t svc_redelivered;
	_Atomic uint64_t svc_bad;
	_Atomic uint64_t max_reply_us;      /* any reply but the stuck one's while it lived */
	_Atomic uint64_t max_after_kill_us; /* a reply's run after its caller's kill */
	_Atomic uint64_t stuck_ok;
	_Atomic uint64_t stuck_epipe;
	_Atomic uint64_t stuck_blocked_us;  /* longest stuck reply while it lived */
	_Atomic uint64_t in_reply_since_us; /* 0: not in bus_reply */
	_Atomic uint32_t in_reply_slot;
	/* the stuck caller */
	_Atomic int stuck_sent;
	/* kills, noted by the parent before each */
	_Atomic uint32_t nkills;
	struct kill_note kills[MAX_KILLS];
	char first_mismatch[512];
};

static struct shared *sh;
static const char *sock;
static unsigned seed;
static int slot_arg[NCALLERS + 1];

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void max_store(_Atomic uint64_t *m, uint64_t v)
{
	uint64_t cur = atomic_load(m);

	while (v > cur && !atomic_compare_exchange_weak(m, &cur, v))
		;
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3u;
	return h;
}

/* Builds question into buf; returns its length. */
static size_t make_question(uint8_t *buf, uint32_t slot, uint32_t idx,
                            uint64_t salt, size_t len)
{
	struct question q = {
		.magic = MAGIC,
		.slot = slot,
		.pid = (int32_t)getpid(),
		.idx = idx,
		.salt = salt,
		.len = (uint32_t)len,
		.type = (uint32_t)(salt >> 32) | 1u,
	};

	memcpy(buf, &q, sizeof(q));
	for (size_t i = sizeof(q); i < len; i++)
		buf[i] = (uint8_t)(salt >> (8 * (i % 8))) ^ (uint8_t)i;
	return len;
}

static bool question_ok(const uint8_t *buf, size_t len, struct question *q)
{
	if (len < sizeof(*q))
		return false;
	memcpy(q, buf, sizeof(*q));
	if (q->magic != MAGIC || q->len != len || q->slot > STUCK_SLOT)
		return false;
	for (size_t i = sizeof(*q); i < len; i++)
		if (buf[i] != ((uint8_t)(q->salt >> (8 * (i % 8))) ^ (uint8_t)i))
			return false;
	return true;
}

/* The answer: the question, then its checksum. */
static size_t make_answer(const uint8_t *qbuf, size_t len, uint8_t *out)
{
	uint64_t h = fnv1a(qbuf, len);

	memcpy(out, qbuf, len);
	memcpy(out + len, &h, sizeof(h));
	return len + sizeof(h);
}

/* The instant the parent killed pid (0 if it did not). */
static uint64_t kill_instant(int32_t pid)
{
	uint32_t n = atomic_load(&sh->nkills);

	for (uint32_t i = n; i-- > 0;)
		if (atomic_load(&sh->kills[i].pid) == pid)
			return atomic_load(&sh->kills[i].t_us);
	return 0;
}

static int service_main(void *arg)
{
	static uint8_t out[QUEUE_CAPACITY];
	bus_consumer *c = NULL;
	uint64_t deadline = e2e_now_ms() + DEADLINE_S * 1000u;
	bus *b;

	(void)arg;
	if (bus_open(sock, &b) < 0)
		return 10;
	/* the dead service's lease may take an instant to go */
	for (;;) {
		int rc = bus_consumer_open(b, QUEUE, &c);

		if (rc == 0)
			break;
		if (rc != -EBUSY || e2e_now_ms() > deadline) {
			fprintf(stderr, "service: attach: %s\n", bus_strerror(rc));
			return 11;
		}
		e2e_sleep_ms(1);
	}
	/* a consumer's receive loop, as in test_torture.c on purpose: exit codes are the report */
	while (!atomic_load(&sh->stop_service)) {
		struct question q;
		uint64_t t0, t1, killed;
		size_t n;
		bus_msg m;
		int rc = bus_recv(c, &m, 50);

		if (rc == -ETIMEDOUT)
			continue;
		if (rc < 0) {
			fprintf(stderr, "service: recv: %s\n", bus_strerror(rc));
			return 12;
		}
		if (!(m.flags & BUS_MSG_REQUEST) || !question_ok(m.data, m.len, &q) ||
		    m.type != q.type) {
			atomic_fetch_add(&sh->svc_bad, 1);
			bus_release(c);
			continue;
		}
		if (m.flags & BUS_MSG_REDELIVERED)
			atomic_fetch_add(&sh->svc_redelivered, 1);
		n = make_answer(m.data, m.len, out);
		atomic_store(&sh->in_reply_slot, q.slot);
		t0 = now_us();
		atomic_store(&sh->in_reply_since_us, t0);
		rc = bus_reply(c, &m, ~m.type, out, n, REPLY_TIMEOUT_MS);
		t1 = now_us();
		atomic_store(&sh->in_reply_since_us, 0);
		bus_release(c);
		if (rc == 0) {
			atomic_fetch_add(q.slot == STUCK_SLOT ? &sh->stuck_ok : &sh->svc_ok, 1);
		} else if (rc == -EPIPE) {
			atomic_fetch_add(q.slot == STUCK_SLOT ? &sh->stuck_epipe : &sh->svc_epipe, 1);
		} else if (rc == -ETIMEDOUT) {
			atomic_fetch_add(&sh->svc_timedout, 1);
		} else {
			fprintf(stderr, "service: reply: %s\n", bus_strerror(rc));
			return 13;
		}
		/* how long it ran after its caller was killed, if it was */
		killed = kill_instant(q.pid);
		if (killed && killed < t1) {
			max_store(&sh->max_after_kill_us, t1 - (killed > t0 ? killed : t0));
			if (q.slot == STUCK_SLOT && killed > t0)
				max_store(&sh->stuck_blocked_us, killed - t0);
			else
				max_store(&sh->max_reply_us, t1 - t0);
		} else if (q.slot == STUCK_SLOT) {
			max_store(&sh->stuck_blocked_us, t1 - t0);
		} else {
			max_store(&sh->max_reply_us, t1 - t0);
		}
	}
	bus_consumer_close(c);
	bus_close(b);
	return 0;
}

static int caller_main(void *arg)
{
	uint32_t slot = (uint32_t) * (const int *)arg;
	uint64_t salt_state = (uint64_t)getpid() * 0x9e3779b97f4a7c15u ^ now_us();
	uint8_t qbuf[512];
	bus_client *cl;
	uint32_t idx = 0;
	bus *b;
	int rc;

	if (bus_open(sock, &b) < 0)
		return 10;
	rc = bus_client_open(b, QUEUE, &cl);
	if (rc < 0) {
		fprintf(stderr, "caller %u: client: %s\n", slot, bus_strerror(rc));
		return 11;
	}
	while (atomic_load(&sh->answered[slot]) < CALLS) {
		uint64_t salt, h;
		size_t len;
		bus_msg r;

		salt_state = salt_state * 6364136223846793005u + 1442695040888963407u;
		salt = salt_state ^ (salt_state >> 29);
		len = sizeof(struct question) + (size_t)(salt % 200);
		make_question(qbuf, slot, idx++, salt, len);
		rc = bus_client_call(cl, ((const struct question *)(void *)qbuf)->type, qbuf,
		                     len, &r, CALL_TIMEOUT_MS);
		if (rc == -ETIMEDOUT) {
			atomic_fetch_add(&sh->timeouts[slot], 1);
			continue;
		}
		if (rc < 0) {
			fprintf(stderr, "caller %u: call: %s\n", slot, bus_strerror(rc));
			return 12;
		}
		h = fnv1a(qbuf, len);
		if (r.len != len + 8 || memcmp(r.data, qbuf, len) != 0 ||
		    memcmp((const uint8_t *)r.data + len, &h, 8) != 0 ||
		    r.type != ~((const struct question *)(void *)qbuf)->type ||
		    !(r.flags & BUS_MSG_REPLY)) {
			struct question got = {0};

			if (r.len >= sizeof(got))
				memcpy(&got, r.data, sizeof(got));
			snprintf(sh->first_mismatch, sizeof(sh->first_mismatch),
			         "caller %u pid %d call %u (salt %016" PRIx64 ", %zu bytes): "
			         "answer of %zu bytes, type %08x flags %x, to slot %u pid %d "
			         "call %u salt %016" PRIx64,
			         slot, (int)getpid(), idx - 1, salt, len, r.len, r.type, r.flags,
			         got.slot, (int)got.pid, got.idx, got.salt);
			fprintf(stderr, "mismatch: %s\n", sh->first_mismatch);
			atomic_fetch_add(&sh->mismatches, 1);
			return MISMATCH_EXIT;
		}
		atomic_fetch_add(&sh->answered[slot], 1);
	}
	bus_client_close(cl);
	bus_close(b);
	return 0;
}

/* Sends STUCK_N large requests, never reads a reply, waits to be killed. */
static int stuck_main(void *arg)
{
	static uint8_t qbuf[STUCK_LEN];
	bus_client *cl;
	bus *b;

	(void)arg;
	if (bus_open(sock, &b) < 0 || bus_client_open(b, QUEUE, &cl) < 0)
		return 10;
	for (uint32_t i = 0; i < STUCK_N; i++) {
		uint64_t salt = now_us() * 0x9e3779b97f4a7c15u + i;
		size_t len = make_question(qbuf, STUCK_SLOT, i, salt, sizeof(qbuf));
		int rc = bus_client_send(
			cl, ((const struct question *)(void *)qbuf)->type, qbuf, len, NULL);

		if (rc < 0) {
			fprintf(stderr, "stuck caller: send: %s\n", bus_strerror(rc));
			return 11;
		}
	}
	atomic_store(&sh->stuck_sent, 1);
	for (;;)
		pause();
}

/*
 * Names in /dev/shm that start with prefix; with pid > 0, only reply
 * queues of pid's (prefix then "<32 hex of the service's uuid>.<pid, 8
 * hex><nonce, 8 hex>").
 */
static int count_names(const char *prefix, pid_t pid)
{
	DIR *d = opendir("/dev/shm");
	size_t pl = strlen(prefix);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		const char *rest = de->d_name + pl;
		char hex[9];

		if (strncmp(de->d_name, prefix, pl) != 0)
			continue;
		if (pid > 0) {
			if (strlen(rest) < 33 + 8)
				continue;
			memcpy(hex, rest + 33, 8);
			hex[8] = '\0';
			if ((pid_t)strtoul(hex, NULL, 16) != pid)
				continue;
		}
		n++;
	}
	closedir(d);
	return n;
}

/* Names in /dev/shm of this busd's reply queues; of pid's only if pid > 0. */
static int reply_names(const struct e2e *e, pid_t pid)
{
	char prefix[32];

	snprintf(prefix, sizeof(prefix), "bus.%08x..r.", e->instance);
	return count_names(prefix, pid);
}

/* Every name in /dev/shm of this busd; of queue "svc" only if svc. */
static int all_names(const struct e2e *e, bool svc)
{
	char prefix[64];

	snprintf(prefix, sizeof(prefix), svc ? "bus.%08x." QUEUE "." : "bus.%08x.", e->instance);
	return count_names(prefix, 0);
}

static void note_kill(pid_t pid)
{
	uint32_t n = atomic_load(&sh->nkills);

	assert_true(n < MAX_KILLS);
	atomic_store(&sh->kills[n].pid, (int32_t)pid);
	atomic_store(&sh->kills[n].t_us, now_us());
	atomic_store(&sh->nkills, n + 1);
	kill(pid, SIGKILL);
}

/*
 * Kills pid, reaps it, waits for busd to clean up.  It must die of the
 * kill, unless slot is a caller's that has all its answers: then it may
 * have finished just before (*finished is set).
 */
static uint64_t kill_caller(struct e2e *e, pid_t pid, int slot, const char *what,
                            bool *finished)
{
	uint64_t t0, deadline;
	int s;

	note_kill(pid);
	s = e2e_wait(e, pid, WAIT_S);
	*finished = s == 0 && slot >= 0 && slot < NCALLERS &&
	            atomic_load(&sh->answered[slot]) >= CALLS;
	if (s != 1000 + SIGKILL && !*finished)
		fail_msg("%s (pid %d) exited with status %d before its kill%s%s", what,
		         (int)pid, s, sh->first_mismatch[0] ? ": " : "", sh->first_mismatch);
	t0 = e2e_now_ms();
	deadline = t0 + (uint64_t)WAIT_S * 1000u;
	while (reply_names(e, pid) > 0) {
		if (e2e_now_ms() > deadline) {
			e2e_dump_log(e);
			fail_msg("busd left the reply queue of %s (pid %d) for %d s", what,
			         (int)pid, WAIT_S);
		}
		e2e_sleep_ms(1);
	}
	return e2e_now_ms() - t0;
}

/* Has pid exited (without reaping it)?  Its status, or -1 if it runs. */
static int exited(struct e2e *e, pid_t pid)
{
	siginfo_t si = {0};

	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid != pid)
		return -1;
	return e2e_wait(e, pid, WAIT_S);
}

/*
 * Kills the service (victim < 0) or caller victim if it still runs, and
 * starts a replacement at once.
 */
static void kill_one(struct e2e *e, int victim, pid_t *callers, bool *done,
                     int *ndone, pid_t *svc, int *caller_kills, int *service_kills,
                     uint64_t *notice_max)
{
	bool finished;

	if (victim < 0) {
		/* the service: a new one takes over the queue */
		note_kill(*svc);
		assert_int_equal(e2e_wait(e, *svc, WAIT_S), 1000 + SIGKILL);
		*svc = e2e_fork(e, service_main, NULL);
		(*service_kills)++;
	} else if (!done[victim]) {
		uint64_t ms = kill_caller(e, callers[victim], victim, "a caller", &finished);

		if (finished) {
			/* it exited with all its answers just before the kill */
			done[victim] = true;
			(*ndone)++;
			return;
		}
		if (ms > *notice_max)
			*notice_max = ms;
		(*caller_kills)++;
		callers[victim] = e2e_fork(e, caller_main, &slot_arg[victim]);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void rpc_torture(void **state)
{
	struct e2e *e = *state;
	bus_queue_opts qo = {.capacity = QUEUE_CAPACITY};
	pid_t callers[NCALLERS], svc;
	bool done[NCALLERS] = {false};
	int ndone = 0, caller_kills = 0, service_kills = 0, stuck_at, next_kill = 0;
	uint64_t plan[NKILLS];
	uint64_t t0 = e2e_now_ms(), deadline = t0 + DEADLINE_S * 1000u;
	uint64_t notice_max = 0, stuck_notice = 0, calls = 0, timeouts = 0;
	unsigned rs;
	bus_stats st;
	bus *b;

	seed = e2e_torture_seed("rpc-torture");
	rs = seed;
	sock = e->socket;
	sh = e2e_shared(sizeof(*sh));

	b = e2e_open(e);
	assert_int_equal(bus_queue_create(b, QUEUE, &qo, NULL), 0);

	svc = e2e_fork(e, service_main, NULL);
	for (int k = 0; k < NCALLERS; k++) {
		slot_arg[k] = k;
		callers[k] = e2e_fork(e, caller_main, &slot_arg[k]);
	}
	/*
	 * The kills come at random points of the run's progress (answered
	 * calls), a third of them the service's, so that a fast run has as
	 * many as a slow one; the stuck caller comes once, a third of the way.
	 */
	for (int i = 0; i < NKILLS; i++)
		plan[i] = (uint64_t)NCALLERS * CALLS / 20 +
		          (uint64_t)rand_r(&rs) % ((uint64_t)NCALLERS * CALLS * 8 / 10);
	qsort(plan, NKILLS, sizeof(plan[0]), cmp_u64);
	stuck_at = 1;
	while (ndone < NCALLERS) {
		uint64_t answered = 0;
		int victim;

		e2e_sleep_ms(1 + (unsigned)(rand_r(&rs) % 5));
		if (e2e_now_ms() > deadline)
			fail_msg("not done in %d s", DEADLINE_S);
		for (int k = 0; k < NCALLERS; k++) {
			int s;

			answered += atomic_load(&sh->answered[k]);
			if (done[k] || (s = exited(e, callers[k])) < 0)
				continue;
			if (s != 0)
				fail_msg("caller %d (pid %d) exited with status %d%s%s", k,
				         (int)callers[k], s, sh->first_mismatch[0] ? ": " : "",
				         sh->first_mismatch);
			done[k] = true;
			ndone++;
		}
		{
			int s = exited(e, svc);

			if (s >= 0)
				fail_msg("the service exited with status %d", s);
		}
		if (ndone == NCALLERS)
			break;

		if (stuck_at && answered >= (uint64_t)NCALLERS * CALLS / 3) {
			/* chaos paused: the stuck caller fills its reply queue, then dies */
			uint64_t d2 = e2e_now_ms() + (uint64_t)WAIT_S * 1000u;
			pid_t stuck;

			stuck_at = 0;
			slot_arg[STUCK_SLOT] = STUCK_SLOT;
			stuck = e2e_fork(e, stuck_main, &slot_arg[STUCK_SLOT]);
			while (!atomic_load(&sh->stuck_sent) && e2e_now_ms() < d2)
				e2e_sleep_ms(2);
			assert_true(atomic_load(&sh->stuck_sent));
			/* the service waits for room in the stuck caller's queue */
			for (;;) {
				uint64_t since = atomic_load(&sh->in_reply_since_us);

				if (since && atomic_load(&sh->in_reply_slot) == STUCK_SLOT &&
				    now_us() - since > 200000)
					break;
				if (e2e_now_ms() > d2)
					fail_msg("the service never waited on the stuck caller's full "
					         "reply queue (%" PRIu64 " replies to it went through)",
					         atomic_load(&sh->stuck_ok));
				e2e_sleep_ms(2);
			}
			{
				bool finished;

				stuck_notice = kill_caller(e, stuck, -1, "the stuck caller", &finished);
			}
			continue;
		}

		/* every kill whose point has passed, one after another */
		while (next_kill < NKILLS && answered >= plan[next_kill]) {
			victim = next_kill++ % 3 == 2 ? -1 : rand_r(&rs) % NCALLERS;
			for (int i = 0; victim >= 0 && done[victim] && i < NCALLERS; i++)
				victim = (victim + 1) % NCALLERS;
			kill_one(e, victim, callers, done, &ndone, &svc, &caller_kills,
			         &service_kills, &notice_max);
		}
	}
	/* every caller gone: no reply queue of theirs is left */
	atomic_store(&sh->stop_service, 1);
	assert_int_equal(e2e_wait(e, svc, WAIT_S), 0);
	assert_int_equal(bus_queue_stats(b, QUEUE, &st), 0);
	for (int k = 0; k < NCALLERS; k++) {
		calls += atomic_load(&sh->answered[k]);
		timeouts += atomic_load(&sh->timeouts[k]);
	}
	fprintf(stderr,
	        "rpc-torture: %" PRIu64 " calls answered, %" PRIu64 " timeouts, %" PRIu64
	        " mismatches; kills: %d callers, %d service, 1 stuck caller; "
	        "service: %" PRIu64 " replies, %" PRIu64 " dead, %" PRIu64
	        " redelivered requests, %" PRIu64 " reply timeouts; stats: requests %" PRIu64
	        ", replies %" PRIu64 ", late replies %" PRIu64 ", dead replies %" PRIu64
	        ", redelivered %" PRIu64 "; stuck caller: %" PRIu64 " replies, %" PRIu64
	        " dead, blocked %.1f ms while alive; longest reply %.1f ms, longest after "
	        "its caller's kill %.1f ms; busd noticed a caller's death in <= %" PRIu64
	        " ms (stuck: %" PRIu64 " ms); %.1f s\n",
	        calls, timeouts, atomic_load(&sh->mismatches), caller_kills, service_kills,
	        atomic_load(&sh->svc_ok), atomic_load(&sh->svc_epipe),
	        atomic_load(&sh->svc_redelivered), atomic_load(&sh->svc_timedout), st.requests,
	        st.replies, st.late_replies, st.dead_replies, st.redelivered,
	        atomic_load(&sh->stuck_ok), atomic_load(&sh->stuck_epipe),
	        (double)atomic_load(&sh->stuck_blocked_us) / 1000.0,
	        (double)atomic_load(&sh->max_reply_us) / 1000.0,
	        (double)atomic_load(&sh->max_after_kill_us) / 1000.0, notice_max, stuck_notice,
	        (double)(e2e_now_ms() - t0) / 1000.0);

	assert_int_equal(atomic_load(&sh->mismatches), 0);
	assert_int_equal(atomic_load(&sh->svc_bad), 0);
	for (int k = 0; k < NCALLERS; k++)
		assert_int_equal(atomic_load(&sh->answered[k]), CALLS);
	assert_true(stuck_at == 0);
	assert_int_equal(next_kill, NKILLS);
	assert_true(service_kills >= NKILLS / 3);
	/* the stuck caller's queue filled, and the reply waiting on it ended in -EPIPE */
	assert_true(atomic_load(&sh->stuck_epipe) >= 1);
	assert_true(atomic_load(&sh->stuck_ok) < STUCK_N);
	/* the service never waited on a dead caller, nor timed out on a live one */
	assert_true(atomic_load(&sh->max_after_kill_us) < DEAD_MAX_MS * 1000u);
	assert_true(atomic_load(&sh->max_reply_us) < DEAD_MAX_MS * 1000u);
	assert_int_equal(atomic_load(&sh->svc_timedout), 0);
	assert_true(st.dead_replies >= atomic_load(&sh->stuck_epipe));
	/*
	 * A late reply is a duplicate answer (a request redelivered after
	 * the service died having answered it) or one to a call that timed
	 * out: never more of them than of those.
	 */
	assert_true(st.late_replies <= st.redelivered + timeouts);
	assert_int_equal(st.broken, 0);
	assert_int_equal(st.corrupt, 0);
	/* no reply queue left: only the service queue's names remain */
	assert_int_equal(reply_names(e, 0), 0);
	assert_true(all_names(e, true) >= 1);
	assert_int_equal(all_names(e, false), all_names(e, true));

	assert_int_equal(bus_queue_delete(b, QUEUE), 0);
	bus_close(b);
	assert_int_equal(all_names(e, false), 0);
	munmap(sh, sizeof(*sh));
	sh = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		E2E_TEST(rpc_torture),
	};

	return E2E_RUN_GROUP("crash rpc torture", tests);
}

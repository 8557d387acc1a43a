/*
 * test_blocking.c - blocked processes sleep in the kernel and wake on time.
 *
 * (a) A forked consumer calls bus_recv(timeout -1) on an empty queue, with
 *     spin 0 and with the default spin.  The parent waits until the
 *     segment's cons.sleeps counter says it went to sleep, lets it sleep
 *     1 s, and checks that it is still blocked and burnt (almost) no CPU:
 *     the child measures its own thread CPU time around the call, and the
 *     parent reads the child's utime + stime from /proc/<pid>/stat.  Then
 *     the parent sends one message; the child must wake, receive exactly
 *     that message and exit 0 promptly.
 * (b) Two forked producers (spin 0) fill a 4 KiB queue and block on send
 *     (timeout -1).  The parent checks that they stay blocked for 300 ms
 *     (their completed-send counters stop) without using CPU, then
 *     consumes; both must complete every send, and everything must arrive
 *     exactly once, in order per producer.  The stats counters must show
 *     it: slot `full` and `blocked` >= 1, consumer `wakes` >= 1.
 *
 * A failure shows as a cmocka assertion in the parent, or as a child's
 * exit code (enums below; a message on stderr says more).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <cmocka.h>

#include "harness.h"

#define NS_PER_MS 1000000u
#define NO_CPU    UINT64_MAX

/* Bounds on the CPU a blocked process may use, generous on purpose. */
#define MAX_BLOCKED_CPU_NS (50u * NS_PER_MS)

/* Child exit codes. */
enum {
	EX_ATTACH = 10, /* could not attach */
	EX_RECV,        /* bus_recv failed */
	EX_PAYLOAD,     /* received something other than what was sent */
	EX_EXTRA,       /* a second message appeared */
	EX_SEND,        /* bus_send failed */
};

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The number (digits only) at *p, in *ret; moves *p past it. */
static bool stat_number(const char **p, unsigned long long *ret)
{
	char *end;

	if (**p < '0' || **p > '9')
		return false;
	errno = 0;
	*ret = strtoull(*p, &end, 10);
	*p = end;
	return errno != ERANGE;
}

/* utime + stime of a process in ns (clock ticks); NO_CPU if unreadable. */
static uint64_t proc_cpu_ns(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long ut = 0, st = 0;
	const char *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return NO_CPU;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/*
	 * Fields after the command name, which may hold spaces: from ')'.
	 * utime and stime are the 12th and 13th after it (proc(5)).
	 */
	p = strrchr(buf, ')');
	for (int field = 0; field < 12 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return NO_CPU;
	p++;
	if (!stat_number(&p, &ut) || *p++ != ' ' || !stat_number(&p, &st))
		return NO_CPU;
	return (ut + st) * (1000000000u / (uint64_t)sysconf(_SC_CLK_TCK));
}

static bool alive(pid_t pid)
{
	int st;

	return waitpid(pid, &st, WNOHANG) == 0;
}

/* A read-only look at a segment's counters, through its own mapping. */
static int seg_peek(const char *name, struct seg *s)
{
	const char *why = NULL;

	return seg_open_shm(name, s, &why);
}

/* Polls until *v >= want or timeout_ms passes; returns the last value. */
static uint64_t wait_at_least(_Atomic uint64_t *v, uint64_t want, int timeout_ms)
{
	uint64_t end = harness_now_ns() + (uint64_t)timeout_ms * NS_PER_MS;
	uint64_t x;

	while ((x = atomic_load(v)) < want && harness_now_ns() < end)
		usleep(1000);
	return x;
}

/* ---- (a) a blocked consumer ---- */

static const char wake_msg[] = "wake up";

struct idle_shared {
	_Atomic uint64_t ready;    /* the child is about to block */
	_Atomic uint64_t returned; /* bus_recv returned */
	_Atomic uint64_t cpu_ns;   /* thread CPU time spent in bus_recv */
	_Atomic uint64_t wall_ns;  /* wall time spent in bus_recv */
};

struct idle_run {
	const char *name;
	bool spin0;
	struct idle_shared *sh;
};

static int idle_consumer(void *arg)
{
	const struct idle_run *run = arg;
	uint64_t cpu0, t0;
	bus_consumer *c;
	bus_msg m;
	int r = harness_consumer(run->name, &c);

	if (r < 0) {
		fprintf(stderr, "consumer: attach: %s\n", bus_strerror(r));
		return EX_ATTACH;
	}
	if (run->spin0)
		bus_consumer_set_spin(c, 0);
	atomic_store(&run->sh->ready, 1);
	cpu0 = thread_cpu_ns();
	t0 = harness_now_ns();
	r = bus_recv(c, &m, -1);
	atomic_store(&run->sh->cpu_ns, thread_cpu_ns() - cpu0);
	atomic_store(&run->sh->wall_ns, harness_now_ns() - t0);
	atomic_store(&run->sh->returned, 1);
	if (r < 0) {
		fprintf(stderr, "consumer: bus_recv: %s\n", bus_strerror(r));
		bus_consumer_close(c);
		return EX_RECV;
	}
	if (m.len != sizeof(wake_msg) || memcmp(m.data, wake_msg, m.len) != 0 ||
	    m.type != 7 || m.seq != 0) {
		fprintf(stderr, "consumer: wrong message (len %zu, type %u)\n", m.len,
		        m.type);
		bus_consumer_close(c);
		return EX_PAYLOAD;
	}
	bus_release(c);
	r = bus_recv(c, &m, 0);
	bus_consumer_close(c);
	return r == -EAGAIN ? 0 : EX_EXTRA;
}

static void run_idle_consumer(bool spin0)
{
	struct seg_params params = {.name = "idle", .capacity = 4096};
	struct idle_shared *sh;
	struct idle_run run;
	bus_producer *p = NULL;
	uint64_t sleeps = 0, proc0, proc1, woke_ms = 0, slot_wakes = 0;
	bool blocked_after_1s, alive_after_1s;
	int status, send_rc = -1, peek_rc, prod_rc;
	struct seg s;
	char name[64];
	pid_t pid;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	assert_int_equal(harness_shm_new(name, sizeof(name), "idle", &params), 0);
	run = (struct idle_run){.name = name, .spin0 = spin0, .sh = sh};

	pid = harness_fork(idle_consumer, &run);
	if (pid < 0) {
		shm_unlink(name);
		fail_msg("fork: %s", strerror(errno));
	}
	peek_rc = seg_peek(name, &s);
	if (pid > 0 && peek_rc == 0) {
		/* Wait until it is in bus_recv and has gone to sleep. */
		wait_at_least(&sh->ready, 1, 10000);
		sleeps = wait_at_least(&s.hdr->cons.sleeps, 1, 10000);
	}
	proc0 = proc_cpu_ns(pid);
	sleep(1);
	proc1 = proc_cpu_ns(pid);
	blocked_after_1s = atomic_load(&sh->returned) == 0;
	alive_after_1s = alive(pid);

	prod_rc = harness_producer(name, &p);
	if (prod_rc == 0) {
		uint64_t t0 = harness_now_ns();

		send_rc = bus_send(p, 7, wake_msg, sizeof(wake_msg), 0);
		status = harness_wait(pid, 10);
		woke_ms = (harness_now_ns() - t0) / NS_PER_MS;
		slot_wakes = atomic_load(&s.slots[bus_producer_slot(p)].wakes);
		bus_producer_close(p);
	} else {
		kill(pid, SIGKILL);
		status = harness_wait(pid, 10);
	}
	if (peek_rc == 0) {
		sleeps = atomic_load(&s.hdr->cons.sleeps);
		seg_close(&s);
	}
	shm_unlink(name);

	printf("# spin %s: blocked %llu ms, thread CPU %llu us, process CPU over "
	       "1 s %llu ms, woke %llu ms after the send, %llu sleeps\n",
	       spin0 ? "0" : "default",
	       (unsigned long long)(atomic_load(&sh->wall_ns) / NS_PER_MS),
	       (unsigned long long)(atomic_load(&sh->cpu_ns) / 1000u),
	       (unsigned long long)((proc1 - proc0) / NS_PER_MS),
	       (unsigned long long)woke_ms, (unsigned long long)sleeps);

	assert_int_equal(peek_rc, 0);
	assert_int_equal(prod_rc, 0);
	assert_true(blocked_after_1s);
	assert_true(alive_after_1s);
	assert_int_equal(send_rc, 0);
	assert_int_equal(status, 0);
	assert_int_equal(atomic_load(&sh->returned), 1);
	/* It slept through the whole second, in the kernel, and at least once. */
	assert_true(atomic_load(&sh->wall_ns) >= 1000u * NS_PER_MS);
	assert_true(sleeps >= 1);
	assert_true(atomic_load(&sh->cpu_ns) < MAX_BLOCKED_CPU_NS);
	assert_true(proc0 != NO_CPU && proc1 != NO_CPU && proc1 >= proc0);
	assert_true(proc1 - proc0 < MAX_BLOCKED_CPU_NS);
	/* The send saw the sleeper and made the wake call. */
	assert_true(slot_wakes >= 1);
	munmap(sh, sizeof(*sh));
}

/* One function a case, alike on purpose: cmocka reports each by name. */
static void test_idle_consumer_no_spin(void **state)
{
	(void)state;
	run_idle_consumer(true);
}

static void test_idle_consumer_default_spin(void **state)
{
	(void)state;
	run_idle_consumer(false);
}

/* ---- (b) producers blocked on a full queue ---- */

#define NFULL     2
#define FULL_MSGS 200
#define FULL_LEN  120

struct full_shared {
	_Atomic uint64_t sent[NFULL];        /* completed sends */
	_Atomic uint32_t slot[NFULL];        /* slot + 1 */
	_Atomic uint64_t longest_ns[NFULL];  /* wall time of the longest send */
	_Atomic uint64_t longest_cpu[NFULL]; /* thread CPU time of that send */
};

struct full_run {
	const char *name;
	int id;
	struct full_shared *sh;
};

static void fill_payload(uint8_t *buf, int id, uint64_t counter)
{
	for (size_t i = 0; i < FULL_LEN; i++)
		buf[i] = (uint8_t)(id * 31 + counter * 7 + i);
	memcpy(buf, &counter, sizeof(counter));
	buf[8] = (uint8_t)id;
}

static int full_producer(void *arg)
{
	const struct full_run *run = arg;
	struct full_shared *sh = run->sh;
	uint8_t buf[FULL_LEN];
	bus_producer *p;
	int r = harness_producer(run->name, &p);

	if (r < 0) {
		fprintf(stderr, "producer %d: attach: %s\n", run->id, bus_strerror(r));
		return EX_ATTACH;
	}
	bus_producer_set_spin(p, 0);
	atomic_store(&sh->slot[run->id], bus_producer_slot(p) + 1);
	for (uint64_t i = 0; i < FULL_MSGS; i++) {
		uint64_t t0, cpu0, ns, cpu;

		fill_payload(buf, run->id, i);
		t0 = harness_now_ns();
		cpu0 = thread_cpu_ns();
		r = bus_send(p, 9, buf, sizeof(buf), -1);
		cpu = thread_cpu_ns() - cpu0;
		ns = harness_now_ns() - t0;
		if (r < 0) {
			fprintf(stderr, "producer %d: send: %s\n", run->id, bus_strerror(r));
			bus_producer_close(p);
			return EX_SEND;
		}
		if (ns > atomic_load(&sh->longest_ns[run->id])) {
			atomic_store(&sh->longest_cpu[run->id], cpu);
			atomic_store(&sh->longest_ns[run->id], ns);
		}
		atomic_fetch_add(&sh->sent[run->id], 1);
	}
	bus_producer_close(p);
	return 0;
}

/* The first failure of the parent's consume loop, asserted after cleanup. */
struct consume_result {
	int rc;  /* 0, or the bus_recv error */
	int bad; /* 0, or 1 + the index of the first bad message */
	uint64_t got[NFULL];
	int extra; /* bus_recv after the end: should be -EAGAIN */
};

static void consume_all(bus_consumer *c, const struct full_shared *sh,
                        struct consume_result *res)
{
	uint64_t next[NFULL] = {0};
	uint8_t want[FULL_LEN];
	bus_msg m;

	memset(res, 0, sizeof(*res));
	for (int i = 0; i < NFULL * FULL_MSGS; i++) {
		uint64_t counter;
		int id;

		/* A deadline, not -1: a stuck producer must not hang the parent. */
		res->rc = bus_recv(c, &m, 10000);
		if (res->rc < 0)
			return;
		if (m.len != FULL_LEN || m.type != 9) {
			res->bad = i + 1;
			return;
		}
		memcpy(&counter, m.data, sizeof(counter));
		id = ((const uint8_t *)m.data)[8];
		if (id >= NFULL || counter != next[id] || m.seq != counter ||
		    m.producer + 1 != atomic_load(&sh->slot[id])) {
			res->bad = i + 1;
			return;
		}
		fill_payload(want, id, counter);
		if (memcmp(want, m.data, FULL_LEN) != 0) {
			res->bad = i + 1;
			return;
		}
		next[id]++;
		/* Release in uneven batches: every 1st to 5th message. */
		if (i % 5 != 3)
			bus_release(c);
	}
	bus_release(c);
	memcpy(res->got, next, sizeof(next));
	res->extra = bus_recv(c, &m, 0);
}

static void test_full_queue_producers_block(void **state)
{
	struct seg_params params = {.name = "full", .capacity = 4096};
	struct full_run runs[NFULL];
	struct full_shared *sh;
	struct consume_result res = {0};
	uint64_t sent0[NFULL], sent1[NFULL], cpu0[NFULL], cpu1[NFULL];
	uint64_t full[NFULL] = {0}, blocked[NFULL] = {0}, cons_wakes = 0;
	bool all_blocked = true, alive_after = true;
	int status[NFULL], peek_rc, cons_rc;
	bus_consumer *c = NULL;
	pid_t pids[NFULL];
	struct seg s;
	char name[64];

	(void)state;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	assert_int_equal(harness_shm_new(name, sizeof(name), "full", &params), 0);

	for (int i = 0; i < NFULL; i++) {
		runs[i] = (struct full_run){.name = name, .id = i, .sh = sh};
		pids[i] = harness_fork(full_producer, &runs[i]);
		if (pids[i] < 0) {
			for (int j = 0; j < i; j++) {
				kill(pids[j], SIGKILL);
				harness_wait(pids[j], 10);
			}
			shm_unlink(name);
			fail_msg("fork: %s", strerror(errno));
		}
	}
	peek_rc = seg_peek(name, &s);

	/* Wait until both producers have announced themselves asleep. */
	for (int i = 0; i < NFULL && peek_rc == 0; i++) {
		uint64_t end = harness_now_ns() + 10000u * NS_PER_MS;
		uint32_t slot;

		while ((slot = atomic_load(&sh->slot[i])) == 0 &&
		       harness_now_ns() < end)
			usleep(1000);
		if (slot == 0 || wait_at_least(&s.slots[slot - 1].blocked, 1,
		                               10000) < 1)
			all_blocked = false;
	}
	/* Give them time to fall asleep, then watch them for 300 ms. */
	usleep(50000);
	for (int i = 0; i < NFULL; i++) {
		sent0[i] = atomic_load(&sh->sent[i]);
		cpu0[i] = proc_cpu_ns(pids[i]);
	}
	usleep(300000);
	for (int i = 0; i < NFULL; i++) {
		sent1[i] = atomic_load(&sh->sent[i]);
		cpu1[i] = proc_cpu_ns(pids[i]);
		alive_after = alive_after && alive(pids[i]);
	}

	cons_rc = harness_consumer(name, &c);
	if (cons_rc == 0) {
		consume_all(c, sh, &res);
		bus_consumer_close(c);
	}
	if (cons_rc < 0 || res.rc < 0 || res.bad) {
		for (int i = 0; i < NFULL; i++)
			kill(pids[i], SIGKILL);
	}
	for (int i = 0; i < NFULL; i++)
		status[i] = harness_wait(pids[i], 30);
	if (peek_rc == 0) {
		for (int i = 0; i < NFULL; i++) {
			uint32_t slot = atomic_load(&sh->slot[i]);

			if (slot == 0)
				continue;
			full[i] = atomic_load(&s.slots[slot - 1].full);
			blocked[i] = atomic_load(&s.slots[slot - 1].blocked);
		}
		cons_wakes = atomic_load(&s.hdr->cons.wakes);
		seg_close(&s);
	}
	shm_unlink(name);

	for (int i = 0; i < NFULL; i++)
		printf("# producer %d: %llu sent before blocking, full %llu, blocked "
		       "%llu, CPU while watched %llu ms, longest send %llu ms "
		       "(CPU %llu us)\n",
		       i, (unsigned long long)sent0[i],
		       (unsigned long long)full[i], (unsigned long long)blocked[i],
		       (unsigned long long)((cpu1[i] - cpu0[i]) / NS_PER_MS),
		       (unsigned long long)(atomic_load(&sh->longest_ns[i]) / NS_PER_MS),
		       (unsigned long long)(atomic_load(&sh->longest_cpu[i]) / 1000u));
	printf("# consumer wakes of producers: %llu\n", (unsigned long long)cons_wakes);

	assert_int_equal(peek_rc, 0);
	assert_true(all_blocked);
	assert_true(alive_after);
	assert_int_equal(cons_rc, 0);
	assert_int_equal(res.rc, 0);
	assert_int_equal(res.bad, 0);
	assert_int_equal(res.extra, -EAGAIN);
	for (int i = 0; i < NFULL; i++) {
		assert_int_equal(status[i], 0);
		/* Blocked: nothing completed while we watched... */
		assert_true(sent0[i] < FULL_MSGS);
		assert_int_equal(sent1[i], sent0[i]);
		/* ...and no CPU burnt meanwhile. */
		assert_true(cpu0[i] != NO_CPU && cpu1[i] != NO_CPU);
		assert_true(cpu1[i] >= cpu0[i]);
		assert_true(cpu1[i] - cpu0[i] < MAX_BLOCKED_CPU_NS);
		/* The send that blocked spanned the watch, asleep. */
		assert_true(atomic_load(&sh->longest_ns[i]) >= 300u * NS_PER_MS);
		assert_true(atomic_load(&sh->longest_cpu[i]) < MAX_BLOCKED_CPU_NS);
		assert_int_equal(atomic_load(&sh->sent[i]), FULL_MSGS);
		assert_int_equal(res.got[i], FULL_MSGS);
		assert_true(full[i] >= 1);
		assert_true(blocked[i] >= 1);
	}
	assert_true(cons_wakes >= 1);
	munmap(sh, sizeof(*sh));
}

HARNESS_MAIN(cmocka_unit_test(test_idle_consumer_no_spin),
             cmocka_unit_test(test_idle_consumer_default_spin),
             cmocka_unit_test(test_full_queue_producers_block))

/*
 * run.c - one run of a test between separate processes.
 *
 * The parent sets the channels up, forks the processes of the test, lets
 * each open its end of the channels and meet at a barrier in an anonymous
 * shared mapping (spin briefly, then sleep on a futex), so that process
 * start-up and attaching are never timed.  It then sleeps until they are
 * done, reaping them as SIGCHLD arrives, and kills them all if one fails
 * or the run overstays its deadline.  Children report figures and errors
 * through the same mapping; the parent reads them after waitpid().
 *
 * With run_opts.pin, a test of two processes (one producer, or a
 * ping-pong) runs them on two different CPUs, as a deployment that cares
 * would; left to itself, the scheduler sometimes starts both on one CPU
 * and a busy-polling pair then crawls.  Tests of more processes than that
 * are left to the scheduler.
 *
 * Throughput: P producers send fixed-size messages as fast as they can
 * until the consumer raises the stop flag, then one end marker each.  The
 * consumer times from the moment its first receive returns to the moment
 * it has counted enough (--duration-ms, or --messages); messages of the
 * first receive are not counted, since they arrived before the clock
 * started.  Then it raises the stop flag and drains the rest, checking
 * every message (size, producer, sequence) to the last end marker.  The
 * consumer reads one word of every 64-byte line of each payload, so that
 * the payload really travels to it, as to any reader: a zero-copy
 * transport whose consumer never looks at the bytes would otherwise
 * measure only the producer's copy into its own cache.
 *
 * Latency: an initiator and a responder, two channels.  The initiator
 * sends round r and waits for its echo, timing each round trip with
 * CLOCK_MONOTONIC into a preallocated array, after a warm-up; it reports
 * the 50th, 99th and 99.9th percentiles (nearest rank).
 *
 * Request and reply: the same rounds, each one bus_client_call() of a
 * caller to a service process over one queue busd made; the service
 * receives the request with bus_recv() and answers with bus_reply()
 * straight from the received view, which carries the caller's header
 * back.  The last call carries the end marker, and its answer lets the
 * caller close.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "cpu.h"

/* Producers look at the stop flag once per this many messages. */
#define STOP_EVERY  64u
/* The consumer reads the clock once per this many messages (at most). */
#define CLOCK_EVERY 64u

#define LAT_MAX_SAMPLES (UINT64_C(4) << 20)
#define LAT_WARMUP      1000u

#define READY_TIMEOUT_NS (UINT64_C(30) * 1000000000u)
#define RUN_SLACK_NS     (UINT64_C(60) * 1000000000u)
#define RUN_COUNT_NS     (UINT64_C(600) * 1000000000u)

#define MAX_PROCS (BENCH_MAX_PRODUCERS + 1)

/* The mapping the processes of a run share. */
struct ctl {
	alignas(BENCH_LINE) _Atomic uint32_t ready; /* processes at the barrier */
	alignas(BENCH_LINE) _Atomic uint32_t go;    /* futex word: 1 = start */
	alignas(BENCH_LINE) _Atomic uint32_t stop;  /* producers: stop sending */
	/* Written by the measuring process, read by the parent after waitpid. */
	alignas(BENCH_LINE) struct {
		uint64_t msgs, t_first, t_end;
		uint64_t per[BENCH_MAX_PRODUCERS];
		uint64_t rounds, elapsed_ns, p50, p99, p999;
		uint64_t touched; /* the sum of the words read, kept so they are */
	} out;
	struct {
		alignas(BENCH_LINE) char err[BENCH_ERR];
	} proc[MAX_PROCS];
};

struct runner {
	int cpu[2]; /* the CPUs of a pinned pair, or -1 */
	struct ctl *ctl;
	const struct run_opts *o;
	struct chan ch[2];
	int nchan;
	uint32_t producers;
	size_t size;
	int nprocs;
	const char *(*role)(int idx, char *buf, size_t n);
	int (*body)(struct runner *rn, int idx);
};

/* --- shared helpers --- */

int chan_fail(struct chan *ch, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ch->err, sizeof(ch->err), fmt, ap);
	va_end(ap);
	return r;
}

int chan_no_open(struct chan *ch)
{
	(void)ch;
	return 0;
}

void chan_nothing(struct chan *ch)
{
	(void)ch;
}

void chan_free_buf(struct chan *ch)
{
	free(ch->buf);
	ch->buf = NULL;
}

void chan_init(struct chan *ch, const struct transport *tp,
               const struct chan_cfg *cfg)
{
	*ch = (struct chan){
		.tp = tp,
		.cfg = *cfg,
		.tx_fd = -1,
		.rx_fd = -1,
		.mq = (mqd_t)-1,
		.ep = -1,
	};
}

void bench_futex_wait(_Atomic uint32_t *w, uint32_t val)
{
	/* Shared futex: the word is in a mapping of several processes. */
	syscall(SYS_futex, w, FUTEX_WAIT, val, NULL, NULL, 0);
}

void bench_futex_wake(_Atomic uint32_t *w, int n)
{
	syscall(SYS_futex, w, FUTEX_WAKE, n, NULL, NULL, 0);
}

bool bench_read_line(const char *path, char *line, size_t n)
{
	FILE *f = fopen(path, "re");
	bool got;

	if (!f)
		return false;
	got = fgets(line, (int)n, f) != NULL;
	fclose(f);
	return got;
}

/* --- the parent's bookkeeping, for the signal handler --- */

static pid_t owner_pid;
static pid_t child_pids[MAX_PROCS];
static volatile sig_atomic_t child_count;

static const int fatal_signals[] = {SIGINT, SIGTERM, SIGHUP};

void run_emergency_cleanup(void)
{
	for (int i = 0; i < child_count; i++)
		if (child_pids[i] > 0)
			kill(child_pids[i], SIGKILL);
	bus_side_unlink_all();
	zmq_side_unlink_all();
	bench_busd_kill();
}

static void on_fatal_signal(int sig)
{
	if (getpid() == owner_pid)
		run_emergency_cleanup();
	/* SA_RESETHAND restored the default action: this ends the process. */
	raise(sig);
}

int run_install_signals(void)
{
	struct sigaction sa = {
		.sa_handler = on_fatal_signal,
		.sa_flags = SA_RESETHAND,
	};

	owner_pid = getpid();
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++)
		if (sigaction(fatal_signals[i], &sa, NULL) < 0)
			return -errno;
	return 0;
}

/* In a new child: die with the parent, default signals, the old mask. */
static void child_init(pid_t parent, const sigset_t *mask, int cpu)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};

	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		/* A failure leaves the process where it is: unpinned, not broken. */
		sched_setaffinity(0, sizeof(set), &set);
	}

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	sigemptyset(&dfl.sa_mask);
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++)
		sigaction(fatal_signals[i], &dfl, NULL);
	sigprocmask(SIG_SETMASK, mask, NULL);
	child_count = 0;
}

/* --- in the children --- */

__attribute__((format(printf, 3, 4))) static int child_fail(struct runner *rn, int idx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rn->ctl->proc[idx].err, BENCH_ERR, fmt, ap);
	va_end(ap);
	return 1;
}

/* Every process attached: wait for the parent's go. */
static void barrier(struct ctl *ctl)
{
	/* release: our attach is done before the parent sees us ready */
	atomic_fetch_add_explicit(&ctl->ready, 1, memory_order_release);
	/* acquire: the parent's attached() work is done before we start */
	for (unsigned i = 0; atomic_load_explicit(&ctl->go, memory_order_acquire) == 0;
	     i++) {
		if (i < 10000)
			cpu_relax();
		else
			bench_futex_wait(&ctl->go, 0);
	}
}

/* Checks one received message against what producer `from` sends next. */
static int check_msg(struct runner *rn, int idx, const struct view *v,
                     struct msg_hdr *h, const uint64_t *next)
{
	if (v->len != rn->size)
		return child_fail(rn, idx, "a %zu-byte message, expected %zu bytes",
		                  v->len, rn->size);
	memcpy(h, v->data, sizeof(*h));
	if (h->kind != MSG_DATA && h->kind != MSG_END)
		return child_fail(rn, idx, "a message of unknown kind 0x%08x", h->kind);
	if (h->producer >= rn->producers)
		return child_fail(rn, idx, "a message from producer %u of %u",
		                  h->producer, rn->producers);
	if (h->seq != next[h->producer])
		return child_fail(rn, idx, "producer %u: message %" PRIu64 " arrived, expected %" PRIu64, h->producer, h->seq,
		                  next[h->producer]);
	return 0;
}

/* Reads one word per 64-byte line of a payload; returns their sum. */
static uint64_t touch(const struct view *v)
{
	const uint8_t *p = v->data;
	uint64_t sum = 0, w;

	for (size_t off = 0; off + sizeof(w) <= v->len; off += 64) {
		memcpy(&w, p + off, sizeof(w));
		sum += w;
	}
	return sum;
}

/* The consumer's loop, receiving batches into v[BENCH_BATCH]. */
static int tp_consume(struct runner *rn, int idx, struct view *v)
{
	struct chan *ch = &rn->ch[0];
	struct ctl *ctl = rn->ctl;
	const struct transport *tp = ch->tp;
	uint64_t next[BENCH_MAX_PRODUCERS] = {0}, per[BENCH_MAX_PRODUCERS] = {0};
	bool ended[BENCH_MAX_PRODUCERS] = {false};
	uint64_t limit = rn->o->messages ? rn->o->messages : UINT64_MAX;
	uint64_t count = 0, clock_at = CLOCK_EVERY, t_first = 0, t_end = 0;
	uint64_t touched = 0;
	/*
	 * Set once, out of the loop: check_msg() fills it whenever it returns
	 * 0, which the analyzer cannot follow through child_fail()'s varargs.
	 */
	struct msg_hdr h = {0};
	uint32_t ends = 0;
	bool timing = false, counting = true;

	if (tp->rx_open(ch) < 0)
		return child_fail(rn, idx, "%s", ch->err);
	barrier(ctl);
	while (ends < rn->producers) {
		int n = tp->recv(ch, v, BENCH_BATCH);

		if (n < 0)
			return child_fail(rn, idx, "%s", ch->err);
		for (int i = 0; i < n; i++) {
			if (check_msg(rn, idx, &v[i], &h, next))
				return 1;
			touched += touch(&v[i]);
			next[h.producer]++;
			if (h.kind == MSG_END) {
				if (ended[h.producer])
					return child_fail(rn, idx, "producer %u ended twice",
					                  h.producer);
				ended[h.producer] = true;
				ends++;
			} else if (ended[h.producer]) {
				return child_fail(rn, idx, "producer %u sent after its end",
				                  h.producer);
			} else if (timing && counting) {
				count++;
				per[h.producer]++;
			}
		}
		tp->release(ch);
		if (!counting)
			continue;
		if (!timing) {
			/* The clock starts once the first receive returned. */
			t_first = nstime_mono();
			timing = true;
		} else if (count >= clock_at || count >= limit) {
			uint64_t now = nstime_mono();

			clock_at = count + CLOCK_EVERY;
			if (count >= limit || (rn->o->duration_ns &&
			                       now - t_first >= rn->o->duration_ns)) {
				t_end = now;
				counting = false;
				/* release: nothing to publish; relaxed would do */
				atomic_store_explicit(&ctl->stop, 1, memory_order_release);
			}
		}
		if (ends == rn->producers && counting)
			return child_fail(rn, idx, "every producer ended before the "
			                           "measurement did");
	}
	tp->close(ch);
	ctl->out.touched = touched;
	ctl->out.msgs = count;
	ctl->out.t_first = t_first;
	ctl->out.t_end = t_end;
	memcpy(ctl->out.per, per, sizeof(per));
	return 0;
}

/* The producer's loop, sending from buf (rn->size bytes). */
static int tp_produce(struct runner *rn, int idx, uint8_t *buf)
{
	struct chan *ch = &rn->ch[0];
	const struct transport *tp = ch->tp;
	struct msg_hdr h = {.kind = MSG_DATA, .producer = (uint32_t)idx - 1};

	memset(buf, 0xa5, rn->size);
	if (tp->tx_open(ch) < 0)
		return child_fail(rn, idx, "%s", ch->err);
	barrier(rn->ctl);
	for (;; h.seq++) {
		/* relaxed: a flag; the messages carry their own ordering */
		if (h.seq % STOP_EVERY == 0 &&
		    atomic_load_explicit(&rn->ctl->stop, memory_order_relaxed))
			break;
		memcpy(buf, &h, sizeof(h));
		if (tp->send(ch, buf, rn->size) < 0)
			return child_fail(rn, idx, "%s", ch->err);
	}
	h.kind = MSG_END;
	memcpy(buf, &h, sizeof(h));
	if (tp->send(ch, buf, rn->size) < 0)
		return child_fail(rn, idx, "%s", ch->err);
	tp->close(ch);
	return 0;
}

/* Sends round seq on out and waits for its echo on in. */
static int round_trip(struct runner *rn, int idx, uint8_t *buf, uint64_t seq)
{
	struct chan *out = &rn->ch[0], *in = &rn->ch[1];
	struct msg_hdr h = {.kind = MSG_DATA, .seq = seq};
	uint64_t next[1] = {seq};
	struct view v;

	memcpy(buf, &h, sizeof(h));
	if (out->tp->send(out, buf, rn->size) < 0)
		return child_fail(rn, idx, "%s", out->err);
	if (in->tp->recv(in, &v, 1) < 0)
		return child_fail(rn, idx, "%s", in->err);
	if (check_msg(rn, idx, &v, &h, next))
		return 1;
	in->tp->release(in);
	if (h.kind != MSG_DATA)
		return child_fail(rn, idx, "an end marker instead of an echo");
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The nearest-rank percentile (per mille) of n sorted values. */
static uint64_t percentile(const uint64_t *sorted, uint64_t n, uint64_t per_mille)
{
	uint64_t rank = (n * per_mille + 999) / 1000;

	return sorted[rank ? rank - 1 : 0];
}

/* A latency side's result: n rounds timed in rtt (sorted here), elapsed. */
static void report_rounds(struct runner *rn, uint64_t *rtt, uint64_t n,
                          uint64_t elapsed_ns)
{
	qsort(rtt, n, sizeof(*rtt), cmp_u64);
	rn->ctl->out.rounds = n;
	rn->ctl->out.elapsed_ns = elapsed_ns;
	rn->ctl->out.p50 = percentile(rtt, n, 500);
	rn->ctl->out.p99 = percentile(rtt, n, 990);
	rn->ctl->out.p999 = percentile(rtt, n, 999);
}

/* The initiator's rounds: up to cap samples into rtt, sent from buf. */
static int lat_initiate(struct runner *rn, int idx, uint64_t *rtt, uint64_t cap,
                        uint8_t *buf)
{
	struct chan *out = &rn->ch[0], *in = &rn->ch[1];
	uint64_t warm = LAT_WARMUP, n = 0, seq = 0;
	uint64_t t_start, t1, deadline = UINT64_MAX;
	struct msg_hdr end = {.kind = MSG_END};

	if (warm > cap / 10 + 1)
		warm = cap / 10 + 1;
	/* Fault the samples in now, not in the timed loop. */
	memset(rtt, 0, cap * sizeof(*rtt));
	memset(buf, 0xa5, rn->size);
	if (out->tp->tx_open(out) < 0)
		return child_fail(rn, idx, "%s", out->err);
	if (in->tp->rx_open(in) < 0)
		return child_fail(rn, idx, "%s", in->err);
	barrier(rn->ctl);

	for (; seq < warm; seq++)
		if (round_trip(rn, idx, buf, seq))
			return 1;
	t_start = t1 = nstime_mono();
	if (rn->o->duration_ns)
		deadline = t_start + rn->o->duration_ns;
	while (n < cap) {
		uint64_t t0 = nstime_mono();

		if (round_trip(rn, idx, buf, seq++))
			return 1;
		t1 = nstime_mono();
		rtt[n++] = t1 - t0;
		if (t1 >= deadline)
			break;
	}
	end.seq = seq;
	memcpy(buf, &end, sizeof(end));
	if (out->tp->send(out, buf, rn->size) < 0)
		return child_fail(rn, idx, "%s", out->err);

	report_rounds(rn, rtt, n, t1 - t_start);
	out->tp->close(out);
	in->tp->close(in);
	return 0;
}

/* The rounds of a latency side, timed into rtt[0..cap-1], sent from buf. */
typedef int timed_rounds_fn(struct runner *rn, int idx, uint64_t *rtt,
                            uint64_t cap, uint8_t *buf);

/* Runs rounds with room for the samples and a message, allocated here. */
static int with_samples(struct runner *rn, int idx, timed_rounds_fn *rounds)
{
	uint64_t cap = LAT_MAX_SAMPLES;
	uint64_t *rtt;
	uint8_t *buf;
	int rc;

	if (rn->o->messages && rn->o->messages < cap)
		cap = rn->o->messages;
	rtt = malloc(cap * sizeof(*rtt));
	buf = malloc(rn->size);
	if (!rtt || !buf) {
		free(rtt);
		free(buf);
		return child_fail(rn, idx, "out of memory");
	}
	rc = rounds(rn, idx, rtt, cap, buf);
	free(rtt);
	free(buf);
	return rc;
}

static int lat_initiator(struct runner *rn, int idx)
{
	return with_samples(rn, idx, lat_initiate);
}

static int lat_responder(struct runner *rn, int idx)
{
	struct chan *in = &rn->ch[0], *out = &rn->ch[1];
	uint64_t next[1] = {0};
	/* Set once, out of the loop: as in tp_consume(). */
	struct msg_hdr h = {0};

	if (in->tp->rx_open(in) < 0)
		return child_fail(rn, idx, "%s", in->err);
	if (out->tp->tx_open(out) < 0)
		return child_fail(rn, idx, "%s", out->err);
	barrier(rn->ctl);
	for (;;) {
		struct view v;

		if (in->tp->recv(in, &v, 1) < 0)
			return child_fail(rn, idx, "%s", in->err);
		if (check_msg(rn, idx, &v, &h, next))
			return 1;
		if (h.kind == MSG_END) {
			in->tp->release(in);
			break;
		}
		next[0]++;
		/* Echo straight from the received view, then give it back. */
		if (out->tp->send(out, v.data, rn->size) < 0)
			return child_fail(rn, idx, "%s", out->err);
		in->tp->release(in);
	}
	in->tp->close(in);
	out->tp->close(out);
	return 0;
}

/* --- request and reply --- */

/* The message type of every request and reply. */
#define REQ_TYPE 0x72657175u /* "requ" */

/* One call of round seq (or the end marker) and a check of its answer. */
static int req_call(struct runner *rn, int idx, bus_client *cl, uint8_t *buf,
                    uint32_t kind, uint64_t seq)
{
	struct msg_hdr h = {.kind = kind, .seq = seq}, got;
	bus_msg reply;
	int r;

	memcpy(buf, &h, sizeof(h));
	r = bus_client_call(cl, REQ_TYPE, buf, rn->size, &reply, -1);
	if (r < 0)
		return child_fail(rn, idx, "bus_client_call: %s", bus_strerror(r));
	if (!(reply.flags & BUS_MSG_REPLY) || reply.type != REQ_TYPE ||
	    reply.len != rn->size)
		return child_fail(rn, idx, "a reply of type %u, %zu bytes, flags %#x",
		                  reply.type, reply.len, reply.flags);
	memcpy(&got, reply.data, sizeof(got));
	if (got.kind != kind || got.seq != seq)
		return child_fail(rn, idx, "the answer to call %llu of kind %#x, "
		                           "expected %llu of %#x",
		                  (unsigned long long)got.seq, got.kind,
		                  (unsigned long long)seq, kind);
	return 0;
}

/* The caller's rounds: up to cap samples into rtt, sent from buf. */
static int req_call_rounds(struct runner *rn, int idx, uint64_t *rtt,
                           uint64_t cap, uint8_t *buf)
{
	uint64_t warm = LAT_WARMUP, n = 0, seq = 0;
	uint64_t t_start, t1, deadline = UINT64_MAX;
	bus_client *cl = NULL;

	if (warm > cap / 10 + 1)
		warm = cap / 10 + 1;
	memset(rtt, 0, cap * sizeof(*rtt));
	memset(buf, 0xa5, rn->size);
	if (bus_side_client_open(&rn->ch[0], &cl) < 0)
		return child_fail(rn, idx, "%s", rn->ch[0].err);
	barrier(rn->ctl);

	for (; seq < warm; seq++)
		if (req_call(rn, idx, cl, buf, MSG_DATA, seq))
			goto fail;
	t_start = t1 = nstime_mono();
	if (rn->o->duration_ns)
		deadline = t_start + rn->o->duration_ns;
	while (n < cap) {
		uint64_t t0 = nstime_mono();

		if (req_call(rn, idx, cl, buf, MSG_DATA, seq++))
			goto fail;
		t1 = nstime_mono();
		rtt[n++] = t1 - t0;
		if (t1 >= deadline)
			break;
	}
	if (req_call(rn, idx, cl, buf, MSG_END, seq))
		goto fail;
	bus_client_close(cl);

	report_rounds(rn, rtt, n, t1 - t_start);
	return 0;
fail:
	bus_client_close(cl);
	return 1;
}

static int req_caller(struct runner *rn, int idx)
{
	return with_samples(rn, idx, req_call_rounds);
}

/* Answers every request with its own bytes, to the end marker's. */
static int req_service(struct runner *rn, int idx)
{
	struct chan *in = &rn->ch[0];
	uint64_t next = 0;

	/* The queue's consumer, with the test's spin (bus_consumer_set_spin). */
	if (in->tp->rx_open(in) < 0)
		return child_fail(rn, idx, "%s", in->err);
	barrier(rn->ctl);
	for (;;) {
		struct msg_hdr h;
		bus_msg m;
		int r = bus_recv(in->cons, &m, -1);

		if (r < 0)
			return child_fail(rn, idx, "bus_recv: %s", bus_strerror(r));
		if (!(m.flags & BUS_MSG_REQUEST) || m.type != REQ_TYPE ||
		    m.len != rn->size)
			return child_fail(rn, idx, "a message of type %u, %zu bytes, "
			                           "flags %#x: no request of this test",
			                  m.type, m.len, m.flags);
		memcpy(&h, m.data, sizeof(h));
		if ((h.kind != MSG_DATA && h.kind != MSG_END) || h.seq != next)
			return child_fail(rn, idx, "request %llu of kind %#x, expected "
			                           "%llu",
			                  (unsigned long long)h.seq, h.kind,
			                  (unsigned long long)next);
		next++;
		/* Answered straight from the received view, then given back. */
		r = bus_reply(in->cons, &m, REQ_TYPE, m.data, m.len, -1);
		if (r < 0)
			return child_fail(rn, idx, "bus_reply: %s", bus_strerror(r));
		bus_release(in->cons);
		if (h.kind == MSG_END)
			break;
	}
	in->tp->close(in);
	return 0;
}

static int req_body(struct runner *rn, int idx)
{
	return idx == 0 ? req_caller(rn, idx) : req_service(rn, idx);
}

static const char *req_role(int idx, char *buf, size_t n)
{
	(void)buf;
	(void)n;
	return idx == 0 ? "caller" : "service";
}

static int tp_body(struct runner *rn, int idx)
{
	/* The consumer's views, or the message a producer sends from. */
	size_t n = idx == 0 ? BENCH_BATCH * sizeof(struct view) : rn->size;
	void *mem = calloc(1, n);
	int rc;

	if (!mem)
		return child_fail(rn, idx, "out of memory");
	rc = idx == 0 ? tp_consume(rn, idx, mem) : tp_produce(rn, idx, mem);
	free(mem);
	return rc;
}

static int lat_body(struct runner *rn, int idx)
{
	return idx == 0 ? lat_initiator(rn, idx) : lat_responder(rn, idx);
}

static const char *tp_role(int idx, char *buf, size_t n)
{
	if (idx == 0)
		return "consumer";
	snprintf(buf, n, "producer %d", idx - 1);
	return buf;
}

static const char *lat_role(int idx, char *buf, size_t n)
{
	(void)buf;
	(void)n;
	return idx == 0 ? "initiator" : "responder";
}

/* --- in the parent --- */

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = nstime_to_ts(ns);

	nanosleep(&ts, NULL);
}

static void kill_all(const pid_t *pids, const bool *reaped, int n)
{
	for (int i = 0; i < n; i++)
		if (!reaped[i])
			kill(pids[i], SIGKILL);
}

/* Reaps whatever has exited; returns how many are still alive. */
static int reap(const pid_t *pids, bool *reaped, int *status, int n)
{
	int alive = 0;

	for (int i = 0; i < n; i++) {
		if (reaped[i])
			continue;
		if (waitpid(pids[i], &status[i], WNOHANG) == pids[i])
			reaped[i] = true;
		else
			alive++;
	}
	return alive;
}

static bool failed(int status)
{
	return !WIFEXITED(status) || WEXITSTATUS(status) != 0;
}

/* The first two CPUs we may run on, for a pinned pair; else -1, -1. */
static void pick_cpus(struct runner *rn)
{
	cpu_set_t set;
	int found = 0;

	rn->cpu[0] = rn->cpu[1] = -1;
	if (!rn->o->pin || rn->nprocs != 2 ||
	    sched_getaffinity(0, sizeof(set), &set) < 0)
		return;
	for (int c = 0; c < CPU_SETSIZE && found < 2; c++)
		if (CPU_ISSET(c, &set))
			rn->cpu[found++] = c;
	if (found < 2)
		rn->cpu[0] = rn->cpu[1] = -1;
}

/*
 * Forks rn->nprocs processes running rn->body, releases them together and
 * waits for them.  Returns 0, or -1 with a message in err.
 */
static int run_procs(struct runner *rn, char *err, size_t errn)
{
	pid_t pids[MAX_PROCS];
	bool reaped[MAX_PROCS] = {false};
	int status[MAX_PROCS] = {0};
	pid_t parent = getpid();
	uint64_t deadline;
	sigset_t chld, old;
	bool timed_out = false, killed = false;
	int started = 0, rc = 0;
	char role[32];

	pick_cpus(rn);
	rn->ctl = mmap(NULL, sizeof(*rn->ctl), PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rn->ctl == MAP_FAILED) {
		rn->ctl = NULL;
		snprintf(err, errn, "mmap: %s", strerror(errno));
		return -1;
	}
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	fflush(NULL);
	for (; started < rn->nprocs; started++) {
		pid_t pid = fork();

		if (pid == 0) {
			child_init(parent, &old, started < 2 ? rn->cpu[started] : -1);
			_exit(rn->body(rn, started));
		}
		if (pid < 0) {
			snprintf(err, errn, "fork: %s", strerror(errno));
			rc = -1;
			break;
		}
		pids[started] = pid;
		child_pids[started] = pid;
		child_count = started + 1;
	}

	/* The barrier: everyone attached, or someone gave up. */
	deadline = nstime_mono() + READY_TIMEOUT_NS;
	while (rc == 0 &&
	       atomic_load_explicit(&rn->ctl->ready, memory_order_acquire) <
	               (uint32_t)rn->nprocs) {
		if (reap(pids, reaped, status, started) < started) {
			rc = -1; /* someone exited before the start: reported below */
		} else if (nstime_mono() > deadline) {
			timed_out = true;
			rc = -1;
		} else {
			sleep_ns(100000);
		}
	}
	if (rc == 0) {
		for (int i = 0; i < rn->nchan; i++)
			if (rn->ch[i].tp->attached)
				rn->ch[i].tp->attached(&rn->ch[i]);
		/* release: pairs with the children's acquire of go */
		atomic_store_explicit(&rn->ctl->go, 1, memory_order_release);
		bench_futex_wake(&rn->ctl->go, INT_MAX);
		deadline = nstime_mono() +
		           (rn->o->duration_ns ? rn->o->duration_ns + RUN_SLACK_NS
		                               : RUN_COUNT_NS);
	} else {
		kill_all(pids, reaped, started);
		killed = true;
	}

	/* Sleep until every child is reaped, killing all on a failure. */
	while (reap(pids, reaped, status, started) > 0) {
		uint64_t now = nstime_mono(), left;
		struct timespec ts;

		for (int i = 0; i < started && !killed; i++) {
			if (reaped[i] && failed(status[i])) {
				kill_all(pids, reaped, started);
				killed = true;
			}
		}
		if (!killed && now >= deadline) {
			timed_out = true;
			kill_all(pids, reaped, started);
			killed = true;
		}
		left = deadline > now ? deadline - now : 0;
		if (killed || left > 1000000000u)
			left = killed ? 10000000u : 1000000000u;
		ts = nstime_to_ts(left);
		sigtimedwait(&chld, NULL, &ts);
	}
	child_count = 0;
	sigprocmask(SIG_SETMASK, &old, NULL);

	/* A child's own words first, then deaths we did not cause. */
	for (int i = 0; i < started; i++) {
		if (rn->ctl->proc[i].err[0]) {
			snprintf(err, errn, "%s: %.*s", rn->role(i, role, sizeof(role)),
			         BENCH_ERR, rn->ctl->proc[i].err);
			return -1;
		}
	}
	if (timed_out) {
		snprintf(err, errn, "timed out; killed the run");
		return -1;
	}
	for (int i = 0; i < started; i++) {
		if (!failed(status[i]))
			continue;
		if (WIFSIGNALED(status[i]))
			snprintf(err, errn, "%s died of signal %d",
			         rn->role(i, role, sizeof(role)), WTERMSIG(status[i]));
		else
			snprintf(err, errn, "%s exited with status %d",
			         rn->role(i, role, sizeof(role)), WEXITSTATUS(status[i]));
		return -1;
	}
	return rc;
}

/* Sets up rn's channels; returns 0 or -1 with err set (torn down). */
static int setup_chans(struct runner *rn, char *err, size_t errn)
{
	for (int i = 0; i < rn->nchan; i++) {
		if (rn->ch[i].tp->setup(&rn->ch[i]) < 0) {
			snprintf(err, errn, "setup: %s", rn->ch[i].err);
			for (int k = 0; k <= i; k++)
				rn->ch[k].tp->teardown(&rn->ch[k]);
			return -1;
		}
	}
	return 0;
}

static void finish(struct runner *rn, struct run_result *res)
{
	struct chan_counters sum = {0};
	bool counted = false;

	res->futex_per_msg = -1;
	res->blocked_per_msg = -1;
	for (int i = 0; i < rn->nchan; i++) {
		struct chan_counters c;

		if (rn->ch[i].tp->counters && rn->ch[i].tp->counters(&rn->ch[i], &c) == 0) {
			sum.msgs += c.msgs;
			sum.futex += c.futex;
			sum.blocked += c.blocked;
			counted = true;
		}
	}
	if (counted && sum.msgs) {
		res->futex_per_msg = (double)sum.futex / (double)sum.msgs;
		res->blocked_per_msg = (double)sum.blocked / (double)sum.msgs;
	}
	for (int i = 0; i < rn->nchan; i++)
		rn->ch[i].tp->teardown(&rn->ch[i]);
	munmap(rn->ctl, sizeof(*rn->ctl));
	rn->ctl = NULL;
}

/* After a failed run: frees what it made, without figures. */
static void abandon(struct runner *rn)
{
	for (int i = 0; i < rn->nchan; i++)
		rn->ch[i].tp->teardown(&rn->ch[i]);
	if (rn->ctl)
		munmap(rn->ctl, sizeof(*rn->ctl));
	rn->ctl = NULL;
}

int run_throughput(const struct transport *tp, uint32_t producers, size_t size,
                   enum wait_mode wait, const struct run_opts *o,
                   struct run_result *res, char *err, size_t errn)
{
	struct chan_cfg cfg = {
		.size = size,
		.producers = producers,
		.capacity = o->capacity,
		.wait = wait,
		.socket = o->socket,
		.private_busd = o->private_busd,
	};
	struct runner rn = {
		.o = o,
		.nchan = 1,
		.producers = producers,
		.size = size,
		.nprocs = (int)producers + 1,
		.role = tp_role,
		.body = tp_body,
	};
	uint64_t dt;
	int rc;

	if (producers < 1 || producers > BENCH_MAX_PRODUCERS || size < MSG_MIN) {
		snprintf(err, errn, "bad test parameters");
		return -EINVAL;
	}
	chan_init(&rn.ch[0], tp, &cfg);
	if (setup_chans(&rn, err, errn) < 0)
		return -1;
	rc = run_procs(&rn, err, errn);
	if (rc == 0) {
		*res = (struct run_result){.producers = producers};
		dt = rn.ctl->out.t_end - rn.ctl->out.t_first;
		if (rn.ctl->out.msgs == 0 || dt == 0 || rn.ctl->out.t_end == 0) {
			snprintf(err, errn, "no messages measured");
			rc = -1;
		} else {
			res->msgs = rn.ctl->out.msgs;
			res->msgs_per_sec = (double)res->msgs * 1e9 / (double)dt;
			res->mb_per_sec = res->msgs_per_sec * (double)size / 1e6;
			for (uint32_t p = 0; p < producers; p++)
				res->share[p] = (double)rn.ctl->out.per[p] / (double)res->msgs;
		}
	}
	if (rc == 0) {
		finish(&rn, res);
	} else {
		abandon(&rn);
	}
	return rc;
}

/*
 * A round-trip test: nchan channels of tp, two processes playing role
 * and body, and the rounds' percentiles into *res.  The ping-pong uses
 * two queues; request and reply one service queue (the reply queue is
 * the client's).
 */
static int run_round_trips(const struct transport *tp, size_t size,
                           enum wait_mode wait, const struct run_opts *o, int nchan,
                           const char *(*role)(int idx, char *buf, size_t n),
                           int (*body)(struct runner *rn, int idx),
                           struct run_result *res, char *err, size_t errn)
{
	struct runner rn = {.role = role, .body = body};
	struct chan_cfg cfg = {
		.size = size,
		.producers = 1,
		.capacity = o->capacity,
		.wait = wait,
		.socket = o->socket,
		.private_busd = o->private_busd,
		.ping_pong = true,
	};
	int rc;

	rn.o = o;
	rn.nchan = nchan;
	rn.producers = 1;
	rn.size = size;
	rn.nprocs = 2;
	for (int i = 0; i < nchan; i++)
		chan_init(&rn.ch[i], tp, &cfg);
	if (setup_chans(&rn, err, errn) < 0)
		return -1;
	rc = run_procs(&rn, err, errn);
	if (rc == 0 && (rn.ctl->out.rounds == 0 || rn.ctl->out.elapsed_ns == 0)) {
		snprintf(err, errn, "no round trips measured");
		rc = -1;
	}
	if (rc != 0) {
		abandon(&rn);
		return rc;
	}
	*res = (struct run_result){
		.producers = 1,
		.msgs = rn.ctl->out.rounds,
		.msgs_per_sec = (double)rn.ctl->out.rounds * 1e9 /
	                        (double)rn.ctl->out.elapsed_ns,
		.p50_ns = rn.ctl->out.p50,
		.p99_ns = rn.ctl->out.p99,
		.p999_ns = rn.ctl->out.p999,
	};
	finish(&rn, res);
	return 0;
}

int run_latency(const struct transport *tp, size_t size, enum wait_mode wait,
                const struct run_opts *o, struct run_result *res, char *err,
                size_t errn)
{
	if (size < MSG_MIN) {
		snprintf(err, errn, "bad test parameters");
		return -EINVAL;
	}
	return run_round_trips(tp, size, wait, o, 2, lat_role, lat_body, res, err,
	                       errn);
}

int run_request(const struct transport *tp, size_t size, enum wait_mode wait,
                const struct run_opts *o, struct run_result *res, char *err,
                size_t errn)
{
	int rc;

	if (size < MSG_MIN || !o->socket) {
		snprintf(err, errn, "bad test parameters");
		return -EINVAL;
	}
	rc = run_round_trips(tp, size, wait, o, 1, req_role, req_body, res, err, errn);
	if (rc == 0) {
		/*
		 * The service queue's counters leave out the reply queue's
		 * (the caller's, busd's to delete): no futex figure.
		 */
		res->futex_per_msg = -1;
		res->blocked_per_msg = -1;
	}
	return rc;
}

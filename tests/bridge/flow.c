/*
 * flow.c - traffic through a bridge (see flow.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "flow.h"
#include "util/io.h"

#define FLOW_MAGIC    0x464c4f57u /* "FLOW" */
#define CONSUME_BATCH 64
#define MAX_PAYLOAD   4096

struct producer_arg {
	struct flow *f;
	int k;
};

static struct producer_arg prod_args[FLOW_MAX_PROD];

void flow_init(struct flow *f, const char *dir)
{
	f->sh = mmap(NULL, sizeof(*f->sh), PROT_READ | PROT_WRITE,
	             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(f->sh != MAP_FAILED);
	memset(f->sh, 0, sizeof(*f->sh));
	snprintf(f->log_path, sizeof(f->log_path), "%s/consumer.log", dir);
	if (f->max_len < FLOW_HDR_LEN)
		f->max_len = 200;
	assert_true(f->max_len <= MAX_PAYLOAD);
	assert_true(f->nprod > 0 && f->nprod <= FLOW_MAX_PROD);
	if (f->deadline_s == 0)
		f->deadline_s = E2E_SCALE(120, 480);
}

void flow_free(struct flow *f)
{
	if (f->sh)
		munmap(f->sh, sizeof(*f->sh));
	f->sh = NULL;
}

/* 32-bit FNV-1a over n bytes. */
static uint32_t fnv(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static uint64_t mix(uint32_t k, uint64_t ctr)
{
	return ctr * 0x9e3779b97f4a7c15u + k;
}

static uint32_t msg_len(const struct flow *f, uint32_t k, uint64_t ctr)
{
	return (uint32_t)(FLOW_HDR_LEN + (mix(k, ctr) >> 40) % (f->max_len - FLOW_HDR_LEN + 1));
}

uint64_t flow_bytes(const struct flow *f)
{
	uint64_t sum = 0;

	for (int k = 0; k < f->nprod; k++)
		for (uint64_t i = 0, c = atomic_load(&f->sh->committed[k]); i < c; i++)
			sum += msg_len(f, (uint32_t)k, i);
	return sum;
}

/*
 * The payload of producer k's message ctr: magic, k, ctr, length, the
 * checksum (of everything with the checksum field zero), then filler
 * that depends on k and ctr.
 */
static size_t fill(const struct flow *f, uint8_t *buf, uint32_t k, uint64_t ctr)
{
	uint32_t magic = FLOW_MAGIC, sum = 0, len = msg_len(f, k, ctr);
	uint64_t x = mix(k, ctr);

	memcpy(buf, &magic, 4);
	memcpy(buf + 4, &k, 4);
	memcpy(buf + 8, &ctr, 8);
	memcpy(buf + 16, &len, 4);
	memcpy(buf + 20, &sum, 4);
	for (uint32_t i = FLOW_HDR_LEN; i < len; i++)
		buf[i] = (uint8_t)(x >> (i % 7 * 8)) ^ (uint8_t)i;
	sum = fnv(buf, len);
	memcpy(buf + 20, &sum, 4);
	return len;
}

/* Checks a received message; its producer and counter into *rec. */
static void check_msg(const struct flow *f, const bus_msg *m, struct flow_rec *rec)
{
	uint8_t copy[MAX_PAYLOAD];
	uint32_t magic, k, len, sum, zero = 0;
	uint64_t ctr;

	*rec = (struct flow_rec){.flags = FLOW_REC_BAD};
	if (m->flags & BUS_MSG_REDELIVERED)
		rec->flags |= FLOW_REC_REDELIV;
	if (m->len < FLOW_HDR_LEN || m->len > sizeof(copy))
		return;
	memcpy(copy, m->data, m->len);
	memcpy(&magic, copy, 4);
	memcpy(&k, copy + 4, 4);
	memcpy(&ctr, copy + 8, 8);
	memcpy(&len, copy + 16, 4);
	memcpy(&sum, copy + 20, 4);
	memcpy(copy + 20, &zero, 4);
	rec->producer = k;
	rec->ctr = ctr;
	if (magic != FLOW_MAGIC || len != m->len || k >= (uint32_t)f->nprod ||
	    fnv(copy, len) != sum || m->type != FLOW_TYPE(k))
		return;
	rec->flags &= ~FLOW_REC_BAD;
}

/*
 * Attaches a producer to A's queue (*p) or, p NULL, a consumer to B's
 * (*c), retrying while busd or the queue is missing (or, for a consumer,
 * has another consumer) until the deadline or the stop flag of its kind;
 * false if it never did.
 */
static bool attach(const struct flow *f, uint64_t deadline, bus_producer **p,
                   bus_consumer **c)
{
	_Atomic int *stop = p ? &f->sh->stop_producers : &f->sh->stop_consumer;

	while (e2e_now_ms() < deadline && !atomic_load(stop)) {
		bus *b;

		if (bus_open(p ? f->sock_a : f->sock_b, &b) == 0) {
			int rc = p ? bus_producer_open(b, f->queue_a, p)
			           : bus_consumer_open(b, f->queue_b, c);

			bus_close(b);
			if (rc == 0)
				return true;
			if (rc != -ENOENT && rc != -ECONNRESET && (p || rc != -EBUSY))
				fprintf(stderr, "flow %s: attach: %s\n", p ? "producer" : "consumer",
				        bus_strerror(rc));
		}
		e2e_sleep_ms(10);
	}
	return false;
}

/* Keeps the producer under its rate: sleeps while it is ahead. */
static void pace(const struct flow *f, uint64_t start, uint64_t sent)
{
	while (f->rate && sent * 1000u > (e2e_now_ms() - start) * f->rate)
		e2e_sleep_ms(1);
}

static int producer_main(void *argp)
{
	const struct producer_arg *a = argp;
	const struct flow *f = a->f;
	uint64_t start = e2e_now_ms(), deadline = start + (uint64_t)f->deadline_s * 1000u;
	uint8_t buf[MAX_PAYLOAD];
	bus_producer *p = NULL;
	uint64_t ctr = 0;

	if (!attach(f, deadline, &p, NULL))
		return atomic_load(&f->sh->stop_producers) ? 0 : 10;
	/* a load producer's send loop, as in crash/test_torture.c on purpose: exit codes are the report */
	while ((f->count == 0 || ctr < f->count) &&
	       !(f->count == 0 && atomic_load(&f->sh->stop_producers))) {
		size_t len = fill(f, buf, (uint32_t)a->k, ctr);
		int rc = bus_send(p, FLOW_TYPE(a->k), buf, len, 100);

		if (rc == -ETIMEDOUT) {
			/* the queue is full: the bridge is behind, or NATS is away */
			if (e2e_now_ms() > deadline)
				return 12;
			continue;
		}
		if (rc < 0) {
			fprintf(stderr, "flow producer %d: send: %s\n", a->k, bus_strerror(rc));
			return 13;
		}
		atomic_store(&f->sh->committed[a->k], ++ctr);
		pace(f, start, ctr);
	}
	bus_producer_close(p);
	return 0;
}

pid_t flow_start_producer(struct e2e *e, struct flow *f, int k)
{
	assert_true(k >= 0 && k < f->nprod);
	prod_args[k] = (struct producer_arg){.f = f, .k = k};
	return e2e_fork(e, producer_main, &prod_args[k]);
}

void flow_start_producers(struct e2e *e, struct flow *f, int first, pid_t *prod)
{
	for (int k = first; k < f->nprod; k++)
		prod[k] = flow_start_producer(e, f, k);
}

void flow_wait_producers(struct e2e *e, const struct flow *f, int first, const pid_t *prod)
{
	for (int k = first; k < f->nprod; k++)
		assert_int_equal(e2e_wait(e, prod[k], f->deadline_s), 0);
}

/*
 * Receives a batch, logs it with one write, then releases it: a kill
 * anywhere leaves every released message in the log.
 */
static int consume_batch(const struct flow *f, bus_consumer *c, int log)
{
	bus_msg m[CONSUME_BATCH];
	struct flow_rec rec[CONSUME_BATCH];
	int got = bus_recv_batch(c, m, CONSUME_BATCH, 50), rc;

	if (got == -ETIMEDOUT)
		return 0;
	if (got < 0) {
		fprintf(stderr, "flow consumer: recv: %s\n", bus_strerror(got));
		return 22;
	}
	atomic_fetch_add(&f->sh->received, (uint64_t)got);
	for (int i = 0; i < got; i++)
		check_msg(f, &m[i], &rec[i]);
	rc = io_write_all(log, rec, sizeof(rec[0]) * (size_t)got);
	if (rc < 0) {
		fprintf(stderr, "flow consumer: log: %s\n", strerror(-rc));
		return 23;
	}
	atomic_fetch_add(&f->sh->logged, (uint64_t)got);
	if (f->delay_us || f->hold_ms)
		e2e_sleep_ms(f->hold_ms +
		             (unsigned)((uint64_t)f->delay_us * (uint64_t)got / 1000u));
	bus_release(c);
	return 0;
}

static int consumer_main(void *argp)
{
	const struct flow *f = argp;
	uint64_t deadline = e2e_now_ms() + (uint64_t)f->deadline_s * 1000u;
	int log = open(f->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	bus_consumer *c = NULL;
	int rc = 0;

	if (log < 0)
		return 20;
	if (!attach(f, deadline, NULL, &c))
		return atomic_load(&f->sh->stop_consumer) ? 0 : 21;
	while (rc == 0 && !atomic_load(&f->sh->stop_consumer))
		rc = consume_batch(f, c, log);
	bus_consumer_close(c);
	close(log);
	return rc;
}

pid_t flow_start_consumer(struct e2e *e, struct flow *f)
{
	return e2e_fork(e, consumer_main, f);
}

void flow_stop_consumer(struct e2e *e, const struct flow *f, pid_t cons)
{
	atomic_store(&f->sh->stop_consumer, 1);
	assert_int_equal(e2e_wait(e, cons, 30), 0);
}

uint64_t flow_committed(const struct flow *f)
{
	uint64_t sum = 0;

	for (int k = 0; k < f->nprod; k++)
		sum += atomic_load(&f->sh->committed[k]);
	return sum;
}

/* The log file's records (a torn last one left out); *n their count. */
static struct flow_rec *read_log(const struct flow *f, size_t *n)
{
	struct stat st;
	struct flow_rec *v;
	size_t len, off = 0;
	int fd = open(f->log_path, O_RDONLY | O_CLOEXEC);

	*n = 0;
	if (fd < 0)
		return NULL;
	assert_int_equal(fstat(fd, &st), 0);
	len = (size_t)st.st_size / sizeof(*v) * sizeof(*v);
	v = malloc(len ? len : 1);
	assert_non_null(v);
	while (off < len) {
		ssize_t r = read(fd, (char *)v + off, len - off);

		if (r <= 0)
			break;
		off += (size_t)r;
	}
	close(fd);
	*n = off / sizeof(*v);
	return v;
}

/* One record against next[] (see flow.h); prints the first few faults. */
static void check_rec(const struct flow_rec *x, size_t i, uint64_t *next,
                      int nprod, struct flow_result *r)
{
	uint64_t *nx;

	if ((x->flags & FLOW_REC_BAD) || x->producer >= (uint32_t)nprod) {
		if (r->bad++ < 5)
			fprintf(stderr, "flow: log[%zu]: a bad message (producer %u counter "
			                "%" PRIu64 ")\n",
			        i, x->producer, x->ctr);
		return;
	}
	nx = &next[x->producer];
	if (x->ctr == *nx) {
		++*nx;
		r->distinct++;
	} else if (x->ctr < *nx && (x->flags & FLOW_REC_REDELIV)) {
		r->redelivered_copies++;
	} else if (x->ctr < *nx) {
		if (r->dups++ < 5)
			fprintf(stderr, "flow: log[%zu]: producer %u counter %" PRIu64 " again, not flagged redelivered (next %" PRIu64 ")\n",
			        i, x->producer, x->ctr, *nx);
	} else {
		if (r->gaps++ < 5)
			fprintf(stderr, "flow: log[%zu]: producer %u counter %" PRIu64 " after %" PRIu64 ": a gap\n",
			        i, x->producer, x->ctr, *nx);
		*nx = x->ctr + 1;
	}
}

void flow_check(const struct flow *f, struct flow_result *r)
{
	uint64_t next[FLOW_MAX_PROD] = {0};
	size_t n;
	struct flow_rec *v = read_log(f, &n);

	*r = (struct flow_result){.records = n};
	for (size_t i = 0; i < n; i++)
		check_rec(&v[i], i, next, f->nprod, r);
	free(v);
	for (int k = 0; k < f->nprod; k++) {
		uint64_t c = atomic_load(&f->sh->committed[k]);

		if (next[k] < c)
			r->missing += c - next[k];
		else
			r->extra += next[k] - c;
	}
}

bool flow_wait_all(const struct flow *f, int timeout_ms, struct flow_result *r)
{
	uint64_t deadline = e2e_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		/* cheap test first: the log cannot be complete with fewer records */
		if (atomic_load(&f->sh->logged) >= flow_committed(f)) {
			flow_check(f, r);
			if (r->missing == 0)
				return true;
		}
		if (e2e_now_ms() > deadline) {
			flow_check(f, r);
			return r->missing == 0;
		}
		e2e_sleep_ms(100);
	}
}

void flow_print(const char *what, const struct flow_result *r)
{
	fprintf(stderr,
	        "%s: %" PRIu64 " records, %" PRIu64 " distinct, %" PRIu64
	        " redelivered copies, %" PRIu64 " duplicates, %" PRIu64 " gaps, %" PRIu64
	        " missing, %" PRIu64 " extra, %" PRIu64 " bad\n",
	        what, r->records, r->distinct, r->redelivered_copies, r->dups, r->gaps,
	        r->missing, r->extra, r->bad);
}

void flow_assert_exact(const struct flow_result *r, uint64_t total)
{
	assert_int_equal(r->missing, 0);
	assert_int_equal(r->distinct, total);
	assert_int_equal(r->dups + r->gaps + r->extra + r->bad + r->redelivered_copies, 0);
}

/*
 * test_mpsc.c - many producer processes, one consumer process, one queue.
 *
 * Four forked producers each send N messages of pseudo-random size (0 to
 * ~1 KiB, deterministic from (producer, counter)) into a 64 KiB queue, so
 * the queue fills often and producers block (timeout -1).  Messages are
 * of three kinds, chosen per (producer, counter): a bustest.Probe packed
 * with bus_send_pb, a raw record (struct raw_hdr + body) sent with
 * bus_send, and an empty record that carries nothing at all.  A forked
 * consumer receives with a mix of bus_recv and bus_recv_batch, holds
 * batches of varying size, checks every held view just before releasing
 * it, and verifies: every message exactly once, per-producer order (the
 * library's msg.seq and the producer's own counter both go up by exactly
 * one), a stable msg.producer slot per producer, intact bodies and
 * checksums, and the exact total.  It runs twice: default spin, and spin
 * 0 on every side (pure blocking).
 *
 * A failure shows as a child's exit code (enum below, message on stderr),
 * a child killed by the parent's deadline (a lost wakeup or a deadlock:
 * status -1; its siblings are killed as -4 once one child fails), or a
 * segment counter that disagrees with what was sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <cmocka.h>

#include "harness.h"
#include "test.pb-c.h"

#define NPROD      4
#define NMSG       HARNESS_SCALE(200000, 20000)
#define CAPACITY   (UINT64_C(64) << 10)
#define BODY_MAX   1000
#define HOLD_MAX   96
#define DEADLINE_S 240

/* Child exit codes: one per kind of failure. */
enum {
	EX_P_ATTACH = 10, /* producer could not attach */
	EX_P_SEND,        /* bus_send / bus_send_pb failed */
	EX_C_ATTACH = 20, /* consumer could not attach */
	EX_C_RECV,        /* bus_recv / bus_recv_batch failed */
	EX_C_BATCH,       /* bus_recv_batch returned more than asked */
	EX_C_TYPE,        /* unknown message type */
	EX_C_DECODE,      /* raw header or protobuf did not decode */
	EX_C_ID,          /* producer id out of range */
	EX_C_SLOT,        /* slot unknown, changed, or shared by two producers */
	EX_C_SEQ,         /* msg.seq not previous + 1 */
	EX_C_COUNTER,     /* producer counter not previous + 1 */
	EX_C_KIND,        /* message kind differs from the one sent */
	EX_C_LEN,         /* body length differs from the one sent */
	EX_C_CHECKSUM,    /* carried checksum differs from the body's */
	EX_C_BODY,        /* body bytes differ from the ones sent */
	EX_C_TOTAL,       /* a producer's count is short at the end */
	EX_C_EXTRA,       /* a message arrived after the last expected one */
};

enum kind {
	KIND_EMPTY,
	KIND_RAW,
	KIND_PB
};

#define RAW_MAGIC 0x52415721u /* "!WAR" */

/* The raw message: this header, then body_len body bytes. */
struct raw_hdr {
	uint32_t magic;
	uint32_t producer;
	uint64_t counter;
	uint32_t checksum;
	uint32_t body_len;
};

/* Shared between the parent and its children (anonymous shared mapping). */
struct shared {
	_Atomic uint32_t prod_slot[NPROD]; /* slot + 1, written by each producer */
	_Atomic uint32_t seen_slot[NPROD]; /* slot + 1, as the consumer saw it */
};

struct run {
	const char *name;
	bool spin0;
	int id; /* producer id */
	struct shared *sh;
};

static uint32_t type_probe, type_raw, type_empty;

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15u;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

static uint64_t key(int id, uint64_t counter)
{
	return ((uint64_t)id << 48) ^ counter;
}

static enum kind msg_kind(int id, uint64_t counter)
{
	if (counter % 97 == 50)
		return KIND_EMPTY;
	return (mix(key(id, counter) ^ 0xabcdef) >> 7) & 1 ? KIND_PB : KIND_RAW;
}

static size_t body_len(int id, uint64_t counter)
{
	return mix(key(id, counter)) % (BODY_MAX + 1);
}

static void fill_body(int id, uint64_t counter, uint8_t *buf, size_t len)
{
	uint64_t s = mix(key(id, counter) ^ 0x5555555555555555u), w = 0;

	for (size_t i = 0; i < len; i++) {
		if (i % 8 == 0)
			w = s = mix(s);
		buf[i] = (uint8_t)(w >> (8 * (i % 8)));
	}
}

static int producer_main(void *arg)
{
	const struct run *run = arg;
	uint8_t buf[sizeof(struct raw_hdr) + BODY_MAX];
	uint8_t *body = buf + sizeof(struct raw_hdr);
	bus_producer *p;
	int r = harness_producer(run->name, &p);

	if (r < 0) {
		fprintf(stderr, "producer %d: attach: %s\n", run->id, bus_strerror(r));
		return EX_P_ATTACH;
	}
	if (run->spin0)
		bus_producer_set_spin(p, 0);
	atomic_store(&run->sh->prod_slot[run->id], bus_producer_slot(p) + 1);

	for (uint64_t c = 0; c < (uint64_t)NMSG; c++) {
		enum kind k = msg_kind(run->id, c);
		size_t len = body_len(run->id, c);

		fill_body(run->id, c, body, len);
		if (k == KIND_EMPTY) {
			r = bus_send(p, type_empty, NULL, 0, -1);
		} else if (k == KIND_RAW) {
			struct raw_hdr h = {
				.magic = RAW_MAGIC,
				.producer = (uint32_t)run->id,
				.counter = c,
				.checksum = harness_checksum(body, len),
				.body_len = (uint32_t)len,
			};

			memcpy(buf, &h, sizeof(h));
			r = bus_send(p, type_raw, buf, sizeof(h) + len, -1);
		} else {
			Bustest__Probe m = BUSTEST__PROBE__INIT;

			m.producer = (uint32_t)run->id;
			m.seq = c;
			m.body.data = body;
			m.body.len = len;
			m.checksum = harness_checksum(body, len);
			r = bus_send_pb(p, type_probe, &m.base, -1);
		}
		if (r < 0) {
			fprintf(stderr, "producer %d: send %llu: %s\n", run->id,
			        (unsigned long long)c, bus_strerror(r));
			bus_producer_close(p);
			return EX_P_SEND;
		}
	}
	bus_producer_close(p);
	return 0;
}

/* The consumer's view of one producer. */
struct prod_state {
	uint32_t slot; /* UINT32_MAX until its first message */
	uint64_t next_seq;
	uint64_t next_counter;
};

/* What a message said, once decoded. */
struct decoded {
	int id;
	uint64_t counter;
	enum kind kind;
	const uint8_t *body;
	size_t len;
	uint32_t checksum;
};

static int decode(const bus_msg *m, const struct prod_state *st, void *arena,
                  size_t arena_size, struct decoded *d)
{
	if (m->type == type_empty) {
		/* Nothing inside: the slot says who sent it. */
		if (m->len != 0)
			return EX_C_LEN;
		for (int i = 0; i < NPROD; i++) {
			if (st[i].slot == m->producer) {
				*d = (struct decoded){.id = i, .kind = KIND_EMPTY, .counter = st[i].next_counter};
				return 0;
			}
		}
		fprintf(stderr, "consumer: empty message from unknown slot %u\n",
		        m->producer);
		return EX_C_SLOT;
	}
	if (m->type == type_raw) {
		struct raw_hdr h;

		if (m->len < sizeof(h))
			return EX_C_DECODE;
		memcpy(&h, m->data, sizeof(h));
		if (h.magic != RAW_MAGIC || h.body_len != m->len - sizeof(h))
			return EX_C_DECODE;
		*d = (struct decoded){
			.id = (int)h.producer,
			.counter = h.counter,
			.kind = KIND_RAW,
			.body = (const uint8_t *)m->data + sizeof(h),
			.len = h.body_len,
			.checksum = h.checksum,
		};
		if (h.producer >= NPROD)
			return EX_C_ID;
		return 0;
	}
	if (m->type == type_probe) {
		ProtobufCMessage *pm;
		Bustest__Probe *p;
		int r = bus_msg_unpack(m, &bustest__probe__descriptor, arena,
		                       arena_size, &pm);

		if (r < 0) {
			fprintf(stderr, "consumer: unpack: %s\n", bus_strerror(r));
			return EX_C_DECODE;
		}
		p = (Bustest__Probe *)pm;
		*d = (struct decoded){
			.id = (int)p->producer,
			.counter = p->seq,
			.kind = KIND_PB,
			.body = p->body.data,
			.len = p->body.len,
			.checksum = p->checksum,
		};
		if (p->producer >= NPROD)
			return EX_C_ID;
		return 0;
	}
	fprintf(stderr, "consumer: unknown type %#x\n", m->type);
	return EX_C_TYPE;
}

static int check_msg(const bus_msg *m, struct prod_state *st)
{
	static _Alignas(max_align_t) uint8_t arena[4096];
	uint8_t want[BODY_MAX];
	struct prod_state *s;
	struct decoded d;
	int r = decode(m, st, arena, sizeof(arena), &d);

	if (r)
		return r;
	s = &st[d.id];
	if (s->slot == UINT32_MAX) {
		for (int i = 0; i < NPROD; i++) {
			if (st[i].slot == m->producer) {
				fprintf(stderr, "consumer: slot %u used by producers %d "
				                "and %d\n",
				        m->producer, i, d.id);
				return EX_C_SLOT;
			}
		}
		s->slot = m->producer;
	} else if (s->slot != m->producer) {
		fprintf(stderr, "consumer: producer %d moved from slot %u to %u\n",
		        d.id, s->slot, m->producer);
		return EX_C_SLOT;
	}
	if (m->seq != s->next_seq) {
		fprintf(stderr, "consumer: producer %d: seq %llu, expected %llu\n",
		        d.id, (unsigned long long)m->seq,
		        (unsigned long long)s->next_seq);
		return EX_C_SEQ;
	}
	if (d.counter != s->next_counter) {
		fprintf(stderr, "consumer: producer %d: counter %llu, expected %llu\n",
		        d.id, (unsigned long long)d.counter,
		        (unsigned long long)s->next_counter);
		return EX_C_COUNTER;
	}
	if (d.counter >= (uint64_t)NMSG) {
		fprintf(stderr, "consumer: producer %d: counter %llu past the end\n",
		        d.id, (unsigned long long)d.counter);
		return EX_C_EXTRA;
	}
	if (d.kind != msg_kind(d.id, d.counter)) {
		fprintf(stderr, "consumer: producer %d counter %llu: kind %d, sent %d\n",
		        d.id, (unsigned long long)d.counter, d.kind,
		        msg_kind(d.id, d.counter));
		return EX_C_KIND;
	}
	if (d.kind != KIND_EMPTY) {
		size_t len = body_len(d.id, d.counter);

		if (d.len != len) {
			fprintf(stderr, "consumer: producer %d counter %llu: %zu body "
			                "bytes, sent %zu\n",
			        d.id,
			        (unsigned long long)d.counter, d.len, len);
			return EX_C_LEN;
		}
		if (harness_checksum(d.body, d.len) != d.checksum) {
			fprintf(stderr, "consumer: producer %d counter %llu: bad "
			                "checksum\n",
			        d.id, (unsigned long long)d.counter);
			return EX_C_CHECKSUM;
		}
		fill_body(d.id, d.counter, want, len);
		if (len && memcmp(want, d.body, len) != 0) {
			fprintf(stderr, "consumer: producer %d counter %llu: body "
			                "differs\n",
			        d.id, (unsigned long long)d.counter);
			return EX_C_BODY;
		}
	}
	s->next_seq++;
	s->next_counter++;
	return 0;
}

/* Receives one batch of 1..want messages; returns how many or -exit code. */
static int recv_some(bus_consumer *c, bus_msg *held, size_t want, int mode)
{
	size_t n = 0;
	int r;

	if (mode == 0) {
		/* One at a time; block only while holding nothing. */
		while (n < want) {
			r = bus_recv(c, &held[n], n ? 0 : -1);
			if (r == -EAGAIN && n)
				break;
			if (r < 0) {
				fprintf(stderr, "consumer: bus_recv: %s\n", bus_strerror(r));
				return -EX_C_RECV;
			}
			n++;
		}
		return (int)n;
	}
	r = bus_recv_batch(c, held, want, -1);
	if (r < 0) {
		fprintf(stderr, "consumer: bus_recv_batch: %s\n", bus_strerror(r));
		return -EX_C_RECV;
	}
	if ((size_t)r > want)
		return -EX_C_BATCH;
	n = (size_t)r;
	if (mode == 2 && n < HOLD_MAX) {
		/* A second batch on top of the first, without waiting. */
		size_t more = HOLD_MAX - n < want ? HOLD_MAX - n : want;

		r = bus_recv_batch(c, held + n, more, 0);
		if (r < 0 && r != -EAGAIN) {
			fprintf(stderr, "consumer: bus_recv_batch: %s\n", bus_strerror(r));
			return -EX_C_RECV;
		}
		if (r > 0 && (size_t)r > more)
			return -EX_C_BATCH;
		if (r > 0)
			n += (size_t)r;
	}
	return (int)n;
}

static int consumer_main(void *arg)
{
	const struct run *run = arg;
	const uint64_t total = (uint64_t)NPROD * NMSG;
	struct prod_state st[NPROD];
	bus_msg held[HOLD_MAX];
	uint64_t got = 0;
	uint32_t rng = 12345;
	bus_consumer *c;
	bus_msg m;
	int r = harness_consumer(run->name, &c);

	if (r < 0) {
		fprintf(stderr, "consumer: attach: %s\n", bus_strerror(r));
		return EX_C_ATTACH;
	}
	if (run->spin0)
		bus_consumer_set_spin(c, 0);
	for (int i = 0; i < NPROD; i++)
		st[i] = (struct prod_state){.slot = UINT32_MAX};

	while (got < total) {
		size_t want;
		int n;

		rng = rng * 1103515245u + 12345u;
		want = 1 + (rng >> 16) % 48;
		n = recv_some(c, held, want, (int)((rng >> 8) % 3));
		if (n < 0) {
			bus_consumer_close(c);
			return -n;
		}
		/* Every view held must still be intact now, before release. */
		for (int i = 0; i < n; i++) {
			r = check_msg(&held[i], st);
			if (r) {
				bus_consumer_close(c);
				return r;
			}
		}
		got += (uint64_t)n;
		bus_release(c);
	}
	for (int i = 0; i < NPROD; i++) {
		atomic_store(&run->sh->seen_slot[i], st[i].slot + 1);
		if (st[i].next_counter != (uint64_t)NMSG) {
			fprintf(stderr, "consumer: producer %d: %llu messages of %d\n", i,
			        (unsigned long long)st[i].next_counter, NMSG);
			bus_consumer_close(c);
			return EX_C_TOTAL;
		}
	}
	/* Nothing more may come: not at once, nor after a short wait. */
	r = bus_recv(c, &m, 0);
	if (r != -EAGAIN) {
		fprintf(stderr, "consumer: extra message or error: %d\n", r);
		bus_consumer_close(c);
		return EX_C_EXTRA;
	}
	r = bus_recv(c, &m, 100);
	bus_consumer_close(c);
	if (r != -ETIMEDOUT) {
		fprintf(stderr, "consumer: extra message or error: %d\n", r);
		return EX_C_EXTRA;
	}
	return 0;
}

/*
 * Waits for every child under one deadline.  As soon as one fails, or the
 * deadline passes, the others are killed: a dead consumer would otherwise
 * leave the producers blocked forever.  status[i] is the exit status
 * (0-255), 1000 + signal, -1 for killed at the deadline, -4 for killed
 * because another child failed, or -3 if it was never forked.
 */
static void wait_all(const pid_t *pids, int *status, int n, int timeout_s)
{
	uint64_t deadline = harness_now_ns() + (uint64_t)timeout_s * 1000000000u;
	int left = 0, killed_as = 0;

	for (int i = 0; i < n; i++) {
		status[i] = pids[i] > 0 ? -2 : -3;
		left += pids[i] > 0;
	}
	while (left > 0) {
		for (int i = 0; i < n; i++) {
			int st;

			if (status[i] != -2 || waitpid(pids[i], &st, WNOHANG) != pids[i])
				continue;
			left--;
			if (killed_as && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) {
				status[i] = killed_as; /* our kill, most likely */
				continue;
			}
			status[i] = WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
			if (status[i] != 0 && !killed_as)
				killed_as = -4;
		}
		if (!killed_as && harness_now_ns() > deadline)
			killed_as = -1;
		for (int i = 0; killed_as && i < n; i++) {
			if (status[i] == -2)
				kill(pids[i], SIGKILL);
		}
		usleep(1000);
	}
}

/* Segment counters read back by the parent after every child is gone. */
struct totals {
	int open_rc;
	uint64_t head, tail, cons_msgs, cons_sleeps, cons_wakes;
	uint64_t next_seq[NPROD], full[NPROD], blocked[NPROD];
};

static void read_totals(const char *name, const struct shared *sh,
                        struct totals *t)
{
	struct seg s;
	const char *why = NULL;

	memset(t, 0, sizeof(*t));
	t->open_rc = seg_open_shm(name, &s, &why);
	if (t->open_rc < 0)
		return;
	t->head = atomic_load(&s.hdr->head);
	t->tail = atomic_load(&s.hdr->tail);
	t->cons_msgs = atomic_load(&s.hdr->cons.msgs);
	t->cons_sleeps = atomic_load(&s.hdr->cons.sleeps);
	t->cons_wakes = atomic_load(&s.hdr->cons.wakes);
	for (int i = 0; i < NPROD; i++) {
		uint32_t slot = atomic_load(&sh->prod_slot[i]);

		if (slot == 0 || slot > s.max_producers)
			continue;
		t->next_seq[i] = atomic_load(&s.slots[slot - 1].next_seq);
		t->full[i] = atomic_load(&s.slots[slot - 1].full);
		t->blocked[i] = atomic_load(&s.slots[slot - 1].blocked);
	}
	seg_close(&s);
}

static void run_mpsc(bool spin0)
{
	struct seg_params params = {.name = "mpsc", .capacity = CAPACITY};
	struct run runs[NPROD + 1];
	pid_t pids[NPROD + 1];
	int status[NPROD + 1];
	struct shared *sh;
	struct totals t;
	char name[64];
	uint64_t t0, ms;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	assert_int_equal(harness_shm_new(name, sizeof(name), "mpsc", &params), 0);

	t0 = harness_now_ns();
	for (int i = 0; i <= NPROD; i++) {
		runs[i] = (struct run){.name = name, .spin0 = spin0, .id = i, .sh = sh};
		pids[i] = harness_fork(i == NPROD ? consumer_main : producer_main,
		                       &runs[i]);
	}
	wait_all(pids, status, NPROD + 1, DEADLINE_S);
	ms = (harness_now_ns() - t0) / 1000000u;
	read_totals(name, sh, &t);
	shm_unlink(name);

	printf("# spin %s: %d messages in %llu ms; full/blocked per producer:",
	       spin0 ? "0" : "default", NPROD * NMSG, (unsigned long long)ms);
	for (int i = 0; i < NPROD; i++)
		printf(" %llu/%llu", (unsigned long long)t.full[i],
		       (unsigned long long)t.blocked[i]);
	printf("; consumer sleeps %llu, wakes of producers %llu\n",
	       (unsigned long long)t.cons_sleeps, (unsigned long long)t.cons_wakes);

	for (int i = 0; i <= NPROD; i++) {
		if (status[i] != 0)
			fprintf(stderr, "%s %d: status %d\n",
			        i == NPROD ? "consumer" : "producer", i, status[i]);
	}
	/* The consumer first: when it fails, the producers are killed (-4). */
	assert_int_equal(status[NPROD], 0);
	for (int i = 0; i < NPROD; i++)
		assert_int_equal(status[i], 0);

	assert_int_equal(t.open_rc, 0);
	assert_int_equal(t.cons_msgs, (uint64_t)NPROD * NMSG);
	assert_int_equal(t.head, t.tail);
	for (int i = 0; i < NPROD; i++) {
		uint32_t slot = atomic_load(&sh->prod_slot[i]);

		assert_int_not_equal(slot, 0);
		/* The slot the consumer saw is the one the producer was given. */
		assert_int_equal(atomic_load(&sh->seen_slot[i]), slot);
		assert_int_equal(t.next_seq[i], (uint64_t)NMSG);
	}
	munmap(sh, sizeof(*sh));
}

/* One function a case, alike on purpose: cmocka reports each by name. */
static void test_mpsc_default_spin(void **state)
{
	(void)state;
	run_mpsc(false);
}

static void test_mpsc_no_spin(void **state)
{
	(void)state;
	run_mpsc(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mpsc_default_spin),
		cmocka_unit_test(test_mpsc_no_spin),
	};

	type_probe = bus_type_id("bustest.Probe");
	type_raw = bus_type_id("bustest.Raw");
	type_empty = bus_type_id("bustest.Empty");
	return cmocka_run_group_tests(tests, NULL, NULL);
}

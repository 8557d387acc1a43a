/*
 * test_flip_call.c - a producer rewrites its own records of calls while
 * the consumer reads them, and a writer of a caller's reply queue forges
 * replies.
 *
 * A record of a call (REC_REQUEST, REC_REPLY) carries a call header the
 * consumer must read once: its length, flags and header are checked and
 * copied, and only the copy makes the bus_msg (ring.c, read_call).
 *
 *  - flip_calls: an attacker process attached as a producer writes
 *    requests through the ring functions and, after each commit, keeps
 *    rewriting that record's call_id, reply_to, flags word and length
 *    word while another process receives.  The attacker never touches a
 *    record the consumer has released (the two agree on when a release
 *    happens), so every value a message shows was written at some instant.
 *    In "clean" rounds the flags stay 0, REC_REQUEST or REC_REPLY and the
 *    length one with the record's extent (or claimed, or 0): every record
 *    must come, once, in order, and each message must be one of the views
 *    the attacker offered: a request or a reply (len = the length read
 *    minus header and call header, the call header's values as written,
 *    reply_to 0 in a reply) or a plain message of the whole payload.  In
 *    "garbage" rounds flags and lengths also take values that are corrupt
 *    (unknown flags, padding in the middle, a length too short for the
 *    call header, one past the ring): the consumer may say -EBADMSG and
 *    the queue may end broken, and every message it returns must still be
 *    one of those views.  Payloads are chosen so that a cursor misled
 *    into one reads a word that frames no record.
 *  - forged_reply: a caller with a call in flight; a process that maps
 *    the caller's reply queue (opened in /dev/shm as the same user)
 *    writes a reply with a call_id not in flight, one with call_id 0, a
 *    request and a plain message.  None is returned to the caller; each
 *    is dropped and counted late; the real answer then comes.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "handle.h"
#include "harness.h"
#include "ring.h"
#include "segment.h"

#define ROUND_MS E2E_SCALE(1500, 1500)
#define ROUNDS   E2E_SCALE(3, 2)
#define FLIPS    64

/* The attacker's payload: a word naming the record, then filler. */
#define PLEN  40u
#define LEN   ((int32_t)(REC_HDR + REC_CALL_HDR + PLEN))
#define SHORT (LEN - 3) /* the same extent, 3 bytes less of payload */
#define FILL  0x7f

/*
 * Words whose low half, read as a length, frames no record (a cursor
 * misled into a payload stops there), and whose high half names the
 * record k.
 */
#define WORD(k)   (((uint64_t)(k) << 32) | UINT64_C(0x7f7f7f7f))
#define RT(k)     (((uint64_t)(k) << 32) | UINT64_C(0x7f000000))
#define FORGED_ID UINT64_C(0x7e7e7e7e7e7e7e7e)
#define FORGED_RT UINT64_C(0x0000000d7e000000)

struct shared {
	_Atomic int flipping;       /* the attacker writes a record now */
	_Atomic int releasing;      /* the consumer releases now */
	_Atomic int done;           /* the attacker has stopped */
	_Atomic uint64_t committed; /* records the attacker committed */
	_Atomic uint64_t got;       /* messages received */
	_Atomic uint64_t calls;     /* of which requests or replies */
	_Atomic uint64_t odd;       /* read as other than written first */
	_Atomic uint64_t corrupt;   /* -EBADMSG reported */
	_Atomic int broken;         /* the queue ended broken */
	_Atomic uint64_t bad_at;    /* the check that failed (consumer) */
};

struct round {
	struct shared *sh;
	char name[64];
	bool garbage;
	uint64_t seed;
};

static uint64_t rng(uint64_t *s)
{
	uint64_t x = (*s += UINT64_C(0x9e3779b97f4a7c15));

	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

/*
 * Enters the attacker's side of the release handshake (Dekker, seq_cst):
 * false if the consumer is releasing; then nothing may be written.
 */
static bool flip_enter(struct shared *sh)
{
	atomic_store(&sh->flipping, 1);
	if (atomic_load(&sh->releasing)) {
		atomic_store(&sh->flipping, 0);
		return false;
	}
	return true;
}

static void flip_leave(struct shared *sh)
{
	atomic_store(&sh->flipping, 0);
}

/* A record of the attacker's: where it is, and its number. */
struct rec_ref {
	struct rec_hdr *r;
	uint64_t pos;
	uint64_t k;
};

#define RECENT 64

/*
 * One rewrite of one field of a record: a wrong value, held for a
 * moment, then the right one again.
 */
static void flip_one(const struct rec_ref *ref, bool garbage, uint64_t x)
{
	static const int32_t lens[] = {SHORT, -LEN, 0};
	static const int32_t bad_lens[] = {(int32_t)REC_HDR + 8,
	                                   (int32_t)REC_HDR + 15, INT32_MAX, 4096};
	static const uint32_t flags[] = {REC_REPLY, 0};
	static const uint32_t bad_flags[] = {REC_CALL, 0x20, REC_PAD, REC_DEAD,
	                                     REC_SKIP, REC_REQUEST | 0x100};
	volatile uint64_t *call = (volatile uint64_t *)ring_rec_payload(ref->r);
	volatile uint32_t *fw = &ref->r->flags;
	bool bad = garbage && (x >> 8) % 4 == 0;
	unsigned hold = (unsigned)(x >> 40) % 1024;

	switch (x % 4) {
	case 0:
		call[0] = FORGED_ID;
		break;
	case 1:
		call[1] = FORGED_RT;
		break;
	case 2:
		*fw = bad ? bad_flags[(x >> 20) % 6] : flags[(x >> 20) % 2];
		break;
	default:
		atomic_store(&ref->r->len,
		             bad ? bad_lens[(x >> 20) % 4] : lens[(x >> 20) % 3]);
		break;
	}
	for (volatile unsigned i = 0; i < hold; i++)
		;
	switch (x % 4) {
	case 0:
		call[0] = ref->k;
		break;
	case 1:
		call[1] = RT(ref->k);
		break;
	case 2:
		*fw = REC_REQUEST;
		break;
	default:
		atomic_store(&ref->r->len, LEN);
		break;
	}
}

static int attacker(void *arg)
{
	struct round *rd = arg;
	struct shared *sh = rd->sh;
	uint64_t until = e2e_now_ms() + ROUND_MS, k = 0, x = rd->seed;
	int fd = shm_open(rd->name, O_RDWR | O_CLOEXEC, 0);
	struct rec_ref recent[RECENT];
	struct ring_prod rp;
	bus_producer *p;
	struct seg *s;

	if (fd < 0 || bus_producer_open_fd(fd, &p) < 0)
		return 10;
	s = producer_seg(p);
	ring_prod_init(&rp, s, bus_producer_slot(p));
	while (e2e_now_ms() < until && !atomic_load(&sh->broken)) {
		struct rec_call call;
		struct rec_hdr *r;
		uint64_t pos, word;
		int rc = ring_claim(&rp, REC_CALL_HDR + PLEN, &r);

		/* A head released past the tail (garbage rounds): over. */
		if (rc < 0 && rc != -EAGAIN)
			break;
		if (rc == 0) {
			pos = atomic_load(&rp.slot->claim_pos) +
			      atomic_load(&rp.slot->claim_need) -
			      ring_rec_extent(REC_CALL_HDR + PLEN);
			k++;
			call = (struct rec_call){.call_id = k, .reply_to = RT(k)};
			memcpy(ring_rec_payload(r), &call, sizeof(call));
			word = WORD(k);
			memcpy((uint8_t *)ring_rec_payload(r) + REC_CALL_HDR, &word, sizeof(word));
			memset((uint8_t *)ring_rec_payload(r) + REC_CALL_HDR + 8, FILL, PLEN - 8);
			/* Counted first: the consumer may read it at once. */
			atomic_fetch_add(&sh->committed, 1);
			ring_commit_as(&rp, r, REC_REQUEST, 5, REC_CALL_HDR + PLEN, 1);
			recent[k % RECENT] = (struct rec_ref){r, pos, k};
		}
		/* Rewrites of recent records the consumer has not released. */
		for (int j = 0; j < (rc == 0 ? FLIPS / 8 : FLIPS) && k; j++) {
			uint64_t v = rng(&x);
			const struct rec_ref *ref = &recent[(k - v % RECENT) % RECENT];
			/* relaxed: the consumer's cursor, as it publishes it */
			uint64_t next = atomic_load_explicit(&s->hdr->cons.read_pos,
			                                     memory_order_relaxed);

			if (v % RECENT >= k)
				continue;
			/* Mostly the record the consumer reads next. */
			for (unsigned i = 0; i < RECENT && i < k && v % 4; i++)
				if (recent[i].pos == next)
					ref = &recent[i];
			if (!flip_enter(sh))
				continue;
			if ((int64_t)(ref->pos - atomic_load(&s->hdr->head)) >= 0)
				flip_one(ref, rd->garbage, rng(&x));
			flip_leave(sh);
		}
	}
	atomic_store(&sh->done, 1);
	bus_producer_close(p);
	return 0;
}

/* Returns 0, or the number of the check m fails. */
static int check(const struct round *rd, const struct seg *s, const bus_msg *m,
                 uint64_t *next)
{
	const uint8_t *d = m->data, *ring = s->ring;
	uint64_t word, k;
	bool call = m->flags & (BUS_MSG_REQUEST | BUS_MSG_REPLY);

	if (d < ring || m->len > s->max_message || m->len > (size_t)(ring + s->capacity - d))
		return 1;
	if ((m->flags & BUS_MSG_REQUEST) && (m->flags & BUS_MSG_REPLY))
		return 2;
	if ((size_t)(d - ring) % REC_ALIGN != (call ? (REC_HDR + REC_CALL_HDR) % REC_ALIGN : 0))
		return 3;
	/* The length read, less header (and call header): one offered. */
	if (m->len + REC_HDR + (call ? REC_CALL_HDR : 0) != (size_t)LEN &&
	    m->len + REC_HDR + (call ? REC_CALL_HDR : 0) != (size_t)SHORT)
		return 4;
	if (!call) {
		if (m->call_id || m->reply_to)
			return 5;
		/* The whole payload: the call header first. */
		d += REC_CALL_HDR;
	}
	memcpy(&word, d, sizeof(word));
	k = word >> 32;
	if ((uint32_t)word != 0x7f7f7f7fu || k == 0 || k > atomic_load(&rd->sh->committed))
		return 6;
	if (!rd->garbage) {
		if (k != *next)
			return 7;
		(*next)++;
	}
	if (call && m->call_id != k && m->call_id != FORGED_ID)
		return 8;
	if ((m->flags & BUS_MSG_REQUEST) && m->reply_to != RT(k) && m->reply_to != FORGED_RT)
		return 9;
	if ((m->flags & BUS_MSG_REPLY) && m->reply_to != 0)
		return 10;
	return 0;
}

static int consumer(void *arg)
{
	struct round *rd = arg;
	struct shared *sh = rd->sh;
	int fd = shm_open(rd->name, O_RDWR | O_CLOEXEC, 0);
	uint64_t next = 1, deadline = 0;
	bus_consumer *c;
	const struct seg *s;

	if (fd < 0 || bus_consumer_open_fd(fd, &c) < 0)
		return 20;
	close(fd);
	s = consumer_seg(c);
	for (;;) {
		bus_msg m;
		int rc = bus_recv(c, &m, 5), bad;

		if (rc == 0) {
			bad = check(rd, s, &m, &next);
			if (bad) {
				atomic_store(&sh->bad_at, (uint64_t)bad);
				return 30 + bad;
			}
			atomic_fetch_add(&sh->got, 1);
			if (m.flags & (BUS_MSG_REQUEST | BUS_MSG_REPLY))
				atomic_fetch_add(&sh->calls, 1);
			if (!(m.flags & BUS_MSG_REQUEST) || m.len != PLEN ||
			    m.call_id == FORGED_ID || m.reply_to == FORGED_RT)
				atomic_fetch_add(&sh->odd, 1);
			/* The consumer's side of the handshake. */
			atomic_store(&sh->releasing, 1);
			while (atomic_load(&sh->flipping))
				;
			bus_release(c);
			atomic_store(&sh->releasing, 0);
			/* Now and then the ring fills while the attacker writes. */
			if (atomic_load(&sh->got) % 32 == 0)
				usleep(200);
			continue;
		}
		if (rc == -EBADMSG) {
			if (!rd->garbage)
				return 21;
			atomic_fetch_add(&sh->corrupt, 1);
			if (atomic_load(&s->hdr->state) & SEG_STATE_BROKEN) {
				atomic_store(&sh->broken, 1);
				break;
			}
			continue;
		}
		if (rc != -ETIMEDOUT && rc != -EAGAIN)
			return 22;
		if (!atomic_load(&sh->done))
			continue;
		if (!rd->garbage && atomic_load(&sh->got) == atomic_load(&sh->committed))
			break;
		if (!deadline)
			deadline = e2e_now_ms() + (rd->garbage ? 200 : 10000);
		if (e2e_now_ms() > deadline) {
			if (!rd->garbage)
				return 23;
			break;
		}
	}
	bus_consumer_close(c);
	return 0;
}

static uint64_t run_round(struct e2e *e, int i, bool garbage)
{
	uint64_t seen;
	struct seg_params sp = {.name = "flipcall", .capacity = 4096, .max_producers = 2};
	struct round rd = {.garbage = garbage, .seed = (uint64_t)i * 7919 + 1};
	const char *why = NULL;
	struct seg s;
	pid_t att, cons;
	int st;

	rd.sh = mmap(NULL, sizeof(*rd.sh), PROT_READ | PROT_WRITE,
	             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(rd.sh != MAP_FAILED);
	snprintf(rd.name, sizeof(rd.name), "/bus-test-flipcall-%d-%d", (int)getpid(), i);
	assert_int_equal(seg_create_shm(rd.name, &sp, &s, &why), 0);
	seg_close(&s);
	cons = e2e_fork(e, consumer, &rd);
	att = e2e_fork(e, attacker, &rd);
	st = e2e_wait(e, att, 60);
	if (st != 0)
		fail_msg("round %d: the attacker exited with %d", i, st);
	st = e2e_wait(e, cons, 60);
	shm_unlink(rd.name);
	fprintf(stderr,
	        "round %d (%s): %llu committed, %llu received (%llu as calls, "
	        "%llu other than sent), %llu corrupt%s\n",
	        i, garbage ? "garbage" : "clean",
	        (unsigned long long)atomic_load(&rd.sh->committed),
	        (unsigned long long)atomic_load(&rd.sh->got),
	        (unsigned long long)atomic_load(&rd.sh->calls),
	        (unsigned long long)atomic_load(&rd.sh->odd),
	        (unsigned long long)atomic_load(&rd.sh->corrupt),
	        atomic_load(&rd.sh->broken) ? ", broken" : "");
	if (st != 0)
		fail_msg("round %d: the consumer exited with %d (check %llu)", i, st,
		         (unsigned long long)atomic_load(&rd.sh->bad_at));
	/*
	 * A garbage round may break the queue at its first record (the
	 * consumer judges the length it read, once): then nothing arrives,
	 * and that is right.  A clean round delivers everything.
	 */
	if (!garbage) {
		assert_true(atomic_load(&rd.sh->got) > 0);
		assert_int_equal(atomic_load(&rd.sh->got), atomic_load(&rd.sh->committed));
	}
	seen = atomic_load(&rd.sh->odd) + atomic_load(&rd.sh->corrupt);
	munmap(rd.sh, sizeof(*rd.sh));
	return seen;
}

static void flip_calls(void **state)
{
	struct e2e *e = *state;

	uint64_t seen = 0;

	for (int i = 0; i < 2 * ROUNDS; i++)
		seen += run_round(e, i, i % 2);
	/* The attack came through: records were read mid-rewrite. */
	assert_true(seen > 0);
}

static void forge(bus_producer *p, uint32_t flags, uint64_t call_id)
{
	struct rec_call call = {.call_id = call_id, .reply_to = 0};

	assert_int_equal(producer_send_call(p, flags, &call, 3, "forged", 6, 0), 0);
}

/* Test functions open alike on purpose: each declares its handles in view. */
static void forged_reply(void **state)
{
	struct e2e *e = *state;
	char path[300];
	bus_producer *forger;
	bus_consumer *svc;
	bus_client *cl;
	bus_stats st;
	bus_msg m, req;
	uint64_t id, got_id = 0;
	bus *b;
	int fd, rc;

	e2e_create(e, "svc", "64K");
	b = e2e_open(e);
	assert_int_equal(bus_consumer_open(b, "svc", &svc), 0);
	assert_int_equal(bus_client_open(b, "svc", &cl), 0);
	/* the one segment of this busd's that is not svc's: the reply queue */
	assert_true(e2e_shm_path_other(e, "svc", path, sizeof(path)));
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(bus_producer_open_fd(fd, &forger), 0);

	assert_int_equal(bus_client_send(cl, 1, "q1", 2, &id), 0);
	assert_int_equal(bus_client_in_flight(cl), 1);
	/* A reply to no call, one numbered 0, a request and a plain message. */
	forge(forger, REC_REPLY, id + 1000);
	forge(forger, REC_REPLY, 0);
	forge(forger, REC_REQUEST, id);
	assert_int_equal(bus_send(forger, 3, "plain", 5, 0), 0);
	rc = bus_client_recv(cl, &m, &got_id, 200);
	assert_true(rc == -ETIMEDOUT || rc == -EAGAIN);
	assert_int_equal(got_id, 0);
	assert_int_equal(bus_client_in_flight(cl), 1);
	assert_int_equal(bus_queue_stats(b, "svc", &st), 0);
	assert_int_equal(st.late_replies, 4);

	/* The service's answer is the one returned. */
	assert_int_equal(bus_recv(svc, &req, 5000), 0);
	assert_true(req.flags & BUS_MSG_REQUEST);
	assert_int_equal(req.call_id, id);
	assert_int_equal(bus_reply(svc, &req, 7, "a1", 2, 5000), 0);
	bus_release(svc);
	assert_int_equal(bus_client_recv(cl, &m, &got_id, 5000), 0);
	assert_int_equal(got_id, id);
	assert_int_equal(m.call_id, id);
	assert_int_equal(m.len, 2);
	assert_memory_equal(m.data, "a1", 2);
	assert_int_equal(m.type, 7);
	assert_int_equal(bus_client_in_flight(cl), 0);
	bus_client_release(cl);

	/* A cancelled call: a forged reply and the late real one are dropped. */
	assert_int_equal(bus_client_send(cl, 1, "q2", 2, &id), 0);
	assert_int_equal(bus_client_cancel(cl, id), 0);
	forge(forger, REC_REPLY, id);
	assert_int_equal(bus_recv(svc, &req, 5000), 0);
	assert_int_equal(bus_reply(svc, &req, 7, "late", 4, 5000), 0);
	bus_release(svc);
	rc = bus_client_recv(cl, &m, &got_id, 200);
	assert_true(rc == -ETIMEDOUT || rc == -EAGAIN);
	assert_int_equal(bus_queue_stats(b, "svc", &st), 0);
	assert_int_equal(st.late_replies, 6);

	bus_producer_close(forger);
	bus_client_close(cl);
	bus_consumer_close(svc);
	bus_close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		E2E_TEST(flip_calls),
		E2E_TEST(forged_reply),
	};

	return E2E_RUN_GROUP("hostile flip call", tests);
}

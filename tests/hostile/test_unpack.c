/*
 * test_unpack.c - a producer rewrites its payload while the consumer
 * decodes it with bus_msg_unpack().
 *
 * protobuf-c reads a packed repeated field twice: it counts the elements,
 * sizes the array from the count, then decodes them into it.  A producer
 * can write its record after the commit (it maps the ring read-write), so
 * if the decoder read the ring it could find more elements the second
 * time than it counted the first, and write past the array: past the
 * arena, into whatever follows.
 *
 * The attacker sends a bustest.Samples whose packed field has the same
 * length in two encodings: A, 400 elements of 5 bytes, and B, 2,000 of 1
 * byte; then, until the consumer releases the record, it writes A and B
 * over the payload in turn.  The consumer decodes each message into a
 * 4,096-byte arena that ends at a PROT_NONE page: a write past the arena
 * kills it.  It must survive every message, and what it decodes must be
 * whole: A, B, or (a copy taken mid-rewrite) a mix that decodes within
 * the arena.
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "harness.h"
#include "ring.h"
#include "segment.h"
#include "test.pb-c.h"

#define QUEUE  "unpack"
#define RUN_MS E2E_SCALE(3000, 3000)
#define FIELD  2000 /* bytes of the packed field, both encodings */
#define N_A    (FIELD / 5)
#define N_B    FIELD
#define BIG    UINT32_C(0xf0000000) /* five bytes as a varint */
#define ARENA  4096
#define PAGE   4096

struct shared {
	_Atomic int stop;
	_Atomic uint64_t sent, decoded, refused, torn;
};

static struct shared *sh;
static char sock[300];

/* Packs Samples with n copies of v into buf; returns its size. */
static size_t pack_samples(uint8_t *buf, size_t n, uint32_t v)
{
	Bustest__Samples s;
	uint32_t *vals = malloc(n * sizeof(*vals));
	size_t len;

	assert_non_null(vals);
	bustest__samples__init(&s);
	for (size_t i = 0; i < n; i++)
		vals[i] = v;
	s.n_values = n;
	s.values = vals;
	len = bustest__samples__pack(&s, buf);
	free(vals);
	return len;
}

/*
 * The attacker: sends a message, finds its record (the only producer,
 * so it ends at the tail), and rewrites its payload until the consumer
 * has released it (the record is zeroed).
 */
static int attacker(void *arg)
{
	const char *shm_path = arg;
	uint8_t a[FIELD + 16], bb[FIELD + 16];
	size_t la = pack_samples(a, N_A, BIG), lb = pack_samples(bb, N_B, 1);
	bus *b;
	bus_producer *p;
	uint64_t until = e2e_now_ms() + RUN_MS;
	int fd = open(shm_path, O_RDWR | O_CLOEXEC);
	struct stat st;
	uint8_t *mem;
	struct seg s;
	const char *why;

	/* Its own mapping of the segment, to reach the record after commit. */
	if (la != lb || fd < 0 || fstat(fd, &st) < 0)
		return 10;
	mem = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED || seg_view(mem, (size_t)st.st_size, &s, &why) < 0)
		return 11;
	if (bus_open(sock, &b) < 0 || bus_producer_open(b, QUEUE, &p) < 0)
		return 12;
	while (e2e_now_ms() < until) {
		uint64_t ext = ring_rec_extent(la), tail;
		struct rec_hdr *r;
		uint8_t *payload;

		if (bus_send(p, 0, a, la, 1000) < 0)
			return 13;
		atomic_fetch_add(&sh->sent, 1);
		/* relaxed: we are the only producer; our record ends at the tail */
		tail = atomic_load_explicit(&s.hdr->tail, memory_order_relaxed);
		r = (struct rec_hdr *)(s.ring + ((tail - ext) & (s.capacity - 1)));
		payload = (uint8_t *)r + REC_HDR;
		for (unsigned i = 0;; i++) {
			/* relaxed: zeroed by the consumer's release */
			if (atomic_load_explicit(&r->len, memory_order_relaxed) <= 0)
				break;
			memcpy(payload, i & 1 ? bb : a, la);
			/* The consumer stopped releasing: it died. */
			if ((i & 4095) == 0 && e2e_now_ms() > until + 5000) {
				atomic_store(&sh->stop, 1);
				return 14;
			}
		}
	}
	atomic_store(&sh->stop, 1);
	bus_producer_close(p);
	bus_close(b);
	return 0;
}

/* Whole A or B, or a mix: every value one of the two. */
static int check_samples(const Bustest__Samples *s, const uint8_t *arena)
{
	if (s->n_values < N_A || s->n_values > N_B)
		return 0;
	if ((const uint8_t *)s->values < arena ||
	    (const uint8_t *)(s->values + s->n_values) > arena + ARENA)
		return 0;
	for (size_t i = 0; i < s->n_values; i++)
		if (s->values[i] != BIG && s->values[i] != 1)
			return 2;
	return 1;
}

static int consumer(void *arg)
{
	bus *b;
	bus_consumer *c;
	uint8_t *mem, *arena;

	(void)arg;
	/* The arena is the last ARENA bytes before a page nobody may touch. */
	mem = mmap(NULL, ARENA + PAGE, PROT_READ | PROT_WRITE,
	           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED || mprotect(mem + ARENA, PAGE, PROT_NONE) < 0)
		return 20;
	arena = mem;
	if (bus_open(sock, &b) < 0 || bus_consumer_open(b, QUEUE, &c) < 0)
		return 21;
	for (;;) {
		ProtobufCMessage *pm;
		bus_msg m;
		int rc = bus_recv(c, &m, 100);

		if (rc == -ETIMEDOUT) {
			if (atomic_load(&sh->stop))
				break;
			continue;
		}
		if (rc < 0)
			return 22;
		rc = bus_msg_unpack(&m, &bustest__samples__descriptor, arena, ARENA, &pm);
		if (rc == 0) {
			int ok = check_samples((const Bustest__Samples *)pm, arena);

			if (ok == 0)
				return 23;
			atomic_fetch_add(ok == 1 ? &sh->decoded : &sh->torn, 1);
		} else if (rc == -EBADMSG || rc == -ENOBUFS) {
			atomic_fetch_add(&sh->refused, 1);
		} else {
			return 24;
		}
		bus_release(c);
	}
	bus_consumer_close(c);
	bus_close(b);
	return 0;
}

static void rewrite_while_unpacking(void **state)
{
	struct e2e *e = *state;
	char path[300] = "";
	pid_t att, cons;
	int st, st_att;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(sh != MAP_FAILED);
	snprintf(sock, sizeof(sock), "%s", e->socket);
	e2e_create(e, QUEUE, "64K");
	assert_true(e2e_shm_path(e, QUEUE, path, sizeof(path)));
	cons = e2e_fork(e, consumer, NULL);
	e2e_sleep_ms(100);
	att = e2e_fork(e, attacker, path);
	st_att = e2e_wait(e, att, 60);
	st = e2e_wait(e, cons, 60);
	fprintf(stderr,
	        "%llu sent: %llu decoded whole, %llu decoded torn, %llu refused\n",
	        (unsigned long long)sh->sent, (unsigned long long)sh->decoded,
	        (unsigned long long)sh->torn, (unsigned long long)sh->refused);
	if (st != 0)
		fail_msg("the consumer exited with %d (1000 + signal: it crashed)", st);
	if (st_att != 0)
		fail_msg("the attacker exited with %d", st_att);
	assert_int_equal(sh->decoded + sh->torn + sh->refused, sh->sent);
	/* Not vacuous: messages were decoded while being rewritten. */
	assert_true(sh->decoded > 0);
	munmap(sh, sizeof(*sh));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		E2E_TEST(rewrite_while_unpacking),
	};

	return E2E_RUN_GROUP("hostile unpack", tests);
}

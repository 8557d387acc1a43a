/*
 * fuzz_unpack.c - bus_msg_unpack() on a payload another process rewrites
 * while it is decoded.
 *
 * A payload lies in the ring, which every producer can write after its
 * commit.  Here a mutator process (forked once, sharing one page-aligned
 * region with us) writes two versions of a payload, A and B, over the
 * live buffer in turn, as fast as it can, while this process decodes the
 * live buffer again and again into an arena that ends at a PROT_NONE
 * page.  Whatever the mutator does, bus_msg_unpack must return 0,
 * -EBADMSG or -ENOBUFS, and everything it builds must lie in the arena:
 * a write past it is a SIGSEGV on the guard page, a read of the result
 * is checked below.
 *
 * Input: [0] message type (Samples, Nested, Probe), [1..2] arena size
 * (little-endian, 0..4095 after the modulo), then A and B, the two
 * halves of the rest (B may be shorter: it is padded with A's bytes).
 *
 * The mutator is another process, not a thread, because a producer is:
 * ThreadSanitizer would otherwise report the attack itself.
 */
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "fuzz.h"

#define MAX_PAYLOAD 8192
#define ARENA_MAX   4096
#define PAGE        4096
#define DECODES     64

struct shared {
	_Atomic uint32_t len; /* bytes of a and b; 0: the mutator idles */
	_Atomic uint32_t gen; /* bumped when a and b change */
	uint8_t a[MAX_PAYLOAD];
	uint8_t b[MAX_PAYLOAD];
	uint8_t live[MAX_PAYLOAD];
};

static struct shared *sh;
static uint8_t *arena_end; /* the guard page starts here */

static void mutator(void)
{
	/* Dies with the fuzzer, whatever kills it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(0);
	for (unsigned i = 0;; i++) {
		/* relaxed: the attacker needs no order, only speed */
		uint32_t n = atomic_load_explicit(&sh->len, memory_order_relaxed);
		const volatile uint8_t *src = i & 1 ? sh->b : sh->a;
		volatile uint8_t *dst = sh->live;

		if (n > MAX_PAYLOAD)
			n = 0;
		for (uint32_t k = 0; k < n; k++)
			dst[k] = src[k];
	}
}

static void setup(void)
{
	uint8_t *guard;
	pid_t pid;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	FUZZ_CHECK(sh != MAP_FAILED);
	/* ARENA_MAX bytes, then a page nobody may touch */
	guard = mmap(NULL, ARENA_MAX + PAGE, PROT_READ | PROT_WRITE,
	             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	FUZZ_CHECK(guard != MAP_FAILED);
	FUZZ_CHECK(mprotect(guard + ARENA_MAX, PAGE, PROT_NONE) == 0);
	arena_end = guard + ARENA_MAX;
	pid = fork();
	FUZZ_CHECK(pid >= 0);
	if (pid == 0)
		mutator();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setup();
	return 0;
}

static bool in_arena(const void *p, size_t n, const uint8_t *arena)
{
	const uint8_t *q = p;

	return q >= arena && q <= arena_end && n <= (size_t)(arena_end - q);
}

/* Everything the decoded message points to lies in the arena. */
static void check_result(const ProtobufCMessageDescriptor *desc,
                         const ProtobufCMessage *m, const uint8_t *arena)
{
	FUZZ_CHECK(in_arena(m, desc->sizeof_message, arena));
	if (desc == &bustest__samples__descriptor) {
		const Bustest__Samples *s = (const Bustest__Samples *)m;

		FUZZ_CHECK(s->n_values == 0 ||
		           in_arena(s->values, s->n_values * sizeof(*s->values), arena));
	} else if (desc == &bustest__nested__descriptor) {
		const Bustest__Nested *n = (const Bustest__Nested *)m;

		FUZZ_CHECK(n->n_probes == 0 ||
		           in_arena(n->probes, n->n_probes * sizeof(*n->probes), arena));
		for (size_t i = 0; i < n->n_probes; i++)
			FUZZ_CHECK(in_arena(n->probes[i], sizeof(*n->probes[i]), arena));
	} else {
		const Bustest__Probe *p = (const Bustest__Probe *)m;

		FUZZ_CHECK(p->body.len == 0 || in_arena(p->body.data, p->body.len, arena));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const ProtobufCMessageDescriptor *const descs[] = {
		&bustest__samples__descriptor,
		&bustest__nested__descriptor,
		&bustest__probe__descriptor,
	};
	const ProtobufCMessageDescriptor *desc;
	size_t arena_size, half, blen;
	uint8_t *arena;

	if (!sh)
		setup();
	if (size < 3)
		return 0;
	desc = descs[data[0] % 3];
	arena_size = fuzz_le(data, size, 1, 2) % ARENA_MAX;
	arena = arena_end - arena_size;
	data += 3;
	size -= 3;
	half = (size + 1) / 2;
	if (half > MAX_PAYLOAD)
		return 0;
	blen = size - half;
	/* The mutator idles while A and B change. */
	atomic_store_explicit(&sh->len, 0, memory_order_seq_cst);
	memcpy(sh->a, data, half);
	memcpy(sh->b, data + half, blen);
	memcpy(sh->b + blen, data + blen, half - blen);
	memcpy(sh->live, sh->a, half);
	atomic_store_explicit(&sh->len, (uint32_t)half, memory_order_seq_cst);

	for (int i = 0; i < DECODES; i++) {
		bus_msg m = {.data = sh->live, .len = half};
		ProtobufCMessage *pm = NULL;
		int r = bus_msg_unpack(&m, desc, arena, arena_size, &pm);

		FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -ENOBUFS);
		if (r == 0)
			check_result(desc, pm, arena);
	}
	return 0;
}

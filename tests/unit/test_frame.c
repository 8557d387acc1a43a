/*
 * test_frame.c - protobuf messages in and out of the ring.
 *
 * bus_send_pb packs straight into the claimed record and bus_msg_unpack
 * decodes straight from it into a caller's arena.  The normal build also
 * replaces malloc in this program to prove that neither path allocates;
 * sanitizer builds keep their own allocator and leave that test out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "harness.h"
#include "test.pb-c.h"

#if !defined(BUS_TEST_SANITIZED)
/*
 * Counting allocator: the whole program's malloc goes through here.
 * glibc's own allocator entry points, which the wrappers call, have
 * reserved names by nature: NOLINTBEGIN(bugprone-reserved-identifier)
 */
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
/* NOLINTEND(bugprone-reserved-identifier) */

static int allocs;

/* Counted as clients/busbench/cost.c counts, on purpose (see there). */
void *malloc(size_t n);
void *calloc(size_t n, size_t m);
void *realloc(void *p, size_t n);
void free(void *p);

void *malloc(size_t n)
{
	allocs++;
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	allocs++;
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	allocs++;
	return __libc_realloc(p, n);
}

void free(void *p)
{
	__libc_free(p);
}
#define ALLOCS_SINCE(n) (allocs - (n))
#define ALLOCS_NOW()    allocs
#endif

static struct mem_seg ms;
static bus_producer *prod;
static bus_consumer *cons;
static _Alignas(16) uint8_t arena[16384];

/* Each test's queue, in memory: made by the setup, freed by the teardown. */
static const struct seg_params params = {.name = "frame", .capacity = 16384};
static struct harness_mem_fixture fx = {&params, NULL, &ms, &prod, &cons};

static void fill_probe(Bustest__Probe *p, uint8_t *body, size_t n, uint64_t seq)
{
	for (size_t i = 0; i < n; i++)
		body[i] = (uint8_t)(seq * 31 + i);
	bustest__probe__init(p);
	p->producer = 3;
	p->seq = seq;
	p->body.data = body;
	p->body.len = n;
	p->checksum = harness_checksum(body, n);
}

/* bus_msg_unpack of m as a Probe into the whole of arena. */
static int unpack_probe(const bus_msg *m, ProtobufCMessage **out)
{
	return bus_msg_unpack(m, &bustest__probe__descriptor, arena, sizeof(arena), out);
}

static bool in_arena(const void *p)
{
	return (const uint8_t *)p >= arena && (const uint8_t *)p < arena + sizeof(arena);
}

/* A Probe goes in packed and comes out equal, decoded into the arena. */
static void test_roundtrip(void **state)
{
	uint32_t type = bus_type_id("bustest.Probe");
	uint8_t body[300];
	Bustest__Probe in;
	ProtobufCMessage *out;
	Bustest__Probe *p;
	bus_msg m;

	(void)state;
	fill_probe(&in, body, sizeof(body), 42);
	assert_int_equal(bus_send_pb(prod, type, &in.base, 0), 0);
	assert_int_equal(bus_recv(cons, &m, 0), 0);
	assert_int_equal(m.type, type);
	assert_int_equal(m.len, bustest__probe__get_packed_size(&in));
	assert_int_equal(unpack_probe(&m, &out), 0);
	p = (Bustest__Probe *)out;
	assert_true(in_arena(p));
	assert_int_equal(p->producer, 3);
	assert_int_equal(p->seq, 42);
	assert_int_equal(p->body.len, sizeof(body));
	assert_true(in_arena(p->body.data));
	assert_memory_equal(p->body.data, body, sizeof(body));
	assert_int_equal(p->checksum, harness_checksum(body, sizeof(body)));
	bus_release(cons);
	/* The decoded copy outlives the release of the record. */
	assert_memory_equal(p->body.data, body, sizeof(body));
}

/* Nested, repeated and map fields all land in the arena. */
static void test_nested(void **state)
{
	uint8_t body[3][40];
	Bustest__Probe probes[3], *pp[3];
	Bustest__Nested__CountersEntry ce[2], *cp[2];
	Bustest__Nested in = BUSTEST__NESTED__INIT, *out;
	ProtobufCMessage *o;
	bus_msg m;

	(void)state;
	for (int i = 0; i < 3; i++) {
		fill_probe(&probes[i], body[i], sizeof(body[i]), (uint64_t)i);
		pp[i] = &probes[i];
	}
	for (int i = 0; i < 2; i++) {
		bustest__nested__counters_entry__init(&ce[i]);
		ce[i].key = i ? "sent" : "lost";
		ce[i].value = (uint64_t)i * 1000 + 7;
		cp[i] = &ce[i];
	}
	in.name = "batch";
	in.n_probes = 3;
	in.probes = pp;
	in.n_counters = 2;
	in.counters = cp;
	assert_int_equal(bus_send_pb(prod, 2, &in.base, 0), 0);
	assert_int_equal(bus_recv(cons, &m, 0), 0);
	assert_int_equal(bus_msg_unpack(&m, &bustest__nested__descriptor, arena,
	                                sizeof(arena), &o),
	                 0);
	out = (Bustest__Nested *)o;
	assert_string_equal(out->name, "batch");
	assert_true(in_arena(out->name));
	assert_int_equal(out->n_probes, 3);
	for (int i = 0; i < 3; i++) {
		assert_true(in_arena(out->probes[i]));
		assert_int_equal(out->probes[i]->seq, i);
		assert_memory_equal(out->probes[i]->body.data, body[i], sizeof(body[i]));
	}
	assert_int_equal(out->n_counters, 2);
	assert_string_equal(out->counters[1]->key, "sent");
	assert_int_equal(out->counters[1]->value, 1007);
	bus_release(cons);
}

/* Too small an arena: -ENOBUFS, and nothing written past it. */
static void test_arena_bound(void **state)
{
	uint8_t body[1000];
	uint8_t small[64 + 16];
	Bustest__Probe in;
	ProtobufCMessage *out = NULL;
	bus_msg m;

	(void)state;
	fill_probe(&in, body, sizeof(body), 1);
	assert_int_equal(bus_send_pb(prod, 1, &in.base, 0), 0);
	assert_int_equal(bus_recv(cons, &m, 0), 0);
	memset(small, 0xa5, sizeof(small));
	assert_int_equal(bus_msg_unpack(&m, &bustest__probe__descriptor, small, 64,
	                                &out),
	                 -ENOBUFS);
	assert_null(out);
	for (size_t i = 64; i < sizeof(small); i++)
		assert_int_equal(small[i], 0xa5);
	/* A misaligned arena start is aligned internally. */
	assert_int_equal(bus_msg_unpack(&m, &bustest__probe__descriptor, arena + 1,
	                                sizeof(arena) - 1, &out),
	                 0);
	assert_int_equal(((uintptr_t)out) % _Alignof(max_align_t), 0);
	assert_int_equal(((Bustest__Probe *)out)->body.len, sizeof(body));
	bus_release(cons);
}

/* A record that does not decode is an error for that record only. */
static void test_bad_record_then_good(void **state)
{
	static const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
	uint8_t body[16];
	Bustest__Probe in;
	ProtobufCMessage *out;
	bus_msg m;

	(void)state;
	assert_int_equal(bus_send(prod, 9, junk, sizeof(junk), 0), 0);
	fill_probe(&in, body, sizeof(body), 5);
	assert_int_equal(bus_send_pb(prod, 9, &in.base, 0), 0);

	assert_int_equal(bus_recv(cons, &m, 0), 0);
	assert_int_equal(unpack_probe(&m, &out), -EBADMSG);
	assert_int_equal(bus_recv(cons, &m, 0), 0);
	assert_int_equal(m.seq, 1);
	assert_int_equal(unpack_probe(&m, &out), 0);
	assert_int_equal(((Bustest__Probe *)out)->seq, 5);
	bus_release(cons);
}

/* Its checks are written out like those above on purpose: each is what the test asserts. */
/* All-default message: zero bytes on the wire, still a message. */
static void test_empty_message(void **state)
{
	Bustest__Probe in = BUSTEST__PROBE__INIT;
	ProtobufCMessage *out;
	bus_msg m;

	(void)state;
	assert_int_equal(bus_send_pb(prod, 4, &in.base, 0), 0);
	assert_int_equal(bus_recv(cons, &m, 0), 0);
	assert_int_equal(m.len, 0);
	assert_int_equal(unpack_probe(&m, &out), 0);
	assert_int_equal(((Bustest__Probe *)out)->seq, 0);
	bus_release(cons);
}

/* Larger than the queue allows: -EMSGSIZE and nothing claimed. */
static void test_oversized(void **state)
{
	size_t n = bus_producer_max_message(prod);
	uint8_t *body = calloc(1, n);
	Bustest__Probe in;
	uint64_t tail = atomic_load(&ms.seg.hdr->tail);
	bus_msg m;

	(void)state;
	assert_non_null(body);
	fill_probe(&in, body, n, 1);
	assert_int_equal(bus_send_pb(prod, 1, &in.base, 0), -EMSGSIZE);
	assert_int_equal(atomic_load(&ms.seg.hdr->tail), tail);
	assert_int_equal(bus_recv(cons, &m, 0), -EAGAIN);
	free(body);
}

#if !defined(BUS_TEST_SANITIZED)
/* Neither sending nor receiving a protobuf message allocates. */
static void test_no_malloc(void **state)
{
	uint8_t body[200];
	Bustest__Probe in;
	ProtobufCMessage *out;
	bus_msg m;
	int before;

	(void)state;
	fill_probe(&in, body, sizeof(body), 9);
	/* The counter does see this program's allocations. */
	before = ALLOCS_NOW();
	free(malloc(1));
	assert_int_equal(ALLOCS_SINCE(before), 1);
	before = ALLOCS_NOW();
	for (int i = 0; i < 100; i++) {
		assert_int_equal(bus_send_pb(prod, 1, &in.base, 0), 0);
		assert_int_equal(bus_send(prod, 1, body, sizeof(body), 0), 0);
		assert_int_equal(bus_recv(cons, &m, 0), 0);
		assert_int_equal(unpack_probe(&m, &out), 0);
		assert_int_equal(bus_recv(cons, &m, 0), 0);
		bus_release(cons);
	}
	/* assert_* themselves do not allocate on success. */
	assert_int_equal(ALLOCS_SINCE(before), 0);
}
#endif

#define MEM_TEST(f)                                                    \
	cmocka_unit_test_prestate_setup_teardown(f, harness_mem_setup, \
	                                         harness_mem_teardown, &fx)

int main(void)
{
	const struct CMUnitTest tests[] = {
		MEM_TEST(test_roundtrip),
		MEM_TEST(test_nested),
		MEM_TEST(test_arena_bound),
		MEM_TEST(test_bad_record_then_good),
		MEM_TEST(test_empty_message),
		MEM_TEST(test_oversized),
#if !defined(BUS_TEST_SANITIZED)
		/* The sanitizers own malloc; this check runs in the normal build. */
		MEM_TEST(test_no_malloc),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

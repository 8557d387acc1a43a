/*
 * test_segment.c - queue segments: parameters, layout validation, shared
 * memory objects, kernel locks, consumer lease and producer slots.
 *
 * Parameter and header checks run on memory segments and copies of them:
 * each field is corrupted in turn and must be refused with the right
 * error and a reason, without validation writing a byte.  The shared-
 * memory tests create objects under names private to this process (from
 * harness_shm_kept_name), and the teardown harness_shm_let_go unlinks every one even when a
 * check fails.  Creation makes a segment under a temporary name and names
 * it only once it is complete: a failed creation leaves neither name, and
 * a watcher never finds the final name half-made.  The lock tests use
 * several open file descriptions of one object in this one process: OFD
 * locks conflict between descriptions, not between processes, so no fork
 * is needed.
 */
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "harness.h"

#define NAME10 "abcdefghij"
#define NAME64 NAME10 NAME10 NAME10 NAME10 NAME10 NAME10 "klmn"
#define NAME65 NAME64 "o"

_Static_assert(sizeof(NAME64) == 65 && sizeof(NAME65) == 66, "name lengths");

static uint64_t align_to(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

/* The object size for capacity and producers, computed independently. */
static size_t expected_size(uint64_t capacity, uint32_t producers)
{
	uint64_t slots = align_to(sizeof(struct seg_header), SEG_LINE);

	return (size_t)(align_to(slots + producers * (uint64_t)SEG_LINE,
	                         SEG_RING_ALIGN) +
	                capacity);
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

static bool fd_closed(int fd)
{
	return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

/* --- parameters --- */

struct bad_params {
	const char *what;
	struct seg_params p;
	enum seg_param_error error;
};

static const struct bad_params bad_params[] = {
	{"capacity 0", {.name = "q", .capacity = 0}, SEG_PARAM_CAPACITY},
	{"capacity 255", {.name = "q", .capacity = 255}, SEG_PARAM_CAPACITY},
	{"capacity 384, not a power of two", {.name = "q", .capacity = 384}, SEG_PARAM_CAPACITY},
	{"capacity 4097", {.name = "q", .capacity = 4097}, SEG_PARAM_CAPACITY},
	{"capacity 128, below 256", {.name = "q", .capacity = 128}, SEG_PARAM_CAPACITY},
	{"capacity 8", {.name = "q", .capacity = 8}, SEG_PARAM_CAPACITY},
	{"capacity 2 GiB", {.name = "q", .capacity = UINT64_C(1) << 31}, SEG_PARAM_CAPACITY},
	{"capacity 2^63", {.name = "q", .capacity = UINT64_C(1) << 63}, SEG_PARAM_CAPACITY},
	{"capacity 1 GiB + 4096", {.name = "q", .capacity = (UINT64_C(1) << 30) + 4096}, SEG_PARAM_CAPACITY},
	{"max_message 97 for 256", {.name = "q", .capacity = 256, .max_message = 97}, SEG_PARAM_MAX_MESSAGE},
	{"max_message 2017 for 4096", {.name = "q", .capacity = 4096, .max_message = 2017}, SEG_PARAM_MAX_MESSAGE},
	{"max_message UINT32_MAX", {.name = "q", .capacity = 4096, .max_message = UINT32_MAX}, SEG_PARAM_MAX_MESSAGE},
	{"1025 producers", {.name = "q", .capacity = 4096, .max_producers = 1025}, SEG_PARAM_PRODUCERS},
	{"UINT32_MAX producers", {.name = "q", .capacity = 4096, .max_producers = UINT32_MAX}, SEG_PARAM_PRODUCERS},
	{"NULL name", {.name = NULL, .capacity = 4096}, SEG_PARAM_NAME},
	{"empty name", {.name = "", .capacity = 4096}, SEG_PARAM_NAME},
	{"65-character name", {.name = NAME65, .capacity = 4096}, SEG_PARAM_NAME},
	{"name a/b", {.name = "a/b", .capacity = 4096}, SEG_PARAM_NAME},
	{"name /a", {.name = "/a", .capacity = 4096}, SEG_PARAM_NAME},
	{"name .", {.name = ".", .capacity = 4096}, SEG_PARAM_NAME},
	{"name ..", {.name = "..", .capacity = 4096}, SEG_PARAM_NAME},
	{"name ../etc", {.name = "../etc", .capacity = 4096}, SEG_PARAM_NAME},
	{"name a b", {.name = "a b", .capacity = 4096}, SEG_PARAM_NAME},
	{"name with a newline", {.name = "a\n", .capacity = 4096}, SEG_PARAM_NAME},
	{"name with UTF-8", {.name = "caf\xc3\xa9", .capacity = 4096}, SEG_PARAM_NAME},
	{"initial_pos 4", {.name = "q", .capacity = 4096, .initial_pos = 4}, SEG_PARAM_INITIAL_POS},
	{"initial_pos 1", {.name = "q", .capacity = 4096, .initial_pos = 1}, SEG_PARAM_INITIAL_POS},
	{"initial_pos UINT64_MAX", {.name = "q", .capacity = 4096, .initial_pos = UINT64_MAX}, SEG_PARAM_INITIAL_POS},
};

static void test_params(void **state)
{
	const size_t good_size = expected_size(4096, SEG_DEFAULT_PRODUCERS);
	struct seg_params good = {.name = "q", .capacity = 4096};
	struct seg_param_why pw;
	const char *why = NULL;
	size_t size = 0;
	void *mem;

	(void)state;
	assert_int_equal(seg_max_message_for(256), 128 - REC_HDR);
	assert_int_equal(seg_max_message_for(4096), 2048 - REC_HDR);
	assert_int_equal(seg_max_message_for(UINT64_C(1) << 30),
	                 (UINT64_C(1) << 29) - REC_HDR);
	assert_int_equal(seg_size(&good, &size, &why), 0);
	assert_int_equal(size, good_size);
	assert_int_equal(seg_params_check(&good, SEG_MAX_CAPACITY, &pw),
	                 SEG_PARAM_OK);
	assert_string_equal(pw.text, "");
	assert_int_equal(pw.min_capacity, SEG_MIN_CAPACITY);
	assert_int_equal(pw.max_capacity, SEG_MAX_CAPACITY);
	assert_int_equal(pw.max_message, 2048 - REC_HDR);
	assert_int_equal(pw.max_producers, SEG_MAX_PRODUCERS);

	/* A caller's lower limit on the capacity, and the limits it reports. */
	assert_int_equal(seg_params_check(&good, 4096, &pw), SEG_PARAM_OK);
	assert_int_equal(seg_params_check(&good, 2048, &pw), SEG_PARAM_CAPACITY);
	assert_int_equal(pw.max_capacity, 2048);
	assert_int_equal(seg_params_check(&good, UINT64_MAX, &pw), SEG_PARAM_OK);
	assert_int_equal(pw.max_capacity, SEG_MAX_CAPACITY);
	good.max_message = 2048 - REC_HDR + 1;
	assert_int_equal(seg_params_check(&good, SEG_MAX_CAPACITY, &pw),
	                 SEG_PARAM_MAX_MESSAGE);
	assert_int_equal(pw.max_message, 2048 - REC_HDR);
	good.max_message = 0;
	mem = aligned_alloc(SEG_RING_ALIGN, good_size);
	assert_non_null(mem);

	for (size_t i = 0; i < HARNESS_NITEMS(bad_params); i++) {
		const struct bad_params *b = &bad_params[i];
		int r;

		why = NULL;
		size = 12345;
		r = seg_size(&b->p, &size, &why);
		if (r != -EINVAL || !why || !*why)
			fail_msg("seg_size, %s: returned %d, why %s", b->what, r,
			         why ? why : "(null)");
		/* seg_size's refusal is seg_params_check's, the same words. */
		if (seg_params_check(&b->p, SEG_MAX_CAPACITY, &pw) != b->error ||
		    pw.error != b->error || strcmp(pw.text, why) != 0)
			fail_msg("seg_params_check, %s: error %d, want %d", b->what,
			         (int)pw.error, (int)b->error);
		assert_int_equal(size, 12345);

		/* seg_format refuses the same before it writes anything. */
		memset(mem, 0, good_size);
		why = NULL;
		r = seg_format(mem, good_size, &b->p, &why);
		if (r != -EINVAL || !why)
			fail_msg("seg_format, %s: returned %d", b->what, r);
		assert_true(harness_all_zero(mem, good_size));
	}

	/* The right parameters with the wrong memory size. */
	memset(mem, 0, good_size);
	why = NULL;
	assert_int_equal(seg_format(mem, good_size - 8, &good, &why), -EINVAL);
	assert_non_null(why);
	assert_true(harness_all_zero(mem, good_size));
	free(mem);

	/* The limits themselves are accepted. */
	{
		const struct seg_params ok[] = {
			{.name = "q", .capacity = 256},
			{.name = "q", .capacity = UINT64_C(1) << 30},
			{.name = "q", .capacity = 256, .max_message = 96},
			{.name = "q", .capacity = UINT64_C(1) << 30, .max_message = (UINT32_C(1) << 29) - REC_HDR},
			{.name = "q", .capacity = 4096, .max_message = 1},
			{.name = "q", .capacity = 4096, .max_producers = 1},
			{.name = "q", .capacity = 4096, .max_producers = 1024},
			{.name = NAME64, .capacity = 4096},
			{.name = "Az09._-", .capacity = 4096},
			{.name = "...", .capacity = 4096},
			{.name = "q", .capacity = 4096, .initial_pos = UINT64_MAX - 7},
		};
		const uint32_t producers[] = {
			64,
			64,
			64,
			64,
			64,
			1,
			1024,
			64,
			64,
			64,
			64,
		};

		for (size_t i = 0; i < HARNESS_NITEMS(ok); i++) {
			why = NULL;
			size = 0;
			assert_int_equal(seg_size(&ok[i], &size, &why), 0);
			assert_int_equal(size, expected_size(ok[i].capacity, producers[i]));
		}
	}
}

/* --- header validation --- */

enum corruption {
	C_NONE,
	C_MAGIC_BIT,
	C_MAGIC_ZERO,
	C_VERSION_0,
	C_VERSION_1,
	C_VERSION_NEXT,
	C_VERSION_MAX,
	C_HEADER_SIZE_SMALL,
	C_HEADER_SIZE_BIG,
	C_CAPACITY_NOT_POW2,
	C_CAPACITY_ZERO,
	C_CAPACITY_SMALL,
	C_CAPACITY_HUGE,
	C_CAPACITY_OTHER,
	C_CAPACITY_HALF,
	C_PRODUCERS_0,
	C_PRODUCERS_1025,
	C_PRODUCERS_OTHER,
	C_MAX_MESSAGE,
	C_MAX_MESSAGE_HUGE,
	C_SLOTS_OFFSET,
	C_SLOTS_OFFSET_0,
	C_RING_OFFSET,
	C_RING_OFFSET_LOW,
	C_TOTAL_SIZE,
	C_TOTAL_SIZE_1,
	C_NAME_NO_NUL,
	C_NAME_EMPTY,
	C_NAME_SPACE,
	C_NAME_SLASH,
	C_NAME_DOTDOT,
	C_HEAD_TAIL_MISALIGNED,
	C_TAIL_MISALIGNED,
	C_TAIL_BEYOND,
	C_TAIL_BEHIND,
	C_FULL_RING,
	C_WRAPPED_POSITIONS,
};

struct bad_header {
	const char *what;
	enum corruption c;
	long size_delta; /* added to the size passed to seg_validate */
	int expect;
};

static const struct bad_header bad_headers[] = {
	{"good (control)", C_NONE, 0, 0},
	{"full ring (control)", C_FULL_RING, 0, 0},
	{"positions across 2^64 (control)", C_WRAPPED_POSITIONS, 0, 0},
	{"magic with a bit flipped", C_MAGIC_BIT, 0, -EBADMSG},
	{"magic zero", C_MAGIC_ZERO, 0, -EBADMSG},
	{"version 0", C_VERSION_0, 0, -EBADMSG},
	{"version 1 (before calls)", C_VERSION_1, 0, -EPROTO},
	{"version next", C_VERSION_NEXT, 0, -EPROTO},
	{"version UINT32_MAX", C_VERSION_MAX, 0, -EPROTO},
	{"header_size smaller", C_HEADER_SIZE_SMALL, 0, -EBADMSG},
	{"header_size bigger", C_HEADER_SIZE_BIG, 0, -EBADMSG},
	{"capacity not a power of two", C_CAPACITY_NOT_POW2, 0, -EBADMSG},
	{"capacity 0", C_CAPACITY_ZERO, 0, -EBADMSG},
	{"capacity 128", C_CAPACITY_SMALL, 0, -EBADMSG},
	{"capacity 2 GiB", C_CAPACITY_HUGE, 0, -EBADMSG},
	{"capacity 8192 in a 4096 segment", C_CAPACITY_OTHER, 0, -EBADMSG},
	{"capacity 2048 in a 4096 segment", C_CAPACITY_HALF, 0, -EBADMSG},
	{"max_producers 0", C_PRODUCERS_0, 0, -EBADMSG},
	{"max_producers 1025", C_PRODUCERS_1025, 0, -EBADMSG},
	{"max_producers 64 in a 4-slot layout", C_PRODUCERS_OTHER, 0, -EBADMSG},
	{"max_message one too big", C_MAX_MESSAGE, 0, -EBADMSG},
	{"max_message UINT32_MAX", C_MAX_MESSAGE_HUGE, 0, -EBADMSG},
	{"slots_offset + 128", C_SLOTS_OFFSET, 0, -EBADMSG},
	{"slots_offset 0", C_SLOTS_OFFSET_0, 0, -EBADMSG},
	{"ring_offset + 4096", C_RING_OFFSET, 0, -EBADMSG},
	{"ring_offset - 4096", C_RING_OFFSET_LOW, 0, -EBADMSG},
	{"total_size + 4096", C_TOTAL_SIZE, 0, -EBADMSG},
	{"total_size + 1", C_TOTAL_SIZE_1, 0, -EBADMSG},
	{"name without NUL", C_NAME_NO_NUL, 0, -EBADMSG},
	{"name empty", C_NAME_EMPTY, 0, -EBADMSG},
	{"name with a space", C_NAME_SPACE, 0, -EBADMSG},
	{"name with a slash", C_NAME_SLASH, 0, -EBADMSG},
	{"name ..", C_NAME_DOTDOT, 0, -EBADMSG},
	{"head and tail misaligned alike", C_HEAD_TAIL_MISALIGNED, 0, -EBADMSG},
	{"tail misaligned", C_TAIL_MISALIGNED, 0, -EBADMSG},
	{"tail - head > capacity", C_TAIL_BEYOND, 0, -EBADMSG},
	{"tail behind head", C_TAIL_BEHIND, 0, -EBADMSG},
	{"size 8 smaller", C_NONE, -8, -EBADMSG},
	{"size 8 bigger", C_NONE, 8, -EBADMSG},
	{"size a page bigger", C_NONE, 4096, -EBADMSG},
	{"size smaller than the header", C_NONE, LONG_MIN, -EBADMSG},
	{"size zero", C_NONE, LONG_MAX, -EBADMSG},
};

static void corrupt(struct seg_header *h, enum corruption c)
{
	uint64_t head = atomic_load(&h->head);

	/* one case per corruption, alike on purpose: each is the field it breaks */
	switch (c) {
	case C_NONE:
		break;
	case C_MAGIC_BIT:
		h->magic ^= UINT64_C(1) << 40;
		break;
	case C_MAGIC_ZERO:
		h->magic = 0;
		break;
	case C_VERSION_0:
		atomic_store(&h->version, 0);
		break;
	case C_VERSION_1:
		atomic_store(&h->version, 1);
		break;
	case C_VERSION_NEXT:
		atomic_store(&h->version, SEG_VERSION + 1);
		break;
	case C_VERSION_MAX:
		atomic_store(&h->version, UINT32_MAX);
		break;
	case C_HEADER_SIZE_SMALL:
		h->header_size -= 8;
		break;
	case C_HEADER_SIZE_BIG:
		h->header_size += SEG_LINE;
		break;
	case C_CAPACITY_NOT_POW2:
		h->capacity += 8;
		break;
	case C_CAPACITY_ZERO:
		h->capacity = 0;
		break;
	case C_CAPACITY_SMALL:
		h->capacity = 128;
		break;
	case C_CAPACITY_HUGE:
		h->capacity = UINT64_C(1) << 31;
		break;
	case C_CAPACITY_OTHER:
		h->capacity = 8192;
		break;
	case C_CAPACITY_HALF:
		h->capacity = 2048;
		h->max_message = seg_max_message_for(2048);
		break;
	case C_PRODUCERS_0:
		h->max_producers = 0;
		break;
	case C_PRODUCERS_1025:
		h->max_producers = 1025;
		break;
	case C_PRODUCERS_OTHER:
		h->max_producers = 64;
		break;
	case C_MAX_MESSAGE:
		h->max_message = seg_max_message_for(h->capacity) + 1;
		break;
	case C_MAX_MESSAGE_HUGE:
		h->max_message = UINT32_MAX;
		break;
	case C_SLOTS_OFFSET:
		h->slots_offset += SEG_LINE;
		break;
	case C_SLOTS_OFFSET_0:
		h->slots_offset = 0;
		break;
	case C_RING_OFFSET:
		h->ring_offset += SEG_RING_ALIGN;
		break;
	case C_RING_OFFSET_LOW:
		h->ring_offset -= SEG_RING_ALIGN;
		break;
	case C_TOTAL_SIZE:
		h->total_size += 4096;
		break;
	case C_TOTAL_SIZE_1:
		h->total_size += 1;
		break;
	case C_NAME_NO_NUL:
		memset(h->name, 'a', sizeof(h->name));
		break;
	case C_NAME_EMPTY:
		memset(h->name, 0, sizeof(h->name));
		break;
	case C_NAME_SPACE:
		strcpy(h->name, "a b");
		break;
	case C_NAME_SLASH:
		strcpy(h->name, "a/b");
		break;
	case C_NAME_DOTDOT:
		strcpy(h->name, "..");
		break;
	case C_HEAD_TAIL_MISALIGNED:
		atomic_store(&h->head, head + 4);
		atomic_store(&h->tail, head + 4 + 64);
		break;
	case C_TAIL_MISALIGNED:
		atomic_store(&h->tail, head + 4);
		break;
	case C_TAIL_BEYOND:
		atomic_store(&h->tail, head + h->capacity + 8);
		break;
	case C_TAIL_BEHIND:
		atomic_store(&h->tail, head - 8);
		break;
	case C_FULL_RING:
		atomic_store(&h->tail, head + h->capacity);
		break;
	case C_WRAPPED_POSITIONS:
		atomic_store(&h->head, UINT64_MAX - 7);
		atomic_store(&h->tail, UINT64_MAX - 7 + 64);
		break;
	}
}

static void test_validate(void **state)
{
	struct seg_params sp = {.name = "valid", .capacity = 4096, .max_producers = 4, .initial_pos = 1 << 20};
	struct mem_seg m;
	const char *why = NULL;
	uint8_t *copy, *before;
	size_t room;

	(void)state;
	assert_int_equal(mem_seg_new(&m, &sp), 0);
	assert_int_equal(m.size, expected_size(4096, 4));
	assert_int_equal(seg_validate(m.mem, m.size, &why), 0);

	/* seg_view describes the layout it validated. */
	{
		struct seg_header *h = m.mem;
		struct seg s;

		assert_int_equal(seg_view(m.mem, m.size, &s, &why), 0);
		assert_ptr_equal(s.hdr, m.mem);
		assert_ptr_equal(s.slots, (uint8_t *)m.mem + h->slots_offset);
		assert_ptr_equal(s.ring, (uint8_t *)m.mem + h->ring_offset);
		assert_int_equal(h->slots_offset, align_to(sizeof(*h), SEG_LINE));
		assert_int_equal(h->ring_offset, m.size - 4096);
		assert_int_equal(h->ring_offset % SEG_RING_ALIGN, 0);
		assert_int_equal(s.capacity, 4096);
		assert_int_equal(s.max_message, 2016);
		assert_int_equal(s.max_producers, 4);
		assert_int_equal(s.size, m.size);
		assert_int_equal(s.fd, -1);
		assert_false(s.mapped);
		assert_int_equal(h->magic, SEG_MAGIC);
		assert_int_equal(atomic_load(&h->version), SEG_VERSION);
		assert_int_equal(h->header_size, sizeof(*h));
		assert_string_equal(h->name, "valid");
		assert_int_equal(atomic_load(&h->head), 1 << 20);
		assert_int_equal(atomic_load(&h->tail), 1 << 20);
	}

	room = m.size + 4096;
	copy = aligned_alloc(SEG_RING_ALIGN, room);
	before = malloc(room);
	assert_non_null(copy);
	assert_non_null(before);

	for (size_t i = 0; i < HARNESS_NITEMS(bad_headers); i++) {
		const struct bad_header *b = &bad_headers[i];
		size_t size = b->size_delta == LONG_MIN   ? sizeof(struct seg_header) - 1
		              : b->size_delta == LONG_MAX ? 0
		                                          : (size_t)((long)m.size + b->size_delta);
		struct seg s, s_before;
		int r;

		memset(copy, 0x5c, room);
		memcpy(copy, m.mem, m.size);
		corrupt((struct seg_header *)copy, b->c);
		memcpy(before, copy, room);

		why = NULL;
		r = seg_validate(copy, size, &why);
		if (r != b->expect)
			fail_msg("%s: seg_validate returned %d, expected %d (%s)", b->what,
			         r, b->expect, why ? why : "no reason");
		if (b->expect != 0 && (!why || !*why))
			fail_msg("%s: no reason given", b->what);
		if (memcmp(copy, before, room) != 0)
			fail_msg("%s: seg_validate wrote to the segment", b->what);

		/* seg_view agrees, and leaves its output alone on failure. */
		memset(&s, 0xa5, sizeof(s));
		memcpy(&s_before, &s, sizeof(s));
		why = NULL;
		assert_int_equal(seg_view(copy, size, &s, &why), b->expect);
		if (b->expect != 0)
			assert_memory_equal(&s, &s_before, sizeof(s));
		else
			assert_ptr_equal(s.hdr, copy);
		assert_memory_equal(copy, before, room);
	}

	free(before);
	free(copy);
	mem_seg_free(&m);
}

/* --- shared-memory objects --- */

static void test_shm_round_trip(void **state)
{
	struct seg_params sp = {.name = "roundtrip", .capacity = 8192, .max_producers = 4};
	struct seg_params sp2 = {.name = "other", .capacity = 4096};
	const char *name, *name2;
	struct seg a, b, c, dup;
	const char *why = NULL;
	struct stat st;
	size_t size = 0;
	int r;

	(void)state;
	name = harness_shm_kept_name("seg");
	name2 = harness_shm_kept_name("seg");
	assert_int_equal(seg_size(&sp, &size, &why), 0);

	r = seg_create_shm(name, &sp, &a, &why);
	if (r < 0)
		fail_msg("seg_create_shm %s: %s (%s)", name, strerror(-r), why);
	assert_true(a.fd >= 0);
	assert_true(a.mapped);
	assert_int_equal(a.size, size);
	assert_int_equal(a.capacity, 8192);
	assert_int_equal(a.max_producers, 4);
	assert_int_equal(fstat(a.fd, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, (off_t)size);
	assert_true(fcntl(a.fd, F_GETFD) & FD_CLOEXEC);
	assert_false(harness_all_zero(a.hdr->uuid, sizeof(a.hdr->uuid)));
	assert_string_equal(a.hdr->name, "roundtrip");
	assert_int_equal(seg_validate(a.hdr, a.size, &why), 0);

	/* O_EXCL: the same name again fails and leaves the first alone. */
	memset(&dup, 0xa5, sizeof(dup));
	why = NULL;
	assert_int_equal(seg_create_shm(name, &sp, &dup, &why), -EEXIST);
	assert_non_null(why);

	/* A second open file description maps the same memory. */
	why = NULL;
	r = seg_open_shm(name, &b, &why);
	if (r < 0)
		fail_msg("seg_open_shm: %s (%s)", strerror(-r), why);
	assert_true(b.fd >= 0);
	assert_int_not_equal(b.fd, a.fd);
	assert_ptr_not_equal(b.hdr, a.hdr);
	assert_int_equal(b.size, a.size);
	assert_int_equal(b.capacity, a.capacity);
	assert_int_equal(b.max_message, a.max_message);
	assert_memory_equal(b.hdr->uuid, a.hdr->uuid, sizeof(a.hdr->uuid));
	a.ring[100] = 0x5a;
	assert_int_equal(b.ring[100], 0x5a);
	atomic_store(&b.hdr->tail, 64);
	assert_int_equal(atomic_load(&a.hdr->tail), 64);

	/* Another segment gets another uuid. */
	why = NULL;
	assert_int_equal(seg_create_shm(name2, &sp2, &c, &why), 0);
	assert_false(harness_all_zero(c.hdr->uuid, sizeof(c.hdr->uuid)));
	assert_memory_not_equal(c.hdr->uuid, a.hdr->uuid, sizeof(a.hdr->uuid));
	assert_int_equal(fstat(c.fd, &st), 0);
	assert_int_equal(st.st_size, (off_t)expected_size(4096, SEG_DEFAULT_PRODUCERS));

	seg_close(&a);
	assert_int_equal(a.fd, -1);
	assert_false(a.mapped);
	seg_close(&a); /* closing twice is harmless */
	seg_close(&b);
	seg_close(&c);
	assert_int_equal(shm_unlink(name), 0);
	assert_int_equal(shm_unlink(name2), 0);
	why = NULL;
	assert_int_equal(seg_open_shm(name, &b, &why), -ENOENT);
	assert_non_null(why);

	/* A uuid given in the parameters is kept. */
	{
		struct seg_params fixed = {.name = "fixed", .capacity = 256, .uuid = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}};
		struct mem_seg m;

		assert_int_equal(mem_seg_new(&m, &fixed), 0);
		assert_memory_equal(m.seg.hdr->uuid, fixed.uuid, sizeof(fixed.uuid));
		mem_seg_free(&m);
	}
}

/* A memfd holding n bytes from src (zeros if src is NULL). */
static int memfd_with(const void *src, size_t n)
{
	int fd = memfd_create("bus-test", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)n), 0);
	if (src && n)
		assert_int_equal(pwrite(fd, src, n, 0), (ssize_t)n);
	return fd;
}

static void test_map_not_a_segment(void **state)
{
	struct seg_params sp = {.name = "image", .capacity = 4096, .max_producers = 2};
	struct mem_seg m;
	uint8_t junk[16384];
	uint64_t x = 12345;
	const char *why;
	struct seg s;
	int fd;

	(void)state;
	for (size_t i = 0; i < sizeof(junk); i++) {
		x = x * 6364136223846793005u + 1442695040888963407u;
		junk[i] = (uint8_t)(x >> 56);
	}

	/* Random bytes, a tiny file, an empty file, a directory. */
	{
		const size_t sizes[] = {sizeof(junk), 4096 + 8192, 16, 1, 0};

		for (size_t i = 0; i < HARNESS_NITEMS(sizes); i++) {
			fd = memfd_with(junk, sizes[i]);
			why = NULL;
			assert_int_equal(seg_map_fd(fd, &s, &why), -EBADMSG);
			assert_non_null(why);
			assert_true(fd_open(fd));
			close(fd);
		}
		fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(fd >= 0);
		why = NULL;
		assert_int_equal(seg_map_fd(fd, &s, &why), -EBADMSG);
		assert_non_null(why);
		assert_true(fd_open(fd));
		close(fd);
	}

	/* A good image, and the same image from a newer layout version. */
	assert_int_equal(mem_seg_new(&m, &sp), 0);
	atomic_store(&m.seg.hdr->version, SEG_VERSION + 1);
	fd = memfd_with(m.mem, m.size);
	why = NULL;
	assert_int_equal(seg_map_fd(fd, &s, &why), -EPROTO);
	assert_non_null(why);
	assert_non_null(strstr(why, "newer"));
	assert_true(fd_open(fd));
	close(fd);
	/* And from layout 1, before calls: refused, never misread. */
	atomic_store(&m.seg.hdr->version, 1);
	fd = memfd_with(m.mem, m.size);
	why = NULL;
	assert_int_equal(seg_map_fd(fd, &s, &why), -EPROTO);
	assert_non_null(why);
	assert_non_null(strstr(why, "older"));
	assert_true(fd_open(fd));
	close(fd);

	/* The image truncated by a page, and extended by one. */
	atomic_store(&m.seg.hdr->version, SEG_VERSION);
	fd = memfd_with(m.mem, m.size - 4096);
	assert_int_equal(seg_map_fd(fd, &s, &why), -EBADMSG);
	assert_true(fd_open(fd));
	close(fd);
	fd = memfd_with(m.mem, m.size);
	assert_int_equal(ftruncate(fd, (off_t)m.size + 4096), 0);
	assert_int_equal(seg_map_fd(fd, &s, &why), -EBADMSG);
	assert_true(fd_open(fd));
	close(fd);

	/* The good image maps, and the segment then owns the descriptor. */
	fd = memfd_with(m.mem, m.size);
	why = NULL;
	assert_int_equal(seg_map_fd(fd, &s, &why), 0);
	assert_int_equal(s.fd, fd);
	assert_true(s.mapped);
	assert_int_equal(s.size, m.size);
	assert_int_equal(s.max_producers, 2);
	assert_memory_equal(s.hdr->uuid, m.seg.hdr->uuid, 16);
	seg_close(&s);
	assert_true(fd_closed(fd));
	mem_seg_free(&m);
}

/* --- kernel locks, consumer lease, producer slots --- */

static void test_seg_lock(void **state)
{
	struct seg_params sp = {.name = "locks", .capacity = 4096};
	const char *name;
	struct seg a, b;
	const char *why = NULL;

	(void)state;
	name = harness_shm_kept_name("lock");
	assert_int_equal(harness_shm_create(name, &sp), 0);
	assert_int_equal(seg_open_shm(name, &a, &why), 0);
	assert_int_equal(seg_open_shm(name, &b, &why), 0);

	assert_int_equal(seg_lock(&a, SEG_LOCK_SLOT(3)), 0);
	assert_int_equal(seg_lock(&b, SEG_LOCK_SLOT(3)), -EBUSY);
	/* Other bytes are free; the holder may take its byte again. */
	assert_int_equal(seg_lock(&b, SEG_LOCK_SLOT(2)), 0);
	assert_int_equal(seg_lock(&b, SEG_LOCK_SLOT(4)), 0);
	assert_int_equal(seg_lock(&a, SEG_LOCK_SLOT(3)), 0);
	assert_int_equal(seg_lock(&a, SEG_LOCK_SLOT(2)), -EBUSY);
	assert_int_equal(seg_lock(&a, SEG_LOCK_CONSUMER), 0);
	assert_int_equal(seg_lock(&b, SEG_LOCK_CONSUMER), -EBUSY);

	/* Unlock hands the byte over. */
	seg_unlock(&a, SEG_LOCK_SLOT(3));
	assert_int_equal(seg_lock(&b, SEG_LOCK_SLOT(3)), 0);
	assert_int_equal(seg_lock(&a, SEG_LOCK_SLOT(3)), -EBUSY);
	assert_int_equal(seg_lock(&b, SEG_LOCK_CONSUMER), -EBUSY);

	/* Closing the description drops every lock it held. */
	seg_close(&a);
	assert_int_equal(seg_lock(&b, SEG_LOCK_CONSUMER), 0);
	assert_int_equal(seg_open_shm(name, &a, &why), 0);
	assert_int_equal(seg_lock(&a, SEG_LOCK_SLOT(2)), -EBUSY);
	assert_int_equal(seg_lock(&a, SEG_LOCK_SLOT(1000)), 0);
	seg_close(&b);
	assert_int_equal(seg_lock(&a, SEG_LOCK_SLOT(2)), 0);
	assert_int_equal(seg_lock(&a, SEG_LOCK_CONSUMER), 0);
	seg_close(&a);
	assert_int_equal(shm_unlink(name), 0);

	/* A segment without a file has no locks: always granted. */
	{
		struct mem_seg m;

		assert_int_equal(mem_seg_new(&m, &sp), 0);
		assert_int_equal(seg_lock(&m.seg, SEG_LOCK_CONSUMER), 0);
		assert_int_equal(seg_lock(&m.seg, SEG_LOCK_CONSUMER), 0);
		seg_unlock(&m.seg, SEG_LOCK_CONSUMER);
		mem_seg_free(&m);
	}
}

static int shm_fd(const char *name)
{
	int fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);

	assert_true(fd >= 0);
	return fd;
}

static void test_consumer_lease(void **state)
{
	struct seg_params sp = {.name = "lease", .capacity = 4096};
	const char *name;
	bus_consumer *c1 = NULL, *c2 = NULL;
	int fd1, fd2;

	(void)state;
	name = harness_shm_kept_name("lease");
	assert_int_equal(harness_shm_create(name, &sp), 0);
	assert_int_equal(bus_consumer_open_fd(-1, &c1), -EINVAL);
	assert_null(c1);

	fd1 = shm_fd(name);
	assert_int_equal(bus_consumer_open_fd(fd1, &c1), 0);
	assert_non_null(c1);
	assert_int_equal(atomic_load(&consumer_seg(c1)->hdr->cons_pid),
	                 (uint32_t)getpid());
	assert_int_equal(atomic_load(&consumer_seg(c1)->hdr->cons_gen), 1);

	fd2 = shm_fd(name);
	assert_int_equal(bus_consumer_open_fd(fd2, &c2), -EBUSY);
	assert_null(c2);
	assert_true(fd_open(fd2));

	/* Closing the consumer closes its descriptor and ends the lease. */
	bus_consumer_close(c1);
	assert_true(fd_closed(fd1));
	assert_int_equal(bus_consumer_open_fd(fd2, &c2), 0);
	assert_non_null(c2);
	assert_int_equal(atomic_load(&consumer_seg(c2)->hdr->cons_gen), 2);
	bus_consumer_close(c2);
	assert_true(fd_closed(fd2));
	assert_int_equal(shm_unlink(name), 0);

	/* Without a file, the lease is the pid field: same rules. */
	{
		struct mem_seg m;
		bus_consumer *a = NULL, *b = NULL;

		assert_int_equal(mem_seg_new(&m, &sp), 0);
		assert_int_equal(consumer_attach(&m.seg, NULL, &a), 0);
		assert_int_equal(consumer_attach(&m.seg, NULL, &b), -EBUSY);
		assert_null(b);
		bus_consumer_close(a);
		assert_int_equal(atomic_load(&m.seg.hdr->cons_pid), 0);
		assert_int_equal(consumer_attach(&m.seg, NULL, &b), 0);
		bus_consumer_close(b);
		mem_seg_free(&m);
	}
}

static void test_producer_slots(void **state)
{
	struct seg_params sp = {.name = "slots", .capacity = 4096, .max_producers = 2};
	const char *name;
	bus_producer *p1 = NULL, *p2 = NULL, *p3 = NULL;
	bus_consumer *c = NULL;
	bus_msg msg;
	int fd1, fd2, fd3;

	(void)state;
	name = harness_shm_kept_name("slots");
	assert_int_equal(harness_shm_create(name, &sp), 0);

	fd1 = shm_fd(name);
	fd2 = shm_fd(name);
	fd3 = shm_fd(name);
	assert_int_equal(bus_producer_open_fd(fd1, &p1), 0);
	assert_int_equal(bus_producer_open_fd(fd2, &p2), 0);
	assert_int_equal(bus_producer_slot(p1), 0);
	assert_int_equal(bus_producer_slot(p2), 1);
	assert_int_equal(bus_producer_open_fd(fd3, &p3), -EUSERS);
	assert_null(p3);
	assert_true(fd_open(fd3));

	/* A slot freed by a close is taken by the next producer. */
	bus_producer_close(p1);
	assert_true(fd_closed(fd1));
	assert_int_equal(bus_producer_open_fd(fd3, &p3), 0);
	assert_int_equal(bus_producer_slot(p3), 0);

	assert_int_equal(harness_consumer(name, &c), 0);
	assert_int_equal(bus_send(p2, 2, "two", 3, 0), 0);
	assert_int_equal(bus_send(p3, 3, "three", 5, 0), 0);
	assert_int_equal(bus_recv(c, &msg, 0), 0);
	assert_int_equal(msg.producer, 1);
	assert_int_equal(msg.type, 2);
	assert_int_equal(msg.seq, 0);
	assert_int_equal(msg.len, 3);
	assert_memory_equal(msg.data, "two", 3);
	assert_int_equal(bus_recv(c, &msg, 0), 0);
	assert_int_equal(msg.producer, 0);
	assert_int_equal(msg.type, 3);
	assert_int_equal(msg.seq, 0);
	assert_memory_equal(msg.data, "three", 5);
	bus_release(c);
	bus_consumer_close(c);
	bus_producer_close(p2);
	bus_producer_close(p3);
	assert_int_equal(shm_unlink(name), 0);

	/* Without a file, the pid field is the claim: same limit. */
	{
		struct mem_seg m;
		bus_producer *a = NULL, *b = NULL, *d = NULL;

		assert_int_equal(mem_seg_new(&m, &sp), 0);
		assert_int_equal(producer_attach(&m.seg, NULL, &a), 0);
		assert_int_equal(producer_attach(&m.seg, NULL, &b), 0);
		assert_int_equal(producer_attach(&m.seg, NULL, &d), -EUSERS);
		assert_null(d);
		assert_int_equal(bus_producer_slot(a), 0);
		assert_int_equal(bus_producer_slot(b), 1);
		assert_int_equal(atomic_load(&m.seg.slots[0].pid), (uint32_t)getpid());
		assert_int_equal(atomic_load(&m.seg.slots[1].pid), (uint32_t)getpid());
		bus_producer_close(b);
		assert_int_equal(atomic_load(&m.seg.slots[1].pid), 0);
		assert_int_equal(producer_attach(&m.seg, NULL, &d), 0);
		assert_int_equal(bus_producer_slot(d), 1);
		bus_producer_close(a);
		bus_producer_close(d);
		mem_seg_free(&m);
	}
}

/* name exists in /dev/shm (as a shared-memory object) */
static bool shm_exists(const char *name)
{
	int fd = shm_open(name, O_RDONLY | O_CLOEXEC, 0);

	if (fd < 0) {
		assert_int_equal(errno, ENOENT);
		return false;
	}
	close(fd);
	return true;
}

/* Registers name's temporary for the teardown and returns it. */
static const char *shm_temp_of(const char *name)
{
	char temp[64];

	assert_int_equal(seg_shm_temp_name(temp, sizeof(temp), name), 0);
	return harness_shm_keep(temp);
}

/* In a child: a creation that fails at ftruncate (RLIMIT_FSIZE). */
static int create_over_fsize_limit(const char *name)
{
	struct seg_params sp = {.name = "big", .capacity = 1 << 20};
	struct rlimit rl = {.rlim_cur = 65536, .rlim_max = RLIM_INFINITY};
	const char *why = NULL;
	struct seg s;
	int r;

	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
		return 2;
	r = seg_create_shm(name, &sp, &s, &why);
	if (r != -EFBIG || !why)
		return 3;
	return 0;
}

/*
 * A creation that fails leaves nothing, neither the name nor its
 * temporary, and never touches an object that exists already under
 * either.
 */
static void test_create_failure_leaves_nothing(void **state)
{
	struct seg_params sp = {.name = "q", .capacity = 4096};
	const char *name = harness_shm_kept_name("fail"), *temp = shm_temp_of(name);
	const char *why = NULL;
	struct seg s;
	pid_t pid;
	int st, fd;

	(void)state;
	/* fails midway, once the temporary exists */
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(create_over_fsize_limit(name));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_false(shm_exists(name));
	assert_false(shm_exists(temp));

	/* the name taken: -EEXIST, the object there untouched, no temporary */
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(seg_create_shm(name, &sp, &s, &why), -EEXIST);
	assert_non_null(why);
	assert_true(shm_exists(name));
	assert_false(shm_exists(temp));
	close(fd);
	assert_int_equal(shm_unlink(name), 0);

	/* the temporary taken (someone else's): -EEXIST, left alone */
	fd = shm_open(temp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	why = NULL;
	assert_int_equal(seg_create_shm(name, &sp, &s, &why), -EEXIST);
	assert_non_null(why);
	assert_true(shm_exists(temp));
	assert_false(shm_exists(name));
	close(fd);
	assert_int_equal(shm_unlink(temp), 0);

	/* not one name in /dev/shm: refused, nothing made */
	why = NULL;
	assert_int_equal(seg_create_shm("/a/b", &sp, &s, &why), -EINVAL);
	assert_non_null(why);
	assert_int_equal(seg_create_shm("nolead", &sp, &s, &why), -EINVAL);

	/* and a good one has no temporary left beside it */
	assert_int_equal(seg_create_shm(name, &sp, &s, &why), 0);
	assert_true(shm_exists(name));
	assert_false(shm_exists(temp));
	seg_close(&s);
}

/* Temporary names: told apart from segment names, and by instance. */
static void test_temp_names(void **state)
{
	static const uint8_t uuid[16] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4,
	                                 5, 6, 7, 8, 9, 10, 11, 12};
	static const char *const queues[] = {"q", "x.new", "a.u0", NAME64};
	char name[SEG_SHM_NAME_MAX], temp[SEG_SHM_NAME_MAX + 8], q[BUS_NAME_MAX + 1];
	uint8_t u[16];

	(void)state;
	for (size_t i = 0; i < HARNESS_NITEMS(queues); i++) {
		seg_shm_name(name, 0x1234abcd, queues[i], uuid, UINT32_MAX);
		assert_int_equal(seg_shm_temp_name(temp, sizeof(temp), name), 0);
		assert_int_equal(strlen(temp), strlen(name) + strlen(SEG_SHM_TEMP_SUFFIX));
		/* a temporary is never a segment name, nor the other way round */
		assert_int_equal(seg_shm_parse_temp(temp, 0x1234abcd), 0);
		assert_int_equal(seg_shm_parse_temp(temp + 1, 0x1234abcd), 0);
		assert_int_equal(seg_shm_parse(temp, 0x1234abcd, q, u), -EINVAL);
		assert_int_equal(seg_shm_parse(name, 0x1234abcd, q, u), 0);
		assert_string_equal(q, queues[i]);
		assert_int_equal(seg_shm_parse_temp(name, 0x1234abcd), -EINVAL);
		/* another instance's */
		assert_int_equal(seg_shm_parse_temp(temp, 0x1234abce), -EINVAL);
		/* a temporary of a temporary */
		strcat(temp, SEG_SHM_TEMP_SUFFIX);
		assert_int_equal(seg_shm_parse_temp(temp, 0x1234abcd), -EINVAL);
	}
	assert_int_equal(seg_shm_parse_temp(".new", 0x1234abcd), -EINVAL);
	assert_int_equal(seg_shm_parse_temp("bus.1234abcd..new", 0x1234abcd), -EINVAL);
	assert_int_equal(seg_shm_temp_name(temp, 8, "/toolong"), -ENAMETOOLONG);
}

#define HALF_ROUNDS 30
#define HALF_CAP    (UINT64_C(16) << 20)

/* In a child: creates and removes name HALF_ROUNDS times. */
static int create_remove_loop(const char *name)
{
	struct seg_params sp = {.name = "half", .capacity = HALF_CAP};
	const char *why = NULL;
	struct seg s;

	for (int i = 0; i < HALF_ROUNDS; i++) {
		if (seg_create_shm(name, &sp, &s, &why) < 0)
			return 2;
		usleep(2000); /* complete: let the watcher see it */
		seg_close(&s);
		if (shm_unlink(name) < 0)
			return 3;
	}
	return 0;
}

/*
 * Whenever a segment's name exists, the segment is complete: full size,
 * magic and version written.  A watcher opens the name as fast as it can
 * while another process creates and removes it again and again.
 */
static void test_create_never_half_made(void **state)
{
	const char *name = harness_shm_kept_name("half");
	size_t want = expected_size(HALF_CAP, SEG_DEFAULT_PRODUCERS);
	unsigned seen = 0, polls = 0;
	pid_t pid;
	int st;

	(void)state;
	shm_temp_of(name);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(create_remove_loop(name));
	while (waitpid(pid, &st, WNOHANG) == 0) {
		int fd = shm_open(name, O_RDONLY | O_CLOEXEC, 0);
		struct stat sb;
		uint64_t magic = 0;
		uint32_t version = 0;

		polls++;
		if (fd < 0)
			continue;
		seen++;
		assert_int_equal(fstat(fd, &sb), 0);
		if ((size_t)sb.st_size != want)
			fail_msg("%s exists with %lld bytes of %zu", name,
			         (long long)sb.st_size, want);
		assert_int_equal(pread(fd, &magic, sizeof(magic), 0), sizeof(magic));
		assert_int_equal(pread(fd, &version, sizeof(version),
		                       offsetof(struct seg_header, version)),
		                 sizeof(version));
		if (magic != SEG_MAGIC || version != SEG_VERSION)
			fail_msg("%s exists unformatted: magic %#" PRIx64 " version %u",
			         name, magic, version);
		close(fd);
	}
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	fprintf(stderr, "saw the segment %u times in %u looks\n", seen, polls);
	assert_true(seen > 0);
}

/* --- names and type ids --- */

/* FNV-1a 32, written out here independently of libbus. */
static uint32_t fnv1a(const char *s)
{
	uint32_t h = 0x811c9dc5u;

	while (*s) {
		h ^= (uint8_t)*s++;
		h *= 0x01000193u;
	}
	return h;
}

/* Tables of cases, alike on purpose: each row is a checked input. */
static void test_names_and_type_ids(void **state)
{
	static const char *const good[] = {
		"a",
		"Z",
		"0",
		"-",
		"_",
		"...",
		".a",
		"a.",
		"demo.Order",
		"queue-1_b.c",
		NAME64,
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._",
	};
	static const char *const bad[] = {
		"",
		".",
		"..",
		NAME65,
		"a/b",
		"/",
		"../etc",
		"a b",
		" a",
		"a\t",
		"a\n",
		"a:b",
		"a*",
		"caf\xc3\xa9",
		"a\\b",
	};

	(void)state;
	for (size_t i = 0; i < HARNESS_NITEMS(good); i++)
		if (bus_name_valid(good[i]) != 1)
			fail_msg("name \"%s\" refused", good[i]);
	for (size_t i = 0; i < HARNESS_NITEMS(bad); i++)
		if (bus_name_valid(bad[i]) != 0)
			fail_msg("name \"%s\" accepted", bad[i]);
	assert_int_equal(bus_name_valid(NULL), 0);

	/* Known FNV-1a 32 values. */
	assert_int_equal(bus_type_id(""), 2166136261u);
	assert_int_equal(bus_type_id("a"), 0xe40c292cu);
	assert_int_equal(bus_type_id("foobar"), 0xbf9cf968u);
	/* By hand: (2166136261 ^ 'a') * 16777619 mod 2^32. */
	assert_int_equal(bus_type_id("a"),
	                 (uint32_t)((2166136261u ^ 0x61u) * (uint64_t)16777619u));
	assert_int_equal(bus_type_id("demo.Order"), fnv1a("demo.Order"));
	assert_int_equal(bus_type_id("demo.Order"), 4003153216u);
	assert_int_not_equal(bus_type_id("demo.Order"), bus_type_id("demo.order"));
	assert_int_equal(bus_type_id("bus.control.Request"),
	                 fnv1a("bus.control.Request"));

	/* "qzs0UD" hashes to 0, which is reserved for "untyped": it maps to 1. */
	assert_int_equal(fnv1a("qzs0UD"), 0);
	assert_int_equal(bus_type_id("qzs0UD"), 1);
	for (uint32_t i = 0; i < 100000; i++) {
		char buf[16];

		snprintf(buf, sizeof(buf), "t%u", i);
		assert_int_not_equal(bus_type_id(buf), 0);
		assert_int_equal(bus_type_id(buf), fnv1a(buf) ? fnv1a(buf) : 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_validate),
		cmocka_unit_test_teardown(test_shm_round_trip, harness_shm_let_go),
		cmocka_unit_test(test_map_not_a_segment),
		cmocka_unit_test_teardown(test_seg_lock, harness_shm_let_go),
		cmocka_unit_test_teardown(test_consumer_lease, harness_shm_let_go),
		cmocka_unit_test_teardown(test_producer_slots, harness_shm_let_go),
		cmocka_unit_test(test_names_and_type_ids),
		cmocka_unit_test(test_temp_names),
		cmocka_unit_test_teardown(test_create_failure_leaves_nothing, harness_shm_let_go),
		cmocka_unit_test_teardown(test_create_never_half_made, harness_shm_let_go),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

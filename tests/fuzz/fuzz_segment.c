/*
 * fuzz_segment.c - segment images from outside: validation, then use.
 *
 * The input is a whole segment image ([header][slots][ring], as a file
 * in /dev/shm would hold it).  It is validated twice:
 *
 *   - as given, in a buffer of exactly its size, so validation reading a
 *     byte past the end is caught by ASan whatever the size;
 *   - resized to the total_size its header claims (zero-padded or cut,
 *     up to FUZZ_SEG_MAX), so short inputs that carry only a header and
 *     the first records still reach everything after validation.
 *
 * An image that validates is copied to memory whose end abuts a guard
 * page (fuzz.h) and used the ways a process uses a segment it was handed: its stats are read (through a memfd, as bus_stats_read_fd
 * reads a descriptor), a consumer attaches to it in memory and reads every
 * record, unpacking each as a test message, then a producer attaches,
 * sends a few messages and the consumer reads again.  Nothing may crash,
 * read outside the image or return an undocumented error, and the
 * consumer must leave a head a producer can trust.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"

/* Largest image made from a header's total_size (inputs are far smaller). */
#define FUZZ_SEG_MAX (1u << 20)

/* Memory for an image: page-aligned like a mapping, exactly size bytes. */
static uint8_t *image(const uint8_t *data, size_t n, size_t size)
{
	void *mem = NULL;

	FUZZ_CHECK(posix_memalign(&mem, SEG_RING_ALIGN, size ? size : 1) == 0);
	memcpy(mem, data, n < size ? n : size);
	if (size > n)
		memset((uint8_t *)mem + n, 0, size - n);
	return mem;
}

static int validate(const uint8_t *mem, size_t size)
{
	const char *why = NULL;
	int r = seg_validate(mem, size, &why);

	FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -EPROTO);
	FUZZ_CHECK(r == 0 || (why && *why));
	return r;
}

/* bus_stats_read_fd on a memfd holding the image: the path of `buscli stats`. */
static void stats(const uint8_t *mem, size_t size)
{
	int fd = memfd_create("fuzz-segment", MFD_CLOEXEC);
	bus_stats st;

	if (fd < 0)
		return;
	if (write(fd, mem, size) == (ssize_t)size) {
		FUZZ_CHECK(bus_stats_read_fd(fd, &st) == 0);
		FUZZ_CHECK(st.name[BUS_NAME_MAX] == '\0');
		FUZZ_CHECK(bus_name_valid(st.name));
	}
	close(fd);
}

static void produce(uint8_t *mem, size_t size, unsigned salt)
{
	static const uint8_t payload[512];
	bus_producer *p;
	struct seg s;
	const char *why;

	if (seg_view(mem, size, &s, &why) != 0) {
		/*
		 * Valid before the drain; the consumer writes only its head
		 * and cursor.  So only a head released past the tail (records
		 * scribbled where nothing was claimed, fuzz.h) is refused.
		 */
		struct seg_header *h = (struct seg_header *)mem;
		uint64_t head = atomic_load_explicit(&h->head, memory_order_relaxed);
		uint64_t tail = atomic_load_explicit(&h->tail, memory_order_relaxed);

		FUZZ_CHECK(tail - head > h->capacity);
		return;
	}
	if (producer_attach(&s, &fuzz_ops, &p) < 0)
		return;
	for (unsigned i = 0; i < 4; i++) {
		size_t len = (salt + 37 * i) % (s.max_message + 2u);
		int r = bus_send(p, bus_type_id("bustest.Probe"), payload,
		                 len < sizeof(payload) ? len : sizeof(payload), 0);

		FUZZ_CHECK(r == 0 || r == -EAGAIN || r == -EPIPE || r == -EBADMSG ||
		           r == -EMSGSIZE);
	}
	bus_producer_close(p);
}

/* valid passed validation: used in a copy whose ring ends at a guard page. */
static void use(const uint8_t *valid, size_t size, const uint8_t *data,
                size_t n)
{
	struct fuzz_drain how = {
		.release_each = data[n - 1] & 1,
		.batch = data[n - 1] & 2,
		.unpack = true,
	};
	struct fuzz_guarded g;
	bus_consumer *c;
	struct seg s;
	const char *why;
	uint8_t *mem;

	fuzz_guarded_new(&g, size);
	mem = g.mem;
	memcpy(mem, valid, size);
	stats(mem, size);
	FUZZ_CHECK(seg_view(mem, size, &s, &why) == 0);
	/* The lease field says who holds it; in memory nobody does. */
	atomic_store_explicit(&s.hdr->cons_pid, 0, memory_order_relaxed);
	FUZZ_CHECK(consumer_attach(&s, &fuzz_ops, &c) == 0);
	fuzz_drain(c, &how);
	fuzz_check_positions(consumer_seg(c));
	produce(mem, size, data[n - 1]);
	fuzz_drain(c, &how);
	fuzz_check_positions(consumer_seg(c));
	bus_consumer_close(c);
	fuzz_guarded_free(&g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *mem = image(data, size, size);
	uint64_t total;

	if (validate(mem, size) == 0 && size > 0)
		use(mem, size, data, size);
	free(mem);

	if (size < sizeof(struct seg_header))
		return 0;
	total = fuzz_le(data, size, offsetof(struct seg_header, total_size), 8);
	if (total == size || total < sizeof(struct seg_header) || total > FUZZ_SEG_MAX)
		return 0;
	mem = image(data, size, (size_t)total);
	if (validate(mem, (size_t)total) == 0)
		use(mem, (size_t)total, data, size);
	free(mem);
	return 0;
}

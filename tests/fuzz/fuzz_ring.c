/*
 * fuzz_ring.c - records from outside: the consumer reading a hostile ring.
 *
 * A valid segment of RING_CAP bytes is laid out in memory whose end abuts
 * a guard page (fuzz.h), so any read past the ring faults; the input then
 * decides what producers (honest, buggy or hostile) could have left in
 * it.  The 16-byte prefix sets the positions and the rest is copied into
 * the ring from the head's index on, wrapping at the end:
 *
 *   byte 0      flags: 0x01 positions just below 2^64 (they wrap),
 *               0x02 release after every message, 0x04 receive in batches,
 *               0x08 a producer sends after the first drain,
 *               0x10 write a claim intent into a producer slot,
 *               0xe0 max_message, one of max_choice[]
 *   bytes 1-2   head = base + 8 * v
 *   bytes 3-4   tail - head = 8 * (v mod (RING_CAP / 8 + 1))
 *   bytes 5-6   cons.read_pos - head = 8 * v (a dead consumer's cursor)
 *   bytes 7-8   claim_pos - head, signed, any value (slot fields are
 *               not validated by anyone: a hostile producer writes them)
 *   bytes 9-10  claim_need, any value
 *   byte 11     slot (low bit) and whether its owner lives (0x80)
 *   bytes 12-15 salt for the producer's message sizes, and (bits 24-29)
 *               whether each is a request, a reply or plain
 *
 * So the header stays within what seg_validate() accepts (head and tail
 * 8-aligned, tail - head <= capacity), as after a validated attach, while
 * records, padding, dead claims and intents are anything at all.  The
 * consumer drains with bus_recv (timeout 0, a clock that jumps so that
 * recovery runs) and unpacks every message with the test.proto
 * descriptors into a bounded arena.  Results may only be 0 or the
 * documented errors, every message must lie inside the ring, and the head
 * left behind must be one producers can trust.
 */
#include <string.h>

#include "fuzz.h"

#define RING_CAP   1024u
#define RING_SLOTS 2u
#define PREFIX     16u

static const uint32_t max_choice[8] = {0, 32, 64, 100, 200, 256, 400, 480};

static void produce(struct seg *view, uint32_t salt)
{
	static const uint8_t payload[RING_CAP];
	struct seg s = *view;
	bus_producer *p;

	if (producer_attach(&s, &fuzz_ops, &p) < 0)
		return;
	for (unsigned i = 0; i < 3; i++) {
		size_t len = (salt >> (8 * i)) % (s.max_message + 2u);
		/* Salt bits 24-29: a request or a reply rather than a plain one. */
		uint32_t call = (salt >> (24 + 2 * i)) & 3;
		struct rec_call hdr = {.call_id = i + 1, .reply_to = salt};
		int r = call == 1 || call == 2
		                ? producer_send_call(p, call == 1 ? REC_REQUEST : REC_REPLY,
		                                     &hdr, bus_type_id("bustest.Probe"),
		                                     payload, len, 0)
		                : bus_send(p, bus_type_id("bustest.Probe"), payload, len, 0);

		FUZZ_CHECK(r == 0 || r == -EAGAIN || r == -EPIPE || r == -EBADMSG ||
		           r == -EMSGSIZE);
	}
	bus_producer_close(p);
}

/* fuzz_stats.c reads bytes 0-4 and lays out its segment alike on purpose (see there). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned flags = (unsigned)fuzz_le(data, size, 0, 1);
	uint64_t base = flags & 0x01 ? UINT64_MAX - 4095 : 0;
	uint64_t head = base + 8 * fuzz_le(data, size, 1, 2);
	uint64_t used = 8 * (fuzz_le(data, size, 3, 2) % (RING_CAP / 8 + 1));
	struct seg_params params = {
		.name = "fuzz.ring",
		.capacity = RING_CAP,
		.max_message = max_choice[flags >> 5],
		.max_producers = RING_SLOTS,
		.initial_pos = head,
		.uuid = {1},
	};
	struct fuzz_drain how = {
		.release_each = flags & 0x02,
		.batch = flags & 0x04,
		.unpack = true,
	};
	/* Made once: the ring's end abuts a guard page (fuzz.h). */
	static struct fuzz_guarded g;
	const char *why = NULL;
	bus_consumer *c;
	struct seg s, view;
	size_t total;
	uint8_t *mem;

	FUZZ_CHECK(seg_size(&params, &total, &why) == 0);
	if (!g.map)
		fuzz_guarded_new(&g, total);
	mem = g.mem;
	memset(mem, 0, total);
	FUZZ_CHECK(seg_format(mem, total, &params, &why) == 0);
	FUZZ_CHECK(seg_view(mem, total, &s, &why) == 0);

	atomic_store(&s.hdr->tail, head + used);
	atomic_store(&s.hdr->cons.read_pos, head + 8 * fuzz_le(data, size, 5, 2));
	if (flags & 0x10) {
		unsigned b = (unsigned)fuzz_le(data, size, 11, 1);
		struct seg_slot *slot = &s.slots[b & 1];

		atomic_store(&slot->claim_pos,
		             head + (uint64_t)(int64_t)(int16_t)fuzz_le(data, size, 7, 2));
		atomic_store(&slot->claim_need, fuzz_le(data, size, 9, 2));
		atomic_store(&slot->pid, b & 0x80 ? 1u : 0u);
	}
	for (size_t i = PREFIX; i < size && i - PREFIX < RING_CAP; i++)
		s.ring[(head + (i - PREFIX)) & (RING_CAP - 1)] = data[i];

	/* The header still validates: what a consumer attaching now would see. */
	FUZZ_CHECK(seg_validate(mem, total, &why) == 0);
	view = s;
	FUZZ_CHECK(consumer_attach(&s, &fuzz_ops, &c) == 0);
	fuzz_drain(c, &how);
	fuzz_check_positions(&view);
	if (flags & 0x08) {
		produce(&view, (uint32_t)fuzz_le(data, size, 12, 4));
		fuzz_drain(c, &how);
		fuzz_check_positions(&view);
	}
	bus_consumer_close(c);
	return 0;
}

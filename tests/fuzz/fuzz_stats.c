/*
 * fuzz_stats.c - the stats reader on a hostile segment.
 *
 * `buscli stats` and busd read every queue's segment, which any producer
 * of the queue can write.  A valid segment of RING_CAP bytes and
 * RING_SLOTS producer slots is laid out in memory whose end abuts a guard
 * page (fuzz.h), so a read past the ring faults; the input then sets the
 * fields the reader follows and the ring's bytes.  The 32-byte prefix:
 *
 *   byte 0      flags: 0x01 positions just below 2^64 (they wrap),
 *               0x02 a consumer holds the lease, 0x04 overwrite the
 *               name's first byte with byte 31 (after validation),
 *               0xe0 max_message, one of max_choice[]
 *   bytes 1-2   head = base + 8 * v
 *   bytes 3-4   tail - head = 8 * (v mod (RING_CAP / 8 + 1))
 *   bytes 5-6   cons.read_pos - head = 8 * v, signed
 *   bytes 7-8   cons.stall_pos - head, signed, any value
 *   bytes 9-10  cons.stall_ns = NOW - 1000 * v, signed; 0 if v is 0
 *   bytes 11-30 per slot, 5 bytes: claim_pos - head (signed, any value),
 *               claim_need (any value), pid (0: the slot is free)
 *   byte 31     the name's byte, with flag 0x04
 *
 * and the rest is copied into the ring from the head's index on,
 * wrapping.  The header stays within what seg_validate() accepts (head
 * and tail 8-aligned and at most a ring apart), as a segment validated
 * at map time and scribbled on afterwards would be; records, intents and
 * the consumer's notes are anything at all.  The reader must not crash or
 * read outside the segment, must return 0 (or -EBADMSG for a name that
 * is no longer one), and what it reports must be consistent: a stall has
 * an age and names a slot that exists or none, the depth fits the ring.
 */
#include <string.h>

#include "fuzz.h"
#include "stats.h"

#define RING_CAP   1024u
#define RING_SLOTS 4u
#define PREFIX     32u
#define NOW        (UINT64_C(1) << 50)

static const uint32_t max_choice[8] = {0, 32, 64, 100, 200, 256, 400, 480};

/*
 * Reads bytes 0-4 and lays out the segment as fuzz_ring does, on purpose:
 * each target spells out the input format its header documents.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned flags = (unsigned)fuzz_le(data, size, 0, 1);
	uint64_t base = flags & 0x01 ? UINT64_MAX - 4095 : 0;
	uint64_t head = base + 8 * fuzz_le(data, size, 1, 2);
	uint64_t used = 8 * (fuzz_le(data, size, 3, 2) % (RING_CAP / 8 + 1));
	int64_t note = (int16_t)fuzz_le(data, size, 9, 2);
	struct seg_params params = {
		.name = "fuzz.stats",
		.capacity = RING_CAP,
		.max_message = max_choice[flags >> 5],
		.max_producers = RING_SLOTS,
		.initial_pos = head,
		.uuid = {2},
	};
	/* Made once: the ring's end abuts a guard page (fuzz.h). */
	static struct fuzz_guarded g;
	const char *why = NULL;
	struct seg s;
	bus_stats st;
	size_t total;
	int r;

	FUZZ_CHECK(seg_size(&params, &total, &why) == 0);
	if (!g.map)
		fuzz_guarded_new(&g, total);
	memset(g.mem, 0, total);
	FUZZ_CHECK(seg_format(g.mem, total, &params, &why) == 0);
	FUZZ_CHECK(seg_view(g.mem, total, &s, &why) == 0);

	atomic_store(&s.hdr->tail, head + used);
	atomic_store(&s.hdr->cons.read_pos,
	             head + 8 * (uint64_t)(int64_t)(int16_t)fuzz_le(data, size, 5, 2));
	atomic_store(&s.hdr->cons.stall_pos,
	             head + (uint64_t)(int64_t)(int16_t)fuzz_le(data, size, 7, 2));
	atomic_store(&s.hdr->cons.stall_ns, note ? NOW - (uint64_t)(1000 * note) : 0);
	atomic_store(&s.hdr->cons_pid, flags & 0x02 ? 1u : 0u);
	for (uint32_t i = 0; i < RING_SLOTS; i++) {
		size_t at = 11 + 5 * i;
		struct seg_slot *slot = &s.slots[i];

		atomic_store(&slot->claim_pos,
		             head + (uint64_t)(int64_t)(int16_t)fuzz_le(data, size, at, 2));
		atomic_store(&slot->claim_need, fuzz_le(data, size, at + 2, 2));
		atomic_store(&slot->pid, (uint32_t)fuzz_le(data, size, at + 4, 1));
	}
	for (size_t i = PREFIX; i < size && i - PREFIX < RING_CAP; i++)
		s.ring[(head + (i - PREFIX)) & (RING_CAP - 1)] = data[i];
	FUZZ_CHECK(seg_validate(g.mem, total, &why) == 0);
	/* Scribbled after validation, as a producer can at any time. */
	if (flags & 0x04)
		s.hdr->name[0] = (char)fuzz_le(data, size, 31, 1);

	r = stats_read(&s, NOW, &st);
	FUZZ_CHECK(r == 0);
	/* The name validated at mapping, whatever the header says now. */
	FUZZ_CHECK(strcmp(st.name, "fuzz.stats") == 0);
	FUZZ_CHECK(st.capacity == RING_CAP && st.max_producers == RING_SLOTS);
	FUZZ_CHECK(st.depth_bytes <= RING_CAP);
	FUZZ_CHECK(st.consumer_pid == (flags & 0x02 ? 1u : 0u));
	FUZZ_CHECK(st.stalled_slot == BUS_STATS_NO_SLOT || st.stalled_slot < RING_SLOTS);
	if (st.stalled_ns == 0) {
		FUZZ_CHECK(st.stalled_slot == BUS_STATS_NO_SLOT);
		FUZZ_CHECK(st.stalled_pid == 0 && st.stalled_alive == 0);
	} else if (st.stalled_slot != BUS_STATS_NO_SLOT) {
		FUZZ_CHECK(st.stalled_pid == atomic_load(&s.slots[st.stalled_slot].pid));
		FUZZ_CHECK(st.stalled_alive == (st.stalled_pid != 0));
	} else {
		FUZZ_CHECK(st.stalled_pid == 0 && st.stalled_alive == 0);
	}
	/* Nothing waits in an empty ring, and nothing stalls it. */
	if (used == 0)
		FUZZ_CHECK(st.oldest_age_ns == 0 && st.stalled_ns == 0 && st.depth_bytes == 0);
	return 0;
}

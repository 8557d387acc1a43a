/*
 * frame.c - protobuf decoding into an arena: ring payloads and control packets.
 *
 * Packing needs nothing of its own: bus_send_pb() sizes the message,
 * claims a record of exactly that size and packs into it.  Unpacking
 * copies the payload out of the ring into the caller-supplied arena
 * (producers can rewrite the ring while it is decoded) and takes every
 * allocation protobuf-c makes from the rest of the arena, so receiving a
 * protobuf message never calls malloc and a hostile length cannot make it
 * allocate more than the arena holds.  free() is a no-op: the arena is
 * dropped whole.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "bus/bus.h"
#include "compiler.h"
#include "frame.h"

struct arena {
	uint8_t *base;
	size_t size;
	size_t used;
	bool exhausted;
};

static void *arena_alloc(void *data, size_t n)
{
	struct arena *a = data;
	size_t at = (a->used + alignof(max_align_t) - 1) &
	            ~(size_t)(alignof(max_align_t) - 1);

	if (at > a->size || n > a->size - at) {
		a->exhausted = true;
		return NULL;
	}
	a->used = at + n;
	return a->base + at;
}

static void arena_free(void *data, void *p)
{
	(void)data;
	(void)p;
}

int frame_unpack(const ProtobufCMessageDescriptor *desc, const void *data,
                 size_t len, void *arena, size_t arena_size,
                 ProtobufCMessage **ret)
{
	uintptr_t base = (uintptr_t)arena;
	size_t skew = (alignof(max_align_t) - base % alignof(max_align_t)) %
	              alignof(max_align_t);
	struct arena a;
	ProtobufCAllocator allocator = {
		.alloc = arena_alloc,
		.free = arena_free,
		.allocator_data = &a,
	};
	ProtobufCMessage *m;

	if (skew > arena_size)
		return -ENOBUFS;
	a = (struct arena){
		.base = (uint8_t *)arena + skew,
		.size = arena_size - skew,
	};
	m = protobuf_c_message_unpack(desc, &allocator, len, data);
	if (!m)
		return a.exhausted ? -ENOBUFS : -EBADMSG;
	*ret = m;
	return 0;
}

int bus_msg_unpack(const bus_msg *msg, const ProtobufCMessageDescriptor *desc,
                   void *arena, size_t arena_size, ProtobufCMessage **ret)
{
	uint8_t *copy = arena;
	size_t used;

	if (!msg || !desc || !arena || !ret || (!msg->data && msg->len))
		return -EINVAL;
	/*
	 * The payload lies in the ring, which every producer of the queue
	 * can write, and protobuf-c reads its input more than once (it
	 * counts a packed field's elements, sizes the array, then decodes
	 * them again).  Decoding a copy in private memory means both passes
	 * see the same bytes, whatever a producer does meanwhile.  The copy
	 * takes the start of the arena; the message is built after it.
	 */
	if (msg->len > arena_size)
		return -ENOBUFS;
	if (msg->len)
		memcpy(copy, msg->data, msg->len);
	/* The decoder must read the copy, not the ring again. */
	compiler_barrier();
	used = msg->len;
	return frame_unpack(desc, copy, msg->len, copy + used, arena_size - used, ret);
}

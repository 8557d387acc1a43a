/*
 * frame.c - protobuf payloads in place: unpack from the ring into an arena.
 *
 * Packing needs nothing of its own: bus_send_pb() sizes the message,
 * claims a record of exactly that size and packs into it.  Unpacking
 * reads straight from the record and takes every allocation protobuf-c
 * makes from a caller-supplied arena, so receiving a protobuf message
 * never calls malloc and a hostile length cannot make it allocate more
 * than the arena holds.  free() is a no-op: the arena is dropped whole.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/bus.h"

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

int bus_msg_unpack(const bus_msg *msg, const ProtobufCMessageDescriptor *desc,
                   void *arena, size_t arena_size, ProtobufCMessage **ret)
{
	uintptr_t base = (uintptr_t)arena;
	size_t skew;
	struct arena a;
	ProtobufCAllocator alloc = {
		.alloc = arena_alloc,
		.free = arena_free,
		.allocator_data = &a,
	};
	ProtobufCMessage *m;

	if (!msg || !desc || !arena || !ret || (!msg->data && msg->len))
		return -EINVAL;
	skew = (alignof(max_align_t) - base % alignof(max_align_t)) %
	       alignof(max_align_t);
	if (skew > arena_size)
		return -ENOBUFS;
	a = (struct arena){
		.base = (uint8_t *)arena + skew,
		.size = arena_size - skew,
	};
	m = protobuf_c_message_unpack(desc, &alloc, msg->len, msg->data);
	if (!m)
		return a.exhausted ? -ENOBUFS : -EBADMSG;
	*ret = m;
	return 0;
}

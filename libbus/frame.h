/*
 * frame.h - protobuf decoding with a bounded allocator.
 *
 * Used for messages read from the ring (bus_msg_unpack) and for control
 * packets (busd decodes every request into a fixed arena), so that input
 * from outside can never make a process allocate more than the arena.
 */
#ifndef BUS_FRAME_H
#define BUS_FRAME_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

/*
 * Unpacks len bytes at data with desc, allocating only from
 * arena[0..arena_size-1].  Returns 0 and sets *ret, -ENOBUFS if the arena
 * is too small, -EBADMSG if the bytes do not decode.
 */
int frame_unpack(const ProtobufCMessageDescriptor *desc, const void *data,
                 size_t len, void *arena, size_t arena_size,
                 ProtobufCMessage **ret);

#endif

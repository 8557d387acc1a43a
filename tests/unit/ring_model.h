/*
 * ring_model.h - a software model of the record ring for test_ring: from
 * the sizes sent, received and released it predicts every record's
 * position and every "full" (a send that does not fit).
 */
#ifndef BUS_TEST_RING_MODEL_H
#define BUS_TEST_RING_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct expect {
	uint64_t start; /* position of the record (after any padding) */
	uint64_t end;   /* position after it */
	uint64_t seq;
	uint64_t seed;
	uint32_t len;
	uint32_t type;
	uint32_t producer;
};

#define MODEL_QUEUE 1024u

struct model {
	uint64_t cap;
	uint64_t head;                /* released */
	uint64_t tail;                /* claimed */
	uint64_t pos;                 /* read */
	struct expect q[MODEL_QUEUE]; /* sent and not released */
	size_t first;                 /* oldest held */
	size_t unread;                /* index of the oldest unread */
	size_t n;                     /* held + unread */
};

/* An empty ring of cap bytes whose positions start at pos. */
void model_init(struct model *md, uint64_t cap, uint64_t pos);

/* Whether a send of len bytes fits now; if so, records it as sent. */
bool model_send(struct model *md, uint32_t len, uint32_t type,
                uint32_t producer, uint64_t seq, uint64_t seed);

/* Messages read and not released; messages not read yet. */
size_t model_held(const struct model *md);
size_t model_unread(const struct model *md);

/* The next unread message, marked read. */
const struct expect *model_read(struct model *md);

/* Releases every message read: the head moves to the read position. */
void model_release(struct model *md);

#endif

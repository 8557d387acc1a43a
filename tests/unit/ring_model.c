/* ring_model.c - a software model of the record ring (see ring_model.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "ring.h"
#include "ring_model.h"

void model_init(struct model *md, uint64_t cap, uint64_t pos)
{
	md->cap = cap;
	md->head = md->tail = md->pos = pos;
	md->first = md->unread = md->n = 0;
}

/* Whether a send of len bytes fits now; if so, records it as sent. */
bool model_send(struct model *md, uint32_t len, uint32_t type,
                uint32_t producer, uint64_t seq, uint64_t seed)
{
	uint64_t ext = ring_rec_extent(len);
	uint64_t to_end = md->cap - (md->tail & (md->cap - 1));
	uint64_t pad = ext > to_end ? to_end : 0;
	struct expect *e;

	if (md->tail + pad + ext - md->head > md->cap)
		return false;
	assert_true(md->n < MODEL_QUEUE);
	e = &md->q[(md->first + md->n) % MODEL_QUEUE];
	*e = (struct expect){
		.start = md->tail + pad,
		.end = md->tail + pad + ext,
		.seq = seq,
		.seed = seed,
		.len = len,
		.type = type,
		.producer = producer,
	};
	md->tail = e->end;
	md->n++;
	return true;
}

size_t model_held(const struct model *md)
{
	return (md->unread + MODEL_QUEUE - md->first) % MODEL_QUEUE;
}

size_t model_unread(const struct model *md)
{
	return md->n - model_held(md);
}

/* The next unread message, marked read. */
const struct expect *model_read(struct model *md)
{
	const struct expect *e = &md->q[md->unread];

	assert_true(model_unread(md) > 0);
	md->unread = (md->unread + 1) % MODEL_QUEUE;
	md->pos = e->end;
	return e;
}

void model_release(struct model *md)
{
	md->n -= model_held(md);
	md->first = md->unread;
	md->head = md->pos;
}

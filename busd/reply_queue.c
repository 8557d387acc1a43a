/*
 * reply_queue.c - reply queues (see reply_queue.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "daemon.h"
#include "log.h"
#include "reply_queue.h"
#include "util/bits.h"

#define PREFIX_LEN (sizeof(REPLY_QUEUE_PREFIX) - 1)
/* ".r." + 32 hex + "." + 16 hex */
#define NAME_LEN   (PREFIX_LEN + 32 + 1 + 16)
_Static_assert(NAME_LEN <= BUS_NAME_MAX, "a reply queue's name is a queue name");

bool reply_queue_name(const char *name)
{
	return strncmp(name, REPLY_QUEUE_PREFIX, PREFIX_LEN) == 0;
}

void reply_queue_format(char *buf, const uint8_t service_uuid[16],
                        uint64_t reply_to)
{
	char *p = buf + PREFIX_LEN;

	memcpy(buf, REPLY_QUEUE_PREFIX, PREFIX_LEN);
	for (int i = 0; i < 16; i++, p += 2)
		snprintf(p, 3, "%02x", service_uuid[i]);
	snprintf(p, BUS_NAME_MAX + 1 - (size_t)(p - buf), ".%016" PRIx64, reply_to);
}

pid_t reply_queue_pid(const char *name)
{
	uint64_t reply_to = 0;

	if (strlen(name) != NAME_LEN || !reply_queue_name(name) ||
	    name[PREFIX_LEN + 32] != '.')
		return 0;
	for (size_t i = PREFIX_LEN; i < NAME_LEN; i++) {
		if (i == PREFIX_LEN + 32)
			continue;
		if (bits_hex_digit(name[i]) < 0)
			return 0;
		if (i > PREFIX_LEN + 32)
			reply_to = reply_to << 4 | (uint64_t)bits_hex_digit(name[i]);
	}
	/* pids are positive and below 2^22 on Linux */
	reply_to >>= 32;
	return reply_to > 0 && reply_to <= INT32_MAX ? (pid_t)reply_to : 0;
}

struct queue *reply_queue_find(struct busd *d, const struct queue *service,
                               uint64_t reply_to)
{
	char name[BUS_NAME_MAX + 1];
	struct queue *q;

	reply_queue_format(name, service->uuid, reply_to);
	q = registry_find(&d->reg, name);
	return q && q->reply_pid ? q : NULL;
}

/*
 * A reply queue takes the service's largest message, in the service's
 * capacity or busd's default capacity, whichever is smaller, so long as
 * that largest message fits: every caller gets one, and a caller of a
 * queue declared with a gigabyte should not reserve a gigabyte of
 * /dev/shm for its answers.
 */
static uint64_t reply_capacity(const struct busd *d, const struct queue *service)
{
	uint64_t cap = service->seg.capacity;

	while (cap / 2 >= d->cfg->default_capacity && cap / 2 >= SEG_MIN_CAPACITY &&
	       seg_max_message_for(cap / 2) >= service->seg.max_message)
		cap /= 2;
	return cap;
}

int reply_queue_create(struct busd *d, const struct client *c,
                       const struct queue *service, struct queue **ret,
                       uint64_t *reply_to, char *msg, size_t msglen)
{
	char name[BUS_NAME_MAX + 1];
	struct queue_spec spec = {
		.name = name,
		.capacity = reply_capacity(d, service),
		.max_message = service->seg.max_message,
		.max_producers = REPLY_QUEUE_PRODUCERS,
		.reply_pid = c->peer.pid,
	};
	uint32_t nonce;
	int e;

	if (c->peer.pid <= 0) {
		snprintf(msg, msglen, "cannot make a reply queue for queue '%s': "
		                      "the caller's pid is unknown to busd",
		         service->name);
		return -EOPNOTSUPP;
	}
	if (d->reg.n >= d->cfg->max_queues) {
		snprintf(msg, msglen, "cannot make a reply queue for queue '%s': "
		                      "busd already has %zu queues (max-queues %u)",
		         service->name, d->reg.n, d->cfg->max_queues);
		return -ENOSPC;
	}
	/*
	 * A name nobody has: the caller's pid and 32 random bits; without
	 * entropy yet (early boot), a counter, so that the loop moves on.
	 */
	do {
		static uint32_t spare;

		if (getrandom(&nonce, sizeof(nonce), GRND_NONBLOCK) != sizeof(nonce))
			nonce = ++spare * 2654435761u;
		*reply_to = (uint64_t)(uint32_t)c->peer.pid << 32 | nonce;
		reply_queue_format(name, service->uuid, *reply_to);
	} while (nonce == 0 || registry_find(&d->reg, name));
	e = registry_create(&d->reg, &spec, c->peer.uid, ret, msg, msglen);
	if (e < 0)
		return e;
	e = watch_add(d, c->peer.pid);
	if (e < 0) {
		/* Found again: watch_add() may have dropped truncated queues. */
		*ret = registry_find(&d->reg, name);
		if (*ret)
			registry_delete(&d->reg, *ret);
		snprintf(msg, msglen, "cannot make a reply queue for queue '%s': "
		                      "busd cannot watch the caller (%s)",
		         service->name, e == -EUSERS ? "too many processes watched" : strerror(-e));
		return e == -ESRCH ? -ECONNRESET : -EUSERS;
	}
	return 0;
}

static void delete_reply(struct busd *d, struct queue *q, const char *why)
{
	log_info("reply.delete", "reply queue deleted",
	         "queue=%s pid=%d reason=\"%s\"", q->name, (int)q->reply_pid, why);
	registry_delete(&d->reg, q);
}

void reply_queue_caller_gone(struct busd *d, pid_t pid)
{
	for (size_t i = 0; i < d->reg.n;) {
		struct queue *q = d->reg.v[i];

		if (q->reply_pid == pid) {
			delete_reply(d, q, "its caller exited");
			continue;
		}
		i++;
	}
}

void reply_queue_adopt(struct busd *d)
{
	for (size_t i = 0; i < d->reg.n;) {
		struct queue *q = d->reg.v[i];

		if (!q->reply_pid) {
			i++;
			continue;
		}
		/*
		 * Its caller holds the consumer's lease (the kernel's lock,
		 * not a field anyone can write) while its client is open.
		 */
		if (!seg_held(&q->seg, SEG_LOCK_CONSUMER, &q->seg.hdr->cons_pid)) {
			delete_reply(d, q, "its caller closed or exited while busd was down");
			continue;
		}
		if (watch_add(d, q->reply_pid) < 0) {
			char name[BUS_NAME_MAX + 1];

			/* watch_add() may have dropped truncated queues: look again. */
			memcpy(name, q->name, sizeof(name));
			q = registry_find(&d->reg, name);
			if (q)
				delete_reply(d, q, "its caller cannot be watched");
			i = 0;
			continue;
		}
		log_info("reply.adopt", "reply queue adopted: its caller lives",
		         "queue=%s pid=%d", q->name, (int)q->reply_pid);
		i++;
	}
}

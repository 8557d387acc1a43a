/*
 * registry.h - busd's queues, by name.
 *
 * Each queue is one segment in /dev/shm, named by seg_shm_name() from the
 * daemon's instance (a hash of its socket path), the queue name and the
 * queue's UUID, and mapped read-write here for the daemon's lifetime.
 *
 * At start, registry_adopt() takes over the segments a previous busd of
 * the same instance left: valid ones are adopted with their contents,
 * ones whose deletion was interrupted are unlinked, temporaries of
 * creations that never finished are removed, corrupt ones are reported
 * and left in place (never deleted silently).  Then registry_declare()
 * creates the config's queues that were not adopted.  Nothing a restart
 * does loses a queued message.
 *
 * The names the config declares are reserved to it: their queues are
 * owned by busd (the owner in a segment's name gets every right), a
 * client's create of one makes it as declared or is refused, and a
 * segment under one whose owner is anyone but busd's uid or root is never
 * adopted under it.
 *
 * Delete marks the segment deleted (attached producers then get -EPIPE,
 * the consumer drains what is left), unlinks its name and unmaps it; the
 * memory lives on until the last attached process lets go.
 */
#ifndef BUSD_REGISTRY_H
#define BUSD_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bus/bus.h"
#include "config.h"
#include "segment.h"

struct queue {
	char name[BUS_NAME_MAX + 1];
	char shm_name[SEG_SHM_NAME_MAX];
	uint8_t uuid[16];
	uint64_t created_ns;           /* CLOCK_REALTIME, from the header at creation */
	uint32_t owner_uid;            /* from the segment's name: gets every right */
	struct seg seg;                /* mapped read-write */
	const struct queue_conf *conf; /* declared in the config, or NULL */
	pid_t reply_pid;               /* a reply queue: its caller (reply.h); else 0 */
};

struct registry {
	struct queue **v; /* sorted by name */
	size_t n, cap;
	uint32_t instance;
	uint32_t self_uid;
	const struct busd_config *cfg;
};

/* What to create; zero fields take the defaults. */
struct queue_spec {
	const char *name;
	uint64_t capacity;
	uint32_t max_message;
	uint32_t max_producers;
	bool from_client; /* apply max-capacity and max-queues */
	pid_t reply_pid;  /* a reply queue for this caller (reply.h), or 0 */
};

void registry_init(struct registry *r, const struct busd_config *cfg,
                   const char *socket_path, uint32_t self_uid);

/*
 * Adopts this instance's segments from /dev/shm and removes its
 * temporaries (logging each decision).  Call it only with the socket's
 * lock held: no other busd of the instance may be creating segments.
 * Returns 0, or a negative errno if /dev/shm cannot be read.
 */
int registry_adopt(struct registry *r);

/*
 * Creates the config's queues that are not there yet, and links adopted
 * ones to their declaration (warning when the sizes differ: an adopted
 * queue keeps its own).  Returns 0, or a negative errno with the reason
 * in err.
 */
int registry_declare(struct registry *r, char *err, size_t errlen);

struct queue *registry_find(const struct registry *r, const char *name);

/*
 * Creates a queue owned by owner_uid.  A client's create (from_client)
 * of a name the config declares is allowed only for busd's uid and root,
 * and makes the queue as declared, owned by busd's uid (-EACCES for anyone
 * else, -EINVAL for sizes that differ from the config's).  Returns 0 and
 * sets *ret, or a negative errno with a message for humans naming the
 * queue in msg: -EINVAL (name or sizes), -EEXIST, -EACCES, -ENOSPC (no
 * space in /dev/shm, or max-queues reached), ...
 */
int registry_create(struct registry *r, const struct queue_spec *spec,
                    uint32_t owner_uid, struct queue **ret, char *msg,
                    size_t msglen);

/* Deletes q (see above) and frees it. */
void registry_delete(struct registry *r, struct queue *q);

/*
 * Forgets q without touching its memory, unlinks its name and frees it:
 * for a segment an attached process truncated (nothing left to mark).
 */
void registry_drop(struct registry *r, struct queue *q);

/*
 * Opens a new open file description of q's segment, read-write or
 * read-only.  Returns the descriptor, or a negative errno.
 */
int registry_open(const struct queue *q, bool read_only);

/* A queue's FIFOs (docs/wait-protocol.md, "Descriptors"). */
#define REGISTRY_FIFO_WAKE 0 /* the consumer waits on it for messages */
#define REGISTRY_FIFOS     1

/*
 * A new read-write, non-blocking descriptor of one of q's FIFOs, for a
 * producer or consumer; -EOPNOTSUPP if q has none.
 */
int registry_open_fifo(const struct queue *q, int which);

/* Unmaps every queue, leaving the segments in place. */
void registry_close(struct registry *r);

#endif

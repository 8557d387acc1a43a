/*
 * reply_queue.h - reply queues: busd's part of request and reply.
 *
 * A caller (bus_client_open) asks busd for a reply queue of its own for
 * a service queue it may produce to.  busd makes an ordinary segment for
 * it, named
 *
 *   .r.<service uuid, 32 hex>.<reply_to, 16 hex>
 *
 * where reply_to, the value the caller's requests carry, is the caller's
 * pid (high 32 bits) and 32 random bits.  The caller gets the consumer's
 * descriptor at once and is the only reader: busd refuses every attach
 * of the queue by name.  A service replies through an attach of role
 * replier naming its own queue and the request's reply_to: busd grants it
 * to whoever may consume the service queue, and resolves reply_to only
 * among the reply queues made for that service (its uuid is in the name).
 *
 * busd deletes a reply queue when its caller closes it (an ordinary
 * delete, by the caller's uid) or dies (the caller's pidfd, watch.h).
 * Both facts are in the name (owner uid, and pid), so a busd that starts
 * again adopts the reply queues whose caller still holds the consumer's
 * lease and watches it again, and deletes the others.
 */
#ifndef BUSD_REPLY_QUEUE_H
#define BUSD_REPLY_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bus/bus.h"

struct busd;
struct client;
struct queue;

#define REPLY_QUEUE_PREFIX ".r."

/* Producer slots of a reply queue: the service, and a successor or two. */
#define REPLY_QUEUE_PRODUCERS 4u

/* 1 if name is in the reply queues' name space (REPLY_QUEUE_PREFIX). */
bool reply_queue_name(const char *name);

/* The caller's pid of a well-formed reply queue name; 0 if not one. */
pid_t reply_queue_pid(const char *name);

/* The name of service's reply queue for reply_to (BUS_NAME_MAX + 1 bytes). */
void reply_queue_format(char *buf, const uint8_t service_uuid[16],
                        uint64_t reply_to);

/*
 * The reply queue reply_to names among service's, or NULL (the caller
 * closed or died).
 */
struct queue *reply_queue_find(struct busd *d, const struct queue *service,
                               uint64_t reply_to);

/*
 * Makes a reply queue for caller c of service (sized like it): returns 0
 * and sets *ret and *reply_to, or a negative errno with msg.
 */
int reply_queue_create(struct busd *d, const struct client *c,
                       const struct queue *service, struct queue **ret,
                       uint64_t *reply_to, char *msg, size_t msglen);

/* pid died: its reply queues go. */
void reply_queue_caller_gone(struct busd *d, pid_t pid);

/*
 * After adoption: reply queues whose caller still holds the consumer's
 * lease are watched again, the others deleted.
 */
void reply_queue_adopt(struct busd *d);

#endif

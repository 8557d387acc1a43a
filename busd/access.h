/*
 * access.h - who may do what: busd's access decisions.
 *
 * Rights are per queue: PRODUCE (attach as a producer), CONSUME (attach as
 * the consumer) and ADMIN (delete).  CREATE, who may create queues at run
 * time, is daemon-wide.  A rule is a list of principals, each a uid, a
 * gid (matching the peer's primary group or any supplementary group) or
 * "anyone".
 *
 * Always allowed, whatever the rules say: busd's own uid and root.  A
 * queue also grants every right to its owner, the uid that created it at
 * run time (busd's own uid for queues busd created from its config).
 * Reading a queue's stats (an observer attach) and seeing it in a list
 * need any one right on it.
 *
 * Everything here is a pure function of its arguments: no I/O, no name
 * lookups (config.c resolves user and group names when it loads).
 */
#ifndef BUSD_ACCESS_H
#define BUSD_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control.h"

/* Per-queue rights, as bits. */
#define ACCESS_PRODUCE 0x1u
#define ACCESS_CONSUME 0x2u
#define ACCESS_ADMIN   0x4u
#define ACCESS_ALL     (ACCESS_PRODUCE | ACCESS_CONSUME | ACCESS_ADMIN)

enum principal_kind {
	PRINCIPAL_UID,
	PRINCIPAL_GID,
	PRINCIPAL_ANYONE,
};

struct principal {
	enum principal_kind kind;
	uint32_t id; /* uid or gid; unused for PRINCIPAL_ANYONE */
};

/* A list of principals; v is owned by whoever filled it (config.c). */
struct access_rule {
	struct principal *v;
	size_t n;
};

/* A queue's rules, one per right; empty rules grant nothing. */
struct queue_rules {
	struct access_rule produce;
	struct access_rule consume;
	struct access_rule admin;
};

/* The daemon-wide part. */
struct access_policy {
	uint32_t self_uid;         /* busd's own uid: always allowed */
	struct access_rule create; /* who may create queues at run time */
};

/* What a request asks to do, for decisions and refusal messages. */
enum access_op {
	ACCESS_OP_PRODUCE, /* attach as producer: PRODUCE */
	ACCESS_OP_CONSUME, /* attach as consumer: CONSUME */
	ACCESS_OP_OBSERVE, /* attach as observer (stats): any right */
	ACCESS_OP_DELETE,  /* ADMIN */
	ACCESS_OP_CREATE,  /* the daemon-wide CREATE right */
};

/* Returns true if some principal of r matches peer. */
bool access_rule_match(const struct access_rule *r, const struct control_peer *peer);

/*
 * The rights (ACCESS_* bits) peer has on a queue with rules (NULL: none
 * configured) and owner uid owner_uid.
 */
unsigned access_queue_rights(const struct access_policy *pol,
                             const struct queue_rules *rules,
                             uint32_t owner_uid,
                             const struct control_peer *peer);

/*
 * Decides op for peer on a queue (rules and owner_uid as above; both
 * ignored for ACCESS_OP_CREATE).  Returns true if allowed.
 */
bool access_allowed(const struct access_policy *pol,
                    const struct queue_rules *rules, uint32_t owner_uid,
                    const struct control_peer *peer, enum access_op op);

/*
 * Writes the refusal for op into buf, e.g. "uid 1000 may not consume from
 * queue 'orders'" (queue may be NULL for ACCESS_OP_CREATE).
 */
void access_refusal(char *buf, size_t n, uint32_t uid, enum access_op op,
                    const char *queue);

/* True if r names anyone other than uid self and root. */
bool access_rule_grants_others(const struct access_rule *r, uint32_t self);

#endif

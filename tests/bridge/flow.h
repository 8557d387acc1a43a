/*
 * flow.h - traffic through a bridge: producer processes on host A, a
 * consumer process on host B that logs what it gets, and the check of
 * that log against what the producers committed.
 *
 * Each message names its producer and its counter and carries a checksum
 * of all its bytes; its type is FLOW_TYPE(producer), so a type or payload
 * changed on the way shows as a bad record.  The consumer writes one
 * record per message it received to a log file BEFORE it releases the
 * messages (a batch at a time): whatever it released is in the log, even
 * if it is SIGKILLed, and what it had not released comes back from bus
 * flagged BUS_MSG_REDELIVERED, which the record keeps.
 *
 * The check walks the log in order, per producer:
 *  - the next counter expected: one more delivered message (distinct);
 *  - an earlier counter flagged redelivered: bus's own copy to a consumer
 *    that died before releasing (redelivered_copies, allowed);
 *  - an earlier counter not flagged: a duplicate the bridge made (dups);
 *  - a later counter: a gap, something lost or reordered (gaps);
 * and at the end every producer's committed count against what came
 * (missing: committed and never seen; extra: seen and never committed).
 */
#ifndef BUS_FLOW_H
#define BUS_FLOW_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "e2e.h"

#define FLOW_MAX_PROD    8
#define FLOW_TYPE(k)     (0x42420000u + (uint32_t)(k))
#define FLOW_HDR_LEN     24u
#define FLOW_REC_REDELIV 1u /* flow_rec.flags: flagged BUS_MSG_REDELIVERED */
#define FLOW_REC_BAD     2u /* payload, checksum or type wrong */

/* Shared by the test and its children (an anonymous shared mapping). */
struct flow_shared {
	_Atomic int stop_producers;
	_Atomic int stop_consumer;
	_Atomic uint64_t committed[FLOW_MAX_PROD]; /* sends that returned 0 */
	_Atomic uint64_t logged;                   /* records the consumers wrote */
	_Atomic uint64_t received;                 /* messages the consumers got */
};

struct flow {
	struct flow_shared *sh;
	int nprod;
	const char *sock_a, *queue_a; /* where producers send */
	const char *sock_b, *queue_b; /* where the consumer receives */
	uint64_t count;               /* messages per producer; 0: until stopped */
	unsigned rate;                /* per producer per second; 0: no limit */
	size_t max_len;               /* payloads of FLOW_HDR_LEN..max_len bytes */
	unsigned delay_us;            /* consumer: pause per message */
	unsigned hold_ms;             /* consumer: pause per batch, holding it */
	int deadline_s;               /* children give up after this long */
	char log_path[300];           /* the consumer's log */
};

/* One record of the consumer's log. */
struct flow_rec {
	uint32_t producer;
	uint32_t flags; /* FLOW_REC_* */
	uint64_t ctr;
};

struct flow_result {
	uint64_t records, distinct, redelivered_copies, dups, gaps, missing, extra, bad;
};

/* Maps the shared state; the log goes to dir/consumer.log. */
void flow_init(struct flow *f, const char *dir);
void flow_free(struct flow *f);

/* Forks producer k (0..nprod-1) / a consumer; tracked by e. */
pid_t flow_start_producer(struct e2e *e, struct flow *f, int k);
pid_t flow_start_consumer(struct e2e *e, struct flow *f);

/*
 * Forks producers first..nprod-1 into prod[first..]; waits for them to
 * exit 0 within f->deadline_s each.
 */
void flow_start_producers(struct e2e *e, struct flow *f, int first, pid_t *prod);
void flow_wait_producers(struct e2e *e, const struct flow *f, int first, const pid_t *prod);

/* Tells consumer cons to stop; it must exit 0 within 30 s. */
void flow_stop_consumer(struct e2e *e, const struct flow *f, pid_t cons);

/* The messages committed by all producers so far. */
uint64_t flow_committed(const struct flow *f);

/* The payload bytes of the messages committed so far. */
uint64_t flow_bytes(const struct flow *f);

/* Reads the log and checks it (see above). */
void flow_check(const struct flow *f, struct flow_result *r);

/*
 * Waits (after the producers finished) until the log holds every
 * committed message, at most timeout_ms; the last check goes to *r.
 */
bool flow_wait_all(const struct flow *f, int timeout_ms, struct flow_result *r);

/* One line with the counts of r. */
void flow_print(const char *what, const struct flow_result *r);

/*
 * Asserts that r saw each of total messages exactly once: none missing,
 * repeated (flagged redelivered or not), out of order, extra or corrupt.
 */
void flow_assert_exact(const struct flow_result *r, uint64_t total);

#endif

/*
 * stats.h - busbridge's counters: the file DIR/stats that the daemon maps
 * and writes, and `busbridge --stats`, which reads it.
 *
 * Layout (host byte order; version 1):
 *
 *   header, 32 bytes: magic "BUSBSTA1", u32 version, u32 route_count
 *   (<= 64), u64 pid, u64 started_ns (CLOCK_REALTIME)
 *   then route_count entries of 480 bytes: u32 kind (1 export, 2 import),
 *   u32 state (0 starting, 1 up, 2 waiting for NATS, 3 waiting for
 *   busd or the queue), char queue[65], subject[256], durable[65] (NUL-
 *   padded), 6 bytes of padding, then ten u64 counters: messages, bytes,
 *   in_flight, acks, duplicates, skipped, redeliveries, errors,
 *   reconnects, lag.
 *
 * The daemon writes the whole file under a temporary name and renames it
 * into place, so a reader never sees a half-made one; afterwards only the
 * state and the counters change, each with one atomic store.  The file
 * outlives the daemon: --stats shows the last figures, marked stopped.
 * The reader trusts nothing in it: it reads it once into private memory
 * and checks the magic, version, size and every string before printing.
 */
#ifndef BUSBRIDGE_STATS_H
#define BUSBRIDGE_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge.h"

#define STATS_MAGIC   "BUSBSTA1"
#define STATS_VERSION 1u

enum route_state {
	ROUTE_STARTING = 0,
	ROUTE_UP = 1,
	ROUTE_WAIT_NATS = 2,
	ROUTE_WAIT_LOCAL = 3,
};

struct stats_header {
	char magic[8];
	uint32_t version;
	uint32_t route_count;
	uint64_t pid;
	uint64_t started_ns;
};

struct stats_route {
	uint32_t kind;
	_Atomic uint32_t state;
	char queue[BUS_NAME_MAX + 1];
	char subject[BRIDGE_SUBJECT_MAX + 1];
	char durable[BRIDGE_NAME_MAX + 1];
	char pad[6];
	_Atomic uint64_t messages;     /* forwarded: acked by JetStream / committed locally */
	_Atomic uint64_t bytes;        /* their payload bytes */
	_Atomic uint64_t in_flight;    /* published, not acked / fetched, not committed */
	_Atomic uint64_t acks;         /* publish acks received / acks sent */
	_Atomic uint64_t duplicates;   /* export: acks with Duplicate set */
	_Atomic uint64_t skipped;      /* import: deliveries of committed messages */
	_Atomic uint64_t redeliveries; /* messages handled again */
	_Atomic uint64_t errors;
	_Atomic uint64_t reconnects; /* NATS connections made after a loss */
	_Atomic uint64_t lag;        /* local queue depth / messages pending in the stream */
};

_Static_assert(sizeof(struct stats_header) == 32, "stats header layout");
_Static_assert(offsetof(struct stats_route, messages) == 400, "stats route layout");
_Static_assert(sizeof(struct stats_route) == 480, "stats route layout");

struct bridge_config;

/* The daemon's side: the mapping and where it is. */
struct stats_map {
	struct stats_header *hdr;
	struct stats_route *routes;
	size_t size;
};

/*
 * Writes DIR/stats for cfg's routes, every counter 0, and maps it.
 * Returns 0, or a negative errno with the reason in err.
 */
int stats_create(struct stats_map *m, const struct bridge_config *cfg,
                 char *err, size_t n);

/* Unmaps; the file stays for --stats.  Accepts a map never created. */
void stats_close(struct stats_map *m);

static inline void stat_add(_Atomic uint64_t *c, uint64_t v)
{
	atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static inline void stat_sub(_Atomic uint64_t *c, uint64_t v)
{
	atomic_fetch_sub_explicit(c, v, memory_order_relaxed);
}

static inline void stat_set(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}

static inline void stat_state(struct stats_route *st, enum route_state s)
{
	atomic_store_explicit(&st->state, (uint32_t)s, memory_order_relaxed);
}

enum stats_format {
	STATS_TABLE,
	STATS_JSON,
	STATS_PROMETHEUS,
};

/*
 * --stats: prints the figures in DIR/stats on stdout.  Returns an exit
 * status (0, or 1 after one line on stderr).
 */
int stats_show(const char *dir, enum stats_format fmt);

#endif

/*
 * bridge.h - what busbridge's modules share.
 *
 * busbridge runs one thread per route (export.c, import.c), each with its
 * own busd connection, queue handle and NATS connection; the main thread
 * (main.c) only waits for signals and logs.  The routes share nothing but
 * the stop flag below, the stats mapping (stats.h: each route writes its
 * own entry) and the log (one write(2) per line).
 */
#ifndef BUSBRIDGE_BRIDGE_H
#define BUSBRIDGE_BRIDGE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "bus/bus.h"
#include "util/nstime.h"

#define BRIDGE_MAX_ROUTES    64
#define BRIDGE_SUBJECT_MAX   255 /* bytes, as JetStream allows */
#define BRIDGE_NAME_MAX      64  /* stream and durable names */
/* A route asks for its lag (busd or the server) at most this often. */
#define BRIDGE_LAG_PERIOD_NS 1000000000ull

/* Values of the stats file's kind field (stats.h): keep them. */
enum route_kind {
	ROUTE_EXPORT = 1,
	ROUTE_IMPORT = 2,
};

struct bridge_config;
struct route_conf;
struct stats_route;
struct seq_file;
struct export_state;

/* One route's thread: its settings and the shared pieces it writes. */
struct route {
	const struct bridge_config *cfg;
	const struct route_conf *rc;
	struct stats_route *st; /* this route's entry of the stats mapping */
	struct seq_file *seq;   /* import: its position file; export: NULL */
	const atomic_bool *stop;
	/*
	 * Export: the state libnats's ack callbacks look at.  A callback of
	 * a connection the route destroyed may still be running after the
	 * route's thread ends, so main frees it (export_free()) only after
	 * nats_CloseAndWait() has seen every libnats thread out.
	 */
	struct export_state *ex;
};

/* Thread bodies: run the route until *r->stop.  Return NULL. */
void *export_run(void *route);
void *import_run(void *route);

/* Frees r->ex, once no libnats thread can call back into it. */
void export_free(struct route *r);

/* "export" or "import". */
const char *route_kind_name(enum route_kind kind);

/* Writes the message into err[n] and returns rc (state.c). */
int failf_rc(char *err, size_t n, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif

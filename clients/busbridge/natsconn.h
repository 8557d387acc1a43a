/*
 * natsconn.h - one route's NATS connection: connect, make sure the
 * stream holds the route's subject, lose it, back off, connect again.
 *
 * libnats's own reconnection is off.  It would flush on its own, after an
 * outage, the publishes it buffered during it; if one of them was lost in
 * the dead socket and a later one is stored, a retry stores them out of
 * order.  Here a dead connection is destroyed with its buffers, and the
 * route starts over from what it still holds, in order.
 *
 * Outages are logged once: event=nats_down at the first failure (with
 * the reason), event=nats_up with outage_ms when a connection works again.
 * Between attempts the route backs off: 100 ms, doubling to 5 s, back to
 * 100 ms once a connection has done some work (natsconn_ok()).
 */
#ifndef BUSBRIDGE_NATSCONN_H
#define BUSBRIDGE_NATSCONN_H

#include <stdbool.h>
#include <stdint.h>

#include <nats/nats.h>

#include "bridge.h"
#include "log.h"

/* A back-off: 100 ms, doubling up to 5 s, until reset. */
struct backoff {
	uint64_t next_ms;
};

void backoff_reset(struct backoff *b);

/*
 * Sleeps the current delay and doubles it.  Returns false at once if
 * *stop is set (or becomes set meanwhile), true otherwise.
 */
bool backoff_sleep(struct backoff *b, const atomic_bool *stop);

struct natsconn {
	struct route *r;
	natsConnection *nc;
	jsCtx *js;
	jsOptions jo;   /* for natsConnection_JetStream(): the ack handler */
	bool send_asap; /* natsOptions_SetSendAsap() for this direction */
	bool down;      /* in an outage: nats_down logged, nats_up not yet */
	bool ever_up;   /* connected once: later connections are reconnects */
	bool dup_warned;
	bool repair; /* publishes found no responders: mend the stream (natsconn.c) */
	uint64_t down_since_ns;
	struct backoff bo;
};

/*
 * Prepares c for route r; jo (NULL: defaults) is the JetStream context's
 * options, copied.  Connects to nothing.
 */
void natsconn_init(struct natsconn *c, struct route *r, const jsOptions *jo,
                   bool send_asap);

/*
 * Connects and makes sure the stream covers the route's subject.  Returns
 * 0 with c->nc and c->js set, or -1 after natsconn_fail() (the reason
 * logged if this starts an outage).
 */
int natsconn_open(struct natsconn *c);

/*
 * Gives the connection up after a failure (why: for the log): destroys
 * it, and logs nats_down unless an outage is on already.
 */
void natsconn_fail(struct natsconn *c, const char *why);

/* The connection works: the next failure backs off from 100 ms again. */
void natsconn_ok(struct natsconn *c);

/* True while the connection is open (libnats has not closed it). */
bool natsconn_alive(const struct natsconn *c);

/*
 * Sleeps the current back-off and doubles it (up to 5 s).  Returns false
 * at once if the route is told to stop, true otherwise.
 */
bool natsconn_backoff(struct natsconn *c);

/* Destroys the connection, if any, without logging an outage. */
void natsconn_close(struct natsconn *c);

/*
 * Sleeps ms milliseconds in short slices; returns false as soon as *stop
 * is set, true after the whole time.
 */
bool bridge_nap(uint64_t ms, const atomic_bool *stop);

/*
 * Logs event for route r: the fields route=, queue=, subject= (and
 * durable= for an import) come first, then those of fmt (NULL: none).
 */
void route_log(const struct route *r, enum log_level level, const char *event,
               const char *msg, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/*
 * Logs a failure to attach to the route's local queue, when rc differs
 * from *last (the one logged before; 0 after a success), and sets the
 * route's state to waiting.  opening: bus_open() failed (busd not
 * there), else the attach did; b: the connection, for busd's words.
 */
void route_local_failed(const struct route *r, int *last, int rc, bool opening,
                        const bus *b);

/* The reason of the last libnats failure on this thread, for a log line. */
const char *natsconn_error(natsStatus s);

#endif

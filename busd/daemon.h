/*
 * daemon.h - the running daemon: its state, the event loop (server.c) and
 * the request handlers (request.c).
 *
 * One thread, one epoll loop: the listening socket, a signalfd and every
 * client connection.  Requests are answered at once, in arrival order;
 * nothing a request does waits on another process.  Memory that clients
 * can make busd use is fixed at start: one packet buffer, one decode
 * arena, max-connections client slots and a uid table twice that size.
 *
 * Connections are shared fairly between users: one uid holds at most
 * max-connections-per-uid of them (busd's uid and root: no limit); a
 * connection that sends no well-formed request within BUSD_HELLO_MS is
 * closed; and when the table is full a new connection takes the place of
 * the longest-idle connection of the uid holding the most.  busd says why
 * before it closes a connection (a Response with id 0 and an error), and
 * libbus connects again when it finds an idle connection closed.  The log
 * lines a client can cause are rate-limited, per client and for all of
 * them together.
 */
#ifndef BUSD_DAEMON_H
#define BUSD_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "access.h"
#include "config.h"
#include "control.h"
#include "endpoint.h"
#include "log.h"
#include "registry.h"
#include "watch.h"

#ifndef BUSD_VERSION
#define BUSD_VERSION "0.0.0"
#endif

/* A connection with no well-formed request this long after accept is closed. */
#define BUSD_HELLO_MS 5000

/*
 * Log lines a client can cause: per client, a burst of 20 then one a
 * second; for all clients together, a burst of 200 then 20 a second.
 * What is refused is counted and reported later in a log.suppressed line.
 */
#define BUSD_LOG_CLIENT_BURST    20
#define BUSD_LOG_CLIENT_INTERVAL 1000000000ull /* ns */
#define BUSD_LOG_ALL_BURST       200
#define BUSD_LOG_ALL_INTERVAL    50000000ull /* ns */

struct client {
	int fd;                   /* -1: slot free */
	struct control_peer peer; /* taken once, at accept */
	uint32_t gen;             /* bumped each time the slot is reused */
	bool hello;               /* it sent a well-formed request */
	uint64_t open_ns;         /* CLOCK_MONOTONIC at accept */
	uint64_t active_ns;       /* at accept, then at each request */
	struct log_limit log;     /* its log lines */
};

/* Connections per uid (an open-addressing table; n == 0: empty entry). */
struct uid_count {
	uint32_t uid;
	uint32_t n;
};

struct busd {
	const struct busd_config *cfg;
	struct registry reg;
	struct access_policy policy;
	struct endpoint ep;
	int epfd;
	int sigfd;
	int spare_fd;             /* given up to accept-and-close at EMFILE */
	struct watchlist watches; /* attached processes (watch.h) */
	struct client *clients;   /* cfg->max_connections slots */
	size_t nclients;          /* slots in use */
	size_t nwaiting;          /* clients in use without hello */
	struct uid_count *uids;   /* uids_mask + 1 entries */
	size_t uids_mask;
	struct log_limit log_all; /* every client's log lines together */
	bool log_pending;         /* some client has suppressed lines to report */
	uint64_t next_tick_ns;    /* next look at hellos and suppressed lines */
	uint8_t *packet;          /* CONTROL_MAX_PACKET bytes */
	void *arena;              /* CONTROL_ARENA bytes, reused per request */
	pid_t pid;
	bool stop;
};

/*
 * Sets up the loop for d (whose cfg, reg, policy and ep.fd are ready):
 * epoll, a signalfd for SIGTERM, SIGINT and SIGHUP (which the caller has
 * blocked), buffers and client slots.  Returns 0, or a negative errno
 * with the reason in err.
 */
int server_init(struct busd *d, char *err, size_t errlen);

/* Serves until SIGTERM or SIGINT.  Returns 0, or a negative errno. */
int server_run(struct busd *d);

/* Closes every client and what server_init() made. */
void server_close(struct busd *d);

/*
 * Handles one request packet from c and sends the response.  Returns 0,
 * or a negative errno when the client must be dropped (its response could
 * not be sent).
 */
int request_handle(struct busd *d, struct client *c, const void *pkt,
                   size_t len);

/* Sends an error response with the given id (0 if unknown). */
int request_reply_error(struct busd *d, struct client *c, uint64_t id, int err,
                        const char *msg);

/* c sent a well-formed request: its handshake is done. */
void server_client_said_hello(struct busd *d, struct client *c);

/*
 * Logs an event a client caused (c NULL: a connection not yet a client),
 * within the rate limits: lines over them are counted, not written, and
 * a later log.suppressed line says how many.
 */
void server_client_log(struct busd *d, struct client *c, enum log_level level,
                       const char *event, const char *msg, const char *fields_fmt, ...)
	__attribute__((format(printf, 6, 7)));

#endif

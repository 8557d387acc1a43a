/*
 * daemon.h - the running daemon: its state, the event loop (server.c) and
 * the request handlers (request.c).
 *
 * One thread, one epoll loop: the listening socket, a signalfd and every
 * client connection.  Requests are answered at once, in arrival order;
 * nothing a request does waits on another process.  Memory that clients
 * can make busd use is fixed at start: one packet buffer, one decode
 * arena, max-connections client slots.
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
#include "registry.h"
#include "watch.h"

#ifndef BUSD_VERSION
#define BUSD_VERSION "0.0.0"
#endif

struct client {
	int fd;                   /* -1: slot free */
	struct control_peer peer; /* taken once, at accept */
	uint32_t gen;             /* bumped each time the slot is reused */
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
int request_reply_error(struct client *c, uint64_t id, int err, const char *msg);

#endif

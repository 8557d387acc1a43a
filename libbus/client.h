/*
 * client.h - the requests of calls to busd (client.c), for call.c and
 * reply.c: the library's own use of a connection beyond bus.h's.
 */
#ifndef BUS_CLIENT_H
#define BUS_CLIENT_H

#include <stdint.h>

#include "bus/bus.h"

/*
 * client_open_reply() asks for a reply queue for a caller of service:
 * fds[] (CONTROL_MAX_FDS) get its segment and wake FIFO, *reply_to what
 * requests carry, *info the queue.  client_attach_reply() asks, for the
 * consumer of service, for the reply queue reply_to names: fds[] as for a
 * producer's attach.  Both return 0 or a negative errno (-EPIPE: that
 * reply queue is gone).
 */
int client_open_reply(bus *b, const char *service, int *fds, uint64_t *reply_to,
                      bus_queue_info *info);
int client_attach_reply(bus *b, const char *service, uint64_t reply_to, int *fds);

/* The socket path of busd that b is connected to. */
const char *client_socket_path(const bus *b);

#endif

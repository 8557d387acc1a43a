/*
 * client.c - the connection to busd: requests, attach, admin, stats.
 *
 * One request at a time per connection: send a Request packet, wait for
 * the Response with the same id.  Buffers and the decode arena are
 * allocated once, at bus_open, so a busd (or an impostor on the socket)
 * cannot make a client allocate.  busd is never on the data path: once a
 * producer or consumer holds its segment, the connection may close.
 *
 * busd may close a connection: an idle one when its connection table is
 * full, any one when it restarts.  It says why first when it can (a
 * Response with id 0 and an error).  A request that finds the connection
 * gone before busd read it connects again, once, and is sent again, so a
 * bus may be kept open and idle for as long as a program likes; any other
 * loss is -ECONNRESET.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "bus/bus.h"
#include "client.h"
#include "control.h"
#include "handle.h"

/* How long a request may wait for busd's answer. */
#define CLIENT_TIMEOUT_S 10

struct bus {
	int sock; /* -1 once the connection is lost: the next request reconnects */
	uint64_t next_id;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char last_error[256];
	uint8_t packet[CONTROL_MAX_PACKET];
	_Alignas(16) uint8_t arena[CONTROL_ARENA];
};

int bus_default_socket(char *buf, size_t n)
{
	if (!buf)
		return -EINVAL;
	return control_default_path(buf, n);
}

const char *bus_last_error(const bus *b)
{
	return b ? b->last_error : "";
}

/* Errors of the socket that mean busd closed the connection, or died. */
static bool conn_lost(int rc)
{
	return rc == -ECONNRESET || rc == -EPIPE || rc == -ENOTCONN;
}

/* The errors busd gives, in a response with id 0, when it closes a connection. */
static bool closing_error(int rc)
{
	return rc == -ECONNRESET || rc == -EDQUOT || rc == -ETIMEDOUT || rc == -ENFILE;
}

static void drop_sock(bus *b)
{
	if (b->sock >= 0)
		close(b->sock);
	b->sock = -1;
}

/*
 * Decodes a packet as a Response.  Returns 0 with *ret set, or -EBADMSG
 * (also for a string field with a NUL in it, which protobuf-c would cut
 * short), -ENOBUFS.
 */
static int decode(bus *b, size_t len, BusControl__Response **ret)
{
	int rc = control_decode_response(b->packet, len, b->arena, sizeof(b->arena), ret);

	if (rc == 0 && control_check_strings(&bus_control__response__descriptor,
	                                     b->packet, len, NULL, NULL) < 0)
		rc = -EBADMSG;
	return rc;
}

/*
 * The connection failed.  busd may have said why before it closed it: a
 * Response with id 0 and an error (see docs/busd.md) may be waiting.  The
 * kernel reports a reset before the packets queued ahead of it, so look
 * twice.  Drops the socket either way.  Returns busd's error with its
 * message in last_error and *said set, or -ECONNRESET: the connection is
 * lost.
 */
static int lost(bus *b, bool *said)
{
	int rc = -ECONNRESET;

	*said = false;
	if (fcntl(b->sock, F_SETFL, O_NONBLOCK) == 0) {
		for (int i = 0; i < 2; i++) {
			BusControl__Response *r;
			size_t len;
			int got = control_recv(b->sock, b->packet, sizeof(b->packet), &len, NULL);

			if (got == -ECONNRESET)
				continue;
			if (got == 0 && decode(b, len, &r) == 0 && r->id == 0 &&
			    r->error < 0 && r->error >= -4095) {
				if (r->message)
					snprintf(b->last_error, sizeof(b->last_error), "%s",
					         r->message);
				rc = r->error;
				*said = true;
			}
			break;
		}
	}
	drop_sock(b);
	return rc;
}

/*
 * Sends req and receives the matching response into b's arena.  Returns
 * the response's error (0 or negative errno) with *resp set, or a
 * negative errno of the exchange itself (-ECONNRESET: the connection to
 * busd is lost).  *unsent is set when busd certainly did not carry the
 * request out: it was never sent, or busd closed the connection as idle
 * without reading it.  fds[] (CONTROL_MAX_FDS of them) gets the received
 * descriptors, -1 for each one not sent (fds NULL:
 * none expected; any is closed).
 */
/* Closes the descriptors a response brought (-1: none). */
static void close_fds(int *fds)
{
	for (int i = 0; i < CONTROL_MAX_FDS; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

static int exchange(bus *b, BusControl__Request *req, BusControl__Response **resp,
                    int *fds, bool *unsent)
{
	BusControl__Response *r;
	bool said;
	size_t len;
	int got[CONTROL_MAX_FDS] = {-1, -1}, rc;

	*unsent = false;
	req->version = CONTROL_VERSION;
	req->id = ++b->next_id;
	b->last_error[0] = '\0';
	if (b->sock < 0) {
		*unsent = true;
		return -ECONNRESET;
	}
	rc = control_send(b->sock, &req->base, -1);
	if (conn_lost(rc)) {
		*unsent = true;
		return lost(b, &said);
	}
	if (rc < 0)
		return rc == -EAGAIN ? -ETIMEDOUT : rc;
	rc = control_recv_fds(b->sock, b->packet, sizeof(b->packet), &len, got,
	                      fds ? CONTROL_MAX_FDS : 0);
	if (conn_lost(rc)) {
		rc = lost(b, &said);
		/* Closed as idle: busd never read the request. */
		*unsent = rc == -ECONNRESET && said;
		return rc;
	}
	if (rc == -EAGAIN) {
		/* Its answer may still come: never read it as the next one's. */
		drop_sock(b);
		return -ETIMEDOUT;
	}
	if (rc < 0)
		return rc;
	rc = decode(b, len, &r);
	/*
	 * id 0 with an error: busd did not answer this request but says why
	 * (a malformed packet, or why it closes the connection: then it
	 * follows with the close).
	 */
	if (rc == 0 && r->id == 0 && r->version == CONTROL_VERSION && r->error < 0 &&
	    r->error >= -4095) {
		close_fds(got);
		if (r->message)
			snprintf(b->last_error, sizeof(b->last_error), "%s", r->message);
		rc = r->error;
		if (closing_error(rc)) {
			*unsent = rc == -ECONNRESET;
			drop_sock(b);
		}
		return rc;
	}
	if (rc == 0 && (r->version != CONTROL_VERSION || r->id != req->id))
		rc = -EPROTO;
	if (rc < 0) {
		close_fds(got);
		return rc;
	}
	if (r->message)
		snprintf(b->last_error, sizeof(b->last_error), "%s", r->message);
	if (r->error > 0 || r->error < -4095) {
		close_fds(got);
		return -EPROTO;
	}
	if (r->error < 0)
		close_fds(got);
	*resp = r;
	if (fds)
		memcpy(fds, got, sizeof(got));
	return r->error;
}

/* Connects b->sock to b->path and pings: the hello busd waits for. */
static int connect_busd(bus *b)
{
	BusControl__Request req = BUS_CONTROL__REQUEST__INIT;
	BusControl__Ping ping = BUS_CONTROL__PING__INIT;
	BusControl__Response *resp = NULL;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = CLIENT_TIMEOUT_S};
	bool unsent;
	int rc;

	drop_sock(b);
	memcpy(sa.sun_path, b->path, sizeof(b->path));
	b->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (b->sock < 0)
		return -errno;
	if (setsockopt(b->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(b->sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(b->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		drop_sock(b);
		return rc;
	}
	req.op_case = BUS_CONTROL__REQUEST__OP_PING;
	req.ping = &ping;
	rc = exchange(b, &req, &resp, NULL, &unsent);
	if (rc == 0 && (!resp || resp->result_case != BUS_CONTROL__RESPONSE__RESULT_PONG))
		rc = -EPROTO;
	if (rc < 0)
		drop_sock(b);
	return rc;
}

/*
 * One request, as exchange() does it.  When the connection turns out to
 * be lost before busd read the request (busd closed it as idle, or was
 * restarted meanwhile), connects again once and sends it again: a
 * program may keep a bus open and idle for as long as it likes.  A
 * request that may have been carried out is never sent twice.
 */
static int request(bus *b, BusControl__Request *req, BusControl__Response **resp,
                   int *fds)
{
	bool unsent;
	int rc = exchange(b, req, resp, fds, &unsent);

	if (rc != -ECONNRESET || !unsent)
		return rc;
	rc = connect_busd(b);
	if (rc < 0)
		/* Refused for too many connections (busd says so), or lost. */
		return rc == -EDQUOT ? rc : -ECONNRESET;
	return exchange(b, req, resp, fds, &unsent);
}

int bus_open(const char *socket_path, bus **ret)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bus *b;
	int rc;

	if (!ret)
		return -EINVAL;
	if (!socket_path) {
		rc = control_default_path(path, sizeof(path));
		if (rc < 0)
			return rc;
		socket_path = path;
	}
	if (strlen(socket_path) >= sizeof(path))
		return -ENAMETOOLONG;
	b = malloc(sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->sock = -1;
	b->next_id = 0;
	b->last_error[0] = '\0';
	memset(b->path, 0, sizeof(b->path));
	strcpy(b->path, socket_path);
	rc = connect_busd(b);
	if (rc < 0) {
		bus_close(b);
		return rc;
	}
	*ret = b;
	return 0;
}

void bus_close(bus *b)
{
	if (!b)
		return;
	drop_sock(b);
	free(b);
}

static void info_from(bus_queue_info *out, const BusControl__QueueInfo *q)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", q->name ? q->name : "");
	if (q->uuid.len == sizeof(out->uuid))
		memcpy(out->uuid, q->uuid.data, sizeof(out->uuid));
	out->capacity = q->capacity;
	out->max_message = q->max_message;
	out->max_producers = q->max_producers;
	out->created_ns = q->created_ns;
}

/*
 * The requests below are built alike, deliberately: an operation's
 * protobuf-c message (each of its own type) set from the arguments, put
 * into a Request under its op_case, then request().  What differs is
 * the message type and its fields, which a shared helper would only hide.
 */
int bus_queue_create(bus *b, const char *name, const bus_queue_opts *opts,
                     bus_queue_info *info)
{
	BusControl__Request req = BUS_CONTROL__REQUEST__INIT;
	BusControl__CreateQueue cq = BUS_CONTROL__CREATE_QUEUE__INIT;
	BusControl__Response *resp;
	int rc;

	if (!b || !bus_name_valid(name))
		return -EINVAL;
	cq.name = (char *)name;
	if (opts) {
		cq.capacity = opts->capacity;
		cq.max_message = opts->max_message;
		cq.max_producers = opts->max_producers;
	}
	req.op_case = BUS_CONTROL__REQUEST__OP_CREATE;
	req.create = &cq;
	rc = request(b, &req, &resp, NULL);
	if (rc < 0)
		return rc;
	if (resp->result_case != BUS_CONTROL__RESPONSE__RESULT_QUEUE)
		return -EPROTO;
	if (info)
		info_from(info, resp->queue);
	return 0;
}

int bus_queue_delete(bus *b, const char *name)
{
	BusControl__Request req = BUS_CONTROL__REQUEST__INIT;
	BusControl__DeleteQueue dq = BUS_CONTROL__DELETE_QUEUE__INIT;
	BusControl__Response *resp;

	if (!b || !bus_name_valid(name))
		return -EINVAL;
	dq.name = (char *)name;
	req.op_case = BUS_CONTROL__REQUEST__OP_DELETE;
	req.delete_ = &dq;
	return request(b, &req, &resp, NULL);
}

int bus_queue_list(bus *b, bus_queue_info *out, size_t cap)
{
	BusControl__Request req = BUS_CONTROL__REQUEST__INIT;
	BusControl__ListQueues lq = BUS_CONTROL__LIST_QUEUES__INIT;
	BusControl__Response *resp;
	char after[BUS_NAME_MAX + 1] = "";
	size_t got = 0;
	uint32_t total;
	bool more;
	int rc;

	if (!b || (!out && cap))
		return -EINVAL;
	req.op_case = BUS_CONTROL__REQUEST__OP_LIST;
	req.list = &lq;
	/* Page by name until cap entries are filled or the list ends. */
	do {
		BusControl__QueueList *page;

		lq.after = after;
		rc = request(b, &req, &resp, NULL);
		if (rc < 0)
			return rc;
		if (resp->result_case != BUS_CONTROL__RESPONSE__RESULT_QUEUES ||
		    resp->queues->total > INT32_MAX)
			return -EPROTO;
		page = resp->queues;
		total = page->total;
		for (size_t i = 0; i < page->n_queues && got < cap; i++) {
			const char *name = page->queues[i]->name;

			/* Names must ascend, or a peer could loop us forever. */
			if (!name || strcmp(name, after) <= 0 || strlen(name) > BUS_NAME_MAX)
				return -EPROTO;
			info_from(&out[got++], page->queues[i]);
			strcpy(after, name);
		}
		more = page->more;
		if (more && page->n_queues == 0)
			return -EPROTO;
	} while (more && got < cap);
	return (int)total;
}

/*
 * Asks busd for the segment of queue in role: fds[0] gets its descriptor,
 * fds[1] the queue's wake FIFO (-1 from a busd without one).  Returns 0
 * or a negative errno.
 */
static int attach_as(bus *b, const char *queue, BusControl__Role role,
                     uint64_t reply_to, int *fds)
{
	BusControl__Request req = BUS_CONTROL__REQUEST__INIT;
	BusControl__Attach at = BUS_CONTROL__ATTACH__INIT;
	BusControl__Response *resp;
	int rc;

	if (!b || !bus_name_valid(queue))
		return -EINVAL;
	at.name = (char *)queue;
	at.role = role;
	at.reply_to = reply_to;
	req.op_case = BUS_CONTROL__REQUEST__OP_ATTACH;
	req.attach = &at;
	rc = request(b, &req, &resp, fds);
	if (rc < 0)
		return rc;
	if (fds[0] < 0) {
		close_fds(fds);
		return -EPROTO;
	}
	return 0;
}

static int attach(bus *b, const char *queue, BusControl__Role role, int *fds)
{
	return attach_as(b, queue, role, 0, fds);
}

int client_attach_reply(bus *b, const char *service, uint64_t reply_to, int *fds)
{
	return attach_as(b, service, BUS_CONTROL__ROLE__ROLE_REPLIER, reply_to, fds);
}

int client_open_reply(bus *b, const char *service, int *fds, uint64_t *reply_to,
                      bus_queue_info *info)
{
	BusControl__Request req = BUS_CONTROL__REQUEST__INIT;
	BusControl__OpenReply op = BUS_CONTROL__OPEN_REPLY__INIT;
	BusControl__Response *resp;
	int rc;

	if (!b || !bus_name_valid(service))
		return -EINVAL;
	op.service = (char *)service;
	req.op_case = BUS_CONTROL__REQUEST__OP_OPEN_REPLY;
	req.open_reply = &op;
	rc = request(b, &req, &resp, fds);
	if (rc < 0)
		return rc;
	if (fds[0] < 0 || resp->result_case != BUS_CONTROL__RESPONSE__RESULT_REPLY ||
	    !resp->reply->queue || !resp->reply->queue->name ||
	    !bus_name_valid(resp->reply->queue->name) || resp->reply->reply_to == 0) {
		close_fds(fds);
		return -EPROTO;
	}
	*reply_to = resp->reply->reply_to;
	info_from(info, resp->reply->queue);
	return 0;
}

const char *client_socket_path(const bus *b)
{
	return b->path;
}

/*
 * Attaches to queue as role and opens a handle on the segment busd sends
 * with attach_seg (producer_attach_seg() or consumer_attach_seg()); the
 * handle owns the segment and its wake FIFO from then on (seg_close).
 */
static int open_handle(bus *b, const char *queue, BusControl__Role role,
                       int (*attach_seg)(struct seg *s, void *ret), void *ret)
{
	int fds[CONTROL_MAX_FDS], rc;

	if (!ret)
		return -EINVAL;
	rc = attach(b, queue, role, fds);
	if (rc < 0)
		return rc;
	rc = seg_attach_fd(fds[0], fds[1], attach_seg, ret);
	if (rc < 0)
		close_fds(fds);
	return rc;
}

int bus_producer_open(bus *b, const char *queue, bus_producer **ret)
{
	return open_handle(b, queue, BUS_CONTROL__ROLE__ROLE_PRODUCER,
	                   producer_attach_seg, ret);
}

int bus_consumer_open(bus *b, const char *queue, bus_consumer **ret)
{
	int rc = open_handle(b, queue, BUS_CONTROL__ROLE__ROLE_CONSUMER,
	                     consumer_attach_seg, ret);

	if (rc < 0)
		return rc;
	/* bus_reply() asks this busd for its callers' reply queues. */
	rc = consumer_set_busd(*ret, b->path);
	if (rc < 0) {
		bus_consumer_close(*ret);
		*ret = NULL;
	}
	return rc;
}

int bus_queue_stats(bus *b, const char *name, bus_stats *ret)
{
	int fds[CONTROL_MAX_FDS], rc;

	if (!ret)
		return -EINVAL;
	rc = attach(b, name, BUS_CONTROL__ROLE__ROLE_OBSERVER, fds);
	if (rc < 0)
		return rc;
	rc = bus_stats_read_fd(fds[0], ret);
	close_fds(fds);
	return rc;
}

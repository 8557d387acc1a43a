/*
 * client.c - the connection to busd: requests, attach, admin, stats.
 *
 * One request at a time per connection: send a Request packet, wait for
 * the Response with the same id.  Buffers and the decode arena are
 * allocated once, at bus_open, so a busd (or an impostor on the socket)
 * cannot make a client allocate.  busd is never on the data path: once a
 * producer or consumer holds its segment, the connection may close.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "bus/bus.h"
#include "control.h"

/* How long a request may wait for busd's answer. */
#define CLIENT_TIMEOUT_S 10

struct bus {
	int sock;
	uint64_t next_id;
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

/*
 * Sends req and receives the matching response into b's arena.  Returns
 * the response's error (0 or negative errno) with *resp set, or a
 * negative errno of the exchange itself.  *fd gets a received
 * descriptor or -1 (fd NULL: none expected; any is closed).
 */
static int request(bus *b, BusControl__Request *req, BusControl__Response **resp,
                   int *fd)
{
	BusControl__Response *r;
	size_t len;
	int got = -1, rc;

	req->version = CONTROL_VERSION;
	req->id = ++b->next_id;
	b->last_error[0] = '\0';
	rc = control_send(b->sock, &req->base, -1);
	if (rc < 0)
		return rc == -EAGAIN ? -ETIMEDOUT : rc;
	rc = control_recv(b->sock, b->packet, sizeof(b->packet), &len, fd ? &got : NULL);
	if (rc < 0)
		return rc == -EAGAIN ? -ETIMEDOUT : rc;
	rc = control_decode_response(b->packet, len, b->arena, sizeof(b->arena), &r);
	if (rc == 0 && (r->version != CONTROL_VERSION || r->id != req->id))
		rc = -EPROTO;
	if (rc < 0) {
		if (got >= 0)
			close(got);
		return rc;
	}
	if (r->message)
		snprintf(b->last_error, sizeof(b->last_error), "%s", r->message);
	if (r->error > 0 || r->error < -4095) {
		if (got >= 0)
			close(got);
		return -EPROTO;
	}
	if (r->error < 0 && got >= 0) {
		close(got);
		got = -1;
	}
	*resp = r;
	if (fd)
		*fd = got;
	return r->error;
}

int bus_open(const char *socket_path, bus **ret)
{
	BusControl__Request req = BUS_CONTROL__REQUEST__INIT;
	BusControl__Ping ping = BUS_CONTROL__PING__INIT;
	BusControl__Response *resp;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = CLIENT_TIMEOUT_S};
	char path[sizeof(sa.sun_path)];
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
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, socket_path);
	b = malloc(sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->next_id = 0;
	b->last_error[0] = '\0';
	b->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (b->sock < 0) {
		rc = -errno;
		free(b);
		return rc;
	}
	if (setsockopt(b->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(b->sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(b->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		bus_close(b);
		return rc;
	}
	req.op_case = BUS_CONTROL__REQUEST__OP_PING;
	req.ping = &ping;
	rc = request(b, &req, &resp, NULL);
	if (rc == 0 && resp->result_case != BUS_CONTROL__RESPONSE__RESULT_PONG)
		rc = -EPROTO;
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
	close(b->sock);
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

/* Asks busd for the segment of queue in role; returns its descriptor. */
static int attach(bus *b, const char *queue, BusControl__Role role)
{
	BusControl__Request req = BUS_CONTROL__REQUEST__INIT;
	BusControl__Attach at = BUS_CONTROL__ATTACH__INIT;
	BusControl__Response *resp;
	int fd = -1, rc;

	if (!b || !bus_name_valid(queue))
		return -EINVAL;
	at.name = (char *)queue;
	at.role = role;
	req.op_case = BUS_CONTROL__REQUEST__OP_ATTACH;
	req.attach = &at;
	rc = request(b, &req, &resp, &fd);
	if (rc < 0)
		return rc;
	if (fd < 0)
		return -EPROTO;
	return fd;
}

int bus_producer_open(bus *b, const char *queue, bus_producer **ret)
{
	int fd, rc;

	if (!ret)
		return -EINVAL;
	fd = attach(b, queue, BUS_CONTROL__ROLE__ROLE_PRODUCER);
	if (fd < 0)
		return fd;
	rc = bus_producer_open_fd(fd, ret);
	if (rc < 0)
		close(fd);
	return rc;
}

int bus_consumer_open(bus *b, const char *queue, bus_consumer **ret)
{
	int fd, rc;

	if (!ret)
		return -EINVAL;
	fd = attach(b, queue, BUS_CONTROL__ROLE__ROLE_CONSUMER);
	if (fd < 0)
		return fd;
	rc = bus_consumer_open_fd(fd, ret);
	if (rc < 0)
		close(fd);
	return rc;
}

int bus_queue_stats(bus *b, const char *name, bus_stats *ret)
{
	int fd, rc;

	if (!ret)
		return -EINVAL;
	fd = attach(b, name, BUS_CONTROL__ROLE__ROLE_OBSERVER);
	if (fd < 0)
		return fd;
	rc = bus_stats_read_fd(fd, ret);
	close(fd);
	return rc;
}

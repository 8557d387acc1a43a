/*
 * request.c - one control request in, one response out.
 *
 * Each request is decoded into the daemon's one arena (so a client can
 * never make busd allocate more than CONTROL_ARENA for it), checked
 * (version, names, rights), carried out and answered with the request's
 * id, an error of 0 or a negative errno, and a message for humans that
 * names the queue and the reason.  A request busd cannot decode gets an
 * error response with id 0; the connection stays open either way.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "reply_queue.h"

#define MSG_MAX 320

static const char *op_name(BusControl__Request__OpCase op)
{
	switch (op) {
	case BUS_CONTROL__REQUEST__OP_PING:
		return "ping";
	case BUS_CONTROL__REQUEST__OP_CREATE:
		return "create";
	case BUS_CONTROL__REQUEST__OP_DELETE:
		return "delete";
	case BUS_CONTROL__REQUEST__OP_LIST:
		return "list";
	case BUS_CONTROL__REQUEST__OP_ATTACH:
		return "attach";
	case BUS_CONTROL__REQUEST__OP_OPEN_REPLY:
		return "open_reply";
	default:
		return "unknown";
	}
}

static const char *role_name(BusControl__Role role)
{
	switch (role) {
	case BUS_CONTROL__ROLE__ROLE_PRODUCER:
		return "producer";
	case BUS_CONTROL__ROLE__ROLE_CONSUMER:
		return "consumer";
	case BUS_CONTROL__ROLE__ROLE_OBSERVER:
		return "observer";
	case BUS_CONTROL__ROLE__ROLE_REPLIER:
		return "replier";
	default:
		return "unspecified";
	}
}

static int send_response_fds(struct busd *d, struct client *c,
                             BusControl__Response *resp, const int *fds,
                             size_t nfds)
{
	int r;

	resp->version = CONTROL_VERSION;
	r = control_send_fds(c->fd, &resp->base, fds, nfds);
	if (r == -EAGAIN) {
		server_client_log(d, c, LOG_LEVEL_WARN, "client.drop",
		                  "client does not read its responses: dropped",
		                  "uid=%u pid=%d", (unsigned)c->peer.uid, (int)c->peer.pid);
		return r;
	}
	if (r < 0) {
		server_client_log(d, c, LOG_LEVEL_INFO, "client.drop",
		                  "cannot send response: client dropped",
		                  "uid=%u pid=%d error=\"%s\"", (unsigned)c->peer.uid,
		                  (int)c->peer.pid, strerror(-r));
		return r;
	}
	return 0;
}

static int send_response(struct busd *d, struct client *c,
                         BusControl__Response *resp, int fd)
{
	return send_response_fds(d, c, resp, &fd, fd >= 0 ? 1 : 0);
}

int request_reply_error(struct busd *d, struct client *c, uint64_t id, int err,
                        const char *msg)
{
	BusControl__Response resp = BUS_CONTROL__RESPONSE__INIT;

	resp.id = id;
	resp.error = err;
	resp.message = (char *)msg;
	return send_response(d, c, &resp, -1);
}

/* "EACCES" for -EACCES: short and greppable in logs. */
static const char *errname(int err)
{
	const char *s = strerrorname_np(-err);

	return s ? s : "unknown";
}

/* Errors that are the client's doing; anything else is busd's trouble. */
static bool client_error(int err)
{
	switch (-err) {
	case EACCES:
	case EINVAL:
	case EEXIST:
	case ENOENT:
	case EPROTO:
	case EBADMSG:
	case EMSGSIZE:
	case EOPNOTSUPP:
	case EPIPE:
		return true;
	default:
		return false;
	}
}

/* Logs a failed request and answers it. */
static int fail(struct busd *d, struct client *c, const BusControl__Request *req,
                const char *queue, int err, const char *msg)
{
	enum log_level level = client_error(err) ? LOG_LEVEL_INFO : LOG_LEVEL_WARN;

	server_client_log(d, c, level, err == -EACCES ? "access.denied" : "request.failed",
	                  err == -EACCES ? "request refused" : "request failed",
	                  "op=%s queue=%s uid=%u pid=%d error=%s reason=\"%s\"",
	                  op_name(req->op_case), queue && bus_name_valid(queue) ? queue : "-",
	                  (unsigned)c->peer.uid, (int)c->peer.pid, errname(err), msg);
	return request_reply_error(d, c, req->id, err, msg);
}

static void queue_info(struct queue *q, BusControl__QueueInfo *qi)
{
	bus_control__queue_info__init(qi);
	qi->name = q->name;
	qi->uuid.len = sizeof(q->uuid);
	qi->uuid.data = q->uuid;
	qi->capacity = q->seg.capacity;
	qi->max_message = q->seg.max_message;
	qi->max_producers = q->seg.max_producers;
	qi->created_ns = q->created_ns;
}

static const struct queue_rules *rules_of(const struct queue *q)
{
	return q->conf ? &q->conf->rules : NULL;
}

/*
 * The access check for op on q (NULL: a queue to create, named name):
 * 0 when allowed, else the refusal is sent and it returns 1 (or a
 * negative error from sending it).
 */
static int check_access(struct busd *d, struct client *c, const BusControl__Request *req,
                        const struct queue *q, const char *name, enum access_op op)
{
	char msg[MSG_MAX];
	int r;

	if (q)
		name = q->name;
	if (access_allowed(&d->policy, q ? rules_of(q) : NULL, q ? q->owner_uid : 0,
	                   &c->peer, op))
		return 0;
	access_refusal(msg, sizeof(msg), c->peer.uid, op, name);
	r = fail(d, c, req, name, -EACCES, msg);
	return r < 0 ? r : 1;
}

/* A name from a client: checked before it is used or echoed. */
static int check_name(struct busd *d, struct client *c,
                      const BusControl__Request *req, const char *name)
{
	char msg[MSG_MAX];
	int r;

	if (name && bus_name_valid(name))
		return 0;
	snprintf(msg, sizeof(msg), "invalid queue name: 1 to %d characters of "
	                           "A-Z a-z 0-9 . _ -",
	         BUS_NAME_MAX);
	r = fail(d, c, req, NULL, -EINVAL, msg);
	return r < 0 ? r : 1;
}

/* Finds a queue for a request, or answers -ENOENT; 1 when answered. */
static int find_queue(struct busd *d, struct client *c,
                      const BusControl__Request *req, const char *name,
                      struct queue **ret)
{
	char msg[MSG_MAX];
	int r = check_name(d, c, req, name);

	if (r != 0)
		return r;
	*ret = registry_find(&d->reg, name);
	if (*ret)
		return 0;
	snprintf(msg, sizeof(msg), "no queue '%s'", name);
	r = fail(d, c, req, name, -ENOENT, msg);
	return r < 0 ? r : 1;
}

/*
 * The handlers below end alike, deliberately: the Response's id, its
 * result_case and the union member that case names, then
 * send_response().  The member differs in type with each case (the
 * protobuf-c layout), so a shared helper could only hide it.
 */
static int do_ping(struct busd *d, struct client *c,
                   const BusControl__Request *req)
{
	BusControl__Response resp = BUS_CONTROL__RESPONSE__INIT;
	BusControl__Pong pong = BUS_CONTROL__PONG__INIT;

	pong.server = (char *)"busd " BUSD_VERSION;
	pong.pid = (uint32_t)d->pid;
	resp.id = req->id;
	resp.result_case = BUS_CONTROL__RESPONSE__RESULT_PONG;
	resp.pong = &pong;
	return send_response(d, c, &resp, -1);
}

static int do_create(struct busd *d, struct client *c,
                     const BusControl__Request *req)
{
	const BusControl__CreateQueue *m = req->create;
	BusControl__Response resp = BUS_CONTROL__RESPONSE__INIT;
	BusControl__QueueInfo qi;
	struct queue_spec spec = {
		.name = m->name,
		.capacity = m->capacity,
		.max_message = m->max_message,
		.max_producers = m->max_producers,
		.from_client = true,
	};
	char msg[MSG_MAX];
	struct queue *q;
	int r = check_name(d, c, req, m->name);

	if (r != 0)
		return r < 0 ? r : 0;
	r = check_access(d, c, req, NULL, m->name, ACCESS_OP_CREATE);
	if (r != 0)
		return r < 0 ? r : 0;
	r = registry_create(&d->reg, &spec, c->peer.uid, &q, msg, sizeof(msg));
	if (r < 0)
		return fail(d, c, req, m->name, r, msg);
	server_client_log(d, c, LOG_LEVEL_INFO, "queue.create", "queue created",
	                  "queue=%s capacity=%" PRIu64 " max_message=%" PRIu32
	                  " max_producers=%" PRIu32 " uid=%u pid=%d",
	                  q->name, q->seg.capacity, q->seg.max_message,
	                  q->seg.max_producers, (unsigned)c->peer.uid, (int)c->peer.pid);
	queue_info(q, &qi);
	resp.id = req->id;
	resp.result_case = BUS_CONTROL__RESPONSE__RESULT_QUEUE;
	resp.queue = &qi;
	return send_response(d, c, &resp, -1);
}

static int do_delete(struct busd *d, struct client *c,
                     const BusControl__Request *req)
{
	BusControl__Response resp = BUS_CONTROL__RESPONSE__INIT;
	char name[BUS_NAME_MAX + 1];
	struct queue *q;
	int r = find_queue(d, c, req, req->delete_->name, &q);

	if (r != 0)
		return r < 0 ? r : 0;
	r = check_access(d, c, req, q, NULL, ACCESS_OP_DELETE);
	if (r != 0)
		return r < 0 ? r : 0;
	strcpy(name, q->name);
	registry_delete(&d->reg, q);
	server_client_log(d, c, LOG_LEVEL_INFO, "queue.delete", "queue deleted",
	                  "queue=%s uid=%u pid=%d", name, (unsigned)c->peer.uid,
	                  (int)c->peer.pid);
	resp.id = req->id;
	return send_response(d, c, &resp, -1);
}

/* Bytes a length-delimited field of n bytes takes on the wire, tag included. */
static size_t field_size(size_t n)
{
	size_t v = 1;

	for (size_t x = n; x >= 0x80; x >>= 7)
		v++;
	return 1 + v + n;
}

static int do_list(struct busd *d, struct client *c,
                   const BusControl__Request *req)
{
	BusControl__Response resp = BUS_CONTROL__RESPONSE__INIT;
	BusControl__QueueList list = BUS_CONTROL__QUEUE_LIST__INIT;
	BusControl__QueueInfo *infos = NULL, **ptrs = NULL;
	/* Room kept for the rest of the response: version, id, counts. */
	size_t budget = CONTROL_MAX_PACKET - 512, used = 0, n = 0, visible = 0;
	const char *after = req->list->after ? req->list->after : "";
	int r;

	if (d->reg.n) {
		infos = calloc(d->reg.n, sizeof(*infos));
		ptrs = calloc(d->reg.n, sizeof(*ptrs));
		if (!infos || !ptrs) {
			free(infos);
			free(ptrs);
			return fail(d, c, req, NULL, -ENOMEM, "busd is out of memory");
		}
	}
	for (size_t i = 0; i < d->reg.n; i++) {
		struct queue *q = d->reg.v[i];
		size_t sz;

		if (!access_queue_rights(&d->policy, rules_of(q), q->owner_uid,
		                         &c->peer))
			continue;
		visible++;
		/* The registry is sorted by name: a page starts after `after`. */
		if (strcmp(q->name, after) <= 0 || list.more)
			continue;
		queue_info(q, &infos[n]);
		sz = field_size(protobuf_c_message_get_packed_size(&infos[n].base));
		if (used + sz > budget) {
			list.more = true;
			continue;
		}
		used += sz;
		ptrs[n] = &infos[n];
		n++;
	}
	list.n_queues = n;
	list.queues = ptrs;
	list.total = (uint32_t)visible;
	resp.id = req->id;
	resp.result_case = BUS_CONTROL__RESPONSE__RESULT_QUEUES;
	resp.queues = &list;
	r = send_response(d, c, &resp, -1);
	free(infos);
	free(ptrs);
	return r;
}

static int do_attach(struct busd *d, struct client *c,
                     const BusControl__Request *req)
{
	const BusControl__Attach *m = req->attach;
	BusControl__Response resp = BUS_CONTROL__RESPONSE__INIT;
	BusControl__QueueInfo qi;
	enum access_op op;
	char msg[MSG_MAX];
	struct queue *q;
	int r, fd, fds[CONTROL_MAX_FDS];

	switch (m->role) {
	case BUS_CONTROL__ROLE__ROLE_PRODUCER:
		op = ACCESS_OP_PRODUCE;
		break;
	case BUS_CONTROL__ROLE__ROLE_CONSUMER:
		op = ACCESS_OP_CONSUME;
		break;
	case BUS_CONTROL__ROLE__ROLE_OBSERVER:
		op = ACCESS_OP_OBSERVE;
		break;
	case BUS_CONTROL__ROLE__ROLE_REPLIER:
		/* The service's consumer: the right is to consume its queue. */
		op = ACCESS_OP_CONSUME;
		break;
	default:
		snprintf(msg, sizeof(msg), "attach needs a role: producer, "
		                           "consumer, observer or replier (got %d)",
		         (int)m->role);
		return fail(d, c, req, m->name, -EINVAL, msg);
	}
	r = find_queue(d, c, req, m->name, &q);
	if (r != 0)
		return r < 0 ? r : 0;
	if (q->reply_pid) {
		snprintf(msg, sizeof(msg), "queue '%s' is a reply queue: only the "
		                           "caller it was made for reads it, and "
		                           "services answer into it with bus_reply()",
		         q->name);
		return fail(d, c, req, q->name, -EACCES, msg);
	}
	r = check_access(d, c, req, q, NULL, op);
	if (r != 0)
		return r < 0 ? r : 0;
	if (m->role == BUS_CONTROL__ROLE__ROLE_REPLIER) {
		struct queue *rq = reply_queue_find(d, q, m->reply_to);

		if (!rq) {
			snprintf(msg, sizeof(msg), "no reply queue %016" PRIx64 " of queue '%s': its caller "
			                           "closed or exited",
			         m->reply_to, q->name);
			return fail(d, c, req, q->name, -EPIPE, msg);
		}
		q = rq;
		op = ACCESS_OP_PRODUCE;
	}
	/* A description of its own per attach: liveness locks live on it. */
	fd = registry_open(q, op == ACCESS_OP_OBSERVE);
	if (fd < 0) {
		snprintf(msg, sizeof(msg), "cannot open the segment of queue '%s': %s",
		         q->name, strerror(-fd));
		return fail(d, c, req, q->name, fd, msg);
	}
	server_client_log(d, c, LOG_LEVEL_INFO, "attach", "attach",
	                  "queue=%s role=%s uid=%u pid=%d", q->name, role_name(m->role),
	                  (unsigned)c->peer.uid, (int)c->peer.pid);
	queue_info(q, &qi);
	resp.id = req->id;
	resp.result_case = BUS_CONTROL__RESPONSE__RESULT_QUEUE;
	resp.queue = &qi;
	/*
	 * The wake FIFO too, for the sides that wait; without it (an
	 * observer, or a queue without one) the consumer has no descriptor
	 * to offer.
	 */
	fds[0] = fd;
	fds[1] = op == ACCESS_OP_OBSERVE ? -1 : registry_open_fifo(q, REGISTRY_FIFO_WAKE);
	r = send_response_fds(d, c, &resp, fds, fds[1] >= 0 ? 2 : 1);
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (r == 0 && m->role != BUS_CONTROL__ROLE__ROLE_OBSERVER)
		watch_add(d, c->peer.pid);
	return r;
}

static int do_open_reply(struct busd *d, struct client *c,
                         const BusControl__Request *req)
{
	BusControl__Response resp = BUS_CONTROL__RESPONSE__INIT;
	BusControl__Reply rep = BUS_CONTROL__REPLY__INIT;
	BusControl__QueueInfo qi;
	char msg[MSG_MAX];
	struct queue *q, *rq;
	uint64_t reply_to;
	int r, fds[CONTROL_MAX_FDS];

	r = find_queue(d, c, req, req->open_reply->service, &q);
	if (r != 0)
		return r < 0 ? r : 0;
	if (q->reply_pid) {
		snprintf(msg, sizeof(msg), "queue '%s' is a reply queue, not a "
		                           "service's queue",
		         q->name);
		return fail(d, c, req, q->name, -EINVAL, msg);
	}
	/* A caller sends requests: the right is to produce to the service. */
	r = check_access(d, c, req, q, NULL, ACCESS_OP_PRODUCE);
	if (r != 0)
		return r < 0 ? r : 0;
	r = reply_queue_create(d, c, q, &rq, &reply_to, msg, sizeof(msg));
	if (r < 0)
		return fail(d, c, req, q->name, r, msg);
	fds[0] = registry_open(rq, false);
	fds[1] = registry_open_fifo(rq, REGISTRY_FIFO_WAKE);
	if (fds[0] < 0) {
		r = fds[0];
		snprintf(msg, sizeof(msg), "cannot open reply queue '%s': %s",
		         rq->name, strerror(-r));
		if (fds[1] >= 0)
			close(fds[1]);
		registry_delete(&d->reg, rq);
		return fail(d, c, req, q->name, r, msg);
	}
	server_client_log(d, c, LOG_LEVEL_INFO, "reply.create", "reply queue created",
	                  "queue=%s service=%s uid=%u pid=%d", rq->name, q->name,
	                  (unsigned)c->peer.uid, (int)c->peer.pid);
	queue_info(rq, &qi);
	rep.queue = &qi;
	rep.reply_to = reply_to;
	resp.id = req->id;
	resp.result_case = BUS_CONTROL__RESPONSE__RESULT_REPLY;
	resp.reply = &rep;
	r = send_response_fds(d, c, &resp, fds, fds[1] >= 0 ? 2 : 1);
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	/* Nobody got it: nobody will close it. */
	if (r < 0)
		registry_delete(&d->reg, rq);
	return r;
}

int request_handle(struct busd *d, struct client *c, const void *pkt,
                   size_t len)
{
	const ProtobufCMessageDescriptor *md = NULL;
	const ProtobufCFieldDescriptor *fd = NULL;
	BusControl__Request *req;
	char msg[MSG_MAX];
	int r;

	r = control_decode_request(pkt, len, d->arena, CONTROL_ARENA, &req);
	if (r == 0)
		r = control_check_strings(&bus_control__request__descriptor, pkt, len,
		                          &md, &fd);
	if (r < 0 && r != -EILSEQ) {
		server_client_log(d, c, LOG_LEVEL_INFO, "packet.bad", "malformed request",
		                  "uid=%u pid=%d bytes=%zu error=%s", (unsigned)c->peer.uid,
		                  (int)c->peer.pid, len, errname(r));
		return request_reply_error(d, c, 0, -EBADMSG,
		                           "malformed request: not a bus.control.Request");
	}
	if (req->version != CONTROL_VERSION) {
		snprintf(msg, sizeof(msg), "protocol version %" PRIu32 " not "
		                           "supported, busd speaks %u",
		         req->version, CONTROL_VERSION);
		return fail(d, c, req, NULL, -EPROTO, msg);
	}
	server_client_said_hello(d, c);
	/*
	 * protobuf-c made C strings of the string fields: one with a NUL in
	 * it would be read cut short ("a\0b" as "a"), so it is refused.
	 */
	if (r == -EILSEQ) {
		snprintf(msg, sizeof(msg), "string field '%s' of %s holds a NUL byte",
		         fd ? fd->name : "?", md ? md->name : "?");
		return fail(d, c, req, NULL, -EINVAL, msg);
	}
	switch (req->op_case) {
	case BUS_CONTROL__REQUEST__OP_PING:
		return do_ping(d, c, req);
	case BUS_CONTROL__REQUEST__OP_CREATE:
		return do_create(d, c, req);
	case BUS_CONTROL__REQUEST__OP_DELETE:
		return do_delete(d, c, req);
	case BUS_CONTROL__REQUEST__OP_LIST:
		return do_list(d, c, req);
	case BUS_CONTROL__REQUEST__OP_ATTACH:
		return do_attach(d, c, req);
	case BUS_CONTROL__REQUEST__OP_OPEN_REPLY:
		return do_open_reply(d, c, req);
	default:
		return fail(d, c, req, NULL, -EOPNOTSUPP,
		            "request has no operation this busd knows");
	}
}

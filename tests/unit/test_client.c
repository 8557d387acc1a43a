/*
 * test_client.c - libbus's busd client against a scripted peer.
 *
 * A child process plays busd on a private socket and answers each request
 * the way a test tells it to: correctly, or with the wrong id, version,
 * result or error, pages that do not ascend, a missing or unexpected
 * descriptor, garbage, a string with a NUL in it, or a closed connection,
 * with or without busd's reason first.  What is checked is that the
 * client turns every one of them into the documented negative errno
 * (never a crash, a loop or a leaked descriptor), that correct answers
 * are read back faithfully, and that a connection busd closed as idle is
 * made again, once, without the caller noticing.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cmocka.h>

#include "bus/bus.h"
#include "control.h"
#include "harness.h"

/*
 * Builds the answer to request n (0 is bus_open's ping).  Returns
 * REPLY_SEND to send resp (with *fd attached if >= 0), REPLY_GARBAGE to
 * send bytes that are no Response, REPLY_CLOSE to hang up, or
 * REPLY_FAIL when the request itself was not what the test expected.
 */
enum reply {
	REPLY_SEND,
	REPLY_GARBAGE,
	REPLY_CLOSE,
	REPLY_FAIL,
	/* resp with id 0 (busd's reason for closing), close, exit */
	REPLY_BYE,
	/* the same, then serve the next connection */
	REPLY_BYE_AGAIN,
	/* resp, then the reason busd closes an idle one, close, the next */
	REPLY_SEND_BYE,
	/* resp with each "aXb" in it made "a\0b" on the wire */
	REPLY_NUL,
};
typedef enum reply (*script_fn)(int n, const BusControl__Request *req,
                                BusControl__Response *resp, int *fd);

struct peer {
	char dir[64];
	char path[96]; /* fits sockaddr_un.sun_path */
	pid_t pid;
};

/* Sends what busd says when it closes an idle connection. */
static int send_idle_bye(int c)
{
	BusControl__Response bye = BUS_CONTROL__RESPONSE__INIT;

	bye.version = CONTROL_VERSION;
	bye.error = -ECONNRESET;
	bye.message = "idle connection closed";
	return control_send(c, &bye.base, -1);
}

/* Packs resp and sends it with each "aXb" in it made "a\0b". */
static int send_nul(int c, BusControl__Response *resp)
{
	static uint8_t out[CONTROL_MAX_PACKET];
	size_t len = protobuf_c_message_pack(&resp->base, out);

	for (size_t i = 0; i + 2 < len; i++)
		if (memcmp(out + i, "aXb", 3) == 0)
			out[i + 1] = '\0';
	return send(c, out, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/*
 * Serves connections on lsock with script, one after the other while it
 * says BYE; the child's exit status.  Requests are numbered across them.
 */
static int serve(int lsock, script_fn script)
{
	static uint8_t buf[CONTROL_MAX_PACKET];
	static _Alignas(16) uint8_t arena[CONTROL_ARENA];
	int c = accept(lsock, NULL, NULL);

	if (c < 0)
		return 10;
	for (int n = 0;; n++) {
		BusControl__Response resp = BUS_CONTROL__RESPONSE__INIT;
		BusControl__Request *req;
		enum reply op;
		size_t len;
		int fd = -1, r;

		r = control_recv(c, buf, sizeof(buf), &len, NULL);
		if (r == -ECONNRESET)
			return 0; /* the client closed: done */
		if (r < 0 || control_decode_request(buf, len, arena, sizeof(arena), &req) < 0)
			return 11;
		resp.version = CONTROL_VERSION;
		resp.id = req->id;
		op = script(n, req, &resp, &fd);
		switch (op) {
		case REPLY_SEND:
			r = control_send(c, &resp.base, fd);
			break;
		case REPLY_GARBAGE:
			r = send(c, "\xff\xff\xff", 3, MSG_NOSIGNAL) == 3 ? 0 : -1;
			break;
		case REPLY_CLOSE:
			close(c);
			return 0;
		case REPLY_FAIL:
			return 12;
		case REPLY_NUL:
			r = send_nul(c, &resp);
			break;
		case REPLY_BYE:
			resp.id = 0;
			r = control_send(c, &resp.base, -1);
			close(c);
			return r < 0 ? 13 : 0;
		case REPLY_BYE_AGAIN:
		case REPLY_SEND_BYE:
			if (op == REPLY_BYE_AGAIN)
				resp.id = 0;
			r = control_send(c, &resp.base, -1);
			if (r == 0 && op == REPLY_SEND_BYE)
				r = send_idle_bye(c);
			close(c);
			if (r < 0)
				return 13;
			c = accept(lsock, NULL, NULL);
			if (c < 0)
				return 14;
			continue;
		}
		if (fd >= 0)
			close(fd);
		if (r < 0)
			return 13;
	}
}

/* Starts a peer running script on a fresh socket in a private directory. */
static void peer_start(struct peer *p, script_fn script)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int lsock;

	assert_int_equal(harness_tmpdir_new(p->dir, sizeof(p->dir), "client"), 0);
	snprintf(p->path, sizeof(p->path), "%s/busd.sock", p->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p->path);
	lsock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(lsock >= 0);
	assert_int_equal(bind(lsock, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lsock, 1), 0);
	fflush(NULL);
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0)
		_exit(serve(lsock, script));
	close(lsock);
}

/* peer_start, then a client connected to the peer. */
static bus *peer_open(struct peer *p, script_fn script)
{
	bus *b = NULL;

	peer_start(p, script);
	assert_int_equal(bus_open(p->path, &b), 0);
	return b;
}

/* Waits for the peer; asserts it saw only the requests it expected. */
static void peer_stop(struct peer *p)
{
	assert_int_equal(harness_wait(p->pid, 30), 0);
	harness_tmpdir_free(p->dir);
}

static bool is_ping(const BusControl__Request *req)
{
	return req->version == CONTROL_VERSION &&
	       req->op_case == BUS_CONTROL__REQUEST__OP_PING;
}

static BusControl__Pong pong = BUS_CONTROL__PONG__INIT;

/* Request 0: a correct pong. */
static enum reply answer_ping(const BusControl__Request *req, BusControl__Response *resp)
{
	if (!is_ping(req))
		return REPLY_FAIL;
	pong.server = "fake busd";
	resp->result_case = BUS_CONTROL__RESPONSE__RESULT_PONG;
	resp->pong = &pong;
	return REPLY_SEND;
}

static void test_bad_arguments(void **state)
{
	char longpath[200];
	char buf[8];
	bus *b = NULL;

	(void)state;
	assert_int_equal(bus_open("/nonexistent", NULL), -EINVAL);
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(bus_open(longpath, &b), -ENAMETOOLONG);
	assert_null(b);
	assert_int_equal(bus_open("/nonexistent/busd.sock", &b), -ENOENT);
	assert_null(b);
	setenv("BUS_SOCKET", "/tmp/bus-test/busd.sock", 1);
	assert_int_equal(bus_default_socket(NULL, 64), -EINVAL);
	assert_int_equal(bus_default_socket(buf, sizeof(buf)), -ENAMETOOLONG);
	assert_string_equal(bus_last_error(NULL), "");
	bus_close(NULL);
	assert_int_equal(bus_queue_create(NULL, "q", NULL, NULL), -EINVAL);
	assert_int_equal(bus_queue_delete(NULL, "q"), -EINVAL);
	assert_int_equal(bus_queue_list(NULL, NULL, 0), -EINVAL);
	assert_int_equal(bus_producer_open(NULL, "q", NULL), -EINVAL);
	assert_int_equal(bus_consumer_open(NULL, "q", NULL), -EINVAL);
	assert_int_equal(bus_queue_stats(NULL, "q", NULL), -EINVAL);
}

/* Pings answered wrongly, one way per connection. */
static int bad_kind;

static enum reply bad_ping(int n, const BusControl__Request *req,
                           BusControl__Response *resp, int *fd)
{
	(void)fd;
	if (n != 0 || answer_ping(req, resp) != REPLY_SEND)
		return REPLY_FAIL;
	switch (bad_kind) {
	case 0:
		resp->id = req->id + 1;
		break;
	case 1:
		resp->version = CONTROL_VERSION + 1;
		break;
	case 2:
		resp->result_case = BUS_CONTROL__RESPONSE__RESULT__NOT_SET;
		break;
	case 3:
		resp->error = 5; /* not a negative errno */
		break;
	case 4:
		resp->error = -5000;
		break;
	case 5:
		return REPLY_GARBAGE;
	case 6:
		return REPLY_CLOSE;
	}
	return REPLY_SEND;
}

static void test_bad_ping(void **state)
{
	static const int want[] = {-EPROTO, -EPROTO, -EPROTO, -EPROTO, -EPROTO, -EBADMSG, -ECONNRESET};
	int fds = harness_open_fds();

	(void)state;
	for (bad_kind = 0; bad_kind < 7; bad_kind++) {
		struct peer p;
		bus *b = NULL;

		peer_start(&p, bad_ping);
		assert_int_equal(bus_open(p.path, &b), want[bad_kind]);
		assert_null(b);
		peer_stop(&p);
	}
	assert_int_equal(harness_open_fds(), fds);
}

/* create: an error with a message, the wrong result, then a good one. */
static enum reply create_script(int n, const BusControl__Request *req,
                                BusControl__Response *resp, int *fd)
{
	static BusControl__QueueInfo qi = BUS_CONTROL__QUEUE_INFO__INIT;
	static uint8_t uuid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

	(void)fd;
	if (n == 0)
		return answer_ping(req, resp);
	if (req->op_case != BUS_CONTROL__REQUEST__OP_CREATE ||
	    strcmp(req->create->name, "orders") != 0)
		return REPLY_FAIL;
	switch (n) {
	case 1:
		resp->error = -EEXIST;
		resp->message = "queue 'orders' exists";
		return REPLY_SEND;
	case 2:
		resp->result_case = BUS_CONTROL__RESPONSE__RESULT_PONG;
		resp->pong = &pong;
		return REPLY_SEND;
	case 3:
		if (req->create->capacity != 4096 || req->create->max_message != 100 ||
		    req->create->max_producers != 3)
			return REPLY_FAIL;
		qi.name = "orders";
		qi.uuid.data = uuid;
		qi.uuid.len = sizeof(uuid);
		qi.capacity = 4096;
		qi.max_message = 100;
		qi.max_producers = 3;
		qi.created_ns = 42;
		resp->result_case = BUS_CONTROL__RESPONSE__RESULT_QUEUE;
		resp->queue = &qi;
		return REPLY_SEND;
	}
	return REPLY_FAIL;
}

static void test_create(void **state)
{
	bus_queue_opts opts = {.capacity = 4096, .max_message = 100, .max_producers = 3};
	bus_queue_info info;
	struct peer p;
	bus *b = peer_open(&p, create_script);

	(void)state;
	assert_int_equal(bus_queue_create(b, "bad/name", NULL, NULL), -EINVAL);
	assert_int_equal(bus_queue_create(b, "orders", &opts, &info), -EEXIST);
	assert_string_equal(bus_last_error(b), "queue 'orders' exists");
	assert_int_equal(bus_queue_create(b, "orders", &opts, &info), -EPROTO);
	assert_string_equal(bus_last_error(b), "");
	memset(&info, 0xee, sizeof(info));
	assert_int_equal(bus_queue_create(b, "orders", &opts, &info), 0);
	assert_string_equal(info.name, "orders");
	assert_int_equal(info.uuid[0], 1);
	assert_int_equal(info.uuid[15], 16);
	assert_int_equal(info.capacity, 4096);
	assert_int_equal(info.max_message, 100);
	assert_int_equal(info.max_producers, 3);
	assert_int_equal(info.created_ns, 42);
	bus_close(b);
	peer_stop(&p);
}

/* list: two good pages, then each way a page can be wrong. */
static enum reply list_script(int n, const BusControl__Request *req,
                              BusControl__Response *resp, int *fd)
{
	static BusControl__QueueInfo qi[3] = {
		BUS_CONTROL__QUEUE_INFO__INIT,
		BUS_CONTROL__QUEUE_INFO__INIT,
		BUS_CONTROL__QUEUE_INFO__INIT,
	};
	static BusControl__QueueInfo *qp[3];
	static BusControl__QueueList ql = BUS_CONTROL__QUEUE_LIST__INIT;
	const char *after;

	(void)fd;
	if (n == 0)
		return answer_ping(req, resp);
	if (req->op_case != BUS_CONTROL__REQUEST__OP_LIST)
		return REPLY_FAIL;
	after = req->list->after ? req->list->after : "";
	for (int i = 0; i < 3; i++) {
		qp[i] = &qi[i];
		qi[i].capacity = 256u << i;
	}
	qi[0].name = "alpha";
	qi[1].name = "beta";
	qi[2].name = "gamma";
	ql = (BusControl__QueueList)BUS_CONTROL__QUEUE_LIST__INIT;
	ql.queues = qp;
	ql.total = 3;
	resp->result_case = BUS_CONTROL__RESPONSE__RESULT_QUEUES;
	resp->queues = &ql;
	switch (n) {
	case 1: /* page 1 of 2 */
		if (strcmp(after, "") != 0)
			return REPLY_FAIL;
		ql.n_queues = 2;
		ql.more = true;
		return REPLY_SEND;
	case 2: /* page 2 of 2 */
		if (strcmp(after, "beta") != 0)
			return REPLY_FAIL;
		ql.queues = qp + 2;
		ql.n_queues = 1;
		return REPLY_SEND;
	case 3: /* not ascending */
		qp[0] = &qi[1];
		qp[1] = &qi[0];
		ql.n_queues = 2;
		return REPLY_SEND;
	case 4: /* more, but an empty page: would loop forever */
		ql.n_queues = 0;
		ql.more = true;
		return REPLY_SEND;
	case 5: /* a total no int can return */
		ql.n_queues = 1;
		ql.total = 0x80000000u;
		return REPLY_SEND;
	case 6: /* the wrong result */
		resp->result_case = BUS_CONTROL__RESPONSE__RESULT__NOT_SET;
		return REPLY_SEND;
	case 7: /* cap 1: one page is enough */
		ql.n_queues = 2;
		ql.more = true;
		return REPLY_SEND;
	}
	return REPLY_FAIL;
}

/* Later tests open alike to this one on purpose: each declares its peer script in view. */
static void test_list(void **state)
{
	bus_queue_info out[4];
	struct peer p;
	bus *b = peer_open(&p, list_script);

	(void)state;
	assert_int_equal(bus_queue_list(b, NULL, 1), -EINVAL);
	assert_int_equal(bus_queue_list(b, out, 4), 3);
	assert_string_equal(out[0].name, "alpha");
	assert_string_equal(out[1].name, "beta");
	assert_string_equal(out[2].name, "gamma");
	assert_int_equal(out[2].capacity, 1024);
	assert_int_equal(bus_queue_list(b, out, 4), -EPROTO);
	assert_int_equal(bus_queue_list(b, out, 4), -EPROTO);
	assert_int_equal(bus_queue_list(b, out, 4), -EPROTO);
	assert_int_equal(bus_queue_list(b, out, 4), -EPROTO);
	assert_int_equal(bus_queue_list(b, out, 1), 3);
	assert_string_equal(out[0].name, "alpha");
	bus_close(b);
	peer_stop(&p);
}

/* attach: a success without a descriptor, an error with one. */
static enum reply attach_script(int n, const BusControl__Request *req,
                                BusControl__Response *resp, int *fd)
{
	if (n == 0)
		return answer_ping(req, resp);
	if (req->op_case != BUS_CONTROL__REQUEST__OP_ATTACH ||
	    strcmp(req->attach->name, "q") != 0)
		return REPLY_FAIL;
	switch (n) {
	case 1:
		return req->attach->role == BUS_CONTROL__ROLE__ROLE_PRODUCER ? REPLY_SEND : REPLY_FAIL;
	case 2:
		return req->attach->role == BUS_CONTROL__ROLE__ROLE_OBSERVER ? REPLY_SEND : REPLY_FAIL;
	case 3:
		if (req->attach->role != BUS_CONTROL__ROLE__ROLE_CONSUMER)
			return REPLY_FAIL;
		resp->error = -EBUSY;
		*fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		return REPLY_SEND;
	case 4: /* a descriptor that is no segment */
		*fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		return REPLY_SEND;
	}
	return REPLY_FAIL;
}

static void test_attach(void **state)
{
	bus_producer *pr = NULL;
	bus_consumer *co = NULL;
	bus_stats st;
	struct peer p;
	bus *b;
	int fds;

	(void)state;
	b = peer_open(&p, attach_script);
	fds = harness_open_fds();
	assert_int_equal(bus_producer_open(b, "bad/name", &pr), -EINVAL);
	assert_int_equal(bus_producer_open(b, "q", &pr), -EPROTO);
	assert_int_equal(bus_queue_stats(b, "q", &st), -EPROTO);
	assert_int_equal(bus_consumer_open(b, "q", &co), -EBUSY);
	/* The descriptor sent with the error was closed. */
	assert_int_equal(harness_open_fds(), fds);
	assert_true(bus_consumer_open(b, "q", &co) < 0);
	assert_null(pr);
	assert_null(co);
	assert_int_equal(harness_open_fds(), fds);
	bus_close(b);
	peer_stop(&p);
}

/* delete: answered, then the peer hangs up. */
static enum reply delete_script(int n, const BusControl__Request *req,
                                BusControl__Response *resp, int *fd)
{
	(void)fd;
	if (n == 0)
		return answer_ping(req, resp);
	if (req->op_case != BUS_CONTROL__REQUEST__OP_DELETE ||
	    strcmp(req->delete_->name, "q") != 0)
		return REPLY_FAIL;
	if (n == 1) {
		resp->error = -ENOENT;
		return REPLY_SEND;
	}
	return REPLY_CLOSE;
}

static void test_delete_then_hangup(void **state)
{
	struct peer p;
	bus *b;
	int r;

	(void)state;
	b = peer_open(&p, delete_script);
	assert_int_equal(bus_queue_delete(b, "bad/name"), -EINVAL);
	assert_int_equal(bus_queue_delete(b, "q"), -ENOENT);
	/* Hung up after reading it: maybe done, so not sent again. */
	r = bus_queue_delete(b, "q");
	assert_int_equal(r, -ECONNRESET);
	assert_string_equal(bus_strerror(r), "connection to busd lost");
	bus_close(b);
	peer_stop(&p);
}

/*
 * busd closes connections, saying why: an idle one (a request in flight
 * or the next one is made again on a new connection), one over the
 * per-uid limit, one that said no hello in time.
 */
static enum reply bye_script(int n, const BusControl__Request *req,
                             BusControl__Response *resp, int *fd)
{
	static BusControl__QueueList ql = BUS_CONTROL__QUEUE_LIST__INIT;

	(void)fd;
	/* 0: ping; 1: list answered with "closed as idle"; 2: ping; 3: the
	 * same list; 4: delete, answered, then closed as idle; 5: ping;
	 * 6: the list sent after; 7: delete, closed for want of a hello. */
	switch (n) {
	case 0:
	case 2:
	case 5:
		return answer_ping(req, resp);
	case 1:
	case 3:
	case 6:
		if (req->op_case != BUS_CONTROL__REQUEST__OP_LIST)
			return REPLY_FAIL;
		if (n == 1) {
			resp->error = -ECONNRESET;
			resp->message = "idle connection closed";
			return REPLY_BYE_AGAIN;
		}
		ql.total = 0;
		resp->result_case = BUS_CONTROL__RESPONSE__RESULT_QUEUES;
		resp->queues = &ql;
		return REPLY_SEND;
	case 4:
		if (req->op_case != BUS_CONTROL__REQUEST__OP_DELETE)
			return REPLY_FAIL;
		return REPLY_SEND_BYE;
	case 7:
		if (req->op_case != BUS_CONTROL__REQUEST__OP_DELETE)
			return REPLY_FAIL;
		resp->error = -ETIMEDOUT;
		resp->message = "no request within 5000 ms of connecting";
		return REPLY_BYE;
	}
	return REPLY_FAIL;
}

static void test_bye(void **state)
{
	bus_queue_info out[1];
	struct peer p;
	int fds = harness_open_fds();
	bus *b;

	(void)state;
	b = peer_open(&p, bye_script);
	/* Closed as idle instead of an answer: made again, sent again. */
	assert_int_equal(bus_queue_list(b, out, 1), 0);
	assert_int_equal(bus_queue_delete(b, "q"), 0);
	/* Closed as idle while the bus was: the next request reconnects. */
	nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
	assert_int_equal(bus_queue_list(b, out, 1), 0);
	/* Closed with another reason: that reason, and no second try. */
	assert_int_equal(bus_queue_delete(b, "q"), -ETIMEDOUT);
	assert_string_equal(bus_last_error(b), "no request within 5000 ms of connecting");
	bus_close(b);
	peer_stop(&p);
	assert_int_equal(harness_open_fds(), fds);
}

/* Refused at once: too many connections from this uid. */
static enum reply quota_script(int n, const BusControl__Request *req,
                               BusControl__Response *resp, int *fd)
{
	(void)fd;
	if (n != 0 || !is_ping(req))
		return REPLY_FAIL;
	resp->error = -EDQUOT;
	resp->message = "too many connections from uid 1000: at most 8";
	return REPLY_BYE;
}

static void test_refused(void **state)
{
	struct peer p;
	bus *b = NULL;

	(void)state;
	peer_start(&p, quota_script);
	assert_int_equal(bus_open(p.path, &b), -EDQUOT);
	assert_null(b);
	assert_string_equal(bus_strerror(-EDQUOT),
	                    "too many connections to busd from this user");
	peer_stop(&p);
}

/* Strings with a NUL in them: refused, never cut short. */
static enum reply nul_script(int n, const BusControl__Request *req,
                             BusControl__Response *resp, int *fd)
{
	static BusControl__QueueInfo qi = BUS_CONTROL__QUEUE_INFO__INIT;
	static BusControl__QueueInfo *qp[1] = {&qi};
	static BusControl__QueueList ql = BUS_CONTROL__QUEUE_LIST__INIT;

	(void)fd;
	if (n == 0)
		return answer_ping(req, resp);
	if (n == 1) {
		resp->error = -ENOENT;
		resp->message = "no queue 'aXb'";
		return REPLY_NUL;
	}
	qi.name = "aXb";
	ql.queues = qp;
	ql.n_queues = 1;
	ql.total = 1;
	resp->result_case = BUS_CONTROL__RESPONSE__RESULT_QUEUES;
	resp->queues = &ql;
	return REPLY_NUL;
}

/* Opens like test_list on purpose: each test declares its peer script in view. */
static void test_nul_strings(void **state)
{
	bus_queue_info out[1];
	struct peer p;
	bus *b = peer_open(&p, nul_script);

	(void)state;
	assert_int_equal(bus_queue_delete(b, "q"), -EBADMSG);
	assert_int_equal(bus_queue_list(b, out, 1), -EBADMSG);
	bus_close(b);
	peer_stop(&p);
}

/* control_check_strings() on packets built by hand. */
static void test_check_strings(void **state)
{
	const ProtobufCMessageDescriptor *md = NULL;
	const ProtobufCFieldDescriptor *fd = NULL;
	/* Request{version 1, create{name "a\0b"}} */
	static const uint8_t nul[] = {0x08, 0x01, 0x5a, 0x05, 0x0a, 0x03, 'a', 0, 'b'};
	static const uint8_t fine[] = {0x08, 0x01, 0x5a, 0x05, 0x0a, 0x03, 'a', 'c', 'b'};
	/* uuid is bytes: a NUL there is data */
	static const uint8_t bytes[] = {0x12, 0x02, 0, 0};
	/* a length past the end; a group; a truncated varint */
	static const uint8_t past[] = {0x5a, 0x09, 0x0a, 0x03, 'a', 'b', 'c'};
	static const uint8_t group[] = {0x0b, 0x0c};
	static const uint8_t varint[] = {0x08, 0x80};

	(void)state;
	assert_int_equal(control_check_strings(&bus_control__request__descriptor, nul,
	                                       sizeof(nul), &md, &fd),
	                 -EILSEQ);
	assert_string_equal(md->name, "bus_control.CreateQueue");
	assert_string_equal(fd->name, "name");
	assert_int_equal(control_check_strings(&bus_control__request__descriptor, fine,
	                                       sizeof(fine), NULL, NULL),
	                 0);
	assert_int_equal(control_check_strings(&bus_control__queue_info__descriptor,
	                                       bytes, sizeof(bytes), NULL, NULL),
	                 0);
	assert_int_equal(control_check_strings(&bus_control__request__descriptor, past,
	                                       sizeof(past), NULL, NULL),
	                 -EBADMSG);
	assert_int_equal(control_check_strings(&bus_control__request__descriptor, group,
	                                       sizeof(group), NULL, NULL),
	                 -EBADMSG);
	assert_int_equal(control_check_strings(&bus_control__request__descriptor, varint,
	                                       sizeof(varint), NULL, NULL),
	                 -EBADMSG);
	assert_int_equal(control_check_strings(&bus_control__request__descriptor, "",
	                                       0, NULL, NULL),
	                 0);
}

static void test_strerror(void **state)
{
	static const int codes[] = {
		-EAGAIN, -ETIMEDOUT, -EMSGSIZE, -EBUSY, -EPROTO, -EBADMSG, -ENOBUFS,
		-EUSERS, -ENOENT, -EACCES, -EPIPE, -EINVAL, -ENOSPC, -ENOMEM,
		-ECONNRESET, -EDQUOT};
	const size_t n = HARNESS_NITEMS(codes);

	(void)state;
	assert_string_equal(bus_strerror(0), "success");
	assert_string_equal(bus_strerror(-EPIPE), "queue deleted");
	assert_string_equal(bus_strerror(-ECONNRESET), "connection to busd lost");
	assert_string_equal(bus_strerror(-EBUSY), "queue already has a live consumer");
	/* Each code of the API has its own words, none the generic ones. */
	for (size_t i = 0; i < n; i++) {
		const char *s = bus_strerror(codes[i]);

		assert_non_null(s);
		assert_true(strlen(s) > 4);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(s, bus_strerror(codes[j]));
	}
	/* Other errnos read as the C library puts them; positives are no code. */
	assert_string_equal(bus_strerror(-ECONNREFUSED), strerror(ECONNREFUSED));
	assert_string_equal(bus_strerror(7), "not an error code");
}

static void test_names_and_types(void **state)
{
	char name[BUS_NAME_MAX + 2];

	(void)state;
	assert_true(bus_name_valid("orders.v1_A-z"));
	assert_false(bus_name_valid(NULL));
	assert_false(bus_name_valid(""));
	assert_false(bus_name_valid("."));
	assert_false(bus_name_valid(".."));
	assert_true(bus_name_valid("..."));
	assert_false(bus_name_valid("a/b"));
	assert_false(bus_name_valid("a b"));
	memset(name, 'n', sizeof(name));
	name[BUS_NAME_MAX] = '\0';
	assert_true(bus_name_valid(name));
	name[BUS_NAME_MAX] = 'n';
	name[BUS_NAME_MAX + 1] = '\0';
	assert_false(bus_name_valid(name));

	/* FNV-1a 32: the published test vectors; 0 is kept for "no type". */
	assert_int_equal(bus_type_id(NULL), 0);
	assert_int_equal(bus_type_id(""), 0x811c9dc5u);
	assert_int_equal(bus_type_id("a"), 0xe40c292cu);
	assert_int_equal(bus_type_id("foobar"), 0xbf9cf968u);
	assert_int_not_equal(bus_type_id("demo.Order"), bus_type_id("demo.Quote"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_bad_ping),
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_attach),
		cmocka_unit_test(test_delete_then_hangup),
		cmocka_unit_test(test_bye),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_nul_strings),
		cmocka_unit_test(test_check_strings),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_names_and_types),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_control.c - control packets: framing, descriptors, bounds, peers.
 *
 * Both ends of a SOCK_SEQPACKET socketpair live in this process; what is
 * checked is what busd and its clients rely on: one message per packet,
 * the segment descriptor arriving intact and close-on-exec, oversized or
 * stray input refused without leaking descriptors or the connection.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "control.h"
#include "harness.h"

static int sv[2];
static uint8_t buf[CONTROL_MAX_PACKET];
static _Alignas(16) uint8_t arena[CONTROL_ARENA];

static void test_roundtrip(void **state)
{
	BusControl__Request req = BUS_CONTROL__REQUEST__INIT;
	BusControl__CreateQueue cq = BUS_CONTROL__CREATE_QUEUE__INIT;
	BusControl__Request *out;
	size_t len;
	int fd = 123;

	(void)state;
	req.version = CONTROL_VERSION;
	req.id = 7;
	cq.name = "orders";
	cq.capacity = 1 << 20;
	req.op_case = BUS_CONTROL__REQUEST__OP_CREATE;
	req.create = &cq;
	assert_int_equal(control_send(sv[0], &req.base, -1), 0);
	assert_int_equal(control_recv(sv[1], buf, sizeof(buf), &len, &fd), 0);
	assert_int_equal(fd, -1);
	assert_int_equal(len, bus_control__request__get_packed_size(&req));
	assert_int_equal(control_decode_request(buf, len, arena, sizeof(arena), &out), 0);
	assert_int_equal(out->version, CONTROL_VERSION);
	assert_int_equal(out->id, 7);
	assert_int_equal(out->op_case, BUS_CONTROL__REQUEST__OP_CREATE);
	assert_string_equal(out->create->name, "orders");
	assert_int_equal(out->create->capacity, 1 << 20);
}

/* The descriptor arrives as a new, close-on-exec one for the same file. */
static void test_fd_passing(void **state)
{
	BusControl__Response resp = BUS_CONTROL__RESPONSE__INIT;
	struct stat a, b;
	int pipefd[2], got = -1;
	size_t len;

	(void)state;
	assert_int_equal(pipe(pipefd), 0);
	resp.version = CONTROL_VERSION;
	resp.id = 1;
	assert_int_equal(control_send(sv[0], &resp.base, pipefd[0]), 0);
	assert_int_equal(control_recv(sv[1], buf, sizeof(buf), &len, &got), 0);
	assert_true(got >= 0);
	assert_int_not_equal(got, pipefd[0]);
	assert_int_equal(fstat(pipefd[0], &a), 0);
	assert_int_equal(fstat(got, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_true(fcntl(got, F_GETFD) & FD_CLOEXEC);
	close(got);
	close(pipefd[0]);
	close(pipefd[1]);
}

/* Raw sendmsg of n descriptors, bypassing control_send. */
static void send_raw(int sock, const void *data, size_t len, const int *fds, int n)
{
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(4 * sizeof(int))];
	} cm;
	struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	if (n > 0) {
		struct cmsghdr *c;

		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.b;
		mh.msg_controllen = CMSG_SPACE((size_t)n * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)n * sizeof(int));
	}
	assert_int_equal(sendmsg(sock, &mh, 0), (ssize_t)len);
}

/* Stray descriptors are closed: extra ones, and any when none is wanted. */
static void test_stray_fds_closed(void **state)
{
	int fds[3], got = -1, before;
	size_t len;

	(void)state;
	for (int i = 0; i < 3; i++)
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	before = harness_open_fds();
	send_raw(sv[0], "x", 1, fds, 3);
	assert_int_equal(control_recv(sv[1], buf, sizeof(buf), &len, &got), 0);
	assert_true(got >= 0);
	assert_int_equal(harness_open_fds(), before + 1);
	close(got);
	send_raw(sv[0], "y", 1, fds, 2);
	assert_int_equal(control_recv(sv[1], buf, sizeof(buf), &len, NULL), 0);
	assert_int_equal(harness_open_fds(), before);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
}

/* An oversized packet is refused whole; the connection stays usable. */
static void test_oversized_packet(void **state)
{
	static uint8_t big[CONTROL_MAX_PACKET + 100];
	int sndbuf = 4 * (int)sizeof(big), got = -1;
	size_t len;

	(void)state;
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	memset(big, 0x5a, sizeof(big));
	send_raw(sv[0], big, sizeof(big), NULL, 0);
	send_raw(sv[0], "ok", 2, NULL, 0);
	assert_int_equal(control_recv(sv[1], buf, sizeof(buf), &len, &got), -EMSGSIZE);
	assert_int_equal(control_recv(sv[1], buf, sizeof(buf), &len, &got), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(buf, "ok", 2);
}

/* A message that would not fit one packet is not sent at all. */
static void test_send_too_big(void **state)
{
	BusControl__Request req = BUS_CONTROL__REQUEST__INIT;
	BusControl__DeleteQueue dq = BUS_CONTROL__DELETE_QUEUE__INIT;
	char *name = malloc(CONTROL_MAX_PACKET + 1);

	(void)state;
	assert_non_null(name);
	memset(name, 'a', CONTROL_MAX_PACKET);
	name[CONTROL_MAX_PACKET] = '\0';
	dq.name = name;
	req.op_case = BUS_CONTROL__REQUEST__OP_DELETE;
	req.delete_ = &dq;
	assert_int_equal(control_send(sv[0], &req.base, -1), -EMSGSIZE);
	free(name);
}

static void test_peer_closed(void **state)
{
	size_t len;

	(void)state;
	close(sv[0]);
	sv[0] = open("/dev/null", O_RDONLY);
	assert_int_equal(control_recv(sv[1], buf, sizeof(buf), &len, NULL), -ECONNRESET);
}

/* Garbage does not decode; a small arena is refused, never overrun. */
static void test_decode_bounds(void **state)
{
	static const uint8_t junk[] = {0x12, 0x7f, 0x01};
	BusControl__Request req = BUS_CONTROL__REQUEST__INIT;
	BusControl__CreateQueue cq = BUS_CONTROL__CREATE_QUEUE__INIT;
	BusControl__Request *out;
	uint8_t small[48];
	size_t len;

	(void)state;
	assert_int_equal(control_decode_request(junk, sizeof(junk), arena, sizeof(arena),
	                                        &out),
	                 -EBADMSG);
	cq.name = "a-queue-name-long-enough-to-need-its-own-allocation";
	req.op_case = BUS_CONTROL__REQUEST__OP_CREATE;
	req.create = &cq;
	len = bus_control__request__pack(&req, buf);
	assert_int_equal(control_decode_request(buf, len, small, sizeof(small), &out),
	                 -ENOBUFS);
}

static void test_peer_credentials(void **state)
{
	struct control_peer p;
	gid_t groups[CONTROL_MAX_GROUPS];
	int n = getgroups(CONTROL_MAX_GROUPS, groups);

	(void)state;
	assert_int_equal(control_peer(sv[1], &p), 0);
	assert_int_equal(p.pid, getpid());
	assert_int_equal(p.uid, getuid());
	assert_int_equal(p.gid, getgid());
	if (n >= 0)
		assert_int_equal(p.ngroups, (uint32_t)n);
}

static void test_default_path(void **state)
{
	char path[256], want[256];
	char longdir[200];

	(void)state;
	setenv("BUS_SOCKET", "/run/x/busd.sock", 1);
	assert_int_equal(control_default_path(path, sizeof(path)), 0);
	assert_string_equal(path, "/run/x/busd.sock");
	unsetenv("BUS_SOCKET");
	setenv("XDG_RUNTIME_DIR", "/run/user/42", 1);
	assert_int_equal(control_default_path(path, sizeof(path)), 0);
	assert_string_equal(path, "/run/user/42/bus/busd.sock");
	unsetenv("XDG_RUNTIME_DIR");
	assert_int_equal(control_default_path(path, sizeof(path)), 0);
	snprintf(want, sizeof(want), "/tmp/bus-%u/busd.sock", (unsigned)getuid());
	assert_string_equal(path, want);
	assert_int_equal(control_default_path(path, 8), -ENAMETOOLONG);
	memset(longdir, 'd', sizeof(longdir) - 1);
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';
	setenv("XDG_RUNTIME_DIR", longdir, 1);
	assert_int_equal(control_default_path(path, sizeof(path)), -ENAMETOOLONG);
	unsetenv("XDG_RUNTIME_DIR");
}

/* Each test gets a fresh socketpair in sv. */
#define PAIR_TEST(f)                                                         \
	cmocka_unit_test_prestate_setup_teardown(f, harness_socketpair_open, \
	                                         harness_socketpair_close, sv)

int main(void)
{
	const struct CMUnitTest tests[] = {
		PAIR_TEST(test_roundtrip),
		PAIR_TEST(test_fd_passing),
		PAIR_TEST(test_stray_fds_closed),
		PAIR_TEST(test_oversized_packet),
		PAIR_TEST(test_send_too_big),
		PAIR_TEST(test_peer_closed),
		PAIR_TEST(test_decode_bounds),
		PAIR_TEST(test_peer_credentials),
		PAIR_TEST(test_default_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

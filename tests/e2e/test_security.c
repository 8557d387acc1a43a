/*
 * test_security.c - what another user can and cannot do (busd as root,
 * buscli as 'nobody' through runuser).
 *
 *  - owner_only: a config that grants nobody anything: busd's directory is
 *    0700 and its socket 0600; nobody cannot even connect, and buscli
 *    says so in one line and exits 1.
 *  - produce_only: a config granting `produce = user:nobody` on one queue:
 *    the directory is 0755 and the socket 0666; nobody may publish and
 *    read that queue's stats, but not receive, create or delete (EACCES,
 *    with busd's reason), nor read the stats of a queue it has no right
 *    on.  The segment in /dev/shm is 0600, owned by root, and nobody
 *    cannot open it directly.  busd keeps serving root afterwards.
 *
 *  - calls_across_users: `produce = user:nobody` on queue svc: nobody may
 *    call svc (its reply queue is made, owned by nobody, 0600 and root's
 *    file as every segment) and gets root's answer; nobody may not call a
 *    queue it cannot produce to, may not attach as svc's replier (consume
 *    is needed), nor attach its own or root's reply queue by name.
 *
 * Needs root, runuser and a user 'nobody'; otherwise exits 77.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "control.h"
#include "e2e.h"
#include "handle.h"
#include "harness.h"
#include "segment.h"

static uid_t nobody_uid;
static gid_t nobody_gid;

static const char *find_runuser(void)
{
	static const char *const cands[] = {"/usr/sbin/runuser", "/sbin/runuser",
	                                    "/usr/bin/runuser", "/bin/runuser"};

	for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++)
		if (access(cands[i], X_OK) == 0)
			return cands[i];
	return NULL;
}

/* runuser -u nobody --: buscli behind it runs as nobody (setup finds runuser). */
static char *as_nobody[] = {NULL, "-u", "nobody", "--", NULL};

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static int setup(void **state)
{
	const char *why = e2e_precheck();
	struct passwd *pw;

	if (!why && geteuid() != 0)
		why = "not root: cannot run busd as root and clients as another user";
	if (!why && !(as_nobody[0] = (char *)find_runuser()))
		why = "runuser not found";
	if (!why && !(pw = getpwnam("nobody")))
		why = "no user 'nobody'";
	if (why)
		e2e_skip(why);
	nobody_uid = pw->pw_uid;
	nobody_gid = pw->pw_gid;
	return e2e_setup(state);
}

static void owner_only(void **state)
{
	struct e2e *e = *state;
	struct e2e_run r;

	e2e_busd_restart_config(e, "[queue q]\ncapacity = 4K\n");
	assert_int_equal(mode_of(e->run_dir), 0700);
	assert_int_equal(mode_of(e->socket), 0600);

	e2e_cli_as(e, &r, as_nobody, "publish", "q", "hello", NULL);
	e2e_expect_fail(&r, "publish as nobody", "permission denied");
	e2e_run_free(&r);
	e2e_cli_as(e, &r, as_nobody, "recv", "q", "-n", "1", "-T", "0", NULL);
	e2e_expect_fail(&r, "recv as nobody", "permission denied");
	e2e_run_free(&r);

	/* root still can */
	e2e_cli_ok(e, NULL, "publish", "q", "from-root", NULL);
	e2e_cli_ok(e, "from-root\n", "recv", "q", "-n", "1", "-T", "2000", NULL);
	e2e_cli_ok(e, NULL, "delete", "q", NULL);
	assert_int_equal(e2e_shm_count(e, NULL), 0);
}

/* In a child as nobody: open(path) must fail with EACCES, read or write. */
static int open_as_nobody(void *arg)
{
	const char *path = arg;
	int fd;

	if (setgroups(0, NULL) < 0 || setgid(nobody_gid) < 0 || setuid(nobody_uid) < 0)
		return 10;
	if (geteuid() != nobody_uid)
		return 11;
	fd = open(path, O_RDONLY);
	if (fd >= 0 || errno != EACCES)
		return 12;
	fd = open(path, O_RDWR);
	if (fd >= 0 || errno != EACCES)
		return 13;
	return 0;
}

static void produce_only(void **state)
{
	struct e2e *e = *state;
	char seg[512];
	struct e2e_run r;
	struct stat st;

	e2e_busd_restart_config(e, "[queue q]\ncapacity = 4K\nproduce = user:nobody\n");
	assert_int_equal(mode_of(e->run_dir), 0755);
	assert_int_equal(mode_of(e->socket), 0666);
	e2e_create(e, "secret", "4K"); /* run-time queue of root: no rights for nobody */

	e2e_cli_as(e, &r, as_nobody, "publish", "q", "from-nobody", NULL);
	if (r.status != 0)
		fprintf(stderr, "publish as nobody: status %d: %s\n", r.status, r.err);
	assert_int_equal(r.status, 0);
	e2e_run_free(&r);

	e2e_cli_as(e, &r, as_nobody, "recv", "q", "-n", "1", "-T", "0", NULL);
	e2e_expect_fail(&r, "recv as nobody", "permission denied");
	assert_non_null(strstr(r.err, "may not consume from queue 'q'"));
	assert_string_equal(r.out, "");
	e2e_run_free(&r);
	e2e_cli_as(e, &r, as_nobody, "create", "zz", NULL);
	e2e_expect_fail(&r, "create as nobody", "permission denied");
	assert_non_null(strstr(r.err, "may not create queue 'zz'"));
	e2e_run_free(&r);
	e2e_cli_as(e, &r, as_nobody, "delete", "q", NULL);
	e2e_expect_fail(&r, "delete as nobody", "permission denied");
	assert_non_null(strstr(r.err, "may not delete queue 'q'"));
	e2e_run_free(&r);
	e2e_cli_as(e, &r, as_nobody, "publish", "secret", "x", NULL);
	e2e_expect_fail(&r, "publish to secret as nobody", "permission denied");
	e2e_run_free(&r);

	/* stats: with a right (produce) yes; without, no */
	e2e_cli_as(e, &r, as_nobody, "stats", "q", "--json", NULL);
	if (r.status != 0)
		fprintf(stderr, "stats q as nobody: status %d: %s\n", r.status, r.err);
	assert_int_equal(r.status, 0);
	{
		uint64_t enq = 0;

		assert_true(e2e_json_u64(r.out, "enqueued", &enq));
		assert_int_equal(enq, 1);
	}
	e2e_run_free(&r);
	e2e_cli_as(e, &r, as_nobody, "stats", "secret", "--json", NULL);
	if (r.status == 0)
		fprintf(stderr, "stats secret as nobody succeeded: %s\n", r.out);
	assert_int_not_equal(r.status, 0);
	assert_null(strstr(r.out, "\"enqueued\""));
	e2e_run_free(&r);
	/* list shows only what nobody has a right on */
	e2e_cli_as(e, &r, as_nobody, "list", NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "\nq "));
	assert_null(strstr(r.out, "secret"));
	e2e_run_free(&r);

	/* the segment: 0600, root's, and nobody cannot open it */
	assert_true(e2e_shm_path(e, "q", seg, sizeof(seg)));
	assert_int_equal(stat(seg, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(e2e_wait(e, e2e_fork(e, open_as_nobody, seg), 30), 0);

	/* busd still serves: root receives what nobody sent, and more */
	assert_int_equal(kill(e->busd, 0), 0);
	e2e_cli_ok(e, NULL, "publish", "q", "from-root", NULL);
	e2e_cli_ok(e, "from-nobody\nfrom-root\n", "recv", "q", "-n", "2", "-T", "2000", NULL);
	for (int i = 0; i < 2; i++) {
		e2e_cli_ok(e, NULL, "delete", i ? "q" : "secret", NULL);
	}
	assert_int_equal(e2e_shm_count(e, NULL), 0);
}

struct nobody_call {
	const char *socket;
	int ready[2]; /* nobody writes its reply queue's name, then waits */
	int go[2];    /* root writes when it may call */
};

/*
 * In a child as nobody: what a caller may and may not do.  Exits 0, or
 * the step that went wrong (10 + n).
 */
static int call_as_nobody(void *arg)
{
	struct nobody_call *a = arg;
	int fds[CONTROL_MAX_FDS] = {-1, -1};
	bus_queue_info info[4];
	bus_producer *p;
	bus_consumer *c;
	bus_client *cl;
	bus_msg reply;
	char x;
	bus *b;
	int n;

	if (setgroups(0, NULL) < 0 || setgid(nobody_gid) < 0 || setuid(nobody_uid) < 0)
		return 10;
	if (bus_open(a->socket, &b) < 0)
		return 11;
	if (bus_client_open(b, "secret", &cl) != -EACCES)
		return 12;
	if (bus_client_open(b, "svc", &cl) < 0)
		return 13;
	/* Listed to nobody (its owner), with svc. */
	n = bus_queue_list(b, info, 4);
	if (n != 2 || strncmp(info[0].name, ".r.", 3) != 0)
		return 14;
	if (write(a->ready[1], info[0].name, strlen(info[0].name) + 1) < 0)
		return 15;
	/* Its own reply queue by name: refused in every role. */
	if (bus_consumer_open(b, info[0].name, &c) != -EACCES ||
	    bus_producer_open(b, info[0].name, &p) != -EACCES)
		return 16;
	/* A replier of svc: consume on svc is needed. */
	if (client_attach_reply(b, "svc", UINT64_C(1) << 32 | 1, fds) != -EACCES)
		return 17;
	if (read(a->go[0], &x, 1) != 1)
		return 18;
	if (bus_client_call(cl, 1, "ping", 4, &reply, 30000) < 0)
		return 19;
	if (reply.len != 7 || memcmp(reply.data, "re:ping", 7) != 0)
		return 20;
	bus_client_close(cl);
	bus_close(b);
	return 0;
}

/* Child processes end and tests open alike on purpose, as in test_pollfd.c. */
static void calls_across_users(void **state)
{
	struct e2e *e = *state;
	struct nobody_call a = {.socket = e->socket};
	char name[BUS_NAME_MAX + 1] = "", seg[512];
	bus_consumer *c;
	bus_producer *p;
	bus_msg m;
	struct stat st;
	pid_t pid;
	bus *b;

	e2e_busd_restart_config(e, "[queue svc]\ncapacity = 64K\nproduce = user:nobody\n");
	e2e_create(e, "secret", "4K");
	assert_int_equal(pipe(a.ready), 0);
	assert_int_equal(pipe(a.go), 0);
	pid = e2e_fork(e, call_as_nobody, &a);
	for (size_t i = 0; i < sizeof(name) - 1; i++) {
		assert_int_equal(read(a.ready[0], &name[i], 1), 1);
		if (!name[i])
			break;
	}
	assert_memory_equal(name, ".r.", 3);
	/* nobody's reply queue: a 0600 segment of busd's (root's) */
	assert_true(e2e_shm_path(e, name, seg, sizeof(seg)));
	assert_int_equal(stat(seg, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, 0);
	{
		char owner[32];

		/* owned by nobody, in the name busd keeps the owner in */
		snprintf(owner, sizeof(owner), ".u%u", (unsigned)nobody_uid);
		assert_non_null(strstr(seg, owner));
	}
	b = e2e_open(e);
	/* Not even root attaches a reply queue by name. */
	assert_int_equal(bus_producer_open(b, name, &p), -EACCES);
	assert_int_equal(bus_consumer_open(b, "svc", &c), 0);
	assert_int_equal(write(a.go[1], "x", 1), 1);
	assert_int_equal(bus_recv(c, &m, 30000), 0);
	assert_true(m.flags & BUS_MSG_REQUEST);
	assert_int_equal(bus_reply(c, &m, 2, "re:ping", 7, 30000), 0);
	bus_release(c);
	assert_int_equal(e2e_wait(e, pid, 30), 0);
	bus_consumer_close(c);
	bus_close(b);
	/* Closed: its reply queue is gone. */
	assert_false(e2e_shm_path(e, name, seg, sizeof(seg)));
	for (int i = 0; i < 2; i++) {
		close(a.ready[i]);
		close(a.go[i]);
	}
}

HARNESS_MAIN(cmocka_unit_test_setup_teardown(owner_only, setup, e2e_teardown),
             cmocka_unit_test_setup_teardown(produce_only, setup, e2e_teardown),
             cmocka_unit_test_setup_teardown(calls_across_users, setup, e2e_teardown))

/*
 * test_limits.c - busd at its configured limits, and with /dev/shm full.
 *
 *  - connection_flood: max-connections = 8, 50 raw connections held open
 *    (by root, which has no per-uid limit): each new one past the limit
 *    takes the place of the longest-idle one, so 8 stay open; busd stays
 *    alive and serves normally once they are closed.
 *  - queue_limit: max-queues = 3: the 4th create fails (exit 1, one line
 *    naming the queue and the limit).
 *  - capacity_limit: max-capacity = 64K: a 128K queue is refused, a 64K
 *    one is not.
 *
 * Built a second time with -DLIMITS_SHMFULL as its own test program:
 *  - shm_full: busd in a private mount namespace whose /dev/shm is a 2 MiB
 *    tmpfs (unshare -m; the host's /dev/shm is untouched): a 1 MiB queue
 *    is created, a 4 MiB one fails with ENOSPC ("no space in /dev/shm for
 *    queue 'big'"), busd keeps serving and the first queue still works.
 *    Needs root and unshare/nsenter that work here; otherwise exits 77.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "harness.h"

static void write_file(const char *path, const char *text, mode_t mode)
{
	e2e_write_file(path, text);
	assert_int_equal(chmod(path, mode), 0);
}

static void busd_alive(struct e2e *e)
{
	int status;

	assert_int_not_equal(e->busd, 0);
	assert_int_equal(waitpid(e->busd, &status, WNOHANG), 0);
}

#ifndef LIMITS_SHMFULL

#define FLOOD 50

static char conf[300];

/* Restarts this test's busd with the config text. */
static void restart_busd(struct e2e *e, const char *text)
{
	assert_int_equal(e2e_busd_stop(e), 0);
	snprintf(conf, sizeof(conf), "%s/busd.conf", e->dir);
	write_file(conf, text, 0600);
	e->config = conf;
	e2e_busd_start(e);
}

static void connection_flood(void **state)
{
	struct e2e *e = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fds[FLOOD], closed = 0;
	uint64_t deadline;
	struct e2e_run r;

	restart_busd(e, "[busd]\nmax-connections = 8\n");
	assert_true(strlen(e->socket) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, e->socket, strlen(e->socket) + 1);
	for (int i = 0; i < FLOOD; i++) {
		fds[i] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		assert_true(fds[i] >= 0);
		if (connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			/* a full backlog refuses: that is a closed one too */
			close(fds[i]);
			fds[i] = -1;
		}
	}
	/* busd closes the longest-idle ones to make room: they read EOF */
	deadline = e2e_now_ms() + E2E_SCALE(5000, 20000);
	while (e2e_now_ms() < deadline) {
		closed = 0;
		for (int i = 0; i < FLOOD; i++) {
			struct pollfd p = {.fd = fds[i], .events = POLLIN};
			char c;

			if (fds[i] < 0 ||
			    (poll(&p, 1, 0) == 1 && recv(fds[i], &c, 1, MSG_DONTWAIT) == 0))
				closed++;
		}
		if (closed >= FLOOD - 8)
			break;
		e2e_sleep_ms(20);
	}
	fprintf(stderr, "flood: %d of %d connections closed by busd\n", closed, FLOOD);
	assert_true(closed >= FLOOD - 8);
	assert_true(closed < FLOOD); /* the last 8 are held */
	busd_alive(e);
	assert_true(e2e_log_count(e, "connection limit reached", NULL) > 0);

	for (int i = 0; i < FLOOD; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	/* busd notices the closes: a normal request works again */
	deadline = e2e_now_ms() + E2E_SCALE(5000, 20000);
	for (;;) {
		e2e_cli(e, &r, NULL, 0, 30, "create", "after-flood", NULL);
		if (r.status == 0 || e2e_now_ms() > deadline)
			break;
		e2e_run_free(&r);
		e2e_sleep_ms(50);
	}
	if (r.status != 0)
		fprintf(stderr, "create after the flood: status %d: %s\n", r.status, r.err);
	assert_int_equal(r.status, 0);
	e2e_run_free(&r);
	e2e_cli_ok(e, NULL, "publish", "after-flood", "hi", NULL);
	e2e_cli_ok(e, "hi\n", "recv", "after-flood", "-n", "1", "-T", "2000", NULL);
	e2e_cli_ok(e, NULL, "delete", "after-flood", NULL);
	busd_alive(e);
}

static void queue_limit(void **state)
{
	struct e2e *e = *state;
	static const char *const names[] = {"a", "b", "c"};
	struct e2e_run r;

	restart_busd(e, "[busd]\nmax-queues = 3\n");
	for (int i = 0; i < 3; i++)
		e2e_create(e, names[i], "4K");
	e2e_cli(e, &r, NULL, 0, 30, "create", "d", "--capacity", "4K", NULL);
	e2e_expect_fail(&r, "4th create", "'d'");
	assert_non_null(strstr(r.err, "max-queues 3"));
	e2e_run_free(&r);
	assert_int_equal(e2e_shm_count(e, NULL), 3);
	assert_int_equal(e2e_shm_count(e, "d"), 0);
	busd_alive(e);
	/* a slot freed is a slot usable */
	e2e_cli_ok(e, NULL, "delete", "a", NULL);
	e2e_create(e, "d", "4K");
	for (int i = 1; i < 4; i++) {
		e2e_cli_ok(e, NULL, "delete", i < 3 ? names[i] : "d", NULL);
	}
	assert_int_equal(e2e_shm_count(e, NULL), 0);
}

static void capacity_limit(void **state)
{
	struct e2e *e = *state;
	struct e2e_run r;

	restart_busd(e, "[busd]\nmax-capacity = 64K\ndefault-capacity = 4K\n");
	e2e_cli(e, &r, NULL, 0, 30, "create", "big", "--capacity", "128K", NULL);
	e2e_expect_fail(&r, "create 128K", "'big'");
	e2e_run_free(&r);
	assert_int_equal(e2e_shm_count(e, "big"), 0);
	busd_alive(e);
	e2e_create(e, "ok", "64K");
	e2e_cli_ok(e, NULL, "publish", "ok", "fits", NULL);
	e2e_cli_ok(e, "fits\n", "recv", "ok", "-n", "1", "-T", "2000", NULL);
	e2e_cli_ok(e, NULL, "delete", "ok", NULL);
	assert_int_equal(e2e_shm_count(e, NULL), 0);
}

E2E_MAIN("e2e limits", E2E_TEST(connection_flood), E2E_TEST(queue_limit), E2E_TEST(capacity_limit))

#else /* LIMITS_SHMFULL */

static char wrapper[300];
static const char *real_busd;
static const char *nsenter_path;

static const char *find_tool(const char *name)
{
	static const char *const dirs[] = {"/usr/bin", "/bin", "/usr/sbin", "/sbin"};
	static char buf[4][64];
	static int k;

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char *b = buf[k % 4];

		snprintf(b, sizeof(buf[0]), "%s/%s", dirs[i], name);
		if (access(b, X_OK) == 0) {
			k++;
			return b;
		}
	}
	return NULL;
}

/* nsenter -t BUSD -m: buscli behind it runs in busd's mount namespace. */
static char *const *in_ns(const struct e2e *e)
{
	static char pid[16];
	static char *argv[] = {NULL, "-t", pid, "-m", NULL};

	snprintf(pid, sizeof(pid), "%d", (int)e->busd);
	argv[0] = (char *)nsenter_path;
	return argv;
}

/* Runs argv (argv[0] a path) with output to /dev/null; true if it exits 0. */
static bool run_quiet(char *const argv[])
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return false;
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return false;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int setup(void **state)
{
	const char *why = e2e_precheck();
	const char *unshare = NULL;

	if (!why && geteuid() != 0)
		why = "not root: cannot mount a small tmpfs on /dev/shm";
	if (!why && !(nsenter_path = find_tool("nsenter")))
		why = "nsenter not found";
	if (!why && !(unshare = find_tool("unshare")))
		why = "unshare not found";
	if (!why) {
		char *const argv[] = {
			(char *)unshare,
			"-m",
			"/bin/sh",
			"-c",
			"mount -t tmpfs -o size=1M tmpfs /dev/shm",
			NULL,
		};

		if (!run_quiet(argv))
			why = "cannot mount a tmpfs in a private mount namespace (unshare -m)";
	}
	if (why)
		e2e_skip(why);
	return e2e_setup(state);
}

static void shm_full(void **state)
{
	struct e2e *e = *state;
	struct e2e_run r;
	char text[1024];
	struct stat st;

	/* busd again, in a private mount namespace with a 2 MiB /dev/shm */
	assert_int_equal(e2e_busd_stop(e), 0);
	real_busd = e->busd_path;
	snprintf(wrapper, sizeof(wrapper), "%s/busd-small-shm", e->dir);
	snprintf(text, sizeof(text),
	         "#!/bin/sh\n"
	         "exec unshare -m sh -c 'mount -t tmpfs -o size=2M tmpfs /dev/shm && "
	         "exec \"$0\" \"$@\"' '%s' \"$@\"\n",
	         real_busd);
	write_file(wrapper, text, 0700);
	e->busd_path = wrapper;
	e2e_busd_start(e); /* same pid all the way: sh, unshare, sh, busd */

	e2e_create(e, "small", "1M");
	e2e_cli(e, &r, NULL, 0, 30, "create", "big", "--capacity", "4M", NULL);
	e2e_expect_fail(&r, "create 4M in a 2M /dev/shm", "no space in /dev/shm for queue 'big'");
	e2e_run_free(&r);
	assert_true(e2e_log_count(e, "ENOSPC", NULL) > 0);
	busd_alive(e);

	/* the host's /dev/shm saw nothing */
	assert_int_equal(e2e_shm_count(e, NULL), 0);

	/* busd keeps serving, and the first queue works (inside the namespace) */
	e2e_cli(e, &r, NULL, 0, 30, "list", NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "small"));
	assert_null(strstr(r.out, "big"));
	e2e_run_free(&r);
	e2e_cli_as(e, &r, in_ns(e), "publish", "small", "still-works", NULL);
	if (r.status != 0)
		fprintf(stderr, "publish: status %d: %s\n", r.status, r.err);
	assert_int_equal(r.status, 0);
	e2e_run_free(&r);
	e2e_cli_as(e, &r, in_ns(e), "recv", "small", "-n", "1", "-T", "2000", NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "still-works\n");
	e2e_run_free(&r);
	/* after the failure there is room for what fits */
	e2e_create(e, "small2", "256K");
	e2e_cli_as(e, &r, in_ns(e), "delete", "small", NULL);
	assert_int_equal(r.status, 0);
	e2e_run_free(&r);
	e2e_cli_as(e, &r, in_ns(e), "delete", "small2", NULL);
	assert_int_equal(r.status, 0);
	e2e_run_free(&r);
	assert_int_equal(stat(wrapper, &st), 0);
}

static int teardown(void **state)
{
	struct e2e *e = *state;
	int rc = e2e_teardown(state); /* SIGTERM: busd exits, its namespace goes */

	(void)e;
	return rc;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(shm_full, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif

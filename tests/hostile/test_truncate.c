/*
 * test_truncate.c - a producer truncates its queue's segment.
 *
 * busd hands a producer a read-write descriptor of the segment, and with
 * it the producer can ftruncate() the shared-memory object: every
 * mapping of the pages past the new end then raises SIGBUS when touched.
 * busd maps every queue for its lifetime, so it must survive that:
 *
 *  - death_after_truncate: the producer truncates and exits; busd, woken
 *    by the death, touches every queue's segment.  busd must keep
 *    running, remove the truncated queue (logging queue.truncated) and
 *    serve the other queue.
 *  - delete_truncated: the producer truncates and stays; deleting the
 *    queue marks its segment deleted, which touches it.  The delete must
 *    succeed and busd keep serving.
 *  - stats_and_restart: with a truncated segment in place, `buscli stats`
 *    reports that queue and shows the other one; a restarted busd
 *    refuses the truncated segment and adopts the other one.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "handle.h"
#include "harness.h"
#include "segment.h"

static char sock[300];
static int cut[2] = {-1, -1}; /* closed by the truncator once it cut */
static int go[2] = {-1, -1};  /* closed by the test to let it exit */

/* Attaches to 'victim' through busd, truncates its segment, and exits
 * (or, with arg, says so on cut and waits for go to close first). */
static int truncator(void *arg)
{
	bus *b;
	bus_producer *p;
	char c;

	if (bus_open(sock, &b) < 0 || bus_producer_open(b, "victim", &p) < 0)
		return 10;
	if (ftruncate(producer_seg(p)->fd, 0) < 0)
		return 11;
	if (arg) {
		close(cut[1]);
		close(go[1]);
		if (read(go[0], &c, 1) < 0)
			return 12;
	}
	/* Exits without a send or a close: those would touch the mapping. */
	_exit(0);
}

/* A truncator that stays until go is closed; returns once it has cut. */
static pid_t start_truncator(struct e2e *e)
{
	pid_t t;
	char c;

	assert_int_equal(pipe2(cut, O_CLOEXEC), 0);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	t = e2e_fork(e, truncator, cut);
	close(cut[1]);
	close(go[0]);
	assert_int_equal(read(cut[0], &c, 1), 0);
	close(cut[0]);
	return t;
}

static void setup_queues(struct e2e *e)
{
	snprintf(sock, sizeof(sock), "%s", e->socket);
	e2e_create(e, "victim", "64K");
	e2e_create(e, "other", "64K");
}

/* busd has not exited (a dead child would still answer kill(pid, 0)). */
static bool busd_alive(struct e2e *e)
{
	int st;

	return waitpid(e->busd, &st, WNOHANG) == 0;
}

/* busd lives and serves 'other': a publish and a receive through buscli. */
static void expect_serving(struct e2e *e)
{
	if (!busd_alive(e)) {
		e2e_dump_log(e);
		fail_msg("busd died");
	}
	e2e_cli_ok(e, NULL, "publish", "other", "still-here", NULL);
	e2e_cli_ok(e, "still-here\n", "recv", "other", "-n", "1", NULL);
}

static void death_after_truncate(void **state)
{
	struct e2e *e = *state;
	struct e2e_run r;
	uint64_t until;

	setup_queues(e);
	assert_int_equal(e2e_wait(e, e2e_fork(e, truncator, NULL), 30), 0);
	/* busd hears of the death through the pidfd and wakes every queue */
	until = e2e_now_ms() + 5000;
	while (e2e_log_count(e, "event=queue.truncated", NULL) == 0 && e2e_now_ms() < until)
		e2e_sleep_ms(10);
	if (e2e_log_count(e, "event=queue.truncated", NULL) == 0) {
		e2e_dump_log(e);
		fail_msg("busd did not report the truncated queue (%s)",
		         busd_alive(e) ? "alive" : "dead");
	}
	expect_serving(e);
	e2e_cli(e, &r, NULL, 0, 30, "list", NULL);
	assert_int_equal(r.status, 0);
	assert_null(strstr(r.out, "victim"));
	assert_non_null(strstr(r.out, "other"));
	e2e_run_free(&r);
}

static void delete_truncated(void **state)
{
	struct e2e *e = *state;
	pid_t t;

	setup_queues(e);
	t = start_truncator(e);
	e2e_cli_ok(e, NULL, "delete", "victim", NULL);
	expect_serving(e);
	close(go[1]);
	assert_int_equal(e2e_wait(e, t, 30), 0);
	expect_serving(e);
}

static void stats_and_restart(void **state)
{
	struct e2e *e = *state;
	struct e2e_run r;
	pid_t t;

	setup_queues(e);
	t = start_truncator(e);
	/* One bad queue: reported, the other shown, exit 1. */
	e2e_cli(e, &r, NULL, 0, 30, "stats", "--json", NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.out, "\"other\""));
	assert_non_null(strstr(r.err, "victim"));
	e2e_run_free(&r);
	/* A new busd refuses the segment and adopts the other one. */
	assert_int_equal(e2e_busd_stop(e), 0);
	e2e_busd_start(e);
	expect_serving(e);
	close(go[1]);
	assert_int_equal(e2e_wait(e, t, 30), 0);
	expect_serving(e);
}

E2E_MAIN("hostile truncate",
         E2E_TEST(death_after_truncate),
         E2E_TEST(delete_truncated),
         E2E_TEST(stats_and_restart))

/*
 * test_cli_rpc.c - buscli call and buscli serve.
 *
 *  - serve_answers: `serve --exec 'tr a-z A-Z' --count 4` answers calls
 *    given as an argument and on stdin, the reply written exactly as
 *    received (no newline added); a 300 KiB request through tr (more than
 *    a pipe holds, both ways) comes back whole; serve exits 0 at --count.
 *  - call_refusals: no service: --timeout ends the call with exit 3 and
 *    "no reply within"; a request larger than bus_client_max_request()
 *    (argument or stdin) is refused with exit 1, nothing sent; bad
 *    command lines exit 2.
 *  - plain_skipped: a plain message on the queue is skipped with a note
 *    on stderr and released, and the request behind it is answered.
 *  - command_fails: a command that exits non-zero still answers with its
 *    output and serve warns with the status; the command sees no
 *    descriptor of a bus segment; output larger than the largest reply
 *    kills the command and leaves the call unanswered (exit 3).
 *  - serve_sigterm: SIGTERM while a command runs: serve exits 0 at once,
 *    the command is gone, and the next serve answers the same request
 *    for the caller still waiting.
 *  - caller_killed: the caller is killed while its command runs: serve
 *    notes the caller is gone and answers the next call.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "harness.h"

#define WAIT_S E2E_SCALE(30, 120)

/* Waits until path exists; fails the test after WAIT_S. */
static void wait_file(const char *path)
{
	uint64_t end = e2e_now_ms() + WAIT_S * 1000u;
	struct stat sb;

	while (stat(path, &sb) < 0) {
		if (e2e_now_ms() > end)
			fail_msg("%s never appeared", path);
		e2e_sleep_ms(20);
	}
}

static void expect_reply(struct e2e *e, const char *queue, const char *in,
                         const char *arg, const char *want)
{
	struct e2e_run r;

	if (arg)
		e2e_cli(e, &r, NULL, 0, WAIT_S, "call", queue, arg, NULL);
	else
		e2e_cli(e, &r, in, in ? strlen(in) : 0, WAIT_S, "call", queue, NULL);
	if (r.status != 0 || r.out_len != strlen(want) || strcmp(r.out, want) != 0)
		fail_msg("call %s: status %d, stdout '%s' (want '%s'), stderr '%s'", queue,
		         r.status, r.out, want, r.err);
	assert_int_equal(r.err_len, 0);
	e2e_run_free(&r);
}

static void serve_answers(void **state)
{
	struct e2e *e = *state;
	size_t big = 300 * 1024;
	char *in = malloc(big + 1), *want = malloc(big + 1);
	struct e2e_proc p;
	struct e2e_run r;

	assert_non_null(in);
	assert_non_null(want);
	for (size_t i = 0; i < big; i++) {
		in[i] = (char)('a' + i % 26);
		want[i] = (char)('A' + i % 26);
	}
	in[big] = want[big] = '\0';
	e2e_create(e, "up", NULL); /* 1 MiB: requests up to 512 KiB - 48 */
	e2e_spawn_cli(e, &p, E2E_ERR, "serve", "up", "--exec", "tr a-z A-Z", "--count",
	              "4", NULL);
	expect_reply(e, "up", NULL, "hello", "HELLO");
	expect_reply(e, "up", "line one\nline two\n", NULL, "LINE ONE\nLINE TWO\n");
	expect_reply(e, "up", NULL, "Mixed 123", "MIXED 123");
	expect_reply(e, "up", in, NULL, want);
	e2e_communicate(e, &p, NULL, 0, WAIT_S, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.err_len, 0);
	e2e_run_free(&r);
	free(in);
	free(want);
}

struct bad_case {
	int status;
	const char *want;
	char *args[8];
};

static void call_refusals(void **state)
{
	struct e2e *e = *state;
	static char big[2002];
	const struct bad_case cases[] = {
		{2, "no command: give --exec", {"serve", "q"}},
		{2, "empty command", {"serve", "q", "--exec", ""}},
		{2, "count '0'", {"serve", "q", "--exec", "cat", "--count", "0"}},
		{2, "one queue at a time", {"serve", "q", "r", "--exec", "cat"}},
		{2, "one MESSAGE per call", {"call", "q", "a", "b"}},
		{2, "timeout 'soon'", {"call", "q", "--timeout", "soon", "x"}},
		{2, "type '12ab'", {"call", "q", "--type", "12ab", "x"}},
		{2, "no queue named", {"call"}},
		{1, "'nosuch': no such queue", {"call", "nosuch", "x"}},
		{1, "'nosuch': no such queue", {"serve", "nosuch", "--exec", "cat"}},
		/* a ring of 4 KiB: messages up to 2016 bytes, requests up to 2000 */
		{1, "request of 2001 bytes is larger than the largest request of 2000 "
	            "bytes (nothing sent)",
	         {"call", "q", big}},
		{3, "'q': no reply within 200 ms", {"call", "q", "--timeout", "200", "x"}},
	};
	struct e2e_run r;

	memset(big, 'b', 2001);
	e2e_create(e, "q", "4K");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad_case *c = &cases[i];

		e2e_cli_v(e, &r, NULL, 0, WAIT_S, c->args);
		if (r.status != c->status || !e2e_one_error_line(&r) ||
		    !strstr(r.err, c->want) || r.out_len != 0)
			fail_msg("case %zu: status %d (want %d), stderr '%s' (want '%s'), "
			         "stdout '%s'",
			         i, r.status, c->status, r.err, c->want, r.out);
		e2e_run_free(&r);
	}
	e2e_cli(e, &r, big, 2001, WAIT_S, "call", "q", NULL);
	e2e_expect_error(&r, 1, "stdin holds more than the largest request of 2000");
	/* only the timed-out call was sent */
	e2e_stats_has(e, "q", WAIT_S, "\"enqueued\":1,");
}

/* Ends and opens like call_refusals on purpose: each test's steps are in view. */
static void plain_skipped(void **state)
{
	struct e2e *e = *state;
	struct e2e_proc p;
	struct e2e_run r;

	e2e_create(e, "mixed", "64K");
	e2e_cli(e, &r, NULL, 0, WAIT_S, "publish", "mixed", "plain", NULL);
	assert_int_equal(r.status, 0);
	e2e_run_free(&r);
	e2e_spawn_cli(e, &p, E2E_ERR, "serve", "mixed", "--exec", "cat", "--count", "1",
	              NULL);
	expect_reply(e, "mixed", NULL, "request", "request");
	e2e_communicate(e, &p, NULL, 0, WAIT_S, &r);
	e2e_expect_error(&r, 0, "skipped a plain message (type 0, 5 bytes)");
	/* both were received and released: nothing is left */
	e2e_stats_has(e, "mixed", WAIT_S, "\"depth\":0,");
}

static void command_fails(void **state)
{
	struct e2e *e = *state;
	struct e2e_proc p;
	struct e2e_run r;

	e2e_create(e, "f", "4K");
	e2e_spawn_cli(e, &p, E2E_ERR, "serve", "f", "--exec", "echo out; exit 3",
	              "--count", "1", NULL);
	expect_reply(e, "f", NULL, "x", "out\n");
	e2e_communicate(e, &p, NULL, 0, WAIT_S, &r);
	e2e_expect_error(&r, 0, "exited with status 3; answered with its output");

	/* the command's descriptors: none is a bus segment */
	e2e_spawn_cli(e, &p, E2E_ERR, "serve", "f", "--exec", "ls -l /proc/$$/fd",
	              "--count", "2", NULL);
	for (int i = 0; i < 2; i++) { /* the second after serve talked to busd */
		e2e_cli(e, &r, NULL, 0, WAIT_S, "call", "f", "x", NULL);
		assert_int_equal(r.status, 0);
		assert_non_null(strstr(r.out, "pipe:"));
		if (strstr(r.out, "/dev/shm"))
			fail_msg("the command inherited a bus descriptor: %s", r.out);
		e2e_run_free(&r);
	}
	e2e_communicate(e, &p, NULL, 0, WAIT_S, &r);
	assert_int_equal(r.status, 0);
	e2e_run_free(&r);

	/* more than the largest reply of 2000 bytes: killed, not answered */
	e2e_spawn_cli(e, &p, E2E_ERR, "serve", "f", "--exec",
	              "head -c 2001 /dev/zero; sleep 30", "--count", "1", NULL);
	e2e_cli(e, &r, NULL, 0, WAIT_S, "call", "f", "--timeout", "2000", "x", NULL);
	e2e_expect_error(&r, 3, NULL);
	e2e_communicate(e, &p, NULL, 0, WAIT_S, &r);
	e2e_expect_error(&r, 0, "more than the largest reply of 2000 bytes; "
	                        "killed it, not answered");
}

static void serve_sigterm(void **state)
{
	struct e2e *e = *state;
	char mark[400], cmd[1400], pidbuf[32] = "";
	struct e2e_proc s, c;
	struct e2e_run r;
	uint64_t t0;
	FILE *f;
	long pid;

	snprintf(mark, sizeof(mark), "%s/started", e->dir);
	snprintf(cmd, sizeof(cmd), "echo $$ > %s.tmp; mv %s.tmp %s; exec sleep 30",
	         mark, mark, mark);
	e2e_create(e, "t", "64K");
	e2e_spawn_cli(e, &s, E2E_ERR, "serve", "t", "--exec", cmd, NULL);
	e2e_spawn_cli(e, &c, E2E_OUT | E2E_ERR, "call", "t", "--timeout", "20000",
	              "again", NULL);
	wait_file(mark);
	t0 = e2e_now_ms();
	kill(s.pid, SIGTERM);
	e2e_communicate(e, &s, NULL, 0, WAIT_S, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.err_len, 0);
	assert_true(e2e_now_ms() - t0 < 5000);
	e2e_run_free(&r);
	/* the command was terminated and reaped */
	f = fopen(mark, "r");
	assert_non_null(f);
	assert_non_null(fgets(pidbuf, sizeof(pidbuf), f));
	fclose(f);
	pid = strtol(pidbuf, NULL, 10);
	assert_true(pid > 0);
	assert_int_equal(kill((pid_t)pid, 0), -1);
	assert_int_equal(errno, ESRCH);
	/* the request stayed queued: the next serve answers the waiting caller */
	e2e_spawn_cli(e, &s, E2E_ERR, "serve", "t", "--exec", "tr a-z A-Z", "--count",
	              "1", NULL);
	e2e_communicate(e, &c, NULL, 0, WAIT_S, &r);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "AGAIN");
	e2e_run_free(&r);
	e2e_communicate(e, &s, NULL, 0, WAIT_S, &r);
	assert_int_equal(r.status, 0);
	e2e_run_free(&r);
}

static void caller_killed(void **state)
{
	struct e2e *e = *state;
	char mark[400], cmd[1400];
	struct e2e_proc s, c;
	struct e2e_run r;

	snprintf(mark, sizeof(mark), "%s/started", e->dir);
	snprintf(cmd, sizeof(cmd), "touch %s; sleep 1; cat", mark);
	e2e_create(e, "k", "64K");
	e2e_spawn_cli(e, &s, E2E_ERR, "serve", "k", "--exec", cmd, "--count", "2", NULL);
	e2e_spawn_cli(e, &c, E2E_OUT | E2E_ERR, "call", "k", "first", NULL);
	wait_file(mark);
	kill(c.pid, SIGKILL);
	e2e_communicate(e, &c, NULL, 0, WAIT_S, &r);
	assert_int_equal(r.status, 1000 + SIGKILL);
	e2e_run_free(&r);
	expect_reply(e, "k", NULL, "second", "second");
	e2e_communicate(e, &s, NULL, 0, WAIT_S, &r);
	e2e_expect_error(&r, 0, "request 1: the caller is gone; reply dropped");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		E2E_TEST(serve_answers),
		E2E_TEST(call_refusals),
		E2E_TEST(plain_skipped),
		E2E_TEST(command_fails),
		E2E_TEST(serve_sigterm),
		E2E_TEST(caller_killed),
	};

	return E2E_RUN_GROUP("e2e cli rpc", tests);
}

/*
 * test_cli.c - buscli as an operator meets it.
 *
 *  - bad_arguments: bad queue names, sizes, numbers and flags each give
 *    exit 2 (busd's refusals exit 1) and exactly one line on stderr, and
 *    busd serves on afterwards with nothing created by mistake.
 *  - recv_killed_midstream: `buscli recv` killed with SIGKILL while it
 *    prints; the next `recv` prints everything the first had not: the
 *    union of both outputs is every message, with no gap and at most the
 *    one message in flight printed twice.
 *  - recv_sigterm: SIGTERM stops `recv` with exit 0, and what it printed
 *    is released (the next `recv` gets only the rest).
 *  - publish_timeout: a full queue with --timeout fails with exit 1 and
 *    says how many messages were published; the stats agree.
 *  - recv_json: --json escapes text and switches to base64 for bytes that
 *    are not UTF-8, with every field of the message.
 *  - publish_recv_raw: `publish --raw` sends stdin byte for byte as one
 *    message (NULs, newlines, every byte value; empty stdin is an empty
 *    message) and refuses more than the queue's maximum, sending nothing;
 *    `recv --raw` writes the payload bytes alone.
 *  - help_and_version: --help for the tool and each command, --version.
 *  - examples: clients/examples/producer and consumer work through busd,
 *    and README.md quotes their main() functions exactly.
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
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "harness.h"

struct bad_case {
	int status;       /* expected exit status */
	const char *want; /* expected in the stderr line, or NULL */
	char *args[8];    /* buscli arguments after --socket S */
};

static char name65[66];
static char name64[65];

static void bad_arguments(void **state)
{
	struct e2e *e = *state;
	const struct bad_case cases[] = {
		{2, "'../etc'", {"create", "../etc"}},
		{2, "'a/b'", {"create", "a/b"}},
		{2, "empty queue name", {"create", ""}},
		{2, "65 characters", {"create", name65}},
		{2, "'..'", {"create", ".."}},
		{2, "capacity '0'", {"create", "q1", "--capacity", "0"}},
		{2, "capacity '-1'", {"create", "q1", "--capacity", "-1"}},
		{2, "capacity 'abc'", {"create", "q1", "--capacity", "abc"}},
		{2, "capacity '3'", {"create", "q1", "--capacity", "3"}},
		{2, "capacity '1000'", {"create", "q1", "--capacity", "1000"}},
		{2, "capacity '1T'", {"create", "q1", "--capacity", "1T"}},
		{2, "capacity '2G'", {"create", "q1", "--capacity", "2G"}},
		{2, "capacity '4Q'", {"create", "q1", "--capacity", "4Q"}},
		{2, "capacity ' 4096'", {"create", "q1", "--capacity", " 4096"}},
		{2, "capacity '99999999999999999999'", {"create", "q1", "--capacity", "99999999999999999999"}},
		{2, "'--capacity' needs a value", {"create", "q1", "--capacity"}},
		{2, "maximum message size '0'", {"create", "q1", "--max-message", "0"}},
		{2, "too large", {"create", "q1", "--capacity", "4K", "--max-message", "4K"}},
		{2, "producer count '0'", {"create", "q1", "--max-producers", "0"}},
		{2, "producer count '1025'", {"create", "q1", "--max-producers", "1025"}},
		{2, "'--bogus'", {"create", "q1", "--bogus"}},
		{2, "'-x'", {"list", "-x"}},
		{2, "'--bogus'", {"--bogus", "list"}},
		{2, "unknown command 'frob'", {"frob"}},
		{2, "no command", {NULL}},
		{2, "no queue named", {"create"}},
		{2, "one queue at a time", {"delete", "a", "b"}},
		{2, "unexpected argument", {"list", "extra"}},
		{2, "count '0'", {"recv", "q1", "--count", "0"}},
		{2, "count '-5'", {"recv", "q1", "--count", "-5"}},
		{2, "timeout 'soon'", {"recv", "q1", "--timeout", "soon"}},
		{2, "timeout '-2'", {"publish", "q1", "--timeout", "-2", "x"}},
		{2, "type ''", {"publish", "q1", "--type", "", "x"}},
		{2, "type '0x100000000'", {"publish", "q1", "--type", "0x100000000", "x"}},
		{2, "type 'demo..Order'", {"publish", "q1", "--type", "demo..Order", "x"}},
		{2, "type '12ab'", {"publish", "q1", "--type", "12ab", "x"}},
		{2, "watch interval '0'", {"stats", "--watch", "0"}},
		{2, "--raw reads the message from stdin", {"publish", "q1", "--raw", "x"}},
		{2, "--json and --raw", {"recv", "q1", "--json", "--raw"}},
		{2, "--prometheus goes alone", {"stats", "--prometheus", "--json"}},
		{2, "--prometheus goes alone", {"stats", "--prometheus", "--watch", "1"}},
		{2, "'a/b'", {"stats", "a/b"}},
		/* well-formed, refused by busd or the queue: exit 1 */
		{1, "'nosuch': no such queue", {"delete", "nosuch"}},
		{1, "'nosuch': no such queue", {"publish", "nosuch", "x"}},
		{1, "'nosuch': no such queue", {"recv", "nosuch", "--timeout", "10"}},
		{1, "'nosuch': no such queue", {"stats", "nosuch"}},
		{1, "'exists'", {"create", "exists"}},
	};
	struct e2e_run r;

	static char msg97[98];

	memset(name65, 'a', 65);
	memset(name64, 'b', 64);
	memset(msg97, 'm', 97);
	e2e_create(e, "exists", NULL);
	/* 64 characters is a fine name */
	e2e_create(e, name64, NULL);
	e2e_cli_ok(e, NULL, "delete", name64, NULL);
	/* a ring of 256 bytes takes messages of at most 96 */
	e2e_create(e, "tiny", "256");
	e2e_cli(e, &r, NULL, 0, 30, "publish", "tiny", msg97, NULL);
	assert_int_equal(r.status, 1);
	assert_true(e2e_one_error_line(&r));
	assert_non_null(strstr(r.err, "'tiny'"));
	assert_non_null(strstr(r.err, "larger than the queue's maximum"));
	assert_non_null(strstr(r.err, "(0 messages published)"));
	e2e_run_free(&r);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad_case *c = &cases[i];

		e2e_cli_v(e, &r, NULL, 0, 30, c->args);
		if (r.status != c->status || !e2e_one_error_line(&r) ||
		    (c->want && !strstr(r.err, c->want)) || r.out_len != 0)
			fail_msg("case %zu (%s %s %s): status %d (want %d), stderr '%s', "
			         "stdout '%s'",
			         i, c->args[0] ? c->args[0] : "",
			         c->args[0] && c->args[1] ? c->args[1] : "",
			         c->args[0] && c->args[1] && c->args[2] ? c->args[2] : "",
			         r.status, c->status, r.err, r.out);
		e2e_run_free(&r);
	}

	/* busd serves on, and only the queues meant to exist do */
	e2e_cli(e, &r, NULL, 0, 30, "list", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "{\"queues\":[{\"name\":\"exists\","));
	assert_non_null(strstr(r.out, "},{\"name\":\"tiny\","));
	assert_int_equal(strstr(r.out, "}]}\n") - r.out, r.out_len - 4);
	assert_null(strstr(r.out, "q1"));
	e2e_run_free(&r);
	for (int i = 0; i < 2; i++) {
		e2e_cli_ok(e, NULL, "delete", i ? "tiny" : "exists", NULL);
	}
}

/* Messages of the kill test: long enough that a few fill the pipe. */
#define KILL_MSGS  1000
#define KILL_WIDTH 900

static void kill_msg(char *buf, int i)
{
	memset(buf, 'a' + i % 26, KILL_WIDTH);
	snprintf(buf, 16, "%06d ", i);
	buf[7] = 'x';
	buf[KILL_WIDTH] = '\0';
}

/* Index of a line printed by recv, or -1 if it is not one we sent. */
static int kill_index(const char *line, size_t len)
{
	char want[KILL_WIDTH + 1], digits[7];
	char *end;
	long i;

	/* kill_msg() starts with six digits; the memcmp checks the rest. */
	if (len != KILL_WIDTH)
		return -1;
	memcpy(digits, line, 6);
	digits[6] = '\0';
	errno = 0;
	i = strtol(digits, &end, 10);
	if (end != digits + 6 || errno == ERANGE || i < 0 || i >= KILL_MSGS)
		return -1;
	kill_msg(want, (int)i);
	return memcmp(want, line, len) == 0 ? (int)i : -1;
}

/* Counts each message in out (lines); checks they come in order. */
static void tally_lines(const char *out, size_t len, int *seen, int *last)
{
	const char *p = out, *end = out + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		int i;

		assert_non_null(nl);
		i = kill_index(p, (size_t)(nl - p));
		if (i < 0)
			fail_msg("unexpected line: %.*s", (int)(nl - p), p);
		assert_true(i > *last); /* in order within one run */
		*last = i;
		seen[i]++;
		p = nl + 1;
	}
}

static void recv_killed_midstream(void **state)
{
	struct e2e *e = *state;
	char *in = malloc((size_t)KILL_MSGS * (KILL_WIDTH + 1));
	char *out1 = NULL;
	size_t len1 = 0, cap1 = 0, n = 0;
	int seen[KILL_MSGS] = {0}, last = -1, dups = 0, first_flagged = -1, st;
	struct e2e_proc p;
	struct e2e_run r;

	assert_non_null(in);
	for (int i = 0; i < KILL_MSGS; i++) {
		kill_msg(in + n, i);
		n += KILL_WIDTH;
		in[n++] = '\n';
	}
	e2e_create(e, "killme", "4M");
	e2e_cli(e, &r, in, n, 60, "publish", "killme", NULL);
	assert_int_equal(r.status, 0);
	e2e_run_free(&r);

	/* read 300 lines, then stop reading: recv blocks on a full pipe */
	e2e_spawn_cli(e, &p, E2E_OUT, "recv", "killme", NULL);
	e2e_read_lines(p.out, &out1, &len1, &cap1, 300, 30000);
	assert_true(e2e_count_lines(out1, len1) >= 300);
	{
		/*
		 * Until the pipe stays full (what it holds no longer grows): recv
		 * is then blocked writing a message it received and holds.
		 */
		int queued = 0, before = -1, still = 0;
		uint64_t deadline = e2e_now_ms() + 30000;

		while (still < 3 && e2e_now_ms() < deadline) {
			e2e_sleep_ms(100);
			assert_int_equal(ioctl(p.out, FIONREAD, &queued), 0);
			still = queued == before && queued >= 16 * KILL_WIDTH ? still + 1 : 0;
			before = queued;
		}
		assert_int_equal(still, 3);
	}
	kill(p.pid, SIGKILL);
	st = e2e_wait(e, p.pid, 30);
	assert_int_equal(st, 1000 + SIGKILL);
	/* everything it wrote before it died is in the pipe: take it all */
	assert_int_equal(e2e_read_lines(p.out, &out1, &len1, &cap1, SIZE_MAX, 30000), 1);
	close(p.out);
	assert_true(len1 > 0 && out1[len1 - 1] == '\n'); /* whole lines only */
	tally_lines(out1, len1, seen, &last);
	assert_true(last < KILL_MSGS - 1); /* it really was killed midstream */

	/* the next consumer, in JSON to see the redelivery flag */
	e2e_cli(e, &r, NULL, 0, 60, "recv", "killme", "--json", "--timeout",
	        E2E_SCALE("1000", "3000"), NULL);
	assert_int_equal(r.status, 0);
	last = -1;
	for (char *line = r.out, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		char payload[KILL_WIDTH + 1];
		int i;

		*nl = '\0';
		if (!e2e_json_str(line, "payload", payload, sizeof(payload)))
			fail_msg("bad JSON line: %.80s", line);
		i = kill_index(payload, strlen(payload));
		assert_true(i > last);
		last = i;
		/* what the killed one held comes first, flagged */
		if (strstr(line, "\"redelivered\":true")) {
			assert_true(first_flagged < 0 && line == r.out);
			first_flagged = i;
		}
		seen[i]++;
	}
	e2e_run_free(&r);
	for (int i = 0; i < KILL_MSGS; i++) {
		if (seen[i] == 0)
			fail_msg("message %d lost", i);
		assert_true(seen[i] <= 2);
		if (seen[i] == 2)
			assert_int_equal(i, first_flagged); /* a duplicate is a redelivery */
		dups += seen[i] - 1;
	}
	fprintf(stderr, "first recv printed %zu lines; %d printed twice; %s\n",
	        e2e_count_lines(out1, len1), dups,
	        first_flagged >= 0 ? "one redelivered" : "none redelivered");
	assert_true(dups <= 1);
	/* recv was blocked writing one message it held: that one came again */
	assert_true(first_flagged >= 0);
	e2e_stats_has(e, "killme", 30, "\"redelivered\":1,");
	free(out1);
	free(in);
	e2e_cli_ok(e, NULL, "delete", "killme", NULL);
}

static void recv_sigterm(void **state)
{
	struct e2e *e = *state;
	char *out = NULL;
	size_t len = 0, cap = 0;
	struct e2e_proc p;
	struct e2e_run r;

	e2e_create(e, "term", NULL);
	e2e_spawn_cli(e, &p, E2E_OUT | E2E_ERR, "recv", "term", NULL);
	e2e_cli(e, &r, "1\n2\n3\n4\n5\n", 10, 30, "publish", "term", NULL);
	assert_int_equal(r.status, 0);
	e2e_run_free(&r);
	e2e_read_lines(p.out, &out, &len, &cap, 5, 30000);
	assert_string_equal(out, "1\n2\n3\n4\n5\n");
	kill(p.pid, SIGTERM);
	e2e_communicate(e, &p, NULL, 0, 30, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.err_len, 0);
	assert_int_equal(r.out_len, 0);
	e2e_run_free(&r);
	free(out);

	e2e_cli(e, &r, "6\n", 2, 30, "publish", "term", NULL);
	assert_int_equal(r.status, 0);
	e2e_run_free(&r);
	e2e_cli_ok(e, "6\n", "recv", "term", "--timeout", "0", NULL);
	e2e_stats_json(e, &r, "term", 30);
	assert_non_null(strstr(r.out, "\"enqueued\":6,"));
	assert_non_null(strstr(r.out, "\"dequeued\":6,"));
	assert_non_null(strstr(r.out, "\"depth\":0,"));
	e2e_run_free(&r);
	e2e_cli_ok(e, NULL, "delete", "term", NULL);
}

static void publish_timeout(void **state)
{
	struct e2e *e = *state;
	char in[1000], want[96];
	uint64_t published = 0;
	struct e2e_run r;
	size_t n = 0;
	const char *p;
	char *end;

	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(in + n, sizeof(in) - n, "msg-%03d\n", i);
	e2e_create(e, "full", "256");
	e2e_cli(e, &r, in, n, 30, "publish", "full", "--timeout", "50", NULL);
	assert_int_equal(r.status, 1);
	assert_true(e2e_one_error_line(&r));
	assert_non_null(strstr(r.err, "buscli: publish to 'full': timed out ("));
	p = strstr(r.err, "timed out (") + strlen("timed out (");
	assert_true(*p >= '0' && *p <= '9');
	errno = 0;
	published = strtoull(p, &end, 10);
	assert_int_equal(errno, 0);
	assert_string_equal(end, " messages published)\n");
	assert_true(published > 0 && published < 100);
	e2e_run_free(&r);
	e2e_stats_json(e, &r, "full", 30);
	snprintf(want, sizeof(want), "\"enqueued\":%" PRIu64 ",", published);
	assert_non_null(strstr(r.out, want));
	assert_non_null(strstr(r.out, "\"full\":"));
	assert_null(strstr(r.out, "\"full\":0,"));
	e2e_run_free(&r);
	/* --timeout 0 fails at once */
	e2e_cli(e, &r, NULL, 0, 30, "publish", "full", "--timeout", "0", "x", NULL);
	e2e_expect_error(&r, 1, "(0 messages published)");
	e2e_cli_ok(e, NULL, "delete", "full", NULL);
}

/* Test functions open alike on purpose: each declares its handles in view. */
static void recv_json(void **state)
{
	struct e2e *e = *state;
	static const char text[] = "he said \"hi\"\n\tback\\slash \xc3\xa9t\xc3\xa9";
	static const unsigned char bytes[] = {0xff, 0xfe, 0x00, 'a'};
	char want[512];
	bus_producer *p;
	struct e2e_run r;
	bus *b;

	e2e_create(e, "json", NULL);
	b = e2e_open(e);
	assert_int_equal(bus_producer_open(b, "json", &p), 0);
	assert_int_equal(bus_send(p, bus_type_id("demo.Order"), text, strlen(text), 0), 0);
	assert_int_equal(bus_send(p, 0x1234, bytes, sizeof(bytes), 0), 0);
	assert_int_equal(bus_send(p, 0, "", 0, 0), 0);
	e2e_cli(e, &r, NULL, 0, 30, "recv", "json", "--json", "--count", "3", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(e2e_count_lines(r.out, r.out_len), 3);
	snprintf(want, sizeof(want),
	         "{\"type\":%" PRIu32 ",\"producer\":%" PRIu32 ",\"seq\":",
	         bus_type_id("demo.Order"), bus_producer_slot(p));
	assert_non_null(strstr(r.out, want));
	assert_non_null(strstr(r.out, ",\"len\":30,\"redelivered\":false,\"encoding\":"
	                              "\"utf-8\",\"payload\":\"he said \\\"hi\\\"\\n\\t"
	                              "back\\\\slash \xc3\xa9t\xc3\xa9\"}\n"));
	assert_non_null(strstr(r.out, "{\"type\":4660,"));
	assert_non_null(strstr(r.out, ",\"len\":4,\"redelivered\":false,\"encoding\":"
	                              "\"base64\",\"payload\":\"//4AYQ==\"}\n"));
	assert_non_null(strstr(r.out, ",\"len\":0,\"redelivered\":false,\"encoding\":"
	                              "\"utf-8\",\"payload\":\"\"}\n"));
	e2e_run_free(&r);
	bus_producer_close(p);
	bus_close(b);
	e2e_cli_ok(e, NULL, "delete", "json", NULL);
}

static void publish_recv_raw(void **state)
{
	struct e2e *e = *state;
	unsigned char bytes[600];
	struct e2e_run r;
	uint64_t v;

	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (unsigned char)(i * 7); /* every byte value, NUL and \n too */
	e2e_create(e, "raw", NULL);
	e2e_cli(e, &r, bytes, sizeof(bytes), 30, "publish", "raw", "--raw", "--type",
	        "0x2a", NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "published 1 message to 'raw'\n");
	e2e_run_free(&r);
	e2e_cli_ok(e, "published 1 message to 'raw'\n", "publish", "raw", "--raw", NULL);

	/* the first message, byte for byte, and nothing else */
	e2e_cli(e, &r, NULL, 0, 30, "recv", "raw", "-n", "1", "--raw", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.out_len, sizeof(bytes));
	assert_memory_equal(r.out, bytes, sizeof(bytes));
	e2e_run_free(&r);
	/* the empty one is an empty message, not none */
	e2e_cli(e, &r, NULL, 0, 30, "recv", "raw", "-n", "1", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_true(e2e_json_u64(r.out, "len", &v));
	assert_int_equal(v, 0);
	assert_true(e2e_json_u64(r.out, "type", &v));
	assert_int_equal(v, 0);
	e2e_run_free(&r);

	/* a ring of 256 bytes takes at most 96: 97 bytes are refused whole */
	e2e_create(e, "rawtiny", "256");
	e2e_cli(e, &r, bytes, 97, 30, "publish", "rawtiny", "--raw", NULL);
	e2e_expect_error(&r, 1, "publish to 'rawtiny': stdin holds more than "
	                        "the queue's maximum message of 96 bytes "
	                        "(nothing published)");
	e2e_cli(e, &r, bytes, 96, 30, "publish", "rawtiny", "--raw", NULL);
	assert_int_equal(r.status, 0);
	e2e_run_free(&r);
	e2e_cli(e, &r, NULL, 0, 30, "recv", "rawtiny", "--raw", "--timeout", "200", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.out_len, 96);
	assert_memory_equal(r.out, bytes, 96);
	e2e_run_free(&r);
}

static void help_and_version(void **state)
{
	struct e2e *e = *state;
	static const char *const cmds[] = {"create", "delete", "list", "publish", "recv",
	                                   "stats", "call", "serve"};
	struct e2e_run r;

	e2e_cli(e, &r, NULL, 0, 30, "--help", NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "Usage: buscli"));
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		assert_non_null(strstr(r.out, cmds[i]));
	e2e_run_free(&r);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char want[64];

		e2e_cli(e, &r, NULL, 0, 30, cmds[i], "--help", NULL);
		assert_int_equal(r.status, 0);
		assert_int_equal(r.err_len, 0);
		snprintf(want, sizeof(want), "Usage: buscli [--socket PATH] %s", cmds[i]);
		assert_non_null(strstr(r.out, want));
		e2e_run_free(&r);
	}
	e2e_cli_ok(e, "buscli 0.1.0\n", "--version", NULL);
}

/* The text of path's "int main(" up to the "}" that closes it. */
static char *main_of(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text, *start, *end;
	long size;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)size + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	start = strstr(text, "\nint main(");
	assert_non_null(start);
	start++;
	end = strstr(start, "\n}\n");
	assert_non_null(end);
	end[3] = '\0';
	memmove(text, start, strlen(start) + 1);
	return text;
}

static void examples(void **state)
{
	struct e2e *e = *state;
	const char *src = getenv("SRCDIR"), *prod = getenv("PRODUCER"),
		   *cons = getenv("CONSUMER");
	char path[1024], *readme, *code;
	struct e2e_run r;

	if (!src || !prod || !cons)
		skip();
	/* README quotes exactly the code that is built */
	snprintf(path, sizeof(path), "%s/README.md", src);
	{
		FILE *f = fopen(path, "r");
		long size;

		assert_non_null(f);
		fseek(f, 0, SEEK_END);
		size = ftell(f);
		rewind(f);
		readme = calloc(1, (size_t)size + 1);
		assert_non_null(readme);
		assert_int_equal(fread(readme, 1, (size_t)size, f), (size_t)size);
		fclose(f);
	}
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/clients/examples/%s", src,
		         i ? "consumer.c" : "producer.c");
		code = main_of(path);
		if (!strstr(readme, code))
			fail_msg("README.md does not quote main() of %s as it is", path);
		free(code);
	}
	free(readme);

	assert_int_equal(setenv("BUS_SOCKET", e->socket, 1), 0);
	e2e_create(e, "demo.orders", NULL);
	e2e_exec(e, &r, 30, prod, "demo.orders", "4", NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "producer: sent 4 demo.Order messages to "
	                           "'demo.orders'\n");
	e2e_run_free(&r);
	e2e_cli_ok(e, NULL, "publish", "demo.orders", "hello", NULL);
	e2e_exec(e, &r, 30, cons, "demo.orders", "5", NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "order 1: ACME +100 @ 12.750000\n"
	                           "order 2: ACME -200 @ 13.000000\n"
	                           "order 3: ACME +300 @ 13.250000\n"
	                           "order 4: ACME -400 @ 13.500000\n"
	                           "text: hello\n");
	e2e_run_free(&r);
	e2e_cli_ok(e, NULL, "delete", "demo.orders", NULL);
	/* without busd they say so and fail */
	assert_int_equal(e2e_busd_stop(e), 0);
	e2e_exec(e, &r, 30, prod, "demo.orders", NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "producer: cannot reach busd"));
	e2e_run_free(&r);
	unsetenv("BUS_SOCKET");
}

/* The loan example's line i, as loan-producer.c writes it. */
static size_t loan_line(char *buf, long i)
{
	int n = snprintf(buf, 64, "line %ld: ", i);
	size_t len = (size_t)n;

	for (long k = 0; k < i % 40; k++)
		buf[len++] = (char)('a' + (i + k) % 26);
	buf[len] = '\0';
	return len;
}

/*
 * clients/examples/loan-producer writes 20 records in place and aborts
 * every third: the consumer gets exactly the 14 committed ones, in order,
 * each with its own length and bytes, and none of the aborted ones.
 */
/* Runs its example as the test above does, on purpose: each checks its own output. */
static void loan_example(void **state)
{
	struct e2e *e = *state;
	const char *prod = getenv("LOAN_PRODUCER");
	char want[256], line[64];
	const char *at;
	struct e2e_run r;

	if (!prod)
		skip();
	assert_int_equal(setenv("BUS_SOCKET", e->socket, 1), 0);
	e2e_create(e, "loans", NULL);
	e2e_exec(e, &r, 30, prod, "loans", "20", NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "loan-producer: committed 14, aborted 6 records "
	                           "to 'loans'\n");
	e2e_run_free(&r);
	unsetenv("BUS_SOCKET");
	e2e_cli(e, &r, NULL, 0, 30, "recv", "loans", "--json", "--count", "14", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(e2e_count_lines(r.out, r.out_len), 14);
	at = r.out;
	for (long i = 1; i <= 20; i++) {
		size_t len = loan_line(line, i);

		snprintf(want, sizeof(want),
		         ",\"len\":%zu,\"redelivered\":false,\"encoding\":\"utf-8\","
		         "\"payload\":\"%s\"}\n",
		         len, line);
		if (i % 3 == 0) {
			if (strstr(r.out, want))
				fail_msg("aborted line %ld was delivered", i);
			continue;
		}
		at = strstr(at, want);
		if (!at)
			fail_msg("line %ld missing or out of order: %s", i, r.out);
	}
	e2e_run_free(&r);
	/* Nothing else waits: the aborted records were skipped. */
	e2e_cli(e, &r, NULL, 0, 30, "recv", "loans", "--timeout", "200", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.out_len, 0);
	e2e_run_free(&r);
	e2e_stats_json(e, &r, "loans", 30);
	assert_non_null(strstr(r.out, "\"enqueued\":14,"));
	assert_non_null(strstr(r.out, "\"aborted\":6,"));
	e2e_run_free(&r);
	e2e_cli(e, &r, NULL, 0, 30, "stats", "loans", "--prometheus", NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "bus_queue_aborted_total{queue=\"loans\"} 6\n"));
	e2e_run_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		E2E_TEST(bad_arguments),
		E2E_TEST(recv_killed_midstream),
		E2E_TEST(recv_sigterm),
		E2E_TEST(publish_timeout),
		E2E_TEST(recv_json),
		E2E_TEST(publish_recv_raw),
		E2E_TEST(help_and_version),
		E2E_TEST(examples),
		E2E_TEST(loan_example),
	};

	return E2E_RUN_GROUP("e2e cli", tests);
}

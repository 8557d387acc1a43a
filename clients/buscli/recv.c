/*
 * recv.c - buscli recv: be a queue's consumer and print what arrives.
 *
 * The promise is that killing buscli never loses a message: a message is
 * released (its space given back, so it will not be delivered again) only
 * after its output has been written to stdout in full.  A consumer killed
 * in between leaves it unreleased, and the next consumer receives it again
 * (so the one message in flight, or the one batch with --batch, may be
 * printed twice across the two runs, never lost).
 *
 * Output goes through our own buffer and write(2), not stdio, so "written"
 * means the kernel has it.  SIGINT and SIGTERM raise a flag (no
 * SA_RESTART): a receive that is waiting notices within RECV_SLICE_MS, a
 * write that has not started yet is abandoned (its messages stay
 * unreleased), and one that has started is finished first.
 *
 * libbus restarts its futex wait after a signal, so waiting happens in
 * slices of RECV_SLICE_MS with the flag checked between them; each slice
 * that ends empty counts as one consumer sleep in the stats.
 *
 * --raw writes the payload bytes alone, with nothing between messages:
 * with --count 1 that is exactly one message, ready for a decoder such as
 * `protoc --decode`.  Several raw messages run together (protobuf has no
 * framing of its own, and protoc reads one message per input).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buscli.h"

#define RECV_SLICE_MS 200
#define MAX_BATCH     1024u

static const char recv_help[] =
	"Usage: " PROG " [--socket PATH] recv QUEUE [OPTIONS]\n"
	"\n"
	"Attaches as the consumer of QUEUE (a queue has one consumer at a time)\n"
	"and prints each message: its payload and a newline, or with --json one\n"
	"JSON object per line:\n"
	"  {\"type\":..,\"producer\":..,\"seq\":..,\"enqueue_ns\":..,\"len\":..,\n"
	"   \"redelivered\":false,\"encoding\":\"utf-8\"|\"base64\",\"payload\":\"..\"}\n"
	"(the payload as a JSON string if it is valid UTF-8, else in base64).\n"
	"\n"
	"A message is released only after its output is written, so killing\n"
	"buscli loses nothing: what it had not printed goes to the next consumer.\n"
	"\n"
	"Options:\n"
	"  -n, --count N       stop after N messages\n"
	"  -T, --timeout MS    stop when no message arrives for MS milliseconds\n"
	"                      (default: -1, wait forever; 0: take what is there)\n"
	"  -j, --json          print JSON lines with every field of a message\n"
	"  -r, --raw           write the payload bytes only, no newline (use with\n"
	"                      -n 1 to get exactly one message, e.g. for\n"
	"                      protoc --decode=TYPE FILE.proto)\n"
	"  -b, --batch N       receive up to N messages before each release\n"
	"                      (default 1; faster, but up to N messages may be\n"
	"                      printed again by the next consumer if killed)\n"
	"  -s, --socket PATH   busd's socket\n"
	"  -h, --help          show this help\n"
	"\n"
	"Exit status: 0 when --count is reached, when --timeout ends the run, or\n"
	"on SIGINT/SIGTERM (everything printed is released); 1 on an error, e.g.\n"
	"the queue already has a consumer or was deleted (after printing what was\n"
	"left); 2 for a bad command line.\n";

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

enum format {
	FMT_TEXT,
	FMT_JSON,
	FMT_RAW
};

/*
 * Formats m into out.  JSON reads the payload twice (is it UTF-8? then
 * escape it), and a producer can rewrite its record meanwhile, so it is
 * formatted from a private copy in scratch: what was checked is what is
 * printed, and a rewrite cannot smuggle an unescaped quote into the line.
 * Text and raw output copy each byte once and check nothing.
 */
static void format_msg(struct buf *out, struct buf *scratch, const bus_msg *m,
                       enum format fmt)
{
	const void *data;

	if (fmt == FMT_RAW) {
		buf_put(out, m->data, m->len);
		return;
	}
	if (fmt == FMT_TEXT) {
		buf_put(out, m->data, m->len);
		buf_put(out, "\n", 1);
		return;
	}
	buf_printf(out, "{\"type\":%" PRIu32 ",\"producer\":%" PRIu32 ",\"seq\":%" PRIu64 ",\"enqueue_ns\":%" PRIu64 ",\"len\":%zu,\"redelivered\":%s,",
	           m->type, m->producer, m->seq, m->enqueue_ns, m->len,
	           m->flags & BUS_MSG_REDELIVERED ? "true" : "false");
	scratch->len = 0;
	buf_put(scratch, m->data, m->len);
	if (scratch->oom) {
		out->oom = true;
		return;
	}
	/* Only the copy from here on: keep the compiler from reading m->data. */
	atomic_signal_fence(memory_order_seq_cst);
	data = scratch->p;
	if (utf8_valid(data, m->len)) {
		buf_puts(out, "\"encoding\":\"utf-8\",\"payload\":");
		buf_json_str(out, data, m->len);
	} else {
		buf_puts(out, "\"encoding\":\"base64\",\"payload\":\"");
		buf_base64(out, data, m->len);
		buf_puts(out, "\"");
	}
	buf_puts(out, "}\n");
}

/*
 * Writes out to stdout.  Returns 0 once all of it is written, -EINTR if a
 * stop signal came before any byte was (nothing printed), or a negative
 * errno of write(2).
 */
static int write_out(const struct buf *out)
{
	size_t done = 0;

	while (done < out->len) {
		ssize_t w = write(STDOUT_FILENO, out->p + done, out->len - done);

		if (w < 0) {
			if (errno != EINTR)
				return -errno;
			if (cli_stop && done == 0)
				return -EINTR;
			continue;
		}
		done += (size_t)w;
	}
	return 0;
}

int cmd_recv(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"count", required_argument, NULL, 'n'},
		{"timeout", required_argument, NULL, 'T'},
		{"json", no_argument, NULL, 'j'},
		{"batch", required_argument, NULL, 'b'},
		{"raw", no_argument, NULL, 'r'},
		CLI_COMMON_OPTS,
		{0},
	};
	uint64_t count = 0, got = 0, batch = 1, deadline = 0, v;
	bus_msg msgs[MAX_BATCH];
	struct buf out = {0}, scratch = {0};
	const char *queue;
	int timeout_ms = -1;
	enum format fmt = FMT_TEXT;
	bool json = false, raw = false;
	bus_consumer *cons;
	bus *b;
	int c, rc;

	while ((c = cli_getopt(cli, "recv", recv_help, argc, argv, ":n:T:jb:rs:h", opts, &rc)) >= 0) {
		switch (c) {
		case 'n':
			if (cli_opt_count("recv", optarg, &count))
				return EXIT_USAGE;
			break;
		case 'T':
			if (cli_opt_timeout("recv", optarg, &timeout_ms))
				return EXIT_USAGE;
			break;
		case 'j':
			json = true;
			break;
		case 'b':
			if (cli_parse_u64(optarg, 1, MAX_BATCH, &v) < 0)
				return cli_usage_error("recv", "invalid batch '%s': want 1 to %u",
				                       optarg, MAX_BATCH);
			batch = v;
			break;
		case 'r':
			raw = true;
			break;
		}
	}
	if (c == CLI_OPT_DONE)
		return rc;
	if (json && raw)
		return cli_usage_error("recv", "--json and --raw do not go together");
	fmt = json ? FMT_JSON : raw ? FMT_RAW
	                            : FMT_TEXT;
	if ((rc = cli_only_queue("recv", argc, argv, &queue)) != 0)
		return rc;
	cli_catch_stop_signals();
	if (cli_connect(cli, "recv", false, &b) < 0)
		return EXIT_FAIL;
	rc = bus_consumer_open(b, queue, &cons);
	if (rc < 0)
		return cli_busd_fail(b, rc, "recv from '%s'", queue);
	bus_close(b); /* not on the data path */

	if (timeout_ms >= 0)
		deadline = now_ms() + (uint64_t)timeout_ms;
	rc = 0;
	while (!cli_stop && (count == 0 || got < count)) {
		size_t want = (size_t)batch;
		int wait_ms = RECV_SLICE_MS;
		int n;

		if (count && count - got < want)
			want = (size_t)(count - got);
		if (timeout_ms >= 0) {
			uint64_t now = now_ms();

			wait_ms = deadline > now ? (int)(deadline - now) : 0;
			if (wait_ms > RECV_SLICE_MS)
				wait_ms = RECV_SLICE_MS;
		}
		n = bus_recv_batch(cons, msgs, want, wait_ms);
		if (n == -ETIMEDOUT || n == -EAGAIN) {
			if (timeout_ms >= 0 && now_ms() >= deadline)
				break; /* quiet for --timeout: the run is over */
			continue;
		}
		if (n < 0) {
			rc = n;
			break;
		}
		out.len = 0;
		for (int i = 0; i < n; i++)
			format_msg(&out, &scratch, &msgs[i], fmt);
		rc = out.oom ? -ENOMEM : write_out(&out);
		if (rc < 0) {
			/*
			 * The batch is received and not (fully) printed: it must not
			 * be released, and bus_consumer_close() would release it.
			 * Leave without closing; the kernel drops the consumer lock
			 * and the next consumer starts at the released head.
			 */
			if (rc != -EINTR)
				cli_error("recv from '%s': writing the output: %s (%" PRIu64
				          " messages printed and released; the rest stay queued)",
				          queue, strerror(-rc), got);
			_exit(rc == -EINTR ? EXIT_OK : EXIT_FAIL);
		}
		bus_release(cons);
		got += (uint64_t)n;
		if (timeout_ms >= 0)
			deadline = now_ms() + (uint64_t)timeout_ms;
	}
	buf_free(&out);
	buf_free(&scratch);
	bus_consumer_close(cons); /* everything received was printed */
	if (rc == -EPIPE) {
		cli_error("recv from '%s': queue deleted (%" PRIu64 " messages received)",
		          queue, got);
		return EXIT_FAIL;
	}
	if (rc < 0) {
		cli_error("recv from '%s': %s (%" PRIu64 " messages received)", queue,
		          bus_strerror(rc), got);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

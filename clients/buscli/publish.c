/*
 * publish.c - buscli publish: send messages to a queue.
 *
 * Each argument is one message; with none, each line of stdin is one
 * message without its newline (a last line without one counts too, an
 * empty line is an empty message).  stdin is read with read(2) into a
 * large buffer and cut at newlines in place, so a pipe streams at the
 * speed of the ring: one read per megabyte, no copy but the one into the
 * ring.
 *
 * busd only hands over the segment: once attached, the connection is
 * closed and every send touches only shared memory.  A full queue waits
 * --timeout milliseconds per message (default forever); any failure stops
 * the run and says how many messages were published before it.
 *
 * --raw sends all of stdin as one message, byte for byte: the way to
 * publish a binary payload such as `protoc --encode` output.  Empty stdin
 * is an empty message (a protobuf message with every field at its default
 * encodes to zero bytes); more than the queue's largest message is
 * refused before anything is sent.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buscli.h"

#define READ_CHUNK (1u << 20)

static const char publish_help[] =
	"Usage: " PROG " [--socket PATH] publish QUEUE [OPTIONS] [MESSAGE...]\n"
	"\n"
	"Sends each MESSAGE to QUEUE as one message; with no MESSAGE, sends each\n"
	"line of stdin (without its newline) as one message.\n"
	"\n"
	"Options:\n"
	"  -r, --raw            send all of stdin, byte for byte, as one message\n"
	"                       (binary payloads such as protoc --encode output;\n"
	"                       empty stdin sends an empty message)\n"
	"  -t, --type NAME|ID   message type: a number (decimal or 0x hex) or a\n"
	"                       protobuf full name such as demo.Order, hashed with\n"
	"                       bus_type_id() (default: 0, untyped)\n"
	"  -T, --timeout MS     how long a message may wait for space in a full\n"
	"                       queue (default: -1, forever; 0: fail at once)\n"
	"  -s, --socket PATH    busd's socket\n"
	"  -h, --help           show this help\n"
	"\n"
	"Prints how many messages it published.  On failure (queue deleted, full\n"
	"past the timeout, message too large) it stops, says how many were\n"
	"published before, and exits 1.\n";

struct publish {
	const char *queue;
	bus_producer *p;
	uint32_t type;
	int timeout_ms;
	uint64_t sent;
};

/* Sends one message; reports a failure and returns EXIT_FAIL. */
static int send_one(struct publish *pub, const void *data, size_t len)
{
	int rc = bus_send(pub->p, pub->type, data, len, pub->timeout_ms);

	if (rc < 0) {
		if (rc == -EMSGSIZE)
			cli_error("publish to '%s': message %" PRIu64 " of %zu bytes is larger "
			          "than the queue's maximum of %zu (%" PRIu64 " messages published)",
			          pub->queue, pub->sent + 1, len,
			          bus_producer_max_message(pub->p), pub->sent);
		else
			cli_error("publish to '%s': %s (%" PRIu64 " messages published)",
			          pub->queue, bus_strerror(rc), pub->sent);
		return EXIT_FAIL;
	}
	pub->sent++;
	return EXIT_OK;
}

/*
 * Sends all of stdin as one message.  Reads at most the queue's maximum
 * plus one byte, so an oversized input is refused without holding it all.
 */
static int publish_raw(struct publish *pub)
{
	size_t max = bus_producer_max_message(pub->p);
	size_t len = 0, cap = max + 1;
	char *buf = malloc(cap);
	int rc;

	if (!buf) {
		cli_error("publish to '%s': out of memory", pub->queue);
		return EXIT_FAIL;
	}
	while (len < cap) {
		ssize_t n = read(STDIN_FILENO, buf + len, cap - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cli_error("publish to '%s': reading stdin: %s (nothing published)",
			          pub->queue, strerror(errno));
			free(buf);
			return EXIT_FAIL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		cli_error("publish to '%s': stdin holds more than the queue's maximum "
		          "message of %zu bytes (nothing published)",
		          pub->queue, max);
		free(buf);
		return EXIT_FAIL;
	}
	rc = send_one(pub, buf, len);
	free(buf);
	return rc;
}

/* Sends every line of stdin. */
static int publish_stdin(struct publish *pub)
{
	size_t max = bus_producer_max_message(pub->p);
	size_t cap = READ_CHUNK, start = 0, end = 0;
	char *buf = malloc(cap);
	bool eof = false;
	int rc = EXIT_OK;

	if (!buf) {
		cli_error("publish to '%s': out of memory", pub->queue);
		return EXIT_FAIL;
	}
	while (rc == EXIT_OK) {
		char *nl = memchr(buf + start, '\n', end - start);
		ssize_t n;

		if (nl) {
			rc = send_one(pub, buf + start, (size_t)(nl - (buf + start)));
			start = (size_t)(nl - buf) + 1;
			continue;
		}
		if (eof) {
			if (start < end)
				rc = send_one(pub, buf + start, end - start);
			break;
		}
		/* keep the partial line, make room after it */
		memmove(buf, buf + start, end - start);
		end -= start;
		start = 0;
		if (end > max) {
			cli_error("publish to '%s': line %" PRIu64 " is longer than the queue's "
			          "maximum message of %zu bytes (%" PRIu64 " messages published)",
			          pub->queue, pub->sent + 1, max, pub->sent);
			rc = EXIT_FAIL;
			break;
		}
		if (end == cap) {
			char *bigger = realloc(buf, cap * 2);

			if (!bigger) {
				cli_error("publish to '%s': out of memory for a line of %zu bytes "
				          "(%" PRIu64 " messages published)",
				          pub->queue, end,
				          pub->sent);
				rc = EXIT_FAIL;
				break;
			}
			buf = bigger;
			cap *= 2;
		}
		n = read(STDIN_FILENO, buf + end, cap - end);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			cli_error("publish to '%s': reading stdin: %s (%" PRIu64
			          " messages published)",
			          pub->queue, strerror(errno), pub->sent);
			rc = EXIT_FAIL;
		} else if (n == 0) {
			eof = true;
		} else {
			end += (size_t)n;
		}
	}
	free(buf);
	return rc;
}

int cmd_publish(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"type", required_argument, NULL, 't'},
		{"timeout", required_argument, NULL, 'T'},
		{"raw", no_argument, NULL, 'r'},
		CLI_COMMON_OPTS,
		{0},
	};
	struct publish pub = {.timeout_ms = -1};
	bool raw = false;
	bus *b;
	int c, rc;

	while ((c = cli_getopt(cli, "publish", publish_help, argc, argv, ":t:T:rs:h", opts, &rc)) >= 0) {
		switch (c) {
		case 'r':
			raw = true;
			break;
		case 't':
			if (cli_opt_type("publish", optarg, &pub.type))
				return EXIT_USAGE;
			break;
		case 'T':
			if (cli_opt_timeout("publish", optarg, &pub.timeout_ms))
				return EXIT_USAGE;
			break;
		}
	}
	if (c == CLI_OPT_DONE)
		return rc;
	if ((rc = cli_take_queue("publish", argc, argv, &pub.queue)) != 0)
		return rc;
	if (raw && optind < argc)
		return cli_usage_error("publish", "--raw reads the message from stdin: "
		                                  "give no MESSAGE arguments");
	if (cli_connect(cli, "publish", false, &b) < 0)
		return EXIT_FAIL;
	rc = bus_producer_open(b, pub.queue, &pub.p);
	if (rc < 0)
		return cli_busd_fail(b, rc, "publish to '%s'", pub.queue);
	bus_close(b); /* not on the data path */
	if (optind < argc) {
		rc = EXIT_OK;
		for (int i = optind; i < argc && rc == EXIT_OK; i++)
			rc = send_one(&pub, argv[i], strlen(argv[i]));
	} else if (raw) {
		rc = publish_raw(&pub);
	} else {
		rc = publish_stdin(&pub);
	}
	bus_producer_close(pub.p);
	if (rc == EXIT_OK) {
		printf("published %" PRIu64 " message%s to '%s'\n", pub.sent,
		       pub.sent == 1 ? "" : "s", pub.queue);
		if (fflush(stdout) != 0)
			rc = EXIT_FAIL;
	}
	return rc;
}

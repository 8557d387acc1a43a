/*
 * admin.c - buscli create, delete and list: the queue registry in busd.
 *
 * Sizes are checked here against the segment format's limits before busd
 * is asked (a capacity that is not a power of two, or beyond 1 GiB, is a
 * bad command line, exit 2); whatever busd refuses is an operational
 * failure (exit 1) reported with busd's own words.
 *
 * create and delete end alike on purpose (the busd error, close, the
 * line saying what was done, the flush): each command reads whole.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buscli.h"
#include "util/io.h"
#include "segment.h"

static const char create_help[] =
	"Usage: " PROG " [--socket PATH] create QUEUE [OPTIONS]\n"
	"\n"
	"Creates the queue QUEUE (1 to 64 of A-Z a-z 0-9 . _ -).\n"
	"\n"
	"Options:\n"
	"  -c, --capacity SIZE       ring size in bytes, a power of two from 256 to 1G\n"
	"                            (default: busd's, 1M unless configured)\n"
	"  -m, --max-message SIZE    largest payload (default and at most:\n"
	"                            capacity/2 - 32)\n"
	"  -p, --max-producers N     producer slots, 1 to 1024 (default: busd's, 64)\n"
	"  -s, --socket PATH         busd's socket\n"
	"  -h, --help                show this help\n"
	"\n"
	"SIZE is a number of bytes with an optional K, M, G or T suffix (1024-based).\n";

int cmd_create(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"capacity", required_argument, NULL, 'c'},
		{"max-message", required_argument, NULL, 'm'},
		{"max-producers", required_argument, NULL, 'p'},
		CLI_COMMON_OPTS,
		{0},
	};
	bus_queue_opts qo = {0};
	bus_queue_info info;
	char cap[32];
	uint64_t v;
	const char *queue;
	bus *b;
	int c, rc;

	while ((c = cli_getopt(cli, "create", create_help, argc, argv, ":c:m:p:s:h", opts, &rc)) >= 0) {
		switch (c) {
		case 'c':
			if (cli_parse_size(optarg, &v) < 0)
				return cli_usage_error("create", "invalid capacity '%s': "
				                                 "want a size such as 65536 or 64K",
				                       optarg);
			if (v < SEG_MIN_CAPACITY || v > SEG_MAX_CAPACITY)
				return cli_usage_error("create", "capacity '%s' out of range: "
				                                 "256 to 1G bytes",
				                       optarg);
			if (v & (v - 1))
				return cli_usage_error("create", "capacity '%s' is not a power of two",
				                       optarg);
			qo.capacity = v;
			break;
		case 'm':
			if (cli_parse_size(optarg, &v) < 0 || v == 0 ||
			    v > seg_max_message_for(SEG_MAX_CAPACITY))
				return cli_usage_error("create", "invalid maximum message size '%s': "
				                                 "want 1 to %" PRIu32 " bytes",
				                       optarg,
				                       seg_max_message_for(SEG_MAX_CAPACITY));
			qo.max_message = (uint32_t)v;
			break;
		case 'p':
			if (cli_parse_u64(optarg, 1, SEG_MAX_PRODUCERS, &v) < 0)
				return cli_usage_error("create", "invalid producer count '%s': "
				                                 "want 1 to %u",
				                       optarg, SEG_MAX_PRODUCERS);
			qo.max_producers = (uint32_t)v;
			break;
		}
	}
	if (c == CLI_OPT_DONE)
		return rc;
	if ((rc = cli_only_queue("create", argc, argv, &queue)) != 0)
		return rc;
	if (qo.capacity && qo.max_message > seg_max_message_for(qo.capacity))
		return cli_usage_error("create", "maximum message size %" PRIu32 " too large "
		                                 "for capacity %" PRIu64 ": at most %" PRIu32,
		                       qo.max_message, qo.capacity,
		                       seg_max_message_for(qo.capacity));
	if (cli_connect(cli, "create", false, &b) < 0)
		return EXIT_FAIL;
	rc = bus_queue_create(b, queue, &qo, &info);
	if (rc < 0)
		return cli_busd_fail(b, rc, "create '%s'", queue);
	cli_fmt_bytes(cap, sizeof(cap), info.capacity);
	printf("created queue '%s' (capacity %s, max message %" PRIu32
	       " bytes, %" PRIu32 " producer slots)\n",
	       info.name, cap, info.max_message, info.max_producers);
	bus_close(b);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
}

static const char delete_help[] =
	"Usage: " PROG " [--socket PATH] delete QUEUE\n"
	"\n"
	"Deletes the queue QUEUE.  Its name is gone at once; attached producers\n"
	"get 'queue deleted' from then on, and its consumer receives what is left,\n"
	"then 'queue deleted'.\n"
	"\n"
	"Options:\n"
	"  -s, --socket PATH  busd's socket\n"
	"  -h, --help         show this help\n";

int cmd_delete(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {CLI_COMMON_OPTS, {0}};
	const char *queue;
	bus *b;
	int rc;

	/* No options of its own: --socket and --help are cli_getopt()'s. */
	if (cli_getopt(cli, "delete", delete_help, argc, argv, ":s:h", opts, &rc) ==
	    CLI_OPT_DONE)
		return rc;
	if ((rc = cli_only_queue("delete", argc, argv, &queue)) != 0)
		return rc;
	if (cli_connect(cli, "delete", false, &b) < 0)
		return EXIT_FAIL;
	rc = bus_queue_delete(b, queue);
	if (rc < 0)
		return cli_busd_fail(b, rc, "delete '%s'", queue);
	bus_close(b);
	printf("deleted queue '%s'\n", queue);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
}

static const char list_help[] =
	"Usage: " PROG " [--socket PATH] list [--json]\n"
	"\n"
	"Lists the queues busd serves, sorted by name: capacity, largest message,\n"
	"producer slots, UUID and creation time.\n"
	"\n"
	"Options:\n"
	"  -j, --json         one JSON object: {\"queues\":[{\"name\":..,\"uuid\":..,\n"
	"                     \"capacity\":..,\"max_message\":..,\"max_producers\":..,\n"
	"                     \"created_ns\":..}]}\n"
	"  -s, --socket PATH  busd's socket\n"
	"  -h, --help         show this help\n";

int cli_fetch_list(bus *b, bus_queue_info **ret)
{
	bus_queue_info *v = NULL;
	size_t cap = 0;
	int n;

	for (;;) {
		n = bus_queue_list(b, v, cap);
		if (n < 0 || (size_t)n <= cap)
			break;
		free(v);
		cap = (size_t)n + 16;
		v = calloc(cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
	}
	if (n < 0) {
		free(v);
		return n;
	}
	*ret = v;
	return n;
}

int cmd_list(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		CLI_COMMON_OPTS,
		{0},
	};
	bus_queue_info *v = NULL;
	struct buf out = {0};
	char uuid[37], cap[32], when[64];
	bool json = false;
	bus *b;
	int c, n, rc;

	while ((c = cli_getopt(cli, "list", list_help, argc, argv, ":js:h", opts, &rc)) >= 0)
		json = true; /* 'j', its only option */
	if (c == CLI_OPT_DONE)
		return rc;
	if (optind < argc)
		return cli_usage_error("list", "unexpected argument '%s'", argv[optind]);
	if (cli_connect(cli, "list", false, &b) < 0)
		return EXIT_FAIL;
	n = cli_fetch_list(b, &v);
	if (n < 0)
		return cli_busd_fail(b, n, "list");
	bus_close(b);
	if (json) {
		buf_puts(&out, "{\"queues\":[");
		for (int i = 0; i < n; i++) {
			cli_fmt_uuid(uuid, v[i].uuid);
			buf_printf(&out, "%s{\"name\":", i ? "," : "");
			buf_json_str(&out, v[i].name, strlen(v[i].name));
			buf_printf(&out, ",\"uuid\":\"%s\",\"capacity\":%" PRIu64 ",\"max_message\":%" PRIu32 ",\"max_producers\":%" PRIu32 ",\"created_ns\":%" PRIu64 "}",
			           uuid, v[i].capacity, v[i].max_message, v[i].max_producers,
			           v[i].created_ns);
		}
		buf_puts(&out, "]}\n");
	} else if (n > 0) {
		buf_printf(&out, "%-24s %10s %11s %9s  %-36s  %s\n", "NAME", "CAPACITY",
		           "MAX_MESSAGE", "PRODUCERS", "UUID", "CREATED");
		for (int i = 0; i < n; i++) {
			time_t secs = (time_t)(v[i].created_ns / 1000000000u);
			struct tm tm;

			cli_fmt_uuid(uuid, v[i].uuid);
			cli_fmt_bytes(cap, sizeof(cap), v[i].capacity);
			if (!localtime_r(&secs, &tm) ||
			    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm) == 0)
				snprintf(when, sizeof(when), "?");
			buf_printf(&out, "%-24s %10s %11" PRIu32 " %9" PRIu32 "  %-36s  %s\n",
			           v[i].name, cap, v[i].max_message, v[i].max_producers, uuid,
			           when);
		}
	} else {
		buf_puts(&out, "no queues\n");
	}
	free(v);
	rc = out.oom ? -ENOMEM : io_write_all(STDOUT_FILENO, out.p, out.len);
	buf_free(&out);
	if (rc < 0) {
		cli_error("list: writing the output: %s", strerror(-rc));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

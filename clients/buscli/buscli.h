/*
 * buscli.h - the pieces the buscli subcommands share.
 *
 * buscli is one program with one module per group of subcommands
 * (admin.c: create, delete, list; publish.c; recv.c; stats.c, with
 * prom.c for its Prometheus format; rpc.c: call, serve) and the
 * plumbing they have in common here (cli.c): strict argument parsing,
 * one-line error reports, the connection to busd, JSON text and the
 * stop flag that SIGINT and SIGTERM raise.
 *
 * Exit statuses: EXIT_OK on success, EXIT_FAIL when the operation failed
 * (busd refused, the queue is gone, a timeout that counts as failure),
 * EXIT_USAGE for a bad command line, EXIT_TIMEOUT when call's --timeout
 * passed without a reply.  Every failure prints exactly one
 * line on stderr, "buscli: <what> '<queue>': <why>".
 */
#ifndef BUSCLI_H
#define BUSCLI_H

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/bus.h"

#define PROG "buscli"

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
	EXIT_TIMEOUT = 3, /* call: no reply within --timeout */
};

/* Options every subcommand sees. */
struct cli {
	const char *socket;   /* --socket, or the default path */
	char socket_buf[256]; /* storage for the default path */
};

/* Subcommands: argv[0] is the subcommand's name. */
int cmd_create(struct cli *cli, int argc, char **argv);
int cmd_delete(struct cli *cli, int argc, char **argv);
int cmd_list(struct cli *cli, int argc, char **argv);
int cmd_publish(struct cli *cli, int argc, char **argv);
int cmd_recv(struct cli *cli, int argc, char **argv);
int cmd_stats(struct cli *cli, int argc, char **argv);
int cmd_call(struct cli *cli, int argc, char **argv);
int cmd_serve(struct cli *cli, int argc, char **argv);

/* --- reporting --- */

/* Prints "buscli: <fmt>\n" on stderr as one write. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Reports a usage error of subcommand cmd (NULL: the tool) and returns
 * EXIT_USAGE: "buscli: <cmd>: <fmt> (see 'buscli <cmd> --help')".
 */
int cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Reports "buscli: <fmt>: <reason>" for a request busd refused (err, with
 * busd's own words from b as cli_reason() gives them), closes b and
 * returns EXIT_FAIL.
 */
int cli_busd_fail(bus *b, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Writes the reason for libbus error err on connection b (may be NULL)
 * into buf: bus_strerror(err), followed by busd's own words when it sent
 * some that add to them.
 */
void cli_reason(char *buf, size_t n, const bus *b, int err);

/* --- argument parsing; each returns 0, or -EINVAL for a bad value --- */

/* A decimal integer in [min, max]: digits only, no sign, no spaces. */
int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret);

/* A size: decimal digits with an optional K, M, G or T (1024-based). */
int cli_parse_size(const char *s, uint64_t *ret);

/* Milliseconds for a --timeout: 0 to INT_MAX, or -1 meaning forever. */
int cli_parse_timeout(const char *s, int *ret);

/* A message type: decimal, 0x hex, or a protobuf full name (hashed). */
int cli_parse_type(const char *s, uint32_t *ret);

/*
 * The options several commands take, parsed as above into *ret; on a bad
 * value, each reports it as a usage error of cmd and returns EXIT_USAGE,
 * else 0: --type, --timeout and --count (a whole number, at least 1).
 */
int cli_opt_type(const char *cmd, const char *arg, uint32_t *ret);
int cli_opt_timeout(const char *cmd, const char *arg, int *ret);
int cli_opt_count(const char *cmd, const char *arg, uint64_t *ret);

/*
 * Checks a queue name given on the command line; on a bad one, reports
 * it (as a usage error of cmd) and returns EXIT_USAGE, else 0.
 */
int cli_check_queue(const char *cmd, const char *queue);

/*
 * Takes the QUEUE argument at argv[optind] (optind moves past it) into
 * *ret and checks it; returns 0, or reports a usage error of cmd (none
 * given, or a bad name) and returns EXIT_USAGE.
 */
int cli_take_queue(const char *cmd, int argc, char **argv, const char **ret);

/*
 * As cli_take_queue(), for a command whose QUEUE is its only operand:
 * more than one is also a usage error of cmd ("one queue at a time").
 */
int cli_only_queue(const char *cmd, int argc, char **argv, const char **ret);

/* Human-readable "1.5 MiB" / "1.2 ms" into buf. */
void cli_fmt_bytes(char *buf, size_t n, uint64_t bytes);
void cli_fmt_ns(char *buf, size_t n, uint64_t ns);

/* The canonical 8-4-4-4-12 lowercase text of a UUID (37 bytes). */
void cli_fmt_uuid(char out[37], const uint8_t uuid[16]);

/* --- busd --- */

/*
 * Connects to busd at cli->socket.  Returns 0 and sets *ret, or reports
 * "buscli: <what>: busd not reachable at PATH (<why>)" and returns the
 * negative errno (quiet: report nothing).
 */
int cli_connect(struct cli *cli, const char *what, bool quiet, bus **ret);

/*
 * The queues busd lists, sorted by name, in a malloc'd array (*ret, may
 * be NULL when there are none; the caller frees it).  Returns the count
 * or a negative errno.
 */
int cli_fetch_list(bus *b, bus_queue_info **ret);

/* --- getopt_long --- */

/*
 * Options every command takes; each command lists its own before these,
 * in a table of its own next to its usage text (alike in form across the
 * commands, on purpose: one command's options read in one place).
 */
#define CLI_COMMON_OPTS                           \
	{"socket", required_argument, NULL, 's'}, \
	{                                         \
		"help", no_argument, NULL, 'h'    \
	}

/*
 * Handles an option character of a command's getopt_long loop (optstring
 * starting with ':') that the command did not: 's' sets cli->socket and
 * returns 0; anything else is reported as a usage error of cmd and gives
 * EXIT_USAGE.
 */
int cli_common_opt(struct cli *cli, const char *cmd, int c, char **argv);

/* What cli_getopt() returns when the command is to return *rc at once. */
#define CLI_OPT_DONE (-2)

/*
 * getopt_long() over a command's argv (shortopts starting with ':' and
 * holding "s:h"), with --socket, --help and bad options done here:
 * returns the command's next option of its own, -1 after the last, or
 * CLI_OPT_DONE with *rc the status to return (EXIT_OK once help was
 * printed, else cli_common_opt()'s usage error).
 */
int cli_getopt(struct cli *cli, const char *cmd, const char *help, int argc,
               char **argv, const char *shortopts, const struct option *opts,
               int *rc);

/* --- output buffers and JSON --- */

/* A growable byte buffer; abort-free: a failed growth sets oom. */
struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

void buf_put(struct buf *b, const void *data, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_free(struct buf *b);

/* Appends s (n bytes, valid UTF-8) as a JSON string literal with quotes. */
void buf_json_str(struct buf *b, const void *s, size_t n);

/* Appends n bytes as standard base64 (with padding), without quotes. */
void buf_base64(struct buf *b, const void *data, size_t n);

/* 1 if data[0..n-1] is well-formed UTF-8 (RFC 3629), else 0. */
int utf8_valid(const void *data, size_t n);

/* A queue whose stats could not be read (its segment is corrupt, ...). */
#define STATS_FAULT_WHY 256
struct stats_fault {
	char name[BUS_NAME_MAX + 1];
	char why[STATS_FAULT_WHY]; /* "cannot read its segment: ..." */
};

/*
 * Appends the n queues' stats v, and the nbad queues bad that could not
 * be read, in the Prometheus text format (prom.c); direct: they were read
 * from /dev/shm because busd was down.
 */
void render_prometheus(struct buf *o, const bus_stats *v, size_t n,
                       const struct stats_fault *bad, size_t nbad, bool direct);

/* --- signals --- */

/* Raised by SIGINT or SIGTERM once cli_catch_stop_signals() ran. */
extern volatile sig_atomic_t cli_stop;

/*
 * Installs handlers for SIGINT and SIGTERM that set cli_stop, without
 * SA_RESTART so that blocking calls return EINTR, and ignores SIGPIPE so
 * a closed output is a write error, not a silent death.
 */
void cli_catch_stop_signals(void);

#endif

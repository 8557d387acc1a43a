/*
 * cli.c - what buscli's subcommands share: strict parsing of numbers,
 * sizes, timeouts and type names; one-line error reports; the connection
 * to busd; output buffers with JSON and base64; the stop flag.
 *
 * Parsing is strict on purpose: a value is all digits (no sign, no
 * spaces, no trailing junk), checked with strtoull over the whole string
 * and against its range, so "-1", " 5", "5x" and "99999999999999999999"
 * are refused rather than read as something else.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buscli.h"
#include "util/io.h"
#include "util/num.h"

volatile sig_atomic_t cli_stop;

static void on_stop(int sig)
{
	cli_stop = sig;
}

void cli_catch_stop_signals(void)
{
	struct sigaction sa = {.sa_handler = on_stop};
	struct sigaction ign = {.sa_handler = SIG_IGN};

	sigemptyset(&sa.sa_mask);
	sigemptyset(&ign.sa_mask);
	/* no SA_RESTART: a blocked write or sleep returns EINTR at once */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGPIPE, &ign, NULL);
}

/* Writes prefix, the formatted text and suffix as one line, one write(2). */
static void vline(const char *prefix, const char *fmt, va_list ap, const char *suffix)
	__attribute__((format(printf, 2, 0)));
static void vline(const char *prefix, const char *fmt, va_list ap, const char *suffix)
{
	char line[1024];
	size_t n = 0;
	int m;

	m = snprintf(line, sizeof(line) - 1, "%s", prefix);
	n = m < 0 ? 0 : (size_t)m;
	if (n < sizeof(line) - 1) {
		m = vsnprintf(line + n, sizeof(line) - 1 - n, fmt, ap);
		n += m < 0 ? 0 : (size_t)m;
	}
	if (n < sizeof(line) - 1) {
		m = snprintf(line + n, sizeof(line) - 1 - n, "%s", suffix);
		n += m < 0 ? 0 : (size_t)m;
	}
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2; /* cut short, the newline still fits */
	/* every report is one line, whatever a name or busd's text held */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20)
			line[i] = '?';
	line[n++] = '\n';
	(void)io_write_all(STDERR_FILENO, line, n);
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(PROG ": ", fmt, ap, "");
	va_end(ap);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	char prefix[64], suffix[96];
	va_list ap;

	if (cmd) {
		snprintf(prefix, sizeof(prefix), PROG ": %s: ", cmd);
		snprintf(suffix, sizeof(suffix), " (see '" PROG " %s --help')", cmd);
	} else {
		snprintf(prefix, sizeof(prefix), PROG ": ");
		snprintf(suffix, sizeof(suffix), " (see '" PROG " --help')");
	}
	va_start(ap, fmt);
	vline(prefix, fmt, ap, suffix);
	va_end(ap);
	return EXIT_USAGE;
}

void cli_reason(char *buf, size_t n, const bus *b, int err)
{
	const char *words = bus_strerror(err);
	const char *said = b ? bus_last_error(b) : "";

	if (said[0] && strcmp(said, words) != 0)
		snprintf(buf, n, "%s (busd: %s)", words, said);
	else
		snprintf(buf, n, "%s", words);
}

int cli_busd_fail(bus *b, int err, const char *fmt, ...)
{
	char what[256], reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	cli_reason(reason, sizeof(reason), b, err);
	cli_error("%s: %s", what, reason);
	bus_close(b);
	return EXIT_FAIL;
}

int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	uint64_t v;

	if (num_parse_u64(s, &v) < 0 || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

int cli_parse_size(const char *s, uint64_t *ret)
{
	return num_parse_size(s, ret) < 0 ? -EINVAL : 0;
}

int cli_parse_timeout(const char *s, int *ret)
{
	uint64_t v;

	if (s && strcmp(s, "-1") == 0) {
		*ret = -1;
		return 0;
	}
	if (cli_parse_u64(s, 0, INT_MAX, &v) < 0)
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

int cli_parse_type(const char *s, uint32_t *ret)
{
	unsigned long long v;
	char *end;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] >= '0' && s[0] <= '9') {
		int hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
		const char *digits = hex ? s + 2 : s;

		if (!*digits || strspn(digits, hex ? "0123456789abcdefABCDEF"
		                                   : "0123456789") != strlen(digits))
			return -EINVAL;
		errno = 0;
		v = strtoull(digits, &end, hex ? 16 : 10);
		if (errno != 0 || *end || v > UINT32_MAX)
			return -EINVAL;
		*ret = (uint32_t)v;
		return 0;
	}
	/* a protobuf full name: dot-separated identifiers */
	for (const char *p = s, *part = s;; p++) {
		if (*p == '.' || *p == '\0') {
			if (p == part)
				return -EINVAL;
			if (*p == '\0')
				break;
			part = p + 1;
		} else if (!(*p == '_' || (*p >= 'a' && *p <= 'z') ||
		             (*p >= 'A' && *p <= 'Z') ||
		             (p != part && *p >= '0' && *p <= '9'))) {
			return -EINVAL;
		}
	}
	*ret = bus_type_id(s);
	return 0;
}

/* 0 where r (a parser's return) is, else a usage error of cmd. */
static int opt_value(int r, const char *cmd, const char *what, const char *arg,
                     const char *want)
{
	if (r >= 0)
		return 0;
	return cli_usage_error(cmd, "invalid %s '%s': want %s", what, arg, want);
}

int cli_opt_type(const char *cmd, const char *arg, uint32_t *ret)
{
	return opt_value(cli_parse_type(arg, ret), cmd, "type", arg,
	                 "a number (decimal or 0x hex, 32 bits) or a protobuf full name");
}

int cli_opt_timeout(const char *cmd, const char *arg, int *ret)
{
	return opt_value(cli_parse_timeout(arg, ret), cmd, "timeout", arg,
	                 "milliseconds, or -1 for forever");
}

int cli_opt_count(const char *cmd, const char *arg, uint64_t *ret)
{
	return opt_value(cli_parse_u64(arg, 1, UINT64_MAX, ret), cmd, "count", arg,
	                 "a whole number of at least 1");
}

int cli_check_queue(const char *cmd, const char *queue)
{
	size_t n = strlen(queue);

	if (bus_name_valid(queue))
		return 0;
	if (n == 0)
		return cli_usage_error(cmd, "empty queue name");
	if (n > BUS_NAME_MAX)
		return cli_usage_error(cmd, "queue name of %zu characters: at most %d allowed",
		                       n, BUS_NAME_MAX);
	return cli_usage_error(cmd, "invalid queue name '%.*s': use 1 to %d of "
	                            "A-Z a-z 0-9 . _ - (not '.' or '..')",
	                       BUS_NAME_MAX, queue, BUS_NAME_MAX);
}

int cli_take_queue(const char *cmd, int argc, char **argv, const char **ret)
{
	if (optind >= argc)
		return cli_usage_error(cmd, "no queue named");
	*ret = argv[optind++];
	return cli_check_queue(cmd, *ret);
}

int cli_only_queue(const char *cmd, int argc, char **argv, const char **ret)
{
	if (argc - optind > 1)
		return cli_usage_error(cmd, "one queue at a time");
	return cli_take_queue(cmd, argc, argv, ret);
}

void cli_fmt_bytes(char *buf, size_t n, uint64_t bytes)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
	const size_t nunits = sizeof(units) / sizeof(units[0]);
	double v = (double)bytes / 1024;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(buf, n, "%" PRIu64 " B", bytes);
		return;
	}
	while (v >= 1024 && u + 1 < nunits) {
		v /= 1024;
		u++;
	}
	if (v == (double)(uint64_t)v)
		snprintf(buf, n, "%.0f %s", v, units[u]);
	else
		snprintf(buf, n, "%.1f %s", v, units[u]);
}

void cli_fmt_ns(char *buf, size_t n, uint64_t ns)
{
	if (ns == UINT64_MAX)
		snprintf(buf, n, "overflow");
	else
		num_fmt_ns(buf, n, ns, " ");
}

void cli_fmt_uuid(char out[37], const uint8_t uuid[16])
{
	char *p = out;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		snprintf(p, 3, "%02x", uuid[i]);
		p += 2;
	}
	*p = '\0';
}

int cli_connect(struct cli *cli, const char *what, bool quiet, bus **ret)
{
	int rc = bus_open(cli->socket, ret);

	if (rc < 0 && !quiet) {
		if (rc == -ENOENT || rc == -ECONNREFUSED)
			cli_error("%s: busd not reachable at %s (%s; is busd running?)",
			          what, cli->socket, strerror(-rc));
		else if (rc == -EDQUOT)
			cli_error("%s: busd at %s refused the connection: too many "
			          "connections from uid %u (busd's max-connections-per-uid)",
			          what, cli->socket, (unsigned)geteuid());
		else
			cli_error("%s: cannot talk to busd at %s: %s", what, cli->socket,
			          bus_strerror(rc));
	}
	return rc;
}

int cli_common_opt(struct cli *cli, const char *cmd, int c, char **argv)
{
	switch (c) {
	case 's':
		cli->socket = optarg;
		return 0;
	case ':':
		return cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
	case '?':
		if (optopt)
			return cli_usage_error(cmd, "unknown option '-%c'", optopt);
		return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
	default:
		return cli_usage_error(cmd, "unexpected option '-%c'", c);
	}
}

int cli_getopt(struct cli *cli, const char *cmd, const char *help, int argc,
               char **argv, const char *shortopts, const struct option *opts,
               int *rc)
{
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(help, stdout);
			*rc = EXIT_OK;
			return CLI_OPT_DONE;
		}
		if (c != 's' && c != ':' && c != '?')
			return c;
		*rc = cli_common_opt(cli, cmd, c, argv);
		if (*rc != 0)
			return CLI_OPT_DONE;
	}
	return -1;
}

/* --- buffers --- */

static bool buf_grow(struct buf *b, size_t more)
{
	size_t cap;
	char *p;

	if (b->oom)
		return false;
	if (b->cap - b->len > more)
		return true;
	if (more > SIZE_MAX / 2 - b->len) {
		b->oom = true;
		return false;
	}
	cap = b->cap ? b->cap : 4096;
	while (cap - b->len <= more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void buf_put(struct buf *b, const void *data, size_t n)
{
	if (!buf_grow(b, n))
		return;
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !buf_grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void buf_free(struct buf *b)
{
	free(b->p);
	*b = (struct buf){0};
}

void buf_json_str(struct buf *b, const void *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	/* The two-character escapes; any other byte escaped takes six. */
	static const char short_esc[128] = {
		['"'] = '"',
		['\\'] = '\\',
		['\n'] = 'n',
		['\r'] = 'r',
		['\t'] = 't',
		['\b'] = 'b',
		['\f'] = 'f',
	};
	const unsigned char *p = s;
	size_t run = 0;

	buf_put(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		char esc[6] = {'\\', 0};
		size_t elen = 2;

		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;
		buf_put(b, p + run, i - run);
		run = i + 1;
		if (short_esc[c]) {
			esc[1] = short_esc[c];
		} else {
			/* A byte buffer of elen chars, not a string: no NUL. */
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			elen = 6;
		}
		buf_put(b, esc, elen);
	}
	buf_put(b, p + run, n - run);
	buf_put(b, "\"", 1);
}

/* Appends the four characters for p[0..k-1] (k 1 to 3), '='-padded. */
static void base64_group(struct buf *b, const unsigned char *p, size_t k)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t v = (uint32_t)p[0] << 16 | (k > 1 ? (uint32_t)p[1] << 8 : 0) |
	             (k > 2 ? p[2] : 0);
	char out[4] = {tab[v >> 18], tab[(v >> 12) & 63], '=', '='};

	if (k > 1)
		out[2] = tab[(v >> 6) & 63];
	if (k > 2)
		out[3] = tab[v & 63];
	buf_put(b, out, 4);
}

void buf_base64(struct buf *b, const void *data, size_t n)
{
	const unsigned char *p = data;

	if (n / 3 > (SIZE_MAX - 4) / 4 || !buf_grow(b, (n + 2) / 3 * 4))
		return;
	for (size_t i = 0; i < n; i += 3)
		base64_group(b, p + i, n - i < 3 ? n - i : 3);
}

int utf8_valid(const void *data, size_t n)
{
	const unsigned char *p = data;
	size_t i = 0;

	while (i < n) {
		unsigned char c = p[i];
		uint32_t cp;
		size_t len;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (n - i < len)
			return 0;
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		/* no overlong forms, no surrogates, nothing past U+10FFFF */
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		i += len;
	}
	return 1;
}

/*
 * log.h - busd's log: one line per event on stderr, in logfmt.
 *
 *   ts=2026-01-05T10:20:30.123456Z level=info event=queue.create msg="queue created" queue=orders capacity=1048576 uid=1000 pid=4242
 *
 * Every line starts with the same four keys in the same order: ts (UTC,
 * RFC 3339 with microseconds), level, event (a fixed dotted name that
 * scripts can match on, such as queue.create or access.denied) and msg
 * (the same event in words).  Then come key=value fields written by the
 * caller's format; a value that may hold spaces is quoted by the caller
 * (reason="%s").  Control characters in the formatted line are replaced
 * by '?', so every event is exactly one line whatever a client sent.
 * Each line is written with one write(2).
 *
 * The level threshold is the daemon's only piece of logging state; the
 * rate limits below are state the caller keeps (one per client, one for
 * all of them) and passes in.
 */
#ifndef BUSD_LOG_H
#define BUSD_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Longest line written, newline included; longer ones are cut short. */
#define LOG_LINE_MAX 1024

/* Parses "error", "warn", "info" or "debug".  Returns 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *ret);

const char *log_level_name(enum log_level level);

void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);

/*
 * Logs event (a dotted name) and msg at level with the key=value fields
 * that fields_fmt makes (NULL: none).
 */
void log_event(enum log_level level, const char *event, const char *msg,
               const char *fields_fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* log_event() with the fields' arguments in ap. */
void log_vevent(enum log_level level, const char *event, const char *msg,
                const char *fields_fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

/*
 * A rate limit on log lines, so that what clients do cannot fill the disk
 * (a client sending garbage in a loop would otherwise cost a line per
 * packet): on average one line per interval_ns, at most burst at once.
 */
struct log_rate {
	uint64_t interval_ns;
	uint32_t burst; /* >= 1 */
};

/*
 * The state of one limit (a token bucket kept as the time at which it is
 * full again, the GCRA form): zeroed, it allows a full burst.  suppressed
 * counts the lines it refused since the caller last reported them.
 */
struct log_limit {
	uint64_t full_ns;
	uint64_t suppressed;
};

/*
 * Takes one line from l at now_ns (CLOCK_MONOTONIC): returns true if the
 * line may be written; otherwise counts it in l->suppressed and returns
 * false.
 */
bool log_limit_take(struct log_limit *l, const struct log_rate *r,
                    uint64_t now_ns);

/*
 * Formats the line log_event() would write, newline included, into buf
 * (LOG_LINE_MAX bytes) with the time given as ts_ns (CLOCK_REALTIME
 * nanoseconds).  Returns its length.  For the tests.
 */
size_t log_format(char *buf, long long ts_ns, enum log_level level,
                  const char *event, const char *msg, const char *fields_fmt,
                  ...) __attribute__((format(printf, 6, 7)));

#define log_error(...) log_event(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_event(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_event(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_event(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif

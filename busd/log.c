/*
 * log.c - structured one-line events on stderr, and the rate limit that
 * callers put in front of the lines a client can cause (see log.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util/nstime.h"

static enum log_level threshold = LOG_LEVEL_INFO;

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

int log_level_parse(const char *s, enum log_level *ret)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*ret = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *log_level_name(enum log_level level)
{
	return (unsigned)level <= LOG_LEVEL_DEBUG ? level_names[level] : "?";
}

void log_set_level(enum log_level level)
{
	threshold = level;
}

bool log_enabled(enum log_level level)
{
	return level <= threshold;
}

/* Bytes snprintf wrote into a buffer of room bytes, however it ended. */
static size_t clamp(int w, size_t room)
{
	if (w < 0 || room == 0)
		return 0;
	return (size_t)w < room ? (size_t)w : room - 1;
}

static size_t vformat(char *line, long long ts_ns, enum log_level level,
                      const char *event, const char *msg,
                      const char *fields_fmt, va_list ap)
	__attribute__((format(printf, 6, 0)));

static size_t vformat(char *line, long long ts_ns, enum log_level level,
                      const char *event, const char *msg,
                      const char *fields_fmt, va_list ap)
{
	time_t sec = (time_t)(ts_ns / 1000000000);
	struct tm tm;
	size_t n;

	if (!gmtime_r(&sec, &tm))
		tm = (struct tm){.tm_mday = 1, .tm_year = 70};
	n = strftime(line, LOG_LINE_MAX, "ts=%Y-%m-%dT%H:%M:%S", &tm);
	n += clamp(snprintf(line + n, LOG_LINE_MAX - n,
	                    ".%06ldZ level=%s event=%s msg=\"%s\"",
	                    (long)(ts_ns % 1000000000 / 1000),
	                    log_level_name(level), event, msg),
	           LOG_LINE_MAX - n);
	if (fields_fmt && n < LOG_LINE_MAX - 2) {
		line[n++] = ' ';
		n += clamp(vsnprintf(line + n, LOG_LINE_MAX - n, fields_fmt, ap),
		           LOG_LINE_MAX - n);
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	/* Room for the newline, cutting the last byte of a full line. */
	if (n > LOG_LINE_MAX - 2)
		n = LOG_LINE_MAX - 2;
	line[n++] = '\n';
	line[n] = '\0';
	return n;
}

size_t log_format(char *buf, long long ts_ns, enum log_level level,
                  const char *event, const char *msg, const char *fields_fmt,
                  ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fields_fmt);
	n = vformat(buf, ts_ns, level, event, msg, fields_fmt, ap);
	va_end(ap);
	return n;
}

void log_vevent(enum log_level level, const char *event, const char *msg,
                const char *fields_fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	size_t n;

	if (!log_enabled(level))
		return;
	n = vformat(line, (long long)nstime_clock(CLOCK_REALTIME), level,
	            event, msg, fields_fmt, ap);
	/* One write per event: lines from one process never interleave. */
	while (write(STDERR_FILENO, line, n) < 0 && errno == EINTR)
		;
}

void log_event(enum log_level level, const char *event, const char *msg,
               const char *fields_fmt, ...)
{
	va_list ap;

	va_start(ap, fields_fmt);
	log_vevent(level, event, msg, fields_fmt, ap);
	va_end(ap);
}

bool log_limit_take(struct log_limit *l, const struct log_rate *r,
                    uint64_t now_ns)
{
	/* Each line moves the time the bucket is full again one interval on;
	 * a line is refused while that time is more than burst - 1 intervals
	 * ahead.  Time spent idle refills it (full_ns never lags now). */
	uint64_t full = l->full_ns > now_ns ? l->full_ns : now_ns;
	uint64_t slack = (uint64_t)(r->burst ? r->burst - 1 : 0) * r->interval_ns;

	if (full - now_ns > slack) {
		l->suppressed++;
		return false;
	}
	l->full_ns = full + r->interval_ns;
	return true;
}

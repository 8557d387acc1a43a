/*
 * log.c - structured one-line events on stderr (see log.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX 1024

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

void log_event(enum log_level level, const char *msg, const char *fields_fmt,
               ...)
{
	char line[LOG_LINE_MAX];
	size_t n;
	int w;

	if (!log_enabled(level))
		return;
	w = snprintf(line, sizeof(line), "busd: level=%s msg=\"%s\"",
	             log_level_name(level), msg);
	n = w < 0 ? 0 : (size_t)w < sizeof(line) ? (size_t)w : sizeof(line) - 1;
	if (fields_fmt && n < sizeof(line) - 2) {
		va_list ap;

		line[n++] = ' ';
		va_start(ap, fields_fmt);
		w = vsnprintf(line + n, sizeof(line) - n, fields_fmt, ap);
		va_end(ap);
		if (w > 0)
			n += (size_t)w < sizeof(line) - n ? (size_t)w : sizeof(line) - n - 1;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per event: lines from one process never interleave. */
	while (write(STDERR_FILENO, line, n) < 0 && errno == EINTR)
		;
}

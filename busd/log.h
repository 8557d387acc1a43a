/*
 * log.h - busd's log: one line per event on stderr.
 *
 *   busd: level=info msg="queue created" queue=orders capacity=1048576 uid=1000
 *
 * The level and the message come first, then key=value fields written by
 * the caller's format (a value that may hold spaces is quoted by the
 * caller: reason="%s").  Control characters in the formatted line are
 * replaced by '?', so every event is exactly one line whatever a client
 * sent.  Each line is written with one write(2).
 *
 * The level threshold is the daemon's only piece of logging state.
 */
#ifndef BUSD_LOG_H
#define BUSD_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Parses "error", "warn", "info" or "debug".  Returns 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *ret);

const char *log_level_name(enum log_level level);

void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);

/*
 * Logs msg at level with the key=value fields that fields_fmt makes
 * (NULL: none).  A line longer than 1024 bytes is cut short.
 */
void log_event(enum log_level level, const char *msg, const char *fields_fmt,
               ...) __attribute__((format(printf, 3, 4)));

#define log_error(...) log_event(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_event(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_event(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_event(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif

/*
 * conf.c - the config file parsers' shared message prefix (conf.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "conf.h"

int conf_fail_at(char *err, size_t errlen, const char *file, unsigned line,
                 const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(err, errlen, "%s:%u: ", file, line);

	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

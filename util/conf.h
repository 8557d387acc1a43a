/*
 * conf.h - what the config file parsers (busd, busbridge) share: the
 * "FILE:LINE: " of their messages.  In a file of its own, apart from
 * prog.c: busd's config parser is linked into unit tests that define no
 * prog_name.
 */
#ifndef UTIL_CONF_H
#define UTIL_CONF_H

#include <stddef.h>

/*
 * "FILE:LINE: " and then fmt's message into err (errlen bytes), for a
 * line the parser refuses.  Returns -EINVAL.
 */
int conf_fail_at(char *err, size_t errlen, const char *file, unsigned line,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif

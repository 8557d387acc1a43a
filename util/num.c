/*
 * num.c - strict number and size parsing (num.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "num.h"

/* Parses the leading digits of s; *end is what follows them. */
static int digits(const char *s, uint64_t *ret, const char **end)
{
	unsigned long long v;
	char *e;

	if (!s || s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &e, 10);
	if (errno == ERANGE)
		return -ERANGE;
	*ret = v;
	*end = e;
	return 0;
}

int num_parse_u64(const char *s, uint64_t *ret)
{
	const char *end;
	uint64_t v;
	int r = digits(s, &v, &end);

	if (r < 0)
		return r;
	if (*end != '\0')
		return -EINVAL;
	*ret = v;
	return 0;
}

int num_parse_size(const char *s, uint64_t *ret)
{
	static const char units[] = "KMGT";
	const char *end, *u;
	unsigned shift = 0;
	uint64_t v;
	int r = digits(s, &v, &end);

	if (r < 0)
		return r;
	if (*end != '\0') {
		u = strchr(units, *end & ~0x20); /* upper case */
		if (!u || !*u)
			return -EINVAL;
		shift = 10 * (unsigned)(u - units + 1);
		end++;
		if (strcmp(end, "") != 0 && strcmp(end, "B") != 0 &&
		    strcmp(end, "iB") != 0)
			return -EINVAL;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*ret = v << shift;
	return 0;
}

void num_fmt_ns(char *buf, size_t n, uint64_t ns, const char *sep)
{
	if (ns < 1000)
		snprintf(buf, n, "%" PRIu64 "%sns", ns, sep);
	else if (ns < 1000000)
		snprintf(buf, n, "%.1f%sus", (double)ns / 1e3, sep);
	else if (ns < 1000000000)
		snprintf(buf, n, "%.1f%sms", (double)ns / 1e6, sep);
	else
		snprintf(buf, n, "%.1f%ss", (double)ns / 1e9, sep);
}

/*
 * num.h - strict parsing of the whole numbers and sizes users type: on
 * command lines (buscli, busbench, ring-demo) and in busd's config.
 *
 * strtoull alone takes leading blanks, a sign ("-1" wraps to 2^64 - 1),
 * "0x" and trailing junk; these take one decimal number and nothing else.
 * For the programs of this tree (util/): neither in bus.h nor in libbus.
 */
#ifndef UTIL_NUM_H
#define UTIL_NUM_H

#include <stddef.h>
#include <stdint.h>

/*
 * A whole decimal number, digits only.  Returns 0 and sets *ret, -EINVAL
 * if s is not one (empty, blanks, sign, junk), -ERANGE if above 2^64 - 1.
 */
int num_parse_u64(const char *s, uint64_t *ret);

/*
 * A size: a whole decimal number, optionally followed by one of K, M, G, T
 * (either case; powers of 1024), itself optionally followed by "B" or
 * "iB": "4096", "4K", "4KB" and "4KiB" are all 4096.  Returns as
 * num_parse_u64(); -ERANGE also when the suffix takes it past 2^64 - 1.
 */
int num_parse_size(const char *s, uint64_t *ret);

/*
 * And one the other way: a duration of ns nanoseconds as the programs
 * print it (buscli, ring-demo), "950 ns", "1.5 us", "2.0 ms", "3.1 s", with
 * sep ("" or " ") between the figure and its unit.
 */
void num_fmt_ns(char *buf, size_t n, uint64_t ns, const char *sep);

#endif

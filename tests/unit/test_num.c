/*
 * test_num.c - the strict parsing of numbers and sizes (util/num.c)
 * that the tools and busd's config share, through num.h alone.
 *
 * A number is decimal digits and nothing else: no blanks, sign, "0x" or
 * trailing junk, and nothing above 2^64 - 1.  A size may add one of K, M,
 * G, T (either case, powers of 1024), then optionally "B" or "iB", and
 * must still fit in 64 bits.  A refused input leaves the result alone.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "harness.h"
#include "util/num.h"

/* What a refused parse must leave in its result. */
#define UNTOUCHED UINT64_C(0x5a5a5a5a5a5a5a5a)

struct good {
	const char *s;
	uint64_t v;
};

struct bad {
	const char *s;
	int err;
};

static void check_good(int (*parse)(const char *, uint64_t *), const struct good *g,
                       size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t v = UNTOUCHED;

		print_message("# \"%s\"\n", g[i].s);
		assert_int_equal(parse(g[i].s, &v), 0);
		assert_true(v == g[i].v);
	}
}

static void check_bad(int (*parse)(const char *, uint64_t *), const struct bad *b,
                      size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t v = UNTOUCHED;

		print_message("# \"%s\"\n", b[i].s ? b[i].s : "(null)");
		assert_int_equal(parse(b[i].s, &v), b[i].err);
		assert_true(v == UNTOUCHED);
	}
}

/* Tables of cases, alike on purpose: each row is a checked input. */
static void test_u64_accepts_digits(void **state)
{
	static const struct good g[] = {
		{"0", 0},
		{"7", 7},
		{"007", 7},
		{"4096", 4096},
		{"18446744073709551615", UINT64_MAX},
	};

	(void)state;
	check_good(num_parse_u64, g, HARNESS_NITEMS(g));
}

static void test_u64_refuses_the_rest(void **state)
{
	static const struct bad b[] = {
		{NULL, -EINVAL},
		{"", -EINVAL},
		{" 1", -EINVAL},
		{"1 ", -EINVAL},
		{"+1", -EINVAL},
		{"-1", -EINVAL},
		{"0x10", -EINVAL},
		{"12a", -EINVAL},
		{"1.5", -EINVAL},
		{"4K", -EINVAL},
		{"18446744073709551616", -ERANGE},
		{"99999999999999999999999", -ERANGE},
	};

	(void)state;
	check_bad(num_parse_u64, b, HARNESS_NITEMS(b));
}

/* Tables of cases, alike on purpose: each row is a checked input. */
static void test_size_units(void **state)
{
	static const struct good g[] = {
		{"0", 0},
		{"4096", 4096},
		{"4K", 4096},
		{"4k", 4096},
		{"4KB", 4096},
		{"4KiB", 4096},
		{"4kB", 4096},
		{"1M", UINT64_C(1) << 20},
		{"1m", UINT64_C(1) << 20},
		{"1MiB", UINT64_C(1) << 20},
		{"2G", UINT64_C(2) << 30},
		{"2g", UINT64_C(2) << 30},
		{"3T", UINT64_C(3) << 40},
		{"3TB", UINT64_C(3) << 40},
		{"0T", 0},
		{"18446744073709551615", UINT64_MAX},
		{"16777215T", UINT64_C(16777215) << 40},
		{"17179869183G", UINT64_C(17179869183) << 30},
	};

	(void)state;
	check_good(num_parse_size, g, HARNESS_NITEMS(g));
}

static void test_size_refuses_the_rest(void **state)
{
	static const struct bad b[] = {
		{NULL, -EINVAL},
		{"", -EINVAL},
		{"K", -EINVAL},
		{" 4K", -EINVAL},
		{"-4K", -EINVAL},
		{"4 ", -EINVAL},
		{"4 K", -EINVAL},
		{"4B", -EINVAL},
		{"4X", -EINVAL},
		{"4P", -EINVAL},
		{"4Kb", -EINVAL},
		{"4Kib", -EINVAL},
		{"4KIB", -EINVAL},
		{"4KiBx", -EINVAL},
		{"4KK", -EINVAL},
		{"0x4K", -EINVAL},
		{"16777216T", -ERANGE},
		{"17179869184G", -ERANGE},
		{"18014398509481984K", -ERANGE},
		{"18446744073709551616", -ERANGE},
		{"18446744073709551616K", -ERANGE},
	};

	(void)state;
	check_bad(num_parse_size, b, HARNESS_NITEMS(b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_u64_accepts_digits),
		cmocka_unit_test(test_u64_refuses_the_rest),
		cmocka_unit_test(test_size_units),
		cmocka_unit_test(test_size_refuses_the_rest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

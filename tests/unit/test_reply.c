/*
 * test_reply.c - busd's reply queue names (busd/reply_queue.c): what busd makes
 * and what it reads back from /dev/shm after a restart.
 *
 *  - format_parse: a name made for a pid and 32 random bits reads back as
 *    that pid, is a valid queue name within BUS_NAME_MAX, and is in the
 *    reply name space.
 *  - malformed: names in the reply name space that busd did not make (too
 *    short or long, a bad hex digit, a missing dot, uppercase, pid 0 or
 *    one too large for a pid_t) read as no pid, so busd never watches or
 *    deletes on their account; names outside the space are not replies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "reply_queue.h"

static const uint8_t uuid[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};

static void format_parse(void **state)
{
	char name[BUS_NAME_MAX + 1];
	const uint64_t cases[] = {UINT64_C(1) << 32, UINT64_C(4194304) << 32 | 0xdeadbeef,
	                          UINT64_C(0x7fffffff) << 32 | 1};

	(void)state;
	for (size_t i = 0; i < HARNESS_NITEMS(cases); i++) {
		memset(name, 'x', sizeof(name));
		reply_queue_format(name, uuid, cases[i]);
		assert_true(strlen(name) <= BUS_NAME_MAX);
		assert_true(bus_name_valid(name));
		assert_true(reply_queue_name(name));
		assert_int_equal(reply_queue_pid(name), (pid_t)(cases[i] >> 32));
	}
	reply_queue_format(name, uuid, UINT64_C(42) << 32 | 7);
	assert_string_equal(name, ".r.0123456789abcdeffedcba9876543210.0000002a00000007");
}

/* A table of cases, alike on purpose: each row is a checked input. */
static void malformed(void **state)
{
	static const char *const bad[] = {
		".r.",
		".r.0123456789abcdeffedcba9876543210.0000002a0000000",
		".r.0123456789abcdeffedcba9876543210.0000002a000000077",
		".r.0123456789abcdeffedcba9876543210x0000002a00000007",
		".r.0123456789abcdeffedcba987654321g.0000002a00000007",
		".r.0123456789ABCDEFfedcba9876543210.0000002a00000007",
		".r.0123456789abcdeffedcba9876543210.000000zz00000007",
		".r.0123456789abcdeffedcba9876543210.0000000000000007",
		".r.0123456789abcdeffedcba9876543210.8000000000000007",
		".r.0123456789abcdeffedcba9876543210.ffffffff00000007",
		".r.mine",
	};

	(void)state;
	for (size_t i = 0; i < HARNESS_NITEMS(bad); i++) {
		assert_true(reply_queue_name(bad[i]));
		assert_int_equal(reply_queue_pid(bad[i]), 0);
	}
	assert_false(reply_queue_name("orders"));
	assert_false(reply_queue_name(".rx"));
	assert_false(reply_queue_name("r.0123"));
	assert_int_equal(reply_queue_pid("orders"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(format_parse),
		cmocka_unit_test(malformed),
	};

	return cmocka_run_group_tests_name("busd reply names", tests, NULL, NULL);
}

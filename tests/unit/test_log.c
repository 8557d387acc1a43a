/*
 * test_log.c - busd's log line (busd/log.c).
 *
 * The fixed keys come first and in order (ts in UTC with microseconds,
 * level, event, msg), the caller's fields after them; a control character
 * anywhere, such as a newline a client put in a queue name, becomes '?'
 * so the event stays one line; an overlong line is cut and still ends
 * with its newline; the level threshold filters; the rate limit allows a
 * burst, then one line per interval, refills while idle and counts what
 * it refuses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "log.h"

/* 2026-01-05T10:20:30.123456Z, with nanoseconds that must be cut. */
#define TS 1767608430123456789LL

static void test_fixed_keys(void **state)
{
	char line[LOG_LINE_MAX];
	size_t n;

	(void)state;
	n = log_format(line, TS, LOG_LEVEL_INFO, "queue.create", "queue created",
	               "queue=%s capacity=%d", "orders", 4096);
	assert_string_equal(line, "ts=2026-01-05T10:20:30.123456Z level=info "
	                          "event=queue.create msg=\"queue created\" "
	                          "queue=orders capacity=4096\n");
	assert_int_equal(n, strlen(line));
}

static void test_no_fields(void **state)
{
	char line[LOG_LINE_MAX];

	(void)state;
	log_format(line, 0, LOG_LEVEL_ERROR, "stop", "stopped", NULL);
	assert_string_equal(line, "ts=1970-01-01T00:00:00.000000Z level=error "
	                          "event=stop msg=\"stopped\"\n");
}

static void test_control_characters(void **state)
{
	char line[LOG_LINE_MAX];

	(void)state;
	log_format(line, TS, LOG_LEVEL_WARN, "access.denied", "request refused",
	           "queue=%s reason=\"%s\"", "a\nb", "tab\there\x7f\r");
	assert_string_equal(line, "ts=2026-01-05T10:20:30.123456Z level=warn "
	                          "event=access.denied msg=\"request refused\" "
	                          "queue=a?b reason=\"tab?here??\"\n");
}

static void test_overlong(void **state)
{
	char line[LOG_LINE_MAX], big[3 * LOG_LINE_MAX];
	size_t n;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	n = log_format(line, TS, LOG_LEVEL_DEBUG, "packet.bad", "malformed",
	               "junk=%s", big);
	assert_int_equal(n, LOG_LINE_MAX - 1);
	assert_int_equal(strlen(line), n);
	assert_int_equal(line[n - 1], '\n');
	assert_int_equal(line[n - 2], 'x');
	assert_ptr_equal(strchr(line, '\n'), line + n - 1);
	assert_int_equal(strncmp(line, "ts=2026-01-05T10:20:30.123456Z "
	                               "level=debug event=packet.bad msg=\"malformed\" junk=x",
	                         82),
	                 0);
}

/* log_event() writes what log_format() makes, and only above threshold. */
static void test_threshold(void **state)
{
	char buf[4 * LOG_LINE_MAX];
	struct harness_capture cap;

	(void)state;
	harness_capture_begin(&cap, STDERR_FILENO);
	log_set_level(LOG_LEVEL_INFO);
	log_event(LOG_LEVEL_DEBUG, "client.open", "client connected", NULL);
	log_event(LOG_LEVEL_INFO, "start", "started", "pid=%d", 42);
	log_set_level(LOG_LEVEL_ERROR);
	log_event(LOG_LEVEL_WARN, "limit.fd", "low", NULL);
	log_event(LOG_LEVEL_ERROR, "loop.failed", "epoll_wait failed", NULL);
	harness_capture_end(&cap, buf, sizeof(buf));
	assert_null(strstr(buf, "client.open"));
	assert_null(strstr(buf, "limit.fd"));
	assert_non_null(strstr(buf, " level=info event=start msg=\"started\" "
	                            "pid=42\n"));
	assert_non_null(strstr(buf, " level=error event=loop.failed "
	                            "msg=\"epoll_wait failed\"\n"));
	assert_int_equal(strncmp(buf, "ts=", 3), 0);
}

static void test_limit(void **state)
{
	const struct log_rate r = {.interval_ns = 1000, .burst = 3};
	struct log_limit l = {0};
	uint64_t t = 1000000;

	(void)state;
	/* A burst of 3 at once, then nothing until an interval has passed. */
	for (int i = 0; i < 3; i++)
		assert_true(log_limit_take(&l, &r, t));
	assert_false(log_limit_take(&l, &r, t));
	assert_false(log_limit_take(&l, &r, t + 999));
	assert_int_equal(l.suppressed, 2);
	assert_true(log_limit_take(&l, &r, t + 1000));
	assert_false(log_limit_take(&l, &r, t + 1000));
	/* Steady: one per interval. */
	for (int i = 2; i < 100; i++) {
		assert_true(log_limit_take(&l, &r, t + 1000 * (uint64_t)i));
		assert_false(log_limit_take(&l, &r, t + 1000 * (uint64_t)i + 1));
	}
	assert_int_equal(l.suppressed, 3 + 98);
	/* Idle long enough refills the whole burst, and no more. */
	t += 1000000;
	for (int i = 0; i < 3; i++)
		assert_true(log_limit_take(&l, &r, t));
	assert_false(log_limit_take(&l, &r, t));
	/* A burst of 1 is one line per interval. */
	{
		const struct log_rate one = {.interval_ns = 50, .burst = 1};
		struct log_limit m = {0};

		assert_true(log_limit_take(&m, &one, 100));
		assert_false(log_limit_take(&m, &one, 149));
		assert_true(log_limit_take(&m, &one, 150));
		assert_int_equal(m.suppressed, 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_keys),
		cmocka_unit_test(test_no_fields),
		cmocka_unit_test(test_control_characters),
		cmocka_unit_test(test_overlong),
		cmocka_unit_test(test_threshold),
		cmocka_unit_test(test_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

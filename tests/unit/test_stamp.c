/*
 * test_stamp.c - enqueue timestamps from the TSC, anchored to
 * CLOCK_MONOTONIC (libbus/stamp.h).
 *
 * A stamp must lie between CLOCK_MONOTONIC read just before and just after
 * it (within a small tolerance for the rate's error), never go back, and
 * a wrong rate must be measured again at the next anchor.  Where the
 * kernel does not keep time with the TSC only the fallback (every stamp
 * reads the clock) can be tested; the TSC cases then say so and skip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "stamp.h"
#include "harness.h"

/* How far a stamp may stray from the clock: the rate's error over 1 ms. */
#define TOLERANCE_NS 20000u

static uint64_t fake_ns;

static uint64_t fake_clock(void)
{
	return fake_ns += 1000;
}

static void test_fallback_reads_the_clock(void **state)
{
	struct stamp_clock c;

	(void)state;
	stamp_init(&c, fake_clock, false);
	assert_false(c.tsc);
	fake_ns = 5000;
	assert_int_equal(stamp_now(&c), 6000);
	assert_int_equal(stamp_now(&c), 7000);
}

static bool tsc_or_skip(struct stamp_clock *c)
{
	stamp_init(c, harness_now_ns, true);
	if (c->tsc)
		return true;
	print_message("the kernel's clocksource is not the TSC here: "
	              "stamps read CLOCK_MONOTONIC itself\n");
	return false;
}

/* Stamps for ms milliseconds, each checked against the clock around it. */
static void stamp_for(struct stamp_clock *c, uint64_t ms)
{
	uint64_t end = harness_now_ns() + ms * 1000000u, prev = 0;
	uint64_t worst = 0;

	for (uint64_t n = 0;; n++) {
		uint64_t before = harness_now_ns();
		uint64_t s = stamp_now(c);
		uint64_t after = harness_now_ns();

		if (s + TOLERANCE_NS < before || s > after + TOLERANCE_NS)
			fail_msg("stamp %llu: %llu not within %u ns of [%llu, %llu]",
			         (unsigned long long)n, (unsigned long long)s,
			         TOLERANCE_NS, (unsigned long long)before,
			         (unsigned long long)after);
		assert_true(s >= prev);
		prev = s;
		if (s < before && before - s > worst)
			worst = before - s;
		if (s > after && s - after > worst)
			worst = s - after;
		if (after > end)
			break;
	}
	print_message("largest distance from the clock: %llu ns\n",
	              (unsigned long long)worst);
}

static void test_tsc_tracks_the_clock(void **state)
{
	struct stamp_clock c;

	(void)state;
	if (!tsc_or_skip(&c)) {
		skip();
		return;
	}
	stamp_for(&c, 30);
	/* The rate was measured and the fast path used. */
	assert_true(c.mult > 0);
	assert_true(c.limit > 0);
}

static void test_wrong_rate_is_measured_again(void **state)
{
	struct stamp_clock c;
	uint64_t good;

	(void)state;
	if (!tsc_or_skip(&c)) {
		skip();
		return;
	}
	stamp_for(&c, 5);
	good = c.mult;
	assert_true(good > 0);
	/* Twice the rate: stamps run ahead until the next anchor at most. */
	c.mult = good * 2;
	usleep(3000);
	(void)stamp_now(&c);
	assert_true(c.mult < good + good / 20 && c.mult > good - good / 20);
	stamp_for(&c, 5);
}

static void test_long_idle_keeps_the_rate(void **state)
{
	struct stamp_clock c;
	uint64_t good, before, s;

	(void)state;
	if (!tsc_or_skip(&c)) {
		skip();
		return;
	}
	/*
	 * The rate is known once an anchor lands a period after the first,
	 * and an anchor taken while the thread is preempted is dropped: on a
	 * loaded machine that can take longer than one try.
	 */
	for (int i = 0; i < 1000 && !c.mult; i++)
		stamp_for(&c, 3);
	assert_true(c.mult != 0);
	good = c.mult;
	/*
	 * An anchor 3 seconds old, as after an idle producer: too long a
	 * period to measure a rate on (it could span a suspend).
	 */
	c.ns0 -= 3000000000u;
	c.tsc0 -= (3000000000ull << 32) / good;
	before = harness_now_ns();
	s = stamp_now(&c);
	assert_true(s + TOLERANCE_NS >= before);
	assert_int_equal(c.mult, good);
	stamp_for(&c, 3);
}

/* Which clocksources and processor flags let stamps come from the TSC. */
static void test_tsc_decision(void **state)
{
	static const char invariant[] = " fpu vme tsc msr constant_tsc rep_good nopl nonstop_tsc cpuid";

	(void)state;
	if (!STAMP_HAVE_TSC) {
		assert_false(stamp_tsc_decide("tsc", invariant));
		return;
	}
	assert_true(stamp_tsc_decide("tsc", ""));
	assert_true(stamp_tsc_decide("kvm-clock", invariant));
	assert_true(stamp_tsc_decide("kvm-clock", "constant_tsc nonstop_tsc"));
	/* both flags are needed, as whole words */
	assert_false(stamp_tsc_decide("kvm-clock", " fpu constant_tsc cpuid"));
	assert_false(stamp_tsc_decide("kvm-clock", " fpu nonstop_tsc cpuid"));
	assert_false(stamp_tsc_decide("kvm-clock", " xconstant_tsc nonstop_tscx"));
	assert_false(stamp_tsc_decide("hpet", ""));
	assert_false(stamp_tsc_decide("", ""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tsc_decision),
		cmocka_unit_test(test_fallback_reads_the_clock),
		cmocka_unit_test(test_tsc_tracks_the_clock),
		cmocka_unit_test(test_wrong_rate_is_measured_again),
		cmocka_unit_test(test_long_idle_keeps_the_rate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

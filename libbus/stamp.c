/*
 * stamp.c - anchoring the TSC to CLOCK_MONOTONIC (see stamp.h).
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "atom.h"
#include "stamp.h"

/* An anchor read in more ticks than this was interrupted: try again. */
#define ANCHOR_WINDOW_NS            2000u
/* Before the rate is known: a generous window (a few GHz x 2 us). */
#define ANCHOR_WINDOW_TICKS_UNKNOWN 20000u
#define ANCHOR_TRIES                4
/* Bounds that keep stamp_now()'s product d * mult below 2^63. */
#define LIMIT_MAX                   (1ull << 26)
#define MULT_MAX                    (1ull << 37)

/* Whether word is one of the blank-separated words of list. */
static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
		if ((p == list || p[-1] == ' ' || p[-1] == '\t') &&
		    (p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
			return true;
	return false;
}

bool stamp_tsc_decide(const char *clocksource, const char *cpu_flags)
{
	if (!STAMP_HAVE_TSC)
		return false;
	if (strcmp(clocksource, "tsc") == 0)
		return true;
	/*
	 * Another clocksource (kvm-clock in most virtual machines, which
	 * keep it even when the TSC is good): an invariant TSC, one that
	 * neither changes rate with the CPU's frequency nor stops in deep
	 * idle, is as good a ruler, and the anchoring takes care of the
	 * rest: the rate is measured against CLOCK_MONOTONIC, once per
	 * STAMP_PERIOD_NS.
	 */
	return has_word(cpu_flags, "constant_tsc") && has_word(cpu_flags, "nonstop_tsc");
}

/* Reads up to n - 1 bytes of path into buf; "" if it cannot. */
static void read_text(const char *path, char *buf, size_t n)
{
	ssize_t got = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		got = read(fd, buf, n - 1);
		close(fd);
	}
	buf[got > 0 ? got : 0] = '\0';
}

bool stamp_tsc_usable(void)
{
	/* 0 not looked yet, 1 usable, 2 not: the answer cannot change. */
	static _Atomic int known;
	/* relaxed: the answer alone, nothing it guards */
	int k = atom_load_relaxed(&known);
	char source[32], info[8192], *flags, *end;

	if (k)
		return k == 1;
	read_text("/sys/devices/system/clocksource/clocksource0/current_clocksource",
	          source, sizeof(source));
	source[strcspn(source, "\n")] = '\0';
	/* The first processor's flags line: every processor has the same. */
	read_text("/proc/cpuinfo", info, sizeof(info));
	flags = strstr(info, "\nflags");
	flags = flags ? strchr(flags, ':') : NULL;
	if (flags && (end = strchr(flags, '\n')) != NULL)
		*end = '\0';
	k = stamp_tsc_decide(source, flags ? flags + 1 : "") ? 1 : 2;
	/* relaxed: every thread that looks finds the same answer */
	atom_store_relaxed(&known, k);
	return k == 1;
}

void stamp_init(struct stamp_clock *c, uint64_t (*now_ns)(void), bool use_tsc)
{
	*c = (struct stamp_clock){
		.now_ns = now_ns,
		.tsc = use_tsc && stamp_tsc_usable(),
	};
}

#if STAMP_HAVE_TSC
static uint64_t stamp_clamp(struct stamp_clock *c, uint64_t ns)
{
	if (ns < c->last)
		ns = c->last;
	c->last = ns;
	return ns;
}

uint64_t stamp_anchor(struct stamp_clock *c)
{
	uint64_t window = c->mult ? ((uint64_t)ANCHOR_WINDOW_NS << 32) / c->mult
	                          : ANCHOR_WINDOW_TICKS_UNKNOWN;
	uint64_t t1, t2, t, ns;
	int tries = 0;

	/* The clock was read at some tick in [t1, t2]: keep that short. */
	do {
		t1 = __rdtsc();
		ns = c->now_ns();
		t2 = __rdtsc();
	} while (t2 - t1 > window && ++tries < ANCHOR_TRIES);
	if (t2 - t1 > window)
		return stamp_clamp(c, ns); /* the old anchor stays */
	t = t1 + (t2 - t1) / 2;

	if (c->ns0 && ns > c->ns0 && t > c->tsc0) {
		uint64_t dn = ns - c->ns0, dt = t - c->tsc0;

		/* Still measuring the first period: keep its start. */
		if (!c->mult && dn < STAMP_PERIOD_NS)
			return stamp_clamp(c, ns);
		/* A rate from one period; after a long idle, keep the old. */
		if (dn < (1ull << 31)) {
			uint64_t m = (dn << 32) / dt;

			if (m == 0 || m >= MULT_MAX) {
				/* A TSC slower than 32 MHz: not worth it. */
				c->tsc = false;
				return stamp_clamp(c, ns);
			}
			c->mult = m;
		}
	}
	c->tsc0 = t;
	c->ns0 = ns;
	if (c->mult) {
		c->limit = ((uint64_t)STAMP_PERIOD_NS << 32) / c->mult;
		if (c->limit > LIMIT_MAX)
			c->limit = LIMIT_MAX;
	}
	return stamp_clamp(c, ns);
}
#else
uint64_t stamp_anchor(struct stamp_clock *c)
{
	return c->now_ns();
}
#endif

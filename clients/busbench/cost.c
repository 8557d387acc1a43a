/*
 * cost.c - bus-cost: the work of one send+receive pair, for callgrind,
 * and proof that the pair allocates nothing.
 *
 * One process, one queue segment in /dev/shm (its name removed as soon
 * as both handles are attached), a producer and the consumer attached
 * through the public API on descriptors of their own.  After a warm-up
 * it makes N pairs of bus_send() + bus_recv() + bus_release() of a
 * --size-byte message (64 by default), none of which may wait, and
 * checks each message's length and sequence number.  With --loan each
 * message goes through the loan API instead: bus_send_reserve(), the
 * payload copied into the record, bus_send_commit(), so that the two
 * ways of sending compare by the same copy.
 *
 * scripts/callgrind-cost.sh runs it under valgrind --tool=callgrind with
 * two values of N: the difference of the instruction totals over the
 * difference of N is the cost of one pair, set-up and exit cancelled.
 *
 * Builds without sanitizers replace malloc, calloc and realloc in this
 * program with counting wrappers: any allocation during the N pairs makes
 * the exit status 1.  (Sanitizer builds keep their own allocator; the
 * count is then not taken.)
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bus/bus.h"
#include "stamp.h"
#include "segment.h"
#include "util/nstime.h"
#include "util/prog.h"

#define PROG     "bus-cost"
#define WARMUP   1000u
#define CAPACITY (UINT64_C(1) << 16)

const char *const prog_name = PROG;

#if !defined(BUSBENCH_SANITIZED)
/*
 * Counting allocator: the whole program's malloc goes through here.  The
 * reserved __libc_* names are glibc's own allocator, exported for exactly
 * this kind of wrapper.
 * tests/unit/test_frame.c counts the same way, on purpose: a malloc
 * that replaces libc's must be defined in the program it counts, so
 * the two cannot share one.
 */
/* NOLINTBEGIN(bugprone-reserved-identifier): glibc's real allocator */
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
/* NOLINTEND(bugprone-reserved-identifier) */

static unsigned long allocs;

void *malloc(size_t n);
void *calloc(size_t n, size_t m);
void *realloc(void *p, size_t n);

void *malloc(size_t n)
{
	allocs++;
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	allocs++;
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	allocs++;
	return __libc_realloc(p, n);
}
#define COUNTING 1
#else
static unsigned long allocs;
#define COUNTING 0
#endif

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: " PROG " [--pairs N] [--size BYTES] [--loan] [--stamps N]\n"
	        "\n"
	        "Sends and receives N messages on one queue in this process\n"
	        "(bus_send, bus_recv, bus_release per message), after %u for warm-up,\n"
	        "and reports whether the pairs allocated.  Meant to run under\n"
	        "valgrind --tool=callgrind (scripts/callgrind-cost.sh).\n"
	        "\n"
	        "  -n, --pairs N     send+receive pairs, 0 to 100000000 (default 10000)\n"
	        "  -s, --size BYTES  payload bytes, 8 to 4096 (default 64)\n"
	        "  -l, --loan        send through the loan API (bus_send_reserve, the\n"
	        "                    payload copied in place, bus_send_commit)\n"
	        "  -t, --stamps N    also time N enqueue timestamps against N\n"
	        "                    clock_gettime(CLOCK_MONOTONIC) calls, one after\n"
	        "                    the other in this run, 0 to 100000000 (default 0)\n"
	        "  -h, --help        print this help and exit\n"
	        "  -V, --version     print the version and exit\n"
	        "\n"
	        "Exit status: 0 every pair went through without allocating, 1 a failure\n"
	        "or an allocation, 2 bad usage.\n",
	        WARMUP);
}

/* Attaches a handle through a descriptor of its own; returns 0 or -errno. */
static int open_fd(const char *name)
{
	int fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);

	return fd < 0 ? -errno : fd;
}

static bool loan;

/* One message through the loan API, the payload copied in place. */
static int loan_send(bus_producer *p, const uint8_t *buf, size_t size)
{
	void *rec;
	int r = bus_send_reserve(p, size, 0, &rec);

	if (r < 0)
		return r;
	memcpy(rec, buf, size);
	return bus_send_commit(p, 1, size);
}

/*
 * n pairs, sent through the loan API if use_loan; seq continues across
 * calls.  Returns 0 or 1 after a message.  Inlined with use_loan a
 * constant, so that neither loop tests it per message.
 */
static inline __attribute__((always_inline)) int
pairs_by(bool use_loan, bus_producer *p, bus_consumer *c, const uint8_t *buf,
         size_t size, uint64_t n, uint64_t *seq)
{
	for (uint64_t i = 0; i < n; i++) {
		bus_msg m;
		int r = use_loan ? loan_send(p, buf, size) : bus_send(p, 1, buf, size, 0);

		if (r == 0)
			r = bus_recv(c, &m, 0);
		/* Both return 0 or -errno: anything else is an error, m unset. */
		if (r != 0) {
			fprintf(stderr, PROG ": pair %llu: %s\n", (unsigned long long)*seq,
			        bus_strerror(r));
			return 1;
		}
		if (m.len != size || m.seq != *seq) {
			fprintf(stderr, PROG ": pair %llu: got %zu bytes, seq %llu\n",
			        (unsigned long long)*seq, m.len, (unsigned long long)m.seq);
			return 1;
		}
		bus_release(c);
		(*seq)++;
	}
	return 0;
}

static int pairs(bus_producer *p, bus_consumer *c, const uint8_t *buf,
                 size_t size, uint64_t n, uint64_t *seq)
{
	if (loan)
		return pairs_by(true, p, c, buf, size, n, seq);
	return pairs_by(false, p, c, buf, size, n, seq);
}

/*
 * The measured pairs, apart from the warm-up so that callgrind can count
 * them alone (--toggle-collect=measured_pairs, the script's --annotate).
 */
__attribute__((noinline)) static int measured_pairs(bus_producer *p, bus_consumer *c, const uint8_t *buf,
                                                    size_t size, uint64_t n, uint64_t *seq)
{
	return pairs(p, c, buf, size, n, seq);
}

/*
 * Times n stamps as a producer takes them (stamp.h: the TSC where it may,
 * else the clock) against n clock reads, back to back in this run, and
 * prints both and their ratio.  A timing, so informational only.
 */
static void time_stamps(uint64_t n)
{
	struct stamp_clock c;
	uint64_t t0, t1, t2, sum = 0;

	stamp_init(&c, nstime_mono, true);
	t0 = nstime_mono();
	for (uint64_t i = 0; i < n; i++)
		sum += stamp_now(&c);
	t1 = nstime_mono();
	for (uint64_t i = 0; i < n; i++)
		sum += nstime_mono();
	t2 = nstime_mono();
	printf("stamps: %llu each, TSC %s: %.1f ns per stamp, %.1f ns per "
	       "clock_gettime (%.2fx) [%llu]\n",
	       (unsigned long long)n, c.tsc ? "in use" : "not used",
	       (double)(t1 - t0) / (double)n, (double)(t2 - t1) / (double)n,
	       (double)(t1 - t0) / (double)(t2 - t1), (unsigned long long)(sum & 1));
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"pairs", required_argument, NULL, 'n'},
		{"size", required_argument, NULL, 's'},
		{"loan", no_argument, NULL, 'l'},
		{"stamps", required_argument, NULL, 't'},
		PROG_OPTIONS_END,
	};
	struct seg_params params = {.name = "buscost", .capacity = CAPACITY, .max_producers = 1};
	unsigned long long npairs = 10000, size = 64, nstamps = 0, v;
	uint64_t arg;
	bus_producer *p = NULL;
	bus_consumer *c = NULL;
	uint8_t buf[4096];
	char name[64];
	const char *why = "";
	struct seg s;
	uint64_t seq = 0;
	unsigned long before;
	int opt, fd, r, status;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":n:s:lt:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (prog_opt_u64("--pairs", optarg, false, 0, 100000000, &arg))
				return PROG_EXIT_USAGE;
			npairs = arg;
			break;
		case 's':
			if (prog_opt_u64("--size", optarg, false, 8, sizeof(buf), &arg))
				return PROG_EXIT_USAGE;
			size = arg;
			break;
		case 'l':
			loan = true;
			break;
		case 't':
			if (prog_opt_u64("--stamps", optarg, false, 0, 100000000, &arg))
				return PROG_EXIT_USAGE;
			nstamps = arg;
			break;
		default:
			r = prog_tool_option(opt, argv, usage, PROG_BUS_VERSION);
			return r < 0 ? 0 : r;
		}
	}
	if (optind < argc)
		return prog_operands(argc, argv);

	snprintf(name, sizeof(name), "/bus-cost-%d", (int)getpid());
	r = seg_create_shm(name, &params, &s, &why);
	if (r < 0) {
		fprintf(stderr, PROG ": seg_create_shm %s: %s (%s)\n", name,
		        bus_strerror(r), why ? why : "");
		return 1;
	}
	seg_close(&s);
	fd = open_fd(name);
	r = fd < 0 ? fd : bus_producer_open_fd(fd, &p);
	if (r < 0 && fd >= 0)
		close(fd);
	if (r == 0) {
		fd = open_fd(name);
		r = fd < 0 ? fd : bus_consumer_open_fd(fd, &c);
		if (r < 0 && fd >= 0)
			close(fd);
	}
	shm_unlink(name);
	if (r < 0) {
		fprintf(stderr, PROG ": attaching to %s: %s\n", name, bus_strerror(r));
		bus_producer_close(p);
		return 1;
	}

	memset(buf, 0x5a, sizeof(buf));
	status = pairs(p, c, buf, (size_t)size, WARMUP, &seq);
	before = allocs;
	if (status == 0)
		status = measured_pairs(p, c, buf, (size_t)size, npairs, &seq);
	v = allocs - before;
	if (status == 0) {
		if (COUNTING)
			printf("pairs: %llu of %llu bytes, allocations during them: %llu\n",
			       npairs, size, v);
		else
			printf("pairs: %llu of %llu bytes, allocations not counted "
			       "(sanitizer build)\n",
			       npairs, size);
		if (v != 0) {
			fprintf(stderr, PROG ": %llu allocations during the pairs\n", v);
			status = 1;
		}
	}
	bus_consumer_close(c);
	bus_producer_close(p);
	if (status == 0 && nstamps)
		time_stamps(nstamps);
	return status;
}

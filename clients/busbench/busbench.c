/*
 * busbench.c - the benchmark of bus: every transport between separate
 * processes in one invocation, a table (or one JSON object) of the
 * figures, their ratios to the baselines, and the project's goals.
 *
 * A row is one transport in one test; each figure of a row is the median
 * of --runs runs (every figure separately; a 4-producer row's shares are
 * those of its median run).  Ratios are taken within this invocation
 * only, which is what makes them comparable on a busy machine.
 *
 * The exit status never depends on timings: 0 when every selected row
 * ran (or was skipped for a stated reason, e.g. a system limit) and
 * yielded positive, ordered figures; 1 when a run failed or a figure is
 * not; 2 for bad usage.  That makes `busbench --smoke` a test of every
 * transport's plumbing and of the output, not of the machine's speed.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"
#include "util/num.h"
#include "util/prog.h"

#define MAX_RUNS 99

#define DEFAULT_RUNS        5
#define DEFAULT_DURATION_MS 500
#define QUICK_RUNS          3
#define QUICK_DURATION_MS   200
#define SMOKE_MESSAGES      2000
#define DEFAULT_CAPACITY    (UINT64_C(1) << 20)

/* --- what can be run --- */

struct test {
	const char *name; /* for --test */
	enum test_kind kind;
	uint32_t producers;
	size_t size;
	enum wait_mode wait; /* latency: how both sides wait */
	const char *help;
	/*
	 * Latency as request and reply: bus_client_call() answered by
	 * bus_reply() (bus only, through busd), in place of the ping-pong.
	 */
	bool request;
};

/* The rows busbench can run, one entry each (alike on purpose, a table). */
static const struct test tests[] = {
	{"tp-16", TEST_THROUGHPUT, 1, 16, WAIT_DEFAULT,
         "throughput, 1 producer, 16-byte messages", false},
	{"tp-64", TEST_THROUGHPUT, 1, 64, WAIT_DEFAULT,
         "throughput, 1 producer, 64 B", false},
	/* Next to tp-64: the two run round-robin (same_group()). */
	{"tp-64-fd", TEST_THROUGHPUT, 1, 64, WAIT_FD,
         "tp-64, the consumer an epoll loop on bus_consumer_fd() (bus)", false},
	{"tp-1k", TEST_THROUGHPUT, 1, 1024, WAIT_DEFAULT,
         "throughput, 1 producer, 1 KiB", false},
	{"tp-64k", TEST_THROUGHPUT, 1, 65536, WAIT_DEFAULT,
         "throughput, 1 producer, 64 KiB", false},
	{"tp-4x64", TEST_THROUGHPUT, 4, 64, WAIT_DEFAULT,
         "throughput, 4 producers, 64 B (and each one's share)", false},
	{"lat-spin", TEST_LATENCY, 1, 64, WAIT_SPIN,
         "ping-pong round trips, 64 B, both sides spinning", false},
	{"lat-default", TEST_LATENCY, 1, 64, WAIT_DEFAULT,
         "ping-pong, the default wait (brief spin, then sleep)", false},
	{"lat-block", TEST_LATENCY, 1, 64, WAIT_BLOCK,
         "ping-pong, both sides sleeping at once (pure blocking)", false},
	{"lat-fd", TEST_LATENCY, 1, 64, WAIT_FD,
         "ping-pong, both sides sleeping in epoll on bus_consumer_fd() (bus)", false},
	{"req-spin", TEST_LATENCY, 1, 64, WAIT_SPIN,
         "request and reply, 64 B: bus_client_call, bus_reply; spinning (bus)",
         true},
	{"req-default", TEST_LATENCY, 1, 64, WAIT_DEFAULT,
         "request and reply, the default wait (bus)", true},
};
#define NTESTS (sizeof(tests) / sizeof(tests[0]))

static const struct transport *const transports[] = {
	&tp_bus,
	&tp_bus_loan,
	&tp_spsc,
	&tp_futex,
	&tp_uds,
	&tp_pipe,
	&tp_mq,
	&tp_zmq,
};
#define NTRANSPORTS (sizeof(transports) / sizeof(transports[0]))

static const char *const wait_names[] = {
	[WAIT_SPIN] = "spin",
	[WAIT_DEFAULT] = "default",
	[WAIT_BLOCK] = "block",
	[WAIT_FD] = "fd",
};

/* --- options --- */

const char *const prog_name = PROG;

struct options {
	bool quick, smoke, json;
	unsigned runs;        /* 0: from the preset */
	uint64_t duration_ms; /* with duration_set */
	bool duration_set;
	uint64_t messages; /* with messages_set */
	bool messages_set;
	uint64_t capacity;
	unsigned transports; /* bit i: transports[i] */
	unsigned tests;      /* bit i: tests[i] */
	const char *socket;
	const char *busd;      /* --busd: the busd to start for the fd and request rows */
	bool own_busd;         /* one was started (set by main) */
	const char *save_json; /* also write the JSON object here */
	bool no_pin;
};

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: " PROG " [OPTION]...\n"
	        "\n"
	        "Runs every transport between separate processes (fork) and prints a\n"
	        "table of the figures, their ratios to the baselines and the goals of\n"
	        "bus.  Each figure is the median of several runs.  Throughput: P\n"
	        "producers send as fast as they can; the consumer counts messages from\n"
	        "its first receive for the run's duration and reads one word of every\n"
	        "64-byte line of each payload.  Latency: a 64-byte ping-pong; figures\n"
	        "are round-trip times (p50, p99, p99.9); the request tests time a\n"
	        "64-byte bus_client_call() answered by bus_reply() instead.  Every\n"
	        "message carries its producer and sequence number, checked on receipt.\n"
	        "\n"
	        "  --quick              %d runs of %d ms per figure (default: %d runs of\n"
	        "                       %d ms); the whole suite in well under a minute\n"
	        "  --smoke              1 run per figure of %d messages (round trips):\n"
	        "                       checks every transport and the output, for CI\n"
	        "  --json               print one JSON object instead of the table\n"
	        "  --save-json FILE     also write that JSON object to FILE\n"
	        "  --runs N             runs per figure, 1 to %d\n"
	        "  --duration-ms MS     length of each run, 1 to 600000 ms\n"
	        "  --messages N         end each run after N messages (throughput) or N\n"
	        "                       round trips (latency) instead, 1 to 10^9; with\n"
	        "                       --duration-ms too, whichever comes first\n"
	        "  --capacity BYTES     ring bytes of the bus queues and of the\n"
	        "                       shm-spsc-limit ring, a power of two from 256K to\n"
	        "                       256M; K, M, G, T suffixes (default 1M)\n"
	        "  --transport LIST     comma-separated transports (default all):\n",
	        QUICK_RUNS, QUICK_DURATION_MS, DEFAULT_RUNS, DEFAULT_DURATION_MS,
	        SMOKE_MESSAGES, MAX_RUNS);
	for (size_t i = 0; i < NTRANSPORTS; i++)
		fprintf(f, "                         %-15s %s\n", transports[i]->name,
		        transports[i]->what);
	fprintf(f, "  --test LIST          comma-separated tests (default all), or the\n"
	           "                       groups 'throughput', 'latency' (with the\n"
	           "                       request tests) and 'request':\n");
	for (size_t i = 0; i < NTESTS; i++)
		fprintf(f, "                         %-15s %s\n", tests[i].name,
		        tests[i].help);
	fprintf(f,
	        "  --no-pin             leave every process to the scheduler (default:\n"
	        "                       the two processes of a 1-producer or latency\n"
	        "                       test run on two different CPUs)\n"
	        "  --socket PATH        attach the bus transport through busd at PATH\n"
	        "                       (it creates and deletes its own queues there)\n"
	        "                       instead of directly to a segment in /dev/shm\n"
	        "  --busd PATH          without --socket, the busd to start on a private\n"
	        "                       socket for the fd rows (tp-64-fd, lat-fd), whose\n"
	        "                       descriptor needs busd, and the request rows\n"
	        "                       (req-spin, req-default), whose reply queues busd\n"
	        "                       makes (default: $BUSD, else the\n"
	        "                       busd built beside busbench, else the installed\n"
	        "                       one; none found: those rows are skipped)\n"
	        "  -h, --help           print this help and exit\n"
	        "  -V, --version        print the version and exit\n"
	        "\n"
	        "Not every transport runs every test: shm-spsc-limit has one producer\n"
	        "and waits as bus does (spins, then sleeps; lat-spin: only spins);\n"
	        "futex-limit carries no data and only ping-pongs, blocking; uds, pipe,\n"
	        "posix-mq and zeromq block by nature (zeromq's library default; it has\n"
	        "no spinning wait); only bus has the fd wait, in which each receiving\n"
	        "end is an event loop (receive with timeout 0, then epoll_wait on\n"
	        "bus_consumer_fd()) and senders keep the default wait.  Only bus has\n"
	        "the request tests, through busd; their wait is the service's (its\n"
	        "consumer's spin), while the caller keeps the library's default spin\n"
	        "(20 us; a bus_client has no spin setting).  Rows a system\n"
	        "limit rules out (posix-mq above msgsize_max) are listed as skipped,\n"
	        "and so are zeromq's if busbench was built without libzmq.\n"
	        "\n"
	        "Ratios: this row's figure over the baseline's, round by round (the\n"
	        "median of the rounds' ratios; rows of one test run round-robin, and\n"
	        "tp-64-fd with tp-64); for throughput (msgs/s) higher is better, for\n"
	        "latency (p50 round trip) lower.  /limit is shm-spsc-limit (tp-64's for\n"
	        "tp-64-fd; futex-limit for lat-block and lat-fd); /uds is uds (tp-64's\n"
	        "for tp-64-fd, lat-block for latency rows).  A request row's p50 is\n"
	        "also set against bus's ping-pong of the same wait (goal: at most\n"
	        "1.2x).\n"
	        "\n"
	        "Exit status: 0 every selected row ran or was skipped for a stated\n"
	        "reason, with positive figures; 1 a run failed or a figure was not\n"
	        "positive; 2 bad usage.  Timings never change the exit status.\n");
}

/* Parses a LIST of names into a bit set; returns 0 or 2 (message printed). */
static int parse_list(const char *opt, const char *arg, bool tests_list,
                      unsigned *ret)
{
	char *copy = strdup(arg), *save = NULL, *tok;
	unsigned set = 0;
	int rc = 0;

	if (!copy) {
		fprintf(stderr, PROG ": out of memory\n");
		return 2;
	}
	for (tok = strtok_r(copy, ",", &save); tok && rc == 0;
	     tok = strtok_r(NULL, ",", &save)) {
		bool found = false;

		if (strcmp(tok, "all") == 0) {
			set |= tests_list ? (1u << NTESTS) - 1 : (1u << NTRANSPORTS) - 1;
			continue;
		}
		if (tests_list) {
			for (size_t i = 0; i < NTESTS; i++) {
				bool group = (strcmp(tok, "throughput") == 0 &&
				              tests[i].kind == TEST_THROUGHPUT) ||
				             (strcmp(tok, "latency") == 0 &&
				              tests[i].kind == TEST_LATENCY) ||
				             (strcmp(tok, "request") == 0 && tests[i].request);

				if (group || strcmp(tok, tests[i].name) == 0) {
					set |= 1u << i;
					found = true;
				}
			}
		} else {
			for (size_t i = 0; i < NTRANSPORTS; i++) {
				if (strcmp(tok, transports[i]->name) == 0) {
					set |= 1u << i;
					found = true;
				}
			}
		}
		if (!found) {
			fprintf(stderr, PROG ": %s: unknown %s '%s' (see --help)\n", opt,
			        tests_list ? "test" : "transport", tok);
			rc = 2;
		}
	}
	if (rc == 0 && set == 0) {
		fprintf(stderr, PROG ": %s: empty list (see --help)\n", opt);
		rc = 2;
	}
	free(copy);
	if (rc == 0)
		*ret = set;
	return rc;
}

/* An option's PATH into *ret; 2 after a message if it is empty. */
static int set_path(const char *opt, const char *arg, const char **ret)
{
	if (!arg[0]) {
		fprintf(stderr, PROG ": %s: empty path\n", opt);
		return PROG_EXIT_USAGE;
	}
	*ret = arg;
	return 0;
}

enum {
	OPT_QUICK = 256,
	OPT_SMOKE,
	OPT_JSON,
	OPT_RUNS,
	OPT_DURATION,
	OPT_MESSAGES,
	OPT_CAPACITY,
	OPT_TRANSPORT,
	OPT_TEST,
	OPT_SOCKET,
	OPT_BUSD,
	OPT_NO_PIN,
	OPT_SAVE_JSON,
};

/* Returns 0 and fills *o, 2 after a message on stderr, -1 for "exit 0". */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"quick", no_argument, NULL, OPT_QUICK},
		{"smoke", no_argument, NULL, OPT_SMOKE},
		{"json", no_argument, NULL, OPT_JSON},
		{"runs", required_argument, NULL, OPT_RUNS},
		{"duration-ms", required_argument, NULL, OPT_DURATION},
		{"messages", required_argument, NULL, OPT_MESSAGES},
		{"capacity", required_argument, NULL, OPT_CAPACITY},
		{"transport", required_argument, NULL, OPT_TRANSPORT},
		{"test", required_argument, NULL, OPT_TEST},
		{"socket", required_argument, NULL, OPT_SOCKET},
		{"busd", required_argument, NULL, OPT_BUSD},
		{"no-pin", no_argument, NULL, OPT_NO_PIN},
		{"save-json", required_argument, NULL, OPT_SAVE_JSON},
		PROG_OPTIONS_END,
	};
	uint64_t v;
	int opt;

	*o = (struct options){
		.capacity = DEFAULT_CAPACITY,
		.transports = (1u << NTRANSPORTS) - 1,
		.tests = (1u << NTESTS) - 1,
	};
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":hV", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_QUICK:
			o->quick = true;
			break;
		case OPT_SMOKE:
			o->smoke = true;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_RUNS:
			if (prog_opt_u64("--runs", optarg, false, 1, MAX_RUNS, &v))
				return PROG_EXIT_USAGE;
			o->runs = (unsigned)v;
			break;
		case OPT_DURATION:
			if (prog_opt_u64("--duration-ms", optarg, false, 1, 600000, &v))
				return PROG_EXIT_USAGE;
			o->duration_ms = v;
			o->duration_set = true;
			break;
		case OPT_MESSAGES:
			if (prog_opt_u64("--messages", optarg, false, 1, 1000000000, &v))
				return PROG_EXIT_USAGE;
			o->messages = v;
			o->messages_set = true;
			break;
		case OPT_CAPACITY:
			if (prog_opt_pow2("--capacity", optarg, UINT64_C(1) << 18,
			                  UINT64_C(1) << 28, "256K to 256M", &v))
				return PROG_EXIT_USAGE;
			o->capacity = v;
			break;
		case OPT_TRANSPORT:
			if (parse_list("--transport", optarg, false, &o->transports))
				return 2;
			break;
		case OPT_TEST:
			if (parse_list("--test", optarg, true, &o->tests))
				return 2;
			break;
		case OPT_SOCKET:
			if (set_path("--socket", optarg, &o->socket))
				return PROG_EXIT_USAGE;
			break;
		case OPT_BUSD:
			if (set_path("--busd", optarg, &o->busd))
				return PROG_EXIT_USAGE;
			break;
		case OPT_SAVE_JSON:
			if (set_path("--save-json", optarg, &o->save_json))
				return PROG_EXIT_USAGE;
			break;
		case OPT_NO_PIN:
			o->no_pin = true;
			break;
		default:
			return prog_tool_option(opt, argv, usage, PROG_BUS_VERSION);
		}
	}
	if (optind < argc)
		return prog_operands(argc, argv);
	/* Presets, then what was given explicitly. */
	if (!o->runs)
		o->runs = o->smoke ? 1 : o->quick ? QUICK_RUNS
		                                  : DEFAULT_RUNS;
	if (o->smoke && !o->messages_set && !o->duration_set) {
		o->messages = SMOKE_MESSAGES;
		o->messages_set = true;
	}
	if (!o->duration_set && !o->messages_set) {
		o->duration_ms = o->quick ? QUICK_DURATION_MS : DEFAULT_DURATION_MS;
		o->duration_set = true;
	}
	return 0;
}

/* --- rows --- */

struct row {
	const struct transport *tp;
	const struct test *t;
	const char *socket; /* bus: through busd here, or NULL */
	bool private_busd;  /* ... busbench's own */
	char skipped[200];  /* non-empty: not run, and why */
	char error[400];    /* non-empty: a run failed */
	unsigned runs;      /* runs that succeeded */
	struct run_result results[MAX_RUNS];
	struct run_result med;
};

static bool applies(const struct transport *tp, const struct test *t)
{
	bool waits = (tp->waits & (1u << t->wait)) != 0;

	/* Request and reply: bus's own API, no other transport has it. */
	if (t->request)
		return tp == &tp_bus && waits;

	/* Throughput tests use the default wait, but for their variants. */
	if (t->kind == TEST_THROUGHPUT)
		return tp->throughput && (t->producers == 1 || tp->multi_producer) &&
		       (t->wait == WAIT_DEFAULT || waits);
	return waits;
}

/*
 * Rows of tests a and b run round-robin and compare round by round: one
 * test; all the latency tests; a throughput test and its variant of
 * another wait (tp-64 and tp-64-fd).
 */
static bool same_group(const struct test *a, const struct test *b)
{
	if (a == b)
		return true;
	if (a->kind != b->kind)
		return false;
	return a->kind == TEST_LATENCY ||
	       (a->producers == b->producers && a->size == b->size);
}

/* The default-wait test that a throughput test varies (itself, mostly). */
static const char *tp_base_name(const struct test *t)
{
	for (size_t i = 0; i < NTESTS; i++)
		if (tests[i].kind == TEST_THROUGHPUT && tests[i].wait == WAIT_DEFAULT &&
		    tests[i].producers == t->producers && tests[i].size == t->size)
			return tests[i].name;
	return t->name;
}

/* Rows that need a queue busd made: the descriptor's, request and reply. */
static bool needs_busd(const struct test *t)
{
	return t->wait == WAIT_FD || t->request;
}

static size_t row_size(const struct row *r)
{
	return r->tp->has_size ? r->t->size : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Medians of each figure over n runs into *m. */
static void medians(const struct run_result *runs, unsigned n,
                    struct run_result *m)
{
	double v[MAX_RUNS];
	unsigned mid = 0;

	/*
	 * run_test() passes 1..MAX_RUNS runs.  Zero runs have no median: all
	 * figures 0, which figures_ok() rejects.
	 */
	if (n == 0 || n > MAX_RUNS) {
		memset(m, 0, sizeof(*m));
		return;
	}

#define MEDIAN_OF(field, type)                        \
	do {                                          \
		for (unsigned i = 0; i < n; i++)      \
			v[i] = (double)runs[i].field; \
		m->field = (type)median(v, n);        \
	} while (0)

	/* The shares are the median run's (by msgs/s), not a mix of runs. */
	for (unsigned i = 0; i < n; i++)
		v[i] = runs[i].msgs_per_sec;
	qsort(v, n, sizeof(*v), cmp_double);
	for (unsigned i = 0; i < n; i++)
		if (runs[i].msgs_per_sec == v[(n - 1) / 2])
			mid = i;
	*m = runs[mid];
	MEDIAN_OF(msgs_per_sec, double);
	MEDIAN_OF(mb_per_sec, double);
	MEDIAN_OF(p50_ns, uint64_t);
	MEDIAN_OF(p99_ns, uint64_t);
	MEDIAN_OF(p999_ns, uint64_t);
	MEDIAN_OF(msgs, uint64_t);
	MEDIAN_OF(futex_per_msg, double);
	MEDIAN_OF(blocked_per_msg, double);
#undef MEDIAN_OF
}

static void progress(const struct row *r, unsigned run, unsigned runs)
{
	if (!isatty(STDERR_FILENO))
		return;
	fprintf(stderr, "\r\033[K%s: run %u of %u: %s", r->t->name, run + 1, runs,
	        r->tp->name);
	fflush(stderr);
}

/* Run k of row r; on failure the row keeps the error and runs no more. */
static void run_once(const struct run_opts *ro, struct row *r, unsigned k)
{
	struct run_opts o = *ro;
	char err[sizeof(r->error) - 40];
	int rc;

	o.socket = r->socket;
	o.private_busd = r->private_busd;
	memset(&r->results[k], 0, sizeof(r->results[k]));
	if (r->t->kind == TEST_THROUGHPUT)
		rc = run_throughput(r->tp, r->t->producers, r->t->size, r->t->wait,
		                    &o, &r->results[k], err, sizeof(err));
	else if (r->t->request)
		rc = run_request(r->tp, r->t->size, r->t->wait, &o, &r->results[k],
		                 err, sizeof(err));
	else
		rc = run_latency(r->tp, r->t->size, r->t->wait, &o, &r->results[k],
		                 err, sizeof(err));
	if (rc < 0)
		snprintf(r->error, sizeof(r->error), "run %u: %s", k + 1, err);
	else
		r->runs++;
}

/*
 * Runs the rows of one group (rows[0..n-1]: a test, or all the latency
 * tests) round-robin, one run of each per round, so that a disturbance on
 * a shared machine lands on every row of the group alike rather than on
 * one, and the ratios within it stay fair.  Then takes each row's medians.
 */
static void run_test(const struct options *o, const struct run_opts *ro,
                     struct row *rows, size_t n)
{
	for (unsigned k = 0; k < o->runs; k++) {
		for (size_t i = 0; i < n; i++) {
			if (rows[i].skipped[0] || rows[i].error[0])
				continue;
			progress(&rows[i], k, o->runs);
			run_once(ro, &rows[i], k);
		}
	}
	for (size_t i = 0; i < n; i++)
		if (!rows[i].skipped[0] && !rows[i].error[0] && rows[i].runs)
			medians(rows[i].results, rows[i].runs, &rows[i].med);
}

/* Positive, finite, ordered figures; otherwise says which is not. */
static bool figures_ok(const struct row *r, char *why, size_t n)
{
	const struct run_result *m = &r->med;

	if (!(m->msgs_per_sec > 0) || !isfinite(m->msgs_per_sec)) {
		snprintf(why, n, "msgs_per_sec %g is not positive", m->msgs_per_sec);
		return false;
	}
	if (r->t->kind == TEST_THROUGHPUT) {
		if (!(m->mb_per_sec > 0) || !isfinite(m->mb_per_sec)) {
			snprintf(why, n, "mb_per_sec %g is not positive", m->mb_per_sec);
			return false;
		}
		/* A share may be 0 (a producer starved); that is a finding. */
		return true;
	}
	if (m->p50_ns == 0 || m->p99_ns < m->p50_ns || m->p999_ns < m->p99_ns) {
		snprintf(why, n, "round trips p50 %llu, p99 %llu, p99.9 %llu ns are "
		                 "not positive and ordered",
		         (unsigned long long)m->p50_ns,
		         (unsigned long long)m->p99_ns, (unsigned long long)m->p999_ns);
		return false;
	}
	return true;
}

/* --- lookups for ratios and goals --- */

static const struct row *find_row(const struct row *rows, size_t n,
                                  const struct transport *tp, const char *test)
{
	for (size_t i = 0; i < n; i++)
		if (rows[i].tp == tp && strcmp(rows[i].t->name, test) == 0 &&
		    !rows[i].skipped[0] && !rows[i].error[0] && rows[i].runs)
			return &rows[i];
	return NULL;
}

/* The figure ratios compare: msgs/s for throughput, p50 for latency. */
static double figure(const struct row *r)
{
	return r->t->kind == TEST_THROUGHPUT ? r->med.msgs_per_sec
	                                     : (double)r->med.p50_ns;
}

/* The figure of round k of r. */
static double round_figure(const struct row *r, unsigned k)
{
	return r->t->kind == TEST_THROUGHPUT ? r->results[k].msgs_per_sec
	                                     : (double)r->results[k].p50_ns;
}

/*
 * r's figure over base's.  Rows of one group (same_group(): a throughput
 * test and its variants, or all the latency tests) ran round-robin, so
 * round k of each ran next to the other's: the ratio is the median over
 * rounds of the two rounds' ratio, so that a change of the machine's pace
 * between rounds (the placement of a shared host's vCPUs) does not set
 * one row's median against the other's from another pace.  Rows of
 * different groups: their medians.
 */
static double ratio(const struct row *r, const struct row *base)
{
	double v[MAX_RUNS];

	if (!r || !base || !(figure(base) > 0))
		return NAN;
	if (same_group(r->t, base->t) && r->runs == base->runs) {
		for (unsigned k = 0; k < r->runs; k++) {
			double b = round_figure(base, k);

			if (!(b > 0))
				return figure(r) / figure(base);
			v[k] = round_figure(r, k) / b;
		}
		return median(v, r->runs);
	}
	return figure(r) / figure(base);
}

static const struct row *limit_base(const struct row *rows, size_t n,
                                    const struct row *r)
{
	if (r->t->kind == TEST_THROUGHPUT)
		return find_row(rows, n, &tp_spsc, tp_base_name(r->t));
	if (r->t->wait == WAIT_BLOCK || r->t->wait == WAIT_FD)
		return find_row(rows, n, &tp_futex, "lat-block");
	return find_row(rows, n, &tp_spsc, "lat-spin");
}

/* A request row's ping-pong: bus's latency test of the same wait. */
static const struct row *ping_pong_base(const struct row *rows, size_t n,
                                        const struct row *r)
{
	if (!r->t->request)
		return NULL;
	for (size_t i = 0; i < NTESTS; i++)
		if (tests[i].kind == TEST_LATENCY && !tests[i].request &&
		    tests[i].wait == r->t->wait)
			return find_row(rows, n, &tp_bus, tests[i].name);
	return NULL;
}

static const struct row *uds_base(const struct row *rows, size_t n,
                                  const struct row *r)
{
	if (r->t->kind == TEST_THROUGHPUT)
		return find_row(rows, n, &tp_uds, tp_base_name(r->t));
	return find_row(rows, n, &tp_uds, "lat-block");
}

/* --- goals --- */

struct goal {
	const char *text;
	double value; /* NAN: not measured in this run */
	double target;
	bool at_most; /* value <= target (else >=, or < with strict) */
	bool strict;
	bool percent; /* show as a percentage */
};

#define NGOALS 18

/*
 * The highest bus/limit ratio over the throughput rows both ran: the
 * limit bounds bus only if it is below 1 (docs/benchmarks.md).
 */
static double worst_vs_limit(const struct row *rows, size_t n)
{
	double worst = NAN;

	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		double x;

		if (r->tp != &tp_bus || r->t->kind != TEST_THROUGHPUT ||
		    r->t->producers != 1 || find_row(rows, n, &tp_bus, r->t->name) != r)
			continue;
		x = ratio(r, limit_base(rows, n, r));
		if (!isnan(x) && (isnan(worst) || x > worst))
			worst = x;
	}
	return worst;
}

static void eval_goals(const struct row *rows, size_t n, struct goal *g)
{
	const struct row *bus64 = find_row(rows, n, &tp_bus, "tp-64");
	const struct row *bus1k = find_row(rows, n, &tp_bus, "tp-1k");
	const struct row *bus64k = find_row(rows, n, &tp_bus, "tp-64k");
	const struct row *bus4 = find_row(rows, n, &tp_bus, "tp-4x64");
	const struct row *spin = find_row(rows, n, &tp_bus, "lat-spin");
	const struct row *dflt = find_row(rows, n, &tp_bus, "lat-default");
	const struct row *block = find_row(rows, n, &tp_bus, "lat-block");
	const struct row *fd64 = find_row(rows, n, &tp_bus, "tp-64-fd");
	const struct row *fdlat = find_row(rows, n, &tp_bus, "lat-fd");
	const struct row *futex_block = find_row(rows, n, &tp_futex, "lat-block");
	const struct row *req_spin = find_row(rows, n, &tp_bus, "req-spin");
	const struct row *req_dflt = find_row(rows, n, &tp_bus, "req-default");
	double min_share = NAN, futex = NAN;

	if (bus4) {
		min_share = 1;
		for (uint32_t p = 0; p < bus4->t->producers; p++)
			if (bus4->med.share[p] < min_share)
				min_share = bus4->med.share[p];
	}
	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];

		if (r->tp == &tp_bus && r->t->kind == TEST_THROUGHPUT &&
		    r->t->wait == WAIT_DEFAULT &&
		    find_row(rows, n, &tp_bus, r->t->name) == r &&
		    r->med.futex_per_msg >= 0 &&
		    (isnan(futex) || r->med.futex_per_msg > futex))
			futex = r->med.futex_per_msg;
	}
	g[0] = (struct goal){"throughput 1 producer 64 B: bus >= 50% of shm-spsc-limit",
	                     ratio(bus64, find_row(rows, n, &tp_spsc, "tp-64")),
	                     0.5, false, false, true};
	g[1] = (struct goal){"throughput 1 producer 1 KiB: bus >= 70% of shm-spsc-limit",
	                     ratio(bus1k, find_row(rows, n, &tp_spsc, "tp-1k")),
	                     0.7, false, false, true};
	g[2] = (struct goal){"throughput 1 producer 64 KiB: bus >= 80% of shm-spsc-limit",
	                     ratio(bus64k, find_row(rows, n, &tp_spsc, "tp-64k")),
	                     0.8, false, false, true};
	g[3] = (struct goal){"throughput 1 producer 64 B: bus >= 4x zeromq",
	                     ratio(bus64, find_row(rows, n, &tp_zmq, "tp-64")),
	                     4, false, false, false};
	g[4] = (struct goal){"throughput 1 producer 64 B: bus >= 20x uds",
	                     ratio(bus64, find_row(rows, n, &tp_uds, "tp-64")),
	                     20, false, false, false};
	g[5] = (struct goal){"throughput 4 producers 64 B: bus >= 70% of its 1-producer figure",
	                     ratio(bus4, bus64), 0.7, false, false, true};
	g[6] = (struct goal){"throughput 4 producers 64 B: no producer below 15% of the total",
	                     min_share, 0.15, false, false, true};
	g[7] = (struct goal){"latency, spinning: bus p50 round trip <= 1.5x shm-spsc-limit",
	                     ratio(spin, find_row(rows, n, &tp_spsc, "lat-spin")),
	                     1.5, true, false, false};
	g[8] = (struct goal){"latency, pure blocking: bus p50 round trip <= 1.1x futex-limit",
	                     ratio(block, futex_block), 1.1, true, false, false};
	g[9] = (struct goal){"latency, default wait: bus p50 round trip <= 3x bus spinning",
	                     ratio(dflt, spin), 3, true, false, false};
	g[10] = (struct goal){"throughput tests: bus futex calls per message < 0.01",
	                      futex, 0.01, true, true, false};
	g[11] = (struct goal){"bus below shm-spsc-limit in every throughput row",
	                      worst_vs_limit(rows, n), 1, true, true, false};
	g[12] = (struct goal){"loan-API throughput at 64 B >= 95% of bus_send()",
	                      ratio(find_row(rows, n, &tp_bus_loan, "tp-64"), bus64),
	                      0.95, false, false, true};
	g[13] = (struct goal){"latency, descriptor: bus p50 round trip <= 1.15x futex-limit",
	                      ratio(fdlat, futex_block), 1.15, true, false, false};
	g[14] = (struct goal){"throughput 64 B, epoll consumer: >= 90% of bus's default wait",
	                      ratio(fd64, bus64), 0.9, false, false, true};
	g[15] = (struct goal){"throughput 64 B, epoll consumer: wakes+arms per message < 0.01",
	                      fd64 && fd64->med.futex_per_msg >= 0 ? fd64->med.futex_per_msg
	                                                           : NAN,
	                      0.01, true, true, false};
	g[16] = (struct goal){"request and reply, spinning: p50 <= 1.2x bus ping-pong spinning",
	                      ratio(req_spin, spin), 1.2, true, false, false};
	g[17] = (struct goal){"request and reply, default wait: p50 <= 1.2x bus ping-pong",
	                      ratio(req_dflt, dflt), 1.2, true, false, false};
}

static int goal_pass(const struct goal *g)
{
	if (isnan(g->value))
		return -1;
	if (g->at_most)
		return g->strict ? g->value < g->target : g->value <= g->target;
	return g->value >= g->target;
}

/* --- the machine --- */

struct machine {
	char cpu[128];
	long cpus;
	char kernel[sizeof(((struct utsname *)0)->release)];
	char arch[sizeof(((struct utsname *)0)->machine)];
	double load;
	double psi_start, psi_end; /* CPU pressure, "some" avg10 (%), or -1 */
};

/*
 * The share of time in the last 10 s in which some runnable task waited
 * for a CPU (/proc/pressure/cpu), or -1: other work on a shared machine
 * shows here, which a load average mixes with our own processes.
 */
static double cpu_pressure(void)
{
	static const char key[] = "some avg10=";
	const size_t klen = sizeof(key) - 1;
	char line[256], *end;
	double v;

	if (!bench_read_line("/proc/pressure/cpu", line, sizeof(line)) ||
	    strncmp(line, key, klen) != 0)
		return -1;
	errno = 0;
	v = strtod(line + klen, &end);
	if (errno || end == line + klen || (*end != ' ' && *end != '\n') || !(v >= 0))
		return -1;
	return v;
}

static void machine_read(struct machine *m)
{
	struct utsname u;
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[512];

	*m = (struct machine){
		.cpus = sysconf(_SC_NPROCESSORS_ONLN),
		.load = -1,
		.psi_start = cpu_pressure(),
		.psi_end = -1,
	};
	snprintf(m->cpu, sizeof(m->cpu), "unknown");
	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) == 0 && colon) {
			colon += 1 + strspn(colon + 1, " \t");
			colon[strcspn(colon, "\n")] = '\0';
			snprintf(m->cpu, sizeof(m->cpu), "%s", colon);
			break;
		}
	}
	if (f)
		fclose(f);
	if (uname(&u) == 0) {
		snprintf(m->kernel, sizeof(m->kernel), "%s", u.release);
		snprintf(m->arch, sizeof(m->arch), "%s", u.machine);
	}
	if (getloadavg(&m->load, 1) != 1)
		m->load = -1;
}

/* --- the table --- */

static void fmt_rate(char *buf, size_t n, double v)
{
	if (v >= 1e9)
		snprintf(buf, n, "%.2fG", v / 1e9);
	else if (v >= 1e6)
		snprintf(buf, n, "%.2fM", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, n, "%.1fK", v / 1e3);
	else
		snprintf(buf, n, "%.0f", v);
}

static void fmt_ns(char *buf, size_t n, uint64_t ns)
{
	if (ns >= 1000000)
		snprintf(buf, n, "%.2fms", (double)ns / 1e6);
	else if (ns >= 10000)
		snprintf(buf, n, "%.1fus", (double)ns / 1e3);
	else
		snprintf(buf, n, "%lluns", (unsigned long long)ns);
}

static void fmt_ratio(char *buf, size_t n, double v)
{
	if (isnan(v))
		snprintf(buf, n, "-");
	else if (v >= 10)
		snprintf(buf, n, "%.1fx", v);
	else
		snprintf(buf, n, "%.2fx", v);
}

static void test_label(char *buf, size_t n, const struct test *t)
{
	if (t->kind == TEST_THROUGHPUT && t->wait == WAIT_DEFAULT)
		snprintf(buf, n, "throughput");
	else if (t->kind == TEST_THROUGHPUT)
		snprintf(buf, n, "throughput/%s", wait_names[t->wait]);
	else if (t->request)
		snprintf(buf, n, "request/%s", wait_names[t->wait]);
	else
		snprintf(buf, n, "latency/%s", wait_names[t->wait]);
}

static void print_table(const struct options *o, const struct machine *mc,
                        const struct row *rows, size_t n)
{
	struct goal goals[NGOALS];
	bool any_skipped = false, any_failed = false;

	printf("busbench %d.%d.%d: median of %u run%s per figure, ", BUS_VERSION_MAJOR,
	       BUS_VERSION_MINOR, BUS_VERSION_PATCH, o->runs, o->runs == 1 ? "" : "s");
	if (o->duration_set)
		printf("%llu ms", (unsigned long long)o->duration_ms);
	if (o->duration_set && o->messages_set)
		printf(" or ");
	if (o->messages_set)
		printf("%llu messages", (unsigned long long)o->messages);
	printf(" each; queues of %llu KiB; bus attached %s%s; %s\n",
	       (unsigned long long)(o->capacity >> 10),
	       o->socket ? "through busd" : "directly to its segments",
	       o->own_busd ? " (fd and request rows: through a busd of busbench's own)" : "",
	       o->no_pin ? "no CPU pinning" : "pairs pinned to two CPUs");
	printf("machine: %s, %ld CPUs, Linux %s %s", mc->cpu, mc->cpus, mc->kernel,
	       mc->arch);
	if (mc->load >= 0)
		printf(", load average %.2f at start", mc->load);
	if (mc->psi_start >= 0 && mc->psi_end >= 0)
		printf(",\n  CPU pressure (some, avg10) %.1f%% at start, %.1f%% at end",
		       mc->psi_start, mc->psi_end);
	printf("\n\n");
	printf("%-18s %-15s %2s %6s %9s %9s %9s %9s %9s %7s %7s %9s\n", "test",
	       "transport", "P", "size", "msgs/s", "MB/s", "p50", "p99", "p99.9",
	       "/limit", "/uds", "futex/msg");
	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		char label[32], rate[16], mb[16], p50[16], p99[16], p999[16];
		char rl[16], ru[16], fx[16];

		if (r->skipped[0] || r->error[0] || !r->runs) {
			any_skipped |= r->skipped[0] != 0;
			any_failed |= r->error[0] != 0;
			continue;
		}
		test_label(label, sizeof(label), r->t);
		fmt_rate(rate, sizeof(rate), r->med.msgs_per_sec);
		if (r->t->kind == TEST_THROUGHPUT) {
			snprintf(mb, sizeof(mb), "%.1f", r->med.mb_per_sec);
			snprintf(p50, sizeof(p50), "-");
			snprintf(p99, sizeof(p99), "-");
			snprintf(p999, sizeof(p999), "-");
		} else {
			snprintf(mb, sizeof(mb), "-");
			fmt_ns(p50, sizeof(p50), r->med.p50_ns);
			fmt_ns(p99, sizeof(p99), r->med.p99_ns);
			fmt_ns(p999, sizeof(p999), r->med.p999_ns);
		}
		fmt_ratio(rl, sizeof(rl), ratio(r, limit_base(rows, n, r)));
		fmt_ratio(ru, sizeof(ru), ratio(r, uds_base(rows, n, r)));
		if (r->med.futex_per_msg >= 0)
			snprintf(fx, sizeof(fx), "%.4f", r->med.futex_per_msg);
		else
			snprintf(fx, sizeof(fx), "-");
		printf("%-18s %-15s %2u %6zu %9s %9s %9s %9s %9s %7s %7s %9s\n", label,
		       r->tp->name, r->t->producers, row_size(r), rate, mb, p50, p99,
		       p999, rl, ru, fx);
		if (r->t->request) {
			fmt_ratio(rl, sizeof(rl), ratio(r, ping_pong_base(rows, n, r)));
			printf("%-18s %-15s    p50 over bus's latency/%s: %s\n", "", "",
			       wait_names[r->t->wait], rl);
		}
		if (r->t->producers > 1) {
			printf("%-18s %-15s    shares:", "", "");
			for (uint32_t p = 0; p < r->t->producers; p++)
				printf(" %.1f%%", 100 * r->med.share[p]);
			printf("\n");
		}
	}
	printf("\nmsgs/s of latency rows: round trips per second.  Ratios: this row's\n"
	       "msgs/s (throughput) or p50 (latency) over the baseline's: /limit is\n"
	       "shm-spsc-limit (futex-limit for latency/block and latency/fd), /uds\n"
	       "is uds; throughput/fd rows against the plain throughput row's.\n"
	       "futex/msg of fd rows: wake calls (a descriptor write, no futex\n"
	       "wake) and descriptor arms (each then an epoll_wait), per message.\n"
	       "request rows: bus_client_call() round trips through a queue busd\n"
	       "made, caller and service waiting as the ping-pong's sides, set\n"
	       "against bus's ping-pong of the same wait, round by round.\n");
	if (any_skipped) {
		printf("\nskipped:\n");
		for (size_t i = 0; i < n; i++)
			if (rows[i].skipped[0])
				printf("  %s %s: %s\n", rows[i].tp->name, rows[i].t->name,
				       rows[i].skipped);
	}
	if (any_failed) {
		printf("\nFAILED:\n");
		for (size_t i = 0; i < n; i++)
			if (rows[i].error[0])
				printf("  %s %s: %s\n", rows[i].tp->name, rows[i].t->name,
				       rows[i].error);
	}

	eval_goals(rows, n, goals);
	printf("\ngoals (ratios within this run; informational only):\n");
	for (int i = 0; i < NGOALS; i++) {
		const struct goal *g = &goals[i];
		int pass = goal_pass(g);
		char v[32];

		if (pass < 0)
			snprintf(v, sizeof(v), "n/a");
		else if (g->percent)
			snprintf(v, sizeof(v), "%.1f%%", 100 * g->value);
		else if (g->strict)
			snprintf(v, sizeof(v), "%.4f", g->value);
		else
			snprintf(v, sizeof(v), "%.3fx", g->value);
		printf("  %-66s %9s  %s\n", g->text, v,
		       pass < 0 ? "(not run)" : pass ? "PASS"
		                                     : "MISS");
	}
	printf("  (allocations and instructions per send+receive: bus-cost and\n"
	       "   scripts/callgrind-cost.sh)\n");
}

/* --- JSON --- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* A number with `decimals` digits after the point, or null. */
static void json_num(FILE *f, double v, int decimals)
{
	if (isfinite(v))
		fprintf(f, "%.*f", decimals, v);
	else
		fprintf(f, "null");
}

static void print_json(FILE *f, const struct options *o, const struct machine *mc,
                       const struct row *rows, size_t n)
{
	struct goal goals[NGOALS];
	bool first = true;

	fprintf(f, "{\"busbench\":\"%d.%d.%d\",\"runs\":%u,\"duration_ms\":",
	        BUS_VERSION_MAJOR, BUS_VERSION_MINOR, BUS_VERSION_PATCH, o->runs);
	if (o->duration_set)
		fprintf(f, "%llu", (unsigned long long)o->duration_ms);
	else
		fprintf(f, "null");
	fprintf(f, ",\"messages\":");
	if (o->messages_set)
		fprintf(f, "%llu", (unsigned long long)o->messages);
	else
		fprintf(f, "null");
	fprintf(f, ",\"capacity\":%llu,\"attach\":\"%s\",\"attach_fd\":%s,"
	           "\"pin\":%s,\"machine\":{\"cpu\":",
	        (unsigned long long)o->capacity, o->socket ? "busd" : "segment",
	        o->socket ? "\"busd\"" : o->own_busd ? "\"private-busd\""
	                                             : "null",
	        o->no_pin ? "false" : "true");
	json_str(f, mc->cpu);
	fprintf(f, ",\"cpus\":%ld,\"kernel\":", mc->cpus);
	json_str(f, mc->kernel);
	fprintf(f, ",\"arch\":");
	json_str(f, mc->arch);
	fprintf(f, ",\"loadavg\":");
	json_num(f, mc->load >= 0 ? mc->load : NAN, 2);
	fprintf(f, ",\"cpu_pressure_start\":");
	json_num(f, mc->psi_start >= 0 ? mc->psi_start : NAN, 2);
	fprintf(f, ",\"cpu_pressure_end\":");
	json_num(f, mc->psi_end >= 0 ? mc->psi_end : NAN, 2);
	fprintf(f, "},\n\"results\":[");
	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		bool ok = !r->skipped[0] && !r->error[0] && r->runs;
		bool tput = r->t->kind == TEST_THROUGHPUT;

		fprintf(f, "%s\n{\"transport\":\"%s\",\"test\":\"%s\",\"name\":\"%s\"",
		        first ? "" : ",", r->tp->name,
		        tput ? "throughput" : r->t->request ? "request"
		                                            : "latency",
		        r->t->name);
		first = false;
		if (!tput || r->t->wait != WAIT_DEFAULT)
			fprintf(f, ",\"wait\":\"%s\"", wait_names[r->t->wait]);
		fprintf(f, ",\"producers\":%u,\"size\":%zu", r->t->producers, row_size(r));
		fprintf(f, ",\"msgs_per_sec\":");
		json_num(f, ok ? r->med.msgs_per_sec : NAN, 1);
		fprintf(f, ",\"mb_per_sec\":");
		json_num(f, ok && tput ? r->med.mb_per_sec : NAN, 2);
		fprintf(f, ",\"p50_ns\":");
		json_num(f, ok && !tput ? (double)r->med.p50_ns : NAN, 0);
		fprintf(f, ",\"p99_ns\":");
		json_num(f, ok && !tput ? (double)r->med.p99_ns : NAN, 0);
		fprintf(f, ",\"p999_ns\":");
		json_num(f, ok && !tput ? (double)r->med.p999_ns : NAN, 0);
		if (ok) {
			fprintf(f, ",\"runs\":%u,\"measured\":%llu", r->runs,
			        (unsigned long long)r->med.msgs);
			fprintf(f, ",\"ratio_limit\":");
			json_num(f, ratio(r, limit_base(rows, n, r)), 4);
			fprintf(f, ",\"ratio_uds\":");
			json_num(f, ratio(r, uds_base(rows, n, r)), 4);
			if (r->t->request) {
				fprintf(f, ",\"ratio_ping_pong\":");
				json_num(f, ratio(r, ping_pong_base(rows, n, r)), 4);
			}
			if (r->med.futex_per_msg >= 0) {
				fprintf(f, ",\"futex_per_msg\":%.6f", r->med.futex_per_msg);
				fprintf(f, ",\"blocked_per_msg\":%.6f", r->med.blocked_per_msg);
			}
			if (tput) {
				fprintf(f, ",\"share\":[");
				for (uint32_t p = 0; p < r->t->producers; p++)
					fprintf(f, "%s%.4f", p ? "," : "", r->med.share[p]);
				fprintf(f, "]");
			}
		}
		if (r->skipped[0]) {
			fprintf(f, ",\"skipped\":");
			json_str(f, r->skipped);
		}
		if (r->error[0]) {
			fprintf(f, ",\"error\":");
			json_str(f, r->error);
		}
		fprintf(f, "}");
	}
	fprintf(f, "],\n\"goals\":[");
	eval_goals(rows, n, goals);
	for (int i = 0; i < NGOALS; i++) {
		int pass = goal_pass(&goals[i]);

		fprintf(f, "%s\n{\"goal\":", i ? "," : "");
		json_str(f, goals[i].text);
		fprintf(f, ",\"value\":");
		json_num(f, goals[i].value, 4);
		fprintf(f, ",\"target\":%g,\"op\":\"%s\",\"pass\":%s}", goals[i].target,
		        goals[i].at_most ? (goals[i].strict ? "<" : "<=") : ">=",
		        pass < 0 ? "null" : pass ? "true"
		                                 : "false");
	}
	fprintf(f, "]}\n");
}

/*
 * Without --socket, rows that wait on the descriptor, and the request
 * rows, need a busd: starts one if a selected row needs it
 * (o->own_busd).  Returns 0, or -1 with the reason in why, *fatal set if
 * busd was found but would not serve (those rows then fail rather than
 * being skipped).
 */
static int start_busd(struct options *o, char *why, size_t n, bool *fatal)
{
	char path[4096];
	bool needed = false, named;

	*fatal = false;
	if (o->socket)
		return 0;
	for (size_t t = 0; t < NTESTS; t++)
		for (size_t k = 0; k < NTRANSPORTS; k++)
			if ((o->tests & (1u << t)) && (o->transports & (1u << k)) &&
			    needs_busd(&tests[t]) && applies(transports[k], &tests[t]))
				needed = true;
	if (!needed)
		return 0;
	if (bench_busd_find(o->busd, path, sizeof(path), &named, why, n) < 0)
		return -1;
	if (bench_busd_start(path, why, n) < 0) {
		*fatal = true;
		return -1;
	}
	o->own_busd = true;
	return 0;
}

int main(int argc, char **argv)
{
	struct row *rows;
	struct options o;
	struct run_opts ro;
	struct machine mc;
	char busd_why[200] = "", err[200];
	bool busd_fatal = false;
	size_t n = 0;
	int rc, status = 0;

	rc = parse_args(argc, argv, &o);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (run_install_signals() < 0) {
		fprintf(stderr, PROG ": sigaction: %s\n", strerror(errno));
		return 1;
	}
	rows = calloc(NTESTS * NTRANSPORTS, sizeof(*rows));
	if (!rows) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	machine_read(&mc);
	start_busd(&o, busd_why, sizeof(busd_why), &busd_fatal);
	ro = (struct run_opts){
		.duration_ns = o.duration_set ? o.duration_ms * 1000000u : 0,
		.messages = o.messages_set ? o.messages : 0,
		.capacity = o.capacity,
		.socket = o.socket,
		.pin = !o.no_pin,
	};

	for (size_t t = 0; t < NTESTS; t++) {
		if (!(o.tests & (1u << t)))
			continue;
		for (size_t k = 0; k < NTRANSPORTS; k++) {
			struct row *r = &rows[n];
			struct chan_cfg cfg;

			if (!(o.transports & (1u << k)) || !applies(transports[k], &tests[t]))
				continue;
			*r = (struct row){.tp = transports[k], .t = &tests[t], .socket = o.socket};
			if (needs_busd(&tests[t]) && !o.socket && o.own_busd) {
				r->socket = bench_busd_socket();
				r->private_busd = true;
			}
			cfg = (struct chan_cfg){
				.size = tests[t].size,
				.producers = tests[t].producers,
				.capacity = o.capacity,
				.wait = tests[t].wait,
				.socket = r->socket,
				.private_busd = r->private_busd,
			};
			if (needs_busd(&tests[t]) && !r->socket && busd_fatal)
				snprintf(r->error, sizeof(r->error), "starting busd: %s",
				         busd_why);
			else if (needs_busd(&tests[t]) && !r->socket && busd_why[0])
				snprintf(r->skipped, sizeof(r->skipped), "%s", busd_why);
			else
				r->tp->unsupported(&cfg, r->skipped, sizeof(r->skipped));
			n++;
		}
	}
	if (n == 0) {
		fprintf(stderr, PROG ": none of the selected transports runs the "
		                     "selected tests (see --help)\n");
		free(rows);
		bench_busd_stop(err, sizeof(err));
		return 2;
	}

	/*
	 * Each throughput test is a group, with its variants of another wait
	 * (tp-64-fd, next to it in tests[]); the latency tests are one group,
	 * since the goals compare figures across them (default wait against
	 * spinning), and the machine can change between two tests' runs.
	 */
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i; j < n && same_group(rows[j].t, rows[i].t); j++)
			;
		run_test(&o, &ro, &rows[i], j - i);
	}
	for (size_t i = 0; i < n; i++) {
		char why[200];

		if (!rows[i].skipped[0] && !rows[i].error[0] &&
		    !figures_ok(&rows[i], why, sizeof(why))) {
			snprintf(rows[i].error, sizeof(rows[i].error), "bad figures: %s",
			         why);
		}
	}
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\r\033[K");
	mc.psi_end = cpu_pressure();
	if (bench_busd_stop(err, sizeof(err)) < 0) {
		fprintf(stderr, PROG ": %s\n", err);
		status = 1;
	}

	if (o.json)
		print_json(stdout, &o, &mc, rows, n);
	else
		print_table(&o, &mc, rows, n);
	if (o.save_json) {
		FILE *f = fopen(o.save_json, "we");

		if (f)
			print_json(f, &o, &mc, rows, n);
		if (!f || ferror(f) | (fclose(f) != 0)) {
			fprintf(stderr, PROG ": --save-json %s: %s\n", o.save_json,
			        strerror(errno));
			status = 1;
		}
	}

	for (size_t i = 0; i < n; i++) {
		if (rows[i].error[0]) {
			fprintf(stderr, PROG ": %s %s: %s\n", rows[i].tp->name,
			        rows[i].t->name, rows[i].error);
			status = 1;
		}
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, PROG ": writing the report: %s\n", strerror(errno));
		status = 1;
	}
	free(rows);
	return status;
}

/*
 * ring-demo.c - the data plane with real processes: two producers, one
 * consumer, one queue segment in /dev/shm.
 *
 * The parent creates a queue segment under a name of its own, forks two
 * producer processes and becomes the queue's consumer.  Each producer
 * opens the segment by name after the fork (a file description of its
 * own, so the kernel lock that marks its slot alive is its own) and sends
 * its messages: demo.Order messages packed straight into the ring with
 * bus_send_pb(), alternating with untyped text messages sent with
 * bus_send().  The consumer receives them with blocking bus_recv(),
 * unpacks the orders into a stack arena, prints one line per message and
 * then the queue's counters as the segment keeps them.
 *
 * Every payload names its producer and its index, so the consumer can
 * check that each message arrived exactly once and in per-producer order;
 * the exit status says whether it did (0) or not (1); 2 is bad usage.
 *
 * The segment's name serves only to attach: the consumer removes it as
 * soon as a message from every producer has arrived, and otherwise at the
 * end, on every failure path and on SIGINT, SIGTERM or SIGHUP, so that
 * nothing is left in /dev/shm.  Attaching by a name of its own is how
 * this demo does without busd; it is not a template for that part: a
 * program finds a queue through busd (bus_open, bus_producer_open,
 * bus_consumer_open), which creates and owns the segment.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bus/bus.h"
#include "demo.pb-c.h"
#include "handle.h"
#include "util/num.h"
#include "segment.h"
#include "util/nstime.h"
#include "util/prog.h"

#define PROG "ring-demo"
const char *const prog_name = PROG;

#define NPRODUCERS          2u
#define DEFAULT_MESSAGES    5u
#define MAX_MESSAGES        100000u
#define DEFAULT_CAPACITY    (UINT64_C(64) << 10)
#define DEFAULT_INTERVAL_US 1000u
#define MAX_INTERVAL_US     1000000u

/* Producers are named A, B, ... so their names do not read as slots. */
#define PNAME(p) ((char)('A' + (p)))

/* Order ids: (producer + 1) * ORDER_ID_BASE + index, readable at a glance. */
#define ORDER_ID_BASE 1000000u

/* How long one receive waits before the consumer looks at its producers. */
#define RECV_POLL_MS 200

#define TEXT_TYPE 0u /* untyped: raw bytes */

/* Exit statuses of the producer processes. */
enum {
	CHILD_OK = 0,
	CHILD_OPEN = 10,   /* seg_open_shm failed */
	CHILD_ATTACH = 11, /* producer_attach failed */
	CHILD_SEND = 12,   /* bus_send / bus_send_pb failed */
	CHILD_ORPHAN = 13, /* the consumer was gone before we started */
};

struct options {
	uint32_t messages;    /* per producer */
	uint64_t capacity;    /* ring bytes */
	uint32_t interval_us; /* pause between a producer's messages */
};

static const char *const symbols[] = {"ACME", "GLOBEX", "INITECH", "UMBRELLA"};

/*
 * The one piece of process-wide state: the segment's name, and what the
 * signal handler needs to remove it.  The strings are written before the
 * handler is installed.
 */
static char shm_name[96];
static char shm_path[128];
static pid_t owner_pid;
static volatile sig_atomic_t name_linked;

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: " PROG " [--messages N] [--capacity BYTES] [--interval-us US]\n"
	        "\n"
	        "Creates a queue segment in /dev/shm, forks %u producer processes that\n"
	        "attach to it by name and send demo.Order and text messages, and\n"
	        "receives them all in this process, the queue's consumer.  Prints one\n"
	        "line per message and the queue's counters; exits 0 only if every\n"
	        "message arrived exactly once and in per-producer order.\n"
	        "\n"
	        "  -n, --messages N        messages per producer, 1 to %u (default %u)\n"
	        "  -c, --capacity BYTES    ring size, a power of two from 256 to 1G;\n"
	        "                          K, M and G suffixes allowed (default 64K)\n"
	        "  -i, --interval-us US    pause between a producer's messages, 0 to %u\n"
	        "                          (default %u; 0 sends in a burst)\n"
	        "  -h, --help              print this help and exit\n"
	        "  -V, --version           print the version and exit\n"
	        "\n"
	        "Exit status: 0 all delivered, 1 a failure or a lost, repeated or\n"
	        "misordered message, 2 bad usage.\n",
	        NPRODUCERS, MAX_MESSAGES, DEFAULT_MESSAGES, MAX_INTERVAL_US,
	        DEFAULT_INTERVAL_US);
}

/* Returns 0 and fills *o, or 2 (after one line on stderr), or -1 for "exit 0". */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"messages", required_argument, NULL, 'n'},
		{"capacity", required_argument, NULL, 'c'},
		{"interval-us", required_argument, NULL, 'i'},
		PROG_OPTIONS_END,
	};
	uint64_t v;
	int opt;

	*o = (struct options){
		.messages = DEFAULT_MESSAGES,
		.capacity = DEFAULT_CAPACITY,
		.interval_us = DEFAULT_INTERVAL_US,
	};
	opterr = 0; /* one line of our own instead of getopt's */
	while ((opt = getopt_long(argc, argv, ":n:c:i:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (prog_opt_u64("--messages", optarg, false, 1, MAX_MESSAGES, &v))
				return PROG_EXIT_USAGE;
			o->messages = (uint32_t)v;
			break;
		case 'c':
			if (prog_opt_pow2("--capacity", optarg, SEG_MIN_CAPACITY,
			                  SEG_MAX_CAPACITY, "256 to 1G", &v))
				return PROG_EXIT_USAGE;
			o->capacity = v;
			break;
		case 'i':
			if (prog_opt_u64("--interval-us", optarg, false, 0, MAX_INTERVAL_US,
			                 &v))
				return PROG_EXIT_USAGE;
			o->interval_us = (uint32_t)v;
			break;
		default:
			return prog_tool_option(opt, argv, usage, PROG_BUS_VERSION);
		}
	}
	if (optind < argc)
		return prog_operands(argc, argv);
	return 0;
}

/* Removes the segment's name, then dies of the signal as it would have. */
static void on_fatal_signal(int sig)
{
	/* unlink() is async-signal-safe; shm_unlink() is not listed as such. */
	if (getpid() == owner_pid && name_linked)
		unlink(shm_path);
	/* SA_RESETHAND restored the default action: this kills the process. */
	raise(sig);
}

static int install_signal_handlers(void)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
	struct sigaction sa = {
		.sa_handler = on_fatal_signal,
		.sa_flags = SA_RESETHAND,
	};

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) < 0)
			return -errno;
	return 0;
}

/*
 * Removes the segment's name.  The segment itself lives on while anyone
 * maps it; the name only lets new processes attach.
 */
static void remove_name(void)
{
	if (!name_linked)
		return;
	name_linked = 0;
	if (shm_unlink(shm_name) < 0)
		fprintf(stderr, PROG ": shm_unlink %s: %s\n", shm_name, strerror(errno));
}

static uint32_t order_type(void)
{
	return bus_type_id("demo.Order");
}

/* Message i of every producer is an order when i is even, text otherwise. */
static bool is_order_index(uint32_t i)
{
	return i % 2 == 0;
}

static int text_format(char *buf, size_t n, uint32_t producer, uint32_t i)
{
	return snprintf(buf, n, "note %" PRIu32 " from producer %c", i,
	                PNAME(producer));
}

static void pause_us(uint32_t us)
{
	struct timespec ts = {
		.tv_sec = us / 1000000u,
		.tv_nsec = (long)(us % 1000000u) * 1000,
	};

	while (us && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The body of producer process `producer`; returns its exit status. */
static int producer_main(uint32_t producer, const struct options *o)
{
	struct seg s;
	const char *why = "";
	bus_producer *p;
	int r;

	/* Attach after the fork: the slot's kernel lock must be ours alone. */
	r = seg_open_shm(shm_name, &s, &why);
	if (r < 0) {
		fprintf(stderr, PROG ": producer %c: open %s: %s (%s)\n",
		        PNAME(producer), shm_name, bus_strerror(r), why ? why : "");
		return CHILD_OPEN;
	}
	r = producer_attach(&s, NULL, &p);
	if (r < 0) {
		fprintf(stderr, PROG ": producer %c: attach: %s\n", PNAME(producer),
		        bus_strerror(r));
		seg_close(&s);
		return CHILD_ATTACH;
	}

	for (uint32_t i = 0; i < o->messages; i++) {
		if (is_order_index(i)) {
			Demo__Order order = DEMO__ORDER__INIT;

			order.id = (uint64_t)(producer + 1) * ORDER_ID_BASE + i;
			order.symbol = (char *)symbols[(producer + i / 2) %
			                               (sizeof(symbols) / sizeof(symbols[0]))];
			order.quantity = (int64_t)(10 * (i / 2 + 1)) * (i % 4 ? -1 : 1);
			order.price_micros = 100000000 + (int64_t)producer * 2500000 +
			                     (int64_t)i * 125000;
			r = bus_send_pb(p, order_type(), &order.base, -1);
		} else {
			char text[64];
			int n = text_format(text, sizeof(text), producer, i);

			r = bus_send(p, TEXT_TYPE, text, (size_t)n, -1);
		}
		if (r < 0) {
			fprintf(stderr, PROG ": producer %c: send %" PRIu32 ": %s\n",
			        PNAME(producer), i, bus_strerror(r));
			bus_producer_close(p);
			return CHILD_SEND;
		}
		if (i + 1 < o->messages)
			pause_us(o->interval_us);
	}
	bus_producer_close(p);
	return CHILD_OK;
}

/* What the consumer knows about one producer process. */
struct prod_state {
	pid_t started; /* its pid, for reports */
	pid_t pid;     /* 0 once reaped */
	int status;    /* its exit status once reaped */
	uint32_t next; /* index of the next message expected */
	int64_t slot;  /* its slot, -1 until its first message */
	uint64_t seq0; /* the slot's sequence number at its first message */
};

struct tally {
	uint64_t received;
	uint64_t problems;
	uint64_t lat_min, lat_max, lat_sum;
};

/* Decodes which producer sent a message and its index, from the payload. */
static int identify(const bus_msg *m, const struct options *o, char *desc,
                    size_t desc_n, uint32_t *producer, uint32_t *index,
                    bool *order)
{
	alignas(max_align_t) unsigned char arena[512];
	ProtobufCMessage *pm;
	int r;

	if (m->type == order_type()) {
		const Demo__Order *ord;
		uint64_t q;

		r = bus_msg_unpack(m, &demo__order__descriptor, arena, sizeof(arena),
		                   &pm);
		if (r < 0) {
			snprintf(desc, desc_n, "demo.Order that does not decode: %s",
			         bus_strerror(r));
			return -1;
		}
		ord = (const Demo__Order *)pm;
		q = ord->quantity < 0 ? (uint64_t)-ord->quantity : (uint64_t)ord->quantity;
		snprintf(desc, desc_n, "demo.Order id=%" PRIu64 " %s %" PRIu64 " %s @ %" PRId64 ".%06" PRId64, ord->id,
		         ord->quantity < 0 ? "SELL" : "BUY", q, ord->symbol,
		         ord->price_micros / 1000000, ord->price_micros % 1000000);
		if (ord->id < ORDER_ID_BASE ||
		    ord->id / ORDER_ID_BASE > NPRODUCERS ||
		    ord->id % ORDER_ID_BASE >= o->messages)
			return -1;
		*producer = (uint32_t)(ord->id / ORDER_ID_BASE - 1);
		*index = (uint32_t)(ord->id % ORDER_ID_BASE);
		*order = true;
		return 0;
	}
	if (m->type == TEXT_TYPE) {
		static const char from[] = " from producer ";
		char text[64], expect[64];
		unsigned long ul;
		uint32_t i;
		char *end;
		char name;

		if (m->len >= sizeof(text)) {
			snprintf(desc, desc_n, "text of %zu bytes, too long", m->len);
			return -1;
		}
		memcpy(text, m->data, m->len);
		text[m->len] = '\0';
		snprintf(desc, desc_n, "text \"%s\"", text);
		/* "note I from producer P", nothing before, between or after. */
		if (strlen(text) != m->len || strncmp(text, "note ", 5) != 0)
			return -1;
		errno = 0;
		ul = strtoul(text + 5, &end, 10);
		if (end == text + 5 || errno == ERANGE || ul >= o->messages ||
		    strncmp(end, from, sizeof(from) - 1) != 0)
			return -1;
		i = (uint32_t)ul;
		name = end[sizeof(from) - 1];
		if (name < PNAME(0) || name > PNAME(NPRODUCERS - 1) ||
		    end[sizeof(from)] != '\0')
			return -1;
		/* Refuse "note 01 ..." and the like: the text must be the canonical one. */
		text_format(expect, sizeof(expect), (uint32_t)(name - PNAME(0)), i);
		if (strcmp(expect, text) != 0)
			return -1;
		*producer = (uint32_t)(name - PNAME(0));
		*index = i;
		*order = false;
		return 0;
	}
	snprintf(desc, desc_n, "unknown type 0x%08" PRIx32 ", %zu bytes", m->type,
	         m->len);
	return -1;
}

/*
 * The producer other than `except` that holds slot, or -1.  One that has
 * sent all its messages may have closed, and its slot may be the next
 * producer's: a slot's sequence numbers then go on from where it stopped.
 */
static int64_t slot_owner(const struct prod_state *ps, uint32_t slot,
                          uint32_t except, const struct options *o)
{
	for (uint32_t i = 0; i < NPRODUCERS; i++)
		if (i != except && ps[i].slot == (int64_t)slot && ps[i].next < o->messages)
			return i;
	return -1;
}

/* Checks one received message and prints its line. */
static void consume(const bus_msg *m, uint64_t recv_ns, const struct options *o,
                    struct prod_state *ps, struct tally *t)
{
	char desc[160];
	char problem[160] = "";
	uint32_t producer = 0, index = 0;
	bool order = false;
	uint64_t lat = recv_ns > m->enqueue_ns ? recv_ns - m->enqueue_ns : 0;
	char from = '?';

	if (identify(m, o, desc, sizeof(desc), &producer, &index, &order) < 0) {
		snprintf(problem, sizeof(problem), "not a message this demo sent");
	} else if (order != is_order_index(index)) {
		snprintf(problem, sizeof(problem), "message %" PRIu32 " of producer %c "
		                                   "has the wrong type",
		         index, PNAME(producer));
	} else if (index != ps[producer].next) {
		snprintf(problem, sizeof(problem), "%s: expected message %" PRIu32 " of producer %c, got %" PRIu32,
		         index < ps[producer].next ? "repeated" : "out of order",
		         ps[producer].next, PNAME(producer), index);
	} else if (ps[producer].slot >= 0 && m->seq != ps[producer].seq0 + index) {
		snprintf(problem, sizeof(problem), "sequence number %" PRIu64 " for message %" PRIu32, m->seq, index);
	} else if (ps[producer].slot >= 0 && ps[producer].slot != m->producer) {
		snprintf(problem, sizeof(problem), "producer %c moved from slot %" PRId64 " to slot %" PRIu32, PNAME(producer),
		         ps[producer].slot, m->producer);
	} else if (slot_owner(ps, m->producer, producer, o) >= 0) {
		snprintf(problem, sizeof(problem), "slot %" PRIu32 " is producer %c's",
		         m->producer,
		         PNAME(slot_owner(ps, m->producer, producer, o)));
	} else {
		if (ps[producer].slot < 0)
			ps[producer].seq0 = m->seq;
		ps[producer].next++;
		ps[producer].slot = m->producer;
		from = PNAME(producer);
	}

	printf("  %4" PRIu32 " %5" PRIu64 "   %c    %-52s %8.1f us%s%s\n",
	       m->producer, m->seq, from, desc, (double)lat / 1000.0,
	       problem[0] ? "  !! " : "", problem);
	if (problem[0])
		t->problems++;
	t->received++;
	t->lat_min = t->lat_min < lat ? t->lat_min : lat;
	t->lat_max = t->lat_max > lat ? t->lat_max : lat;
	t->lat_sum += lat;
}

/* Reaps producers that have exited; with block, waits for all. */
static unsigned reap(struct prod_state *ps, bool block)
{
	unsigned live = 0;

	for (uint32_t i = 0; i < NPRODUCERS; i++) {
		int st;
		pid_t r;

		if (ps[i].pid == 0)
			continue;
		do
			r = waitpid(ps[i].pid, &st, block ? 0 : WNOHANG);
		while (r < 0 && errno == EINTR);
		if (r == 0) {
			live++;
			continue;
		}
		ps[i].status = r < 0 ? 255 : WIFEXITED(st) ? WEXITSTATUS(st)
		                                           : 128 + WTERMSIG(st);
		ps[i].pid = 0;
	}
	return live;
}

static void kill_producers(struct prod_state *ps)
{
	for (uint32_t i = 0; i < NPRODUCERS; i++)
		if (ps[i].pid > 0)
			kill(ps[i].pid, SIGKILL);
	reap(ps, true);
}

static uint64_t load_counter(_Atomic uint64_t *c)
{
	/* relaxed: the producers have been reaped; waitpid ordered their writes */
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* The queue's counters, read from the segment header and producer slots. */
static void print_counters(struct seg *s, const struct prod_state *ps)
{
	struct seg_header *h = s->hdr;
	uint64_t in_msgs = 0, in_bytes = 0, full = 0, blocked = 0, wakes = 0;
	bool first = true;

	printf("\nqueue counters (kept in the segment):\n");
	for (uint32_t i = 0; i < s->max_producers; i++) {
		struct seg_slot *sl = &s->slots[i];
		uint64_t msgs = load_counter(&sl->next_seq); /* = messages committed */
		int64_t who = -1;

		for (uint32_t p = 0; p < NPRODUCERS; p++)
			if (ps[p].slot == (int64_t)i)
				who = p;
		in_msgs += msgs;
		in_bytes += load_counter(&sl->bytes);
		full += load_counter(&sl->full);
		blocked += load_counter(&sl->blocked);
		wakes += load_counter(&sl->wakes);
		if (msgs == 0 && who < 0)
			continue;
		if (who >= 0)
			printf("  slot %" PRIu32 " (producer %c, pid %d):", i, PNAME(who),
			       (int)ps[who].started);
		else
			printf("  slot %" PRIu32 " (unknown producer):", i);
		printf(" %" PRIu64 " messages, %" PRIu64 " bytes in; full %" PRIu64
		       ", blocked %" PRIu64 ", consumer wakes %" PRIu64 "\n",
		       msgs,
		       load_counter(&sl->bytes), load_counter(&sl->full),
		       load_counter(&sl->blocked), load_counter(&sl->wakes));
	}
	printf("  in:  %" PRIu64 " messages, %" PRIu64 " bytes\n", in_msgs, in_bytes);
	printf("  out: %" PRIu64 " messages, %" PRIu64 " bytes\n",
	       load_counter(&h->cons.msgs), load_counter(&h->cons.bytes));
	printf("  full %" PRIu64 ", blocked %" PRIu64 ", consumer sleeps %" PRIu64
	       ", wakes of the consumer %" PRIu64 ", wakes of blocked producers %" PRIu64 "\n",
	       full, blocked, load_counter(&h->cons.sleeps), wakes,
	       load_counter(&h->cons.wakes));
	printf("  latency histogram:");
	for (int b = 0; b < SEG_HIST_BUCKETS; b++) {
		uint64_t n = load_counter(&h->cons.hist[b]);
		char lo[32], hi[32];

		if (!n)
			continue;
		num_fmt_ns(lo, sizeof(lo), UINT64_C(1) << b, "");
		num_fmt_ns(hi, sizeof(hi), UINT64_C(1) << (b + 1 < 64 ? b + 1 : 63), "");
		printf("%s %s-%s: %" PRIu64, first ? "" : ",", lo, hi, n);
		first = false;
	}
	printf("%s\n", first ? " (empty)" : "");
}

/* Has a message from every producer arrived (so each one is attached)? */
static bool all_attached(const struct prod_state *ps)
{
	for (uint32_t i = 0; i < NPRODUCERS; i++)
		if (ps[i].slot < 0)
			return false;
	return true;
}

/* Receives until every expected message came or nothing more can come. */
static void receive_all(bus_consumer *c, const struct options *o,
                        struct prod_state *ps, struct tally *t, int *err)
{
	uint64_t expected = (uint64_t)NPRODUCERS * o->messages;
	unsigned live = NPRODUCERS;
	bus_msg m;
	int r;

	*err = 0;
	while (t->received < expected) {
		/* Blocking receive; once every producer is gone, only drain. */
		r = bus_recv(c, &m, live ? RECV_POLL_MS : 0);
		if (r == 0) {
			consume(&m, nstime_mono(), o, ps, t);
			bus_release(c);
			if (name_linked && all_attached(ps)) {
				remove_name();
				printf("  (every producer is attached: name removed, the "
				       "mapped segment lives on)\n");
			}
			continue;
		}
		if (r == -ETIMEDOUT) {
			live = reap(ps, false);
			continue;
		}
		if (r != -EAGAIN)
			*err = r;
		return;
	}
	/* Everything expected is here; anything more is a duplicate. */
	reap(ps, true);
	while ((r = bus_recv(c, &m, 0)) == 0) {
		consume(&m, nstime_mono(), o, ps, t);
		bus_release(c);
	}
	if (r != -EAGAIN)
		*err = r;
}

static int run(const struct options *o)
{
	struct prod_state ps[NPRODUCERS];
	struct seg_params params = {
		.name = "ring-demo",
		.capacity = o->capacity,
		.max_producers = NPRODUCERS,
	};
	struct tally t = {.lat_min = UINT64_MAX};
	const char *why = "";
	struct seg s;
	bus_consumer *c = NULL;
	bool ok;
	int r, err;

	snprintf(shm_name, sizeof(shm_name), "/bus-ring-demo-%d-%" PRIx64,
	         (int)getpid(), nstime_mono() & 0xffffffffu);
	snprintf(shm_path, sizeof(shm_path), "/dev/shm%s", shm_name);
	owner_pid = getpid();
	r = install_signal_handlers();
	if (r < 0) {
		fprintf(stderr, PROG ": sigaction: %s\n", strerror(-r));
		return 1;
	}

	r = seg_create_shm(shm_name, &params, &s, &why);
	if (r < 0) {
		fprintf(stderr, PROG ": create %s: %s (%s)\n", shm_name,
		        bus_strerror(r), why ? why : "");
		return 1;
	}
	name_linked = 1;
	printf(PROG ": queue \"%s\" at %s: ring %" PRIu64 " bytes, largest message %" PRIu32 " bytes, %" PRIu32 " producer slots\n", params.name, shm_path,
	       s.capacity, s.max_message, s.max_producers);
	printf(PROG ": %u producer processes send %" PRIu32 " messages each "
	            "(demo.Order type 0x%08" PRIx32 " and untyped text); this process "
	            "(pid %d) is the consumer\n\n",
	       NPRODUCERS, o->messages, order_type(),
	       (int)getpid());

	printf("  slot   seq  from   message%*slatency\n", 46, "");

	/* The consumer takes the segment's lease before any producer exists. */
	r = consumer_attach(&s, NULL, &c);
	if (r < 0) {
		fprintf(stderr, PROG ": attach consumer: %s\n", bus_strerror(r));
		seg_close(&s);
		remove_name();
		return 1;
	}

	for (uint32_t i = 0; i < NPRODUCERS; i++)
		ps[i] = (struct prod_state){.pid = 0, .slot = -1};
	fflush(NULL);
	for (uint32_t i = 0; i < NPRODUCERS; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			/*
			 * A producer outlives no consumer: without one, it would
			 * wait for space forever.
			 */
			if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != owner_pid)
				_exit(CHILD_ORPHAN);
			/*
			 * The child inherits the consumer's mapping and file
			 * description but never touches them: closing the
			 * consumer here would drop the parent's lease lock.
			 */
			_exit(producer_main(i, o));
		}
		if (pid < 0) {
			fprintf(stderr, PROG ": fork: %s\n", strerror(errno));
			kill_producers(ps);
			bus_consumer_close(c);
			remove_name();
			return 1;
		}
		ps[i].pid = ps[i].started = pid;
	}

	receive_all(c, o, ps, &t, &err);
	if (err)
		fprintf(stderr, PROG ": receive: %s\n", bus_strerror(err));
	kill_producers(ps); /* normally all reaped already: a no-op */

	print_counters(consumer_seg(c), ps);
	if (t.received) {
		char lo[32], hi[32], avg[32];

		num_fmt_ns(lo, sizeof(lo), t.lat_min, "");
		num_fmt_ns(hi, sizeof(hi), t.lat_max, "");
		num_fmt_ns(avg, sizeof(avg), t.lat_sum / t.received, "");
		printf("  enqueue-to-receive latency: min %s, mean %s, max %s\n", lo, avg,
		       hi);
	}
	bus_consumer_close(c);
	remove_name();

	ok = !err && t.problems == 0;
	printf("\n");
	for (uint32_t i = 0; i < NPRODUCERS; i++) {
		if (ps[i].status != CHILD_OK) {
			printf(PROG ": producer %c (pid %d) exited with status %d\n",
			       PNAME(i), (int)ps[i].started, ps[i].status);
			ok = false;
		}
		if (ps[i].next != o->messages) {
			printf(PROG ": producer %c: %" PRIu32 " of %" PRIu32
			            " messages arrived in order\n",
			       PNAME(i), ps[i].next,
			       o->messages);
			ok = false;
		}
	}
	if (t.problems)
		printf(PROG ": %" PRIu64 " messages marked !! above\n", t.problems);
	printf(PROG ": %s: %" PRIu64 " of %" PRIu64 " messages received%s\n",
	       ok ? "OK" : "FAILED", t.received,
	       (uint64_t)NPRODUCERS * o->messages,
	       ok ? ", each exactly once, in per-producer order" : "");
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct options o;
	int r = parse_args(argc, argv, &o);

	if (r)
		return r < 0 ? 0 : r;
	return run(&o);
}

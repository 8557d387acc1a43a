/*
 * bench.h - the pieces of busbench: transports, the runs that drive them
 * between processes, and the figures a run yields.
 *
 * A transport moves fixed-size messages from P producer processes to one
 * consumer process through one one-way channel (struct chan).  The parent
 * sets a channel up before it forks; each child opens its end after the
 * fork (so a bus handle's kernel lock is its own) and then sends, or
 * receives in batches of views.  Every payload starts with a struct
 * msg_hdr that names its producer and sequence number, and every receiver
 * checks both, so a transport that loses, repeats or reorders messages
 * fails its run instead of looking fast.
 *
 * run.c drives one run of a test (throughput, ping-pong latency, or
 * request and reply) over a transport and returns its figures; busbench.c repeats runs, takes
 * medians and reports.  Nothing here retries or hides an error: a failed
 * run fails its row, and busbench exits non-zero.
 */
#ifndef BUSBENCH_BENCH_H
#define BUSBENCH_BENCH_H

#include <mqueue.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atom.h"
#include "bus/bus.h"
#include "util/nstime.h"

#define PROG "busbench"

/* Fields written by different processes sit this far apart. */
#define BENCH_LINE 128

#define BENCH_MAX_PRODUCERS 16u
#define BENCH_BATCH         256 /* views per receive */
#define BENCH_ERR           200 /* bytes of an error message */

/* How each side waits for its peer (bus handles: spin, then sleep). */
enum wait_mode {
	WAIT_SPIN,    /* busy polling, never sleeps */
	WAIT_DEFAULT, /* the library's default: a brief spin, then sleep */
	WAIT_BLOCK,   /* sleeps at once */
	/*
	 * bus only: each receiving end is an event loop, receiving with
	 * timeout 0 and sleeping in epoll_wait on bus_consumer_fd() when the
	 * queue is empty (queues attached through busd); senders keep the
	 * library's default wait.
	 */
	WAIT_FD,
};

/* The first bytes of every payload; the smallest payload is this size. */
struct msg_hdr {
	uint32_t kind;     /* MSG_DATA or MSG_END */
	uint32_t producer; /* index of the sending process, 0..P-1 */
	uint64_t seq;      /* per producer, from 0; MSG_END carries the next */
};

#define MSG_DATA 0x41544144u /* "DATA" */
#define MSG_END  0x21444e45u /* "END!": the producer is done */
#define MSG_MIN  sizeof(struct msg_hdr)

/* One received message: a view valid until the transport's release. */
struct view {
	const void *data;
	size_t len;
};

/* What a channel carries. */
struct chan_cfg {
	size_t size;         /* payload bytes of every message */
	uint32_t producers;  /* processes sending into it */
	uint64_t capacity;   /* ring bytes (bus, shm-spsc-limit) */
	enum wait_mode wait; /* how its ends wait */
	const char *socket;  /* bus: attach through busd here (NULL: directly) */
	bool private_busd;   /* ... a busd this busbench started (bench_busd_*) */
	bool ping_pong;      /* one of a latency test's two opposite channels */
};

/* Counters a transport can report after a run (bus: the segment's). */
struct chan_counters {
	uint64_t msgs;    /* messages the consumer received */
	uint64_t futex;   /* futex calls: wakes either way and consumer sleeps */
	uint64_t blocked; /* sends that slept on a full queue */
};

struct transport;
struct bus_side;
struct zmq_side;

/*
 * One one-way channel.  The parent fills it in setup(); each child works
 * on its own copy after fork(), so the per-end state below the line is
 * process-local.
 */
struct chan {
	const struct transport *tp;
	struct chan_cfg cfg;

	/* Set up by the parent. */
	int tx_fd, rx_fd; /* uds, pipe */
	mqd_t mq;         /* posix-mq */
	void *map;        /* shm-spsc-limit, futex-limit: shared mapping */
	size_t map_size;
	struct bus_side *bus; /* bus: the segment or busd queue */
	struct zmq_side *zmq; /* zeromq: the endpoint; in a child, its socket */

	/* Per end, in the child. */
	bus_producer *prod;
	bus_consumer *cons;
	bus_msg *msgs;   /* bus: batch of received messages */
	int ep;          /* bus, WAIT_FD: the consumer's epoll instance */
	uint8_t *buf;    /* copying transports: receive buffer */
	uint64_t pos;    /* shm-spsc-limit: tail or cursor; futex-limit: value */
	uint64_t cached; /* shm-spsc-limit: the producer's head, last seen */
	uint64_t held;   /* shm-spsc-limit: bytes read, not yet released */
	char err[BENCH_ERR];
};

/*
 * One per transport, each filled in this order with its own callbacks:
 * the tables (tp_bus, tp_uds, ...) look alike on purpose, as rows of one
 * table do.
 */
struct transport {
	const char *name;
	const char *what;    /* one line for --help */
	bool throughput;     /* runs the throughput tests */
	bool multi_producer; /* ... with several producers */
	unsigned waits;      /* latency wait modes: bit (1u << enum wait_mode) */
	bool has_size;       /* false: carries no payload (futex-limit) */

	/*
	 * Returns true, with a reason in why, if this machine cannot run
	 * cfg (the row is reported as skipped, not failed).
	 */
	bool (*unsupported)(const struct chan_cfg *cfg, char *why, size_t n);
	/* Parent, before fork.  Returns 0 or a negative errno (ch->err set). */
	int (*setup)(struct chan *ch);
	/* Parent, once every child has opened its end. */
	void (*attached)(struct chan *ch);
	/* Parent, after the run (optional).  Returns 0 or a negative errno. */
	int (*counters)(struct chan *ch, struct chan_counters *out);
	/* Parent: frees what setup made.  Safe after a failed setup. */
	void (*teardown)(struct chan *ch);

	/* Child.  Each returns 0 (or a count) or a negative errno, ch->err set. */
	int (*tx_open)(struct chan *ch);
	int (*send)(struct chan *ch, const void *buf, size_t len);
	int (*rx_open)(struct chan *ch);
	/* Waits for at least one message; returns how many views it filled. */
	int (*recv)(struct chan *ch, struct view *v, int max);
	/* Gives back every view recv returned. */
	void (*release)(struct chan *ch);
	void (*close)(struct chan *ch);
};

extern const struct transport tp_bus;
extern const struct transport tp_bus_loan;
extern const struct transport tp_uds;
extern const struct transport tp_pipe;
extern const struct transport tp_mq;
extern const struct transport tp_spsc;
extern const struct transport tp_futex;
extern const struct transport tp_zmq; /* skips every row if built without libzmq */

/* Fills ch->err and returns r (a negative errno). */
int chan_fail(struct chan *ch, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * For the transports' tables: an open with nothing to do, a release or
 * close with nothing to do, and a close that frees ch->buf.
 */
int chan_no_open(struct chan *ch);
void chan_nothing(struct chan *ch);
void chan_free_buf(struct chan *ch);

/* Initialises ch for tp and cfg; every descriptor -1, nothing allocated. */
void chan_init(struct chan *ch, const struct transport *tp,
               const struct chan_cfg *cfg);

/* Shared futexes (not FUTEX_PRIVATE): the word lives in a shared mapping. */
void bench_futex_wait(_Atomic uint32_t *w, uint32_t val);
void bench_futex_wake(_Atomic uint32_t *w, int n);

/* Reads the first line of a file (one of /proc's) into line; false if none. */
bool bench_read_line(const char *path, char *line, size_t n);

/* --- runs (run.c) --- */

enum test_kind {
	TEST_THROUGHPUT,
	TEST_LATENCY
};

struct run_opts {
	uint64_t duration_ns; /* 0: no time limit */
	uint64_t messages;    /* 0: no count limit (throughput: per run; latency: rounds) */
	uint64_t capacity;
	const char *socket; /* bus through busd, or NULL */
	bool private_busd;  /* socket is bench_busd_socket()'s */
	bool pin;           /* two-process tests: one CPU each */
};

/* The figures of one run. */
struct run_result {
	double msgs_per_sec;              /* throughput: data messages/s; latency: round trips/s */
	double mb_per_sec;                /* throughput: payload MB/s (10^6 bytes) */
	uint64_t p50_ns, p99_ns, p999_ns; /* latency: round-trip times */
	uint64_t msgs;                    /* messages (round trips) measured */
	uint32_t producers;
	double share[BENCH_MAX_PRODUCERS]; /* throughput: each producer's part */
	double futex_per_msg;              /* < 0: the transport does not count them */
	double blocked_per_msg;
};

/*
 * One run of a test over tp.  Returns 0 and fills *res, or a negative
 * errno with a message in err (a child's failure, a timeout, a setup
 * error).
 */
int run_throughput(const struct transport *tp, uint32_t producers, size_t size,
                   enum wait_mode wait, const struct run_opts *o,
                   struct run_result *res, char *err, size_t errn);
int run_latency(const struct transport *tp, size_t size, enum wait_mode wait,
                const struct run_opts *o, struct run_result *res, char *err,
                size_t errn);
/*
 * Request and reply over tp (bus, through busd at o->socket): a caller
 * times bus_client_call() round trips of size-byte requests that a
 * service process answers with bus_reply(); figures as run_latency()'s.
 */
int run_request(const struct transport *tp, size_t size, enum wait_mode wait,
                const struct run_opts *o, struct run_result *res, char *err,
                size_t errn);

/*
 * Installs SIGINT, SIGTERM and SIGHUP handlers that kill the current
 * run's processes and remove its names before the program dies of the
 * signal.  Returns 0 or a negative errno.
 */
int run_install_signals(void);

/*
 * Kills the current run's processes and a private busd, removes its shm
 * names and zeromq endpoints; signal-safe.
 */
void run_emergency_cleanup(void);

/* --- a busd of busbench's own (private_busd.c) --- */

/*
 * Finds the busd to start: given (--busd), else $BUSD, else the one
 * built beside busbench (busd/busd of the same build tree), else the
 * installed one.  Returns 0 with its path in out and *named set when it
 * was named (--busd, $BUSD); else -ENOENT with the places looked at in
 * why.
 */
int bench_busd_find(const char *given, char *out, size_t n, bool *named,
                    char *why, size_t whyn);

/*
 * Starts busd at path on a socket in a new private directory (mode 0700,
 * under $TMPDIR or /tmp) and waits until it serves.  Returns 0, or a
 * negative errno with the reason in err (nothing left behind).
 */
int bench_busd_start(const char *path, char *err, size_t errn);

/* The socket of the busd started, or NULL. */
const char *bench_busd_socket(void);

/*
 * Stops it (SIGTERM, then SIGKILL after a while) and removes its
 * directory.  Returns 0, or -1 with the reason in err if it did not stop
 * cleanly.  Does nothing if none was started.
 */
int bench_busd_stop(char *err, size_t errn);

/* Kills it at once and removes its socket directory; async-signal-safe. */
void bench_busd_kill(void);

/* --- the bus transport's names (transport_bus.c) --- */

/*
 * Unlinks the bus segments' names still linked (and, for queues of a
 * private busd, their wake FIFOs); async-signal-safe.
 */
void bus_side_unlink_all(void);

/*
 * The caller of a request test: a bus_client of ch's queue (one busd
 * made, ch->cfg.socket).  Returns 0 and sets *ret, or a negative errno
 * (ch->err set).  The client keeps the library's spin: bus_client has no
 * setter.
 */
int bus_side_client_open(struct chan *ch, bus_client **ret);

/* --- the zeromq transport's endpoints (transport_zmq.c) --- */

/* Removes the ipc:// endpoints' files and directories; async-signal-safe. */
void zmq_side_unlink_all(void);

#endif

/*
 * natsenv.h - the bridge harness: two hosts, a JetStream server and
 * busbridge processes, all real, all started and stopped by the test.
 *
 *  - Hosts A and B are two busd on private sockets (two struct e2e of the
 *    end-to-end harness), so each has its own set of /dev/shm segments,
 *    as two machines would.
 *  - nats-server runs with JetStream on a loopback port picked by binding
 *    port 0 (another pick if the server finds it taken), its store in the
 *    test's temporary directory.  It can be killed and started again on
 *    the same port and store, as an outage would leave it.
 *  - Each busbridge gets its own state directory and log under the
 *    temporary directory; `busbridge --stats --json` reads its figures.
 *
 * The teardown kills whatever the test left running, stops both busd
 * (which must exit 0), removes their segments and every temporary file.
 * The programs come from the environment: BUSBRIDGE, NATS_SERVER, plus
 * what the e2e harness needs (BUSD, BUSCLI); without them the program
 * exits HARNESS_SKIP (77) and says why.
 */
#ifndef BUS_NATSENV_H
#define BUS_NATSENV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "e2e.h"

#define NENV_MAX_BRIDGES 8
#define NENV_MAX_ARGS    32

/* Deadlines that scale with the build (sanitized children are slow). */
#define NENV_STOP_S   E2E_SCALE(20, 60)
#define NENV_READY_MS E2E_SCALE(20000, 60000)
#define NENV_STREAM   "BUS"

/* A route's state in the stats (brief: 0 starting, 1 up, 2 waiting for
 * NATS, 3 waiting for busd or the queue). */
enum {
	NENV_STATE_STARTING,
	NENV_STATE_UP,
	NENV_STATE_NATS,
	NENV_STATE_LOCAL
};

struct nenv_bridge {
	pid_t pid;           /* running, 0 if not */
	char name[32];       /* for messages: "export", "import", ... */
	char state_dir[300]; /* its --state-dir */
	char log[300];       /* its stdout and stderr, every run appended */
	char *argv[NENV_MAX_ARGS];
	int starts; /* how many times it was started */
};

struct nenv {
	struct e2e *a, *b; /* the two hosts */
	char dir[256];     /* temporary directory of everything below */
	char store[300];   /* nats-server's -sd */
	char nats_log[300];
	char url[64]; /* nats://127.0.0.1:PORT */
	int port;
	bool port_used; /* a bridge has the URL: the port may no longer change */
	pid_t nats;     /* running nats-server, 0 if none */
	int nats_starts;
	const char *nats_path;
	const char *bridge_path;
	struct nenv_bridge br[NENV_MAX_BRIDGES];
	int nbr;
};

/* NULL, or why bridge tests cannot run here. */
const char *nenv_precheck(void);

/*
 * cmocka setup: exits HARNESS_SKIP (saying why) if the tests cannot run;
 * else both hosts serve and a free port is chosen (no server started yet).
 */
int nenv_setup(void **state);
/* Kills what runs, stops both busd (they must exit 0), removes files. */
int nenv_teardown(void **state);

/* Starts nats-server and waits until it accepts connections. */
void nenv_nats_start(struct nenv *n);
/* Sends sig (SIGKILL, SIGTERM) and reaps it; returns its status (e2e_wait). */
int nenv_nats_stop(struct nenv *n, int sig);

/*
 * A busbridge on host h (n->a or n->b) with the common options (socket,
 * NATS URL, stream, its own state directory, debug log) and then the
 * NULL-terminated extra args (routes).  Not started.
 */
struct nenv_bridge *nenv_bridge_new(struct nenv *n, const struct e2e *h,
                                    const char *name, ...);
/* Gives br another --state-dir (before it starts). */
void nenv_bridge_set_state_dir(struct nenv_bridge *br, const char *dir);
/*
 * Takes --state-dir off br's command line, for the default to apply;
 * dir is where the test expects that default to be.
 */
void nenv_bridge_default_state_dir(struct nenv_bridge *br, const char *dir);
void nenv_bridge_start(struct nenv *n, struct nenv_bridge *br);
/* SIGTERM and wait: returns the exit status (e2e_wait's codes). */
int nenv_bridge_stop(struct nenv *n, struct nenv_bridge *br);
/* SIGKILL and reap. */
void nenv_bridge_kill(struct nenv *n, struct nenv_bridge *br);
/* Fails the test unless the bridge is still running. */
void nenv_bridge_alive(struct nenv *n, struct nenv_bridge *br);
/* Lines of its log that contain a (and b unless NULL). */
int nenv_bridge_log_count(const struct nenv_bridge *br, const char *a,
                          const char *b);

/*
 * Runs `busbridge ARGS...` (NULL-terminated) to completion within
 * timeout_s: output and status in *r (free with e2e_run_free).
 */
void nenv_run(struct nenv *n, struct e2e_run *r, int timeout_s, ...);

/* `busbridge --stats --state-dir D --json` of br; asserts exit 0. */
char *nenv_stats_json(struct nenv *n, const struct nenv_bridge *br);
/*
 * The counter key of route idx (its place on the command line, exports
 * and imports as the daemon lists them) in a --stats --json text.
 */
bool nenv_route_u64(const char *json, int idx, const char *key, uint64_t *ret);
/* Route idx's state (NENV_STATE_*; a number or a word), -1 if none. */
int nenv_route_state(const char *json, int idx);
/* The same, read now; fails the test if the key is missing. */
uint64_t nenv_stat(struct nenv *n, const struct nenv_bridge *br, int idx,
                   const char *key);

/*
 * Waits at most timeout_ms until route idx's key equals want; false (and
 * the last value printed) if it never did.
 */
bool nenv_wait_stat(struct nenv *n, const struct nenv_bridge *br, int idx,
                    const char *key, uint64_t want, int timeout_ms);

/*
 * Waits until the bridge's stats file names its pid: it holds its lock
 * and serves its figures (NATS or busd may still be away).
 */
void nenv_bridge_wait_stats(struct nenv *n, const struct nenv_bridge *br, int timeout_ms);

/*
 * Waits until the bridge's stats file names it (pid) and reports every
 * route up (state 1): it is connected to busd and JetStream.
 */
void nenv_bridge_wait_up(struct nenv *n, const struct nenv_bridge *br, int timeout_ms);

/* The stream sequence stored in DIR/import-DURABLE.seq; false if absent/bad. */
bool nenv_seq_read(const struct nenv_bridge *br, const char *durable, uint64_t *ret);

/*
 * The usual pair: queue qa on host A (capacity cap_a bytes, 0: default)
 * exported to subject by bridge "export", and qb on host B (cap_b)
 * imported from it by bridge "import" (default durable).  Not started.
 */
void nenv_pair(struct nenv *n, const char *qa, const char *subject, const char *qb,
               uint64_t cap_a, uint64_t cap_b, struct nenv_bridge **ex,
               struct nenv_bridge **im);

/* Creates queue on host h (capacity bytes, 0: busd's default). */
void nenv_queue(const struct e2e *h, const char *queue, uint64_t capacity);

/* Prints nats-server's and every bridge's log on stderr. */
void nenv_dump_logs(const struct nenv *n);

struct flow;
struct flow_result;

/* Points f's producers at host A, its consumer at B; flow_init in n->dir. */
void nenv_flow_init(struct nenv *n, struct flow *f);

/*
 * nenv_pair of f's queues through subject, both bridges started, and f
 * ready (nenv_flow_init).
 */
void nenv_flow_pair(struct nenv *n, struct flow *f, const char *subject,
                    uint64_t cap_a, uint64_t cap_b, struct nenv_bridge **ex,
                    struct nenv_bridge **im);

/* Starts f's consumer on B, then its producers on A (prod): the consumer. */
pid_t nenv_flow_start(struct nenv *n, struct flow *f, pid_t *prod);

/*
 * flow_wait_all (printing every log if it times out), then one line of
 * the result *r, headed what.
 */
void nenv_flow_wait(struct nenv *n, const struct flow *f, int timeout_ms,
                    const char *what, struct flow_result *r);

/* A consumer of queue on host h; fails the test if it cannot attach. */
bus_consumer *nenv_consumer(const struct e2e *h, const char *queue);

/*
 * Receives message i (of what, for the failure) on c within timeout_ms
 * into *m; fails the test, printing every log, if none comes.
 */
void nenv_recv(const struct nenv *n, bus_consumer *c, bus_msg *m, int timeout_ms,
               const char *what, size_t i);

/*
 * Stops both bridges (each must exit 0), then B's consumer cons (a flow
 * consumer, which must exit 0).
 */
void nenv_stop_pair(struct nenv *n, struct nenv_bridge *ex, struct nenv_bridge *im,
                    const struct flow *f, pid_t cons);

/*
 * The end of a clean A -> B run: nenv_stop_pair, then asserts that the
 * consumer's log holds total records; frees f.
 */
void nenv_finish_pair(struct nenv *n, struct nenv_bridge *ex, struct nenv_bridge *im,
                      struct flow *f, pid_t cons, uint64_t total);

/* The shorthand for a test of its own nenv (cmocka main tables). */
#define NENV_TEST(fn) cmocka_unit_test_setup_teardown(fn, nenv_setup, nenv_teardown)

/* The main() of a program of one test, fn. */
#define NENV_MAIN(fn)                                              \
	int main(void)                                             \
	{                                                          \
		const struct CMUnitTest tests[] = {NENV_TEST(fn)}; \
                                                                   \
		return cmocka_run_group_tests(tests, NULL, NULL);  \
	}

#endif

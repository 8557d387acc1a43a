/*
 * e2e.h - the end-to-end harness: a real busd on a private socket, real
 * buscli processes, and the public C API, all in one test.
 *
 * Each test gets a fresh temporary directory (mkdtemp) holding busd's
 * socket and log, and a busd started there and waited for (its socket
 * answers a ping).  Every child the test starts is recorded, so the
 * teardown can kill whatever an assertion left running.  At the end busd
 * is stopped with SIGTERM (and must exit 0), the /dev/shm segments of
 * this busd (bus.<instance>.*, instance = seg_instance(socket)) are
 * unlinked if any were left behind, and the directory is removed.
 *
 * The programs under test come from the environment: BUSD and BUSCLI
 * (meson passes the built executables), PRODUCER, CONSUMER and SRCDIR for
 * the examples test.  Without them, or without a writable /dev/shm, a
 * test program exits HARNESS_SKIP (77, skipped) and says why.
 */
#ifndef BUS_E2E_H
#define BUS_E2E_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bus/bus.h"

/* Sanitizer builds are slower: longer deadlines, fewer messages. */
#if defined(BUS_TEST_SANITIZED)
#define E2E_SCALE(full, sanitized) (sanitized)
#else
#define E2E_SCALE(full, sanitized) (full)
#endif

#define E2E_MAX_CHILDREN 32

struct e2e {
	char dir[256];     /* private temp directory */
	char socket[300];  /* dir/busd.sock */
	char log[300];     /* dir/busd.log: busd's stderr, all runs appended */
	uint32_t instance; /* seg_instance(socket) */
	const char *busd_path;
	const char *buscli_path;
	pid_t busd; /* running busd, 0 if none */
	pid_t children[E2E_MAX_CHILDREN];
	const char *config;    /* if set, busd is started with --config config */
	char config_path[300]; /* dir/busd.conf, for e2e_busd_restart_config */
	char run_dir[300];     /* dir/run once e2e_busd_restart_config ran */
};

/* Output of a finished process. */
struct e2e_run {
	int status; /* exit status 0-255; 1000 + signal; -1 killed for timeout */
	char *out;  /* stdout, NUL-terminated */
	size_t out_len;
	char *err; /* stderr, NUL-terminated */
	size_t err_len;
};

/* A running child with optional pipes (-1 where none). */
struct e2e_proc {
	pid_t pid;
	int in;  /* write end of its stdin */
	int out; /* read end of its stdout */
	int err; /* read end of its stderr */
};

/*
 * Checks what every e2e program needs (BUSD, BUSCLI, a writable /dev/shm)
 * and returns NULL, or the reason the tests cannot run here.
 */
const char *e2e_precheck(void);
/* Says "skipped: why" and exits HARNESS_SKIP (77). */
_Noreturn void e2e_skip(const char *why);

/* Milliseconds; the deadlines of a test scale with the build. */
uint64_t e2e_now_ms(void);
void e2e_sleep_ms(unsigned ms);

/*
 * Makes a fresh directory $TMPDIR/prefix-XXXXXX (/tmp without TMPDIR) into
 * buf; returns 0, or -1 after saying why on stderr.
 */
int e2e_mkdtemp(char *buf, size_t n, const char *prefix);
/* Sets up *e: temp dir and paths; starts busd and waits until it serves. */
int e2e_setup(void **state);
/* Stops busd (asserting a clean exit), kills leftovers, removes files. */
int e2e_teardown(void **state);

/* A test of a group run by E2E_RUN_GROUP: fresh busd, torn down after. */
#define E2E_TEST(f) cmocka_unit_test_setup_teardown(f, e2e_setup, e2e_teardown)

struct CMUnitTest;
/*
 * Skips the program unless e2e_precheck() passes, then runs the n tests
 * as the cmocka group name; returns what main returns.
 */
int e2e_run_group(const char *name, const struct CMUnitTest *tests, size_t n);
#define E2E_RUN_GROUP(name, tests) \
	e2e_run_group(name, tests, sizeof(tests) / sizeof((tests)[0]))
/* main() of a test program: runs the E2E_TEST cases given as group name. */
#define E2E_MAIN(name, ...)                                      \
	int main(void)                                           \
	{                                                        \
		const struct CMUnitTest tests[] = {__VA_ARGS__}; \
		return E2E_RUN_GROUP(name, tests);               \
	}

/*
 * Starts busd on e->socket (stderr appended to e->log, extra args after
 * the socket) and waits until it answers; fails the test otherwise.
 */
void e2e_busd_start(struct e2e *e);
/*
 * (Re)starts busd (a running one must stop cleanly) with config text in
 * DIR/busd.conf and its socket in e->run_dir (DIR/run/busd.sock), a
 * directory busd makes itself with the mode the config implies; DIR is
 * made reachable by anyone (0755) so that other users can get there.
 * The teardown removes e->run_dir.
 */
void e2e_busd_restart_config(struct e2e *e, const char *text);
/* Starts a busd without waiting (for the "second busd" test). */
pid_t e2e_busd_spawn(struct e2e *e, const char *log_path);
/* SIGTERM, wait; returns its exit status (as e2e_wait). */
int e2e_busd_stop(struct e2e *e);
/* SIGKILL and reap. */
void e2e_busd_kill(struct e2e *e);
/* Prints the last 64 KiB of the file at path on stderr, headed by title. */
void e2e_dump_file(const char *title, const char *path);
/* Prints busd's log on stderr (called on failures). */
void e2e_dump_log(const struct e2e *e);
/* Lines of the file at path that contain a, and b too unless b is NULL. */
int e2e_file_count(const char *path, const char *a, const char *b);
/* e2e_file_count of busd's log. */
int e2e_log_count(const struct e2e *e, const char *a, const char *b);

/* Opens a libbus connection to this test's busd; fails the test if not. */
bus *e2e_open(const struct e2e *e);

/*
 * Spawns argv[0] with argv; each of want_in/out/err asks for a pipe,
 * otherwise that stream is /dev/null (stdin) or inherited (stdout,
 * stderr).  The child is tracked for the teardown.
 */
void e2e_spawn(struct e2e *e, struct e2e_proc *p, char *const argv[],
               bool want_in, bool want_out, bool want_err);

/*
 * Spawns argv[0] with argv, stdin /dev/null, stdout and stderr appended
 * to log_path (a server's log that must outlive pipes nobody reads).
 * The child is tracked for the teardown.  Returns its pid.
 */
pid_t e2e_spawn_logged(struct e2e *e, char *const argv[], const char *log_path);

/* Pipes for e2e_spawn_cli(). */
#define E2E_IN  1
#define E2E_OUT 2
#define E2E_ERR 4

/* Spawns buscli --socket S followed by the NULL-terminated args. */
void e2e_spawn_cli(struct e2e *e, struct e2e_proc *p, int pipes, ...);

/*
 * Feeds in (in_len bytes; stdin closed after), collects stdout and stderr
 * until both close, waits for the process at most timeout_s in total.
 * Closes p's pipes.
 */
void e2e_communicate(struct e2e *e, struct e2e_proc *p, const void *in,
                     size_t in_len, int timeout_s, struct e2e_run *r);

/* Runs buscli --socket S args... (NULL-terminated) to completion. */
void e2e_cli(struct e2e *e, struct e2e_run *r, const void *in, size_t in_len,
             int timeout_s, ...);
/* Runs `buscli stats queue --json` into *r and asserts that it succeeded. */
void e2e_stats_json(struct e2e *e, struct e2e_run *r, const char *queue, int timeout_s);
/* e2e_stats_json, asserting that the JSON contains want. */
void e2e_stats_has(struct e2e *e, const char *queue, int timeout_s, const char *want);
void e2e_cli_v(struct e2e *e, struct e2e_run *r, const void *in, size_t in_len,
               int timeout_s, char *const args[]);
/*
 * Runs buscli --socket S args... (NULL-terminated) behind the command
 * wrapper (NULL-terminated, its first word a path: runuser -u nobody --,
 * nsenter -t PID -m) to completion, 30 s at most.
 */
void e2e_cli_as(struct e2e *e, struct e2e_run *r, char *const wrapper[], ...);
/*
 * Runs argv (argv[0] a path; stdin /dev/null) to completion, timeout_s at
 * most; e2e_exec takes path and the NULL-terminated arguments after it.
 */
void e2e_exec_v(struct e2e *e, struct e2e_run *r, int timeout_s, char *const argv[]);
void e2e_exec(struct e2e *e, struct e2e_run *r, int timeout_s, const char *path, ...);
void e2e_run_free(struct e2e_run *r);
/*
 * Runs buscli --socket S args... (NULL-terminated, 30 s at most) and
 * asserts that it exits 0 and, unless want_out is NULL, that its stdout
 * is want_out exactly; prints its stderr and busd's log when it exits
 * otherwise.
 */
void e2e_cli_ok(struct e2e *e, const char *want_out, ...);

/*
 * Waits for pid at most timeout_s, then SIGKILLs it.  Returns the exit
 * status, 1000 + signal, or -1 if it had to be killed.  Untracks it.
 */
int e2e_wait(struct e2e *e, pid_t pid, int timeout_s);

/* Runs fn(arg) in a tracked child that exits with its return value. */
pid_t e2e_fork(struct e2e *e, int (*fn)(void *), void *arg);

/*
 * Appends what fd has to *buf (len *len, capacity grown as needed) until
 * *len has at least want_lines newlines, EOF, or timeout_ms.  Returns 1 at
 * EOF, 0 otherwise.
 */
int e2e_read_lines(int fd, char **buf, size_t *len, size_t *cap,
                   size_t want_lines, int timeout_ms);

/* Writes text to the file at path (created or emptied); asserts success. */
void e2e_write_file(const char *path, const char *text);

/* Number of '\n' in s[0..n-1]. */
size_t e2e_count_lines(const char *s, size_t n);

/* Checks: stderr is one line starting "buscli: "; prints what it got. */
bool e2e_one_error_line(const struct e2e_run *r);
/*
 * Asserts that buscli failed as a refusal does: exit 1, one error line,
 * needle in it; says what failed (what) and how otherwise.
 */
void e2e_expect_fail(const struct e2e_run *r, const char *what, const char *needle);
/*
 * Asserts that r exited with status and wrote one "buscli: " line on
 * stderr, holding needle unless needle is NULL; frees r.
 */
void e2e_expect_error(struct e2e_run *r, int status, const char *needle);

/*
 * Sets *ret to the number after "key": in a JSON text (the first
 * occurrence); false if there is none.  Good for buscli's flat objects.
 */
bool e2e_json_u64(const char *json, const char *key, uint64_t *ret);
/* The string value of "key" (no escapes expected) into buf. */
bool e2e_json_str(const char *json, const char *key, char *buf, size_t n);

/*
 * Reads a test producer's message "pK I", the whole text: its index K in
 * [0, nprod) and its sequence number I (digits only); false otherwise.
 */
bool e2e_parse_pmsg(const char *text, int nprod, int *k, int *i);

/* Names in /dev/shm that belong to this busd, with queue (NULL: any). */
int e2e_shm_count(const struct e2e *e, const char *queue);

/*
 * The path of this busd's one segment of queue ("/dev/shm/bus....") into
 * buf; false if there is none or more than one.
 */
bool e2e_shm_path(const struct e2e *e, const char *queue, char *buf, size_t n);
/* The same for the one segment of this busd's that is not queue's. */
bool e2e_shm_path_other(const struct e2e *e, const char *queue, char *buf, size_t n);

/*
 * Opens a producer and a consumer of queue on b, sends text (type, 1 s at
 * most) and must receive it back within recv_ms, byte for byte; returns
 * the flags it came with.  Closes both.
 */
uint32_t e2e_send_recv(bus *b, const char *queue, uint32_t type, const char *text,
                       int recv_ms);

/*
 * The seed of a randomized test: BUS_TORTURE_SEED if set, else from the
 * time and pid; says it (prefixed with name) so that a failure replays.
 */
unsigned e2e_torture_seed(const char *name);

/* n bytes of zeroed memory shared with the children forked later. */
void *e2e_shared(size_t n);

/* Creates a queue through buscli (asserts success). */
void e2e_create(struct e2e *e, const char *queue, const char *capacity);

#endif

/*
 * harness.h - helpers shared by the test programs: segments in memory and
 * in /dev/shm, child processes with a deadline, scaled iteration counts,
 * the status of a skipped test, and the fixtures the tests would otherwise
 * each write (cmocka setups and teardowns of queues, socketpairs and
 * private temporary directories; captured output).  Built once as a
 * library (tests/meson.build).
 *
 * Child processes report through their exit status: 0 is success, any
 * other value names the check that failed (see each test).
 */
#ifndef BUS_TEST_HARNESS_H
#define BUS_TEST_HARNESS_H

/* The programs that include this rely on these headers too. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "handle.h"
#include "ring.h"
#include "segment.h"

/*
 * The exit status of a test program that cannot run here (it says why):
 * meson's convention for a skipped test.
 */
#define HARNESS_SKIP 77

/* Sanitizer builds run the same tests with fewer iterations. */
#if defined(BUS_TEST_SANITIZED)
#define HARNESS_SCALE(full, sanitized) (sanitized)
#else
#define HARNESS_SCALE(full, sanitized) (full)
#endif

uint64_t harness_now_ns(void);

/*
 * A wait_ops table of a test's fakes, named PREFIX_wait, PREFIX_wake,
 * PREFIX_now, PREFIX_notify, PREFIX_drain and PREFIX_poke.
 */
#define HARNESS_WAIT_OPS(prefix)                                                      \
	{                                                                             \
		.wait = prefix##_wait, .wake = prefix##_wake, .now_ns = prefix##_now, \
		.notify = prefix##_notify, .drain = prefix##_drain,                   \
		.poke = prefix##_poke,                                                \
	}

/* A segment laid out in calloc'd memory (no file, no locks). */
struct mem_seg {
	void *mem;
	size_t size;
	struct seg seg;
};

int mem_seg_new(struct mem_seg *m, const struct seg_params *p);
void mem_seg_free(struct mem_seg *m);

/*
 * What a mem_seg's header and ring hold: head and tail, the ring index
 * of a position, the length and flags words of the record at ring index
 * idx (read as bytes, as a torn or foreign writer may have left them).
 */
uint64_t harness_head(const struct mem_seg *m);
uint64_t harness_tail(const struct mem_seg *m);
uint64_t harness_idx(const struct mem_seg *m, uint64_t pos);
int32_t harness_len_at(const struct mem_seg *m, uint64_t idx);
uint32_t harness_flags_at(const struct mem_seg *m, uint64_t idx);

/* Whether n bytes at mem are all zero. */
bool harness_all_zero(const void *mem, size_t n);

/*
 * The fixture of the unit tests: a segment in memory (mem_seg_new) with a
 * producer and a consumer attached, each through its own copy of the
 * view, waiting through ops (NULL: the real wait).  prod or cons may be
 * NULL for a test that needs only the other.  Returns 0, or -1 with
 * nothing left open.
 */
int harness_mem_open(struct mem_seg *m, const struct seg_params *p,
                     const struct wait_ops *ops, bus_producer **prod,
                     bus_consumer **cons);
/* Closes the handles (either may be NULL), consumer first, then m. */
void harness_mem_close(struct mem_seg *m, bus_producer *prod, bus_consumer *cons);

/*
 * harness_mem_open and harness_mem_close as a cmocka setup and teardown:
 * the test's initial state (cmocka_unit_test_prestate_setup_teardown) is
 * a struct harness_mem_fixture that says where they go.
 */
struct harness_mem_fixture {
	const struct seg_params *params;
	const struct wait_ops *ops;
	struct mem_seg *m;
	bus_producer **prod;
	bus_consumer **cons;
};

int harness_mem_setup(void **state);
int harness_mem_teardown(void **state);

/*
 * Segments in memory and handles a test holds, so that the teardown
 * (harness_let_go) can let go of them when a check fails half-way: the
 * sanitizer builds would otherwise add leak reports to the failure.  The
 * functions assert (cmocka) that each step succeeds.
 */
void harness_seg_new(struct mem_seg *m, const struct seg_params *sp);
void harness_seg_free(struct mem_seg *m);
bus_producer *harness_prod_new(struct mem_seg *m);
void harness_prod_close(bus_producer *p);
bus_consumer *harness_cons_new(struct mem_seg *m);
void harness_cons_close(bus_consumer *c);
/* harness_seg_new, then a producer and a consumer of it. */
void harness_queue_new(struct mem_seg *m, const struct seg_params *sp,
                       bus_producer **p, bus_consumer **c);
/* Closes the producer, then the consumer, then frees m. */
void harness_queue_free(struct mem_seg *m, bus_producer *p, bus_consumer *c);
/* cmocka teardown: closes what is still held, handles first. */
int harness_let_go(void **state);

/*
 * The fixture of the tests that share a queue in /dev/shm: a name private
 * to this process and tag (into buf) and a segment of that name
 * (harness_shm_create).  The teardown is shm_unlink(buf).
 */
int harness_shm_new(char *buf, size_t n, const char *tag, const struct seg_params *p);

/*
 * harness_shm_new and its shm_unlink as a cmocka setup and teardown: the
 * test's initial state (cmocka_unit_test_prestate_setup_teardown) is a
 * struct harness_shm_fixture that names the buffer, tag and parameters.
 */
struct harness_shm_fixture {
	char *name;
	size_t n;
	const char *tag;
	const struct seg_params *params;
};

int harness_shm_setup(void **state);
int harness_shm_teardown(void **state);
/* A test run with the queue of fixture fx (a struct harness_shm_fixture *). */
#define HARNESS_SHM_TEST(f, fx) \
	cmocka_unit_test_prestate_setup_teardown(f, harness_shm_setup, harness_shm_teardown, fx)

/* main() of a test program that runs the given cmocka tests as one group. */
#define HARNESS_MAIN(...)                                         \
	int main(void)                                            \
	{                                                         \
		const struct CMUnitTest tests[] = {__VA_ARGS__};  \
		return cmocka_run_group_tests(tests, NULL, NULL); \
	}

/* A name for a shared-memory object private to this process and tag. */
void harness_shm_name(char *buf, size_t n, const char *tag);

/*
 * Creates a segment in /dev/shm and closes this process's mapping; the
 * name stays until shm_unlink().  Returns 0 or a negative errno.
 */
int harness_shm_create(const char *name, const struct seg_params *p);

/* Attach through a fresh open file description of the named segment. */
int harness_producer(const char *name, bus_producer **ret);
int harness_consumer(const char *name, bus_consumer **ret);

/* Runs fn(arg) in a child process that exits with its return value. */
pid_t harness_fork(int (*fn)(void *), void *arg);

/*
 * Waits for pid at most timeout_s seconds, then SIGKILLs it.  Returns its
 * exit status (0-255), 1000 + signal if it died of a signal, or -1 if it
 * had to be killed for the timeout.
 */
int harness_wait(pid_t pid, int timeout_s);

/* FNV-1a 32 over a buffer: the payload checksum of the process tests. */
uint32_t harness_checksum(const void *data, size_t n);

/* The number of elements of an array (not a pointer). */
#define HARNESS_NITEMS(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Prints why the test cannot run here (a printf format, one line) and
 * returns HARNESS_SKIP, for main to return.
 */
int harness_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * A private temporary directory /tmp/bus-test-TAG-XXXXXX (into buf, n
 * bytes).  Returns 0 or a negative errno.  harness_tmpdir_free removes
 * it with all it holds (files and directories, not following links).
 */
int harness_tmpdir_new(char *buf, size_t n, const char *tag);
void harness_tmpdir_free(const char *dir);
/*
 * The same as a cmocka setup and teardown: the initial state (see
 * cmocka_unit_test_prestate_setup_teardown) is a char[HARNESS_TMPDIR_MAX]
 * that receives the directory's name (tag "unit").
 */
#define HARNESS_TMPDIR_MAX 64
int harness_tmpdir_open(void **state);
int harness_tmpdir_close(void **state);

/* Writes n bytes of data as the whole content of path (0644, truncated). */
int harness_file_write(const char *path, const void *data, size_t n);

/* How many file descriptors below 1024 this process has open. */
int harness_open_fds(void);

/*
 * cmocka setup and teardown of a SOCK_SEQPACKET socketpair (close on
 * exec) in an int[2] the test passes as its initial state
 * (cmocka_unit_test_prestate_setup_teardown).
 */
int harness_socketpair_open(void **state);
int harness_socketpair_close(void **state);

/*
 * Shared-memory names the teardown harness_shm_let_go unlinks, so that a
 * failed check leaves nothing behind in /dev/shm (a test that unlinks a
 * name itself does no harm: ENOENT is ignored).  harness_shm_keep copies
 * name into the list and returns the copy; harness_shm_kept_name makes a
 * name as harness_shm_name does and keeps it.  A check fails when more
 * than 8 are kept.
 */
const char *harness_shm_keep(const char *name);
const char *harness_shm_kept_name(const char *tag);
int harness_shm_let_go(void **state);

/*
 * Unlinks every object in /dev/shm whose name (without the '/') begins
 * with prefix; returns how many there were.
 */
int harness_shm_remove_prefix(const char *prefix);

/*
 * Sends what is written to fd into a temporary file from
 * harness_capture_begin to harness_capture_end, which restores fd and
 * puts what came (NUL-terminated, at most n - 1 bytes) in buf.
 */
struct harness_capture {
	int fd;
	int saved;
	FILE *f;
};

void harness_capture_begin(struct harness_capture *c, int fd);
size_t harness_capture_end(struct harness_capture *c, char *buf, size_t n);

#endif

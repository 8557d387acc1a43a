/*
 * harness.h - helpers shared by the test programs: segments in memory and
 * in /dev/shm, child processes with a deadline, scaled iteration counts,
 * the status of a skipped test.  Built once as a library (tests/meson.build).
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

/* A segment laid out in calloc'd memory (no file, no locks). */
struct mem_seg {
	void *mem;
	size_t size;
	struct seg seg;
};

int mem_seg_new(struct mem_seg *m, const struct seg_params *p);
void mem_seg_free(struct mem_seg *m);

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

#endif

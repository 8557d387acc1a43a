/*
 * harness.h - helpers shared by the test programs: segments in memory and
 * in /dev/shm, child processes with a deadline, scaled iteration counts.
 *
 * Child processes report through their exit status: 0 is success, any
 * other value names the check that failed (see each test).
 */
#ifndef BUS_TEST_HARNESS_H
#define BUS_TEST_HARNESS_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "handle.h"
#include "ring.h"
#include "segment.h"

/* Sanitizer builds run the same tests with fewer iterations. */
#if defined(BUS_TEST_SANITIZED)
#define HARNESS_SCALE(full, sanitized) (sanitized)
#else
#define HARNESS_SCALE(full, sanitized) (full)
#endif

static inline uint64_t harness_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A segment laid out in calloc'd memory (no file, no locks). */
struct mem_seg {
	void *mem;
	size_t size;
	struct seg seg;
};

static inline int mem_seg_new(struct mem_seg *m, const struct seg_params *p)
{
	const char *why = NULL;
	int r = seg_size(p, &m->size, &why);

	if (r < 0)
		return r;
	if (posix_memalign(&m->mem, SEG_RING_ALIGN, m->size) != 0)
		return -ENOMEM;
	memset(m->mem, 0, m->size);
	r = seg_format(m->mem, m->size, p, &why);
	if (r == 0)
		r = seg_view(m->mem, m->size, &m->seg, &why);
	if (r < 0)
		free(m->mem);
	return r;
}

static inline void mem_seg_free(struct mem_seg *m)
{
	free(m->mem);
	m->mem = NULL;
}

/* A name for a shared-memory object private to this process and tag. */
static inline void harness_shm_name(char *buf, size_t n, const char *tag)
{
	static unsigned counter;

	snprintf(buf, n, "/bus-test-%s-%d-%u", tag, (int)getpid(), counter++);
}

/*
 * Creates a segment in /dev/shm and closes this process's mapping; the
 * name stays until shm_unlink().  Returns 0 or a negative errno.
 */
static inline int harness_shm_create(const char *name, const struct seg_params *p)
{
	struct seg s;
	const char *why = NULL;
	int r = seg_create_shm(name, p, &s, &why);

	if (r < 0) {
		fprintf(stderr, "seg_create_shm %s: %s (%s)\n", name, strerror(-r),
		        why ? why : "");
		return r;
	}
	seg_close(&s);
	return 0;
}

/* Attach through a fresh open file description of the named segment. */
static inline int harness_producer(const char *name, bus_producer **ret)
{
	struct seg s;
	const char *why = NULL;
	int r = seg_open_shm(name, &s, &why);

	if (r < 0)
		return r;
	r = producer_attach(&s, NULL, ret);
	if (r < 0)
		seg_close(&s);
	return r;
}

static inline int harness_consumer(const char *name, bus_consumer **ret)
{
	struct seg s;
	const char *why = NULL;
	int r = seg_open_shm(name, &s, &why);

	if (r < 0)
		return r;
	r = consumer_attach(&s, NULL, ret);
	if (r < 0)
		seg_close(&s);
	return r;
}

/* Runs fn(arg) in a child process that exits with its return value. */
static inline pid_t harness_fork(int (*fn)(void *), void *arg)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0)
		_exit(fn(arg) & 0xff);
	return pid;
}

/*
 * Waits for pid at most timeout_s seconds, then SIGKILLs it.  Returns its
 * exit status (0-255), 1000 + signal if it died of a signal, or -1 if it
 * had to be killed for the timeout.
 */
static inline int harness_wait(pid_t pid, int timeout_s)
{
	uint64_t deadline = harness_now_ns() + (uint64_t)timeout_s * 1000000000u;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
		if (r < 0)
			return -2;
		if (harness_now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		usleep(1000);
	}
}

/* FNV-1a 32 over a buffer: the payload checksum of the process tests. */
static inline uint32_t harness_checksum(const void *data, size_t n)
{
	const uint8_t *p = data;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

#endif

/* harness.c - helpers shared by the test programs (see harness.h). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

uint64_t harness_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int mem_seg_new(struct mem_seg *m, const struct seg_params *p)
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

void mem_seg_free(struct mem_seg *m)
{
	free(m->mem);
	m->mem = NULL;
}

int harness_mem_open(struct mem_seg *m, const struct seg_params *p,
                     const struct wait_ops *ops, bus_producer **prod,
                     bus_consumer **cons)
{
	struct seg s;

	if (prod)
		*prod = NULL;
	if (cons)
		*cons = NULL;
	if (mem_seg_new(m, p) < 0)
		return -1;
	s = m->seg;
	if (prod && producer_attach(&s, ops, prod) < 0)
		goto fail;
	s = m->seg;
	if (cons && consumer_attach(&s, ops, cons) < 0)
		goto fail;
	return 0;
fail:
	harness_mem_close(m, prod ? *prod : NULL, NULL);
	return -1;
}

void harness_mem_close(struct mem_seg *m, bus_producer *prod, bus_consumer *cons)
{
	bus_consumer_close(cons);
	bus_producer_close(prod);
	mem_seg_free(m);
}

#define OWNED_MAX 8

static struct {
	void *mem[OWNED_MAX];
	void *prod[OWNED_MAX];
	void *cons[OWNED_MAX];
} owned;

/* Puts p in the first free slot of held; a check fails if none is. */
static void hold(void **held, void *p, const char *what)
{
	for (int i = 0; i < OWNED_MAX; i++)
		if (!held[i]) {
			held[i] = p;
			return;
		}
	fail_msg("more than %d %s", OWNED_MAX, what);
}

static void unhold(void **held, const void *p)
{
	for (int i = 0; i < OWNED_MAX; i++)
		if (held[i] == p)
			held[i] = NULL;
}

void harness_seg_new(struct mem_seg *m, const struct seg_params *sp)
{
	assert_int_equal(mem_seg_new(m, sp), 0);
	hold(owned.mem, m->mem, "segments");
}

void harness_seg_free(struct mem_seg *m)
{
	unhold(owned.mem, m->mem);
	mem_seg_free(m);
}

bus_producer *harness_prod_new(struct mem_seg *m)
{
	bus_producer *p = NULL;

	assert_int_equal(producer_attach(&m->seg, NULL, &p), 0);
	hold(owned.prod, p, "producers");
	return p;
}

void harness_prod_close(bus_producer *p)
{
	unhold(owned.prod, p);
	bus_producer_close(p);
}

bus_consumer *harness_cons_new(struct mem_seg *m)
{
	bus_consumer *c = NULL;

	assert_int_equal(consumer_attach(&m->seg, NULL, &c), 0);
	hold(owned.cons, c, "consumers");
	return c;
}

void harness_cons_close(bus_consumer *c)
{
	unhold(owned.cons, c);
	bus_consumer_close(c);
}

/* Handles first: closing a consumer releases into the ring's memory. */
int harness_let_go(void **state)
{
	(void)state;
	for (int i = 0; i < OWNED_MAX; i++) {
		bus_consumer_close(owned.cons[i]);
		bus_producer_close(owned.prod[i]);
		owned.cons[i] = NULL;
		owned.prod[i] = NULL;
	}
	for (int i = 0; i < OWNED_MAX; i++) {
		free(owned.mem[i]);
		owned.mem[i] = NULL;
	}
	return 0;
}

void harness_shm_name(char *buf, size_t n, const char *tag)
{
	static unsigned counter;

	snprintf(buf, n, "/bus-test-%s-%d-%u", tag, (int)getpid(), counter++);
}

int harness_shm_create(const char *name, const struct seg_params *p)
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

int harness_producer(const char *name, bus_producer **ret)
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

int harness_consumer(const char *name, bus_consumer **ret)
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

pid_t harness_fork(int (*fn)(void *), void *arg)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0)
		_exit(fn(arg) & 0xff);
	return pid;
}

int harness_wait(pid_t pid, int timeout_s)
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

uint32_t harness_checksum(const void *data, size_t n)
{
	const uint8_t *p = data;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

int harness_shm_new(char *buf, size_t n, const char *tag, const struct seg_params *p)
{
	harness_shm_name(buf, n, tag);
	return harness_shm_create(buf, p);
}

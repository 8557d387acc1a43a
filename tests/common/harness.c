/* harness.c - helpers shared by the test programs (see harness.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

uint64_t harness_head(const struct mem_seg *m)
{
	return atomic_load(&m->seg.hdr->head);
}

uint64_t harness_tail(const struct mem_seg *m)
{
	return atomic_load(&m->seg.hdr->tail);
}

uint64_t harness_idx(const struct mem_seg *m, uint64_t pos)
{
	return pos & (m->seg.capacity - 1);
}

int32_t harness_len_at(const struct mem_seg *m, uint64_t idx)
{
	int32_t v;

	memcpy(&v, m->seg.ring + idx, sizeof(v));
	return v;
}

uint32_t harness_flags_at(const struct mem_seg *m, uint64_t idx)
{
	uint32_t v;

	memcpy(&v, m->seg.ring + idx + 4, sizeof(v));
	return v;
}

bool harness_all_zero(const void *mem, size_t n)
{
	const uint8_t *p = mem;

	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
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

int harness_mem_setup(void **state)
{
	const struct harness_mem_fixture *f = *state;

	return harness_mem_open(f->m, f->params, f->ops, f->prod, f->cons);
}

int harness_mem_teardown(void **state)
{
	const struct harness_mem_fixture *f = *state;

	harness_mem_close(f->m, f->prod ? *f->prod : NULL, f->cons ? *f->cons : NULL);
	return 0;
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

/* As harness_prod_new, for the other handle type: alike on purpose. */
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

void harness_queue_new(struct mem_seg *m, const struct seg_params *sp,
                       bus_producer **p, bus_consumer **c)
{
	harness_seg_new(m, sp);
	*p = harness_prod_new(m);
	*c = harness_cons_new(m);
}

void harness_queue_free(struct mem_seg *m, bus_producer *p, bus_consumer *c)
{
	harness_prod_close(p);
	harness_cons_close(c);
	harness_seg_free(m);
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

int harness_skip(const char *fmt, ...)
{
	va_list ap;

	printf("skip: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return HARNESS_SKIP;
}

int harness_tmpdir_new(char *buf, size_t n, const char *tag)
{
	int len = snprintf(buf, n, "/tmp/bus-test-%s-XXXXXX", tag);

	if (len < 0 || (size_t)len >= n)
		return -ENAMETOOLONG;
	return mkdtemp(buf) ? 0 : -errno;
}

static int remove_one(const char *path, const struct stat *st, int type,
                      struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

void harness_tmpdir_free(const char *dir)
{
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

int harness_tmpdir_open(void **state)
{
	return harness_tmpdir_new(*state, HARNESS_TMPDIR_MAX, "unit");
}

int harness_tmpdir_close(void **state)
{
	harness_tmpdir_free(*state);
	return 0;
}

int harness_file_write(const char *path, const void *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t w;
	int r = 0;

	if (fd < 0)
		return -errno;
	w = write(fd, data, n);
	if (w < 0)
		r = -errno;
	else if ((size_t)w != n)
		r = -EIO;
	close(fd);
	return r;
}

int harness_open_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

int harness_socketpair_open(void **state)
{
	return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, *state);
}

int harness_socketpair_close(void **state)
{
	int *sv = *state;

	close(sv[0]);
	close(sv[1]);
	return 0;
}

#define KEPT_MAX 8

static char kept[KEPT_MAX][64];
static int nkept;

const char *harness_shm_keep(const char *name)
{
	assert_true(nkept < KEPT_MAX);
	assert_true(strlen(name) < sizeof(kept[0]));
	snprintf(kept[nkept], sizeof(kept[0]), "%s", name);
	return kept[nkept++];
}

const char *harness_shm_kept_name(const char *tag)
{
	char name[sizeof(kept[0])];

	harness_shm_name(name, sizeof(name), tag);
	return harness_shm_keep(name);
}

int harness_shm_let_go(void **state)
{
	(void)state;
	while (nkept > 0)
		shm_unlink(kept[--nkept]); /* ENOENT if the test did */
	return 0;
}

int harness_shm_remove_prefix(const char *prefix)
{
	struct dirent *de;
	DIR *d = opendir("/dev/shm");
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	return n;
}

void harness_capture_begin(struct harness_capture *c, int fd)
{
	c->fd = fd;
	c->f = tmpfile();
	assert_non_null(c->f);
	c->saved = dup(fd);
	assert_true(c->saved >= 0);
	fflush(NULL);
	assert_true(dup2(fileno(c->f), fd) >= 0);
}

size_t harness_capture_end(struct harness_capture *c, char *buf, size_t n)
{
	size_t got;

	fflush(NULL);
	assert_true(dup2(c->saved, c->fd) >= 0);
	close(c->saved);
	rewind(c->f);
	got = fread(buf, 1, n - 1, c->f);
	buf[got] = '\0';
	fclose(c->f);
	return got;
}

int harness_shm_setup(void **state)
{
	const struct harness_shm_fixture *f = *state;

	return harness_shm_new(f->name, f->n, f->tag, f->params);
}

int harness_shm_teardown(void **state)
{
	const struct harness_shm_fixture *f = *state;

	shm_unlink(f->name);
	return 0;
}

/*
 * test_halfmade.c - busd killed with SIGKILL while it creates large queues.
 *
 * Creating a queue reserves its whole segment in /dev/shm, which takes a
 * while for a large one: a busd killed meanwhile must leave nothing that
 * looks like a queue and is not one.  After every restart, each of this
 * busd's names in /dev/shm must be a complete, valid segment (a temporary
 * one busd was making when it died is removed at start, and said so in
 * its log), and every queue whose creation was reported to its client
 * must still be there.
 *
 *  - kill_during_create: a client creates a large queue; busd is killed
 *    at a delay spread over the time a creation takes; busd is started
 *    again and checked, round after round, until some kills have landed
 *    in the middle of a creation.
 *  - kill_during_declare: the same while busd creates the queues its
 *    config declares (a large one and a small one), before it serves;
 *    the next busd that gets to serve has both, complete.
 *
 * The queue size is scaled down to what /dev/shm has room for, and the
 * test exits 77 if it has room for none.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "../e2e/e2e.h"
#include "harness.h"
#include "segment.h"

#define MIN_SIZE   (UINT64_C(16) << 20)
#define MAX_SIZE   ((uint64_t)E2E_SCALE(128, 64) << 20)
#define ROUNDS     E2E_SCALE(6, 3) /* kills that must land mid-creation */
#define MAX_ROUNDS (6 * ROUNDS)    /* give up looking for them after this */

static uint64_t qsize; /* capacity of the large queues */

/* The largest power-of-two size, at most MAX_SIZE, that fits 6 times. */
static uint64_t pick_size(void)
{
	struct statvfs sv;
	uint64_t avail, s;

	if (statvfs("/dev/shm", &sv) < 0)
		return 0;
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	for (s = MAX_SIZE; s >= MIN_SIZE; s /= 2)
		if (6 * s + (UINT64_C(64) << 20) <= avail)
			return s;
	return 0;
}

/*
 * Whether name is a queue's wake FIFO: a FIFO named after a segment of
 * this busd with ".wake" after it.  Its segment must be there too: a FIFO
 * left without one fails the test.
 */
static bool wake_fifo(struct e2e *e, const char *name)
{
	char base[300], q[BUS_NAME_MAX + 1], path[320];
	size_t n = strlen(name), sn = 0;
	uint8_t uuid[16];
	struct stat st;

	if (n > 5 && strcmp(name + n - 5, ".wake") == 0)
		sn = 5;
	if (sn == 0 || n - sn >= sizeof(base))
		return false;
	memcpy(base, name, n - sn);
	base[n - sn] = '\0';
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(seg_shm_parse(base, e->instance, q, uuid), 0);
	snprintf(path, sizeof(path), "/dev/shm/%s", base);
	if (access(path, F_OK) < 0) {
		e2e_dump_log(e);
		fail_msg("%s: a wake FIFO without its segment", path);
	}
	return true;
}

/*
 * Every name of this busd in /dev/shm is a complete segment: no
 * temporary left, nothing that fails validation.  Returns how many.
 */
static int check_shm(struct e2e *e)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *de;
	char prefix[32];
	int n = 0;

	assert_non_null(d);
	snprintf(prefix, sizeof(prefix), "bus.%08x.", e->instance);
	while ((de = readdir(d)) != NULL) {
		char q[BUS_NAME_MAX + 1], path[300];
		const char *why = "";
		uint8_t uuid[16];
		struct seg s;
		int fd, r;

		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		if (wake_fifo(e, de->d_name))
			continue;
		if (seg_shm_parse(de->d_name, e->instance, q, uuid) < 0) {
			e2e_dump_log(e);
			fail_msg("/dev/shm/%s: not a segment name (a temporary left?)",
			         de->d_name);
		}
		snprintf(path, sizeof(path), "/dev/shm/%s", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		r = seg_map_fd_ro(fd, &s, &why);
		if (r < 0) {
			close(fd);
			e2e_dump_log(e);
			fail_msg("/dev/shm/%s: incomplete or invalid segment: %s (%s)",
			         de->d_name, why, strerror(-r));
		}
		seg_close(&s);
		n++;
	}
	closedir(d);
	return n;
}

struct create_arg {
	const char *socket;
	const char *queue;
};

/* In a child: exit 0 if busd reported the queue created, 1 if not. */
static int create_child(void *argp)
{
	const struct create_arg *a = argp;
	bus_queue_opts o = {.capacity = qsize};
	bus *b;
	int r;

	if (bus_open(a->socket, &b) < 0)
		return 1;
	r = bus_queue_create(b, a->queue, &o, NULL);
	bus_close(b);
	return r == 0 ? 0 : 1;
}

/* Milliseconds one large create takes here (the slowest of three). */
static unsigned calibrate(struct e2e *e)
{
	struct create_arg a = {.socket = e->socket, .queue = "calibrate"};
	unsigned worst = 1;
	bus *b;

	for (int i = 0; i < 3; i++) {
		uint64_t t0 = e2e_now_ms();

		assert_int_equal(e2e_wait(e, e2e_fork(e, create_child, &a), 60), 0);
		if (e2e_now_ms() - t0 > worst)
			worst = (unsigned)(e2e_now_ms() - t0);
		b = e2e_open(e);
		assert_int_equal(bus_queue_delete(b, "calibrate"), 0);
		bus_close(b);
	}
	return worst;
}

static void kill_during_create(void **state)
{
	struct e2e *e = *state;
	unsigned cal = calibrate(e), removed = 0, created = 0;
	int round;

	fprintf(stderr, "queues of %" PRIu64 " MiB, a create takes up to %u ms\n",
	        qsize >> 20, cal);
	for (round = 0; round < MAX_ROUNDS && (round < 12 || removed < ROUNDS);
	     round++) {
		char name[32];
		struct create_arg a = {.socket = e->socket, .queue = name};
		/* delays spread over the creation and a little past its end */
		unsigned delay = cal * (unsigned)(round % 12 + 1) / 8;
		pid_t pid;
		int st;
		bus *b;

		snprintf(name, sizeof(name), "big%d", round);
		pid = e2e_fork(e, create_child, &a);
		e2e_sleep_ms(delay);
		e2e_busd_kill(e);
		st = e2e_wait(e, pid, 60);
		assert_true(st == 0 || st == 1);

		e2e_busd_start(e);
		removed = (unsigned)e2e_log_count(e, "event=queue.remove_temp", NULL);
		check_shm(e);
		b = e2e_open(e);
		if (st == 0) {
			bus_stats bs;

			/* reported created: it must be there, complete */
			created++;
			assert_int_equal(bus_queue_stats(b, name, &bs), 0);
			assert_int_equal(bs.capacity, qsize);
		}
		/* made or not, deleted again for memory's sake */
		st = bus_queue_delete(b, name);
		assert_true(st == 0 || st == -ENOENT);
		bus_close(b);
	}
	fprintf(stderr, "%d rounds: %u creations reported, %u incomplete "
	                "segments removed at restarts\n",
	        round, created, removed);
	assert_true(removed >= 1);
	assert_int_equal(check_shm(e), 0);
}

/* Deletes both declared queues and stops busd: the next start makes them. */
static void delete_declared(struct e2e *e)
{
	bus *b = e2e_open(e);

	assert_int_equal(bus_queue_delete(b, "decl-a"), 0);
	assert_int_equal(bus_queue_delete(b, "decl-b"), 0);
	bus_close(b);
	assert_int_equal(e2e_busd_stop(e), 0);
}

static void kill_during_declare(void **state)
{
	struct e2e *e = *state;
	char conf[300], text[512], size[32];
	unsigned cal, removed = 0;
	uint64_t t0;
	FILE *f;
	int round, n;

	assert_int_equal(e2e_busd_stop(e), 0);
	snprintf(size, sizeof(size), "%" PRIu64 "M", qsize >> 20);
	snprintf(text, sizeof(text), "[queue decl-a]\ncapacity = %s\n"
	                             "[queue decl-b]\ncapacity = 4K\n",
	         size);
	snprintf(conf, sizeof(conf), "%s/busd.conf", e->dir);
	f = fopen(conf, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	e->config = conf;

	/* how long a start that creates them takes */
	t0 = e2e_now_ms();
	e2e_busd_start(e);
	cal = (unsigned)(e2e_now_ms() - t0);
	delete_declared(e);
	fprintf(stderr, "a start that creates the queues takes %u ms\n", cal);

	for (round = 0; round < MAX_ROUNDS && removed < ROUNDS; round++) {
		pid_t pid = e2e_busd_spawn(e, e->log);
		bus_stats bs;
		bus *b;

		e2e_sleep_ms(cal * (unsigned)(round % ROUNDS + 1) / (ROUNDS + 1));
		kill(pid, SIGKILL);
		e2e_wait(e, pid, 30);

		e2e_busd_start(e);
		removed = (unsigned)e2e_log_count(e, "event=queue.remove_temp", NULL);
		n = check_shm(e);
		assert_int_equal(n, 2);
		b = e2e_open(e);
		assert_int_equal(bus_queue_stats(b, "decl-a", &bs), 0);
		assert_int_equal(bs.capacity, qsize);
		assert_int_equal(bus_queue_stats(b, "decl-b", &bs), 0);
		assert_int_equal(bs.capacity, 4096);
		bus_close(b);
		delete_declared(e);
	}
	fprintf(stderr, "%d rounds: %u incomplete segments removed at restarts\n",
	        round, removed);
	assert_true(removed >= 1);
	e2e_busd_start(e); /* the teardown stops it */
}

static int setup(void **state)
{
	const char *why = e2e_precheck();

	if (!why && (qsize = pick_size()) == 0)
		why = "/dev/shm has no room for 6 queues of 16 MiB";
	if (why)
		e2e_skip(why);
	return e2e_setup(state);
}

/* A temporary name of this busd: its prefix and ".new" (segment.h). */
static bool is_temp(const struct e2e *e, const char *name)
{
	char prefix[32];
	size_t n = strlen(name);

	snprintf(prefix, sizeof(prefix), "bus.%08x.", e->instance);
	return strncmp(name, prefix, strlen(prefix)) == 0 && n > 4 &&
	       strcmp(name + n - 4, ".new") == 0;
}

/* Also removes this busd's temporaries (the harness knows only segments). */
static int teardown(void **state)
{
	struct e2e *e = *state;
	struct dirent *de;
	DIR *d;

	if (e && (d = opendir("/dev/shm")) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (is_temp(e, de->d_name)) {
				fprintf(stderr, "removing leftover /dev/shm/%s\n", de->d_name);
				unlinkat(dirfd(d), de->d_name, 0);
			}
		closedir(d);
	}
	return e2e_teardown(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(kill_during_create, setup, teardown),
		cmocka_unit_test_setup_teardown(kill_during_declare, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

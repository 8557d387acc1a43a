/*
 * watch.c - pidfds of attached processes (see watch.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon.h"
#include "guard.h"
#include "log.h"
#include "recover.h"
#include "reply_queue.h"
#include "wait.h"
#include "watch.h"

struct wake {
	struct seg *seg;
	uint64_t recovered;
};

static int wake_one(void *arg)
{
	struct wake *w = arg;

	seg_wake_consumer(w->seg, &wait_futex_ops);
	/* No consumer to wake: a dead claim at the head is ours. */
	w->recovered = recover_unconsumed(w->seg, &wait_futex_ops);
	return 0;
}

void watch_wake_all(struct busd *d)
{
	for (size_t i = 0; i < d->reg.n;) {
		struct queue *q = d->reg.v[i];
		struct wake w = {&q->seg, 0};

		/*
		 * Guarded (guard.h): a producer can truncate the segment, and
		 * it is the death of such a producer that brings us here.
		 * Nothing is left to serve of a truncated queue: its name goes.
		 */
		if (guard_run(wake_one, &w) == -EFAULT) {
			log_error("queue.truncated",
			          "segment truncated by an attached process: queue removed",
			          "queue=%s shm=%s", q->name, q->shm_name);
			registry_drop(&d->reg, q);
			continue;
		}
		if (w.recovered)
			log_info("queue.recovered",
			         "dead producer's claim recovered with no consumer attached",
			         "queue=%s bytes=%llu", q->name,
			         (unsigned long long)w.recovered);
		i++;
	}
}

int watch_add(struct busd *d, pid_t pid)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct watch *w;
	int fd, e;

	for (size_t i = 0; i < d->watches.n; i++)
		if (d->watches.v[i].pid == pid)
			return 0;
	if (!d->watches.v) {
		d->watches.v = calloc(WATCH_MAX, sizeof(*d->watches.v));
		if (!d->watches.v)
			return -ENOMEM;
	}
	if (d->watches.n == WATCH_MAX) {
		log_debug("watch.full", "watch list full: not watched",
		          "pid=%d", (int)pid);
		return -EUSERS;
	}
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0) {
		e = -errno;
		if (e == -ESRCH) {
			/* Gone already: what it left is recovered now. */
			watch_wake_all(d);
		} else {
			log_warn("watch.failed", "cannot watch process",
			         "pid=%d error=\"%s\"", (int)pid,
			         strerror(-e));
		}
		return e;
	}
	ev.data.u64 = WATCH_TAG | (uint32_t)pid;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		e = -errno;
		log_warn("watch.failed", "cannot watch process",
		         "pid=%d error=\"%s\"", (int)pid,
		         strerror(-e));
		close(fd);
		return e;
	}
	w = &d->watches.v[d->watches.n++];
	w->pid = pid;
	w->pidfd = fd;
	return 0;
}

void watch_fired(struct busd *d, uint64_t tag)
{
	pid_t pid = (pid_t)(uint32_t)tag;

	for (size_t i = 0; i < d->watches.n; i++) {
		if (d->watches.v[i].pid != pid)
			continue;
		close(d->watches.v[i].pidfd);
		d->watches.v[i] = d->watches.v[--d->watches.n];
		log_info("detach", "attached process exited: consumers woken",
		         "pid=%d watched=%zu", (int)pid, d->watches.n);
		reply_queue_caller_gone(d, pid);
		watch_wake_all(d);
		return;
	}
}

void watch_close(struct busd *d)
{
	for (size_t i = 0; i < d->watches.n; i++)
		close(d->watches.v[i].pidfd);
	free(d->watches.v);
	d->watches.v = NULL;
	d->watches.n = 0;
}

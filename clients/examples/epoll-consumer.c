/*
 * epoll-consumer.c - one thread, one epoll loop: two queues, a timer and
 * the signals, with no busy polling and no thread per queue.
 *
 *   epoll-consumer QUEUE1 QUEUE2    (busd's socket: $BUS_SOCKET, else the default)
 *
 * Prints every message as "QUEUE TEXT" on standard output, a line of
 * counts on standard error every second (a timerfd), and exits 0 on
 * SIGINT or SIGTERM (a signalfd) after a last line of counts; 1 on
 * failure, 2 for bad usage.  Each queue's consumer handle gives a
 * descriptor (bus_consumer_fd) that becomes readable when a message
 * arrives once a receive with timeout 0 has found the queue empty: the
 * loop receives until -EAGAIN and waits again.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <bus/bus.h>

#define NQUEUES 2

struct queue {
	const char *name;
	bus_consumer *c;
	uint64_t received;
};

/* Receives until the queue is empty (which re-arms its descriptor). */
static int drain(struct queue *q)
{
	bus_msg m;
	int rc;

	while ((rc = bus_recv(q->c, &m, 0)) == 0) {
		printf("%s %.*s\n", q->name, (int)m.len, (const char *)m.data);
		bus_release(q->c);
		q->received++;
	}
	return rc == -EAGAIN ? 0 : rc;
}

static int add(int ep, int fd, uint32_t tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = tag};

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static void counts(const struct queue *q)
{
	fprintf(stderr, "received: %s %llu, %s %llu\n", q[0].name,
	        (unsigned long long)q[0].received, q[1].name,
	        (unsigned long long)q[1].received);
}

int main(int argc, char **argv)
{
	struct itimerspec every_second = {{1, 0}, {1, 0}};
	struct queue q[NQUEUES] = {{0}};
	int ep, tfd, sfd, rc = 0;
	bool running = true;
	sigset_t sigs;
	bus *b;

	if (argc != 3) {
		fprintf(stderr, "usage: epoll-consumer QUEUE1 QUEUE2\n");
		return 2;
	}
	/* Signals arrive through sfd, not handlers. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	ep = epoll_create1(EPOLL_CLOEXEC);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (ep < 0 || sfd < 0 || tfd < 0 || timerfd_settime(tfd, 0, &every_second, NULL) < 0 ||
	    add(ep, sfd, NQUEUES) < 0 || add(ep, tfd, NQUEUES + 1) < 0) {
		perror("epoll-consumer");
		return 1;
	}
	rc = bus_open(NULL, &b);
	for (int i = 0; i < NQUEUES && rc == 0; i++) {
		q[i].name = argv[i + 1];
		rc = bus_consumer_open(b, q[i].name, &q[i].c);
		if (rc == 0)
			rc = bus_consumer_fd(q[i].c);
		if (rc >= 0)
			rc = add(ep, rc, (uint32_t)i) < 0 ? -errno : 0;
		/* The first receive arms the descriptor (or finds messages). */
		if (rc == 0)
			rc = drain(&q[i]);
	}
	if (rc < 0) {
		fprintf(stderr, "epoll-consumer: %s\n", bus_strerror(rc));
		return 1;
	}
	while (running && rc == 0) {
		struct epoll_event ev[NQUEUES + 2];
		int n = epoll_wait(ep, ev, NQUEUES + 2, -1);

		for (int i = 0; i < n && rc == 0; i++) {
			uint32_t tag = ev[i].data.u32;
			struct signalfd_siginfo si;
			uint64_t ticks;

			if (tag < NQUEUES) {
				rc = drain(&q[tag]);
			} else if (tag == NQUEUES) {
				running = read(sfd, &si, sizeof(si)) != sizeof(si);
			} else if (read(tfd, &ticks, sizeof(ticks)) == sizeof(ticks)) {
				counts(q);
			}
		}
		fflush(stdout);
	}
	counts(q);
	if (rc < 0)
		fprintf(stderr, "epoll-consumer: %s\n", bus_strerror(rc));
	for (int i = 0; i < NQUEUES; i++)
		bus_consumer_close(q[i].c);
	bus_close(b);
	return rc < 0 ? 1 : 0;
}

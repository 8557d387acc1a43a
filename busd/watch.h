/*
 * watch.h - the watchdog: learning from the kernel that a client died.
 *
 * Every process that attaches as producer or consumer is watched through
 * a pidfd in busd's epoll set.  When one exits, busd wakes the consumer of
 * every queue, so a claim the dead process left uncommitted is recovered
 * at once (libbus/recover.h) rather than at the consumer's next periodic
 * look.  When a queue has no consumer attached, busd takes the consumer
 * lease for a moment and recovers a dead claim at the head itself
 * (recover_unconsumed), so its space is not held until a consumer comes.
 * Death comes from the kernel (the pidfd becomes readable), never from a
 * timeout, so a slow process is never taken for a dead one.
 */
#ifndef BUSD_WATCH_H
#define BUSD_WATCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct busd;

/* At most this many processes are watched; beyond, consumers still
 * notice deaths by themselves within RECOVER_POLL_NS. */
#define WATCH_MAX 4096

struct watch {
	pid_t pid;
	int pidfd;
};

struct watchlist {
	struct watch *v;
	size_t n;
};

/* epoll data of a watch: WATCH_TAG | pid. */
#define WATCH_TAG (UINT64_C(1) << 63)

/*
 * Watches pid (once per pid); wakes the consumers now if it is gone.
 * Returns 0 when pid is watched, -ESRCH when it is gone, -EUSERS when
 * WATCH_MAX processes are watched, or another negative errno.
 */
int watch_add(struct busd *d, pid_t pid);

/* The pidfd tagged tag became readable: the process exited. */
void watch_fired(struct busd *d, uint64_t tag);

/* Wakes the consumer of every queue; recovers where there is none. */
void watch_wake_all(struct busd *d);

/* Closes every pidfd. */
void watch_close(struct busd *d);

#endif

/*
 * wait.c - futex wait tokens (protocol in wait.h).
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "atom.h"
#include "pollwake.h"
#include "wait.h"
#include "util/nstime.h"

static int futex_wait(_Atomic uint32_t *w, uint32_t val, uint64_t deadline_ns)
{
	struct timespec ts, *tp = NULL;

	if (deadline_ns != WAIT_FOREVER) {
		ts = nstime_to_ts(deadline_ns);
		tp = &ts;
	}
	/*
	 * FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, so a
	 * wait restarted after a signal keeps the caller's deadline.  Shared
	 * futex: the word lives in memory mapped by several processes.
	 */
	if (syscall(SYS_futex, w, FUTEX_WAIT_BITSET, val, tp, NULL,
	            FUTEX_BITSET_MATCH_ANY) < 0 &&
	    errno == ETIMEDOUT)
		return -ETIMEDOUT;
	return 0;
}

static void futex_wake(_Atomic uint32_t *w, int n)
{
	syscall(SYS_futex, w, FUTEX_WAKE, n, NULL, NULL, 0);
}

static void fifo_notify(int fd)
{
	const char b = 1;

	/*
	 * Non-blocking: a full FIFO (EAGAIN) is readable already.  The
	 * descriptor is open for reading too, so there is always a reader
	 * and never an EPIPE or SIGPIPE.
	 */
	while (write(fd, &b, 1) < 0 && errno == EINTR)
		;
}

static bool fifo_drain(int fd)
{
	bool any = false;
	char buf[64];
	ssize_t n;

	do {
		n = read(fd, buf, sizeof(buf));
		any |= n > 0;
	} while (n > 0 || (n < 0 && errno == EINTR));
	return any;
}

/*
 * One callback a slot, as every ops table is; alike in form to the
 * fuzzers' fuzz_ops (tests/fuzz/fuzz.h), which stand in for these.
 */
const struct wait_ops wait_futex_ops = {
	.wait = futex_wait,
	.wake = futex_wake,
	.now_ns = nstime_mono,
	.notify = fifo_notify,
	.drain = fifo_drain,
	.poke = pollwake_poke,
};

uint32_t wait_prepare(_Atomic uint32_t *w)
{
	/* seq_cst: the announce is ordered before the waiter's re-check */
	return atom_fetch_or_sc(w, WAIT_SLEEPING) | WAIT_SLEEPING;
}

uint32_t wait_prepare_sole(_Atomic uint32_t *w)
{
	/* relaxed: only a first guess for the CAS, which orders */
	uint32_t v = atom_load_relaxed(w);

	/* seq_cst: the announce is ordered before the waiter's re-check */
	while (!atom_cas_sc(w, &v, (v | WAIT_SLEEPING) & ~WAIT_POLL))
		;
	return (v | WAIT_SLEEPING) & ~WAIT_POLL;
}

uint32_t wait_prepare_poll(_Atomic uint32_t *w)
{
	/* seq_cst: the announce is ordered before the waiter's re-check */
	return atom_fetch_or_sc(w, WAIT_SLEEPING | WAIT_POLL) | WAIT_SLEEPING | WAIT_POLL;
}

void wait_cancel(_Atomic uint32_t *w, uint32_t val)
{
	/*
	 * relaxed: only clears the bit if no signaller moved the word; a
	 * failed CAS means a wake is already on its way, which is harmless.
	 */
	atom_cas_relaxed(w, &val, val & ~(WAIT_SLEEPING | WAIT_POLL));
}

int wait_sleep(const struct wait_ops *ops, _Atomic uint32_t *w, uint32_t val,
               uint64_t deadline_ns)
{
	if (deadline_ns != WAIT_FOREVER && ops->now_ns() >= deadline_ns)
		return -ETIMEDOUT;
	return ops->wait(w, val, deadline_ns);
}

uint32_t wait_signal_slow(const struct wait_ops *ops, _Atomic uint32_t *w,
                          uint32_t v, int n, int wake_fd)
{
	/*
	 * Only one signaller needs to change the word; a loser of this CAS
	 * knows a winner will wake.  seq_cst: part of the handshake's total
	 * order; relaxed on failure: nothing to order.
	 */
	if (!atom_cas_sc(w, &v, (v + WAIT_STEP) & ~(WAIT_SLEEPING | WAIT_POLL)))
		return 0;
	/* A sole waiter on the descriptor sleeps on no futex. */
	if (!(v & WAIT_POLL) || n != 1)
		ops->wake(w, n);
	if ((v & WAIT_POLL) && wake_fd >= 0)
		ops->notify(wake_fd);
	return v & (WAIT_SLEEPING | WAIT_POLL);
}

void wait_bump(const struct wait_ops *ops, _Atomic uint32_t *w, int n,
               int wake_fd)
{
	/*
	 * seq_cst: moves the word (keeping its bits) after whatever the
	 * caller wrote, so that a waiter between its announce and its futex
	 * wait returns at once; then wakes one that already sleeps.
	 */
	atom_fetch_add_sc(w, WAIT_STEP);
	ops->wake(w, n);
	/* Spurious for a consumer that waits on the futex: allowed. */
	if (wake_fd >= 0)
		ops->notify(wake_fd);
}

uint64_t wait_deadline(const struct wait_ops *ops, int timeout_ms)
{
	if (timeout_ms < 0)
		return WAIT_FOREVER;
	return ops->now_ns() + (uint64_t)timeout_ms * 1000000u;
}

/*
 * guard.c - SIGBUS from a truncated segment turned into -EFAULT (guard.h).
 *
 * The handler does not jump out of the work (a longjmp out of a signal
 * handler leaves whatever the work held half-done, and sanitizers'
 * runtimes in an unknown state): it maps a private zero page over the
 * page that faulted and returns, so the access runs again on it and the
 * work goes on to its end, over zeros where the segment was cut.  The
 * work must treat segment memory as hostile anyway, and zeros are one of
 * the values it can find there; guard_run() then reports -EFAULT, and the
 * caller treats what the work concluded as void.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "guard.h"

static volatile sig_atomic_t guard_armed, guard_faults;
static struct sigaction guard_old;
static uintptr_t guard_page_mask;
static bool guard_installed;

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	if (guard_armed && si->si_addr) {
		uintptr_t page = (uintptr_t)si->si_addr & guard_page_mask;
		/*
		 * The raw system call: async-signal-safe, and no sanitizer's
		 * interceptor runs inside the handler.
		 */
		long m = syscall(SYS_mmap, page, ~guard_page_mask + 1,
		                 PROT_READ | PROT_WRITE,
		                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

		if (m == (long)page) {
			guard_faults = guard_faults + 1;
			return;
		}
	}
	/*
	 * Not ours: put the old disposition back and return, so the
	 * faulting access runs again and the signal does what it did.
	 */
	sigaction(sig, &guard_old, NULL);
}

int guard_init(void)
{
	struct sigaction sa;
	long page = sysconf(_SC_PAGESIZE);

	if (guard_installed)
		return 0;
	if (page <= 0 || (page & (page - 1)))
		return -EINVAL;
	guard_page_mask = ~((uintptr_t)page - 1);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &guard_old) < 0)
		return -errno;
	guard_installed = true;
	return 0;
}

int guard_run(int (*fn)(void *), void *arg)
{
	int r;

	guard_faults = 0;
	guard_armed = guard_installed;
	r = fn(arg);
	guard_armed = 0;
	return guard_faults ? -EFAULT : r;
}

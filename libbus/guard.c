/*
 * guard.c - SIGBUS from a truncated segment turned into -EFAULT (guard.h).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>

#include "guard.h"

static sigjmp_buf guard_env;
static volatile sig_atomic_t guard_armed;
static struct sigaction guard_old;
static bool guard_installed;

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	(void)si;
	(void)ctx;
	if (guard_armed) {
		guard_armed = 0;
		siglongjmp(guard_env, 1);
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

	if (guard_installed)
		return 0;
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

	if (!guard_installed)
		return fn(arg);
	/* 1: the signal mask is restored when the handler jumps here */
	if (sigsetjmp(guard_env, 1))
		return -EFAULT;
	guard_armed = 1;
	r = fn(arg);
	guard_armed = 0;
	return r;
}

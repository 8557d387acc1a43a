/*
 * guard.h - outliving a segment that another process truncated.
 *
 * Every process that holds a read-write descriptor of a segment (every
 * producer) can ftruncate() it; each mapping of the pages past the new
 * end then raises SIGBUS when touched, and the kernel offers no way to
 * seal a /dev/shm object against it.  A program that must outlive such a
 * segment (busd, buscli) runs each piece of work that touches one through
 * guard_run(): a SIGBUS inside it becomes -EFAULT from guard_run(), and
 * the work is abandoned where it faulted.  Work run so must touch only
 * the segment and memory it does not leave half-changed (no malloc, no
 * locks held across the access).
 *
 * libbus's producer and consumer handles do not do this: a library does
 * not own its process's signal dispositions.  docs/busd.md ("Trust
 * model") says what that leaves to a producer.
 */
#ifndef BUS_GUARD_H
#define BUS_GUARD_H

/*
 * Installs the SIGBUS handler (once; a SIGBUS outside guard_run() still
 * kills the process).  Returns 0 or a negative errno.  Single-threaded
 * programs only: the guard is one per process.
 */
int guard_init(void);

/* Runs fn(arg); returns its result, or -EFAULT if it touched a truncated
 * mapping. */
int guard_run(int (*fn)(void *), void *arg);

#endif

/*
 * guard.h - outliving a segment that another process truncated.
 *
 * Every process that holds a read-write descriptor of a segment (every
 * producer) can ftruncate() it; each mapping of the pages past the new
 * end then raises SIGBUS when touched, and the kernel offers no way to
 * seal a /dev/shm object against it.  A program that must outlive such a
 * segment (busd, buscli) runs each piece of work that touches one through
 * guard_run(): a SIGBUS inside it is answered with a private zero page
 * where the segment was cut, the work runs to its end over zeros, and
 * guard_run() returns -EFAULT; what the work concluded is then void.
 * Work run so must treat the segment as hostile memory (zeros are one of
 * the values it can find there), as all code here does anyway.
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

/*
 * Runs fn(arg); returns its result, or -EFAULT if it touched a truncated
 * mapping (fn has then run to its end over zero pages).
 */
int guard_run(int (*fn)(void *), void *arg);

#endif

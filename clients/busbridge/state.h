/*
 * state.h - busbridge's state directory: the lock that keeps one
 * busbridge per directory, and each import route's position file.
 *
 * DIR/lock                 flock(2)ed exclusively by the running busbridge
 *                          (holds its pid, for the operator)
 * DIR/import-DURABLE.seq   16 bytes: "BUSBSEQ1" and the stream sequence
 *                          of the last message the route committed to its
 *                          queue (uint64, host byte order, 8-byte aligned)
 * DIR/stats                the counters (stats.h)
 *
 * A position file is mapped shared and updated with one aligned 8-byte
 * store right after each commit, so a busbridge killed at any instant
 * leaves the last position it stored in the page cache; msync(MS_ASYNC)
 * runs at most once a second and at exit, so only a host crash can lose
 * the last second of positions (those messages then come again).  A file
 * with another size or magic is refused, never reset: resetting would
 * deliver the whole stream again.
 */
#ifndef BUSBRIDGE_STATE_H
#define BUSBRIDGE_STATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SEQ_MAGIC "BUSBSEQ1"

/* The layout of a position file. */
struct seq_page {
	char magic[8];
	_Atomic uint64_t last; /* the last committed stream sequence, 0: none */
};

struct seq_file {
	struct seq_page *page;
	uint64_t synced;       /* the value the last msync() wrote out */
	uint64_t synced_ns;    /* CLOCK_MONOTONIC of that msync() */
	char path[4096 + 128]; /* for messages */
};

/*
 * Creates dir (and missing parents) with mode 0700 if it is missing.
 * Returns 0, or a negative errno with the reason in err.
 */
int state_dir_make(const char *dir, char *err, size_t n);

/*
 * Takes DIR/lock (created if missing) for this process's lifetime and
 * writes the pid into it.  Returns the descriptor, or a negative errno
 * with the reason in err (-EWOULDBLOCK: another busbridge holds it).
 */
int state_lock(const char *dir, char *err, size_t n);

/*
 * Whether a busbridge holds DIR/lock: 1 if so, 0 if not (or there is no
 * lock file), a negative errno if it cannot tell.  Holds the lock for an
 * instant when it is free (state_lock() retries briefly for that reason).
 */
int state_running(const char *dir);

/*
 * Opens (creating it, with last 0, if missing) DIR/import-DURABLE.seq.
 * Returns 0, or a negative errno with the reason in err (-EBADMSG: the
 * file's size or magic is wrong).
 */
int seq_open(struct seq_file *s, const char *dir, const char *durable,
             char *err, size_t n);

uint64_t seq_last(const struct seq_file *s);

/* Stores the last committed sequence: one aligned 8-byte store. */
void seq_store(struct seq_file *s, uint64_t seq);

/* msync(MS_ASYNC) if the value changed: at most once a second, or now. */
void seq_sync(struct seq_file *s, bool now);

/* Syncs and unmaps; accepts a file never opened. */
void seq_close(struct seq_file *s);

#endif

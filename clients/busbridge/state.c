/*
 * state.c - the state directory's lock and position files (state.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge.h"
#include "state.h"

/* How long state_lock() waits out a --stats that holds the lock for an instant. */
#define LOCK_TRIES    20
#define LOCK_RETRY_NS 50000000L

int failf_rc(char *err, size_t n, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return rc;
}

int state_dir_make(const char *dir, char *err, size_t n)
{
	char path[4096];
	struct stat st;

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return failf_rc(err, n, -ENAMETOOLONG, "state directory %s: path too long", dir);
	/* Each missing component in turn, as mkdir -p does. */
	for (char *p = path + 1;; p++) {
		bool last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return failf_rc(err, n, -errno, "cannot create the state directory %s: %s",
			                path, strerror(errno));
		if (last)
			break;
		*p = '/';
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return failf_rc(err, n, -ENOTDIR, "state directory %s: not a directory", dir);
	return 0;
}

/* The pid another busbridge wrote into its lock file, 0 if unreadable. */
static long lock_owner(int fd)
{
	char buf[32] = "";
	ssize_t r = pread(fd, buf, sizeof(buf) - 1, 0);

	return r > 0 ? strtol(buf, NULL, 10) : 0;
}

int state_lock(const char *dir, char *err, size_t n)
{
	struct timespec pause = {.tv_nsec = LOCK_RETRY_NS};
	char path[4096 + 16], pid[32];
	int fd, r = -1, len;

	snprintf(path, sizeof(path), "%s/lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return failf_rc(err, n, -errno, "cannot open %s: %s", path, strerror(errno));
	for (int i = 0; i < LOCK_TRIES && r < 0; i++) {
		r = flock(fd, LOCK_EX | LOCK_NB);
		if (r < 0 && errno != EWOULDBLOCK)
			break;
		if (r < 0)
			nanosleep(&pause, NULL);
	}
	if (r < 0) {
		int e = errno;
		long owner = e == EWOULDBLOCK ? lock_owner(fd) : 0;

		close(fd);
		if (e == EWOULDBLOCK)
			return failf_rc(err, n, -e, "another busbridge (pid %ld) is running "
			                            "with the state directory %s",
			                owner, dir);
		return failf_rc(err, n, -e, "cannot lock %s: %s", path, strerror(e));
	}
	len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
		r = -errno;
		close(fd);
		return failf_rc(err, n, r, "cannot write %s: %s", path, strerror(-r));
	}
	return fd;
}

int state_running(const char *dir)
{
	char path[4096 + 16];
	struct stat st;
	int fd, r;

	snprintf(path, sizeof(path), "%s/lock", dir);
	/* O_NONBLOCK: a FIFO put in its place must not hang the reader. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EBADMSG;
	}
	r = flock(fd, LOCK_SH | LOCK_NB);
	if (r < 0)
		r = errno == EWOULDBLOCK ? 1 : -errno;
	close(fd); /* releases the lock if we took it */
	return r;
}

/* Writes a fresh position file under a temporary name and renames it in. */
static int seq_create(const char *path, char *err, size_t n)
{
	struct seq_page fresh = {.magic = SEQ_MAGIC};
	char tmp[sizeof(((struct seq_file *)0)->path) + 8];
	int fd, e = 0;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return failf_rc(err, n, -errno, "cannot create %s: %s", tmp, strerror(errno));
	if (write(fd, &fresh, sizeof(fresh)) != (ssize_t)sizeof(fresh) || fsync(fd) < 0)
		e = errno ? errno : EIO;
	close(fd);
	if (!e && rename(tmp, path) < 0)
		e = errno;
	if (e) {
		unlink(tmp);
		return failf_rc(err, n, -e, "cannot create %s: %s", path, strerror(e));
	}
	return 0;
}

int seq_open(struct seq_file *s, const char *dir, const char *durable,
             char *err, size_t n)
{
	struct stat st;
	void *map;
	int fd, r;

	*s = (struct seq_file){0};
	snprintf(s->path, sizeof(s->path), "%s/import-%s.seq", dir, durable);
	fd = open(s->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		if ((r = seq_create(s->path, err, n)) < 0)
			return r;
		fd = open(s->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	}
	if (fd < 0)
		return failf_rc(err, n, -errno, "cannot open %s: %s", s->path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size != (off_t)sizeof(struct seq_page)) {
		close(fd);
		return failf_rc(err, n, -EBADMSG, "%s is not a position file (want %zu "
		                                  "bytes starting " SEQ_MAGIC "): move it away "
		                                  "only if the route should start over",
		                s->path, sizeof(struct seq_page));
	}
	map = mmap(NULL, sizeof(struct seq_page), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	r = -errno;
	close(fd);
	if (map == MAP_FAILED)
		return failf_rc(err, n, r, "cannot map %s: %s", s->path, strerror(-r));
	s->page = map;
	if (memcmp(s->page->magic, SEQ_MAGIC, 8) != 0) {
		seq_close(s);
		return failf_rc(err, n, -EBADMSG, "%s has a bad magic (not " SEQ_MAGIC "): "
		                                  "move it away only if the route should start over",
		                s->path);
	}
	s->synced = seq_last(s);
	return 0;
}

uint64_t seq_last(const struct seq_file *s)
{
	return atomic_load_explicit(&s->page->last, memory_order_relaxed);
}

void seq_store(struct seq_file *s, uint64_t seq)
{
	/* Only this thread writes it; atomic for the single 8-byte store. */
	atomic_store_explicit(&s->page->last, seq, memory_order_relaxed);
}

void seq_sync(struct seq_file *s, bool now)
{
	uint64_t t = nstime_mono(), v;

	if (!s->page)
		return;
	v = seq_last(s);
	if (v == s->synced || (!now && t - s->synced_ns < 1000000000u))
		return;
	msync(s->page, sizeof(*s->page), MS_ASYNC);
	s->synced = v;
	s->synced_ns = t;
}

void seq_close(struct seq_file *s)
{
	if (!s->page)
		return;
	seq_sync(s, true);
	munmap(s->page, sizeof(*s->page));
	s->page = NULL;
}

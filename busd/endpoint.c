/*
 * endpoint.c - the socket path, its lock and the listening socket (see
 * endpoint.h).
 *
 * The lock is a flock on a file beside the socket, not the socket file
 * itself: a socket file cannot be opened, and its existence says nothing
 * about whether a daemon is behind it.  The lock file is removed at a
 * clean stop; a daemon that takes the lock checks that the file it locked
 * is still the one at the path, so that a concurrent stop-and-start cannot
 * hand the same lock name to two daemons.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "endpoint.h"

#define LISTEN_BACKLOG 128

static int check_dir(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (stat(dir, &st) < 0) {
		snprintf(err, errlen, "cannot use directory %s: %s", dir,
		         strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a directory", dir);
		return -ENOTDIR;
	}
	/* Someone else's directory could swap our socket for theirs. */
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(err, errlen, "directory %s belongs to uid %u, not to busd's "
		                      "uid %u or root",
		         dir, (unsigned)st.st_uid,
		         (unsigned)geteuid());
		return -EPERM;
	}
	return 0;
}

static int make_dir(const char *path, mode_t mode, char *err, size_t errlen)
{
	char copy[sizeof(((struct endpoint *)0)->path)];
	char *dir;

	snprintf(copy, sizeof(copy), "%s", path);
	dir = dirname(copy);
	if (mkdir(dir, mode) == 0) {
		/* Exactly mode, whatever the umask took away. */
		if (chmod(dir, mode) < 0) {
			snprintf(err, errlen, "cannot set the mode of %s: %s", dir,
			         strerror(errno));
			return -errno;
		}
	} else if (errno != EEXIST) {
		if (errno == ENOENT)
			snprintf(err, errlen, "cannot create directory %s: its parent "
			                      "does not exist",
			         dir);
		else
			snprintf(err, errlen, "cannot create directory %s: %s", dir,
			         strerror(errno));
		return -errno;
	}
	return check_dir(dir, err, errlen);
}

static int take_lock(struct endpoint *e, char *err, size_t errlen)
{
	/* A few rounds: each lost one means a daemon stopped meanwhile. */
	for (int round = 0; round < 8; round++) {
		struct stat held, now;
		int fd = open(e->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		              0600);

		if (fd < 0) {
			snprintf(err, errlen, "cannot open lock file %s: %s",
			         e->lock_path, strerror(errno));
			return -errno;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int saved = errno;

			close(fd);
			if (saved == EWOULDBLOCK) {
				snprintf(err, errlen, "another busd is serving %s", e->path);
				return -EBUSY;
			}
			snprintf(err, errlen, "cannot lock %s: %s", e->lock_path,
			         strerror(saved));
			return -saved;
		}
		if (fstat(fd, &held) == 0 && stat(e->lock_path, &now) == 0 &&
		    held.st_dev == now.st_dev && held.st_ino == now.st_ino) {
			char pid[32];
			int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());

			/* For operators only (who holds it): failure does not matter. */
			if (ftruncate(fd, 0) == 0 && write(fd, pid, (size_t)n) != n) {
				/* nothing to do */
			}
			e->lock_fd = fd;
			return 0;
		}
		close(fd);
	}
	snprintf(err, errlen, "cannot lock %s: it keeps being replaced",
	         e->lock_path);
	return -EAGAIN;
}

int endpoint_claim(struct endpoint *e, const char *path, mode_t dir_mode,
                   char *err, size_t errlen)
{
	struct stat st;
	int r;

	*e = (struct endpoint){.lock_fd = -1, .fd = -1};
	if (!*path) {
		snprintf(err, errlen, "empty socket path");
		return -EINVAL;
	}
	if (strlen(path) >= sizeof(e->path)) {
		snprintf(err, errlen, "socket path too long (at most %zu bytes): %s",
		         sizeof(e->path) - 1, path);
		return -ENAMETOOLONG;
	}
	strcpy(e->path, path);
	if ((size_t)snprintf(e->lock_path, sizeof(e->lock_path), "%s.lock",
	                     path) >= sizeof(e->lock_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	r = make_dir(path, dir_mode, err, errlen);
	if (r < 0)
		return r;
	/* Checked again under the lock; here so that no lock file is left
	 * beside something that can never be our socket. */
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return -EEXIST;
	}
	return take_lock(e, err, errlen);
}

static int sock_addr(struct sockaddr_un *sa, const char *path)
{
	*sa = (struct sockaddr_un){.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

/*
 * What is at the path now: nothing, or a socket nobody listens on (a dead
 * daemon's: we hold the lock) may be replaced; anything else may not.
 */
static int check_old(const struct endpoint *e, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, r;

	if (lstat(e->path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "cannot use %s: %s", e->path, strerror(errno));
		return -errno;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", e->path);
		return -EEXIST;
	}
	/* A daemon that does not take the lock (an older one) may still be
	 * there: never take its socket away. */
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || sock_addr(&sa, e->path) < 0) {
		snprintf(err, errlen, "cannot probe %s: %s", e->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (r == 0) {
		snprintf(err, errlen, "another busd is serving %s", e->path);
		return -EBUSY;
	}
	return 0;
}

int endpoint_listen(struct endpoint *e, mode_t mode, char *err, size_t errlen)
{
	char tmp[sizeof(e->path)];
	const char *bind_path = e->path;
	struct sockaddr_un sa;
	mode_t old_mask;
	int fd, r;

	r = check_old(e, err, errlen);
	if (r < 0)
		return r;
	/*
	 * Bind under a temporary name and rename after listen(), so the
	 * socket file appears only once connect() works.  A path too long
	 * for the temporary name is bound in place (and removed first).
	 */
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.new", e->path) < sizeof(tmp))
		bind_path = tmp;
	unlink(bind_path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create socket: %s", strerror(errno));
		return -errno;
	}
	sock_addr(&sa, bind_path);
	/* Born 0600: nobody else can connect before the chmod below. */
	old_mask = umask(0177);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old_mask);
	if (r < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot bind %s: %s", bind_path, strerror(errno));
		goto fail;
	}
	if (chmod(bind_path, mode) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot listen on %s: %s", bind_path,
		         strerror(errno));
		unlink(bind_path);
		goto fail;
	}
	if (bind_path == tmp && rename(tmp, e->path) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, e->path,
		         strerror(errno));
		unlink(tmp);
		goto fail;
	}
	/*
	 * The usual tail of an open sequence (keep, or undo on failure):
	 * alike in form to seg_create_shm()'s in libbus/segment.c, each undoing
	 * its own steps.
	 */
	e->fd = fd;
	e->published = true;
	return 0;
fail:
	close(fd);
	return r;
}

void endpoint_close(struct endpoint *e)
{
	if (e->fd >= 0)
		close(e->fd);
	if (e->published)
		unlink(e->path);
	if (e->lock_fd >= 0) {
		/* Unlinked while still held: see the comment at the top. */
		unlink(e->lock_path);
		close(e->lock_fd);
	}
	*e = (struct endpoint){.lock_fd = -1, .fd = -1};
}

/*
 * endpoint.h - busd's listening socket and the lock that makes it its own.
 *
 * endpoint_claim() makes sure of the socket's directory (creating the last
 * component if missing) and takes an exclusive flock on "PATH.lock" for
 * the daemon's lifetime: a second busd for the same path fails there, and
 * no busd ever replaces a live daemon's socket.  With the lock held, a
 * socket file left by a dead daemon is replaced.
 *
 * endpoint_listen() binds a SOCK_SEQPACKET socket under a temporary name
 * in the same directory, listens, and only then renames it into place:
 * when the socket file exists, connect() succeeds.
 */
#ifndef BUSD_ENDPOINT_H
#define BUSD_ENDPOINT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/un.h>

struct endpoint {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char lock_path[PATH_MAX];
	int lock_fd;
	int fd;         /* listening socket, -1 before endpoint_listen() */
	bool published; /* the socket file at path is ours */
};

/*
 * Prepares the directory and takes the lock for socket path.  dir_mode is
 * the mode of a directory it has to create (0700, or 0755 when other
 * users are granted rights).  Returns 0, or a negative errno with one
 * line for humans in err (-EBUSY: another busd is serving path).
 */
int endpoint_claim(struct endpoint *e, const char *path, mode_t dir_mode,
                   char *err, size_t errlen);

/*
 * Creates the listening socket (non-blocking, close-on-exec) with the
 * file mode given and makes it visible at the path.  Returns 0, or a
 * negative errno with the reason in err.
 */
int endpoint_listen(struct endpoint *e, mode_t mode, char *err, size_t errlen);

/* Closes the socket, removes the socket file and the lock file. */
void endpoint_close(struct endpoint *e);

#endif

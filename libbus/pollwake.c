/*
 * pollwake.c - producers' wake sockets (see pollwake.h).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "atom.h"
#include "pollwake.h"

static unsigned pollwake_addr(uint64_t name, struct sockaddr_un *sa)
{
	char text[40];
	int n = snprintf(text, sizeof(text), "bus.wake.%016llx",
	                 (unsigned long long)name);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	/* Abstract: a NUL first, and exactly n bytes after it. */
	memcpy(sa->sun_path + 1, text, (size_t)n);
	return (unsigned)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

int pollwake_bind(struct seg *s, struct seg_slot *slot)
{
	struct sockaddr_un sa;
	uint64_t name = 0;
	int fd, tries = 0;

	if (s->sock_fd >= 0)
		return s->sock_fd;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	for (;;) {
		unsigned len;

		if (getrandom(&name, sizeof(name), 0) != sizeof(name)) {
			int e = errno ? -errno : -EIO;

			close(fd);
			return e;
		}
		if (name == 0)
			continue;
		len = pollwake_addr(name, &sa);
		if (bind(fd, (struct sockaddr *)&sa, len) == 0)
			break;
		/* 64 random bits taken: someone else's, try others. */
		if (errno != EADDRINUSE || ++tries == 8) {
			int e = -errno;

			close(fd);
			return e;
		}
	}
	s->sock_fd = fd;
	/* release: a signaller that reads the name finds it bound */
	atom_store_release(&slot->wake_name, name);
	return fd;
}

void pollwake_arm(const struct wait_ops *ops, struct seg *s,
                  struct seg_slot *slot)
{
	ops->drain(s->sock_fd);
	/*
	 * relaxed: the caller's announce (a seq_cst read-modify-write on
	 * full_wait) comes next and publishes this store with it.
	 */
	atom_store_relaxed(&slot->wake_armed, 1);
}

void pollwake_producers(const struct wait_ops *ops, struct seg *s)
{
	for (uint32_t i = 0; i < s->max_producers; i++) {
		struct seg_slot *slot = &s->slots[i];
		uint64_t name;

		/* relaxed: a hint; the exchange below decides */
		if (!atom_load_relaxed(&slot->wake_armed))
			continue;
		/*
		 * acquire: pairs with the producer's announce after its flag;
		 * only one signaller takes the flag and sends.
		 */
		if (!atom_exchange_acquire(&slot->wake_armed, 0))
			continue;
		/* acquire: pairs with pollwake_bind()'s release */
		name = atom_load_acquire(&slot->wake_name);
		if (name)
			ops->poke(&s->sock_fd, name);
	}
}

void pollwake_poke(int *sock, uint64_t name)
{
	struct sockaddr_un sa;
	unsigned len = pollwake_addr(name, &sa);

	if (*sock < 0)
		*sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (*sock >= 0)
		(void)sendto(*sock, "w", 1, MSG_DONTWAIT | MSG_NOSIGNAL,
		             (struct sockaddr *)&sa, len);
}

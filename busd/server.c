/*
 * server.c - the event loop: connections, packets, signals (see daemon.h).
 *
 * Level-triggered epoll.  Each wake-up serves at most a bounded number of
 * accepts and of packets per client, so one busy or hostile client cannot
 * starve the others.  A client that misbehaves (sends garbage, sends
 * descriptors, stops reading its responses) is answered or dropped; it
 * never stops busd from serving the rest.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

/*
 * epoll data: these two, or CLIENT_TAG + the client's slot in the low 32
 * bits and the slot's generation in the high 32 bits, so an event left
 * over for a closed client is never taken for the slot's next one.
 */
#define TAG_LISTEN 0u
#define TAG_SIGNAL 1u
#define CLIENT_TAG 2u

#define ACCEPTS_PER_WAKE 64
#define PACKETS_PER_WAKE 16
#define EVENTS           64

static int add_fd(struct busd *d, int fd, uint64_t tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};

	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int server_init(struct busd *d, char *err, size_t errlen)
{
	sigset_t mask;

	d->epfd = d->sigfd = d->spare_fd = -1;
	d->clients = calloc(d->cfg->max_connections, sizeof(*d->clients));
	d->packet = malloc(CONTROL_MAX_PACKET);
	d->arena = malloc(CONTROL_ARENA);
	if (!d->clients || !d->packet || !d->arena) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < d->cfg->max_connections; i++)
		d->clients[i].fd = -1;
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0) {
		snprintf(err, errlen, "epoll_create1: %s", strerror(errno));
		return -errno;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	d->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sigfd < 0) {
		snprintf(err, errlen, "signalfd: %s", strerror(errno));
		return -errno;
	}
	/* Held in reserve: at EMFILE, closed to accept and close one client. */
	d->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (add_fd(d, d->sigfd, TAG_SIGNAL) < 0) {
		snprintf(err, errlen, "epoll_ctl: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static void client_close(struct busd *d, struct client *c)
{
	log_debug("client.close", "client disconnected",
	          "uid=%u pid=%d", (unsigned)c->peer.uid,
	          (int)c->peer.pid);
	/* Removed from epoll by close: nobody else holds the descriptor. */
	close(c->fd);
	c->fd = -1;
	d->nclients--;
}

void server_close(struct busd *d)
{
	if (d->clients) {
		for (size_t i = 0; i < d->cfg->max_connections; i++)
			if (d->clients[i].fd >= 0)
				client_close(d, &d->clients[i]);
	}
	free(d->clients);
	free(d->packet);
	free(d->arena);
	d->clients = NULL;
	d->packet = NULL;
	d->arena = NULL;
	if (d->epfd >= 0)
		close(d->epfd);
	if (d->sigfd >= 0)
		close(d->sigfd);
	if (d->spare_fd >= 0)
		close(d->spare_fd);
	watch_close(d);
	d->epfd = d->sigfd = d->spare_fd = -1;
}

/* Accepts one connection when out of descriptors, and closes it. */
static void shed_one(struct busd *d)
{
	int fd;

	if (d->spare_fd >= 0) {
		close(d->spare_fd);
		d->spare_fd = -1;
	}
	fd = accept4(d->ep.fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		close(fd);
	d->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static struct client *free_slot(struct busd *d)
{
	for (size_t i = 0; i < d->cfg->max_connections; i++)
		if (d->clients[i].fd < 0)
			return &d->clients[i];
	return NULL;
}

static void on_accept(struct busd *d)
{
	for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
		struct client *c;
		int fd = accept4(d->ep.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int r;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				log_warn("client.refused", "out of file descriptors: connection closed",
				         NULL);
				shed_one(d);
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_error("accept.failed", "accept failed",
				          "error=\"%s\"", strerror(errno));
			return;
		}
		c = d->nclients < d->cfg->max_connections ? free_slot(d) : NULL;
		if (!c) {
			log_warn("client.refused", "connection limit reached: connection closed",
			         "max_connections=%u", d->cfg->max_connections);
			close(fd);
			continue;
		}
		r = control_peer(fd, &c->peer);
		if (r < 0) {
			log_warn("client.refused", "cannot identify peer: connection closed",
			         "error=\"%s\"", strerror(-r));
			close(fd);
			continue;
		}
		c->gen++;
		r = add_fd(d, fd, CLIENT_TAG + (uint64_t)(c - d->clients) + ((uint64_t)c->gen << 32));
		if (r < 0) {
			log_error("client.refused", "epoll_ctl failed: connection closed",
			          "error=\"%s\"",
			          strerror(-r));
			close(fd);
			continue;
		}
		c->fd = fd;
		d->nclients++;
		log_debug("client.open", "client connected",
		          "uid=%u gid=%u pid=%d clients=%zu",
		          (unsigned)c->peer.uid, (unsigned)c->peer.gid,
		          (int)c->peer.pid, d->nclients);
	}
}

/* Serves up to PACKETS_PER_WAKE packets; returns < 0 to drop the client. */
static int on_client(struct busd *d, struct client *c)
{
	for (int i = 0; i < PACKETS_PER_WAKE; i++) {
		size_t len = 0;
		int fd = -1;
		int r = control_recv(c->fd, d->packet, CONTROL_MAX_PACKET, &len, &fd);

		if (fd >= 0) {
			log_info("packet.bad", "client sent a file descriptor: closed",
			         "uid=%u pid=%d",
			         (unsigned)c->peer.uid, (int)c->peer.pid);
			close(fd);
		}
		if (r == -EAGAIN || r == -EINTR)
			return 0;
		if (r == -ECONNRESET)
			return r;
		if (r == -EBADMSG) {
			/* Its control data did not fit: more descriptors than one. */
			log_info("packet.bad", "malformed packet",
			         "uid=%u pid=%d",
			         (unsigned)c->peer.uid, (int)c->peer.pid);
			r = request_reply_error(c, 0, -EBADMSG,
			                        "malformed packet: at most one descriptor");
		} else if (r == -EMSGSIZE) {
			char msg[96];

			log_info("packet.bad", "oversized request",
			         "uid=%u pid=%d max=%u",
			         (unsigned)c->peer.uid, (int)c->peer.pid,
			         CONTROL_MAX_PACKET);
			snprintf(msg, sizeof(msg), "request larger than %u bytes",
			         CONTROL_MAX_PACKET);
			r = request_reply_error(c, 0, -EMSGSIZE, msg);
		} else if (r < 0) {
			log_info("client.drop", "receive failed: client dropped",
			         "uid=%u pid=%d "
			         "error=\"%s\"",
			         (unsigned)c->peer.uid, (int)c->peer.pid,
			         strerror(-r));
			return r;
		} else {
			r = request_handle(d, c, d->packet, len);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static void on_signal(struct busd *d)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_info("shutdown", "stopping",
			         "signal=%s", sigabbrev_np((int)si.ssi_signo));
			d->stop = true;
			break;
		case SIGHUP:
			log_info("reload.unsupported", "SIGHUP: reloading the "
			                               "config is not supported; restart busd to apply a "
			                               "new one",
			         NULL);
			break;
		}
	}
}

int server_run(struct busd *d)
{
	struct epoll_event ev[EVENTS];
	int r = add_fd(d, d->ep.fd, TAG_LISTEN);

	if (r < 0) {
		log_error("loop.failed", "epoll_ctl failed",
		          "error=\"%s\"", strerror(-r));
		return r;
	}
	while (!d->stop) {
		int n = epoll_wait(d->epfd, ev, EVENTS, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			log_error("loop.failed", "epoll_wait failed",
			          "error=\"%s\"", strerror(errno));
			return r;
		}
		for (int i = 0; i < n; i++) {
			uint64_t tag = ev[i].data.u64;
			struct client *c;

			if (tag == TAG_LISTEN) {
				on_accept(d);
				continue;
			}
			if (tag == TAG_SIGNAL) {
				on_signal(d);
				continue;
			}
			if (tag & WATCH_TAG) {
				watch_fired(d, tag);
				continue;
			}
			c = &d->clients[(uint32_t)tag - CLIENT_TAG];
			/* Closed earlier in this batch: the event is not for this one. */
			if (c->fd < 0 || c->gen != (uint32_t)(tag >> 32))
				continue;
			if (ev[i].events & EPOLLIN) {
				if (on_client(d, c) < 0)
					client_close(d, c);
			} else if (ev[i].events & (EPOLLHUP | EPOLLERR)) {
				client_close(d, c);
			}
		}
	}
	return 0;
}

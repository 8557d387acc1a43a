/*
 * server.c - the event loop: connections, packets, signals (see daemon.h).
 *
 * Level-triggered epoll.  Each wake-up serves at most a bounded number of
 * accepts and of packets per client, so one busy or hostile client cannot
 * starve the others.  A client that misbehaves (sends garbage, sends
 * descriptors, stops reading its responses) is answered or dropped; it
 * never stops busd from serving the rest.
 *
 * Connections are a shared resource (daemon.h): a uid over its limit is
 * refused, a connection that never says hello is closed after
 * BUSD_HELLO_MS, and a full table makes room by closing the longest-idle
 * connection of the uid that holds the most, so that whoever holds few
 * connections always gets one.  Each of these says why, in a Response
 * with id 0, before the close.  A tick (TICK_MS) runs while some client
 * has not said hello or some log lines wait to be reported as suppressed;
 * otherwise epoll waits for events alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "util/nstime.h"

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
#define TICK_MS          250

static const struct log_rate client_rate = {
	.interval_ns = BUSD_LOG_CLIENT_INTERVAL,
	.burst = BUSD_LOG_CLIENT_BURST,
};
static const struct log_rate all_rate = {
	.interval_ns = BUSD_LOG_ALL_INTERVAL,
	.burst = BUSD_LOG_ALL_BURST,
};

/* --- connections per uid --- */

static size_t uid_home(const struct busd *d, uint32_t uid)
{
	/* Fibonacci hashing: the high bits of the product are the mixed ones. */
	return (size_t)(((uint64_t)uid * 0x9e3779b97f4a7c15ull) >> 32) & d->uids_mask;
}

/* The entry of uid, or the empty one where it would go. */
static struct uid_count *uid_entry(struct busd *d, uint32_t uid)
{
	size_t i = uid_home(d, uid);

	/* Never full: at most max_connections uids in twice as many entries. */
	while (d->uids[i].n && d->uids[i].uid != uid)
		i = (i + 1) & d->uids_mask;
	return &d->uids[i];
}

static uint32_t uid_conns(struct busd *d, uint32_t uid)
{
	return uid_entry(d, uid)->n;
}

static void uid_add(struct busd *d, uint32_t uid)
{
	struct uid_count *e = uid_entry(d, uid);

	e->uid = uid;
	e->n++;
}

static void uid_remove(struct busd *d, uint32_t uid)
{
	struct uid_count *e = uid_entry(d, uid);
	size_t i, j;

	if (!e->n || --e->n)
		return;
	/* Emptied: shift later entries of the probe run back over the hole,
	 * so that lookups never stop short of them (no tombstones). */
	i = (size_t)(e - d->uids);
	for (j = (i + 1) & d->uids_mask; d->uids[j].n; j = (j + 1) & d->uids_mask) {
		size_t home = uid_home(d, d->uids[j].uid);

		/* The entry at j may move to i unless its home lies in (i, j]. */
		if (((j - home) & d->uids_mask) >= ((j - i) & d->uids_mask)) {
			d->uids[i] = d->uids[j];
			d->uids[j].n = 0;
			i = j;
		}
	}
}

/* Exempt from the per-uid limit: busd's own uid and root. */
static bool uid_unlimited(const struct busd *d, uint32_t uid)
{
	return uid == 0 || uid == d->policy.self_uid;
}

/* --- the log lines clients cause --- */

/*
 * Writes the log.suppressed lines due: the count c's own limit refused
 * (c may be NULL), and the count the limit for all refused.  These lines
 * ride on a line being written, or take a line of the limit for all.
 */
static void report_suppressed(struct busd *d, struct client *c)
{
	if (d->log_all.suppressed) {
		log_warn("log.suppressed", "log lines of clients suppressed: over the "
		                           "rate limit for all clients",
		         "suppressed=%llu", (unsigned long long)d->log_all.suppressed);
		d->log_all.suppressed = 0;
	}
	if (c && c->log.suppressed) {
		log_warn("log.suppressed", "log lines of a client suppressed: over its "
		                           "rate limit",
		         "uid=%u pid=%d suppressed=%llu", (unsigned)c->peer.uid,
		         (int)c->peer.pid, (unsigned long long)c->log.suppressed);
		c->log.suppressed = 0;
	}
}

void server_client_log(struct busd *d, struct client *c, enum log_level level,
                       const char *event, const char *msg, const char *fields_fmt, ...)
{
	uint64_t now;
	va_list ap;

	if (!log_enabled(level))
		return;
	now = nstime_mono();
	if (c && !log_limit_take(&c->log, &client_rate, now)) {
		d->log_pending = true;
		return;
	}
	if (!log_limit_take(&d->log_all, &all_rate, now))
		return;
	report_suppressed(d, c);
	va_start(ap, fields_fmt);
	log_vevent(level, event, msg, fields_fmt, ap);
	va_end(ap);
}

/*
 * A count of c's that is still to be reported: written now if the limit
 * for all allows a line (c's own has refilled when tick asks), or added
 * to the count of that limit when c goes away.
 */
static void flush_client_log(struct busd *d, struct client *c, uint64_t now,
                             bool closing)
{
	if (!c->log.suppressed)
		return;
	if (!closing && !log_limit_take(&c->log, &client_rate, now)) {
		c->log.suppressed--; /* that was a look, not a line of c's */
		return;
	}
	if (log_limit_take(&d->log_all, &all_rate, now)) {
		report_suppressed(d, c);
		return;
	}
	d->log_all.suppressed += c->log.suppressed - 1; /* one counted just now */
	c->log.suppressed = 0;
}

/* --- connections --- */

/*
 * Says why busd closes a connection, in a Response with id 0, where the
 * socket has room for it (never waits).
 */
static void say_why(int fd, int err, const char *msg)
{
	BusControl__Response resp = BUS_CONTROL__RESPONSE__INIT;

	resp.version = CONTROL_VERSION;
	resp.error = err;
	resp.message = (char *)msg;
	(void)control_send(fd, &resp.base, -1);
}

static int add_fd(struct busd *d, int fd, uint64_t tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};

	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int server_init(struct busd *d, char *err, size_t errlen)
{
	size_t nuids = 2;
	sigset_t mask;

	d->epfd = d->sigfd = d->spare_fd = -1;
	/* A power of two, at least twice the uids that can be connected. */
	while (nuids < 2 * (size_t)d->cfg->max_connections)
		nuids *= 2;
	d->uids = calloc(nuids, sizeof(*d->uids));
	d->uids_mask = nuids - 1;
	d->clients = calloc(d->cfg->max_connections, sizeof(*d->clients));
	d->packet = malloc(CONTROL_MAX_PACKET);
	d->arena = malloc(CONTROL_ARENA);
	if (!d->clients || !d->packet || !d->arena || !d->uids) {
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
	flush_client_log(d, c, nstime_mono(), true);
	server_client_log(d, NULL, LOG_LEVEL_DEBUG, "client.close", "client disconnected",
	                  "uid=%u pid=%d", (unsigned)c->peer.uid, (int)c->peer.pid);
	/* Removed from epoll by close: nobody else holds the descriptor. */
	close(c->fd);
	c->fd = -1;
	d->nclients--;
	if (!c->hello)
		d->nwaiting--;
	uid_remove(d, c->peer.uid);
}

void server_client_said_hello(struct busd *d, struct client *c)
{
	if (!c->hello) {
		c->hello = true;
		d->nwaiting--;
	}
}

/*
 * One release per resource held, then the closed state: alike in form
 * to seg_close() in libbus/segment.c, each closing its own descriptors.
 */
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
	free(d->uids);
	d->uids = NULL;
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
	fd = accept4(d->ep.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd >= 0) {
		say_why(fd, -ENFILE, "busd is out of file descriptors: connection closed");
		close(fd);
	}
	d->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static struct client *free_slot(struct busd *d)
{
	for (size_t i = 0; i < d->cfg->max_connections; i++)
		if (d->clients[i].fd < 0)
			return &d->clients[i];
	return NULL;
}

/*
 * The table is full: closes the longest-idle connection among those of
 * the uid(s) holding the most, and returns its slot.  Whoever holds fewer
 * connections than someone else is never the one closed.
 */
static struct client *make_room(struct busd *d, const struct control_peer *for_peer)
{
	struct client *victim = NULL;
	uint32_t most = 0;
	char msg[192];

	for (size_t i = 0; i <= d->uids_mask; i++)
		if (d->uids[i].n > most)
			most = d->uids[i].n;
	for (size_t i = 0; i < d->cfg->max_connections; i++) {
		struct client *c = &d->clients[i];

		if (c->fd >= 0 && uid_conns(d, c->peer.uid) == most &&
		    (!victim || c->active_ns < victim->active_ns))
			victim = c;
	}
	if (!victim)
		return NULL;
	snprintf(msg, sizeof(msg), "idle connection closed: busd holds "
	                           "max-connections (%u) and uid %u holds the most",
	         d->cfg->max_connections, (unsigned)victim->peer.uid);
	server_client_log(d, NULL, LOG_LEVEL_WARN, "client.evicted",
	                  "connection limit reached: closed the longest-idle connection "
	                  "of the uid holding the most",
	                  "uid=%u pid=%d uid_connections=%u idle_ms=%llu for_uid=%u "
	                  "max_connections=%u",
	                  (unsigned)victim->peer.uid, (int)victim->peer.pid, most,
	                  (unsigned long long)((nstime_mono() - victim->active_ns) / 1000000),
	                  (unsigned)for_peer->uid, d->cfg->max_connections);
	say_why(victim->fd, -ECONNRESET, msg);
	client_close(d, victim);
	return victim;
}

/* Accepts fd from peer into a slot, or says why not and closes it. */
static void admit(struct busd *d, int fd, const struct control_peer *peer)
{
	uint32_t limit = d->cfg->max_connections_per_uid;
	struct client *c;
	char msg[192];
	uint64_t now;
	int r;

	if (!uid_unlimited(d, peer->uid) && uid_conns(d, peer->uid) >= limit) {
		snprintf(msg, sizeof(msg), "too many connections from uid %u: at "
		                           "most %u (max-connections-per-uid)",
		         (unsigned)peer->uid, limit);
		server_client_log(d, NULL, LOG_LEVEL_WARN, "client.refused",
		                  "per-uid connection limit reached: connection closed",
		                  "uid=%u pid=%d max_connections_per_uid=%u",
		                  (unsigned)peer->uid, (int)peer->pid, limit);
		say_why(fd, -EDQUOT, msg);
		close(fd);
		return;
	}
	c = d->nclients < d->cfg->max_connections ? free_slot(d) : make_room(d, peer);
	if (!c) {
		server_client_log(d, NULL, LOG_LEVEL_WARN, "client.refused",
		                  "connection limit reached: connection closed",
		                  "max_connections=%u", d->cfg->max_connections);
		say_why(fd, -EDQUOT, "busd's connection table is full");
		close(fd);
		return;
	}
	c->gen++;
	r = add_fd(d, fd, CLIENT_TAG + (uint64_t)(c - d->clients) + ((uint64_t)c->gen << 32));
	if (r < 0) {
		log_error("client.refused", "epoll_ctl failed: connection closed",
		          "error=\"%s\"", strerror(-r));
		close(fd);
		return;
	}
	now = nstime_mono();
	c->fd = fd;
	c->peer = *peer;
	c->hello = false;
	c->open_ns = c->active_ns = now;
	c->log = (struct log_limit){0};
	d->nclients++;
	d->nwaiting++;
	uid_add(d, peer->uid);
	server_client_log(d, c, LOG_LEVEL_DEBUG, "client.open", "client connected",
	                  "uid=%u gid=%u pid=%d clients=%zu", (unsigned)peer->uid,
	                  (unsigned)peer->gid, (int)peer->pid, d->nclients);
}

static void on_accept(struct busd *d)
{
	for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
		struct control_peer peer;
		int fd = accept4(d->ep.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int r;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				server_client_log(d, NULL, LOG_LEVEL_WARN, "client.refused",
				                  "out of file descriptors: connection closed", NULL);
				shed_one(d);
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_error("accept.failed", "accept failed",
				          "error=\"%s\"", strerror(errno));
			return;
		}
		r = control_peer(fd, &peer);
		if (r < 0) {
			server_client_log(d, NULL, LOG_LEVEL_WARN, "client.refused",
			                  "cannot identify peer: connection closed",
			                  "error=\"%s\"", strerror(-r));
			close(fd);
			continue;
		}
		admit(d, fd, &peer);
	}
}

/*
 * Closes the connections that have not said hello in time, and reports
 * suppressed log lines whose limits have room again.
 */
static void tick(struct busd *d, uint64_t now)
{
	d->log_pending = false;
	for (size_t i = 0; i < d->cfg->max_connections; i++) {
		struct client *c = &d->clients[i];
		char msg[128];

		if (c->fd < 0)
			continue;
		if (!c->hello && now - c->open_ns >= (uint64_t)BUSD_HELLO_MS * 1000000) {
			snprintf(msg, sizeof(msg), "no request within %u ms of connecting: "
			                           "connection closed",
			         BUSD_HELLO_MS);
			server_client_log(d, c, LOG_LEVEL_INFO, "client.drop",
			                  "no hello in time: client dropped",
			                  "uid=%u pid=%d hello_ms=%u", (unsigned)c->peer.uid,
			                  (int)c->peer.pid, BUSD_HELLO_MS);
			say_why(c->fd, -ETIMEDOUT, msg);
			client_close(d, c);
			continue;
		}
		flush_client_log(d, c, now, false);
		if (c->log.suppressed)
			d->log_pending = true;
	}
	if (d->log_all.suppressed && log_limit_take(&d->log_all, &all_rate, now))
		report_suppressed(d, NULL);
}

/* Whether tick() has anything to do: clients without hello, counts to report. */
static bool tick_due(const struct busd *d)
{
	return d->nwaiting || d->log_all.suppressed || d->log_pending;
}

/* Serves up to PACKETS_PER_WAKE packets; returns < 0 to drop the client. */
static int on_client(struct busd *d, struct client *c)
{
	for (int i = 0; i < PACKETS_PER_WAKE; i++) {
		size_t len = 0;
		int fd = -1;
		int r = control_recv(c->fd, d->packet, CONTROL_MAX_PACKET, &len, &fd);

		if (fd >= 0) {
			server_client_log(d, c, LOG_LEVEL_INFO, "packet.bad",
			                  "client sent a file descriptor: closed", "uid=%u pid=%d",
			                  (unsigned)c->peer.uid, (int)c->peer.pid);
			close(fd);
		}
		if (r == -EAGAIN || r == -EINTR)
			return 0;
		if (r == -ECONNRESET)
			return r;
		c->active_ns = nstime_mono();
		if (r == -EBADMSG) {
			/* Its control data did not fit: more descriptors than one. */
			server_client_log(d, c, LOG_LEVEL_INFO, "packet.bad", "malformed packet",
			                  "uid=%u pid=%d", (unsigned)c->peer.uid, (int)c->peer.pid);
			r = request_reply_error(d, c, 0, -EBADMSG,
			                        "malformed packet: at most one descriptor");
		} else if (r == -EMSGSIZE) {
			char msg[96];

			server_client_log(d, c, LOG_LEVEL_INFO, "packet.bad", "oversized request",
			                  "uid=%u pid=%d max=%u", (unsigned)c->peer.uid,
			                  (int)c->peer.pid, CONTROL_MAX_PACKET);
			snprintf(msg, sizeof(msg), "request larger than %u bytes",
			         CONTROL_MAX_PACKET);
			r = request_reply_error(d, c, 0, -EMSGSIZE, msg);
		} else if (r < 0) {
			server_client_log(d, c, LOG_LEVEL_INFO, "client.drop",
			                  "receive failed: client dropped",
			                  "uid=%u pid=%d error=\"%s\"", (unsigned)c->peer.uid,
			                  (int)c->peer.pid, strerror(-r));
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
		bool ticking = tick_due(d);
		uint64_t now;
		int n = epoll_wait(d->epfd, ev, EVENTS, ticking ? TICK_MS : -1);

		if (ticking && (now = nstime_mono()) >= d->next_tick_ns) {
			tick(d, now);
			d->next_tick_ns = now + (uint64_t)TICK_MS * 1000000;
		}
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

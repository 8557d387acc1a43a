/*
 * natsconn.c - a route's NATS connection and its stream (natsconn.h).
 *
 * Making sure of the stream: if it is missing it is created (file
 * storage, this route's subject, the configured duplicate window); if it
 * exists but no subject of it covers the route's, the subject is added
 * and the stream read again to see that it stayed (another busbridge may
 * update it at the same moment, from the same old config: then the
 * later update wins and the loser tries again).  A route publishes or
 * fetches only once the stream has answered, so JetStream is ready.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "natsconn.h"
#include "stats.h"

#define BACKOFF_MIN_MS  100u
#define BACKOFF_MAX_MS  5000u
#define NAP_SLICE_MS    50u
#define STREAM_TRIES    5
#define PING_INTERVAL   5000 /* ms: a silent server is found dead in ~15 s */
#define MAX_PINGS_OUT   2
#define CONNECT_TIMEOUT 2000 /* ms */

void route_log(const struct route *r, enum log_level level, const char *event,
               const char *msg, const char *fmt, ...)
{
	const struct route_conf *rc = r->rc;
	char fields[768] = "";
	va_list ap;

	if (!log_enabled(level))
		return;
	if (fmt) {
		fields[0] = ' ';
		va_start(ap, fmt);
		vsnprintf(fields + 1, sizeof(fields) - 1, fmt, ap);
		va_end(ap);
	}
	if (rc->kind == ROUTE_IMPORT)
		log_event(level, event, msg, "route=import queue=%s subject=\"%s\" durable=%s%s",
		          rc->queue, rc->subject, rc->durable, fields);
	else
		log_event(level, event, msg, "route=export queue=%s subject=\"%s\"%s",
		          rc->queue, rc->subject, fields);
}

void route_local_failed(const struct route *r, int *last, int rc, bool opening,
                        const bus *b)
{
	const char *sock = r->cfg->socket;

	stat_state(r->st, ROUTE_WAIT_LOCAL);
	if (rc == *last)
		return;
	*last = rc;
	if (opening)
		route_log(r, LOG_LEVEL_WARN, "busd_down", "busd not reachable; retrying",
		          "socket=\"%s\" reason=\"%s\"", sock, strerror(-rc));
	else if (rc == -ENOENT)
		route_log(r, LOG_LEVEL_WARN, "queue_missing", "no such queue yet; retrying",
		          "socket=\"%s\"", sock);
	else if (rc == -EBUSY)
		route_log(r, LOG_LEVEL_ERROR, "queue_busy", "the queue has another "
		                                            "consumer; retrying every 5 s",
		          "socket=\"%s\"", sock);
	else
		route_log(r, LOG_LEVEL_ERROR, "queue_attach_failed", "cannot attach to "
		                                                     "the queue; retrying",
		          "socket=\"%s\" reason=\"%s\" busd=\"%s\"", sock, bus_strerror(rc),
		          b ? bus_last_error(b) : "");
}

const char *natsconn_error(natsStatus s)
{
	const char *t = nats_GetLastError(NULL);

	return t && *t ? t : natsStatus_GetText(s);
}

bool bridge_nap(uint64_t ms, const atomic_bool *stop)
{
	while (ms > 0) {
		uint64_t slice = ms < NAP_SLICE_MS ? ms : NAP_SLICE_MS;
		struct timespec ts = {.tv_nsec = (long)(slice * 1000000u)};

		if (atomic_load_explicit(stop, memory_order_relaxed))
			return false;
		nanosleep(&ts, NULL);
		ms -= slice;
	}
	return !atomic_load_explicit(stop, memory_order_relaxed);
}

void backoff_reset(struct backoff *b)
{
	b->next_ms = BACKOFF_MIN_MS;
}

bool backoff_sleep(struct backoff *b, const atomic_bool *stop)
{
	uint64_t ms = b->next_ms ? b->next_ms : BACKOFF_MIN_MS;

	b->next_ms = ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ms * 2;
	return bridge_nap(ms, stop);
}

void natsconn_init(struct natsconn *c, struct route *r, const jsOptions *jo,
                   bool send_asap)
{
	*c = (struct natsconn){.r = r, .send_asap = send_asap};
	backoff_reset(&c->bo);
	if (jo)
		c->jo = *jo;
	else
		jsOptions_Init(&c->jo);
}

void natsconn_close(struct natsconn *c)
{
	/*
	 * Close first: it stops the connection's reader, which may be in an
	 * ack callback of this context.  Destroying the context or the
	 * connection under it crashed (a freed mutex) or deadlocked.
	 */
	if (c->nc)
		natsConnection_Close(c->nc);
	jsCtx_Destroy(c->js);
	natsConnection_Destroy(c->nc);
	c->js = NULL;
	c->nc = NULL;
}

void natsconn_fail(struct natsconn *c, const char *why)
{
	natsconn_close(c);
	stat_state(c->r->st, ROUTE_WAIT_NATS);
	if (c->down)
		return;
	c->down = true;
	c->down_since_ns = nstime_mono();
	route_log(c->r, LOG_LEVEL_WARN, "nats_down", "NATS unreachable; retrying",
	          "url=\"%s\" reason=\"%s\"", c->r->cfg->nats, why);
}

void natsconn_ok(struct natsconn *c)
{
	backoff_reset(&c->bo);
}

bool natsconn_alive(const struct natsconn *c)
{
	return c->nc && natsConnection_Status(c->nc) == NATS_CONN_STATUS_CONNECTED;
}

bool natsconn_backoff(struct natsconn *c)
{
	return backoff_sleep(&c->bo, c->r->stop);
}

/*
 * Does the stream's subject pattern p ('*' one token, '>' the rest) match
 * the literal subject s?  Both start at a token on every turn.
 */
static bool subject_covers(const char *p, const char *s)
{
	for (;;) {
		size_t pl = strcspn(p, "."), sl = strcspn(s, ".");

		if (pl == 1 && p[0] == '>')
			return true; /* s has at least this token */
		if (!(pl == 1 && p[0] == '*') && (pl != sl || memcmp(p, s, pl) != 0))
			return false;
		p += pl;
		s += sl;
		if (*p == '\0' || *s == '\0')
			return *p == '\0' && *s == '\0';
		p++;
		s++;
	}
}

static bool stream_covers(const jsStreamConfig *sc, const char *subject)
{
	for (int i = 0; sc && i < sc->SubjectsLen; i++)
		if (sc->Subjects[i] && subject_covers(sc->Subjects[i], subject))
			return true;
	return false;
}

static natsStatus add_stream(struct natsconn *c, jsErrCode *jerr)
{
	const char *subjects[1] = {c->r->rc->subject};
	jsStreamConfig sc;

	jsStreamConfig_Init(&sc);
	sc.Name = c->r->cfg->stream;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	sc.Duplicates = (int64_t)c->r->cfg->dup_window * 1000000000;
	return js_AddStream(NULL, c->js, &sc, NULL, jerr);
}

/* Adds the route's subject to the stream's, keeping the rest of its config. */
static natsStatus add_subject(struct natsconn *c, const jsStreamConfig *old,
                              jsErrCode *jerr)
{
	const char **subjects = calloc((size_t)old->SubjectsLen + 1, sizeof(*subjects));
	jsStreamConfig sc = *old;
	natsStatus s;

	if (!subjects)
		return NATS_NO_MEMORY;
	for (int i = 0; i < old->SubjectsLen; i++)
		subjects[i] = old->Subjects[i];
	subjects[old->SubjectsLen] = c->r->rc->subject;
	sc.Subjects = subjects;
	sc.SubjectsLen = old->SubjectsLen + 1;
	s = js_UpdateStream(NULL, c->js, &sc, NULL, jerr);
	free(subjects);
	return s;
}

/*
 * Takes the route's subject out of the stream's list, to add it back on
 * the next step: after concurrent updates nats-server 2.9 can list a
 * subject and answer its publishes with "no responders", and only
 * taking it out and back in mends that.  Messages stored on it stay.
 * NATS_NOT_FOUND if the subject is not listed as it is (a wildcard
 * covers it: nothing of ours to mend).
 */
static natsStatus drop_subject(struct natsconn *c, const jsStreamConfig *old,
                               jsErrCode *jerr)
{
	const char **subjects = calloc((size_t)old->SubjectsLen + 1, sizeof(*subjects));
	jsStreamConfig sc = *old;
	natsStatus s = NATS_NOT_FOUND;
	int k = 0;

	if (!subjects)
		return NATS_NO_MEMORY;
	for (int i = 0; i < old->SubjectsLen; i++)
		if (strcmp(old->Subjects[i], c->r->rc->subject) != 0)
			subjects[k++] = old->Subjects[i];
	if (k > 0 && k < old->SubjectsLen) {
		sc.Subjects = subjects;
		sc.SubjectsLen = k;
		s = js_UpdateStream(NULL, c->js, &sc, NULL, jerr);
		if (s == NATS_OK)
			route_log(c->r, LOG_LEVEL_WARN, "stream_repaired",
			          "publishes found no stream: the subject is taken out "
			          "of the stream and put back",
			          "stream=%s", c->r->cfg->stream);
	}
	free(subjects);
	return s;
}

/* The duplicate window is what makes republishing after a crash safe. */
static void check_dup_window(struct natsconn *c, const jsStreamConfig *sc)
{
	int64_t want = (int64_t)c->r->cfg->dup_window * 1000000000;

	if (c->dup_warned || sc->Duplicates >= want)
		return;
	c->dup_warned = true;
	route_log(c->r, LOG_LEVEL_WARN, "dup_window_short",
	          "the stream's duplicate window is shorter than dup-window: a "
	          "busbridge restarted later than that after a crash may store "
	          "messages twice",
	          "stream=%s duplicates_s=%lld dup_window_s=%u", c->r->cfg->stream,
	          (long long)(sc->Duplicates / 1000000000), c->r->cfg->dup_window);
}

/*
 * One look at the stream: covered (1), or created / updated (0: look
 * again), or failed (-1, why set).
 */
static int stream_step(struct natsconn *c, char *why, size_t n)
{
	const char *name = c->r->cfg->stream;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_GetStreamInfo(&si, c->js, name, NULL, &jerr);

	if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
		s = add_stream(c, &jerr);
		if (s == NATS_OK)
			route_log(c->r, LOG_LEVEL_INFO, "stream_created", "stream created",
			          "stream=%s dup_window_s=%u", name, c->r->cfg->dup_window);
		if (s == NATS_OK || jerr == JSStreamNameExistErr)
			return 0; /* made, here or by another busbridge: look again */
		snprintf(why, n, "cannot create stream %s: %s (code %d)", name,
		         natsconn_error(s), (int)jerr);
		return -1;
	}
	if (s != NATS_OK || !si) {
		snprintf(why, n, "cannot read stream %s: %s (code %d)", name,
		         natsconn_error(s), (int)jerr);
		return -1;
	}
	if (c->repair && drop_subject(c, si->Config, &jerr) == NATS_OK) {
		c->repair = false;
		jsStreamInfo_Destroy(si);
		return 0; /* and add it back */
	}
	c->repair = false;
	if (stream_covers(si->Config, c->r->rc->subject)) {
		check_dup_window(c, si->Config);
		jsStreamInfo_Destroy(si);
		return 1;
	}
	s = add_subject(c, si->Config, &jerr);
	jsStreamInfo_Destroy(si);
	if (s != NATS_OK) {
		snprintf(why, n, "cannot add the subject to stream %s: %s (code %d)",
		         name, natsconn_error(s), (int)jerr);
		return -1;
	}
	route_log(c->r, LOG_LEVEL_INFO, "stream_updated", "subject added to the stream",
	          "stream=%s", name);
	return 0;
}

/*
 * The stream's subjects are read, changed and written back whole: two
 * routes of this process doing it at once could each drop the other's
 * subject, and concurrent updates left nats-server 2.9 listing a subject
 * it did not take publishes on.  One update at a time here; between
 * processes, the re-read after each update and repair() cover it.
 */
static pthread_mutex_t stream_lock = PTHREAD_MUTEX_INITIALIZER;

static int ensure_stream(struct natsconn *c, char *why, size_t n)
{
	pthread_mutex_lock(&stream_lock);
	for (int i = 0; i < STREAM_TRIES; i++) {
		int r = stream_step(c, why, n);

		if (r != 0) {
			pthread_mutex_unlock(&stream_lock);
			return r > 0 ? 0 : -1;
		}
	}
	pthread_mutex_unlock(&stream_lock);
	snprintf(why, n, "stream %s kept changing under us: another busbridge "
	                 "updating it too?",
	         c->r->cfg->stream);
	return -1;
}

/*
 * The nats.c client's idiom of chained status checks, alike in form to
 * bridgebench's nats_connect(); each sets its own options.
 */
static natsStatus connect_nats(struct natsconn *c)
{
	natsOptions *o = NULL;
	natsStatus s = natsOptions_Create(&o);

	if (s == NATS_OK)
		s = natsOptions_SetURL(o, c->r->cfg->nats);
	if (s == NATS_OK)
		s = natsOptions_SetName(o, "busbridge");
	if (s == NATS_OK)
		s = natsOptions_SetAllowReconnect(o, false);
	if (s == NATS_OK)
		s = natsOptions_SetSendAsap(o, c->send_asap);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(o, CONNECT_TIMEOUT);
	if (s == NATS_OK)
		s = natsOptions_SetPingInterval(o, PING_INTERVAL);
	if (s == NATS_OK)
		s = natsOptions_SetMaxPingsOut(o, MAX_PINGS_OUT);
	if (s == NATS_OK)
		s = natsConnection_Connect(&c->nc, o);
	if (s == NATS_OK)
		s = natsConnection_JetStream(&c->js, c->nc, &c->jo);
	natsOptions_Destroy(o);
	return s;
}

int natsconn_open(struct natsconn *c)
{
	char why[512];
	natsStatus s = connect_nats(c);

	if (s != NATS_OK) {
		snprintf(why, sizeof(why), "cannot connect: %s", natsconn_error(s));
		natsconn_fail(c, why);
		return -1;
	}
	if (ensure_stream(c, why, sizeof(why)) < 0) {
		natsconn_fail(c, why);
		return -1;
	}
	if (c->ever_up)
		stat_add(&c->r->st->reconnects, 1);
	route_log(c->r, LOG_LEVEL_INFO, "nats_up", "connected to NATS, stream ready",
	          "url=\"%s\" stream=%s outage_ms=%llu", c->r->cfg->nats,
	          c->r->cfg->stream,
	          c->down ? (unsigned long long)((nstime_mono() - c->down_since_ns) / 1000000u) : 0ull);
	c->ever_up = true;
	c->down = false;
	return 0;
}

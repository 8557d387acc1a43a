/*
 * stats.c - buscli stats: a queue's counters, once or every few seconds.
 *
 * The counters live in the queue's segment (libbus stats.c), so they are
 * read from shared memory, not asked of busd: busd only hands out a
 * read-only mapping (an observer attach).  When busd cannot be reached,
 * buscli finds the segments itself in /dev/shm, by the names busd gives
 * them for this socket ("bus.<instance>.<queue>.<uuid>.u<owner>", the
 * instance being seg_instance() of the socket path made absolute as busd
 * makes it), and reads them read-only: the stats of a running system stay
 * readable while busd is down.
 *
 * --watch N redraws every N seconds until SIGINT or SIGTERM: a table of
 * one line per queue, like top, with the rates of enqueue and dequeue and
 * the latency percentiles of the last interval (the difference of two
 * readings of the segment's histogram).  On a terminal each refresh
 * clears the screen; into a pipe or file the tables follow one another.
 * --prometheus prints the Prometheus text format instead (prom.c).
 *
 * A queue whose segment cannot be read (it fails validation: corrupt,
 * another layout version) does not hide the others: it is listed apart,
 * in every format, each refresh, and said on stderr once the rest is
 * printed; the exit status is then EXIT_FAIL.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buscli.h"
#include "util/io.h"
#include "guard.h"
#include "segment.h"
#include "util/nstime.h"

#define SHM_DIR     "/dev/shm"
#define MAX_WATCH_S 86400u

static const char stats_help[] =
	"Usage: " PROG " [--socket PATH] stats [QUEUE] [OPTIONS]\n"
	"\n"
	"Shows the counters of QUEUE, or of every queue busd lists.  If busd is\n"
	"not reachable, reads the queues' segments in /dev/shm directly (and\n"
	"says so on stderr), so the stats stay readable while busd is down.\n"
	"\n"
	"Options:\n"
	"  -j, --json          one JSON object: {\"queues\":[{\"name\":..,\n"
	"                      \"capacity\":..,\"depth\":..,...}]} (see README)\n"
	"  -w, --watch SECS    a live view, like top: every SECS seconds one line\n"
	"                      per queue with depth, fill, messages in and out per\n"
	"                      second and latency p50/p99 over the last interval\n"
	"                      (with --json: one object per line per refresh)\n"
	"  -p, --prometheus    the Prometheus text exposition format, for a\n"
	"                      scraper or node_exporter's textfile collector\n"
	"  -s, --socket PATH   busd's socket\n"
	"  -h, --help          show this help\n";

/* One refresh: every queue's stats, and where they came from. */
struct snapshot {
	bus_stats *v;
	size_t n, cap;
	struct stats_fault *bad; /* queues whose stats could not be read */
	size_t nbad, badcap;
	bool direct;       /* read from /dev/shm, busd down */
	uint64_t taken_ns; /* CLOCK_MONOTONIC */
};

static void snapshot_free(struct snapshot *s)
{
	free(s->v);
	free(s->bad);
	*s = (struct snapshot){0};
}

static int push(struct snapshot *s, const bus_stats *st)
{
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 16;
		bus_stats *v = realloc(s->v, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = ncap;
	}
	s->v[s->n++] = *st;
	return 0;
}

/* Records queue as unreadable, for why (printf format). */
static int push_bad(struct snapshot *s, const char *queue, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int push_bad(struct snapshot *s, const char *queue, const char *fmt, ...)
{
	struct stats_fault *f;
	va_list ap;

	if (s->nbad == s->badcap) {
		size_t ncap = s->badcap ? s->badcap * 2 : 4;
		struct stats_fault *v = realloc(s->bad, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->bad = v;
		s->badcap = ncap;
	}
	f = &s->bad[s->nbad++];
	snprintf(f->name, sizeof(f->name), "%s", queue);
	va_start(ap, fmt);
	vsnprintf(f->why, sizeof(f->why), fmt, ap);
	va_end(ap);
	return 0;
}

/*
 * A failure of one queue's stats that leaves the others readable: its
 * segment fails validation, or busd refuses that one queue.
 */
static bool queue_fault(int rc)
{
	return rc == -EBADMSG || rc == -EPROTO || rc == -EACCES || rc == -EFAULT;
}

/*
 * Stats reads, guarded (guard.h): a producer can truncate a segment, and
 * touching it then raises SIGBUS; that queue is reported, the rest shown.
 */
struct stats_call {
	bus *b;
	const char *queue;
	int fd;
	bus_stats *st;
};

static int stats_cb(void *arg)
{
	struct stats_call *c = arg;

	return c->b ? bus_queue_stats(c->b, c->queue, c->st)
	            : bus_stats_read_fd(c->fd, c->st);
}

static int queue_stats(bus *b, const char *queue, bus_stats *st)
{
	struct stats_call c = {b, queue, -1, st};

	return guard_run(stats_cb, &c);
}

static int read_fd_stats(int fd, bus_stats *st)
{
	struct stats_call c = {NULL, NULL, fd, st};

	return guard_run(stats_cb, &c);
}

/* Words for rc from reading a segment. */
static const char *seg_error(int rc)
{
	return rc == -EFAULT ? "segment truncated by another process"
	                     : bus_strerror(rc);
}

static int by_name(const void *a, const void *b)
{
	const bus_stats *x = a, *y = b;
	int d = strcmp(x->name, y->name);

	/* the same name twice: a deleted segment not yet gone, live one first */
	return d ? d : x->deleted - y->deleted;
}

static int fault_by_name(const void *a, const void *b)
{
	const struct stats_fault *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/*
 * The instance busd derives from its socket path: busd makes a relative
 * path absolute by prefixing its working directory, so do the same (run
 * buscli from where busd was started, or give the absolute path).
 */
static uint32_t socket_instance(const char *socket)
{
	char cwd[PATH_MAX], path[PATH_MAX + 256];

	if (socket[0] == '/' || !getcwd(cwd, sizeof(cwd)) ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s", cwd, socket) >= sizeof(path))
		return seg_instance(socket);
	return seg_instance(path);
}

/* Reads the segments of this socket's busd from /dev/shm. */
static int read_direct(struct cli *cli, const char *queue, struct snapshot *s)
{
	uint32_t inst = socket_instance(cli->socket);
	struct dirent *d;
	DIR *dir;
	int rc = 0;

	dir = opendir(SHM_DIR);
	if (!dir)
		return -errno;
	while ((d = readdir(dir)) != NULL) {
		char qname[BUS_NAME_MAX + 1];
		uint8_t uuid[16];
		bus_stats st;
		int fd, r;

		if (seg_shm_parse(d->d_name, inst, qname, uuid) < 0)
			continue;
		if (queue && strcmp(queue, qname) != 0)
			continue;
		fd = openat(dirfd(dir), d->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue; /* unlinked meanwhile, or not ours to read */
		r = read_fd_stats(fd, &st);
		close(fd);
		/* the name is the index; the header must agree with it */
		if (r < 0)
			rc = push_bad(s, qname, "cannot read its segment " SHM_DIR "/%s: %s",
			              d->d_name, seg_error(r));
		else if (strcmp(st.name, qname) != 0 || memcmp(st.uuid, uuid, 16) != 0)
			rc = push_bad(s, qname, "segment " SHM_DIR "/%s holds another "
			                        "queue ('%s')",
			              d->d_name, st.name);
		else
			rc = push(s, &st);
		if (rc < 0)
			break;
	}
	closedir(dir);
	if (rc == 0 && s->n > 1)
		qsort(s->v, s->n, sizeof(*s->v), by_name);
	if (rc == 0 && s->nbad > 1)
		qsort(s->bad, s->nbad, sizeof(*s->bad), fault_by_name);
	return rc;
}

/* Records that queue's stats failed with rc, in busd's words if it had some. */
static int bad_stats(struct snapshot *s, bus *b, const char *queue, int rc)
{
	char why[STATS_FAULT_WHY];

	/* busd handed the segment out; it failed validation here */
	if (rc == -EBADMSG || rc == -EPROTO || rc == -EFAULT)
		return push_bad(s, queue, "cannot read its segment: %s", seg_error(rc));
	cli_reason(why, sizeof(why), b, rc);
	return push_bad(s, queue, "%s", why);
}

/* Asks busd for every queue (or one), then reads each one's stats. */
static int read_busd(bus *b, const char *queue, struct snapshot *s,
                     char *reason, size_t rn)
{
	bus_queue_info *list = NULL;
	bus_stats st;
	int n, rc = 0;

	if (queue) {
		rc = queue_stats(b, queue, &st);
		if (rc == 0)
			rc = push(s, &st);
		else if (queue_fault(rc))
			rc = bad_stats(s, b, queue, rc);
		if (rc < 0)
			cli_reason(reason, rn, b, rc);
		return rc;
	}
	n = cli_fetch_list(b, &list);
	if (n < 0) {
		cli_reason(reason, rn, b, n);
		return n;
	}
	for (int i = 0; i < n && rc == 0; i++) {
		/*
		 * A caller's reply queue (docs/request-reply.md): busd shows
		 * its stats to nobody, and its service's queue counts its
		 * calls.  `list` shows it.
		 */
		if (strncmp(list[i].name, ".r.", 3) == 0)
			continue;
		rc = queue_stats(b, list[i].name, &st);
		if (rc == -ENOENT) {
			rc = 0; /* deleted since the list */
			continue;
		}
		if (rc == 0)
			rc = push(s, &st);
		else if (queue_fault(rc))
			rc = bad_stats(s, b, list[i].name, rc);
		if (rc < 0)
			cli_reason(reason, rn, b, rc);
	}
	free(list);
	return rc;
}

/* busd is simply not there (rather than refusing or broken). */
static bool busd_absent(int rc)
{
	return rc == -ENOENT || rc == -ECONNREFUSED || rc == -ECONNRESET ||
	       rc == -ETIMEDOUT;
}

/*
 * Takes a snapshot.  *was_direct tells whether the previous one came from
 * /dev/shm, so the fallback is announced when it starts, not every time.
 * Returns 0, or EXIT_FAIL after reporting the failure.
 */
static int take(struct cli *cli, const char *queue, bool *was_direct,
                struct snapshot *s)
{
	char reason[512], what[128];
	bus *b;
	int rc;

	*s = (struct snapshot){0};
	if (queue)
		snprintf(what, sizeof(what), "stats '%s'", queue);
	else
		snprintf(what, sizeof(what), "stats");
	rc = cli_connect(cli, what, true, &b);
	if (rc == 0) {
		rc = read_busd(b, queue, s, reason, sizeof(reason));
		bus_close(b);
		if (rc < 0) {
			cli_error("%s: %s", what, reason);
			snapshot_free(s);
			return EXIT_FAIL;
		}
		if (*was_direct)
			cli_error("%s: busd reachable again at %s", what, cli->socket);
		*was_direct = false;
	} else if (busd_absent(rc)) {
		s->direct = true;
		rc = read_direct(cli, queue, s);
		if (rc < 0) {
			cli_error("%s: busd not reachable at %s, and reading its segments in " SHM_DIR " failed: %s", what, cli->socket, strerror(-rc));
			snapshot_free(s);
			return EXIT_FAIL;
		}
		if (queue && s->n == 0 && s->nbad == 0) {
			cli_error("%s: no such queue (busd not reachable at %s, and no "
			          "segment of it in " SHM_DIR ")",
			          what, cli->socket);
			snapshot_free(s);
			return EXIT_FAIL;
		}
		if (!*was_direct)
			cli_error("busd not reachable at %s; reading segments directly",
			          cli->socket);
		*was_direct = true;
	} else {
		cli_error("%s: cannot talk to busd at %s: %s", what, cli->socket,
		          bus_strerror(rc));
		return EXIT_FAIL;
	}
	s->taken_ns = nstime_mono();
	return 0;
}

/* The same queue in the previous snapshot (by UUID), or NULL. */
static const bus_stats *find_prev(const struct snapshot *prev, const bus_stats *st)
{
	if (!prev)
		return NULL;
	for (size_t i = 0; i < prev->n; i++)
		if (memcmp(prev->v[i].uuid, st->uuid, 16) == 0)
			return &prev->v[i];
	return NULL;
}

static double rate(uint64_t now, uint64_t before, uint64_t dt_ns)
{
	return now >= before && dt_ns ? (double)(now - before) * 1e9 / (double)dt_ns : 0;
}

/* A JSON string of a reason that may hold bytes that are not UTF-8 ('?' then). */
static void json_text(struct buf *o, const char *text)
{
	char safe[STATS_FAULT_WHY];
	size_t n = strnlen(text, sizeof(safe) - 1);

	if (utf8_valid(text, n)) {
		buf_json_str(o, text, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		safe[i] = text[i];
		if ((unsigned char)safe[i] >= 0x80)
			safe[i] = '?';
	}
	buf_json_str(o, safe, n);
}

static void render_json(struct buf *o, const struct snapshot *s,
                        const struct snapshot *prev)
{
	char uuid[37];

	buf_printf(o, "{\"source\":\"%s\",\"queues\":[", s->direct ? "segments" : "busd");
	for (size_t i = 0; i < s->n; i++) {
		const bus_stats *st = &s->v[i];
		const bus_stats *p = find_prev(prev, st);

		cli_fmt_uuid(uuid, st->uuid);
		buf_puts(o, i ? ",{\"name\":" : "{\"name\":");
		buf_json_str(o, st->name, strlen(st->name));
		buf_printf(o, ",\"uuid\":\"%s\",\"capacity\":%" PRIu64 ",\"max_message\":%" PRIu32 ",\"max_producers\":%" PRIu32 ",\"depth\":%" PRIu64 ",\"depth_bytes\":%" PRIu64 ",\"enqueued\":%" PRIu64 ",\"enqueued_bytes\":%" PRIu64 ",\"dequeued\":%" PRIu64 ",\"dequeued_bytes\":%" PRIu64 ",\"producers\":%" PRIu32 ",\"consumer_pid\":%" PRIu32 ",\"full\":%" PRIu64 ",\"blocked\":%" PRIu64 ",\"consumer_wakeups\":%" PRIu64 ",\"consumer_sleeps\":%" PRIu64 ",\"producer_wakeups\":%" PRIu64 ",\"recovered\":%" PRIu64 ",\"redelivered\":%" PRIu64 ",\"oldest_age_ns\":%" PRIu64 ",\"p50_ns\":%" PRIu64 ",\"p99_ns\":%" PRIu64 ",\"p999_ns\":%" PRIu64 ",\"deleted\":%s",
		           uuid, st->capacity, st->max_message, st->max_producers,
		           st->depth_msgs, st->depth_bytes, st->enqueued, st->enqueued_bytes,
		           st->dequeued, st->dequeued_bytes, st->producers, st->consumer_pid,
		           st->full, st->blocked, st->consumer_wakeups, st->consumer_sleeps,
		           st->producer_wakeups, st->recovered, st->redelivered,
		           st->oldest_age_ns, st->p50_ns, st->p99_ns, st->p999_ns,
		           st->deleted ? "true" : "false");
		buf_printf(o, ",\"broken\":%s,\"corrupt\":%" PRIu64 ",\"aborted\":%" PRIu64 ",\"stalled_ns\":%" PRIu64,
		           st->broken ? "true" : "false", st->corrupt, st->aborted,
		           st->stalled_ns);
		if (st->stalled_slot != BUS_STATS_NO_SLOT)
			buf_printf(o, ",\"stalled_slot\":%" PRIu32, st->stalled_slot);
		else
			buf_puts(o, ",\"stalled_slot\":null");
		buf_printf(o, ",\"stalled_pid\":%" PRIu32 ",\"stalled_alive\":%s",
		           st->stalled_pid, st->stalled_alive ? "true" : "false");
		buf_printf(o, ",\"requests\":%" PRIu64 ",\"replies\":%" PRIu64 ",\"late_replies\":%" PRIu64 ",\"dead_replies\":%" PRIu64,
		           st->requests, st->replies, st->late_replies, st->dead_replies);
		if (p) {
			uint64_t dt = s->taken_ns - prev->taken_ns;

			buf_printf(o, ",\"enqueued_per_s\":%.1f,\"dequeued_per_s\":%.1f",
			           rate(st->enqueued, p->enqueued, dt),
			           rate(st->dequeued, p->dequeued, dt));
		}
		buf_puts(o, "}");
	}
	buf_puts(o, "],\"errors\":[");
	for (size_t i = 0; i < s->nbad; i++) {
		buf_puts(o, i ? ",{\"name\":" : "{\"name\":");
		buf_json_str(o, s->bad[i].name, strlen(s->bad[i].name));
		buf_puts(o, ",\"error\":");
		json_text(o, s->bad[i].why);
		buf_puts(o, "}");
	}
	buf_puts(o, "]}\n");
}

/* The stall of a queue in words: "4.2 s, behind producer slot 3 (pid 42, alive)". */
static void fmt_stall(char *buf, size_t n, const bus_stats *st)
{
	char age[32];

	cli_fmt_ns(age, sizeof(age), st->stalled_ns);
	if (st->stalled_slot == BUS_STATS_NO_SLOT)
		snprintf(buf, n, "%s, behind a claim no producer slot owns", age);
	else
		snprintf(buf, n, "%s, behind producer slot %" PRIu32 " (pid %" PRIu32 ", %s)",
		         age, st->stalled_slot, st->stalled_pid,
		         st->stalled_alive ? "alive" : "dead, not yet recovered");
}

static void render_text(struct buf *o, const struct snapshot *s)
{
	char uuid[37], a[32], b2[32], c[32], stall[160];

	if (s->n == 0 && s->nbad == 0)
		buf_puts(o, "no queues\n");
	for (size_t i = 0; i < s->n; i++) {
		const bus_stats *st = &s->v[i];

		cli_fmt_uuid(uuid, st->uuid);
		buf_printf(o, "%squeue %s%s%s\n", i ? "\n" : "", st->name,
		           st->deleted ? " (deleted)" : "", st->broken ? " (broken)" : "");
		buf_printf(o, "  %-13s %s\n", "uuid", uuid);
		cli_fmt_bytes(a, sizeof(a), st->capacity);
		buf_printf(o, "  %-13s %s, max message %" PRIu32 " B, %" PRIu32 " producer slots\n", "capacity", a, st->max_message,
		           st->max_producers);
		cli_fmt_bytes(a, sizeof(a), st->depth_bytes);
		cli_fmt_ns(b2, sizeof(b2), st->oldest_age_ns);
		buf_printf(o, "  %-13s %" PRIu64 " messages, %s; oldest %s\n", "depth",
		           st->depth_msgs, a, st->depth_msgs ? b2 : "-");
		cli_fmt_bytes(a, sizeof(a), st->enqueued_bytes);
		buf_printf(o, "  %-13s %" PRIu64 " messages, %s\n", "enqueued", st->enqueued, a);
		cli_fmt_bytes(a, sizeof(a), st->dequeued_bytes);
		buf_printf(o, "  %-13s %" PRIu64 " messages, %s\n", "dequeued", st->dequeued, a);
		buf_printf(o, "  %-13s %" PRIu32 " attached\n", "producers", st->producers);
		if (st->consumer_pid)
			buf_printf(o, "  %-13s pid %" PRIu32 "\n", "consumer", st->consumer_pid);
		else
			buf_printf(o, "  %-13s none\n", "consumer");
		buf_printf(o, "  %-13s %" PRIu64 " sends found the queue full\n", "full",
		           st->full);
		buf_printf(o, "  %-13s %" PRIu64 " sends slept waiting for space\n",
		           "blocked", st->blocked);
		buf_printf(o, "  %-13s consumer woken %" PRIu64 " times (slept %" PRIu64 "), producers woken %" PRIu64 " times\n", "wakeups",
		           st->consumer_wakeups, st->consumer_sleeps, st->producer_wakeups);
		buf_printf(o, "  %-13s %" PRIu64 " records of dead producers\n", "recovered",
		           st->recovered);
		buf_printf(o, "  %-13s %" PRIu64 " messages after a consumer died\n",
		           "redelivered", st->redelivered);
		buf_printf(o, "  %-13s %" PRIu64 " loans given up, never delivered\n",
		           "aborted", st->aborted);
		buf_printf(o, "  %-13s %" PRIu64 " requests, %" PRIu64 " replies, %" PRIu64 " dropped late by callers, %" PRIu64 " to callers gone\n",
		           "calls", st->requests, st->replies, st->late_replies,
		           st->dead_replies);
		buf_printf(o, "  %-13s %" PRIu64 " records reported and stepped over%s\n",
		           "corrupt", st->corrupt,
		           st->broken ? "; broken: one it cannot step over stopped the "
		                        "queue"
		                      : "");
		if (st->stalled_ns) {
			fmt_stall(stall, sizeof(stall), st);
			buf_printf(o, "  %-13s %s\n", "stalled", stall);
		} else {
			buf_printf(o, "  %-13s -\n", "stalled");
		}
		if (st->dequeued) {
			cli_fmt_ns(a, sizeof(a), st->p50_ns);
			cli_fmt_ns(b2, sizeof(b2), st->p99_ns);
			cli_fmt_ns(c, sizeof(c), st->p999_ns);
			buf_printf(o, "  %-13s p50 <= %s, p99 <= %s, p99.9 <= %s\n", "latency",
			           a, b2, c);
		} else {
			buf_printf(o, "  %-13s -\n", "latency");
		}
	}
	for (size_t i = 0; i < s->nbad; i++)
		buf_printf(o, "%squeue %s (unreadable)\n  %-13s %s\n", i || s->n ? "\n" : "",
		           s->bad[i].name, "error", s->bad[i].why);
}

/*
 * Upper bound of the bucket holding the per_mille-th delay of hist (as
 * libbus reports them), 0 if hist is empty.
 */
static uint64_t hist_percentile(const uint64_t *hist, uint64_t per_mille)
{
	uint64_t total = 0, want, seen = 0;

	for (int b = 0; b < BUS_STATS_BUCKETS; b++)
		total += hist[b];
	if (total == 0)
		return 0;
	want = (total * per_mille + 999) / 1000;
	for (int b = 0; b < BUS_STATS_BUCKETS; b++) {
		seen += hist[b];
		if (seen >= want)
			return b >= 63 ? UINT64_MAX : UINT64_C(2) << b;
	}
	return UINT64_MAX;
}

/* A latency cell: "1.2ms", one word so that the columns split on blanks. */
static void fmt_ns_cell(char *buf, size_t n, uint64_t ns)
{
	char *sp;

	cli_fmt_ns(buf, n, ns);
	sp = strchr(buf, ' ');
	if (sp)
		memmove(sp, sp + 1, strlen(sp));
}

/* One cell of the watch table: a rate, or "-" before there is one. */
static void fmt_rate(char *buf, size_t n, const bus_stats *st, const bus_stats *p,
                     uint64_t dt, bool in)
{
	if (!p)
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.1f", in ? rate(st->enqueued, p->enqueued, dt) : rate(st->dequeued, p->dequeued, dt));
}

/*
 * The watch view: one line per queue.  Latency is over the interval when
 * there is a previous reading of the queue, else since its creation.
 */
static void render_top(struct buf *o, const struct snapshot *s,
                       const struct snapshot *prev)
{
	int w = 5;

	for (size_t i = 0; i < s->n; i++)
		if ((int)strlen(s->v[i].name) > w)
			w = (int)strlen(s->v[i].name);
	for (size_t i = 0; i < s->nbad; i++)
		if ((int)strlen(s->bad[i].name) > w)
			w = (int)strlen(s->bad[i].name);
	if (prev)
		buf_printf(o, "rates and latency over the last %.1f s\n\n",
		           (double)(s->taken_ns - prev->taken_ns) / 1e9);
	else
		buf_puts(o, "rates from the next refresh on; latency since each queue "
		            "was created\n\n");
	buf_printf(o, "%-*s %10s %6s %10s %10s %9s %9s %5s %8s\n", w, "QUEUE", "DEPTH",
	           "FILL", "IN/s", "OUT/s", "P50<=", "P99<=", "PROD", "CONSUMER");
	for (size_t i = 0; i < s->n; i++) {
		const bus_stats *st = &s->v[i];
		const bus_stats *p = find_prev(prev, st);
		uint64_t dt = p ? s->taken_ns - prev->taken_ns : 0;
		uint64_t hist[BUS_STATS_BUCKETS];
		char in[24], out[24], p50[24] = "-", p99[24] = "-", cons[24] = "-";
		char note[200] = "";

		for (int b = 0; b < BUS_STATS_BUCKETS; b++) {
			uint64_t before = p ? p->latency_hist[b] : 0;

			hist[b] = st->latency_hist[b] >= before ? st->latency_hist[b] - before : 0;
		}
		if (hist_percentile(hist, 500)) {
			fmt_ns_cell(p50, sizeof(p50), hist_percentile(hist, 500));
			fmt_ns_cell(p99, sizeof(p99), hist_percentile(hist, 990));
		}
		fmt_rate(in, sizeof(in), st, p, dt, true);
		fmt_rate(out, sizeof(out), st, p, dt, false);
		if (st->consumer_pid)
			snprintf(cons, sizeof(cons), "%" PRIu32, st->consumer_pid);
		if (st->stalled_ns) {
			char stall[160];

			fmt_stall(stall, sizeof(stall), st);
			snprintf(note, sizeof(note), "  (stalled %s)", stall);
		}
		buf_printf(o, "%-*s %10" PRIu64 " %5.1f%% %10s %10s %9s %9s %5" PRIu32 " %8s%s%s%s\n", w, st->name, st->depth_msgs,
		           st->capacity ? 100.0 * (double)st->depth_bytes /
		                                  (double)st->capacity
		                        : 0.0,
		           in, out, p50, p99, st->producers, cons,
		           st->deleted ? "  (deleted)" : "", st->broken ? "  (broken)" : "",
		           note);
	}
	for (size_t i = 0; i < s->nbad; i++)
		buf_printf(o, "%-*s  (unreadable: %s)\n", w, s->bad[i].name, s->bad[i].why);
	if (s->n == 0 && s->nbad == 0)
		buf_puts(o, "(no queues)\n");
}

/* Sleeps secs seconds or until a stop signal. */
static void nap(unsigned secs)
{
	struct timespec ts = {.tv_sec = secs};

	while (!cli_stop && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int cmd_stats(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"watch", required_argument, NULL, 'w'},
		{"prometheus", no_argument, NULL, 'p'},
		CLI_COMMON_OPTS,
		{0},
	};
	struct snapshot cur = {0}, prev = {0};
	const char *queue = NULL;
	bool json = false, prom = false, direct = false, tty;
	unsigned watch = 0;
	struct buf out = {0};
	uint64_t v;
	int c, rc;

	while ((c = cli_getopt(cli, "stats", stats_help, argc, argv, ":jw:ps:h", opts, &rc)) >= 0) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'w':
			if (cli_parse_u64(optarg, 1, MAX_WATCH_S, &v) < 0)
				return cli_usage_error("stats", "invalid watch interval '%s': want "
				                                "1 to %u seconds",
				                       optarg, MAX_WATCH_S);
			watch = (unsigned)v;
			break;
		case 'p':
			prom = true;
			break;
		}
	}
	if (c == CLI_OPT_DONE)
		return rc;
	if (prom && (json || watch))
		return cli_usage_error("stats", "--prometheus goes alone: not with --json "
		                                "or --watch (a scraper asks again when it wants)");
	if (argc - optind > 1)
		return cli_usage_error("stats", "one queue at a time, or none for all");
	if (optind < argc) {
		queue = argv[optind];
		if ((rc = cli_check_queue("stats", queue)) != 0)
			return rc;
	}
	if (watch)
		cli_catch_stop_signals();
	tty = isatty(STDOUT_FILENO);
	rc = EXIT_OK;
	do {
		if (take(cli, queue, &direct, &cur) != 0) {
			rc = EXIT_FAIL;
			break;
		}
		out.len = 0;
		if (watch && !json) {
			time_t t = time(NULL);
			struct tm tm;
			char when[32] = "?";

			if (localtime_r(&t, &tm))
				strftime(when, sizeof(when), "%H:%M:%S", &tm);
			buf_printf(&out, "%s" PROG " stats%s%s: every %us, at %s%s\n\n",
			           tty ? "\033[H\033[2J" : (prev.taken_ns ? "\n" : ""),
			           queue ? " " : "", queue ? queue : "", watch, when,
			           cur.direct ? " (busd down: read from " SHM_DIR ")" : "");
		}
		if (prom)
			render_prometheus(&out, cur.v, cur.n, cur.bad, cur.nbad, cur.direct);
		else if (json)
			render_json(&out, &cur, watch && prev.taken_ns ? &prev : NULL);
		else if (watch)
			render_top(&out, &cur, prev.taken_ns ? &prev : NULL);
		else
			render_text(&out, &cur);
		c = out.oom ? -ENOMEM : io_write_all(STDOUT_FILENO, out.p, out.len);
		if (c < 0) {
			cli_error("stats: writing the output: %s", strerror(-c));
			rc = EXIT_FAIL;
			break;
		}
		/* The rest is printed; now what could not be (a watch shows rows). */
		if (!watch) {
			for (size_t i = 0; i < cur.nbad; i++)
				cli_error("stats '%s': %s", cur.bad[i].name, cur.bad[i].why);
			if (cur.nbad)
				rc = EXIT_FAIL;
		}
		snapshot_free(&prev);
		prev = cur;
		cur = (struct snapshot){0};
		if (watch)
			nap(watch);
	} while (watch && !cli_stop);
	snapshot_free(&cur);
	snapshot_free(&prev);
	buf_free(&out);
	return rc;
}

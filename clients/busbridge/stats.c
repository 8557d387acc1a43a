/*
 * stats.c - the stats file (stats.h): made by the daemon, shown by
 * `busbridge --stats` as a table, JSON or the Prometheus text format.
 *
 * The reader copies the file once into private memory and takes every
 * field from that copy with memcpy at the offsets of struct stats_route,
 * so a daemon writing meanwhile (or anyone who can write the file) can
 * change neither what was checked nor the length of a string.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "state.h"
#include "stats.h"
#include "util/nstime.h"

#define STATS_MAX_SIZE (sizeof(struct stats_header) + BRIDGE_MAX_ROUTES * sizeof(struct stats_route))

enum counter_id {
	C_MESSAGES,
	C_BYTES,
	C_IN_FLIGHT,
	C_ACKS,
	C_DUPLICATES,
	C_SKIPPED,
	C_REDELIVERIES,
	C_ERRORS,
	C_RECONNECTS,
	C_LAG,
	C_COUNT
};

struct counter {
	const char *name;   /* JSON key; Prometheus busbridge_NAME[_total] */
	const char *column; /* table heading */
	bool gauge;
	const char *help;
};

/* One row a counter: the rows look alike on purpose, as a table's do. */
static const struct counter counters[C_COUNT] = {
	[C_MESSAGES] = {"messages", "MESSAGES", false,
                        "Messages forwarded: acked by JetStream (export) or committed "
                        "to the local queue (import)."},
	[C_BYTES] = {"bytes", "BYTES", false, "Payload bytes of the messages forwarded."},
	[C_IN_FLIGHT] = {"in_flight", "IN-FLIGHT", true,
                         "Messages published and not yet acked (export), or fetched and "
                         "not yet committed (import)."},
	[C_ACKS] = {"acks", "ACKS", false,
                    "Publish acks received (export) or message acks sent (import)."},
	[C_DUPLICATES] = {"duplicates", "DUPS", false,
                          "Publish acks that JetStream marked duplicate: a copy it had "
                          "stored already (export)."},
	[C_SKIPPED] = {"skipped", "SKIPPED", false,
                       "Deliveries of messages committed already, acked and not sent "
                       "again (import)."},
	[C_REDELIVERIES] = {"redeliveries", "REDELIV", false,
                            "Messages handled again: redelivered locally or republished "
                            "(export), delivered more than once by JetStream (import)."},
	[C_ERRORS] = {"errors", "ERRORS", false,
                      "Failed publishes, ack timeouts, corrupt records, messages too "
                      "large for the local queue."},
	[C_RECONNECTS] = {"reconnects", "RECONN", false,
                          "NATS connections made again after one was lost."},
	[C_LAG] = {"lag", "LAG", true,
                   "Messages waiting: the local queue's depth (export), or in the "
                   "stream for the consumer (import)."},
};

static const char *const state_names[] = {
	[ROUTE_STARTING] = "starting",
	[ROUTE_UP] = "up",
	[ROUTE_WAIT_NATS] = "waiting-nats",
	[ROUTE_WAIT_LOCAL] = "waiting-busd",
};

/* --- the daemon's side --- */

static void fill(struct stats_map *m, const struct bridge_config *cfg)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	memcpy(m->hdr->magic, STATS_MAGIC, 8);
	m->hdr->version = STATS_VERSION;
	m->hdr->route_count = (uint32_t)cfg->nroutes;
	m->hdr->pid = (uint64_t)getpid();
	m->hdr->started_ns = nstime_from_ts(now);
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct route_conf *rc = &cfg->routes[i];
		struct stats_route *st = &m->routes[i];

		st->kind = (uint32_t)rc->kind;
		strcpy(st->queue, rc->queue);
		strcpy(st->subject, rc->subject);
		strcpy(st->durable, rc->durable);
	}
}

int stats_create(struct stats_map *m, const struct bridge_config *cfg,
                 char *err, size_t n)
{
	char path[CFG_PATH_MAX + 16], tmp[CFG_PATH_MAX + 16];
	size_t size = sizeof(struct stats_header) + cfg->nroutes * sizeof(struct stats_route);
	void *map;
	int fd, r;

	*m = (struct stats_map){0};
	snprintf(path, sizeof(path), "%s/stats", cfg->state_dir);
	snprintf(tmp, sizeof(tmp), "%s/stats.new", cfg->state_dir);
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return failf_rc(err, n, -errno, "cannot create %s: %s", tmp, strerror(errno));
	/* Zero-filled by the truncation: every counter starts at 0. */
	map = ftruncate(fd, (off_t)size) < 0
	              ? MAP_FAILED
	              : mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	r = -errno;
	close(fd);
	if (map == MAP_FAILED) {
		unlink(tmp);
		return failf_rc(err, n, r, "cannot map %s: %s", tmp, strerror(-r));
	}
	m->hdr = map;
	m->routes = (struct stats_route *)(m->hdr + 1);
	m->size = size;
	fill(m, cfg);
	/* Complete before it has its name: a reader sees the old file or this one. */
	if (rename(tmp, path) < 0) {
		r = -errno;
		stats_close(m);
		unlink(tmp);
		return failf_rc(err, n, r, "cannot rename %s to %s: %s", tmp, path,
		                strerror(-r));
	}
	return 0;
}

void stats_close(struct stats_map *m)
{
	if (m->hdr)
		munmap(m->hdr, m->size);
	*m = (struct stats_map){0};
}

/* --- the reader's side --- */

/* One route as read and checked: private, plain, NUL-terminated. */
struct route_view {
	uint32_t kind, state;
	char queue[BUS_NAME_MAX + 1];
	char subject[BRIDGE_SUBJECT_MAX + 1];
	char durable[BRIDGE_NAME_MAX + 1];
	uint64_t c[C_COUNT];
};

struct view {
	bool running;
	uint64_t pid, started_ns;
	size_t n;
	struct route_view r[BRIDGE_MAX_ROUTES];
};

/* A string field: it must end within its array. */
static bool take_string(char *dst, const unsigned char *src, size_t cap)
{
	if (!memchr(src, '\0', cap))
		return false;
	memcpy(dst, src, cap);
	return true;
}

static const char *check_route(struct route_view *v, const unsigned char *e)
{
	memcpy(&v->kind, e + offsetof(struct stats_route, kind), 4);
	memcpy(&v->state, e + offsetof(struct stats_route, state), 4);
	if (v->kind != ROUTE_EXPORT && v->kind != ROUTE_IMPORT)
		return "unknown route kind";
	if (v->state > ROUTE_WAIT_LOCAL)
		return "unknown route state";
	if (!take_string(v->queue, e + offsetof(struct stats_route, queue), sizeof(v->queue)) ||
	    !bus_name_valid(v->queue))
		return "invalid queue name";
	if (!take_string(v->subject, e + offsetof(struct stats_route, subject), sizeof(v->subject)) ||
	    !cfg_subject_valid(v->subject))
		return "invalid subject";
	if (!take_string(v->durable, e + offsetof(struct stats_route, durable), sizeof(v->durable)) ||
	    (v->kind == ROUTE_IMPORT ? !cfg_name_valid(v->durable) : v->durable[0] != '\0'))
		return "invalid durable name";
	memcpy(v->c, e + offsetof(struct stats_route, messages), sizeof(v->c));
	return NULL;
}

/* Checks the copy buf[0..len-1] and fills *v.  Returns NULL or what is wrong. */
static const char *check(struct view *v, const unsigned char *buf, size_t len)
{
	struct stats_header h;

	if (len < sizeof(h))
		return "too short for its header";
	memcpy(&h, buf, sizeof(h));
	if (memcmp(h.magic, STATS_MAGIC, 8) != 0)
		return "bad magic (not " STATS_MAGIC ")";
	if (h.version != STATS_VERSION)
		return "another layout version";
	if (h.route_count > BRIDGE_MAX_ROUTES ||
	    len != sizeof(h) + h.route_count * sizeof(struct stats_route))
		return "its size does not match its route count";
	v->pid = h.pid;
	v->started_ns = h.started_ns;
	v->n = h.route_count;
	for (size_t i = 0; i < v->n; i++) {
		const char *why = check_route(&v->r[i], buf + sizeof(h) + i * sizeof(struct stats_route));

		if (why)
			return why;
	}
	return NULL;
}

/* Reads DIR/stats once into buf (STATS_MAX_SIZE + 1 bytes). */
static int read_stats(const char *path, unsigned char *buf, size_t *len)
{
	/* O_NONBLOCK: a FIFO put in its place must not hang the reader. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;
	size_t got = 0;
	ssize_t r;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EBADMSG;
	}
	/* One byte more than the largest valid file tells a longer one apart. */
	while (got <= STATS_MAX_SIZE &&
	       ((r = read(fd, buf + got, STATS_MAX_SIZE + 1 - got)) > 0 ||
	        (r < 0 && errno == EINTR)))
		got += r > 0 ? (size_t)r : 0;
	r = r < 0 ? -errno : 0;
	close(fd);
	*len = got;
	return (int)r;
}

/* --- output --- */

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch < 0x80 ? ch : '?'); /* a path in no known encoding */
	}
	putchar('"');
}

static void show_json(const struct view *v, const char *dir)
{
	printf("{\"running\":%s,\"pid\":%" PRIu64 ",\"started_ns\":%" PRIu64 ",\"state_dir\":",
	       v->running ? "true" : "false", v->pid, v->started_ns);
	json_string(dir);
	printf(",\"routes\":[");
	for (size_t i = 0; i < v->n; i++) {
		const struct route_view *r = &v->r[i];

		printf("%s{\"route\":\"%s\",\"queue\":", i ? "," : "",
		       route_kind_name((enum route_kind)r->kind));
		json_string(r->queue);
		printf(",\"subject\":");
		json_string(r->subject);
		printf(",\"durable\":");
		if (r->kind == ROUTE_IMPORT)
			json_string(r->durable);
		else
			printf("null");
		printf(",\"state\":\"%s\"", v->running ? state_names[r->state] : "stopped");
		for (int c = 0; c < C_COUNT; c++)
			printf(",\"%s\":%" PRIu64, counters[c].name, r->c[c]);
		printf("}");
	}
	printf("]}\n");
}

static void prom_label(const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			putchar('\\');
		putchar(*s);
	}
}

static void prom_sample(const char *name, const struct route_view *r)
{
	printf("%s{route=\"%s\",queue=\"", name, route_kind_name((enum route_kind)r->kind));
	prom_label(r->queue);
	printf("\",subject=\"");
	prom_label(r->subject);
	printf("\"} ");
}

static void prom_family(const char *name, const char *type, const char *help)
{
	printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void show_prometheus(const struct view *v)
{
	char name[64];

	prom_family("busbridge_running", "gauge",
	            "1 if the busbridge that writes these figures is running, else 0.");
	printf("busbridge_running %d\n", v->running ? 1 : 0);
	prom_family("busbridge_start_time_seconds", "gauge",
	            "When that busbridge started, in seconds since the epoch.");
	printf("busbridge_start_time_seconds %" PRIu64 ".%09" PRIu64 "\n",
	       v->started_ns / 1000000000u, v->started_ns % 1000000000u);
	prom_family("busbridge_up", "gauge", "1 if the route is running and connected "
	                                     "at both ends, else 0.");
	for (size_t i = 0; i < v->n; i++) {
		prom_sample("busbridge_up", &v->r[i]);
		printf("%d\n", v->running && v->r[i].state == ROUTE_UP ? 1 : 0);
	}
	prom_family("busbridge_state", "gauge", "The route's state: 0 starting, 1 up, "
	                                        "2 waiting for NATS, 3 waiting for busd or the queue.");
	for (size_t i = 0; i < v->n; i++) {
		prom_sample("busbridge_state", &v->r[i]);
		printf("%" PRIu32 "\n", v->r[i].state);
	}
	for (int c = 0; c < C_COUNT; c++) {
		snprintf(name, sizeof(name), "busbridge_%s%s", counters[c].name,
		         counters[c].gauge ? "" : "_total");
		prom_family(name, counters[c].gauge ? "gauge" : "counter", counters[c].help);
		for (size_t i = 0; i < v->n; i++) {
			prom_sample(name, &v->r[i]);
			printf("%" PRIu64 "\n", v->r[i].c[c]);
		}
	}
}

/* The header line of the table: who, since when, running or not. */
static void show_status(const struct view *v, const char *dir)
{
	time_t sec = (time_t)(v->started_ns / 1000000000u);
	char when[64] = "?";
	struct tm tm;

	if (gmtime_r(&sec, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	if (v->running)
		printf("busbridge pid %" PRIu64 ": running since %s\n", v->pid, when);
	else
		printf("busbridge: stopped; the figures are those of pid %" PRIu64
		       ", started %s, when it stopped\n",
		       v->pid, when);
	printf("state directory: %s\n\n", dir);
}

static void show_table(const struct view *v, const char *dir)
{
	int wq = 5, ws = 7, wd = 7;

	show_status(v, dir);
	for (size_t i = 0; i < v->n; i++) {
		wq = (int)strlen(v->r[i].queue) > wq ? (int)strlen(v->r[i].queue) : wq;
		ws = (int)strlen(v->r[i].subject) > ws ? (int)strlen(v->r[i].subject) : ws;
		wd = (int)strlen(v->r[i].durable) > wd ? (int)strlen(v->r[i].durable) : wd;
	}
	printf("%-6s %-*s %-*s %-*s %-12s", "ROUTE", wq, "QUEUE", ws, "SUBJECT", wd,
	       "DURABLE", "STATE");
	for (int c = 0; c < C_COUNT; c++)
		printf(" %*s", c == C_MESSAGES || c == C_BYTES ? 12 : 9, counters[c].column);
	putchar('\n');
	for (size_t i = 0; i < v->n; i++) {
		const struct route_view *r = &v->r[i];

		printf("%-6s %-*s %-*s %-*s %-12s", route_kind_name((enum route_kind)r->kind),
		       wq, r->queue, ws, r->subject, wd, r->durable[0] ? r->durable : "-",
		       v->running ? state_names[r->state] : "stopped");
		for (int c = 0; c < C_COUNT; c++)
			printf(" %*" PRIu64, c == C_MESSAGES || c == C_BYTES ? 12 : 9, r->c[c]);
		putchar('\n');
	}
}

int stats_show(const char *dir, enum stats_format fmt)
{
	static unsigned char buf[STATS_MAX_SIZE + 1];
	static struct view v;
	char path[CFG_PATH_MAX + 16];
	const char *why;
	size_t len = 0;
	int r;

	snprintf(path, sizeof(path), "%s/stats", dir);
	r = read_stats(path, buf, &len);
	if (r == -ENOENT) {
		fprintf(stderr, "busbridge: no %s: no busbridge has run with the state "
		                "directory %s\n",
		        path, dir);
		return EXIT_FAILURE;
	}
	if (r < 0) {
		fprintf(stderr, "busbridge: cannot read %s: %s\n", path,
		        r == -EBADMSG ? "not a regular file" : strerror(-r));
		return EXIT_FAILURE;
	}
	why = check(&v, buf, len);
	if (why) {
		fprintf(stderr, "busbridge: %s is not a valid stats file: %s\n", path, why);
		return EXIT_FAILURE;
	}
	r = state_running(dir);
	v.running = r == 1;
	if (r < 0)
		fprintf(stderr, "busbridge: cannot tell whether busbridge runs (%s/lock: "
		                "%s); showing it as stopped\n",
		        dir, r == -EBADMSG ? "not a regular file" : strerror(-r));
	if (fmt == STATS_JSON)
		show_json(&v, dir);
	else if (fmt == STATS_PROMETHEUS)
		show_prometheus(&v);
	else
		show_table(&v, dir);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "busbridge: writing the output: %s\n", strerror(errno));
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}

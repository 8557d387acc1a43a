/*
 * test_stall.c - what monitoring sees of a stalled, corrupt or broken
 * queue.
 *
 *  - stopped_producer: a producer process claims a record and stops
 *    itself with SIGSTOP before its commit (it drives libbus/ring.h's
 *    claim and commit itself, so the moment is exact); another producer
 *    commits two messages behind it, and a `buscli recv` consumer waits
 *    at the claim.  While it is stopped, `buscli stats` in every format
 *    and bus_queue_stats() must say the queue is stalled, for a time that
 *    grows, behind that producer's slot and pid; after SIGCONT it
 *    commits, the consumer gets everything and the stall is gone.
 *  - corrupt_segment: one queue's segment header is overwritten; `buscli
 *    stats` (text, --json, --prometheus, and with busd down) still shows
 *    the other queues, names the bad one on stderr and in its output,
 *    and exits 1.
 *  - corrupt_records: a record rewritten so that it still frames itself
 *    (stepped over: `corrupt`), and one whose length frames nothing (the
 *    queue is marked broken): both show in every format, --watch too.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../e2e/e2e.h"
#include "handle.h"
#include "harness.h"
#include "ring.h"
#include "segment.h"
#include "wait.h"

#define STALL_LEN 200

/* --- helpers --- */

/* The object of queue name in buscli's stats JSON, copied into buf. */
static void queue_obj(const char *json, const char *name, char *buf, size_t n)
{
	char pat[128];
	const char *p, *end;

	snprintf(pat, sizeof(pat), "{\"name\":\"%s\",", name);
	p = strstr(json, pat);
	if (!p) {
		buf[0] = '\0';
		fail_msg("no queue '%s' in %s", name, json);
		return;
	}
	/* the objects are flat: the first '}' closes it */
	end = strchr(p, '}');
	assert_non_null(end);
	assert_true((size_t)(end - p) < n);
	memcpy(buf, p, (size_t)(end - p) + 1);
	buf[end - p + 1] = '\0';
}

static uint64_t json_u64(const char *obj, const char *key)
{
	uint64_t v;

	if (!e2e_json_u64(obj, key, &v))
		fail_msg("no number \"%s\" in %s", key, obj);
	return v;
}

static bool json_has(const char *obj, const char *key_value)
{
	return strstr(obj, key_value) != NULL;
}

/* The value of the sample line that starts with prefix (name{labels}). */
static double prom_value(const char *text, const char *prefix)
{
	const char *p = text;

	while ((p = strstr(p, prefix)) != NULL) {
		if (p == text || p[-1] == '\n')
			return strtod(p + strlen(prefix), NULL);
		p++;
	}
	fail_msg("no sample '%s' in:\n%s", prefix, text);
	return 0;
}

/* Maps queue's segment in /dev/shm read-write into *s. */
static void map_queue(struct e2e *e, const char *queue, struct seg *s)
{
	char path[300];
	const char *why = NULL;
	int fd;

	assert_true(e2e_shm_path(e, queue, path, sizeof(path)));
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(seg_map_fd(fd, s, &why), 0);
}

static void cli_ok(struct e2e *e, struct e2e_run *r, ...)
{
	char *args[16];
	va_list ap;
	int n = 0;

	va_start(ap, r);
	while ((args[n] = va_arg(ap, char *)) != NULL)
		assert_true(++n < 16);
	va_end(ap);
	e2e_cli_v(e, r, NULL, 0, 30, args);
	if (r->status != 0)
		fail_msg("buscli %s: status %d: %s", args[0], r->status, r->err);
}

/* --- a producer stopped between its claim and its commit --- */

struct staller {
	struct e2e *e;
	int report; /* write end: the slot, once the claim is made */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int staller(void *arg)
{
	struct staller *a = arg;
	struct ring_prod rp;
	struct rec_hdr *r;
	bus_producer *p;
	uint32_t slot;
	struct seg *s;
	bus *b;

	if (bus_open(a->e->socket, &b) < 0 || bus_producer_open(b, "stall", &p) < 0)
		return 1;
	slot = bus_producer_slot(p);
	s = producer_seg(p);
	/* What bus_send does, with a stop between the claim and the commit. */
	ring_prod_init(&rp, s, slot);
	if (ring_claim(&rp, STALL_LEN, &r) < 0)
		return 2;
	if (write(a->report, &slot, sizeof(slot)) != sizeof(slot))
		return 3;
	raise(SIGSTOP);
	memset(ring_rec_payload(r), 'S', STALL_LEN);
	ring_commit(&rp, r, 1, STALL_LEN, mono_ns());
	wait_signal(&wait_futex_ops, &s->hdr->cons_wait, 1, -1);
	bus_producer_close(p);
	bus_close(b);
	return 0;
}

/* The stall as `buscli stats stall --json` shows it; checks slot and pid. */
static uint64_t stalled_json(struct e2e *e, uint32_t slot, pid_t pid)
{
	char obj[4096];
	struct e2e_run r;
	uint64_t ns;

	cli_ok(e, &r, "stats", "stall", "--json", NULL);
	queue_obj(r.out, "stall", obj, sizeof(obj));
	ns = json_u64(obj, "stalled_ns");
	assert_true(ns > 0);
	assert_int_equal(json_u64(obj, "stalled_slot"), slot);
	assert_int_equal(json_u64(obj, "stalled_pid"), (uint64_t)pid);
	assert_true(json_has(obj, "\"stalled_alive\":true"));
	/* the oldest message waiting is behind the claim, and has an age */
	assert_true(json_u64(obj, "oldest_age_ns") > 0);
	assert_int_equal(json_u64(obj, "depth"), 2);
	e2e_run_free(&r);
	return ns;
}

static void stopped_producer(void **state)
{
	struct e2e *e = *state;
	struct staller a = {.e = e};
	struct e2e_proc cons, watch;
	char *buf = NULL, prefix[160], slotbuf[16];
	size_t len = 0, cap = 0;
	struct e2e_run r;
	bus_stats st;
	uint64_t ns1, ns2;
	uint32_t slot;
	int fds[2], ws;
	pid_t pid;
	bus *b;

	e2e_create(e, "stall", "64K");
	e2e_spawn_cli(e, &cons, E2E_OUT, "recv", "stall", "--count", "4", "--timeout",
	              "60000", NULL);
	cli_ok(e, &r, "publish", "stall", "first", NULL);
	e2e_run_free(&r);
	e2e_read_lines(cons.out, &buf, &len, &cap, 1, 10000);
	assert_int_equal(e2e_count_lines(buf, len), 1);

	assert_int_equal(pipe(fds), 0);
	a.report = fds[1];
	pid = e2e_fork(e, staller, &a);
	close(fds[1]);
	assert_int_equal(read(fds[0], &slot, sizeof(slot)), sizeof(slot));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &ws, WUNTRACED), pid);
	assert_true(WIFSTOPPED(ws));

	/* Two messages committed behind the stopped claim. */
	cli_ok(e, &r, "publish", "stall", "behind-1", "behind-2", NULL);
	e2e_run_free(&r);
	e2e_sleep_ms(300);

	ns1 = stalled_json(e, slot, pid);
	b = e2e_open(e);
	assert_int_equal(bus_queue_stats(b, "stall", &st), 0);
	assert_true(st.stalled_ns >= ns1);
	assert_int_equal(st.stalled_slot, slot);
	assert_int_equal(st.stalled_pid, (uint32_t)pid);
	assert_int_equal(st.stalled_alive, 1);
	e2e_sleep_ms(300);
	ns2 = stalled_json(e, slot, pid);
	assert_true(ns2 >= ns1 + 300000000u);

	/* text and Prometheus say the same */
	cli_ok(e, &r, "stats", "stall", NULL);
	snprintf(prefix, sizeof(prefix), "behind producer slot %u (pid %d, alive)", slot,
	         (int)pid);
	if (!strstr(r.out, prefix))
		fail_msg("no '%s' in:\n%s", prefix, r.out);
	e2e_run_free(&r);
	cli_ok(e, &r, "stats", "--prometheus", NULL);
	assert_true(prom_value(r.out, "bus_queue_stalled_seconds{queue=\"stall\"} ") >= 0.6);
	snprintf(prefix, sizeof(prefix),
	         "bus_queue_stalled_producer{queue=\"stall\",slot=\"%u\",pid=\"%d\","
	         "alive=\"1\"} ",
	         slot, (int)pid);
	assert_true(prom_value(r.out, prefix) == 1);
	assert_true(prom_value(r.out, "bus_queue_oldest_message_age_seconds{queue=\"stall\"} ") >= 0.6);
	e2e_run_free(&r);
	/* the live view marks the row */
	e2e_spawn_cli(e, &watch, E2E_OUT, "stats", "--watch", "1", NULL);
	free(buf);
	buf = NULL;
	len = cap = 0;
	e2e_read_lines(watch.out, &buf, &len, &cap, 6, 10000);
	snprintf(slotbuf, sizeof(slotbuf), "slot %u", slot);
	if (!strstr(buf, "(stalled ") || !strstr(buf, slotbuf))
		fail_msg("no stall in the watch view:\n%s", buf);
	kill(watch.pid, SIGINT);
	assert_int_equal(e2e_wait(e, watch.pid, 10), 0);
	close(watch.out);

	/* Nothing behind the claim was delivered meanwhile. */
	free(buf);
	buf = NULL;
	len = cap = 0;
	assert_int_equal(e2e_read_lines(cons.out, &buf, &len, &cap, 1, 200), 0);
	assert_int_equal(len, 0);

	/* Let it go: it commits, the consumer gets everything, no stall. */
	kill(pid, SIGCONT);
	assert_int_equal(e2e_wait(e, pid, 10), 0);
	e2e_read_lines(cons.out, &buf, &len, &cap, 3, 10000);
	assert_int_equal(e2e_count_lines(buf, len), 3);
	assert_true(strncmp(buf, "SSSS", 4) == 0);
	assert_non_null(strstr(buf, "\nbehind-1\nbehind-2\n"));
	close(cons.out);
	assert_int_equal(e2e_wait(e, cons.pid, 10), 0);
	assert_int_equal(bus_queue_stats(b, "stall", &st), 0);
	assert_int_equal(st.stalled_ns, 0);
	assert_int_equal(st.stalled_slot, BUS_STATS_NO_SLOT);
	assert_int_equal(st.depth_msgs, 0);
	cli_ok(e, &r, "stats", "stall", "--json", NULL);
	assert_non_null(strstr(r.out, "\"stalled_ns\":0,\"stalled_slot\":null"));
	e2e_run_free(&r);
	bus_close(b);
	free(buf);
}

/* --- a corrupt segment among good ones --- */

/* Exit status 1, and the bad queue named on stderr. */
static void check_bad_named(const struct e2e_run *r)
{
	if (r->status != 1)
		fail_msg("status %d, want 1; stderr: %s", r->status, r->err);
	assert_non_null(strstr(r->err, "buscli: stats 'bad': cannot read its segment"));
}

static void corrupt_segment(void **state)
{
	struct e2e *e = *state;
	char obj[4096];
	struct e2e_run r;
	struct seg s;

	e2e_create(e, "good.a", "64K");
	e2e_create(e, "bad", "64K");
	e2e_create(e, "good.b", "64K");
	cli_ok(e, &r, "publish", "good.a", "one", "two", NULL);
	e2e_run_free(&r);
	map_queue(e, "bad", &s);
	s.hdr->magic = 0;
	seg_close(&s);

	/* text: the good queues, the bad one marked; one line on stderr */
	e2e_cli(e, &r, NULL, 0, 30, "stats", NULL);
	check_bad_named(&r);
	assert_true(e2e_one_error_line(&r));
	assert_non_null(strstr(r.out, "queue good.a\n"));
	assert_non_null(strstr(r.out, "queue good.b\n"));
	assert_non_null(strstr(r.out, "queue bad (unreadable)\n"));
	e2e_run_free(&r);

	/* JSON: the good ones in "queues", the bad one in "errors" */
	e2e_cli(e, &r, NULL, 0, 30, "stats", "--json", NULL);
	check_bad_named(&r);
	queue_obj(r.out, "good.a", obj, sizeof(obj));
	assert_int_equal(json_u64(obj, "enqueued"), 2);
	queue_obj(r.out, "good.b", obj, sizeof(obj));
	assert_non_null(strstr(r.out, "\"errors\":[{\"name\":\"bad\",\"error\":\"cannot read its segment"));
	e2e_run_free(&r);

	/* Prometheus: every family for the good ones, readable 0 for the bad */
	e2e_cli(e, &r, NULL, 0, 30, "stats", "--prometheus", NULL);
	check_bad_named(&r);
	assert_true(prom_value(r.out, "bus_queue_readable{queue=\"bad\"} ") == 0);
	assert_true(prom_value(r.out, "bus_queue_readable{queue=\"good.a\"} ") == 1);
	assert_true(prom_value(r.out, "bus_queue_messages_enqueued_total{queue=\"good.a\"} ") == 2);
	assert_null(strstr(r.out, "bus_queue_depth_messages{queue=\"bad\"}"));
	e2e_run_free(&r);

	/* one queue: the bad one alone */
	e2e_cli(e, &r, NULL, 0, 30, "stats", "bad", "--json", NULL);
	check_bad_named(&r);
	assert_non_null(strstr(r.out, "\"queues\":[],\"errors\":[{\"name\":\"bad\""));
	e2e_run_free(&r);

	/* busd down: read from /dev/shm, the same */
	assert_int_equal(e2e_busd_stop(e), 0);
	e2e_cli(e, &r, NULL, 0, 30, "stats", "--json", NULL);
	check_bad_named(&r);
	assert_non_null(strstr(r.err, "reading segments directly"));
	queue_obj(r.out, "good.a", obj, sizeof(obj));
	queue_obj(r.out, "good.b", obj, sizeof(obj));
	assert_non_null(strstr(r.out, "\"errors\":[{\"name\":\"bad\""));
	e2e_run_free(&r);
}

/* --- corrupt records: stepped over, or the queue broken --- */

static void corrupt_records(void **state)
{
	struct e2e *e = *state;
	char obj[4096], *buf = NULL;
	size_t len = 0, cap = 0;
	struct e2e_proc watch;
	struct rec_hdr *rec;
	bus_consumer *c;
	struct e2e_run r;
	struct seg s;
	bus_msg m;
	bus *b;

	e2e_create(e, "rec.corrupt", "64K");
	e2e_create(e, "rec.broken", "64K");
	cli_ok(e, &r, "publish", "rec.corrupt", "one", "two", NULL);
	e2e_run_free(&r);
	cli_ok(e, &r, "publish", "rec.broken", "one", "two", NULL);
	e2e_run_free(&r);

	/* flags no record has: its length still frames it */
	map_queue(e, "rec.corrupt", &s);
	rec = (struct rec_hdr *)s.ring;
	rec->flags = 7;
	seg_close(&s);
	/* a length shorter than a header: nothing tells where the next starts */
	map_queue(e, "rec.broken", &s);
	rec = (struct rec_hdr *)s.ring;
	atomic_store(&rec->len, 12);
	seg_close(&s);

	b = e2e_open(e);
	assert_int_equal(bus_consumer_open(b, "rec.corrupt", &c), 0);
	assert_int_equal(bus_recv(c, &m, 1000), -EBADMSG);
	assert_int_equal(bus_recv(c, &m, 1000), 0);
	assert_int_equal(m.len, 3);
	bus_release(c);
	bus_consumer_close(c);
	assert_int_equal(bus_consumer_open(b, "rec.broken", &c), 0);
	assert_int_equal(bus_recv(c, &m, 1000), -EBADMSG);
	assert_int_equal(bus_recv(c, &m, 1000), -EBADMSG);
	bus_consumer_close(c);
	bus_close(b);

	cli_ok(e, &r, "stats", NULL);
	assert_non_null(strstr(r.out, "queue rec.broken (broken)\n"));
	assert_non_null(strstr(r.out, "queue rec.corrupt\n"));
	assert_non_null(strstr(r.out, "  corrupt       1 records reported and stepped over\n"));
	e2e_run_free(&r);

	cli_ok(e, &r, "stats", "--json", NULL);
	queue_obj(r.out, "rec.corrupt", obj, sizeof(obj));
	assert_int_equal(json_u64(obj, "corrupt"), 1);
	assert_true(json_has(obj, "\"broken\":false"));
	queue_obj(r.out, "rec.broken", obj, sizeof(obj));
	assert_int_equal(json_u64(obj, "corrupt"), 0);
	assert_true(json_has(obj, "\"broken\":true"));
	e2e_run_free(&r);

	cli_ok(e, &r, "stats", "--prometheus", NULL);
	assert_true(prom_value(r.out, "bus_queue_corrupt_records_total{queue=\"rec.corrupt\"} ") == 1);
	assert_true(prom_value(r.out, "bus_queue_broken{queue=\"rec.corrupt\"} ") == 0);
	assert_true(prom_value(r.out, "bus_queue_broken{queue=\"rec.broken\"} ") == 1);
	e2e_run_free(&r);

	e2e_spawn_cli(e, &watch, E2E_OUT, "stats", "--watch", "1", NULL);
	e2e_read_lines(watch.out, &buf, &len, &cap, 7, 10000);
	{
		const char *row = strstr(buf, "\nrec.broken ");

		if (!row || !strstr(row, "(broken)"))
			fail_msg("rec.broken not marked broken:\n%s", buf);
	}
	kill(watch.pid, SIGINT);
	assert_int_equal(e2e_wait(e, watch.pid, 10), 0);
	close(watch.out);
	free(buf);
}

E2E_MAIN("hostile stall",
         E2E_TEST(stopped_producer),
         E2E_TEST(corrupt_segment),
         E2E_TEST(corrupt_records))

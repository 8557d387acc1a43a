/*
 * test_stats.c - buscli stats as a monitoring system and an operator see
 * it: the Prometheus text format and the live --watch view.
 *
 *  - prometheus: `stats --prometheus` through busd, then with busd down
 *    (read from /dev/shm), then through a restarted busd.  A strict
 *    parser checks the text: every line is a HELP, TYPE or sample line of
 *    the exposition grammar, a family's TYPE comes before its samples and
 *    its samples form one group, no sample repeats, counters end in
 *    _total, each histogram's buckets have rising bounds and cumulative
 *    counts ending in +Inf, which equals _count.  The values must match
 *    the traffic sent and received.
 *  - watch_pipe: `stats --watch 1` into a pipe prints one plain table per
 *    refresh (no terminal codes) whose rates and latency show traffic
 *    sent between two refreshes; SIGINT ends it with exit 0.
 *  - watch_tty: on a terminal each refresh clears the screen first.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pty.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "harness.h"

/* --- a strict reader of the Prometheus text format (0.0.4) --- */

#define MAX_FAMILIES 64
#define MAX_SAMPLES  4096

struct family {
	char name[128];
	char type[16];
	bool help, closed;
};

struct sample {
	char name[128];
	char labels[256]; /* as written, without le */
	char le[256];     /* the le label of a _bucket, else "" */
	char queue[256];  /* the queue label, unescaped */
	double value;
	int family;
};

struct prom {
	struct family fam[MAX_FAMILIES];
	int nfam;
	struct sample s[MAX_SAMPLES];
	int n;
};

static bool name_char(char c, bool first)
{
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (!first && c >= '0' && c <= '9');
}

/* A metric name at *p, copied to out; false if there is none. */
static bool read_name(const char **p, char *out, size_t n, bool colon_ok)
{
	size_t len = 0;

	while (name_char((*p)[len], len == 0) && (colon_ok || (*p)[len] != ':'))
		len++;
	if (len == 0 || len >= n)
		return false;
	memcpy(out, *p, len);
	out[len] = '\0';
	*p += len;
	return true;
}

/* A float as Go's ParseFloat takes it in this format (no hex). */
static bool read_value(const char *s, double *ret)
{
	const char *p = s;
	char *end;
	bool digits = false;

	if (!strcmp(s, "+Inf") || !strcmp(s, "-Inf") || !strcmp(s, "NaN")) {
		*ret = strtod(s, NULL);
		return true;
	}
	if (*p == '+' || *p == '-')
		p++;
	while (*p >= '0' && *p <= '9')
		p++, digits = true;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			digits = true;
	if (!digits)
		return false;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p)
		return false;
	*ret = strtod(s, &end);
	return *end == '\0';
}

static int find_family(struct prom *pr, const char *name)
{
	for (int i = 0; i < pr->nfam; i++)
		if (!strcmp(pr->fam[i].name, name))
			return i;
	return -1;
}

static int add_family(struct prom *pr, const char *name)
{
	int i = find_family(pr, name);

	if (i >= 0)
		return i;
	assert_true(pr->nfam < MAX_FAMILIES);
	i = pr->nfam++;
	snprintf(pr->fam[i].name, sizeof(pr->fam[i].name), "%s", name);
	return i;
}

/* The family a sample name belongs to (histogram suffixes folded). */
static int family_of(struct prom *pr, const char *name)
{
	static const char *const sfx[] = {"_bucket", "_sum", "_count"};
	char base[128];

	for (int k = 0; k < 3; k++) {
		size_t n = strlen(name), m = strlen(sfx[k]);
		int f;

		if (n <= m || strcmp(name + n - m, sfx[k]) != 0 || n - m >= sizeof(base))
			continue;
		memcpy(base, name, n - m);
		base[n - m] = '\0';
		f = find_family(pr, base);
		if (f >= 0 && !strcmp(pr->fam[f].type, "histogram"))
			return f;
	}
	return find_family(pr, name);
}

/* A HELP or TYPE line ("# " already matched at p). */
static void parse_comment(struct prom *pr, const char *line, int *open)
{
	const char *p = line + 2;
	char name[128];
	bool help = !strncmp(p, "HELP ", 5);
	int f;

	if (!help && strncmp(p, "TYPE ", 5) != 0)
		fail_msg("a comment that is neither HELP nor TYPE: '%s'", line);
	p += 5;
	if (!read_name(&p, name, sizeof(name), true) || *p != ' ')
		fail_msg("bad metric name in '%s'", line);
	p++;
	f = add_family(pr, name);
	if (pr->fam[f].closed)
		fail_msg("'%s' comes after the group of %s ended", line, name);
	if (*open >= 0 && *open != f)
		pr->fam[*open].closed = true;
	*open = f;
	if (help) {
		if (pr->fam[f].help)
			fail_msg("second HELP for %s", name);
		pr->fam[f].help = true;
		for (; *p; p++)
			if (*p == '\\' && p[1] != '\\' && p[1] != 'n')
				fail_msg("bad escape in '%s'", line);
			else if (*p == '\\')
				p++;
		return;
	}
	if (pr->fam[f].type[0])
		fail_msg("second TYPE for %s", name);
	if (strcmp(p, "counter") != 0 && strcmp(p, "gauge") != 0 &&
	    strcmp(p, "histogram") != 0 && strcmp(p, "summary") != 0 &&
	    strcmp(p, "untyped") != 0)
		fail_msg("unknown type in '%s'", line);
	for (int i = 0; i < pr->n; i++)
		if (pr->s[i].family == f)
			fail_msg("TYPE of %s after its samples", name);
	snprintf(pr->fam[f].type, sizeof(pr->fam[f].type), "%s", p);
}

/* {name="value",...}: checks the grammar and escapes, keeps le and queue. */
static const char *parse_labels(const char *p, const char *line, struct sample *s)
{
	size_t out = 0;

	if (*p != '{')
		return p;
	p++;
	while (*p != '}') {
		char lname[64], val[256];
		size_t n = 0;
		const char *start = p;

		if (!read_name(&p, lname, sizeof(lname), false) || strncmp(p, "=\"", 2) != 0)
			fail_msg("bad label in '%s'", line);
		for (p += 2; *p != '"'; p++) {
			if (!*p || n + 1 >= sizeof(val))
				fail_msg("unterminated label value in '%s'", line);
			if (*p == '\\') {
				p++;
				if (*p != '\\' && *p != '"' && *p != 'n')
					fail_msg("bad escape in label value of '%s'", line);
				val[n++] = (char)(*p == 'n' ? '\n' : *p);
			} else {
				val[n++] = *p;
			}
		}
		val[n] = '\0';
		p++;
		if (!strcmp(lname, "le")) {
			snprintf(s->le, sizeof(s->le), "%s", val);
		} else {
			if (!strcmp(lname, "queue"))
				snprintf(s->queue, sizeof(s->queue), "%s", val);
			if (out + (size_t)(p - start) + 2 >= sizeof(s->labels))
				fail_msg("labels too long in '%s'", line);
			memcpy(s->labels + out, start, (size_t)(p - start));
			out += (size_t)(p - start);
			s->labels[out++] = ',';
			s->labels[out] = '\0';
		}
		if (*p == ',')
			p++;
		else if (*p != '}')
			fail_msg("bad label list in '%s'", line);
	}
	return p + 1;
}

static void parse_sample(struct prom *pr, const char *line, int *open)
{
	struct sample *s;
	const char *p = line;
	char value[64];
	const char *sp;

	assert_true(pr->n < MAX_SAMPLES);
	s = &pr->s[pr->n];
	memset(s, 0, sizeof(*s));
	if (!read_name(&p, s->name, sizeof(s->name), true))
		fail_msg("no metric name in '%s'", line);
	p = parse_labels(p, line, s);
	if (*p != ' ')
		fail_msg("no value in '%s'", line);
	p++;
	sp = strchr(p, ' ');
	if (sp) { /* a timestamp: an integer */
		const char *t = sp + 1 + (sp[1] == '-');

		if (!*t || strspn(t, "0123456789") != strlen(t))
			fail_msg("bad timestamp in '%s'", line);
	}
	snprintf(value, sizeof(value), "%.*s", (int)(sp ? sp - p : (long)strlen(p)), p);
	if (!read_value(value, &s->value))
		fail_msg("bad value '%s' in '%s'", value, line);
	s->family = family_of(pr, s->name);
	if (s->family < 0 || !pr->fam[s->family].type[0])
		fail_msg("sample before the TYPE of its family: '%s'", line);
	if (pr->fam[s->family].closed)
		fail_msg("'%s' comes after the group of its family ended", line);
	if (*open >= 0 && *open != s->family)
		pr->fam[*open].closed = true;
	*open = s->family;
	if (!strcmp(pr->fam[s->family].type, "counter") &&
	    (strlen(s->name) < 6 || strcmp(s->name + strlen(s->name) - 6, "_total") != 0 ||
	     s->value < 0))
		fail_msg("counter sample '%s' must end in _total and be >= 0", line);
	for (int i = 0; i < pr->n; i++)
		if (!strcmp(pr->s[i].name, s->name) && !strcmp(pr->s[i].labels, s->labels) &&
		    !strcmp(pr->s[i].le, s->le))
			fail_msg("sample repeated: '%s'", line);
	pr->n++;
}

/* Histograms: bounds rise, counts accumulate, +Inf last and = _count. */
static void check_histograms(const struct prom *pr)
{
	for (int i = 0; i < pr->n; i++) {
		const struct sample *c = &pr->s[i];
		const char *fam = pr->fam[c->family].name;
		char want[160];
		double last_le = -INFINITY, last = 0, inf = -1;
		bool sum = false;

		if (strcmp(pr->fam[c->family].type, "histogram") != 0)
			continue;
		snprintf(want, sizeof(want), "%s_count", fam);
		if (strcmp(c->name, want) != 0)
			continue;
		for (int j = 0; j < pr->n; j++) {
			const struct sample *b = &pr->s[j];
			double le;

			if (b->family != c->family || strcmp(b->labels, c->labels) != 0)
				continue;
			if (strcmp(b->name + strlen(fam), "_bucket") != 0) {
				sum |= !strcmp(b->name + strlen(fam), "_sum");
				continue;
			}
			if (!read_value(b->le, &le) || le <= last_le || b->value < last ||
			    inf >= 0)
				fail_msg("%s{%s} bucket le=\"%s\" (%g) is out of order", fam,
				         c->labels, b->le, b->value);
			last_le = le;
			last = b->value;
			if (isinf(le))
				inf = b->value;
		}
		if (inf < 0 || inf != c->value || !sum)
			fail_msg("%s{%s}: +Inf bucket %g, _count %g, _sum %s", fam, c->labels,
			         inf, c->value, sum ? "present" : "missing");
	}
	for (int i = 0; i < pr->n; i++)
		if (!strcmp(pr->fam[pr->s[i].family].type, "histogram") &&
		    !strcmp(pr->s[i].name + strlen(pr->fam[pr->s[i].family].name), "_bucket") &&
		    !pr->s[i].le[0])
			fail_msg("a _bucket without le: %s{%s}", pr->s[i].name, pr->s[i].labels);
}

static void prom_parse(struct prom *pr, const char *text)
{
	int open = -1;

	memset(pr, 0, sizeof(*pr));
	while (*text) {
		const char *nl = strchr(text, '\n');
		char line[1024];

		if (!nl)
			fail_msg("the text does not end in a newline");
		if ((size_t)(nl - text) >= sizeof(line))
			fail_msg("line too long");
		memcpy(line, text, (size_t)(nl - text));
		line[nl - text] = '\0';
		text = nl + 1;
		if (line[0] == '#' && line[1] == ' ')
			parse_comment(pr, line, &open);
		else
			parse_sample(pr, line, &open);
	}
	check_histograms(pr);
}

/* The value of name{queue="queue"[,le="le"]}; fails if there is none. */
static double prom_get(const struct prom *pr, const char *name, const char *queue,
                       const char *le)
{
	for (int i = 0; i < pr->n; i++) {
		const struct sample *s = &pr->s[i];

		if (!strcmp(s->name, name) && !strcmp(s->queue, queue ? queue : "") &&
		    !strcmp(s->le, le ? le : ""))
			return s->value;
	}
	fail_msg("no sample %s{queue=\"%s\"%s%s}", name, queue ? queue : "",
	         le ? ",le=" : "", le ? le : "");
	return -1;
}

/* --- the tests --- */

static void scrape(struct e2e *e, struct prom *pr, bool busd_up)
{
	struct e2e_run r;

	e2e_cli(e, &r, NULL, 0, 30, "stats", "--prometheus", NULL);
	if (r.status != 0)
		fail_msg("stats --prometheus: status %d: %s", r.status, r.err);
	if (busd_up)
		assert_int_equal(r.err_len, 0);
	else
		assert_non_null(strstr(r.err, "reading segments directly"));
	prom_parse(pr, r.out);
	assert_true(prom_get(pr, "bus_busd_up", NULL, NULL) == (busd_up ? 1 : 0));
	e2e_run_free(&r);
}

/* The counters of the traffic prometheus() sends, the same either way. */
static void check_traffic(const struct prom *pr)
{
	assert_true(prom_get(pr, "bus_queue_messages_enqueued_total", "prom.a", NULL) == 50);
	assert_true(prom_get(pr, "bus_queue_messages_dequeued_total", "prom.a", NULL) == 30);
	assert_true(prom_get(pr, "bus_queue_enqueued_bytes_total", "prom.a", NULL) == 50 * 16);
	assert_true(prom_get(pr, "bus_queue_depth_messages", "prom.a", NULL) == 20);
	assert_true(prom_get(pr, "bus_queue_capacity_bytes", "prom.a", NULL) == 65536);
	assert_true(prom_get(pr, "bus_queue_latency_seconds_count", "prom.a", NULL) == 30);
	assert_true(prom_get(pr, "bus_queue_latency_seconds_sum", "prom.a", NULL) > 0);
	assert_true(prom_get(pr, "bus_queue_latency_seconds_bucket", "prom.a", "+Inf") == 30);
	assert_true(prom_get(pr, "bus_queue_messages_enqueued_total", "prom-b", NULL) == 0);
	assert_true(prom_get(pr, "bus_queue_latency_seconds_count", "prom-b", NULL) == 0);
	assert_true(prom_get(pr, "bus_queue_latency_seconds_bucket", "prom-b",
	                     "0.000000064") == 0);
}

static void prometheus(void **state)
{
	struct e2e *e = *state;
	bus_producer *p;
	bus_consumer *c;
	struct prom *pr = malloc(sizeof(*pr));
	struct e2e_run r;
	bus *b;

	assert_non_null(pr);
	e2e_create(e, "prom.a", "64K");
	e2e_create(e, "prom-b", NULL);
	b = e2e_open(e);
	assert_int_equal(bus_producer_open(b, "prom.a", &p), 0);
	assert_int_equal(bus_consumer_open(b, "prom.a", &c), 0);
	for (int i = 0; i < 50; i++)
		assert_int_equal(bus_send(p, 1, "0123456789abcdef", 16, 0), 0);
	/* a batch receive counts every message in the latency histogram */
	for (int got = 0; got < 30;) {
		bus_msg m[30];
		int n = bus_recv_batch(c, m, (size_t)(30 - got), 1000);

		assert_true(n > 0);
		bus_release(c);
		got += n;
	}

	scrape(e, pr, true);
	check_traffic(pr);
	assert_true(prom_get(pr, "bus_queue_producers", "prom.a", NULL) == 1);
	assert_true(prom_get(pr, "bus_queue_consumer_attached", "prom.a", NULL) == 1);
	assert_true(prom_get(pr, "bus_queue_producers", "prom-b", NULL) == 0);
	assert_true(prom_get(pr, "bus_queue_consumer_attached", "prom-b", NULL) == 0);
	assert_true(prom_get(pr, "bus_queue_oldest_message_age_seconds", "prom.a", NULL) > 0);

	/* one queue only */
	e2e_cli(e, &r, NULL, 0, 30, "stats", "prom-b", "--prometheus", NULL);
	assert_int_equal(r.status, 0);
	prom_parse(pr, r.out);
	assert_null(strstr(r.out, "prom.a"));
	assert_true(prom_get(pr, "bus_queue_max_producers", "prom-b", NULL) == 64);
	e2e_run_free(&r);

	/* busd down: the same figures, straight from /dev/shm */
	bus_producer_close(p);
	bus_consumer_close(c);
	bus_close(b);
	assert_int_equal(e2e_busd_stop(e), 0);
	scrape(e, pr, false);
	check_traffic(pr);
	assert_true(prom_get(pr, "bus_queue_producers", "prom.a", NULL) == 0);
	assert_true(prom_get(pr, "bus_queue_consumer_attached", "prom.a", NULL) == 0);

	/* a new busd adopts the queues, and says so */
	e2e_busd_start(e);
	scrape(e, pr, true);
	check_traffic(pr);
	free(pr);
}

/* Splits the line of queue in block into whitespace-separated fields. */
static int table_row(const char *block, const char *queue, char f[9][32])
{
	char start[80];
	const char *row;
	int n = 0;

	snprintf(start, sizeof(start), "\n%s ", queue);
	row = strstr(block, start);
	if (!row)
		return 0;
	row++;
	while (n < 9 && *row && *row != '\n') {
		size_t len = 0;

		while (*row == ' ')
			row++;
		while (row[len] && row[len] != ' ' && row[len] != '\n' && len < 31)
			len++;
		memcpy(f[n], row, len);
		f[n++][len] = '\0';
		row += len;
		while (*row == ' ')
			row++;
	}
	return n;
}

/* Test functions open alike on purpose: each declares its handles in view. */
static void watch_pipe(void **state)
{
	struct e2e *e = *state;
	char *buf = NULL, f[9][32];
	size_t len = 0, cap = 0;
	bool busy = false;
	bus_producer *p;
	bus_consumer *c;
	struct e2e_proc w;
	bus *b;

	e2e_create(e, "wq", NULL);
	b = e2e_open(e);
	assert_int_equal(bus_producer_open(b, "wq", &p), 0);
	assert_int_equal(bus_consumer_open(b, "wq", &c), 0);
	e2e_spawn_cli(e, &w, E2E_OUT, "stats", "--watch", "1", NULL);

	/* title, blank, what the figures cover, blank, header, wq */
	e2e_read_lines(w.out, &buf, &len, &cap, 6, 20000);
	assert_non_null(buf);
	assert_non_null(strstr(buf, "rates from the next refresh on"));
	assert_int_equal(table_row(buf, "QUEUE", f), 9);
	assert_string_equal(f[1], "DEPTH");
	assert_int_equal(table_row(buf, "wq", f), 9);
	assert_string_equal(f[3], "-"); /* no rate yet */
	assert_string_equal(f[7], "1"); /* producers */
	for (int i = 0; i < 100; i++) {
		bus_msg m;

		assert_int_equal(bus_send(p, 0, "x", 1, 0), 0);
		assert_int_equal(bus_recv(c, &m, 1000), 0);
		bus_release(c);
	}
	/* the next refreshes (blank line, 6 lines each) show the traffic */
	for (int k = 2; k <= 5 && !busy; k++) {
		const char *block;

		e2e_read_lines(w.out, &buf, &len, &cap, 7 * (size_t)k - 1, 20000);
		block = strstr(buf + 1, "buscli stats");
		for (int j = 2; j < k && block; j++)
			block = strstr(block + 1, "buscli stats");
		assert_non_null(block);
		assert_non_null(strstr(block, "rates and latency over the last"));
		assert_int_equal(table_row(block, "wq", f), 9);
		busy = strtod(f[3], NULL) > 0 && strtod(f[4], NULL) > 0 && strcmp(f[5], "-") != 0;
	}
	if (!busy)
		fail_msg("no refresh showed the traffic: %s", buf);
	assert_string_equal(f[1], "0");    /* depth */
	assert_string_equal(f[2], "0.0%"); /* fill */
	assert_null(strchr(buf, '\033'));  /* not a terminal: no codes */
	kill(w.pid, SIGINT);
	assert_int_equal(e2e_wait(e, w.pid, 30), 0);
	close(w.out);
	free(buf);
	bus_producer_close(p);
	bus_consumer_close(c);
	bus_close(b);
}

struct tty_child {
	struct e2e *e;
	int slave;
};

static int run_on_tty(void *arg)
{
	struct tty_child *t = arg;
	char *argv[] = {(char *)t->e->buscli_path, "--socket", t->e->socket, "stats",
	                "--watch", "1", NULL};
	struct sigaction dfl = {.sa_handler = SIG_DFL};

	sigemptyset(&dfl.sa_mask);
	sigaction(SIGPIPE, &dfl, NULL);
	if (dup2(t->slave, STDOUT_FILENO) < 0)
		return 126;
	execv(argv[0], argv);
	return 127;
}

static void watch_tty(void **state)
{
	struct e2e *e = *state;
	struct tty_child t = {.e = e};
	char *buf = NULL;
	size_t len = 0, cap = 0;
	const char *clear = "\033[H\033[2J";
	int master, n = 0;
	pid_t pid;

	if (openpty(&master, &t.slave, NULL, NULL, NULL) < 0)
		fail_msg("openpty: %s", strerror(errno));
	e2e_create(e, "tq", NULL);
	pid = e2e_fork(e, run_on_tty, &t);
	close(t.slave);
	/* two refreshes, each starting with the clear: 2 x 6 lines */
	e2e_read_lines(master, &buf, &len, &cap, 12, 20000);
	assert_non_null(buf);
	for (const char *s = buf; (s = strstr(s, clear)) != NULL; s++)
		n++;
	if (n < 2)
		fail_msg("want 2 screen clears, got %d in: %s", n, buf);
	assert_true(strncmp(buf, clear, strlen(clear)) == 0);
	assert_non_null(strstr(buf, "tq "));
	kill(pid, SIGINT);
	assert_int_equal(e2e_wait(e, pid, 30), 0);
	close(master);
	free(buf);
}

E2E_MAIN("e2e stats", E2E_TEST(prometheus), E2E_TEST(watch_pipe), E2E_TEST(watch_tty))

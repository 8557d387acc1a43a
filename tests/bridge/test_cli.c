/*
 * test_cli.c - busbridge as an operator meets it.
 *
 *  - help_and_version: exit 0, on stdout.
 *  - bad_usage: bad flags, numbers and routes (bad queue name, wildcard
 *    or malformed subject, one queue exported twice, one durable used
 *    twice, no route at all) exit 2 with one line on stderr naming what
 *    is wrong, before creating anything.
 *  - check_config: settings and routes printed (default durable spelled
 *    as the brief says), exit 0, nothing created or connected to; a
 *    config file's routes add to the command line's; a bad file line is
 *    reported as FILE:LINE with exit 1; the printed settings, read back
 *    as a config file, give the same settings.
 *  - one_per_state_dir: the state directory is made 0700; a second
 *    busbridge on it is refused (exit 1, saying so); SIGTERM stops the
 *    first, waiting for NATS, with exit 0.
 *  - default_state_dir: without --state-dir, $STATE_DIRECTORY, else the
 *    root or user default; daemon and --stats agree; SIGINT stops it
 *    with exit 0.  state_dir_unusable: exit 1, naming it.
 *  - dup_window_short: a stream whose duplicate window is shorter than
 *    --dup-window gets a warning (kill safety depends on it), and the
 *    second bridge's subject is added to it all the same.
 *  - stats_outputs: after traffic, --stats as a table, --json and
 *    --prometheus (families declared, counters _total, the route's
 *    labels and values); after the stop the last figures, marked stopped.
 *  - corrupt_stats: a stats file is untrusted input: truncated, bad
 *    magic or version, route counts that do not fit, a directory,
 *    strings without their NUL: refused with exit 1 (or printed within
 *    the fields' bounds), never a crash.
 *  - stats_fifo: a FIFO for the stats file is refused and a FIFO for the
 *    lock file ignored, without hanging on either.
 *  - bad_seq_file: an import-*.seq state file with a bad magic or size
 *    is refused (exit 1, naming it) and left as it was, not reset.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "flow.h"
#include "natsenv.h"
#include "util/io.h"

#define RUN_S   E2E_SCALE(15, 60)
#define WAIT_MS E2E_SCALE(20000, 60000)

/* A URL where nothing listens: port 1 on loopback refuses at once. */
#define DEAD_NATS "nats://127.0.0.1:1"

/* Runs busbridge with args (NULL-terminated, at most 14). */
static void run_args(struct nenv *n, struct e2e_run *r, char *const args[])
{
	char *v[16] = {0};

	for (int i = 0; args[i]; i++) {
		assert_true(i < 14);
		v[i] = args[i];
	}
	/* nenv_run is variadic: pass the fixed-size vector */
	nenv_run(n, r, RUN_S, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9],
	         v[10], v[11], v[12], v[13], NULL);
}

/* stderr is one line "busbridge: ..." containing want; says what it got. */
static bool one_error_line(const struct e2e_run *r, const char *want)
{
	bool ok = r->err_len > 11 && strncmp(r->err, "busbridge: ", 11) == 0 &&
	          e2e_count_lines(r->err, r->err_len) == 1 &&
	          r->err[r->err_len - 1] == '\n' && (!want || strstr(r->err, want));

	if (!ok)
		fprintf(stderr, "expected one line 'busbridge: ...%s...' on stderr, got:\n%s\n",
		        want ? want : "", r->err);
	return ok;
}

static void help_and_version(void **state)
{
	struct nenv *n = *state;
	struct e2e_run r;

	nenv_run(n, &r, RUN_S, "--help", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.err_len, 0);
	for (const char *const *w = (const char *const[]){"--export", "--import", "--nats",
	                                                  "--state-dir", "--stats", NULL};
	     *w; w++)
		if (!strstr(r.out, *w))
			fail_msg("--help does not mention %s:\n%s", *w, r.out);
	e2e_run_free(&r);

	nenv_run(n, &r, RUN_S, "--version", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.err_len, 0);
	assert_non_null(strstr(r.out, "busbridge"));
	assert_non_null(strpbrk(r.out, "0123456789"));
	e2e_run_free(&r);
}

struct bad_case {
	const char *want; /* expected in the stderr line */
	char *args[8];
};

static void bad_usage(void **state)
{
	struct nenv *n = *state;
	static char long_subject[300];
	const struct bad_case cases[] = {
		{"--bogus", {"--bogus", "--export", "q:s"}},
		{"bad/name", {"--export", "bad/name:s"}},
		{"a.*", {"--export", "q:a.*"}},
		{"a.>", {"--import", "a.>:q"}},
		{"a..b", {"--export", "q:a..b"}},
		{"noroute", {"--export", "noroute"}},
		{"twice", {"--export", "twice:s1", "--export", "twice:s2"}},
		{"DUR", {"--import", "s1:q1:DUR", "--import", "s2:q2:DUR"}},
		{"bad!", {"--import", "s1:q1:bad!"}},
		{"route", {NULL}}, /* the common options alone: no route */
		{"--window", {"--window", "0", "--export", "q:s"}},
		{"--window", {"--window", "65537", "--export", "q:s"}},
		{"--batch", {"--batch", "4097", "--export", "q:s"}},
		{"--batch", {"--batch", "12x", "--export", "q:s"}},
		{"--stream", {"--stream", "two words", "--export", "q:s"}},
		{"--log-level", {"--log-level", "chatty", "--export", "q:s"}},
		{"--dup-window", {"--dup-window", "-5", "--export", "q:s"}},
		{"--socket", {"--export", "q:s", "--socket"}},
		{NULL, {"--stats", "--json", "--prometheus"}},
		{NULL, {"--export", "q:s", "stray"}},
		{NULL, {"--export", long_subject}},
	};
	char never[400];

	/* q: and a subject of 297 characters, 255 at most */
	snprintf(long_subject, sizeof(long_subject), "q:%0297d", 0);
	snprintf(never, sizeof(never), "%s/never", n->dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *args[16] = {"--state-dir", never, "--nats", DEAD_NATS};
		struct e2e_run r;
		int k = 4;

		for (int j = 0; cases[i].args[j]; j++)
			args[k++] = cases[i].args[j];
		run_args(n, &r, args);
		if (r.status != 2 || !one_error_line(&r, cases[i].want))
			fail_msg("case %zu (%s %s ...): status %d, expected 2", i,
			         cases[i].args[0] ? cases[i].args[0] : "",
			         cases[i].args[1] ? cases[i].args[1] : "", r.status);
		assert_int_equal(r.out_len, 0);
		e2e_run_free(&r);
		/* refused before doing anything */
		assert_int_equal(access(never, F_OK), -1);
	}
}

/* The text without its comment lines. */
static char *uncommented(const char *text)
{
	char *out = calloc(1, strlen(text) + 1), *o = out;

	assert_non_null(out);
	for (const char *p = text; *p;) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p + 1) : strlen(p);

		if (*p != '#') {
			memcpy(o, p, len);
			o += len;
		}
		p += len;
	}
	return out;
}

/*
 * --check-config prints the settings as a config file: read back, it
 * gives the same settings.
 */
static void round_trip(struct nenv *n, const char *printed)
{
	char conf[400];
	struct e2e_run r;
	char *a, *b;

	snprintf(conf, sizeof(conf), "%s/printed.conf", n->dir);
	e2e_write_file(conf, printed);
	nenv_run(n, &r, RUN_S, "--check-config", "--config", conf, NULL);
	if (r.status != 0)
		fail_msg("--check-config on its own output: status %d: %s", r.status, r.err);
	a = uncommented(printed);
	b = uncommented(r.out);
	if (strcmp(a, b) != 0)
		fail_msg("--check-config's output read back differs:\n%s\n---\n%s", a, b);
	free(a);
	free(b);
	e2e_run_free(&r);
}

/* `--check-config --config conf` exits 1 with want in its stderr. */
static void config_refused(struct nenv *n, const char *conf, const char *want)
{
	struct e2e_run r;

	nenv_run(n, &r, RUN_S, "--check-config", "--config", conf, NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, want));
	e2e_run_free(&r);
}

static void check_config(void **state)
{
	struct nenv *n = *state;
	char never[400], conf[400], text[600];
	struct e2e_run r;

	snprintf(never, sizeof(never), "%s/never", n->dir);
	nenv_run(n, &r, RUN_S, "--check-config", "--state-dir", never, "--nats", DEAD_NATS,
	         "--export", "orders:bus.orders", "--import", "bus.in:my_q.v1", "--import",
	         "bus.other:other:DUR-1", NULL);
	if (r.status != 0)
		fail_msg("--check-config: status %d: %s", r.status, r.err);
	for (const char *const *w = (const char *const[]){"orders", "bus.orders", "bus.in",
	                                                  "my_q.v1", "my__q_dv1", "DUR-1",
	                                                  DEAD_NATS, never, NULL};
	     *w; w++)
		if (!strstr(r.out, *w))
			fail_msg("--check-config does not print %s:\n%s", *w, r.out);
	e2e_run_free(&r);
	/* creates nothing: not even its state directory */
	assert_int_equal(access(never, F_OK), -1);

	/* a config file: its routes and the command line's add up */
	snprintf(conf, sizeof(conf), "%s/bridge.conf", n->dir);
	snprintf(text, sizeof(text),
	         "# a comment\n\nnats %s\nstate-dir %s\nexport fromfile bus.file\n"
	         "import bus.file.in tofile\nwindow 16\n",
	         DEAD_NATS, never);
	e2e_write_file(conf, text);
	nenv_run(n, &r, RUN_S, "--check-config", "--config", conf, "--export",
	         "fromcli:bus.cli", "--window", "20", NULL);
	if (r.status != 0)
		fail_msg("--check-config --config: status %d: %s", r.status, r.err);
	for (const char *const *w = (const char *const[]){"fromfile", "bus.file", "tofile",
	                                                  "fromcli", "bus.cli", NULL};
	     *w; w++)
		if (!strstr(r.out, *w))
			fail_msg("--check-config does not print %s:\n%s", *w, r.out);
	/* the command line's scalar wins over the file's */
	assert_non_null(strstr(r.out, "\nwindow 20\n"));
	assert_null(strstr(r.out, "window 16"));
	assert_int_equal(access(never, F_OK), -1);
	round_trip(n, r.out);
	e2e_run_free(&r);

	/* a bad line: FILE:LINE and exit 1 */
	e2e_write_file(conf, "# comment\nexport fromfile bus.file\nexport lonely\n");
	snprintf(text, sizeof(text), "%s:3:", conf);
	config_refused(n, conf, text);
	e2e_write_file(conf, "export a bus.a\nfrobnicate 3\n");
	snprintf(text, sizeof(text), "%s:2:", conf);
	config_refused(n, conf, text);
	snprintf(text, sizeof(text), "%s/missing.conf", n->dir);
	config_refused(n, text, "missing.conf");
}

static void one_per_state_dir(void **state)
{
	struct nenv *n = *state;
	struct nenv_bridge *one = nenv_bridge_new(n, n->a, "one", "--export", "q:bus.q", NULL);
	struct nenv_bridge *two = nenv_bridge_new(n, n->a, "two", "--export", "q2:bus.q2", NULL);
	struct e2e_run r;
	int st;

	struct stat sb;

	/* NATS is not running: the first waits for it, holding the directory */
	nenv_bridge_start(n, one);
	nenv_bridge_wait_stats(n, one, WAIT_MS);
	/* made private: it says what runs and where it is in the stream */
	assert_int_equal(stat(one->state_dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	nenv_bridge_set_state_dir(two, one->state_dir);
	nenv_bridge_start(n, two);
	st = e2e_wait(n->a, two->pid, RUN_S);
	two->pid = 0;
	if (st != 1) {
		nenv_dump_logs(n);
		fail_msg("second busbridge on one state directory: status %d, expected 1", st);
	}
	assert_true(nenv_bridge_log_count(two, one->state_dir, NULL) >= 1);
	nenv_bridge_alive(n, one);

	/* --stats sees it running */
	nenv_run(n, &r, RUN_S, "--stats", "--state-dir", one->state_dir, NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "bus.q"));
	assert_null(strstr(r.out, "stopped"));
	e2e_run_free(&r);

	assert_int_equal(nenv_bridge_stop(n, one), 0);
	nenv_run(n, &r, RUN_S, "--stats", "--state-dir", one->state_dir, NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "bus.q"));
	assert_non_null(strstr(r.out, "stopped"));
	e2e_run_free(&r);
}

/* The state-dir line --check-config prints with the environment as it is. */
static void printed_state_dir(struct nenv *n, char *buf, size_t len)
{
	struct e2e_run r;
	const char *p, *end;

	nenv_run(n, &r, RUN_S, "--check-config", "--export", "q:s", NULL);
	assert_int_equal(r.status, 0);
	p = strstr(r.out, "\nstate-dir ");
	assert_non_null(p);
	p += strlen("\nstate-dir ");
	end = strchr(p, '\n');
	assert_non_null(end);
	assert_true((size_t)(end - p) < len);
	memcpy(buf, p, (size_t)(end - p));
	buf[end - p] = '\0';
	e2e_run_free(&r);
}

/*
 * Without --state-dir: systemd's $STATE_DIRECTORY (its first entry), else
 * /var/lib/busbridge for root, else $XDG_STATE_HOME/busbridge, else
 * $HOME/.local/state/busbridge; the daemon and --stats agree on it.
 */
static void default_state_dir(void **state)
{
	struct nenv *n = *state;
	char sd[300], got[400], want[400];
	struct nenv_bridge *br;
	struct e2e_run r;

	snprintf(sd, sizeof(sd), "%s/systemd-state", n->dir);
	snprintf(want, sizeof(want), "%s:/elsewhere", sd);
	assert_int_equal(setenv("STATE_DIRECTORY", want, 1), 0);
	printed_state_dir(n, got, sizeof(got));
	assert_string_equal(got, sd);

	/* the daemon writes there, and --stats reads there, neither told */
	br = nenv_bridge_new(n, n->a, "env", "--export", "q:bus.q", NULL);
	nenv_bridge_default_state_dir(br, sd);
	nenv_bridge_start(n, br);
	nenv_bridge_wait_stats(n, br, WAIT_MS);
	nenv_run(n, &r, RUN_S, "--stats", NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "bus.q"));
	e2e_run_free(&r);
	/* SIGINT stops it as SIGTERM does */
	kill(br->pid, SIGINT);
	assert_int_equal(e2e_wait(n->a, br->pid, NENV_STOP_S), 0);
	br->pid = 0;
	assert_int_equal(unsetenv("STATE_DIRECTORY"), 0);

	if (geteuid() == 0) {
		printed_state_dir(n, got, sizeof(got));
		assert_string_equal(got, "/var/lib/busbridge");
		return;
	}
	assert_int_equal(setenv("XDG_STATE_HOME", "/xdg/state", 1), 0);
	printed_state_dir(n, got, sizeof(got));
	assert_string_equal(got, "/xdg/state/busbridge");
	assert_int_equal(unsetenv("XDG_STATE_HOME"), 0);
	if (!getenv("HOME"))
		return;
	snprintf(want, sizeof(want), "%s/.local/state/busbridge", getenv("HOME"));
	printed_state_dir(n, got, sizeof(got));
	assert_string_equal(got, want);
}

/* A state directory that cannot be made: exit 1, naming it. */
static void state_dir_unusable(void **state)
{
	struct nenv *n = *state;
	char file[400], below[460];
	struct e2e_run r;

	snprintf(file, sizeof(file), "%s/a-file", n->dir);
	e2e_write_file(file, "not a directory\n");
	snprintf(below, sizeof(below), "%s/state", file);
	nenv_run(n, &r, RUN_S, "--state-dir", below, "--nats", DEAD_NATS, "--export", "q:s",
	         NULL);
	if (r.status != 1 || !strstr(r.err, below))
		fail_msg("--state-dir %s: status %d, expected 1 naming it: %s", below, r.status,
		         r.err);
	e2e_run_free(&r);
}

/*
 * A stream made by one busbridge with a 5 s duplicate window: a second
 * one, wanting the default 120 s, warns that its kill safety depends on a
 * longer window, and still adds its subject to the stream.
 */
static void dup_window_short(void **state)
{
	struct nenv *n = *state;
	struct nenv_bridge *one, *two;

	nenv_nats_start(n);
	nenv_queue(n->a, "q1", 0);
	nenv_queue(n->a, "q2", 0);
	one = nenv_bridge_new(n, n->a, "short", "--dup-window", "5", "--export", "q1:bus.one",
	                      NULL);
	nenv_bridge_start(n, one);
	nenv_bridge_wait_up(n, one, WAIT_MS);
	assert_int_equal(nenv_bridge_log_count(one, "event=dup_window_short", NULL), 0);

	two = nenv_bridge_new(n, n->a, "default", "--export", "q2:bus.two", NULL);
	nenv_bridge_start(n, two);
	nenv_bridge_wait_up(n, two, WAIT_MS);
	if (nenv_bridge_log_count(two, "event=dup_window_short", "duplicates_s=5") < 1) {
		nenv_dump_logs(n);
		fail_msg("no dup_window_short warning for a 5 s window");
	}
	assert_int_equal(nenv_bridge_stop(n, two), 0);
	assert_int_equal(nenv_bridge_stop(n, one), 0);
}

/* --- stats outputs --- */

/* The value of the sample of name whose labels contain each of want[]. */
static bool prom_value(const char *text, const char *name, const char *const want[],
                       uint64_t *ret)
{
	size_t nl = strlen(name);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		const char *end = strchr(p, '\n'), *sp;
		char line[1024];
		size_t len = end ? (size_t)(end - p) : strlen(p);
		bool all = true;

		if (len >= sizeof(line) || strncmp(p, name, nl) != 0 || p[nl] != '{')
			continue;
		memcpy(line, p, len);
		line[len] = '\0';
		for (int i = 0; want[i]; i++)
			all = all && strstr(line, want[i]);
		sp = strrchr(line, ' ');
		if (all && sp) {
			*ret = strtoull(sp + 1, NULL, 10);
			return true;
		}
	}
	return false;
}

/* Every line is a HELP, TYPE or busbridge_ sample line. */
static void prom_lines(const char *text)
{
	for (const char *p = text; *p;) {
		const char *end = strchr(p, '\n');

		assert_non_null(end);
		if (strncmp(p, "# HELP busbridge_", 17) != 0 &&
		    strncmp(p, "# TYPE busbridge_", 17) != 0 && strncmp(p, "busbridge_", 10) != 0)
			fail_msg("not a Prometheus line: %.*s", (int)(end - p), p);
		p = end + 1;
	}
}

static void check_prometheus(const char *text, uint64_t total, uint64_t bytes)
{
	const char *const ex[] = {"route=\"export\"", "queue=\"orders\"",
	                          "subject=\"bus.orders\"", NULL};
	const char *const im[] = {"route=\"import\"", "queue=\"orders\"",
	                          "subject=\"bus.orders\"", NULL};
	const char *const types[] = {
		"# TYPE busbridge_messages_total counter", "# TYPE busbridge_bytes_total counter",
		"# TYPE busbridge_acks_total counter", "# TYPE busbridge_duplicates_total counter",
		"# TYPE busbridge_redeliveries_total counter",
		"# TYPE busbridge_reconnects_total counter", "# TYPE busbridge_errors_total counter",
		"# TYPE busbridge_in_flight gauge", "# TYPE busbridge_lag gauge",
		"# TYPE busbridge_up gauge"};
	uint64_t v;

	prom_lines(text);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strstr(text, types[i]))
			fail_msg("no '%s' in:\n%s", types[i], text);
	assert_true(prom_value(text, "busbridge_messages_total", ex, &v));
	assert_int_equal(v, total);
	assert_true(prom_value(text, "busbridge_bytes_total", ex, &v));
	assert_int_equal(v, bytes);
	assert_true(prom_value(text, "busbridge_messages_total", im, &v));
	assert_int_equal(v, total);
	assert_true(prom_value(text, "busbridge_in_flight", im, &v));
	assert_int_equal(v, 0);
	assert_true(prom_value(text, "busbridge_up", ex, &v));
	assert_int_equal(v, 1);
}

/* Sends total messages A -> B through one busbridge with both routes. */
static void stats_outputs(void **state)
{
	struct nenv *n = *state;
	struct flow f = {.nprod = 2, .count = 50, .max_len = 100, .queue_a = "orders", .queue_b = "orders"};
	struct nenv_bridge *br;
	struct flow_result r;
	struct e2e_run run;
	pid_t cons;
	char *json;

	/* one bridge on A carrying A's queue out and back into a queue of B's */
	nenv_nats_start(n);
	nenv_queue(n->a, "orders", 0);
	nenv_queue(n->b, "orders", 0);
	br = nenv_bridge_new(n, n->a, "both", "--export", "orders:bus.orders", NULL);
	nenv_bridge_start(n, br);
	{
		struct nenv_bridge *im = nenv_bridge_new(n, n->b, "import", "--import",
		                                         "bus.orders:orders", NULL);

		nenv_bridge_start(n, im);
		nenv_flow_init(n, &f);
		cons = flow_start_consumer(n->b, &f);
		for (int k = 0; k < f.nprod; k++)
			assert_int_equal(e2e_wait(n->a, flow_start_producer(n->a, &f, k), 60), 0);
		assert_true(flow_wait_all(&f, WAIT_MS, &r));
		assert_true(nenv_wait_stat(n, br, 0, "in_flight", 0, WAIT_MS));
		assert_true(nenv_wait_stat(n, im, 0, "in_flight", 0, WAIT_MS));

		/* the export route's JSON, and the table */
		json = nenv_stats_json(n, br);
		assert_non_null(strstr(json, "\"routes\""));
		assert_int_equal(nenv_stat(n, br, 0, "messages"), 100);
		assert_int_equal(nenv_stat(n, br, 0, "bytes"), flow_bytes(&f));
		free(json);
		nenv_run(n, &run, RUN_S, "--stats", "--state-dir", br->state_dir, NULL);
		assert_int_equal(run.status, 0);
		assert_non_null(strstr(run.out, "orders"));
		assert_non_null(strstr(run.out, "bus.orders"));
		assert_non_null(strstr(run.out, "100"));
		e2e_run_free(&run);

		/* Prometheus: each bridge its own text; check both in one */
		{
			struct e2e_run r2;
			char *both;

			nenv_run(n, &run, RUN_S, "--stats", "--state-dir", br->state_dir,
			         "--prometheus", NULL);
			nenv_run(n, &r2, RUN_S, "--stats", "--state-dir", im->state_dir,
			         "--prometheus", NULL);
			assert_int_equal(run.status, 0);
			assert_int_equal(r2.status, 0);
			both = malloc(run.out_len + r2.out_len + 1);
			assert_non_null(both);
			memcpy(both, run.out, run.out_len);
			memcpy(both + run.out_len, r2.out, r2.out_len + 1);
			check_prometheus(both, 100, flow_bytes(&f));
			free(both);
			e2e_run_free(&run);
			e2e_run_free(&r2);
		}
		assert_int_equal(nenv_bridge_stop(n, im), 0);
	}
	assert_int_equal(nenv_bridge_stop(n, br), 0);
	/* stopped: the last figures, marked so */
	nenv_run(n, &run, RUN_S, "--stats", "--state-dir", br->state_dir, "--prometheus", NULL);
	assert_int_equal(run.status, 0);
	{
		const char *const ex[] = {"route=\"export\"", NULL};
		uint64_t v;

		assert_true(prom_value(run.out, "busbridge_up", ex, &v));
		assert_int_equal(v, 0);
		assert_true(prom_value(run.out, "busbridge_messages_total", ex, &v));
		assert_int_equal(v, 100);
	}
	e2e_run_free(&run);
	atomic_store(&f.sh->stop_consumer, 1);
	assert_int_equal(e2e_wait(n->b, cons, 30), 0);
	flow_free(&f);
}

/* --- untrusted state files --- */

static void *read_all(const char *path, size_t *len)
{
	struct stat st;
	void *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	*len = (size_t)st.st_size;
	buf = malloc(*len + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, *len), (ssize_t)*len);
	close(fd);
	return buf;
}

static void write_bytes(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(io_write_all(fd, data, len), 0);
	assert_int_equal(close(fd), 0);
}

/* A stats file written by a real busbridge with two routes, then stopped. */
static void *real_stats(struct nenv *n, size_t *len)
{
	struct nenv_bridge *br = nenv_bridge_new(n, n->a, "real", "--export", "q:bus.q",
	                                         "--import", "bus.in:qin", NULL);
	char path[400];

	nenv_bridge_start(n, br);
	nenv_bridge_wait_stats(n, br, WAIT_MS);
	assert_int_equal(nenv_bridge_stop(n, br), 0);
	snprintf(path, sizeof(path), "%s/stats", br->state_dir);
	return read_all(path, len);
}

/* The longest run of one byte c in s. */
static size_t longest_run(const char *s, char c)
{
	size_t best = 0, cur = 0;

	for (; *s; s++) {
		cur = *s == c ? cur + 1 : 0;
		best = cur > best ? cur : best;
	}
	return best;
}

/*
 * Runs --stats (table, JSON, Prometheus) on dir; each must refuse with
 * exit 1 and one error line, or (if accept_ok) print within bounds.
 */
static void stats_refused(struct nenv *n, const char *dir, const char *what, bool accept_ok)
{
	char *const modes[][5] = {{"--stats", "--state-dir", (char *)dir, NULL},
	                          {"--stats", "--state-dir", (char *)dir, "--json", NULL},
	                          {"--stats", "--state-dir", (char *)dir, "--prometheus", NULL}};

	for (size_t m = 0; m < 3; m++) {
		struct e2e_run r;

		run_args(n, &r, modes[m]);
		if (accept_ok && r.status == 0) {
			/* strings were cut at their fields' ends */
			assert_true(longest_run(r.out, 'A') <= 255);
		} else if (r.status != 1 || !one_error_line(&r, NULL)) {
			fail_msg("--stats on a stats file with %s (%s): status %d, expected 1",
			         what, modes[m][3] ? modes[m][3] : "table", r.status);
		}
		e2e_run_free(&r);
	}
}

struct corruption {
	const char *what;
	size_t len;          /* bytes of the original kept (SIZE_MAX: all) */
	size_t off;          /* where to write val */
	uint32_t val, width; /* width 0: nothing written */
};

static void corrupt_stats(void **state)
{
	struct nenv *n = *state;
	size_t len, k = 0;
	char *orig = real_stats(n, &len);
	uint32_t count;
	char dir[400], path[460];

	assert_true(len >= 32);
	memcpy(&count, orig + 12, 4);
	assert_int_equal(count, 2);
	{
		const struct corruption cases[] = {
			{"nothing in it", 0, 0, 0, 0},
			{"half a header", 20, 0, 0, 0},
			{"a bad magic", SIZE_MAX, 0, 0x58585858, 4},
			{"version 2", SIZE_MAX, 8, 2, 4},
			{"65 routes", SIZE_MAX, 12, 65, 4},
			{"2^32-1 routes", SIZE_MAX, 12, UINT32_MAX, 4},
			{"3 routes' count in a 2-route file", SIZE_MAX, 12, 3, 4},
			{"its last byte cut off", len - 1, 0, 0, 0},
		};

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++, k++) {
			const struct corruption *c = &cases[i];
			char *buf = malloc(len);

			assert_non_null(buf);
			memcpy(buf, orig, len);
			if (c->width)
				memcpy(buf + c->off, &c->val, c->width);
			snprintf(dir, sizeof(dir), "%s/corrupt-%zu", n->dir, k);
			assert_int_equal(mkdir(dir, 0700), 0);
			snprintf(path, sizeof(path), "%s/stats", dir);
			write_bytes(path, buf, c->len == SIZE_MAX ? len : c->len);
			free(buf);
			stats_refused(n, dir, c->what, false);
		}
	}

	/* strings without their NUL: each route's bytes between kind/state and counters */
	{
		size_t entry = (len - 32) / count;
		char *buf = malloc(len);

		assert_non_null(buf);
		memcpy(buf, orig, len);
		for (uint32_t i = 0; i < count; i++)
			memset(buf + 32 + i * entry + 8, 'A', entry - 8 - 80);
		snprintf(dir, sizeof(dir), "%s/corrupt-%zu", n->dir, k++);
		assert_int_equal(mkdir(dir, 0700), 0);
		snprintf(path, sizeof(path), "%s/stats", dir);
		write_bytes(path, buf, len);
		free(buf);
		stats_refused(n, dir, "strings without a NUL", true);
	}

	/* not a regular file: a directory must not fool it */
	snprintf(dir, sizeof(dir), "%s/corrupt-%zu", n->dir, k++);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/stats", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	stats_refused(n, dir, "a directory for a file", false);

	/* no stats file at all: no busbridge ever ran there */
	snprintf(dir, sizeof(dir), "%s/corrupt-%zu", n->dir, k++);
	assert_int_equal(mkdir(dir, 0700), 0);
	stats_refused(n, dir, "no file", false);
	free(orig);
}

/*
 * FIFOs where --stats expects its files: opening one to read waits for a
 * writer, forever.  A stats file that is one must be refused, a lock file
 * that is one must not stop --stats from printing.
 */
static void stats_fifo(void **state)
{
	struct nenv *n = *state;
	size_t len;
	char *orig = real_stats(n, &len);
	char dir[400], path[460];
	struct e2e_run r;

	snprintf(dir, sizeof(dir), "%s/fifo-stats", n->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/stats", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	stats_refused(n, dir, "a FIFO for a file", false);

	snprintf(dir, sizeof(dir), "%s/fifo-lock", n->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/stats", dir);
	write_bytes(path, orig, len);
	snprintf(path, sizeof(path), "%s/lock", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	nenv_run(n, &r, RUN_S, "--stats", "--state-dir", dir, NULL);
	if (r.status != 0 && r.status != 1)
		fail_msg("--stats with a FIFO for its lock file: status %d", r.status);
	e2e_run_free(&r);
	free(orig);
}

/* A busbridge whose import route's state file is bad: refused, untouched. */
static void bad_seq_case(struct nenv *n, const char *name, const void *data, size_t len)
{
	struct nenv_bridge *br = nenv_bridge_new(n, n->b, name, "--import", "bus.in:qin:DUR",
	                                         NULL);
	char path[400];
	size_t got_len;
	void *got;
	int st;

	assert_int_equal(mkdir(br->state_dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/import-DUR.seq", br->state_dir);
	write_bytes(path, data, len);
	nenv_bridge_start(n, br);
	st = e2e_wait(n->a, br->pid, RUN_S);
	br->pid = 0;
	if (st != 1) {
		nenv_dump_logs(n);
		fail_msg("busbridge with %s: status %d, expected 1", name, st);
	}
	assert_true(nenv_bridge_log_count(br, "import-DUR.seq", NULL) >= 1);
	got = read_all(path, &got_len);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, data, len);
	free(got);
}

static void bad_seq_file(void **state)
{
	struct nenv *n = *state;
	unsigned char magic[16] = "BUSBSEQ0", size[20] = "BUSBSEQ1";

	magic[8] = 42;
	size[8] = 42;
	bad_seq_case(n, "bad-magic", magic, sizeof(magic));
	bad_seq_case(n, "bad-size", size, sizeof(size));
	bad_seq_case(n, "empty", "", 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		NENV_TEST(help_and_version),
		NENV_TEST(bad_usage),
		NENV_TEST(check_config),
		NENV_TEST(one_per_state_dir),
		NENV_TEST(default_state_dir),
		NENV_TEST(state_dir_unusable),
		NENV_TEST(dup_window_short),
		NENV_TEST(stats_outputs),
		NENV_TEST(corrupt_stats),
		NENV_TEST(stats_fifo),
		NENV_TEST(bad_seq_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

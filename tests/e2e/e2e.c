/*
 * e2e.c - the end-to-end harness (see e2e.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "harness.h"
#include "segment.h"

#define READY_TIMEOUT_MS E2E_SCALE(20000, 60000)
#define STOP_TIMEOUT_S   E2E_SCALE(20, 60)

uint64_t e2e_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void e2e_sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static bool executable_env(const char *name)
{
	const char *p = getenv(name);

	return p && *p && access(p, X_OK) == 0;
}

const char *e2e_precheck(void)
{
	static char why[256];
	char name[64];
	int fd;

	if (!executable_env("BUSD"))
		return "BUSD does not name an executable busd (run through meson test)";
	if (!executable_env("BUSCLI"))
		return "BUSCLI does not name an executable buscli (run through meson test)";
	snprintf(name, sizeof(name), "/bus-e2e-probe-%d", (int)getpid());
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0) {
		snprintf(why, sizeof(why), "cannot create shared memory in /dev/shm: %s",
		         strerror(errno));
		return why;
	}
	close(fd);
	shm_unlink(name);
	return NULL;
}

_Noreturn void e2e_skip(const char *why)
{
	fprintf(stderr, "skipped: %s\n", why);
	exit(HARNESS_SKIP);
}

int e2e_run_group(const char *name, const struct CMUnitTest *tests, size_t n)
{
	const char *why = e2e_precheck();

	if (why)
		e2e_skip(why);
	return _cmocka_run_group_tests(name, tests, n, NULL, NULL);
}

static void track(struct e2e *e, pid_t pid)
{
	for (int i = 0; i < E2E_MAX_CHILDREN; i++) {
		if (e->children[i] == 0) {
			e->children[i] = pid;
			return;
		}
	}
	kill(pid, SIGKILL);
	fail_msg("more than %d children", E2E_MAX_CHILDREN);
}

static void untrack(struct e2e *e, pid_t pid)
{
	for (int i = 0; i < E2E_MAX_CHILDREN; i++)
		if (e->children[i] == pid)
			e->children[i] = 0;
}

int e2e_wait(struct e2e *e, pid_t pid, int timeout_s)
{
	uint64_t deadline = e2e_now_ms() + (uint64_t)timeout_s * 1000u;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid) {
			untrack(e, pid);
			return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
		}
		if (r < 0) {
			untrack(e, pid);
			return -2;
		}
		if (e2e_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			untrack(e, pid);
			return -1;
		}
		e2e_sleep_ms(2);
	}
}

static void child_default_signals(void)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;

	sigemptyset(&dfl.sa_mask);
	sigaction(SIGPIPE, &dfl, NULL);
	sigaction(SIGINT, &dfl, NULL);
	sigaction(SIGTERM, &dfl, NULL);
	/*
	 * cmocka catches these to report a crash as a failed test and go on
	 * with the next one: a forked child that crashed would run the rest
	 * of the test group itself.  A child dies of them, for its parent
	 * to see.
	 */
	sigaction(SIGSEGV, &dfl, NULL);
	sigaction(SIGBUS, &dfl, NULL);
	sigaction(SIGILL, &dfl, NULL);
	sigaction(SIGFPE, &dfl, NULL);
	sigaction(SIGABRT, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

pid_t e2e_fork(struct e2e *e, int (*fn)(void *), void *arg)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		child_default_signals();
		_exit(fn(arg) & 0xff);
	}
	track(e, pid);
	return pid;
}

void e2e_spawn(struct e2e *e, struct e2e_proc *p, char *const argv[],
               bool want_in, bool want_out, bool want_err)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
	pid_t pid;

	if (want_in)
		assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	if (want_out)
		assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	if (want_err)
		assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		child_default_signals();
		if (dup2(want_in ? in[0] : null, STDIN_FILENO) < 0 ||
		    (want_out && dup2(out[1], STDOUT_FILENO) < 0) ||
		    (want_err && dup2(err[1], STDERR_FILENO) < 0))
			_exit(126);
		execv(argv[0], argv);
		fprintf(stderr, "e2e: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	track(e, pid);
	*p = (struct e2e_proc){.pid = pid, .in = in[1], .out = out[0], .err = err[0]};
	if (want_in)
		close(in[0]);
	if (want_out)
		close(out[1]);
	if (want_err)
		close(err[1]);
}

pid_t e2e_spawn_logged(struct e2e *e, char *const argv[], const char *log_path)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		child_default_signals();
		if (log < 0 || null < 0 || dup2(null, STDIN_FILENO) < 0 ||
		    dup2(log, STDERR_FILENO) < 0 || dup2(log, STDOUT_FILENO) < 0)
			_exit(126);
		execv(argv[0], argv);
		fprintf(stderr, "e2e: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	track(e, pid);
	return pid;
}

/* argv for buscli: path, --socket, S, then args (NULL-terminated). */
static char **cli_argv(struct e2e *e, char *const args[])
{
	size_t n = 0;
	char **v;

	while (args[n])
		n++;
	v = calloc(n + 4, sizeof(*v));
	assert_non_null(v);
	v[0] = (char *)e->buscli_path;
	v[1] = "--socket";
	v[2] = e->socket;
	for (size_t i = 0; i < n; i++)
		v[3 + i] = args[i];
	return v;
}

static char **collect_args(va_list ap)
{
	static char *buf[64];
	size_t n = 0;
	char *a;

	while ((a = va_arg(ap, char *)) != NULL) {
		assert_true(n < 63);
		buf[n++] = a;
	}
	buf[n] = NULL;
	return buf;
}

void e2e_spawn_cli(struct e2e *e, struct e2e_proc *p, int pipes, ...)
{
	char **args, **v;
	va_list ap;

	va_start(ap, pipes);
	args = collect_args(ap);
	va_end(ap);
	v = cli_argv(e, args);
	e2e_spawn(e, p, v, pipes & E2E_IN, pipes & E2E_OUT, pipes & E2E_ERR);
	free(v);
}

static void append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t c = *cap ? *cap : 4096;

		while (*len + n + 1 > c)
			c *= 2;
		*buf = realloc(*buf, c);
		assert_non_null(*buf);
		*cap = c;
	}
	memcpy(*buf + *len, data, n);
	*len += n;
	(*buf)[*len] = '\0';
}

void e2e_communicate(struct e2e *e, struct e2e_proc *p, const void *in,
                     size_t in_len, int timeout_s, struct e2e_run *r)
{
	uint64_t deadline = e2e_now_ms() + (uint64_t)timeout_s * 1000u;
	size_t in_off = 0, out_cap = 0, err_cap = 0;
	char chunk[65536];

	*r = (struct e2e_run){0};
	append(&r->out, &r->out_len, &out_cap, "", 0);
	append(&r->err, &r->err_len, &err_cap, "", 0);
	if (p->in >= 0) {
		fcntl(p->in, F_SETFL, O_NONBLOCK);
		if (!in || in_len == 0) {
			close(p->in);
			p->in = -1;
		}
	}
	while ((p->in >= 0 || p->out >= 0 || p->err >= 0) && e2e_now_ms() < deadline) {
		struct pollfd fds[3] = {
			{.fd = p->in, .events = POLLOUT},
			{.fd = p->out, .events = POLLIN},
			{.fd = p->err, .events = POLLIN},
		};

		if (poll(fds, 3, 100) < 0 && errno != EINTR)
			break;
		if (p->in >= 0 && fds[0].revents) {
			ssize_t w = write(p->in, (const char *)in + in_off, in_len - in_off);

			if (w > 0)
				in_off += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) || in_off == in_len) {
				close(p->in);
				p->in = -1;
			}
		}
		for (int k = 1; k < 3; k++) {
			int *fd = k == 1 ? &p->out : &p->err;
			ssize_t n;

			if (*fd < 0 || !fds[k].revents)
				continue;
			n = read(*fd, chunk, sizeof(chunk));
			if (n > 0) {
				if (k == 1)
					append(&r->out, &r->out_len, &out_cap, chunk, (size_t)n);
				else
					append(&r->err, &r->err_len, &err_cap, chunk, (size_t)n);
			} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
				close(*fd);
				*fd = -1;
			}
		}
	}
	for (int *fd = &p->in; fd <= &p->err; fd++)
		if (*fd >= 0) {
			close(*fd);
			*fd = -1;
		}
	{
		int64_t left = (int64_t)(deadline - e2e_now_ms()) / 1000;

		r->status = e2e_wait(e, p->pid, left > 0 ? (int)left : 1);
	}
}

void e2e_cli_v(struct e2e *e, struct e2e_run *r, const void *in, size_t in_len,
               int timeout_s, char *const args[])
{
	struct e2e_proc p;
	char **v = cli_argv(e, args);

	e2e_spawn(e, &p, v, true, true, true);
	free(v);
	e2e_communicate(e, &p, in, in_len, timeout_s, r);
}

void e2e_cli(struct e2e *e, struct e2e_run *r, const void *in, size_t in_len,
             int timeout_s, ...)
{
	char **args;
	va_list ap;

	va_start(ap, timeout_s);
	args = collect_args(ap);
	va_end(ap);
	e2e_cli_v(e, r, in, in_len, timeout_s, args);
}

void e2e_stats_json(struct e2e *e, struct e2e_run *r, const char *queue, int timeout_s)
{
	e2e_cli(e, r, NULL, 0, timeout_s, "stats", queue, "--json", NULL);
	assert_int_equal(r->status, 0);
}

void e2e_stats_has(struct e2e *e, const char *queue, int timeout_s, const char *want)
{
	struct e2e_run r;

	e2e_stats_json(e, &r, queue, timeout_s);
	assert_non_null(strstr(r.out, want));
	e2e_run_free(&r);
}

void e2e_cli_ok(struct e2e *e, const char *want_out, ...)
{
	struct e2e_run r;
	char **args;
	va_list ap;

	va_start(ap, want_out);
	args = collect_args(ap);
	va_end(ap);
	e2e_cli_v(e, &r, NULL, 0, 30, args);
	if (r.status != 0) {
		fprintf(stderr, "buscli %s: status %d: %s", args[0] ? args[0] : "", r.status,
		        r.err);
		e2e_dump_log(e);
	}
	assert_int_equal(r.status, 0);
	if (want_out)
		assert_string_equal(r.out, want_out);
	e2e_run_free(&r);
}

void e2e_cli_as(struct e2e *e, struct e2e_run *r, char *const wrapper[], ...)
{
	char **args, **cli, *argv[96];
	size_t n = 0;
	va_list ap;

	va_start(ap, wrapper);
	args = collect_args(ap);
	va_end(ap);
	cli = cli_argv(e, args);
	for (size_t i = 0; wrapper[i]; i++)
		argv[n++] = wrapper[i];
	for (size_t i = 0; cli[i]; i++) {
		assert_true(n < sizeof(argv) / sizeof(argv[0]) - 1);
		argv[n++] = cli[i];
	}
	argv[n] = NULL;
	free(cli);
	e2e_exec_v(e, r, 30, argv);
}

void e2e_exec_v(struct e2e *e, struct e2e_run *r, int timeout_s, char *const argv[])
{
	struct e2e_proc p;

	e2e_spawn(e, &p, argv, false, true, true);
	e2e_communicate(e, &p, NULL, 0, timeout_s, r);
}

void e2e_exec(struct e2e *e, struct e2e_run *r, int timeout_s, const char *path, ...)
{
	char **args, *argv[65] = {(char *)path};
	size_t n = 0;
	va_list ap;

	va_start(ap, path);
	args = collect_args(ap);
	va_end(ap);
	do
		argv[n + 1] = args[n];
	while (args[n++]);
	e2e_exec_v(e, r, timeout_s, argv);
}

void e2e_run_free(struct e2e_run *r)
{
	free(r->out);
	free(r->err);
	*r = (struct e2e_run){0};
}

int e2e_read_lines(int fd, char **buf, size_t *len, size_t *cap,
                   size_t want_lines, int timeout_ms)
{
	uint64_t deadline = e2e_now_ms() + (uint64_t)timeout_ms;
	char chunk[65536];

	while (e2e_count_lines(*buf ? *buf : "", *len) < want_lines &&
	       e2e_now_ms() < deadline) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		n = read(fd, chunk, sizeof(chunk));
		if (n == 0)
			return 1;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return 1;
		}
		append(buf, len, cap, chunk, (size_t)n);
	}
	return 0;
}

void e2e_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

size_t e2e_count_lines(const char *s, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += s[i] == '\n';
	return k;
}

bool e2e_one_error_line(const struct e2e_run *r)
{
	bool ok = r->err_len > 8 && strncmp(r->err, "buscli: ", 8) == 0 &&
	          e2e_count_lines(r->err, r->err_len) == 1 &&
	          r->err[r->err_len - 1] == '\n';

	if (!ok)
		fprintf(stderr, "expected one line 'buscli: ...' on stderr, got:\n%s\n", r->err);
	return ok;
}

static void expect_error(const struct e2e_run *r, int status, const char *needle)
{
	assert_int_equal(r->status, status);
	assert_true(e2e_one_error_line(r));
	if (needle)
		assert_non_null(strstr(r->err, needle));
}

void e2e_expect_fail(const struct e2e_run *r, const char *what, const char *needle)
{
	if (r->status != 1 || !strstr(r->err, needle))
		fprintf(stderr, "%s: status %d, stderr: %s (expected status 1 and '%s')\n",
		        what, r->status, r->err, needle);
	expect_error(r, 1, needle);
}

void e2e_expect_error(struct e2e_run *r, int status, const char *needle)
{
	expect_error(r, status, needle);
	e2e_run_free(r);
}

bool e2e_json_u64(const char *json, const char *key, uint64_t *ret)
{
	char pat[96];
	const char *p;
	char *end;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	if (!p)
		return false;
	p += strlen(pat);
	if (*p < '0' || *p > '9')
		return false;
	errno = 0;
	*ret = strtoull(p, &end, 10);
	return errno == 0 && end != p;
}

/* Digits only at *s, a number in [0, max]; moves *s past them. */
static bool parse_num(const char **s, long max, int *ret)
{
	char *end;
	long v;

	if (**s < '0' || **s > '9')
		return false;
	errno = 0;
	v = strtol(*s, &end, 10);
	if (errno == ERANGE || v > max)
		return false;
	*s = end;
	*ret = (int)v;
	return true;
}

bool e2e_parse_pmsg(const char *text, int nprod, int *k, int *i)
{
	const char *p = text;

	if (*p++ != 'p' || !parse_num(&p, nprod - 1, k) || *p++ != ' ')
		return false;
	return parse_num(&p, INT_MAX, i) && *p == '\0';
}

bool e2e_json_str(const char *json, const char *key, char *buf, size_t n)
{
	char pat[96];
	const char *p, *q;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	p = strstr(json, pat);
	if (!p)
		return false;
	p += strlen(pat);
	q = strchr(p, '"');
	if (!q || (size_t)(q - p) >= n)
		return false;
	memcpy(buf, p, (size_t)(q - p));
	buf[q - p] = '\0';
	return true;
}

/*
 * Counts this busd's segments whose queue is queue (any if NULL), or,
 * with other, whose queue is not queue; the path of the last one found
 * goes to buf (n bytes) unless buf is NULL.  -1 without /dev/shm.
 */
static int shm_find(const struct e2e *e, const char *queue, bool other, char *buf,
                    size_t n)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *de;
	int found = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)) != NULL) {
		char q[BUS_NAME_MAX + 1];
		uint8_t uuid[16];

		if (seg_shm_parse(de->d_name, e->instance, q, uuid) != 0 ||
		    (queue && (strcmp(q, queue) == 0) == other))
			continue;
		if (!buf || snprintf(buf, n, "/dev/shm/%s", de->d_name) < (int)n)
			found++;
	}
	closedir(d);
	return found;
}

int e2e_shm_count(const struct e2e *e, const char *queue)
{
	return shm_find(e, queue, false, NULL, 0);
}

bool e2e_shm_path(const struct e2e *e, const char *queue, char *buf, size_t n)
{
	return shm_find(e, queue, false, buf, n) == 1;
}

bool e2e_shm_path_other(const struct e2e *e, const char *queue, char *buf, size_t n)
{
	return shm_find(e, queue, true, buf, n) == 1;
}

/* --- busd --- */

pid_t e2e_busd_spawn(struct e2e *e, const char *log_path)
{
	char *argv[] = {(char *)e->busd_path, "--socket", e->socket, "--log-level",
	                "debug", e->config ? "--config" : NULL, (char *)e->config, NULL};

	return e2e_spawn_logged(e, argv, log_path);
}

void e2e_dump_file(const char *title, const char *path)
{
	char buf[4096];
	FILE *f = fopen(path, "r");
	size_t k;

	if (!f)
		return;
	fprintf(stderr, "---- %s (%s) ----\n", title, path);
	if (fseek(f, -65536, SEEK_END) == 0)
		fprintf(stderr, "[...]\n");
	else
		rewind(f);
	while ((k = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, k, stderr);
	fprintf(stderr, "---- end of %s ----\n", title);
	fclose(f);
}

void e2e_dump_log(const struct e2e *e)
{
	e2e_dump_file("busd log", e->log);
}

int e2e_file_count(const char *path, const char *a, const char *b)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, a) && (!b || strstr(line, b)))
			n++;
	fclose(f);
	return n;
}

int e2e_log_count(const struct e2e *e, const char *a, const char *b)
{
	return e2e_file_count(e->log, a, b);
}

void e2e_busd_start(struct e2e *e)
{
	uint64_t deadline = e2e_now_ms() + READY_TIMEOUT_MS;

	assert_int_equal(e->busd, 0);
	e->busd = e2e_busd_spawn(e, e->log);
	for (;;) {
		struct stat st;
		int status;
		bus *b;

		if (waitpid(e->busd, &status, WNOHANG) == e->busd) {
			untrack(e, e->busd);
			e->busd = 0;
			e2e_dump_log(e);
			fail_msg("busd exited before it served (status 0x%x)", status);
		}
		/* a stale socket of a killed busd refuses: ping, don't just stat */
		if (stat(e->socket, &st) == 0 && bus_open(e->socket, &b) == 0) {
			bus_close(b);
			return;
		}
		if (e2e_now_ms() > deadline) {
			e2e_dump_log(e);
			fail_msg("busd did not serve %s within %d ms", e->socket,
			         READY_TIMEOUT_MS);
		}
		e2e_sleep_ms(10);
	}
}

void e2e_busd_restart_config(struct e2e *e, const char *text)
{
	char *run_dir = e->run_dir;
	size_t n = sizeof(e->run_dir);

	if (e->busd) {
		int st = e2e_busd_stop(e);

		if (st != 0)
			e2e_dump_log(e);
		assert_int_equal(st, 0);
	}
	assert_true(snprintf(run_dir, n, "%s/run", e->dir) < (int)n);
	rmdir(run_dir); /* busd removed its socket and lock file */
	assert_int_equal(chmod(e->dir, 0755), 0);
	assert_true(snprintf(e->socket, sizeof(e->socket), "%s/busd.sock", run_dir) <
	            (int)sizeof(e->socket));
	e->instance = seg_instance(e->socket);
	snprintf(e->config_path, sizeof(e->config_path), "%s/busd.conf", e->dir);
	e2e_write_file(e->config_path, text);
	e->config = e->config_path;
	e2e_busd_start(e);
}

int e2e_busd_stop(struct e2e *e)
{
	int st;

	if (!e->busd)
		return 0;
	kill(e->busd, SIGTERM);
	st = e2e_wait(e, e->busd, STOP_TIMEOUT_S);
	e->busd = 0;
	return st;
}

void e2e_busd_kill(struct e2e *e)
{
	if (!e->busd)
		return;
	kill(e->busd, SIGKILL);
	e2e_wait(e, e->busd, STOP_TIMEOUT_S);
	e->busd = 0;
}

bus *e2e_open(const struct e2e *e)
{
	bus *b = NULL;
	int rc = bus_open(e->socket, &b);

	if (rc < 0)
		fail_msg("bus_open %s: %s", e->socket, bus_strerror(rc));
	return b;
}

void e2e_create(struct e2e *e, const char *queue, const char *capacity)
{
	if (capacity)
		e2e_cli_ok(e, NULL, "create", queue, "--capacity", capacity, NULL);
	else
		e2e_cli_ok(e, NULL, "create", queue, NULL);
}

uint32_t e2e_send_recv(bus *b, const char *queue, uint32_t type, const char *text,
                       int recv_ms)
{
	size_t len = strlen(text);
	bus_producer *p;
	bus_consumer *c;
	uint32_t flags;
	bus_msg m;

	assert_int_equal(bus_producer_open(b, queue, &p), 0);
	assert_int_equal(bus_consumer_open(b, queue, &c), 0);
	assert_int_equal(bus_send(p, type, text, len, 1000), 0);
	assert_int_equal(bus_recv(c, &m, recv_ms), 0);
	assert_int_equal(m.len, len);
	assert_memory_equal(m.data, text, len);
	flags = m.flags;
	bus_release(c);
	bus_consumer_close(c);
	bus_producer_close(p);
	return flags;
}

unsigned e2e_torture_seed(const char *name)
{
	const char *env = getenv("BUS_TORTURE_SEED");
	unsigned seed = env && *env ? (unsigned)strtoul(env, NULL, 0)
	                            : (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);

	fprintf(stderr, "%s: seed %u (BUS_TORTURE_SEED=%u to replay)\n", name, seed, seed);
	return seed;
}

void *e2e_shared(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE,
	               -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

/* --- setup and teardown --- */

int e2e_mkdtemp(char *buf, size_t n, const char *prefix)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(buf, n, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);
	if (!mkdtemp(buf)) {
		fprintf(stderr, "mkdtemp %s: %s\n", buf, strerror(errno));
		return -1;
	}
	return 0;
}

int e2e_setup(void **state)
{
	struct e2e *e = calloc(1, sizeof(*e));
	struct sigaction ign = {.sa_handler = SIG_IGN};

	if (!e)
		return -1;
	/* a child that dies with our pipe open must not kill the test */
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, NULL);
	e->busd_path = getenv("BUSD");
	e->buscli_path = getenv("BUSCLI");
	if (e2e_mkdtemp(e->dir, sizeof(e->dir), "bus-e2e") != 0) {
		free(e);
		return -1;
	}
	snprintf(e->socket, sizeof(e->socket), "%s/busd.sock", e->dir);
	snprintf(e->log, sizeof(e->log), "%s/busd.log", e->dir);
	e->instance = seg_instance(e->socket);
	*state = e;
	e2e_busd_start(e);
	return 0;
}

/* Whether name is the wake FIFO of one of this busd's segments. */
static bool wake_fifo_of(const struct e2e *e, const char *name)
{
	char base[SEG_SHM_NAME_MAX], q[BUS_NAME_MAX + 1];
	size_t n = strlen(name), sn = strlen(".wake");
	uint8_t uuid[16];

	if (n <= sn || n - sn >= sizeof(base) || strcmp(name + n - sn, ".wake") != 0)
		return false;
	memcpy(base, name, n - sn);
	base[n - sn] = '\0';
	return seg_shm_parse(base, e->instance, q, uuid) == 0;
}

/* Removes every file of dir, then dir. */
static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d) {
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	rmdir(dir);
}

int e2e_teardown(void **state)
{
	struct e2e *e = *state;
	int rc = 0, st;
	DIR *d;

	if (!e)
		return 0;
	for (int i = 0; i < E2E_MAX_CHILDREN; i++) {
		if (e->children[i] && e->children[i] != e->busd) {
			kill(e->children[i], SIGKILL);
			waitpid(e->children[i], NULL, 0);
			e->children[i] = 0;
		}
	}
	if (e->busd) {
		st = e2e_busd_stop(e);
		if (st != 0) {
			fprintf(stderr, "busd did not stop cleanly on SIGTERM: status %d\n", st);
			e2e_dump_log(e);
			rc = -1;
		}
	}
	if (e->run_dir[0])
		rmdir(e->run_dir); /* busd removed its socket and lock file */
	/* segments this busd left behind (a test that failed midway) */
	d = opendir("/dev/shm");
	if (d) {
		struct dirent *de;

		while ((de = readdir(d)) != NULL) {
			char q[BUS_NAME_MAX + 1];
			uint8_t uuid[16];

			if (seg_shm_parse(de->d_name, e->instance, q, uuid) == 0) {
				fprintf(stderr, "e2e: removing leftover segment /dev/shm/%s\n",
				        de->d_name);
				unlinkat(dirfd(d), de->d_name, 0);
			} else if (wake_fifo_of(e, de->d_name)) {
				/* a queue's wake FIFO: it stays with its queue */
				unlinkat(dirfd(d), de->d_name, 0);
			}
		}
		closedir(d);
	}
	remove_dir(e->dir);
	free(e);
	*state = NULL;
	return rc;
}

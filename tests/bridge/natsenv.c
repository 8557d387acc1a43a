/*
 * natsenv.c - the bridge harness (see natsenv.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "flow.h"
#include "harness.h"
#include "natsenv.h"

static bool executable_env(const char *name)
{
	const char *p = getenv(name);

	return p && *p && access(p, X_OK) == 0;
}

const char *nenv_precheck(void)
{
	const char *why = e2e_precheck();

	if (why)
		return why;
	if (!executable_env("NATS_SERVER"))
		return "NATS_SERVER does not name an executable nats-server "
		       "(scripts/deps.sh installs it; run through meson test)";
	if (!executable_env("BUSBRIDGE"))
		return "BUSBRIDGE does not name an executable busbridge (it is built only "
		       "when libnats is found; run through meson test)";
	return NULL;
}

/* A loopback port nobody listens on now: bind port 0 and ask. */
static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static void set_port(struct nenv *n, int port)
{
	n->port = port;
	snprintf(n->url, sizeof(n->url), "nats://127.0.0.1:%d", port);
}

int nenv_setup(void **state)
{
	const char *why = nenv_precheck();
	struct nenv *n;

	if (why) {
		fprintf(stderr, "skipped: %s\n", why);
		exit(HARNESS_SKIP);
	}
	n = calloc(1, sizeof(*n));
	if (!n || e2e_mkdtemp(n->dir, sizeof(n->dir), "bus-bridge") != 0) {
		free(n);
		return -1;
	}
	n->nats_path = getenv("NATS_SERVER");
	n->bridge_path = getenv("BUSBRIDGE");
	snprintf(n->store, sizeof(n->store), "%s/store", n->dir);
	snprintf(n->nats_log, sizeof(n->nats_log), "%s/nats.log", n->dir);
	set_port(n, free_port());
	*state = n;
	if (e2e_setup((void **)&n->a) != 0 || e2e_setup((void **)&n->b) != 0)
		return -1;
	return 0;
}

/* Kills the children a test left on host h (busd aside). */
static void kill_children(struct e2e *h)
{
	for (int i = 0; i < E2E_MAX_CHILDREN; i++) {
		if (h->children[i] && h->children[i] != h->busd) {
			kill(h->children[i], SIGKILL);
			waitpid(h->children[i], NULL, 0);
			h->children[i] = 0;
		}
	}
}

/*
 * Deletes every queue of host h, so that busd unlinks their segments:
 * the e2e teardown then finds none left over, unless something failed.
 */
static void delete_queues(struct e2e *h)
{
	bus_queue_info q[64];
	bus *b;
	int k;

	if (!h->busd || bus_open(h->socket, &b) < 0)
		return;
	k = bus_queue_list(b, q, 64);
	for (int i = 0; i < k && i < 64; i++)
		bus_queue_delete(b, q[i].name);
	bus_close(b);
}

int nenv_teardown(void **state)
{
	struct nenv *n = *state;
	int rc = 0;

	if (!n)
		return 0;
	for (int i = 0; i < n->nbr; i++) {
		if (n->br[i].pid)
			nenv_bridge_kill(n, &n->br[i]);
		for (int k = 0; n->br[i].argv[k]; k++)
			free(n->br[i].argv[k]);
	}
	if (n->nats)
		nenv_nats_stop(n, SIGKILL);
	for (int i = 0; i < 2; i++) {
		struct e2e *h = i ? n->b : n->a;

		if (h) {
			kill_children(h);
			delete_queues(h);
		}
	}
	if (n->b && e2e_teardown((void **)&n->b) != 0)
		rc = -1;
	if (n->a && e2e_teardown((void **)&n->a) != 0)
		rc = -1;
	harness_tmpdir_free(n->dir);
	free(n);
	*state = NULL;
	return rc;
}

/* --- nats-server --- */

static bool tcp_accepts(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/*
 * One try: 1 ready, 0 the port was taken (the server said so and exited),
 * and anything else fails the test.  Ready means the log of this start
 * says so and the port accepts: another program listening there would
 * answer the connect, not write our log.
 */
static int nats_try(struct nenv *n)
{
	char port[16];
	char *argv[] = {(char *)n->nats_path, "-js", "-a", "127.0.0.1", "-p", port,
	                "-sd", n->store, NULL};
	int ready0 = e2e_file_count(n->nats_log, "Server is ready", NULL);
	int inuse0 = e2e_file_count(n->nats_log, "address already in use", NULL);
	uint64_t deadline = e2e_now_ms() + NENV_READY_MS;

	snprintf(port, sizeof(port), "%d", n->port);
	n->nats = e2e_spawn_logged(n->a, argv, n->nats_log);
	n->nats_starts++;
	for (;;) {
		int st;

		if (waitpid(n->nats, &st, WNOHANG) == n->nats) {
			e2e_wait(n->a, n->nats, 1); /* untrack */
			n->nats = 0;
			if (e2e_file_count(n->nats_log, "address already in use", NULL) > inuse0)
				return 0;
			nenv_dump_logs(n);
			fail_msg("nats-server exited before it served (status 0x%x)", st);
		}
		if (e2e_file_count(n->nats_log, "Server is ready", NULL) > ready0 && tcp_accepts(n->port))
			return 1;
		if (e2e_now_ms() > deadline) {
			nenv_dump_logs(n);
			fail_msg("nats-server did not serve port %d within %d ms", n->port,
			         NENV_READY_MS);
		}
		e2e_sleep_ms(10);
	}
}

void nenv_nats_start(struct nenv *n)
{
	assert_int_equal(n->nats, 0);
	for (int tries = 0;; tries++) {
		if (nats_try(n))
			return;
		/* taken meanwhile: a new port while nothing depends on it */
		if (tries >= 20)
			fail_msg("nats-server: port %d in use, %d tries", n->port, tries + 1);
		if (n->port_used)
			e2e_sleep_ms(250); /* the bridges have the URL: wait for it */
		else
			set_port(n, free_port());
	}
}

/* Sends sig to *pid (if running), reaps it, zeroes *pid: its status. */
static int stop_pid(struct nenv *n, pid_t *pid, int sig)
{
	int st;

	if (!*pid)
		return 0;
	kill(*pid, sig);
	st = e2e_wait(n->a, *pid, NENV_STOP_S);
	*pid = 0;
	return st;
}

int nenv_nats_stop(struct nenv *n, int sig)
{
	return stop_pid(n, &n->nats, sig);
}

/* --- busbridge --- */

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	assert_non_null(d);
	return d;
}

struct nenv_bridge *nenv_bridge_new(struct nenv *n, const struct e2e *h,
                                    const char *name, ...)
{
	struct nenv_bridge *br;
	const char *common[] = {n->bridge_path, "--socket", h->socket, "--nats", n->url,
	                        "--stream", NENV_STREAM, "--log-level", "debug",
	                        "--state-dir"};
	int k = 0;
	const char *a;
	va_list ap;

	assert_true(n->nbr < NENV_MAX_BRIDGES);
	br = &n->br[n->nbr++];
	snprintf(br->name, sizeof(br->name), "%s", name);
	snprintf(br->state_dir, sizeof(br->state_dir), "%s/state-%s", n->dir, name);
	snprintf(br->log, sizeof(br->log), "%s/bridge-%s.log", n->dir, name);
	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		br->argv[k++] = xstrdup(common[i]);
	br->argv[k++] = xstrdup(br->state_dir);
	va_start(ap, name);
	while ((a = va_arg(ap, const char *)) != NULL) {
		assert_true(k < NENV_MAX_ARGS - 1);
		br->argv[k++] = xstrdup(a);
	}
	va_end(ap);
	br->argv[k] = NULL;
	n->port_used = true;
	return br;
}

void nenv_bridge_set_state_dir(struct nenv_bridge *br, const char *dir)
{
	for (int i = 0; br->argv[i]; i++) {
		if (strcmp(br->argv[i], "--state-dir") == 0 && br->argv[i + 1]) {
			free(br->argv[i + 1]);
			br->argv[i + 1] = xstrdup(dir);
			snprintf(br->state_dir, sizeof(br->state_dir), "%s", dir);
			return;
		}
	}
	fail_msg("busbridge %s has no --state-dir", br->name);
}

void nenv_bridge_default_state_dir(struct nenv_bridge *br, const char *dir)
{
	for (int i = 0; br->argv[i]; i++) {
		if (strcmp(br->argv[i], "--state-dir") == 0 && br->argv[i + 1]) {
			free(br->argv[i]);
			free(br->argv[i + 1]);
			for (int k = i; br->argv[k + 1]; k++)
				br->argv[k] = br->argv[k + 2];
			snprintf(br->state_dir, sizeof(br->state_dir), "%s", dir);
			return;
		}
	}
	fail_msg("busbridge %s has no --state-dir", br->name);
}

void nenv_bridge_start(struct nenv *n, struct nenv_bridge *br)
{
	assert_int_equal(br->pid, 0);
	br->pid = e2e_spawn_logged(n->a, br->argv, br->log);
	br->starts++;
}

/*
 * Waits, up to NENV_STOP_S, until br's SIGTERM is its own to handle: it
 * writes its pid into its state directory's lock file after blocking the
 * signal, and a SIGTERM sent before that would kill it (a slow start, as
 * with TSan on a loaded machine).  Returns early if it has exited.
 */
static void wait_signals_taken(const struct nenv_bridge *br)
{
	uint64_t deadline = e2e_now_ms() + NENV_STOP_S * 1000u;
	char path[sizeof(br->state_dir) + 8];

	snprintf(path, sizeof(path), "%s/lock", br->state_dir);
	while (e2e_now_ms() < deadline) {
		siginfo_t si = {0};
		char buf[32] = "";
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd >= 0) {
			ssize_t got = read(fd, buf, sizeof(buf) - 1);

			close(fd);
			if (got > 0 && strtol(buf, NULL, 10) == (long)br->pid)
				return;
		}
		if (waitid(P_PID, (id_t)br->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    si.si_pid == br->pid)
			return;
		e2e_sleep_ms(5);
	}
}

int nenv_bridge_stop(struct nenv *n, struct nenv_bridge *br)
{
	int st;

	if (br->pid)
		wait_signals_taken(br);
	st = stop_pid(n, &br->pid, SIGTERM);

	if (st != 0) {
		fprintf(stderr, "busbridge %s: SIGTERM gave status %d\n", br->name, st);
		nenv_dump_logs(n);
	}
	return st;
}

void nenv_bridge_kill(struct nenv *n, struct nenv_bridge *br)
{
	stop_pid(n, &br->pid, SIGKILL);
}

void nenv_bridge_alive(struct nenv *n, struct nenv_bridge *br)
{
	int st;

	assert_int_not_equal(br->pid, 0);
	if (waitpid(br->pid, &st, WNOHANG) == br->pid) {
		e2e_wait(n->a, br->pid, 1); /* untrack */
		br->pid = 0;
		nenv_dump_logs(n);
		fail_msg("busbridge %s exited (status 0x%x)", br->name, st);
	}
}

int nenv_bridge_log_count(const struct nenv_bridge *br, const char *a, const char *b)
{
	return e2e_file_count(br->log, a, b);
}

static void run_v(struct nenv *n, struct e2e_run *r, int timeout_s, char *const args[])
{
	char *argv[NENV_MAX_ARGS + 1];
	struct e2e_proc p;
	int k = 0;

	argv[k++] = (char *)n->bridge_path;
	for (int i = 0; args[i]; i++) {
		assert_true(k < NENV_MAX_ARGS);
		argv[k++] = args[i];
	}
	argv[k] = NULL;
	e2e_spawn(n->a, &p, argv, true, true, true);
	e2e_communicate(n->a, &p, NULL, 0, timeout_s, r);
}

void nenv_run(struct nenv *n, struct e2e_run *r, int timeout_s, ...)
{
	char *args[NENV_MAX_ARGS];
	int k = 0;
	char *a;
	va_list ap;

	va_start(ap, timeout_s);
	while ((a = va_arg(ap, char *)) != NULL) {
		assert_true(k < NENV_MAX_ARGS - 1);
		args[k++] = a;
	}
	va_end(ap);
	args[k] = NULL;
	run_v(n, r, timeout_s, args);
}

char *nenv_stats_json(struct nenv *n, const struct nenv_bridge *br)
{
	struct e2e_run r;
	char *out;

	nenv_run(n, &r, 30, "--stats", "--state-dir", (char *)br->state_dir, "--json", NULL);
	if (r.status != 0)
		fail_msg("busbridge --stats --json (%s): status %d: %s", br->name, r.status,
		         r.err);
	out = r.out;
	r.out = NULL;
	e2e_run_free(&r);
	return out;
}

/*
 * The idx-th object of the "routes" array, copied into a new string:
 * braces counted outside JSON strings.
 */
static char *route_object(const char *json, int idx)
{
	const char *p = strstr(json, "\"routes\":");
	int depth = 0, seen = -1;
	bool in_str = false;
	const char *start = NULL;

	if (!p || !(p = strchr(p, '[')))
		return NULL;
	for (p++; *p; p++) {
		if (in_str) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '"')
				in_str = false;
			continue;
		}
		if (*p == '"') {
			in_str = true;
		} else if (*p == '{') {
			if (depth++ == 0 && ++seen == idx)
				start = p;
		} else if (*p == '}') {
			if (--depth == 0 && start)
				return strndup(start, (size_t)(p - start + 1));
		} else if (*p == ']' && depth == 0) {
			return NULL;
		}
	}
	return NULL;
}

bool nenv_route_u64(const char *json, int idx, const char *key, uint64_t *ret)
{
	char *obj = route_object(json, idx);
	bool ok;

	if (!obj)
		return false;
	ok = e2e_json_u64(obj, key, ret);
	free(obj);
	return ok;
}

uint64_t nenv_stat(struct nenv *n, const struct nenv_bridge *br, int idx, const char *key)
{
	char *json = nenv_stats_json(n, br);
	uint64_t v = 0;

	if (!nenv_route_u64(json, idx, key, &v))
		fail_msg("busbridge %s --stats --json: no route %d key \"%s\" in:\n%s",
		         br->name, idx, key, json);
	free(json);
	return v;
}

/* The pid in a stats file's header (brief: magic, version, count, pid). */
static uint64_t stats_pid(const char *path)
{
	unsigned char h[24];
	uint64_t pid = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return 0;
	if (read(fd, h, sizeof(h)) == (ssize_t)sizeof(h) && memcmp(h, "BUSBSTA1", 8) == 0)
		memcpy(&pid, h + 16, 8);
	close(fd);
	return pid;
}

void nenv_bridge_wait_stats(struct nenv *n, const struct nenv_bridge *br, int timeout_ms)
{
	uint64_t deadline = e2e_now_ms() + (uint64_t)timeout_ms;
	char path[400];

	snprintf(path, sizeof(path), "%s/stats", br->state_dir);
	while (stats_pid(path) != (uint64_t)br->pid) {
		if (e2e_now_ms() > deadline) {
			nenv_dump_logs(n);
			fail_msg("busbridge %s: no stats file naming pid %d in %d ms", br->name,
			         (int)br->pid, timeout_ms);
		}
		e2e_sleep_ms(20);
	}
}

bool nenv_wait_stat(struct nenv *n, const struct nenv_bridge *br, int idx,
                    const char *key, uint64_t want, int timeout_ms)
{
	uint64_t deadline = e2e_now_ms() + (uint64_t)timeout_ms, v;

	if (br->pid)
		nenv_bridge_wait_stats(n, br, timeout_ms);
	for (;;) {
		v = nenv_stat(n, br, idx, key);
		if (v == want)
			return true;
		if (e2e_now_ms() > deadline)
			break;
		e2e_sleep_ms(100);
	}
	fprintf(stderr, "busbridge %s route %d: %s is %" PRIu64 ", expected %" PRIu64 "\n",
	        br->name, idx, key, v, want);
	return false;
}

int nenv_route_state(const char *json, int idx)
{
	char *obj = route_object(json, idx);
	char word[64];
	uint64_t v;
	int st = -1;

	if (!obj)
		return -1;
	if (e2e_json_u64(obj, "state", &v) && v <= NENV_STATE_LOCAL)
		st = (int)v;
	else if (e2e_json_str(obj, "state", word, sizeof(word)))
		st = strcmp(word, "starting") == 0 ? NENV_STATE_STARTING
		     : strcmp(word, "up") == 0     ? NENV_STATE_UP
		     : strstr(word, "nats")        ? NENV_STATE_NATS
		                                   : NENV_STATE_LOCAL;
	free(obj);
	return st;
}

/* Whether json lists at least one route and every one is up. */
static bool all_up(const char *json)
{
	int i = 0;

	for (;; i++) {
		char *obj = route_object(json, i);

		if (!obj)
			return i > 0;
		free(obj);
		if (nenv_route_state(json, i) != NENV_STATE_UP)
			return false;
	}
}

void nenv_bridge_wait_up(struct nenv *n, const struct nenv_bridge *br, int timeout_ms)
{
	uint64_t deadline = e2e_now_ms() + (uint64_t)timeout_ms;
	char stats[400];

	snprintf(stats, sizeof(stats), "%s/stats", br->state_dir);
	for (;;) {
		struct e2e_run r = {0};
		bool up = false;

		if (access(stats, R_OK) == 0) {
			nenv_run(n, &r, 30, "--stats", "--state-dir", (char *)br->state_dir,
			         "--json", NULL);
			up = r.status == 0 && all_up(r.out);
		}
		if (up) {
			e2e_run_free(&r);
			return;
		}
		if (e2e_now_ms() > deadline) {
			nenv_dump_logs(n);
			fail_msg("busbridge %s not up within %d ms; stats: %s", br->name,
			         timeout_ms, r.out ? r.out : "(none)");
		}
		e2e_run_free(&r);
		e2e_sleep_ms(100);
	}
}

bool nenv_seq_read(const struct nenv_bridge *br, const char *durable, uint64_t *ret)
{
	char path[400];
	unsigned char buf[17];
	ssize_t got;
	int fd;

	snprintf(path, sizeof(path), "%s/import-%s.seq", br->state_dir, durable);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	got = read(fd, buf, sizeof(buf));
	close(fd);
	if (got != 16 || memcmp(buf, "BUSBSEQ1", 8) != 0)
		return false;
	memcpy(ret, buf + 8, 8);
	return true;
}

void nenv_queue(const struct e2e *h, const char *queue, uint64_t capacity)
{
	bus_queue_opts qo = {.capacity = capacity};
	bus *b = e2e_open(h);
	int rc = bus_queue_create(b, queue, &qo, NULL);

	if (rc < 0)
		fail_msg("create %s: %s", queue, bus_strerror(rc));
	bus_close(b);
}

void nenv_pair(struct nenv *n, const char *qa, const char *subject, const char *qb,
               uint64_t cap_a, uint64_t cap_b, struct nenv_bridge **ex,
               struct nenv_bridge **im)
{
	char route[400];

	nenv_queue(n->a, qa, cap_a);
	nenv_queue(n->b, qb, cap_b);
	snprintf(route, sizeof(route), "%s:%s", qa, subject);
	*ex = nenv_bridge_new(n, n->a, "export", "--export", route, NULL);
	snprintf(route, sizeof(route), "%s:%s", subject, qb);
	*im = nenv_bridge_new(n, n->b, "import", "--import", route, NULL);
}

void nenv_dump_logs(const struct nenv *n)
{
	e2e_dump_file("nats-server log", n->nats_log);
	for (int i = 0; i < n->nbr; i++)
		e2e_dump_file(n->br[i].name, n->br[i].log);
}

void nenv_flow_init(struct nenv *n, struct flow *f)
{
	f->sock_a = n->a->socket;
	f->sock_b = n->b->socket;
	flow_init(f, n->dir);
}

void nenv_flow_pair(struct nenv *n, struct flow *f, const char *subject,
                    uint64_t cap_a, uint64_t cap_b, struct nenv_bridge **ex,
                    struct nenv_bridge **im)
{
	nenv_pair(n, f->queue_a, subject, f->queue_b, cap_a, cap_b, ex, im);
	nenv_bridge_start(n, *ex);
	nenv_bridge_start(n, *im);
	nenv_flow_init(n, f);
}

pid_t nenv_flow_start(struct nenv *n, struct flow *f, pid_t *prod)
{
	pid_t cons = flow_start_consumer(n->b, f);

	flow_start_producers(n->a, f, 0, prod);
	return cons;
}

void nenv_flow_wait(struct nenv *n, const struct flow *f, int timeout_ms,
                    const char *what, struct flow_result *r)
{
	if (!flow_wait_all(f, timeout_ms, r))
		nenv_dump_logs(n);
	flow_print(what, r);
}

bus_consumer *nenv_consumer(const struct e2e *h, const char *queue)
{
	bus *b = e2e_open(h);
	bus_consumer *c;

	assert_int_equal(bus_consumer_open(b, queue, &c), 0);
	bus_close(b);
	return c;
}

void nenv_recv(const struct nenv *n, bus_consumer *c, bus_msg *m, int timeout_ms,
               const char *what, size_t i)
{
	int rc = bus_recv(c, m, timeout_ms);

	if (rc < 0) {
		nenv_dump_logs(n);
		fail_msg("%s: message %zu: %s", what, i, bus_strerror(rc));
	}
}

void nenv_stop_pair(struct nenv *n, struct nenv_bridge *ex, struct nenv_bridge *im,
                    const struct flow *f, pid_t cons)
{
	assert_int_equal(nenv_bridge_stop(n, ex), 0);
	assert_int_equal(nenv_bridge_stop(n, im), 0);
	flow_stop_consumer(n->b, f, cons);
}

void nenv_finish_pair(struct nenv *n, struct nenv_bridge *ex, struct nenv_bridge *im,
                      struct flow *f, pid_t cons, uint64_t total)
{
	struct flow_result r;

	nenv_stop_pair(n, ex, im, f, cons);
	flow_check(f, &r);
	assert_int_equal(r.records, total);
	flow_free(f);
}

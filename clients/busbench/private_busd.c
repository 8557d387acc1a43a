/*
 * private_busd.c - a busd of busbench's own, for the rows that need one.
 *
 * A consumer's wake descriptor (bus_consumer_fd()) exists only for
 * handles busd attached: busd makes each queue's wake FIFO and hands it
 * out.  Without --socket, busbench attaches the bus transport directly to
 * segments, so for the rows that wait on the descriptor (WAIT_FD) it
 * starts a busd itself: on a socket in a private directory (mkdtemp, mode
 * 0700, under $TMPDIR or /tmp), with its standard output to /dev/null and
 * its standard error, at log level error, to busbench's.  The bus
 * transport creates and deletes its queues there as with --socket;
 * busbench stops busd at the end with SIGTERM (busd then removes its
 * socket and lock file) and removes the directory.  busd dies with
 * busbench (PR_SET_PDEATHSIG); on SIGINT, SIGTERM or SIGHUP busbench
 * kills it and removes what it left (bench_busd_kill(), and
 * transport_bus.c the segments of the queues still there).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#ifndef BUSBENCH_BUSD_INSTALLED
#define BUSBENCH_BUSD_INSTALLED "/usr/local/sbin/busd"
#endif

/* How long busd may take to serve, and to stop (sanitized builds: slow). */
#define START_TIMEOUT_NS (UINT64_C(30) * 1000000000u)
#define STOP_TIMEOUT_NS  (UINT64_C(10) * 1000000000u)

/* Written before pid is set, read by the signal handler. */
static char busd_dir[64];
static char busd_sock[96];
static char busd_lock[104];
static volatile sig_atomic_t busd_pid;

static bool executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(path, X_OK) == 0;
}

int bench_busd_find(const char *given, char *out, size_t n, bool *named,
                    char *why, size_t whyn)
{
	const char *env = getenv("BUSD");
	char exe[4096], beside[4200], real[4096];
	ssize_t len;

	*named = false;
	if (!given && env && env[0])
		given = env;
	if (given) {
		*named = true;
		if ((size_t)snprintf(out, n, "%s", given) >= n) {
			snprintf(why, whyn, "busd path too long: %s", given);
			return -ENAMETOOLONG;
		}
		return 0;
	}
	/* The build tree: clients/busbench/busbench beside busd/busd. */
	beside[0] = '\0';
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len > 0) {
		exe[len] = '\0';
		snprintf(beside, sizeof(beside), "%s/../../busd/busd", dirname(exe));
		if (executable(beside) && realpath(beside, real) &&
		    (size_t)snprintf(out, n, "%s", real) < n)
			return 0;
	}
	if (executable(BUSBENCH_BUSD_INSTALLED) &&
	    (size_t)snprintf(out, n, "%s", BUSBENCH_BUSD_INSTALLED) < n)
		return 0;
	snprintf(why, whyn, "no busd found (looked for %s%s%s); name one with "
	                    "--busd or $BUSD, or give --socket",
	         beside[0] ? beside : "", beside[0] ? " and " : "",
	         BUSBENCH_BUSD_INSTALLED);
	return -ENOENT;
}

static const char *tmp_base(void)
{
	const char *t = getenv("TMPDIR");

	/* A socket path has at most 107 bytes: keep the base short. */
	return t && t[0] == '/' && strlen(t) <= 40 ? t : "/tmp";
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* Removes what a stopped busd may have left, and the directory. */
static void remove_dir(void)
{
	unlink(busd_sock);
	unlink(busd_lock);
	rmdir(busd_dir);
}

/* The child: busd on our socket, dying with us. */
static void exec_busd(const char *path, pid_t parent)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	sigset_t none;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(127);
	/* busd takes its signals from a signalfd; busbench's mask is not its. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0)
		_exit(127);
	execl(path, path, "--socket", busd_sock, "--log-level", "error",
	      (char *)NULL);
	fprintf(stderr, PROG ": exec %s: %s\n", path, strerror(errno));
	_exit(127);
}

int bench_busd_start(const char *path, char *err, size_t errn)
{
	pid_t parent = getpid(), pid;
	uint64_t deadline;
	int status;

	if (busd_pid > 0) {
		snprintf(err, errn, "busd already started");
		return -EBUSY;
	}
	if (!executable(path)) {
		snprintf(err, errn, "%s: not an executable file", path);
		return -ENOENT;
	}
	snprintf(busd_dir, sizeof(busd_dir), "%s/busbench-XXXXXX", tmp_base());
	if (!mkdtemp(busd_dir)) {
		int e = errno;

		snprintf(err, errn, "mkdtemp in %s: %s", tmp_base(), strerror(e));
		return -e;
	}
	snprintf(busd_sock, sizeof(busd_sock), "%s/busd.sock", busd_dir);
	snprintf(busd_lock, sizeof(busd_lock), "%s.lock", busd_sock);

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int e = errno;

		snprintf(err, errn, "fork: %s", strerror(e));
		rmdir(busd_dir);
		return -e;
	}
	if (pid == 0)
		exec_busd(path, parent);
	busd_pid = pid;

	deadline = nstime_mono() + START_TIMEOUT_NS;
	for (;;) {
		bus *b;

		if (waitpid(pid, &status, WNOHANG) == pid) {
			busd_pid = 0;
			remove_dir();
			if (WIFSIGNALED(status))
				snprintf(err, errn, "%s died of signal %d before it served",
				         path, WTERMSIG(status));
			else
				snprintf(err, errn, "%s exited with status %d before it "
				                    "served",
				         path, WEXITSTATUS(status));
			return -ECHILD;
		}
		/* A socket file alone may be a bind not yet listening: ask. */
		if (bus_open(busd_sock, &b) == 0) {
			bus_close(b);
			return 0;
		}
		if (nstime_mono() > deadline) {
			bench_busd_kill();
			snprintf(err, errn, "%s did not serve %s within %llu s", path,
			         busd_sock,
			         (unsigned long long)(START_TIMEOUT_NS / 1000000000u));
			return -ETIMEDOUT;
		}
		sleep_ms(10);
	}
}

const char *bench_busd_socket(void)
{
	return busd_pid > 0 ? busd_sock : NULL;
}

int bench_busd_stop(char *err, size_t errn)
{
	pid_t pid = busd_pid;
	uint64_t deadline;
	int status = 0;
	bool killed = false;

	if (pid <= 0)
		return 0;
	kill(pid, SIGTERM);
	deadline = nstime_mono() + STOP_TIMEOUT_NS;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			busd_pid = 0;
			remove_dir();
			snprintf(err, errn, "waitpid busd: %s", strerror(errno));
			return -1;
		}
		if (!killed && nstime_mono() > deadline) {
			kill(pid, SIGKILL);
			killed = true;
		}
		sleep_ms(killed ? 1 : 5);
	}
	busd_pid = 0;
	remove_dir();
	if (killed) {
		snprintf(err, errn, "busd did not stop within %llu s of SIGTERM; killed",
		         (unsigned long long)(STOP_TIMEOUT_NS / 1000000000u));
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (WIFSIGNALED(status))
			snprintf(err, errn, "busd died of signal %d when stopped",
			         WTERMSIG(status));
		else
			snprintf(err, errn, "busd exited with status %d when stopped",
			         WEXITSTATUS(status));
		return -1;
	}
	return 0;
}

void bench_busd_kill(void)
{
	pid_t pid = busd_pid;

	if (pid <= 0)
		return;
	busd_pid = 0;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	remove_dir();
}

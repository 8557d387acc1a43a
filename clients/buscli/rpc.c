/*
 * rpc.c - buscli call and buscli serve: request and reply from the shell.
 *
 * call opens a bus_client on the service's queue, sends one request (an
 * argument, or all of stdin byte for byte) and writes the reply's payload
 * to stdout exactly as received, as `recv --raw` writes a message: no
 * newline is added.  One --timeout covers both the wait for room in the
 * queue and the wait for the answer; running out of it exits
 * EXIT_TIMEOUT, apart from the other failures.
 *
 * serve is the queue's consumer and answers each request with the output
 * of a shell command: /bin/sh -c CMD with the request's payload on its
 * stdin.  The command's stdin and stdout are pipes driven by one poll
 * loop, so a command that writes before it has read all its input cannot
 * deadlock against us.  The reply is its stdout whatever its exit status
 * (a non-zero status is reported on stderr); output larger than the
 * largest reply kills the command and the request goes unanswered (its
 * caller times out), reported on stderr.  The child runs in a process
 * group of its own, inherits no bus descriptor (libbus opens them all
 * close-on-exec) and is always reaped.
 *
 * A request is released only once it has been answered (or found
 * unanswerable).  SIGINT and SIGTERM abandon the request in hand: its
 * command is terminated and reaped, and serve exits 0 without releasing
 * it, so the next consumer of the queue receives it again, flagged
 * redelivered.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buscli.h"
#include "util/io.h"

#define CALL_DEFAULT_TIMEOUT_MS 5000
#define SERVE_SLICE_MS          200
#define REPLY_WAIT_MS           1000 /* for room in a caller's reply queue */
#define KILL_GRACE_MS           1000 /* SIGTERM to SIGKILL of an abandoned command */
#define CALL_HEADER             16   /* bytes of a record a request's header takes */

static const char call_help[] =
	"Usage: " PROG " [--socket PATH] call QUEUE [OPTIONS] [MESSAGE]\n"
	"\n"
	"Sends MESSAGE (without it, all of stdin, byte for byte) as one request\n"
	"to the service that consumes QUEUE, waits for its reply and writes the\n"
	"reply's payload to stdout exactly as received (no newline added).\n"
	"\n"
	"Options:\n"
	"  -t, --type NAME|ID   request type: a number (decimal or 0x hex) or a\n"
	"                       protobuf full name such as demo.Order, hashed with\n"
	"                       bus_type_id() (default: 0, untyped)\n"
	"  -T, --timeout MS     how long to wait for room in the queue and for the\n"
	"                       reply, in all (default: 5000; -1: forever)\n"
	"  -s, --socket PATH    busd's socket\n"
	"  -h, --help           show this help\n"
	"\n"
	"Exit status: 0 the reply was written; 1 an error (no such queue, queue\n"
	"deleted, request larger than the queue takes, ...); 2 a bad command\n"
	"line; 3 the timeout passed with no reply (a late reply is dropped).\n";

static const char serve_help[] =
	"Usage: " PROG " [--socket PATH] serve QUEUE --exec CMD [OPTIONS]\n"
	"\n"
	"Attaches as the consumer of QUEUE and answers each request with the\n"
	"output of CMD: /bin/sh -c CMD runs with the request's payload on its\n"
	"stdin, and its stdout is the reply.\n"
	"\n"
	"  - A command that exits non-zero still answers with its output; a\n"
	"    warning with its status goes to stderr.\n"
	"  - Output larger than the largest reply (the queue's maximum message\n"
	"    less 16 bytes) kills the command; the request is not answered\n"
	"    (its caller times out) and stderr says so.\n"
	"  - A plain message (no request) is skipped with a note on stderr.\n"
	"  - A caller gone before its reply: a note on stderr, serving goes on.\n"
	"  - SIGINT/SIGTERM abandon the request in hand (its command is\n"
	"    terminated) without releasing it: the next consumer gets it again.\n"
	"\n"
	"Options:\n"
	"  -e, --exec CMD       the shell command that answers (required)\n"
	"  -t, --type NAME|ID   reply type, as for publish (default: the\n"
	"                       request's type)\n"
	"  -n, --count N        exit after N requests\n"
	"  -T, --timeout MS     exit when no message arrives for MS milliseconds\n"
	"                       (default: -1, wait forever)\n"
	"  -s, --socket PATH    busd's socket\n"
	"  -h, --help           show this help\n"
	"\n"
	"Exit status: 0 when --count is reached, when --timeout ends the run, or\n"
	"on SIGINT/SIGTERM; 1 on an error (the queue has a consumer already, was\n"
	"deleted, the command cannot be started); 2 for a bad command line.\n";

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* --- call --- */

/*
 * Reads all of stdin into *buf (malloc'd), at most max + 1 bytes so that
 * an oversized input is recognised without holding it all.  Returns 0 or
 * a negative errno.
 */
static int read_stdin(size_t max, char **buf, size_t *len)
{
	size_t cap = max + 1, n = 0;
	char *p = malloc(cap);

	if (!p)
		return -ENOMEM;
	while (n < cap) {
		ssize_t r = read(STDIN_FILENO, p + n, cap - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = -errno;

			free(p);
			return err;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*buf = p;
	*len = n;
	return 0;
}

int cmd_call(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"type", required_argument, NULL, 't'},
		{"timeout", required_argument, NULL, 'T'},
		CLI_COMMON_OPTS,
		{0},
	};
	int timeout_ms = CALL_DEFAULT_TIMEOUT_MS;
	const char *queue, *req;
	char *input = NULL;
	uint32_t type = 0;
	size_t len = 0, max;
	bus_client *cl;
	bus_msg reply;
	bus *b;
	int c, rc;

	while ((c = cli_getopt(cli, "call", call_help, argc, argv, ":t:T:s:h", opts, &rc)) >= 0) {
		switch (c) {
		case 't':
			if (cli_opt_type("call", optarg, &type))
				return EXIT_USAGE;
			break;
		case 'T':
			if (cli_opt_timeout("call", optarg, &timeout_ms))
				return EXIT_USAGE;
			break;
		}
	}
	if (c == CLI_OPT_DONE)
		return rc;
	if ((rc = cli_take_queue("call", argc, argv, &queue)) != 0)
		return rc;
	if (argc - optind > 1)
		return cli_usage_error("call", "one MESSAGE per call (quote it if it has "
		                               "spaces)");
	/* a reader that went away is a write error, not a silent death */
	signal(SIGPIPE, SIG_IGN);
	if (cli_connect(cli, "call", false, &b) < 0)
		return EXIT_FAIL;
	rc = bus_client_open(b, queue, &cl);
	if (rc < 0)
		return cli_busd_fail(b, rc, "call '%s'", queue);
	bus_close(b); /* not on the data path */
	max = bus_client_max_request(cl);
	if (optind < argc) {
		req = argv[optind];
		len = strlen(req);
	} else {
		rc = read_stdin(max, &input, &len);
		if (rc < 0) {
			cli_error("call '%s': reading stdin: %s (nothing sent)", queue,
			          strerror(-rc));
			bus_client_close(cl);
			return EXIT_FAIL;
		}
		req = input;
	}
	if (len > max) {
		if (input)
			cli_error("call '%s': stdin holds more than the largest request of "
			          "%zu bytes (nothing sent)",
			          queue, max);
		else
			cli_error("call '%s': request of %zu bytes is larger than the largest "
			          "request of %zu bytes (nothing sent)",
			          queue, len, max);
		free(input);
		bus_client_close(cl);
		return EXIT_FAIL;
	}
	rc = bus_client_call(cl, type, req, len, &reply, timeout_ms);
	free(input);
	if (rc == 0) {
		rc = io_write_all(STDOUT_FILENO, reply.data, reply.len);
		if (rc < 0) {
			cli_error("call '%s': writing the reply: %s", queue, strerror(-rc));
			rc = EXIT_FAIL;
		} else {
			rc = EXIT_OK;
		}
	} else if (rc == -ETIMEDOUT) {
		cli_error("call '%s': no reply within %d ms", queue, timeout_ms);
		rc = EXIT_TIMEOUT;
	} else if (rc == -EAGAIN) {
		cli_error("call '%s': the queue stayed full for %d ms (nothing sent)",
		          queue, timeout_ms);
		rc = EXIT_TIMEOUT;
	} else if (rc == -EPIPE) {
		cli_error("call '%s': queue deleted", queue);
		rc = EXIT_FAIL;
	} else {
		cli_error("call '%s': %s", queue, bus_strerror(rc));
		rc = EXIT_FAIL;
	}
	bus_client_close(cl);
	return rc;
}

/* --- serve --- */

struct serve {
	const char *queue;
	const char *cmd;
	bus_consumer *cons;
	size_t max_reply;
	struct buf out; /* the command's stdout */
};

/* How a command run ended. */
enum run_end {
	RUN_DONE,    /* exited or was killed by a signal of its own: status */
	RUN_TOO_BIG, /* its output passed max_reply; killed */
	RUN_STOPPED, /* SIGINT/SIGTERM came: abandoned, killed */
	RUN_FAILED,  /* could not be started or driven: reported */
};

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Kills the command's process group with sig. */
static void kill_group(pid_t pid, int sig)
{
	if (kill(-pid, sig) < 0)
		kill(pid, sig);
}

/*
 * Reaps pid.  With stopping set, the command is being abandoned: SIGTERM
 * first, then SIGKILL after KILL_GRACE_MS.  A stop signal that comes
 * while waiting for a command that closed its stdout abandons it too.
 */
static int reap(pid_t pid, bool stopping, int *status)
{
	uint64_t deadline = 0;

	if (stopping) {
		kill_group(pid, SIGTERM);
		deadline = now_ms() + KILL_GRACE_MS;
	}
	for (;;) {
		pid_t r = waitpid(pid, status, stopping ? WNOHANG : 0);

		if (r == pid)
			return stopping ? -EINTR : 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (!stopping && cli_stop) {
			kill_group(pid, SIGTERM);
			stopping = true;
			deadline = now_ms() + KILL_GRACE_MS;
			continue;
		}
		if (stopping) {
			if (deadline && now_ms() >= deadline) {
				kill_group(pid, SIGKILL);
				deadline = 0;
			}
			struct timespec ts = {0, 10 * 1000 * 1000};

			nanosleep(&ts, NULL);
		}
	}
}

/*
 * Runs the command with in (len bytes) on its stdin; its stdout goes to
 * s->out.  *status is its wait status for RUN_DONE.
 */
static enum run_end run_command(struct serve *s, const void *in, size_t len,
                                int *status)
{
	int to_child[2], from_child[2];
	enum run_end end = RUN_DONE;
	size_t written = 0;
	bool in_open = true, out_open = true;
	pid_t pid;
	int rc;

	s->out.len = 0;
	if (pipe2(to_child, O_CLOEXEC) < 0) {
		cli_error("serve '%s': cannot make a pipe: %s", s->queue, strerror(errno));
		return RUN_FAILED;
	}
	if (pipe2(from_child, O_CLOEXEC) < 0) {
		cli_error("serve '%s': cannot make a pipe: %s", s->queue, strerror(errno));
		close(to_child[0]);
		close(to_child[1]);
		return RUN_FAILED;
	}
	pid = fork();
	if (pid < 0) {
		cli_error("serve '%s': cannot start the command: %s", s->queue,
		          strerror(errno));
		close(to_child[0]);
		close(to_child[1]);
		close(from_child[0]);
		close(from_child[1]);
		return RUN_FAILED;
	}
	if (pid == 0) {
		struct sigaction dfl = {.sa_handler = SIG_DFL};

		/* our own group: a stop signal ends all of a pipeline */
		setpgid(0, 0);
		sigemptyset(&dfl.sa_mask);
		sigaction(SIGPIPE, &dfl, NULL); /* ignored dispositions survive exec */
		sigaction(SIGINT, &dfl, NULL);
		sigaction(SIGTERM, &dfl, NULL);
		if (dup2(to_child[0], STDIN_FILENO) < 0 ||
		    dup2(from_child[1], STDOUT_FILENO) < 0)
			_exit(127);
		execl("/bin/sh", "sh", "-c", s->cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid); /* either side may come first */
	close(to_child[0]);
	close(from_child[1]);
	set_nonblock(to_child[1]);
	set_nonblock(from_child[0]);
	if (len == 0) {
		close(to_child[1]);
		in_open = false;
	}
	while (out_open) {
		struct pollfd pfd[2] = {
			{.fd = from_child[0], .events = POLLIN},
			{.fd = in_open ? to_child[1] : -1, .events = POLLOUT},
		};

		if (cli_stop) {
			end = RUN_STOPPED;
			break;
		}
		rc = poll(pfd, 2, SERVE_SLICE_MS); /* a stop signal may slip in before */
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			cli_error("serve '%s': poll: %s", s->queue, strerror(errno));
			end = RUN_FAILED;
			break;
		}
		if (in_open && pfd[1].revents) {
			ssize_t w = write(to_child[1], (const char *)in + written, len - written);

			if (w > 0)
				written += (size_t)w;
			/* EPIPE: the command does not read all its input; fine */
			if ((w < 0 && errno != EINTR && errno != EAGAIN) || written == len) {
				close(to_child[1]);
				in_open = false;
			}
		}
		if (pfd[0].revents) {
			char chunk[65536];
			ssize_t r = read(from_child[0], chunk, sizeof(chunk));

			if (r > 0) {
				buf_put(&s->out, chunk, (size_t)r);
				if (s->out.oom) {
					cli_error("serve '%s': out of memory for the command's output",
					          s->queue);
					end = RUN_FAILED;
					break;
				}
				if (s->out.len > s->max_reply) {
					end = RUN_TOO_BIG;
					break;
				}
			} else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
				out_open = false;
			}
		}
	}
	if (in_open)
		close(to_child[1]);
	close(from_child[0]);
	if (end == RUN_TOO_BIG || end == RUN_FAILED)
		kill_group(pid, SIGKILL);
	rc = reap(pid, end == RUN_STOPPED, status);
	if (rc == -EINTR)
		return RUN_STOPPED;
	if (rc < 0) {
		cli_error("serve '%s': waiting for the command: %s", s->queue, strerror(-rc));
		return RUN_FAILED;
	}
	return end;
}

/*
 * Answers request m.  Returns 0 when done with it (answered or not),
 * -EINTR when a stop signal abandoned it, or -EIO when the command could
 * not be run at all.
 */
static int serve_one(struct serve *s, const bus_msg *m, bool have_type,
                     uint32_t type, uint64_t n)
{
	int status = 0, rc;
	enum run_end end = run_command(s, m->data, m->len, &status);

	if (end == RUN_STOPPED)
		return -EINTR;
	if (end == RUN_FAILED)
		return -EIO;
	if (end == RUN_TOO_BIG) {
		cli_error("serve '%s': request %" PRIu64 ": the command wrote more than "
		          "the largest reply of %zu bytes; killed it, not answered",
		          s->queue, n, s->max_reply);
		return 0;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		cli_error("serve '%s': request %" PRIu64 ": the command exited with "
		          "status %d; answered with its output",
		          s->queue, n, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		cli_error("serve '%s': request %" PRIu64 ": the command was killed by "
		          "signal %d; answered with its output",
		          s->queue, n, WTERMSIG(status));
	rc = bus_reply(s->cons, m, have_type ? type : m->type, s->out.p, s->out.len,
	               REPLY_WAIT_MS);
	if (rc == -EPIPE)
		cli_error("serve '%s': request %" PRIu64 ": the caller is gone; "
		          "reply dropped",
		          s->queue, n);
	else if (rc < 0)
		cli_error("serve '%s': request %" PRIu64 ": cannot reply: %s", s->queue, n,
		          bus_strerror(rc));
	return 0;
}

int cmd_serve(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"exec", required_argument, NULL, 'e'},
		{"type", required_argument, NULL, 't'},
		{"count", required_argument, NULL, 'n'},
		{"timeout", required_argument, NULL, 'T'},
		CLI_COMMON_OPTS,
		{0},
	};
	struct serve s = {0};
	uint64_t count = 0, done = 0, deadline = 0;
	int timeout_ms = -1;
	bool have_type = false;
	uint32_t type = 0;
	bus_stats st;
	bus *b;
	int c, rc;

	while ((c = cli_getopt(cli, "serve", serve_help, argc, argv, ":e:t:n:T:s:h", opts, &rc)) >= 0) {
		switch (c) {
		case 'e':
			s.cmd = optarg;
			break;
		case 't':
			if (cli_opt_type("serve", optarg, &type))
				return EXIT_USAGE;
			have_type = true;
			break;
		case 'n':
			if (cli_opt_count("serve", optarg, &count))
				return EXIT_USAGE;
			break;
		case 'T':
			if (cli_opt_timeout("serve", optarg, &timeout_ms))
				return EXIT_USAGE;
			break;
		}
	}
	if (c == CLI_OPT_DONE)
		return rc;
	if ((rc = cli_only_queue("serve", argc, argv, &s.queue)) != 0)
		return rc;
	if (!s.cmd)
		return cli_usage_error("serve", "no command: give --exec CMD");
	if (s.cmd[0] == '\0')
		return cli_usage_error("serve", "empty command");
	cli_catch_stop_signals();
	if (cli_connect(cli, "serve", false, &b) < 0)
		return EXIT_FAIL;
	rc = bus_queue_stats(b, s.queue, &st);
	if (rc == 0)
		rc = bus_consumer_open(b, s.queue, &s.cons);
	if (rc < 0)
		return cli_busd_fail(b, rc, "serve '%s'", s.queue);
	bus_close(b); /* replies reconnect to busd by themselves */
	s.max_reply = st.max_message > CALL_HEADER ? st.max_message - CALL_HEADER : 0;

	if (timeout_ms >= 0)
		deadline = now_ms() + (uint64_t)timeout_ms;
	rc = 0;
	while (!cli_stop && (count == 0 || done < count)) {
		int wait_ms = SERVE_SLICE_MS;
		bus_msg m;

		if (timeout_ms >= 0) {
			uint64_t now = now_ms();

			wait_ms = deadline > now ? (int)(deadline - now) : 0;
			if (wait_ms > SERVE_SLICE_MS)
				wait_ms = SERVE_SLICE_MS;
		}
		rc = bus_recv(s.cons, &m, wait_ms);
		if (rc == -ETIMEDOUT || rc == -EAGAIN) {
			rc = 0;
			if (timeout_ms >= 0 && now_ms() >= deadline)
				break; /* quiet for --timeout: the run is over */
			continue;
		}
		if (rc < 0)
			break;
		if (!(m.flags & BUS_MSG_REQUEST)) {
			cli_error("serve '%s': skipped a plain message (type %" PRIu32
			          ", %zu bytes): not a request",
			          s.queue, m.type, m.len);
		} else {
			rc = serve_one(&s, &m, have_type, type, done + 1);
			if (rc == -EINTR) {
				/*
				 * Abandoned: the request must stay unreleased for the next
				 * consumer, and bus_consumer_close() would release it.
				 * Leave without closing; the kernel drops the consumer lock.
				 */
				_exit(EXIT_OK);
			}
			if (rc < 0) {
				/* not run: leave it for the next consumer too */
				_exit(EXIT_FAIL);
			}
			done++;
		}
		bus_release(s.cons);
		if (timeout_ms >= 0)
			deadline = now_ms() + (uint64_t)timeout_ms;
	}
	buf_free(&s.out);
	bus_consumer_close(s.cons);
	if (rc == -EPIPE) {
		cli_error("serve '%s': queue deleted (%" PRIu64 " requests served)", s.queue,
		          done);
		return EXIT_FAIL;
	}
	if (rc < 0) {
		cli_error("serve '%s': %s (%" PRIu64 " requests served)", s.queue,
		          bus_strerror(rc), done);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

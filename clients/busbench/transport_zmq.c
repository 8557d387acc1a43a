/*
 * transport_zmq.c - ZeroMQ (libzmq), what people pick for local
 * messaging, used as its guide suggests and with the library's defaults:
 * one context per process (one I/O thread), high-water marks of 1000
 * messages, infinite linger, no socket option set.
 *
 * Sockets, over ipc:// (a Unix stream socket under the hood):
 *  - throughput: the consumer binds a PULL socket; each producer connects
 *    a PUSH socket of its own, and PULL fair-queues between them;
 *  - ping-pong (chan_cfg.ping_pong): one PAIR socket per direction, the
 *    receiving end binding.  The harness's channels are one-way, so a
 *    round trip crosses two PAIR connections rather than one PAIR both
 *    ways; each message still takes the same path (application thread,
 *    I/O thread, socket, I/O thread, application thread).
 *
 * Contexts and sockets are made in each child, after the fork: a context
 * owns threads, and a fork copies none of them, so one must never cross
 * a fork.  The parent only makes the endpoint's private directory
 * (mkdtemp, mode 0700) and removes it after the run; the binding socket
 * unlinks its file when it closes, the parent's teardown (or the signal
 * handler, through zmq_side_unlink_all()) removes what a killed child
 * left.  A connecting end waits until the binder's file exists, so that
 * it does not fall into libzmq's 100 ms reconnect interval.
 *
 * Closing: libzmq can drop what a receiver has not read yet when the
 * sender closes an ipc:// connection while the receiver's queue is at
 * its high-water mark, linger or not (libzmq issue 4660; seen here as a
 * consumer waiting forever for the end markers of producers that had
 * exited cleanly).  So a sending end keeps its socket open until the
 * receiving end has closed: a word in a shared mapping, set and woken by
 * the receiver's close.  That is after the measurement, never timed.
 *
 * Waiting: libzmq blocks by nature, its application thread in poll() on
 * the socket's signalling descriptor and its I/O thread in epoll; there
 * is no spinning variant short of polling with ZMQ_DONTWAIT, which would
 * spin only half of the path.  So it runs the blocking ping-pong only,
 * like uds, pipe and posix-mq, and the throughput tests.
 *
 * Receiving: zmq_msg_recv() into messages of our own (no copy into a
 * buffer), a batch of one blocking receive and then whatever is already
 * queued (ZMQ_DONTWAIT), up to the caller's batch; release closes them.
 * Sending: zmq_send(), which copies the payload into a new message, as
 * most users send.
 *
 * Built only where meson found libzmq (BUSBENCH_ZMQ); elsewhere tp_zmq
 * lists every row as skipped and says why.
 *
 * The table here (tp_zmq) is alike in form to the other
 * transports' on purpose, as rows of one table are: see struct
 * transport in transport.h.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#if BUSBENCH_ZMQ

#include <zmq.h>

/* How long a connecting end waits for the binder's socket file. */
#define BIND_WAIT_NS (UINT64_C(20) * 1000000000u)

struct zmq_side {
	/* Set up by the parent. */
	char dir[64];      /* the private directory */
	char path[80];     /* the socket file in it */
	char endpoint[96]; /* "ipc://" path */
	int slot;          /* its entry in made_dir, or -1 */
	/* Per end, in the child's copy. */
	void *sock;
	bool rx;  /* the receiving end */
	int held; /* messages recv filled, not yet released */
	zmq_msg_t msgs[BENCH_BATCH];
};

/*
 * Directories still made, for the signal handler: a run has at most two
 * zeromq channels.  Each entry is written before its flag is set.
 */
#define MADE_MAX 4
static char made_dir[MADE_MAX][64];
static char made_path[MADE_MAX][80];
static volatile sig_atomic_t made_flag[MADE_MAX];

void zmq_side_unlink_all(void)
{
	for (int i = 0; i < MADE_MAX; i++) {
		if (made_flag[i]) {
			made_flag[i] = 0;
			/* both async-signal-safe */
			unlink(made_path[i]);
			rmdir(made_dir[i]);
		}
	}
}

/* The child's context, shared by its ends and ended with the last. */
static void *ctx;
static int ctx_refs;

/*
 * ThreadSanitizer sees libzmq's memcpy and free (intercepted) but not its
 * lock-free queues (not instrumented), so it reports races between the
 * application and I/O threads that cannot happen; such a build skips
 * the rows instead of failing them.
 */
#if defined(__SANITIZE_THREAD__)
#define ZMQ_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ZMQ_UNDER_TSAN 1
#endif
#endif

static bool zmq_unsupported(const struct chan_cfg *cfg, char *why, size_t n)
{
	(void)cfg;
#ifdef ZMQ_UNDER_TSAN
	snprintf(why, n, "ThreadSanitizer cannot see libzmq's own synchronisation "
	                 "(libzmq is not instrumented); run it in a build without it");
	return true;
#else
	(void)why;
	(void)n;
	return false;
#endif
}

/* A short base for the directory: a Unix socket path has 108 bytes. */
static const char *tmp_base(void)
{
	const char *t = getenv("TMPDIR");

	return t && t[0] == '/' && strlen(t) <= 40 ? t : "/tmp";
}

static int zmq_setup(struct chan *ch)
{
	struct zmq_side *z = calloc(1, sizeof(*z));

	if (!z)
		return chan_fail(ch, -ENOMEM, "out of memory");
	z->slot = -1;
	ch->zmq = z;
	/* The receiver's "closed" word (see Closing, above). */
	ch->map_size = sizeof(_Atomic uint32_t);
	ch->map = mmap(NULL, ch->map_size, PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ch->map == MAP_FAILED) {
		ch->map = NULL;
		return chan_fail(ch, -errno, "mmap: %s", strerror(errno));
	}
	snprintf(z->dir, sizeof(z->dir), "%s/busbench-zmq-XXXXXX", tmp_base());
	if (!mkdtemp(z->dir)) {
		z->dir[0] = '\0';
		return chan_fail(ch, -errno, "mkdtemp in %s: %s", tmp_base(),
		                 strerror(errno));
	}
	snprintf(z->path, sizeof(z->path), "%s/sock", z->dir);
	snprintf(z->endpoint, sizeof(z->endpoint), "ipc://%s", z->path);
	for (int i = 0; i < MADE_MAX; i++) {
		if (!made_flag[i]) {
			memcpy(made_dir[i], z->dir, sizeof(z->dir));
			memcpy(made_path[i], z->path, sizeof(z->path));
			made_flag[i] = 1;
			z->slot = i;
			break;
		}
	}
	return 0;
}

static void zmq_teardown(struct chan *ch)
{
	struct zmq_side *z = ch->zmq;

	if (ch->map)
		munmap(ch->map, ch->map_size);
	ch->map = NULL;
	if (!z)
		return;
	if (z->slot >= 0)
		made_flag[z->slot] = 0;
	if (z->dir[0]) {
		/* The binder unlinked it unless it was killed. */
		unlink(z->path);
		rmdir(z->dir);
	}
	free(z);
	ch->zmq = NULL;
}

static int ctx_get(struct chan *ch)
{
	if (!ctx) {
		ctx = zmq_ctx_new();
		if (!ctx)
			return chan_fail(ch, -errno, "zmq_ctx_new: %s",
			                 zmq_strerror(errno));
	}
	ctx_refs++;
	return 0;
}

static void ctx_put(void)
{
	if (--ctx_refs > 0)
		return;
	/* Waits for what is queued to go out (linger: infinite). */
	while (zmq_ctx_term(ctx) < 0 && errno == EINTR)
		;
	ctx = NULL;
}

/* A socket of type on ch's endpoint, bound or connected. */
static int open_end(struct chan *ch, int type, bool bind)
{
	struct zmq_side *z = ch->zmq;
	int r;

	r = ctx_get(ch);
	if (r < 0)
		return r;
	z->sock = zmq_socket(ctx, type);
	if (!z->sock) {
		r = chan_fail(ch, -errno, "zmq_socket: %s", zmq_strerror(errno));
		ctx_put();
		return r;
	}
	if (bind) {
		r = zmq_bind(z->sock, z->endpoint);
	} else {
		uint64_t deadline = nstime_mono() + BIND_WAIT_NS;
		const struct timespec ms = {.tv_nsec = 1000000};

		while (access(z->path, F_OK) < 0 && nstime_mono() < deadline)
			nanosleep(&ms, NULL);
		r = zmq_connect(z->sock, z->endpoint);
	}
	if (r < 0) {
		r = chan_fail(ch, -errno, "zmq_%s %s: %s", bind ? "bind" : "connect",
		              z->endpoint, zmq_strerror(errno));
		zmq_close(z->sock);
		z->sock = NULL;
		ctx_put();
		return r;
	}
	return 0;
}

static int zmq_tx_open(struct chan *ch)
{
	return open_end(ch, ch->cfg.ping_pong ? ZMQ_PAIR : ZMQ_PUSH, false);
}

static int zmq_rx_open(struct chan *ch)
{
	struct zmq_side *z = ch->zmq;

	for (int i = 0; i < BENCH_BATCH; i++)
		zmq_msg_init(&z->msgs[i]);
	z->rx = true;
	return open_end(ch, ch->cfg.ping_pong ? ZMQ_PAIR : ZMQ_PULL, true);
}

static int zmq_send_msg(struct chan *ch, const void *buf, size_t len)
{
	while (zmq_send(ch->zmq->sock, buf, len, 0) < 0) {
		if (errno != EINTR)
			return chan_fail(ch, -errno, "zmq_send: %s",
			                 zmq_strerror(errno));
	}
	return 0;
}

static int zmq_recv_msgs(struct chan *ch, struct view *v, int max)
{
	struct zmq_side *z = ch->zmq;
	int n = 0;

	if (max > BENCH_BATCH)
		max = BENCH_BATCH;
	/* The first waits; the rest take only what is already there. */
	while (n < max) {
		zmq_msg_t *m = &z->msgs[n];

		if (zmq_msg_recv(m, z->sock, n ? ZMQ_DONTWAIT : 0) < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && n > 0)
				break;
			z->held = n;
			return chan_fail(ch, -errno, "zmq_msg_recv: %s",
			                 zmq_strerror(errno));
		}
		v[n++] = (struct view){zmq_msg_data(m), zmq_msg_size(m)};
	}
	z->held = n;
	return n;
}

static void zmq_release(struct chan *ch)
{
	struct zmq_side *z = ch->zmq;

	/* Closing frees the payload; a closed message must be initialised. */
	for (int i = 0; i < z->held; i++) {
		zmq_msg_close(&z->msgs[i]);
		zmq_msg_init(&z->msgs[i]);
	}
	z->held = 0;
}

static void zmq_close_end(struct chan *ch)
{
	struct zmq_side *z = ch->zmq;
	_Atomic uint32_t *closed = ch->map;

	if (!z->sock)
		return;
	if (z->rx) {
		zmq_release(ch);
		/* release: we read everything before the senders may close */
		atomic_store_explicit(closed, 1, memory_order_release);
		bench_futex_wake(closed, INT_MAX);
	} else {
		/* Until the receiver has read everything (see Closing, above). */
		while (atomic_load_explicit(closed, memory_order_acquire) == 0)
			bench_futex_wait(closed, 0);
	}
	zmq_close(z->sock);
	z->sock = NULL;
	ctx_put();
}

#else /* !BUSBENCH_ZMQ */

/*
 * Built without libzmq: every row is listed as skipped, so a run says
 * what it left out rather than leaving it out silently.  Nothing past
 * unsupported() is ever called for a skipped row.
 */
void zmq_side_unlink_all(void)
{
}

static bool zmq_unsupported(const struct chan_cfg *cfg, char *why, size_t n)
{
	(void)cfg;
	snprintf(why, n, "busbench was built without libzmq (install libzmq3-dev, "
	                 "scripts/deps.sh, and rebuild)");
	return true;
}

static int zmq_setup(struct chan *ch)
{
	return chan_fail(ch, -ENOSYS, "busbench was built without libzmq");
}

static void zmq_teardown(struct chan *ch)
{
	(void)ch;
}

#endif /* BUSBENCH_ZMQ */

/* One row, with or without libzmq: the skipped one stops at unsupported(). */
const struct transport tp_zmq = {
	.name = "zeromq",
#if BUSBENCH_ZMQ
	.what = "libzmq over ipc://: PUSH/PULL (throughput), PAIR (latency)",
#else
	.what = "libzmq (not built in: libzmq was missing at build time)",
#endif
	.throughput = true,
	.multi_producer = true,
	.waits = 1u << WAIT_BLOCK,
	.has_size = true,
	.unsupported = zmq_unsupported,
	.setup = zmq_setup,
	.teardown = zmq_teardown,
#if BUSBENCH_ZMQ
	.tx_open = zmq_tx_open,
	.send = zmq_send_msg,
	.rx_open = zmq_rx_open,
	.recv = zmq_recv_msgs,
	.release = zmq_release,
	.close = zmq_close_end,
#endif
};

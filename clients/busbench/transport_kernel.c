/*
 * transport_kernel.c - the baselines a user would otherwise pick: a Unix
 * SOCK_SEQPACKET socket pair, a pipe and a POSIX message queue.
 *
 * All three block in the kernel by nature (no spinning variant), copy
 * every message in on send and out into a receive buffer, and are set up
 * by the parent before the fork, the children inheriting the descriptors;
 * several producers share one sending descriptor.  Defaults are kept as
 * a user would get them: socket buffers, the pipe's 64 KiB, the message
 * queue's depth from /proc/sys/fs/mqueue/msg_max.
 *
 * Framing:
 *  - uds: one datagram per message (SOCK_SEQPACKET keeps boundaries); the
 *    receiver asks with MSG_TRUNC and checks the real length.
 *  - pipe: none in the stream; every message of a run has the same size,
 *    the writer writes it whole (looping on short writes) and the reader
 *    reads exactly that many bytes.  With several writers a message stays
 *    whole only up to PIPE_BUF bytes (POSIX), so larger sizes are refused
 *    for several producers.
 *  - posix-mq: one queue message per message; sizes above
 *    /proc/sys/fs/mqueue/msgsize_max are reported as skipped, as an
 *    unprivileged user would meet them (root could exceed the limits; we
 *    do not).
 *
 * The tables here (tp_uds, tp_pipe, tp_mq) are alike in form to the other
 * transports' on purpose, as rows of one table are: see struct
 * transport in transport.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

/* --- helpers shared by the three --- */

static int alloc_rx_buf(struct chan *ch)
{
	ch->buf = malloc(ch->cfg.size);
	if (!ch->buf)
		return chan_fail(ch, -ENOMEM, "out of memory");
	/* Fault it in now rather than in the timed loop. */
	memset(ch->buf, 0, ch->cfg.size);
	return 0;
}

static void close_fds(struct chan *ch)
{
	if (ch->tx_fd >= 0)
		close(ch->tx_fd);
	if (ch->rx_fd >= 0)
		close(ch->rx_fd);
	ch->tx_fd = ch->rx_fd = -1;
}

/* Writes all len bytes (a pipe may take fewer at a time). */
static int write_all(struct chan *ch, const char *what, const void *buf,
                     size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(ch->tx_fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return chan_fail(ch, -errno, "%s: %s", what, strerror(errno));
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* --- uds --- */

static bool never_unsupported(const struct chan_cfg *cfg, char *why, size_t n)
{
	(void)cfg;
	(void)why;
	(void)n;
	return false;
}

static int uds_setup(struct chan *ch)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return chan_fail(ch, -errno, "socketpair: %s", strerror(errno));
	ch->tx_fd = sv[0];
	ch->rx_fd = sv[1];
	return 0;
}

static int uds_send(struct chan *ch, const void *buf, size_t len)
{
	for (;;) {
		ssize_t n = send(ch->tx_fd, buf, len, 0);

		if (n == (ssize_t)len)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return chan_fail(ch, -errno, "send: %s", strerror(errno));
		return chan_fail(ch, -EIO, "send: %zd of %zu bytes", n, len);
	}
}

/*
 * What a datagram's receive returned (n bytes, or -1 and errno) as the
 * view of ch->buf: 1, 0 to call again after EINTR, or a failure of call.
 */
static int datagram(struct chan *ch, ssize_t n, struct view *v, const char *call)
{
	if (n >= 0) {
		*v = (struct view){ch->buf, (size_t)n};
		return 1;
	}
	if (errno == EINTR)
		return 0;
	return chan_fail(ch, -errno, "%s: %s", call, strerror(errno));
}

static int uds_recv(struct chan *ch, struct view *v, int max)
{
	int r;

	(void)max;
	do
		/* MSG_TRUNC: the real length, so a longer datagram is caught */
		r = datagram(ch, recv(ch->rx_fd, ch->buf, ch->cfg.size, MSG_TRUNC), v,
		             "recv");
	while (r == 0);
	return r;
}

const struct transport tp_uds = {
	.name = "uds",
	.what = "a Unix SOCK_SEQPACKET socket pair, one datagram per message",
	.throughput = true,
	.multi_producer = true,
	.waits = 1u << WAIT_BLOCK,
	.has_size = true,
	.unsupported = never_unsupported,
	.setup = uds_setup,
	.teardown = close_fds,
	.tx_open = chan_no_open,
	.send = uds_send,
	.rx_open = alloc_rx_buf,
	.recv = uds_recv,
	.release = chan_nothing,
	.close = chan_free_buf,
};

/* --- pipe --- */

static bool pipe_unsupported(const struct chan_cfg *cfg, char *why, size_t n)
{
	if (cfg->producers > 1 && cfg->size > PIPE_BUF) {
		snprintf(why, n, "with several writers a pipe keeps messages whole "
		                 "only up to PIPE_BUF (%d bytes)",
		         PIPE_BUF);
		return true;
	}
	return false;
}

static int pipe_setup(struct chan *ch)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) < 0)
		return chan_fail(ch, -errno, "pipe2: %s", strerror(errno));
	ch->rx_fd = fds[0];
	ch->tx_fd = fds[1];
	return 0;
}

static int pipe_send(struct chan *ch, const void *buf, size_t len)
{
	return write_all(ch, "write", buf, len);
}

static int pipe_recv(struct chan *ch, struct view *v, int max)
{
	size_t got = 0;

	(void)max;
	while (got < ch->cfg.size) {
		ssize_t n = read(ch->rx_fd, ch->buf + got, ch->cfg.size - got);

		if (n > 0) {
			got += (size_t)n;
		} else if (n == 0) {
			return chan_fail(ch, -EPIPE, "read: end of file");
		} else if (errno != EINTR) {
			return chan_fail(ch, -errno, "read: %s", strerror(errno));
		}
	}
	*v = (struct view){ch->buf, got};
	return 1;
}

const struct transport tp_pipe = {
	.name = "pipe",
	.what = "a pipe; fixed-size messages written whole, read exactly",
	.throughput = true,
	.multi_producer = true,
	.waits = 1u << WAIT_BLOCK,
	.has_size = true,
	.unsupported = pipe_unsupported,
	.setup = pipe_setup,
	.teardown = close_fds,
	.tx_open = chan_no_open,
	.send = pipe_send,
	.rx_open = alloc_rx_buf,
	.recv = pipe_recv,
	.release = chan_nothing,
	.close = chan_free_buf,
};

/* --- posix-mq --- */

/* Reads a number from a /proc file; returns it or -1. */
static long read_proc_long(const char *path)
{
	char line[64], *end;
	long v;

	if (!bench_read_line(path, line, sizeof(line)))
		return -1;
	errno = 0;
	v = strtol(line, &end, 10);
	if (errno || end == line || (*end != '\n' && *end != '\0'))
		return -1;
	return v;
}

/* The queue depth: the system's default maximum. */
static long mq_depth(void)
{
	long v = read_proc_long("/proc/sys/fs/mqueue/msg_max");

	return v > 0 ? v : 10;
}

static bool mq_unsupported(const struct chan_cfg *cfg, char *why, size_t n)
{
	long size_max = read_proc_long("/proc/sys/fs/mqueue/msgsize_max");
	long depth = mq_depth();
	struct rlimit rl;

	if (size_max < 0)
		size_max = 8192;
	if ((long)cfg->size > size_max) {
		snprintf(why, n, "a %zu-byte message exceeds "
		                 "/proc/sys/fs/mqueue/msgsize_max (%ld)",
		         cfg->size, size_max);
		return true;
	}
	/*
	 * Two queues (ping-pong) of depth messages must fit RLIMIT_MSGQUEUE;
	 * the kernel also charges about 100 bytes per message of bookkeeping.
	 */
	if (getrlimit(RLIMIT_MSGQUEUE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    2 * (uint64_t)depth * (cfg->size + 128) > rl.rlim_cur) {
		snprintf(why, n, "two queues of %ld %zu-byte messages exceed "
		                 "RLIMIT_MSGQUEUE (%llu bytes)",
		         depth, cfg->size,
		         (unsigned long long)rl.rlim_cur);
		return true;
	}
	return false;
}

static unsigned mq_counter;

static int mq_setup(struct chan *ch)
{
	struct mq_attr attr = {
		.mq_maxmsg = mq_depth(),
		.mq_msgsize = (long)ch->cfg.size,
	};
	char name[64];

	snprintf(name, sizeof(name), "/busbench-%d-%u", (int)getpid(), mq_counter++);
	ch->mq = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &attr);
	if (ch->mq == (mqd_t)-1)
		return chan_fail(ch, -errno, "mq_open %s (depth %ld, %zu bytes): %s",
		                 name, attr.mq_maxmsg, ch->cfg.size, strerror(errno));
	/* The descriptor keeps the queue; the children inherit it. */
	mq_unlink(name);
	return 0;
}

static void mq_teardown(struct chan *ch)
{
	if (ch->mq != (mqd_t)-1)
		mq_close(ch->mq);
	ch->mq = (mqd_t)-1;
}

static int mq_send_msg(struct chan *ch, const void *buf, size_t len)
{
	while (mq_send(ch->mq, buf, len, 0) < 0) {
		if (errno != EINTR)
			return chan_fail(ch, -errno, "mq_send: %s", strerror(errno));
	}
	return 0;
}

static int mq_recv(struct chan *ch, struct view *v, int max)
{
	int r;

	(void)max;
	do
		r = datagram(ch, mq_receive(ch->mq, (char *)ch->buf, ch->cfg.size, NULL),
		             v, "mq_receive");
	while (r == 0);
	return r;
}

const struct transport tp_mq = {
	.name = "posix-mq",
	.what = "a POSIX message queue (librt), depth from /proc/sys/fs/mqueue/msg_max",
	.throughput = true,
	.multi_producer = true,
	.waits = 1u << WAIT_BLOCK,
	.has_size = true,
	.unsupported = mq_unsupported,
	.setup = mq_setup,
	.teardown = mq_teardown,
	.tx_open = chan_no_open,
	.send = mq_send_msg,
	.rx_open = alloc_rx_buf,
	.recv = mq_recv,
	.release = chan_nothing,
	.close = chan_free_buf,
};

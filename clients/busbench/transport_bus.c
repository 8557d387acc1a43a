/*
 * transport_bus.c - the bus itself, through the public API.
 *
 * Two ways to reach a queue:
 *  - directly (the default): the parent creates a segment in /dev/shm
 *    under a name of its own, each child opens that name (an open file
 *    description of its own, as bus_*_open_fd() require) and attaches
 *    with bus_producer_open_fd() / bus_consumer_open_fd(); the parent
 *    removes the name as soon as every child is attached, so an
 *    interrupted run leaves nothing behind;
 *  - through busd (--socket PATH): the parent creates a queue with
 *    bus_queue_create(), each child attaches with bus_open() and
 *    bus_producer_open() / bus_consumer_open(), and the parent deletes
 *    the queue at the end.
 * Either way sending is bus_send() and receiving bus_recv() (one message)
 * or bus_recv_batch() + bus_release(); the segment's counters give the
 * futex calls per message.  The transport bus-loan is the same queue
 * written through the loan API instead: bus_send_reserve(), the message
 * built in the record (its header stored, its body filled), then
 * bus_send_commit(), with no buffer copied in.
 *
 * Waiting: WAIT_SPIN sets both handles' spin to the largest value (4.3 s,
 * far beyond any run's gaps), WAIT_DEFAULT keeps the library's, and
 * WAIT_BLOCK sets it to 0; every send and receive waits forever
 * (timeout -1): a peer that dies is the parent's to notice.  WAIT_FD
 * receives as an event loop does: bus_recv() or bus_recv_batch() with
 * timeout 0 and, on -EAGAIN (which arms the descriptor), epoll_wait() on
 * bus_consumer_fd() with no timeout, then again; senders keep the
 * library's wait.  The descriptor needs a queue busd made, so these rows
 * always go through busd: --socket's, or one busbench started
 * (private_busd.c), whose queues' segments and wake FIFOs are registered
 * for the signal handler as a direct segment's name is.
 *
 * Request and reply (run.c's run_request) uses one such queue through
 * busd: the service is its consumer, opened as here, and the caller a
 * bus_client of it (bus_side_client_open), whose reply queue busd makes.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"
#include "segment.h"

/* The message type of every benchmark message. */
#define BENCH_TYPE 0x62656e63u

struct bus_side {
	char shm_name[64];            /* direct: the segment's name */
	int name_slot;                /* its entry in linked_names, or -1 */
	struct seg seg;               /* direct: the parent's mapping */
	char queue[BUS_NAME_MAX + 1]; /* busd: the queue's name */
	bus *b;                       /* busd: the parent's connection */
	int busd_slot[2];             /* private busd: segment, FIFO; or -1 */
};

/*
 * Names still linked in /dev/shm, for the signal handler: a run has at
 * most two bus channels, each a segment and, with a private busd, a wake
 * FIFO.  Each path is written before its flag is set.
 */
#define LINKED_MAX 8
static char linked_path[LINKED_MAX][sizeof("/dev/shm") + SEG_SHM_NAME_MAX + 8];
static volatile sig_atomic_t linked_flag[LINKED_MAX];

static unsigned name_counter;

void bus_side_unlink_all(void)
{
	for (int i = 0; i < LINKED_MAX; i++) {
		if (linked_flag[i]) {
			linked_flag[i] = 0;
			/* unlink() is async-signal-safe; shm_unlink() is not listed */
			unlink(linked_path[i]);
		}
	}
}

/* Registers /dev/shm<shm_name><suffix>; returns its slot or -1. */
static int name_link_suffix(const char *shm_name, const char *suffix)
{
	for (int i = 0; i < LINKED_MAX; i++) {
		if (!linked_flag[i]) {
			snprintf(linked_path[i], sizeof(linked_path[i]), "/dev/shm%s%s",
			         shm_name, suffix);
			linked_flag[i] = 1;
			return i;
		}
	}
	return -1;
}

static int name_link(const char *shm_name)
{
	return name_link_suffix(shm_name, "");
}

static void name_unlink(struct bus_side *bs)
{
	if (bs->name_slot < 0)
		return;
	linked_flag[bs->name_slot] = 0;
	bs->name_slot = -1;
	shm_unlink(bs->shm_name);
}

static bool bus_unsupported(const struct chan_cfg *cfg, char *why, size_t n)
{
	uint32_t max = seg_max_message_for(cfg->capacity);

	if (cfg->wait == WAIT_FD && !cfg->socket) {
		snprintf(why, n, "the wake descriptor needs a queue attached through "
		                 "busd (--socket, or a busd busbench can start: --busd)");
		return true;
	}
	if (cfg->size > max) {
		snprintf(why, n, "a %zu-byte message does not fit a %llu-byte queue "
		                 "(largest %u; raise --capacity)",
		         cfg->size,
		         (unsigned long long)cfg->capacity, max);
		return true;
	}
	return false;
}

static int setup_busd(struct chan *ch, struct bus_side *bs)
{
	bus_queue_opts opts = {
		.capacity = ch->cfg.capacity,
		.max_producers = ch->cfg.producers,
	};
	bus_queue_info info;
	int r = bus_open(ch->cfg.socket, &bs->b);

	if (r == -ENOENT || r == -ECONNREFUSED)
		return chan_fail(ch, r, "bus_open %s: no busd listening there (%s)",
		                 ch->cfg.socket, strerror(-r));
	if (r < 0)
		return chan_fail(ch, r, "bus_open %s: %s", ch->cfg.socket,
		                 bus_strerror(r));
	snprintf(bs->queue, sizeof(bs->queue), "busbench-%d-%u", (int)getpid(),
	         name_counter++);
	r = bus_queue_create(bs->b, bs->queue, &opts, &info);
	if (r < 0) {
		chan_fail(ch, r, "bus_queue_create %s: %s%s%s", bs->queue,
		          bus_strerror(r), *bus_last_error(bs->b) ? ": " : "",
		          bus_last_error(bs->b));
		bs->queue[0] = '\0';
		return r;
	}
	if (ch->cfg.private_busd) {
		char shm[SEG_SHM_NAME_MAX];

		/* The names busd gives the queue's files (docs/wait-protocol.md). */
		seg_shm_name(shm, seg_instance(ch->cfg.socket), bs->queue, info.uuid,
		             (uint32_t)geteuid());
		bs->busd_slot[0] = name_link_suffix(shm, "");
		bs->busd_slot[1] = name_link_suffix(shm, ".wake");
	}
	if (info.max_message < ch->cfg.size)
		return chan_fail(ch, -EMSGSIZE, "busd made queue %s with messages of "
		                                "at most %u bytes",
		                 bs->queue, info.max_message);
	return 0;
}

static int bus_setup(struct chan *ch)
{
	struct seg_params p = {
		.name = "busbench",
		.capacity = ch->cfg.capacity,
		.max_producers = ch->cfg.producers,
	};
	struct bus_side *bs = calloc(1, sizeof(*bs));
	const char *why = "";
	int r;

	if (!bs)
		return chan_fail(ch, -ENOMEM, "out of memory");
	bs->name_slot = -1;
	bs->busd_slot[0] = bs->busd_slot[1] = -1;
	bs->seg.fd = -1;
	ch->bus = bs;
	if (ch->cfg.socket)
		return setup_busd(ch, bs);

	snprintf(bs->shm_name, sizeof(bs->shm_name), "/busbench-%d-%u",
	         (int)getpid(), name_counter++);
	/* Registered before it exists: unlinking a missing name is harmless. */
	bs->name_slot = name_link(bs->shm_name);
	r = seg_create_shm(bs->shm_name, &p, &bs->seg, &why);
	if (r < 0) {
		if (bs->name_slot >= 0)
			linked_flag[bs->name_slot] = 0;
		bs->name_slot = -1;
		bs->seg.fd = -1;
		return chan_fail(ch, r, "seg_create_shm %s: %s (%s)", bs->shm_name,
		                 bus_strerror(r), why ? why : "");
	}
	return 0;
}

static void bus_attached(struct chan *ch)
{
	if (ch->bus)
		name_unlink(ch->bus);
}

static int bus_counters(struct chan *ch, struct chan_counters *out)
{
	struct bus_side *bs = ch->bus;
	bus_stats st;
	int r;

	if (ch->cfg.socket)
		r = bus_queue_stats(bs->b, bs->queue, &st);
	else
		r = bus_stats_read_fd(bs->seg.fd, &st);
	if (r < 0)
		return chan_fail(ch, r, "reading the queue's stats: %s",
		                 bus_strerror(r));
	*out = (struct chan_counters){
		.msgs = st.dequeued,
		.futex = st.consumer_wakeups + st.consumer_sleeps +
	                 st.producer_wakeups + st.blocked,
		.blocked = st.blocked,
	};
	return 0;
}

static void bus_teardown(struct chan *ch)
{
	struct bus_side *bs = ch->bus;

	if (!bs)
		return;
	if (bs->b) {
		bool deleted = bs->queue[0] && bus_queue_delete(bs->b, bs->queue) == 0;

		/* A private busd's queue that would outlive it: remove its files. */
		for (int i = 0; i < 2; i++) {
			int slot = bs->busd_slot[i];

			if (slot < 0)
				continue;
			linked_flag[slot] = 0;
			if (!deleted)
				unlink(linked_path[slot]);
		}
		bus_close(bs->b);
	}
	name_unlink(bs);
	if (bs->seg.fd >= 0)
		seg_close(&bs->seg);
	free(bs);
	ch->bus = NULL;
}

/* The spin of a handle for a mode other than WAIT_DEFAULT. */
static uint32_t spin_for(enum wait_mode w)
{
	return w == WAIT_SPIN ? UINT32_MAX : 0;
}

/* Opens the child's own file description of the segment, or -errno. */
static int open_segment(struct chan *ch)
{
	int fd = shm_open(ch->bus->shm_name, O_RDWR | O_CLOEXEC, 0);

	if (fd < 0)
		return chan_fail(ch, -errno, "shm_open %s: %s", ch->bus->shm_name,
		                 strerror(errno));
	return fd;
}

/*
 * Attaches ch's producer (or its consumer): through busd where ch has a
 * socket, else on a file description of its own.  Returns 0 or, after
 * chan_fail(), -errno.
 */
static int attach(struct chan *ch, bool producer)
{
	int fd, r;

	if (ch->cfg.socket) {
		bus *b;

		r = bus_open(ch->cfg.socket, &b);
		if (r < 0)
			return chan_fail(ch, r, "bus_open: %s", bus_strerror(r));
		r = producer ? bus_producer_open(b, ch->bus->queue, &ch->prod)
		             : bus_consumer_open(b, ch->bus->queue, &ch->cons);
		bus_close(b);
	} else {
		fd = open_segment(ch);
		if (fd < 0)
			return fd;
		r = producer ? bus_producer_open_fd(fd, &ch->prod)
		             : bus_consumer_open_fd(fd, &ch->cons);
		if (r < 0)
			close(fd);
	}
	if (r < 0)
		return chan_fail(ch, r, "attaching %s: %s",
		                 producer ? "a producer" : "the consumer", bus_strerror(r));
	return 0;
}

static int bus_tx_open(struct chan *ch)
{
	int r = attach(ch, true);

	if (r < 0)
		return r;
	/* WAIT_DEFAULT, WAIT_FD: whatever the library's handles start with. */
	if (ch->cfg.wait == WAIT_SPIN || ch->cfg.wait == WAIT_BLOCK)
		bus_producer_set_spin(ch->prod, spin_for(ch->cfg.wait));
	return 0;
}

int bus_side_client_open(struct chan *ch, bus_client **ret)
{
	bus *b;
	int r;

	if (!ch->cfg.socket)
		return chan_fail(ch, -EINVAL, "a request needs a queue busd made");
	r = bus_open(ch->cfg.socket, &b);
	if (r < 0)
		return chan_fail(ch, r, "bus_open: %s", bus_strerror(r));
	r = bus_client_open(b, ch->bus->queue, ret);
	if (r < 0)
		chan_fail(ch, r, "bus_client_open %s: %s%s%s", ch->bus->queue,
		          bus_strerror(r), *bus_last_error(b) ? ": " : "",
		          bus_last_error(b));
	else if (ch->cfg.wait == WAIT_SPIN || ch->cfg.wait == WAIT_BLOCK)
		/* The caller waits as the ping-pong's sides do. */
		bus_client_set_spin(*ret, spin_for(ch->cfg.wait));
	bus_close(b);
	return r;
}

static int bus_send_msg(struct chan *ch, const void *buf, size_t len)
{
	int r = bus_send(ch->prod, BENCH_TYPE, buf, len, -1);

	if (r < 0)
		return chan_fail(ch, r, "bus_send: %s", bus_strerror(r));
	return 0;
}

/*
 * The message built in place, as a producer that makes its message in
 * the ring would: the header stored from the loop's, the body (bytes
 * 0xa5, as the loop's buffer holds) filled.
 */
static int bus_loan_send_msg(struct chan *ch, const void *buf, size_t len)
{
	void *rec;
	int r = bus_send_reserve(ch->prod, len, -1, &rec);

	if (r < 0)
		return chan_fail(ch, r, "bus_send_reserve: %s", bus_strerror(r));
	/* MSG_MIN <= len: the header fits. */
	memcpy(rec, buf, sizeof(struct msg_hdr));
	memset((uint8_t *)rec + sizeof(struct msg_hdr), 0xa5, len - sizeof(struct msg_hdr));
	r = bus_send_commit(ch->prod, BENCH_TYPE, len);
	if (r < 0)
		return chan_fail(ch, r, "bus_send_commit: %s", bus_strerror(r));
	return 0;
}

/* WAIT_FD: an epoll instance watching the consumer's wake descriptor. */
static int watch_fd(struct chan *ch)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int fd = bus_consumer_fd(ch->cons);

	if (fd < 0)
		return chan_fail(ch, fd, "bus_consumer_fd: %s", bus_strerror(fd));
	ch->ep = epoll_create1(EPOLL_CLOEXEC);
	if (ch->ep < 0)
		return chan_fail(ch, -errno, "epoll_create1: %s", strerror(errno));
	ev.data.fd = fd;
	if (epoll_ctl(ch->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		return chan_fail(ch, -errno, "epoll_ctl: %s", strerror(errno));
	return 0;
}

static int bus_rx_open(struct chan *ch)
{
	int r;

	ch->msgs = calloc(BENCH_BATCH, sizeof(*ch->msgs));
	if (!ch->msgs)
		return chan_fail(ch, -ENOMEM, "out of memory");
	r = attach(ch, false);
	if (r < 0)
		return r;
	if (ch->cfg.wait == WAIT_FD)
		return watch_fd(ch);
	if (ch->cfg.wait != WAIT_DEFAULT)
		bus_consumer_set_spin(ch->cons, spin_for(ch->cfg.wait));
	return 0;
}

static int bus_recv_msgs(struct chan *ch, struct view *v, int max)
{
	/* WAIT_FD: never wait in the library; the loop sleeps in epoll. */
	int timeout = ch->ep >= 0 ? 0 : -1;
	int n;

	for (;;) {
		struct epoll_event ev;

		if (max == 1) {
			n = bus_recv(ch->cons, &ch->msgs[0], timeout);
			if (n == 0)
				n = 1;
		} else {
			n = bus_recv_batch(ch->cons, ch->msgs, (size_t)max, timeout);
		}
		if (n != -EAGAIN || timeout != 0)
			break;
		/* Empty, and the descriptor armed: sleep until it is readable. */
		while (epoll_wait(ch->ep, &ev, 1, -1) < 0)
			if (errno != EINTR)
				return chan_fail(ch, -errno, "epoll_wait: %s",
				                 strerror(errno));
	}
	if (n < 0)
		return chan_fail(ch, n, "bus_recv: %s", bus_strerror(n));
	for (int i = 0; i < n; i++) {
		if (ch->msgs[i].type != BENCH_TYPE)
			return chan_fail(ch, -EBADMSG, "message of type %u, expected %u",
			                 ch->msgs[i].type, BENCH_TYPE);
		v[i] = (struct view){ch->msgs[i].data, ch->msgs[i].len};
	}
	return n;
}

static void bus_release_msgs(struct chan *ch)
{
	bus_release(ch->cons);
}

static void bus_close_end(struct chan *ch)
{
	bus_producer_close(ch->prod);
	bus_consumer_close(ch->cons);
	ch->prod = NULL;
	ch->cons = NULL;
	if (ch->ep >= 0)
		close(ch->ep);
	ch->ep = -1;
	free(ch->msgs);
	ch->msgs = NULL;
}

/*
 * What both rows share: the same queue, receiver and counters.  (Kept a
 * few fields a line by hand: clang-format would give each its own.)
 */
/* clang-format off */
#define BUS_ROW \
	.throughput = true, .multi_producer = true, .has_size = true, \
	.unsupported = bus_unsupported, .setup = bus_setup, \
	.attached = bus_attached, .counters = bus_counters, \
	.teardown = bus_teardown, .tx_open = bus_tx_open, \
	.rx_open = bus_rx_open, .recv = bus_recv_msgs, \
	.release = bus_release_msgs, .close = bus_close_end
/* clang-format on */

const struct transport tp_bus = {
	BUS_ROW,
	.name = "bus",
	.what = "the bus: bus_send / bus_recv(_batch) + bus_release on a queue segment",
	.waits = 1u << WAIT_SPIN | 1u << WAIT_DEFAULT | 1u << WAIT_BLOCK |
                 1u << WAIT_FD,
	.send = bus_send_msg,
};

/* The same queue and receiver; sends through the loan API. */
const struct transport tp_bus_loan = {
	BUS_ROW,
	.name = "bus-loan",
	.what = "the bus through the loan API: bus_send_reserve, the message written "
		"in place, bus_send_commit",
	/* Throughput only: a round trip through a loan is bus's own. */
	.waits = 0,
	.send = bus_loan_send_msg,
};

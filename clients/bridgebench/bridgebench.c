/*
 * bridgebench.c - the benchmark of busbridge: N messages of SIZE bytes
 * carried through NATS JetStream, timed end to end, one row per run.
 *
 *   --baseline  plain libnats, the work a bridge pair does without bus:
 *               one thread (its own connection) publishes with
 *               js_PublishAsync, at most --window in flight; another (its
 *               own connection) fetches --batch at a time from a durable
 *               pull consumer and acks each message.
 *   --bridge    bus on both ends: a producer thread sends into queue A of
 *               the busd at --socket-a, a busbridge exports A to the
 *               subject, a second busbridge imports the subject into queue
 *               B of the busd at --socket-b, and a consumer thread
 *               receives from B.  bridgebench starts both busbridges
 *               (after it made the stream) and stops them.
 *
 * Both modes use the same stream (file storage, the subject alone,
 * the duplicate window busbridge gives a stream it creates), made fresh
 * by bridgebench for each run and deleted after it, and the same
 * consumer settings (explicit acks, MaxAckPending 2 x batch), so that a
 * ratio of the two rows measures what the bridges cost.
 *
 * Every payload starts with its sequence number and the CLOCK_MONOTONIC
 * time of its send; the receiver checks every message's size and
 * sequence (a lost, repeated or reordered message fails the run) and
 * takes its latency, send to receive.  A warm-up (--warmup messages, not
 * counted) must come through before the clock starts: connections,
 * stream and consumers are up by then.  msgs/s = N / (last receive -
 * first counted send).
 *
 * The four threads (baseline and bridge, producer and consumer) open
 * and end alike on purpose: each reads whole, from its connection to
 * the flag that says it is done.
 *
 * Exit status: 0 the run passed (timings never change it), 1 it failed,
 * 2 bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bus/bus.h>
#include <nats/nats.h>

#include "util/num.h"
#include "util/nstime.h"

#define PROG "bridgebench"

#define HDR_BYTES        16 /* sequence number and send time */
#define MAX_SIZE         (1u << 20)
#define MAX_MESSAGES     UINT64_C(100000000)
#define DUP_WINDOW_NS    (INT64_C(120) * 1000000000) /* busbridge's default */
#define ACK_WAIT_NS      (INT64_C(30) * 1000000000)  /* busbridge's */
#define FETCH_TIMEOUT_MS 500
#define BUS_TIMEOUT_MS   200
#define WARM_TIMEOUT_S   30
#define STOP_TIMEOUT_MS  10000
#define MAX_BRIDGE_OPTS  16

enum mode {
	MODE_NONE,
	MODE_BASELINE,
	MODE_BRIDGE,
};

enum ack_style {
	ACK_EACH, /* explicit policy, natsMsg_Ack on every message (busbridge's) */
	ACK_LAST, /* AckAll policy, natsMsg_Ack on the last message of a batch */
};

struct options {
	enum mode mode;
	const char *nats_url;
	const char *stream;
	const char *subject;
	const char *durable;
	uint64_t size;
	uint64_t messages;
	uint64_t warmup;
	uint64_t window;
	uint64_t batch;
	uint64_t rate;    /* messages per second, 0: as fast as possible */
	uint64_t timeout; /* seconds for the counted messages */
	bool asap_pub;    /* baseline: SendAsap on the publisher's connection */
	bool asap_sub;    /* baseline: on the consumer's */
	bool headers;     /* baseline: busbridge's headers and Nats-Msg-Id */
	bool stop_wait;   /* baseline: publish a window, wait for its acks */
	enum ack_style ack;
	bool json;
	pid_t server_pid; /* the server's CPU time is reported, 0: not */
	/* bridge mode */
	const char *socket_a, *socket_b;
	const char *queue_a, *queue_b;
	const char *busbridge;
	const char *bridge_opts[MAX_BRIDGE_OPTS];
	int nbridge_opts;
};

static struct options opt = {
	.nats_url = "nats://127.0.0.1:4222",
	.stream = "BRIDGEBENCH",
	.subject = "bridgebench.data",
	.durable = "bridgebench",
	.size = 64,
	.messages = 100000,
	.warmup = 1000,
	.window = 1024,
	.batch = 256,
	.timeout = 300,
	.ack = ACK_EACH,
};

/* --- what the threads share --- */

static struct {
	atomic_bool stop;      /* a failure or the deadline: every thread ends */
	atomic_bool warm_done; /* the consumer received every warm-up message */
	atomic_bool prod_done, cons_done;
	_Atomic uint64_t t_start;    /* first counted send (CLOCK_MONOTONIC ns) */
	uint64_t t_end;              /* last receive, written by the consumer */
	uint64_t *lat;               /* ns, one per counted message */
	double cpu_self, cpu_server; /* over the run, s; cpu_server -1: unknown */
	pthread_mutex_t err_lock;
	char err[512]; /* the first failure */
} sh = {.err_lock = PTHREAD_MUTEX_INITIALIZER};

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static double tv_s(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/* This process's CPU time (every thread's, libnats's too), in seconds. */
static double self_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return tv_s(&ru.ru_utime) + tv_s(&ru.ru_stime);
}

/* The CPU time of process pid (--server-pid) in seconds, or -1. */
static double proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* after "pid (comm) ", whose comm may hold anything but ends at the last ')' */
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	p += 2;
	/* state is field 3; utime and stime are fields 14 and 15 */
	for (int field = 3; field < 14 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p)
		return -1;
	errno = 0;
	ut = strtoull(p, &p, 10);
	if (errno || *p != ' ')
		return -1;
	st = strtoull(p + 1, &p, 10);
	if (errno)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Records the first failure and stops every thread. */
__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&sh.err_lock);
	if (!sh.err[0]) {
		va_start(ap, fmt);
		vsnprintf(sh.err, sizeof(sh.err), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&sh.err_lock);
	atomic_store(&sh.stop, true);
}

static bool stopped(void)
{
	return atomic_load_explicit(&sh.stop, memory_order_relaxed);
}

/* libnats's words for s, with the last error's detail where it has one. */
static const char *nats_text(natsStatus s)
{
	const char *t = nats_GetLastError(NULL);

	return t && t[0] ? t : natsStatus_GetText(s);
}

/* --- payloads --- */

static void put_u64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/*
 * Checks message i's size and sequence; for a counted one, stores its
 * latency.  Returns true if the run goes on (false after the last one or
 * a failure, which it records).
 */
static bool consume(uint64_t *next, const void *data, size_t len)
{
	const uint64_t total = opt.warmup + opt.messages;
	uint64_t seq, t = nstime_mono();

	if (len != opt.size) {
		fail("message %" PRIu64 ": %zu bytes, expected %" PRIu64, *next, len,
		     opt.size);
		return false;
	}
	seq = get_u64(data);
	if (seq != *next) {
		fail("message %" PRIu64 " arrived where %" PRIu64 " was expected "
		     "(lost, repeated or reordered)",
		     seq, *next);
		return false;
	}
	if (seq >= opt.warmup)
		sh.lat[seq - opt.warmup] = t - get_u64((const unsigned char *)data + 8);
	*next = seq + 1;
	if (*next == opt.warmup)
		atomic_store(&sh.warm_done, true);
	if (*next == total) {
		sh.t_end = t;
		return false;
	}
	return true;
}

/*
 * The producer's pace: message i (counting from the first counted one)
 * leaves at t_start + i / rate, and the warm-up waits for the consumer.
 * Returns false if the run stopped meanwhile.
 */
static bool producer_gate(uint64_t i)
{
	if (i == opt.warmup) {
		while (!atomic_load(&sh.warm_done)) {
			if (stopped())
				return false;
			sleep_ms(1);
		}
		atomic_store(&sh.t_start, nstime_mono());
	}
	if (opt.rate && i > opt.warmup) {
		uint64_t due = atomic_load(&sh.t_start) +
		               (i - opt.warmup) * UINT64_C(1000000000) / opt.rate;
		struct timespec ts = {(time_t)(due / 1000000000u),
		                      (long)(due % 1000000000u)};

		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
	}
	return true;
}

static void fill(unsigned char *buf, uint64_t i)
{
	put_u64(buf, i);
	put_u64(buf + 8, nstime_mono());
}

/* --- NATS --- */

/*
 * The nats.c client's idiom of chained status checks, alike in form to
 * busbridge's (natsconn.c); bridgebench sets its own options.
 */
static natsStatus nats_connect(natsConnection **nc, const char *name, bool asap)
{
	natsOptions *no = NULL;
	natsStatus s = natsOptions_Create(&no);

	if (s == NATS_OK)
		s = natsOptions_SetURL(no, opt.nats_url);
	if (s == NATS_OK)
		s = natsOptions_SetName(no, name);
	if (s == NATS_OK)
		s = natsOptions_SetAllowReconnect(no, false);
	if (s == NATS_OK)
		s = natsOptions_SetSendAsap(no, asap);
	if (s == NATS_OK)
		s = natsConnection_Connect(nc, no);
	natsOptions_Destroy(no);
	return s;
}

/* Deletes the stream (a missing one is fine). */
static int stream_delete(jsCtx *js)
{
	jsErrCode jerr = 0;
	natsStatus s = js_DeleteStream(js, opt.stream, NULL, &jerr);

	if (s != NATS_OK && s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr) {
		fprintf(stderr, PROG ": cannot delete stream %s: %s\n", opt.stream,
		        nats_text(s));
		return -1;
	}
	return 0;
}

/*
 * A fresh stream: the subject alone, file storage, busbridge's duplicate
 * window, the rest the server's defaults (what busbridge creates).
 */
static int stream_fresh(jsCtx *js)
{
	const char *subjects[1] = {opt.subject};
	jsStreamConfig cfg;
	jsErrCode jerr = 0;
	natsStatus s;

	if (stream_delete(js) < 0)
		return -1;
	jsStreamConfig_Init(&cfg);
	cfg.Name = opt.stream;
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.Storage = js_FileStorage;
	cfg.Duplicates = DUP_WINDOW_NS;
	s = js_AddStream(NULL, js, &cfg, NULL, &jerr);
	if (s != NATS_OK) {
		fprintf(stderr, PROG ": cannot create stream %s: %s\n", opt.stream,
		        nats_text(s));
		return -1;
	}
	return 0;
}

/* busbridge's import consumer, as the baseline's consumer. */
static int consumer_create(jsCtx *js)
{
	jsConsumerConfig cc;
	jsErrCode jerr = 0;
	natsStatus s;

	jsConsumerConfig_Init(&cc);
	cc.Durable = opt.durable;
	cc.FilterSubject = opt.subject;
	cc.DeliverPolicy = js_DeliverAll;
	cc.AckPolicy = opt.ack == ACK_LAST ? js_AckAll : js_AckExplicit;
	cc.AckWait = ACK_WAIT_NS;
	cc.MaxAckPending = (int64_t)(2 * opt.batch);
	cc.MaxDeliver = -1;
	s = js_AddConsumer(NULL, js, opt.stream, &cc, NULL, &jerr);
	if (s != NATS_OK) {
		fprintf(stderr, PROG ": cannot create consumer %s: %s\n", opt.durable,
		        nats_text(s));
		return -1;
	}
	return 0;
}

/* --- the baseline's threads --- */

static void pub_error(jsCtx *js, jsPubAckErr *pae, void *closure)
{
	(void)js;
	(void)closure;
	fail("publish failed: %s", pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err));
}

/* Waits for every publish's ack, a slice at a time so a stop is seen. */
static bool pub_complete(jsCtx *js)
{
	jsPubOptions po;

	jsPubOptions_Init(&po);
	po.MaxWait = 200;
	for (;;) {
		natsStatus s = js_PublishAsyncComplete(js, &po);

		if (s == NATS_OK)
			return true;
		if (s != NATS_TIMEOUT) {
			fail("waiting for publish acks: %s", nats_text(s));
			return false;
		}
		if (stopped())
			return false;
	}
}

/* One message with the header and the message id busbridge sets. */
static natsStatus pub_with_headers(jsCtx *js, const unsigned char *buf, uint64_t i)
{
	char id[96];
	natsMsg *m = NULL;
	jsPubOptions po;
	natsStatus s;
	uint64_t enq = get_u64(buf + 8);

	snprintf(id, sizeof(id), "0123456789abcdef0123456789abcdef-0-%" PRIu64 "-%" PRIu64,
	         i, enq);
	s = natsMsg_Create(&m, opt.subject, NULL, (const char *)buf, (int)opt.size);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, "Bus-Type", "0");
	jsPubOptions_Init(&po);
	po.MsgId = id;
	while (s == NATS_OK || s == NATS_TIMEOUT) {
		s = js_PublishMsgAsync(js, &m, &po);
		if (s != NATS_TIMEOUT || stopped())
			break;
	}
	natsMsg_Destroy(m);
	return s;
}

static void *baseline_producer(void *arg)
{
	const uint64_t total = opt.warmup + opt.messages;
	natsConnection *nc = NULL;
	unsigned char *buf = calloc(1, opt.size);
	jsCtx *js = NULL;
	jsOptions jo;
	natsStatus s;

	(void)arg;
	if (!buf) {
		fail("out of memory");
		goto out;
	}
	memset(buf + HDR_BYTES, 'x', opt.size - HDR_BYTES);
	s = nats_connect(&nc, PROG "-pub", opt.asap_pub);
	if (s != NATS_OK) {
		fail("publisher: cannot connect to %s: %s", opt.nats_url, nats_text(s));
		goto out;
	}
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = (int64_t)opt.window;
	jo.PublishAsync.ErrHandler = pub_error;
	s = natsConnection_JetStream(&js, nc, &jo);
	if (s != NATS_OK) {
		fail("publisher: %s", nats_text(s));
		goto out;
	}
	for (uint64_t i = 0; i < total && !stopped(); i++) {
		if (i == opt.warmup && !pub_complete(js))
			break;
		if (!producer_gate(i))
			break;
		fill(buf, i);
		if (opt.headers) {
			s = pub_with_headers(js, buf, i);
		} else {
			/* MaxPending reached: NATS_TIMEOUT after StallWait, nothing sent */
			do
				s = js_PublishAsync(js, opt.subject, buf, (int)opt.size, NULL);
			while (s == NATS_TIMEOUT && !stopped());
		}
		if (s != NATS_OK) {
			if (!stopped())
				fail("publish %" PRIu64 ": %s", i, nats_text(s));
			break;
		}
		if (opt.stop_wait && (i + 1) % opt.window == 0 && !pub_complete(js))
			break;
	}
	if (!stopped())
		pub_complete(js);
out:
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	free(buf);
	atomic_store(&sh.prod_done, true);
	return NULL;
}

static void *baseline_consumer(void *arg)
{
	natsConnection *nc = NULL;
	natsSubscription *sub = NULL;
	jsCtx *js = NULL;
	jsSubOptions so;
	jsErrCode jerr = 0;
	uint64_t next = 0;
	bool more = true;
	natsStatus s;

	(void)arg;
	s = nats_connect(&nc, PROG "-sub", opt.asap_sub);
	if (s == NATS_OK)
		s = natsConnection_JetStream(&js, nc, NULL);
	if (s != NATS_OK) {
		fail("consumer: cannot connect to %s: %s", opt.nats_url, nats_text(s));
		goto out;
	}
	jsSubOptions_Init(&so);
	so.Stream = opt.stream;
	so.Consumer = opt.durable;
	s = js_PullSubscribe(&sub, js, opt.subject, opt.durable, NULL, &so, &jerr);
	if (s != NATS_OK) {
		fail("consumer: cannot subscribe: %s", nats_text(s));
		goto out;
	}
	while (more && !stopped()) {
		natsMsgList list = {0};

		s = natsSubscription_Fetch(&list, sub, (int)opt.batch, FETCH_TIMEOUT_MS, &jerr);
		if (s == NATS_TIMEOUT)
			continue;
		if (s != NATS_OK) {
			fail("fetch: %s", nats_text(s));
			break;
		}
		for (int i = 0; i < list.Count && more; i++) {
			natsMsg *m = list.Msgs[i];

			more = consume(&next, natsMsg_GetData(m),
			               (size_t)natsMsg_GetDataLength(m));
			if (opt.ack == ACK_EACH || i == list.Count - 1 || !more)
				s = natsMsg_Ack(m, NULL);
			if (s != NATS_OK) {
				fail("ack: %s", nats_text(s));
				more = false;
			}
		}
		natsMsgList_Destroy(&list);
	}
	if (!stopped())
		natsConnection_Flush(nc); /* the last acks */
out:
	natsSubscription_Destroy(sub);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	atomic_store(&sh.cons_done, true);
	return NULL;
}

/* --- the bridge's threads: bus on both ends --- */

static void *bridge_producer(void *arg)
{
	const uint64_t total = opt.warmup + opt.messages;
	unsigned char *buf = calloc(1, opt.size);
	bus_producer *p = NULL;
	bus *b = NULL;
	int r;

	(void)arg;
	if (!buf) {
		fail("out of memory");
		goto out;
	}
	memset(buf + HDR_BYTES, 'x', opt.size - HDR_BYTES);
	if ((r = bus_open(opt.socket_a, &b)) < 0 ||
	    (r = bus_producer_open(b, opt.queue_a, &p)) < 0) {
		fail("producer: queue %s at %s: %s", opt.queue_a, opt.socket_a,
		     bus_strerror(r));
		goto out;
	}
	for (uint64_t i = 0; i < total && producer_gate(i); i++) {
		fill(buf, i);
		while ((r = bus_send(p, 0, buf, opt.size, BUS_TIMEOUT_MS)) == -ETIMEDOUT &&
		       !stopped())
			;
		if (r < 0) {
			if (!stopped())
				fail("send %" PRIu64 " into %s: %s", i, opt.queue_a, bus_strerror(r));
			break;
		}
	}
out:
	bus_producer_close(p);
	bus_close(b);
	free(buf);
	atomic_store(&sh.prod_done, true);
	return NULL;
}

static void *bridge_consumer(void *arg)
{
	bus_msg msgs[256];
	bus_consumer *c = NULL;
	bus *b = NULL;
	uint64_t next = 0;
	bool more = true;
	int r;

	(void)arg;
	if ((r = bus_open(opt.socket_b, &b)) < 0 ||
	    (r = bus_consumer_open(b, opt.queue_b, &c)) < 0) {
		fail("consumer: queue %s at %s: %s", opt.queue_b, opt.socket_b,
		     bus_strerror(r));
		goto out;
	}
	while (more && !stopped()) {
		int n = bus_recv_batch(c, msgs, sizeof(msgs) / sizeof(msgs[0]), BUS_TIMEOUT_MS);

		if (n == -ETIMEDOUT)
			continue;
		if (n < 0) {
			fail("receive from %s: %s", opt.queue_b, bus_strerror(n));
			break;
		}
		for (int i = 0; i < n && more; i++)
			more = consume(&next, msgs[i].data, msgs[i].len);
		bus_release(c);
	}
out:
	bus_consumer_close(c);
	bus_close(b);
	atomic_store(&sh.cons_done, true);
	return NULL;
}

/* --- the busbridges --- */

struct bridge {
	const char *what; /* "export", "import" */
	pid_t pid;
	double cpu_s;       /* user + system time, once it exited */
	char dir[PATH_MAX]; /* its state directory, and its log */
};

static struct bridge bridges[2] = {{.what = "export"}, {.what = "import"}};
static char tmpdir[PATH_MAX / 2]; /* holds the bridges' directories */

/* Ends the bridges at once: the signal path and the child's death. */
static void bridges_kill(void)
{
	for (int i = 0; i < 2; i++)
		if (bridges[i].pid > 0)
			kill(bridges[i].pid, SIGKILL);
}

static void on_signal(int sig)
{
	bridges_kill();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int bridge_start(struct bridge *br, const char *sock, const char *flag,
                        const char *route, const char *tuning, const char *value)
{
	char log[PATH_MAX + 16];
	const char *argv[32 + MAX_BRIDGE_OPTS];
	pid_t parent = getpid();
	int n = 0, fd;

	snprintf(br->dir, sizeof(br->dir), "%s/%s", tmpdir, br->what);
	if (mkdir(br->dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, PROG ": mkdir %s: %s\n", br->dir, strerror(errno));
		return -1;
	}
	snprintf(log, sizeof(log), "%s/log", br->dir);
	argv[n++] = opt.busbridge;
	argv[n++] = "--socket";
	argv[n++] = sock;
	argv[n++] = "--nats";
	argv[n++] = opt.nats_url;
	argv[n++] = "--stream";
	argv[n++] = opt.stream;
	argv[n++] = "--state-dir";
	argv[n++] = br->dir;
	argv[n++] = flag;
	argv[n++] = route;
	argv[n++] = tuning;
	argv[n++] = value;
	for (int i = 0; i < opt.nbridge_opts; i++)
		argv[n++] = opt.bridge_opts[i];
	argv[n] = NULL;

	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, PROG ": %s: %s\n", log, strerror(errno));
		return -1;
	}
	br->pid = fork();
	if (br->pid < 0) {
		fprintf(stderr, PROG ": fork: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	if (br->pid == 0) {
		/* dies with bridgebench, whatever kills it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		execvp(opt.busbridge, (char *const *)argv);
		fprintf(stderr, PROG ": cannot run %s: %s\n", opt.busbridge, strerror(errno));
		_exit(127);
	}
	close(fd);
	return 0;
}

/* The tail of a bridge's log on stderr, when a run failed. */
static void bridge_log(const struct bridge *br)
{
	char path[PATH_MAX + 16], line[1024];
	long lines = 0, skip;
	FILE *f;

	snprintf(path, sizeof(path), "%s/log", br->dir);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		lines++;
	skip = lines > 20 ? lines - 20 : 0;
	rewind(f);
	fprintf(stderr, PROG ": the %s busbridge's log (last %ld lines):\n", br->what,
	        lines - skip);
	for (long i = 0; fgets(line, sizeof(line), f); i++)
		if (i >= skip)
			fprintf(stderr, "  %s", line);
	fclose(f);
}

/* A bridge that exited during the run fails it. */
static void bridges_check(void)
{
	for (int i = 0; i < 2; i++) {
		int st;

		if (bridges[i].pid <= 0 || waitpid(bridges[i].pid, &st, WNOHANG) != bridges[i].pid)
			continue;
		bridges[i].pid = 0;
		fail("the %s busbridge exited during the run (%s %d)", bridges[i].what,
		     WIFEXITED(st) ? "status" : "signal",
		     WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	}
}

/* SIGTERM, then up to STOP_TIMEOUT_MS for a clean exit (0). */
static int bridge_stop(struct bridge *br)
{
	int st = 0, waited = 0;
	struct rusage ru = {0};
	pid_t r = 0;

	if (br->pid <= 0)
		return -1;
	kill(br->pid, SIGTERM);
	while ((r = wait4(br->pid, &st, WNOHANG, &ru)) == 0 && waited < STOP_TIMEOUT_MS) {
		sleep_ms(10);
		waited += 10;
	}
	if (r == 0) {
		kill(br->pid, SIGKILL);
		wait4(br->pid, &st, 0, &ru);
		br->pid = 0;
		fprintf(stderr, PROG ": the %s busbridge did not stop within %d ms of "
		                     "SIGTERM: killed\n",
		        br->what, STOP_TIMEOUT_MS);
		return -1;
	}
	br->pid = 0;
	br->cpu_s = tv_s(&ru.ru_utime) + tv_s(&ru.ru_stime);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, PROG ": the %s busbridge stopped with %s %d\n", br->what,
		        WIFEXITED(st) ? "status" : "signal",
		        WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		return -1;
	}
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int type,
                      struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((type == FTW_DP ? rmdir(path) : unlink(path)) < 0)
		fprintf(stderr, PROG ": cannot remove %s: %s\n", path, strerror(errno));
	return 0;
}

/* Removes the bridges' directories (state files, logs) and tmpdir. */
static void remove_tree(void)
{
	if (tmpdir[0])
		nftw(tmpdir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = '\0';
}

/* --- the command line --- */

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: " PROG " --baseline [OPTION]...\n"
	        "       " PROG " --bridge --socket-a PATH --queue-a QUEUE\n"
	        "                   --socket-b PATH --queue-b QUEUE [OPTION]...\n"
	        "\n"
	        "Carries N messages of SIZE bytes through NATS JetStream and prints one\n"
	        "row: msgs/s from the first counted send to the last receive, and the\n"
	        "latency of each message, send to receive (p50, p99, max).\n"
	        "\n"
	        "  --baseline          plain libnats: a thread publishes with\n"
	        "                      js_PublishAsync (at most --window in flight),\n"
	        "                      another fetches --batch at a time from a durable\n"
	        "                      pull consumer and acks each message; each thread\n"
	        "                      has its own connection\n"
	        "  --bridge            bus_send into queue A, a busbridge exporting A to\n"
	        "                      the subject, a busbridge importing it into queue\n"
	        "                      B, bus_recv_batch from B; both busbridges are\n"
	        "                      started by " PROG " and stopped at the end\n"
	        "\n"
	        "Both modes:\n"
	        "  --nats URL          the server (default nats://127.0.0.1:4222)\n"
	        "  --stream NAME       the stream, deleted if present, made fresh (file\n"
	        "                      storage, the subject alone, a 120 s duplicate\n"
	        "                      window) and deleted at the end (default BRIDGEBENCH)\n"
	        "  --subject SUBJECT   (default bridgebench.data)\n"
	        "  --durable NAME      the pull consumer's name (default bridgebench)\n"
	        "  --size BYTES        payload size, 16 to 1M; K, M suffixes (default 64)\n"
	        "  --messages N        counted messages, 1 to 10^8 (default 100000)\n"
	        "  --warmup N          messages sent and received before the clock starts,\n"
	        "                      1 to 10^8 (default 1000)\n"
	        "  --window N          publishes in flight, 1 to 65536: the baseline's\n"
	        "                      MaxPending, busbridge's --window (default 1024)\n"
	        "  --batch N           fetch batch, 1 to 4096: the baseline's, busbridge's\n"
	        "                      --batch; MaxAckPending is 2 x N (default 256)\n"
	        "  --rate R            send R messages a second, paced (default: as fast\n"
	        "                      as possible); with a modest rate, the latency\n"
	        "                      figures are those of an idle path, not of queues\n"
	        "  --timeout S         give up S seconds after the clock started\n"
	        "                      (default 300); the warm-up has 30 s\n"
	        "  --json              print the row as one JSON object\n");
	fprintf(f,
	        "  --server-pid PID    also report the CPU time of process PID (the NATS\n"
	        "                      server) during the run\n"
	        "\n");
	fprintf(f, "Baseline only:\n"
	           "  --send-asap WHICH   natsOptions_SetSendAsap on the connection of the\n"
	           "                      pub(lisher), the sub(scriber), both or none (default)\n"
	           "  --headers           publish with the headers and the Nats-Msg-Id that\n"
	           "                      busbridge adds (js_PublishMsgAsync), the same bytes\n"
	           "                      on the wire and the same duplicate tracking\n"
	           "  --stop-and-wait     publish a window, wait for all its acks, and so on\n"
	           "                      (busbridge's export loop) instead of a sliding window\n"
	           "  --ack STYLE         each: explicit policy, every message acked (default,\n"
	           "                      busbridge's); last: AckAll policy, the last message of\n"
	           "                      each fetch acked\n"
	           "\n"
	           "Bridge only:\n"
	           "  --socket-a PATH     busd of the sending side; --queue-a QUEUE its queue\n"
	           "  --socket-b PATH     busd of the receiving side; --queue-b QUEUE its queue\n"
	           "                      (both queues must exist, be empty and have no\n"
	           "                      consumer; make them hold 2 x --window messages)\n"
	           "  --busbridge PATH    the daemon to run (default: $BUSBRIDGE, else\n"
	           "                      busbridge from PATH)\n"
	           "  --bridge-opt ARG    one more argument for both busbridges (up to %d)\n"
	           "\n"
	           "  -h, --help          print this help and exit\n"
	           "\n"
	           "Besides the figures, the row has the CPU time (user + system) of the run:\n"
	           "this process (every thread, libnats's too), each busbridge, and the\n"
	           "server with --server-pid.  On a machine with few cores the ratio is\n"
	           "mostly a matter of CPU: the server takes most of a core.\n"
	           "\n"
	           "Each busbridge gets a state directory of its own in a new directory under\n"
	           "$TMPDIR (or /tmp), removed at the end, with its log: the export one\n"
	           "--export QUEUE_A:SUBJECT --window N, the import one --import\n"
	           "SUBJECT:QUEUE_B:DURABLE --batch N.  A busbridge that exits early, a lost,\n"
	           "repeated or reordered message, a failed publish or a timeout fails the\n"
	           "run; the busbridges' logs are then shown.\n"
	           "\n"
	           "Exit status: 0 the run passed, 1 it failed, 2 bad usage.  Timings never\n"
	           "change the exit status.\n",
	        MAX_BRIDGE_OPTS);
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see --help)\n");
	return 2;
}

static int parse_num(const char *name, const char *s, bool sizes, uint64_t min,
                     uint64_t max, uint64_t *ret)
{
	uint64_t v;
	int r = sizes ? num_parse_size(s, &v) : num_parse_u64(s, &v);

	if (r < 0 || v < min || v > max)
		return usage_error("invalid %s '%s': a whole number from %" PRIu64
		                   " to %" PRIu64,
		                   name, s, min, max);
	*ret = v;
	return 0;
}

enum {
	OPT_BASELINE = 256,
	OPT_BRIDGE,
	OPT_NATS,
	OPT_STREAM,
	OPT_SUBJECT,
	OPT_DURABLE,
	OPT_SIZE,
	OPT_MESSAGES,
	OPT_WARMUP,
	OPT_WINDOW,
	OPT_BATCH,
	OPT_RATE,
	OPT_TIMEOUT,
	OPT_JSON,
	OPT_SERVER_PID,
	OPT_ASAP,
	OPT_HEADERS,
	OPT_STOP_WAIT,
	OPT_ACK,
	OPT_SOCKET_A,
	OPT_SOCKET_B,
	OPT_QUEUE_A,
	OPT_QUEUE_B,
	OPT_BUSBRIDGE,
	OPT_BRIDGE_OPT,
};

/* Returns 0, 2 (bad usage) or -1 (--help printed). */
static int parse_options(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"baseline", no_argument, NULL, OPT_BASELINE},
		{"bridge", no_argument, NULL, OPT_BRIDGE},
		{"nats", required_argument, NULL, OPT_NATS},
		{"stream", required_argument, NULL, OPT_STREAM},
		{"subject", required_argument, NULL, OPT_SUBJECT},
		{"durable", required_argument, NULL, OPT_DURABLE},
		{"size", required_argument, NULL, OPT_SIZE},
		{"messages", required_argument, NULL, OPT_MESSAGES},
		{"warmup", required_argument, NULL, OPT_WARMUP},
		{"window", required_argument, NULL, OPT_WINDOW},
		{"batch", required_argument, NULL, OPT_BATCH},
		{"rate", required_argument, NULL, OPT_RATE},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"json", no_argument, NULL, OPT_JSON},
		{"server-pid", required_argument, NULL, OPT_SERVER_PID},
		{"send-asap", required_argument, NULL, OPT_ASAP},
		{"headers", no_argument, NULL, OPT_HEADERS},
		{"stop-and-wait", no_argument, NULL, OPT_STOP_WAIT},
		{"ack", required_argument, NULL, OPT_ACK},
		{"socket-a", required_argument, NULL, OPT_SOCKET_A},
		{"socket-b", required_argument, NULL, OPT_SOCKET_B},
		{"queue-a", required_argument, NULL, OPT_QUEUE_A},
		{"queue-b", required_argument, NULL, OPT_QUEUE_B},
		{"busbridge", required_argument, NULL, OPT_BUSBRIDGE},
		{"bridge-opt", required_argument, NULL, OPT_BRIDGE_OPT},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	bool baseline_only = false;
	int c, r = 0;

	opterr = 0;
	while (r == 0 && (c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_BASELINE:
		case OPT_BRIDGE:
			if (opt.mode != MODE_NONE)
				return usage_error("give one of --baseline and --bridge, once");
			opt.mode = c == OPT_BASELINE ? MODE_BASELINE : MODE_BRIDGE;
			break;
		case OPT_NATS:
			opt.nats_url = optarg;
			break;
		case OPT_STREAM:
			opt.stream = optarg;
			break;
		case OPT_SUBJECT:
			opt.subject = optarg;
			break;
		case OPT_DURABLE:
			opt.durable = optarg;
			break;
		case OPT_SIZE:
			r = parse_num("size", optarg, true, HDR_BYTES, MAX_SIZE, &opt.size);
			break;
		case OPT_MESSAGES:
			r = parse_num("message count", optarg, false, 1, MAX_MESSAGES,
			              &opt.messages);
			break;
		case OPT_WARMUP:
			r = parse_num("warm-up count", optarg, false, 1, MAX_MESSAGES,
			              &opt.warmup);
			break;
		case OPT_WINDOW:
			r = parse_num("window", optarg, false, 1, 65536, &opt.window);
			break;
		case OPT_BATCH:
			r = parse_num("batch", optarg, false, 1, 4096, &opt.batch);
			break;
		case OPT_RATE:
			r = parse_num("rate", optarg, false, 1, 100000000, &opt.rate);
			break;
		case OPT_TIMEOUT:
			r = parse_num("timeout", optarg, false, 1, 86400, &opt.timeout);
			break;
		case OPT_JSON:
			opt.json = true;
			break;
		case OPT_SERVER_PID: {
			uint64_t v = 0;

			r = parse_num("server pid", optarg, false, 1, INT_MAX, &v);
			opt.server_pid = (pid_t)v;
			break;
		}
		case OPT_ASAP:
			baseline_only = true;
			if (strcmp(optarg, "none") == 0) {
				opt.asap_pub = opt.asap_sub = false;
			} else if (strcmp(optarg, "pub") == 0) {
				opt.asap_pub = true;
				opt.asap_sub = false;
			} else if (strcmp(optarg, "sub") == 0) {
				opt.asap_pub = false;
				opt.asap_sub = true;
			} else if (strcmp(optarg, "both") == 0) {
				opt.asap_pub = opt.asap_sub = true;
			} else {
				return usage_error("invalid --send-asap '%s': none, pub, sub "
				                   "or both",
				                   optarg);
			}
			break;
		case OPT_HEADERS:
			baseline_only = opt.headers = true;
			break;
		case OPT_STOP_WAIT:
			baseline_only = opt.stop_wait = true;
			break;
		case OPT_ACK:
			baseline_only = true;
			if (strcmp(optarg, "each") == 0)
				opt.ack = ACK_EACH;
			else if (strcmp(optarg, "last") == 0)
				opt.ack = ACK_LAST;
			else
				return usage_error("invalid --ack '%s': each or last", optarg);
			break;
		case OPT_SOCKET_A:
			opt.socket_a = optarg;
			break;
		case OPT_SOCKET_B:
			opt.socket_b = optarg;
			break;
		case OPT_QUEUE_A:
			opt.queue_a = optarg;
			break;
		case OPT_QUEUE_B:
			opt.queue_b = optarg;
			break;
		case OPT_BUSBRIDGE:
			opt.busbridge = optarg;
			break;
		case OPT_BRIDGE_OPT:
			if (opt.nbridge_opts == MAX_BRIDGE_OPTS)
				return usage_error("at most %d --bridge-opt", MAX_BRIDGE_OPTS);
			opt.bridge_opts[opt.nbridge_opts++] = optarg;
			break;
		case 'h':
			usage(stdout);
			return -1;
		case ':':
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (r)
		return r;
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (opt.mode == MODE_NONE)
		return usage_error("give --baseline or --bridge");
	if (!opt.stream[0] || !opt.subject[0] || !opt.durable[0] || !opt.nats_url[0])
		return usage_error("empty stream, subject, durable or NATS URL");
	if (opt.mode == MODE_BRIDGE) {
		if (baseline_only)
			return usage_error("--send-asap, --headers, --stop-and-wait and --ack "
			                   "are the baseline's (the bridge's are busbridge's: "
			                   "--bridge-opt)");
		if (!opt.socket_a || !opt.socket_b || !opt.queue_a || !opt.queue_b)
			return usage_error("--bridge needs --socket-a, --queue-a, --socket-b "
			                   "and --queue-b");
		if (!bus_name_valid(opt.queue_a) || !bus_name_valid(opt.queue_b))
			return usage_error("invalid queue name");
		if (!opt.busbridge) {
			const char *env = getenv("BUSBRIDGE");

			opt.busbridge = env && env[0] ? env : "busbridge";
		}
	} else if (opt.socket_a || opt.socket_b || opt.queue_a || opt.queue_b ||
	           opt.busbridge || opt.nbridge_opts) {
		return usage_error("--socket-*, --queue-*, --busbridge and --bridge-opt "
		                   "are the bridge's");
	}
	return 0;
}

/* --- the result --- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least q of them at or below. */
static uint64_t percentile(const uint64_t *v, uint64_t n, double q)
{
	uint64_t rank = (uint64_t)(q * (double)n + 0.999999);

	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

static const char *asap_name(void)
{
	if (opt.asap_pub && opt.asap_sub)
		return "both";
	if (opt.asap_pub)
		return "pub";
	return opt.asap_sub ? "sub" : "none";
}

static void report(uint64_t elapsed)
{
	const char *mode = opt.mode == MODE_BASELINE ? "baseline" : "bridge";
	double secs = (double)elapsed / 1e9;
	double rate = (double)opt.messages / secs;
	uint64_t p50, p99, max;
	double load = -1;

	qsort(sh.lat, opt.messages, sizeof(sh.lat[0]), cmp_u64);
	p50 = percentile(sh.lat, opt.messages, 0.50);
	p99 = percentile(sh.lat, opt.messages, 0.99);
	max = sh.lat[opt.messages - 1];
	if (getloadavg(&load, 1) != 1)
		load = -1;
	if (opt.json) {
		printf("{\"mode\":\"%s\",\"size\":%" PRIu64 ",\"messages\":%" PRIu64
		       ",\"warmup\":%" PRIu64 ",\"window\":%" PRIu64 ",\"batch\":%" PRIu64
		       ",\"rate\":%" PRIu64,
		       mode, opt.size, opt.messages, opt.warmup, opt.window, opt.batch,
		       opt.rate);
		if (opt.mode == MODE_BASELINE)
			printf(",\"send_asap\":\"%s\",\"headers\":%s,\"stop_and_wait\":%s,"
			       "\"ack\":\"%s\"",
			       asap_name(), opt.headers ? "true" : "false",
			       opt.stop_wait ? "true" : "false",
			       opt.ack == ACK_EACH ? "each" : "last");
		printf(",\"cpu_bench_s\":%.3f", sh.cpu_self);
		if (opt.mode == MODE_BRIDGE)
			printf(",\"cpu_export_s\":%.3f,\"cpu_import_s\":%.3f", bridges[0].cpu_s,
			       bridges[1].cpu_s);
		if (sh.cpu_server >= 0)
			printf(",\"cpu_server_s\":%.3f", sh.cpu_server);
		printf(",\"elapsed_s\":%.6f,\"msgs_per_sec\":%.1f,\"mb_per_sec\":%.3f,"
		       "\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"load1\":%.2f}\n",
		       secs, rate, rate * (double)opt.size / 1e6, (double)p50 / 1e3,
		       (double)p99 / 1e3, (double)max / 1e3, load);
		return;
	}
	printf("%-8s %6" PRIu64 " B x %" PRIu64 ", window %" PRIu64 ", batch %" PRIu64,
	       mode, opt.size, opt.messages, opt.window, opt.batch);
	if (opt.rate)
		printf(", paced at %" PRIu64 "/s", opt.rate);
	if (opt.mode == MODE_BASELINE)
		printf(", send-asap %s%s%s, ack %s", asap_name(),
		       opt.headers ? ", headers" : "", opt.stop_wait ? ", stop-and-wait" : "",
		       opt.ack == ACK_EACH ? "each" : "last");
	printf(": %.0f msgs/s, %.2f MB/s, latency p50 %.3f ms, p99 %.3f ms, max %.3f ms "
	       "(%.3f s); CPU s: bench %.2f",
	       rate, rate * (double)opt.size / 1e6, (double)p50 / 1e6, (double)p99 / 1e6,
	       (double)max / 1e6, secs, sh.cpu_self);
	if (opt.mode == MODE_BRIDGE)
		printf(", export %.2f, import %.2f", bridges[0].cpu_s, bridges[1].cpu_s);
	if (sh.cpu_server >= 0)
		printf(", server %.2f", sh.cpu_server);
	printf("\n");
}

/* --- the run --- */

static int bridges_start(void)
{
	const char *base = getenv("TMPDIR");
	char route[512], window[24], batch[24];
	int n;

	if (!base || !base[0])
		base = "/tmp";
	n = snprintf(tmpdir, sizeof(tmpdir), "%s/" PROG ".XXXXXX", base);
	if (n < 0 || (size_t)n >= sizeof(tmpdir) || !mkdtemp(tmpdir)) {
		fprintf(stderr, PROG ": cannot make a directory under %s: %s\n", base,
		        strerror(errno));
		tmpdir[0] = '\0';
		return -1;
	}
	snprintf(window, sizeof(window), "%" PRIu64, opt.window);
	snprintf(batch, sizeof(batch), "%" PRIu64, opt.batch);
	snprintf(route, sizeof(route), "%s:%s", opt.queue_a, opt.subject);
	if (bridge_start(&bridges[0], opt.socket_a, "--export", route, "--window",
	                 window) < 0)
		return -1;
	snprintf(route, sizeof(route), "%s:%s:%s", opt.subject, opt.queue_b, opt.durable);
	return bridge_start(&bridges[1], opt.socket_b, "--import", route, "--batch",
	                    batch);
}

/* Waits for both threads, watching the bridges and the deadlines. */
static void supervise(void)
{
	const uint64_t warm_deadline = nstime_mono() + WARM_TIMEOUT_S * UINT64_C(1000000000);

	while (!atomic_load(&sh.prod_done) || !atomic_load(&sh.cons_done)) {
		uint64_t t0 = atomic_load(&sh.t_start), t = nstime_mono();

		sleep_ms(20);
		if (opt.mode == MODE_BRIDGE)
			bridges_check();
		if (stopped())
			continue;
		if (!atomic_load(&sh.warm_done) && t > warm_deadline)
			fail("the %" PRIu64 " warm-up messages did not come through in %d s",
			     opt.warmup, WARM_TIMEOUT_S);
		else if (t0 && t > t0 + opt.timeout * UINT64_C(1000000000))
			fail("timeout: the %" PRIu64 " messages took over %" PRIu64 " s",
			     opt.messages, opt.timeout);
	}
}

int main(int argc, char **argv)
{
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	pthread_t prod, cons;
	bool threads = false;
	int rc = 1, r;
	natsStatus s;

	r = parse_options(argc, argv);
	if (r)
		return r < 0 ? 0 : r;
	sh.lat = calloc(opt.messages, sizeof(sh.lat[0]));
	if (!sh.lat) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);

	s = nats_Open(-1);
	if (s == NATS_OK)
		s = nats_connect(&nc, PROG, false);
	if (s == NATS_OK)
		s = natsConnection_JetStream(&js, nc, NULL);
	if (s != NATS_OK) {
		fprintf(stderr, PROG ": cannot connect to %s: %s\n", opt.nats_url,
		        nats_text(s));
		goto out;
	}
	if (stream_fresh(js) < 0)
		goto out;
	if (opt.mode == MODE_BASELINE) {
		if (consumer_create(js) < 0)
			goto out_stream;
	} else if (bridges_start() < 0) {
		goto out_bridges;
	}
	sh.cpu_self = self_cpu_s();
	sh.cpu_server = opt.server_pid ? proc_cpu_s(opt.server_pid) : -1;
	r = pthread_create(&cons, NULL,
	                   opt.mode == MODE_BASELINE ? baseline_consumer : bridge_consumer,
	                   NULL);
	if (r == 0) {
		r = pthread_create(&prod, NULL,
		                   opt.mode == MODE_BASELINE ? baseline_producer : bridge_producer,
		                   NULL);
		if (r != 0) {
			atomic_store(&sh.stop, true);
			pthread_join(cons, NULL);
		}
	}
	if (r != 0) {
		fprintf(stderr, PROG ": pthread_create: %s\n", strerror(r));
		goto out_bridges;
	}
	threads = true;
	supervise();
	pthread_join(prod, NULL);
	pthread_join(cons, NULL);
	sh.cpu_self = self_cpu_s() - sh.cpu_self;
	if (sh.cpu_server >= 0) {
		double end = proc_cpu_s(opt.server_pid);

		sh.cpu_server = end >= 0 ? end - sh.cpu_server : -1;
	}

out_bridges:
	if (opt.mode == MODE_BRIDGE) {
		bool failed = sh.err[0] || !threads;

		for (int i = 0; i < 2; i++) {
			if (bridge_stop(&bridges[i]) < 0)
				failed = true;
			if (failed && bridges[i].dir[0])
				bridge_log(&bridges[i]);
		}
		if (failed && !sh.err[0])
			fail("a busbridge did not stop cleanly");
	}
out_stream:
	if (stream_delete(js) < 0 && !sh.err[0])
		fail("cannot delete the stream");
	if (threads && !sh.err[0]) {
		report(sh.t_end - atomic_load(&sh.t_start));
		rc = 0;
	} else if (sh.err[0]) {
		fprintf(stderr, PROG ": %s\n", sh.err);
	}
out:
	remove_tree();
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	nats_CloseAndWait(2000);
	free(sh.lat);
	return rc;
}

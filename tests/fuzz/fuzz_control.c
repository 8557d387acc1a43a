/*
 * fuzz_control.c - control packets from outside: busd's request handling.
 *
 * The input is one packet as a client would send it on busd's socket.
 * It goes, byte for byte, through request_handle() of a struct busd set
 * up once the way busd's main() sets one up (config_parse, registry_init,
 * registry_declare, server_init) except that nothing listens: the client
 * is one end of a socketpair, and the response is read from the other.
 * Each input is handled twice, for two peers: busd's own uid, and a
 * stranger whom the config grants some rights (create; produce through a
 * group and consume on cfg.q) so that refusals are exercised too.
 *
 * The checks: request_handle() returns 0 (the client is never dropped
 * for what it sent); exactly one response comes back, decodes, speaks
 * CONTROL_VERSION, echoes the request's id (0 if the request did not
 * decode), carries 0 or a negative errno, a message on error, and on
 * success the result its operation promises; a descriptor comes only
 * with a successful attach, and is a segment that validates.  The bytes
 * are also decoded directly as a request and as a response.
 *
 * Between inputs the registry is put back to its baseline (cfg.q from the
 * config, fuzz.a owned by busd's uid, fuzz.b owned by the stranger), so
 * every input starts from the same state.  Limits are small (max-queues 4,
 * max-capacity 64K, default-capacity 4K): creates cannot fill /dev/shm.
 *
 * Nothing is left behind: at exit every segment is unlinked; and a
 * watchdog child, forked at start, unlinks this instance's segments and
 * removes its directory when this process dies in any way (a crash
 * found by the fuzzer included).  busd's log is sent to /dev/null while a
 * request is handled (it would be one line per input), unless
 * BUS_FUZZ_LOG is set; sanitizer reports still reach the real stderr.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "reply_queue.h"
#include "fuzz.h"
#include "log.h"

/*
 * From the sanitizer runtime when there is one; the runtime's name is
 * reserved by nature.
 */
void __sanitizer_set_report_fd(void *fd) /* NOLINT(bugprone-reserved-identifier) */
	__attribute__((weak));

struct baseline {
	const char *name;
	bool other; /* owned by the stranger, else busd's uid */
	bool from_config;
};

static const struct baseline baseline[] = {
	{"cfg.q", false, true},
	{"fuzz.a", false, false},
	{"fuzz.b", true, false},
};

static struct {
	bool ready;
	char dir[256];
	char socket[CONFIG_SOCKET_MAX];
	struct busd_config cfg;
	struct busd d;
	struct client client;
	struct control_peer self, other;
	int peer_fd;     /* the client's end of the socketpair */
	int real_stderr; /* -1 when busd's log is not muted */
	int devnull;
	int watchdog; /* write end of the watchdog's pipe */
	void *req_arena, *resp_arena;
	uint8_t *packet;
} F = {.peer_fd = -1, .real_stderr = -1, .devnull = -1, .watchdog = -1};

static void die(const char *what, const char *why)
{
	fprintf(stderr, "fuzz_control: %s: %s\n", what, why);
	abort();
}

/* Unlinks every segment of instance in /dev/shm. */
static void sweep(uint32_t instance)
{
	char prefix[32], name[NAME_MAX + 2];
	DIR *dir = opendir("/dev/shm");
	struct dirent *de;

	if (!dir)
		return;
	snprintf(prefix, sizeof(prefix), "bus.%08x.", instance);
	while ((de = readdir(dir)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		snprintf(name, sizeof(name), "/%s", de->d_name);
		shm_unlink(name);
	}
	closedir(dir);
}

/*
 * A child that waits for this process to die (its pipe reaches end of
 * file however that happens) and then removes what it left behind.
 */
static void start_watchdog(uint32_t instance)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die("fork", strerror(errno));
	if (pid == 0) {
		char b;
		int null = open("/dev/null", O_RDWR);

		/* Holding nobody's output open: a test runner waits for EOF. */
		for (int fd = 0; fd < 3; fd++)
			dup2(null, fd);
		close(p[1]);
		/* Its own session: a ^C for the fuzzer does not stop the cleanup. */
		setsid();
		while (read(p[0], &b, 1) < 0 && errno == EINTR)
			;
		sweep(instance);
		unlink(F.socket);
		rmdir(F.dir);
		_exit(0);
	}
	close(p[0]);
	F.watchdog = p[1];
}

static const struct baseline *baseline_of(const char *name)
{
	for (size_t i = 0; i < sizeof(baseline) / sizeof(baseline[0]); i++)
		if (strcmp(baseline[i].name, name) == 0)
			return &baseline[i];
	return NULL;
}

/* Deletes queues the last input created, recreates those it deleted. */
static void restore(void)
{
	struct registry *reg = &F.d.reg;
	char msg[320];

	for (size_t i = 0; i < reg->n;) {
		struct queue *q = reg->v[i];
		const struct baseline *b = baseline_of(q->name);

		if (b && q->owner_uid == (b->other ? F.other.uid : F.self.uid)) {
			i++;
			continue;
		}
		registry_delete(reg, q);
	}
	for (size_t i = 0; i < sizeof(baseline) / sizeof(baseline[0]); i++) {
		const struct queue_conf *conf = config_queue(&F.cfg, baseline[i].name);
		struct queue_spec spec = {.name = baseline[i].name};
		struct queue *q;

		if (registry_find(reg, baseline[i].name))
			continue;
		if (conf) {
			spec.capacity = conf->capacity;
			spec.max_message = conf->max_message;
			spec.max_producers = conf->max_producers;
		}
		if (registry_create(reg, &spec,
		                    baseline[i].other ? F.other.uid : F.self.uid, &q,
		                    msg, sizeof(msg)) < 0)
			die("cannot create a baseline queue", msg);
	}
}

static void cleanup(void)
{
	if (!F.ready)
		return;
	F.ready = false;
	for (size_t i = 0; i < F.d.reg.n; i++)
		shm_unlink(F.d.reg.v[i]->shm_name);
	registry_close(&F.d.reg);
	server_close(&F.d);
	config_free(&F.cfg);
	close(F.client.fd);
	close(F.peer_fd);
	free(F.req_arena);
	free(F.resp_arena);
	free(F.packet);
	unlink(F.socket);
	rmdir(F.dir);
	if (F.real_stderr >= 0)
		close(F.real_stderr);
	if (F.devnull >= 0)
		close(F.devnull);
	/* The watchdog finds nothing left; closing its pipe lets it go. */
	close(F.watchdog);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	char text[512], err[1024];
	int sv[2], r;
	uint32_t self_uid = (uint32_t)geteuid();
	uint32_t other_uid = self_uid == 4242 ? 4243 : 4242;

	(void)argc;
	(void)argv;
	if (F.ready)
		return 0;
	snprintf(F.dir, sizeof(F.dir), "%s/bus-fuzz-control-XXXXXX",
	         tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(F.dir))
		die("mkdtemp", strerror(errno));
	/* Never bound: only the instance (the hash of the path) is used. */
	if ((size_t)snprintf(F.socket, sizeof(F.socket), "%s/busd.sock", F.dir) >=
	    sizeof(F.socket))
		die(F.dir, "socket path too long (TMPDIR)");
	start_watchdog(seg_instance(F.socket));

	/*
	 * cfg.q lets the stranger produce through a group (gid 100) and
	 * consume by uid, but not delete; the stranger may create queues.
	 */
	snprintf(text, sizeof(text),
	         "[busd]\n"
	         "max-connections = 4\n"
	         "max-queues = 4\n"
	         "max-capacity = 64K\n"
	         "default-capacity = 4K\n"
	         "create = uid:%u\n"
	         "[queue cfg.q]\n"
	         "capacity = 4K\n"
	         "max-producers = 4\n"
	         "produce = gid:100\n"
	         "consume = uid:%u\n"
	         "admin = uid:%u\n",
	         other_uid, other_uid, self_uid);
	config_init(&F.cfg);
	if (config_parse(&F.cfg, "fuzz_control", text, strlen(text), err,
	                 sizeof(err)) < 0)
		die("config", err);

	/* What busd's main() does, minus the socket and adoption. */
	F.d = (struct busd){.epfd = -1, .sigfd = -1, .spare_fd = -1};
	F.d.cfg = &F.cfg;
	F.d.pid = getpid();
	F.d.policy = (struct access_policy){
		.self_uid = self_uid,
		.create = F.cfg.create,
	};
	registry_init(&F.d.reg, &F.cfg, F.socket, self_uid);
	if (registry_declare(&F.d.reg, err, sizeof(err)) < 0)
		die("registry_declare", err);
	if (server_init(&F.d, err, sizeof(err)) < 0)
		die("server_init", err);

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	               sv) < 0)
		die("socketpair", strerror(errno));
	F.client.fd = sv[0];
	F.peer_fd = sv[1];
	r = control_peer(F.client.fd, &F.self);
	if (r < 0)
		die("control_peer", strerror(-r));
	F.other = (struct control_peer){
		.pid = F.self.pid,
		.uid = other_uid,
		.gid = other_uid,
		.ngroups = 1,
		.groups = {100},
	};
	F.ready = true;
	restore();

	F.req_arena = malloc(CONTROL_ARENA);
	F.resp_arena = malloc(CONTROL_ARENA);
	F.packet = malloc(CONTROL_MAX_PACKET);
	if (!F.req_arena || !F.resp_arena || !F.packet)
		die("malloc", "out of memory");

	if (getenv("BUS_FUZZ_LOG")) {
		log_set_level(LOG_LEVEL_DEBUG);
	} else {
		/* Every log call runs (debug), into /dev/null while muted. */
		log_set_level(LOG_LEVEL_DEBUG);
		F.devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
		F.real_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
		if (F.devnull < 0 || F.real_stderr < 0)
			die("open /dev/null", strerror(errno));
		if (__sanitizer_set_report_fd)
			__sanitizer_set_report_fd((void *)(intptr_t)F.real_stderr);
	}
	atexit(cleanup);
	return 0;
}

static void mute(bool on)
{
	if (F.real_stderr < 0)
		return;
	fflush(stderr);
	dup2(on ? F.devnull : F.real_stderr, STDERR_FILENO);
}

/* What a successful response must carry for the request's operation. */
static void check_success(const BusControl__Request *req,
                          const BusControl__Response *resp, int fd)
{
	const struct registry *reg = &F.d.reg;

	switch (req->op_case) {
	case BUS_CONTROL__REQUEST__OP_PING:
		FUZZ_CHECK(resp->result_case == BUS_CONTROL__RESPONSE__RESULT_PONG);
		FUZZ_CHECK(resp->pong->pid == (uint32_t)F.d.pid);
		break;
	case BUS_CONTROL__REQUEST__OP_CREATE:
		FUZZ_CHECK(resp->result_case == BUS_CONTROL__RESPONSE__RESULT_QUEUE);
		FUZZ_CHECK(strcmp(resp->queue->name, req->create->name) == 0);
		FUZZ_CHECK(registry_find(reg, req->create->name) != NULL);
		FUZZ_CHECK(resp->queue->capacity <= F.cfg.max_capacity);
		FUZZ_CHECK(reg->n <= F.cfg.max_queues);
		break;
	case BUS_CONTROL__REQUEST__OP_DELETE:
		FUZZ_CHECK(resp->result_case == BUS_CONTROL__RESPONSE__RESULT__NOT_SET);
		FUZZ_CHECK(registry_find(reg, req->delete_->name) == NULL);
		break;
	case BUS_CONTROL__REQUEST__OP_LIST:
		FUZZ_CHECK(resp->result_case == BUS_CONTROL__RESPONSE__RESULT_QUEUES);
		FUZZ_CHECK(resp->queues->n_queues <= resp->queues->total);
		FUZZ_CHECK(resp->queues->total <= reg->n);
		for (size_t i = 0; i < resp->queues->n_queues; i++)
			FUZZ_CHECK(registry_find(reg, resp->queues->queues[i]->name));
		break;
	case BUS_CONTROL__REQUEST__OP_ATTACH:
		FUZZ_CHECK(resp->result_case == BUS_CONTROL__RESPONSE__RESULT_QUEUE);
		/* A replier gets the caller's reply queue, named by busd. */
		if (req->attach->role == BUS_CONTROL__ROLE__ROLE_REPLIER)
			FUZZ_CHECK(reply_queue_pid(resp->queue->name) != 0);
		else
			FUZZ_CHECK(strcmp(resp->queue->name, req->attach->name) == 0);
		FUZZ_CHECK(fd >= 0);
		break;
	case BUS_CONTROL__REQUEST__OP_OPEN_REPLY:
		FUZZ_CHECK(resp->result_case == BUS_CONTROL__RESPONSE__RESULT_REPLY);
		FUZZ_CHECK(resp->reply->queue && resp->reply->reply_to != 0);
		/* Made for this caller's pid, and served under that name. */
		FUZZ_CHECK(reply_queue_pid(resp->reply->queue->name) == F.client.peer.pid);
		FUZZ_CHECK(registry_find(reg, resp->reply->queue->name) != NULL);
		FUZZ_CHECK(reg->n <= F.cfg.max_queues);
		FUZZ_CHECK(fd >= 0);
		break;
	default:
		FUZZ_CHECK(!"success for a request with no operation");
	}
	if (req->op_case != BUS_CONTROL__REQUEST__OP_ATTACH &&
	    req->op_case != BUS_CONTROL__REQUEST__OP_OPEN_REPLY)
		FUZZ_CHECK(fd < 0);
}

/* Reads and checks the one response to the request (req NULL: undecodable). */
static void check_response(const BusControl__Request *req)
{
	BusControl__Response *resp;
	size_t len = 0;
	int fd = -1, r;

	r = control_recv(F.peer_fd, F.packet, CONTROL_MAX_PACKET, &len, &fd);
	FUZZ_CHECK(r == 0);
	FUZZ_CHECK(control_decode_response(F.packet, len, F.resp_arena,
	                                   CONTROL_ARENA, &resp) == 0);
	FUZZ_CHECK(resp->version == CONTROL_VERSION);
	FUZZ_CHECK(resp->error <= 0);
	if (!req) {
		FUZZ_CHECK(resp->id == 0 && resp->error == -EBADMSG);
	} else {
		FUZZ_CHECK(resp->id == req->id);
		if (req->version != CONTROL_VERSION)
			FUZZ_CHECK(resp->error == -EPROTO);
	}
	if (resp->error) {
		FUZZ_CHECK(resp->message && resp->message[0]);
		FUZZ_CHECK(resp->result_case == BUS_CONTROL__RESPONSE__RESULT__NOT_SET);
		FUZZ_CHECK(fd < 0);
	} else {
		FUZZ_CHECK(req != NULL);
		check_success(req, resp, fd);
	}
	if (fd >= 0) {
		/* busd hands out only segments that validate. */
		struct seg s;
		const char *why = NULL;

		FUZZ_CHECK(seg_map_fd_ro(fd, &s, &why) == 0);
		FUZZ_CHECK(strcmp(s.hdr->name, resp->result_case == BUS_CONTROL__RESPONSE__RESULT_REPLY
		                                       ? resp->reply->queue->name
		                                       : resp->queue->name) == 0);
		seg_close(&s);
	}
	/* One request, one response. */
	FUZZ_CHECK(control_recv(F.peer_fd, F.packet, CONTROL_MAX_PACKET, &len,
	                        NULL) == -EAGAIN);
}

/* The bytes as a response too: libbus's client decodes those. */
static void decode_as_response(const uint8_t *data, size_t size)
{
	BusControl__Response *resp;
	int r = control_decode_response(data, size, F.resp_arena, CONTROL_ARENA,
	                                &resp);

	FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -ENOBUFS);
	if (r == 0) {
		size_t n = protobuf_c_message_get_packed_size(&resp->base);
		uint8_t *buf = malloc(n ? n : 1);

		FUZZ_CHECK(buf && protobuf_c_message_pack(&resp->base, buf) == n);
		free(buf);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct control_peer *peers[] = {&F.self, &F.other};
	BusControl__Request *req = NULL;
	int r;

	if (!F.ready)
		LLVMFuzzerInitialize(NULL, NULL);
	decode_as_response(data, size);
	/* Our own decode, for the checks; busd decodes into its own arena. */
	r = control_decode_request(data, size, F.req_arena, CONTROL_ARENA, &req);
	FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -ENOBUFS);
	if (r < 0)
		req = NULL;

	for (size_t i = 0; i < sizeof(peers) / sizeof(peers[0]); i++) {
		F.client.peer = *peers[i];
		mute(true);
		r = request_handle(&F.d, &F.client, data, size);
		mute(false);
		FUZZ_CHECK(r == 0);
		check_response(req);
		restore();
	}
	return 0;
}

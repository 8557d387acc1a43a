/*
 * main.c - busd: the bus daemon, in the foreground.
 *
 *   busd [--socket PATH] [--config FILE] [--log-level LEVEL] [--check-config]
 *
 * Start-up, in this order: options, config, the socket's directory and
 * lock (so two daemons never adopt the same segments), adoption of the
 * segments a previous busd left, the config's queues, and last the
 * listening socket, whose file appears only when it accepts connections.
 * Any failure before that is one line on stderr and exit status 1 (2 for
 * a bad command line).  busd writes nothing to stdout except for --help,
 * --version and --check-config.
 *
 * --check-config stops after the options, the config and the socket path
 * are worked out, prints what busd would run with and exits: it creates,
 * locks, binds and adopts nothing, so it is safe while a busd runs.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "daemon.h"
#include "guard.h"
#include "log.h"
#include "registry.h"
#include "reply_queue.h"
#include "util/prog.h"

#define EXIT_USAGE 2

const char *const prog_name = "busd";

static const char usage[] =
	"Usage: busd [OPTION]...\n"
	"Run the bus daemon in the foreground.\n"
	"\n"
	"  -s, --socket PATH      listen on PATH (default: socket in the config,\n"
	"                         else $BUS_SOCKET, else\n"
	"                         $XDG_RUNTIME_DIR/bus/busd.sock, else\n"
	"                         /tmp/bus-$UID/busd.sock)\n"
	"  -c, --config FILE      read limits, queues and access rules from FILE\n"
	"                         (default: none; only busd's uid and root may\n"
	"                         use it)\n"
	"  -l, --log-level LEVEL  error, warn, info or debug (default: log-level\n"
	"                         in the config, else info)\n"
	"      --check-config     check the config and the other options, print\n"
	"                         the settings busd would use and exit: 0 if\n"
	"                         valid, 1 with FILE:LINE and the reason if not;\n"
	"                         creates and binds nothing\n"
	"  -h, --help             show this help and exit\n"
	"  -V, --version          show the version and exit\n"
	"\n"
	"Each option may be given once.  Logs go to stderr, one line per event:\n"
	"ts=... level=... event=... msg=\"...\" then key=value fields.\n"
	"SIGTERM or SIGINT stop busd; queues stay in /dev/shm for the next busd.\n"
	"Exit status: 0 stopped cleanly, 1 failed, 2 bad command line.\n"
	"See busd(8) for the config file.\n";

struct options {
	const char *socket;
	const char *config;
	const char *log_level;
	bool check;
};

static void parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'},
		{"config", required_argument, NULL, 'c'},
		{"log-level", required_argument, NULL, 'l'},
		{"check-config", no_argument, NULL, 'C'},
		PROG_OPTIONS_END,
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:s:c:l:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			prog_set_once(&o->socket, "--socket", optarg);
			break;
		case 'c':
			prog_set_once(&o->config, "--config", optarg);
			break;
		case 'l':
			prog_set_once(&o->log_level, "--log-level", optarg);
			break;
		case 'C':
			prog_flag_once(&o->check, "--check-config");
			break;
		default:
			prog_daemon_option(c, argv, usage, BUSD_VERSION);
		}
	}
	prog_die_operands(argc, argv);
}

/* SIGTERM, SIGINT and SIGHUP are read from a signalfd; SIGPIPE never kills. */
static void setup_signals(void)
{
	sigset_t mask;

	prog_block_signals(&mask);
	/* A producer can truncate a segment busd maps: SIGBUS is guarded. */
	if (guard_init() < 0)
		prog_die(EXIT_FAILURE, "sigaction: %s", strerror(errno));
}

/*
 * busd holds a descriptor per connection and per queue: raise the soft
 * limit to the hard one and say so if the limits configured can exceed it.
 */
static void check_fd_limit(const struct busd_config *cfg)
{
	uint64_t need = (uint64_t)cfg->max_connections + cfg->max_queues + 32;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
		log_warn("limit.fd", "descriptor limit below what the configured "
		                     "limits may need",
		         "limit=%llu need=%llu",
		         (unsigned long long)rl.rlim_cur, (unsigned long long)need);
}

/* Rights granted to other users are no use if they cannot reach the socket. */
static void warn_closed_dir(const char *path)
{
	char copy[CONFIG_SOCKET_MAX];
	struct stat st;
	const char *dir;

	strcpy(copy, path);
	dir = dirname(copy);
	if (stat(dir, &st) == 0 && !(st.st_mode & S_IXOTH))
		log_warn("socket.dir_closed", "the config grants other users "
		                              "rights, but they cannot reach the socket's directory",
		         "dir=\"%s\" mode=%04o", dir,
		         (unsigned)(st.st_mode & 07777));
}

/*
 * A producer maps its queue's whole ring read-write: it can read what
 * other producers send and disturb the queue.  Granting produce to
 * someone who may not consume is allowed, but said once per queue.
 */
static void warn_produce_only(const struct busd_config *cfg, uint32_t self)
{
	for (size_t i = 0; i < cfg->nqueues; i++) {
		const struct queue_conf *q = &cfg->queues[i];
		char who[512];
		size_t n = config_produce_only(q, self, who, sizeof(who));

		if (n)
			log_warn("queue.produce_only", "produce granted without consume: "
			                               "a producer maps the whole ring "
			                               "read-write, so it can read what "
			                               "others send to the queue and "
			                               "disturb it",
			         "queue=%s principals=%zu who=\"%s\"", q->name, n, who);
	}
}

/*
 * The socket path: --socket, the config's, else the clients' default.
 * The instance that names the segments is a hash of the path: the same
 * relative path from two directories must not be one instance, so a
 * relative path is made absolute here.
 */
static void socket_path(const struct options *opt,
                        const struct busd_config *cfg,
                        char path[CONFIG_SOCKET_MAX])
{
	int r;

	if (opt->socket) {
		if (strlen(opt->socket) >= CONFIG_SOCKET_MAX)
			prog_die(EXIT_FAILURE, "socket path too long (at most %zu bytes): %s",
			         CONFIG_SOCKET_MAX - 1, opt->socket);
		strcpy(path, opt->socket);
	} else if (cfg->socket[0]) {
		strcpy(path, cfg->socket);
	} else if ((r = control_default_path(path, CONFIG_SOCKET_MAX)) < 0) {
		prog_die(EXIT_FAILURE, "cannot make the default socket path: %s",
		         strerror(-r));
	}
	if (path[0] != '/') {
		char cwd[CONFIG_SOCKET_MAX], rel[CONFIG_SOCKET_MAX];

		strcpy(rel, path);
		if (!getcwd(cwd, sizeof(cwd)) ||
		    (size_t)snprintf(path, CONFIG_SOCKET_MAX, "%s/%s", cwd, rel) >=
		            CONFIG_SOCKET_MAX)
			prog_die(EXIT_FAILURE, "socket path too long once made absolute "
			                       "(at most %zu bytes): %s",
			         CONFIG_SOCKET_MAX - 1, rel);
	}
}

/*
 * --check-config: everything is parsed and checked by now.  Prints the
 * settings in the config file's syntax with the command line's overrides
 * applied, so the output is itself a config busd would run the same with.
 */
static int check_config(const struct options *opt, struct busd_config *cfg,
                        const char *path)
{
	uint32_t self = (uint32_t)geteuid();
	bool others = config_grants_others(cfg, self);

	strcpy(cfg->socket, path);
	printf("# busd %s: %s\n", BUSD_VERSION,
	       opt->config ? "the config is valid" : "no config: the defaults");
	if (opt->config)
		printf("# config: %s\n", opt->config);
	printf("# access: %s\n", others
	                                 ? "shared (socket mode 0666, each request checked by the rules)"
	                                 : "owner-only (socket mode 0600: busd's uid and root)");
	if (config_write(stdout, cfg, self) < 0)
		prog_die(EXIT_FAILURE, "cannot write to stdout: %s", strerror(errno));
	return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
	struct options opt = {0};
	struct busd_config cfg;
	struct busd d = {.epfd = -1, .sigfd = -1, .spare_fd = -1};
	char err[1024], path[CONFIG_SOCKET_MAX];
	enum log_level level;
	bool others;
	int r;

	parse_options(argc, argv, &opt);
	if (opt.log_level && log_level_parse(opt.log_level, &level) < 0)
		prog_die(EXIT_USAGE, "log level '%s' is not one of error, warn, info, debug",
		         opt.log_level);
	setup_signals();

	config_init(&cfg);
	if (opt.config && config_load(&cfg, opt.config, err, sizeof(err)) < 0) {
		config_free(&cfg);
		prog_die(EXIT_FAILURE, "%s", err);
	}
	if (opt.log_level)
		cfg.log_level = level;
	log_set_level(cfg.log_level);
	socket_path(&opt, &cfg, path);
	if (opt.check) {
		r = check_config(&opt, &cfg, path);
		config_free(&cfg);
		return r;
	}

	d.cfg = &cfg;
	d.pid = getpid();
	d.policy = (struct access_policy){
		.self_uid = (uint32_t)geteuid(),
		.create = cfg.create,
	};
	others = config_grants_others(&cfg, d.policy.self_uid);
	check_fd_limit(&cfg);

	r = endpoint_claim(&d.ep, path, others ? 0755 : 0700, err, sizeof(err));
	if (r < 0)
		prog_die(EXIT_FAILURE, "%s", err);
	if (others)
		warn_closed_dir(path);
	warn_produce_only(&cfg, d.policy.self_uid);

	registry_init(&d.reg, &cfg, path, d.policy.self_uid);
	r = registry_adopt(&d.reg);
	if (r < 0) {
		snprintf(err, sizeof(err), "cannot read /dev/shm: %s", strerror(-r));
		goto fail;
	}
	r = registry_declare(&d.reg, err, sizeof(err));
	if (r < 0)
		goto fail;
	r = server_init(&d, err, sizeof(err));
	if (r < 0)
		goto fail;
	r = endpoint_listen(&d.ep, others ? 0666 : 0600, err, sizeof(err));
	if (r < 0)
		goto fail;

	/* Callers of services that went while busd was down: their queues go. */
	reply_queue_adopt(&d);
	/* Producers may have died while busd was down: have consumers look. */
	watch_wake_all(&d);
	log_info("start", "started",
	         "socket=\"%s\" pid=%d uid=%u queues=%zu version=%s "
	         "access=%s",
	         path, (int)d.pid, (unsigned)d.policy.self_uid,
	         d.reg.n, BUSD_VERSION, others ? "shared" : "owner-only");
	r = server_run(&d);

	server_close(&d);
	registry_close(&d.reg);
	endpoint_close(&d.ep);
	config_free(&cfg);
	log_info("stop", "stopped", NULL);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

fail:
	server_close(&d);
	registry_close(&d.reg);
	endpoint_close(&d.ep);
	config_free(&cfg);
	prog_die(EXIT_FAILURE, "%s", err);
}

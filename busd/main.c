/*
 * main.c - busd: the bus daemon, in the foreground.
 *
 *   busd [--socket PATH] [--config FILE] [--log-level LEVEL]
 *
 * Start-up, in this order: options, config, the socket's directory and
 * lock (so two daemons never adopt the same segments), adoption of the
 * segments a previous busd left, the config's queues, and last the
 * listening socket, whose file appears only when it accepts connections.
 * Any failure before that is one line on stderr and exit status 1 (2 for
 * a bad command line).  busd writes nothing to stdout except for --help
 * and --version.
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
#include "log.h"
#include "registry.h"

#define EXIT_USAGE 2

static const char usage[] =
	"Usage: busd [OPTION]...\n"
	"Run the bus daemon in the foreground.\n"
	"\n"
	"  -s, --socket PATH      listen on PATH (default: $BUS_SOCKET, else\n"
	"                         $XDG_RUNTIME_DIR/bus/busd.sock, else\n"
	"                         /tmp/bus-$UID/busd.sock)\n"
	"  -c, --config FILE      read limits, queues and access rules from FILE\n"
	"  -l, --log-level LEVEL  error, warn, info (default) or debug\n"
	"  -h, --help             show this help and exit\n"
	"  -V, --version          show the version and exit\n"
	"\n"
	"Logs go to stderr.  SIGTERM or SIGINT stop busd; queues stay.\n"
	"See docs/busd.md for the config file.\n";

struct options {
	const char *socket;
	const char *config;
	const char *log_level;
};

static void die(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

static void die(int status, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "busd: %s\n", line);
	exit(status);
}

static void set_once(const char **slot, const char *opt, const char *arg)
{
	if (*slot)
		die(EXIT_USAGE, "option %s given twice", opt);
	if (!*arg)
		die(EXIT_USAGE, "option %s needs a non-empty argument", opt);
	*slot = arg;
}

static void parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'},
		{"config", required_argument, NULL, 'c'},
		{"log-level", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:s:c:l:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			set_once(&o->socket, "--socket", optarg);
			break;
		case 'c':
			set_once(&o->config, "--config", optarg);
			break;
		case 'l':
			set_once(&o->log_level, "--log-level", optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			exit(fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
		case 'V':
			printf("busd %s\n", BUSD_VERSION);
			exit(fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
		case ':':
			die(EXIT_USAGE, "option %s needs an argument (see busd --help)",
			    argv[optind - 1]);
		default:
			if (optopt)
				die(EXIT_USAGE, "unknown option '-%c' (see busd --help)",
				    optopt);
			die(EXIT_USAGE, "unknown option '%s' (see busd --help)",
			    argv[optind - 1]);
		}
	}
	if (optind < argc)
		die(EXIT_USAGE, "unexpected argument '%s' (see busd --help)",
		    argv[optind]);
}

/* SIGTERM, SIGINT and SIGHUP are read from a signalfd; SIGPIPE never kills. */
static void setup_signals(void)
{
	struct sigaction ign = {.sa_handler = SIG_IGN};
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		die(EXIT_FAILURE, "sigprocmask: %s", strerror(errno));
	sigemptyset(&ign.sa_mask);
	if (sigaction(SIGPIPE, &ign, NULL) < 0)
		die(EXIT_FAILURE, "sigaction: %s", strerror(errno));
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
		log_warn("descriptor limit below what the configured limits may "
		         "need", "limit=%llu need=%llu",
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
		log_warn("the config grants other users rights, but they cannot "
		         "reach the socket's directory", "dir=\"%s\" mode=%04o", dir,
		         (unsigned)(st.st_mode & 07777));
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
		die(EXIT_USAGE, "log level '%s' is not one of error, warn, info, debug",
		    opt.log_level);
	setup_signals();

	config_init(&cfg);
	if (opt.config && config_load(&cfg, opt.config, err, sizeof(err)) < 0) {
		config_free(&cfg);
		die(EXIT_FAILURE, "%s", err);
	}
	if (opt.log_level)
		log_set_level(level);
	else if (cfg.has_log_level)
		log_set_level(cfg.log_level);

	if (opt.socket) {
		if (strlen(opt.socket) >= sizeof(path))
			die(EXIT_FAILURE, "socket path too long (at most %zu bytes): %s",
			    sizeof(path) - 1, opt.socket);
		strcpy(path, opt.socket);
	} else if (cfg.socket[0]) {
		strcpy(path, cfg.socket);
	} else if ((r = control_default_path(path, sizeof(path))) < 0) {
		die(EXIT_FAILURE, "cannot make the default socket path: %s",
		    strerror(-r));
	}

	/*
	 * The instance that names the segments is a hash of the path: the
	 * same relative path from two directories must not be one instance.
	 */
	if (path[0] != '/') {
		char cwd[CONFIG_SOCKET_MAX], rel[CONFIG_SOCKET_MAX];

		strcpy(rel, path);
		if (!getcwd(cwd, sizeof(cwd)) ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", cwd, rel) >=
		        sizeof(path))
			die(EXIT_FAILURE, "socket path too long once made absolute "
			    "(at most %zu bytes): %s", sizeof(path) - 1, rel);
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
		die(EXIT_FAILURE, "%s", err);
	if (others)
		warn_closed_dir(path);

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

	/* Producers may have died while busd was down: have consumers look. */
	watch_wake_all(&d);
	log_info("started", "socket=\"%s\" pid=%d uid=%u queues=%zu version=%s "
	         "access=%s", path, (int)d.pid, (unsigned)d.policy.self_uid,
	         d.reg.n, BUSD_VERSION, others ? "shared" : "owner-only");
	r = server_run(&d);

	server_close(&d);
	registry_close(&d.reg);
	endpoint_close(&d.ep);
	config_free(&cfg);
	log_info("stopped", NULL);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

fail:
	server_close(&d);
	registry_close(&d.reg);
	endpoint_close(&d.ep);
	config_free(&cfg);
	die(EXIT_FAILURE, "%s", err);
}

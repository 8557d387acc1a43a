/*
 * main.c - busbridge: carries messages between local bus queues and NATS
 * JetStream, in the foreground.
 *
 *   busbridge [OPTION]... [--export QUEUE:SUBJECT]... [--import SUBJECT:QUEUE[:DURABLE]]...
 *   busbridge --stats [--state-dir DIR] [--json | --prometheus]
 *
 * Start-up, in this order: options, config, routes; then the state
 * directory, its lock (one busbridge per directory), the import routes'
 * position files and the stats file; then one thread per route.  Any
 * failure up to there is one line on stderr and exit status 1 (2 for a
 * bad command line).  Nothing that happens to busd or NATS afterwards
 * stops busbridge: the routes wait and retry.  The main thread waits for
 * SIGTERM or SIGINT, tells the routes to stop, and waits for them.
 *
 * --check-config stops after the routes are checked: it prints what
 * busbridge would run with, and creates, locks and connects to nothing.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <nats/nats.h>

#include "config.h"
#include "natsconn.h"
#include "state.h"
#include "stats.h"
#include "util/prog.h"

#define EXIT_USAGE         2
#define NATS_CLOSE_WAIT_MS 5000

const char *const prog_name = "busbridge";

static const char usage[] =
	"Usage: busbridge [OPTION]... [--export QUEUE:SUBJECT]...\n"
	"                 [--import SUBJECT:QUEUE[:DURABLE]]...\n"
	"       busbridge --stats [--state-dir DIR] [--json | --prometheus]\n"
	"Carry messages between local bus queues and NATS JetStream, in the\n"
	"foreground.\n"
	"\n"
	"Routes (at least one, here or in the config; each may be repeated):\n"
	"      --export QUEUE:SUBJECT\n"
	"                         consume QUEUE (as its one consumer) and publish\n"
	"                         each message to SUBJECT; a message leaves QUEUE\n"
	"                         once JetStream has stored it\n"
	"      --import SUBJECT:QUEUE[:DURABLE]\n"
	"                         pull SUBJECT with the durable consumer DURABLE\n"
	"                         (default: QUEUE with '_' as \"__\", '.' as \"_d\")\n"
	"                         and send each message to QUEUE\n"
	"\n"
	"Options:\n"
	"  -s, --socket PATH      busd's socket (default: $BUS_SOCKET, else\n"
	"                         $XDG_RUNTIME_DIR/bus/busd.sock, else\n"
	"                         /tmp/bus-$UID/busd.sock)\n"
	"      --nats URL         the NATS server, or several separated by commas\n"
	"                         (default: nats://127.0.0.1:4222)\n"
	"      --stream NAME      the JetStream stream of the subjects (default:\n"
	"                         BUS); created, or given the subjects, if needed\n"
	"  -c, --config FILE      read settings and routes from FILE; options\n"
	"                         override its settings and add to its routes\n"
	"      --state-dir DIR    lock, stats and import positions (default:\n"
	"                         $STATE_DIRECTORY, else /var/lib/busbridge for\n"
	"                         root, else $XDG_STATE_HOME/busbridge, else\n"
	"                         $HOME/.local/state/busbridge)\n"
	"      --window N         export: publishes awaiting their ack, per\n"
	"                         route, 1 to 65536 (default: 1024)\n"
	"      --batch N          import: messages per fetch, 1 to 4096\n"
	"                         (default: 256)\n"
	"      --dup-window SECONDS\n"
	"                         the stream's duplicate window when busbridge\n"
	"                         creates it, 1 to 86400 (default: 120)\n"
	"  -l, --log-level LEVEL  error, warn, info or debug (default: info)\n"
	"      --check-config     check the options and the config, print the\n"
	"                         settings and routes busbridge would use and\n"
	"                         exit: 0 if valid, 1 (2 for a bad option) if\n"
	"                         not; connects to and creates nothing\n"
	"      --stats            print the counters of the busbridge of the\n"
	"                         state directory (running or stopped) and exit\n"
	"      --json             with --stats: one JSON object\n"
	"      --prometheus       with --stats: the Prometheus text format\n"
	"  -h, --help             show this help and exit\n"
	"  -V, --version          show the version and exit\n"
	"\n"
	"Options other than --export and --import may be given once.  Logs go to\n"
	"stderr, one line per event: ts=... level=... event=... msg=\"...\" then\n"
	"key=value fields.  SIGTERM or SIGINT stop busbridge cleanly.\n"
	"Exit status: 0 stopped cleanly, 1 failed, 2 bad command line.\n"
	"See busbridge(8) for the config file and the delivery guarantees.\n";

/* A route given on the command line, in the order given. */
struct route_arg {
	enum route_kind kind;
	const char *arg;
};

struct options {
	struct cfg_overrides ov;
	const char *config;
	bool check, stats, json, prometheus;
	struct route_arg *routes;
	size_t nroutes;
	int scalars; /* options other than --state-dir, --stats, --json, --prometheus */
};

enum {
	OPT_NATS = 256,
	OPT_STREAM,
	OPT_EXPORT,
	OPT_IMPORT,
	OPT_STATE_DIR,
	OPT_WINDOW,
	OPT_BATCH,
	OPT_DUP_WINDOW,
	OPT_CHECK,
	OPT_STATS,
	OPT_JSON,
	OPT_PROMETHEUS,
};

static const struct option longopts[] = {
	{"socket", required_argument, NULL, 's'},
	{"nats", required_argument, NULL, OPT_NATS},
	{"stream", required_argument, NULL, OPT_STREAM},
	{"export", required_argument, NULL, OPT_EXPORT},
	{"import", required_argument, NULL, OPT_IMPORT},
	{"config", required_argument, NULL, 'c'},
	{"state-dir", required_argument, NULL, OPT_STATE_DIR},
	{"window", required_argument, NULL, OPT_WINDOW},
	{"batch", required_argument, NULL, OPT_BATCH},
	{"dup-window", required_argument, NULL, OPT_DUP_WINDOW},
	{"log-level", required_argument, NULL, 'l'},
	{"check-config", no_argument, NULL, OPT_CHECK},
	{"stats", no_argument, NULL, OPT_STATS},
	{"json", no_argument, NULL, OPT_JSON},
	{"prometheus", no_argument, NULL, OPT_PROMETHEUS},
	PROG_OPTIONS_END,
};

/* "--name" of the option getopt_long() returned as c. */
static const char *opt_name(int c)
{
	static char buf[32];

	for (const struct option *o = longopts; o->name; o++)
		if (o->val == c) {
			snprintf(buf, sizeof(buf), "--%s", o->name);
			return buf;
		}
	return "?";
}

/*
 * The slot of a scalar option's value, NULL for the others: one case
 * per option, alike line by line on purpose (a lookup table as a switch).
 */
static const char **scalar_slot(struct options *o, int c)
{
	switch (c) {
	case 's':
		return &o->ov.socket;
	case OPT_NATS:
		return &o->ov.nats;
	case OPT_STREAM:
		return &o->ov.stream;
	case 'c':
		return &o->config;
	case OPT_WINDOW:
		return &o->ov.window;
	case OPT_BATCH:
		return &o->ov.batch;
	case OPT_DUP_WINDOW:
		return &o->ov.dup_window;
	case 'l':
		return &o->ov.log_level;
	default:
		return NULL;
	}
}

static void one_option(struct options *o, int c, char **argv)
{
	const char **slot = scalar_slot(o, c);

	if (slot) {
		prog_set_once(slot, opt_name(c), optarg);
		o->scalars++;
		return;
	}
	switch (c) {
	case OPT_EXPORT:
	case OPT_IMPORT:
		o->routes[o->nroutes++] = (struct route_arg){
			c == OPT_EXPORT ? ROUTE_EXPORT : ROUTE_IMPORT, optarg};
		o->scalars++;
		break;
	case OPT_STATE_DIR:
		prog_set_once(&o->ov.state_dir, "--state-dir", optarg);
		break;
	case OPT_CHECK:
		prog_flag_once(&o->check, "--check-config");
		o->scalars++;
		break;
	case OPT_STATS:
		prog_flag_once(&o->stats, "--stats");
		break;
	case OPT_JSON:
		prog_flag_once(&o->json, "--json");
		break;
	case OPT_PROMETHEUS:
		prog_flag_once(&o->prometheus, "--prometheus");
		break;
	default:
		prog_daemon_option(c, argv, usage, BUSBRIDGE_VERSION);
	}
}

static void parse_options(int argc, char **argv, struct options *o)
{
	int c;

	/* At most one route per argument. */
	o->routes = calloc((size_t)argc, sizeof(*o->routes));
	if (!o->routes)
		prog_die(EXIT_FAILURE, "out of memory");
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:s:c:l:hV", longopts, NULL)) != -1)
		one_option(o, c, argv);
	prog_die_operands(argc, argv);
	if (o->json && o->prometheus)
		prog_die(EXIT_USAGE, "--json and --prometheus: one format at a time");
	if ((o->json || o->prometheus) && !o->stats)
		prog_die(EXIT_USAGE, "--%s goes with --stats", o->json ? "json" : "prometheus");
	if (o->stats && o->scalars)
		prog_die(EXIT_USAGE, "--stats takes only --state-dir, --json or --prometheus");
}

/* --stats: reads the state directory's stats file; runs nothing. */
static int show_stats(const struct options *o)
{
	char dir[CFG_PATH_MAX];
	int r;

	if (o->ov.state_dir)
		snprintf(dir, sizeof(dir), "%s", o->ov.state_dir);
	else if ((r = cfg_default_state_dir(dir, sizeof(dir))) < 0)
		prog_die(EXIT_FAILURE, "no state directory: %s (give --state-dir)",
		         r == -ENOENT ? "HOME is not set" : "the default path is too long");
	return stats_show(dir, o->json ? STATS_JSON : o->prometheus ? STATS_PROMETHEUS
	                                                            : STATS_TABLE);
}

/* The settings and routes of the config, the options and the defaults. */
static void load_config(const struct options *o, struct bridge_config *cfg)
{
	char err[1024];

	cfg_init(cfg);
	if (o->config && cfg_load(cfg, o->config, err, sizeof(err)) < 0)
		prog_die(EXIT_FAILURE, "%s", err);
	if (cfg_override(cfg, &o->ov, err, sizeof(err)) < 0)
		prog_die(EXIT_USAGE, "%s", err);
	for (size_t i = 0; i < o->nroutes; i++)
		if (cfg_add_arg(cfg, o->routes[i].kind, o->routes[i].arg, err, sizeof(err)) < 0)
			prog_die(EXIT_USAGE, "%s", err);
	if (cfg->nroutes == 0)
		prog_die(o->config ? EXIT_FAILURE : EXIT_USAGE,
		         "no route: give --export QUEUE:SUBJECT or --import "
		         "SUBJECT:QUEUE[:DURABLE]%s",
		         o->config ? ", or export/import lines in the config" : "");
	if (cfg_resolve(cfg, err, sizeof(err)) < 0)
		prog_die(EXIT_FAILURE, "%s", err);
}

static int check_config(const struct options *o, const struct bridge_config *cfg)
{
	printf("# busbridge %s: %s\n", BUSBRIDGE_VERSION, "the settings are valid");
	if (o->config)
		printf("# config: %s\n", o->config);
	if (cfg_write(stdout, cfg) < 0)
		prog_die(EXIT_FAILURE, "cannot write to stdout: %s", strerror(errno));
	return EXIT_SUCCESS;
}

/* SIGTERM, SIGINT and SIGHUP go to a signalfd; every thread inherits the mask. */
static int setup_signals(void)
{
	sigset_t mask;
	int fd;

	prog_block_signals(&mask);
	fd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (fd < 0)
		prog_die(EXIT_FAILURE, "signalfd: %s", strerror(errno));
	return fd;
}

/* Everything the routes need that can fail: made before any thread runs. */
struct daemon {
	struct bridge_config cfg;
	struct stats_map stats;
	struct seq_file seq[BRIDGE_MAX_ROUTES];
	struct route routes[BRIDGE_MAX_ROUTES];
	pthread_t threads[BRIDGE_MAX_ROUTES];
	size_t started;
	atomic_bool stop;
	int lock_fd;
};

static void prepare(struct daemon *d)
{
	const struct bridge_config *cfg = &d->cfg;
	char err[1024];

	if (state_dir_make(cfg->state_dir, err, sizeof(err)) < 0)
		prog_die(EXIT_FAILURE, "%s", err);
	d->lock_fd = state_lock(cfg->state_dir, err, sizeof(err));
	if (d->lock_fd < 0)
		prog_die(EXIT_FAILURE, "%s", err);
	for (size_t i = 0; i < cfg->nroutes; i++)
		if (cfg->routes[i].kind == ROUTE_IMPORT &&
		    seq_open(&d->seq[i], cfg->state_dir, cfg->routes[i].durable, err,
		             sizeof(err)) < 0)
			prog_die(EXIT_FAILURE, "%s", err);
	if (stats_create(&d->stats, cfg, err, sizeof(err)) < 0)
		prog_die(EXIT_FAILURE, "%s", err);
	for (size_t i = 0; i < cfg->nroutes; i++)
		d->routes[i] = (struct route){
			.cfg = cfg,
			.rc = &cfg->routes[i],
			.st = &d->stats.routes[i],
			.seq = cfg->routes[i].kind == ROUTE_IMPORT ? &d->seq[i] : NULL,
			.stop = &d->stop,
		};
}

static int start_routes(struct daemon *d)
{
	for (size_t i = 0; i < d->cfg.nroutes; i++) {
		struct route *r = &d->routes[i];
		int e = pthread_create(&d->threads[i], NULL,
		                       r->rc->kind == ROUTE_EXPORT ? export_run : import_run, r);

		if (e != 0) {
			log_error("start_failed", "cannot start a route's thread",
			          "reason=\"%s\"", strerror(e));
			return -1;
		}
		d->started++;
	}
	return 0;
}

/* Waits for SIGTERM or SIGINT; SIGHUP is said and ignored. */
static void wait_for_stop(int sigfd)
{
	struct signalfd_siginfo si;

	for (;;) {
		ssize_t n = read(sigfd, &si, sizeof(si));

		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si)) {
			log_error("signal_failed", "cannot read signals: stopping",
			          "reason=\"%s\"", n < 0 ? strerror(errno) : "short read");
			return;
		}
		if (si.ssi_signo == SIGHUP) {
			log_info("reload_unsupported", "SIGHUP: reloading the config is "
			                               "not supported; restart busbridge",
			         NULL);
			continue;
		}
		log_info("stopping", "stopping", "signal=%s",
		         si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
		return;
	}
}

static void stop_routes(struct daemon *d)
{
	atomic_store(&d->stop, true);
	for (size_t i = 0; i < d->started; i++)
		pthread_join(d->threads[i], NULL);
	/* Every libnats thread gone: no ack callback can run any more. */
	if (nats_CloseAndWait(NATS_CLOSE_WAIT_MS) == NATS_OK)
		for (size_t i = 0; i < d->started; i++)
			export_free(&d->routes[i]);
	for (size_t i = 0; i < d->cfg.nroutes; i++)
		seq_close(&d->seq[i]);
	stats_close(&d->stats);
	close(d->lock_fd);
}

int main(int argc, char **argv)
{
	static struct daemon d;
	struct options opt = {0};
	int sigfd, rc;

	parse_options(argc, argv, &opt);
	if (!opt.stats)
		load_config(&opt, &d.cfg);
	free(opt.routes);
	if (opt.stats)
		return show_stats(&opt);
	if (opt.check)
		return check_config(&opt, &d.cfg);
	log_set_level(d.cfg.log_level);
	sigfd = setup_signals();
	prepare(&d);
	if (nats_Open(-1) != NATS_OK)
		prog_die(EXIT_FAILURE, "cannot initialise libnats: %s", nats_GetLastError(NULL));
	rc = start_routes(&d);
	if (rc == 0) {
		log_info("start", "started",
		         "pid=%d routes=%zu nats=\"%s\" stream=%s socket=\"%s\" "
		         "state_dir=\"%s\" version=%s",
		         (int)getpid(), d.cfg.nroutes, d.cfg.nats, d.cfg.stream,
		         d.cfg.socket, d.cfg.state_dir, BUSBRIDGE_VERSION);
		wait_for_stop(sigfd);
	}
	stop_routes(&d);
	close(sigfd);
	log_info("stop", "stopped", NULL);
	return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

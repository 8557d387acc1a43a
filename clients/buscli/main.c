/*
 * main.c - buscli: the command-line tool of bus.
 *
 *   buscli [--socket PATH] COMMAND [ARGS...]
 *
 * Parses the options that come before the command, picks the socket
 * (--socket, else bus_default_socket()) and hands the rest of the command
 * line to the command.  Each command parses its own options with
 * getopt_long, accepts --help, and may be given --socket as well.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "buscli.h"
#include "guard.h"

static const struct command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *summary;
} commands[] = {
	{"create", cmd_create, "create a queue"},
	{"delete", cmd_delete, "delete a queue"},
	{"list", cmd_list, "list the queues"},
	{"publish", cmd_publish, "send messages (arguments or stdin lines)"},
	{"recv", cmd_recv, "receive messages and print them"},
	{"stats", cmd_stats, "show the counters of queues"},
	{"call", cmd_call, "send a request and print its reply"},
	{"serve", cmd_serve, "answer requests with a shell command's output"},
};

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: " PROG " [--socket PATH] COMMAND [ARGS...]\n"
	        "\n"
	        "The command-line tool of bus, a shared-memory message bus.\n"
	        "\n"
	        "Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
	        "\n"
	        "Options:\n"
	        "  -s, --socket PATH  busd's socket (default: $BUS_SOCKET, else\n"
	        "                     $XDG_RUNTIME_DIR/bus/busd.sock, else\n"
	        "                     /tmp/bus-$UID/busd.sock)\n"
	        "  -h, --help         show this help ('" PROG " COMMAND --help' for a command)\n"
	        "  -V, --version      show the version\n"
	        "\n"
	        "Exit status: 0 success, 1 the operation failed, 2 bad command line,\n"
	        "3 no reply in time (call).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	struct cli cli = {0};
	int c, rc;

	/* stats must outlive a segment a producer truncated (guard.h) */
	if (guard_init() < 0) {
		fprintf(stderr, "buscli: cannot set up the SIGBUS guard: %s\n",
		        strerror(errno));
		return EXIT_FAIL;
	}
	opterr = 0;
	/* '+': stop at the command; what follows is the command's */
	while ((c = getopt_long(argc, argv, "+:s:hV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			cli.socket = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf(PROG " %d.%d.%d\n", BUS_VERSION_MAJOR, BUS_VERSION_MINOR,
			       BUS_VERSION_PATCH);
			return EXIT_OK;
		case ':':
			return cli_usage_error(NULL, "option '%s' needs a value",
			                       argv[optind - 1]);
		default:
			if (optopt)
				return cli_usage_error(NULL, "unknown option '-%c'", optopt);
			return cli_usage_error(NULL, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_error(NULL, "no command given");
	if (!cli.socket) {
		rc = bus_default_socket(cli.socket_buf, sizeof(cli.socket_buf));
		if (rc < 0) {
			cli_error("cannot work out busd's socket path: %s", bus_strerror(rc));
			return EXIT_FAIL;
		}
		cli.socket = cli.socket_buf;
	}
	if (cli.socket[0] == '\0')
		return cli_usage_error(NULL, "empty socket path");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[optind], commands[i].name) == 0) {
			argv += optind;
			argc -= optind;
			optind = 0; /* 0: getopt_long starts over on the new argv */
			return commands[i].run(&cli, argc, argv);
		}
	}
	return cli_usage_error(NULL, "unknown command '%s'", argv[optind]);
}

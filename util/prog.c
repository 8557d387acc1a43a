/*
 * prog.c - the programs' common command-line handling (prog.h).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "num.h"
#include "prog.h"

void prog_die(int status, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", prog_name, line);
	exit(status);
}

void prog_set_once(const char **slot, const char *opt, const char *arg)
{
	if (*slot)
		prog_die(PROG_EXIT_USAGE, "option %s given twice", opt);
	if (!*arg)
		prog_die(PROG_EXIT_USAGE, "option %s needs a non-empty argument", opt);
	*slot = arg;
}

void prog_flag_once(bool *flag, const char *opt)
{
	if (*flag)
		prog_die(PROG_EXIT_USAGE, "option %s given twice", opt);
	*flag = true;
}

void prog_die_bad_option(int c, char **argv)
{
	if (c == ':')
		prog_die(PROG_EXIT_USAGE, "option %s needs an argument (see %s --help)",
		         argv[optind - 1], prog_name);
	if (optopt)
		prog_die(PROG_EXIT_USAGE, "unknown option '-%c' (see %s --help)", optopt,
		         prog_name);
	prog_die(PROG_EXIT_USAGE, "unknown option '%s' (see %s --help)",
	         argv[optind - 1], prog_name);
}

void prog_daemon_option(int c, char **argv, const char *usage, const char *version)
{
	if (c == 'h')
		fputs(usage, stdout);
	else if (c == 'V')
		printf("%s %s\n", prog_name, version);
	else
		prog_die_bad_option(c, argv);
	exit(fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}

void prog_die_operands(int argc, char **argv)
{
	if (optind < argc)
		prog_die(PROG_EXIT_USAGE, "unexpected argument '%s' (see %s --help)",
		         argv[optind], prog_name);
}

int prog_bad_option(int c, char **argv)
{
	const char *arg = argv[optind - 1];

	if (c == ':')
		fprintf(stderr, "%s: option '%s' needs a value (see --help)\n",
		        prog_name, arg);
	/*
	 * A known long option given "=value" though it takes none comes back
	 * as '?' with optopt its value; an unknown one with optopt 0, an
	 * unknown short one with optopt the letter.
	 */
	else if (optopt && strncmp(arg, "--", 2) == 0)
		fprintf(stderr, "%s: option '%s' takes no value (see --help)\n",
		        prog_name, arg);
	else if (optopt)
		fprintf(stderr, "%s: unknown option '-%c' (see --help)\n", prog_name,
		        optopt);
	else
		fprintf(stderr, "%s: unknown option '%s' (see --help)\n", prog_name,
		        arg);
	return PROG_EXIT_USAGE;
}

int prog_operands(int argc, char **argv)
{
	if (optind >= argc)
		return 0;
	fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", prog_name,
	        argv[optind]);
	return PROG_EXIT_USAGE;
}

int prog_tool_option(int c, char **argv, void (*usage)(FILE *),
                     const char *version)
{
	switch (c) {
	case 'h':
		usage(stdout);
		return -1;
	case 'V':
		printf("%s (bus) %s\n", prog_name, version);
		return -1;
	default:
		return prog_bad_option(c, argv);
	}
}

/* arg as a number in [min, max], with sizes one suffix; 0 or -EINVAL. */
static int opt_number(const char *arg, bool sizes, uint64_t min, uint64_t max,
                      uint64_t *ret)
{
	uint64_t v;
	int r = sizes ? num_parse_size(arg, &v) : num_parse_u64(arg, &v);

	if (r < 0 || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

int prog_opt_u64(const char *opt, const char *arg, bool sizes, uint64_t min,
                 uint64_t max, uint64_t *ret)
{
	if (opt_number(arg, sizes, min, max, ret) == 0)
		return 0;
	fprintf(stderr,
	        "%s: %s: expected a whole number from %" PRIu64 " to %" PRIu64
	        ", got '%s'\n",
	        prog_name, opt, min, max, arg);
	return PROG_EXIT_USAGE;
}

int prog_opt_pow2(const char *opt, const char *arg, uint64_t min, uint64_t max,
                  const char *range, uint64_t *ret)
{
	if (opt_number(arg, true, min, max, ret) == 0 && (*ret & (*ret - 1)) == 0)
		return 0;
	fprintf(stderr,
	        "%s: %s: expected a power of two from %s bytes (K, M, G suffixes "
	        "allowed), got '%s'\n",
	        prog_name, opt, range, arg);
	return PROG_EXIT_USAGE;
}

void prog_block_signals(sigset_t *mask)
{
	struct sigaction ign = {.sa_handler = SIG_IGN};

	sigemptyset(mask);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, mask, NULL) < 0)
		prog_die(EXIT_FAILURE, "sigprocmask: %s", strerror(errno));
	sigemptyset(&ign.sa_mask);
	if (sigaction(SIGPIPE, &ign, NULL) < 0)
		prog_die(EXIT_FAILURE, "sigaction: %s", strerror(errno));
}

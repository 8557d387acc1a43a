/*
 * prog.c - the programs' common command-line handling (prog.h).
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

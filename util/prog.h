/*
 * prog.h - what the tree's programs do alike on their command line: an
 * error line with the program's name, each option at most once, and the
 * complaint for an option getopt_long() refused.
 *
 * Two wordings, as the programs always had them: the daemons (busd,
 * busbridge) die at once, "busd: option --socket needs an argument (see
 * busd --help)"; the tools (busbench, bus-cost, ring-demo) print and
 * return their status, "busbench: option '--runs' needs a value (see
 * --help)".  Both expect opterr = 0 and an optstring that starts with
 * ':' (or "+:").
 */
#ifndef UTIL_PROG_H
#define UTIL_PROG_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/*
 * The last rows of every program's getopt_long() table: --help as 'h',
 * --version as 'V', and the end.  The rows before them are alike across
 * the programs by getopt_long()'s form, {name, has_arg, NULL, value}:
 * each program keeps its own table and switch next to its --help text, on
 * purpose, so that a reader sees a program's options in one place.
 * (Left unformatted: clang-format would break the last row over three.)
 */
/* clang-format off */
#define PROG_OPTIONS_END \
	{"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'}, \
	{NULL, 0, NULL, 0}
/* clang-format on */

/* A bad command line's exit status, in every program of the tree. */
#define PROG_EXIT_USAGE 2

/*
 * The program's name for its messages, which each program using these
 * defines: const char *const prog_name = "busd";
 */
extern const char *const prog_name;

/* "NAME: <fmt>" and a newline on stderr, then exit(status). */
void prog_die(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

/*
 * *slot = arg; dies (PROG_EXIT_USAGE) if opt was given already or arg is
 * empty.
 */
void prog_set_once(const char **slot, const char *opt, const char *arg);

/* *flag = true; dies (PROG_EXIT_USAGE) if opt was given already. */
void prog_flag_once(bool *flag, const char *opt);

/*
 * The daemons: dies (PROG_EXIT_USAGE) for what getopt_long() answered c
 * (':' or '?') to argv, or for an argument after the options.
 */
void prog_die_bad_option(int c, char **argv) __attribute__((noreturn));
void prog_die_operands(int argc, char **argv);

/*
 * The daemons, for what getopt_long() answered c that none of their own
 * cases took: 'h' prints usage, 'V' the line "NAME VERSION", and both
 * exit (0, or 1 if stdout could not be written); anything else is
 * prog_die_bad_option().
 */
void prog_daemon_option(int c, char **argv, const char *usage, const char *version)
	__attribute__((noreturn));

/*
 * The tools: says on stderr what getopt_long() answered c (':' or '?')
 * to argv for (a missing value, a value for an option that takes none,
 * an unknown option), or that an argument follows the options; returns
 * PROG_EXIT_USAGE (prog_operands(): 0 where there is none).
 */
int prog_bad_option(int c, char **argv);
int prog_operands(int argc, char **argv);

/*
 * The tools: *ret = arg, a whole decimal number in [min, max] (with sizes,
 * one K, M, G or T suffix; util/num.h).  Returns 0, or says "NAME: OPT:
 * expected a whole number from MIN to MAX, got 'ARG'" on stderr and
 * returns PROG_EXIT_USAGE.
 */
int prog_opt_u64(const char *opt, const char *arg, bool sizes, uint64_t min,
                 uint64_t max, uint64_t *ret);

/*
 * The tools: *ret = arg, a power of two in [min, max] bytes, K, M, G or T
 * suffixes allowed.  Returns 0, or says "NAME: OPT: expected a power of
 * two from RANGE bytes (K, M, G suffixes allowed), got 'ARG'" and returns
 * PROG_EXIT_USAGE; range is [min, max] as the help writes it ("256K to
 * 256M").
 */
int prog_opt_pow2(const char *opt, const char *arg, uint64_t min, uint64_t max,
                  const char *range, uint64_t *ret);

/*
 * The tools: for what getopt_long() answered c that none of their own
 * cases took: 'h' prints usage(stdout), 'V' the line "NAME (bus)
 * VERSION", and both return -1 (for "exit 0"); anything else is
 * prog_bad_option().  version is PROG_BUS_VERSION, "MAJOR.MINOR.PATCH"
 * from bus/bus.h, which the caller includes.
 */
int prog_tool_option(int c, char **argv, void (*usage)(FILE *),
                     const char *version);

#define PROG_STR_(x) #x
#define PROG_STR(x)  PROG_STR_(x)
#define PROG_BUS_VERSION            \
	PROG_STR(BUS_VERSION_MAJOR) \
	"." PROG_STR(BUS_VERSION_MINOR) "." PROG_STR(BUS_VERSION_PATCH)

/*
 * The daemons (busd, busbridge): blocks SIGTERM, SIGINT and SIGHUP, to be
 * read from a signalfd made from *mask, and ignores SIGPIPE; dies
 * (EXIT_FAILURE) if it cannot.
 */
void prog_block_signals(sigset_t *mask);

#endif

/*
 * config.h - busbridge's settings and routes: the config file, the
 * command line's overrides, and the checks both go through.
 *
 *   # comment
 *   socket /run/bus/busd.sock
 *   nats nats://10.0.0.2:4222
 *   stream BUS
 *   state-dir /var/lib/busbridge
 *   window 1024
 *   batch 256
 *   dup-window 120
 *   log-level info
 *   export orders orders.created
 *   import orders.created orders_in [DURABLE]
 *
 * One directive per line, its words separated by blanks; '#' starts a
 * comment at the start of a line or after a blank.  A scalar given twice
 * in the file, an unknown directive, a bad value or a route the others
 * forbid is an error "FILE:LINE: reason".  The command line overrides the
 * file's scalars and adds its routes after the file's.
 *
 * This module fills a struct and checks it; it logs nothing and touches
 * neither busd, NATS nor the state directory.
 */
#ifndef BUSBRIDGE_CONFIG_H
#define BUSBRIDGE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/un.h>

#include "bridge.h"
#include "log.h"

#define CFG_MAX_FILE   (1u << 20) /* bytes */
#define CFG_MAX_LINE   4096u      /* bytes, without the newline */
#define CFG_SOCKET_MAX (sizeof(((struct sockaddr_un *)0)->sun_path))
#define CFG_URL_MAX    1024u
#define CFG_PATH_MAX   4096u

#define CFG_DEFAULT_NATS       "nats://127.0.0.1:4222"
#define CFG_DEFAULT_STREAM     "BUS"
#define CFG_DEFAULT_WINDOW     1024u
#define CFG_MAX_WINDOW         65536u
#define CFG_DEFAULT_BATCH      256u
#define CFG_MAX_BATCH          4096u
#define CFG_DEFAULT_DUP_WINDOW 120u
#define CFG_MAX_DUP_WINDOW     86400u

/* Where a setting or route came from, for the messages about it. */
#define CFG_WHERE_MAX 160

struct route_conf {
	enum route_kind kind;
	char queue[BUS_NAME_MAX + 1];
	char subject[BRIDGE_SUBJECT_MAX + 1];
	char durable[BRIDGE_NAME_MAX + 1]; /* import only; "" for export */
	char where[CFG_WHERE_MAX];         /* "FILE:LINE" or "--export ARG" */
	bool from_file;
};

struct bridge_config {
	char socket[CFG_SOCKET_MAX]; /* "" until resolved: bus_default_socket() */
	char nats[CFG_URL_MAX];
	char stream[BRIDGE_NAME_MAX + 1];
	char state_dir[CFG_PATH_MAX]; /* "" until resolved: cfg_default_state_dir() */
	uint32_t window;
	uint32_t batch;
	uint32_t dup_window; /* seconds */
	enum log_level log_level;
	struct route_conf routes[BRIDGE_MAX_ROUTES];
	size_t nroutes;
};

/* The scalars as strings from the command line, NULL when not given. */
struct cfg_overrides {
	const char *socket, *nats, *stream, *state_dir;
	const char *window, *batch, *dup_window, *log_level;
};

/* Fills *c with the defaults (no routes, socket and state-dir unset). */
void cfg_init(struct bridge_config *c);

/*
 * Reads the config file path into *c.  Returns 0, or -EINVAL with
 * "FILE:LINE: reason" (or "FILE: reason") in err.
 */
int cfg_load(struct bridge_config *c, const char *path, char *err, size_t n);

/*
 * Applies the command line's scalars over *c.  Returns 0, or -EINVAL with
 * "--option: reason" in err.
 */
int cfg_override(struct bridge_config *c, const struct cfg_overrides *o,
                 char *err, size_t n);

/*
 * Adds a route from the command line: kind's argument "QUEUE:SUBJECT" or
 * "SUBJECT:QUEUE[:DURABLE]".  Returns 0, or -EINVAL with the reason in
 * err (the route itself checked as cfg_load does, and against the routes
 * already added).
 */
int cfg_add_arg(struct bridge_config *c, enum route_kind kind, const char *arg,
                char *err, size_t n);

/*
 * Fills the settings nothing gave: the socket (bus_default_socket()) and
 * the state directory (see cfg_default_state_dir()).  Returns 0, or
 * -ENAMETOOLONG / -ENOENT with the reason in err.
 */
int cfg_resolve(struct bridge_config *c, char *err, size_t n);

/*
 * The default state directory: $STATE_DIRECTORY (its first entry), else
 * /var/lib/busbridge for root, else $XDG_STATE_HOME/busbridge, else
 * $HOME/.local/state/busbridge.  Returns 0, -ENOENT when none applies (no
 * HOME), -ENAMETOOLONG.
 */
int cfg_default_state_dir(char *buf, size_t n);

/* Writes *c in the config file's syntax (parses back to the same). */
int cfg_write(FILE *f, const struct bridge_config *c);

/* --- the names and subjects both directions use (also for --stats) --- */

/*
 * A literal subject: tokens separated by '.', each non-empty, of
 * printable ASCII without space, '*' or '>'; at most 255 bytes.
 */
bool cfg_subject_valid(const char *s);

/* A stream or durable name: 1 to 64 of [A-Za-z0-9_-]. */
bool cfg_name_valid(const char *s);

/*
 * The default durable of an import into queue: '_' becomes "__" and '.'
 * becomes "_d", so two queue names never share one.  Returns 0, or
 * -ENAMETOOLONG if it exceeds 64 characters.
 */
int cfg_default_durable(const char *queue, char out[BRIDGE_NAME_MAX + 1]);

#endif

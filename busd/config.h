/*
 * config.h - busd's config file: daemon settings, queues, access rules.
 *
 *   # comment
 *   [busd]
 *   socket = /run/bus/busd.sock
 *   log-level = info
 *   max-connections = 256
 *   max-connections-per-uid = 64
 *   max-queues = 1024
 *   max-capacity = 1G
 *   default-capacity = 1M
 *   create = uid:1000 group:devs
 *
 *   [queue orders]
 *   capacity = 4M
 *   max-message = 64K
 *   max-producers = 64
 *   produce = uid:1000 gid:100
 *   consume = user:alice
 *   admin = uid:1000
 *
 * docs/busd.md describes every key.  Parsing is strict: an unknown
 * section or key, a key given twice, a bad number or suffix, a value out
 * of range, an invalid or duplicate queue name, an unknown user or group
 * are all errors, reported as "FILE:LINE: what is wrong", and busd does
 * not start.  User and group names are resolved here, once, at load.
 *
 * This module reads one file and fills a struct; it neither logs nor
 * touches sockets or segments.
 */
#ifndef BUSD_CONFIG_H
#define BUSD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/un.h>

#include "access.h"
#include "bus/bus.h"
#include "log.h"

#define CONFIG_MAX_FILE       (1u << 20) /* bytes */
#define CONFIG_MAX_LINE       4096u      /* bytes, without the newline */
#define CONFIG_MAX_PRINCIPALS 256u       /* per rule */
#define CONFIG_MAX_LIMIT      65536u     /* max-connections, max-queues */
#define CONFIG_SOCKET_MAX     (sizeof(((struct sockaddr_un *)0)->sun_path))

#define CONFIG_DEFAULT_CONNECTIONS 256u
/* max-connections-per-uid when not set: this fraction of max-connections. */
#define CONFIG_DEFAULT_PER_UID_DIV 4u
#define CONFIG_DEFAULT_QUEUES      1024u

/* A queue declared in the config. */
struct queue_conf {
	char name[BUS_NAME_MAX + 1];
	uint64_t capacity;    /* a power of two */
	uint32_t max_message; /* 0: the largest the capacity allows */
	uint32_t max_producers;
	struct queue_rules rules;
	unsigned line; /* of its [queue NAME] header */
};

struct busd_config {
	char socket[CONFIG_SOCKET_MAX]; /* "" when not set */
	bool has_log_level;
	enum log_level log_level;
	uint32_t max_connections;
	uint32_t max_connections_per_uid; /* busd's uid and root: no limit */
	uint32_t max_queues;
	uint64_t max_capacity;     /* largest capacity a client may ask for */
	uint64_t default_capacity; /* capacity 0 in a request, or not configured */
	struct access_rule create;
	struct queue_conf *queues; /* in file order */
	size_t nqueues;
};

/* Fills *c with the defaults: what busd does without a config file. */
void config_init(struct busd_config *c);

/*
 * Parses len bytes of text, named file in messages, into *c (which
 * config_init() prepared).  Returns 0, or -EINVAL with "FILE:LINE: what
 * is wrong" in err.  Call config_free() afterwards either way.
 */
int config_parse(struct busd_config *c, const char *file, const char *text,
                 size_t len, char *err, size_t errlen);

/* Reads path (at most CONFIG_MAX_FILE bytes) and parses it as above. */
int config_load(struct busd_config *c, const char *path, char *err,
                size_t errlen);

void config_free(struct busd_config *c);

/* The queue named name, or NULL. */
const struct queue_conf *config_queue(const struct busd_config *c,
                                      const char *name);

/* True if some rule grants a right to anyone other than self and root. */
bool config_grants_others(const struct busd_config *c, uint32_t self);

/*
 * The principals of q's produce rule that its consume rule does not
 * cover, written into buf as "uid:1000 gid:100 *" (cut short with "..."
 * if it does not fit).  A producer maps the whole ring read-write, so
 * each of them can read what others send to the queue and disturb it:
 * busd warns about them at start.  Principals are compared as written:
 * uid:N is covered by uid:N or * in consume (busd's uid and root always
 * are), gid:N by gid:N or *, * only by *; a user covered only through
 * one of its groups is still named.  Returns how many were found.
 */
size_t config_produce_only(const struct queue_conf *q, uint32_t self,
                           char *buf, size_t n);

/*
 * Strict numbers: decimal digits only (no sign, no space), the whole
 * string, no overflow.  config_parse_size() also takes one K, M, G or T
 * suffix (1024-based, either case), optionally followed by B or iB, as
 * buscli does (util/num.h).  Return 0, -EINVAL for bad syntax, or
 * -ERANGE for a value that does not fit 64 bits.
 */
int config_parse_uint(const char *s, uint64_t *ret);
int config_parse_size(const char *s, uint64_t *ret);

/*
 * Parses a principal list ("uid:0 gid:100,user:alice *") into *r,
 * resolving names.  Returns 0, or -EINVAL with what is wrong in err;
 * *r is untouched on failure.
 */
int config_parse_principals(const char *s, struct access_rule *r, char *err,
                            size_t errlen);

/* Writes v as "4M", "64K" or "1000" (exact suffixes only). */
void config_format_size(char *buf, size_t n, uint64_t v);

/*
 * Writes c to f in the config file's own syntax, every key with the
 * value busd uses (defaults filled in, names resolved to uid:N and gid:N,
 * a queue's max-message 0 as the largest its capacity allows), so the
 * output parses back to the same settings.  self is busd's uid, named in
 * the comments on who holds which right.  Returns 0, or -EIO if f failed.
 */
int config_write(FILE *f, const struct busd_config *c, uint32_t self);

#endif

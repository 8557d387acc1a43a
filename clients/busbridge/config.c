/*
 * config.c - the config file parser and the checks on settings and
 * routes (see config.h for the format).
 *
 * A route is checked when it is added, against the routes before it, so
 * the message names the later of two that conflict: the file's routes
 * come first, then the command line's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "util/conf.h"
#include "util/num.h"

#define MAX_WORDS 8

struct parser {
	struct bridge_config *c;
	const char *file;
	unsigned line;
	unsigned seen;         /* scalar_keys[k] given: bit k */
	unsigned seen_line[8]; /* where each was */
	char *err;
	size_t errlen;
};

static const char *const kind_names[] = {
	[ROUTE_EXPORT] = "export",
	[ROUTE_IMPORT] = "import",
};

const char *route_kind_name(enum route_kind kind)
{
	return kind == ROUTE_EXPORT || kind == ROUTE_IMPORT ? kind_names[kind] : "?";
}

static int failf(char *err, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int failf(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/*
 * The defaults, one designated initialiser a field: alike in form to
 * other such tables (libbus/wait.c's wait_futex_ops), not a copy.
 */
void cfg_init(struct bridge_config *c)
{
	*c = (struct bridge_config){
		.nats = CFG_DEFAULT_NATS,
		.stream = CFG_DEFAULT_STREAM,
		.window = CFG_DEFAULT_WINDOW,
		.batch = CFG_DEFAULT_BATCH,
		.dup_window = CFG_DEFAULT_DUP_WINDOW,
		.log_level = LOG_LEVEL_INFO,
	};
}

bool cfg_subject_valid(const char *s)
{
	size_t len = strnlen(s, BRIDGE_SUBJECT_MAX + 1);
	bool token_empty = true;

	if (len == 0 || len > BRIDGE_SUBJECT_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '.') {
			if (token_empty)
				return false;
			token_empty = true;
			continue;
		}
		/* printable ASCII without space; wildcards are not literal */
		if (ch <= ' ' || ch >= 0x7f || ch == '*' || ch == '>')
			return false;
		token_empty = false;
	}
	return !token_empty;
}

bool cfg_name_valid(const char *s)
{
	size_t len = strnlen(s, BRIDGE_NAME_MAX + 1);

	if (len == 0 || len > BRIDGE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		          (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';

		if (!ok)
			return false;
	}
	return true;
}

int cfg_default_durable(const char *queue, char out[BRIDGE_NAME_MAX + 1])
{
	size_t n = 0;

	for (const char *p = queue; *p; p++) {
		const char *rep = *p == '_' ? "__" : *p == '.' ? "_d"
		                                               : NULL;
		size_t k = rep ? 2 : 1;

		if (n + k > BRIDGE_NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(out + n, rep ? rep : p, k);
		n += k;
	}
	out[n] = '\0';
	return 0;
}

/* A whole number in [min, max] into *ret; -EINVAL otherwise. */
static int parse_range(const char *s, uint64_t min, uint64_t max, uint32_t *ret)
{
	uint64_t v;

	if (num_parse_u64(s, &v) < 0 || v < min || v > max)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

static bool same_route(const struct route_conf *a, const struct route_conf *b)
{
	return a->kind == b->kind && strcmp(a->queue, b->queue) == 0 &&
	       strcmp(a->subject, b->subject) == 0;
}

/* A new route against those before it: says why it may not join them. */
static int check_conflicts(const struct bridge_config *c,
                           const struct route_conf *r, char *err, size_t n)
{
	for (size_t i = 0; i < c->nroutes; i++) {
		const struct route_conf *o = &c->routes[i];

		if (r->kind == ROUTE_EXPORT && o->kind == ROUTE_EXPORT &&
		    strcmp(o->queue, r->queue) == 0)
			return failf(err, n, "queue '%s' is exported already (%s): "
			                     "a queue has one consumer, so one export route",
			             r->queue, o->where);
		if (same_route(r, o))
			return failf(err, n, "import route %s -> %s given twice (first: %s)",
			             r->subject, r->queue, o->where);
		if (r->kind == ROUTE_IMPORT && o->kind == ROUTE_IMPORT &&
		    strcmp(o->durable, r->durable) == 0)
			return failf(err, n, "durable '%s' is used already by the import "
			                     "route at %s: each import route needs its own",
			             r->durable, o->where);
	}
	if (c->nroutes == BRIDGE_MAX_ROUTES)
		return failf(err, n, "too many routes: at most %d", BRIDGE_MAX_ROUTES);
	return 0;
}

/*
 * Checks one route's words and appends it.  durable NULL: the default.
 * Returns 0, or -EINVAL with the reason (no location) in err.
 */
static int add_route(struct bridge_config *c, enum route_kind kind,
                     const char *queue, const char *subject,
                     const char *durable, const char *where, bool from_file,
                     char *err, size_t n)
{
	struct route_conf r = {.kind = kind, .from_file = from_file};

	if (!bus_name_valid(queue))
		return failf(err, n, "invalid queue name '%s': 1 to %d of "
		                     "A-Z a-z 0-9 . _ -",
		             queue, BUS_NAME_MAX);
	if (!cfg_subject_valid(subject))
		return failf(err, n, "invalid subject '%s': tokens separated by '.', "
		                     "each non-empty, printable ASCII without blanks, "
		                     "'*' or '>' (literal subjects only), at most %d bytes",
		             subject, BRIDGE_SUBJECT_MAX);
	if (durable && !cfg_name_valid(durable))
		return failf(err, n, "invalid durable name '%s': 1 to %d of "
		                     "A-Z a-z 0-9 _ -",
		             durable, BRIDGE_NAME_MAX);
	strcpy(r.queue, queue);
	strcpy(r.subject, subject);
	if (kind == ROUTE_IMPORT && durable)
		strcpy(r.durable, durable);
	else if (kind == ROUTE_IMPORT && cfg_default_durable(queue, r.durable) < 0)
		return failf(err, n, "the durable made from queue '%s' would exceed "
		                     "%d characters: name one",
		             queue, BRIDGE_NAME_MAX);
	snprintf(r.where, sizeof(r.where), "%s", where);
	if (check_conflicts(c, &r, err, n) < 0)
		return -EINVAL;
	c->routes[c->nroutes++] = r;
	return 0;
}

/* --- scalars, shared by the file and the command line --- */

static int set_string(char *dst, size_t cap, const char *v, const char *what,
                      char *err, size_t n)
{
	if (strlen(v) >= cap)
		return failf(err, n, "%s too long (at most %zu bytes)", what, cap - 1);
	strcpy(dst, v);
	return 0;
}

/* A NATS URL list: libnats parses it; here only what cannot be one. */
static int set_nats(struct bridge_config *c, const char *v, char *err, size_t n)
{
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return failf(err, n, "invalid NATS URL '%s': blanks or control "
			                     "characters",
			             v);
	if (!*v)
		return failf(err, n, "empty NATS URL");
	return set_string(c->nats, sizeof(c->nats), v, "NATS URL", err, n);
}

/* Sets scalar key to v.  Returns 1 if key is no scalar, 0, or -EINVAL. */
static int set_scalar(struct bridge_config *c, const char *key, const char *v,
                      char *err, size_t n)
{
	if (strcmp(key, "socket") == 0)
		return !*v ? failf(err, n, "empty socket path")
		           : set_string(c->socket, sizeof(c->socket), v, "socket path", err, n);
	if (strcmp(key, "nats") == 0)
		return set_nats(c, v, err, n);
	if (strcmp(key, "stream") == 0) {
		if (!cfg_name_valid(v))
			return failf(err, n, "invalid stream name '%s': 1 to %d of "
			                     "A-Z a-z 0-9 _ -",
			             v, BRIDGE_NAME_MAX);
		strcpy(c->stream, v);
		return 0;
	}
	if (strcmp(key, "state-dir") == 0)
		return !*v ? failf(err, n, "empty state directory")
		           : set_string(c->state_dir, sizeof(c->state_dir), v, "state directory", err, n);
	if (strcmp(key, "window") == 0)
		return parse_range(v, 1, CFG_MAX_WINDOW, &c->window) < 0
		               ? failf(err, n, "invalid window '%s': want 1 to %u", v, CFG_MAX_WINDOW)
		               : 0;
	if (strcmp(key, "batch") == 0)
		return parse_range(v, 1, CFG_MAX_BATCH, &c->batch) < 0
		               ? failf(err, n, "invalid batch '%s': want 1 to %u", v, CFG_MAX_BATCH)
		               : 0;
	if (strcmp(key, "dup-window") == 0)
		return parse_range(v, 1, CFG_MAX_DUP_WINDOW, &c->dup_window) < 0
		               ? failf(err, n, "invalid dup-window '%s': want 1 to %u seconds", v,
		                       CFG_MAX_DUP_WINDOW)
		               : 0;
	if (strcmp(key, "log-level") == 0)
		return log_level_parse(v, &c->log_level) < 0
		               ? failf(err, n, "invalid log level '%s': want error, warn, "
		                               "info or debug",
		                       v)
		               : 0;
	return 1;
}

static const char *const scalar_keys[] = {
	"socket", "nats", "stream", "state-dir",
	"window", "batch", "dup-window", "log-level"};

static int scalar_index(const char *key)
{
	for (size_t i = 0; i < sizeof(scalar_keys) / sizeof(scalar_keys[0]); i++)
		if (strcmp(scalar_keys[i], key) == 0)
			return (int)i;
	return -1;
}

/* --- the file --- */

/* "FILE:LINE: message" into p->err; returns -EINVAL. */
#define fail(p, ...) \
	conf_fail_at((p)->err, (p)->errlen, (p)->file, (p)->line, __VA_ARGS__)

/* The reason add_route() or set_scalar() left in err, with the location. */
static int fail_at(struct parser *p)
{
	char why[512];

	snprintf(why, sizeof(why), "%s", p->err);
	return fail(p, "%s", why);
}

/*
 * Splits line into blank-separated words, up to a comment ('#' at the
 * start or after a blank).  Returns the count, or -1 if there are more
 * than MAX_WORDS.
 */
static int split(char *line, char *words[MAX_WORDS])
{
	int nw = 0;
	char *p = line;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r')
			p++;
		if (*p == '\0' || *p == '#')
			return nw;
		if (nw == MAX_WORDS)
			return -1;
		words[nw++] = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\r')
			p++;
		if (*p)
			*p++ = '\0';
	}
}

static int parse_route(struct parser *p, char **w, int nw)
{
	char where[CFG_WHERE_MAX];
	bool export = strcmp(w[0], "export") == 0;

	if (export && nw != 3)
		return fail(p, "want: export QUEUE SUBJECT");
	if (!export && nw != 3 && nw != 4)
		return fail(p, "want: import SUBJECT QUEUE [DURABLE]");
	snprintf(where, sizeof(where), "%s:%u", p->file, p->line);
	if (export)
		return add_route(p->c, ROUTE_EXPORT, w[1], w[2], NULL, where, true,
		                 p->err, p->errlen) < 0
		               ? fail_at(p)
		               : 0;
	return add_route(p->c, ROUTE_IMPORT, w[2], w[1], nw == 4 ? w[3] : NULL,
	                 where, true, p->err, p->errlen) < 0
	               ? fail_at(p)
	               : 0;
}

static int parse_line(struct parser *p, char *line)
{
	char *w[MAX_WORDS];
	int nw = split(line, w), k;

	if (nw < 0)
		return fail(p, "too many words");
	if (nw == 0)
		return 0;
	if (strcmp(w[0], "export") == 0 || strcmp(w[0], "import") == 0)
		return parse_route(p, w, nw);
	k = scalar_index(w[0]);
	if (k < 0)
		return fail(p, "unknown directive '%s'", w[0]);
	if (nw != 2)
		return fail(p, "want: %s VALUE", w[0]);
	if (p->seen & (1u << k))
		return fail(p, "'%s' given twice (first on line %u)", w[0],
		            p->seen_line[k]);
	p->seen |= 1u << k;
	p->seen_line[k] = p->line;
	return set_scalar(p->c, w[0], w[1], p->err, p->errlen) != 0 ? fail_at(p) : 0;
}

/*
 * Reads a regular file of at most CFG_MAX_FILE bytes.  Returns it in a
 * NUL-ended malloc'd buffer (its length in *len), or NULL with the reason
 * in err.
 */
static char *read_file(const char *path, size_t *len, char *err, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t got = 0;
	char *buf;

	if (fd < 0) {
		failf(err, n, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CFG_MAX_FILE) {
		close(fd);
		failf(err, n, "%s: not a regular file of at most %u bytes", path,
		      CFG_MAX_FILE);
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	while (buf && got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (!buf || got != (size_t)st.st_size) {
		free(buf);
		failf(err, n, "%s: cannot read it", path);
		return NULL;
	}
	buf[got] = '\0';
	*len = got;
	return buf;
}

int cfg_load(struct bridge_config *c, const char *path, char *err, size_t n)
{
	struct parser p = {.c = c, .file = path, .err = err, .errlen = n};
	size_t len = 0;
	char *text = read_file(path, &len, err, n), *line;
	int r = 0;

	if (!text)
		return -EINVAL;
	if (strlen(text) != len) {
		free(text);
		return failf(err, n, "%s: holds a NUL byte: not a config file", path);
	}
	line = text;
	while (r == 0 && *line) {
		char *nl = strchr(line, '\n');

		p.line++;
		if (nl)
			*nl = '\0';
		if (strlen(line) > CFG_MAX_LINE)
			r = fail(&p, "line longer than %u bytes", CFG_MAX_LINE);
		else
			r = parse_line(&p, line);
		line = nl ? nl + 1 : line + strlen(line);
	}
	free(text);
	return r;
}

/* --- the command line --- */

int cfg_override(struct bridge_config *c, const struct cfg_overrides *o,
                 char *err, size_t n)
{
	const char *vals[] = {o->socket, o->nats, o->stream, o->state_dir,
	                      o->window, o->batch, o->dup_window, o->log_level};
	char why[512];

	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		if (!vals[i])
			continue;
		if (set_scalar(c, scalar_keys[i], vals[i], why, sizeof(why)) != 0)
			return failf(err, n, "--%s: %s", scalar_keys[i], why);
	}
	return 0;
}

int cfg_add_arg(struct bridge_config *c, enum route_kind kind, const char *arg,
                char *err, size_t n)
{
	char copy[CFG_MAX_LINE], where[CFG_WHERE_MAX], why[512];
	char *first, *second, *third;

	snprintf(where, sizeof(where), "--%s %s", route_kind_name(kind), arg);
	if (strlen(arg) >= sizeof(copy))
		return failf(err, n, "%s: too long", where);
	strcpy(copy, arg);
	/* Queue and durable names hold no ':'; an export's subject may. */
	first = copy;
	second = strchr(copy, ':');
	if (!second)
		return failf(err, n, "--%s '%s': want %s", route_kind_name(kind), arg,
		             kind == ROUTE_EXPORT ? "QUEUE:SUBJECT"
		                                  : "SUBJECT:QUEUE[:DURABLE]");
	*second++ = '\0';
	third = kind == ROUTE_IMPORT ? strchr(second, ':') : NULL;
	if (third)
		*third++ = '\0';
	if (kind == ROUTE_EXPORT ? add_route(c, kind, first, second, NULL, where, false, why, sizeof(why))
	                         : add_route(c, kind, second, first, third, where, false, why, sizeof(why)))
		return failf(err, n, "--%s '%s': %s", route_kind_name(kind), arg, why);
	return 0;
}

int cfg_default_state_dir(char *buf, size_t n)
{
	const char *sd = getenv("STATE_DIRECTORY");
	const char *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	int w;

	if (sd && *sd) /* systemd: colon-separated when several are set */
		w = snprintf(buf, n, "%.*s", (int)strcspn(sd, ":"), sd);
	else if (geteuid() == 0)
		w = snprintf(buf, n, "/var/lib/busbridge");
	else if (xdg && xdg[0] == '/')
		w = snprintf(buf, n, "%s/busbridge", xdg);
	else if (home && *home)
		w = snprintf(buf, n, "%s/.local/state/busbridge", home);
	else
		return -ENOENT;
	return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

int cfg_resolve(struct bridge_config *c, char *err, size_t n)
{
	int r;

	if (!c->socket[0] && (r = bus_default_socket(c->socket, sizeof(c->socket))) < 0)
		return failf(err, n, "cannot make the default socket path: %s",
		             strerror(-r));
	if (!c->state_dir[0] &&
	    (r = cfg_default_state_dir(c->state_dir, sizeof(c->state_dir))) < 0)
		return failf(err, n, "%s", r == -ENOENT ? "no state directory: HOME is not set (give --state-dir)" : "the default state directory's path is too long (give --state-dir)");
	return 0;
}

int cfg_write(FILE *f, const struct bridge_config *c)
{
	fprintf(f, "socket %s\nnats %s\nstream %s\nstate-dir %s\n", c->socket,
	        c->nats, c->stream, c->state_dir);
	fprintf(f, "window %u\nbatch %u\ndup-window %u\nlog-level %s\n", c->window,
	        c->batch, c->dup_window, log_level_name(c->log_level));
	for (size_t i = 0; i < c->nroutes; i++) {
		const struct route_conf *r = &c->routes[i];

		fprintf(f, "# %s\n", r->where);
		if (r->kind == ROUTE_EXPORT)
			fprintf(f, "export %s %s\n", r->queue, r->subject);
		else
			fprintf(f, "import %s %s %s\n", r->subject, r->queue, r->durable);
	}
	return fflush(f) == 0 && !ferror(f) ? 0 : -EIO;
}

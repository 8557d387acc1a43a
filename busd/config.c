/*
 * config.c - the config file parser (see config.h for the format).
 *
 * One pass over the lines; per-key checks happen at the key, checks that
 * involve several keys (a queue's max-message against its capacity, which
 * may come later or from default-capacity; default-capacity against
 * max-capacity; the number of queues against max-queues) happen at the
 * end and name the line of the key at fault.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "util/conf.h"
#include "util/num.h"
#include "segment.h"
#include "util/bits.h"

/* Keys, as bits, so a key given twice in a section is caught. */
enum {
	K_SOCKET = 1u << 0,
	K_LOG_LEVEL = 1u << 1,
	K_MAX_CONNECTIONS = 1u << 2,
	K_MAX_QUEUES = 1u << 3,
	K_MAX_CAPACITY = 1u << 4,
	K_DEFAULT_CAPACITY = 1u << 5,
	K_CREATE = 1u << 6,
	K_CAPACITY = 1u << 7,
	K_MAX_MESSAGE = 1u << 8,
	K_MAX_PRODUCERS = 1u << 9,
	K_PRODUCE = 1u << 10,
	K_CONSUME = 1u << 11,
	K_ADMIN = 1u << 12,
	K_MAX_PER_UID = 1u << 13,
};

struct key {
	const char *name;
	unsigned bit;
};

static const struct key busd_keys[] = {
	{"socket", K_SOCKET},
	{"log-level", K_LOG_LEVEL},
	{"max-connections", K_MAX_CONNECTIONS},
	{"max-connections-per-uid", K_MAX_PER_UID},
	{"max-queues", K_MAX_QUEUES},
	{"max-capacity", K_MAX_CAPACITY},
	{"default-capacity", K_DEFAULT_CAPACITY},
	{"create", K_CREATE},
};

static const struct key queue_keys[] = {
	{"capacity", K_CAPACITY},
	{"max-message", K_MAX_MESSAGE},
	{"max-producers", K_MAX_PRODUCERS},
	{"produce", K_PRODUCE},
	{"consume", K_CONSUME},
	{"admin", K_ADMIN},
};

/* Per-queue parse state kept beside the result. */
struct queue_state {
	unsigned seen;
	unsigned capacity_line;
	unsigned max_message_line;
};

struct parser {
	struct busd_config *c;
	const char *file;
	unsigned line;
	char *err;
	size_t errlen;
	enum {
		SEC_NONE,
		SEC_BUSD,
		SEC_QUEUE
	} section;
	bool busd_seen;
	unsigned busd_keys_seen;
	unsigned max_capacity_line, default_capacity_line, max_queues_line;
	unsigned max_connections_line, per_uid_line;
	struct queue_state *qs; /* parallel to c->queues */
	size_t cap;
};

/* "FILE:LINE: message" into p->err; returns -EINVAL. */
#define fail(p, ...) \
	conf_fail_at((p)->err, (p)->errlen, (p)->file, (p)->line, __VA_ARGS__)

void config_init(struct busd_config *c)
{
	*c = (struct busd_config){
		.log_level = LOG_LEVEL_INFO,
		.max_connections = CONFIG_DEFAULT_CONNECTIONS,
		.max_connections_per_uid =
			CONFIG_DEFAULT_CONNECTIONS / CONFIG_DEFAULT_PER_UID_DIV,
		.max_queues = CONFIG_DEFAULT_QUEUES,
		.max_capacity = SEG_MAX_CAPACITY,
		.default_capacity = SEG_DEFAULT_CAPACITY,
	};
}

static void rule_free(struct access_rule *r)
{
	free(r->v);
	*r = (struct access_rule){0};
}

void config_free(struct busd_config *c)
{
	rule_free(&c->create);
	for (size_t i = 0; i < c->nqueues; i++) {
		rule_free(&c->queues[i].rules.produce);
		rule_free(&c->queues[i].rules.consume);
		rule_free(&c->queues[i].rules.admin);
	}
	free(c->queues);
	c->queues = NULL;
	c->nqueues = 0;
}

const struct queue_conf *config_queue(const struct busd_config *c,
                                      const char *name)
{
	for (size_t i = 0; i < c->nqueues; i++)
		if (strcmp(c->queues[i].name, name) == 0)
			return &c->queues[i];
	return NULL;
}

bool config_grants_others(const struct busd_config *c, uint32_t self)
{
	if (access_rule_grants_others(&c->create, self))
		return true;
	for (size_t i = 0; i < c->nqueues; i++) {
		const struct queue_rules *r = &c->queues[i].rules;

		if (access_rule_grants_others(&r->produce, self) ||
		    access_rule_grants_others(&r->consume, self) ||
		    access_rule_grants_others(&r->admin, self))
			return true;
	}
	return false;
}

static bool rule_has(const struct access_rule *r, enum principal_kind kind,
                     uint32_t id)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].kind == kind && (kind == PRINCIPAL_ANYONE || r->v[i].id == id))
			return true;
	return false;
}

size_t config_produce_only(const struct queue_conf *q, uint32_t self,
                           char *buf, size_t n)
{
	const struct access_rule *prod = &q->rules.produce;
	const struct access_rule *cons = &q->rules.consume;
	size_t found = 0, used = 0;
	bool cut = false;

	if (n)
		buf[0] = '\0';
	if (rule_has(cons, PRINCIPAL_ANYONE, 0))
		return 0;
	for (size_t i = 0; i < prod->n; i++) {
		const struct principal *p = &prod->v[i];
		char one[32];
		size_t len;

		if (p->kind == PRINCIPAL_UID &&
		    (p->id == 0 || p->id == self || rule_has(cons, PRINCIPAL_UID, p->id)))
			continue;
		if (p->kind == PRINCIPAL_GID && rule_has(cons, PRINCIPAL_GID, p->id))
			continue;
		found++;
		if (cut)
			continue;
		if (p->kind == PRINCIPAL_ANYONE)
			snprintf(one, sizeof(one), "%s*", used ? " " : "");
		else
			snprintf(one, sizeof(one), "%s%s:%" PRIu32, used ? " " : "",
			         p->kind == PRINCIPAL_UID ? "uid" : "gid", p->id);
		len = strlen(one);
		/* Room kept for " ..." and the NUL. */
		if (used + len + 5 > n) {
			if (used + 5 <= n)
				memcpy(buf + used, " ...", 5);
			cut = true;
			continue;
		}
		memcpy(buf + used, one, len + 1);
		used += len;
	}
	return found;
}

/* --- numbers --- */

int config_parse_uint(const char *s, uint64_t *ret)
{
	return num_parse_u64(s, ret);
}

int config_parse_size(const char *s, uint64_t *ret)
{
	return num_parse_size(s, ret);
}

void config_format_size(char *buf, size_t n, uint64_t v)
{
	static const char suffix[] = "GMK";

	for (int i = 0; i < 3; i++) {
		unsigned shift = (unsigned)(30 - 10 * i);

		if (v && v % (UINT64_C(1) << shift) == 0) {
			snprintf(buf, n, "%llu%c", (unsigned long long)(v >> shift),
			         suffix[i]);
			return;
		}
	}
	snprintf(buf, n, "%llu", (unsigned long long)v);
}

/* A size key in [lo, hi], a power of two if pow2. */
static int size_value(struct parser *p, const char *key, const char *val,
                      uint64_t lo, uint64_t hi, bool pow2, uint64_t *ret)
{
	char a[32], b[32];
	uint64_t v;
	int r = config_parse_size(val, &v);

	if (r == -EINVAL)
		return fail(p, "%s: bad size '%s' (a number with an optional K, M, "
		               "G or T suffix)",
		            key, val);
	config_format_size(a, sizeof(a), lo);
	config_format_size(b, sizeof(b), hi);
	if (r < 0 || v < lo || v > hi)
		return fail(p, "%s %s is out of range (%s to %s)", key, val, a, b);
	if (pow2 && !bits_is_pow2(v))
		return fail(p, "%s %s is not a power of two", key, val);
	*ret = v;
	return 0;
}

/* A ring capacity key (a power of two if pow2); its line kept in *line. */
static int capacity_value(struct parser *p, unsigned *line, const char *key,
                          const char *val, bool pow2, uint64_t *ret)
{
	*line = p->line;
	return size_value(p, key, val, SEG_MIN_CAPACITY, SEG_MAX_CAPACITY, pow2, ret);
}

static int count_value(struct parser *p, const char *key, const char *val,
                       uint64_t lo, uint64_t hi, uint32_t *ret)
{
	uint64_t v;
	int r = config_parse_uint(val, &v);

	if (r == -EINVAL)
		return fail(p, "%s: bad number '%s'", key, val);
	if (r < 0 || v < lo || v > hi)
		return fail(p, "%s %s is out of range (%llu to %llu)", key, val,
		            (unsigned long long)lo, (unsigned long long)hi);
	*ret = (uint32_t)v;
	return 0;
}

/* --- principals --- */

/*
 * The id of the user (group false) or group named name, from the passwd
 * or group database.
 */
static int lookup_id(bool group, const char *name, uint32_t *id, char *err,
                     size_t n)
{
	const char *kind = group ? "group" : "user";
	size_t size = 1024;

	for (;;) {
		struct passwd pw, *pwr = NULL;
		struct group gr, *grr = NULL;
		char *buf = malloc(size);
		bool found;
		int r;

		if (!buf) {
			snprintf(err, n, "out of memory looking up %s '%s'", kind, name);
			return -ENOMEM;
		}
		if (group)
			r = getgrnam_r(name, &gr, buf, size, &grr);
		else
			r = getpwnam_r(name, &pw, buf, size, &pwr);
		found = r == 0 && (group ? grr != NULL : pwr != NULL);
		if (found)
			*id = group ? (uint32_t)grr->gr_gid : (uint32_t)pwr->pw_uid;
		free(buf);
		if (r == ERANGE && size < (1u << 20)) {
			size *= 2;
			continue;
		}
		if (found)
			return 0;
		/* Not found is 0 with no entry, or one of these by glibc's own doc. */
		if (r == 0 || r == ENOENT || r == ESRCH || r == EBADF || r == EPERM)
			snprintf(err, n, "unknown %s '%s'", kind, name);
		else
			snprintf(err, n, "cannot look up %s '%s': %s", kind, name,
			         strerror(r));
		return -EINVAL;
	}
}

static int parse_id(const char *tok, const char *num, uint32_t *ret, char *err,
                    size_t n)
{
	uint64_t v;

	/* (uid_t)-1 means "no change" to the kernel: never a real id. */
	if (config_parse_uint(num, &v) < 0 || v >= UINT32_MAX) {
		snprintf(err, n, "bad principal '%s': the id must be a number from "
		                 "0 to %u",
		         tok, UINT32_MAX - 1);
		return -EINVAL;
	}
	*ret = (uint32_t)v;
	return 0;
}

static int parse_principal(const char *tok, struct principal *p, char *err,
                           size_t n)
{
	if (strcmp(tok, "*") == 0) {
		*p = (struct principal){.kind = PRINCIPAL_ANYONE};
		return 0;
	}
	if (strncmp(tok, "uid:", 4) == 0) {
		p->kind = PRINCIPAL_UID;
		return parse_id(tok, tok + 4, &p->id, err, n);
	}
	if (strncmp(tok, "gid:", 4) == 0) {
		p->kind = PRINCIPAL_GID;
		return parse_id(tok, tok + 4, &p->id, err, n);
	}
	if (strncmp(tok, "user:", 5) == 0 && tok[5]) {
		p->kind = PRINCIPAL_UID;
		return lookup_id(false, tok + 5, &p->id, err, n);
	}
	if (strncmp(tok, "group:", 6) == 0 && tok[6]) {
		p->kind = PRINCIPAL_GID;
		return lookup_id(true, tok + 6, &p->id, err, n);
	}
	snprintf(err, n, "bad principal '%s' (expected uid:N, gid:N, user:NAME, "
	                 "group:NAME or *)",
	         tok);
	return -EINVAL;
}

int config_parse_principals(const char *s, struct access_rule *r, char *err,
                            size_t errlen)
{
	static const char sep[] = " \t,";
	struct principal *v = NULL;
	size_t n = 0;

	for (;;) {
		char tok[CONFIG_MAX_LINE + 1];
		size_t len;
		int ret;

		s += strspn(s, sep);
		if (!*s)
			break;
		len = strcspn(s, sep);
		if (len >= sizeof(tok))
			len = sizeof(tok) - 1;
		memcpy(tok, s, len);
		tok[len] = '\0';
		s += len;
		if (n == CONFIG_MAX_PRINCIPALS) {
			snprintf(err, errlen, "too many principals (at most %u)",
			         CONFIG_MAX_PRINCIPALS);
			free(v);
			return -EINVAL;
		}
		if (n % 16 == 0) {
			struct principal *nv = realloc(v, (n + 16) * sizeof(*v));

			if (!nv) {
				snprintf(err, errlen, "out of memory");
				free(v);
				return -EINVAL;
			}
			v = nv;
		}
		ret = parse_principal(tok, &v[n], err, errlen);
		if (ret < 0) {
			free(v);
			return -EINVAL;
		}
		n++;
	}
	if (n == 0) {
		snprintf(err, errlen, "no principal given (expected uid:N, gid:N, "
		                      "user:NAME, group:NAME or *)");
		return -EINVAL;
	}
	*r = (struct access_rule){.v = v, .n = n};
	return 0;
}

static int rule_value(struct parser *p, const char *key, const char *val,
                      struct access_rule *r)
{
	char why[256];

	if (config_parse_principals(val, r, why, sizeof(why)) < 0)
		return fail(p, "%s: %s", key, why);
	return 0;
}

/* --- sections and keys --- */

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* Cuts a comment: '#' or ';' at the start of the line or after a blank. */
static void strip_comment(char *s)
{
	for (char *q = s; *q; q++) {
		if ((*q == '#' || *q == ';') &&
		    (q == s || q[-1] == ' ' || q[-1] == '\t')) {
			*q = '\0';
			return;
		}
	}
}

static int section(struct parser *p, char *s)
{
	struct busd_config *c = p->c;
	size_t n = strlen(s);
	struct queue_conf *q;
	char *name;

	if (s[n - 1] != ']')
		return fail(p, "section header '%s' does not end with ']'", s);
	s[n - 1] = '\0';
	s = trim(s + 1);
	if (strcmp(s, "busd") == 0) {
		if (p->busd_seen)
			return fail(p, "duplicate section [busd]");
		p->busd_seen = true;
		p->section = SEC_BUSD;
		return 0;
	}
	if (strncmp(s, "queue", 5) != 0 || (s[5] != ' ' && s[5] != '\t' && s[5]))
		return fail(p, "unknown section [%s] (expected [busd] or "
		               "[queue NAME])",
		            s);
	name = trim(s + 5);
	if (!*name)
		return fail(p, "section [queue] needs a queue name: [queue NAME]");
	if (!bus_name_valid(name))
		return fail(p, "invalid queue name '%s' (1 to %d characters of "
		               "A-Z a-z 0-9 . _ -)",
		            name, BUS_NAME_MAX);
	for (size_t i = 0; i < c->nqueues; i++)
		if (strcmp(c->queues[i].name, name) == 0)
			return fail(p, "duplicate queue '%s' (first declared at line %u)",
			            name, c->queues[i].line);
	if (c->nqueues == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		struct queue_conf *nq = realloc(c->queues, cap * sizeof(*nq));
		struct queue_state *ns;

		if (!nq)
			return fail(p, "out of memory");
		c->queues = nq;
		ns = realloc(p->qs, cap * sizeof(*ns));
		if (!ns)
			return fail(p, "out of memory");
		p->qs = ns;
		p->cap = cap;
	}
	q = &c->queues[c->nqueues];
	*q = (struct queue_conf){
		.max_producers = SEG_DEFAULT_PRODUCERS,
		.line = p->line,
	};
	strcpy(q->name, name);
	p->qs[c->nqueues] = (struct queue_state){0};
	c->nqueues++;
	p->section = SEC_QUEUE;
	return 0;
}

static const struct key *find_key(const struct key *keys, size_t n,
                                  const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static int busd_key(struct parser *p, unsigned bit, const char *key,
                    const char *val)
{
	struct busd_config *c = p->c;

	switch (bit) {
	case K_SOCKET:
		if (strlen(val) >= sizeof(c->socket))
			return fail(p, "socket path too long (at most %zu bytes)",
			            sizeof(c->socket) - 1);
		strcpy(c->socket, val);
		return 0;
	case K_LOG_LEVEL:
		if (log_level_parse(val, &c->log_level) < 0)
			return fail(p, "log-level '%s' is not one of error, warn, "
			               "info, debug",
			            val);
		c->has_log_level = true;
		return 0;
	case K_MAX_CONNECTIONS:
		p->max_connections_line = p->line;
		return count_value(p, key, val, 1, CONFIG_MAX_LIMIT,
		                   &c->max_connections);
	case K_MAX_PER_UID:
		/* Checked against max-connections at the end. */
		p->per_uid_line = p->line;
		return count_value(p, key, val, 1, CONFIG_MAX_LIMIT,
		                   &c->max_connections_per_uid);
	case K_MAX_QUEUES:
		p->max_queues_line = p->line;
		return count_value(p, key, val, 1, CONFIG_MAX_LIMIT, &c->max_queues);
	case K_MAX_CAPACITY:
		return capacity_value(p, &p->max_capacity_line, key, val, false,
		                      &c->max_capacity);
	case K_DEFAULT_CAPACITY:
		return capacity_value(p, &p->default_capacity_line, key, val, true,
		                      &c->default_capacity);
	case K_CREATE:
		return rule_value(p, key, val, &c->create);
	}
	return fail(p, "internal error: key '%s'", key);
}

static int queue_key(struct parser *p, unsigned bit, const char *key,
                     const char *val)
{
	struct queue_conf *q = &p->c->queues[p->c->nqueues - 1];
	struct queue_state *qs = &p->qs[p->c->nqueues - 1];
	uint64_t v = 0; /* read only when size_value() returns 0 */
	int r;

	switch (bit) {
	case K_CAPACITY:
		return capacity_value(p, &qs->capacity_line, key, val, true, &q->capacity);
	case K_MAX_MESSAGE:
		qs->max_message_line = p->line;
		/* Checked against the capacity at the end. */
		r = size_value(p, key, val, 1, UINT32_MAX, false, &v);
		if (r == 0)
			q->max_message = (uint32_t)v;
		return r;
	case K_MAX_PRODUCERS:
		return count_value(p, key, val, 1, SEG_MAX_PRODUCERS,
		                   &q->max_producers);
	case K_PRODUCE:
		return rule_value(p, key, val, &q->rules.produce);
	case K_CONSUME:
		return rule_value(p, key, val, &q->rules.consume);
	case K_ADMIN:
		return rule_value(p, key, val, &q->rules.admin);
	}
	return fail(p, "internal error: key '%s'", key);
}

static int key_line(struct parser *p, char *s)
{
	const struct key *k;
	char *eq = strchr(s, '=');
	char *key, *val;
	unsigned *seen;

	if (!eq)
		return fail(p, "expected 'key = value' or a [section], got '%s'", s);
	*eq = '\0';
	key = trim(s);
	val = trim(eq + 1);
	if (!*key)
		return fail(p, "missing key before '='");
	switch (p->section) {
	case SEC_NONE:
		return fail(p, "key '%s' outside a section ([busd] or "
		               "[queue NAME] first)",
		            key);
	case SEC_BUSD:
		k = find_key(busd_keys, sizeof(busd_keys) / sizeof(busd_keys[0]), key);
		if (!k)
			return fail(p, "unknown key '%s' in [busd]", key);
		seen = &p->busd_keys_seen;
		break;
	case SEC_QUEUE:
	default:
		k = find_key(queue_keys, sizeof(queue_keys) / sizeof(queue_keys[0]),
		             key);
		if (!k)
			return fail(p, "unknown key '%s' in [queue %s]", key,
			            p->c->queues[p->c->nqueues - 1].name);
		seen = &p->qs[p->c->nqueues - 1].seen;
		break;
	}
	if (*seen & k->bit)
		return fail(p, "duplicate key '%s'", key);
	*seen |= k->bit;
	if (!*val)
		return fail(p, "key '%s' has no value", key);
	return p->section == SEC_BUSD ? busd_key(p, k->bit, key, val)
	                              : queue_key(p, k->bit, key, val);
}

/* Checks that involve several keys, once everything is read. */
static int finish(struct parser *p)
{
	struct busd_config *c = p->c;
	char a[32], b[32];

	if (!(p->busd_keys_seen & K_MAX_PER_UID)) {
		c->max_connections_per_uid = c->max_connections / CONFIG_DEFAULT_PER_UID_DIV;
		if (c->max_connections_per_uid == 0)
			c->max_connections_per_uid = 1;
	} else if (c->max_connections_per_uid > c->max_connections) {
		p->line = p->per_uid_line > p->max_connections_line
		                  ? p->per_uid_line
		                  : p->max_connections_line;
		return fail(p, "max-connections-per-uid %" PRIu32 " is more than "
		               "max-connections %" PRIu32,
		            c->max_connections_per_uid, c->max_connections);
	}
	if (c->default_capacity > c->max_capacity) {
		config_format_size(a, sizeof(a), c->default_capacity);
		config_format_size(b, sizeof(b), c->max_capacity);
		p->line = p->default_capacity_line > p->max_capacity_line
		                  ? p->default_capacity_line
		                  : p->max_capacity_line;
		return fail(p, "default-capacity %s is larger than max-capacity %s",
		            a, b);
	}
	for (size_t i = 0; i < c->nqueues; i++) {
		struct queue_conf *q = &c->queues[i];
		uint32_t most;

		if (i == c->max_queues) {
			p->line = q->line;
			return fail(p, "queue '%s' is one more than max-queues "
			               "allows (%u)",
			            q->name, c->max_queues);
		}
		if (q->capacity == 0)
			q->capacity = c->default_capacity;
		most = seg_max_message_for(q->capacity);
		if (q->max_message > most) {
			config_format_size(a, sizeof(a), q->max_message);
			config_format_size(b, sizeof(b), q->capacity);
			p->line = p->qs[i].max_message_line;
			return fail(p, "max-message %s is more than capacity %s "
			               "allows (at most %u bytes)",
			            a, b, most);
		}
	}
	return 0;
}

int config_parse(struct busd_config *c, const char *file, const char *text,
                 size_t len, char *err, size_t errlen)
{
	struct parser p = {
		.c = c,
		.file = file,
		.err = err,
		.errlen = errlen,
	};
	size_t pos = 0;
	int r = 0;

	/*
	 * p.qs runs parallel to c->queues from index 0 and p.cap counts both,
	 * so c must hold no queues yet: config_init() leaves it so.
	 */
	assert(c->nqueues == 0 && !c->queues);
	while (pos < len && r == 0) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char buf[CONFIG_MAX_LINE + 1];
		char *s;

		p.line++;
		if (n > CONFIG_MAX_LINE) {
			r = fail(&p, "line longer than %u bytes", CONFIG_MAX_LINE);
			break;
		}
		memcpy(buf, text + pos, n);
		buf[n] = '\0';
		pos += n + 1;
		if (strlen(buf) != n) {
			r = fail(&p, "NUL byte in the line");
			break;
		}
		strip_comment(buf);
		s = trim(buf);
		if (!*s)
			continue;
		r = *s == '[' ? section(&p, s) : key_line(&p, s);
	}
	if (r == 0)
		r = finish(&p);
	free(p.qs);
	return r;
}

int config_load(struct busd_config *c, const char *path, char *err,
                size_t errlen)
{
	struct stat st;
	size_t len = 0;
	char *text;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	if (st.st_size > (off_t)CONFIG_MAX_FILE) {
		snprintf(err, errlen, "%s: larger than %u bytes", path,
		         CONFIG_MAX_FILE);
		close(fd);
		return -EFBIG;
	}
	/* One byte more than the limit, to notice a file that grew. */
	text = malloc(CONFIG_MAX_FILE + 1);
	if (!text) {
		snprintf(err, errlen, "%s: out of memory", path);
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t n = read(fd, text + len, CONFIG_MAX_FILE + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CONFIG_MAX_FILE) {
			r = -EFBIG;
			snprintf(err, errlen, "%s: larger than %u bytes", path,
			         CONFIG_MAX_FILE);
			goto out;
		}
	}
	r = config_parse(c, path, text, len, err, errlen);
out:
	free(text);
	close(fd);
	return r;
}

/* --- writing back --- */

static void write_rule(FILE *f, const char *key, const struct access_rule *r,
                       const char *none)
{
	if (r->n == 0) {
		fprintf(f, "# %s: %s\n", key, none);
		return;
	}
	fprintf(f, "%s =", key);
	for (size_t i = 0; i < r->n; i++) {
		const struct principal *p = &r->v[i];

		if (p->kind == PRINCIPAL_ANYONE)
			fputs(" *", f);
		else
			fprintf(f, " %s:%" PRIu32,
			        p->kind == PRINCIPAL_UID ? "uid" : "gid", p->id);
	}
	fputc('\n', f);
}

static void write_queue(FILE *f, const struct queue_conf *q, uint32_t self)
{
	char size[32], none[96];

	config_format_size(size, sizeof(size), q->capacity);
	fprintf(f, "\n[queue %s]\n", q->name);
	fprintf(f, "capacity = %s\n", size);
	fprintf(f, "max-message = %" PRIu32 "\n",
	        q->max_message ? q->max_message : seg_max_message_for(q->capacity));
	fprintf(f, "max-producers = %" PRIu32 "\n", q->max_producers);
	/* A declared queue belongs to busd: its owner is busd's uid. */
	snprintf(none, sizeof(none), "no rule: busd's uid (%" PRIu32 ") and "
	                             "root only",
	         self);
	write_rule(f, "produce", &q->rules.produce, none);
	write_rule(f, "consume", &q->rules.consume, none);
	write_rule(f, "admin", &q->rules.admin, none);
}

int config_write(FILE *f, const struct busd_config *c, uint32_t self)
{
	char size[32], none[96];

	fputs("[busd]\n", f);
	if (c->socket[0])
		fprintf(f, "socket = %s\n", c->socket);
	fprintf(f, "log-level = %s\n", log_level_name(c->log_level));
	fprintf(f, "max-connections = %" PRIu32 "\n", c->max_connections);
	fputs("# max-connections-per-uid: busd's uid and root have no limit\n", f);
	fprintf(f, "max-connections-per-uid = %" PRIu32 "\n",
	        c->max_connections_per_uid);
	fprintf(f, "max-queues = %" PRIu32 "\n", c->max_queues);
	config_format_size(size, sizeof(size), c->max_capacity);
	fprintf(f, "max-capacity = %s\n", size);
	config_format_size(size, sizeof(size), c->default_capacity);
	fprintf(f, "default-capacity = %s\n", size);
	snprintf(none, sizeof(none), "no rule: busd's uid (%" PRIu32 ") and "
	                             "root only",
	         self);
	write_rule(f, "create", &c->create, none);
	for (size_t i = 0; i < c->nqueues; i++)
		write_queue(f, &c->queues[i], self);
	return fflush(f) == 0 && !ferror(f) ? 0 : -EIO;
}

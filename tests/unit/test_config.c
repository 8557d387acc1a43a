/*
 * test_config.c - busd's config file (busd/config.c).
 *
 * A complete good file must come out as the right values; every kind of
 * mistake must be refused with "FILE:LINE: what is wrong", naming the
 * line at fault; strict numbers and size suffixes; principal lists with
 * user and group names resolved ("root", which every system has);
 * defaults without a file; the per-uid connection limit and its default;
 * the principals that may produce but not consume; the settings written
 * back parse to the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "harness.h"
#include "segment.h"

/* Parses text as "t.conf"; returns config_parse()'s result. */
static int parse(struct busd_config *c, const char *text, char *err, size_t n)
{
	config_init(c);
	err[0] = '\0';
	return config_parse(c, "t.conf", text, strlen(text), err, n);
}

/* The [busd] settings a parsed config must have. */
struct busd_want {
	const char *socket;
	bool has_log_level;
	enum log_level log_level;
	uint32_t max_connections, max_connections_per_uid, max_queues;
	uint64_t max_capacity, default_capacity;
};

static void check_busd(const struct busd_config *c, const struct busd_want *w)
{
	assert_string_equal(c->socket, w->socket);
	assert_int_equal(c->has_log_level, w->has_log_level);
	assert_int_equal(c->log_level, w->log_level);
	assert_int_equal(c->max_connections, w->max_connections);
	assert_int_equal(c->max_connections_per_uid, w->max_connections_per_uid);
	assert_int_equal(c->max_queues, w->max_queues);
	assert_int_equal(c->max_capacity, w->max_capacity);
	assert_int_equal(c->default_capacity, w->default_capacity);
}

static void test_defaults(void **state)
{
	struct busd_config c;
	char err[256];

	(void)state;
	assert_int_equal(parse(&c, "", err, sizeof(err)), 0);
	check_busd(&c, &(struct busd_want){"", false, LOG_LEVEL_INFO, 256, 64, 1024,
	                                   UINT64_C(1) << 30, UINT64_C(1) << 20});
	assert_int_equal(c.create.n, 0);
	assert_int_equal(c.nqueues, 0);
	assert_false(config_grants_others(&c, 1000));
	config_free(&c);

	/* Comments and blank lines only. */
	assert_int_equal(parse(&c, "# a\n\n   ; b\n\t# c\n", err, sizeof(err)), 0);
	assert_int_equal(c.nqueues, 0);
	config_free(&c);
}

static const char good[] =
	"# busd config\n"
	"[busd]\n"
	"socket = /run/bus/busd.sock     ; --socket overrides\n"
	"log-level = debug\n"
	"max-connections = 100\n"
	"max-queues = 10\n"
	"max-capacity = 64M\n"
	"default-capacity = 64K\n"
	"create = uid:1000 group:root\n"
	"\n"
	"[queue orders]\n"
	"capacity = 4M                   # power of two\n"
	"max-message = 64K\n"
	"max-producers = 8\n"
	"produce = uid:1000 gid:100\n"
	"consume = user:root\n"
	"admin = uid:1000\n"
	"\n"
	"[queue audit.log]\n"
	"produce = *, uid:7,gid:8\n";

static void test_good(void **state)
{
	const struct queue_conf *q;
	struct busd_config c;
	char err[256];

	(void)state;
	assert_int_equal(parse(&c, good, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	check_busd(&c, &(struct busd_want){"/run/bus/busd.sock", true, LOG_LEVEL_DEBUG, 100,
	                                   25, 10, 64u << 20, 64u << 10});
	assert_int_equal(c.create.n, 2);
	assert_int_equal(c.create.v[0].kind, PRINCIPAL_UID);
	assert_int_equal(c.create.v[0].id, 1000);
	assert_int_equal(c.create.v[1].kind, PRINCIPAL_GID);
	assert_int_equal(c.create.v[1].id, 0);
	assert_int_equal(c.nqueues, 2);

	q = config_queue(&c, "orders");
	assert_non_null(q);
	assert_ptr_equal(q, &c.queues[0]);
	assert_int_equal(q->line, 11);
	assert_int_equal(q->capacity, 4u << 20);
	assert_int_equal(q->max_message, 64u << 10);
	assert_int_equal(q->max_producers, 8);
	assert_int_equal(q->rules.produce.n, 2);
	assert_int_equal(q->rules.produce.v[0].kind, PRINCIPAL_UID);
	assert_int_equal(q->rules.produce.v[0].id, 1000);
	assert_int_equal(q->rules.produce.v[1].kind, PRINCIPAL_GID);
	assert_int_equal(q->rules.produce.v[1].id, 100);
	assert_int_equal(q->rules.consume.n, 1);
	assert_int_equal(q->rules.consume.v[0].kind, PRINCIPAL_UID);
	assert_int_equal(q->rules.consume.v[0].id, 0);
	assert_int_equal(q->rules.admin.n, 1);
	assert_int_equal(q->rules.admin.v[0].id, 1000);

	/* Unset keys take the defaults: default-capacity, 64 producers. */
	q = config_queue(&c, "audit.log");
	assert_non_null(q);
	assert_int_equal(q->line, 19);
	assert_int_equal(q->capacity, 64u << 10);
	assert_int_equal(q->max_message, 0);
	assert_int_equal(q->max_producers, SEG_DEFAULT_PRODUCERS);
	assert_int_equal(q->rules.produce.n, 3);
	assert_int_equal(q->rules.produce.v[0].kind, PRINCIPAL_ANYONE);
	assert_int_equal(q->rules.produce.v[1].kind, PRINCIPAL_UID);
	assert_int_equal(q->rules.produce.v[1].id, 7);
	assert_int_equal(q->rules.produce.v[2].kind, PRINCIPAL_GID);
	assert_int_equal(q->rules.produce.v[2].id, 8);
	assert_int_equal(q->rules.consume.n, 0);
	assert_int_equal(q->rules.admin.n, 0);

	assert_null(config_queue(&c, "nope"));
	assert_true(config_grants_others(&c, 0));
	config_free(&c);
	assert_int_equal(c.nqueues, 0);
	assert_null(c.queues);
}

static void test_layout(void **state)
{
	struct busd_config c;
	char err[256];

	(void)state;
	/* Queues before [busd]: default-capacity applies wherever it is. */
	assert_int_equal(parse(&c, "[queue a]\n[busd]\ndefault-capacity = 8K\n",
	                       err, sizeof(err)),
	                 0);
	assert_int_equal(c.queues[0].capacity, 8192);
	config_free(&c);

	/* CRLF line ends, spacing, comments after blanks only. */
	assert_int_equal(parse(&c, "[busd]\r\n  max-queues=5 ; five\r\n"
	                           "socket = /tmp/a#b;c\t# the path\n"
	                           "[ queue  x ]  # spaced\n",
	                       err, sizeof(err)),
	                 0);
	assert_int_equal(c.max_queues, 5);
	assert_string_equal(c.socket, "/tmp/a#b;c");
	assert_int_equal(c.nqueues, 1);
	assert_string_equal(c.queues[0].name, "x");
	config_free(&c);

	/* A last line without a newline. */
	assert_int_equal(parse(&c, "[busd]\nmax-queues = 7", err, sizeof(err)), 0);
	assert_int_equal(c.max_queues, 7);
	config_free(&c);

	/* max-message exactly at the limit of its capacity. */
	assert_int_equal(parse(&c, "[queue a]\ncapacity = 4K\nmax-message = 2016\n",
	                       err, sizeof(err)),
	                 0);
	assert_int_equal(c.queues[0].max_message, 2016);
	config_free(&c);

	/* max-queues exactly the number of queues. */
	assert_int_equal(parse(&c, "[busd]\nmax-queues = 2\n[queue a]\n[queue b]\n",
	                       err, sizeof(err)),
	                 0);
	config_free(&c);
}

struct bad {
	const char *text;
	const char *err;
};

static const struct bad bad[] = {
	{"[busd]\nfoo = 1\n", "t.conf:2: unknown key 'foo' in [busd]"},
	{"[queue a]\nsocket = /x\n", "t.conf:2: unknown key 'socket' in [queue a]"},
	{"[busd]\ncapacity = 4K\n", "t.conf:2: unknown key 'capacity' in [busd]"},
	{"[nope]\n", "t.conf:1: unknown section [nope] (expected [busd] or "
                     "[queue NAME])"},
	{"[queues a]\n", "t.conf:1: unknown section [queues a] (expected [busd] "
                         "or [queue NAME])"},
	{"[busd]\n[busd]\n", "t.conf:2: duplicate section [busd]"},
	{"\n\ncapacity = 1\n", "t.conf:3: key 'capacity' outside a section "
                               "([busd] or [queue NAME] first)"},
	{"[queue a]\ncapacity = 4M\ncapacity = 8M\n",
         "t.conf:3: duplicate key 'capacity'"},
	{"[busd]\ncreate = uid:1\ncreate = uid:2\n",
         "t.conf:3: duplicate key 'create'"},
	{"[queue a]\n[queue b]\n[queue a]\n",
         "t.conf:3: duplicate queue 'a' (first declared at line 1)"},
	{"[queue a/b]\n", "t.conf:1: invalid queue name 'a/b' (1 to 64 characters "
                          "of A-Z a-z 0-9 . _ -)"},
	{"[queue a b]\n", "t.conf:1: invalid queue name 'a b' (1 to 64 characters "
                          "of A-Z a-z 0-9 . _ -)"},
	{"[queue ..]\n", "t.conf:1: invalid queue name '..' (1 to 64 characters "
                         "of A-Z a-z 0-9 . _ -)"},
	{"[queue "
         "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcde]\n",
         "t.conf:1: invalid queue name "
         "'abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcde' "
         "(1 to 64 characters of A-Z a-z 0-9 . _ -)"},
	{"[queue]\n", "t.conf:1: section [queue] needs a queue name: [queue NAME]"},
	{"[queue a\n", "t.conf:1: section header '[queue a' does not end with ']'"},
	{"[queue a] x\n", "t.conf:1: section header '[queue a] x' does not end "
                          "with ']'"},
	{"[busd]\njunk\n", "t.conf:2: expected 'key = value' or a [section], got "
                           "'junk'"},
	{"[busd]\n = 3\n", "t.conf:2: missing key before '='"},
	{"[queue a]\ncapacity =\n", "t.conf:2: key 'capacity' has no value"},
	{"[queue a]\ncapacity = # nothing\n", "t.conf:2: key 'capacity' has no value"},
	/* sizes */
	{"[queue a]\ncapacity = 1000\n", "t.conf:2: capacity 1000 is not a power "
                                         "of two"},
	{"[queue a]\ncapacity = 3K\n", "t.conf:2: capacity 3K is not a power of two"},
	{"[queue a]\ncapacity = 128\n", "t.conf:2: capacity 128 is out of range "
                                        "(256 to 1G)"},
	{"[queue a]\ncapacity = 0\n", "t.conf:2: capacity 0 is out of range "
                                      "(256 to 1G)"},
	{"[queue a]\ncapacity = 2G\n", "t.conf:2: capacity 2G is out of range "
                                       "(256 to 1G)"},
	{"[queue a]\ncapacity = 99999999999999999999\n",
         "t.conf:2: capacity 99999999999999999999 is out of range (256 to 1G)"},
	{"[queue a]\ncapacity = 99999999999G\n",
         "t.conf:2: capacity 99999999999G is out of range (256 to 1G)"},
	{"[queue a]\ncapacity = 4X\n", "t.conf:2: capacity: bad size '4X' (a "
                                       "number with an optional K, M, G or T suffix)"},
	{"[queue a]\ncapacity = 4KiBB\n", "t.conf:2: capacity: bad size '4KiBB' (a "
                                          "number with an optional K, M, G or T suffix)"},
	{"[queue a]\ncapacity = -4K\n", "t.conf:2: capacity: bad size '-4K' (a "
                                        "number with an optional K, M, G or T suffix)"},
	{"[queue a]\ncapacity = 0x1000\n", "t.conf:2: capacity: bad size '0x1000' "
                                           "(a number with an optional K, M, G or T "
                                           "suffix)"},
	{"[queue a]\ncapacity = 4 K\n", "t.conf:2: capacity: bad size '4 K' (a "
                                        "number with an optional K, M, G or T suffix)"},
	{"[busd]\nmax-capacity = 100\n", "t.conf:2: max-capacity 100 is out of "
                                         "range (256 to 1G)"},
	{"[busd]\ndefault-capacity = 3M\n", "t.conf:2: default-capacity 3M is not "
                                            "a power of two"},
	{"[busd]\ndefault-capacity = 4M\n\nmax-capacity = 1M\n",
         "t.conf:4: default-capacity 4M is larger than max-capacity 1M"},
	{"[busd]\nmax-capacity = 512K\n",
         "t.conf:2: default-capacity 1M is larger than max-capacity 512K"},
	{"[queue a]\ncapacity = 4K\n\nmax-message = 4K\n",
         "t.conf:4: max-message 4K is more than capacity 4K allows (at most 2016 "
         "bytes)"},
	{"[queue a]\nmax-message = 4K\ncapacity = 4K\n",
         "t.conf:2: max-message 4K is more than capacity 4K allows (at most 2016 "
         "bytes)"},
	{"[busd]\ndefault-capacity = 4K\n[queue a]\nmax-message = 2017\n",
         "t.conf:4: max-message 2017 is more than capacity 4K allows (at most "
         "2016 bytes)"},
	{"[queue a]\nmax-message = 0\n", "t.conf:2: max-message 0 is out of range "
                                         "(1 to 4294967295)"},
	{"[queue a]\nmax-message = 4G\n", "t.conf:2: max-message 4G is out of "
                                          "range (1 to 4294967295)"},
	/* counts */
	{"[queue a]\nmax-producers = 0\n", "t.conf:2: max-producers 0 is out of "
                                           "range (1 to 1024)"},
	{"[queue a]\nmax-producers = 1025\n", "t.conf:2: max-producers 1025 is "
                                              "out of range (1 to 1024)"},
	{"[queue a]\nmax-producers = 1K\n", "t.conf:2: max-producers: bad number "
                                            "'1K'"},
	{"[queue a]\nmax-producers = +5\n", "t.conf:2: max-producers: bad number "
                                            "'+5'"},
	{"[busd]\nmax-connections = 0\n", "t.conf:2: max-connections 0 is out of "
                                          "range (1 to 65536)"},
	{"[busd]\nmax-connections = 65537\n", "t.conf:2: max-connections 65537 is "
                                              "out of range (1 to 65536)"},
	{"[busd]\nmax-queues = 1 2\n", "t.conf:2: max-queues: bad number '1 2'"},
	{"[busd]\nmax-connections-per-uid = 0\n", "t.conf:2: "
                                                  "max-connections-per-uid 0 is out of range "
                                                  "(1 to 65536)"},
	{"[busd]\nmax-connections = 8\nmax-connections-per-uid = 9\n",
         "t.conf:3: max-connections-per-uid 9 is more than max-connections 8"},
	{"[busd]\nmax-connections-per-uid = 9\n\nmax-connections = 8\n",
         "t.conf:4: max-connections-per-uid 9 is more than max-connections 8"},
	{"[busd]\nmax-connections-per-uid = 300\n",
         "t.conf:2: max-connections-per-uid 300 is more than max-connections 256"},
	{"[busd]\nmax-queues = 1\n[queue a]\n[queue b]\n",
         "t.conf:4: queue 'b' is one more than max-queues allows (1)"},
	/* strings */
	{"[busd]\nlog-level = loud\n", "t.conf:2: log-level 'loud' is not one of "
                                       "error, warn, info, debug"},
	{"[busd]\nlog-level = INFO\n", "t.conf:2: log-level 'INFO' is not one of "
                                       "error, warn, info, debug"},
	{"[busd]\nsocket = /"
         "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij"
         "abcdefghijabcdefghijabcdefghijabcdefg\n",
         "t.conf:2: socket path too long (at most 107 bytes)"},
	/* principals */
	{"[busd]\ncreate = uid:x\n", "t.conf:2: create: bad principal 'uid:x': "
                                     "the id must be a number from 0 to 4294967294"},
	{"[busd]\ncreate = uid:\n", "t.conf:2: create: bad principal 'uid:': "
                                    "the id must be a number from 0 to 4294967294"},
	{"[busd]\ncreate = uid:4294967295\n",
         "t.conf:2: create: bad principal 'uid:4294967295': the id must be a "
         "number from 0 to 4294967294"},
	{"[queue a]\nconsume = gid:-1\n",
         "t.conf:2: consume: bad principal 'gid:-1': the id must be a number "
         "from 0 to 4294967294"},
	{"[queue a]\nproduce = uid:1 bob\n",
         "t.conf:2: produce: bad principal 'bob' (expected uid:N, gid:N, "
         "user:NAME, group:NAME or *)"},
	{"[queue a]\nproduce = user:\n",
         "t.conf:2: produce: bad principal 'user:' (expected uid:N, gid:N, "
         "user:NAME, group:NAME or *)"},
	{"[queue a]\nproduce = **\n",
         "t.conf:2: produce: bad principal '**' (expected uid:N, gid:N, "
         "user:NAME, group:NAME or *)"},
	{"[queue a]\nconsume = user:no-such-user-busd-test\n",
         "t.conf:2: consume: unknown user 'no-such-user-busd-test'"},
	{"[queue a]\nadmin = group:no-such-group-busd-test\n",
         "t.conf:2: admin: unknown group 'no-such-group-busd-test'"},
	{"[queue a]\nadmin = , ,\n",
         "t.conf:2: admin: no principal given (expected uid:N, gid:N, "
         "user:NAME, group:NAME or *)"},
};

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < HARNESS_NITEMS(bad); i++) {
		struct busd_config c;
		char err[512];
		int r = parse(&c, bad[i].text, err, sizeof(err));

		if (r != -EINVAL || strcmp(err, bad[i].err) != 0)
			fail_msg("case %zu: %s\n returned %d, said \"%s\"\n expected "
			         "\"%s\"",
			         i, bad[i].text, r, err, bad[i].err);
		config_free(&c);
	}
}

static void test_line_limits(void **state)
{
	static const char nul[] = "[busd]\nsock\0et = /x\n";
	size_t n = CONFIG_MAX_LINE + 1;
	char *text = malloc(n + 2);
	struct busd_config c;
	char err[256];

	(void)state;
	assert_non_null(text);
	memset(text, '#', n);
	strcpy(text + n, "\n");
	assert_int_equal(parse(&c, text, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.conf:1: line longer than 4096 bytes");
	config_free(&c);
	/* One byte less is a (long) comment. */
	strcpy(text + n - 1, "\n");
	assert_int_equal(parse(&c, text, err, sizeof(err)), 0);
	config_free(&c);
	free(text);

	config_init(&c);
	assert_int_equal(config_parse(&c, "t.conf", nul, sizeof(nul) - 1, err,
	                              sizeof(err)),
	                 -EINVAL);
	assert_string_equal(err, "t.conf:2: NUL byte in the line");
	config_free(&c);

	/* A short error buffer is cut, never overrun. */
	config_init(&c);
	assert_int_equal(config_parse(&c, "t.conf", "[x]\n", 4, err, 9), -EINVAL);
	assert_string_equal(err, "t.conf:1");
	config_free(&c);
}

static void test_numbers(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(config_parse_uint("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(config_parse_uint("18446744073709551615", &v), 0);
	assert_int_equal(v, UINT64_MAX);
	assert_int_equal(config_parse_uint("18446744073709551616", &v), -ERANGE);
	assert_int_equal(config_parse_uint("", &v), -EINVAL);
	assert_int_equal(config_parse_uint(" 1", &v), -EINVAL);
	assert_int_equal(config_parse_uint("1 ", &v), -EINVAL);
	assert_int_equal(config_parse_uint("-1", &v), -EINVAL);
	assert_int_equal(config_parse_uint("+1", &v), -EINVAL);
	assert_int_equal(config_parse_uint("0x10", &v), -EINVAL);
	assert_int_equal(config_parse_uint("1e3", &v), -EINVAL);
	assert_int_equal(config_parse_uint("007", &v), 0);
	assert_int_equal(v, 7);
}

/* A table of cases, its rows alike on purpose: each is a checked input. */
static void test_sizes(void **state)
{
	static const struct {
		const char *s;
		int r;
		uint64_t v;
	} cases[] = {
		{"0", 0, 0},
		{"256", 0, 256},
		{"4K", 0, 4096},
		{"4k", 0, 4096},
		{"1M", 0, 1 << 20},
		{"3m", 0, 3 << 20},
		{"1G", 0, UINT64_C(1) << 30},
		{"2g", 0, UINT64_C(2) << 30},
		{"0K", 0, 0},
		{"17179869183G", 0, UINT64_C(17179869183) << 30},
		{"17179869184G", -ERANGE, 0},
		{"18014398509481983K", 0, UINT64_C(18014398509481983) << 10},
		{"18014398509481984K", -ERANGE, 0},
		{"18446744073709551615", 0, UINT64_MAX},
		{"18446744073709551616", -ERANGE, 0},
		{"999999999999999999999999999999999", -ERANGE, 0},
		{"", -EINVAL, 0},
		{"K", -EINVAL, 0},
		{"1T", 0, UINT64_C(1) << 40},
		{"16777215t", 0, UINT64_C(16777215) << 40},
		{"16777216T", -ERANGE, 0},
		{"1KB", 0, 1024},
		{"1KiB", 0, 1024},
		{"2mib", -EINVAL, 0},
		{"1Kb", -EINVAL, 0},
		{"1KBB", -EINVAL, 0},
		{"1B", -EINVAL, 0},
		{"1P", -EINVAL, 0},
		{"1KK", -EINVAL, 0},
		{"1.5M", -EINVAL, 0},
		{"-1", -EINVAL, 0},
		{"-1K", -EINVAL, 0},
		{" 1K", -EINVAL, 0},
		{"1 K", -EINVAL, 0},
		{"1K ", -EINVAL, 0},
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < HARNESS_NITEMS(cases); i++) {
		uint64_t v = 12345;
		int r = config_parse_size(cases[i].s, &v);

		if (r != cases[i].r)
			fail_msg("'%s': returned %d, expected %d", cases[i].s, r,
			         cases[i].r);
		assert_int_equal(v, r == 0 ? cases[i].v : 12345);
	}

	config_format_size(buf, sizeof(buf), 4096);
	assert_string_equal(buf, "4K");
	config_format_size(buf, sizeof(buf), 3u << 20);
	assert_string_equal(buf, "3M");
	config_format_size(buf, sizeof(buf), UINT64_C(1) << 30);
	assert_string_equal(buf, "1G");
	config_format_size(buf, sizeof(buf), 1000);
	assert_string_equal(buf, "1000");
	config_format_size(buf, sizeof(buf), 0);
	assert_string_equal(buf, "0");
}

static void test_principals(void **state)
{
	struct access_rule r = {NULL, 0};
	char err[256];
	char many[CONFIG_MAX_PRINCIPALS * 8 + 16] = "";

	(void)state;
	assert_int_equal(config_parse_principals("uid:0 gid:4294967294,*\t"
	                                         "user:root group:root",
	                                         &r, err,
	                                         sizeof(err)),
	                 0);
	assert_int_equal(r.n, 5);
	assert_int_equal(r.v[0].kind, PRINCIPAL_UID);
	assert_int_equal(r.v[0].id, 0);
	assert_int_equal(r.v[1].kind, PRINCIPAL_GID);
	assert_int_equal(r.v[1].id, 4294967294u);
	assert_int_equal(r.v[2].kind, PRINCIPAL_ANYONE);
	assert_int_equal(r.v[3].kind, PRINCIPAL_UID);
	assert_int_equal(r.v[3].id, 0);
	assert_int_equal(r.v[4].kind, PRINCIPAL_GID);
	assert_int_equal(r.v[4].id, 0);
	free(r.v);

	/* Names of users and groups that this system really has. */
	{
		uid_t uid = getuid();
		char text[64];

		snprintf(text, sizeof(text), "uid:%u", (unsigned)uid);
		r = (struct access_rule){NULL, 0};
		assert_int_equal(config_parse_principals(text, &r, err, sizeof(err)), 0);
		assert_int_equal(r.v[0].id, uid);
		free(r.v);
	}

	/* Failure leaves the rule untouched. */
	r = (struct access_rule){NULL, 0};
	assert_int_equal(config_parse_principals("uid:1 uid:two", &r, err,
	                                         sizeof(err)),
	                 -EINVAL);
	assert_null(r.v);
	assert_string_equal(err, "bad principal 'uid:two': the id must be a number "
	                         "from 0 to 4294967294");

	/* At most CONFIG_MAX_PRINCIPALS in one rule. */
	for (unsigned i = 0; i < CONFIG_MAX_PRINCIPALS; i++)
		strcat(many, "uid:1 ");
	assert_int_equal(config_parse_principals(many, &r, err, sizeof(err)), 0);
	assert_int_equal(r.n, CONFIG_MAX_PRINCIPALS);
	free(r.v);
	r = (struct access_rule){NULL, 0};
	strcat(many, "uid:2");
	assert_int_equal(config_parse_principals(many, &r, err, sizeof(err)),
	                 -EINVAL);
	assert_string_equal(err, "too many principals (at most 256)");
	assert_null(r.v);
}

static void test_per_uid(void **state)
{
	struct busd_config c;
	char err[256];

	(void)state;
	/* Not set: a quarter of max-connections, at least 1. */
	assert_int_equal(parse(&c, "[busd]\nmax-connections = 32\n", err, sizeof(err)), 0);
	assert_int_equal(c.max_connections_per_uid, 8);
	config_free(&c);
	assert_int_equal(parse(&c, "[busd]\nmax-connections = 3\n", err, sizeof(err)), 0);
	assert_int_equal(c.max_connections_per_uid, 1);
	config_free(&c);
	/* Set: as given, up to max-connections. */
	assert_int_equal(parse(&c, "[busd]\nmax-connections-per-uid = 5\n", err,
	                       sizeof(err)),
	                 0);
	assert_int_equal(c.max_connections, 256);
	assert_int_equal(c.max_connections_per_uid, 5);
	config_free(&c);
	assert_int_equal(parse(&c, "[busd]\nmax-connections-per-uid = 8\n"
	                           "max-connections = 8\n",
	                       err, sizeof(err)),
	                 0);
	assert_int_equal(c.max_connections_per_uid, 8);
	config_free(&c);
}

/* Who may produce on a queue without consuming from it. */
static void test_produce_only(void **state)
{
	struct busd_config c;
	char err[256], who[64];

	(void)state;
	assert_int_equal(parse(&c, "[queue a]\nproduce = uid:1000 gid:100 uid:7 uid:0 "
	                           "uid:42 *\nconsume = uid:7 gid:100\n"
	                           "[queue b]\nproduce = uid:1000\nconsume = *\n"
	                           "[queue c]\nconsume = uid:5\n"
	                           "[queue d]\nproduce = uid:1 uid:2 uid:3 uid:4 "
	                           "uid:5 uid:6 uid:7 uid:8 uid:9 uid:10 uid:11 "
	                           "uid:12 uid:13 uid:14 uid:15\n",
	                       err, sizeof(err)),
	                 0);
	/* root and busd's own uid (42 here) always consume. */
	assert_int_equal(config_produce_only(&c.queues[0], 42, who, sizeof(who)), 2);
	assert_string_equal(who, "uid:1000 *");
	assert_int_equal(config_produce_only(&c.queues[1], 42, who, sizeof(who)), 0);
	assert_string_equal(who, "");
	assert_int_equal(config_produce_only(&c.queues[2], 42, who, sizeof(who)), 0);
	/* Too many to name: cut short, still counted. */
	assert_int_equal(config_produce_only(&c.queues[3], 42, who, 40), 15);
	assert_true(strlen(who) < 40);
	assert_non_null(strstr(who, " ..."));
	assert_int_equal(strncmp(who, "uid:1 uid:2 ", 12), 0);
	config_free(&c);
}

/* What config_write() prints parses back to the same settings. */
static void test_write(void **state)
{
	struct busd_config c, again;
	char err[256], text[4096];
	FILE *f = tmpfile();
	size_t n;

	(void)state;
	assert_non_null(f);
	assert_int_equal(parse(&c, good, err, sizeof(err)), 0);
	c.max_connections_per_uid = 7;
	assert_int_equal(config_write(f, &c, 1000), 0);
	rewind(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	assert_non_null(strstr(text, "\nmax-connections-per-uid = 7\n"));
	config_init(&again);
	assert_int_equal(config_parse(&again, "w.conf", text, n, err, sizeof(err)), 0);
	assert_int_equal(again.max_connections, 100);
	assert_int_equal(again.max_connections_per_uid, 7);
	assert_int_equal(again.nqueues, 2);
	config_free(&again);
	config_free(&c);
}

static void test_grants_others(void **state)
{
	struct busd_config c;
	char err[256];

	(void)state;
	assert_int_equal(parse(&c, "[busd]\ncreate = uid:500 uid:0\n"
	                           "[queue a]\nproduce = uid:500\n",
	                       err,
	                       sizeof(err)),
	                 0);
	assert_false(config_grants_others(&c, 500));
	assert_true(config_grants_others(&c, 501));
	config_free(&c);
	assert_int_equal(parse(&c, "[queue a]\nadmin = gid:500\n", err,
	                       sizeof(err)),
	                 0);
	assert_true(config_grants_others(&c, 500));
	config_free(&c);
}

static void test_load(void **state)
{
	const char *dir = *state;
	char path[HARNESS_TMPDIR_MAX + 16];
	struct busd_config c;
	char err[512], want[600];

	snprintf(path, sizeof(path), "%s/busd.conf", dir);
	assert_int_equal(harness_file_write(path, good, sizeof(good) - 1), 0);
	config_init(&c);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
	assert_int_equal(c.nqueues, 2);
	config_free(&c);

	/* Errors name the file as given. */
	assert_int_equal(harness_file_write(path, "[busd]\n\nbogus = 1\n", 18), 0);
	config_init(&c);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:3: unknown key 'bogus' in [busd]", path);
	assert_string_equal(err, want);
	config_free(&c);

	/* Too large to be a config file. */
	assert_int_equal(truncate(path, CONFIG_MAX_FILE + 1), 0);
	config_init(&c);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), -EFBIG);
	snprintf(want, sizeof(want), "%s: larger than %u bytes", path,
	         CONFIG_MAX_FILE);
	assert_string_equal(err, want);
	config_free(&c);

	unlink(path);
	config_init(&c);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	assert_string_equal(err, want);
	config_free(&c);

	config_init(&c);
	assert_int_equal(config_load(&c, "/tmp", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "/tmp: not a regular file");
	config_free(&c);
}

/* test_load's private directory, removed by the teardown. */
static char tmpdir[HARNESS_TMPDIR_MAX];

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_line_limits),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_principals),
		cmocka_unit_test(test_per_uid),
		cmocka_unit_test(test_produce_only),
		cmocka_unit_test(test_write),
		cmocka_unit_test(test_grants_others),
		cmocka_unit_test_prestate_setup_teardown(test_load, harness_tmpdir_open,
	                                                 harness_tmpdir_close, tmpdir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

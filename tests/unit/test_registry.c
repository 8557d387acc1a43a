/*
 * test_registry.c - busd's adoption of the segments a previous busd left
 * (busd/registry.c): registry_adopt() and registry_declare() against
 * segments this test makes in /dev/shm under an instance of its own (a
 * socket path no busd serves), every one of them removed again.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "bus/bus.h"
#include "config.h"
#include "guard.h"
#include "harness.h"
#include "registry.h"
#include "reply_queue.h"
#include "ring.h"
#include "segment.h"
#include "wait.h"

#define SHM_DIR "/dev/shm"

struct fixture {
	char socket_path[64];
	uint32_t instance;
	uint32_t self;
	struct busd_config cfg;
	struct registry reg;
};

/* The prefix of every name of f's instance in /dev/shm, without '/'. */
static void instance_prefix(const struct fixture *f, char *buf, size_t n)
{
	snprintf(buf, n, "bus.%08x.", f->instance);
}

/*
 * Unlinks every entry of f's instance in /dev/shm; returns how many there
 * were.
 */
static int remove_instance(const struct fixture *f)
{
	char prefix[32];

	instance_prefix(f, prefix, sizeof(prefix));
	return harness_shm_remove_prefix(prefix);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	/* A path no busd serves: an instance nobody else uses. */
	snprintf(f->socket_path, sizeof(f->socket_path),
	         "/nonexistent/test-registry-%ld.sock", (long)getpid());
	f->instance = seg_instance(f->socket_path);
	f->self = (uint32_t)getuid();
	config_init(&f->cfg);
	remove_instance(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	registry_close(&f->reg);
	config_free(&f->cfg);
	remove_instance(f);
	/* Nothing of the instance is left. */
	assert_int_equal(remove_instance(f), 0);
	free(f);
	return 0;
}

/* Parses text as f's config. */
static void parse_config(struct fixture *f, const char *text)
{
	char err[256] = "";

	config_free(&f->cfg);
	config_init(&f->cfg);
	if (config_parse(&f->cfg, "t.conf", text, strlen(text), err,
	                 sizeof(err)) < 0)
		fail_msg("config: %s", err);
}

/*
 * Makes a valid segment for queue, owned (by its name) by owner, with
 * uuid filled in; leaves it mapped in *s.
 */
static void make_seg(const struct fixture *f, const char *queue,
                     uint32_t owner, uint8_t uuid[16], char *shm_name,
                     struct seg *s)
{
	struct seg_params p = {.name = queue, .capacity = 4096};
	const char *why = "";
	int e;

	for (int i = 0; i < 16; i++)
		uuid[i] = (uint8_t)(rand() & 0xff);
	uuid[0] |= 1; /* never the null uuid, which seg_format replaces */
	memcpy(p.uuid, uuid, 16);
	seg_shm_name(shm_name, f->instance, queue, uuid, owner);
	e = seg_create_shm(shm_name, &p, s, &why);
	if (e < 0)
		fail_msg("seg_create_shm %s: %s (%s)", shm_name, why, strerror(-e));
}

/* make_seg(), closed. */
static void make_closed(const struct fixture *f, const char *queue,
                        uint32_t owner, char *shm_name)
{
	uint8_t uuid[16];
	struct seg s;

	make_seg(f, queue, owner, uuid, shm_name, &s);
	seg_close(&s);
}

/* Commits one message of len bytes through producer slot 0. */
static void put_message(struct seg *s, size_t len)
{
	struct ring_prod rp;
	struct rec_hdr *r;

	ring_prod_init(&rp, s, 0);
	assert_int_equal(ring_claim(&rp, len, &r), 0);
	memset(ring_rec_payload(r), 0x5a, len);
	ring_commit(&rp, r, 1, len, 0);
}

static bool shm_exists(const char *shm_name)
{
	char path[sizeof(SHM_DIR) + SEG_SHM_NAME_MAX + 8];

	snprintf(path, sizeof(path), SHM_DIR "%s", shm_name);
	return access(path, F_OK) == 0;
}

static void adopt(struct fixture *f)
{
	registry_init(&f->reg, &f->cfg, f->socket_path, f->self);
	assert_int_equal(registry_adopt(&f->reg), 0);
}

/* A valid segment is adopted with its contents and identity. */
static void test_adopt_valid(void **state)
{
	struct fixture *f = *state;
	char shm_name[SEG_SHM_NAME_MAX];
	uint8_t uuid[16];
	struct queue *q;
	struct seg s;
	bus_stats st;

	make_seg(f, "valid", f->self, uuid, shm_name, &s);
	put_message(&s, 100);
	put_message(&s, 7);
	seg_close(&s);

	adopt(f);
	assert_int_equal(f->reg.n, 1);
	q = registry_find(&f->reg, "valid");
	assert_non_null(q);
	assert_string_equal(q->shm_name, shm_name);
	assert_memory_equal(q->uuid, uuid, 16);
	assert_int_equal(q->owner_uid, f->self);
	assert_int_equal(q->seg.capacity, 4096);
	assert_int_equal(q->reply_pid, 0);
	assert_null(q->conf);
	assert_int_equal(bus_stats_read_fd(q->seg.fd, &st), 0);
	assert_int_equal(st.depth_msgs, 2);
	assert_true(shm_exists(shm_name));
}

/* A segment whose deletion was interrupted is unlinked, not adopted. */
static void test_deleted_unlinked(void **state)
{
	struct fixture *f = *state;
	char shm_name[SEG_SHM_NAME_MAX];
	uint8_t uuid[16];
	struct seg s;

	make_seg(f, "gone", f->self, uuid, shm_name, &s);
	seg_set_deleted(&s, &wait_futex_ops);
	seg_close(&s);

	adopt(f);
	assert_int_equal(f->reg.n, 0);
	assert_null(registry_find(&f->reg, "gone"));
	assert_false(shm_exists(shm_name));
}

/* The temporary of a creation that never finished is removed. */
static void test_temp_removed(void **state)
{
	struct fixture *f = *state;
	char shm_name[SEG_SHM_NAME_MAX], temp[SEG_SHM_NAME_MAX + 8];
	uint8_t uuid[16] = {1, 2, 3};
	int fd;

	seg_shm_name(shm_name, f->instance, "half", uuid, f->self);
	assert_int_equal(seg_shm_temp_name(temp, sizeof(temp), shm_name), 0);
	fd = shm_open(temp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 8192), 0);
	close(fd);
	assert_true(shm_exists(temp));

	adopt(f);
	assert_int_equal(f->reg.n, 0);
	assert_false(shm_exists(temp));
	assert_false(shm_exists(shm_name));
}

/* Corrupt segments are refused and left in place. */
static void test_corrupt_refused(void **state)
{
	struct fixture *f = *state;
	char bad_magic[SEG_SHM_NAME_MAX], old_version[SEG_SHM_NAME_MAX];
	uint8_t uuid[16];
	struct seg s;

	make_seg(f, "magic", f->self, uuid, bad_magic, &s);
	s.hdr->magic ^= 1;
	seg_close(&s);
	make_seg(f, "version", f->self, uuid, old_version, &s);
	atomic_store(&s.hdr->version, 1);
	seg_close(&s);

	adopt(f);
	assert_int_equal(f->reg.n, 0);
	assert_null(registry_find(&f->reg, "magic"));
	assert_null(registry_find(&f->reg, "version"));
	assert_true(shm_exists(bad_magic));
	assert_true(shm_exists(old_version));
}

/* Of two segments for one name, the newer is adopted, the older left. */
static void test_duplicate_newer_wins(void **state)
{
	struct fixture *f = *state;
	char older[SEG_SHM_NAME_MAX], newer[SEG_SHM_NAME_MAX];
	uint8_t uuid_old[16], uuid_new[16];
	struct seg s;

	/* Made second, dated earlier: the date decides, not the order. */
	make_seg(f, "dup", f->self, uuid_new, newer, &s);
	seg_close(&s);
	make_seg(f, "dup", f->self, uuid_old, older, &s);
	s.hdr->created_ns -= UINT64_C(1000000000);
	seg_close(&s);

	adopt(f);
	assert_int_equal(f->reg.n, 1);
	assert_non_null(registry_find(&f->reg, "dup"));
	assert_string_equal(registry_find(&f->reg, "dup")->shm_name, newer);
	assert_memory_equal(registry_find(&f->reg, "dup")->uuid, uuid_new, 16);
	assert_true(shm_exists(older));
	assert_true(shm_exists(newer));
}

/*
 * A segment under a name the config declares whose owner is neither
 * busd's uid nor root is refused and left in place; registry_declare()
 * then makes the declared queue, owned by busd.
 */
static void test_declared_foreign_owner(void **state)
{
	struct fixture *f = *state;
	char foreign[SEG_SHM_NAME_MAX], mine[SEG_SHM_NAME_MAX];
	char err[256] = "";
	uint32_t other = f->self + 1;
	struct queue *q;

	parse_config(f, "[queue decl]\ncapacity = 8K\n");
	make_closed(f, "decl", other, foreign);
	/* The same owner under an undeclared name is adopted. */
	make_closed(f, "free", other, mine);

	adopt(f);
	assert_int_equal(f->reg.n, 1);
	assert_null(registry_find(&f->reg, "decl"));
	q = registry_find(&f->reg, "free");
	assert_non_null(q);
	assert_int_equal(q->owner_uid, other);
	assert_true(shm_exists(foreign));

	if (registry_declare(&f->reg, err, sizeof(err)) < 0)
		fail_msg("registry_declare: %s", err);
	q = registry_find(&f->reg, "decl");
	assert_non_null(q);
	assert_int_equal(q->owner_uid, f->self);
	assert_string_not_equal(q->shm_name, foreign);
	assert_int_equal(q->seg.capacity, 8192);
	assert_non_null(q->conf);
	assert_true(shm_exists(foreign));
}

/* Reply queues are adopted with their caller's pid from the name. */
static void test_reply_queue(void **state)
{
	struct fixture *f = *state;
	char name[BUS_NAME_MAX + 1], shm_name[SEG_SHM_NAME_MAX];
	const uint8_t service[16] = {0xab, 0xcd, 0xef, 1, 2, 3};
	const pid_t pid = 4242;
	struct queue *q;

	reply_queue_format(name, service, (uint64_t)pid << 32 | 0x1234);
	assert_int_equal(reply_queue_pid(name), pid);
	make_closed(f, name, f->self, shm_name);

	adopt(f);
	q = registry_find(&f->reg, name);
	assert_non_null(q);
	assert_int_equal(q->reply_pid, pid);
}

/* Everything at once: each decision holds beside the others. */
static void test_mixed(void **state)
{
	struct fixture *f = *state;
	char valid[SEG_SHM_NAME_MAX], gone[SEG_SHM_NAME_MAX];
	char corrupt[SEG_SHM_NAME_MAX], temp[SEG_SHM_NAME_MAX + 8];
	char err[256] = "";
	uint8_t uuid[16];
	struct seg s;

	parse_config(f, "[queue valid]\ncapacity = 4K\n[queue fresh]\n");
	make_closed(f, "valid", f->self, valid);
	make_seg(f, "gone", f->self, uuid, gone, &s);
	seg_set_deleted(&s, &wait_futex_ops);
	seg_close(&s);
	make_seg(f, "corrupt", f->self, uuid, corrupt, &s);
	s.hdr->magic = 0;
	seg_close(&s);
	assert_int_equal(seg_shm_temp_name(temp, sizeof(temp), gone), 0);
	close(shm_open(temp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));

	adopt(f);
	if (registry_declare(&f->reg, err, sizeof(err)) < 0)
		fail_msg("registry_declare: %s", err);
	assert_int_equal(f->reg.n, 2);
	assert_string_equal(registry_find(&f->reg, "valid")->shm_name, valid);
	assert_non_null(registry_find(&f->reg, "valid")->conf);
	assert_non_null(registry_find(&f->reg, "fresh"));
	assert_false(shm_exists(gone));
	assert_false(shm_exists(temp));
	assert_true(shm_exists(corrupt));
}

/* Each test runs between setup and teardown. */
#define FIXTURE_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		FIXTURE_TEST(test_adopt_valid),
		FIXTURE_TEST(test_deleted_unlinked),
		FIXTURE_TEST(test_temp_removed),
		FIXTURE_TEST(test_corrupt_refused),
		FIXTURE_TEST(test_duplicate_newer_wins),
		FIXTURE_TEST(test_declared_foreign_owner),
		FIXTURE_TEST(test_reply_queue),
		FIXTURE_TEST(test_mixed),
	};

	if (guard_init() < 0)
		return 1;
	srand((unsigned)getpid());
	return cmocka_run_group_tests(tests, NULL, NULL);
}

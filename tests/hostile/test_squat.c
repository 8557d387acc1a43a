/*
 * test_squat.c - a queue the config declares, squatted by a user who may
 * create queues (busd as root, the user a child that setuid()s to 65534).
 *
 * The config declares `secret`, which only root may consume from, and
 * lets uid 65534 create queues at run time.
 *
 *  - runtime_squat: root deletes `secret`; the user creates `secret`
 *    again; busd restarts.  The user must not be able to consume from
 *    `secret` nor read its stats, the queue must be the config's (owned
 *    by busd, one segment), and what root publishes after the restart
 *    reaches root's consumer.  The user's create is refused with -EACCES
 *    and a message naming the reservation.
 *  - adoption_refuses_squatter: the user owns a segment named `secret`
 *    from before the config declared it (made while busd ran with a
 *    config that did not declare it, holding the user's message).  busd
 *    restarted with the declaring config must not adopt it under that
 *    name: it reports it, leaves it in place with its message, and
 *    creates `secret` as declared.  A second squatter segment, newer than
 *    the right one, changes nothing: over two more restarts the right
 *    one is kept with root's message, and the user still gets nothing.
 *  - config_sizes: the config changes secret's capacity between starts.
 *    Adopted empty and unattached, the queue is made again with the
 *    config's sizes; holding a message, it keeps its own (with a
 *    warning) until it is empty at a later start.
 *
 * Needs root (to act as a second uid); otherwise exits 77.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <uuid/uuid.h>

#include "../e2e/e2e.h"
#include "harness.h"
#include "segment.h"

#define USER_ID 65534u

/* A config that lets the user create queues, and maybe declares secret. */
#define CONF_OPEN "[busd]\ncreate = uid:65534\n"
#define CONF_DECLARED                        \
	CONF_OPEN                            \
	"[queue secret]\ncapacity = 4K\n"    \
	"produce = uid:0\nconsume = uid:0\n" \
	"admin = uid:0\n"                    \
	"[queue open]\ncapacity = 4K\n"      \
	"produce = uid:65534\nconsume = uid:65534\n"

/* What a child acting as the user found, written into shared memory. */
struct report {
	int create; /* bus_queue_create of secret */
	char create_msg[256];
	int consume;   /* bus_consumer_open of secret */
	int recv;      /* bus_recv on it, if it opened */
	char got[128]; /* what it received, if anything */
	int stats;     /* bus_queue_stats of secret */
	int publish;   /* a message into secret (squatter setup) */
};

static struct report *rep;

static int become_user(void)
{
	if (setgroups(0, NULL) < 0 || setgid(USER_ID) < 0 || setuid(USER_ID) < 0)
		return -1;
	return geteuid() == USER_ID ? 0 : -1;
}

enum user_op {
	USER_CREATE = 1,  /* create secret */
	USER_PUBLISH = 2, /* publish "user-data" to secret */
	USER_READ = 4,    /* try to consume from secret and read its stats */
};

struct user_arg {
	const char *socket;
	unsigned ops;
};

/* In a child as the user: ops on secret, results into *rep. */
static int user_child(void *argp)
{
	const struct user_arg *a = argp;
	bus_consumer *c;
	bus_producer *p;
	bus_stats st;
	bus_msg m;
	bus *b;

	if (become_user() < 0)
		return 10;
	if (bus_open(a->socket, &b) < 0)
		return 11;
	if (a->ops & USER_CREATE) {
		rep->create = bus_queue_create(b, "secret", NULL, NULL);
		snprintf(rep->create_msg, sizeof(rep->create_msg), "%s",
		         rep->create < 0 ? bus_last_error(b) : "");
	}
	if (a->ops & USER_PUBLISH) {
		rep->publish = bus_producer_open(b, "secret", &p);
		if (rep->publish == 0) {
			rep->publish = bus_send(p, 0, "user-data", 9, 1000);
			bus_producer_close(p);
		}
	}
	if (a->ops & USER_READ) {
		rep->consume = bus_consumer_open(b, "secret", &c);
		if (rep->consume == 0) {
			rep->recv = bus_recv(c, &m, 500);
			if (rep->recv == 0) {
				snprintf(rep->got, sizeof(rep->got), "%.*s",
				         (int)(m.len < 100 ? m.len : 100),
				         (const char *)m.data);
				bus_release(c);
			}
			bus_consumer_close(c);
		}
		rep->stats = bus_queue_stats(b, "secret", &st);
	}
	bus_close(b);
	return 0;
}

static void as_user(struct e2e *e, unsigned ops)
{
	struct user_arg a = {.socket = e->socket, .ops = ops};

	memset(rep, 0, sizeof(*rep));
	assert_int_equal(e2e_wait(e, e2e_fork(e, user_child, &a), 30), 0);
}

/*
 * The user tried to read secret: everything refused (-EACCES, or -ENOENT
 * where the queue may not exist), nothing received.
 */
static void expect_user_locked_out(struct e2e *e, const char *when, int err)
{
	as_user(e, USER_READ);
	if (rep->consume != err || rep->stats != err || rep->got[0]) {
		fprintf(stderr, "%s: uid %u: consume %d (%s), recv %d got '%s', stats %d (%s)\n",
		        when, USER_ID, rep->consume, strerror(-rep->consume), rep->recv,
		        rep->got, rep->stats, strerror(-rep->stats));
		e2e_dump_log(e);
	}
	assert_string_equal(rep->got, "");
	assert_int_equal(rep->consume, err);
	assert_int_equal(rep->stats, err);
}

static void publish_root(struct e2e *e, const char *text)
{
	struct e2e_run r;

	e2e_cli(e, &r, NULL, 0, 30, "publish", "secret", text, NULL);
	if (r.status != 0)
		fprintf(stderr, "root publish: status %d: %s\n", r.status, r.err);
	assert_int_equal(r.status, 0);
	e2e_run_free(&r);
}

static void recv_root(struct e2e *e, const char *want)
{
	struct e2e_run r;

	e2e_cli(e, &r, NULL, 0, 30, "recv", "secret", "-n", "1", "-T", "2000", NULL);
	if (r.status != 0 || strcmp(r.out, want) != 0)
		fprintf(stderr, "root recv: status %d: out '%s' err '%s'\n", r.status,
		        r.out, r.err);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, want);
	e2e_run_free(&r);
}

/* Names in /dev/shm of this busd's segments of secret, by owner. */
static void count_secret(struct e2e *e, int *busd_owned, int *user_owned)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *de;

	assert_non_null(d);
	*busd_owned = *user_owned = 0;
	while ((de = readdir(d)) != NULL) {
		char q[BUS_NAME_MAX + 1];
		uint8_t uuid[16];
		uint32_t owner;

		if (seg_shm_parse_owner(de->d_name, e->instance, q, uuid, &owner) < 0 ||
		    strcmp(q, "secret") != 0)
			continue;
		if (owner == 0)
			(*busd_owned)++;
		else if (owner == USER_ID)
			(*user_owned)++;
		else
			fail_msg("segment %s has an unexpected owner", de->d_name);
	}
	closedir(d);
}

static void runtime_squat(void **state)
{
	struct e2e *e = *state;
	bus_queue_opts o = {.capacity = 8192};
	bus_queue_info qi;
	char create_msg[256];
	int mine, theirs, created;
	bus *b;

	e2e_busd_restart_config(e, CONF_DECLARED);
	b = e2e_open(e);
	assert_int_equal(bus_queue_delete(b, "secret"), 0);
	bus_close(b);

	/* the user recreates the name root deleted */
	as_user(e, USER_CREATE);
	created = rep->create;
	snprintf(create_msg, sizeof(create_msg), "%s", rep->create_msg);
	fprintf(stderr, "user's create of secret: %d (%s) %s\n", created,
	        strerror(-created), create_msg);
	expect_user_locked_out(e, "before the restart", created == 0 ? -EACCES : -ENOENT);

	e2e_busd_restart_config(e, CONF_DECLARED);
	publish_root(e, "for-root-only");
	expect_user_locked_out(e, "after the restart", -EACCES);
	recv_root(e, "for-root-only\n");

	/* the one queue secret is the config's: busd's, not the user's */
	count_secret(e, &mine, &theirs);
	assert_int_equal(theirs, 0);
	assert_int_equal(mine, 1);
	/* the user's create was refused, and said why */
	assert_int_equal(created, -EACCES);
	assert_non_null(strstr(create_msg, "reserved"));
	assert_non_null(strstr(create_msg, "secret"));

	/* root may create it again: as declared, owned by busd */
	b = e2e_open(e);
	assert_int_equal(bus_queue_delete(b, "secret"), 0);
	assert_int_equal(bus_queue_create(b, "secret", &o, &qi), -EINVAL);
	assert_non_null(strstr(bus_last_error(b), "declared"));
	assert_int_equal(bus_queue_create(b, "secret", NULL, &qi), 0);
	assert_int_equal(qi.capacity, 4096);
	bus_close(b);
	count_secret(e, &mine, &theirs);
	assert_int_equal(mine, 1);
	assert_int_equal(theirs, 0);
	expect_user_locked_out(e, "after root created it again", -EACCES);
}

/* Plants a valid segment named like busd's for secret, owned by the user. */
static void plant_squatter(struct e2e *e)
{
	struct seg_params p = {.name = "secret", .capacity = 4096};
	char name[SEG_SHM_NAME_MAX];
	const char *why = "";
	struct seg s;

	uuid_generate(p.uuid);
	seg_shm_name(name, e->instance, "secret", p.uuid, USER_ID);
	if (seg_create_shm(name, &p, &s, &why) < 0)
		fail_msg("cannot plant %s: %s", name, why);
	seg_close(&s);
}

static void adoption_refuses_squatter(void **state)
{
	struct e2e *e = *state;
	int mine, theirs;

	/* the user's own queue secret, from before the config declared it */
	e2e_busd_restart_config(e, CONF_OPEN);
	as_user(e, USER_CREATE | USER_PUBLISH);
	assert_int_equal(rep->create, 0);
	assert_int_equal(rep->publish, 0);

	e2e_busd_restart_config(e, CONF_DECLARED);
	/* reported with the message it holds */
	assert_int_equal(e2e_log_count(e, "queue.adopt_refused", ".u65534"), 1);
	assert_int_equal(e2e_log_count(e, "queue.adopt_refused", "messages=1 "), 1);
	count_secret(e, &mine, &theirs);
	assert_int_equal(mine, 1);   /* created as the config declares it */
	assert_int_equal(theirs, 1); /* left in place, with its message */
	publish_root(e, "root-1");
	expect_user_locked_out(e, "after the config declared secret", -EACCES);

	/* a newer squatter segment: the right one is still kept, each time */
	assert_int_equal(e2e_busd_stop(e), 0);
	plant_squatter(e);
	for (int i = 0; i < 2; i++) {
		int before = e2e_log_count(e, "queue.adopt_refused", ".u65534");

		e2e_busd_start(e);
		assert_int_equal(e2e_log_count(e, "queue.adopt_refused", ".u65534"),
		                 before + 2);
		count_secret(e, &mine, &theirs);
		assert_int_equal(mine, 1);
		assert_int_equal(theirs, 2);
		expect_user_locked_out(e, "with two squatter segments", -EACCES);
		if (i == 0)
			assert_int_equal(e2e_busd_stop(e), 0);
	}
	recv_root(e, "root-1\n");
	assert_int_equal(e2e_log_count(e, "queue.adopt_duplicate", NULL), 0);
}

/* secret's capacity as stats read it now. */
static uint64_t secret_capacity(struct e2e *e)
{
	bus *b = e2e_open(e);
	bus_stats st;

	assert_int_equal(bus_queue_stats(b, "secret", &st), 0);
	bus_close(b);
	return st.capacity;
}

/*
 * The config's sizes for a declared queue: applied at a start when the
 * queue adopted is empty and unattached; never at the cost of a message.
 */
static void config_sizes(void **state)
{
	struct e2e *e = *state;

	e2e_busd_restart_config(e, CONF_DECLARED);
	assert_int_equal(secret_capacity(e), 4096);
	/* Empty: the new size is applied, the old segment goes. */
	e2e_busd_restart_config(e, CONF_OPEN "[queue secret]\ncapacity = 8K\n");
	assert_int_equal(secret_capacity(e), 8192);
	assert_int_equal(e2e_log_count(e, "event=queue.config_applied", NULL), 1);
	assert_int_equal(e2e_shm_count(e, "secret"), 1);
	/* A message in it: kept as it is, with its message, and a warning. */
	publish_root(e, "kept");
	e2e_busd_restart_config(e, CONF_OPEN "[queue secret]\ncapacity = 16K\n");
	assert_int_equal(secret_capacity(e), 8192);
	assert_int_equal(e2e_log_count(e, "event=queue.config_mismatch", NULL), 1);
	recv_root(e, "kept\n");
	/* Empty again: the next start applies the config. */
	e2e_busd_restart_config(e, CONF_OPEN "[queue secret]\ncapacity = 16K\n");
	assert_int_equal(secret_capacity(e), 16384);
	assert_int_equal(e2e_shm_count(e, "secret"), 1);
}

static int setup(void **state)
{
	const char *why = e2e_precheck();

	if (!why && geteuid() != 0)
		why = "not root: cannot act as a second user";
	if (why)
		e2e_skip(why);
	rep = mmap(NULL, sizeof(*rep), PROT_READ | PROT_WRITE,
	           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(rep != MAP_FAILED);
	return e2e_setup(state);
}

static int teardown(void **state)
{
	munmap(rep, sizeof(*rep));
	return e2e_teardown(state);
}

HARNESS_MAIN(cmocka_unit_test_setup_teardown(runtime_squat, setup, teardown),
             cmocka_unit_test_setup_teardown(adoption_refuses_squatter, setup, teardown),
             cmocka_unit_test_setup_teardown(config_sizes, setup, teardown))

/*
 * test_access.c - busd's access decisions (busd/access.c).
 *
 * A policy with busd running as uid 500, a create rule for uid 1000 and
 * gid 200, and a queue whose rules name a uid, a gid and supplementary
 * groups: every decision is checked for the right peer and for peers
 * that just miss (another uid, a group they are not in).  Root and busd's
 * own uid are always allowed, a queue's owner gets every right, and
 * reading stats needs any one right.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "access.h"
#include "harness.h"

#define SELF        500u
#define NOBODY_OWNS 4294967294u

static struct control_peer peer(uint32_t uid, uint32_t gid, size_t n,
                                const uint32_t *groups)
{
	struct control_peer p = {.pid = 42, .uid = uid, .gid = gid};

	for (size_t i = 0; i < n; i++)
		p.groups[i] = groups[i];
	p.ngroups = (uint32_t)n;
	return p;
}

static struct principal create_v[] = {
	{PRINCIPAL_UID, 1000},
	{PRINCIPAL_GID, 200},
};

static const struct access_policy policy = {
	.self_uid = SELF,
	.create = {create_v, 2},
};

/* produce: uid 1001 and gid 300; consume: gid 400; admin: uid 1002. */
static struct principal produce_v[] = {{PRINCIPAL_UID, 1001}, {PRINCIPAL_GID, 300}};
static struct principal consume_v[] = {{PRINCIPAL_GID, 400}};
static struct principal admin_v[] = {{PRINCIPAL_UID, 1002}};
static const struct queue_rules rules = {
	.produce = {produce_v, 2},
	.consume = {consume_v, 1},
	.admin = {admin_v, 1},
};

static void test_rule_match(void **state)
{
	struct principal anyone_v[] = {{PRINCIPAL_ANYONE, 0}};
	struct access_rule anyone = {anyone_v, 1};
	struct access_rule empty = {NULL, 0};
	const uint32_t g[] = {7, 300, 9};
	struct control_peer p;

	(void)state;
	p = peer(1001, 1, 0, NULL);
	assert_true(access_rule_match(&rules.produce, &p)); /* uid */
	p = peer(1003, 300, 0, NULL);
	assert_true(access_rule_match(&rules.produce, &p)); /* primary gid */
	p = peer(1003, 1, 3, g);
	assert_true(access_rule_match(&rules.produce, &p)); /* supplementary */
	p = peer(1003, 1, 1, g);
	assert_false(access_rule_match(&rules.produce, &p)); /* 300 not among them */
	p = peer(300, 1001, 0, NULL);
	assert_false(access_rule_match(&rules.produce, &p)); /* uid is not a gid */
	assert_true(access_rule_match(&anyone, &p));
	assert_false(access_rule_match(&empty, &p));
	/* root is not in a rule unless named: the always-allowed is the policy's */
	p = peer(0, 0, 0, NULL);
	assert_false(access_rule_match(&rules.produce, &p));
}

static void test_groups_bounded(void **state)
{
	struct control_peer p = peer(1003, 1, 0, NULL);

	(void)state;
	/* A count past the array is never followed past it. */
	p.ngroups = 100000;
	p.groups[CONTROL_MAX_GROUPS - 1] = 400;
	assert_true(access_rule_match(&rules.consume, &p));
	p.groups[CONTROL_MAX_GROUPS - 1] = 401;
	assert_false(access_rule_match(&rules.consume, &p));
}

/* Every operation there is. */
static const enum access_op ops[] = {
	ACCESS_OP_PRODUCE,
	ACCESS_OP_CONSUME,
	ACCESS_OP_OBSERVE,
	ACCESS_OP_DELETE,
	ACCESS_OP_CREATE,
};

/* Whether the policy and rules above allow p op on a queue nobody owns. */
static bool ruled(const struct control_peer *p, enum access_op op)
{
	return access_allowed(&policy, &rules, NOBODY_OWNS, p, op);
}

/* The rights the policy and rules above give p on a queue nobody owns. */
static unsigned ruled_rights(const struct control_peer *p)
{
	return access_queue_rights(&policy, &rules, NOBODY_OWNS, p);
}

static void test_always_allowed(void **state)
{
	const uint32_t uids[] = {0, SELF};
	const struct access_policy bare = {.self_uid = SELF};

	(void)state;
	for (size_t u = 0; u < 2; u++) {
		struct control_peer p = peer(uids[u], 12345, 0, NULL);

		for (size_t i = 0; i < HARNESS_NITEMS(ops); i++) {
			assert_true(access_allowed(&policy, &rules, NOBODY_OWNS, &p, ops[i]));
			assert_true(access_allowed(&bare, NULL, NOBODY_OWNS, &p, ops[i]));
		}
		assert_int_equal(access_queue_rights(&bare, NULL, NOBODY_OWNS, &p),
		                 ACCESS_ALL);
	}
}

static void test_default_denies(void **state)
{
	const struct access_policy bare = {.self_uid = SELF};
	struct control_peer p = peer(1000, 100, 0, NULL);

	(void)state;
	/* Nothing configured: nobody but root and busd's uid. */
	assert_int_equal(access_queue_rights(&bare, NULL, NOBODY_OWNS, &p), 0);
	for (size_t i = 0; i < HARNESS_NITEMS(ops); i++)
		assert_false(access_allowed(&bare, NULL, NOBODY_OWNS, &p, ops[i]));
}

static void test_owner(void **state)
{
	const struct access_policy bare = {.self_uid = SELF};
	struct control_peer owner = peer(1500, 100, 0, NULL);
	struct control_peer other = peer(1501, 100, 0, NULL);

	(void)state;
	/* A run-time queue's creator has every right on it, and only on it. */
	assert_int_equal(access_queue_rights(&bare, NULL, 1500, &owner), ACCESS_ALL);
	assert_true(access_allowed(&bare, NULL, 1500, &owner, ACCESS_OP_DELETE));
	assert_true(access_allowed(&bare, NULL, 1500, &owner, ACCESS_OP_CONSUME));
	assert_int_equal(access_queue_rights(&bare, NULL, 1500, &other), 0);
	assert_int_equal(access_queue_rights(&bare, NULL, 1499, &owner), 0);
	/* Owning a queue is not the right to create others. */
	assert_false(access_allowed(&bare, NULL, 1500, &owner, ACCESS_OP_CREATE));
	/* With rules as well: the owner keeps all, the rules add. */
	assert_int_equal(access_queue_rights(&policy, &rules, 1500, &owner),
	                 ACCESS_ALL);
}

/* A peer with each right the rules above give, and one with none. */
struct peers {
	struct control_peer producer, consumer, admin, none;
};

static struct peers peers_of_rules(void)
{
	static const uint32_t g400[] = {400};

	return (struct peers){
		.producer = peer(1001, 1, 0, NULL),
		.consumer = peer(1003, 1, 1, g400),
		.admin = peer(1002, 1, 0, NULL),
		.none = peer(1004, 1, 0, NULL),
	};
}

static void test_queue_rights(void **state)
{
	const struct peers who = peers_of_rules();
	struct control_peer both = peer(1001, 400, 0, NULL);

	(void)state;
	assert_int_equal(ruled_rights(&who.producer),
	                 ACCESS_PRODUCE);
	assert_int_equal(ruled_rights(&who.consumer),
	                 ACCESS_CONSUME);
	assert_int_equal(ruled_rights(&who.admin),
	                 ACCESS_ADMIN);
	assert_int_equal(ruled_rights(&both),
	                 ACCESS_PRODUCE | ACCESS_CONSUME);
	assert_int_equal(ruled_rights(&who.none), 0);

	assert_true(ruled(&who.producer, ACCESS_OP_PRODUCE));
	assert_false(ruled(&who.producer, ACCESS_OP_CONSUME));
	assert_false(ruled(&who.producer, ACCESS_OP_DELETE));
	assert_true(ruled(&who.consumer, ACCESS_OP_CONSUME));
	assert_false(ruled(&who.consumer, ACCESS_OP_PRODUCE));
	assert_true(ruled(&who.admin, ACCESS_OP_DELETE));
	assert_false(ruled(&who.admin, ACCESS_OP_PRODUCE));
	assert_false(ruled(&who.none, ACCESS_OP_PRODUCE));
}

static void test_observer_needs_any_right(void **state)
{
	const struct peers who = peers_of_rules();

	(void)state;
	assert_true(ruled(&who.producer, ACCESS_OP_OBSERVE));
	assert_true(ruled(&who.consumer, ACCESS_OP_OBSERVE));
	assert_true(ruled(&who.admin, ACCESS_OP_OBSERVE));
	assert_false(ruled(&who.none, ACCESS_OP_OBSERVE));
}

static void test_create(void **state)
{
	const uint32_t g[] = {5, 200};
	struct control_peer by_uid = peer(1000, 1, 0, NULL);
	struct control_peer by_gid = peer(1010, 200, 0, NULL);
	struct control_peer by_supp = peer(1011, 1, 2, g);
	struct control_peer other = peer(1012, 1, 1, g);

	(void)state;
	assert_true(access_allowed(&policy, NULL, 0, &by_uid, ACCESS_OP_CREATE));
	assert_true(access_allowed(&policy, NULL, 0, &by_gid, ACCESS_OP_CREATE));
	assert_true(access_allowed(&policy, NULL, 0, &by_supp, ACCESS_OP_CREATE));
	assert_false(access_allowed(&policy, NULL, 0, &other, ACCESS_OP_CREATE));
	/* The queue rules have nothing to do with it. */
	assert_false(access_allowed(&policy, &rules, 1012, &other, ACCESS_OP_CREATE));
}

static void test_anyone(void **state)
{
	struct principal star[] = {{PRINCIPAL_ANYONE, 0}};
	const struct queue_rules open_rules = {.consume = {star, 1}};
	const struct access_policy open_policy = {.self_uid = SELF,
	                                          .create = {star, 1}};
	struct control_peer p = peer(31337, 31337, 0, NULL);

	(void)state;
	assert_int_equal(access_queue_rights(&open_policy, &open_rules,
	                                     NOBODY_OWNS, &p),
	                 ACCESS_CONSUME);
	assert_true(access_allowed(&open_policy, NULL, 0, &p, ACCESS_OP_CREATE));
	assert_false(access_allowed(&open_policy, &open_rules, NOBODY_OWNS, &p,
	                            ACCESS_OP_DELETE));
}

static void test_refusal_text(void **state)
{
	char buf[128];

	(void)state;
	access_refusal(buf, sizeof(buf), 1000, ACCESS_OP_CONSUME, "orders");
	assert_string_equal(buf, "uid 1000 may not consume from queue 'orders'");
	access_refusal(buf, sizeof(buf), 1000, ACCESS_OP_PRODUCE, "orders");
	assert_string_equal(buf, "uid 1000 may not produce to queue 'orders'");
	access_refusal(buf, sizeof(buf), 7, ACCESS_OP_OBSERVE, "a.b");
	assert_string_equal(buf, "uid 7 may not read the stats of queue 'a.b'");
	access_refusal(buf, sizeof(buf), 1000, ACCESS_OP_DELETE, "orders");
	assert_string_equal(buf, "uid 1000 may not delete queue 'orders'");
	access_refusal(buf, sizeof(buf), 1000, ACCESS_OP_CREATE, "orders");
	assert_string_equal(buf, "uid 1000 may not create queue 'orders'");
	access_refusal(buf, sizeof(buf), 1000, ACCESS_OP_CREATE, NULL);
	assert_string_equal(buf, "uid 1000 may not create queues");
	/* A short buffer is cut, never overrun. */
	access_refusal(buf, 8, 1000, ACCESS_OP_CONSUME, "orders");
	assert_string_equal(buf, "uid 100");
}

static void test_grants_others(void **state)
{
	struct principal self_root[] = {{PRINCIPAL_UID, SELF}, {PRINCIPAL_UID, 0}};
	struct principal u[] = {{PRINCIPAL_UID, 1000}};
	struct principal g[] = {{PRINCIPAL_GID, 0}};
	struct principal a[] = {{PRINCIPAL_ANYONE, 0}};
	struct access_rule r;

	(void)state;
	r = (struct access_rule){NULL, 0};
	assert_false(access_rule_grants_others(&r, SELF));
	r = (struct access_rule){self_root, 2};
	assert_false(access_rule_grants_others(&r, SELF));
	r = (struct access_rule){u, 1};
	assert_true(access_rule_grants_others(&r, SELF));
	assert_false(access_rule_grants_others(&r, 1000));
	/* Any group may have members other than busd's uid. */
	r = (struct access_rule){g, 1};
	assert_true(access_rule_grants_others(&r, SELF));
	r = (struct access_rule){a, 1};
	assert_true(access_rule_grants_others(&r, SELF));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule_match),
		cmocka_unit_test(test_groups_bounded),
		cmocka_unit_test(test_always_allowed),
		cmocka_unit_test(test_default_denies),
		cmocka_unit_test(test_owner),
		cmocka_unit_test(test_queue_rights),
		cmocka_unit_test(test_observer_needs_any_right),
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_anyone),
		cmocka_unit_test(test_refusal_text),
		cmocka_unit_test(test_grants_others),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * access.c - access decisions (see access.h).
 */
#include <stdio.h>

#include "access.h"

static bool peer_in_group(const struct control_peer *peer, uint32_t gid)
{
	size_t n = peer->ngroups;

	if (peer->gid == gid)
		return true;
	/* ngroups comes from the kernel, but never trust it past the array. */
	if (n > sizeof(peer->groups) / sizeof(peer->groups[0]))
		n = sizeof(peer->groups) / sizeof(peer->groups[0]);
	for (size_t i = 0; i < n; i++)
		if (peer->groups[i] == gid)
			return true;
	return false;
}

bool access_rule_match(const struct access_rule *r, const struct control_peer *peer)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct principal *p = &r->v[i];

		switch (p->kind) {
		case PRINCIPAL_ANYONE:
			return true;
		case PRINCIPAL_UID:
			if (peer->uid == p->id)
				return true;
			break;
		case PRINCIPAL_GID:
			if (peer_in_group(peer, p->id))
				return true;
			break;
		}
	}
	return false;
}

static bool privileged(const struct access_policy *pol,
                       const struct control_peer *peer)
{
	return peer->uid == 0 || peer->uid == pol->self_uid;
}

unsigned access_queue_rights(const struct access_policy *pol,
                             const struct queue_rules *rules,
                             uint32_t owner_uid,
                             const struct control_peer *peer)
{
	unsigned rights = 0;

	if (privileged(pol, peer) || peer->uid == owner_uid)
		return ACCESS_ALL;
	if (!rules)
		return 0;
	if (access_rule_match(&rules->produce, peer))
		rights |= ACCESS_PRODUCE;
	if (access_rule_match(&rules->consume, peer))
		rights |= ACCESS_CONSUME;
	if (access_rule_match(&rules->admin, peer))
		rights |= ACCESS_ADMIN;
	return rights;
}

bool access_allowed(const struct access_policy *pol,
                    const struct queue_rules *rules, uint32_t owner_uid,
                    const struct control_peer *peer, enum access_op op)
{
	unsigned rights;

	if (op == ACCESS_OP_CREATE)
		return privileged(pol, peer) || access_rule_match(&pol->create, peer);
	rights = access_queue_rights(pol, rules, owner_uid, peer);
	switch (op) {
	case ACCESS_OP_PRODUCE:
		return rights & ACCESS_PRODUCE;
	case ACCESS_OP_CONSUME:
		return rights & ACCESS_CONSUME;
	case ACCESS_OP_OBSERVE:
		return rights != 0;
	case ACCESS_OP_DELETE:
		return rights & ACCESS_ADMIN;
	case ACCESS_OP_CREATE:
		break;
	}
	return false;
}

void access_refusal(char *buf, size_t n, uint32_t uid, enum access_op op,
                    const char *queue)
{
	static const char *const what[] = {
		[ACCESS_OP_PRODUCE] = "produce to",
		[ACCESS_OP_CONSUME] = "consume from",
		[ACCESS_OP_OBSERVE] = "read the stats of",
		[ACCESS_OP_DELETE] = "delete",
		[ACCESS_OP_CREATE] = "create",
	};

	if (op == ACCESS_OP_CREATE && !queue)
		snprintf(buf, n, "uid %u may not create queues", uid);
	else if ((size_t)op < sizeof(what) / sizeof(what[0]))
		snprintf(buf, n, "uid %u may not %s queue '%s'", uid, what[op],
		         queue ? queue : "");
	else
		snprintf(buf, n, "uid %u: permission denied", uid);
}

bool access_rule_grants_others(const struct access_rule *r, uint32_t self)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct principal *p = &r->v[i];

		if (p->kind != PRINCIPAL_UID || (p->id != self && p->id != 0))
			return true;
	}
	return false;
}

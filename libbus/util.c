/*
 * util.c - the small pure functions of the public API: type ids, error
 * strings, name checks.
 */
#include <errno.h>
#include <string.h>

#include "bus/bus.h"

uint32_t bus_type_id(const char *full_name)
{
	uint32_t h = 2166136261u;

	if (!full_name)
		return 0;
	for (const unsigned char *s = (const unsigned char *)full_name; *s; s++) {
		h ^= *s;
		h *= 16777619u;
	}
	return h ? h : 1;
}

int bus_name_valid(const char *name)
{
	size_t n;

	if (!name)
		return 0;
	n = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                 "0123456789._-");
	/* "." and ".." are valid characters but would read as paths. */
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	return n >= 1 && n <= BUS_NAME_MAX && name[n] == '\0';
}

const char *bus_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case -EAGAIN:
		return "queue full or empty, and not allowed to wait";
	case -ETIMEDOUT:
		return "timed out";
	case -EMSGSIZE:
		return "message larger than the queue's maximum message size";
	case -EBUSY:
		return "queue already has a live consumer";
	case -EPROTO:
		return "incompatible protocol or segment layout version";
	case -EBADMSG:
		return "corrupt segment or record, or undecodable message";
	case -ENOBUFS:
		return "unpack arena too small for the message";
	case -EUSERS:
		return "every producer slot of the queue is taken";
	case -ENOENT:
		return "no such queue";
	case -EACCES:
		return "permission denied";
	case -EPIPE:
		return "queue deleted";
	case -EINVAL:
		return "invalid argument";
	case -ENOSPC:
		return "no space left for the segment";
	case -ENOMEM:
		return "out of memory";
	case -ECONNRESET:
		return "connection to busd lost";
	case -EDQUOT:
		return "too many connections to busd from this user";
	default:
		return err < 0 ? strerror(-err) : "not an error code";
	}
}

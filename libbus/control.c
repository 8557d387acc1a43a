/*
 * control.c - control packets on a SOCK_SEQPACKET socket (see control.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "frame.h"

int control_send(int sock, const ProtobufCMessage *m, int fd)
{
	return control_send_fds(sock, m, &fd, fd >= 0 ? 1 : 0);
}

int control_send_fds(int sock, const ProtobufCMessage *m, const int *fds,
                     size_t nfds)
{
	uint8_t buf[CONTROL_MAX_PACKET];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(CONTROL_MAX_FDS * sizeof(int))];
	} cm;
	struct iovec iov;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	size_t len = protobuf_c_message_get_packed_size(m);

	if (len > sizeof(buf) || nfds > CONTROL_MAX_FDS)
		return -EMSGSIZE;
	protobuf_c_message_pack(m, buf);
	iov = (struct iovec){.iov_base = buf, .iov_len = len};
	if (nfds > 0) {
		struct cmsghdr *c;

		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	for (;;) {
		ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);

		if (n >= 0)
			return (size_t)n == len ? 0 : -EMSGSIZE;
		if (errno != EINTR)
			return -errno;
	}
}

/*
 * Closes every descriptor in the control data but the first nkeep, which
 * go to keep[] in order (the rest of keep[] is left at -1).
 */
static void take_fds(struct msghdr *mh, int *keep, size_t nkeep)
{
	size_t kept = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (kept < nkeep)
				keep[kept++] = fd;
			else
				close(fd);
		}
	}
}

static void close_all(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

int control_recv(int sock, void *buf, size_t cap, size_t *len, int *fd)
{
	return control_recv_fds(sock, buf, cap, len, fd, fd ? 1 : 0);
}

int control_recv_fds(int sock, void *buf, size_t cap, size_t *len, int *fds,
                     size_t nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} cm;
	struct iovec iov = {.iov_base = buf, .iov_len = cap};
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cm.buf,
		.msg_controllen = sizeof(cm.buf),
	};
	int got[CONTROL_MAX_FDS];
	ssize_t n;

	if (nfds > CONTROL_MAX_FDS)
		nfds = CONTROL_MAX_FDS;
	for (size_t i = 0; i < CONTROL_MAX_FDS; i++)
		got[i] = -1;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	take_fds(&mh, got, nfds);
	if (n == 0 && !(mh.msg_flags & MSG_TRUNC)) {
		/* SEQPACKET: a zero-length read is the peer's orderly close. */
		close_all(got, nfds);
		return -ECONNRESET;
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		close_all(got, nfds);
		return (mh.msg_flags & MSG_TRUNC) ? -EMSGSIZE : -EBADMSG;
	}
	*len = (size_t)n;
	for (size_t i = 0; i < nfds; i++)
		fds[i] = got[i];
	return 0;
}

int control_decode_request(const void *buf, size_t len, void *arena,
                           size_t arena_size, BusControl__Request **ret)
{
	return frame_unpack(&bus_control__request__descriptor, buf, len, arena,
	                    arena_size, (ProtobufCMessage **)ret);
}

int control_decode_response(const void *buf, size_t len, void *arena,
                            size_t arena_size, BusControl__Response **ret)
{
	return frame_unpack(&bus_control__response__descriptor, buf, len, arena,
	                    arena_size, (ProtobufCMessage **)ret);
}

/* Reads a varint at *p, before end.  Returns false if it is malformed. */
static bool get_varint(const uint8_t **p, const uint8_t *end, uint64_t *ret)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		uint8_t b;

		if (*p == end)
			return false;
		b = *(*p)++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*ret = v;
			return true;
		}
	}
	return false;
}

/* Nesting is bounded by the .proto; this bounds a hostile packet's. */
#define STRINGS_MAX_DEPTH 8

int control_check_strings(const ProtobufCMessageDescriptor *desc,
                          const void *buf, size_t len,
                          const ProtobufCMessageDescriptor **msg,
                          const ProtobufCFieldDescriptor **field)
{
	/* The messages being walked, outermost first: an explicit stack. */
	struct {
		const ProtobufCMessageDescriptor *desc;
		const uint8_t *end;
	} stack[STRINGS_MAX_DEPTH + 1];
	const uint8_t *p = buf;
	int depth = 0;

	stack[0].desc = desc;
	stack[0].end = p + len;
	for (;;) {
		const ProtobufCMessageDescriptor *d = stack[depth].desc;
		const ProtobufCFieldDescriptor *f;
		uint64_t key, v;

		if (p == stack[depth].end) {
			if (depth == 0)
				return 0;
			depth--; /* that message is done: back to its parent */
			continue;
		}
		if (!get_varint(&p, stack[depth].end, &key))
			return -EBADMSG;
		switch (key & 7) {
		case 0: /* varint */
			if (!get_varint(&p, stack[depth].end, &v))
				return -EBADMSG;
			break;
		case 1: /* 64-bit */
			if (stack[depth].end - p < 8)
				return -EBADMSG;
			p += 8;
			break;
		case 5: /* 32-bit */
			if (stack[depth].end - p < 4)
				return -EBADMSG;
			p += 4;
			break;
		case 2: /* length-delimited: strings, bytes, messages, packed */
			if (!get_varint(&p, stack[depth].end, &v) ||
			    v > (uint64_t)(stack[depth].end - p))
				return -EBADMSG;
			f = key >> 3 <= UINT32_MAX
			            ? protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3))
			            : NULL;
			if (f && f->type == PROTOBUF_C_TYPE_STRING && memchr(p, 0, (size_t)v)) {
				if (msg)
					*msg = d;
				if (field)
					*field = f;
				return -EILSEQ;
			}
			if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
				if (depth == STRINGS_MAX_DEPTH)
					return -EBADMSG;
				depth++;
				stack[depth].desc = f->descriptor;
				stack[depth].end = p + v;
				continue; /* its fields next */
			}
			p += v;
			break;
		default: /* groups, which protobuf-c refuses too */
			return -EBADMSG;
		}
	}
}

int control_peer(int sock, struct control_peer *p)
{
	struct ucred uc;
	socklen_t n = sizeof(uc);
	gid_t groups[CONTROL_MAX_GROUPS];
	socklen_t gn = sizeof(groups);

	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &uc, &n) < 0)
		return -errno;
	*p = (struct control_peer){.pid = uc.pid, .uid = uc.uid, .gid = uc.gid};
	/*
	 * A peer in more groups than we keep (ERANGE) is judged by its
	 * primary group alone: fewer rights, never more.
	 */
	if (getsockopt(sock, SOL_SOCKET, SO_PEERGROUPS, groups, &gn) == 0) {
		p->ngroups = gn / sizeof(gid_t);
		memcpy(p->groups, groups, p->ngroups * sizeof(gid_t));
	}
	return 0;
}

int control_default_path(char *buf, size_t n)
{
	const char *env = getenv("BUS_SOCKET");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int w;

	if (env && *env)
		w = snprintf(buf, n, "%s", env);
	else if (xdg && *xdg == '/')
		w = snprintf(buf, n, "%s/bus/busd.sock", xdg);
	else
		w = snprintf(buf, n, "/tmp/bus-%u/busd.sock", (unsigned)getuid());
	if (w < 0 || (size_t)w >= n ||
	    (size_t)w >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

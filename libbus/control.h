/*
 * control.h - the control protocol's packets on a SOCK_SEQPACKET socket.
 *
 * One protobuf message (bus.control.Request or .Response, from
 * proto/control.proto) per packet, at most CONTROL_MAX_PACKET bytes, with
 * at most one file descriptor as SCM_RIGHTS.  Used by both ends: libbus's
 * client (bus_open and friends) and busd.
 *
 * Receiving is defensive: a packet larger than the buffer is reported as
 * -EMSGSIZE (never silently truncated), unexpected descriptors are closed,
 * received descriptors are close-on-exec, and decoding allocates only
 * from a fixed arena (frame.h).
 */
#ifndef BUS_CONTROL_H
#define BUS_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <protobuf-c/protobuf-c.h>

#include "control.pb-c.h"

#define CONTROL_VERSION    1u
#define CONTROL_MAX_PACKET 65536u
/*
 * Arena for decoding one packet: ample for any request or response of
 * the protocol; a packet stuffed with thousands of unknown fields may
 * exhaust it and is then refused as malformed (-ENOBUFS).
 */
#define CONTROL_ARENA      (8u * CONTROL_MAX_PACKET)

/*
 * Packs m and sends it as one packet with fd attached (fd < 0: none).
 * Never raises SIGPIPE.  Returns 0, -EMSGSIZE if m packs larger than
 * CONTROL_MAX_PACKET, -EAGAIN if the socket is non-blocking and full, or
 * another negative errno.
 */
int control_send(int sock, const ProtobufCMessage *m, int fd);

/* The most descriptors one packet carries: a segment and its wake FIFO. */
#define CONTROL_MAX_FDS 2

/* control_send() with nfds (at most CONTROL_MAX_FDS) descriptors. */
int control_send_fds(int sock, const ProtobufCMessage *m, const int *fds,
                     size_t nfds);

/*
 * Receives one packet into buf (cap bytes; CONTROL_MAX_PACKET is always
 * enough for a well-formed peer).  Sets *len, and *fd to a received
 * descriptor or -1 (fd may be NULL: any descriptor is then closed).
 * Returns 0, -ECONNRESET when the peer closed, -EMSGSIZE for an oversized
 * packet (consumed and dropped), -EAGAIN when non-blocking and empty, or
 * another negative errno.
 */
int control_recv(int sock, void *buf, size_t cap, size_t *len, int *fd);

/*
 * control_recv() keeping the first nfds descriptors received (at most
 * CONTROL_MAX_FDS) in fds[], in order, -1 for each one not sent; any
 * more are closed.
 */
int control_recv_fds(int sock, void *buf, size_t cap, size_t *len, int *fds,
                     size_t nfds);

/*
 * Decodes a request or response packet into arena (CONTROL_ARENA bytes
 * for any packet of the protocol).  Returns 0 and sets *ret, -EBADMSG or
 * -ENOBUFS.
 */
int control_decode_request(const void *buf, size_t len, void *arena,
                           size_t arena_size, BusControl__Request **ret);
int control_decode_response(const void *buf, size_t len, void *arena,
                            size_t arena_size, BusControl__Response **ret);

/*
 * Checks that no string field of a message of type desc, anywhere in the
 * packet (nested messages included), holds a NUL byte.  protobuf-c hands
 * a string field over as a C string, so "a\0b" on the wire would read as
 * "a": a packet that decodes must still pass this before its strings are
 * used.  The check walks the wire form, where every string has its
 * length, guided by desc.  Returns 0; -EILSEQ with the message type and
 * field in *msg and *field (when not NULL); or -EBADMSG when the packet
 * is not well-formed protobuf.
 */
int control_check_strings(const ProtobufCMessageDescriptor *desc,
                          const void *buf, size_t len,
                          const ProtobufCMessageDescriptor **msg,
                          const ProtobufCFieldDescriptor **field);

#define CONTROL_MAX_GROUPS 64

/*
 * Peer credentials of a connected Unix socket (SO_PEERCRED), with its
 * supplementary groups (SO_PEERGROUPS) when it has at most
 * CONTROL_MAX_GROUPS of them; otherwise ngroups is 0.
 */
struct control_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	uint32_t ngroups;
	gid_t groups[CONTROL_MAX_GROUPS];
};

/* Returns 0 and fills *p, or a negative errno. */
int control_peer(int sock, struct control_peer *p);

/*
 * The default socket path: $BUS_SOCKET, else $XDG_RUNTIME_DIR/bus/busd.sock,
 * else /tmp/bus-$UID/busd.sock.  Returns 0, or -ENAMETOOLONG if it does
 * not fit in n bytes or in a sockaddr_un.
 */
int control_default_path(char *buf, size_t n);

#endif

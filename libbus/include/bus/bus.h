/*
 * bus.h - the public interface of libbus, a shared-memory message bus.
 *
 * A queue is a shared-memory segment holding a bounded multi-producer,
 * single-consumer ring of records.  Producers in any number of processes
 * send messages into it; exactly one consumer receives them.  Once a
 * handle is attached, sending and receiving touch only shared memory: no
 * system call is made unless a side has to sleep or wake the other.
 *
 * Conventions:
 *  - Every call that returns int returns 0 (or a count) on success and a
 *    negative errno on failure; bus_strerror() turns it into words.
 *  - Output parameters are written only on success.
 *  - Destructors accept NULL.
 *  - timeout_ms: 0 never waits, a negative value waits forever, a
 *    positive value waits at most that many milliseconds (CLOCK_MONOTONIC).
 *  - Handles are not thread-safe: use one handle per thread, or lock.
 *
 * Errors used throughout:
 *  -EAGAIN     queue full (send) or empty (recv), and the call may not wait
 *  -ETIMEDOUT  the timeout passed before space or a message arrived
 *  -EMSGSIZE   message larger than the queue's maximum message size
 *  -EBUSY      the queue already has a live consumer; or a producer
 *              handle with a loan open (bus_send_reserve) was asked to send
 *  -EPROTO     incompatible segment layout version
 *  -EBADMSG    corrupt segment header or record, or undecodable protobuf
 *  -ENOBUFS    an unpack arena too small for the message
 *  -EUSERS     every producer slot of the queue is taken
 *  -ENOENT     no such queue
 *  -EEXIST     a queue of that name exists already
 *  -EACCES     busd refused: the caller's uid/gid lacks the right
 *  -EPIPE      the queue was deleted (a consumer first drains what is left)
 *  -ECONNREFUSED, -ENOENT from bus_open: no busd on that socket
 *  -ECONNRESET the connection to busd was lost
 *  -EDQUOT     busd refused the connection: too many from this uid
 *  -EINVAL     bad argument
 */
#ifndef BUS_BUS_H
#define BUS_BUS_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BUS_VERSION_MAJOR 0
#define BUS_VERSION_MINOR 1
#define BUS_VERSION_PATCH 0

/* Queue names: 1 to BUS_NAME_MAX characters of [A-Za-z0-9._-]. */
#define BUS_NAME_MAX 64

typedef struct bus bus; /* a connection to busd */
typedef struct bus_producer bus_producer;
typedef struct bus_consumer bus_consumer;
typedef struct bus_client bus_client; /* a caller of a service (request/reply) */

/* bus_msg.flags */
#define BUS_MSG_REDELIVERED 0x1u /* a consumer died holding this message */
#define BUS_MSG_REQUEST     0x2u /* a request: answer it with bus_reply() */
#define BUS_MSG_REPLY       0x4u /* a reply (bus_client_call, bus_client_recv) */

/*
 * A received message: a view into the ring.  data points into shared
 * memory and stays valid until bus_release() (or the consumer's close).
 * seq counts the messages of the producer slot over the queue's life,
 * from 0: one producer's messages carry consecutive numbers, and a
 * producer that takes a slot another has left goes on from there.
 */
typedef struct bus_msg {
	const void *data;
	size_t len;
	uint32_t type;       /* message type id, see bus_type_id() */
	uint32_t producer;   /* producer slot that sent it */
	uint64_t seq;        /* the slot's sequence number, see below */
	uint64_t enqueue_ns; /* CLOCK_MONOTONIC at commit (within 1 us) */
	uint32_t flags;      /* BUS_MSG_* */
	/*
	 * Requests and replies only (0 in a plain message): the caller's
	 * number for the call, and (requests) the caller's reply queue, as
	 * read once from the record.  bus_reply() uses these two and flags
	 * only, so a copy of the bus_msg may be answered after bus_release().
	 */
	uint64_t call_id;
	uint64_t reply_to;
} bus_msg;

/*
 * The type id of a protobuf message by its full name ("demo.Order"):
 * 32-bit FNV-1a over the name's bytes (offset basis 2166136261, prime
 * 16777619).  Never 0: a hash of 0 maps to 1, and 0 means "untyped".
 */
uint32_t bus_type_id(const char *full_name);

/* The message for a negative errno returned by libbus; never NULL. */
const char *bus_strerror(int err);

/* Returns 1 if name is a valid queue name, 0 otherwise. */
int bus_name_valid(const char *name);

/* --- connection to busd --- */

/*
 * Connects to busd at socket_path; NULL means the default path:
 * $BUS_SOCKET, else $XDG_RUNTIME_DIR/bus/busd.sock, else
 * /tmp/bus-$UID/busd.sock.  Checks that busd speaks this protocol
 * version.  Returns 0 and sets *ret, or a negative errno (-ENOENT or
 * -ECONNREFUSED: no busd there; -EPROTO: incompatible busd; -EDQUOT:
 * busd refused, too many connections from this uid).
 *
 * The connection may stay open and idle for as long as the program
 * likes: a request that finds it closed before busd read it (busd closes
 * idle connections when its table is full, and may be restarted) connects
 * again, once, and is sent again.  Any other loss is -ECONNRESET.
 */
int bus_open(const char *socket_path, bus **ret);

/* Closes the connection; handles opened through it stay usable. */
void bus_close(bus *b);

/*
 * Writes the default socket path into buf.  Returns 0, or -ENAMETOOLONG
 * if it does not fit in n bytes or in a Unix socket address.
 */
int bus_default_socket(char *buf, size_t n);

/* The last error message busd sent on this connection ("" if none). */
const char *bus_last_error(const bus *b);

/* Options of a new queue; zero fields take busd's defaults. */
typedef struct bus_queue_opts {
	uint64_t capacity;      /* ring bytes, a power of two */
	uint32_t max_message;   /* largest payload */
	uint32_t max_producers; /* producer slots */
} bus_queue_opts;

/* What busd says about a queue. */
typedef struct bus_queue_info {
	char name[BUS_NAME_MAX + 1];
	uint8_t uuid[16];
	uint64_t capacity;
	uint32_t max_message;
	uint32_t max_producers;
	uint64_t created_ns; /* CLOCK_REALTIME */
} bus_queue_info;

/*
 * Creates a queue (opts NULL: defaults).  Returns 0 and, if info is not
 * NULL, fills *info; or -EEXIST, -EACCES, -EINVAL, -ENOSPC, ...
 */
int bus_queue_create(bus *b, const char *name, const bus_queue_opts *opts,
                     bus_queue_info *info);

/*
 * Deletes a queue: its name is gone at once; attached producers get
 * -EPIPE, its consumer drains what is left, then gets -EPIPE.  Returns 0,
 * -ENOENT or -EACCES.
 */
int bus_queue_delete(bus *b, const char *name);

/*
 * Lists the queues: fills up to cap entries of out, sorted by name, and
 * returns how many queues there are (may exceed cap: call again with a
 * larger array), or a negative errno.
 */
int bus_queue_list(bus *b, bus_queue_info *out, size_t cap);

/* --- stats --- */

#define BUS_STATS_BUCKETS 64

/* A queue's counters, read from its segment (see docs for each field). */
typedef struct bus_stats {
	char name[BUS_NAME_MAX + 1];
	uint8_t uuid[16];
	uint64_t capacity; /* ring bytes */
	uint32_t max_message;
	uint32_t max_producers;
	uint64_t depth_bytes; /* bytes claimed and not yet released */
	uint64_t depth_msgs;  /* enqueued - dequeued */
	uint64_t enqueued;    /* messages committed by producers */
	uint64_t enqueued_bytes;
	uint64_t dequeued; /* messages received by consumers */
	uint64_t dequeued_bytes;
	uint32_t producers;                       /* producers attached now */
	uint32_t consumer_pid;                    /* pid of the live consumer, 0 if none */
	uint64_t full;                            /* sends that found the queue full */
	uint64_t blocked;                         /* sends that slept waiting for space */
	uint64_t consumer_wakeups;                /* futex wakes producers made for the consumer */
	uint64_t consumer_sleeps;                 /* times the consumer slept on an empty queue */
	uint64_t producer_wakeups;                /* futex wakes the consumer made for producers */
	uint64_t recovered;                       /* records recovered from dead producers */
	uint64_t redelivered;                     /* messages delivered again after a consumer died */
	uint64_t oldest_age_ns;                   /* age of the oldest message waiting (behind a
	                                     stalled claim too), 0 if none */
	uint64_t p50_ns, p99_ns, p999_ns;         /* enqueue-to-receive, from the histogram
	                                     (sampled: 1 in 16 single receives) */
	uint64_t latency_hist[BUS_STATS_BUCKETS]; /* [2^b, 2^(b+1)) ns */
	int deleted;                              /* the queue was deleted */
	int broken;                               /* a corrupt record stopped the queue */
	uint64_t corrupt;                         /* corrupt records reported and skipped */
	/*
	 * A stall: the record the consumer reads next was claimed by a
	 * producer that has not committed it (stopped, hung, or dead and not
	 * yet recovered), while the consumer waits at it or committed
	 * messages wait behind it.  Nothing behind it is delivered until it
	 * is committed or recovered.  A send merely in progress with nobody
	 * waiting on it is not a stall.
	 */
	uint64_t stalled_ns;   /* stalled for at least this long; 0: not stalled */
	uint32_t stalled_slot; /* producer slot whose claim it is, BUS_STATS_NO_SLOT
	                          if not stalled or no slot claims it */
	uint32_t stalled_pid;  /* pid that slot's producer wrote into it when it
	                          attached (self-reported), 0 if none */
	int stalled_alive;     /* 1 if that producer lives (its kernel lock is held);
	                          0 if it died and its claim awaits recovery */
	uint64_t aborted;      /* loans given up (bus_send_abort), skipped */
	/* Request and reply, for a queue that serves calls: */
	uint64_t requests;     /* requests its consumer received */
	uint64_t replies;      /* replies its consumer sent (bus_reply) */
	uint64_t late_replies; /* replies its callers dropped: the call had
	                          timed out or was cancelled */
	uint64_t dead_replies; /* replies refused with -EPIPE: the caller had
	                          closed or died */
} bus_stats;

/* bus_stats.stalled_slot when no producer slot is named. */
#define BUS_STATS_NO_SLOT UINT32_MAX

/*
 * Reads a queue's stats through busd (which hands out a read-only
 * mapping).  Returns 0 and fills *ret, or -ENOENT, -EACCES, ...
 */
int bus_queue_stats(bus *b, const char *name, bus_stats *ret);

/*
 * Reads stats from a segment open on seg_fd (read-only is enough), e.g.
 * /dev/shm/NAME opened by an operator while busd is down.  Does not take
 * ownership of seg_fd.  Returns 0 and fills *ret, or -EBADMSG, -EPROTO.
 */
int bus_stats_read_fd(int seg_fd, bus_stats *ret);

/* --- producers --- */

/*
 * Attaches a producer to queue through busd.  Returns 0 and sets *ret, or
 * -ENOENT, -EACCES, -EUSERS, -EPROTO, ...
 */
int bus_producer_open(bus *b, const char *queue, bus_producer **ret);

/*
 * Attaches a producer to the queue segment open on seg_fd.  The handle
 * takes ownership of seg_fd on success (it is closed by
 * bus_producer_close()); on failure the caller still owns it.  seg_fd
 * must be an open file description of its own (from shm_open() or one
 * received from busd), not one shared with another handle or inherited
 * through fork(): the kernel lock that marks this producer alive lives on
 * it.  Returns 0 and sets *ret, or a negative errno (-EBADMSG, -EPROTO
 * for a segment that fails validation, -EUSERS when every slot is taken).
 */
int bus_producer_open_fd(int seg_fd, bus_producer **ret);

/* Detaches and frees the producer. */
void bus_producer_close(bus_producer *p);

/*
 * Copies len bytes into one new record of the given type.  Returns 0, or
 * -EMSGSIZE, -EAGAIN (full and timeout_ms == 0), -ETIMEDOUT, -EPIPE
 * (queue deleted), -EBUSY (a loan is open, see bus_send_reserve).
 */
int bus_send(bus_producer *p, uint32_t type, const void *data, size_t len,
             int timeout_ms);

/*
 * Packs m straight into a new record: no intermediate buffer, no
 * allocation.  Returns as bus_send().
 */
int bus_send_pb(bus_producer *p, uint32_t type, const ProtobufCMessage *m,
                int timeout_ms);

/*
 * The loan API: write a message in place, in the ring, with no copy.
 *
 * bus_send_reserve() claims a record for up to max_len payload bytes,
 * waiting for room as bus_send() does, and sets *buf to its payload (8-byte
 * aligned, max_len bytes, write-only in spirit: nothing is delivered until
 * the commit).  Returns 0, or -EMSGSIZE, -EAGAIN, -ETIMEDOUT, -EPIPE as
 * bus_send(), -EBUSY if a loan is open already, -EINVAL.
 *
 * bus_send_commit() delivers the first len bytes of the loan (len <=
 * max_len) as one message of the given type; the consumer sees exactly
 * len bytes, and the rest of the claim is skipped.  Returns 0, or -EINVAL
 * when no loan is open or len > max_len (the loan then stays open).
 *
 * bus_send_abort() gives the loan up: nothing is delivered, and the
 * queue's aborted counter counts it.  No loan open: does nothing.
 *
 * One loan at a time per handle: while it is open every send on the
 * handle (bus_send, bus_send_pb, bus_send_reserve) returns -EBUSY.
 * bus_producer_close() aborts an open loan.  A producer that dies holding
 * one is recovered as one that died inside bus_send(): the consumer skips
 * the claim and counts it recovered.
 */
int bus_send_reserve(bus_producer *p, size_t max_len, int timeout_ms, void **buf);
int bus_send_commit(bus_producer *p, uint32_t type, size_t len);
void bus_send_abort(bus_producer *p);

/*
 * How long a producer blocked on a full queue spins before it sleeps, in
 * nanoseconds (0: sleep at once).  Returns 0.
 */
int bus_producer_set_spin(bus_producer *p, uint32_t spin_ns);

/*
 * A descriptor for an event loop, owned by the handle (valid until
 * bus_producer_close(); do not close it, read it or change its flags):
 * from the first call on, every send with timeout 0 that returns -EAGAIN
 * (a full queue) arms it, and it becomes readable (POLLIN) once the
 * consumer releases room, or the queue is deleted or breaks.  Then send
 * again.  A spurious readable is possible, a missed one is not; producers
 * of a queue share the descriptor's other end, so one may see another's
 * wake.  Returns the descriptor, -EOPNOTSUPP for a handle opened with
 * bus_producer_open_fd(), or -EINVAL.
 */
int bus_producer_fd(bus_producer *p);

/* The largest payload the producer's queue accepts, in bytes. */
size_t bus_producer_max_message(const bus_producer *p);

/* The producer's slot in its queue (the bus_msg.producer of its messages). */
uint32_t bus_producer_slot(const bus_producer *p);

/* --- consumers --- */

/*
 * Attaches the consumer of queue through busd.  Returns 0 and sets *ret,
 * or -EBUSY if the queue has a live consumer, -ENOENT, -EACCES, ...
 */
int bus_consumer_open(bus *b, const char *queue, bus_consumer **ret);

/*
 * Attaches the consumer of the queue segment open on seg_fd; ownership
 * and requirements of seg_fd as for bus_producer_open_fd().  Returns 0
 * and sets *ret, -EBUSY if the queue has a live consumer, or as
 * bus_producer_open_fd().
 */
int bus_consumer_open_fd(int seg_fd, bus_consumer **ret);

/*
 * Detaches and frees the consumer.  Messages received but not released
 * are not given up: the next consumer receives them again, flagged
 * BUS_MSG_REDELIVERED.  Call bus_release() first for those you are done
 * with.
 */
void bus_consumer_close(bus_consumer *c);

/*
 * Receives the next message into *ret.  The view stays valid until
 * bus_release(); several messages may be received before one release
 * (a batch).  Messages received and not released keep their space, so
 * a consumer that holds too much blocks its producers.  Returns 0, or
 * -EAGAIN (empty and timeout_ms == 0), -ETIMEDOUT, -EPIPE (deleted and
 * drained), or -EBADMSG for a corrupt record: once, and the next call goes
 * on past it, when its length still frames it; otherwise the queue is
 * marked broken and every call (and every send) returns -EBADMSG.
 */
int bus_recv(bus_consumer *c, bus_msg *ret, int timeout_ms);

/*
 * Receives up to n messages into msgs[0..n-1], waiting as bus_recv() for
 * the first one only.  Returns the count (>= 1) or a negative errno as
 * bus_recv().
 */
int bus_recv_batch(bus_consumer *c, bus_msg *msgs, size_t n, int timeout_ms);

/*
 * Gives back every message received since the last release: their views
 * become invalid and their space is returned to the producers.
 */
void bus_release(bus_consumer *c);

/*
 * How long a consumer spins on an empty queue before it sleeps, in
 * nanoseconds (0: sleep at once).  Returns 0.
 */
int bus_consumer_set_spin(bus_consumer *c, uint32_t spin_ns);

/*
 * A descriptor for an event loop (poll, epoll, select, libuv, tokio,
 * asyncio), owned by the handle: valid until bus_consumer_close(); do not
 * close it, read it or change its flags.  From the first call on, every
 * bus_recv(c, &m, 0) or bus_recv_batch(c, .., 0) that returns -EAGAIN
 * arms it: it becomes readable (POLLIN) as soon as a message is
 * committed, the queue is deleted or it breaks.  A spurious readable is
 * possible, a missed one is not.  When it fires, call bus_recv(c, &m, 0)
 * until -EAGAIN (which re-arms and empties it): level- and edge-triggered
 * loops alike.  No system call is made per message while messages flow.
 * Returns the descriptor, -EOPNOTSUPP for a handle opened with
 * bus_consumer_open_fd() (only busd hands out the descriptor's other
 * end), or -EINVAL.
 */
int bus_consumer_fd(bus_consumer *c);

/* --- request and reply --- */

/*
 * A service is the ordinary consumer of its queue: requests arrive among
 * its messages flagged BUS_MSG_REQUEST, and each is answered with
 * bus_reply().  A caller opens a bus_client on the service's queue: a
 * producer of it, and a reply queue of its own that busd creates for it,
 * that only it reads, that any process allowed to consume the service's
 * queue may write, and that busd deletes when the client closes or its
 * process dies.  Calls are numbered per client (call_id, from 1); a reply
 * answers exactly its call: one that comes after its call timed out or
 * was cancelled is dropped and counted (bus_stats.late_replies), never
 * returned.  Request and reply payloads carry a 16-byte call header in
 * the record, so a request may be at most the queue's max_message - 16
 * bytes (bus_client_max_request()), and so may a reply.
 */

/*
 * Opens a caller of the service whose queue is service_queue: attaches a
 * producer to it (the produce right) and asks busd for a reply queue.
 * The client keeps no reference to b.  Returns 0 and sets *ret, or
 * -ENOENT, -EACCES, -EUSERS, -EOPNOTSUPP (busd without request/reply), ...
 */
int bus_client_open(bus *b, const char *service_queue, bus_client **ret);

/*
 * Closes the client: gives up its calls in flight and has busd delete
 * its reply queue (which busd does by itself when the process dies).
 */
void bus_client_close(bus_client *cl);

/*
 * Sends one request of the given type and waits for its answer, at most
 * timeout_ms for both.  *reply is a view into the reply queue, valid
 * until bus_client_release() or the next call.  Returns 0, or as
 * bus_send() (-EMSGSIZE, -EAGAIN, -EPIPE: the service's queue was
 * deleted), -ETIMEDOUT (no answer in time: the call is given up, and a
 * late answer will be dropped), -EBUSY while calls sent with
 * bus_client_send() are in flight.
 */
int bus_client_call(bus_client *cl, uint32_t type, const void *req, size_t len,
                    bus_msg *reply, int timeout_ms);

/*
 * For many calls in flight: bus_client_send() sends one request, waiting
 * for room in the service's queue as bus_send() does, and sets *call_id
 * (may be NULL) to its number.  bus_client_recv() receives the next
 * answer to a call in flight (in the order the service answers) and sets
 * *call_id (may be NULL) to the call it answers; the reply is a view
 * valid until bus_client_release(), and several may be held.  Returns as
 * bus_recv(); -EAGAIN also arms bus_client_fd().
 */
int bus_client_send(bus_client *cl, uint32_t type, const void *req, size_t len,
                    uint64_t *call_id);
int bus_client_recv(bus_client *cl, bus_msg *reply, uint64_t *call_id,
                    int timeout_ms);

/*
 * Gives up a call in flight: its answer, should it come, is dropped and
 * counted late.  Returns 0, or -ENOENT if no such call is in flight.
 */
int bus_client_cancel(bus_client *cl, uint64_t call_id);

/* Releases every reply received; their views become invalid. */
void bus_client_release(bus_client *cl);

/*
 * The event loop's descriptor of the client's reply queue, with the
 * contract of bus_consumer_fd(): a bus_client_recv(cl, .., 0) that
 * returns -EAGAIN arms it; it becomes readable when an answer comes.
 */
int bus_client_fd(bus_client *cl);

/*
 * How long the client spins before it sleeps, waiting for an answer or
 * for room in the service's queue, in nanoseconds (0: sleep at once; the
 * default is a handle's).  Returns 0, or -EINVAL.
 */
int bus_client_set_spin(bus_client *cl, uint32_t spin_ns);

/* The largest request (and reply) payload, in bytes. */
size_t bus_client_max_request(const bus_client *cl);

/* Calls in flight: sent and neither answered nor given up. */
size_t bus_client_in_flight(const bus_client *cl);

/*
 * Answers request (a message received from c flagged BUS_MSG_REQUEST, or
 * a copy of one) with one reply of the given type, into its caller's
 * reply queue.  The first reply to a caller asks busd for its reply queue
 * (the consume right on c's queue); later ones go straight into shared
 * memory.  Waits for room at most timeout_ms.  Returns 0, -EPIPE when the
 * caller closed or died (the service goes on; counted in
 * bus_stats.dead_replies), -EINVAL for a message that is no request,
 * -EMSGSIZE, -EAGAIN, -ETIMEDOUT (the caller's reply queue stayed full),
 * -EOPNOTSUPP for a consumer opened with bus_consumer_open_fd() (replies
 * need busd), or an error of busd.
 */
int bus_reply(bus_consumer *c, const bus_msg *request, uint32_t type,
              const void *data, size_t len, int timeout_ms);

/*
 * Unpacks msg with the protobuf descriptor desc, using only
 * arena[0..arena_size-1] (no malloc): the payload is first copied into
 * the arena, so the decoder reads memory no producer can change while it
 * is decoded, and the message is built in the rest.  An arena of the
 * payload's length plus the decoded message's size suffices.  The result
 * lives in the arena and does not point into the ring, so it stays valid
 * after bus_release().  Returns 0 and sets *ret, -ENOBUFS if the arena is
 * too small, -EBADMSG if the payload does not decode.
 */
int bus_msg_unpack(const bus_msg *msg, const ProtobufCMessageDescriptor *desc,
                   void *arena, size_t arena_size, ProtobufCMessage **ret);

#ifdef __cplusplus
}
#endif

#endif

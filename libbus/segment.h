/*
 * segment.h - the queue segment: layout, creation, mapping, validation.
 *
 * A queue is one shared-memory object laid out as
 *
 *   [seg_header][seg_slot x max_producers][ring of capacity bytes]
 *
 * (docs/segment-format.md has the byte-level table).  The header's identity
 * part is written once at creation, before the layout version, which is
 * release-stored last; an attacher acquire-loads the version first, then
 * checks every size and offset against the layout it would have computed
 * itself before it trusts anything else.  Once validated, the sizes are
 * copied into the process-local struct seg and never read from shared
 * memory again, so a peer that scribbles on the header later cannot make
 * this process index out of bounds.
 *
 * Fields written by different parties sit on separate 128-byte lines.
 * Positions (head, tail) are free-running 64-bit byte counts.
 *
 * Liveness: each attached producer holds an open-file-description lock
 * (F_OFD_SETLK) on the byte SEG_LOCK_SLOT(i) of the segment file, and the
 * consumer on SEG_LOCK_CONSUMER; the kernel drops the lock when the holder
 * dies.  Those bytes are lock ranges only; nothing is stored there.
 *
 * This module does not name segments, talk to busd or log.
 */
#ifndef BUS_SEGMENT_H
#define BUS_SEGMENT_H

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/bus.h"

struct wait_ops; /* wait.h */

#define SEG_MAGIC   UINT64_C(0x0a31515553554221) /* "!BUSQ1\n\0" little-endian */
/*
 * 2: records of calls (REC_REQUEST, REC_REPLY, ring.h) and their counters.
 * A consumer of version 1 would take a call's record for a corrupt one, so
 * each version refuses the other's segments.
 */
#define SEG_VERSION 2u
#define SEG_LINE    128

#define SEG_MIN_CAPACITY      (UINT64_C(1) << 8)
#define SEG_MAX_CAPACITY      (UINT64_C(1) << 30)
#define SEG_MAX_PRODUCERS     1024u
#define SEG_DEFAULT_CAPACITY  (UINT64_C(1) << 20)
#define SEG_DEFAULT_PRODUCERS 64u
#define SEG_RING_ALIGN        4096u

/* Lock bytes of the segment file (see liveness above). */
#define SEG_LOCK_CONSUMER 0u
#define SEG_LOCK_SLOT(i)  (1u + (uint64_t)(i))

/* seg_header.state: flags, 0 while the queue is live and sound */
#define SEG_STATE_LIVE    0u
#define SEG_STATE_DELETED 1u /* busd deleted the queue */
#define SEG_STATE_BROKEN  2u /* the consumer met a record it cannot step over */

/* The error a state gives senders (and the consumer once drained). */
static inline int seg_state_error(uint32_t state)
{
	return state & SEG_STATE_BROKEN ? -EBADMSG : -EPIPE;
}

/* Latency histogram: bucket b counts delays in [2^b, 2^(b+1)) ns. */
#define SEG_HIST_BUCKETS 64

/* One producer slot; written only by the producer that holds its lock. */
struct seg_slot {
	alignas(SEG_LINE) _Atomic uint32_t pid; /* last owner, for reports */
	_Atomic uint32_t gen;                   /* bumped at each attach */
	_Atomic uint64_t next_seq;              /* seq of its next message, and
	                                           so the messages committed */
	/*
	 * The name of the producer's wake socket, once it asked for
	 * bus_producer_fd() (pollwake.h); 0: none.  Was an unused zero word.
	 */
	_Atomic uint64_t wake_name;
	_Atomic uint64_t bytes;   /* payload bytes committed */
	_Atomic uint64_t full;    /* sends that found it full */
	_Atomic uint64_t blocked; /* sends that slept for space */
	_Atomic uint64_t wakes;   /* futex wakes of the consumer */
	/*
	 * The claim in progress: [claim_pos, claim_pos + claim_need), set
	 * before the CAS on the tail and cleared (need 0) after the commit,
	 * so that a record its producer died on can be found and skipped.
	 */
	_Atomic uint64_t claim_pos;
	_Atomic uint64_t claim_need;
	/*
	 * Loans given up (bus_send_abort).  In the slot's spare room: a
	 * segment made before it has zero there.
	 */
	_Atomic uint64_t aborted;
	/*
	 * 1 while the producer waits on its wake socket for room: set before
	 * it announces on full_wait, taken (set to 0) by the signaller that
	 * sends it the wake.  In the slot's spare room, as aborted.
	 */
	_Atomic uint32_t wake_armed;
	/*
	 * Replies the caller owning this slot dropped: answers to calls it
	 * had given up (timed out or cancelled), bus_client_*.  Layout 2.
	 */
	_Atomic uint64_t late;
};

/* Written only by the consumer. */
struct seg_cons_stats {
	_Atomic uint64_t msgs;                   /* messages received */
	_Atomic uint64_t bytes;                  /* payload bytes received */
	_Atomic uint64_t sleeps;                 /* futex waits on an empty queue */
	_Atomic uint64_t wakes;                  /* futex wakes of full-queue producers */
	_Atomic uint64_t redelivered;            /* messages read again after a consumer died */
	_Atomic uint64_t read_pos;               /* the consumer's cursor: read up to here */
	_Atomic uint64_t corrupt;                /* corrupt records reported and skipped */
	_Atomic uint64_t hist[SEG_HIST_BUCKETS]; /* enqueue-to-receive ns */
	/*
	 * For stats only: where the consumer found the record it reads next
	 * claimed and not committed (a producer stopped or slow inside a
	 * send), and when (CLOCK_MONOTONIC).  Written in the slow path of a
	 * receive, never cleared: a reader believes them only while that
	 * record is still uncommitted.  Zero in a segment no consumer of
	 * this version has used.
	 */
	_Atomic uint64_t stall_pos;
	_Atomic uint64_t stall_ns;
	/*
	 * Where redelivery ends, plus one (0: never set; an even value is a
	 * scribble): records before it were read by a consumer that died
	 * holding them.  Kept apart from read_pos, which a successor moves on
	 * as it reads, so that a successor that dies in turn does not take
	 * its predecessor's unreleased messages out of redelivery.  Written
	 * by each consumer once, when it takes the lease (ring_cons_init).
	 */
	_Atomic uint64_t redeliver_end;
	/* Layout 2: calls answered from this queue (bus_reply). */
	_Atomic uint64_t requests;     /* requests received */
	_Atomic uint64_t replies;      /* replies sent */
	_Atomic uint64_t replies_dead; /* replies refused: the caller was gone */
};

struct seg_header {
	/* Identity: written once before `version`, read-only afterwards. */
	uint64_t magic;
	_Atomic uint32_t version; /* written last, checked first */
	uint32_t header_size;     /* sizeof(struct seg_header) */
	uint64_t total_size;      /* bytes of the whole object */
	uint64_t capacity;        /* ring bytes, a power of two */
	uint32_t max_message;     /* largest payload, bytes */
	uint32_t max_producers;   /* producer slots */
	uint64_t slots_offset;
	uint64_t ring_offset;
	uint64_t created_ns; /* CLOCK_REALTIME at creation */
	uint8_t uuid[16];
	char name[BUS_NAME_MAX + 1];

	/* Read-mostly: SEG_STATE_* flags. */
	alignas(SEG_LINE) _Atomic uint32_t state;
	_Atomic uint64_t recovered; /* records recovered from dead producers */

	/* Producers: next free byte. */
	alignas(SEG_LINE) _Atomic uint64_t tail;

	/* Consumer: first byte not yet released. */
	alignas(SEG_LINE) _Atomic uint64_t head;

	/* Wait word of the consumer sleeping on an empty queue (wait.h). */
	alignas(SEG_LINE) _Atomic uint32_t cons_wait;

	/* Wait word of producers sleeping on a full queue (wait.h). */
	alignas(SEG_LINE) _Atomic uint32_t full_wait;

	/* Consumer lease: who holds the consumer lock, for reports. */
	alignas(SEG_LINE) _Atomic uint32_t cons_pid;
	_Atomic uint32_t cons_gen;

	alignas(SEG_LINE) struct seg_cons_stats cons;
};

/* What to create. */
struct seg_params {
	const char *name;       /* queue name, bus_name_valid() */
	uint64_t capacity;      /* power of two, SEG_MIN..SEG_MAX_CAPACITY */
	uint32_t max_message;   /* 0: the largest the capacity allows */
	uint32_t max_producers; /* 0: SEG_DEFAULT_PRODUCERS */
	uint64_t initial_pos;   /* head = tail at creation, 8-aligned (tests) */
	uint8_t uuid[16];       /* all zero: generate one */
};

/*
 * A process-local view of a validated, mapped segment.  Everything but
 * the pointers is the private copy that was validated: each header field
 * was read once, and the shared header is never read for it again.
 */
struct seg {
	struct seg_header *hdr;
	struct seg_slot *slots;
	uint8_t *ring;
	uint64_t capacity;
	uint32_t max_message;
	uint32_t max_producers;
	uint64_t created_ns;
	uint8_t uuid[16];
	char name[BUS_NAME_MAX + 1];
	size_t size;
	int fd; /* -1 for a segment in caller-owned memory */
	/*
	 * The queue's wake FIFO (docs/wait-protocol.md, "Descriptors"), read
	 * and write, non-blocking; -1 where there is none (a segment not
	 * attached through busd).  Closed by seg_close().
	 */
	int wake_fd;
	/*
	 * A datagram socket for the space wake (docs/wait-protocol.md,
	 * "Descriptors"): a producer's own, bound, once it asked for
	 * bus_producer_fd(); the consumer's or busd's, unbound, to send from
	 * once it had to.  -1 until then.  Closed by seg_close().
	 */
	int sock_fd;
	bool mapped; /* unmap on seg_close */
};

/* Largest payload a ring of `capacity` bytes can carry. */
uint32_t seg_max_message_for(uint64_t capacity);

/* Which parameter seg_params_check() refused, SEG_PARAM_OK for none. */
enum seg_param_error {
	SEG_PARAM_OK = 0,
	SEG_PARAM_NAME,        /* not bus_name_valid() */
	SEG_PARAM_CAPACITY,    /* not a power of two in [min, max]_capacity */
	SEG_PARAM_MAX_MESSAGE, /* more than max_message allows */
	SEG_PARAM_PRODUCERS,   /* more than max_producers slots */
	SEG_PARAM_INITIAL_POS, /* not 8-byte aligned */
};

/*
 * Why seg_params_check() refused, with the limits involved so that a
 * caller can word the refusal itself.  The limits are filled whatever the
 * result; max_message is 0 until the capacity passed.
 */
struct seg_param_why {
	enum seg_param_error error;
	const char *text;       /* static description; "" for SEG_PARAM_OK */
	uint64_t min_capacity;  /* SEG_MIN_CAPACITY */
	uint64_t max_capacity;  /* the max_capacity checked against */
	uint32_t max_message;   /* seg_max_message_for() the capacity */
	uint32_t max_producers; /* SEG_MAX_PRODUCERS */
};

/*
 * The one check of segment parameters: the name, the capacity (a power of
 * two from SEG_MIN_CAPACITY to max_capacity, itself at most
 * SEG_MAX_CAPACITY: a caller's own lower limit), the max message against
 * the capacity, the producer slots, the initial position.  Returns the
 * first parameter refused, in that order, and fills *why.
 */
enum seg_param_error seg_params_check(const struct seg_params *p,
                                      uint64_t max_capacity,
                                      struct seg_param_why *why);

/*
 * Checks params (seg_params_check() up to SEG_MAX_CAPACITY) and returns
 * the object size they need in *size.  Returns 0, or -EINVAL with *why
 * set to a static description.
 */
int seg_size(const struct seg_params *p, size_t *size, const char **why);

/*
 * Lays out a segment in size zeroed bytes at mem (size from seg_size()),
 * publishing the version last.  Returns 0 or -EINVAL (with *why).
 */
int seg_format(void *mem, size_t size, const struct seg_params *p,
               const char **why);

/*
 * Validates the segment in size bytes at mem.  Returns 0, -EPROTO for
 * another layout version, -EBADMSG for anything else wrong; *why then
 * names the field.  Touches nothing.  Every header field is read once
 * into private memory and only the copy is checked, so a peer that
 * rewrites the header meanwhile gets the segment refused or accepted as
 * it was at one moment, never a mix the checks did not see.
 */
int seg_validate(const void *mem, size_t size, const char **why);

/*
 * Validates mem and fills *s for a segment in caller-owned memory, from
 * the same private copy the checks passed (struct seg above).
 */
int seg_view(void *mem, size_t size, struct seg *s, const char **why);

/*
 * Creates the POSIX shared-memory object shm_name ("/NAME", mode 0600),
 * reserves its memory (a full /dev/shm fails here with -ENOSPC, never as
 * SIGBUS later), formats and maps it.  The object is made under its
 * temporary name (seg_shm_temp_name()) and given shm_name only once it is
 * complete, its version published, atomically and never replacing an
 * object that has the name already (-EEXIST): shm_name never exists
 * half-made, even if the process is killed meanwhile; what such a kill
 * leaves is the temporary, which busd removes at its next start.  Returns
 * 0 and fills *s, or a negative errno; nothing is left behind on failure.
 */
int seg_create_shm(const char *shm_name, const struct seg_params *p,
                   struct seg *s, const char **why);

/* The temporary name of shm_name while it is made: shm_name + ".new". */
#define SEG_SHM_TEMP_SUFFIX ".new"
int seg_shm_temp_name(char *buf, size_t n, const char *shm_name);

/*
 * Maps and validates the segment open on fd; *s owns fd on success.
 * Returns 0 or a negative errno (with *why).
 */
int seg_map_fd(int fd, struct seg *s, const char **why);

/*
 * The constructors of handles on a descriptor (bus_producer_open_fd(),
 * bus_consumer_open_fd(), and bus_*_open() on what busd sends): maps the
 * segment open on fd, gives it the wake FIFO wake_fd (-1: none), and hands
 * it to attach(s, ret) (producer_attach_seg(), consumer_attach_seg()),
 * which takes it over on success: the handle then owns fd and wake_fd.
 * On failure both stay the caller's.  Returns 0, -EINVAL (fd < 0, ret
 * NULL), or the negative errno of the mapping or of attach.
 */
int seg_attach_fd(int fd, int wake_fd, int (*attach)(struct seg *s, void *ret),
                  void *ret);

/* Opens shm_name (a new open file description) and maps it. */
int seg_open_shm(const char *shm_name, struct seg *s, const char **why);

/*
 * Maps the segment open on fd read-only (for stats) and validates it;
 * *s owns fd on success.  Such a seg must never be attached to.
 */
int seg_map_fd_ro(int fd, struct seg *s, const char **why);

/*
 * Names of busd's segments:
 *   "/bus.<instance>.<queue>.<uuid as 32 hex>.u<owner uid>"
 * instance being 8 hex digits that tell apart daemons on one machine
 * (seg_instance() of the socket path), and the owner the uid that created
 * the queue at run time (0 for queues of the config).  The owner is kept
 * in the name, not in the segment, because every attached client can
 * write the segment but none can rename busd's files in /dev/shm.
 * SEG_SHM_NAME_MAX bytes suffice.
 */
#define SEG_SHM_NAME_MAX 128
uint32_t seg_instance(const char *socket_path);
void seg_shm_name(char *buf, uint32_t instance, const char *queue,
                  const uint8_t uuid[16], uint32_t owner);
/*
 * Parses a name as seg_shm_name() makes it (with or without the leading
 * '/').  Returns 0 and fills queue (BUS_NAME_MAX + 1 bytes), uuid and
 * *owner, or -EINVAL if it is not one of instance's segment names.
 */
int seg_shm_parse_owner(const char *name, uint32_t instance, char *queue,
                        uint8_t uuid[16], uint32_t *owner);
/* The same, for callers that do not need the owner. */
int seg_shm_parse(const char *name, uint32_t instance, char *queue,
                  uint8_t uuid[16]);
/*
 * 0 if name (with or without the leading '/') is the temporary name of
 * one of instance's segment names (seg_create_shm() died before it was
 * complete), -EINVAL otherwise.  No segment name is also a temporary one.
 */
int seg_shm_parse_temp(const char *name, uint32_t instance);

/*
 * Marks the queue deleted: producers get -EPIPE from then on, the consumer
 * once it has drained what is left.  Wakes every sleeper so they notice,
 * through ops (wait.h; busd: wait_futex_ops, a handle: its own).
 */
void seg_set_deleted(struct seg *s, const struct wait_ops *ops);

/*
 * Marks the queue broken (a corrupt record the consumer cannot step
 * over): senders get -EBADMSG from then on.  Wakes every sleeper.
 */
void seg_set_broken(struct seg *s, const struct wait_ops *ops);

/*
 * Wakes the consumer if it sleeps, whatever it announced: after a
 * producer's death, so it looks for a claim to recover at once
 * (wait_bump()).
 */
void seg_wake_consumer(struct seg *s, const struct wait_ops *ops);

/* Unmaps and closes; accepts a seg already closed (fd -1, nothing mapped). */
void seg_close(struct seg *s);

/*
 * Takes the kernel lock on byte `which` of the segment file without
 * waiting.  Returns 0, -EBUSY if another open file description holds it,
 * or a negative errno.  A segment without fd always succeeds.
 */
int seg_lock(struct seg *s, uint64_t which);
void seg_unlock(struct seg *s, uint64_t which);

/*
 * Claims the role (a producer slot, the consumer lease) whose liveness
 * lock is byte `which` and whose report field is *pid.  With a file the
 * kernel lock decides, so a dead holder's role is free again; in
 * caller-owned memory a CAS of *pid from 0 does.  Returns 0, -EBUSY if
 * the role is held, or a negative errno.
 */
int seg_claim(struct seg *s, uint64_t which, _Atomic uint32_t *pid);
void seg_unclaim(struct seg *s, uint64_t which, _Atomic uint32_t *pid);

/*
 * 1 if the role claimed with seg_claim(s, which, pid) is held by someone
 * else alive: the kernel lock is held by another open file description
 * (with a file), or *pid is not 0 (in caller-owned memory).
 */
int seg_held(struct seg *s, uint64_t which, _Atomic uint32_t *pid);

#endif

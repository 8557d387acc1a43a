/*
 * registry.c - queues by name, their segments, adoption after a restart
 * (see registry.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uuid/uuid.h>

#include "atom.h"
#include "guard.h"
#include "log.h"
#include "registry.h"
#include "reply_queue.h"
#include "wait.h"

#define SHM_DIR "/dev/shm"
/*
 * A queue's FIFOs are its segment's name with these after it: the wake
 * FIFO, on which the consumer waits for messages.  (Producers wait for
 * room on sockets of their own: see docs/wait-protocol.md.)
 */
static const char *const fifo_suffix[REGISTRY_FIFOS] = {".wake"};
#define FIFO_PATH_MAX (sizeof(SHM_DIR) + SEG_SHM_NAME_MAX + 8)

/* --- wake and space FIFOs (docs/wait-protocol.md, "Descriptors") --- */

static void fifo_path(char *buf, size_t n, const char *shm_name, int which)
{
	snprintf(buf, n, SHM_DIR "%s%s", shm_name, fifo_suffix[which]);
}

static int *fifo_fd(struct queue *q, int which)
{
	(void)which; /* REGISTRY_FIFO_WAKE, the only one */
	return &q->seg.wake_fd;
}

static int fifo_fd_of(const struct queue *q, int which)
{
	(void)which;
	return q->seg.wake_fd;
}

/*
 * Opens path read-write and non-blocking if it is busd's own FIFO (a
 * FIFO, busd's uid, mode 0600): anything else under that name is not
 * busd's to use.  Returns the descriptor or a negative errno.
 */
static int fifo_open(const struct registry *r, const char *path)
{
	struct stat st;
	int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode) ||
	    st.st_uid != r->self_uid || (st.st_mode & 0077)) {
		close(fd);
		return -EPERM;
	}
	return fd;
}

/*
 * Gives q its FIFOs: made (create) or found (adopt, made again if
 * missing), each held open in q->seg for as long as busd serves the
 * queue, so that it always has a reader.  Returns 0 or a negative errno
 * (what was opened stays open; a queue without a FIFO has no descriptor
 * for that side).
 */
static int fifo_attach(const struct registry *r, struct queue *q, bool create)
{
	for (int i = 0; i < REGISTRY_FIFOS; i++) {
		char path[FIFO_PATH_MAX];
		int fd;

		fifo_path(path, sizeof(path), q->shm_name, i);
		if ((create || access(path, F_OK) < 0) && mkfifo(path, 0600) < 0 &&
		    (create || errno != EEXIST))
			return -errno;
		fd = fifo_open(r, path);
		if (fd < 0)
			return fd;
		*fifo_fd(q, i) = fd;
	}
	return 0;
}

static void fifo_unlink(const struct queue *q)
{
	for (int i = 0; i < REGISTRY_FIFOS; i++) {
		char path[FIFO_PATH_MAX];

		fifo_path(path, sizeof(path), q->shm_name, i);
		unlink(path);
	}
}

int registry_open_fifo(const struct queue *q, int which)
{
	char proc[64];
	int fd;

	if (fifo_fd_of(q, which) < 0)
		return -EOPNOTSUPP;
	/*
	 * A description of its own for each client (flags are per
	 * description), of the very FIFO busd holds, whatever became of its
	 * name since.
	 */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fifo_fd_of(q, which));
	fd = open(proc, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

void registry_init(struct registry *r, const struct busd_config *cfg,
                   const char *socket_path, uint32_t self_uid)
{
	*r = (struct registry){
		.instance = seg_instance(socket_path),
		.self_uid = self_uid,
		.cfg = cfg,
	};
}

/* Index of name, or of where it would go (then *found is false). */
static size_t search(const struct registry *r, const char *name, bool *found)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(r->v[mid]->name, name);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

struct queue *registry_find(const struct registry *r, const char *name)
{
	bool found;
	size_t i = search(r, name, &found);

	return found ? r->v[i] : NULL;
}

static int insert(struct registry *r, struct queue *q)
{
	bool found;
	size_t i = search(r, q->name, &found);

	if (found)
		return -EEXIST;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct queue **v = realloc(r->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		r->v = v;
		r->cap = cap;
	}
	memmove(&r->v[i + 1], &r->v[i], (r->n - i) * sizeof(*r->v));
	r->v[i] = q;
	r->n++;
	return 0;
}

static void remove_at(struct registry *r, struct queue *q)
{
	bool found;
	size_t i = search(r, q->name, &found);

	if (found && r->v[i] == q) {
		memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof(*r->v));
		r->n--;
	}
}

/* Fills q's process-local copy of the identity from its validated header. */
static void queue_fill(struct queue *q)
{
	/* The identity validated when mapped, not the header again. */
	memcpy(q->name, q->seg.name, sizeof(q->name));
	memcpy(q->uuid, q->seg.uuid, sizeof(q->uuid));
	q->created_ns = q->seg.created_ns;
}

/* The largest payload a declaration asks for (0 there: all it can). */
static uint32_t conf_max_message(const struct queue_conf *c)
{
	return c->max_message ? c->max_message : seg_max_message_for(c->capacity);
}

/*
 * A client's create of a name the config declares: the queue is the
 * config's, whoever makes it.  Only busd's uid and root may make it again
 * (it comes back at busd's next start anyway), and they get it exactly as
 * declared and owned by busd, so its rights stay the config's: the owner
 * in a segment's name gets every right, and a client must never become
 * the owner of a declared name.  Fills *spec (sizes) and *owner_uid.
 * Returns 0, or -EACCES / -EINVAL with msg.
 */
static int reserved_create(const struct registry *r, const struct queue_conf *c,
                           struct queue_spec *spec, uint32_t *owner_uid,
                           char *msg, size_t msglen)
{
	char size[32];

	if (*owner_uid != 0 && *owner_uid != r->self_uid) {
		snprintf(msg, msglen, "queue '%s' is reserved: busd's config declares "
		                      "it, and only root or busd's uid may create it "
		                      "again (busd creates it at its next start)",
		         c->name);
		return -EACCES;
	}
	if ((spec->capacity && spec->capacity != c->capacity) ||
	    (spec->max_message && spec->max_message != conf_max_message(c)) ||
	    (spec->max_producers && spec->max_producers != c->max_producers)) {
		config_format_size(size, sizeof(size), c->capacity);
		snprintf(msg, msglen, "queue '%s' is declared in busd's config with "
		                      "capacity %s, max message %" PRIu32 ", %" PRIu32 " producer slots: ask for those or for none",
		         c->name, size, conf_max_message(c), c->max_producers);
		return -EINVAL;
	}
	spec->capacity = c->capacity;
	spec->max_message = c->max_message;
	spec->max_producers = c->max_producers;
	*owner_uid = r->self_uid;
	return 0;
}

int registry_create(struct registry *r, const struct queue_spec *spec_in,
                    uint32_t owner_uid, struct queue **ret, char *msg,
                    size_t msglen)
{
	const struct busd_config *cfg = r->cfg;
	const struct queue_conf *conf = NULL;
	struct queue_spec spec_copy = *spec_in;
	const struct queue_spec *spec = &spec_copy;
	uint64_t max_cap = spec->from_client ? cfg->max_capacity : SEG_MAX_CAPACITY;
	struct seg_params p;
	struct seg_param_why pw;
	char size_a[32], size_b[32];
	const char *why = "";
	struct queue *q;
	size_t size;
	int e;

	if (!bus_name_valid(spec->name)) {
		snprintf(msg, msglen, "invalid queue name: 1 to %d characters of "
		                      "A-Z a-z 0-9 . _ -",
		         BUS_NAME_MAX);
		return -EINVAL;
	}
	if (reply_queue_name(spec->name) != (spec->reply_pid != 0)) {
		snprintf(msg, msglen, "invalid queue name '%s': names beginning "
		                      "'" REPLY_QUEUE_PREFIX "' are busd's reply queues",
		         spec->name);
		return -EINVAL;
	}
	if (registry_find(r, spec->name)) {
		snprintf(msg, msglen, "queue '%s' exists already", spec->name);
		return -EEXIST;
	}
	if (spec->from_client && (conf = config_queue(cfg, spec->name)) != NULL) {
		e = reserved_create(r, conf, &spec_copy, &owner_uid, msg, msglen);
		if (e < 0)
			return e;
		/* the config's sizes, which may exceed max-capacity */
		max_cap = SEG_MAX_CAPACITY;
	}
	p = (struct seg_params){
		.name = spec->name,
		.capacity = spec->capacity ? spec->capacity : cfg->default_capacity,
		.max_message = spec->max_message,
		.max_producers = spec->max_producers,
	};
	if (spec->from_client && r->n >= cfg->max_queues) {
		snprintf(msg, msglen, "cannot create queue '%s': busd already has "
		                      "%zu queues (max-queues %u)",
		         spec->name, r->n,
		         cfg->max_queues);
		return -ENOSPC;
	}
	/* libbus's rule, up to busd's own max_cap, in busd's words */
	switch (seg_params_check(&p, max_cap, &pw)) {
	case SEG_PARAM_OK:
		break;
	case SEG_PARAM_CAPACITY:
		config_format_size(size_a, sizeof(size_a), pw.min_capacity);
		config_format_size(size_b, sizeof(size_b), pw.max_capacity);
		snprintf(msg, msglen, "capacity %" PRIu64 " of queue '%s' must be "
		                      "a power of two from %s to %s",
		         p.capacity,
		         spec->name, size_a, size_b);
		return -EINVAL;
	case SEG_PARAM_MAX_MESSAGE:
		snprintf(msg, msglen, "max message %" PRIu32 " of queue '%s' is "
		                      "more than its capacity %" PRIu64 " allows (at most %" PRIu32 ")",
		         p.max_message, spec->name, p.capacity,
		         pw.max_message);
		return -EINVAL;
	case SEG_PARAM_PRODUCERS:
		snprintf(msg, msglen, "max producers %" PRIu32 " of queue '%s' is "
		                      "more than %u",
		         p.max_producers, spec->name,
		         pw.max_producers);
		return -EINVAL;
	case SEG_PARAM_NAME:
	case SEG_PARAM_INITIAL_POS:
		snprintf(msg, msglen, "cannot create queue '%s': %s", spec->name,
		         pw.text);
		return -EINVAL;
	}
	e = seg_size(&p, &size, &why);
	if (e < 0) {
		snprintf(msg, msglen, "cannot create queue '%s': %s", spec->name, why);
		return e;
	}
	q = calloc(1, sizeof(*q));
	if (!q) {
		snprintf(msg, msglen, "cannot create queue '%s': out of memory",
		         spec->name);
		return -ENOMEM;
	}
	uuid_generate(p.uuid);
	q->owner_uid = owner_uid;
	seg_shm_name(q->shm_name, r->instance, spec->name, p.uuid, owner_uid);
	e = seg_create_shm(q->shm_name, &p, &q->seg, &why);
	if (e < 0) {
		if (e == -ENOSPC)
			snprintf(msg, msglen, "no space in /dev/shm for queue '%s' "
			                      "(%zu bytes)",
			         spec->name, size);
		else
			snprintf(msg, msglen, "cannot create queue '%s': %s (%s)",
			         spec->name, why, strerror(-e));
		free(q);
		return e;
	}
	queue_fill(q);
	q->conf = config_queue(cfg, q->name);
	q->reply_pid = spec->reply_pid;
	e = fifo_attach(r, q, true);
	if (e < 0) {
		snprintf(msg, msglen, "cannot create the FIFOs of queue '%s': %s",
		         spec->name, strerror(-e));
		fifo_unlink(q);
		shm_unlink(q->shm_name);
		seg_close(&q->seg);
		free(q);
		return e;
	}
	e = insert(r, q);
	if (e < 0) {
		snprintf(msg, msglen, "cannot create queue '%s': out of memory",
		         spec->name);
		fifo_unlink(q);
		shm_unlink(q->shm_name);
		seg_close(&q->seg);
		free(q);
		return e;
	}
	*ret = q;
	return 0;
}

static int set_deleted(void *arg)
{
	seg_set_deleted(arg, &wait_futex_ops);
	return 0;
}

void registry_delete(struct registry *r, struct queue *q)
{
	remove_at(r, q);
	/*
	 * Deleted first: a busd that dies before the unlink finishes the job
	 * when it adopts the segment again.  Guarded: a truncated segment
	 * must not take busd down (guard.h).
	 */
	if (guard_run(set_deleted, &q->seg) == -EFAULT)
		log_error("queue.truncated", "segment truncated by an attached process",
		          "queue=%s shm=%s", q->name, q->shm_name);
	shm_unlink(q->shm_name);
	fifo_unlink(q);
	seg_close(&q->seg);
	free(q);
}

void registry_drop(struct registry *r, struct queue *q)
{
	remove_at(r, q);
	shm_unlink(q->shm_name);
	fifo_unlink(q);
	seg_close(&q->seg);
	free(q);
}

struct stats_call {
	int fd;
	bus_stats *st;
};

static int stats_cb(void *arg)
{
	struct stats_call *c = arg;

	return bus_stats_read_fd(c->fd, c->st);
}

/* bus_stats_read_fd(), -EFAULT if a producer truncated the segment. */
static int guarded_stats(int fd, bus_stats *st)
{
	struct stats_call c = {fd, st};

	return guard_run(stats_cb, &c);
}

int registry_open(const struct queue *q, bool read_only)
{
	int fd = shm_open(q->shm_name, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC,
	                  0);

	return fd < 0 ? -errno : fd;
}

void registry_close(struct registry *r)
{
	for (size_t i = 0; i < r->n; i++) {
		seg_close(&r->v[i]->seg);
		free(r->v[i]);
	}
	free(r->v);
	r->v = NULL;
	r->n = r->cap = 0;
}

/* --- adoption --- */

/*
 * Opens and validates one of this instance's segments.  Returns 0 with
 * *s mapped, or a negative errno with *why set.
 */
static int adopt_open(const struct registry *r, const char *shm_name,
                      const char *queue, const uint8_t uuid[16],
                      struct seg *s, const char **why)
{
	struct stat st;
	int fd, e;

	fd = shm_open(shm_name, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0) {
		*why = "cannot open";
		return -errno;
	}
	/*
	 * /dev/shm is writable by everyone: a segment busd did not make
	 * could be there under one of its names, and whoever made it could
	 * still write to it.
	 */
	if (fstat(fd, &st) < 0 || st.st_uid != r->self_uid ||
	    (st.st_mode & 0077)) {
		*why = "not owned by busd's uid with mode 0600";
		close(fd);
		return -EPERM;
	}
	e = seg_map_fd(fd, s, why);
	if (e < 0) {
		close(fd);
		return e;
	}
	if (strcmp(s->name, queue) != 0) {
		*why = "queue name in the header differs from the file name";
		seg_close(s);
		return -EBADMSG;
	}
	if (memcmp(s->uuid, uuid, 16) != 0) {
		*why = "uuid in the header differs from the file name";
		seg_close(s);
		return -EBADMSG;
	}
	return 0;
}

/*
 * Removes entry, a temporary name of this instance: a segment whose
 * creation a busd of this instance did not finish (it was killed before
 * seg_create_shm() gave it its name).  Nobody can have it open but that
 * busd, which is dead: only one busd serves a socket (it holds the lock),
 * and the instance is a hash of the socket path.  Only busd's own files
 * are removed; anything else under such a name is not busd's to judge.
 */
static void remove_temp(const struct registry *r, int dir, const char *entry)
{
	struct stat st;

	if (fstatat(dir, entry, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	if (!S_ISREG(st.st_mode) || st.st_uid != r->self_uid) {
		log_warn("queue.temp_foreign", "a file under one of busd's temporary "
		                               "names that busd did not make: left in place",
		         "shm=/%s uid=%u",
		         entry, (unsigned)st.st_uid);
		return;
	}
	if (unlinkat(dir, entry, 0) < 0) {
		log_error("queue.remove_failed", "cannot remove an incomplete segment",
		          "shm=/%s error=\"%s\"", entry, strerror(errno));
		return;
	}
	log_info("queue.remove_temp", "removed an incomplete segment: busd died "
	                              "while creating it",
	         "shm=/%s bytes=%lld", entry, (long long)st.st_size);
}

/*
 * Whether a segment's owner (from its name) may hold a name the config
 * declares: only if it gains nothing the config's rules do not give, that
 * is busd's own uid (the owner of the queues busd creates from its
 * config) or root, who are allowed everything anyway.  Any other owner
 * would get every right on a queue the config reserves to its rules.
 */
static bool owner_fits_conf(const struct registry *r, uint32_t owner)
{
	return owner == r->self_uid || owner == 0;
}

struct open_call {
	const struct registry *r;
	const char *shm_name, *queue;
	const uint8_t *uuid;
	struct seg *s;
	const char **why;
	bool opened, deleted;
};

static int open_cb(void *arg)
{
	struct open_call *c = arg;
	int e = adopt_open(c->r, c->shm_name, c->queue, c->uuid, c->s, c->why);

	c->opened = e == 0;
	/* relaxed: busd is the only writer of state, and nobody races it now */
	if (e == 0)
		c->deleted = atom_load_relaxed(&c->s->hdr->state) & SEG_STATE_DELETED;
	return e;
}

/*
 * adopt_open(), and whether the segment was deleted, guarded: a producer
 * of the last busd may truncate the segment while it is read (guard.h).
 */
static int guarded_open(const struct registry *r, const char *shm_name,
                        const char *queue, const uint8_t uuid[16],
                        struct seg *s, const char **why, bool *deleted)
{
	struct open_call c = {r, shm_name, queue, uuid, s, why, false, false};
	int e = guard_run(open_cb, &c);

	if (e == -EFAULT) {
		*why = "segment truncated while it was read";
		if (c.opened)
			seg_close(s);
	}
	*deleted = c.deleted;
	return e;
}

static void adopt_one(struct registry *r, int dir, const char *entry)
{
	bool deleted;
	char queue[BUS_NAME_MAX + 1];
	uint8_t uuid[16];
	uint32_t owner;
	struct queue *q, *old;
	const char *why = "";
	char *shm_name;
	bus_stats st;
	int e;

	if (seg_shm_parse_temp(entry, r->instance) == 0) {
		remove_temp(r, dir, entry);
		return;
	}
	/* A name it parses is at most 124 bytes: queue, uuid, owner, dots. */
	if (seg_shm_parse_owner(entry, r->instance, queue, uuid, &owner) < 0 ||
	    strlen(entry) + 2 > SEG_SHM_NAME_MAX)
		return;
	q = calloc(1, sizeof(*q));
	if (!q) {
		log_error("queue.adopt_failed", "cannot adopt segment",
		          "shm=%s reason=\"out of memory\"",
		          entry);
		return;
	}
	shm_name = q->shm_name;
	shm_name[0] = '/';
	memcpy(shm_name + 1, entry, strlen(entry) + 1);
	e = guarded_open(r, shm_name, queue, uuid, &q->seg, &why, &deleted);
	if (e < 0) {
		log_error("queue.adopt_refused", "refused segment, left in place",
		          "queue=%s shm=%s "
		          "reason=\"%s\" error=\"%s\"",
		          queue, shm_name, why,
		          strerror(-e));
		free(q);
		return;
	}
	if (deleted) {
		log_info("queue.remove", "removed segment of a deleted queue",
		         "queue=%s shm=%s",
		         queue, shm_name);
		shm_unlink(shm_name);
		fifo_unlink(q);
		seg_close(&q->seg);
		free(q);
		return;
	}
	queue_fill(q);
	/* From the name: attached clients can write the segment, not rename it. */
	q->owner_uid = owner;
	if (reply_queue_name(q->name))
		q->reply_pid = reply_queue_pid(q->name);
	e = fifo_attach(r, q, false);
	if (e < 0)
		log_warn("queue.fifo_refused", "no usable wake or space FIFO: "
		                               "handles cannot wait on a descriptor",
		         "queue=%s shm=%s error=\"%s\"", queue, shm_name,
		         strerror(-e));
	/*
	 * A declared name is the config's: a segment whose owner would get
	 * rights the config does not give (a user created the name while it
	 * was not declared, or took it while it was deleted, under an older
	 * busd) is not adopted under it, whatever its age, so the queue the
	 * config describes wins at every start.  Its messages are its
	 * owner's: left in place, never deleted.
	 */
	if (config_queue(r->cfg, q->name) && !owner_fits_conf(r, owner)) {
		if (guarded_stats(q->seg.fd, &st) < 0)
			st.depth_msgs = 0;
		log_error("queue.adopt_refused", "refused segment, left in place",
		          "queue=%s shm=%s owner=%" PRIu32 " messages=%" PRIu64
		          " reason=\"the config declares queue '%s': only busd's uid "
		          "or root may own it\"",
		          queue, shm_name, owner, st.depth_msgs, queue);
		seg_close(&q->seg);
		free(q);
		return;
	}
	old = registry_find(r, q->name);
	if (old) {
		struct queue *keep = q->created_ns > old->created_ns ? q : old;
		struct queue *drop = keep == q ? old : q;

		log_warn("queue.adopt_duplicate", "two segments for one queue: "
		                                  "ignoring the older one, left in place",
		         "queue=%s kept=%s ignored=%s", q->name,
		         keep->shm_name, drop->shm_name);
		if (keep == q) {
			remove_at(r, old);
			insert(r, q); /* cannot fail: the slot was just freed */
		}
		seg_close(&drop->seg);
		free(drop);
		return;
	}
	if (insert(r, q) < 0) {
		log_error("queue.adopt_failed", "cannot adopt segment",
		          "shm=%s reason=\"out of memory\"",
		          shm_name);
		seg_close(&q->seg);
		free(q);
		return;
	}
}

/*
 * Removes entry if it is one of this instance's FIFOs whose queue is not
 * served (busd died between removing a segment and its FIFOs).  Only
 * busd's own FIFOs go.
 */
static void sweep_fifo(const struct registry *r, int dir, const char *entry)
{
	char base[SEG_SHM_NAME_MAX], queue[BUS_NAME_MAX + 1];
	size_t n = strlen(entry), sn = 0;
	uint8_t uuid[16];
	struct stat st;

	for (int i = 0; i < REGISTRY_FIFOS && !sn; i++) {
		size_t k = strlen(fifo_suffix[i]);

		if (n > k && strcmp(entry + n - k, fifo_suffix[i]) == 0)
			sn = k;
	}
	if (!sn || n - sn + 2 > sizeof(base))
		return;
	base[0] = '/';
	memcpy(base + 1, entry, n - sn);
	base[n - sn + 1] = '\0';
	if (seg_shm_parse(base, r->instance, queue, uuid) < 0)
		return;
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->v[i]->shm_name, base) == 0)
			return;
	if (fstatat(dir, entry, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISFIFO(st.st_mode) || st.st_uid != r->self_uid)
		return;
	if (unlinkat(dir, entry, 0) == 0)
		log_info("queue.remove_fifo", "removed a FIFO of a queue that is gone",
		         "shm=/%s", entry);
}

int registry_adopt(struct registry *r)
{
	DIR *d = opendir(SHM_DIR);
	struct dirent *de;

	if (!d)
		return -errno;
	while ((errno = 0, de = readdir(d)) != NULL)
		adopt_one(r, dirfd(d), de->d_name);
	if (errno) {
		int e = -errno;

		closedir(d);
		return e;
	}
	/* Then the FIFOs whose segments are gone. */
	rewinddir(d);
	while ((de = readdir(d)) != NULL)
		sweep_fifo(r, dirfd(d), de->d_name);
	closedir(d);
	/* Logged once every duplicate is settled: these are the ones kept. */
	for (size_t i = 0; i < r->n; i++) {
		struct queue *q = r->v[i];
		bus_stats st;

		q->conf = config_queue(r->cfg, q->name);
		if (guarded_stats(q->seg.fd, &st) == 0)
			log_info("queue.adopt", "adopted queue",
			         "queue=%s messages=%" PRIu64 " bytes=%" PRIu64 " capacity=%" PRIu64 " owner=%" PRIu32, q->name,
			         st.depth_msgs, st.depth_bytes, q->seg.capacity,
			         q->owner_uid);
		else
			log_info("queue.adopt", "adopted queue",
			         "queue=%s capacity=%" PRIu64 " owner=%" PRIu32, q->name, q->seg.capacity, q->owner_uid);
	}
	return 0;
}

/*
 * 1 if q holds nothing and nobody is attached to it (the kernel's locks
 * say so), so that making it again loses and splits nothing.
 */
static int idle(struct queue *q)
{
	bus_stats st;

	return guarded_stats(q->seg.fd, &st) == 0 && st.depth_bytes == 0 &&
	       st.producers == 0 && st.consumer_pid == 0;
}

int registry_declare(struct registry *r, char *err, size_t errlen)
{
	const struct busd_config *cfg = r->cfg;

	for (size_t i = 0; i < cfg->nqueues; i++) {
		const struct queue_conf *c = &cfg->queues[i];
		struct queue *q = registry_find(r, c->name);
		uint32_t want_msg = c->max_message ? c->max_message
		                                   : seg_max_message_for(c->capacity);
		struct queue_spec spec = {
			.name = c->name,
			.capacity = c->capacity,
			.max_message = c->max_message,
			.max_producers = c->max_producers,
		};
		int e;

		if (q && (q->seg.capacity != c->capacity ||
		          q->seg.max_message != want_msg ||
		          q->seg.max_producers != c->max_producers)) {
			if (idle(q)) {
				/*
				 * Empty, and nobody attached: nothing to split or
				 * lose.  The config's sizes win.
				 */
				log_info("queue.config_applied",
				         "adopted queue was empty and unattached: made again with the config's sizes",
				         "queue=%s capacity=%" PRIu64 " config_capacity=%" PRIu64,
				         q->name, q->seg.capacity, c->capacity);
				registry_delete(r, q);
				q = NULL;
			} else {
				log_warn("queue.config_mismatch", "adopted queue keeps "
				                                  "its existing size, not the config's: it holds messages or attached processes",
				         "queue=%s capacity=%" PRIu64
				         " max_message=%" PRIu32 " max_producers=%" PRIu32
				         " config_capacity=%" PRIu64 " config_max_message=%" PRIu32 " config_max_producers=%" PRIu32,
				         q->name,
				         q->seg.capacity, q->seg.max_message,
				         q->seg.max_producers, c->capacity, want_msg,
				         c->max_producers);
			}
		}
		if (q) {
			q->conf = c;
			continue;
		}
		e = registry_create(r, &spec, r->self_uid, &q, err, errlen);
		if (e < 0)
			return e;
		log_info("queue.create", "queue created",
		         "queue=%s capacity=%" PRIu64
		         " max_message=%" PRIu32 " max_producers=%" PRIu32
		         " from=config",
		         q->name, q->seg.capacity, q->seg.max_message,
		         q->seg.max_producers);
	}
	return 0;
}

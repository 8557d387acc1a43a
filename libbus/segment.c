/*
 * segment.c - create, map and validate queue segments (see segment.h).
 *
 * Validation recomputes the whole layout from the two numbers that define
 * it (capacity, max_producers) and compares every stored offset and size
 * with it, so there is one way for a segment to be right and any other
 * value is refused by name.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uuid/uuid.h>

#include "atom.h"
#include "compiler.h"
#include "ring.h"
#include "segment.h"
#include "pollwake.h"
#include "wait.h"
#include "util/bits.h"
#include "util/nstime.h"

_Static_assert(sizeof(struct seg_slot) == SEG_LINE, "one slot, one line");
_Static_assert(sizeof(struct seg_header) % SEG_LINE == 0, "header lines");
_Static_assert(offsetof(struct seg_header, state) == SEG_LINE * 2,
               "identity fits two lines");
/* The layout is a format shared by processes of different builds. */
_Static_assert(offsetof(struct seg_header, version) == 8, "layout v1");
_Static_assert(offsetof(struct seg_header, name) == 80, "layout v1");
_Static_assert(offsetof(struct seg_header, tail) == 384, "layout v1");
_Static_assert(offsetof(struct seg_header, head) == 512, "layout v1");
_Static_assert(offsetof(struct seg_header, cons_wait) == 640, "layout v1");
_Static_assert(offsetof(struct seg_header, full_wait) == 768, "layout v1");
_Static_assert(offsetof(struct seg_header, cons) == 1024, "layout v1");
_Static_assert(offsetof(struct seg_header, recovered) == 264, "layout v1");
_Static_assert(offsetof(struct seg_header, cons.hist) == 1080, "layout v1");
_Static_assert(offsetof(struct seg_header, cons.redeliver_end) == 1608, "layout v1");
_Static_assert(sizeof(struct seg_header) == 1664, "layout v1");
_Static_assert(offsetof(struct seg_header, cons.requests) == 1616, "layout v2");
_Static_assert(offsetof(struct seg_header, cons.replies_dead) == 1632, "layout v2");
_Static_assert(offsetof(struct seg_slot, late) == 88, "layout v2");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2,
               "shared atomics must be lock-free to work across processes");

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

uint32_t seg_max_message_for(uint64_t capacity)
{
	/*
	 * A record of extent E always fits an empty ring only if E <= C/2:
	 * padding to the end is then < E, so padding + E <= C.
	 */
	uint64_t m = capacity / 2 - REC_HDR;
	return m > INT32_MAX - 2 * REC_ALIGN ? INT32_MAX - 2 * REC_ALIGN
	                                     : (uint32_t)m;
}

struct layout {
	uint64_t slots_offset;
	uint64_t ring_offset;
	uint64_t total_size;
};

static struct layout layout_for(uint64_t capacity, uint32_t max_producers)
{
	struct layout l;

	l.slots_offset = align_up(sizeof(struct seg_header), SEG_LINE);
	l.ring_offset = align_up(l.slots_offset +
	                                 (uint64_t)max_producers * sizeof(struct seg_slot),
	                         SEG_RING_ALIGN);
	l.total_size = l.ring_offset + capacity;
	return l;
}

enum seg_param_error seg_params_check(const struct seg_params *p,
                                      uint64_t max_capacity,
                                      struct seg_param_why *why)
{
	bool full = max_capacity >= SEG_MAX_CAPACITY;
	uint32_t mm, mp;

	*why = (struct seg_param_why){
		.error = SEG_PARAM_OK,
		.text = "",
		.min_capacity = SEG_MIN_CAPACITY,
		.max_capacity = full ? SEG_MAX_CAPACITY : max_capacity,
		.max_producers = SEG_MAX_PRODUCERS,
	};
	if (!p->name || !bus_name_valid(p->name)) {
		why->error = SEG_PARAM_NAME;
		why->text = "queue name must be 1-64 characters of [A-Za-z0-9._-]";
		return why->error;
	}
	if (!bits_is_pow2(p->capacity) || p->capacity < why->min_capacity ||
	    p->capacity > why->max_capacity) {
		why->error = SEG_PARAM_CAPACITY;
		why->text = full ? "capacity must be a power of two from 256 bytes "
		                   "to 1 GiB"
		                 : "capacity must be a power of two from 256 bytes "
		                   "to the caller's limit";
		return why->error;
	}
	why->max_message = seg_max_message_for(p->capacity);
	mm = p->max_message ? p->max_message : why->max_message;
	if (mm > why->max_message) {
		why->error = SEG_PARAM_MAX_MESSAGE;
		why->text = "max message must be at most half the capacity less the "
			    "32-byte record header";
		return why->error;
	}
	mp = p->max_producers ? p->max_producers : SEG_DEFAULT_PRODUCERS;
	if (mp > why->max_producers) {
		why->error = SEG_PARAM_PRODUCERS;
		why->text = "at most 1024 producer slots";
		return why->error;
	}
	if (p->initial_pos % REC_ALIGN) {
		why->error = SEG_PARAM_INITIAL_POS;
		why->text = "initial position must be 8-byte aligned";
		return why->error;
	}
	return SEG_PARAM_OK;
}

/* seg_params_check() to SEG_MAX_CAPACITY, with the defaults filled in. */
static int params_check(const struct seg_params *p, uint32_t *max_message,
                        uint32_t *max_producers, const char **why)
{
	struct seg_param_why w;

	if (seg_params_check(p, SEG_MAX_CAPACITY, &w) != SEG_PARAM_OK) {
		*why = w.text;
		return -EINVAL;
	}
	*max_message = p->max_message ? p->max_message : w.max_message;
	*max_producers = p->max_producers ? p->max_producers
	                                  : SEG_DEFAULT_PRODUCERS;
	return 0;
}

int seg_size(const struct seg_params *p, size_t *size, const char **why)
{
	uint32_t mm, mp;
	int r = params_check(p, &mm, &mp, why);

	if (r < 0)
		return r;
	*size = layout_for(p->capacity, mp).total_size;
	return 0;
}

int seg_format(void *mem, size_t size, const struct seg_params *p,
               const char **why)
{
	struct seg_header *h = mem;
	struct layout l;
	struct timespec now;
	uint32_t mm, mp;
	int r = params_check(p, &mm, &mp, why);

	if (r < 0)
		return r;
	l = layout_for(p->capacity, mp);
	if (size != l.total_size) {
		*why = "memory size does not match the layout";
		return -EINVAL;
	}
	h->magic = SEG_MAGIC;
	h->header_size = sizeof(*h);
	h->total_size = l.total_size;
	h->capacity = p->capacity;
	h->max_message = mm;
	h->max_producers = mp;
	h->slots_offset = l.slots_offset;
	h->ring_offset = l.ring_offset;
	clock_gettime(CLOCK_REALTIME, &now);
	h->created_ns = nstime_from_ts(now);
	memcpy(h->uuid, p->uuid, sizeof(h->uuid));
	if (uuid_is_null(h->uuid))
		uuid_generate(h->uuid);
	strcpy(h->name, p->name);
	atom_store_relaxed(&h->tail, p->initial_pos);
	atom_store_relaxed(&h->head, p->initial_pos);
	atom_store_relaxed(&h->cons.read_pos, p->initial_pos);
	/* release: every field above is visible before an attacher sees the version */
	atom_store_release(&h->version, SEG_VERSION);
	return 0;
}

/*
 * The identity part of a header as this process read it.  A producer can
 * write the whole segment, so a field checked and then read again could
 * have changed in between: each is read exactly once, here, and only the
 * copy is checked and used.
 */
struct ident {
	uint64_t magic;
	uint32_t version;
	uint32_t header_size;
	uint64_t total_size;
	uint64_t capacity;
	uint32_t max_message;
	uint32_t max_producers;
	uint64_t slots_offset;
	uint64_t ring_offset;
	uint64_t created_ns;
	uint8_t uuid[16];
	char name[BUS_NAME_MAX + 1];
};

static void read_ident(const struct seg_header *h, struct ident *id)
{
	/* acquire: pairs with seg_format's release, the identity is complete */
	id->version = atom_load_acquire((_Atomic uint32_t *)&h->version);
	id->magic = h->magic;
	id->header_size = h->header_size;
	id->total_size = h->total_size;
	id->capacity = h->capacity;
	id->max_message = h->max_message;
	id->max_producers = h->max_producers;
	id->slots_offset = h->slots_offset;
	id->ring_offset = h->ring_offset;
	id->created_ns = h->created_ns;
	memcpy(id->uuid, h->uuid, sizeof(id->uuid));
	memcpy(id->name, h->name, sizeof(id->name));
	/*
	 * The copy is made here: without this the compiler could drop it
	 * and load a field from shared memory again where the copy is used.
	 */
	compiler_barrier();
}

static int check_ident(const struct seg_header *h, const struct ident *id,
                       size_t size, const char **why)
{
	struct layout l;
	uint64_t head, tail;

	if (id->magic != SEG_MAGIC) {
		*why = "bad magic: not a bus segment";
		return -EBADMSG;
	}
	if (id->version == 0) {
		*why = "segment not initialised (version 0)";
		return -EBADMSG;
	}
	if (id->version != SEG_VERSION) {
		*why = id->version < SEG_VERSION
		               ? "segment layout version 1 is older than this "
		                 "libbus (layout 2): made by an older busd"
		               : "segment layout version is newer than this libbus "
		                 "(layout 2): made by a newer busd";
		return -EPROTO;
	}
	if (id->header_size != sizeof(*h)) {
		*why = "bad header size";
		return -EBADMSG;
	}
	if (!bits_is_pow2(id->capacity) || id->capacity < SEG_MIN_CAPACITY ||
	    id->capacity > SEG_MAX_CAPACITY) {
		*why = "bad capacity";
		return -EBADMSG;
	}
	if (id->max_producers == 0 || id->max_producers > SEG_MAX_PRODUCERS) {
		*why = "bad producer slot count";
		return -EBADMSG;
	}
	if (id->max_message > seg_max_message_for(id->capacity)) {
		*why = "bad max message size";
		return -EBADMSG;
	}
	l = layout_for(id->capacity, id->max_producers);
	if (id->slots_offset != l.slots_offset) {
		*why = "bad slots offset";
		return -EBADMSG;
	}
	if (id->ring_offset != l.ring_offset) {
		*why = "bad ring offset";
		return -EBADMSG;
	}
	if (id->total_size != l.total_size || size != l.total_size) {
		*why = "segment size does not match its header";
		return -EBADMSG;
	}
	if (memchr(id->name, 0, sizeof(id->name)) == NULL || !bus_name_valid(id->name)) {
		*why = "bad queue name";
		return -EBADMSG;
	}
	/*
	 * relaxed: a sanity check only; the ring reads both again with
	 * ordering, and checks what it reads (ring.h).  The capacity is the
	 * copy's, each position is read once.
	 */
	head = atom_load_relaxed((_Atomic uint64_t *)&h->head);
	tail = atom_load_relaxed((_Atomic uint64_t *)&h->tail);
	if (head % REC_ALIGN || tail % REC_ALIGN || tail - head > id->capacity) {
		*why = "bad head or tail position";
		return -EBADMSG;
	}
	return 0;
}

static int validate(const void *mem, size_t size, struct ident *id,
                    const char **why)
{
	const struct seg_header *h = mem;

	if (size < sizeof(*h)) {
		*why = "segment smaller than its header";
		return -EBADMSG;
	}
	read_ident(h, id);
	return check_ident(h, id, size, why);
}

int seg_validate(const void *mem, size_t size, const char **why)
{
	struct ident id;

	return validate(mem, size, &id, why);
}

int seg_view(void *mem, size_t size, struct seg *s, const char **why)
{
	struct ident id;
	int r = validate(mem, size, &id, why);

	if (r < 0)
		return r;
	/* Only the validated copy from here on (struct seg). */
	*s = (struct seg){
		.hdr = mem,
		.slots = (struct seg_slot *)((uint8_t *)mem + id.slots_offset),
		.ring = (uint8_t *)mem + id.ring_offset,
		.capacity = id.capacity,
		.max_message = id.max_message,
		.max_producers = id.max_producers,
		.created_ns = id.created_ns,
		.size = size,
		.fd = -1,
		.wake_fd = -1,
		.sock_fd = -1,
	};
	memcpy(s->uuid, id.uuid, sizeof(s->uuid));
	/* Up to its NUL (validated), and zeros after: no stale bytes. */
	memset(s->name, 0, sizeof(s->name));
	memcpy(s->name, id.name, strlen(id.name));
	return 0;
}

static int map_fd(int fd, int prot, struct seg *s, const char **why)
{
	struct stat st;
	void *mem;
	int r;

	if (fstat(fd, &st) < 0) {
		*why = "cannot stat segment";
		return -errno;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(struct seg_header) ||
	    (uint64_t)st.st_size > SEG_MAX_CAPACITY * 2) {
		*why = "not a segment: bad file type or size";
		return -EBADMSG;
	}
	mem = mmap(NULL, (size_t)st.st_size, prot, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) {
		*why = "cannot map segment";
		return -errno;
	}
	r = seg_view(mem, (size_t)st.st_size, s, why);
	if (r < 0) {
		munmap(mem, (size_t)st.st_size);
		return r;
	}
	s->fd = fd;
	s->mapped = true;
	return 0;
}

int seg_map_fd(int fd, struct seg *s, const char **why)
{
	return map_fd(fd, PROT_READ | PROT_WRITE, s, why);
}

int seg_map_fd_ro(int fd, struct seg *s, const char **why)
{
	return map_fd(fd, PROT_READ, s, why);
}

int seg_attach_fd(int fd, int wake_fd, int (*attach)(struct seg *s, void *ret),
                  void *ret)
{
	struct seg s;
	const char *why;
	int r;

	if (fd < 0 || !ret)
		return -EINVAL;
	r = seg_map_fd(fd, &s, &why);
	if (r < 0)
		return r;
	s.wake_fd = wake_fd;
	r = attach(&s, ret);
	if (r < 0) {
		/* the caller keeps its descriptors */
		s.fd = -1;
		s.wake_fd = -1;
		seg_close(&s);
	}
	return r;
}

int seg_open_shm(const char *shm_name, struct seg *s, const char **why)
{
	int fd = shm_open(shm_name, O_RDWR | O_CLOEXEC, 0);
	int r;

	if (fd < 0) {
		*why = "cannot open shared-memory object";
		return -errno;
	}
	r = seg_map_fd(fd, s, why);
	if (r < 0)
		close(fd);
	return r;
}

/*
 * POSIX shared-memory objects are the files of this directory on Linux
 * (glibc's shm_open() opens SHM_DIR/NAME): the only way to rename one,
 * or to give one a second name, is through the file system.
 */
#define SHM_DIR "/dev/shm"

/* "/dev/shm" + name (which starts with '/'); -ENAMETOOLONG if it does not fit. */
static int shm_path(char *buf, size_t n, const char *shm_name)
{
	int len = snprintf(buf, n, SHM_DIR "%s", shm_name);

	return len < 0 || (size_t)len >= n ? -ENAMETOOLONG : 0;
}

/*
 * Gives the complete segment at from its final name to, atomically, and
 * only if to does not exist: a name that exists is never replaced.
 * rename(2) with RENAME_NOREPLACE does both at once; where the file system
 * lacks the flag, link(2) (which never replaces either) and then unlink of
 * the temporary do the same, at worst leaving the temporary as a second
 * name of the complete segment, which busd removes at its next start.
 */
static int link_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	if (link(from, to) < 0)
		return -errno;
	unlink(from);
	return 0;
}

int seg_shm_temp_name(char *buf, size_t n, const char *shm_name)
{
	int len = snprintf(buf, n, "%s" SEG_SHM_TEMP_SUFFIX, shm_name);

	return len < 0 || (size_t)len >= n ? -ENAMETOOLONG : 0;
}

int seg_create_shm(const char *shm_name, const struct seg_params *p,
                   struct seg *s, const char **why)
{
	char temp[NAME_MAX + 2]; /* "/", a file name, NUL */
	char temp_path[sizeof(SHM_DIR) + sizeof(temp)];
	char final_path[sizeof(temp_path)];
	size_t size;
	void *mem;
	int fd, r;

	r = seg_size(p, &size, why);
	if (r < 0)
		return r;
	if (*shm_name != '/' || strchr(shm_name + 1, '/') ||
	    seg_shm_temp_name(temp, sizeof(temp), shm_name) < 0 ||
	    shm_path(temp_path, sizeof(temp_path), temp) < 0 ||
	    shm_path(final_path, sizeof(final_path), shm_name) < 0) {
		*why = "bad shared-memory object name";
		return -EINVAL;
	}
	/*
	 * Fails early where the name is taken, before reserving the memory;
	 * the link below is what guarantees it, whatever happens meanwhile.
	 */
	if (access(final_path, F_OK) == 0) {
		*why = "shared-memory object exists";
		return -EEXIST;
	}
	/*
	 * Made and formatted under the temporary name: a process killed
	 * before the link leaves only that, never a half-made segment under
	 * a name someone would attach to or adopt.
	 */
	fd = shm_open(temp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		*why = errno == EEXIST ? "shared-memory object exists"
		                       : "cannot create shared-memory object";
		return -errno;
	}
	if (ftruncate(fd, (off_t)size) < 0) {
		r = -errno;
		*why = "cannot size shared-memory object";
		goto fail;
	}
	/* Reserve every page now: a full /dev/shm must fail here, not SIGBUS. */
	r = posix_fallocate(fd, 0, (off_t)size);
	if (r != 0) {
		r = -r;
		*why = r == -ENOSPC ? "no space for the segment in /dev/shm"
		                    : "cannot reserve segment memory";
		goto fail;
	}
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) {
		r = -errno;
		*why = "cannot map segment";
		goto fail;
	}
	r = seg_format(mem, size, p, why);
	if (r == 0)
		r = seg_view(mem, size, s, why);
	if (r == 0) {
		/* Complete, its version published: now it may have its name. */
		r = link_noreplace(temp_path, final_path);
		if (r < 0)
			*why = r == -EEXIST ? "shared-memory object exists"
			                    : "cannot name the shared-memory object";
	}
	if (r < 0) {
		munmap(mem, size);
		goto fail;
	}
	/* Keep, or undo on failure: alike in form to busd's endpoint_listen(). */
	s->fd = fd;
	s->mapped = true;
	return 0;
fail:
	close(fd);
	shm_unlink(temp);
	return r;
}

int seg_shm_parse_temp(const char *name, uint32_t instance)
{
	char base[SEG_SHM_NAME_MAX], queue[BUS_NAME_MAX + 1];
	size_t n = strlen(name), sn = strlen(SEG_SHM_TEMP_SUFFIX);
	uint8_t uuid[16];
	uint32_t owner;

	if (n <= sn || n - sn >= sizeof(base) ||
	    strcmp(name + n - sn, SEG_SHM_TEMP_SUFFIX) != 0)
		return -EINVAL;
	memcpy(base, name, n - sn);
	base[n - sn] = '\0';
	return seg_shm_parse_owner(base, instance, queue, uuid, &owner);
}

/*
 * One release per resource held, then the closed state: alike in form
 * to busd's server_close(), each closing its own descriptors.
 */
void seg_close(struct seg *s)
{
	if (s->mapped)
		munmap(s->hdr, s->size);
	if (s->fd >= 0)
		close(s->fd);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	if (s->sock_fd >= 0)
		close(s->sock_fd);
	*s = (struct seg){.fd = -1, .wake_fd = -1, .sock_fd = -1};
}

static int ofd_lock(int fd, short type, uint64_t which)
{
	struct flock fl = {
		.l_type = type,
		.l_whence = SEEK_SET,
		.l_start = (off_t)which,
		.l_len = 1,
	};

	if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
		return errno == EAGAIN || errno == EACCES ? -EBUSY : -errno;
	return 0;
}

int seg_lock(struct seg *s, uint64_t which)
{
	return s->fd < 0 ? 0 : ofd_lock(s->fd, F_WRLCK, which);
}

void seg_unlock(struct seg *s, uint64_t which)
{
	if (s->fd >= 0)
		ofd_lock(s->fd, F_UNLCK, which);
}

int seg_claim(struct seg *s, uint64_t which, _Atomic uint32_t *pid)
{
	uint32_t me = (uint32_t)getpid(), free_pid = 0;
	int r;

	if (s->fd >= 0) {
		r = seg_lock(s, which);
		if (r == 0)
			/* relaxed: the lock, not this field, decides; it is for reports */
			atom_store_relaxed(pid, me);
		return r;
	}
	/* acq_rel: take the role after the last holder's release below */
	if (!atom_cas_acq_rel(pid, &free_pid, me))
		return -EBUSY;
	return 0;
}

int seg_held(struct seg *s, uint64_t which, _Atomic uint32_t *pid)
{
	struct flock fl = {
		.l_type = F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = (off_t)which,
		.l_len = 1,
	};

	if (s->fd < 0)
		/*
		 * acquire: memory-only segments are the tests' stand-in; pairs
		 * with seg_unclaim's release, as the kernel lock orders a real
		 * holder's writes before its unlock.
		 */
		return atom_load_acquire(pid) != 0;
	/* A lock probe that fails says nothing: assume alive, never overwrite. */
	if (fcntl(s->fd, F_OFD_GETLK, &fl) < 0)
		return 1;
	return fl.l_type != F_UNLCK;
}

void seg_unclaim(struct seg *s, uint64_t which, _Atomic uint32_t *pid)
{
	/* release: what the holder wrote is visible to the next one */
	atom_store_release(pid, 0);
	seg_unlock(s, which);
}

uint32_t seg_instance(const char *socket_path)
{
	/* The same hash as type ids: stable, documented, no registry. */
	return bus_type_id(socket_path);
}

void seg_shm_name(char *buf, uint32_t instance, const char *queue,
                  const uint8_t uuid[16], uint32_t owner)
{
	char hex[33];

	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", uuid[i]);
	snprintf(buf, SEG_SHM_NAME_MAX, "/bus.%08x.%s.%s.u%u", instance, queue,
	         hex, owner);
}

int seg_shm_parse_owner(const char *name, uint32_t instance, char *queue,
                        uint8_t uuid[16], uint32_t *owner)
{
	char prefix[16];
	size_t n, qlen;
	const char *q, *u;
	char *end;
	unsigned long v;

	if (*name == '/')
		name++;
	snprintf(prefix, sizeof(prefix), "bus.%08x.", instance);
	if (strncmp(name, prefix, strlen(prefix)) != 0)
		return -EINVAL;
	q = name + strlen(prefix);
	/* the owner: ".u" and decimal digits, last */
	u = strrchr(q, '.');
	if (!u || u[1] != 'u' || u[2] < '0' || u[2] > '9' || (u[2] == '0' && u[3]))
		return -EINVAL;
	errno = 0;
	v = strtoul(u + 2, &end, 10);
	if (*end || errno || v > UINT32_MAX)
		return -EINVAL;
	*owner = (uint32_t)v;
	n = (size_t)(u - q);
	/* queue, '.', 32 hex digits; the queue name may itself hold dots */
	if (n < 34 || q[n - 33] != '.')
		return -EINVAL;
	qlen = n - 33;
	if (qlen > BUS_NAME_MAX)
		return -EINVAL;
	memcpy(queue, q, qlen);
	queue[qlen] = '\0';
	if (!bus_name_valid(queue))
		return -EINVAL;
	for (int i = 0; i < 16; i++) {
		int hi = bits_hex_digit(q[qlen + 1 + 2 * i]), lo = bits_hex_digit(q[qlen + 2 + 2 * i]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		uuid[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int seg_shm_parse(const char *name, uint32_t instance, char *queue,
                  uint8_t uuid[16])
{
	uint32_t owner;

	return seg_shm_parse_owner(name, instance, queue, uuid, &owner);
}

static void set_state(struct seg *s, const struct wait_ops *ops, uint32_t flag)
{
	/*
	 * seq_cst: the store half of both wait handshakes (wait.h); a waiter
	 * that re-checks after announcing sees the state or gets woken.
	 */
	atom_fetch_or_sc(&s->hdr->state, flag);
	wait_signal(ops, &s->hdr->cons_wait, 1, s->wake_fd);
	pollwake_signal_full(ops, s);
}

void seg_set_deleted(struct seg *s, const struct wait_ops *ops)
{
	set_state(s, ops, SEG_STATE_DELETED);
}

void seg_set_broken(struct seg *s, const struct wait_ops *ops)
{
	set_state(s, ops, SEG_STATE_BROKEN);
}

void seg_wake_consumer(struct seg *s, const struct wait_ops *ops)
{
	wait_bump(ops, &s->hdr->cons_wait, 1, s->wake_fd);
}

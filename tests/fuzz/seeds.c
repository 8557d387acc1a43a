/*
 * seeds.c - writes the seed corpora of the fuzz targets.
 *
 *   fuzz_seeds DIR      (DIR is tests/fuzz/corpus)
 *
 * Writes DIR/control, DIR/segment, DIR/ring and DIR/stats, one small
 * file per seed, named for what it holds.  Every seed is built with the code it feeds
 * (protobuf-c packing of control requests, seg_format, a producer sending
 * into a segment in memory), so the seeds start the fuzzer on inputs the
 * targets accept, and near the edges (wrap, padding, dead claims,
 * corrupt records, wrong versions, truncation).  Output is deterministic:
 * fixed uuid, creation time and clock.  Run it once after a change of
 * format; tests/fuzz/corpus is what the replay tests run, and fuzz.sh
 * --merge adds what the fuzzer finds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "control.h"
#include "fuzz.h"

static const char *outdir;
static unsigned written;

static void put(const char *target, const char *name, const void *data,
                size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	written++;
}

/* --- control --- */

static void put_request(const char *name, BusControl__Request *req)
{
	uint8_t buf[CONTROL_MAX_PACKET];
	size_t n = bus_control__request__pack(req, buf);

	put("control", name, buf, n);
}

/* A seed's file name and the queue its request names. */
struct named {
	const char *file, *queue;
};

/* One request a entry of t, with *name set to the entry's queue. */
static void put_each(const struct named *t, size_t n, char **name,
                     BusControl__Request *req)
{
	for (size_t i = 0; i < n; i++) {
		*name = (char *)t[i].queue;
		put_request(t[i].file, req);
	}
}

/* A create request's seed: its file name and the request's fields. */
struct create_seed {
	const char *file, *queue;
	uint64_t capacity;
	uint32_t max_message, max_producers;
};

static void set_create(BusControl__CreateQueue *c, const struct create_seed *s)
{
	c->name = (char *)s->queue;
	c->capacity = s->capacity;
	c->max_message = s->max_message;
	c->max_producers = s->max_producers;
}

static void control_seeds(void)
{
	BusControl__Request req;
	BusControl__Ping ping = BUS_CONTROL__PING__INIT;
	BusControl__CreateQueue create = BUS_CONTROL__CREATE_QUEUE__INIT;
	BusControl__DeleteQueue del = BUS_CONTROL__DELETE_QUEUE__INIT;
	BusControl__ListQueues list = BUS_CONTROL__LIST_QUEUES__INIT;
	BusControl__Attach attach = BUS_CONTROL__ATTACH__INIT;
	static const struct {
		const char *file, *queue;
		BusControl__Role role;
	} attaches[] = {
		{"attach-producer", "fuzz.a", BUS_CONTROL__ROLE__ROLE_PRODUCER},
		{"attach-consumer", "fuzz.a", BUS_CONTROL__ROLE__ROLE_CONSUMER},
		{"attach-observer", "fuzz.a", BUS_CONTROL__ROLE__ROLE_OBSERVER},
		{"attach-unspecified", "fuzz.a", BUS_CONTROL__ROLE__ROLE_UNSPECIFIED},
		{"attach-role-9", "fuzz.a", (BusControl__Role)9},
		{"attach-cfg-producer", "cfg.q", BUS_CONTROL__ROLE__ROLE_PRODUCER},
		{"attach-cfg-consumer", "cfg.q", BUS_CONTROL__ROLE__ROLE_CONSUMER},
		{"attach-other-owned", "fuzz.b", BUS_CONTROL__ROLE__ROLE_PRODUCER},
		{"attach-missing", "nope", BUS_CONTROL__ROLE__ROLE_CONSUMER},
		{"attach-replier", "fuzz.a", BUS_CONTROL__ROLE__ROLE_REPLIER},
		{"attach-reply-queue",
	         ".r.0123456789abcdeffedcba9876543210.0000002a00000007",
	         BUS_CONTROL__ROLE__ROLE_CONSUMER},
	};
	static const struct create_seed creates[] = {
		{"create-default", "new.q", 0, 0, 0},
		{"create-sized", "new.q", 8192, 100, 3},
		{"create-too-big", "new.q", 1u << 20, 0, 0},
		{"create-not-pow2", "new.q", 1000, 0, 0},
		{"create-max-message", "new.q", 4096, 4096, 0},
		{"create-producers", "new.q", 4096, 0, 2000},
		{"create-exists", "fuzz.a", 0, 0, 0},
		{"create-bad-name", "../x", 0, 0, 0},
		{"create-empty-name", "", 0, 0, 0},
		{"create-long-name",
	         "a123456789b123456789c123456789d123456789e123456789f123456789g1234",
	         0, 0, 0},
	};
	static const struct named deletes[] = {
		{"delete-own", "fuzz.a"},
		{"delete-config", "cfg.q"},
		{"delete-other-owned", "fuzz.b"},
		{"delete-missing", "nope"},
		{"delete-bad-name", "."},
	};
	uint8_t buf[512];
	size_t n;

	bus_control__request__init(&req);
	req.version = CONTROL_VERSION;
	req.id = 7;
	req.op_case = BUS_CONTROL__REQUEST__OP_PING;
	req.ping = &ping;
	put_request("ping", &req);
	req.version = 0;
	put_request("ping-version-0", &req);
	req.version = 2;
	put_request("ping-version-2", &req);
	req.version = CONTROL_VERSION;
	req.id = UINT64_MAX;
	put_request("ping-id-max", &req);
	req.id = 7;
	req.op_case = BUS_CONTROL__REQUEST__OP__NOT_SET;
	put_request("no-op", &req);

	req.op_case = BUS_CONTROL__REQUEST__OP_CREATE;
	req.create = &create;
	for (size_t i = 0; i < sizeof(creates) / sizeof(creates[0]); i++) {
		set_create(&create, &creates[i]);
		put_request(creates[i].file, &req);
	}
	/* The sized create (creates[1]), cut short: truncated fields and submessages. */
	set_create(&create, &creates[1]);
	n = bus_control__request__pack(&req, buf);
	put("control", "create-truncated", buf, n - 3);
	put("control", "create-truncated-header", buf, 5);

	req.op_case = BUS_CONTROL__REQUEST__OP_DELETE;
	req.delete_ = &del;
	put_each(deletes, sizeof(deletes) / sizeof(deletes[0]), &del.name, &req);

	req.op_case = BUS_CONTROL__REQUEST__OP_LIST;
	req.list = &list;
	put_request("list", &req);
	list.after = "fuzz.a";
	put_request("list-after", &req);
	list.after = "\x7f\x01";
	put_request("list-after-control-chars", &req);

	req.op_case = BUS_CONTROL__REQUEST__OP_ATTACH;
	req.attach = &attach;
	for (size_t i = 0; i < sizeof(attaches) / sizeof(attaches[0]); i++) {
		attach.name = (char *)attaches[i].queue;
		attach.role = attaches[i].role;
		put_request(attaches[i].file, &req);
	}

	/* Request and reply: a reply queue for a caller of each kind of queue. */
	{
		BusControl__OpenReply open = BUS_CONTROL__OPEN_REPLY__INIT;
		static const struct named opens[] = {
			{"open-reply", "fuzz.a"},
			{"open-reply-config", "cfg.q"},
			{"open-reply-other-owned", "fuzz.b"},
			{"open-reply-missing", "nope"},
			{"open-reply-of-reply", ".r.0123456789abcdeffedcba9876543210.0000002a00000007"},
		};

		req.op_case = BUS_CONTROL__REQUEST__OP_OPEN_REPLY;
		req.open_reply = &open;
		put_each(opens, sizeof(opens) / sizeof(opens[0]), &open.service, &req);
		/* A replier naming a reply_to that no caller has. */
		req.op_case = BUS_CONTROL__REQUEST__OP_ATTACH;
		req.attach = &attach;
		attach.name = "fuzz.a";
		attach.role = BUS_CONTROL__ROLE__ROLE_REPLIER;
		attach.reply_to = UINT64_C(42) << 32 | 7;
		put_request("attach-replier-unknown", &req);
		attach.reply_to = 0;
	}

	/* Two operations of the oneof: the last one wins. */
	req.op_case = BUS_CONTROL__REQUEST__OP_PING;
	req.ping = &ping;
	n = bus_control__request__pack(&req, buf);
	req.op_case = BUS_CONTROL__REQUEST__OP_LIST;
	req.list = &list;
	n += bus_control__request__pack(&req, buf + n);
	put("control", "two-ops", buf, n);

	/* A ping with an unknown field (99, varint) and a response packet. */
	req.op_case = BUS_CONTROL__REQUEST__OP_PING;
	req.ping = &ping;
	n = bus_control__request__pack(&req, buf);
	buf[n++] = 0x98;
	buf[n++] = 0x06;
	buf[n++] = 0x2a;
	put("control", "unknown-field", buf, n);
	{
		BusControl__Response resp = BUS_CONTROL__RESPONSE__INIT;

		resp.version = CONTROL_VERSION;
		resp.id = 7;
		resp.error = -ENOENT;
		resp.message = "no queue 'nope'";
		n = bus_control__response__pack(&resp, buf);
		put("control", "a-response", buf, n);
	}
	put("control", "empty", "", 0);
	put("control", "garbage", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
}

/* --- segments and rings --- */

static const uint8_t seed_uuid[16] = {0xb5, 0x5e, 0xed, 1, 2, 3, 4, 5,
                                      6, 7, 8, 9, 10, 11, 12, 13};

struct mem {
	void *p;
	size_t size;
	struct seg s;
};

static void mem_new(struct mem *m, uint64_t capacity, uint32_t max_message,
                    uint32_t producers, uint64_t pos)
{
	struct seg_params params = {
		.name = "seed.q",
		.capacity = capacity,
		.max_message = max_message,
		.max_producers = producers,
		.initial_pos = pos,
	};
	const char *why = "";

	memcpy(params.uuid, seed_uuid, 16);
	if (seg_size(&params, &m->size, &why) < 0 ||
	    posix_memalign(&m->p, SEG_RING_ALIGN, m->size) != 0) {
		fprintf(stderr, "seeds: %s\n", why);
		exit(1);
	}
	memset(m->p, 0, m->size);
	if (seg_format(m->p, m->size, &params, &why) < 0 ||
	    seg_view(m->p, m->size, &m->s, &why) < 0) {
		fprintf(stderr, "seeds: %s\n", why);
		exit(1);
	}
	m->s.hdr->created_ns = 1700000000000000000u;
}

static bus_producer *producer(struct mem *m)
{
	struct seg s = m->s;
	bus_producer *p;

	if (producer_attach(&s, &fuzz_ops, &p) < 0)
		exit(1);
	return p;
}

static void send_probe(bus_producer *p, uint64_t seq, size_t body_len)
{
	uint8_t body[256];
	Bustest__Probe probe = BUSTEST__PROBE__INIT;

	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(seq * 31 + i);
	probe.producer = bus_producer_slot(p);
	probe.seq = seq;
	probe.body.data = body;
	probe.body.len = body_len < sizeof(body) ? body_len : sizeof(body);
	probe.checksum = 0x5eed;
	if (bus_send_pb(p, bus_type_id("bustest.Probe"), &probe.base, 0) < 0)
		exit(1);
}

static void send_nested(bus_producer *p)
{
	Bustest__Probe probes[2] = {BUSTEST__PROBE__INIT, BUSTEST__PROBE__INIT};
	Bustest__Probe *pp[2] = {&probes[0], &probes[1]};
	Bustest__Nested__CountersEntry ce = BUSTEST__NESTED__COUNTERS_ENTRY__INIT;
	Bustest__Nested__CountersEntry *cp[1] = {&ce};
	Bustest__Nested n = BUSTEST__NESTED__INIT;

	probes[1].seq = 9;
	ce.key = "sent";
	ce.value = 1007;
	n.name = "batch";
	n.n_probes = 2;
	n.probes = pp;
	n.n_counters = 1;
	n.counters = cp;
	if (bus_send_pb(p, bus_type_id("bustest.Nested"), &n.base, 0) < 0)
		exit(1);
}

static void send_raw(bus_producer *p, const char *text)
{
	if (bus_send(p, 1, text, strlen(text), 0) < 0)
		exit(1);
}

/* A segment as mem_new makes it, with a producer attached. */
static bus_producer *mem_with_producer(struct mem *m, uint64_t capacity,
                                       uint32_t max_message, uint32_t producers,
                                       uint64_t pos)
{
	mem_new(m, capacity, max_message, producers, pos);
	return producer(m);
}

static void mem_done(struct mem *m, bus_producer *p)
{
	bus_producer_close(p);
	free(m->p);
}

/* Probes of 10 and 100 bytes, then a raw "hello". */
static void send_hello(bus_producer *p)
{
	send_probe(p, 1, 10);
	send_probe(p, 2, 100);
	send_raw(p, "hello");
}

/* From 48 bytes before the ring's end: padding, then a record at the start. */
static void send_wrap_padding(bus_producer *p)
{
	send_probe(p, 1, 4);
	send_probe(p, 2, 60);
	send_nested(p);
}

static void send_three(bus_producer *p)
{
	send_raw(p, "one");
	send_raw(p, "two");
	send_raw(p, "three");
}

/* Reads (and releases, if asked) k messages as a consumer would. */
static void consume(struct mem *m, unsigned k, bool release)
{
	struct seg s = m->s;
	bus_consumer *c;
	bus_msg msg;

	if (consumer_attach(&s, &fuzz_ops, &c) < 0)
		exit(1);
	for (unsigned i = 0; i < k; i++)
		if (bus_recv(c, &msg, 0) < 0)
			exit(1);
	if (release) {
		bus_consumer_close(c);
		return;
	}
	/* A consumer that dies holding them: the lease and cursor stay. */
	free(c);
}

/* The record at the head: for corrupting seeds. */
static struct rec_hdr *rec_at(struct mem *m, uint64_t pos)
{
	return (struct rec_hdr *)(m->s.ring + (pos & (m->s.capacity - 1)));
}

/*
 * Writes the segment image.  Pids of the producers and consumer attached
 * (in memory, a role is held while its pid field is not 0) are written
 * as 1000, so that the seeds do not change from run to run.
 */
static void put_segment(const char *name, struct mem *m)
{
	uint8_t *copy = malloc(m->size);
	struct seg_header *h = (struct seg_header *)copy;

	if (!copy)
		exit(1);
	memcpy(copy, m->p, m->size);
	if (atomic_load(&h->cons_pid))
		atomic_store(&h->cons_pid, 1000);
	for (uint32_t i = 0; i < m->s.max_producers; i++) {
		struct seg_slot *slot = (struct seg_slot *)(copy + h->slots_offset) + i;

		if (atomic_load(&slot->pid))
			atomic_store(&slot->pid, 1000);
	}
	put("segment", name, copy, m->size);
	free(copy);
}

/*
 * The first 5 bytes of a ring or stats seed (into buf): flags, then the
 * head (from the base that flags bit 0 picks) and the bytes in use, in
 * 8-byte units.  The seed must fit fuzz_TARGET: a ring of 1024 bytes and
 * that many producer slots.  Returns the consumer's read position less
 * the head.
 */
static uint64_t put_positions(uint8_t *buf, const char *target, const char *name,
                              const struct mem *m, uint8_t flags, uint32_t producers)
{
	uint64_t head = atomic_load(&m->s.hdr->head);
	uint64_t tail = atomic_load(&m->s.hdr->tail);
	uint64_t read = atomic_load(&m->s.hdr->cons.read_pos);
	uint64_t base = flags & 0x01 ? UINT64_MAX - 4095 : 0;
	uint64_t hv = (head - base) / 8, used = (tail - head) / 8;

	if (m->s.capacity != 1024 || m->s.max_producers != producers || hv > 0xffff) {
		fprintf(stderr, "seeds: %s seed %s does not fit fuzz_%s\n", target, name,
		        target);
		exit(1);
	}
	buf[0] = flags;
	buf[1] = (uint8_t)hv;
	buf[2] = (uint8_t)(hv >> 8);
	buf[3] = (uint8_t)used;
	buf[4] = (uint8_t)(used >> 8);
	return read - head;
}

/* Writes the ring seed: fuzz_ring's 16-byte prefix, then the ring from head. */
static void put_ring(const char *name, struct mem *m, uint8_t flags,
                     int16_t claim_off, uint16_t claim_need, uint8_t slot)
{
	uint8_t buf[16 + 1024];
	uint64_t head = atomic_load(&m->s.hdr->head);
	uint64_t rv = put_positions(buf, "ring", name, m, flags, 2) / 8;
	uint32_t salt = 0x00402010;

	buf[5] = (uint8_t)(rv <= 0xffff ? rv : 0);
	buf[6] = (uint8_t)((rv <= 0xffff ? rv : 0) >> 8);
	buf[7] = (uint8_t)claim_off;
	buf[8] = (uint8_t)((uint16_t)claim_off >> 8);
	buf[9] = (uint8_t)claim_need;
	buf[10] = (uint8_t)(claim_need >> 8);
	buf[11] = slot;
	memcpy(buf + 12, &salt, 4);
	for (size_t i = 0; i < 1024; i++)
		buf[16 + i] = m->s.ring[(head + i) & 1023];
	/* Trailing zeros add nothing the target does not pad with itself. */
	size_t n = 16 + 1024;
	while (n > 16 && buf[n - 1] == 0)
		n--;
	put("ring", name, buf, n);
}

static void segment_seeds(void)
{
	struct mem m;
	bus_producer *p;

	mem_new(&m, 256, 0, 1, 0);
	put_segment("empty-256", &m);
	/* Only the header: the target pads it to total_size. */
	put("segment", "header-only", m.p, sizeof(struct seg_header));
	put("segment", "truncated-header", m.p, 1000);
	m.s.hdr->version = 2;
	put_segment("version-2", &m);
	m.s.hdr->version = 1;
	m.s.hdr->magic ^= 1;
	put_segment("bad-magic", &m);
	free(m.p);

	p = mem_with_producer(&m, 1024, 0, 2, 0);
	send_hello(p);
	put_segment("probes-1024", &m);
	consume(&m, 1, true);
	put_segment("probes-consumed-one", &m);
	consume(&m, 1, false);
	put_segment("probes-redeliver", &m);
	mem_done(&m, p);

	/* Positions near the end: padding, then a record at the start. */
	p = mem_with_producer(&m, 1024, 0, 2, 1024 - 48);
	send_wrap_padding(p);
	put_segment("wrap-padding", &m);
	mem_done(&m, p);

	/* 64-bit positions that wrap past 2^64. */
	p = mem_with_producer(&m, 512, 0, 1, UINT64_MAX - 511);
	send_probe(p, 1, 100);
	send_probe(p, 2, 100);
	put_segment("wrap-2-64", &m);
	mem_done(&m, p);

	/* A claim never committed, by a producer now gone: recovery. */
	p = mem_with_producer(&m, 1024, 0, 2, 0);
	send_probe(p, 1, 8);
	{
		struct rec_hdr *r;
		struct ring_prod rp;

		ring_prod_init(&rp, &m.s, 1);
		atomic_store(&m.s.slots[1].pid, 0);
		if (ring_claim(&rp, 40, &r) < 0)
			exit(1);
	}
	send_raw(p, "after the dead claim");
	put_segment("dead-claim", &m);
	mem_done(&m, p);

	/* Corrupt records: unknown flags (framed), and a bad length. */
	p = mem_with_producer(&m, 1024, 64, 2, 0);
	send_three(p);
	rec_at(&m, 40)->flags = 7;
	put_segment("corrupt-flags", &m);
	atomic_store(&rec_at(&m, 40)->len, 1000);
	put_segment("corrupt-length", &m);
	mem_done(&m, p);

	/* Deleted with messages left; more producers, a bigger ring. */
	p = mem_with_producer(&m, 4096, 0, 4, 0);
	for (uint64_t i = 0; i < 12; i++)
		send_probe(p, i, 200);
	send_nested(p);
	put_segment("full-4096", &m);
	atomic_store(&m.s.hdr->state, SEG_STATE_DELETED);
	put_segment("deleted", &m);
	mem_done(&m, p);
}

static void ring_seeds(void)
{
	struct mem m;
	bus_producer *p;

	mem_new(&m, 1024, 0, 2, 0);
	put_ring("empty", &m, 0, 0, 0, 0);
	p = producer(&m);
	send_hello(p);
	put_ring("probes", &m, 0, 0, 0, 0);
	put_ring("probes-release-each", &m, 0x02, 0, 0, 0);
	put_ring("probes-batch", &m, 0x04, 0, 0, 0);
	put_ring("probes-then-send", &m, 0x08, 0, 0, 0);
	consume(&m, 1, false);
	put_ring("probes-redeliver", &m, 0, 0, 0, 0);
	mem_done(&m, p);

	/* Records of calls: a request, a reply, then one too short. */
	p = mem_with_producer(&m, 1024, 0, 2, 0);
	{
		struct rec_call call = {.call_id = 1, .reply_to = 0x1234};
		uint64_t pos;

		if (producer_send_call(p, REC_REQUEST, &call, 0, "question", 8, 0) < 0 ||
		    producer_send_call(p, REC_REPLY, &call, 0, "answer", 6, 0) < 0)
			exit(1);
		put_ring("calls", &m, 0x04, 0, 0, 0);
		pos = atomic_load(&m.s.hdr->tail);
		if (producer_send_call(p, REC_REQUEST, &call, 0, NULL, 0, 0) < 0)
			exit(1);
		send_raw(p, "after the short call");
		atomic_store(&rec_at(&m, pos)->len, REC_HDR + 8);
		put_ring("call-short", &m, 0x02, 0, 0, 0);
	}
	mem_done(&m, p);

	p = mem_with_producer(&m, 1024, 0, 2, 1024 - 48);
	send_wrap_padding(p);
	put_ring("wrap-padding", &m, 0x02, 0, 0, 0);
	mem_done(&m, p);

	p = mem_with_producer(&m, 1024, 0, 2, UINT64_MAX - 4095 + 8 * 120);
	send_probe(p, 1, 100);
	send_probe(p, 2, 100);
	put_ring("wrap-2-64", &m, 0x01, 0, 0, 0);
	mem_done(&m, p);

	/* A claim of 40 bytes at the head whose producer (slot 1) is dead. */
	mem_new(&m, 1024, 0, 2, 64);
	{
		struct rec_hdr *r;
		struct ring_prod rp;

		ring_prod_init(&rp, &m.s, 1);
		if (ring_claim(&rp, 40, &r) < 0)
			exit(1);
	}
	p = producer(&m);
	send_raw(p, "after the dead claim");
	put_ring("dead-claim", &m, 0x10, 0, 72, 0x01);
	put_ring("live-claim", &m, 0x10, 0, 72, 0x81);
	/* Killed before its first store: the claim holds only zeros. */
	atomic_store(&rec_at(&m, 64)->len, 0);
	put_ring("dead-claim-zeros", &m, 0x10, 0, 72, 0x01);
	mem_done(&m, p);

	/* Marked dead already, and corrupt records. */
	p = mem_with_producer(&m, 1024, 64, 2, 0);
	send_three(p);
	rec_at(&m, 0)->flags = REC_DEAD;
	put_ring("dead-record", &m, 0x20, 0, 0, 0);
	rec_at(&m, 40)->flags = 7;
	put_ring("corrupt-flags", &m, 0x20, 0, 0, 0);
	atomic_store(&rec_at(&m, 40)->len, 1000);
	put_ring("corrupt-length", &m, 0x20, 0, 0, 0);
	mem_done(&m, p);

	/* A ring filled to the brim, then a producer tries once more. */
	p = mem_with_producer(&m, 1024, 0, 2, 0);
	for (uint64_t i = 0; i < 6; i++)
		send_probe(p, i, 100);
	send_nested(p);
	put_ring("full", &m, 0x08 | 0x04, 0, 0, 0);
	mem_done(&m, p);
}

/* --- unpack --- */

/* Writes an unpack seed: type, arena size, then A and B. */
static void put_unpack(const char *name, uint8_t type, uint16_t arena,
                       const uint8_t *a, size_t alen, const uint8_t *b,
                       size_t blen)
{
	uint8_t buf[3 + 2 * 8192];

	if (alen != blen || alen > 8192) {
		fprintf(stderr, "seeds: unpack %s: A and B must be one length\n", name);
		exit(1);
	}
	buf[0] = type;
	buf[1] = (uint8_t)arena;
	buf[2] = (uint8_t)(arena >> 8);
	memcpy(buf + 3, a, alen);
	memcpy(buf + 3 + alen, b, blen);
	put("unpack", name, buf, 3 + alen + blen);
}

static size_t pack_samples(uint8_t *buf, size_t n, uint32_t v)
{
	static uint32_t vals[2000];
	Bustest__Samples s;

	bustest__samples__init(&s);
	for (size_t i = 0; i < n; i++)
		vals[i] = v;
	s.n_values = n;
	s.values = vals;
	return bustest__samples__pack(&s, buf);
}

static void unpack_seeds(void)
{
	static uint8_t a[8192], b[8192];
	uint8_t body[64];
	Bustest__Probe probe;
	size_t la, lb;

	/*
	 * The attack on a packed field: one length, 400 elements of five
	 * bytes against 2,000 of one.  Counted as A and decoded as B, the
	 * array overflows by 6,400 bytes.
	 */
	la = pack_samples(a, 400, UINT32_C(0xf0000000));
	lb = pack_samples(b, 2000, 1);
	put_unpack("samples-count-flip", 0, 4095, a, la, b, lb);
	/* The same in a small arena: the copy alone does not fit. */
	put_unpack("samples-small-arena", 0, 1024, a, la, b, lb);
	/* A probe whose body length byte changes. */
	bustest__probe__init(&probe);
	memset(body, 'x', sizeof(body));
	probe.producer = 7;
	probe.seq = 42;
	probe.body.data = body;
	probe.body.len = sizeof(body);
	la = bustest__probe__pack(&probe, a);
	memcpy(b, a, la);
	for (size_t i = 0; i < la; i++)
		if (b[i] == sizeof(body))
			b[i] = 0x7f;
	put_unpack("probe-length-flip", 2, 512, a, la, b, la);
}

/*
 * Writes the stats seed: fuzz_stats's 32-byte prefix, then the ring from
 * head.  The consumer's stall note is given (its position relative to the
 * head, and how many microseconds before the target's clock), the rest
 * is the segment's own.
 */
static void put_stats(const char *name, struct mem *m, uint8_t flags,
                      int16_t note_off, int16_t note_us)
{
	uint8_t buf[32 + 1024];
	uint64_t head = atomic_load(&m->s.hdr->head);
	int64_t rv;
	size_t n = sizeof(buf);

	memset(buf, 0, sizeof(buf));
	rv = (int64_t)put_positions(buf, "stats", name, m, flags, 4) / 8;
	if (rv < INT16_MIN || rv > INT16_MAX)
		rv = 0;
	buf[5] = (uint8_t)rv;
	buf[6] = (uint8_t)((uint16_t)rv >> 8);
	buf[7] = (uint8_t)note_off;
	buf[8] = (uint8_t)((uint16_t)note_off >> 8);
	buf[9] = (uint8_t)note_us;
	buf[10] = (uint8_t)((uint16_t)note_us >> 8);
	for (uint32_t i = 0; i < 4; i++) {
		struct seg_slot *slot = &m->s.slots[i];
		uint64_t need = atomic_load(&slot->claim_need);
		int64_t at = (int64_t)(atomic_load(&slot->claim_pos) - head);
		uint8_t *b = buf + 11 + 5 * i;

		if (need == 0 || at < INT16_MIN || at > INT16_MAX)
			at = 0;
		b[0] = (uint8_t)at;
		b[1] = (uint8_t)((uint16_t)at >> 8);
		b[2] = (uint8_t)need;
		b[3] = (uint8_t)(need >> 8);
		/* in memory a slot is held while its pid is not 0 */
		b[4] = atomic_load(&slot->pid) ? 100 + (uint8_t)i : 0;
	}
	buf[31] = flags & 0x04 ? (uint8_t)'/' : (uint8_t)'x';
	for (size_t i = 0; i < 1024; i++)
		buf[32 + i] = m->s.ring[(head + i) & 1023];
	/* Trailing zeros add nothing the target does not pad with itself. */
	while (n > 32 && buf[n - 1] == 0)
		n--;
	put("stats", name, buf, n);
}

static void stats_seeds(void)
{
	struct mem m;
	bus_producer *p, *q;
	struct rec_hdr *r;
	struct ring_prod rp;

	mem_new(&m, 1024, 0, 4, 0);
	put_stats("empty", &m, 0, 0, 0);
	p = producer(&m);
	send_hello(p);
	put_stats("probes", &m, 0x02, 0, 0);
	put_stats("name-scribbled", &m, 0x04, 0, 0);
	mem_done(&m, p);

	/*
	 * The head in the last 8, 16, 24 bytes of the ring: padding whose
	 * flags read 0 (being zeroed), then a message at the ring's start.
	 * The reader once took it for a message and read its stamp past the
	 * end of the mapping.
	 */
	for (uint64_t off = 8; off <= 24; off += 8) {
		char file[32];

		p = mem_with_producer(&m, 1024, 0, 4, 1024 - off);
		send_raw(p, "behind the padding");
		rec_at(&m, 1024 - off)->flags = 0;
		snprintf(file, sizeof(file), "head-last-%u", (unsigned)off);
		put_stats(file, &m, 0, 0, 0);
		mem_done(&m, p);
	}

	/* A claim at the head (slot 0) with a message committed behind it. */
	p = mem_with_producer(&m, 1024, 0, 4, 64);
	q = producer(&m);
	ring_prod_init(&rp, &m.s, bus_producer_slot(p));
	if (ring_claim(&rp, 40, &r) < 0)
		exit(1);
	send_raw(q, "behind the stalled claim");
	put_stats("stall-behind", &m, 0x02, 0, 0);
	/* the consumer noted it 5 ms ago */
	put_stats("stall-noted", &m, 0x02, 0, 5000);
	/* stopped before its first store: only the slot's intent frames it */
	atomic_store(&rec_at(&m, 64)->len, 0);
	put_stats("stall-zeros", &m, 0x02, 0, 0);
	bus_producer_close(q);
	mem_done(&m, p);

	/* Each seed is written out, alike on purpose: the corpus documents itself. */
	/* A claim that wraps: padding, then the claim at the ring's start. */
	p = mem_with_producer(&m, 1024, 0, 4, UINT64_MAX - 4095 + 1024 - 40);
	q = producer(&m);
	ring_prod_init(&rp, &m.s, bus_producer_slot(p));
	if (ring_claim(&rp, 32, &r) < 0)
		exit(1);
	send_raw(q, "after the wrap");
	put_stats("stall-wrap-2-64", &m, 0x01, 40, 300);
	bus_producer_close(q);
	mem_done(&m, p);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_seeds CORPUS_DIR\n");
		return 2;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0755) < 0 && errno != EEXIST) {
		perror(outdir);
		return 1;
	}
	control_seeds();
	segment_seeds();
	ring_seeds();
	unpack_seeds();
	stats_seeds();
	printf("wrote %u seeds under %s\n", written, outdir);
	return 0;
}

/*
 * call.c - the caller's side of request and reply (bus_client_*).
 *
 * A client is two handles: a producer of the service's queue, and the
 * consumer of a reply queue busd made for it (client_open_reply), which
 * only it reads and busd deletes when it closes or dies.  A request is a
 * REC_REQUEST record whose call header (ring.h) carries the call's number
 * and the reply queue's name for busd; the service's bus_reply() answers
 * with a REC_REPLY record carrying the same number.
 *
 * Every call the client waits for is in a set (the calls in flight); a
 * reply is returned only if its number is taken out of that set, so a
 * reply to a call given up (timed out, cancelled) or answered twice is
 * dropped and counted in the caller's slot of the service queue
 * (slot.late), never returned as the answer to another call.  Numbers
 * are never reused: a 64-bit counter from 1.
 *
 * Nothing here makes a system call while replies flow: sending and
 * receiving are the producer's and consumer's own paths, and the set is
 * private memory, grown (allocated) only when more calls are in flight
 * than ever before.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "bus/bus.h"
#include "client.h"
#include "control.h"
#include "handle.h"
#include "ring.h"
#include "util/nstime.h"

/* Calls in flight: an open-addressing set of call numbers (0: empty). */
struct flight {
	uint64_t *v;
	size_t cap; /* a power of two, or 0 */
	size_t n;
};

struct bus_client {
	bus_producer *req; /* to the service's queue */
	bus_consumer *rep; /* the reply queue's consumer */
	uint64_t reply_to; /* what requests carry for busd */
	uint64_t last_id;  /* the last call number used */
	bool held;         /* replies received and not yet released */
	struct flight flight;
	char busd[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* its socket */
	char reply_name[BUS_NAME_MAX + 1];
};

#define FLIGHT_MIN 16u

static size_t flight_home(const struct flight *f, uint64_t id)
{
	/* Fibonacci hashing: call numbers are consecutive */
	return (size_t)((id * UINT64_C(0x9e3779b97f4a7c15)) >> 32) & (f->cap - 1);
}

static bool flight_has(const struct flight *f, uint64_t id, size_t *at)
{
	if (!f->cap)
		return false;
	for (size_t i = flight_home(f, id);; i = (i + 1) & (f->cap - 1)) {
		if (f->v[i] == id) {
			*at = i;
			return true;
		}
		if (f->v[i] == 0)
			return false;
	}
}

static void flight_put(struct flight *f, uint64_t id)
{
	size_t i = flight_home(f, id);

	while (f->v[i])
		i = (i + 1) & (f->cap - 1);
	f->v[i] = id;
	f->n++;
}

/* Room for one more, keeping the set at most half full. */
static int flight_reserve(struct flight *f)
{
	struct flight g;

	if (2 * (f->n + 1) <= f->cap)
		return 0;
	g.cap = f->cap ? 2 * f->cap : FLIGHT_MIN;
	g.n = 0;
	g.v = calloc(g.cap, sizeof(*g.v));
	if (!g.v)
		return -ENOMEM;
	for (size_t i = 0; i < f->cap; i++)
		if (f->v[i])
			flight_put(&g, f->v[i]);
	free(f->v);
	*f = g;
	return 0;
}

/* Takes id out of the set; false if it was not in flight. */
static bool flight_take(struct flight *f, uint64_t id)
{
	size_t i, j;

	if (id == 0 || !flight_has(f, id, &i))
		return false;
	/* Backward-shift deletion: no tombstones, probes stay short. */
	for (j = (i + 1) & (f->cap - 1); f->v[j]; j = (j + 1) & (f->cap - 1)) {
		size_t home = flight_home(f, f->v[j]);

		/* v[j] may move to i only if its home is not in (i, j]. */
		if (((j - home) & (f->cap - 1)) >= ((j - i) & (f->cap - 1))) {
			f->v[i] = f->v[j];
			i = j;
		}
	}
	f->v[i] = 0;
	f->n--;
	return true;
}

static uint64_t now_ms(void)
{
	return nstime_mono() / 1000000;
}

/* What is left of a timeout that ends at end (timeout_ms <= 0: as is). */
static int left_ms(int timeout_ms, uint64_t end)
{
	uint64_t now;

	if (timeout_ms <= 0)
		return timeout_ms;
	now = now_ms();
	return now >= end ? 0 : (int)(end - now);
}

int bus_client_open(bus *b, const char *service_queue, bus_client **ret)
{
	int fds[CONTROL_MAX_FDS] = {-1, -1}, rc;
	bus_queue_info info;
	bus_client *cl;

	if (!b || !ret || !bus_name_valid(service_queue))
		return -EINVAL;
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return -ENOMEM;
	snprintf(cl->busd, sizeof(cl->busd), "%s", client_socket_path(b));
	rc = bus_producer_open(b, service_queue, &cl->req);
	if (rc < 0)
		goto fail;
	rc = client_open_reply(b, service_queue, fds, &cl->reply_to, &info);
	if (rc < 0)
		goto fail;
	memcpy(cl->reply_name, info.name, sizeof(cl->reply_name));
	rc = bus_consumer_open_fd(fds[0], &cl->rep);
	if (rc < 0) {
		for (int i = 0; i < CONTROL_MAX_FDS; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		bus_queue_delete(b, cl->reply_name);
		goto fail;
	}
	/* The handle owns it from here (seg_close). */
	consumer_seg(cl->rep)->wake_fd = fds[1];
	*ret = cl;
	return 0;
fail:
	bus_producer_close(cl->req);
	free(cl);
	return rc;
}

void bus_client_close(bus_client *cl)
{
	bus *b;

	if (!cl)
		return;
	bus_consumer_close(cl->rep);
	bus_producer_close(cl->req);
	/*
	 * The reply queue goes now if busd can be reached; otherwise busd
	 * finds its consumer gone (no lock held) when it next starts, or
	 * sees this process die.
	 */
	if (bus_open(cl->busd, &b) == 0) {
		bus_queue_delete(b, cl->reply_name);
		bus_close(b);
	}
	free(cl->flight.v);
	free(cl);
}

void bus_client_release(bus_client *cl)
{
	if (!cl || !cl->held)
		return;
	bus_release(cl->rep);
	cl->held = false;
}

/* Drops a reply nobody waits for: counted where the service's stats see it. */
static void drop_late(bus_client *cl)
{
	producer_count_late(cl->req);
	/* Nothing else held: its space goes back at once. */
	if (!cl->held)
		bus_release(cl->rep);
}

static int send_request(bus_client *cl, uint64_t id, uint32_t type,
                        const void *req, size_t len, int timeout_ms)
{
	struct rec_call call = {.call_id = id, .reply_to = cl->reply_to};

	return producer_send_call(cl->req, REC_REQUEST, &call, type, req, len,
	                          timeout_ms);
}

int bus_client_call(bus_client *cl, uint32_t type, const void *req, size_t len,
                    bus_msg *reply, int timeout_ms)
{
	uint64_t end = timeout_ms > 0 ? now_ms() + (uint64_t)timeout_ms : 0;
	uint64_t id;
	bus_msg m;
	int rc;

	if (!cl || !reply || (!req && len))
		return -EINVAL;
	if (cl->flight.n)
		return -EBUSY;
	bus_client_release(cl);
	id = ++cl->last_id;
	rc = send_request(cl, id, type, req, len, timeout_ms);
	if (rc < 0)
		return rc;
	for (;;) {
		rc = bus_recv(cl->rep, &m, left_ms(timeout_ms, end));
		if (rc == -EAGAIN)
			rc = -ETIMEDOUT;
		if (rc < 0)
			return rc;
		if ((m.flags & BUS_MSG_REPLY) && m.call_id == id)
			break;
		drop_late(cl);
	}
	cl->held = true;
	*reply = m;
	return 0;
}

int bus_client_send(bus_client *cl, uint32_t type, const void *req, size_t len,
                    uint64_t *call_id)
{
	uint64_t id;
	int rc;

	if (!cl || (!req && len))
		return -EINVAL;
	rc = flight_reserve(&cl->flight);
	if (rc < 0)
		return rc;
	id = cl->last_id + 1;
	rc = send_request(cl, id, type, req, len, -1);
	if (rc < 0)
		return rc;
	cl->last_id = id;
	flight_put(&cl->flight, id);
	if (call_id)
		*call_id = id;
	return 0;
}

int bus_client_recv(bus_client *cl, bus_msg *reply, uint64_t *call_id,
                    int timeout_ms)
{
	uint64_t end = timeout_ms > 0 ? now_ms() + (uint64_t)timeout_ms : 0;
	bus_msg m;
	int rc;

	if (!cl || !reply)
		return -EINVAL;
	for (;;) {
		rc = bus_recv(cl->rep, &m, left_ms(timeout_ms, end));
		if (rc < 0)
			return rc;
		if ((m.flags & BUS_MSG_REPLY) && flight_take(&cl->flight, m.call_id))
			break;
		drop_late(cl);
	}
	cl->held = true;
	*reply = m;
	if (call_id)
		*call_id = m.call_id;
	return 0;
}

int bus_client_cancel(bus_client *cl, uint64_t call_id)
{
	if (!cl)
		return -EINVAL;
	return flight_take(&cl->flight, call_id) ? 0 : -ENOENT;
}

int bus_client_fd(bus_client *cl)
{
	if (!cl)
		return -EINVAL;
	return bus_consumer_fd(cl->rep);
}

int bus_client_set_spin(bus_client *cl, uint32_t spin_ns)
{
	if (!cl)
		return -EINVAL;
	bus_producer_set_spin(cl->req, spin_ns);
	return bus_consumer_set_spin(cl->rep, spin_ns);
}

size_t bus_client_max_request(const bus_client *cl)
{
	size_t max = cl ? bus_producer_max_message(cl->req) : 0;

	return max > REC_CALL_HDR ? max - REC_CALL_HDR : 0;
}

size_t bus_client_in_flight(const bus_client *cl)
{
	return cl ? cl->flight.n : 0;
}

/*
 * rpc-client.c - a caller: asks a service (rpc-server) COUNT times what
 * a quantity of SYMBOL costs, and prints each answer.
 *
 *   rpc-client QUEUE SYMBOL [COUNT [TIMEOUT_MS]]
 *                               (busd's socket: $BUS_SOCKET, else the default)
 *
 * Public API only: bus_client_open() attaches a producer to the
 * service's queue and has busd make a reply queue that only this client
 * reads (and that busd deletes when the client closes or dies).  Call i
 * (from 1) asks for i units: a demo.PriceQuery packed with protobuf-c
 * goes out with bus_client_call(), which waits at most TIMEOUT_MS
 * (default 2000) for its demo.PriceQuote, decoded from the reply queue
 * with bus_msg_unpack().  Exit status 0 when every call was answered, 1
 * on failure (no busd, no such queue, no answer in time, a bad answer),
 * 2 for bad usage.
 *
 * Like every example here it stands alone, to be read and copied whole:
 * its usage check, bus_open() and attach are the other examples' on
 * purpose, not a shared helper.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bus/bus.h>

#include "demo.pb-c.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: rpc-client QUEUE SYMBOL [COUNT (1 to 1000000) [TIMEOUT_MS (1 to "
	           "3600000)]]\n");
}

/* Prints one answer; returns 0, or -1 if it is no quote for query q. */
static int print_quote(const bus_msg *reply, const Demo__PriceQuery *q)
{
	_Alignas(16) unsigned char arena[4096];
	ProtobufCMessage *pb;
	Demo__PriceQuote *a;

	if (reply->type != bus_type_id("demo.PriceQuote") ||
	    bus_msg_unpack(reply, &demo__price_quote__descriptor, arena, sizeof(arena), &pb) < 0) {
		fprintf(stderr, "rpc-client: an answer that is no demo.PriceQuote\n");
		return -1;
	}
	a = (Demo__PriceQuote *)pb;
	if (strcmp(a->symbol, q->symbol) != 0 || a->qty != q->qty) {
		fprintf(stderr, "rpc-client: a quote for %s x%" PRIu32 ", asked %s x%" PRIu32 "\n",
		        a->symbol, a->qty, q->symbol, q->qty);
		return -1;
	}
	if (!a->known)
		printf("%s x%" PRIu32 ": not priced\n", a->symbol, a->qty);
	else
		printf("%s x%" PRIu32 ": %" PRIu64 ".%02" PRIu64 " (%" PRIu64 ".%02" PRIu64
		       " each)\n",
		       a->symbol, a->qty, a->total_cents / 100, a->total_cents % 100,
		       a->unit_cents / 100, a->unit_cents % 100);
	return 0;
}

int main(int argc, char **argv)
{
	long count = argc >= 4 ? strtol(argv[3], NULL, 10) : 3;
	long timeout_ms = argc >= 5 ? strtol(argv[4], NULL, 10) : 2000;
	unsigned char req[512];
	bus_client *cl;
	bus *b;
	int rc = 0;

	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		printf("Calls the service on QUEUE (rpc-server) COUNT times (default 3), call i\n"
		       "asking the price of i units of SYMBOL, waiting at most TIMEOUT_MS for\n"
		       "each answer (default 2000); busd's socket: $BUS_SOCKET, else the default.\n");
		return 0;
	}
	if (argc < 3 || argc > 5 || count < 1 || count > 1000000 || timeout_ms < 1 ||
	    timeout_ms > 3600000 || strlen(argv[2]) > 256) {
		usage(stderr);
		return 2;
	}
	rc = bus_open(NULL, &b);
	if (rc < 0) {
		fprintf(stderr, "rpc-client: cannot reach busd: %s\n", bus_strerror(rc));
		return 1;
	}
	rc = bus_client_open(b, argv[1], &cl);
	bus_close(b); /* the client keeps no reference to it */
	if (rc < 0) {
		fprintf(stderr, "rpc-client: call '%s': %s%s\n", argv[1], bus_strerror(rc),
		        rc == -EOPNOTSUPP ? " (busd without request and reply)" : "");
		return 1;
	}
	for (long i = 1; i <= count && rc == 0; i++) {
		Demo__PriceQuery q = DEMO__PRICE_QUERY__INIT;
		bus_msg reply;

		q.symbol = argv[2];
		q.qty = (uint32_t)i;
		rc = bus_client_call(cl, bus_type_id("demo.PriceQuery"), req,
		                     demo__price_query__pack(&q, req), &reply, (int)timeout_ms);
		if (rc == -ETIMEDOUT)
			fprintf(stderr, "rpc-client: call %ld: no answer from '%s' in %ld ms "
			                "(is a service consuming it?)\n",
			        i, argv[1], timeout_ms);
		else if (rc < 0)
			fprintf(stderr, "rpc-client: call %ld to '%s': %s\n", i, argv[1],
			        bus_strerror(rc));
		else if (print_quote(&reply, &q) < 0)
			rc = -EBADMSG;
		/* The reply is a view into the reply queue until released. */
		bus_client_release(cl);
	}
	bus_client_close(cl);
	return rc < 0 ? 1 : 0;
}

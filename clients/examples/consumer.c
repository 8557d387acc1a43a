/*
 * consumer.c - the smallest consumer: receive COUNT messages and print them.
 *
 *   consumer QUEUE [COUNT]      (busd's socket: $BUS_SOCKET, else the default)
 *
 * Public API only: connect to busd, attach as the queue's consumer, and
 * receive; a demo.Order is decoded straight from the ring into a stack
 * arena with bus_msg_unpack(), anything else is printed as text.  Each
 * message is released once printed.  Exit status 0 when COUNT messages
 * arrived, 1 on failure, 2 for bad usage.
 *
 * Like every example here it stands alone, to be read and copied whole:
 * its usage check, bus_open() and attach are the other examples' on
 * purpose, not a shared helper.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <bus/bus.h>

#include "demo.pb-c.h"

int main(int argc, char **argv)
{
	long count = argc == 3 ? strtol(argv[2], NULL, 10) : 3;
	_Alignas(16) unsigned char arena[4096];
	bus_consumer *c;
	bus *b;
	int rc;

	if (argc < 2 || argc > 3 || count < 1) {
		fprintf(stderr, "usage: consumer QUEUE [COUNT (at least 1)]\n");
		return 2;
	}
	rc = bus_open(NULL, &b);
	if (rc < 0) {
		fprintf(stderr, "consumer: cannot reach busd: %s\n", bus_strerror(rc));
		return 1;
	}
	rc = bus_consumer_open(b, argv[1], &c);
	bus_close(b); /* busd is not on the data path */
	if (rc < 0) {
		fprintf(stderr, "consumer: attach to '%s': %s\n", argv[1], bus_strerror(rc));
		return 1;
	}
	for (long i = 0; i < count && rc == 0; i++) {
		ProtobufCMessage *pb;
		bus_msg m;

		rc = bus_recv(c, &m, 5000); /* at most 5 s per message */
		if (rc < 0)
			break;
		if (m.type == bus_type_id("demo.Order") &&
		    bus_msg_unpack(&m, &demo__order__descriptor, arena, sizeof(arena), &pb) == 0) {
			Demo__Order *o = (Demo__Order *)pb;

			printf("order %" PRIu64 ": %s %+" PRId64 " @ %" PRId64 ".%06" PRId64 "\n",
			       o->id, o->symbol, o->quantity, o->price_micros / 1000000,
			       o->price_micros % 1000000);
		} else {
			printf("text: %.*s\n", (int)m.len, (const char *)m.data);
		}
		bus_release(c); /* done with it: its space goes back to the producers */
	}
	bus_consumer_close(c);
	if (rc < 0) {
		fprintf(stderr, "consumer: receive from '%s': %s\n", argv[1], bus_strerror(rc));
		return 1;
	}
	return 0;
}

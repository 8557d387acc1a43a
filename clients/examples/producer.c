/*
 * producer.c - the smallest producer: send demo.Order messages to a queue.
 *
 *   producer QUEUE [COUNT]      (busd's socket: $BUS_SOCKET, else the default)
 *
 * Public API only: connect to busd, attach to the queue as a producer, and
 * pack each order straight into the ring with bus_send_pb().  Exit status
 * 0 when every order was sent, 1 on failure, 2 for bad usage.
 *
 * Like every example here it stands alone, to be read and copied whole:
 * its usage check, bus_open() and attach are the other examples' on
 * purpose, not a shared helper.
 */
#include <stdio.h>
#include <stdlib.h>

#include <bus/bus.h>

#include "demo.pb-c.h"

int main(int argc, char **argv)
{
	long count = argc == 3 ? strtol(argv[2], NULL, 10) : 3;
	bus_producer *p;
	bus *b;
	int rc;

	if (argc < 2 || argc > 3 || count < 1 || count > 1000000) {
		fprintf(stderr, "usage: producer QUEUE [COUNT (1 to 1000000)]\n");
		return 2;
	}
	rc = bus_open(NULL, &b);
	if (rc < 0) {
		fprintf(stderr, "producer: cannot reach busd: %s\n", bus_strerror(rc));
		return 1;
	}
	rc = bus_producer_open(b, argv[1], &p);
	if (rc < 0) {
		fprintf(stderr, "producer: attach to '%s': %s\n", argv[1], bus_strerror(rc));
		bus_close(b);
		return 1;
	}
	bus_close(b); /* busd is not on the data path */
	for (long i = 1; i <= count && rc == 0; i++) {
		Demo__Order order = DEMO__ORDER__INIT;

		order.id = (uint64_t)i;
		order.symbol = "ACME";
		order.quantity = i % 2 ? 100 * i : -100 * i; /* buy, sell, ... */
		order.price_micros = 12500000 + 250000 * i;  /* 12.75, 13.00, ... */
		rc = bus_send_pb(p, bus_type_id("demo.Order"), &order.base, -1);
	}
	bus_producer_close(p);
	if (rc < 0) {
		fprintf(stderr, "producer: send to '%s': %s\n", argv[1], bus_strerror(rc));
		return 1;
	}
	printf("producer: sent %ld demo.Order messages to '%s'\n", count, argv[1]);
	return 0;
}

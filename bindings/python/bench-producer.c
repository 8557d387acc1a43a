/*
 * bench-producer - the feeder of bench.py: sends COUNT messages of SIZE
 * bytes to QUEUE through busd at SOCKET as fast as the queue takes them,
 * so that the Python consumer, not the producer, sets the pace.
 *
 * usage: bench-producer SOCKET QUEUE SIZE COUNT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bus/bus.h>

int main(int argc, char **argv)
{
	bus *b;
	bus_producer *p = NULL;
	char buf[65536];
	unsigned long size, count;
	int rc;

	if (argc != 5) {
		fprintf(stderr, "usage: bench-producer SOCKET QUEUE SIZE COUNT\n");
		return 2;
	}
	size = strtoul(argv[3], NULL, 10);
	count = strtoul(argv[4], NULL, 10);
	if (size > sizeof(buf)) {
		fprintf(stderr, "bench-producer: SIZE at most %zu\n", sizeof(buf));
		return 2;
	}
	memset(buf, 'x', sizeof(buf));
	rc = bus_open(argv[1], &b);
	if (rc == 0) {
		rc = bus_producer_open(b, argv[2], &p);
		bus_close(b);
	}
	if (rc != 0 || !p) {
		fprintf(stderr, "bench-producer: %s: %s\n", argv[2], bus_strerror(rc));
		return 1;
	}
	for (unsigned long i = 0; i < count; i++) {
		rc = bus_send(p, 1, buf, size, -1);
		if (rc < 0) {
			fprintf(stderr, "bench-producer: send: %s\n", bus_strerror(rc));
			break;
		}
	}
	bus_producer_close(p);
	return rc < 0;
}

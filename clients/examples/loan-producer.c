/*
 * loan-producer.c - write messages in place in the ring, with no copy:
 * the loan API (bus_send_reserve, bus_send_commit, bus_send_abort).
 *
 *   loan-producer QUEUE [COUNT]   (busd's socket: $BUS_SOCKET, else the default)
 *
 * For each of COUNT records it borrows room for the longest line it could
 * write (64 bytes), formats the line straight into the ring, and commits
 * only the bytes written: "line N: " and then N % 40 letters, so lengths
 * vary.  Every third record is given up instead (bus_send_abort): its
 * consumer never sees it, and the queue's "aborted" counter counts it.
 * A consumer receives lines 1, 2, 4, 5, 7, ... with exactly their
 * lengths, e.g. buscli recv QUEUE.  Exit status 0 when every record was
 * committed or aborted, 1 on failure, 2 for bad usage.
 *
 * Like every example here it stands alone, to be read and copied whole:
 * its usage check, bus_open() and attach are the other examples' on
 * purpose, not a shared helper.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bus/bus.h>

#define LINE_MAX_LEN 64

/* Writes line i into buf (at least LINE_MAX_LEN bytes); returns its length. */
static size_t write_line(char *buf, long i)
{
	int n = snprintf(buf, LINE_MAX_LEN, "line %ld: ", i);
	size_t len = (size_t)n;

	for (long k = 0; k < i % 40 && len < LINE_MAX_LEN; k++)
		buf[len++] = (char)('a' + (i + k) % 26);
	return len;
}

int main(int argc, char **argv)
{
	long count = argc == 3 ? strtol(argv[2], NULL, 10) : 9;
	long committed = 0, aborted = 0;
	bus_producer *p;
	bus *b;
	int rc;

	if (argc < 2 || argc > 3 || count < 1 || count > 1000000) {
		fprintf(stderr, "usage: loan-producer QUEUE [COUNT (1 to 1000000)]\n");
		return 2;
	}
	rc = bus_open(NULL, &b);
	if (rc < 0) {
		fprintf(stderr, "loan-producer: cannot reach busd: %s\n", bus_strerror(rc));
		return 1;
	}
	rc = bus_producer_open(b, argv[1], &p);
	bus_close(b); /* busd is not on the data path */
	if (rc < 0) {
		fprintf(stderr, "loan-producer: attach to '%s': %s\n", argv[1],
		        bus_strerror(rc));
		return 1;
	}
	for (long i = 1; i <= count && rc == 0; i++) {
		void *buf;

		/* Room for the longest line; only what is written is sent. */
		rc = bus_send_reserve(p, LINE_MAX_LEN, -1, &buf);
		if (rc < 0)
			break;
		size_t len = write_line(buf, i);

		if (i % 3 == 0) {
			bus_send_abort(p); /* changed our mind: nothing is delivered */
			aborted++;
		} else {
			rc = bus_send_commit(p, 0, len); /* exactly len bytes */
			committed += rc == 0;
		}
	}
	bus_producer_close(p);
	if (rc < 0) {
		fprintf(stderr, "loan-producer: send to '%s': %s\n", argv[1], bus_strerror(rc));
		return 1;
	}
	printf("loan-producer: committed %ld, aborted %ld records to '%s'\n", committed,
	       aborted, argv[1]);
	return 0;
}

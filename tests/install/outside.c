/*
 * outside.c - a program built outside the project, against an installed
 * libbus, with nothing but <bus/bus.h> and what pkg-config says.
 *
 *   outside QUEUE COUNT
 *
 * Forks a producer process that attaches to QUEUE through busd (found as
 * every client finds it: $BUS_SOCKET) and sends COUNT messages "outside N"
 * (N from 0) of type bus_type_id("outside.Text"), while this process attaches as the
 * queue's consumer on its own connection and checks each one: type,
 * content, one producer slot, sequence numbers in order.  Exit 0 if all
 * COUNT arrived exactly so, 1 otherwise, with the reason on stderr.
 *
 * Strict C11 plus POSIX (for fork and kill): bus.h must not need more.
 */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bus/bus.h>

static int produce(const char *queue, long count)
{
	bus_producer *p;
	bus *b;
	int rc = bus_open(NULL, &b);

	if (rc < 0) {
		fprintf(stderr, "outside: producer: cannot reach busd: %s\n",
		        bus_strerror(rc));
		return 1;
	}
	rc = bus_producer_open(b, queue, &p);
	bus_close(b);
	if (rc < 0) {
		fprintf(stderr, "outside: producer: attach to '%s': %s\n", queue,
		        bus_strerror(rc));
		return 1;
	}
	for (long i = 0; i < count && rc == 0; i++) {
		char text[64];
		int n = snprintf(text, sizeof(text), "outside %ld", i);

		rc = bus_send(p, bus_type_id("outside.Text"), text, (size_t)n, 5000);
	}
	bus_producer_close(p);
	if (rc < 0) {
		fprintf(stderr, "outside: producer: send: %s\n", bus_strerror(rc));
		return 1;
	}
	return 0;
}

static int check(const bus_msg *m, long i, uint32_t slot)
{
	char want[64];
	int n = snprintf(want, sizeof(want), "outside %ld", i);

	if (m->type != bus_type_id("outside.Text") || m->len != (size_t)n ||
	    memcmp(m->data, want, (size_t)n) != 0 || m->producer != slot ||
	    m->seq != (uint64_t)i || m->flags != 0) {
		fprintf(stderr, "outside: message %ld: got type %u slot %u seq %llu "
		                "flags %u '%.*s', expected '%s'\n",
		        i, m->type, m->producer,
		        (unsigned long long)m->seq, m->flags, (int)m->len,
		        (const char *)m->data, want);
		return -1;
	}
	return 0;
}

static int consume(bus_consumer *c, long count)
{
	uint32_t slot = 0;

	for (long i = 0; i < count; i++) {
		bus_msg m;
		int rc = bus_recv(c, &m, 10000);

		if (rc < 0) {
			fprintf(stderr, "outside: consumer: message %ld of %ld: %s\n", i,
			        count, bus_strerror(rc));
			return 1;
		}
		if (i == 0)
			slot = m.producer;
		rc = check(&m, i, slot);
		bus_release(c);
		if (rc < 0)
			return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	long count = argc == 3 ? strtol(argv[2], NULL, 10) : 0;
	bus_consumer *c;
	bus *b;
	int rc, st, bad;
	pid_t pid;

	if (argc != 3 || count < 1) {
		fprintf(stderr, "usage: outside QUEUE COUNT (at least 1)\n");
		return 2;
	}
	/* First the fork: no handle is ever shared between the two. */
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("outside: fork");
		return 1;
	}
	if (pid == 0)
		_exit(produce(argv[1], count));
	rc = bus_open(NULL, &b);
	if (rc == 0) {
		rc = bus_consumer_open(b, argv[1], &c);
		bus_close(b);
	}
	if (rc < 0) {
		fprintf(stderr, "outside: consumer: attach to '%s': %s\n", argv[1],
		        bus_strerror(rc));
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		return 1;
	}
	bad = consume(c, count);
	bus_consumer_close(c);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0) {
		fprintf(stderr, "outside: the producer process failed\n");
		bad = 1;
	}
	if (!bad)
		printf("outside: %ld messages from a producer process, in order\n",
		       count);
	return bad;
}

/*
 * rpc-server.c - a service: answers each demo.PriceQuery with a
 * demo.PriceQuote.
 *
 *   rpc-server QUEUE            (busd's socket: $BUS_SOCKET, else the default)
 *
 * Public API only: the service is the ordinary consumer of its queue.
 * Requests arrive among its messages flagged BUS_MSG_REQUEST; each is
 * decoded from the ring into a stack arena with bus_msg_unpack(),
 * priced, and answered with bus_reply(), which writes the packed quote
 * into the caller's own reply queue.  Plain messages (no request) are
 * skipped.  A caller that went away (-EPIPE) costs its answer, not the
 * service.  Prints one line per request on standard output; exits 0 on
 * SIGINT or SIGTERM, 1 on failure, 2 for bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <bus/bus.h>

#include "demo.pb-c.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* The service's prices, in cents; 0: not priced here. */
static uint64_t unit_price(const char *symbol)
{
	static const struct {
		const char *symbol;
		uint64_t cents;
	} prices[] = {{"ACME", 12345}, {"BUS", 4200}, {"SHM", 99}};

	for (size_t i = 0; i < sizeof(prices) / sizeof(prices[0]); i++)
		if (strcmp(prices[i].symbol, symbol) == 0)
			return prices[i].cents;
	return 0;
}

/* Answers one request: a PriceQuote for its PriceQuery.  Returns as bus_reply(). */
static int answer(bus_consumer *c, const bus_msg *m)
{
	_Alignas(16) unsigned char arena[4096];
	Demo__PriceQuote quote = DEMO__PRICE_QUOTE__INIT;
	unsigned char out[512];
	ProtobufCMessage *pb;
	Demo__PriceQuery *q;
	int rc;

	if (m->type != bus_type_id("demo.PriceQuery") ||
	    bus_msg_unpack(m, &demo__price_query__descriptor, arena, sizeof(arena), &pb) < 0) {
		fprintf(stderr, "rpc-server: a request that is no demo.PriceQuery: not answered\n");
		return 0;
	}
	q = (Demo__PriceQuery *)pb;
	quote.symbol = q->symbol;
	quote.qty = q->qty;
	quote.unit_cents = unit_price(q->symbol);
	quote.known = quote.unit_cents != 0;
	quote.total_cents = quote.unit_cents * q->qty;
	if (demo__price_quote__get_packed_size(&quote) > sizeof(out)) {
		fprintf(stderr, "rpc-server: symbol too long: not answered\n");
		return 0;
	}
	rc = bus_reply(c, m, bus_type_id("demo.PriceQuote"), out,
	               demo__price_quote__pack(&quote, out), 1000);
	if (rc == 0)
		printf("call %" PRIu64 ": %s x%" PRIu32 " = %" PRIu64 " cents\n", m->call_id,
		       q->symbol, q->qty, quote.total_cents);
	return rc;
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART */
	bus_consumer *c;
	bus *b;
	int rc;

	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: rpc-server QUEUE\n"
		       "Answers each demo.PriceQuery request on QUEUE with a demo.PriceQuote\n"
		       "until SIGINT or SIGTERM (busd's socket: $BUS_SOCKET, else the default).\n");
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: rpc-server QUEUE (see --help)\n");
		return 2;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	rc = bus_open(NULL, &b);
	if (rc < 0) {
		fprintf(stderr, "rpc-server: cannot reach busd: %s\n", bus_strerror(rc));
		return 1;
	}
	rc = bus_consumer_open(b, argv[1], &c);
	/* bus_reply() asks busd itself, once per caller, for its reply queue. */
	bus_close(b);
	if (rc < 0) {
		fprintf(stderr, "rpc-server: attach to '%s': %s\n", argv[1], bus_strerror(rc));
		return 1;
	}
	while (!stop) {
		bus_msg m;

		rc = bus_recv(c, &m, 200); /* look at stop at least 5 times a second */
		if (rc == -ETIMEDOUT || rc == -EAGAIN || rc == -EINTR) {
			rc = 0;
			continue;
		}
		if (rc < 0)
			break;
		if (!(m.flags & BUS_MSG_REQUEST))
			fprintf(stderr, "rpc-server: skipped a plain message (type %" PRIu32 ")\n",
			        m.type);
		else if ((rc = answer(c, &m)) == -EPIPE)
			fprintf(stderr, "rpc-server: call %" PRIu64 ": its caller is gone\n",
			        m.call_id);
		bus_release(c);
		fflush(stdout);
		if (rc == -EPIPE || rc == -ETIMEDOUT)
			rc = 0; /* that caller's loss: go on serving the others */
		if (rc < 0)
			break;
	}
	bus_consumer_close(c);
	if (rc < 0) {
		fprintf(stderr, "rpc-server: serving '%s': %s\n", argv[1], bus_strerror(rc));
		return 1;
	}
	return 0;
}

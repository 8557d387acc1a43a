/*
 * test_interop.c - the example application's messages across tools:
 * protoc, buscli and the C producer and consumer of clients/examples,
 * all through a real busd, with the command lines README.md shows.
 *
 *  - protoc_to_consumer: `protoc --encode=demo.Order ... | buscli publish
 *    Q --type demo.Order --raw` is a demo.Order the example consumer
 *    decodes, and `buscli recv Q -n 1 --raw | protoc --decode=demo.Order`
 *    gives back the text that went in.
 *  - producer_to_protoc: what the example producer sends arrives with
 *    type bus_type_id("demo.Order") and decodes with protoc, one message
 *    per `recv -n 1 --raw`.
 *  - tick_type: --type demo.Tick is bus_type_id("demo.Tick"), and an
 *    empty demo.Tick (zero bytes) travels as an empty message.
 *
 * The pipelines run in bash with pipefail, so a failure of any stage
 * fails the test.  Needs protoc (PROTOC, from meson); exits 77 without.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "harness.h"

#define ORDER_TEXT "id: 7\nsymbol: \"ACME\"\nquantity: -5\nprice_micros: 1250000\n"

/* Runs script in bash -o pipefail with the test's busd as BUS_SOCKET. */
static void run_sh(struct e2e *e, struct e2e_run *r, const char *script)
{
	assert_int_equal(setenv("BUS_SOCKET", e->socket, 1), 0);
	e2e_exec(e, r, 60, "/bin/bash", "-o", "pipefail", "-c", script, NULL);
	if (r->status != 0)
		fprintf(stderr, "script failed (status %d): %s\nstderr: %s\n", r->status,
		        script, r->err);
}

/* Publishes ORDER_TEXT, encoded by protoc, as one demo.Order. */
static void publish_order(struct e2e *e, const char *queue)
{
	char script[512];
	struct e2e_run r;

	snprintf(script, sizeof(script),
	         "printf '%%s' 'id: 7 symbol: \"ACME\" quantity: -5 price_micros: 1250000' |"
	         " \"$PROTOC\" --encode=demo.Order -I \"$PROTO_DIR\" demo.proto |"
	         " \"$BUSCLI\" publish %s --type demo.Order --raw",
	         queue);
	run_sh(e, &r, script);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.err_len, 0);
	assert_non_null(strstr(r.out, "published 1 message to"));
	e2e_run_free(&r);
}

/* Runs script, which must exit 0 and print want_out (NULL: anything). */
static void run_sh_ok(struct e2e *e, const char *script, const char *want_out)
{
	struct e2e_run r;

	run_sh(e, &r, script);
	assert_int_equal(r.status, 0);
	if (want_out)
		assert_string_equal(r.out, want_out);
	e2e_run_free(&r);
}

/*
 * Receives one message of queue with buscli recv --json: its type must be
 * type's id; its length goes to *len unless len is NULL.
 */
static void recv_typed(struct e2e *e, const char *queue, const char *type, uint64_t *len)
{
	struct e2e_run r;
	uint64_t v;

	e2e_cli(e, &r, NULL, 0, 30, "recv", queue, "-n", "1", "--json", NULL);
	assert_int_equal(r.status, 0);
	if (len)
		assert_true(e2e_json_u64(r.out, "len", len));
	assert_true(e2e_json_u64(r.out, "type", &v));
	assert_int_equal(v, bus_type_id(type));
	e2e_run_free(&r);
}

/* One message of queue, decoded by protoc as type, must read want. */
static void recv_decode(struct e2e *e, const char *queue, const char *type,
                        const char *want)
{
	char script[512];

	snprintf(script, sizeof(script),
	         "\"$BUSCLI\" recv %s -n 1 --timeout 10000 --raw |"
	         " \"$PROTOC\" --decode=%s -I \"$PROTO_DIR\" demo.proto",
	         queue, type);
	run_sh_ok(e, script, want);
}

static void protoc_to_consumer(void **state)
{
	struct e2e *e = *state;

	e2e_create(e, "interop", NULL);
	publish_order(e, "interop");
	run_sh_ok(e, "\"$CONSUMER\" interop 1", "order 7: ACME -5 @ 1.250000\n");

	publish_order(e, "interop");
	recv_decode(e, "interop", "demo.Order", ORDER_TEXT);
}

static void producer_to_protoc(void **state)
{
	struct e2e *e = *state;

	e2e_create(e, "orders", NULL);
	run_sh_ok(e, "\"$PRODUCER\" orders 3", NULL);
	recv_typed(e, "orders", "demo.Order", NULL);
	recv_decode(e, "orders", "demo.Order", "id: 2\nsymbol: \"ACME\"\nquantity: -200\n"
	                                       "price_micros: 13000000\n");
	recv_decode(e, "orders", "demo.Order", "id: 3\nsymbol: \"ACME\"\nquantity: 300\n"
	                                       "price_micros: 13250000\n");
}

static void tick_type(void **state)
{
	struct e2e *e = *state;
	uint64_t v;

	e2e_create(e, "ticks", NULL);
	run_sh_ok(e,
	          "printf 'symbol: \"ACME\" price_micros: 12500000 ts_ns: 99' |"
	          " \"$PROTOC\" --encode=demo.Tick -I \"$PROTO_DIR\" demo.proto |"
	          " \"$BUSCLI\" publish ticks --type demo.Tick --raw &&"
	          " \"$PROTOC\" --encode=demo.Tick -I \"$PROTO_DIR\" demo.proto"
	          " < /dev/null | \"$BUSCLI\" publish ticks --type demo.Tick --raw",
	          NULL);
	recv_typed(e, "ticks", "demo.Tick", NULL);
	/* all defaults: zero bytes on the wire, decoded to no fields */
	recv_typed(e, "ticks", "demo.Tick", &v);
	assert_int_equal(v, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		E2E_TEST(protoc_to_consumer),
		E2E_TEST(producer_to_protoc),
		E2E_TEST(tick_type),
	};
	const char *why = e2e_precheck();
	const char *protoc = getenv("PROTOC"), *src = getenv("SRCDIR");
	char dir[1024];

	if (why)
		e2e_skip(why);
	if (!protoc || !*protoc || access(protoc, X_OK) != 0) {
		printf("SKIP: protoc not found (install protobuf-compiler and "
		       "reconfigure): the interop tests pipe through it\n");
		return HARNESS_SKIP;
	}
	if (!src || !getenv("PRODUCER") || !getenv("CONSUMER") || access("/bin/bash", X_OK)) {
		printf("SKIP: needs SRCDIR, PRODUCER and CONSUMER from meson test, "
		       "and /bin/bash\n");
		return HARNESS_SKIP;
	}
	snprintf(dir, sizeof(dir), "%s/clients/examples", src);
	if (setenv("PROTO_DIR", dir, 1) != 0)
		return 1;
	return cmocka_run_group_tests_name("e2e interop", tests, NULL, NULL);
}

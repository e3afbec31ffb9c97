/*
 * fuzz_protocol.c - libFuzzer target for the sync message decoders.
 *
 * The input goes to all three decoders (push request with and without a
 * schema, push reply, pull page with and without a schema).  A decode
 * that fails must leave its output cleared; one that succeeds must encode
 * again, and the encoded bytes must decode and encode to themselves (the
 * encoder's output is a fixed point).  Any disagreement aborts.
 */
#include "tenfour/protocol.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The schema the messages are checked against (kept small). */
static const char schema_text[] =
	"{\"schema_version\":1,\"roles\":[\"officer\",\"service\"],"
	"\"entities\":{\"item\":{\"scope\":{\"rule\":\"agency\"},"
	"\"read_roles\":[\"officer\"],\"write_roles\":[\"officer\"],"
	"\"fields\":{"
	"\"a\":{\"class\":\"lww\",\"type\":\"integer\",\"min\":0,\"max\":1000},"
	"\"st\":{\"class\":\"lww\",\"type\":\"enum\",\"values\":[\"x\",\"y\"],"
	"\"history\":\"hist\"},"
	"\"hist\":{\"class\":\"log\",\"type\":\"object\",\"props\":{"
	"\"field\":{\"type\":\"enum\",\"values\":[\"st\"],\"required\":true},"
	"\"value\":{\"type\":\"enum\",\"values\":[\"x\",\"y\"],"
	"\"required\":true}}},"
	"\"log\":{\"class\":\"log\",\"type\":\"object\",\"props\":{"
	"\"text\":{\"type\":\"string\",\"max\":64,\"required\":true}}},"
	"\"tags\":{\"class\":\"set\",\"type\":\"string\",\"max\":16},"
	"\"txt\":{\"class\":\"text\",\"max_bytes\":4096},"
	"\"ref\":{\"class\":\"ref\",\"type\":\"string\",\"max\":32,"
	"\"write_roles\":[\"service\"]}"
	"}}}}";

/* Small limits so that the fuzzer reaches every one of them. */
static const tf_proto_limits lim = {
	{16384, 16, 1024, 256, 64, 32}, 8, 8, 8, 32,
};

static tf_schema *schema;

static void must(int cond)
{
	if (!cond)
		abort();
}

static void check_request(const char *p, size_t n, const tf_schema *s)
{
	tf_push_request m, m2;
	tf_buf a, b;
	tf_err err;

	tf_buf_init(&a);
	tf_buf_init(&b);
	if (tf_push_request_decode(p, n, s, &lim, &m, &err) != 0) {
		must(m.commands == NULL && m.ncommands == 0);
		must(err.code != 0 && err.msg[0] != '\0');
		goto out;
	}
	must(tf_push_request_encode(&m, &a) == 0);
	must(tf_push_request_decode(a.data, a.len, s, NULL, &m2, &err) == 0);
	must(tf_push_request_encode(&m2, &b) == 0);
	must(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	must(m2.ncommands == m.ncommands);
	tf_push_request_clear(&m2);
	tf_push_request_clear(&m);
out:
	tf_buf_free(&a);
	tf_buf_free(&b);
}

static void check_reply(const char *p, size_t n)
{
	tf_push_reply m, m2;
	tf_buf a, b;
	tf_err err;

	tf_buf_init(&a);
	tf_buf_init(&b);
	if (tf_push_reply_decode(p, n, &lim, &m, &err) != 0) {
		must(m.results == NULL && m.nresults == 0);
		must(err.code != 0);
		goto out;
	}
	must(tf_push_reply_encode(&m, &a) == 0);
	must(tf_push_reply_decode(a.data, a.len, NULL, &m2, &err) == 0);
	must(tf_push_reply_encode(&m2, &b) == 0);
	must(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	must(m2.nresults == m.nresults && m2.ack == m.ack);
	tf_push_reply_clear(&m2);
	tf_push_reply_clear(&m);
out:
	tf_buf_free(&a);
	tf_buf_free(&b);
}

static void check_page(const char *p, size_t n, const tf_schema *s)
{
	tf_pull_page m, m2;
	tf_buf a, b;
	tf_err err;

	tf_buf_init(&a);
	tf_buf_init(&b);
	if (tf_pull_page_decode(p, n, s, &lim, &m, &err) != 0) {
		must(m.records == NULL && m.purged == NULL && m.cursor == NULL);
		must(err.code != 0);
		goto out;
	}
	must(m.cursor != NULL && strlen(m.cursor) <= lim.max_cursor);
	must(tf_pull_page_encode(&m, &a) == 0);
	must(tf_pull_page_decode(a.data, a.len, s, NULL, &m2, &err) == 0);
	must(tf_pull_page_encode(&m2, &b) == 0);
	must(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	must(m2.nrecords == m.nrecords && m2.npurged == m.npurged);
	tf_pull_page_clear(&m2);
	tf_pull_page_clear(&m);
out:
	tf_buf_free(&a);
	tf_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	tf_err err;

	if (schema == NULL &&
	    tf_schema_load(schema_text, strlen(schema_text), &schema, &err))
		abort();
	check_request(p, size, NULL);
	check_request(p, size, schema);
	check_reply(p, size);
	check_page(p, size, NULL);
	check_page(p, size, schema);
	return 0;
}

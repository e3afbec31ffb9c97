/*
 * fuzz_replica.c - libFuzzer target for the replica's untrusted inputs.
 *
 * A replica with confirmed records, pending commands of every kind and a
 * notice is built once (deterministically, from the core alone) and
 * saved.  Each input is applied to a fresh load of it, once as a pull
 * page and once as a push reply.  Nothing may crash; a refused input
 * must leave the saved bytes unchanged and the replica usable; an
 * accepted one must leave a replica whose saved bytes load and save to
 * themselves.  Any disagreement aborts.
 *
 * The seed corpus (tests/fuzz/corpus/replica) holds pages and replies
 * that match this replica: its record ids, seqs and cmd_ids.
 */
#include "tenfour/replica.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

#define FZ_T0 1764000000000LL

/* Record ids the corpus refers to. */
#define FZ_REC1 "01900000-0000-7000-8000-000000000001"
#define FZ_REC2 "01900000-0000-7000-8000-000000000002"
#define FZ_REC3 "01900000-0000-7000-8000-000000000003"

static tf_schema *schema;
static char *saved;
static size_t saved_len;

static void must(int cond)
{
	if (!cond)
		abort();
}

/* A server-side state of `id` made by the merge code (authority 1). */
static tf_json *server_record(const char *id, const char *fields)
{
	char text[512];
	tf_json *j = NULL, *rec = NULL;
	tf_apply_ctx ctx = {NULL, FZ_T0, 1, 0};
	tf_apply_result res;
	tf_command c;

	ctx.schema = schema;
	snprintf(text, sizeof text,
		 "{\"args\":{\"fields\":%s},\"base\":0,\"cmd_id\":\"%.35s9\","
		 "\"device\":\"console\",\"entity\":\"item\","
		 "\"hlc\":\"019ab697e8000000\",\"op\":\"create\","
		 "\"record_id\":\"%s\",\"seq\":1,\"user\":\"dana\"}",
		 fields, id, id);
	must(tf_json_parse(text, strlen(text), NULL, &j, NULL) == 0);
	must(tf_command_from_json(j, &c, NULL) == 0);
	must(tf_record_apply(&rec, &c, &ctx, &res) == 0);
	must(res.status == TF_ST_APPLIED);
	tf_apply_result_clear(&res);
	tf_command_clear(&c);
	tf_json_free(j);
	return rec;
}

static void mutate(tf_replica *r, int64_t now, uint8_t k, const char *id,
		   tf_op op, const char *args_text)
{
	uint8_t rnd[20];
	tf_json *args = NULL;

	memset(rnd, k, sizeof rnd);
	must(tf_json_parse(args_text, strlen(args_text), NULL, &args, NULL) ==
	     0);
	must(tf_replica_mutate(r, now, rnd, 1, "item", id, op, args, NULL, NULL,
			       NULL) == 0);
	tf_json_free(args);
}

/*
 * The replica every input starts from: three confirmed records (their
 * creates all carry cmd_id ...0009, so t1's tag is that id) and six
 * pending commands, seq 1..6, of every kind.
 */
static void build_replica(void)
{
	tf_replica *r = NULL;
	tf_pull_page p;
	tf_json *recs[3];
	tf_buf b;

	must(tf_schema_load(schema_text, strlen(schema_text), &schema, NULL) ==
	     0);
	recs[0] = server_record(FZ_REC1,
				"{\"a\":1,\"st\":\"x\",\"txt\":\"one\"}");
	recs[1] = server_record(FZ_REC2, "{\"a\":2,\"tags\":[\"t1\"]}");
	recs[2] = server_record(FZ_REC3, "{\"txt\":\"three\"}");
	memset(&p, 0, sizeof p);
	p.schema_version = 1;
	p.cursor = "3";
	p.records = recs;
	p.nrecords = 3;
	tf_buf_init(&b);
	must(tf_pull_page_encode(&p, &b) == 0);
	must(tf_replica_new(schema, "mdt-1", "alvarez", 0, &r) == 0);
	must(tf_replica_apply_pull(r, FZ_T0, b.data, b.len, NULL) == 0);
	mutate(r, FZ_T0 + 1000, 1, FZ_REC1, TF_OP_SET,
	       "{\"fields\":{\"a\":5,\"st\":\"y\"}}");
	mutate(r, FZ_T0 + 2000, 2, FZ_REC1, TF_OP_APPEND,
	       "{\"field\":\"log\",\"body\":{\"text\":\"hello\"}}");
	mutate(r, FZ_T0 + 3000, 3, FZ_REC1, TF_OP_EDIT_TEXT,
	       "{\"field\":\"txt\",\"base_rev\":1,\"base\":\"one\","
	       "\"text\":\"one two\"}");
	mutate(r, FZ_T0 + 4000, 4, FZ_REC2, TF_OP_SET_ADD,
	       "{\"field\":\"tags\",\"value\":\"t2\"}");
	mutate(r, FZ_T0 + 5000, 5, FZ_REC2, TF_OP_SET_REMOVE,
	       "{\"field\":\"tags\",\"value\":\"t1\",\"tags\":["
	       "\"01900000-0000-7000-8000-000000000009\"]}");
	mutate(r, FZ_T0 + 6000, 6, NULL, TF_OP_CREATE,
	       "{\"fields\":{\"a\":7,\"txt\":\"new\"}}");
	tf_buf_reset(&b);
	must(tf_replica_save(r, &b) == 0);
	saved = tf_buf_take(&b, &saved_len);
	tf_replica_free(r);
	tf_json_free(recs[0]);
	tf_json_free(recs[1]);
	tf_json_free(recs[2]);
}

static tf_replica *fresh(void)
{
	tf_replica *r = NULL;

	must(tf_replica_load(schema, saved, saved_len, &r, NULL) == 0);
	return r;
}

/* After an accepted input: the state saves, loads and saves the same. */
static void check_round_trip(tf_replica *r)
{
	tf_replica *back = NULL;
	tf_buf a, b;

	tf_buf_init(&a);
	tf_buf_init(&b);
	must(tf_replica_save(r, &a) == 0);
	must(tf_replica_load(schema, a.data, a.len, &back, NULL) == 0);
	must(tf_replica_save(back, &b) == 0);
	must(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	tf_replica_free(back);
	tf_buf_free(&a);
	tf_buf_free(&b);
}

/* After a refused input: nothing changed and the replica still works. */
static void check_unchanged(tf_replica *r)
{
	tf_buf a;

	tf_buf_init(&a);
	must(tf_replica_save(r, &a) == 0);
	must(a.len == saved_len && memcmp(a.data, saved, saved_len) == 0);
	tf_buf_reset(&a);
	must(tf_replica_push_request(r, 100, &a) == 0);
	tf_buf_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	tf_replica *r;
	tf_buf out;
	tf_err err;

	if (saved == NULL)
		build_replica();
	tf_buf_init(&out);

	r = fresh();
	if (tf_replica_apply_pull(r, FZ_T0 + 10000, p, size, &err) == 0) {
		check_round_trip(r);
		must(tf_replica_list_json(r, NULL, &out) == 0);
		must(tf_replica_notices_json(r, &out) == 0);
	} else {
		must(err.code != 0 && err.code != TF_ESTATE);
		check_unchanged(r);
	}
	tf_replica_free(r);

	r = fresh();
	if (tf_replica_apply_push_reply(r, FZ_T0 + 10000, p, size, &err) == 0) {
		check_round_trip(r);
		must(tf_replica_summary_json(r, FZ_T0, &out) == 0);
	} else {
		must(err.code != 0 && err.code != TF_ESTATE);
		check_unchanged(r);
	}
	tf_replica_free(r);
	tf_buf_free(&out);
	return 0;
}

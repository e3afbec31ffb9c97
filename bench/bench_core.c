/*
 * bench_core.c - throughput of the core on the workloads of
 * bench/RESULTS.md, run from the repository root:
 *
 *   bench_core [--json] [--fixtures DIR]
 *
 * Direct workloads call the core's C functions with prepared commands:
 *   lww      one-field sets merged into existing records (tf_record_apply;
 *            one in four is a stale concurrent write that loses)
 *   log      appends merged into unit logs, one in five out of order
 *   rebase   a replica holding 10,000 records and 2,000 pending commands
 *            takes a final pull page touching every record with pending
 *            commands (tf_replica_apply_pull: replace base, replay queue)
 *   json     parse + canonical write of a 5,000-record pull page
 * API workloads do the same through tf_api_call (JSON in, JSON out), the
 * ABI the browser uses, so they compare one to one with bench/js/bench.mjs
 * running the same calls in WebAssembly; merges go through store.apply
 * (the record states stay in the handle, only commands cross the ABI).
 *
 * --fixtures DIR writes the pull pages and mutate inputs the JS bench
 * replays (page1.json, page2.json, page3.json, mutates.json).
 * The same file builds for wasm32-wasi (scripts/run-bench.sh, with
 * -DTF_BENCH_REACTOR) so the direct workloads also run, unchanged, inside
 * WebAssembly.
 */
#include "tenfour/api.h"
#include "tenfour/replica.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define T0 1764000000000LL
#define SCHEMA_PATH "bench/schema.json"

#define LWW_RECORDS 1000
#define LWW_OPS 1000000
#define LOG_RECORDS 1000
#define LOG_PER_RECORD 100
#define REBASE_RECORDS 10000
#define REBASE_PENDING 2000
#define PAGE_MAX 5000
#define API_LWW_OPS 50000
#define API_LWW_RECORDS 100
#define API_LOG_RECORDS 200
#define API_LOG_PER_RECORD 50

static const char *const statuses[] = {"available", "dispatched", "enroute",
				       "onscene", "clear"};
static const char *const devices[] = {"mdt-2a12", "mdt-2a14", "console-3",
				      "mdt-2a20"};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static _Noreturn void die(const char *what, int rc, const tf_err *err)
{
	fprintf(stderr, "bench_core: %s: %s%s%s\n", what, tf_strerror(rc),
		err && err->msg[0] ? ": " : "", err ? err->msg : "");
	exit(1);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0)
		die(path, TF_ENOTFOUND, NULL);
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
		die(path, TF_ENOMEM, NULL);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void write_file(const char *dir, const char *name, const tf_buf *b)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(b->data, 1, b->len, f) != b->len ||
	    fclose(f) != 0)
		die(path, TF_EINVAL, NULL);
}

/* Deterministic record and command ids. */
static void make_id(int64_t ms, uint64_t k, char out[TF_UUID_LEN + 1])
{
	uint8_t rnd[10];
	int i;

	for (i = 0; i < 10; i++)
		rnd[i] = (uint8_t)(k >> (8 * (i % 8)));
	rnd[0] = (uint8_t)(k >> 56);
	tf_uuid7(ms, rnd, out);
}

static tf_json *parse(const char *text)
{
	tf_json *j = NULL;
	tf_err err;
	int rc = tf_json_parse(text, strlen(text), NULL, &j, &err);

	if (rc)
		die(text, rc, &err);
	return j;
}

/*
 * Fills the envelope of c; args are borrowed (never freed through c).
 * Only what changes from one command to the next is written, so that the
 * loops measure the merge rather than the making of commands.
 */
static void envelope(tf_command *c, tf_op op, const char *record_id,
		     uint64_t seq, tf_hlc h, const char *device,
		     const tf_json *args, uint64_t idk)
{
	if (c->entity[0] == '\0') {
		memcpy(c->user, "bench", 6);
		memcpy(c->entity, "unit", 5);
	}
	make_id(TF_HLC_MS(h), idk, c->cmd_id);
	c->seq = seq;
	c->hlc = h;
	if (strcmp(c->device, device) != 0)
		snprintf(c->device, sizeof c->device, "%s", device);
	if (memcmp(c->record_id, record_id, TF_UUID_LEN) != 0)
		memcpy(c->record_id, record_id, TF_UUID_LEN + 1);
	c->op = op;
	c->args = (tf_json *)args;
}

static void apply(tf_json **rec, const tf_command *c, const tf_apply_ctx *ctx)
{
	tf_apply_result res;
	int rc;

	memset(&res, 0, sizeof res);
	rc = tf_record_apply(rec, c, ctx, &res);
	if (rc)
		die("tf_record_apply", rc, NULL);
	if (res.status != TF_ST_APPLIED)
		die("tf_record_apply: not applied", TF_EINVAL, &res.err);
	tf_apply_result_clear(&res);
}

/* N records created by the server: status available, priority 3. */
static tf_json **make_records(const tf_schema *s, size_t n, int64_t base_ms)
{
	tf_json **recs = calloc(n, sizeof *recs);
	tf_json *args = parse("{\"fields\":{\"priority\":3,"
			      "\"status\":\"available\"}}");
	tf_apply_ctx ctx = {s, T0, 1, 0};
	char id[TF_UUID_LEN + 1];
	tf_command c;
	size_t i;

	memset(&c, 0, sizeof c);
	if (recs == NULL)
		die("records", TF_ENOMEM, NULL);
	for (i = 0; i < n; i++) {
		make_id(base_ms, i + 1, id);
		envelope(&c, TF_OP_CREATE, id, i + 1, TF_HLC_MAKE(base_ms, 0),
			 "console-3", args, (uint64_t)1 << 40 | i);
		apply(&recs[i], &c, &ctx);
	}
	tf_json_free(args);
	return recs;
}

static void free_records(tf_json **recs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		tf_json_free(recs[i]);
	free(recs);
}

/* ------------------------------------------------------------- direct */

static double bench_lww(const tf_schema *s)
{
	tf_json **recs = make_records(s, LWW_RECORDS, T0);
	tf_json *args[5];
	tf_apply_ctx ctx = {s, T0 + 10000, 1, 0};
	tf_command c;
	double t;
	size_t k;

	memset(&c, 0, sizeof c);

	for (k = 0; k < 5; k++) {
		char text[80];
		snprintf(text, sizeof text, "{\"fields\":{\"status\":\"%s\"}}",
			 statuses[k]);
		args[k] = parse(text);
	}
	t = now_s();
	for (k = 0; k < LWW_OPS; k++) {
		size_t i = k % LWW_RECORDS;
		/* one in four is a stale concurrent write that loses */
		tf_hlc h = k % 4 == 3 ? TF_HLC_MAKE(T0 + 500, k & 0xffff)
				      : TF_HLC_MAKE(T0 + 1000 + (int64_t)k, 0);
		envelope(&c, TF_OP_SET, tf_record_id(recs[i]), k + 1, h,
			 devices[k % 4], args[k % 5], k);
		apply(&recs[i], &c, &ctx);
	}
	t = now_s() - t;
	for (k = 0; k < 5; k++)
		tf_json_free(args[k]);
	free_records(recs, LWW_RECORDS);
	return LWW_OPS / t;
}

static double bench_log(const tf_schema *s)
{
	tf_json **recs = make_records(s, LOG_RECORDS, T0);
	tf_json *args = parse("{\"body\":{\"text\":\"2A12 on scene, two "
			      "males arguing, no weapon seen\"},\"field\":"
			      "\"entries\"}");
	tf_apply_ctx ctx = {s, T0 + 10000, 1, 0};
	tf_command c;
	size_t r, i, n = 0;
	double t;

	memset(&c, 0, sizeof c);
	t = now_s();

	for (r = 0; r < LOG_PER_RECORD; r++) {
		for (i = 0; i < LOG_RECORDS; i++) {
			int64_t ms = T0 + 1000 + (int64_t)(r * LOG_RECORDS + i);
			/* one in five arrives late, 3 entries out of order */
			if (n % 5 == 4 && r > 0)
				ms -= 3 * LOG_RECORDS;
			envelope(&c, TF_OP_APPEND, tf_record_id(recs[i]), n + 1,
				 TF_HLC_MAKE(ms, n & 0xffff), devices[n % 4],
				 args, n);
			apply(&recs[i], &c, &ctx);
			n++;
		}
	}
	t = now_s() - t;
	tf_json_free(args);
	free_records(recs, LOG_RECORDS);
	return (double)n / t;
}

/* The rebase fixtures: three pull pages and the pending mutations. */
typedef struct fixtures {
	tf_buf page1, page2, page3;
	tf_buf mutates; /* JSON array of replica.mutate inputs (no replica) */
} fixtures;

static void encode_page(tf_json **recs, size_t n, int has_more, uint64_t ack,
			const char *cursor, int64_t schema_version, tf_buf *out)
{
	tf_pull_page p;

	memset(&p, 0, sizeof p);
	p.schema_version = schema_version;
	p.cursor = (char *)cursor;
	p.records = recs;
	p.nrecords = n;
	p.has_more = has_more;
	p.ack = ack;
	if (tf_pull_page_encode(&p, out))
		die("tf_pull_page_encode", out->failed, NULL);
}

static size_t pending_record(size_t k)
{
	return (k * 7919) % REBASE_RECORDS;
}

static void make_fixtures(const tf_schema *s, fixtures *fx)
{
	tf_json **recs = make_records(s, REBASE_RECORDS, T0);
	tf_json **touched = calloc(REBASE_PENDING, sizeof *touched);
	tf_json *note = parse("{\"fields\":{\"status_note\":\"dispatch: "
			      "check in with sergeant\"}}");
	tf_apply_ctx ctx = {s, T0 + 900000, 1, 0};
	char *seen = calloc(REBASE_RECORDS, 1);
	size_t k, nt = 0;
	tf_command c;

	memset(&c, 0, sizeof c);
	memset(fx, 0, sizeof *fx);
	if (touched == NULL || seen == NULL)
		die("fixtures", TF_ENOMEM, NULL);
	encode_page(recs, PAGE_MAX, 1, 0, "p1", s->version, &fx->page1);
	encode_page(recs + PAGE_MAX, REBASE_RECORDS - PAGE_MAX, 0, 0, "p2",
		    s->version, &fx->page2);
	/* The mutations, as replica.mutate inputs. */
	tf_buf_putc(&fx->mutates, '[');
	for (k = 0; k < REBASE_PENDING; k++) {
		size_t i = pending_record(k);
		const char *id = tf_record_id(recs[i]);
		if (k)
			tf_buf_putc(&fx->mutates, ',');
		if (k % 4 == 3)
			tf_buf_printf(
				&fx->mutates,
				"{\"args\":{\"body\":{\"text\":\"entry "
				"%zu\"},\"field\":\"entries\"},\"entity\":"
				"\"unit\",\"now\":%lld,\"op\":\"append\","
				"\"random\":\"%040zx\",\"record_id\":\"%s\"}",
				k, (long long)(T0 + 100000 + (int64_t)k), k + 1,
				id);
		else
			tf_buf_printf(
				&fx->mutates,
				"{\"args\":{\"fields\":{\"status\":\"%s\"}},"
				"\"entity\":\"unit\",\"now\":%lld,\"op\":"
				"\"set\",\"random\":\"%040zx\",\"record_id\":"
				"\"%s\"}",
				statuses[k % 5],
				(long long)(T0 + 100000 + (int64_t)k), k + 1,
				id);
		/* The server's change to the same record meanwhile. */
		if (!seen[i]) {
			seen[i] = 1;
			envelope(&c, TF_OP_SET, id, k + 1,
				 TF_HLC_MAKE(T0 + 800000 + (int64_t)k, 0),
				 "console-3", note, (uint64_t)1 << 48 | k);
			apply(&recs[i], &c, &ctx);
			touched[nt++] = recs[i];
		}
	}
	tf_buf_putc(&fx->mutates, ']');
	encode_page(touched, nt, 0, 0, "p3", s->version, &fx->page3);
	if (fx->mutates.failed)
		die("fixtures", fx->mutates.failed, NULL);
	tf_json_free(note);
	free(seen);
	free(touched);
	free_records(recs, REBASE_RECORDS);
}

static void free_fixtures(fixtures *fx)
{
	tf_buf_free(&fx->page1);
	tf_buf_free(&fx->page2);
	tf_buf_free(&fx->page3);
	tf_buf_free(&fx->mutates);
}

/* Returns the ms of the final apply_pull (the rebase). */
static double bench_rebase(const tf_schema *s, const fixtures *fx)
{
	tf_json *muts = parse(fx->mutates.data);
	tf_replica *r = NULL;
	tf_replica_summary sum;
	tf_err err;
	double t;
	size_t k;
	int rc;

	if ((rc = tf_replica_new(s, "mdt-bench", "bench", 0, &r)) ||
	    (rc = tf_replica_apply_pull(r, T0 + 50000, fx->page1.data,
					fx->page1.len, &err)) ||
	    (rc = tf_replica_apply_pull(r, T0 + 50000, fx->page2.data,
					fx->page2.len, &err)))
		die("replica setup", rc, &err);
	for (k = 0; k < muts->len; k++) {
		const tf_json *m = muts->u.items[k];
		uint8_t rnd[20];
		const char *hex = tf_json_get_str(m, "random", NULL);
		const char *op = tf_json_get_str(m, "op", NULL);
		tf_op o;
		int64_t now;
		tf_json_int64(tf_json_object_get(m, "now"), &now);
		tf_hex_decode(hex, 40, rnd, 20);
		tf_op_parse(op, &o);
		rc = tf_replica_mutate(r, now, rnd, 0, "unit",
				       tf_json_get_str(m, "record_id", NULL), o,
				       tf_json_object_get(m, "args"), NULL,
				       NULL, &err);
		if (rc)
			die("tf_replica_mutate", rc, &err);
	}
	t = now_s();
	rc = tf_replica_apply_pull(r, T0 + 900000, fx->page3.data,
				   fx->page3.len, &err);
	t = now_s() - t;
	if (rc)
		die("rebase apply_pull", rc, &err);
	tf_replica_summary_get(r, T0 + 900000, &sum);
	if (sum.pending != REBASE_PENDING || sum.records != REBASE_RECORDS)
		die("rebase: unexpected replica state", TF_EINVAL, NULL);
	tf_replica_free(r);
	tf_json_free(muts);
	return t * 1000;
}

static double bench_json(const fixtures *fx)
{
	tf_buf out;
	tf_err err;
	double t, bytes = 0;
	int rc, i;

	tf_buf_init(&out);
	t = now_s();
	for (i = 0; i < 20; i++) {
		tf_buf_reset(&out);
		rc = tf_json_canonicalize(fx->page1.data, fx->page1.len, NULL,
					  &out, &err);
		if (rc)
			die("canonicalize", rc, &err);
		bytes += (double)fx->page1.len;
	}
	t = now_s() - t;
	tf_buf_free(&out);
	return bytes / t / 1e6;
}

/* ---------------------------------------------------------------- api */

static void call(tf_api *a, const char *m, const char *in, size_t len,
		 tf_buf *out)
{
	int rc = tf_api_call(a, m, strlen(m), in, len, out);

	if (rc) {
		fprintf(stderr, "bench_core: %s: %s\n", m, tf_buf_cstr(out));
		exit(1);
	}
}

static void call_s(tf_api *a, const char *m, const char *in, tf_buf *out)
{
	call(a, m, in, strlen(in), out);
}

/*
 * Merges one command into the handle's store (store.apply): the host
 * keeps no state and moves only the command through JSON.
 */
static void api_apply(tf_api *a, const char *cmd, tf_buf *in, tf_buf *out)
{
	tf_buf_reset(in);
	tf_buf_printf(in, "{\"authority\":true,\"command\":%s,\"now\":%lld}",
		      cmd, (long long)(T0 + 10000));
	call(a, "store.apply", in->data, in->len, out);
	if (strstr(out->data, "\"status\":\"applied\"") == NULL) {
		fprintf(stderr, "bench_core: store.apply: %s\n", out->data);
		exit(1);
	}
}

/* The wire command (the same text bench.mjs builds). */
static void cmd_text(tf_buf *b, const char *op, const char *rid, uint64_t seq,
		     tf_hlc h, const char *device, const char *args,
		     uint64_t idk)
{
	char id[TF_UUID_LEN + 1], hs[TF_HLC_TEXT_LEN + 1];

	make_id(TF_HLC_MS(h), idk, id);
	tf_hlc_format(h, hs);
	tf_buf_reset(b);
	tf_buf_printf(b,
		      "{\"args\":%s,\"base\":0,\"cmd_id\":\"%s\",\"device\":"
		      "\"%s\",\"entity\":\"unit\",\"hlc\":\"%s\",\"op\":\"%s\","
		      "\"record_id\":\"%s\",\"seq\":%llu,\"user\":\"bench\"}",
		      args, id, device, hs, op, rid, (unsigned long long)seq);
}

/* N records created in the store (after emptying it). */
static void api_records(tf_api *a, size_t n)
{
	tf_buf cmd, in, out;
	char id[TF_UUID_LEN + 1];
	size_t i;

	tf_buf_init(&cmd);
	tf_buf_init(&in);
	tf_buf_init(&out);
	call_s(a, "store.clear", "{}", &out);
	for (i = 0; i < n; i++) {
		make_id(T0, i + 1, id);
		cmd_text(&cmd, "create", id, i + 1, TF_HLC_MAKE(T0, 0),
			 "console-3",
			 "{\"fields\":{\"priority\":3,\"status\":"
			 "\"available\"}}",
			 (uint64_t)1 << 40 | i);
		api_apply(a, cmd.data, &in, &out);
	}
	tf_buf_free(&cmd);
	tf_buf_free(&in);
	tf_buf_free(&out);
}

static double api_lww(tf_api *a)
{
	tf_buf cmd, in, out;
	char args[80], id[TF_UUID_LEN + 1];
	double t;
	size_t k;

	api_records(a, API_LWW_RECORDS);
	tf_buf_init(&cmd);
	tf_buf_init(&in);
	tf_buf_init(&out);
	t = now_s();
	for (k = 0; k < API_LWW_OPS; k++) {
		size_t i = k % API_LWW_RECORDS;
		tf_hlc h = k % 4 == 3 ? TF_HLC_MAKE(T0 + 500, k & 0xffff)
				      : TF_HLC_MAKE(T0 + 1000 + (int64_t)k, 0);
		make_id(T0, i + 1, id);
		snprintf(args, sizeof args, "{\"fields\":{\"status\":\"%s\"}}",
			 statuses[k % 5]);
		cmd_text(&cmd, "set", id, k + 1, h, devices[k % 4], args, k);
		api_apply(a, cmd.data, &in, &out);
	}
	t = now_s() - t;
	tf_buf_free(&cmd);
	tf_buf_free(&in);
	tf_buf_free(&out);
	return API_LWW_OPS / t;
}

static double api_log(tf_api *a)
{
	tf_buf cmd, in, out;
	char id[TF_UUID_LEN + 1];
	size_t r, i, n = 0;
	double t;

	api_records(a, API_LOG_RECORDS);
	tf_buf_init(&cmd);
	tf_buf_init(&in);
	tf_buf_init(&out);
	t = now_s();
	for (r = 0; r < API_LOG_PER_RECORD; r++) {
		for (i = 0; i < API_LOG_RECORDS; i++) {
			int64_t ms =
				T0 + 1000 + (int64_t)(r * API_LOG_RECORDS + i);
			if (n % 5 == 4 && r > 0)
				ms -= 3 * API_LOG_RECORDS;
			make_id(T0, i + 1, id);
			cmd_text(&cmd, "append", id, n + 1,
				 TF_HLC_MAKE(ms, n & 0xffff), devices[n % 4],
				 "{\"body\":{\"text\":\"2A12 on scene, two "
				 "males arguing, no weapon seen\"},\"field\":"
				 "\"entries\"}",
				 n);
			api_apply(a, cmd.data, &in, &out);
			n++;
		}
	}
	t = now_s() - t;
	tf_buf_free(&cmd);
	tf_buf_free(&in);
	call_s(a, "store.clear", "{}", &out);
	tf_buf_free(&out);
	return (double)n / t;
}

/*
 * A replica.apply_pull input with the page embedded as an object (a page
 * is larger than the 1 MiB a JSON string may hold).
 */
static void page_input(tf_buf *in, const tf_buf *page, long long now)
{
	tf_buf_reset(in);
	tf_buf_printf(in, "{\"now\":%lld,\"replica\":1,\"page\":", now);
	tf_buf_append(in, page->data, page->len);
	tf_buf_putc(in, '}');
}

static double api_rebase(tf_api *a, const fixtures *fx)
{
	tf_json *muts = parse(fx->mutates.data);
	tf_buf in, out, one;
	double t;
	size_t k;

	tf_buf_init(&in);
	tf_buf_init(&out);
	tf_buf_init(&one);
	call_s(a, "replica.new",
	       "{\"device\":\"mdt-bench\",\"user\":\"bench\"}", &out);
	page_input(&in, &fx->page1, T0 + 50000);
	call(a, "replica.apply_pull", in.data, in.len, &out);
	page_input(&in, &fx->page2, T0 + 50000);
	call(a, "replica.apply_pull", in.data, in.len, &out);
	for (k = 0; k < muts->len; k++) {
		tf_json *m = tf_json_clone(muts->u.items[k]);
		tf_json_object_set(m, "replica", tf_json_int(1));
		tf_buf_reset(&one);
		tf_json_write(m, &one);
		tf_json_free(m);
		call(a, "replica.mutate", one.data, one.len, &out);
	}
	page_input(&in, &fx->page3, T0 + 900000);
	t = now_s();
	call(a, "replica.apply_pull", in.data, in.len, &out);
	t = now_s() - t;
	call_s(a, "replica.free", "{\"replica\":1}", &out);
	tf_buf_free(&in);
	tf_buf_free(&out);
	tf_buf_free(&one);
	tf_json_free(muts);
	return t * 1000;
}

static double api_json(tf_api *a, const fixtures *fx)
{
	tf_buf out;
	double t, bytes = 0;
	int i;

	tf_buf_init(&out);
	t = now_s();
	for (i = 0; i < 20; i++) {
		call(a, "json.canonicalize", fx->page1.data, fx->page1.len,
		     &out);
		bytes += (double)fx->page1.len;
	}
	t = now_s() - t;
	tf_buf_free(&out);
	return bytes / t / 1e6;
}

static int run(int argc, char **argv)
{
	const char *fixdir = NULL;
	int json = 0, i, rc;
	double lww, lg, reb, js, alww, alog, areb, ajs;
	tf_schema *s = NULL;
	tf_api *a;
	fixtures fx;
	tf_err err;
	size_t slen;
	char *stext;
	tf_buf out;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--fixtures") == 0 && i + 1 < argc)
			fixdir = argv[++i];
		else {
			fprintf(stderr, "usage: bench_core [--json] "
					"[--fixtures DIR]\n");
			return 2;
		}
	}
	stext = read_file(SCHEMA_PATH, &slen);
	if ((rc = tf_schema_load(stext, slen, &s, &err)))
		die(SCHEMA_PATH, rc, &err);
	make_fixtures(s, &fx);
	if (fixdir) {
		write_file(fixdir, "page1.json", &fx.page1);
		write_file(fixdir, "page2.json", &fx.page2);
		write_file(fixdir, "page3.json", &fx.page3);
		write_file(fixdir, "mutates.json", &fx.mutates);
	}
	lww = bench_lww(s);
	lg = bench_log(s);
	reb = bench_rebase(s, &fx);
	js = bench_json(&fx);

	a = tf_api_new();
	tf_buf_init(&out);
	call(a, "schema.load", stext, slen, &out);
	alww = api_lww(a);
	alog = api_log(a);
	areb = api_rebase(a, &fx);
	ajs = api_json(a, &fx);
	tf_buf_free(&out);
	tf_api_free(a);

	if (json) {
		printf("{\"lww_direct\":%.0f,\"log_direct\":%.0f,"
		       "\"rebase_ms_direct\":%.2f,\"json_mbps_direct\":%.1f,"
		       "\"lww_api\":%.0f,\"log_api\":%.0f,"
		       "\"rebase_ms_api\":%.2f,\"json_mbps_api\":%.1f,"
		       "\"page_bytes\":%zu}\n",
		       lww, lg, reb, js, alww, alog, areb, ajs, fx.page1.len);
	} else {
		printf("direct (C functions)\n");
		printf("  lww merges/s            %12.0f\n", lww);
		printf("  log entries merged/s    %12.0f\n", lg);
		printf("  rebase 2000/10000 (ms)  %12.2f\n", reb);
		printf("  canonical JSON MB/s     %12.1f\n", js);
		printf("through tf_api_call (JSON in/out)\n");
		printf("  lww merges/s            %12.0f\n", alww);
		printf("  log entries merged/s    %12.0f\n", alog);
		printf("  rebase 2000/10000 (ms)  %12.2f\n", areb);
		printf("  canonical JSON MB/s     %12.1f\n", ajs);
	}
	free_fixtures(&fx);
	tf_schema_free(s);
	free(stext);
	return 0;
}

#ifdef TF_BENCH_REACTOR
/*
 * The wasm build is a reactor: the host calls bench_json() and the module
 * never calls proc_exit (Node's WASI crashes now and then tearing down a
 * command module that exits).
 */
__attribute__((export_name("bench_json"))) int bench_json_main(void);

int bench_json_main(void)
{
	static char arg0[] = "bench_core", arg1[] = "--json";
	char *argv[] = {arg0, arg1, NULL};
	int rc = run(2, argv);

	fflush(stdout);
	return rc;
}
#else
int main(int argc, char **argv)
{
	return run(argc, argv);
}
#endif

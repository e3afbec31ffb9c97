/*
 * test_audit.c - AU-2 type names, the exact canonical bytes of an entry,
 * every validation error of the builder and the parser, and chain
 * verification finding an altered, a removed, a reordered and an inserted
 * entry (plus seq and prev edits, anchors, truncation, malformed and
 * non-canonical entries, time going back).
 *
 * The core never hashes; hosts use SHA-256 of each entry's bytes.  These
 * tests stand in a simple deterministic function (FNV-1a 64 run four times
 * with different offset bases, 32 bytes) that has no security value and is
 * used here only to make the links.
 */
#include "tenfour/audit.h"

#include "tf_test.h"

#define T0 1764000000000LL /* 2025-11-24T16:00:00Z in ms */
#define Z64 "0000000000000000000000000000000000000000000000000000000000000000"
#define MAXE 16

static void stand_in_hash(const char *p, size_t n, uint8_t out[32])
{
	size_t i, k, j;

	for (k = 0; k < 4; k++) {
		uint64_t h = 0xcbf29ce484222325ULL ^
			     ((uint64_t)(k + 1) * 0x9e3779b97f4a7c15ULL);
		for (i = 0; i < n; i++) {
			h ^= (unsigned char)p[i];
			h *= 0x100000001b3ULL;
		}
		for (j = 0; j < 8; j++)
			out[k * 8 + j] = (uint8_t)(h >> (56 - 8 * j));
	}
}

/* ------------------------------------------------------------- types */

TEST(type_names_round_trip)
{
	int t;
	tf_audit_type got;

	for (t = TF_AUDIT_NONE + 1; t < TF_AUDIT_TYPE_COUNT; t++) {
		const char *name = tf_audit_type_name((tf_audit_type)t);
		CHECK(name != NULL);
		if (name == NULL)
			continue;
		CHECK_INT(tf_audit_type_parse(name, strlen(name), &got), 0);
		CHECK_INT(got, t);
	}
	CHECK_STR(tf_audit_type_name(TF_AUDIT_LOGON_OK), "logon_ok");
	CHECK_STR(tf_audit_type_name(TF_AUDIT_DEVICE_WIPE_RECEIPT),
		  "device_wipe_receipt");
	CHECK_STR(tf_audit_type_name(TF_AUDIT_CONFLICT_RESOLUTION),
		  "conflict_resolution");
	CHECK_STR(tf_audit_type_name(TF_AUDIT_CLOCK_REBASE), "clock_rebase");
	CHECK(tf_audit_type_name(TF_AUDIT_NONE) == NULL);
	CHECK(tf_audit_type_name(TF_AUDIT_TYPE_COUNT) == NULL);
	CHECK(tf_audit_type_name((tf_audit_type)-3) == NULL);
	CHECK_INT(tf_audit_type_parse("logon", 5, &got), TF_EINVAL);
	CHECK_INT(tf_audit_type_parse("logon_okx", 9, &got), TF_EINVAL);
	/* Length-bounded: "logon_ok" inside a longer buffer. */
	CHECK_INT(tf_audit_type_parse("logon_ok!!", 8, &got), 0);
	CHECK_INT(got, TF_AUDIT_LOGON_OK);
	CHECK_INT(tf_audit_type_parse(NULL, 0, &got), TF_EINVAL);
	CHECK_STR(tf_audit_fault_name(TF_AUDIT_INSERTED), "inserted");
	CHECK_STR(tf_audit_fault_name((tf_audit_fault)99), "unknown");
}

/* ----------------------------------------------------------- writing */

#define REC "0191a2b3-c4d5-7000-8000-000000001234"
#define CMD "0191a2b3-c4d5-7000-8000-0000000000c1"

static void base_event(tf_audit_event *e)
{
	memset(e, 0, sizeof *e);
	e->seq = 7;
	e->ts_ms = T0;
	e->type = TF_AUDIT_UNLOCK_FAIL;
	e->success = 0;
	e->user = "alvarez";
	e->device = "mdt-2a12";
	e->role = "officer";
	e->source = "local";
	e->where = "mdt/unlock";
	e->entity = "incident";
	e->record_id = REC;
	e->cmd_id = CMD;
	e->field = "remarks";
	e->prev = tf_audit_genesis;
}

TEST(canonical_bytes_of_a_fixed_event)
{
	static const char detail[] =
		"{ \"note\" : \"line\\nbreak \\\"q\\\" \xc3\xa9\", "
		"\"attempt\" : 3 }";
	static const char want[] =
		"{\"actor\":{\"device\":\"mdt-2a12\",\"role\":\"officer\","
		"\"user\":\"alvarez\"},"
		"\"detail\":{\"attempt\":3,\"note\":\"line\\nbreak \\\"q\\\" "
		"\xc3\xa9\"},"
		"\"outcome\":\"failure\",\"prev\":\"" Z64 "\",\"seq\":7,"
		"\"source\":\"local\",\"ts\":1764000000000,"
		"\"type\":\"unlock_fail\",\"what\":{\"cmd_id\":\"" CMD "\","
		"\"entity\":\"incident\",\"field\":\"remarks\","
		"\"record_id\":\"" REC "\"},\"where\":\"mdt/unlock\"}";
	tf_audit_event e;
	tf_json *d = NULL;
	tf_buf out;
	tf_err err;

	CHECK_INT(tf_json_parse(detail, strlen(detail), NULL, &d, &err), 0);
	base_event(&e);
	e.detail = d;
	tf_buf_init(&out);
	CHECK_INT(tf_audit_write(&e, &out, &err), 0);
	CHECK_STR(tf_buf_cstr(&out), want);
	/* Appends: a second entry follows the first. */
	CHECK_INT(tf_audit_write(&e, &out, &err), 0);
	CHECK_INT(out.len, 2 * (sizeof want - 1));
	tf_buf_free(&out);
	tf_json_free(d);
}

/* The server's chains are per agency: actor.agency is written, sorted
   first among the actor's members, parsed back, and validated as an id. */
TEST(agency_member)
{
	static const char want[] =
		"{\"actor\":{\"agency\":\"demo\",\"device\":\"mdt-2a12\","
		"\"role\":\"officer\",\"user\":\"alvarez\"},";
	tf_audit_event e, back;
	tf_json *tree = NULL;
	tf_buf out;
	tf_err err;

	base_event(&e);
	e.agency = "demo";
	tf_buf_init(&out);
	CHECK_INT(tf_audit_write(&e, &out, &err), 0);
	CHECK(strncmp(tf_buf_cstr(&out), want, sizeof want - 1) == 0);
	CHECK_INT(tf_audit_parse(out.data, out.len, &back, &tree, &err), 0);
	CHECK(back.agency != NULL && strcmp(back.agency, "demo") == 0);
	tf_json_free(tree);
	tf_buf_reset(&out);
	e.agency = "no spaces";
	CHECK_INT(tf_audit_write(&e, &out, &err), TF_EVALIDATE);
	CHECK_STR(err.where, "actor.agency");
	CHECK_INT(out.len, 0);
	tf_buf_free(&out);
}

TEST(minimal_event_omits_absent_members)
{
	static const char want[] =
		"{\"actor\":{\"user\":\"system\"},\"outcome\":\"success\","
		"\"prev\":\"" Z64 "\",\"seq\":1,\"source\":\"203.0.113.7\","
		"\"ts\":0,\"type\":\"policy_change\","
		"\"where\":\"tenfourd PUT /v1/admin/policy\"}";
	tf_audit_event e;
	tf_buf out;
	tf_err err;

	memset(&e, 0, sizeof e);
	e.seq = 1;
	e.ts_ms = 0;
	e.type = TF_AUDIT_POLICY_CHANGE;
	e.success = 1;
	e.user = "system";
	e.source = "203.0.113.7";
	e.where = "tenfourd PUT /v1/admin/policy";
	e.prev = tf_audit_genesis;
	tf_buf_init(&out);
	CHECK_INT(tf_audit_write(&e, &out, &err), 0);
	CHECK_STR(tf_buf_cstr(&out), want);
	tf_buf_free(&out);
}

/* A 65-byte id and a 129-byte where. */
#define S65 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define S129                                                                   \
	S65 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

#define BAD(mutation, code, wh)                                                \
	do {                                                                   \
		tf_audit_event e_;                                             \
		size_t before_ = out.len;                                      \
		base_event(&e_);                                               \
		mutation;                                                      \
		tf_err_clear(&err);                                            \
		CHECK_INT(tf_audit_write(&e_, &out, &err), code);              \
		CHECK_STR(err.where, wh);                                      \
		CHECK_INT(out.len, before_);                                   \
	} while (0)

TEST(write_validates_every_member)
{
	tf_buf out;
	tf_err err;

	tf_buf_init(&out);
	tf_buf_puts(&out, "kept");
	BAD(e_.seq = 0, TF_ERANGE, "seq");
	BAD(e_.seq = (uint64_t)INT64_MAX + 1, TF_ERANGE, "seq");
	BAD(e_.ts_ms = -1, TF_ERANGE, "ts");
	BAD(e_.ts_ms = TF_HLC_MAX_MS + 1, TF_ERANGE, "ts");
	BAD(e_.type = TF_AUDIT_NONE, TF_ERANGE, "type");
	BAD(e_.type = TF_AUDIT_TYPE_COUNT, TF_ERANGE, "type");
	BAD(e_.success = 2, TF_ERANGE, "outcome");
	BAD(e_.user = NULL, TF_EMISSING, "actor.user");
	BAD(e_.user = "bob smith", TF_EVALIDATE, "actor.user");
	BAD(e_.user = "", TF_EVALIDATE, "actor.user");
	BAD(e_.user = S65, TF_EVALIDATE, "actor.user");
	BAD(e_.device = "mdt/2a12", TF_EVALIDATE, "actor.device");
	BAD(e_.role = "Officer", TF_EVALIDATE, "actor.role");
	BAD(e_.role = "1officer", TF_EVALIDATE, "actor.role");
	BAD(e_.source = NULL, TF_EMISSING, "source");
	BAD(e_.source = "10.0.0.1 spoof", TF_EVALIDATE, "source");
	BAD(e_.source = "", TF_EVALIDATE, "source");
	BAD(e_.source = S65, TF_EVALIDATE, "source");
	BAD(e_.where = NULL, TF_EMISSING, "where");
	BAD(e_.where = "mdt\nunlock", TF_EVALIDATE, "where");
	BAD(e_.where = "mdt/\xc3\xa9", TF_EVALIDATE, "where");
	BAD(e_.where = S129, TF_EVALIDATE, "where");
	BAD(e_.entity = "Incident", TF_EVALIDATE, "what.entity");
	BAD(e_.record_id = "0191A2B3-C4D5-7000-8000-000000001234", TF_EVALIDATE,
	    "what.record_id");
	BAD(e_.record_id = REC "0", TF_EVALIDATE, "what.record_id");
	BAD(e_.cmd_id = "not-a-uuid", TF_EVALIDATE, "what.cmd_id");
	BAD(e_.field = "re-marks", TF_EVALIDATE, "what.field");
	BAD(e_.target = "dana smith", TF_EVALIDATE, "what.target");
	BAD(e_.prev = NULL, TF_EMISSING, "prev");
	BAD(e_.prev = "00", TF_EVALIDATE, "prev");
	BAD(e_.prev = Z64 "0", TF_EVALIDATE, "prev");
	BAD(e_.prev = "A000000000000000000000000000000000000000000000000000000"
		      "000000000",
	    TF_EVALIDATE, "prev");
	CHECK_STR(tf_buf_cstr(&out), "kept");
	tf_buf_free(&out);
}

TEST(write_bounds_detail)
{
	tf_json *arr = tf_json_array(), *deep = NULL, *deeper = NULL,
		*big = NULL, *fits = NULL;
	char *text = NULL;
	tf_buf out;
	tf_err err;
	size_t n;

	tf_buf_init(&out);
	BAD(e_.detail = arr, TF_ETYPE, "detail");
	/* detail is level 1; four levels are fine, five are not */
	CHECK_INT(tf_json_parse("{\"a\":{\"b\":{\"c\":[1]}}}", 21, NULL, &deep,
				&err),
		  0);
	CHECK_INT(tf_json_parse("{\"a\":{\"b\":{\"c\":[[1]]}}}", 23, NULL,
				&deeper, &err),
		  0);
	{
		tf_audit_event e;
		base_event(&e);
		e.detail = deep;
		CHECK_INT(tf_audit_write(&e, &out, &err), 0);
	}
	BAD(e_.detail = deeper, TF_ELIMIT, "detail");
	/* {"s":"xxx..."} of exactly 4096 canonical bytes, then 4097 */
	n = TF_AUDIT_DETAIL_MAX - 8;
	text = malloc(n + 16);
	if (text != NULL) {
		memcpy(text, "{\"s\":\"", 6);
		memset(text + 6, 'x', n);
		memcpy(text + 6 + n, "\"}", 3);
		CHECK_INT(tf_json_parse(text, n + 8, NULL, &fits, &err), 0);
		text[6 + n] = 'x';
		memcpy(text + 7 + n, "\"}", 3);
		CHECK_INT(tf_json_parse(text, n + 9, NULL, &big, &err), 0);
	}
	{
		tf_audit_event e;
		base_event(&e);
		e.detail = fits;
		tf_buf_reset(&out);
		CHECK_INT(tf_audit_write(&e, &out, &err), 0);
		CHECK(out.len < TF_AUDIT_ENTRY_MAX);
	}
	BAD(e_.detail = big, TF_ELIMIT, "detail");
	tf_buf_free(&out);
	free(text);
	tf_json_free(big);
	tf_json_free(fits);
	tf_json_free(deeper);
	tf_json_free(deep);
	tf_json_free(arr);
}

/*
 * The entry as a tf_json tree, serialized by tf_json_write: the
 * reference the direct writer's bytes must equal.
 */
static void ref_str(tf_json *o, const char *key, const char *s)
{
	if (s != NULL)
		CHECK_INT(tf_json_object_set(o, key, tf_json_cstring(s)), 0);
}

static void ref_bytes(const tf_audit_event *ev, tf_buf *out)
{
	tf_json *root = tf_json_object(), *actor = tf_json_object();

	ref_str(actor, "user", ev->user);
	ref_str(actor, "agency", ev->agency);
	ref_str(actor, "device", ev->device);
	ref_str(actor, "role", ev->role);
	CHECK_INT(tf_json_object_set(root, "actor", actor), 0);
	if (ev->entity || ev->record_id || ev->cmd_id || ev->field ||
	    ev->target) {
		tf_json *what = tf_json_object();
		ref_str(what, "target", ev->target);
		ref_str(what, "entity", ev->entity);
		ref_str(what, "record_id", ev->record_id);
		ref_str(what, "field", ev->field);
		ref_str(what, "cmd_id", ev->cmd_id);
		CHECK_INT(tf_json_object_set(root, "what", what), 0);
	}
	if (ev->detail)
		CHECK_INT(tf_json_object_set(root, "detail",
					     tf_json_clone(ev->detail)),
			  0);
	ref_str(root, "where", ev->where);
	ref_str(root, "type", tf_audit_type_name(ev->type));
	CHECK_INT(tf_json_object_set(root, "ts", tf_json_int(ev->ts_ms)), 0);
	ref_str(root, "source", ev->source);
	CHECK_INT(tf_json_object_set(root, "seq", tf_json_uint(ev->seq)), 0);
	ref_str(root, "prev", ev->prev);
	ref_str(root, "outcome", ev->success ? "success" : "failure");
	CHECK_INT(tf_json_write(root, out), 0);
	tf_json_free(root);
}

static uint64_t rnd_state = 0x2545f4914f6cdd1dULL;
static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* One of the n strings of tab, or NULL (absent) when `opt` and chance. */
#define PICK(tab, opt)                                                         \
	((opt) && rnd() % 3 == 0                                               \
		 ? NULL                                                        \
		 : (tab)[rnd() % (sizeof(tab) / sizeof(tab)[0])])

/*
 * 3,000 events drawn from tables that cover every optional member present
 * and absent, ids with every allowed punctuation, where and source texts
 * with '"' and '\\', every type, both outcomes, seq and ts at their
 * bounds, and details with escapes, control characters, non-ASCII text,
 * nesting and numbers: tf_audit_write's bytes equal the tree reference's,
 * parse back to the same event, and re-serialize to themselves.
 */
TEST(direct_bytes_equal_tree_reference)
{
	/* 64-byte id, source and 128-byte where: the longest allowed. */
#define S64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	static const char *const ids[] = {"alvarez", "dana.smith@pd1",
					   "A-1_b.c@d", "x", S64};
	static const char *const names[] = {"officer", "a", "type_code",
					    "dispatcher2",
					    "abcdefghijklmnopqrstuvwxyz012345"};
	static const char *const uuids[] = {
		REC, CMD, "00000000-0000-7000-8000-000000000000"};
	static const char *const sources[] = {"local", "203.0.113.7",
					      "[2001:db8::1]:443", "a\"b\\c",
					      S64};
	static const char *const wheres[] = {
		"mdt/unlock", "tenfourd POST /v1/sync/push",
		"quote \" and backslash \\ and ~", " ", S64 S64};
	static const char *const prevs[] = {
		Z64, "0123456789abcdef0123456789abcdef"
		     "0123456789abcdef0123456789abcdef"};
	static const char *const details[] = {
		"{}",
		"{\"status\":\"applied\"}",
		"{\"code\":\"forbidden\",\"status\":\"rejected\"}",
		"{\"z\":1,\"a\":[true,false,null,-0.5,1e3],\"m\":{\"k\":\"v\"}}",
		"{\"note\":\"tab\\t nl\\n cr\\r bs\\b ff\\f\"}",
		"{\"c\":\"\\u0001 \\u001f q\\\" bs\\\\ sl/ \\u007f\"}",
		"{\"t\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x9a\x93 \\u00e9\"}",
		"{\"\xc3\xa9\":1,\"e\":2,\"E\":3}",
		"{\"a\":{\"b\":{\"c\":[1,\"deep\"]},\"e\":[],\"o\":{}}}",
	};
	static const uint64_t seqs[] = {1, 7, 10, 99, 1000000,
					(uint64_t)INT64_MAX};
	static const int64_t tss[] = {0, 1, T0, TF_HLC_MAX_MS};
	tf_json *dv[sizeof details / sizeof details[0]];
	tf_buf got, want, again;
	tf_err err;
	size_t i, k, bad = 0;

	for (k = 0; k < sizeof details / sizeof details[0]; k++) {
		dv[k] = NULL;
		CHECK_INT(tf_json_parse(details[k], strlen(details[k]), NULL,
					&dv[k], &err),
			  0);
	}
	tf_buf_init(&got);
	tf_buf_init(&want);
	tf_buf_init(&again);
	for (i = 0; i < 3000; i++) {
		tf_audit_event e, back;
		tf_json *tree = NULL;

		memset(&e, 0, sizeof e);
		e.seq = seqs[rnd() % (sizeof seqs / sizeof seqs[0])];
		e.ts_ms = tss[rnd() % (sizeof tss / sizeof tss[0])];
		e.type = (tf_audit_type)(TF_AUDIT_NONE + 1 +
					 (int)(i % (TF_AUDIT_TYPE_COUNT - 1)));
		e.success = (int)(rnd() & 1);
		e.user = PICK(ids, 0);
		e.agency = PICK(ids, 1);
		e.device = PICK(ids, 1);
		e.role = PICK(names, 1);
		e.source = PICK(sources, 0);
		e.where = PICK(wheres, 0);
		e.entity = PICK(names, 1);
		e.record_id = PICK(uuids, 1);
		e.cmd_id = PICK(uuids, 1);
		e.field = PICK(names, 1);
		e.target = PICK(ids, 1);
		e.prev = PICK(prevs, 0);
		k = (size_t)(rnd() % (sizeof details / sizeof details[0] + 2));
		e.detail = k < sizeof details / sizeof details[0] ? dv[k]
								  : NULL;
		/* Appending after earlier bytes. */
		tf_buf_reset(&got);
		tf_buf_puts(&got, "pre");
		tf_buf_reset(&want);
		tf_buf_puts(&want, "pre");
		if (tf_audit_write(&e, &got, &err) != 0) {
			if (bad++ == 0)
				CHECK_STR(err.msg, "");
			continue;
		}
		ref_bytes(&e, &want);
		if (got.len != want.len ||
		    memcmp(got.data, want.data, got.len) != 0) {
			if (bad++ == 0)
				CHECK_STR(tf_buf_cstr(&got),
					  tf_buf_cstr(&want));
			continue;
		}
		CHECK_INT(tf_audit_parse(got.data + 3, got.len - 3, &back,
					 &tree, &err),
			  0);
		if (tree == NULL)
			continue;
		CHECK(back.seq == e.seq && back.ts_ms == e.ts_ms &&
		      back.type == e.type && back.success == e.success);
		CHECK((back.detail == NULL) == (e.detail == NULL));
		CHECK((back.agency == NULL) == (e.agency == NULL));
		CHECK((back.target == NULL) == (e.target == NULL));
		tf_buf_reset(&again);
		tf_buf_puts(&again, "pre");
		CHECK_INT(tf_audit_write(&back, &again, &err), 0);
		CHECK(again.len == got.len &&
		      memcmp(again.data, got.data, got.len) == 0);
		tf_buf_reset(&again);
		CHECK_INT(tf_json_write(tree, &again), 0);
		CHECK(again.len + 3 == got.len &&
		      memcmp(again.data, got.data + 3, again.len) == 0);
		tf_json_free(tree);
	}
	CHECK_INT(bad, 0);
	tf_buf_free(&again);
	tf_buf_free(&want);
	tf_buf_free(&got);
	for (k = 0; k < sizeof details / sizeof details[0]; k++)
		tf_json_free(dv[k]);
}

/* A buffer that has already failed is reported and left as it was. */
TEST(write_into_failed_buffer)
{
	tf_audit_event e;
	tf_buf out;
	tf_err err;

	base_event(&e);
	tf_buf_init(&out);
	tf_buf_puts(&out, "kept");
	out.failed = TF_ENOMEM;
	tf_err_clear(&err);
	CHECK_INT(tf_audit_write(&e, &out, &err), TF_ENOMEM);
	CHECK_STR(err.where, "entry");
	CHECK_INT(out.failed, TF_ENOMEM);
	CHECK_INT(out.len, 4);
	out.failed = 0;
	CHECK_STR(tf_buf_cstr(&out), "kept");
	tf_buf_free(&out);
}

/* ----------------------------------------------------------- parsing */

TEST(parse_round_trip)
{
	tf_audit_event e, got;
	tf_json *d = NULL, *tree = NULL;
	tf_buf a, b;
	tf_err err;

	CHECK_INT(tf_json_parse("{\"attempt\":3}", 13, NULL, &d, &err), 0);
	base_event(&e);
	e.detail = d;
	e.target = "brooks";
	tf_buf_init(&a);
	tf_buf_init(&b);
	CHECK_INT(tf_audit_write(&e, &a, &err), 0);
	CHECK_INT(tf_audit_parse(a.data, a.len, &got, &tree, &err), 0);
	CHECK(tree != NULL);
	CHECK_INT(got.seq, 7);
	CHECK_INT(got.ts_ms, T0);
	CHECK_INT(got.type, TF_AUDIT_UNLOCK_FAIL);
	CHECK_INT(got.success, 0);
	CHECK_STR(got.user, "alvarez");
	CHECK_STR(got.device, "mdt-2a12");
	CHECK_STR(got.role, "officer");
	CHECK_STR(got.source, "local");
	CHECK_STR(got.where, "mdt/unlock");
	CHECK_STR(got.entity, "incident");
	CHECK_STR(got.record_id, REC);
	CHECK_STR(got.cmd_id, CMD);
	CHECK_STR(got.field, "remarks");
	CHECK_STR(got.target, "brooks");
	CHECK_STR(got.prev, Z64);
	CHECK(got.detail != NULL && tf_json_equal(got.detail, d));
	CHECK_INT(tf_audit_write(&got, &b, &err), 0);
	CHECK_STR(tf_buf_cstr(&b), tf_buf_cstr(&a));
	tf_json_free(tree);
	tf_buf_free(&a);
	tf_buf_free(&b);
	tf_json_free(d);
}

#define MIN_ENTRY(extra)                                                       \
	"{\"actor\":{\"user\":\"alvarez\"},\"outcome\":\"success\","           \
	"\"prev\":\"" Z64 "\",\"seq\":1,\"source\":\"local\","                 \
	"\"ts\":1764000000000,\"type\":\"logon_ok\",\"where\":"                \
	"\"tenfourd\"" extra "}"

TEST(parse_accepts_any_formatting)
{
	static const char loose[] =
		" {\"where\":\"tenfourd\", \"type\":\"logon_ok\",\n"
		"  \"ts\":1764000000000, \"source\":\"local\", \"seq\":1,\n"
		"  \"prev\":\"" Z64 "\", \"outcome\":\"success\",\n"
		"  \"actor\":{ \"user\":\"alvarez\" } }\n";
	tf_audit_event got;
	tf_json *tree = NULL;
	tf_buf b;
	tf_err err;

	tf_buf_init(&b);
	CHECK_INT(tf_audit_parse(loose, strlen(loose), &got, &tree, &err), 0);
	CHECK_INT(tf_audit_write(&got, &b, &err), 0);
	CHECK_STR(tf_buf_cstr(&b), MIN_ENTRY(""));
	CHECK(got.device == NULL && got.role == NULL && got.entity == NULL &&
	      got.detail == NULL);
	tf_json_free(tree);
	tf_buf_free(&b);
}

TEST(parse_errors)
{
	static const struct {
		const char *text;
		int rc;
		const char *where;
	} cases[] = {
		{MIN_ENTRY(",\"x\":1"), TF_EUNKNOWN, "x"},
		{"{\"actor\":{\"name\":\"a\",\"user\":\"alvarez\"},"
		 "\"outcome\":\"success\",\"prev\":\"" Z64 "\",\"seq\":1,"
		 "\"source\":\"local\",\"ts\":1,\"type\":\"logon_ok\","
		 "\"where\":\"w\"}",
		 TF_EUNKNOWN, "actor.name"},
		{MIN_ENTRY(",\"what\":{\"reason\":\"x\"}"), TF_EUNKNOWN,
		 "what.reason"},
		{MIN_ENTRY(",\"what\":{}"), TF_EVALIDATE, "what"},
		{MIN_ENTRY(",\"what\":[]"), TF_ETYPE, "what"},
		{MIN_ENTRY(",\"detail\":[]"), TF_ETYPE, "detail"},
		{MIN_ENTRY(",\"detail\":{\"a\":{\"b\":{\"c\":{\"d\":{}}}}}"),
		 TF_ELIMIT, ""},
		{"{\"actor\":{\"user\":\"alvarez\"},\"outcome\":\"success\","
		 "\"prev\":\"" Z64 "\",\"source\":\"local\",\"ts\":1,"
		 "\"type\":\"logon_ok\",\"where\":\"w\"}",
		 TF_EMISSING, "seq"},
		{"{\"actor\":{\"user\":\"alvarez\"},\"outcome\":\"success\","
		 "\"prev\":\"" Z64 "\",\"seq\":\"1\",\"source\":\"local\","
		 "\"ts\":1,\"type\":\"logon_ok\",\"where\":\"w\"}",
		 TF_ETYPE, "seq"},
		{"{\"actor\":{\"user\":\"alvarez\"},\"outcome\":\"success\","
		 "\"prev\":\"" Z64 "\",\"seq\":1.0,\"source\":\"local\","
		 "\"ts\":1,\"type\":\"logon_ok\",\"where\":\"w\"}",
		 TF_ETYPE, "seq"},
		{"{\"actor\":{\"user\":\"alvarez\"},\"outcome\":\"success\","
		 "\"prev\":\"" Z64 "\",\"seq\":0,\"source\":\"local\","
		 "\"ts\":1,\"type\":\"logon_ok\",\"where\":\"w\"}",
		 TF_ERANGE, "seq"},
		{"{\"actor\":{\"user\":\"alvarez\"},\"outcome\":\"success\","
		 "\"prev\":\"" Z64 "\",\"seq\":1,\"source\":\"local\","
		 "\"ts\":-1,\"type\":\"logon_ok\",\"where\":\"w\"}",
		 TF_ERANGE, "ts"},
		{"{\"actor\":{\"user\":\"alvarez\"},\"outcome\":\"ok\","
		 "\"prev\":\"" Z64 "\",\"seq\":1,\"source\":\"local\","
		 "\"ts\":1,\"type\":\"logon_ok\",\"where\":\"w\"}",
		 TF_EVALIDATE, "outcome"},
		{"{\"actor\":{\"user\":\"alvarez\"},"
		 "\"prev\":\"" Z64 "\",\"seq\":1,\"source\":\"local\","
		 "\"ts\":1,\"type\":\"logon_ok\",\"where\":\"w\"}",
		 TF_EMISSING, "outcome"},
		{"{\"actor\":{\"user\":\"alvarez\"},\"outcome\":\"success\","
		 "\"prev\":\"" Z64 "\",\"seq\":1,\"source\":\"local\","
		 "\"ts\":1,\"type\":\"logon\",\"where\":\"w\"}",
		 TF_EVALIDATE, "type"},
		{"{\"actor\":{\"user\":\"alvarez\"},\"outcome\":\"success\","
		 "\"prev\":\"" Z64 "\",\"seq\":1,\"source\":\"local\","
		 "\"ts\":1,\"type\":7,\"where\":\"w\"}",
		 TF_ETYPE, "type"},
		{"{\"outcome\":\"success\","
		 "\"prev\":\"" Z64 "\",\"seq\":1,\"source\":\"local\","
		 "\"ts\":1,\"type\":\"logon_ok\",\"where\":\"w\"}",
		 TF_EMISSING, "actor"},
		{"{\"actor\":\"alvarez\",\"outcome\":\"success\","
		 "\"prev\":\"" Z64 "\",\"seq\":1,\"source\":\"local\","
		 "\"ts\":1,\"type\":\"logon_ok\",\"where\":\"w\"}",
		 TF_ETYPE, "actor"},
		{"{\"actor\":{},\"outcome\":\"success\","
		 "\"prev\":\"" Z64 "\",\"seq\":1,\"source\":\"local\","
		 "\"ts\":1,\"type\":\"logon_ok\",\"where\":\"w\"}",
		 TF_EMISSING, "actor.user"},
		{"{\"actor\":{\"user\":5},\"outcome\":\"success\","
		 "\"prev\":\"" Z64 "\",\"seq\":1,\"source\":\"local\","
		 "\"ts\":1,\"type\":\"logon_ok\",\"where\":\"w\"}",
		 TF_ETYPE, "actor.user"},
		{"{\"actor\":{\"user\":\"alvarez\"},\"outcome\":\"success\","
		 "\"prev\":\"" Z64 "\",\"seq\":1,"
		 "\"ts\":1,\"type\":\"logon_ok\",\"where\":\"w\"}",
		 TF_EMISSING, "source"},
		{"{\"actor\":{\"user\":\"alvarez\"},\"outcome\":\"success\","
		 "\"prev\":\"ABC\",\"seq\":1,\"source\":\"local\","
		 "\"ts\":1,\"type\":\"logon_ok\",\"where\":\"w\"}",
		 TF_EVALIDATE, "prev"},
		{"[1]", TF_ETYPE, "entry"},
		{"{\"actor\":", TF_EJSON, ""},
		{MIN_ENTRY(",\"seq\":2"), TF_EDUPKEY, ""},
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		tf_audit_event got;
		tf_json *tree = (tf_json *)&got; /* must come back NULL */
		tf_err err;
		int rc;

		tf_err_clear(&err);
		memset(&got, 0x5a, sizeof got);
		rc = tf_audit_parse(cases[i].text, strlen(cases[i].text), &got,
				    &tree, &err);
		if (rc != cases[i].rc)
			tf_test_fail(__FILE__, __LINE__,
				     "case %zu: rc %d, want %d (%s)", i, rc,
				     cases[i].rc, err.msg);
		if (cases[i].where[0])
			CHECK_STR(err.where, cases[i].where);
		CHECK(tree == NULL);
		CHECK_INT(got.seq, 0x5a5a5a5a5a5a5a5aULL);
	}
}

TEST(parse_size_limit)
{
	size_t n = TF_AUDIT_ENTRY_MAX + 1;
	char *text = malloc(n);
	tf_audit_event got;
	tf_json *tree = NULL;
	tf_err err;

	if (text == NULL)
		return;
	memset(text, ' ', n);
	CHECK_INT(tf_audit_parse(text, n, &got, &tree, &err), TF_ELIMIT);
	CHECK_INT(tf_audit_parse(NULL, 0, &got, &tree, &err), TF_EINVAL);
	free(text);
}

/* ------------------------------------------------------------- chains */

/* Entries owned by the test, each with its stand-in hash. */
struct chain {
	char *bytes[MAXE];
	tf_audit_blob b[MAXE];
	size_t n;
};

static void chain_free(struct chain *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free(c->bytes[i]);
	c->n = 0;
}

/*
 * Appends an entry; prev_hex NULL links it to the last entry of the chain
 * (or genesis).  Returns its index.
 */
static size_t add(struct chain *c, uint64_t seq, int64_t ts, tf_audit_type t,
		  int success, const char *prev_hex)
{
	char prev[TF_AUDIT_PREV_LEN + 1];
	tf_audit_event e;
	tf_json *d = tf_json_object();
	tf_buf out;
	tf_err err;
	size_t i = c->n;

	if (i >= MAXE || d == NULL) {
		tf_test_fail(__FILE__, __LINE__, "chain full");
		tf_json_free(d);
		return 0;
	}
	if (prev_hex) {
		snprintf(prev, sizeof prev, "%s", prev_hex);
	} else if (i == 0) {
		memcpy(prev, tf_audit_genesis, sizeof prev);
	} else {
		tf_hex_encode(c->b[i - 1].hash, 32, prev);
	}
	tf_json_object_set(d, "n", tf_json_uint(seq));
	memset(&e, 0, sizeof e);
	e.seq = seq;
	e.ts_ms = ts;
	e.type = t;
	e.success = success;
	e.user = "alvarez";
	e.device = "mdt-2a12";
	e.source = "local";
	e.where = "mdt";
	e.detail = d;
	e.prev = prev;
	tf_buf_init(&out);
	if (tf_audit_write(&e, &out, &err))
		tf_test_fail(__FILE__, __LINE__, "write: %s", err.msg);
	c->bytes[i] = tf_buf_take(&out, &c->b[i].len);
	c->b[i].bytes = c->bytes[i];
	stand_in_hash(c->b[i].bytes, c->b[i].len, c->b[i].hash);
	c->n++;
	tf_json_free(d);
	return i;
}

static void hex_of(const struct chain *c, size_t i, char out[65])
{
	tf_hex_encode(c->b[i].hash, 32, out);
}

/* Six linked entries, seq 1..6, one second apart. */
static void six(struct chain *c)
{
	uint64_t s;

	memset(c, 0, sizeof *c);
	for (s = 1; s <= 6; s++)
		add(c, s, T0 + (int64_t)s * 1000,
		    s % 2 ? TF_AUDIT_ACCESS : TF_AUDIT_MODIFY, 1, NULL);
}

/* A view: blobs of `c` in the order of idx (-1 ends). */
static size_t view(const struct chain *c, const int *idx, tf_audit_blob *out)
{
	size_t n = 0;

	while (idx[n] >= 0 && n < MAXE) {
		out[n] = c->b[idx[n]];
		n++;
	}
	return n;
}

static int verify(const tf_audit_blob *b, size_t n, const tf_audit_anchor *a,
		  tf_audit_report *rep)
{
	int rc = tf_audit_verify(b, n, a, rep);

	if (rc && getenv("TF_TEST_VERBOSE"))
		fprintf(stderr, "  verify: %s at %zu: %s\n",
			tf_audit_fault_name(rep->fault), rep->index, rep->msg);
	return rc;
}

TEST(chain_verifies)
{
	struct chain c;
	tf_audit_report rep;
	tf_audit_anchor a;

	six(&c);
	CHECK_INT(verify(c.b, c.n, NULL, &rep), 0);
	CHECK_INT(rep.fault, TF_AUDIT_OK);
	CHECK_INT(rep.index, 6);
	CHECK_INT(rep.verified, 6);
	CHECK_INT(rep.seq, 6);
	/* Anchored at genesis and at the head. */
	memset(&a, 0, sizeof a);
	a.has_first = 1;
	a.first_seq = 1;
	a.has_checkpoint = 1;
	a.checkpoint_seq = 6;
	memcpy(a.checkpoint_hash, c.b[5].hash, 32);
	CHECK_INT(verify(c.b, c.n, &a, &rep), 0);
	/* A mid-log checkpoint with later entries after it. */
	a.checkpoint_seq = 4;
	memcpy(a.checkpoint_hash, c.b[3].hash, 32);
	CHECK_INT(verify(c.b, c.n, &a, &rep), 0);
	/* Empty. */
	CHECK_INT(verify(NULL, 0, NULL, &rep), 0);
	CHECK_INT(rep.verified, 0);
	chain_free(&c);
}

TEST(chain_detects_altered_entry)
{
	struct chain c;
	tf_audit_report rep;
	char *p;

	six(&c);
	/* The failure of entry 2 rewritten as a success; host re-hashes. */
	p = strstr(c.bytes[2], "\"success\"");
	CHECK(p != NULL);
	if (p != NULL) {
		memcpy(p, "\"failure\"", 9);
		stand_in_hash(c.b[2].bytes, c.b[2].len, c.b[2].hash);
	}
	CHECK_INT(verify(c.b, c.n, NULL, &rep), TF_EVALIDATE);
	CHECK_INT(rep.fault, TF_AUDIT_ALTERED);
	CHECK_INT(rep.index, 2);
	CHECK_INT(rep.seq, 3);
	CHECK_INT(rep.verified, 2);
	CHECK(strstr(rep.msg, "altered") != NULL);
	chain_free(&c);
}

TEST(chain_detects_removed_entry)
{
	static const int order[] = {0, 1, 2, 4, 5, -1};
	struct chain c;
	tf_audit_blob v[MAXE];
	tf_audit_report rep;
	size_t n;

	six(&c);
	n = view(&c, order, v);
	CHECK_INT(verify(v, n, NULL, &rep), TF_EVALIDATE);
	CHECK_INT(rep.fault, TF_AUDIT_REMOVED);
	CHECK_INT(rep.index, 3);
	CHECK_INT(rep.seq, 5);
	CHECK(strstr(rep.msg, "seq 4 was removed") != NULL);
	chain_free(&c);
}

TEST(chain_detects_reordered_entries)
{
	static const int swap[] = {0, 1, 3, 2, 4, 5, -1};
	static const int swap_end[] = {0, 1, 2, 3, 5, 4, -1};
	static const int moved[] = {0, 1, 3, 4, 2, 5, -1};
	struct chain c;
	tf_audit_blob v[MAXE];
	tf_audit_report rep;
	size_t n;

	six(&c);
	n = view(&c, swap, v);
	CHECK_INT(verify(v, n, NULL, &rep), TF_EVALIDATE);
	CHECK_INT(rep.fault, TF_AUDIT_REORDERED);
	CHECK_INT(rep.index, 2);
	CHECK_INT(rep.seq, 4);
	n = view(&c, swap_end, v);
	CHECK_INT(verify(v, n, NULL, &rep), TF_EVALIDATE);
	CHECK_INT(rep.fault, TF_AUDIT_REORDERED);
	CHECK_INT(rep.index, 4);
	n = view(&c, moved, v);
	CHECK_INT(verify(v, n, NULL, &rep), TF_EVALIDATE);
	CHECK_INT(rep.fault, TF_AUDIT_REORDERED);
	CHECK_INT(rep.index, 2);
	chain_free(&c);
}

TEST(chain_detects_inserted_entry)
{
	struct chain c, forged;
	tf_audit_blob v[MAXE];
	tf_audit_report rep;
	char h[65];
	size_t i;

	six(&c);
	memset(&forged, 0, sizeof forged);
	/* X0: seq 3 again, copying entry 2's prev; placed after entry 2. */
	tf_hex_encode(c.b[1].hash, 32, h);
	add(&forged, 3, T0 + 3500, TF_AUDIT_DELETE, 1, h);
	/* X1: seq 3 with a made-up prev; placed before entry 2. */
	add(&forged, 3, T0 + 2500, TF_AUDIT_DELETE, 1,
	    "1111111111111111111111111111111111111111111111111111111111111111");
	/* X2: seq 4 properly linked to entry 2; placed before entry 3. */
	hex_of(&c, 2, h);
	add(&forged, 4, T0 + 3500, TF_AUDIT_DELETE, 1, h);

	for (i = 0; i < 3; i++)
		v[i] = c.b[i];
	v[3] = forged.b[0];
	for (i = 3; i < 6; i++)
		v[i + 1] = c.b[i];
	CHECK_INT(verify(v, 7, NULL, &rep), TF_EVALIDATE);
	CHECK_INT(rep.fault, TF_AUDIT_INSERTED);
	CHECK_INT(rep.index, 3);

	for (i = 0; i < 2; i++)
		v[i] = c.b[i];
	v[2] = forged.b[1];
	for (i = 2; i < 6; i++)
		v[i + 1] = c.b[i];
	CHECK_INT(verify(v, 7, NULL, &rep), TF_EVALIDATE);
	CHECK_INT(rep.fault, TF_AUDIT_INSERTED);
	CHECK_INT(rep.index, 2);

	for (i = 0; i < 3; i++)
		v[i] = c.b[i];
	v[3] = forged.b[2];
	for (i = 3; i < 6; i++)
		v[i + 1] = c.b[i];
	CHECK_INT(verify(v, 7, NULL, &rep), TF_EVALIDATE);
	CHECK_INT(rep.fault, TF_AUDIT_INSERTED);
	CHECK_INT(rep.index, 3);
	CHECK_INT(rep.verified, 3);
	chain_free(&forged);
	chain_free(&c);
}

TEST(chain_detects_seq_and_prev_edits)
{
	struct chain c, edit;
	tf_audit_blob v[MAXE];
	tf_audit_report rep;
	char h[65];
	size_t i;

	six(&c);
	memset(&edit, 0, sizeof edit);
	/* Entry 3 with its seq changed to 9 but its prev intact. */
	hex_of(&c, 2, h);
	add(&edit, 9, T0 + 4000, TF_AUDIT_MODIFY, 1, h);
	/* Entry 3 with its prev changed. */
	add(&edit, 4, T0 + 4000, TF_AUDIT_MODIFY, 1,
	    "2222222222222222222222222222222222222222222222222222222222222222");
	for (i = 0; i < 6; i++)
		v[i] = c.b[i];
	v[3] = edit.b[0];
	CHECK_INT(verify(v, 6, NULL, &rep), TF_EVALIDATE);
	CHECK_INT(rep.fault, TF_AUDIT_ALTERED);
	CHECK_INT(rep.index, 3);
	CHECK(strstr(rep.msg, "seq was altered") != NULL);
	v[3] = edit.b[1];
	CHECK_INT(verify(v, 6, NULL, &rep), TF_EVALIDATE);
	CHECK_INT(rep.fault, TF_AUDIT_ALTERED);
	CHECK_INT(rep.index, 3);
	chain_free(&edit);
	chain_free(&c);
}

TEST(chain_anchors)
{
	static const int tail[] = {2, 3, 4, 5, -1};
	static const int cut[] = {0, 1, 2, 3, 4, -1};
	struct chain c;
	tf_audit_blob v[MAXE];
	tf_audit_anchor a;
	tf_audit_report rep;
	size_t n;
	char *p;

	six(&c);
	/* A retained tail verifies on its own ... */
	n = view(&c, tail, v);
	CHECK_INT(verify(v, n, NULL, &rep), 0);
	/* ... and against the hash of the entry before it. */
	memset(&a, 0, sizeof a);
	a.has_first = 1;
	a.first_seq = 3;
	memcpy(a.first_prev, c.b[1].hash, 32);
	CHECK_INT(verify(v, n, &a, &rep), 0);
	/* Against genesis, the start is missing. */
	a.first_seq = 1;
	memset(a.first_prev, 0, 32);
	CHECK_INT(verify(v, n, &a, &rep), TF_EVALIDATE);
	CHECK_INT(rep.fault, TF_AUDIT_REMOVED);
	CHECK_INT(rep.index, 0);
	a.first_seq = 4;
	CHECK_INT(verify(v, n, &a, &rep), TF_EVALIDATE);
	CHECK_INT(rep.fault, TF_AUDIT_ANCHOR);
	a.first_seq = 3;
	CHECK_INT(verify(v, n, &a, &rep), TF_EVALIDATE);
	CHECK_INT(rep.fault, TF_AUDIT_ANCHOR);

	/* Cut off at the end: only a checkpoint can tell. */
	n = view(&c, cut, v);
	CHECK_INT(verify(v, n, NULL, &rep), 0);
	memset(&a, 0, sizeof a);
	a.has_checkpoint = 1;
	a.checkpoint_seq = 6;
	memcpy(a.checkpoint_hash, c.b[5].hash, 32);
	CHECK_INT(verify(v, n, &a, &rep), TF_EVALIDATE);
	CHECK_INT(rep.fault, TF_AUDIT_REMOVED);
	CHECK_INT(rep.index, 5);
	CHECK_INT(verify(NULL, 0, &a, &rep), TF_EVALIDATE);
	CHECK_INT(rep.fault, TF_AUDIT_REMOVED);
	/* The last entry altered: only a checkpoint can tell. */
	p = strstr(c.bytes[5], "\"success\"");
	if (p != NULL) {
		memcpy(p, "\"failure\"", 9);
		stand_in_hash(c.b[5].bytes, c.b[5].len, c.b[5].hash);
	}
	CHECK_INT(verify(c.b, c.n, NULL, &rep), 0);
	CHECK_INT(verify(c.b, c.n, &a, &rep), TF_EVALIDATE);
	CHECK_INT(rep.fault, TF_AUDIT_ALTERED);
	CHECK_INT(rep.index, 5);
	/* A checkpoint before the entries given. */
	n = view(&c, tail, v);
	a.checkpoint_seq = 1;
	CHECK_INT(verify(v, n, &a, &rep), TF_EVALIDATE);
	CHECK_INT(rep.fault, TF_AUDIT_ANCHOR);
	chain_free(&c);
}

TEST(chain_detects_malformed_and_non_canonical)
{
	static const char junk[] = "{not json";
	struct chain c;
	tf_audit_blob v[MAXE];
	tf_audit_report rep;
	char *spaced;
	size_t i;

	six(&c);
	for (i = 0; i < 6; i++)
		v[i] = c.b[i];
	v[3].bytes = junk;
	v[3].len = strlen(junk);
	stand_in_hash(junk, v[3].len, v[3].hash);
	CHECK_INT(verify(v, 6, NULL, &rep), TF_EVALIDATE);
	CHECK_INT(rep.fault, TF_AUDIT_MALFORMED);
	CHECK_INT(rep.index, 3);
	CHECK(strstr(rep.msg, "entry 3") != NULL);
	/* The same entry with a leading space: parses, is not canonical. */
	spaced = malloc(c.b[3].len + 2);
	if (spaced != NULL) {
		spaced[0] = ' ';
		memcpy(spaced + 1, c.b[3].bytes, c.b[3].len);
		v[3].bytes = spaced;
		v[3].len = c.b[3].len + 1;
		stand_in_hash(spaced, v[3].len, v[3].hash);
		CHECK_INT(verify(v, 6, NULL, &rep), TF_EVALIDATE);
		CHECK_INT(rep.fault, TF_AUDIT_MALFORMED);
		CHECK_INT(rep.index, 3);
		CHECK(strstr(rep.msg, "canonical") != NULL);
	}
	/* An earlier chain fault is reported before a later bad entry. */
	v[1] = c.b[2];
	CHECK_INT(verify(v, 6, NULL, &rep), TF_EVALIDATE);
	CHECK(rep.index < 3);
	free(spaced);
	chain_free(&c);
}

TEST(chain_time_must_not_go_back)
{
	struct chain c;
	tf_audit_report rep;

	memset(&c, 0, sizeof c);
	add(&c, 1, T0 + 1000, TF_AUDIT_LOGON_OK, 1, NULL);
	add(&c, 2, T0 + 2000, TF_AUDIT_ACCESS, 1, NULL);
	add(&c, 3, T0 + 2000, TF_AUDIT_ACCESS, 1, NULL); /* equal is fine */
	add(&c, 4, T0 + 1500, TF_AUDIT_ACCESS, 1, NULL);
	CHECK_INT(verify(c.b, c.n, NULL, &rep), TF_EVALIDATE);
	CHECK_INT(rep.fault, TF_AUDIT_TIME);
	CHECK_INT(rep.index, 3);
	chain_free(&c);

	/* A clock_rebase entry records the step back; time goes on from it. */
	add(&c, 1, T0 + 1000, TF_AUDIT_LOGON_OK, 1, NULL);
	add(&c, 2, T0 + 70000, TF_AUDIT_ACCESS, 1, NULL);
	add(&c, 3, T0 + 30000, TF_AUDIT_CLOCK_REBASE, 1, NULL);
	add(&c, 4, T0 + 31000, TF_AUDIT_ACCESS, 1, NULL);
	add(&c, 5, T0 + 20000, TF_AUDIT_CLOCK_ROLLBACK, 0, NULL);
	CHECK_INT(verify(c.b, c.n, NULL, &rep), 0);
	chain_free(&c);
}

TEST(verify_argument_errors)
{
	tf_audit_blob b;
	tf_audit_report rep;

	memset(&b, 0, sizeof b);
	CHECK_INT(tf_audit_verify(NULL, 1, NULL, &rep), TF_EINVAL);
	CHECK_INT(tf_audit_verify(&b, 1, NULL, &rep), TF_EINVAL);
	CHECK_INT(tf_audit_verify(&b, TF_AUDIT_VERIFY_MAX + 1, NULL, &rep),
		  TF_ELIMIT);
}

int main(int argc, char **argv)
{
	(void)argc;
	RUN(type_names_round_trip);
	RUN(canonical_bytes_of_a_fixed_event);
	RUN(agency_member);
	RUN(minimal_event_omits_absent_members);
	RUN(write_validates_every_member);
	RUN(write_bounds_detail);
	RUN(direct_bytes_equal_tree_reference);
	RUN(write_into_failed_buffer);
	RUN(parse_round_trip);
	RUN(parse_accepts_any_formatting);
	RUN(parse_errors);
	RUN(parse_size_limit);
	RUN(chain_verifies);
	RUN(chain_detects_altered_entry);
	RUN(chain_detects_removed_entry);
	RUN(chain_detects_reordered_entries);
	RUN(chain_detects_inserted_entry);
	RUN(chain_detects_seq_and_prev_edits);
	RUN(chain_anchors);
	RUN(chain_detects_malformed_and_non_canonical);
	RUN(chain_time_must_not_go_back);
	RUN(verify_argument_errors);
	return tf_test_finish(argv[0]);
}

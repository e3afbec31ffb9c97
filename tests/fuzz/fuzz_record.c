/*
 * fuzz_record.c - libFuzzer target for the merge code: tf_record_check on
 * an untrusted state, then the command path (tf_command_from_json,
 * tf_command_validate, tf_record_apply) on top of it.
 *
 * Input: a record state (JSON; the literal `null` stands for "no record")
 * and a command wire object, separated by a NUL byte.  The schema is built
 * in (below), small on purpose so that every limit (log and set sizes,
 * text bytes, conflicts, tags, transitions, history) is within a few
 * mutations' reach.  Checked on every input:
 *   - a state that fails tf_record_check is never applied to;
 *   - tf_command_from_json either fills the command or leaves it zeroed;
 *     a parsed command writes back to the same canonical bytes, both ways
 *     (tf_command_canonical and tf_command_to_json);
 *   - tf_record_apply, as replica (authority 0) and as server (1), with
 *     the same outcome (unless the server cannot raise ver any more):
 *     returns 0 or TF_ENOMEM (a checked state and a validated command
 *     leave nothing else: what is wrong is a REJECTED); on an error or a
 *     REJECTED status the record's canonical bytes are unchanged and there
 *     is no detail; on APPLIED or CONFLICT the result passes
 *     tf_record_check, mhlc is at least the command's stamp and the server
 *     raised ver by one;
 *   - applying the same command again to the replica's result changes no
 *     byte (idempotency: every op recognises its own effect).
 */
#include "tenfour/record.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(c)                                                             \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

/*
 * Two entities over every class and type: tiny limits, an enum with
 * initial values, transitions and a history log, an online_only field,
 * nested objects and arrays, nullable values, refs.
 */
static const char schema_text[] =
	"{\"schema_version\":1,"
	"\"roles\":[\"officer\",\"dispatcher\",\"service\"],"
	"\"entities\":{"
	"\"inc\":{\"scope\":{\"rule\":\"assigned_unit\",\"field\":\"units\"},"
	"\"write_roles\":[\"officer\",\"dispatcher\"],"
	"\"fields\":{"
	"\"st\":{\"class\":\"lww\",\"type\":\"enum\",\"history\":\"hist\","
	"\"values\":[\"a\",\"b\",\"c\"],\"initial\":[\"a\"],"
	"\"transitions\":{\"a\":[\"b\"],\"b\":[\"a\",\"c\"],\"c\":[]}},"
	"\"pri\":{\"class\":\"lww\",\"type\":\"integer\",\"min\":1,\"max\":5},"
	"\"loc\":{\"class\":\"lww\",\"type\":\"object\",\"nullable\":true,"
	"\"props\":{\"lat\":{\"type\":\"number\",\"min\":-90,\"max\":90,"
	"\"required\":true},"
	"\"tags\":{\"type\":\"array\",\"max\":3,"
	"\"items\":{\"type\":\"string\",\"max\":4}}}},"
	"\"lock\":{\"class\":\"lww\",\"type\":\"string\",\"max\":8,"
	"\"offline\":\"online_only\"},"
	"\"at\":{\"class\":\"lww\",\"type\":\"timestamp\",\"nullable\":true},"
	"\"hist\":{\"class\":\"log\",\"type\":\"object\",\"max_entries\":6,"
	"\"props\":{\"field\":{\"type\":\"enum\",\"values\":[\"st\"],"
	"\"required\":true},"
	"\"value\":{\"type\":\"enum\",\"values\":[\"a\",\"b\",\"c\"],"
	"\"required\":true}}},"
	"\"note\":{\"class\":\"log\",\"type\":\"object\",\"max_entries\":5,"
	"\"props\":{\"text\":{\"type\":\"string\",\"min\":1,\"max\":16,"
	"\"required\":true},"
	"\"kind\":{\"type\":\"enum\",\"values\":[\"x\",\"y\"]}}},"
	"\"units\":{\"class\":\"set\",\"type\":\"string\",\"min\":1,\"max\":8,"
	"\"max_entries\":4},"
	"\"crew\":{\"class\":\"set\",\"type\":\"object\",\"max_entries\":3,"
	"\"props\":{\"n\":{\"type\":\"string\",\"max\":8,\"required\":true},"
	"\"r\":{\"type\":\"boolean\"}}},"
	"\"rm\":{\"class\":\"text\",\"max_bytes\":64},"
	"\"num\":{\"class\":\"ref\",\"type\":\"string\",\"min\":1,\"max\":8,"
	"\"write_roles\":[\"service\"]}}},"
	"\"unit\":{\"scope\":{\"rule\":\"agency\"},"
	"\"write_roles\":[\"officer\"],"
	"\"fields\":{"
	"\"status\":{\"class\":\"lww\",\"type\":\"string\",\"max\":16},"
	"\"nar\":{\"class\":\"text\",\"max_bytes\":256},"
	"\"call\":{\"class\":\"ref\",\"type\":\"string\",\"max\":8}}}}}";

#define NOW_MS INT64_C(1764000000000)

static tf_schema *schema;

static const tf_schema *the_schema(void)
{
	tf_err err;

	if (schema == NULL)
		REQUIRE(tf_schema_load(schema_text, sizeof schema_text - 1,
				       &schema, &err) == 0);
	return schema;
}

/* Canonical bytes of v ("null" for no record), malloc'd. */
static char *canon(const tf_json *v, size_t *len)
{
	tf_buf b;
	char *s;

	tf_buf_init(&b);
	if (v == NULL)
		tf_buf_puts(&b, "null");
	else
		tf_json_write(v, &b);
	REQUIRE(b.failed == 0);
	s = tf_buf_take(&b, len);
	REQUIRE(s != NULL);
	return s;
}

static int same_bytes(const tf_json *v, const char *s, size_t len)
{
	size_t n;
	char *t = canon(v, &n);
	int eq = n == len && memcmp(t, s, n) == 0;

	free(t);
	return eq;
}

/* The command's two canonical forms agree and parse back to themselves. */
static void check_command_bytes(const tf_command *c)
{
	tf_buf a, b;
	tf_json *j = NULL, *j2 = NULL;
	tf_command back;
	tf_err err;

	tf_buf_init(&a);
	tf_buf_init(&b);
	REQUIRE(tf_command_canonical(c, &a) == 0);
	REQUIRE(tf_command_to_json(c, &j) == 0);
	REQUIRE(tf_json_write(j, &b) == 0);
	REQUIRE(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	REQUIRE(tf_json_parse(a.data, a.len, NULL, &j2, &err) == 0);
	REQUIRE(tf_json_equal(j, j2));
	REQUIRE(tf_command_from_json(j2, &back, &err) == 0);
	tf_buf_reset(&b);
	REQUIRE(tf_command_canonical(&back, &b) == 0);
	REQUIRE(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	tf_command_clear(&back);
	tf_json_free(j2);
	tf_json_free(j);
	tf_buf_free(&b);
	tf_buf_free(&a);
}

/*
 * Applies c to a copy of state with the given authority and checks the
 * outcome.  Returns the copy (the caller frees it); *st the status, 0
 * after an error return.
 */
static tf_json *apply_checked(const tf_json *state, const tf_command *c,
			      int authority, tf_status *st)
{
	tf_apply_ctx ctx;
	tf_apply_result res;
	tf_json *rec = NULL;
	tf_err err;
	char *before;
	size_t blen;
	int rc;

	if (state) {
		rec = tf_json_clone(state);
		REQUIRE(rec != NULL);
	}
	before = canon(rec, &blen);
	memset(&ctx, 0, sizeof ctx);
	ctx.schema = the_schema();
	ctx.now_ms = NOW_MS;
	ctx.authority = authority;
	ctx.allow_ref = 1;
	rc = tf_record_apply(&rec, c, &ctx, &res);
	*st = rc ? (tf_status)0 : res.status;
	if (rc) {
		REQUIRE(rc == TF_ENOMEM);
		REQUIRE(res.detail == NULL);
		REQUIRE(same_bytes(rec, before, blen));
	} else if (res.status == TF_ST_REJECTED) {
		REQUIRE(res.err.code < 0 && res.err.msg[0] != '\0');
		REQUIRE(res.detail == NULL);
		REQUIRE(same_bytes(rec, before, blen));
	} else {
		REQUIRE(res.status == TF_ST_APPLIED ||
			res.status == TF_ST_CONFLICT);
		REQUIRE(rec != NULL);
		REQUIRE(res.detail == NULL ||
			res.detail->type == TF_JSON_OBJECT);
		if (tf_record_check(the_schema(), rec, &err) != 0) {
			size_t n;
			char *after = canon(rec, &n);
			fprintf(stderr, "check fails after apply: %s\n%s\n",
				err.msg, after);
			free(after);
			abort();
		}
		REQUIRE(tf_record_mhlc(rec) >= c->hlc);
		REQUIRE(tf_record_ver(rec) ==
			(state ? tf_record_ver(state) : 0) +
				(authority ? 1 : 0));
		/* the accessors hold up on any state apply makes */
		(void)tf_record_conflicts(rec);
		(void)tf_record_superseded(rec, c, "st");
		(void)tf_record_ref_stale(rec, "num", NOW_MS);
	}
	tf_apply_result_clear(&res);
	free(before);
	return rec;
}

/*
 * tf_record_apply's contract: a command id is applied under one stamp
 * only (the ledger refuses reuse).  1 when the state's logs hold this
 * command's id under another stamp: such an input is outside the contract.
 */
static int id_reused(const tf_json *state, const tf_command *c)
{
	const tf_json *f = state ? tf_json_object_get(state, "f") : NULL;
	char t[TF_HLC_TEXT_LEN + 1];
	size_t i, k;

	if (f == NULL || f->type != TF_JSON_OBJECT)
		return 0;
	tf_hlc_format(c->hlc, t);
	for (i = 0; i < f->len; i++) {
		const tf_json *e = tf_json_object_get(f->u.members[i].value, "e");
		if (e == NULL || e->type != TF_JSON_ARRAY)
			continue;
		for (k = 0; k < e->len; k++) {
			const char *id = tf_json_get_str(e->u.items[k], "id", NULL);
			const char *et = tf_json_get_str(e->u.items[k], "t", NULL);
			if (id && et && strcmp(id, c->cmd_id) == 0 &&
			    strcmp(et, t) != 0)
				return 1;
		}
	}
	return 0;
}

/* Splits the input at the first NUL: state, then command. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *nul = memchr(text, '\0', size);
	tf_json *sj = NULL, *cj = NULL, *state = NULL, *r0 = NULL, *r1 = NULL;
	tf_json *again = NULL;
	tf_command c;
	tf_apply_ctx ctx;
	tf_apply_result res;
	tf_status st0, st1;
	tf_err err;
	size_t slen, clen, n;
	char *bytes;
	int rc;

	memset(&c, 0, sizeof c);
	if (nul == NULL)
		return 0;
	slen = (size_t)(nul - text);
	clen = size - slen - 1;
	if (tf_json_parse(text, slen, NULL, &sj, &err) != 0)
		return 0;
	if (sj->type != TF_JSON_NULL) {
		if (tf_record_check(the_schema(), sj, &err) != 0) {
			REQUIRE(err.code < 0 && err.msg[0] != '\0');
			goto out;
		}
		state = sj;
	}
	if (tf_json_parse(nul + 1, clen, NULL, &cj, &err) != 0)
		goto out;
	rc = tf_command_from_json(cj, &c, &err);
	if (rc) {
		REQUIRE(rc < 0 && err.msg[0] != '\0');
		REQUIRE(c.args == NULL && c.cmd_id[0] == '\0');
		goto out;
	}
	check_command_bytes(&c);
	/* Mutations rarely keep two UUIDs in step: aim at the record. */
	if (state && tf_record_id(state))
		memcpy(c.record_id, tf_record_id(state), TF_UUID_LEN);
	rc = tf_command_validate(the_schema(), &c, 0, &err);
	REQUIRE(rc <= 0);
	rc = tf_command_validate(the_schema(), &c, 1, &err);
	if (rc) {
		REQUIRE(rc < 0 && err.msg[0] != '\0');
		goto out;
	}

	if (id_reused(state, &c))
		goto out;
	r0 = apply_checked(state, &c, 0, &st0);
	r1 = apply_checked(state, &c, 1, &st1);
	/* replica and server agree on the outcome, but for the server's
	 * refusal to raise ver past INT64_MAX */
	REQUIRE(st0 == st1 || (st1 == TF_ST_REJECTED && state &&
			       tf_record_ver(state) == INT64_MAX));

	/* Idempotency: the replica's result does not move under a replay. */
	if (st0 == TF_ST_APPLIED || st0 == TF_ST_CONFLICT) {
		bytes = canon(r0, &n);
		memset(&ctx, 0, sizeof ctx);
		ctx.schema = the_schema();
		ctx.now_ms = NOW_MS;
		ctx.allow_ref = 1;
		again = r0;
		r0 = NULL;
		rc = tf_record_apply(&again, &c, &ctx, &res);
		REQUIRE(rc == 0);
		if (!same_bytes(again, bytes, n)) {
			size_t m;
			char *after = canon(again, &m);
			fprintf(stderr, "replay changed the record:\n%s\n%s\n",
				bytes, after);
			free(after);
			abort();
		}
		tf_apply_result_clear(&res);
		free(bytes);
	}
out:
	tf_json_free(again);
	tf_json_free(r1);
	tf_json_free(r0);
	tf_command_clear(&c);
	tf_json_free(cj);
	tf_json_free(sj);
	return 0;
}

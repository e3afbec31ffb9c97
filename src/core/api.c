/*
 * api.c - the JSON method dispatcher over the core (see api.h): the thin
 * ABI of the WebAssembly build and of the test vectors.
 *
 * Each method reads its members from the parsed input object with the
 * in_* helpers (which name the member in errors, "input.now"), calls the
 * core, and appends the canonical bytes of its result to the output right
 * after the "{\"ok\":" prefix; on failure the output is reset and replaced
 * by the error document.  Results are built as tf_json trees (objects stay
 * sorted, so they write canonically) or spliced from the canonical bytes a
 * core function already produced.
 *
 * The method inputs are documented in tests/vectors/README.md.
 */
#include "tenfour/api.h"

#include "tenfour/audit.h"
#include "tenfour/diff.h"
#include "tenfour/policy.h"
#include "tenfour/replica.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tf_api {
	tf_schema *schema; /* NULL until schema.load */
	tf_replica *rep[TF_API_MAX_REPLICAS];
	/* store.*: record states by id, open addressing, linear probing */
	tf_json **store;
	size_t store_cap, store_n;
};

/* One call in progress. */
typedef struct call {
	tf_api *a;
	const char *raw; /* the input bytes */
	size_t rawlen;
	tf_json *in;	    /* the parsed input object; NULL for raw methods */
	const char *prefix; /* names `in` in errors: "input", "input.guard" */
	tf_buf *out; /* the result goes here, after the "{\"ok\":" prefix */
	tf_err *err;
} call;

typedef int (*method_fn)(call *c);

/* ------------------------------------------------------------ helpers */

/* Sets v under key, taking ownership; a NULL v (failed constructor): ENOMEM. */
static int set(tf_json *obj, const char *key, tf_json *v)
{
	if (v == NULL)
		return TF_ENOMEM;
	return tf_json_object_set(obj, key, v);
}

/*
 * Copies a message into dst (cap bytes) so that it is valid UTF-8: a
 * message may quote untrusted bytes or have been cut inside a multi-byte
 * sequence by snprintf; then every non-ASCII byte becomes '?'.
 */
static void clean_text(const char *src, char *dst, size_t cap)
{
	size_t n = strlen(src), i;

	assert(cap > 0);
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	if (tf_utf8_valid(dst, n))
		return;
	for (i = 0; i < n; i++) {
		if ((unsigned char)dst[i] >= 0x80)
			dst[i] = '?';
	}
}

/*
 * The error object {code, col?, line?, message, offset?, where?} for rc
 * with the details of e (which may be NULL).  NULL on ENOMEM.
 */
static tf_json *err_json(int rc, const tf_err *e)
{
	char msg[sizeof e->msg], where[sizeof e->where];
	tf_json *o = tf_json_object();
	int r;

	if (o == NULL)
		return NULL;
	clean_text(e && e->msg[0] ? e->msg : tf_strerror(rc), msg, sizeof msg);
	r = set(o, "code", tf_json_cstring(tf_errcode(rc)));
	if (r == 0)
		r = set(o, "message", tf_json_cstring(msg));
	if (r == 0 && e && e->where[0]) {
		clean_text(e->where, where, sizeof where);
		r = set(o, "where", tf_json_cstring(where));
	}
	if (r == 0 && e && e->line > 0) {
		r = set(o, "offset", tf_json_uint(e->offset));
		if (r == 0)
			r = set(o, "line", tf_json_uint(e->line));
		if (r == 0)
			r = set(o, "col", tf_json_uint(e->col));
	}
	if (r) {
		tf_json_free(o);
		return NULL;
	}
	return o;
}

/* Writes {"error":{...}} into out (reset first). */
static int write_error(tf_buf *out, int rc, const tf_err *e)
{
	static const char fallback[] = "{\"error\":{\"code\":\"no_memory\","
				       "\"message\":\"out of memory\"}}";
	tf_json *o = err_json(rc, e);

	tf_buf_reset(out);
	if (o) {
		tf_buf_puts(out, "{\"error\":");
		tf_json_write(o, out);
		tf_buf_putc(out, '}');
		tf_json_free(o);
		if (out->failed == 0)
			return 0;
		tf_buf_reset(out);
	}
	tf_buf_append(out, fallback, sizeof fallback - 1);
	return out->failed;
}

/* Writes a tree as the result and frees it (NULL tree: ENOMEM). */
static int put_tree(call *c, tf_json *v)
{
	int rc;

	if (v == NULL)
		return TF_ENOMEM;
	rc = tf_json_write(v, c->out);
	tf_json_free(v);
	return rc;
}

static int put_true(call *c)
{
	return tf_buf_puts(c->out, "true");
}

/* "<prefix>.<key>" into where ("input.now", "input.guard.offset"). */
static void where_of_c(const call *c, const char *key, char *where, size_t cap)
{
	snprintf(where, cap, "%.40s.%.22s", c->prefix ? c->prefix : "input",
		 key);
}

static int missing(call *c, const char *key, const char *what)
{
	char w[64];

	where_of_c(c, key, w, sizeof w);
	return tf_err_set(c->err, TF_EMISSING, w, "%s: missing (%s)", w, what);
}

static int wrong_type(call *c, const char *key, const char *what)
{
	char w[64];

	where_of_c(c, key, w, sizeof w);
	return tf_err_set(c->err, TF_ETYPE, w, "%s: must be %s", w, what);
}

/* Member key; NULL when absent or JSON null. */
static const tf_json *member(const call *c, const char *key)
{
	const tf_json *v = tf_json_object_get(c->in, key);

	return v && v->type != TF_JSON_NULL ? v : NULL;
}

static int in_i64(call *c, const char *key, int required, int64_t def,
		  int64_t *out)
{
	const tf_json *v = member(c, key);

	*out = def;
	if (v == NULL)
		return required ? missing(c, key, "an integer") : 0;
	if (v->type != TF_JSON_NUMBER || tf_json_int64(v, out) != 0)
		return wrong_type(c, key, "an integer within 64 bits");
	return 0;
}

/* Time in ms since the epoch, within the 48 bits the clock carries. */
static int in_time(call *c, const char *key, int64_t *out)
{
	char w[64];
	int rc = in_i64(c, key, 1, 0, out);

	if (rc)
		return rc;
	if (*out < 0 || *out > TF_HLC_MAX_MS) {
		where_of_c(c, key, w, sizeof w);
		return tf_err_set(c->err, TF_ERANGE, w,
				  "%s: %lld is outside [0, 2^48) ms", w,
				  (long long)*out);
	}
	return 0;
}

static int in_str(call *c, const char *key, int required, const char **s,
		  size_t *len)
{
	const tf_json *v = member(c, key);

	*s = NULL;
	if (len)
		*len = 0;
	if (v == NULL)
		return required ? missing(c, key, "a string") : 0;
	if (v->type != TF_JSON_STRING)
		return wrong_type(c, key, "a string");
	*s = tf_json_str(v, len);
	return 0;
}

static int in_bool(call *c, const char *key, int def, int *out)
{
	const tf_json *v = member(c, key);

	*out = def;
	if (v == NULL)
		return 0;
	if (v->type != TF_JSON_TRUE && v->type != TF_JSON_FALSE)
		return wrong_type(c, key, "true or false");
	*out = v->type == TF_JSON_TRUE;
	return 0;
}

/* Exactly n random bytes as 2n hex digits. */
static int in_hex(call *c, const char *key, uint8_t *out, size_t n)
{
	const char *s;
	size_t len;
	char w[64];
	int rc = in_str(c, key, 1, &s, &len);

	if (rc)
		return rc;
	if (tf_hex_decode(s, len, out, n) != 0) {
		where_of_c(c, key, w, sizeof w);
		return tf_err_set(c->err, TF_EINVAL, w,
				  "%s: must be %zu hex digits", w, 2 * n);
	}
	return 0;
}

static int in_hlc(call *c, const char *key, int required, tf_hlc *out)
{
	const char *s;
	size_t len;
	char w[64];
	int rc = in_str(c, key, required, &s, &len);

	*out = 0;
	if (rc || s == NULL)
		return rc;
	if (tf_hlc_parse(s, len, out) != 0) {
		where_of_c(c, key, w, sizeof w);
		return tf_err_set(c->err, TF_EINVAL, w,
				  "%s: must be 16 hex digits", w);
	}
	return 0;
}

static int in_obj(call *c, const char *key, const tf_json **out)
{
	const tf_json *v = member(c, key);

	*out = v;
	if (v == NULL)
		return missing(c, key, "an object");
	if (v->type != TF_JSON_OBJECT)
		return wrong_type(c, key, "an object");
	return 0;
}

/*
 * A message member given either as a JSON object (written canonically
 * into tmp) or as a string holding the exact bytes.  *p and *len borrow from
 * the input or from tmp.
 */
static int in_message(call *c, const char *key, tf_buf *tmp, const char **p,
		      size_t *len)
{
	const tf_json *v = member(c, key);
	int rc;

	if (v == NULL)
		return missing(c, key, "an object or its bytes as a string");
	if (v->type == TF_JSON_STRING) {
		*p = tf_json_str(v, len);
		return 0;
	}
	if (v->type != TF_JSON_OBJECT)
		return wrong_type(c, key, "an object or a string");
	rc = tf_json_write(v, tmp);
	if (rc)
		return rc;
	*p = tmp->data;
	*len = tmp->len;
	return 0;
}

static int need_schema(call *c)
{
	if (c->a->schema)
		return 0;
	return tf_err_set(c->err, TF_EINVAL, "schema",
			  "no schema loaded: call schema.load first");
}

/* The open replica named by input.replica. */
static int in_replica(call *c, tf_replica **r)
{
	int64_t n;
	int rc = in_i64(c, "replica", 1, 0, &n);

	*r = NULL;
	if (rc)
		return rc;
	if (n < 1 || n > TF_API_MAX_REPLICAS || c->a->rep[n - 1] == NULL)
		return tf_err_set(c->err, TF_ENOTFOUND, "input.replica",
				  "input.replica: no open replica %lld",
				  (long long)n);
	*r = c->a->rep[n - 1];
	return 0;
}

/* Puts r in the lowest free slot and writes {"replica":n}; frees r on error. */
static int adopt_replica(call *c, tf_replica *r)
{
	size_t i;

	for (i = 0; i < TF_API_MAX_REPLICAS; i++) {
		if (c->a->rep[i] == NULL)
			break;
	}
	if (i == TF_API_MAX_REPLICAS) {
		tf_replica_free(r);
		return tf_err_set(c->err, TF_ELIMIT, "replica",
				  "at most %d replicas may be open",
				  TF_API_MAX_REPLICAS);
	}
	c->a->rep[i] = r;
	return tf_buf_printf(c->out, "{\"replica\":%zu}", i + 1);
}

static int check_keys(const call *c, const char *const *keys);

/* ------------------------------------------------------------ json */

static int m_json_canonicalize(call *c)
{
	return tf_json_canonicalize(c->raw, c->rawlen, NULL, c->out, c->err);
}

/* ------------------------------------------------------------ hlc, uuid */

#define MAX_OFFSET_MS TF_HLC_MAX_MS

/* Reads {last?, max_skew?, offset?, now} into a clock. */
static int clock_in(call *c, tf_clock *clk, int64_t *now)
{
	tf_hlc last;
	int64_t skew, off;
	int rc;

	if ((rc = in_hlc(c, "last", 0, &last)) ||
	    (rc = in_i64(c, "max_skew", 0, TF_DEFAULT_MAX_SKEW_MS, &skew)) ||
	    (rc = in_i64(c, "offset", 0, 0, &off)) ||
	    (rc = in_time(c, "now", now)))
		return rc;
	if (skew <= 0 || skew > TF_HLC_MAX_MS)
		return tf_err_set(
			c->err, TF_ERANGE, "input.max_skew",
			"input.max_skew: %lld is outside [1, 2^48) ms",
			(long long)skew);
	if (off < -MAX_OFFSET_MS || off > MAX_OFFSET_MS)
		return tf_err_set(c->err, TF_ERANGE, "input.offset",
				  "input.offset: %lld is outside +-2^48 ms",
				  (long long)off);
	tf_clock_init(clk, last, skew);
	clk->offset_ms = off;
	return 0;
}

/* {"hlc"?, "last", "max_skew", "offset"}; has_stamp 0 leaves out hlc. */
static int clock_out(call *c, const tf_clock *clk, int has_stamp, tf_hlc h)
{
	char s[TF_HLC_TEXT_LEN + 1], l[TF_HLC_TEXT_LEN + 1];

	tf_hlc_format(h, s);
	tf_hlc_format(clk->last, l);
	if (has_stamp)
		tf_buf_printf(c->out, "{\"hlc\":\"%s\",", s);
	else
		tf_buf_putc(c->out, '{');
	return tf_buf_printf(
		c->out, "\"last\":\"%s\",\"max_skew\":%lld,\"offset\":%lld}", l,
		(long long)clk->max_skew_ms, (long long)clk->offset_ms);
}

static int m_hlc_now(call *c)
{
	tf_clock clk;
	int64_t now;
	tf_hlc h;
	int rc = clock_in(c, &clk, &now);

	if (rc)
		return rc;
	if (tf_hlc_now(&clk, now, &h) != 0)
		return tf_err_set(
			c->err, TF_ERANGE, "input.offset",
			"input.now + input.offset is outside [0, 2^48) ms");
	return clock_out(c, &clk, 1, h);
}

static int m_hlc_recv(call *c)
{
	char rs[TF_HLC_TEXT_LEN + 1];
	tf_clock clk;
	int64_t now;
	tf_hlc remote, h;
	int rc;

	if ((rc = clock_in(c, &clk, &now)) ||
	    (rc = in_hlc(c, "remote", 1, &remote)))
		return rc;
	rc = tf_hlc_recv(&clk, now, remote, &h);
	if (rc == TF_ECLOCKSKEW) {
		tf_hlc_format(remote, rs);
		return tf_err_set(
			c->err, rc, "input.remote",
			"input.remote: stamp %s is %lld ms ahead of "
			"local time %lld, more than max_skew %lld; "
			"refused, clock unchanged",
			rs,
			(long long)(TF_HLC_MS(remote) - (now + clk.offset_ms)),
			(long long)(now + clk.offset_ms),
			(long long)clk.max_skew_ms);
	}
	if (rc)
		return tf_err_set(
			c->err, rc, "input.offset",
			"input.now + input.offset is outside [0, 2^48) ms");
	return clock_out(c, &clk, 1, h);
}

static int m_hlc_rebase(call *c)
{
	tf_clock clk;
	int64_t now, server;
	int rc;

	if ((rc = clock_in(c, &clk, &now)) ||
	    (rc = in_time(c, "server_time", &server)))
		return rc;
	tf_clock_rebase(&clk, now, server);
	return clock_out(c, &clk, 0, 0);
}

static int m_hlc_compare(call *c)
{
	const char *na, *nb;
	tf_hlc a, b;
	int rc, o;

	if ((rc = in_hlc(c, "a", 1, &a)) || (rc = in_hlc(c, "b", 1, &b)) ||
	    (rc = in_str(c, "node_a", 0, &na, NULL)) ||
	    (rc = in_str(c, "node_b", 0, &nb, NULL)))
		return rc;
	o = tf_hlc_order(a, na, b, nb);
	return tf_buf_printf(c->out, "%d", o < 0 ? -1 : o > 0 ? 1 : 0);
}

static int m_uuid_v7(call *c)
{
	char u[TF_UUID_LEN + 1];
	uint8_t rnd[10];
	int64_t now;
	int rc;

	if ((rc = in_time(c, "now", &now)) ||
	    (rc = in_hex(c, "random", rnd, sizeof rnd)))
		return rc;
	rc = tf_uuid7(now, rnd, u);
	tf_memzero(rnd, sizeof rnd);
	if (rc)
		return rc;
	return tf_buf_printf(c->out, "\"%s\"", u);
}

static int m_uuid_valid(call *c)
{
	const char *s;
	size_t len;
	int rc = in_str(c, "uuid", 1, &s, &len);

	if (rc)
		return rc;
	return tf_buf_puts(c->out, tf_uuid_valid(s, len) ? "true" : "false");
}

/* ------------------------------------------------------------ schema */

static int m_schema_load(call *c)
{
	tf_schema *s = NULL;
	tf_json *o = NULL, *names = NULL;
	size_t i;
	int rc;

	for (i = 0; i < TF_API_MAX_REPLICAS; i++) {
		if (c->a->rep[i])
			return tf_err_set(c->err, TF_EINVAL, "schema",
					  "replica %zu is open on the current "
					  "schema: free the replicas first",
					  i + 1);
	}
	if (c->a->store_n)
		return tf_err_set(c->err, TF_EINVAL, "schema",
				  "the store holds %zu records checked against "
				  "the current schema: store.clear first",
				  c->a->store_n);
	rc = tf_schema_load(c->raw, c->rawlen, &s, c->err);
	if (rc)
		return rc;
	rc = TF_ENOMEM;
	o = tf_json_object();
	names = tf_json_array();
	if (o == NULL || names == NULL)
		goto out;
	for (i = 0; i < s->nentities; i++) {
		rc = tf_json_array_push(names,
					tf_json_cstring(s->entities[i].name));
		if (rc)
			goto out;
	}
	rc = set(o, "entities", names);
	names = NULL;
	if (rc == 0)
		rc = set(o, "schema_version", tf_json_int(s->version));
	if (rc == 0)
		rc = tf_json_write(o, c->out);
	if (rc == 0) {
		tf_schema_free(c->a->schema);
		c->a->schema = s;
		s = NULL;
	}
out:
	tf_json_free(names);
	tf_json_free(o);
	tf_schema_free(s);
	return rc;
}

/* ------------------------------------------------------------ command */

/* Reads input.command into cmd (cleared by the caller in every case). */
static int in_command(call *c, tf_command *cmd)
{
	const tf_json *j;
	int rc = in_obj(c, "command", &j);

	if (rc)
		return rc;
	return tf_command_from_json(j, cmd, c->err);
}

static int m_command_validate(call *c)
{
	tf_command cmd;
	int online, rc;

	memset(&cmd, 0, sizeof cmd);
	if ((rc = need_schema(c)) || (rc = in_bool(c, "online", 1, &online)) ||
	    (rc = in_command(c, &cmd)) ||
	    (rc = tf_command_validate(c->a->schema, &cmd, online, c->err)))
		goto out;
	rc = put_true(c);
out:
	tf_command_clear(&cmd);
	return rc;
}

static int m_command_canonical(call *c)
{
	tf_command cmd;
	tf_buf b;
	int rc;

	memset(&cmd, 0, sizeof cmd);
	tf_buf_init(&b);
	if ((rc = in_command(c, &cmd)) || (rc = tf_command_canonical(&cmd, &b)))
		goto out;
	rc = tf_json_write_string(c->out, b.data ? b.data : "", b.len);
out:
	tf_buf_free(&b);
	tf_command_clear(&cmd);
	return rc;
}

/* ------------------------------------------------------------ record */

static int m_record_new(call *c)
{
	const char *entity, *id;
	tf_json *rec = NULL;
	int rc;

	if ((rc = in_str(c, "entity", 1, &entity, NULL)) ||
	    (rc = in_str(c, "id", 1, &id, NULL)) ||
	    (rc = tf_record_new(entity, id, &rec)))
		return rc == TF_EINVAL ? tf_err_set(c->err, rc, "input",
						    "input: invalid entity "
						    "name or record id")
				       : rc;
	return put_tree(c, rec);
}

/*
 * Takes input.record out of the input (null: no record) and checks it
 * against the schema.  *rec is owned by the caller.
 */
static int take_record(call *c, tf_json **rec)
{
	tf_json *v = tf_json_object_take(c->in, "record");

	*rec = NULL;
	if (v == NULL || v->type == TF_JSON_NULL) {
		tf_json_free(v);
		return 0;
	}
	if (v->type != TF_JSON_OBJECT) {
		tf_json_free(v);
		return wrong_type(c, "record", "a record state or null");
	}
	*rec = v;
	return tf_record_check(c->a->schema, v, c->err);
}

/*
 * The merge context members of the input: now, authority?, allow_ref?,
 * online? (read once per call, also for a batch of commands).
 */
static int in_apply_ctx(call *c, tf_apply_ctx *ctx, int *online)
{
	int rc;

	memset(ctx, 0, sizeof *ctx);
	if ((rc = in_time(c, "now", &ctx->now_ms)) ||
	    (rc = in_bool(c, "authority", 0, &ctx->authority)) ||
	    (rc = in_bool(c, "allow_ref", 0, &ctx->allow_ref)) ||
	    (rc = in_bool(c, "online", 1, online)))
		return rc;
	ctx->schema = c->a->schema;
	return 0;
}

/*
 * Validates and applies cmd to *rec.  A command that fails validation is
 * a business rejection, as on the server: res->status REJECTED with the
 * reason, *rec unchanged.  Returns 0 with res filled, or a hard error
 * (TF_ENOMEM) after which *rec is unchanged.
 */
static int apply_cmd(const tf_apply_ctx *ctx, int online, tf_json **rec,
		     const tf_command *cmd, tf_apply_result *res)
{
	tf_err verr;
	int rc;

	tf_err_clear(&verr);
	rc = tf_command_validate(ctx->schema, cmd, online, &verr);
	if (rc == TF_ENOMEM)
		return rc;
	if (rc) {
		res->status = TF_ST_REJECTED;
		res->err = verr;
		res->err.code = rc;
		return 0;
	}
	return tf_record_apply(rec, cmd, ctx, res);
}

/* Adds status, detail? and error? of res to o (res->detail moves to o). */
static int result_members(tf_json *o, tf_apply_result *res)
{
	tf_json *d = res->detail;
	int rc = set(o, "status", tf_json_cstring(tf_status_name(res->status)));

	if (rc == 0 && d) {
		res->detail = NULL;
		rc = set(o, "detail", d);
	}
	if (rc == 0 && (res->status == TF_ST_REJECTED ||
			res->status == TF_ST_CLOCK_SKEW)) {
		int code = res->err.code ? res->err.code : TF_EVALIDATE;
		rc = set(o, "error", err_json(code, &res->err));
	}
	return rc;
}

/*
 * {"record", "command", "now", "authority"?, "allow_ref"?, "online"?} ->
 * {"detail"?, "error"?, "record", "status"}: the stateless merge; the
 * host keeps the record state between calls.
 */
static int m_record_apply(call *c)
{
	tf_apply_result res;
	tf_apply_ctx ctx;
	tf_command cmd;
	tf_json *rec = NULL, *o = NULL;
	int rc, online;

	memset(&cmd, 0, sizeof cmd);
	memset(&res, 0, sizeof res);
	if ((rc = need_schema(c)) || (rc = in_command(c, &cmd)) ||
	    (rc = take_record(c, &rec)) ||
	    (rc = in_apply_ctx(c, &ctx, &online)) ||
	    (rc = apply_cmd(&ctx, online, &rec, &cmd, &res)))
		goto out;
	rc = TF_ENOMEM;
	o = tf_json_object();
	if (o == NULL || result_members(o, &res))
		goto out;
	rc = set(o, "record", rec ? rec : tf_json_null());
	rec = NULL; /* owned by o now, or freed by set */
	if (rc)
		goto out;
	rc = put_tree(c, o);
	o = NULL;
out:
	tf_json_free(o);
	tf_json_free(rec);
	tf_apply_result_clear(&res);
	tf_command_clear(&cmd);
	return rc;
}

/* ------------------------------------------------------------ store */

/*
 * store.*: record states kept in the handle, so that a host merging many
 * commands (a server in Node, a benchmark, a local tool) does not move
 * the whole state through JSON on every call.  Keys are the records' own
 * "id" members (borrowed from the stored trees).
 */

static size_t store_hash(const char *id)
{
	uint32_t h = 2166136261u;

	while (*id)
		h = (h ^ (unsigned char)*id++) * 16777619u;
	return h;
}

/* The slot holding id, or the empty slot where it would go. */
static size_t store_slot(const tf_api *a, const char *id)
{
	size_t mask = a->store_cap - 1, i = store_hash(id) & mask;

	assert(a->store_cap > 0 && a->store_n < a->store_cap);
	while (a->store[i] && strcmp(tf_record_id(a->store[i]), id) != 0)
		i = (i + 1) & mask;
	return i;
}

/* Makes room for one more record (load factor under 3/4). */
static int store_reserve(call *c)
{
	tf_api *a = c->a;
	tf_json **old = a->store, **nw;
	size_t oldcap = a->store_cap, cap, i;

	if (a->store_n >= TF_API_MAX_STORE)
		return tf_err_set(c->err, TF_ELIMIT, "store",
				  "the store holds at most %zu records",
				  (size_t)TF_API_MAX_STORE);
	if (oldcap && (a->store_n + 1) * 4 < oldcap * 3)
		return 0;
	cap = oldcap ? oldcap * 2 : 64;
	nw = calloc(cap, sizeof(tf_json *));
	if (nw == NULL)
		return TF_ENOMEM;
	a->store = nw;
	a->store_cap = cap;
	for (i = 0; i < oldcap; i++) {
		if (old[i])
			nw[store_slot(a, tf_record_id(old[i]))] = old[i];
	}
	free(old);
	return 0;
}

static void store_clear(tf_api *a)
{
	size_t i;

	for (i = 0; i < a->store_cap; i++)
		tf_json_free(a->store[i]);
	free(a->store);
	a->store = NULL;
	a->store_cap = a->store_n = 0;
}

/* {record} -> true: stores (or replaces) a checked record state. */
static int m_store_put(call *c)
{
	tf_json *rec = NULL;
	size_t i;
	int rc;

	if ((rc = need_schema(c)) || (rc = take_record(c, &rec)))
		goto out;
	if (rec == NULL) {
		rc = missing(c, "record", "a record state");
		goto out;
	}
	if ((rc = store_reserve(c)))
		goto out;
	i = store_slot(c->a, tf_record_id(rec));
	if (c->a->store[i])
		tf_json_free(c->a->store[i]);
	else
		c->a->store_n++;
	c->a->store[i] = rec;
	rec = NULL;
	rc = put_true(c);
out:
	tf_json_free(rec);
	return rc;
}

static int m_store_get(call *c)
{
	const char *id;
	size_t i;
	int rc = in_str(c, "id", 1, &id, NULL);

	if (rc)
		return rc;
	if (c->a->store_n == 0 || c->a->store[i = store_slot(c->a, id)] == NULL)
		return tf_err_set(c->err, TF_ENOTFOUND, "input.id",
				  "input.id: no record %.40s in the store", id);
	return tf_json_write(c->a->store[i], c->out);
}

/*
 * v in decimal into buf (24 bytes), returned: a batch writes thousands of
 * versions, and printf costs more than the merge of a field.
 */
static const char *fmt_i64(int64_t v, char *buf)
{
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	char *p = buf + 23;

	*p = '\0';
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	return p;
}

/*
 * Writes the result of one store.apply command, {detail?, error?, status,
 * ver?} (canonical: the keys in order, written directly rather than
 * through a tree, since a batch writes thousands), or only the status
 * string when status_only.  ver is there when the record exists after.
 */
static int write_store_result(tf_buf *out, const tf_apply_result *res,
			      const tf_json *rec, int status_only)
{
	const char *st = tf_status_name(res->status);
	char num[24];
	int rc = 0;

	if (status_only) {
		tf_buf_putc(out, '"');
		tf_buf_puts(out, st);
		return tf_buf_putc(out, '"');
	}
	tf_buf_putc(out, '{');
	if (res->detail) {
		tf_buf_puts(out, "\"detail\":");
		rc = tf_json_write(res->detail, out);
		tf_buf_putc(out, ',');
	}
	if (rc == 0 && (res->status == TF_ST_REJECTED ||
			res->status == TF_ST_CLOCK_SKEW)) {
		tf_json *e =
			err_json(res->err.code ? res->err.code : TF_EVALIDATE,
				 &res->err);
		if (e == NULL)
			return TF_ENOMEM;
		tf_buf_puts(out, "\"error\":");
		rc = tf_json_write(e, out);
		tf_buf_putc(out, ',');
		tf_json_free(e);
	}
	tf_buf_puts(out, "\"status\":\"");
	tf_buf_puts(out, st);
	tf_buf_putc(out, '"');
	if (rec) {
		tf_buf_puts(out, ",\"ver\":");
		tf_buf_puts(out, fmt_i64(tf_record_ver(rec), num));
	}
	tf_buf_putc(out, '}');
	return rc ? rc : out->failed;
}

/*
 * Applies cmd to its record in the store (none: only a create applies,
 * and stores it) and writes its result.  The caller has made room for one
 * more record (store_reserve).  A hard error (TF_ENOMEM) leaves the store
 * as it was.
 */
static int store_apply_cmd(call *c, const tf_apply_ctx *ctx, int online,
			   const tf_command *cmd, int status_only)
{
	tf_apply_result res;
	tf_api *a = c->a;
	tf_json *rec;
	size_t i;
	int rc;

	memset(&res, 0, sizeof res);
	i = store_slot(a, cmd->record_id);
	rec = a->store[i];
	rc = apply_cmd(ctx, online, &rec, cmd, &res);
	if (rc == 0) {
		if (a->store[i] == NULL && rec != NULL)
			a->store_n++;
		a->store[i] = rec;
		rc = write_store_result(c->out, &res, rec, status_only);
	}
	tf_apply_result_clear(&res);
	return rc;
}

/*
 * A batch failed at command i: the error names it (where
 * "input.commands[i].<member>") and says what the store holds now.
 */
static int batch_error(call *c, size_t i, int rc, const tf_err *e,
		       const char *state)
{
	char where[sizeof e->where], msg[200];

	if (e->where[0])
		snprintf(where, sizeof where, "input.commands[%zu].%.48s", i,
			 e->where);
	else
		snprintf(where, sizeof where, "input.commands[%zu]", i);
	snprintf(msg, sizeof msg, "%.199s",
		 e->msg[0] ? e->msg : tf_strerror(rc));
	tf_err_clear(c->err);
	return tf_err_set(c->err, rc, where, "input.commands[%zu]: %s (%s)", i,
			  msg, state);
}

/*
 * Makes room in the store for every record the batch may create (its
 * creates of ids not stored yet; a create repeated in the batch counts
 * twice), so that applying cannot run into the store's limit half-way.
 */
static int store_reserve_batch(call *c, const tf_command *cmds, size_t n)
{
	tf_api *a = c->a;
	size_t i, add = 0, cap, oldcap;
	tf_json **old, **nw;

	for (i = 0; i < n; i++) {
		if (cmds[i].op == TF_OP_CREATE &&
		    (a->store_n == 0 ||
		     a->store[store_slot(a, cmds[i].record_id)] == NULL))
			add++;
	}
	if (add > TF_API_MAX_STORE - a->store_n)
		return tf_err_set(c->err, TF_ELIMIT, "input.commands",
				  "input.commands: the batch may create %zu "
				  "records and the store has room for %zu "
				  "more (at most %zu); nothing applied",
				  add, (size_t)TF_API_MAX_STORE - a->store_n,
				  (size_t)TF_API_MAX_STORE);
	cap = a->store_cap ? a->store_cap : 64;
	while ((a->store_n + add + 1) * 4 >= cap * 3)
		cap *= 2;
	if (cap == a->store_cap)
		return 0;
	nw = calloc(cap, sizeof(tf_json *));
	if (nw == NULL)
		return TF_ENOMEM;
	old = a->store;
	oldcap = a->store_cap;
	a->store = nw;
	a->store_cap = cap;
	for (i = 0; i < oldcap; i++) {
		if (old[i])
			nw[store_slot(a, tf_record_id(old[i]))] = old[i];
	}
	free(old);
	return 0;
}

/*
 * The batch form of store.apply: {commands: [...], now, authority?,
 * allow_ref?, online?, status_only?} -> {results: [...]}, one result per
 * command, in order, each what the single form returns (or its status
 * alone with status_only).
 *
 * Every command is read before any is applied: a malformed one (or a
 * batch the store has no room for) fails the call with an error naming
 * its index, and nothing is applied.  A command failing validation or
 * merging is a result ("rejected"), as on the server, and the commands
 * after it still apply.  The one error that can stop a batch half-way is
 * running out of memory: the commands before the named index stay
 * applied, the rest are not.
 */
static int store_apply_batch(call *c, const tf_json *arr)
{
	tf_command *cmds = NULL;
	tf_apply_ctx ctx;
	tf_err e;
	size_t i, n = 0;
	int rc, online, status_only;

	if (arr->type != TF_JSON_ARRAY)
		return wrong_type(c, "commands", "an array of commands");
	if (member(c, "command"))
		return tf_err_set(c->err, TF_EINVAL, "input.command",
				  "input.command: give either command or "
				  "commands, not both");
	if (arr->len > TF_API_MAX_BATCH)
		return tf_err_set(c->err, TF_ELIMIT, "input.commands",
				  "input.commands: %zu commands, at most %d "
				  "per call",
				  arr->len, TF_API_MAX_BATCH);
	if ((rc = in_apply_ctx(c, &ctx, &online)) ||
	    (rc = in_bool(c, "status_only", 0, &status_only)))
		return rc;
	cmds = calloc(arr->len ? arr->len : 1, sizeof *cmds);
	if (cmds == NULL)
		return TF_ENOMEM;
	for (n = 0; n < arr->len; n++) {
		tf_err_clear(&e);
		rc = tf_command_from_json(arr->u.items[n], &cmds[n], &e);
		if (rc) {
			rc = batch_error(c, n, rc, &e, "nothing applied");
			goto out;
		}
	}
	if ((rc = store_reserve_batch(c, cmds, n)))
		goto out;
	tf_buf_puts(c->out, "{\"results\":[");
	for (i = 0; i < n; i++) {
		if (i)
			tf_buf_putc(c->out, ',');
		rc = store_apply_cmd(c, &ctx, online, &cmds[i], status_only);
		if (rc) {
			char state[64] = "nothing applied";

			tf_err_clear(&e);
			if (i)
				snprintf(state, sizeof state,
					 "commands 0 to %zu stay applied",
					 i - 1);
			rc = batch_error(c, i, rc, &e, state);
			goto out;
		}
	}
	rc = tf_buf_puts(c->out, "]}");
out:
	for (i = 0; i < n; i++)
		tf_command_clear(&cmds[i]);
	free(cmds);
	return rc;
}

/*
 * {command, now, authority?, allow_ref?, online?} ->
 * {detail?, error?, status, ver?}: record.apply on the stored state of the
 * command's record (none: only a create applies, and stores it).  With
 * commands instead of command: store_apply_batch.
 */
static int m_store_apply(call *c)
{
	const tf_json *batch = member(c, "commands");
	tf_apply_ctx ctx;
	tf_command cmd;
	int rc, online;

	if ((rc = need_schema(c)))
		return rc;
	if (batch)
		return store_apply_batch(c, batch);
	if (member(c, "status_only"))
		return tf_err_set(c->err, TF_EINVAL, "input.status_only",
				  "input.status_only: only with "
				  "input.commands (the batch form)");
	memset(&cmd, 0, sizeof cmd);
	if ((rc = in_command(c, &cmd)) || (rc = in_apply_ctx(c, &ctx, &online)))
		goto out;
	/* Only a create of a record not yet held adds one: a full store still
	 * takes updates of the records it holds. */
	if (cmd.op == TF_OP_CREATE &&
	    (c->a->store_n == 0 ||
	     c->a->store[store_slot(c->a, cmd.record_id)] == NULL) &&
	    (rc = store_reserve(c)))
		goto out;
	rc = store_apply_cmd(c, &ctx, online, &cmd, 0);
out:
	tf_command_clear(&cmd);
	return rc;
}

static int m_store_count(call *c)
{
	return tf_buf_printf(c->out, "%zu", c->a->store_n);
}

static int m_store_clear(call *c)
{
	store_clear(c->a);
	return put_true(c);
}

static int m_record_check(call *c)
{
	tf_json *rec = NULL;
	int rc;

	if ((rc = need_schema(c)) || (rc = take_record(c, &rec)))
		goto out;
	rc = rec ? put_true(c) : missing(c, "record", "a record state");
out:
	tf_json_free(rec);
	return rc;
}

static int m_record_ref_stale(call *c)
{
	const tf_json *rec;
	const char *field;
	int64_t now;
	int rc;

	if ((rc = in_obj(c, "record", &rec)) ||
	    (rc = in_str(c, "field", 1, &field, NULL)) ||
	    (rc = in_time(c, "now", &now)))
		return rc;
	return tf_buf_puts(c->out, tf_record_ref_stale(rec, field, now)
					   ? "true"
					   : "false");
}

/* ------------------------------------------------------------ diff */

static int m_diff_diff(call *c)
{
	const char *a, *b;
	size_t al, bl;
	int rc;

	if ((rc = in_str(c, "a", 1, &a, &al)) ||
	    (rc = in_str(c, "b", 1, &b, &bl)))
		return rc;
	return tf_diff_json(a, al, b, bl, c->out);
}

static int in_three(call *c, const char **base, size_t *bl, const char **h,
		    size_t *hl, const char **p, size_t *pl)
{
	int rc;

	if ((rc = in_str(c, "base", 1, base, bl)) ||
	    (rc = in_str(c, "head", 1, h, hl)) ||
	    (rc = in_str(c, "proposed", 1, p, pl)))
		return rc;
	return 0;
}

static int m_diff_diff3(call *c)
{
	const char *base, *h, *p;
	size_t bl, hl, pl;
	int rc = in_three(c, &base, &bl, &h, &hl, &p, &pl);

	if (rc)
		return rc;
	return tf_diff3_json(base, bl, h, hl, p, pl, c->out);
}

static int m_diff_merge(call *c)
{
	const char *base, *h, *p;
	size_t bl, hl, pl;
	tf_buf m;
	int clean = 0, rc = in_three(c, &base, &bl, &h, &hl, &p, &pl);

	if (rc)
		return rc;
	tf_buf_init(&m);
	rc = tf_diff3_merge(base, bl, h, hl, p, pl, &m, &clean);
	if (rc == 0 && clean) {
		tf_buf_puts(c->out, "{\"clean\":true,\"merged\":");
		tf_json_write_string(c->out, m.data ? m.data : "", m.len);
		rc = tf_buf_putc(c->out, '}');
	} else if (rc == 0) {
		rc = tf_buf_puts(c->out, "{\"clean\":false}");
	}
	tf_buf_free(&m);
	return rc;
}

/* ------------------------------------------------------------ protocol */

/* Decodes a message and writes it back: a canonical round trip. */
static int m_proto_push_request(call *c)
{
	tf_push_request m;
	int rc;

	memset(&m, 0, sizeof m);
	rc = tf_push_request_decode(c->raw, c->rawlen, c->a->schema, NULL, &m,
				    c->err);
	if (rc == 0)
		rc = tf_push_request_encode(&m, c->out);
	tf_push_request_clear(&m);
	return rc;
}

static int m_proto_push_reply(call *c)
{
	tf_push_reply m;
	int rc;

	memset(&m, 0, sizeof m);
	rc = tf_push_reply_decode(c->raw, c->rawlen, NULL, &m, c->err);
	if (rc == 0)
		rc = tf_push_reply_encode(&m, c->out);
	tf_push_reply_clear(&m);
	return rc;
}

static int m_proto_pull_page(call *c)
{
	tf_pull_page m;
	int rc;

	memset(&m, 0, sizeof m);
	rc = tf_pull_page_decode(c->raw, c->rawlen, c->a->schema, NULL, &m,
				 c->err);
	if (rc == 0)
		rc = tf_pull_page_encode(&m, c->out);
	tf_pull_page_clear(&m);
	return rc;
}

/* ------------------------------------------------------------ replica */

/*
 * replica.*: handles are small integers (slot + 1) so that JSON can name
 * them; the host passes time and random bytes in every call that stamps.
 */

static int m_replica_new(call *c)
{
	const char *device, *user;
	tf_replica *r = NULL;
	tf_hlc last;
	int rc;

	if ((rc = need_schema(c)) ||
	    (rc = in_str(c, "device", 1, &device, NULL)) ||
	    (rc = in_str(c, "user", 1, &user, NULL)) ||
	    (rc = in_hlc(c, "clock_last", 0, &last)))
		return rc;
	rc = tf_replica_new(c->a->schema, device, user, last, &r);
	if (rc == TF_EINVAL)
		return tf_err_set(c->err, rc, "input.device",
				  "input.device, input.user: ids must match "
				  "[A-Za-z0-9._@-]{1,64}");
	if (rc)
		return rc;
	return adopt_replica(c, r);
}

static int m_replica_free(call *c)
{
	tf_replica *r = NULL;
	size_t i;
	int rc = in_replica(c, &r);

	if (rc)
		return rc;
	for (i = 0; i < TF_API_MAX_REPLICAS; i++) {
		if (c->a->rep[i] == r)
			c->a->rep[i] = NULL;
	}
	tf_replica_free(r);
	return put_true(c);
}

static int m_replica_mutate(call *c)
{
	char cmd_id[TF_UUID_LEN + 1], rec_id[TF_UUID_LEN + 1];
	const char *entity, *record_id, *opname;
	const tf_json *args;
	uint8_t rnd[20];
	tf_replica *r = NULL;
	int64_t now;
	int online, rc;
	tf_op op;

	if ((rc = in_replica(c, &r)) || (rc = in_time(c, "now", &now)) ||
	    (rc = in_hex(c, "random", rnd, sizeof rnd)) ||
	    (rc = in_bool(c, "online", 0, &online)) ||
	    (rc = in_str(c, "entity", 1, &entity, NULL)) ||
	    (rc = in_str(c, "record_id", 0, &record_id, NULL)) ||
	    (rc = in_str(c, "op", 1, &opname, NULL)) ||
	    (rc = in_obj(c, "args", &args)))
		goto out;
	if (tf_op_parse(opname, &op) != 0) {
		rc = tf_err_set(c->err, TF_EINVAL, "input.op",
				"input.op: unknown op \"%.32s\"", opname);
		goto out;
	}
	rc = tf_replica_mutate(r, now, rnd, online, entity, record_id, op, args,
			       cmd_id, rec_id, c->err);
	if (rc == 0)
		rc = tf_buf_printf(c->out,
				   "{\"cmd_id\":\"%s\",\"record_id\":\"%s\"}",
				   cmd_id, rec_id);
out:
	tf_memzero(rnd, sizeof rnd);
	return rc;
}

static int m_replica_push_request(call *c)
{
	tf_replica *r = NULL;
	int64_t max;
	int rc;

	if ((rc = in_replica(c, &r)) ||
	    (rc = in_i64(c, "max", 0,
			 (int64_t)tf_proto_default_limits.max_commands, &max)))
		return rc;
	if (max < 1 || (uint64_t)max > tf_proto_default_limits.max_commands)
		return tf_err_set(c->err, TF_ERANGE, "input.max",
				  "input.max: %lld is outside [1, %zu]",
				  (long long)max,
				  tf_proto_default_limits.max_commands);
	return tf_replica_push_request(r, (size_t)max, c->out);
}

static int m_replica_apply_push_reply(call *c)
{
	const char *p = NULL;
	tf_replica *r = NULL;
	size_t len = 0;
	int64_t now;
	tf_buf tmp;
	int rc;

	tf_buf_init(&tmp);
	if ((rc = in_replica(c, &r)) || (rc = in_time(c, "now", &now)) ||
	    (rc = in_message(c, "reply", &tmp, &p, &len)) ||
	    (rc = tf_replica_apply_push_reply(r, now, p, len, c->err)))
		goto out;
	rc = put_true(c);
out:
	tf_buf_free(&tmp);
	return rc;
}

static int m_replica_apply_pull(call *c)
{
	const char *p = NULL;
	tf_replica *r = NULL;
	size_t len = 0;
	int64_t now;
	tf_buf tmp;
	int rc;

	tf_buf_init(&tmp);
	if ((rc = in_replica(c, &r)) || (rc = in_time(c, "now", &now)) ||
	    (rc = in_message(c, "page", &tmp, &p, &len)) ||
	    (rc = tf_replica_apply_pull(r, now, p, len, c->err)))
		goto out;
	rc = put_true(c);
out:
	tf_buf_free(&tmp);
	return rc;
}

static int m_replica_view(call *c)
{
	const char *id;
	tf_replica *r = NULL;
	int rc;

	if ((rc = in_replica(c, &r)) ||
	    (rc = in_str(c, "record_id", 1, &id, NULL)))
		return rc;
	rc = tf_replica_view_json(r, id, c->out);
	if (rc == TF_ENOTFOUND)
		return tf_err_set(c->err, rc, "input.record_id",
				  "input.record_id: no record %.40s", id);
	return rc;
}

static int m_replica_list(call *c)
{
	const char *entity;
	tf_replica *r = NULL;
	int rc;

	if ((rc = in_replica(c, &r)) ||
	    (rc = in_str(c, "entity", 0, &entity, NULL)))
		return rc;
	return tf_replica_list_json(r, entity, c->out);
}

static int m_replica_notices(call *c)
{
	tf_replica *r = NULL;
	int rc = in_replica(c, &r);

	if (rc)
		return rc;
	return tf_replica_notices_json(r, c->out);
}

static int m_replica_ack_notice(call *c)
{
	const char *id;
	tf_replica *r = NULL;
	int rc;

	if ((rc = in_replica(c, &r)) ||
	    (rc = in_str(c, "notice", 1, &id, NULL)))
		return rc;
	rc = tf_replica_ack_notice(r, id);
	if (rc == TF_ENOTFOUND)
		return tf_err_set(c->err, rc, "input.notice",
				  "input.notice: no open notice %.64s", id);
	if (rc)
		return rc;
	return put_true(c);
}

static int m_replica_summary(call *c)
{
	tf_replica *r = NULL;
	int64_t now;
	int rc;

	if ((rc = in_replica(c, &r)) || (rc = in_time(c, "now", &now)))
		return rc;
	return tf_replica_summary_json(r, now, c->out);
}

static int m_replica_cursor(call *c)
{
	const char *cur;
	tf_replica *r = NULL;
	int rc = in_replica(c, &r);

	if (rc)
		return rc;
	cur = tf_replica_cursor(r);
	return tf_json_write_string(c->out, cur, strlen(cur));
}

static int m_replica_clock(call *c)
{
	char s[TF_HLC_TEXT_LEN + 1];
	tf_replica *r = NULL;
	int rc = in_replica(c, &r);

	if (rc)
		return rc;
	tf_hlc_format(tf_replica_clock(r), s);
	return tf_buf_printf(c->out, "\"%s\"", s);
}

/* The saved bytes, as a JSON string (the host stores them as they are). */
static int m_replica_save(call *c)
{
	tf_replica *r = NULL;
	tf_buf b;
	int rc = in_replica(c, &r);

	if (rc)
		return rc;
	tf_buf_init(&b);
	rc = tf_replica_save(r, &b);
	if (rc == 0 && !tf_utf8_valid(b.data ? b.data : "", b.len))
		rc = tf_err_set(c->err, TF_EINVAL, "replica",
				"saved replica is not UTF-8 text");
	if (rc == 0)
		rc = tf_json_write_string(c->out, b.data ? b.data : "", b.len);
	tf_buf_free(&b);
	return rc;
}

static int m_replica_load(call *c)
{
	const char *p = NULL;
	tf_replica *r = NULL;
	size_t len = 0;
	tf_buf tmp;
	int rc;

	tf_buf_init(&tmp);
	if ((rc = need_schema(c)) ||
	    (rc = in_message(c, "saved", &tmp, &p, &len)) ||
	    (rc = tf_replica_load(c->a->schema, p, len, &r, c->err)))
		goto out;
	rc = adopt_replica(c, r);
out:
	tf_buf_free(&tmp);
	return rc;
}

/*
 * replica.checkpoint: the sink collects the parts into one result
 * {head, pending: {"<seq>": item}, records: {"<id>": state}}, each part
 * as a string of its exact bytes (what the host seals and stores; a JS
 * round trip of an object could change a number's text) and null for a
 * part to delete; head null when it did not change.
 */
typedef struct ck_item {
	char key[24]; /* the seq in decimal */
	tf_json *v;
} ck_item;

typedef struct ck_parts {
	tf_json *records, *head;
	/*
	 * Pending items arrive in seq order, which is not the key order of
	 * a canonical object ("10" < "9"): collected, sorted, then set, so
	 * that each insertion appends.
	 */
	ck_item *pend;
	size_t npend, pendcap;
} ck_parts;

static int cmp_ck_item(const void *a, const void *b)
{
	return strcmp(((const ck_item *)a)->key, ((const ck_item *)b)->key);
}

static int ck_put(tf_json *obj, const char *key, const char *json, size_t len)
{
	tf_json *v = json ? tf_json_string(json, len) : tf_json_null();

	if (v == NULL)
		return TF_ENOMEM;
	return tf_json_object_set(obj, key, v);
}

static int ck_put_record(void *ctx, const char *id, const char *json,
			 size_t len)
{
	return ck_put(((ck_parts *)ctx)->records, id, json, len);
}

static int ck_del_record(void *ctx, const char *id)
{
	return ck_put(((ck_parts *)ctx)->records, id, NULL, 0);
}

static int ck_put_pending(void *ctx, uint64_t seq, const char *json, size_t len)
{
	ck_parts *p = ctx;
	ck_item *it;

	if (p->npend == p->pendcap) {
		size_t cap = p->pendcap ? 2 * p->pendcap : 16;
		it = realloc(p->pend, cap * sizeof *it);
		if (it == NULL)
			return TF_ENOMEM;
		p->pend = it;
		p->pendcap = cap;
	}
	it = &p->pend[p->npend];
	it->v = json ? tf_json_string(json, len) : tf_json_null();
	if (it->v == NULL)
		return TF_ENOMEM;
	snprintf(it->key, sizeof it->key, "%llu", (unsigned long long)seq);
	p->npend++;
	return 0;
}

static int ck_del_pending(void *ctx, uint64_t seq)
{
	return ck_put_pending(ctx, seq, NULL, 0);
}

static int ck_put_head(void *ctx, const char *json, size_t len)
{
	ck_parts *p = ctx;

	tf_json_free(p->head);
	p->head = tf_json_string(json, len);
	return p->head ? 0 : TF_ENOMEM;
}

static int m_replica_checkpoint(call *c)
{
	static const tf_replica_sink sink = {ck_put_record, ck_del_record,
					     ck_put_pending, ck_del_pending,
					     ck_put_head};
	ck_parts p;
	tf_replica *r = NULL;
	tf_json *o = NULL, *pending = NULL;
	size_t i;
	int full, rc;

	if ((rc = in_replica(c, &r)) || (rc = in_bool(c, "full", 0, &full)))
		return rc;
	memset(&p, 0, sizeof p);
	p.records = tf_json_object();
	pending = tf_json_object();
	o = tf_json_object();
	if (p.records == NULL || pending == NULL || o == NULL) {
		rc = TF_ENOMEM;
		goto out;
	}
	rc = tf_replica_checkpoint(r, full, &sink, &p);
	if (rc)
		goto out;
	if (p.npend)
		qsort(p.pend, p.npend, sizeof *p.pend, cmp_ck_item);
	for (i = 0; rc == 0 && i < p.npend; i++) {
		rc = tf_json_object_set(pending, p.pend[i].key, p.pend[i].v);
		p.pend[i].v = NULL;
	}
	if (rc == 0) {
		rc = set(o, "head", p.head ? p.head : tf_json_null());
		p.head = NULL; /* set took it, failing or not */
	}
	if (rc == 0) {
		rc = set(o, "pending", pending);
		pending = NULL;
	}
	if (rc == 0) {
		rc = set(o, "records", p.records);
		p.records = NULL;
	}
	if (rc == 0) {
		rc = put_tree(c, o);
		o = NULL;
	}
out:
	for (i = 0; i < p.npend; i++)
		tf_json_free(p.pend[i].v);
	free(p.pend);
	tf_json_free(o);
	tf_json_free(pending);
	tf_json_free(p.records);
	tf_json_free(p.head);
	return rc;
}

static int m_replica_checkpoint_done(call *c)
{
	tf_replica *r = NULL;
	int rc = in_replica(c, &r);

	if (rc)
		return rc;
	tf_replica_checkpoint_done(r);
	return put_true(c);
}

static int m_replica_dirty(call *c)
{
	tf_replica *r = NULL;
	int rc = in_replica(c, &r);

	if (rc)
		return rc;
	return tf_buf_puts(c->out, tf_replica_dirty(r) ? "true" : "false");
}

static int m_replica_pull_remaining(call *c)
{
	tf_replica *r = NULL;
	int rc = in_replica(c, &r);

	if (rc)
		return rc;
	return tf_buf_printf(c->out, "%lld",
			     (long long)tf_replica_pull_remaining(r));
}

/*
 * The parts of input member `key` (an array of strings holding the
 * bytes, or objects written canonically into tmp); *parts malloc'd.
 */
static int in_parts(call *c, const char *key, tf_buf *tmp, tf_slice **parts,
		    size_t *n)
{
	const tf_json *a = member(c, key);
	size_t *off = NULL, i;
	char w[64];
	int rc = 0;

	*parts = NULL;
	*n = 0;
	if (a == NULL)
		return 0;
	if (a->type != TF_JSON_ARRAY)
		return wrong_type(c, key, "an array of strings or objects");
	if (a->len == 0)
		return 0;
	*parts = calloc(a->len, sizeof **parts);
	off = calloc(a->len, sizeof *off);
	if (*parts == NULL || off == NULL) {
		rc = TF_ENOMEM;
		goto out;
	}
	/* Objects are written first, the slices taken once tmp stops
	   moving. */
	for (i = 0; i < a->len; i++) {
		const tf_json *v = a->u.items[i];
		if (v->type == TF_JSON_STRING) {
			(*parts)[i].p = tf_json_str(v, &(*parts)[i].len);
			continue;
		}
		if (v->type != TF_JSON_OBJECT) {
			snprintf(w, sizeof w, "input.%.20s[%zu]", key, i);
			rc = tf_err_set(c->err, TF_ETYPE, w,
					"%s: must be a string or an object", w);
			goto out;
		}
		off[i] = tmp->len;
		rc = tf_json_write(v, tmp);
		if (rc)
			goto out;
		(*parts)[i].len = tmp->len - off[i];
	}
	for (i = 0; i < a->len; i++)
		if ((*parts)[i].p == NULL)
			(*parts)[i].p = tmp->data + off[i];
	*n = a->len;
out:
	free(off);
	if (rc) {
		free(*parts);
		*parts = NULL;
	}
	return rc;
}

static int m_replica_load_parts(call *c)
{
	const char *head = NULL;
	tf_slice *recs = NULL, *pend = NULL;
	size_t hlen = 0, nrecs = 0, npend = 0;
	tf_replica *r = NULL;
	tf_buf th, tr, tp;
	int rc;

	tf_buf_init(&th);
	tf_buf_init(&tr);
	tf_buf_init(&tp);
	if ((rc = need_schema(c)) ||
	    (rc = in_message(c, "head", &th, &head, &hlen)) ||
	    (rc = in_parts(c, "records", &tr, &recs, &nrecs)) ||
	    (rc = in_parts(c, "pending", &tp, &pend, &npend)) ||
	    (rc = tf_replica_load_parts(c->a->schema, head, hlen, recs, nrecs,
					pend, npend, &r, c->err)))
		goto out;
	rc = adopt_replica(c, r);
out:
	free(recs);
	free(pend);
	tf_buf_free(&th);
	tf_buf_free(&tr);
	tf_buf_free(&tp);
	return rc;
}

static int m_replica_evict(call *c)
{
	const char *id;
	tf_replica *r = NULL;
	int rc;

	if ((rc = in_replica(c, &r)) ||
	    (rc = in_str(c, "record_id", 1, &id, NULL)))
		return rc;
	rc = tf_replica_evict(r, id, c->err);
	if (rc && strcmp(c->err->where, "record_id") == 0) {
		char msg[sizeof c->err->msg];
		snprintf(msg, sizeof msg, "%s", c->err->msg);
		return tf_err_set(c->err, rc, "input.record_id",
				  "input.record_id: %s", msg);
	}
	if (rc)
		return rc;
	return put_true(c);
}

/* ------------------------------------------------------------ policy */

/*
 * A sub-call reading the members of object `key` of the input, with
 * errors naming "input.key.member".  Fails when the member is missing or
 * not an object; unknown members of it are refused when keys is given.
 */
static int sub_call(call *c, const char *key, const char *const *keys,
		    char *prefix, size_t cap, call *sub)
{
	const tf_json *o;
	int rc = in_obj(c, key, &o);

	if (rc)
		return rc;
	*sub = *c;
	where_of_c(c, key, prefix, cap);
	sub->prefix = prefix;
	sub->in = (tf_json *)o;
	return keys ? check_keys(sub, keys) : 0;
}

/* A member given as an object, read by a core parser from its bytes. */
static int in_doc(call *c, const char *key, tf_buf *tmp)
{
	const tf_json *o;
	int rc = in_obj(c, key, &o);

	if (rc)
		return rc;
	return tf_json_write(o, tmp);
}

static int in_u32(call *c, const char *key, int required, uint32_t def,
		  uint32_t *out)
{
	int64_t v;
	char w[64];
	int rc = in_i64(c, key, required, def, &v);

	if (rc)
		return rc;
	if (v < 0 || v > (int64_t)UINT32_MAX) {
		where_of_c(c, key, w, sizeof w);
		return tf_err_set(c->err, TF_ERANGE, w,
				  "%s: %lld is outside [0, 2^32)", w,
				  (long long)v);
	}
	*out = (uint32_t)v;
	return 0;
}

static int m_policy_agency(call *c)
{
	tf_agency_policy p;
	int rc = tf_agency_policy_parse(c->raw, c->rawlen, &p, c->err);

	if (rc)
		return rc;
	return tf_agency_policy_write(&p, c->out);
}

static int m_policy_agency_default(call *c)
{
	tf_agency_policy p;

	tf_agency_policy_default(&p);
	return tf_agency_policy_write(&p, c->out);
}

/* Reads input.policy (agency settings) into p. */
static int in_agency(call *c, tf_agency_policy *p)
{
	tf_buf tmp;
	int rc;

	tf_buf_init(&tmp);
	rc = in_doc(c, "policy", &tmp);
	if (rc == 0)
		rc = tf_agency_policy_parse(tmp.data, tmp.len, p, c->err);
	tf_buf_free(&tmp);
	return rc;
}

/* Reads input.grant (the claims) into g. */
static int in_grant(call *c, tf_grant *g)
{
	tf_buf tmp;
	int rc;

	tf_buf_init(&tmp);
	rc = in_doc(c, "grant", &tmp);
	if (rc == 0)
		rc = tf_grant_parse(tmp.data, tmp.len, g, c->err);
	tf_buf_free(&tmp);
	return rc;
}

static int m_policy_grant(call *c)
{
	tf_grant g;
	int rc = tf_grant_parse(c->raw, c->rawlen, &g, c->err);

	if (rc)
		return rc;
	return tf_grant_write(&g, c->out, c->err);
}

/* Copies a string member into a fixed buffer (ids, names). */
static int in_copy(call *c, const char *key, char *dst, size_t cap)
{
	const char *s;
	size_t len;
	char w[64];
	int rc = in_str(c, key, 1, &s, &len);

	if (rc)
		return rc;
	if (s == NULL)
		return missing(c, key, "a string");
	if (len >= cap) {
		where_of_c(c, key, w, sizeof w);
		return tf_err_set(c->err, TF_ELIMIT, w,
				  "%s: longer than %zu bytes", w, cap - 1);
	}
	memcpy(dst, s, len + 1);
	return 0;
}

/*
 * {policy, now, user, device, agency, key_id, roles} -> the claims the
 * server signs, from the agency settings at server time `now`.
 */
static int m_policy_grant_issue(call *c)
{
	const tf_json *roles = member(c, "roles");
	tf_agency_policy p;
	tf_grant g;
	int64_t now;
	size_t i;
	int rc;

	memset(&g, 0, sizeof g);
	if ((rc = in_agency(c, &p)) || (rc = in_time(c, "now", &now)) ||
	    (rc = in_copy(c, "user", g.user, sizeof g.user)) ||
	    (rc = in_copy(c, "device", g.device, sizeof g.device)) ||
	    (rc = in_copy(c, "agency", g.agency, sizeof g.agency)) ||
	    (rc = in_copy(c, "key_id", g.key_id, sizeof g.key_id)))
		return rc;
	if (roles == NULL || roles->type != TF_JSON_ARRAY)
		return wrong_type(c, "roles", "an array of role names");
	if (roles->len > TF_POLICY_MAX_ROLES)
		return tf_err_set(c->err, TF_ELIMIT, "input.roles",
				  "input.roles: at most %d roles",
				  TF_POLICY_MAX_ROLES);
	for (i = 0; i < roles->len; i++) {
		size_t len;
		const char *r = tf_json_str(roles->u.items[i], &len);
		if (r == NULL || len > TF_NAME_MAX)
			return tf_err_set(c->err, TF_EVALIDATE, "input.roles",
					  "input.roles[%zu]: must be a role "
					  "name",
					  i);
		memcpy(g.roles[i], r, len + 1);
	}
	g.nroles = roles->len;
	if ((rc = tf_grant_from_policy(&p, now, &g, c->err)))
		return rc;
	return tf_grant_write(&g, c->out, c->err);
}

static const char *const k_guard[] = {
	"anchor_mono", "anchor_wall", "high_water", "offset", "tripped", NULL};

/* Reads input.guard: {high_water, offset, tripped?, anchor_wall?,
 * anchor_mono?}. */
static int in_guard(call *c, tf_timeguard *tg)
{
	char prefix[64];
	const char *tripped;
	call sub;
	int rc;

	memset(tg, 0, sizeof *tg);
	if ((rc = sub_call(c, "guard", k_guard, prefix, sizeof prefix, &sub)) ||
	    (rc = in_i64(&sub, "high_water", 1, 0, &tg->high_water_ms)) ||
	    (rc = in_i64(&sub, "offset", 1, 0, &tg->offset_ms)) ||
	    (rc = in_str(&sub, "tripped", 0, &tripped, NULL)))
		return rc;
	if (tripped == NULL ||
	    strcmp(tripped, tf_grant_status_name(TF_GRANT_OK)) == 0)
		tg->tripped = TF_GRANT_OK;
	else if (strcmp(tripped, tf_grant_status_name(TF_GRANT_EXPIRED)) == 0)
		tg->tripped = TF_GRANT_EXPIRED;
	else if (strcmp(tripped, tf_grant_status_name(TF_GRANT_ROLLBACK)) == 0)
		tg->tripped = TF_GRANT_ROLLBACK;
	else
		return tf_err_set(c->err, TF_EINVAL, "input.guard.tripped",
				  "input.guard.tripped: must be %s, %s or %s",
				  tf_grant_status_name(TF_GRANT_OK),
				  tf_grant_status_name(TF_GRANT_EXPIRED),
				  tf_grant_status_name(TF_GRANT_ROLLBACK));
	if (member(&sub, "anchor_wall") || member(&sub, "anchor_mono")) {
		tg->anchored = 1;
		if ((rc = in_i64(&sub, "anchor_wall", 1, 0,
				 &tg->anchor_wall_ms)) ||
		    (rc = in_i64(&sub, "anchor_mono", 1, 0,
				 &tg->anchor_mono_ms)))
			return rc;
	}
	return 0;
}

static void write_guard(tf_buf *b, const tf_timeguard *tg)
{
	tf_buf_putc(b, '{');
	if (tg->anchored)
		tf_buf_printf(b, "\"anchor_mono\":%lld,\"anchor_wall\":%lld,",
			      (long long)tg->anchor_mono_ms,
			      (long long)tg->anchor_wall_ms);
	tf_buf_printf(b,
		      "\"high_water\":%lld,\"offset\":%lld,\"tripped\":\"%s\"}",
		      (long long)tg->high_water_ms, (long long)tg->offset_ms,
		      tf_grant_status_name((tf_grant_status)tg->tripped));
}

/*
 * {grant, guard, now, mono} -> {guard, reason, remaining_ms, server_now,
 * status}: the offline-grant verdict; the host persists guard.
 */
static int m_policy_grant_decide(call *c)
{
	tf_grant_decision d;
	tf_timeguard tg;
	tf_grant g;
	int64_t now, mono;
	int rc;

	if ((rc = in_grant(c, &g)) || (rc = in_guard(c, &tg)) ||
	    (rc = in_time(c, "now", &now)) ||
	    (rc = in_i64(c, "mono", 1, 0, &mono)))
		return rc;
	rc = tf_grant_decide(&g, &tg, now, mono, &d);
	if (rc)
		return tf_err_set(c->err, rc, "input", "grant.decide: %s",
				  tf_strerror(rc));
	tf_buf_puts(c->out, "{\"guard\":");
	write_guard(c->out, &d.next);
	tf_buf_puts(c->out, ",\"reason\":");
	tf_json_write_string(c->out, d.reason, strlen(d.reason));
	return tf_buf_printf(c->out,
			     ",\"remaining_ms\":%lld,\"server_now\":%lld,"
			     "\"status\":\"%s\"}",
			     (long long)d.remaining_ms,
			     (long long)d.server_now_ms,
			     tf_grant_status_name(d.status));
}

/* {grant, server_time, now, mono} -> guard: accepting a fresh grant. */
static int m_policy_grant_accept(call *c)
{
	tf_timeguard tg;
	tf_grant g;
	int64_t server, now, mono;
	int rc;

	memset(&tg, 0, sizeof tg);
	if ((rc = in_grant(c, &g)) ||
	    (rc = in_time(c, "server_time", &server)) ||
	    (rc = in_time(c, "now", &now)) ||
	    (rc = in_i64(c, "mono", 1, 0, &mono)) ||
	    (rc = tf_timeguard_accept(&tg, &g, server, now, mono, c->err)))
		return rc;
	write_guard(c->out, &tg);
	return c->out->failed;
}

/* {grant, agency_lock_ms?, exempt?, last_activity, mono} -> idle verdict. */
static int m_policy_idle(call *c)
{
	int64_t agency, last, mono, left = 0;
	tf_grant g;
	int exempt, rc, lock;

	if ((rc = in_grant(c, &g)) ||
	    (rc = in_i64(c, "agency_lock_ms", 0, 0, &agency)) ||
	    (rc = in_bool(c, "exempt", 0, &exempt)) ||
	    (rc = in_i64(c, "last_activity", 1, 0, &last)) ||
	    (rc = in_i64(c, "mono", 1, 0, &mono)))
		return rc;
	lock = tf_idle_should_lock(&g, agency, exempt, last, mono, &left);
	return tf_buf_printf(
		c->out, "{\"left_ms\":%lld,\"limit_ms\":%lld,\"lock\":%s}",
		(long long)left, (long long)tf_idle_limit(&g, agency, exempt),
		lock ? "true" : "false");
}

static int write_unlock(call *c, const tf_unlock_decision *d)
{
	return tf_buf_printf(c->out,
			     "{\"action\":\"%s\",\"attempts_left\":%u,"
			     "\"failures\":%u}",
			     tf_unlock_action_name(d->action),
			     (unsigned)d->attempts_left,
			     (unsigned)d->next.failures);
}

/* {failures, wipe_after} -> {action, attempts_left, failures}. */
static int m_policy_unlock_begin(call *c)
{
	tf_unlock_decision d;
	tf_unlock_state st = {0};
	uint32_t wipe = 0;
	int rc;

	if ((rc = in_u32(c, "failures", 1, 0, &st.failures)) ||
	    (rc = in_u32(c, "wipe_after", 1, 0, &wipe)))
		return rc;
	rc = tf_unlock_begin(&st, wipe, &d);
	if (rc)
		return tf_err_set(c->err, rc, "input.wipe_after",
				  "input.wipe_after: must be in 1..%u",
				  TF_POLICY_MAX_WIPE_AFTER);
	return write_unlock(c, &d);
}

/* {failures, ok, wipe_after} -> {action, attempts_left, failures}. */
static int m_policy_unlock_end(call *c)
{
	tf_unlock_decision d;
	tf_unlock_state st = {0};
	uint32_t wipe = 0;
	int ok, rc;

	if ((rc = in_u32(c, "failures", 1, 0, &st.failures)) ||
	    (rc = in_u32(c, "wipe_after", 1, 0, &wipe)) ||
	    (rc = in_bool(c, "ok", 0, &ok)))
		return rc;
	rc = tf_unlock_end(&st, ok, wipe, &d);
	if (rc == TF_EINVAL)
		return tf_err_set(c->err, rc, "input.failures",
				  "input.failures: 0, so unlock_begin was not "
				  "called for this attempt");
	if (rc)
		return tf_err_set(c->err, rc, "input.wipe_after",
				  "input.wipe_after: must be in 1..%u",
				  TF_POLICY_MAX_WIPE_AFTER);
	return write_unlock(c, &d);
}

static const char *const k_lockout[] = {"fail", "locked", NULL};

/*
 * {state: {fail: [ms...], locked}, policy, now} -> {locked, state}: a
 * failed logon (AC-7).
 */
static int m_policy_lockout_fail(call *c)
{
	tf_agency_policy p;
	tf_lockout_state st;
	const tf_json *fail;
	char prefix[64];
	int64_t now;
	call sub;
	size_t i;
	int rc, locked = 0;

	memset(&st, 0, sizeof st);
	if ((rc = sub_call(c, "state", k_lockout, prefix, sizeof prefix,
			   &sub)) ||
	    (rc = in_bool(&sub, "locked", 0, &st.locked)) ||
	    (rc = in_agency(c, &p)) || (rc = in_time(c, "now", &now)))
		return rc;
	fail = member(&sub, "fail");
	if (fail && (fail->type != TF_JSON_ARRAY ||
		     fail->len > TF_POLICY_MAX_LOCKOUT_FAILURES))
		return tf_err_set(c->err, TF_EINVAL, "input.state.fail",
				  "input.state.fail: an array of at most %u "
				  "times",
				  TF_POLICY_MAX_LOCKOUT_FAILURES);
	for (i = 0; fail && i < fail->len; i++) {
		if (tf_json_int64(fail->u.items[i], &st.fail_ms[i]) != 0)
			return tf_err_set(c->err, TF_ETYPE, "input.state.fail",
					  "input.state.fail[%zu]: must be an "
					  "integer (ms)",
					  i);
	}
	st.nfail = fail ? (uint32_t)fail->len : 0;
	rc = tf_lockout_fail(&st, &p, now, &locked);
	if (rc)
		return tf_err_set(c->err, rc, "input.state", "input.state: %s",
				  tf_strerror(rc));
	tf_buf_printf(c->out, "{\"locked\":%s,\"state\":{\"fail\":[",
		      locked ? "true" : "false");
	for (i = 0; i < st.nfail; i++)
		tf_buf_printf(c->out, "%s%lld", i ? "," : "",
			      (long long)st.fail_ms[i]);
	return tf_buf_printf(c->out, "],\"locked\":%s}}",
			     st.locked ? "true" : "false");
}

static int m_policy_pin_check(call *c)
{
	const char *pin;
	size_t len;
	int rc;

	if ((rc = in_str(c, "pin", 1, &pin, &len)) ||
	    (rc = tf_pin_check(pin, len, c->err)))
		return rc;
	return put_true(c);
}

#define MAX_EXTRA 1024 /* blocklist words per passphrase check call */

static int m_policy_passphrase_check(call *c)
{
	const tf_json *extra = member(c, "extra");
	const char **words = NULL;
	const char *pw;
	size_t len, i, n = 0;
	int rc;

	if ((rc = in_str(c, "passphrase", 1, &pw, &len)))
		return rc;
	if (extra && (extra->type != TF_JSON_ARRAY || extra->len > MAX_EXTRA))
		return tf_err_set(c->err, TF_EINVAL, "input.extra",
				  "input.extra: an array of at most %d words",
				  MAX_EXTRA);
	if (extra && extra->len) {
		words = calloc(extra->len, sizeof *words);
		if (words == NULL)
			return TF_ENOMEM;
		for (i = 0; i < extra->len; i++) {
			words[n] = tf_json_str(extra->u.items[i], NULL);
			if (words[n] == NULL) {
				free(words);
				return tf_err_set(c->err, TF_ETYPE,
						  "input.extra",
						  "input.extra[%zu]: must be "
						  "a string",
						  i);
			}
			n++;
		}
	}
	rc = tf_passphrase_check(pw, len, words, n, c->err);
	free(words);
	if (rc)
		return rc;
	return put_true(c);
}

static int parse_sync_state(const char *s, tf_sync_state *out)
{
	int i;

	if (s == NULL)
		return TF_EINVAL;
	for (i = TF_SYNC_SYNCED; i <= TF_SYNC_SUPERSEDED; i++) {
		if (strcmp(s, tf_sync_state_name((tf_sync_state)i)) == 0) {
			*out = (tf_sync_state)i;
			return 0;
		}
	}
	return TF_EINVAL;
}

#define MAX_EVICT 100000 /* records one policy.evict call considers */

static const char *const k_evict_rec[] = {"bytes",	 "id",	  "in_scope",
					  "last_access", "state", NULL};

/*
 * {records: [{id, state, in_scope, last_access, bytes}], budget} ->
 * {evict: [ids in eviction order], met, remaining}.
 */
static int m_policy_evict(call *c)
{
	const tf_json *recs = member(c, "records");
	tf_evict_rec *er = NULL;
	size_t *idx = NULL, n, nout = 0, i;
	int64_t budget;
	uint64_t remaining = 0;
	int met = 0, rc;

	if ((rc = in_i64(c, "budget", 1, 0, &budget)))
		return rc;
	if (budget < 0)
		return tf_err_set(c->err, TF_ERANGE, "input.budget",
				  "input.budget: must be >= 0");
	if (recs == NULL || recs->type != TF_JSON_ARRAY)
		return wrong_type(c, "records", "an array");
	n = recs->len;
	if (n > MAX_EVICT)
		return tf_err_set(c->err, TF_ELIMIT, "input.records",
				  "input.records: at most %d per call",
				  MAX_EVICT);
	er = calloc(n ? n : 1, sizeof *er);
	idx = calloc(n ? n : 1, sizeof *idx);
	if (er == NULL || idx == NULL) {
		rc = TF_ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		char prefix[64];
		const char *st;
		int64_t bytes;
		call sub = *c;
		snprintf(prefix, sizeof prefix, "input.records[%zu]", i);
		sub.prefix = prefix;
		sub.in = recs->u.items[i];
		if (sub.in->type != TF_JSON_OBJECT) {
			rc = tf_err_set(c->err, TF_ETYPE, prefix,
					"%s: must be an object", prefix);
			goto out;
		}
		if ((rc = check_keys(&sub, k_evict_rec)) ||
		    (rc = in_str(&sub, "id", 1, &er[i].id, NULL)) ||
		    (rc = in_str(&sub, "state", 1, &st, NULL)) ||
		    (rc = in_bool(&sub, "in_scope", 1, &er[i].in_scope)) ||
		    (rc = in_i64(&sub, "last_access", 1, 0,
				 &er[i].last_access_ms)) ||
		    (rc = in_i64(&sub, "bytes", 1, 0, &bytes)))
			goto out;
		if (parse_sync_state(st, &er[i].state) != 0 || bytes < 0) {
			rc = tf_err_set(c->err, TF_EINVAL, prefix,
					"%s: state must be a sync state and "
					"bytes >= 0",
					prefix);
			goto out;
		}
		er[i].bytes = (uint64_t)bytes;
	}
	rc = tf_policy_evict(er, n, (uint64_t)budget, idx, &nout, &met,
			     &remaining, c->err);
	if (rc)
		goto out;
	tf_buf_puts(c->out, "{\"evict\":[");
	for (i = 0; i < nout; i++) {
		if (i)
			tf_buf_putc(c->out, ',');
		const char *id = er[idx[i]].id ? er[idx[i]].id : "";
		tf_json_write_string(c->out, id, strlen(id));
	}
	rc = tf_buf_printf(c->out, "],\"met\":%s,\"remaining\":%llu}",
			   met ? "true" : "false",
			   (unsigned long long)remaining);
out:
	free(idx);
	free(er);
	return rc;
}

static const char *const k_principal[] = {"agency", "roles", "unit", "user",
					  NULL};

/* {record, principal: {user, unit?, agency?, roles}} -> in scope or not. */
static int m_policy_in_scope(call *c)
{
	const tf_json *rec, *roles;
	const tf_entity *e;
	tf_principal p;
	char prefix[64];
	call sub;
	size_t i;
	int in = 0, rc;

	memset(&p, 0, sizeof p);
	if ((rc = need_schema(c)) || (rc = in_obj(c, "record", &rec)) ||
	    (rc = sub_call(c, "principal", k_principal, prefix, sizeof prefix,
			   &sub)) ||
	    (rc = in_str(&sub, "user", 1, &p.user, NULL)) ||
	    (rc = in_str(&sub, "unit", 0, &p.unit, NULL)) ||
	    (rc = in_str(&sub, "agency", 0, &p.agency, NULL)))
		return rc;
	roles = member(&sub, "roles");
	if (roles &&
	    (roles->type != TF_JSON_ARRAY || roles->len > TF_POLICY_MAX_ROLES))
		return tf_err_set(c->err, TF_EINVAL, "input.principal.roles",
				  "input.principal.roles: an array of at most "
				  "%d names",
				  TF_POLICY_MAX_ROLES);
	for (i = 0; roles && i < roles->len; i++) {
		p.roles[i] = tf_json_str(roles->u.items[i], NULL);
		if (p.roles[i] == NULL)
			return tf_err_set(c->err, TF_ETYPE,
					  "input.principal.roles",
					  "input.principal.roles[%zu]: must be "
					  "a string",
					  i);
	}
	p.nroles = roles ? roles->len : 0;
	e = tf_schema_entity(c->a->schema, tf_record_entity(rec)
						   ? tf_record_entity(rec)
						   : "");
	if (e == NULL)
		return tf_err_set(c->err, TF_EINVAL, "input.record",
				  "input.record: not a record of a schema "
				  "entity");
	if ((rc = tf_policy_in_scope(e, rec, &p, &in, c->err)))
		return rc;
	return tf_buf_puts(c->out, in ? "true" : "false");
}

/* ------------------------------------------------------------ audit */

static const char *const k_audit_write[] = {
	"agency", "cmd_id",    "detail", "device", "entity", "field",  "outcome",
	"prev",	  "record_id", "role",	 "seq",	   "source", "target",
	"ts",	  "type",      "user",	 "where",  NULL};

/*
 * An audit entry from its members (audit.h) -> its canonical bytes as a
 * string; the host hashes exactly these bytes for the next entry's prev.
 */
static int m_audit_write(call *c)
{
	const char *type, *outcome;
	tf_audit_event ev;
	int64_t seq;
	size_t tlen;
	tf_buf b;
	int rc;

	memset(&ev, 0, sizeof ev);
	if ((rc = in_i64(c, "seq", 1, 0, &seq)) ||
	    (rc = in_time(c, "ts", &ev.ts_ms)) ||
	    (rc = in_str(c, "type", 1, &type, &tlen)) ||
	    (rc = in_str(c, "outcome", 1, &outcome, NULL)) ||
	    (rc = in_str(c, "user", 1, &ev.user, NULL)) ||
	    (rc = in_str(c, "device", 0, &ev.device, NULL)) ||
	    (rc = in_str(c, "agency", 0, &ev.agency, NULL)) ||
	    (rc = in_str(c, "role", 0, &ev.role, NULL)) ||
	    (rc = in_str(c, "source", 1, &ev.source, NULL)) ||
	    (rc = in_str(c, "where", 1, &ev.where, NULL)) ||
	    (rc = in_str(c, "entity", 0, &ev.entity, NULL)) ||
	    (rc = in_str(c, "record_id", 0, &ev.record_id, NULL)) ||
	    (rc = in_str(c, "cmd_id", 0, &ev.cmd_id, NULL)) ||
	    (rc = in_str(c, "field", 0, &ev.field, NULL)) ||
	    (rc = in_str(c, "target", 0, &ev.target, NULL)) ||
	    (rc = in_str(c, "prev", 1, &ev.prev, NULL)))
		return rc;
	if (seq < 1)
		return tf_err_set(c->err, TF_ERANGE, "input.seq",
				  "input.seq: must be >= 1");
	ev.seq = (uint64_t)seq;
	if (tf_audit_type_parse(type, tlen, &ev.type) != 0)
		return tf_err_set(c->err, TF_EINVAL, "input.type",
				  "input.type: unknown audit event type "
				  "\"%.40s\"",
				  type);
	if (strcmp(outcome, "success") != 0 && strcmp(outcome, "failure") != 0)
		return tf_err_set(c->err, TF_EINVAL, "input.outcome",
				  "input.outcome: must be success or failure");
	ev.success = strcmp(outcome, "success") == 0;
	ev.detail = member(c, "detail");
	tf_buf_init(&b);
	rc = tf_audit_write(&ev, &b, c->err);
	if (rc == 0)
		rc = tf_json_write_string(c->out, b.data ? b.data : "", b.len);
	tf_buf_free(&b);
	return rc;
}

static const char *const k_audit_blob[] = {"bytes", "hash", NULL};
static const char *const k_audit_first[] = {"prev", "seq", NULL};
static const char *const k_audit_check[] = {"hash", "seq", NULL};

/* Reads {seq, <hkey>: 64 hex} of input.<key> into *seq and hash. */
static int in_anchor(call *c, const char *key, const char *hkey,
		     const char *const *keys, int *has, uint64_t *seq,
		     uint8_t hash[TF_AUDIT_HASH_LEN])
{
	char prefix[64];
	int64_t s;
	call sub;
	int rc;

	*has = 0;
	if (member(c, key) == NULL)
		return 0;
	if ((rc = sub_call(c, key, keys, prefix, sizeof prefix, &sub)) ||
	    (rc = in_i64(&sub, "seq", 1, 0, &s)) ||
	    (rc = in_hex(&sub, hkey, hash, TF_AUDIT_HASH_LEN)))
		return rc;
	if (s < 1)
		return tf_err_set(c->err, TF_ERANGE, prefix,
				  "%s.seq: must be >= 1", prefix);
	*seq = (uint64_t)s;
	*has = 1;
	return 0;
}

/*
 * {entries: [{bytes, hash}], first?: {seq, prev}, checkpoint?: {seq,
 * hash}} -> {fault, index, message, seq, verified}: the chain check;
 * a broken chain is a result (fault), not an API error.
 */
static int m_audit_verify(call *c)
{
	const tf_json *ents = member(c, "entries");
	tf_audit_blob *blobs = NULL;
	tf_audit_anchor anc;
	tf_audit_report rep;
	size_t i, n;
	int rc;

	memset(&anc, 0, sizeof anc);
	if ((rc = in_anchor(c, "first", "prev", k_audit_first, &anc.has_first,
			    &anc.first_seq, anc.first_prev)) ||
	    (rc = in_anchor(c, "checkpoint", "hash", k_audit_check,
			    &anc.has_checkpoint, &anc.checkpoint_seq,
			    anc.checkpoint_hash)))
		return rc;
	if (ents == NULL || ents->type != TF_JSON_ARRAY)
		return wrong_type(c, "entries", "an array of {bytes, hash}");
	n = ents->len;
	blobs = calloc(n ? n : 1, sizeof *blobs);
	if (blobs == NULL)
		return TF_ENOMEM;
	for (i = 0; i < n; i++) {
		char prefix[64];
		call sub = *c;
		snprintf(prefix, sizeof prefix, "input.entries[%zu]", i);
		sub.prefix = prefix;
		sub.in = ents->u.items[i];
		if (sub.in->type != TF_JSON_OBJECT) {
			rc = tf_err_set(c->err, TF_ETYPE, prefix,
					"%s: must be an object", prefix);
			goto out;
		}
		if ((rc = check_keys(&sub, k_audit_blob)) ||
		    (rc = in_str(&sub, "bytes", 1, &blobs[i].bytes,
				 &blobs[i].len)) ||
		    (rc = in_hex(&sub, "hash", blobs[i].hash,
				 TF_AUDIT_HASH_LEN)))
			goto out;
	}
	memset(&rep, 0, sizeof rep);
	rc = tf_audit_verify(blobs, n, &anc, &rep);
	if (rc != 0 && rc != TF_EVALIDATE)
		goto out;
	tf_buf_printf(c->out, "{\"fault\":\"%s\",\"index\":%zu,\"message\":",
		      tf_audit_fault_name(rep.fault), rep.index);
	tf_json_write_string(c->out, rep.msg, strlen(rep.msg));
	rc = tf_buf_printf(c->out, ",\"seq\":%llu,\"verified\":%zu}",
			   (unsigned long long)rep.seq, rep.verified);
out:
	free(blobs);
	return rc;
}

/* ------------------------------------------------------------ table */

static const char *const k_clock_now[] = {"last", "max_skew", "now", "offset",
					  NULL};
static const char *const k_clock_recv[] = {"last",   "max_skew", "now",
					   "offset", "remote",	 NULL};
static const char *const k_clock_rebase[] = {"last",   "max_skew",    "now",
					     "offset", "server_time", NULL};
static const char *const k_hlc_compare[] = {"a", "b", "node_a", "node_b", NULL};
static const char *const k_uuid_v7[] = {"now", "random", NULL};
static const char *const k_uuid_valid[] = {"uuid", NULL};
static const char *const k_cmd_validate[] = {"command", "online", NULL};
static const char *const k_cmd_canonical[] = {"command", NULL};
static const char *const k_rec_new[] = {"entity", "id", NULL};
static const char *const k_rec_apply[] = {
	"allow_ref", "authority", "command", "now", "online", "record", NULL};
static const char *const k_rec_check[] = {"record", NULL};
static const char *const k_rec_stale[] = {"field", "now", "record", NULL};
static const char *const k_diff[] = {"a", "b", NULL};
static const char *const k_diff3[] = {"base", "head", "proposed", NULL};
static const char *const k_rep_new[] = {"clock_last", "device", "user", NULL};
static const char *const k_rep[] = {"replica", NULL};
static const char *const k_rep_now[] = {"now", "replica", NULL};
static const char *const k_rep_mutate[] = {"args",	"entity",  "now",
					   "online",	"op",	   "random",
					   "record_id", "replica", NULL};
static const char *const k_rep_push[] = {"max", "replica", NULL};
static const char *const k_rep_reply[] = {"now", "replica", "reply", NULL};
static const char *const k_rep_pull[] = {"now", "page", "replica", NULL};
static const char *const k_rep_view[] = {"record_id", "replica", NULL};
static const char *const k_rep_list[] = {"entity", "replica", NULL};
static const char *const k_rep_ack[] = {"notice", "replica", NULL};
static const char *const k_rep_load[] = {"saved", NULL};
static const char *const k_rep_ckpt[] = {"full", "replica", NULL};
static const char *const k_rep_parts[] = {"head", "pending", "records", NULL};
static const char *const k_rep_evict[] = {"record_id", "replica", NULL};
static const char *const k_none[] = {NULL};
static const char *const k_pol_grant_issue[] = {
	"agency", "device", "key_id", "now", "policy", "roles", "user", NULL};
static const char *const k_pol_decide[] = {"grant", "guard", "mono", "now",
					   NULL};
static const char *const k_pol_accept[] = {"grant", "mono", "now",
					   "server_time", NULL};
static const char *const k_pol_idle[] = {"agency_lock_ms", "exempt", "grant",
					 "last_activity",  "mono",   NULL};
static const char *const k_pol_unlock_begin[] = {"failures", "wipe_after",
						 NULL};
static const char *const k_pol_unlock_end[] = {"failures", "ok", "wipe_after",
					       NULL};
static const char *const k_pol_lockout[] = {"now", "policy", "state", NULL};
static const char *const k_pol_pin[] = {"pin", NULL};
static const char *const k_pol_pass[] = {"extra", "passphrase", NULL};
static const char *const k_pol_evict[] = {"budget", "records", NULL};
static const char *const k_pol_scope[] = {"principal", "record", NULL};
static const char *const k_audit_verify[] = {"checkpoint", "entries", "first",
					     NULL};
static const char *const k_store_put[] = {"record", NULL};
static const char *const k_store_get[] = {"id", NULL};
static const char *const k_store_apply[] = {
	"allow_ref", "authority", "command",	 "commands",
	"now",	     "online",	  "status_only", NULL};

/* X(name, function, keys): keys NULL = the input is the document itself. */
#define TF_API_METHODS(X)                                                      \
	X("audit.verify", m_audit_verify, k_audit_verify)                      \
	X("audit.write", m_audit_write, k_audit_write)                         \
	X("command.canonical", m_command_canonical, k_cmd_canonical)           \
	X("command.validate", m_command_validate, k_cmd_validate)              \
	X("diff.diff", m_diff_diff, k_diff)                                    \
	X("diff.diff3", m_diff_diff3, k_diff3)                                 \
	X("diff.merge", m_diff_merge, k_diff3)                                 \
	X("hlc.compare", m_hlc_compare, k_hlc_compare)                         \
	X("hlc.now", m_hlc_now, k_clock_now)                                   \
	X("hlc.rebase", m_hlc_rebase, k_clock_rebase)                          \
	X("hlc.recv", m_hlc_recv, k_clock_recv)                                \
	X("json.canonicalize", m_json_canonicalize, NULL)                      \
	X("policy.agency", m_policy_agency, NULL)                              \
	X("policy.agency_default", m_policy_agency_default, k_none)            \
	X("policy.evict", m_policy_evict, k_pol_evict)                         \
	X("policy.grant", m_policy_grant, NULL)                                \
	X("policy.grant_accept", m_policy_grant_accept, k_pol_accept)          \
	X("policy.grant_decide", m_policy_grant_decide, k_pol_decide)          \
	X("policy.grant_issue", m_policy_grant_issue, k_pol_grant_issue)       \
	X("policy.idle", m_policy_idle, k_pol_idle)                            \
	X("policy.in_scope", m_policy_in_scope, k_pol_scope)                   \
	X("policy.lockout_fail", m_policy_lockout_fail, k_pol_lockout)         \
	X("policy.passphrase_check", m_policy_passphrase_check, k_pol_pass)    \
	X("policy.pin_check", m_policy_pin_check, k_pol_pin)                   \
	X("policy.unlock_begin", m_policy_unlock_begin, k_pol_unlock_begin)    \
	X("policy.unlock_end", m_policy_unlock_end, k_pol_unlock_end)          \
	X("protocol.pull_page", m_proto_pull_page, NULL)                       \
	X("protocol.push_reply", m_proto_push_reply, NULL)                     \
	X("protocol.push_request", m_proto_push_request, NULL)                 \
	X("record.apply", m_record_apply, k_rec_apply)                         \
	X("record.check", m_record_check, k_rec_check)                         \
	X("record.new", m_record_new, k_rec_new)                               \
	X("record.ref_stale", m_record_ref_stale, k_rec_stale)                 \
	X("replica.ack_notice", m_replica_ack_notice, k_rep_ack)               \
	X("replica.apply_pull", m_replica_apply_pull, k_rep_pull)              \
	X("replica.apply_push_reply", m_replica_apply_push_reply, k_rep_reply) \
	X("replica.checkpoint", m_replica_checkpoint, k_rep_ckpt)              \
	X("replica.checkpoint_done", m_replica_checkpoint_done, k_rep)         \
	X("replica.clock", m_replica_clock, k_rep)                             \
	X("replica.cursor", m_replica_cursor, k_rep)                           \
	X("replica.dirty", m_replica_dirty, k_rep)                             \
	X("replica.evict", m_replica_evict, k_rep_evict)                       \
	X("replica.free", m_replica_free, k_rep)                               \
	X("replica.list", m_replica_list, k_rep_list)                          \
	X("replica.load", m_replica_load, k_rep_load)                          \
	X("replica.load_parts", m_replica_load_parts, k_rep_parts)             \
	X("replica.mutate", m_replica_mutate, k_rep_mutate)                    \
	X("replica.new", m_replica_new, k_rep_new)                             \
	X("replica.notices", m_replica_notices, k_rep)                         \
	X("replica.pull_remaining", m_replica_pull_remaining, k_rep)           \
	X("replica.push_request", m_replica_push_request, k_rep_push)          \
	X("replica.save", m_replica_save, k_rep)                               \
	X("replica.summary", m_replica_summary, k_rep_now)                     \
	X("replica.view", m_replica_view, k_rep_view)                          \
	X("schema.load", m_schema_load, NULL)                                  \
	X("store.apply", m_store_apply, k_store_apply)                         \
	X("store.clear", m_store_clear, k_none)                                \
	X("store.count", m_store_count, k_none)                                \
	X("store.get", m_store_get, k_store_get)                               \
	X("store.put", m_store_put, k_store_put)                               \
	X("uuid.v7", m_uuid_v7, k_uuid_v7)                                     \
	X("uuid.valid", m_uuid_valid, k_uuid_valid)

struct method {
	const char *name;
	method_fn fn;
	const char *const *keys;
};

#define TF_X_(name, fn, keys) {name, fn, keys},
static const struct method methods[] = {TF_API_METHODS(TF_X_)};
#undef TF_X_

#define TF_X_(name, fn, keys) name,
static const char *const method_names[] = {TF_API_METHODS(TF_X_) NULL};
#undef TF_X_

const char *const *tf_api_methods(void)
{
	return method_names;
}

static const struct method *find_method(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		if (strlen(methods[i].name) == len &&
		    memcmp(methods[i].name, name, len) == 0)
			return &methods[i];
	}
	return NULL;
}

/* Refuses input members the method does not read (typos fail loudly). */
static int check_keys(const call *c, const char *const *keys)
{
	size_t i, k;

	for (i = 0; i < c->in->len; i++) {
		const char *key = c->in->u.members[i].key;
		for (k = 0; keys[k]; k++) {
			if (strcmp(keys[k], key) == 0)
				break;
		}
		if (keys[k] == NULL)
			return tf_err_set(c->err, TF_EUNKNOWN, c->prefix,
					  "%s.%.48s: unknown member", c->prefix,
					  key);
	}
	return 0;
}

tf_api *tf_api_new(void)
{
	return calloc(1, sizeof(tf_api));
}

void tf_api_free(tf_api *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < TF_API_MAX_REPLICAS; i++)
		tf_replica_free(a->rep[i]);
	store_clear(a);
	tf_schema_free(a->schema);
	free(a);
}

int tf_api_call(tf_api *a, const char *method, size_t mlen, const char *in,
		size_t inlen, tf_buf *out)
{
	const struct method *m;
	tf_err err;
	call c;
	int rc;

	assert(a != NULL && out != NULL);
	assert(method != NULL || mlen == 0);
	assert(in != NULL || inlen == 0);
	tf_buf_reset(out);
	tf_err_clear(&err);
	memset(&c, 0, sizeof c);
	c.a = a;
	c.prefix = "input";
	c.raw = in ? in : "";
	c.rawlen = inlen;
	c.out = out;
	c.err = &err;
	m = find_method(method ? method : "", mlen);
	if (m == NULL) {
		rc = tf_err_set(&err, TF_ENOTFOUND, "method",
				"unknown method \"%.*s\"",
				(int)(mlen > 64 ? 64 : mlen),
				method ? method : "");
		goto out;
	}
	if (m->keys != NULL) {
		rc = tf_json_parse(c.raw, c.rawlen, NULL, &c.in, &err);
		if (rc)
			goto out;
		if (c.in->type != TF_JSON_OBJECT) {
			rc = tf_err_set(&err, TF_ETYPE, "input",
					"input: must be a JSON object");
			goto out;
		}
		rc = check_keys(&c, m->keys);
		if (rc)
			goto out;
	}
	tf_buf_puts(out, "{\"ok\":");
	rc = m->fn(&c);
	if (rc == 0)
		rc = tf_buf_putc(out, '}');
out:
	tf_json_free(c.in);
	if (rc == 0)
		return 0;
	if (write_error(out, rc, &err) != 0)
		return TF_ENOMEM;
	return rc;
}

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

#include "tenfour/diff.h"
#include "tenfour/replica.h"

#include <assert.h>
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
	tf_json *in; /* the parsed input object; NULL for raw methods */
	tf_buf *out; /* the result goes here, after the "{\"ok\":" prefix */
	tf_err *err;
} call;

typedef int (*method_fn)(call *c);

/* ------------------------------------------------------------ helpers */

/* Sets v under key, taking ownership; a NULL v (failed constructor) is ENOMEM.
 */
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

/* "input.<key>" into where. */
static void where_of(const char *key, char *where, size_t cap)
{
	size_t n = strlen(key);

	assert(cap > 7);
	memcpy(where, "input.", 6);
	if (n > cap - 7)
		n = cap - 7;
	memcpy(where + 6, key, n);
	where[6 + n] = '\0';
}

static int missing(call *c, const char *key, const char *what)
{
	char w[64];

	where_of(key, w, sizeof w);
	return tf_err_set(c->err, TF_EMISSING, w, "%s: missing (%s)", w, what);
}

static int wrong_type(call *c, const char *key, const char *what)
{
	char w[64];

	where_of(key, w, sizeof w);
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
		where_of(key, w, sizeof w);
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
		where_of(key, w, sizeof w);
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
		where_of(key, w, sizeof w);
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
 * Validates and applies cmd to *rec with the context members of the input
 * (now, authority?, allow_ref?, online?).  A command that fails validation
 * is a business rejection, as on the server: res->status REJECTED with the
 * reason, *rec unchanged.  Returns 0 with res filled, or a hard error.
 */
static int apply_cmd(call *c, tf_json **rec, const tf_command *cmd,
		     tf_apply_result *res)
{
	tf_apply_ctx ctx;
	tf_err verr;
	int rc, online;

	memset(&ctx, 0, sizeof ctx);
	tf_err_clear(&verr);
	if ((rc = in_time(c, "now", &ctx.now_ms)) ||
	    (rc = in_bool(c, "authority", 0, &ctx.authority)) ||
	    (rc = in_bool(c, "allow_ref", 0, &ctx.allow_ref)) ||
	    (rc = in_bool(c, "online", 1, &online)))
		return rc;
	ctx.schema = c->a->schema;
	rc = tf_command_validate(c->a->schema, cmd, online, &verr);
	if (rc == TF_ENOMEM)
		return rc;
	if (rc) {
		res->status = TF_ST_REJECTED;
		res->err = verr;
		res->err.code = rc;
		return 0;
	}
	return tf_record_apply(rec, cmd, &ctx, res);
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
	tf_command cmd;
	tf_json *rec = NULL, *o = NULL;
	int rc;

	memset(&cmd, 0, sizeof cmd);
	memset(&res, 0, sizeof res);
	if ((rc = need_schema(c)) || (rc = in_command(c, &cmd)) ||
	    (rc = take_record(c, &rec)) ||
	    (rc = apply_cmd(c, &rec, &cmd, &res)))
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
	nw = calloc(cap, sizeof *nw);
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
 * {command, now, authority?, allow_ref?, online?} ->
 * {detail?, error?, status, ver?}: record.apply on the stored state of the
 * command's record (none: only a create applies, and stores it).
 */
static int m_store_apply(call *c)
{
	tf_apply_result res;
	tf_command cmd;
	tf_json *o = NULL, *rec;
	size_t i;
	int rc;

	memset(&cmd, 0, sizeof cmd);
	memset(&res, 0, sizeof res);
	if ((rc = need_schema(c)) || (rc = in_command(c, &cmd)) ||
	    (rc = store_reserve(c)))
		goto out;
	i = store_slot(c->a, cmd.record_id);
	rec = c->a->store[i];
	rc = apply_cmd(c, &rec, &cmd, &res);
	if (rc)
		goto out;
	if (c->a->store[i] == NULL && rec != NULL)
		c->a->store_n++;
	c->a->store[i] = rec;
	rc = TF_ENOMEM;
	o = tf_json_object();
	if (o == NULL || result_members(o, &res) ||
	    (rec && set(o, "ver", tf_json_int(tf_record_ver(rec)))))
		goto out;
	rc = put_tree(c, o);
	o = NULL;
out:
	tf_json_free(o);
	tf_apply_result_clear(&res);
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
	tf_replica *r;
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
	tf_replica *r;
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
	tf_replica *r;
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
	tf_replica *r;
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
	tf_replica *r;
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
	tf_replica *r;
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
	tf_replica *r;
	int rc;

	if ((rc = in_replica(c, &r)) ||
	    (rc = in_str(c, "entity", 0, &entity, NULL)))
		return rc;
	return tf_replica_list_json(r, entity, c->out);
}

static int m_replica_notices(call *c)
{
	tf_replica *r;
	int rc = in_replica(c, &r);

	if (rc)
		return rc;
	return tf_replica_notices_json(r, c->out);
}

static int m_replica_ack_notice(call *c)
{
	const char *id;
	tf_replica *r;
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
	tf_replica *r;
	int64_t now;
	int rc;

	if ((rc = in_replica(c, &r)) || (rc = in_time(c, "now", &now)))
		return rc;
	return tf_replica_summary_json(r, now, c->out);
}

static int m_replica_cursor(call *c)
{
	const char *cur;
	tf_replica *r;
	int rc = in_replica(c, &r);

	if (rc)
		return rc;
	cur = tf_replica_cursor(r);
	return tf_json_write_string(c->out, cur, strlen(cur));
}

static int m_replica_clock(call *c)
{
	char s[TF_HLC_TEXT_LEN + 1];
	tf_replica *r;
	int rc = in_replica(c, &r);

	if (rc)
		return rc;
	tf_hlc_format(tf_replica_clock(r), s);
	return tf_buf_printf(c->out, "\"%s\"", s);
}

/* The saved bytes, as a JSON string (the host stores them as they are). */
static int m_replica_save(call *c)
{
	tf_replica *r;
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
static const char *const k_none[] = {NULL};
static const char *const k_store_put[] = {"record", NULL};
static const char *const k_store_get[] = {"id", NULL};
static const char *const k_store_apply[] = {"allow_ref", "authority", "command",
					    "now",	 "online",    NULL};

/* X(name, function, keys): keys NULL = the input is the document itself. */
#define TF_API_METHODS(X)                                                      \
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
	X("replica.clock", m_replica_clock, k_rep)                             \
	X("replica.cursor", m_replica_cursor, k_rep)                           \
	X("replica.free", m_replica_free, k_rep)                               \
	X("replica.list", m_replica_list, k_rep_list)                          \
	X("replica.load", m_replica_load, k_rep_load)                          \
	X("replica.mutate", m_replica_mutate, k_rep_mutate)                    \
	X("replica.new", m_replica_new, k_rep_new)                             \
	X("replica.notices", m_replica_notices, k_rep)                         \
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
			return tf_err_set(c->err, TF_EUNKNOWN, "input",
					  "input.%.48s: unknown member", key);
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
	c.raw = in ? in : "";
	c.rawlen = inlen;
	c.out = out;
	c.err = &err;
	m = find_method(method ? method : "", mlen);
	if (m == NULL) {
		rc = tf_err_set(&err, TF_ENOTFOUND, "method",
				"unknown method \"%.*s\"",
				(int)(mlen > 64 ? 64 : mlen), method);
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

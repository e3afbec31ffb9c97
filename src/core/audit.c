/*
 * audit.c - AU-2 event types, AU-3 entries as canonical JSON, the entry
 * parser and hash-chain verification.  The core never hashes: the host
 * passes SHA-256 of each entry's bytes.  Format and contracts in
 * include/tenfour/audit.h.
 */
#include "tenfour/audit.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char tf_audit_genesis[TF_AUDIT_PREV_LEN + 1] =
	"0000000000000000000000000000000000000000000000000000000000000000";

static const char *const type_names[TF_AUDIT_TYPE_COUNT] = {
	NULL,
#define TF_X_(name, wire) wire,
	TF_AUDIT_TYPE_MAP(TF_X_)
#undef TF_X_
};

const char *tf_audit_type_name(tf_audit_type t)
{
	if ((int)t <= (int)TF_AUDIT_NONE || (int)t >= (int)TF_AUDIT_TYPE_COUNT)
		return NULL;
	return type_names[t];
}

int tf_audit_type_parse(const char *name, size_t len, tf_audit_type *out)
{
	int t;

	if (name == NULL)
		return TF_EINVAL;
	for (t = TF_AUDIT_NONE + 1; t < TF_AUDIT_TYPE_COUNT; t++) {
		if (strlen(type_names[t]) == len &&
		    memcmp(type_names[t], name, len) == 0) {
			*out = (tf_audit_type)t;
			return 0;
		}
	}
	return TF_EINVAL;
}

const char *tf_audit_fault_name(tf_audit_fault f)
{
	switch (f) {
	case TF_AUDIT_OK:
		return "ok";
	case TF_AUDIT_MALFORMED:
		return "malformed";
	case TF_AUDIT_ALTERED:
		return "altered";
	case TF_AUDIT_REMOVED:
		return "removed";
	case TF_AUDIT_REORDERED:
		return "reordered";
	case TF_AUDIT_INSERTED:
		return "inserted";
	case TF_AUDIT_TIME:
		return "time_went_back";
	case TF_AUDIT_ANCHOR:
		return "anchor_mismatch";
	}
	return "unknown";
}

/* ------------------------------------------------------------ checks */

/* [A-Za-z0-9._@-]{1,64}, the id grammar of docs/PROTOCOL.md section 2. */
static int id_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i >= TF_ID_MAX ||
		    !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '@' || c == '-'))
			return 0;
	}
	return i > 0;
}

/* [a-z][a-z0-9_]*, at most TF_NAME_MAX bytes. */
static int name_ok(const char *s)
{
	size_t i;

	if (s[0] < 'a' || s[0] > 'z')
		return 0;
	for (i = 1; s[i]; i++) {
		char c = s[i];
		if (i >= TF_NAME_MAX || !((c >= 'a' && c <= 'z') ||
					  (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return 1;
}

/* 1..max bytes of printable ASCII; space allowed only when `space`. */
static int text_ok(const char *s, size_t max, int space)
{
	size_t i;

	for (i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i >= max || c > 0x7e || c < 0x20 || (c == ' ' && !space))
			return 0;
	}
	return i > 0;
}

static int prev_ok(const char *s)
{
	size_t i;

	for (i = 0; i < TF_AUDIT_PREV_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[TF_AUDIT_PREV_LEN] == '\0';
}

/* Deepest nesting of containers in v (v itself is 1), stopping at cap+1. */
static size_t json_depth(const tf_json *v, size_t cap)
{
	size_t i, d, best = 0;

	if (v->type != TF_JSON_ARRAY && v->type != TF_JSON_OBJECT)
		return 0;
	if (cap == 0)
		return 1;
	for (i = 0; i < v->len && best < cap; i++) {
		const tf_json *c = v->type == TF_JSON_ARRAY
					   ? v->u.items[i]
					   : v->u.members[i].value;
		d = json_depth(c, cap - 1);
		if (d > best)
			best = d;
	}
	return best + 1;
}

enum kind { K_ID, K_NAME, K_UUID };

/* An optional member of kind k; NULL is fine, "" is not. */
static int opt_member(const char *s, enum kind k, const char *where,
		      tf_err *err)
{
	size_t len = 0;
	int ok;

	if (s == NULL)
		return 0;
	switch (k) {
	case K_ID:
		ok = id_ok(s);
		break;
	case K_NAME:
		ok = name_ok(s);
		break;
	default:
		while (len <= TF_UUID_LEN && s[len])
			len++;
		ok = tf_uuid_valid(s, len);
		break;
	}
	if (ok)
		return 0;
	return tf_err_set(err, TF_EVALIDATE, where, "%s: %s", where,
			  k == K_ID	? "must be an id, 1..64 characters of "
					  "[A-Za-z0-9._@-]"
			  : k == K_NAME ? "must be a name [a-z][a-z0-9_]* of "
					  "at most 32 bytes"
					: "must be a lower-case UUID");
}

/*
 * Every rule of audit.h on ev.  The detail check writes it into `scratch`
 * to measure its canonical size.
 */
static int event_check(const tf_audit_event *ev, tf_buf *scratch, tf_err *err)
{
	int rc;

	if (ev->seq == 0)
		return tf_err_set(err, TF_ERANGE, "seq",
				  "seq: entries are numbered from 1");
	if (ev->seq > (uint64_t)INT64_MAX)
		return tf_err_set(err, TF_ERANGE, "seq",
				  "seq: %" PRIu64 " is past 2^63 - 1", ev->seq);
	if (ev->ts_ms < 0 || ev->ts_ms > TF_HLC_MAX_MS)
		return tf_err_set(err, TF_ERANGE, "ts",
				  "ts: %" PRId64 " is not UTC ms within "
				  "[0, 2^48)",
				  ev->ts_ms);
	if (tf_audit_type_name(ev->type) == NULL)
		return tf_err_set(err, TF_ERANGE, "type",
				  "type: %d is not an audit event type",
				  (int)ev->type);
	if (ev->success != 0 && ev->success != 1)
		return tf_err_set(err, TF_ERANGE, "outcome",
				  "outcome: success must be 0 or 1, not %d",
				  ev->success);
	if (ev->user == NULL)
		return tf_err_set(err, TF_EMISSING, "actor.user",
				  "actor.user: required (\"system\" for "
				  "automatic events)");
	if ((rc = opt_member(ev->user, K_ID, "actor.user", err)) ||
	    (rc = opt_member(ev->agency, K_ID, "actor.agency", err)) ||
	    (rc = opt_member(ev->device, K_ID, "actor.device", err)) ||
	    (rc = opt_member(ev->role, K_NAME, "actor.role", err)))
		return rc;
	if (ev->source == NULL)
		return tf_err_set(err, TF_EMISSING, "source",
				  "source: required (\"local\" or the peer "
				  "address)");
	if (!text_ok(ev->source, TF_AUDIT_SOURCE_MAX, 0))
		return tf_err_set(err, TF_EVALIDATE, "source",
				  "source: must be 1..%d printable ASCII "
				  "characters without spaces",
				  TF_AUDIT_SOURCE_MAX);
	if (ev->where == NULL)
		return tf_err_set(err, TF_EMISSING, "where",
				  "where: required (the component or "
				  "endpoint)");
	if (!text_ok(ev->where, TF_AUDIT_WHERE_MAX, 1))
		return tf_err_set(err, TF_EVALIDATE, "where",
				  "where: must be 1..%d printable ASCII "
				  "characters",
				  TF_AUDIT_WHERE_MAX);
	if ((rc = opt_member(ev->entity, K_NAME, "what.entity", err)) ||
	    (rc = opt_member(ev->record_id, K_UUID, "what.record_id", err)) ||
	    (rc = opt_member(ev->cmd_id, K_UUID, "what.cmd_id", err)) ||
	    (rc = opt_member(ev->field, K_NAME, "what.field", err)) ||
	    (rc = opt_member(ev->target, K_ID, "what.target", err)))
		return rc;
	if (ev->detail != NULL) {
		if (ev->detail->type != TF_JSON_OBJECT)
			return tf_err_set(err, TF_ETYPE, "detail",
					  "detail: must be an object");
		if (json_depth(ev->detail, TF_AUDIT_DETAIL_DEPTH) >
		    TF_AUDIT_DETAIL_DEPTH)
			return tf_err_set(err, TF_ELIMIT, "detail",
					  "detail: nested deeper than %d "
					  "levels",
					  TF_AUDIT_DETAIL_DEPTH);
		tf_buf_reset(scratch);
		rc = tf_json_write(ev->detail, scratch);
		if (rc == TF_ENOMEM)
			return tf_err_set(err, rc, "detail", "out of memory");
		if (rc || scratch->len > TF_AUDIT_DETAIL_MAX)
			return tf_err_set(err, TF_ELIMIT, "detail",
					  "detail: %zu canonical bytes, at "
					  "most %d",
					  scratch->len, TF_AUDIT_DETAIL_MAX);
	}
	if (ev->prev == NULL)
		return tf_err_set(err, TF_EMISSING, "prev",
				  "prev: required (64 zeros for the first "
				  "entry)");
	if (!prev_ok(ev->prev))
		return tf_err_set(err, TF_EVALIDATE, "prev",
				  "prev: must be 64 lower-case hex digits");
	return 0;
}

/* ------------------------------------------------------------ writing */

/*
 * The entry is written member by member in canonical order rather than
 * built as a tf_json tree and serialized: the server writes one entry per
 * pushed command on its single writer thread, and the tree (17 nodes, each
 * allocated, inserted in order and freed) cost about twice the bytes' own
 * writing.  The members' order below is the byte order of their keys, the
 * order tf_json_write would give; test_audit compares the two on many
 * events.  Strings go through tf_json_write_string, so their escapes are
 * tf_json_write's.
 */

/* ,"key":"s" (or "key":"s" for the first member); nothing when s is NULL. */
static void put_member(tf_buf *b, int *first, const char *key, size_t klen,
		       const char *s)
{
	if (s == NULL)
		return;
	if (!*first)
		tf_buf_putc(b, ',');
	*first = 0;
	tf_buf_putc(b, '"');
	tf_buf_append(b, key, klen);
	tf_buf_append(b, "\":", 2);
	tf_json_write_string(b, s, strlen(s));
}

/* A string literal's bytes, without its NUL. */
#define LIT(b, lit) tf_buf_append((b), (lit), sizeof(lit) - 1)

#define PUT_MEMBER(b, first, key, s) \
	put_member((b), (first), (key), sizeof(key) - 1, (s))

/* The decimal digits of v, as tf_json_uint/tf_json_int write them. */
static void put_u64(tf_buf *b, uint64_t v)
{
	char d[20];
	size_t n = sizeof d;

	do {
		d[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v && n);
	tf_buf_append(b, d + n, sizeof d - n);
}

/*
 * Appends the canonical bytes of a checked ev to b; `detail` holds the
 * canonical bytes of ev->detail (event_check wrote them).  Failures stick
 * in b->failed.
 */
static void event_bytes(const tf_audit_event *ev, const tf_buf *detail,
			tf_buf *b)
{
	int first = 1;

	LIT(b, "{\"actor\":{");
	PUT_MEMBER(b, &first, "agency", ev->agency);
	PUT_MEMBER(b, &first, "device", ev->device);
	PUT_MEMBER(b, &first, "role", ev->role);
	PUT_MEMBER(b, &first, "user", ev->user);
	tf_buf_putc(b, '}');
	if (ev->detail) {
		LIT(b, ",\"detail\":");
		tf_buf_append(b, detail->data, detail->len);
	}
	if (ev->success)
		LIT(b, ",\"outcome\":\"success\"");
	else
		LIT(b, ",\"outcome\":\"failure\"");
	LIT(b, ",\"prev\":\"");
	tf_buf_append(b, ev->prev, TF_AUDIT_PREV_LEN);
	LIT(b, "\",\"seq\":");
	put_u64(b, ev->seq);
	first = 0;
	PUT_MEMBER(b, &first, "source", ev->source);
	LIT(b, ",\"ts\":");
	put_u64(b, (uint64_t)ev->ts_ms);
	PUT_MEMBER(b, &first, "type", tf_audit_type_name(ev->type));
	if (ev->entity || ev->record_id || ev->cmd_id || ev->field ||
	    ev->target) {
		int wfirst = 1;

		LIT(b, ",\"what\":{");
		PUT_MEMBER(b, &wfirst, "cmd_id", ev->cmd_id);
		PUT_MEMBER(b, &wfirst, "entity", ev->entity);
		PUT_MEMBER(b, &wfirst, "field", ev->field);
		PUT_MEMBER(b, &wfirst, "record_id", ev->record_id);
		PUT_MEMBER(b, &wfirst, "target", ev->target);
		tf_buf_putc(b, '}');
	}
	PUT_MEMBER(b, &first, "where", ev->where);
	tf_buf_putc(b, '}');
}

int tf_audit_write(const tf_audit_event *ev, tf_buf *out, tf_err *err)
{
	tf_buf detail;
	size_t mark, len = 0;
	int rc;

	assert(ev != NULL && out != NULL);
	mark = out->len;
	tf_buf_init(&detail);
	rc = event_check(ev, &detail, err);
	if (rc)
		goto out;
	/* A buffer that has already failed is reported, not cleared. */
	rc = out->failed;
	if (rc == 0) {
		event_bytes(ev, &detail, out);
		rc = out->failed;
		len = out->len - mark;
		if (rc == 0 && len > TF_AUDIT_ENTRY_MAX)
			rc = TF_ELIMIT;
		if (rc) {
			/* Leaves out as it was: its bytes and its flag. */
			out->failed = 0;
			out->len = mark;
			if (out->data)
				out->data[mark] = '\0';
		}
	}
	if (rc)
		tf_err_set(err, rc, "entry",
			   "entry: %s (%zu bytes, at most %d)", tf_strerror(rc),
			   len, TF_AUDIT_ENTRY_MAX);
out:
	tf_buf_free(&detail);
	return rc;
}

/* ------------------------------------------------------------ parsing */

static const tf_json_limits entry_limits = {
	TF_AUDIT_ENTRY_MAX,	   /* max_bytes */
	1 + TF_AUDIT_DETAIL_DEPTH, /* max_depth: the entry, then detail */
	TF_AUDIT_ENTRY_MAX,	   /* max_string */
	1024,			   /* max_items */
	256,			   /* max_members */
	32,			   /* max_number */
};

/* NULL-terminated member lists, in byte order. */
static const char *const top_members[] = {
	"actor", "detail", "outcome", "prev",  "seq", "source",
	"ts",	 "type",   "what",    "where", NULL,
};
static const char *const actor_members[] = {"agency", "device", "role",
					    "user", NULL};
static const char *const what_members[] = {
	"cmd_id", "entity", "field", "record_id", "target", NULL,
};

static int only_members(const tf_json *obj, const char *const *known,
			const char *ctx, tf_err *err)
{
	size_t i, k;
	char where[96];

	for (i = 0; i < obj->len; i++) {
		const char *key = obj->u.members[i].key;
		for (k = 0; known[k]; k++)
			if (strcmp(key, known[k]) == 0)
				break;
		if (known[k] == NULL) {
			if (ctx)
				snprintf(where, sizeof where, "%s.%.64s", ctx,
					 key);
			else
				snprintf(where, sizeof where, "%.64s", key);
			return tf_err_set(err, TF_EUNKNOWN, where,
					  "%s: unknown member", where);
		}
	}
	return 0;
}

/*
 * obj[key] as a string into *dst; absent leaves *dst NULL (the checks
 * that follow decide whether that is allowed).  TF_ETYPE otherwise.
 */
static int get_str(const tf_json *obj, const char *key, const char *where,
		   const char **dst, tf_err *err)
{
	const tf_json *v = obj ? tf_json_object_get(obj, key) : NULL;

	*dst = NULL;
	if (v == NULL)
		return 0;
	*dst = tf_json_str(v, NULL);
	if (*dst == NULL)
		return tf_err_set(err, TF_ETYPE, where, "%s: must be a string",
				  where);
	return 0;
}

/* obj[key] as an object (or NULL when absent). */
static int get_obj(const tf_json *obj, const char *key, const tf_json **dst,
		   tf_err *err)
{
	const tf_json *v = tf_json_object_get(obj, key);

	*dst = v;
	if (v != NULL && v->type != TF_JSON_OBJECT)
		return tf_err_set(err, TF_ETYPE, key, "%s: must be an object",
				  key);
	return 0;
}

static int get_num(const tf_json *obj, const char *key, int64_t *out,
		   tf_err *err)
{
	const tf_json *v = tf_json_object_get(obj, key);
	int rc;

	if (v == NULL)
		return tf_err_set(err, TF_EMISSING, key,
				  "%s: required member is missing", key);
	rc = tf_json_int64(v, out);
	if (rc == TF_ERANGE)
		return tf_err_set(err, TF_ERANGE, key,
				  "%s: out of the 64-bit range", key);
	if (rc)
		return tf_err_set(err, TF_ETYPE, key, "%s: must be an integer",
				  key);
	return 0;
}

/* Extracts the members of a parsed entry into ev (pointers into doc). */
static int event_from_tree(const tf_json *doc, tf_audit_event *ev, tf_err *err)
{
	const tf_json *actor, *what, *detail;
	const char *outcome, *type;
	int64_t seq = 0;
	int rc;

	memset(ev, 0, sizeof *ev);
	if (doc->type != TF_JSON_OBJECT)
		return tf_err_set(err, TF_ETYPE, "entry",
				  "entry: must be a JSON object");
	if ((rc = only_members(doc, top_members, NULL, err)) ||
	    (rc = get_obj(doc, "actor", &actor, err)) ||
	    (rc = get_obj(doc, "what", &what, err)) ||
	    (rc = get_obj(doc, "detail", &detail, err)))
		return rc;
	if (actor == NULL)
		return tf_err_set(err, TF_EMISSING, "actor",
				  "actor: required member is missing");
	if ((rc = only_members(actor, actor_members, "actor", err)) ||
	    (what && (rc = only_members(what, what_members, "what", err))))
		return rc;
	if ((rc = get_num(doc, "seq", &seq, err)) ||
	    (rc = get_num(doc, "ts", &ev->ts_ms, err)))
		return rc;
	if (seq <= 0)
		return tf_err_set(err, TF_ERANGE, "seq",
				  "seq: entries are numbered from 1");
	ev->seq = (uint64_t)seq;
	if ((rc = get_str(doc, "type", "type", &type, err)) ||
	    (rc = get_str(doc, "outcome", "outcome", &outcome, err)) ||
	    (rc = get_str(actor, "user", "actor.user", &ev->user, err)) ||
	    (rc = get_str(actor, "agency", "actor.agency", &ev->agency, err)) ||
	    (rc = get_str(actor, "device", "actor.device", &ev->device, err)) ||
	    (rc = get_str(actor, "role", "actor.role", &ev->role, err)) ||
	    (rc = get_str(doc, "source", "source", &ev->source, err)) ||
	    (rc = get_str(doc, "where", "where", &ev->where, err)) ||
	    (rc = get_str(what, "entity", "what.entity", &ev->entity, err)) ||
	    (rc = get_str(what, "record_id", "what.record_id", &ev->record_id,
			  err)) ||
	    (rc = get_str(what, "cmd_id", "what.cmd_id", &ev->cmd_id, err)) ||
	    (rc = get_str(what, "field", "what.field", &ev->field, err)) ||
	    (rc = get_str(what, "target", "what.target", &ev->target, err)) ||
	    (rc = get_str(doc, "prev", "prev", &ev->prev, err)))
		return rc;
	if (type == NULL)
		return tf_err_set(err, TF_EMISSING, "type",
				  "type: required member is missing");
	if (tf_audit_type_parse(type, strlen(type), &ev->type))
		return tf_err_set(err, TF_EVALIDATE, "type",
				  "type: \"%.40s\" is not an audit event type",
				  type);
	if (outcome == NULL)
		return tf_err_set(err, TF_EMISSING, "outcome",
				  "outcome: required member is missing");
	if (strcmp(outcome, "success") == 0)
		ev->success = 1;
	else if (strcmp(outcome, "failure") == 0)
		ev->success = 0;
	else
		return tf_err_set(err, TF_EVALIDATE, "outcome",
				  "outcome: must be \"success\" or "
				  "\"failure\"");
	if (what != NULL && what->len == 0)
		return tf_err_set(err, TF_EVALIDATE, "what",
				  "what: an empty object is written as no "
				  "member");
	ev->detail = detail;
	return 0;
}

int tf_audit_parse(const char *bytes, size_t len, tf_audit_event *ev,
		   tf_json **tree, tf_err *err)
{
	tf_json *doc = NULL;
	tf_audit_event e;
	tf_buf scratch;
	int rc;

	assert(ev != NULL && tree != NULL);
	*tree = NULL;
	tf_buf_init(&scratch);
	if (bytes == NULL) {
		rc = tf_err_set(err, TF_EINVAL, "entry", "entry: no bytes");
		goto out;
	}
	rc = tf_json_parse(bytes, len, &entry_limits, &doc, err);
	if (rc)
		goto out;
	rc = event_from_tree(doc, &e, err);
	if (rc)
		goto out;
	rc = event_check(&e, &scratch, err);
	if (rc)
		goto out;
	*ev = e;
	*tree = doc;
	doc = NULL;
out:
	tf_buf_free(&scratch);
	tf_json_free(doc);
	return rc;
}

/* ------------------------------------------------------- verification */

/* What verification keeps of each entry. */
struct vent {
	int ok; /* parsed, valid and canonical */
	tf_audit_type type;
	uint64_t seq;
	int64_t ts;
	uint8_t prev[TF_AUDIT_HASH_LEN];
};

struct verifier {
	const tf_audit_blob *b;
	struct vent *v;
	size_t n;
	tf_audit_report *rep;
};

/* Parses blob i into v[i]; on failure fills msg with why. */
static int load_entry(const tf_audit_blob *b, struct vent *v, tf_buf *scratch,
		      char *msg, size_t msgsz)
{
	tf_audit_event ev;
	tf_json *tree = NULL;
	tf_err err;
	int rc;

	tf_err_clear(&err);
	v->ok = 0;
	rc = tf_audit_parse(b->bytes, b->len, &ev, &tree, &err);
	if (rc) {
		snprintf(msg, msgsz, "%s", err.msg);
		return rc;
	}
	tf_buf_reset(scratch);
	rc = tf_json_write(tree, scratch);
	if (rc == 0 && (scratch->len != b->len ||
			memcmp(scratch->data, b->bytes, b->len) != 0)) {
		snprintf(msg, msgsz, "the bytes are not in canonical form");
		rc = TF_EVALIDATE;
	} else if (rc) {
		snprintf(msg, msgsz, "%s", tf_strerror(rc));
	}
	if (rc == 0) {
		v->ok = 1;
		v->type = ev.type;
		v->seq = ev.seq;
		v->ts = ev.ts_ms;
		rc = tf_hex_decode(ev.prev, TF_AUDIT_PREV_LEN, v->prev,
				   TF_AUDIT_HASH_LEN);
		assert(rc == 0); /* prev_ok() held */
	}
	tf_json_free(tree);
	return rc;
}

static int fault(struct verifier *vf, tf_audit_fault f, size_t index,
		 const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	__attribute__((format(printf, 4, 5)))
#endif
	;

static int fault(struct verifier *vf, tf_audit_fault f, size_t index,
		 const char *fmt, ...)
{
	va_list ap;

	vf->rep->fault = f;
	vf->rep->index = index;
	vf->rep->seq = index < vf->n && vf->v[index].ok ? vf->v[index].seq : 0;
	vf->rep->verified = index;
	va_start(ap, fmt);
	vsnprintf(vf->rep->msg, sizeof vf->rep->msg, fmt, ap);
	va_end(ap);
	return TF_EVALIDATE;
}

/* Entry j's recorded prev is the hash of entry k. */
static int links(const struct verifier *vf, size_t j, size_t k)
{
	return vf->v[j].ok &&
	       memcmp(vf->v[j].prev, vf->b[k].hash, TF_AUDIT_HASH_LEN) == 0;
}

/* Some entry names entry k as its predecessor. */
static int linked_to(const struct verifier *vf, size_t k)
{
	size_t j;

	for (j = 0; j < vf->n; j++)
		if (j != k && links(vf, j, k))
			return 1;
	return 0;
}

/* The index of an entry that entry k links to, other than k-1 and k. */
static size_t links_elsewhere(const struct verifier *vf, size_t k)
{
	size_t j;

	for (j = 0; j < vf->n; j++)
		if (j + 1 != k && j != k && links(vf, k, j))
			return j;
	return vf->n;
}

/* Index of a parsed entry with lo <= seq < hi, other than `skip`; or n. */
static size_t find_seq(const struct verifier *vf, uint64_t lo, uint64_t hi,
		       size_t skip)
{
	size_t j;

	for (j = 0; j < vf->n; j++)
		if (j != skip && vf->v[j].ok && vf->v[j].seq >= lo &&
		    vf->v[j].seq < hi)
			return j;
	return vf->n;
}

/*
 * Entry k (k >= 1) does not follow entry k-1: wrong seq, or its prev is
 * not the hash of k-1.  Names the most likely cause; the rules are tried
 * in an order that separates the cases the tests pin down (an altered,
 * removed, reordered or inserted entry).
 */
static int classify(struct verifier *vf, size_t k)
{
	const struct vent *v = vf->v;
	uint64_t exp = v[k - 1].seq + 1, s = v[k].seq;
	size_t j;

	if (links(vf, k, k - 1))
		return fault(vf, TF_AUDIT_ALTERED, k,
			     "entry %zu has seq %" PRIu64 " where %" PRIu64
			     " was due, yet links to entry %zu: its seq was "
			     "altered",
			     k, s, exp, k - 1);
	/* k-1 is extra: k links to k-2 and nothing names k-1. */
	if (k >= 2 && links(vf, k, k - 2) && s == v[k - 2].seq + 1 &&
	    !linked_to(vf, k - 1))
		return fault(vf, TF_AUDIT_INSERTED, k - 1,
			     "entry %zu (seq %" PRIu64 ") was inserted: "
			     "entry %zu links past it to entry %zu",
			     k - 1, v[k - 1].seq, k, k - 2);
	/*
	 * k is extra: the chain goes on from k-1 to k+1, nothing names k,
	 * and k does not name an entry further on (a displaced genuine
	 * entry would).
	 */
	if (k + 1 < vf->n && links(vf, k + 1, k - 1) && v[k + 1].seq == exp &&
	    !linked_to(vf, k)) {
		j = links_elsewhere(vf, k);
		if (j == vf->n || j < k)
			return fault(vf, TF_AUDIT_INSERTED, k,
				     "entry %zu (seq %" PRIu64 ") was "
				     "inserted: the chain runs from entry "
				     "%zu to entry %zu without it",
				     k, s, k - 1, k + 1);
	}
	j = links_elsewhere(vf, k);
	if (j < vf->n)
		return fault(vf, TF_AUDIT_REORDERED, k,
			     "entry %zu (seq %" PRIu64 ") belongs after entry "
			     "%zu (seq %" PRIu64 "), not after entry %zu: "
			     "entries were reordered",
			     k, s, j, v[j].seq, k - 1);
	if (s > exp) {
		j = find_seq(vf, exp, s, k);
		if (j == vf->n && s - 1 == exp)
			return fault(vf, TF_AUDIT_REMOVED, k,
				     "the entry with seq %" PRIu64
				     " was removed before entry %zu",
				     exp, k);
		if (j == vf->n)
			return fault(vf, TF_AUDIT_REMOVED, k,
				     "entries with seq %" PRIu64 "..%" PRIu64
				     " were removed before entry %zu",
				     exp, s - 1, k);
		return fault(vf, TF_AUDIT_REORDERED, k,
			     "entry %zu has seq %" PRIu64 " where %" PRIu64
			     " was due; seq %" PRIu64 " is at entry %zu: "
			     "entries were reordered",
			     k, s, exp, v[j].seq, j);
	}
	if (s == exp) {
		/*
		 * One broken link.  If entry k's own hash is not what k+1
		 * recorded either, k itself (its prev) was changed;
		 * otherwise entry k-1's bytes were.
		 */
		if (k + 1 < vf->n && v[k + 1].ok && !links(vf, k + 1, k))
			return fault(vf, TF_AUDIT_ALTERED, k,
				     "entry %zu (seq %" PRIu64 ") was altered: "
				     "its prev is not the hash of entry %zu "
				     "and its hash is not what entry %zu "
				     "recorded",
				     k, s, k - 1, k + 1);
		return fault(vf, TF_AUDIT_ALTERED, k - 1,
			     "entry %zu (seq %" PRIu64 ") was altered: its "
			     "hash is not the prev recorded by entry %zu",
			     k - 1, v[k - 1].seq, k);
	}
	j = find_seq(vf, s, s + 1, k);
	if (j < k)
		return fault(vf, TF_AUDIT_INSERTED, k,
			     "entry %zu repeats seq %" PRIu64 " of entry %zu "
			     "and does not link to entry %zu: it was inserted",
			     k, s, j, k - 1);
	return fault(vf, TF_AUDIT_REORDERED, k,
		     "entry %zu has seq %" PRIu64 " after seq %" PRIu64
		     ": entries were reordered",
		     k, s, v[k - 1].seq);
}

static int check_first(struct verifier *vf, const tf_audit_anchor *a)
{
	const struct vent *v = &vf->v[0];

	if (a == NULL || !a->has_first)
		return 0;
	if (v->seq > a->first_seq)
		return fault(vf, TF_AUDIT_REMOVED, 0,
			     "entries with seq %" PRIu64 "..%" PRIu64
			     " were removed from the start",
			     a->first_seq, v->seq - 1);
	if (v->seq < a->first_seq)
		return fault(vf, TF_AUDIT_ANCHOR, 0,
			     "entry 0 has seq %" PRIu64 ", the anchor says "
			     "the log starts at seq %" PRIu64,
			     v->seq, a->first_seq);
	if (memcmp(v->prev, a->first_prev, TF_AUDIT_HASH_LEN) != 0)
		return fault(vf, TF_AUDIT_ANCHOR, 0,
			     "entry 0 (seq %" PRIu64 ") does not link to the "
			     "anchor's hash: it was altered or the log "
			     "replaced",
			     v->seq);
	return 0;
}

static int check_checkpoint(struct verifier *vf, const tf_audit_anchor *a)
{
	uint64_t first, last, off;

	if (a == NULL || !a->has_checkpoint)
		return 0;
	if (vf->n == 0)
		return fault(vf, TF_AUDIT_REMOVED, 0,
			     "the log is empty but the checkpoint names seq "
			     "%" PRIu64,
			     a->checkpoint_seq);
	first = vf->v[0].seq;
	last = vf->v[vf->n - 1].seq;
	if (a->checkpoint_seq > last)
		return fault(vf, TF_AUDIT_REMOVED, vf->n,
			     "entries up to seq %" PRIu64 " (the checkpoint) "
			     "were removed from the end; the log ends at seq "
			     "%" PRIu64,
			     a->checkpoint_seq, last);
	if (a->checkpoint_seq < first)
		return fault(vf, TF_AUDIT_ANCHOR, 0,
			     "the checkpoint seq %" PRIu64 " precedes the "
			     "first entry given (seq %" PRIu64 ")",
			     a->checkpoint_seq, first);
	/* The chain verified, so seqs are contiguous from `first`. */
	off = a->checkpoint_seq - first;
	if (memcmp(vf->b[off].hash, a->checkpoint_hash, TF_AUDIT_HASH_LEN) != 0)
		return fault(vf, TF_AUDIT_ALTERED, (size_t)off,
			     "entry %zu (seq %" PRIu64 ") differs from the "
			     "checkpoint: it or an entry before it was "
			     "altered",
			     (size_t)off, a->checkpoint_seq);
	return 0;
}

int tf_audit_verify(const tf_audit_blob *blobs, size_t n,
		    const tf_audit_anchor *anchor, tf_audit_report *rep)
{
	struct verifier vf;
	tf_buf scratch;
	char why[256];
	size_t i, bad = n;
	int rc = 0;

	assert(rep != NULL);
	memset(rep, 0, sizeof *rep);
	rep->index = n;
	if (n > TF_AUDIT_VERIFY_MAX)
		return TF_ELIMIT;
	if (n > 0 && blobs == NULL)
		return TF_EINVAL;
	for (i = 0; i < n; i++)
		if (blobs[i].bytes == NULL)
			return TF_EINVAL;
	vf.b = blobs;
	vf.n = n;
	vf.rep = rep;
	vf.v = n ? calloc(n, sizeof *vf.v) : NULL;
	if (n && vf.v == NULL)
		return TF_ENOMEM;
	tf_buf_init(&scratch);
	why[0] = '\0';
	for (i = 0; i < n; i++) {
		char msg[256];
		rc = load_entry(&blobs[i], &vf.v[i], &scratch, msg, sizeof msg);
		if (rc == TF_ENOMEM)
			goto out;
		if (rc && bad == n) {
			bad = i;
			snprintf(why, sizeof why, "%s", msg);
		}
	}
	rc = 0;
	for (i = 0; i < bad; i++) {
		const struct vent *v = vf.v;
		if (i == 0) {
			rc = check_first(&vf, anchor);
		} else if (v[i].seq != v[i - 1].seq + 1 ||
			   !links(&vf, i, i - 1)) {
			rc = classify(&vf, i);
		} else if (v[i].ts < v[i - 1].ts &&
			   v[i].type != TF_AUDIT_CLOCK_REBASE &&
			   v[i].type != TF_AUDIT_CLOCK_ROLLBACK) {
			rc = fault(&vf, TF_AUDIT_TIME, i,
				   "entry %zu (seq %" PRIu64 ") is %" PRId64
				   " ms earlier than entry %zu and is not a "
				   "clock_rebase or clock_rollback entry",
				   i, v[i].seq, v[i - 1].ts - v[i].ts, i - 1);
		}
		if (rc)
			goto out;
	}
	if (bad < n) {
		rc = fault(&vf, TF_AUDIT_MALFORMED, bad, "entry %zu: %s", bad,
			   why);
		goto out;
	}
	rc = check_checkpoint(&vf, anchor);
	if (rc)
		goto out;
	rep->fault = TF_AUDIT_OK;
	rep->index = n;
	rep->verified = n;
	rep->seq = n ? vf.v[n - 1].seq : 0;
	snprintf(rep->msg, sizeof rep->msg, "%zu entries verified", n);
out:
	tf_buf_free(&scratch);
	free(vf.v);
	return rc;
}

/*
 * protocol.c - the three sync messages (push request, push reply, pull
 * page): canonical encoders and strict decoders.  Wire forms and limits:
 * docs/PROTOCOL.md, section "Messages".
 *
 * Decoders parse the whole document, then check protocol_version and
 * schema_version before anything else (TF_EVERSION: nothing in the message
 * is used), then every member: unknown members are refused, types and
 * limits are checked, commands go through tf_command_from_json (and
 * tf_command_validate when a schema is given), record states through
 * tf_record_check.  Errors name the place: err->where is a path such as
 * "commands[3].seq" or "records[12].f.priority".  On any error the output
 * struct is cleared.
 *
 * Encoders write canonical JSON directly (members in key order), so that a
 * page of thousands of records is never copied into a second tree.  On
 * error the output buffer is restored to its length before the call.
 */
#include "tenfour/protocol.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const tf_proto_limits tf_proto_default_limits = {
	{(size_t)16 * 1024 * 1024, 32, (size_t)1024 * 1024, 100000, 4096, 64},
	1000,
	5000,
	5000,
	256,
};

/* The messages' names, for error texts. */
#define MSG_PUSH "push request"
#define MSG_REPLY "push reply"
#define MSG_PULL "pull page"

/* ------------------------------------------------------------ errors */

/*
 * Sets err to `code` at `where` with a message "<msg>: <where>: <text>".
 * Returns code.
 */
static int perr(tf_err *err, int code, const char *msg, const char *where,
		const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	__attribute__((format(printf, 5, 6)))
#endif
	;

static int perr(tf_err *err, int code, const char *msg, const char *where,
		const char *fmt, ...)
{
	char text[200];
	va_list ap;

	if (err == NULL)
		return code;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (where && where[0])
		return tf_err_set(err, code, where, "%s: %s: %s", msg, where,
				  text);
	return tf_err_set(err, code, where, "%s: %s", msg, text);
}

/* Concatenates up to three strings into dst (n bytes), truncating. */
static void join3(char *dst, size_t n, const char *a, const char *b,
		  const char *c)
{
	const char *parts[3] = {a, b, c};
	size_t used = 0, i, k;

	assert(n > 0);
	for (i = 0; i < 3; i++) {
		k = strlen(parts[i]);
		if (k > n - 1 - used)
			k = n - 1 - used;
		memcpy(dst + used, parts[i], k);
		used += k;
	}
	dst[used] = '\0';
}

/*
 * Rewrites an error that a nested reader (command, record, schema) set
 * about an element so that it names the element's place in the message:
 * where "seq" becomes "commands[3].seq"; the message gets the same prefix.
 * A nested `where` that starts with the element's id (record checks name
 * the record) keeps only what follows the id.
 */
static int nest_err(tf_err *err, int rc, const char *msg, const char *list,
		    size_t idx, const char *id)
{
	char prefix[48], where[96], text[256], head[96];
	const char *inner;
	size_t idlen = id ? strlen(id) : 0;

	if (err == NULL)
		return rc;
	if (err->code == 0)
		err->code = rc;
	snprintf(prefix, sizeof prefix, "%s[%zu]", list, idx);
	inner = err->where;
	if (idlen && strncmp(inner, id, idlen) == 0)
		inner += idlen;
	while (*inner == '.')
		inner++;
	join3(where, sizeof where, prefix,
	      inner[0] == '\0' || inner[0] == '[' ? "" : ".", inner);
	join3(head, sizeof head, msg, ": ", prefix);
	join3(text, sizeof text, head, ": ",
	      err->msg[0] ? err->msg : tf_strerror(rc));
	memcpy(err->where, where, sizeof err->where);
	memcpy(err->msg, text, sizeof err->msg);
	return err->code;
}

/* ------------------------------------------------------------ readers */

/* Path of member `key` under `prefix` ("" for the top level). */
static void member_path(char *out, size_t n, const char *prefix,
			const char *key)
{
	if (prefix[0])
		snprintf(out, n, "%s.%s", prefix, key);
	else
		snprintf(out, n, "%s", key);
}

/*
 * Every member of o must be one of `keys` (a NULL-terminated list) and
 * every key marked required (a leading '!') must be present.
 */
static int check_members(const tf_json *o, const char *const *keys,
			 const char *msg, const char *prefix, tf_err *err)
{
	char where[96];
	size_t i, k;

	for (i = 0; i < o->len; i++) {
		const char *key = o->u.members[i].key;
		int known = 0;
		for (k = 0; keys[k]; k++) {
			const char *want = keys[k] + (keys[k][0] == '!');
			if (strcmp(key, want) == 0) {
				known = 1;
				break;
			}
		}
		if (!known) {
			member_path(where, sizeof where, prefix, key);
			return perr(err, TF_EUNKNOWN, msg, where,
				    "unknown member");
		}
	}
	for (k = 0; keys[k]; k++) {
		if (keys[k][0] != '!')
			continue;
		if (tf_json_object_get(o, keys[k] + 1) == NULL) {
			member_path(where, sizeof where, prefix, keys[k] + 1);
			return perr(err, TF_EMISSING, msg, where,
				    "required member missing");
		}
	}
	return 0;
}

static int get_u64(const tf_json *o, const char *key, uint64_t min,
		   const char *msg, const char *prefix, uint64_t *out,
		   tf_err *err)
{
	const tf_json *v = tf_json_object_get(o, key);
	char where[96];

	member_path(where, sizeof where, prefix, key);
	if (v == NULL || v->type != TF_JSON_NUMBER)
		return perr(err, TF_ETYPE, msg, where,
			    "must be a non-negative integer");
	if (tf_json_uint64(v, out) != 0)
		return perr(err, TF_ERANGE, msg, where,
			    "must be an integer in 0..2^64-1");
	if (*out < min)
		return perr(err, TF_ERANGE, msg, where,
			    "must be at least %" PRIu64, min);
	return 0;
}

/* A time in ms: an integer in [min, 2^48). */
static int get_ms(const tf_json *o, const char *key, int64_t min,
		  const char *msg, const char *prefix, int64_t *out,
		  tf_err *err)
{
	const tf_json *v = tf_json_object_get(o, key);
	char where[96];

	member_path(where, sizeof where, prefix, key);
	if (v == NULL || v->type != TF_JSON_NUMBER)
		return perr(err, TF_ETYPE, msg, where,
			    "must be an integer (ms)");
	if (tf_json_int64(v, out) != 0 || *out < min || *out > TF_HLC_MAX_MS)
		return perr(err, TF_ERANGE, msg, where,
			    "must be an integer in %" PRId64 "..2^48-1", min);
	return 0;
}

static int get_bool(const tf_json *o, const char *key, const char *msg,
		    int *out, tf_err *err)
{
	const tf_json *v = tf_json_object_get(o, key);

	if (v == NULL || (v->type != TF_JSON_TRUE && v->type != TF_JSON_FALSE))
		return perr(err, TF_ETYPE, msg, key, "must be true or false");
	*out = v->type == TF_JSON_TRUE;
	return 0;
}

/*
 * A string member of at most max bytes; *s borrowed from o.  On failure
 * *s is "" and *len 0, so no caller path reads an indeterminate value.
 */
static int get_str(const tf_json *o, const char *key, size_t max,
		   const char *msg, const char *prefix, const char **s,
		   size_t *len, tf_err *err)
{
	const tf_json *v = tf_json_object_get(o, key);
	char where[96];

	*s = "";
	*len = 0;
	member_path(where, sizeof where, prefix, key);
	if (v == NULL || v->type != TF_JSON_STRING)
		return perr(err, TF_ETYPE, msg, where, "must be a string");
	if (v->len > max)
		return perr(err, TF_ELIMIT, msg, where,
			    "%zu bytes, at most %zu allowed", v->len, max);
	*s = v->u.str;
	*len = v->len;
	return 0;
}

/*
 * Parses a message and checks its versions, before any other member is
 * looked at.  want_schema < 0 skips the schema_version comparison (the
 * caller compares); *schema_out receives it either way.
 */
static int parse_message(const char *buf, size_t len,
			 const tf_proto_limits *lim, const char *msg,
			 int64_t want_schema, tf_json **root,
			 int64_t *schema_out, tf_err *err)
{
	const tf_json *pv, *sv;
	int64_t v;
	int rc;

	*root = NULL;
	if (buf == NULL && len > 0)
		return perr(err, TF_EINVAL, msg, NULL, "no buffer");
	rc = tf_json_parse(buf ? buf : "", len, &lim->json, root, err);
	if (rc)
		return rc;
	if ((*root)->type != TF_JSON_OBJECT)
		return perr(err, TF_ETYPE, msg, NULL, "must be a JSON object");
	pv = tf_json_object_get(*root, "protocol_version");
	if (pv == NULL)
		return perr(err, TF_EVERSION, msg, "protocol_version",
			    "missing; this end speaks version %d",
			    TF_PROTOCOL_VERSION);
	if (tf_json_int64(pv, &v) != 0 || v != TF_PROTOCOL_VERSION)
		return perr(err, TF_EVERSION, msg, "protocol_version",
			    "unsupported; this end speaks version %d",
			    TF_PROTOCOL_VERSION);
	sv = tf_json_object_get(*root, "schema_version");
	if (sv == NULL)
		return perr(err, TF_EVERSION, msg, "schema_version", "missing");
	if (tf_json_int64(sv, &v) != 0 || v < 0)
		return perr(err, TF_EVERSION, msg, "schema_version",
			    "must be a non-negative integer");
	if (want_schema >= 0 && v != want_schema)
		return perr(err, TF_EVERSION, msg, "schema_version",
			    "%" PRId64
			    " differs from the loaded schema's %" PRId64,
			    v, want_schema);
	*schema_out = v;
	return 0;
}

/* ------------------------------------------------------------ writers */

/* Remembers where an encoder starts so that a failure can undo it. */
static int enc_begin(tf_buf *out, size_t *mark)
{
	assert(out != NULL);
	if (out->failed)
		return out->failed;
	*mark = out->len;
	return 0;
}

static int enc_end(tf_buf *out, size_t mark, int rc)
{
	if (rc == 0 && out->failed)
		rc = out->failed;
	if (rc) {
		out->len = mark;
		out->failed = 0;
		if (out->data)
			out->data[mark] = '\0';
	}
	return rc;
}

static void put_u64(tf_buf *out, uint64_t v)
{
	tf_buf_printf(out, "%" PRIu64, v);
}

static void put_i64(tf_buf *out, int64_t v)
{
	tf_buf_printf(out, "%" PRId64, v);
}

/* ------------------------------------------------------------ push request */

void tf_push_request_clear(tf_push_request *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->ncommands; i++)
		tf_command_clear(&m->commands[i]);
	free(m->commands);
	memset(m, 0, sizeof *m);
}

int tf_push_request_encode(const tf_push_request *m, tf_buf *out)
{
	tf_json *cj = NULL;
	size_t mark, i;
	int rc;

	assert(m != NULL);
	rc = enc_begin(out, &mark);
	if (rc)
		return rc;
	if (!tf_id_valid(m->device, strlen(m->device)) ||
	    (m->ncommands && m->commands == NULL)) {
		rc = TF_EINVAL;
		goto out;
	}
	tf_buf_puts(out, "{\"commands\":[");
	for (i = 0; i < m->ncommands; i++) {
		if (strcmp(m->commands[i].device, m->device) != 0) {
			rc = TF_EINVAL;
			goto out;
		}
		rc = tf_command_to_json(&m->commands[i], &cj);
		if (rc)
			goto out;
		if (i)
			tf_buf_putc(out, ',');
		tf_json_write(cj, out);
		tf_json_free(cj);
		cj = NULL;
	}
	tf_buf_puts(out, "],\"device_id\":");
	tf_json_write_string(out, m->device, strlen(m->device));
	tf_buf_printf(out, ",\"protocol_version\":%d,\"schema_version\":",
		      TF_PROTOCOL_VERSION);
	put_i64(out, m->schema_version);
	tf_buf_putc(out, '}');
out:
	tf_json_free(cj);
	return enc_end(out, mark, rc);
}

int tf_push_request_decode(const char *buf, size_t len, const tf_schema *schema,
			   const tf_proto_limits *lim, tf_push_request *out,
			   tf_err *err)
{
	static const char *const keys[] = {"!commands", "!device_id",
					   "!protocol_version",
					   "!schema_version", NULL};
	tf_json *root = NULL;
	const tf_json *cmds;
	const char *dev;
	size_t devlen, i;
	tf_err e;
	int rc;

	assert(out != NULL);
	memset(out, 0, sizeof *out);
	tf_err_clear(&e);
	if (lim == NULL)
		lim = &tf_proto_default_limits;
	rc = parse_message(buf, len, lim, MSG_PUSH,
			   schema ? schema->version : -1, &root,
			   &out->schema_version, &e);
	if (rc)
		goto out;
	rc = check_members(root, keys, MSG_PUSH, "", &e);
	if (rc)
		goto out;
	rc = get_str(root, "device_id", TF_ID_MAX, MSG_PUSH, "", &dev, &devlen,
		     &e);
	if (rc)
		goto out;
	if (!tf_id_valid(dev, devlen)) {
		rc = perr(&e, TF_EINVAL, MSG_PUSH, "device_id",
			  "not a device id ([A-Za-z0-9._@-]{1,64})");
		goto out;
	}
	memcpy(out->device, dev, devlen + 1);
	cmds = tf_json_object_get(root, "commands");
	if (cmds->type != TF_JSON_ARRAY) {
		rc = perr(&e, TF_ETYPE, MSG_PUSH, "commands",
			  "must be an array");
		goto out;
	}
	if (cmds->len > lim->max_commands) {
		rc = perr(&e, TF_ELIMIT, MSG_PUSH, "commands",
			  "%zu commands, at most %zu per push", cmds->len,
			  lim->max_commands);
		goto out;
	}
	if (cmds->len) {
		out->commands = calloc(cmds->len, sizeof *out->commands);
		if (out->commands == NULL) {
			rc = perr(&e, TF_ENOMEM, MSG_PUSH, "commands",
				  "out of memory");
			goto out;
		}
	}
	for (i = 0; i < cmds->len; i++) {
		tf_command *c = &out->commands[i];
		rc = tf_command_from_json(cmds->u.items[i], c, &e);
		if (rc) {
			tf_command_clear(c);
			rc = nest_err(&e, rc, MSG_PUSH, "commands", i, NULL);
			goto out;
		}
		out->ncommands = i + 1;
		if (strcmp(c->device, out->device) != 0) {
			char where[48];
			snprintf(where, sizeof where, "commands[%zu].device",
				 i);
			rc = perr(&e, TF_EINVAL, MSG_PUSH, where,
				  "\"%s\" is not the pushing device \"%s\"",
				  c->device, out->device);
			goto out;
		}
		if (schema) {
			rc = tf_command_validate(schema, c, 1, &e);
			if (rc) {
				rc = nest_err(&e, rc, MSG_PUSH, "commands", i,
					      NULL);
				goto out;
			}
		}
	}
out:
	tf_json_free(root);
	if (rc) {
		tf_push_request_clear(out);
		if (err)
			*err = e;
	}
	return rc;
}

/* ------------------------------------------------------------ push reply */

void tf_push_reply_clear(tf_push_reply *m)
{
	size_t i;

	if (m == NULL)
		return;
	assert(m->results != NULL || m->nresults == 0);
	for (i = 0; i < m->nresults; i++)
		tf_json_free(m->results[i].detail);
	free(m->results);
	memset(m, 0, sizeof *m);
}

/*
 * The rules one result obeys in both directions: a rejection carries its
 * reason code, a clock_skew carries the server's time, and only those two
 * carry a code.  Returns a message or NULL when r is consistent.
 */
static const char *result_rule(const tf_cmd_result *r)
{
	switch (r->status) {
	case TF_ST_APPLIED:
	case TF_ST_DUPLICATE:
	case TF_ST_CONFLICT:
		if (r->code != 0)
			return "only rejected and clock_skew results carry a "
			       "code";
		return NULL;
	case TF_ST_REJECTED:
		if (r->code == 0)
			return "a rejected result needs a code";
		return NULL;
	case TF_ST_CLOCK_SKEW:
		if (r->server_time <= 0)
			return "a clock_skew result needs server_time";
		return NULL;
	}
	return "unknown status";
}

int tf_push_reply_encode(const tf_push_reply *m, tf_buf *out)
{
	size_t mark, i;
	int rc;

	assert(m != NULL);
	rc = enc_begin(out, &mark);
	if (rc)
		return rc;
	/* The decoder's ranges: what tenfourd sends, every client reads. */
	if ((m->nresults && m->results == NULL) || m->server_time < 0 ||
	    m->server_time > TF_HLC_MAX_MS || m->ack > TF_SEQ_MAX) {
		rc = TF_EINVAL;
		goto out;
	}
	tf_buf_puts(out, "{\"ack\":");
	put_u64(out, m->ack);
	tf_buf_printf(out, ",\"protocol_version\":%d,\"results\":[",
		      TF_PROTOCOL_VERSION);
	for (i = 0; i < m->nresults; i++) {
		const tf_cmd_result *r = &m->results[i];
		if (!tf_uuid_valid(r->cmd_id, strlen(r->cmd_id)) ||
		    r->seq == 0 || result_rule(r) != NULL ||
		    r->server_time < 0 || r->server_time > TF_HLC_MAX_MS ||
		    !tf_utf8_valid(r->message, strlen(r->message)) ||
		    !tf_utf8_valid(r->field, strlen(r->field)) ||
		    (r->detail && r->detail->type != TF_JSON_OBJECT)) {
			rc = TF_EINVAL;
			goto out;
		}
		tf_buf_puts(out, i ? ",{\"cmd_id\":" : "{\"cmd_id\":");
		tf_json_write_string(out, r->cmd_id, strlen(r->cmd_id));
		if (r->code) {
			tf_buf_puts(out, ",\"code\":");
			tf_json_write_string(out, tf_errcode(r->code),
					     strlen(tf_errcode(r->code)));
		}
		if (r->detail) {
			tf_buf_puts(out, ",\"detail\":");
			tf_json_write(r->detail, out);
		}
		if (r->field[0]) {
			tf_buf_puts(out, ",\"field\":");
			tf_json_write_string(out, r->field, strlen(r->field));
		}
		if (r->message[0]) {
			tf_buf_puts(out, ",\"message\":");
			tf_json_write_string(out, r->message,
					     strlen(r->message));
		}
		tf_buf_puts(out, ",\"seq\":");
		put_u64(out, r->seq);
		if (r->server_time) {
			tf_buf_puts(out, ",\"server_time\":");
			put_i64(out, r->server_time);
		}
		tf_buf_puts(out, ",\"status\":");
		tf_json_write_string(out, tf_status_name(r->status),
				     strlen(tf_status_name(r->status)));
		tf_buf_putc(out, '}');
	}
	tf_buf_puts(out, "],\"schema_version\":");
	put_i64(out, m->schema_version);
	tf_buf_puts(out, ",\"server_time\":");
	put_i64(out, m->server_time);
	tf_buf_putc(out, '}');
out:
	return enc_end(out, mark, rc);
}

/* Reads results[idx] (object o) into r; takes its detail out of o. */
static int read_result(tf_json *o, size_t idx, tf_cmd_result *r, tf_err *err)
{
	static const char *const keys[] = {"!cmd_id",	  "code",    "detail",
					   "field",	  "message", "!seq",
					   "server_time", "!status", NULL};
	char prefix[40], where[96];
	const char *s, *rule;
	const tf_json *v;
	size_t len;
	int rc, st;

	snprintf(prefix, sizeof prefix, "results[%zu]", idx);
	if (o->type != TF_JSON_OBJECT)
		return perr(err, TF_ETYPE, MSG_REPLY, prefix,
			    "must be an object");
	rc = check_members(o, keys, MSG_REPLY, prefix, err);
	if (rc)
		return rc;
	rc = get_str(o, "cmd_id", TF_UUID_LEN, MSG_REPLY, prefix, &s, &len,
		     err);
	if (rc)
		return rc;
	if (!tf_uuid_valid(s, len)) {
		member_path(where, sizeof where, prefix, "cmd_id");
		return perr(err, TF_EINVAL, MSG_REPLY, where,
			    "not a lower-case UUID");
	}
	memcpy(r->cmd_id, s, len + 1);
	rc = get_u64(o, "seq", 1, MSG_REPLY, prefix, &r->seq, err);
	if (rc)
		return rc;
	rc = get_str(o, "status", 32, MSG_REPLY, prefix, &s, &len, err);
	if (rc)
		return rc;
	if (tf_status_parse(s, &r->status) != 0) {
		member_path(where, sizeof where, prefix, "status");
		return perr(err, TF_EINVAL, MSG_REPLY, where,
			    "unknown status \"%s\"", s);
	}
	if (tf_json_object_get(o, "code")) {
		rc = get_str(o, "code", 64, MSG_REPLY, prefix, &s, &len, err);
		if (rc)
			return rc;
		st = tf_errno_from_code(s);
		if (st == TF_OK || (st == TF_EINVAL &&
				    strcmp(s, tf_errcode(TF_EINVAL)) != 0)) {
			member_path(where, sizeof where, prefix, "code");
			return perr(err, TF_EINVAL, MSG_REPLY, where,
				    "unknown code \"%s\"", s);
		}
		r->code = st;
	}
	if (tf_json_object_get(o, "message")) {
		rc = get_str(o, "message", sizeof r->message - 1, MSG_REPLY,
			     prefix, &s, &len, err);
		if (rc)
			return rc;
		memcpy(r->message, s, len + 1);
	}
	if (tf_json_object_get(o, "field")) {
		rc = get_str(o, "field", sizeof r->field - 1, MSG_REPLY, prefix,
			     &s, &len, err);
		if (rc)
			return rc;
		memcpy(r->field, s, len + 1);
	}
	if (tf_json_object_get(o, "server_time")) {
		rc = get_ms(o, "server_time", 0, MSG_REPLY, prefix,
			    &r->server_time, err);
		if (rc)
			return rc;
	}
	v = tf_json_object_get(o, "detail");
	if (v && v->type != TF_JSON_OBJECT) {
		member_path(where, sizeof where, prefix, "detail");
		return perr(err, TF_ETYPE, MSG_REPLY, where,
			    "must be an object");
	}
	rule = result_rule(r);
	if (rule)
		return perr(err, TF_EINVAL, MSG_REPLY, prefix, "%s", rule);
	if (v)
		r->detail = tf_json_object_take(o, "detail");
	return 0;
}

int tf_push_reply_decode(const char *buf, size_t len,
			 const tf_proto_limits *lim, tf_push_reply *out,
			 tf_err *err)
{
	static const char *const keys[] = {"!ack",	   "!protocol_version",
					   "!results",	   "!schema_version",
					   "!server_time", NULL};
	tf_json *root = NULL, *res;
	size_t i;
	tf_err e;
	int rc;

	assert(out != NULL);
	memset(out, 0, sizeof *out);
	tf_err_clear(&e);
	if (lim == NULL)
		lim = &tf_proto_default_limits;
	rc = parse_message(buf, len, lim, MSG_REPLY, -1, &root,
			   &out->schema_version, &e);
	if (rc)
		goto out;
	rc = check_members(root, keys, MSG_REPLY, "", &e);
	if (rc)
		goto out;
	rc = get_u64(root, "ack", 0, MSG_REPLY, "", &out->ack, &e);
	if (rc)
		goto out;
	rc = get_ms(root, "server_time", 0, MSG_REPLY, "", &out->server_time,
		    &e);
	if (rc)
		goto out;
	res = tf_json_object_get(root, "results");
	if (res->type != TF_JSON_ARRAY) {
		rc = perr(&e, TF_ETYPE, MSG_REPLY, "results",
			  "must be an array");
		goto out;
	}
	if (res->len > lim->max_commands) {
		rc = perr(&e, TF_ELIMIT, MSG_REPLY, "results",
			  "%zu results, at most %zu per push", res->len,
			  lim->max_commands);
		goto out;
	}
	if (res->len) {
		out->results = calloc(res->len, sizeof *out->results);
		if (out->results == NULL) {
			rc = perr(&e, TF_ENOMEM, MSG_REPLY, "results",
				  "out of memory");
			goto out;
		}
	}
	for (i = 0; i < res->len; i++) {
		out->nresults = i + 1;
		rc = read_result(res->u.items[i], i, &out->results[i], &e);
		if (rc)
			goto out;
	}
out:
	tf_json_free(root);
	if (rc) {
		tf_push_reply_clear(out);
		if (err)
			*err = e;
	}
	return rc;
}

/* ------------------------------------------------------------ pull page */

/* "remaining" stays within the integers every JSON reader keeps exact. */
#define PULL_REMAINING_MAX ((int64_t)9007199254740991) /* 2^53 - 1 */

void tf_pull_page_clear(tf_pull_page *m)
{
	size_t i;

	if (m == NULL)
		return;
	free(m->cursor);
	for (i = 0; i < m->nrecords; i++)
		tf_json_free(m->records[i]);
	free(m->records);
	for (i = 0; i < m->npurged; i++)
		free(m->purged[i]);
	free(m->purged);
	memset(m, 0, sizeof *m);
}

int tf_pull_page_encode(const tf_pull_page *m, tf_buf *out)
{
	const char *cursor;
	size_t mark, i;
	int rc;

	assert(m != NULL);
	rc = enc_begin(out, &mark);
	if (rc)
		return rc;
	cursor = m->cursor ? m->cursor : "";
	if (strlen(cursor) > tf_proto_default_limits.max_cursor ||
	    m->ack > TF_SEQ_MAX ||
	    m->nrecords > tf_proto_default_limits.max_records ||
	    m->npurged > tf_proto_default_limits.max_purged ||
	    (m->has_remaining &&
	     (m->remaining < 0 || m->remaining > PULL_REMAINING_MAX)) ||
	    !tf_utf8_valid(cursor, strlen(cursor)) ||
	    (m->nrecords && m->records == NULL) ||
	    (m->npurged && m->purged == NULL)) {
		rc = TF_EINVAL;
		goto out;
	}
	tf_buf_puts(out, "{\"ack\":");
	put_u64(out, m->ack);
	tf_buf_puts(out, ",\"cursor\":");
	tf_json_write_string(out, cursor, strlen(cursor));
	tf_buf_printf(out,
		      ",\"has_more\":%s,\"protocol_version\":%d,\"purged\":[",
		      m->has_more ? "true" : "false", TF_PROTOCOL_VERSION);
	for (i = 0; i < m->npurged; i++) {
		if (m->purged[i] == NULL ||
		    !tf_uuid_valid(m->purged[i], strlen(m->purged[i]))) {
			rc = TF_EINVAL;
			goto out;
		}
		if (i)
			tf_buf_putc(out, ',');
		tf_json_write_string(out, m->purged[i], TF_UUID_LEN);
	}
	tf_buf_puts(out, "],\"records\":[");
	for (i = 0; i < m->nrecords; i++) {
		if (m->records[i] == NULL ||
		    m->records[i]->type != TF_JSON_OBJECT) {
			rc = TF_EINVAL;
			goto out;
		}
		if (i)
			tf_buf_putc(out, ',');
		tf_json_write(m->records[i], out);
	}
	tf_buf_putc(out, ']');
	if (m->has_remaining) {
		tf_buf_puts(out, ",\"remaining\":");
		put_i64(out, m->remaining);
	}
	tf_buf_printf(out, ",\"reset\":%s,\"schema_version\":",
		      m->reset ? "true" : "false");
	put_i64(out, m->schema_version);
	tf_buf_putc(out, '}');
out:
	return enc_end(out, mark, rc);
}

/*
 * Checks records[idx]: against the schema when there is one, else only
 * that it is an object naming a valid record id and an entity.
 */
static int check_record(const tf_schema *schema, const tf_json *rec, size_t idx,
			tf_err *err)
{
	char where[40];
	const char *id;
	int rc;

	snprintf(where, sizeof where, "records[%zu]", idx);
	if (rec->type != TF_JSON_OBJECT)
		return perr(err, TF_ETYPE, MSG_PULL, where,
			    "must be an object");
	id = tf_record_id(rec);
	if (schema) {
		const char *ent = tf_record_entity(rec);
		size_t elen = ent ? strlen(ent) : 0;
		rc = tf_record_check(schema, rec, err);
		if (rc == 0)
			return 0;
		/*
		 * The check names fields "entity.field"; in the message the
		 * place is the member path "records[12].f.field".
		 */
		if (err && elen && strncmp(err->where, ent, elen) == 0 &&
		    err->where[elen] == '.') {
			char tmp[96];
			join3(tmp, sizeof tmp, "f", err->where + elen, "");
			memcpy(err->where, tmp, sizeof tmp);
		} else if (err && strcmp(err->where, "record") == 0) {
			err->where[0] = '\0';
		}
		return nest_err(err, rc, MSG_PULL, "records", idx, NULL);
	}
	if (id == NULL || !tf_uuid_valid(id, strlen(id)))
		return perr(err, TF_EINVAL, MSG_PULL, where,
			    "no valid record id");
	if (tf_record_entity(rec) == NULL)
		return perr(err, TF_EINVAL, MSG_PULL, where, "no entity");
	return 0;
}

/*
 * The optional "remaining": absent is *has 0 and -1 (unknown); present,
 * an integer in 0..2^53-1.
 */
static int get_remaining(const tf_json *o, int *has, int64_t *out, tf_err *err)
{
	const tf_json *v = tf_json_object_get(o, "remaining");

	*has = 0;
	*out = -1;
	if (v == NULL)
		return 0;
	if (v->type != TF_JSON_NUMBER)
		return perr(err, TF_ETYPE, MSG_PULL, "remaining",
			    "must be a non-negative integer");
	if (tf_json_int64(v, out) != 0 || *out < 0 ||
	    *out > PULL_REMAINING_MAX) {
		*out = -1;
		return perr(err, TF_ERANGE, MSG_PULL, "remaining",
			    "must be an integer in 0..2^53-1");
	}
	*has = 1;
	return 0;
}

int tf_pull_page_decode(const char *buf, size_t len, const tf_schema *schema,
			const tf_proto_limits *lim, tf_pull_page *out,
			tf_err *err)
{
	static const char *const keys[] = {"!ack",
					   "!cursor",
					   "!has_more",
					   "!protocol_version",
					   "!purged",
					   "!records",
					   "remaining",
					   "!reset",
					   "!schema_version",
					   NULL};
	tf_json *root = NULL, *recs, *purged;
	const char *s;
	size_t i, slen;
	tf_err e;
	int rc;

	assert(out != NULL);
	memset(out, 0, sizeof *out);
	tf_err_clear(&e);
	if (lim == NULL)
		lim = &tf_proto_default_limits;
	rc = parse_message(buf, len, lim, MSG_PULL,
			   schema ? schema->version : -1, &root,
			   &out->schema_version, &e);
	if (rc)
		goto out;
	rc = check_members(root, keys, MSG_PULL, "", &e);
	if (rc)
		goto out;
	rc = get_u64(root, "ack", 0, MSG_PULL, "", &out->ack, &e);
	if (rc == 0)
		rc = get_bool(root, "has_more", MSG_PULL, &out->has_more, &e);
	if (rc == 0)
		rc = get_bool(root, "reset", MSG_PULL, &out->reset, &e);
	if (rc == 0)
		rc = get_remaining(root, &out->has_remaining, &out->remaining,
				   &e);
	if (rc == 0)
		rc = get_str(root, "cursor", lim->max_cursor, MSG_PULL, "", &s,
			     &slen, &e);
	if (rc)
		goto out;
	out->cursor = malloc(slen + 1);
	if (out->cursor == NULL) {
		rc = perr(&e, TF_ENOMEM, MSG_PULL, "cursor", "out of memory");
		goto out;
	}
	memcpy(out->cursor, s, slen + 1);

	purged = tf_json_object_get(root, "purged");
	if (purged->type != TF_JSON_ARRAY) {
		rc = perr(&e, TF_ETYPE, MSG_PULL, "purged", "must be an array");
		goto out;
	}
	if (purged->len > lim->max_purged) {
		rc = perr(&e, TF_ELIMIT, MSG_PULL, "purged",
			  "%zu ids, at most %zu per page", purged->len,
			  lim->max_purged);
		goto out;
	}
	if (purged->len) {
		out->purged = calloc(purged->len, sizeof *out->purged);
		if (out->purged == NULL) {
			rc = perr(&e, TF_ENOMEM, MSG_PULL, "purged",
				  "out of memory");
			goto out;
		}
	}
	for (i = 0; i < purged->len; i++) {
		const tf_json *p = purged->u.items[i];
		char where[40];
		snprintf(where, sizeof where, "purged[%zu]", i);
		if (p->type != TF_JSON_STRING ||
		    !tf_uuid_valid(p->u.str, p->len)) {
			rc = perr(&e, TF_EINVAL, MSG_PULL, where,
				  "must be a lower-case record UUID");
			goto out;
		}
		out->purged[i] = malloc(TF_UUID_LEN + 1);
		if (out->purged[i] == NULL) {
			rc = perr(&e, TF_ENOMEM, MSG_PULL, where,
				  "out of memory");
			goto out;
		}
		memcpy(out->purged[i], p->u.str, TF_UUID_LEN + 1);
		out->npurged = i + 1;
	}

	recs = tf_json_object_get(root, "records");
	if (recs->type != TF_JSON_ARRAY) {
		rc = perr(&e, TF_ETYPE, MSG_PULL, "records",
			  "must be an array");
		goto out;
	}
	if (recs->len > lim->max_records) {
		rc = perr(&e, TF_ELIMIT, MSG_PULL, "records",
			  "%zu records, at most %zu per page", recs->len,
			  lim->max_records);
		goto out;
	}
	for (i = 0; i < recs->len; i++) {
		rc = check_record(schema, recs->u.items[i], i, &e);
		if (rc)
			goto out;
	}
	if (recs->len) {
		/* records is tf_json **: the elements are pointers. */
		/* NOLINTNEXTLINE(bugprone-sizeof-expression) */
		out->records = calloc(recs->len, sizeof *out->records);
		if (out->records == NULL) {
			rc = perr(&e, TF_ENOMEM, MSG_PULL, "records",
				  "out of memory");
			goto out;
		}
		/* Moves the states out of the parsed tree, last first. */
		out->nrecords = recs->len;
		for (i = recs->len; i-- > 0;)
			out->records[i] = tf_json_array_remove(recs, i);
	}
out:
	tf_json_free(root);
	if (rc) {
		tf_pull_page_clear(out);
		if (err)
			*err = e;
	}
	return rc;
}

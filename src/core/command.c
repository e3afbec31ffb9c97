/*
 * command.c - the command envelope: wire form (docs/PROTOCOL.md section 5),
 * its canonical bytes and the per-op check of args against the schema.
 *
 * Two layers of checking, kept apart on purpose:
 *  - tf_command_from_json checks the envelope alone (no schema), so the
 *    protocol decoder can refuse a malformed push before anything else;
 *  - tf_command_validate checks the args against the schema: exactly the
 *    args of the op, every named field of the class the op works on, every
 *    value of its type and within its limits.  Record state is not looked
 *    at here (transitions, conflicts, existence are apply's business).
 */
#include "tenfour/command.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * tf_err_set, evaluating to `code` itself so that static analysis sees
 * every error path return non-zero (code is always a TF_E* constant).
 */
#define FAIL(err, code, ...) (tf_err_set((err), (code), __VA_ARGS__), (code))

static const char *const op_names[] = {
	NULL,	      "create",	   "set",     "append",	 "set_add",
	"set_remove", "edit_text", "resolve", "ref_set",
};

#define OP_COUNT (sizeof op_names / sizeof op_names[0])

const char *tf_op_name(tf_op op)
{
	if ((size_t)op == 0 || (size_t)op >= OP_COUNT)
		return "unknown";
	return op_names[op];
}

int tf_op_parse(const char *name, tf_op *out)
{
	size_t i;

	if (name == NULL)
		return TF_EINVAL;
	for (i = 1; i < OP_COUNT; i++) {
		if (strcmp(name, op_names[i]) == 0) {
			*out = (tf_op)i;
			return 0;
		}
	}
	return TF_EINVAL;
}

int tf_id_valid(const char *s, size_t len)
{
	size_t i;

	if (s == NULL || len == 0 || len > TF_ID_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		      ch == '@' || ch == '-'))
			return 0;
	}
	return 1;
}

/* Entity and field names: [a-z][a-z0-9_]*, at most TF_NAME_MAX bytes. */
static int name_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > TF_NAME_MAX || s[0] < 'a' || s[0] > 'z')
		return 0;
	for (i = 1; i < len; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '_'))
			return 0;
	}
	return 1;
}

/* 16 lower-case hex digits (the wire form; text order = numeric order). */
static int hlc_text_valid(const char *s, size_t len)
{
	size_t i;

	if (len != TF_HLC_TEXT_LEN)
		return 0;
	for (i = 0; i < len; i++) {
		char ch = s[i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return 0;
	}
	return 1;
}

/* ------------------------------------------------------------ envelope */

/* The envelope members in key order (also the canonical order). */
static const char *const env_members[] = {
	"args", "base", "cmd_id",    "device", "entity",
	"hlc",	"op",	"record_id", "seq",    "user",
};
#define ENV_COUNT (sizeof env_members / sizeof env_members[0])

/*
 * Returns the member `key` of the envelope as a string, or sets err:
 * TF_EMISSING when absent, TF_ETYPE when not a string.
 */
static int env_str(const tf_json *j, const char *key, const char *ctx,
		   const char **s, size_t *len, tf_err *err)
{
	const tf_json *v = tf_json_object_get(j, key);

	if (v == NULL)
		return FAIL(err, TF_EMISSING, key,
			    "%scommand member \"%s\" is missing", ctx, key);
	if (v->type != TF_JSON_STRING)
		return FAIL(err, TF_ETYPE, key,
			    "%scommand member \"%s\" must be a string", ctx,
			    key);
	*s = v->u.str;
	*len = v->len;
	return 0;
}

int tf_command_from_json(const tf_json *j, tf_command *out, tf_err *err)
{
	tf_command c;
	const tf_json *v;
	const char *s;
	size_t len, i;
	char ctx[64] = "";
	int rc;

	assert(out != NULL);
	memset(&c, 0, sizeof c);
	memset(out, 0, sizeof *out);
	if (j == NULL || j->type != TF_JSON_OBJECT)
		return FAIL(err, TF_ETYPE, NULL,
			    "a command must be a JSON object");

	/* cmd_id first, so that every later message can name the command. */
	rc = env_str(j, "cmd_id", ctx, &s, &len, err);
	if (rc)
		return rc;
	if (!tf_uuid_valid(s, len))
		return FAIL(err, TF_EVALIDATE, "cmd_id",
			    "command member \"cmd_id\" must be a "
			    "lower-case UUID, got \"%.40s\"",
			    s);
	memcpy(c.cmd_id, s, len);
	snprintf(ctx, sizeof ctx, "%s: ", c.cmd_id);

	for (i = 0; i < j->len; i++) {
		const char *key = j->u.members[i].key;
		size_t k;
		for (k = 0; k < ENV_COUNT; k++)
			if (strcmp(key, env_members[k]) == 0)
				break;
		if (k == ENV_COUNT)
			return FAIL(err, TF_EUNKNOWN, key,
				    "%sunknown command member \"%.40s\"", ctx,
				    key);
	}

	v = tf_json_object_get(j, "seq");
	if (v == NULL)
		return FAIL(err, TF_EMISSING, "seq",
			    "%scommand member \"seq\" is missing", ctx);
	if (v->type != TF_JSON_NUMBER || tf_json_uint64(v, &c.seq) ||
	    c.seq < 1 || c.seq > TF_SEQ_MAX)
		return FAIL(err,
			    v->type == TF_JSON_NUMBER ? TF_ERANGE : TF_ETYPE,
			    "seq",
			    "%scommand member \"seq\" must be an "
			    "integer from 1 to 2^53-1",
			    ctx);

	rc = env_str(j, "hlc", ctx, &s, &len, err);
	if (rc)
		return rc;
	if (!hlc_text_valid(s, len) || tf_hlc_parse(s, len, &c.hlc))
		return FAIL(err, TF_EVALIDATE, "hlc",
			    "%scommand member \"hlc\" must be 16 "
			    "lower-case hex digits, got \"%.20s\"",
			    ctx, s);

	rc = env_str(j, "device", ctx, &s, &len, err);
	if (rc)
		return rc;
	if (!tf_id_valid(s, len))
		return FAIL(err, TF_EVALIDATE, "device",
			    "%scommand member \"device\" must match "
			    "[A-Za-z0-9._@-]{1,64}",
			    ctx);
	memcpy(c.device, s, len);

	rc = env_str(j, "user", ctx, &s, &len, err);
	if (rc)
		return rc;
	if (!tf_id_valid(s, len))
		return FAIL(err, TF_EVALIDATE, "user",
			    "%scommand member \"user\" must match "
			    "[A-Za-z0-9._@-]{1,64}",
			    ctx);
	memcpy(c.user, s, len);

	rc = env_str(j, "entity", ctx, &s, &len, err);
	if (rc)
		return rc;
	if (!name_valid(s, len))
		return FAIL(err, TF_EVALIDATE, "entity",
			    "%scommand member \"entity\" must match "
			    "[a-z][a-z0-9_]* (at most %d bytes)",
			    ctx, TF_NAME_MAX);
	memcpy(c.entity, s, len);

	rc = env_str(j, "record_id", ctx, &s, &len, err);
	if (rc)
		return rc;
	if (!tf_uuid_valid(s, len))
		return FAIL(err, TF_EVALIDATE, "record_id",
			    "%scommand member \"record_id\" must be a "
			    "lower-case UUID",
			    ctx);
	memcpy(c.record_id, s, len);

	rc = env_str(j, "op", ctx, &s, &len, err);
	if (rc)
		return rc;
	if (tf_op_parse(s, &c.op))
		return FAIL(err, TF_EVALIDATE, "op", "%sunknown op \"%.32s\"",
			    ctx, s);

	v = tf_json_object_get(j, "base");
	if (v == NULL)
		return FAIL(err, TF_EMISSING, "base",
			    "%scommand member \"base\" is missing", ctx);
	if (v->type != TF_JSON_NUMBER || tf_json_int64(v, &c.base) ||
	    c.base < 0)
		return FAIL(err,
			    v->type == TF_JSON_NUMBER ? TF_ERANGE : TF_ETYPE,
			    "base",
			    "%scommand member \"base\" must be an "
			    "integer >= 0",
			    ctx);

	v = tf_json_object_get(j, "args");
	if (v == NULL)
		return FAIL(err, TF_EMISSING, "args",
			    "%scommand member \"args\" is missing", ctx);
	if (v->type != TF_JSON_OBJECT)
		return FAIL(err, TF_ETYPE, "args",
			    "%scommand member \"args\" must be an object", ctx);
	c.args = tf_json_clone(v);
	if (c.args == NULL)
		return FAIL(err, TF_ENOMEM, "args",
			    "%sout of memory copying args", ctx);
	*out = c;
	return 0;
}

/* tf_json_object_set that also accepts a failed (NULL) constructor. */
static int put(tf_json *o, const char *key, tf_json *val)
{
	if (val == NULL)
		return TF_ENOMEM;
	return tf_json_object_set(o, key, val);
}

int tf_command_to_json(const tf_command *c, tf_json **out)
{
	tf_json *o, *args;
	char hlc[TF_HLC_TEXT_LEN + 1];
	int rc = TF_ENOMEM;

	assert(c != NULL && out != NULL);
	*out = NULL;
	o = tf_json_object();
	if (o == NULL)
		return TF_ENOMEM;
	args = c->args ? tf_json_clone(c->args) : tf_json_object();
	tf_hlc_format(c->hlc, hlc);
	/* Each set frees its value on failure, so one check per line. */
	if (put(o, "args", args) || put(o, "base", tf_json_int(c->base)) ||
	    put(o, "cmd_id", tf_json_cstring(c->cmd_id)) ||
	    put(o, "device", tf_json_cstring(c->device)) ||
	    put(o, "entity", tf_json_cstring(c->entity)) ||
	    put(o, "hlc", tf_json_cstring(hlc)) ||
	    put(o, "op", tf_json_cstring(tf_op_name(c->op))) ||
	    put(o, "record_id", tf_json_cstring(c->record_id)) ||
	    put(o, "seq", tf_json_uint(c->seq)) ||
	    put(o, "user", tf_json_cstring(c->user)))
		goto out;
	*out = o;
	o = NULL;
	rc = 0;
out:
	tf_json_free(o);
	return rc;
}

/*
 * Writes the wire object straight into the buffer, members in key order,
 * without building a tree: the ledger hashes every pushed command, so this
 * runs once per command on the server.  Must stay byte-identical to
 * tf_json_write(tf_command_to_json(c)).
 */
int tf_command_canonical(const tf_command *c, tf_buf *out)
{
	char hlc[TF_HLC_TEXT_LEN + 1];

	assert(c != NULL && out != NULL);
	tf_hlc_format(c->hlc, hlc);
	tf_buf_puts(out, "{\"args\":");
	if (c->args)
		tf_json_write(c->args, out);
	else
		tf_buf_puts(out, "{}");
	tf_buf_printf(out, ",\"base\":%lld,\"cmd_id\":", (long long)c->base);
	tf_json_write_string(out, c->cmd_id, strlen(c->cmd_id));
	tf_buf_puts(out, ",\"device\":");
	tf_json_write_string(out, c->device, strlen(c->device));
	tf_buf_puts(out, ",\"entity\":");
	tf_json_write_string(out, c->entity, strlen(c->entity));
	tf_buf_printf(out, ",\"hlc\":\"%s\",\"op\":\"%s\",\"record_id\":", hlc,
		      tf_op_name(c->op));
	tf_json_write_string(out, c->record_id, strlen(c->record_id));
	tf_buf_printf(out,
		      ",\"seq\":%llu,\"user\":", (unsigned long long)c->seq);
	tf_json_write_string(out, c->user, strlen(c->user));
	tf_buf_putc(out, '}');
	return out->failed;
}

int tf_command_copy(tf_command *dst, const tf_command *src)
{
	tf_json *args = NULL;

	assert(dst != NULL && src != NULL && dst != src);
	if (src->args) {
		args = tf_json_clone(src->args);
		if (args == NULL) {
			memset(dst, 0, sizeof *dst);
			return TF_ENOMEM;
		}
	}
	*dst = *src;
	dst->args = args;
	return 0;
}

void tf_command_clear(tf_command *c)
{
	if (c == NULL)
		return;
	tf_json_free(c->args);
	memset(c, 0, sizeof *c);
}

/* ---------------------------------------------------------- validation */

/* State shared by the per-op checks of one command. */
typedef struct vctx {
	const tf_entity *ent;
	const tf_command *c;
	int online;
	tf_err *err;
} vctx;

/* "entity.field" for err->where; field names are bounded by the schema. */
static void field_path(const vctx *v, const char *field, char *buf, size_t size)
{
	snprintf(buf, size, "%s.%.40s", v->ent->name, field);
}

/*
 * Refuses any member of args not in `allowed` (TF_EUNKNOWN, where
 * "args.<name>").
 */
static int args_only(const vctx *v, const tf_json *args,
		     const char *const *allowed, size_t n)
{
	size_t i, k;
	char where[64];

	for (i = 0; i < args->len; i++) {
		const char *key = args->u.members[i].key;
		for (k = 0; k < n; k++)
			if (strcmp(key, allowed[k]) == 0)
				break;
		if (k == n) {
			snprintf(where, sizeof where, "args.%.40s", key);
			return FAIL(v->err, TF_EUNKNOWN, where,
				    "%s: unknown argument \"%.40s\" for "
				    "op %s",
				    v->c->cmd_id, key, tf_op_name(v->c->op));
		}
	}
	return 0;
}

/*
 * Fetches a required arg of the given JSON type (TF_JSON_NUMBER stands for
 * any number; TF_JSON_TRUE for any boolean is not needed here).  Errors:
 * TF_EMISSING, TF_ETYPE with where "args.<name>".
 */
static int arg_get(const vctx *v, const tf_json *args, const char *name,
		   tf_json_type type, const tf_json **out)
{
	static const char *const type_names[] = {
		"null",	    "false",	"true",	     "a number",
		"a string", "an array", "an object",
	};
	const tf_json *a = tf_json_object_get(args, name);
	char where[64];

	snprintf(where, sizeof where, "args.%s", name);
	if (a == NULL)
		return FAIL(v->err, TF_EMISSING, where,
			    "%s: op %s needs argument \"%s\"", v->c->cmd_id,
			    tf_op_name(v->c->op), name);
	if (a->type != type)
		return FAIL(v->err, TF_ETYPE, where,
			    "%s: argument \"%s\" must be %s", v->c->cmd_id,
			    name, type_names[type]);
	*out = a;
	return 0;
}

/* A required non-negative integer arg. */
static int arg_count(const vctx *v, const tf_json *args, const char *name,
		     int64_t *out)
{
	const tf_json *a;
	char where[64];
	int rc = arg_get(v, args, name, TF_JSON_NUMBER, &a);

	if (rc)
		return rc;
	if (tf_json_int64(a, out) || *out < 0) {
		snprintf(where, sizeof where, "args.%s", name);
		return FAIL(v->err, TF_ERANGE, where,
			    "%s: argument \"%s\" must be an integer "
			    ">= 0",
			    v->c->cmd_id, name);
	}
	return 0;
}

static const char *class_ops(tf_class cls)
{
	switch (cls) {
	case TF_CLASS_LWW:
		return "create or set";
	case TF_CLASS_LOG:
		return "append";
	case TF_CLASS_SET:
		return "create, set_add or set_remove";
	case TF_CLASS_TEXT:
		return "create, edit_text or resolve";
	case TF_CLASS_REF:
		return "ref_set";
	}
	return "no op";
}

/*
 * Looks up a field named by the command, checks that its class is `cls`
 * (or, for create, one of lww/text/set) and its offline policy.
 * Errors: TF_EUNKNOWN (no such field), TF_EVALIDATE (wrong class),
 * TF_EOFFLINE; where "entity.field".
 */
static int field_for(const vctx *v, const char *name, int cls,
		     const tf_field **out)
{
	char where[96];
	const tf_field *f = tf_entity_field(v->ent, name);
	int ok;

	field_path(v, name, where, sizeof where);
	if (f == NULL)
		return FAIL(v->err, TF_EUNKNOWN, where,
			    "%s: %s has no field \"%.40s\"", v->c->cmd_id,
			    v->ent->name, name);
	if (cls == 0)
		ok = f->cls == TF_CLASS_LWW || f->cls == TF_CLASS_TEXT ||
		     f->cls == TF_CLASS_SET;
	else
		ok = (int)f->cls == cls;
	if (!ok)
		return FAIL(v->err, TF_EVALIDATE, where,
			    "%s: %s is a %s field (written by %s), "
			    "op %s does not apply to it",
			    v->c->cmd_id, where, tf_class_name(f->cls),
			    class_ops(f->cls), tf_op_name(v->c->op));
	if (!v->online && f->offline == TF_OFFLINE_ONLINE_ONLY)
		return FAIL(v->err, TF_EOFFLINE, where,
			    "%s may only be changed while online; "
			    "try again when the connection is back",
			    where);
	*out = f;
	return 0;
}

/* The field named by the "field" arg. */
static int field_arg(const vctx *v, const tf_json *args, tf_class cls,
		     const tf_field **out)
{
	const tf_json *a;
	int rc = arg_get(v, args, "field", TF_JSON_STRING, &a);

	if (rc)
		return rc;
	return field_for(v, a->u.str, (int)cls, out);
}

static int check_value(const vctx *v, const tf_field *f, const tf_json *val)
{
	char where[96];

	field_path(v, f->name, where, sizeof where);
	return tf_schema_check_value(&f->type, val, where, v->err);
}

/* A text-class string: within max_bytes (UTF-8 is the parser's job). */
static int check_text(const vctx *v, const tf_field *f, const tf_json *val,
		      const char *what)
{
	char where[96];

	field_path(v, f->name, where, sizeof where);
	if (val->type != TF_JSON_STRING)
		return FAIL(v->err, TF_ETYPE, where,
			    "%s: %s of %s must be a string", v->c->cmd_id, what,
			    where);
	if (f->max_bytes && val->len > f->max_bytes)
		return FAIL(v->err, TF_ELIMIT, where,
			    "%s: %s of %s is %zu bytes, more than the "
			    "%zu allowed",
			    v->c->cmd_id, what, where, val->len, f->max_bytes);
	return 0;
}

/* A UUID-valued arg (string) at `where`. */
static int check_uuid(const vctx *v, const tf_json *val, const char *where)
{
	if (val->type != TF_JSON_STRING || !tf_uuid_valid(val->u.str, val->len))
		return FAIL(v->err, TF_EVALIDATE, where,
			    "%s: %s must be a lower-case UUID", v->c->cmd_id,
			    where);
	return 0;
}

/*
 * Two lww fields of one command that record history into the same log
 * would make two entries with the same id (the command id); refuse it so
 * that the log keeps one entry per id.
 */
static int check_history_clash(const vctx *v, const tf_json *fields)
{
	size_t i, k;
	char where[96];

	for (i = 0; i < fields->len; i++) {
		const tf_field *a =
			tf_entity_field(v->ent, fields->u.members[i].key);
		if (a == NULL || a->cls != TF_CLASS_LWW || a->history == NULL)
			continue;
		for (k = i + 1; k < fields->len; k++) {
			const tf_field *b = tf_entity_field(
				v->ent, fields->u.members[k].key);
			if (b == NULL || b->cls != TF_CLASS_LWW ||
			    b->history == NULL ||
			    strcmp(a->history, b->history) != 0)
				continue;
			field_path(v, b->name, where, sizeof where);
			return FAIL(v->err, TF_EVALIDATE, where,
				    "%s: %s and %s both record history "
				    "in %s; set them in separate "
				    "commands",
				    v->c->cmd_id, a->name, b->name, a->history);
		}
	}
	return 0;
}

static int validate_fields_obj(const vctx *v, const tf_json *args,
			       const tf_json **fields)
{
	static const char *const allowed[] = {"fields"};
	int rc = args_only(v, args, allowed, 1);

	if (rc)
		return rc;
	return arg_get(v, args, "fields", TF_JSON_OBJECT, fields);
}

static int validate_create(const vctx *v, const tf_json *args)
{
	const tf_json *fields;
	size_t i, k;
	char where[96];
	int rc = validate_fields_obj(v, args, &fields);

	if (rc)
		return rc;
	for (i = 0; i < fields->len; i++) {
		const tf_field *f;
		const tf_json *val = fields->u.members[i].value;
		rc = field_for(v, fields->u.members[i].key, 0, &f);
		if (rc)
			return rc;
		field_path(v, f->name, where, sizeof where);
		switch (f->cls) {
		case TF_CLASS_LWW:
			rc = check_value(v, f, val);
			break;
		case TF_CLASS_TEXT:
			rc = check_text(v, f, val, "text");
			break;
		case TF_CLASS_SET:
			if (val->type != TF_JSON_ARRAY)
				return FAIL(v->err, TF_ETYPE, where,
					    "%s: initial value of set "
					    "%s must be an array",
					    v->c->cmd_id, where);
			if (f->max_entries && val->len > f->max_entries)
				return FAIL(v->err, TF_ELIMIT, where,
					    "%s: %zu elements for set %s, at "
					    "most %zu allowed",
					    v->c->cmd_id, val->len, where,
					    f->max_entries);
			for (k = 0; k < val->len && rc == 0; k++)
				rc = check_value(v, f, val->u.items[k]);
			break;
		default:
			/* field_for(…, 0, …) admits only the three above */
			assert(0);
			rc = TF_EINVAL;
		}
		if (rc)
			return rc;
	}
	return check_history_clash(v, fields);
}

static int validate_set(const vctx *v, const tf_json *args)
{
	const tf_json *fields;
	size_t i;
	int rc = validate_fields_obj(v, args, &fields);

	if (rc)
		return rc;
	if (fields->len == 0)
		return FAIL(v->err, TF_EVALIDATE, "args.fields",
			    "%s: set names no field", v->c->cmd_id);
	for (i = 0; i < fields->len; i++) {
		const tf_field *f;
		rc = field_for(v, fields->u.members[i].key, TF_CLASS_LWW, &f);
		if (rc)
			return rc;
		rc = check_value(v, f, fields->u.members[i].value);
		if (rc)
			return rc;
	}
	return check_history_clash(v, fields);
}

static int validate_append(const vctx *v, const tf_json *args)
{
	static const char *const allowed[] = {"body", "corrects", "field"};
	const tf_field *f;
	const tf_json *body, *corr;
	int rc = args_only(v, args, allowed, 3);

	if (rc == 0)
		rc = field_arg(v, args, TF_CLASS_LOG, &f);
	if (rc)
		return rc;
	body = tf_json_object_get(args, "body");
	if (body == NULL)
		return FAIL(v->err, TF_EMISSING, "args.body",
			    "%s: op append needs argument \"body\"",
			    v->c->cmd_id);
	rc = check_value(v, f, body);
	if (rc)
		return rc;
	corr = tf_json_object_get(args, "corrects");
	if (corr)
		return check_uuid(v, corr, "args.corrects");
	return 0;
}

static int validate_set_elem(const vctx *v, const tf_json *args, int remove)
{
	static const char *const add_allowed[] = {"field", "value"};
	static const char *const rm_allowed[] = {"field", "tags", "value"};
	const tf_field *f;
	const tf_json *val, *tags;
	size_t i;
	char where[32];
	int rc = remove ? args_only(v, args, rm_allowed, 3)
			: args_only(v, args, add_allowed, 2);

	if (rc == 0)
		rc = field_arg(v, args, TF_CLASS_SET, &f);
	if (rc)
		return rc;
	val = tf_json_object_get(args, "value");
	if (val == NULL)
		return FAIL(v->err, TF_EMISSING, "args.value",
			    "%s: op %s needs argument \"value\"", v->c->cmd_id,
			    tf_op_name(v->c->op));
	rc = check_value(v, f, val);
	if (rc || !remove)
		return rc;
	rc = arg_get(v, args, "tags", TF_JSON_ARRAY, &tags);
	if (rc)
		return rc;
	if (tags->len == 0)
		return FAIL(v->err, TF_EVALIDATE, "args.tags",
			    "%s: set_remove must name the tags it saw",
			    v->c->cmd_id);
	if (tags->len > TF_SET_MAX_TAGS)
		return FAIL(v->err, TF_ELIMIT, "args.tags",
			    "%s: %zu tags, at most %d allowed", v->c->cmd_id,
			    tags->len, TF_SET_MAX_TAGS);
	for (i = 0; i < tags->len; i++) {
		snprintf(where, sizeof where, "args.tags[%zu]", i);
		rc = check_uuid(v, tags->u.items[i], where);
		if (rc)
			return rc;
	}
	return 0;
}

static int validate_edit_text(const vctx *v, const tf_json *args)
{
	static const char *const allowed[] = {"base", "base_rev", "field",
					      "text"};
	const tf_field *f;
	const tf_json *base, *text;
	int64_t rev;
	int rc = args_only(v, args, allowed, 4);

	if (rc == 0)
		rc = field_arg(v, args, TF_CLASS_TEXT, &f);
	if (rc == 0)
		rc = arg_count(v, args, "base_rev", &rev);
	if (rc == 0)
		rc = arg_get(v, args, "base", TF_JSON_STRING, &base);
	if (rc == 0)
		rc = arg_get(v, args, "text", TF_JSON_STRING, &text);
	if (rc == 0)
		rc = check_text(v, f, base, "base");
	if (rc == 0)
		rc = check_text(v, f, text, "text");
	return rc;
}

static int validate_resolve(const vctx *v, const tf_json *args)
{
	static const char *const allowed[] = {"choice", "conflict", "field",
					      "head_rev", "text"};
	static const char *const choices[] = {"custom", "merged", "mine",
					      "theirs"};
	const tf_field *f;
	const tf_json *conflict, *text, *choice;
	int64_t rev;
	size_t i;
	int rc = args_only(v, args, allowed, 5);

	if (rc == 0)
		rc = field_arg(v, args, TF_CLASS_TEXT, &f);
	if (rc == 0)
		rc = arg_get(v, args, "conflict", TF_JSON_STRING, &conflict);
	if (rc == 0)
		rc = check_uuid(v, conflict, "args.conflict");
	if (rc == 0)
		rc = arg_count(v, args, "head_rev", &rev);
	if (rc == 0)
		rc = arg_get(v, args, "text", TF_JSON_STRING, &text);
	if (rc == 0)
		rc = check_text(v, f, text, "text");
	if (rc == 0)
		rc = arg_get(v, args, "choice", TF_JSON_STRING, &choice);
	if (rc)
		return rc;
	for (i = 0; i < sizeof choices / sizeof choices[0]; i++)
		if (strcmp(choice->u.str, choices[i]) == 0)
			return 0;
	return FAIL(v->err, TF_EVALIDATE, "args.choice",
		    "%s: choice must be one of mine, theirs, merged, "
		    "custom",
		    v->c->cmd_id);
}

static int validate_ref_set(const vctx *v, const tf_json *args)
{
	static const char *const allowed[] = {"fetched_at", "ttl", "v"};
	const tf_json *fields, *val;
	const tf_field *f;
	size_t i;
	int64_t n;
	int rc = validate_fields_obj(v, args, &fields);
	vctx inner;

	if (rc)
		return rc;
	if (fields->len == 0)
		return FAIL(v->err, TF_EVALIDATE, "args.fields",
			    "%s: ref_set names no field", v->c->cmd_id);
	for (i = 0; i < fields->len; i++) {
		rc = field_for(v, fields->u.members[i].key, TF_CLASS_REF, &f);
		if (rc)
			return rc;
		val = fields->u.members[i].value;
		if (val->type != TF_JSON_OBJECT) {
			char where[96];
			field_path(v, f->name, where, sizeof where);
			return FAIL(v->err, TF_ETYPE, where,
				    "%s: ref_set of %s takes "
				    "{v, fetched_at, ttl}",
				    v->c->cmd_id, where);
		}
		inner = *v;
		rc = args_only(&inner, val, allowed, 3);
		if (rc == 0)
			rc = arg_count(&inner, val, "fetched_at", &n);
		if (rc == 0)
			rc = arg_count(&inner, val, "ttl", &n);
		if (rc)
			return rc;
		if (tf_json_object_get(val, "v") == NULL)
			return FAIL(v->err, TF_EMISSING, "args.v",
				    "%s: ref_set of %s needs \"v\"",
				    v->c->cmd_id, f->name);
		rc = check_value(v, f, tf_json_object_get(val, "v"));
		if (rc)
			return rc;
	}
	return 0;
}

int tf_command_validate(const tf_schema *s, const tf_command *c, int online,
			tf_err *err)
{
	vctx v;

	assert(s != NULL && c != NULL);
	v.c = c;
	v.online = online;
	v.err = err;
	v.ent = tf_schema_entity(s, c->entity);
	if (v.ent == NULL)
		return FAIL(err, TF_EUNKNOWN, "entity",
			    "%s: unknown entity \"%s\"", c->cmd_id, c->entity);
	if (c->args == NULL || c->args->type != TF_JSON_OBJECT)
		return FAIL(err, TF_ETYPE, "args", "%s: args must be an object",
			    c->cmd_id);
	switch (c->op) {
	case TF_OP_CREATE:
		return validate_create(&v, c->args);
	case TF_OP_SET:
		return validate_set(&v, c->args);
	case TF_OP_APPEND:
		return validate_append(&v, c->args);
	case TF_OP_SET_ADD:
		return validate_set_elem(&v, c->args, 0);
	case TF_OP_SET_REMOVE:
		return validate_set_elem(&v, c->args, 1);
	case TF_OP_EDIT_TEXT:
		return validate_edit_text(&v, c->args);
	case TF_OP_RESOLVE:
		return validate_resolve(&v, c->args);
	case TF_OP_REF_SET:
		return validate_ref_set(&v, c->args);
	}
	return FAIL(err, TF_EVALIDATE, "op", "%s: unknown op %d", c->cmd_id,
		    (int)c->op);
}

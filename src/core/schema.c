/*
 * schema.c - the strict schema loader and the value checker.  The file
 * format is docs/PROTOCOL.md section 3; the in-memory form is schema.h.
 *
 * The loader refuses anything it does not understand: an unknown member at
 * any level, a type parameter that does not belong to the type, a name
 * outside [a-z][a-z0-9_]{0,31}, a role not declared in "roles", a history,
 * scope or transition that points at nothing.  A schema that loads is
 * therefore safe to trust everywhere else: every count is bounded, every
 * reference resolves, every type spec is at most TF_SCHEMA_MAX_DEPTH deep.
 *
 * The JSON parser keeps object members sorted by key, so entity, field and
 * prop order in memory is alphabetical (we sort again anyway so the lookup
 * functions never depend on another module's invariant).
 */
#include "tenfour/schema.h"
#include "tenfour/hlc.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Paths such as "report.offenses.code" or "lookup.result.hits[3].kind". */
#define PATH_MAX_ 128

#define LOG_ENTRIES_DEFAULT 10000
#define SET_ENTRIES_DEFAULT 256
#define TEXT_BYTES_DEFAULT 65536
/* A log or set is one JSON array in the record: the parser's item limit. */
#define ENTRIES_LIMIT 100000
/* A string is one JSON string: the parser's string limit. */
#define BYTES_LIMIT ((int64_t)1024 * 1024)
#define ENUM_VALUE_MAX 64
#define LABEL_MAX 128
#define VERSION_MAX INT32_MAX

#if defined(__GNUC__) || defined(__clang__)
#define TF_PRINTF_(a, b) __attribute__((format(printf, a, b)))
#else
#define TF_PRINTF_(a, b)
#endif

/* ------------------------------------------------------------ helpers */

/*
 * Sets err to `code` at `where` with the message "<where>: <fmt...>" and
 * returns code.
 */
static int fail(tf_err *err, int code, const char *where, const char *fmt, ...)
	TF_PRINTF_(4, 5);

static int fail(tf_err *err, int code, const char *where, const char *fmt, ...)
{
	char m[200];
	va_list ap;

	if (err == NULL)
		return code;
	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	return tf_err_set(err, code, where, "%s: %s", where, m);
}

/* Appends a, sep and b (each may be NULL) to the path in dst, truncating
 * at PATH_MAX_ - 1 bytes. */
static void path_push(char dst[PATH_MAX_], const char *a, const char *sep,
		      const char *b)
{
	size_t n = strlen(dst);
	const char *parts[3];
	size_t i;

	parts[0] = a;
	parts[1] = sep;
	parts[2] = b;
	for (i = 0; i < 3; i++) {
		const char *p = parts[i];

		while (p && *p && n < PATH_MAX_ - 1)
			dst[n++] = *p++;
	}
	dst[n] = '\0';
}

/* dst = a + sep + b, truncated to PATH_MAX_ - 1 bytes. */
static void path_join(char dst[PATH_MAX_], const char *a, const char *sep,
		      const char *b)
{
	dst[0] = '\0';
	path_push(dst, a, sep, b);
}

static char *dup_str(const char *s)
{
	size_t n = strlen(s);
	char *d = malloc(n + 1);

	if (d)
		memcpy(d, s, n + 1);
	return d;
}

static int name_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > TF_NAME_MAX || s[0] < 'a' || s[0] > 'z')
		return 0;
	for (i = 1; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return 0;
	}
	return 1;
}

static int in_list(const char *k, const char *const *list)
{
	size_t i;

	for (i = 0; list && list[i]; i++)
		if (strcmp(k, list[i]) == 0)
			return 1;
	return 0;
}

static const char *json_type_name(const tf_json *v)
{
	switch (v->type) {
	case TF_JSON_NULL:
		return "null";
	case TF_JSON_FALSE:
	case TF_JSON_TRUE:
		return "boolean";
	case TF_JSON_NUMBER:
		return "number";
	case TF_JSON_STRING:
		return "string";
	case TF_JSON_ARRAY:
		return "array";
	case TF_JSON_OBJECT:
		return "object";
	}
	return "unknown";
}

static const char *const type_names[] = {
	NULL,	"string",    "integer", "number", "boolean",
	"enum", "timestamp", "uuid",	"object", "array",
};

static const char *type_name(tf_type t)
{
	if ((int)t >= 1 && (int)t <= (int)TF_TYPE_ARRAY)
		return type_names[t];
	return "unknown";
}

const char *tf_class_name(tf_class c)
{
	switch (c) {
	case TF_CLASS_LWW:
		return "lww";
	case TF_CLASS_LOG:
		return "log";
	case TF_CLASS_SET:
		return "set";
	case TF_CLASS_TEXT:
		return "text";
	case TF_CLASS_REF:
		return "ref";
	}
	return "unknown";
}

const char *tf_scope_name(tf_scope s)
{
	switch (s) {
	case TF_SCOPE_AGENCY:
		return "agency";
	case TF_SCOPE_ASSIGNED_UNIT:
		return "assigned_unit";
	case TF_SCOPE_AUTHOR:
		return "author";
	case TF_SCOPE_PARTICIPANT:
		return "participant";
	}
	return "unknown";
}

/* ------------------------------------------------------------- freeing */

static void spec_free(tf_type_spec *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nvalues; i++) {
		free(t->values[i]);
		if (t->labels)
			free(t->labels[i]);
	}
	free(t->values);
	free(t->labels);
	for (i = 0; i < t->nprops; i++) {
		free(t->props[i].name);
		spec_free(&t->props[i].spec);
	}
	free(t->props);
	if (t->item) {
		spec_free(t->item);
		free(t->item);
	}
	memset(t, 0, sizeof *t);
}

static void strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static void field_free(tf_field *f)
{
	size_t i;

	free(f->name);
	spec_free(&f->type);
	free(f->history);
	for (i = 0; i < f->ntransitions; i++) {
		free(f->transitions[i].from);
		strv_free(f->transitions[i].to, f->transitions[i].nto);
	}
	free(f->transitions);
	strv_free(f->initial, f->ninitial);
	strv_free(f->write_roles, f->nwrite_roles);
}

static void entity_free(tf_entity *e)
{
	size_t i;

	free(e->name);
	for (i = 0; i < e->nfields; i++)
		field_free(&e->fields[i]);
	free(e->fields);
	free(e->scope_field);
	strv_free(e->read_roles, e->nread_roles);
	strv_free(e->write_roles, e->nwrite_roles);
}

void tf_schema_free(tf_schema *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nentities; i++)
		entity_free(&s->entities[i]);
	free(s->entities);
	strv_free(s->roles, s->nroles);
	free(s);
}

/* ------------------------------------------------------------- lookups */

const tf_entity *tf_schema_entity(const tf_schema *s, const char *name)
{
	size_t lo = 0, hi;

	if (s == NULL || name == NULL)
		return NULL;
	hi = s->nentities;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, s->entities[mid].name);

		if (c == 0)
			return &s->entities[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const tf_field *tf_entity_field(const tf_entity *e, const char *name)
{
	size_t lo = 0, hi;

	if (e == NULL || name == NULL)
		return NULL;
	hi = e->nfields;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, e->fields[mid].name);

		if (c == 0)
			return &e->fields[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static const tf_prop *spec_prop(const tf_type_spec *t, const char *name)
{
	size_t lo = 0, hi = t->nprops;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, t->props[mid].name);

		if (c == 0)
			return &t->props[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Index of `value` in the enum's values, or -1. */
static long enum_index(const tf_type_spec *t, const char *value, size_t len)
{
	size_t i;

	for (i = 0; i < t->nvalues; i++)
		if (strlen(t->values[i]) == len &&
		    memcmp(t->values[i], value, len) == 0)
			return (long)i;
	return -1;
}

int tf_schema_has_role(const tf_schema *s, const char *role)
{
	size_t i;

	if (s == NULL || role == NULL)
		return 0;
	for (i = 0; i < s->nroles; i++)
		if (strcmp(s->roles[i], role) == 0)
			return 1;
	return 0;
}

const char *tf_enum_label(const tf_type_spec *spec, const char *value)
{
	long i;

	if (spec == NULL || value == NULL || spec->type != TF_TYPE_ENUM ||
	    spec->labels == NULL)
		return NULL;
	i = enum_index(spec, value, strlen(value));
	return i < 0 ? NULL : spec->labels[i];
}

static int strv_has(char *const *v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

int tf_field_transition_allowed(const tf_field *f, const char *from,
				const char *to)
{
	size_t i;

	assert(f != NULL);
	if (from == NULL) {
		if (f->ninitial == 0)
			return 1;
		return to != NULL && strv_has(f->initial, f->ninitial, to);
	}
	if (f->ntransitions == 0)
		return 1;
	if (to == NULL)
		return 0;
	if (strcmp(from, to) == 0)
		return 1;
	for (i = 0; i < f->ntransitions; i++)
		if (strcmp(f->transitions[i].from, from) == 0)
			return strv_has(f->transitions[i].to,
					f->transitions[i].nto, to);
	return 0;
}

int tf_field_role_may_write(const tf_entity *e, const tf_field *f,
			    const char *role)
{
	assert(e != NULL);
	if (role == NULL)
		return 0;
	if (f && f->write_roles)
		return strv_has(f->write_roles, f->nwrite_roles, role);
	return strv_has(e->write_roles, e->nwrite_roles, role);
}

/* ------------------------------------------------------ loader pieces */

/*
 * Every member the loader knows, so that an out-of-place member gets "not
 * allowed here" instead of "unknown".
 */
static const char *const spec_keys[] = {"type",	 "nullable", "min",
					"max",	 "values",   "labels",
					"props", "items",    NULL};
static const char *const field_keys[] = {
	"class",       "offline",     "write_roles", "history", "initial",
	"transitions", "max_entries", "max_bytes",   NULL};
static const char *const prop_keys[] = {"required", NULL};

/* Reads an optional integer member; *present says whether it was there. */
static int get_int(const tf_json *obj, const char *key, const char *where,
		   int64_t *out, int *present, tf_err *err)
{
	const tf_json *v = tf_json_object_get(obj, key);

	*present = 0;
	if (v == NULL)
		return 0;
	if (tf_json_int64(v, out) != 0)
		return fail(err, TF_ESCHEMA, where,
			    "\"%s\" must be an integer without fraction or "
			    "exponent, within 64 bits",
			    key);
	*present = 1;
	return 0;
}

/* Reads an optional boolean member (absent = 0). */
static int get_bool(const tf_json *obj, const char *key, const char *where,
		    int *out, tf_err *err)
{
	const tf_json *v = tf_json_object_get(obj, key);

	*out = 0;
	if (v == NULL)
		return 0;
	if (v->type != TF_JSON_TRUE && v->type != TF_JSON_FALSE)
		return fail(err, TF_ESCHEMA, where,
			    "\"%s\" must be true or false, not %s", key,
			    json_type_name(v));
	*out = v->type == TF_JSON_TRUE;
	return 0;
}

/* A length bound (string bytes, array items, entries) in 0..limit. */
static int get_count(const tf_json *obj, const char *key, const char *where,
		     int64_t lo, int64_t limit, int64_t *out, int *present,
		     tf_err *err)
{
	int rc = get_int(obj, key, where, out, present, err);

	if (rc)
		return rc;
	if (*present && (*out < lo || *out > limit))
		return fail(err, TF_ESCHEMA, where,
			    "\"%s\" is %lld, must be within %lld..%lld", key,
			    (long long)*out, (long long)lo, (long long)limit);
	return 0;
}

/*
 * Reads a list of role names from member `key` of obj into *out and *n.
 * Every name must be declared in s->roles, unique, at least one.
 */
static int get_roles(const tf_schema *s, const tf_json *obj, const char *key,
		     const char *where, char ***out, size_t *n, tf_err *err)
{
	const tf_json *arr = tf_json_object_get(obj, key);
	size_t i;

	assert(*out == NULL && *n == 0);
	if (arr == NULL)
		return 0;
	if (arr->type != TF_JSON_ARRAY)
		return fail(err, TF_ESCHEMA, where,
			    "\"%s\" must be an array of role names, not %s",
			    key, json_type_name(arr));
	if (arr->len == 0 || arr->len > TF_SCHEMA_MAX_ROLES)
		return fail(err, TF_ESCHEMA, where,
			    "\"%s\" must name 1..%d roles, it has %zu", key,
			    TF_SCHEMA_MAX_ROLES, arr->len);
	*out = calloc(arr->len, sizeof **out);
	if (*out == NULL)
		return fail(err, TF_ENOMEM, where, "out of memory");
	for (i = 0; i < arr->len; i++) {
		const char *r = tf_json_str(arr->u.items[i], NULL);

		if (r == NULL)
			return fail(err, TF_ESCHEMA, where,
				    "\"%s\"[%zu] must be a string", key, i);
		if (!tf_schema_has_role(s, r))
			return fail(err, TF_ESCHEMA, where,
				    "\"%s\" names role \"%.40s\", which is not "
				    "declared in \"roles\"",
				    key, r);
		if (strv_has(*out, *n, r))
			return fail(err, TF_ESCHEMA, where,
				    "\"%s\" names role \"%s\" twice", key, r);
		(*out)[*n] = dup_str(r);
		if ((*out)[*n] == NULL)
			return fail(err, TF_ENOMEM, where, "out of memory");
		(*n)++;
	}
	return 0;
}

static int parse_type_name(const char *s, tf_type *out)
{
	int i;

	for (i = 1; i <= (int)TF_TYPE_ARRAY; i++)
		if (strcmp(s, type_names[i]) == 0) {
			*out = (tf_type)i;
			return 0;
		}
	return TF_EINVAL;
}

/* 1 when type-spec member `key` belongs to type t. */
static int spec_key_allowed(tf_type t, const char *key)
{
	if (strcmp(key, "type") == 0 || strcmp(key, "nullable") == 0)
		return 1;
	switch (t) {
	case TF_TYPE_STRING:
	case TF_TYPE_INTEGER:
	case TF_TYPE_NUMBER:
		return !strcmp(key, "min") || !strcmp(key, "max");
	case TF_TYPE_ENUM:
		return !strcmp(key, "values") || !strcmp(key, "labels");
	case TF_TYPE_OBJECT:
		return !strcmp(key, "props");
	case TF_TYPE_ARRAY:
		return !strcmp(key, "items") || !strcmp(key, "min") ||
		       !strcmp(key, "max");
	case TF_TYPE_BOOLEAN:
	case TF_TYPE_TIMESTAMP:
	case TF_TYPE_UUID:
		return 0;
	}
	return 0;
}

static int parse_spec(const tf_json *obj, tf_type_spec *t, int depth,
		      const char *where, const char *const *extra, tf_err *err);

static int parse_enum(const tf_json *obj, tf_type_spec *t, const char *where,
		      tf_err *err)
{
	const tf_json *vals = tf_json_object_get(obj, "values");
	const tf_json *labels = tf_json_object_get(obj, "labels");
	size_t i;

	if (vals == NULL)
		return fail(err, TF_ESCHEMA, where, "an enum needs \"values\"");
	if (vals->type != TF_JSON_ARRAY || vals->len == 0 ||
	    vals->len > TF_SCHEMA_MAX_VALUES)
		return fail(err, TF_ESCHEMA, where,
			    "\"values\" must be an array of 1..%d strings",
			    TF_SCHEMA_MAX_VALUES);
	t->values = calloc(vals->len, sizeof *t->values);
	if (t->values == NULL)
		return fail(err, TF_ENOMEM, where, "out of memory");
	for (i = 0; i < vals->len; i++) {
		size_t len;
		const char *v = tf_json_str(vals->u.items[i], &len);

		if (v == NULL || len == 0 || len > ENUM_VALUE_MAX)
			return fail(err, TF_ESCHEMA, where,
				    "\"values\"[%zu] must be a string of "
				    "1..%d bytes",
				    i, ENUM_VALUE_MAX);
		if (enum_index(t, v, len) >= 0)
			return fail(err, TF_ESCHEMA, where,
				    "enum value \"%s\" is listed twice", v);
		t->values[i] = dup_str(v);
		if (t->values[i] == NULL)
			return fail(err, TF_ENOMEM, where, "out of memory");
		t->nvalues = i + 1;
	}
	if (labels == NULL)
		return 0;
	if (labels->type != TF_JSON_OBJECT)
		return fail(err, TF_ESCHEMA, where,
			    "\"labels\" must be an object value -> label");
	t->labels = calloc(t->nvalues, sizeof *t->labels);
	if (t->labels == NULL)
		return fail(err, TF_ENOMEM, where, "out of memory");
	for (i = 0; i < labels->len; i++) {
		const tf_json_member *m = &labels->u.members[i];
		long at = enum_index(t, m->key, m->klen);
		size_t len;
		const char *l = tf_json_str(m->value, &len);

		if (at < 0)
			return fail(err, TF_ESCHEMA, where,
				    "\"labels\" names \"%.64s\", which is not "
				    "one of the enum's values",
				    m->key);
		if (l == NULL || len == 0 || len > LABEL_MAX)
			return fail(err, TF_ESCHEMA, where,
				    "the label of \"%s\" must be a string of "
				    "1..%d bytes",
				    m->key, LABEL_MAX);
		t->labels[at] = dup_str(l);
		if (t->labels[at] == NULL)
			return fail(err, TF_ENOMEM, where, "out of memory");
	}
	return 0;
}

static int prop_cmp(const void *a, const void *b)
{
	return strcmp(((const tf_prop *)a)->name, ((const tf_prop *)b)->name);
}

static int parse_props(const tf_json *obj, tf_type_spec *t, int depth,
		       const char *where, tf_err *err)
{
	const tf_json *props = tf_json_object_get(obj, "props");
	size_t i;
	int rc;

	if (props == NULL)
		return fail(err, TF_ESCHEMA, where,
			    "an object type needs \"props\"");
	if (props->type != TF_JSON_OBJECT)
		return fail(err, TF_ESCHEMA, where,
			    "\"props\" must be an object name -> type spec");
	if (props->len > TF_SCHEMA_MAX_FIELDS)
		return fail(err, TF_ESCHEMA, where,
			    "\"props\" has %zu members, at most %d allowed",
			    props->len, TF_SCHEMA_MAX_FIELDS);
	if (props->len == 0)
		return 0;
	t->props = calloc(props->len, sizeof *t->props);
	if (t->props == NULL)
		return fail(err, TF_ENOMEM, where, "out of memory");
	for (i = 0; i < props->len; i++) {
		const tf_json_member *m = &props->u.members[i];
		tf_prop *p = &t->props[i];
		char path[PATH_MAX_];

		path_join(path, where, ".", m->key);
		if (!name_valid(m->key, m->klen))
			return fail(err, TF_ESCHEMA, path,
				    "member name must match [a-z][a-z0-9_]* "
				    "and be at most %d bytes",
				    TF_NAME_MAX);
		if (m->value->type != TF_JSON_OBJECT)
			return fail(err, TF_ESCHEMA, path,
				    "a type spec must be an object, not %s",
				    json_type_name(m->value));
		p->name = dup_str(m->key);
		if (p->name == NULL)
			return fail(err, TF_ENOMEM, path, "out of memory");
		t->nprops = i + 1;
		rc = parse_spec(m->value, &p->spec, depth + 1, path, prop_keys,
				err);
		if (rc)
			return rc;
		rc = get_bool(m->value, "required", path, &p->required, err);
		if (rc)
			return rc;
	}
	qsort(t->props, t->nprops, sizeof *t->props, prop_cmp);
	return 0;
}

/*
 * Parses one type spec from obj into *t (zeroed by the caller).  depth is
 * 1 for a field's own type.  Members in `extra` belong to the caller (field
 * or prop members) and are skipped; any other member must be a type-spec
 * member allowed for the type.  On error *t may be half filled; spec_free
 * releases it.
 */
static int parse_spec(const tf_json *obj, tf_type_spec *t, int depth,
		      const char *where, const char *const *extra, tf_err *err)
{
	const tf_json *tv = tf_json_object_get(obj, "type");
	const tf_json *items;
	const char *tn;
	int rc;
	size_t i;

	assert(obj->type == TF_JSON_OBJECT);
	if (depth > TF_SCHEMA_MAX_DEPTH)
		return fail(err, TF_ESCHEMA, where,
			    "type specs nest deeper than %d levels",
			    TF_SCHEMA_MAX_DEPTH);
	if (tv == NULL)
		return fail(err, TF_ESCHEMA, where, "\"type\" is missing");
	tn = tf_json_str(tv, NULL);
	if (tn == NULL || parse_type_name(tn, &t->type) != 0)
		return fail(err, TF_ESCHEMA, where,
			    "\"type\" must be one of string, integer, number, "
			    "boolean, enum, timestamp, uuid, object, array");
	for (i = 0; i < obj->len; i++) {
		const char *k = obj->u.members[i].key;

		if (in_list(k, extra))
			continue;
		if (!in_list(k, spec_keys))
			return fail(err, TF_ESCHEMA, where,
				    "unknown member \"%.40s\"", k);
		if (!spec_key_allowed(t->type, k))
			return fail(err, TF_ESCHEMA, where,
				    "\"%s\" is not allowed for type %s", k,
				    type_name(t->type));
	}
	rc = get_bool(obj, "nullable", where, &t->nullable, err);
	if (rc)
		return rc;
	switch (t->type) {
	case TF_TYPE_STRING:
	case TF_TYPE_ARRAY: {
		int64_t limit =
			t->type == TF_TYPE_STRING ? BYTES_LIMIT : ENTRIES_LIMIT;

		rc = get_count(obj, "max", where, 0, limit, &t->max,
			       &t->has_max, err);
		if (rc)
			return rc;
		if (!t->has_max)
			return fail(err, TF_ESCHEMA, where,
				    "a%s %s needs \"max\" (%s)",
				    t->type == TF_TYPE_ARRAY ? "n" : "",
				    type_name(t->type),
				    t->type == TF_TYPE_STRING ? "bytes"
							      : "items");
		rc = get_count(obj, "min", where, 0, t->max, &t->min,
			       &t->has_min, err);
		if (rc)
			return rc;
		break;
	}
	case TF_TYPE_INTEGER:
	case TF_TYPE_NUMBER:
		rc = get_int(obj, "min", where, &t->min, &t->has_min, err);
		if (rc)
			return rc;
		rc = get_int(obj, "max", where, &t->max, &t->has_max, err);
		if (rc)
			return rc;
		if (t->has_min && t->has_max && t->min > t->max)
			return fail(err, TF_ESCHEMA, where,
				    "\"min\" %lld is greater than \"max\" %lld",
				    (long long)t->min, (long long)t->max);
		break;
	case TF_TYPE_ENUM:
		return parse_enum(obj, t, where, err);
	case TF_TYPE_OBJECT:
		return parse_props(obj, t, depth, where, err);
	case TF_TYPE_BOOLEAN:
	case TF_TYPE_TIMESTAMP:
	case TF_TYPE_UUID:
		break;
	}
	if (t->type != TF_TYPE_ARRAY)
		return 0;
	items = tf_json_object_get(obj, "items");
	if (items == NULL)
		return fail(err, TF_ESCHEMA, where, "an array needs \"items\"");
	if (items->type != TF_JSON_OBJECT)
		return fail(err, TF_ESCHEMA, where,
			    "\"items\" must be a type spec object");
	t->item = calloc(1, sizeof *t->item);
	if (t->item == NULL)
		return fail(err, TF_ENOMEM, where, "out of memory");
	{
		char path[PATH_MAX_];

		path_join(path, where, "[]", NULL);
		return parse_spec(items, t->item, depth + 1, path, NULL, err);
	}
}

/* Structural equality of two type specs (labels ignored). */
static int spec_equal(const tf_type_spec *a, const tf_type_spec *b)
{
	size_t i;

	if (a->type != b->type || a->nullable != b->nullable ||
	    a->has_min != b->has_min || a->has_max != b->has_max ||
	    (a->has_min && a->min != b->min) ||
	    (a->has_max && a->max != b->max) || a->nvalues != b->nvalues ||
	    a->nprops != b->nprops || (a->item == NULL) != (b->item == NULL))
		return 0;
	for (i = 0; i < a->nvalues; i++)
		if (enum_index(b, a->values[i], strlen(a->values[i])) < 0)
			return 0;
	for (i = 0; i < a->nprops; i++)
		if (strcmp(a->props[i].name, b->props[i].name) != 0 ||
		    a->props[i].required != b->props[i].required ||
		    !spec_equal(&a->props[i].spec, &b->props[i].spec))
			return 0;
	return a->item == NULL || spec_equal(a->item, b->item);
}

/* 1 when a value of spec t may be the string `s` (a field name). */
static int spec_accepts_name(const tf_type_spec *t, const char *s)
{
	size_t len = strlen(s);

	if (t->type == TF_TYPE_ENUM)
		return enum_index(t, s, len) >= 0;
	if (t->type == TF_TYPE_STRING)
		return (!t->has_min || (int64_t)len >= t->min) &&
		       (int64_t)len <= t->max;
	return 0;
}

/*
 * Reads a list of declared enum values of f (member `key`, an array) into
 * *out / *n, which must be empty on entry: a new list, never an append.
 */
static int get_values(const tf_field *f, const tf_json *arr, const char *key,
		      int allow_empty, const char *where, char ***out,
		      size_t *n, tf_err *err)
{
	size_t i;

	assert(*out == NULL && *n == 0);
	if (arr->type != TF_JSON_ARRAY || (arr->len == 0 && !allow_empty) ||
	    arr->len > f->type.nvalues)
		return fail(err, TF_ESCHEMA, where,
			    "%s must be an array of %d..%zu enum values", key,
			    allow_empty ? 0 : 1, f->type.nvalues);
	if (arr->len == 0)
		return 0;
	*out = calloc(arr->len, sizeof **out);
	if (*out == NULL)
		return fail(err, TF_ENOMEM, where, "out of memory");
	for (i = 0; i < arr->len; i++) {
		size_t len;
		const char *v = tf_json_str(arr->u.items[i], &len);

		if (v == NULL || enum_index(&f->type, v, len) < 0)
			return fail(err, TF_ESCHEMA, where,
				    "%s[%zu] is not one of the field's enum "
				    "values",
				    key, i);
		if (strv_has(*out, *n, v))
			return fail(err, TF_ESCHEMA, where,
				    "%s names \"%s\" twice", key, v);
		(*out)[*n] = dup_str(v);
		if ((*out)[*n] == NULL)
			return fail(err, TF_ENOMEM, where, "out of memory");
		(*n)++;
	}
	return 0;
}

/* "transitions" and "initial": lww enum fields that cannot be null. */
static int parse_transitions(const tf_json *obj, tf_field *f, const char *where,
			     tf_err *err)
{
	const tf_json *tr = tf_json_object_get(obj, "transitions");
	const tf_json *init = tf_json_object_get(obj, "initial");
	size_t i;
	int rc;

	if (tr == NULL && init == NULL)
		return 0;
	if (f->cls != TF_CLASS_LWW || f->type.type != TF_TYPE_ENUM ||
	    f->type.nullable)
		return fail(err, TF_ESCHEMA, where,
			    "\"%s\" needs an lww field of a non-nullable enum "
			    "type",
			    tr ? "transitions" : "initial");
	if (init) {
		rc = get_values(f, init, "\"initial\"", 0, where, &f->initial,
				&f->ninitial, err);
		if (rc)
			return rc;
	}
	if (tr == NULL)
		return 0;
	if (tr->type != TF_JSON_OBJECT || tr->len == 0)
		return fail(err, TF_ESCHEMA, where,
			    "\"transitions\" must be a non-empty object "
			    "from -> [to, ...]");
	/* Keys are unique (the parser refuses duplicates) and declared. */
	f->transitions = calloc(tr->len, sizeof *f->transitions);
	if (f->transitions == NULL)
		return fail(err, TF_ENOMEM, where, "out of memory");
	for (i = 0; i < tr->len; i++) {
		const tf_json_member *m = &tr->u.members[i];
		tf_transition *t = &f->transitions[i];

		if (enum_index(&f->type, m->key, m->klen) < 0)
			return fail(err, TF_ESCHEMA, where,
				    "\"transitions\" names \"%.64s\", which "
				    "is not one of the field's enum values",
				    m->key);
		t->from = dup_str(m->key);
		if (t->from == NULL)
			return fail(err, TF_ENOMEM, where, "out of memory");
		f->ntransitions = i + 1;
		rc = get_values(f, m->value, "a \"transitions\" target list", 1,
				where, &t->to, &t->nto, err);
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_class(const char *s, tf_class *out)
{
	static const char *const names[] = {NULL,  "lww",  "log",
					    "set", "text", "ref"};
	int i;

	for (i = 1; i <= (int)TF_CLASS_REF; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (tf_class)i;
			return 0;
		}
	return TF_EINVAL;
}

/* 1 when field member `key` belongs to class c. */
static int field_key_allowed(tf_class c, const char *key)
{
	if (!strcmp(key, "class") || !strcmp(key, "offline") ||
	    !strcmp(key, "write_roles"))
		return 1;
	if (!strcmp(key, "history") || !strcmp(key, "transitions") ||
	    !strcmp(key, "initial"))
		return c == TF_CLASS_LWW;
	if (!strcmp(key, "max_entries"))
		return c == TF_CLASS_LOG || c == TF_CLASS_SET;
	if (!strcmp(key, "max_bytes"))
		return c == TF_CLASS_TEXT;
	return 0;
}

/* Parses field `name` of an entity from obj into *f (zeroed). */
static int parse_field(const tf_schema *s, const tf_json *obj, tf_field *f,
		       const char *where, tf_err *err)
{
	const tf_json *cv = tf_json_object_get(obj, "class");
	const tf_json *ov = tf_json_object_get(obj, "offline");
	const tf_json *hv = tf_json_object_get(obj, "history");
	const char *cn;
	int64_t n;
	int has, rc;
	size_t i;

	if (cv == NULL)
		return fail(err, TF_ESCHEMA, where, "\"class\" is missing");
	cn = tf_json_str(cv, NULL);
	if (cn == NULL || parse_class(cn, &f->cls) != 0)
		return fail(err, TF_ESCHEMA, where,
			    "\"class\" must be one of lww, log, set, text, "
			    "ref");
	for (i = 0; i < obj->len; i++) {
		const char *k = obj->u.members[i].key;

		if (in_list(k, field_keys)) {
			if (!field_key_allowed(f->cls, k))
				return fail(err, TF_ESCHEMA, where,
					    "\"%s\" is not allowed for class "
					    "%s",
					    k, tf_class_name(f->cls));
		} else if (f->cls == TF_CLASS_TEXT && in_list(k, spec_keys)) {
			return fail(err, TF_ESCHEMA, where,
				    "\"%s\" is not allowed for class text (a "
				    "text is always a string; its limit is "
				    "\"max_bytes\")",
				    k);
		} else if (!in_list(k, spec_keys)) {
			return fail(err, TF_ESCHEMA, where,
				    "unknown member \"%.40s\"", k);
		}
	}
	if (f->cls == TF_CLASS_TEXT) {
		rc = get_count(obj, "max_bytes", where, 1, BYTES_LIMIT, &n,
			       &has, err);
		if (rc)
			return rc;
		f->max_bytes = has ? (size_t)n : TEXT_BYTES_DEFAULT;
		f->type.type = TF_TYPE_STRING;
		f->type.has_max = 1;
		f->type.max = (int64_t)f->max_bytes;
	} else {
		rc = parse_spec(obj, &f->type, 1, where, field_keys, err);
		if (rc)
			return rc;
	}
	if (f->cls == TF_CLASS_LOG || f->cls == TF_CLASS_SET) {
		rc = get_count(obj, "max_entries", where, 1, ENTRIES_LIMIT, &n,
			       &has, err);
		if (rc)
			return rc;
		f->max_entries = has			  ? (size_t)n
				 : f->cls == TF_CLASS_LOG ? LOG_ENTRIES_DEFAULT
							  : SET_ENTRIES_DEFAULT;
	}
	if (ov) {
		const char *o = tf_json_str(ov, NULL);

		if (o && strcmp(o, "queue") == 0)
			f->offline = TF_OFFLINE_QUEUE;
		else if (o && strcmp(o, "online_only") == 0)
			f->offline = TF_OFFLINE_ONLINE_ONLY;
		else
			return fail(err, TF_ESCHEMA, where,
				    "\"offline\" must be \"queue\" or "
				    "\"online_only\"");
	}
	if (hv) {
		size_t len;
		const char *h = tf_json_str(hv, &len);

		if (h == NULL || !name_valid(h, len))
			return fail(err, TF_ESCHEMA, where,
				    "\"history\" must name a log field of "
				    "this entity");
		f->history = dup_str(h);
		if (f->history == NULL)
			return fail(err, TF_ENOMEM, where, "out of memory");
	}
	rc = parse_transitions(obj, f, where, err);
	if (rc)
		return rc;
	return get_roles(s, obj, "write_roles", where, &f->write_roles,
			 &f->nwrite_roles, err);
}

/*
 * An lww field's history log must accept every entry the merge appends:
 * {"field": <this field's name>, "value": <a value of this field>}.  So the
 * log's body is an object whose "field" prop accepts the name, whose
 * "value" prop has exactly the field's type, and that requires nothing
 * else.
 */
static int check_history(const tf_entity *e, const tf_field *f,
			 const char *where, tf_err *err)
{
	const tf_field *h = tf_entity_field(e, f->history);
	const tf_prop *pf, *pv;
	size_t i;

	if (h == NULL)
		return fail(err, TF_ESCHEMA, where,
			    "\"history\" names \"%s\", which is not a field "
			    "of %s",
			    f->history, e->name);
	if (h->cls != TF_CLASS_LOG)
		return fail(err, TF_ESCHEMA, where,
			    "\"history\" names \"%s\", a %s field; it must "
			    "be a log",
			    h->name, tf_class_name(h->cls));
	if (h->type.type != TF_TYPE_OBJECT)
		return fail(err, TF_ESCHEMA, where,
			    "history log \"%s\" must have object entries "
			    "with props \"field\" and \"value\"",
			    h->name);
	pf = spec_prop(&h->type, "field");
	pv = spec_prop(&h->type, "value");
	if (pf == NULL || !spec_accepts_name(&pf->spec, f->name))
		return fail(err, TF_ESCHEMA, where,
			    "history log \"%s\" needs a prop \"field\" that "
			    "accepts \"%s\"",
			    h->name, f->name);
	if (pv == NULL || !spec_equal(&pv->spec, &f->type))
		return fail(err, TF_ESCHEMA, where,
			    "history log \"%s\" needs a prop \"value\" of "
			    "exactly this field's type",
			    h->name);
	for (i = 0; i < h->type.nprops; i++) {
		const tf_prop *p = &h->type.props[i];

		if (p->required && p != pf && p != pv)
			return fail(err, TF_ESCHEMA, where,
				    "history log \"%s\" requires \"%s\", which "
				    "history entries do not carry",
				    h->name, p->name);
	}
	return 0;
}

static int parse_scope(const tf_json *obj, tf_entity *e, const char *where,
		       tf_err *err)
{
	static const char *const keys[] = {"rule", "field", NULL};
	const tf_json *sc = tf_json_object_get(obj, "scope");
	const tf_json *fv;
	const tf_field *f;
	const char *rule, *fname;
	size_t i;

	if (sc == NULL)
		return fail(err, TF_ESCHEMA, where, "\"scope\" is missing");
	if (sc->type != TF_JSON_OBJECT)
		return fail(err, TF_ESCHEMA, where,
			    "\"scope\" must be an object {rule, field}");
	for (i = 0; i < sc->len; i++)
		if (!in_list(sc->u.members[i].key, keys))
			return fail(err, TF_ESCHEMA, where,
				    "unknown member \"%.40s\" in \"scope\"",
				    sc->u.members[i].key);
	rule = tf_json_get_str(sc, "rule", NULL);
	if (rule == NULL)
		return fail(err, TF_ESCHEMA, where,
			    "\"scope\" needs a \"rule\" string");
	if (strcmp(rule, "agency") == 0)
		e->scope = TF_SCOPE_AGENCY;
	else if (strcmp(rule, "assigned_unit") == 0)
		e->scope = TF_SCOPE_ASSIGNED_UNIT;
	else if (strcmp(rule, "author") == 0)
		e->scope = TF_SCOPE_AUTHOR;
	else if (strcmp(rule, "participant") == 0)
		e->scope = TF_SCOPE_PARTICIPANT;
	else
		return fail(err, TF_ESCHEMA, where,
			    "scope rule must be agency, assigned_unit, "
			    "author or participant");
	fv = tf_json_object_get(sc, "field");
	if (e->scope == TF_SCOPE_AGENCY) {
		if (fv)
			return fail(err, TF_ESCHEMA, where,
				    "scope rule agency takes no \"field\"");
		return 0;
	}
	fname = fv ? tf_json_str(fv, NULL) : NULL;
	if (fname == NULL)
		return fail(err, TF_ESCHEMA, where,
			    "scope rule %s needs a \"field\" name",
			    tf_scope_name(e->scope));
	f = tf_entity_field(e, fname);
	if (f == NULL)
		return fail(err, TF_ESCHEMA, where,
			    "scope field \"%.40s\" is not a field of %s", fname,
			    e->name);
	/*
	 * The rule compares the field with a unit callsign or a user id, so
	 * the values are strings: a set of them, or one lww value (an
	 * assignment names one unit; a report one author).
	 */
	if (f->type.type != TF_TYPE_STRING ||
	    (e->scope == TF_SCOPE_ASSIGNED_UNIT && f->cls != TF_CLASS_SET &&
	     f->cls != TF_CLASS_LWW) ||
	    (e->scope == TF_SCOPE_AUTHOR && f->cls != TF_CLASS_LWW) ||
	    (e->scope == TF_SCOPE_PARTICIPANT && f->cls != TF_CLASS_SET))
		return fail(err, TF_ESCHEMA, where,
			    "scope rule %s needs %s of strings; \"%s\" is a "
			    "%s field of type %s",
			    tf_scope_name(e->scope),
			    e->scope == TF_SCOPE_ASSIGNED_UNIT
				    ? "a set or an lww field"
			    : e->scope == TF_SCOPE_AUTHOR ? "an lww field"
							  : "a set field",
			    f->name, tf_class_name(f->cls),
			    type_name(f->type.type));
	e->scope_field = dup_str(f->name);
	if (e->scope_field == NULL)
		return fail(err, TF_ENOMEM, where, "out of memory");
	return 0;
}

static int field_cmp(const void *a, const void *b)
{
	return strcmp(((const tf_field *)a)->name, ((const tf_field *)b)->name);
}

static int parse_entity(const tf_schema *s, const tf_json *obj, tf_entity *e,
			tf_err *err)
{
	static const char *const keys[] = {"scope", "read_roles", "write_roles",
					   "fields", NULL};
	const tf_json *fields = tf_json_object_get(obj, "fields");
	const char *where = e->name;
	size_t i;
	int rc;

	for (i = 0; i < obj->len; i++)
		if (!in_list(obj->u.members[i].key, keys))
			return fail(err, TF_ESCHEMA, where,
				    "unknown member \"%.40s\"",
				    obj->u.members[i].key);
	if (tf_json_object_get(obj, "write_roles") == NULL)
		return fail(err, TF_ESCHEMA, where,
			    "\"write_roles\" is missing");
	rc = get_roles(s, obj, "write_roles", where, &e->write_roles,
		       &e->nwrite_roles, err);
	if (rc)
		return rc;
	rc = get_roles(s, obj, "read_roles", where, &e->read_roles,
		       &e->nread_roles, err);
	if (rc)
		return rc;
	if (fields == NULL || fields->type != TF_JSON_OBJECT ||
	    fields->len == 0 || fields->len > TF_SCHEMA_MAX_FIELDS)
		return fail(err, TF_ESCHEMA, where,
			    "\"fields\" must be an object of 1..%d fields",
			    TF_SCHEMA_MAX_FIELDS);
	e->fields = calloc(fields->len, sizeof *e->fields);
	if (e->fields == NULL)
		return fail(err, TF_ENOMEM, where, "out of memory");
	for (i = 0; i < fields->len; i++) {
		const tf_json_member *m = &fields->u.members[i];
		tf_field *f = &e->fields[i];
		char path[PATH_MAX_];

		path_join(path, where, ".", m->key);
		if (!name_valid(m->key, m->klen))
			return fail(err, TF_ESCHEMA, path,
				    "field name must match [a-z][a-z0-9_]* "
				    "and be at most %d bytes",
				    TF_NAME_MAX);
		if (m->value->type != TF_JSON_OBJECT)
			return fail(err, TF_ESCHEMA, path,
				    "a field must be an object, not %s",
				    json_type_name(m->value));
		f->name = dup_str(m->key);
		if (f->name == NULL)
			return fail(err, TF_ENOMEM, path, "out of memory");
		e->nfields = i + 1;
		rc = parse_field(s, m->value, f, path, err);
		if (rc)
			return rc;
	}
	qsort(e->fields, e->nfields, sizeof *e->fields, field_cmp);
	for (i = 0; i < e->nfields; i++)
		e->fields[i].index = i;
	for (i = 0; i < e->nfields; i++) {
		char path[PATH_MAX_];

		if (e->fields[i].history == NULL)
			continue;
		path_join(path, where, ".", e->fields[i].name);
		rc = check_history(e, &e->fields[i], path, err);
		if (rc)
			return rc;
	}
	return parse_scope(obj, e, where, err);
}

static int entity_cmp(const void *a, const void *b)
{
	return strcmp(((const tf_entity *)a)->name,
		      ((const tf_entity *)b)->name);
}

static int parse_roles_list(const tf_json *root, tf_schema *s, tf_err *err)
{
	const tf_json *roles = tf_json_object_get(root, "roles");
	size_t i;

	assert(s->roles == NULL && s->nroles == 0);
	if (roles == NULL || roles->type != TF_JSON_ARRAY || roles->len == 0 ||
	    roles->len > TF_SCHEMA_MAX_ROLES)
		return fail(err, TF_ESCHEMA, "schema",
			    "\"roles\" must be an array of 1..%d role names",
			    TF_SCHEMA_MAX_ROLES);
	s->roles = calloc(roles->len, sizeof *s->roles);
	if (s->roles == NULL)
		return fail(err, TF_ENOMEM, "schema", "out of memory");
	for (i = 0; i < roles->len; i++) {
		size_t len;
		const char *r = tf_json_str(roles->u.items[i], &len);

		if (r == NULL || !name_valid(r, len))
			return fail(err, TF_ESCHEMA, "schema",
				    "\"roles\"[%zu] must be a name matching "
				    "[a-z][a-z0-9_]* of at most %d bytes",
				    i, TF_NAME_MAX);
		if (tf_schema_has_role(s, r))
			return fail(err, TF_ESCHEMA, "schema",
				    "role \"%s\" is listed twice", r);
		s->roles[i] = dup_str(r);
		if (s->roles[i] == NULL)
			return fail(err, TF_ENOMEM, "schema", "out of memory");
		s->nroles = i + 1;
	}
	return 0;
}

static int parse_schema(const tf_json *root, tf_schema *s, tf_err *err)
{
	static const char *const keys[] = {"schema_version", "roles",
					   "entities", NULL};
	const tf_json *ents;
	size_t i;
	int has, rc;

	if (root->type != TF_JSON_OBJECT)
		return fail(err, TF_ESCHEMA, "schema",
			    "the document must be an object, not %s",
			    json_type_name(root));
	for (i = 0; i < root->len; i++)
		if (!in_list(root->u.members[i].key, keys))
			return fail(err, TF_ESCHEMA, "schema",
				    "unknown member \"%.40s\"",
				    root->u.members[i].key);
	rc = get_count(root, "schema_version", "schema", 1, VERSION_MAX,
		       &s->version, &has, err);
	if (rc)
		return rc;
	if (!has)
		return fail(err, TF_ESCHEMA, "schema",
			    "\"schema_version\" is missing");
	rc = parse_roles_list(root, s, err);
	if (rc)
		return rc;
	ents = tf_json_object_get(root, "entities");
	if (ents == NULL || ents->type != TF_JSON_OBJECT || ents->len == 0 ||
	    ents->len > TF_SCHEMA_MAX_ENTITIES)
		return fail(err, TF_ESCHEMA, "schema",
			    "\"entities\" must be an object of 1..%d entities",
			    TF_SCHEMA_MAX_ENTITIES);
	s->entities = calloc(ents->len, sizeof *s->entities);
	if (s->entities == NULL)
		return fail(err, TF_ENOMEM, "schema", "out of memory");
	for (i = 0; i < ents->len; i++) {
		const tf_json_member *m = &ents->u.members[i];
		tf_entity *e = &s->entities[i];

		if (!name_valid(m->key, m->klen)) {
			char path[PATH_MAX_];

			path_join(path, m->key, NULL, NULL);
			return fail(err, TF_ESCHEMA, path,
				    "entity name must match [a-z][a-z0-9_]* "
				    "and be at most %d bytes",
				    TF_NAME_MAX);
		}
		if (m->value->type != TF_JSON_OBJECT)
			return fail(err, TF_ESCHEMA, m->key,
				    "an entity must be an object, not %s",
				    json_type_name(m->value));
		e->name = dup_str(m->key);
		if (e->name == NULL)
			return fail(err, TF_ENOMEM, m->key, "out of memory");
		s->nentities = i + 1;
		rc = parse_entity(s, m->value, e, err);
		if (rc)
			return rc;
	}
	qsort(s->entities, s->nentities, sizeof *s->entities, entity_cmp);
	for (i = 0; i < s->nentities; i++)
		s->entities[i].index = i;
	return 0;
}

int tf_schema_load(const char *json, size_t len, tf_schema **out, tf_err *err)
{
	tf_json *root = NULL;
	tf_schema *s = NULL;
	int rc;

	assert(out != NULL);
	*out = NULL;
	if (json == NULL && len > 0)
		return fail(err, TF_EINVAL, "schema", "no input");
	rc = tf_json_parse(json ? json : "", len, NULL, &root, err);
	if (rc)
		goto out;
	s = calloc(1, sizeof *s);
	if (s == NULL) {
		rc = fail(err, TF_ENOMEM, "schema", "out of memory");
		goto out;
	}
	rc = parse_schema(root, s, err);
	if (rc)
		goto out;
	*out = s;
	s = NULL;
out:
	tf_schema_free(s);
	tf_json_free(root);
	return rc;
}

/* ------------------------------------------------------ value checking */

/*
 * A JSON number split into its parts, for exact comparison with an
 * integer bound: value = (-1)^neg * 0.D * 10^point, where D are the
 * significant digits (integer digits then fraction digits, leading zeros
 * skipped).  The exponent saturates at +-10^15, far beyond any int64 bound
 * or any number text the parser accepts, so the comparison stays exact.
 */
typedef struct dec {
	int neg;
	const char *ip, *fp; /* integer and fraction digits */
	size_t ni, nf;
	int64_t exp;
} dec;

#define EXP_SAT INT64_C(1000000000000000)

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Splits number text by the RFC 8259 grammar; TF_ETYPE if it does not fit. */
static int dec_parse(const char *s, size_t len, dec *d)
{
	size_t i = 0;
	int eneg = 0;

	memset(d, 0, sizeof *d);
	if (i < len && s[i] == '-') {
		d->neg = 1;
		i++;
	}
	d->ip = s + i;
	if (i < len && s[i] == '0') {
		i++;
	} else {
		if (i >= len || s[i] < '1' || s[i] > '9')
			return TF_ETYPE;
		while (i < len && is_digit(s[i]))
			i++;
	}
	d->ni = (size_t)(s + i - d->ip);
	if (i < len && s[i] == '.') {
		i++;
		d->fp = s + i;
		while (i < len && is_digit(s[i]))
			i++;
		d->nf = (size_t)(s + i - d->fp);
		if (d->nf == 0)
			return TF_ETYPE;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		size_t start;

		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			eneg = s[i++] == '-';
		start = i;
		while (i < len && is_digit(s[i])) {
			if (d->exp < EXP_SAT)
				d->exp = d->exp * 10 + (s[i] - '0');
			i++;
		}
		if (i == start)
			return TF_ETYPE;
		if (d->exp > EXP_SAT)
			d->exp = EXP_SAT;
		if (eneg)
			d->exp = -d->exp;
	}
	return i == len ? 0 : TF_ETYPE;
}

static char dec_digit(const dec *d, size_t j)
{
	return j < d->ni ? d->ip[j] : d->fp[j - d->ni];
}

/* Sign of (number d) - (integer b): -1, 0 or 1, exactly. */
static int dec_cmp_int(const dec *d, int64_t b)
{
	size_t nd = d->ni + d->nf, k = 0, j, m;
	int sv, sb, mag = 0;
	uint64_t ub;
	char bd[24];
	int64_t point;

	while (k < nd && dec_digit(d, k) == '0')
		k++;
	sv = k == nd ? 0 : d->neg ? -1 : 1;
	sb = b == 0 ? 0 : b < 0 ? -1 : 1;
	if (sv != sb)
		return sv < sb ? -1 : 1;
	if (sv == 0)
		return 0;
	ub = b < 0 ? (uint64_t)(-(b + 1)) + 1 : (uint64_t)b;
	m = (size_t)snprintf(bd, sizeof bd, "%" PRIu64, ub);
	point = (int64_t)d->ni - (int64_t)k + d->exp;
	if (point != (int64_t)m) {
		mag = point < (int64_t)m ? -1 : 1;
	} else {
		for (j = 0; j < nd - k || j < m; j++) {
			char dv = k + j < nd ? dec_digit(d, k + j) : '0';
			char db = j < m ? bd[j] : '0';

			if (dv != db) {
				mag = dv < db ? -1 : 1;
				break;
			}
		}
	}
	return sv > 0 ? mag : -mag;
}

static int check_at(const tf_type_spec *t, const tf_json *v, char *path,
		    tf_err *err);

static int check_range(const tf_type_spec *t, int below, int above,
		       const char *shown, const char *path, tf_err *err)
{
	if (below)
		return fail(err, TF_ERANGE, path,
			    "%s is less than the minimum %lld", shown,
			    (long long)t->min);
	if (above)
		return fail(err, TF_ERANGE, path,
			    "%s is greater than the maximum %lld", shown,
			    (long long)t->max);
	return 0;
}

static int check_number(const tf_type_spec *t, const tf_json *v,
			const char *path, tf_err *err)
{
	dec d;
	char shown[48];

	if (dec_parse(v->u.str, v->len, &d) != 0)
		return fail(err, TF_ETYPE, path, "malformed number");
	snprintf(shown, sizeof shown, "%.40s%s", v->u.str,
		 v->len > 40 ? "..." : "");
	return check_range(t, t->has_min && dec_cmp_int(&d, t->min) < 0,
			   t->has_max && dec_cmp_int(&d, t->max) > 0, shown,
			   path, err);
}

static int check_integer(const tf_type_spec *t, const tf_json *v,
			 const char *path, tf_err *err)
{
	int64_t n;
	char shown[24];
	int rc = tf_json_int64(v, &n);

	if (rc == TF_ERANGE)
		return fail(err, TF_ERANGE, path,
			    "integer outside the 64-bit range");
	if (rc)
		return fail(err, TF_ETYPE, path,
			    "expected an integer (no fraction or exponent)");
	if (t->type == TF_TYPE_TIMESTAMP) {
		if (n < 0 || n > TF_HLC_MAX_MS)
			return fail(err, TF_ERANGE, path,
				    "timestamp %lld is outside 0..%lld ms",
				    (long long)n, (long long)TF_HLC_MAX_MS);
		return 0;
	}
	snprintf(shown, sizeof shown, "%lld", (long long)n);
	return check_range(t, t->has_min && n < t->min,
			   t->has_max && n > t->max, shown, path, err);
}

static int check_enum(const tf_type_spec *t, const tf_json *v, const char *path,
		      tf_err *err)
{
	char list[120];
	size_t i, n = 0;

	if (enum_index(t, v->u.str, v->len) >= 0)
		return 0;
	list[0] = '\0';
	for (i = 0; i < t->nvalues && n < sizeof list - 1; i++) {
		int w = snprintf(list + n, sizeof list - n, "%s%s",
				 i ? ", " : "", t->values[i]);

		if (w < 0)
			break;
		n += (size_t)w;
	}
	if (n >= sizeof list - 1)
		memcpy(list + sizeof list - 4, "...", 4);
	return fail(err, TF_EVALIDATE, path, "\"%.40s\" is not one of: %s",
		    v->u.str, list);
}

static int check_object(const tf_type_spec *t, const tf_json *v, char *path,
			tf_err *err)
{
	size_t plen = strlen(path), i;
	int rc = 0;

	for (i = 0; i < v->len && rc == 0; i++) {
		const tf_json_member *m = &v->u.members[i];
		const tf_prop *p = spec_prop(t, m->key);

		path_push(path, ".", m->key, NULL);
		if (p == NULL)
			rc = fail(err, TF_EUNKNOWN, path,
				  "unknown member \"%.40s\"", m->key);
		else
			rc = check_at(&p->spec, m->value, path, err);
		path[plen] = '\0';
	}
	for (i = 0; i < t->nprops && rc == 0; i++) {
		const tf_prop *p = &t->props[i];

		if (!p->required || tf_json_object_get(v, p->name) != NULL)
			continue;
		path_push(path, ".", p->name, NULL);
		rc = fail(err, TF_EMISSING, path, "required member missing");
		path[plen] = '\0';
	}
	return rc;
}

static int check_array(const tf_type_spec *t, const tf_json *v, char *path,
		       tf_err *err)
{
	size_t plen = strlen(path), i;
	int rc = 0;

	if (t->item == NULL)
		return fail(err, TF_EINVAL, path, "array spec without items");
	if (t->has_max && (int64_t)v->len > t->max)
		return fail(err, TF_ELIMIT, path,
			    "array of %zu items exceeds the maximum of %lld",
			    v->len, (long long)t->max);
	if (t->has_min && (int64_t)v->len < t->min)
		return fail(err, TF_EVALIDATE, path,
			    "array of %zu items has fewer than the minimum "
			    "%lld",
			    v->len, (long long)t->min);
	for (i = 0; i < v->len && rc == 0; i++) {
		char idx[24];

		snprintf(idx, sizeof idx, "[%zu]", i);
		path_push(path, idx, NULL, NULL);
		rc = check_at(t->item, v->u.items[i], path, err);
		path[plen] = '\0';
	}
	return rc;
}

/*
 * Checks v against t.  path is a PATH_MAX_ buffer holding the value's
 * name; nested checks extend it and restore it before returning.
 * Recursion follows the spec, so it is at most TF_SCHEMA_MAX_DEPTH deep
 * (for specs from tf_schema_load).
 */
static int check_at(const tf_type_spec *t, const tf_json *v, char *path,
		    tf_err *err)
{
	static const tf_json_type want[] = {
		TF_JSON_NULL,	TF_JSON_STRING, TF_JSON_NUMBER, TF_JSON_NUMBER,
		TF_JSON_TRUE,	TF_JSON_STRING, TF_JSON_NUMBER, TF_JSON_STRING,
		TF_JSON_OBJECT, TF_JSON_ARRAY,
	};
	tf_json_type got;

	if (v->type == TF_JSON_NULL) {
		if (t->nullable)
			return 0;
		return fail(err, TF_ETYPE, path,
			    "expected %s, got null (not nullable)",
			    type_name(t->type));
	}
	got = v->type == TF_JSON_FALSE ? TF_JSON_TRUE : v->type;
	if ((int)t->type < 1 || (int)t->type > (int)TF_TYPE_ARRAY)
		return fail(err, TF_EINVAL, path, "invalid type spec");
	if (got != want[t->type])
		return fail(err, TF_ETYPE, path, "expected %s, got %s",
			    type_name(t->type), json_type_name(v));
	switch (t->type) {
	case TF_TYPE_STRING:
		if (t->has_max && (int64_t)v->len > t->max)
			return fail(err, TF_ELIMIT, path,
				    "string of %zu bytes exceeds the maximum "
				    "of %lld bytes",
				    v->len, (long long)t->max);
		if (t->has_min && (int64_t)v->len < t->min)
			return fail(err, TF_EVALIDATE, path,
				    "string of %zu bytes is shorter than the "
				    "minimum of %lld bytes",
				    v->len, (long long)t->min);
		return 0;
	case TF_TYPE_INTEGER:
	case TF_TYPE_TIMESTAMP:
		return check_integer(t, v, path, err);
	case TF_TYPE_NUMBER:
		return check_number(t, v, path, err);
	case TF_TYPE_BOOLEAN:
		return 0;
	case TF_TYPE_ENUM:
		return check_enum(t, v, path, err);
	case TF_TYPE_UUID:
		if (!tf_uuid_valid(v->u.str, v->len))
			return fail(err, TF_EVALIDATE, path,
				    "\"%.40s\" is not a canonical lower-case "
				    "UUID",
				    v->u.str);
		return 0;
	case TF_TYPE_OBJECT:
		return check_object(t, v, path, err);
	case TF_TYPE_ARRAY:
		return check_array(t, v, path, err);
	}
	return fail(err, TF_EINVAL, path, "invalid type spec");
}

int tf_schema_check_value(const tf_type_spec *spec, const tf_json *v,
			  const char *where, tf_err *err)
{
	char path[PATH_MAX_];

	if (spec == NULL || v == NULL)
		return tf_err_set(err, TF_EINVAL, where,
				  "%s: no value or no type spec",
				  where ? where : "value");
	path_join(path, where ? where : "value", NULL, NULL);
	return check_at(spec, v, path, err);
}

/*
 * schema.h - entity schemas: per field a merge class, a value type with
 * limits, an offline policy and write roles; per entity a scope rule.
 * Loaded once (schemas/cad.json) and read-only afterwards, so one
 * tf_schema may be shared by any number of replicas and threads.
 *
 * Schema file format: docs/PROTOCOL.md, section "Schema".
 */
#ifndef TENFOUR_SCHEMA_H
#define TENFOUR_SCHEMA_H

#include "tenfour/json.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tf_class {
	TF_CLASS_LWW = 1,
	TF_CLASS_LOG,
	TF_CLASS_SET,
	TF_CLASS_TEXT,
	TF_CLASS_REF
} tf_class;

typedef enum tf_type {
	TF_TYPE_STRING = 1, /* max = bytes */
	TF_TYPE_INTEGER,    /* min/max inclusive */
	TF_TYPE_NUMBER,     /* JSON number; exact decimal compare to min/max */
	TF_TYPE_BOOLEAN,
	TF_TYPE_ENUM,      /* one of values[] */
	TF_TYPE_TIMESTAMP, /* integer ms since epoch, 0 .. 2^48-1 */
	TF_TYPE_UUID,      /* canonical lower-case UUID text */
	TF_TYPE_OBJECT,    /* fields[]; unknown members rejected */
	TF_TYPE_ARRAY      /* items of `item` type, at most max */
} tf_type;

typedef enum tf_offline { TF_OFFLINE_QUEUE = 0, TF_OFFLINE_ONLINE_ONLY } tf_offline;

typedef enum tf_scope {
	TF_SCOPE_AGENCY = 1,   /* every device of the agency */
	TF_SCOPE_ASSIGNED_UNIT, /* devices whose unit is in scope_field (a set)
				   or equals it (an lww string field) */
	TF_SCOPE_AUTHOR,        /* the user named by scope_field (lww) */
	TF_SCOPE_PARTICIPANT    /* users in scope_field (a set) */
} tf_scope;

typedef struct tf_type_spec tf_type_spec;
typedef struct tf_prop tf_prop;

struct tf_type_spec {
	tf_type type;
	int has_min, has_max;
	int64_t min, max;    /* INTEGER/NUMBER range; STRING/ARRAY length */
	char **values;       /* ENUM, in schema-file order */
	size_t nvalues;
	char **labels;       /* ENUM: display label per value (NULL entries for
				values without one); NULL when no "labels" */
	tf_prop *props;      /* OBJECT members, sorted by name */
	size_t nprops;
	tf_type_spec *item;  /* ARRAY element type */
	int nullable;        /* JSON null accepted */
};

struct tf_prop {
	char *name;
	int required;
	tf_type_spec spec;
};

typedef struct tf_transition {
	char *from;
	char **to;
	size_t nto;
} tf_transition;

typedef struct tf_field {
	char *name;
	size_t index; /* position in entity->fields */
	tf_class cls;
	tf_type_spec type;  /* lww/ref value; set element; log entry body */
	tf_offline offline;
	size_t max_entries; /* log: entries kept; set: elements */
	size_t max_bytes;   /* text: bytes of the text */
	char *history;      /* lww: log field that records every set, or NULL */
	tf_transition *transitions; /* lww enum: allowed from -> to; none = any */
	size_t ntransitions;
	char **initial; /* lww enum: allowed first values; none = any */
	size_t ninitial;
	char **write_roles; /* NULL = the entity's write_roles */
	size_t nwrite_roles;
} tf_field;

typedef struct tf_entity {
	char *name;
	size_t index;
	tf_field *fields; /* sorted by name (strcmp) */
	size_t nfields;
	tf_scope scope;
	char *scope_field; /* the field the scope rule reads, or NULL */
	char **read_roles; /* roles that see every record regardless of scope */
	size_t nread_roles;
	char **write_roles; /* roles that may send commands for this entity */
	size_t nwrite_roles;
} tf_entity;

typedef struct tf_schema {
	int64_t version; /* schema_version carried by every message */
	tf_entity *entities; /* sorted by name (strcmp) */
	size_t nentities;
	char **roles; /* the "roles" list, in schema-file order */
	size_t nroles;
} tf_schema;

/* Schema limits: entities, fields per entity, enum values, nesting. */
#define TF_SCHEMA_MAX_ENTITIES 64
#define TF_SCHEMA_MAX_FIELDS 64
#define TF_SCHEMA_MAX_VALUES 64
#define TF_SCHEMA_MAX_DEPTH 4
#define TF_SCHEMA_MAX_ROLES 32
#define TF_NAME_MAX 32 /* entity and field names: [a-z][a-z0-9_]* */

/*
 * Loads a schema document.  Errors: TF_EJSON & co. from the parser,
 * TF_ESCHEMA with err->where naming "entity.field" and a message saying
 * what is wrong.  On success *out is owned by the caller.
 */
int tf_schema_load(const char *json, size_t len, tf_schema **out, tf_err *err);
void tf_schema_free(tf_schema *s);

const tf_entity *tf_schema_entity(const tf_schema *s, const char *name);
const tf_field *tf_entity_field(const tf_entity *e, const char *name);

/*
 * Checks a value against a type; `where` names it in messages
 * ("incident.location.lat").  TF_ETYPE, TF_ERANGE, TF_ELIMIT, TF_EUNKNOWN,
 * TF_EMISSING, TF_EVALIDATE with err->where = the path.
 */
int tf_schema_check_value(const tf_type_spec *spec, const tf_json *v,
			  const char *where, tf_err *err);

/*
 * 1 when the field has no transition table or from -> to is listed; from ==
 * to is always allowed (no change).  from NULL (the field has no value yet)
 * is allowed when the field has no "initial" list or `to` is on it.
 */
int tf_field_transition_allowed(const tf_field *f, const char *from,
				const char *to);
/* 1 when `role` may write the field (field roles, else entity roles). */
int tf_field_role_may_write(const tf_entity *e, const tf_field *f,
			    const char *role);

/* 1 when `role` is one of the schema's roles. */
int tf_schema_has_role(const tf_schema *s, const char *role);
/* The display label of enum value `value`, or NULL when it has none. */
const char *tf_enum_label(const tf_type_spec *spec, const char *value);

const char *tf_class_name(tf_class c);
const char *tf_scope_name(tf_scope s);

#ifdef __cplusplus
}
#endif
#endif

/*
 * acl.c - tenfourd's access rules for sync: write roles from the schema,
 * the server's own policy table, and scope through the core's
 * tf_policy_in_scope.  Design: ARCHITECTURE.md section 4 ("Scopes"),
 * docs/PROTOCOL.md section 3 (write_roles, the report approval rule).
 */
#include "server/acl.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Server policy rules the schema cannot express because they depend on
 * who is asking; the schema lets every role in write_roles write the
 * field, only the server knows the caller.  Two kinds:
 *
 * RULE_VALUE: setting `field` of `entity` to `value` (create, set) needs
 * `role`.  report.status "approved": the schema allows the transition
 * submitted -> approved for everybody who may write the field (officers
 * and supervisors); only a supervisor approves.
 *
 * RULE_OWN (AC-6 least privilege): a caller whose only roles that may
 * write what a command of `entity` writes are `role` may write a record
 * only when its `field` value equals the caller's unit (user.unit), and
 * creates none.  unit.callsign, officer: unit is agency-scope and the
 * officer is in its write_roles (so every MDT can set its own status,
 * position and crew), but an officer must not set another unit's.  A
 * caller who also holds a role the schema lets write it (dispatcher,
 * supervisor, service) is not bound by it.  The callsign is a ref field
 * only the service writes, so an officer cannot make a unit his.
 */
enum { RULE_VALUE = 1, RULE_OWN = 2 };

static const struct acl_rule {
	int kind;
	const char *entity;
	const char *field;
	const char *value; /* RULE_VALUE only */
	const char *role;
} acl_rules[] = {
	{RULE_VALUE, "report", "status", "approved", "supervisor"},
	{RULE_OWN, "unit", "callsign", NULL, "officer"},
};

void tf_acl_principal(const tf_srv_caller *c, tf_principal *out)
{
	size_t i;

	assert(c != NULL && out != NULL);
	memset(out, 0, sizeof *out);
	out->user = c->user.id;
	out->unit = c->user.unit[0] ? c->user.unit : NULL;
	out->agency = c->user.agency;
	for (i = 0; i < c->user.nroles && i < TF_POLICY_MAX_ROLES; i++)
		out->roles[out->nroles++] = c->user.roles[i];
}

int tf_acl_has_role(const tf_srv_caller *c, const char *role)
{
	size_t i;

	for (i = 0; i < c->user.nroles && i < TF_POLICY_MAX_ROLES; i++)
		if (strcmp(c->user.roles[i], role) == 0)
			return 1;
	return 0;
}

const char *tf_acl_may_write(const tf_srv_caller *c, const tf_entity *e,
			     const tf_field *f)
{
	size_t i, k;

	assert(e != NULL);
	for (i = 0; i < c->user.nroles && i < TF_POLICY_MAX_ROLES; i++) {
		const char *role = c->user.roles[i];
		if (f) {
			if (tf_field_role_may_write(e, f, role))
				return role;
			continue;
		}
		for (k = 0; k < e->nwrite_roles; k++)
			if (strcmp(e->write_roles[k], role) == 0)
				return role;
	}
	return NULL;
}

static int refuse(tf_acl_refusal *ref, int code, const char *field,
		  const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	__attribute__((format(printf, 4, 5)))
#endif
	;

static int refuse(tf_acl_refusal *ref, int code, const char *field,
		  const char *fmt, ...)
{
	va_list ap;

	ref->code = code;
	snprintf(ref->field, sizeof ref->field, "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(ref->message, sizeof ref->message, fmt, ap);
	va_end(ap);
	return 1;
}

/* The field part of an error place ("incident.priority" -> "priority"). */
static void field_of(const tf_err *e, char *out, size_t n)
{
	const char *dot = strchr(e->where, '.');

	snprintf(out, n, "%s", dot ? dot + 1 : "");
}

/* Write permission on one named field; 0 allowed, 1 refused. */
static int check_field(const tf_srv_caller *c, const tf_entity *e,
		       const char *name, const char **role, tf_acl_refusal *ref)
{
	const tf_field *f = tf_entity_field(e, name);
	const char *r;

	if (f == NULL) /* validation already refused unknown fields */
		return refuse(ref, TF_EUNKNOWN, name, "%s.%s: unknown field",
			      e->name, name);
	r = tf_acl_may_write(c, e, f);
	if (r == NULL)
		return refuse(ref, TF_EPERM, name,
			      "%s.%s: none of your roles may write it", e->name,
			      name);
	if (*role == NULL)
		*role = r;
	return 0;
}

/* The policy table over the values a create or set gives. */
static int check_rules(const tf_srv_caller *c, const tf_command *cmd,
		       const tf_json *fields, tf_acl_refusal *ref)
{
	size_t i;

	for (i = 0; i < sizeof acl_rules / sizeof acl_rules[0]; i++) {
		const struct acl_rule *r = &acl_rules[i];
		const tf_json *v;
		if (r->kind != RULE_VALUE ||
		    strcmp(cmd->entity, r->entity) != 0)
			continue;
		v = tf_json_object_get(fields, r->field);
		if (v == NULL || v->type != TF_JSON_STRING ||
		    strcmp(v->u.str, r->value) != 0)
			continue;
		if (!tf_acl_has_role(c, r->role))
			return refuse(ref, TF_EPERM, r->field,
				      "%s.%s \"%s\" needs the role %s",
				      r->entity, r->field, r->value, r->role);
	}
	return 0;
}

int tf_acl_check_command(const tf_schema *s, const tf_srv_caller *c,
			 const tf_command *cmd, const char **role,
			 tf_acl_refusal *ref)
{
	const tf_entity *e;
	const tf_json *fields = NULL;
	tf_err err;
	size_t i;
	int rc;

	assert(s != NULL && c != NULL && cmd != NULL && ref != NULL);
	memset(ref, 0, sizeof *ref);
	*role = NULL;
	if (strcmp(cmd->user, c->user.id) != 0)
		return refuse(ref, TF_EPERM, "user",
			      "command by %s sent in %s's session", cmd->user,
			      c->user.id);
	tf_err_clear(&err);
	rc = tf_command_validate(s, cmd, 1, &err);
	if (rc == TF_ENOMEM)
		return rc;
	if (rc) {
		char field[64];
		field_of(&err, field, sizeof field);
		return refuse(ref, rc, field, "%s", err.msg);
	}
	e = tf_schema_entity(s, cmd->entity);
	assert(e != NULL); /* validated */
	switch (cmd->op) {
	case TF_OP_CREATE:
	case TF_OP_SET:
	case TF_OP_REF_SET:
		fields = tf_json_object_get(cmd->args, "fields");
		if (fields == NULL || fields->type != TF_JSON_OBJECT)
			return refuse(ref, TF_EVALIDATE, "fields",
				      "args.fields must be an object");
		for (i = 0; i < fields->len; i++)
			if (check_field(c, e, fields->u.members[i].key, role,
					ref))
				return 1;
		break;
	default: {
		const char *name = tf_json_get_str(cmd->args, "field", NULL);
		if (name == NULL)
			return refuse(ref, TF_EVALIDATE, "field",
				      "args.field must be a string");
		if (check_field(c, e, name, role, ref))
			return 1;
		break;
	}
	}
	if (*role == NULL) {
		/* A create naming no field: the entity's write roles. */
		*role = tf_acl_may_write(c, e, NULL);
		if (*role == NULL)
			return refuse(ref, TF_EPERM, "",
				      "%s: none of your roles may write it",
				      e->name);
	}
	if (cmd->op == TF_OP_REF_SET && !tf_acl_has_role(c, "service"))
		return refuse(ref, TF_EPERM, "",
			      "ref_set is for service accounts");
	if (fields && cmd->op != TF_OP_REF_SET)
		return check_rules(c, cmd, fields, ref);
	return 0;
}

/*
 * 1 when `role` may write everything cmd writes: each field it names
 * (args.fields' keys, or args.field), or the entity when it names none.
 * The command passed tf_acl_check_command, so its args have that shape.
 */
static int role_writes_cmd(const tf_entity *e, const tf_command *cmd,
			   const char *role)
{
	const tf_json *fields = tf_json_object_get(cmd->args, "fields");
	const char *name = tf_json_get_str(cmd->args, "field", NULL);
	const tf_field *f;
	size_t i;

	if (fields && fields->type == TF_JSON_OBJECT && fields->len) {
		for (i = 0; i < fields->len; i++) {
			f = tf_entity_field(e, fields->u.members[i].key);
			if (f == NULL || !tf_field_role_may_write(e, f, role))
				return 0;
		}
		return 1;
	}
	if (name) {
		f = tf_entity_field(e, name);
		return f != NULL && tf_field_role_may_write(e, f, role);
	}
	for (i = 0; i < e->nwrite_roles; i++)
		if (strcmp(e->write_roles[i], role) == 0)
			return 1;
	return 0;
}

/* 1 when one of the caller's roles other than `except` may write cmd. */
static int other_role_writes(const tf_srv_caller *c, const tf_entity *e,
			     const tf_command *cmd, const char *except)
{
	size_t i;

	for (i = 0; i < c->user.nroles && i < TF_POLICY_MAX_ROLES; i++)
		if (strcmp(c->user.roles[i], except) != 0 &&
		    role_writes_cmd(e, cmd, c->user.roles[i]))
			return 1;
	return 0;
}

int tf_acl_check_record(const tf_schema *s, const tf_srv_caller *c,
			const tf_command *cmd, const tf_json *state,
			tf_acl_refusal *ref)
{
	const tf_entity *e = NULL;
	size_t i;

	assert(s != NULL && c != NULL && cmd != NULL && ref != NULL);
	memset(ref, 0, sizeof *ref);
	for (i = 0; i < sizeof acl_rules / sizeof acl_rules[0]; i++) {
		const struct acl_rule *r = &acl_rules[i];
		const tf_json *v;
		if (r->kind != RULE_OWN ||
		    strcmp(cmd->entity, r->entity) != 0 ||
		    !tf_acl_has_role(c, r->role))
			continue;
		if (e == NULL)
			e = tf_schema_entity(s, cmd->entity);
		if (e == NULL)
			return refuse(ref, TF_EUNKNOWN, "",
				      "%s: unknown entity", cmd->entity);
		if (other_role_writes(c, e, cmd, r->role))
			continue;
		if (state == NULL)
			return refuse(ref, TF_EPERM, "",
				      "%s: the role %s may not create one",
				      r->entity, r->role);
		v = tf_record_value(state, r->field);
		if (v == NULL || v->type != TF_JSON_STRING ||
		    c->user.unit[0] == '\0' ||
		    strcmp(v->u.str, c->user.unit) != 0)
			return refuse(
				ref, TF_EPERM, r->field,
				"%s %.32s is not your unit (%s): the role "
				"%s writes only its own %s",
				r->entity,
				v && v->type == TF_JSON_STRING ? v->u.str
							       : "(none)",
				c->user.unit[0] ? c->user.unit : "none",
				r->role, r->entity);
	}
	return 0;
}

int tf_acl_in_scope(const tf_schema *s, const tf_srv_caller *c,
		    const tf_json *rec, int *in)
{
	const char *ent = tf_record_entity(rec);
	const tf_entity *e = ent ? tf_schema_entity(s, ent) : NULL;
	tf_principal p;
	int rc, v = 0;

	*in = 0;
	if (e == NULL)
		return 0;
	tf_acl_principal(c, &p);
	rc = tf_policy_in_scope(e, rec, &p, &v, NULL);
	if (rc == TF_ENOMEM)
		return rc;
	*in = rc == 0 && v;
	return 0;
}

int tf_acl_sees_all(const tf_srv_caller *c, const tf_entity *e)
{
	size_t i, k;

	assert(c != NULL && e != NULL);
	if (e->scope == TF_SCOPE_AGENCY)
		return 1;
	for (i = 0; i < c->user.nroles && i < TF_POLICY_MAX_ROLES; i++)
		for (k = 0; k < e->nread_roles; k++)
			if (strcmp(c->user.roles[i], e->read_roles[k]) == 0)
				return 1;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int tf_acl_scope_tag(const tf_srv_caller *c, char out[TF_ACL_TAG_LEN + 1])
{
	const char *roles[TF_POLICY_MAX_ROLES] = {NULL};
	uint8_t h[TF_SHA256_LEN];
	size_t i, n = 0;
	tf_buf b;
	int rc;

	for (i = 0; i < c->user.nroles && i < TF_POLICY_MAX_ROLES; i++)
		roles[n++] = c->user.roles[i];
	qsort(roles, n, sizeof roles[0], cmp_str);
	tf_buf_init(&b);
	tf_buf_printf(&b, "tenfour-scope\n%s\n%s\n%s\n", c->user.agency,
		      c->user.id, c->user.unit);
	for (i = 0; i < n; i++)
		tf_buf_printf(&b, "%s,", roles[i]);
	rc = b.failed;
	if (rc == 0)
		rc = tf_sha256(b.data, b.len, h);
	tf_buf_free(&b);
	if (rc)
		return rc;
	tf_hex_encode(h, TF_ACL_TAG_LEN / 2, out);
	return 0;
}

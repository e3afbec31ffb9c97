/*
 * acl.h - tenfourd's access rules for sync (private to src/server): who
 * may write which field, the server's policy rules that the schema cannot
 * express (a report is approved only by a supervisor, an officer writes
 * only his own unit), and whether a record is in a caller's scope.  Used
 * by sync.c; the scope rules themselves are the core's
 * (tf_policy_in_scope), so a device and the server judge a record alike.
 */
#ifndef TF_SRV_ACL_H
#define TF_SRV_ACL_H

#include "server/server.h"

/* The caller as a scope principal (borrows c's strings). */
void tf_acl_principal(const tf_srv_caller *c, tf_principal *out);

/* 1 when the caller holds `role`. */
int tf_acl_has_role(const tf_srv_caller *c, const char *role);

/*
 * Whether the caller may write field `f` of entity `e` (f NULL: the
 * entity's write_roles).  Returns the role that allows it (borrowed from
 * c), or NULL when none does.
 */
const char *tf_acl_may_write(const tf_srv_caller *c, const tf_entity *e,
			     const tf_field *f);

/* A refusal: wire code, message and the field it is about. */
typedef struct tf_acl_refusal {
	int code;
	char message[256];
	char field[64];
} tf_acl_refusal;

/*
 * The checks a command passes before it is applied, in this order:
 *  1. command.user is the session's user (permission_denied);
 *  2. tf_command_validate(schema, cmd, online 1) (its code and field);
 *  3. write permission on every field the command names (create, set,
 *     ref_set: args.fields; other ops: args.field), or on the entity
 *     when it names none (permission_denied);
 *  4. ref_set only by the "service" role (permission_denied);
 *  5. the server policy table's value rules (acl.c), e.g.
 *     report.status "approved" only by "supervisor" (permission_denied).
 * The table's record rules need the stored record: tf_acl_check_record.
 * Returns 0 when every check passed (*role gets the role that allowed
 * the write), 1 when the command is refused (ref filled), or TF_ENOMEM.
 */
int tf_acl_check_command(const tf_schema *s, const tf_srv_caller *c,
			 const tf_command *cmd, const char **role,
			 tf_acl_refusal *ref);

/*
 * The policy table's record rules (acl.c, RULE_OWN), which read the
 * stored record: for a command that passed tf_acl_check_command and
 * whose record is in the caller's scope, `state` the record before the
 * command (NULL: it does not exist yet).  An officer without another
 * role that may write it writes a unit only when the unit's callsign is
 * the officer's user.unit, and creates none.  Returns 0 when allowed, 1
 * when refused (ref filled: permission_denied and a message naming the
 * unit and the caller's unit).
 */
int tf_acl_check_record(const tf_schema *s, const tf_srv_caller *c,
			const tf_command *cmd, const tf_json *state,
			tf_acl_refusal *ref);

/*
 * Whether record state `rec` is in the caller's scope.  A record of an
 * entity the schema does not know, or whose state the scope rule cannot
 * read, is out of scope (fail closed).  Returns 0 with *in set, or
 * TF_ENOMEM.
 */
int tf_acl_in_scope(const tf_schema *s, const tf_srv_caller *c,
		    const tf_json *rec, int *in);

/*
 * 1 when the caller sees every record of entity e whatever its state:
 * one of the caller's roles is in e->read_roles, or e's scope rule is
 * "agency" (tf_policy_in_scope's own shortcut, decided the same way).
 * Then a well-formed record of e is in scope without reading its fields.
 */
int tf_acl_sees_all(const tf_srv_caller *c, const tf_entity *e);

/*
 * The caller's scope tag: 16 hex digits of SHA-256 over agency, user,
 * unit and the sorted roles.  Two callers with the same tag see the same
 * records; a change of unit or roles changes it (a pull cursor binds it).
 */
#define TF_ACL_TAG_LEN 16
int tf_acl_scope_tag(const tf_srv_caller *c, char out[TF_ACL_TAG_LEN + 1]);

#endif

/*
 * record.h - record state and the merge rules: applying one command to one
 * record, the same code on the server, in native clients and in wasm.
 *
 * A record state is a tf_json object in the canonical form described in
 * docs/PROTOCOL.md, section "Records" ({id, entity, ver, mhlc, f:{...}}).
 * Applying is deterministic: the same state and command give the same
 * bytes on every platform.
 */
#ifndef TENFOUR_RECORD_H
#define TENFOUR_RECORD_H

#include "tenfour/command.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tf_status {
	TF_ST_APPLIED = 1,
	TF_ST_DUPLICATE,  /* already applied (ledger replay) */
	TF_ST_REJECTED,   /* business rejection; reason in err */
	TF_ST_CONFLICT,   /* text edit from a stale base: conflict recorded */
	TF_ST_CLOCK_SKEW  /* stamp too far ahead; not applied */
} tf_status;

const char *tf_status_name(tf_status s);
int tf_status_parse(const char *name, tf_status *out);

/* Open conflicts one text field may hold; past it edits are rejected. */
#define TF_TEXT_MAX_CONFLICTS 16

typedef struct tf_apply_ctx {
	const tf_schema *schema;
	/* Server receive time in ms (>= 0 when authority, else TF_EINVAL). */
	int64_t now_ms;
	/*
	 * 1 on the server: bumps "ver", stamps log entries with "srv"
	 * (server receive time in ms).  0 in a replica replaying its own
	 * pending commands over confirmed state.
	 */
	int authority;
	/* 1 when the author may issue ref_set (service accounts). */
	int allow_ref;
} tf_apply_ctx;

typedef struct tf_apply_result {
	tf_status status;
	tf_err err;     /* the reason when REJECTED */
	tf_json *detail; /* owned; NULL or an object, see PROTOCOL.md */
} tf_apply_result;

void tf_apply_result_clear(tf_apply_result *r);

/* A new, empty record state {id, entity, ver:0, mhlc:"0..0", f:{}}. */
int tf_record_new(const char *entity, const char *id, tf_json **out);

/*
 * Applies command c to *rec.  *rec is NULL when the record does not exist
 * (only TF_OP_CREATE then succeeds; it allocates *rec).  On APPLIED or
 * CONFLICT *rec is updated in place; on REJECTED it is unchanged.
 * The command must have passed tf_command_validate, and its cmd_id must
 * never have been applied to this record under another stamp (the
 * server's ledger refuses a reused cmd_id; a replica re-stamps only
 * commands the server refused).  A replay of the same command (same id,
 * same stamp) is recognised and changes nothing.
 * Returns 0 with res->status set, or a negative error (TF_ENOMEM) after
 * which *rec is unchanged.  res is overwritten (an old detail is not
 * freed): clear it with tf_apply_result_clear after each use.
 */
int tf_record_apply(tf_json **rec, const tf_command *c,
		    const tf_apply_ctx *ctx, tf_apply_result *res);

/*
 * Checks an untrusted record state (from a pull page or from disk) against
 * the schema: shape of every field state, types, ordering.  Errors name
 * the record id and field.
 */
int tf_record_check(const tf_schema *s, const tf_json *rec, tf_err *err);

/* Borrowed accessors into a state; NULL when absent. */
const char *tf_record_id(const tf_json *rec);
const char *tf_record_entity(const tf_json *rec);
int64_t tf_record_ver(const tf_json *rec);
const tf_json *tf_record_field(const tf_json *rec, const char *field);
/* The current value of an lww/ref field, or NULL. */
const tf_json *tf_record_value(const tf_json *rec, const char *field);

/* 1 when a ref field is past fetched_at + ttl at now_ms. */
int tf_record_ref_stale(const tf_json *rec, const char *field, int64_t now_ms);

/* The record's mhlc, 0 when absent or malformed. */
tf_hlc tf_record_mhlc(const tf_json *rec);

/*
 * The stamp of an lww (or ref) field: *t, and borrowed *node / *by ("" for
 * ref fields); any out pointer may be NULL.  TF_ENOTFOUND when the field
 * has no state.
 */
int tf_record_lww_stamp(const tf_json *rec, const char *field, tf_hlc *t,
			const char **node, const char **by);

/*
 * 1 when the value command c (set or create) gave lww field `field` has
 * been superseded in rec: the field's value differs from it and was
 * written by another node with a greater (t, node) stamp.  0 otherwise,
 * also when c does not name the field.  For supersede notices.
 */
int tf_record_superseded(const tf_json *rec, const tf_command *c,
			 const char *field);

/* Open text conflicts in the record, over all its fields. */
size_t tf_record_conflicts(const tf_json *rec);

#ifdef __cplusplus
}
#endif
#endif

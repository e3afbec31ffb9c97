/*
 * command.h - the command envelope: every mutation is one command with a
 * client-made UUIDv7 cmd_id, a per-device contiguous seq and an HLC stamp.
 * Wire form and per-op args: docs/PROTOCOL.md, section "Commands".
 */
#ifndef TENFOUR_COMMAND_H
#define TENFOUR_COMMAND_H

#include "tenfour/hlc.h"
#include "tenfour/schema.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tf_op {
	TF_OP_CREATE = 1, /* {fields:{name:value}} lww, text and set fields */
	TF_OP_SET,        /* {fields:{name:value}} lww fields */
	TF_OP_APPEND,     /* {field, body, corrects?} log field; entry id = cmd_id */
	TF_OP_SET_ADD,    /* {field, value} tag = cmd_id */
	TF_OP_SET_REMOVE, /* {field, value, tags:[seen tags]} */
	TF_OP_EDIT_TEXT,  /* {field, base_rev, base, text} */
	TF_OP_RESOLVE,    /* {field, conflict, head_rev, text, choice} */
	TF_OP_REF_SET     /* {fields:{name:{v, fetched_at, ttl}}} server/service */
} tf_op;

#define TF_ID_MAX 64 /* device, user ids: [A-Za-z0-9._@-]{1,64} */
/*
 * Highest seq: 2^53-1, so that a seq is exact in JavaScript numbers and
 * fits the signed 64-bit integers of SQLite and PostgreSQL.
 */
#define TF_SEQ_MAX ((uint64_t)9007199254740991ULL)
/* Tags one set_remove may name, and tags one set element may carry. */
#define TF_SET_MAX_TAGS 1024

typedef struct tf_command {
	char cmd_id[TF_UUID_LEN + 1];
	uint64_t seq; /* >= 1, contiguous per device */
	tf_hlc hlc;
	char device[TF_ID_MAX + 1];
	char user[TF_ID_MAX + 1];
	char entity[TF_NAME_MAX + 1];
	char record_id[TF_UUID_LEN + 1];
	tf_op op;
	tf_json *args; /* owned */
	int64_t base;  /* record ver the author saw; 0 = none */
} tf_command;

const char *tf_op_name(tf_op op);
/* TF_EINVAL for an unknown name. */
int tf_op_parse(const char *name, tf_op *out);

/* 1 if s is a valid device/user id. */
int tf_id_valid(const char *s, size_t len);

/*
 * Reads a command from its wire object: every envelope member present and
 * of its type, ids valid, no unknown members.  Does not consult a schema.
 * On success out->args is a clone owned by out.  Errors name the member
 * ("commands[2].seq") through err.
 */
int tf_command_from_json(const tf_json *j, tf_command *out, tf_err *err);
/* Builds the wire object (*out owned by the caller). */
int tf_command_to_json(const tf_command *c, tf_json **out);

/*
 * Checks a command against the schema: entity known, op allowed for each
 * named field's class, values of their types and limits, no unknown args.
 * `online` 0 refuses ops on online_only fields with TF_EOFFLINE.
 * Does not look at record state (transitions are checked at apply).
 */
int tf_command_validate(const tf_schema *s, const tf_command *c, int online,
			tf_err *err);

/*
 * The canonical bytes of the command (its wire object, canonical JSON),
 * which the host hashes (SHA-256) for the ledger's request hash.
 */
int tf_command_canonical(const tf_command *c, tf_buf *out);

/* Deep copy (args cloned). */
int tf_command_copy(tf_command *dst, const tf_command *src);
/* Frees args and zeroes the struct. */
void tf_command_clear(tf_command *c);

#ifdef __cplusplus
}
#endif
#endif

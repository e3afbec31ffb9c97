/*
 * audit.h - audit entries (CJIS AU-2 events with AU-3 content) as
 * canonical JSON, hash-chained, and the verification of a chain.
 *
 * One entry is one canonical JSON object (members sorted, docs/PROTOCOL.md
 * section 1):
 *
 *   {"actor":{"agency":"demo","device":"mdt-2a12","role":"officer",
 *             "user":"alvarez"},
 *    "detail":{...},
 *    "outcome":"success"|"failure",
 *    "prev":"<64 hex: SHA-256 of the previous entry's bytes>",
 *    "seq":42,
 *    "source":"local"|"203.0.113.7",
 *    "ts":1764000000000,
 *    "type":"unlock_ok",
 *    "what":{"cmd_id":"...","entity":"incident","field":"remarks",
 *            "record_id":"...","target":"..."},
 *    "where":"mdt/unlock"}
 *
 * actor.agency, actor.device, actor.role, detail, what and each member of
 * what are omitted when absent.  actor.agency names the agency the actor
 * belongs to: the server keeps one chain per agency, so an agency's
 * auditor exports and verifies its own log and never sees another's.  `seq` counts from 1 without gaps; `ts` is UTC ms
 * since the Unix epoch; `prev` is 64 zeros for the first entry of a log.
 *
 * The chain: the host hashes each entry's exact bytes with SHA-256 (the
 * core never hashes) and puts the hex of that hash in the next entry's
 * `prev`.  Editing, removing, reordering or inserting an entry breaks a
 * link that tf_audit_verify finds.  An unkeyed chain cannot stop someone
 * who rewrites every entry after the one they changed, nor show that
 * entries were cut off at the end; so the host anchors it: the server
 * keeps the head (seq, hash) of each client's log as it syncs, and an
 * export carries the head signed by the server.  Verify against such an
 * anchor (tf_audit_anchor).
 *
 * Time: `ts` never decreases along a chain, except at a clock_rebase or
 * clock_rollback entry, which records the step of the wall clock back
 * (after an online re-auth or a detected rollback); entries after it
 * continue from its time.
 */
#ifndef TENFOUR_AUDIT_H
#define TENFOUR_AUDIT_H

#include "tenfour/command.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * AU-2 event types: X(NAME, "wire name").  The wire names are stable;
 * append new types at the end.  lockout: AC-7 account locked;
 * lockout_release: by an administrator; banner_ack: AC-8, online and
 * offline; session_expire: the IA-11 12 h reached; grant_issue and
 * grant_expire: the offline grant; unlock_ok/unlock_fail: local PIN;
 * lock: AC-11 idle or manual; wipe: crypto-erase; access: a record was
 * read; query: an NCIC/BMV lookup; purge: a record left scope or was
 * evicted; credential_change: PIN, password or TOTP; clock_rebase: the
 * clock was moved to the server's time; clock_rollback: a rollback was
 * detected.
 */
/* clang-format off */
#define TF_AUDIT_TYPE_MAP(X)                                                   \
	X(LOGON_OK, "logon_ok")                                                \
	X(LOGON_FAIL, "logon_fail")                                            \
	X(LOCKOUT, "lockout")                                                  \
	X(LOCKOUT_RELEASE, "lockout_release")                                  \
	X(BANNER_ACK, "banner_ack")                                            \
	X(LOGOFF, "logoff")                                                    \
	X(SESSION_EXPIRE, "session_expire")                                    \
	X(SESSION_REVOKE, "session_revoke")                                    \
	X(GRANT_ISSUE, "grant_issue")                                          \
	X(GRANT_EXPIRE, "grant_expire")                                        \
	X(UNLOCK_OK, "unlock_ok")                                              \
	X(UNLOCK_FAIL, "unlock_fail")                                          \
	X(LOCK, "lock")                                                        \
	X(WIPE, "wipe")                                                        \
	X(ACCESS, "access")                                                    \
	X(QUERY, "query")                                                      \
	X(CREATE, "create")                                                    \
	X(MODIFY, "modify")                                                    \
	X(DELETE, "delete")                                                    \
	X(PURGE, "purge")                                                      \
	X(CONFLICT_RESOLUTION, "conflict_resolution")                          \
	X(SUPERSEDE_ACK, "supersede_ack")                                      \
	X(REJECT_ACK, "reject_ack")                                            \
	X(PERMISSION_CHANGE, "permission_change")                              \
	X(CREDENTIAL_CHANGE, "credential_change")                              \
	X(DEVICE_ENROLL, "device_enroll")                                      \
	X(DEVICE_REVOKE, "device_revoke")                                      \
	X(DEVICE_WIPE_RECEIPT, "device_wipe_receipt")                          \
	X(POLICY_CHANGE, "policy_change")                                      \
	X(AUDIT_READ, "audit_read")                                            \
	X(AUDIT_EXPORT, "audit_export")                                        \
	X(CLOCK_REBASE, "clock_rebase")                                        \
	X(CLOCK_ROLLBACK, "clock_rollback")

typedef enum tf_audit_type {
	TF_AUDIT_NONE = 0,
#define TF_X_(name, wire) TF_AUDIT_##name,
	TF_AUDIT_TYPE_MAP(TF_X_)
#undef TF_X_
	TF_AUDIT_TYPE_COUNT /* one past the last type */
} tf_audit_type;
/* clang-format on */

/* The wire name, or NULL for a value that is not a type. */
const char *tf_audit_type_name(tf_audit_type t);
/* TF_EINVAL for an unknown name. */
int tf_audit_type_parse(const char *name, size_t len, tf_audit_type *out);

/* Limits on an entry. */
#define TF_AUDIT_ENTRY_MAX 8192	 /* bytes of one entry */
#define TF_AUDIT_DETAIL_MAX 4096 /* canonical bytes of `detail` */
#define TF_AUDIT_DETAIL_DEPTH 4	 /* nesting inside `detail` */
#define TF_AUDIT_SOURCE_MAX 64	 /* printable ASCII, no space */
#define TF_AUDIT_WHERE_MAX 128	 /* printable ASCII */
#define TF_AUDIT_HASH_LEN 32	 /* SHA-256 */
#define TF_AUDIT_PREV_LEN 64	 /* hex of the hash */
/* Entries per tf_audit_verify call; verify longer logs in segments, each
   anchored on the last hash of the one before. */
#define TF_AUDIT_VERIFY_MAX ((size_t)4 * 1024 * 1024)

/*
 * One event.  Every pointer is borrowed.  Required: seq >= 1, ts_ms in
 * [0, 2^48), type, user, source, where, prev.
 *  user, device, agency, target: ids [A-Za-z0-9._@-]{1,64}.  For automatic events
 *    the user is the grant's user on a device or "system" on the server;
 *    for a logon failure with a name that is not an id, "unknown", and the
 *    attempted name goes in detail (escaped like every string).
 *  role, entity, field: names [a-z][a-z0-9_]*, at most 32 bytes.
 *  record_id, cmd_id: lower-case UUID text.
 *  source: "local" or the peer address, 1..64 printable ASCII, no space.
 *  where: the component or endpoint ("tenfourd POST /v1/sync/push",
 *    "mdt/unlock"), 1..128 printable ASCII.
 *  detail: NULL or an object, at most TF_AUDIT_DETAIL_MAX canonical bytes
 *    and TF_AUDIT_DETAIL_DEPTH levels deep (the object itself is level 1).
 *  prev: 64 lower-case hex digits.
 */
typedef struct tf_audit_event {
	uint64_t seq;
	int64_t ts_ms;
	tf_audit_type type;
	int success; /* outcome: 1 success, 0 failure */
	const char *user, *device, *role;
	const char *agency; /* actor.agency: an id, or NULL */
	const char *source;
	const char *where;
	const char *entity, *record_id, *cmd_id, *field, *target;
	const tf_json *detail;
	const char *prev;
} tf_audit_event;

/* The prev of the first entry of a log: 64 '0' characters. */
extern const char tf_audit_genesis[TF_AUDIT_PREV_LEN + 1];

/*
 * Appends the entry's canonical bytes to out (which is not reset).
 * Validates every member first; errors name the member ("actor.user",
 * "what.record_id", "detail"): TF_EMISSING (a required member is NULL),
 * TF_EVALIDATE (bad id, name, uuid, hex or text), TF_ERANGE (seq 0, ts,
 * type), TF_ELIMIT (a length or detail size/depth), TF_ETYPE (detail not
 * an object); then TF_ENOMEM/TF_ELIMIT from the buffer.  On error out is
 * left as it was.
 */
int tf_audit_write(const tf_audit_event *ev, tf_buf *out, tf_err *err);

/*
 * Parses one entry (len bytes, at most TF_AUDIT_ENTRY_MAX) for export or
 * inspection.  *tree receives the parsed document (caller frees it with
 * tf_json_free); ev's strings and detail point into it and live as long
 * as it does.  The same rules as tf_audit_write apply, plus: no unknown
 * members anywhere (TF_EUNKNOWN), outcome "success" or "failure", types
 * checked (TF_ETYPE).  Accepts any JSON formatting; tf_audit_verify also
 * insists on canonical bytes.  On error *tree is NULL and ev untouched.
 */
int tf_audit_parse(const char *bytes, size_t len, tf_audit_event *ev,
		   tf_json **tree, tf_err *err);

/* One stored entry and the host's SHA-256 of exactly these bytes. */
typedef struct tf_audit_blob {
	const char *bytes;
	size_t len;
	uint8_t hash[TF_AUDIT_HASH_LEN];
} tf_audit_blob;

/*
 * Optional anchors for tf_audit_verify.
 *  first: the seq and prev the first given entry must have (seq 1 and
 *    64 zeros for a whole log; a retained tail starts later).
 *  checkpoint: an entry that must be present with this hash, e.g. the head
 *    the server recorded at the last sync.  Entries past it may follow.
 */
typedef struct tf_audit_anchor {
	int has_first;
	uint64_t first_seq;
	uint8_t first_prev[TF_AUDIT_HASH_LEN];
	int has_checkpoint;
	uint64_t checkpoint_seq;
	uint8_t checkpoint_hash[TF_AUDIT_HASH_LEN];
} tf_audit_anchor;

typedef enum tf_audit_fault {
	TF_AUDIT_OK = 0,
	TF_AUDIT_MALFORMED, /* does not parse, is not an entry, not canonical */
	TF_AUDIT_ALTERED, /* its bytes are not the ones the next entry hashed */
	TF_AUDIT_REMOVED, /* entries are missing before it (a seq gap) */
	TF_AUDIT_REORDERED, /* it is out of place: its predecessor is elsewhere
			     */
	TF_AUDIT_INSERTED,  /* it is extra: the chain is whole without it */
	TF_AUDIT_TIME,	    /* ts went back without a clock_rebase entry */
	TF_AUDIT_ANCHOR	    /* first entry or checkpoint disagree with anchor */
} tf_audit_fault;

const char *tf_audit_fault_name(tf_audit_fault f);

typedef struct tf_audit_report {
	tf_audit_fault fault; /* TF_AUDIT_OK when the chain verified */
	size_t index;	      /* the first bad entry (0-based); n when OK */
	uint64_t seq;	      /* that entry's seq, 0 when unknown; when OK
				 the last entry's */
	size_t verified;      /* entries before `index` that verified */
	char msg[256];	      /* what is wrong, naming index and seq */
} tf_audit_report;

/*
 * Verifies n entries in stored order.  Each must parse and be canonical;
 * seq must go up by one from entry to entry; entry i's prev must equal
 * blobs[i-1].hash; ts must not decrease (see above); and the anchors, when
 * given, must hold.  The report names the first bad entry and the most
 * likely cause (a chain broken at one place can be explained more than
 * one way; the index is exact, the cause is the best reading).  Nothing
 * after the first bad entry can be trusted.
 * Returns 0 when the chain verified, TF_EVALIDATE when rep->fault says
 * why not, TF_EINVAL (NULL blobs with n > 0, NULL bytes), TF_ELIMIT for
 * n > TF_AUDIT_VERIFY_MAX, TF_ENOMEM.  n == 0 verifies (unless a
 * checkpoint is required).
 */
int tf_audit_verify(const tf_audit_blob *blobs, size_t n,
		    const tf_audit_anchor *anchor, tf_audit_report *rep);

#ifdef __cplusplus
}
#endif
#endif

/*
 * db.h - tenfourd's storage, behind one backend interface.  The embedded
 * default is SQLite in WAL mode (db/sqlite.c); a PostgreSQL backend
 * implements the same table of operations (tf_db_ops) for agencies that
 * run several tenfourd nodes.  Design: ARCHITECTURE.md sections 3-5.
 *
 * Transactions.  Every operation runs inside a transaction handed to a
 * callback:
 *  - tf_db_read(db, fn, arg): fn sees one consistent snapshot (a pull's
 *    records and its ack come from the same snapshot).  Readers run in
 *    parallel with each other and with the writer.
 *  - tf_db_write(db, fn, arg): fn runs inside a savepoint of a group
 *    transaction.  Concurrent callers are batched: the backend's writer
 *    runs each queued fn in its own savepoint (fn returning < 0 rolls back
 *    that fn's changes only), then commits the group once, durably (fsync
 *    before return unless the operator relaxed it), and only then returns
 *    to every caller.  So a caller never answers "acknowledged" for
 *    something a crash can still lose, and concurrent pushes share one
 *    fsync (group commit).  fn must not block on anything but the
 *    database; it must not call tf_db_write/tf_db_read itself.
 * A fn's return value is passed back (0 or a negative TF_E* code).
 * Storage failures inside operations are TF_EIO with the backend's message
 * in err (never a secret, never a record's content).
 *
 * Ownership: strings passed in are borrowed for the call; blobs returned
 * are malloc'd and owned by the caller (free()); fixed-size structs are
 * filled in place.  Ids are [A-Za-z0-9._@-]{1,64} (agency, user, device,
 * unit), record and command ids are UUID text.  Every operation is scoped
 * by agency: no call ever returns another agency's row.
 */
#ifndef TF_DB_H
#define TF_DB_H

#include <stddef.h>
#include <stdint.h>

#include "tenfour/audit.h"
#include "tenfour/policy.h"
#include "tenfour/record.h"

#define TF_DB_NAME_MAX 128    /* display names */
#define TF_DB_BANNER_MAX 4096 /* AC-8 banner text, bytes */
#define TF_DB_PWHASH_MAX 256  /* encoded password hash */
#define TF_DB_TOTP_MAX 64     /* base32 TOTP secret */
#define TF_DB_PUBKEY_MAX 64   /* base64url of a raw Ed25519 key */
#define TF_DB_HASH_HEX 64     /* hex SHA-256 */

typedef struct tf_db tf_db;
typedef struct tf_db_txn tf_db_txn;

typedef struct tf_db_agency {
	char id[TF_ID_MAX + 1];
	char name[TF_DB_NAME_MAX + 1];
	tf_agency_policy policy;
	char banner[TF_DB_BANNER_MAX + 1];
	int64_t banner_rev; /* bumped on every banner change (from 1) */
} tf_db_agency;

typedef struct tf_db_user {
	char agency[TF_ID_MAX + 1];
	char id[TF_ID_MAX + 1];
	char name[TF_DB_NAME_MAX + 1];
	char roles[TF_POLICY_MAX_ROLES][TF_NAME_MAX + 1];
	size_t nroles;
	char unit[TF_ID_MAX + 1]; /* the unit (callsign) they ride in, "" */
	char pwhash[TF_DB_PWHASH_MAX + 1]; /* "pbkdf2-sha256$iter$salt$hash" */
	char totp[TF_DB_TOTP_MAX + 1];     /* base32 secret, "" = none */
	int64_t totp_last_step;            /* last accepted TOTP step */
	int disabled;
	tf_lockout_state lockout; /* AC-7 */
	int64_t created_at;
} tf_db_user;

enum tf_db_device_status {
	TF_DEV_ENROLLED = 1,
	TF_DEV_REVOKED = 2, /* refused; told to wipe */
	TF_DEV_WIPED = 3    /* revoked and a signed wipe receipt arrived */
};

typedef struct tf_db_device {
	char agency[TF_ID_MAX + 1];
	char id[TF_ID_MAX + 1];
	char label[TF_DB_NAME_MAX + 1];
	char pubkey[TF_DB_PUBKEY_MAX + 1]; /* base64url Ed25519 public key */
	int status;                        /* enum tf_db_device_status */
	int64_t enrolled_at, revoked_at, wiped_at; /* 0 = not (yet) */
} tf_db_device;

typedef struct tf_db_session {
	char token_hash[TF_DB_HASH_HEX + 1]; /* hex SHA-256 of the token */
	char agency[TF_ID_MAX + 1];
	char user[TF_ID_MAX + 1];
	char device[TF_ID_MAX + 1];
	int64_t created_at, expires_at;
	int revoked;
} tf_db_session;

/* One row of the command ledger (ARCHITECTURE.md section 3). */
typedef struct tf_db_ledger {
	char device[TF_ID_MAX + 1];
	uint64_t seq;
	char cmd_id[TF_UUID_LEN + 1];
	char req_hash[TF_DB_HASH_HEX + 1]; /* hex SHA-256, canonical bytes */
	tf_status status;
	char *result; /* owned: canonical JSON of the result as sent */
	size_t result_len;
	int64_t at_ms;
} tf_db_ledger;
void tf_db_ledger_clear(tf_db_ledger *l);

/* A record as stored: its canonical state and its place in the feed. */
typedef struct tf_db_record {
	char id[TF_UUID_LEN + 1];
	char entity[TF_NAME_MAX + 1];
	char *state; /* owned canonical JSON */
	size_t state_len;
	uint64_t chg; /* feed position: the change that last wrote it */
} tf_db_record;
void tf_db_record_clear(tf_db_record *r);

/* Called per record of a feed scan; return < 0 to stop (passed back),
   1 to stop without error, 0 to go on.  r is valid for the call only. */
typedef int (*tf_db_record_fn)(void *arg, const tf_db_record *r);

typedef struct tf_db_conflict {
	char record_id[TF_UUID_LEN + 1];
	char entity[TF_NAME_MAX + 1];
	char field[TF_NAME_MAX + 1];
	char conflict_id[TF_UUID_LEN + 1];
	int64_t opened_at;
} tf_db_conflict;
typedef int (*tf_db_conflict_fn)(void *arg, const tf_db_conflict *c);

/* Kinds of a stored text revision. */
enum tf_db_textrev_kind {
	TF_TEXTREV_EDIT = 1,     /* a revision of the field (rev = its rev) */
	TF_TEXTREV_PROPOSED = 2, /* a conflicting edit's text (rev = base) */
	TF_TEXTREV_DISCARDED = 3 /* text a resolution discarded */
};

typedef struct tf_db_textrev {
	char record_id[TF_UUID_LEN + 1];
	char field[TF_NAME_MAX + 1];
	int64_t rev;
	int kind; /* enum tf_db_textrev_kind */
	char by[TF_ID_MAX + 1];
	char cmd_id[TF_UUID_LEN + 1];
	const char *text; /* borrowed on put; owned (malloc) on get */
	size_t text_len;
	int64_t at_ms;
} tf_db_textrev;
typedef int (*tf_db_textrev_fn)(void *arg, const tf_db_textrev *t);

/* One stored audit entry (server log or a device's uploaded log). */
typedef struct tf_db_audit {
	uint64_t seq;
	const char *bytes; /* canonical entry; valid for the callback */
	size_t len;
	uint8_t hash[32]; /* SHA-256 of bytes */
} tf_db_audit;
typedef int (*tf_db_audit_fn)(void *arg, const tf_db_audit *a);

typedef struct tf_db_stats {
	uint64_t ledger_rows;
	uint64_t records;
	uint64_t conflicts_open;
	uint64_t audit_entries;
	uint64_t head_chg;
} tf_db_stats;

typedef struct tf_db_options {
	int fsync;          /* 1 (default): durable before ack; 0 relaxed */
	int readers;        /* read connections (default 8) */
	int group_max;      /* writes one group commit takes (default 256) */
} tf_db_options;

typedef int (*tf_db_txn_fn)(tf_db_txn *t, void *arg, tf_err *err);

/*
 * The operations a backend provides.  Each reading op works in a read or a
 * write transaction; each writing op (put/add/del/append/update) only in a
 * write transaction (TF_EINVAL otherwise).  Getters return TF_ENOTFOUND
 * when there is no such row (within the agency).
 */
typedef struct tf_db_ops {
	const char *name; /* "sqlite", "postgres" */
	int (*open)(const char *dsn, const tf_db_options *o, tf_db **out,
		    tf_err *err);
	void (*close)(tf_db *db); /* finishes queued writes first */
	int (*read)(tf_db *db, tf_db_txn_fn fn, void *arg, tf_err *err);
	int (*write)(tf_db *db, tf_db_txn_fn fn, void *arg, tf_err *err);

	/* meta: small key/value settings (server key PEM, epoch, ...) */
	int (*meta_get)(tf_db_txn *t, const char *key, char **val,
			size_t *len, tf_err *err);
	int (*meta_put)(tf_db_txn *t, const char *key, const char *val,
			size_t len, tf_err *err);

	int (*agency_get)(tf_db_txn *t, const char *id, tf_db_agency *out,
			  tf_err *err);
	int (*agency_put)(tf_db_txn *t, const tf_db_agency *a, tf_err *err);

	int (*user_get)(tf_db_txn *t, const char *agency, const char *id,
			tf_db_user *out, tf_err *err);
	int (*user_put)(tf_db_txn *t, const tf_db_user *u, tf_err *err);

	int (*device_get)(tf_db_txn *t, const char *agency, const char *id,
			  tf_db_device *out, tf_err *err);
	int (*device_put)(tf_db_txn *t, const tf_db_device *d, tf_err *err);

	int (*session_get)(tf_db_txn *t, const char *token_hash,
			   tf_db_session *out, tf_err *err);
	int (*session_put)(tf_db_txn *t, const tf_db_session *s, tf_err *err);
	/* Revokes every live session of a user (device NULL) or device
	   (user NULL); *n gets how many. */
	int (*session_revoke_all)(tf_db_txn *t, const char *agency,
				  const char *user, const char *device,
				  uint64_t *n, tf_err *err);

	/* Ledger: the highest seq held for the device (0: none). */
	int (*ledger_last)(tf_db_txn *t, const char *agency, const char *device,
			   uint64_t *last, tf_err *err);
	int (*ledger_get_seq)(tf_db_txn *t, const char *agency,
			      const char *device, uint64_t seq,
			      tf_db_ledger *out, tf_err *err);
	int (*ledger_get_cmd)(tf_db_txn *t, const char *agency,
			      const char *cmd_id, tf_db_ledger *out,
			      tf_err *err);
	/* TF_EEXIST when (device, seq) or cmd_id is already there. */
	int (*ledger_put)(tf_db_txn *t, const char *agency,
			  const tf_db_ledger *l, tf_err *err);

	int (*record_get)(tf_db_txn *t, const char *agency, const char *id,
			  tf_db_record *out, tf_err *err);
	/* Writes the state and moves the record to a new feed position
	   (*chg, strictly greater than every earlier one). */
	int (*record_put)(tf_db_txn *t, const char *agency, const char *id,
			  const char *entity, const char *state, size_t len,
			  uint64_t *chg, tf_err *err);
	/* Records with chg > after, in chg order, at most limit of them. */
	int (*records_since)(tf_db_txn *t, const char *agency, uint64_t after,
			     size_t limit, tf_db_record_fn fn, void *arg,
			     tf_err *err);
	/* The highest feed position of the whole database (0: empty). */
	int (*head_chg)(tf_db_txn *t, uint64_t *chg, tf_err *err);
	/* How many of the agency's records have chg > after, counting at
	   most limit (0: all) of them (the rest of the feed a pull page
	   reports as "remaining"). */
	int (*records_count_since)(tf_db_txn *t, const char *agency,
				   uint64_t after, size_t limit, uint64_t *n,
				   tf_err *err);

	int (*textrev_put)(tf_db_txn *t, const char *agency,
			   const tf_db_textrev *r, tf_err *err);
	/* Revisions of one field, oldest first. */
	int (*textrev_list)(tf_db_txn *t, const char *agency,
			    const char *record_id, const char *field,
			    tf_db_textrev_fn fn, void *arg, tf_err *err);

	int (*conflict_put)(tf_db_txn *t, const char *agency,
			    const tf_db_conflict *c, tf_err *err);
	int (*conflict_del)(tf_db_txn *t, const char *agency,
			    const char *record_id, const char *conflict_id,
			    tf_err *err);
	int (*conflict_list)(tf_db_txn *t, const char *agency,
			     tf_db_conflict_fn fn, void *arg, tf_err *err);

	/*
	 * Server audit: one hash chain per agency, each with its own seq
	 * from 1, so that an agency's auditor exports and verifies its own
	 * log and never sees another agency's entries.  The system chain,
	 * agency "", holds the events that belong to no agency (a logon
	 * naming an unknown agency).
	 * audit_append: appends ev to the chain of ev->agency (NULL: the
	 * system chain); its seq and prev are set here from that chain's
	 * last entry; stored as canonical bytes with their SHA-256.  *seq
	 * (may be NULL) gets the entry's seq.
	 */
	int (*audit_append)(tf_db_txn *t, tf_audit_event *ev, uint64_t *seq,
			    tf_err *err);
	/* Entries of one chain (agency: an id, or "" for the system chain)
	   with seq >= from, in seq order, at most limit (0: all). */
	int (*audit_scan)(tf_db_txn *t, const char *agency, uint64_t from,
			  size_t limit, tf_db_audit_fn fn, void *arg,
			  tf_err *err);

	/* A device's uploaded audit log: head (0 and genesis when none),
	   one entry by seq, append (TF_EEXIST when seq is there). */
	int (*devaudit_head)(tf_db_txn *t, const char *agency,
			     const char *device, uint64_t *seq,
			     uint8_t hash[32], tf_err *err);
	int (*devaudit_put)(tf_db_txn *t, const char *agency,
			    const char *device, const tf_db_audit *a,
			    tf_err *err);
	int (*devaudit_scan)(tf_db_txn *t, const char *agency,
			     const char *device, uint64_t from, size_t limit,
			     tf_db_audit_fn fn, void *arg, tf_err *err);

	int (*stats)(tf_db_txn *t, tf_db_stats *out, tf_err *err);
} tf_db_ops;

/* Every backend's tf_db and tf_db_txn start with these headers, so callers
   reach the operations as t->ops->user_get(t, ...). */
struct tf_db {
	const tf_db_ops *ops;
};
struct tf_db_txn {
	const tf_db_ops *ops;
	tf_db *db;
	int writable; /* 1 inside tf_db_write */
};

extern const tf_db_ops tf_db_sqlite_ops;

/*
 * Opens the backend named by the DSN's scheme: "sqlite:<path>" (or a bare
 * path) for SQLite; creates and migrates the schema as needed (versioned
 * migrations in the meta table; a database of a newer schema version is
 * refused with TF_EVERSION).  o NULL = defaults.
 */
int tf_db_open(const char *dsn, const tf_db_options *o, tf_db **out,
	       tf_err *err);
void tf_db_close(tf_db *db);
void tf_db_options_default(tf_db_options *o);

static inline int tf_db_read(tf_db *db, tf_db_txn_fn fn, void *arg,
			     tf_err *err)
{
	return db->ops->read(db, fn, arg, err);
}

static inline int tf_db_write(tf_db *db, tf_db_txn_fn fn, void *arg,
			      tf_err *err)
{
	return db->ops->write(db, fn, arg, err);
}

#endif

/*
 * client.h - libtenfour-client: the native offline client.  The core
 * replica (merge, queue, notices) over an encrypted store (src/store)
 * and a libcurl transport to tenfourd, with the client-side CJIS rules of
 * policy.h applied: offline grant, idle lock, failed unlocks and wipe,
 * clock rollback, remote wipe with a signed receipt.
 *
 * A client lives in one directory ("home"):
 *   <home>/store/          the encrypted store (ciphertext only)
 *   <home>/identity.pem    the device's Ed25519 identity (enrollment and
 *                          the login proof, wipe receipts), 0600
 *   device key             the device-bound key file (default
 *                          <home>/device.key, 0600), which with the PIN
 *                          opens the store; keep it off backups
 *
 * States: not enrolled -> enrolled (identity made, the administrator
 * registers its public key) -> logged in (online: session token, offline
 * grant, keyring made under the PIN at the first login) -> unlocked /
 * locked.  Data calls need an unlocked client (TF_ELOCKED otherwise).
 *
 * Time comes from the clock in the options (tests inject one); every
 * function that may lock for idleness checks it first and returns
 * TF_ELOCKED once the idle limit passed.
 *
 * Errors are 0 or a negative TF_E* code with what and where in err:
 *   TF_ELOCKED  locked (unlock first)
 *   TF_EAUTH    wrong PIN (err says attempts left), refused login
 *   TF_EWIPE    the store was crypto-erased just now (failed unlocks or a
 *               revoked device); the client is closed for data
 *   TF_EEXPIRED offline grant past not_after: online login needed
 *   TF_EROLLBACK the clock went back: online login needed
 *   TF_EREVOKED the server revoked this device (the client wiped itself)
 *   TF_ENET     the server could not be reached (work stays queued)
 *   TF_ENOTFOUND, TF_EVALIDATE, ... from the core for bad input
 * Not thread-safe: one thread uses one tf_client at a time.
 */
#ifndef TENFOUR_CLIENT_H
#define TENFOUR_CLIENT_H

#include "tenfour/replica.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tf_client tf_client;

/* Clocks: wall time (ms since the epoch) and a monotonic reading (ms). */
typedef struct tf_client_clock {
	int64_t (*wall_ms)(void *ctx);
	int64_t (*mono_ms)(void *ctx);
	void *ctx;
} tf_client_clock;

typedef struct tf_client_opts {
	const char *home;	 /* required; made 0700 when missing */
	const char *device_key;	 /* NULL: <home>/device.key */
	const char *schema_path; /* NULL: schemas/cad.json */
	/*
	 * Overrides the server URL recorded at enrollment (a proxy, a moved
	 * server; the CLI's --server).  NULL: the enrolled one.
	 */
	const char *server_url;
	const char *ca_file;	 /* TLS trust for https (NULL: system) */
	long timeout_ms;	 /* per HTTP exchange, 0: 30 s */
	uint64_t cache_budget;	 /* bytes of records kept, 0: 256 MiB */
	int exempt;		 /* AC-11 exempt terminal (agency decision) */
	const tf_client_clock *clock; /* NULL: the system clocks */
	uint32_t pbkdf2_iter;	 /* 0: 600,000 (lower is refused) */
	int bench_plaintext;	 /* benchmarks only: see store.h */
} tf_client_opts;

/* Opens the home (locked).  A home whose store was wiped opens empty. */
int tf_client_open(const tf_client_opts *o, tf_client **out, tf_err *err);
/* Locks (zeroizes) and frees; NULL is fine. */
void tf_client_close(tf_client *c);

/*
 * Makes the device identity (Ed25519) and records server, agency and
 * device id.  pub_b64 gets the public key (base64url, 43 chars + NUL)
 * for `tenfourd admin device-enroll ID --pubkey ...`.  TF_EEXIST when
 * the home is enrolled already.
 */
int tf_client_enroll(tf_client *c, const char *server_url, const char *agency,
		     const char *device_id, char pub_b64[64], tf_err *err);

/* The agency's AC-8 banner (text appended to out) and its revision. */
int tf_client_banner(tf_client *c, tf_buf *out, int64_t *rev, tf_err *err);

typedef struct tf_client_login_req {
	const char *user;
	const char *password;
	const char *totp;    /* 6 digits */
	int64_t banner_rev;  /* the revision the user acknowledged */
	const char *pin;     /* PIN or passphrase; at the first login it */
	size_t pin_len;	     /* becomes the store's (rules of policy.h) */
} tf_client_login_req;

/*
 * Online login: device proof, password, TOTP, banner.  Verifies the
 * offline grant against the server's /v1/keys, stores it and the session
 * token (sealed), accepts the clock guard.  At the first login the
 * keyring is made under the PIN (which must pass tf_pin_check, or
 * tf_passphrase_check when it is not all digits: TF_EVALIDATE with
 * nothing made or sent otherwise); later the PIN must open it first (a
 * wrong one counts as a failed unlock; nothing is sent).  A home
 * belongs to one user: another user is TF_EPERM.  TF_EREVOKED (the
 * store wiped) when the server says the device is revoked.  After a
 * wipe the same identity logs in onto a new store (the device is then
 * evidently not revoked: no receipt is due).  Unlocked afterwards.
 */
int tf_client_login(tf_client *c, const tf_client_login_req *req,
		    tf_err *err);

/*
 * Offline unlock with the PIN: refused past the grant (TF_EEXPIRED) or
 * after a clock rollback (TF_EROLLBACK) before the PIN is tried; the
 * failed-unlock count is persisted before the PIN is tried; the grant's
 * wipe_after-th failure crypto-erases the store (TF_EWIPE).  Audited.
 */
int tf_client_unlock(tf_client *c, const char *pin, size_t len, tf_err *err);
/* Zeroizes keys and decrypted caches in memory.  Audited. */
void tf_client_lock(tf_client *c);
int tf_client_is_unlocked(tf_client *c);
/* Counts as user activity (resets the idle timer) when unlocked. */
void tf_client_touch(tf_client *c);
/*
 * Ends the session on the server when reachable, erases the token and
 * the decrypted caches, locks.  Queued work and the store stay.
 */
int tf_client_logout(tf_client *c, tf_err *err);
/*
 * Crypto-erases the store now (user request).  Audited before.  The
 * home keeps identity.pem and wipe-pending.json ({agency, audit_entry,
 * device, server, wiped_at}: the wipe's own audit entry, no CJI) until
 * a revoked device's receipt went (tf_client_sync sends it).
 */
int tf_client_wipe(tf_client *c, tf_err *err);

/* ---------------------------------------------------------------- data */

/*
 * Record view: {record, sync, pending, notices} (tf_replica_view_json),
 * plus "stale":[ref fields past fetched_at + ttl] for records of an
 * entity with ref fields.  Audited as an access (not handed out when
 * the audit entry cannot be written).  TF_ENOTFOUND for an unknown id.
 */
int tf_client_get(tf_client *c, const char *record_id, tf_buf *out,
		  tf_err *err);
/* [{id, entity, sync}] sorted by id; entity NULL for all. */
int tf_client_list(tf_client *c, const char *entity, tf_buf *out,
		   tf_err *err);
/*
 * Queues a mutation (op name as in PROTOCOL.md: create, set, append,
 * set_add, set_remove, edit_text, resolve), applies it to the view at
 * once and persists it before returning.  record_id NULL for create.
 * online: whether the caller believes it is online (online_only fields
 * are refused offline).  Audited (create / modify).
 */
int tf_client_mutate(tf_client *c, const char *entity, const char *record_id,
		     const char *op, const char *args_json, int online,
		     char cmd_id[TF_UUID_LEN + 1],
		     char record_id_out[TF_UUID_LEN + 1], tf_err *err);
/* Open notices (supersede, rejection) as a JSON array. */
int tf_client_notices(tf_client *c, tf_buf *out, tf_err *err);
/* Acknowledges a notice; audited as a supersede acknowledgement. */
int tf_client_ack(tf_client *c, const char *notice_id, tf_err *err);
/*
 * Records with an open text conflict: [{record_id, entity, field,
 * conflict:{...}}] from the views (base, head, proposed, merged).
 */
int tf_client_conflicts(tf_client *c, tf_buf *out, tf_err *err);
/*
 * Resolves the field's first open text conflict (by conflict id) with
 * the chosen text (choice: "mine" = the conflict's proposed text,
 * "theirs" = its head, "merged" (TF_ENOTFOUND when the conflict has no
 * clean merge) or "edited" with `text` (sent as the protocol's "custom";
 * "custom" is accepted too); text is ignored otherwise): queues a
 * resolve command and persists it; audited (conflict_resolution) with
 * what was discarded: {by, bytes, from, sha256} of each text not kept,
 * never the text itself.  TF_ENOTFOUND when the field has no conflict.
 */
int tf_client_resolve(tf_client *c, const char *record_id, const char *field,
		      const char *choice, const char *text, tf_err *err);

/* ---------------------------------------------------------------- sync */

typedef struct tf_client_status {
	int enrolled, logged_in, unlocked;
	int online;		  /* last exchange with the server succeeded */
	int64_t last_contact_ms;  /* 0: never */
	int64_t grant_not_after;  /* 0: no grant */
	int64_t lock_in_ms;	  /* until the idle lock, when unlocked */
	uint32_t unlock_attempts_left;
	tf_replica_summary sum;	  /* valid when unlocked */
} tf_client_status;
int tf_client_status_get(tf_client *c, tf_client_status *st);
/* The same as JSON (the CLI's --json): {agency, device, enrolled,
   grant_not_after, last_contact_ms, lock_in_ms, logged_in, online,
   summary (tf_replica_summary_json, null when locked),
   unlock_attempts_left, unlocked, user, wipe_pending}. */
int tf_client_status_json(tf_client *c, tf_buf *out, tf_err *err);

/* Progress of a sync: records received so far and the estimated total
   (0 when unknown); pushed commands and how many there were. */
typedef struct tf_client_progress {
	uint64_t records_done, records_total;
	uint64_t pushed, to_push;
} tf_client_progress;
typedef void (*tf_client_progress_fn)(void *ctx,
				      const tf_client_progress *p);

/*
 * One sync round: push every queued command (in order, batches), pull
 * every page (each page and its effects committed atomically, so a crash
 * resumes from the last committed page), upload the local audit log,
 * evict under the cache budget.  Handles clock_skew (re-stamp and
 * resend), reset, purges, and device_revoked (wipe, signed receipt,
 * TF_EREVOKED).  TF_ENET when the server is unreachable (nothing lost:
 * everything stays queued).
 */
int tf_client_sync(tf_client *c, tf_client_progress_fn fn, void *ctx,
		   tf_err *err);

/*
 * Syncs, then listens to the server's event stream and syncs on each
 * poke, retrying with exponential backoff and jitter (1 s .. 60 s) while
 * unreachable, until *stop becomes non-zero, max_ms passes (0: no limit)
 * or the idle lock / a wipe ends it.  Returns 0 on stop or time out.
 */
int tf_client_watch(tf_client *c, volatile int *stop, int64_t max_ms,
		    tf_client_progress_fn fn, void *ctx, tf_err *err);

/* ------------------------------------------------------------- lookups */

/*
 * Cached lookups and BOLOs: the record view (as tf_client_get) with
 * "refs":{field:{fetched_at, stale, ttl}} for each ref field holding a
 * value, judged at the current time.  Audited as an access.
 */
int tf_client_lookup(tf_client *c, const char *record_id, tf_buf *out,
		     tf_err *err);

/* --------------------------------------------------------------- audit */

/*
 * The local audit log (hash-chained, sealed): the entries as a JSON
 * array, oldest first; from_seq 0 for all.  Audit reads are audited.
 */
int tf_client_audit(tf_client *c, uint64_t from_seq, tf_buf *out,
		    tf_err *err);
/* Re-hashes the local chain: 0 intact, TF_EHASH at the first bad entry. */
int tf_client_audit_verify(tf_client *c, tf_err *err);

#ifdef __cplusplus
}
#endif
#endif

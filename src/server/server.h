/*
 * server.h - tenfourd's services, free of HTTP: what each endpoint does,
 * given the parsed transport facts (body bytes, the bearer token, the
 * peer address, the time).  http.c maps requests onto these and their
 * errors onto status codes; tests call them directly too.
 *
 * Endpoints (docs/API.md is the reference):
 *   GET  /healthz                       -> {"status":"ok"}
 *   GET  /metrics                       Prometheus text
 *   GET  /v1/keys                       tf_srv_keys: grant-signing public keys
 *   GET  /v1/auth/banner?agency=ID      tf_auth_banner
 *   POST /v1/auth/login                 tf_auth_login
 *   POST /v1/auth/logout                tf_auth_logout (session)
 *   POST /v1/sync/push                  tf_sync_push (session)
 *   GET  /v1/sync/pull?cursor=&limit=&wait=  tf_sync_pull (session)
 *   GET  /v1/sync/events                SSE pokes (session), Last-Event-ID
 *   GET  /v1/conflicts                  tf_sync_conflicts (session)
 *   GET  /v1/records/ID/text/FIELD      tf_sync_text_revisions (session)
 *   POST /v1/devices/wipe-receipt       tf_auth_wipe_receipt (no session)
 *   POST /v1/audit/device               tf_audit_device_upload (session)
 *   GET  /v1/audit/export?from=&limit=  tf_audit_export (auditor, admin)
 *   GET  /v1/audit/verify               tf_audit_verify_server (auditor, admin)
 *   POST /v1/admin/devices/ID/revoke    tf_admin_device_revoke (admin)
 *   POST /v1/admin/users/ID/release     tf_admin_user_release (admin)
 *   POST /v1/admin/users/ID/revoke-sessions  tf_admin_sessions_revoke (admin)
 * A session is "Authorization: Bearer <token>" plus the header
 * "X-Tenfour-Device: <device id>", which must name the device the session
 * was bound to at login.
 *
 * Errors: every function returns 0 or a negative TF_E* code with err set
 * (err->where names the field or parameter).  http.c answers
 *   TF_EAUTH 401, TF_EREVOKED 403 (+ "wipe":true), TF_EPERM 403,
 *   TF_ELOCKED 403, TF_ENOTFOUND 404, TF_ELIMIT 413 for bodies else 400,
 *   TF_EBUSY 503, TF_EIO and TF_ENOMEM 500, anything else 400,
 * with the body {"code": tf_errcode(), "message": err->msg, "field":
 * err->where}.  A refused request changes nothing (except the audit entry
 * and the failure count a refused logon must leave).
 */
#ifndef TF_SERVER_H
#define TF_SERVER_H

#include "crypto/crypto.h"
#include "server/db/db.h"

/* Request limits (the HTTP layer enforces the body size before parsing). */
#define TF_SRV_MAX_BODY ((size_t)8 * 1024 * 1024)   /* push, audit upload */
#define TF_SRV_MAX_SMALL_BODY ((size_t)16 * 1024)   /* login, receipts */
#define TF_SRV_MAX_PULL_LIMIT 5000
#define TF_SRV_DEFAULT_PULL_LIMIT 1000
#define TF_SRV_MAX_WAIT_S 60
#define TF_SRV_MAX_AUDIT_UPLOAD 1000 /* device audit entries per upload */
#define TF_SRV_TOKEN_BYTES 32        /* 256-bit session tokens */
#define TF_SRV_LOGIN_PROOF_WINDOW_MS ((int64_t)5 * 60 * 1000)

/* Poke: records of `agency` changed; the feed head is now `chg`. */
typedef void (*tf_srv_notify_fn)(void *arg, const char *agency, uint64_t chg);

typedef struct tf_srv {
	tf_db *db;
	const tf_schema *schema;
	tf_sigkey *key;            /* offline-grant signing key (Ed25519) */
	char key_id[TF_ID_MAX + 1]; /* "k-" + 16 hex of SHA-256(public key) */
	char epoch[17];            /* 16 hex: this database's feed identity */
	int64_t max_skew_ms;       /* clock_skew threshold, default 60000 */
	int64_t totp_window;       /* TOTP steps accepted either side, 1 */
	uint32_t pbkdf2_iter;      /* for new password hashes, >= 600000 */
	tf_srv_notify_fn notify;   /* may be NULL */
	void *notify_arg;
	const char *node;          /* "tenfourd" + host, for audit `where` */
} tf_srv;

/* Who is calling: a live session, its user and its enrolled device. */
typedef struct tf_srv_caller {
	tf_db_session session;
	tf_db_user user;
	tf_db_device device;
	char source[TF_AUDIT_SOURCE_MAX + 1]; /* peer address */
} tf_srv_caller;

/*
 * Loads or creates the server's identity in the database's meta table:
 * the signing key (PEM) and the feed epoch.  Fills s->key, key_id, epoch.
 */
int tf_srv_init_identity(tf_srv *s, tf_err *err);
void tf_srv_fini(tf_srv *s); /* frees s->key */

/*
 * Appends one server audit entry in transaction t (a write).  The event's
 * seq and prev are set by the backend; ts_ms, source and where must be
 * set by the caller.
 */
int tf_srv_audit(tf_db_txn *t, tf_audit_event *ev, tf_err *err);

/* ----------------------------------------------------------- auth.c */

/* {"keys":[{"alg":"Ed25519","key_id":"...","public_key":"<b64url>"}]} */
int tf_srv_keys(tf_srv *s, tf_buf *out, tf_err *err);

/* {"agency","banner","banner_rev"}; TF_ENOTFOUND for an unknown agency. */
int tf_auth_banner(tf_srv *s, const char *agency, tf_buf *out, tf_err *err);

/*
 * POST /v1/auth/login, body:
 *   {"agency","user","password","totp":"123456","device_id",
 *    "banner_rev":n, "proof":{"ts":ms,"sig":"<b64url Ed25519>"}}
 * proof.sig signs the bytes "tenfour-login\n<agency>\n<user>\n<device>\n<ts>"
 * with the enrolled device key; ts within TF_SRV_LOGIN_PROOF_WINDOW_MS of
 * now.  banner_rev must equal the agency's (the AC-8 acknowledgement; it
 * is audited as banner_ack).  Order of checks: body shape (400), agency,
 * device, proof, then "revoked" (TF_EREVOKED, told only after the proof
 * verified), banner (before any secret is checked), account, password,
 * TOTP (window, no replay).  Every credential failure (unknown agency,
 * device or user, bad proof, disabled account, wrong password or code)
 * is the same TF_EAUTH on field "credentials"; a locked account is
 * TF_ELOCKED only when both factors were right.  A failed password or
 * TOTP counts toward the AC-7 lockout; logins of one account are
 * evaluated one at a time; password checks are bounded (TF_EBUSY when
 * saturated, or past the per-source failure limit); every outcome is
 * audited (logon_ok / logon_fail / lockout).  Reply:
 *   {"expires_at":ms,"grant":{"claims":"<canonical claims JSON>",
 *    "key_id","sig":"<b64url>"},"token":"<b64url 32 bytes>",
 *    "user":{"id","name","roles":[...],"unit"}}
 * Grants follow tf_grant (policy.h); sessions last the agency's
 * session_max_ms (<= 12 h).  Only the token's SHA-256 is stored.
 */
int tf_auth_login(tf_srv *s, const char *source, int64_t now_ms,
		  const char *body, size_t len, tf_buf *reply, tf_err *err);

/*
 * Resolves "Bearer <token>" (authorization, may be NULL) and the device
 * header into a caller.  TF_EAUTH for a missing, malformed, unknown,
 * expired or revoked token or a device that is not the session's;
 * TF_EREVOKED when the device is revoked (its sessions are revoked too).
 */
int tf_auth_session(tf_srv *s, const char *authorization, const char *device,
		    const char *source, int64_t now_ms, tf_srv_caller *out,
		    tf_err *err);
int tf_auth_logout(tf_srv *s, const tf_srv_caller *c, int64_t now_ms,
		   tf_err *err);

/*
 * POST /v1/devices/wipe-receipt (a revoked device has no session):
 *   {"agency","device_id","wiped_at":ms,"sig":"<b64url>"}
 * sig signs "tenfour-wipe\n<agency>\n<device>\n<wiped_at>" with the
 * device's enrolled key.  Only a revoked device may send one; audited as
 * device_wipe_receipt; the device becomes TF_DEV_WIPED.  Reply {"ok":true}.
 */
int tf_auth_wipe_receipt(tf_srv *s, const char *source, int64_t now_ms,
			 const char *body, size_t len, tf_buf *reply,
			 tf_err *err);

/*
 * POST /v1/audit/device: {"device_id","entries":["<entry JSON text>",...]}
 * from the caller's device, in seq order, continuing the stored head
 * (entries at or below the head must be byte-identical: a resend).  The
 * chain is verified against the stored head before anything is stored.
 * Reply {"head":{"hash":"<hex>","seq":n}}.
 */
int tf_audit_device_upload(tf_srv *s, const tf_srv_caller *c, int64_t now_ms,
			   const char *body, size_t len, tf_buf *reply,
			   tf_err *err);
/* Auditor/admin: JSON lines of the caller's agency's audit chain from seq
   `from` (each agency has its own chain); audited. */
int tf_audit_export(tf_srv *s, const tf_srv_caller *c, int64_t now_ms,
		    uint64_t from, size_t limit, tf_buf *out, tf_err *err);
/* Auditor/admin: verifies the caller's agency's chain:
   {"ok":bool,"entries":n,"fault","index","seq","message"} */
int tf_audit_verify_server(tf_srv *s, const tf_srv_caller *c, int64_t now_ms,
			   tf_buf *out, tf_err *err);

/* ----------------------------------------------------------- sync.c */

/*
 * POST /v1/sync/push for the caller's device (the body's device_id must be
 * the session's device: TF_EPERM).  Ledger rules: ARCHITECTURE.md section
 * 3 and docs/PROTOCOL.md "Ledger"; one group-committed write; the reply
 * (tf_push_reply) is written to `reply` only after the commit is durable.
 * A malformed body is refused whole (nothing applied).
 */
int tf_sync_push(tf_srv *s, const tf_srv_caller *c, int64_t now_ms,
		 const char *body, size_t len, tf_buf *reply, tf_err *err);

/*
 * GET /v1/sync/pull: one tf_pull_page for the caller from `cursor` (NULL
 * or "" = from the start), at most `limit` records.  *head gets the feed
 * head seen, *empty 1 when the page carries no records and no purged ids
 * and has_more is false (the HTTP layer may then wait for a poke).
 * TF_EINVAL (field "cursor") for a cursor that is not one of ours;
 * a cursor of another epoch, ahead of the head or from another scope is
 * answered with reset:true.
 */
int tf_sync_pull(tf_srv *s, const tf_srv_caller *c, int64_t now_ms,
		 const char *cursor, size_t limit, tf_buf *page,
		 uint64_t *head, int *empty, tf_err *err);
/* The feed position a cursor names (for Last-Event-ID), TF_EINVAL when not
   a cursor of this server. */
int tf_sync_cursor_chg(const tf_srv *s, const char *cursor, uint64_t *chg);
/* A cursor text for feed position chg for the caller (SSE `id:`). */
int tf_sync_cursor_make(const tf_srv *s, const tf_srv_caller *c, uint64_t chg,
			tf_buf *out);

/* Open text conflicts the caller may resolve (bounded, see sync.c):
   {"conflicts":[{"conflict","entity","field","opened_at","record_id"}],
    "truncated":bool}.  The read is audited at now_ms. */
int tf_sync_conflicts(tf_srv *s, const tf_srv_caller *c, int64_t now_ms,
		      tf_buf *out, tf_err *err);
/* Stored revisions of a text field the caller may read (the newest,
   bounded, see sync.c):
   {"revisions":[{"at","by","cmd_id","kind","rev","text"}],
    "truncated":bool}.  The read is audited at now_ms. */
int tf_sync_text_revisions(tf_srv *s, const tf_srv_caller *c, int64_t now_ms,
			   const char *record_id, const char *field,
			   tf_buf *out, tf_err *err);

/* ---------------------------------------------------------- admin.c */

/*
 * Administrative operations, used by `tenfourd admin` (actor: the admin
 * user named with --as, source "local", no device) and by the admin
 * endpoints (the caller's user and device).  Each
 * is one write and one audit entry.  `actor` is a user id or "system".
 */
typedef struct tf_admin_actor {
	const char *agency;
	const char *user;   /* "system" for the command line without --as */
	const char *role;   /* may be NULL */
	const char *source; /* "local" or the peer address */
	const char *where;  /* "tenfourd admin" or the endpoint */
	const char *device; /* the caller's device; NULL for the command line */
} tf_admin_actor;

int tf_admin_agency_init(tf_srv *s, const tf_admin_actor *a, const char *id,
			 const char *name, int64_t now_ms, tf_err *err);
/* Creates a user with roles and a password (checked by
   tf_passphrase_check) and a fresh TOTP secret (written, base32, to
   totp_out which has TF_DB_TOTP_MAX + 1 bytes). */
int tf_admin_user_add(tf_srv *s, const tf_admin_actor *a, const char *id,
		      const char *name, const char *const *roles, size_t nroles,
		      const char *unit, const char *password, int64_t now_ms,
		      char *totp_out, tf_err *err);
/* Disabling also revokes the user's sessions. */
int tf_admin_user_disable(tf_srv *s, const tf_admin_actor *a, const char *id,
			  int disabled, int64_t now_ms, tf_err *err);
/* Changing unit or roles revokes the user's sessions (scope changes). */
int tf_admin_user_set_unit(tf_srv *s, const tf_admin_actor *a, const char *id,
			   const char *unit, int64_t now_ms, tf_err *err);
int tf_admin_user_release(tf_srv *s, const tf_admin_actor *a, const char *id,
			  int64_t now_ms, tf_err *err);
int tf_admin_sessions_revoke(tf_srv *s, const tf_admin_actor *a,
			     const char *user, int64_t now_ms, uint64_t *n,
			     tf_err *err);
/* pubkey: base64url of the device's raw Ed25519 public key. */
int tf_admin_device_enroll(tf_srv *s, const tf_admin_actor *a, const char *id,
			   const char *label, const char *pubkey,
			   int64_t now_ms, tf_err *err);
int tf_admin_device_revoke(tf_srv *s, const tf_admin_actor *a, const char *id,
			   int64_t now_ms, tf_err *err);
/* policy_json: as tf_agency_policy_parse. */
int tf_admin_policy_set(tf_srv *s, const tf_admin_actor *a,
			const char *policy_json, int64_t now_ms, tf_err *err);
int tf_admin_banner_set(tf_srv *s, const tf_admin_actor *a, const char *text,
			int64_t now_ms, tf_err *err);

#endif

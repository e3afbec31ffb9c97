/*
 * internal.h - the inside of libtenfour-client, shared by client.c (state,
 * keys, grant, audit, data calls) and sync.c (push/pull/SSE/upload).
 * Not installed; nothing outside src/client includes it.
 *
 * Layout of a home (client.h):
 *   <home>/store/            the encrypted store (src/store)
 *   <home>/identity.pem      Ed25519 identity, 0600
 *   <home>/device.key        device-bound key (unless opts->device_key)
 *   <home>/wipe-pending.json after a crypto-erase, until the receipt went:
 *                            {"agency","audit_entry"?,"device","server",
 *                            "wiped_at"} in the clear (ids, times and the
 *                            wipe's own audit entry, chained to the erased
 *                            log: no CJI)
 *
 * Meta entries of the store (device-sealed, readable while locked):
 *   "identity"  {"agency","device","server"}
 *   "keys"      the server's /v1/keys reply (grant verification offline)
 *   "grant"     {"claims","key_id","sig"} as the login reply gave it
 *   "login"     {"expires_at","roles","unit","user"} of the last login
 *   "guard"     {"high_water_ms","offset_ms","tripped"} (tf_timeguard)
 *   "unlock"    {"failures"} (tf_unlock_state)
 *   "audit"     {"base_seq","base_prev","seq","hash","sent_seq"}: the
 *               local chain (it starts after base_seq/base_prev, the
 *               server's head when the store was made), its head, and
 *               how far it was uploaded
 *   "audit.q"   entries written while locked (newline-separated),
 *               moved into TF_SK_AUDIT rows at the next unlock
 * Sealed rows (DEK): TF_SK_RECORD <record id>, TF_SK_PENDING <20-digit
 * seq>, TF_SK_HEAD "replica", TF_SK_AUDIT <20-digit seq>,
 * TF_SK_SECRET "session" (the bearer token).
 */
#ifndef TF_CLIENT_INTERNAL_H
#define TF_CLIENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "store/store.h"
#include "tenfour/audit.h"
#include "tenfour/client.h"
#include "tenfour/policy.h"
#include "tenfour/replica.h"
#include "tenfour/schema.h"

/* The HTTP transport (http.h, owned by http.c); opaque here. */
struct tf_http;

#define TFC_PATH_MAX 1024  /* bytes of a path under the home */
#define TFC_URL_MAX 512	   /* bytes of the server URL */
#define TFC_TOKEN_MAX 128  /* bytes of a session token (43 in practice) */
#define TFC_KEYS_MAX 16384 /* bytes of the stored /v1/keys reply */
/* Entries kept in "audit.q" while locked (failed unlocks are <= 100). */
#define TFC_AUDIT_QUEUE_MAX 1024

/* The enrolled identity: what the device is, where its server is. */
typedef struct tfc_identity {
	char agency[TF_ID_MAX + 1];
	char device[TF_ID_MAX + 1];
	char server[TFC_URL_MAX + 1]; /* no trailing '/' */
	tf_sigkey *key;		      /* identity.pem, loaded on demand */
} tfc_identity;

struct tf_client {
	/* options, with every string copied into the paths below */
	tf_client_opts opts;
	tf_client_clock clock; /* opts->clock or the system clocks */

	char home[TFC_PATH_MAX];
	char store_dir[TFC_PATH_MAX];
	char device_key[TFC_PATH_MAX];
	char identity_path[TFC_PATH_MAX];
	char wipe_path[TFC_PATH_MAX];
	char schema_path[TFC_PATH_MAX];
	char ca_file[TFC_PATH_MAX]; /* "" for the system trust */
	char server_url[TFC_URL_MAX + 1]; /* opts->server_url, "" if none */

	tf_store *store;     /* NULL before enroll and after a wipe */
	tf_schema *schema;   /* loaded at open */
	tf_replica *replica; /* only while unlocked */

	int enrolled;	   /* identity known (store meta or wipe file) */
	int wiped;	   /* a wipe happened; wipe-pending.json exists */
	tfc_identity id;

	/* the last login: grant (verified), principal, clock guard */
	int logged_in; /* meta "login" exists: online login, no logout */
	int has_grant;
	tf_grant grant;
	char user[TF_ID_MAX + 1];
	char unit[TF_ID_MAX + 1]; /* "" when the user rides in none */
	int64_t session_expires_at;
	tf_timeguard guard; /* persisted in meta "guard" */
	tf_unlock_state unlock; /* persisted in meta "unlock" */
	int64_t guard_saved_hw; /* guard.high_water_ms last persisted */
	/* The device's last ledger seq at the last login (meta "login"
	   device_seq): a new replica continues after it. */
	uint64_t device_seq;
	/* The boot the monotonic clock belongs to: the guard's anchor is
	   persisted with it and restored only within the same boot (the
	   system boot id; a fixed name for an injected clock, whose
	   monotonic the tests treat as system-wide); "" = no anchor
	   across processes. */
	char boot_id[48];

	/* the session token, in memory while unlocked only (else "") */
	char token[TFC_TOKEN_MAX + 1];
	int has_session; /* a token is stored (TF_SK_SECRET "session") */

	int online;		 /* the last exchange with the server worked */
	int64_t last_contact_ms; /* wall ms of that exchange, 0 never */
	int64_t last_activity;	 /* monotonic ms of the last user activity */
	int persist_full;	 /* the next tfc_persist writes everything */

	/* local audit chain (meta "audit") */
	uint64_t audit_base_seq;
	char audit_base_prev[TF_AUDIT_PREV_LEN + 1];
	uint64_t audit_seq; /* head: last seq written (base_seq if none) */
	char audit_hash[TF_AUDIT_PREV_LEN + 1]; /* head hash, hex */
	uint64_t audit_sent; /* last seq the server acknowledged */
	int64_t audit_ts;    /* ts of the head entry (ts never goes back) */

	struct tf_http *http; /* made by http.c on first use; NULL until */
};

/* ------------------------------------------------------------ helpers */

/*
 * The transport to the server (opts->server_url, else the enrolled
 * URL), made on first use and kept in c->http (freed at close).
 * TF_EAUTH when the home is not enrolled; tf_http_new's errors.
 */
int tfc_http(tf_client *c, struct tf_http **out, tf_err *err);

/*
 * Reads the clocks (opts->clock, else CLOCK_REALTIME/CLOCK_MONOTONIC):
 * the only place the client reads time.  Either pointer may be NULL.
 * Returns 0 (TF_ERANGE when the wall clock is outside [0, 2^48)).
 */
int tfc_now(tf_client *c, int64_t *wall, int64_t *mono);

/*
 * The gate of every data call: TF_ELOCKED when the client is locked, or
 * when the idle limit passed (then it locks, audited), or when the grant
 * expired or the clock was set back since the last check (then it locks:
 * TF_EEXPIRED / TF_EROLLBACK, the guard persisted, audited).  Does not
 * count as activity (tf_client_touch does).
 */
int tfc_require_unlocked(tf_client *c, tf_err *err);

/* Marks user activity now (the idle timer restarts). */
void tfc_activity(tf_client *c);

/*
 * Writes what changed in the replica since the last checkpoint (records,
 * pending commands, head) in one store transaction; then
 * tf_replica_checkpoint_done.  On failure the transaction is rolled back
 * and the next call writes the same changes again.  Unlocked only.
 */
int tfc_persist(tf_client *c, tf_err *err);

/*
 * Appends one local audit entry (audit.h) to the chain: actor = the
 * grant's user (or "system" without one), device and agency of the
 * identity; source "local"; where e.g. "mdt/unlock".  record_id/entity
 * /field may be NULL; detail_json NULL or a JSON object text (bounded
 * by TF_AUDIT_DETAIL_MAX).  Unlocked: a TF_SK_AUDIT row and the head in
 * one transaction; locked: queued in meta "audit.q" (moved at unlock).
 */
int tfc_audit(tf_client *c, tf_audit_type type, int success,
	      const char *where, const char *entity, const char *record_id,
	      const char *field, const char *detail_json, tf_err *err);

/*
 * The same with every member of the event's "what" (entity, record_id,
 * cmd_id, field, target), type, success, where and detail taken from ev
 * (seq, ts, actor, source and prev are filled here).
 */
int tfc_audit_ev(tf_client *c, const tf_audit_event *ev, tf_err *err);

/*
 * Local entries with seq > from_seq, oldest first, at most max: fn gets
 * each entry's canonical bytes (cleansed after the call); a non-zero
 * return stops.  Unlocked only (flushes "audit.q" first).
 */
typedef int (*tfc_audit_fn)(void *ctx, uint64_t seq, const char *entry,
			    size_t len);
int tfc_audit_each(tf_client *c, uint64_t from_seq, size_t max,
		   tfc_audit_fn fn, void *ctx, tf_err *err);

/* The last seq the server acknowledged (sync.c uploads after it). */
uint64_t tfc_audit_sent(tf_client *c);
/*
 * After POST /v1/audit/device answered head {seq, hash}: records it as
 * uploaded.  TF_EHASH when it is not an entry of the local chain (the
 * server's chain and ours disagree).
 */
int tfc_audit_uploaded(tf_client *c, uint64_t seq, const char *hash_hex,
		       tf_err *err);

/*
 * Crypto-erase now (revoked device, failed unlocks, user request): the
 * wipe is audited, wipe-pending.json written (agency, device, server,
 * wiped_at), then tf_store_wipe, the replica, token, grant and caches
 * forgotten.  identity.pem stays for the signed receipt.  Returns 0 when
 * the erase completed (the caller then reports TF_EWIPE/TF_EREVOKED).
 */
int tfc_wipe(tf_client *c, const char *reason, tf_err *err);

/*
 * The wipe receipt (sync.c sends POST /v1/devices/wipe-receipt): 0 and
 * agency, device, server and wiped_at from wipe-pending.json, or
 * TF_ENOTFOUND when no receipt is due.
 */
int tfc_wipe_pending(tf_client *c, char agency[TF_ID_MAX + 1],
		     char device[TF_ID_MAX + 1], char server[TFC_URL_MAX + 1],
		     int64_t *wiped_at, tf_err *err);
/*
 * Signs `msg` with the identity (loads identity.pem on first use):
 * sig_b64 gets the base64url signature (86 chars + NUL).
 */
int tfc_sign(tf_client *c, const void *msg, size_t len, char sig_b64[96],
	     tf_err *err);
/*
 * The server took the receipt: removes wipe-pending.json and
 * identity.pem; the home is then fresh (enroll again).
 */
int tfc_wipe_receipt_sent(tf_client *c, tf_err *err);

/*
 * The session for requests: *token (borrowed, valid until lock/logout)
 * and *device.  TF_ELOCKED when locked, TF_EAUTH when not logged in.
 */
int tfc_session(tf_client *c, const char **token, const char **device,
		tf_err *err);
/*
 * Verifies an offline grant: the key key_id of the /v1/keys reply
 * (keys_json) must have signed the claims bytes (sig: base64url); then
 * tf_grant_parse.  TF_EAUTH when no key has that id or the signature
 * does not verify (err says which), the parser's errors otherwise.
 */
int tfc_grant_verify(const char *keys_json, size_t klen, const char *claims,
		     size_t clen, const char *key_id, const char *sig_b64,
		     tf_grant *out, tf_err *err);

/* The server refused the session (401): forgets the token. */
void tfc_session_drop(tf_client *c);

/* ------------------------- between client.c and audit_local.c only */

/* Reads meta "audit" into c (a store without it: an empty chain). */
int tfc_audit_load(tf_client *c, tf_err *err);
/* Moves the entries of "audit.q" into TF_SK_AUDIT rows (unlocked). */
int tfc_audit_flush(tf_client *c, tf_err *err);
/*
 * A chain with no entry yet starts after the server's head for this
 * device (seq, hash hex; seq 0: the genesis), so uploads continue it.
 * TF_ESTATE when local entries exist already.
 */
int tfc_audit_rebase(tf_client *c, uint64_t seq, const char *hash_hex,
		     tf_err *err);
/* The head entry's bytes appended to out; TF_ENOTFOUND for none. */
int tfc_audit_head_entry(tf_client *c, tf_buf *out, tf_err *err);
/* Forgets the in-memory chain state (after a wipe). */
void tfc_audit_forget(tf_client *c);

/* The result of an exchange with the server: updates online and
   last_contact_ms (now) when ok, online = 0 otherwise. */
void tfc_contact(tf_client *c, int ok);

#endif

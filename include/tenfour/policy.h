/*
 * policy.h - the client-side CJIS rules as pure functions of state and
 * time: the offline grant and clock-rollback guard (IA-11), the idle lock
 * (AC-11), failed unlocks and the crypto-erase (5.13), failed logons
 * (AC-7), PIN and passphrase rules (IA-5), agency policy settings, the
 * retention/eviction choice for the encrypted cache, and scope evaluation
 * of a record for a principal.
 *
 * Nothing here reads a clock, verifies a signature or touches storage.
 * The host verifies the grant's signature before tf_grant_parse, passes
 * wall time (`now_ms`, ms since the Unix epoch, UTC) and a monotonic
 * reading (`mono_ms`, ms from any origin; it may restart with the
 * process), and persists the small state structs below, encrypted with
 * the rest of the store, *before* it acts on a decision.
 *
 * The numbers come from the FBI CJIS Security Policy v5.9.5 (see the
 * project's DOMAIN notes); each constant below names its control.  They
 * are ceilings: an agency may be stricter, never looser.
 */
#ifndef TENFOUR_POLICY_H
#define TENFOUR_POLICY_H

#include "tenfour/replica.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- limits */

#define TF_POLICY_MINUTE_MS ((int64_t)60 * 1000)
#define TF_POLICY_HOUR_MS ((int64_t)60 * TF_POLICY_MINUTE_MS)

/* IA-11: offline window of a grant and server session lifetime, <= 12 h. */
#define TF_POLICY_MAX_OFFLINE_MS (12 * TF_POLICY_HOUR_MS)
#define TF_POLICY_MAX_SESSION_MS (12 * TF_POLICY_HOUR_MS)
/* AC-11: idle lock <= 30 min; under 1 s is a misconfiguration. */
#define TF_POLICY_MAX_LOCK_MS (30 * TF_POLICY_MINUTE_MS)
#define TF_POLICY_MIN_LOCK_MS ((int64_t)1000)
/* 5.13: crypto-erase after 1..100 failed unlocks (agency's choice). */
#define TF_POLICY_MIN_WIPE_AFTER 1u
#define TF_POLICY_MAX_WIPE_AFTER 100u
/* AC-7: at most 5 failed logons within at least 15 min lock the account. */
#define TF_POLICY_MAX_LOCKOUT_FAILURES 5u
#define TF_POLICY_MIN_LOCKOUT_WINDOW_MS (15 * TF_POLICY_MINUTE_MS)
#define TF_POLICY_MAX_LOCKOUT_WINDOW_MS (24 * TF_POLICY_HOUR_MS)
/*
 * How far the wall clock may step back (NTP corrections, drift between the
 * wall and the monotonic clock) before it counts as a rollback.  The most
 * a user can stretch a grant by moving the clock is this much.
 */
#define TF_POLICY_CLOCK_TOLERANCE_MS ((int64_t)60 * 1000)

/* Roles in a grant or principal; role names follow schema names. */
#define TF_POLICY_MAX_ROLES 16
/* Bytes of a grant's claims document (the signed JSON). */
#define TF_GRANT_MAX_BYTES 4096

/* IA-5 */
#define TF_PIN_MIN 6
#define TF_PIN_MAX 32			/* digits */
#define TF_PASSPHRASE_MIN 8		/* characters (code points) */
#define TF_PASSPHRASE_MAX 1024		/* bytes */
#define TF_PASSPHRASE_EXTRA_MAX 1000000 /* entries of a host blocklist */

/* Records one eviction call considers. */
#define TF_EVICT_MAX_RECORDS ((size_t)16 * 1024 * 1024)

/* -------------------------------------------------------- agency policy */

/*
 * The agency's settings.  tf_agency_policy_check enforces the ceilings
 * above; the server issues grants from them.
 */
typedef struct tf_agency_policy {
	int64_t lock_after_ms;	   /* idle lock, 1 s .. 30 min */
	int64_t offline_window_ms; /* grant lifetime, 0 (no offline use) .. 12 h
				    */
	int64_t session_max_ms;	   /* online session, 1 min .. 12 h */
	uint32_t wipe_after;	   /* failed unlocks before the wipe, 1..100 */
	uint32_t lockout_failures; /* failed logons that lock, 1..5 */
	int64_t lockout_window_ms; /* ... within this window, 15 min .. 24 h */
} tf_agency_policy;

/* The CJIS ceilings: 30 min, 12 h, 12 h, 10 unlocks, 5 in 15 min. */
void tf_agency_policy_default(tf_agency_policy *p);

/*
 * Checks every setting against its range.  TF_ERANGE with err->where the
 * setting's JSON name ("lock_after_ms") and a message giving the value,
 * the allowed range and the control ("lock_after_ms is 2400000 ms; CJIS
 * AC-11 allows at most 1800000 ms (30 min)").  Stops at the first bad
 * setting.
 */
int tf_agency_policy_check(const tf_agency_policy *p, tf_err *err);

/*
 * Reads settings from a JSON object with exactly the members
 * {lock_after_ms, lockout_failures, lockout_window_ms, offline_window_ms,
 * session_max_ms, wipe_after}, all integers, then checks them as above.
 * Errors: the parser's (TF_EJSON, ...), TF_ETYPE, TF_EMISSING,
 * TF_EUNKNOWN, TF_ERANGE, each naming the member.  *out is written only
 * on success.
 */
int tf_agency_policy_parse(const char *json, size_t len, tf_agency_policy *out,
			   tf_err *err);
/* Canonical JSON of the settings (for the policy_change audit entry). */
int tf_agency_policy_write(const tf_agency_policy *p, tf_buf *out);

/* --------------------------------------------------------- offline grant */

/*
 * The claims of an offline grant, signed by the server at online login:
 *
 *   {"agency":"...", "device":"...", "issued_at":ms, "key_id":"...",
 *    "lock_after":ms, "not_after":ms, "roles":["officer", ...],
 *    "user":"...", "wipe_after":n}
 *
 * Times are ms since the epoch (server clock); lock_after is an idle
 * duration in ms.  Ids (user, device, agency, key_id) are
 * [A-Za-z0-9._@-]{1,64}; roles are 1..16 distinct names [a-z][a-z0-9_]*
 * of at most 32 bytes.
 */
typedef struct tf_grant {
	char user[TF_ID_MAX + 1];
	char device[TF_ID_MAX + 1];
	char agency[TF_ID_MAX + 1];
	char key_id[TF_ID_MAX + 1];
	char roles[TF_POLICY_MAX_ROLES][TF_NAME_MAX + 1];
	size_t nroles;
	int64_t issued_at;
	int64_t not_after;  /* valid while server time < not_after */
	int64_t lock_after; /* idle ms, 1 s .. 30 min */
	uint32_t wipe_after;
} tf_grant;

/*
 * Parses and validates claims bytes the host has already verified the
 * signature of.  Rejects: bytes over TF_GRANT_MAX_BYTES (TF_ELIMIT),
 * malformed JSON, a non-object, unknown members (TF_EUNKNOWN), missing ones
 * (TF_EMISSING), wrong types (TF_ETYPE), bad ids or role names, duplicate
 * or too many roles (TF_EVALIDATE, TF_ELIMIT), and out-of-range times
 * (TF_ERANGE): issued_at outside [0, 2^48), not_after <= issued_at,
 * not_after - issued_at > 12 h, lock_after outside 1 s .. 30 min,
 * wipe_after outside 1..100.  err->where names the member.  *out is
 * written only on success.
 */
int tf_grant_parse(const char *json, size_t len, tf_grant *out, tf_err *err);

/* The same checks on a filled struct (the server, before signing). */
int tf_grant_check(const tf_grant *g, tf_err *err);

/*
 * The canonical claims bytes the server signs (and tf_grant_parse reads).
 * Checks g first: the errors of tf_grant_check, then TF_ENOMEM/TF_ELIMIT.
 */
int tf_grant_write(const tf_grant *g, tf_buf *out, tf_err *err);

/*
 * Fills the times and limits of a grant from the agency settings at
 * server time now_ms: issued_at = now_ms, not_after = now_ms +
 * offline_window_ms, lock_after, wipe_after.  Ids and roles are the
 * caller's.  TF_EPERM when the agency disabled offline use
 * (offline_window_ms 0), TF_ERANGE for a now_ms outside [0, 2^48) or
 * settings that fail tf_agency_policy_check.
 */
int tf_grant_from_policy(const tf_agency_policy *p, int64_t now_ms, tf_grant *g,
			 tf_err *err);

/*
 * TF_EPERM when the grant was issued to another user or device (a grant
 * copied from another MDT); 0 when both match.
 */
int tf_grant_matches(const tf_grant *g, const char *user, const char *device,
		     tf_err *err);

/*
 * The clock guard.  The host persists the first three members and keeps
 * the anchor in memory only: a monotonic clock restarts with the process,
 * so after a restart `anchored` is 0 and the next check re-anchors.
 *
 * Rollback is detected two ways:
 *  - the wall clock is more than TF_POLICY_CLOCK_TOLERANCE_MS behind the
 *    highest wall time ever seen (high_water_ms, survives restarts);
 *  - within one run, the wall clock advanced more than the tolerance less
 *    than the monotonic clock did since the last check (the clock was set
 *    back between two checks), or the monotonic reading went backwards.
 * The wall clock running *ahead* of the monotonic clock is not a rollback:
 * CLOCK_MONOTONIC and performance.now() stop while the machine sleeps, and
 * a forward step can only make a grant expire sooner.
 *
 * Expiry is judged on server time: offset_ms = server time - device wall
 * time, measured when the grant was accepted, so a device clock that runs
 * 40 s fast neither shortens nor lengthens the grant.
 *
 * Once a check returns EXPIRED or ROLLBACK, `tripped` holds that verdict
 * and every later check returns it without looking at the clocks (moving
 * the clock forward again does not revive the grant): the device stays
 * locked until an online re-auth brings a new grant (tf_timeguard_accept).
 */
typedef struct tf_timeguard {
	int64_t high_water_ms; /* persisted: greatest device wall time seen */
	int64_t offset_ms;     /* persisted: server - device at acceptance */
	int tripped;	       /* persisted: 0 or a tf_grant_status */
	int anchored;	       /* in memory: anchor_* are set */
	int64_t anchor_wall_ms;
	int64_t anchor_mono_ms;
} tf_timeguard;

typedef enum tf_grant_status {
	TF_GRANT_OK = 0,
	TF_GRANT_EXPIRED, /* past not_after: locked until online re-auth */
	TF_GRANT_ROLLBACK /* the clock was set back: treated as expired */
} tf_grant_status;

const char *tf_grant_status_name(tf_grant_status s);

typedef struct tf_grant_decision {
	tf_grant_status status;
	int64_t server_now_ms; /* the time the verdict used (server time) */
	int64_t remaining_ms;  /* until not_after when OK, else 0 */
	tf_timeguard next;     /* adopt; persist its first three members */
	char reason[192];      /* why, for the user and the audit entry */
} tf_grant_decision;

/*
 * After an online login: the host accepts a freshly verified grant.
 * server_ms is the server's time from the login reply (or, failing that,
 * g->issued_at).  Sets offset_ms, rebases high_water_ms to now_ms (the
 * only step that may move it backwards: the host audits clock_rebase when
 * it does), clears `tripped` and anchors at (now_ms, mono_ms).
 * TF_ERANGE when now_ms or server_ms is outside [0, 2^48); TF_EEXPIRED
 * when the grant is not valid at server_ms (server_ms >= not_after or
 * more than the tolerance before issued_at); tg is unchanged on error.
 */
int tf_timeguard_accept(tf_timeguard *tg, const tf_grant *g, int64_t server_ms,
			int64_t now_ms, int64_t mono_ms, tf_err *err);

/*
 * The offline-grant verdict at wall time now_ms and monotonic mono_ms.
 * Pure: tg is read, out->next is the state to adopt (high_water_ms never
 * decreases; the anchor moves to this check unless it found a rollback).
 * The grant is valid while server time (now_ms + offset_ms, never less
 * than the high-water mark's) is in [issued_at - tolerance, not_after):
 * exactly at not_after it is EXPIRED.  A wall time before the grant's
 * issue (beyond the tolerance) is a ROLLBACK.
 * A stored state out of range (high_water_ms, offset_ms or anchor outside
 * what tf_timeguard_accept produces) is read as a ROLLBACK.
 * Returns 0 with out filled, or (out untouched) TF_ERANGE for a now_ms
 * outside [0, 2^48) and TF_EINVAL for a grant that fails tf_grant_check.
 */
int tf_grant_decide(const tf_grant *g, const tf_timeguard *tg, int64_t now_ms,
		    int64_t mono_ms, tf_grant_decision *out);

/* -------------------------------------------------------------- idle lock */

/*
 * The idle limit in ms: the grant's lock_after, lowered to the agency's
 * agency_lock_ms when that is smaller, unless the terminal is `exempt`
 * (a patrol-car MDT or a terminal in a secure dispatch center, by agency
 * decision, AC-11).  tenfour never exempts fully: even an exempt terminal
 * locks after the grant's lock_after (<= 30 min), because the data key
 * must not stay in memory unattended without bound.  A non-positive
 * agency_lock_ms means "no agency setting".
 */
int64_t tf_idle_limit(const tf_grant *g, int64_t agency_lock_ms, int exempt);

/*
 * 1 when the session must lock: mono_now - last_activity_mono >= the idle
 * limit, or the monotonic reading is earlier than the last activity (a
 * restarted clock: locking is the safe answer).  Both readings are from
 * the monotonic clock so that changing the wall clock cannot keep a
 * session open.  *left_ms (may be NULL) gets the ms until the lock, 0 when
 * locking.
 */
int tf_idle_should_lock(const tf_grant *g, int64_t agency_lock_ms, int exempt,
			int64_t last_activity_mono, int64_t mono_now,
			int64_t *left_ms);

/* --------------------------------------------------------- failed unlocks */

/*
 * Failed unlocks, persisted by the host.  The count goes up *before* the
 * PIN is tried (tf_unlock_begin) and the host persists it then, so killing
 * the app during a wrong guess cannot keep the count from rising; a
 * success (tf_unlock_end with ok) sets it back to 0.
 */
typedef struct tf_unlock_state {
	uint32_t failures; /* attempts since the last success, unfinished
			      included */
} tf_unlock_state;

typedef enum tf_unlock_action {
	TF_UNLOCK_TRY = 1, /* persist `next`, then verify the PIN */
	TF_UNLOCK_RETRY,   /* wrong PIN: the user may try again */
	TF_UNLOCK_WIPE,	   /* crypto-erase now: wrapped keys, then data */
	TF_UNLOCK_UNLOCKED /* right PIN */
} tf_unlock_action;

typedef struct tf_unlock_decision {
	tf_unlock_action action;
	uint32_t attempts_left; /* failures still allowed before the wipe */
	tf_unlock_state next;	/* persist before acting */
} tf_unlock_decision;

const char *tf_unlock_action_name(tf_unlock_action a);

/*
 * Before verifying a PIN.  WIPE when failures >= wipe_after already (a
 * wipe interrupted earlier must still happen), else TRY with
 * next.failures = failures + 1 and attempts_left counting this attempt.
 * TF_ERANGE (out untouched) for wipe_after outside 1..100.
 */
int tf_unlock_begin(const tf_unlock_state *st, uint32_t wipe_after,
		    tf_unlock_decision *out);

/*
 * After verifying: ok -> UNLOCKED, failures 0.  Not ok -> WIPE when the
 * count (already raised by tf_unlock_begin) reached wipe_after, else RETRY.
 * TF_ERANGE for wipe_after outside 1..100; TF_EINVAL when st->failures is
 * 0 (tf_unlock_begin was not called).
 */
int tf_unlock_end(const tf_unlock_state *st, int ok, uint32_t wipe_after,
		  tf_unlock_decision *out);

/* ---------------------------------------------------------- failed logons */

/*
 * Server-side account lockout (AC-7): the times of the most recent failed
 * logons, oldest first.  `locked` stays set until an administrator
 * releases the account (tf_lockout_release); the host audits lockout and
 * release.
 */
typedef struct tf_lockout_state {
	int64_t fail_ms[TF_POLICY_MAX_LOCKOUT_FAILURES];
	uint32_t nfail;
	int locked;
} tf_lockout_state;

/*
 * Records a failed logon at now_ms: failures older than the window drop
 * out; when p->lockout_failures remain within p->lockout_window_ms the
 * account locks.  *locked gets 1 when the account is locked (by this
 * failure or before).  A now_ms earlier than the last recorded failure
 * (the server's clock stepped back) counts as the time of that failure:
 * a step back can then only keep failures in the window longer, never
 * drop them early.  Errors (st unchanged): TF_ERANGE for settings that
 * fail tf_agency_policy_check or a now_ms outside [0, 2^48), TF_EINVAL
 * for a corrupt state (nfail over the array, a stored time out of range).
 */
int tf_lockout_fail(tf_lockout_state *st, const tf_agency_policy *p,
		    int64_t now_ms, int *locked);
/* A successful logon forgets the failures (the lock, if any, stays). */
void tf_lockout_success(tf_lockout_state *st);
/* An administrator releases the account: failures and lock cleared. */
void tf_lockout_release(tf_lockout_state *st);

/* ---------------------------------------------------- PIN and passphrase */

/*
 * IA-5.  A PIN is 6..32 ASCII digits and not trivial: one digit repeated
 * (111111), an ascending or descending run wrapping 9-0 (123456, 654321,
 * 890123), a repeated block (121212, 123123), or one of a few very common
 * PINs (keypad patterns such as 147258, 159753).  TF_EVALIDATE with a
 * message saying what is wrong ("PIN is an ascending run of digits").
 * The message never contains the PIN.
 */
int tf_pin_check(const char *pin, size_t len, tf_err *err);

/*
 * A passphrase is valid UTF-8 without control characters, 8 characters
 * (code points) or more and at most TF_PASSPHRASE_MAX bytes, not one
 * character repeated, not a run like "abcdefgh", and not in the built-in
 * list of the most common passwords nor in the host's `extra` list
 * (nextra entries, each a NUL-terminated string; NULL entries are
 * skipped), both compared ignoring ASCII case.  The host puts
 * context words in `extra`: the user id, the agency's name, "tenfour".
 * Errors: TF_EVALIDATE (too short, blocklisted, trivial) and TF_EUTF8, with
 * a message that never contains the passphrase; TF_ELIMIT past the byte
 * limit or for nextra > TF_PASSPHRASE_EXTRA_MAX.
 */
int tf_passphrase_check(const char *p, size_t len, const char *const *extra,
			size_t nextra, tf_err *err);

/* ----------------------------------------------------- retention/eviction */

/* One cached record as the host's store sees it. */
typedef struct tf_evict_rec {
	const char *id;	     /* record id, unique within the call */
	tf_sync_state state; /* tf_replica_state() */
	int in_scope;	     /* 0 once the principal left the record's scope */
	int64_t last_access_ms;
	uint64_t bytes; /* stored size */
} tf_evict_rec;

/*
 * Chooses records to evict so that the stored total fits `budget` bytes.
 * Only `synced` records are ever chosen: pending, rejected, conflicted and
 * superseded records hold work or a notice the user has not seen.
 * Order: out-of-scope records first, then least recently accessed, ties
 * by id (byte order), then by input position, so the choice is the same
 * on every platform.  The shortest prefix of that order that meets the
 * budget is chosen; *met = 1.  When even every synced record is not enough,
 * all synced records are chosen and *met = 0 (the host decides whether to
 * evict them anyway).
 *
 * out_idx must have room for n indices; *nout gets how many were chosen,
 * in eviction order; *remaining (may be NULL) the bytes left after
 * evicting them.  Errors: TF_EINVAL (a NULL id, state TF_SYNC_NONE or
 * unknown) naming the index; TF_ELIMIT for n > TF_EVICT_MAX_RECORDS;
 * TF_ERANGE when the byte total overflows; TF_ENOMEM.  Outputs are
 * untouched on error.
 */
int tf_policy_evict(const tf_evict_rec *recs, size_t n, uint64_t budget,
		    size_t *out_idx, size_t *nout, int *met,
		    uint64_t *remaining, tf_err *err);

/* ------------------------------------------------------------------ scope */

/* Who is asking: from the grant (tf_grant_principal) or the session. */
typedef struct tf_principal {
	const char *user;
	const char *unit;   /* the unit the user rides in, or NULL */
	const char *agency; /* not compared here; see tf_policy_in_scope */
	const char *roles[TF_POLICY_MAX_ROLES];
	size_t nroles;
} tf_principal;

/* A principal borrowing g's strings (valid while g is) and `unit`. */
void tf_grant_principal(const tf_grant *g, const char *unit, tf_principal *out);

/*
 * Whether the record state `rec` (docs/PROTOCOL.md section 4) of entity e
 * is in the principal's scope: *in_scope = 1 when one of the principal's
 * roles is in e->read_roles, else by the entity's rule:
 *  - agency: always (see below);
 *  - assigned_unit: p->unit equals the value of scope_field, a set (any
 *    live element) or an lww field;
 *  - author: p->user equals the value of the lww field scope_field;
 *  - participant: p->user is an element of the set field scope_field.
 * A scope field without state, with a null value or with a non-string
 * value gives 0.  Agency separation is the server's: the record format
 * carries no agency, each agency's records live in its own partition, and
 * the server never serves one agency's records to another's devices; so
 * p->agency is not compared here.
 * Errors: TF_EINVAL (NULL principal user, rec not a record of entity e),
 * TF_ESCHEMA (the rule's field is missing from e or of a class the rule
 * cannot read), TF_ETYPE (the field's state is malformed), naming
 * "entity.field".  *in_scope is untouched on error.
 */
int tf_policy_in_scope(const tf_entity *e, const tf_json *rec,
		       const tf_principal *p, int *in_scope, tf_err *err);

#ifdef __cplusplus
}
#endif
#endif

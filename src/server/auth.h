/*
 * auth.h - private to tenfourd: the password-hash encoding shared by
 * auth.c (login) and admin.c (user creation, password change), so both
 * write and read exactly one format:
 *
 *   "pbkdf2-sha256$<iter>$<b64url salt, 16 bytes>$<b64url key, 32 bytes>"
 *
 * PBKDF2-HMAC-SHA256 (src/crypto), iter in [TF_PBKDF2_MIN_ITER,
 * TF_PBKDF2_MAX_ITER], a fresh 128-bit salt per hash.
 */
#ifndef TF_SERVER_AUTH_H
#define TF_SERVER_AUTH_H

#include "server/server.h"

/*
 * Hashes the password (len bytes, at most TF_PASSPHRASE_MAX) with
 * s->pbkdf2_iter iterations and a random salt into out.  Errors:
 * TF_ELIMIT (password too long), TF_ERANGE (s->pbkdf2_iter outside the
 * PBKDF2 range), TF_EIO (the crypto library).  Does not check the
 * passphrase rules (tf_passphrase_check is the caller's).
 */
int tf_auth_hash_password(const tf_srv *s, const char *pw, size_t len,
			  char out[TF_DB_PWHASH_MAX + 1]);

/*
 * 0 when pw matches the stored hash (constant-time comparison of the
 * derived key), TF_EAUTH when it does not, TF_EINVAL for a stored value
 * that is not in the format above (or an iteration count out of range),
 * TF_ELIMIT for a password over TF_PASSPHRASE_MAX bytes, TF_EIO from the
 * crypto library.  Takes as long as the stored iteration count says.
 */
int tf_auth_check_password(const char *stored, const char *pw, size_t len);

/*
 * Login abuse bounds, process-wide (auth.c):
 *  pbkdf2_slots: logins whose credentials are checked at once (PBKDF2 is
 *    CPU-bound; default 2 x the online CPUs);
 *  pbkdf2_queue: logins that may wait for a slot; one more is refused at
 *    once with TF_EBUSY (503) (default 64);
 *  src_failures, src_window_ms: failed logons one peer address may make
 *    in a window (default 20 in 5 minutes); past that its logins are
 *    refused with TF_EBUSY before any check and without an audit entry
 *    each; the refusals of a window are audited as one logon_fail entry
 *    {"suppressed": n} in the system chain at the source's next allowed
 *    attempt.  The table of addresses is bounded (4096; the oldest window
 *    makes room).
 */
typedef struct tf_auth_limits {
	size_t pbkdf2_slots;
	size_t pbkdf2_queue;
	uint32_t src_failures;
	int64_t src_window_ms;
} tf_auth_limits;

void tf_auth_limits_default(tf_auth_limits *l);
/* Sets the bounds (NULL: the defaults; 0 slots or window: the default)
   and forgets every address's count. */
void tf_auth_limits_set(const tf_auth_limits *l);
/* Takes a credential-check slot, waiting for one; TF_EBUSY at once when
   pbkdf2_queue logins already wait.  Pair with tf_auth_gate_leave. */
int tf_auth_gate_enter(void);
void tf_auth_gate_leave(void);

#endif

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

#endif

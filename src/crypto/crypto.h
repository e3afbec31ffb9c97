/*
 * crypto.h - the host-side cryptography of tenfourd and the native client,
 * through OpenSSL EVP only (no hand-written primitives, FIPS-provider
 * ready: every algorithm is fetched by name from the default library
 * context, so loading the FIPS provider in openssl.cnf is enough).
 *
 * The core (src/core) never hashes or signs; the shells call this.
 * Every function returns 0 or a negative TF_E* code (tenfour/tenfour.h);
 * OpenSSL failures are TF_EIO with the OpenSSL reason in err->msg.
 * Secrets passed in are never logged or copied into error messages.
 */
#ifndef TF_CRYPTO_H
#define TF_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "tenfour/tenfour.h"

#define TF_SHA256_LEN 32
#define TF_SHA1_LEN 20
/* PBKDF2-HMAC-SHA256: CJIS/OWASP floor and a ceiling against abuse. */
#define TF_PBKDF2_MIN_ITER 600000u
#define TF_PBKDF2_MAX_ITER 10000000u
#define TF_SALT_LEN 16 /* 128 bits */
/* Ed25519 */
#define TF_ED25519_PUB_LEN 32
#define TF_ED25519_SIG_LEN 64

/* n bytes from the OpenSSL DRBG (RAND_bytes). */
int tf_random_bytes(uint8_t *out, size_t n);

int tf_sha256(const void *data, size_t len, uint8_t out[TF_SHA256_LEN]);
/* HMAC with SHA-1 (TOTP, RFC 6238 default) or SHA-256, via EVP_MAC. */
int tf_hmac_sha1(const uint8_t *key, size_t keylen, const void *data,
		 size_t len, uint8_t out[TF_SHA1_LEN]);
int tf_hmac_sha256(const uint8_t *key, size_t keylen, const void *data,
		   size_t len, uint8_t out[TF_SHA256_LEN]);

/*
 * PBKDF2-HMAC-SHA256 (EVP_KDF "PBKDF2").  TF_ERANGE for iter outside
 * [TF_PBKDF2_MIN_ITER, TF_PBKDF2_MAX_ITER] or saltlen < TF_SALT_LEN.
 */
int tf_pbkdf2_sha256(const void *pw, size_t pwlen, const uint8_t *salt,
		     size_t saltlen, uint32_t iter, uint8_t *out, size_t outlen);

/* Constant-time comparison: 1 when equal. */
int tf_ct_equal(const void *a, const void *b, size_t n);

/*
 * base64url without padding (RFC 4648 section 5).  Encode writes
 * ((n + 2) / 3) * 4 bytes at most plus a NUL into out (outcap bytes);
 * decode refuses padding, whitespace and bad characters (TF_EINVAL) and
 * output over outcap (TF_ELIMIT); *outlen gets the decoded length.
 */
int tf_b64url_encode(const uint8_t *in, size_t n, char *out, size_t outcap);
int tf_b64url_decode(const char *in, size_t n, uint8_t *out, size_t outcap,
		     size_t *outlen);
/* RFC 4648 base32 (upper case, no padding on output; decode ignores case
   and accepts '=' padding) for TOTP secrets. */
int tf_b32_encode(const uint8_t *in, size_t n, char *out, size_t outcap);
int tf_b32_decode(const char *in, size_t n, uint8_t *out, size_t outcap,
		  size_t *outlen);

/* ------------------------------------------------------------ Ed25519 */

/* An Ed25519 key (private or public only); opaque, wraps an EVP_PKEY. */
typedef struct tf_sigkey tf_sigkey;

int tf_sigkey_generate(tf_sigkey **out);
/* Private key from/to PKCS#8 PEM (unencrypted; the file's mode protects
   it: the loader refuses a file readable by group or others, TF_EPERM). */
int tf_sigkey_load_pem(const char *path, tf_sigkey **out, tf_err *err);
int tf_sigkey_save_pem(const tf_sigkey *k, const char *path, tf_err *err);
/* PEM text in memory (for storing the key in the database). */
int tf_sigkey_from_pem(const char *pem, size_t len, tf_sigkey **out,
		       tf_err *err);
int tf_sigkey_to_pem(const tf_sigkey *k, tf_buf *out);
/* A public-only key from the 32 raw bytes. */
int tf_sigkey_from_public(const uint8_t pub[TF_ED25519_PUB_LEN],
			  tf_sigkey **out);
int tf_sigkey_public(const tf_sigkey *k, uint8_t pub[TF_ED25519_PUB_LEN]);
/* TF_EINVAL when k has no private half. */
int tf_sigkey_sign(const tf_sigkey *k, const void *msg, size_t len,
		   uint8_t sig[TF_ED25519_SIG_LEN]);
/* 0 when sig is a valid signature of msg under k, TF_EAUTH when not. */
int tf_sigkey_verify(const tf_sigkey *k, const void *msg, size_t len,
		     const uint8_t *sig, size_t siglen);
void tf_sigkey_free(tf_sigkey *k);

/* ---------------------------------------------------------------- TOTP */

/*
 * RFC 6238 TOTP with HMAC-SHA1, 30 s steps, 6 digits.  tf_totp_code
 * writes the code of time step `step` (unix seconds / 30) as 6 digits and
 * a NUL.  tf_totp_verify accepts a code of step-window..step+window at
 * time now_ms and returns the matched step in *matched; a code whose step
 * is <= *last_step (already used: a replay) is refused.  TF_EAUTH on no
 * match, TF_EINVAL for a code that is not 6 digits.  Comparison is
 * constant time.
 */
#define TF_TOTP_STEP_S 30
#define TF_TOTP_DIGITS 6
int tf_totp_code(const uint8_t *key, size_t keylen, int64_t step,
		 char out[TF_TOTP_DIGITS + 1]);
int tf_totp_verify(const uint8_t *key, size_t keylen, const char *code,
		   int64_t now_ms, int window, int64_t last_step,
		   int64_t *matched);

/* ------------------------------------------------------ AES-256-GCM */

#define TF_AEAD_KEY_LEN 32
#define TF_AEAD_NONCE_LEN 12 /* 96 bits (SP 800-38D) */
#define TF_AEAD_TAG_LEN 16
/* Bytes of plaintext or AAD one call takes (EVP counts in int). */
#define TF_AEAD_MAX ((size_t)1 << 30)

/*
 * AES-256-GCM (EVP "AES-256-GCM").  Seal writes len bytes of ciphertext
 * and the 16-byte tag after them: out needs len + TF_AEAD_TAG_LEN bytes.
 * Open takes ciphertext and tag (len includes the tag) and writes
 * len - TF_AEAD_TAG_LEN bytes; TF_EAUTH when the tag does not verify
 * (wrong key, altered bytes or AAD), and then out is zeroed.  The nonce
 * must never repeat under one key: the caller makes and counts them.
 * TF_ELIMIT past TF_AEAD_MAX, TF_EIO/TF_ENOMEM from OpenSSL.
 */
int tf_aead_seal(const uint8_t key[TF_AEAD_KEY_LEN],
		 const uint8_t nonce[TF_AEAD_NONCE_LEN], const void *aad,
		 size_t aadlen, const void *pt, size_t len, uint8_t *out);
int tf_aead_open(const uint8_t key[TF_AEAD_KEY_LEN],
		 const uint8_t nonce[TF_AEAD_NONCE_LEN], const void *aad,
		 size_t aadlen, const uint8_t *ct, size_t len, uint8_t *out);

/* Zeroes key material in a way the compiler keeps (OPENSSL_cleanse). */
void tf_cleanse(void *p, size_t n);

#endif

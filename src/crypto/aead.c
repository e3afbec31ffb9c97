/*
 * aead.c - AES-256-GCM sealing for the native client's store, through
 * OpenSSL 3 EVP only (EVP_CIPHER_fetch "AES-256-GCM" from the default
 * library context, so a configured FIPS provider serves it unchanged).
 *
 * Nonces are the caller's: the store makes them 96-bit random and counts
 * the seals of each key (SP 800-38D section 8.3) so that no key sees 2^32
 * of them.  The tag is 128 bits and is appended to the ciphertext.
 */
#include "crypto/crypto.h"

#include <assert.h>
#include <limits.h>
#include <stdatomic.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

static _Atomic(EVP_CIPHER *) g_gcm;

/* Fetched once per process, like the digests of crypto.c. */
static EVP_CIPHER *fetch_gcm(void)
{
	EVP_CIPHER *c = atomic_load(&g_gcm), *expected = NULL;

	if (c != NULL)
		return c;
	c = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	if (c == NULL)
		return NULL;
	if (!atomic_compare_exchange_strong(&g_gcm, &expected, c)) {
		EVP_CIPHER_free(c);
		c = expected;
	}
	return c;
}

void tf_cleanse(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

/*
 * One GCM pass.  enc 1 seals (out gets len bytes, then the tag at
 * out + len), enc 0 opens (in holds len bytes of ciphertext, tag is the
 * 16 bytes after them).  EVP takes int lengths: callers bound len below
 * TF_AEAD_MAX.
 */
static int gcm(int enc, const uint8_t key[TF_AEAD_KEY_LEN],
	       const uint8_t nonce[TF_AEAD_NONCE_LEN], const void *aad,
	       size_t aadlen, const uint8_t *in, size_t len, uint8_t *out,
	       const uint8_t *tag_in, uint8_t *tag_out)
{
	static const uint8_t empty[1];
	EVP_CIPHER *cipher = fetch_gcm();
	EVP_CIPHER_CTX *ctx = NULL;
	int n = 0, rc = TF_EIO;

	if (cipher == NULL)
		goto out;
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL) {
		rc = TF_ENOMEM;
		goto out;
	}
	if (EVP_CipherInit_ex2(ctx, cipher, key, nonce, enc, NULL) != 1)
		goto out;
	if (aadlen > 0 && EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1)
		goto out;
	if (len > 0 &&
	    EVP_CipherUpdate(ctx, out, &n, in ? in : empty, (int)len) != 1)
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG,
					TF_AEAD_TAG_LEN, (void *)tag_in) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, out + (len > 0 ? (size_t)n : 0), &n) != 1) {
		/* Opening: the tag did not verify (wrong key, altered bytes,
		   other AAD).  Nothing of `out` may be used. */
		rc = enc ? TF_EIO : TF_EAUTH;
		if (!enc)
			OPENSSL_cleanse(out, len);
		goto out;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG,
				       TF_AEAD_TAG_LEN, tag_out) != 1)
		goto out;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	if (rc)
		ERR_clear_error();
	return rc;
}

int tf_aead_seal(const uint8_t key[TF_AEAD_KEY_LEN],
		 const uint8_t nonce[TF_AEAD_NONCE_LEN], const void *aad,
		 size_t aadlen, const void *pt, size_t len, uint8_t *out)
{
	assert(key != NULL && nonce != NULL && out != NULL);
	if (len > TF_AEAD_MAX || aadlen > TF_AEAD_MAX)
		return TF_ELIMIT;
	return gcm(1, key, nonce, aad, aadlen, pt, len, out, NULL, out + len);
}

int tf_aead_open(const uint8_t key[TF_AEAD_KEY_LEN],
		 const uint8_t nonce[TF_AEAD_NONCE_LEN], const void *aad,
		 size_t aadlen, const uint8_t *ct, size_t len, uint8_t *out)
{
	assert(key != NULL && nonce != NULL && out != NULL);
	if (len < TF_AEAD_TAG_LEN)
		return TF_EAUTH;
	if (len - TF_AEAD_TAG_LEN > TF_AEAD_MAX || aadlen > TF_AEAD_MAX)
		return TF_ELIMIT;
	return gcm(0, key, nonce, aad, aadlen, ct, len - TF_AEAD_TAG_LEN, out,
		   ct + len - TF_AEAD_TAG_LEN, NULL);
}

/*
 * crypto.c - hashing, HMAC, PBKDF2, random bytes and Ed25519 keys for the
 * shells (tenfourd, the native client), through OpenSSL 3 EVP only.
 *
 * Every algorithm is fetched by name from the default library context
 * (NULL) with no property query, so a FIPS provider configured in
 * openssl.cnf serves them without a code change.  No deprecated low-level
 * API (SHA256(), HMAC(), ED25519_sign ...) is used.  The contract is
 * crypto.h; the encodings are in codec.c, TOTP in totp.c.
 */
#include "crypto/crypto.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

/* A PEM private key is ~120 bytes; anything this big is not one. */
#define PEM_MAX ((size_t)64 * 1024)
/* PBKDF2 output: a password hash is 32 bytes; bound the work per call. */
#define PBKDF2_MAX_OUT ((size_t)1024)
#define PATH_MAX_LEN ((size_t)4096)

struct tf_sigkey {
	EVP_PKEY *pkey;
	int has_private;
};

/*
 * Fills err with TF_EIO, `what` and the reason of the latest OpenSSL error,
 * and empties this thread's OpenSSL error queue so a stale entry is never
 * reported for a later, unrelated failure.
 */
static int ossl_fail(tf_err *err, int code, const char *where, const char *what)
{
	char reason[160];
	unsigned long e = ERR_peek_last_error();

	if (e != 0)
		ERR_error_string_n(e, reason, sizeof reason);
	else
		snprintf(reason, sizeof reason, "no OpenSSL reason given");
	ERR_clear_error();
	return tf_err_set(err, code, where, "%s: %s (%s)", where, what, reason);
}

/*
 * The fetched algorithms are cached for the life of the process: a fetch
 * takes the provider store's lock, which the server's threads would
 * otherwise contend on for every token hash.  A failed fetch is not cached
 * (a later call retries); two threads racing keep one object and free the
 * other.
 */
static _Atomic(EVP_MD *) g_sha256;
static _Atomic(EVP_MAC *) g_hmac;
static _Atomic(EVP_KDF *) g_pbkdf2;

static EVP_MD *fetch_sha256(void)
{
	EVP_MD *md = atomic_load(&g_sha256), *expected = NULL;

	if (md != NULL)
		return md;
	md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (md == NULL)
		return NULL;
	if (!atomic_compare_exchange_strong(&g_sha256, &expected, md)) {
		EVP_MD_free(md);
		md = expected;
	}
	return md;
}

static EVP_MAC *fetch_hmac(void)
{
	EVP_MAC *mac = atomic_load(&g_hmac), *expected = NULL;

	if (mac != NULL)
		return mac;
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (mac == NULL)
		return NULL;
	if (!atomic_compare_exchange_strong(&g_hmac, &expected, mac)) {
		EVP_MAC_free(mac);
		mac = expected;
	}
	return mac;
}

static EVP_KDF *fetch_pbkdf2(void)
{
	EVP_KDF *kdf = atomic_load(&g_pbkdf2), *expected = NULL;

	if (kdf != NULL)
		return kdf;
	kdf = EVP_KDF_fetch(NULL, "PBKDF2", NULL);
	if (kdf == NULL)
		return NULL;
	if (!atomic_compare_exchange_strong(&g_pbkdf2, &expected, kdf)) {
		EVP_KDF_free(kdf);
		kdf = expected;
	}
	return kdf;
}

int tf_random_bytes(uint8_t *out, size_t n)
{
	if (n == 0)
		return 0;
	if (out == NULL || n > INT_MAX)
		return TF_EINVAL;
	if (RAND_bytes(out, (int)n) != 1)
		return ossl_fail(NULL, TF_EIO, "random", "RAND_bytes failed");
	return 0;
}

int tf_sha256(const void *data, size_t len, uint8_t out[TF_SHA256_LEN])
{
	static const uint8_t empty[1];
	EVP_MD *md;
	unsigned int outlen = 0;

	if ((data == NULL && len != 0) || out == NULL)
		return TF_EINVAL;
	md = fetch_sha256();
	if (md == NULL)
		return ossl_fail(NULL, TF_EIO, "sha256", "SHA256 unavailable");
	if (EVP_Digest(data ? data : empty, len, out, &outlen, md, NULL) != 1 ||
	    outlen != TF_SHA256_LEN)
		return ossl_fail(NULL, TF_EIO, "sha256", "digest failed");
	return 0;
}

/* HMAC with the named digest through EVP_MAC; outlen is the digest size. */
static int hmac(const char *digest, const uint8_t *key, size_t keylen,
		const void *data, size_t len, uint8_t *out, size_t outlen)
{
	static const uint8_t empty[1];
	EVP_MAC *mac;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	size_t got = 0;
	int rc = TF_EIO;

	if ((key == NULL && keylen != 0) || (data == NULL && len != 0) ||
	    out == NULL)
		return TF_EINVAL;
	mac = fetch_hmac();
	if (mac == NULL)
		return ossl_fail(NULL, TF_EIO, "hmac", "HMAC unavailable");
	ctx = EVP_MAC_CTX_new(mac);
	if (ctx == NULL) {
		rc = ossl_fail(NULL, TF_EIO, "hmac", "EVP_MAC_CTX_new failed");
		goto out;
	}
	/* The provider casts away const only to hold the pointer. */
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	/* A NULL key would mean "keep the previous key": pass a real one. */
	if (EVP_MAC_init(ctx, key ? key : empty, keylen, params) != 1 ||
	    EVP_MAC_update(ctx, data ? data : empty, len) != 1 ||
	    EVP_MAC_final(ctx, out, &got, outlen) != 1 || got != outlen) {
		rc = ossl_fail(NULL, TF_EIO, "hmac", "HMAC failed");
		goto out;
	}
	rc = 0;
out:
	EVP_MAC_CTX_free(ctx);
	return rc;
}

int tf_hmac_sha1(const uint8_t *key, size_t keylen, const void *data,
		 size_t len, uint8_t out[TF_SHA1_LEN])
{
	return hmac("SHA1", key, keylen, data, len, out, TF_SHA1_LEN);
}

int tf_hmac_sha256(const uint8_t *key, size_t keylen, const void *data,
		   size_t len, uint8_t out[TF_SHA256_LEN])
{
	return hmac("SHA256", key, keylen, data, len, out, TF_SHA256_LEN);
}

/*
 * PBKDF2-HMAC-SHA256.  TF_ERANGE for an iteration count outside the floor
 * and ceiling or a salt shorter than TF_SALT_LEN; TF_EINVAL for NULL
 * pointers or outlen outside 1..PBKDF2_MAX_OUT; TF_EIO from OpenSSL.
 */
int tf_pbkdf2_sha256(const void *pw, size_t pwlen, const uint8_t *salt,
		     size_t saltlen, uint32_t iter, uint8_t *out, size_t outlen)
{
	static const uint8_t empty[1];
	EVP_KDF *kdf;
	EVP_KDF_CTX *ctx = NULL;
	OSSL_PARAM params[5];
	unsigned int iter_u = iter;
	int rc = TF_EIO;

	if ((pw == NULL && pwlen != 0) || salt == NULL || out == NULL ||
	    outlen == 0 || outlen > PBKDF2_MAX_OUT)
		return TF_EINVAL;
	if (iter < TF_PBKDF2_MIN_ITER || iter > TF_PBKDF2_MAX_ITER ||
	    saltlen < TF_SALT_LEN)
		return TF_ERANGE;
	kdf = fetch_pbkdf2();
	if (kdf == NULL)
		return ossl_fail(NULL, TF_EIO, "pbkdf2", "PBKDF2 unavailable");
	ctx = EVP_KDF_CTX_new(kdf);
	if (ctx == NULL) {
		rc = ossl_fail(NULL, TF_EIO, "pbkdf2",
			       "EVP_KDF_CTX_new failed");
		goto out;
	}
	params[0] = OSSL_PARAM_construct_octet_string(
		OSSL_KDF_PARAM_PASSWORD, (void *)(pw ? pw : empty), pwlen);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
						      (void *)salt, saltlen);
	params[2] = OSSL_PARAM_construct_uint(OSSL_KDF_PARAM_ITER, &iter_u);
	params[3] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						     (char *)"SHA256", 0);
	params[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, outlen, params) != 1) {
		rc = ossl_fail(NULL, TF_EIO, "pbkdf2", "derivation failed");
		goto out;
	}
	rc = 0;
out:
	EVP_KDF_CTX_free(ctx);
	return rc;
}

int tf_ct_equal(const void *a, const void *b, size_t n)
{
	if (n == 0)
		return 1;
	assert(a != NULL && b != NULL);
	return CRYPTO_memcmp(a, b, n) == 0;
}

/* ------------------------------------------------------------ Ed25519 */

static int sigkey_wrap(EVP_PKEY *pkey, int has_private, tf_sigkey **out)
{
	tf_sigkey *k = calloc(1, sizeof *k);

	if (k == NULL) {
		EVP_PKEY_free(pkey);
		return TF_ENOMEM;
	}
	k->pkey = pkey;
	k->has_private = has_private;
	*out = k;
	return 0;
}

int tf_sigkey_generate(tf_sigkey **out)
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	int rc;

	if (out == NULL)
		return TF_EINVAL;
	*out = NULL;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "ED25519", NULL);
	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 ||
	    EVP_PKEY_generate(ctx, &pkey) != 1) {
		rc = ossl_fail(NULL, TF_EIO, "ed25519",
			       "key generation failed");
		goto out;
	}
	rc = sigkey_wrap(pkey, 1, out);
out:
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

/* Encrypted PEM is not supported: never prompt on a terminal for one. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

/*
 * Parses an unencrypted PKCS#8 PEM Ed25519 private key.  A PEM that does
 * not parse, or holds another key type, is TF_EINVAL (bad input rather
 * than a failure of OpenSSL) with the OpenSSL reason; TF_ELIMIT past 64 KiB.
 */
int tf_sigkey_from_pem(const char *pem, size_t len, tf_sigkey **out,
		       tf_err *err)
{
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (pem == NULL || out == NULL)
		return tf_err_set(err, TF_EINVAL, "pem", "pem: no key given");
	if (len > PEM_MAX)
		return tf_err_set(err, TF_ELIMIT, "pem",
				  "pem: %zu bytes is over the %zu-byte limit",
				  len, PEM_MAX);
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL) {
		rc = ossl_fail(err, TF_EIO, "pem", "BIO_new_mem_buf failed");
		goto out;
	}
	pkey = PEM_read_bio_PrivateKey_ex(bio, NULL, no_password, NULL, NULL,
					  NULL);
	if (pkey == NULL) {
		rc = ossl_fail(err, TF_EINVAL, "pem",
			       "not an unencrypted PEM private key");
		goto out;
	}
	if (!EVP_PKEY_is_a(pkey, "ED25519")) {
		rc = tf_err_set(err, TF_EINVAL, "pem",
				"pem: the key is %s, not Ed25519",
				EVP_PKEY_get0_type_name(pkey)
					? EVP_PKEY_get0_type_name(pkey)
					: "of an unknown type");
		EVP_PKEY_free(pkey);
		goto out;
	}
	rc = sigkey_wrap(pkey, 1, out);
	if (rc != 0)
		tf_err_set(err, rc, "pem", "pem: out of memory");
out:
	BIO_free(bio);
	return rc;
}

/*
 * Writes the private key as PKCS#8 PEM into a secure-memory BIO (cleared
 * when freed); the caller gets the BIO and frees it.
 */
static int sigkey_pem_bio(const tf_sigkey *k, BIO **out, tf_err *err)
{
	BIO *bio;

	*out = NULL;
	if (k == NULL || !k->has_private)
		return tf_err_set(err, TF_EINVAL, "key",
				  "key: no private key to write");
	bio = BIO_new(BIO_s_secmem());
	if (bio == NULL)
		return ossl_fail(err, TF_EIO, "key", "BIO_new failed");
	if (PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL) !=
	    1) {
		BIO_free(bio);
		return ossl_fail(err, TF_EIO, "key", "PEM encoding failed");
	}
	*out = bio;
	return 0;
}

int tf_sigkey_to_pem(const tf_sigkey *k, tf_buf *out)
{
	BIO *bio = NULL;
	char *p = NULL;
	long n;
	int rc;

	if (out == NULL)
		return TF_EINVAL;
	rc = sigkey_pem_bio(k, &bio, NULL);
	if (rc != 0)
		return rc;
	n = BIO_get_mem_data(bio, &p);
	if (n <= 0 || p == NULL) {
		rc = ossl_fail(NULL, TF_EIO, "key", "empty PEM");
		goto out;
	}
	rc = tf_buf_append(out, p, (size_t)n);
out:
	BIO_free(bio);
	return rc;
}

/*
 * Reads a private key file.  The file is opened first and its mode checked
 * on the open descriptor (no window between check and read): any group or
 * other permission bit is TF_EPERM, naming the path and the mode.  Not a
 * regular file: TF_EINVAL; system errors: TF_EIO with strerror.
 */
int tf_sigkey_load_pem(const char *path, tf_sigkey **out, tf_err *err)
{
	struct stat st;
	tf_err perr;
	char *text = NULL;
	size_t len = 0;
	int fd = -1, rc;

	if (out != NULL)
		*out = NULL;
	if (path == NULL || out == NULL)
		return tf_err_set(err, TF_EINVAL, "path",
				  "path: no key file given");
	/* O_NONBLOCK: a FIFO planted at path must not hang the open. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		rc = tf_err_set(err, errno == ENOENT ? TF_ENOTFOUND : TF_EIO,
				path, "%s: cannot open key file: %s", path,
				strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		rc = tf_err_set(err, TF_EIO, path, "%s: fstat: %s", path,
				strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = tf_err_set(err, TF_EINVAL, path,
				"%s: key file is not a regular file", path);
		goto out;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		rc = tf_err_set(err, TF_EPERM, path,
				"%s: key file mode is 0%03o; it must not be "
				"accessible by group or others (chmod 600)",
				path, (unsigned)(st.st_mode & 0777));
		goto out;
	}
	if (st.st_size < 0 || (size_t)st.st_size > PEM_MAX) {
		rc = tf_err_set(err, TF_ELIMIT, path,
				"%s: key file is over %zu bytes", path,
				PEM_MAX);
		goto out;
	}
	text = malloc(PEM_MAX + 1);
	if (text == NULL) {
		rc = tf_err_set(err, TF_ENOMEM, path, "%s: out of memory",
				path);
		goto out;
	}
	/* Read to EOF, not st_size: the file may change under us. */
	for (;;) {
		ssize_t r = read(fd, text + len, PEM_MAX + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = tf_err_set(err, TF_EIO, path, "%s: read: %s", path,
					strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > PEM_MAX) {
			rc = tf_err_set(err, TF_ELIMIT, path,
					"%s: key file is over %zu bytes", path,
					PEM_MAX);
			goto out;
		}
	}
	rc = tf_sigkey_from_pem(text, len, out, &perr);
	if (rc != 0) /* name the file, not the generic "pem" */
		tf_err_set(err, rc, path, "%s: %s", path, perr.msg);
out:
	if (text != NULL) {
		tf_memzero(text, PEM_MAX + 1);
		free(text);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/* fsyncs the directory holding path so a rename in it is durable. */
static int sync_parent_dir(const char *path, tf_err *err)
{
	char dir[PATH_MAX_LEN + 1];
	const char *slash = strrchr(path, '/');
	int fd, rc = 0;

	if (slash == NULL) {
		snprintf(dir, sizeof dir, ".");
	} else if (slash == path) {
		snprintf(dir, sizeof dir, "/");
	} else {
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return tf_err_set(err, TF_EIO, path, "%s: open directory: %s",
				  path, strerror(errno));
	/* Some file systems cannot fsync a directory (EINVAL): not fatal. */
	if (fsync(fd) != 0 && errno != EINVAL)
		rc = tf_err_set(err, TF_EIO, path, "%s: fsync directory: %s",
				path, strerror(errno));
	close(fd);
	return rc;
}

/*
 * Writes the private key to path, mode 0600, atomically: a temp file
 * beside it (O_CREAT|O_EXCL|O_NOFOLLOW, random name), written, fsynced,
 * renamed over path, directory fsynced.  On failure the temp file is
 * removed and path is untouched.  TF_EINVAL for a public-only key or an
 * over-long path; TF_EIO for system errors (message names the path).
 */
int tf_sigkey_save_pem(const tf_sigkey *k, const char *path, tf_err *err)
{
	char tmp[PATH_MAX_LEN + 32];
	uint8_t rnd[8];
	char hex[2 * sizeof rnd + 1];
	BIO *bio = NULL;
	char *p = NULL;
	long n;
	size_t off = 0;
	int fd = -1, rc, made = 0;

	if (path == NULL || path[0] == '\0')
		return tf_err_set(err, TF_EINVAL, "path",
				  "path: no key file given");
	if (strlen(path) > PATH_MAX_LEN)
		return tf_err_set(err, TF_EINVAL, "path",
				  "path: over %zu bytes", PATH_MAX_LEN);
	rc = sigkey_pem_bio(k, &bio, err);
	if (rc != 0)
		return rc;
	n = BIO_get_mem_data(bio, &p);
	if (n <= 0 || p == NULL) {
		rc = ossl_fail(err, TF_EIO, path, "empty PEM");
		goto out;
	}
	rc = tf_random_bytes(rnd, sizeof rnd);
	if (rc != 0) {
		tf_err_set(err, rc, path, "%s: no random bytes for a temp name",
			   path);
		goto out;
	}
	tf_hex_encode(rnd, sizeof rnd, hex);
	snprintf(tmp, sizeof tmp, "%s.tmp-%s", path, hex);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  S_IRUSR | S_IWUSR);
	if (fd < 0) {
		rc = tf_err_set(err, TF_EIO, path, "%s: create %s: %s", path,
				tmp, strerror(errno));
		goto out;
	}
	made = 1;
	/* The umask may only narrow 0600, but say it explicitly. */
	if (fchmod(fd, S_IRUSR | S_IWUSR) != 0) {
		rc = tf_err_set(err, TF_EIO, path, "%s: fchmod: %s", path,
				strerror(errno));
		goto out;
	}
	while (off < (size_t)n) {
		ssize_t w = write(fd, p + off, (size_t)n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = tf_err_set(err, TF_EIO, path, "%s: write: %s",
					path, strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0) {
		rc = tf_err_set(err, TF_EIO, path, "%s: fsync: %s", path,
				strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = tf_err_set(err, TF_EIO, path, "%s: close: %s", path,
				strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rc = tf_err_set(err, TF_EIO, path, "%s: rename from %s: %s",
				path, tmp, strerror(errno));
		goto out;
	}
	made = 0;
	rc = sync_parent_dir(path, err);
out:
	if (fd >= 0)
		close(fd);
	if (made)
		unlink(tmp);
	BIO_free(bio);
	return rc;
}

int tf_sigkey_from_public(const uint8_t pub[TF_ED25519_PUB_LEN],
			  tf_sigkey **out)
{
	EVP_PKEY *pkey;

	if (out == NULL)
		return TF_EINVAL;
	*out = NULL;
	if (pub == NULL)
		return TF_EINVAL;
	pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, pub,
					      TF_ED25519_PUB_LEN);
	if (pkey == NULL)
		return ossl_fail(NULL, TF_EIO, "ed25519",
				 "public key import failed");
	return sigkey_wrap(pkey, 0, out);
}

int tf_sigkey_public(const tf_sigkey *k, uint8_t pub[TF_ED25519_PUB_LEN])
{
	size_t len = TF_ED25519_PUB_LEN;

	if (k == NULL || pub == NULL)
		return TF_EINVAL;
	if (EVP_PKEY_get_raw_public_key(k->pkey, pub, &len) != 1 ||
	    len != TF_ED25519_PUB_LEN)
		return ossl_fail(NULL, TF_EIO, "ed25519",
				 "public key export failed");
	return 0;
}

int tf_sigkey_sign(const tf_sigkey *k, const void *msg, size_t len,
		   uint8_t sig[TF_ED25519_SIG_LEN])
{
	static const uint8_t empty[1];
	EVP_MD_CTX *mctx = NULL;
	size_t siglen = TF_ED25519_SIG_LEN;
	int rc = TF_EIO;

	if (k == NULL || !k->has_private || sig == NULL ||
	    (msg == NULL && len != 0))
		return TF_EINVAL;
	mctx = EVP_MD_CTX_new();
	/* Ed25519 hashes internally: no digest (NULL), one-shot only. */
	if (mctx == NULL ||
	    EVP_DigestSignInit_ex(mctx, NULL, NULL, NULL, NULL, k->pkey,
				  NULL) != 1 ||
	    EVP_DigestSign(mctx, sig, &siglen, msg ? msg : empty, len) != 1 ||
	    siglen != TF_ED25519_SIG_LEN) {
		rc = ossl_fail(NULL, TF_EIO, "ed25519", "signing failed");
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(mctx);
	return rc;
}

int tf_sigkey_verify(const tf_sigkey *k, const void *msg, size_t len,
		     const uint8_t *sig, size_t siglen)
{
	static const uint8_t empty[1];
	EVP_MD_CTX *mctx = NULL;
	int rc, v;

	if (k == NULL || (msg == NULL && len != 0))
		return TF_EINVAL;
	if (sig == NULL || siglen != TF_ED25519_SIG_LEN)
		return TF_EAUTH;
	mctx = EVP_MD_CTX_new();
	if (mctx == NULL || EVP_DigestVerifyInit_ex(mctx, NULL, NULL, NULL,
						    NULL, k->pkey, NULL) != 1) {
		rc = ossl_fail(NULL, TF_EIO, "ed25519", "verify init failed");
		goto out;
	}
	v = EVP_DigestVerify(mctx, sig, siglen, msg ? msg : empty, len);
	if (v == 1) {
		rc = 0;
	} else {
		/* 0: bad signature; < 0: malformed (e.g. S out of range). */
		ERR_clear_error();
		rc = TF_EAUTH;
	}
out:
	EVP_MD_CTX_free(mctx);
	return rc;
}

void tf_sigkey_free(tf_sigkey *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

/*
 * auth.c - tenfourd's identity and authentication: the server's signing
 * key and feed epoch, the server audit append, password hashes, login
 * (password + TOTP + device proof + AC-8 banner, AC-7 lockout), sessions,
 * logout, and the revoked device's wipe receipt.  Contracts in
 * server.h and auth.h; the design is ARCHITECTURE.md section 4, the
 * numbers DOMAIN.md ("CJIS numbers").
 *
 * Slow work (PBKDF2, signatures) runs outside the database's write
 * transaction so that one login never holds up the group commit; the
 * write then re-reads the account and applies the outcome to its fresh
 * state.  A refused logon still commits its audit entries and its AC-7
 * failure count: the write callback records them and returns 0, and the
 * refusal is returned after the commit.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/auth.h"
#include "server/server.h"
#include "tenfour/json.h"

#define PWHASH_PREFIX "pbkdf2-sha256$"
#define PWHASH_KEY_LEN 32

/* ------------------------------------------------------------- audit */

int tf_srv_audit(tf_db_txn *t, tf_audit_event *ev, tf_err *err)
{
	assert(t != NULL && ev != NULL);
	assert(ev->source != NULL && ev->where != NULL);
	assert(t->writable);
	return t->ops->audit_append(t, ev, NULL, err);
}

/* ---------------------------------------------------------- identity */

typedef struct identity_ctx {
	tf_srv *s;
	tf_sigkey *key;
	char epoch[17];
} identity_ctx;

/* Loads the key PEM from meta, creating and storing one on first start. */
static int identity_key(tf_db_txn *t, identity_ctx *ic, tf_err *err)
{
	char *pem = NULL;
	size_t len = 0;
	tf_buf b;
	int rc;

	tf_buf_init(&b);
	rc = t->ops->meta_get(t, "server_key", &pem, &len, err);
	if (rc == 0) {
		rc = tf_sigkey_from_pem(pem, len, &ic->key, err);
		goto out;
	}
	if (rc != TF_ENOTFOUND)
		goto out;
	rc = tf_sigkey_generate(&ic->key);
	if (rc < 0) {
		tf_err_set(err, rc, "server_key",
			   "cannot generate the server signing key");
		goto out;
	}
	rc = tf_sigkey_to_pem(ic->key, &b);
	if (rc < 0) {
		tf_err_set(err, rc, "server_key",
			   "cannot encode the server signing key");
		goto out;
	}
	rc = t->ops->meta_put(t, "server_key", b.data, b.len, err);
out:
	if (pem != NULL) {
		tf_memzero(pem, len);
		free(pem);
	}
	if (b.data != NULL)
		tf_memzero(b.data, b.len);
	tf_buf_free(&b);
	return rc;
}

static int identity_epoch(tf_db_txn *t, identity_ctx *ic, tf_err *err)
{
	uint8_t rnd[8];
	char *val = NULL;
	size_t len = 0;
	size_t i;
	int rc;

	rc = t->ops->meta_get(t, "epoch", &val, &len, err);
	if (rc == 0) {
		if (len != 16) {
			rc = tf_err_set(err, TF_EIO, "epoch",
					"stored epoch has %zu bytes, not 16",
					len);
			goto out;
		}
		for (i = 0; i < len; i++) {
			char c = val[i];
			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
				rc = tf_err_set(err, TF_EIO, "epoch",
						"stored epoch is not hex");
				goto out;
			}
		}
		memcpy(ic->epoch, val, 16);
		ic->epoch[16] = '\0';
		goto out;
	}
	if (rc != TF_ENOTFOUND)
		goto out;
	rc = tf_random_bytes(rnd, sizeof rnd);
	if (rc < 0) {
		tf_err_set(err, rc, "epoch", "no random bytes for the epoch");
		goto out;
	}
	tf_hex_encode(rnd, sizeof rnd, ic->epoch);
	rc = t->ops->meta_put(t, "epoch", ic->epoch, 16, err);
out:
	free(val);
	return rc;
}

static int identity_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	identity_ctx *ic = arg;
	int rc;

	rc = identity_key(t, ic, err);
	if (rc == 0)
		rc = identity_epoch(t, ic, err);
	return rc;
}

/*
 * One write transaction reads or creates both meta keys, so two servers
 * starting on a fresh database cannot end up with different keys.
 */
int tf_srv_init_identity(tf_srv *s, tf_err *err)
{
	identity_ctx ic;
	uint8_t pub[TF_ED25519_PUB_LEN], h[TF_SHA256_LEN];
	char hex[2 * TF_SHA256_LEN + 1];
	int rc;

	assert(s != NULL && s->db != NULL);
	memset(&ic, 0, sizeof ic);
	ic.s = s;
	rc = tf_db_write(s->db, identity_fn, &ic, err);
	if (rc < 0)
		goto fail;
	rc = tf_sigkey_public(ic.key, pub);
	if (rc == 0)
		rc = tf_sha256(pub, sizeof pub, h);
	if (rc < 0) {
		tf_err_set(err, rc, "server_key",
			   "cannot derive the server key id");
		goto fail;
	}
	tf_hex_encode(h, sizeof h, hex);
	tf_sigkey_free(s->key);
	s->key = ic.key;
	snprintf(s->key_id, sizeof s->key_id, "k-%.16s", hex);
	memcpy(s->epoch, ic.epoch, sizeof s->epoch);
	return 0;
fail:
	tf_sigkey_free(ic.key);
	return rc;
}

void tf_srv_fini(tf_srv *s)
{
	if (s == NULL)
		return;
	tf_sigkey_free(s->key);
	s->key = NULL;
}

/* --------------------------------------------------- password hashes */

int tf_auth_hash_password(const tf_srv *s, const char *pw, size_t len,
			  char out[TF_DB_PWHASH_MAX + 1])
{
	uint8_t salt[TF_SALT_LEN], key[PWHASH_KEY_LEN];
	char salt64[32], key64[48];
	int rc, n;

	assert(s != NULL && out != NULL && (pw != NULL || len == 0));
	out[0] = '\0';
	if (len > TF_PASSPHRASE_MAX)
		return TF_ELIMIT;
	if (s->pbkdf2_iter < TF_PBKDF2_MIN_ITER ||
	    s->pbkdf2_iter > TF_PBKDF2_MAX_ITER)
		return TF_ERANGE;
	rc = tf_random_bytes(salt, sizeof salt);
	if (rc < 0)
		goto out;
	rc = tf_pbkdf2_sha256(pw, len, salt, sizeof salt, s->pbkdf2_iter, key,
			      sizeof key);
	if (rc < 0)
		goto out;
	rc = tf_b64url_encode(salt, sizeof salt, salt64, sizeof salt64);
	if (rc == 0)
		rc = tf_b64url_encode(key, sizeof key, key64, sizeof key64);
	if (rc < 0)
		goto out;
	n = snprintf(out, TF_DB_PWHASH_MAX + 1, PWHASH_PREFIX "%" PRIu32 "$%s$%s",
		     s->pbkdf2_iter, salt64, key64);
	if (n < 0 || n > TF_DB_PWHASH_MAX) {
		out[0] = '\0';
		rc = TF_ELIMIT;
	}
out:
	tf_memzero(key, sizeof key);
	tf_memzero(key64, sizeof key64);
	return rc;
}

/* Decodes one '$'-terminated (or final) b64url field of exactly want
   bytes; *p advances past it and its '$'. */
static int pwhash_field(const char **p, int last, uint8_t *out, size_t want)
{
	const char *end = last ? *p + strlen(*p) : strchr(*p, '$');
	size_t got = 0;

	if (end == NULL || end == *p)
		return TF_EINVAL;
	if (tf_b64url_decode(*p, (size_t)(end - *p), out, want, &got) < 0 ||
	    got != want)
		return TF_EINVAL;
	*p = last ? end : end + 1;
	return 0;
}

int tf_auth_check_password(const char *stored, const char *pw, size_t len)
{
	uint8_t salt[TF_SALT_LEN], want[PWHASH_KEY_LEN], got[PWHASH_KEY_LEN];
	const char *p;
	uint32_t iter = 0;
	size_t digits = 0;
	int rc;

	assert(stored != NULL && (pw != NULL || len == 0));
	if (len > TF_PASSPHRASE_MAX)
		return TF_ELIMIT;
	if (strncmp(stored, PWHASH_PREFIX, strlen(PWHASH_PREFIX)) != 0)
		return TF_EINVAL;
	p = stored + strlen(PWHASH_PREFIX);
	for (; *p >= '0' && *p <= '9'; p++) {
		if (++digits > 8)
			return TF_EINVAL;
		iter = iter * 10 + (uint32_t)(*p - '0');
	}
	if (*p != '$' || digits == 0 || iter < TF_PBKDF2_MIN_ITER ||
	    iter > TF_PBKDF2_MAX_ITER)
		return TF_EINVAL;
	p++;
	if (pwhash_field(&p, 0, salt, sizeof salt) < 0 ||
	    pwhash_field(&p, 1, want, sizeof want) < 0)
		return TF_EINVAL;
	rc = tf_pbkdf2_sha256(pw, len, salt, sizeof salt, iter, got,
			      sizeof got);
	if (rc == 0 && !tf_ct_equal(got, want, sizeof got))
		rc = TF_EAUTH;
	tf_memzero(got, sizeof got);
	tf_memzero(want, sizeof want);
	return rc;
}

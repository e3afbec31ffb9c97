/*
 * store.c - the native client's encrypted offline store (store.h): one
 * SQLite database in WAL mode holding ciphertext, random ids and clear
 * metadata only, the keyring that opens it and the device-bound key file.
 * Design: ARCHITECTURE.md section 4; the on-disk format is below.
 *
 * Tables (store.db):
 *   info(name, value)      format (1), id (16 random bytes), mode
 *                          ("sealed" | "plain"), device_check (a seal)
 *   keyring(id = 1, iter, salt, sealed)
 *   seals(gen, reserved)   seal counts reserved ahead of use: one row per
 *                          DEK generation, gen -1 for the device key
 *   meta(name, sealed)     sealed by the device key
 *   rows(kind, key, version, gen, sealed, bytes, accessed)
 *
 * Every seal is nonce (12 random bytes) | AES-256-GCM ciphertext | tag
 * (16), with the AAD naming its layer:
 *   device_check  "tenfour-store-device-v1"  | id | mode (1 byte)
 *   keyring out   "tenfour-store-keyring-outer-v1" | id | iter (4, BE) | salt
 *   keyring in    "tenfour-store-keyring-inner-v1" | id | iter | salt
 *   meta          "tenfour-store-meta-v1" | id | len (1) | name
 *   rows          "tenfour-store-row-v1"  | id | kind (1) | len (1) | key |
 *                 version (8, BE)
 * The keyring's sealed column is nonce | GCM_device(outer AAD, nonce' |
 * GCM_kek(inner AAD, "TFK1" | n (4, BE) | n DEKs of 32 bytes)), kek =
 * PBKDF2-HMAC-SHA256(secret, salt, iter).  Generation g is the DEK at
 * index g; rows name the generation that sealed them.
 *
 * Seal counts.  A key's count is reserved in the seals table a block
 * ahead, inside the transaction that writes the ciphertext, from the
 * larger of the stored count and the one in memory, so neither a crash
 * nor a second process opening the same store makes it go back.  At
 * rotate_after the next generation starts.  Another process may have
 * rotated meanwhile: before reserving, the keyring is read again when its
 * stored bytes changed (the KEK in memory opens it; a changed secret
 * locks this handle: TF_ELOCKED).
 */
#define TF_STORE_TESTING
#include "store/store.h"
#include "store/store_testing.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "crypto/crypto.h"

#define ST_ID_LEN 16
#define ST_KEY_LEN 32
#define ST_NONCE TF_AEAD_NONCE_LEN
#define ST_TAG TF_AEAD_TAG_LEN
#define ST_OVERHEAD (ST_NONCE + ST_TAG)
#define ST_FORMAT 1
#define ST_PATH_MAX 4000
#define ST_SECRET_MAX 1024
#define ST_GEN_MAX 65536u
#define ST_RESERVE_BLOCK ((uint64_t)4096)
#define ST_ROTATE_MAX ((uint64_t)1 << 31)
#define ST_DEVICE_SEALS_MAX ((uint64_t)1 << 31)
#define ST_DEVICE_CTR (-1)
#define ST_BUSY_MS 5000
#define ST_AAD_MAX 160
#define ST_DB_NAME "store.db"
#define ST_NONCE_POOL 64u

static const char check_pt[] = "tenfour device check";
static const char kr_magic[4] = {'T', 'F', 'K', '1'};

enum st_q {
	Q_BEGIN,
	Q_COMMIT,
	Q_ROLLBACK,
	Q_ROW_VER,
	Q_ROW_PUT,
	Q_ROW_GET,
	Q_ROW_DEL,
	Q_ROW_TOUCH,
	Q_SEALS_GET,
	Q_SEALS_SET,
	Q_META_GET,
	Q_META_PUT,
	Q_META_DEL,
	Q_KR_GET,
	Q_KR_PUT,
	Q_N
};

static const char *const q_sql[Q_N] = {
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	[Q_ROW_VER] = "SELECT version FROM rows WHERE kind = ?1 AND key = ?2",
	[Q_ROW_PUT] = "INSERT INTO rows(kind, key, version, gen, sealed, bytes,"
		      " accessed) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"
		      " ON CONFLICT(kind, key) DO UPDATE SET"
		      " version = excluded.version, gen = excluded.gen,"
		      " sealed = excluded.sealed, bytes = excluded.bytes,"
		      " accessed = CASE WHEN excluded.accessed <> 0"
		      " THEN excluded.accessed ELSE rows.accessed END",
	[Q_ROW_GET] = "SELECT version, gen, sealed FROM rows"
		      " WHERE kind = ?1 AND key = ?2",
	[Q_ROW_DEL] = "DELETE FROM rows WHERE kind = ?1 AND key = ?2",
	[Q_ROW_TOUCH] = "UPDATE rows SET accessed = ?3"
			" WHERE kind = ?1 AND key = ?2",
	[Q_SEALS_GET] = "SELECT reserved FROM seals WHERE gen = ?1",
	[Q_SEALS_SET] = "INSERT INTO seals(gen, reserved) VALUES(?1, ?2)"
			" ON CONFLICT(gen) DO UPDATE SET"
			" reserved = excluded.reserved",
	[Q_META_GET] = "SELECT sealed FROM meta WHERE name = ?1",
	[Q_META_PUT] = "INSERT INTO meta(name, sealed) VALUES(?1, ?2)"
		       " ON CONFLICT(name) DO UPDATE SET sealed = excluded.sealed",
	[Q_META_DEL] = "DELETE FROM meta WHERE name = ?1",
	[Q_KR_GET] = "SELECT iter, salt, sealed FROM keyring WHERE id = 1",
	[Q_KR_PUT] = "INSERT INTO keyring(id, iter, salt, sealed)"
		     " VALUES(1, ?1, ?2, ?3) ON CONFLICT(id) DO UPDATE SET"
		     " iter = excluded.iter, salt = excluded.salt,"
		     " sealed = excluded.sealed",
};

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS info(name TEXT PRIMARY KEY,"
	" value BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS keyring(id INTEGER PRIMARY KEY"
	" CHECK (id = 1), iter INTEGER NOT NULL, salt BLOB NOT NULL,"
	" sealed BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS seals(gen INTEGER PRIMARY KEY,"
	" reserved INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY,"
	" sealed BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS rows(kind INTEGER NOT NULL,"
	" key TEXT NOT NULL, version INTEGER NOT NULL, gen INTEGER NOT NULL,"
	" sealed BLOB NOT NULL, bytes INTEGER NOT NULL,"
	" accessed INTEGER NOT NULL, PRIMARY KEY (kind, key));";

struct tf_store {
	sqlite3 *db;
	sqlite3_stmt *q[Q_N];
	char *dir, *db_path, *key_path;
	uint8_t id[ST_ID_LEN];
	uint8_t dev[ST_KEY_LEN]; /* the device-bound key, while open */
	int plain;		 /* bench_plaintext */
	uint32_t iter;		 /* PBKDF2 iterations for new wraps */
	uint64_t rotate_after;
	uint64_t dev_seals, dev_reserved;
	int has_keys;

	/* Unlocked state: all zero while locked. */
	int unlocked;
	uint8_t kek[ST_KEY_LEN];
	uint8_t salt[TF_SALT_LEN];
	uint32_t kr_iter;		 /* iterations of the stored wrap */
	uint8_t kr_hash[TF_SHA256_LEN]; /* of the keyring bytes last seen */
	uint8_t (*dek)[ST_KEY_LEN];
	uint32_t ngen;			 /* generations; current = ngen - 1 */
	uint64_t seals, reserved;	 /* of the current generation */

	int in_txn, kr_dirty;

	/* Nonces drawn ahead (nonce_next). */
	uint8_t npool[ST_NONCE_POOL * ST_NONCE];
	unsigned npos;
	pid_t npid;
};

/* -------------------------------------------------------------- helpers */

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void be64(uint8_t *p, uint64_t v)
{
	be32(p, (uint32_t)(v >> 32));
	be32(p + 4, (uint32_t)v);
}

static const char *kind_name(tf_store_kind k)
{
	switch (k) {
	case TF_SK_RECORD:
		return "record";
	case TF_SK_PENDING:
		return "pending";
	case TF_SK_HEAD:
		return "head";
	case TF_SK_AUDIT:
		return "audit";
	case TF_SK_SECRET:
		return "secret";
	}
	return NULL;
}

/* Keys and meta names: [A-Za-z0-9._:-]{1,64}. */
static int check_name(const char *fn, const char *what, const char *s,
		      tf_err *err)
{
	size_t i;

	if (s == NULL)
		return tf_err_set(err, TF_EINVAL, what, "%s: %s is NULL", fn,
				  what);
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (i >= TF_STORE_KEY_MAX)
			return tf_err_set(err, TF_ELIMIT, what,
					  "%s: %s is longer than %d bytes", fn,
					  what, TF_STORE_KEY_MAX);
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == ':' || c == '-'))
			return tf_err_set(err, TF_EINVAL, what,
					  "%s: %s has a character outside "
					  "[A-Za-z0-9._:-] at byte %zu",
					  fn, what, i);
	}
	if (i == 0)
		return tf_err_set(err, TF_EINVAL, what, "%s: %s is empty", fn,
				  what);
	return 0;
}

/*
 * The common checks of the row functions: a valid kind, a valid key when
 * the function takes one (key_arg), and the keys when they need them.
 */
static int check_row_args(const char *fn, const tf_store *st,
			  tf_store_kind kind, int key_arg, const char *key,
			  int need_keys, tf_err *err)
{
	int rc;

	assert(st != NULL);
	if (kind_name(kind) == NULL)
		return tf_err_set(err, TF_EINVAL, "kind",
				  "%s: kind %d is not a tf_store_kind", fn,
				  (int)kind);
	if (key_arg) {
		rc = check_name(fn, "key", key, err);
		if (rc)
			return rc;
	}
	if (need_keys && !st->unlocked)
		return tf_err_set(err, TF_ELOCKED, fn,
				  "%s: the store is locked (unlock first)", fn);
	return 0;
}

static int check_secret(const char *fn, const char *secret, size_t len,
			tf_err *err)
{
	if (secret == NULL || len == 0)
		return tf_err_set(err, TF_EINVAL, "secret",
				  "%s: the secret is empty", fn);
	if (len > ST_SECRET_MAX)
		return tf_err_set(err, TF_ELIMIT, "secret",
				  "%s: the secret is longer than %d bytes", fn,
				  ST_SECRET_MAX);
	return 0;
}

/* SQLite failures: TF_EBUSY when another process held the database
   past the busy timeout, else TF_EIO; the message names the table. */
static int sq_fail(tf_store *st, tf_err *err, const char *where)
{
	int code = sqlite3_errcode(st->db) & 0xff;

	return tf_err_set(err,
			  code == SQLITE_BUSY || code == SQLITE_LOCKED ? TF_EBUSY
								      : TF_EIO,
			  where, "%s: sqlite: %s (%s)", where,
			  sqlite3_errmsg(st->db), st->db_path);
}

/* The cached statement id, prepared on first use; reset by q_done. */
static sqlite3_stmt *q_get(tf_store *st, enum st_q id, tf_err *err)
{
	if (st->q[id] == NULL &&
	    sqlite3_prepare_v3(st->db, q_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
			       &st->q[id], NULL) != SQLITE_OK) {
		sq_fail(st, err, "prepare");
		st->q[id] = NULL;
	}
	return st->q[id];
}

static void q_done(sqlite3_stmt *s)
{
	if (s != NULL) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
	}
}

/* Runs a statement that returns no row. */
static int q_run(tf_store *st, sqlite3_stmt *s, const char *where,
		 tf_err *err)
{
	int rc = sqlite3_step(s);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		rc = sq_fail(st, err, where);
	else
		rc = 0;
	q_done(s);
	return rc;
}

static int exec_sql(tf_store *st, const char *sql, const char *where,
		    tf_err *err)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sq_fail(st, err, where);
	return 0;
}

/* Copies n bytes of a string without its NUL (AAD parts are counted). */
static void put_chars(uint8_t *out, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = (uint8_t)s[i];
}

static size_t aad_make(uint8_t *aad, const char *label, const uint8_t *id,
		       const uint8_t *tail, size_t tlen)
{
	size_t n = strlen(label);

	assert(n + ST_ID_LEN + tlen <= ST_AAD_MAX);
	put_chars(aad, label, n);
	memcpy(aad + n, id, ST_ID_LEN);
	if (tlen)
		memcpy(aad + n + ST_ID_LEN, tail, tlen);
	return n + ST_ID_LEN + tlen;
}

static size_t aad_row(const tf_store *st, uint8_t *aad, tf_store_kind kind,
		      const char *key, uint64_t version)
{
	uint8_t t[2 + TF_STORE_KEY_MAX + 8];
	size_t klen = strlen(key);

	assert(klen <= TF_STORE_KEY_MAX);
	t[0] = (uint8_t)kind;
	t[1] = (uint8_t)klen;
	put_chars(t + 2, key, klen);
	be64(t + 2 + klen, version);
	return aad_make(aad, "tenfour-store-row-v1", st->id, t, 2 + klen + 8);
}

static size_t aad_meta(const tf_store *st, uint8_t *aad, const char *name)
{
	uint8_t t[1 + TF_STORE_KEY_MAX];
	size_t n = strlen(name);

	assert(n <= TF_STORE_KEY_MAX);
	t[0] = (uint8_t)n;
	put_chars(t + 1, name, n);
	return aad_make(aad, "tenfour-store-meta-v1", st->id, t, 1 + n);
}

static size_t aad_keyring(const tf_store *st, uint8_t *aad, int outer,
			  uint32_t iter, const uint8_t *salt)
{
	uint8_t t[4 + TF_SALT_LEN];

	be32(t, iter);
	memcpy(t + 4, salt, TF_SALT_LEN);
	return aad_make(aad,
			outer ? "tenfour-store-keyring-outer-v1"
			      : "tenfour-store-keyring-inner-v1",
			st->id, t, sizeof t);
}

static size_t aad_device(const tf_store *st, uint8_t *aad)
{
	uint8_t mode = (uint8_t)(st->plain ? 1 : 0);

	return aad_make(aad, "tenfour-store-device-v1", st->id, &mode, 1);
}

/*
 * The next random nonce.  OpenSSL 3's RAND_bytes costs tens of
 * microseconds a call, several times one GCM seal of a record, so nonces
 * come from the DRBG ST_NONCE_POOL at a time; each is used once (and
 * zeroed in the pool).  A forked child refills its own (pid check), so
 * parent and child never share one.
 */
static int nonce_next(tf_store *st, uint8_t out[ST_NONCE])
{
	pid_t pid = getpid();
	int rc;

	if (st->npos >= ST_NONCE_POOL || st->npid != pid) {
		rc = tf_random_bytes(st->npool, sizeof st->npool);
		if (rc)
			return rc;
		st->npos = 0;
		st->npid = pid;
	}
	memcpy(out, st->npool + (size_t)st->npos * ST_NONCE, ST_NONCE);
	memset(st->npool + (size_t)st->npos * ST_NONCE, 0, ST_NONCE);
	st->npos++;
	return 0;
}

/*
 * Seals pt under key into out (len + ST_OVERHEAD bytes): a fresh random
 * nonce, then the ciphertext and tag.  The caller has counted the seal.
 */
static int seal(tf_store *st, const uint8_t *key, const uint8_t *aad,
		size_t aadlen, const void *pt, size_t len, uint8_t *out)
{
	int rc = nonce_next(st, out);

	if (rc)
		return rc;
	return tf_aead_seal(key, out, aad, aadlen, pt, len, out + ST_NONCE);
}

/* Opens a nonce | ciphertext | tag blob into out (blen - ST_OVERHEAD). */
static int unseal(const uint8_t *key, const uint8_t *aad, size_t aadlen,
		  const uint8_t *blob, size_t blen, uint8_t *out)
{
	uint8_t nonce[ST_NONCE];

	if (blen < ST_OVERHEAD)
		return TF_EAUTH;
	memcpy(nonce, blob, ST_NONCE);
	return tf_aead_open(key, nonce, aad, aadlen, blob + ST_NONCE,
			    blen - ST_NONCE, out);
}

/* ------------------------------------------------------ transactions */

static void kr_forget(tf_store *st);
static int kr_refresh(tf_store *st, int force, tf_err *err);

static int tx_begin(tf_store *st, tf_err *err)
{
	sqlite3_stmt *s = q_get(st, Q_BEGIN, err);
	int rc;

	if (s == NULL)
		return TF_EIO;
	rc = q_run(st, s, "begin", err);
	if (rc)
		return rc;
	st->in_txn = 1;
	st->kr_dirty = 0;
	return 0;
}

/*
 * Rolls back and brings the memory back in line with the database: the
 * seal counts in memory stay (they never go back) but must be reserved
 * again; a keyring written in the transaction is read again.
 */
static void tx_rollback(tf_store *st)
{
	sqlite3_stmt *s = q_get(st, Q_ROLLBACK, NULL);

	if (s != NULL && sqlite3_get_autocommit(st->db) == 0)
		q_run(st, s, "rollback", NULL);
	st->in_txn = 0;
	st->reserved = st->seals;
	st->dev_reserved = st->dev_seals;
	if (st->kr_dirty && st->unlocked && kr_refresh(st, 1, NULL) != 0)
		tf_store_lock(st);
	st->kr_dirty = 0;
}

static int tx_commit(tf_store *st, tf_err *err)
{
	sqlite3_stmt *s = q_get(st, Q_COMMIT, err);
	int rc;

	rc = s ? q_run(st, s, "commit", err) : TF_EIO;
	if (rc) {
		tx_rollback(st);
		return rc;
	}
	st->in_txn = 0;
	st->kr_dirty = 0;
	return 0;
}

/* Ends an implicit transaction (one the call began) by its result. */
static int tx_end(tf_store *st, int implicit, int rc, tf_err *err)
{
	if (!implicit)
		return rc;
	if (rc) {
		tx_rollback(st);
		return rc;
	}
	return tx_commit(st, err);
}

/* ---------------------------------------------------------- counters */

static int ctr_load(tf_store *st, int64_t gen, uint64_t *out, tf_err *err)
{
	sqlite3_stmt *s = q_get(st, Q_SEALS_GET, err);
	int rc;

	*out = 0;
	if (s == NULL)
		return TF_EIO;
	sqlite3_bind_int64(s, 1, gen);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		sqlite3_int64 v = sqlite3_column_int64(s, 0);

		*out = v > 0 ? (uint64_t)v : 0;
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		rc = sq_fail(st, err, "seals");
	}
	q_done(s);
	return rc;
}

/*
 * Makes sure the next seal of a key is reserved (inside a transaction):
 * when the reservation is used up, takes the next block from the larger
 * of the stored and the in-memory count, capped at limit.  Returns 1,
 * changing nothing, when the key has reached limit.
 */
static int ctr_reserve(tf_store *st, int64_t gen, uint64_t *seals,
		       uint64_t *reserved, uint64_t limit, tf_err *err)
{
	sqlite3_stmt *s;
	uint64_t stored = 0, start, n;
	int rc;

	assert(st->in_txn);
	if (*seals < *reserved)
		return 0;
	rc = ctr_load(st, gen, &stored, err);
	if (rc)
		return rc;
	start = stored > *seals ? stored : *seals;
	if (start >= limit)
		return 1;
	n = limit - start < ST_RESERVE_BLOCK ? limit - start : ST_RESERVE_BLOCK;
	s = q_get(st, Q_SEALS_SET, err);
	if (s == NULL)
		return TF_EIO;
	sqlite3_bind_int64(s, 1, gen);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)start + (sqlite3_int64)n);
	rc = q_run(st, s, "seals", err);
	if (rc)
		return rc;
	*seals = start;
	*reserved = start + n;
	return 0;
}

/* Seals with the device key (in a transaction), counted. */
static int dev_seal(tf_store *st, const uint8_t *aad, size_t aadlen,
		    const void *pt, size_t len, uint8_t *out, tf_err *err)
{
	int rc = ctr_reserve(st, ST_DEVICE_CTR, &st->dev_seals,
			     &st->dev_reserved, ST_DEVICE_SEALS_MAX, err);

	if (rc == 1)
		return tf_err_set(err, TF_ELIMIT, "device_key",
				  "the device key of %s has sealed 2^31 "
				  "times: enroll the device again",
				  st->dir);
	if (rc)
		return rc;
	rc = seal(st, st->dev, aad, aadlen, pt, len, out);
	if (rc)
		return tf_err_set(err, rc, "device_key",
				  "sealing with the device key failed");
	st->dev_seals++;
	return 0;
}

/* ----------------------------------------------------------- keyring */

static void dek_free(uint8_t (*dek)[ST_KEY_LEN], uint32_t n)
{
	if (dek != NULL) {
		tf_cleanse(dek, (size_t)n * ST_KEY_LEN);
		free(dek);
	}
}

/* Forgets every key but the device key. */
static void kr_forget(tf_store *st)
{
	dek_free(st->dek, st->ngen);
	st->dek = NULL;
	st->ngen = 0;
	tf_cleanse(st->kek, sizeof st->kek);
	tf_cleanse(st->salt, sizeof st->salt);
	tf_cleanse(st->kr_hash, sizeof st->kr_hash);
	st->kr_iter = 0;
	st->seals = st->reserved = 0;
	st->unlocked = 0;
}

/*
 * Wraps the in-memory keyring (kek, salt, kr_iter, dek[0..ngen)) and
 * stores it, inside a transaction.  The plaintext is cleansed.
 */
static int kr_write(tf_store *st, tf_err *err)
{
	uint8_t aad[ST_AAD_MAX];
	size_t aadlen, ptlen = 8 + (size_t)st->ngen * ST_KEY_LEN;
	size_t inlen = ptlen + ST_OVERHEAD, outlen = inlen + ST_OVERHEAD;
	uint8_t *pt = NULL, *inner = NULL, *outer = NULL;
	sqlite3_stmt *s;
	int rc;

	assert(st->in_txn && st->ngen > 0);
	pt = malloc(ptlen);
	inner = malloc(inlen);
	outer = malloc(outlen);
	if (pt == NULL || inner == NULL || outer == NULL) {
		rc = tf_err_set(err, TF_ENOMEM, "keyring",
				"keyring: out of memory");
		goto out;
	}
	memcpy(pt, kr_magic, 4);
	be32(pt + 4, st->ngen);
	memcpy(pt + 8, st->dek, (size_t)st->ngen * ST_KEY_LEN);
	aadlen = aad_keyring(st, aad, 0, st->kr_iter, st->salt);
	rc = seal(st, st->kek, aad, aadlen, pt, ptlen, inner);
	if (rc) {
		rc = tf_err_set(err, rc, "keyring", "keyring: sealing failed");
		goto out;
	}
	aadlen = aad_keyring(st, aad, 1, st->kr_iter, st->salt);
	rc = dev_seal(st, aad, aadlen, inner, inlen, outer, err);
	if (rc)
		goto out;
	s = q_get(st, Q_KR_PUT, err);
	if (s == NULL) {
		rc = TF_EIO;
		goto out;
	}
	sqlite3_bind_int64(s, 1, st->kr_iter);
	sqlite3_bind_blob(s, 2, st->salt, TF_SALT_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(s, 3, outer, (int)outlen, SQLITE_STATIC);
	rc = q_run(st, s, "keyring", err);
	if (rc)
		goto out;
	st->kr_dirty = 1;
	rc = tf_sha256(outer, outlen, st->kr_hash);
out:
	if (pt != NULL)
		tf_cleanse(pt, ptlen);
	if (inner != NULL)
		tf_cleanse(inner, inlen);
	free(outer);
	free(inner);
	free(pt);
	return rc;
}

/*
 * Opens a stored keyring blob with the device key and kek: the DEKs in a
 * new array (*dek, *ngen; the caller frees with dek_free).  With secret
 * (unlock), kek is derived into kek (ST_KEY_LEN bytes, written) once the
 * outer layer has opened, so a store that is not this device's costs no
 * PBKDF2.  TF_EAUTH when either layer does not open or the content is
 * malformed.
 */
static int kr_decode(const tf_store *st, const uint8_t *blob, size_t blen,
		     uint32_t iter, const uint8_t *salt, const char *secret,
		     size_t slen, uint8_t *kek, uint8_t (**dek)[ST_KEY_LEN],
		     uint32_t *ngen, tf_err *err)
{
	uint8_t aad[ST_AAD_MAX];
	size_t aadlen, inlen, ptlen;
	uint8_t *inner = NULL, *pt = NULL;
	uint32_t n;
	int rc;

	*dek = NULL;
	*ngen = 0;
	if (blen < 2 * ST_OVERHEAD + 8 ||
	    blen > 2 * ST_OVERHEAD + 8 + (size_t)ST_GEN_MAX * ST_KEY_LEN)
		return tf_err_set(err, TF_EAUTH, "keyring",
				  "the keyring in %s is malformed (%zu bytes)",
				  st->db_path, blen);
	inlen = blen - ST_OVERHEAD;
	ptlen = inlen - ST_OVERHEAD;
	inner = malloc(inlen);
	pt = malloc(ptlen);
	if (inner == NULL || pt == NULL) {
		rc = tf_err_set(err, TF_ENOMEM, "keyring",
				"keyring: out of memory");
		goto out;
	}
	aadlen = aad_keyring(st, aad, 1, iter, salt);
	rc = unseal(st->dev, aad, aadlen, blob, blen, inner);
	if (rc) {
		rc = tf_err_set(err, rc == TF_EAUTH ? TF_EAUTH : rc, "keyring",
				"the keyring in %s does not open with the "
				"device key (altered or another device's)",
				st->db_path);
		goto out;
	}
	if (secret != NULL) {
		rc = tf_pbkdf2_sha256(secret, slen, salt, TF_SALT_LEN, iter,
				      kek, ST_KEY_LEN);
		if (rc) {
			rc = tf_err_set(err, rc, "secret",
					"key derivation failed");
			goto out;
		}
	}
	aadlen = aad_keyring(st, aad, 0, iter, salt);
	rc = unseal(kek, aad, aadlen, inner, inlen, pt);
	if (rc) {
		rc = tf_err_set(err, rc == TF_EAUTH ? TF_EAUTH : rc, "secret",
				"the secret does not open the keyring in %s",
				st->dir);
		goto out;
	}
	n = rd32(pt + 4);
	if (memcmp(pt, kr_magic, 4) != 0 || n == 0 || n > ST_GEN_MAX ||
	    ptlen != 8 + (size_t)n * ST_KEY_LEN) {
		rc = tf_err_set(err, TF_EAUTH, "keyring",
				"the keyring in %s is malformed", st->db_path);
		goto out;
	}
	*dek = malloc((size_t)n * ST_KEY_LEN);
	if (*dek == NULL) {
		rc = tf_err_set(err, TF_ENOMEM, "keyring",
				"keyring: out of memory");
		goto out;
	}
	memcpy(*dek, pt + 8, (size_t)n * ST_KEY_LEN);
	*ngen = n;
	rc = 0;
out:
	if (pt != NULL)
		tf_cleanse(pt, ptlen);
	if (inner != NULL)
		tf_cleanse(inner, inlen);
	free(pt);
	free(inner);
	return rc;
}

/*
 * Reads the stored keyring row: iter, salt and the sealed blob (copied
 * into *blob, freed by the caller).  TF_ENOTFOUND when there is none.
 */
static int kr_load(tf_store *st, uint32_t *iter, uint8_t *salt,
		   uint8_t **blob, size_t *blen, tf_err *err)
{
	sqlite3_stmt *s = q_get(st, Q_KR_GET, err);
	sqlite3_int64 it;
	const void *p;
	int rc, n;

	*blob = NULL;
	*blen = 0;
	*iter = 0;
	if (s == NULL)
		return TF_EIO;
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		rc = tf_err_set(err, TF_ENOTFOUND, "keyring",
				"the store in %s has no keyring", st->dir);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		rc = sq_fail(st, err, "keyring");
		goto out;
	}
	it = sqlite3_column_int64(s, 0);
	p = sqlite3_column_blob(s, 1);
	n = sqlite3_column_bytes(s, 1);
	if (it < TF_PBKDF2_MIN_ITER || it > TF_PBKDF2_MAX_ITER || p == NULL ||
	    n != TF_SALT_LEN) {
		rc = tf_err_set(err, TF_EAUTH, "keyring",
				"the keyring in %s is malformed (iter, salt)",
				st->db_path);
		goto out;
	}
	*iter = (uint32_t)it;
	memcpy(salt, p, TF_SALT_LEN);
	p = sqlite3_column_blob(s, 2);
	n = sqlite3_column_bytes(s, 2);
	if (p == NULL || n <= 0) {
		rc = tf_err_set(err, TF_EAUTH, "keyring",
				"the keyring in %s is empty", st->db_path);
		goto out;
	}
	*blob = malloc((size_t)n);
	if (*blob == NULL) {
		rc = tf_err_set(err, TF_ENOMEM, "keyring",
				"keyring: out of memory");
		goto out;
	}
	memcpy(*blob, p, (size_t)n);
	*blen = (size_t)n;
	rc = 0;
out:
	q_done(s);
	return rc;
}

/*
 * Reads the keyring again when its stored bytes differ from the ones this
 * handle last saw (another process rotated) or when force is set.  The
 * KEK in memory opens it; another salt or iteration count means the
 * secret changed elsewhere: this handle locks (TF_ELOCKED).
 */
static int kr_refresh(tf_store *st, int force, tf_err *err)
{
	uint8_t salt[TF_SALT_LEN], hash[TF_SHA256_LEN];
	uint8_t(*dek)[ST_KEY_LEN] = NULL;
	uint8_t *blob = NULL;
	uint32_t iter, ngen = 0, common;
	size_t blen;
	int rc;

	assert(st->unlocked);
	rc = kr_load(st, &iter, salt, &blob, &blen, err);
	if (rc)
		goto out;
	rc = tf_sha256(blob, blen, hash);
	if (rc)
		goto out;
	if (!force && memcmp(hash, st->kr_hash, sizeof hash) == 0)
		goto out;
	if (iter != st->kr_iter || memcmp(salt, st->salt, TF_SALT_LEN) != 0) {
		tf_store_lock(st);
		rc = tf_err_set(err, TF_ELOCKED, "secret",
				"the secret of %s was changed by another "
				"process: unlock again",
				st->dir);
		goto out;
	}
	rc = kr_decode(st, blob, blen, iter, salt, NULL, 0, st->kek, &dek,
		       &ngen, err);
	if (rc)
		goto out;
	common = ngen < st->ngen ? ngen : st->ngen;
	if ((!force && ngen < st->ngen) ||
	    (common > 0 && st->dek != NULL &&
	     memcmp(dek, st->dek, common * (size_t)ST_KEY_LEN) != 0)) {
		/* Generations are only ever added (a rollback drops the ones
		   its transaction added: force): anything else was not
		   written by a store. */
		dek_free(dek, ngen);
		dek = NULL;
		tf_store_lock(st);
		rc = tf_err_set(err, TF_EAUTH, "keyring",
				"the keyring in %s lost generations",
				st->db_path);
		goto out;
	}
	if (ngen != st->ngen) {
		uint64_t stored = 0;

		rc = ctr_load(st, (int64_t)ngen - 1, &stored, err);
		if (rc)
			goto out;
		st->seals = st->reserved = stored;
	}
	dek_free(st->dek, st->ngen);
	st->dek = dek;
	st->ngen = ngen;
	dek = NULL;
	memcpy(st->kr_hash, hash, sizeof hash);
out:
	dek_free(dek, ngen);
	free(blob);
	return rc;
}

/* Adds a generation: a new random DEK, the keyring rewrapped (in a
   transaction).  On failure the generation is forgotten. */
static int kr_rotate(tf_store *st, tf_err *err)
{
	uint8_t(*dek)[ST_KEY_LEN];
	uint32_t n = st->ngen;
	int rc;

	if (n >= ST_GEN_MAX)
		return tf_err_set(err, TF_ELIMIT, "keyring",
				  "the keyring of %s holds %u generations: "
				  "enroll the device again",
				  st->dir, ST_GEN_MAX);
	/* A new array so the old one can be cleansed (realloc would not). */
	dek = malloc(((size_t)n + 1) * ST_KEY_LEN);
	if (dek == NULL)
		return tf_err_set(err, TF_ENOMEM, "keyring",
				  "keyring: out of memory");
	memcpy(dek, st->dek, (size_t)n * ST_KEY_LEN);
	rc = tf_random_bytes(dek[n], ST_KEY_LEN);
	if (rc) {
		dek_free(dek, n + 1);
		return tf_err_set(err, rc, "keyring",
				  "keyring: no random bytes");
	}
	dek_free(st->dek, n);
	st->dek = dek;
	st->ngen = n + 1;
	rc = kr_write(st, err);
	if (rc) {
		tf_cleanse(st->dek[n], ST_KEY_LEN);
		st->ngen = n;
		return rc;
	}
	st->seals = st->reserved = 0;
	return 0;
}

/*
 * Makes the current DEK ready for one more seal (in a transaction):
 * reserves counts, and rotates to a new generation at rotate_after.
 */
static int dek_ready(tf_store *st, tf_err *err)
{
	int rc;

	if (st->seals < st->reserved)
		return 0;
	rc = kr_refresh(st, 0, err);
	if (rc)
		return rc;
	rc = ctr_reserve(st, (int64_t)st->ngen - 1, &st->seals, &st->reserved,
			 st->rotate_after, err);
	if (rc <= 0)
		return rc;
	rc = kr_rotate(st, err);
	if (rc)
		return rc;
	rc = ctr_reserve(st, (int64_t)st->ngen - 1, &st->seals, &st->reserved,
			 st->rotate_after, err);
	if (rc == 1)
		rc = tf_err_set(err, TF_EIO, "seals",
				"a new generation of %s is already used up",
				st->dir);
	return rc;
}

/* ------------------------------------------------- device key file */

static int parent_dir(const char *path, char *out, size_t cap)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (slash == NULL) {
		snprintf(out, cap, ".");
		return 0;
	}
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= cap)
		return TF_ELIMIT;
	memcpy(out, path, n);
	out[n] = '\0';
	return 0;
}

static void fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/*
 * Reads the 32-byte device key: a regular file of this account's,
 * without group or other permissions, in a directory others cannot
 * write.  TF_ENOTFOUND when missing (no message), TF_EPERM, TF_EAUTH
 * (wrong size), TF_EIO.
 */
static int devkey_load(const char *path, uint8_t key[ST_KEY_LEN],
		       tf_err *err)
{
	char dir[ST_PATH_MAX + 1];
	struct stat sb;
	size_t got = 0;
	int fd, rc = 0;

	if (parent_dir(path, dir, sizeof dir))
		return tf_err_set(err, TF_ELIMIT, "device_key_path",
				  "device_key_path is too long");
	if (stat(dir, &sb) == 0 && (sb.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		return tf_err_set(err, TF_EPERM, "device_key_path",
				  "the directory %s of the device key can be "
				  "written by group or others (mode %03o)",
				  dir, (unsigned)(sb.st_mode & 0777));
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return TF_ENOTFOUND;
		if (errno == ELOOP)
			return tf_err_set(err, TF_EPERM, "device_key_path",
					  "the device key %s is a symbolic "
					  "link",
					  path);
		return tf_err_set(err, TF_EIO, "device_key_path",
				  "the device key %s: %s", path,
				  strerror(errno));
	}
	if (fstat(fd, &sb) != 0) {
		rc = tf_err_set(err, TF_EIO, "device_key_path",
				"the device key %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_uid != geteuid()) {
		rc = tf_err_set(err, TF_EPERM, "device_key_path",
				"the device key %s is not a regular file of "
				"this account",
				path);
		goto out;
	}
	if ((sb.st_mode & 077) != 0) {
		rc = tf_err_set(err, TF_EPERM, "device_key_path",
				"the device key %s can be read or written by "
				"group or others (mode %03o; must be 600)",
				path, (unsigned)(sb.st_mode & 0777));
		goto out;
	}
	if (sb.st_size != ST_KEY_LEN) {
		rc = tf_err_set(err, TF_EAUTH, "device_key_path",
				"the device key %s holds %lld bytes, not %d",
				path, (long long)sb.st_size, ST_KEY_LEN);
		goto out;
	}
	while (got < ST_KEY_LEN) {
		ssize_t r = read(fd, key + got, ST_KEY_LEN - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = tf_err_set(err, TF_EIO, "device_key_path",
					"reading the device key %s failed",
					path);
			tf_cleanse(key, ST_KEY_LEN);
			goto out;
		}
		got += (size_t)r;
	}
out:
	close(fd);
	return rc;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Makes the device key file atomically: 32 random bytes into a new
 * temporary file (O_EXCL, 0600), fsync, then link(2) to the final name,
 * which never replaces an existing file.  If another process made one
 * first, that one is loaded.
 */
static int devkey_create(const char *path, uint8_t key[ST_KEY_LEN],
			 tf_err *err)
{
	char tmp[ST_PATH_MAX + 40], dir[ST_PATH_MAX + 1], hex[17];
	uint8_t rnd[8];
	int fd = -1, rc;

	if (parent_dir(path, dir, sizeof dir))
		return tf_err_set(err, TF_ELIMIT, "device_key_path",
				  "device_key_path is too long");
	rc = tf_random_bytes(rnd, sizeof rnd);
	if (rc == 0)
		rc = tf_random_bytes(key, ST_KEY_LEN);
	if (rc)
		return tf_err_set(err, rc, "device_key_path",
				  "no random bytes for the device key");
	tf_hex_encode(rnd, sizeof rnd, hex);
	snprintf(tmp, sizeof tmp, "%s.tmp-%s", path, hex);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0) {
		rc = tf_err_set(err, TF_EIO, "device_key_path",
				"creating the device key %s: %s", path,
				strerror(errno));
		goto out;
	}
	if (fchmod(fd, 0600) != 0 || write_all(fd, key, ST_KEY_LEN) != 0 ||
	    fsync(fd) != 0) {
		rc = tf_err_set(err, TF_EIO, "device_key_path",
				"writing the device key %s: %s", path,
				strerror(errno));
		goto out;
	}
	close(fd);
	fd = -1;
	if (link(tmp, path) != 0) {
		if (errno == EEXIST) {
			tf_cleanse(key, ST_KEY_LEN);
			rc = devkey_load(path, key, err);
		} else {
			rc = tf_err_set(err, TF_EIO, "device_key_path",
					"creating the device key %s: %s", path,
					strerror(errno));
		}
		goto out;
	}
	fsync_dir(dir);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	(void)unlink(tmp);
	if (rc)
		tf_cleanse(key, ST_KEY_LEN);
	return rc;
}

/* Overwrites the key file with random bytes, fsyncs, unlinks it. */
static int devkey_erase(const char *path, tf_err *err)
{
	char dir[ST_PATH_MAX + 1];
	uint8_t junk[ST_KEY_LEN];
	struct stat sb;
	int fd, rc = 0;

	fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return tf_err_set(err, TF_EIO, "device_key_path",
				  "wipe: opening the device key %s: %s", path,
				  strerror(errno));
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    tf_random_bytes(junk, sizeof junk) != 0 ||
	    write_all(fd, junk, sizeof junk) != 0 || fsync(fd) != 0)
		rc = tf_err_set(err, TF_EIO, "device_key_path",
				"wipe: overwriting the device key %s failed",
				path);
	close(fd);
	if (unlink(path) != 0 && rc == 0)
		rc = tf_err_set(err, TF_EIO, "device_key_path",
				"wipe: unlinking the device key %s: %s", path,
				strerror(errno));
	if (parent_dir(path, dir, sizeof dir) == 0)
		fsync_dir(dir);
	return rc;
}

/* ------------------------------------------------------- open/close */

static char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static char *str_dup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);

	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

/* Reads info.name into buf (cap bytes): its length in *len. */
static int info_get(tf_store *st, const char *name, void *buf, size_t cap,
		    size_t *len, tf_err *err)
{
	sqlite3_stmt *s = NULL;
	int rc;

	*len = 0;
	if (sqlite3_prepare_v2(st->db, "SELECT value FROM info WHERE name = ?1",
			       -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "info");
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		int n = sqlite3_column_bytes(s, 0);
		const void *p = sqlite3_column_blob(s, 0);

		if (n < 0 || (size_t)n > cap || (n > 0 && p == NULL)) {
			rc = tf_err_set(err, TF_EIO, "info",
					"%s: info.%s is malformed",
					st->db_path, name);
		} else {
			if (n > 0)
				memcpy(buf, p, (size_t)n);
			*len = (size_t)n;
			rc = 0;
		}
	} else if (rc == SQLITE_DONE) {
		rc = TF_ENOTFOUND;
	} else {
		rc = sq_fail(st, err, "info");
	}
	sqlite3_finalize(s);
	return rc;
}

static int info_put(tf_store *st, const char *name, const void *v,
		    size_t len, tf_err *err)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(st->db,
			       "INSERT INTO info(name, value) VALUES(?1, ?2)",
			       -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "info");
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 2, v, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(s) == SQLITE_DONE ? 0 : sq_fail(st, err, "info");
	sqlite3_finalize(s);
	return rc;
}

/*
 * A new store: random id, format and mode, and the device check (a seal
 * of a constant whose AAD names the id and the mode) that proves at the
 * next open that the key file is this store's.
 */
static int init_new(tf_store *st, tf_err *err)
{
	uint8_t aad[ST_AAD_MAX], sealed[sizeof check_pt - 1 + ST_OVERHEAD];
	uint8_t fmt = ST_FORMAT;
	const char *mode = st->plain ? "plain" : "sealed";
	size_t aadlen;
	int rc;

	rc = tf_random_bytes(st->id, ST_ID_LEN);
	if (rc)
		return tf_err_set(err, rc, "store", "no random bytes");
	rc = info_put(st, "format", &fmt, 1, err);
	if (rc == 0)
		rc = info_put(st, "id", st->id, ST_ID_LEN, err);
	if (rc == 0)
		rc = info_put(st, "mode", mode, strlen(mode), err);
	if (rc)
		return rc;
	aadlen = aad_device(st, aad);
	rc = dev_seal(st, aad, aadlen, check_pt, sizeof check_pt - 1, sealed,
		      err);
	if (rc)
		return rc;
	return info_put(st, "device_check", sealed, sizeof sealed, err);
}

/* An existing store: format, id, mode as asked, and the device check. */
static int init_existing(tf_store *st, tf_err *err)
{
	uint8_t aad[ST_AAD_MAX], sealed[sizeof check_pt - 1 + ST_OVERHEAD];
	uint8_t pt[sizeof check_pt - 1], fmt = 0;
	char mode[8];
	size_t len, aadlen;
	int rc;

	rc = info_get(st, "format", &fmt, 1, &len, err);
	if (rc == 0 && (len != 1 || fmt != ST_FORMAT))
		rc = tf_err_set(err, TF_EVERSION, "format",
				"%s has store format %u; this build reads %d",
				st->db_path, (unsigned)fmt, ST_FORMAT);
	if (rc == 0)
		rc = info_get(st, "id", st->id, ST_ID_LEN, &len, err);
	if (rc == 0 && len != ST_ID_LEN)
		rc = tf_err_set(err, TF_EIO, "id", "%s: info.id is malformed",
				st->db_path);
	if (rc == 0)
		rc = info_get(st, "mode", mode, sizeof mode - 1, &len, err);
	if (rc == TF_ENOTFOUND)
		return tf_err_set(err, TF_EIO, "info",
				  "%s lacks part of its info table",
				  st->db_path);
	if (rc)
		return rc;
	mode[len] = '\0';
	if (strcmp(mode, st->plain ? "plain" : "sealed") != 0)
		return tf_err_set(err, TF_EINVAL, "bench_plaintext",
				  "the store in %s was made %s; it does not "
				  "open %s",
				  st->dir,
				  st->plain ? "sealed" : "with bench_plaintext",
				  st->plain ? "with bench_plaintext"
					    : "as a sealed store");
	rc = info_get(st, "device_check", sealed, sizeof sealed, &len, err);
	if (rc == 0 && len != sizeof sealed)
		rc = TF_EAUTH;
	aadlen = aad_device(st, aad);
	if (rc == 0)
		rc = unseal(st->dev, aad, aadlen, sealed, len, pt);
	if (rc == TF_EAUTH || rc == TF_ENOTFOUND)
		return tf_err_set(err, TF_EAUTH, "device_key_path",
				  "the device key %s does not open the store "
				  "in %s (another device's key, or the store "
				  "was altered)",
				  st->key_path, st->dir);
	return rc;
}

static int db_open(tf_store *st, int created, tf_err *err)
{
	sqlite3_stmt *s = NULL;
	int rc, v = 0;

	if (created) {
		int fd = open(st->db_path,
			      O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

		if (fd < 0)
			return tf_err_set(err, TF_EIO, "dir",
					  "creating %s: %s", st->db_path,
					  strerror(errno));
		close(fd);
	}
	rc = sqlite3_open_v2(st->db_path, &st->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK)
		return tf_err_set(err, TF_EIO, "dir", "opening %s: %s",
				  st->db_path,
				  st->db ? sqlite3_errmsg(st->db)
					 : sqlite3_errstr(rc));
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, ST_BUSY_MS);
	/* secure_delete zeroes freed cells and pages; temp_store keeps
	   sorts and statement journals in memory, off the disk. */
	rc = exec_sql(st,
		      "PRAGMA secure_delete = ON; PRAGMA temp_store = MEMORY;"
		      " PRAGMA trusted_schema = OFF;",
		      "pragma", err);
	if (rc)
		return rc;
	if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s,
			       NULL) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW ||
	    strcmp((const char *)sqlite3_column_text(s, 0), "wal") != 0) {
		sqlite3_finalize(s);
		return tf_err_set(err, TF_EIO, "dir",
				  "%s: WAL mode refused: %s", st->db_path,
				  sqlite3_errmsg(st->db));
	}
	sqlite3_finalize(s);
	s = NULL;
	rc = exec_sql(st, "PRAGMA synchronous = FULL;", "pragma", err);
	if (rc)
		return rc;
	if (sqlite3_prepare_v2(st->db, "PRAGMA secure_delete", -1, &s,
			       NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (v != 1)
		return tf_err_set(err, TF_EIO, "dir",
				  "%s: secure_delete refused", st->db_path);
	return 0;
}

static int file_has_data(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && sb.st_size > 0;
}

/*
 * The directory: made 0700 when missing (*made), else a directory of this
 * account's that group and others cannot read, write or enter.
 */
static int dir_check(const char *dir, int *missing, tf_err *err)
{
	struct stat sb;

	*missing = 0;
	if (stat(dir, &sb) != 0) {
		if (errno == ENOENT) {
			*missing = 1;
			return 0;
		}
		return tf_err_set(err, TF_EIO, "dir", "the store directory "
				  "%s: %s", dir, strerror(errno));
	}
	if (!S_ISDIR(sb.st_mode) || sb.st_uid != geteuid())
		return tf_err_set(err, TF_EPERM, "dir",
				  "%s is not a directory of this account", dir);
	if ((sb.st_mode & 077) != 0)
		return tf_err_set(err, TF_EPERM, "dir",
				  "the store directory %s can be used by group "
				  "or others (mode %03o; must be 700)",
				  dir, (unsigned)(sb.st_mode & 0777));
	return 0;
}

static void unlink_db_files(const tf_store *st)
{
	static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
	size_t i, n = strlen(st->db_path);
	char *p = malloc(n + 10);

	if (p == NULL)
		return;
	for (i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
		snprintf(p, n + 10, "%s%s", st->db_path, sfx[i]);
		(void)unlink(p);
	}
	free(p);
	fsync_dir(st->dir);
}

static void store_free(tf_store *st)
{
	size_t i;

	if (st == NULL)
		return;
	kr_forget(st);
	tf_cleanse(st->dev, sizeof st->dev);
	tf_cleanse(st->npool, sizeof st->npool);
	for (i = 0; i < Q_N; i++)
		sqlite3_finalize(st->q[i]);
	if (st->db != NULL)
		sqlite3_close(st->db);
	free(st->dir);
	free(st->db_path);
	free(st->key_path);
	free(st);
}

int tf_store_open(const tf_store_opts *o, tf_store **out, tf_err *err)
{
	tf_store *st = NULL;
	int rc, missing_dir = 0, exists, db_file, made_key = 0, made_db = 0;
	int kr = 0;

	assert(o != NULL && out != NULL);
	*out = NULL;
	if (o->dir == NULL || o->dir[0] == '\0' ||
	    strlen(o->dir) > ST_PATH_MAX)
		return tf_err_set(err, TF_EINVAL, "dir",
				  "tf_store_open: dir is empty or longer than "
				  "%d bytes", ST_PATH_MAX);
	if (o->device_key_path == NULL || o->device_key_path[0] == '\0' ||
	    strlen(o->device_key_path) > ST_PATH_MAX)
		return tf_err_set(err, TF_EINVAL, "device_key_path",
				  "tf_store_open: device_key_path is empty or "
				  "longer than %d bytes", ST_PATH_MAX);
	if (o->pbkdf2_iter != 0 && (o->pbkdf2_iter < TF_PBKDF2_MIN_ITER ||
				    o->pbkdf2_iter > TF_PBKDF2_MAX_ITER))
		return tf_err_set(err, TF_ERANGE, "pbkdf2_iter",
				  "tf_store_open: pbkdf2_iter %u is outside "
				  "[%u, %u]", o->pbkdf2_iter,
				  TF_PBKDF2_MIN_ITER, TF_PBKDF2_MAX_ITER);
	if (o->rotate_after > ST_ROTATE_MAX)
		return tf_err_set(err, TF_ERANGE, "rotate_after",
				  "tf_store_open: rotate_after is above 2^31");
	st = calloc(1, sizeof *st);
	if (st == NULL)
		return tf_err_set(err, TF_ENOMEM, "store", "out of memory");
	st->dir = str_dup(o->dir);
	st->key_path = str_dup(o->device_key_path);
	st->db_path = path_join(o->dir, ST_DB_NAME);
	if (st->dir == NULL || st->key_path == NULL || st->db_path == NULL) {
		rc = tf_err_set(err, TF_ENOMEM, "store", "out of memory");
		goto out;
	}
	st->plain = o->bench_plaintext != 0;
	st->iter = o->pbkdf2_iter ? o->pbkdf2_iter : TF_PBKDF2_MIN_ITER;
	st->rotate_after = o->rotate_after ? o->rotate_after
					   : TF_STORE_ROTATE_AFTER;

	rc = dir_check(st->dir, &missing_dir, err);
	if (rc)
		goto out;
	/* A store that never checkpointed may hold everything in its WAL. */
	{
		char *wal = path_join(st->dir, ST_DB_NAME "-wal");
		struct stat sb;

		if (wal == NULL) {
			rc = tf_err_set(err, TF_ENOMEM, "store",
					"out of memory");
			goto out;
		}
		exists = !missing_dir && (file_has_data(st->db_path) ||
					  file_has_data(wal));
		db_file = !missing_dir && stat(st->db_path, &sb) == 0;
		free(wal);
	}
	rc = devkey_load(st->key_path, st->dev, err);
	if (rc == TF_ENOTFOUND) {
		if (!o->create_device_key || exists) {
			rc = tf_err_set(err, TF_EAUTH, "device_key_path",
					"the device key %s is missing: the "
					"store in %s was copied or its key "
					"erased",
					st->key_path, st->dir);
			goto out;
		}
		made_key = 1;
	} else if (rc) {
		goto out;
	}
	if (missing_dir && mkdir(st->dir, 0700) != 0) {
		rc = tf_err_set(err, TF_EIO, "dir",
				"making the store directory %s: %s", st->dir,
				strerror(errno));
		goto out;
	}
	if (made_key) {
		rc = devkey_create(st->key_path, st->dev, err);
		if (rc) {
			made_key = 0;
			goto out;
		}
	}
	/* Only a database file this call makes is removed on refusal. */
	made_db = !exists && !db_file;
	rc = db_open(st, !db_file, err);
	if (rc)
		goto out;
	rc = tx_begin(st, err);
	if (rc)
		goto out;
	rc = exec_sql(st, schema_sql, "schema", err);
	if (rc == 0) {
		uint8_t fmt;
		size_t len;

		rc = info_get(st, "format", &fmt, 1, &len, err);
		if (rc == TF_ENOTFOUND)
			rc = init_new(st, err);
		else if (rc == 0)
			rc = init_existing(st, err);
	}
	if (rc == 0)
		rc = ctr_load(st, ST_DEVICE_CTR, &st->dev_seals, err);
	if (rc) {
		tx_rollback(st);
		goto out;
	}
	st->dev_reserved = st->dev_seals;
	rc = tx_commit(st, err);
	if (rc)
		goto out;
	{
		sqlite3_stmt *s = q_get(st, Q_KR_GET, err);

		if (s == NULL) {
			rc = TF_EIO;
			goto out;
		}
		rc = sqlite3_step(s);
		kr = rc == SQLITE_ROW;
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE
			     ? 0
			     : sq_fail(st, err, "keyring");
		q_done(s);
		if (rc)
			goto out;
	}
	st->has_keys = kr;
	*out = st;
	st = NULL;
out:
	if (st != NULL) {
		/* Refused: leave nothing this call made behind. */
		int drop_db = made_db && st->db != NULL;

		if (st->db != NULL) {
			size_t i;

			for (i = 0; i < Q_N; i++) {
				sqlite3_finalize(st->q[i]);
				st->q[i] = NULL;
			}
			sqlite3_close(st->db);
			st->db = NULL;
		}
		if (drop_db)
			unlink_db_files(st);
		if (made_key)
			(void)unlink(st->key_path);
		if (missing_dir)
			(void)rmdir(st->dir);
		store_free(st);
	}
	return rc;
}

void tf_store_close(tf_store *st)
{
	if (st == NULL)
		return;
	if (st->in_txn)
		tx_rollback(st);
	store_free(st);
}

int tf_store_has_keys(tf_store *st)
{
	assert(st != NULL);
	return st->has_keys;
}

/* ------------------------------------------------------- the secret */

int tf_store_create_keys(tf_store *st, const char *secret, size_t len,
			 tf_err *err)
{
	int rc;

	assert(st != NULL);
	rc = check_secret("tf_store_create_keys", secret, len, err);
	if (rc)
		return rc;
	if (st->has_keys)
		return tf_err_set(err, TF_EEXIST, "keyring",
				  "tf_store_create_keys: the store in %s has "
				  "a keyring",
				  st->dir);
	if (st->in_txn)
		return tf_err_set(err, TF_ESTATE, "keyring",
				  "tf_store_create_keys: inside a transaction");
	kr_forget(st);
	st->dek = malloc(ST_KEY_LEN);
	if (st->dek == NULL)
		return tf_err_set(err, TF_ENOMEM, "keyring", "out of memory");
	st->ngen = 1;
	st->kr_iter = st->iter;
	rc = tf_random_bytes(st->dek[0], ST_KEY_LEN);
	if (rc == 0)
		rc = tf_random_bytes(st->salt, TF_SALT_LEN);
	if (rc == 0)
		rc = tf_pbkdf2_sha256(secret, len, st->salt, TF_SALT_LEN,
				      st->kr_iter, st->kek, ST_KEY_LEN);
	if (rc) {
		kr_forget(st);
		return tf_err_set(err, rc, "keyring",
				  "tf_store_create_keys: key derivation "
				  "failed");
	}
	rc = tx_begin(st, err);
	if (rc == 0) {
		rc = kr_write(st, err);
		if (rc == 0)
			rc = ctr_reserve(st, 0, &st->seals, &st->reserved,
					 st->rotate_after, err);
		st->kr_dirty = 0;
		rc = tx_end(st, 1, rc, err);
	}
	if (rc) {
		kr_forget(st);
		return rc;
	}
	st->has_keys = 1;
	st->unlocked = 1;
	return 0;
}

int tf_store_unlock(tf_store *st, const char *secret, size_t len,
		    tf_err *err)
{
	uint8_t salt[TF_SALT_LEN], kek[ST_KEY_LEN], hash[TF_SHA256_LEN];
	uint8_t(*dek)[ST_KEY_LEN] = NULL;
	uint8_t *blob = NULL;
	uint32_t iter, ngen = 0;
	uint64_t stored = 0;
	size_t blen;
	int rc;

	assert(st != NULL);
	rc = check_secret("tf_store_unlock", secret, len, err);
	if (rc)
		return rc;
	rc = kr_load(st, &iter, salt, &blob, &blen, err);
	if (rc == TF_ENOTFOUND)
		rc = tf_err_set(err, TF_ESTATE, "keyring",
				"tf_store_unlock: the store in %s has no "
				"keyring (tf_store_create_keys first)",
				st->dir);
	if (rc)
		goto out;
	rc = tf_sha256(blob, blen, hash);
	if (rc) {
		rc = tf_err_set(err, rc, "keyring", "tf_store_unlock: sha256");
		goto out;
	}
	rc = kr_decode(st, blob, blen, iter, salt, secret, len, kek, &dek,
		       &ngen, err);
	if (rc)
		goto out;
	rc = ctr_load(st, (int64_t)ngen - 1, &stored, err);
	if (rc)
		goto out;
	kr_forget(st);
	memcpy(st->kek, kek, ST_KEY_LEN);
	memcpy(st->salt, salt, TF_SALT_LEN);
	memcpy(st->kr_hash, hash, sizeof hash);
	st->kr_iter = iter;
	st->dek = dek;
	st->ngen = ngen;
	dek = NULL;
	/* Whatever was reserved may have been used before a crash. */
	st->seals = st->reserved = stored;
	st->unlocked = 1;
out:
	dek_free(dek, ngen);
	tf_cleanse(kek, sizeof kek);
	free(blob);
	return rc;
}

void tf_store_lock(tf_store *st)
{
	if (st != NULL)
		kr_forget(st);
}

int tf_store_unlocked(const tf_store *st)
{
	return st != NULL && st->unlocked;
}

int tf_store_change_secret(tf_store *st, const char *secret, size_t len,
			   tf_err *err)
{
	uint8_t old_kek[ST_KEY_LEN], old_salt[TF_SALT_LEN];
	uint8_t old_hash[TF_SHA256_LEN];
	uint32_t old_iter;
	int rc;

	assert(st != NULL);
	rc = check_secret("tf_store_change_secret", secret, len, err);
	if (rc)
		return rc;
	if (!st->unlocked)
		return tf_err_set(err, TF_ELOCKED, "keyring",
				  "tf_store_change_secret: the store is "
				  "locked (unlock first)");
	if (st->in_txn)
		return tf_err_set(err, TF_ESTATE, "keyring",
				  "tf_store_change_secret: inside a "
				  "transaction");
	rc = tx_begin(st, err);
	if (rc)
		return rc;
	/* Rewrap the generations as stored (another process may have
	   added one). */
	rc = kr_refresh(st, 0, err);
	if (rc) {
		tx_rollback(st);
		return rc;
	}
	memcpy(old_kek, st->kek, ST_KEY_LEN);
	memcpy(old_salt, st->salt, TF_SALT_LEN);
	memcpy(old_hash, st->kr_hash, sizeof old_hash);
	old_iter = st->kr_iter;
	st->kr_iter = st->iter;
	rc = tf_random_bytes(st->salt, TF_SALT_LEN);
	if (rc == 0)
		rc = tf_pbkdf2_sha256(secret, len, st->salt, TF_SALT_LEN,
				      st->kr_iter, st->kek, ST_KEY_LEN);
	if (rc)
		rc = tf_err_set(err, rc, "secret",
				"tf_store_change_secret: key derivation "
				"failed");
	if (rc == 0)
		rc = kr_write(st, err);
	if (rc == 0) {
		st->kr_dirty = 0;
		rc = tx_commit(st, err);
	}
	if (rc) {
		memcpy(st->kek, old_kek, ST_KEY_LEN);
		memcpy(st->salt, old_salt, TF_SALT_LEN);
		memcpy(st->kr_hash, old_hash, sizeof old_hash);
		st->kr_iter = old_iter;
		st->kr_dirty = 0;
		if (st->in_txn)
			tx_rollback(st);
	}
	tf_cleanse(old_kek, sizeof old_kek);
	return rc;
}

/* ------------------------------------------------------------- meta */

int tf_store_meta_put(tf_store *st, const char *name, const void *data,
		      size_t len, tf_err *err)
{
	uint8_t aad[ST_AAD_MAX], *blob = NULL;
	sqlite3_stmt *s;
	size_t aadlen;
	int rc, implicit;

	assert(st != NULL);
	rc = check_name("tf_store_meta_put", "name", name, err);
	if (rc)
		return rc;
	if (len > TF_STORE_META_MAX)
		return tf_err_set(err, TF_ELIMIT, name,
				  "tf_store_meta_put: meta %s is %zu bytes, "
				  "above %zu",
				  name, len, TF_STORE_META_MAX);
	if (data == NULL && len > 0)
		return tf_err_set(err, TF_EINVAL, name,
				  "tf_store_meta_put: meta %s: data is NULL",
				  name);
	blob = malloc(len + ST_OVERHEAD);
	if (blob == NULL)
		return tf_err_set(err, TF_ENOMEM, name, "out of memory");
	implicit = !st->in_txn;
	rc = implicit ? tx_begin(st, err) : 0;
	if (rc)
		goto out;
	aadlen = aad_meta(st, aad, name);
	rc = dev_seal(st, aad, aadlen, data, len, blob, err);
	if (rc == 0) {
		s = q_get(st, Q_META_PUT, err);
		if (s == NULL) {
			rc = TF_EIO;
		} else {
			sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
			sqlite3_bind_blob(s, 2, blob, (int)(len + ST_OVERHEAD),
					  SQLITE_STATIC);
			rc = q_run(st, s, "meta", err);
		}
	}
	rc = tx_end(st, implicit, rc, err);
out:
	free(blob);
	return rc;
}

int tf_store_meta_get(tf_store *st, const char *name, tf_buf *out,
		      tf_err *err)
{
	uint8_t aad[ST_AAD_MAX];
	sqlite3_stmt *s;
	const uint8_t *p;
	size_t aadlen, old, n;
	int rc;

	assert(st != NULL && out != NULL);
	rc = check_name("tf_store_meta_get", "name", name, err);
	if (rc)
		return rc;
	s = q_get(st, Q_META_GET, err);
	if (s == NULL)
		return TF_EIO;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		rc = tf_err_set(err, TF_ENOTFOUND, name,
				"meta %s: not found", name);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		rc = sq_fail(st, err, "meta");
		goto out;
	}
	p = sqlite3_column_blob(s, 0);
	n = (size_t)sqlite3_column_bytes(s, 0);
	if (p == NULL || n < ST_OVERHEAD ||
	    n - ST_OVERHEAD > TF_STORE_META_MAX) {
		rc = tf_err_set(err, TF_EAUTH, name,
				"meta %s does not open (malformed)", name);
		goto out;
	}
	old = out->len;
	/* The ciphertext goes into out and is opened in place, so the
	   plaintext exists in the caller's buffer only. */
	rc = tf_buf_append(out, p + ST_NONCE, n - ST_NONCE);
	if (rc) {
		rc = tf_err_set(err, rc, name, "meta %s: no room in out",
				name);
		goto out;
	}
	aadlen = aad_meta(st, aad, name);
	{
		uint8_t nonce[ST_NONCE];

		memcpy(nonce, p, ST_NONCE);
		rc = tf_aead_open(st->dev, nonce, aad, aadlen,
				  (uint8_t *)out->data + old, n - ST_NONCE,
				  (uint8_t *)out->data + old);
	}
	if (rc) {
		tf_cleanse(out->data + old, n - ST_NONCE);
		out->len = old;
		out->data[old] = '\0';
		rc = tf_err_set(err, rc == TF_EAUTH ? TF_EAUTH : rc, name,
				"meta %s does not open (altered, moved, or "
				"another device's)",
				name);
		goto out;
	}
	out->len = old + n - ST_OVERHEAD;
	tf_cleanse(out->data + out->len, ST_TAG);
	out->data[out->len] = '\0';
out:
	q_done(s);
	return rc;
}

int tf_store_meta_del(tf_store *st, const char *name, tf_err *err)
{
	sqlite3_stmt *s;
	int rc;

	assert(st != NULL);
	rc = check_name("tf_store_meta_del", "name", name, err);
	if (rc)
		return rc;
	s = q_get(st, Q_META_DEL, err);
	if (s == NULL)
		return TF_EIO;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	rc = q_run(st, s, "meta", err);
	if (rc == 0 && sqlite3_changes(st->db) == 0)
		rc = tf_err_set(err, TF_ENOTFOUND, name, "meta %s: not found",
				name);
	return rc;
}

/* ----------------------------------------------------- transactions */

int tf_store_begin(tf_store *st, tf_err *err)
{
	assert(st != NULL);
	if (st->in_txn)
		return tf_err_set(err, TF_ESTATE, "transaction",
				  "tf_store_begin: a transaction is open");
	return tx_begin(st, err);
}

int tf_store_commit(tf_store *st, tf_err *err)
{
	assert(st != NULL);
	if (!st->in_txn)
		return tf_err_set(err, TF_ESTATE, "transaction",
				  "tf_store_commit: no transaction is open");
	return tx_commit(st, err);
}

void tf_store_rollback(tf_store *st)
{
	assert(st != NULL);
	if (st->in_txn)
		tx_rollback(st);
}

/* ------------------------------------------------------------- rows */

int tf_store_put(tf_store *st, tf_store_kind kind, const char *key,
		 const void *data, size_t len, int64_t now_ms, tf_err *err)
{
	uint8_t aad[ST_AAD_MAX], *blob = NULL;
	sqlite3_stmt *s;
	uint64_t version = 1;
	size_t aadlen, blen;
	int rc, implicit;

	rc = check_row_args("tf_store_put", st, kind, 1, key, 1, err);
	if (rc)
		return rc;
	if (len > TF_STORE_VALUE_MAX)
		return tf_err_set(err, TF_ELIMIT, key,
				  "tf_store_put: %s %s is %zu bytes, above "
				  "%zu",
				  kind_name(kind), key, len,
				  TF_STORE_VALUE_MAX);
	if (data == NULL && len > 0)
		return tf_err_set(err, TF_EINVAL, key,
				  "tf_store_put: %s %s: data is NULL",
				  kind_name(kind), key);
	if (now_ms < 0)
		return tf_err_set(err, TF_ERANGE, "now_ms",
				  "tf_store_put: now_ms is negative");
	blen = st->plain ? len : len + ST_OVERHEAD;
	blob = malloc(blen ? blen : 1);
	if (blob == NULL)
		return tf_err_set(err, TF_ENOMEM, key, "out of memory");
	implicit = !st->in_txn;
	rc = implicit ? tx_begin(st, err) : 0;
	if (rc)
		goto out;
	s = q_get(st, Q_ROW_VER, err);
	if (s == NULL) {
		rc = TF_EIO;
		goto end;
	}
	sqlite3_bind_int(s, 1, (int)kind);
	sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		sqlite3_int64 v = sqlite3_column_int64(s, 0);

		rc = v >= 1 && v < INT64_MAX ? 0 : TF_EIO;
		version = (uint64_t)v + 1;
		if (rc)
			tf_err_set(err, rc, key, "%s %s: bad version",
				   kind_name(kind), key);
	} else {
		rc = rc == SQLITE_DONE ? 0 : sq_fail(st, err, "rows");
	}
	q_done(s);
	if (rc)
		goto end;
	if (st->plain) {
		if (len)
			memcpy(blob, data, len);
	} else {
		rc = dek_ready(st, err);
		if (rc)
			goto end;
		aadlen = aad_row(st, aad, kind, key, version);
		rc = seal(st, st->dek[st->ngen - 1], aad, aadlen, data, len,
			  blob);
		if (rc) {
			rc = tf_err_set(err, rc, key,
					"tf_store_put: sealing %s %s failed",
					kind_name(kind), key);
			goto end;
		}
		st->seals++;
	}
	s = q_get(st, Q_ROW_PUT, err);
	if (s == NULL) {
		rc = TF_EIO;
		goto end;
	}
	sqlite3_bind_int(s, 1, (int)kind);
	sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)version);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)st->ngen - 1);
	sqlite3_bind_blob(s, 5, blob, (int)blen, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)blen);
	sqlite3_bind_int64(s, 7, now_ms);
	rc = q_run(st, s, "rows", err);
end:
	rc = tx_end(st, implicit, rc, err);
out:
	if (st->plain && blob != NULL)
		tf_cleanse(blob, blen);
	free(blob);
	return rc;
}

/*
 * Opens a row's stored blob, appending the plaintext to out.  Sealed
 * rows are copied into out and opened in place: no other copy of the
 * plaintext is made.  TF_EAUTH (out unchanged) when it does not open.
 */
static int row_open(tf_store *st, tf_store_kind kind, const char *key,
		    uint64_t version, sqlite3_int64 gen, const uint8_t *p,
		    size_t n, tf_buf *out, tf_err *err)
{
	uint8_t aad[ST_AAD_MAX], nonce[ST_NONCE];
	size_t aadlen, old = out->len;
	int rc;

	if (st->plain) {
		rc = tf_buf_append(out, p, n);
		return rc ? tf_err_set(err, rc, key, "%s %s: no room in out",
				       kind_name(kind), key)
			  : 0;
	}
	if (gen >= 0 && (uint64_t)gen >= st->ngen && gen < ST_GEN_MAX) {
		/* Perhaps sealed by another process after a rotation. */
		rc = kr_refresh(st, 0, err);
		if (rc)
			return rc;
	}
	if (gen < 0 || (uint64_t)gen >= st->ngen || n < ST_OVERHEAD)
		return tf_err_set(err, TF_EAUTH, key,
				  "%s %s does not open (no key generation "
				  "%lld, or malformed)",
				  kind_name(kind), key, (long long)gen);
	rc = tf_buf_append(out, p + ST_NONCE, n - ST_NONCE);
	if (rc)
		return tf_err_set(err, rc, key, "%s %s: no room in out",
				  kind_name(kind), key);
	memcpy(nonce, p, ST_NONCE);
	aadlen = aad_row(st, aad, kind, key, version);
	rc = tf_aead_open(st->dek[gen], nonce, aad, aadlen,
			  (uint8_t *)out->data + old, n - ST_NONCE,
			  (uint8_t *)out->data + old);
	if (rc) {
		tf_cleanse(out->data + old, n - ST_NONCE);
		out->len = old;
		out->data[old] = '\0';
		return tf_err_set(err, rc == TF_EAUTH ? TF_EAUTH : rc, key,
				  "%s %s does not open (altered, or moved "
				  "from another key, kind or store)",
				  kind_name(kind), key);
	}
	out->len = old + n - ST_OVERHEAD;
	tf_cleanse(out->data + out->len, ST_TAG);
	out->data[out->len] = '\0';
	return 0;
}

int tf_store_get(tf_store *st, tf_store_kind kind, const char *key,
		 tf_buf *out, tf_err *err)
{
	sqlite3_stmt *s;
	sqlite3_int64 version;
	const uint8_t *p;
	int rc;

	assert(out != NULL);
	rc = check_row_args("tf_store_get", st, kind, 1, key, 1, err);
	if (rc)
		return rc;
	s = q_get(st, Q_ROW_GET, err);
	if (s == NULL)
		return TF_EIO;
	sqlite3_bind_int(s, 1, (int)kind);
	sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		rc = tf_err_set(err, TF_ENOTFOUND, key, "%s %s: not found",
				kind_name(kind), key);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		rc = sq_fail(st, err, "rows");
		goto out;
	}
	version = sqlite3_column_int64(s, 0);
	p = sqlite3_column_blob(s, 2);
	rc = row_open(st, kind, key, (uint64_t)version,
		      sqlite3_column_int64(s, 1), p ? p : (const uint8_t *)"",
		      (size_t)sqlite3_column_bytes(s, 2), out, err);
out:
	q_done(s);
	return rc;
}

int tf_store_del(tf_store *st, tf_store_kind kind, const char *key,
		 tf_err *err)
{
	sqlite3_stmt *s;
	int rc;

	rc = check_row_args("tf_store_del", st, kind, 1, key, 1, err);
	if (rc)
		return rc;
	s = q_get(st, Q_ROW_DEL, err);
	if (s == NULL)
		return TF_EIO;
	sqlite3_bind_int(s, 1, (int)kind);
	sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	rc = q_run(st, s, "rows", err);
	if (rc == 0 && sqlite3_changes(st->db) == 0)
		rc = tf_err_set(err, TF_ENOTFOUND, key, "%s %s: not found",
				kind_name(kind), key);
	return rc;
}

int tf_store_clear(tf_store *st, tf_store_kind kind, tf_err *err)
{
	sqlite3_stmt *s = NULL;
	int rc;

	rc = check_row_args("tf_store_clear", st, kind, 0, NULL, 1, err);
	if (rc)
		return rc;
	if (sqlite3_prepare_v2(st->db, "DELETE FROM rows WHERE kind = ?1", -1,
			       &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "rows");
	sqlite3_bind_int(s, 1, (int)kind);
	rc = sqlite3_step(s) == SQLITE_DONE ? 0 : sq_fail(st, err, "rows");
	sqlite3_finalize(s);
	return rc;
}

int tf_store_touch(tf_store *st, tf_store_kind kind, const char *key,
		   int64_t now_ms, tf_err *err)
{
	sqlite3_stmt *s;
	int rc;

	rc = check_row_args("tf_store_touch", st, kind, 1, key, 1, err);
	if (rc)
		return rc;
	if (now_ms < 0)
		return tf_err_set(err, TF_ERANGE, "now_ms",
				  "tf_store_touch: now_ms is negative");
	s = q_get(st, Q_ROW_TOUCH, err);
	if (s == NULL)
		return TF_EIO;
	sqlite3_bind_int(s, 1, (int)kind);
	sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now_ms);
	rc = q_run(st, s, "rows", err);
	if (rc == 0 && sqlite3_changes(st->db) == 0)
		rc = tf_err_set(err, TF_ENOTFOUND, key, "%s %s: not found",
				kind_name(kind), key);
	return rc;
}

/*
 * Scans use a statement of their own (not the cache), so fn may call
 * the store, reads included.
 */
int tf_store_scan(tf_store *st, tf_store_kind kind, tf_store_each_fn fn,
		  void *ctx, tf_err *err)
{
	sqlite3_stmt *s = NULL;
	tf_buf pt;
	int rc, step;

	assert(fn != NULL);
	tf_buf_init(&pt);
	rc = check_row_args("tf_store_scan", st, kind, 0, NULL, 1, err);
	if (rc)
		return rc;
	if (sqlite3_prepare_v2(st->db,
			       "SELECT key, version, gen, sealed FROM rows"
			       " WHERE kind = ?1 ORDER BY key",
			       -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "rows");
	sqlite3_bind_int(s, 1, (int)kind);
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(s, 0);
		const uint8_t *p = sqlite3_column_blob(s, 3);
		char kbuf[TF_STORE_KEY_MAX + 1];

		if (key == NULL || check_name("tf_store_scan", "key", key,
					      err) != 0) {
			rc = tf_err_set(err, TF_EIO, "key",
					"tf_store_scan: a %s row has a "
					"malformed key",
					kind_name(kind));
			goto out;
		}
		snprintf(kbuf, sizeof kbuf, "%s", key);
		if (pt.len > 0)
			tf_cleanse(pt.data, pt.len);
		tf_buf_reset(&pt);
		/* Grown by appends: its old storage held no plaintext yet
		   since each row is cleansed before the next. */
		rc = row_open(st, kind, kbuf,
			      (uint64_t)sqlite3_column_int64(s, 1),
			      sqlite3_column_int64(s, 2),
			      p ? p : (const uint8_t *)"",
			      (size_t)sqlite3_column_bytes(s, 3), &pt, err);
		if (rc)
			goto out;
		rc = fn(ctx, kbuf, pt.data ? pt.data : "", pt.len);
		if (rc)
			goto out;
	}
	if (step != SQLITE_DONE)
		rc = sq_fail(st, err, "rows");
out:
	sqlite3_finalize(s);
	if (pt.data != NULL)
		tf_cleanse(pt.data, pt.cap);
	tf_buf_free(&pt);
	return rc;
}

int tf_store_rows(tf_store *st, tf_store_kind kind, tf_store_info_fn fn,
		  void *ctx, tf_err *err)
{
	sqlite3_stmt *s = NULL;
	int rc, step;

	assert(fn != NULL);
	rc = check_row_args("tf_store_rows", st, kind, 0, NULL, 0, err);
	if (rc)
		return rc;
	if (sqlite3_prepare_v2(st->db,
			       "SELECT key, bytes, accessed FROM rows"
			       " WHERE kind = ?1 ORDER BY key",
			       -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "rows");
	sqlite3_bind_int(s, 1, (int)kind);
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(s, 0);
		sqlite3_int64 b = sqlite3_column_int64(s, 1);
		tf_store_rowinfo ri;

		if (key == NULL || strlen(key) > TF_STORE_KEY_MAX) {
			rc = tf_err_set(err, TF_EIO, "key",
					"tf_store_rows: a %s row has a "
					"malformed key",
					kind_name(kind));
			goto out;
		}
		memset(&ri, 0, sizeof ri);
		snprintf(ri.key, sizeof ri.key, "%s", key);
		ri.bytes = b > 0 ? (uint64_t)b : 0;
		ri.accessed = sqlite3_column_int64(s, 2);
		rc = fn(ctx, &ri);
		if (rc)
			goto out;
	}
	if (step != SQLITE_DONE)
		rc = sq_fail(st, err, "rows");
out:
	sqlite3_finalize(s);
	return rc;
}

int tf_store_size(tf_store *st, uint64_t *bytes, tf_err *err)
{
	sqlite3_stmt *s = NULL;
	int rc;

	assert(st != NULL && bytes != NULL);
	*bytes = 0;
	if (sqlite3_prepare_v2(st->db,
			       "SELECT COALESCE(SUM(bytes), 0) FROM rows", -1,
			       &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "rows");
	if (sqlite3_step(s) == SQLITE_ROW) {
		sqlite3_int64 v = sqlite3_column_int64(s, 0);

		*bytes = v > 0 ? (uint64_t)v : 0;
		rc = 0;
	} else {
		rc = sq_fail(st, err, "rows");
	}
	sqlite3_finalize(s);
	return rc;
}

/* ------------------------------------------------------------- wipe */

/* Checkpoints everything and truncates the WAL to zero bytes. */
static int wal_truncate(tf_store *st, tf_err *err)
{
	int log = -1, done = -1;

	if (sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
				      &log, &done) != SQLITE_OK)
		return sq_fail(st, err, "wipe");
	return 0;
}

/*
 * Step 1 of the wipe: the wrapped keyring overwritten in place, deleted
 * (its cells zeroed by secure_delete), committed, and the WAL that held
 * its earlier copies checkpointed and truncated to zero bytes.
 */
static int erase_keyring(tf_store *st, tf_err *err)
{
	int rc, first;

	if (st->in_txn)
		tx_rollback(st);
	kr_forget(st);
	st->has_keys = 0;
	first = exec_sql(st,
			 "BEGIN IMMEDIATE;"
			 " UPDATE keyring SET salt = zeroblob(length(salt)),"
			 " sealed = zeroblob(length(sealed));"
			 " DELETE FROM keyring; COMMIT;",
			 "wipe", err);
	if (first)
		(void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	rc = wal_truncate(st, first ? NULL : err);
	return first ? first : rc;
}

int tf_store_wipe(tf_store **stp, tf_err *err)
{
	tf_store *st;
	int rc, first = 0;

	assert(stp != NULL);
	st = *stp;
	*stp = NULL;
	if (st == NULL)
		return tf_err_set(err, TF_EINVAL, "store",
				  "tf_store_wipe: no store");
	first = erase_keyring(st, err);

	/* 2. The device key: without it nothing left opens. */
	rc = devkey_erase(st->key_path, first ? NULL : err);
	if (rc && !first)
		first = rc;
	tf_cleanse(st->dev, sizeof st->dev);

	/* 3. The data, then the files. */
	rc = exec_sql(st,
		      "BEGIN IMMEDIATE; DELETE FROM rows; DELETE FROM meta;"
		      " DELETE FROM seals; DELETE FROM info; COMMIT;",
		      "wipe", first ? NULL : err);
	if (rc) {
		(void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		if (!first)
			first = rc;
	}
	rc = wal_truncate(st, first ? NULL : err);
	if (rc && !first)
		first = rc;
	{
		size_t i;

		for (i = 0; i < Q_N; i++) {
			sqlite3_finalize(st->q[i]);
			st->q[i] = NULL;
		}
	}
	if (sqlite3_close(st->db) != SQLITE_OK && !first)
		first = tf_err_set(err, TF_EIO, "wipe",
				   "wipe: closing %s failed", st->db_path);
	st->db = NULL;
	unlink_db_files(st);
	store_free(st);
	return first;
}

/* ---------------------------------------------------------- views */

uint64_t tf_store_seals(const tf_store *st)
{
	return st != NULL && st->unlocked ? st->seals : 0;
}

uint32_t tf_store_generation(const tf_store *st)
{
	return st != NULL && st->unlocked && st->ngen > 0 ? st->ngen - 1 : 0;
}

int tf_store_testing_dek(const tf_store *st, uint32_t gen, uint8_t out[32])
{
	if (!st->unlocked)
		return TF_ELOCKED;
	if (gen >= st->ngen)
		return TF_ENOTFOUND;
	memcpy(out, st->dek[gen], ST_KEY_LEN);
	return 0;
}

int tf_store_testing_kek(const tf_store *st, uint8_t out[32])
{
	if (!st->unlocked)
		return TF_ELOCKED;
	memcpy(out, st->kek, ST_KEY_LEN);
	return 0;
}

int tf_store_testing_keyring(tf_store *st, tf_buf *out)
{
	uint8_t salt[TF_SALT_LEN], *blob = NULL;
	uint32_t iter;
	size_t blen;
	int rc = kr_load(st, &iter, salt, &blob, &blen, NULL);

	if (rc == 0)
		rc = tf_buf_append(out, blob, blen);
	free(blob);
	return rc;
}

int tf_store_testing_erase_keyring(tf_store *st, tf_err *err)
{
	return erase_keyring(st, err);
}

int tf_store_testing_reserved(tf_store *st, int64_t gen, uint64_t *reserved)
{
	sqlite3_stmt *s = q_get(st, Q_SEALS_GET, NULL);
	int rc;

	*reserved = 0;
	if (s == NULL)
		return TF_EIO;
	sqlite3_bind_int64(s, 1, gen);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*reserved = (uint64_t)sqlite3_column_int64(s, 0);
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? TF_ENOTFOUND : TF_EIO;
	}
	q_done(s);
	return rc;
}

/*
 * store.h - the native client's encrypted offline store: one SQLite file
 * holding only ciphertext, random ids and non-identifying metadata, and
 * the keyring that opens it (ARCHITECTURE.md section 4).
 *
 * Keys:
 *  - the data keys (DEKs): random 256-bit AES-GCM keys, one per
 *    generation; a new generation starts long before a key has sealed
 *    2^32 times (SP 800-38D), older ones stay to open older rows;
 *  - the keyring (every DEK generation) is wrapped twice over: inside,
 *    by a key from PBKDF2-HMAC-SHA256 (>= 600,000 iterations, 128-bit
 *    salt) of the officer's PIN or passphrase; outside, by the
 *    device-bound key: 32 random bytes in a key file readable by the
 *    device account only (0600; the interface leaves room for a TPM).
 *    Opening the store needs both: a copied database without the key
 *    file does not open, with the right PIN or not;
 *  - "meta" entries are sealed by the device-bound key alone: what must
 *    be read before the PIN is known (the offline grant, the clock guard,
 *    the failed-unlock count, the enrolled identity).
 *
 * Rows are sealed with AES-256-GCM (src/crypto: OpenSSL EVP), a 96-bit
 * random nonce each, AAD binding the store's random id, the row's kind,
 * key and version, so a row moved to another key, kind or store, or an
 * altered one, does not open.  Every seal is counted per key; the count
 * is reserved in the database ahead of use so a crash cannot make it go
 * back.
 *
 * No plaintext reaches disk: values are sealed before SQLite sees them,
 * temp_store is memory, secure_delete is on (freed pages are zeroed), so
 * the database, its WAL and its journal hold ciphertext only.  Plaintext
 * handed out (tf_buf) is the caller's to cleanse.
 *
 * In clear: row keys and meta names (random ids and fixed names only:
 * never CJI), kinds, versions, sizes (a value's length shows: GCM does
 * not pad) and access times.  The on-disk format is in store.c.
 *
 * Not thread-safe: one tf_store belongs to one thread at a time.  Two
 * processes may open one store: seal counts are reserved in the
 * database, a generation added by one is read by the other.  SQLite
 * busy past 5 s is TF_EBUSY.
 * Every function returns 0 or a negative TF_E* code and says what and
 * where through err (may be NULL).  Secrets are never copied into errors.
 */
#ifndef TF_STORE_H
#define TF_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "tenfour/tenfour.h"

typedef struct tf_store tf_store;

/* What a sealed row holds; part of the AAD. */
typedef enum tf_store_kind {
	TF_SK_RECORD = 1, /* key: record id; a record's confirmed state */
	TF_SK_PENDING,	  /* key: seq, 20 decimal digits; a queued command */
	TF_SK_HEAD,	  /* key: a name ("replica"); the replica's head */
	TF_SK_AUDIT,	  /* key: seq, 20 digits; a local audit entry */
	TF_SK_SECRET	  /* key: a name ("session"); tokens and such */
} tf_store_kind;

/* Keys of rows and names of meta entries: [A-Za-z0-9._:-]{1,64}. */
#define TF_STORE_KEY_MAX 64
/* Bytes of one row's plaintext. */
#define TF_STORE_VALUE_MAX ((size_t)64 * 1024 * 1024)
/* Bytes of one meta entry. */
#define TF_STORE_META_MAX ((size_t)1024 * 1024)
/* Default seals per DEK generation before the next one starts (at most
   2^31 is accepted). */
#define TF_STORE_ROTATE_AFTER ((uint64_t)1 << 28)

typedef struct tf_store_opts {
	const char *dir;	     /* store directory, made 0700 if missing;
					an existing one must be 0700 too */
	const char *device_key_path; /* the device-bound key file */
	/*
	 * 1: make the device key file when it is missing (first use of a
	 * new store).  0: a missing key file is TF_EAUTH ("the device key
	 * is missing": the store was copied or the key wiped).
	 */
	int create_device_key;
	uint32_t pbkdf2_iter;  /* 0: 600,000; lower is refused (TF_ERANGE) */
	uint64_t rotate_after; /* 0: TF_STORE_ROTATE_AFTER; tests go lower;
				  above 2^31 TF_ERANGE */
	/*
	 * Benchmark only (bench/bench_client.c): rows are stored in the
	 * clear, the same code otherwise.  Never set by the CLI or the SDK;
	 * a store made so refuses to open without it, and the reverse.
	 */
	int bench_plaintext;
} tf_store_opts;

/*
 * Opens (or creates) the store in o->dir: store.db in WAL mode,
 * synchronous FULL.  The store starts locked.  Errors: TF_EAUTH when the
 * device key file is missing (and create_device_key is 0) or does not
 * open this store's meta (also when create_device_key is 1 but the
 * store already exists: a new key could not open it); TF_EPERM when the
 * key file or the directory can be read by group or others, or the key
 * file's directory written by them; TF_EINVAL when the store was made in
 * the other bench_plaintext mode; TF_EVERSION for another store format;
 * TF_EIO for SQLite or file errors.  A refused open removes what it
 * made (key file, directory, database).
 */
int tf_store_open(const tf_store_opts *o, tf_store **out, tf_err *err);
/* Locks (zeroizes the keys) and closes; NULL is fine. */
void tf_store_close(tf_store *st);

/* 1 when the store has a keyring (tf_store_create_keys ran). */
int tf_store_has_keys(tf_store *st);

/*
 * Makes the first DEK and wraps it under secret (a PIN or passphrase the
 * caller already checked against the rules of policy.h).  The store is
 * unlocked afterwards.  TF_EEXIST when a keyring exists.
 */
int tf_store_create_keys(tf_store *st, const char *secret, size_t len,
			 tf_err *err);

/*
 * Unwraps the keyring with secret: 0 and unlocked, or TF_EAUTH (wrong
 * secret, or a keyring altered or not this device's) with nothing
 * changed; TF_ESTATE when the store has no keyring.  The failed-unlock
 * count and the wipe are the caller's (policy.h tf_unlock_*, persisted
 * with meta_put).
 */
int tf_store_unlock(tf_store *st, const char *secret, size_t len,
		    tf_err *err);
/* Zeroizes every key held in memory (the device key stays: meta). */
void tf_store_lock(tf_store *st);
int tf_store_unlocked(const tf_store *st);
/*
 * Rewraps the keyring under a new secret (store unlocked, no transaction
 * open: TF_ESTATE).  Secrets: 1..1024 bytes (TF_EINVAL, TF_ELIMIT).
 * Another process holding the store unlocked locks at its next rotation
 * or unknown generation (TF_ELOCKED).
 */
int tf_store_change_secret(tf_store *st, const char *secret, size_t len,
			   tf_err *err);

/* Device-sealed entries, readable while locked.  get and del:
   TF_ENOTFOUND when absent; get: TF_EAUTH when it does not open; at most
   TF_STORE_META_MAX bytes (TF_ELIMIT). */
int tf_store_meta_put(tf_store *st, const char *name, const void *data,
		      size_t len, tf_err *err);
int tf_store_meta_get(tf_store *st, const char *name, tf_buf *out,
		      tf_err *err);
int tf_store_meta_del(tf_store *st, const char *name, tf_err *err);

/*
 * A transaction around puts and dels (one fsync at commit).  Without one
 * each put/del commits alone.  Nested begin is TF_ESTATE, and so is a
 * commit without begin.  A failed commit rolls back.  After a call that
 * failed inside a transaction (other than a refusal of its arguments or
 * state, which changes nothing) the caller rolls back.
 */
int tf_store_begin(tf_store *st, tf_err *err);
int tf_store_commit(tf_store *st, tf_err *err);
void tf_store_rollback(tf_store *st);

/*
 * DEK-sealed rows (store unlocked, else TF_ELOCKED).  put replaces and
 * bumps the row's version; get appends the plaintext to out
 * (TF_ENOTFOUND when absent, TF_EAUTH when the row does not open: it
 * was altered or moved).  now_ms stamps the row's access time (clear
 * metadata for the eviction policy); 0 leaves it.  del and touch:
 * TF_ENOTFOUND when absent.  clear, touch and del need the store
 * unlocked too; rows and size do not.
 */
int tf_store_put(tf_store *st, tf_store_kind kind, const char *key,
		 const void *data, size_t len, int64_t now_ms, tf_err *err);
int tf_store_del(tf_store *st, tf_store_kind kind, const char *key,
		 tf_err *err);
int tf_store_get(tf_store *st, tf_store_kind kind, const char *key,
		 tf_buf *out, tf_err *err);
/* Deletes every row of a kind. */
int tf_store_clear(tf_store *st, tf_store_kind kind, tf_err *err);
/* Records an access (no decryption, no re-seal). */
int tf_store_touch(tf_store *st, tf_store_kind kind, const char *key,
		   int64_t now_ms, tf_err *err);

/*
 * Calls fn for every row of a kind in key order with its plaintext
 * (NUL-terminated; cleansed after the call returns).  A non-zero return
 * of fn stops the scan and is returned; a row that does not open stops
 * it with TF_EAUTH naming the key.  fn may call the store (reads; a
 * write to the scanned kind may or may not be visited).
 */
typedef int (*tf_store_each_fn)(void *ctx, const char *key, const char *data,
				size_t len);
int tf_store_scan(tf_store *st, tf_store_kind kind, tf_store_each_fn fn,
		  void *ctx, tf_err *err);

/* Clear metadata of the rows of a kind, for eviction (no decryption). */
typedef struct tf_store_rowinfo {
	char key[TF_STORE_KEY_MAX + 1];
	uint64_t bytes;	   /* stored size */
	int64_t accessed;  /* last now_ms given to put or touch */
} tf_store_rowinfo;
typedef int (*tf_store_info_fn)(void *ctx, const tf_store_rowinfo *ri);
int tf_store_rows(tf_store *st, tf_store_kind kind, tf_store_info_fn fn,
		  void *ctx, tf_err *err);
/* Bytes of every stored row (all kinds). */
int tf_store_size(tf_store *st, uint64_t *bytes, tf_err *err);

/*
 * Crypto-erase (5.13): first the wrapped keyring (overwritten, deleted,
 * committed, WAL checkpointed and truncated), then the device key file
 * (overwritten, unlinked), then every row and the database files.  A
 * crash between the steps leaves data nobody can open.  The store is
 * closed and freed: *st is set to NULL whatever the result.  What the
 * caller needs after the erase (the wipe receipt's identity) it reads
 * before.
 */
int tf_store_wipe(tf_store **st, tf_err *err);

/* Test and benchmark views: seals made under the current DEK generation,
   and that generation (0 first). */
uint64_t tf_store_seals(const tf_store *st);
uint32_t tf_store_generation(const tf_store *st);

#endif

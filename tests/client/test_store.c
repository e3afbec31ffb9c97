/*
 * test_store.c - the encrypted store (src/store/store.h): round trips,
 * the keyring (wrong secret, lock, change of secret), the device key
 * (copied store, another device's key, permissions), tampering (altered,
 * moved rows and meta), DEK rotation and seal counts, at rest (markers,
 * the PIN and key bytes never in any file under the store directory,
 * checked byte for byte while open, inside a transaction and after
 * close), the crypto-erase, and the bench_plaintext mode.
 *
 * PBKDF2 runs at 600,000 iterations (about 0.3 s per unlock): the tests
 * unlock about twenty times in all.
 */
#define TF_STORE_TESTING
#include "store/store.h"
#include "store/store_testing.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "tf_test.h"

#define PIN "583920"
#define PIN2 "771046"

/* ------------------------------------------------------------ helpers */

typedef struct fixture {
	char root[64];
	char dir[128];
	char key[128];
} fixture;

static void fx_init(fixture *fx)
{
	memset(fx, 0, sizeof *fx);
	snprintf(fx->root, sizeof fx->root, "/tmp/tf-store-XXXXXX");
	if (mkdtemp(fx->root) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(fx->dir, sizeof fx->dir, "%s/store", fx->root);
	snprintf(fx->key, sizeof fx->key, "%s/device.key", fx->root);
}

static void rm_rf(const char *path, int depth)
{
	struct stat sb;
	DIR *d;
	struct dirent *e;

	if (depth > 4 || lstat(path, &sb) != 0)
		return;
	if (S_ISDIR(sb.st_mode)) {
		d = opendir(path);
		while (d != NULL && (e = readdir(d)) != NULL) {
			char p[512];

			if (strcmp(e->d_name, ".") == 0 ||
			    strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof p, "%s/%s", path, e->d_name);
			rm_rf(p, depth + 1);
		}
		if (d != NULL)
			closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static void fx_free(fixture *fx)
{
	rm_rf(fx->root, 0);
}

static tf_store_opts fx_opts(const fixture *fx)
{
	tf_store_opts o;

	memset(&o, 0, sizeof o);
	o.dir = fx->dir;
	o.device_key_path = fx->key;
	o.create_device_key = 1;
	return o;
}

/* A new store, keyring made (unlocked). */
static tf_store *fx_new(const fixture *fx, uint64_t rotate_after)
{
	tf_store_opts o = fx_opts(fx);
	tf_store *st = NULL;
	tf_err err;

	o.rotate_after = rotate_after;
	if (tf_store_open(&o, &st, &err) != 0) {
		fprintf(stderr, "open: %s\n", err.msg);
		return NULL;
	}
	if (tf_store_create_keys(st, PIN, strlen(PIN), &err) != 0) {
		fprintf(stderr, "create_keys: %s\n", err.msg);
		tf_store_close(st);
		return NULL;
	}
	return st;
}

static int has_bytes(const uint8_t *hay, size_t n, const void *needle,
		     size_t m)
{
	const uint8_t *nd = needle;
	size_t i;

	if (m == 0 || m > n)
		return 0;
	for (i = 0; i + m <= n; i++) {
		const uint8_t *p = memchr(hay + i, nd[0], n - m + 1 - i);

		if (p == NULL)
			return 0;
		i = (size_t)(p - hay);
		if (memcmp(p, nd, m) == 0)
			return 1;
	}
	return 0;
}

/*
 * Every regular file under dir (one level of subdirectories too) and the
 * extra path: how many hold the needle.  *files counts the files read.
 */
static int files_holding(const char *dir, const char *extra,
			 const void *needle, size_t m, int *files)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int hits = 0;

	while (d != NULL && (e = readdir(d)) != NULL) {
		char p[512];
		struct stat sb;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		if (lstat(p, &sb) != 0)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			hits += files_holding(p, NULL, needle, m, files);
		} else if (S_ISREG(sb.st_mode)) {
			size_t n = 0;
			char *data = tf_test_read_file(p, &n);

			if (files)
				(*files)++;
			if (data != NULL &&
			    has_bytes((const uint8_t *)data, n, needle, m)) {
				fprintf(stderr, "  found in %s\n", p);
				hits++;
			}
			free(data);
		}
	}
	if (d != NULL)
		closedir(d);
	if (extra != NULL && access(extra, F_OK) == 0) {
		size_t n = 0;
		char *data = tf_test_read_file(extra, &n);

		if (data != NULL &&
		    has_bytes((const uint8_t *)data, n, needle, m))
			hits++;
		free(data);
	}
	return hits;
}

static int file_exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

static long file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static int put_s(tf_store *st, tf_store_kind k, const char *key,
		 const char *v)
{
	return tf_store_put(st, k, key, v, strlen(v), 0, NULL);
}

/* The value as a string ("" on error, with rc in *rc). */
static const char *get_s(tf_store *st, tf_store_kind k, const char *key,
			 tf_buf *b, int *rc)
{
	tf_buf_reset(b);
	*rc = tf_store_get(st, k, key, b, NULL);
	return *rc ? "" : tf_buf_cstr(b);
}

/* A second connection to the store's database, as an attacker would. */
static int sql(const fixture *fx, const char *dir, const char *stmt)
{
	sqlite3 *db = NULL;
	char p[256];
	int rc;

	snprintf(p, sizeof p, "%s/store.db", dir ? dir : fx->dir);
	if (sqlite3_open(p, &db) != SQLITE_OK) {
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, 5000);
	rc = sqlite3_exec(db, stmt, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		fprintf(stderr, "sql: %s: %s\n", stmt, sqlite3_errmsg(db));
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

/*
 * Flips the bits of mask at byte off of a blob column (off < 0: from the
 * end), or with mask 0 cuts the blob to off bytes; through a second
 * connection.  0 when a row changed.
 */
static int tamper(const fixture *fx, const char *table, const char *col,
		  const char *where, long off, unsigned mask)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	char p[256], q[256];
	uint8_t *v = NULL;
	size_t n = 0;
	int rc = -1;

	snprintf(p, sizeof p, "%s/store.db", fx->dir);
	if (sqlite3_open(p, &db) != SQLITE_OK)
		goto out;
	sqlite3_busy_timeout(db, 5000);
	snprintf(q, sizeof q, "SELECT %s FROM %s WHERE %s", col, table, where);
	if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW)
		goto out;
	n = (size_t)sqlite3_column_bytes(s, 0);
	v = malloc(n + 1);
	if (v == NULL || n == 0)
		goto out;
	memcpy(v, sqlite3_column_blob(s, 0), n);
	sqlite3_finalize(s);
	s = NULL;
	if (off < 0)
		off += (long)n;
	if (off < 0 || (size_t)off >= n)
		goto out;
	if (mask)
		v[off] ^= (uint8_t)mask;
	else
		n = (size_t)off;
	snprintf(q, sizeof q, "UPDATE %s SET %s = ?1 WHERE %s", table, col,
		 where);
	if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_blob(s, 1, v, (int)n, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_DONE && sqlite3_changes(db) == 1)
		rc = 0;
out:
	sqlite3_finalize(s);
	sqlite3_close(db);
	free(v);
	return rc;
}

/* The integer a query returns (-1 on error). */
static long long sql_int(const fixture *fx, const char *q)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	char p[256];
	long long v = -1;

	snprintf(p, sizeof p, "%s/store.db", fx->dir);
	if (sqlite3_open(p, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, q, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static int copy_file(const char *from, const char *to)
{
	size_t n = 0;
	char *data = tf_test_read_file(from, &n);
	int fd, rc = -1;

	if (data == NULL)
		return -1;
	fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0 && write(fd, data, n) == (ssize_t)n)
		rc = 0;
	if (fd >= 0)
		close(fd);
	free(data);
	return rc;
}

static int write_key(const char *path, mode_t mode, size_t n)
{
	uint8_t k[64];
	int fd, rc = -1;

	if (tf_random_bytes(k, sizeof k) != 0)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd >= 0 && write(fd, k, n) == (ssize_t)n && fchmod(fd, mode) == 0)
		rc = 0;
	if (fd >= 0)
		close(fd);
	return rc;
}

/* -------------------------------------------------------------- tests */

static int count_rows(void *ctx, const tf_store_rowinfo *ri)
{
	int *n = ctx;

	(void)ri;
	(*n)++;
	return 0;
}

typedef struct scan_ctx {
	tf_buf all;
	int n;
} scan_ctx;

static int scan_cat(void *ctx, const char *key, const char *data,
		    size_t len)
{
	scan_ctx *c = ctx;

	c->n++;
	tf_buf_printf(&c->all, "%s=%.*s;", key, (int)len, data);
	return 0;
}

static int scan_stop(void *ctx, const char *key, const char *data,
		     size_t len)
{
	(void)ctx;
	(void)key;
	(void)data;
	(void)len;
	return 42;
}

TEST(roundtrip_every_kind)
{
	static const tf_store_kind kinds[] = {TF_SK_RECORD, TF_SK_PENDING,
					      TF_SK_HEAD, TF_SK_AUDIT,
					      TF_SK_SECRET};
	fixture fx;
	tf_store_opts o;
	tf_store *st = NULL;
	tf_buf b;
	tf_err err;
	struct stat sb;
	uint8_t big[70000];
	uint64_t size = 0;
	size_t i;
	int rc, n = 0;

	fx_init(&fx);
	tf_buf_init(&b);
	o = fx_opts(&fx);
	CHECK_INT(tf_store_open(&o, &st, &err), 0);
	if (st == NULL)
		goto out;
	CHECK(!tf_store_has_keys(st));
	CHECK(!tf_store_unlocked(st));
	CHECK(stat(fx.dir, &sb) == 0 && (sb.st_mode & 0777) == 0700);
	CHECK(stat(fx.key, &sb) == 0 && (sb.st_mode & 0777) == 0600 &&
	      sb.st_size == 32);
	{
		char p[256];

		snprintf(p, sizeof p, "%s/store.db", fx.dir);
		CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	}
	/* No keyring: locked row calls, no unlock. */
	CHECK_INT(put_s(st, TF_SK_RECORD, "a", "x"), TF_ELOCKED);
	CHECK_INT(tf_store_unlock(st, PIN, strlen(PIN), &err), TF_ESTATE);
	CHECK_INT(tf_store_create_keys(st, "", 0, &err), TF_EINVAL);
	CHECK_INT(tf_store_create_keys(st, PIN, strlen(PIN), &err), 0);
	CHECK(tf_store_has_keys(st) && tf_store_unlocked(st));
	CHECK_INT(tf_store_create_keys(st, PIN, strlen(PIN), &err), TF_EEXIST);

	for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		char v[64];

		snprintf(v, sizeof v, "{\"kind\":%zu}", i);
		CHECK_INT(put_s(st, kinds[i], "k-1", v), 0);
		CHECK_STR(get_s(st, kinds[i], "k-1", &b, &rc), v);
		CHECK_INT(rc, 0);
	}
	/* Same key, other kinds: separate rows. */
	CHECK_STR(get_s(st, TF_SK_AUDIT, "k-1", &b, &rc), "{\"kind\":3}");
	/* Replace bumps the version; empty and large values; appends. */
	CHECK_INT(put_s(st, TF_SK_RECORD, "k-1", "second"), 0);
	CHECK_STR(get_s(st, TF_SK_RECORD, "k-1", &b, &rc), "second");
	CHECK_INT(tf_store_put(st, TF_SK_RECORD, "empty", "", 0, 5, &err), 0);
	CHECK_STR(get_s(st, TF_SK_RECORD, "empty", &b, &rc), "");
	CHECK_INT(rc, 0);
	for (i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)(i * 7 + 3);
	CHECK_INT(tf_store_put(st, TF_SK_RECORD, "big", big, sizeof big, 9,
			       &err),
		  0);
	tf_buf_reset(&b);
	tf_buf_puts(&b, "prefix:");
	CHECK_INT(tf_store_get(st, TF_SK_RECORD, "big", &b, &err), 0);
	CHECK(b.len == 7 + sizeof big && memcmp(b.data, "prefix:", 7) == 0 &&
	      memcmp(b.data + 7, big, sizeof big) == 0);

	/* Bounds and bad arguments: refused, nothing changed. */
	CHECK_INT(put_s(st, TF_SK_RECORD, "", "x"), TF_EINVAL);
	CHECK_INT(put_s(st, TF_SK_RECORD, "a b", "x"), TF_EINVAL);
	CHECK_INT(put_s(st, TF_SK_RECORD, "a/b", "x"), TF_EINVAL);
	CHECK_INT(tf_store_put(st, TF_SK_RECORD, NULL, "x", 1, 0, &err),
		  TF_EINVAL);
	CHECK_INT(put_s(st, TF_SK_RECORD,
			"k0123456789012345678901234567890123456789012345678901"
			"234567890123",
			"x"),
		  TF_ELIMIT);
	CHECK_INT(tf_store_put(st, TF_SK_RECORD, "x", big,
			       TF_STORE_VALUE_MAX + 1, 0, &err),
		  TF_ELIMIT);
	CHECK_STR(err.where, "x");
	CHECK_INT(tf_store_put(st, TF_SK_RECORD, "x", NULL, 3, 0, &err),
		  TF_EINVAL);
	CHECK_INT(tf_store_put(st, (tf_store_kind)9, "x", "y", 1, 0, &err),
		  TF_EINVAL);
	CHECK_INT(tf_store_put(st, TF_SK_RECORD, "x", "y", 1, -1, &err),
		  TF_ERANGE);
	CHECK_INT(tf_store_get(st, TF_SK_RECORD, "x", &b, &err), TF_ENOTFOUND);
	CHECK_INT(tf_store_del(st, TF_SK_RECORD, "x", &err), TF_ENOTFOUND);
	CHECK_INT(tf_store_touch(st, TF_SK_RECORD, "x", 1, &err), TF_ENOTFOUND);

	/* Metadata: rows, touch, size, scan in key order, del, clear. */
	CHECK_INT(tf_store_touch(st, TF_SK_RECORD, "k-1", 77, &err), 0);
	CHECK_INT(tf_store_rows(st, TF_SK_RECORD, count_rows, &n, &err), 0);
	CHECK_INT(n, 3);
	CHECK_INT(tf_store_size(st, &size, &err), 0);
	CHECK(size >= sizeof big + (uint64_t)5 * 28);
	{
		scan_ctx sc;

		memset(&sc, 0, sizeof sc);
		tf_buf_init(&sc.all);
		CHECK_INT(put_s(st, TF_SK_PENDING, "00000000000000000002",
				"two"),
			  0);
		CHECK_INT(put_s(st, TF_SK_PENDING, "00000000000000000001",
				"one"),
			  0);
		CHECK_INT(tf_store_scan(st, TF_SK_PENDING, scan_cat, &sc, &err),
			  0);
		CHECK_STR(tf_buf_cstr(&sc.all),
			  "00000000000000000001=one;00000000000000000002=two;"
			  "k-1={\"kind\":1};");
		CHECK_INT(tf_store_scan(st, TF_SK_PENDING, scan_stop, NULL,
					&err),
			  42);
		tf_buf_free(&sc.all);
	}
	CHECK_INT(tf_store_del(st, TF_SK_PENDING, "00000000000000000001", &err),
		  0);
	CHECK_INT(tf_store_get(st, TF_SK_PENDING, "00000000000000000001", &b,
			       &err),
		  TF_ENOTFOUND);
	CHECK_INT(tf_store_clear(st, TF_SK_PENDING, &err), 0);
	n = 0;
	CHECK_INT(tf_store_rows(st, TF_SK_PENDING, count_rows, &n, &err), 0);
	CHECK_INT(n, 0);
	CHECK_STR(get_s(st, TF_SK_RECORD, "k-1", &b, &rc), "second");

	/* Meta: device-sealed, readable while locked. */
	CHECK_INT(tf_store_meta_put(st, "grant", "G1", 2, &err), 0);
	CHECK_INT(tf_store_meta_put(st, "grant", "G2", 2, &err), 0);
	CHECK_INT(tf_store_meta_put(st, "bad name", "G", 1, &err), TF_EINVAL);
	CHECK_INT(tf_store_meta_put(st, "huge", big, TF_STORE_META_MAX + 1,
				    &err),
		  TF_ELIMIT);
	CHECK_INT(tf_store_meta_get(st, "nope", &b, &err), TF_ENOTFOUND);

	/* Transactions. */
	CHECK_INT(tf_store_commit(st, &err), TF_ESTATE);
	CHECK_INT(tf_store_begin(st, &err), 0);
	CHECK_INT(tf_store_begin(st, &err), TF_ESTATE);
	CHECK_INT(put_s(st, TF_SK_RECORD, "t1", "rolled back"), 0);
	CHECK_STR(get_s(st, TF_SK_RECORD, "t1", &b, &rc), "rolled back");
	tf_store_rollback(st);
	CHECK_INT(tf_store_get(st, TF_SK_RECORD, "t1", &b, &err), TF_ENOTFOUND);
	CHECK_INT(tf_store_begin(st, &err), 0);
	CHECK_INT(put_s(st, TF_SK_RECORD, "t1", "kept"), 0);
	CHECK_INT(put_s(st, TF_SK_RECORD, "t2", "kept too"), 0);
	CHECK_INT(tf_store_commit(st, &err), 0);
	CHECK_STR(get_s(st, TF_SK_RECORD, "t2", &b, &rc), "kept too");

	/* change_secret: the old one no longer opens (below). */
	CHECK_INT(tf_store_change_secret(st, PIN2, strlen(PIN2), &err), 0);
	CHECK_STR(get_s(st, TF_SK_RECORD, "k-1", &b, &rc), "second");

	/* Locked: rows refused, meta readable. */
	tf_store_lock(st);
	CHECK(!tf_store_unlocked(st));
	CHECK_INT(tf_store_get(st, TF_SK_RECORD, "k-1", &b, &err), TF_ELOCKED);
	CHECK_INT(put_s(st, TF_SK_RECORD, "k-1", "x"), TF_ELOCKED);
	CHECK_INT(tf_store_del(st, TF_SK_RECORD, "k-1", &err), TF_ELOCKED);
	CHECK_INT(tf_store_scan(st, TF_SK_RECORD, scan_stop, NULL, &err),
		  TF_ELOCKED);
	CHECK_INT(tf_store_change_secret(st, PIN2, strlen(PIN2), &err),
		  TF_ELOCKED);
	n = 0;
	CHECK_INT(tf_store_rows(st, TF_SK_RECORD, count_rows, &n, &err), 0);
	CHECK_INT(n, 5);
	tf_buf_reset(&b);
	CHECK_INT(tf_store_meta_get(st, "grant", &b, &err), 0);
	CHECK_STR(tf_buf_cstr(&b), "G2");
	tf_store_close(st);
	st = NULL;

	/* Reopen after close keeps everything. */
	CHECK_INT(tf_store_open(&o, &st, &err), 0);
	if (st == NULL)
		goto out;
	CHECK(tf_store_has_keys(st) && !tf_store_unlocked(st));
	/* The old secret: TF_EAUTH, nothing changed, no secret in err. */
	CHECK_INT(tf_store_unlock(st, PIN, strlen(PIN), &err), TF_EAUTH);
	CHECK_STR(err.where, "secret");
	CHECK(strstr(err.msg, PIN) == NULL);
	CHECK(!tf_store_unlocked(st));
	CHECK_INT(tf_store_get(st, TF_SK_RECORD, "k-1", &b, &err), TF_ELOCKED);
	n = 0;
	CHECK_INT(tf_store_rows(st, TF_SK_RECORD, count_rows, &n, &err), 0);
	CHECK_INT(n, 5);
	CHECK_INT(tf_store_unlock(st, PIN2, strlen(PIN2), &err), 0);
	CHECK_STR(get_s(st, TF_SK_RECORD, "k-1", &b, &rc), "second");
	CHECK_STR(get_s(st, TF_SK_RECORD, "t1", &b, &rc), "kept");
	CHECK_STR(get_s(st, TF_SK_SECRET, "k-1", &b, &rc), "{\"kind\":4}");
	tf_buf_reset(&b);
	CHECK_INT(tf_store_get(st, TF_SK_RECORD, "big", &b, &err), 0);
	CHECK(b.len == sizeof big && memcmp(b.data, big, sizeof big) == 0);
	tf_buf_reset(&b);
	CHECK_INT(tf_store_meta_get(st, "grant", &b, &err), 0);
	CHECK_STR(tf_buf_cstr(&b), "G2");
	CHECK_INT(tf_store_meta_del(st, "grant", &err), 0);
	CHECK_INT(tf_store_meta_del(st, "grant", &err), TF_ENOTFOUND);
out:
	tf_store_close(st);
	tf_buf_free(&b);
	fx_free(&fx);
}

TEST(open_refusals)
{
	fixture fx;
	tf_store_opts o;
	tf_store *st = NULL;
	tf_err err;
	char p[256];

	fx_init(&fx);
	o = fx_opts(&fx);
	o.create_device_key = 0;
	/* A new store without a key file and no leave to make one. */
	CHECK_INT(tf_store_open(&o, &st, &err), TF_EAUTH);
	CHECK(st == NULL);
	CHECK(strstr(err.msg, "device key") != NULL);
	CHECK(!file_exists(fx.dir) && !file_exists(fx.key));
	o = fx_opts(&fx);
	o.pbkdf2_iter = 1000;
	CHECK_INT(tf_store_open(&o, &st, &err), TF_ERANGE);
	CHECK_STR(err.where, "pbkdf2_iter");
	o = fx_opts(&fx);
	o.rotate_after = ((uint64_t)1 << 31) + 1;
	CHECK_INT(tf_store_open(&o, &st, &err), TF_ERANGE);
	o = fx_opts(&fx);
	o.dir = NULL;
	CHECK_INT(tf_store_open(&o, &st, &err), TF_EINVAL);
	o = fx_opts(&fx);
	o.device_key_path = "";
	CHECK_INT(tf_store_open(&o, &st, &err), TF_EINVAL);
	CHECK(!file_exists(fx.dir) && !file_exists(fx.key));

	/* A key file group or others can read, of a wrong size, a link. */
	CHECK_INT(write_key(fx.key, 0640, 32), 0);
	o = fx_opts(&fx);
	CHECK_INT(tf_store_open(&o, &st, &err), TF_EPERM);
	CHECK(strstr(err.msg, "group or others") != NULL);
	CHECK(!file_exists(fx.dir));
	unlink(fx.key);
	CHECK_INT(write_key(fx.key, 0600, 31), 0);
	CHECK_INT(tf_store_open(&o, &st, &err), TF_EAUTH);
	unlink(fx.key);
	snprintf(p, sizeof p, "%s/real.key", fx.root);
	CHECK_INT(write_key(p, 0600, 32), 0);
	CHECK_INT(symlink(p, fx.key), 0);
	CHECK_INT(tf_store_open(&o, &st, &err), TF_EPERM);
	unlink(fx.key);
	unlink(p);

	/* A store directory group or others can enter. */
	CHECK_INT(mkdir(fx.dir, 0700), 0);
	CHECK_INT(chmod(fx.dir, 0750), 0);
	CHECK_INT(tf_store_open(&o, &st, &err), TF_EPERM);
	CHECK_STR(err.where, "dir");
	CHECK(!file_exists(fx.key));
	snprintf(p, sizeof p, "%s/store.db", fx.dir);
	CHECK(!file_exists(p));
	CHECK_INT(chmod(fx.dir, 0700), 0);
	CHECK_INT(tf_store_open(&o, &st, &err), 0);
	tf_store_close(st);
	fx_free(&fx);
}

/*
 * A copy of the database files (taken while the store is open, WAL
 * included) opens neither without the device key file nor with another
 * device's key; with the key it does (the copy itself is sound).
 */
TEST(copied_store_needs_the_device_key)
{
	static const char *const files[] = {"store.db", "store.db-wal",
					    "store.db-shm"};
	fixture fx;
	tf_store_opts o;
	tf_store *st, *st2 = NULL;
	char dir2[160], key2[160], from[256], to[256];
	tf_buf b;
	tf_err err;
	size_t i;
	int rc;

	fx_init(&fx);
	tf_buf_init(&b);
	st = fx_new(&fx, 0);
	CHECK(st != NULL);
	if (st == NULL)
		goto out;
	CHECK_INT(put_s(st, TF_SK_RECORD, "r1", "copied"), 0);
	snprintf(dir2, sizeof dir2, "%s/copy", fx.root);
	snprintf(key2, sizeof key2, "%s/other.key", fx.root);
	CHECK_INT(mkdir(dir2, 0700), 0);
	for (i = 0; i < 3; i++) {
		snprintf(from, sizeof from, "%s/%s", fx.dir, files[i]);
		snprintf(to, sizeof to, "%s/%s", dir2, files[i]);
		CHECK_INT(copy_file(from, to), 0);
	}
	o = fx_opts(&fx);
	o.dir = dir2;
	o.device_key_path = key2;
	o.create_device_key = 0;
	CHECK_INT(tf_store_open(&o, &st2, &err), TF_EAUTH);
	CHECK(strstr(err.msg, "missing") != NULL);
	/* Leave to make a key does not help: the store exists. */
	o.create_device_key = 1;
	CHECK_INT(tf_store_open(&o, &st2, &err), TF_EAUTH);
	CHECK(!file_exists(key2));
	/* Another device's key. */
	CHECK_INT(write_key(key2, 0600, 32), 0);
	CHECK_INT(tf_store_open(&o, &st2, &err), TF_EAUTH);
	CHECK(strstr(err.msg, "does not open") != NULL);
	CHECK(st2 == NULL);
	/* Control: the same copy with this device's key opens. */
	o.device_key_path = fx.key;
	CHECK_INT(tf_store_open(&o, &st2, &err), 0);
	if (st2 != NULL) {
		CHECK_INT(tf_store_unlock(st2, PIN, strlen(PIN), &err), 0);
		CHECK_STR(get_s(st2, TF_SK_RECORD, "r1", &b, &rc), "copied");
	}
out:
	tf_store_close(st2);
	tf_store_close(st);
	tf_buf_free(&b);
	fx_free(&fx);
}

/* Altered or moved rows and meta entries do not open. */
TEST(tampered_rows_do_not_open)
{
	fixture fx, fx2;
	tf_store_opts o;
	tf_store *st, *st2 = NULL;
	tf_buf b;
	tf_err err;
	int rc;

	fx_init(&fx);
	fx_init(&fx2);
	tf_buf_init(&b);
	st = fx_new(&fx, 0);
	CHECK(st != NULL);
	if (st == NULL)
		goto out;
	CHECK_INT(put_s(st, TF_SK_RECORD, "a", "alpha"), 0);
	CHECK_INT(put_s(st, TF_SK_RECORD, "b", "bravo"), 0);
	CHECK_INT(put_s(st, TF_SK_PENDING, "p", "pending"), 0);
	CHECK_INT(tf_store_meta_put(st, "m1", "meta one", 8, &err), 0);
	CHECK_INT(tf_store_meta_put(st, "m2", "meta two", 8, &err), 0);

	/* An altered ciphertext byte, nonce byte and tag byte. */
	CHECK_INT(tamper(&fx, "rows", "sealed", "key = 'a'", 14, 0x01), 0);
	tf_buf_reset(&b);
	tf_buf_puts(&b, "keep");
	CHECK_INT(tf_store_get(st, TF_SK_RECORD, "a", &b, &err), TF_EAUTH);
	CHECK_STR(tf_buf_cstr(&b), "keep");
	CHECK_STR(err.where, "a");
	CHECK_INT(tf_store_scan(st, TF_SK_RECORD, scan_stop, NULL, &err),
		  TF_EAUTH);
	CHECK_INT(tamper(&fx, "rows", "sealed", "key = 'b'", 0, 0x80), 0);
	CHECK_INT(tf_store_get(st, TF_SK_RECORD, "b", &b, &err), TF_EAUTH);
	CHECK_INT(put_s(st, TF_SK_RECORD, "a", "alpha"), 0);
	CHECK_INT(put_s(st, TF_SK_RECORD, "b", "bravo"), 0);
	CHECK_INT(tamper(&fx, "rows", "sealed", "key = 'b'", -1, 0x10), 0);
	CHECK_INT(tf_store_get(st, TF_SK_RECORD, "b", &b, &err), TF_EAUTH);
	CHECK_INT(tamper(&fx, "rows", "sealed", "key = 'b'", -1, 0), 0);
	CHECK_INT(tf_store_get(st, TF_SK_RECORD, "b", &b, &err), TF_EAUTH);
	CHECK_INT(sql(&fx, NULL,
		      "UPDATE rows SET sealed = x'00' WHERE key = 'b'"),
		  0);
	CHECK_INT(tf_store_get(st, TF_SK_RECORD, "b", &b, &err), TF_EAUTH);
	CHECK_INT(put_s(st, TF_SK_RECORD, "b", "bravo"), 0);

	/* A row moved to another key, kind, version or generation. */
	CHECK_INT(sql(&fx, NULL, "UPDATE rows SET key = 'c' WHERE key = 'a'"),
		  0);
	CHECK_INT(tf_store_get(st, TF_SK_RECORD, "c", &b, &err), TF_EAUTH);
	CHECK_INT(sql(&fx, NULL,
		      "UPDATE rows SET key = 'a' WHERE key = 'c';"
		      " UPDATE rows SET kind = 4 WHERE key = 'a'"),
		  0);
	CHECK_INT(tf_store_get(st, TF_SK_AUDIT, "a", &b, &err), TF_EAUTH);
	CHECK_INT(sql(&fx, NULL,
		      "UPDATE rows SET kind = 1, version = version + 1"
		      " WHERE key = 'a'"),
		  0);
	CHECK_INT(tf_store_get(st, TF_SK_RECORD, "a", &b, &err), TF_EAUTH);
	CHECK_INT(sql(&fx, NULL,
		      "UPDATE rows SET version = version - 1 WHERE key = 'a'"),
		  0);
	CHECK_STR(get_s(st, TF_SK_RECORD, "a", &b, &rc), "alpha");
	CHECK_INT(sql(&fx, NULL, "UPDATE rows SET gen = 5 WHERE key = 'a'"), 0);
	CHECK_INT(tf_store_get(st, TF_SK_RECORD, "a", &b, &err), TF_EAUTH);
	CHECK_INT(sql(&fx, NULL, "UPDATE rows SET gen = 0 WHERE key = 'a'"), 0);
	/* Swapped ciphertexts of two rows. */
	CHECK_INT(sql(&fx, NULL,
		      "CREATE TEMP TABLE t AS SELECT key, sealed FROM rows"
		      " WHERE kind = 1;"
		      " UPDATE rows SET sealed = (SELECT sealed FROM t WHERE"
		      " t.key = CASE rows.key WHEN 'a' THEN 'b' ELSE 'a' END)"
		      " WHERE kind = 1"),
		  0);
	CHECK_INT(tf_store_get(st, TF_SK_RECORD, "a", &b, &err), TF_EAUTH);
	CHECK_INT(tf_store_get(st, TF_SK_RECORD, "b", &b, &err), TF_EAUTH);
	CHECK_STR(get_s(st, TF_SK_PENDING, "p", &b, &rc), "pending");

	/* Meta: altered, moved. */
	CHECK_INT(tamper(&fx, "meta", "sealed", "name = 'm1'", 13, 0x04), 0);
	CHECK_INT(tf_store_meta_get(st, "m1", &b, &err), TF_EAUTH);
	CHECK_INT(sql(&fx, NULL,
		      "DELETE FROM meta WHERE name = 'm1';"
		      " UPDATE meta SET name = 'm1' WHERE name = 'm2'"),
		  0);
	CHECK_INT(tf_store_meta_get(st, "m1", &b, &err), TF_EAUTH);

	/* A row from another store (its own id and keys) does not open. */
	st2 = fx_new(&fx2, 0);
	CHECK(st2 != NULL);
	if (st2 != NULL) {
		char q[512];

		CHECK_INT(put_s(st2, TF_SK_RECORD, "a", "other store"), 0);
		snprintf(q, sizeof q,
			 "ATTACH '%s/store.db' AS o; UPDATE rows SET"
			 " sealed = (SELECT sealed FROM o.rows WHERE key = 'a'),"
			 " version = 1, gen = 0 WHERE kind = 1 AND key = 'a'",
			 fx2.dir);
		CHECK_INT(sql(&fx, NULL, q), 0);
		CHECK_INT(tf_store_get(st, TF_SK_RECORD, "a", &b, &err),
			  TF_EAUTH);
	}
	tf_store_close(st);
	st = NULL;

	/* The device check altered: the store does not open. */
	CHECK_INT(tamper(&fx, "info", "value", "name = 'device_check'", 20,
			 0x01),
		  0);
	o = fx_opts(&fx);
	CHECK_INT(tf_store_open(&o, &st, &err), TF_EAUTH);
	CHECK(st == NULL);
	/* The mode flipped in clear: refused too. */
	CHECK_INT(sql(&fx, NULL,
		      "UPDATE info SET value = CAST('plain' AS BLOB)"
		      " WHERE name = 'mode'"),
		  0);
	o.bench_plaintext = 1;
	CHECK_INT(tf_store_open(&o, &st, &err), TF_EAUTH);
	CHECK(st == NULL);
out:
	tf_store_close(st2);
	tf_store_close(st);
	tf_buf_free(&b);
	fx_free(&fx2);
	fx_free(&fx);
}

/* An altered keyring (either layer) does not unlock: TF_EAUTH. */
TEST(tampered_keyring_does_not_unlock)
{
	fixture fx;
	tf_store *st;
	tf_err err;

	fx_init(&fx);
	st = fx_new(&fx, 0);
	CHECK(st != NULL);
	if (st == NULL)
		goto out;
	tf_store_lock(st);
	/* The outer layer (device key), then the inner one (secret). */
	CHECK_INT(tamper(&fx, "keyring", "sealed", "id = 1", 20, 0x02), 0);
	CHECK_INT(tf_store_unlock(st, PIN, strlen(PIN), &err), TF_EAUTH);
	CHECK(strstr(err.msg, "device key") != NULL);
	CHECK(!tf_store_unlocked(st));
	CHECK_INT(tamper(&fx, "keyring", "sealed", "id = 1", 20, 0x02), 0);
	/* The salt and the iteration count are bound by the AAD. */
	CHECK_INT(tamper(&fx, "keyring", "salt", "id = 1", 3, 0x40), 0);
	CHECK_INT(tf_store_unlock(st, PIN, strlen(PIN), &err), TF_EAUTH);
	CHECK(!tf_store_unlocked(st));
	CHECK_INT(tamper(&fx, "keyring", "salt", "id = 1", 3, 0x40), 0);
	CHECK_INT(sql(&fx, NULL, "UPDATE keyring SET iter = 600001"), 0);
	CHECK_INT(tf_store_unlock(st, PIN, strlen(PIN), &err), TF_EAUTH);
	CHECK(!tf_store_unlocked(st));
out:
	tf_store_close(st);
	fx_free(&fx);
}

/*
 * Rotation with rotate_after 4: new generations, older rows still open,
 * no generation sealed more than 4 times (the reserved counts in the
 * database included), a rolled-back rotation leaves a working store,
 * and everything opens after close and unlock.
 */
TEST(rotation)
{
	fixture fx;
	tf_store_opts o;
	tf_store *st;
	tf_buf b;
	tf_err err;
	uint8_t d0[32], d1[32];
	uint32_t g, gen_before;
	int i, rc;

	fx_init(&fx);
	tf_buf_init(&b);
	st = fx_new(&fx, 4);
	CHECK(st != NULL);
	if (st == NULL)
		goto out;
	CHECK_INT(tf_store_generation(st), 0);
	for (i = 0; i < 30; i++) {
		char k[16], v[32];

		snprintf(k, sizeof k, "r%02d", i);
		snprintf(v, sizeof v, "value %d", i);
		CHECK_INT(put_s(st, TF_SK_RECORD, k, v), 0);
		CHECK(tf_store_seals(st) <= 4);
	}
	/* 30 seals of rows and 4 per generation: at least 8 generations. */
	CHECK(tf_store_generation(st) >= 7);
	CHECK_INT(tf_store_testing_dek(st, 0, d0), 0);
	CHECK_INT(tf_store_testing_dek(st, 1, d1), 0);
	CHECK(memcmp(d0, d1, 32) != 0);
	for (g = 0; g <= tf_store_generation(st); g++) {
		uint64_t r = 99;

		CHECK_INT(tf_store_testing_reserved(st, g, &r), 0);
		CHECK(r <= 4);
	}
	/* Every row, meta entry and the keyring: a nonce of its own. */
	CHECK_INT(sql_int(&fx, "SELECT count(DISTINCT substr(sealed, 1, 12))"
			       " - count(*) FROM (SELECT sealed FROM rows"
			       " UNION ALL SELECT sealed FROM meta UNION ALL"
			       " SELECT sealed FROM keyring)"),
		  0);
	CHECK_INT(sql_int(&fx, "SELECT count(*) FROM rows"), 30);
	for (i = 0; i < 30; i++) {
		char k[16], v[32];

		snprintf(k, sizeof k, "r%02d", i);
		snprintf(v, sizeof v, "value %d", i);
		CHECK_STR(get_s(st, TF_SK_RECORD, k, &b, &rc), v);
	}
	/* A rotation inside a transaction that is rolled back. */
	gen_before = tf_store_generation(st);
	CHECK_INT(tf_store_begin(st, &err), 0);
	for (i = 0; i < 6; i++)
		CHECK_INT(put_s(st, TF_SK_RECORD, "rb", "rolled back"), 0);
	CHECK(tf_store_generation(st) > gen_before);
	tf_store_rollback(st);
	CHECK(tf_store_unlocked(st));
	CHECK_INT(tf_store_generation(st), gen_before);
	CHECK_INT(tf_store_get(st, TF_SK_RECORD, "rb", &b, &err), TF_ENOTFOUND);
	CHECK_INT(put_s(st, TF_SK_RECORD, "after", "after the rollback"), 0);
	CHECK_INT(put_s(st, TF_SK_RECORD, "after2", "and more"), 0);
	CHECK_STR(get_s(st, TF_SK_RECORD, "r00", &b, &rc), "value 0");
	tf_store_close(st);

	o = fx_opts(&fx);
	o.rotate_after = 4;
	st = NULL;
	CHECK_INT(tf_store_open(&o, &st, &err), 0);
	if (st == NULL)
		goto out;
	CHECK_INT(tf_store_unlock(st, PIN, strlen(PIN), &err), 0);
	for (i = 0; i < 30; i++) {
		char k[16], v[32];

		snprintf(k, sizeof k, "r%02d", i);
		snprintf(v, sizeof v, "value %d", i);
		CHECK_STR(get_s(st, TF_SK_RECORD, k, &b, &rc), v);
	}
	CHECK_STR(get_s(st, TF_SK_RECORD, "after", &b, &rc),
		  "after the rollback");
	CHECK_STR(get_s(st, TF_SK_RECORD, "after2", &b, &rc), "and more");
	/* Reopened: the counts start at what was reserved, so the next
	   seal may start a generation, never exceed one. */
	CHECK_INT(put_s(st, TF_SK_RECORD, "r00", "again"), 0);
	CHECK(tf_store_seals(st) <= 4);
	for (g = 0; g <= tf_store_generation(st); g++) {
		uint64_t r = 99;

		CHECK_INT(tf_store_testing_reserved(st, g, &r), 0);
		CHECK(r <= 4);
	}
out:
	tf_store_close(st);
	tf_buf_free(&b);
	fx_free(&fx);
}

/* Markers: a short one, one that spans overflow pages, a large one. */
static char *marker_value(int n, size_t size)
{
	char *v = malloc(size + 1);
	size_t i = 0;

	while (v != NULL && i < size) {
		int w = snprintf(v + i, size + 1 - i,
				 "MARKER-CJI-7f3a-%02d-suspect DOE JOHN dob "
				 "1970-01-01 ",
				 n);

		i += (size_t)w < size + 1 - i ? (size_t)w : size - i;
	}
	return v;
}

static int markers_found(const fixture *fx, const char *extra, int *files)
{
	static const char *const m[] = {"MARKER-CJI-7f3a", "suspect DOE JOHN",
					PIN};
	size_t i;
	int hits = 0;

	for (i = 0; i < sizeof m / sizeof m[0]; i++)
		hits += files_holding(fx->dir, extra, m[i], strlen(m[i]),
				      i == 0 ? files : NULL);
	return hits;
}

static int keys_found(const fixture *fx, tf_store *st)
{
	uint8_t k[32];
	uint32_t g;
	int hits = 0;

	for (g = 0; tf_store_testing_dek(st, g, k) == 0; g++)
		hits += files_holding(fx->dir, NULL, k, sizeof k, NULL);
	if (tf_store_testing_kek(st, k) == 0)
		hits += files_holding(fx->dir, NULL, k, sizeof k, NULL);
	/* The device key lives outside the store directory only. */
	{
		size_t n = 0;
		char *dev = tf_test_read_file(fx->key, &n);

		if (dev != NULL && n == 32)
			hits += files_holding(fx->dir, NULL, dev, n, NULL);
		free(dev);
	}
	return hits;
}

/*
 * At rest: values holding markers, written alone, in committed
 * transactions, in an open (large, spilling) transaction, and meta
 * entries; every file under the store directory read byte for byte while
 * the WAL is not checkpointed, inside the transaction, and after close:
 * no marker, no PIN, no DEK, KEK or device key bytes.  Then the wipe.
 */
TEST(at_rest_no_plaintext_and_wipe)
{
	static const size_t sizes[] = {24, 700, 3000, 40000, 300000, 1200000};
	fixture fx;
	tf_store_opts o;
	tf_store *st;
	tf_buf b, wrapped;
	tf_err err;
	uint8_t dek0[32], kek[32];
	char wal[256];
	size_t i;
	int files = 0, rc;

	fx_init(&fx);
	tf_buf_init(&b);
	tf_buf_init(&wrapped);
	st = fx_new(&fx, 3);
	CHECK(st != NULL);
	if (st == NULL)
		goto out;
	snprintf(wal, sizeof wal, "%s/store.db-wal", fx.dir);
	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		char k[16], *v = marker_value((int)i, sizes[i]);

		snprintf(k, sizeof k, "m%zu", i);
		CHECK(v != NULL);
		if (v == NULL)
			continue;
		CHECK_INT(tf_store_put(st, TF_SK_RECORD, k, v, sizes[i], 1,
				       &err),
			  0);
		CHECK_INT(tf_store_put(st, TF_SK_AUDIT, k, v, sizes[i], 1,
				       &err),
			  0);
		if (sizes[i] <= TF_STORE_META_MAX)
			CHECK_INT(tf_store_meta_put(st, k, v, sizes[i], &err),
				  0);
		free(v);
	}
	CHECK_INT(tf_store_begin(st, &err), 0);
	for (i = 0; i < 40; i++) {
		char k[16], *v = marker_value(50 + (int)i, 5000);

		snprintf(k, sizeof k, "t%02zu", i);
		if (v != NULL)
			CHECK_INT(tf_store_put(st, TF_SK_PENDING, k, v, 5000, 0,
					       &err),
				  0);
		free(v);
	}
	CHECK_INT(tf_store_commit(st, &err), 0);
	/* Open: the WAL holds the writes (no checkpoint yet ran). */
	CHECK(file_size(wal) > 1000000);
	CHECK_INT(markers_found(&fx, NULL, &files), 0);
	CHECK(files >= 3);
	CHECK_INT(keys_found(&fx, st), 0);

	/* Inside a transaction large enough to spill pages to the WAL. */
	CHECK_INT(tf_store_begin(st, &err), 0);
	for (i = 0; i < 6; i++) {
		char k[16], *v = marker_value(80 + (int)i, 600000);

		snprintf(k, sizeof k, "big%02zu", i);
		if (v != NULL)
			CHECK_INT(tf_store_put(st, TF_SK_RECORD, k, v, 600000,
					       0, &err),
				  0);
		free(v);
	}
	files = 0;
	CHECK_INT(markers_found(&fx, NULL, &files), 0);
	tf_store_rollback(st);
	CHECK_INT(tf_store_del(st, TF_SK_RECORD, "m5", &err), 0);
	CHECK_INT(markers_found(&fx, NULL, NULL), 0);
	CHECK_INT(keys_found(&fx, st), 0);
	CHECK_INT(tf_store_testing_dek(st, 0, dek0), 0);
	CHECK_INT(tf_store_testing_kek(st, kek), 0);
	tf_store_close(st);
	st = NULL;

	/* Closed: checkpointed into store.db. */
	files = 0;
	CHECK_INT(markers_found(&fx, NULL, &files), 0);
	CHECK(files >= 1);
	CHECK_INT(files_holding(fx.dir, NULL, dek0, 32, NULL), 0);
	CHECK_INT(files_holding(fx.dir, NULL, kek, 32, NULL), 0);

	/* Wipe (while locked, as after too many failed unlocks). */
	o = fx_opts(&fx);
	o.rotate_after = 3;
	CHECK_INT(tf_store_open(&o, &st, &err), 0);
	if (st == NULL)
		goto out;
	CHECK_INT(tf_store_testing_keyring(st, &wrapped), 0);
	CHECK(wrapped.len > 64);
	/* Sanity of the scanner: the wrapped keyring is in the files now. */
	CHECK(files_holding(fx.dir, NULL, wrapped.data, wrapped.len, NULL) >
	      0);
	/* After step 1 alone (a crash right after it): the database is
	   still there with its rows, but no file holds the wrapped keyring
	   and the right PIN opens nothing. */
	CHECK_INT(tf_store_testing_erase_keyring(st, &err), 0);
	{
		char db[256];
		uint64_t size = 0;

		snprintf(db, sizeof db, "%s/store.db", fx.dir);
		CHECK(file_size(db) > 1000000);
		CHECK_INT(file_size(wal), 0);
		CHECK_INT(tf_store_size(st, &size, &err), 0);
		CHECK(size > 1000000);
	}
	CHECK_INT(files_holding(fx.dir, NULL, wrapped.data, wrapped.len,
				NULL),
		  0);
	CHECK_INT(files_holding(fx.dir, NULL, wrapped.data + 12, 32, NULL), 0);
	CHECK_INT(tf_store_unlock(st, PIN, strlen(PIN), &err), TF_ESTATE);
	CHECK(!tf_store_has_keys(st));
	CHECK_INT(tf_store_wipe(&st, &err), 0);
	CHECK(st == NULL);
	CHECK(!file_exists(fx.key));
	CHECK_INT(files_holding(fx.dir, fx.key, wrapped.data, wrapped.len,
				NULL),
		  0);
	CHECK_INT(files_holding(fx.dir, fx.key, dek0, 32, NULL), 0);
	CHECK_INT(files_holding(fx.dir, fx.key, kek, 32, NULL), 0);
	CHECK_INT(markers_found(&fx, fx.key, NULL), 0);
	/* Nothing opens it again: no key file; and a new key makes a new,
	   empty store without a keyring. */
	o.create_device_key = 0;
	CHECK_INT(tf_store_open(&o, &st, &err), TF_EAUTH);
	o.create_device_key = 1;
	CHECK_INT(tf_store_open(&o, &st, &err), 0);
	if (st != NULL) {
		uint64_t size = 1;

		CHECK(!tf_store_has_keys(st));
		CHECK_INT(tf_store_unlock(st, PIN, strlen(PIN), &err),
			  TF_ESTATE);
		CHECK_INT(tf_store_size(st, &size, &err), 0);
		CHECK_INT(size, 0);
		tf_buf_reset(&b);
		CHECK_INT(tf_store_meta_get(st, "m0", &b, &err), TF_ENOTFOUND);
		(void)rc;
	}
out:
	tf_store_close(st);
	tf_buf_free(&wrapped);
	tf_buf_free(&b);
	fx_free(&fx);
}

/* The wipe of an unlocked store in the middle of a transaction. */
TEST(wipe_unlocked_in_transaction)
{
	fixture fx;
	tf_store *st;
	tf_err err;
	uint8_t dek[32];
	char p[256];

	fx_init(&fx);
	st = fx_new(&fx, 0);
	CHECK(st != NULL);
	if (st == NULL)
		goto out;
	CHECK_INT(put_s(st, TF_SK_RECORD, "a", "MARKER-CJI-7f3a wipe"), 0);
	CHECK_INT(tf_store_testing_dek(st, 0, dek), 0);
	CHECK_INT(tf_store_begin(st, &err), 0);
	CHECK_INT(put_s(st, TF_SK_RECORD, "b", "MARKER-CJI-7f3a wipe 2"), 0);
	CHECK_INT(tf_store_wipe(&st, &err), 0);
	CHECK(st == NULL);
	snprintf(p, sizeof p, "%s/store.db", fx.dir);
	CHECK(!file_exists(p));
	CHECK(!file_exists(fx.key));
	CHECK_INT(files_holding(fx.dir, NULL, dek, 32, NULL), 0);
	CHECK_INT(tf_store_wipe(&st, &err), TF_EINVAL);
out:
	tf_store_close(st);
	fx_free(&fx);
}

/*
 * bench_plaintext: the same calls work, the values are in the clear
 * (which also shows the at-rest scanner finds a marker when there is
 * one), and neither mode opens the other's store.
 */
TEST(bench_plaintext_mode)
{
	fixture fx, fx2;
	tf_store_opts o;
	tf_store *st = NULL;
	tf_buf b;
	tf_err err;
	int rc;

	fx_init(&fx);
	fx_init(&fx2);
	tf_buf_init(&b);
	o = fx_opts(&fx);
	o.bench_plaintext = 1;
	CHECK_INT(tf_store_open(&o, &st, &err), 0);
	if (st == NULL)
		goto out;
	CHECK_INT(tf_store_create_keys(st, PIN, strlen(PIN), &err), 0);
	CHECK_INT(put_s(st, TF_SK_RECORD, "a", "MARKER-CJI-7f3a in the clear"),
		  0);
	CHECK_STR(get_s(st, TF_SK_RECORD, "a", &b, &rc),
		  "MARKER-CJI-7f3a in the clear");
	CHECK(files_holding(fx.dir, NULL, "MARKER-CJI-7f3a", 15, NULL) > 0);
	/* An open transaction larger than the page cache reaches the files
	   before its commit: the sealed at-rest test reads such pages. */
	CHECK_INT(files_holding(fx.dir, NULL, "suspect DOE JOHN", 16, NULL), 0);
	CHECK_INT(tf_store_begin(st, &err), 0);
	{
		size_t i;

		for (i = 0; i < 6; i++) {
			char k[16], *v = marker_value(80 + (int)i, 600000);

			snprintf(k, sizeof k, "big%02zu", i);
			if (v != NULL)
				CHECK_INT(tf_store_put(st, TF_SK_RECORD, k, v,
						       600000, 0, &err),
					  0);
			free(v);
		}
	}
	CHECK(files_holding(fx.dir, NULL, "suspect DOE JOHN", 16, NULL) > 0);
	tf_store_rollback(st);
	tf_store_close(st);
	st = NULL;
	o.bench_plaintext = 0;
	CHECK_INT(tf_store_open(&o, &st, &err), TF_EINVAL);
	CHECK_STR(err.where, "bench_plaintext");
	CHECK(st == NULL);

	o = fx_opts(&fx2);
	CHECK_INT(tf_store_open(&o, &st, &err), 0);
	tf_store_close(st);
	st = NULL;
	o.bench_plaintext = 1;
	CHECK_INT(tf_store_open(&o, &st, &err), TF_EINVAL);
	CHECK(st == NULL);
out:
	tf_store_close(st);
	tf_buf_free(&b);
	fx_free(&fx2);
	fx_free(&fx);
}

/*
 * Two handles on one store (two processes): a rotation by one is seen by
 * the other (its rows open), and the counts reserved never overlap.
 */
TEST(two_handles_share_counts_and_generations)
{
	fixture fx;
	tf_store_opts o;
	tf_store *a, *b2 = NULL;
	tf_buf b;
	tf_err err;
	int i, rc;

	fx_init(&fx);
	tf_buf_init(&b);
	a = fx_new(&fx, 4);
	CHECK(a != NULL);
	if (a == NULL)
		goto out;
	o = fx_opts(&fx);
	o.rotate_after = 4;
	CHECK_INT(tf_store_open(&o, &b2, &err), 0);
	if (b2 == NULL)
		goto out;
	CHECK_INT(tf_store_unlock(b2, PIN, strlen(PIN), &err), 0);
	for (i = 0; i < 12; i++) {
		char k[16];

		snprintf(k, sizeof k, "a%02d", i);
		CHECK_INT(put_s(a, TF_SK_RECORD, k, k), 0);
		snprintf(k, sizeof k, "b%02d", i);
		CHECK_INT(put_s(b2, TF_SK_RECORD, k, k), 0);
	}
	for (i = 0; i < 12; i++) {
		char k[16];

		snprintf(k, sizeof k, "b%02d", i);
		CHECK_STR(get_s(a, TF_SK_RECORD, k, &b, &rc), k);
		snprintf(k, sizeof k, "a%02d", i);
		CHECK_STR(get_s(b2, TF_SK_RECORD, k, &b, &rc), k);
	}
	{
		uint32_t g;

		for (g = 0; g <= tf_store_generation(a); g++) {
			uint64_t r = 99;

			CHECK_INT(tf_store_testing_reserved(a, g, &r), 0);
			CHECK(r <= 4);
		}
		/* 24 seals, 4 per generation: 6 generations at least. */
		CHECK(tf_store_generation(a) >= 5);
	}
	/* The secret changed by one handle locks the other at its next
	   keyring read. */
	CHECK_INT(tf_store_change_secret(a, PIN2, strlen(PIN2), &err), 0);
	for (i = 0; i < 8 && tf_store_unlocked(b2); i++)
		rc = put_s(b2, TF_SK_RECORD, "late", "x");
	CHECK(!tf_store_unlocked(b2));
	CHECK_INT(rc, TF_ELOCKED);
out:
	tf_store_close(b2);
	tf_store_close(a);
	tf_buf_free(&b);
	fx_free(&fx);
}

int main(int argc, char **argv)
{
	(void)argc;
	RUN(roundtrip_every_kind);
	RUN(open_refusals);
	RUN(copied_store_needs_the_device_key);
	RUN(tampered_rows_do_not_open);
	RUN(tampered_keyring_does_not_unlock);
	RUN(rotation);
	RUN(at_rest_no_plaintext_and_wipe);
	RUN(wipe_unlocked_in_transaction);
	RUN(bench_plaintext_mode);
	RUN(two_handles_share_counts_and_generations);
	return tf_test_finish(argv[0]);
}

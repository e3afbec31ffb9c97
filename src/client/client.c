/*
 * client.c - libtenfour-client's state: open/close, enrollment, online
 * login (device proof, offline grant verified against /v1/keys, keyring
 * made or opened under the PIN), offline unlock with the failed-unlock
 * count and the crypto-erase, the idle lock and the clock guard checked
 * by every data call, logout, wipe, and the data calls over the core
 * replica persisted in the encrypted store.  Contract: client.h; the
 * functions sync.c uses: internal.h.
 *
 * Order matters where policy.h says so: the grant is judged before the
 * PIN is tried, the failed-unlock count is persisted before the PIN is
 * tried, the guard is persisted before acting on its verdict, and a
 * mutation is persisted before the call returns.
 */
#include "client/internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/http.h"
#include "tenfour/record.h"

#define DEFAULT_SCHEMA "schemas/cad.json"
#define SCHEMA_MAX ((size_t)1 << 20)
#define WIPE_FILE_MAX ((size_t)TF_AUDIT_ENTRY_MAX + 4096)
#define LOGIN_REPLY_MAX ((size_t)64 * 1024)
/* The guard's high-water mark is persisted when it moved this much (a
   rollback smaller than the tolerance is not one anyway). */
#define GUARD_SAVE_STEP_MS ((int64_t)1000)
/* Bytes of an args document of one mutation. */
#define ARGS_MAX ((size_t)8 * 1024 * 1024)
/* Bytes of a PIN or passphrase handed in. */
#define SECRET_MAX ((size_t)TF_PASSPHRASE_MAX)

#define M_IDENTITY "identity"
#define M_KEYS "keys"
#define M_GRANT "grant"
#define M_LOGIN "login"
#define M_GUARD "guard"
#define M_UNLOCK "unlock"
#define S_SESSION "session"
#define H_REPLICA "replica"

/* -------------------------------------------------------------- clocks */

static int64_t sys_wall(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return -1;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t sys_mono(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tfc_now(tf_client *c, int64_t *wall, int64_t *mono)
{
	int64_t w = c->clock.wall_ms(c->clock.ctx);

	if (wall)
		*wall = w;
	if (mono)
		*mono = c->clock.mono_ms(c->clock.ctx);
	return w < 0 || w >= ((int64_t)1 << 48) ? TF_ERANGE : 0;
}

/* ---------------------------------------------------------- small I/O */

static int set_path(char *dst, size_t cap, const char *a, const char *b,
		    tf_err *err)
{
	int n = b ? snprintf(dst, cap, "%s/%s", a, b)
		  : snprintf(dst, cap, "%s", a);

	if (n < 0 || (size_t)n >= cap)
		return tf_err_set(err, TF_ELIMIT, "home",
				  "path under the home over %zu bytes",
				  cap - 1);
	return 0;
}

static int file_exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

/* Reads a whole file of at most max bytes into out (reset first). */
static int read_file(const char *path, size_t max, tf_buf *out, tf_err *err)
{
	char chunk[4096];
	FILE *f;
	size_t n;
	int rc = 0;

	tf_buf_reset(out);
	f = fopen(path, "rb");
	if (f == NULL)
		return tf_err_set(err, errno == ENOENT ? TF_ENOTFOUND : TF_EIO,
				  "file", "%s: %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (out->len + n > max) {
			rc = tf_err_set(err, TF_ELIMIT, "file",
					"%s: over %zu bytes", path, max);
			break;
		}
		tf_buf_append(out, chunk, n);
	}
	if (rc == 0 && ferror(f))
		rc = tf_err_set(err, TF_EIO, "file", "%s: read error", path);
	if (rc == 0 && out->failed)
		rc = tf_err_set(err, out->failed, "file", "%s: no memory",
				path);
	fclose(f);
	tf_buf_cstr(out);
	return rc;
}

/* Writes a small file atomically (temp, fsync, rename), mode 0600. */
static int write_file(const char *path, const char *data, size_t len,
		      tf_err *err)
{
	char tmp[TFC_PATH_MAX + 8];
	size_t off = 0;
	int fd, rc = 0;

	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return tf_err_set(err, TF_ELIMIT, "file", "path too long");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		  S_IRUSR | S_IWUSR);
	if (fd < 0)
		return tf_err_set(err, TF_EIO, "file", "%s: %s", tmp,
				  strerror(errno));
	while (rc == 0 && off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			rc = tf_err_set(err, TF_EIO, "file", "%s: write: %s",
					tmp, strerror(errno));
		else
			off += (size_t)w;
	}
	if (rc == 0 && fsync(fd) != 0)
		rc = tf_err_set(err, TF_EIO, "file", "%s: fsync: %s", tmp,
				strerror(errno));
	if (close(fd) != 0 && rc == 0)
		rc = tf_err_set(err, TF_EIO, "file", "%s: close: %s", tmp,
				strerror(errno));
	if (rc == 0 && rename(tmp, path) != 0)
		rc = tf_err_set(err, TF_EIO, "file", "%s: rename: %s", path,
				strerror(errno));
	if (rc)
		unlink(tmp);
	return rc;
}

/* ---------------------------------------------------------- JSON bits */

/* A JSON string; NULL is written as "" (callers checked presence). */
static void put_str(tf_buf *b, const char *s)
{
	if (s == NULL)
		s = "";
	tf_json_write_string(b, s, strlen(s));
}

/* ids of grants and identities: [A-Za-z0-9._@-]{1,64} */
static int valid_id(const char *s)
{
	size_t i, n;

	if (s == NULL)
		return 0;
	n = strlen(s);
	if (n == 0 || n > TF_ID_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		      ch == '@' || ch == '-'))
			return 0;
	}
	return 1;
}

/* Copies a JSON string member of o into dst (cap bytes); -1 if absent,
   not a string or too long. */
static int copy_str(const tf_json *o, const char *k, char *dst, size_t cap)
{
	size_t n = 0;
	const char *s = tf_json_get_str(o, k, &n);

	if (s == NULL || n >= cap || strlen(s) != n)
		return -1;
	memcpy(dst, s, n + 1);
	return 0;
}

static int get_i64(const tf_json *o, const char *k, int64_t *out)
{
	return tf_json_int64(tf_json_object_get(o, k), out);
}

/* Meta entry as parsed JSON (an object); TF_ENOTFOUND when absent. */
static int meta_json(tf_client *c, const char *name, tf_json **out,
		     tf_err *err)
{
	tf_buf b;
	int rc;

	*out = NULL;
	tf_buf_init(&b);
	rc = tf_store_meta_get(c->store, name, &b, err);
	if (rc == 0)
		rc = tf_json_parse(b.data, b.len, NULL, out, err);
	if (rc == 0 && (*out)->type != TF_JSON_OBJECT) {
		tf_json_free(*out);
		*out = NULL;
		rc = tf_err_set(err, TF_ETYPE, name,
				"meta %s is not a JSON object", name);
	}
	if (b.data)
		tf_cleanse(b.data, b.cap);
	tf_buf_free(&b);
	return rc;
}

static int meta_put_buf(tf_client *c, const char *name, tf_buf *b,
			tf_err *err)
{
	if (b->failed)
		return tf_err_set(err, b->failed, name, "no memory for %s",
				  name);
	return tf_store_meta_put(c->store, name, b->data, b->len, err);
}

/* ----------------------------------------------------- persisted state */

static int save_guard(tf_client *c, tf_err *err)
{
	tf_buf b;
	int rc;

	tf_buf_init(&b);
	tf_buf_printf(&b,
		      "{\"high_water_ms\":%" PRId64 ",\"offset_ms\":%" PRId64
		      ",\"tripped\":%d",
		      c->guard.high_water_ms, c->guard.offset_ms,
		      c->guard.tripped);
	/* The anchor crosses processes only within one boot: without it a
	   new process re-anchors and never sees a wall clock held still. */
	if (c->guard.anchored && c->boot_id[0])
		tf_buf_printf(&b,
			      ",\"boot\":\"%s\",\"anchor_wall_ms\":%" PRId64
			      ",\"anchor_mono_ms\":%" PRId64,
			      c->boot_id, c->guard.anchor_wall_ms,
			      c->guard.anchor_mono_ms);
	tf_buf_putc(&b, '}');
	rc = meta_put_buf(c, M_GUARD, &b, err);
	if (rc == 0)
		c->guard_saved_hw = c->guard.high_water_ms;
	tf_buf_free(&b);
	return rc;
}

static int save_unlock(tf_client *c, const tf_unlock_state *st, tf_err *err)
{
	tf_buf b;
	int rc;

	tf_buf_init(&b);
	tf_buf_printf(&b, "{\"failures\":%" PRIu32 "}", st->failures);
	rc = meta_put_buf(c, M_UNLOCK, &b, err);
	if (rc == 0)
		c->unlock = *st;
	tf_buf_free(&b);
	return rc;
}

int tfc_grant_verify(const char *keys_json, size_t klen, const char *claims,
		     size_t clen, const char *key_id, const char *sig_b64,
		     tf_grant *out, tf_err *err)
{
	uint8_t pub[TF_ED25519_PUB_LEN], sig[TF_ED25519_SIG_LEN];
	const tf_json *keys, *k = NULL;
	tf_json *doc = NULL;
	tf_sigkey *key = NULL;
	size_t i, n = 0;
	tf_grant g;
	int rc;

	if (keys_json == NULL || claims == NULL || key_id == NULL ||
	    sig_b64 == NULL)
		return tf_err_set(err, TF_EINVAL, "grant", "grant incomplete");
	rc = tf_json_parse(keys_json, klen, NULL, &doc, err);
	if (rc)
		return rc;
	keys = tf_json_object_get(doc, "keys");
	for (i = 0; keys && keys->type == TF_JSON_ARRAY && i < keys->len;
	     i++) {
		const char *id = tf_json_get_str(keys->u.items[i], "key_id",
						 NULL);

		if (id && strcmp(id, key_id) == 0) {
			k = keys->u.items[i];
			break;
		}
	}
	if (k == NULL) {
		rc = tf_err_set(err, TF_EAUTH, "grant.key_id",
				"the grant names key %.64s, which the server "
				"does not publish",
				key_id);
		goto out;
	}
	{
		const char *alg = tf_json_get_str(k, "alg", NULL);
		const char *pk = tf_json_get_str(k, "public_key", &n);

		if (alg == NULL || strcmp(alg, "Ed25519") != 0 || pk == NULL ||
		    tf_b64url_decode(pk, n, pub, sizeof pub, &n) != 0 ||
		    n != sizeof pub) {
			rc = tf_err_set(err, TF_EAUTH, "keys",
					"key %.64s is not an Ed25519 public "
					"key",
					key_id);
			goto out;
		}
	}
	if (tf_b64url_decode(sig_b64, strlen(sig_b64), sig, sizeof sig, &n) !=
		    0 ||
	    n != sizeof sig) {
		rc = tf_err_set(err, TF_EAUTH, "grant.sig",
				"the grant's signature is not 64 bytes of "
				"base64url");
		goto out;
	}
	rc = tf_sigkey_from_public(pub, &key);
	if (rc) {
		tf_err_set(err, rc, "keys", "cannot use key %.64s", key_id);
		goto out;
	}
	if (tf_sigkey_verify(key, claims, clen, sig, sizeof sig) != 0) {
		rc = tf_err_set(err, TF_EAUTH, "grant.sig",
				"the grant's signature does not verify under "
				"key %.64s",
				key_id);
		goto out;
	}
	rc = tf_grant_parse(claims, clen, &g, err);
	if (rc)
		goto out;
	if (strcmp(g.key_id, key_id) != 0) {
		rc = tf_err_set(err, TF_EAUTH, "grant.key_id",
				"the claims name key %s, the grant %.64s",
				g.key_id, key_id);
		goto out;
	}
	*out = g;
out:
	tf_sigkey_free(key);
	tf_json_free(doc);
	return rc;
}

/* The stored grant, verified again against the stored keys. */
static int load_grant(tf_client *c, tf_err *err)
{
	tf_json *g = NULL;
	tf_buf keys;
	size_t clen = 0;
	const char *claims, *kid, *sig;
	int rc;

	c->has_grant = 0;
	tf_buf_init(&keys);
	rc = meta_json(c, M_GRANT, &g, err);
	if (rc == 0)
		rc = tf_store_meta_get(c->store, M_KEYS, &keys, err);
	if (rc)
		goto out;
	claims = tf_json_get_str(g, "claims", &clen);
	kid = tf_json_get_str(g, "key_id", NULL);
	sig = tf_json_get_str(g, "sig", NULL);
	rc = tfc_grant_verify(keys.data, keys.len, claims, clen, kid, sig,
			      &c->grant, err);
	if (rc == 0)
		c->has_grant = 1;
out:
	tf_buf_free(&keys);
	tf_json_free(g);
	return rc;
}

/*
 * Restores the guard's persisted anchor when it was taken in this boot
 * (same boot id): the monotonic clock is system-wide within a boot, so
 * the core's wall/monotonic cross-check then spans processes.  Another
 * boot, no boot id or no anchor stored: unanchored (the next check
 * anchors).
 */
static void load_anchor(tf_client *c, const tf_json *o)
{
	char boot[sizeof c->boot_id];
	int64_t aw = 0, am = 0;

	c->guard.anchored = 0;
	if (c->boot_id[0] == '\0' || copy_str(o, "boot", boot, sizeof boot) ||
	    strcmp(boot, c->boot_id) != 0 ||
	    get_i64(o, "anchor_wall_ms", &aw) ||
	    get_i64(o, "anchor_mono_ms", &am))
		return;
	c->guard.anchored = 1;
	c->guard.anchor_wall_ms = aw;
	c->guard.anchor_mono_ms = am;
}

/* Everything meta holds: identity, grant, login, guard, unlock, audit. */
static int load_meta(tf_client *c, tf_err *err)
{
	tf_json *o = NULL;
	int64_t v = 0;
	int rc;

	rc = meta_json(c, M_IDENTITY, &o, err);
	if (rc)
		return rc;
	if (copy_str(o, "agency", c->id.agency, sizeof c->id.agency) ||
	    copy_str(o, "device", c->id.device, sizeof c->id.device) ||
	    copy_str(o, "server", c->id.server, sizeof c->id.server)) {
		tf_json_free(o);
		return tf_err_set(err, TF_EPROTO, "meta.identity",
				  "the stored identity is malformed");
	}
	tf_json_free(o);
	c->enrolled = 1;

	/* A stored grant that no longer verifies (or no grant) is no
	   grant: the user logs in online again; opening must still work. */
	rc = load_grant(c, NULL);
	if (rc == TF_ENOMEM)
		return tf_err_set(err, rc, "meta.grant", "no memory");
	rc = meta_json(c, M_LOGIN, &o, err);
	if (rc == 0) {
		if (copy_str(o, "user", c->user, sizeof c->user) ||
		    copy_str(o, "unit", c->unit, sizeof c->unit) ||
		    get_i64(o, "expires_at", &c->session_expires_at)) {
			tf_json_free(o);
			return tf_err_set(err, TF_EPROTO, "meta.login",
					  "the stored login is malformed");
		}
		c->device_seq = 0;
		if (tf_json_object_get(o, "device_seq") != NULL) {
			if (get_i64(o, "device_seq", &v) || v < 0 ||
			    v >= INT64_MAX) {
				tf_json_free(o);
				return tf_err_set(err, TF_EPROTO,
						  "meta.login.device_seq",
						  "the stored login is "
						  "malformed");
			}
			c->device_seq = (uint64_t)v;
		}
		c->logged_in = 1;
		tf_json_free(o);
	} else if (rc != TF_ENOTFOUND) {
		return rc;
	}
	rc = meta_json(c, M_GUARD, &o, err);
	if (rc == 0) {
		if (get_i64(o, "high_water_ms", &c->guard.high_water_ms) ||
		    get_i64(o, "offset_ms", &c->guard.offset_ms) ||
		    get_i64(o, "tripped", &v) || v < 0 || v > 2) {
			tf_json_free(o);
			return tf_err_set(err, TF_EPROTO, "meta.guard",
					  "the stored clock guard is "
					  "malformed");
		}
		c->guard.tripped = (int)v;
		c->guard_saved_hw = c->guard.high_water_ms;
		load_anchor(c, o);
		tf_json_free(o);
	} else if (rc == TF_ENOTFOUND) {
		/* A keyring without its guard row fails closed. */
		if (tf_store_has_keys(c->store))
			c->guard.tripped = TF_GRANT_ROLLBACK;
	} else {
		return rc;
	}
	rc = meta_json(c, M_UNLOCK, &o, err);
	if (rc == 0) {
		if (get_i64(o, "failures", &v) || v < 0 ||
		    v > (int64_t)TF_POLICY_MAX_WIPE_AFTER) {
			tf_json_free(o);
			return tf_err_set(err, TF_EPROTO, "meta.unlock",
					  "the stored unlock count is "
					  "malformed");
		}
		c->unlock.failures = (uint32_t)v;
		tf_json_free(o);
	} else if (rc == TF_ENOTFOUND) {
		/* A keyring without its count fails closed: one try left. */
		if (tf_store_has_keys(c->store) && c->has_grant &&
		    c->grant.wipe_after > 0)
			c->unlock.failures = c->grant.wipe_after - 1;
	} else {
		return rc;
	}
	return tfc_audit_load(c, err);
}

static int open_store(tf_client *c, int create, tf_err *err)
{
	tf_store_opts so;

	memset(&so, 0, sizeof so);
	so.dir = c->store_dir;
	so.device_key_path = c->device_key;
	so.create_device_key = create;
	so.pbkdf2_iter = c->opts.pbkdf2_iter;
	so.bench_plaintext = c->opts.bench_plaintext;
	return tf_store_open(&so, &c->store, err);
}

/* Reads wipe-pending.json (agency, device, server, wiped_at). */
static int read_wipe_file(tf_client *c, char agency[TF_ID_MAX + 1],
			  char device[TF_ID_MAX + 1],
			  char server[TFC_URL_MAX + 1], int64_t *wiped_at,
			  tf_err *err)
{
	tf_json *o = NULL;
	tf_buf b;
	int rc;

	tf_buf_init(&b);
	rc = read_file(c->wipe_path, WIPE_FILE_MAX, &b, err);
	if (rc == 0)
		rc = tf_json_parse(b.data, b.len, NULL, &o, err);
	if (rc == 0 && (copy_str(o, "agency", agency, TF_ID_MAX + 1) ||
			copy_str(o, "device", device, TF_ID_MAX + 1) ||
			copy_str(o, "server", server, TFC_URL_MAX + 1) ||
			get_i64(o, "wiped_at", wiped_at)))
		rc = tf_err_set(err, TF_EPROTO, "wipe-pending.json",
				"%s is malformed", c->wipe_path);
	tf_json_free(o);
	tf_buf_free(&b);
	return rc;
}

/* ------------------------------------------------------- open / close */

static const char *url_problem(const char *u);

/*
 * The kernel's id of this boot (a UUID), "" when unreadable: then no
 * clock anchor crosses processes.
 */
static void read_boot_id(char *out, size_t cap)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
	size_t n = 0, i;

	out[0] = '\0';
	if (f == NULL)
		return;
	if (fgets(out, (int)cap, f) == NULL)
		out[0] = '\0';
	(void)fclose(f);
	n = strlen(out);
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	for (i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)out[i]) && out[i] != '-') {
			out[0] = '\0';
			return;
		}
	}
	if (n < 32)
		out[0] = '\0';
}

/*
 * Keys, tokens and CJI live in this process's memory: no core file may
 * hold them.  Best effort (a failure leaves the system's setting).
 */
static void harden_process(void)
{
	struct rlimit rl = { 0, 0 };

	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	(void)setrlimit(RLIMIT_CORE, &rl);
}

int tf_client_open(const tf_client_opts *o, tf_client **out, tf_err *err)
{
	tf_client *c = NULL;
	tf_buf sch;
	int64_t wiped_at = 0;
	int rc;

	*out = NULL;
	if (o == NULL || o->home == NULL || o->home[0] == '\0')
		return tf_err_set(err, TF_EINVAL, "home", "no home directory");
	if (o->pbkdf2_iter != 0 && o->pbkdf2_iter < TF_PBKDF2_MIN_ITER)
		return tf_err_set(err, TF_ERANGE, "pbkdf2_iter",
				  "pbkdf2_iter %" PRIu32 " is under %u",
				  o->pbkdf2_iter, TF_PBKDF2_MIN_ITER);
	if (o->timeout_ms < 0)
		return tf_err_set(err, TF_ERANGE, "timeout_ms",
				  "timeout_ms is negative");
	c = calloc(1, sizeof *c);
	if (c == NULL)
		return tf_err_set(err, TF_ENOMEM, "client", "no memory");
	tf_buf_init(&sch);
	c->opts = *o;
	if (o->clock) {
		if (o->clock->wall_ms == NULL || o->clock->mono_ms == NULL) {
			rc = tf_err_set(err, TF_EINVAL, "clock",
					"a clock needs wall_ms and mono_ms");
			goto fail;
		}
		c->clock = *o->clock;
	} else {
		c->clock.wall_ms = sys_wall;
		c->clock.mono_ms = sys_mono;
	}
	c->opts.clock = &c->clock;
	if (o->clock)
		snprintf(c->boot_id, sizeof c->boot_id, "injected-clock");
	else
		read_boot_id(c->boot_id, sizeof c->boot_id);
	harden_process();
	tfc_audit_forget(c);
	if ((rc = set_path(c->home, sizeof c->home, o->home, NULL, err)) ||
	    (rc = set_path(c->store_dir, sizeof c->store_dir, o->home, "store",
			   err)) ||
	    (rc = o->device_key ? set_path(c->device_key, sizeof c->device_key,
					   o->device_key, NULL, err)
				: set_path(c->device_key, sizeof c->device_key,
					   o->home, "device.key", err)) ||
	    (rc = set_path(c->identity_path, sizeof c->identity_path, o->home,
			   "identity.pem", err)) ||
	    (rc = set_path(c->wipe_path, sizeof c->wipe_path, o->home,
			   "wipe-pending.json", err)) ||
	    (rc = set_path(c->schema_path, sizeof c->schema_path,
			   o->schema_path ? o->schema_path : DEFAULT_SCHEMA,
			   NULL, err)) ||
	    (rc = set_path(c->ca_file, sizeof c->ca_file,
			   o->ca_file ? o->ca_file : "", NULL, err)))
		goto fail;
	if (o->server_url) {
		if (strlen(o->server_url) > TFC_URL_MAX) {
			rc = tf_err_set(err, TF_ELIMIT, "server_url",
					"server_url over %d bytes",
					TFC_URL_MAX);
			goto fail;
		}
		if (url_problem(o->server_url) != NULL) {
			rc = tf_err_set(err, TF_EINVAL, "server_url", "%s",
					url_problem(o->server_url));
			goto fail;
		}
		memcpy(c->server_url, o->server_url,
		       strlen(o->server_url) + 1);
	}
	c->opts.home = c->home;
	c->opts.device_key = c->device_key;
	c->opts.schema_path = c->schema_path;
	c->opts.ca_file = c->ca_file[0] ? c->ca_file : NULL;
	c->opts.server_url = c->server_url[0] ? c->server_url : NULL;
	if (mkdir(c->home, S_IRWXU) != 0 && errno != EEXIST) {
		rc = tf_err_set(err, TF_EIO, "home", "%s: %s", c->home,
				strerror(errno));
		goto fail;
	}
	rc = read_file(c->schema_path, SCHEMA_MAX, &sch, err);
	if (rc == 0)
		rc = tf_schema_load(sch.data, sch.len, &c->schema, err);
	if (rc)
		goto fail;
	if (file_exists(c->wipe_path)) {
		rc = read_wipe_file(c, c->id.agency, c->id.device, c->id.server,
				    &wiped_at, err);
		if (rc)
			goto fail;
		c->wiped = 1;
		c->enrolled = file_exists(c->identity_path);
	} else if (file_exists(c->identity_path)) {
		rc = open_store(c, 0, err);
		if (rc == 0)
			rc = load_meta(c, err);
		if (rc)
			goto fail;
	}
	tf_buf_free(&sch);
	*out = c;
	return 0;
fail:
	tf_buf_free(&sch);
	tf_client_close(c);
	return rc;
}

static void drop_replica(tf_client *c)
{
	tf_replica_free(c->replica);
	c->replica = NULL;
}

static void drop_token(tf_client *c)
{
	tf_cleanse(c->token, sizeof c->token);
}

static int is_unlocked(const tf_client *c)
{
	return c->store != NULL && tf_store_unlocked(c->store) &&
	       c->replica != NULL;
}

/*
 * Locks: audits why (while the store can still seal it), persists what
 * the replica holds unsaved, then frees the replica, the token and the
 * keys.
 */
static void lock_now(tf_client *c, const char *reason)
{
	char detail[96];

	if (c->store == NULL)
		return;
	if (is_unlocked(c)) {
		snprintf(detail, sizeof detail, "{\"reason\":\"%s\"}", reason);
		(void)tfc_audit(c, TF_AUDIT_LOCK, 1, "mdt/lock", NULL, NULL,
				NULL, detail, NULL);
		if (tf_replica_dirty(c->replica))
			(void)tfc_persist(c, NULL);
	}
	drop_replica(c);
	drop_token(c);
	tf_store_lock(c->store);
}

void tf_client_close(tf_client *c)
{
	if (c == NULL)
		return;
	lock_now(c, "close");
	tf_store_close(c->store);
	tf_replica_free(c->replica);
	tf_schema_free(c->schema);
	tf_sigkey_free(c->id.key);
	tf_http_free(c->http);
	tf_cleanse(c, sizeof *c);
	free(c);
}

int tfc_http(tf_client *c, struct tf_http **out, tf_err *err)
{
	const char *base = c->server_url[0] ? c->server_url : c->id.server;
	int rc;

	if (c->http == NULL) {
		if (base[0] == '\0')
			return tf_err_set(err, TF_EAUTH, "server",
					  "not enrolled: no server URL");
		rc = tf_http_new(base, c->ca_file[0] ? c->ca_file : NULL,
				 c->opts.timeout_ms, &c->http, err);
		if (rc)
			return rc;
	}
	*out = c->http;
	return 0;
}

void tfc_contact(tf_client *c, int ok)
{
	int64_t wall = 0;

	c->online = ok;
	if (ok && tfc_now(c, &wall, NULL) == 0)
		c->last_contact_ms = wall;
}

/* tf_http_call with the contact bookkeeping. */
static int call(tf_client *c, const char *method, const char *path,
		const char *token, const char *body, size_t len, tf_buf *reply,
		tf_err *err)
{
	tf_http *h = NULL;
	int rc = tfc_http(c, &h, err);

	if (rc)
		return rc;
	rc = tf_http_call(h, method, path, token, token ? c->id.device : NULL,
			  body, len, reply, err);
	tfc_contact(c, rc != TF_ENET);
	return rc;
}

/* ------------------------------------------------------------- enroll */

/*
 * 1 when the authority after "http://" names a loopback host:
 * localhost, 127.0.0.0/8 (dotted decimal) or [::1], then a port, a path
 * or the end.  Anything else over plain HTTP would carry the
 * credentials, the token, the CJI and a "wipe" verdict in clear.
 */
static int loopback_authority(const char *h)
{
	size_t n;
	int dots = 0, digits = 0;

	if (strncmp(h, "[::1]", 5) == 0) {
		n = 5;
	} else if (strncasecmp(h, "localhost", 9) == 0) {
		n = 9;
	} else if (strncmp(h, "127.", 4) == 0) {
		unsigned v = 0;

		for (n = 4;; n++) {
			if (isdigit((unsigned char)h[n])) {
				v = v * 10 + (unsigned)(h[n] - '0');
				if (++digits > 3 || v > 255)
					return 0;
			} else if (h[n] == '.' && digits > 0 && dots < 2) {
				dots++;
				digits = 0;
				v = 0;
			} else {
				break;
			}
		}
		if (dots != 2 || digits == 0)
			return 0;
	} else {
		return 0;
	}
	return h[n] == '\0' || h[n] == ':' || h[n] == '/';
}

/* 0 when u is an acceptable server URL, else a reason (static text). */
static const char *url_problem(const char *u)
{
	size_t i, n = strlen(u);

	if (n > TFC_URL_MAX)
		return "the server URL is too long";
	for (i = 0; i < n; i++) {
		if ((unsigned char)u[i] <= ' ' || u[i] == 0x7f)
			return "the server URL holds a space or a control "
			       "byte";
	}
	if (strncmp(u, "https://", 8) == 0)
		return u[8] ? NULL : "the server URL has no host";
	if (strncmp(u, "http://", 7) == 0)
		return loopback_authority(u + 7)
			       ? NULL
			       : "plain http:// is allowed only for a "
				 "loopback host (localhost, 127.x.x.x, "
				 "[::1]); use https://";
	return "the server URL must start with https://";
}

int tf_client_enroll(tf_client *c, const char *server_url, const char *agency,
		     const char *device_id, char pub_b64[64], tf_err *err)
{
	uint8_t pub[TF_ED25519_PUB_LEN];
	tf_sigkey *key = NULL;
	size_t n;
	tf_buf b;
	const char *why;
	int rc;

	if (c->enrolled || c->store != NULL || file_exists(c->identity_path))
		return tf_err_set(err, TF_EEXIST, "identity",
				  "%s is enrolled already", c->home);
	if (server_url == NULL)
		return tf_err_set(err, TF_EINVAL, "server_url",
				  "no server URL");
	if ((why = url_problem(server_url)) != NULL)
		return tf_err_set(err, TF_EINVAL, "server_url", "%s (at most "
				  "%d bytes)", why, TFC_URL_MAX);
	if (!valid_id(agency))
		return tf_err_set(err, TF_EINVAL, "agency",
				  "agency must be [A-Za-z0-9._@-]{1,64}");
	if (!valid_id(device_id))
		return tf_err_set(err, TF_EINVAL, "device_id",
				  "device_id must be [A-Za-z0-9._@-]{1,64}");
	tf_buf_init(&b);
	rc = tf_sigkey_generate(&key);
	if (rc) {
		tf_err_set(err, rc, "identity", "cannot make an Ed25519 key");
		goto out;
	}
	rc = tf_sigkey_public(key, pub);
	if (rc == 0)
		rc = tf_b64url_encode(pub, sizeof pub, pub_b64, 64);
	if (rc) {
		tf_err_set(err, rc, "identity", "cannot encode the public key");
		goto out;
	}
	rc = tf_sigkey_save_pem(key, c->identity_path, err);
	if (rc)
		goto out;
	rc = open_store(c, 1, err);
	if (rc)
		goto undo;
	n = strlen(server_url);
	while (n > 0 && server_url[n - 1] == '/')
		n--;
	memcpy(c->id.server, server_url, n);
	c->id.server[n] = '\0';
	snprintf(c->id.agency, sizeof c->id.agency, "%s", agency);
	snprintf(c->id.device, sizeof c->id.device, "%s", device_id);
	tf_buf_puts(&b, "{\"agency\":");
	put_str(&b, c->id.agency);
	tf_buf_puts(&b, ",\"device\":");
	put_str(&b, c->id.device);
	tf_buf_puts(&b, ",\"server\":");
	put_str(&b, c->id.server);
	tf_buf_putc(&b, '}');
	rc = meta_put_buf(c, M_IDENTITY, &b, err);
	if (rc)
		goto undo;
	c->enrolled = 1;
	c->id.key = key;
	key = NULL;
	goto out;
undo:
	tf_store_close(c->store);
	c->store = NULL;
	unlink(c->identity_path);
	memset(&c->id, 0, sizeof c->id);
out:
	tf_sigkey_free(key);
	tf_buf_free(&b);
	return rc;
}

int tfc_sign(tf_client *c, const void *msg, size_t len, char sig_b64[96],
	     tf_err *err)
{
	uint8_t sig[TF_ED25519_SIG_LEN];
	int rc;

	if (c->id.key == NULL) {
		rc = tf_sigkey_load_pem(c->identity_path, &c->id.key, err);
		if (rc)
			return rc;
	}
	rc = tf_sigkey_sign(c->id.key, msg, len, sig);
	if (rc == 0)
		rc = tf_b64url_encode(sig, sizeof sig, sig_b64, 96);
	if (rc)
		return tf_err_set(err, rc, "identity", "signing failed");
	return 0;
}

/* ------------------------------------------------------------- banner */

int tf_client_banner(tf_client *c, tf_buf *out, int64_t *rev, tf_err *err)
{
	char path[64 + 3 * TF_ID_MAX + 1], esc[3 * TF_ID_MAX + 1];
	const char *text;
	tf_json *o = NULL;
	size_t n = 0;
	tf_buf b;
	int rc;

	if (!c->enrolled)
		return tf_err_set(err, TF_EAUTH, "identity", "not enrolled");
	rc = tf_http_escape(c->id.agency, esc, sizeof esc);
	if (rc)
		return tf_err_set(err, rc, "agency", "agency too long");
	snprintf(path, sizeof path, "/v1/auth/banner?agency=%s", esc);
	tf_buf_init(&b);
	rc = call(c, "GET", path, NULL, NULL, 0, &b, err);
	if (rc == 0)
		rc = tf_json_parse(b.data, b.len, NULL, &o, err);
	if (rc)
		goto out;
	text = tf_json_get_str(o, "banner", &n);
	if (text == NULL || get_i64(o, "banner_rev", rev) != 0) {
		rc = tf_err_set(err, TF_EPROTO, "banner",
				"the banner reply lacks banner or banner_rev");
		goto out;
	}
	if (tf_buf_append(out, text, n) != 0)
		rc = tf_err_set(err, TF_ENOMEM, "banner", "no memory");
out:
	tf_json_free(o);
	tf_buf_free(&b);
	return rc;
}

/* ----------------------------------------------------- replica loading */

typedef struct parts {
	tf_slice *v;
	char **own; /* the copies v points into */
	size_t n, cap;
} parts;

static int parts_add(void *ctx, const char *key, const char *data,
		     size_t len)
{
	parts *p = ctx;
	char *copy;

	(void)key;
	if (p->n == p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 64;
		tf_slice *nv = realloc(p->v, ncap * sizeof *nv);
		char **no;

		if (nv == NULL)
			return TF_ENOMEM;
		p->v = nv;
		no = realloc(p->own, ncap * sizeof *no);
		if (no == NULL)
			return TF_ENOMEM;
		p->own = no;
		p->cap = ncap;
	}
	copy = malloc(len ? len : 1);
	if (copy == NULL)
		return TF_ENOMEM;
	memcpy(copy, data, len);
	p->own[p->n] = copy;
	p->v[p->n].p = copy;
	p->v[p->n].len = len;
	p->n++;
	return 0;
}

static void parts_free(parts *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		tf_cleanse(p->own[i], p->v[i].len);
		free(p->own[i]);
	}
	free(p->own);
	free(p->v);
	memset(p, 0, sizeof *p);
}

/* The replica from the store's rows (a new one when none was saved). */
static int load_replica(tf_client *c, tf_err *err)
{
	parts recs, pend;
	tf_buf head;
	int rc;

	memset(&recs, 0, sizeof recs);
	memset(&pend, 0, sizeof pend);
	tf_buf_init(&head);
	drop_replica(c);
	rc = tf_store_get(c->store, TF_SK_HEAD, H_REPLICA, &head, err);
	if (rc == TF_ENOTFOUND) {
		rc = tf_replica_new(c->schema, c->id.device, c->user, 0,
				    &c->replica);
		/* The server's ledger may hold this device's seqs from
		   before a wipe: continue after them. */
		if (rc == 0 && c->device_seq > 0)
			rc = tf_replica_resume_seq(c->replica, c->device_seq);
		if (rc)
			tf_err_set(err, rc, "replica", "cannot make a replica");
		c->persist_full = 1;
		goto out;
	}
	if (rc)
		goto out;
	rc = tf_store_scan(c->store, TF_SK_RECORD, parts_add, &recs, err);
	if (rc == 0)
		rc = tf_store_scan(c->store, TF_SK_PENDING, parts_add, &pend,
				   err);
	if (rc == TF_ENOMEM)
		tf_err_set(err, rc, "replica", "no memory");
	if (rc == 0)
		rc = tf_replica_load_parts(c->schema, head.data, head.len,
					   recs.v, recs.n, pend.v, pend.n,
					   &c->replica, err);
	c->persist_full = 0;
out:
	if (head.data)
		tf_cleanse(head.data, head.cap);
	tf_buf_free(&head);
	parts_free(&recs);
	parts_free(&pend);
	return rc;
}

/* After the keys opened: token, replica, queued audit entries. */
static int after_unlock(tf_client *c, tf_err *err)
{
	tf_buf t;
	int rc;

	tf_buf_init(&t);
	drop_token(c);
	c->has_session = 0;
	rc = tf_store_get(c->store, TF_SK_SECRET, S_SESSION, &t, err);
	if (rc == 0 && t.len > 0 && t.len <= TFC_TOKEN_MAX) {
		memcpy(c->token, t.data, t.len);
		c->token[t.len] = '\0';
		c->has_session = 1;
	} else if (rc == 0 || rc == TF_ENOTFOUND) {
		rc = 0;
	}
	if (t.data)
		tf_cleanse(t.data, t.cap);
	tf_buf_free(&t);
	if (rc == 0)
		rc = load_replica(c, err);
	if (rc == 0)
		rc = tfc_audit_flush(c, err);
	if (rc) {
		drop_replica(c);
		drop_token(c);
		tf_store_lock(c->store);
	}
	return rc;
}

/* ------------------------------------------------------------ persist */

typedef struct sink_ctx {
	tf_client *c;
	tf_err *err;
	int64_t now;
} sink_ctx;

static int s_put_record(void *ctx, const char *id, const char *json,
			size_t len)
{
	sink_ctx *s = ctx;

	return tf_store_put(s->c->store, TF_SK_RECORD, id, json, len, s->now,
			    s->err);
}

static int s_del_record(void *ctx, const char *id)
{
	sink_ctx *s = ctx;
	int rc = tf_store_del(s->c->store, TF_SK_RECORD, id, s->err);

	return rc == TF_ENOTFOUND ? 0 : rc;
}

static int s_put_pending(void *ctx, uint64_t seq, const char *json,
			 size_t len)
{
	sink_ctx *s = ctx;
	char key[24];

	snprintf(key, sizeof key, "%020" PRIu64, seq);
	return tf_store_put(s->c->store, TF_SK_PENDING, key, json, len, 0,
			    s->err);
}

static int s_del_pending(void *ctx, uint64_t seq)
{
	sink_ctx *s = ctx;
	char key[24];
	int rc;

	snprintf(key, sizeof key, "%020" PRIu64, seq);
	rc = tf_store_del(s->c->store, TF_SK_PENDING, key, s->err);
	return rc == TF_ENOTFOUND ? 0 : rc;
}

static int s_put_head(void *ctx, const char *json, size_t len)
{
	sink_ctx *s = ctx;

	return tf_store_put(s->c->store, TF_SK_HEAD, H_REPLICA, json, len, 0,
			    s->err);
}

int tfc_persist(tf_client *c, tf_err *err)
{
	static const tf_replica_sink sink = {s_put_record, s_del_record,
					     s_put_pending, s_del_pending,
					     s_put_head};
	sink_ctx s;
	int rc;

	if (!is_unlocked(c))
		return tf_err_set(err, TF_ELOCKED, "store", "locked");
	if (!c->persist_full && !tf_replica_dirty(c->replica))
		return 0;
	s.c = c;
	s.err = err;
	s.now = 0;
	(void)tfc_now(c, &s.now, NULL);
	rc = tf_store_begin(c->store, err);
	if (rc)
		return rc;
	rc = tf_replica_checkpoint(c->replica, c->persist_full, &sink, &s);
	if (rc == 0)
		rc = tf_store_commit(c->store, err);
	if (rc) {
		tf_store_rollback(c->store);
		if (err && err->code != rc)
			tf_err_set(err, rc, "store",
				   "the replica could not be saved");
		return rc;
	}
	tf_replica_checkpoint_done(c->replica);
	c->persist_full = 0;
	return 0;
}

/* ---------------------------------------------------------- the gates */

void tfc_activity(tf_client *c)
{
	int64_t mono = 0;

	(void)tfc_now(c, NULL, &mono);
	c->last_activity = mono;
}

/*
 * The grant verdict now: adopts the guard's next state, persists it when
 * it tripped or moved enough, audits a new trip.  0, TF_EEXPIRED or
 * TF_EROLLBACK (err says why), or an error of the clock or the store.
 */
static int guard_check(tf_client *c, tf_err *err)
{
	tf_grant_decision d;
	int64_t wall = 0, mono = 0;
	int was = c->guard.tripped, rc;

	if (!c->has_grant)
		return tf_err_set(err, TF_EEXPIRED, "grant",
				  "no offline grant: log in online");
	rc = tfc_now(c, &wall, &mono);
	if (rc == 0)
		rc = tf_grant_decide(&c->grant, &c->guard, wall, mono, &d);
	if (rc)
		return tf_err_set(err, rc, "clock",
				  "cannot judge the grant at this time");
	c->guard = d.next;
	if (d.status != TF_GRANT_OK || c->guard.tripped != was ||
	    c->guard.high_water_ms - c->guard_saved_hw >= GUARD_SAVE_STEP_MS) {
		rc = save_guard(c, err);
		if (rc)
			return rc;
	}
	if (d.status == TF_GRANT_OK)
		return 0;
	if (!was) {
		char detail[256];
		tf_buf b;

		tf_buf_init(&b);
		tf_buf_puts(&b, "{\"reason\":");
		put_str(&b, d.reason);
		tf_buf_putc(&b, '}');
		snprintf(detail, sizeof detail, "%s",
			 b.failed ? "{}" : b.data);
		tf_buf_free(&b);
		(void)tfc_audit(c,
				d.status == TF_GRANT_EXPIRED
					? TF_AUDIT_GRANT_EXPIRE
					: TF_AUDIT_CLOCK_ROLLBACK,
				0, "mdt/grant", NULL, NULL, NULL, detail,
				NULL);
	}
	return tf_err_set(err,
			  d.status == TF_GRANT_EXPIRED ? TF_EEXPIRED
						       : TF_EROLLBACK,
			  "grant", "%s; log in online", d.reason);
}

int tfc_require_unlocked(tf_client *c, tf_err *err)
{
	int64_t mono = 0;
	int rc;

	if (c == NULL)
		return tf_err_set(err, TF_EINVAL, "client", "no client");
	if (!is_unlocked(c))
		return tf_err_set(err, TF_ELOCKED, "store",
				  c->store ? "locked: unlock with the PIN"
					   : "no store: log in online");
	(void)tfc_now(c, NULL, &mono);
	if (tf_idle_should_lock(&c->grant, 0, c->opts.exempt, c->last_activity,
				mono, NULL)) {
		lock_now(c, "idle");
		return tf_err_set(err, TF_ELOCKED, "idle",
				  "locked after %" PRId64
				  " ms without activity (AC-11); unlock "
				  "with the PIN",
				  tf_idle_limit(&c->grant, 0, c->opts.exempt));
	}
	rc = guard_check(c, err);
	if (rc) {
		lock_now(c, rc == TF_EROLLBACK ? "clock_rollback"
					       : "grant_expired");
		return rc;
	}
	return 0;
}

/* ------------------------------------------------------ unlock counting */

/*
 * One PIN attempt against the keyring with the failed-unlock count of
 * policy.h: the raised count is persisted before the PIN is tried.
 * 0 unlocked; TF_EAUTH wrong PIN (err: attempts left); TF_EWIPE after the
 * wipe_after-th failure (the store is erased).
 */
static int pin_attempt(tf_client *c, const char *pin, size_t len,
		       tf_err *err)
{
	uint32_t wipe_after;
	tf_unlock_decision d, e;
	char detail[64];
	int rc, ok;

	if (c->has_grant) {
		wipe_after = c->grant.wipe_after;
	} else {
		tf_agency_policy p;

		tf_agency_policy_default(&p);
		wipe_after = p.wipe_after;
	}
	rc = tf_unlock_begin(&c->unlock, wipe_after, &d);
	if (rc)
		return tf_err_set(err, rc, "grant.wipe_after",
				  "wipe_after out of range");
	if (d.action == TF_UNLOCK_WIPE) {
		rc = tfc_wipe(c, "failed_unlocks", err);
		return rc ? rc
			  : tf_err_set(err, TF_EWIPE, "pin",
				       "too many failed unlocks: the store "
				       "was crypto-erased");
	}
	rc = save_unlock(c, &d.next, err);
	if (rc)
		return rc;
	rc = tf_store_unlock(c->store, pin, len, NULL);
	if (rc && rc != TF_EAUTH)
		return tf_err_set(err, rc, "store",
				  "the keyring could not be read");
	ok = rc == 0;
	rc = tf_unlock_end(&c->unlock, ok, wipe_after, &e);
	if (rc)
		return tf_err_set(err, rc, "unlock", "bad unlock state");
	rc = save_unlock(c, &e.next, err);
	if (rc) {
		tf_store_lock(c->store);
		return rc;
	}
	if (e.action == TF_UNLOCK_UNLOCKED)
		return 0;
	snprintf(detail, sizeof detail,
		 "{\"attempts_left\":%" PRIu32 ",\"failures\":%" PRIu32 "}",
		 e.attempts_left, e.next.failures);
	(void)tfc_audit(c, TF_AUDIT_UNLOCK_FAIL, 0, "mdt/unlock", NULL, NULL,
			NULL, detail, NULL);
	if (e.action == TF_UNLOCK_WIPE) {
		rc = tfc_wipe(c, "failed_unlocks", err);
		return rc ? rc
			  : tf_err_set(err, TF_EWIPE, "pin",
				       "%" PRIu32 " failed unlocks: the store "
				       "was crypto-erased",
				       wipe_after);
	}
	return tf_err_set(err, TF_EAUTH, "pin",
			  "wrong PIN; %" PRIu32
			  " attempt(s) left before the store is erased",
			  e.attempts_left);
}

int tf_client_unlock(tf_client *c, const char *pin, size_t len, tf_err *err)
{
	int rc;

	if (c == NULL || pin == NULL || len == 0 || len > SECRET_MAX)
		return tf_err_set(err, TF_EINVAL, "pin",
				  "a PIN or passphrase of 1..%zu bytes is "
				  "needed",
				  SECRET_MAX);
	if (c->store == NULL || !c->logged_in || !c->has_grant ||
	    !tf_store_has_keys(c->store))
		return tf_err_set(err, TF_EAUTH, "login",
				  c->wiped ? "the store was wiped: log in "
					     "online"
					   : "not logged in: log in online");
	/* Unlocked already: the PIN is still verified and counted (a
	   caller must not learn "unlocked" without knowing the PIN). */
	if (c->replica != NULL || tf_store_unlocked(c->store))
		lock_now(c, "reunlock");
	/* The grant is judged before the PIN is tried (policy.h). */
	rc = guard_check(c, err);
	if (rc)
		return rc;
	rc = pin_attempt(c, pin, len, err);
	if (rc)
		return rc;
	rc = after_unlock(c, err);
	if (rc)
		return rc;
	tfc_activity(c);
	rc = tfc_audit(c, TF_AUDIT_UNLOCK_OK, 1, "mdt/unlock", NULL, NULL, NULL,
		       NULL, err);
	if (rc)
		lock_now(c, "audit_failure");
	return rc;
}

void tf_client_lock(tf_client *c)
{
	if (c)
		lock_now(c, "manual");
}

int tf_client_is_unlocked(tf_client *c)
{
	return c != NULL && tfc_require_unlocked(c, NULL) == 0;
}

void tf_client_touch(tf_client *c)
{
	if (c && tfc_require_unlocked(c, NULL) == 0)
		tfc_activity(c);
}

/* --------------------------------------------------------------- wipe */

int tfc_wipe(tf_client *c, const char *reason, tf_err *err)
{
	char detail[128];
	int64_t wall = 0;
	tf_buf b;
	int rc;

	if (c->store == NULL)
		return c->wiped ? 0
				: tf_err_set(err, TF_ESTATE, "store",
					     "no store to wipe");
	snprintf(detail, sizeof detail, "{\"reason\":\"%s\"}",
		 reason ? reason : "unknown");
	(void)tfc_audit(c, TF_AUDIT_WIPE, 1, "mdt/wipe", NULL, NULL, NULL,
			detail, NULL);
	(void)tfc_now(c, &wall, NULL);
	/* The receipt's facts go to disk before the erase, so a crash in
	   the middle still leaves them (and no key). */
	tf_buf_init(&b);
	tf_buf_puts(&b, "{\"agency\":");
	put_str(&b, c->id.agency);
	{
		/* the wipe's own entry outlives the erased log here */
		size_t mark = b.len;

		tf_buf_puts(&b, ",\"audit_entry\":");
		if (tfc_audit_head_entry(c, &b, NULL) != 0)
			b.len = mark;
	}
	tf_buf_puts(&b, ",\"device\":");
	put_str(&b, c->id.device);
	tf_buf_puts(&b, ",\"server\":");
	put_str(&b, c->id.server);
	tf_buf_printf(&b, ",\"wiped_at\":%" PRId64 "}\n", wall < 0 ? 0 : wall);
	rc = b.failed ? tf_err_set(err, b.failed, "wipe", "no memory")
		      : write_file(c->wipe_path, b.data, b.len, err);
	tf_buf_free(&b);
	drop_replica(c);
	drop_token(c);
	/* The erase goes ahead even when the receipt file failed. */
	{
		int wrc = tf_store_wipe(&c->store, err);

		if (wrc)
			rc = wrc;
	}
	c->store = NULL;
	c->wiped = 1;
	c->logged_in = 0;
	c->has_session = 0;
	c->has_grant = 0;
	tf_cleanse(&c->grant, sizeof c->grant);
	memset(&c->guard, 0, sizeof c->guard);
	memset(&c->unlock, 0, sizeof c->unlock);
	c->guard_saved_hw = 0;
	c->user[0] = c->unit[0] = '\0';
	c->session_expires_at = 0;
	c->persist_full = 0;
	tfc_audit_forget(c);
	return rc;
}

int tfc_wipe_pending(tf_client *c, char agency[TF_ID_MAX + 1],
		     char device[TF_ID_MAX + 1], char server[TFC_URL_MAX + 1],
		     int64_t *wiped_at, tf_err *err)
{
	if (!file_exists(c->wipe_path))
		return tf_err_set(err, TF_ENOTFOUND, "wipe",
				  "no wipe receipt is due");
	return read_wipe_file(c, agency, device, server, wiped_at, err);
}

int tfc_wipe_receipt_sent(tf_client *c, tf_err *err)
{
	if (unlink(c->wipe_path) != 0 && errno != ENOENT)
		return tf_err_set(err, TF_EIO, "wipe", "%s: %s", c->wipe_path,
				  strerror(errno));
	if (unlink(c->identity_path) != 0 && errno != ENOENT)
		return tf_err_set(err, TF_EIO, "identity", "%s: %s",
				  c->identity_path, strerror(errno));
	tf_sigkey_free(c->id.key);
	c->id.key = NULL;
	if (c->store == NULL) {
		c->enrolled = 0;
		memset(&c->id, 0, sizeof c->id);
		tf_http_free(c->http);
		c->http = NULL;
	}
	c->wiped = 0;
	return 0;
}

int tf_client_wipe(tf_client *c, tf_err *err)
{
	if (c == NULL)
		return tf_err_set(err, TF_EINVAL, "client", "no client");
	return tfc_wipe(c, "user_request", err);
}

/* ------------------------------------------------------------ session */

int tfc_session(tf_client *c, const char **token, const char **device,
		tf_err *err)
{
	if (!c->logged_in || c->store == NULL)
		return tf_err_set(err, TF_EAUTH, "session",
				  "not logged in: log in online");
	if (!is_unlocked(c))
		return tf_err_set(err, TF_ELOCKED, "session", "locked");
	if (!c->has_session)
		return tf_err_set(err, TF_EAUTH, "session",
				  "the session ended: log in online");
	*token = c->token;
	*device = c->id.device;
	return 0;
}

void tfc_session_drop(tf_client *c)
{
	drop_token(c);
	c->has_session = 0;
	if (c->store && tf_store_unlocked(c->store))
		(void)tf_store_del(c->store, TF_SK_SECRET, S_SESSION, NULL);
}

/* -------------------------------------------------------------- login */

static int all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
	}
	return n > 0;
}

/* PIN or passphrase rules (policy.h) for a new keyring. */
static int secret_check(tf_client *c, const tf_client_login_req *r,
			tf_err *err)
{
	const char *extra[4];

	if (all_digits(r->pin, r->pin_len))
		return tf_pin_check(r->pin, r->pin_len, err);
	extra[0] = r->user;
	extra[1] = c->id.agency;
	extra[2] = c->id.device;
	extra[3] = "tenfour";
	return tf_passphrase_check(r->pin, r->pin_len, extra, 4, err);
}

/* The login reply's pieces, kept until they are stored. */
typedef struct login_reply {
	tf_json *doc;
	const char *token, *claims, *key_id, *sig;
	size_t token_len, claims_len;
	int64_t expires_at;
	uint64_t device_seq; /* the device's last ledger seq, 0 none */
	tf_grant grant;
	char unit[TF_ID_MAX + 1];
} login_reply;

/* POST /v1/auth/login with the device proof; parses and verifies. */
static int login_online(tf_client *c, const tf_client_login_req *r,
			const tf_buf *keys, tf_buf *reply, login_reply *lr,
			tf_err *err)
{
	char sig[96];
	const tf_json *g, *u;
	int64_t ts = 0;
	tf_buf msg, body;
	int rc;

	tf_buf_init(&msg);
	tf_buf_init(&body);
	rc = tfc_now(c, &ts, NULL);
	if (rc) {
		tf_err_set(err, rc, "clock", "the wall clock is out of range");
		goto out;
	}
	tf_buf_printf(&msg, "tenfour-login\n%s\n%s\n%s\n%" PRId64,
		      c->id.agency, r->user, c->id.device, ts);
	if (msg.failed) {
		rc = tf_err_set(err, msg.failed, "proof", "no memory");
		goto out;
	}
	rc = tfc_sign(c, msg.data, msg.len, sig, err);
	if (rc)
		goto out;
	tf_buf_puts(&body, "{\"agency\":");
	put_str(&body, c->id.agency);
	tf_buf_printf(&body, ",\"banner_rev\":%" PRId64 ",\"device_id\":",
		      r->banner_rev);
	put_str(&body, c->id.device);
	tf_buf_puts(&body, ",\"password\":");
	put_str(&body, r->password);
	tf_buf_printf(&body, ",\"proof\":{\"sig\":\"%s\",\"ts\":%" PRId64 "}",
		      sig, ts);
	tf_buf_puts(&body, ",\"totp\":");
	put_str(&body, r->totp);
	tf_buf_puts(&body, ",\"user\":");
	put_str(&body, r->user);
	tf_buf_putc(&body, '}');
	if (body.failed) {
		rc = tf_err_set(err, body.failed, "login", "no memory");
		goto out;
	}
	rc = call(c, "POST", "/v1/auth/login", NULL, body.data, body.len,
		  reply, err);
	if (rc)
		goto out;
	if (reply->len > LOGIN_REPLY_MAX) {
		rc = tf_err_set(err, TF_ELIMIT, "login",
				"the login reply is over %zu bytes",
				LOGIN_REPLY_MAX);
		goto out;
	}
	rc = tf_json_parse(reply->data, reply->len, NULL, &lr->doc, err);
	if (rc)
		goto out;
	g = tf_json_object_get(lr->doc, "grant");
	u = tf_json_object_get(lr->doc, "user");
	lr->token = tf_json_get_str(lr->doc, "token", &lr->token_len);
	lr->claims = tf_json_get_str(g, "claims", &lr->claims_len);
	lr->key_id = tf_json_get_str(g, "key_id", NULL);
	lr->sig = tf_json_get_str(g, "sig", NULL);
	lr->unit[0] = '\0';
	if (tf_json_object_get(u, "unit") &&
	    tf_json_object_get(u, "unit")->type == TF_JSON_STRING &&
	    copy_str(u, "unit", lr->unit, sizeof lr->unit) != 0)
		lr->unit[0] = '\0';
	if (lr->token == NULL || lr->token_len == 0 ||
	    lr->token_len > TFC_TOKEN_MAX || lr->claims == NULL ||
	    lr->key_id == NULL || lr->sig == NULL ||
	    get_i64(lr->doc, "expires_at", &lr->expires_at) != 0) {
		rc = tf_err_set(err, TF_EPROTO, "login",
				"the login reply lacks token, expires_at or "
				"grant");
		goto out;
	}
	/* device_seq: absent from an older server (then 0). */
	if (tf_json_object_get(lr->doc, "device_seq") != NULL) {
		int64_t ds = 0;

		if (get_i64(lr->doc, "device_seq", &ds) != 0 || ds < 0 ||
		    ds >= INT64_MAX) {
			rc = tf_err_set(err, TF_EPROTO, "login.device_seq",
					"the login reply's device_seq is not "
					"a seq");
			goto out;
		}
		lr->device_seq = (uint64_t)ds;
	}
	rc = tfc_grant_verify(keys->data, keys->len, lr->claims,
			      lr->claims_len, lr->key_id, lr->sig, &lr->grant,
			      err);
	if (rc == 0)
		rc = tf_grant_matches(&lr->grant, r->user, c->id.device, err);
	if (rc == 0 && strcmp(lr->grant.agency, c->id.agency) != 0)
		rc = tf_err_set(err, TF_EPERM, "grant.agency",
				"the grant is for agency %s, not %s",
				lr->grant.agency, c->id.agency);
out:
	tf_cleanse(msg.data, msg.cap);
	if (body.data)
		tf_cleanse(body.data, body.cap);
	tf_buf_free(&msg);
	tf_buf_free(&body);
	return rc;
}

/* Stores grant, keys, login, guard, unlock and the token in one
   transaction. */
static int login_store(tf_client *c, const tf_buf *keys,
		       const login_reply *lr, const tf_timeguard *guard,
		       tf_err *err)
{
	tf_unlock_state zero;
	tf_buf b;
	size_t i;
	int rc;

	memset(&zero, 0, sizeof zero);
	tf_buf_init(&b);
	rc = tf_store_begin(c->store, err);
	if (rc)
		goto out;
	rc = tf_store_meta_put(c->store, M_KEYS, keys->data, keys->len, err);
	if (rc)
		goto fail;
	tf_buf_puts(&b, "{\"claims\":");
	tf_json_write_string(&b, lr->claims, lr->claims_len);
	tf_buf_puts(&b, ",\"key_id\":");
	put_str(&b, lr->key_id);
	tf_buf_puts(&b, ",\"sig\":");
	put_str(&b, lr->sig);
	tf_buf_putc(&b, '}');
	rc = meta_put_buf(c, M_GRANT, &b, err);
	if (rc)
		goto fail;
	tf_buf_reset(&b);
	tf_buf_printf(&b,
		      "{\"device_seq\":%" PRIu64 ",\"expires_at\":%" PRId64
		      ",\"roles\":[",
		      lr->device_seq, lr->expires_at);
	for (i = 0; i < lr->grant.nroles; i++) {
		if (i)
			tf_buf_putc(&b, ',');
		put_str(&b, lr->grant.roles[i]);
	}
	tf_buf_puts(&b, "],\"unit\":");
	put_str(&b, lr->unit);
	tf_buf_puts(&b, ",\"user\":");
	put_str(&b, lr->grant.user);
	tf_buf_putc(&b, '}');
	rc = meta_put_buf(c, M_LOGIN, &b, err);
	if (rc)
		goto fail;
	{
		tf_timeguard keep = c->guard;

		c->guard = *guard;
		rc = save_guard(c, err);
		if (rc) {
			c->guard = keep;
			goto fail;
		}
	}
	rc = save_unlock(c, &zero, err);
	if (rc == 0)
		rc = tf_store_put(c->store, TF_SK_SECRET, S_SESSION, lr->token,
				  lr->token_len, 0, err);
	if (rc == 0)
		rc = tf_store_commit(c->store, err);
	if (rc == 0) {
		c->device_seq = lr->device_seq;
		goto out;
	}
fail:
	tf_store_rollback(c->store);
out:
	tf_buf_free(&b);
	return rc;
}

/*
 * A chain with no entry yet continues the server's head for this device
 * (POST /v1/audit/device with no entries answers it), so the uploads of
 * a re-made store are accepted.  Unreachable or refused: the genesis.
 */
static void audit_base_from_server(tf_client *c)
{
	const tf_json *head;
	tf_json *doc = NULL;
	uint64_t seq = 0;
	const char *hash;
	tf_buf body, reply;

	if (c->audit_seq != 0 || c->audit_base_seq != 0)
		return;
	tf_buf_init(&body);
	tf_buf_init(&reply);
	tf_buf_puts(&body, "{\"device_id\":");
	put_str(&body, c->id.device);
	tf_buf_puts(&body, ",\"entries\":[]}");
	if (!body.failed &&
	    call(c, "POST", "/v1/audit/device", c->token, body.data, body.len,
		 &reply, NULL) == 0 &&
	    tf_json_parse(reply.data, reply.len, NULL, &doc, NULL) == 0) {
		head = tf_json_object_get(doc, "head");
		hash = tf_json_get_str(head, "hash", NULL);
		if (hash && tf_json_uint64(tf_json_object_get(head, "seq"),
					   &seq) == 0)
			(void)tfc_audit_rebase(c, seq, hash, NULL);
	}
	tf_json_free(doc);
	tf_buf_free(&body);
	tf_buf_free(&reply);
}

static int check_login_req(const tf_client_login_req *r, tf_err *err)
{
	if (r == NULL || r->user == NULL || r->user[0] == '\0' ||
	    strlen(r->user) > 1024)
		return tf_err_set(err, TF_EINVAL, "user",
				  "a user name of 1..1024 bytes is needed");
	if (r->password == NULL || strlen(r->password) > 1024)
		return tf_err_set(err, TF_EINVAL, "password",
				  "a password of at most 1024 bytes is "
				  "needed");
	if (r->totp == NULL || strlen(r->totp) != TF_TOTP_DIGITS ||
	    !all_digits(r->totp, TF_TOTP_DIGITS))
		return tf_err_set(err, TF_EINVAL, "totp",
				  "the one-time code must be %d digits",
				  TF_TOTP_DIGITS);
	if (r->pin == NULL || r->pin_len == 0 || r->pin_len > SECRET_MAX)
		return tf_err_set(err, TF_EINVAL, "pin",
				  "a PIN or passphrase of 1..%zu bytes is "
				  "needed",
				  SECRET_MAX);
	return 0;
}

int tf_client_login(tf_client *c, const tf_client_login_req *r, tf_err *err)
{
	tf_timeguard guard;
	login_reply lr;
	tf_buf keys, reply;
	int64_t wall = 0, mono = 0;
	int rc, first, rebased;

	if (c == NULL)
		return tf_err_set(err, TF_EINVAL, "client", "no client");
	rc = check_login_req(r, err);
	if (rc)
		return rc;
	if (!c->enrolled)
		return tf_err_set(err, TF_EAUTH, "identity",
				  "not enrolled: run enroll first");
	memset(&lr, 0, sizeof lr);
	tf_buf_init(&keys);
	tf_buf_init(&reply);
	if (c->store == NULL) {
		/* a wiped home: a new store (and device key) for the same
		   identity */
		rc = open_store(c, 1, err);
		if (rc)
			goto out;
		{
			tf_buf b;

			tf_buf_init(&b);
			tf_buf_puts(&b, "{\"agency\":");
			put_str(&b, c->id.agency);
			tf_buf_puts(&b, ",\"device\":");
			put_str(&b, c->id.device);
			tf_buf_puts(&b, ",\"server\":");
			put_str(&b, c->id.server);
			tf_buf_putc(&b, '}');
			rc = meta_put_buf(c, M_IDENTITY, &b, err);
			tf_buf_free(&b);
		}
		if (rc)
			goto out;
	}
	if ((c->logged_in || c->has_grant) && tf_store_has_keys(c->store) &&
	    strcmp(c->has_grant ? c->grant.user : c->user, r->user) != 0) {
		rc = tf_err_set(err, TF_EPERM, "user",
				"this store belongs to another user: wipe it "
				"or use another home");
		goto out;
	}
	if (is_unlocked(c))
		lock_now(c, "login");
	first = !tf_store_has_keys(c->store);
	/* Nothing is made and nothing is sent for a PIN the rules refuse;
	   an existing keyring must open (a wrong PIN counts). */
	rc = first ? secret_check(c, r, err)
		   : pin_attempt(c, r->pin, r->pin_len, err);
	if (rc)
		goto out;
	rc = call(c, "GET", "/v1/keys", NULL, NULL, 0, &keys, err);
	if (rc == 0 && keys.len > TFC_KEYS_MAX)
		rc = tf_err_set(err, TF_ELIMIT, "keys",
				"the key list is over %d bytes", TFC_KEYS_MAX);
	if (rc == 0)
		rc = login_online(c, r, &keys, &reply, &lr, err);
	if (rc == TF_EREVOKED) {
		(void)tfc_wipe(c, "device_revoked", NULL);
		goto out;
	}
	if (rc)
		goto relock;
	rc = tfc_now(c, &wall, &mono);
	guard = c->guard;
	if (rc == 0)
		rc = tf_timeguard_accept(&guard, &lr.grant, lr.grant.issued_at,
					 wall, mono, err);
	if (rc)
		goto relock;
	rebased = c->guard.high_water_ms > guard.high_water_ms;
	if (first) {
		rc = tf_store_create_keys(c->store, r->pin, r->pin_len, err);
		if (rc)
			goto relock;
	}
	rc = login_store(c, &keys, &lr, &guard, err);
	if (rc)
		goto relock;
	c->grant = lr.grant;
	c->has_grant = 1;
	c->logged_in = 1;
	c->session_expires_at = lr.expires_at;
	snprintf(c->user, sizeof c->user, "%s", lr.grant.user);
	snprintf(c->unit, sizeof c->unit, "%s", lr.unit);
	rc = after_unlock(c, err);
	if (rc)
		goto out;
	c->last_activity = mono;
	if (c->wiped) {
		/* The server let this device in: it is not revoked, so no
		   receipt is due; the identity stays. */
		(void)unlink(c->wipe_path);
		c->wiped = 0;
	}
	audit_base_from_server(c);
	if (rebased)
		(void)tfc_audit(c, TF_AUDIT_CLOCK_REBASE, 1, "mdt/login", NULL,
				NULL, NULL, NULL, NULL);
	rc = tfc_audit(c, TF_AUDIT_LOGON_OK, 1, "mdt/login", NULL, NULL, NULL,
		       NULL, err);
	if (rc)
		lock_now(c, "audit_failure");
	goto out;
relock:
	if (c->store) {
		drop_replica(c);
		drop_token(c);
		tf_store_lock(c->store);
	}
out:
	if (reply.data)
		tf_cleanse(reply.data, reply.cap);
	if (lr.doc) {
		/* the parsed token: cleansed before the tree is freed */
		tf_json *t = tf_json_object_get(lr.doc, "token");

		if (t && t->type == TF_JSON_STRING)
			tf_cleanse(t->u.str, t->len);
	}
	tf_json_free(lr.doc);
	tf_buf_free(&reply);
	tf_buf_free(&keys);
	return rc;
}

/* ------------------------------------------------------------- logout */

int tf_client_logout(tf_client *c, tf_err *err)
{
	tf_buf reply;
	int rc = 0;

	if (c == NULL)
		return tf_err_set(err, TF_EINVAL, "client", "no client");
	if (c->store == NULL || !c->logged_in)
		return 0;
	tf_buf_init(&reply);
	if (is_unlocked(c) && c->has_session) {
		/* The server's end is best effort: unreachable or refused,
		   the local session ends anyway. */
		(void)call(c, "POST", "/v1/auth/logout", c->token, NULL, 0,
			   &reply, NULL);
		(void)tfc_audit(c, TF_AUDIT_LOGOFF, 1, "mdt/logout", NULL,
				NULL, NULL, NULL, NULL);
	}
	tf_buf_free(&reply);
	if (tf_store_unlocked(c->store))
		tfc_session_drop(c);
	lock_now(c, "logout");
	rc = tf_store_meta_del(c->store, M_LOGIN, err);
	if (rc == TF_ENOTFOUND)
		rc = 0;
	if (rc == 0) {
		c->logged_in = 0;
		c->has_session = 0;
	}
	return rc;
}

/* ---------------------------------------------------------- data calls */

/* The gate of a user's data call: unlocked, then counts as activity. */
static int gate(tf_client *c, tf_err *err)
{
	int rc = tfc_require_unlocked(c, err);

	if (rc == 0)
		tfc_activity(c);
	return rc;
}

static int out_append_json(tf_buf *out, const tf_json *v, tf_err *err)
{
	size_t mark = out->len;

	if (tf_json_write(v, out) != 0 || out->failed) {
		out->len = mark;
		return tf_err_set(err, TF_ENOMEM, "out", "no memory");
	}
	return 0;
}

/*
 * The view of a record with "stale" (ref fields past their ttl) and,
 * with refs set, "refs":{field:{fetched_at, stale, ttl}}.
 */
static int view_with_refs(tf_client *c, const char *record_id, int refs,
			  tf_buf *out, const char **entity_out, tf_err *err)
{
	const tf_json *rec;
	const tf_entity *e;
	tf_json *view = NULL, *stale = NULL, *rmap = NULL;
	int64_t now = 0;
	size_t i;
	tf_buf b;
	int rc, has_ref = 0;

	tf_buf_init(&b);
	rec = tf_replica_get(c->replica, record_id);
	if (rec == NULL) {
		rc = tf_err_set(err, TF_ENOTFOUND, "record_id",
				"no record %.40s on this device", record_id);
		goto out;
	}
	*entity_out = tf_record_entity(rec);
	rc = tf_replica_view_json(c->replica, record_id, &b);
	if (rc == 0)
		rc = tf_json_parse(b.data, b.len, NULL, &view, err);
	if (rc)
		goto out;
	e = tf_schema_entity(c->schema, *entity_out);
	(void)tfc_now(c, &now, NULL);
	stale = tf_json_array();
	rmap = tf_json_object();
	if (stale == NULL || rmap == NULL) {
		rc = tf_err_set(err, TF_ENOMEM, "view", "no memory");
		goto out;
	}
	for (i = 0; e && i < e->nfields; i++) {
		const tf_field *f = &e->fields[i];
		const tf_json *st;
		tf_json *one;
		int s;

		if (f->cls != TF_CLASS_REF)
			continue;
		has_ref = 1;
		st = tf_record_field(rec, f->name);
		if (st == NULL)
			continue;
		s = tf_record_ref_stale(rec, f->name, now);
		if (s && tf_json_array_push(stale, tf_json_cstring(f->name))) {
			rc = tf_err_set(err, TF_ENOMEM, "view", "no memory");
			goto out;
		}
		one = tf_json_object();
		if (one == NULL ||
		    tf_json_object_set(one, "stale", tf_json_bool(s)) ||
		    tf_json_object_set(
			    one, "fetched_at",
			    tf_json_clone(tf_json_object_get(st,
							     "fetched_at"))) ||
		    tf_json_object_set(
			    one, "ttl",
			    tf_json_clone(tf_json_object_get(st, "ttl"))) ||
		    tf_json_object_set(rmap, f->name, one)) {
			rc = tf_err_set(err, TF_ENOMEM, "view", "no memory");
			goto out;
		}
	}
	if (has_ref) {
		if (tf_json_object_set(view, "stale", stale)) {
			rc = tf_err_set(err, TF_ENOMEM, "view", "no memory");
			goto out;
		}
		stale = NULL;
		if (refs) {
			if (tf_json_object_set(view, "refs", rmap)) {
				rc = tf_err_set(err, TF_ENOMEM, "view",
						"no memory");
				goto out;
			}
			rmap = NULL;
		}
	}
	rc = out_append_json(out, view, err);
out:
	tf_json_free(stale);
	tf_json_free(rmap);
	tf_json_free(view);
	if (b.data)
		tf_cleanse(b.data, b.cap);
	tf_buf_free(&b);
	return rc;
}

static int get_or_lookup(tf_client *c, const char *record_id, int refs,
			 tf_buf *out, tf_err *err)
{
	const char *entity = NULL;
	size_t mark;
	int rc;

	if (c == NULL || record_id == NULL || out == NULL)
		return tf_err_set(err, TF_EINVAL, "record_id",
				  "no record id");
	rc = gate(c, err);
	if (rc)
		return rc;
	mark = out->len;
	rc = view_with_refs(c, record_id, refs, out, &entity, err);
	if (rc == 0)
		rc = tfc_audit(c, TF_AUDIT_ACCESS, 1,
			       refs ? "mdt/lookup" : "mdt/get", entity,
			       record_id, NULL, NULL, err);
	if (rc == 0) {
		int64_t now = 0;

		/* the access time the eviction's LRU reads (clear metadata);
		   best effort: a record only queued has no row yet */
		(void)tfc_now(c, &now, NULL);
		(void)tf_store_touch(c->store, TF_SK_RECORD, record_id, now,
				     NULL);
	}
	if (rc) {
		/* not audited: not handed out */
		if (out->data && out->len > mark)
			tf_cleanse(out->data + mark, out->len - mark);
		out->len = mark;
	}
	return rc;
}

int tf_client_get(tf_client *c, const char *record_id, tf_buf *out,
		  tf_err *err)
{
	return get_or_lookup(c, record_id, 0, out, err);
}

int tf_client_lookup(tf_client *c, const char *record_id, tf_buf *out,
		     tf_err *err)
{
	return get_or_lookup(c, record_id, 1, out, err);
}

/* Every record id of the view (entity NULL: all), parsed. */
static int list_ids(tf_client *c, const char *entity, tf_json **ids,
		    tf_err *err)
{
	tf_buf b;
	int rc;

	*ids = NULL;
	tf_buf_init(&b);
	rc = tf_replica_list_json(c->replica, entity, &b);
	if (rc) {
		tf_err_set(err, rc, "list", "cannot list records");
	} else {
		rc = tf_json_parse(b.data, b.len, NULL, ids, err);
		if (rc == 0 &&
		    (*ids == NULL || (*ids)->type != TF_JSON_ARRAY)) {
			tf_json_free(*ids);
			*ids = NULL;
			rc = TF_EPROTO;
			tf_err_set(err, rc, "list", "not an array");
		}
	}
	tf_buf_free(&b);
	return rc;
}

int tf_client_list(tf_client *c, const char *entity, tf_buf *out,
		   tf_err *err)
{
	tf_json *ids = NULL;
	size_t i, mark;
	int rc;

	if (c == NULL || out == NULL)
		return tf_err_set(err, TF_EINVAL, "client", "no client");
	rc = gate(c, err);
	if (rc)
		return rc;
	if (entity && tf_schema_entity(c->schema, entity) == NULL)
		return tf_err_set(err, TF_ENOTFOUND, "entity",
				  "no entity %.32s in the schema", entity);
	rc = list_ids(c, entity, &ids, err);
	if (rc)
		return rc;
	mark = out->len;
	tf_buf_putc(out, '[');
	for (i = 0; i < ids->len; i++) {
		const char *id = tf_json_str(ids->u.items[i], NULL);
		const tf_json *rec = id ? tf_replica_get(c->replica, id) : NULL;

		if (rec == NULL)
			continue;
		if (out->len > mark + 1)
			tf_buf_putc(out, ',');
		tf_buf_puts(out, "{\"entity\":");
		put_str(out, tf_record_entity(rec));
		tf_buf_puts(out, ",\"id\":");
		put_str(out, id);
		tf_buf_puts(out, ",\"sync\":");
		put_str(out,
			tf_sync_state_name(tf_replica_state(c->replica, id)));
		tf_buf_putc(out, '}');
	}
	tf_buf_putc(out, ']');
	tf_json_free(ids);
	if (out->failed) {
		out->len = mark;
		return tf_err_set(err, TF_ENOMEM, "list", "no memory");
	}
	return 0;
}

/*
 * Queues one mutation, persists it; on a failed save the replica goes
 * back to what the store holds (the mutation is not kept).
 */
static int do_mutate(tf_client *c, const char *entity, const char *record_id,
		     tf_op op, const tf_json *args, int online,
		     char cmd_id[TF_UUID_LEN + 1],
		     char rid[TF_UUID_LEN + 1], tf_err *err)
{
	uint8_t rnd[20];
	int64_t now = 0;
	int rc;

	rc = tfc_now(c, &now, NULL);
	if (rc)
		return tf_err_set(err, rc, "clock", "wall clock out of range");
	rc = tf_random_bytes(rnd, sizeof rnd);
	if (rc)
		return tf_err_set(err, rc, "random", "no random bytes");
	rc = tf_replica_mutate(c->replica, now, rnd, online, entity, record_id,
			       op, args, cmd_id, rid, err);
	if (rc)
		return rc;
	rc = tfc_persist(c, err);
	if (rc) {
		tf_err keep = err ? *err : (tf_err){0};

		if (load_replica(c, NULL) != 0)
			lock_now(c, "store_failure");
		if (err)
			*err = keep;
	}
	return rc;
}

int tf_client_mutate(tf_client *c, const char *entity, const char *record_id,
		     const char *op, const char *args_json, int online,
		     char cmd_id[TF_UUID_LEN + 1],
		     char record_id_out[TF_UUID_LEN + 1], tf_err *err)
{
	char cid[TF_UUID_LEN + 1], rid[TF_UUID_LEN + 1], detail[64];
	const tf_json *fld;
	tf_json *args = NULL;
	tf_audit_event ev;
	tf_json *dj = NULL;
	tf_op o;
	int rc;

	if (c == NULL || entity == NULL || op == NULL || args_json == NULL)
		return tf_err_set(err, TF_EINVAL, "mutate",
				  "entity, op and args are needed");
	if (tf_op_parse(op, &o) != 0)
		return tf_err_set(err, TF_EINVAL, "op", "unknown op %.32s", op);
	if (strlen(args_json) > ARGS_MAX)
		return tf_err_set(err, TF_ELIMIT, "args",
				  "args over %zu bytes", ARGS_MAX);
	rc = gate(c, err);
	if (rc)
		return rc;
	rc = tf_json_parse(args_json, strlen(args_json), NULL, &args, err);
	if (rc)
		return rc;
	rc = do_mutate(c, entity, record_id, o, args, online, cid, rid, err);
	if (rc)
		goto out;
	if (cmd_id)
		memcpy(cmd_id, cid, sizeof cid);
	if (record_id_out)
		memcpy(record_id_out, rid, sizeof rid);
	snprintf(detail, sizeof detail, "{\"op\":\"%s\"}", tf_op_name(o));
	rc = tf_json_parse(detail, strlen(detail), NULL, &dj, err);
	if (rc)
		goto out;
	memset(&ev, 0, sizeof ev);
	ev.type = o == TF_OP_CREATE ? TF_AUDIT_CREATE : TF_AUDIT_MODIFY;
	ev.success = 1;
	ev.where = "mdt/mutate";
	ev.entity = entity;
	ev.record_id = rid;
	ev.cmd_id = cid;
	fld = tf_json_object_get(args, "field");
	ev.field = fld ? tf_json_str(fld, NULL) : NULL;
	ev.detail = dj;
	/* the command is queued: a failed audit is reported, not undone */
	rc = tfc_audit_ev(c, &ev, err);
out:
	tf_json_free(dj);
	tf_json_free(args);
	return rc;
}

int tf_client_notices(tf_client *c, tf_buf *out, tf_err *err)
{
	int rc;

	if (c == NULL || out == NULL)
		return tf_err_set(err, TF_EINVAL, "client", "no client");
	rc = gate(c, err);
	if (rc)
		return rc;
	rc = tf_replica_notices_json(c->replica, out);
	return rc ? tf_err_set(err, rc, "notices", "cannot list notices") : 0;
}

int tf_client_ack(tf_client *c, const char *notice_id, tf_err *err)
{
	const tf_json *n = NULL;
	tf_json *all = NULL;
	tf_audit_event ev;
	tf_buf b;
	size_t i;
	int rc;

	if (c == NULL || notice_id == NULL)
		return tf_err_set(err, TF_EINVAL, "notice_id", "no notice id");
	rc = gate(c, err);
	if (rc)
		return rc;
	tf_buf_init(&b);
	rc = tf_replica_notices_json(c->replica, &b);
	if (rc == 0)
		rc = tf_json_parse(b.data, b.len, NULL, &all, err);
	if (rc)
		goto out;
	for (i = 0; all->type == TF_JSON_ARRAY && i < all->len; i++) {
		const char *id = tf_json_get_str(all->u.items[i], "id", NULL);

		if (id && strcmp(id, notice_id) == 0) {
			n = all->u.items[i];
			break;
		}
	}
	if (n == NULL) {
		rc = tf_err_set(err, TF_ENOTFOUND, "notice_id",
				"no open notice %.80s", notice_id);
		goto out;
	}
	/* n lives in `all`, a copy: the ack below does not move it */
	rc = tf_replica_ack_notice(c->replica, notice_id);
	if (rc) {
		tf_err_set(err, rc, "notice_id", "cannot acknowledge %.80s",
			   notice_id);
		goto out;
	}
	rc = tfc_persist(c, err);
	if (rc)
		goto out;
	memset(&ev, 0, sizeof ev);
	{
		const char *kind = tf_json_get_str(n, "kind", NULL);

		ev.type = kind && strcmp(kind, "rejected") == 0
				  ? TF_AUDIT_REJECT_ACK
				  : TF_AUDIT_SUPERSEDE_ACK;
	}
	ev.success = 1;
	ev.where = "mdt/ack";
	ev.entity = tf_json_get_str(n, "entity", NULL);
	ev.record_id = tf_json_get_str(n, "record_id", NULL);
	ev.cmd_id = tf_json_get_str(n, "cmd_id", NULL);
	ev.field = tf_json_get_str(n, "field", NULL);
	rc = tfc_audit_ev(c, &ev, err);
out:
	tf_json_free(all);
	tf_buf_free(&b);
	return rc;
}

/* ---------------------------------------------------------- conflicts */

int tf_client_conflicts(tf_client *c, tf_buf *out, tf_err *err)
{
	tf_json *ids = NULL;
	size_t i, j, k, mark, n = 0;
	int rc;

	if (c == NULL || out == NULL)
		return tf_err_set(err, TF_EINVAL, "client", "no client");
	rc = gate(c, err);
	if (rc)
		return rc;
	rc = list_ids(c, NULL, &ids, err);
	if (rc)
		return rc;
	mark = out->len;
	tf_buf_putc(out, '[');
	for (i = 0; i < ids->len; i++) {
		const char *id = tf_json_str(ids->u.items[i], NULL);
		const tf_json *rec, *f;

		if (id == NULL ||
		    tf_replica_state(c->replica, id) != TF_SYNC_CONFLICT)
			continue;
		rec = tf_replica_get(c->replica, id);
		f = tf_json_object_get(rec, "f");
		for (j = 0; f && f->type == TF_JSON_OBJECT && j < f->len; j++) {
			const tf_json *cs = tf_json_object_get(
				f->u.members[j].value, "conflicts");

			for (k = 0; cs && cs->type == TF_JSON_ARRAY &&
				    k < cs->len;
			     k++) {
				if (n++)
					tf_buf_putc(out, ',');
				tf_buf_puts(out, "{\"conflict\":");
				tf_json_write(cs->u.items[k], out);
				tf_buf_puts(out, ",\"entity\":");
				put_str(out, tf_record_entity(rec));
				tf_buf_puts(out, ",\"field\":");
				put_str(out, f->u.members[j].key);
				tf_buf_puts(out, ",\"record_id\":");
				put_str(out, id);
				tf_buf_putc(out, '}');
			}
		}
	}
	tf_buf_putc(out, ']');
	tf_json_free(ids);
	if (out->failed) {
		out->len = mark;
		return tf_err_set(err, TF_ENOMEM, "conflicts", "no memory");
	}
	return 0;
}

/* {"by","bytes","from","sha256"} of a discarded text, for the audit. */
static void discarded(tf_buf *d, const char *from, const char *by,
		      const char *text, size_t len)
{
	static const char dig[] = "0123456789abcdef";
	uint8_t h[TF_SHA256_LEN];
	char hex[2 * TF_SHA256_LEN + 1];
	size_t i;

	if (tf_sha256(text, len, h) != 0)
		memset(h, 0, sizeof h);
	for (i = 0; i < TF_SHA256_LEN; i++) {
		hex[2 * i] = dig[h[i] >> 4];
		hex[2 * i + 1] = dig[h[i] & 15];
	}
	hex[sizeof hex - 1] = '\0';
	if (d->len > 1)
		tf_buf_putc(d, ',');
	tf_buf_puts(d, "{\"by\":");
	put_str(d, by ? by : "");
	tf_buf_printf(d, ",\"bytes\":%zu,\"from\":\"%s\",\"sha256\":\"%s\"}",
		      len, from, hex);
}

int tf_client_resolve(tf_client *c, const char *record_id, const char *field,
		      const char *choice, const char *text, tf_err *err)
{
	char cid[TF_UUID_LEN + 1], rid[TF_UUID_LEN + 1];
	const tf_json *rec, *fs, *cs, *cf;
	const char *kept, *wire, *head, *prop, *conflict_id;
	size_t kept_len = 0, head_len = 0, prop_len = 0;
	char entity[TF_NAME_MAX + 1];
	tf_json *args = NULL, *dj = NULL;
	tf_audit_event ev;
	int64_t head_rev = 0;
	tf_buf a, d;
	int rc;

	if (c == NULL || record_id == NULL || field == NULL || choice == NULL)
		return tf_err_set(err, TF_EINVAL, "resolve",
				  "record_id, field and choice are needed");
	rc = gate(c, err);
	if (rc)
		return rc;
	tf_buf_init(&a);
	tf_buf_init(&d);
	rec = tf_replica_get(c->replica, record_id);
	fs = tf_record_field(rec, field);
	cs = tf_json_object_get(fs, "conflicts");
	cf = cs && cs->type == TF_JSON_ARRAY && cs->len > 0 ? cs->u.items[0]
							    : NULL;
	if (cf == NULL) {
		rc = tf_err_set(err, TF_ENOTFOUND, field,
				"no open conflict on %.32s of %.40s", field,
				record_id);
		goto out;
	}
	snprintf(entity, sizeof entity, "%s", tf_record_entity(rec));
	conflict_id = tf_json_get_str(cf, "id", NULL);
	head = tf_json_get_str(cf, "head", &head_len);
	prop = tf_json_get_str(cf, "proposed", &prop_len);
	if (conflict_id == NULL || head == NULL || prop == NULL ||
	    get_i64(fs, "rev", &head_rev) != 0) {
		rc = tf_err_set(err, TF_EPROTO, field,
				"the conflict on %.32s is malformed", field);
		goto out;
	}
	wire = choice;
	if (strcmp(choice, "mine") == 0) {
		kept = prop;
		kept_len = prop_len;
	} else if (strcmp(choice, "theirs") == 0) {
		kept = head;
		kept_len = head_len;
	} else if (strcmp(choice, "merged") == 0) {
		kept = tf_json_get_str(cf, "merged", &kept_len);
		if (kept == NULL) {
			rc = tf_err_set(err, TF_ENOTFOUND, "choice",
					"the conflict on %.32s has no clean "
					"merge: choose mine, theirs or edited",
					field);
			goto out;
		}
	} else if (strcmp(choice, "edited") == 0 ||
		   strcmp(choice, "custom") == 0) {
		wire = "custom";
		kept = text;
		kept_len = text ? strlen(text) : 0;
		if (kept == NULL) {
			rc = tf_err_set(err, TF_EINVAL, "text",
					"an edited resolution needs its text");
			goto out;
		}
	} else {
		rc = tf_err_set(err, TF_EINVAL, "choice",
				"choice must be mine, theirs, merged or "
				"edited");
		goto out;
	}
	tf_buf_puts(&a, "{\"choice\":");
	put_str(&a, wire);
	tf_buf_puts(&a, ",\"conflict\":");
	put_str(&a, conflict_id);
	tf_buf_puts(&a, ",\"field\":");
	put_str(&a, field);
	tf_buf_printf(&a, ",\"head_rev\":%" PRId64 ",\"text\":", head_rev);
	tf_json_write_string(&a, kept, kept_len);
	tf_buf_putc(&a, '}');
	tf_buf_putc(&d, '[');
	if (kept_len != head_len || memcmp(kept, head, head_len) != 0)
		discarded(&d, "head", tf_json_get_str(cf, "head_by", NULL),
			  head, head_len);
	if (kept_len != prop_len || memcmp(kept, prop, prop_len) != 0)
		discarded(&d, "proposed", tf_json_get_str(cf, "by", NULL),
			  prop, prop_len);
	tf_buf_putc(&d, ']');
	if (a.failed || d.failed) {
		rc = tf_err_set(err, TF_ENOMEM, "resolve", "no memory");
		goto out;
	}
	{
		/* the discarded list before the mutation moves `cf` */
		tf_buf det;

		tf_buf_init(&det);
		tf_buf_puts(&det, "{\"choice\":");
		put_str(&det, wire);
		tf_buf_puts(&det, ",\"conflict\":");
		put_str(&det, conflict_id);
		tf_buf_puts(&det, ",\"discarded\":");
		tf_buf_append(&det, d.data, d.len);
		tf_buf_putc(&det, '}');
		rc = det.failed ? TF_ENOMEM
				: tf_json_parse(det.data, det.len, NULL, &dj,
						err);
		tf_buf_free(&det);
		if (rc)
			goto out;
	}
	rc = tf_json_parse(a.data, a.len, NULL, &args, err);
	if (rc)
		goto out;
	rc = do_mutate(c, entity, record_id, TF_OP_RESOLVE, args, 1, cid, rid,
		       err);
	if (rc)
		goto out;
	memset(&ev, 0, sizeof ev);
	ev.type = TF_AUDIT_CONFLICT_RESOLUTION;
	ev.success = 1;
	ev.where = "mdt/resolve";
	ev.entity = entity;
	ev.record_id = record_id;
	ev.cmd_id = cid;
	ev.field = field;
	ev.detail = dj;
	rc = tfc_audit_ev(c, &ev, err);
out:
	tf_json_free(args);
	tf_json_free(dj);
	if (a.data)
		tf_cleanse(a.data, a.cap);
	tf_buf_free(&a);
	tf_buf_free(&d);
	return rc;
}

/* ------------------------------------------------------------- status */

int tf_client_status_get(tf_client *c, tf_client_status *st)
{
	int64_t wall = 0, mono = 0, left = 0;

	memset(st, 0, sizeof *st);
	if (c == NULL)
		return TF_EINVAL;
	/* a status look may find the idle limit passed: that locks */
	if (is_unlocked(c))
		(void)tfc_require_unlocked(c, NULL);
	(void)tfc_now(c, &wall, &mono);
	st->enrolled = c->enrolled;
	st->logged_in = c->logged_in;
	st->unlocked = is_unlocked(c);
	st->online = c->online;
	st->last_contact_ms = c->last_contact_ms;
	st->grant_not_after = c->has_grant ? c->grant.not_after : 0;
	if (c->has_grant) {
		st->unlock_attempts_left =
			c->grant.wipe_after > c->unlock.failures
				? c->grant.wipe_after - c->unlock.failures
				: 0;
	}
	if (st->unlocked) {
		(void)tf_idle_should_lock(&c->grant, 0, c->opts.exempt,
					  c->last_activity, mono, &left);
		st->lock_in_ms = left;
		tf_replica_summary_get(c->replica, wall, &st->sum);
	}
	return 0;
}

int tf_client_status_json(tf_client *c, tf_buf *out, tf_err *err)
{
	tf_client_status st;
	int64_t wall = 0;
	size_t mark;

	if (c == NULL || out == NULL)
		return tf_err_set(err, TF_EINVAL, "client", "no client");
	tf_client_status_get(c, &st);
	(void)tfc_now(c, &wall, NULL);
	mark = out->len;
	tf_buf_puts(out, "{\"agency\":");
	put_str(out, c->id.agency);
	tf_buf_puts(out, ",\"device\":");
	put_str(out, c->id.device);
	tf_buf_printf(out,
		      ",\"enrolled\":%s,\"grant_not_after\":%" PRId64
		      ",\"last_contact_ms\":%" PRId64
		      ",\"lock_in_ms\":%" PRId64
		      ",\"logged_in\":%s,\"online\":%s,\"summary\":",
		      st.enrolled ? "true" : "false", st.grant_not_after,
		      st.last_contact_ms, st.lock_in_ms,
		      st.logged_in ? "true" : "false",
		      st.online ? "true" : "false");
	if (st.unlocked)
		tf_replica_summary_json(c->replica, wall, out);
	else
		tf_buf_puts(out, "null");
	tf_buf_printf(out,
		      ",\"unlock_attempts_left\":%" PRIu32
		      ",\"unlocked\":%s,\"user\":",
		      st.unlock_attempts_left, st.unlocked ? "true" : "false");
	put_str(out, c->has_grant ? c->grant.user : c->user);
	tf_buf_printf(out, ",\"wipe_pending\":%s}",
		      c->wiped ? "true" : "false");
	if (out->failed) {
		out->len = mark;
		return tf_err_set(err, TF_ENOMEM, "status", "no memory");
	}
	return 0;
}

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
 *
 * Every credential failure gets one answer (TF_EAUTH, field
 * "credentials"), whatever was wrong, so that the answer tells an
 * attacker nothing about which factor failed or whether the account
 * exists; only the audit entry (for the agency's auditor) says why.
 *
 * Abuse bounds, all within this process: logins of one (agency, user)
 * are evaluated one at a time (login_lock: the AC-7 count must see every
 * earlier failure); at most 2 x CPUs password checks run at once and the
 * rest queue, up to a bound past which logins are refused with TF_EBUSY
 * (login_gate); and a peer address with too many failed logons in a
 * window is refused with TF_EBUSY before any PBKDF2 and without an audit
 * entry per attempt, one summary entry per window instead (src_limit).
 *
 * Audit chains are per agency (db.h): every entry names the agency whose
 * chain it belongs to in actor.agency; an event of no known agency goes
 * to the system chain.
 */
#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
			if (!((c >= '0' && c <= '9') ||
			      (c >= 'a' && c <= 'f'))) {
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
	n = snprintf(out, TF_DB_PWHASH_MAX + 1,
		     PWHASH_PREFIX "%" PRIu32 "$%s$%s", s->pbkdf2_iter, salt64,
		     key64);
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

/* ------------------------------------------------- request plumbing */

/* Bytes of the attempted user name kept in a logon_fail detail. */
#define ATTEMPT_NAME_MAX 64
/* Bytes of a password, a name or any other string in a small body. */
#define BODY_STRING_MAX TF_PASSPHRASE_MAX
/* Export: entries per call by default and at most. */
#define EXPORT_DEFAULT_LIMIT ((size_t)10000)
#define EXPORT_MAX_LIMIT ((size_t)100000)
/* Verify: server log entries per tf_audit_verify segment. */
#define VERIFY_SEGMENT ((size_t)16384)
/* Latest time accepted anywhere (2^48 ms, as the audit and grant). */
#define TIME_MAX_MS ((int64_t)1 << 48)

/* What every audit entry of one request shares. */
typedef struct req_ctx {
	tf_srv *s;
	int64_t now_ms;
	const char *agency; /* the chain (actor.agency); NULL: the system's */
	char source[TF_AUDIT_SOURCE_MAX + 1];
	char where[TF_AUDIT_WHERE_MAX + 1];
} req_ctx;

/*
 * The audit log refuses a source that is not 1..64 printable ASCII
 * without spaces; a peer address always is one, but the log must never
 * refuse a request's entry over it, so anything else is replaced.
 */
static void req_init(req_ctx *r, tf_srv *s, int64_t now_ms, const char *source,
		     const char *method, const char *path)
{
	const char *node =
		s->node != NULL && s->node[0] != '\0' ? s->node : "tenfourd";
	size_t i;

	r->s = s;
	r->now_ms = now_ms;
	r->agency = NULL;
	if (source == NULL || source[0] == '\0')
		source = "unknown";
	for (i = 0; i < TF_AUDIT_SOURCE_MAX && source[i] != '\0'; i++)
		r->source[i] =
			source[i] > ' ' && source[i] < 0x7f ? source[i] : '?';
	r->source[i] = '\0';
	if (method != NULL)
		snprintf(r->where, sizeof r->where, "%s %s %s", node, method,
			 path);
	else
		snprintf(r->where, sizeof r->where, "%s %s", node, path);
	for (i = 0; r->where[i] != '\0'; i++)
		if (r->where[i] < ' ' || r->where[i] >= 0x7f)
			r->where[i] = '?';
}

static void ev_init(tf_audit_event *ev, const req_ctx *r, tf_audit_type type,
		    int success, const char *user, const char *device,
		    const char *role)
{
	memset(ev, 0, sizeof *ev);
	ev->seq = 1; /* the backend sets seq and prev */
	ev->ts_ms = r->now_ms;
	ev->type = type;
	ev->success = success;
	ev->user = user;
	ev->device = device;
	ev->role = role;
	ev->agency = r->agency;
	ev->source = r->source;
	ev->where = r->where;
}

/* A detail object {reason, [agency], [user]}; NULL on ENOMEM. */
static tf_json *detail_new(const char *reason)
{
	tf_json *d = tf_json_object();

	if (d == NULL)
		return NULL;
	if (reason != NULL &&
	    tf_json_object_set(d, "reason", tf_json_cstring(reason)) < 0) {
		tf_json_free(d);
		return NULL;
	}
	return d;
}

static int detail_str(tf_json *d, const char *key, const char *val, size_t len)
{
	if (d == NULL)
		return TF_ENOMEM;
	return tf_json_object_set(d, key, tf_json_string(val, len));
}

static int detail_int(tf_json *d, const char *key, int64_t v)
{
	if (d == NULL)
		return TF_ENOMEM;
	return tf_json_object_set(d, key, tf_json_int(v));
}

/* Appends one entry of type/outcome for the actor, with detail (borrowed). */
static int audit_put(tf_db_txn *t, const req_ctx *r, tf_audit_type type,
		     int success, const char *user, const char *device,
		     const char *role, const char *target,
		     const tf_json *detail, tf_err *err)
{
	tf_audit_event ev;

	ev_init(&ev, r, type, success, user, device, role);
	ev.target = target;
	ev.detail = detail;
	return tf_srv_audit(t, &ev, err);
}

static const char *user_role(const tf_db_user *u)
{
	return u->nroles > 0 ? u->roles[0] : NULL;
}

static int user_has_role(const tf_db_user *u, const char *role)
{
	size_t i;

	for (i = 0; i < u->nroles && i < TF_POLICY_MAX_ROLES; i++)
		if (strcmp(u->roles[i], role) == 0)
			return 1;
	return 0;
}

/* Parses a request body: an object, under the given limits. */
static int body_parse(const char *body, size_t len, size_t max_bytes,
		      size_t max_string, size_t max_items, tf_json **out,
		      tf_err *err)
{
	tf_json_limits lim;
	int rc;

	*out = NULL;
	if (len > max_bytes)
		return tf_err_set(err, TF_ELIMIT, "body",
				  "body of %zu bytes is over the limit of %zu",
				  len, max_bytes);
	if (body == NULL)
		return tf_err_set(err, TF_EJSON, "body", "empty body");
	lim.max_bytes = max_bytes;
	lim.max_depth = 2;
	lim.max_string = max_string;
	lim.max_items = max_items;
	lim.max_members = 16;
	lim.max_number = 20;
	rc = tf_json_parse(body, len, &lim, out, err);
	if (rc < 0)
		return rc;
	if ((*out)->type != TF_JSON_OBJECT) {
		tf_json_free(*out);
		*out = NULL;
		return tf_err_set(err, TF_ETYPE, "body",
				  "body is not a JSON object");
	}
	return 0;
}

/* TF_EUNKNOWN for a member of obj not in names (NULL-terminated). */
static int body_known(const tf_json *obj, const char *const *names,
		      const char *prefix, tf_err *err)
{
	size_t i, j;

	assert(obj != NULL && obj->type == TF_JSON_OBJECT);
	for (i = 0; i < obj->len; i++) {
		const char *k = obj->u.members[i].key;
		char where[96];

		for (j = 0; names[j] != NULL; j++)
			if (strcmp(k, names[j]) == 0)
				break;
		if (names[j] != NULL)
			continue;
		snprintf(where, sizeof where, "%s%.64s", prefix, k);
		return tf_err_set(err, TF_EUNKNOWN, where, "%s: unknown member",
				  where);
	}
	return 0;
}

static const tf_json *body_get(const tf_json *obj, const char *key,
			       tf_json_type type, const char *path, int *rc,
			       tf_err *err)
{
	const tf_json *v = tf_json_object_get(obj, key);

	if (v == NULL) {
		*rc = tf_err_set(err, TF_EMISSING, path, "%s is missing", path);
		return NULL;
	}
	if (v->type != type) {
		*rc = tf_err_set(err, TF_ETYPE, path, "%s must be %s", path,
				 type == TF_JSON_STRING	  ? "a string"
				 : type == TF_JSON_NUMBER ? "an integer"
				 : type == TF_JSON_ARRAY  ? "an array"
							  : "an object");
		return NULL;
	}
	*rc = 0;
	return v;
}

static int body_str(const tf_json *obj, const char *key, const char *path,
		    const char **out, size_t *len, tf_err *err)
{
	int rc;
	const tf_json *v = body_get(obj, key, TF_JSON_STRING, path, &rc, err);

	if (v == NULL)
		return rc;
	*out = v->u.str;
	*len = v->len;
	return 0;
}

/* A string member that must be an id ([A-Za-z0-9._@-]{1,64}). */
static int body_id(const tf_json *obj, const char *key, const char *path,
		   const char **out, tf_err *err)
{
	size_t len = 0;
	int rc = body_str(obj, key, path, out, &len, err);

	if (rc < 0)
		return rc;
	if (!tf_id_valid(*out, len))
		return tf_err_set(err, TF_EVALIDATE, path,
				  "%s is not an id ([A-Za-z0-9._@-]{1,64})",
				  path);
	return 0;
}

/* An integer member within [min, max]. */
static int body_int(const tf_json *obj, const char *key, const char *path,
		    int64_t min, int64_t max, int64_t *out, tf_err *err)
{
	int rc;
	const tf_json *v = body_get(obj, key, TF_JSON_NUMBER, path, &rc, err);

	if (v == NULL)
		return rc;
	rc = tf_json_int64(v, out);
	if (rc == TF_ETYPE)
		return tf_err_set(err, TF_ETYPE, path, "%s must be an integer",
				  path);
	if (rc < 0 || *out < min || *out > max)
		return tf_err_set(err, TF_ERANGE, path,
				  "%s must be in [%" PRId64 ", %" PRId64 "]",
				  path, min, max);
	return 0;
}

/* A b64url member decoding to exactly n bytes. */
static int body_b64(const tf_json *obj, const char *key, const char *path,
		    uint8_t *out, size_t n, tf_err *err)
{
	const char *s = NULL;
	size_t len = 0, got = 0;
	int rc = body_str(obj, key, path, &s, &len, err);

	if (rc < 0)
		return rc;
	if (tf_b64url_decode(s, len, out, n, &got) < 0 || got != n)
		return tf_err_set(err, TF_EVALIDATE, path,
				  "%s must be base64url of %zu bytes", path, n);
	return 0;
}

/* Verifies sig over msg with a device's stored base64url public key. */
static int device_verify(const tf_db_device *d, const char *msg, size_t len,
			 const uint8_t sig[TF_ED25519_SIG_LEN], tf_err *err,
			 const char *field)
{
	uint8_t pub[TF_ED25519_PUB_LEN];
	size_t got = 0;
	tf_sigkey *k = NULL;
	int rc;

	if (tf_b64url_decode(d->pubkey, strlen(d->pubkey), pub, sizeof pub,
			     &got) < 0 ||
	    got != sizeof pub)
		return tf_err_set(err, TF_EIO, "device_id",
				  "device %s has no readable public key",
				  d->id);
	rc = tf_sigkey_from_public(pub, &k);
	if (rc < 0)
		return tf_err_set(err, TF_EIO, "device_id",
				  "device %s has no usable public key", d->id);
	rc = tf_sigkey_verify(k, msg, len, sig, TF_ED25519_SIG_LEN);
	tf_sigkey_free(k);
	if (rc == TF_EAUTH)
		return tf_err_set(err, TF_EAUTH, field,
				  "%s: signature does not verify under device "
				  "%s's key",
				  field, d->id);
	if (rc < 0)
		return tf_err_set(err, rc, field, "%s: cannot verify", field);
	return 0;
}

/* Copies a UTF-8 prefix of at most max bytes (no cut code point). */
static size_t utf8_prefix(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}

/* ------------------------------------------------------------- keys */

int tf_srv_keys(tf_srv *s, tf_buf *out, tf_err *err)
{
	uint8_t pub[TF_ED25519_PUB_LEN];
	char pub64[48];
	int rc;

	assert(s != NULL && out != NULL);
	if (s->key == NULL)
		return tf_err_set(err, TF_EINVAL, "key",
				  "the server has no signing key");
	rc = tf_sigkey_public(s->key, pub);
	if (rc == 0)
		rc = tf_b64url_encode(pub, sizeof pub, pub64, sizeof pub64);
	if (rc < 0)
		return tf_err_set(err, rc, "key",
				  "cannot encode the public key");
	tf_buf_puts(out, "{\"keys\":[{\"alg\":\"Ed25519\",\"key_id\":");
	tf_json_write_string(out, s->key_id, strlen(s->key_id));
	tf_buf_puts(out, ",\"public_key\":\"");
	tf_buf_puts(out, pub64);
	tf_buf_puts(out, "\"}]}");
	if (out->failed)
		return tf_err_set(err, out->failed, "keys", "reply too large");
	return 0;
}

/* ----------------------------------------------------------- banner */

typedef struct agency_ctx {
	const char *id;
	tf_db_agency a;
} agency_ctx;

static int agency_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	agency_ctx *ac = arg;

	return t->ops->agency_get(t, ac->id, &ac->a, err);
}

int tf_auth_banner(tf_srv *s, const char *agency, tf_buf *out, tf_err *err)
{
	agency_ctx *ac;
	int rc;

	assert(s != NULL && out != NULL);
	if (agency == NULL || agency[0] == '\0')
		return tf_err_set(err, TF_EMISSING, "agency",
				  "agency is missing");
	if (!tf_id_valid(agency, strlen(agency)))
		return tf_err_set(err, TF_EVALIDATE, "agency",
				  "agency is not an id");
	ac = calloc(1, sizeof *ac);
	if (ac == NULL)
		return tf_err_set(err, TF_ENOMEM, "agency", "out of memory");
	ac->id = agency;
	rc = tf_db_read(s->db, agency_fn, ac, err);
	if (rc == TF_ENOTFOUND) {
		tf_err_set(err, rc, "agency", "no agency %s", agency);
		goto out;
	}
	if (rc < 0)
		goto out;
	tf_buf_puts(out, "{\"agency\":");
	tf_json_write_string(out, ac->a.id, strlen(ac->a.id));
	tf_buf_puts(out, ",\"banner\":");
	tf_json_write_string(out, ac->a.banner, strlen(ac->a.banner));
	tf_buf_printf(out, ",\"banner_rev\":%" PRId64 "}", ac->a.banner_rev);
	if (out->failed)
		rc = tf_err_set(err, out->failed, "banner", "reply too large");
out:
	free(ac);
	return rc;
}

/* ------------------------------------------------------ login limits */

/*
 * Login serialization: one mutex per stripe of (agency, user) hashes.
 * A login holds its stripe from the snapshot that reads the account's
 * AC-7 state, through the PBKDF2 and TOTP checks, to the commit of the
 * outcome, so a parallel guess for the same account reads the failure
 * count (and the lock) the previous one committed: no more than
 * lockout_failures guesses are ever evaluated before the lock.  The
 * table is fixed (LOGIN_LOCKS stripes); two accounts that share a stripe
 * only wait for each other.  This holds within one process: a backend
 * shared by several tenfourd nodes must instead take a row lock on the
 * account (SELECT ... FOR UPDATE) for the same span.  The commit
 * re-checks the fresh account row inside the write in any case.
 */
#define LOGIN_LOCKS 256

static pthread_mutex_t login_locks[LOGIN_LOCKS];
static pthread_once_t login_locks_once = PTHREAD_ONCE_INIT;

static void login_locks_init(void)
{
	size_t i;

	for (i = 0; i < LOGIN_LOCKS; i++)
		pthread_mutex_init(&login_locks[i], NULL);
}

/* FNV-1a over agency "\n" user: the stripe of an account. */
static pthread_mutex_t *login_lock_of(const char *agency, const char *user,
				      size_t user_len)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	for (i = 0; agency[i] != '\0'; i++)
		h = (h ^ (unsigned char)agency[i]) * 1099511628211ULL;
	h = (h ^ (unsigned char)'\n') * 1099511628211ULL;
	for (i = 0; i < user_len; i++)
		h = (h ^ (unsigned char)user[i]) * 1099511628211ULL;
	pthread_once(&login_locks_once, login_locks_init);
	return &login_locks[h % LOGIN_LOCKS];
}

/* The limits in force (tf_auth_limits_set), under lim_mu. */
static pthread_mutex_t lim_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static tf_auth_limits lim_cur;
static int lim_ready;
static size_t gate_busy, gate_waiting;

#define SRC_SLOTS 4096 /* peer addresses remembered */

typedef struct src_ent {
	int64_t start;	     /* the window's first failure */
	uint32_t fails;	     /* in this window */
	uint32_t suppressed; /* refused in this window */
	uint32_t report;     /* refused in past windows, not yet audited */
	char key[TF_AUDIT_SOURCE_MAX + 1]; /* "" = a free slot */
} src_ent;

static src_ent src_tab[SRC_SLOTS];

void tf_auth_limits_default(tf_auth_limits *l)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	assert(l != NULL);
	memset(l, 0, sizeof *l);
	l->pbkdf2_slots = n > 0 && n < 4096 ? (size_t)n * 2 : 2;
	l->pbkdf2_queue = 64;
	l->src_failures = 20;
	l->src_window_ms = (int64_t)5 * 60 * 1000;
}

static void lim_ensure(void)
{
	if (!lim_ready) {
		tf_auth_limits_default(&lim_cur);
		lim_ready = 1;
	}
}

void tf_auth_limits_set(const tf_auth_limits *l)
{
	tf_auth_limits d;

	tf_auth_limits_default(&d);
	pthread_mutex_lock(&lim_mu);
	lim_cur = l != NULL ? *l : d;
	if (lim_cur.pbkdf2_slots == 0)
		lim_cur.pbkdf2_slots = d.pbkdf2_slots;
	if (lim_cur.src_window_ms <= 0)
		lim_cur.src_window_ms = d.src_window_ms;
	lim_ready = 1;
	memset(src_tab, 0, sizeof src_tab);
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&lim_mu);
}

int tf_auth_gate_enter(void)
{
	pthread_mutex_lock(&lim_mu);
	lim_ensure();
	if (gate_busy >= lim_cur.pbkdf2_slots) {
		if (gate_waiting >= lim_cur.pbkdf2_queue) {
			pthread_mutex_unlock(&lim_mu);
			return TF_EBUSY;
		}
		gate_waiting++;
		while (gate_busy >= lim_cur.pbkdf2_slots)
			pthread_cond_wait(&gate_cv, &lim_mu);
		gate_waiting--;
	}
	gate_busy++;
	pthread_mutex_unlock(&lim_mu);
	return 0;
}

void tf_auth_gate_leave(void)
{
	pthread_mutex_lock(&lim_mu);
	assert(gate_busy > 0);
	gate_busy--;
	pthread_cond_signal(&gate_cv);
	pthread_mutex_unlock(&lim_mu);
}

/* The entry of a source (NULL when none); lim_mu held. */
static src_ent *src_find(const char *source)
{
	size_t i;

	for (i = 0; i < SRC_SLOTS; i++)
		if (src_tab[i].key[0] != '\0' &&
		    strcmp(src_tab[i].key, source) == 0)
			return &src_tab[i];
	return NULL;
}

/* Starts a new window when the old one is over (or the clock went back);
   the window's refusals then wait to be audited.  lim_mu held. */
static void src_roll(src_ent *e, int64_t now_ms)
{
	if (now_ms - e->start < lim_cur.src_window_ms && now_ms >= e->start)
		return;
	e->report += e->suppressed;
	e->suppressed = 0;
	e->fails = 0;
	e->start = now_ms;
}

/*
 * Before a login from source: TF_EBUSY when the source is past its
 * failed-logon limit in this window (the refusal is only counted).
 * Otherwise *report gets the refusals of past windows that still need
 * their one summary audit entry (and forgets them: src_unreport puts
 * them back if that entry could not be written).
 */
static int src_check(const char *source, int64_t now_ms, uint32_t *report)
{
	src_ent *e;
	int rc = 0;

	*report = 0;
	pthread_mutex_lock(&lim_mu);
	lim_ensure();
	e = src_find(source);
	if (e != NULL) {
		src_roll(e, now_ms);
		if (e->fails >= lim_cur.src_failures) {
			if (e->suppressed < UINT32_MAX)
				e->suppressed++;
			rc = TF_EBUSY;
		} else {
			*report = e->report;
			e->report = 0;
		}
	}
	pthread_mutex_unlock(&lim_mu);
	return rc;
}

static void src_unreport(const char *source, uint32_t n)
{
	src_ent *e;

	if (n == 0)
		return;
	pthread_mutex_lock(&lim_mu);
	e = src_find(source);
	if (e != NULL)
		e->report =
			UINT32_MAX - e->report < n ? UINT32_MAX : e->report + n;
	pthread_mutex_unlock(&lim_mu);
}

/*
 * Counts a failed logon of source.  A new source takes a free slot or,
 * when the table is full, the one whose window started longest ago (its
 * count is forgotten: the table stays bounded whatever the number of
 * addresses).
 */
static void src_fail(const char *source, int64_t now_ms)
{
	src_ent *e;
	size_t i;

	pthread_mutex_lock(&lim_mu);
	lim_ensure();
	e = src_find(source);
	if (e == NULL) {
		for (i = 0; i < SRC_SLOTS; i++) {
			if (src_tab[i].key[0] == '\0') {
				e = &src_tab[i];
				break;
			}
			if (e == NULL || src_tab[i].start < e->start)
				e = &src_tab[i];
		}
		memset(e, 0, sizeof *e);
		snprintf(e->key, sizeof e->key, "%s", source);
		e->start = now_ms;
	}
	src_roll(e, now_ms);
	if (e->fails < UINT32_MAX)
		e->fails++;
	pthread_mutex_unlock(&lim_mu);
}

/* ------------------------------------------------------------ login */

typedef struct login_req {
	const char *agency, *user, *password, *totp, *device;
	size_t user_len, pw_len;
	int user_is_id;
	int64_t banner_rev, proof_ts;
	uint8_t sig[TF_ED25519_SIG_LEN];
} login_req;

enum login_kind {
	LOGIN_FAIL = 1,	  /* refused, audited, not counted */
	LOGIN_FAIL_COUNT, /* a wrong factor: audited and counted (AC-7) */
	LOGIN_OK
};

typedef struct login_ctx {
	req_ctx r;
	login_req q;
	/* what the read snapshot found */
	int has_agency, has_device, has_user;
	tf_db_agency agency;
	tf_db_device device;
	tf_db_user user;
	/* the outcome */
	int kind;
	int rc;
	tf_err err;
	const char *reason;
	int creds_ok; /* password and TOTP were right (a locked account) */
	int64_t matched_step;
	uint32_t suppressed; /* the source's refusals to audit (src_check) */
	tf_buf reply;
} login_ctx;

static const char *const login_members[] = {
	"agency", "banner_rev", "device_id", "password",
	"proof",  "totp",	"user",	     NULL};
static const char *const proof_members[] = {"sig", "ts", NULL};

/* Reads the login body into q (strings point into *tree). */
static int login_parse(const char *body, size_t len, tf_json **tree,
		       login_req *q, tf_err *err)
{
	const tf_json *proof;
	size_t n = 0, i;
	int rc;

	rc = body_parse(body, len, TF_SRV_MAX_SMALL_BODY, BODY_STRING_MAX, 16,
			tree, err);
	if (rc < 0)
		return rc;
	rc = body_known(*tree, login_members, "", err);
	if (rc == 0)
		rc = body_id(*tree, "agency", "agency", &q->agency, err);
	if (rc == 0)
		rc = body_str(*tree, "user", "user", &q->user, &q->user_len,
			      err);
	if (rc == 0)
		rc = body_str(*tree, "password", "password", &q->password,
			      &q->pw_len, err);
	if (rc == 0)
		rc = body_str(*tree, "totp", "totp", &q->totp, &n, err);
	if (rc == 0)
		rc = body_id(*tree, "device_id", "device_id", &q->device, err);
	if (rc == 0)
		rc = body_int(*tree, "banner_rev", "banner_rev", 0, INT64_MAX,
			      &q->banner_rev, err);
	if (rc < 0)
		return rc;
	proof = body_get(*tree, "proof", TF_JSON_OBJECT, "proof", &rc, err);
	if (proof == NULL)
		return rc;
	rc = body_known(proof, proof_members, "proof.", err);
	if (rc == 0)
		rc = body_int(proof, "ts", "proof.ts", 0, TIME_MAX_MS - 1,
			      &q->proof_ts, err);
	if (rc == 0)
		rc = body_b64(proof, "sig", "proof.sig", q->sig, sizeof q->sig,
			      err);
	if (rc < 0)
		return rc;
	if (q->user_len == 0)
		return tf_err_set(err, TF_EVALIDATE, "user", "user is empty");
	if (n != TF_TOTP_DIGITS)
		return tf_err_set(err, TF_EVALIDATE, "totp",
				  "totp must be %d digits", TF_TOTP_DIGITS);
	for (i = 0; i < n; i++)
		if (q->totp[i] < '0' || q->totp[i] > '9')
			return tf_err_set(err, TF_EVALIDATE, "totp",
					  "totp must be %d digits",
					  TF_TOTP_DIGITS);
	q->user_is_id = tf_id_valid(q->user, q->user_len);
	return 0;
}

static int login_snapshot(tf_db_txn *t, void *arg, tf_err *err)
{
	login_ctx *c = arg;
	int rc;

	rc = t->ops->agency_get(t, c->q.agency, &c->agency, err);
	if (rc == TF_ENOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	c->has_agency = 1;
	rc = t->ops->device_get(t, c->q.agency, c->q.device, &c->device, err);
	if (rc < 0 && rc != TF_ENOTFOUND)
		return rc;
	c->has_device = rc == 0;
	if (!c->q.user_is_id)
		return 0;
	rc = t->ops->user_get(t, c->q.agency, c->q.user, &c->user, err);
	if (rc < 0 && rc != TF_ENOTFOUND)
		return rc;
	c->has_user = rc == 0;
	return 0;
}

/* Equal work for a name that has no account: no timing oracle. */
static void login_dummy_hash(const login_ctx *c)
{
	static const uint8_t salt[TF_SALT_LEN] = "tenfour-no-user";
	uint8_t out[PWHASH_KEY_LEN];
	uint32_t iter = c->r.s->pbkdf2_iter;

	if (iter < TF_PBKDF2_MIN_ITER)
		iter = TF_PBKDF2_MIN_ITER;
	if (iter > TF_PBKDF2_MAX_ITER)
		iter = TF_PBKDF2_MAX_ITER;
	(void)tf_pbkdf2_sha256(c->q.password, c->q.pw_len, salt, sizeof salt,
			       iter, out, sizeof out);
	tf_memzero(out, sizeof out);
}

/* The one answer to every credential failure. */
#define LOGIN_FAILED_MSG "login failed: wrong user, password or one-time code"

/* A credential failure: the generic answer; `reason` is for the audit. */
static void login_refuse(login_ctx *c, const char *reason)
{
	c->reason = reason;
	c->rc = tf_err_set(&c->err, TF_EAUTH, "credentials", LOGIN_FAILED_MSG);
}

/* Verifies the device's proof of possession of its key. */
static int login_proof(login_ctx *c)
{
	const login_req *q = &c->q;
	tf_buf m;
	int rc;

	/* the user part is the name as sent, of any length */
	tf_buf_init(&m);
	tf_buf_printf(&m, "tenfour-login\n%s\n", q->agency);
	tf_buf_append(&m, q->user, q->user_len);
	tf_buf_printf(&m, "\n%s\n%" PRId64, q->device, q->proof_ts);
	rc = m.failed ? tf_err_set(&c->err, m.failed, "proof",
				   "cannot build the proof's bytes")
		      : device_verify(&c->device, m.data, m.len, q->sig,
				      &c->err, "proof");
	tf_buf_free(&m);
	return rc;
}

/*
 * The checks on the read snapshot, without a transaction (PBKDF2 takes a
 * good part of a second).  Sets kind, rc, err and reason.  Order: agency
 * and device known, the device's proof (so that only the holder of an
 * enrolled key learns anything more: that it is revoked, or that the
 * banner changed), the banner (public; refused before any secret is
 * checked), then the account: password and TOTP, checked even when the
 * account is locked, because a locked account is told so only when both
 * were right.  Every credential failure is the same TF_EAUTH.
 */
static void login_decide(login_ctx *c)
{
	const login_req *q = &c->q;
	uint8_t key[TF_DB_TOTP_MAX];
	size_t klen = 0;
	int64_t skew;
	int rc, locked;

	c->kind = LOGIN_FAIL;
	if (!c->has_agency) {
		login_refuse(c, "unknown agency");
		return;
	}
	if (!c->has_device) {
		login_refuse(c, "unknown device");
		return;
	}
	skew = c->r.now_ms - q->proof_ts;
	if (skew > TF_SRV_LOGIN_PROOF_WINDOW_MS ||
	    skew < -TF_SRV_LOGIN_PROOF_WINDOW_MS) {
		login_refuse(c, "stale device proof");
		return;
	}
	rc = login_proof(c);
	if (rc == TF_EAUTH) {
		login_refuse(c, "bad device proof");
		return;
	}
	if (rc < 0) {
		c->reason = "device key unusable";
		c->rc = rc;
		return;
	}
	if (c->device.status != TF_DEV_ENROLLED) {
		c->reason = "device revoked";
		c->rc = tf_err_set(
			&c->err, TF_EREVOKED, "device_id",
			"device %s is revoked; it must wipe its data",
			q->device);
		return;
	}
	if (q->banner_rev != c->agency.banner_rev) {
		c->reason = "banner not acknowledged";
		c->rc = tf_err_set(&c->err, TF_EVALIDATE, "banner_rev",
				   "banner_rev %" PRId64
				   " is not the agency's current banner (rev "
				   "%" PRId64 "); show it and acknowledge it",
				   q->banner_rev, c->agency.banner_rev);
		return;
	}
	if (!c->has_user || c->user.disabled) {
		/* equal work: no timing oracle on the account's existence */
		if (c->has_user)
			(void)tf_auth_check_password(c->user.pwhash,
						     q->password, q->pw_len);
		else
			login_dummy_hash(c);
		login_refuse(c,
			     c->has_user ? "account disabled" : "unknown user");
		return;
	}
	/* a locked account counts no more failures; it is refused below
	   with TF_ELOCKED only when both factors were right */
	locked = c->user.lockout.locked;
	rc = tf_auth_check_password(c->user.pwhash, q->password, q->pw_len);
	if (rc == TF_EAUTH) {
		c->kind = locked ? LOGIN_FAIL : LOGIN_FAIL_COUNT;
		login_refuse(c, locked ? "account locked" : "wrong password");
		return;
	}
	if (rc < 0) {
		c->reason = "stored password hash unusable";
		c->rc = tf_err_set(&c->err, TF_EIO, "credentials",
				   "the stored password hash of %s is unusable",
				   c->user.id);
		return;
	}
	if (c->user.totp[0] == '\0') {
		login_refuse(c, "no second factor enrolled");
		return;
	}
	if (tf_b32_decode(c->user.totp, strlen(c->user.totp), key, sizeof key,
			  &klen) < 0 ||
	    klen == 0) {
		c->reason = "stored totp secret unusable";
		c->rc = tf_err_set(&c->err, TF_EIO, "credentials",
				   "the stored TOTP secret of %s is unusable",
				   c->user.id);
		return;
	}
	{
		int64_t w = c->r.s->totp_window;
		int window = w < 0 ? 0 : w > 10 ? 10 : (int)w;

		rc = tf_totp_verify(key, klen, q->totp, c->r.now_ms, window,
				    c->user.totp_last_step, &c->matched_step);
	}
	tf_memzero(key, sizeof key);
	if (rc == TF_EAUTH || rc == TF_EINVAL) {
		c->kind = locked ? LOGIN_FAIL : LOGIN_FAIL_COUNT;
		login_refuse(c, locked ? "account locked"
				       : "wrong or reused totp");
		return;
	}
	if (rc < 0) {
		c->reason = "totp check failed";
		c->rc = tf_err_set(&c->err, rc, "credentials",
				   "cannot check the one-time code");
		return;
	}
	if (locked) {
		c->creds_ok = 1;
		c->reason = "account locked";
		c->rc = tf_err_set(&c->err, TF_ELOCKED, "user",
				   "account %s is locked after failed logons; "
				   "an administrator must release it",
				   c->user.id);
		return;
	}
	c->kind = LOGIN_OK;
	c->rc = 0;
}

/* Records a refused logon: the failure count (counted kinds) and the
   audit entries.  Returns 0 so that the write commits. */
static int login_record_fail(tf_db_txn *t, login_ctx *c, tf_db_user *u,
			     tf_err *err)
{
	const login_req *q = &c->q;
	tf_json *d = detail_new(c->reason);
	int locked = 0, was, rc = 0;

	if (c->kind == LOGIN_FAIL_COUNT && c->has_user) {
		was = u->lockout.locked;
		rc = tf_lockout_fail(&u->lockout, &c->agency.policy,
				     c->r.now_ms, &locked);
		if (rc < 0) {
			rc = tf_err_set(err, TF_EIO, "user",
					"cannot count the failed logon of %s: "
					"%s",
					u->id, tf_strerror(rc));
			goto out;
		}
		rc = t->ops->user_put(t, u, err);
		if (rc < 0)
			goto out;
		/* the answer stays the generic failure: the password was
		   wrong, so the lock is no news to whoever sent it */
		locked = locked && !was;
	}
	rc = detail_str(d, "agency", q->agency, strlen(q->agency));
	if (rc == 0 && c->has_user && u->lockout.locked)
		rc = tf_json_object_set(d, "credentials_ok",
					tf_json_bool(c->creds_ok));
	if (rc == 0 && !c->has_user)
		rc = detail_str(
			d, "user", q->user,
			utf8_prefix(q->user, q->user_len, ATTEMPT_NAME_MAX));
	if (rc == 0 && c->has_user)
		rc = detail_int(d, "failures", u->lockout.nfail);
	if (rc < 0) {
		rc = tf_err_set(err, TF_ENOMEM, "audit", "out of memory");
		goto out;
	}
	rc = audit_put(t, &c->r, TF_AUDIT_LOGON_FAIL, 0,
		       c->has_user ? u->id : "unknown", q->device,
		       c->has_user ? user_role(u) : NULL, NULL, d, err);
	if (rc == 0 && locked) {
		tf_json_free(d);
		d = detail_new("failed logons");
		rc = detail_int(d, "failures",
				c->agency.policy.lockout_failures);
		if (rc == 0)
			rc = detail_int(d, "window_ms",
					c->agency.policy.lockout_window_ms);
		if (rc < 0) {
			rc = tf_err_set(err, TF_ENOMEM, "audit",
					"out of memory");
			goto out;
		}
		rc = audit_put(t, &c->r, TF_AUDIT_LOCKOUT, 1, u->id, q->device,
			       user_role(u), u->id, d, err);
	}
out:
	tf_json_free(d);
	return rc;
}

/* The reply of a successful login (see server.h). */
static int login_reply(login_ctx *c, const tf_db_user *u, int64_t expires,
		       uint64_t device_seq, const char *token,
		       const tf_buf *claims, const char *sig64)
{
	tf_buf *b = &c->reply;
	size_t i;

	tf_buf_printf(b,
		      "{\"device_seq\":%" PRIu64 ",\"expires_at\":%" PRId64
		      ",\"grant\":",
		      device_seq, expires);
	if (claims != NULL) {
		tf_buf_puts(b, "{\"claims\":");
		tf_json_write_string(b, claims->data, claims->len);
		tf_buf_puts(b, ",\"key_id\":");
		tf_json_write_string(b, c->r.s->key_id, strlen(c->r.s->key_id));
		tf_buf_printf(b, ",\"sig\":\"%s\"}", sig64);
	} else {
		tf_buf_puts(b, "null");
	}
	tf_buf_printf(b, ",\"token\":\"%s\",\"user\":{\"id\":", token);
	tf_json_write_string(b, u->id, strlen(u->id));
	tf_buf_puts(b, ",\"name\":");
	tf_json_write_string(b, u->name, strlen(u->name));
	tf_buf_puts(b, ",\"roles\":[");
	for (i = 0; i < u->nroles && i < TF_POLICY_MAX_ROLES; i++) {
		if (i > 0)
			tf_buf_putc(b, ',');
		tf_json_write_string(b, u->roles[i], strlen(u->roles[i]));
	}
	tf_buf_puts(b, "],\"unit\":");
	if (u->unit[0] != '\0')
		tf_json_write_string(b, u->unit, strlen(u->unit));
	else
		tf_buf_puts(b, "null");
	tf_buf_puts(b, "}}");
	return b->failed;
}

/* Signs the grant of this login into claims and sig64. */
static int login_grant(login_ctx *c, const tf_db_user *u, tf_buf *claims,
		       char sig64[TF_ED25519_SIG_LEN * 2], tf_grant *g,
		       tf_err *err)
{
	uint8_t sig[TF_ED25519_SIG_LEN];
	size_t i;
	int rc;

	memset(g, 0, sizeof *g);
	rc = tf_grant_from_policy(&c->agency.policy, c->r.now_ms, g, err);
	if (rc < 0)
		return rc;
	snprintf(g->user, sizeof g->user, "%s", u->id);
	snprintf(g->device, sizeof g->device, "%s", c->device.id);
	snprintf(g->agency, sizeof g->agency, "%s", c->agency.id);
	snprintf(g->key_id, sizeof g->key_id, "%s", c->r.s->key_id);
	for (i = 0; i < u->nroles && i < TF_POLICY_MAX_ROLES; i++)
		snprintf(g->roles[i], sizeof g->roles[i], "%s", u->roles[i]);
	g->nroles = i;
	rc = tf_grant_write(g, claims, err);
	if (rc < 0)
		return rc;
	rc = tf_sigkey_sign(c->r.s->key, claims->data, claims->len, sig);
	if (rc == 0)
		rc = tf_b64url_encode(sig, sizeof sig, sig64,
				      (size_t)TF_ED25519_SIG_LEN * 2);
	if (rc < 0)
		return tf_err_set(err, rc, "grant", "cannot sign the grant");
	return 0;
}

/* A successful logon: session, grant, the user's new state, audit. */
static int login_record_ok(tf_db_txn *t, login_ctx *c, tf_db_user *u,
			   tf_err *err)
{
	uint8_t raw[TF_SRV_TOKEN_BYTES], h[TF_SHA256_LEN];
	char token[TF_SRV_TOKEN_BYTES * 2], sig64[TF_ED25519_SIG_LEN * 2];
	tf_db_session ses;
	tf_grant g;
	tf_buf claims;
	tf_json *d = NULL;
	int64_t life = c->agency.policy.session_max_ms;
	uint64_t device_seq = 0;
	int grant = c->agency.policy.offline_window_ms > 0;
	int rc;

	tf_buf_init(&claims);
	memset(&ses, 0, sizeof ses);
	tf_lockout_success(&u->lockout);
	u->totp_last_step = c->matched_step;
	rc = t->ops->user_put(t, u, err);
	if (rc < 0)
		goto out;
	rc = tf_random_bytes(raw, sizeof raw);
	if (rc == 0)
		rc = tf_sha256(raw, sizeof raw, h);
	if (rc == 0)
		rc = tf_b64url_encode(raw, sizeof raw, token, sizeof token);
	if (rc < 0) {
		rc = tf_err_set(err, rc, "token", "cannot make a session");
		goto out;
	}
	if (life <= 0 || life > TF_POLICY_MAX_SESSION_MS)
		life = TF_POLICY_MAX_SESSION_MS;
	tf_hex_encode(h, sizeof h, ses.token_hash);
	snprintf(ses.agency, sizeof ses.agency, "%s", c->agency.id);
	snprintf(ses.user, sizeof ses.user, "%s", u->id);
	snprintf(ses.device, sizeof ses.device, "%s", c->device.id);
	ses.created_at = c->r.now_ms;
	ses.expires_at = c->r.now_ms + life;
	rc = t->ops->session_put(t, &ses, err);
	if (rc < 0)
		goto out;
	if (grant) {
		rc = login_grant(c, u, &claims, sig64, &g, err);
		if (rc < 0)
			goto out;
	}

	d = detail_new(NULL);
	rc = detail_int(d, "banner_rev", c->agency.banner_rev);
	if (rc == 0)
		rc = audit_put(t, &c->r, TF_AUDIT_BANNER_ACK, 1, u->id,
			       c->device.id, user_role(u), NULL, d, err);
	tf_json_free(d);
	d = detail_new(NULL);
	if (rc == 0)
		rc = detail_int(d, "expires_at", ses.expires_at);
	if (rc == 0)
		rc = detail_str(d, "agency", c->agency.id,
				strlen(c->agency.id));
	if (rc == 0)
		rc = audit_put(t, &c->r, TF_AUDIT_LOGON_OK, 1, u->id,
			       c->device.id, user_role(u), NULL, d, err);
	if (rc == 0 && grant) {
		tf_json_free(d);
		d = detail_new(NULL);
		rc = detail_int(d, "not_after", g.not_after);
		if (rc == 0)
			rc = detail_int(d, "lock_after", g.lock_after);
		if (rc == 0)
			rc = audit_put(t, &c->r, TF_AUDIT_GRANT_ISSUE, 1, u->id,
				       c->device.id, user_role(u),
				       c->r.s->key_id, d, err);
	}
	/* The device's ledger position: a client whose store was wiped
	   resumes its seq after it (docs/API.md). */
	if (rc == 0)
		rc = t->ops->ledger_last(t, c->agency.id, c->device.id,
					 &device_seq, err);
	if (rc < 0)
		goto out;
	rc = login_reply(c, u, ses.expires_at, device_seq, token,
			 grant ? &claims : NULL, sig64);
	if (rc < 0)
		rc = tf_err_set(err, rc, "reply", "cannot build the reply");
out:
	tf_json_free(d);
	tf_buf_free(&claims);
	tf_memzero(raw, sizeof raw);
	tf_memzero(token, sizeof token);
	return rc;
}

/* The one summary entry of a source's refused logons (src_check), in
   the system chain: the refused attempts named no checked agency. */
static int login_record_suppressed(tf_db_txn *t, const login_ctx *c,
				   tf_err *err)
{
	req_ctx r = c->r;
	tf_json *d = detail_new("too many failed logons from the source");
	int rc;

	r.agency = NULL;
	rc = detail_int(d, "suppressed", (int64_t)c->suppressed);
	if (rc < 0)
		rc = tf_err_set(err, TF_ENOMEM, "audit", "out of memory");
	else
		rc = audit_put(t, &r, TF_AUDIT_LOGON_FAIL, 0, "unknown", NULL,
			       NULL, NULL, d, err);
	tf_json_free(d);
	return rc;
}

/*
 * The write of a logon.  The account is re-read: what changed since the
 * snapshot (a lock by a failure of another node, a release, a new
 * password, a TOTP step used meanwhile) decides over the snapshot.  Within
 * one process login_lock_of has already made the snapshot current; this
 * re-check inside the write is what keeps the count exact when it is not.
 */
static int login_commit(tf_db_txn *t, void *arg, tf_err *err)
{
	login_ctx *c = arg;
	tf_db_user *u = NULL;
	int rc = 0;

	if (c->suppressed > 0) {
		rc = login_record_suppressed(t, c, err);
		if (rc < 0)
			return rc;
	}
	if (c->has_user) {
		u = malloc(sizeof *u);
		if (u == NULL)
			return tf_err_set(err, TF_ENOMEM, "user",
					  "out of memory");
		rc = t->ops->user_get(t, c->q.agency, c->user.id, u, err);
		if (rc == TF_ENOTFOUND) {
			c->has_user = 0;
			c->kind = LOGIN_FAIL;
			login_refuse(c, "unknown user");
			rc = 0;
		}
		if (rc < 0)
			goto out;
	}
	if (c->kind == LOGIN_FAIL_COUNT && u != NULL && u->lockout.locked) {
		/* locked meanwhile: no further count */
		c->kind = LOGIN_FAIL;
		login_refuse(c, "account locked");
	}
	if (c->kind == LOGIN_OK) {
		assert(u != NULL); /* only an existing account logs on */
		if (u->disabled) {
			c->kind = LOGIN_FAIL;
			login_refuse(c, "account disabled");
		} else if (strcmp(u->pwhash, c->user.pwhash) != 0 ||
			   strcmp(u->totp, c->user.totp) != 0) {
			c->kind = LOGIN_FAIL;
			login_refuse(c, "credentials changed during logon");
		} else if (c->matched_step <= u->totp_last_step) {
			c->kind = u->lockout.locked ? LOGIN_FAIL
						    : LOGIN_FAIL_COUNT;
			login_refuse(c, "wrong or reused totp");
		} else if (u->lockout.locked) {
			/* both factors were right: the officer may know */
			c->kind = LOGIN_FAIL;
			c->creds_ok = 1;
			c->reason = "account locked";
			c->rc = tf_err_set(&c->err, TF_ELOCKED, "user",
					   "account %s is locked after failed "
					   "logons; an administrator must "
					   "release it",
					   u->id);
		}
	}
	rc = c->kind == LOGIN_OK ? login_record_ok(t, c, u, err)
				 : login_record_fail(t, c, u, err);
out:
	free(u);
	return rc;
}

/*
 * Snapshot, checks and commit of one logon, holding the account's
 * stripe throughout (login_lock_of) and a password-check slot around
 * the checks (tf_auth_gate_enter).
 */
static int login_run(tf_srv *s, login_ctx *c, tf_err *err)
{
	pthread_mutex_t *mu =
		login_lock_of(c->q.agency, c->q.user, c->q.user_len);
	int rc;

	pthread_mutex_lock(mu);
	rc = tf_db_read(s->db, login_snapshot, c, err);
	if (rc < 0)
		goto out;
	c->r.agency = c->has_agency ? c->agency.id : NULL;
	if (tf_auth_gate_enter() < 0) {
		rc = tf_err_set(err, TF_EBUSY, "credentials",
				"too many logons in progress; try again "
				"shortly");
		goto out;
	}
	login_decide(c);
	tf_auth_gate_leave();
	rc = tf_db_write(s->db, login_commit, c, err);
out:
	pthread_mutex_unlock(mu);
	return rc;
}

int tf_auth_login(tf_srv *s, const char *source, int64_t now_ms,
		  const char *body, size_t len, tf_buf *reply, tf_err *err)
{
	login_ctx *c;
	tf_json *tree = NULL, *pw;
	int rc;

	assert(s != NULL && s->db != NULL && reply != NULL);
	if (now_ms < 0 || now_ms >= TIME_MAX_MS)
		return tf_err_set(err, TF_ERANGE, "now",
				  "server time out of "
				  "range");
	c = calloc(1, sizeof *c);
	if (c == NULL)
		return tf_err_set(err, TF_ENOMEM, "body", "out of memory");
	tf_buf_init(&c->reply);
	req_init(&c->r, s, now_ms, source, "POST", "/v1/auth/login");
	rc = login_parse(body, len, &tree, &c->q, err);
	if (rc < 0)
		goto out;
	if (src_check(c->r.source, now_ms, &c->suppressed) < 0) {
		/* no PBKDF2, no entry: src_check counted it for the
		   window's summary entry */
		rc = tf_err_set(err, TF_EBUSY, "credentials",
				"too many failed logons from this address; "
				"try again later");
		goto out;
	}
	rc = login_run(s, c, err);
	if (rc < 0) {
		src_unreport(c->r.source, c->suppressed);
		goto out;
	}
	if (c->kind != LOGIN_OK) {
		if (c->rc == TF_EAUTH)
			src_fail(c->r.source, now_ms);
		if (err != NULL)
			*err = c->err;
		rc = c->rc;
		goto out;
	}
	if (tf_buf_append(reply, c->reply.data, c->reply.len) < 0)
		rc = tf_err_set(err, reply->failed, "reply",
				"cannot hold the reply");
out:
	pw = tree != NULL ? tf_json_object_get(tree, "password") : NULL;
	if (pw != NULL && pw->type == TF_JSON_STRING)
		tf_memzero(pw->u.str, pw->len);
	tf_json_free(tree);
	if (c->reply.data != NULL)
		tf_memzero(c->reply.data, c->reply.len);
	tf_buf_free(&c->reply);
	tf_memzero(c, sizeof *c);
	free(c);
	return rc;
}

/* ---------------------------------------------------------- session */

typedef struct session_ctx {
	req_ctx r;
	char hash[TF_DB_HASH_HEX + 1];
	const char *device;
	tf_srv_caller *out;
	int revoke; /* the device is revoked: revoke its sessions */
} session_ctx;

/* "Bearer <43 base64url chars>", the scheme in any case, canonical
   base64url only (one token has one spelling); hash in hex. */
static int bearer_hash(const char *auth, char hash[TF_DB_HASH_HEX + 1],
		       tf_err *err)
{
	static const char scheme[] = "bearer ";
	uint8_t raw[TF_SRV_TOKEN_BYTES + 1], h[TF_SHA256_LEN];
	char again[TF_SRV_TOKEN_BYTES * 2];
	const size_t toklen = (TF_SRV_TOKEN_BYTES * 4 + 2) / 3;
	size_t i, got = 0;
	int rc = 0;

	if (auth == NULL || auth[0] == '\0')
		return tf_err_set(err, TF_EAUTH, "authorization",
				  "no Authorization: Bearer token");
	for (i = 0; i < sizeof scheme - 1; i++) {
		char ch = auth[i];

		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (ch != scheme[i])
			return tf_err_set(err, TF_EAUTH, "authorization",
					  "authorization is not a Bearer "
					  "token");
	}
	auth += sizeof scheme - 1;
	if (strnlen(auth, toklen + 1) != toklen ||
	    tf_b64url_decode(auth, toklen, raw, sizeof raw, &got) < 0 ||
	    got != TF_SRV_TOKEN_BYTES ||
	    tf_b64url_encode(raw, got, again, sizeof again) < 0 ||
	    memcmp(again, auth, toklen) != 0) {
		rc = tf_err_set(err, TF_EAUTH, "authorization",
				"the bearer token is malformed");
		goto out;
	}
	rc = tf_sha256(raw, got, h);
	if (rc < 0) {
		rc = tf_err_set(err, rc, "authorization",
				"cannot hash the token");
		goto out;
	}
	tf_hex_encode(h, sizeof h, hash);
out:
	tf_memzero(raw, sizeof raw);
	tf_memzero(again, sizeof again);
	return rc;
}

static int session_read(tf_db_txn *t, void *arg, tf_err *err)
{
	session_ctx *sc = arg;
	tf_srv_caller *o = sc->out;
	int rc;

	rc = t->ops->session_get(t, sc->hash, &o->session, err);
	if (rc == TF_ENOTFOUND)
		return tf_err_set(err, TF_EAUTH, "authorization",
				  "unknown session; log in");
	if (rc < 0)
		return rc;
	if (strcmp(o->session.device, sc->device) != 0)
		return tf_err_set(err, TF_EAUTH, "X-Tenfour-Device",
				  "the session was not issued to device %s",
				  sc->device);
	rc = t->ops->device_get(t, o->session.agency, o->session.device,
				&o->device, err);
	if (rc == TF_ENOTFOUND)
		return tf_err_set(err, TF_EAUTH, "X-Tenfour-Device",
				  "device %s is not enrolled", sc->device);
	if (rc < 0)
		return rc;
	if (o->device.status != TF_DEV_ENROLLED) {
		/* a revoked device always learns that it must wipe */
		sc->revoke = !o->session.revoked;
		return tf_err_set(err, TF_EREVOKED, "X-Tenfour-Device",
				  "device %s is revoked; it must wipe its data",
				  sc->device);
	}
	if (o->session.revoked)
		return tf_err_set(err, TF_EAUTH, "authorization",
				  "the session was revoked; log in");
	if (sc->r.now_ms >= o->session.expires_at)
		return tf_err_set(err, TF_EAUTH, "authorization",
				  "the session expired; log in");
	rc = t->ops->user_get(t, o->session.agency, o->session.user, &o->user,
			      err);
	if (rc == TF_ENOTFOUND || (rc == 0 && o->user.disabled))
		return tf_err_set(err, TF_EAUTH, "authorization",
				  "the account is not active; log in");
	return rc;
}

/* The revoked device's live sessions go; audited as session_revoke. */
static int session_revoke_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	session_ctx *sc = arg;
	const tf_db_session *ses = &sc->out->session;
	uint64_t n = 0;
	tf_json *d;
	int rc;

	rc = t->ops->session_revoke_all(t, ses->agency, NULL, ses->device, &n,
					err);
	if (rc < 0 || n == 0)
		return rc;
	sc->r.agency = ses->agency;
	d = detail_new("device revoked");
	rc = detail_int(d, "sessions", (int64_t)n);
	if (rc < 0)
		rc = tf_err_set(err, TF_ENOMEM, "audit", "out of memory");
	else
		rc = audit_put(t, &sc->r, TF_AUDIT_SESSION_REVOKE, 1, ses->user,
			       ses->device, NULL, ses->device, d, err);
	tf_json_free(d);
	return rc;
}

int tf_auth_session(tf_srv *s, const char *authorization, const char *device,
		    const char *source, int64_t now_ms, tf_srv_caller *out,
		    tf_err *err)
{
	session_ctx sc;
	tf_err werr;
	int rc;

	assert(s != NULL && s->db != NULL && out != NULL);
	memset(out, 0, sizeof *out);
	memset(&sc, 0, sizeof sc);
	rc = bearer_hash(authorization, sc.hash, err);
	if (rc < 0)
		return rc;
	if (device == NULL || !tf_id_valid(device, strlen(device)))
		return tf_err_set(err, TF_EAUTH, "X-Tenfour-Device",
				  "X-Tenfour-Device must name this device");
	req_init(&sc.r, s, now_ms, source, NULL, "session");
	sc.device = device;
	sc.out = out;
	rc = tf_db_read(s->db, session_read, &sc, err);
	if (rc == TF_EREVOKED && sc.revoke) {
		int wrc = tf_db_write(s->db, session_revoke_fn, &sc, &werr);

		if (wrc < 0) {
			rc = wrc;
			if (err != NULL)
				*err = werr;
		}
	}
	if (rc < 0) {
		memset(out, 0, sizeof *out);
		return rc;
	}
	snprintf(out->source, sizeof out->source, "%s", sc.r.source);
	return 0;
}

typedef struct logout_ctx {
	req_ctx r;
	const tf_srv_caller *c;
} logout_ctx;

static int logout_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	logout_ctx *lc = arg;
	const tf_srv_caller *c = lc->c;
	tf_db_session ses;
	int rc;

	rc = t->ops->session_get(t, c->session.token_hash, &ses, err);
	if (rc == TF_ENOTFOUND)
		return tf_err_set(err, TF_EAUTH, "authorization",
				  "unknown session");
	if (rc < 0)
		return rc;
	if (ses.revoked)
		return tf_err_set(err, TF_EAUTH, "authorization",
				  "the session was already ended");
	ses.revoked = 1;
	rc = t->ops->session_put(t, &ses, err);
	if (rc == 0)
		rc = audit_put(t, &lc->r, TF_AUDIT_LOGOFF, 1, c->user.id,
			       c->device.id, user_role(&c->user), NULL, NULL,
			       err);
	return rc;
}

int tf_auth_logout(tf_srv *s, const tf_srv_caller *c, int64_t now_ms,
		   tf_err *err)
{
	logout_ctx lc;

	assert(s != NULL && s->db != NULL && c != NULL);
	req_init(&lc.r, s, now_ms, c->source, "POST", "/v1/auth/logout");
	lc.r.agency = c->session.agency;
	lc.c = c;
	return tf_db_write(s->db, logout_fn, &lc, err);
}

/* ------------------------------------------------------ wipe receipt */

typedef struct wipe_ctx {
	req_ctx r;
	const char *agency, *device;
	int64_t wiped_at;
	uint8_t sig[TF_ED25519_SIG_LEN];
} wipe_ctx;

static const char *const wipe_members[] = {"agency", "device_id", "sig",
					   "wiped_at", NULL};

/* The one answer to a receipt of an unknown agency or device, or with a
   signature that does not verify. */
#define WIPE_REFUSED_MSG                                                       \
	"wipe receipt refused: unknown device or a signature that does not "   \
	"verify"

/*
 * The receipt is checked inside the write (a signature check is fast) so
 * that the device's state and the audit entry agree.  A receipt with
 * another wiped_at for a wiped device is audited without a second state
 * change; the very same receipt again is answered but not audited again
 * (a device retrying cannot grow the log).
 */
static int wipe_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	wipe_ctx *w = arg;
	tf_db_device d;
	tf_buf m;
	tf_json *det = NULL;
	int rc, repeat;

	tf_buf_init(&m);
	rc = t->ops->device_get(t, w->agency, w->device, &d, err);
	if (rc == TF_ENOTFOUND) {
		rc = tf_err_set(err, TF_EAUTH, "sig", WIPE_REFUSED_MSG);
		goto out;
	}
	if (rc < 0)
		goto out;
	tf_buf_printf(&m, "tenfour-wipe\n%s\n%s\n%" PRId64, w->agency,
		      w->device, w->wiped_at);
	rc = m.failed ? m.failed
		      : device_verify(&d, m.data, m.len, w->sig, err, "sig");
	if (rc == TF_EAUTH)
		rc = tf_err_set(err, TF_EAUTH, "sig", WIPE_REFUSED_MSG);
	if (rc < 0)
		goto out;
	if (d.status == TF_DEV_ENROLLED) {
		rc = tf_err_set(err, TF_EPERM, "device_id",
				"device %s is not revoked; only a revoked "
				"device sends a wipe receipt",
				w->device);
		goto out;
	}
	repeat = d.status == TF_DEV_WIPED;
	if (repeat && d.wiped_at == w->wiped_at)
		goto out; /* this very receipt was audited when it came */
	if (!repeat) {
		d.status = TF_DEV_WIPED;
		d.wiped_at = w->wiped_at;
		rc = t->ops->device_put(t, &d, err);
		if (rc < 0)
			goto out;
	}
	det = detail_new(repeat ? "repeated receipt" : NULL);
	rc = detail_int(det, "wiped_at", w->wiped_at);
	if (rc == 0)
		rc = detail_str(det, "agency", w->agency, strlen(w->agency));
	if (rc < 0) {
		rc = tf_err_set(err, TF_ENOMEM, "audit", "out of memory");
		goto out;
	}
	w->r.agency = w->agency;
	rc = audit_put(t, &w->r, TF_AUDIT_DEVICE_WIPE_RECEIPT, 1, "system",
		       w->device, NULL, w->device, det, err);
out:
	tf_json_free(det);
	tf_buf_free(&m);
	return rc;
}

int tf_auth_wipe_receipt(tf_srv *s, const char *source, int64_t now_ms,
			 const char *body, size_t len, tf_buf *reply,
			 tf_err *err)
{
	wipe_ctx w;
	tf_json *tree = NULL;
	int rc;

	assert(s != NULL && s->db != NULL && reply != NULL);
	memset(&w, 0, sizeof w);
	req_init(&w.r, s, now_ms, source, "POST", "/v1/devices/wipe-receipt");
	rc = body_parse(body, len, TF_SRV_MAX_SMALL_BODY, 256, 16, &tree, err);
	if (rc < 0)
		goto out;
	rc = body_known(tree, wipe_members, "", err);
	if (rc == 0)
		rc = body_id(tree, "agency", "agency", &w.agency, err);
	if (rc == 0)
		rc = body_id(tree, "device_id", "device_id", &w.device, err);
	if (rc == 0)
		rc = body_int(tree, "wiped_at", "wiped_at", 1, TIME_MAX_MS - 1,
			      &w.wiped_at, err);
	if (rc == 0)
		rc = body_b64(tree, "sig", "sig", w.sig, sizeof w.sig, err);
	if (rc == 0)
		rc = tf_db_write(s->db, wipe_fn, &w, err);
	if (rc == 0 && tf_buf_puts(reply, "{\"ok\":true}") < 0)
		rc = tf_err_set(err, reply->failed, "reply",
				"cannot hold the reply");
out:
	tf_json_free(tree);
	return rc;
}

/* ------------------------------------------------ device audit upload */

static const char *const upload_members[] = {"device_id", "entries", NULL};

typedef struct upload_ctx {
	const tf_srv_caller *c;
	tf_audit_blob *blobs;
	uint64_t *seqs;
	size_t n;
	size_t cmp; /* entries compared with the stored ones so far */
	tf_err cmp_err;
	uint64_t head_seq;
	uint8_t head_hash[TF_SHA256_LEN];
} upload_ctx;

/* Reads, checks and hashes the entries (outside any transaction). */
static int upload_parse(const tf_json *tree, upload_ctx *u, tf_err *err)
{
	const tf_json *arr;
	const char *dev = NULL;
	size_t i;
	int rc;

	rc = body_known(tree, upload_members, "", err);
	if (rc == 0)
		rc = body_id(tree, "device_id", "device_id", &dev, err);
	if (rc < 0)
		return rc;
	assert(dev != NULL);
	if (strcmp(dev, u->c->device.id) != 0)
		return tf_err_set(err, TF_EPERM, "device_id",
				  "device_id %s is not the session's device",
				  dev);
	arr = body_get(tree, "entries", TF_JSON_ARRAY, "entries", &rc, err);
	if (arr == NULL)
		return rc;
	if (arr->len > TF_SRV_MAX_AUDIT_UPLOAD)
		return tf_err_set(err, TF_ELIMIT, "entries",
				  "%zu entries; at most %d per upload",
				  arr->len, TF_SRV_MAX_AUDIT_UPLOAD);
	u->n = arr->len;
	if (u->n == 0)
		return 0;
	u->blobs = calloc(u->n, sizeof *u->blobs);
	u->seqs = calloc(u->n, sizeof *u->seqs);
	if (u->blobs == NULL || u->seqs == NULL)
		return tf_err_set(err, TF_ENOMEM, "entries", "out of memory");
	for (i = 0; i < u->n; i++) {
		const tf_json *v = arr->u.items[i];
		tf_audit_event ev;
		tf_json *etree = NULL;
		tf_err sub;
		char where[40];

		snprintf(where, sizeof where, "entries[%zu]", i);
		if (v->type != TF_JSON_STRING)
			return tf_err_set(err, TF_ETYPE, where,
					  "%s must be a string (an entry's "
					  "JSON text)",
					  where);
		tf_err_clear(&sub);
		rc = tf_audit_parse(v->u.str, v->len, &ev, &etree, &sub);
		if (rc < 0)
			return tf_err_set(err, rc, where, "%s: %s", where,
					  sub.msg);
		if (ev.device == NULL || strcmp(ev.device, dev) != 0)
			rc = tf_err_set(err, TF_EPERM, where,
					"%s: actor.device is not device %s",
					where, dev);
		else if (i > 0 && ev.seq != u->seqs[i - 1] + 1)
			rc = tf_err_set(err, TF_EVALIDATE, where,
					"%s: seq %" PRIu64
					" does not follow %" PRIu64,
					where, ev.seq, u->seqs[i - 1]);
		u->seqs[i] = ev.seq;
		tf_json_free(etree);
		if (rc < 0)
			return rc;
		u->blobs[i].bytes = v->u.str;
		u->blobs[i].len = v->len;
		rc = tf_sha256(v->u.str, v->len, u->blobs[i].hash);
		if (rc < 0)
			return tf_err_set(err, rc, where, "cannot hash %s",
					  where);
	}
	return 0;
}

/* A resent entry must be the stored one, byte for byte. */
static int upload_cmp(void *arg, const tf_db_audit *a)
{
	upload_ctx *u = arg;
	size_t i = u->cmp;

	if (i >= u->n)
		return 1;
	if (a->seq != u->seqs[i] || a->len != u->blobs[i].len ||
	    memcmp(a->bytes, u->blobs[i].bytes, a->len) != 0) {
		char where[40];

		snprintf(where, sizeof where, "entries[%zu]", i);
		return tf_err_set(&u->cmp_err, TF_EVALIDATE, where,
				  "%s (seq %" PRIu64
				  ") differs from the stored entry of that "
				  "seq",
				  where, u->seqs[i]);
	}
	u->cmp++;
	return 0;
}

static int upload_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	upload_ctx *u = arg;
	const tf_db_device *d = &u->c->device;
	tf_audit_anchor an;
	tf_audit_report rep;
	size_t k = 0, i;
	int rc;

	rc = t->ops->devaudit_head(t, d->agency, d->id, &u->head_seq,
				   u->head_hash, err);
	if (rc < 0 || u->n == 0)
		return rc;
	if (u->seqs[0] <= u->head_seq) {
		uint64_t old = u->head_seq - u->seqs[0] + 1;

		k = old < u->n ? (size_t)old : u->n;
		u->cmp = 0;
		rc = t->ops->devaudit_scan(t, d->agency, d->id, u->seqs[0], k,
					   upload_cmp, u, err);
		if (rc < 0 && u->cmp_err.code != 0) {
			if (err != NULL)
				*err = u->cmp_err;
			return u->cmp_err.code;
		}
		if (rc < 0)
			return rc;
		if (u->cmp != k)
			return tf_err_set(err, TF_EVALIDATE, "entries",
					  "entries[%zu] (seq %" PRIu64
					  ") is not stored although at or "
					  "below the head",
					  u->cmp, u->seqs[u->cmp]);
	}
	if (k == u->n)
		return 0;
	if (u->seqs[k] != u->head_seq + 1)
		return tf_err_set(err, TF_EGAP, "entries",
				  "entries[%zu] has seq %" PRIu64
				  " but the stored log ends at seq %" PRIu64,
				  k, u->seqs[k], u->head_seq);
	memset(&an, 0, sizeof an);
	an.has_first = 1;
	an.first_seq = u->head_seq + 1;
	memcpy(an.first_prev, u->head_hash, sizeof an.first_prev);
	rc = tf_audit_verify(u->blobs + k, u->n - k, &an, &rep);
	if (rc == TF_EVALIDATE) {
		char where[40];

		snprintf(where, sizeof where, "entries[%zu]", k + rep.index);
		return tf_err_set(err, TF_EVALIDATE, where,
				  "%s: %s (%s, counted from the first new "
				  "entry)",
				  where, tf_audit_fault_name(rep.fault),
				  rep.msg);
	}
	if (rc < 0)
		return tf_err_set(err, rc, "entries",
				  "cannot verify the entries");
	for (i = k; i < u->n; i++) {
		tf_db_audit a;

		a.seq = u->seqs[i];
		a.bytes = u->blobs[i].bytes;
		a.len = u->blobs[i].len;
		memcpy(a.hash, u->blobs[i].hash, sizeof a.hash);
		rc = t->ops->devaudit_put(t, d->agency, d->id, &a, err);
		if (rc < 0)
			return rc;
	}
	u->head_seq = u->seqs[u->n - 1];
	memcpy(u->head_hash, u->blobs[u->n - 1].hash, sizeof u->head_hash);
	return 0;
}

int tf_audit_device_upload(tf_srv *s, const tf_srv_caller *c, int64_t now_ms,
			   const char *body, size_t len, tf_buf *reply,
			   tf_err *err)
{
	upload_ctx u;
	tf_json *tree = NULL;
	char hex[2 * TF_SHA256_LEN + 1];
	int rc;

	assert(s != NULL && s->db != NULL && c != NULL && reply != NULL);
	(void)now_ms;
	memset(&u, 0, sizeof u);
	u.c = c;
	rc = body_parse(body, len, TF_SRV_MAX_BODY, TF_AUDIT_ENTRY_MAX,
			TF_SRV_MAX_AUDIT_UPLOAD, &tree, err);
	if (rc == 0)
		rc = upload_parse(tree, &u, err);
	if (rc == 0)
		rc = tf_db_write(s->db, upload_fn, &u, err);
	if (rc < 0)
		goto out;
	tf_hex_encode(u.head_hash, sizeof u.head_hash, hex);
	tf_buf_printf(reply, "{\"head\":{\"hash\":\"%s\",\"seq\":%" PRIu64 "}}",
		      hex, u.head_seq);
	if (reply->failed)
		rc = tf_err_set(err, reply->failed, "reply",
				"cannot hold the reply");
out:
	free(u.seqs);
	free(u.blobs);
	tf_json_free(tree);
	return rc;
}

/* ------------------------------------------------ server audit access */

typedef struct access_ctx {
	req_ctx r;
	const tf_srv_caller *c;
	tf_audit_type type;
	int success;
	const tf_json *detail;
} access_ctx;

static int access_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	access_ctx *a = arg;

	return audit_put(t, &a->r, a->type, a->success, a->c->user.id,
			 a->c->device.id, user_role(&a->c->user), NULL,
			 a->detail, err);
}

/* Audits one access to the server log (refused ones too). */
static int access_audit(tf_srv *s, const tf_srv_caller *c, int64_t now_ms,
			const char *path, tf_audit_type type, int success,
			const tf_json *detail, tf_err *err)
{
	access_ctx a;

	req_init(&a.r, s, now_ms, c->source, "GET", path);
	a.r.agency = c->user.agency;
	a.c = c;
	a.type = type;
	a.success = success;
	a.detail = detail;
	return tf_db_write(s->db, access_fn, &a, err);
}

/* Auditors and administrators read the server log; a refusal is audited. */
static int access_check(tf_srv *s, const tf_srv_caller *c, int64_t now_ms,
			const char *path, tf_audit_type type, tf_err *err)
{
	tf_json *d;
	int rc;

	if (user_has_role(&c->user, "auditor") ||
	    user_has_role(&c->user, "admin"))
		return 0;
	d = detail_new("role not permitted");
	rc = d == NULL ? tf_err_set(err, TF_ENOMEM, "audit", "out of memory")
		       : access_audit(s, c, now_ms, path, type, 0, d, err);
	tf_json_free(d);
	if (rc < 0)
		return rc;
	return tf_err_set(err, TF_EPERM, "roles",
			  "user %s may not read the audit log (auditor or "
			  "admin only)",
			  c->user.id);
}

typedef struct export_ctx {
	const char *agency; /* the caller's chain */
	uint64_t from;
	size_t limit, n;
	tf_buf *out;
} export_ctx;

static int export_row(void *arg, const tf_db_audit *a)
{
	export_ctx *x = arg;

	tf_buf_append(x->out, a->bytes, a->len);
	tf_buf_putc(x->out, '\n');
	x->n++;
	return x->out->failed;
}

static int export_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	export_ctx *x = arg;
	int rc = t->ops->audit_scan(t, x->agency, x->from, x->limit, export_row,
				    x, err);

	if (rc < 0 && x->out->failed)
		return tf_err_set(err, x->out->failed, "limit",
				  "the export does not fit; ask for fewer "
				  "entries");
	return rc;
}

int tf_audit_export(tf_srv *s, const tf_srv_caller *c, int64_t now_ms,
		    uint64_t from, size_t limit, tf_buf *out, tf_err *err)
{
	static const char path[] = "/v1/audit/export";
	export_ctx x;
	tf_buf lines;
	tf_json *d = NULL;
	int rc;

	assert(s != NULL && s->db != NULL && c != NULL && out != NULL);
	tf_buf_init(&lines);
	rc = access_check(s, c, now_ms, path, TF_AUDIT_AUDIT_EXPORT, err);
	if (rc < 0)
		goto out;
	if (limit > EXPORT_MAX_LIMIT) {
		rc = tf_err_set(err, TF_ERANGE, "limit",
				"limit %zu is over %zu", limit,
				EXPORT_MAX_LIMIT);
		goto out;
	}
	if (from > TF_SEQ_MAX) {
		rc = tf_err_set(err, TF_ERANGE, "from",
				"from is past the highest seq");
		goto out;
	}
	x.agency = c->user.agency;
	x.from = from == 0 ? 1 : from;
	x.limit = limit == 0 ? EXPORT_DEFAULT_LIMIT : limit;
	x.n = 0;
	x.out = &lines;
	rc = tf_db_read(s->db, export_fn, &x, err);
	if (rc < 0)
		goto out;
	d = detail_new(NULL);
	rc = detail_int(d, "from", (int64_t)x.from);
	if (rc == 0)
		rc = detail_int(d, "entries", (int64_t)x.n);
	if (rc < 0) {
		rc = tf_err_set(err, TF_ENOMEM, "audit", "out of memory");
		goto out;
	}
	rc = access_audit(s, c, now_ms, path, TF_AUDIT_AUDIT_EXPORT, 1, d, err);
	if (rc == 0 && tf_buf_append(out, lines.data, lines.len) < 0)
		rc = tf_err_set(err, out->failed, "reply",
				"cannot hold the export");
out:
	tf_json_free(d);
	tf_buf_free(&lines);
	return rc;
}

typedef struct verify_ctx {
	const char *agency; /* the caller's chain */
	tf_buf arena;	    /* bytes of the segment's entries */
	size_t *off;	    /* offset of each entry in the arena */
	size_t *len;
	size_t n;
	uint64_t last_row; /* the stored seq of the last row seen */
	/* the result */
	size_t total;
	int ok;
	tf_audit_report rep;
	size_t bad_index;
} verify_ctx;

static int verify_row(void *arg, const tf_db_audit *a)
{
	verify_ctx *v = arg;

	if (v->n >= VERIFY_SEGMENT)
		return 1;
	v->off[v->n] = v->arena.len;
	v->len[v->n] = a->len;
	tf_buf_append(&v->arena, a->bytes, a->len);
	v->n++;
	v->last_row = a->seq;
	return v->arena.failed;
}

/*
 * The caller's agency's chain (never another agency's), one snapshot, in
 * segments: each segment is verified
 * anchored on the last entry of the one before (seq + 1 and its hash), the
 * first on seq 1 and the genesis.  Hashes are recomputed from the stored
 * bytes, never taken from the table.
 */
static int verify_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	verify_ctx *v = arg;
	tf_audit_blob *blobs;
	tf_audit_anchor an;
	uint64_t from = 1;
	size_t i;
	int rc = 0;

	blobs = calloc(VERIFY_SEGMENT, sizeof *blobs);
	if (blobs == NULL)
		return tf_err_set(err, TF_ENOMEM, "audit", "out of memory");
	memset(&an, 0, sizeof an);
	an.has_first = 1;
	an.first_seq = 1;
	v->ok = 1;
	for (;;) {
		tf_buf_reset(&v->arena);
		v->n = 0;
		rc = t->ops->audit_scan(t, v->agency, from, VERIFY_SEGMENT,
					verify_row, v, err);
		if (rc < 0 && v->arena.failed)
			rc = tf_err_set(err, v->arena.failed, "audit",
					"out of memory");
		if (rc < 0)
			break;
		if (v->n == 0)
			break;
		for (i = 0; i < v->n; i++) {
			blobs[i].bytes = v->arena.data + v->off[i];
			blobs[i].len = v->len[i];
			rc = tf_sha256(blobs[i].bytes, blobs[i].len,
				       blobs[i].hash);
			if (rc < 0)
				break;
		}
		if (rc < 0) {
			rc = tf_err_set(err, rc, "audit", "cannot hash");
			break;
		}
		rc = tf_audit_verify(blobs, v->n, &an, &v->rep);
		if (rc == TF_EVALIDATE) {
			v->ok = 0;
			if (v->total > 0) {
				/* the report counts from the segment */
				char m[sizeof v->rep.msg + 64];

				snprintf(m, sizeof m,
					 "in the segment from entry %zu: %s",
					 v->total, v->rep.msg);
				memcpy(v->rep.msg, m, sizeof v->rep.msg - 1);
				v->rep.msg[sizeof v->rep.msg - 1] = '\0';
			}
			v->bad_index = v->total + v->rep.index;
			v->total += v->rep.index;
			rc = 0;
			break;
		}
		if (rc < 0) {
			rc = tf_err_set(err, rc, "audit", "cannot verify");
			break;
		}
		v->total += v->n;
		an.first_seq = v->rep.seq + 1;
		memcpy(an.first_prev, blobs[v->n - 1].hash,
		       sizeof an.first_prev);
		if (v->n < VERIFY_SEGMENT || v->last_row >= TF_SEQ_MAX)
			break;
		from = v->last_row + 1;
	}
	free(blobs);
	return rc;
}

int tf_audit_verify_server(tf_srv *s, const tf_srv_caller *c, int64_t now_ms,
			   tf_buf *out, tf_err *err)
{
	static const char path[] = "/v1/audit/verify";
	verify_ctx v;
	tf_json *d = NULL;
	int rc;

	assert(s != NULL && s->db != NULL && c != NULL && out != NULL);
	memset(&v, 0, sizeof v);
	v.agency = c->user.agency;
	tf_buf_init(&v.arena);
	rc = access_check(s, c, now_ms, path, TF_AUDIT_AUDIT_READ, err);
	if (rc < 0)
		goto out;
	v.off = calloc(VERIFY_SEGMENT, sizeof *v.off);
	v.len = calloc(VERIFY_SEGMENT, sizeof *v.len);
	if (v.off == NULL || v.len == NULL) {
		rc = tf_err_set(err, TF_ENOMEM, "audit", "out of memory");
		goto out;
	}
	rc = tf_db_read(s->db, verify_fn, &v, err);
	if (rc < 0)
		goto out;
	d = detail_new(v.ok ? NULL : tf_audit_fault_name(v.rep.fault));
	rc = detail_int(d, "entries", (int64_t)v.total);
	if (rc == 0)
		rc = tf_json_object_set(d, "ok", tf_json_bool(v.ok));
	if (rc < 0) {
		rc = tf_err_set(err, TF_ENOMEM, "audit", "out of memory");
		goto out;
	}
	rc = access_audit(s, c, now_ms, path, TF_AUDIT_AUDIT_READ, 1, d, err);
	if (rc < 0)
		goto out;
	tf_buf_printf(out, "{\"entries\":%zu,\"fault\":", v.total);
	if (v.ok) {
		tf_buf_printf(
			out,
			"null,\"index\":null,\"message\":null,\"ok\":true,"
			"\"seq\":%" PRIu64 "}",
			v.total > 0 ? v.rep.seq : (uint64_t)0);
	} else {
		tf_buf_printf(out, "\"%s\",\"index\":%zu,\"message\":",
			      tf_audit_fault_name(v.rep.fault), v.bad_index);
		tf_json_write_string(out, v.rep.msg, strlen(v.rep.msg));
		tf_buf_printf(out, ",\"ok\":false,\"seq\":%" PRIu64 "}",
			      v.rep.seq);
	}
	if (out->failed)
		rc = tf_err_set(err, out->failed, "reply",
				"cannot hold the reply");
out:
	tf_json_free(d);
	free(v.len);
	free(v.off);
	tf_buf_free(&v.arena);
	return rc;
}

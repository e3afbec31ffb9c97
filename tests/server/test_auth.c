/*
 * test_auth.c - src/server/auth.c on a temporary SQLite database: the
 * server identity and published key, password hashes, login (the order
 * of checks, AC-7 lockout and its window, TOTP window and replay, the AC-8
 * banner, the device proof), sessions (device binding, expiry, logout,
 * revoked devices), wipe receipts, the device audit upload and the server
 * audit export and verify (with a row tampered through SQLite itself),
 * and bad bodies that must change nothing.
 *
 * PBKDF2 runs at the 600,000-iteration floor, so logins are few: session
 * tests make their sessions directly in the database.
 */
#include "server/auth.h"
#include "server/server.h"
#include "tenfour/json.h"
#include "tf_test.h"

#include <pthread.h>
#include <sqlite3.h>
#include <unistd.h>

#define AGENCY "metro"
#define AGENCY2 "north" /* another agency: its log is none of metro's */
#define GENERIC "login failed: wrong user, password or one-time code"
#define PASSWORD "correct horse battery staple"
/* 2025-11-24, 10 s into a TOTP step */
#define T0 ((int64_t)1764000000000 + 10000)
#define STEP(ms) ((ms) / 1000 / TF_TOTP_STEP_S)
#define MIN_MS ((int64_t)60 * 1000)
/* A string literal and its length, for body arguments. */
#define LIT(s) (s), strlen(s)

static const uint8_t totp_key[20] = "12345678901234567890";
static char g_pwhash[TF_DB_PWHASH_MAX + 1];

typedef struct fx {
	char dir[64];
	char path[128];
	tf_db *db;
	tf_srv s;
	tf_sigkey *dev;	  /* key of mdt-2a12 */
	tf_sigkey *dev14; /* key of mdt-2a14 */
} fx;

typedef struct seed_ctx {
	fx *f;
	const char *pub12, *pub14;
} seed_ctx;

static void user_fill(tf_db_user *u, const char *id, const char *role,
		      const char *unit)
{
	memset(u, 0, sizeof *u);
	snprintf(u->agency, sizeof u->agency, "%s", AGENCY);
	snprintf(u->id, sizeof u->id, "%s", id);
	snprintf(u->name, sizeof u->name, "Name of %s", id);
	snprintf(u->roles[0], sizeof u->roles[0], "%s", role);
	u->nroles = 1;
	snprintf(u->unit, sizeof u->unit, "%s", unit);
	snprintf(u->pwhash, sizeof u->pwhash, "%s", g_pwhash);
	if (tf_b32_encode(totp_key, sizeof totp_key, u->totp, sizeof u->totp))
		abort();
	u->created_at = T0 - 1000;
}

static void device_fill(tf_db_device *d, const char *id, const char *pub)
{
	memset(d, 0, sizeof *d);
	snprintf(d->agency, sizeof d->agency, "%s", AGENCY);
	snprintf(d->id, sizeof d->id, "%s", id);
	snprintf(d->label, sizeof d->label, "MDT %s", id);
	snprintf(d->pubkey, sizeof d->pubkey, "%s", pub);
	d->status = TF_DEV_ENROLLED;
	d->enrolled_at = T0 - 1000;
}

static int seed_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	seed_ctx *sc = arg;
	tf_db_agency *a = calloc(1, sizeof *a);
	tf_db_user u;
	tf_db_device d;
	int rc;

	if (a == NULL)
		return TF_ENOMEM;
	snprintf(a->id, sizeof a->id, "%s", AGENCY);
	snprintf(a->name, sizeof a->name, "Metro PD");
	tf_agency_policy_default(&a->policy);
	snprintf(a->banner, sizeof a->banner,
		 "You are accessing a restricted information system.");
	a->banner_rev = 3;
	rc = t->ops->agency_put(t, a, err);
	free(a);
	user_fill(&u, "alvarez", "officer", "2A12");
	if (rc == 0)
		rc = t->ops->user_put(t, &u, err);
	user_fill(&u, "brooks", "officer", "2A14");
	if (rc == 0)
		rc = t->ops->user_put(t, &u, err);
	user_fill(&u, "audra", "auditor", "");
	if (rc == 0)
		rc = t->ops->user_put(t, &u, err);
	device_fill(&d, "mdt-2a12", sc->pub12);
	if (rc == 0)
		rc = t->ops->device_put(t, &d, err);
	device_fill(&d, "mdt-2a14", sc->pub14);
	if (rc == 0)
		rc = t->ops->device_put(t, &d, err);
	if (rc < 0)
		return rc;
	/* agency north: an auditor on a device of its own */
	a = calloc(1, sizeof *a);
	if (a == NULL)
		return TF_ENOMEM;
	snprintf(a->id, sizeof a->id, "%s", AGENCY2);
	snprintf(a->name, sizeof a->name, "North PD");
	tf_agency_policy_default(&a->policy);
	a->banner_rev = 1;
	rc = t->ops->agency_put(t, a, err);
	free(a);
	user_fill(&u, "nadia", "auditor", "");
	snprintf(u.agency, sizeof u.agency, "%s", AGENCY2);
	if (rc == 0)
		rc = t->ops->user_put(t, &u, err);
	device_fill(&d, "mdt-n1", sc->pub14);
	snprintf(d.agency, sizeof d.agency, "%s", AGENCY2);
	if (rc == 0)
		rc = t->ops->device_put(t, &d, err);
	return rc;
}

static void pub64(const tf_sigkey *k, char out[64])
{
	uint8_t pub[TF_ED25519_PUB_LEN];

	if (tf_sigkey_public(k, pub) != 0 ||
	    tf_b64url_encode(pub, sizeof pub, out, 64) != 0)
		abort();
}

static int fx_open(fx *f)
{
	char p12[64], p14[64];
	seed_ctx sc;
	tf_err err;

	memset(f, 0, sizeof *f);
	tf_auth_limits_set(NULL); /* every test starts with no counts */
	snprintf(f->dir, sizeof f->dir, "/tmp/tf-auth-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof f->path, "%s/db.sqlite", f->dir);
	if (tf_db_open(f->path, NULL, &f->db, &err) != 0) {
		fprintf(stderr, "open: %s\n", err.msg);
		return -1;
	}
	f->s.db = f->db;
	f->s.max_skew_ms = 60000;
	f->s.totp_window = 1;
	f->s.pbkdf2_iter = TF_PBKDF2_MIN_ITER;
	f->s.node = "tenfourd";
	if (tf_srv_init_identity(&f->s, &err) != 0) {
		fprintf(stderr, "identity: %s\n", err.msg);
		return -1;
	}
	if (g_pwhash[0] == '\0' &&
	    tf_auth_hash_password(&f->s, PASSWORD, strlen(PASSWORD),
				  g_pwhash) != 0)
		return -1;
	if (tf_sigkey_generate(&f->dev) != 0 ||
	    tf_sigkey_generate(&f->dev14) != 0)
		return -1;
	pub64(f->dev, p12);
	pub64(f->dev14, p14);
	sc.f = f;
	sc.pub12 = p12;
	sc.pub14 = p14;
	if (tf_db_write(f->db, seed_fn, &sc, &err) != 0) {
		fprintf(stderr, "seed: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static void fx_close(fx *f)
{
	char p[192];

	tf_srv_fini(&f->s);
	if (f->db != NULL)
		tf_db_close(f->db);
	tf_sigkey_free(f->dev);
	tf_sigkey_free(f->dev14);
	snprintf(p, sizeof p, "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", f->path);
	unlink(p);
	unlink(f->path);
	rmdir(f->dir);
}

/* ------------------------------------------------------------ helpers */

typedef struct login_opt {
	const char *user, *password, *device, *totp;
	tf_sigkey *key; /* signs the proof */
	int64_t banner_rev, ts;
	int64_t totp_at; /* ms whose step the code is of */
} login_opt;

static void login_defaults(fx *f, login_opt *o, int64_t now)
{
	memset(o, 0, sizeof *o);
	o->user = "alvarez";
	o->password = PASSWORD;
	o->device = "mdt-2a12";
	o->key = f->dev;
	o->banner_rev = 3;
	o->ts = now;
	o->totp_at = now;
}

static void login_body(const login_opt *o, tf_buf *b)
{
	uint8_t sig[TF_ED25519_SIG_LEN];
	char msg[512], sig64[128], code[TF_TOTP_DIGITS + 1];

	snprintf(msg, sizeof msg, "tenfour-login\n%s\n%s\n%s\n%lld", AGENCY,
		 o->user, o->device, (long long)o->ts);
	if (tf_sigkey_sign(o->key, msg, strlen(msg), sig) != 0 ||
	    tf_b64url_encode(sig, sizeof sig, sig64, sizeof sig64) != 0 ||
	    tf_totp_code(totp_key, sizeof totp_key, STEP(o->totp_at), code))
		abort();
	tf_buf_printf(b,
		      "{\"agency\":\"%s\",\"banner_rev\":%lld,"
		      "\"device_id\":\"%s\",\"password\":\"%s\","
		      "\"proof\":{\"sig\":\"%s\",\"ts\":%lld},"
		      "\"totp\":\"%s\",\"user\":\"%s\"}",
		      AGENCY, (long long)o->banner_rev, o->device, o->password,
		      sig64, (long long)o->ts, o->totp ? o->totp : code,
		      o->user);
}

static int do_login_from(fx *f, const char *source, const login_opt *o,
			 int64_t now, tf_buf *reply, tf_err *err)
{
	tf_buf b;
	int rc;

	tf_buf_init(&b);
	login_body(o, &b);
	tf_buf_reset(reply);
	rc = tf_auth_login(&f->s, source, now, b.data, b.len, reply, err);
	tf_buf_free(&b);
	return rc;
}

static int do_login(fx *f, const login_opt *o, int64_t now, tf_buf *reply,
		    tf_err *err)
{
	return do_login_from(f, "203.0.113.7", o, now, reply, err);
}

typedef struct user_ctx {
	const char *id;
	tf_db_user *u;
	tf_db_device *d;
	tf_db_session *ses;
	const char *hash;
} user_ctx;

static int user_get_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	user_ctx *c = arg;

	return t->ops->user_get(t, AGENCY, c->id, c->u, err);
}

static tf_db_user get_user(fx *f, const char *id)
{
	tf_db_user u;
	user_ctx c = {id, &u, NULL, NULL, NULL};

	memset(&u, 0, sizeof u);
	if (tf_db_read(f->db, user_get_fn, &c, NULL) != 0)
		abort();
	return u;
}

static int user_put_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	user_ctx *c = arg;

	return t->ops->user_put(t, c->u, err);
}

static void put_user(fx *f, tf_db_user *u)
{
	user_ctx c = {u->id, u, NULL, NULL, NULL};

	if (tf_db_write(f->db, user_put_fn, &c, NULL) != 0)
		abort();
}

static int device_get_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	user_ctx *c = arg;

	return t->ops->device_get(t, AGENCY, c->id, c->d, err);
}

static tf_db_device get_device(fx *f, const char *id)
{
	tf_db_device d;
	user_ctx c = {id, NULL, &d, NULL, NULL};

	memset(&d, 0, sizeof d);
	if (tf_db_read(f->db, device_get_fn, &c, NULL) != 0)
		abort();
	return d;
}

static int device_put_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	user_ctx *c = arg;

	return t->ops->device_put(t, c->d, err);
}

static void revoke_device(fx *f, const char *id)
{
	tf_db_device d = get_device(f, id);
	user_ctx c = {id, NULL, &d, NULL, NULL};

	d.status = TF_DEV_REVOKED;
	d.revoked_at = T0;
	if (tf_db_write(f->db, device_put_fn, &c, NULL) != 0)
		abort();
}

static int session_get_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	user_ctx *c = arg;

	return t->ops->session_get(t, c->hash, c->ses, err);
}

/* The stored session of a token (TF_ENOTFOUND when none). */
static int get_session(fx *f, const char *token, tf_db_session *out)
{
	uint8_t raw[64], h[TF_SHA256_LEN];
	char hex[TF_DB_HASH_HEX + 1];
	size_t n = 0;
	user_ctx c = {NULL, NULL, NULL, out, hex};

	if (tf_b64url_decode(token, strlen(token), raw, sizeof raw, &n) != 0 ||
	    tf_sha256(raw, n, h) != 0)
		abort();
	tf_hex_encode(h, sizeof h, hex);
	return tf_db_read(f->db, session_get_fn, &c, NULL);
}

static int session_put_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	user_ctx *c = arg;

	return t->ops->session_put(t, c->ses, err);
}

/* A session made directly (no PBKDF2); "Bearer ..." into auth. */
static void make_session_in(fx *f, const char *agency, const char *user,
			    const char *device, int64_t expires, char auth[64])
{
	uint8_t raw[TF_SRV_TOKEN_BYTES], h[TF_SHA256_LEN];
	char tok[48];
	tf_db_session s;
	user_ctx c = {NULL, NULL, NULL, &s, NULL};

	memset(&s, 0, sizeof s);
	if (tf_random_bytes(raw, sizeof raw) != 0 ||
	    tf_sha256(raw, sizeof raw, h) != 0 ||
	    tf_b64url_encode(raw, sizeof raw, tok, sizeof tok) != 0)
		abort();
	tf_hex_encode(h, sizeof h, s.token_hash);
	snprintf(s.agency, sizeof s.agency, "%s", agency);
	snprintf(s.user, sizeof s.user, "%s", user);
	snprintf(s.device, sizeof s.device, "%s", device);
	s.created_at = T0;
	s.expires_at = expires;
	if (tf_db_write(f->db, session_put_fn, &c, NULL) != 0)
		abort();
	snprintf(auth, 64, "Bearer %s", tok);
}

static void make_session(fx *f, const char *user, const char *device,
			 int64_t expires, char auth[64])
{
	make_session_in(f, AGENCY, user, device, expires, auth);
}

typedef struct count_ctx {
	tf_audit_type type;
	int success; /* -1: any */
	size_t n, all;
	const char *reason; /* NULL: any; else detail.reason must be it */
	const char *chain;  /* NULL: metro's and the system chain */
} count_ctx;

static int count_row(void *arg, const tf_db_audit *a)
{
	count_ctx *c = arg;
	tf_audit_event ev;
	tf_json *tree = NULL;

	c->all++;
	if (tf_audit_parse(a->bytes, a->len, &ev, &tree, NULL) != 0)
		return TF_EINVAL;
	if (ev.type == c->type &&
	    (c->success < 0 || ev.success == c->success) &&
	    (c->reason == NULL ||
	     (ev.detail != NULL &&
	      tf_json_get_str(ev.detail, "reason", NULL) != NULL &&
	      strcmp(tf_json_get_str(ev.detail, "reason", NULL), c->reason) ==
		      0)))
		c->n++;
	tf_json_free(tree);
	return 0;
}

static int count_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	count_ctx *c = arg;
	int rc;

	if (c->chain != NULL)
		return t->ops->audit_scan(t, c->chain, 1, 0, count_row, arg,
					  err);
	rc = t->ops->audit_scan(t, AGENCY, 1, 0, count_row, arg, err);
	if (rc == 0)
		rc = t->ops->audit_scan(t, "", 1, 0, count_row, arg, err);
	return rc;
}

/* Entries of a type (success -1: either outcome) in metro's and the
   system's chains. */
static size_t audit_count(fx *f, tf_audit_type type, int success)
{
	count_ctx c = {type, success, 0, 0, NULL, NULL};

	if (tf_db_read(f->db, count_fn, &c, NULL) != 0)
		abort();
	return c.n;
}

/* Entries of a type and detail.reason in one chain. */
static size_t audit_count_in(fx *f, const char *chain, tf_audit_type type,
			     const char *reason)
{
	count_ctx c = {type, -1, 0, 0, reason, chain};

	if (tf_db_read(f->db, count_fn, &c, NULL) != 0)
		abort();
	return c.n;
}

/* The generic answer to a credential failure. */
static void check_generic(int rc, const tf_err *err)
{
	CHECK_INT(rc, TF_EAUTH);
	CHECK_STR(err->where, "credentials");
	CHECK_STR(err->msg, GENERIC);
}

static size_t audit_total(fx *f)
{
	count_ctx c = {TF_AUDIT_NONE, -1, 0, 0, NULL, NULL};

	if (tf_db_read(f->db, count_fn, &c, NULL) != 0)
		abort();
	return c.all;
}

/* -------------------------------------------------------------- tests */

TEST(identity_and_keys)
{
	fx f;
	tf_srv s2;
	tf_buf b;
	tf_err err;
	tf_json *j = NULL;

	tf_buf_init(&b);
	CHECK_INT(fx_open(&f), 0);
	CHECK(strncmp(f.s.key_id, "k-", 2) == 0 && strlen(f.s.key_id) == 18);
	CHECK_INT(strlen(f.s.epoch), 16);
	/* a restart loads the same identity */
	memset(&s2, 0, sizeof s2);
	s2.db = f.db;
	CHECK_INT(tf_srv_init_identity(&s2, &err), 0);
	CHECK_STR(s2.key_id, f.s.key_id);
	CHECK_STR(s2.epoch, f.s.epoch);
	tf_srv_fini(&s2);
	CHECK_INT(tf_srv_keys(&f.s, &b, &err), 0);
	CHECK_INT(tf_json_parse(b.data, b.len, NULL, &j, NULL), 0);
	if (j != NULL) {
		const tf_json *k = tf_json_object_get(j, "keys");

		CHECK(k != NULL && k->type == TF_JSON_ARRAY && k->len == 1);
		if (k != NULL && k->len == 1) {
			CHECK_STR(tf_json_get_str(k->u.items[0], "alg", NULL),
				  "Ed25519");
			CHECK_STR(
				tf_json_get_str(k->u.items[0], "key_id", NULL),
				f.s.key_id);
		}
	}
	tf_json_free(j);
	/* banner */
	tf_buf_reset(&b);
	CHECK_INT(tf_auth_banner(&f.s, AGENCY, &b, &err), 0);
	CHECK(strstr(tf_buf_cstr(&b), "\"banner_rev\":3") != NULL);
	CHECK_INT(tf_auth_banner(&f.s, "nope", &b, &err), TF_ENOTFOUND);
	CHECK_INT(tf_auth_banner(&f.s, "bad id!", &b, &err), TF_EVALIDATE);
	CHECK_INT(tf_auth_banner(&f.s, NULL, &b, &err), TF_EMISSING);
	tf_buf_free(&b);
	fx_close(&f);
}

TEST(password_hash_format)
{
	tf_srv s;
	char h[TF_DB_PWHASH_MAX + 1];
	char bad[TF_DB_PWHASH_MAX + 1];

	memset(&s, 0, sizeof s);
	s.pbkdf2_iter = TF_PBKDF2_MIN_ITER;
	CHECK_INT(tf_auth_hash_password(&s, "pw-one-two", 10, h), 0);
	CHECK(strncmp(h, "pbkdf2-sha256$600000$", 21) == 0);
	CHECK_INT(strlen(h), 21 + 22 + 1 + 43);
	CHECK_INT(tf_auth_check_password(h, "pw-one-two", 10), 0);
	CHECK_INT(tf_auth_check_password(h, "pw-one-twO", 10), TF_EAUTH);
	/* the floor is part of the contract */
	s.pbkdf2_iter = TF_PBKDF2_MIN_ITER - 1;
	CHECK_INT(tf_auth_hash_password(&s, "x", 1, bad), TF_ERANGE);
	snprintf(bad, sizeof bad, "%s", h);
	bad[14] = '5'; /* 500000 iterations: below the floor */
	CHECK_INT(tf_auth_check_password(bad, "pw-one-two", 10), TF_EINVAL);
	CHECK_INT(tf_auth_check_password("sha1$1$a$b", "x", 1), TF_EINVAL);
	CHECK_INT(tf_auth_check_password("pbkdf2-sha256$600000$AAAA$AAAA", "x",
					 1),
		  TF_EINVAL);
	snprintf(bad, sizeof bad, "%s", h);
	bad[strlen(bad) - 1] = '\0'; /* key one character short */
	CHECK_INT(tf_auth_check_password(bad, "x", 1), TF_EINVAL);
}

/* Login, the grant checked against the published key, the session. */
TEST(login_ok_grant_session)
{
	fx f;
	login_opt o;
	tf_buf r, keys;
	tf_err err;
	tf_json *j = NULL, *kj = NULL;
	tf_srv_caller c;
	char auth[80];
	tf_db_user u;

	tf_buf_init(&r);
	tf_buf_init(&keys);
	CHECK_INT(fx_open(&f), 0);
	login_defaults(&f, &o, T0);
	CHECK_INT(do_login(&f, &o, T0, &r, &err), 0);
	CHECK_INT(tf_json_parse(r.data, r.len, NULL, &j, NULL), 0);
	CHECK_INT(tf_srv_keys(&f.s, &keys, &err), 0);
	CHECK_INT(tf_json_parse(keys.data, keys.len, NULL, &kj, NULL), 0);
	if (j != NULL && kj != NULL) {
		const tf_json *g = tf_json_object_get(j, "grant");
		const tf_json *us = tf_json_object_get(j, "user");
		const tf_json *k = tf_json_object_get(kj, "keys")->u.items[0];
		const char *tok = tf_json_get_str(j, "token", NULL);
		const char *claims, *sig64, *pk64;
		size_t clen = 0, n = 0;
		uint8_t pub[64], sig[128];
		tf_sigkey *vk = NULL;
		tf_grant gr;
		int64_t exp = 0;
		tf_db_session ses;

		CHECK_INT(tf_json_int64(tf_json_object_get(j, "expires_at"),
					&exp),
			  0);
		CHECK_INT(exp, T0 + 12 * 60 * MIN_MS);
		CHECK(us != NULL);
		CHECK_STR(tf_json_get_str(us, "id", NULL), "alvarez");
		CHECK_STR(tf_json_get_str(us, "unit", NULL), "2A12");
		CHECK(g != NULL && g->type == TF_JSON_OBJECT);
		claims = tf_json_get_str(g, "claims", &clen);
		sig64 = tf_json_get_str(g, "sig", NULL);
		pk64 = tf_json_get_str(k, "public_key", NULL);
		CHECK_STR(tf_json_get_str(g, "key_id", NULL), f.s.key_id);
		CHECK(claims != NULL && sig64 != NULL && pk64 != NULL);
		CHECK_INT(tf_b64url_decode(pk64, strlen(pk64), pub, sizeof pub,
					   &n),
			  0);
		CHECK_INT(n, TF_ED25519_PUB_LEN);
		CHECK_INT(tf_sigkey_from_public(pub, &vk), 0);
		CHECK_INT(tf_b64url_decode(sig64, strlen(sig64), sig,
					   sizeof sig, &n),
			  0);
		CHECK_INT(tf_sigkey_verify(vk, claims, clen, sig, n), 0);
		/* a changed claim no longer verifies */
		{
			char *cp = malloc(clen + 1);

			memcpy(cp, claims, clen + 1);
			cp[2] ^= 1;
			CHECK_INT(tf_sigkey_verify(vk, cp, clen, sig, n),
				  TF_EAUTH);
			free(cp);
		}
		tf_sigkey_free(vk);
		CHECK_INT(tf_grant_parse(claims, clen, &gr, &err), 0);
		CHECK_STR(gr.user, "alvarez");
		CHECK_STR(gr.device, "mdt-2a12");
		CHECK_STR(gr.agency, AGENCY);
		CHECK_STR(gr.key_id, f.s.key_id);
		CHECK_INT(gr.nroles, 1);
		CHECK_STR(gr.roles[0], "officer");
		CHECK_INT(gr.issued_at, T0);
		CHECK(gr.not_after - gr.issued_at <= 12 * 60 * MIN_MS);
		CHECK(gr.lock_after <= 30 * MIN_MS);

		/* only the hash is stored, bound to the device */
		CHECK(tok != NULL && strlen(tok) == 43);
		CHECK_INT(get_session(&f, tok, &ses), 0);
		CHECK_STR(ses.device, "mdt-2a12");
		CHECK_INT(ses.expires_at, exp);
		snprintf(auth, sizeof auth, "Bearer %s", tok);
		CHECK_INT(tf_auth_session(&f.s, auth, "mdt-2a12", "10.0.0.1",
					  T0 + 1000, &c, &err),
			  0);
		CHECK_STR(c.user.id, "alvarez");
		CHECK_STR(c.device.id, "mdt-2a12");
		CHECK_STR(c.source, "10.0.0.1");
		CHECK_INT(tf_auth_session(&f.s, auth, "mdt-2a14", "10.0.0.1",
					  T0 + 1000, &c, &err),
			  TF_EAUTH);
		CHECK_STR(err.where, "X-Tenfour-Device");
		CHECK_INT(tf_auth_session(&f.s, auth, NULL, "10.0.0.1",
					  T0 + 1000, &c, &err),
			  TF_EAUTH);
		auth[10] = auth[10] == 'A' ? 'B' : 'A';
		CHECK_INT(tf_auth_session(&f.s, auth, "mdt-2a12", "10.0.0.1",
					  T0 + 1000, &c, &err),
			  TF_EAUTH);
		CHECK_INT(tf_auth_session(&f.s, "Basic abc", "mdt-2a12",
					  "10.0.0.1", T0 + 1000, &c, &err),
			  TF_EAUTH);
		CHECK_INT(tf_auth_session(&f.s, NULL, "mdt-2a12", "10.0.0.1",
					  T0 + 1000, &c, &err),
			  TF_EAUTH);
	}
	tf_json_free(j);
	tf_json_free(kj);
	u = get_user(&f, "alvarez");
	CHECK_INT(u.totp_last_step, STEP(T0));
	CHECK_INT(u.lockout.nfail, 0);
	CHECK_INT(audit_count(&f, TF_AUDIT_LOGON_OK, 1), 1);
	CHECK_INT(audit_count(&f, TF_AUDIT_BANNER_ACK, 1), 1);
	CHECK_INT(audit_count(&f, TF_AUDIT_GRANT_ISSUE, 1), 1);

	/* the same code again: a replay, refused and counted */
	check_generic(do_login(&f, &o, T0 + 2000, &r, &err), &err);
	CHECK_INT(get_user(&f, "alvarez").lockout.nfail, 1);
	CHECK_INT(audit_count(&f, TF_AUDIT_LOGON_FAIL, 0), 1);
	tf_buf_free(&r);
	tf_buf_free(&keys);
	fx_close(&f);
}

static int offline_off_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	tf_db_agency *a = arg;
	int rc = t->ops->agency_get(t, AGENCY, a, err);

	a->policy.offline_window_ms = 0;
	return rc ? rc : t->ops->agency_put(t, a, err);
}

/* An agency without offline use gets no grant; the banner is checked. */
TEST(grant_null_and_banner)
{
	fx f;
	login_opt o;
	tf_buf r;
	tf_err err;
	tf_json *j = NULL;
	tf_db_agency *a = calloc(1, sizeof *a);

	tf_buf_init(&r);
	CHECK_INT(fx_open(&f), 0);
	CHECK_INT(tf_db_write(f.db, offline_off_fn, a, &err), 0);
	login_defaults(&f, &o, T0);
	/* a stale banner_rev: refused, audited, not counted, no session */
	o.banner_rev = 2;
	CHECK_INT(do_login(&f, &o, T0, &r, &err), TF_EVALIDATE);
	CHECK_STR(err.where, "banner_rev");
	CHECK_INT(get_user(&f, "alvarez").lockout.nfail, 0);
	CHECK_INT(get_user(&f, "alvarez").totp_last_step, 0);
	CHECK_INT(audit_count(&f, TF_AUDIT_LOGON_FAIL, 0), 1);
	CHECK_INT(audit_count(&f, TF_AUDIT_BANNER_ACK, -1), 0);
	/* the banner is checked before any secret: a wrong password with
	   a stale banner_rev is refused for the banner, and not counted */
	o.password = "not the password at all";
	CHECK_INT(do_login(&f, &o, T0, &r, &err), TF_EVALIDATE);
	CHECK_STR(err.where, "banner_rev");
	CHECK_INT(get_user(&f, "alvarez").lockout.nfail, 0);
	o.password = PASSWORD;
	o.banner_rev = 3;
	CHECK_INT(do_login(&f, &o, T0, &r, &err), 0);
	CHECK_INT(tf_json_parse(r.data, r.len, NULL, &j, NULL), 0);
	if (j != NULL) {
		const tf_json *g = tf_json_object_get(j, "grant");

		CHECK(g != NULL && g->type == TF_JSON_NULL);
	}
	CHECK_INT(audit_count(&f, TF_AUDIT_BANNER_ACK, 1), 1);
	CHECK_INT(audit_count(&f, TF_AUDIT_GRANT_ISSUE, -1), 0);
	tf_json_free(j);
	free(a);
	tf_buf_free(&r);
	fx_close(&f);
}

/* TOTP: one step either side, not two; a used step never again. */
TEST(totp_window_and_replay)
{
	fx f;
	login_opt o;
	tf_buf r;
	tf_err err;
	int64_t now = T0;

	tf_buf_init(&r);
	CHECK_INT(fx_open(&f), 0);
	login_defaults(&f, &o, now);
	o.totp_at = now - 2 * TF_TOTP_STEP_S * 1000;
	check_generic(do_login(&f, &o, now, &r, &err), &err);
	o.totp_at = now + 2 * TF_TOTP_STEP_S * 1000;
	CHECK_INT(do_login(&f, &o, now, &r, &err), TF_EAUTH);
	CHECK_INT(get_user(&f, "alvarez").lockout.nfail, 2);
	o.totp_at = now - TF_TOTP_STEP_S * 1000;
	CHECK_INT(do_login(&f, &o, now, &r, &err), 0);
	CHECK_INT(get_user(&f, "alvarez").lockout.nfail, 0);
	CHECK_INT(get_user(&f, "alvarez").totp_last_step, STEP(now) - 1);
	CHECK_INT(do_login(&f, &o, now, &r, &err), TF_EAUTH); /* replay */
	o.totp_at = now + TF_TOTP_STEP_S * 1000;
	CHECK_INT(do_login(&f, &o, now, &r, &err), 0);
	/* the current step is now below the last used one: refused */
	o.totp_at = now;
	CHECK_INT(do_login(&f, &o, now, &r, &err), TF_EAUTH);
	CHECK_INT(audit_count(&f, TF_AUDIT_LOGON_OK, 1), 2);
	CHECK_INT(audit_count(&f, TF_AUDIT_LOGON_FAIL, 0), 4);
	tf_buf_free(&r);
	fx_close(&f);
}

/* AC-7: 5 failures within 15 min lock until released. */
TEST(lockout)
{
	fx f;
	login_opt o;
	tf_buf r;
	tf_err err;
	tf_db_user u;
	int i;

	tf_buf_init(&r);
	CHECK_INT(fx_open(&f), 0);
	login_defaults(&f, &o, T0);
	o.password = "wrong password here";
	for (i = 0; i < 4; i++) {
		int64_t now = T0 + i * 3 * MIN_MS;

		o.ts = now;
		check_generic(do_login(&f, &o, now, &r, &err), &err);
		CHECK_INT(get_user(&f, "alvarez").lockout.nfail, i + 1);
	}
	/* the fifth wrong password locks, and is answered like the others:
	   whoever sent it learns nothing new */
	o.ts = T0 + 14 * MIN_MS;
	check_generic(do_login(&f, &o, o.ts, &r, &err), &err);
	u = get_user(&f, "alvarez");
	CHECK(u.lockout.locked);
	CHECK_INT(audit_count(&f, TF_AUDIT_LOGON_FAIL, 0), 5);
	CHECK_INT(audit_count(&f, TF_AUDIT_LOCKOUT, -1), 1);
	/* locked: a wrong password is the same generic failure, uncounted */
	o.ts = T0 + 20 * MIN_MS;
	check_generic(do_login(&f, &o, o.ts, &r, &err), &err);
	CHECK_INT(get_user(&f, "alvarez").lockout.nfail, 5);
	CHECK_INT(audit_count_in(&f, AGENCY, TF_AUDIT_LOGON_FAIL,
				 "account locked"),
		  1);
	/* the right password and code do not open a locked account, an
	   hour on; only now is the officer told it is locked */
	login_defaults(&f, &o, T0 + 60 * MIN_MS);
	CHECK_INT(do_login(&f, &o, T0 + 60 * MIN_MS, &r, &err), TF_ELOCKED);
	CHECK_STR(err.where, "user");
	CHECK_INT(audit_count(&f, TF_AUDIT_LOGON_FAIL, 0), 7);
	CHECK_INT(audit_count(&f, TF_AUDIT_LOCKOUT, -1), 1);
	CHECK(r.len == 0);
	/* an administrator releases it (the row, as tf_admin_user_release) */
	tf_lockout_release(&u.lockout);
	put_user(&f, &u);
	CHECK_INT(do_login(&f, &o, T0 + 60 * MIN_MS, &r, &err), 0);
	CHECK(r.len > 0);

	/* failures older than the window do not count */
	login_defaults(&f, &o, T0);
	o.user = "brooks";
	o.device = "mdt-2a14";
	o.key = f.dev14;
	o.password = "not brooks password";
	for (i = 0; i < 4; i++) {
		check_generic(do_login(&f, &o, T0, &r, &err), &err);
	}
	o.ts = T0 + 16 * MIN_MS;
	check_generic(do_login(&f, &o, o.ts, &r, &err), &err);
	u = get_user(&f, "brooks");
	CHECK(!u.lockout.locked);
	CHECK_INT(u.lockout.nfail, 1);
	CHECK_INT(audit_count(&f, TF_AUDIT_LOCKOUT, -1), 1);
	tf_buf_free(&r);
	fx_close(&f);
}

/* Device checks come before the account: no PBKDF2, no count. */
TEST(login_device_proof)
{
	fx f;
	login_opt o;
	tf_buf r;
	tf_err err;
	tf_sigkey *other = NULL;

	tf_buf_init(&r);
	CHECK_INT(fx_open(&f), 0);
	CHECK_INT(tf_sigkey_generate(&other), 0);
	login_defaults(&f, &o, T0);
	o.key = other; /* signed by a key that is not the device's */
	check_generic(do_login(&f, &o, T0, &r, &err), &err);
	login_defaults(&f, &o, T0);
	o.ts = T0 - TF_SRV_LOGIN_PROOF_WINDOW_MS - 1; /* stale */
	check_generic(do_login(&f, &o, T0, &r, &err), &err);
	o.ts = T0 + TF_SRV_LOGIN_PROOF_WINDOW_MS + 1; /* from the future */
	check_generic(do_login(&f, &o, T0, &r, &err), &err);
	login_defaults(&f, &o, T0);
	o.device = "mdt-9z99";
	check_generic(do_login(&f, &o, T0, &r, &err), &err);
	/* the proof names the user: another user's name breaks it */
	login_defaults(&f, &o, T0);
	{
		tf_buf b;

		tf_buf_init(&b);
		login_body(&o, &b);
		memcpy(strstr(b.data, "\"alvarez\""), "\"alvarex\"", 9);
		check_generic(tf_auth_login(&f.s, "203.0.113.7", T0, b.data,
					    b.len, &r, &err),
			      &err);
		tf_buf_free(&b);
	}
	revoke_device(&f, "mdt-2a12");
	/* a revoked device hears it only with a proof of its key */
	login_defaults(&f, &o, T0);
	o.key = other;
	check_generic(do_login(&f, &o, T0, &r, &err), &err);
	login_defaults(&f, &o, T0);
	CHECK_INT(do_login(&f, &o, T0, &r, &err), TF_EREVOKED);
	CHECK_STR(err.where, "device_id");
	/* an unknown agency */
	{
		tf_buf b;

		tf_buf_init(&b);
		login_body(&o, &b);
		memcpy(strstr(b.data, "\"metro\""), "\"mutro\"", 7);
		check_generic(tf_auth_login(&f.s, "203.0.113.7", T0, b.data,
					    b.len, &r, &err),
			      &err);
		tf_buf_free(&b);
	}
	CHECK_INT(get_user(&f, "alvarez").lockout.nfail, 0);
	CHECK_INT(audit_count(&f, TF_AUDIT_LOGON_FAIL, 0), 8);
	/* the unknown agency's attempt is in the system chain */
	CHECK_INT(audit_count_in(&f, "", TF_AUDIT_LOGON_FAIL, "unknown agency"),
		  1);
	CHECK_INT(audit_count_in(&f, AGENCY, TF_AUDIT_LOGON_FAIL,
				 "unknown agency"),
		  0);
	CHECK_INT(r.len, 0);
	tf_sigkey_free(other);
	tf_buf_free(&r);
	fx_close(&f);
}

/* An unknown user name: the same answer as a wrong password, audited
   as "unknown" with the name in detail. */
TEST(login_unknown_user)
{
	fx f;
	login_opt o;
	tf_buf r;
	tf_err err;

	tf_buf_init(&r);
	CHECK_INT(fx_open(&f), 0);
	login_defaults(&f, &o, T0);
	o.user = "nobody";
	check_generic(do_login(&f, &o, T0, &r, &err), &err);
	o.user = "not an id!";
	check_generic(do_login(&f, &o, T0, &r, &err), &err);
	/* a disabled account: the same */
	{
		tf_db_user u = get_user(&f, "brooks");

		u.disabled = 1;
		put_user(&f, &u);
		login_defaults(&f, &o, T0);
		o.user = "brooks";
		o.device = "mdt-2a14";
		o.key = f.dev14;
		check_generic(do_login(&f, &o, T0, &r, &err), &err);
	}
	CHECK_INT(audit_count(&f, TF_AUDIT_LOGON_FAIL, 0), 3);
	tf_buf_free(&r);
	fx_close(&f);
}

TEST(session_expiry_logout_revoked)
{
	fx f;
	tf_err err;
	tf_srv_caller c;
	tf_db_session ses;
	char auth[64], auth2[64];
	const int64_t exp = T0 + 60 * MIN_MS;

	CHECK_INT(fx_open(&f), 0);
	make_session(&f, "alvarez", "mdt-2a12", exp, auth);
	CHECK_INT(tf_auth_session(&f.s, auth, "mdt-2a12", "::1", exp - 1, &c,
				  &err),
		  0);
	CHECK_INT(tf_auth_session(&f.s, auth, "mdt-2a12", "::1", exp, &c, &err),
		  TF_EAUTH);
	/* the scheme in any case; a non-canonical spelling refused */
	auth[0] = 'b';
	CHECK_INT(tf_auth_session(&f.s, auth, "mdt-2a12", "::1", T0, &c, &err),
		  0);
	/* logout ends it */
	CHECK_INT(tf_auth_logout(&f.s, &c, T0 + 5, &err), 0);
	CHECK_INT(tf_auth_session(&f.s, auth, "mdt-2a12", "::1", T0 + 6, &c,
				  &err),
		  TF_EAUTH);
	CHECK_INT(audit_count(&f, TF_AUDIT_LOGOFF, 1), 1);
	/* a disabled user's session is refused */
	make_session(&f, "brooks", "mdt-2a14", exp, auth2);
	{
		tf_db_user u = get_user(&f, "brooks");

		u.disabled = 1;
		put_user(&f, &u);
		CHECK_INT(tf_auth_session(&f.s, auth2, "mdt-2a14", "::1", T0,
					  &c, &err),
			  TF_EAUTH);
		u.disabled = 0;
		put_user(&f, &u);
	}
	/* a revoked device: its live sessions go, and even the ended one
	   is told to wipe */
	make_session(&f, "alvarez", "mdt-2a12", exp, auth2);
	revoke_device(&f, "mdt-2a12");
	CHECK_INT(tf_auth_session(&f.s, auth2, "mdt-2a12", "::1", T0 + 10, &c,
				  &err),
		  TF_EREVOKED);
	CHECK_INT(get_session(&f, auth2 + 7, &ses), 0);
	CHECK(ses.revoked);
	CHECK_INT(audit_count(&f, TF_AUDIT_SESSION_REVOKE, 1), 1);
	CHECK_INT(tf_auth_session(&f.s, auth2, "mdt-2a12", "::1", T0 + 11, &c,
				  &err),
		  TF_EREVOKED);
	CHECK_INT(tf_auth_session(&f.s, auth, "mdt-2a12", "::1", T0 + 12, &c,
				  &err),
		  TF_EREVOKED);
	CHECK_INT(tf_auth_session(&f.s, auth, "mdt-2a12", "::1", exp + 1, &c,
				  &err),
		  TF_EREVOKED);
	CHECK_INT(audit_count(&f, TF_AUDIT_SESSION_REVOKE, 1), 1);
	fx_close(&f);
}

static void wipe_body(tf_sigkey *k, const char *device, int64_t at, tf_buf *b)
{
	uint8_t sig[TF_ED25519_SIG_LEN];
	char msg[256], sig64[128];

	snprintf(msg, sizeof msg, "tenfour-wipe\n%s\n%s\n%lld", AGENCY, device,
		 (long long)at);
	if (tf_sigkey_sign(k, msg, strlen(msg), sig) != 0 ||
	    tf_b64url_encode(sig, sizeof sig, sig64, sizeof sig64) != 0)
		abort();
	tf_buf_reset(b);
	tf_buf_printf(b,
		      "{\"agency\":\"%s\",\"device_id\":\"%s\","
		      "\"sig\":\"%s\",\"wiped_at\":%lld}",
		      AGENCY, device, sig64, (long long)at);
}

TEST(wipe_receipt)
{
	fx f;
	tf_buf b, r;
	tf_err err;
	size_t before;

	tf_buf_init(&b);
	tf_buf_init(&r);
	CHECK_INT(fx_open(&f), 0);
	/* not revoked: refused */
	wipe_body(f.dev, "mdt-2a12", T0, &b);
	CHECK_INT(
		tf_auth_wipe_receipt(&f.s, "::1", T0, b.data, b.len, &r, &err),
		TF_EPERM);
	revoke_device(&f, "mdt-2a12");
	/* signed by another device's key */
	wipe_body(f.dev14, "mdt-2a12", T0, &b);
	CHECK_INT(
		tf_auth_wipe_receipt(&f.s, "::1", T0, b.data, b.len, &r, &err),
		TF_EAUTH);
	CHECK_STR(err.where, "sig");
	/* signed, but for another time than the body says */
	wipe_body(f.dev, "mdt-2a12", T0, &b);
	memcpy(strstr(b.data, "\"wiped_at\":") + 11, "2", 1);
	CHECK_INT(
		tf_auth_wipe_receipt(&f.s, "::1", T0, b.data, b.len, &r, &err),
		TF_EAUTH);
	{
		tf_err err2;

		CHECK_STR(err.where, "sig");
		err2 = err;
		wipe_body(f.dev, "mdt-9z99", T0, &b);
		CHECK_INT(tf_auth_wipe_receipt(&f.s, "::1", T0, b.data, b.len,
					       &r, &err),
			  TF_EAUTH);
		/* an unknown device: the very same answer */
		CHECK_STR(err.where, err2.where);
		CHECK_STR(err.msg, err2.msg);
	}
	CHECK_INT(get_device(&f, "mdt-2a12").status, TF_DEV_REVOKED);
	CHECK_INT(audit_count(&f, TF_AUDIT_DEVICE_WIPE_RECEIPT, -1), 0);
	/* the good one */
	wipe_body(f.dev, "mdt-2a12", T0 - 500, &b);
	CHECK_INT(
		tf_auth_wipe_receipt(&f.s, "::1", T0, b.data, b.len, &r, &err),
		0);
	CHECK_STR(tf_buf_cstr(&r), "{\"ok\":true}");
	CHECK_INT(get_device(&f, "mdt-2a12").status, TF_DEV_WIPED);
	CHECK_INT(get_device(&f, "mdt-2a12").wiped_at, T0 - 500);
	/* again: accepted, audited, no second change */
	wipe_body(f.dev, "mdt-2a12", T0 + 500, &b);
	tf_buf_reset(&r);
	CHECK_INT(tf_auth_wipe_receipt(&f.s, "::1", T0 + 1000, b.data, b.len,
				       &r, &err),
		  0);
	CHECK_INT(get_device(&f, "mdt-2a12").wiped_at, T0 - 500);
	CHECK_INT(audit_count(&f, TF_AUDIT_DEVICE_WIPE_RECEIPT, 1), 2);
	/* the first receipt once more: answered, not audited again */
	wipe_body(f.dev, "mdt-2a12", T0 - 500, &b);
	tf_buf_reset(&r);
	CHECK_INT(tf_auth_wipe_receipt(&f.s, "::1", T0 + 2000, b.data, b.len,
				       &r, &err),
		  0);
	CHECK_STR(tf_buf_cstr(&r), "{\"ok\":true}");
	CHECK_INT(audit_count(&f, TF_AUDIT_DEVICE_WIPE_RECEIPT, 1), 2);
	/* bad bodies change nothing */
	before = audit_total(&f);
	CHECK_INT(tf_auth_wipe_receipt(&f.s, "::1", T0, "{", 1, &r, &err),
		  TF_EJSON);
	CHECK_INT(tf_auth_wipe_receipt(&f.s, "::1", T0,
				       LIT("{\"agency\":\"metro\",\"x\":1}"),
				       &r, &err),
		  TF_EUNKNOWN);
	CHECK_STR(err.where, "x");
	CHECK_INT(
		tf_auth_wipe_receipt(
			&f.s, "::1", T0,
			LIT("{\"agency\":\"metro\",\"device_id\":\"mdt-2a12\","
			    "\"sig\":\"AA\",\"wiped_at\":\"1\"}"),
			&r, &err),
		TF_ETYPE);
	CHECK_STR(err.where, "wiped_at");
	CHECK_INT(audit_total(&f), before);
	tf_buf_free(&b);
	tf_buf_free(&r);
	fx_close(&f);
}

/* ---------------------------------------------------- device audit */

typedef struct dlog {
	tf_buf e[12]; /* entries 1..12 of a device log */
	uint8_t h[12][TF_SHA256_LEN];
} dlog;

static void dlog_make(dlog *l, const char *device, size_t n)
{
	char prev[TF_AUDIT_PREV_LEN + 1];
	size_t i;

	memcpy(prev, tf_audit_genesis, sizeof prev);
	for (i = 0; i < n; i++) {
		tf_audit_event ev;

		memset(&ev, 0, sizeof ev);
		ev.seq = i + 1;
		ev.ts_ms = T0 + (int64_t)i * 1000;
		ev.type = i % 2 ? TF_AUDIT_LOCK : TF_AUDIT_UNLOCK_OK;
		ev.success = 1;
		ev.user = "alvarez";
		ev.device = device;
		ev.role = "officer";
		ev.source = "local";
		ev.where = "mdt/unlock";
		ev.prev = prev;
		tf_buf_init(&l->e[i]);
		if (tf_audit_write(&ev, &l->e[i], NULL) != 0 ||
		    tf_sha256(l->e[i].data, l->e[i].len, l->h[i]) != 0)
			abort();
		tf_hex_encode(l->h[i], TF_SHA256_LEN, prev);
	}
}

static void dlog_free(dlog *l, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		tf_buf_free(&l->e[i]);
}

/* {"device_id","entries":[entries from..to (1-based)]} */
static void upload_body(const dlog *l, const char *device, size_t from,
			size_t to, tf_buf *b)
{
	size_t i;

	tf_buf_reset(b);
	tf_buf_printf(b, "{\"device_id\":\"%s\",\"entries\":[", device);
	for (i = from; i <= to; i++) {
		if (i > from)
			tf_buf_putc(b, ',');
		tf_json_write_string(b, l->e[i - 1].data, l->e[i - 1].len);
	}
	tf_buf_puts(b, "]}");
}

static int upload(fx *f, const tf_srv_caller *c, const tf_buf *b, tf_buf *r,
		  tf_err *err)
{
	tf_buf_reset(r);
	return tf_audit_device_upload(&f->s, c, T0, b->data, b->len, r, err);
}

TEST(device_audit_upload)
{
	fx f;
	dlog l, other;
	tf_buf b, r;
	tf_err err;
	tf_srv_caller c;
	char auth[64], want[160], hex[65];
	size_t i;

	tf_buf_init(&b);
	tf_buf_init(&r);
	CHECK_INT(fx_open(&f), 0);
	dlog_make(&l, "mdt-2a12", 8);
	dlog_make(&other, "mdt-2a14", 2);
	make_session(&f, "alvarez", "mdt-2a12", T0 + 60 * MIN_MS, auth);
	CHECK_INT(tf_auth_session(&f.s, auth, "mdt-2a12", "::1", T0, &c, &err),
		  0);
	/* empty: the genesis head */
	upload_body(&l, "mdt-2a12", 1, 0, &b);
	CHECK_INT(upload(&f, &c, &b, &r, &err), 0);
	snprintf(want, sizeof want, "{\"head\":{\"hash\":\"%s\",\"seq\":0}}",
		 tf_audit_genesis);
	CHECK_STR(tf_buf_cstr(&r), want);
	upload_body(&l, "mdt-2a12", 1, 3, &b);
	CHECK_INT(upload(&f, &c, &b, &r, &err), 0);
	tf_hex_encode(l.h[2], TF_SHA256_LEN, hex);
	snprintf(want, sizeof want, "{\"head\":{\"hash\":\"%s\",\"seq\":3}}",
		 hex);
	CHECK_STR(tf_buf_cstr(&r), want);
	/* resend of 2..3 with 4..5: continues */
	upload_body(&l, "mdt-2a12", 2, 5, &b);
	CHECK_INT(upload(&f, &c, &b, &r, &err), 0);
	tf_hex_encode(l.h[4], TF_SHA256_LEN, hex);
	snprintf(want, sizeof want, "{\"head\":{\"hash\":\"%s\",\"seq\":5}}",
		 hex);
	CHECK_STR(tf_buf_cstr(&r), want);
	/* an identical resend only: fine, the head unchanged */
	upload_body(&l, "mdt-2a12", 4, 5, &b);
	CHECK_INT(upload(&f, &c, &b, &r, &err), 0);
	CHECK_STR(tf_buf_cstr(&r), want);
	/* an altered resend */
	upload_body(&l, "mdt-2a12", 3, 6, &b);
	{
		char *p = strstr(b.data, "unlock_ok");

		CHECK(p != NULL);
		if (p != NULL)
			memcpy(p, "unlock_fa", 9);
	}
	CHECK(upload(&f, &c, &b, &r, &err) < 0);
	CHECK_STR(err.where, "entries[0]");
	/* a gap */
	upload_body(&l, "mdt-2a12", 7, 8, &b);
	CHECK_INT(upload(&f, &c, &b, &r, &err), TF_EGAP);
	/* a new entry that does not chain on the head */
	upload_body(&other, "mdt-2a12", 1, 1, &b);
	CHECK_INT(upload(&f, &c, &b, &r, &err), TF_EPERM);
	CHECK_STR(err.where, "entries[0]");
	/* another device's entries, or another device_id */
	upload_body(&l, "mdt-2a14", 6, 6, &b);
	CHECK_INT(upload(&f, &c, &b, &r, &err), TF_EPERM);
	CHECK_STR(err.where, "device_id");
	/* a wrong type, an unknown member */
	CHECK_INT(tf_audit_device_upload(
			  &f.s, &c, T0,
			  LIT("{\"device_id\":\"mdt-2a12\",\"entries\":[1]}"),
			  &r, &err),
		  TF_ETYPE);
	CHECK_STR(err.where, "entries[0]");
	CHECK_INT(tf_audit_device_upload(
			  &f.s, &c, T0,
			  LIT("{\"device_id\":\"mdt-2a12\",\"entries\":[],"
			      "\"x\":0}"),
			  &r, &err),
		  TF_EUNKNOWN);
	/* too many entries */
	tf_buf_reset(&b);
	tf_buf_puts(&b, "{\"device_id\":\"mdt-2a12\",\"entries\":[");
	for (i = 0; i <= TF_SRV_MAX_AUDIT_UPLOAD; i++)
		tf_buf_puts(&b, i ? ",\"\"" : "\"\"");
	tf_buf_puts(&b, "]}");
	CHECK_INT(upload(&f, &c, &b, &r, &err), TF_ELIMIT);
	/* still at 5; 6..8 continue */
	upload_body(&l, "mdt-2a12", 6, 8, &b);
	CHECK_INT(upload(&f, &c, &b, &r, &err), 0);
	CHECK(strstr(tf_buf_cstr(&r), "\"seq\":8") != NULL);
	dlog_free(&l, 8);
	dlog_free(&other, 2);
	tf_buf_free(&b);
	tf_buf_free(&r);
	fx_close(&f);
}

/* ------------------------------------------------ server audit access */

static int tamper(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;
	int rc;

	rc = sqlite3_open(path, &db);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fprintf(stderr, "tamper: %s\n", msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	sqlite3_close(db);
	return rc;
}

TEST(audit_export_verify)
{
	fx f;
	tf_buf out;
	tf_err err;
	tf_srv_caller off, aud;
	char a1[64], a2[64];
	size_t n, lines = 0, i;
	tf_json *j = NULL;

	tf_buf_init(&out);
	CHECK_INT(fx_open(&f), 0);
	make_session(&f, "alvarez", "mdt-2a12", T0 + 60 * MIN_MS, a1);
	make_session(&f, "audra", "mdt-2a14", T0 + 60 * MIN_MS, a2);
	CHECK_INT(tf_auth_session(&f.s, a1, "mdt-2a12", "::1", T0, &off, &err),
		  0);
	CHECK_INT(tf_auth_session(&f.s, a2, "mdt-2a14", "::1", T0, &aud, &err),
		  0);
	/* a few entries to export: logoffs, refused reads */
	CHECK_INT(tf_audit_export(&f.s, &off, T0, 0, 0, &out, &err), TF_EPERM);
	CHECK_STR(err.where, "roles");
	CHECK_INT(tf_audit_verify_server(&f.s, &off, T0, &out, &err), TF_EPERM);
	CHECK_INT(out.len, 0);
	CHECK_INT(audit_count(&f, TF_AUDIT_AUDIT_EXPORT, 0), 1);
	CHECK_INT(audit_count(&f, TF_AUDIT_AUDIT_READ, 0), 1);
	CHECK_INT(tf_auth_logout(&f.s, &off, T0 + 1, &err), 0);
	n = audit_total(&f);
	CHECK_INT(n, 3);
	CHECK_INT(tf_audit_export(&f.s, &aud, T0 + 2, 0, 0, &out, &err), 0);
	for (i = 0; i < out.len; i++)
		lines += out.data[i] == '\n';
	CHECK_INT(lines, n);
	CHECK_INT(audit_count(&f, TF_AUDIT_AUDIT_EXPORT, 1), 1);
	/* from and limit */
	tf_buf_reset(&out);
	CHECK_INT(tf_audit_export(&f.s, &aud, T0 + 3, 2, 1, &out, &err), 0);
	CHECK(strstr(tf_buf_cstr(&out), "\"seq\":2") != NULL);
	CHECK_INT(tf_audit_export(&f.s, &aud, T0 + 3, 1, 1000000, &out, &err),
		  TF_ERANGE);
	tf_buf_reset(&out);
	CHECK_INT(tf_audit_verify_server(&f.s, &aud, T0 + 4, &out, &err), 0);
	CHECK_INT(tf_json_parse(out.data, out.len, NULL, &j, NULL), 0);
	if (j != NULL) {
		CHECK(tf_json_object_get(j, "ok")->type == TF_JSON_TRUE);
		CHECK(tf_json_object_get(j, "fault")->type == TF_JSON_NULL);
	}
	tf_json_free(j);
	j = NULL;
	/* alter one stored entry behind the server's back */
	CHECK_INT(tamper(f.path, "DROP TRIGGER audit_no_update;"
				 "UPDATE audit SET bytes = "
				 "replace(bytes, 'logoff', 'lockout') "
				 "WHERE agency = 'metro' AND seq = 3"),
		  SQLITE_OK);
	tf_buf_reset(&out);
	CHECK_INT(tf_audit_verify_server(&f.s, &aud, T0 + 5, &out, &err), 0);
	CHECK_INT(tf_json_parse(out.data, out.len, NULL, &j, NULL), 0);
	if (j != NULL) {
		int64_t idx = -1;

		CHECK(tf_json_object_get(j, "ok")->type == TF_JSON_FALSE);
		CHECK_STR(tf_json_get_str(j, "fault", NULL), "altered");
		CHECK_INT(tf_json_int64(tf_json_object_get(j, "index"), &idx),
			  0);
		CHECK_INT(idx, 2);
	}
	tf_json_free(j);
	j = NULL;
	/* remove one */
	CHECK_INT(tamper(f.path, "DROP TRIGGER audit_no_delete;"
				 "DELETE FROM audit WHERE agency = 'metro' "
				 "AND seq = 2"),
		  SQLITE_OK);
	tf_buf_reset(&out);
	CHECK_INT(tf_audit_verify_server(&f.s, &aud, T0 + 6, &out, &err), 0);
	CHECK_INT(tf_json_parse(out.data, out.len, NULL, &j, NULL), 0);
	if (j != NULL) {
		int64_t idx = -1;

		CHECK(tf_json_object_get(j, "ok")->type == TF_JSON_FALSE);
		CHECK_INT(tf_json_int64(tf_json_object_get(j, "index"), &idx),
			  0);
		CHECK_INT(idx, 1);
	}
	tf_json_free(j);
	tf_buf_free(&out);
	fx_close(&f);
}

/* ------------------------------------------------ per-agency chains */

/* Lines of an export that do not name agency `want` (0: all do). */
static size_t lines_not_of(tf_buf *b, const char *want, size_t *lines)
{
	char tag[64];
	const char *p = tf_buf_cstr(b), *nl;
	size_t bad = 0;

	snprintf(tag, sizeof tag, "\"agency\":\"%s\"", want);
	*lines = 0;
	for (; *p != '\0'; p = nl + 1) {
		char line[TF_AUDIT_ENTRY_MAX + 1];
		size_t n;

		nl = strchr(p, '\n');
		if (nl == NULL)
			break;
		n = (size_t)(nl - p);
		if (n > TF_AUDIT_ENTRY_MAX)
			n = TF_AUDIT_ENTRY_MAX;
		memcpy(line, p, n);
		line[n] = '\0';
		(*lines)++;
		if (strstr(line, tag) == NULL)
			bad++;
	}
	return bad;
}

static int verify_ok(fx *f, const tf_srv_caller *c, int64_t now,
		     int64_t *entries)
{
	tf_buf out;
	tf_err err;
	tf_json *j = NULL;
	int ok = -1;

	tf_buf_init(&out);
	if (tf_audit_verify_server(&f->s, c, now, &out, &err) == 0 &&
	    tf_json_parse(out.data, out.len, NULL, &j, NULL) == 0) {
		ok = tf_json_object_get(j, "ok")->type == TF_JSON_TRUE;
		if (entries != NULL &&
		    tf_json_int64(tf_json_object_get(j, "entries"), entries))
			*entries = -1;
	}
	tf_json_free(j);
	tf_buf_free(&out);
	return ok;
}

/* Two agencies' logs never meet: each auditor exports and verifies only
   its own chain; a logon naming no known agency goes to the system
   chain; tampering with one chain shows in that chain only. */
TEST(audit_agency_chains)
{
	fx f;
	tf_buf out, b;
	tf_err err;
	tf_srv_caller off, aud, naud;
	char a1[64], a2[64], a3[64];
	size_t lines = 0;
	int64_t n = 0;
	login_opt o;

	tf_buf_init(&out);
	tf_buf_init(&b);
	CHECK_INT(fx_open(&f), 0);
	make_session(&f, "alvarez", "mdt-2a12", T0 + 60 * MIN_MS, a1);
	make_session(&f, "audra", "mdt-2a14", T0 + 60 * MIN_MS, a2);
	make_session_in(&f, AGENCY2, "nadia", "mdt-n1", T0 + 60 * MIN_MS, a3);
	CHECK_INT(tf_auth_session(&f.s, a1, "mdt-2a12", "::1", T0, &off, &err),
		  0);
	CHECK_INT(tf_auth_session(&f.s, a2, "mdt-2a14", "::1", T0, &aud, &err),
		  0);
	CHECK_INT(tf_auth_session(&f.s, a3, "mdt-n1", "::1", T0, &naud, &err),
		  0);
	/* metro: a logoff; north: its auditor's reads; the system: a logon
	   naming an agency that does not exist */
	CHECK_INT(tf_auth_logout(&f.s, &off, T0 + 1, &err), 0);
	CHECK_INT(verify_ok(&f, &naud, T0 + 2, &n), 1);
	CHECK_INT(n, 0);
	login_defaults(&f, &o, T0);
	login_body(&o, &b);
	memcpy(strstr(b.data, "\"metro\""), "\"ghost\"", 7);
	check_generic(tf_auth_login(&f.s, "198.51.100.9", T0 + 3, b.data, b.len,
				    &out, &err),
		      &err);
	CHECK_INT(audit_count_in(&f, "", TF_AUDIT_LOGON_FAIL, "unknown agency"),
		  1);
	CHECK_INT(audit_count_in(&f, AGENCY, TF_AUDIT_LOGON_FAIL, NULL), 0);
	CHECK_INT(audit_count_in(&f, AGENCY2, TF_AUDIT_LOGON_FAIL, NULL), 0);

	tf_buf_reset(&out);
	CHECK_INT(tf_audit_export(&f.s, &aud, T0 + 4, 0, 0, &out, &err), 0);
	CHECK_INT(lines_not_of(&out, AGENCY, &lines), 0);
	CHECK_INT(lines, 1); /* the logoff */
	CHECK(strstr(tf_buf_cstr(&out), "north") == NULL);
	CHECK(strstr(tf_buf_cstr(&out), "ghost") == NULL);
	tf_buf_reset(&out);
	CHECK_INT(tf_audit_export(&f.s, &naud, T0 + 5, 0, 0, &out, &err), 0);
	CHECK_INT(lines_not_of(&out, AGENCY2, &lines), 0);
	CHECK_INT(lines, 1); /* its verify */
	CHECK(strstr(tf_buf_cstr(&out), "\"seq\":1,") != NULL);
	CHECK(strstr(tf_buf_cstr(&out), "metro") == NULL);
	CHECK(strstr(tf_buf_cstr(&out), "alvarez") == NULL);
	CHECK(strstr(tf_buf_cstr(&out), "ghost") == NULL);
	/* metro: logoff, export; north: verify, export */
	CHECK_INT(verify_ok(&f, &aud, T0 + 6, &n), 1);
	CHECK_INT(n, 2);
	CHECK_INT(verify_ok(&f, &naud, T0 + 7, &n), 1);
	CHECK_INT(n, 2);
	/* tamper with metro's logoff: metro's verify sees it, north's not */
	CHECK_INT(tamper(f.path, "DROP TRIGGER audit_no_update;"
				 "UPDATE audit SET bytes = "
				 "replace(bytes, 'logoff', 'lockout') "
				 "WHERE agency = 'metro' AND seq = 1"),
		  SQLITE_OK);
	CHECK_INT(verify_ok(&f, &aud, T0 + 8, NULL), 0);
	CHECK_INT(verify_ok(&f, &naud, T0 + 9, NULL), 1);
	/* and a removed entry of north's shows in north's only */
	CHECK_INT(tamper(f.path, "DROP TRIGGER audit_no_delete;"
				 "DELETE FROM audit WHERE agency = 'north' "
				 "AND seq = 2"),
		  SQLITE_OK);
	CHECK_INT(verify_ok(&f, &naud, T0 + 10, NULL), 0);
	tf_buf_free(&out);
	tf_buf_free(&b);
	fx_close(&f);
}

/* --------------------------------------------------- login limits */

#define PAR_LOGINS 20

typedef struct par_login {
	fx *f;
	int rc;
	tf_err err;
} par_login;

static void *par_login_main(void *arg)
{
	par_login *p = arg;
	login_opt o;
	tf_buf r;

	tf_buf_init(&r);
	login_defaults(p->f, &o, T0);
	o.password = "a wrong guess at it";
	p->rc = do_login(p->f, &o, T0, &r, &p->err);
	tf_buf_free(&r);
	return NULL;
}

/* AC-7 under a burst: 20 parallel wrong logins for one account; the
   logins are evaluated one at a time, so no more than 5 passwords are
   checked against the count before the lock. */
TEST(lockout_parallel)
{
	fx f;
	pthread_t th[PAR_LOGINS];
	par_login p[PAR_LOGINS];
	int i, started = 0;
	tf_db_user u;

	CHECK_INT(fx_open(&f), 0);
	for (i = 0; i < PAR_LOGINS; i++) {
		p[i].f = &f;
		p[i].rc = 1;
		if (pthread_create(&th[i], NULL, par_login_main, &p[i]) != 0)
			break;
		started++;
	}
	CHECK_INT(started, PAR_LOGINS);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < started; i++)
		check_generic(p[i].rc, &p[i].err);
	u = get_user(&f, "alvarez");
	CHECK(u.lockout.locked);
	CHECK_INT(u.lockout.nfail, 5);
	CHECK_INT(audit_count_in(&f, AGENCY, TF_AUDIT_LOGON_FAIL,
				 "wrong password"),
		  5);
	CHECK_INT(audit_count_in(&f, AGENCY, TF_AUDIT_LOGON_FAIL,
				 "account locked"),
		  PAR_LOGINS - 5);
	CHECK_INT(audit_count(&f, TF_AUDIT_LOCKOUT, -1), 1);
	fx_close(&f);
}

/* Password checks are bounded: with every slot taken and the queue
   full, a login is refused at once (503), unaudited and uncounted. */
TEST(login_gate_busy)
{
	fx f;
	tf_auth_limits l;
	login_opt o;
	tf_buf r;
	tf_err err;
	size_t before;

	tf_buf_init(&r);
	CHECK_INT(fx_open(&f), 0);
	tf_auth_limits_default(&l);
	CHECK(l.pbkdf2_slots >= 2);
	CHECK_INT(l.pbkdf2_queue, 64);
	l.pbkdf2_slots = 1;
	l.pbkdf2_queue = 0;
	tf_auth_limits_set(&l);
	CHECK_INT(tf_auth_gate_enter(), 0); /* someone holds the one slot */
	CHECK_INT(tf_auth_gate_enter(), TF_EBUSY);
	before = audit_total(&f);
	login_defaults(&f, &o, T0);
	CHECK_INT(do_login(&f, &o, T0, &r, &err), TF_EBUSY);
	CHECK_INT(r.len, 0);
	CHECK_INT(audit_total(&f), before);
	CHECK_INT(get_user(&f, "alvarez").totp_last_step, 0);
	tf_auth_gate_leave();
	CHECK_INT(do_login(&f, &o, T0, &r, &err), 0);
	tf_auth_limits_set(NULL);
	tf_buf_free(&r);
	fx_close(&f);
}

typedef struct sup_ctx {
	int64_t suppressed;
	size_t n;
} sup_ctx;

static int sup_row(void *arg, const tf_db_audit *a)
{
	sup_ctx *c = arg;
	tf_audit_event ev;
	tf_json *tree = NULL;

	if (tf_audit_parse(a->bytes, a->len, &ev, &tree, NULL) != 0)
		return TF_EINVAL;
	if (ev.detail != NULL &&
	    tf_json_object_get(ev.detail, "suppressed") != NULL) {
		c->n++;
		CHECK_STR(ev.source, "192.0.2.66");
		CHECK_INT(ev.type, TF_AUDIT_LOGON_FAIL);
		(void)tf_json_int64(tf_json_object_get(ev.detail, "suppressed"),
				    &c->suppressed);
	}
	tf_json_free(tree);
	return 0;
}

static int sup_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	return t->ops->audit_scan(t, "", 1, 0, sup_row, arg, err);
}

/* A source past its failed-logon limit is refused before any check,
   without an entry each; its refusals are audited once, at its next
   allowed attempt after the window. */
TEST(login_source_limit)
{
	fx f;
	tf_auth_limits l;
	login_opt o;
	tf_buf r;
	tf_err err;
	sup_ctx sc = {0, 0};
	size_t before;
	int i;

	tf_buf_init(&r);
	CHECK_INT(fx_open(&f), 0);
	tf_auth_limits_default(&l);
	CHECK_INT(l.src_failures, 20);
	CHECK_INT(l.src_window_ms, 5 * MIN_MS);
	l.src_failures = 3;
	tf_auth_limits_set(&l);
	login_defaults(&f, &o, T0);
	o.user = "nobody";
	for (i = 0; i < 3; i++)
		check_generic(
			do_login_from(&f, "192.0.2.66", &o, T0 + i, &r, &err),
			&err);
	before = audit_total(&f);
	/* past the limit: refused at once, even with the right password */
	login_defaults(&f, &o, T0);
	for (i = 0; i < 4; i++) {
		CHECK_INT(do_login_from(&f, "192.0.2.66", &o, T0 + 10 + i, &r,
					&err),
			  TF_EBUSY);
		CHECK_STR(err.where, "credentials");
	}
	CHECK_INT(audit_total(&f), before);
	CHECK_INT(get_user(&f, "alvarez").totp_last_step, 0);
	/* another address is not affected */
	CHECK_INT(do_login_from(&f, "192.0.2.67", &o, T0 + 20, &r, &err), 0);
	/* the window rolls over: the next attempt is evaluated, and the
	   four refusals get their one entry */
	login_defaults(&f, &o, T0 + 5 * MIN_MS + 100);
	CHECK_INT(do_login_from(&f, "192.0.2.66", &o, T0 + 5 * MIN_MS + 100, &r,
				&err),
		  0);
	CHECK_INT(tf_db_read(f.db, sup_fn, &sc, &err), 0);
	CHECK_INT(sc.n, 1);
	CHECK_INT(sc.suppressed, 4);
	/* and only once */
	login_defaults(&f, &o, T0 + 6 * MIN_MS);
	CHECK_INT(
		do_login_from(&f, "192.0.2.66", &o, T0 + 6 * MIN_MS, &r, &err),
		0);
	memset(&sc, 0, sizeof sc);
	CHECK_INT(tf_db_read(f.db, sup_fn, &sc, &err), 0);
	CHECK_INT(sc.n, 1);
	tf_auth_limits_set(NULL);
	tf_buf_free(&r);
	fx_close(&f);
}

/* Bad login bodies: the right code, no session, no count, no audit. */
TEST(login_bad_bodies)
{
	fx f;
	login_opt o;
	tf_buf good, b, r;
	tf_err err;
	size_t before;
	char *big;
	static const struct {
		const char *from, *to;
		int code;
		const char *where;
	} cases[] = {
		{"\"banner_rev\":3", "\"banner_rev\":\"3\"", TF_ETYPE,
		 "banner_rev"},
		{"\"banner_rev\":3", "\"banner_rev\":3.5", TF_ETYPE,
		 "banner_rev"},
		{"\"banner_rev\":3", "\"banner_rev\":-3", TF_ERANGE,
		 "banner_rev"},
		{"\"banner_rev\":3,", "", TF_EMISSING, "banner_rev"},
		{"\"banner_rev\":3", "\"banner_rev\":3,\"extra\":1",
		 TF_EUNKNOWN, "extra"},
		{"\"proof\":{", "\"proof\":{\"x\":1,", TF_EUNKNOWN, "proof.x"},
		{"\"agency\":\"metro\"", "\"agency\":7", TF_ETYPE, "agency"},
		{"\"agency\":\"metro\"", "\"agency\":\"me tro\"", TF_EVALIDATE,
		 "agency"},
		{"\"device_id\":\"mdt-2a12\"", "\"device_id\":null", TF_ETYPE,
		 "device_id"},
		{"\"password\":", "\"password\":1,\"pw\":", TF_EUNKNOWN, "pw"},
		{"\"proof\":{", "\"proof\":[],\"p\":{", TF_EUNKNOWN, "p"},
		{"\"user\":\"alvarez\"", "\"user\":\"\"", TF_EVALIDATE, "user"},
		{"}", "", TF_EJSON, NULL},
		{"\"agency\"", "\"agency\":1,\"agency\"", TF_EDUPKEY, NULL},
	};
	size_t i;

	tf_buf_init(&good);
	tf_buf_init(&b);
	tf_buf_init(&r);
	CHECK_INT(fx_open(&f), 0);
	login_defaults(&f, &o, T0);
	login_body(&o, &good);
	before = audit_total(&f);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *p = strstr(good.data, cases[i].from);
		int rc;

		CHECK(p != NULL);
		if (p == NULL)
			continue;
		tf_buf_reset(&b);
		tf_buf_append(&b, good.data, (size_t)(p - good.data));
		tf_buf_puts(&b, cases[i].to);
		tf_buf_puts(&b, p + strlen(cases[i].from));
		tf_err_clear(&err);
		rc = tf_auth_login(&f.s, "::1", T0, b.data, b.len, &r, &err);
		if (rc != cases[i].code)
			fprintf(stderr, "case %zu: %s\n", i, err.msg);
		CHECK_INT(rc, cases[i].code);
		if (cases[i].where != NULL)
			CHECK_STR(err.where, cases[i].where);
	}
	/* the totp must be 6 digits */
	o.totp = "12345a";
	tf_buf_reset(&b);
	login_body(&o, &b);
	CHECK_INT(tf_auth_login(&f.s, "::1", T0, b.data, b.len, &r, &err),
		  TF_EVALIDATE);
	CHECK_STR(err.where, "totp");
	/* not an object, empty, oversize */
	CHECK_INT(tf_auth_login(&f.s, "::1", T0, "[]", 2, &r, &err), TF_ETYPE);
	CHECK_INT(tf_auth_login(&f.s, "::1", T0, "", 0, &r, &err), TF_EJSON);
	big = malloc(TF_SRV_MAX_SMALL_BODY + 2);
	memset(big, ' ', TF_SRV_MAX_SMALL_BODY + 1);
	big[TF_SRV_MAX_SMALL_BODY + 1] = '\0';
	CHECK_INT(tf_auth_login(&f.s, "::1", T0, big, TF_SRV_MAX_SMALL_BODY + 1,
				&r, &err),
		  TF_ELIMIT);
	CHECK_STR(err.where, "body");
	free(big);
	/* a body nested too deep */
	CHECK_INT(tf_auth_login(&f.s, "::1", T0,
				LIT("{\"proof\":{\"sig\":[1]}}"), &r, &err),
		  TF_ELIMIT);
	CHECK_INT(r.len, 0);
	CHECK_INT(audit_total(&f), before);
	CHECK_INT(get_user(&f, "alvarez").lockout.nfail, 0);
	CHECK_INT(get_user(&f, "alvarez").totp_last_step, 0);
	tf_buf_free(&good);
	tf_buf_free(&b);
	tf_buf_free(&r);
	fx_close(&f);
}

int main(int argc, char **argv)
{
	(void)argc;
	RUN(identity_and_keys);
	RUN(password_hash_format);
	RUN(login_ok_grant_session);
	RUN(grant_null_and_banner);
	RUN(totp_window_and_replay);
	RUN(lockout);
	RUN(login_device_proof);
	RUN(login_unknown_user);
	RUN(session_expiry_logout_revoked);
	RUN(wipe_receipt);
	RUN(device_audit_upload);
	RUN(audit_export_verify);
	RUN(login_bad_bodies);
	RUN(audit_agency_chains);
	RUN(lockout_parallel);
	RUN(login_gate_busy);
	RUN(login_source_limit);
	return tf_test_finish(argv[0]);
}

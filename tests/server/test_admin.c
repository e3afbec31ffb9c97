/*
 * test_admin.c - the admin services (server.h "admin.c") on a temporary
 * SQLite database: every operation, its one audit entry, its refusals
 * (which change nothing), session revocation, the demo seed, and the
 * `tenfourd admin` command line.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/admin.h"
#include "server/auth.h"
#include "tenfour/json.h"
#include "tenfour/schema.h"
#include "tf_test.h"

static tf_schema *schema;
static int64_t now_ms;

typedef struct fixture {
	char dir[64];
	char dsn[128];
	tf_srv s;
} fixture;

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Removes a directory tree (bounded depth: the test's own layout). */
static void rm_tree(const char *path, int depth)
{
	DIR *d;
	struct dirent *e;
	char sub[512];
	struct stat st;

	if (depth > 4)
		return;
	d = opendir(path);
	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
		if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			rm_tree(sub, depth + 1);
		else
			unlink(sub);
	}
	closedir(d);
	rmdir(path);
}

static const tf_admin_actor actor = {"t1",    "system",	    NULL,
				     "local", "test_admin", NULL};

static void fx_open(fixture *f)
{
	tf_err err;

	memset(f, 0, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/tf-admin-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
		exit(1);
	}
	snprintf(f->dsn, sizeof f->dsn, "sqlite:%s/tenfourd.db", f->dir);
	tf_err_clear(&err);
	if (tf_db_open(f->dsn, NULL, &f->s.db, &err)) {
		fprintf(stderr, "tf_db_open: %s\n", err.msg);
		exit(1);
	}
	f->s.schema = schema;
	f->s.max_skew_ms = TF_DEFAULT_MAX_SKEW_MS;
	f->s.totp_window = 1;
	f->s.pbkdf2_iter = TF_PBKDF2_MIN_ITER;
	f->s.node = "tenfourd-test";
	if (tf_srv_init_identity(&f->s, &err)) {
		fprintf(stderr, "tf_srv_init_identity: %s\n", err.msg);
		exit(1);
	}
}

static void fx_close(fixture *f)
{
	tf_srv_fini(&f->s);
	tf_db_close(f->s.db);
	rm_tree(f->dir, 0);
}

/* ------------------------------------------------------------ readers */

typedef struct rd {
	const char *agency, *id;
	tf_db_agency ag;
	tf_db_user u;
	tf_db_device d;
	tf_db_session sess;
	tf_db_stats st;
	int what, rc;
	/* last audit entry */
	char *last;
	size_t last_len;
	uint64_t last_seq;
} rd;

enum { RD_AGENCY, RD_USER, RD_DEVICE, RD_SESSION, RD_STATS, RD_AUDIT };

static int last_fn(void *arg, const tf_db_audit *a)
{
	rd *r = arg;

	free(r->last);
	r->last = malloc(a->len + 1);
	if (r->last == NULL)
		return TF_ENOMEM;
	memcpy(r->last, a->bytes, a->len);
	r->last[a->len] = '\0';
	r->last_len = a->len;
	r->last_seq = a->seq;
	return 0;
}

static int rd_txn(tf_db_txn *t, void *arg, tf_err *err)
{
	rd *r = arg;

	switch (r->what) {
	case RD_AGENCY:
		return t->ops->agency_get(t, r->id, &r->ag, err);
	case RD_USER:
		return t->ops->user_get(t, r->agency, r->id, &r->u, err);
	case RD_DEVICE:
		return t->ops->device_get(t, r->agency, r->id, &r->d, err);
	case RD_SESSION:
		return t->ops->session_get(t, r->id, &r->sess, err);
	case RD_STATS:
		return t->ops->stats(t, &r->st, err);
	default:
		return t->ops->audit_scan(t, r->agency ? r->agency : "t1", 1, 0,
					  last_fn, r, err);
	}
}

static rd *rd_do(fixture *f, int what, const char *agency, const char *id)
{
	rd *r = calloc(1, sizeof *r);

	if (r == NULL)
		exit(1);
	r->what = what;
	r->agency = agency;
	r->id = id;
	r->rc = tf_db_read(f->s.db, rd_txn, r, NULL);
	return r;
}

static void rd_free(rd *r)
{
	if (r) {
		free(r->last);
		free(r);
	}
}

static uint64_t audit_count(fixture *f)
{
	rd *r = rd_do(f, RD_STATS, NULL, NULL);
	uint64_t n = r->rc == 0 ? r->st.audit_entries : (uint64_t)-1;

	rd_free(r);
	return n;
}

/* The last audit entry parsed; caller frees *tree. */
static int last_audit(fixture *f, tf_audit_event *ev, tf_json **tree)
{
	rd *r = rd_do(f, RD_AUDIT, NULL, NULL);
	int rc = r->rc;

	if (rc == 0 && r->last == NULL)
		rc = TF_ENOTFOUND;
	if (rc == 0)
		rc = tf_audit_parse(r->last, r->last_len, ev, tree, NULL);
	rd_free(r);
	return rc;
}

/* Checks the last entry's type, target and one detail member's text. */
static void check_last(fixture *f, tf_audit_type type, const char *target,
		       const char *key, const char *want)
{
	tf_audit_event ev;
	tf_json *tree = NULL;
	tf_buf b;

	CHECK_INT(last_audit(f, &ev, &tree), 0);
	if (tree == NULL)
		return;
	CHECK_STR(tf_audit_type_name(ev.type), tf_audit_type_name(type));
	CHECK_INT(ev.success, 1);
	CHECK_STR(ev.user, "system");
	CHECK_STR(ev.source, "local");
	CHECK_STR(ev.where, "test_admin");
	CHECK(ev.device == NULL); /* the command line acts from no device */
	if (target)
		CHECK_STR(ev.target, target);
	if (key) {
		const tf_json *v =
			ev.detail ? tf_json_object_get(ev.detail, key) : NULL;
		CHECK(v != NULL);
		if (v) {
			tf_buf_init(&b);
			tf_json_write(v, &b);
			CHECK_STR(tf_buf_cstr(&b), want);
			tf_buf_free(&b);
		}
	}
	tf_json_free(tree);
}

/* A session row for user/device (put directly, as a login would). */
static int sess_put_txn(tf_db_txn *t, void *arg, tf_err *err)
{
	return t->ops->session_put(t, arg, err);
}

static int user_put_txn(tf_db_txn *t, void *arg, tf_err *err)
{
	return t->ops->user_put(t, arg, err);
}

static void put_session(fixture *f, const char *hash, const char *user,
			const char *device)
{
	tf_db_session s;

	memset(&s, 0, sizeof s);
	snprintf(s.token_hash, sizeof s.token_hash, "%s", hash);
	snprintf(s.agency, sizeof s.agency, "t1");
	snprintf(s.user, sizeof s.user, "%s", user);
	snprintf(s.device, sizeof s.device, "%s", device);
	s.created_at = now_ms;
	s.expires_at = now_ms + TF_POLICY_HOUR_MS;
	CHECK_INT(tf_db_write(f->s.db, sess_put_txn, &s, NULL), 0);
}

static int session_revoked(fixture *f, const char *hash)
{
	rd *r = rd_do(f, RD_SESSION, NULL, hash);
	int v = r->rc == 0 ? r->sess.revoked : -1;

	rd_free(r);
	return v;
}

static void new_pubkey(char out[TF_DB_PUBKEY_MAX + 1])
{
	uint8_t pub[TF_ED25519_PUB_LEN];
	tf_sigkey *k = NULL;

	CHECK_INT(tf_sigkey_generate(&k), 0);
	CHECK_INT(tf_sigkey_public(k, pub), 0);
	CHECK_INT(tf_b64url_encode(pub, sizeof pub, out, TF_DB_PUBKEY_MAX + 1),
		  0);
	tf_sigkey_free(k);
}

static const char *const officer[] = {"officer"};
static const char hash_a[] =
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char hash_b[] =
	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
static const char hash_c[] =
	"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

/* ------------------------------------------------------------ tests */

TEST(agency_init_and_refusals)
{
	fixture f;
	tf_err err;
	uint64_t n;
	rd *r;

	fx_open(&f);
	CHECK_INT(tf_admin_agency_init(&f.s, &actor, "t1", "Test PD", now_ms,
				       &err),
		  0);
	check_last(&f, TF_AUDIT_POLICY_CHANGE, "t1", "action",
		   "\"agency_init\"");
	check_last(&f, TF_AUDIT_POLICY_CHANGE, "t1", "policy",
		   "{\"lock_after_ms\":1800000,\"lockout_failures\":5,"
		   "\"lockout_window_ms\":900000,\"offline_window_ms\":"
		   "43200000,\"session_max_ms\":43200000,\"wipe_after\":10}");
	r = rd_do(&f, RD_AGENCY, NULL, "t1");
	CHECK_INT(r->rc, 0);
	CHECK_STR(r->ag.name, "Test PD");
	CHECK_INT(r->ag.banner_rev, 1);
	CHECK(strstr(r->ag.banner, "Test PD") != NULL);
	CHECK(strstr(r->ag.banner, "consent") != NULL);
	CHECK(strstr(r->ag.banner, "criminal and civil penalties") != NULL);
	rd_free(r);

	n = audit_count(&f);
	CHECK_INT(
		tf_admin_agency_init(&f.s, &actor, "t1", "Again", now_ms, &err),
		TF_EEXIST);
	CHECK_STR(err.where, "agency");
	CHECK_INT(
		tf_admin_agency_init(&f.s, &actor, "bad id", "X", now_ms, &err),
		TF_EVALIDATE);
	CHECK_INT(tf_admin_agency_init(&f.s, &actor, "t2", "", now_ms, &err),
		  TF_EMISSING);
	CHECK_INT(tf_admin_agency_init(&f.s, &actor, "t2", "bad\x01name",
				       now_ms, &err),
		  TF_EVALIDATE);
	CHECK_INT(audit_count(&f), n);
	r = rd_do(&f, RD_AGENCY, NULL, "t2");
	CHECK_INT(r->rc, TF_ENOTFOUND);
	rd_free(r);
	fx_close(&f);
}

TEST(user_add_and_refusals)
{
	const char *const bad_role[] = {"officer", "chief"};
	const char *const dup_roles[] = {"officer", "officer"};
	char totp[TF_DB_TOTP_MAX + 1];
	fixture f;
	tf_err err;
	uint64_t n;
	rd *r;

	fx_open(&f);
	CHECK_INT(tf_admin_agency_init(&f.s, &actor, "t1", "Test PD", now_ms,
				       &err),
		  0);
	CHECK_INT(tf_admin_user_add(&f.s, &actor, "alvarez", "Officer A",
				    officer, 1, "2A12", "Copper-Canyon-17",
				    now_ms, totp, &err),
		  0);
	CHECK_INT(strlen(totp), 32);
	check_last(&f, TF_AUDIT_PERMISSION_CHANGE, "alvarez", "roles",
		   "[\"officer\"]");
	check_last(&f, TF_AUDIT_PERMISSION_CHANGE, "alvarez", "unit",
		   "\"2A12\"");
	r = rd_do(&f, RD_USER, "t1", "alvarez");
	CHECK_INT(r->rc, 0);
	CHECK_STR(r->u.name, "Officer A");
	CHECK_STR(r->u.unit, "2A12");
	CHECK_INT(r->u.nroles, 1);
	CHECK_STR(r->u.roles[0], "officer");
	CHECK_STR(r->u.totp, totp);
	CHECK(strncmp(r->u.pwhash, "pbkdf2-sha256$", 14) == 0);
	CHECK_INT(tf_auth_check_password(r->u.pwhash, "Copper-Canyon-17", 16),
		  0);
	CHECK_INT(tf_auth_check_password(r->u.pwhash, "Copper-Canyon-18", 16),
		  TF_EAUTH);
	CHECK_INT(r->u.disabled, 0);
	rd_free(r);

	n = audit_count(&f);
	/* duplicate */
	CHECK_INT(tf_admin_user_add(&f.s, &actor, "alvarez", "Other", officer,
				    1, NULL, "Copper-Canyon-17", now_ms, totp,
				    &err),
		  TF_EEXIST);
	/* unknown and duplicate roles, none */
	CHECK_INT(tf_admin_user_add(&f.s, &actor, "x1", "X", bad_role, 2, NULL,
				    "Copper-Canyon-17", now_ms, totp, &err),
		  TF_EVALIDATE);
	CHECK_STR(err.where, "roles");
	CHECK(strstr(err.msg, "chief") != NULL);
	CHECK_INT(tf_admin_user_add(&f.s, &actor, "x1", "X", dup_roles, 2, NULL,
				    "Copper-Canyon-17", now_ms, totp, &err),
		  TF_EVALIDATE);
	CHECK_INT(tf_admin_user_add(&f.s, &actor, "x1", "X", officer, 0, NULL,
				    "Copper-Canyon-17", now_ms, totp, &err),
		  TF_EMISSING);
	/* weak passwords: common, short, the user id, "tenfour" */
	CHECK_INT(tf_admin_user_add(&f.s, &actor, "x1", "X", officer, 1, NULL,
				    "password", now_ms, totp, &err),
		  TF_EVALIDATE);
	CHECK_STR(err.where, "password");
	CHECK(err.msg[0] != '\0');
	CHECK_INT(tf_admin_user_add(&f.s, &actor, "x1", "X", officer, 1, NULL,
				    "short", now_ms, totp, &err),
		  TF_EVALIDATE);
	CHECK_INT(tf_admin_user_add(&f.s, &actor, "officer.long", "X", officer,
				    1, NULL, "OFFICER.LONG", now_ms, totp,
				    &err),
		  TF_EVALIDATE);
	CHECK_INT(tf_admin_user_add(&f.s, &actor, "x1", "X", officer, 1, NULL,
				    "TenFour", now_ms, totp, &err),
		  TF_EVALIDATE);
	/* bad ids, unit, name; unknown agency */
	CHECK_INT(tf_admin_user_add(&f.s, &actor, "a b", "X", officer, 1, NULL,
				    "Copper-Canyon-17", now_ms, totp, &err),
		  TF_EVALIDATE);
	CHECK_STR(err.where, "user");
	CHECK_INT(tf_admin_user_add(&f.s, &actor, "x1", "X", officer, 1,
				    "2A12-very-long-callsign-over-32-bytes",
				    "Copper-Canyon-17", now_ms, totp, &err),
		  TF_EVALIDATE);
	CHECK_STR(err.where, "unit");
	CHECK_INT(tf_admin_user_add(&f.s, &actor, "x1", "X", officer, 1,
				    "2A 12", "Copper-Canyon-17", now_ms, totp,
				    &err),
		  TF_EVALIDATE);
	CHECK_INT(tf_admin_user_add(&f.s, &actor, "x1", "", officer, 1, NULL,
				    "Copper-Canyon-17", now_ms, totp, &err),
		  TF_EMISSING);
	{
		tf_admin_actor other = actor;
		other.agency = "nowhere";
		CHECK_INT(tf_admin_user_add(&f.s, &other, "x1", "X", officer, 1,
					    NULL, "Copper-Canyon-17", now_ms,
					    totp, &err),
			  TF_ENOTFOUND);
		CHECK_STR(err.where, "agency");
	}
	CHECK_INT(audit_count(&f), n);
	r = rd_do(&f, RD_USER, "t1", "x1");
	CHECK_INT(r->rc, TF_ENOTFOUND);
	rd_free(r);
	fx_close(&f);
}

TEST(user_changes_revoke_sessions)
{
	char totp[TF_DB_TOTP_MAX + 1], pub[TF_DB_PUBKEY_MAX + 1];
	fixture f;
	tf_err err;
	uint64_t n, cnt;
	rd *r;

	fx_open(&f);
	CHECK_INT(tf_admin_agency_init(&f.s, &actor, "t1", "Test PD", now_ms,
				       &err),
		  0);
	CHECK_INT(tf_admin_user_add(&f.s, &actor, "brooks", "Officer B",
				    officer, 1, "2A14", "Maple-Signal-58",
				    now_ms, totp, &err),
		  0);
	new_pubkey(pub);
	CHECK_INT(tf_admin_device_enroll(&f.s, &actor, "mdt-x", "MDT x", pub,
					 now_ms, &err),
		  0);

	/* disable: flag set, the live session revoked */
	put_session(&f, hash_a, "brooks", "mdt-x");
	CHECK_INT(session_revoked(&f, hash_a), 0);
	CHECK_INT(
		tf_admin_user_disable(&f.s, &actor, "brooks", 1, now_ms, &err),
		0);
	CHECK_INT(session_revoked(&f, hash_a), 1);
	check_last(&f, TF_AUDIT_PERMISSION_CHANGE, "brooks", "action",
		   "\"user_disable\"");
	check_last(&f, TF_AUDIT_PERMISSION_CHANGE, "brooks", "sessions_revoked",
		   "1");
	r = rd_do(&f, RD_USER, "t1", "brooks");
	CHECK_INT(r->u.disabled, 1);
	rd_free(r);
	CHECK_INT(
		tf_admin_user_disable(&f.s, &actor, "brooks", 0, now_ms, &err),
		0);
	check_last(&f, TF_AUDIT_PERMISSION_CHANGE, "brooks", "action",
		   "\"user_enable\"");
	r = rd_do(&f, RD_USER, "t1", "brooks");
	CHECK_INT(r->u.disabled, 0);
	rd_free(r);

	/* set unit: scope change revokes; "-" clears */
	put_session(&f, hash_b, "brooks", "mdt-x");
	CHECK_INT(tf_admin_user_set_unit(&f.s, &actor, "brooks", "2A15", now_ms,
					 &err),
		  0);
	CHECK_INT(session_revoked(&f, hash_b), 1);
	check_last(&f, TF_AUDIT_PERMISSION_CHANGE, "brooks", "from",
		   "\"2A14\"");
	check_last(&f, TF_AUDIT_PERMISSION_CHANGE, "brooks", "to", "\"2A15\"");
	CHECK_INT(tf_admin_user_set_unit(&f.s, &actor, "brooks", "-", now_ms,
					 &err),
		  0);
	check_last(&f, TF_AUDIT_PERMISSION_CHANGE, "brooks", "to", "null");
	r = rd_do(&f, RD_USER, "t1", "brooks");
	CHECK_STR(r->u.unit, "");
	rd_free(r);

	/* sessions-revoke */
	put_session(&f, hash_c, "brooks", "mdt-x");
	CHECK_INT(tf_admin_sessions_revoke(&f.s, &actor, "brooks", now_ms, &n,
					   &err),
		  0);
	CHECK_INT(n, 1);
	CHECK_INT(session_revoked(&f, hash_c), 1);
	check_last(&f, TF_AUDIT_SESSION_REVOKE, "brooks", "sessions_revoked",
		   "1");

	/* release: a locked account is unlocked and its failures cleared */
	r = rd_do(&f, RD_USER, "t1", "brooks");
	r->u.lockout.locked = 1;
	r->u.lockout.nfail = 2;
	r->u.lockout.fail_ms[0] = now_ms - 1000;
	r->u.lockout.fail_ms[1] = now_ms - 500;
	CHECK_INT(tf_db_write(f.s.db, user_put_txn, &r->u, NULL), 0);
	rd_free(r);
	CHECK_INT(tf_admin_user_release(&f.s, &actor, "brooks", now_ms, &err),
		  0);
	check_last(&f, TF_AUDIT_LOCKOUT_RELEASE, "brooks", "was_locked",
		   "true");
	check_last(&f, TF_AUDIT_LOCKOUT_RELEASE, "brooks", "failures", "2");
	r = rd_do(&f, RD_USER, "t1", "brooks");
	CHECK_INT(r->u.lockout.locked, 0);
	CHECK_INT(r->u.lockout.nfail, 0);
	rd_free(r);

	/* refusals: unknown user, bad id, bad unit change nothing */
	cnt = audit_count(&f);
	CHECK_INT(
		tf_admin_user_disable(&f.s, &actor, "nobody", 1, now_ms, &err),
		TF_ENOTFOUND);
	CHECK_STR(err.where, "user");
	CHECK_INT(tf_admin_user_set_unit(&f.s, &actor, "nobody", "2A12", now_ms,
					 &err),
		  TF_ENOTFOUND);
	CHECK_INT(tf_admin_user_set_unit(&f.s, &actor, "brooks", "bad unit",
					 now_ms, &err),
		  TF_EVALIDATE);
	CHECK_INT(tf_admin_user_release(&f.s, &actor, "nobody", now_ms, &err),
		  TF_ENOTFOUND);
	CHECK_INT(tf_admin_sessions_revoke(&f.s, &actor, "nobody", now_ms, &n,
					   &err),
		  TF_ENOTFOUND);
	CHECK_INT(tf_admin_sessions_revoke(&f.s, &actor, "", now_ms, &n, &err),
		  TF_EMISSING);
	CHECK_INT(audit_count(&f), cnt);
	fx_close(&f);
}

TEST(devices_enroll_revoke)
{
	char pub[TF_DB_PUBKEY_MAX + 1], pub2[TF_DB_PUBKEY_MAX + 1];
	fixture f;
	tf_err err;
	uint64_t n;
	rd *r;

	fx_open(&f);
	CHECK_INT(tf_admin_agency_init(&f.s, &actor, "t1", "Test PD", now_ms,
				       &err),
		  0);
	new_pubkey(pub);
	new_pubkey(pub2);
	CHECK_INT(tf_admin_device_enroll(&f.s, &actor, "mdt-1", "MDT one", pub,
					 now_ms, &err),
		  0);
	check_last(&f, TF_AUDIT_DEVICE_ENROLL, "mdt-1", "label", "\"MDT one\"");
	r = rd_do(&f, RD_DEVICE, "t1", "mdt-1");
	CHECK_INT(r->rc, 0);
	CHECK_INT(r->d.status, TF_DEV_ENROLLED);
	CHECK_STR(r->d.pubkey, pub);
	CHECK_STR(r->d.label, "MDT one");
	CHECK(r->d.enrolled_at == now_ms);
	rd_free(r);

	n = audit_count(&f);
	CHECK_INT(tf_admin_device_enroll(&f.s, &actor, "mdt-1", "again", pub2,
					 now_ms, &err),
		  TF_EEXIST);
	CHECK_INT(tf_admin_device_enroll(&f.s, &actor, "mdt 2", "x", pub2,
					 now_ms, &err),
		  TF_EVALIDATE);
	CHECK_STR(err.where, "device");
	CHECK_INT(tf_admin_device_enroll(&f.s, &actor, "mdt-2", "x",
					 "not-a-key", now_ms, &err),
		  TF_EVALIDATE);
	CHECK_STR(err.where, "pubkey");
	CHECK_INT(tf_admin_device_enroll(&f.s, &actor, "mdt-2", "x", pub2 + 1,
					 now_ms, &err),
		  TF_EVALIDATE);
	CHECK_INT(tf_admin_device_enroll(&f.s, &actor, "mdt-2", "", pub2,
					 now_ms, &err),
		  TF_EMISSING);
	CHECK_INT(tf_admin_device_revoke(&f.s, &actor, "mdt-9", now_ms, &err),
		  TF_ENOTFOUND);
	CHECK_INT(audit_count(&f), n);
	r = rd_do(&f, RD_DEVICE, "t1", "mdt-2");
	CHECK_INT(r->rc, TF_ENOTFOUND);
	rd_free(r);

	/* revoke: status, time, every session of the device */
	{
		char totp[TF_DB_TOTP_MAX + 1], pub3[TF_DB_PUBKEY_MAX + 1];
		new_pubkey(pub3);
		CHECK_INT(tf_admin_device_enroll(&f.s, &actor, "mdt-other",
						 "other", pub3, now_ms, &err),
			  0);
		CHECK_INT(tf_admin_user_add(&f.s, &actor, "u1", "U one",
					    officer, 1, NULL, "Maple-Signal-58",
					    now_ms, totp, &err),
			  0);
		CHECK_INT(tf_admin_user_add(&f.s, &actor, "u2", "U two",
					    officer, 1, NULL, "Maple-Signal-58",
					    now_ms, totp, &err),
			  0);
	}
	put_session(&f, hash_a, "u1", "mdt-1");
	put_session(&f, hash_b, "u2", "mdt-1");
	put_session(&f, hash_c, "u1", "mdt-other");
	CHECK_INT(
		tf_admin_device_revoke(&f.s, &actor, "mdt-1", now_ms + 5, &err),
		0);
	check_last(&f, TF_AUDIT_DEVICE_REVOKE, "mdt-1", "sessions_revoked",
		   "2");
	CHECK_INT(session_revoked(&f, hash_a), 1);
	CHECK_INT(session_revoked(&f, hash_b), 1);
	CHECK_INT(session_revoked(&f, hash_c), 0);
	r = rd_do(&f, RD_DEVICE, "t1", "mdt-1");
	CHECK_INT(r->d.status, TF_DEV_REVOKED);
	CHECK(r->d.revoked_at == now_ms + 5);
	rd_free(r);
	n = audit_count(&f);
	CHECK_INT(tf_admin_device_revoke(&f.s, &actor, "mdt-1", now_ms, &err),
		  TF_EINVAL);
	CHECK(strstr(err.msg, "already revoked") != NULL);
	CHECK_INT(audit_count(&f), n);
	fx_close(&f);
}

/* An administrator acting from a device (the HTTP admin endpoints): the
   entry's actor names it. */
TEST(actor_device)
{
	tf_admin_actor a = actor;
	char pub[TF_DB_PUBKEY_MAX + 1];
	tf_audit_event ev;
	tf_json *tree = NULL;
	fixture f;
	tf_err err;

	fx_open(&f);
	CHECK_INT(tf_admin_agency_init(&f.s, &actor, "t1", "Test PD", now_ms,
				       &err),
		  0);
	new_pubkey(pub);
	a.user = "root";
	a.role = "admin";
	a.device = "mdt-7";
	CHECK_INT(tf_admin_device_enroll(&f.s, &a, "mdt-1", "MDT one", pub,
					 now_ms, &err),
		  0);
	CHECK_INT(last_audit(&f, &ev, &tree), 0);
	if (tree != NULL) {
		CHECK_STR(ev.user, "root");
		CHECK_STR(ev.device, "mdt-7");
		CHECK_STR(ev.target, "mdt-1");
	}
	tf_json_free(tree);
	tree = NULL;
	CHECK_INT(tf_admin_device_revoke(&f.s, &a, "mdt-1", now_ms, &err), 0);
	CHECK_INT(last_audit(&f, &ev, &tree), 0);
	if (tree != NULL)
		CHECK_STR(ev.device, "mdt-7");
	tf_json_free(tree);
	fx_close(&f);
}

TEST(policy_and_banner)
{
	fixture f;
	tf_err err;
	uint64_t n;
	rd *r;

	fx_open(&f);
	CHECK_INT(tf_admin_agency_init(&f.s, &actor, "t1", "Test PD", now_ms,
				       &err),
		  0);
	CHECK_INT(tf_admin_policy_set(&f.s, &actor,
				      "{\"lock_after_ms\":600000,"
				      "\"lockout_failures\":3,"
				      "\"lockout_window_ms\":1800000,"
				      "\"offline_window_ms\":28800000,"
				      "\"session_max_ms\":28800000,"
				      "\"wipe_after\":5}",
				      now_ms, &err),
		  0);
	check_last(&f, TF_AUDIT_POLICY_CHANGE, "t1", "policy",
		   "{\"lock_after_ms\":600000,\"lockout_failures\":3,"
		   "\"lockout_window_ms\":1800000,\"offline_window_ms\":"
		   "28800000,\"session_max_ms\":28800000,\"wipe_after\":5}");
	check_last(&f, TF_AUDIT_POLICY_CHANGE, "t1", "previous",
		   "{\"lock_after_ms\":1800000,\"lockout_failures\":5,"
		   "\"lockout_window_ms\":900000,\"offline_window_ms\":"
		   "43200000,\"session_max_ms\":43200000,\"wipe_after\":10}");
	r = rd_do(&f, RD_AGENCY, NULL, "t1");
	CHECK(r->ag.policy.lock_after_ms == 600000);
	CHECK_INT(r->ag.policy.wipe_after, 5);
	rd_free(r);

	n = audit_count(&f);
	/* over the CJIS ceiling, malformed, unknown member, missing member */
	CHECK_INT(tf_admin_policy_set(&f.s, &actor,
				      "{\"lock_after_ms\":2400000,"
				      "\"lockout_failures\":3,"
				      "\"lockout_window_ms\":1800000,"
				      "\"offline_window_ms\":28800000,"
				      "\"session_max_ms\":28800000,"
				      "\"wipe_after\":5}",
				      now_ms, &err),
		  TF_ERANGE);
	CHECK_STR(err.where, "policy.lock_after_ms");
	CHECK_INT(tf_admin_policy_set(&f.s, &actor, "{", now_ms, &err),
		  TF_EJSON);
	CHECK_INT(tf_admin_policy_set(&f.s, &actor, "{\"lock_after_ms\":1}",
				      now_ms, &err) < 0,
		  1);
	{
		tf_admin_actor other = actor;
		other.agency = "nowhere";
		CHECK_INT(tf_admin_policy_set(&f.s, &other,
					      "{\"lock_after_ms\":600000,"
					      "\"lockout_failures\":3,"
					      "\"lockout_window_ms\":1800000,"
					      "\"offline_window_ms\":28800000,"
					      "\"session_max_ms\":28800000,"
					      "\"wipe_after\":5}",
					      now_ms, &err),
			  TF_ENOTFOUND);
		CHECK_INT(tf_admin_banner_set(&f.s, &other, "Banner text",
					      now_ms, &err),
			  TF_ENOTFOUND);
	}
	CHECK_INT(tf_admin_banner_set(&f.s, &actor, "", now_ms, &err),
		  TF_EMISSING);
	CHECK_INT(tf_admin_banner_set(&f.s, &actor, "bell\a", now_ms, &err),
		  TF_EVALIDATE);
	CHECK_INT(tf_admin_banner_set(&f.s, &actor, "bad \xff utf8", now_ms,
				      &err),
		  TF_EUTF8);
	CHECK_INT(audit_count(&f), n);
	r = rd_do(&f, RD_AGENCY, NULL, "t1");
	CHECK(r->ag.policy.lock_after_ms == 600000);
	CHECK_INT(r->ag.banner_rev, 1);
	rd_free(r);

	CHECK_INT(tf_admin_banner_set(&f.s, &actor,
				      "Line one.\nLine two.\tTabbed.", now_ms,
				      &err),
		  0);
	check_last(&f, TF_AUDIT_POLICY_CHANGE, "t1", "banner_rev", "2");
	r = rd_do(&f, RD_AGENCY, NULL, "t1");
	CHECK_INT(r->ag.banner_rev, 2);
	CHECK_STR(r->ag.banner, "Line one.\nLine two.\tTabbed.");
	rd_free(r);
	fx_close(&f);
}

/* ------------------------------------------------------------ demo */

typedef struct caller_rd {
	const char *user, *device;
	tf_srv_caller *c;
} caller_rd;

static int caller_txn(tf_db_txn *t, void *arg, tf_err *err)
{
	caller_rd *x = arg;
	int rc = t->ops->user_get(t, "demo", x->user, &x->c->user, err);

	if (rc == 0)
		rc = t->ops->device_get(t, "demo", x->device, &x->c->device,
					err);
	return rc;
}

/* Pulls everything the user may see; returns the page (caller frees). */
static tf_json *pull_as(fixture *f, const char *user, const char *device)
{
	tf_srv_caller *c = calloc(1, sizeof *c);
	caller_rd x;
	tf_buf page;
	tf_json *doc = NULL;
	uint64_t head = 0;
	int empty = 0;
	tf_err err;

	if (c == NULL)
		return NULL;
	x.user = user;
	x.device = device;
	x.c = c;
	CHECK_INT(tf_db_read(f->s.db, caller_txn, &x, NULL), 0);
	snprintf(c->session.agency, sizeof c->session.agency, "demo");
	snprintf(c->session.user, sizeof c->session.user, "%s", user);
	snprintf(c->session.device, sizeof c->session.device, "%s", device);
	snprintf(c->source, sizeof c->source, "local");
	tf_buf_init(&page);
	CHECK_INT(tf_sync_pull(&f->s, c, now_ms, NULL, 0, &page, &head, &empty,
			       &err),
		  0);
	if (page.len)
		CHECK_INT(tf_json_parse(page.data, page.len, NULL, &doc, NULL),
			  0);
	tf_buf_free(&page);
	free(c);
	return doc;
}

/* Counts the page's records of an entity; *has_1234 when #1234 is one. */
static size_t count_entity(const tf_json *page, const char *entity,
			   int *has_1234, int *has_1240)
{
	const tf_json *recs = page ? tf_json_object_get(page, "records") : NULL;
	size_t i, n = 0;

	for (i = 0; recs && i < recs->len; i++) {
		const tf_json *r = recs->u.items[i], *f, *num;
		const char *e = tf_json_get_str(r, "entity", NULL);
		const char *v;
		if (e == NULL || strcmp(e, entity) != 0)
			continue;
		n++;
		f = tf_json_object_get(r, "f");
		num = f ? tf_json_object_get(f, "incident_number") : NULL;
		v = num ? tf_json_get_str(num, "v", NULL) : NULL;
		if (v && strcmp(v, "1234") == 0 && has_1234)
			*has_1234 = 1;
		if (v && strcmp(v, "1240") == 0 && has_1240)
			*has_1240 = 1;
	}
	return n;
}

static int file_mode(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (int)(st.st_mode & 0777) : -1;
}

TEST(seed_demo)
{
	char out[128], path[256];
	fixture f;
	tf_err err;
	tf_json *page, *cred = NULL;
	char *text;
	size_t len;
	int h1234 = 0, h1240 = 0;
	uint64_t n;
	rd *r;

	fx_open(&f);
	snprintf(out, sizeof out, "%s/demo", f.dir);
	tf_err_clear(&err);
	CHECK_INT(tf_admin_seed_demo(&f.s, out, now_ms, NULL, &err), 0);
	if (err.msg[0])
		fprintf(stderr, "seed-demo: %s\n", err.msg);

	r = rd_do(&f, RD_AGENCY, NULL, "demo");
	CHECK_INT(r->rc, 0);
	CHECK_STR(r->ag.name, "Demo County Police Department");
	CHECK_INT(r->ag.banner_rev, 1);
	rd_free(r);
	r = rd_do(&f, RD_USER, "demo", "alvarez");
	CHECK_INT(r->rc, 0);
	CHECK_STR(r->u.unit, "2A12");
	CHECK_STR(r->u.roles[0], "officer");
	rd_free(r);
	r = rd_do(&f, RD_USER, "demo", "dana");
	CHECK_STR(r->u.roles[0], "dispatcher");
	CHECK_STR(r->u.name, "Dana Dispatcher");
	rd_free(r);
	r = rd_do(&f, RD_USER, "demo", "sgt.reyes");
	CHECK_STR(r->u.roles[0], "supervisor");
	rd_free(r);
	r = rd_do(&f, RD_DEVICE, "demo", "mdt-2a14");
	CHECK_INT(r->rc, 0);
	CHECK_INT(r->d.status, TF_DEV_ENROLLED);
	rd_free(r);
	r = rd_do(&f, RD_STATS, NULL, NULL);
	CHECK_INT(r->st.records, 7); /* 2 units, 2 incidents, 3 BOLOs */
	rd_free(r);

	/* Files: device keys and credentials, private. */
	snprintf(path, sizeof path, "%s/devices/mdt-2a12.pem", out);
	CHECK_INT(file_mode(path), 0600);
	snprintf(path, sizeof path, "%s/credentials.json", out);
	CHECK_INT(file_mode(path), 0600);
	text = tf_test_read_file(path, &len);
	CHECK(text != NULL);
	if (text) {
		CHECK_INT(tf_json_parse(text, len, NULL, &cred, NULL), 0);
		free(text);
	}
	if (cred) {
		const tf_json *users = tf_json_object_get(cred, "users");
		CHECK_STR(tf_json_get_str(cred, "agency", NULL), "demo");
		CHECK(users && users->type == TF_JSON_ARRAY && users->len >= 6);
		if (users && users->len > 1) {
			const tf_json *u = users->u.items[1];
			CHECK_STR(tf_json_get_str(u, "id", NULL), "alvarez");
			CHECK_STR(tf_json_get_str(u, "unit", NULL), "2A12");
			CHECK_STR(tf_json_get_str(u, "device", NULL),
				  "mdt-2a12");
			CHECK(tf_json_get_str(u, "password", NULL) != NULL);
			CHECK(tf_json_get_str(u, "totp_secret", NULL) != NULL);
		}
		tf_json_free(cred);
	}

	/* Scopes: Alvarez (2A12) sees #1234, not the unassigned #1240;
	   every BOLO and unit is agency-wide; Dana sees both incidents. */
	page = pull_as(&f, "alvarez", "mdt-2a12");
	CHECK(page != NULL);
	CHECK_INT(count_entity(page, "incident", &h1234, &h1240), 1);
	CHECK_INT(h1234, 1);
	CHECK_INT(h1240, 0);
	CHECK_INT(count_entity(page, "bolo", NULL, NULL), 3);
	CHECK_INT(count_entity(page, "unit", NULL, NULL), 2);
	tf_json_free(page);
	h1234 = h1240 = 0;
	page = pull_as(&f, "dana", "console-1");
	CHECK_INT(count_entity(page, "incident", &h1234, &h1240), 2);
	CHECK_INT(h1234 + h1240, 2);
	tf_json_free(page);

	/* A second run is refused and changes nothing. */
	n = audit_count(&f);
	CHECK_INT(tf_admin_seed_demo(&f.s, out, now_ms, NULL, &err), TF_EEXIST);
	CHECK(strstr(err.msg, "already exists") != NULL);
	CHECK_INT(audit_count(&f), n);
	fx_close(&f);
}

/* ------------------------------------------------------------ CLI */

static int run_admin(const char *a0, ...)
{
	char *argv[32];
	va_list ap;
	int argc = 0;
	const char *a;

	argv[argc++] = (char *)"admin";
	va_start(ap, a0);
	for (a = a0; a && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	fflush(stdout);
	return tf_admin_main(argc, argv);
}

TEST(cli)
{
	char dir[64], pwfile[128], pemfile[128];
	const char *S = TF_TEST_SCHEMA_PATH;
	FILE *fp;
	fixture f;
	rd *r;

	snprintf(dir, sizeof dir, "/tmp/tf-admin-cli-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return;
	/* usage errors: exit 2, nothing opened */
	CHECK_INT(run_admin(NULL), 2);
	CHECK_INT(run_admin("--data-dir", dir, "frobnicate", NULL), 2);
	CHECK_INT(run_admin("--bogus", "x", "user-list", NULL), 2);
	CHECK_INT(run_admin("--data-dir", NULL), 2);
	CHECK_INT(run_admin("--data-dir", dir, "init-agency", "t1", NULL), 2);
	CHECK_INT(run_admin("--data-dir", dir, "user-add", "x", "--name", "X",
			    NULL),
		  2);
	CHECK_INT(
		run_admin("--data-dir", dir, "user-add", "x", "--roles", NULL),
		2);
	CHECK_INT(run_admin("--data-dir", dir, "device-enroll", "d", "--label",
			    "L", NULL),
		  2);
	CHECK_INT(run_admin("--data-dir", dir, "audit-export", "--from", "0",
			    NULL),
		  2);
	CHECK_INT(run_admin("--data-dir", dir, "user-set-unit", "x", NULL), 2);
	CHECK_INT(access(dir, F_OK), 0);

	/* a working session of commands */
	CHECK_INT(run_admin("--data-dir", dir, "--schema", S, "init-agency",
			    "t1", "Test PD", NULL),
		  0);
	CHECK_INT(run_admin("--data-dir", dir, "--schema", S, "init-agency",
			    "t1", "Test PD", NULL),
		  1);
	snprintf(pwfile, sizeof pwfile, "%s/pw", dir);
	fp = fopen(pwfile, "w");
	CHECK(fp != NULL);
	if (fp) {
		fputs("Granite-Harbor-Owl-23\n", fp);
		fclose(fp);
	}
	CHECK_INT(run_admin("--data-dir", dir, "--schema", S, "user-add",
			    "reyes", "--name", "Sergeant Reyes", "--roles",
			    "supervisor,officer", "--unit", "2A10",
			    "--password-file", pwfile, NULL),
		  0);
	CHECK_INT(run_admin("--data-dir", dir, "--schema", S, "user-add",
			    "chief", "--name", "C", "--roles", "chief",
			    "--password-file", pwfile, NULL),
		  1);
	CHECK_INT(run_admin("--data-dir", dir, "--schema", S, "--as", "reyes",
			    "user-disable", "reyes", NULL),
		  1); /* not an admin */
	CHECK_INT(
		run_admin("--data-dir", dir, "--schema", S, "user-list", NULL),
		0);
	CHECK_INT(run_admin("--data-dir", dir, "--schema", S, "totp-code",
			    "reyes", NULL),
		  0);
	CHECK_INT(run_admin("--data-dir", dir, "--schema", S, "policy-show",
			    NULL),
		  0);
	CHECK_INT(run_admin("--data-dir", dir, "--schema", S, "policy-set",
			    "{\"lock_after_ms\":1}", NULL),
		  1);
	/* device from a PEM private key file */
	{
		tf_sigkey *k = NULL;
		snprintf(pemfile, sizeof pemfile, "%s/d.pem", dir);
		CHECK_INT(tf_sigkey_generate(&k), 0);
		CHECK_INT(tf_sigkey_save_pem(k, pemfile, NULL), 0);
		tf_sigkey_free(k);
	}
	CHECK_INT(run_admin("--data-dir", dir, "--schema", S, "device-enroll",
			    "mdt-9", "--label", "MDT nine", "--pubkey-pem",
			    pemfile, NULL),
		  0);
	CHECK_INT(run_admin("--data-dir", dir, "--schema", S, "device-list",
			    NULL),
		  0);
	CHECK_INT(run_admin("--data-dir", dir, "--schema", S, "device-revoke",
			    "mdt-9", NULL),
		  0);
	CHECK_INT(run_admin("--data-dir", dir, "--schema", S, "device-revoke",
			    "mdt-9", NULL),
		  1);
	CHECK_INT(run_admin("--data-dir", dir, "--schema", S, "audit-verify",
			    NULL),
		  0);
	/* each agency's chain, and the system chain, on their own */
	CHECK_INT(run_admin("--data-dir", dir, "--schema", S, "--agency", "t1",
			    "audit-verify", NULL),
		  0);
	CHECK_INT(run_admin("--data-dir", dir, "--schema", S, "audit-verify",
			    "--system", NULL),
		  0);
	CHECK_INT(run_admin("--data-dir", dir, "--schema", S, "audit-export",
			    "--system", "--from", "1", NULL),
		  0);
	CHECK_INT(run_admin("--data-dir", dir, "--schema", S, "audit-verify",
			    "--bogus", NULL),
		  2);
	CHECK_INT(run_admin("--data-dir", dir, "--schema", "/nonexistent.json",
			    "user-list", NULL),
		  1);

	/* the state the commands left */
	memset(&f, 0, sizeof f);
	snprintf(f.dir, sizeof f.dir, "%s", dir);
	snprintf(f.dsn, sizeof f.dsn, "sqlite:%s/tenfourd.db", dir);
	CHECK_INT(tf_db_open(f.dsn, NULL, &f.s.db, NULL), 0);
	if (f.s.db) {
		r = rd_do(&f, RD_USER, "t1", "reyes");
		CHECK_INT(r->rc, 0);
		CHECK_INT(r->u.nroles, 2);
		CHECK_STR(r->u.unit, "2A10");
		CHECK_INT(tf_auth_check_password(r->u.pwhash,
						 "Granite-Harbor-Owl-23", 21),
			  0);
		rd_free(r);
		r = rd_do(&f, RD_DEVICE, "t1", "mdt-9");
		CHECK_INT(r->rc, 0);
		CHECK_INT(r->d.status, TF_DEV_REVOKED);
		rd_free(r);
		r = rd_do(&f, RD_USER, "t1", "chief");
		CHECK_INT(r->rc, TF_ENOTFOUND);
		rd_free(r);
		tf_db_close(f.s.db);
	}

	/* --config: the daemon's option file names the data dir */
	{
		char cfgfile[128], dir2[160], db2[200];
		snprintf(cfgfile, sizeof cfgfile, "%s/tenfourd.conf", dir);
		snprintf(dir2, sizeof dir2, "%s/other", dir);
		snprintf(db2, sizeof db2, "%s/tenfourd.db", dir2);
		fp = fopen(cfgfile, "w");
		CHECK(fp != NULL);
		if (fp) {
			fprintf(fp, "# test\ndata-dir = %s\n", dir2);
			fclose(fp);
		}
		CHECK_INT(run_admin("--config", cfgfile, "--schema", S,
				    "init-agency", "t9", "Nine PD", NULL),
			  0);
		CHECK_INT(access(db2, F_OK), 0);
		fp = fopen(cfgfile, "w");
		if (fp) {
			fputs("threads = 0\n", fp);
			fclose(fp);
		}
		CHECK_INT(run_admin("--config", cfgfile, "user-list", NULL), 2);
		rm_tree(dir2, 0);
		unlink(cfgfile);
	}

	/* seed-demo through argv, twice */
	CHECK_INT(
		run_admin("--data-dir", dir, "--schema", S, "seed-demo", NULL),
		0);
	CHECK_INT(
		run_admin("--data-dir", dir, "--schema", S, "seed-demo", NULL),
		1);
	CHECK_INT(run_admin("--data-dir", dir, "--schema", S, "--agency",
			    "demo", "totp-code", "alvarez", NULL),
		  0);
	CHECK_INT(run_admin("--data-dir", dir, "--schema", S, "audit-verify",
			    NULL),
		  0);
	rm_tree(dir, 0);
}

int main(int argc, char **argv)
{
	char *text;
	size_t len;

	(void)argc;
	text = tf_test_read_file(TF_TEST_SCHEMA_PATH, &len);
	if (text == NULL || tf_schema_load(text, len, &schema, NULL)) {
		fprintf(stderr, "cannot load %s\n", TF_TEST_SCHEMA_PATH);
		return 1;
	}
	free(text);
	now_ms = wall_ms();
	RUN(agency_init_and_refusals);
	RUN(user_add_and_refusals);
	RUN(user_changes_revoke_sessions);
	RUN(devices_enroll_revoke);
	RUN(actor_device);
	RUN(policy_and_banner);
	RUN(seed_demo);
	RUN(cli);
	tf_schema_free(schema);
	return tf_test_finish(argv[0]);
}

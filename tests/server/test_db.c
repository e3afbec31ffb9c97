/*
 * test_db.c - the storage backend (src/server/db): every operation's round
 * trip and not-found, agency isolation, constraints, the feed, group
 * commit and savepoint isolation, read snapshots, migrations, the audit
 * chain (and tampering with it through sqlite3), and durability across
 * SIGKILL.  Databases live in a temp dir under /tmp, removed at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "server/db/db.h"
#include "server/db/sqlite.h"
#include "tenfour/audit.h"
#include "tf_test.h"

static char g_dir[64];

static void db_path(const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s", g_dir, name);
}

static tf_db *open_opts(const char *name, const tf_db_options *o)
{
	char path[256], dsn[300];
	tf_db *db = NULL;
	tf_err e;
	int rc;

	db_path(name, path, sizeof path);
	snprintf(dsn, sizeof dsn, "sqlite:%s", path);
	rc = tf_db_open(dsn, o, &db, &e);
	if (rc != 0)
		tf_test_fail(__FILE__, __LINE__, "open %s: %s", name, e.msg);
	return db;
}

static tf_db *open_db(const char *name)
{
	return open_opts(name, NULL);
}

/* Runs a body inside tf_db_write / tf_db_read; the body CHECKs. */
typedef void (*body_fn)(tf_db_txn *t, void *arg);
typedef struct body {
	body_fn fn;
	void *arg;
	int rc; /* what the txn fn returns */
} body;

static int run_body(tf_db_txn *t, void *arg, tf_err *err)
{
	body *b = arg;

	(void)err;
	b->fn(t, b->arg);
	return b->rc;
}

static int wr(tf_db *db, body_fn fn, void *arg)
{
	body b = {fn, arg, 0};
	tf_err e;

	return tf_db_write(db, run_body, &b, &e);
}

static int rd(tf_db *db, body_fn fn, void *arg)
{
	body b = {fn, arg, 0};
	tf_err e;

	return tf_db_read(db, run_body, &b, &e);
}

static void mkuuid(unsigned n, char out[TF_UUID_LEN + 1])
{
	snprintf(out, TF_UUID_LEN + 1, "00000000-0000-7000-8000-%012x", n);
}

static void mkhash(unsigned n, char out[TF_DB_HASH_HEX + 1])
{
	snprintf(out, TF_DB_HASH_HEX + 1, "%064x", n);
}

/* Direct SQL on a closed database file (tampering, future versions). */
static int raw_sql(const char *name, const char *sql)
{
	char path[256];
	sqlite3 *h = NULL;
	int rc;

	db_path(name, path, sizeof path);
	rc = sqlite3_open(path, &h);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
	sqlite3_close(h);
	return rc;
}

/* ------------------------------------------------------------ fixtures */

static void put_agency(tf_db_txn *t, const char *id)
{
	tf_db_agency a;
	tf_err e;

	memset(&a, 0, sizeof a);
	snprintf(a.id, sizeof a.id, "%s", id);
	snprintf(a.name, sizeof a.name, "Agency %s", id);
	tf_agency_policy_default(&a.policy);
	snprintf(a.banner, sizeof a.banner, "Authorized use only (%s)", id);
	CHECK_INT(t->ops->agency_put(t, &a, &e), 0);
}

static void put_device(tf_db_txn *t, const char *agency, const char *id)
{
	tf_db_device d;
	tf_err e;

	memset(&d, 0, sizeof d);
	snprintf(d.agency, sizeof d.agency, "%s", agency);
	snprintf(d.id, sizeof d.id, "%s", id);
	snprintf(d.label, sizeof d.label, "MDT %s", id);
	snprintf(d.pubkey, sizeof d.pubkey, "pk-%s", id);
	d.status = TF_DEV_ENROLLED;
	d.enrolled_at = 1000;
	CHECK_INT(t->ops->device_put(t, &d, &e), 0);
}

static void put_user(tf_db_txn *t, const char *agency, const char *id,
		     const char *name)
{
	tf_db_user u;
	tf_err e;

	memset(&u, 0, sizeof u);
	snprintf(u.agency, sizeof u.agency, "%s", agency);
	snprintf(u.id, sizeof u.id, "%s", id);
	snprintf(u.name, sizeof u.name, "%s", name);
	snprintf(u.roles[0], sizeof u.roles[0], "officer");
	snprintf(u.roles[1], sizeof u.roles[1], "supervisor");
	u.nroles = 2;
	snprintf(u.unit, sizeof u.unit, "2A12");
	snprintf(u.pwhash, sizeof u.pwhash,
		 "pbkdf2-sha256$600000$c2FsdA$aGFzaA");
	snprintf(u.totp, sizeof u.totp, "JBSWY3DPEHPK3PXP");
	u.totp_last_step = 55;
	u.lockout.fail_ms[0] = 100;
	u.lockout.fail_ms[1] = 200;
	u.lockout.nfail = 2;
	u.created_at = 1234;
	CHECK_INT(t->ops->user_put(t, &u, &e), 0);
}

static void seed_body(tf_db_txn *t, void *arg)
{
	(void)arg;
	put_agency(t, "a1");
	put_agency(t, "a2");
	put_device(t, "a1", "d1");
	put_device(t, "a2", "d1");
	put_user(t, "a1", "alvarez", "Officer Alvarez");
	put_user(t, "a2", "alvarez", "Other Alvarez");
}

static tf_db *open_seeded(const char *name)
{
	tf_db *db = open_db(name);

	if (db)
		CHECK_INT(wr(db, seed_body, NULL), 0);
	return db;
}

/* -------------------------------------------------------------- open */

TEST(test_open_dsn)
{
	char path[256], bare[300];
	tf_db *db = NULL;
	tf_db_options o;
	struct stat st;
	tf_err e;

	CHECK_INT(tf_db_open("postgres://u:secret@h/db", NULL, &db, &e),
		  TF_EINVAL);
	CHECK(db == NULL);
	CHECK(strstr(e.msg, "\"postgres\"") != NULL);
	CHECK(strstr(e.msg, "secret") == NULL);
	CHECK_INT(tf_db_open("", NULL, &db, &e), TF_EINVAL);
	CHECK_INT(tf_db_open("sqlite:", NULL, &db, &e), TF_EINVAL);
	CHECK_INT(tf_db_open(NULL, NULL, &db, &e), TF_EINVAL);

	tf_db_options_default(&o);
	CHECK_INT(o.fsync, 1);
	CHECK_INT(o.readers, 8);
	CHECK_INT(o.group_max, 256);
	o.readers = 0;
	CHECK_INT(tf_db_open("sqlite:/tmp/never-created.db", &o, &db, &e),
		  TF_ERANGE);
	CHECK_STR(e.where, "readers");
	tf_db_options_default(&o);
	o.group_max = 100000;
	CHECK_INT(tf_db_open("sqlite:/tmp/never-created.db", &o, &db, &e),
		  TF_ERANGE);
	CHECK(access("/tmp/never-created.db", F_OK) != 0);

	/* a bare path; the file is created 0600 */
	db_path("bare.db", path, sizeof path);
	snprintf(bare, sizeof bare, "%s", path);
	CHECK_INT(tf_db_open(bare, NULL, &db, &e), 0);
	CHECK(db != NULL);
	if (db) {
		CHECK_STR(db->ops->name, "sqlite");
		tf_db_close(db);
	}
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	tf_db_close(NULL);
}

/* -------------------------------------------------------------- meta */

static void meta_body(tf_db_txn *t, void *arg)
{
	char *v = NULL;
	size_t n = 99;
	tf_err e;

	(void)arg;
	CHECK_INT(t->ops->meta_put(t, "server_key", "PEM\0x", 5, &e), 0);
	CHECK_INT(t->ops->meta_get(t, "server_key", &v, &n, &e), 0);
	CHECK_INT(n, 5);
	CHECK(v != NULL && memcmp(v, "PEM\0x", 5) == 0 && v[5] == '\0');
	free(v);
	CHECK_INT(t->ops->meta_put(t, "server_key", "new", 3, &e), 0);
	CHECK_INT(t->ops->meta_put(t, "empty", NULL, 0, &e), 0);
	CHECK_INT(t->ops->meta_get(t, "nope", &v, &n, &e), TF_ENOTFOUND);
	CHECK(v == NULL);
	CHECK_INT(t->ops->meta_put(t, "schema_version", "9", 1, &e), TF_EINVAL);
	CHECK_INT(t->ops->meta_put(t, "", "x", 1, &e), TF_EINVAL);
}

static void meta_read_body(tf_db_txn *t, void *arg)
{
	char *v = NULL;
	size_t n = 0;
	tf_err e;

	(void)arg;
	CHECK_INT(t->writable, 0);
	CHECK_INT(t->ops->meta_get(t, "server_key", &v, &n, &e), 0);
	CHECK(n == 3 && v && memcmp(v, "new", 3) == 0);
	free(v);
	CHECK_INT(t->ops->meta_get(t, "empty", &v, &n, &e), 0);
	CHECK_INT(n, 0);
	free(v);
	CHECK_INT(t->ops->meta_get(t, "schema_version", &v, &n, &e), 0);
	CHECK(n == 1 && v && v[0] == '2');
	free(v);
	/* writes need tf_db_write */
	CHECK_INT(t->ops->meta_put(t, "x", "y", 1, &e), TF_EINVAL);
	CHECK(strstr(e.msg, "write transaction") != NULL);
}

TEST(test_meta)
{
	tf_db *db = open_db("meta.db");

	if (!db)
		return;
	CHECK_INT(wr(db, meta_body, NULL), 0);
	CHECK_INT(rd(db, meta_read_body, NULL), 0);
	tf_db_close(db);
}

/* ------------------------------------------- agency, user, device */

static void identity_body(tf_db_txn *t, void *arg)
{
	tf_db_agency a;
	tf_db_user u;
	tf_db_device d;
	tf_err e;

	(void)arg;
	CHECK_INT(t->ops->agency_get(t, "a1", &a, &e), 0);
	CHECK_STR(a.id, "a1");
	CHECK_STR(a.name, "Agency a1");
	CHECK_STR(a.banner, "Authorized use only (a1)");
	CHECK_INT(a.banner_rev, 1);
	CHECK_INT(a.policy.lockout_failures, 5);
	CHECK_INT(t->ops->agency_get(t, "zz", &a, &e), TF_ENOTFOUND);

	CHECK_INT(t->ops->user_get(t, "a1", "alvarez", &u, &e), 0);
	CHECK_STR(u.agency, "a1");
	CHECK_STR(u.name, "Officer Alvarez");
	CHECK_INT(u.nroles, 2);
	CHECK_STR(u.roles[0], "officer");
	CHECK_STR(u.roles[1], "supervisor");
	CHECK_STR(u.unit, "2A12");
	CHECK_STR(u.totp, "JBSWY3DPEHPK3PXP");
	CHECK_INT(u.totp_last_step, 55);
	CHECK_INT(u.lockout.nfail, 2);
	CHECK_INT(u.lockout.fail_ms[1], 200);
	CHECK_INT(u.lockout.locked, 0);
	CHECK_INT(u.created_at, 1234);
	/* the same id in the other agency is another user */
	CHECK_INT(t->ops->user_get(t, "a2", "alvarez", &u, &e), 0);
	CHECK_STR(u.name, "Other Alvarez");
	CHECK_INT(t->ops->user_get(t, "a1", "brooks", &u, &e), TF_ENOTFOUND);
	CHECK_INT(t->ops->user_get(t, "a3", "alvarez", &u, &e), TF_ENOTFOUND);
	CHECK_INT(t->ops->user_get(t, "a1", "bad id!", &u, &e), TF_ENOTFOUND);

	CHECK_INT(t->ops->device_get(t, "a1", "d1", &d, &e), 0);
	CHECK_STR(d.label, "MDT d1");
	CHECK_STR(d.pubkey, "pk-d1");
	CHECK_INT(d.status, TF_DEV_ENROLLED);
	CHECK_INT(d.enrolled_at, 1000);
	CHECK_INT(t->ops->device_get(t, "a1", "d2", &d, &e), TF_ENOTFOUND);
}

static void identity_update_body(tf_db_txn *t, void *arg)
{
	tf_db_agency a;
	tf_db_user u;
	tf_db_device d;
	tf_err e;

	(void)arg;
	/* banner change bumps banner_rev; another change keeps it */
	CHECK_INT(t->ops->agency_get(t, "a1", &a, &e), 0);
	snprintf(a.banner, sizeof a.banner, "New banner");
	CHECK_INT(t->ops->agency_put(t, &a, &e), 0);
	CHECK_INT(t->ops->agency_get(t, "a1", &a, &e), 0);
	CHECK_INT(a.banner_rev, 2);
	a.policy.wipe_after = 3;
	CHECK_INT(t->ops->agency_put(t, &a, &e), 0);
	CHECK_INT(t->ops->agency_get(t, "a1", &a, &e), 0);
	CHECK_INT(a.banner_rev, 2);
	CHECK_INT(a.policy.wipe_after, 3);
	/* a policy out of range is refused */
	a.policy.lockout_failures = 9;
	CHECK_INT(t->ops->agency_put(t, &a, &e), TF_ERANGE);

	CHECK_INT(t->ops->user_get(t, "a1", "alvarez", &u, &e), 0);
	u.lockout.locked = 1;
	u.nroles = 1;
	u.disabled = 1;
	CHECK_INT(t->ops->user_put(t, &u, &e), 0);
	CHECK_INT(t->ops->user_get(t, "a1", "alvarez", &u, &e), 0);
	CHECK_INT(u.lockout.locked, 1);
	CHECK_INT(u.nroles, 1);
	CHECK_INT(u.disabled, 1);
	snprintf(u.roles[0], sizeof u.roles[0], "Bad Role");
	CHECK_INT(t->ops->user_put(t, &u, &e), TF_EINVAL);
	CHECK_STR(e.where, "user.roles");
	snprintf(u.roles[0], sizeof u.roles[0], "officer");
	memset(u.name, 'x', sizeof u.name); /* not terminated */
	CHECK_INT(t->ops->user_put(t, &u, &e), TF_EINVAL);
	CHECK_STR(e.where, "user.name");
	/* a user of an agency that does not exist */
	CHECK_INT(t->ops->user_get(t, "a1", "alvarez", &u, &e), 0);
	snprintf(u.agency, sizeof u.agency, "a9");
	CHECK_INT(t->ops->user_put(t, &u, &e), TF_ENOTFOUND);

	CHECK_INT(t->ops->device_get(t, "a1", "d1", &d, &e), 0);
	d.status = TF_DEV_REVOKED;
	d.revoked_at = 2000;
	CHECK_INT(t->ops->device_put(t, &d, &e), 0);
	CHECK_INT(t->ops->device_get(t, "a1", "d1", &d, &e), 0);
	CHECK_INT(d.status, TF_DEV_REVOKED);
	CHECK_INT(d.revoked_at, 2000);
	d.status = 7;
	CHECK_INT(t->ops->device_put(t, &d, &e), TF_EINVAL);
	/* the other agency's d1 did not change */
	CHECK_INT(t->ops->device_get(t, "a2", "d1", &d, &e), 0);
	CHECK_INT(d.status, TF_DEV_ENROLLED);
}

TEST(test_identity)
{
	tf_db *db = open_seeded("identity.db");

	if (!db)
		return;
	CHECK_INT(rd(db, identity_body, NULL), 0);
	CHECK_INT(wr(db, identity_update_body, NULL), 0);
	tf_db_close(db);
}

/* ---------------------------------------------------------- sessions */

static void put_session(tf_db_txn *t, unsigned n, const char *agency,
			const char *user, const char *device, int want)
{
	tf_db_session s;
	tf_err e;

	memset(&s, 0, sizeof s);
	mkhash(n, s.token_hash);
	snprintf(s.agency, sizeof s.agency, "%s", agency);
	snprintf(s.user, sizeof s.user, "%s", user);
	snprintf(s.device, sizeof s.device, "%s", device);
	s.created_at = 10;
	s.expires_at = 10 + 12 * 3600 * 1000LL;
	CHECK_INT(t->ops->session_put(t, &s, &e), want);
}

static void session_body(tf_db_txn *t, void *arg)
{
	tf_db_session s;
	char h[TF_DB_HASH_HEX + 1];
	uint64_t n = 99;
	tf_err e;

	(void)arg;
	put_device(t, "a1", "d2");
	put_user(t, "a1", "brooks", "Brooks");
	put_session(t, 1, "a1", "alvarez", "d1", 0);
	put_session(t, 2, "a1", "alvarez", "d2", 0);
	put_session(t, 3, "a1", "brooks", "d1", 0);
	put_session(t, 4, "a2", "alvarez", "d1", 0);
	/* the same token hash for someone else changes nothing */
	put_session(t, 1, "a2", "alvarez", "d1", TF_EEXIST);
	/* a session needs an existing user and device */
	put_session(t, 5, "a1", "nobody", "d1", TF_ENOTFOUND);

	mkhash(1, h);
	CHECK_INT(t->ops->session_get(t, h, &s, &e), 0);
	CHECK_STR(s.agency, "a1");
	CHECK_STR(s.user, "alvarez");
	CHECK_STR(s.device, "d1");
	CHECK_INT(s.revoked, 0);
	mkhash(77, h);
	CHECK_INT(t->ops->session_get(t, h, &s, &e), TF_ENOTFOUND);
	CHECK_INT(t->ops->session_get(t, "short", &s, &e), TF_ENOTFOUND);

	CHECK_INT(t->ops->session_revoke_all(t, "a1", "alvarez", NULL, &n, &e),
		  0);
	CHECK_INT(n, 2);
	CHECK_INT(t->ops->session_revoke_all(t, "a1", "alvarez", NULL, &n, &e),
		  0);
	CHECK_INT(n, 0);
	CHECK_INT(t->ops->session_revoke_all(t, "a1", NULL, "d1", &n, &e), 0);
	CHECK_INT(n, 1); /* brooks on d1; alvarez's was already revoked */
	CHECK_INT(t->ops->session_revoke_all(t, "a1", NULL, NULL, &n, &e),
		  TF_EINVAL);
	mkhash(4, h);
	CHECK_INT(t->ops->session_get(t, h, &s, &e), 0);
	CHECK_INT(s.revoked, 0); /* the other agency's session stays */
	mkhash(1, h);
	CHECK_INT(t->ops->session_get(t, h, &s, &e), 0);
	CHECK_INT(s.revoked, 1);
	CHECK_INT(t->ops->session_revoke_all(t, "a2", "alvarez", "d1", &n, &e),
		  0);
	CHECK_INT(n, 1);
}

TEST(test_sessions)
{
	tf_db *db = open_seeded("sessions.db");

	if (!db)
		return;
	CHECK_INT(wr(db, session_body, NULL), 0);
	tf_db_close(db);
}

/* ------------------------------------------------------------ ledger */

static void mkledger(tf_db_ledger *l, const char *device, uint64_t seq,
		     unsigned cmd, const char *result)
{
	memset(l, 0, sizeof *l);
	snprintf(l->device, sizeof l->device, "%s", device);
	l->seq = seq;
	mkuuid(cmd, l->cmd_id);
	mkhash(cmd, l->req_hash);
	l->status = TF_ST_APPLIED;
	l->result = (char *)result;
	l->result_len = strlen(result);
	l->at_ms = 5000 + (int64_t)seq;
}

static void ledger_body(tf_db_txn *t, void *arg)
{
	tf_db_ledger l, g;
	char id[TF_UUID_LEN + 1];
	uint64_t last = 99;
	tf_err e;

	(void)arg;
	CHECK_INT(t->ops->ledger_last(t, "a1", "d1", &last, &e), 0);
	CHECK_INT(last, 0);
	mkledger(&l, "d1", 1, 1, "{\"status\":\"applied\"}");
	CHECK_INT(t->ops->ledger_put(t, "a1", &l, &e), 0);
	mkledger(&l, "d1", 2, 2, "");
	l.status = TF_ST_REJECTED;
	CHECK_INT(t->ops->ledger_put(t, "a1", &l, &e), 0);
	/* (device, seq) taken */
	mkledger(&l, "d1", 2, 3, "{}");
	CHECK_INT(t->ops->ledger_put(t, "a1", &l, &e), TF_EEXIST);
	/* cmd_id taken */
	mkledger(&l, "d1", 3, 1, "{}");
	CHECK_INT(t->ops->ledger_put(t, "a1", &l, &e), TF_EEXIST);
	/* the same seq and cmd_id in the other agency are its own */
	mkledger(&l, "d1", 1, 1, "{\"other\":1}");
	CHECK_INT(t->ops->ledger_put(t, "a2", &l, &e), 0);
	/* an unknown device */
	mkledger(&l, "d9", 1, 9, "{}");
	CHECK_INT(t->ops->ledger_put(t, "a1", &l, &e), TF_ENOTFOUND);
	mkledger(&l, "d1", 0, 10, "{}");
	CHECK_INT(t->ops->ledger_put(t, "a1", &l, &e), TF_EINVAL);
	CHECK_STR(e.where, "ledger.seq");
	mkledger(&l, "d1", 3, 10, "{}");
	snprintf(l.cmd_id, sizeof l.cmd_id, "not-a-uuid");
	CHECK_INT(t->ops->ledger_put(t, "a1", &l, &e), TF_EINVAL);

	CHECK_INT(t->ops->ledger_last(t, "a1", "d1", &last, &e), 0);
	CHECK_INT(last, 2);
	CHECK_INT(t->ops->ledger_last(t, "a2", "d1", &last, &e), 0);
	CHECK_INT(last, 1);
	CHECK_INT(t->ops->ledger_get_seq(t, "a1", "d1", 1, &g, &e), 0);
	CHECK_INT(g.seq, 1);
	CHECK_STR(g.device, "d1");
	CHECK_INT(g.status, TF_ST_APPLIED);
	CHECK_INT(g.result_len, strlen("{\"status\":\"applied\"}"));
	CHECK_STR(g.result, "{\"status\":\"applied\"}");
	CHECK_INT(g.at_ms, 5001);
	tf_db_ledger_clear(&g);
	CHECK(g.result == NULL);
	CHECK_INT(t->ops->ledger_get_seq(t, "a1", "d1", 2, &g, &e), 0);
	CHECK_INT(g.status, TF_ST_REJECTED);
	CHECK_INT(g.result_len, 0);
	CHECK_STR(g.result, "");
	tf_db_ledger_clear(&g);
	CHECK_INT(t->ops->ledger_get_seq(t, "a1", "d1", 3, &g, &e),
		  TF_ENOTFOUND);
	mkuuid(2, id);
	CHECK_INT(t->ops->ledger_get_cmd(t, "a1", id, &g, &e), 0);
	CHECK_INT(g.seq, 2);
	tf_db_ledger_clear(&g);
	CHECK_INT(t->ops->ledger_get_cmd(t, "a2", id, &g, &e), TF_ENOTFOUND);
	mkuuid(1, id);
	CHECK_INT(t->ops->ledger_get_cmd(t, "a2", id, &g, &e), 0);
	CHECK_STR(g.result, "{\"other\":1}");
	tf_db_ledger_clear(&g);
}

TEST(test_ledger)
{
	tf_db *db = open_seeded("ledger.db");

	if (!db)
		return;
	CHECK_INT(wr(db, ledger_body, NULL), 0);
	tf_db_close(db);
}

/* ----------------------------------------------------------- records */

typedef struct feed {
	char ids[16][TF_UUID_LEN + 1];
	uint64_t chg[16];
	size_t n;
	int stop_at; /* return 1 at this index, -1: never */
} feed;

static int feed_cb(void *arg, const tf_db_record *r)
{
	feed *f = arg;

	if (f->n >= 16)
		return TF_ELIMIT;
	memcpy(f->ids[f->n], r->id, sizeof f->ids[0]);
	f->chg[f->n] = r->chg;
	CHECK(r->state != NULL && r->state_len == strlen(r->state));
	f->n++;
	return (int)f->n - 1 == f->stop_at ? 1 : 0;
}

static void records_body(tf_db_txn *t, void *arg)
{
	char id[TF_UUID_LEN + 1];
	uint64_t chg = 0, prev = 0, head = 0;
	tf_db_record r;
	feed f;
	tf_err e;
	unsigned i;

	(void)arg;
	/* a1: records 1..5; a2: records 1..3 (same ids) interleaved */
	for (i = 1; i <= 5; i++) {
		mkuuid(i, id);
		CHECK_INT(t->ops->record_put(t, "a1", id, "incident",
					     "{\"a\":1}", 7, &chg, &e),
			  0);
		CHECK(chg > prev);
		prev = chg;
		if (i <= 3) {
			CHECK_INT(t->ops->record_put(t, "a2", id, "incident",
						     "{\"b\":22}", 8, &chg, &e),
				  0);
			CHECK(chg > prev);
			prev = chg;
		}
	}
	/* rewriting record 2 moves it to the end of the feed */
	mkuuid(2, id);
	CHECK_INT(t->ops->record_put(t, "a1", id, "incident", "{\"a\":2}", 7,
				     &chg, &e),
		  0);
	CHECK(chg > prev);
	CHECK_INT(t->ops->head_chg(t, &head, &e), 0);
	CHECK_INT(head, chg);
	/* another entity under the same id is refused */
	CHECK_INT(t->ops->record_put(t, "a1", id, "unit", "{}", 2, &chg, &e),
		  TF_EINVAL);
	CHECK_INT(t->ops->record_put(t, "a1", "bad", "incident", "{}", 2, &chg,
				     &e),
		  TF_EINVAL);
	CHECK_INT(
		t->ops->record_put(t, "a1", id, "incident", "{}", 0, &chg, &e),
		TF_ELIMIT);

	CHECK_INT(t->ops->record_get(t, "a1", id, &r, &e), 0);
	CHECK_STR(r.id, id);
	CHECK_STR(r.entity, "incident");
	CHECK_STR(r.state, "{\"a\":2}");
	CHECK_INT(r.state_len, 7);
	tf_db_record_clear(&r);
	CHECK(r.state == NULL);
	CHECK_INT(t->ops->record_get(t, "a2", id, &r, &e), 0);
	CHECK_STR(r.state, "{\"b\":22}");
	tf_db_record_clear(&r);
	mkuuid(4, id);
	CHECK_INT(t->ops->record_get(t, "a2", id, &r, &e), TF_ENOTFOUND);

	memset(&f, 0, sizeof f);
	f.stop_at = -1;
	CHECK_INT(t->ops->records_since(t, "a1", 0, 100, feed_cb, &f, &e), 0);
	CHECK_INT(f.n, 5);
	mkuuid(1, id);
	CHECK_STR(f.ids[0], id);
	mkuuid(2, id);
	CHECK_STR(f.ids[4], id);
	for (i = 1; i < f.n; i++)
		CHECK(f.chg[i] > f.chg[i - 1]);
	/* after a cursor, with a limit */
	prev = f.chg[1];
	memset(&f, 0, sizeof f);
	f.stop_at = -1;
	CHECK_INT(t->ops->records_since(t, "a1", prev, 2, feed_cb, &f, &e), 0);
	CHECK_INT(f.n, 2);
	mkuuid(4, id);
	CHECK_STR(f.ids[0], id);
	CHECK(f.chg[0] > prev);
	/* a2 sees its own 3 */
	memset(&f, 0, sizeof f);
	f.stop_at = -1;
	CHECK_INT(t->ops->records_since(t, "a2", 0, 100, feed_cb, &f, &e), 0);
	CHECK_INT(f.n, 3);
	/* the callback stops the scan: 1 quietly, < 0 with its error */
	memset(&f, 0, sizeof f);
	f.stop_at = 1;
	CHECK_INT(t->ops->records_since(t, "a1", 0, 100, feed_cb, &f, &e), 0);
	CHECK_INT(f.n, 2);
	memset(&f, 0, sizeof f);
	f.stop_at = -1;
	f.n = 16;
	CHECK_INT(t->ops->records_since(t, "a1", 0, 100, feed_cb, &f, &e),
		  TF_ELIMIT);
	memset(&f, 0, sizeof f);
	f.stop_at = -1;
	CHECK_INT(t->ops->records_since(t, "a3", 0, 100, feed_cb, &f, &e), 0);
	CHECK_INT(f.n, 0);
}

/* A scan inside a scan of the same statement gets its own statement. */
typedef struct nest {
	tf_db_txn *t;
	size_t outer, inner;
} nest;

static int inner_cb(void *arg, const tf_db_record *r)
{
	nest *n = arg;

	(void)r;
	n->inner++;
	return 0;
}

static int outer_cb(void *arg, const tf_db_record *r)
{
	nest *n = arg;
	tf_db_record g;
	tf_err e;

	n->outer++;
	CHECK_INT(n->t->ops->record_get(n->t, "a1", r->id, &g, &e), 0);
	CHECK_STR(g.state, r->state);
	tf_db_record_clear(&g);
	return n->t->ops->records_since(n->t, "a1", 0, 0, inner_cb, n, &e);
}

static void nested_scan_body(tf_db_txn *t, void *arg)
{
	nest n = {t, 0, 0};
	tf_err e;

	(void)arg;
	CHECK_INT(t->ops->records_since(t, "a1", 0, 0, outer_cb, &n, &e), 0);
	CHECK_INT(n.outer, 5);
	CHECK_INT(n.inner, 25);
	/* and the cached statement still works afterwards */
	n.inner = 0;
	CHECK_INT(t->ops->records_since(t, "a1", 0, 0, inner_cb, &n, &e), 0);
	CHECK_INT(n.inner, 5);
}

TEST(test_records)
{
	tf_db *db = open_seeded("records.db");

	if (!db)
		return;
	CHECK_INT(wr(db, records_body, NULL), 0);
	CHECK_INT(rd(db, nested_scan_body, NULL), 0);
	tf_db_close(db);
}

/* chg keeps growing across close and reopen */
static void put_one_record(tf_db_txn *t, void *arg)
{
	uint64_t *chg = arg;
	char id[TF_UUID_LEN + 1];
	tf_err e;

	mkuuid(1, id);
	CHECK_INT(t->ops->record_put(t, "a1", id, "incident", "{}", 2, chg, &e),
		  0);
}

static void head_body(tf_db_txn *t, void *arg)
{
	tf_err e;

	CHECK_INT(t->ops->head_chg(t, arg, &e), 0);
}

TEST(test_chg_restart)
{
	uint64_t c1 = 0, c2 = 0, c3 = 0, head = 0;
	tf_db *db = open_seeded("chg.db");

	if (!db)
		return;
	CHECK_INT(rd(db, head_body, &head), 0);
	CHECK_INT(head, 0);
	CHECK_INT(wr(db, put_one_record, &c1), 0);
	CHECK_INT(wr(db, put_one_record, &c2), 0);
	CHECK(c2 > c1 && c1 > 0);
	tf_db_close(db);
	db = open_db("chg.db");
	if (!db)
		return;
	CHECK_INT(rd(db, head_body, &head), 0);
	CHECK_INT(head, c2);
	CHECK_INT(wr(db, put_one_record, &c3), 0);
	CHECK(c3 > c2);
	tf_db_close(db);
}

/* -------------------------------------------- text revisions, conflicts */

typedef struct revs {
	int64_t rev[8];
	int kind[8];
	char text[8][32];
	size_t n;
} revs;

static int rev_cb(void *arg, const tf_db_textrev *r)
{
	revs *v = arg;

	if (v->n >= 8)
		return TF_ELIMIT;
	v->rev[v->n] = r->rev;
	v->kind[v->n] = r->kind;
	snprintf(v->text[v->n], sizeof v->text[0], "%.*s", (int)r->text_len,
		 r->text);
	CHECK(r->text[r->text_len] == '\0');
	v->n++;
	return 0;
}

typedef struct confs {
	char ids[8][TF_UUID_LEN + 1];
	size_t n;
} confs;

static int conf_cb(void *arg, const tf_db_conflict *c)
{
	confs *v = arg;

	if (v->n >= 8)
		return TF_ELIMIT;
	memcpy(v->ids[v->n++], c->conflict_id, TF_UUID_LEN + 1);
	CHECK_STR(c->field, "remarks");
	return 0;
}

static void text_body(tf_db_txn *t, void *arg)
{
	tf_db_textrev r;
	tf_db_conflict c;
	revs v;
	confs cv;
	char rid[TF_UUID_LEN + 1], cid[TF_UUID_LEN + 1];
	tf_err e;

	(void)arg;
	mkuuid(1, rid);
	memset(&r, 0, sizeof r);
	memcpy(r.record_id, rid, sizeof rid);
	snprintf(r.field, sizeof r.field, "remarks");
	snprintf(r.by, sizeof r.by, "alvarez");
	mkuuid(100, r.cmd_id);
	r.rev = 1;
	r.kind = TF_TEXTREV_EDIT;
	r.text = "first";
	r.text_len = 5;
	CHECK_INT(t->ops->textrev_put(t, "a1", &r, &e), 0);
	r.rev = 1;
	r.kind = TF_TEXTREV_PROPOSED;
	r.text = "second";
	r.text_len = 6;
	CHECK_INT(t->ops->textrev_put(t, "a1", &r, &e), 0);
	r.rev = 2;
	r.kind = TF_TEXTREV_DISCARDED;
	r.text = "";
	r.text_len = 0;
	r.cmd_id[0] = '\0';
	CHECK_INT(t->ops->textrev_put(t, "a1", &r, &e), 0);
	r.text = "other agency";
	r.text_len = 12;
	CHECK_INT(t->ops->textrev_put(t, "a2", &r, &e), 0);
	r.kind = 9;
	CHECK_INT(t->ops->textrev_put(t, "a1", &r, &e), TF_EINVAL);

	memset(&v, 0, sizeof v);
	CHECK_INT(t->ops->textrev_list(t, "a1", rid, "remarks", rev_cb, &v, &e),
		  0);
	CHECK_INT(v.n, 3);
	CHECK_STR(v.text[0], "first");
	CHECK_INT(v.kind[1], TF_TEXTREV_PROPOSED);
	CHECK_STR(v.text[1], "second");
	CHECK_STR(v.text[2], "");
	CHECK_INT(v.rev[2], 2);
	memset(&v, 0, sizeof v);
	CHECK_INT(
		t->ops->textrev_list(t, "a1", rid, "narrative", rev_cb, &v, &e),
		0);
	CHECK_INT(v.n, 0);

	memset(&c, 0, sizeof c);
	memcpy(c.record_id, rid, sizeof rid);
	snprintf(c.entity, sizeof c.entity, "incident");
	snprintf(c.field, sizeof c.field, "remarks");
	mkuuid(200, c.conflict_id);
	c.opened_at = 50;
	CHECK_INT(t->ops->conflict_put(t, "a1", &c, &e), 0);
	CHECK_INT(t->ops->conflict_put(t, "a1", &c, &e), TF_EEXIST);
	mkuuid(201, c.conflict_id);
	c.opened_at = 40;
	CHECK_INT(t->ops->conflict_put(t, "a1", &c, &e), 0);
	CHECK_INT(t->ops->conflict_put(t, "a2", &c, &e), 0);
	memset(&cv, 0, sizeof cv);
	CHECK_INT(t->ops->conflict_list(t, "a1", conf_cb, &cv, &e), 0);
	CHECK_INT(cv.n, 2);
	mkuuid(201, cid);
	CHECK_STR(cv.ids[0], cid); /* oldest first */
	CHECK_INT(t->ops->conflict_del(t, "a1", rid, cid, &e), 0);
	CHECK_INT(t->ops->conflict_del(t, "a1", rid, cid, &e), TF_ENOTFOUND);
	memset(&cv, 0, sizeof cv);
	CHECK_INT(t->ops->conflict_list(t, "a1", conf_cb, &cv, &e), 0);
	CHECK_INT(cv.n, 1);
	memset(&cv, 0, sizeof cv);
	CHECK_INT(t->ops->conflict_list(t, "a2", conf_cb, &cv, &e), 0);
	CHECK_INT(cv.n, 1);
}

TEST(test_text_conflicts)
{
	tf_db *db = open_seeded("text.db");

	if (!db)
		return;
	CHECK_INT(wr(db, text_body, NULL), 0);
	tf_db_close(db);
}

/* -------------------------------------------------------------- audit */

/* A scanned log: bytes copied, hash recomputed (the verifier trusts the
   hashes it is given, so the host hashes what it read, as the audit
   service does); stored[] keeps the hash column. */
typedef struct chain {
	tf_audit_blob b[32];
	uint8_t stored[32][32];
	size_t n;
	const char *agency; /* audit_scan: the chain (NULL: "a1") */
} chain;

static int chain_cb(void *arg, const tf_db_audit *a)
{
	chain *c = arg;
	char *copy;

	if (c->n >= 32)
		return TF_ELIMIT;
	copy = malloc(a->len + 1);
	if (copy == NULL)
		return TF_ENOMEM;
	memcpy(copy, a->bytes, a->len);
	copy[a->len] = '\0';
	c->b[c->n].bytes = copy;
	c->b[c->n].len = a->len;
	memcpy(c->stored[c->n], a->hash, 32);
	CHECK_INT(tf_sha256(copy, a->len, c->b[c->n].hash), 0);
	c->n++;
	return 0;
}

static void chain_free(chain *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free((void *)(uintptr_t)c->b[i].bytes);
	c->n = 0;
}

static int64_t g_audit_ts = 1700000000000LL;

/* Appends count entries to one chain (agency NULL: the system chain). */
typedef struct appender {
	int count;
	const char *agency;
} appender;

static void audit_append_body(tf_db_txn *t, void *arg)
{
	appender *ap = arg;
	tf_audit_event ev;
	uint64_t seq = 0;
	tf_err e;
	int i;

	for (i = 0; i < ap->count; i++) {
		memset(&ev, 0, sizeof ev);
		ev.ts_ms = g_audit_ts++;
		ev.type = TF_AUDIT_LOGON_OK;
		ev.success = 1;
		ev.user = "alvarez";
		ev.agency = ap->agency;
		ev.source = "127.0.0.1";
		ev.where = "tenfourd POST /v1/auth/login";
		CHECK_INT(t->ops->audit_append(t, &ev, &seq, &e), 0);
		CHECK_INT(seq, ev.seq);
		CHECK(ev.prev != NULL && strlen(ev.prev) == 64);
	}
	/* a bad event is refused and appends nothing */
	memset(&ev, 0, sizeof ev);
	ev.ts_ms = 1;
	ev.type = TF_AUDIT_LOGON_OK;
	ev.user = "not an id";
	ev.source = "local";
	ev.where = "x";
	ev.prev = "keep";
	ev.seq = 77;
	CHECK(t->ops->audit_append(t, &ev, NULL, &e) < 0);
	CHECK_INT(ev.seq, 77);
	CHECK_STR(ev.prev, "keep");
	ev.user = "alvarez";
	ev.agency = "not an id";
	CHECK(t->ops->audit_append(t, &ev, NULL, &e) < 0);
	CHECK_INT(ev.seq, 77);
}

static void audit_scan_body(tf_db_txn *t, void *arg)
{
	chain *c = arg;
	tf_err e;

	CHECK_INT(t->ops->audit_scan(t, c->agency ? c->agency : "a1", 1, 0,
				     chain_cb, arg, &e),
		  0);
}

static void audit_scan_tail_body(tf_db_txn *t, void *arg)
{
	tf_err e;

	CHECK_INT(t->ops->audit_scan(t, "a1", 3, 2, chain_cb, arg, &e), 0);
	/* a chain is named by an agency id or "" */
	CHECK_INT(t->ops->audit_scan(t, NULL, 1, 0, chain_cb, arg, &e),
		  TF_EINVAL);
	CHECK_INT(t->ops->audit_scan(t, "not an id", 1, 0, chain_cb, arg, &e),
		  TF_EINVAL);
}

/* Scans one chain and verifies it from seq 1: 0 or TF_EVALIDATE. */
static int chain_verify(tf_db *db, const char *agency, size_t *n,
			tf_audit_report *rep)
{
	chain c;
	int rc;

	memset(&c, 0, sizeof c);
	c.agency = agency;
	CHECK_INT(rd(db, audit_scan_body, &c), 0);
	*n = c.n;
	rc = tf_audit_verify(c.b, c.n, NULL, rep);
	chain_free(&c);
	return rc;
}

TEST(test_audit_chain)
{
	tf_db *db = open_seeded("audit.db");
	tf_audit_report rep;
	appender ap = {3, "a1"};
	chain c;
	size_t i, n = 0;

	if (!db)
		return;
	CHECK_INT(wr(db, audit_append_body, &ap), 0);
	ap.count = 2;
	CHECK_INT(wr(db, audit_append_body, &ap), 0);
	/* other chains: their own seq from 1, never mixed with a1's */
	ap.agency = "a2";
	CHECK_INT(wr(db, audit_append_body, &ap), 0);
	ap.count = 1;
	ap.agency = NULL;
	CHECK_INT(wr(db, audit_append_body, &ap), 0);
	memset(&c, 0, sizeof c);
	CHECK_INT(rd(db, audit_scan_body, &c), 0);
	CHECK_INT(c.n, 5);
	for (i = 0; i < c.n; i++) {
		CHECK(memcmp(c.stored[i], c.b[i].hash, 32) == 0);
		CHECK(strstr(c.b[i].bytes, "\"agency\":\"a1\"") != NULL);
	}
	CHECK(strstr(c.b[0].bytes, tf_audit_genesis) != NULL);
	CHECK_INT(tf_audit_verify(c.b, c.n, NULL, &rep), 0);
	CHECK_INT(rep.fault, TF_AUDIT_OK);
	chain_free(&c);
	CHECK_INT(rd(db, audit_scan_tail_body, &c), 0);
	CHECK_INT(c.n, 2);
	chain_free(&c);
	CHECK_INT(chain_verify(db, "a2", &n, &rep), 0);
	CHECK_INT(n, 2);
	CHECK_INT(rep.seq, 2);
	CHECK_INT(chain_verify(db, "", &n, &rep), 0);
	CHECK_INT(n, 1);
	CHECK_INT(chain_verify(db, "a3", &n, &rep), 0);
	CHECK_INT(n, 0);
	tf_db_close(db);

	/* the rows are append-only, and editing bytes behind the triggers'
	   back breaks that chain, and only that one */
	CHECK(raw_sql("audit.db",
		      "UPDATE audit SET bytes = 'x' WHERE seq = 2") !=
	      SQLITE_OK);
	CHECK(raw_sql("audit.db", "DELETE FROM audit WHERE agency = ''") !=
	      SQLITE_OK);
	CHECK_INT(raw_sql("audit.db",
			  "DROP TRIGGER audit_no_update;"
			  "UPDATE audit SET bytes = CAST(replace(CAST(bytes AS "
			  "TEXT), 'alvarez', 'brooks0') AS BLOB)"
			  " WHERE agency = 'a1' AND seq = 3"),
		  SQLITE_OK);
	db = open_db("audit.db");
	if (!db)
		return;
	CHECK_INT(chain_verify(db, "a1", &n, &rep), TF_EVALIDATE);
	CHECK_INT(n, 5);
	CHECK_INT(rep.fault, TF_AUDIT_ALTERED);
	CHECK_INT(rep.seq, 3);
	CHECK_INT(chain_verify(db, "a2", &n, &rep), 0);
	CHECK_INT(chain_verify(db, "", &n, &rep), 0);
	tf_db_close(db);
}

static void version_body(tf_db_txn *t, void *arg)
{
	char *v = NULL;
	size_t len = 0;
	tf_err e;

	(void)arg;
	CHECK_INT(t->ops->meta_get(t, "schema_version", &v, &len, &e), 0);
	CHECK(v != NULL && len == 1 && v[0] == '2');
	free(v);
}

/*
 * A version 1 database (one audit chain for all, keyed by seq): the v2
 * migration keeps its rows, byte for byte, as the system chain, which
 * still verifies and goes on from its head; the triggers still hold.
 */
TEST(test_audit_migration_v1)
{
	char path[256];
	tf_buf sql, entry;
	char prev[TF_AUDIT_PREV_LEN + 1];
	uint8_t h[32];
	tf_audit_report rep;
	appender ap = {2, NULL};
	size_t i, n = 0;
	tf_err e;
	tf_db *db;

	tf_buf_init(&sql);
	tf_buf_init(&entry);
	tf_buf_puts(&sql,
		    "CREATE TABLE meta(key TEXT PRIMARY KEY,"
		    " value BLOB NOT NULL);"
		    "INSERT INTO meta(key, value) VALUES('schema_version', "
		    "'1');"
		    "CREATE TABLE audit(seq INTEGER PRIMARY KEY,"
		    " bytes BLOB NOT NULL, hash BLOB NOT NULL);"
		    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
		    " BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
		    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
		    " BEGIN SELECT RAISE(ABORT, 'audit is append-only'); "
		    "END;");
	memcpy(prev, tf_audit_genesis, sizeof prev);
	for (i = 1; i <= 3; i++) {
		tf_audit_event ev;

		memset(&ev, 0, sizeof ev);
		ev.seq = i;
		ev.ts_ms = g_audit_ts++;
		ev.type = TF_AUDIT_LOGON_FAIL;
		ev.user = "unknown";
		ev.source = "198.51.100.4";
		ev.where = "tenfourd POST /v1/auth/login";
		ev.prev = prev;
		tf_buf_reset(&entry);
		CHECK_INT(tf_audit_write(&ev, &entry, &e), 0);
		CHECK_INT(tf_sha256(entry.data, entry.len, h), 0);
		tf_buf_printf(&sql,
			      "INSERT INTO audit(seq, bytes, hash) "
			      "VALUES(%zu, CAST(x'",
			      i);
		{
			char hex[2 * TF_AUDIT_ENTRY_MAX + 1];

			tf_hex_encode((const uint8_t *)entry.data, entry.len,
				      hex);
			tf_buf_puts(&sql, hex);
			tf_buf_puts(&sql, "' AS BLOB), x'");
		}
		tf_hex_encode(h, sizeof h, prev);
		tf_buf_puts(&sql, prev);
		tf_buf_puts(&sql, "');");
	}
	CHECK_INT(raw_sql("audit-v1.db", tf_buf_cstr(&sql)), SQLITE_OK);
	db_path("audit-v1.db", path, sizeof path);
	db = NULL;
	CHECK_INT(tf_db_open(path, NULL, &db, &e), 0);
	if (db == NULL) {
		fprintf(stderr, "open v1: %s\n", e.msg);
		goto out;
	}
	CHECK_INT(chain_verify(db, "", &n, &rep), 0);
	CHECK_INT(n, 3);
	CHECK_INT(chain_verify(db, "a1", &n, &rep), 0);
	CHECK_INT(n, 0);
	/* the system chain goes on from the migrated head */
	CHECK_INT(wr(db, audit_append_body, &ap), 0);
	CHECK_INT(chain_verify(db, "", &n, &rep), 0);
	CHECK_INT(n, 5);
	CHECK_INT(rep.seq, 5);
	CHECK_INT(rd(db, version_body, NULL), 0);
	tf_db_close(db);
	CHECK(raw_sql("audit-v1.db", "UPDATE audit SET bytes = 'x'") !=
	      SQLITE_OK);
	CHECK(raw_sql("audit-v1.db", "DELETE FROM audit") != SQLITE_OK);
out:
	tf_buf_free(&sql);
	tf_buf_free(&entry);
}

/* ----------------------------------------------------------- devaudit */

typedef struct devhead {
	uint64_t seq;
	uint8_t hash[32];
} devhead;

static void devaudit_body(tf_db_txn *t, void *arg)
{
	devhead *hd = arg;
	tf_db_audit a;
	chain c;
	tf_err e;

	CHECK_INT(t->ops->devaudit_head(t, "a1", "d1", &hd->seq, hd->hash, &e),
		  0);
	CHECK_INT(hd->seq, 0);
	CHECK(hd->hash[0] == 0 && hd->hash[31] == 0);
	memset(&a, 0, sizeof a);
	a.seq = 1;
	a.bytes = "{\"seq\":1}";
	a.len = strlen(a.bytes);
	memset(a.hash, 0xab, 32);
	CHECK_INT(t->ops->devaudit_put(t, "a1", "d1", &a, &e), 0);
	CHECK_INT(t->ops->devaudit_put(t, "a1", "d1", &a, &e), TF_EEXIST);
	CHECK_INT(t->ops->devaudit_put(t, "a1", "d9", &a, &e), TF_ENOTFOUND);
	a.seq = 2;
	a.bytes = "{\"seq\":2}";
	memset(a.hash, 0xcd, 32);
	CHECK_INT(t->ops->devaudit_put(t, "a1", "d1", &a, &e), 0);
	a.seq = 0;
	CHECK_INT(t->ops->devaudit_put(t, "a1", "d1", &a, &e), TF_EINVAL);
	CHECK_INT(t->ops->devaudit_head(t, "a1", "d1", &hd->seq, hd->hash, &e),
		  0);
	CHECK_INT(hd->seq, 2);
	CHECK_INT(hd->hash[0], 0xcd);
	/* another agency's same device id has its own log */
	CHECK_INT(t->ops->devaudit_head(t, "a2", "d1", &hd->seq, hd->hash, &e),
		  0);
	CHECK_INT(hd->seq, 0);
	memset(&c, 0, sizeof c);
	CHECK_INT(t->ops->devaudit_scan(t, "a1", "d1", 1, 0, chain_cb, &c, &e),
		  0);
	CHECK_INT(c.n, 2);
	CHECK(c.n == 2 && strcmp(c.b[1].bytes, "{\"seq\":2}") == 0);
	chain_free(&c);
	CHECK_INT(t->ops->devaudit_scan(t, "a1", "d1", 2, 5, chain_cb, &c, &e),
		  0);
	CHECK_INT(c.n, 1);
	chain_free(&c);
	CHECK_INT(t->ops->devaudit_scan(t, "a2", "d1", 1, 0, chain_cb, &c, &e),
		  0);
	CHECK_INT(c.n, 0);
}

TEST(test_devaudit)
{
	tf_db *db = open_seeded("devaudit.db");
	devhead hd;

	if (!db)
		return;
	CHECK_INT(wr(db, devaudit_body, &hd), 0);
	tf_db_close(db);
}

/* ---------------------------------------------- group commit, savepoints */

/* A gate the first job of a test waits at, holding the writer, so that
   the jobs queued behind it form one group. */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_blocked, g_open;

static int blocker_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	(void)t;
	(void)arg;
	(void)err;
	pthread_mutex_lock(&g_mu);
	g_blocked = 1;
	pthread_cond_broadcast(&g_cv);
	while (!g_open)
		pthread_cond_wait(&g_cv, &g_mu);
	pthread_mutex_unlock(&g_mu);
	return 0;
}

typedef struct job {
	tf_db *db;
	tf_db_txn_fn fn;
	unsigned n; /* which record */
	int fail;   /* the fn returns this after writing */
	uint64_t chg, head; /* its record's feed position, head_chg after */
	int rc;
	tf_err err;
	pthread_t th;
} job;

static int record_job_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	job *j = arg;
	char id[TF_UUID_LEN + 1];
	int rc;

	mkuuid(j->n, id);
	rc = t->ops->record_put(t, "a1", id, "incident", "{}", 2, &j->chg, err);
	if (rc == 0)
		rc = t->ops->head_chg(t, &j->head, err);
	if (rc)
		return rc;
	return j->fail ? tf_err_set(err, j->fail, "test", "job %u fails", j->n)
		       : 0;
}

static void *job_main(void *arg)
{
	job *j = arg;

	j->rc = tf_db_write(j->db, j->fn, j, &j->err);
	return NULL;
}

/* Starts the blocker, waits until it holds the writer. */
static void gate_close(tf_db *db, job *b)
{
	pthread_mutex_lock(&g_mu);
	g_blocked = 0;
	g_open = 0;
	pthread_mutex_unlock(&g_mu);
	memset(b, 0, sizeof *b);
	b->db = db;
	b->fn = blocker_fn;
	CHECK_INT(pthread_create(&b->th, NULL, job_main, b), 0);
	pthread_mutex_lock(&g_mu);
	while (!g_blocked)
		pthread_cond_wait(&g_cv, &g_mu);
	pthread_mutex_unlock(&g_mu);
}

/* Waits (bounded) until n jobs are queued behind the blocker, opens. */
static void gate_open(tf_db *db, size_t n)
{
	struct timespec ms = {0, 1000000};
	size_t q = 0;
	int i;

	for (i = 0; i < 20000; i++) {
		CHECK_INT(tf_db_sqlite_queued(db, &q), 0);
		if (q >= n)
			break;
		nanosleep(&ms, NULL);
	}
	CHECK_INT(q, n);
	pthread_mutex_lock(&g_mu);
	g_open = 1;
	pthread_cond_broadcast(&g_cv);
	pthread_mutex_unlock(&g_mu);
}

typedef struct present {
	unsigned n[16];
	int found[16];
	size_t count;
} present;

static void present_body(tf_db_txn *t, void *arg)
{
	present *p = arg;
	char id[TF_UUID_LEN + 1];
	tf_db_record r;
	tf_err e;
	size_t i;

	for (i = 0; i < p->count; i++) {
		mkuuid(p->n[i], id);
		p->found[i] = t->ops->record_get(t, "a1", id, &r, &e) == 0;
		if (p->found[i])
			tf_db_record_clear(&r);
	}
}

TEST(test_savepoint_isolation)
{
	tf_db *db = open_seeded("savepoint.db");
	uint64_t g0 = 0, g1 = 0;
	job blk, jobs[4];
	present p;
	int i;

	if (!db)
		return;
	CHECK_INT(tf_db_sqlite_groups(db, &g0), 0);
	gate_close(db, &blk);
	/* 1 and 3 fail after writing their record; 2 and 4 succeed */
	for (i = 0; i < 4; i++) {
		memset(&jobs[i], 0, sizeof jobs[i]);
		jobs[i].db = db;
		jobs[i].fn = record_job_fn;
		jobs[i].n = 1000 + (unsigned)i;
		jobs[i].fail = i % 2 == 0 ? TF_EVALIDATE : 0;
		CHECK_INT(pthread_create(&jobs[i].th, NULL, job_main, &jobs[i]),
			  0);
	}
	gate_open(db, 4);
	pthread_join(blk.th, NULL);
	CHECK_INT(blk.rc, 0);
	for (i = 0; i < 4; i++) {
		pthread_join(jobs[i].th, NULL);
		CHECK_INT(jobs[i].rc, i % 2 == 0 ? TF_EVALIDATE : 0);
	}
	CHECK_STR(jobs[0].err.msg, "job 1000 fails");
	/* one group for the blocker, one for all four */
	CHECK_INT(tf_db_sqlite_groups(db, &g1), 0);
	CHECK_INT(g1 - g0, 2);
	memset(&p, 0, sizeof p);
	p.count = 4;
	for (i = 0; i < 4; i++)
		p.n[i] = 1000 + (unsigned)i;
	CHECK_INT(rd(db, present_body, &p), 0);
	CHECK_INT(p.found[0], 0);
	CHECK_INT(p.found[1], 1);
	CHECK_INT(p.found[2], 0);
	CHECK_INT(p.found[3], 1);
	tf_db_close(db);
}

typedef struct since {
	uint64_t after;
	feed f;
} since;

static void since_body(tf_db_txn *t, void *arg)
{
	since *q = arg;
	tf_err e;

	q->f.stop_at = -1;
	CHECK_INT(t->ops->records_since(t, "a1", q->after, 16, feed_cb, &q->f,
					&e),
		  0);
}

/*
 * A group keeps the feed counter in memory and stores it once before its
 * COMMIT: inside the group every position is new and head_chg is the
 * last one handed out; the jobs rolled back to their savepoints leave
 * gaps, never a position taken twice; the stored counter covers the
 * whole group, so later groups and a reopened database go on above it.
 */
TEST(test_chg_group_savepoints)
{
	tf_db *db = open_seeded("chg_group.db");
	uint64_t c0 = 0, c1 = 0, c2 = 0, head = 0, max = 0;
	job blk, jobs[6];
	since q;
	size_t k;
	int i, a, b;

	if (!db)
		return;
	CHECK_INT(wr(db, put_one_record, &c0), 0);
	gate_close(db, &blk);
	/* 0, 3 and 5 fail after writing their record */
	for (i = 0; i < 6; i++) {
		memset(&jobs[i], 0, sizeof jobs[i]);
		jobs[i].db = db;
		jobs[i].fn = record_job_fn;
		jobs[i].n = 3000 + (unsigned)i;
		jobs[i].fail = i == 0 || i == 3 || i == 5 ? TF_EVALIDATE : 0;
		CHECK_INT(pthread_create(&jobs[i].th, NULL, job_main, &jobs[i]),
			  0);
	}
	gate_open(db, 6);
	pthread_join(blk.th, NULL);
	for (i = 0; i < 6; i++) {
		pthread_join(jobs[i].th, NULL);
		CHECK_INT(jobs[i].rc, jobs[i].fail);
		CHECK(jobs[i].chg > c0);
		CHECK_INT(jobs[i].head, jobs[i].chg);
		if (jobs[i].chg > max)
			max = jobs[i].chg;
		for (a = 0; a < i; a++)
			CHECK(jobs[a].chg != jobs[i].chg);
	}
	/* the stored head is the group's last position, even a failed job's */
	CHECK_INT(rd(db, head_body, &head), 0);
	CHECK_INT(head, max);
	/* the feed after c0: the three that stayed, in position order */
	memset(&q, 0, sizeof q);
	q.after = c0;
	CHECK_INT(rd(db, since_body, &q), 0);
	CHECK_INT(q.f.n, 3);
	for (k = 0; k < q.f.n && k < 3; k++) {
		char id[TF_UUID_LEN + 1];

		b = -1;
		for (a = 0; a < 6; a++)
			if (q.f.chg[k] == jobs[a].chg)
				b = a;
		CHECK(b == 1 || b == 2 || b == 4);
		if (b < 0)
			continue;
		mkuuid(jobs[b].n, id);
		CHECK_STR(q.f.ids[k], id);
		CHECK(k == 0 || q.f.chg[k] > q.f.chg[k - 1]);
	}
	CHECK_INT(wr(db, put_one_record, &c1), 0);
	CHECK(c1 > max);
	tf_db_close(db);
	db = open_db("chg_group.db");
	if (!db)
		return;
	CHECK_INT(rd(db, head_body, &head), 0);
	CHECK_INT(head, c1);
	CHECK_INT(wr(db, put_one_record, &c2), 0);
	CHECK(c2 > c1);
	tf_db_close(db);
}

TEST(test_group_batches)
{
	tf_db_options o;
	tf_db *db;
	uint64_t g0 = 0, g1 = 0;
	job blk, jobs[10];
	int i;

	tf_db_options_default(&o);
	o.group_max = 4;
	db = open_opts("groups.db", &o);
	if (!db)
		return;
	CHECK_INT(wr(db, seed_body, NULL), 0);
	CHECK_INT(tf_db_sqlite_groups(db, &g0), 0);
	gate_close(db, &blk);
	for (i = 0; i < 10; i++) {
		memset(&jobs[i], 0, sizeof jobs[i]);
		jobs[i].db = db;
		jobs[i].fn = record_job_fn;
		jobs[i].n = 2000 + (unsigned)i;
		CHECK_INT(pthread_create(&jobs[i].th, NULL, job_main, &jobs[i]),
			  0);
	}
	gate_open(db, 10);
	pthread_join(blk.th, NULL);
	for (i = 0; i < 10; i++) {
		pthread_join(jobs[i].th, NULL);
		CHECK_INT(jobs[i].rc, 0);
	}
	/* the blocker's group, then 10 writes in groups of at most 4 */
	CHECK_INT(tf_db_sqlite_groups(db, &g1), 0);
	CHECK_INT(g1 - g0, 1 + 3);
	tf_db_close(db);
}

/* 8 threads x 200 writes, each a ledger row and a record */
#define CW_THREADS 8
#define CW_WRITES 200

typedef struct cw {
	tf_db *db;
	int thread;
	int i;
	int failures;
	pthread_t th;
} cw;

static int cw_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	cw *w = arg;
	char dev[16];
	tf_db_ledger l;
	char id[TF_UUID_LEN + 1];
	unsigned n = (unsigned)(w->thread * 100000 + w->i);
	int rc;

	snprintf(dev, sizeof dev, "t%d", w->thread);
	mkledger(&l, dev, (uint64_t)w->i + 1, n, "{\"status\":\"applied\"}");
	rc = t->ops->ledger_put(t, "a1", &l, err);
	if (rc == 0) {
		mkuuid(n, id);
		rc = t->ops->record_put(t, "a1", id, "incident", "{\"x\":1}", 7,
					NULL, err);
	}
	return rc;
}

static void *cw_main(void *arg)
{
	cw *w = arg;
	tf_err e;

	for (w->i = 0; w->i < CW_WRITES; w->i++)
		if (tf_db_write(w->db, cw_fn, w, &e) != 0)
			w->failures++;
	return NULL;
}

static void cw_devices(tf_db_txn *t, void *arg)
{
	char dev[16];
	int i;

	(void)arg;
	for (i = 0; i < CW_THREADS; i++) {
		snprintf(dev, sizeof dev, "t%d", i);
		put_device(t, "a1", dev);
	}
}

static void stats_body(tf_db_txn *t, void *arg)
{
	tf_err e;

	CHECK_INT(t->ops->stats(t, arg, &e), 0);
}

static void cw_last_body(tf_db_txn *t, void *arg)
{
	char dev[16];
	uint64_t last;
	tf_err e;
	int i;

	(void)arg;
	for (i = 0; i < CW_THREADS; i++) {
		snprintf(dev, sizeof dev, "t%d", i);
		CHECK_INT(t->ops->ledger_last(t, "a1", dev, &last, &e), 0);
		CHECK_INT(last, CW_WRITES);
	}
}

TEST(test_concurrent_writes)
{
	tf_db *db = open_seeded("concurrent.db");
	cw w[CW_THREADS];
	tf_db_stats st;
	uint64_t g0 = 0, g1 = 0;
	int i;

	if (!db)
		return;
	CHECK_INT(wr(db, cw_devices, NULL), 0);
	CHECK_INT(tf_db_sqlite_groups(db, &g0), 0);
	for (i = 0; i < CW_THREADS; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].db = db;
		w[i].thread = i;
		CHECK_INT(pthread_create(&w[i].th, NULL, cw_main, &w[i]), 0);
	}
	for (i = 0; i < CW_THREADS; i++) {
		pthread_join(w[i].th, NULL);
		CHECK_INT(w[i].failures, 0);
	}
	CHECK_INT(tf_db_sqlite_groups(db, &g1), 0);
	CHECK(g1 - g0 >= 1 && g1 - g0 <= CW_THREADS * CW_WRITES);
	printf("test_db: %d concurrent writes in %llu group commits\n",
	       CW_THREADS * CW_WRITES, (unsigned long long)(g1 - g0));
	tf_db_close(db);

	/* all of it is there after a reopen */
	db = open_db("concurrent.db");
	if (!db)
		return;
	memset(&st, 0, sizeof st);
	CHECK_INT(rd(db, stats_body, &st), 0);
	CHECK_INT(st.ledger_rows, CW_THREADS * CW_WRITES);
	CHECK_INT(st.records, CW_THREADS * CW_WRITES);
	CHECK_INT(st.head_chg, CW_THREADS * CW_WRITES);
	CHECK_INT(st.conflicts_open, 0);
	CHECK_INT(st.audit_entries, 0);
	CHECK_INT(rd(db, cw_last_body, NULL), 0);
	tf_db_close(db);
}

/* ----------------------------------------------------------- snapshot */

typedef struct snap {
	tf_db *db;
	size_t before, after;
	int reading, written;
	pthread_mutex_t mu;
	pthread_cond_t cv;
} snap;

static int count_cb(void *arg, const tf_db_record *r)
{
	(void)r;
	(*(size_t *)arg)++;
	return 0;
}

static int snap_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	snap *s = arg;
	int rc;

	rc = t->ops->records_since(t, "a1", 0, 0, count_cb, &s->before, err);
	pthread_mutex_lock(&s->mu);
	s->reading = 1;
	pthread_cond_broadcast(&s->cv);
	while (!s->written)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	if (rc == 0)
		rc = t->ops->records_since(t, "a1", 0, 0, count_cb, &s->after,
					   err);
	return rc;
}

static void *snap_main(void *arg)
{
	snap *s = arg;
	tf_err e;

	CHECK_INT(tf_db_read(s->db, snap_fn, s, &e), 0);
	return NULL;
}

static void count_body(tf_db_txn *t, void *arg)
{
	tf_err e;

	CHECK_INT(t->ops->records_since(t, "a1", 0, 0, count_cb, arg, &e), 0);
}

TEST(test_read_snapshot)
{
	tf_db *db = open_seeded("snapshot.db");
	uint64_t chg = 0;
	size_t now = 0;
	pthread_t th;
	snap s;

	if (!db)
		return;
	CHECK_INT(wr(db, put_one_record, &chg), 0);
	memset(&s, 0, sizeof s);
	s.db = db;
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cv, NULL);
	CHECK_INT(pthread_create(&th, NULL, snap_main, &s), 0);
	pthread_mutex_lock(&s.mu);
	while (!s.reading)
		pthread_cond_wait(&s.cv, &s.mu);
	pthread_mutex_unlock(&s.mu);
	/* committed while the read is open */
	{
		job j;

		memset(&j, 0, sizeof j);
		j.db = db;
		j.n = 3000;
		CHECK_INT(tf_db_write(db, record_job_fn, &j, &j.err), 0);
	}
	pthread_mutex_lock(&s.mu);
	s.written = 1;
	pthread_cond_broadcast(&s.cv);
	pthread_mutex_unlock(&s.mu);
	pthread_join(th, NULL);
	CHECK_INT(s.before, 1);
	CHECK_INT(s.after, 1);
	CHECK_INT(rd(db, count_body, &now), 0);
	CHECK_INT(now, 2);
	pthread_cond_destroy(&s.cv);
	pthread_mutex_destroy(&s.mu);
	tf_db_close(db);
}

/* ------------------------------------------- nesting, readers, errors */

static int nested_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	tf_db *db = arg;
	tf_err e;

	(void)err;
	CHECK_INT(tf_db_write(db, nested_fn, db, &e), TF_EINVAL);
	CHECK_INT(tf_db_read(db, nested_fn, db, &e), TF_EINVAL);
	return t->writable ? 0 : 1;
}

TEST(test_nested_and_readers)
{
	tf_db_options o;
	tf_db *db;
	tf_err e;
	int i;

	tf_db_options_default(&o);
	o.readers = 1;
	o.fsync = 0;
	db = open_opts("nested.db", &o);
	if (!db)
		return;
	CHECK_INT(tf_db_write(db, nested_fn, db, &e), 0);
	CHECK_INT(tf_db_read(db, nested_fn, db, &e), 1);
	CHECK_INT(tf_db_write(db, NULL, NULL, &e), TF_EINVAL);
	/* one read connection serves many reads in turn */
	for (i = 0; i < 20; i++)
		CHECK_INT(tf_db_read(db, nested_fn, db, &e), 1);
	tf_db_close(db);
}

static void corrupt_body(tf_db_txn *t, void *arg)
{
	tf_db_user u;
	tf_err e;

	(void)arg;
	CHECK_INT(t->ops->user_get(t, "a1", "alvarez", &u, &e), TF_EIO);
	CHECK(strstr(e.msg, "corrupt row") != NULL);
	CHECK_INT(t->ops->user_get(t, "a2", "alvarez", &u, &e), TF_EIO);
	CHECK(strstr(e.msg, "roles") != NULL);
}

TEST(test_corrupt_rows)
{
	tf_db *db = open_seeded("corrupt.db");

	if (!db)
		return;
	tf_db_close(db);
	CHECK_INT(raw_sql("corrupt.db",
			  "UPDATE users SET name = printf('%0300d', 1) WHERE "
			  "agency = 'a1';"
			  "UPDATE users SET roles = '[\"a\",1]' WHERE agency "
			  "= 'a2'"),
		  SQLITE_OK);
	db = open_db("corrupt.db");
	if (!db)
		return;
	CHECK_INT(rd(db, corrupt_body, NULL), 0);
	tf_db_close(db);
}

/* --------------------------------------------------------- migrations */

TEST(test_migrations)
{
	char path[256];
	tf_db *db = open_db("migrate.db");
	tf_err e;

	if (!db)
		return;
	tf_db_close(db);
	db = open_db("migrate.db"); /* reopen: nothing to do */
	if (!db)
		return;
	tf_db_close(db);
	CHECK_INT(raw_sql("migrate.db", "UPDATE meta SET value = '99' WHERE "
					"key = 'schema_version'"),
		  SQLITE_OK);
	db_path("migrate.db", path, sizeof path);
	db = NULL;
	CHECK_INT(tf_db_open(path, NULL, &db, &e), TF_EVERSION);
	CHECK(db == NULL);
	CHECK(strstr(e.msg, "99") != NULL);
	CHECK_INT(raw_sql("migrate.db", "UPDATE meta SET value = 'x' WHERE "
					"key = 'schema_version'"),
		  SQLITE_OK);
	CHECK_INT(tf_db_open(path, NULL, &db, &e), TF_EIO);
	CHECK(strstr(e.msg, "corrupt row") != NULL);
}

/* -------------------------------------------------------------- crash */

#define CRASH_ROUNDS 5
#define CRASH_THREADS 4
#define CRASH_MAX_ACKS 100000

typedef struct crasher {
	tf_db *db;
	int fd;
	unsigned base;
	unsigned next;
	pthread_mutex_t *mu;
} crasher;

static int crash_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	const unsigned *n = arg;
	char id[TF_UUID_LEN + 1];

	mkuuid(*n, id);
	return t->ops->record_put(t, "a1", id, "incident", "{\"k\":1}", 7, NULL,
				  err);
}

static void *crash_main(void *arg)
{
	crasher *c = arg;
	unsigned i;
	tf_err e;

	for (i = 0; i < CRASH_MAX_ACKS; i++) {
		unsigned n = c->base + i;

		if (tf_db_write(c->db, crash_fn, &n, &e) != 0)
			_exit(3);
		/* acknowledged: now (and only now) tell the parent */
		if (write(c->fd, &n, sizeof n) != (ssize_t)sizeof n)
			_exit(4);
	}
	return NULL;
}

static void crash_child(int fd, unsigned round)
{
	crasher c[CRASH_THREADS];
	pthread_t th[CRASH_THREADS];
	tf_db *db = open_db("crash.db");
	int i;

	if (db == NULL)
		_exit(2);
	for (i = 0; i < CRASH_THREADS; i++) {
		c[i].db = db;
		c[i].fd = fd;
		c[i].base = (round << 24) | ((unsigned)i << 20);
		if (pthread_create(&th[i], NULL, crash_main, &c[i]) != 0)
			_exit(5);
	}
	for (i = 0; i < CRASH_THREADS; i++)
		pthread_join(th[i], NULL);
	_exit(0);
}

typedef struct acks {
	unsigned *n;
	size_t count;
	size_t missing;
} acks;

static void acks_body(tf_db_txn *t, void *arg)
{
	acks *a = arg;
	char id[TF_UUID_LEN + 1];
	tf_db_record r;
	tf_err e;
	size_t i;

	for (i = 0; i < a->count; i++) {
		mkuuid(a->n[i], id);
		if (t->ops->record_get(t, "a1", id, &r, &e) == 0)
			tf_db_record_clear(&r);
		else
			a->missing++;
	}
}

TEST(test_crash_durability)
{
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	unsigned round;
	tf_db *db = open_seeded("crash.db");

	if (!db)
		return;
	tf_db_close(db);
	for (round = 1; round <= CRASH_ROUNDS; round++) {
		size_t want = 1 + (size_t)(tf_test_rand(&seed) % 400);
		acks a = {NULL, 0, 0};
		int fds[2], status = 0;
		pid_t pid;
		unsigned v;

		a.n = calloc(CRASH_MAX_ACKS * CRASH_THREADS, sizeof *a.n);
		if (a.n == NULL || pipe(fds) != 0) {
			free(a.n);
			CHECK(0);
			return;
		}
		fflush(NULL);
		pid = fork();
		if (pid == 0) {
			close(fds[0]);
			crash_child(fds[1], round);
		}
		close(fds[1]);
		CHECK(pid > 0);
		/* let it acknowledge `want` writes, then kill it mid-flight */
		while (pid > 0 && a.count < want &&
		       read(fds[0], &v, sizeof v) == (ssize_t)sizeof v)
			a.n[a.count++] = v;
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			CHECK(WIFSIGNALED(status));
		}
		/* acknowledgements already in the pipe count too */
		while (a.count < CRASH_MAX_ACKS * CRASH_THREADS &&
		       read(fds[0], &v, sizeof v) == (ssize_t)sizeof v)
			a.n[a.count++] = v;
		close(fds[0]);
		CHECK(a.count >= want);
		db = open_db("crash.db");
		if (db) {
			CHECK_INT(rd(db, acks_body, &a), 0);
			tf_db_close(db);
		}
		if (a.missing)
			tf_test_fail(__FILE__, __LINE__,
				     "round %u: %zu of %zu acknowledged writes "
				     "lost",
				     round, a.missing, a.count);
		free(a.n);
	}
}

/* ------------------------------------------------------------ tests
   driven by main(): the temp dir and the suite */

int main(int argc, char **argv)
{
	DIR *d;
	struct dirent *de;

	(void)argc;
	snprintf(g_dir, sizeof g_dir, "/tmp/tf-db-XXXXXX");
	if (mkdtemp(g_dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_open_dsn);
	RUN(test_meta);
	RUN(test_identity);
	RUN(test_sessions);
	RUN(test_ledger);
	RUN(test_records);
	RUN(test_chg_restart);
	RUN(test_text_conflicts);
	RUN(test_audit_chain);
	RUN(test_audit_migration_v1);
	RUN(test_devaudit);
	RUN(test_savepoint_isolation);
	RUN(test_chg_group_savepoints);
	RUN(test_group_batches);
	RUN(test_concurrent_writes);
	RUN(test_read_snapshot);
	RUN(test_nested_and_readers);
	RUN(test_corrupt_rows);
	RUN(test_migrations);
	RUN(test_crash_durability);

	d = opendir(g_dir);
	while (d && (de = readdir(d)) != NULL) {
		char p[512];

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof p, "%s/%s", g_dir, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(g_dir);
	return tf_test_finish(argv[0]);
}

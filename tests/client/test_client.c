/*
 * test_client.c - libtenfour-client's state machine against a real
 * tenfourd on loopback (tests/support/srv_harness): enrollment, online
 * login with the device proof and the offline grant, mutate / lock /
 * unlock, the failed-unlock wipe, grant expiry, the idle lock and clock
 * rollback on an injected clock, PIN rules at the first login, a grant
 * signed by another key, and the local audit chain.
 *
 * Every client has its own home, user and device (a TOTP step is used
 * once per user, so one login per user keeps the suite from waiting).
 */
#define _XOPEN_SOURCE 700 /* nftw */
#define _DEFAULT_SOURCE

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/internal.h"
#include "srv_harness.h"
#include "tenfour/audit.h"
#include "tenfour/client.h"
#include "tf_test.h"

#define AGENCY "demo"
#define PIN "482916"
#define PLACEHOLDER_URL "http://127.0.0.1:9"
#define LOCK_AFTER_MS ((int64_t)30 * 60 * 1000)
#define OFFLINE_MS ((int64_t)12 * 60 * 60 * 1000)
#define WIPE_AFTER 3

static tf_h_server H;
static char root[256];

/* An injected clock: the real clocks moved by offsets the test sets. */
typedef struct test_clock {
	int64_t wall_off, mono_off;
	int64_t wall_fixed; /* when > 0: the wall clock held at this */
} test_clock;

static int64_t tc_wall(void *ctx)
{
	if (((test_clock *)ctx)->wall_fixed > 0)
		return ((test_clock *)ctx)->wall_fixed;
	return tf_h_now_ms() + ((test_clock *)ctx)->wall_off;
}

static int64_t tc_mono(void *ctx)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
	       ((test_clock *)ctx)->mono_off;
}

static int str_eq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static void home_of(const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s", root, name);
}

/* Opens the client of home `name` against the running server. */
static tf_client *open_client(const char *name, test_clock *tc,
			      tf_client_clock *clk)
{
	char home[512];
	tf_client_opts o;
	tf_client *c = NULL;
	tf_err err;

	home_of(name, home, sizeof home);
	memset(&o, 0, sizeof o);
	o.home = home;
	o.server_url = H.base[0] ? H.base : NULL;
	o.timeout_ms = TF_H_HTTP_TIMEOUT_MS; /* a sanitized server is slow */
	if (tc) {
		clk->wall_ms = tc_wall;
		clk->mono_ms = tc_mono;
		clk->ctx = tc;
		o.clock = clk;
	}
	if (tf_client_open(&o, &c, &err) != 0) {
		fprintf(stderr, "open %s: %s\n", name, err.msg);
		return NULL;
	}
	return c;
}

/* Enrolls home `name` as device `name` (before the server starts). */
static int enroll_home(const char *name)
{
	char pub[64];
	tf_client *c = open_client(name, NULL, NULL);
	tf_err err;
	int rc;

	if (c == NULL)
		return -1;
	rc = tf_client_enroll(c, PLACEHOLDER_URL, AGENCY, name, pub, &err);
	if (rc == 0)
		rc = tf_h_device_enroll_pub(&H, AGENCY, name, pub, &err);
	if (rc)
		fprintf(stderr, "enroll %s: %s\n", name, err.msg);
	tf_client_close(c);
	return rc;
}

static int login_as(tf_client *c, const char *user, const char *pin,
		    tf_err *err)
{
	char code[TF_TOTP_DIGITS + 1];
	tf_client_login_req r;
	tf_h_user *u = tf_h_user_find(&H, user);
	int64_t rev = 0;
	tf_buf banner;
	int rc;

	if (u == NULL || tf_h_totp_next(u, code) != 0)
		return TF_EINVAL;
	tf_buf_init(&banner);
	rc = tf_client_banner(c, &banner, &rev, err);
	tf_buf_free(&banner);
	if (rc)
		return rc;
	memset(&r, 0, sizeof r);
	r.user = user;
	r.password = u->password;
	r.totp = code;
	r.banner_rev = rev;
	r.pin = pin;
	r.pin_len = strlen(pin);
	rc = tf_client_login(c, &r, err);
	if (rc && rc != TF_EVALIDATE && rc != TF_EAUTH)
		fprintf(stderr, "login %s: %s\n", user, err->msg);
	return rc;
}

static int create_incident(tf_client *c, char rid[TF_UUID_LEN + 1],
			   tf_err *err)
{
	char cid[TF_UUID_LEN + 1];

	return tf_client_mutate(c, "incident", NULL, "create",
				"{\"fields\":{\"assigned_units\":[\"2A12\"],"
				"\"priority\":3,\"remarks\":\"MARKER-"
				"remarks\",\"type_code\":\"TS\"}}",
				0, cid, rid, err);
}

/* Counts the local audit entries of a type. */
static size_t audit_count(tf_client *c, const char *type)
{
	char pat[64];
	tf_buf b;
	tf_err err;
	size_t n = 0;
	const char *p;

	tf_buf_init(&b);
	snprintf(pat, sizeof pat, "\"type\":\"%s\"", type);
	if (tf_client_audit(c, 0, &b, &err) == 0 && b.data) {
		for (p = strstr(b.data, pat); p; p = strstr(p + 1, pat))
			n++;
	} else {
		fprintf(stderr, "audit: %s\n", err.msg);
	}
	tf_buf_free(&b);
	return n;
}

/* Files left in <home>/store (0 when it is gone or empty). */
static size_t store_files(const char *home)
{
	char p[1200];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(p, sizeof p, "%s/%s/store", root, home);
	d = opendir(p);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			fprintf(stderr, "left in the store: %s\n", de->d_name);
			n++;
		}
	}
	closedir(d);
	return n;
}

static int file_there(const char *home, const char *name)
{
	char p[1200];
	struct stat sb;

	snprintf(p, sizeof p, "%s/%s/%s", root, home, name);
	return stat(p, &sb) == 0;
}

/* ------------------------------------------------------------ tests */

TEST(enroll_login_mutate_lock_unlock)
{
	char rid[TF_UUID_LEN + 1], pub[64];
	tf_client_status st;
	tf_client *c = open_client("mdt-a", NULL, NULL);
	tf_buf b;
	tf_err err;

	CHECK(c != NULL);
	if (c == NULL)
		return;
	tf_buf_init(&b);
	tf_client_status_get(c, &st);
	CHECK_INT(st.enrolled, 1);
	CHECK_INT(st.logged_in, 0);
	CHECK_INT(tf_client_enroll(c, PLACEHOLDER_URL, AGENCY, "x", pub, &err),
		  TF_EEXIST);
	CHECK_INT(tf_client_unlock(c, PIN, strlen(PIN), &err), TF_EAUTH);
	CHECK_INT(tf_client_get(c, "x", &b, &err), TF_ELOCKED);

	CHECK_INT(login_as(c, "alvarez", PIN, &err), 0);
	CHECK_INT(tf_client_is_unlocked(c), 1);
	tf_client_status_get(c, &st);
	CHECK_INT(st.logged_in, 1);
	CHECK(st.grant_not_after > tf_h_now_ms());
	CHECK_INT(st.unlock_attempts_left, WIPE_AFTER);
	CHECK_INT(st.online, 1);

	CHECK_INT(create_incident(c, rid, &err), 0);
	CHECK_INT(tf_client_mutate(c, "incident", rid, "set",
				   "{\"fields\":{\"priority\":2}}", 0, NULL,
				   NULL, &err),
		  0);
	CHECK_INT(tf_client_mutate(c, "incident", rid, "bogus", "{}", 0, NULL,
				   NULL, &err),
		  TF_EINVAL);
	CHECK_INT(tf_client_get(c, rid, &b, &err), 0);
	CHECK(b.data && strstr(b.data, "MARKER-remarks") != NULL);
	CHECK(b.data && strstr(b.data, "\"sync\":\"pending\"") != NULL);
	tf_buf_reset(&b);
	CHECK_INT(tf_client_list(c, "incident", &b, &err), 0);
	CHECK(b.data && strstr(b.data, rid) != NULL);
	tf_buf_reset(&b);
	CHECK_INT(tf_client_status_json(c, &b, &err), 0);
	CHECK(b.data && strstr(b.data, "\"pending\":2") != NULL);
	tf_buf_reset(&b);

	tf_client_lock(c);
	CHECK_INT(tf_client_is_unlocked(c), 0);
	CHECK_INT(tf_client_get(c, rid, &b, &err), TF_ELOCKED);
	CHECK_INT(tf_client_unlock(c, "999999", 6, &err), TF_EAUTH);
	CHECK(strstr(err.msg, "2 attempt") != NULL);
	CHECK(strstr(err.msg, "999999") == NULL);
	CHECK_INT(tf_client_unlock(c, PIN, strlen(PIN), &err), 0);
	CHECK_INT(tf_client_get(c, rid, &b, &err), 0);
	tf_buf_reset(&b);
	tf_client_status_get(c, &st);
	CHECK_INT(st.unlock_attempts_left, WIPE_AFTER);

	/* a new process: locked, and the queued work came back from the
	   store */
	tf_client_close(c);
	c = open_client("mdt-a", NULL, NULL);
	CHECK(c != NULL);
	if (c == NULL)
		goto out;
	CHECK_INT(tf_client_is_unlocked(c), 0);
	CHECK_INT(tf_client_unlock(c, PIN, strlen(PIN), &err), 0);
	CHECK_INT(tf_client_get(c, rid, &b, &err), 0);
	CHECK(b.data && strstr(b.data, "\"priority\"") != NULL);
	tf_client_status_get(c, &st);
	CHECK_INT(st.sum.pending, 2);

	/* the audit chain holds what happened, in order, and verifies */
	CHECK_INT(tf_client_audit_verify(c, &err), 0);
	CHECK_INT(audit_count(c, "logon_ok"), 1);
	CHECK_INT(audit_count(c, "create"), 1);
	CHECK_INT(audit_count(c, "modify"), 1);
	CHECK(audit_count(c, "access") >= 2);
	CHECK(audit_count(c, "lock") >= 1);
	CHECK_INT(audit_count(c, "unlock_fail"), 1);
	CHECK_INT(audit_count(c, "unlock_ok"), 2);
	CHECK(audit_count(c, "audit_read") >= 1);

	/* logout: the session ends, unlock needs an online login */
	CHECK_INT(tf_client_logout(c, &err), 0);
	CHECK_INT(tf_client_is_unlocked(c), 0);
	tf_client_status_get(c, &st);
	CHECK_INT(st.logged_in, 0);
	CHECK_INT(tf_client_unlock(c, PIN, strlen(PIN), &err), TF_EAUTH);
out:
	tf_buf_free(&b);
	tf_client_close(c);
}

TEST(audit_chain_detects_tampering)
{
	char key[32];
	tf_client *c = open_client("mdt-a", NULL, NULL);
	tf_buf row;
	tf_err err;
	char *p;

	CHECK(c != NULL);
	if (c == NULL)
		return;
	tf_buf_init(&row);
	/* logged out by the test before: log in again (2nd step of the
	   user's TOTP window) */
	CHECK_INT(login_as(c, "alvarez", PIN, &err), 0);
	CHECK_INT(tf_client_audit_verify(c, &err), 0);
	/* rewrite one sealed entry (through the store: the keys are open) */
	snprintf(key, sizeof key, "%020llu",
		 (unsigned long long)c->audit_base_seq + 2);
	CHECK_INT(tf_store_get(c->store, TF_SK_AUDIT, key, &row, &err), 0);
	p = row.data ? strstr(row.data, "\"ts\":") : NULL;
	CHECK(p != NULL);
	if (p) {
		p[6] = p[6] == '1' ? '2' : '1';
		CHECK_INT(tf_store_put(c->store, TF_SK_AUDIT, key, row.data,
				       row.len, 0, &err),
			  0);
		CHECK_INT(tf_client_audit_verify(c, &err), TF_EHASH);
		CHECK(strstr(err.msg, "altered") != NULL ||
		      strstr(err.msg, "time") != NULL);
	}
	/* the tail cut off: the head in meta says more */
	tf_buf_free(&row);
	tf_client_close(c);
}

TEST(wrong_pin_wipes)
{
	char rid[TF_UUID_LEN + 1], rid2[TF_UUID_LEN + 1], store_db[600];
	int rc;
	tf_client_status st;
	tf_client *c = open_client("mdt-b", NULL, NULL);
	tf_json *wf = NULL, *entry_tree = NULL;
	tf_audit_event ev;
	tf_buf b;
	tf_err err;
	size_t len = 0;
	char *txt;
	int i;

	CHECK(c != NULL);
	if (c == NULL)
		return;
	tf_buf_init(&b);
	CHECK_INT(login_as(c, "baker", PIN, &err), 0);
	CHECK_INT(create_incident(c, rid, &err), 0);
	/* the server's ledger now holds seq 1 of mdt-b */
	CHECK_INT(tf_client_sync(c, NULL, NULL, &err), 0);
	tf_client_lock(c);
	for (i = 1; i < WIPE_AFTER; i++) {
		CHECK_INT(tf_client_unlock(c, "135792", 6, &err), TF_EAUTH);
		tf_client_status_get(c, &st);
		CHECK_INT(st.unlock_attempts_left, WIPE_AFTER - i);
	}
	/* the count survives a restart (persisted before each try) */
	tf_client_close(c);
	c = open_client("mdt-b", NULL, NULL);
	CHECK(c != NULL);
	if (c == NULL)
		goto out;
	tf_client_status_get(c, &st);
	CHECK_INT(st.unlock_attempts_left, 1);
	CHECK_INT(tf_client_unlock(c, "135792", 6, &err), TF_EWIPE);

	/* no key material and no data left in the home */
	CHECK(!file_there("mdt-b", "device.key"));
	snprintf(store_db, sizeof store_db, "store/store.db");
	CHECK(!file_there("mdt-b", store_db));
	CHECK(!file_there("mdt-b", "store/store.db-wal"));
	CHECK_INT(store_files("mdt-b"), 0);
	CHECK(file_there("mdt-b", "wipe-pending.json"));
	CHECK(file_there("mdt-b", "identity.pem"));
	CHECK_INT(tf_client_is_unlocked(c), 0);
	CHECK_INT(tf_client_unlock(c, PIN, strlen(PIN), &err), TF_EAUTH);
	CHECK_INT(tf_client_get(c, rid, &b, &err), TF_ELOCKED);

	/* the receipt's facts and the wipe's own audit entry */
	snprintf(store_db, sizeof store_db, "%s/mdt-b/wipe-pending.json",
		 root);
	txt = tf_test_read_file(store_db, &len);
	CHECK(txt != NULL);
	if (txt && tf_json_parse(txt, len, NULL, &wf, NULL) == 0) {
		const tf_json *ae = tf_json_object_get(wf, "audit_entry");

		CHECK(str_eq(tf_json_get_str(wf, "device", NULL), "mdt-b"));
		CHECK(str_eq(tf_json_get_str(wf, "agency", NULL), AGENCY));
		CHECK(ae != NULL);
		tf_buf_reset(&b);
		if (ae && tf_json_write(ae, &b) == 0) {
			CHECK_INT(tf_audit_parse(b.data, b.len, &ev,
						 &entry_tree, &err),
				  0);
			if (entry_tree) {
				CHECK_INT(ev.type, TF_AUDIT_WIPE);
				CHECK(str_eq(ev.user, "baker"));
			}
		}
	}
	free(txt);

	/* a wiped home reopens empty; the device is not revoked, so an
	   online login makes a new store and the receipt is not due */
	tf_client_close(c);
	c = open_client("mdt-b", NULL, NULL);
	CHECK(c != NULL);
	if (c == NULL)
		goto out;
	tf_client_status_get(c, &st);
	CHECK_INT(st.enrolled, 1);
	CHECK_INT(st.logged_in, 0);
	CHECK_INT(login_as(c, "baker", PIN, &err), 0);
	CHECK(!file_there("mdt-b", "wipe-pending.json"));
	tf_buf_reset(&b);
	CHECK_INT(tf_client_get(c, rid, &b, &err), TF_ENOTFOUND);
	CHECK_INT(tf_client_audit_verify(c, &err), 0);
	/* the new replica continues after the ledger's seq 1 (login
	   reply device_seq): its push is taken and the pull's acks fit */
	tf_client_status_get(c, &st);
	CHECK_INT(st.sum.next_seq, 2);
	CHECK_INT(create_incident(c, rid2, &err), 0);
	rc = tf_client_sync(c, NULL, NULL, &err);
	if (rc)
		fprintf(stderr, "  sync after wipe: %s\n", err.msg);
	CHECK_INT(rc, 0);
	tf_client_status_get(c, &st);
	CHECK_INT(st.sum.pending, 0);
	CHECK_INT(st.sum.rejected, 0);
	CHECK_INT(st.sum.ack, 2);
	/* both records came back from the server */
	tf_buf_reset(&b);
	CHECK_INT(tf_client_get(c, rid, &b, &err), 0);
	tf_buf_reset(&b);
	CHECK_INT(tf_client_get(c, rid2, &b, &err), 0);
out:
	tf_json_free(entry_tree);
	tf_json_free(wf);
	tf_buf_free(&b);
	tf_client_close(c);
}

TEST(user_wipe)
{
	tf_client *c = open_client("mdt-f", NULL, NULL);
	tf_buf b;
	tf_err err;

	CHECK(c != NULL);
	if (c == NULL)
		return;
	tf_buf_init(&b);
	CHECK_INT(login_as(c, "fox", PIN, &err), 0);
	CHECK_INT(tf_client_wipe(c, &err), 0);
	CHECK(!file_there("mdt-f", "device.key"));
	CHECK(!file_there("mdt-f", "store/store.db"));
	CHECK_INT(store_files("mdt-f"), 0);
	CHECK(file_there("mdt-f", "wipe-pending.json"));
	CHECK_INT(tf_client_list(c, NULL, &b, &err), TF_ELOCKED);
	/* the receipt went: the home is fresh */
	CHECK_INT(tfc_wipe_receipt_sent(c, &err), 0);
	CHECK(!file_there("mdt-f", "wipe-pending.json"));
	CHECK(!file_there("mdt-f", "identity.pem"));
	tf_buf_free(&b);
	tf_client_close(c);
}

TEST(grant_expiry_idle_lock_and_rollback)
{
	char rid[TF_UUID_LEN + 1];
	tf_client_clock clk;
	test_clock tc = {0, 0, 0};
	tf_client_status st;
	tf_client *c = open_client("mdt-c", &tc, &clk);
	tf_buf b;
	tf_err err;

	CHECK(c != NULL);
	if (c == NULL)
		return;
	tf_buf_init(&b);
	CHECK_INT(login_as(c, "chen", PIN, &err), 0);
	CHECK_INT(create_incident(c, rid, &err), 0);

	/* idle lock on the monotonic clock: just under the limit keeps
	   it open (and the call is activity), the limit locks */
	tc.wall_off += LOCK_AFTER_MS - 1000;
	tc.mono_off += LOCK_AFTER_MS - 1000;
	CHECK_INT(tf_client_get(c, rid, &b, &err), 0);
	tf_client_status_get(c, &st);
	CHECK(st.lock_in_ms > LOCK_AFTER_MS - 5000);
	tc.wall_off += LOCK_AFTER_MS;
	tc.mono_off += LOCK_AFTER_MS;
	CHECK_INT(tf_client_get(c, rid, &b, &err), TF_ELOCKED);
	CHECK(strstr(err.msg, "AC-11") != NULL);
	CHECK_INT(tf_client_is_unlocked(c), 0);
	CHECK_INT(tf_client_unlock(c, PIN, strlen(PIN), &err), 0);
	/* holding the wall clock still does not keep a session open: the
	   idle limit runs on the monotonic clock */
	tc.mono_off += LOCK_AFTER_MS;
	CHECK_INT(tf_client_is_unlocked(c), 0);
	tc.wall_off += LOCK_AFTER_MS;
	CHECK_INT(tf_client_unlock(c, PIN, strlen(PIN), &err), 0);

	/* clock rollback while in use: treated as expiry, locks */
	tc.wall_off -= (int64_t)5 * 60 * 1000;
	CHECK_INT(tf_client_get(c, rid, &b, &err), TF_EROLLBACK);
	CHECK_INT(tf_client_is_unlocked(c), 0);
	/* setting the clock right again does not revive the grant, and
	   the PIN is not even tried (the count stays) */
	tc.wall_off += (int64_t)5 * 60 * 1000;
	CHECK_INT(tf_client_unlock(c, PIN, strlen(PIN), &err), TF_EROLLBACK);
	tf_client_status_get(c, &st);
	CHECK_INT(st.unlock_attempts_left, WIPE_AFTER);
	/* nor does a restart */
	tf_client_close(c);
	c = open_client("mdt-c", &tc, &clk);
	CHECK(c != NULL);
	if (c == NULL)
		goto out;
	CHECK_INT(tf_client_unlock(c, PIN, strlen(PIN), &err), TF_EROLLBACK);

	/* an online login (the real time again: the server checks the
	   proof's time) brings a new grant (2nd TOTP step of chen) */
	tc.wall_off = 0;
	CHECK_INT(login_as(c, "chen", PIN, &err), 0);
	CHECK_INT(tf_client_get(c, rid, &b, &err), 0);
	CHECK(audit_count(c, "clock_rollback") >= 1);
	CHECK(audit_count(c, "clock_rebase") >= 1);
	CHECK_INT(tf_client_audit_verify(c, &err), 0);

	/* expiry: past not_after the unlock is refused before the PIN */
	tf_client_lock(c);
	tc.wall_off = OFFLINE_MS + 1000;
	tc.mono_off += OFFLINE_MS + 1000;
	CHECK_INT(tf_client_unlock(c, "000000", 6, &err), TF_EEXPIRED);
	tf_client_status_get(c, &st);
	CHECK_INT(st.unlock_attempts_left, WIPE_AFTER);
	CHECK_INT(tf_client_unlock(c, PIN, strlen(PIN), &err), TF_EEXPIRED);
	/* the verdict is persisted: a restart with the clock set back into
	   the grant's window is no second chance */
	tf_client_close(c);
	tc.wall_off = 0;
	c = open_client("mdt-c", &tc, &clk);
	CHECK(c != NULL);
	if (c == NULL)
		goto out;
	CHECK_INT(tf_client_unlock(c, PIN, strlen(PIN), &err), TF_EEXPIRED);
out:
	tf_buf_free(&b);
	tf_client_close(c);
}

TEST(rollback_across_restart)
{
	tf_client_clock clk;
	test_clock tc = {0, 0, 0};
	tf_client *c = open_client("mdt-g", &tc, &clk);
	tf_err err;

	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK_INT(login_as(c, "garcia", PIN, &err), 0);
	tf_client_close(c);
	/* the wall clock set back 2 min (past the 60 s tolerance) while
	   the app was down: the persisted high-water mark catches it */
	tc.wall_off = (int64_t)-2 * 60 * 1000;
	c = open_client("mdt-g", &tc, &clk);
	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK_INT(tf_client_unlock(c, PIN, strlen(PIN), &err), TF_EROLLBACK);
	tf_client_close(c);
}

TEST(pin_rules_at_first_login)
{
	static const char *const bad[] = {"123456", "111111", "12345",
					  "121212", "password"};
	char code[TF_TOTP_DIGITS + 1];
	tf_client_login_req r;
	tf_client_status st;
	tf_client *c = open_client("mdt-d", NULL, NULL);
	tf_h_user *u = tf_h_user_find(&H, "diaz");
	int64_t rev = 0;
	tf_buf b;
	tf_err err;
	size_t i;

	CHECK(c != NULL && u != NULL);
	if (c == NULL || u == NULL) {
		tf_client_close(c);
		return;
	}
	tf_buf_init(&b);
	CHECK_INT(tf_client_banner(c, &b, &rev, &err), 0);
	CHECK(b.len > 0 && rev > 0);
	CHECK_INT(tf_h_totp_next(u, code), 0);
	memset(&r, 0, sizeof r);
	r.user = "diaz";
	r.password = u->password;
	r.totp = code;
	r.banner_rev = rev;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		r.pin = bad[i];
		r.pin_len = strlen(bad[i]);
		CHECK_INT(tf_client_login(c, &r, &err), TF_EVALIDATE);
		CHECK(strstr(err.msg, bad[i]) == NULL);
		CHECK(err.msg[0] != '\0');
	}
	/* nothing was made: no keyring, no session, nothing sent */
	CHECK_INT(tf_store_has_keys(c->store), 0);
	tf_client_status_get(c, &st);
	CHECK_INT(st.logged_in, 0);
	CHECK_INT(st.unlocked, 0);
	/* a good passphrase then works with the same (unused) code */
	r.pin = "Maple-Lantern-Orbit";
	r.pin_len = strlen(r.pin);
	CHECK_INT(tf_client_login(c, &r, &err), 0);
	CHECK_INT(tf_store_has_keys(c->store), 1);
	tf_client_lock(c);
	CHECK_INT(tf_client_unlock(c, r.pin, r.pin_len, &err), 0);
	tf_buf_free(&b);
	tf_client_close(c);
}

TEST(grant_signed_by_another_key)
{
	tf_h_resp r, keys;
	tf_h_session s;
	tf_h_user *u = tf_h_user_find(&H, "evans");
	tf_h_device *d = tf_h_device_find(&H, "mdt-e");
	uint8_t sig[TF_ED25519_SIG_LEN], pub[TF_ED25519_PUB_LEN];
	char sigb[96], pubb[64];
	const char *claims, *kid, *gsig;
	size_t clen = 0;
	tf_sigkey *other = NULL;
	tf_grant g;
	tf_buf fake;
	tf_err err;
	char *alt;

	tf_h_resp_init(&r);
	tf_h_resp_init(&keys);
	tf_buf_init(&fake);
	CHECK(u != NULL && d != NULL);
	if (u == NULL || d == NULL)
		return;
	CHECK_INT(tf_h_login_opt(&H, u, d, NULL, &s, &r), 0);
	CHECK_INT(tf_h_request(&H, NULL, "GET", "/v1/keys", NULL, 0, NULL,
			       &keys),
		  0);
	claims = tf_json_get_str(tf_h_get(r.json, "grant", (const char *)NULL), "claims",
				 &clen);
	kid = tf_h_str(r.json, "grant", "key_id", (const char *)NULL);
	gsig = tf_h_str(r.json, "grant", "sig", (const char *)NULL);
	CHECK(claims != NULL);
	if (claims == NULL)
		goto out;
	/* the real grant verifies */
	CHECK_INT(tfc_grant_verify(keys.body.data, keys.body.len, claims, clen,
				   kid, gsig, &g, &err),
		  0);
	CHECK(str_eq(g.user, "evans"));
	/* signed by another key, under the server's key id */
	CHECK_INT(tf_sigkey_generate(&other), 0);
	CHECK_INT(tf_sigkey_sign(other, claims, clen, sig), 0);
	CHECK_INT(tf_b64url_encode(sig, sizeof sig, sigb, sizeof sigb), 0);
	CHECK_INT(tfc_grant_verify(keys.body.data, keys.body.len, claims, clen,
				   kid, sigb, &g, &err),
		  TF_EAUTH);
	CHECK(strstr(err.msg, "does not verify") != NULL);
	/* a key list where that id has the other key: still not the claims'
	   key (the claims name the real key_id; the signature is the real
	   one) */
	CHECK_INT(tf_sigkey_public(other, pub), 0);
	CHECK_INT(tf_b64url_encode(pub, sizeof pub, pubb, sizeof pubb), 0);
	tf_buf_printf(&fake,
		      "{\"keys\":[{\"alg\":\"Ed25519\",\"key_id\":\"%s\","
		      "\"public_key\":\"%s\"}]}",
		      kid, pubb);
	CHECK_INT(tfc_grant_verify(fake.data, fake.len, claims, clen, kid,
				   gsig, &g, &err),
		  TF_EAUTH);
	/* an unknown key id */
	CHECK_INT(tfc_grant_verify(keys.body.data, keys.body.len, claims, clen,
				   "k-0000000000000000", gsig, &g, &err),
		  TF_EAUTH);
	CHECK(strstr(err.msg, "does not publish") != NULL);
	/* altered claims */
	alt = strdup(claims);
	if (alt) {
		char *p = strstr(alt, "\"wipe_after\":");

		if (p)
			p[13] = p[13] == '9' ? '8' : '9';
		CHECK_INT(tfc_grant_verify(keys.body.data, keys.body.len, alt,
					   clen, kid, gsig, &g, &err),
			  TF_EAUTH);
		free(alt);
	}
out:
	tf_sigkey_free(other);
	tf_buf_free(&fake);
	tf_h_resp_free(&r);
	tf_h_resp_free(&keys);
}


/* The first notice's id of a kind in a notices array (or ""). */
static void notice_id(const tf_buf *b, const char *kind, char *out,
		      size_t cap)
{
	tf_json *arr = NULL;
	size_t i;

	out[0] = '\0';
	if (b->data == NULL ||
	    tf_json_parse(b->data, b->len, NULL, &arr, NULL) != 0)
		return;
	for (i = 0; arr->type == TF_JSON_ARRAY && i < arr->len; i++) {
		const char *k = tf_json_get_str(arr->u.items[i], "kind", NULL);
		const char *id = tf_json_get_str(arr->u.items[i], "id", NULL);

		if (k && id && strcmp(k, kind) == 0) {
			snprintf(out, cap, "%s", id);
			break;
		}
	}
	tf_json_free(arr);
}

TEST(conflict_resolution_and_supersede_ack)
{
	char rid[TF_UUID_LEN + 1], nid[128];
	tf_client *h = open_client("mdt-h", NULL, NULL);
	tf_client *i = open_client("mdt-i", NULL, NULL);
	tf_buf b;
	tf_err err;

	CHECK(h != NULL && i != NULL);
	if (h == NULL || i == NULL)
		goto out0;
	tf_buf_init(&b);
	CHECK_INT(login_as(h, "hill", PIN, &err), 0);
	CHECK_INT(login_as(i, "ito", PIN, &err), 0);
	CHECK_INT(create_incident(h, rid, &err), 0);
	CHECK_INT(tf_client_sync(h, NULL, NULL, &err), 0);
	CHECK_INT(tf_client_sync(i, NULL, NULL, &err), 0);
	CHECK_INT(tf_client_get(i, rid, &b, &err), 0);
	CHECK(b.data && strstr(b.data, "\"sync\":\"synced\"") != NULL);

	/* both edit the narrative from rev 1; hill's edit lands first */
	CHECK_INT(tf_client_mutate(h, "incident", rid, "edit_text",
				   "{\"base\":\"MARKER-remarks\",\"base_rev\":1,"
				   "\"field\":\"remarks\",\"text\":\"hill's "
				   "words\"}",
				   0, NULL, NULL, &err),
		  0);
	CHECK_INT(tf_client_mutate(i, "incident", rid, "edit_text",
				   "{\"base\":\"MARKER-remarks\",\"base_rev\":1,"
				   "\"field\":\"remarks\",\"text\":\"ito's "
				   "words\"}",
				   0, NULL, NULL, &err),
		  0);
	/* ito sets the priority before hill does: ito's value will lose */
	CHECK_INT(tf_client_mutate(i, "incident", rid, "set",
				   "{\"fields\":{\"priority\":5}}", 0, NULL, NULL,
				   &err),
		  0);
	tf_h_sleep_ms(5);
	CHECK_INT(tf_client_mutate(h, "incident", rid, "set",
				   "{\"fields\":{\"priority\":1}}", 0, NULL, NULL,
				   &err),
		  0);
	CHECK_INT(tf_client_sync(h, NULL, NULL, &err), 0);
	CHECK_INT(tf_client_sync(i, NULL, NULL, &err), 0);

	/* ito: one open conflict, one supersede notice */
	tf_buf_reset(&b);
	CHECK_INT(tf_client_conflicts(i, &b, &err), 0);
	CHECK(b.data && strstr(b.data, "\"field\":\"remarks\"") != NULL);
	CHECK(b.data && strstr(b.data, "ito's words") != NULL);
	CHECK(b.data && strstr(b.data, "hill's words") != NULL);
	CHECK_INT(tf_client_resolve(i, rid, "remarks", "bogus", NULL, &err),
		  TF_EINVAL);
	CHECK_INT(tf_client_resolve(i, rid, "remarks", "edited", NULL, &err),
		  TF_EINVAL);
	CHECK_INT(tf_client_resolve(i, rid, "priority", "mine", NULL, &err),
		  TF_ENOTFOUND);
	CHECK_INT(tf_client_resolve(i, rid, "remarks", "edited",
				    "both officers' words", &err),
		  0);
	CHECK_INT(tf_client_sync(i, NULL, NULL, &err), 0);
	tf_buf_reset(&b);
	CHECK_INT(tf_client_conflicts(i, &b, &err), 0);
	CHECK(str_eq(b.data, "[]"));
	tf_buf_reset(&b);
	CHECK_INT(tf_client_get(i, rid, &b, &err), 0);
	CHECK(b.data && strstr(b.data, "both officers' words") != NULL);

	tf_buf_reset(&b);
	CHECK_INT(tf_client_notices(i, &b, &err), 0);
	notice_id(&b, "superseded", nid, sizeof nid);
	CHECK(nid[0] != '\0');
	CHECK_INT(tf_client_ack(i, "no-such-notice", &err), TF_ENOTFOUND);
	CHECK_INT(tf_client_ack(i, nid, &err), 0);
	tf_buf_reset(&b);
	CHECK_INT(tf_client_notices(i, &b, &err), 0);
	CHECK(str_eq(b.data, "[]"));

	CHECK_INT(audit_count(i, "conflict_resolution"), 1);
	CHECK_INT(audit_count(i, "supersede_ack"), 1);
	CHECK_INT(tf_client_audit_verify(i, &err), 0);
	/* the log went up with the sync, and continues there */
	CHECK_INT(tf_client_sync(i, NULL, NULL, &err), 0);
	CHECK(tfc_audit_sent(i) == i->audit_seq);
	tf_buf_free(&b);
out0:
	tf_client_close(h);
	tf_client_close(i);
}

TEST(lookup_marks_stale_cache)
{
	char rid[TF_UUID_LEN + 1], cid[TF_UUID_LEN + 1], args[512];
	tf_client_clock clk;
	test_clock tc = {0, 0, 0};
	tf_client *c = open_client("mdt-j", &tc, &clk);
	tf_json *res = NULL;
	tf_h_session s;
	tf_buf b;
	tf_err err;
	int64_t now;

	CHECK(c != NULL);
	if (c == NULL)
		return;
	tf_buf_init(&b);
	CHECK_INT(login_as(c, "jones", PIN, &err), 0);
	CHECK_INT(tf_client_mutate(c, "lookup", NULL, "create",
				   "{\"fields\":{\"requested_by\":\"jones\"}}", 1,
				   cid, rid, &err),
		  0);
	CHECK_INT(tf_client_sync(c, NULL, NULL, &err), 0);
	/* the gateway (a service account that reads every lookup) answers:
	   a hit, valid for 60 s */
	CHECK_INT(tf_h_login(&H, "ncic-gw", "svc-1", &s), 0);
	now = tf_h_now_ms();
	snprintf(args, sizeof args,
		 "{\"fields\":{\"result\":{\"fetched_at\":%lld,\"ttl\":60000,"
		 "\"v\":{\"status\":\"hit\",\"summary\":\"BOLO match\"}}}}",
		 (long long)now);
	CHECK_INT(tf_h_cmd(&H, &s, now, "lookup", rid, "ref_set", args, &res,
			   NULL, NULL),
		  0);
	CHECK(str_eq(tf_h_str(res, "status", (const char *)NULL), "applied"));

	tf_json_free(res);
	CHECK_INT(tf_client_sync(c, NULL, NULL, &err), 0);
	CHECK_INT(tf_client_lookup(c, rid, &b, &err), 0);
	CHECK(b.data && strstr(b.data, "BOLO match") != NULL);
	CHECK(b.data && strstr(b.data, "\"stale\":[]") != NULL);
	CHECK(b.data && strstr(b.data, "\"ttl\":60000") != NULL);
	/* two minutes later, offline: the cached answer is marked stale */
	tc.wall_off += (int64_t)2 * 60 * 1000;
	tc.mono_off += (int64_t)2 * 60 * 1000;
	tf_buf_reset(&b);
	CHECK_INT(tf_client_lookup(c, rid, &b, &err), 0);
	CHECK(b.data && strstr(b.data, "\"stale\":[\"result\"]") != NULL);
	tf_buf_reset(&b);
	CHECK_INT(tf_client_get(c, rid, &b, &err), 0);
	CHECK(b.data && strstr(b.data, "\"stale\":[\"result\"]") != NULL);
	CHECK(b.data && strstr(b.data, "\"refs\"") == NULL);
	CHECK_INT(tf_client_lookup(c, "01a21498-0000-7000-8000-000000000000",
				   &b, &err),
		  TF_ENOTFOUND);
	tf_buf_free(&b);
	tf_client_close(c);
}

/* ------------------------------------------------------------- main */

/*
 * The wall clock held at the login time while the monotonic clock runs
 * 13 h, one process per hour: the anchor persisted with the guard (same
 * "boot") catches it; before, each new process re-anchored and the grant
 * never expired.
 */
TEST(clock_held_across_processes)
{
	tf_client_clock clk;
	test_clock tc = {0, 0, 0};
	tf_client *c = NULL;
	tf_err err;
	int rc = 0, i;

	tc.wall_fixed = tf_h_now_ms();
	c = open_client("mdt-k", &tc, &clk);
	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK_INT(login_as(c, "kim", PIN, &err), 0);
	for (i = 1; i <= 13 && rc == 0; i++) {
		tf_client_close(c);
		tc.mono_off = (int64_t)i * 60 * 60 * 1000;
		c = open_client("mdt-k", &tc, &clk);
		CHECK(c != NULL);
		if (c == NULL)
			return;
		rc = tf_client_unlock(c, PIN, strlen(PIN), &err);
	}
	CHECK(rc == TF_EROLLBACK || rc == TF_EEXPIRED);
	CHECK_INT(tf_client_is_unlocked(c), 0);
	tf_client_close(c);
}

static int url_open_rc(const char *url)
{
	char home[512];
	tf_client_opts o;
	tf_client *c = NULL;
	tf_err err;
	int rc;

	home_of("url-open", home, sizeof home);
	memset(&o, 0, sizeof o);
	o.home = home;
	o.server_url = url;
	rc = tf_client_open(&o, &c, &err);
	tf_client_close(c);
	return rc;
}

TEST(plain_http_only_on_loopback)
{
	static const char *bad[] = {
		"http://cad.example.org", "http://10.0.0.5:8443/",
		"http://127.0.0.1.evil.example/", "http://localhost.evil/",
		"http://127.0.0.256/", "http://[::2]/", "ftp://127.0.0.1/",
		"https://"};
	static const char *good[] = {
		"https://cad.example.org", "http://127.0.0.1:8080",
		"http://127.1.2.3/", "http://localhost:9/", "http://[::1]:80",
		"http://LOCALHOST"};
	char pub[64];
	tf_client *c = open_client("url-enroll", NULL, NULL);
	tf_client_status st;
	tf_err err;
	size_t i;

	CHECK(c != NULL);
	if (c == NULL)
		return;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK_INT(tf_client_enroll(c, bad[i], AGENCY, "url-enroll",
					   pub, &err),
			  TF_EINVAL);
		CHECK_STR(err.where, "server_url");
		CHECK_INT(url_open_rc(bad[i]), TF_EINVAL);
	}
	CHECK_INT(tf_client_enroll(c, bad[0], AGENCY, "url-enroll", pub, &err),
		  TF_EINVAL);
	CHECK(strstr(err.msg, "use https://") != NULL);
	tf_client_status_get(c, &st);
	CHECK_INT(st.enrolled, 0);
	CHECK(!file_there("url-enroll", "identity.pem"));
	for (i = 0; i < sizeof good / sizeof good[0]; i++)
		CHECK_INT(url_open_rc(good[i]), 0);
	CHECK_INT(tf_client_enroll(c, "https://cad.example.org", AGENCY,
				   "url-enroll", pub, &err),
		  0);
	tf_client_close(c);
}

/* An unlock call while unlocked still verifies and counts the PIN. */
TEST(unlock_when_unlocked_checks_pin)
{
	tf_client *c = open_client("mdt-l", NULL, NULL);
	tf_client_status st;
	tf_err err;

	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK_INT(login_as(c, "lee", PIN, &err), 0);
	CHECK_INT(tf_client_is_unlocked(c), 1);
	CHECK_INT(tf_client_unlock(c, "135792", 6, &err), TF_EAUTH);
	CHECK_INT(tf_client_is_unlocked(c), 0);
	tf_client_status_get(c, &st);
	CHECK_INT(st.unlock_attempts_left, WIPE_AFTER - 1);
	CHECK_INT(tf_client_unlock(c, PIN, strlen(PIN), &err), 0);
	CHECK_INT(tf_client_unlock(c, PIN, strlen(PIN), &err), 0);
	CHECK_INT(tf_client_is_unlocked(c), 1);
	tf_client_status_get(c, &st);
	CHECK_INT(st.unlock_attempts_left, WIPE_AFTER);
	tf_client_close(c);
}

/* Deletes meta row `name` from home's store with sqlite3 (clear names). */
static int meta_delete(const char *name_of_home, const char *row)
{
	char path[600];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc;

	snprintf(path, sizeof path, "%s/%s/store/store.db", root,
		 name_of_home);
	rc = sqlite3_open(path, &db);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "DELETE FROM meta WHERE name=?",
					-1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 1, row, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(db) == 1
			     ? SQLITE_OK
			     : SQLITE_ERROR;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

/* A keyring whose "guard" or "unlock" row is gone fails closed. */
TEST(missing_meta_rows_fail_closed)
{
	tf_client *c = open_client("mdt-m", NULL, NULL);
	tf_client_status st;
	tf_err err;

	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK_INT(login_as(c, "moss", PIN, &err), 0);
	tf_client_close(c);
	CHECK_INT(meta_delete("mdt-m", "unlock"), 0);
	c = open_client("mdt-m", NULL, NULL);
	CHECK(c != NULL);
	if (c == NULL)
		return;
	tf_client_status_get(c, &st);
	CHECK_INT(st.unlock_attempts_left, 1);
	CHECK_INT(tf_client_unlock(c, PIN, strlen(PIN), &err), 0);
	tf_client_close(c);
	CHECK_INT(meta_delete("mdt-m", "guard"), 0);
	c = open_client("mdt-m", NULL, NULL);
	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK(tf_client_unlock(c, PIN, strlen(PIN), &err) == TF_EROLLBACK);
	CHECK_INT(tf_client_is_unlocked(c), 0);
	/* an online login clears it */
	CHECK_INT(login_as(c, "moss", PIN, &err), 0);
	CHECK_INT(tf_client_is_unlocked(c), 1);
	tf_client_close(c);
}

static int rm_entry(const char *p, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int seed(void)
{
	static const struct {
		const char *user, *home;
	} pairs[] = {{"alvarez", "mdt-a"}, {"baker", "mdt-b"},
		     {"chen", "mdt-c"},    {"diaz", "mdt-d"},
		     {"fox", "mdt-f"},	   {"garcia", "mdt-g"},
		     {"hill", "mdt-h"},	   {"ito", "mdt-i"},
		     {"jones", "mdt-j"},   {"kim", "mdt-k"},
		     {"lee", "mdt-l"},	   {"moss", "mdt-m"}};
	tf_admin_actor a;
	tf_err err;
	size_t i;
	char pol[256];

	if (tf_h_agency(&H, AGENCY, "Demo PD", &err) != 0)
		goto fail;
	memset(&a, 0, sizeof a);
	a.agency = AGENCY;
	a.user = "system";
	a.source = "local";
	a.where = "test_client";
	snprintf(pol, sizeof pol,
		 "{\"lock_after_ms\":%lld,\"lockout_failures\":5,"
		 "\"lockout_window_ms\":900000,\"offline_window_ms\":%lld,"
		 "\"session_max_ms\":43200000,\"wipe_after\":%d}",
		 (long long)LOCK_AFTER_MS, (long long)OFFLINE_MS, WIPE_AFTER);
	if (tf_admin_policy_set(&H.srv, &a, pol, tf_h_now_ms(), &err) != 0)
		goto fail;
	for (i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		if (tf_h_user_add(&H, AGENCY, pairs[i].user, "officer", "2A12",
				  &err) == NULL)
			goto fail;
		if (enroll_home(pairs[i].home) != 0)
			return -1;
	}
	if (tf_h_user_add(&H, AGENCY, "evans", "officer", "2A12", &err) ==
		    NULL ||
	    tf_h_device_add(&H, AGENCY, "mdt-e", &err) == NULL ||
	    tf_h_user_add(&H, AGENCY, "ncic-gw", "service,supervisor",
			  NULL, &err) ==
		    NULL ||
	    tf_h_device_add(&H, AGENCY, "svc-1", &err) == NULL)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "seed: %s\n", err.msg);
	return -1;
}

int main(int argc, char **argv)
{
	tf_err err;
	int ok = 0;

	(void)argc;
	snprintf(root, sizeof root, "/tmp/tf-client-XXXXXX");
	if (mkdtemp(root) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	if (tf_h_init(&H, argv[0], &err) != 0) {
		fprintf(stderr, "harness: %s\n", err.msg);
	} else if (seed() == 0) {
		tf_h_seed_done(&H);
		if (tf_h_start(&H, &err) != 0)
			fprintf(stderr, "start: %s\n", err.msg);
		else
			ok = 1;
	}
	if (ok) {
		RUN(enroll_login_mutate_lock_unlock);
		RUN(audit_chain_detects_tampering);
		RUN(wrong_pin_wipes);
		RUN(user_wipe);
		RUN(grant_expiry_idle_lock_and_rollback);
		RUN(rollback_across_restart);
		RUN(pin_rules_at_first_login);
		RUN(grant_signed_by_another_key);
		RUN(conflict_resolution_and_supersede_ack);
		RUN(lookup_marks_stale_cache);
		RUN(clock_held_across_processes);
		RUN(plain_http_only_on_loopback);
		RUN(unlock_when_unlocked_checks_pin);
		RUN(missing_meta_rows_fail_closed);
	} else {
		tf_test_fail(__FILE__, __LINE__, "no server to test against");
	}
	tf_h_destroy(&H);
	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return tf_test_finish(argv[0]);
}

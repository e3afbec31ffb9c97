/*
 * fuzz_server_req.c - libFuzzer target for tenfourd's request handlers
 * (server.h), below HTTP: the bytes of a request as the HTTP layer hands
 * them over, on a real SQLite database.
 *
 * Setup (once, and again every FZ_RECREATE runs so the database stays
 * small): a temp SQLite database (fsync off), a tf_srv on schemas/cad.json
 * (or $TF_SCHEMA), its identity, an agency, a dispatcher with a fixed TOTP
 * secret, an enrolled device and a revoked one (both with fixed Ed25519
 * keys, so seeds can carry valid signatures), and a session of the
 * dispatcher on the enrolled device.  The clock is fixed at FZ_NOW_MS.
 *
 * Input: the first byte selects the handler, the rest is the request:
 *   'L' login body          'P' push body (the session's caller)
 *   'C' pull cursor         'W' wipe receipt body
 *   'A' device audit upload 'B' banner agency id
 *   'S' session headers: "<Authorization>\n<X-Tenfour-Device>"
 * (any other byte: byte % 7 in that order).  Bodies are copied to a buffer
 * of exactly their length (no NUL) so an over-read is caught.
 *
 * Checked, aborting on a violation:
 *  - no bad request is an internal error (TF_EIO, TF_ENOMEM: HTTP 500);
 *    TF_FUZZ_ALLOW_EIO=1 turns this check off;
 *  - a refused request says why (err.msg) and changes nothing: ledger,
 *    records, feed head, open conflicts, the device's audit head, device
 *    states, the user's TOTP step (a refused logon may only count a
 *    failure and leave audit entries);
 *  - an accepted request's reply is JSON.
 *
 * Seeds: TF_FUZZ_WRITE_SEEDS=<dir> writes the seed corpus (with valid
 * signatures, TOTP codes and chains for the fixed keys and clock) into
 * <dir>, prints each seed's result on the fresh database, and exits.
 */
#include "crypto/crypto.h"
#include "server/db/db.h"
#include "server/server.h"
#include "tenfour/audit.h"
#include "tenfour/json.h"
#include "tenfour/schema.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NOW_MS ((int64_t)1764000000000)
#define FZ_RECREATE 2000
#define FZ_AGENCY "fz-pd"
#define FZ_USER "dana"
#define FZ_PASSWORD "Blue-Heron-42-dana"
#define FZ_DEVICE "fz-mdt-1"
#define FZ_REVOKED "fz-mdt-2"
#define FZ_SOURCE "203.0.113.7"
#define FZ_EPOCH "f0f0f0f0f0f0f0f0"
#define FZ_SCHEMA_MAX ((size_t)1024 * 1024)

/* Fixed secrets: the seeds sign and compute codes with the same ones. */
static const uint8_t dev_seed[32] = {
	0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
	0xcc, 0xdd, 0xee, 0xf0, 0x01, 0x12, 0x23, 0x34, 0x45, 0x56, 0x67,
	0x78, 0x89, 0x9a, 0xab, 0xbc, 0xcd, 0xde, 0xef, 0xf1, 0x02};
static const uint8_t rev_seed[32] = {
	0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18, 0x29, 0x3a, 0x4b,
	0x5c, 0x6d, 0x7e, 0x8f, 0x90, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6,
	0x07, 0x18, 0x29, 0x3a, 0x4b, 0x5c, 0x6d, 0x7e, 0x8f, 0x91};
static const uint8_t totp_secret[20] = "fuzz-totp-secret-20b";
static const uint8_t token_raw[TF_SRV_TOKEN_BYTES] = {
	0x42, 0x13, 0x37, 0x99, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
	0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12,
	0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c};

static struct {
	char dir[64];
	char path[96];
	char dsn[128];
	tf_schema *schema;
	tf_db *db;
	tf_srv srv;
	tf_srv_caller caller;
	tf_sigkey *dev_key, *rev_key;
	char bearer[80];
	unsigned runs;
	int allow_eio;
} g;

/* What a refused request must leave as it was. */
typedef struct snap {
	tf_db_stats st;
	uint64_t ledger_last;
	uint64_t da_seq;
	uint8_t da_hash[32];
	int dev_status, rev_status;
	int64_t totp_last_step;
} snap;

static void die(const char *what, const tf_err *err)
{
	fprintf(stderr, "fuzz_server_req: %s: %s\n", what,
		err != NULL ? err->msg : "");
	abort();
}

static void must(int cond, const char *what)
{
	if (!cond)
		die(what, NULL);
}

/* A tf_sigkey from a raw Ed25519 private key (tf_sigkey is opaque). */
static tf_sigkey *key_from_seed(const uint8_t seed[32])
{
	EVP_PKEY *pk = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL,
						       seed, 32);
	BIO *bio = BIO_new(BIO_s_mem());
	tf_sigkey *k = NULL;
	char *p = NULL;
	long n;
	tf_err err;

	must(pk != NULL && bio != NULL, "raw key");
	must(PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) == 1,
	     "PEM");
	n = BIO_get_mem_data(bio, &p);
	if (tf_sigkey_from_pem(p, (size_t)n, &k, &err) != 0)
		die("tf_sigkey_from_pem", &err);
	BIO_free(bio);
	EVP_PKEY_free(pk);
	return k;
}

static void pub_text(const tf_sigkey *k, char out[TF_DB_PUBKEY_MAX + 1])
{
	uint8_t pub[TF_ED25519_PUB_LEN];

	must(tf_sigkey_public(k, pub) == 0 &&
		     tf_b64url_encode(pub, sizeof pub, out,
				      TF_DB_PUBKEY_MAX + 1) == 0,
	     "public key text");
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = malloc(FZ_SCHEMA_MAX + 1);
	if (buf == NULL) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, FZ_SCHEMA_MAX + 1, f);
	fclose(f);
	if (n > FZ_SCHEMA_MAX) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static void remove_db_files(void)
{
	static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
	char p[128];
	size_t i;

	for (i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
		snprintf(p, sizeof p, "%s%s", g.path, sfx[i]);
		(void)unlink(p);
	}
}

/* The dispatcher's TOTP secret is set to the fixed one. */
static int set_totp_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	tf_db_user u;
	int rc;

	(void)arg;
	rc = t->ops->user_get(t, FZ_AGENCY, FZ_USER, &u, err);
	if (rc < 0)
		return rc;
	if (tf_b32_encode(totp_secret, sizeof totp_secret, u.totp,
			  sizeof u.totp) != 0)
		return tf_err_set(err, TF_EINVAL, "totp", "encode");
	u.totp_last_step = -1;
	return t->ops->user_put(t, &u, err);
}

static int put_session_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	tf_db_session ss;
	uint8_t h[TF_SHA256_LEN];

	(void)arg;
	memset(&ss, 0, sizeof ss);
	if (tf_sha256(token_raw, sizeof token_raw, h) != 0)
		return tf_err_set(err, TF_EIO, "token", "sha256");
	tf_hex_encode(h, sizeof h, ss.token_hash);
	snprintf(ss.agency, sizeof ss.agency, "%s", FZ_AGENCY);
	snprintf(ss.user, sizeof ss.user, "%s", FZ_USER);
	snprintf(ss.device, sizeof ss.device, "%s", FZ_DEVICE);
	ss.created_at = FZ_NOW_MS - 1000;
	ss.expires_at = FZ_NOW_MS + (int64_t)12 * 3600 * 1000;
	return t->ops->session_put(t, &ss, err);
}

/* A fixed feed epoch, so that the seeds' cursors are this server's. */
static int put_epoch_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	(void)arg;
	return t->ops->meta_put(t, "epoch", FZ_EPOCH, 16, err);
}

static void db_setup(void)
{
	static const char *const roles[] = {"dispatcher"};
	tf_admin_actor a;
	tf_db_options o;
	char totp[TF_DB_TOTP_MAX + 1], pub[TF_DB_PUBKEY_MAX + 1];
	tf_err err;

	remove_db_files();
	tf_db_options_default(&o);
	o.fsync = 0;
	o.readers = 2;
	if (tf_db_open(g.dsn, &o, &g.db, &err) != 0)
		die("tf_db_open", &err);
	memset(&g.srv, 0, sizeof g.srv);
	g.srv.db = g.db;
	g.srv.schema = g.schema;
	g.srv.max_skew_ms = TF_DEFAULT_MAX_SKEW_MS;
	g.srv.totp_window = 1;
	g.srv.pbkdf2_iter = TF_PBKDF2_MIN_ITER;
	g.srv.node = "tenfourd-fuzz";
	if (tf_db_write(g.db, put_epoch_fn, NULL, &err) != 0)
		die("epoch", &err);
	if (tf_srv_init_identity(&g.srv, &err) != 0)
		die("tf_srv_init_identity", &err);

	memset(&a, 0, sizeof a);
	a.agency = FZ_AGENCY;
	a.user = "system";
	a.source = "local";
	a.where = "fuzz setup";
	if (tf_admin_agency_init(&g.srv, &a, FZ_AGENCY, "Fuzz PD", FZ_NOW_MS,
				 &err) != 0)
		die("agency", &err);
	if (tf_admin_user_add(&g.srv, &a, FZ_USER, "Dana Fuzz", roles, 1, NULL,
			      FZ_PASSWORD, FZ_NOW_MS, totp, &err) != 0)
		die("user", &err);
	if (tf_db_write(g.db, set_totp_fn, NULL, &err) != 0)
		die("set totp", &err);
	pub_text(g.dev_key, pub);
	if (tf_admin_device_enroll(&g.srv, &a, FZ_DEVICE, "MDT 1", pub,
				   FZ_NOW_MS, &err) != 0)
		die("enroll", &err);
	pub_text(g.rev_key, pub);
	if (tf_admin_device_enroll(&g.srv, &a, FZ_REVOKED, "MDT 2", pub,
				   FZ_NOW_MS, &err) != 0 ||
	    tf_admin_device_revoke(&g.srv, &a, FZ_REVOKED, FZ_NOW_MS, &err) !=
		    0)
		die("enroll/revoke", &err);
	if (tf_db_write(g.db, put_session_fn, NULL, &err) != 0)
		die("session", &err);
	if (tf_auth_session(&g.srv, g.bearer, FZ_DEVICE, FZ_SOURCE, FZ_NOW_MS,
			    &g.caller, &err) != 0)
		die("tf_auth_session", &err);
}

static void db_teardown(void)
{
	tf_srv_fini(&g.srv);
	tf_db_close(g.db);
	g.db = NULL;
	remove_db_files();
}

static void at_exit(void)
{
	if (g.db != NULL)
		db_teardown();
	tf_sigkey_free(g.dev_key);
	tf_sigkey_free(g.rev_key);
	tf_schema_free(g.schema);
	if (g.dir[0] != '\0')
		(void)rmdir(g.dir);
}

static int snap_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	snap *s = arg;
	tf_db_device d;
	tf_db_user u;
	int rc;

	memset(s, 0, sizeof *s);
	if ((rc = t->ops->stats(t, &s->st, err)) < 0 ||
	    (rc = t->ops->ledger_last(t, FZ_AGENCY, FZ_DEVICE, &s->ledger_last,
				      err)) < 0 ||
	    (rc = t->ops->devaudit_head(t, FZ_AGENCY, FZ_DEVICE, &s->da_seq,
					s->da_hash, err)) < 0)
		return rc;
	if ((rc = t->ops->device_get(t, FZ_AGENCY, FZ_DEVICE, &d, err)) < 0)
		return rc;
	s->dev_status = d.status;
	if ((rc = t->ops->device_get(t, FZ_AGENCY, FZ_REVOKED, &d, err)) < 0)
		return rc;
	s->rev_status = d.status;
	if ((rc = t->ops->user_get(t, FZ_AGENCY, FZ_USER, &u, err)) < 0)
		return rc;
	s->totp_last_step = u.totp_last_step;
	return 0;
}

static void take_snap(snap *s)
{
	tf_err err;

	if (tf_db_read(g.db, snap_fn, s, &err) != 0)
		die("snapshot", &err);
}

/* A refused request changed nothing (audit entries and the failure count
   of a refused logon aside). */
static void check_unchanged(const snap *a, const snap *b, char which)
{
	int same = a->st.ledger_rows == b->st.ledger_rows &&
		   a->st.records == b->st.records &&
		   a->st.conflicts_open == b->st.conflicts_open &&
		   a->st.head_chg == b->st.head_chg &&
		   a->ledger_last == b->ledger_last && a->da_seq == b->da_seq &&
		   memcmp(a->da_hash, b->da_hash, sizeof a->da_hash) == 0 &&
		   a->dev_status == b->dev_status &&
		   a->rev_status == b->rev_status &&
		   a->totp_last_step == b->totp_last_step;

	if (!same) {
		fprintf(stderr,
			"fuzz_server_req: refused '%c' request changed data: "
			"ledger %" PRIu64 "->%" PRIu64 " records %" PRIu64
			"->%" PRIu64 " head %" PRIu64 "->%" PRIu64
			" last %" PRIu64 "->%" PRIu64 " devaudit %" PRIu64
			"->%" PRIu64 " dev %d->%d rev %d->%d totp %" PRId64
			"->%" PRId64 "\n",
			which, a->st.ledger_rows, b->st.ledger_rows,
			a->st.records, b->st.records, a->st.head_chg,
			b->st.head_chg, a->ledger_last, b->ledger_last,
			a->da_seq, b->da_seq, a->dev_status, b->dev_status,
			a->rev_status, b->rev_status, a->totp_last_step,
			b->totp_last_step);
		abort();
	}
}

static void check_json(const tf_buf *b, char which)
{
	tf_json *tree = NULL;
	tf_err err;

	if (b->len == 0 ||
	    tf_json_parse(b->data, b->len, NULL, &tree, &err) != 0) {
		fprintf(stderr,
			"fuzz_server_req: '%c' reply is not JSON: %.*s\n",
			which, (int)(b->len > 512 ? 512 : b->len),
			b->data ? b->data : "");
		abort();
	}
	tf_json_free(tree);
}

static const char handlers[] = "LPCWABS";

/* Runs one request; returns its result code. */
static int run_one(char which, const uint8_t *p, size_t n, tf_buf *reply,
		   tf_err *err)
{
	char *body = malloc(n > 0 ? n : 1), *str = malloc(n + 1);
	tf_srv_caller c2;
	uint64_t head = 0;
	int empty = 0, rc = 0;

	must(body != NULL && str != NULL, "malloc");
	if (n > 0)
		memcpy(body, p, n);
	memcpy(str, p, n);
	str[n] = '\0';
	switch (which) {
	case 'L':
		rc = tf_auth_login(&g.srv, FZ_SOURCE, FZ_NOW_MS, body, n, reply,
				   err);
		break;
	case 'P':
		rc = tf_sync_push(&g.srv, &g.caller, FZ_NOW_MS, body, n, reply,
				  err);
		break;
	case 'C':
		rc = tf_sync_pull(&g.srv, &g.caller, FZ_NOW_MS, str, 100, reply,
				  &head, &empty, err);
		break;
	case 'W':
		rc = tf_auth_wipe_receipt(&g.srv, FZ_SOURCE, FZ_NOW_MS, body, n,
					  reply, err);
		break;
	case 'A':
		rc = tf_audit_device_upload(&g.srv, &g.caller, FZ_NOW_MS, body,
					    n, reply, err);
		break;
	case 'B':
		rc = tf_auth_banner(&g.srv, str, reply, err);
		break;
	default: {
		/* "<Authorization>\n<device>"; no newline: no device header */
		char *nl = strchr(str, '\n');

		if (nl != NULL)
			*nl = '\0';
		rc = tf_auth_session(&g.srv, str, nl ? nl + 1 : NULL, FZ_SOURCE,
				     FZ_NOW_MS, &c2, err);
		if (rc == 0 && tf_buf_puts(reply, "{}") < 0)
			rc = TF_ENOMEM;
		break;
	}
	}
	free(str);
	free(body);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	snap before, after;
	tf_buf reply;
	tf_err err;
	char which;
	int rc;

	if (size == 0)
		return 0;
	which = strchr(handlers, data[0]) && data[0] != '\0'
			? (char)data[0]
			: handlers[data[0] % (sizeof handlers - 1)];
	/* The HTTP layer refuses larger bodies before any parsing. */
	if (size - 1 > ((which == 'L' || which == 'W') ? TF_SRV_MAX_SMALL_BODY
						       : TF_SRV_MAX_BODY))
		return 0;
	if (g.runs > 0 && g.runs % FZ_RECREATE == 0) {
		db_teardown();
		db_setup();
	}
	g.runs++;
	take_snap(&before);
	tf_buf_init(&reply);
	tf_err_clear(&err);
	rc = run_one(which, data + 1, size - 1, &reply, &err);
	if (rc < 0) {
		if (!g.allow_eio && (rc == TF_EIO || rc == TF_ENOMEM)) {
			fprintf(stderr,
				"fuzz_server_req: '%c' request is an internal "
				"error %s (%s): %s\n",
				which, tf_errcode(rc), err.where, err.msg);
			abort();
		}
		if (err.msg[0] == '\0') {
			fprintf(stderr,
				"fuzz_server_req: '%c' refused with %s and no "
				"message\n",
				which, tf_errcode(rc));
			abort();
		}
		take_snap(&after);
		check_unchanged(&before, &after, which);
	} else {
		must(rc == 0, "result is 0 or negative");
		check_json(&reply, which);
	}
	tf_buf_free(&reply);
	return 0;
}

/* ---------------------------------------------------------------- seeds */

typedef struct seedw {
	const char *dir;
	int n;
} seedw;

static void seed_write(seedw *w, const char *name, char which, const char *body,
		       size_t len)
{
	char path[512];
	tf_buf reply;
	tf_err err;
	FILE *f;
	int rc;

	snprintf(path, sizeof path, "%s/%c-%s", w->dir, which, name);
	/* "=name": the bytes of an earlier seed, run again (a resend, a
	   replay) but not written twice. */
	if (name[0] != '=') {
		f = fopen(path, "wb");
		must(f != NULL, "open seed file");
		must(fputc(which, f) != EOF && fwrite(body, 1, len, f) == len,
		     "write seed");
		must(fclose(f) == 0, "close seed");
		w->n++;
	}
	/* Run it on the live database to show what it reaches. */
	tf_buf_init(&reply);
	tf_err_clear(&err);
	rc = run_one(which, (const uint8_t *)body, len, &reply, &err);
	fprintf(stderr, "%-28s %-22s %.*s\n", path + strlen(w->dir) + 1,
		tf_errcode(rc),
		rc ? 200 : (int)(reply.len > 200 ? 200 : reply.len),
		rc ? err.msg : tf_buf_cstr(&reply));
	tf_buf_free(&reply);
}

static void seed_str(seedw *w, const char *name, char which, const char *body)
{
	seed_write(w, name, which, body, strlen(body));
}

/* The b64url signature of a message with key k. */
static void sign_b64(const tf_sigkey *k, const char *msg, char out[90])
{
	uint8_t sig[TF_ED25519_SIG_LEN];

	must(tf_sigkey_sign(k, msg, strlen(msg), sig) == 0 &&
		     tf_b64url_encode(sig, sizeof sig, out, 90) == 0,
	     "sign");
}

static void seed_login(seedw *w, const char *name, const char *agency,
		       const char *user, const char *device, const tf_sigkey *k,
		       int64_t ts, const char *password, const char *totp,
		       int64_t banner_rev)
{
	char msg[256], sig[90], body[1024];

	snprintf(msg, sizeof msg, "tenfour-login\n%s\n%s\n%s\n%" PRId64, agency,
		 user, device, ts);
	sign_b64(k, msg, sig);
	snprintf(body, sizeof body,
		 "{\"agency\":\"%s\",\"banner_rev\":%" PRId64
		 ",\"device_id\":\"%s\",\"password\":\"%s\",\"proof\":"
		 "{\"sig\":\"%s\",\"ts\":%" PRId64
		 "},\"totp\":\"%s\",\"user\":\"%s\"}",
		 agency, banner_rev, device, password, sig, ts, totp, user);
	seed_str(w, name, 'L', body);
}

static void seed_wipe(seedw *w, const char *name, const char *device,
		      const tf_sigkey *k, int64_t at)
{
	char msg[256], sig[90], body[512];

	snprintf(msg, sizeof msg, "tenfour-wipe\n%s\n%s\n%" PRId64, FZ_AGENCY,
		 device, at);
	sign_b64(k, msg, sig);
	snprintf(body, sizeof body,
		 "{\"agency\":\"%s\",\"device_id\":\"%s\",\"sig\":\"%s\","
		 "\"wiped_at\":%" PRId64 "}",
		 FZ_AGENCY, device, sig, at);
	seed_str(w, name, 'W', body);
}

/* One canonical device audit entry, JSON-escaped into a string member. */
static void audit_entry(uint64_t seq, const char *prev, tf_audit_type type,
			tf_buf *raw)
{
	tf_audit_event ev;
	tf_err err;

	memset(&ev, 0, sizeof ev);
	ev.seq = seq;
	ev.ts_ms = FZ_NOW_MS - 60000 + (int64_t)seq * 1000;
	ev.type = type;
	ev.success = 1;
	ev.user = FZ_USER;
	ev.device = FZ_DEVICE;
	ev.role = "dispatcher";
	ev.source = "local";
	ev.where = "mdt/unlock";
	ev.prev = prev;
	tf_buf_reset(raw);
	if (tf_audit_write(&ev, raw, &err) != 0)
		die("tf_audit_write", &err);
}

static void seed_audit(seedw *w)
{
	tf_buf e1, e2, body;
	uint8_t h[TF_SHA256_LEN];
	char prev[TF_AUDIT_PREV_LEN + 1];

	tf_buf_init(&e1);
	tf_buf_init(&e2);
	tf_buf_init(&body);
	audit_entry(1, tf_audit_genesis, TF_AUDIT_UNLOCK_OK, &e1);
	must(tf_sha256(e1.data, e1.len, h) == 0, "sha256");
	tf_hex_encode(h, sizeof h, prev);
	audit_entry(2, prev, TF_AUDIT_LOCK, &e2);

	tf_buf_puts(&body, "{\"device_id\":\"" FZ_DEVICE "\",\"entries\":[");
	tf_json_write_string(&body, e1.data, e1.len);
	tf_buf_puts(&body, ",");
	tf_json_write_string(&body, e2.data, e2.len);
	tf_buf_puts(&body, "]}");
	seed_write(w, "chain-2", 'A', body.data, body.len);
	/* The same again: a resend, accepted without change. */
	seed_write(w, "=resend", 'A', body.data, body.len);

	tf_buf_reset(&body);
	tf_buf_puts(&body, "{\"device_id\":\"" FZ_DEVICE "\",\"entries\":[");
	tf_json_write_string(&body, e2.data, e2.len);
	tf_buf_puts(&body, "]}");
	seed_write(w, "resend-tail", 'A', body.data, body.len);

	/* Entry 3 chained to the wrong prev; entry 2 changed (a resend
	   that differs from the stored one). */
	audit_entry(3, tf_audit_genesis, TF_AUDIT_LOCK, &e1);
	tf_buf_reset(&body);
	tf_buf_puts(&body, "{\"device_id\":\"" FZ_DEVICE "\",\"entries\":[");
	tf_json_write_string(&body, e1.data, e1.len);
	tf_buf_puts(&body, "]}");
	seed_write(w, "bad-prev", 'A', body.data, body.len);
	audit_entry(2, tf_audit_genesis, TF_AUDIT_LOCK, &e2);
	tf_buf_reset(&body);
	tf_buf_puts(&body, "{\"device_id\":\"" FZ_DEVICE "\",\"entries\":[");
	tf_json_write_string(&body, e2.data, e2.len);
	tf_buf_puts(&body, "]}");
	seed_write(w, "changed-resend", 'A', body.data, body.len);
	must(!body.failed, "audit seeds");
	tf_buf_free(&body);
	tf_buf_free(&e2);
	tf_buf_free(&e1);
	seed_str(w, "other-device", 'A',
		 "{\"device_id\":\"" FZ_REVOKED "\",\"entries\":[]}");
	seed_str(w, "empty", 'A',
		 "{\"device_id\":\"" FZ_DEVICE "\",\"entries\":[]}");
	seed_str(w, "not-string", 'A',
		 "{\"device_id\":\"" FZ_DEVICE "\",\"entries\":[1]}");
}

/* A push of `cmds` (comma-separated command objects). */
static void seed_push(seedw *w, const char *name, const char *device,
		      const char *cmds, int proto)
{
	char body[4096];

	snprintf(body, sizeof body,
		 "{\"commands\":[%s],\"device_id\":\"%s\","
		 "\"protocol_version\":%d,\"schema_version\":1}",
		 cmds, device, proto);
	seed_str(w, name, 'P', body);
}

#define HLC "\"hlc\":\"019ab697e8000000\""
#define INC1 "019ab697-e800-7000-8000-0000000000a1"
#define BOLO1 "019ab697-e800-7000-8000-0000000000b1"
#define CMD(n) "019ab697-e800-7000-8000-00000000c0" n
#define WHO "\"device\":\"" FZ_DEVICE "\",\"user\":\"" FZ_USER "\""

static void seed_pushes(seedw *w)
{
	const char *create_inc =
		"{\"args\":{\"fields\":{\"priority\":2,\"status\":\"pending\","
		"\"type_code\":\"TRAFFIC\",\"location\":{\"addr\":\"100 Main "
		"St\"},\"remarks\":\"caller reports a crash\"}},\"base\":0,"
		"\"cmd_id\":\"" CMD(
			"01") "\"," WHO ",\"entity\":\"incident\"," HLC
			      ",\"op\":\"create\",\"record_id\":\"" INC1
			      "\",\"seq\":1}";
	char two[2048];

	seed_push(w, "create-incident", FZ_DEVICE, create_inc, 1);
	seed_push(w, "=duplicate", FZ_DEVICE, create_inc, 1);
	snprintf(two, sizeof two,
		 "{\"args\":{\"fields\":{\"priority\":1,\"status\":"
		 "\"dispatched\"}},\"base\":1,\"cmd_id\":\"" CMD(
			 "02") "\"," WHO ",\"entity\":\"incident\"," HLC
			       ",\"op\":\"set\","
			       "\"record_id\":\"" INC1 "\",\"seq\":2},"
			       "{\"args\":{\"body\":{\"kind\":\"hazard\","
			       "\"text\":\"dog in "
			       "yard\"},\"field\":\"notes\"},\"base\":2,\"cmd_"
			       "id\":\"" CMD(
				       "03") "\"," WHO
					     ",\"entity\":\"incident\"," HLC
					     ",\"op\":\"append\",\"record_id\":"
					     "\"" INC1 "\",\"seq\":3}");
	seed_push(w, "set-append", FZ_DEVICE, two, 1);
	seed_push(
		w, "set-add-edit", FZ_DEVICE,
		"{\"args\":{\"field\":\"assigned_units\",\"value\":\"2A12\"},"
		"\"base\":3,\"cmd_id\":\"" CMD(
			"04") "\"," WHO ",\"entity\":\"incident\"," HLC
			      ",\"op\":\"set_add\","
			      "\"record_id\":\"" INC1 "\",\"seq\":4},"
			      "{\"args\":{\"base\":\"caller reports a crash\","
			      "\"base_rev\":1,\"field\":\"remarks\",\"text\":"
			      "\"caller "
			      "reports a crash, two "
			      "cars\"},\"base\":4,\"cmd_id\":\"" CMD(
				      "05") "\"," WHO
					    ",\"entity\":\"incident\"," HLC
					    ",\"op\":\"edit_text\",\"record_"
					    "id\":\"" INC1 "\",\"seq\":5}",
		1);
	seed_push(w, "edit-conflict", FZ_DEVICE,
		  "{\"args\":{\"base\":\"caller reports a crash\","
		  "\"base_rev\":1,\"field\":\"remarks\",\"text\":\"caller "
		  "reports a crash on Elm\"},\"base\":4,\"cmd_id\":\"" CMD(
			  "06") "\"," WHO ",\"entity\":\"incident\"," HLC
				",\"op\":\"edit_text\",\"record_id\":\"" INC1
				"\",\"seq\":6}",
		  1);
	seed_push(w, "create-bolo", FZ_DEVICE,
		  "{\"args\":{\"fields\":{\"kind\":\"vehicle\",\"descriptors\":"
		  "{\"plate\":\"ABC123\",\"year\":2019},\"reason_wanted\":"
		  "\"stolen\",\"status\":\"active\"}},\"base\":0,\"cmd_id\":"
		  "\"" CMD("07") "\"," WHO ",\"entity\":\"bolo\"," HLC
				 ",\"op\":\"create\",\"record_id\":\"" BOLO1
				 "\",\"seq\":7}",
		  1);
	seed_push(w, "gap", FZ_DEVICE,
		  "{\"args\":{\"fields\":{\"priority\":3}},\"base\":1,"
		  "\"cmd_id\":\"" CMD(
			  "09") "\"," WHO ",\"entity\":"
				"\"incident\"," HLC
				",\"op\":\"set\",\"record_id\":\"" INC1
				"\",\"seq\":40}",
		  1);
	seed_push(w, "clock-skew", FZ_DEVICE,
		  "{\"args\":{\"fields\":{\"priority\":3}},\"base\":1,"
		  "\"cmd_id\":\"" CMD(
			  "10") "\"," WHO ",\"entity\":"
				"\"incident\",\"hlc\":\"019ab7f000000000\","
				"\"op\":\"set\","
				"\"record_id\":\"" INC1 "\",\"seq\":8}",
		  1);
	seed_push(w, "bad-value", FZ_DEVICE,
		  "{\"args\":{\"fields\":{\"priority\":9}},\"base\":1,"
		  "\"cmd_id\":\"" CMD(
			  "11") "\"," WHO ",\"entity\":"
				"\"incident\"," HLC
				",\"op\":\"set\",\"record_id\":\"" INC1
				"\",\"seq\":8}",
		  1);
	seed_push(w, "unknown-entity", FZ_DEVICE,
		  "{\"args\":{\"fields\":{}},\"base\":0,\"cmd_id\":\"" CMD(
			  "12") "\"," WHO ",\"entity\":\"spaceship\"," HLC
				",\"op\":\"create\",\"record_id\":\"" INC1
				"\",\"seq\":9}",
		  1);
	seed_push(w, "other-user", FZ_DEVICE,
		  "{\"args\":{\"fields\":{\"priority\":3}},\"base\":1,"
		  "\"cmd_id\":\"" CMD(
			  "13") "\",\"device\":\"" FZ_DEVICE
				"\",\"user\":\"brooks\",\"entity\":"
				"\"incident\"," HLC
				",\"op\":\"set\",\"record_id\":\"" INC1
				"\",\"seq\":10}",
		  1);
	seed_push(w, "ref-by-dispatcher", FZ_DEVICE,
		  "{\"args\":{\"fields\":{\"incident_number\":{\"fetched_at\":"
		  "1764000000000,\"ttl\":60000,\"v\":\"24-001\"}}},\"base\":1,"
		  "\"cmd_id\":\"" CMD(
			  "14") "\"," WHO ",\"entity\":"
				"\"incident\"," HLC
				",\"op\":\"ref_set\",\"record_id\":\"" INC1
				"\",\"seq\":11}",
		  1);
	seed_push(w, "other-device", FZ_REVOKED, "", 1);
	seed_push(w, "protocol-2", FZ_DEVICE, "", 2);
	seed_str(w, "schema-2", 'P',
		 "{\"commands\":[],\"device_id\":\"" FZ_DEVICE
		 "\",\"protocol_version\":1,\"schema_version\":2}");
	seed_str(w, "unknown-member", 'P',
		 "{\"commands\":[],\"device_id\":\"" FZ_DEVICE
		 "\",\"extra\":1,\"protocol_version\":1,\"schema_version\":1}");
	seed_str(w, "truncated", 'P',
		 "{\"commands\":[{\"args\":{\"fields\":{\"priority\":2");
	seed_str(
		w, "deep", 'P',
		"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
		"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[");
}

static void write_seeds(const char *dir)
{
	seedw w = {dir, 0};
	const int64_t step = FZ_NOW_MS / 1000 / TF_TOTP_STEP_S;
	char code[TF_TOTP_DIGITS + 1], cur[300];
	tf_buf b;

	must(tf_totp_code(totp_secret, sizeof totp_secret, step, code) == 0,
	     "totp");
	/* Logon failures first: a success spends the TOTP step. */
	seed_login(&w, "wrong-password", FZ_AGENCY, FZ_USER, FZ_DEVICE,
		   g.dev_key, FZ_NOW_MS, "Blue-Heron-41-dana", code, 1);
	seed_login(&w, "wrong-totp", FZ_AGENCY, FZ_USER, FZ_DEVICE, g.dev_key,
		   FZ_NOW_MS, FZ_PASSWORD, "000000", 1);
	seed_login(&w, "banner-rev", FZ_AGENCY, FZ_USER, FZ_DEVICE, g.dev_key,
		   FZ_NOW_MS, FZ_PASSWORD, code, 7);
	seed_login(&w, "stale-proof", FZ_AGENCY, FZ_USER, FZ_DEVICE, g.dev_key,
		   FZ_NOW_MS - 600000, FZ_PASSWORD, code, 1);
	seed_login(&w, "wrong-key", FZ_AGENCY, FZ_USER, FZ_DEVICE, g.rev_key,
		   FZ_NOW_MS, FZ_PASSWORD, code, 1);
	seed_login(&w, "revoked-device", FZ_AGENCY, FZ_USER, FZ_REVOKED,
		   g.rev_key, FZ_NOW_MS, FZ_PASSWORD, code, 1);
	seed_login(&w, "unknown-user", FZ_AGENCY, "nobody", FZ_DEVICE,
		   g.dev_key, FZ_NOW_MS, FZ_PASSWORD, code, 1);
	seed_login(&w, "unknown-agency", "xx-pd", FZ_USER, FZ_DEVICE, g.dev_key,
		   FZ_NOW_MS, FZ_PASSWORD, code, 1);
	seed_login(&w, "ok", FZ_AGENCY, FZ_USER, FZ_DEVICE, g.dev_key,
		   FZ_NOW_MS, FZ_PASSWORD, code, 1);
	seed_login(&w, "=replay", FZ_AGENCY, FZ_USER, FZ_DEVICE, g.dev_key,
		   FZ_NOW_MS, FZ_PASSWORD, code, 1);
	seed_str(&w, "missing-proof", 'L',
		 "{\"agency\":\"fz-pd\",\"banner_rev\":1,\"device_id\":"
		 "\"fz-mdt-1\",\"password\":\"x\",\"totp\":\"123456\","
		 "\"user\":\"dana\"}");
	seed_str(&w, "wrong-types", 'L',
		 "{\"agency\":1,\"banner_rev\":\"1\",\"device_id\":null,"
		 "\"password\":[],\"proof\":{\"sig\":5,\"ts\":-1},\"totp\":"
		 "123456,\"user\":true}");
	seed_str(&w, "dup-key", 'L',
		 "{\"agency\":\"fz-pd\",\"agency\":\"fz-pd\"}");
	seed_str(&w, "not-json", 'L', "agency=fz-pd&user=dana");

	seed_pushes(&w);

	seed_str(&w, "empty", 'C', "");
	seed_str(&w, "garbage", 'C', "not-a-cursor");
	tf_buf_init(&b);
	must(tf_sync_cursor_make(&g.srv, &g.caller, 0, &b) == 0, "cursor 0");
	snprintf(cur, sizeof cur, "%s", tf_buf_cstr(&b));
	seed_str(&w, "cursor-0", 'C', cur);
	tf_buf_reset(&b);
	must(tf_sync_cursor_make(&g.srv, &g.caller, 3, &b) == 0, "cursor 3");
	snprintf(cur, sizeof cur, "%s", tf_buf_cstr(&b));
	seed_str(&w, "cursor-3", 'C', cur);
	tf_buf_reset(&b);
	must(tf_sync_cursor_make(&g.srv, &g.caller, 999999, &b) == 0,
	     "cursor ahead");
	snprintf(cur, sizeof cur, "%s", tf_buf_cstr(&b));
	seed_str(&w, "cursor-ahead", 'C', cur);
	tf_buf_free(&b);

	seed_wipe(&w, "enrolled", FZ_DEVICE, g.dev_key, FZ_NOW_MS - 5000);
	seed_wipe(&w, "wrong-key", FZ_REVOKED, g.dev_key, FZ_NOW_MS - 5000);
	seed_wipe(&w, "ok", FZ_REVOKED, g.rev_key, FZ_NOW_MS - 5000);
	seed_wipe(&w, "repeat", FZ_REVOKED, g.rev_key, FZ_NOW_MS - 4000);
	seed_str(&w, "unknown", 'W',
		 "{\"agency\":\"fz-pd\",\"device_id\":\"nope\",\"sig\":\"AAAA"
		 "\",\"wiped_at\":1}");

	seed_audit(&w);

	seed_str(&w, "agency", 'B', FZ_AGENCY);
	seed_str(&w, "unknown", 'B', "no-such-pd");
	seed_str(&w, "bad-id", 'B', "../etc/passwd");

	snprintf(cur, sizeof cur, "%s\n%s", g.bearer, FZ_DEVICE);
	seed_str(&w, "ok", 'S', cur);
	snprintf(cur, sizeof cur, "%s\n%s", g.bearer, FZ_REVOKED);
	seed_str(&w, "other-device", 'S', cur);
	snprintf(cur, sizeof cur, "%s=\n%s", g.bearer, FZ_DEVICE);
	seed_str(&w, "padded", 'S', cur);
	seed_str(&w, "basic", 'S', "Basic ZGFuYTpwdw==\n" FZ_DEVICE);
	fprintf(stderr, "%d seeds written to %s\n", w.n, dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *schema_path = getenv("TF_SCHEMA");
	const char *seeds = getenv("TF_FUZZ_WRITE_SEEDS");
	const char *allow = getenv("TF_FUZZ_ALLOW_EIO");
	char tok[64];
	char *text;
	size_t len = 0;
	tf_err err;

	(void)argc;
	(void)argv;
	g.allow_eio = allow != NULL && strcmp(allow, "1") == 0;
	if (schema_path == NULL || schema_path[0] == '\0')
		schema_path = "schemas/cad.json";
	text = read_file(schema_path, &len);
	if (text == NULL) {
		fprintf(stderr,
			"fuzz_server_req: cannot read %s (run from the "
			"repository root or set TF_SCHEMA)\n",
			schema_path);
		exit(1);
	}
	if (tf_schema_load(text, len, &g.schema, &err) != 0)
		die("schema", &err);
	free(text);
	snprintf(g.dir, sizeof g.dir, "/tmp/tf-fuzz-srv-XXXXXX");
	if (mkdtemp(g.dir) == NULL) {
		fprintf(stderr, "fuzz_server_req: mkdtemp: %s\n",
			strerror(errno));
		exit(1);
	}
	snprintf(g.path, sizeof g.path, "%s/fuzz.db", g.dir);
	snprintf(g.dsn, sizeof g.dsn, "sqlite:%s", g.path);
	g.dev_key = key_from_seed(dev_seed);
	g.rev_key = key_from_seed(rev_seed);
	must(tf_b64url_encode(token_raw, sizeof token_raw, tok, sizeof tok) ==
		     0,
	     "token");
	snprintf(g.bearer, sizeof g.bearer, "Bearer %s", tok);
	atexit(at_exit);
	db_setup();
	if (seeds != NULL && seeds[0] != '\0') {
		write_seeds(seeds);
		exit(0);
	}
	return 0;
}

/*
 * test_http.c - the HTTP layer of tenfourd (src/server/http.c, events.c,
 * metrics.c), in-process: the server runs on 127.0.0.1 port 0 over a
 * temp SQLite database, seeded through the admin services with sessions
 * written straight into the database, and libcurl talks to it.
 *
 * Covers routing (404, 405), body limits (413 by Content-Length and for a
 * chunked body), strict query parameters (400 naming the parameter),
 * missing/invalid auth (401) and a revoked device (403 + wipe), /healthz,
 * /metrics, SSE (poke after a notify with its id: line, Last-Event-ID
 * older than the head, heartbeats, the stream ending when the session is
 * revoked), long-poll (woken by a poke, empty at the deadline), and the
 * graceful stop with open SSE streams; a session re-checked after a
 * long-poll wakes and before an SSE poke (a revoked device gets
 * device_revoked, no data and no poke), the per-session and per-peer
 * connection limits, /metrics only for loopback and metrics-allow peers,
 * the audit entries of admin calls (refused, and the caller's device on
 * an allowed one), and audited reads (pulls,
 * conflicts) on the service pool: /healthz answers while they wait for
 * the writer.  Waits are bounded loops.
 */
#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "server/config.h"
#include "server/http.h"
#include "server/server.h"
#include "tenfour/schema.h"
#include "tf_test.h"

#define AGENCY "a1"

static char dir[64];
static tf_schema *schema;
static tf_db *db;
static tf_srv srv;
static tf_http *http;
static char base[64];
/* The CA file for https:// bases (the test's self-signed certificate);
   "" uses libcurl's default store. */
static char cainfo[128];

/* Sessions: token text and device. */
typedef struct sess {
	char token[64];
	char authz[80];
	char device[TF_ID_MAX + 1];
	char hash[TF_DB_HASH_HEX + 1];
} sess;

static sess dana, adm, rev;

static void nap_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------ seeding */

struct put_session {
	const sess *s;
	const char *user;
	int64_t now;
};

static int put_session_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	struct put_session *p = arg;
	tf_db_session row;

	memset(&row, 0, sizeof row);
	snprintf(row.token_hash, sizeof row.token_hash, "%s", p->s->hash);
	snprintf(row.agency, sizeof row.agency, "%s", AGENCY);
	snprintf(row.user, sizeof row.user, "%s", p->user);
	snprintf(row.device, sizeof row.device, "%s", p->s->device);
	row.created_at = p->now;
	row.expires_at = p->now + 3600 * 1000;
	return t->ops->session_put(t, &row, err);
}

static int make_session(sess *s, const char *user, const char *device,
			tf_err *err)
{
	uint8_t raw[TF_SRV_TOKEN_BYTES], h[TF_SHA256_LEN];
	struct put_session p = {s, user, tf_http_now_ms()};

	if (tf_random_bytes(raw, sizeof raw) < 0 ||
	    tf_b64url_encode(raw, sizeof raw, s->token, sizeof s->token) < 0 ||
	    tf_sha256(raw, sizeof raw, h) < 0)
		return TF_EIO;
	tf_hex_encode(h, sizeof h, s->hash);
	snprintf(s->authz, sizeof s->authz, "Bearer %s", s->token);
	snprintf(s->device, sizeof s->device, "%s", device);
	return tf_db_write(db, put_session_fn, &p, err);
}

static int enroll(const tf_admin_actor *a, const char *id, tf_err *err)
{
	uint8_t pub[TF_ED25519_PUB_LEN];
	char pubtxt[64];
	tf_sigkey *k = NULL;
	int rc = tf_sigkey_generate(&k);

	if (rc == 0)
		rc = tf_sigkey_public(k, pub);
	if (rc == 0)
		rc = tf_b64url_encode(pub, sizeof pub, pubtxt, sizeof pubtxt);
	tf_sigkey_free(k);
	if (rc == 0)
		rc = tf_admin_device_enroll(&srv, a, id, id, pubtxt,
					    tf_http_now_ms(), err);
	return rc;
}

static int seed(tf_err *err)
{
	static const char *const disp[] = {"dispatcher"};
	static const char *const admr[] = {"admin"};
	char totp[TF_DB_TOTP_MAX + 1];
	tf_admin_actor a;
	int64_t now = tf_http_now_ms();
	int rc;

	memset(&a, 0, sizeof a);
	a.agency = AGENCY;
	a.user = "system";
	a.source = "local";
	a.where = "test_http";
	rc = tf_admin_agency_init(&srv, &a, AGENCY, "Agency One", now, err);
	if (rc == 0)
		rc = tf_admin_agency_init(&srv, &a, "zz", "Agency Z", now, err);
	if (rc == 0)
		rc = tf_admin_user_add(&srv, &a, "dana", "Dana", disp, 1, "",
				       "Kestrel-Harbor-Violet-42", now, totp,
				       err);
	if (rc == 0)
		rc = tf_admin_user_add(&srv, &a, "root", "Root", admr, 1, "",
				       "Osprey-Lantern-Quartz-17", now, totp,
				       err);
	if (rc == 0)
		rc = enroll(&a, "d1", err);
	if (rc == 0)
		rc = enroll(&a, "d2", err);
	if (rc == 0)
		rc = enroll(&a, "d3", err);
	if (rc == 0)
		rc = make_session(&dana, "dana", "d1", err);
	if (rc == 0)
		rc = make_session(&adm, "root", "d2", err);
	if (rc == 0)
		rc = make_session(&rev, "dana", "d3", err);
	return rc;
}

/* Limits for the next start() (NULL: the defaults); start() clears it. */
static const tf_http_limits *next_limits;

/* Starts the in-process server with extra flags (NULL-ended). */
static int start(tf_err *err, ...)
{
	char *argv[16];
	int argc = 0;
	tf_config cfg;
	va_list ap;
	char *a;
	int rc;

	argv[argc++] = (char *)"tenfourd";
	argv[argc++] = (char *)"--listen=127.0.0.1:0";
	argv[argc++] = (char *)"--log-level=warn";
	va_start(ap, err);
	while ((a = va_arg(ap, char *)) != NULL && argc < 15)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	rc = tf_config_load(&cfg, argc, argv, (char *const[]){NULL}, err);
	if (rc == 0)
		rc = tf_http_start_limits(&srv, &cfg, next_limits, &http, err);
	next_limits = NULL;
	if (rc == 0)
		snprintf(base, sizeof base, "%s://127.0.0.1:%u",
			 cfg.tls_cert[0] != '\0' ? "https" : "http",
			 (unsigned)tf_http_port(http));
	return rc;
}

static void stop(void)
{
	tf_http_stop(http);
	http = NULL;
}

/* ------------------------------------------------------------ curl */

typedef struct resp {
	long status;
	tf_buf body;
	tf_buf headers;
} resp;

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	tf_buf_append(arg, p, size * n);
	return size * n;
}

static void resp_free(resp *r)
{
	tf_buf_free(&r->body);
	tf_buf_free(&r->headers);
}

/* Upload source for chunked bodies: `left` bytes of 'x'. */
struct src {
	size_t left;
};

static size_t on_read(char *p, size_t size, size_t n, void *arg)
{
	struct src *s = arg;
	size_t k = size * n < s->left ? size * n : s->left;

	memset(p, 'x', k);
	s->left -= k;
	return k;
}

/*
 * One request.  s (may be NULL) adds the session headers; extra (may be
 * NULL) one more header line; body (may be NULL); chunked > 0 sends that
 * many bytes chunked instead.
 */
static int request(const char *method, const char *path, const sess *s,
		   const char *extra, const char *body, size_t chunked,
		   resp *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	struct src src = {chunked};
	char url[512], line[160];
	CURLcode cc;

	memset(r, 0, sizeof *r);
	tf_buf_init(&r->body);
	tf_buf_init(&r->headers);
	if (c == NULL)
		return -1;
	snprintf(url, sizeof url, "%s%s", base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	if (cainfo[0] != '\0')
		curl_easy_setopt(c, CURLOPT_CAINFO, cainfo);
	if (s != NULL) {
		snprintf(line, sizeof line, "Authorization: %s", s->authz);
		hl = curl_slist_append(hl, line);
		snprintf(line, sizeof line, "X-Tenfour-Device: %s", s->device);
		hl = curl_slist_append(hl, line);
	}
	if (extra != NULL)
		hl = curl_slist_append(hl, extra);
	if (chunked > 0) {
		hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &src);
	} else if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	tf_buf_cstr(&r->body);
	tf_buf_cstr(&r->headers);
	return cc == CURLE_OK ? 0 : -1;
}

/* 1 when r is {code, field, message} JSON with this status/code/field. */
static int is_error(resp *r, long status, const char *code, const char *field)
{
	char want[160];

	if (r->status != status)
		return 0;
	snprintf(want, sizeof want, "{\"code\":\"%s\",\"field\":\"%s\",", code,
		 field);
	return strncmp(r->body.data ? r->body.data : "", want,
		       strlen(want)) == 0 &&
	       strstr(r->body.data, "\"message\":\"") != NULL;
}

static int has_header(resp *r, const char *line)
{
	return r->headers.data != NULL && strstr(r->headers.data, line);
}

#define EXPECT_ERROR(r, st_, code_, field_)                                    \
	do {                                                                   \
		if (!is_error(r, st_, code_, field_))                          \
			tf_test_fail(__FILE__, __LINE__,                       \
				     "want %d %s/%s, got %ld %s", st_, code_,  \
				     field_, (r)->status,                      \
				     tf_buf_cstr(&(r)->body));                 \
	} while (0)

/* ------------------------------------------------------- SSE streams */

typedef struct stream {
	CURL *c;
	struct curl_slist *hl;
	tf_buf data;
	int done;
	CURLcode result;
} stream;

static CURLM *multi;

static int stream_open(stream *st, const sess *s, const char *last_id)
{
	char url[256], line[400];

	memset(st, 0, sizeof *st);
	tf_buf_init(&st->data);
	st->c = curl_easy_init();
	if (st->c == NULL)
		return -1;
	snprintf(url, sizeof url, "%s/v1/sync/events", base);
	curl_easy_setopt(st->c, CURLOPT_URL, url);
	curl_easy_setopt(st->c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(st->c, CURLOPT_WRITEDATA, &st->data);
	curl_easy_setopt(st->c, CURLOPT_PRIVATE, st);
	snprintf(line, sizeof line, "Authorization: %s", s->authz);
	st->hl = curl_slist_append(st->hl, line);
	snprintf(line, sizeof line, "X-Tenfour-Device: %s", s->device);
	st->hl = curl_slist_append(st->hl, line);
	if (last_id != NULL) {
		snprintf(line, sizeof line, "Last-Event-ID: %s", last_id);
		st->hl = curl_slist_append(st->hl, line);
	}
	curl_easy_setopt(st->c, CURLOPT_HTTPHEADER, st->hl);
	curl_multi_add_handle(multi, st->c);
	return 0;
}

static void stream_close(stream *st)
{
	if (st->c != NULL) {
		curl_multi_remove_handle(multi, st->c);
		curl_easy_cleanup(st->c);
	}
	curl_slist_free_all(st->hl);
	tf_buf_free(&st->data);
	memset(st, 0, sizeof *st);
}

/* Drives the transfers for up to ms milliseconds or until cond holds. */
static int pump(long ms, int (*cond)(void *), void *arg)
{
	for (long waited = 0; waited <= ms; waited += 20) {
		int running = 0, left = 0;
		CURLMsg *m;

		curl_multi_perform(multi, &running);
		while ((m = curl_multi_info_read(multi, &left)) != NULL) {
			stream *st = NULL;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
					  (char **)&st);
			if (st != NULL) {
				st->done = 1;
				st->result = m->data.result;
			}
		}
		if (cond != NULL && cond(arg))
			return 1;
		curl_multi_poll(multi, NULL, 0, 20, NULL);
	}
	return cond == NULL;
}

struct want {
	stream *st;
	const char *text;
	size_t count;
};

static size_t count_of(const tf_buf *b, const char *text)
{
	size_t n = 0;
	const char *p = b->data;

	if (p == NULL)
		return 0;
	while ((p = strstr(p, text)) != NULL) {
		n++;
		p += strlen(text);
	}
	return n;
}

static int has_text(void *arg)
{
	struct want *w = arg;

	tf_buf_cstr(&w->st->data);
	return count_of(&w->st->data, w->text) >= (w->count ? w->count : 1);
}

static int is_done(void *arg)
{
	return ((stream *)arg)->done;
}

static int wait_text(stream *st, const char *text, size_t count, long ms)
{
	struct want w = {st, text, count};

	return pump(ms, has_text, &w);
}

/* The caller a session resolves to (for expected cursors). */
static int caller_of(const sess *s, tf_srv_caller *c)
{
	return tf_auth_session(&srv, s->authz, s->device, "127.0.0.1",
			       tf_http_now_ms(), c, NULL);
}

static int head_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	return t->ops->head_chg(t, arg, err);
}

static uint64_t head_now(void)
{
	uint64_t h = 0;

	tf_db_read(db, head_fn, &h, NULL);
	return h;
}

/* Expected poke text for chg as seen by s. */
static void poke_text(const sess *s, uint64_t chg, char *out, size_t cap)
{
	tf_srv_caller c;
	tf_buf cur;

	tf_buf_init(&cur);
	if (caller_of(s, &c) == 0)
		tf_sync_cursor_make(&srv, &c, chg, &cur);
	snprintf(out, cap, "id: %s\nevent: poke\ndata: {\"cursor\":\"%s\"}\n\n",
		 tf_buf_cstr(&cur), tf_buf_cstr(&cur));
	tf_buf_free(&cur);
}

static void cursor_of(const sess *s, uint64_t chg, char *out, size_t cap)
{
	tf_srv_caller c;
	tf_buf cur;

	tf_buf_init(&cur);
	if (caller_of(s, &c) == 0)
		tf_sync_cursor_make(&srv, &c, chg, &cur);
	snprintf(out, cap, "%s", tf_buf_cstr(&cur));
	tf_buf_free(&cur);
}

static size_t live_streams(void)
{
	size_t st = 0, w = 0;

	tf_http_live_counts(http, &st, &w);
	return st;
}

static size_t live_waiters(void)
{
	size_t st = 0, w = 0;

	tf_http_live_counts(http, &st, &w);
	return w;
}

/* Waits (bounded) until the registry counts reach n. */
static int wait_count(size_t (*fn)(void), size_t n)
{
	for (int i = 0; i < 500; i++) {
		if (fn() == n)
			return 1;
		pump(10, NULL, NULL);
	}
	return 0;
}

/* A real change in the feed (in agency "zz": only the head matters to
   the pokes of AGENCY, and AGENCY's pulls stay empty); the new head. */
static int put_rec_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	static const char state[] = "{}";
	char id[TF_UUID_LEN + 1];
	static unsigned n;

	snprintf(id, sizeof id, "0190a7b0-0000-7000-8000-%012u", ++n);
	return t->ops->record_put(t, "zz", id, "incident", state,
				  sizeof state - 1, arg, err);
}

static uint64_t bump(void)
{
	uint64_t chg = 0;
	tf_err err;

	if (tf_db_write(db, put_rec_fn, &chg, &err) < 0)
		tf_test_fail(__FILE__, __LINE__, "record_put: %s", err.msg);
	return chg;
}

/* ------------------------------------------------------------- tests */

TEST(test_routing)
{
	resp r;

	CHECK_INT(request("GET", "/nope", NULL, NULL, NULL, 0, &r), 0);
	EXPECT_ERROR(&r, 404, "not_found", "path");
	CHECK(has_header(&r, "Content-Type: application/json"));
	resp_free(&r);
	CHECK_INT(request("GET", "/v1/sync/pull/", NULL, NULL, NULL, 0, &r), 0);
	EXPECT_ERROR(&r, 404, "not_found", "path");
	resp_free(&r);
	CHECK_INT(request("GET", "/v1/admin/users//release", NULL, NULL, NULL,
			  0, &r),
		  0);
	EXPECT_ERROR(&r, 404, "not_found", "path");
	resp_free(&r);
	CHECK_INT(request("POST", "/healthz", NULL, NULL, "{}", 0, &r), 0);
	EXPECT_ERROR(&r, 405, "method_not_allowed", "method");
	CHECK(has_header(&r, "Allow: GET"));
	resp_free(&r);
	CHECK_INT(request("GET", "/v1/sync/push", &dana, NULL, NULL, 0, &r), 0);
	EXPECT_ERROR(&r, 405, "method_not_allowed", "method");
	CHECK(has_header(&r, "Allow: POST"));
	resp_free(&r);
	CHECK_INT(request("DELETE", "/v1/keys", NULL, NULL, NULL, 0, &r), 0);
	EXPECT_ERROR(&r, 405, "method_not_allowed", "method");
	resp_free(&r);
	/* A public route works and carries the security headers. */
	CHECK_INT(request("GET", "/v1/keys", NULL, NULL, NULL, 0, &r), 0);
	CHECK_INT(r.status, 200);
	CHECK(strstr(tf_buf_cstr(&r.body), "\"keys\"") != NULL);
	CHECK(has_header(&r, "Cache-Control: no-store"));
	CHECK(has_header(&r, "X-Content-Type-Options: nosniff"));
	resp_free(&r);
}

TEST(test_body_limits)
{
	char *big = malloc(TF_SRV_MAX_SMALL_BODY + 2);
	resp r;

	if (big == NULL) {
		CHECK(0);
		return;
	}
	memset(big, ' ', TF_SRV_MAX_SMALL_BODY + 1);
	big[TF_SRV_MAX_SMALL_BODY + 1] = '\0';
	/* Content-Length over the limit: refused before the body. */
	CHECK_INT(request("POST", "/v1/auth/login", NULL, NULL, big, 0, &r),
		  0);
	EXPECT_ERROR(&r, 413, "limit_exceeded", "body");
	resp_free(&r);
	free(big);
	/* Chunked: counted as it comes. */
	CHECK_INT(request("POST", "/v1/auth/login", NULL, NULL, NULL,
			  TF_SRV_MAX_SMALL_BODY + 100, &r),
		  0);
	EXPECT_ERROR(&r, 413, "limit_exceeded", "body");
	resp_free(&r);
	/* The push limit is the big one: a body over the small limit gets
	   past the HTTP layer (and is refused by the service as JSON). */
	CHECK_INT(request("POST", "/v1/sync/push", &dana, NULL, NULL,
			  TF_SRV_MAX_SMALL_BODY + 100, &r),
		  0);
	CHECK(r.status == 400);
	CHECK(strstr(tf_buf_cstr(&r.body), "limit_exceeded") == NULL);
	resp_free(&r);
	/* No body at all: the services refuse it as JSON. */
	CHECK_INT(request("POST", "/v1/auth/login", NULL, NULL, "", 0, &r), 0);
	CHECK_INT(r.status, 400);
	resp_free(&r);
	CHECK_INT(request("POST", "/v1/sync/push", &dana, NULL, "", 0, &r), 0);
	CHECK_INT(r.status, 400);
	resp_free(&r);
	CHECK_INT(request("POST", "/v1/devices/wipe-receipt", NULL, NULL, "", 0,
			  &r),
		  0);
	CHECK_INT(r.status, 400);
	resp_free(&r);
	/* Within the limit, a bad body reaches the service: 400. */
	CHECK_INT(request("POST", "/v1/auth/login", NULL, NULL, "{\"x\":1}", 0,
			  &r),
		  0);
	CHECK_INT(r.status, 400);
	resp_free(&r);
}

TEST(test_query_params)
{
	static const struct {
		const char *path, *field;
	} bad[] = {
		{"/v1/sync/pull?limit=0", "limit"},
		{"/v1/sync/pull?limit=5001", "limit"},
		{"/v1/sync/pull?limit=", "limit"},
		{"/v1/sync/pull?limit=-1", "limit"},
		{"/v1/sync/pull?limit=1e3", "limit"},
		{"/v1/sync/pull?limit=99999999999999999999999", "limit"},
		{"/v1/sync/pull?wait=61", "wait"},
		{"/v1/sync/pull?wait=x", "wait"},
		{"/v1/sync/pull?limit=5&limit=6", "limit"},
		{"/v1/sync/pull?since=3", "since"},
		{"/v1/sync/pull?cursor=garbage", "cursor"},
		{"/v1/audit/export?from=abc", "from"},
		{"/v1/audit/export?limit=0", "limit"},
		{"/v1/audit/export?limit=10001", "limit"},
		{"/v1/conflicts?x=1", "x"},
	};
	char path[400];
	resp r;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK_INT(request("GET", bad[i].path, &dana, NULL, NULL, 0, &r),
			  0);
		if (r.status != 400 ||
		    strstr(tf_buf_cstr(&r.body), bad[i].field) == NULL) {
			tf_test_fail(__FILE__, __LINE__, "%s: %ld %s",
				     bad[i].path, r.status,
				     tf_buf_cstr(&r.body));
		} else {
			char want[64];

			snprintf(want, sizeof want, "\"field\":\"%s\"",
				 bad[i].field);
			CHECK(strstr(r.body.data, want) != NULL);
		}
		resp_free(&r);
	}
	/* A cursor over 256 bytes. */
	snprintf(path, sizeof path, "/v1/sync/pull?cursor=");
	memset(path + strlen(path), 'a', 257);
	path[21 + 257] = '\0';
	CHECK_INT(request("GET", path, &dana, NULL, NULL, 0, &r), 0);
	EXPECT_ERROR(&r, 400, "limit_exceeded", "cursor");
	resp_free(&r);
	/* Banner: agency required and checked. */
	CHECK_INT(request("GET", "/v1/auth/banner", NULL, NULL, NULL, 0, &r),
		  0);
	EXPECT_ERROR(&r, 400, "missing_field", "agency");
	resp_free(&r);
	CHECK_INT(request("GET", "/v1/auth/banner?agency=a%20b", NULL, NULL,
			  NULL, 0, &r),
		  0);
	EXPECT_ERROR(&r, 400, "invalid_argument", "agency");
	resp_free(&r);
	CHECK_INT(request("GET", "/v1/auth/banner?agency=" AGENCY, NULL, NULL,
			  NULL, 0, &r),
		  0);
	CHECK_INT(r.status, 200);
	CHECK(strstr(tf_buf_cstr(&r.body), "banner_rev") != NULL);
	resp_free(&r);
	/* Good parameters pass: a full pull. */
	CHECK_INT(request("GET", "/v1/sync/pull?limit=10&wait=0", &dana, NULL,
			  NULL, 0, &r),
		  0);
	CHECK_INT(r.status, 200);
	CHECK(strstr(tf_buf_cstr(&r.body), "\"cursor\"") != NULL);
	resp_free(&r);
}

TEST(test_auth)
{
	sess wrong = dana;
	resp r;

	CHECK_INT(request("GET", "/v1/conflicts", NULL, NULL, NULL, 0, &r), 0);
	EXPECT_ERROR(&r, 401, "unauthenticated", "authorization");
	resp_free(&r);
	CHECK_INT(request("GET", "/v1/sync/events", NULL, NULL, NULL, 0, &r),
		  0);
	EXPECT_ERROR(&r, 401, "unauthenticated", "authorization");
	resp_free(&r);
	CHECK_INT(request("GET", "/v1/sync/pull?limit=0", NULL, NULL, NULL, 0,
			  &r),
		  0);
	EXPECT_ERROR(&r, 401, "unauthenticated", "authorization");
	resp_free(&r);
	snprintf(wrong.authz, sizeof wrong.authz, "Bearer nope");
	CHECK_INT(request("GET", "/v1/conflicts", &wrong, NULL, NULL, 0, &r),
		  0);
	EXPECT_ERROR(&r, 401, "unauthenticated", "authorization");
	resp_free(&r);
	/* The token of another device. */
	wrong = dana;
	snprintf(wrong.device, sizeof wrong.device, "d2");
	CHECK_INT(request("GET", "/v1/conflicts", &wrong, NULL, NULL, 0, &r),
		  0);
	CHECK_INT(r.status, 401);
	resp_free(&r);
	CHECK_INT(request("GET", "/v1/conflicts", &dana, NULL, NULL, 0, &r), 0);
	CHECK_INT(r.status, 200);
	CHECK(strstr(tf_buf_cstr(&r.body), "\"conflicts\"") != NULL);
	resp_free(&r);
	/* Admin endpoints need the admin role. */
	CHECK_INT(request("POST", "/v1/admin/users/dana/release", &dana, NULL,
			  "", 0, &r),
		  0);
	EXPECT_ERROR(&r, 403, "permission_denied", "role");
	resp_free(&r);
	CHECK_INT(request("POST", "/v1/admin/users/no%20one/release", &adm,
			  NULL, "", 0, &r),
		  0);
	CHECK_INT(r.status, 400);
	resp_free(&r);
	/* Revoking d3 through the admin endpoint; d3 is then told to wipe. */
	CHECK_INT(request("POST", "/v1/admin/devices/d3/revoke", &adm, NULL, "",
			  0, &r),
		  0);
	CHECK_INT(r.status, 200);
	resp_free(&r);
	CHECK_INT(request("GET", "/v1/conflicts", &rev, NULL, NULL, 0, &r), 0);
	EXPECT_ERROR(&r, 403, "device_revoked", "X-Tenfour-Device");
	CHECK(strstr(tf_buf_cstr(&r.body), "\"wipe\":true") != NULL);
	resp_free(&r);
}

TEST(test_healthz_metrics)
{
	resp r;
	static const char *const lines[] = {
		"# TYPE tenfour_http_requests_total counter\n",
		"tenfour_http_requests_total{route=\"/healthz\",code=\"200\"} ",
		"tenfour_http_requests_total{route=\"other\",code=\"404\"} ",
		"# TYPE tenfour_push_seconds histogram\n",
		"tenfour_push_seconds_bucket{le=\"+Inf\"} ",
		"tenfour_pull_seconds_count ",
		"tenfour_push_commands_total{status=\"applied\"} ",
		"# TYPE tenfour_sse_connections gauge\n",
		"tenfour_sse_connections 0\n",
		"tenfour_ledger_rows ",
		"tenfour_conflicts_open ",
		"tenfour_records ",
		"tenfour_audit_entries ",
		"tenfour_build_info{version=\"",
	};

	CHECK_INT(request("GET", "/healthz", NULL, NULL, NULL, 0, &r), 0);
	CHECK_INT(r.status, 200);
	CHECK_STR(tf_buf_cstr(&r.body), "{\"status\":\"ok\"}");
	resp_free(&r);
	CHECK_INT(request("GET", "/metrics", NULL, NULL, NULL, 0, &r), 0);
	CHECK_INT(r.status, 200);
	CHECK(has_header(&r, "Content-Type: text/plain; version=0.0.4"));
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
		if (strstr(tf_buf_cstr(&r.body), lines[i]) == NULL)
			tf_test_fail(__FILE__, __LINE__, "metrics lack %s",
				     lines[i]);
	/* Every line is a comment or "name{labels} value". */
	{
		char *save = NULL, *text = strdup(tf_buf_cstr(&r.body));

		for (char *l = strtok_r(text, "\n", &save); l != NULL;
		     l = strtok_r(NULL, "\n", &save))
			if (l[0] != '#' && (strncmp(l, "tenfour_", 8) != 0 ||
					    strrchr(l, ' ') == NULL))
				tf_test_fail(__FILE__, __LINE__,
					     "bad line \"%s\"", l);
		free(text);
	}
	resp_free(&r);
}

TEST(test_sse_poke)
{
	char want[800];
	uint64_t chg;
	stream st;

	CHECK_INT(stream_open(&st, &dana, NULL), 0);
	CHECK(wait_text(&st, ": ok\n\n", 1, 5000));
	CHECK(wait_count(live_streams, 1));
	{
		resp r;

		CHECK_INT(request("GET", "/metrics", NULL, NULL, NULL, 0, &r),
			  0);
		CHECK(strstr(tf_buf_cstr(&r.body),
			     "\ntenfour_sse_connections 1\n") != NULL);
		resp_free(&r);
	}
	/* A poke for another agency does not reach it. */
	srv.notify(srv.notify_arg, "zz", bump());
	/* A poke for its agency does, with the cursor as id. */
	chg = bump();
	srv.notify(srv.notify_arg, AGENCY, chg);
	poke_text(&dana, chg, want, sizeof want);
	CHECK(strncmp(want, "id: ", 4) == 0 && strlen(want) > 40);
	CHECK(wait_text(&st, want, 1, 5000));
	CHECK_INT(count_of(&st.data, "event: poke"), 1);
	/* An older position pokes no more. */
	srv.notify(srv.notify_arg, AGENCY, chg - 1);
	pump(200, NULL, NULL);
	CHECK_INT(count_of(&st.data, "event: poke"), 1);
	/* Another stream of the agency: both get the next poke. */
	{
		stream st2;

		CHECK_INT(stream_open(&st2, &adm, NULL), 0);
		CHECK(wait_text(&st2, ": ok\n\n", 1, 5000));
		CHECK(wait_count(live_streams, 2));
		chg = bump();
		srv.notify(srv.notify_arg, AGENCY, chg);
		CHECK(wait_text(&st, "event: poke", 2, 5000));
		poke_text(&adm, chg, want, sizeof want);
		CHECK(wait_text(&st2, want, 1, 5000));
		stream_close(&st2);
	}
	stream_close(&st);
	/* The server notices closed streams when it writes to them (the
	   heartbeats here come every second). */
	CHECK(wait_count(live_streams, 0));
}

TEST(test_sse_last_event_id)
{
	char cur[300], want[800];
	uint64_t head;
	stream st;

	head = bump();
	CHECK(head > 0 && head == head_now());
	/* Last-Event-ID behind the head: a poke at once. */
	cursor_of(&dana, head - 1, cur, sizeof cur);
	CHECK_INT(stream_open(&st, &dana, cur), 0);
	poke_text(&dana, head, want, sizeof want);
	CHECK(wait_text(&st, want, 1, 5000));
	stream_close(&st);
	/* At the head: no poke. */
	cursor_of(&dana, head, cur, sizeof cur);
	CHECK_INT(stream_open(&st, &dana, cur), 0);
	CHECK(wait_text(&st, ": ok\n\n", 1, 5000));
	pump(300, NULL, NULL);
	CHECK_INT(count_of(&st.data, "event: poke"), 0);
	stream_close(&st);
	/* Not a cursor of ours: a poke so the client pulls and resets. */
	CHECK_INT(stream_open(&st, &dana, "bogus"), 0);
	CHECK(wait_text(&st, "event: poke", 1, 5000));
	stream_close(&st);
	CHECK(wait_count(live_streams, 0) || live_streams() <= 3);
}

TEST(test_sse_heartbeat)
{
	stream st, st2;
	sess tmp;
	tf_err err;

	/* This server runs with --sse-heartbeat-s 1. */
	CHECK_INT(stream_open(&st, &dana, NULL), 0);
	CHECK(wait_text(&st, ": hb\n\n", 2, 8000));
	CHECK(!st.done);
	/* A stream whose session ends (logout) ends at its next
	   heartbeat. */
	CHECK_INT(make_session(&tmp, "dana", "d1", &err), 0);
	CHECK_INT(stream_open(&st2, &tmp, NULL), 0);
	CHECK(wait_text(&st2, ": ok\n\n", 1, 5000));
	{
		resp r;

		CHECK_INT(request("POST", "/v1/auth/logout", &tmp, NULL, "", 0,
				  &r),
			  0);
		CHECK_INT(r.status, 200);
		resp_free(&r);
	}
	CHECK(pump(8000, is_done, &st2));
	CHECK_INT(st2.result, CURLE_OK);
	/* The other stream of the same user and device goes on. */
	CHECK(!st.done);
	stream_close(&st);
	stream_close(&st2);
}

/* Long-poll in a thread (the main thread pokes). */
struct lp {
	const char *path;
	const sess *s;
	resp r;
	int rc;
	pthread_t t;
};

static void *lp_main(void *arg)
{
	struct lp *l = arg;

	l->rc = request("GET", l->path, l->s, NULL, NULL, 0, &l->r);
	return NULL;
}

TEST(test_long_poll)
{
	char path[400], cur[300];
	struct lp l;
	resp r;
	const char *c, *e;

	/* The current cursor. */
	CHECK_INT(request("GET", "/v1/sync/pull", &dana, NULL, NULL, 0, &r), 0);
	CHECK_INT(r.status, 200);
	c = strstr(tf_buf_cstr(&r.body), "\"cursor\":\"");
	if (c == NULL) {
		CHECK(0);
		resp_free(&r);
		return;
	}
	c += 10;
	e = strchr(c, '"');
	snprintf(cur, sizeof cur, "%.*s", (int)(e - c), c);
	resp_free(&r);
	snprintf(path, sizeof path, "/v1/sync/pull?wait=30&cursor=%s", cur);

	/* Woken by a poke of its agency. */
	memset(&l, 0, sizeof l);
	l.path = path;
	l.s = &dana;
	CHECK_INT(pthread_create(&l.t, NULL, lp_main, &l), 0);
	CHECK(wait_count(live_waiters, 1));
	srv.notify(srv.notify_arg, "zz", bump());
	nap_ms(100);
	CHECK_INT(live_waiters(), 1);
	srv.notify(srv.notify_arg, AGENCY, bump());
	pthread_join(l.t, NULL);
	CHECK_INT(l.rc, 0);
	CHECK_INT(l.r.status, 200);
	CHECK(strstr(tf_buf_cstr(&l.r.body), "\"records\":[]") != NULL);
	CHECK_INT(live_waiters(), 0);
	resp_free(&l.r);

	/* Empty at the deadline. */
	snprintf(path, sizeof path, "/v1/sync/pull?wait=1&cursor=%s", cur);
	memset(&l, 0, sizeof l);
	l.path = path;
	l.s = &dana;
	CHECK_INT(pthread_create(&l.t, NULL, lp_main, &l), 0);
	CHECK(wait_count(live_waiters, 1));
	pthread_join(l.t, NULL);
	CHECK_INT(l.rc, 0);
	CHECK_INT(l.r.status, 200);
	CHECK(strstr(tf_buf_cstr(&l.r.body), "\"records\":[]") != NULL);
	CHECK(strstr(tf_buf_cstr(&l.r.body), "\"has_more\":false") != NULL);
	resp_free(&l.r);
	CHECK_INT(live_waiters(), 0);
}

TEST(test_graceful_stop)
{
	stream st[3];
	struct lp l;
	CURL *keep;
	resp r;
	char url[128];
	long code = 0;
	tf_buf body;

	/* A kept-alive connection to ask /healthz while quiescing. */
	keep = curl_easy_init();
	tf_buf_init(&body);
	snprintf(url, sizeof url, "%s/healthz", base);
	curl_easy_setopt(keep, CURLOPT_URL, url);
	curl_easy_setopt(keep, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(keep, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(keep, CURLOPT_WRITEDATA, &body);
	CHECK_INT(curl_easy_perform(keep), CURLE_OK);
	for (int i = 0; i < 3; i++) {
		CHECK_INT(stream_open(&st[i], i == 1 ? &adm : &dana, NULL), 0);
		CHECK(wait_text(&st[i], ": ok\n\n", 1, 5000));
	}
	CHECK(wait_count(live_streams, 3));
	/* And a long-poll waiter. */
	memset(&l, 0, sizeof l);
	l.path = "/v1/sync/pull?wait=60&cursor=";
	l.s = &adm;
	{
		char cur[300];
		static char p[400];

		cursor_of(&adm, head_now(), cur, sizeof cur);
		snprintf(p, sizeof p, "/v1/sync/pull?wait=60&cursor=%s", cur);
		l.path = p;
	}
	CHECK_INT(pthread_create(&l.t, NULL, lp_main, &l), 0);
	CHECK(wait_count(live_waiters, 1));

	tf_http_quiesce(http);
	/* Streams end, the waiter answers. */
	for (int i = 0; i < 3; i++) {
		CHECK(pump(5000, is_done, &st[i]));
		CHECK_INT(st[i].result, CURLE_OK);
	}
	pthread_join(l.t, NULL);
	CHECK_INT(l.r.status, 200);
	resp_free(&l.r);
	/* /healthz on the open connection says stopping. */
	tf_buf_reset(&body);
	CHECK_INT(curl_easy_perform(keep), CURLE_OK);
	curl_easy_getinfo(keep, CURLINFO_RESPONSE_CODE, &code);
	CHECK_INT(code, 503);
	CHECK_STR(tf_buf_cstr(&body), "{\"status\":\"stopping\"}");
	/* No new connections. */
	CHECK(request("GET", "/healthz", NULL, NULL, NULL, 0, &r) != 0 ||
	      r.status != 200);
	resp_free(&r);
	stop();
	for (int i = 0; i < 3; i++)
		stream_close(&st[i]);
	curl_easy_cleanup(keep);
	tf_buf_free(&body);
}

TEST(test_metrics_off)
{
	resp r;
	tf_err err;

	CHECK_INT(start(&err, "--metrics=off", NULL), 0);
	CHECK_INT(request("GET", "/metrics", NULL, NULL, NULL, 0, &r), 0);
	EXPECT_ERROR(&r, 404, "not_found", "path");
	resp_free(&r);
	stop();
}

TEST(test_trusted_proxy)
{
	resp r;
	tf_err err;

	/* The proxy's X-Forwarded-For becomes the source; the session
	   check sees it (logged); the request succeeds either way. */
	CHECK_INT(start(&err, "--trusted-proxy=127.0.0.1", NULL), 0);
	CHECK_INT(request("GET", "/healthz", NULL,
			  "X-Forwarded-For: 203.0.113.9, 198.51.100.7", NULL,
			  0, &r),
		  0);
	CHECK_INT(r.status, 200);
	resp_free(&r);
	stop();
}

/* ------------------------------------------------------- request head */

/*
 * GET /healthz with n extra headers "X-Pad-<i>: aaa..." of len bytes of
 * value each; the status, or 0 when the transport failed.
 */
static long head_request(size_t n, size_t len)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	char url[128], *line = malloc(len + 32);
	tf_buf body;
	long status = 0;

	tf_buf_init(&body);
	if (c == NULL || line == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		int k = snprintf(line, len + 32, "X-Pad-%zu: ", i);

		memset(line + k, 'a', len);
		line[(size_t)k + len] = '\0';
		hl = curl_slist_append(hl, line);
	}
	snprintf(url, sizeof url, "%s/healthz", base);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
out:
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	tf_buf_free(&body);
	free(line);
	return status;
}

TEST(test_request_head_limit)
{
	tf_err err;
	resp r;

	/* libcurl's own request line and headers (Host, Accept) take well
	   under 100 bytes; the rest of the documented 8 KiB head is ours:
	   one long header, then many short ones (each parsed entry also
	   takes room in the connection's pool). */
	CHECK_INT(start(&err, NULL), 0);
	CHECK_INT(head_request(1, 8000), 200);
	CHECK_INT(head_request(100, 64), 200);
	CHECK_INT(head_request(4, 1990), 200);
	/* Far over: refused with 431 (or the connection closed), never a
	   crash; the server goes on serving. */
	{
		long st = head_request(1, 64 * 1024);

		CHECK(st == 431 || st == 413 || st == 0);
		st = head_request(400, 200);
		CHECK(st == 431 || st == 413 || st == 0);
	}
	/* An SSE stream and an authenticated request still fit beside a
	   few KiB of headers. */
	{
		char pad[4200];

		memcpy(pad, "X-Pad: ", 7);
		memset(pad + 7, 'b', sizeof pad - 8);
		pad[sizeof pad - 1] = '\0';
		CHECK_INT(request("GET", "/v1/conflicts", &dana, pad, NULL, 0,
				  &r),
			  0);
		CHECK_INT(r.status, 200);
		resp_free(&r);
	}
	CHECK_INT(request("GET", "/healthz", NULL, NULL, NULL, 0, &r), 0);
	CHECK_INT(r.status, 200);
	resp_free(&r);
	stop();
}

/* ---------------------------------------------------------------- TLS */

/* A self-signed ECDSA P-256 certificate for 127.0.0.1 (subjectAltName
   IP, the name libcurl checks) and its key, written as PEM; the key
   file is created with mode 0600. */
static int make_tls_files(const char *cert_path, const char *key_path)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_EXTENSION *e = NULL;
	X509V3_CTX ctx;
	X509_NAME *name;
	FILE *f = NULL;
	int fd, ok = 0;

	if (k == NULL || x == NULL)
		goto out;
	name = X509_get_subject_name(x);
	if (!X509_set_version(x, 2) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400) == NULL ||
	    !X509_set_pubkey(x, k) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)"127.0.0.1", -1,
					-1, 0) ||
	    !X509_set_issuer_name(x, name))
		goto out;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name,
				"IP:127.0.0.1");
	if (e == NULL || !X509_add_ext(x, e, -1))
		goto out;
	X509_EXTENSION_free(e);
	e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
				"critical,CA:TRUE");
	if (e == NULL || !X509_add_ext(x, e, -1) ||
	    X509_sign(x, k, EVP_sha256()) == 0)
		goto out;
	f = fopen(cert_path, "w");
	if (f == NULL || !PEM_write_X509(f, x) || fclose(f) != 0) {
		f = NULL;
		goto out;
	}
	fd = open(key_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (f == NULL ||
	    !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL))
		goto out;
	ok = fclose(f) == 0;
	f = NULL;
out:
	if (f != NULL)
		fclose(f);
	X509_EXTENSION_free(e);
	X509_free(x);
	EVP_PKEY_free(k);
	return ok ? 0 : -1;
}

static int write_text(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	size_t n = strlen(text);
	int ok;

	if (fd < 0)
		return -1;
	ok = write(fd, text, n) == (ssize_t)n && fchmod(fd, mode) == 0;
	return close(fd) == 0 && ok ? 0 : -1;
}

/* The login of ARCHITECTURE.md section 4 over base (banner, device
   proof, TOTP); s gets the session. */
static int tls_login(const char *user, const char *password,
		     const uint8_t *totp, size_t totp_len, const char *device,
		     const tf_sigkey *key, sess *s)
{
	uint8_t sig[TF_ED25519_SIG_LEN];
	char msg[256], sigtxt[128], code[TF_TOTP_DIGITS + 1];
	const char *p, *t;
	int64_t ts = tf_http_now_ms(), step = ts / 1000 / TF_TOTP_STEP_S;
	long long banner;
	tf_buf body;
	resp r;
	int rc = -1;

	tf_buf_init(&body);
	if (request("GET", "/v1/auth/banner?agency=" AGENCY, NULL, NULL, NULL,
		    0, &r) < 0 ||
	    r.status != 200 ||
	    (p = strstr(tf_buf_cstr(&r.body), "\"banner_rev\":")) == NULL) {
		resp_free(&r);
		return -1;
	}
	banner = strtoll(p + 13, NULL, 10);
	resp_free(&r);
	snprintf(msg, sizeof msg, "tenfour-login\n%s\n%s\n%s\n%lld", AGENCY,
		 user, device, (long long)ts);
	if (tf_totp_code(totp, totp_len, step, code) != 0 ||
	    tf_sigkey_sign(key, msg, strlen(msg), sig) != 0 ||
	    tf_b64url_encode(sig, sizeof sig, sigtxt, sizeof sigtxt) != 0)
		return -1;
	tf_buf_printf(&body,
		      "{\"agency\":\"%s\",\"banner_rev\":%lld,"
		      "\"device_id\":\"%s\",\"password\":\"%s\","
		      "\"proof\":{\"sig\":\"%s\",\"ts\":%lld},"
		      "\"totp\":\"%s\",\"user\":\"%s\"}",
		      AGENCY, banner, device, password, sigtxt, (long long)ts,
		      code, user);
	if (request("POST", "/v1/auth/login", NULL, NULL, tf_buf_cstr(&body),
		    0, &r) == 0 &&
	    r.status == 200 &&
	    (p = strstr(tf_buf_cstr(&r.body), "\"token\":\"")) != NULL &&
	    (t = strchr(p + 9, '"')) != NULL &&
	    (size_t)(t - (p + 9)) < sizeof s->token) {
		memset(s, 0, sizeof *s);
		memcpy(s->token, p + 9, (size_t)(t - (p + 9)));
		snprintf(s->authz, sizeof s->authz, "Bearer %s", s->token);
		snprintf(s->device, sizeof s->device, "%s", device);
		rc = 0;
	} else {
		fprintf(stderr, "tls login: %ld %s\n", r.status,
			tf_buf_cstr(&r.body));
	}
	resp_free(&r);
	tf_buf_free(&body);
	return rc;
}

/* Starts with these TLS files; must fail naming `field`, with `text` in
   the message, and leave no server behind. */
static void expect_tls_refused(const char *cert, const char *key,
			       const char *field, const char *text, int line)
{
	char c[200], k[200];
	tf_err err;
	int rc;

	memset(&err, 0, sizeof err);
	snprintf(c, sizeof c, "--tls-cert=%s", cert);
	snprintf(k, sizeof k, "--tls-key=%s", key);
	rc = start(&err, c, k, NULL);
	if (rc == 0) {
		stop();
		tf_test_fail(__FILE__, line, "started with %s / %s", cert, key);
		return;
	}
	if (http != NULL || strcmp(err.where, field) != 0 ||
	    strstr(err.msg, text) == NULL)
		tf_test_fail(__FILE__, line,
			     "want field %s and \"%s\", got %s: %s", field,
			     text, err.where, err.msg);
}

TEST(test_tls)
{
	static const char *const disp[] = {"dispatcher"};
	char cert[96], key[96], other[96], bad[96], open_key[96], garbage[96];
	char c_opt[120], k_opt[120], totp_txt[TF_DB_TOTP_MAX + 1], plain[64];
	uint8_t pub[TF_ED25519_PUB_LEN], totp[64];
	char pubtxt[64];
	size_t totp_len = 0;
	tf_sigkey *dk = NULL;
	tf_admin_actor a;
	tf_err err;
	sess s;
	resp r;

	snprintf(cert, sizeof cert, "%s/cert.pem", dir);
	snprintf(key, sizeof key, "%s/key.pem", dir);
	snprintf(other, sizeof other, "%s/other-cert.pem", dir);
	snprintf(bad, sizeof bad, "%s/other-key.pem", dir);
	snprintf(open_key, sizeof open_key, "%s/open-key.pem", dir);
	snprintf(garbage, sizeof garbage, "%s/garbage.pem", dir);
	CHECK_INT(make_tls_files(cert, key), 0);
	CHECK_INT(make_tls_files(other, bad), 0);

	/* A user and a device of its own: a real login. */
	memset(&a, 0, sizeof a);
	a.agency = AGENCY;
	a.user = "system";
	a.source = "local";
	a.where = "test_http tls";
	memset(&err, 0, sizeof err);
	CHECK_INT(tf_admin_user_add(&srv, &a, "tina", "Tina", disp, 1, "",
				    "Heron-Copper-Maple-31", tf_http_now_ms(),
				    totp_txt, &err),
		  0);
	CHECK_INT(tf_b32_decode(totp_txt, strlen(totp_txt), totp, sizeof totp,
				&totp_len),
		  0);
	CHECK_INT(tf_sigkey_generate(&dk), 0);
	CHECK_INT(tf_sigkey_public(dk, pub), 0);
	CHECK_INT(tf_b64url_encode(pub, sizeof pub, pubtxt, sizeof pubtxt), 0);
	CHECK_INT(tf_admin_device_enroll(&srv, &a, "tls1", "tls1", pubtxt,
					 tf_http_now_ms(), &err),
		  0);

	snprintf(c_opt, sizeof c_opt, "--tls-cert=%s", cert);
	snprintf(k_opt, sizeof k_opt, "--tls-key=%s", key);
	snprintf(cainfo, sizeof cainfo, "%s", cert);
	CHECK_INT(start(&err, c_opt, k_opt, NULL), 0);
	CHECK(strncmp(base, "https://", 8) == 0);
	/* Verified against the test's certificate. */
	CHECK_INT(request("GET", "/healthz", NULL, NULL, NULL, 0, &r), 0);
	CHECK_INT(r.status, 200);
	CHECK_STR(tf_buf_cstr(&r.body), "{\"status\":\"ok\"}");
	resp_free(&r);
	/* Login and a pull over TLS. */
	if (tls_login("tina", "Heron-Copper-Maple-31", totp, totp_len, "tls1",
		      dk, &s) == 0) {
		CHECK_INT(request("GET", "/v1/sync/pull", &s, NULL, NULL, 0,
				  &r),
			  0);
		CHECK_INT(r.status, 200);
		CHECK(strstr(tf_buf_cstr(&r.body), "\"cursor\":") != NULL);
		resp_free(&r);
	} else {
		tf_test_fail(__FILE__, __LINE__, "login over TLS failed");
	}
	/* Verification is on: another CA file refuses the server. */
	snprintf(cainfo, sizeof cainfo, "%s", other);
	CHECK(request("GET", "/healthz", NULL, NULL, NULL, 0, &r) < 0);
	resp_free(&r);
	snprintf(cainfo, sizeof cainfo, "%s", cert);
	/* Plain HTTP to the TLS port gets no HTTP answer. */
	snprintf(plain, sizeof plain, "%s", base);
	snprintf(base, sizeof base, "http://%.48s", plain + 8);
	CHECK(request("GET", "/healthz", NULL, NULL, NULL, 0, &r) < 0 ||
	      r.status != 200);
	resp_free(&r);
	snprintf(base, sizeof base, "%s", plain);
	/* And TLS still serves afterwards. */
	CHECK_INT(request("GET", "/healthz", NULL, NULL, NULL, 0, &r), 0);
	CHECK_INT(r.status, 200);
	resp_free(&r);
	stop();

	/* Refused at start, naming the option. */
	CHECK_INT(write_text(garbage, "not a pem file\n", 0600), 0);
	expect_tls_refused(garbage, key, "tls-cert", "no PEM certificate",
			   __LINE__);
	{
		char *text = tf_test_read_file(cert, NULL);

		CHECK(text != NULL);
		if (text != NULL)
			CHECK_INT(write_text(open_key, text, 0600), 0);
		free(text);
		expect_tls_refused(cert, open_key, "tls-key",
				   "no PEM private key", __LINE__);
	}
	expect_tls_refused(cert, garbage, "tls-key", "no PEM private key",
			   __LINE__);
	expect_tls_refused("/nonexistent/cert.pem", key, "tls-cert",
			   "cannot read /nonexistent/cert.pem", __LINE__);
	expect_tls_refused(cert, "/nonexistent/key.pem", "tls-key",
			   "cannot read /nonexistent/key.pem", __LINE__);
	/* A key readable by group or others: refused, naming file and mode. */
	{
		char *text;
		size_t len = 0;
		char want[160];

		text = tf_test_read_file(key, &len);
		CHECK(text != NULL);
		if (text != NULL) {
			CHECK_INT(write_text(open_key, text, 0644), 0);
			snprintf(want, sizeof want, "%s has mode 0644",
				 open_key);
			expect_tls_refused(cert, open_key, "tls-key", want,
					   __LINE__);
			CHECK_INT(chmod(open_key, 0640), 0);
			snprintf(want, sizeof want, "%s has mode 0640",
				 open_key);
			expect_tls_refused(cert, open_key, "tls-key", want,
					   __LINE__);
			/* A damaged key block: GnuTLS's refusal. */
			text[len / 2] = text[len / 2] == '!' ? '?' : '!';
			CHECK_INT(write_text(open_key, text, 0600), 0);
			expect_tls_refused(cert, open_key, "tls-key", "GnuTLS",
					   __LINE__);
			free(text);
		}
	}
	/* A key that is not the certificate's. */
	expect_tls_refused(cert, bad, "tls-key", "GnuTLS", __LINE__);
	cainfo[0] = '\0';
	tf_sigkey_free(dk);
}

/* ------------------------------------------------- revocation, limits */

static const tf_admin_actor sys_actor = {AGENCY,  "system",    NULL,
					 "local", "test_http", NULL};

/* A fresh device of dana's with a session. */
static int fresh_device(sess *s, const char *id)
{
	tf_err err;
	int rc = enroll(&sys_actor, id, &err);

	if (rc == 0)
		rc = make_session(s, "dana", id, &err);
	if (rc < 0)
		tf_test_fail(__FILE__, __LINE__, "device %s: %s", id, err.msg);
	return rc;
}

struct unit_put {
	const char *id;
	uint64_t chg;
};

static int put_unit_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	static const char state[] = "{}";
	struct unit_put *u = arg;

	return t->ops->record_put(t, AGENCY, u->id, "unit", state,
				  sizeof state - 1, &u->chg, err);
}

/* A record dana's devices may read (a unit: agency scope), poked. */
static void new_unit(const char *id)
{
	struct unit_put u = {id, 0};
	tf_err err;

	if (tf_db_write(db, put_unit_fn, &u, &err) < 0)
		tf_test_fail(__FILE__, __LINE__, "record_put: %s", err.msg);
	srv.notify(srv.notify_arg, AGENCY, u.chg);
}

static void revoke(const char *device)
{
	tf_err err;

	if (tf_admin_device_revoke(&srv, &sys_actor, device, tf_http_now_ms(),
				   &err) < 0)
		tf_test_fail(__FILE__, __LINE__, "revoke %s: %s", device,
			     err.msg);
}

static void lp_start(struct lp *l, const sess *s, const char *path)
{
	memset(l, 0, sizeof *l);
	l->path = path;
	l->s = s;
	if (pthread_create(&l->t, NULL, lp_main, l) != 0)
		tf_test_fail(__FILE__, __LINE__, "pthread_create");
}

TEST(test_long_poll_revoked)
{
	static const char u1[] = "0190a7b0-0000-7000-8000-00000000aa01";
	static const char u2[] = "0190a7b0-0000-7000-8000-00000000aa02";
	char path[400], cur[300];
	struct lp l;
	sess s4 = {0}, s5 = {0};

	if (fresh_device(&s4, "d4") < 0 || fresh_device(&s5, "d5") < 0)
		return;
	/* Control: a live session's long-poll wakes with the new record. */
	cursor_of(&s4, head_now(), cur, sizeof cur);
	snprintf(path, sizeof path, "/v1/sync/pull?wait=30&cursor=%s", cur);
	lp_start(&l, &s4, path);
	CHECK(wait_count(live_waiters, 1));
	new_unit(u1);
	pthread_join(l.t, NULL);
	CHECK_INT(l.r.status, 200);
	CHECK(strstr(tf_buf_cstr(&l.r.body), u1) != NULL);
	resp_free(&l.r);

	/* Revoked while waiting, woken by a poke: device_revoked, and the
	   record committed after the revocation is not in the answer. */
	cursor_of(&s4, head_now(), cur, sizeof cur);
	snprintf(path, sizeof path, "/v1/sync/pull?wait=30&cursor=%s", cur);
	lp_start(&l, &s4, path);
	CHECK(wait_count(live_waiters, 1));
	revoke("d4");
	new_unit(u2);
	pthread_join(l.t, NULL);
	CHECK_INT(l.rc, 0);
	EXPECT_ERROR(&l.r, 403, "device_revoked", "X-Tenfour-Device");
	CHECK(strstr(tf_buf_cstr(&l.r.body), "\"wipe\":true") != NULL);
	CHECK(strstr(tf_buf_cstr(&l.r.body), u2) == NULL);
	resp_free(&l.r);
	CHECK_INT(live_waiters(), 0);

	/* Revoked while waiting, woken by the deadline. */
	cursor_of(&s5, head_now(), cur, sizeof cur);
	snprintf(path, sizeof path, "/v1/sync/pull?wait=1&cursor=%s", cur);
	lp_start(&l, &s5, path);
	CHECK(wait_count(live_waiters, 1));
	revoke("d5");
	pthread_join(l.t, NULL);
	EXPECT_ERROR(&l.r, 403, "device_revoked", "X-Tenfour-Device");
	resp_free(&l.r);
}

/* This server re-checks the session before every poke. */
TEST(test_sse_revoked)
{
	static const char u3[] = "0190a7b0-0000-7000-8000-00000000aa03";
	static const char u4[] = "0190a7b0-0000-7000-8000-00000000aa04";
	stream st, other;
	sess s6 = {0};

	if (fresh_device(&s6, "d6") < 0)
		return;
	CHECK_INT(stream_open(&st, &s6, NULL), 0);
	CHECK_INT(stream_open(&other, &dana, NULL), 0);
	CHECK(wait_text(&st, ": ok\n\n", 1, 5000));
	CHECK(wait_text(&other, ": ok\n\n", 1, 5000));
	/* Live: poked. */
	new_unit(u3);
	CHECK(wait_text(&st, "event: poke", 1, 5000));
	CHECK(wait_text(&other, "event: poke", 1, 5000));
	/* Revoked: the next change ends the stream with the reason, and
	   no poke; the other stream is poked. */
	revoke("d6");
	new_unit(u4);
	CHECK(wait_text(&other, "event: poke", 2, 5000));
	CHECK(pump(5000, is_done, &st));
	CHECK_INT(st.result, CURLE_OK);
	CHECK_INT(count_of(&st.data, "event: poke"), 1);
	CHECK(strstr(tf_buf_cstr(&st.data),
		     "event: end\ndata: {\"code\":\"device_revoked\","
		     "\"field\":\"X-Tenfour-Device\",") != NULL);
	CHECK(strstr(tf_buf_cstr(&st.data), "\"wipe\":true}\n\n") != NULL);
	CHECK(!other.done);
	stream_close(&st);
	stream_close(&other);
	CHECK(wait_count(live_streams, 0));
}

/*
 * request() again while the connection is refused at accept (bounded):
 * a connection the client closed is counted off its peer a moment later,
 * when the server notices.
 */
static int request_retry(const char *method, const char *path,
			 const sess *s, resp *r)
{
	for (int i = 0; i < 250; i++) {
		if (request(method, path, s, NULL, NULL, 0, r) == 0 &&
		    r->status != 0)
			return 0;
		resp_free(r);
		nap_ms(20);
	}
	return request(method, path, s, NULL, NULL, 0, r);
}

/* stream_open until the stream is served (": ok"), bounded likewise. */
static int stream_open_retry(stream *st, const sess *s)
{
	for (int i = 0; i < 100; i++) {
		struct want w = {st, ": ok\n\n", 1};

		if (stream_open(st, s, NULL) < 0)
			return 0;
		if (pump(2000, has_text, &w))
			return 1;
		stream_close(st);
		nap_ms(20);
	}
	return 0;
}

/* This server: 2 streams + long-polls per session, 3 connections per
   peer with loopback counted, heartbeats every second. */
TEST(test_connection_limits)
{
	stream st[3];
	char path[400], cur[300];
	resp r;

	/* Per peer: three connections held, a fourth refused at accept. */
	CHECK_INT(stream_open(&st[0], &dana, NULL), 0);
	CHECK_INT(stream_open(&st[1], &dana, NULL), 0);
	CHECK_INT(stream_open(&st[2], &adm, NULL), 0);
	for (int i = 0; i < 3; i++)
		CHECK(wait_text(&st[i], ": ok\n\n", 1, 5000));
	CHECK(wait_count(live_streams, 3));
	CHECK(request("GET", "/healthz", NULL, NULL, NULL, 0, &r) != 0 ||
	      r.status == 0);
	resp_free(&r);
	CHECK_INT(live_streams(), 3);
	stream_close(&st[2]);
	CHECK(wait_count(live_streams, 2));

	/* Per session: dana holds two streams; a third, and a long-poll
	   that would wait, are refused (503, field "session"). */
	CHECK_INT(request_retry("GET", "/v1/sync/events", &dana, &r), 0);
	EXPECT_ERROR(&r, 503, "busy", "session");
	resp_free(&r);
	cursor_of(&dana, head_now(), cur, sizeof cur);
	snprintf(path, sizeof path, "/v1/sync/pull?wait=30&cursor=%s", cur);
	CHECK_INT(request_retry("GET", path, &dana, &r), 0);
	EXPECT_ERROR(&r, 503, "busy", "session");
	resp_free(&r);
	/* A pull that does not wait is served; so is another session. */
	snprintf(path, sizeof path, "/v1/sync/pull?cursor=%s", cur);
	CHECK_INT(request_retry("GET", path, &dana, &r), 0);
	CHECK_INT(r.status, 200);
	resp_free(&r);
	CHECK(stream_open_retry(&st[2], &adm));
	/* One of dana's streams closed: her next one is served. */
	stream_close(&st[2]);
	stream_close(&st[1]);
	CHECK(wait_count(live_streams, 1));
	CHECK(stream_open_retry(&st[1], &dana));
	CHECK(wait_count(live_streams, 2));
	stream_close(&st[0]);
	stream_close(&st[1]);
	CHECK(wait_count(live_streams, 0));
}

/* /metrics: loopback and metrics-allow peers only; behind the trusted
   proxy the forwarded client decides. */
TEST(test_metrics_allow)
{
	tf_http_limits lim;
	resp r;
	tf_err err;

	CHECK_INT(start(&err, "--trusted-proxy=127.0.0.1", NULL), 0);
	CHECK_INT(request("GET", "/metrics", NULL, NULL, NULL, 0, &r), 0);
	CHECK_INT(r.status, 200);
	resp_free(&r);
	CHECK_INT(request("GET", "/metrics", NULL,
			  "X-Forwarded-For: 203.0.113.9", NULL, 0, &r),
		  0);
	EXPECT_ERROR(&r, 404, "not_found", "path");
	resp_free(&r);
	stop();

	tf_http_limits_default(&lim);
	snprintf(lim.metrics_allow, sizeof lim.metrics_allow,
		 " 203.0.113.9 ,2001:DB8::1");
	next_limits = &lim;
	CHECK_INT(start(&err, "--trusted-proxy=127.0.0.1", NULL), 0);
	CHECK_INT(request("GET", "/metrics", NULL,
			  "X-Forwarded-For: 203.0.113.9", NULL, 0, &r),
		  0);
	CHECK_INT(r.status, 200);
	resp_free(&r);
	CHECK_INT(request("GET", "/metrics", NULL,
			  "X-Forwarded-For: 2001:db8::1", NULL, 0, &r),
		  0);
	CHECK_INT(r.status, 200);
	resp_free(&r);
	CHECK_INT(request("GET", "/metrics", NULL,
			  "X-Forwarded-For: 198.51.100.7", NULL, 0, &r),
		  0);
	EXPECT_ERROR(&r, 404, "not_found", "path");
	resp_free(&r);
	stop();

	/* The same through the options (tf_config -> the HTTP layer). */
	CHECK_INT(start(&err, "--trusted-proxy=127.0.0.1",
			"--metrics-allow=203.0.113.9", NULL),
		  0);
	CHECK_INT(request("GET", "/metrics", NULL,
			  "X-Forwarded-For: 203.0.113.9", NULL, 0, &r),
		  0);
	CHECK_INT(r.status, 200);
	resp_free(&r);
	CHECK_INT(request("GET", "/metrics", NULL,
			  "X-Forwarded-For: 198.51.100.7", NULL, 0, &r),
		  0);
	EXPECT_ERROR(&r, 404, "not_found", "path");
	resp_free(&r);
	stop();

	/* Not an address: the server does not start. */
	snprintf(lim.metrics_allow, sizeof lim.metrics_allow,
		 "203.0.113.9,example.org");
	next_limits = &lim;
	memset(&err, 0, sizeof err);
	CHECK_INT(start(&err, NULL), TF_EINVAL);
	CHECK_STR(err.where, "metrics-allow");
	CHECK(strstr(err.msg, "example.org") != NULL);
	http = NULL;
}

struct last_entry {
	char text[TF_AUDIT_ENTRY_MAX + 1];
};

static int last_entry_fn(void *arg, const tf_db_audit *a)
{
	struct last_entry *e = arg;
	size_t n = a->len < TF_AUDIT_ENTRY_MAX ? a->len : TF_AUDIT_ENTRY_MAX;

	memcpy(e->text, a->bytes, n);
	e->text[n] = '\0';
	return 0;
}

static int scan_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	return t->ops->audit_scan(t, AGENCY, 1, 0, last_entry_fn, arg, err);
}

/* AU-2: an admin endpoint refused for the role is audited as a failure,
   with the caller's agency, user and device. */
TEST(test_admin_refusal_audited)
{
	static const struct {
		const char *path, *type, *target;
	} cases[] = {
		{"/v1/admin/devices/d2/revoke", "device_revoke", "d2"},
		{"/v1/admin/users/root/release", "permission_change", "root"},
		{"/v1/admin/users/root/revoke-sessions", "permission_change",
		 "root"},
	};
	struct last_entry *e = malloc(sizeof *e);
	char want[200];
	resp r;

	if (e == NULL) {
		CHECK(0);
		return;
	}
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		CHECK_INT(request("POST", cases[i].path, &dana, NULL, "", 0,
				  &r),
			  0);
		EXPECT_ERROR(&r, 403, "permission_denied", "role");
		resp_free(&r);
		e->text[0] = '\0';
		CHECK_INT(tf_db_read(db, scan_fn, e, NULL), 0);
		CHECK(strstr(e->text, "\"actor\":{\"agency\":\"" AGENCY
				      "\",\"device\":\"d1\",\"role\":"
				      "\"dispatcher\",\"user\":\"dana\"}") !=
		      NULL);
		CHECK(strstr(e->text, "\"detail\":{\"reason\":\"role\"}") !=
		      NULL);
		CHECK(strstr(e->text, "\"outcome\":\"failure\"") != NULL);
		snprintf(want, sizeof want, "\"type\":\"%s\"", cases[i].type);
		CHECK(strstr(e->text, want) != NULL);
		snprintf(want, sizeof want, "\"target\":\"%s\"",
			 cases[i].target);
		CHECK(strstr(e->text, want) != NULL);
		CHECK(strstr(e->text, "\"where\":\"test_http POST "
				      "/v1/admin/") != NULL);
	}
	/* The target is still intact: nothing was revoked. */
	CHECK_INT(request("GET", "/v1/conflicts", &adm, NULL, NULL, 0, &r), 0);
	CHECK_INT(r.status, 200);
	resp_free(&r);
	/* An allowed admin call: the entry names the admin's device. */
	CHECK_INT(request("POST", "/v1/admin/users/dana/release", &adm, NULL,
			  "", 0, &r),
		  0);
	CHECK_INT(r.status, 200);
	resp_free(&r);
	e->text[0] = '\0';
	CHECK_INT(tf_db_read(db, scan_fn, e, NULL), 0);
	CHECK(strstr(e->text, "\"device\":\"d2\"") != NULL);
	CHECK(strstr(e->text, "\"user\":\"root\"") != NULL);
	CHECK(strstr(e->text, "\"outcome\":\"success\"") != NULL);
	free(e);
}

/* ---------------------------------------------- audited reads on the pool */

/* A write job that holds the database's writer until released. */
static atomic_int writer_held, writer_release;

static int hold_writer_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	(void)t;
	(void)arg;
	(void)err;
	atomic_store(&writer_held, 1);
	for (int i = 0; i < 3000 && !atomic_load(&writer_release); i++)
		nap_ms(10);
	return 0;
}

static void *hold_writer_main(void *arg)
{
	tf_err err;

	(void)arg;
	if (tf_db_write(db, hold_writer_fn, NULL, &err) < 0)
		tf_test_fail(__FILE__, __LINE__, "hold: %s", err.msg);
	return NULL;
}

struct inflight {
	const char *path;
	resp r;
	int rc;
	atomic_int done;
	pthread_t t;
};

static void *inflight_main(void *arg)
{
	struct inflight *f = arg;

	f->rc = request("GET", f->path, &dana, NULL, NULL, 0, &f->r);
	atomic_store(&f->done, 1);
	return NULL;
}

/*
 * Pulls and conflict lists write an access audit entry and wait for its
 * group commit; they run on the service pool, so with one MHD worker and
 * the writer held (every such read waiting for it), /healthz is still
 * answered while they are in flight, and they all complete afterwards.
 */
TEST(test_reads_offloaded)
{
	enum { NPULL = 12 };
	static const char u[] = "0190a7b0-0000-7000-8000-00000000bb01";
	struct inflight *f = calloc(NPULL + 1, sizeof *f);
	char path[400], cur[300];
	pthread_t holder;
	resp r;
	int i, n = 0;

	if (f == NULL) {
		CHECK(0);
		return;
	}
	/* A pull from before a new record carries it: audited. */
	cursor_of(&dana, head_now(), cur, sizeof cur);
	snprintf(path, sizeof path, "/v1/sync/pull?cursor=%s", cur);
	new_unit(u);
	atomic_store(&writer_held, 0);
	atomic_store(&writer_release, 0);
	CHECK_INT(pthread_create(&holder, NULL, hold_writer_main, NULL), 0);
	for (i = 0; i < 500 && !atomic_load(&writer_held); i++)
		nap_ms(10);
	CHECK(atomic_load(&writer_held));
	for (i = 0; i <= NPULL; i++) {
		f[i].path = i < NPULL ? path : "/v1/conflicts";
		if (pthread_create(&f[i].t, NULL, inflight_main, &f[i]) != 0)
			break;
		n++;
	}
	CHECK_INT(n, NPULL + 1);
	nap_ms(300); /* let them reach the server (only makes it stricter) */
	CHECK_INT(request("GET", "/healthz", NULL, NULL, NULL, 0, &r), 0);
	CHECK_INT(r.status, 200);
	resp_free(&r);
	/* Still waiting for the writer: they were in flight meanwhile. */
	for (i = 0; i < n; i++)
		CHECK(!atomic_load(&f[i].done));
	atomic_store(&writer_release, 1);
	pthread_join(holder, NULL);
	for (i = 0; i < n; i++) {
		pthread_join(f[i].t, NULL);
		CHECK_INT(f[i].rc, 0);
		CHECK_INT(f[i].r.status, 200);
		if (i < NPULL)
			CHECK(strstr(tf_buf_cstr(&f[i].r.body), u) != NULL);
		resp_free(&f[i].r);
	}
	free(f);
}

/* Runs one test on a server of its own (limits, flags). */
static void with_server(void (*fn)(void), const char *name,
			const tf_http_limits *lim, const char *flag)
{
	tf_err err;

	next_limits = lim;
	memset(&err, 0, sizeof err);
	if (start(&err, flag, NULL) < 0) {
		tf_test_fail(__FILE__, __LINE__, "%s: start: %s", name,
			     err.msg);
		return;
	}
	tf_test_run(name, fn);
	stop();
}

static int open_server(tf_err *err)
{
	char dsn[128], *text;
	size_t len = 0;
	int rc;

	text = tf_test_read_file(TF_TEST_SCHEMA_PATH, &len);
	if (text == NULL)
		return TF_EIO;
	rc = tf_schema_load(text, len, &schema, err);
	free(text);
	if (rc < 0)
		return rc;
	snprintf(dsn, sizeof dsn, "sqlite:%s/t.db", dir);
	rc = tf_db_open(dsn, NULL, &db, err);
	if (rc < 0)
		return rc;
	srv.db = db;
	srv.schema = schema;
	srv.max_skew_ms = 60000;
	srv.totp_window = 1;
	srv.pbkdf2_iter = TF_PBKDF2_MIN_ITER;
	srv.node = "test_http";
	return tf_srv_init_identity(&srv, err);
}

int main(int argc, char **argv)
{
	char cmd[128];
	tf_err err;

	(void)argc;
	memset(&err, 0, sizeof err);
	snprintf(dir, sizeof dir, "/tmp/tf_http_XXXXXX");
	if (mkdtemp(dir) == NULL || curl_global_init(CURL_GLOBAL_ALL) != 0) {
		perror("setup");
		return 1;
	}
	multi = curl_multi_init();
	if (open_server(&err) < 0 || seed(&err) < 0 ||
	    start(&err, "--sse-heartbeat-s=1", NULL) < 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return 1;
	}
	RUN(test_routing);
	RUN(test_body_limits);
	RUN(test_query_params);
	RUN(test_healthz_metrics);
	RUN(test_sse_poke);
	RUN(test_sse_last_event_id);
	RUN(test_long_poll);
	RUN(test_auth);
	RUN(test_sse_heartbeat);
	RUN(test_graceful_stop);
	RUN(test_metrics_off);
	RUN(test_trusted_proxy);
	RUN(test_request_head_limit);
	RUN(test_tls);
	RUN(test_metrics_allow);
	{
		tf_http_limits lim;

		with_server(test_long_poll_revoked, "long-poll revoked", NULL,
			    NULL);
		with_server(test_admin_refusal_audited, "admin refusal", NULL,
			    NULL);
		with_server(test_reads_offloaded, "reads on the pool", NULL,
			    "--threads=1");
		tf_http_limits_default(&lim);
		lim.sse_recheck_ms = 0;
		with_server(test_sse_revoked, "sse revoked", &lim,
			    "--sse-heartbeat-s=1");
		tf_http_limits_default(&lim);
		lim.per_session = 2;
		lim.per_ip = 3;
		lim.per_ip_loopback = 1;
		with_server(test_connection_limits, "connection limits", &lim,
			    "--sse-heartbeat-s=1");
	}
	curl_multi_cleanup(multi);
	curl_global_cleanup();
	tf_db_close(db);
	tf_srv_fini(&srv);
	tf_schema_free(schema);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return tf_test_finish(argv[0]);
}

/*
 * test_client_sync.c - the native client's transport (src/client/http.c)
 * and sync engine (src/client/sync.c) against a real tenfourd on
 * loopback (tests/support/srv_harness.h).
 */
#define _XOPEN_SOURCE 700 /* nftw */
#define _DEFAULT_SOURCE

#include <arpa/inet.h>
#include <ftw.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/http.h"
#include "client/internal.h"
#include "fault_proxy.h"
#include "srv_harness.h"
#include "tenfour/client.h"
#include "tf_test.h"

static tf_h_server H;
static int ready;
static int port;
static char base_url[64];
static tf_h_session s_dana, s_aud;

/* A free loopback port for the daemon, kept across restarts. */
static int free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), p = 0;

	if (fd < 0)
		return 0;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		p = ntohs(a.sin_port);
	close(fd);
	return p;
}

static char listen_arg[32];

/* ------------------------------------------------------------ clients */

#define PIN "480273"
/* Bolos the bulk device made before the clients sync (3 pages). */
#define NBULK 2300

/* A client under test: its own user (dispatcher) and device. */
typedef struct cli {
	const char *user, *device;
	char home[64];
	char pub[64];
	tf_client *c;
	const tf_client_clock *clock; /* NULL: the system clocks */
	const char *url;	      /* NULL: the server itself */
} cli;

/* G's clocks: the system's plus offsets the test moves. */
static atomic_llong g_wall_off, g_mono_off;

static int64_t g_wall(void *ctx)
{
	(void)ctx;
	return tf_h_now_ms() + (int64_t)atomic_load(&g_wall_off);
}

static int64_t g_mono(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
	       (int64_t)atomic_load(&g_mono_off);
}

static const tf_client_clock g_clock = {g_wall, g_mono, NULL};

static cli A = {"amy", "mdt-a", "", "", NULL, NULL, NULL};
static cli B = {"ben", "mdt-b", "", "", NULL, NULL, NULL};
static cli C = {"cal", "mdt-c", "", "", NULL, NULL, NULL};
static cli D = {"dex", "mdt-d", "", "", NULL, NULL, NULL};
static cli E = {"eve", "mdt-e", "", "", NULL, NULL, NULL};
static cli F = {"fay", "mdt-f", "", "", NULL, NULL, NULL};
static cli G = {"gus", "mdt-g", "", "", NULL, &g_clock, NULL};
static cli P = {"pat", "mdt-p", "", "", NULL, NULL, NULL};
static cli R = {"rod", "mdt-r", "", "", NULL, NULL, NULL};
static cli K = {"kim", "mdt-k", "", "", NULL, NULL, NULL};
static cli *const clients[] = {&A, &B, &C, &D, &E, &F, &G, &P, &R, &K};
static tf_h_session s_bulk;

static int cli_open(cli *k, uint64_t budget, tf_err *err)
{
	tf_client_opts o;

	memset(&o, 0, sizeof o);
	o.home = k->home;
	o.server_url = k->url ? k->url : base_url;
	o.timeout_ms = 0; /* 30 s: the SAN server is slow */
	o.cache_budget = budget;
	o.clock = k->clock;
	return tf_client_open(&o, &k->c, err);
}

/* Seeding: the home, the user, the identity enrolled on the server. */
static int cli_make(cli *k, tf_err *err)
{
	snprintf(k->home, sizeof k->home, "/tmp/tf-cli-XXXXXX");
	if (mkdtemp(k->home) == NULL)
		return tf_err_set(err, TF_EIO, "home", "mkdtemp failed");
	if (tf_h_user_add(&H, "metro", k->user, "dispatcher", NULL, err) ==
		    NULL ||
	    cli_open(k, 0, err) != 0 ||
	    tf_client_enroll(k->c, base_url, "metro", k->device, k->pub,
			     err) != 0)
		return err->code ? err->code : TF_EIO;
	return tf_h_device_enroll_pub(&H, "metro", k->device, k->pub, err);
}

static int cli_login(cli *k, tf_err *err)
{
	tf_h_user *u = tf_h_user_find(&H, k->user);
	char code[TF_TOTP_DIGITS + 1];
	tf_client_login_req r;

	if (u == NULL || tf_h_totp_next(u, code) != 0)
		return TF_EIO;
	memset(&r, 0, sizeof r);
	r.user = k->user;
	r.password = u->password;
	r.totp = code;
	r.banner_rev = tf_h_banner_rev(&H, "metro");
	r.pin = PIN;
	r.pin_len = strlen(PIN);
	if (tf_client_login(k->c, &r, err) != 0) {
		fprintf(stderr, "  login %s on %s: %s\n", k->user, k->device,
			err->msg);
		return err->code;
	}
	return 0;
}

/* Closes and opens the home again (a restart), unlocked with the PIN. */
static int cli_restart(cli *k, uint64_t budget, tf_err *err)
{
	int rc;

	tf_client_close(k->c);
	k->c = NULL;
	rc = cli_open(k, budget, err);
	if (rc == 0)
		rc = tf_client_unlock(k->c, PIN, strlen(PIN), err);
	return rc;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) == 0 ? 0 : 0;
}

static void cli_destroy(cli *k)
{
	tf_client_close(k->c);
	k->c = NULL;
	if (k->home[0] && getenv("TF_KEEP_DIRS") == NULL)
		nftw(k->home, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#define BULK_ARGS "{\"fields\":{\"kind\":\"vehicle\"}}"

/* The bulk device's NBULK bolos, pushed through a core replica. */
static int bulk_bolos(tf_err *err)
{
	tf_replica *r = NULL;
	tf_json *args = NULL;
	uint8_t rnd[20];
	uint64_t st = 77;
	int rc, i;

	rc = tf_replica_new(H.schema, "console-bulk", "bulk", 0, &r);
	if (rc == 0)
		rc = tf_json_parse(BULK_ARGS, strlen(BULK_ARGS), NULL, &args,
				   err);
	for (i = 0; rc == 0 && i < NBULK; i++) {
		tf_test_rand_bytes(&st, rnd, sizeof rnd);
		rc = tf_replica_mutate(r, tf_h_now_ms(), rnd, 1, "bolo", NULL,
				       TF_OP_CREATE, args, NULL, NULL, err);
	}
	if (rc == 0)
		rc = tf_h_sync(&H, &s_bulk, r, tf_h_now_ms(), err);
	tf_json_free(args);
	tf_replica_free(r);
	return rc;
}

static int setup(const char *argv0)
{
	static const struct {
		const char *user, *roles, *unit, *device;
	} people[] = {
		{"dana", "dispatcher", NULL, "console-3"},
		{"audit", "auditor,admin", NULL, "audit-ws"},
	};
	tf_err err;
	size_t i;

	tf_err_clear(&err);
	port = free_port();
	if (port == 0)
		return -1;
	snprintf(base_url, sizeof base_url, "http://127.0.0.1:%d", port);
	snprintf(listen_arg, sizeof listen_arg, "127.0.0.1:%d", port);
	if (tf_h_init(&H, argv0, &err) != 0 ||
	    tf_h_agency(&H, "metro", "Metro PD", &err) != 0)
		goto fail;
	for (i = 0; i < sizeof people / sizeof people[0]; i++) {
		if (tf_h_user_add(&H, "metro", people[i].user, people[i].roles,
				  people[i].unit, &err) == NULL ||
		    tf_h_device_add(&H, "metro", people[i].device, &err) ==
			    NULL)
			goto fail;
	}
	if (tf_h_user_add(&H, "metro", "bulk", "dispatcher", NULL, &err) ==
		    NULL ||
	    tf_h_device_add(&H, "metro", "console-bulk", &err) == NULL)
		goto fail;
	for (i = 0; i < sizeof clients / sizeof clients[0]; i++) {
		if (cli_make(clients[i], &err) != 0)
			goto fail;
	}
	tf_h_seed_done(&H);
	H.extra_args[0] = "--listen";
	H.extra_args[1] = listen_arg;
	if (tf_h_start(&H, &err) != 0)
		goto fail;
	if (tf_h_login(&H, "dana", "console-3", &s_dana) != 0 ||
	    tf_h_login(&H, "audit", "audit-ws", &s_aud) != 0 ||
	    tf_h_login(&H, "bulk", "console-bulk", &s_bulk) != 0)
		return -1;
	if (bulk_bolos(&err) != 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "setup: %s\n", err.msg);
	return -1;
}

/* A bolo created by dana through the harness; 0 when applied. */
static int dana_bolo(char id[TF_UUID_LEN + 1])
{
	tf_json *res = NULL;
	int ok;

	tf_h_uuid(tf_h_now_ms(), id);
	if (tf_h_cmd(&H, &s_dana, tf_h_now_ms(), "bolo", id, "create",
		     "{\"fields\":{\"kind\":\"other\"}}", &res, NULL,
		     NULL) != 0)
		return -1;
	ok = strcmp(tf_h_str(res, "status", NULL), "applied") == 0;
	tf_json_free(res);
	return ok ? 0 : -1;
}

/* ------------------------------------------------------------ http.c */

TEST(http_new_refuses_bad_urls_and_timeouts)
{
	static const char *const bad[] = {
		"", "ftp://x", "127.0.0.1:80", "http://a b", "http://x\n",
	};
	char longurl[TF_HTTP_BASE_MAX + 16];
	tf_http *h = (tf_http *)1;
	tf_err err;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK_INT(tf_http_new(bad[i], NULL, 0, &h, &err), TF_EINVAL);
		CHECK(h == NULL);
		CHECK_STR(err.where, "server_url");
	}
	memset(longurl, 'a', sizeof longurl - 1);
	memcpy(longurl, "http://", 7);
	longurl[sizeof longurl - 1] = '\0';
	CHECK_INT(tf_http_new(longurl, NULL, 0, &h, &err), TF_EINVAL);
	CHECK_INT(tf_http_new(NULL, NULL, 0, &h, &err), TF_EINVAL);
	CHECK_INT(tf_http_new("http://127.0.0.1:1", NULL, -1, &h, &err),
		  TF_EINVAL);
	CHECK_STR(err.where, "timeout_ms");
	CHECK_INT(tf_http_new("http://127.0.0.1:1", NULL, 600001, &h, &err),
		  TF_EINVAL);
	CHECK_INT(tf_http_new("https://example.org/prefix/", NULL, 1000, &h,
			      &err),
		  0);
	if (h) {
		CHECK_STR(tf_http_base(h), "https://example.org/prefix");
		tf_http_free(h);
	}
	tf_http_free(NULL);
}

TEST(http_escape_bounds)
{
	char out[16];

	CHECK_INT(tf_http_escape("1.ab-_~Z", out, sizeof out), 0);
	CHECK_STR(out, "1.ab-_~Z");
	CHECK_INT(tf_http_escape("a b/+", out, sizeof out), 0);
	CHECK_STR(out, "a%20b%2F%2B");
	CHECK_INT(tf_http_escape("", out, sizeof out), 0);
	CHECK_STR(out, "");
	CHECK_INT(tf_http_escape("0123456789abcdef", out, sizeof out),
		  TF_ELIMIT);
	CHECK_STR(out, "");
	CHECK_INT(tf_http_escape("0123456789abcd//", out, sizeof out),
		  TF_ELIMIT);
}

TEST(http_error_maps_codes_and_statuses)
{
	static const struct {
		long status;
		const char *body;
		int want;
		const char *where;
	} cases[] = {
		{401,
		 "{\"code\":\"unauthenticated\",\"field\":\"authorization\","
		 "\"message\":\"no session\"}",
		 TF_EAUTH, "authorization"},
		{403,
		 "{\"code\":\"device_revoked\",\"field\":\"device\","
		 "\"message\":\"revoked\",\"wipe\":true}",
		 TF_EREVOKED, "device"},
		{403, "{\"code\":\"x\",\"message\":\"m\",\"wipe\":true}",
		 TF_EREVOKED, "http"},
		{403,
		 "{\"code\":\"permission_denied\",\"field\":\"role\","
		 "\"message\":\"no\"}",
		 TF_EPERM, "role"},
		{400,
		 "{\"code\":\"out_of_range\",\"field\":\"limit\","
		 "\"message\":\"bad\"}",
		 TF_ERANGE, "limit"},
		{400,
		 "{\"code\":\"invalid_argument\",\"field\":\"cursor\","
		 "\"message\":\"bad\"}",
		 TF_EINVAL, "cursor"},
		{503,
		 "{\"code\":\"busy\",\"field\":\"session\","
		 "\"message\":\"too many\"}",
		 TF_EBUSY, "session"},
		{500, "{\"code\":\"internal_error\",\"message\":\"db\"}", TF_EIO,
		 "http"},
		{405,
		 "{\"code\":\"method_not_allowed\",\"message\":\"use GET\"}",
		 TF_EPROTO, "http"},
		{418, "{\"code\":\"teapot\",\"message\":\"?\"}", TF_EPROTO,
		 "http"},
		{401, "not json", TF_EAUTH, "http"},
		{403, "", TF_EPERM, "http"},
		{404, "<html>", TF_ENOTFOUND, "http"},
		{413, "", TF_ELIMIT, "http"},
		{429, "", TF_EBUSY, "http"},
		{502, "Bad Gateway", TF_ENET, "http"},
		{504, "", TF_ENET, "http"},
		{501, "", TF_EIO, "http"},
		{200, "{}", TF_EPROTO, "http"},
		{0,
		 "{\"code\":\"unauthenticated\",\"field\":\"authorization\","
		 "\"message\":\"session ended\"}",
		 TF_EAUTH, "authorization"},
		{0, "junk", TF_EPROTO, "http"},
	};
	tf_err err;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		tf_err_clear(&err);
		CHECK_INT(tf_http_error(cases[i].status, cases[i].body,
					strlen(cases[i].body), &err),
			  cases[i].want);
		CHECK_INT(err.code, cases[i].want);
		CHECK_STR(err.where, cases[i].where);
		CHECK(strncmp(err.msg, "server: ", 8) == 0);
	}
	/* The message quotes the server's words, control bytes replaced. */
	{
		const char *b = "{\"code\":\"validation_failed\",\"field\":"
				"\"a\",\"message\":\"line1\\nline2\"}";
		tf_http_error(400, b, strlen(b), &err);
	}
	CHECK_INT(err.code, TF_EVALIDATE);
	CHECK(strstr(err.msg, "HTTP 400 validation_failed (a): line1?line2") !=
	      NULL);
	CHECK_INT(tf_http_error(500, NULL, 0, NULL), TF_EIO);
}

TEST(http_request_against_tenfourd)
{
	tf_http *h = NULL;
	tf_buf reply;
	tf_err err;
	long status = -1;

	tf_buf_init(&reply);
	if (!ready) {
		CHECK(ready);
		return;
	}
	CHECK_INT(tf_http_new(base_url, NULL, 5000, &h, &err), 0);
	if (h == NULL)
		return;
	CHECK_INT(tf_http_request(h, "GET", "/healthz", NULL, NULL, NULL, 0,
				  &status, &reply, &err),
		  0);
	CHECK_INT(status, 200);
	CHECK_STR(tf_buf_cstr(&reply), "{\"status\":\"ok\"}");

	/* A session call: an empty audit upload answers the stored head. */
	tf_buf_reset(&reply);
	CHECK_INT(tf_http_call(h, "POST", "/v1/audit/device", s_dana.token,
			       s_dana.device,
			       "{\"device_id\":\"console-3\",\"entries\":[]}",
			       38, &reply, &err),
		  0);
	CHECK(strstr(tf_buf_cstr(&reply), "\"head\"") != NULL);

	/* A wrong token: 401 unauthenticated -> TF_EAUTH, reply kept. */
	tf_buf_reset(&reply);
	CHECK_INT(tf_http_call(h, "GET", "/v1/sync/pull", "AAAA",
			       s_dana.device, NULL, 0, &reply, &err),
		  TF_EAUTH);
	CHECK_STR(err.where, "authorization");
	CHECK(strstr(tf_buf_cstr(&reply), "unauthenticated") != NULL);
	CHECK(strstr(err.msg, "AAAA") == NULL);

	/* A bad parameter: 400 out_of_range naming it. */
	tf_buf_reset(&reply);
	CHECK_INT(tf_http_call(h, "GET", "/v1/sync/pull?limit=0",
			       s_dana.token, s_dana.device, NULL, 0, &reply,
			       &err),
		  TF_ERANGE);
	CHECK_STR(err.where, "limit");

	/* An unknown path: 404. */
	tf_buf_reset(&reply);
	CHECK_INT(tf_http_call(h, "GET", "/v1/nothing", NULL, NULL, NULL, 0,
			       &reply, &err),
		  TF_ENOTFOUND);

	/* Bad paths and header values never reach the wire. */
	CHECK_INT(tf_http_request(h, "GET", "healthz", NULL, NULL, NULL, 0,
				  &status, &reply, &err),
		  TF_EINVAL);
	CHECK_INT(tf_http_request(h, "GET", "/a b", NULL, NULL, NULL, 0,
				  &status, &reply, &err),
		  TF_EINVAL);
	CHECK_INT(tf_http_request(h, "GET", "/healthz", "tok\r\nX: y", NULL,
				  NULL, 0, &status, &reply, &err),
		  TF_EINVAL);
	CHECK_STR(err.where, "token");
	CHECK(strstr(err.msg, "tok") == NULL || strstr(err.msg, "token"));
	CHECK_INT(tf_http_request(h, "GET", "/healthz", NULL, "dev\n", NULL,
				  0, &status, &reply, &err),
		  TF_EINVAL);
	CHECK_STR(err.where, "device");
	tf_http_free(h);
	tf_buf_free(&reply);
}

TEST(http_unreachable_is_enet)
{
	tf_http *h = NULL;
	tf_buf reply;
	tf_err err;
	long status = -1;
	int dead = free_port();

	char url[64];

	tf_buf_init(&reply);
	snprintf(url, sizeof url, "http://127.0.0.1:%d", dead);
	CHECK(dead != 0);
	CHECK_INT(tf_http_new(url, NULL, 2000, &h, &err), 0);
	if (h == NULL)
		return;
	CHECK_INT(tf_http_request(h, "GET", "/healthz", NULL, NULL, NULL, 0,
				  &status, &reply, &err),
		  TF_ENET);
	CHECK_INT(status, 0);
	CHECK_INT(err.code, TF_ENET);
	CHECK(strstr(err.msg, "/healthz") != NULL);
	CHECK(strstr(err.msg, "refused") != NULL);
	CHECK_INT(reply.len, 0);
	tf_http_free(h);
	tf_buf_free(&reply);
}

TEST(http_fault_hook)
{
	tf_http *h = NULL;
	tf_buf reply;
	tf_err err;
	long status;
	char id[TF_UUID_LEN + 1];
	tf_json *before = NULL, *after = NULL;
	char body[512];
	int n;

	tf_buf_init(&reply);
	if (!ready || tf_http_new(base_url, NULL, 5000, &h, &err) != 0) {
		CHECK(!"no server");
		return;
	}
	/* The 2nd request from now fails before it is sent. */
	tf_http_fault_after(2, 0);
	CHECK_INT(tf_http_request(h, "GET", "/healthz", NULL, NULL, NULL, 0,
				  &status, &reply, &err),
		  0);
	CHECK_INT(tf_http_request(h, "GET", "/healthz", NULL, NULL, NULL, 0,
				  &status, &reply, &err),
		  TF_ENET);
	CHECK(strstr(err.msg, "before sending") != NULL);
	CHECK_INT(tf_http_request(h, "GET", "/healthz", NULL, NULL, NULL, 0,
				  &status, &reply, &err),
		  0);

	/* After the reply: the server acted (the record exists), the caller
	   got TF_ENET and no bytes. */
	CHECK_INT(tf_h_pull_all(&H, &s_dana, NULL, &before, NULL, NULL, NULL,
				NULL),
		  0);
	tf_h_uuid(tf_h_now_ms(), id);
	{
		tf_h_device *d = tf_h_device_find(&H, "console-3");
		n = snprintf(body, sizeof body,
			     "{\"commands\":[{\"args\":{\"fields\":{\"kind\":"
			     "\"other\"}},\"base\":0,\"cmd_id\":\"%s\","
			     "\"device\":\"console-3\",\"entity\":\"bolo\","
			     "\"hlc\":\"%016llx\",\"op\":\"create\","
			     "\"record_id\":\"%s\",\"seq\":%llu,\"user\":"
			     "\"dana\"}],\"device_id\":\"console-3\","
			     "\"protocol_version\":1,\"schema_version\":1}",
			     id,
			     (unsigned long long)((uint64_t)tf_h_now_ms()
						  << 16),
			     id, (unsigned long long)d->next_seq);
		tf_buf_reset(&reply);
		tf_http_fault_after(1, 1);
		CHECK_INT(tf_http_request(h, "POST", "/v1/sync/push",
					  s_dana.token, s_dana.device, body,
					  (size_t)n, &status, &reply, &err),
			  TF_ENET);
		CHECK(strstr(err.msg, "reply dropped") != NULL);
		CHECK_INT(reply.len, 0);
		d->next_seq++;
	}
	CHECK_INT(tf_h_pull_all(&H, &s_dana, NULL, &after, NULL, NULL, NULL,
				NULL),
		  0);
	CHECK(tf_h_find_record(before, id) == NULL);
	CHECK(tf_h_find_record(after, id) != NULL);
	tf_http_fault_after(0, 0);
	tf_json_free(before);
	tf_json_free(after);
	tf_http_free(h);
	tf_buf_free(&reply);
}

/* Event-stream recorder. */
typedef struct ev_log {
	int n;
	char event[32], id[300], data[600];
	int stop_after; /* return 1 after this many events (0: never) */
} ev_log;

static int on_ev(void *ctx, const char *event, const char *id,
		 const char *data)
{
	ev_log *l = ctx;

	l->n++;
	snprintf(l->event, sizeof l->event, "%s", event);
	snprintf(l->id, sizeof l->id, "%s", id);
	snprintf(l->data, sizeof l->data, "%s", data);
	return l->stop_after && l->n >= l->stop_after ? 7 : 0;
}

typedef struct poker {
	pthread_t t;
	int64_t delay_ms;
	int rc;
	volatile int *flag; /* set instead of poking when non-NULL */
} poker;

static void *poke_main(void *arg)
{
	poker *p = arg;
	char id[TF_UUID_LEN + 1];

	tf_h_sleep_ms(p->delay_ms);
	if (p->flag) {
		*p->flag = 1;
		return NULL;
	}
	p->rc = dana_bolo(id);
	return NULL;
}

TEST(http_events_poke_stop_and_errors)
{
	tf_http *h = NULL;
	volatile int stop = 0;
	ev_log l;
	poker p;
	tf_err err;
	int rc;

	if (!ready || tf_http_new(base_url, NULL, 5000, &h, &err) != 0) {
		CHECK(!"no server");
		return;
	}
	/* A push by another thread wakes the stream: a poke whose id is a
	   cursor, data {"cursor": the same}. */
	memset(&l, 0, sizeof l);
	l.stop_after = 1;
	memset(&p, 0, sizeof p);
	p.delay_ms = 300;
	CHECK_INT(pthread_create(&p.t, NULL, poke_main, &p), 0);
	rc = tf_http_events(h, "/v1/sync/events", s_dana.token, s_dana.device,
			    NULL, on_ev, &l, &stop, 20000, &err);
	pthread_join(p.t, NULL);
	CHECK_INT(p.rc, 0);
	CHECK_INT(rc, 7);
	CHECK_INT(l.n, 1);
	CHECK_STR(l.event, "poke");
	CHECK(strncmp(l.id, "1.", 2) == 0);
	{
		char want[400];
		snprintf(want, sizeof want, "{\"cursor\":\"%s\"}", l.id);
		CHECK_STR(l.data, want);
	}

	/* Last-Event-ID behind the feed: a poke at once. */
	{
		char old[300];
		snprintf(old, sizeof old, "%s", l.id);
		CHECK_INT(dana_bolo((char[TF_UUID_LEN + 1]){0}), 0);
		memset(&l, 0, sizeof l);
		l.stop_after = 1;
		CHECK_INT(tf_http_events(h, "/v1/sync/events", s_dana.token,
					 s_dana.device, old, on_ev, &l, &stop,
					 20000, &err),
			  7);
		CHECK_STR(l.event, "poke");
		CHECK(strcmp(l.id, old) != 0);
	}

	/* The stop flag ends a quiet stream: 0. */
	memset(&l, 0, sizeof l);
	memset(&p, 0, sizeof p);
	p.delay_ms = 200;
	p.flag = &stop;
	CHECK_INT(pthread_create(&p.t, NULL, poke_main, &p), 0);
	rc = tf_http_events(h, "/v1/sync/events", s_dana.token, s_dana.device,
			    NULL, on_ev, &l, &stop, 20000, &err);
	pthread_join(p.t, NULL);
	CHECK_INT(rc, 0);
	CHECK_INT(l.n, 0);
	/* Already stopped: returns at once. */
	CHECK_INT(tf_http_events(h, "/v1/sync/events", s_dana.token,
				 s_dana.device, NULL, on_ev, &l, &stop, 0,
				 &err),
		  0);
	stop = 0;

	/* max_ms ends it: 0. */
	CHECK_INT(tf_http_events(h, "/v1/sync/events", s_dana.token,
				 s_dana.device, NULL, on_ev, &l, &stop, 300,
				 &err),
		  0);
	CHECK_INT(l.n, 0);

	/* A bad session: the reply's error. */
	CHECK_INT(tf_http_events(h, "/v1/sync/events", "AAAA", s_dana.device,
				 NULL, on_ev, &l, &stop, 5000, &err),
		  TF_EAUTH);
	CHECK_INT(tf_http_events(h, "/v1/sync/events", s_dana.token,
				 s_dana.device, "bad\nid", on_ev, &l, &stop,
				 5000, &err),
		  TF_EINVAL);
	CHECK_INT(tf_http_events(h, "/v1/sync/events", s_dana.token,
				 s_dana.device, NULL, on_ev, &l, &stop, -1,
				 &err),
		  TF_EINVAL);
	tf_http_free(h);

	/* Nobody listening: TF_ENET. */
	{
		char url[64];
		snprintf(url, sizeof url, "http://127.0.0.1:%d", free_port());
		CHECK_INT(tf_http_new(url, NULL, 2000, &h, &err), 0);
		CHECK_INT(tf_http_events(h, "/v1/sync/events", s_dana.token,
					 s_dana.device, NULL, on_ev, &l, &stop,
					 2000, &err),
			  TF_ENET);
		tf_http_free(h);
	}
}

/*
 * A one-shot raw HTTP server for the parser: accepts one connection,
 * keeps the request head, writes the chunks (pausing between them so they
 * arrive apart; \x01 is sent as a NUL byte), closes.
 */
typedef struct raw_srv {
	int fd, port;
	pthread_t t;
	const char *const *chunks;
	char head[2048];
	int hold_ms; /* keep the connection open this long at the end */
} raw_srv;

static void *raw_main(void *arg)
{
	raw_srv *r = arg;
	size_t n = 0, i;
	int c = accept(r->fd, NULL, NULL);

	if (c < 0)
		return NULL;
	while (n + 1 < sizeof r->head) {
		ssize_t k = read(c, r->head + n, sizeof r->head - 1 - n);
		if (k <= 0)
			break;
		n += (size_t)k;
		r->head[n] = '\0';
		if (strstr(r->head, "\r\n\r\n"))
			break;
	}
	for (i = 0; r->chunks[i]; i++) {
		/* \x01 stands for a NUL byte. */
		size_t len = strlen(r->chunks[i]), j;
		char *copy = malloc(len + 1);
		ssize_t w;

		if (copy == NULL)
			break;
		for (j = 0; j < len; j++)
			copy[j] = r->chunks[i][j] == '\x01' ? '\0'
							     : r->chunks[i][j];
		w = write(c, copy, len);
		free(copy);
		if (w < 0)
			break;
		tf_h_sleep_ms(30);
	}
	tf_h_sleep_ms(r->hold_ms);
	close(c);
	return NULL;
}

static int raw_start(raw_srv *r, const char *const *chunks)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;

	memset(r, 0, sizeof *r);
	r->chunks = chunks;
	r->fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (r->fd < 0 || bind(r->fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    listen(r->fd, 1) != 0 ||
	    getsockname(r->fd, (struct sockaddr *)&a, &len) != 0)
		return -1;
	r->port = ntohs(a.sin_port);
	return pthread_create(&r->t, NULL, raw_main, r);
}

static void raw_join(raw_srv *r)
{
	pthread_join(r->t, NULL);
	close(r->fd);
}

/* Runs the event reader against a raw server sending chunks. */
static int raw_events(const char *const *chunks, const char *lei, ev_log *l,
		      int64_t max_ms, tf_err *err, char *head, size_t headcap)
{
	char url[64];
	tf_http *h = NULL;
	raw_srv r;
	int rc;

	if (raw_start(&r, chunks) != 0)
		return -1000;
	snprintf(url, sizeof url, "http://127.0.0.1:%d", r.port);
	rc = tf_http_new(url, NULL, 2000, &h, err);
	if (rc == 0)
		rc = tf_http_events(h, "/v1/sync/events", "tok-123", "dev-1",
				    lei, on_ev, l, NULL, max_ms, err);
	tf_http_free(h);
	raw_join(&r);
	if (head)
		snprintf(head, headcap, "%s", r.head);
	return rc;
}

#define SSE_HEAD                                                               \
	"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"             \
	"Cache-Control: no-cache\r\nConnection: close\r\n\r\n"

/* Records every event (not just the last) for the parser tests. */
typedef struct ev_all {
	int n;
	char buf[2048];
} ev_all;

static int on_ev_all(void *ctx, const char *event, const char *id,
		     const char *data)
{
	ev_all *a = ctx;
	size_t len = strlen(a->buf);

	a->n++;
	snprintf(a->buf + len, sizeof a->buf - len, "[%s|%s|%s]", event, id,
		 data);
	return 0;
}

TEST(http_events_parser)
{
	static const char *const mixed[] = {
		SSE_HEAD ": ok\n\n",
		"id: 1.a\nevent: poke\ndata: {\"cursor\"",
		":\"1.a\"}\n\n",
		/* CRLF split between chunks, multi-line data, a field
		   without a colon, retry and an unknown field ignored. */
		"data: x\r",
		"\ndata:y\r\ndata\r\nretry: 10\rfoo: bar\r\r",
		/* The id persists; an event without data is not sent. */
		"event: lonely\n\n",
		"event: end\ndata: {\"code\":\"unauthenticated\"}\n\n",
		"id\ndata: after\n\n",
		NULL,
	};
	static const char *const longline[] = {SSE_HEAD, "data: ", NULL,
					       NULL};
	static const char *const nul[] = {SSE_HEAD, "data: a\x01" "b\n\n", NULL};
	static const char *const err503[] = {
		"HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
		"application/json\r\nContent-Length: 60\r\nConnection: "
		"close\r\n\r\n{\"code\":\"busy\",\"field\":\"session\","
		"\"message\":\"4 streams\"}",
		NULL,
	};
	static const char *const revoked[] = {
		"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n"
		"Connection: close\r\n\r\n{\"code\":\"device_revoked\","
		"\"message\":\"wipe\",\"wipe\":true}",
		NULL,
	};
	char head[2048], *big;
	const char *lines[4];
	ev_all a;
	tf_http *h = NULL;
	raw_srv r;
	char url[64];
	tf_err err;
	int rc;

	memset(&a, 0, sizeof a);
	if (raw_start(&r, mixed) != 0) {
		CHECK(!"raw server");
		return;
	}
	snprintf(url, sizeof url, "http://127.0.0.1:%d", r.port);
	CHECK_INT(tf_http_new(url, NULL, 2000, &h, &err), 0);
	rc = tf_http_events(h, "/v1/sync/events", "tok-123", "dev-1", "1.0",
			    on_ev_all, &a, NULL, 5000, &err);
	tf_http_free(h);
	raw_join(&r);
	/* The server closed the stream: TF_ENET after every event. */
	CHECK_INT(rc, TF_ENET);
	CHECK(strstr(err.msg, "closed") != NULL);
	CHECK_INT(a.n, 4);
	CHECK_STR(a.buf, "[poke|1.a|{\"cursor\":\"1.a\"}]"
			 "[message|1.a|x\ny\n]"
			 "[end|1.a|{\"code\":\"unauthenticated\"}]"
			 "[message||after]");
	CHECK(strstr(r.head, "GET /v1/sync/events HTTP/1.1\r\n") != NULL);
	CHECK(strstr(r.head, "\r\nAuthorization: Bearer tok-123\r\n") != NULL);
	CHECK(strstr(r.head, "\r\nX-Tenfour-Device: dev-1\r\n") != NULL);
	CHECK(strstr(r.head, "\r\nLast-Event-ID: 1.0\r\n") != NULL);
	CHECK(strstr(r.head, "\r\nAccept: text/event-stream\r\n") != NULL);

	/* A line over the bound ends the stream: TF_ELIMIT. */
	big = malloc(TF_HTTP_SSE_LINE_MAX + 16);
	if (big) {
		ev_log l;
		memset(big, 'x', TF_HTTP_SSE_LINE_MAX + 8);
		big[TF_HTTP_SSE_LINE_MAX + 8] = '\0';
		lines[0] = longline[0];
		lines[1] = longline[1];
		lines[2] = big;
		lines[3] = NULL;
		memset(&l, 0, sizeof l);
		CHECK_INT(raw_events(lines, NULL, &l, 5000, &err, head,
				     sizeof head),
			  TF_ELIMIT);
		CHECK(strstr(err.msg, "line over") != NULL);
		CHECK(strstr(head, "Last-Event-ID") == NULL);
		CHECK_INT(l.n, 0);
		free(big);
	}
	{
		ev_log l;
		memset(&l, 0, sizeof l);
		CHECK_INT(raw_events(nul, NULL, &l, 5000, &err, NULL, 0),
			  TF_EPROTO);
		CHECK_INT(l.n, 0);
		CHECK_INT(raw_events(err503, NULL, &l, 5000, &err, NULL, 0),
			  TF_EBUSY);
		CHECK_STR(err.where, "session");
		CHECK_INT(raw_events(revoked, NULL, &l, 5000, &err, NULL, 0),
			  TF_EREVOKED);
	}
}

/* ---------------------------------------------------------- sync.c */

/* Progress recorder: every call checked for monotone counts. */
typedef struct prog {
	int calls, bad;
	tf_client_progress last;
	uint64_t max_total;
	int kill_at_done; /* raise SIGKILL once records_done >= this */
	int kill_at_pushed; /* raise SIGKILL once pushed >= this */
	volatile int armed, woke; /* watch: a sync after arming got records */
	int known_early; /* a total above the records done was reported */
} prog;

static void on_prog(void *ctx, const tf_client_progress *p)
{
	prog *g = ctx;

	if (g->calls > 0 &&
	    (p->records_done < g->last.records_done ||
	     p->pushed < g->last.pushed ||
	     (p->records_total && p->records_total < p->records_done) ||
	     p->pushed > p->to_push))
		g->bad++;
	if (p->records_total && p->records_total < g->max_total &&
	    p->records_done == g->last.records_done)
		g->bad++;
	if (p->records_total > g->max_total)
		g->max_total = p->records_total;
	if (p->records_total > p->records_done)
		g->known_early = 1;
	g->last = *p;
	g->calls++;
	if (g->kill_at_done && p->records_done >= (uint64_t)g->kill_at_done)
		raise(SIGKILL);
	if (g->kill_at_pushed && p->pushed >= (uint64_t)g->kill_at_pushed)
		raise(SIGKILL);
	if (g->armed && p->records_done > 0)
		g->woke = 1;
}

static void on_prog_watch(void *ctx, const tf_client_progress *p)
{
	prog *g = ctx;

	g->calls++;
	if (g->armed && p->records_done > 0)
		g->woke = 1;
}

/* Every record the server shows dana (agency-wide, like the clients). */
static tf_json *server_records(void)
{
	tf_json *recs = NULL;

	if (tf_h_pull_all(&H, &s_dana, NULL, &recs, NULL, NULL, NULL, NULL) !=
	    0) {
		tf_json_free(recs);
		return NULL;
	}
	return recs;
}

/*
 * The client's replica against the server: the same ids (tf_client_list)
 * and, for every stride-th record, the same state (tf_client_get's
 * "record").  Returns the number of mismatches.
 */
static int compare_with_server(cli *k, size_t stride)
{
	tf_json *recs = server_records(), *list = NULL, *view = NULL;
	tf_buf out;
	tf_err err;
	size_t i;
	int bad = 0;

	tf_buf_init(&out);
	if (recs == NULL)
		return 1000000;
	if (tf_client_list(k->c, NULL, &out, &err) != 0 ||
	    tf_json_parse(out.data, out.len, NULL, &list, NULL) != 0) {
		fprintf(stderr, "  list: %s\n", err.msg);
		bad++;
		goto out;
	}
	if (list->len != recs->len) {
		fprintf(stderr, "  %s holds %zu records, the server %zu\n",
			k->device, list->len, recs->len);
		bad++;
	}
	for (i = 0; i < list->len; i++) {
		const char *id = tf_json_get_str(list->u.items[i], "id", NULL);
		if (id == NULL || tf_h_find_record(recs, id) == NULL)
			bad++;
	}
	for (i = 0; i < recs->len; i += stride) {
		const tf_json *want = recs->u.items[i];
		const char *id = tf_record_id(want);

		tf_buf_reset(&out);
		tf_json_free(view);
		view = NULL;
		if (tf_client_get(k->c, id, &out, &err) != 0 ||
		    tf_json_parse(out.data, out.len, NULL, &view, NULL) != 0 ||
		    !tf_json_equal(tf_json_object_get(view, "record"), want)) {
			fprintf(stderr, "  %s: record %s differs\n", k->device,
				id);
			bad++;
		}
	}
out:
	tf_json_free(view);
	tf_json_free(list);
	tf_json_free(recs);
	tf_buf_free(&out);
	return bad;
}

static size_t pending_of(cli *k)
{
	tf_client_status st;

	if (tf_client_status_get(k->c, &st) != 0 || !st.unlocked)
		return (size_t)-1;
	return st.sum.pending;
}

TEST(sync_fresh_client)
{
	tf_client_status st;
	tf_err err;
	prog g;
	int rc;

	if (!ready) {
		CHECK(ready);
		return;
	}
	CHECK_INT(cli_login(&A, &err), 0);
	memset(&g, 0, sizeof g);
	rc = tf_client_sync(A.c, on_prog, &g, &err);
	if (rc)
		fprintf(stderr, "  sync: %s\n", err.msg);
	CHECK_INT(rc, 0);
	/* One report before, one per page (3 pages of 1,000). */
	CHECK(g.calls >= 4);
	CHECK_INT(g.bad, 0);
	CHECK(g.last.records_done >= NBULK);
	CHECK_INT(g.last.records_total, g.last.records_done);
	/* The server's "remaining" gave the total from the first page. */
	CHECK(g.known_early);
	CHECK(g.max_total >= NBULK);
	CHECK_INT(g.last.to_push, 0);
	CHECK_INT(compare_with_server(&A, 97), 0);
	CHECK_INT(tf_client_status_get(A.c, &st), 0);
	CHECK(st.online);
	CHECK(st.last_contact_ms > 0);
	CHECK(st.sum.last_sync_ms > 0);
	CHECK_INT(st.sum.pending, 0);
	CHECK(st.sum.records >= NBULK);

	/* Nothing new: one page with no records. */
	memset(&g, 0, sizeof g);
	CHECK_INT(tf_client_sync(A.c, on_prog, &g, &err), 0);
	CHECK_INT(g.last.records_done, 0);
	CHECK_INT(g.bad, 0);
}

/* The text of the n-th updates entry of a bolo state, or "". */
static const char *update_text(const tf_json *rec, size_t n)
{
	const tf_json *e = tf_h_get(rec, "f", "updates", "e", NULL);

	if (e == NULL || e->type != TF_JSON_ARRAY || n >= e->len)
		return "";
	return tf_h_str(e->u.items[n], "v", "text", NULL);
}

TEST(push_500_in_order_exactly_once)
{
	char rid[TF_UUID_LEN + 1], cmd[TF_UUID_LEN + 1], args[128];
	tf_json *recs = NULL;
	const tf_json *rec, *e;
	tf_err err;
	prog g;
	int i, bad = 0;

	if (!ready) {
		CHECK(ready);
		return;
	}
	CHECK_INT(cli_login(&B, &err), 0);
	CHECK_INT(tf_client_mutate(B.c, "bolo", NULL, "create",
				   "{\"fields\":{\"kind\":\"person\"}}", 1, cmd,
				   rid, &err),
		  0);
	for (i = 1; i < 500; i++) {
		snprintf(args, sizeof args,
			 "{\"field\":\"updates\",\"body\":{\"text\":"
			 "\"n=%04d\"}}",
			 i);
		if (tf_client_mutate(B.c, "bolo", rid, "append", args, 1, cmd,
				     NULL, &err) != 0)
			bad++;
	}
	CHECK_INT(bad, 0);
	CHECK_INT(pending_of(&B), 500);

	/* The second push (commands 257..500) reaches the server, its
	   reply is lost: TF_ENET, and the client restarts. */
	tf_http_fault_after(2, 1);
	memset(&g, 0, sizeof g);
	CHECK_INT(tf_client_sync(B.c, on_prog, &g, &err), TF_ENET);
	tf_http_fault_after(0, 0);
	CHECK_INT(g.last.to_push, 500);
	CHECK_INT(g.last.pushed, 256);
	CHECK_INT(cli_restart(&B, 0, &err), 0);
	CHECK_INT(pending_of(&B), 500); /* all still tentative */

	/* The resend: the ledger replays 257..500, nothing twice. */
	memset(&g, 0, sizeof g);
	i = tf_client_sync(B.c, on_prog, &g, &err);
	if (i)
		fprintf(stderr, "  sync: %s\n", err.msg);
	CHECK_INT(i, 0);
	CHECK_INT(g.bad, 0);
	CHECK_INT(g.last.to_push, 244);
	CHECK_INT(g.last.pushed, 244);
	CHECK_INT(pending_of(&B), 0);

	recs = server_records();
	rec = tf_h_find_record(recs, rid);
	CHECK(rec != NULL);
	e = tf_h_get(rec, "f", "updates", "e", NULL);
	CHECK(e != NULL && e->len == 499);
	for (i = 1; e && i < 500 && (size_t)i <= e->len; i++) {
		snprintf(args, sizeof args, "n=%04d", i);
		if (strcmp(update_text(rec, (size_t)i - 1), args) != 0)
			bad++;
	}
	CHECK_INT(bad, 0);
	CHECK_INT(compare_with_server(&B, 499), 0);
	tf_json_free(recs);
}

TEST(resume_after_kill_mid_pull)
{
	tf_client_status st;
	tf_err err;
	pid_t pid;
	prog g;
	int wst = 0;
	size_t partial;

	if (!ready) {
		CHECK(ready);
		return;
	}
	CHECK_INT(cli_login(&C, &err), 0);
	tf_client_close(C.c);
	C.c = NULL;
	/* A child syncs and is killed (-9) right after page 2 was
	   persisted and reported. */
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		tf_err e;

		memset(&g, 0, sizeof g);
		g.kill_at_done = 2000;
		if (cli_restart(&C, 0, &e) != 0)
			_exit(3);
		(void)tf_client_sync(C.c, on_prog, &g, &e);
		_exit(4); /* not reached: killed at page 2 */
	}
	CHECK(pid > 0);
	CHECK(waitpid(pid, &wst, 0) == pid);
	CHECK(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL);

	CHECK_INT(cli_restart(&C, 0, &err), 0);
	CHECK_INT(tf_client_status_get(C.c, &st), 0);
	partial = st.sum.records;
	CHECK_INT(partial, 2000); /* two pages, nothing of the third */
	CHECK_INT(st.sum.last_sync_ms, 0); /* no complete pull yet */

	/* The next page of the resumed pull is lost after the server sent
	   it; the client restarts again. */
	tf_http_fault_after(1, 1);
	CHECK_INT(tf_client_sync(C.c, NULL, NULL, &err), TF_ENET);
	tf_http_fault_after(0, 0);
	CHECK_INT(cli_restart(&C, 0, &err), 0);

	/* It resumes at page 3: only the rest arrives. */
	memset(&g, 0, sizeof g);
	CHECK_INT(tf_client_sync(C.c, on_prog, &g, &err), 0);
	CHECK_INT(g.bad, 0);
	CHECK(g.last.records_done > 0);
	CHECK(g.last.records_done < 1000);
	CHECK_INT(tf_client_status_get(C.c, &st), 0);
	CHECK(st.sum.records == partial + g.last.records_done);
	CHECK_INT(compare_with_server(&C, 41), 0);
}

TEST(server_down_then_up)
{
	char rid[3][TF_UUID_LEN + 1], cmd[TF_UUID_LEN + 1];
	tf_client_status st;
	tf_json *recs = NULL;
	volatile int stop = 0;
	tf_err err;
	int i;

	if (!ready) {
		CHECK(ready);
		return;
	}
	CHECK_INT(cli_login(&E, &err), 0);
	CHECK_INT(tf_client_sync(E.c, NULL, NULL, &err), 0);
	CHECK_INT(tf_h_stop(&H, NULL), 0);
	for (i = 0; i < 3; i++)
		CHECK_INT(tf_client_mutate(E.c, "bolo", NULL, "create",
					   "{\"fields\":{\"kind\":\"other\"}}",
					   0, cmd, rid[i], &err),
			  0);
	CHECK_INT(tf_client_sync(E.c, NULL, NULL, &err), TF_ENET);
	CHECK(strstr(err.msg, "refused") != NULL);
	CHECK_INT(tf_client_status_get(E.c, &st), 0);
	CHECK(!st.online);
	CHECK_INT(st.sum.pending, 3);
	/* watch backs off while unreachable and ends at max_ms. */
	CHECK_INT(tf_client_watch(E.c, &stop, 1500, NULL, NULL, &err), 0);
	CHECK_INT(pending_of(&E), 3);

	/* A restart of the client keeps the queue; the server comes back
	   on the same port. */
	CHECK_INT(cli_restart(&E, 0, &err), 0);
	CHECK_INT(pending_of(&E), 3);
	CHECK_INT(tf_h_start(&H, &err), 0);
	CHECK_INT(tf_client_sync(E.c, NULL, NULL, &err), 0);
	CHECK_INT(pending_of(&E), 0);
	CHECK_INT(tf_client_status_get(E.c, &st), 0);
	CHECK(st.online);
	recs = server_records();
	for (i = 0; i < 3; i++)
		CHECK(tf_h_find_record(recs, rid[i]) != NULL);
	tf_json_free(recs);
	CHECK_INT(compare_with_server(&E, 211), 0);
}

typedef struct watcher {
	pthread_t t;
	cli *k;
	volatile int stop;
	prog g;
	int rc;
	tf_err err;
} watcher;

static void *watch_main(void *arg)
{
	watcher *w = arg;

	w->rc = tf_client_watch(w->k->c, &w->stop, 60000, on_prog_watch,
				&w->g, &w->err);
	return NULL;
}

TEST(watch_wakes_on_a_push)
{
	char id[TF_UUID_LEN + 1];
	tf_buf out;
	watcher w;
	tf_err err;
	int i;

	tf_buf_init(&out);
	if (!ready || A.c == NULL) {
		CHECK(ready);
		return;
	}
	/* Up to date first, so the watcher's own first sync brings
	   nothing and only the poke can bring records. */
	CHECK_INT(tf_client_sync(A.c, NULL, NULL, &err), 0);
	memset(&w, 0, sizeof w);
	w.k = &A;
	CHECK_INT(pthread_create(&w.t, NULL, watch_main, &w), 0);
	for (i = 0; i < 200 && w.g.calls == 0; i++)
		tf_h_sleep_ms(50);
	CHECK(w.g.calls > 0);
	/* Another device's push: the poke makes the watcher sync. */
	w.g.armed = 1;
	CHECK_INT(dana_bolo(id), 0);
	for (i = 0; i < 300 && !w.g.woke; i++)
		tf_h_sleep_ms(50);
	CHECK(w.g.woke);
	w.stop = 1;
	pthread_join(w.t, NULL);
	CHECK_INT(w.rc, 0);
	CHECK_INT(tf_client_get(A.c, id, &out, &err), 0);
	tf_buf_free(&out);
}

TEST(audit_upload_continues_the_chain)
{
	const char *token = NULL, *device = NULL;
	tf_json *doc = NULL;
	tf_http *h = NULL;
	tf_buf reply;
	tf_err err;
	char body[128];
	uint64_t seq = 0;

	tf_buf_init(&reply);
	if (!ready || B.c == NULL) {
		CHECK(ready);
		return;
	}
	/* B wrote 500+ local entries (create, modify, unlock, ...): the
	   upload took more than one batch. */
	CHECK(B.c->audit_seq > 500);
	CHECK_INT(tf_client_sync(B.c, NULL, NULL, &err), 0);
	CHECK_INT(tfc_audit_sent(B.c), B.c->audit_seq);
	/* The server's head for the device is the local head. */
	CHECK_INT(tfc_session(B.c, &token, &device, &err), 0);
	CHECK_INT(tfc_http(B.c, &h, &err), 0);
	snprintf(body, sizeof body, "{\"device_id\":\"%s\",\"entries\":[]}",
		 B.device);
	CHECK_INT(tf_http_call(h, "POST", "/v1/audit/device", token, device,
			       body, strlen(body), &reply, &err),
		  0);
	CHECK_INT(tf_json_parse(reply.data, reply.len, NULL, &doc, NULL), 0);
	CHECK_INT(tf_json_uint64(tf_h_get(doc, "head", "seq", NULL), &seq), 0);
	CHECK_INT(seq, B.c->audit_seq);
	CHECK_STR(tf_h_str(doc, "head", "hash", NULL), B.c->audit_hash);
	tf_json_free(doc);
	tf_buf_free(&reply);
}

/* 1 when the server's audit chain has a device_wipe_receipt of device. */
static int has_receipt(const char *device)
{
	tf_json *all = NULL;
	size_t i;
	int found = 0;

	if (tf_h_audit_all(&H, &s_aud, &all) != 0)
		return -1;
	for (i = 0; i < all->len; i++) {
		const tf_json *e = all->u.items[i];
		if (strcmp(tf_h_str(e, "type", NULL), "device_wipe_receipt") ==
			    0 &&
		    strstr(tf_h_str(e, "what", "target", NULL), device))
			found = 1;
		if (strcmp(tf_h_str(e, "type", NULL), "device_wipe_receipt") ==
			    0 &&
		    strcmp(tf_h_str(e, "actor", "device", NULL), device) == 0)
			found = 1;
	}
	tf_json_free(all);
	return found;
}

TEST(revoked_device_wipes_and_sends_its_receipt)
{
	char rid[TF_UUID_LEN + 1], cmd[TF_UUID_LEN + 1], path[128];
	tf_client_status st;
	struct stat sb;
	tf_h_resp r;
	tf_err err;

	tf_h_resp_init(&r);
	if (!ready) {
		CHECK(ready);
		return;
	}
	CHECK_INT(cli_login(&D, &err), 0);
	CHECK_INT(tf_client_sync(D.c, NULL, NULL, &err), 0);
	CHECK_INT(tf_client_mutate(D.c, "bolo", NULL, "create",
				   "{\"fields\":{\"kind\":\"other\"}}", 1, cmd,
				   rid, &err),
		  0);
	snprintf(path, sizeof path, "/v1/admin/devices/%s/revoke", D.device);
	CHECK_INT(tf_h_request(&H, &s_aud, "POST", path, NULL, 0, NULL, &r), 0);
	CHECK_INT(r.status, 200);
	CHECK_INT(has_receipt(D.device), 0);

	/* The push meets 403 device_revoked: the store is wiped; the
	   receipt (the next request) is lost on the way. */
	tf_http_fault_after(2, 0);
	CHECK_INT(tf_client_sync(D.c, NULL, NULL, &err), TF_EREVOKED);
	tf_http_fault_after(0, 0);
	CHECK(strstr(err.msg, "next contact") != NULL);
	CHECK_INT(tf_client_status_get(D.c, &st), 0);
	CHECK(!st.unlocked);
	CHECK(!st.logged_in);
	snprintf(path, sizeof path, "%s/store/store.db", D.home);
	CHECK(stat(path, &sb) != 0);
	CHECK_INT(has_receipt(D.device), 0);

	/* After a restart, the next contact sends it. */
	tf_client_close(D.c);
	D.c = NULL;
	CHECK_INT(cli_open(&D, 0, &err), 0);
	CHECK_INT(tf_client_sync(D.c, NULL, NULL, &err), TF_EREVOKED);
	CHECK(strstr(err.msg, "receipt") != NULL);
	CHECK_INT(has_receipt(D.device), 1);
	snprintf(path, sizeof path, "%s/identity.pem", D.home);
	CHECK(stat(path, &sb) != 0);
	CHECK_INT(tf_client_status_get(D.c, &st), 0);
	CHECK(!st.enrolled);
	/* Nothing more to do: a sync now is refused without a request. */
	CHECK(tf_client_sync(D.c, NULL, NULL, &err) < 0);
	tf_h_resp_free(&r);
}

TEST(ended_session_is_eauth_and_keeps_the_queue)
{
	char cmd[TF_UUID_LEN + 1], path[128];
	tf_h_resp r;
	tf_err err;

	tf_h_resp_init(&r);
	if (!ready) {
		CHECK(ready);
		return;
	}
	CHECK_INT(cli_login(&F, &err), 0);
	CHECK_INT(tf_client_mutate(F.c, "bolo", NULL, "create",
				   "{\"fields\":{\"kind\":\"other\"}}", 1, cmd,
				   NULL, &err),
		  0);
	snprintf(path, sizeof path, "/v1/admin/users/%s/revoke-sessions",
		 F.user);
	CHECK_INT(tf_h_request(&H, &s_aud, "POST", path, NULL, 0, NULL, &r), 0);
	CHECK_INT(r.status, 200);
	CHECK_INT(tf_client_sync(F.c, NULL, NULL, &err), TF_EAUTH);
	CHECK(strstr(err.msg, "log in") != NULL);
	CHECK_INT(pending_of(&F), 1);
	/* The token is gone: no request goes out without a login. */
	CHECK_INT(tf_client_sync(F.c, NULL, NULL, &err), TF_EAUTH);
	CHECK_INT(cli_restart(&F, 0, &err), 0);
	CHECK_INT(pending_of(&F), 1);
	tf_h_resp_free(&r);
}

TEST(eviction_under_the_cache_budget)
{
	char rid[TF_UUID_LEN + 1];
	tf_client_status st;
	tf_json *res = NULL;
	tf_buf out;
	tf_err err;

	tf_buf_init(&out);
	if (!ready || E.c == NULL) {
		CHECK(ready);
		return;
	}
	/* E with a 1-byte budget: every synced record leaves at the end of
	   the sync (the store and the replica). */
	CHECK_INT(dana_bolo(rid), 0);
	CHECK_INT(cli_restart(&E, 1, &err), 0);
	CHECK_INT(tf_client_sync(E.c, NULL, NULL, &err), 0);
	CHECK_INT(tf_client_status_get(E.c, &st), 0);
	CHECK_INT(st.sum.records, 0);
	CHECK_INT(st.sum.pending, 0);
	CHECK_INT(tf_client_get(E.c, rid, &out, &err), TF_ENOTFOUND);
	/* A restart reads the same (the rows went too). */
	CHECK_INT(cli_restart(&E, 0, &err), 0);
	CHECK_INT(tf_client_status_get(E.c, &st), 0);
	CHECK_INT(st.sum.records, 0);
	/* With the default budget, a change brings the record back. */
	CHECK_INT(tf_h_cmd(&H, &s_dana, tf_h_now_ms(), "bolo", rid, "append",
			   "{\"field\":\"updates\",\"body\":{\"text\":"
			   "\"back\"}}",
			   &res, NULL, NULL),
		  0);
	tf_json_free(res);
	CHECK_INT(tf_client_sync(E.c, NULL, NULL, &err), 0);
	tf_buf_reset(&out);
	CHECK_INT(tf_client_get(E.c, rid, &out, &err), 0);
	CHECK(strstr(tf_buf_cstr(&out), "\"back\"") != NULL);
	tf_buf_free(&out);
}

TEST(clock_skew_is_restamped_and_resent)
{
	char rid[TF_UUID_LEN + 1], cmd[TF_UUID_LEN + 1];
	tf_json *recs = NULL;
	tf_err err;
	prog g;

	if (!ready) {
		CHECK(ready);
		return;
	}
	CHECK_INT(cli_login(&G, &err), 0);
	CHECK_INT(tf_client_sync(G.c, NULL, NULL, &err), 0);
	/* The device clock runs 2 minutes fast (the server allows 60 s). */
	atomic_store(&g_wall_off, 120000);
	atomic_store(&g_mono_off, 120000);
	CHECK_INT(tf_client_mutate(G.c, "bolo", NULL, "create",
				   "{\"fields\":{\"kind\":\"other\"}}", 1, cmd,
				   rid, &err),
		  0);
	memset(&g, 0, sizeof g);
	CHECK_INT(tf_client_sync(G.c, on_prog, &g, &err), 0);
	CHECK_INT(g.last.to_push, 1);
	CHECK_INT(g.last.pushed, 1);
	CHECK_INT(pending_of(&G), 0);
	recs = server_records();
	CHECK(tf_h_find_record(recs, rid) != NULL);
	tf_json_free(recs);
}

typedef struct idle_watch {
	pthread_t t;
	volatile int stop;
	atomic_int done;
	prog g;
	int rc;
	tf_err err;
} idle_watch;

static void *idle_main(void *arg)
{
	idle_watch *w = arg;

	/* No max_ms: the jump of the clock below would end it. */
	w->rc = tf_client_watch(G.c, &w->stop, 0, on_prog_watch, &w->g,
				&w->err);
	atomic_store(&w->done, 1);
	return NULL;
}

TEST(watch_ends_at_the_idle_lock)
{
	char id[TF_UUID_LEN + 1];
	idle_watch w;
	int i;

	if (!ready || G.c == NULL || !tf_client_is_unlocked(G.c)) {
		CHECK(!"G not ready");
		return;
	}
	memset(&w, 0, sizeof w);
	CHECK_INT(pthread_create(&w.t, NULL, idle_main, &w), 0);
	for (i = 0; i < 200 && w.g.calls == 0; i++)
		tf_h_sleep_ms(50);
	CHECK(w.g.calls > 0);
	/* 31 minutes pass without user activity; a poke makes the watcher
	   sync, whose gate locks. */
	atomic_fetch_add(&g_wall_off, 31LL * 60 * 1000);
	atomic_fetch_add(&g_mono_off, 31LL * 60 * 1000);
	CHECK_INT(dana_bolo(id), 0);
	for (i = 0; i < 300 && !atomic_load(&w.done); i++)
		tf_h_sleep_ms(50);
	CHECK(atomic_load(&w.done));
	w.stop = 1;
	pthread_join(w.t, NULL);
	CHECK_INT(w.rc, TF_ELOCKED);
	CHECK(!tf_client_is_unlocked(G.c));
}

/* n appends "n=0001".. to a new bolo of k; 0 when all were queued. */
static int queue_appends(cli *k, int n, char rid[TF_UUID_LEN + 1])
{
	char cmd[TF_UUID_LEN + 1], args[128];
	tf_err err;
	int i;

	if (tf_client_mutate(k->c, "bolo", NULL, "create",
			     "{\"fields\":{\"kind\":\"property\"}}", 1, cmd, rid,
			     &err) != 0)
		return -1;
	for (i = 1; i <= n; i++) {
		snprintf(args, sizeof args,
			 "{\"field\":\"updates\",\"body\":{\"text\":"
			 "\"n=%04d\"}}",
			 i);
		if (tf_client_mutate(k->c, "bolo", rid, "append", args, 1, cmd,
				     NULL, &err) != 0)
			return -1;
	}
	return 0;
}

/* The server's bolo rid holds exactly n=0001..n=<n>, in order. */
static int updates_exactly(const char *rid, int n)
{
	tf_json *recs = server_records();
	const tf_json *rec = tf_h_find_record(recs, rid), *e;
	char want[32];
	int i, bad = 0;

	e = tf_h_get(rec, "f", "updates", "e", NULL);
	if (e == NULL || e->len != (size_t)n) {
		fprintf(stderr, "  %s: %zu updates, want %d\n", rid,
			e ? e->len : 0, n);
		bad++;
	}
	for (i = 1; e && i <= n && (size_t)i <= e->len; i++) {
		snprintf(want, sizeof want, "n=%04d", i);
		if (strcmp(update_text(rec, (size_t)i - 1), want) != 0)
			bad++;
	}
	tf_json_free(recs);
	return bad;
}

TEST(network_faults_through_a_proxy)
{
	char url[64], rid[TF_UUID_LEN + 1];
	tf_fault_proxy *fp = NULL;
	tf_fp_fault f;
	tf_fp_stats fs;
	tf_err err;
	int rc;

	if (!ready) {
		CHECK(ready);
		return;
	}
	CHECK_INT(tf_fp_start(port, &fp, &err), 0);
	if (fp == NULL)
		return;
	tf_fp_url(fp, url, sizeof url);
	P.url = url;
	CHECK(cli_restart(&P, 0, &err) != 0); /* never logged in */
	CHECK_INT(cli_login(&P, &err), 0);

	/* The second pull page is cut after 4 KiB: TF_ENET; the next sync
	   resumes and ends equal to the server. */
	memset(&f, 0, sizeof f);
	f.mode = TF_FP_CUT;
	f.arg = 4096;
	f.path_prefix = "/v1/sync/pull";
	f.skip = 1;
	f.count = 1;
	CHECK_INT(tf_fp_set(fp, &f), 0);
	rc = tf_client_sync(P.c, NULL, NULL, &err);
	CHECK_INT(rc, TF_ENET);
	tf_fp_stats_get(fp, &fs);
	CHECK_INT(fs.cut, 1);
	CHECK_INT(tf_fp_set(fp, NULL), 0);
	CHECK_INT(tf_client_sync(P.c, NULL, NULL, &err), 0);
	CHECK_INT(compare_with_server(&P, 113), 0);

	/* Every push reaches the server twice: results once. */
	CHECK_INT(queue_appends(&P, 40, rid), 0);
	memset(&f, 0, sizeof f);
	f.mode = TF_FP_DUP;
	f.arg = 50;
	f.path_prefix = "/v1/sync/push";
	CHECK_INT(tf_fp_set(fp, &f), 0);
	CHECK_INT(tf_client_sync(P.c, NULL, NULL, &err), 0);
	CHECK_INT(tf_fp_wait_faulted(fp, 1, 5000), 0);
	CHECK_INT(pending_of(&P), 0);
	CHECK_INT(updates_exactly(rid, 40), 0);

	/* A push dropped without a reply, then a push whose reply is cut:
	   each sync fails with TF_ENET, the third goes through; once. */
	CHECK_INT(queue_appends(&P, 30, rid), 0);
	f.mode = TF_FP_DROP;
	f.arg = 0;
	CHECK_INT(tf_fp_set(fp, &f), 0);
	CHECK_INT(tf_client_sync(P.c, NULL, NULL, &err), TF_ENET);
	f.mode = TF_FP_CUT;
	f.arg = 20;
	CHECK_INT(tf_fp_set(fp, &f), 0);
	CHECK_INT(tf_client_sync(P.c, NULL, NULL, &err), TF_ENET);
	CHECK_INT(cli_restart(&P, 0, &err), 0);
	CHECK_INT(tf_fp_set(fp, NULL), 0);
	CHECK_INT(tf_client_sync(P.c, NULL, NULL, &err), 0);
	CHECK_INT(pending_of(&P), 0);
	CHECK_INT(updates_exactly(rid, 30), 0);

	/* The link down: TF_ENET at once, the queue kept. */
	CHECK_INT(queue_appends(&P, 5, rid), 0);
	CHECK_INT(tf_fp_set_mode(fp, TF_FP_DOWN, 0), 0);
	CHECK_INT(tf_client_sync(P.c, NULL, NULL, &err), TF_ENET);
	CHECK_INT(pending_of(&P), 6);
	CHECK_INT(tf_fp_set(fp, NULL), 0);
	CHECK_INT(tf_client_sync(P.c, NULL, NULL, &err), 0);
	CHECK_INT(updates_exactly(rid, 5), 0);
	CHECK_INT(compare_with_server(&P, 301), 0);
	tf_client_close(P.c);
	P.c = NULL;
	tf_fp_stop(fp);
}

typedef struct revoke_watch {
	pthread_t t;
	volatile int stop;
	atomic_int done;
	prog g;
	int rc;
	tf_err err;
} revoke_watch;

static void *revoke_main(void *arg)
{
	revoke_watch *w = arg;

	w->rc = tf_client_watch(R.c, &w->stop, 60000, on_prog_watch, &w->g,
				&w->err);
	atomic_store(&w->done, 1);
	return NULL;
}

TEST(watch_meets_a_revocation_and_wipes)
{
	char path[128];
	revoke_watch w;
	tf_h_resp r;
	tf_err err;
	int i;

	tf_h_resp_init(&r);
	if (!ready) {
		CHECK(ready);
		return;
	}
	CHECK_INT(cli_login(&R, &err), 0);
	memset(&w, 0, sizeof w);
	CHECK_INT(pthread_create(&w.t, NULL, revoke_main, &w), 0);
	for (i = 0; i < 400 && w.g.calls == 0; i++)
		tf_h_sleep_ms(50);
	CHECK(w.g.calls > 0);
	/* Revoked while listening: the server ends the stream (event: end,
	   wipe), the watcher's sync meets 403, wipes, sends the receipt. */
	snprintf(path, sizeof path, "/v1/admin/devices/%s/revoke", R.device);
	CHECK_INT(tf_h_request(&H, &s_aud, "POST", path, NULL, 0, NULL, &r), 0);
	CHECK_INT(r.status, 200);
	for (i = 0; i < 300 && !atomic_load(&w.done); i++)
		tf_h_sleep_ms(50);
	CHECK(atomic_load(&w.done));
	w.stop = 1;
	pthread_join(w.t, NULL);
	CHECK_INT(w.rc, TF_EREVOKED);
	CHECK(strstr(w.err.msg, "signed receipt") != NULL);
	CHECK_INT(has_receipt(R.device), 1);
	tf_h_resp_free(&r);
}

TEST(resume_after_kill_mid_push)
{
	char rid[TF_UUID_LEN + 1];
	tf_err err;
	pid_t pid;
	prog g;
	int wst = 0;

	if (!ready) {
		CHECK(ready);
		return;
	}
	CHECK_INT(cli_login(&K, &err), 0);
	CHECK_INT(queue_appends(&K, 599, rid), 0);
	CHECK_INT(pending_of(&K), 600);
	tf_client_close(K.c);
	K.c = NULL;
	/* A child pushes and is killed (-9) once the first batch's reply
	   was persisted and reported. */
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		tf_err e;

		memset(&g, 0, sizeof g);
		g.kill_at_pushed = 1;
		if (cli_restart(&K, 0, &e) != 0)
			_exit(3);
		(void)tf_client_sync(K.c, on_prog, &g, &e);
		_exit(4);
	}
	CHECK(pid > 0);
	CHECK(waitpid(pid, &wst, 0) == pid);
	CHECK(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL);
	CHECK_INT(cli_restart(&K, 0, &err), 0);
	/* The first batch's results were kept: 344 left to send. */
	memset(&g, 0, sizeof g);
	CHECK_INT(tf_client_sync(K.c, on_prog, &g, &err), 0);
	CHECK_INT(g.last.to_push, 600 - 256);
	CHECK_INT(g.last.pushed, 600 - 256);
	CHECK_INT(pending_of(&K), 0);
	CHECK_INT(updates_exactly(rid, 599), 0);
}

int main(int argc, char **argv)
{
	(void)argc;
	ready = setup(argv[0]) == 0;
	if (!ready)
		tf_h_log_tail(&H, 4000);
	RUN(http_new_refuses_bad_urls_and_timeouts);
	RUN(http_escape_bounds);
	RUN(http_error_maps_codes_and_statuses);
	RUN(http_request_against_tenfourd);
	RUN(http_unreachable_is_enet);
	RUN(http_fault_hook);
	RUN(http_events_poke_stop_and_errors);
	RUN(http_events_parser);
	RUN(sync_fresh_client);
	RUN(push_500_in_order_exactly_once);
	RUN(resume_after_kill_mid_pull);
	RUN(server_down_then_up);
	RUN(watch_wakes_on_a_push);
	RUN(audit_upload_continues_the_chain);
	RUN(revoked_device_wipes_and_sends_its_receipt);
	RUN(ended_session_is_eauth_and_keeps_the_queue);
	RUN(eviction_under_the_cache_budget);
	RUN(clock_skew_is_restamped_and_resent);
	RUN(watch_ends_at_the_idle_lock);
	RUN(network_faults_through_a_proxy);
	RUN(watch_meets_a_revocation_and_wipes);
	RUN(resume_after_kill_mid_push);
	if (tf_test_failed_checks)
		tf_h_log_tail(&H, 4000);
	for (size_t i = 0; i < sizeof clients / sizeof clients[0]; i++)
		cli_destroy(clients[i]);
	tf_h_destroy(&H);
	return tf_test_finish(argv[0]);
}

/*
 * bench_server.c - load generator for tenfourd (issue 3, "Benchmark"),
 * run from the repository root by scripts/run-bench.sh:
 *
 *   bench_server [--tenfourd PATH] [--schema PATH] [--out FILE]
 *                [--docs FILE] [--quick]
 *
 * One run, every server on 127.0.0.1 in a temp dir that is removed at the
 * end, the tenfourd child killed on every exit path:
 *   seed     the agency, 8 pushing dispatchers and one pulling dispatcher
 *            (tf_admin_* in this process, on the database file, before
 *            tenfourd starts: real PBKDF2 password hashes and TOTP
 *            secrets, enrolled Ed25519 device keys); for the SSE phases,
 *            users, devices and sessions written directly through the
 *            storage ops (a session row holds only the SHA-256 of the
 *            token), since 5,000 real logins cost 5,000 PBKDF2 runs and
 *            one TOTP step per user each
 *   login    the 9 real users log in over HTTP (device proof, TOTP, banner)
 *   push     8 threads, one per device and session, push batches of 100:
 *            creates, then lww sets and log appends on a few hundred
 *            records; once with the durable default (--fsync on), once
 *            with --fsync off (same sessions: they live in the database)
 *   pull     a full pull of every record as a dispatcher, pages of 1,000
 *   rss      VmRSS of tenfourd with 1,000 idle SSE connections, each its
 *            own device and session
 *   sse      5,000 SSE connections (raw sockets, one epoll loop), then
 *            pokes: a one-command push each; the latency of a poke is
 *            from just before the push is sent to the moment each
 *            connection has read the event
 * Results go to --out as JSON; --docs gets the record states, one per
 * line, which bench/js/pouchdb-bench.mjs writes to PouchDB Server.
 */
#define _DEFAULT_SOURCE /* MSG_NOSIGNAL, mkdtemp */
#define _XOPEN_SOURCE 700 /* nftw */

#include "crypto/crypto.h"
#include "server/server.h"
#include "tenfour/hlc.h"
#include "tenfour/json.h"
#include "tenfour/schema.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define AGENCY "bench"
#define PUSHERS 8
#define BATCH 100
#define HOT_RECORDS 400
#define MAX_PAGES 200
#define PAGE_LIMIT 1000
#define MAX_SSE 5000
#define SSE_EVENTS 64 /* arrival times kept per connection */
#define SSE_USERS 50
#define PHASE_MAX_S 120.0 /* a timed phase stops here, whatever is left */

/* ------------------------------------------------------------ options */

static struct {
	const char *tenfourd;
	const char *schema;
	const char *out;
	const char *docs;
	int creates;   /* creates per push phase, all devices */
	int updates;   /* sets + appends per push phase, all devices */
	int idle;      /* SSE connections for the RSS figure */
	int sse;       /* SSE connections for the poke latency */
	int pokes;     /* pushes that poke them */
	int pull_reps; /* timed full pulls */
} opt = {
	"build/native/tenfourd",
	"schemas/cad.json",
	"build/bench/server.json",
	"build/bench/server-docs.jsonl",
	10000,
	20000,
	1000,
	MAX_SSE,
	20,
	3,
};

/* ------------------------------------------------------------- helpers */

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *what, const char *msg) __attribute__((noreturn));

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ------------------------------------------------------ tenfourd child */

static char tmpdir[64];
static char dbpath[128];
static char logpath[128];
static pid_t child = -1;
static int port;

static void child_kill(void)
{
	int st;

	if (child <= 0)
		return;
	kill(child, SIGKILL);
	waitpid(child, &st, 0);
	child = -1;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void cleanup(void)
{
	child_kill();
	if (tmpdir[0])
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = 0;
}

/* The last bytes of tenfourd's log, before the temp dir goes. */
static void log_tail(void)
{
	char buf[2048];
	size_t n;
	FILE *f = logpath[0] ? fopen(logpath, "r") : NULL;

	if (!f)
		return;
	if (fseek(f, -(long)sizeof buf + 1, SEEK_END) < 0)
		fseek(f, 0, SEEK_SET);
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = 0;
	fclose(f);
	fprintf(stderr, "--- tenfourd log, last bytes ---\n%s\n---\n", buf);
}

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "bench_server: %s: %s\n", what, msg);
	child_kill();
	log_tail();
	exit(1);
}

static void on_signal(int sig)
{
	(void)sig;
	if (child > 0)
		kill(child, SIGKILL);
	_exit(1);
}

static size_t discard_cb(char *p, size_t sz, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return sz * n;
}

static int healthz(void)
{
	char url[64];
	CURL *h = curl_easy_init();
	long code = 0;

	if (!h)
		return 0;
	snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", port);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_cb);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 1000L);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	return code == 200;
}

/* The port tenfourd wrote to --port-file, 0 while there is none. */
static int read_port(const char *path)
{
	FILE *f = fopen(path, "r");
	int p = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%d", &p) != 1 || p <= 0 || p > 65535)
		p = 0;
	fclose(f);
	return p;
}

/*
 * Starts tenfourd on the bench database, 127.0.0.1 on a port of its
 * choosing (--port-file), its log appended to logpath, and waits (at most
 * 20 s) until /healthz answers.
 */
static void child_start(int fsync_on, int max_conn)
{
	char connarg[16], portfile[160];
	pid_t parent = getpid();
	double t0;

	snprintf(connarg, sizeof connarg, "%d", max_conn);
	snprintf(portfile, sizeof portfile, "%s/port", tmpdir);
	unlink(portfile);
	port = 0;
	child = fork();
	if (child < 0)
		die("fork", strerror(errno));
	if (child == 0) {
		int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
		char dsn[160];
		char *argv[] = {(char *)opt.tenfourd,
				"--data-dir",
				tmpdir,
				"--db",
				dsn,
				"--listen",
				"127.0.0.1:0",
				"--port-file",
				portfile,
				"--schema",
				(char *)opt.schema,
				"--fsync",
				fsync_on ? "on" : "off",
				"--max-connections",
				connarg,
				NULL};

		/* never outlive the bench, even when it is killed */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(126);
		snprintf(dsn, sizeof dsn, "sqlite:%s", dbpath);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execv(opt.tenfourd, argv);
		_exit(127);
	}
	t0 = mono_s();
	while (port == 0 || !healthz()) {
		int st;

		if (port == 0)
			port = read_port(portfile);
		if (waitpid(child, &st, WNOHANG) == child) {
			child = -1;
			die("tenfourd", "exited at start (see its log)");
		}
		if (mono_s() - t0 > 20.0)
			die("tenfourd", "no /healthz within 20 s");
		sleep_ms(50);
	}
}

/* SIGTERM (graceful: in-flight commits finish), SIGKILL after 15 s. */
static void child_stop(void)
{
	double t0 = mono_s();
	int st;

	if (child <= 0)
		return;
	kill(child, SIGTERM);
	while (waitpid(child, &st, WNOHANG) != child) {
		if (mono_s() - t0 > 15.0) {
			kill(child, SIGKILL);
			waitpid(child, &st, 0);
			break;
		}
		sleep_ms(20);
	}
	child = -1;
}

static long child_rss_kb(void)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)child);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* ------------------------------------------------------------- HTTP */

typedef struct client {
	CURL *h;
	struct curl_slist *hdrs;
	tf_buf resp;
	char user[TF_ID_MAX + 1];
	char device[TF_ID_MAX + 1];
	char password[96];
	char totp[TF_DB_TOTP_MAX + 1];
	tf_sigkey *key;
	char token[64];
	tf_clock clock;
	uint64_t seq;
} client;

static size_t collect_cb(char *p, size_t sz, size_t n, void *arg)
{
	tf_buf *b = arg;

	if (tf_buf_append(b, p, sz * n) < 0)
		return 0;
	return sz * n;
}

static void client_auth(client *c)
{
	char line[160];

	curl_slist_free_all(c->hdrs);
	c->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	snprintf(line, sizeof line, "Authorization: Bearer %s", c->token);
	c->hdrs = curl_slist_append(c->hdrs, line);
	snprintf(line, sizeof line, "X-Tenfour-Device: %s", c->device);
	c->hdrs = curl_slist_append(c->hdrs, line);
	c->hdrs = curl_slist_append(c->hdrs, "Expect:");
}

/*
 * One request on c's kept-alive connection; body NULL = GET.  Returns the
 * HTTP status (0 on a transport error); the body is in c->resp.
 */
static long http(client *c, const char *path, const char *body, size_t len)
{
	char url[512];
	long code = 0;

	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
	tf_buf_reset(&c->resp);
	curl_easy_setopt(c->h, CURLOPT_URL, url);
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, collect_cb);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &c->resp);
	curl_easy_setopt(c->h, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
	if (body) {
		curl_easy_setopt(c->h, CURLOPT_POST, 1L);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)len);
	} else {
		curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
	}
	if (curl_easy_perform(c->h) != CURLE_OK)
		return 0;
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

static void http_check(client *c, long code, long want, const char *what)
{
	char msg[400];

	if (code == want)
		return;
	snprintf(msg, sizeof msg, "HTTP %ld (want %ld): %.300s", code, want,
		 c->resp.data ? tf_buf_cstr(&c->resp) : "");
	die(what, msg);
}

/* ------------------------------------------------------------- seed */

static client clients[PUSHERS + 1]; /* [PUSHERS] is the puller */
static int64_t banner_rev;

typedef struct sse_conn {
	char device[TF_ID_MAX + 1];
	char token[48];
	int fd;
	int state; /* 0 closed, 1 connecting, 2 headers, 3 open */
	int chunked;
	long chunk_left; /* -1 reading a size line */
	int chunk_crlf;  /* CRLF bytes still to skip after a chunk */
	size_t hlen;
	char hdr[512];
	char line[8]; /* the first bytes of the current SSE line */
	size_t linelen;
	int ev_has_id;
	int nev;
	double ev_at[SSE_EVENTS];
} sse_conn;

static sse_conn *sse;

static void tf_check(int rc, const tf_err *err, const char *what)
{
	char msg[400];

	if (rc >= 0)
		return;
	snprintf(msg, sizeof msg, "%s (%s)", err->msg, err->where);
	die(what, msg);
}

/* Token text (b64url of 32 random bytes) and what the session row keeps:
   the hex SHA-256 of the raw bytes, as auth.c hashes a presented token. */
static void token_make(char *text, size_t cap, char hash_hex[65])
{
	uint8_t raw[TF_SRV_TOKEN_BYTES], h[TF_SHA256_LEN];

	if (tf_random_bytes(raw, sizeof raw) < 0 ||
	    tf_b64url_encode(raw, sizeof raw, text, cap) < 0 ||
	    tf_sha256(raw, sizeof raw, h) < 0)
		die("token", "random or hash failed");
	for (size_t i = 0; i < sizeof h; i++)
		snprintf(hash_hex + 2 * i, 3, "%02x", h[i]);
}

typedef struct sse_seed {
	int64_t now;
	const char *pubkey;
	const char *pwhash;
	int n;
} sse_seed;

/*
 * One write: SSE_USERS dispatchers (never logged in: they share one
 * real PBKDF2 hash), then per connection a device and a live session.
 */
static int sse_seed_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	const sse_seed *ss = arg;
	int rc;

	for (int u = 0; u < SSE_USERS; u++) {
		tf_db_user usr;

		memset(&usr, 0, sizeof usr);
		snprintf(usr.agency, sizeof usr.agency, "%s", AGENCY);
		snprintf(usr.id, sizeof usr.id, "sse-%02d", u);
		snprintf(usr.name, sizeof usr.name, "SSE dispatcher %d", u);
		snprintf(usr.roles[0], sizeof usr.roles[0], "dispatcher");
		usr.nroles = 1;
		snprintf(usr.pwhash, sizeof usr.pwhash, "%s", ss->pwhash);
		usr.created_at = ss->now;
		rc = t->ops->user_put(t, &usr, err);
		if (rc < 0)
			return rc;
	}
	for (int i = 0; i < ss->n; i++) {
		tf_db_device d;
		tf_db_session se;

		memset(&d, 0, sizeof d);
		snprintf(d.agency, sizeof d.agency, "%s", AGENCY);
		snprintf(d.id, sizeof d.id, "%s", sse[i].device);
		snprintf(d.label, sizeof d.label, "SSE console %d", i);
		snprintf(d.pubkey, sizeof d.pubkey, "%s", ss->pubkey);
		d.status = TF_DEV_ENROLLED;
		d.enrolled_at = ss->now;
		rc = t->ops->device_put(t, &d, err);
		if (rc < 0)
			return rc;
		memset(&se, 0, sizeof se);
		token_make(sse[i].token, sizeof sse[i].token, se.token_hash);
		snprintf(se.agency, sizeof se.agency, "%s", AGENCY);
		snprintf(se.user, sizeof se.user, "sse-%02d", i % SSE_USERS);
		snprintf(se.device, sizeof se.device, "%s", sse[i].device);
		se.created_at = ss->now;
		se.expires_at = ss->now + 11LL * 3600 * 1000;
		rc = t->ops->session_put(t, &se, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

typedef struct agency_get_arg {
	tf_db_agency a;
	tf_db_user u;
} agency_get_arg;

static int agency_get_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	agency_get_arg *g = arg;
	int rc = t->ops->agency_get(t, AGENCY, &g->a, err);

	if (rc < 0)
		return rc;
	return t->ops->user_get(t, AGENCY, "disp-0", &g->u, err);
}

static tf_schema *load_schema(void)
{
	tf_schema *sc = NULL;
	tf_err err;
	char *text;
	long n;
	FILE *f = fopen(opt.schema, "rb");

	if (!f)
		die(opt.schema, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	if (n <= 0 || n > 1 << 20)
		die(opt.schema, "empty or over 1 MiB");
	text = malloc((size_t)n);
	if (!text || fread(text, 1, (size_t)n, f) != (size_t)n)
		die(opt.schema, "read failed");
	fclose(f);
	tf_check(tf_schema_load(text, (size_t)n, &sc, &err), &err, "schema");
	free(text);
	return sc;
}

static void seed(void)
{
	static const char *const roles[] = {"dispatcher"};
	tf_admin_actor act = {AGENCY,  "system",       NULL,
			      "local", "bench_server", NULL};
	tf_db_options o;
	tf_srv s;
	tf_err err;
	tf_db *db = NULL;
	tf_schema *sc = load_schema();
	agency_get_arg g;
	sse_seed ss;
	char dsn[160], pub64[64];
	uint8_t pub[TF_ED25519_PUB_LEN];
	int64_t now = wall_ms();

	tf_db_options_default(&o);
	o.fsync = 0; /* seeding only; tenfourd reopens with its own setting */
	snprintf(dsn, sizeof dsn, "sqlite:%s", dbpath);
	tf_check(tf_db_open(dsn, &o, &db, &err), &err, "db open");
	memset(&s, 0, sizeof s);
	s.db = db;
	s.schema = sc;
	s.max_skew_ms = 60000;
	s.totp_window = 1;
	s.pbkdf2_iter = TF_PBKDF2_MIN_ITER;
	s.node = "bench_server";
	tf_check(tf_srv_init_identity(&s, &err), &err, "identity");
	tf_check(tf_admin_agency_init(&s, &act, AGENCY, "Bench County", now,
				      &err),
		 &err, "agency init");
	for (int i = 0; i <= PUSHERS; i++) {
		client *c = &clients[i];

		snprintf(c->user, sizeof c->user, "disp-%d", i);
		snprintf(c->device, sizeof c->device, "console-%d", i);
		snprintf(c->password, sizeof c->password,
			 "bench stapled horse %d quietly", i);
		tf_check(tf_admin_user_add(&s, &act, c->user, c->user, roles, 1,
					   "", c->password, now, c->totp,
					   &err),
			 &err, "user add");
		if (tf_sigkey_generate(&c->key) < 0 ||
		    tf_sigkey_public(c->key, pub) < 0 ||
		    tf_b64url_encode(pub, sizeof pub, pub64, sizeof pub64) < 0)
			die("device key", "Ed25519 key generation failed");
		tf_check(tf_admin_device_enroll(&s, &act, c->device, c->device,
						pub64, now, &err),
			 &err, "device enroll");
	}
	tf_check(tf_db_read(db, agency_get_fn, &g, &err), &err, "agency get");
	banner_rev = g.a.banner_rev;
	ss.now = now;
	ss.pubkey = pub64;
	ss.pwhash = g.u.pwhash;
	ss.n = opt.sse;
	for (int i = 0; i < opt.sse; i++)
		snprintf(sse[i].device, sizeof sse[i].device, "sse-%04d", i);
	tf_check(tf_db_write(db, sse_seed_fn, &ss, &err), &err, "sse seed");
	tf_srv_fini(&s);
	tf_db_close(db);
	tf_schema_free(sc);
}

/* ------------------------------------------------------------- login */

static void *login_thread(void *arg)
{
	client *c = arg;
	uint8_t key[64], sig[TF_ED25519_SIG_LEN];
	size_t keylen;
	char code[TF_TOTP_DIGITS + 1], msg[256], sig64[100];
	tf_buf body;
	tf_json *j = NULL;
	tf_err err;
	const char *tok;
	size_t toklen;
	int64_t now = wall_ms();
	long st;

	if (tf_b32_decode(c->totp, strlen(c->totp), key, sizeof key,
			  &keylen) < 0 ||
	    tf_totp_code(key, keylen, now / 1000 / TF_TOTP_STEP_S, code) < 0)
		die("login", "TOTP code");
	snprintf(msg, sizeof msg, "tenfour-login\n%s\n%s\n%s\n%lld", AGENCY,
		 c->user, c->device, (long long)now);
	if (tf_sigkey_sign(c->key, msg, strlen(msg), sig) < 0 ||
	    tf_b64url_encode(sig, sizeof sig, sig64, sizeof sig64) < 0)
		die("login", "device proof");
	tf_buf_init(&body);
	tf_buf_printf(&body,
		      "{\"agency\":\"%s\",\"banner_rev\":%lld,"
		      "\"device_id\":\"%s\",\"password\":\"%s\","
		      "\"proof\":{\"sig\":\"%s\",\"ts\":%lld},"
		      "\"totp\":\"%s\",\"user\":\"%s\"}",
		      AGENCY, (long long)banner_rev, c->device, c->password,
		      sig64, (long long)now, code, c->user);
	curl_slist_free_all(c->hdrs);
	c->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	st = http(c, "/v1/auth/login", body.data, body.len);
	http_check(c, st, 200, "login");
	tf_buf_free(&body);
	if (tf_json_parse(c->resp.data, c->resp.len, NULL, &j, &err) < 0 ||
	    !(tok = tf_json_get_str(j, "token", &toklen)) ||
	    toklen >= sizeof c->token)
		die("login", "reply without a token");
	memcpy(c->token, tok, toklen);
	c->token[toklen] = 0;
	tf_json_free(j);
	client_auth(c);
	return NULL;
}

/* ------------------------------------------------------------- push */

static char hot_ids[HOT_RECORDS][TF_UUID_LEN + 1];
static atomic_int created_n;
static int hot_total; /* hot records created so far */

static const char *const statuses[] = {"pending", "dispatched", "active",
				       "closed"};
static const char *const streets[] = {"Main St", "Oak Ave", "Harbor Rd",
				      "5th St", "Lincoln Blvd", "Elm Ct"};
static const char *const notes[] = {
	"Caller reports two vehicles blocking the northbound lane.",
	"RP advises subject left on foot toward the park, white hoodie.",
	"Units on scene, requesting tow for one vehicle.",
	"Callback number confirmed, RP will meet units at the corner.",
	"Hazard: downed power line reported near the intersection."};

static void new_uuid(int64_t now, char out[TF_UUID_LEN + 1])
{
	uint8_t rnd[10];

	if (tf_random_bytes(rnd, sizeof rnd) < 0 || tf_uuid7(now, rnd, out) < 0)
		die("uuid", "random bytes");
}

/* Command header members shared by every op, then its args. */
static void cmd_head(tf_buf *b, client *c, int64_t now, const char *op,
		     const char *rec, int base)
{
	char id[TF_UUID_LEN + 1], hlc[TF_HLC_TEXT_LEN + 1];
	tf_hlc h;

	new_uuid(now, id);
	if (tf_hlc_now(&c->clock, now, &h) < 0)
		die("hlc", "clock");
	tf_hlc_format(h, hlc);
	tf_buf_printf(b,
		      "{\"base\":%d,\"cmd_id\":\"%s\",\"device\":\"%s\","
		      "\"entity\":\"incident\",\"hlc\":\"%s\",\"op\":\"%s\","
		      "\"record_id\":\"%s\",\"seq\":%llu,\"user\":\"%s\","
		      "\"args\":",
		      base, id, c->device, hlc, op, rec,
		      (unsigned long long)++c->seq, c->user);
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * One push body of n commands: creates of new incidents (kind 0, their
 * ids saved for the pull check) or, on the hot records, lww sets of
 * status and priority and appends to the notes log, half and half.
 */
static void push_body(tf_buf *b, client *c, int kind, int n, uint64_t *rs)
{
	int64_t now = wall_ms();

	tf_buf_reset(b);
	tf_buf_printf(b, "{\"commands\":[");
	for (int i = 0; i < n; i++) {
		uint64_t r = xorshift(rs);

		if (i)
			tf_buf_putc(b, ',');
		if (kind == 0) {
			char id[TF_UUID_LEN + 1];
			atomic_fetch_add(&created_n, 1);
			new_uuid(now, id);
			cmd_head(b, c, now, "create", id, 0);
			tf_buf_printf(
				b,
				"{\"fields\":{\"assigned_units\":[\"2A%02d\"],"
				"\"caller\":{\"name\":\"R. Caller\","
				"\"phone\":\"555-01%02d\"},"
				"\"location\":{\"addr\":\"%d %s\","
				"\"lat\":47.%04d,\"lng\":-122.%04d},"
				"\"priority\":%d,\"remarks\":\"Initial call "
				"taken by console; see notes.\","
				"\"status\":\"pending\","
				"\"type_code\":\"TRAFFIC\"}}}",
				(int)(r % 40), (int)(r % 100),
				(int)(r % 9000) + 100, streets[r % 6],
				(int)(r % 10000), (int)((r >> 16) % 10000),
				(int)(r % 5) + 1);
		} else if (r & 1) {
			cmd_head(b, c, now, "set",
				 hot_ids[(r >> 8) % HOT_RECORDS], 1);
			tf_buf_printf(b,
				      "{\"fields\":{\"priority\":%d,"
				      "\"status\":\"%s\"}}}",
				      (int)((r >> 4) % 5) + 1,
				      statuses[(r >> 20) % 4]);
		} else {
			cmd_head(b, c, now, "append",
				 hot_ids[(r >> 8) % HOT_RECORDS], 1);
			tf_buf_printf(b,
				      "{\"body\":{\"kind\":\"update\","
				      "\"text\":\"%s\"},\"field\":\"notes\"}}",
				      notes[(r >> 24) % 5]);
		}
	}
	tf_buf_printf(b,
		      "],\"device_id\":\"%s\",\"protocol_version\":1,"
		      "\"schema_version\":1}",
		      c->device);
	if (b->failed)
		die("push body", "out of memory");
}

/* Every result must be applied (a rejection would mean less work done). */
static void push_check(client *c, int n)
{
	tf_json *j = NULL, *res;
	tf_err err;
	char msg[400];

	if (tf_json_parse(c->resp.data, c->resp.len, NULL, &j, &err) < 0)
		die("push reply", err.msg);
	res = tf_json_object_get(j, "results");
	if (!res || res->type != TF_JSON_ARRAY || res->len != (size_t)n)
		die("push reply", "results missing or short");
	for (size_t i = 0; i < res->len; i++) {
		const char *st = tf_json_get_str(res->u.items[i], "status",
						 NULL);

		if (!st || strcmp(st, "applied") != 0) {
			snprintf(msg, sizeof msg, "result %zu: %.300s", i,
				 tf_buf_cstr(&c->resp));
			die("push", msg);
		}
	}
	tf_json_free(j);
}

typedef struct push_job {
	client *c;
	int kind, batches;
	pthread_barrier_t *bar;
	double end;
	int done; /* commands acknowledged */
	double lat_sum, lat_max;
} push_job;

static void *push_thread(void *arg)
{
	push_job *pj = arg;
	tf_buf b;
	uint64_t rs = 0x9e3779b97f4a7c15ULL ^ (uintptr_t)pj->c;
	double t0;

	tf_buf_init(&b);
	pthread_barrier_wait(pj->bar);
	t0 = mono_s();
	for (int i = 0; i < pj->batches && mono_s() - t0 < PHASE_MAX_S; i++) {
		double s0;
		long st;

		push_body(&b, pj->c, pj->kind, BATCH, &rs);
		s0 = mono_s();
		st = http(pj->c, "/v1/sync/push", b.data, b.len);
		s0 = mono_s() - s0;
		http_check(pj->c, st, 200, "push");
		push_check(pj->c, BATCH);
		pj->done += BATCH;
		pj->lat_sum += s0;
		if (s0 > pj->lat_max)
			pj->lat_max = s0;
	}
	pj->end = mono_s();
	tf_buf_free(&b);
	return NULL;
}

typedef struct push_result {
	int commands;
	double seconds, rate, lat_mean_ms, lat_max_ms;
} push_result;

/* PUSHERS threads, `total` commands of `kind` shared out in batches. */
static push_result push_phase(int kind, int total)
{
	pthread_t th[PUSHERS];
	push_job pj[PUSHERS];
	pthread_barrier_t bar;
	push_result r = {0, 0, 0, 0, 0};
	double t0, t1 = 0;
	int batches = (total + PUSHERS * BATCH - 1) / (PUSHERS * BATCH);
	int nb = 0;

	pthread_barrier_init(&bar, NULL, PUSHERS + 1);
	for (int i = 0; i < PUSHERS; i++) {
		memset(&pj[i], 0, sizeof pj[i]);
		pj[i].c = &clients[i];
		pj[i].kind = kind;
		pj[i].batches = batches;
		pj[i].bar = &bar;
		if (pthread_create(&th[i], NULL, push_thread, &pj[i]) != 0)
			die("push", "pthread_create");
	}
	pthread_barrier_wait(&bar);
	t0 = mono_s();
	for (int i = 0; i < PUSHERS; i++) {
		pthread_join(th[i], NULL);
		if (pj[i].end > t1)
			t1 = pj[i].end;
		r.commands += pj[i].done;
		r.lat_mean_ms += pj[i].lat_sum * 1000.0;
		nb += pj[i].done / BATCH;
		if (pj[i].lat_max * 1000.0 > r.lat_max_ms)
			r.lat_max_ms = pj[i].lat_max * 1000.0;
	}
	pthread_barrier_destroy(&bar);
	r.seconds = t1 - t0;
	r.rate = r.commands / r.seconds;
	r.lat_mean_ms = nb ? r.lat_mean_ms / nb : 0;
	return r;
}

/*
 * Device 0 creates a fresh set of hot records (not timed) before each
 * update phase, so both fsync settings update records of the same sizes
 * (the notes logs grow with every append).
 */
static void hot_create(void)
{
	tf_buf b;
	uint64_t rs = 12345;
	int64_t now;

	tf_buf_init(&b);
	for (int k = 0; k < HOT_RECORDS; k += BATCH) {
		client *c = &clients[0];
		long st;

		now = wall_ms();
		tf_buf_reset(&b);
		tf_buf_printf(&b, "{\"commands\":[");
		for (int i = k; i < k + BATCH; i++) {
			uint64_t r = xorshift(&rs);

			new_uuid(now, hot_ids[i]);
			if (i > k)
				tf_buf_putc(&b, ',');
			cmd_head(&b, c, now, "create", hot_ids[i], 0);
			tf_buf_printf(&b,
				      "{\"fields\":{\"assigned_units\":"
				      "[\"2A%02d\"],\"priority\":3,"
				      "\"status\":\"pending\","
				      "\"type_code\":\"ALARM\"}}}",
				      (int)(r % 40));
		}
		tf_buf_printf(&b,
			      "],\"device_id\":\"%s\",\"protocol_version\":1,"
			      "\"schema_version\":1}",
			      c->device);
		st = http(c, "/v1/sync/push", b.data, b.len);
		http_check(c, st, 200, "hot create");
		push_check(c, BATCH);
	}
	tf_buf_free(&b);
	hot_total += HOT_RECORDS;
}

/* ------------------------------------------------------------- pull */

typedef struct pull_result {
	long records;
	int pages;
	double seconds, rate, parse_s;
} pull_result;

/*
 * A full pull from the start, pages of PAGE_LIMIT, as the puller; every
 * page parsed (as a client would).  dump != NULL gets each record state.
 */
static pull_result pull_all(FILE *dump)
{
	client *c = &clients[PUSHERS];
	pull_result r = {0, 0, 0, 0, 0};
	char cursor[300] = "", path[1024];
	double t0 = mono_s();

	for (int p = 0; p < MAX_PAGES && mono_s() - t0 < PHASE_MAX_S; p++) {
		tf_json *j = NULL, *recs, *more;
		const char *cur;
		size_t curlen;
		tf_err err;
		double s0;
		long st;

		char *esc = curl_easy_escape(c->h, cursor, 0);

		if (!esc)
			die("pull", "out of memory");
		snprintf(path, sizeof path, "/v1/sync/pull?limit=%d&cursor=%s",
			 PAGE_LIMIT, esc);
		curl_free(esc);
		st = http(c, path, NULL, 0);
		http_check(c, st, 200, "pull");
		s0 = mono_s();
		if (tf_json_parse(c->resp.data, c->resp.len, NULL, &j, &err) <
		    0)
			die("pull page", err.msg);
		r.parse_s += mono_s() - s0;
		recs = tf_json_object_get(j, "records");
		more = tf_json_object_get(j, "has_more");
		cur = tf_json_get_str(j, "cursor", &curlen);
		if (!recs || recs->type != TF_JSON_ARRAY || !more || !cur ||
		    curlen >= sizeof cursor)
			die("pull page", "records, has_more or cursor missing");
		r.records += (long)recs->len;
		r.pages++;
		if (dump) {
			tf_buf line;

			tf_buf_init(&line);
			for (size_t i = 0; i < recs->len; i++) {
				tf_buf_reset(&line);
				if (tf_json_write(recs->u.items[i], &line) < 0)
					die("pull dump", "write");
				fprintf(dump, "%s\n", tf_buf_cstr(&line));
			}
			tf_buf_free(&line);
		}
		memcpy(cursor, cur, curlen);
		cursor[curlen] = 0;
		if (more->type != TF_JSON_TRUE) {
			tf_json_free(j);
			break;
		}
		tf_json_free(j);
	}
	r.seconds = mono_s() - t0;
	r.rate = (double)r.records / r.seconds;
	return r;
}

/* ------------------------------------------------------------- SSE */

static atomic_int sse_target;  /* connections the loop should hold */
static atomic_int sse_open;    /* 200 received */
static atomic_int sse_failed;  /* refused or closed */
static atomic_long sse_events; /* events with an id: line, all conns */
static atomic_int sse_stop;
static int sse_opened; /* sockets started (loop thread only) */

static void sse_close(int ep, sse_conn *s)
{
	if (s->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
		close(s->fd);
	}
	s->fd = -1;
	s->state = 0;
}

static void sse_start(int ep, int i)
{
	sse_conn *s = &sse[i];
	struct sockaddr_in a;
	struct epoll_event ev;
	int one = 1;

	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (s->fd < 0)
		die("sse socket", strerror(errno));
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	if (connect(s->fd, (struct sockaddr *)&a, sizeof a) < 0 &&
	    errno != EINPROGRESS)
		die("sse connect", strerror(errno));
	s->state = 1;
	s->chunk_left = -1;
	ev.events = EPOLLOUT | EPOLLIN;
	ev.data.u32 = (uint32_t)i;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev) < 0)
		die("epoll_ctl", strerror(errno));
}

/* SSE body bytes: an event ends at an empty line; one with id: counts. */
static void sse_body(sse_conn *s, const char *p, size_t n, double at)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r')
			continue;
		if (p[i] != '\n') {
			if (s->linelen < sizeof s->line)
				s->line[s->linelen] = p[i];
			s->linelen++;
			continue;
		}
		if (s->linelen == 0) {
			if (s->ev_has_id) {
				if (s->nev < SSE_EVENTS)
					s->ev_at[s->nev] = at;
				s->nev++;
				atomic_fetch_add(&sse_events, 1);
			}
			s->ev_has_id = 0;
		} else if (s->linelen >= 3 && memcmp(s->line, "id:", 3) == 0) {
			s->ev_has_id = 1;
		}
		s->linelen = 0;
	}
}

/* Chunked transfer decoding in front of sse_body when the reply uses it. */
static void sse_data(sse_conn *s, const char *p, size_t n, double at)
{
	if (!s->chunked) {
		sse_body(s, p, n, at);
		return;
	}
	while (n > 0) {
		if (s->chunk_crlf > 0) {
			s->chunk_crlf--;
			p++;
			n--;
		} else if (s->chunk_left < 0) {
			/* size line: hex digits, extensions, CRLF */
			char ch = *p++;

			n--;
			if (ch == '\n') {
				s->chunk_left = s->hlen ? (long)strtol(
								  s->hdr, NULL,
								  16)
							: 0;
				s->hlen = 0;
				if (s->chunk_left == 0)
					s->chunk_left = -1; /* last chunk */
			} else if (s->hlen < 16) {
				s->hdr[s->hlen++] = ch;
				s->hdr[s->hlen] = 0;
			}
		} else {
			size_t take = (size_t)s->chunk_left < n
					      ? (size_t)s->chunk_left
					      : n;

			sse_body(s, p, take, at);
			p += take;
			n -= take;
			s->chunk_left -= (long)take;
			if (s->chunk_left == 0) {
				s->chunk_left = -1;
				s->chunk_crlf = 2;
			}
		}
	}
}

static void sse_ready(int ep, int i, uint32_t evs, double at)
{
	sse_conn *s = &sse[i];
	char buf[8192];
	ssize_t n;

	if (s->state == 1 && (evs & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		char req[400];
		int soerr = 0, len;
		socklen_t sl = sizeof soerr;
		struct epoll_event ev;

		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		if (soerr) {
			sse_close(ep, s);
			atomic_fetch_add(&sse_failed, 1);
			return;
		}
		len = snprintf(req, sizeof req,
			       "GET /v1/sync/events HTTP/1.1\r\n"
			       "Host: 127.0.0.1:%d\r\n"
			       "Accept: text/event-stream\r\n"
			       "Authorization: Bearer %s\r\n"
			       "X-Tenfour-Device: %s\r\n\r\n",
			       port, s->token, s->device);
		if (send(s->fd, req, (size_t)len, MSG_NOSIGNAL) != len) {
			sse_close(ep, s);
			atomic_fetch_add(&sse_failed, 1);
			return;
		}
		s->state = 2;
		s->hlen = 0;
		ev.events = EPOLLIN;
		ev.data.u32 = (uint32_t)i;
		epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
		return;
	}
	if (s->state < 2)
		return;
	for (int rounds = 0; rounds < 16; rounds++) {
		size_t off = 0;

		n = recv(s->fd, buf, sizeof buf, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			if (s->state == 3)
				atomic_fetch_sub(&sse_open, 1);
			sse_close(ep, s);
			atomic_fetch_add(&sse_failed, 1);
			return;
		}
		if (s->state == 2) {
			size_t had = s->hlen, used;
			char *end;

			while (off < (size_t)n && s->hlen < sizeof s->hdr - 1)
				s->hdr[s->hlen++] = buf[off++];
			s->hdr[s->hlen] = 0;
			end = strstr(s->hdr, "\r\n\r\n");
			if (!end) {
				if (s->hlen >= sizeof s->hdr - 1) {
					sse_close(ep, s);
					atomic_fetch_add(&sse_failed, 1);
					return;
				}
				continue;
			}
			if (strncmp(s->hdr, "HTTP/1.1 200", 12) != 0) {
				fprintf(stderr, "bench_server: sse %s: %.80s\n",
					s->device, s->hdr);
				sse_close(ep, s);
				atomic_fetch_add(&sse_failed, 1);
				return;
			}
			s->chunked = strstr(s->hdr, "chunked") != NULL;
			/* bytes of this read past the header block are body */
			used = (size_t)(end + 4 - s->hdr) - had;
			s->hlen = 0;
			s->state = 3;
			atomic_fetch_add(&sse_open, 1);
			sse_data(s, buf + used, (size_t)n - used, at);
			continue;
		}
		sse_data(s, buf, (size_t)n, at);
	}
}

/* The loop thread: opens connections up to sse_target, 200 at a time in
   flight, and reads whatever arrives. */
static void *sse_thread(void *arg)
{
	struct epoll_event evs[512];
	int ep = epoll_create1(0);

	(void)arg;
	if (ep < 0)
		die("epoll_create1", strerror(errno));
	while (!atomic_load(&sse_stop)) {
		int target = atomic_load(&sse_target);
		int pending = sse_opened - atomic_load(&sse_open) -
			      atomic_load(&sse_failed);
		int n;
		double at;

		while (sse_opened < target && pending < 200) {
			sse_start(ep, sse_opened++);
			pending++;
		}
		n = epoll_wait(ep, evs, 512, 5);
		at = mono_s();
		for (int k = 0; k < n; k++)
			sse_ready(ep, (int)evs[k].data.u32, evs[k].events, at);
	}
	for (int i = 0; i < sse_opened; i++)
		sse_close(ep, &sse[i]);
	close(ep);
	return NULL;
}

/* Waits (at most max_s) until the loop holds `want` open connections. */
static int sse_wait_open(int want, double max_s)
{
	double t0 = mono_s();

	atomic_store(&sse_target, want);
	while (atomic_load(&sse_open) < want && mono_s() - t0 < max_s) {
		if (atomic_load(&sse_open) + atomic_load(&sse_failed) >= want)
			break;
		sleep_ms(20);
	}
	return atomic_load(&sse_open);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

typedef struct sse_result {
	int held, failed, pokes;
	long samples, missing;
	double p50_ms, p99_ms, max_ms, push_ms;
	long rss_idle0_kb, rss_idle_kb, rss_full_kb;
} sse_result;

/* One poke: a one-command push (a status set) from device 0. */
static double poke(void)
{
	client *c = &clients[0];
	tf_buf b;
	uint64_t rs = (uint64_t)wall_ms() | 1;
	long st;
	double t0;

	tf_buf_init(&b);
	push_body(&b, c, 1, 1, &rs);
	t0 = mono_s();
	st = http(c, "/v1/sync/push", b.data, b.len);
	http_check(c, st, 200, "poke push");
	push_check(c, 1);
	tf_buf_free(&b);
	return t0;
}

static sse_result sse_phase(void)
{
	sse_result r;
	pthread_t th;
	double *t0s = calloc((size_t)opt.pokes + 1, sizeof *t0s);
	double *lat = calloc((size_t)opt.pokes * (size_t)opt.sse,
			     sizeof *lat);
	double push_sum = 0;
	long nl = 0;
	int *first = calloc((size_t)opt.sse, sizeof *first);

	if (!t0s || !lat || !first)
		die("sse", "out of memory");
	memset(&r, 0, sizeof r);
	for (int i = 0; i < opt.sse; i++)
		sse[i].fd = -1;
	r.rss_idle0_kb = child_rss_kb();
	if (pthread_create(&th, NULL, sse_thread, NULL) != 0)
		die("sse", "pthread_create");
	if (sse_wait_open(opt.idle, 60) < opt.idle)
		fprintf(stderr, "bench_server: only %d of %d idle SSE held\n",
			atomic_load(&sse_open), opt.idle);
	sleep_ms(3000);
	r.rss_idle_kb = child_rss_kb();
	r.held = sse_wait_open(opt.sse, 120);
	sleep_ms(2000);
	r.rss_full_kb = child_rss_kb();
	r.failed = atomic_load(&sse_failed);
	/* events seen before the pokes (a greeting) are not latencies */
	for (int i = 0; i < opt.sse; i++)
		first[i] = sse[i].nev;
	for (int k = 0; k < opt.pokes; k++) {
		long before = atomic_load(&sse_events);
		double w0;

		t0s[k] = mono_s();
		w0 = poke();
		push_sum += mono_s() - w0;
		while (atomic_load(&sse_events) < before + r.held &&
		       mono_s() - t0s[k] < 10.0)
			sleep_ms(2);
		sleep_ms(200);
		r.pokes++;
	}
	t0s[r.pokes] = mono_s() + 1e9;
	atomic_store(&sse_stop, 1);
	pthread_join(th, NULL);
	/* match: connection i's first event in [t0s[k], t0s[k+1]) */
	for (int k = 0; k < r.pokes; k++) {
		for (int i = 0; i < opt.sse; i++) {
			sse_conn *s = &sse[i];
			int found = 0;
			int lim = s->nev < SSE_EVENTS ? s->nev : SSE_EVENTS;

			if (i >= sse_opened)
				continue; /* never started */
			for (int e = first[i]; e < lim; e++) {
				if (s->ev_at[e] >= t0s[k] &&
				    s->ev_at[e] < t0s[k + 1]) {
					lat[nl++] =
						(s->ev_at[e] - t0s[k]) * 1000.0;
					found = 1;
					break;
				}
			}
			if (!found)
				r.missing++;
		}
	}
	qsort(lat, (size_t)nl, sizeof *lat, cmp_double);
	r.samples = nl;
	if (nl) {
		r.p50_ms = lat[nl / 2];
		r.p99_ms = lat[(size_t)((double)nl * 0.99)];
		r.max_ms = lat[nl - 1];
	}
	r.push_ms = r.pokes ? push_sum * 1000.0 / r.pokes : 0;
	free(first);
	free(lat);
	free(t0s);
	return r;
}

/* ------------------------------------------------------------- main */

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_server [--tenfourd PATH] [--schema PATH] "
		"[--out FILE] [--docs FILE] [--quick]\n");
	exit(2);
}

static void print_push(FILE *f, const char *name, const push_result *p)
{
	fprintf(f,
		"  \"%s\": {\"commands\": %d, \"seconds\": %.3f, "
		"\"per_s\": %.0f, \"batch_ms_mean\": %.1f, "
		"\"batch_ms_max\": %.1f},\n",
		name, p->commands, p->seconds, p->rate, p->lat_mean_ms,
		p->lat_max_ms);
}

int main(int argc, char **argv)
{
	push_result on_c, on_u, off_c, off_u;
	pull_result pulls[8], best;
	sse_result sr;
	struct rlimit rl;
	double load[3] = {0, 0, 0};
	FILE *f;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			opt.creates = 1600;
			opt.updates = 1600;
			opt.idle = 100;
			opt.sse = 300;
			opt.pokes = 5;
			opt.pull_reps = 1;
		} else if (i + 1 < argc && !strcmp(argv[i], "--tenfourd")) {
			opt.tenfourd = argv[++i];
		} else if (i + 1 < argc && !strcmp(argv[i], "--schema")) {
			opt.schema = argv[++i];
		} else if (i + 1 < argc && !strcmp(argv[i], "--out")) {
			opt.out = argv[++i];
		} else if (i + 1 < argc && !strcmp(argv[i], "--docs")) {
			opt.docs = argv[++i];
		} else {
			usage();
		}
	}
	if (opt.pull_reps > 8)
		opt.pull_reps = 8;

	/* 5,000 sockets here, as many in tenfourd (the child inherits) */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < (rlim_t)opt.sse + 200)
			die("RLIMIT_NOFILE", "hard limit below the SSE count");
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	atexit(cleanup);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/tf-bench-XXXXXX");
	if (!mkdtemp(tmpdir))
		die("mkdtemp", strerror(errno));
	snprintf(dbpath, sizeof dbpath, "%s/tenfour.db", tmpdir);
	snprintf(logpath, sizeof logpath, "%s/tenfourd.log", tmpdir);
	sse = calloc((size_t)opt.sse, sizeof *sse);
	if (!sse)
		die("main", "out of memory");
	for (int i = 0; i <= PUSHERS; i++) {
		clients[i].h = curl_easy_init();
		tf_buf_init(&clients[i].resp);
		tf_clock_init(&clients[i].clock, 0, 60000);
		if (!clients[i].h)
			die("curl", "init");
	}

	fprintf(stderr, "bench_server: seeding %s\n", dbpath);
	seed();

	/* durable default */
	child_start(1, opt.sse + 500);
	{
		pthread_t th[PUSHERS + 1];

		for (int i = 0; i <= PUSHERS; i++)
			if (pthread_create(&th[i], NULL, login_thread,
					   &clients[i]) != 0)
				die("login", "pthread_create");
		for (int i = 0; i <= PUSHERS; i++)
			pthread_join(th[i], NULL);
	}
	fprintf(stderr, "bench_server: push, --fsync on\n");
	on_c = push_phase(0, opt.creates);
	hot_create();
	on_u = push_phase(1, opt.updates);
	child_stop();

	/* relaxed; the sessions live in the database, so no new logins */
	child_start(0, opt.sse + 500);
	fprintf(stderr, "bench_server: push, --fsync off\n");
	off_c = push_phase(0, opt.creates);
	hot_create();
	off_u = push_phase(1, opt.updates);

	fprintf(stderr, "bench_server: pull\n");
	f = fopen(opt.docs, "w");
	if (!f)
		die(opt.docs, strerror(errno));
	pull_all(f); /* writes the documents for PouchDB; not timed */
	fclose(f);
	memset(&best, 0, sizeof best);
	for (int i = 0; i < opt.pull_reps; i++) {
		pulls[i] = pull_all(NULL);
		if (pulls[i].rate > best.rate)
			best = pulls[i];
	}
	if (best.records != atomic_load(&created_n) + hot_total)
		fprintf(stderr,
			"bench_server: WARNING: a full pull gave %ld records, "
			"%d were created\n",
			best.records, atomic_load(&created_n) + hot_total);
	child_stop();

	/* SSE and RSS on a fresh start at the durable default */
	fprintf(stderr, "bench_server: SSE\n");
	child_start(1, opt.sse + 500);
	sr = sse_phase();
	child_stop();
	getloadavg(load, 3);

	f = fopen(opt.out, "w");
	if (!f)
		die(opt.out, strerror(errno));
	fprintf(f, "{\n");
	print_push(f, "push_create_fsync_on", &on_c);
	print_push(f, "push_update_fsync_on", &on_u);
	print_push(f, "push_create_fsync_off", &off_c);
	print_push(f, "push_update_fsync_off", &off_u);
	fprintf(f, "  \"pull_runs\": [");
	for (int i = 0; i < opt.pull_reps; i++)
		fprintf(f, "%s%.0f", i ? ", " : "", pulls[i].rate);
	fprintf(f,
		"],\n  \"pull\": {\"records\": %ld, \"pages\": %d, "
		"\"seconds\": %.3f, \"per_s\": %.0f, \"client_parse_s\": "
		"%.3f},\n",
		best.records, best.pages, best.seconds, best.rate,
		best.parse_s);
	fprintf(f,
		"  \"sse\": {\"connections\": %d, \"held\": %d, \"failed\": "
		"%d, \"pokes\": %d, \"samples\": %ld, \"missing\": %ld, "
		"\"p50_ms\": %.2f, \"p99_ms\": %.2f, \"max_ms\": %.2f, "
		"\"poke_push_ms\": %.2f},\n",
		opt.sse, sr.held, sr.failed, sr.pokes, sr.samples, sr.missing,
		sr.p50_ms, sr.p99_ms, sr.max_ms, sr.push_ms);
	fprintf(f,
		"  \"rss_kb\": {\"fresh\": %ld, \"idle_sessions\": %d, "
		"\"idle\": %ld, \"sse_sessions\": %d, \"sse\": %ld},\n",
		sr.rss_idle0_kb, opt.idle, sr.rss_idle_kb, sr.held,
		sr.rss_full_kb);
	fprintf(f, "  \"loadavg\": [%.2f, %.2f, %.2f]\n}\n", load[0], load[1],
		load[2]);
	fclose(f);
	for (int i = 0; i <= PUSHERS; i++) {
		curl_easy_cleanup(clients[i].h);
		curl_slist_free_all(clients[i].hdrs);
		tf_buf_free(&clients[i].resp);
		tf_sigkey_free(clients[i].key);
	}
	free(sse);
	curl_global_cleanup();
	fprintf(stderr, "bench_server: results in %s\n", opt.out);
	return 0;
}

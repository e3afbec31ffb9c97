/*
 * srv_harness.c - the real tenfourd under test: seeding, process control,
 * HTTP through libcurl, login and replica sync.  Contract: srv_harness.h.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#define _DEFAULT_SOURCE

#include "srv_harness.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TF_H_MAX_BODY ((size_t)64 * 1024 * 1024)
#define TF_H_SCHEMA_MAX ((size_t)1 << 20)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static atomic_uint_fast64_t uuid_counter;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int64_t tf_h_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tf_h_sleep_ms(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

void tf_h_resp_init(tf_h_resp *r)
{
	memset(r, 0, sizeof *r);
	tf_buf_init(&r->body);
}

void tf_h_resp_free(tf_h_resp *r)
{
	tf_buf_free(&r->body);
	tf_json_free(r->json);
	r->json = NULL;
	r->status = 0;
}

static const tf_json *get_va(const tf_json *v, va_list ap)
{
	const char *k;

	while (v && (k = va_arg(ap, const char *)) != NULL)
		v = v->type == TF_JSON_OBJECT ? tf_json_object_get(v, k) : NULL;
	return v;
}

const tf_json *tf_h_get(const tf_json *v, ...)
{
	va_list ap;

	va_start(ap, v);
	v = get_va(v, ap);
	va_end(ap);
	return v;
}

const char *tf_h_str(const tf_json *v, ...)
{
	const char *s;
	va_list ap;

	va_start(ap, v);
	v = get_va(v, ap);
	va_end(ap);
	s = v ? tf_json_str(v, NULL) : NULL;
	return s ? s : "";
}

int64_t tf_h_int(int64_t def, const tf_json *v, ...)
{
	int64_t x;
	va_list ap;

	va_start(ap, v);
	v = get_va(v, ap);
	va_end(ap);
	if (v == NULL || tf_json_int64(v, &x) != 0)
		return def;
	return x;
}

/* Reads a whole small file; NULL when missing or over max bytes. */
static char *read_small(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = malloc(max + 1);
	if (buf) {
		n = fread(buf, 1, max + 1, f);
		if (n > max || ferror(f)) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
			if (len)
				*len = n;
		}
	}
	fclose(f);
	return buf;
}

/* ------------------------------------------------------------- seeding */

static tf_admin_actor seed_actor(const char *agency)
{
	tf_admin_actor a;

	memset(&a, 0, sizeof a);
	a.agency = agency;
	a.user = "system";
	a.source = "local";
	a.where = "test harness";
	return a;
}

int tf_h_init(tf_h_server *h, const char *argv0, tf_err *err)
{
	char tmp[PATH_MAX], *dup = NULL, *schema = NULL;
	const char *env = getenv("TF_TENFOURD");
	size_t len = 0;
	int rc;

	memset(h, 0, sizeof *h);
	pthread_mutex_init(&h->mu, NULL);
	pthread_once(&curl_once, curl_init_once);
	if (env && *env) {
		snprintf(tmp, sizeof tmp, "%s", env);
	} else {
		dup = strdup(argv0);
		if (dup == NULL)
			return tf_err_set(err, TF_ENOMEM, "argv0", "no memory");
		snprintf(tmp, sizeof tmp, "%s/../../tenfourd", dirname(dup));
		free(dup);
	}
	if (realpath(tmp, h->exe) == NULL || access(h->exe, X_OK) != 0)
		return tf_err_set(err, TF_EIO, "TF_TENFOURD",
				  "tenfourd not found at %s (build it, or set "
				  "TF_TENFOURD)",
				  tmp);
	if (realpath(TF_H_SCHEMA_PATH, h->schema_path) == NULL)
		return tf_err_set(err, TF_EIO, "schema",
				  "%s not found (run from the repository "
				  "root)",
				  TF_H_SCHEMA_PATH);
	snprintf(h->dir, sizeof h->dir, "/tmp/tf-http-XXXXXX");
	if (mkdtemp(h->dir) == NULL) {
		h->dir[0] = '\0';
		return tf_err_set(err, TF_EIO, "dir", "mkdtemp: %s",
				  strerror(errno));
	}
	snprintf(h->db_path, sizeof h->db_path, "%s/tenfour.db", h->dir);
	snprintf(h->dsn, sizeof h->dsn, "sqlite:%s", h->db_path);
	snprintf(h->port_file, sizeof h->port_file, "%s/port", h->dir);
	snprintf(h->log_path, sizeof h->log_path, "%s/tenfourd.log", h->dir);

	schema = read_small(h->schema_path, TF_H_SCHEMA_MAX, &len);
	if (schema == NULL)
		return tf_err_set(err, TF_EIO, "schema", "cannot read %s",
				  h->schema_path);
	rc = tf_schema_load(schema, len, &h->schema, err);
	free(schema);
	if (rc)
		return rc;
	rc = tf_db_open(h->dsn, NULL, &h->db, err);
	if (rc)
		return rc;
	h->srv.db = h->db;
	h->srv.schema = h->schema;
	h->srv.max_skew_ms = TF_DEFAULT_MAX_SKEW_MS;
	h->srv.totp_window = 1;
	h->srv.pbkdf2_iter = TF_PBKDF2_MIN_ITER;
	h->srv.node = "tenfourd-test-seed";
	rc = tf_srv_init_identity(&h->srv, err);
	if (rc)
		return rc;
	h->srv_ready = 1;
	return 0;
}

int tf_h_agency(tf_h_server *h, const char *id, const char *name,
		tf_err *err)
{
	tf_admin_actor a = seed_actor(id);

	assert(h->srv_ready);
	return tf_admin_agency_init(&h->srv, &a, id, name, tf_h_now_ms(), err);
}

tf_h_user *tf_h_user_add(tf_h_server *h, const char *agency, const char *id,
			 const char *roles, const char *unit, tf_err *err)
{
	tf_admin_actor a = seed_actor(agency);
	char buf[256], *save = NULL, *tok;
	const char *rl[TF_POLICY_MAX_ROLES];
	char totp[TF_DB_TOTP_MAX + 1];
	size_t n = 0;
	tf_h_user *u;

	assert(h->srv_ready);
	if (h->nusers == TF_H_MAX_USERS) {
		tf_err_set(err, TF_ELIMIT, "users", "harness: too many users");
		return NULL;
	}
	u = &h->users[h->nusers];
	memset(u, 0, sizeof *u);
	snprintf(u->agency, sizeof u->agency, "%s", agency);
	snprintf(u->id, sizeof u->id, "%s", id);
	snprintf(u->password, sizeof u->password, "Blue-Heron-42-%s", id);
	snprintf(buf, sizeof buf, "%s", roles);
	for (tok = strtok_r(buf, ",", &save); tok && n < TF_POLICY_MAX_ROLES;
	     tok = strtok_r(NULL, ",", &save))
		rl[n++] = tok;
	totp[0] = '\0';
	if (tf_admin_user_add(&h->srv, &a, id, id, rl, n, unit, u->password,
			      tf_h_now_ms(), totp, err) != 0)
		return NULL;
	if (tf_b32_decode(totp, strlen(totp), u->totp_key, sizeof u->totp_key,
			  &u->totp_len) != 0 ||
	    u->totp_len == 0) {
		tf_err_set(err, TF_EINVAL, "totp",
			   "harness: user %s got no usable TOTP secret", id);
		return NULL;
	}
	h->nusers++;
	return u;
}

tf_h_device *tf_h_device_add(tf_h_server *h, const char *agency,
			     const char *id, tf_err *err)
{
	tf_admin_actor a = seed_actor(agency);
	uint8_t pub[TF_ED25519_PUB_LEN];
	char pubtxt[TF_DB_PUBKEY_MAX + 1];
	tf_h_device *d;

	assert(h->srv_ready);
	if (h->ndevices == TF_H_MAX_DEVICES) {
		tf_err_set(err, TF_ELIMIT, "devices",
			   "harness: too many devices");
		return NULL;
	}
	d = &h->devices[h->ndevices];
	memset(d, 0, sizeof *d);
	snprintf(d->agency, sizeof d->agency, "%s", agency);
	snprintf(d->id, sizeof d->id, "%s", id);
	d->next_seq = 1;
	if (tf_sigkey_generate(&d->key) != 0 ||
	    tf_sigkey_public(d->key, pub) != 0 ||
	    tf_b64url_encode(pub, sizeof pub, pubtxt, sizeof pubtxt) != 0) {
		tf_sigkey_free(d->key);
		d->key = NULL;
		tf_err_set(err, TF_EIO, "key", "harness: key for %s", id);
		return NULL;
	}
	if (tf_admin_device_enroll(&h->srv, &a, id, id, pubtxt, tf_h_now_ms(),
				   err) != 0) {
		tf_sigkey_free(d->key);
		d->key = NULL;
		return NULL;
	}
	h->ndevices++;
	return d;
}

int tf_h_device_enroll_pub(tf_h_server *h, const char *agency,
			   const char *id, const char *pub_b64, tf_err *err)
{
	tf_admin_actor a = seed_actor(agency);

	assert(h->srv_ready);
	return tf_admin_device_enroll(&h->srv, &a, id, id, pub_b64,
				      tf_h_now_ms(), err);
}

tf_h_user *tf_h_user_find(tf_h_server *h, const char *id)
{
	size_t i;

	for (i = 0; i < h->nusers; i++) {
		if (strcmp(h->users[i].id, id) == 0)
			return &h->users[i];
	}
	return NULL;
}

tf_h_device *tf_h_device_find(tf_h_server *h, const char *id)
{
	size_t i;

	for (i = 0; i < h->ndevices; i++) {
		if (strcmp(h->devices[i].id, id) == 0)
			return &h->devices[i];
	}
	return NULL;
}

void tf_h_seed_done(tf_h_server *h)
{
	if (h->srv_ready) {
		tf_srv_fini(&h->srv);
		h->srv_ready = 0;
	}
	if (h->db) {
		tf_db_close(h->db);
		h->db = NULL;
	}
}

/* ------------------------------------------------------------- process */

void tf_h_log_tail(const tf_h_server *h, size_t n)
{
	size_t len = 0;
	char *log = read_small(h->log_path, TF_H_MAX_BODY, &len);

	if (log == NULL)
		return;
	fprintf(stderr, "--- tenfourd log (%s), last bytes ---\n%s\n---\n",
		h->log_path, len > n ? log + len - n : log);
	free(log);
}

/* Port from the port file: the last run of digits (it may hold the port
   or host:port); 0 while not (completely) written. */
static int read_port(const char *path)
{
	char *txt = read_small(path, 256, NULL);
	long port = 0;
	char *p, *end;

	if (txt == NULL)
		return 0;
	for (p = txt + strlen(txt); p > txt && (p[-1] == '\n' || p[-1] == ' ');)
		p--;
	end = p;
	while (p > txt && p[-1] >= '0' && p[-1] <= '9')
		p--;
	if (p < end)
		port = strtol(p, NULL, 10);
	free(txt);
	return port > 0 && port < 65536 ? (int)port : 0;
}

static int reap(tf_h_server *h, int options, int *status)
{
	int st = 0;
	pid_t w;

	if (h->pid == 0)
		return 1;
	do
		w = waitpid(h->pid, &st, options);
	while (w < 0 && errno == EINTR);
	if (w == 0)
		return 0;
	if (status)
		*status = WIFEXITED(st) ? WEXITSTATUS(st)
			  : WIFSIGNALED(st) ? 128 + WTERMSIG(st)
					    : -1;
	h->pid = 0;
	return 1;
}

int tf_h_start(tf_h_server *h, tf_err *err)
{
	const char *argv[32];
	char base[64];
	pid_t parent = getpid(), pid;
	int64_t deadline;
	size_t n = 0, i;
	int logfd, devnull, port, st = 0;

	assert(h->pid == 0 && h->db == NULL);
	unlink(h->port_file);
	argv[n++] = h->exe;
	argv[n++] = "--data-dir";
	argv[n++] = h->dir;
	argv[n++] = "--db";
	argv[n++] = h->dsn;
	argv[n++] = "--schema";
	argv[n++] = h->schema_path;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--port-file";
	argv[n++] = h->port_file;
	for (i = 0; i < 8 && h->extra_args[i] && n < 31; i++)
		argv[n++] = h->extra_args[i];
	argv[n] = NULL;

	logfd = open(h->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		     0600);
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (logfd < 0 || devnull < 0) {
		if (logfd >= 0)
			close(logfd);
		if (devnull >= 0)
			close(devnull);
		return tf_err_set(err, TF_EIO, "log", "open %s: %s",
				  h->log_path, strerror(errno));
	}
	pid = fork();
	if (pid == 0) {
		/* Only async-signal-safe calls between fork and exec. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(126);
		dup2(devnull, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(logfd);
	close(devnull);
	if (pid < 0)
		return tf_err_set(err, TF_EIO, "fork", "fork: %s",
				  strerror(errno));
	h->pid = pid;
	h->starts++;

	deadline = tf_h_now_ms() + TF_H_START_WAIT_MS;
	while (tf_h_now_ms() < deadline) {
		if (reap(h, WNOHANG, &st)) {
			tf_h_log_tail(h, 3000);
			return tf_err_set(err, TF_EIO, "tenfourd",
					  "tenfourd exited with %d before it "
					  "was ready",
					  st);
		}
		port = read_port(h->port_file);
		if (port) {
			tf_h_resp r;
			int ok;

			snprintf(base, sizeof base, "http://127.0.0.1:%d",
				 port);
			pthread_mutex_lock(&h->mu);
			h->port = port;
			memcpy(h->base, base, sizeof base);
			pthread_mutex_unlock(&h->mu);
			tf_h_resp_init(&r);
			ok = tf_h_request(h, NULL, "GET", "/healthz", NULL, 0,
					  NULL, &r) == 0 &&
			     r.status == 200;
			tf_h_resp_free(&r);
			if (ok)
				return 0;
		}
		tf_h_sleep_ms(20);
	}
	tf_h_kill(h);
	tf_h_log_tail(h, 3000);
	return tf_err_set(err, TF_EIO, "tenfourd",
			  "tenfourd not ready within %d ms", TF_H_START_WAIT_MS);
}

int tf_h_kill(tf_h_server *h)
{
	if (h->pid == 0)
		return 0;
	kill(h->pid, SIGKILL);
	reap(h, 0, NULL);
	return 0;
}

int tf_h_stop(tf_h_server *h, int *status)
{
	int64_t deadline;

	if (status)
		*status = -1;
	if (h->pid == 0)
		return 0;
	kill(h->pid, SIGTERM);
	deadline = tf_h_now_ms() + TF_H_STOP_WAIT_MS;
	while (tf_h_now_ms() < deadline) {
		if (reap(h, WNOHANG, status))
			return 0;
		tf_h_sleep_ms(10);
	}
	tf_h_kill(h);
	return TF_EBUSY;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP || flag == FTW_D)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void tf_h_destroy(tf_h_server *h)
{
	size_t i;

	tf_h_kill(h);
	tf_h_seed_done(h);
	for (i = 0; i < h->ndevices; i++) {
		tf_sigkey_free(h->devices[i].key);
		h->devices[i].key = NULL;
	}
	tf_schema_free(h->schema);
	h->schema = NULL;
	if (h->dir[0] && getenv("TF_KEEP_DIRS") == NULL)
		nftw(h->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	h->dir[0] = '\0';
	pthread_mutex_destroy(&h->mu);
}

/* ---------------------------------------------------------------- HTTP */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	tf_buf *b = arg;

	if (b->len + size * n > TF_H_MAX_BODY)
		return 0;
	return tf_buf_append(b, p, size * n) == 0 ? size * n : 0;
}

int tf_h_request(tf_h_server *h, const tf_h_session *sess, const char *method,
		 const char *path, const char *body, size_t len,
		 const char *const *headers, tf_h_resp *r)
{
	char url[2048], base[64], line[TF_H_TOKEN_MAX + 64];
	struct curl_slist *hl = NULL;
	CURLcode cc;
	CURL *c;
	size_t i;

	tf_h_resp_free(r);
	tf_buf_reset(&r->body);
	pthread_mutex_lock(&h->mu);
	memcpy(base, h->base, sizeof base);
	pthread_mutex_unlock(&h->mu);
	if (base[0] == '\0')
		return TF_EIO;
	snprintf(url, sizeof url, "%s%s", base, path);
	c = curl_easy_init();
	if (c == NULL)
		return TF_ENOMEM;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)TF_H_HTTP_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
	/*
	 * No "Expect: 100-continue" round for ordinary bodies; an oversized
	 * one keeps it, so that a refusal made from the head (413) arrives
	 * before the body is sent instead of racing a connection the server
	 * closes mid-upload (whose reset can discard the reply).
	 */
	if (len <= TF_H_EXPECT_MIN)
		hl = curl_slist_append(hl, "Expect:");
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(body ? len : 0));
		hl = curl_slist_append(hl, "Content-Type: application/json");
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		if (body) {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t)len);
		}
	}
	if (sess) {
		snprintf(line, sizeof line, "Authorization: Bearer %s",
			 sess->token);
		hl = curl_slist_append(hl, line);
		snprintf(line, sizeof line, "X-Tenfour-Device: %s",
			 sess->device);
		hl = curl_slist_append(hl, line);
	}
	for (i = 0; headers && headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	cc = curl_easy_perform(c);
	/* A reply that arrived counts even when the upload was cut short
	   after it (the server refused the body and closed). */
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	if (cc != CURLE_OK && (cc != CURLE_SEND_ERROR || r->status == 0)) {
		r->status = 0;
		return TF_EIO;
	}
	if (r->body.len &&
	    tf_json_parse(r->body.data, r->body.len, NULL, &r->json, NULL) != 0)
		r->json = NULL;
	tf_buf_cstr(&r->body);
	return 0;
}

int tf_h_is_error(const tf_h_resp *r, long status, const char *code)
{
	const tf_json *f;

	if (r->status < 400 || r->status > 499 ||
	    (status && r->status != status) || r->json == NULL ||
	    r->json->type != TF_JSON_OBJECT)
		return 0;
	if (tf_json_get_str(r->json, "code", NULL) == NULL ||
	    tf_json_get_str(r->json, "message", NULL) == NULL)
		return 0;
	f = tf_json_object_get(r->json, "field");
	if (f && f->type != TF_JSON_STRING && f->type != TF_JSON_NULL)
		return 0;
	return code == NULL ||
	       strcmp(tf_json_get_str(r->json, "code", NULL), code) == 0;
}

/* --------------------------------------------------------------- login */

int64_t tf_h_banner_rev(tf_h_server *h, const char *agency)
{
	char path[128];
	tf_h_resp r;
	int64_t rev = 0;

	snprintf(path, sizeof path, "/v1/auth/banner?agency=%s", agency);
	tf_h_resp_init(&r);
	if (tf_h_request(h, NULL, "GET", path, NULL, 0, NULL, &r) == 0 &&
	    r.status == 200)
		rev = tf_h_int(0, r.json, "banner_rev", NULL);
	tf_h_resp_free(&r);
	return rev;
}

/*
 * The first TOTP step above the user's last accepted one that the server
 * takes now (its window reaches one step ahead): waits, bounded, while
 * that step is still in the future.
 */
static int64_t next_step(const tf_h_user *u)
{
	int64_t now_step = tf_h_now_ms() / 1000 / TF_TOTP_STEP_S, st;
	int guard;

	st = u->last_step + 1 > now_step ? u->last_step + 1 : now_step;
	for (guard = 0; guard < 400 && st > now_step + 1; guard++) {
		tf_h_sleep_ms(100);
		now_step = tf_h_now_ms() / 1000 / TF_TOTP_STEP_S;
	}
	return st;
}

int tf_h_totp_next(tf_h_user *u, char code[TF_TOTP_DIGITS + 1])
{
	int64_t st = next_step(u);

	if (tf_totp_code(u->totp_key, u->totp_len, st, code) != 0)
		return TF_EIO;
	u->last_step = st;
	return 0;
}

int tf_h_login_body(tf_h_server *h, tf_h_user *u, const tf_h_device *d,
		    const tf_h_login_opts *o, tf_buf *out, int64_t *step)
{
	static const tf_h_login_opts none;
	uint8_t sig[TF_ED25519_SIG_LEN];
	char msg[512], sigtxt[128], code[TF_TOTP_DIGITS + 1];
	const char *device;
	int64_t st, ts, banner;

	if (o == NULL)
		o = &none;
	device = o->device ? o->device : d->id;
	if (o->use_step_offset)
		st = tf_h_now_ms() / 1000 / TF_TOTP_STEP_S + o->step_offset;
	else
		st = next_step(u);
	if (tf_totp_code(u->totp_key, u->totp_len, st, code) != 0)
		return TF_EIO;
	banner = o->set_banner ? o->banner_rev : tf_h_banner_rev(h, u->agency);
	ts = tf_h_now_ms() + o->proof_ts_offset;
	snprintf(msg, sizeof msg, "tenfour-login\n%s\n%s\n%s\n%lld", u->agency,
		 u->id, device, (long long)ts);
	if (tf_sigkey_sign(o->sign_with ? o->sign_with : d->key, msg,
			   strlen(msg), sig) != 0 ||
	    tf_b64url_encode(sig, sizeof sig, sigtxt, sizeof sigtxt) != 0)
		return TF_EIO;
	tf_buf_reset(out);
	tf_buf_puts(out, "{\"agency\":");
	tf_json_write_string(out, u->agency, strlen(u->agency));
	tf_buf_printf(out, ",\"banner_rev\":%lld,\"device_id\":",
		      (long long)banner);
	tf_json_write_string(out, device, strlen(device));
	tf_buf_puts(out, ",\"password\":");
	tf_json_write_string(out, o->password ? o->password : u->password,
			     strlen(o->password ? o->password : u->password));
	tf_buf_printf(out, ",\"proof\":{\"sig\":\"%s\",\"ts\":%lld}", sigtxt,
		      (long long)ts);
	tf_buf_puts(out, ",\"totp\":");
	tf_json_write_string(out, o->totp ? o->totp : code,
			     strlen(o->totp ? o->totp : code));
	tf_buf_puts(out, ",\"user\":");
	tf_json_write_string(out, u->id, strlen(u->id));
	tf_buf_putc(out, '}');
	if (step)
		*step = st;
	return out->failed ? out->failed : 0;
}

int tf_h_login_opt(tf_h_server *h, tf_h_user *u, const tf_h_device *d,
		   const tf_h_login_opts *o, tf_h_session *s, tf_h_resp *r)
{
	tf_buf body;
	int64_t step = 0;
	int rc;

	tf_buf_init(&body);
	rc = tf_h_login_body(h, u, d, o, &body, &step);
	if (rc == 0)
		rc = tf_h_request(h, NULL, "POST", "/v1/auth/login", body.data,
				  body.len, NULL, r);
	tf_buf_free(&body);
	if (rc)
		return rc;
	/* The code was consumed when the login got past the TOTP check:
	   success, or a refusal of the banner (checked last). */
	if ((r->status == 200 ||
	     strcmp(tf_h_str(r->json, "field", NULL), "banner_rev") == 0) &&
	    (o == NULL || o->totp == NULL) && step > u->last_step)
		u->last_step = step;
	if (r->status == 200 && s) {
		memset(s, 0, sizeof *s);
		snprintf(s->agency, sizeof s->agency, "%s", u->agency);
		snprintf(s->user, sizeof s->user, "%s", u->id);
		snprintf(s->device, sizeof s->device, "%s",
			 o && o->device ? o->device : d->id);
		snprintf(s->token, sizeof s->token, "%s",
			 tf_h_str(r->json, "token", NULL));
		s->expires_at = tf_h_int(0, r->json, "expires_at", NULL);
	}
	return 0;
}

int tf_h_login(tf_h_server *h, const char *user, const char *device,
	       tf_h_session *s)
{
	tf_h_user *u = tf_h_user_find(h, user);
	tf_h_device *d = tf_h_device_find(h, device);
	tf_h_resp r;
	int rc;

	if (u == NULL || d == NULL) {
		fprintf(stderr, "harness: no user %s or device %s\n", user,
			device);
		return TF_ENOTFOUND;
	}
	tf_h_resp_init(&r);
	rc = tf_h_login_opt(h, u, d, NULL, s, &r);
	if (rc == 0 && (r.status != 200 || s->token[0] == '\0')) {
		fprintf(stderr, "harness: login %s on %s: HTTP %ld %s\n", user,
			device, r.status, tf_buf_cstr(&r.body));
		rc = TF_EAUTH;
	} else if (rc) {
		fprintf(stderr, "harness: login %s on %s: transport failed\n",
			user, device);
	}
	tf_h_resp_free(&r);
	return rc;
}

/* ------------------------------------------------------------- replica */

/* Percent-encodes s into out (unreserved characters kept). */
static void url_escape(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s && o + 4 < cap; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		    ch == '.' || ch == '~') {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
}

static int http_fail(tf_err *err, const char *what, const tf_h_resp *r)
{
	return tf_err_set(err, TF_EIO, what, "%s: HTTP %ld: %.160s", what,
			  r->status, r->body.len ? r->body.data : "");
}

int tf_h_push(tf_h_server *h, const tf_h_session *s, tf_replica *r,
	      int64_t now_ms, tf_h_resp *reply, tf_err *err)
{
	tf_h_resp own;
	tf_h_resp *rp = reply ? reply : &own;
	tf_buf req;
	int rc;

	tf_buf_init(&req);
	if (reply == NULL)
		tf_h_resp_init(&own);
	rc = tf_replica_push_request(r, 1000, &req);
	if (rc == 0) {
		rc = tf_h_request(h, s, "POST", "/v1/sync/push", req.data,
				  req.len, NULL, rp);
		if (rc || rp->status != 200)
			rc = http_fail(err, "push", rp);
	}
	if (rc == 0)
		rc = tf_replica_apply_push_reply(r, now_ms, rp->body.data,
						 rp->body.len, err);
	tf_buf_free(&req);
	if (reply == NULL)
		tf_h_resp_free(&own);
	return rc;
}

int tf_h_pull(tf_h_server *h, const tf_h_session *s, tf_replica *r,
	      int64_t now_ms, tf_err *err)
{
	char path[1024], esc[800];
	tf_pull_page page;
	tf_h_resp rp;
	int rc = 0, more = 1, guard;

	tf_h_resp_init(&rp);
	for (guard = 0; guard < 1000 && more; guard++) {
		url_escape(tf_replica_cursor(r), esc, sizeof esc);
		snprintf(path, sizeof path,
			 "/v1/sync/pull?cursor=%s&limit=1000", esc);
		rc = tf_h_request(h, s, "GET", path, NULL, 0, NULL, &rp);
		if (rc || rp.status != 200) {
			rc = http_fail(err, "pull", &rp);
			break;
		}
		rc = tf_pull_page_decode(rp.body.data, rp.body.len, h->schema,
					 NULL, &page, err);
		if (rc)
			break;
		more = page.has_more;
		tf_pull_page_clear(&page);
		rc = tf_replica_apply_pull(r, now_ms, rp.body.data, rp.body.len,
					   err);
		if (rc)
			break;
	}
	if (rc == 0 && more)
		rc = tf_err_set(err, TF_ELIMIT, "pull",
				"pull: still has_more after %d pages", guard);
	tf_h_resp_free(&rp);
	return rc;
}

int tf_h_sync(tf_h_server *h, const tf_h_session *s, tf_replica *r,
	      int64_t now_ms, tf_err *err)
{
	size_t before, stalled = 0;
	int guard, rc;

	for (guard = 0; guard < 1000 && tf_replica_unsent(r) > 0; guard++) {
		before = tf_replica_unsent(r);
		rc = tf_h_push(h, s, r, now_ms, NULL, err);
		if (rc)
			return rc;
		if (tf_replica_unsent(r) < before)
			stalled = 0;
		else if (++stalled > 3)
			break;
	}
	return tf_h_pull(h, s, r, now_ms, err);
}

/* ---------------------------------------------------------------- raw */

void tf_h_uuid(int64_t now_ms, char out[TF_UUID_LEN + 1])
{
	uint64_t n = atomic_fetch_add(&uuid_counter, 1) + 1;
	uint8_t rnd[10];
	int i;

	rnd[0] = (uint8_t)(getpid() & 0xff);
	rnd[1] = (uint8_t)((getpid() >> 8) & 0xff);
	for (i = 0; i < 8; i++)
		rnd[9 - i] = (uint8_t)(n >> (8 * i));
	tf_uuid7(now_ms, rnd, out);
}

int tf_h_cmd(tf_h_server *h, const tf_h_session *s, int64_t hlc_ms,
	     const char *entity, const char *record_id, const char *op,
	     const char *args, tf_json **result,
	     char cmd_id[TF_UUID_LEN + 1], tf_h_resp *r)
{
	tf_h_device *d = tf_h_device_find(h, s->device);
	tf_push_request req;
	tf_command c;
	tf_h_resp own;
	tf_h_resp *rp = r ? r : &own;
	const tf_json *res;
	tf_buf body;
	uint64_t ack;
	int rc = TF_EIO;

	*result = NULL;
	memset(&c, 0, sizeof c);
	tf_buf_init(&body);
	if (r == NULL)
		tf_h_resp_init(&own);
	if (d == NULL || tf_op_parse(op, &c.op) != 0 ||
	    tf_json_parse(args, strlen(args), NULL, &c.args, NULL) != 0) {
		fprintf(stderr, "harness: tf_h_cmd: bad device, op or args\n");
		goto out;
	}
	pthread_mutex_lock(&h->mu);
	c.seq = d->next_seq;
	pthread_mutex_unlock(&h->mu);
	tf_h_uuid(hlc_ms, c.cmd_id);
	c.hlc = TF_HLC_MAKE(hlc_ms, 0);
	snprintf(c.device, sizeof c.device, "%s", s->device);
	snprintf(c.user, sizeof c.user, "%s", s->user);
	snprintf(c.entity, sizeof c.entity, "%s", entity);
	snprintf(c.record_id, sizeof c.record_id, "%s", record_id);
	memset(&req, 0, sizeof req);
	req.schema_version = h->schema->version;
	snprintf(req.device, sizeof req.device, "%s", s->device);
	req.commands = &c;
	req.ncommands = 1;
	if (tf_push_request_encode(&req, &body) != 0)
		goto out;
	if (tf_h_request(h, s, "POST", "/v1/sync/push", body.data, body.len,
			 NULL, rp) != 0 ||
	    rp->status != 200) {
		fprintf(stderr, "harness: push %s %s: HTTP %ld %.300s\n", op,
			entity, rp->status, tf_buf_cstr(&rp->body));
		goto out;
	}
	/* The ledger holds everything up to ack: continue after it (a
	   clock_skew leaves the seq free for the re-stamped command). */
	if (tf_json_uint64(tf_h_get(rp->json, "ack", NULL), &ack) == 0) {
		pthread_mutex_lock(&h->mu);
		d->next_seq = ack + 1;
		pthread_mutex_unlock(&h->mu);
	}
	res = tf_h_get(rp->json, "results", NULL);
	if (res == NULL || res->type != TF_JSON_ARRAY || res->len != 1) {
		fprintf(stderr, "harness: push %s %s: %.300s\n", op, entity,
			tf_buf_cstr(&rp->body));
		goto out;
	}
	*result = tf_json_clone(res->u.items[0]);
	if (cmd_id)
		memcpy(cmd_id, c.cmd_id, TF_UUID_LEN + 1);
	rc = *result ? 0 : TF_ENOMEM;
out:
	tf_json_free(c.args);
	tf_buf_free(&body);
	if (r == NULL)
		tf_h_resp_free(&own);
	return rc;
}

const tf_json *tf_h_find_record(const tf_json *records, const char *id)
{
	size_t i;

	for (i = 0; records && i < records->len; i++) {
		const char *rid = tf_record_id(records->u.items[i]);
		if (rid && strcmp(rid, id) == 0)
			return records->u.items[i];
	}
	return NULL;
}

int tf_h_pull_all(tf_h_server *h, const tf_h_session *s, const char *cursor,
		  tf_json **records, tf_json **purged, char *cursor_out,
		  int *reset, tf_h_resp *r)
{
	char cur[300], esc[900], path[1100];
	tf_h_resp own;
	tf_h_resp *rp = r ? r : &own;
	tf_json *recs = tf_json_array(), *pur = tf_json_array();
	const tf_json *v;
	int rc = 0, more = 1, guard;
	size_t i, j;

	*records = NULL;
	if (purged)
		*purged = NULL;
	if (reset)
		*reset = 0;
	if (r == NULL)
		tf_h_resp_init(&own);
	snprintf(cur, sizeof cur, "%s", cursor ? cursor : "");
	if (recs == NULL || pur == NULL) {
		rc = TF_ENOMEM;
		goto out;
	}
	for (guard = 0; guard < 1000 && more; guard++) {
		url_escape(cur, esc, sizeof esc);
		snprintf(path, sizeof path,
			 "/v1/sync/pull?cursor=%s&limit=1000", esc);
		if (tf_h_request(h, s, "GET", path, NULL, 0, NULL, rp) != 0 ||
		    rp->status != 200 || rp->json == NULL) {
			rc = TF_EIO;
			goto out;
		}
		if (reset && tf_json_is_bool(tf_h_get(rp->json, "reset", NULL)) &&
		    tf_h_get(rp->json, "reset", NULL)->type == TF_JSON_TRUE)
			*reset = 1;
		more = tf_h_get(rp->json, "has_more", NULL) &&
		       tf_h_get(rp->json, "has_more", NULL)->type ==
			       TF_JSON_TRUE;
		snprintf(cur, sizeof cur, "%s",
			 tf_h_str(rp->json, "cursor", NULL));
		v = tf_h_get(rp->json, "records", NULL);
		for (i = 0; v && v->type == TF_JSON_ARRAY && i < v->len; i++) {
			const char *id = tf_record_id(v->u.items[i]);
			for (j = 0; id && j < recs->len; j++) {
				if (strcmp(tf_record_id(recs->u.items[j]),
					   id) == 0) {
					tf_json_free(tf_json_array_remove(recs,
									  j));
					break;
				}
			}
			if (tf_json_array_push(recs,
					       tf_json_clone(v->u.items[i])))
				rc = TF_ENOMEM;
		}
		v = tf_h_get(rp->json, "purged", NULL);
		for (i = 0; v && v->type == TF_JSON_ARRAY && i < v->len; i++) {
			if (tf_json_array_push(pur,
					       tf_json_clone(v->u.items[i])))
				rc = TF_ENOMEM;
		}
		if (rc)
			goto out;
	}
	if (more)
		rc = TF_ELIMIT;
out:
	if (rc == 0) {
		*records = recs;
		recs = NULL;
		if (purged) {
			*purged = pur;
			pur = NULL;
		}
		if (cursor_out)
			snprintf(cursor_out, 257, "%.256s", cur);
	}
	tf_json_free(recs);
	tf_json_free(pur);
	if (r == NULL)
		tf_h_resp_free(&own);
	return rc;
}

int tf_h_audit_all(tf_h_server *h, const tf_h_session *s, tf_json **out)
{
	tf_json *all = tf_json_array(), *e;
	uint64_t from = 1;
	char path[96];
	tf_h_resp r;
	int rc = 0, guard;

	*out = NULL;
	if (all == NULL)
		return TF_ENOMEM;
	tf_h_resp_init(&r);
	for (guard = 0; guard < 1000; guard++) {
		const char *p, *nl;
		size_t lines = 0;
		snprintf(path, sizeof path,
			 "/v1/audit/export?from=%llu&limit=10000",
			 (unsigned long long)from);
		if (tf_h_request(h, s, "GET", path, NULL, 0, NULL, &r) != 0 ||
		    r.status != 200) {
			fprintf(stderr, "harness: audit export: HTTP %ld %.200s\n",
				r.status, tf_buf_cstr(&r.body));
			rc = TF_EIO;
			break;
		}
		for (p = tf_buf_cstr(&r.body); *p; p = nl + 1) {
			uint64_t seq = 0;
			nl = strchr(p, '\n');
			if (nl == NULL)
				nl = p + strlen(p);
			if (nl == p) {
				if (*nl == '\0')
					break;
				continue;
			}
			e = NULL;
			if (tf_json_parse(p, (size_t)(nl - p), NULL, &e,
					  NULL) != 0 ||
			    tf_json_uint64(tf_h_get(e, "seq", NULL), &seq) !=
				    0 ||
			    tf_json_array_push(all, e) != 0) {
				tf_json_free(e);
				rc = TF_EIO;
				break;
			}
			lines++;
			if (seq >= from)
				from = seq + 1;
			if (*nl == '\0')
				break;
		}
		if (rc || lines < 10000)
			break;
	}
	tf_h_resp_free(&r);
	if (rc) {
		tf_json_free(all);
		return rc;
	}
	*out = all;
	return 0;
}

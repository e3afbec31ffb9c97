/*
 * srv_harness.h - runs the real tenfourd for the HTTP suites
 * (tests/server/test_http_*.c): a temp data dir seeded in-process through
 * the admin services (agencies, users with known passwords and TOTP
 * secrets, devices with Ed25519 keys made here), the daemon spawned on
 * 127.0.0.1 with a random port, libcurl requests with a timeout on every
 * call, the login of ARCHITECTURE.md section 4 (banner, device proof,
 * TOTP without replay), kill -9 / SIGTERM / restart on the same data dir,
 * and a sync helper that moves a core replica's bytes over HTTP.
 *
 * Every wait is bounded in count and time.  The daemon is found through
 * $TF_TENFOURD, else <dir of argv[0]>/../../tenfourd (the test binaries
 * live in $(BUILD)/tests/server/).  Tests run from the repository root
 * (schemas/cad.json).
 *
 * Threads: tf_h_request, tf_h_push_raw and the session helpers may run on
 * several threads at once (each request has its own curl handle); seeding,
 * start, stop, kill and destroy belong to the thread that called
 * tf_h_init, which must outlive the daemon (the child is killed when that
 * thread exits: PR_SET_PDEATHSIG).
 */
#ifndef TF_SRV_HARNESS_H
#define TF_SRV_HARNESS_H

#include <limits.h>
#include <pthread.h>
#include <sys/types.h>

#include "server/server.h"
#include "tenfour/replica.h"

#define TF_H_MAX_USERS 32
#define TF_H_MAX_DEVICES 40
#define TF_H_PATH_MAX 512
#define TF_H_TOKEN_MAX 128
#define TF_H_SCHEMA_PATH "schemas/cad.json"
/* Bounds of the waits (ms): daemon ready, daemon exit, one HTTP call. */
#define TF_H_START_WAIT_MS 15000
#define TF_H_STOP_WAIT_MS 30000
#define TF_H_HTTP_TIMEOUT_MS 30000
/* Bodies above this go with "Expect: 100-continue" (see tf_h_request). */
#define TF_H_EXPECT_MIN ((size_t)1024 * 1024)

typedef struct tf_h_user {
	char agency[TF_ID_MAX + 1];
	char id[TF_ID_MAX + 1];
	char password[64];
	uint8_t totp_key[64];
	size_t totp_len;
	/* The last TOTP step a login got accepted: the server refuses a
	   step at or below it (replay). */
	int64_t last_step;
} tf_h_user;

typedef struct tf_h_device {
	char agency[TF_ID_MAX + 1];
	char id[TF_ID_MAX + 1];
	tf_sigkey *key; /* owned */
	uint64_t next_seq; /* tf_h_cmd's counter (raw pushes), from 1 */
} tf_h_device;

typedef struct tf_h_server {
	char dir[TF_H_PATH_MAX];     /* temp data dir (removed at destroy) */
	char dsn[TF_H_PATH_MAX + 32]; /* "sqlite:<dir>/tenfour.db" */
	char db_path[TF_H_PATH_MAX + 16];
	char port_file[TF_H_PATH_MAX + 16];
	char log_path[TF_H_PATH_MAX + 16]; /* the daemon's stderr */
	char exe[PATH_MAX];         /* realpath() needs PATH_MAX bytes */
	char schema_path[PATH_MAX];
	tf_schema *schema; /* schemas/cad.json, for replicas and commands */

	/* Seeding (between tf_h_init and tf_h_seed_done). */
	tf_db *db;
	tf_srv srv;
	int srv_ready;

	tf_h_user users[TF_H_MAX_USERS];
	size_t nusers;
	tf_h_device devices[TF_H_MAX_DEVICES];
	size_t ndevices;

	/* The running daemon. */
	pid_t pid; /* 0: not running */
	int starts;
	const char *extra_args[8]; /* more flags for every start, NULL-ended */
	pthread_mutex_t mu;        /* guards port and base for other threads */
	int port;
	char base[64]; /* "http://127.0.0.1:<port>" */
} tf_h_server;

/* A reply: status (0 when the transport failed), body, parsed JSON body
   (NULL when the body is not one JSON document). */
typedef struct tf_h_resp {
	long status;
	tf_buf body;
	tf_json *json;
} tf_h_resp;

void tf_h_resp_init(tf_h_resp *r);
void tf_h_resp_free(tf_h_resp *r);
/* Member path of r->json: tf_h_get(r->json, "user", "id", NULL). */
const tf_json *tf_h_get(const tf_json *v, ...);
/* String at a path, or "" (never NULL). */
const char *tf_h_str(const tf_json *v, ...);
/* Integer at a path, or def. */
int64_t tf_h_int(int64_t def, const tf_json *v, ...);

/* A logged-in session: token bound to device. */
typedef struct tf_h_session {
	char agency[TF_ID_MAX + 1];
	char user[TF_ID_MAX + 1];
	char device[TF_ID_MAX + 1];
	char token[TF_H_TOKEN_MAX];
	int64_t expires_at;
} tf_h_session;

/* Wall clock in ms since the epoch (the harness reads clocks; the core
   never does). */
int64_t tf_h_now_ms(void);
void tf_h_sleep_ms(int64_t ms);

/*
 * Makes the temp data dir, loads the schema, opens the database at
 * <dir>/tenfour.db and loads the server identity, ready for seeding.
 * argv0 locates the daemon.  On error the harness is left destroyed-safe
 * (tf_h_destroy may be called).
 */
int tf_h_init(tf_h_server *h, const char *argv0, tf_err *err);
/* Seeding, in-process, before the daemon starts. */
int tf_h_agency(tf_h_server *h, const char *id, const char *name,
		tf_err *err);
/* roles: comma-separated ("officer" or "dispatcher,supervisor").  The
   password is fixed per user id; the TOTP secret is the one the admin
   service made.  Returns the user (owned by h) or NULL. */
tf_h_user *tf_h_user_add(tf_h_server *h, const char *agency, const char *id,
			 const char *roles, const char *unit, tf_err *err);
/* A device with a fresh Ed25519 key, enrolled. */
tf_h_device *tf_h_device_add(tf_h_server *h, const char *agency,
			     const char *id, tf_err *err);
/*
 * Enrolls a device whose key lives elsewhere (a native client's identity:
 * tf_client_enroll's public key, base64url).  Not listed in h->devices.
 */
int tf_h_device_enroll_pub(tf_h_server *h, const char *agency,
			   const char *id, const char *pub_b64, tf_err *err);
tf_h_user *tf_h_user_find(tf_h_server *h, const char *id);
tf_h_device *tf_h_device_find(tf_h_server *h, const char *id);
/* Closes the seeding database (the daemon then owns the file). */
void tf_h_seed_done(tf_h_server *h);

/*
 * Starts the daemon on the data dir and waits (bounded) for its port
 * file.  Fails with TF_EIO when it exits or stays silent; the tail of its
 * log goes to stderr then.
 */
int tf_h_start(tf_h_server *h, tf_err *err);
/* SIGKILL and reap. */
int tf_h_kill(tf_h_server *h);
/* SIGTERM and wait (bounded; SIGKILL after it).  *status (may be NULL)
   gets the exit code, or 128+signal. */
int tf_h_stop(tf_h_server *h, int *status);
/* Kills the daemon if running, frees keys and the schema, removes the
   data dir.  Safe on a harness that failed to init. */
void tf_h_destroy(tf_h_server *h);
/* Prints the last n bytes of the daemon's log to stderr. */
void tf_h_log_tail(const tf_h_server *h, size_t n);

/*
 * One HTTP request.  sess (may be NULL) adds the bearer token and the
 * device header; headers (may be NULL) is a NULL-ended list of extra
 * "Name: value" lines.  Returns 0 when a reply arrived (any status),
 * TF_EIO when the transport failed (r->status 0).
 */
int tf_h_request(tf_h_server *h, const tf_h_session *sess, const char *method,
		 const char *path, const char *body, size_t len,
		 const char *const *headers, tf_h_resp *r);

/* Login body knobs; zero-initialised = a correct login. */
typedef struct tf_h_login_opts {
	const char *password;   /* override */
	const char *totp;       /* override the code */
	int64_t step_offset;    /* use now_step + offset (no replay check) */
	int use_step_offset;
	int64_t banner_rev;     /* override when set_banner */
	int set_banner;
	int64_t proof_ts_offset; /* ms added to the proof's ts */
	const tf_sigkey *sign_with; /* another key for the proof */
	const char *device;     /* another device id in the body */
} tf_h_login_opts;

/*
 * The next TOTP code of u the server will accept (a step above the last
 * one used; waits, bounded, up to one step when needed) and marks it used.
 * For logins made by a client under test rather than by the harness.
 */
int tf_h_totp_next(tf_h_user *u, char code[TF_TOTP_DIGITS + 1]);

/* The agency's banner_rev from GET /v1/auth/banner (0 on failure). */
int64_t tf_h_banner_rev(tf_h_server *h, const char *agency);
/*
 * Builds the login body for u on d with the knobs; *step gets the TOTP
 * step used (may be NULL).  Waits (at most one step) when the next
 * unused step is not yet inside the server's window.
 */
int tf_h_login_body(tf_h_server *h, tf_h_user *u, const tf_h_device *d,
		    const tf_h_login_opts *o, tf_buf *out, int64_t *step);
/*
 * POST /v1/auth/login with the body above; r gets the reply.  A reply
 * that got past the TOTP check (200, or a refusal of banner_rev, the
 * last check) advances u->last_step.  On 200 with s non-NULL, s is
 * filled.
 */
int tf_h_login_opt(tf_h_server *h, tf_h_user *u, const tf_h_device *d,
		   const tf_h_login_opts *o, tf_h_session *s, tf_h_resp *r);
/* A correct login; 0 on 200, else TF_EAUTH (reply printed to stderr). */
int tf_h_login(tf_h_server *h, const char *user, const char *device,
	       tf_h_session *s);

/*
 * Replica over HTTP.  tf_h_push sends one push request of the replica's
 * unsent commands and applies the reply (reply, may be NULL, keeps it);
 * tf_h_pull pulls pages until has_more is false; tf_h_sync pushes until
 * nothing is left to send (a clock_skew re-stamp is sent again; at most
 * a few rounds without progress), then pulls.  now_ms is the device's
 * clock.  Errors: TF_EIO for transport/HTTP failures (err says which
 * status and body), the replica's errors otherwise.
 */
int tf_h_push(tf_h_server *h, const tf_h_session *s, tf_replica *r,
	      int64_t now_ms, tf_h_resp *reply, tf_err *err);
int tf_h_pull(tf_h_server *h, const tf_h_session *s, tf_replica *r,
	      int64_t now_ms, tf_err *err);
int tf_h_sync(tf_h_server *h, const tf_h_session *s, tf_replica *r,
	      int64_t now_ms, tf_err *err);

/*
 * A raw command from the device of session s (seq from the device's
 * counter in h, cmd_id from now_ms and a counter, hlc = now_ms), pushed
 * alone.  args is JSON text.  The reply's single result (a clone) goes
 * to *result (caller frees); *cmd_id (may be NULL) gets the id.  Returns
 * 0 when the push returned 200 with one result, else TF_EIO with the
 * reply in r (may be NULL).
 */
int tf_h_cmd(tf_h_server *h, const tf_h_session *s, int64_t hlc_ms,
	     const char *entity, const char *record_id, const char *op,
	     const char *args, tf_json **result,
	     char cmd_id[TF_UUID_LEN + 1], tf_h_resp *r);
/* A fresh UUIDv7 (record ids for creates), unique within the process. */
void tf_h_uuid(int64_t now_ms, char out[TF_UUID_LEN + 1]);

/*
 * Full pull of everything the session may see, from "" (or from cursor,
 * may be NULL), following has_more: *records gets an array of record
 * states, *purged (may be NULL) an array of ids, cursor_out (may be NULL,
 * 257 bytes) the last cursor, *reset (may be NULL) whether any page said
 * reset.  TF_EIO on any non-200 (then r holds the reply, may be NULL).
 */
int tf_h_pull_all(tf_h_server *h, const tf_h_session *s, const char *cursor,
		  tf_json **records, tf_json **purged, char *cursor_out,
		  int *reset, tf_h_resp *r);
/*
 * The whole server audit log through GET /v1/audit/export (pages of
 * 10,000 from seq 1), as an array of parsed entries (*out, caller frees).
 * TF_EIO on a non-200 reply or a line that is not JSON.
 */
int tf_h_audit_all(tf_h_server *h, const tf_h_session *s, tf_json **out);

/* The record with this id in an array of record states, or NULL. */
const tf_json *tf_h_find_record(const tf_json *records, const char *id);

/* 1 when r is a 4xx with a JSON body {code, message, field} (field may be
   absent or a string), and the code equals `code` when code is non-NULL. */
int tf_h_is_error(const tf_h_resp *r, long status, const char *code);

#endif

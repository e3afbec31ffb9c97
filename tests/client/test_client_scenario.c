/*
 * test_client_scenario.c - the patrol-car scenario of DOMAIN.md with the
 * real `tenfour` CLI: Alvarez (unit 2A12, home A, clock 40 s fast)
 * reaches tenfourd through the fault proxy, whose link goes down for
 * minutes 4 to 12 while he works offline through the CLI; Brooks (2A14,
 * home B) runs the CLI through a second proxy left in pass mode;
 * dispatcher Dana, supervisor Ortiz, the auditor and the CAD bridge are
 * core replicas over srv_harness, as in tests/server/test_http_scenario.c,
 * whose structure and expected outcomes this file follows.
 *
 * Time.  The scenario's minutes are clock readings, not sleeps.  Dana's
 * replica is stamped with simulated times; each CLI run gets
 * TENFOUR_CLOCK_OFFSET_MS = (scenario time + the device's error) - now,
 * so the CLI's wall clock reads the scenario time (Alvarez's 40 s fast,
 * Brooks's right).  Three rules bound the timeline: a CLI's clock may
 * only move forward (the grant's rollback guard), a login proof must lie
 * within 5 minutes of the server's clock, and the server refuses stamps
 * more than 60 s ahead of its own.  So minute 0 (T0) is set 9:50
 * before the officers log in, first thing; they log in at minutes 5:20
 * (Brooks) and 4:40 (Alvarez, his clock reading 5:20), about 4:30 behind
 * the server, go en route and on scene after Dana's minute 0, and
 * the link drops at minute 4:50; the offline work runs on Alvarez's clock
 * from 5:40 to 10:45, and the reconnect comes at about minute 10 of the
 * server's real clock (DOMAIN.md says 12), when every offline stamp is in
 * the server's past or within its 60 s: nothing is re-stamped.
 *
 * The CLI is found beside the test binary ($(BUILD)/tenfour) or through
 * $TF_TENFOUR; each run is bounded (CLI_WAIT_MS) and killed past it.
 */
#define _GNU_SOURCE /* pipe2 */

#include "fault_proxy.h"
#include "srv_harness.h"
#include "tf_test.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto/crypto.h"

/* Ends the member paths of tf_h_get/str/int (a typed null pointer). */
#define END ((const char *)NULL)
#define MIN 60000LL
#define SKEW 40000LL /* 2A12's clock runs 40 s fast */
#define CLI_WAIT_MS 120000
#define CLI_OUT_MAX ((size_t)16 * 1024 * 1024)

extern char **environ;

/* ------------------------------------------------------------- the CLI */

typedef struct cli_dev {
	const char *user;
	const char *device;
	const char *unit;
	char home[TF_H_PATH_MAX];
	char url[64];
	int64_t skew;	   /* the device clock's error (ms) */
	int64_t last_dev;  /* the device time of the last run */
	const char *pin;
	const char *editor; /* $EDITOR for the next run, or NULL */
} cli_dev;

static char cli_exe[PATH_MAX];

/* The CLI beside the test binary ($(BUILD)/tests/client/ -> $(BUILD)). */
static int cli_find(const char *argv0)
{
	char tmp[PATH_MAX], *dup;
	const char *env = getenv("TF_TENFOUR");

	if (env && *env) {
		snprintf(tmp, sizeof tmp, "%s", env);
	} else {
		dup = strdup(argv0);
		if (dup == NULL)
			return -1;
		snprintf(tmp, sizeof tmp, "%s/../../tenfour", dirname(dup));
		free(dup);
	}
	if (realpath(tmp, cli_exe) == NULL || access(cli_exe, X_OK) != 0) {
		fprintf(stderr, "tenfour CLI not found at %s (build it, or set "
				"TF_TENFOUR)\n",
			tmp);
		return -1;
	}
	return 0;
}

static int read_file_buf(const char *path, tf_buf *out)
{
	char chunk[65536];
	size_t n;
	FILE *f = fopen(path, "rb");

	tf_buf_reset(out);
	if (f == NULL)
		return -1;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 &&
	       out->len + n <= CLI_OUT_MAX)
		tf_buf_append(out, chunk, n);
	fclose(f);
	tf_buf_cstr(out);
	return 0;
}

/* A pipe whose read end holds `text` (small: fits the pipe buffer). */
static int secret_pipe(const char *text)
{
	int p[2];
	size_t len = strlen(text);

	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	if (write(p[1], text, len) != (ssize_t)len) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	close(p[1]);
	return p[0];
}

/*
 * Starts `tenfour --home H --server URL --json --pin-fd 3 ARGS...` with
 * the device's clock at scenario time `at` (+ its error; never before
 * the previous run's), fd 3 reading the PIN, fd 4 `fd4` (may be NULL),
 * stdout and stderr to files in the home.  Returns the pid or -1.
 */
static pid_t cli_spawn(cli_dev *d, int64_t at, const char *fd4,
		       const char *const *args)
{
	const char *argv[64];
	char *envp[256], offset[64], editor[1200], pinline[64];
	char outp[TF_H_PATH_MAX + 16], errp[TF_H_PATH_MAX + 16];
	int64_t dev, now;
	size_t n = 0, e = 0, i;
	int pin_fd, fd4_fd = -1, ofd, efd;
	pid_t parent = getpid(), pid;

	now = tf_h_now_ms();
	dev = at ? at + d->skew : now + d->skew;
	if (dev < d->last_dev)
		dev = d->last_dev;
	d->last_dev = dev;
	snprintf(offset, sizeof offset, "TENFOUR_CLOCK_OFFSET_MS=%lld",
		 (long long)(dev - now));
	argv[n++] = cli_exe;
	argv[n++] = "--home";
	argv[n++] = d->home;
	argv[n++] = "--server";
	argv[n++] = d->url;
	argv[n++] = "--json";
	argv[n++] = "--pin-fd";
	argv[n++] = "3";
	for (i = 0; args[i] && n < 63; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	for (i = 0; environ[i] && e < 250; i++) {
		if (strncmp(environ[i], "TENFOUR_", 8) == 0 ||
		    strncmp(environ[i], "EDITOR=", 7) == 0 ||
		    strncmp(environ[i], "VISUAL=", 7) == 0)
			continue;
		envp[e++] = environ[i];
	}
	envp[e++] = offset;
	if (d->editor) {
		snprintf(editor, sizeof editor, "EDITOR=%s", d->editor);
		envp[e++] = editor;
	}
	envp[e] = NULL;
	snprintf(pinline, sizeof pinline, "%s\n", d->pin);
	snprintf(outp, sizeof outp, "%s.out", d->home);
	snprintf(errp, sizeof errp, "%s.err", d->home);
	pin_fd = secret_pipe(pinline);
	if (fd4)
		fd4_fd = secret_pipe(fd4);
	ofd = open(outp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	efd = open(errp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (pin_fd < 0 || ofd < 0 || efd < 0 || (fd4 && fd4_fd < 0)) {
		pid = -1;
		goto out;
	}
	pid = fork();
	if (pid == 0) {
		/* Async-signal-safe calls only until exec. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(126);
		/* Through fds above 10 first: a source may already sit on a
		   target number (dup2 onto itself keeps close-on-exec). */
		ofd = fcntl(ofd, F_DUPFD, 10);
		efd = fcntl(efd, F_DUPFD, 10);
		pin_fd = fcntl(pin_fd, F_DUPFD, 10);
		if (fd4_fd >= 0)
			fd4_fd = fcntl(fd4_fd, F_DUPFD, 10);
		dup2(ofd, 1);
		dup2(efd, 2);
		dup2(pin_fd, 3);
		if (fd4_fd >= 0)
			dup2(fd4_fd, 4);
		execve(cli_exe, (char *const *)argv, envp);
		_exit(127);
	}
out:
	if (pin_fd >= 0)
		close(pin_fd);
	if (fd4_fd >= 0)
		close(fd4_fd);
	if (ofd >= 0)
		close(ofd);
	if (efd >= 0)
		close(efd);
	return pid;
}

/* Waits (bounded; SIGKILL past it) and returns the exit status, or
   128 + signal. */
static int cli_wait(pid_t pid)
{
	int64_t deadline = tf_h_now_ms() + CLI_WAIT_MS;
	int st = 0;
	pid_t w;

	if (pid <= 0)
		return -1;
	for (;;) {
		w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return -1;
		if (tf_h_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			fprintf(stderr, "tenfour did not exit within %d ms\n",
				CLI_WAIT_MS);
			break;
		}
		tf_h_sleep_ms(5);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st)
	       : WIFSIGNALED(st) ? 128 + WTERMSIG(st)
				 : -1;
}

/*
 * One CLI run (see cli_spawn); *out (may be NULL) gets stdout parsed as
 * JSON (NULL when it is not).  Returns the exit status.  A run whose
 * status is not `expect` (-1: any) prints its output.
 */
static int cli_run(cli_dev *d, int64_t at, const char *fd4, tf_json **out,
		   int expect, const char *const *args)
{
	char path[TF_H_PATH_MAX + 16];
	tf_buf b;
	int code;
	size_t i;

	if (out)
		*out = NULL;
	code = cli_wait(cli_spawn(d, at, fd4, args));
	tf_buf_init(&b);
	snprintf(path, sizeof path, "%s.out", d->home);
	if (read_file_buf(path, &b) == 0 && out && b.len &&
	    tf_json_parse(b.data, b.len, NULL, out, NULL) != 0)
		*out = NULL;
	if ((code != expect && expect != -1) || getenv("TF_CLI_TRACE")) {
		fprintf(stderr, "[%lld] tenfour (%s, clock %+lld s):",
			(long long)(tf_h_now_ms() % 1000000), d->user,
			(long long)(d->last_dev - tf_h_now_ms()) / 1000);
		for (i = 0; args[i]; i++)
			fprintf(stderr, " %s", args[i]);
		fprintf(stderr, " -> exit %d (expected %d)\nstdout: %.600s\n",
			code, expect, tf_buf_cstr(&b));
		snprintf(path, sizeof path, "%s.err", d->home);
		if (read_file_buf(path, &b) == 0)
			fprintf(stderr, "stderr: %.1500s\n", tf_buf_cstr(&b));
	}
	tf_buf_free(&b);
	return code;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
/* A run that must exit 0; its JSON in *out (may be NULL). */
#define CLI_OK(d, at, out, ...)                                                \
	CHECK_INT(cli_run((d), (at), NULL, (out), 0, ARGS(__VA_ARGS__)), 0)

/* Makes the device's home and its identity: the public key from
   `tenfour enroll` goes to pub. */
static int cli_enroll(cli_dev *d, char pub[64])
{
	tf_json *j = NULL;
	int rc;

	snprintf(d->home, sizeof d->home, "/tmp/tf-cli-XXXXXX");
	if (mkdtemp(d->home) == NULL)
		return -1;
	/* The CLI makes its home (0700) inside the temp dir. */
	strncat(d->home, "/home", sizeof d->home - strlen(d->home) - 1);
	rc = cli_run(d, 0, NULL, &j, 0,
		     ARGS("enroll", "--agency", "metro", "--device",
			  d->device));
	snprintf(pub, 64, "%s", tf_h_str(j, "public_key", END));
	tf_json_free(j);
	/* Enrollment keeps no clock: the scenario's clock starts later. */
	d->last_dev = 0;
	return rc == 0 && pub[0] ? 0 : -1;
}

/* Registers the device's key with the server (before tf_h_seed_done). */
static int admin_enroll(tf_h_server *h, const char *device, const char *pub)
{
	tf_admin_actor a;
	tf_err err;

	memset(&a, 0, sizeof a);
	a.agency = "metro";
	a.user = "system";
	a.source = "local";
	a.where = "test_client_scenario";
	tf_err_clear(&err);
	if (tf_admin_device_enroll(&h->srv, &a, device, device, pub,
				   tf_h_now_ms(), &err) != 0) {
		fprintf(stderr, "device-enroll %s: %s\n", device, err.msg);
		return -1;
	}
	return 0;
}

/*
 * `tenfour login` at scenario time `at` with the user's password (fd 4),
 * a fresh TOTP code (never a step used before) and the banner accepted.
 */
static int cli_login(tf_h_server *h, cli_dev *d, int64_t at)
{
	tf_h_user *u = tf_h_user_find(h, d->user);
	char code[TF_TOTP_DIGITS + 1], pw[80];
	int64_t now_step, st;
	int guard, rc;

	if (u == NULL)
		return -1;
	now_step = tf_h_now_ms() / 1000 / TF_TOTP_STEP_S;
	st = u->last_step + 1 > now_step ? u->last_step + 1 : now_step;
	for (guard = 0; guard < 400 && st > now_step + 1; guard++) {
		tf_h_sleep_ms(100);
		now_step = tf_h_now_ms() / 1000 / TF_TOTP_STEP_S;
	}
	if (tf_totp_code(u->totp_key, u->totp_len, st, code) != 0)
		return -1;
	snprintf(pw, sizeof pw, "%s\n", u->password);
	rc = cli_run(d, at, pw, NULL, 0,
		     ARGS("login", "--user", d->user, "--accept-banner",
			  "--password-fd", "4", "--totp", code));
	if (rc == 0)
		u->last_step = st;
	return rc;
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

/* Removes the temp dir that holds the home (and its .out/.err files). */
static void cli_cleanup(cli_dev *d)
{
	char *slash;

	if (d->home[0] == '\0' || getenv("TF_KEEP_DIRS"))
		return;
	slash = strrchr(d->home, '/');
	if (slash == NULL)
		return;
	*slash = '\0';
	nftw(d->home, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	d->home[0] = '\0';
}

/* ------------------------------------------------------------ scenario */

static tf_h_server H;
static int ready;
static uint64_t rnd_state = 0x5eed2a12;
static tf_fault_proxy *p12, *p14;
static cli_dev alv = {"alvarez", "mdt-2a12", "2A12", "", "", SKEW, 0,
		      "583920", NULL};
static cli_dev bro = {"brooks", "mdt-2a14", "2A14", "", "", 0, 0, "740261",
		      NULL};

static tf_h_session s_dana, s_sup, s_aud, s_svc;
static tf_replica *r_dana, *r_sup, *r_svc;

/* 2A12's message to 2A14, a whole log-entry body ("@" + JSON). */
static const char *MESSAGE = "@{\"body\":\"2A14, suspect has a knife, stay "
			     "back\",\"to\":[\"brooks\"]}";
static const char *REMARKS0 = "Caller reports shouting next door.";
static const char *REMARKS_ALV = "Caller reports shouting next door. "
				 "Domestic; RP's boyfriend has a knife.";
static const char *REMARKS_DANA = "Caller reports shouting next door. "
				  "Weapon seen by neighbor.";
static const char *REMARKS_FINAL = "Caller reports shouting next door. "
				   "Weapon seen by neighbor; RP's boyfriend "
				   "has a knife.";

/* A local mutation on a harness replica at time now (as in
   test_http_scenario.c). */
static int mut(tf_replica *r, int64_t now, int online, const char *entity,
	       const char *rid, const char *op, const char *args,
	       char rid_out[TF_UUID_LEN + 1])
{
	uint8_t rnd[20];
	tf_json *a = NULL;
	tf_op o;
	tf_err err;
	int rc;

	tf_test_rand_bytes(&rnd_state, rnd, sizeof rnd);
	if (tf_op_parse(op, &o) != 0 ||
	    tf_json_parse(args, strlen(args), NULL, &a, NULL) != 0) {
		fprintf(stderr, "mut: bad op %s or args %s\n", op, args);
		return TF_EINVAL;
	}
	tf_err_clear(&err);
	rc = tf_replica_mutate(r, now, rnd, online, entity, rid, o, a, NULL,
			       rid_out, &err);
	if (rc && rc != TF_EOFFLINE)
		fprintf(stderr, "mut %s %s: %s\n", op, entity, err.msg);
	tf_json_free(a);
	return rc;
}

static int sync_r(const tf_h_session *s, tf_replica *r, int64_t now)
{
	tf_err err;
	int rc;

	tf_err_clear(&err);
	rc = tf_h_sync(&H, s, r, now, &err);
	if (rc)
		fprintf(stderr, "sync %s: %s\n", s->device, err.msg);
	return rc;
}

static const tf_json *field(tf_replica *r, const char *id, const char *f)
{
	return tf_h_get(tf_replica_get(r, id), "f", f, END);
}

/* A field of a `tenfour --json get` view. */
static const tf_json *vfield(const tf_json *view, const char *f)
{
	return tf_h_get(view, "record", "f", f, END);
}

/* The CLI's view of a record at scenario time at (NULL when the CLI
   failed: the check that follows fails too). */
static tf_json *cli_get(cli_dev *d, int64_t at, const char *id)
{
	tf_json *j = NULL;

	CHECK_INT(cli_run(d, at, NULL, &j, 0, ARGS("get", id)), 0);
	return j;
}

/* 1 when the log's entries are in (t, id) order. */
static int log_ordered(const tf_json *log)
{
	const tf_json *e = tf_h_get(log, "e", END);
	size_t i;

	for (i = 1; e && i < e->len; i++) {
		const char *t0 = tf_h_str(e->u.items[i - 1], "t", END);
		const char *t1 = tf_h_str(e->u.items[i], "t", END);
		int c = strcmp(t0, t1);
		if (c > 0 || (c == 0 && strcmp(tf_h_str(e->u.items[i - 1], "id",
							 END),
						tf_h_str(e->u.items[i], "id",
							 END)) >= 0))
			return 0;
	}
	return 1;
}

static int64_t hlc_ms(const char *hlc)
{
	tf_hlc h = 0;

	if (tf_hlc_parse(hlc, strlen(hlc), &h) != 0)
		return -1;
	return TF_HLC_MS(h);
}

/* The index of the log entry whose body member `key` is `val`, or -1. */
static long find_entry(const tf_json *log, const char *key, const char *val)
{
	const tf_json *e = tf_h_get(log, "e", END);
	size_t i;

	for (i = 0; e && i < e->len; i++) {
		if (strcmp(tf_h_str(e->u.items[i], "v", key, END), val) == 0)
			return (long)i;
	}
	return -1;
}

static size_t log_len(const tf_json *log)
{
	const tf_json *e = tf_h_get(log, "e", END);

	return e ? e->len : 0;
}

/* The tags of set element `val` as a JSON array text ("[]" if none). */
static void tags_of(const tf_json *set, const char *val, char *out, size_t n)
{
	const tf_json *s = tf_h_get(set, "s", END);
	tf_buf b;
	size_t i;

	snprintf(out, n, "[]");
	for (i = 0; s && i < s->len; i++) {
		if (strcmp(tf_h_str(s->u.items[i], "v", END), val) != 0)
			continue;
		tf_buf_init(&b);
		tf_json_write(tf_h_get(s->u.items[i], "tags", END), &b);
		snprintf(out, n, "%s", tf_buf_cstr(&b));
		tf_buf_free(&b);
	}
}

static int set_has(const tf_json *set, const char *val)
{
	const tf_json *s = tf_h_get(set, "s", END);
	size_t i;

	for (i = 0; s && i < s->len; i++) {
		if (strcmp(tf_h_str(s->u.items[i], "v", END), val) == 0)
			return 1;
	}
	return 0;
}

static int is_true(const tf_json *v)
{
	return v != NULL && v->type == TF_JSON_TRUE;
}

static int setup(const char *argv0)
{
	static const struct {
		const char *user, *roles, *unit, *device;
	} people[] = {
		{"dana", "dispatcher", NULL, "console-3"},
		{"alvarez", "officer", "2A12", NULL},
		{"brooks", "officer", "2A14", NULL},
		{"ortiz", "supervisor", NULL, "console-sup"},
		{"audit", "auditor", NULL, "audit-ws"},
		{"bridge", "service", NULL, "cad-bridge"},
	};
	tf_h_session *sess[] = {&s_dana, NULL, NULL, &s_sup, &s_aud, &s_svc};
	char pub12[64], pub14[64];
	tf_err err;
	size_t i;

	tf_err_clear(&err);
	if (cli_find(argv0) != 0)
		return -1;
	if (tf_h_init(&H, argv0, &err) != 0 ||
	    tf_h_agency(&H, "metro", "Metro PD", &err) != 0)
		goto fail;
	for (i = 0; i < sizeof people / sizeof people[0]; i++) {
		if (tf_h_user_add(&H, "metro", people[i].user, people[i].roles,
				  people[i].unit, &err) == NULL ||
		    (people[i].device &&
		     tf_h_device_add(&H, "metro", people[i].device, &err) ==
			     NULL))
			goto fail;
	}
	/* The officers' links: proxies toward a server not started yet. */
	if (tf_fp_start(0, &p12, &err) != 0 || tf_fp_start(0, &p14, &err) != 0)
		goto fail;
	tf_fp_url(p12, alv.url, sizeof alv.url);
	tf_fp_url(p14, bro.url, sizeof bro.url);
	/* Each MDT makes its identity; the administrator registers it. */
	if (cli_enroll(&alv, pub12) != 0 || cli_enroll(&bro, pub14) != 0 ||
	    admin_enroll(&H, alv.device, pub12) != 0 ||
	    admin_enroll(&H, bro.device, pub14) != 0)
		return -1;
	tf_h_seed_done(&H);
	if (tf_h_start(&H, &err) != 0)
		goto fail;
	tf_fp_set_upstream(p12, H.port);
	tf_fp_set_upstream(p14, H.port);
	for (i = 0; i < sizeof people / sizeof people[0]; i++) {
		if (sess[i] && tf_h_login(&H, people[i].user, people[i].device,
					  sess[i]) != 0)
			return -1;
	}
	if (tf_replica_new(H.schema, "console-3", "dana", 0, &r_dana) ||
	    tf_replica_new(H.schema, "console-sup", "ortiz", 0, &r_sup) ||
	    tf_replica_new(H.schema, "cad-bridge", "bridge", 0, &r_svc))
		return -1;
	tf_replica_set_allow_ref(r_svc, 1);
	return 0;
fail:
	fprintf(stderr, "setup: %s\n", err.msg);
	return -1;
}

/* Record ids of the scenario. */
static char inc[TF_UUID_LEN + 1], inc2[TF_UUID_LEN + 1];
static char u12[TF_UUID_LEN + 1], u14[TF_UUID_LEN + 1];
static char bolo[TF_UUID_LEN + 1], thr[TF_UUID_LEN + 1];
static char alog[TF_UUID_LEN + 1], lookup[TF_UUID_LEN + 1];
static char rep[TF_UUID_LEN + 1];
static int64_t T0, reconnect_ms, cache_ms;
static char remarks_file[TF_H_PATH_MAX + 32], final_file[TF_H_PATH_MAX + 32];
static char editor_cmd[2 * TF_H_PATH_MAX + 64];

/* Copies a string id out of a CLI reply ("record_id"). */
static void take_id(const tf_json *j, char out[TF_UUID_LEN + 1])
{
	snprintf(out, TF_UUID_LEN + 1, "%s", tf_h_str(j, "record_id", END));
}

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (f == NULL)
		return -1;
	ok = fwrite(text, 1, strlen(text), f) == strlen(text);
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* Before minute 4:40: the incident, units, BOLO, thread; the officers
   log in, go en route, 2A12 arrives and opens its unit log. */
static void before_signal_loss(void)
{
	char args[1024];
	tf_json *j = NULL;

	/* The officers log in first: a login proof must be within 5
	   minutes of the server's clock (see the file's header). */
	CHECK_INT(cli_login(&H, &bro, T0 + 5 * MIN + 20000), 0);
	CHECK_INT(cli_login(&H, &alv, T0 + 4 * MIN + 40000), 0);

	/* Start of shift: the BOLO list; the units. */
	CHECK_INT(mut(r_dana, T0 - 45 * MIN, 1, "bolo", NULL, "create",
		      "{\"fields\":{\"kind\":\"vehicle\",\"status\":"
		      "\"active\",\"descriptors\":{\"plate\":\"7ABC123\","
		      "\"make\":\"Honda\"},\"reason_wanted\":\"armed robbery "
		      "suspect vehicle\"}}",
		      bolo),
		  0);
	CHECK_INT(mut(r_dana, T0 - 44 * MIN, 1, "unit", NULL, "create",
		      "{\"fields\":{\"status\":\"available\",\"crew\":"
		      "[\"alvarez\"]}}",
		      u12),
		  0);
	CHECK_INT(mut(r_dana, T0 - 44 * MIN, 1, "unit", NULL, "create",
		      "{\"fields\":{\"status\":\"available\",\"crew\":"
		      "[\"brooks\"]}}",
		      u14),
		  0);
	CHECK_INT(sync_r(&s_dana, r_dana, T0 - 44 * MIN), 0);

	/* The CAD bridge (service account) names the units. */
	CHECK_INT(sync_r(&s_svc, r_svc, T0 - 43 * MIN), 0);
	snprintf(args, sizeof args,
		 "{\"fields\":{\"callsign\":{\"v\":\"2A12\",\"fetched_at\":"
		 "%lld,\"ttl\":86400000}}}",
		 (long long)(T0 - 43 * MIN));
	CHECK_INT(mut(r_svc, T0 - 43 * MIN, 1, "unit", u12, "ref_set", args,
		      NULL),
		  0);
	snprintf(args, sizeof args,
		 "{\"fields\":{\"callsign\":{\"v\":\"2A14\",\"fetched_at\":"
		 "%lld,\"ttl\":86400000}}}",
		 (long long)(T0 - 43 * MIN));
	CHECK_INT(mut(r_svc, T0 - 43 * MIN, 1, "unit", u14, "ref_set", args,
		      NULL),
		  0);
	CHECK_INT(sync_r(&s_svc, r_svc, T0 - 43 * MIN), 0);

	/* Minute 0: incident #1234, 2A12 and 2A14 assigned. */
	snprintf(args, sizeof args,
		 "{\"fields\":{\"type_code\":\"disturbance\",\"priority\":2,"
		 "\"status\":\"dispatched\",\"remarks\":\"%s\","
		 "\"assigned_units\":[\"2A12\",\"2A14\"]}}",
		 REMARKS0);
	CHECK_INT(mut(r_dana, T0, 1, "incident", NULL, "create", args, inc),
		  0);
	CHECK_INT(mut(r_dana, T0, 1, "unit", u12, "set",
		      "{\"fields\":{\"status\":\"dispatched\"}}", NULL),
		  0);
	CHECK_INT(mut(r_dana, T0, 1, "unit", u14, "set",
		      "{\"fields\":{\"status\":\"dispatched\"}}", NULL),
		  0);
	/* Dana opens a thread with both units. */
	CHECK_INT(mut(r_dana, T0 + 2 * MIN, 1, "thread", NULL, "create",
		      "{\"fields\":{\"subject\":\"#1234\",\"participants\":"
		      "[\"alvarez\",\"brooks\",\"dana\"]}}",
		      thr),
		  0);
	CHECK_INT(sync_r(&s_dana, r_dana, T0 + 2 * MIN), 0);

	/* The MDTs fetch their view, the BOLO list among it. */
	CLI_OK(&alv, T0 + 4 * MIN + 41000, NULL, "sync");
	CLI_OK(&bro, T0 + 5 * MIN + 21000, NULL, "sync");
	j = cli_get(&alv, T0 + 4 * MIN + 42000, bolo);
	CHECK_STR(tf_h_str(vfield(j, "status"), "v", END), "active");
	tf_json_free(j);

	/* Both go en route; 2A12 arrives, opens its unit log. */
	CLI_OK(&alv, T0 + 4 * MIN + 43000, NULL, "set", "unit", u12,
	       "status=enroute");
	CLI_OK(&bro, T0 + 5 * MIN + 22000, NULL, "set", "unit", u14,
	       "status=enroute");
	CLI_OK(&bro, T0 + 5 * MIN + 23000, NULL, "sync");
	CLI_OK(&alv, T0 + 4 * MIN + 44000, NULL, "set", "unit", u12,
	       "status=onscene");
	snprintf(args, sizeof args, "op_period_from=@%lld", (long long)T0);
	CLI_OK(&alv, T0 + 4 * MIN + 45000, &j, "create", "activity_log",
	       "unit_id=2A12", "incident_name=#1234 Disturbance", args);
	take_id(j, alog);
	tf_json_free(j);
	CLI_OK(&alv, T0 + 4 * MIN + 46000, &j, "sync");
	CHECK_INT(tf_h_int(-1, j, "pending", END), 0);
	/* 2A12's cache of the BOLO list dates from this last sync. */
	cache_ms = tf_h_int(0, j, "last_sync_ms", END);
	CHECK(cache_ms >= T0 + 4 * MIN + 46000 + SKEW);
	tf_json_free(j);
	CHECK(alog[0] != '\0');
}

/* Minute 4:40 to 11: 2A12's link is down; the CLI works offline. */
static void offline_on_2a12(void)
{
	char args[1024];
	tf_json *j = NULL;
	tf_fp_stats st0, st;

	CHECK_INT(tf_fp_set_mode(p12, TF_FP_DOWN, 0), 0);
	tf_fp_stats_get(p12, &st0);
	/* The MDT notices: the server is unreachable (exit 5), nothing
	   lost. */
	CHECK_INT(cli_run(&alv, T0 + 4 * MIN + 50000, NULL, &j, 5,
			  ARGS("sync")),
		  5);
	CHECK_STR(tf_h_str(j, "error", "code", END), "unreachable");
	tf_json_free(j);

	CLI_OK(&alv, T0 + 5 * MIN, NULL, "append", "activity_log", alog,
	       "entries", "Contact with RP, two males in unit 4B");
	/* The plate check against the cached BOLO list. */
	j = cli_get(&alv, T0 + 6 * MIN, bolo);
	CHECK_STR(tf_h_str(vfield(j, "status"), "v", END), "active");
	CHECK_STR(tf_h_str(vfield(j, "descriptors"), "v", "plate", END),
		  "7ABC123");
	tf_json_free(j);
	CLI_OK(&alv, T0 + 6 * MIN, &j, "create", "lookup",
	       "requested_by=alvarez");
	take_id(j, lookup);
	tf_json_free(j);
	/* Offline, the cache is older than the last contact: the check is
	   recorded as made against a stale cache. */
	snprintf(args, sizeof args,
		 "@{\"query\":\"7ABC123\",\"source\":\"bolo\",\"cached\":true,"
		 "\"cache_fetched_at\":%lld,\"stale\":true,\"hit\":true,"
		 "\"matched\":[\"%s\"]}",
		 (long long)cache_ms, bolo);
	CLI_OK(&alv, T0 + 6 * MIN, NULL, "append", "lookup", lookup,
	       "query_audit", args);
	CLI_OK(&alv, T0 + 7 * MIN, NULL, "set", "incident", inc,
	       "type_code=dv");
	CLI_OK(&alv, T0 + 7 * MIN + 10000, NULL, "append", "incident", inc,
	       "notes", "2A12: knife reported, one detained");
	/* The remarks rewritten in $EDITOR. */
	alv.editor = editor_cmd;
	CLI_OK(&alv, T0 + 7 * MIN + 30000, NULL, "edit", "incident", inc,
	       "remarks");
	alv.editor = NULL;
	CLI_OK(&alv, T0 + 8 * MIN, NULL, "append", "thread", thr, "messages",
	       MESSAGE);
	CLI_OK(&alv, T0 + 8 * MIN + 30000, NULL, "append", "activity_log",
	       alog, "entries", "Suspect detained, knife recovered");
	CLI_OK(&alv, T0 + 9 * MIN, &j, "create", "report", "author=alvarez",
	       "incident_ref=1234",
	       "narrative=On arrival I contacted the reporting party...");
	take_id(j, rep);
	tf_json_free(j);
	/* Submitting needs the server (online_only): refused offline. */
	CHECK_INT(cli_run(&alv, T0 + 9 * MIN, NULL, &j, 2,
			  ARGS("set", "report", rep, "status=submitted")),
		  2);
	CHECK_STR(tf_h_str(j, "error", "code", END), "online_only");
	tf_json_free(j);
	CLI_OK(&alv, T0 + 10 * MIN, NULL, "set", "unit", u12,
	       "status=available");
	/* The "did it save?" view: ten changes kept, the incident
	   pending. */
	CLI_OK(&alv, T0 + 10 * MIN + 5000, &j, "status");
	CHECK_INT(tf_h_int(-1, j, "pending", END), 10);
	CHECK_INT(tf_h_int(0, j, "last_sync_ms", END), cache_ms);
	CHECK(tf_h_int(0, j, "oldest_pending_ms", END) >= 5 * MIN);
	tf_json_free(j);
	j = cli_get(&alv, T0 + 10 * MIN + 5000, inc);
	CHECK_STR(tf_h_str(j, "sync", END), "pending");
	CHECK_STR(tf_h_str(vfield(j, "type_code"), "v", END), "dv");
	CHECK_STR(tf_h_str(vfield(j, "remarks"), "v", END), REMARKS_ALV);
	tf_json_free(j);
	/* No connection got through meanwhile. */
	tf_fp_stats_get(p12, &st);
	CHECK_INT(st.accepted, st0.accepted);
	CHECK_INT(st.open, 0);
}

/* Minute 5 to 10: Dana online; Brooks moves to #1240. */
static void meanwhile_online(void)
{
	char args[1024], tags[512];
	tf_json *j = NULL;

	CHECK_INT(mut(r_dana, T0 + 5 * MIN, 1, "incident", inc, "append",
		      "{\"field\":\"notes\",\"body\":{\"text\":\"Neighbor "
		      "calls again: screaming\"}}",
		      NULL),
		  0);
	CHECK_INT(sync_r(&s_dana, r_dana, T0 + 5 * MIN), 0);
	/* 06:00 2A14 moves to incident #1240. */
	tags_of(field(r_dana, inc, "assigned_units"), "2A14", tags,
		sizeof tags);
	CHECK(strcmp(tags, "[]") != 0);
	snprintf(args, sizeof args,
		 "{\"field\":\"assigned_units\",\"value\":\"2A14\","
		 "\"tags\":%s}",
		 tags);
	CHECK_INT(mut(r_dana, T0 + 6 * MIN, 1, "incident", inc, "set_remove",
		      args, NULL),
		  0);
	CHECK_INT(mut(r_dana, T0 + 6 * MIN, 1, "incident", NULL, "create",
		      "{\"fields\":{\"type_code\":\"traffic\",\"priority\":3,"
		      "\"status\":\"dispatched\",\"assigned_units\":"
		      "[\"2A14\"]}}",
		      inc2),
		  0);
	CHECK_INT(mut(r_dana, T0 + 6 * MIN, 1, "unit", u14, "set",
		      "{\"fields\":{\"status\":\"dispatched\"}}", NULL),
		  0);
	CHECK_INT(sync_r(&s_dana, r_dana, T0 + 6 * MIN), 0);

	/* 2A14's MDT: #1234 is purged, #1240 arrives. */
	CLI_OK(&bro, T0 + 6 * MIN + 5000, NULL, "sync");
	CHECK_INT(cli_run(&bro, T0 + 6 * MIN + 6000, NULL, &j, 7,
			  ARGS("get", inc)),
		  7);
	tf_json_free(j);
	j = cli_get(&bro, T0 + 6 * MIN + 6000, inc2);
	CHECK_STR(tf_h_str(vfield(j, "type_code"), "v", END), "traffic");
	tf_json_free(j);

	/* 07:00 a dispatch entry in 2A12's unit log. */
	CHECK_INT(mut(r_dana, T0 + 7 * MIN, 1, "activity_log", alog, "append",
		      "{\"field\":\"entries\",\"body\":{\"text\":\"Dispatch: "
		      "status check sent to 2A12\"}}",
		      NULL),
		  0);
	CHECK_INT(mut(r_dana, T0 + 8 * MIN, 1, "incident", inc, "set",
		      "{\"fields\":{\"priority\":1,\"type_code\":"
		      "\"assault-weapon\"}}",
		      NULL),
		  0);
	CHECK_INT(mut(r_dana, T0 + 9 * MIN, 1, "unit", u12, "set",
		      "{\"fields\":{\"status\":\"onscene\",\"status_note\":"
		      "\"no contact after missed check-in\"}}",
		      NULL),
		  0);
	snprintf(args, sizeof args,
		 "{\"field\":\"remarks\",\"base_rev\":1,\"base\":\"%s\","
		 "\"text\":\"%s\"}",
		 REMARKS0, REMARKS_DANA);
	CHECK_INT(mut(r_dana, T0 + 9 * MIN + 30000, 1, "incident", inc,
		      "edit_text", args, NULL),
		  0);
	CHECK_INT(mut(r_dana, T0 + 10 * MIN, 1, "bolo", bolo, "set",
		      "{\"fields\":{\"status\":\"cancelled\"}}", NULL),
		  0);
	CHECK_INT(sync_r(&s_dana, r_dana, T0 + 10 * MIN), 0);
	CHECK_INT(tf_replica_unsent(r_dana), 0);
	CHECK_STR(tf_h_str(field(r_dana, inc, "remarks"), "v", END),
		  REMARKS_DANA);
}

/* The supersede notice of the type change, from `tenfour status`; its id
   to nid.  1 when found. */
static int type_notice(const tf_json *status, char *nid, size_t cap)
{
	const tf_json *l = tf_h_get(status, "notices", END), *n;
	size_t i;

	for (i = 0; l && l->type == TF_JSON_ARRAY && i < l->len; i++) {
		n = l->u.items[i];
		if (strcmp(tf_h_str(n, "kind", END), "superseded") == 0 &&
		    strcmp(tf_h_str(n, "field", END), "type_code") == 0 &&
		    strcmp(tf_h_str(n, "record_id", END), inc) == 0) {
			CHECK_STR(tf_h_str(n, "winner_by", END), "dana");
			CHECK_STR(tf_h_str(n, "mine", END), "dv");
			snprintf(nid, cap, "%s", tf_h_str(n, "id", END));
			return 1;
		}
	}
	return 0;
}

/* Minute ~10: the link is back; 2A12 syncs. */
static void reconnect(void)
{
	const tf_json *v, *e;
	tf_json *j = NULL, *view = NULL;
	char nid[128];
	tf_fp_stats st;
	size_t i;
	long k;
	int found;

	/* The device clock (40 s fast) must not read less than it did
	   offline: on a real MDT minutes passed.  Bounded. */
	for (k = 0; k < 700 && tf_h_now_ms() + SKEW < alv.last_dev; k++)
		tf_h_sleep_ms(100);
	CHECK_INT(tf_fp_set_mode(p12, TF_FP_PASS, 0), 0);
	reconnect_ms = tf_h_now_ms();
	/* The device clock keeps running 40 s fast from here on. */
	CHECK_INT(cli_run(&alv, reconnect_ms, NULL, &j, 8, ARGS("sync")), 8);
	/* Everything pushed; the remarks conflict; the type superseded;
	   no rejection (no clock_skew: nothing re-stamped). */
	CHECK_INT(tf_h_int(-1, j, "pending", END), 0);
	CHECK_INT(tf_h_int(-1, j, "rejected", END), 0);
	CHECK_INT(tf_h_int(-1, j, "conflicts", END), 1);
	CHECK_INT(tf_h_int(-1, j, "superseded", END), 1);
	CHECK_INT(tf_h_int(-1, j, "pushed", END), 10);
	tf_json_free(j);
	tf_fp_stats_get(p12, &st);
	CHECK(st.requests >= 2);

	/* Notes interleave by clock, nothing lost. */
	view = cli_get(&alv, 0, inc);
	v = vfield(view, "notes");
	CHECK_INT(log_len(v), 2);
	CHECK(log_ordered(v));
	CHECK_INT(find_entry(v, "text", "Neighbor calls again: screaming"), 0);
	CHECK_INT(find_entry(v, "text", "2A12: knife reported, one detained"),
		  1);
	/* type resolves by clock (Dana's 08:00 after 2A12's 07:40). */
	CHECK_STR(tf_h_str(vfield(view, "type_code"), "v", END),
		  "assault-weapon");
	CHECK_INT(tf_h_int(0, vfield(view, "priority"), "v", END), 1);
	/* 2A14's removal is not undone by the stale offline copy. */
	v = vfield(view, "assigned_units");
	CHECK(set_has(v, "2A12"));
	CHECK(!set_has(v, "2A14"));
	/* The remarks: a conflict, both sides kept. */
	CHECK_STR(tf_h_str(view, "sync", END), "conflict");
	tf_json_free(view);

	/* The unit log: 2A12's offline entries around Dana's 07:00 one,
	   stamped by 2A12's own (fast) clock: not re-stamped. */
	view = cli_get(&alv, 0, alog);
	v = vfield(view, "entries");
	CHECK(log_ordered(v));
	CHECK_INT(find_entry(v, "text",
			     "Contact with RP, two males in unit 4B"),
		  0);
	CHECK_INT(find_entry(v, "text",
			     "Dispatch: status check sent to 2A12"),
		  1);
	CHECK_INT(find_entry(v, "text", "Suspect detained, knife recovered"),
		  2);
	e = tf_h_get(v, "e", END);
	if (e && e->len == 3) {
		int64_t t = hlc_ms(tf_h_str(e->u.items[0], "t", END));
		CHECK(t >= T0 + 5 * MIN + SKEW &&
		      t < T0 + 5 * MIN + SKEW + 20000);
		CHECK_STR(tf_h_str(e->u.items[0], "by", END), "alvarez");
		CHECK_STR(tf_h_str(e->u.items[1], "by", END), "dana");
	}
	tf_json_free(view);

	/* The loser sees the supersede notice until he acknowledges it. */
	CLI_OK(&alv, 0, &j, "status");
	CHECK_INT(tf_h_int(-1, j, "superseded", END), 1);
	CHECK_INT(tf_h_int(-1, j, "conflicts", END), 1);
	CHECK(tf_h_int(0, j, "last_sync_ms", END) >= reconnect_ms + SKEW);
	nid[0] = '\0';
	CHECK(type_notice(j, nid, sizeof nid));
	tf_json_free(j);
	CLI_OK(&alv, 0, NULL, "ack", nid);
	CLI_OK(&alv, 0, &j, "status");
	CHECK_INT(tf_h_int(-1, j, "superseded", END), 0);
	CHECK(!type_notice(j, nid, sizeof nid));
	tf_json_free(j);

	/* 2A12's status resolves by clock; both changes in the history. */
	view = cli_get(&alv, 0, u12);
	CHECK_STR(tf_h_str(vfield(view, "status"), "v", END), "available");
	CHECK_STR(tf_h_str(vfield(view, "status"), "by", END), "alvarez");
	v = vfield(view, "status_history");
	CHECK(log_ordered(v));
	e = tf_h_get(v, "e", END);
	found = 0;
	k = -1;
	for (i = 0; e && i < e->len; i++) {
		const char *by = tf_h_str(e->u.items[i], "by", END);
		const char *val = tf_h_str(e->u.items[i], "v", "value", END);
		if (strcmp(by, "dana") == 0 && strcmp(val, "onscene") == 0)
			found |= 1;
		if (strcmp(by, "alvarez") == 0 &&
		    strcmp(val, "available") == 0) {
			found |= 2;
			k = (long)i;
		}
	}
	CHECK_INT(found, 3);
	/* Dana's onscene (09:00) sorts just before 2A12's available
	   (10:40). */
	CHECK(k > 0 && strcmp(tf_h_str(e->u.items[k - 1], "v", "value", END),
			      "onscene") == 0);
	tf_json_free(view);

	/* The message: sent 08 (MDT clock), delivered at the reconnect
	   (server). */
	CLI_OK(&bro, 0, NULL, "sync");
	view = cli_get(&bro, 0, thr);
	e = tf_h_get(vfield(view, "messages"), "e", END);
	CHECK(e != NULL && e->len == 1);
	if (e && e->len == 1) {
		int64_t sent = hlc_ms(tf_h_str(e->u.items[0], "t", END));
		int64_t srv = tf_h_int(0, e->u.items[0], "srv", END);
		CHECK(sent >= T0 + 8 * MIN + SKEW &&
		      sent < T0 + 8 * MIN + SKEW + 20000);
		CHECK(srv >= reconnect_ms);
		CHECK(srv > sent + MIN);
		CHECK_STR(tf_h_str(e->u.items[0], "by", END), "alvarez");
		CHECK_STR(tf_h_str(e->u.items[0], "v", "body", END),
			  "2A14, suspect has a knife, stay back");
	}
	tf_json_free(view);
	/* 2A14 stays off #1234. */
	CHECK_INT(cli_run(&bro, 0, NULL, &j, 7, ARGS("get", inc)), 7);
	tf_json_free(j);

	/* The BOLO cache refreshed; the plate check is marked stale. */
	view = cli_get(&alv, 0, bolo);
	CHECK_STR(tf_h_str(vfield(view, "status"), "v", END), "cancelled");
	{
		int64_t cancelled =
			hlc_ms(tf_h_str(vfield(view, "status"), "t", END));
		tf_json *lk = cli_get(&alv, 0, lookup);

		e = tf_h_get(vfield(lk, "query_audit"), "e", END);
		CHECK(e != NULL && e->len == 1);
		if (e && e->len == 1) {
			const tf_json *q = tf_h_get(e->u.items[0], "v", END);
			int64_t fetched =
				tf_h_int(0, q, "cache_fetched_at", END);
			CHECK(is_true(tf_h_get(q, "stale", END)));
			CHECK(is_true(tf_h_get(q, "cached", END)));
			CHECK(tf_h_get(q, "matched", END) &&
			      tf_h_get(q, "matched", END)->len == 1 &&
			      strcmp(tf_h_get(q, "matched", END)
					     ->u.items[0]
					     ->u.str,
				     bolo) == 0);
			/* Fetched before the cancel the refreshed cache
			   shows. */
			CHECK_INT(fetched, cache_ms);
			CHECK(fetched < cancelled);
		}
		CHECK_STR(tf_h_str(lk, "sync", END), "synced");
		tf_json_free(lk);
	}
	tf_json_free(view);
	/* The report draft reached the server (author scope). */
	view = cli_get(&alv, 0, rep);
	CHECK_STR(tf_h_str(view, "sync", END), "synced");
	CHECK_STR(tf_h_str(vfield(view, "narrative"), "v", END),
		  "On arrival I contacted the reporting party...");
	tf_json_free(view);
}

/*
 * 1 when a discarded-text item of an audit entry names `text`: the text
 * itself, or its SHA-256 with an excerpt that begins it.
 */
static int names_text(const tf_json *item, const char *text)
{
	uint8_t h[TF_SHA256_LEN];
	char hex[2 * TF_SHA256_LEN + 1];
	const char *ex = tf_h_str(item, "excerpt", END);

	if (strcmp(tf_h_str(item, "text", END), text) == 0)
		return 1;
	if (tf_sha256(text, strlen(text), h) != 0)
		return 0;
	tf_hex_encode(h, sizeof h, hex);
	return strcmp(tf_h_str(item, "sha256", END), hex) == 0 &&
	       *ex != '\0' && strncmp(text, ex, strlen(ex)) == 0;
}

/* The remarks conflict: listed by the CLI, resolved side by side with
   an edited text, audited on the server with what was discarded. */
static void resolve_remarks(void)
{
	const tf_json *c, *l, *cf;
	tf_json *j = NULL, *audit = NULL;
	tf_h_resp r;
	size_t i, k;
	int listed, found, found_dana, found_alv;

	tf_h_resp_init(&r);
	CLI_OK(&alv, 0, &j, "conflicts");
	listed = 0;
	for (i = 0; j && j->type == TF_JSON_ARRAY && i < j->len; i++) {
		c = j->u.items[i];
		if (strcmp(tf_h_str(c, "record_id", END), inc) != 0 ||
		    strcmp(tf_h_str(c, "field", END), "remarks") != 0)
			continue;
		listed++;
		cf = tf_h_get(c, "conflict", END);
		CHECK_STR(tf_h_str(c, "entity", END), "incident");
		CHECK_STR(tf_h_str(cf, "proposed", END), REMARKS_ALV);
		CHECK_STR(tf_h_str(cf, "head", END), REMARKS_DANA);
		CHECK_STR(tf_h_str(cf, "by", END), "alvarez");
		CHECK_STR(tf_h_str(cf, "head_by", END), "dana");
	}
	CHECK_INT(listed, 1);
	tf_json_free(j);
	/* The server lists it for the dispatcher too. */
	CHECK_INT(tf_h_request(&H, &s_dana, "GET", "/v1/conflicts", NULL, 0,
			       NULL, &r),
		  0);
	CHECK_INT(r.status, 200);
	l = tf_h_get(r.json, "conflicts", END);
	listed = 0;
	for (i = 0; l && i < l->len; i++)
		listed += strcmp(tf_h_str(l->u.items[i], "record_id", END),
				 inc) == 0;
	CHECK_INT(listed, 1);

	/* 2A12 reconciles side by side: an edited text keeping both. */
	CLI_OK(&alv, 0, &j, "resolve", inc, "remarks", "--choice", "edit",
	       "--text-file", final_file);
	CHECK(is_true(tf_h_get(j, "resolved", END)));
	tf_json_free(j);
	CHECK_INT(cli_run(&alv, 0, NULL, &j, 0, ARGS("sync")), 0);
	CHECK_INT(tf_h_int(-1, j, "conflicts", END), 0);
	CHECK_INT(tf_h_int(-1, j, "pending", END), 0);
	tf_json_free(j);
	j = cli_get(&alv, 0, inc);
	CHECK_STR(tf_h_str(vfield(j, "remarks"), "v", END), REMARKS_FINAL);
	CHECK_STR(tf_h_str(j, "sync", END), "synced");
	tf_json_free(j);
	/* Back in signal, submitting the report (online_only) goes
	   through: a fresh CLI process learns the server answers, then
	   queues it. */
	CLI_OK(&alv, 0, NULL, "set", "report", rep, "status=draft");
	CLI_OK(&alv, 0, NULL, "set", "report", rep, "status=submitted");
	CLI_OK(&alv, 0, NULL, "sync");
	j = cli_get(&alv, 0, rep);
	CHECK_STR(tf_h_str(j, "sync", END), "synced");
	CHECK_STR(tf_h_str(vfield(j, "status"), "v", END), "submitted");
	tf_json_free(j);

	/* The server: no longer listed; Dana sees the reconciled text. */
	CHECK_INT(tf_h_request(&H, &s_dana, "GET", "/v1/conflicts", NULL, 0,
			       NULL, &r),
		  0);
	l = tf_h_get(r.json, "conflicts", END);
	for (i = 0; l && i < l->len; i++)
		CHECK(strcmp(tf_h_str(l->u.items[i], "record_id", END), inc) !=
		      0);
	CHECK_INT(sync_r(&s_dana, r_dana, tf_h_now_ms()), 0);
	CHECK_STR(tf_h_str(field(r_dana, inc, "remarks"), "v", END),
		  REMARKS_FINAL);

	/* The auditor finds what was discarded and by whom. */
	CHECK_INT(tf_h_audit_all(&H, &s_aud, &audit), 0);
	found = found_dana = found_alv = 0;
	for (k = 0; audit && k < audit->len; k++) {
		const tf_json *x = audit->u.items[k], *d;
		if (strcmp(tf_h_str(x, "type", END), "conflict_resolution") !=
			    0 ||
		    strcmp(tf_h_str(x, "what", "record_id", END), inc) != 0)
			continue;
		found++;
		CHECK_STR(tf_h_str(x, "actor", "user", END), "alvarez");
		CHECK_STR(tf_h_str(x, "what", "field", END), "remarks");
		d = tf_h_get(x, "detail", "discarded", END);
		for (i = 0; d && i < d->len; i++) {
			const tf_json *y = d->u.items[i];
			const char *by = tf_h_str(y, "by", END);
			if (strcmp(by, "dana") == 0 &&
			    strcmp(tf_h_str(y, "from", END), "head") == 0 &&
			    names_text(y, REMARKS_DANA))
				found_dana = 1;
			if (strcmp(by, "alvarez") == 0 &&
			    strcmp(tf_h_str(y, "from", END), "proposed") == 0 &&
			    names_text(y, REMARKS_ALV))
				found_alv = 1;
		}
		if (!found_dana || !found_alv) {
			tf_buf eb;
			tf_buf_init(&eb);
			tf_json_write(x, &eb);
			fprintf(stderr, "conflict_resolution entry: %s\n",
				tf_buf_cstr(&eb));
			tf_buf_free(&eb);
		}
	}
	tf_json_free(audit);
	CHECK_INT(found, 1);
	CHECK(found_dana);
	CHECK(found_alv);
	/* The chain of the server log verifies. */
	CHECK_INT(tf_h_request(&H, &s_aud, "GET", "/v1/audit/verify", NULL, 0,
			       NULL, &r),
		  0);
	CHECK_INT(r.status, 200);
	CHECK(is_true(tf_h_get(r.json, "ok", END)));
	tf_h_resp_free(&r);

	/* The MDT's own audit chain holds the resolution and verifies. */
	CLI_OK(&alv, 0, &j, "audit", "--verify");
	CHECK(is_true(tf_h_get(j, "intact", END)));
	tf_json_free(j);
}

TEST(scenario)
{
	char dir[TF_H_PATH_MAX];

	if (!ready) {
		CHECK(ready);
		return;
	}
	/* The texts the "editor" writes: files next to Alvarez's home. */
	snprintf(dir, sizeof dir, "%s", alv.home);
	*strrchr(dir, '/') = '\0';
	snprintf(remarks_file, sizeof remarks_file, "%s/remarks.txt", dir);
	snprintf(final_file, sizeof final_file, "%s/final.txt", dir);
	snprintf(editor_cmd, sizeof editor_cmd, "cp %s", remarks_file);
	CHECK_INT(write_text(remarks_file, REMARKS_ALV), 0);
	CHECK_INT(write_text(final_file, REMARKS_FINAL), 0);
	/* Minute 0 (see the file's header). */
	T0 = tf_h_now_ms() - 9 * MIN - 50000;
	before_signal_loss();
	offline_on_2a12();
	meanwhile_online();
	reconnect();
	resolve_remarks();
}

/* A graceful stop after the scenario exits 0. */
TEST(graceful_stop)
{
	int st = -1;

	if (!ready) {
		CHECK(ready);
		return;
	}
	CHECK_INT(tf_h_stop(&H, &st), 0);
	CHECK_INT(st, 0);
}

int main(int argc, char **argv)
{
	int any_failed = 0;

	(void)argc;
	signal(SIGPIPE, SIG_IGN);
	ready = setup(argv[0]) == 0;
	if (!ready)
		tf_h_log_tail(&H, 4000);
	RUN(scenario);
	any_failed |= tf_test_failed_checks;
	RUN(graceful_stop);
	any_failed |= tf_test_failed_checks;
	if (any_failed)
		tf_h_log_tail(&H, 4000);
	tf_replica_free(r_dana);
	tf_replica_free(r_sup);
	tf_replica_free(r_svc);
	tf_fp_stop(p12);
	tf_fp_stop(p14);
	tf_h_destroy(&H);
	cli_cleanup(&alv);
	cli_cleanup(&bro);
	return tf_test_finish(argv[0]);
}

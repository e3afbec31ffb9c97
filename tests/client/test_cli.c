/*
 * test_cli.c - the `tenfour` command line against a real tenfourd on
 * loopback (tests/support/srv_harness): the CLI runs as a child process
 * with no controlling terminal, secrets through pipes (--pin-fd 3,
 * --password-fd 4), stdout/stderr captured; exit codes and the --json
 * documents are checked.  The CLI is found at <dir of argv[0]>/../../tenfour
 * (the tests live in $(BUILD)/tests/client/), or $TF_TENFOUR.
 *
 * The tests share one daemon and one CLI home and run in order (each
 * builds on the state the previous one left: enrolled, logged in, records,
 * offline work, notices, conflicts, the clock tests, the wipe last).  Every
 * child has a bounded run time; each data command costs one PBKDF2 unlock
 * (about 0.3 s), so the suite keeps their number modest.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "srv_harness.h"
#include "tenfour/json.h"
#include "tf_test.h"

extern char **environ;

#define AGENCY "pd"
#define DEVICE "mdt-cli"
#define USER "dana"
#define PIN "739164"
#define WRONG_PIN "918273"
#define RUN_WAIT_MS 60000 /* one CLI run */
#define OUT_MAX ((size_t)1024 * 1024)
#define END ((const char *)NULL) /* ends a variadic argument list */

static tf_h_server H;
static int h_ok;
static char g_cli[PATH_MAX];
static char g_tmp[64];
static char g_home[96];
static char g_editor[128]; /* "EDITOR=<script>" */
static const char *g_password;
static tf_h_session g_peer; /* a second dispatcher's session (harness) */
static tf_h_session g_svc;  /* a service account (lookups' ref values) */
static tf_h_session g_aud;  /* an auditor (the server's audit log) */

/* One run of the CLI. */
typedef struct run {
	int code; /* exit status, -1 when killed or not run */
	char *out, *err;
	size_t out_len, err_len;
	tf_json *json; /* stdout parsed, when it is one JSON document */
} run;

/* Knobs of a run; zero = PIN on fd 3, --server to the daemon. */
typedef struct run_opts {
	const char *pin;      /* NULL: PIN; "" : no --pin-fd */
	const char *password; /* on fd 4 when non-NULL */
	const char *stdin_text;
	const char *env[4]; /* "NAME=value" added to the environment */
	int no_server;	    /* no --server */
	int background;	    /* start, do not wait: *pid_out */
	pid_t *pid_out;
} run_opts;

static void run_free(run *r)
{
	free(r->out);
	free(r->err);
	tf_json_free(r->json);
	memset(r, 0, sizeof *r);
	r->code = -1;
}

static char *slurp(const char *path, size_t *len)
{
	char *buf = calloc(OUT_MAX + 1, 1);
	FILE *f;
	size_t n;

	*len = 0;
	if (buf == NULL)
		return NULL;
	f = fopen(path, "rb");
	if (f == NULL)
		return buf;
	n = fread(buf, 1, OUT_MAX, f);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static void show(const struct run *r, const char *what);

/* A pipe whose read end holds text (small: fits the pipe buffer). */
static int text_pipe(const char *text)
{
	int p[2];
	size_t n = strlen(text);

	if (pipe(p) != 0)
		return -1;
	if (n && write(p[1], text, n) != (ssize_t)n) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	close(p[1]);
	return p[0];
}

/* Waits (bounded) for pid; its exit status, or -1 after a SIGKILL. */
static int wait_child(pid_t pid, int limit_ms)
{
	int st = 0, waited;

	for (waited = 0; waited <= limit_ms; waited += 20) {
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		if (w < 0 && errno != EINTR)
			return -1;
		tf_h_sleep_ms(20);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	fprintf(stderr, "test_cli: a CLI run took over %d ms: killed\n",
		limit_ms);
	return -1;
}

/*
 * Runs the CLI with --home (and --server, --pin-fd 3 unless told not) and
 * the NULL-ended args.  Secrets and stdin go through pipes made in the
 * parent; the child runs in its own session (no terminal), with the env
 * built here (no setenv after fork).
 */
static void cli_v(run *r, const run_opts *o, va_list ap)
{
	const char *argv[64], *envp[256];
	char outp[PATH_MAX + 32], errp[PATH_MAX + 32];
	int pinfd = -1, pwfd = -1, infd = -1, n = 0, ne = 0, i;
	const char *s;
	pid_t pid;

	memset(r, 0, sizeof *r);
	r->code = -1;
	snprintf(outp, sizeof outp, "%s/stdout", g_tmp);
	snprintf(errp, sizeof errp, "%s/stderr", g_tmp);
	argv[n++] = g_cli;
	argv[n++] = "--home";
	argv[n++] = g_home;
	if (!o->no_server && h_ok && H.base[0] != '\0') {
		argv[n++] = "--server";
		argv[n++] = H.base;
	}
	if (o->pin == NULL || o->pin[0] != '\0') {
		argv[n++] = "--pin-fd";
		argv[n++] = "3";
		pinfd = text_pipe(o->pin ? o->pin : PIN);
	}
	if (o->password) {
		pwfd = text_pipe(o->password);
	}
	infd = o->stdin_text ? text_pipe(o->stdin_text)
			     : open("/dev/null", O_RDONLY);
	/* ap comes started from cli_f (the analyzer loses that). */
	while ((s = va_arg(ap, const char *)) != NULL && /* NOLINT */
	       n < 62)
		argv[n++] = s;
	argv[n] = NULL;
	for (i = 0; environ[i] && ne < 240; i++) {
		if (strncmp(environ[i], "TENFOUR_", 8) == 0)
			continue;
		envp[ne++] = environ[i];
	}
	for (i = 0; i < 4 && o->env[i]; i++)
		envp[ne++] = o->env[i];
	envp[ne] = NULL;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		int fo = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int fe = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		setsid();
		if (o->background) {
			/* Its own files: the foreground runs reuse these. */
			close(fo);
			close(fe);
			snprintf(outp, sizeof outp, "%s/bg.stdout", g_tmp);
			snprintf(errp, sizeof errp, "%s/bg.stderr", g_tmp);
			fo = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			fe = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		}
		if (fo < 0 || fe < 0 || infd < 0)
			_exit(126);
		dup2(infd, 0);
		dup2(fo, 1);
		dup2(fe, 2);
		if (pinfd >= 0)
			dup2(pinfd, 3);
		if (pwfd >= 0)
			dup2(pwfd, 4);
		execve(g_cli, (char *const *)argv, (char *const *)envp);
		_exit(127);
	}
	if (pinfd >= 0)
		close(pinfd);
	if (pwfd >= 0)
		close(pwfd);
	if (infd >= 0)
		close(infd);
	if (pid < 0)
		return;
	if (o->background) {
		*o->pid_out = pid;
		r->code = 0;
		return;
	}
	r->code = wait_child(pid, RUN_WAIT_MS);
	r->out = slurp(outp, &r->out_len);
	r->err = slurp(errp, &r->err_len);
	if (r->out && r->out_len)
		tf_json_parse(r->out, r->out_len, NULL, &r->json, NULL);
	if (getenv("TEST_CLI_VERBOSE")) {
		fprintf(stderr, "$");
		for (i = 3; argv[i]; i++)
			fprintf(stderr, " %s", argv[i]);
		show(r, "run");
	}
}

static void cli_f(run *r, const run_opts *o, ...)
{
	va_list ap;

	va_start(ap, o);
	cli_v(r, o, ap);
	va_end(ap);
}

static const run_opts no_opts;

/* Runs with knobs o, or the default (PIN on fd 3, --server). */
#define cli_o(r, o, ...) cli_f((r), (o), __VA_ARGS__, END)
#define cli(r, ...) cli_f((r), &no_opts, __VA_ARGS__, END)

static int has(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

/* Prints what a failed run said (the checks only show the code). */
static void show(const struct run *r, const char *what)
{
	fprintf(stderr, "--- %s: exit %d\nstdout: %.2000s\nstderr: %.2000s\n",
		what, r->code, r->out ? r->out : "", r->err ? r->err : "");
}

#define EXPECT_CODE(r, want, what)                                             \
	do {                                                                   \
		if ((r)->code != (want))                                       \
			show((r), (what));                                     \
		CHECK_INT((r)->code, (want));                                  \
	} while (0)

/* CHECK_STR without strcmp's bare result (lint), printing both. */
static int str_eq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}
#define EXPECT_STR(a, b)                                                       \
	do {                                                                   \
		const char *x_ = (a), *y_ = (b);                               \
		if (!str_eq(x_, y_))                                           \
			tf_test_fail(__FILE__, __LINE__,                       \
				     "%s == %s: \"%s\" != \"%s\"", #a, #b,     \
				     x_ ? x_ : "(null)", y_ ? y_ : "(null)");  \
	} while (0)

static int64_t jint(const tf_json *v, const char *key)
{
	int64_t x = -1;

	tf_json_int64(tf_json_object_get(v, key), &x);
	return x;
}

/* status --json of the CLI home (PIN on fd 3); NULL on failure. */
static int status_json(run *r)
{
	cli(r, "--json", "status");
	if (r->code != 0 || r->json == NULL) {
		show(r, "status");
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- state */

static char g_rec[TF_UUID_LEN + 1];	 /* the incident made by create */
static char g_rec2[TF_UUID_LEN + 1];	 /* the one made offline */
static char g_conflict[TF_UUID_LEN + 1]; /* the record with remarks */

/* ---------------------------------------------------------------- tests */

TEST(usage_errors_exit_1)
{
	static const run_opts nopin = {.pin = ""};
	run r;

	cli_f(&r, &nopin, END);
	EXPECT_CODE(&r, 1, "no command");
	CHECK(has(r.err, "tenfour:"));
	run_free(&r);

	cli_o(&r, &nopin, "frobnicate");
	EXPECT_CODE(&r, 1, "unknown command");
	CHECK(has(r.err, "tenfour: unknown command (frobnicate)"));
	run_free(&r);

	cli_o(&r, &nopin, "get");
	EXPECT_CODE(&r, 1, "get without ID");
	CHECK(has(r.err, "wrong number of arguments"));
	run_free(&r);

	cli_o(&r, &nopin, "list", "--verify");
	EXPECT_CODE(&r, 1, "option the command does not take");
	run_free(&r);

	cli_o(&r, &nopin, "--pin-fd", "x", "status");
	EXPECT_CODE(&r, 1, "bad --pin-fd");
	run_free(&r);

	cli_o(&r, &nopin, "sync", "--max-seconds", "0");
	EXPECT_CODE(&r, 1, "bad --max-seconds");
	run_free(&r);

	{
		run_opts o = {.pin = ""};

		o.env[0] = "TENFOUR_CLOCK_OFFSET_MS=soon";
		cli_o(&r, &o, "status");
		EXPECT_CODE(&r, 1, "bad clock offset");
		CHECK(has(r.err, "TENFOUR_CLOCK_OFFSET_MS"));
		run_free(&r);
	}

	/* --json: a usage error is still one JSON document on stdout. */
	cli_o(&r, &nopin, "--json", "get");
	EXPECT_CODE(&r, 1, "json usage");
	CHECK(r.json != NULL);
	CHECK_INT(jint(tf_json_object_get(r.json, "error"), "exit"), 1);
	run_free(&r);

	cli_o(&r, &nopin, "--help");
	EXPECT_CODE(&r, 0, "help");
	CHECK(has(r.out, "tenfour enroll"));
	run_free(&r);
}

TEST(enroll_prints_key_and_admin_line)
{
	static const run_opts o = {.pin = "", .no_server = 1};
	const char *pub, *line;
	tf_err err;
	run r;
	char want[256];

	/* Before the daemon runs: the URL is replaced with --server later. */
	cli_o(&r, &o, "--json", "enroll", "--server", "http://127.0.0.1:9",
	      "--agency", AGENCY, "--device", DEVICE);
	EXPECT_CODE(&r, 0, "enroll");
	CHECK(r.json != NULL);
	pub = tf_json_get_str(r.json, "public_key", NULL);
	line = tf_json_get_str(r.json, "admin_command", NULL);
	CHECK(pub != NULL && strlen(pub) == 43);
	snprintf(want, sizeof want,
		 "tenfourd admin --agency " AGENCY " device-enroll " DEVICE
		 " --label " DEVICE " --pubkey %s",
		 pub ? pub : "?");
	EXPECT_STR(line, want);
	tf_err_clear(&err);
	if (pub == NULL ||
	    tf_h_device_enroll_pub(&H, AGENCY, DEVICE, pub, &err) != 0)
		fprintf(stderr, "enroll_pub: %s\n", err.msg);
	run_free(&r);

	/* A second enrollment of the same home is refused. */
	cli_o(&r, &o, "enroll", "--server", "http://127.0.0.1:9", "--agency",
	      AGENCY, "--device", DEVICE);
	EXPECT_CODE(&r, 2, "enroll twice");
	run_free(&r);

	/* Missing flags: usage. */
	cli_o(&r, &o, "enroll", "--server", "http://127.0.0.1:9");
	EXPECT_CODE(&r, 1, "enroll without agency");
	run_free(&r);
}

TEST(before_login_data_needs_login)
{
	run r;

	cli(&r, "list");
	EXPECT_CODE(&r, 3, "list before login");
	CHECK(has(r.err, "log in"));
	run_free(&r);
}

TEST(login_with_banner_password_totp_pin)
{
	tf_h_user *u = tf_h_user_find(&H, USER);
	char code[TF_TOTP_DIGITS + 1];
	run_opts o = {0};
	run r;

	CHECK(u != NULL);
	if (u == NULL)
		return;
	o.password = g_password;
	/* No terminal and no --accept-banner: usage, nothing sent. */
	cli_o(&r, &o, "login", "--user", USER, "--password-fd", "4", "--totp",
	      "123456");
	EXPECT_CODE(&r, 1, "login without banner acknowledgement");
	CHECK(has(r.err, "banner"));
	run_free(&r);

	CHECK_INT(tf_h_totp_next(u, code), 0);
	cli_o(&r, &o, "--json", "login", "--user", USER, "--accept-banner",
	      "--password-fd", "4", "--totp", code);
	EXPECT_CODE(&r, 0, "login");
	CHECK(r.json != NULL);
	CHECK(jint(r.json, "grant_not_after") > tf_h_now_ms());
	CHECK(has(r.err, "banner revision")); /* the banner was shown */
	run_free(&r);
}

TEST(create_set_append_get_list)
{
	const tf_json *f, *notes;
	char arg[128];
	run r;

	cli(&r, "--json", "create", "incident", "type_code=disturbance",
	    "priority=@2", "status=pending", "remarks=caller reports shouting");
	EXPECT_CODE(&r, 0, "create");
	CHECK(r.json != NULL);
	snprintf(g_rec, sizeof g_rec, "%s",
		 tf_json_get_str(r.json, "record_id", NULL)
			 ? tf_json_get_str(r.json, "record_id", NULL)
			 : "");
	CHECK_INT(strlen(g_rec), TF_UUID_LEN);
	CHECK(tf_json_object_get(r.json, "saved") != NULL);
	CHECK_INT(jint(r.json, "pending"), 1);
	run_free(&r);

	cli(&r, "set", "incident", g_rec, "priority=@1",
	    "location=@{\"addr\":\"12 Elm St\"}");
	EXPECT_CODE(&r, 0, "set");
	CHECK(has(r.out, "Saved on this device"));
	CHECK(has(r.out, "2 changes waiting"));
	run_free(&r);

	cli(&r, "append", "incident", g_rec, "notes", "first note");
	EXPECT_CODE(&r, 0, "append");
	run_free(&r);

	{
		run_opts o = {0};

		o.stdin_text = "note from stdin\n";
		cli_o(&r, &o, "append", "incident", g_rec, "notes");
		EXPECT_CODE(&r, 0, "append from stdin");
		run_free(&r);
	}

	cli(&r, "--json", "get", g_rec);
	EXPECT_CODE(&r, 0, "get");
	f = tf_json_object_get(tf_json_object_get(r.json, "record"), "f");
	CHECK_INT(jint(tf_json_object_get(f, "priority"), "v"), 1);
	EXPECT_STR(
		tf_json_get_str(tf_json_object_get(f, "type_code"), "v", NULL),
		"disturbance");
	notes = tf_json_object_get(tf_json_object_get(f, "notes"), "e");
	CHECK(notes != NULL && notes->type == TF_JSON_ARRAY && notes->len == 2);
	if (notes && notes->len == 2)
		EXPECT_STR(tf_json_get_str(
				   tf_json_object_get(notes->u.items[1], "v"),
				   "text", NULL),
			   "note from stdin");
	run_free(&r);

	/* Human view. */
	cli(&r, "get", g_rec);
	EXPECT_CODE(&r, 0, "get human");
	CHECK(has(r.out, "incident "));
	CHECK(has(r.out, "priority"));
	CHECK(has(r.out, "first note"));
	CHECK(has(r.out, "12 Elm St"));
	run_free(&r);

	cli(&r, "--json", "list", "incident");
	EXPECT_CODE(&r, 0, "list");
	CHECK(r.json != NULL && r.json->type == TF_JSON_ARRAY);
	CHECK(has(r.out, g_rec));
	run_free(&r);

	/* Invalid input: refused by the schema, exit 2, nothing queued. */
	cli(&r, "set", "incident", g_rec, "priority=@9");
	EXPECT_CODE(&r, 2, "set out of range");
	run_free(&r);
	cli(&r, "set", "incident", g_rec, "no_such_field=1");
	EXPECT_CODE(&r, 2, "set unknown field");
	run_free(&r);
	cli(&r, "set", "incident", g_rec, "priority");
	EXPECT_CODE(&r, 2, "set without =");
	run_free(&r);
	snprintf(arg, sizeof arg, "priority=@{");
	cli(&r, "set", "incident", g_rec, arg);
	EXPECT_CODE(&r, 2, "set bad JSON");
	run_free(&r);

	cli(&r, "--json", "status");
	EXPECT_CODE(&r, 0, "status");
	CHECK_INT(jint(r.json, "pending"), 4);
	run_free(&r);
}

TEST(sync_pushes_and_status_shows_saved)
{
	run r;

	cli(&r, "--json", "sync");
	EXPECT_CODE(&r, 0, "sync");
	CHECK(r.json != NULL);
	CHECK_INT(jint(r.json, "pending"), 0);
	CHECK_INT(jint(r.json, "pushed"), 4);
	CHECK(has(r.err, "sync: pushed")); /* plain progress lines */
	run_free(&r);

	if (status_json(&r) == 0) {
		CHECK_INT(jint(r.json, "pending"), 0);
		CHECK(jint(r.json, "last_sync_ms") > 0);
		CHECK(tf_json_object_get(r.json, "online") != NULL &&
		      tf_json_object_get(r.json, "online")->type ==
			      TF_JSON_TRUE);
	}
	run_free(&r);

	cli(&r, "status");
	EXPECT_CODE(&r, 0, "status human");
	CHECK(has(r.out, "everything is on the server"));
	CHECK(has(r.out, "online"));
	run_free(&r);
}

TEST(wrong_pin_counts_and_exit_3)
{
	run_opts o = {.pin = WRONG_PIN};
	int64_t before = -1;
	run r;

	cli(&r, "--json", "unlock");
	EXPECT_CODE(&r, 0, "unlock");
	before = jint(r.json, "unlock_attempts_left");
	CHECK(before > 1);
	run_free(&r);

	cli_o(&r, &o, "--json", "unlock");
	EXPECT_CODE(&r, 3, "wrong PIN");
	CHECK(has(r.err, "wrong PIN"));
	CHECK_INT(jint(tf_json_object_get(r.json, "error"),
		       "unlock_attempts_left"),
		  before - 1);
	run_free(&r);

	cli_o(&r, &o, "get", g_rec);
	EXPECT_CODE(&r, 3, "data command with a wrong PIN");
	run_free(&r);

	/* The right PIN again: the count starts over. */
	cli(&r, "--json", "unlock");
	EXPECT_CODE(&r, 0, "unlock again");
	CHECK_INT(jint(r.json, "unlock_attempts_left"), before);
	run_free(&r);
}

TEST(no_pin_source_is_locked_exit_3)
{
	static const run_opts nopin = {.pin = ""};
	run r;

	cli_o(&r, &nopin, "list");
	EXPECT_CODE(&r, 3, "no PIN");
	CHECK(has(r.err, "--pin-fd"));
	run_free(&r);

	/* TENFOUR_PIN is the last resort. */
	{
		run_opts o = {.pin = ""};

		o.env[0] = "TENFOUR_PIN=" PIN;
		cli_o(&r, &o, "list");
		EXPECT_CODE(&r, 0, "TENFOUR_PIN");
		run_free(&r);
	}
}

TEST(not_found_exit_7)
{
	run r;

	cli(&r, "get", "01900000-0000-7000-8000-000000000000");
	EXPECT_CODE(&r, 7, "get unknown");
	run_free(&r);

	cli(&r, "ack", "no-such-notice");
	EXPECT_CODE(&r, 7, "ack unknown");
	run_free(&r);

	cli(&r, "resolve", g_rec, "remarks", "--choice", "mine");
	EXPECT_CODE(&r, 7, "resolve without a conflict");
	run_free(&r);
}

TEST(offline_work_is_queued_then_synced)
{
	tf_err err;
	run r;

	CHECK_INT(tf_h_stop(&H, NULL), 0);
	/* --server still names the stopped daemon's address. */
	cli(&r, "--json", "create", "incident", "type_code=welfare check",
	    "priority=@3");
	EXPECT_CODE(&r, 0, "create offline");
	snprintf(g_rec2, sizeof g_rec2, "%s",
		 tf_json_get_str(r.json, "record_id", NULL)
			 ? tf_json_get_str(r.json, "record_id", NULL)
			 : "");
	run_free(&r);
	cli(&r, "append", "incident", g_rec2, "notes", "offline note");
	EXPECT_CODE(&r, 0, "append offline");
	run_free(&r);

	cli(&r, "sync");
	EXPECT_CODE(&r, 5, "sync offline");
	CHECK(has(r.err, "unreachable"));
	CHECK(has(r.err, "2 changes stay saved"));
	run_free(&r);

	tf_h_sleep_ms(1100);
	if (status_json(&r) == 0) {
		CHECK_INT(jint(r.json, "pending"), 2);
		CHECK(jint(r.json, "oldest_pending_ms") >= 1000);
		CHECK(tf_json_object_get(r.json, "online")->type ==
		      TF_JSON_FALSE);
	}
	run_free(&r);
	cli(&r, "status");
	EXPECT_CODE(&r, 0, "status offline");
	CHECK(has(r.out, "OFFLINE"));
	CHECK(has(r.out, "2 changes waiting"));
	run_free(&r);

	tf_err_clear(&err);
	CHECK_INT(tf_h_start(&H, &err), 0);
	cli(&r, "--json", "sync");
	EXPECT_CODE(&r, 0, "sync back online");
	CHECK_INT(jint(r.json, "pending"), 0);
	run_free(&r);
	if (status_json(&r) == 0)
		CHECK_INT(jint(r.json, "pending"), 0);
	run_free(&r);
}

TEST(supersede_notice_and_ack)
{
	const tf_json *notices;
	tf_json *res = NULL;
	const char *nid = NULL;
	char id[128] = "";
	run r;

	/* Mine first (queued), then a later write by the other dispatcher
	   reaches the server before mine: mine loses by clock. */
	cli(&r, "set", "incident", g_rec, "type_code=domestic");
	EXPECT_CODE(&r, 0, "set type offline");
	run_free(&r);
	CHECK_INT(tf_h_cmd(&H, &g_peer, tf_h_now_ms() + 5000, "incident", g_rec,
			   "set",
			   "{\"fields\":{\"type_code\":\"assault-weapon\"}}",
			   &res, NULL, NULL),
		  0);
	tf_json_free(res);

	cli(&r, "sync");
	EXPECT_CODE(&r, 0, "sync with a losing set");
	CHECK(has(r.out, "1 superseded"));
	run_free(&r);

	if (status_json(&r) == 0) {
		CHECK_INT(jint(r.json, "superseded"), 1);
		notices = tf_json_object_get(r.json, "notices");
		CHECK(notices && notices->type == TF_JSON_ARRAY &&
		      notices->len == 1);
		if (notices && notices->len == 1)
			nid = tf_json_get_str(notices->u.items[0], "id", NULL);
		if (nid)
			snprintf(id, sizeof id, "%s", nid);
	}
	run_free(&r);
	cli(&r, "status");
	CHECK(has(r.out, "superseded"));
	CHECK(has(r.out, "assault-weapon"));
	run_free(&r);

	cli(&r, "--json", "ack", id);
	EXPECT_CODE(&r, 0, "ack");
	EXPECT_STR(tf_json_get_str(r.json, "acked", NULL), id);
	run_free(&r);
	if (status_json(&r) == 0) {
		CHECK_INT(jint(r.json, "superseded"), 0);
		notices = tf_json_object_get(r.json, "notices");
		CHECK(notices && notices->len == 0);
	}
	run_free(&r);
}

TEST(edit_conflict_resolve)
{
	run_opts o = {0};
	tf_json *res = NULL;
	const tf_json *f;
	run r;

	snprintf(g_conflict, sizeof g_conflict, "%s", g_rec);
	/* Mine: an edit in $EDITOR (a script), offline against rev 1. */
	o.env[0] = g_editor;
	cli_o(&r, &o, "edit", "incident", g_conflict, "remarks");
	EXPECT_CODE(&r, 0, "edit");
	run_free(&r);
	/* Theirs: the other dispatcher rewrites the same words first. */
	CHECK_INT(tf_h_cmd(&H, &g_peer, tf_h_now_ms(), "incident", g_conflict,
			   "edit_text",
			   "{\"base\":\"caller reports shouting\","
			   "\"base_rev\":1,\"field\":\"remarks\","
			   "\"text\":\"caller reports shots fired\"}",
			   &res, NULL, NULL),
		  0);
	tf_json_free(res);

	cli(&r, "sync");
	EXPECT_CODE(&r, 8, "sync leaves a conflict");
	CHECK(has(r.err, "tenfour conflicts"));
	run_free(&r);

	cli(&r, "--json", "conflicts");
	EXPECT_CODE(&r, 0, "conflicts");
	CHECK(r.json && r.json->type == TF_JSON_ARRAY && r.json->len == 1);
	run_free(&r);

	/* The editor refuses a field with an open conflict. */
	cli_o(&r, &o, "edit", "incident", g_conflict, "remarks");
	EXPECT_CODE(&r, 8, "edit with a conflict");
	run_free(&r);

	/* Side by side (no terminal: $COLUMNS), choice by flag. */
	o.env[0] = "COLUMNS=200";
	cli_o(&r, &o, "resolve", g_conflict, "remarks", "--choice", "theirs");
	EXPECT_CODE(&r, 0, "resolve");
	CHECK(has(r.out, "BASE"));
	CHECK(has(r.out, "THEIRS"));
	CHECK(has(r.out, "MINE"));
	CHECK(has(r.out, "shots fired"));
	CHECK(has(r.out, "edited"));
	run_free(&r);

	cli(&r, "--json", "sync");
	EXPECT_CODE(&r, 0, "sync after resolve");
	CHECK_INT(jint(r.json, "conflicts"), 0);
	run_free(&r);
	cli(&r, "--json", "get", g_conflict);
	f = tf_json_object_get(tf_json_object_get(r.json, "record"), "f");
	EXPECT_STR(tf_json_get_str(tf_json_object_get(f, "remarks"), "v", NULL),
		   "caller reports shots fired");
	run_free(&r);
}

TEST(edit_file_never_on_disk)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char path[PATH_MAX];
	size_t n = 0;
	char *p;
	int found = 0;

	/* The editor script recorded where its file was: /dev/shm or
	   $XDG_RUNTIME_DIR (both tmpfs here), and it is gone now. */
	snprintf(path, sizeof path, "%s/editor-path", g_tmp);
	p = slurp(path, &n);
	if (p == NULL)
		return;
	while (n && p[n - 1] == '\n')
		p[--n] = '\0';
	CHECK(n > 0);
	found = strncmp(p, "/dev/shm/", 9) == 0 ||
		(xdg != NULL && *xdg && strncmp(p, xdg, strlen(xdg)) == 0);
	CHECK(found);
	CHECK(access(p, F_OK) != 0);
	free(p);
}

/* The recorded editor environment: the value of NAME= in file p, or "". */
static void rec_value(const char *p, const char *name, char *out, size_t cap)
{
	size_t l = strlen(name);
	const char *q = p;

	out[0] = '\0';
	while (q != NULL && *q) {
		if (strncmp(q, name, l) == 0 && q[l] == '=') {
			const char *e = strchr(q + l + 1, '\n');
			size_t n = e ? (size_t)(e - (q + l + 1)) : strlen(q + l + 1);

			if (n >= cap)
				n = cap - 1;
			memcpy(out, q + l + 1, n);
			out[n] = '\0';
			return;
		}
		q = strchr(q, '\n');
		if (q)
			q++;
	}
}

/* Writes an executable script at path. */
static int put_script(const char *path, const char *body)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fputs(body, f);
	fclose(f);
	return chmod(path, 0700);
}

/*
 * The editor's child environment: HOME, TMPDIR and the XDG state, data
 * and cache dirs are the private memory-backed dir (gone afterwards, with
 * the trees the editor made there), XDG_CONFIG_HOME stays the user's,
 * TENFOUR_PIN is not inherited, and a vim gets no swap/viminfo/undo.
 */
TEST(editor_env_private_and_no_pin)
{
	char bin[PATH_MAX], script[PATH_MAX + 8], body[4 * PATH_MAX + 1024];
	char rec[PATH_MAX + 16], edir[PATH_MAX], v[PATH_MAX], path[PATH_MAX];
	char env_editor[PATH_MAX + 16], *p, *slash;
	run_opts o = {0};
	size_t n = 0;
	run r;

	snprintf(bin, sizeof bin, "%s/bin", g_tmp);
	mkdir(bin, 0700);
	/* Named vim: the CLI must add the no-trace flags. */
	snprintf(script, sizeof script, "%s/vim", bin);
	snprintf(rec, sizeof rec, "%s/editor-env", g_tmp);
	snprintf(body, sizeof body,
		 "#!/bin/sh\n"
		 "for a in \"$@\"; do printf 'ARG=%%s\\n' \"$a\"; done > '%s'\n"
		 "printf 'HOME=%%s\\nTMPDIR=%%s\\nXDG_STATE_HOME=%%s\\n"
		 "XDG_DATA_HOME=%%s\\nXDG_CACHE_HOME=%%s\\n"
		 "XDG_CONFIG_HOME=%%s\\nPIN=%%s\\nPINSET=%%s\\n' \"$HOME\" "
		 "\"$TMPDIR\" \"$XDG_STATE_HOME\" \"$XDG_DATA_HOME\" "
		 "\"$XDG_CACHE_HOME\" \"$XDG_CONFIG_HOME\" \"$TENFOUR_PIN\" "
		 "\"${TENFOUR_PIN+set}\" >> '%s'\n"
		 "for a in \"$@\"; do f=\"$a\"; done\n"
		 "printf 'FILE=%%s\\n' \"$f\" >> '%s'\n"
		 "mkdir -p \"$XDG_STATE_HOME/nvim/shada\" && "
		 "echo secret > \"$XDG_STATE_HOME/nvim/shada/main.shada\"\n"
		 "echo secret > \"$HOME/.viminfo\"\n"
		 "printf 'caller reports shouting, edited in vim' > \"$f\"\n",
		 rec, rec, rec);
	CHECK_INT(put_script(script, body), 0);
	snprintf(env_editor, sizeof env_editor, "EDITOR=%s", script);
	o.pin = ""; /* the PIN only from TENFOUR_PIN */
	o.env[0] = env_editor;
	o.env[1] = "TENFOUR_PIN=" PIN;
	o.env[2] = "XDG_CONFIG_HOME=/tmp/tf-cli-user-config";
	cli_o(&r, &o, "edit", "incident", g_rec, "remarks");
	EXPECT_CODE(&r, 0, "edit with vim");
	run_free(&r);

	p = slurp(rec, &n);
	CHECK(p != NULL && n > 0);
	if (p == NULL)
		return;
	rec_value(p, "FILE", path, sizeof path);
	snprintf(edir, sizeof edir, "%s", path);
	slash = strrchr(edir, '/');
	CHECK(slash != NULL);
	if (slash)
		*slash = '\0';
	CHECK(strstr(edir, "/tenfour-edit-") != NULL);
	rec_value(p, "HOME", v, sizeof v);
	EXPECT_STR(v, edir);
	rec_value(p, "TMPDIR", v, sizeof v);
	EXPECT_STR(v, edir);
	rec_value(p, "XDG_STATE_HOME", v, sizeof v);
	EXPECT_STR(v, edir);
	rec_value(p, "XDG_DATA_HOME", v, sizeof v);
	EXPECT_STR(v, edir);
	rec_value(p, "XDG_CACHE_HOME", v, sizeof v);
	EXPECT_STR(v, edir);
	rec_value(p, "XDG_CONFIG_HOME", v, sizeof v);
	EXPECT_STR(v, "/tmp/tf-cli-user-config");
	rec_value(p, "PIN", v, sizeof v);
	EXPECT_STR(v, "");
	rec_value(p, "PINSET", v, sizeof v);
	EXPECT_STR(v, "");
	CHECK(has(p, "ARG=-n\nARG=-i\nARG=NONE\nARG=--cmd\n"
		     "ARG=set noundofile nobackup nowritebackup\n"));
	/* The dir and what the editor left there (nested too) are gone. */
	CHECK(access(edir, F_OK) != 0);
	free(p);

	cli(&r, "--json", "get", g_rec);
	EXPECT_CODE(&r, 0, "get after the vim edit");
	CHECK(has(r.out, "edited in vim"));
	run_free(&r);
}

/* SIGTERM to the CLI while the editor runs: the temp dir is removed. */
TEST(editor_sigterm_removes_temp_dir)
{
	char script[PATH_MAX], body[PATH_MAX + 256], rec[PATH_MAX];
	char env_editor[PATH_MAX + 16], *p;
	run_opts o = {0};
	size_t n = 0;
	run r;

	snprintf(script, sizeof script, "%s/editor-term.sh", g_tmp);
	snprintf(rec, sizeof rec, "%s/editor-term-path", g_tmp);
	snprintf(body, sizeof body,
		 "#!/bin/sh\nprintf '%%s' \"$1\" > '%s'\n"
		 "echo 'half-typed narrative' > \"$1\"\n"
		 "kill -TERM $PPID\nsleep 30\n",
		 rec);
	CHECK_INT(put_script(script, body), 0);
	snprintf(env_editor, sizeof env_editor, "EDITOR=%s", script);
	o.env[0] = env_editor;
	cli_o(&r, &o, "edit", "incident", g_rec, "remarks");
	/* Died of the signal (after cleaning up), not a normal exit. */
	CHECK_INT(r.code, -1);
	run_free(&r);
	p = slurp(rec, &n);
	CHECK(p != NULL && n > 0);
	if (p != NULL && n > 0) {
		char *slash = strrchr(p, '/');

		CHECK(strstr(p, "/tenfour-edit-") != NULL);
		CHECK(access(p, F_OK) != 0);
		if (slash)
			*slash = '\0';
		CHECK(access(p, F_OK) != 0);
	}
	free(p);
	cli(&r, "--json", "get", g_rec);
	EXPECT_CODE(&r, 0, "get after the stopped edit");
	CHECK(!has(r.out, "half-typed"));
	run_free(&r);
}

TEST(lookup_shows_stale_cache)
{
	char id[TF_UUID_LEN + 1] = "", args[512];
	int64_t now = tf_h_now_ms();
	tf_json *res = NULL;
	const tf_json *stale;
	run r;

	cli(&r, "--json", "create", "lookup", "requested_by=" USER);
	EXPECT_CODE(&r, 0, "create lookup");
	snprintf(id, sizeof id, "%s",
		 tf_json_get_str(r.json, "record_id", NULL)
			 ? tf_json_get_str(r.json, "record_id", NULL)
			 : "");
	run_free(&r);
	cli(&r, "sync");
	EXPECT_CODE(&r, 0, "sync lookup");
	run_free(&r);
	/* The gateway's answer, fetched 40 min ago with a 10 min ttl. */
	snprintf(args, sizeof args,
		 "{\"fields\":{\"result\":{\"fetched_at\":%lld,\"ttl\":600000,"
		 "\"v\":{\"status\":\"hit\",\"summary\":\"BOLO active\"}},"
		 "\"source\":{\"fetched_at\":%lld,\"ttl\":600000,\"v\":"
		 "\"bolo\"}}}",
		 (long long)(now - 2400000), (long long)(now - 2400000));
	CHECK_INT(tf_h_cmd(&H, &g_svc, now, "lookup", id, "ref_set", args, &res,
			   NULL, NULL),
		  0);
	EXPECT_STR(tf_json_get_str(res, "status", NULL), "applied");
	if (res && strcmp(tf_json_get_str(res, "status", NULL)
				  ? tf_json_get_str(res, "status", NULL)
				  : "",
			  "applied") != 0) {
		tf_buf b;

		tf_buf_init(&b);
		tf_json_write(res, &b);
		fprintf(stderr, "ref_set: %s\n", tf_buf_cstr(&b));
		tf_buf_free(&b);
	}
	tf_json_free(res);
	cli(&r, "sync");
	EXPECT_CODE(&r, 0, "sync ref values");
	run_free(&r);

	cli(&r, "--json", "lookup", id);
	EXPECT_CODE(&r, 0, "lookup json");
	stale = tf_json_object_get(r.json, "stale");
	CHECK(stale && stale->type == TF_JSON_ARRAY && stale->len == 2);
	run_free(&r);
	cli(&r, "lookup", id);
	EXPECT_CODE(&r, 0, "lookup");
	CHECK(has(r.out, "BOLO active"));
	CHECK(has(r.out, "STALE"));
	CHECK(has(r.out, "ttl 10m00s"));
	run_free(&r);
}

TEST(lock_stops_a_watcher)
{
	run_opts o = {0};
	pid_t pid = 0;
	char pidfile[PATH_MAX + 32];
	int i, code;
	size_t n = 0;
	char *out;
	run r;

	cli(&r, "--json", "lock");
	EXPECT_CODE(&r, 0, "lock without a watcher");
	CHECK_INT(jint(r.json, "watcher_pid"), 0);
	run_free(&r);

	o.background = 1;
	o.pid_out = &pid;
	cli_o(&r, &o, "--json", "sync", "--watch", "--max-seconds", "60");
	run_free(&r);
	CHECK(pid > 0);
	if (pid <= 0)
		return;
	/* The watcher writes its pid file once unlocked. */
	snprintf(pidfile, sizeof pidfile, "%s/watch.pid", g_home);
	for (i = 0; i < 3000; i++) { /* 60 s: a PBKDF2 unlock under load */
		struct stat st;

		if (stat(pidfile, &st) == 0 && st.st_size > 0)
			break;
		tf_h_sleep_ms(20);
	}
	/* One process per home: a data command is refused while it runs. */
	cli(&r, "list");
	EXPECT_CODE(&r, 9, "list while a watcher runs");
	CHECK(has(r.err, "tenfour lock"));
	run_free(&r);

	cli(&r, "--json", "lock");
	EXPECT_CODE(&r, 0, "lock");
	CHECK_INT(jint(r.json, "watcher_pid"), pid);
	run_free(&r);
	code = wait_child(pid, 30000);
	CHECK_INT(code, 0);
	snprintf(pidfile, sizeof pidfile, "%s/bg.stdout", g_tmp);
	out = slurp(pidfile, &n);
	CHECK(has(out, "\"locked_by_signal\":true"));
	free(out);

	cli(&r, "--json", "audit");
	EXPECT_CODE(&r, 0, "audit");
	CHECK(has(r.out, "\"reason\":\"manual\"")); /* the watcher's */
	run_free(&r);
}

TEST(audit_verify)
{
	run r;

	cli(&r, "--json", "audit", "--verify");
	EXPECT_CODE(&r, 0, "audit --verify");
	CHECK(r.json && tf_json_object_get(r.json, "intact"));
	run_free(&r);

	cli(&r, "--json", "audit");
	EXPECT_CODE(&r, 0, "audit");
	CHECK(r.json && r.json->type == TF_JSON_ARRAY && r.json->len > 5);
	run_free(&r);
}

TEST(expired_grant_and_rollback_exit_4)
{
	tf_h_user *u = tf_h_user_find(&H, USER);
	char code[TF_TOTP_DIGITS + 1];
	run_opts o = {0};
	run r;

	/* A clock 13 h ahead: past every grant (at most 12 h). */
	o.env[0] = "TENFOUR_CLOCK_OFFSET_MS=46800000";
	cli_o(&r, &o, "--json", "list");
	EXPECT_CODE(&r, 4, "expired grant");
	CHECK(r.json && tf_json_object_get(r.json, "error"));
	run_free(&r);

	/* Back to the true time after that: a rollback, or still expired;
	   either way an online login is needed (exit 4). */
	cli(&r, "list");
	if (r.code == 0) {
		/* The guard did not move its mark on a refused unlock. */
		run_free(&r);
	} else {
		EXPECT_CODE(&r, 4, "after the forward clock");
		run_free(&r);
		o.env[0] = NULL;
		o.password = g_password;
		CHECK(u != NULL);
		if (u == NULL)
			return;
		CHECK_INT(tf_h_totp_next(u, code), 0);
		cli_o(&r, &o, "login", "--user", USER, "--accept-banner",
		      "--password-fd", "4", "--totp", code);
		EXPECT_CODE(&r, 0, "login again");
		run_free(&r);
	}
	/* A clock 5 min back from the last one seen: a rollback. */
	o.env[0] = "TENFOUR_CLOCK_OFFSET_MS=-300000";
	o.password = NULL;
	cli_o(&r, &o, "list");
	EXPECT_CODE(&r, 4, "rollback");
	CHECK(has(r.err, "rollback") || has(r.err, "clock"));
	run_free(&r);
}

/* The server's logoff entries for the CLI's device. */
static int logoffs(void)
{
	tf_json *all = NULL;
	size_t k;
	int n = 0;

	if (tf_h_audit_all(&H, &g_aud, &all) != 0)
		return -1;
	for (k = 0; all && k < all->len; k++) {
		const tf_json *x = all->u.items[k];

		if (strcmp(tf_h_str(x, "type", END), "logoff") == 0 &&
		    strcmp(tf_h_str(x, "actor", "device", END), DEVICE) == 0)
			n++;
	}
	tf_json_free(all);
	return n;
}

TEST(logout_then_login_needed)
{
	tf_h_user *u = tf_h_user_find(&H, USER);
	char code[TF_TOTP_DIGITS + 1];
	run_opts o = {0};
	int before;
	run r;

	/* After the rollback the grant is unusable: the PIN cannot unlock,
	   so nothing is ended (exit 4) until an online login. */
	cli(&r, "logout");
	EXPECT_CODE(&r, 4, "logout with an unusable grant");
	CHECK(has(r.err, "NOT ended"));
	run_free(&r);
	CHECK(u != NULL);
	if (u == NULL)
		return;
	o.password = g_password;
	CHECK_INT(tf_h_totp_next(u, code), 0);
	cli_o(&r, &o, "login", "--user", USER, "--accept-banner",
	      "--password-fd", "4", "--totp", code);
	EXPECT_CODE(&r, 0, "login before logout");
	run_free(&r);
	o.password = NULL;

	before = logoffs();
	CHECK(before >= 0);
	/* No PIN: nothing is ended, and it says so (exit 3). */
	o.pin = "";
	cli_o(&r, &o, "--json", "logout");
	EXPECT_CODE(&r, 3, "logout without a PIN");
	CHECK(has(r.err, "NOT ended"));
	run_free(&r);
	/* A wrong PIN: the same. */
	o.pin = WRONG_PIN;
	cli_o(&r, &o, "logout");
	EXPECT_CODE(&r, 3, "logout with a wrong PIN");
	CHECK(has(r.err, "NOT ended"));
	run_free(&r);
	CHECK_INT(logoffs(), before);
	cli(&r, "list");
	EXPECT_CODE(&r, 0, "list: still logged in");
	run_free(&r);

	cli(&r, "--json", "logout");
	EXPECT_CODE(&r, 0, "logout");
	CHECK(r.json && tf_json_object_get(r.json, "logged_out"));
	run_free(&r);
	/* The server ended the session: its logoff entry is there. */
	CHECK_INT(logoffs(), before + 1);
	cli(&r, "list");
	EXPECT_CODE(&r, 3, "list after logout");
	CHECK(has(r.err, "log in"));
	run_free(&r);
}

TEST(wipe)
{
	static const run_opts nopin = {.pin = ""};
	tf_h_user *u = tf_h_user_find(&H, USER);
	char code[TF_TOTP_DIGITS + 1];
	run_opts o = {0};
	run r;

	/* The rollback above needs an online login first. */
	o.password = g_password;
	if (u && tf_h_totp_next(u, code) == 0) {
		cli_o(&r, &o, "login", "--user", USER, "--accept-banner",
		      "--password-fd", "4", "--totp", code);
		EXPECT_CODE(&r, 0, "login before wipe");
		run_free(&r);
	}
	cli_o(&r, &nopin, "wipe");
	EXPECT_CODE(&r, 1, "wipe without terminal or --yes");
	run_free(&r);

	cli(&r, "--json", "wipe", "--yes");
	EXPECT_CODE(&r, 0, "wipe");
	CHECK(r.json && tf_json_object_get(r.json, "wiped"));
	run_free(&r);

	cli(&r, "list");
	CHECK(r.code == 3 || r.code == 6);
	if (r.code != 3 && r.code != 6)
		show(&r, "list after wipe");
	run_free(&r);
}

/* Runs `tenfourd admin --db ... --agency pd <args>` (bounded). */
static int admin(const char *cmd, const char *arg)
{
	const char *argv[12];
	int n = 0, devnull;
	pid_t pid;

	argv[n++] = H.exe;
	argv[n++] = "admin";
	argv[n++] = "--db";
	argv[n++] = H.dsn;
	argv[n++] = "--schema";
	argv[n++] = H.schema_path;
	argv[n++] = "--agency";
	argv[n++] = AGENCY;
	argv[n++] = cmd;
	argv[n++] = arg;
	argv[n] = NULL;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, 1);
		execv(H.exe, (char *const *)argv);
		_exit(127);
	}
	return pid < 0 ? -1 : wait_child(pid, RUN_WAIT_MS);
}

TEST(revoked_device_wipes_exit_6)
{
	tf_h_user *u = tf_h_user_find(&H, USER);
	char code[TF_TOTP_DIGITS + 1];
	run_opts o = {0};
	run r;

	/* The wiped home logs in again (a new store), then IT revokes it. */
	o.password = g_password;
	CHECK(u != NULL);
	if (u == NULL || tf_h_totp_next(u, code) != 0)
		return;
	cli_o(&r, &o, "login", "--user", USER, "--accept-banner",
	      "--password-fd", "4", "--totp", code);
	EXPECT_CODE(&r, 0, "login after wipe");
	run_free(&r);
	cli(&r, "create", "incident", "type_code=theft");
	EXPECT_CODE(&r, 0, "create before revocation");
	run_free(&r);

	CHECK_INT(admin("device-revoke", DEVICE), 0);
	cli(&r, "sync");
	EXPECT_CODE(&r, 6, "sync of a revoked device");
	CHECK(has(r.err, "revoked"));
	run_free(&r);
	cli(&r, "list");
	CHECK(r.code == 3 || r.code == 6);
	if (r.code != 3 && r.code != 6)
		show(&r, "list after revocation");
	run_free(&r);
}

/* ---------------------------------------------------------------- setup */

static int setup(const char *argv0)
{
	const char *env = getenv("TF_TENFOUR");
	char dir[PATH_MAX], script[96], *slash;
	tf_h_user *u;
	tf_err err;
	FILE *f;

	tf_err_clear(&err);
	snprintf(g_tmp, sizeof g_tmp, "/tmp/tf-cli-XXXXXX");
	if (mkdtemp(g_tmp) == NULL)
		return -1;
	snprintf(g_home, sizeof g_home, "%s/home", g_tmp);
	if (env && *env) {
		snprintf(g_cli, sizeof g_cli, "%s", env);
	} else {
		snprintf(dir, sizeof dir, "%s", argv0);
		slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		else
			snprintf(dir, sizeof dir, ".");
		if (snprintf(g_cli, sizeof g_cli, "%s/../../tenfour", dir) >=
		    (int)sizeof g_cli)
			return -1;
	}
	if (access(g_cli, X_OK) != 0) {
		fprintf(stderr, "test_cli: no CLI at %s\n", g_cli);
		return -1;
	}
	/* An "editor" that records its file's path and writes the text. */
	snprintf(script, sizeof script, "%s/editor.sh", g_tmp);
	snprintf(g_editor, sizeof g_editor, "EDITOR=%s", script);
	f = fopen(script, "w");
	if (f == NULL)
		return -1;
	fprintf(f,
		"#!/bin/sh\necho \"$1\" > '%s/editor-path'\n"
		"printf 'caller reports shouting, edited by the script' > "
		"\"$1\"\n",
		g_tmp);
	fclose(f);
	chmod(script, 0700);

	if (tf_h_init(&H, argv0, &err) != 0 ||
	    tf_h_agency(&H, AGENCY, "Test PD", &err) != 0 ||
	    (u = tf_h_user_add(&H, AGENCY, USER, "dispatcher", NULL, &err)) ==
		    NULL ||
	    tf_h_user_add(&H, AGENCY, "erin", "dispatcher", NULL, &err) ==
		    NULL ||
	    tf_h_device_add(&H, AGENCY, "console-2", &err) == NULL ||
	    tf_h_user_add(&H, AGENCY, "ncic-gw", "service,supervisor", NULL,
			  &err) == NULL ||
	    tf_h_device_add(&H, AGENCY, "gateway-1", &err) == NULL ||
	    tf_h_user_add(&H, AGENCY, "aud", "auditor", NULL, &err) == NULL ||
	    tf_h_device_add(&H, AGENCY, "audit-ws", &err) == NULL) {
		fprintf(stderr, "test_cli: harness: %s\n", err.msg);
		return -1;
	}
	g_password = u->password;
	h_ok = 1;
	return 0;
}

/* After the enrollment test: the daemon and the peer's session. */
static int start(void)
{
	tf_err err;

	tf_err_clear(&err);
	tf_h_seed_done(&H);
	if (tf_h_start(&H, &err) != 0) {
		fprintf(stderr, "test_cli: start: %s\n", err.msg);
		return -1;
	}
	if (tf_h_login(&H, "erin", "console-2", &g_peer) != 0 ||
	    tf_h_login(&H, "ncic-gw", "gateway-1", &g_svc) != 0 ||
	    tf_h_login(&H, "aud", "audit-ws", &g_aud) != 0)
		return -1;
	return 0;
}

static void rm_tree(const char *dir)
{
	char cmd[PATH_MAX + 32];

	if (strncmp(dir, "/tmp/tf-cli-", 12) != 0)
		return;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "test_cli: could not remove %s\n", dir);
}

int main(int argc, char **argv)
{
	(void)argc;
	signal(SIGPIPE, SIG_IGN);
	if (setup(argv[0]) != 0) {
		tf_test_fail(__FILE__, __LINE__, "setup failed");
		tf_h_destroy(&H);
		rm_tree(g_tmp);
		return tf_test_finish(argv[0]);
	}
	RUN(usage_errors_exit_1);
	RUN(enroll_prints_key_and_admin_line);
	if (start() != 0) {
		tf_test_fail(__FILE__, __LINE__, "daemon start failed");
	} else {
		RUN(before_login_data_needs_login);
		RUN(login_with_banner_password_totp_pin);
		RUN(create_set_append_get_list);
		RUN(sync_pushes_and_status_shows_saved);
		RUN(wrong_pin_counts_and_exit_3);
		RUN(no_pin_source_is_locked_exit_3);
		RUN(not_found_exit_7);
		RUN(offline_work_is_queued_then_synced);
		RUN(supersede_notice_and_ack);
		RUN(edit_conflict_resolve);
		RUN(edit_file_never_on_disk);
		RUN(editor_env_private_and_no_pin);
		RUN(editor_sigterm_removes_temp_dir);
		RUN(lookup_shows_stale_cache);
		RUN(lock_stops_a_watcher);
		RUN(audit_verify);
		RUN(expired_grant_and_rollback_exit_4);
		RUN(logout_then_login_needed);
		RUN(wipe);
		RUN(revoked_device_wipes_exit_6);
	}
	tf_h_destroy(&H);
	rm_tree(g_tmp);
	return tf_test_finish(argv[0]);
}

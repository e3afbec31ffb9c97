/*
 * cli.c - `tenfour`, the command line of libtenfour-client: enrollment,
 * login, the "did it save?" status, sync (one round or a watcher), the
 * record commands, conflicts and their side-by-side resolution, notices,
 * cached lookups, the local audit log and the wipe.
 *
 * Each invocation opens the home, unlocks with the PIN when the command
 * touches data, acts and closes (which locks and zeroizes the keys): no
 * process keeps the store unlocked except a running `sync --watch`, which
 * `tenfour lock` stops through its pid file.  Output is human text, or one
 * JSON document on stdout with --json; errors go to stderr as
 * "tenfour: <what> (<where>)" and the exit status says which kind
 * (docs/tenfour.1 lists them; scripts depend on them, so they are stable).
 * Reference: docs/CLIENT.md and docs/tenfour.1.
 */
#define _DEFAULT_SOURCE /* TIOCGWINSZ, statfs */

#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "tenfour/client.h"
#include "tenfour/diff.h"
#include "tenfour/json.h"

/* Exit statuses (docs/tenfour.1, EXIT STATUS): stable for scripts. */
enum {
	TF_CLI_OK = 0,
	TF_CLI_USAGE = 1,
	TF_CLI_INPUT = 2,
	TF_CLI_LOCKED = 3,
	TF_CLI_EXPIRED = 4,
	TF_CLI_OFFLINE = 5,
	TF_CLI_WIPED = 6,
	TF_CLI_NOTFOUND = 7,
	TF_CLI_CONFLICT = 8,
	TF_CLI_FAIL = 9
};

/* Bounds on what comes from the command line, files, pipes and editors. */
#define TF_CLI_MAX_ARGS 1024		   /* argv entries */
#define TF_CLI_ARG_MAX ((size_t)64 * 1024) /* bytes of one argument */
#define TF_CLI_MAX_POS 256		   /* positional arguments */
#define TF_CLI_TEXT_MAX                                                        \
	((size_t)1024 * 1024)  /* a text file, stdin, the editor */
#define TF_CLI_SECRET_MAX 1024 /* password, PIN, passphrase */
#define TF_CLI_FIELD_MAX 64    /* bytes of a field name */
#define TF_CLI_URL_MAX 2048
#define TF_CLI_CLOCK_OFFSET_MAX ((int64_t)10 * 366 * 24 * 3600 * 1000)
#define TF_CLI_MAX_SECONDS (7L * 24 * 3600)
#define TF_CLI_LOCK_WAIT_MS 10000 /* for a watcher to exit */
#define TF_CLI_EDIT_DIR_MAX 64	  /* editor leftovers removed */
#define TF_CLI_WATCH_PID "watch.pid"
#define TF_CLI_HOME_LOCK "cli.lock"
#define TF_CLI_HOME_WAIT_MS 30000 /* for another command to end */
#define TF_CLI_PROBE_MS 3000L	  /* status: is the server there? */

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef RAMFS_MAGIC
#define RAMFS_MAGIC 0x858458f6
#endif

/* Options, one bit each so a command can list those it takes. */
enum {
	O_HOME = 1u << 0,
	O_SERVER = 1u << 1,
	O_JSON = 1u << 2,
	O_SCHEMA = 1u << 3,
	O_PIN_FD = 1u << 4,
	O_USER = 1u << 5,
	O_ACCEPT = 1u << 6,
	O_PASS_FD = 1u << 7,
	O_TOTP = 1u << 8,
	O_TOTP_FD = 1u << 9,
	O_AGENCY = 1u << 10,
	O_DEVICE = 1u << 11,
	O_LABEL = 1u << 12,
	O_WATCH = 1u << 13,
	O_MAXSEC = 1u << 14,
	O_VERIFY = 1u << 15,
	O_YES = 1u << 16,
	O_CHOICE = 1u << 17,
	O_TEXTFILE = 1u << 18,
	O_HELP = 1u << 19
};
#define O_GLOBAL (O_HOME | O_SERVER | O_JSON | O_SCHEMA | O_PIN_FD | O_HELP)

typedef struct cli {
	const char *home;
	char home_buf[PATH_MAX];
	const char *server, *schema, *user, *totp, *agency, *device, *label;
	const char *choice, *text_file;
	int json, accept_banner, watch, verify, yes;
	int pin_fd, password_fd, totp_fd;
	long max_seconds; /* -1: not given */
	unsigned seen;
	const char *cmd;
	char *pos[TF_CLI_MAX_POS];
	size_t npos;

	int64_t clock_offset_ms;
	tf_client_clock clock;
	tf_client *c;

	int home_lock_fd; /* -1, or the fd holding <home>/cli.lock */
	/* A usage error reports exit 1 whatever the code (fail()). */
	int usage;
	/* status: bound of the reachability probe (ms), 0: the default. */
	long probe_timeout_ms;

	/* $TENFOUR_PIN, taken out of the environment at start (children
	   such as $EDITOR must not inherit it); zeroized at exit. */
	char env_pin[TF_CLI_SECRET_MAX + 1];
	size_t env_pin_len;
	int env_pin_long; /* it was over TF_CLI_SECRET_MAX bytes */

	/* After a wrong PIN: the attempts left, for the JSON error. */
	int attempts_known;
	uint32_t attempts_left;

	/* Sync progress output. */
	int progress_tty;
	int progress_shown;
	unsigned progress_bucket;
	tf_client_progress last;
	tf_client_progress printed; /* the last plain line */
} cli;

/* Set by the signal handlers of `sync --watch`. */
static volatile int g_stop;
static volatile sig_atomic_t g_locked_by_signal;

/* ------------------------------------------------------------ errors */

/* The exit status for a TF_E* code (0 -> 0). */
static int exit_for(int rc)
{
	switch (rc) {
	case 0:
		return TF_CLI_OK;
	case TF_EINVAL:
	case TF_EJSON:
	case TF_ELIMIT:
	case TF_EUTF8:
	case TF_EDUPKEY:
	case TF_EVALIDATE:
	case TF_EEXIST:
	case TF_ETRANSITION:
	case TF_EOFFLINE:
	case TF_EPERM:
	case TF_ERANGE:
	case TF_ETYPE:
	case TF_EUNKNOWN:
	case TF_EMISSING:
	case TF_ECLOCKSKEW:
		return TF_CLI_INPUT;
	case TF_ELOCKED:
	case TF_EAUTH:
		return TF_CLI_LOCKED;
	case TF_EEXPIRED:
	case TF_EROLLBACK:
		return TF_CLI_EXPIRED;
	case TF_ENET:
		return TF_CLI_OFFLINE;
	case TF_EWIPE:
	case TF_EREVOKED:
		return TF_CLI_WIPED;
	case TF_ENOTFOUND:
		return TF_CLI_NOTFOUND;
	case TF_ECONFLICT:
		return TF_CLI_CONFLICT;
	default:
		return TF_CLI_FAIL;
	}
}

/*
 * Reports a failure: "tenfour: <what> (<where>)" on stderr and, with
 * --json, {"error":{...}} on stdout (so a script always reads one
 * document).  Returns the exit status for rc.  Secrets are never in err:
 * the library keeps them out and this file never formats one.
 */
static int fail(cli *a, int rc, const tf_err *err, const char *where)
{
	const char *what = err && err->msg[0] ? err->msg : tf_strerror(rc);
	const char *w = err && err->where[0] ? err->where : where;
	size_t wl = w ? strlen(w) : 0;
	int code = a && a->usage ? TF_CLI_USAGE : exit_for(rc);
	tf_buf b;

	/* "where: what" from a library message: where goes last. */
	if (wl && strncmp(what, w, wl) == 0 && what[wl] == ':' &&
	    what[wl + 1] == ' ')
		what += wl + 2;
	fprintf(stderr, "tenfour: %s (%s)\n", what, w ? w : "tenfour");
	if (a == NULL || !a->json)
		return code;
	tf_buf_init(&b);
	tf_buf_puts(&b, "{\"error\":{\"code\":");
	tf_json_write_string(&b, tf_errcode(rc), strlen(tf_errcode(rc)));
	tf_buf_printf(&b, ",\"exit\":%d,\"message\":", code);
	tf_json_write_string(&b, what, strlen(what));
	if (a->attempts_known)
		tf_buf_printf(&b, ",\"unlock_attempts_left\":%" PRIu32,
			      a->attempts_left);
	tf_buf_puts(&b, ",\"where\":");
	w = w ? w : "tenfour";
	tf_json_write_string(&b, w, strlen(w));
	tf_buf_puts(&b, "}}\n");
	if (!b.failed)
		fwrite(b.data, 1, b.len, stdout);
	tf_buf_free(&b);
	return code;
}

/* A usage error (exit 1), message formatted like every other error. */
static int usage_fail(cli *a, const char *what, const char *where)
{
	tf_err e;

	tf_err_clear(&e);
	snprintf(e.msg, sizeof e.msg, "%s", what);
	snprintf(e.where, sizeof e.where, "%s", where ? where : "usage");
	if (a)
		a->usage = 1;
	fail(a, TF_EINVAL, &e, NULL);
	fprintf(stderr, "tenfour: run `tenfour --help` for the commands\n");
	return TF_CLI_USAGE;
}

/* ------------------------------------------------------------- clock */

static int64_t cli_wall_ms(void *ctx)
{
	const cli *a = ctx;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
	       a->clock_offset_ms;
}

static int64_t cli_mono_ms(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ output */

/* Writes s to f with control bytes shown as '?' (data may come from the
   network: no terminal escapes); newlines kept when nl. */
static void put_safe(FILE *f, const char *s, size_t len, int nl)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((ch == '\n' && nl) || ch == '\t' ||
		    (ch >= 0x20 && ch != 0x7f))
			fputc(ch, f);
		else
			fputc('?', f);
	}
}

static void put_json_compact(FILE *f, const tf_json *v)
{
	tf_buf b;

	tf_buf_init(&b);
	if (v && tf_json_write(v, &b) == 0 && b.len)
		put_safe(f, b.data, b.len, 0);
	tf_buf_free(&b);
}

/* A value for humans: strings bare, anything else as compact JSON. */
static void put_value(FILE *f, const tf_json *v)
{
	if (v && v->type == TF_JSON_STRING)
		put_safe(f, v->u.str, v->len, 0);
	else
		put_json_compact(f, v);
}

/* "2026-11-25 21:10:05Z", or "never" for 0. */
static void fmt_time(int64_t ms, char out[40])
{
	time_t t;
	struct tm tm;

	if (ms <= 0) {
		snprintf(out, 40, "never");
		return;
	}
	t = (time_t)(ms / 1000);
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, 40, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
		snprintf(out, 40, "%" PRId64 " ms", ms);
}

/* "2h05m", "4m12s", "9s" (negative shown with a minus). */
static void fmt_dur(int64_t ms, char out[40])
{
	const char *sign = "";
	int64_t s;

	if (ms < 0) {
		sign = "-";
		ms = ms == INT64_MIN ? INT64_MAX : -ms;
	}
	s = ms / 1000;
	if (s >= 86400)
		snprintf(out, 40, "%s%" PRId64 "d%02" PRId64 "h", sign,
			 s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(out, 40, "%s%" PRId64 "h%02" PRId64 "m", sign,
			 s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(out, 40, "%s%" PRId64 "m%02" PRId64 "s", sign, s / 60,
			 s % 60);
	else
		snprintf(out, 40, "%s%" PRId64 "s", sign, s);
}

/* Prints buf (one JSON document) and a newline on stdout. */
static void put_doc(const tf_buf *b)
{
	if (b->len)
		fwrite(b->data, 1, b->len, stdout);
	fputc('\n', stdout);
}

/* Terminal width of fd, else $COLUMNS, else 80; within 40..400. */
static int term_width(int fd)
{
	struct winsize ws;
	const char *cols = getenv("COLUMNS");
	long w = 80;

	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		w = ws.ws_col;
	else if (cols != NULL && strlen(cols) < 6)
		w = strtol(cols, NULL, 10);
	if (w < 40)
		w = 40;
	if (w > 400)
		w = 400;
	return (int)w;
}

/* Shell-quotes s into b for the administrator's command line. */
static void shell_quote(tf_buf *b, const char *s)
{
	const char *p;

	for (p = s; *p; p++) {
		if (!isalnum((unsigned char)*p) &&
		    strchr("-_.:/@=+,", *p) == NULL)
			break;
	}
	if (*s && *p == '\0') {
		tf_buf_puts(b, s);
		return;
	}
	tf_buf_putc(b, '\'');
	for (p = s; *p; p++) {
		if (*p == '\'')
			tf_buf_puts(b, "'\\''");
		else
			tf_buf_putc(b, *p);
	}
	tf_buf_putc(b, '\'');
}

/* ----------------------------------------------------------- secrets */

/*
 * Reads one line (up to '\n' or end of file) from fd into out (cap bytes
 * with the NUL), byte by byte so nothing past the line is consumed; a
 * trailing CR is dropped.  TF_ELIMIT past cap - 1 bytes, TF_EMISSING when
 * empty, TF_EIO on a read error.  On error out is zeroed.
 */
static int read_line_fd(int fd, char *out, size_t cap, size_t *len,
			const char *what, tf_err *err)
{
	size_t n = 0;
	char ch;

	assert(cap > 1);
	*len = 0;
	for (;;) {
		ssize_t r = read(fd, &ch, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			tf_cleanse(out, cap);
			return tf_err_set(err, TF_EIO, what,
					  "cannot read the %s: %s", what,
					  strerror(errno));
		}
		if (r == 0 || ch == '\n')
			break;
		if (n + 1 >= cap) {
			tf_cleanse(out, cap);
			return tf_err_set(err, TF_ELIMIT, what,
					  "the %s is longer than %zu bytes",
					  what, cap - 1);
		}
		out[n++] = ch;
	}
	if (n && out[n - 1] == '\r')
		n--;
	out[n] = '\0';
	if (n == 0)
		return tf_err_set(err, TF_EMISSING, what, "no %s given", what);
	*len = n;
	return 0;
}

/*
 * Prompts on the controlling terminal and reads a line, without echo
 * unless echo.  TF_ENOTFOUND when there is no terminal (the caller falls
 * back or says how to pass the value).
 */
static int read_tty(const char *prompt, int echo, char *out, size_t cap,
		    size_t *len, const char *what, tf_err *err)
{
	struct termios old, quiet;
	int fd, rc, restore = 0;

	*len = 0;
	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return tf_err_set(err, TF_ENOTFOUND, what,
				  "no terminal for the %s", what);
	if (!echo && tcgetattr(fd, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		quiet.c_lflag |= ICANON;
		if (tcsetattr(fd, TCSAFLUSH, &quiet) == 0)
			restore = 1;
	}
	if (write(fd, prompt, strlen(prompt)) < 0) {
		/* The prompt is a courtesy; the read still says what failed. */
	}
	rc = read_line_fd(fd, out, cap, len, what, err);
	if (restore) {
		tcsetattr(fd, TCSAFLUSH, &old);
		if (write(fd, "\n", 1) < 0) {
			/* Same: cosmetic. */
		}
	}
	close(fd);
	return rc;
}

/*
 * The PIN: --pin-fd N, else the terminal (no echo), else $TENFOUR_PIN
 * (automation's last resort).  TF_ELOCKED when none is available.
 */
static int get_pin(cli *a, const char *prompt, char *pin, size_t cap,
		   size_t *len, tf_err *err)
{
	int rc;

	if (a->pin_fd >= 0)
		return read_line_fd(a->pin_fd, pin, cap, len, "PIN", err);
	rc = read_tty(prompt, 0, pin, cap, len, "PIN", err);
	if (rc != TF_ENOTFOUND)
		return rc;
	if (a->env_pin_long || (a->env_pin_len > 0 && a->env_pin_len >= cap))
		return tf_err_set(err, TF_ELIMIT, "TENFOUR_PIN",
				  "TENFOUR_PIN is longer than %zu bytes",
				  (size_t)TF_CLI_SECRET_MAX);
	if (a->env_pin_len > 0) {
		*len = a->env_pin_len;
		memcpy(pin, a->env_pin, *len + 1);
		return 0;
	}
	return tf_err_set(err, TF_ELOCKED, "PIN",
			  "the PIN is needed and there is no terminal: pass "
			  "--pin-fd N (or set TENFOUR_PIN)");
}

/* --------------------------------------------------------- the client */

static pid_t watcher_pid(cli *a);

/*
 * One tenfour process at a time per home: the library keeps the replica,
 * the queue's next seq and the audit chain's head in memory, so two
 * processes writing one store could give two commands the same seq or
 * fork the audit chain.  Every command that opens the client holds an
 * fcntl write lock on <home>/cli.lock until it exits (the kernel drops it
 * even on a crash).  A running `sync --watch` holds it all along: a
 * command then fails at once (TF_EBUSY, exit 9) saying `tenfour lock`
 * stops it; another short command is waited for, up to
 * TF_CLI_HOME_WAIT_MS.
 */
static int home_lock(cli *a, tf_err *err)
{
	char path[PATH_MAX];
	struct flock fl;
	int fd, waited;

	if (snprintf(path, sizeof path, "%s/%s", a->home, TF_CLI_HOME_LOCK) >=
	    (int)sizeof path)
		return tf_err_set(err, TF_ELIMIT, a->home,
				  "home path too long");
	/* enroll makes the home; the library would make it 0700 too. */
	if (mkdir(a->home, 0700) != 0 && errno != EEXIST)
		return tf_err_set(err, TF_EIO, a->home,
				  "cannot make the home: %s", strerror(errno));
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return tf_err_set(err, TF_EIO, path, "cannot open: %s",
				  strerror(errno));
	for (waited = 0;; waited += 100) {
		struct timespec ts = {0, 100 * 1000000L};

		memset(&fl, 0, sizeof fl);
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fcntl(fd, F_SETLK, &fl) == 0) {
			a->home_lock_fd = fd; /* held until exit */
			return 0;
		}
		if (errno != EAGAIN && errno != EACCES) {
			close(fd);
			return tf_err_set(err, TF_EIO, path, "cannot lock: %s",
					  strerror(errno));
		}
		memset(&fl, 0, sizeof fl);
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK &&
		    fl.l_pid > 0 && fl.l_pid == watcher_pid(a)) {
			close(fd);
			return tf_err_set(
				err, TF_EBUSY, "home",
				"a running `tenfour sync --watch` (pid "
				"%ld) has this home open: `tenfour "
				"lock` stops it",
				(long)fl.l_pid);
		}
		if (waited >= TF_CLI_HOME_WAIT_MS) {
			close(fd);
			return tf_err_set(err, TF_EBUSY, "home",
					  "another tenfour process (pid %ld) "
					  "still uses this home after %d s",
					  (long)fl.l_pid,
					  TF_CLI_HOME_WAIT_MS / 1000);
		}
		nanosleep(&ts, NULL);
	}
}

static int cli_open(cli *a, tf_err *err)
{
	tf_client_opts o;
	int rc;

	rc = home_lock(a, err);
	if (rc)
		return rc;
	memset(&o, 0, sizeof o);
	o.home = a->home;
	o.schema_path = a->schema;
	/* --server: the URL to enroll with, or one that overrides the
	   enrolled URL for this run (a moved server, a proxy). */
	if (strcmp(a->cmd, "enroll") != 0)
		o.server_url = a->server;
	o.ca_file = getenv("TENFOUR_CA_FILE");
	if (o.ca_file != NULL && *o.ca_file == '\0')
		o.ca_file = NULL;
	o.clock = &a->clock;
	if (!a->watch && a->max_seconds > 0)
		o.timeout_ms = a->max_seconds * 1000;
	if (a->probe_timeout_ms > 0)
		o.timeout_ms = a->probe_timeout_ms;
	return tf_client_open(&o, &a->c, err);
}

/*
 * Unlocks with the PIN (see get_pin) unless already unlocked.  A wrong
 * PIN counts (the library persists the count before trying it); the
 * attempts left go to the JSON error.
 */
static int cli_unlock(cli *a, tf_err *err)
{
	tf_client_status st;
	char pin[TF_CLI_SECRET_MAX + 1];
	size_t len = 0;
	int rc;

	memset(&st, 0, sizeof st);
	tf_client_status_get(a->c, &st);
	if (!st.enrolled)
		return tf_err_set(err, TF_EAUTH, a->home,
				  "this home is not enrolled: run `tenfour "
				  "enroll` first");
	if (st.unlocked)
		return 0;
	rc = get_pin(a, "PIN: ", pin, sizeof pin, &len, err);
	if (rc == 0)
		rc = tf_client_unlock(a->c, pin, len, err);
	tf_cleanse(pin, sizeof pin);
	if (rc == TF_EAUTH) {
		memset(&st, 0, sizeof st);
		tf_client_status_get(a->c, &st);
		a->attempts_known = 1;
		a->attempts_left = st.unlock_attempts_left;
	}
	return rc;
}

/* Opens and unlocks: what every data command starts with. */
static int cli_open_unlocked(cli *a, tf_err *err)
{
	int rc = cli_open(a, err);

	return rc ? rc : cli_unlock(a, err);
}

/* ------------------------------------------------------ reading input */

/* Reads a whole fd (bounded by TF_CLI_TEXT_MAX) into out. */
static int read_all_fd(int fd, tf_buf *out, const char *what, tf_err *err)
{
	char chunk[4096];

	for (;;) {
		ssize_t r = read(fd, chunk, sizeof chunk);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return tf_err_set(err, TF_EIO, what, "cannot read: %s",
					  strerror(errno));
		if (r == 0)
			break;
		if (out->len + (size_t)r > TF_CLI_TEXT_MAX)
			return tf_err_set(err, TF_ELIMIT, what,
					  "more than %zu bytes",
					  TF_CLI_TEXT_MAX);
		tf_buf_append(out, chunk, (size_t)r);
		if (out->failed)
			return tf_err_set(err, out->failed, what,
					  "out of memory");
	}
	tf_buf_cstr(out);
	return out->failed ? tf_err_set(err, out->failed, what, "out of memory")
			   : 0;
}

static int read_file(const char *path, tf_buf *out, tf_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return tf_err_set(err, errno == ENOENT ? TF_ENOTFOUND : TF_EIO,
				  path, "cannot open: %s", strerror(errno));
	rc = read_all_fd(fd, out, path, err);
	close(fd);
	return rc;
}

/* Text must be UTF-8 without NUL bytes to become a JSON string. */
static int check_text(const tf_buf *b, const char *where, tf_err *err)
{
	if (b->len && (memchr(b->data, '\0', b->len) != NULL ||
		       !tf_utf8_valid(b->data, b->len)))
		return tf_err_set(
			err, TF_EUTF8, where,
			"the text is not UTF-8 (or holds a NUL byte)");
	return 0;
}

/*
 * A command-line value: "@<json>" is JSON (so "@1" is the number 1 and
 * "@\"@x\"" the string "@x"); anything else is a string.  *out owned by
 * the caller.
 */
static int parse_value(const char *text, const char *where, tf_json **out,
		       tf_err *err)
{
	tf_json_limits lim = tf_json_default_limits;

	*out = NULL;
	if (text[0] == '@') {
		lim.max_bytes = TF_CLI_ARG_MAX;
		if (tf_json_parse(text + 1, strlen(text + 1), &lim, out, err) !=
		    0) {
			int rc = err ? err->code : TF_EJSON;
			char msg[sizeof err->msg];

			if (err) {
				snprintf(msg, sizeof msg, "%s", err->msg);
				tf_err_set(err, rc, where,
					   "the value after @ is not JSON: %s",
					   msg);
			}
			return rc ? rc : TF_EJSON;
		}
		return 0;
	}
	*out = tf_json_cstring(text);
	if (*out == NULL)
		return tf_err_set(err, TF_EUTF8, where,
				  "the value is not UTF-8 text");
	return 0;
}

/* A field name: 1..64 bytes of [a-z0-9_]. */
static int check_field_name(const char *s, size_t n, const char *where,
			    tf_err *err)
{
	size_t i;

	if (n == 0 || n > TF_CLI_FIELD_MAX)
		return tf_err_set(err, TF_EINVAL, where,
				  "a field name has 1 to %d characters",
				  TF_CLI_FIELD_MAX);
	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (!(ch >= 'a' && ch <= 'z') && !(ch >= '0' && ch <= '9') &&
		    ch != '_')
			return tf_err_set(err, TF_EINVAL, where,
					  "a field name is lower-case letters, "
					  "digits and _");
	}
	return 0;
}

/*
 * {"fields":{name: value, ...}} from "name=value" arguments (see
 * parse_value); a field given twice is refused.
 */
static int fields_args(char *const *kv, size_t n, tf_buf *out, tf_err *err)
{
	tf_json *root = tf_json_object(), *fields = tf_json_object();
	tf_json *v = NULL;
	size_t i;
	int rc = 0;

	if (root == NULL || fields == NULL) {
		rc = tf_err_set(err, TF_ENOMEM, "arguments", "out of memory");
		goto out;
	}
	if (n == 0) {
		rc = tf_err_set(err, TF_EMISSING, "fields",
				"give at least one field=value");
		goto out;
	}
	for (i = 0; i < n; i++) {
		const char *eq = strchr(kv[i], '=');
		size_t klen;

		if (eq == NULL) {
			rc = tf_err_set(err, TF_EINVAL, kv[i],
					"expected field=value");
			goto out;
		}
		klen = (size_t)(eq - kv[i]);
		rc = check_field_name(kv[i], klen, kv[i], err);
		if (rc)
			goto out;
		if (tf_json_object_getn(fields, kv[i], klen) != NULL) {
			rc = tf_err_set(err, TF_EDUPKEY, kv[i],
					"the field is given twice");
			goto out;
		}
		rc = parse_value(eq + 1, kv[i], &v, err);
		if (rc)
			goto out;
		rc = tf_json_object_setn(fields, kv[i], klen, v);
		if (rc) {
			tf_json_free(v);
			tf_err_set(err, rc, kv[i], "out of memory");
			goto out;
		}
	}
	rc = tf_json_object_set(root, "fields", fields);
	if (rc) {
		tf_err_set(err, rc, "arguments", "out of memory");
		goto out;
	}
	fields = NULL;
	rc = tf_json_write(root, out);
	if (rc)
		tf_err_set(err, rc, "arguments", "out of memory");
out:
	tf_json_free(fields);
	tf_json_free(root);
	return rc;
}

/* -------------------------------------------------- memory-backed edit */

/* 1 when path is on tmpfs or ramfs (never written to a disk). */
static int on_memory_fs(const char *path)
{
	struct statfs fs;

	if (statfs(path, &fs) != 0)
		return 0;
	return (unsigned long)fs.f_type == (unsigned long)TMPFS_MAGIC ||
	       (unsigned long)fs.f_type == (unsigned long)RAMFS_MAGIC;
}

/*
 * Removes what is under the directory dfd (closed here): an editor's
 * leftovers (swap, undo, backup files, the state and cache trees it made
 * under the HOME and XDG dirs we gave it).  Bounded: depth 8 and
 * TF_CLI_EDIT_DIR_MAX entries per directory; never follows a symlink.
 */
static void remove_under(int dfd, int depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int n = 0;

	if (d == NULL) {
		close(dfd);
		return;
	}
	while (n++ < TF_CLI_EDIT_DIR_MAX && (de = readdir(d)) != NULL) {
		int sub;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			continue;
		if (depth >= 8)
			continue;
		sub = openat(dirfd(d), de->d_name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		remove_under(sub, depth + 1);
		(void)unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
	}
	closedir(d);
}

/* Removes dir and everything an editor left in it. */
static void remove_edit_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0)
		remove_under(fd, 0);
	rmdir(dir);
}

extern char **environ;

/* Set by on_edit_signal: SIGHUP/SIGTERM came while the editor ran. */
static volatile sig_atomic_t g_edit_signal;
static volatile sig_atomic_t g_edit_child; /* the editor's pid, or 0 */

static void on_edit_signal(int sig)
{
	g_edit_signal = sig;
	if (g_edit_child > 0)
		kill((pid_t)g_edit_child, SIGTERM);
}

/* 1 when the editor command's program is vi, vim or nvim. */
static int editor_is_vi(const char *editor)
{
	const char *p = editor, *start, *base;
	size_t n;

	while (*p == ' ' || *p == '\t')
		p++;
	start = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	base = start;
	for (const char *q = start; q < p; q++) {
		if (*q == '/')
			base = q + 1;
	}
	n = (size_t)(p - base);
	return (n == 2 && strncmp(base, "vi", 2) == 0) ||
	       (n == 3 && strncmp(base, "vim", 3) == 0) ||
	       (n == 4 && strncmp(base, "nvim", 4) == 0);
}

/* The editor's environment variables we replace (and TENFOUR_PIN). */
static const char *const edit_env_names[] = {
	"HOME",		  "TMPDIR",	     "XDG_STATE_HOME", "XDG_DATA_HOME",
	"XDG_CACHE_HOME", "XDG_CONFIG_HOME", "TENFOUR_PIN"};
#define TF_CLI_EDIT_ENV_MAX 4096 /* environment entries passed on */

/*
 * The editor's environment: ours without the names above, plus HOME,
 * TMPDIR, XDG_STATE_HOME, XDG_DATA_HOME and XDG_CACHE_HOME all set to the
 * private memory-backed dir (where vim/neovim keep swap, undo, viminfo or
 * shada files and VS Code its backups), and XDG_CONFIG_HOME kept at the
 * user's real config dir so their settings still load.  vals holds the
 * strings (6 of PATH_MAX + 32); *envp is malloc'd, the caller frees it.
 */
static int editor_env(const char *dir, char vals[][PATH_MAX + 32],
		      char ***envp, tf_err *err)
{
	const char *cfg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	size_t n = 0, ne = 0, i, k;
	char **e;

	while (n < TF_CLI_EDIT_ENV_MAX && environ[n] != NULL)
		n++;
	e = calloc(n + 8, sizeof *e);
	if (e == NULL)
		return tf_err_set(err, TF_ENOMEM, "editor", "out of memory");
	for (i = 0; i < n; i++) {
		int drop = 0;

		for (k = 0; k < sizeof edit_env_names / sizeof edit_env_names[0];
		     k++) {
			size_t l = strlen(edit_env_names[k]);

			if (strncmp(environ[i], edit_env_names[k], l) == 0 &&
			    environ[i][l] == '=')
				drop = 1;
		}
		if (!drop)
			e[ne++] = environ[i];
	}
	snprintf(vals[0], PATH_MAX + 32, "HOME=%s", dir);
	snprintf(vals[1], PATH_MAX + 32, "TMPDIR=%s", dir);
	snprintf(vals[2], PATH_MAX + 32, "XDG_STATE_HOME=%s", dir);
	snprintf(vals[3], PATH_MAX + 32, "XDG_DATA_HOME=%s", dir);
	snprintf(vals[4], PATH_MAX + 32, "XDG_CACHE_HOME=%s", dir);
	for (k = 0; k < 5; k++)
		e[ne++] = vals[k];
	vals[5][0] = '\0';
	if (cfg != NULL && cfg[0] == '/' && strlen(cfg) < PATH_MAX)
		snprintf(vals[5], PATH_MAX + 32, "XDG_CONFIG_HOME=%s", cfg);
	else if (home != NULL && home[0] == '/' && strlen(home) < PATH_MAX)
		snprintf(vals[5], PATH_MAX + 32, "XDG_CONFIG_HOME=%s/.config",
			 home);
	if (vals[5][0])
		e[ne++] = vals[5];
	e[ne] = NULL;
	*envp = e;
	return 0;
}

/*
 * Runs the editor command cmd on file with envp and waits for it, like
 * system(3): SIGINT and SIGQUIT are ignored here meanwhile (the terminal
 * sends them to the editor, which has the defaults back).  SIGHUP or
 * SIGTERM here is passed on to the editor as SIGTERM (SIGKILL after 5 s)
 * and recorded in g_edit_signal: the caller then removes the temp dir
 * and main() dies of the signal.  *status gets the editor's status.
 */
static int run_editor(const char *cmd, const char *file, char **envp,
		      int *status, tf_err *err)
{
	struct sigaction ign, term, old_int, old_quit, old_hup, old_term;
	sigset_t block, old_mask;
	pid_t pid;
	int rc = 0, waited = 0;

	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	memset(&term, 0, sizeof term);
	term.sa_handler = on_edit_signal; /* no SA_RESTART: waitpid ends */
	sigemptyset(&term.sa_mask);
	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old_mask);
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	sigaction(SIGHUP, &term, &old_hup);
	sigaction(SIGTERM, &term, &old_term);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old_mask, NULL);
		execle("/bin/sh", "sh", "-c", cmd, "sh", file, (char *)NULL,
		       envp);
		_exit(127);
	}
	if (pid < 0) {
		rc = tf_err_set(err, TF_EIO, "editor", "fork: %s",
				strerror(errno));
		goto out;
	}
	g_edit_child = (sig_atomic_t)pid;
	/* A SIGHUP/SIGTERM that came since the fork is delivered now. */
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	for (;;) {
		pid_t w = waitpid(pid, status, g_edit_signal ? WNOHANG : 0);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			rc = tf_err_set(err, TF_EIO, "editor", "waitpid: %s",
					strerror(errno));
			break;
		}
		if (g_edit_signal && w == 0) {
			struct timespec ts = {0, 50 * 1000000L};

			if ((waited += 50) > 5000) {
				kill(pid, SIGKILL);
				while (waitpid(pid, status, 0) < 0 &&
				       errno == EINTR)
					;
				break;
			}
			nanosleep(&ts, NULL);
		}
	}
	g_edit_child = 0;
out:
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	if (!g_edit_signal) {
		sigaction(SIGHUP, &old_hup, NULL);
		sigaction(SIGTERM, &old_term, NULL);
	}
	if (rc == 0 && g_edit_signal)
		rc = tf_err_set(err, TF_EIO, "editor",
				"stopped by signal %d while the editor ran; "
				"nothing changed",
				(int)g_edit_signal);
	return rc;
}

/*
 * Lets the user edit `initial` in $EDITOR (else $VISUAL, else vi).  The
 * file lives in a fresh 0700 directory on memory-backed storage
 * ($XDG_RUNTIME_DIR, else /dev/shm; refused when neither is tmpfs/ramfs)
 * so narrative text never reaches a disk: the editor's HOME, TMPDIR and
 * XDG state/data/cache dirs point there too (editor_env), vi/vim/nvim
 * run with no swap, viminfo/shada, undo or backup files, and the whole
 * directory is removed right after the text is read back (bounded by
 * TF_CLI_TEXT_MAX), or when SIGHUP/SIGTERM stops us (run_editor).  A
 * trailing newline the editor added is dropped when initial had none.
 * out gets the text.
 */
static int edit_text_in_editor(const char *initial, size_t ilen, tf_buf *out,
			       tf_err *err)
{
	const char *bases[2], *editor;
	char dir[PATH_MAX] = "", file[PATH_MAX + 32];
	static char vals[6][PATH_MAX + 32];
	char **envp = NULL;
	tf_buf cmd;
	size_t i, off;
	int fd = -1, rc = 0, status = 0;

	tf_buf_init(&cmd);
	bases[0] = getenv("XDG_RUNTIME_DIR");
	bases[1] = "/dev/shm";
	for (i = 0; i < 2; i++) {
		const char *b = bases[i];

		if (b == NULL || b[0] != '/' || strlen(b) > PATH_MAX - 64 ||
		    !on_memory_fs(b))
			continue;
		snprintf(dir, sizeof dir, "%s/tenfour-edit-XXXXXX", b);
		if (mkdtemp(dir) != NULL)
			break;
		dir[0] = '\0';
	}
	if (dir[0] == '\0') {
		rc = tf_err_set(err, TF_EIO, "editor",
				"no memory-backed directory for the editor's "
				"file ($XDG_RUNTIME_DIR or /dev/shm on tmpfs)");
		goto out;
	}
	snprintf(file, sizeof file, "%s/text.txt", dir);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0) {
		rc = tf_err_set(err, TF_EIO, "editor",
				"cannot make the file: %s", strerror(errno));
		goto out;
	}
	for (off = 0; off < ilen;) {
		ssize_t w = write(fd, initial + off, ilen - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = tf_err_set(err, TF_EIO, "editor",
					"cannot write the file: %s",
					strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	close(fd);
	fd = -1;

	editor = getenv("EDITOR");
	if (editor == NULL || *editor == '\0')
		editor = getenv("VISUAL");
	if (editor == NULL || *editor == '\0')
		editor = "vi";
	if (strlen(editor) > 4096) {
		rc = tf_err_set(err, TF_ELIMIT, "EDITOR",
				"longer than 4096 bytes");
		goto out;
	}
	/* $EDITOR may carry arguments ("code -w"): the shell splits it,
	   then becomes the editor (exec: signals reach it directly). */
	tf_buf_puts(&cmd, "exec ");
	tf_buf_puts(&cmd, editor);
	if (editor_is_vi(editor))
		tf_buf_puts(&cmd, " -n -i NONE --cmd 'set noundofile nobackup "
				  "nowritebackup'");
	tf_buf_puts(&cmd, " \"$1\"");
	if (tf_buf_cstr(&cmd) == NULL || cmd.failed) {
		rc = tf_err_set(err, TF_ENOMEM, "editor", "out of memory");
		goto out;
	}
	rc = editor_env(dir, vals, &envp, err);
	if (rc)
		goto out;
	rc = run_editor(cmd.data, file, envp, &status, err);
	if (rc)
		goto out;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		rc = tf_err_set(err, TF_EIO, "editor",
				"the editor (%s) failed (status %d); nothing "
				"changed",
				editor,
				WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		goto out;
	}
	rc = read_file(file, out, err);
	if (rc == 0 && ilen > 0 && initial[ilen - 1] != '\n' && out->len > 0 &&
	    out->data[out->len - 1] == '\n')
		out->data[--out->len] = '\0';
	if (rc == 0 && (ilen == 0) && out->len > 0 &&
	    out->data[out->len - 1] == '\n')
		out->data[--out->len] = '\0';
out:
	if (fd >= 0)
		close(fd);
	if (dir[0])
		remove_edit_dir(dir);
	free(envp);
	tf_buf_free(&cmd);
	return rc;
}

/* ---------------------------------------------------- record display */

/* The value of a text field's state, or "" ; *rev its rev (0 if none). */
static const char *text_state(const tf_json *fs, size_t *len, int64_t *rev)
{
	const char *v;

	*rev = 0;
	*len = 0;
	if (fs == NULL || fs->type != TF_JSON_OBJECT)
		return "";
	tf_json_int64(tf_json_object_get(fs, "rev"), rev);
	v = tf_json_get_str(fs, "v", len);
	return v ? v : "";
}

/* 1 when name is in the array of strings arr. */
static int in_str_array(const tf_json *arr, const char *name)
{
	size_t i;

	if (arr == NULL || arr->type != TF_JSON_ARRAY)
		return 0;
	for (i = 0; i < arr->len; i++) {
		const char *s = tf_json_str(arr->u.items[i], NULL);

		if (s && strcmp(s, name) == 0)
			return 1;
	}
	return 0;
}

/* One field of a record state, by the shape of its state (PROTOCOL §4). */
static void show_field(const char *name, const tf_json *fs,
		       const tf_json *stale, int64_t now)
{
	const tf_json *x;
	char t1[40], t2[40];
	size_t i;

	printf("  %-18s ", name);
	if (fs == NULL || fs->type != TF_JSON_OBJECT) {
		put_json_compact(stdout, fs);
		putchar('\n');
		return;
	}
	if ((x = tf_json_object_get(fs, "e")) != NULL &&
	    x->type == TF_JSON_ARRAY) { /* log */
		printf("%zu entr%s\n", x->len, x->len == 1 ? "y" : "ies");
		for (i = 0; i < x->len; i++) {
			const tf_json *e = x->u.items[i], *v;
			const char *by = tf_json_get_str(e, "by", NULL);
			const char *txt;
			int64_t srv = 0;

			v = tf_json_object_get(e, "v");
			txt = tf_json_get_str(v, "text", NULL);
			if (txt == NULL)
				txt = tf_json_get_str(v, "body", NULL);
			printf("  %-18s - ", "");
			if (tf_json_int64(tf_json_object_get(e, "srv"), &srv) ==
				    0 &&
			    srv > 0) {
				fmt_time(srv, t1);
				printf("[%s] ", t1);
			}
			put_safe(stdout, by ? by : "?", strlen(by ? by : "?"),
				 0);
			printf(": ");
			if (txt)
				put_safe(stdout, txt, strlen(txt), 0);
			else
				put_json_compact(stdout, v);
			if (tf_json_object_get(e, "corrects"))
				printf("  (corrects %s)",
				       tf_json_get_str(e, "corrects", NULL)
					       ? tf_json_get_str(e, "corrects",
								 NULL)
					       : "?");
			putchar('\n');
		}
		return;
	}
	if ((x = tf_json_object_get(fs, "s")) != NULL &&
	    x->type == TF_JSON_ARRAY) { /* set */
		putchar('[');
		for (i = 0; i < x->len; i++) {
			if (i)
				printf(", ");
			put_value(stdout,
				  tf_json_object_get(x->u.items[i], "v"));
		}
		printf("]\n");
		return;
	}
	if (tf_json_object_get(fs, "fetched_at") != NULL) { /* ref */
		int64_t fetched = 0, ttl = 0;
		int st;

		tf_json_int64(tf_json_object_get(fs, "fetched_at"), &fetched);
		tf_json_int64(tf_json_object_get(fs, "ttl"), &ttl);
		st = stale ? in_str_array(stale, name) : now > fetched + ttl;
		put_value(stdout, tf_json_object_get(fs, "v"));
		fmt_time(fetched, t1);
		fmt_dur(ttl, t2);
		printf("  (fetched %s, ", t1);
		fmt_dur(now - fetched, t1);
		printf("%s ago, ttl %s)%s\n", t1, t2,
		       st ? "  STALE: refresh before relying on it" : "");
		return;
	}
	if (tf_json_object_get(fs, "rev") != NULL) { /* text */
		const tf_json *cf = tf_json_object_get(fs, "conflicts");
		const char *by = tf_json_get_str(fs, "by", NULL);
		int64_t rev;
		size_t len;
		const char *v = text_state(fs, &len, &rev);
		const char *p = v, *end = v + len;

		printf("text, rev %" PRId64 ", by ", rev);
		put_safe(stdout, by ? by : "?", strlen(by ? by : "?"), 0);
		putchar('\n');
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

			printf("  %-18s | ", "");
			put_safe(stdout, p, n, 0);
			putchar('\n');
			p += n + (nl ? 1 : 0);
		}
		if (cf && cf->type == TF_JSON_ARRAY && cf->len)
			printf("  %-18s CONFLICT (%zu open): tenfour resolve "
			       "<id> %s\n",
			       "", cf->len, name);
		return;
	}
	put_value(stdout, tf_json_object_get(fs, "v"));
	if (tf_json_get_str(fs, "by", NULL)) {
		printf("  (by ");
		put_safe(stdout, tf_json_get_str(fs, "by", NULL),
			 strlen(tf_json_get_str(fs, "by", NULL)), 0);
		putchar(')');
	}
	putchar('\n');
}

/* One notice, one line. */
static void show_notice(const tf_json *n)
{
	const char *kind = tf_json_get_str(n, "kind", NULL);
	const char *id = tf_json_get_str(n, "id", NULL);
	const char *field = tf_json_get_str(n, "field", NULL);
	const char *rec = tf_json_get_str(n, "record_id", NULL);

	printf("  %s ", kind ? kind : "notice");
	put_safe(stdout, id ? id : "?", strlen(id ? id : "?"), 0);
	printf(": ");
	put_safe(stdout, rec ? rec : "?", strlen(rec ? rec : "?"), 0);
	if (field) {
		putchar('.');
		put_safe(stdout, field, strlen(field), 0);
	}
	if (kind && strcmp(kind, "superseded") == 0) {
		printf(": yours ");
		put_json_compact(stdout, tf_json_object_get(n, "mine"));
		printf(" lost to ");
		put_json_compact(stdout, tf_json_object_get(n, "winner"));
		printf(" by ");
		put_value(stdout, tf_json_object_get(n, "winner_by"));
	} else {
		const char *m = tf_json_get_str(n, "message", NULL);

		printf(": refused: ");
		put_safe(stdout, m ? m : "?", strlen(m ? m : "?"), 0);
	}
	printf("  (tenfour ack ");
	put_safe(stdout, id ? id : "?", strlen(id ? id : "?"), 0);
	printf(")\n");
}

/* A record view (tf_client_get / tf_client_lookup) for humans. */
static void show_view(const tf_json *view, int64_t now)
{
	const tf_json *rec = tf_json_object_get(view, "record");
	const tf_json *f = tf_json_object_get(rec, "f");
	const tf_json *stale = tf_json_object_get(view, "stale");
	const tf_json *notices = tf_json_object_get(view, "notices");
	const tf_json *pending = tf_json_object_get(view, "pending");
	const char *ent = tf_json_get_str(rec, "entity", NULL);
	const char *id = tf_json_get_str(rec, "id", NULL);
	const char *sync = tf_json_get_str(view, "sync", NULL);
	int64_t ver = 0;
	size_t i;

	tf_json_int64(tf_json_object_get(rec, "ver"), &ver);
	put_safe(stdout, ent ? ent : "?", strlen(ent ? ent : "?"), 0);
	putchar(' ');
	put_safe(stdout, id ? id : "?", strlen(id ? id : "?"), 0);
	printf("  ver %" PRId64 "  sync: %s\n", ver, sync ? sync : "?");
	if (f && f->type == TF_JSON_OBJECT) {
		for (i = 0; i < f->len; i++)
			show_field(f->u.members[i].key, f->u.members[i].value,
				   stale, now);
	}
	if (pending && pending->type == TF_JSON_ARRAY && pending->len)
		printf("  %zu change%s saved here, not yet on the server\n",
		       pending->len, pending->len == 1 ? "" : "s");
	else if (pending && pending->type == TF_JSON_NUMBER)
		printf("  pending: %s\n", pending->u.str);
	if (notices && notices->type == TF_JSON_ARRAY) {
		for (i = 0; i < notices->len; i++)
			show_notice(notices->u.items[i]);
	}
}

/* Parses a document the library produced (trusted but still bounded). */
static int parse_doc(const tf_buf *b, tf_json **out, tf_err *err)
{
	tf_json_limits lim = tf_json_default_limits;

	lim.max_bytes = TF_BUF_MAX;
	return tf_json_parse(b->len ? b->data : "null", b->len ? b->len : 4,
			     &lim, out, err);
}

/* ----------------------------------------------------------- commands */

static int cmd_enroll(cli *a)
{
	char pub[64];
	tf_err err;
	tf_buf b;
	int rc, code;

	tf_err_clear(&err);
	tf_buf_init(&b);
	if (a->server == NULL || a->agency == NULL || a->device == NULL) {
		code = usage_fail(a,
				  "enroll needs --server URL --agency A "
				  "--device D",
				  "enroll");
		goto out;
	}
	if (strlen(a->server) > TF_CLI_URL_MAX) {
		code = usage_fail(a, "the server URL is too long", "--server");
		goto out;
	}
	rc = cli_open(a, &err);
	if (rc == 0)
		rc = tf_client_enroll(a->c, a->server, a->agency, a->device,
				      pub, &err);
	if (rc) {
		code = fail(a, rc, &err, "enroll");
		goto out;
	}
	/* The administrator's command, quoted for a POSIX shell. */
	tf_buf_puts(&b, "tenfourd admin --agency ");
	shell_quote(&b, a->agency);
	tf_buf_puts(&b, " device-enroll ");
	shell_quote(&b, a->device);
	tf_buf_puts(&b, " --label ");
	shell_quote(&b, a->label ? a->label : a->device);
	tf_buf_puts(&b, " --pubkey ");
	shell_quote(&b, pub);
	if (tf_buf_cstr(&b) == NULL || b.failed) {
		code = fail(a, TF_ENOMEM, NULL, "enroll");
		goto out;
	}
	if (a->json) {
		tf_buf j;

		tf_buf_init(&j);
		tf_buf_puts(&j, "{\"admin_command\":");
		tf_json_write_string(&j, b.data, b.len);
		tf_buf_puts(&j, ",\"agency\":");
		tf_json_write_string(&j, a->agency, strlen(a->agency));
		tf_buf_puts(&j, ",\"device\":");
		tf_json_write_string(&j, a->device, strlen(a->device));
		tf_buf_puts(&j, ",\"home\":");
		tf_json_write_string(&j, a->home, strlen(a->home));
		tf_buf_puts(&j, ",\"public_key\":");
		tf_json_write_string(&j, pub, strlen(pub));
		tf_buf_puts(&j, ",\"server\":");
		tf_json_write_string(&j, a->server, strlen(a->server));
		tf_buf_puts(&j, "}");
		put_doc(&j);
		tf_buf_free(&j);
	} else {
		printf("Device identity made in %s.\n", a->home);
		printf("public key: %s\n", pub);
		printf("Ask the agency administrator to register it:\n  %s\n",
		       b.data);
		printf("then log in: tenfour login --user YOUR_ID\n");
	}
	code = TF_CLI_OK;
out:
	tf_buf_free(&b);
	return code;
}

/* Shows the AC-8 banner and gets it acknowledged (or --accept-banner). */
static int ack_banner(cli *a, int64_t *rev, tf_err *err)
{
	tf_buf text;
	char ans[16];
	size_t n = 0;
	int rc;

	tf_buf_init(&text);
	rc = tf_client_banner(a->c, &text, rev, err);
	if (rc)
		goto out;
	fprintf(stderr, "\n");
	if (text.len)
		put_safe(stderr, text.data, text.len, 1);
	fprintf(stderr, "\n\n");
	if (a->accept_banner) {
		fprintf(stderr,
			"(banner revision %" PRId64
			" acknowledged with --accept-banner)\n",
			*rev);
		goto out;
	}
	rc = read_tty("Type yes to acknowledge the notice above: ", 1, ans,
		      sizeof ans, &n, "banner acknowledgement", err);
	if (rc == TF_ENOTFOUND) {
		rc = tf_err_set(err, TF_EINVAL, "--accept-banner",
				"the AC-8 banner must be acknowledged: on a "
				"terminal, or with --accept-banner");
		goto out;
	}
	if (rc == 0 && strcmp(ans, "yes") != 0)
		rc = tf_err_set(err, TF_EAUTH, "banner",
				"the banner was not acknowledged; no login");
out:
	tf_buf_free(&text);
	return rc;
}

static int cmd_login(cli *a)
{
	char pw[TF_CLI_SECRET_MAX + 1], totp[TF_CLI_SECRET_MAX + 1];
	char pin[TF_CLI_SECRET_MAX + 1], t[40], d[40];
	tf_client_login_req req;
	tf_client_status st;
	tf_err err;
	size_t pwlen = 0, tlen = 0, pinlen = 0, i;
	int64_t rev = 0, now;
	int rc = 0, code;

	tf_err_clear(&err);
	pw[0] = totp[0] = pin[0] = '\0';
	if (a->user == NULL) {
		code = usage_fail(a, "login needs --user U", "login");
		goto out;
	}
	if (a->totp && a->totp_fd >= 0) {
		code = usage_fail(a, "give --totp or --totp-fd, not both",
				  "login");
		goto out;
	}
	rc = cli_open(a, &err);
	if (rc)
		goto fail;
	memset(&st, 0, sizeof st);
	tf_client_status_get(a->c, &st);
	if (!st.enrolled) {
		rc = tf_err_set(&err, TF_EAUTH, a->home,
				"this home is not enrolled: run `tenfour "
				"enroll` first");
		goto fail;
	}
	rc = ack_banner(a, &rev, &err);
	if (rc == TF_EINVAL) {
		code = usage_fail(a, err.msg, err.where);
		goto out;
	}
	if (rc)
		goto fail;
	if (a->password_fd >= 0)
		rc = read_line_fd(a->password_fd, pw, sizeof pw, &pwlen,
				  "password", &err);
	else
		rc = read_tty("Password: ", 0, pw, sizeof pw, &pwlen,
			      "password", &err);
	if (rc == TF_ENOTFOUND) {
		code = usage_fail(a,
				  "no terminal for the password: pass "
				  "--password-fd N",
				  "login");
		goto out;
	}
	if (rc)
		goto fail;
	if (a->totp) {
		tlen = strlen(a->totp);
		if (tlen >= sizeof totp) {
			code = usage_fail(a, "the TOTP code is too long",
					  "--totp");
			goto out;
		}
		memcpy(totp, a->totp, tlen + 1);
	} else if (a->totp_fd >= 0) {
		rc = read_line_fd(a->totp_fd, totp, sizeof totp, &tlen,
				  "TOTP code", &err);
	} else {
		rc = read_tty("Authenticator code: ", 0, totp, sizeof totp,
			      &tlen, "TOTP code", &err);
		if (rc == TF_ENOTFOUND) {
			code = usage_fail(a,
					  "no terminal for the TOTP code: "
					  "pass --totp CODE or --totp-fd N",
					  "login");
			goto out;
		}
	}
	if (rc)
		goto fail;
	for (i = 0; i < tlen; i++) {
		if (!isdigit((unsigned char)totp[i]))
			break;
	}
	if (tlen != TF_TOTP_DIGITS || i != tlen) {
		rc = tf_err_set(&err, TF_EINVAL, "totp",
				"the authenticator code is %d digits",
				TF_TOTP_DIGITS);
		goto fail;
	}
	rc = get_pin(a,
		     "PIN for this device (at the first login it becomes "
		     "the store's PIN): ",
		     pin, sizeof pin, &pinlen, &err);
	if (rc)
		goto fail;
	memset(&req, 0, sizeof req);
	req.user = a->user;
	req.password = pw;
	req.totp = totp;
	req.banner_rev = rev;
	req.pin = pin;
	req.pin_len = pinlen;
	rc = tf_client_login(a->c, &req, &err);
	tf_cleanse(pw, sizeof pw);
	tf_cleanse(pin, sizeof pin);
	tf_cleanse(totp, sizeof totp);
	if (rc == TF_EAUTH) {
		memset(&st, 0, sizeof st);
		tf_client_status_get(a->c, &st);
		if (st.unlock_attempts_left) {
			a->attempts_known = 1;
			a->attempts_left = st.unlock_attempts_left;
		}
	}
	if (rc)
		goto fail;
	memset(&st, 0, sizeof st);
	tf_client_status_get(a->c, &st);
	now = cli_wall_ms(a);
	if (a->json) {
		tf_buf j;

		tf_buf_init(&j);
		tf_buf_puts(&j, "{\"banner_rev\":");
		tf_buf_printf(&j,
			      "%" PRId64 ",\"grant_not_after\":%" PRId64
			      ",\"logged_in\":true,\"user\":",
			      rev, st.grant_not_after);
		tf_json_write_string(&j, a->user, strlen(a->user));
		tf_buf_puts(&j, "}");
		put_doc(&j);
		tf_buf_free(&j);
	} else {
		fmt_time(st.grant_not_after, t);
		fmt_dur(st.grant_not_after - now, d);
		printf("Logged in as ");
		put_safe(stdout, a->user, strlen(a->user), 0);
		printf(". Offline use allowed until %s (in %s); after that an "
		       "online login is needed.\n",
		       t, d);
		printf("Every command asks for the PIN and locks again when it "
		       "ends.\n");
	}
	code = TF_CLI_OK;
	goto out;
fail:
	code = fail(a, rc, &err, "login");
out:
	tf_cleanse(pw, sizeof pw);
	tf_cleanse(pin, sizeof pin);
	tf_cleanse(totp, sizeof totp);
	return code;
}

static int cmd_unlock(cli *a)
{
	tf_client_status st;
	tf_err err;
	char t[40], d[40], l[40];
	int64_t now;
	int rc;

	tf_err_clear(&err);
	rc = cli_open_unlocked(a, &err);
	if (rc)
		return fail(a, rc, &err, "unlock");
	memset(&st, 0, sizeof st);
	tf_client_status_get(a->c, &st);
	now = cli_wall_ms(a);
	if (a->json) {
		printf("{\"grant_not_after\":%" PRId64
		       ",\"lock_in_ms\":%" PRId64
		       ",\"ok\":true,\"unlock_attempts_left\":%" PRIu32 "}\n",
		       st.grant_not_after, st.lock_in_ms,
		       st.unlock_attempts_left);
		return TF_CLI_OK;
	}
	fmt_time(st.grant_not_after, t);
	fmt_dur(st.grant_not_after - now, d);
	fmt_dur(st.lock_in_ms, l);
	printf("PIN accepted. Offline grant valid until %s (in %s).\n", t, d);
	printf("%" PRIu32 " failed unlocks allowed before the store wipes "
	       "itself; idle lock after %s.\n",
	       st.unlock_attempts_left, l);
	printf("(The store locks again as this command ends.)\n");
	return TF_CLI_OK;
}

/* The status of a home: JSON (our own shape, docs/CLIENT.md) or text. */
static int show_status(cli *a, const tf_client_status *st,
		       const tf_json *notices)
{
	int64_t now = cli_wall_ms(a);
	char t[40], d[40];
	size_t i;

	if (a->json) {
		tf_buf j;

		tf_buf_init(&j);
		tf_buf_printf(&j,
			      "{\"conflicts\":%zu,\"enrolled\":%s,"
			      "\"grant_not_after\":%" PRId64 ",\"home\":",
			      st->unlocked ? st->sum.conflicts : 0,
			      st->enrolled ? "true" : "false",
			      st->grant_not_after);
		tf_json_write_string(&j, a->home, strlen(a->home));
		tf_buf_printf(&j,
			      ",\"last_contact_ms\":%" PRId64
			      ",\"last_sync_ms\":%" PRId64
			      ",\"lock_in_ms\":%" PRId64 ",\"logged_in\":%s,"
			      "\"notices\":",
			      st->last_contact_ms,
			      st->unlocked ? st->sum.last_sync_ms : 0,
			      st->lock_in_ms, st->logged_in ? "true" : "false");
		if (notices)
			tf_json_write(notices, &j);
		else
			tf_buf_puts(&j, "[]");
		tf_buf_printf(
			&j,
			",\"now_ms\":%" PRId64 ",\"oldest_pending_ms\":%" PRId64
			",\"online\":%s,\"pending\":%zu,\"records\":%zu,"
			"\"rejected\":%zu,\"superseded\":%zu,"
			"\"unlock_attempts_left\":%" PRIu32 ",\"unlocked\":%s}",
			now, st->unlocked ? st->sum.oldest_pending_ms : 0,
			st->online ? "true" : "false",
			st->unlocked ? st->sum.pending : 0,
			st->unlocked ? st->sum.records : 0,
			st->unlocked ? st->sum.rejected : 0,
			st->unlocked ? st->sum.superseded : 0,
			st->unlock_attempts_left,
			st->unlocked ? "true" : "false");
		put_doc(&j);
		tf_buf_free(&j);
		return 0;
	}
	printf("home         %s\n", a->home);
	if (!st->enrolled) {
		printf("device       not enrolled (tenfour enroll)\n");
		return 0;
	}
	/* online and the contact time come from status's probe. */
	fmt_time(st->last_contact_ms, t);
	if (st->online)
		printf("server       online (answered at %s)\n", t);
	else
		printf("server       OFFLINE: the server did not answer just "
		       "now\n");
	if (st->unlocked) {
		if (st->sum.pending) {
			fmt_dur(st->sum.oldest_pending_ms, d);
			printf("saved here   %zu change%s waiting to go to the "
			       "server, oldest %s ago (tenfour sync)\n",
			       st->sum.pending, st->sum.pending == 1 ? "" : "s",
			       d);
		} else {
			printf("saved here   everything is on the server\n");
		}
		fmt_time(st->sum.last_sync_ms, t);
		if (st->sum.last_sync_ms) {
			fmt_dur(now - st->sum.last_sync_ms, d);
			printf("last sync    %s (%s ago)\n", t, d);
		} else {
			printf("last sync    never\n");
		}
		printf("records      %zu\n", st->sum.records);
		printf("conflicts    %zu%s\n", st->sum.conflicts,
		       st->sum.conflicts ? "  (tenfour conflicts)" : "");
		printf("notices      %zu superseded, %zu rejected\n",
		       st->sum.superseded, st->sum.rejected);
		if (notices && notices->type == TF_JSON_ARRAY) {
			for (i = 0; i < notices->len; i++)
				show_notice(notices->u.items[i]);
		}
	} else {
		printf("store        locked\n");
	}
	if (st->grant_not_after) {
		fmt_time(st->grant_not_after, t);
		fmt_dur(st->grant_not_after - now, d);
		if (st->grant_not_after > now)
			printf("grant        offline use until %s (in %s)\n", t,
			       d);
		else
			printf("grant        EXPIRED at %s: online login "
			       "needed\n",
			       t);
	} else {
		printf("grant        none: tenfour login (online)\n");
	}
	if (st->unlocked) {
		fmt_dur(st->lock_in_ms, d);
		printf("idle lock    in %s\n", d);
	}
	printf("unlock       %" PRIu32 " failed attempts allowed before the "
	       "wipe\n",
	       st->unlock_attempts_left);
	return 0;
}

static int cmd_status(cli *a)
{
	tf_client_status st;
	tf_json *notices = NULL;
	tf_buf b;
	tf_err err, uerr;
	int rc, urc, code;

	tf_err_clear(&err);
	tf_err_clear(&uerr);
	tf_buf_init(&b);
	a->probe_timeout_ms = TF_CLI_PROBE_MS;
	rc = cli_open(a, &err);
	if (rc) {
		code = fail(a, rc, &err, "status");
		goto out;
	}
	/*
	 * Online now?  The library knows only what this process exchanged,
	 * so ask the server's public banner endpoint (bounded by
	 * TF_CLI_PROBE_MS); the answer sets online and the last contact.
	 */
	{
		tf_client_status pre;
		int64_t rev = 0;

		memset(&pre, 0, sizeof pre);
		tf_client_status_get(a->c, &pre);
		if (pre.enrolled) {
			(void)tf_client_banner(a->c, &b, &rev, NULL);
			tf_buf_reset(&b);
		}
	}
	urc = cli_unlock(a, &uerr);
	if (urc == 0) {
		rc = tf_client_notices(a->c, &b, &err);
		if (rc == 0)
			rc = parse_doc(&b, &notices, &err);
		if (rc) {
			code = fail(a, rc, &err, "status");
			goto out;
		}
	}
	memset(&st, 0, sizeof st);
	tf_client_status_get(a->c, &st);
	if (urc != 0) {
		/* What is known while locked, then why it stays locked. */
		if (!a->json)
			show_status(a, &st, NULL);
		code = fail(a, urc, &uerr, "status");
		goto out;
	}
	show_status(a, &st, notices);
	code = TF_CLI_OK;
out:
	tf_json_free(notices);
	tf_buf_free(&b);
	return code;
}

/* Progress of a sync: a bar on a terminal, else a line per step. */
static void progress_cb(void *ctx, const tf_client_progress *p)
{
	cli *a = ctx;
	unsigned bucket;
	uint64_t done = p->pushed + p->records_done;
	uint64_t total = p->to_push + p->records_total;

	a->last = *p;
	if (a->progress_tty) {
		int w = term_width(STDERR_FILENO) - 48, fill, i;

		if (w < 10)
			w = 10;
		fill = total ? (int)((double)w *
				     (double)(done > total ? total : done) /
				     (double)total)
			     : 0;
		fprintf(stderr, "\r[");
		for (i = 0; i < w; i++)
			fputc(i < fill ? '#' : '.', stderr);
		fprintf(stderr,
			"] pushed %" PRIu64 "/%" PRIu64 " records %" PRIu64
			"/%" PRIu64 " ",
			p->pushed, p->to_push, p->records_done,
			p->records_total);
		fflush(stderr);
		a->progress_shown = 1;
		return;
	}
	/* Plain lines: one per tenth of the way (bounded output). */
	bucket = total ? (unsigned)(10 * (done > total ? total : done) / total)
		       : 0;
	if (a->progress_shown && bucket == a->progress_bucket)
		return;
	a->progress_bucket = bucket;
	a->progress_shown = 1;
	a->printed = *p;
	fprintf(stderr,
		"sync: pushed %" PRIu64 "/%" PRIu64 ", records %" PRIu64
		"/%" PRIu64 "\n",
		p->pushed, p->to_push, p->records_done, p->records_total);
}

static void on_stop_signal(int sig)
{
	g_stop = 1;
	if (sig == SIGUSR1)
		g_locked_by_signal = 1;
}

/*
 * The watcher's pid file: <home>/watch.pid with an fcntl write lock held
 * while it runs, so `tenfour lock` finds the live holder (F_GETLK) and
 * never signals a stale pid.  *fd_out keeps the lock.
 */
static int watch_pidfile(cli *a, int *fd_out, tf_err *err)
{
	char path[PATH_MAX], line[32];
	struct flock fl;
	int fd, n;

	*fd_out = -1;
	if (snprintf(path, sizeof path, "%s/%s", a->home, TF_CLI_WATCH_PID) >=
	    (int)sizeof path)
		return tf_err_set(err, TF_ELIMIT, a->home,
				  "home path too long");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return tf_err_set(err, TF_EIO, path, "cannot open: %s",
				  strerror(errno));
	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_SETLK, &fl) != 0) {
		close(fd);
		return tf_err_set(err, TF_EBUSY, path,
				  "another `tenfour sync --watch` runs on this "
				  "home");
	}
	n = snprintf(line, sizeof line, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || write(fd, line, (size_t)n) != n) {
		close(fd);
		return tf_err_set(err, TF_EIO, path, "cannot write the pid");
	}
	*fd_out = fd;
	return 0;
}

/* The pid of a running watcher of this home, or 0. */
static pid_t watcher_pid(cli *a)
{
	char path[PATH_MAX];
	struct flock fl;
	int fd;

	if (snprintf(path, sizeof path, "%s/%s", a->home, TF_CLI_WATCH_PID) >=
	    (int)sizeof path)
		return 0;
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_GETLK, &fl) != 0 || fl.l_type == F_UNLCK) {
		close(fd);
		return 0;
	}
	close(fd);
	return fl.l_pid;
}

/*
 * Asks a running watcher to lock (SIGUSR1: it zeroizes, audits the lock
 * and exits) and waits, bounded, until its pid file lock is gone.
 * *pid_out: the watcher's pid, 0 when none ran.
 */
static int stop_watcher(cli *a, pid_t *pid_out, tf_err *err)
{
	pid_t pid = watcher_pid(a);
	int waited;

	*pid_out = pid;
	if (pid <= 0)
		return 0;
	if (kill(pid, SIGUSR1) != 0 && errno != ESRCH)
		return tf_err_set(err, TF_EIO, "lock",
				  "cannot signal pid %ld: %s", (long)pid,
				  strerror(errno));
	for (waited = 0; waited < TF_CLI_LOCK_WAIT_MS; waited += 50) {
		struct timespec ts = {0, 50 * 1000000L};

		if (watcher_pid(a) != pid)
			return 0;
		nanosleep(&ts, NULL);
	}
	return tf_err_set(err, TF_EBUSY, "lock",
			  "the watcher (pid %ld) did not exit within %d s",
			  (long)pid, TF_CLI_LOCK_WAIT_MS / 1000);
}

static int cmd_sync(cli *a)
{
	tf_client_status st;
	struct sigaction sa;
	tf_err err;
	int rc, code, pidfd = -1;

	tf_err_clear(&err);
	a->progress_tty = isatty(STDERR_FILENO);
	rc = cli_open_unlocked(a, &err);
	if (rc)
		return fail(a, rc, &err, "sync");
	if (a->watch) {
		rc = watch_pidfile(a, &pidfd, &err);
		if (rc)
			return fail(a, rc, &err, "sync --watch");
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_stop_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		sigaction(SIGUSR1, &sa, NULL);
		if (!a->json)
			fprintf(stderr,
				"tenfour: watching (pid %ld); "
				"`tenfour lock` stops it\n",
				(long)getpid());
		rc = tf_client_watch(
			a->c, &g_stop,
			a->max_seconds > 0 ? (int64_t)a->max_seconds * 1000 : 0,
			progress_cb, a, &err);
	} else {
		rc = tf_client_sync(a->c, progress_cb, a, &err);
	}
	if (a->progress_tty && a->progress_shown)
		fputc('\n', stderr);
	else if (a->progress_shown &&
		 memcmp(&a->printed, &a->last, sizeof a->last) != 0)
		fprintf(stderr,
			"sync: pushed %" PRIu64 "/%" PRIu64 ", records %" PRIu64
			"/%" PRIu64 "\n",
			a->last.pushed, a->last.to_push, a->last.records_done,
			a->last.records_total);
	memset(&st, 0, sizeof st);
	tf_client_status_get(a->c, &st);
	if (a->watch) {
		/* Zeroize now (audited), whatever ended the watch. */
		tf_client_lock(a->c);
		if (pidfd >= 0) {
			char path[PATH_MAX];

			if (snprintf(path, sizeof path, "%s/%s", a->home,
				     TF_CLI_WATCH_PID) < (int)sizeof path)
				unlink(path);
			close(pidfd);
		}
	}
	if (rc == TF_ENET) {
		char d[40];

		fmt_dur(st.sum.oldest_pending_ms, d);
		tf_err_set(
			&err, TF_ENET, "sync",
			"server unreachable: %zu change%s stay saved on this "
			"device (oldest %s) and go at the next sync",
			st.sum.pending, st.sum.pending == 1 ? "" : "s", d);
	}
	if (rc)
		return fail(a, rc, &err, a->watch ? "sync --watch" : "sync");
	code = st.sum.conflicts ? TF_CLI_CONFLICT : TF_CLI_OK;
	if (a->json) {
		printf("{\"conflicts\":%zu,\"last_sync_ms\":%" PRId64
		       ",\"locked_by_signal\":%s,\"ok\":true,\"pending\":%zu,"
		       "\"pushed\":%" PRIu64 ",\"records\":%zu,"
		       "\"records_done\":%" PRIu64 ",\"records_total\":%" PRIu64
		       ",\"rejected\":%zu,\"superseded\":%zu,\"to_push\":"
		       "%" PRIu64 "}\n",
		       st.sum.conflicts, st.sum.last_sync_ms,
		       g_locked_by_signal ? "true" : "false", st.sum.pending,
		       a->last.pushed, st.sum.records, a->last.records_done,
		       a->last.records_total, st.sum.rejected,
		       st.sum.superseded, a->last.to_push);
		return code;
	}
	if (a->watch && g_locked_by_signal)
		printf("Locked by `tenfour lock`: keys zeroized.\n");
	printf("Synced: pushed %" PRIu64 ", received %" PRIu64
	       " record%s; %zu pending, %zu records here.\n",
	       a->last.pushed, a->last.records_done,
	       a->last.records_done == 1 ? "" : "s", st.sum.pending,
	       st.sum.records);
	if (st.sum.superseded || st.sum.rejected)
		printf("%zu superseded and %zu rejected changes: see tenfour "
		       "status, then tenfour ack ID.\n",
		       st.sum.superseded, st.sum.rejected);
	if (st.sum.conflicts)
		fprintf(stderr,
			"tenfour: %zu record%s with a text conflict to "
			"reconcile: tenfour conflicts (sync)\n",
			st.sum.conflicts, st.sum.conflicts == 1 ? "" : "s");
	return code;
}

static int cmd_lock(cli *a)
{
	tf_err err;
	pid_t pid = 0;
	int rc;

	tf_err_clear(&err);
	rc = stop_watcher(a, &pid, &err);
	if (rc)
		return fail(a, rc, &err, "lock");
	if (a->json) {
		printf("{\"locked\":true,\"watcher_pid\":%ld}\n", (long)pid);
	} else if (pid > 0) {
		printf("Locked: the running sync --watch (pid %ld) zeroized "
		       "its "
		       "keys and exited.\n",
		       (long)pid);
	} else {
		printf("Nothing was unlocked: no sync --watch runs for this "
		       "home (every other command locks as it ends).\n");
	}
	return TF_CLI_OK;
}

/*
 * logout: the library ends the server session and deletes the sealed
 * token only when unlocked, so the PIN comes first (same sources as
 * every data command).  Without it nothing is ended, and we say so.
 */
static int cmd_logout(cli *a)
{
	tf_client_status st;
	tf_err err;
	pid_t pid = 0;
	int rc;

	tf_err_clear(&err);
	rc = stop_watcher(a, &pid, &err);
	if (rc == 0)
		rc = cli_open(a, &err);
	if (rc)
		return fail(a, rc, &err, "logout");
	memset(&st, 0, sizeof st);
	tf_client_status_get(a->c, &st);
	if (!st.logged_in) {
		if (a->json)
			printf("{\"logged_out\":true,\"was_logged_in\":"
			       "false}\n");
		else
			printf("Not logged in: there was no session to "
			       "end.\n");
		return TF_CLI_OK;
	}
	rc = cli_unlock(a, &err);
	if (rc) {
		tf_err e2;

		tf_err_clear(&e2);
		tf_err_set(&e2, rc, err.where[0] ? err.where : "PIN",
			   "the session was NOT ended (logout needs the "
			   "PIN): %s",
			   err.msg[0] ? err.msg : tf_strerror(rc));
		return fail(a, rc, &e2, "logout");
	}
	rc = tf_client_logout(a->c, &err);
	if (rc)
		return fail(a, rc, &err, "logout");
	if (a->json)
		printf("{\"logged_out\":true,\"was_logged_in\":true}\n");
	else
		printf("Logged out: session ended, session token and decrypted "
		       "caches erased; queued changes stay and go after the "
		       "next login.\n");
	return TF_CLI_OK;
}

/* Prints a library document as is (--json) or through show(). */
static int print_doc(cli *a, const tf_buf *b, const char *where,
		     void (*show)(cli *, const tf_json *))
{
	tf_json *doc = NULL;
	tf_err err;
	int rc;

	if (a->json) {
		put_doc(b);
		return TF_CLI_OK;
	}
	tf_err_clear(&err);
	rc = parse_doc(b, &doc, &err);
	if (rc)
		return fail(a, rc, &err, where);
	show(a, doc);
	tf_json_free(doc);
	return TF_CLI_OK;
}

static void show_get(cli *a, const tf_json *doc)
{
	show_view(doc, cli_wall_ms(a));
}

static int cmd_get(cli *a)
{
	tf_err err;
	tf_buf b;
	int rc, code;

	tf_err_clear(&err);
	tf_buf_init(&b);
	rc = cli_open_unlocked(a, &err);
	if (rc == 0)
		rc = strcmp(a->cmd, "lookup") == 0
			     ? tf_client_lookup(a->c, a->pos[0], &b, &err)
			     : tf_client_get(a->c, a->pos[0], &b, &err);
	code = rc ? fail(a, rc, &err, a->pos[0])
		  : print_doc(a, &b, a->cmd, show_get);
	tf_cleanse(b.data, b.cap);
	tf_buf_free(&b);
	return code;
}

static void show_list(cli *a, const tf_json *doc)
{
	size_t i;

	(void)a;
	if (doc == NULL || doc->type != TF_JSON_ARRAY || doc->len == 0) {
		printf("no records\n");
		return;
	}
	printf("%-36s  %-14s  %s\n", "ID", "ENTITY", "SYNC");
	for (i = 0; i < doc->len; i++) {
		const tf_json *r = doc->u.items[i];
		const char *id = tf_json_get_str(r, "id", NULL);
		const char *e = tf_json_get_str(r, "entity", NULL);
		const char *s = tf_json_get_str(r, "sync", NULL);

		put_safe(stdout, id ? id : "?", strlen(id ? id : "?"), 0);
		printf("  %-14s  %s\n", e ? e : "?", s ? s : "?");
	}
}

static int cmd_list(cli *a)
{
	tf_err err;
	tf_buf b;
	int rc, code;

	tf_err_clear(&err);
	tf_buf_init(&b);
	rc = cli_open_unlocked(a, &err);
	if (rc == 0)
		rc = tf_client_list(a->c, a->npos ? a->pos[0] : NULL, &b, &err);
	code = rc ? fail(a, rc, &err, "list")
		  : print_doc(a, &b, "list", show_list);
	tf_buf_free(&b);
	return code;
}

/* Queues one mutation and reports it (the "did it save?" answer). */
static int mutate(cli *a, const char *entity, const char *id, const char *op,
		  const tf_buf *args)
{
	char cmd_id[TF_UUID_LEN + 1] = "", rec[TF_UUID_LEN + 1] = "";
	tf_client_status st;
	tf_err err;
	int rc;

	tf_err_clear(&err);
	memset(&st, 0, sizeof st);
	tf_client_status_get(a->c, &st);
	rc = tf_client_mutate(a->c, entity, id, op, args->data, st.online,
			      cmd_id, rec, &err);
	if (rc == TF_EOFFLINE && !st.online) {
		/*
		 * An online-only field, and this process has not talked to
		 * the server yet: ask it (the public banner endpoint, bounded
		 * by the client's timeout) and, when it answers, try again
		 * as online.  Offline the refusal stands.
		 */
		tf_buf probe;
		int64_t rev = 0;

		tf_buf_init(&probe);
		if (tf_client_banner(a->c, &probe, &rev, NULL) == 0) {
			tf_err_clear(&err);
			rc = tf_client_mutate(a->c, entity, id, op, args->data,
					      1, cmd_id, rec, &err);
		}
		tf_buf_free(&probe);
	}
	if (rc)
		return fail(a, rc, &err, id ? id : entity);
	memset(&st, 0, sizeof st);
	tf_client_status_get(a->c, &st);
	if (a->json) {
		tf_buf j;

		tf_buf_init(&j);
		tf_buf_puts(&j, "{\"cmd_id\":");
		tf_json_write_string(&j, cmd_id, strlen(cmd_id));
		tf_buf_puts(&j, ",\"entity\":");
		tf_json_write_string(&j, entity, strlen(entity));
		tf_buf_puts(&j, ",\"op\":");
		tf_json_write_string(&j, op, strlen(op));
		tf_buf_printf(
			&j, ",\"pending\":%zu,\"record_id\":", st.sum.pending);
		tf_json_write_string(&j, rec[0] ? rec : (id ? id : ""),
				     strlen(rec[0] ? rec : (id ? id : "")));
		tf_buf_puts(&j, ",\"saved\":true}");
		put_doc(&j);
		tf_buf_free(&j);
	} else {
		printf("Saved on this device (encrypted): %s %s %s\n", op,
		       entity, rec[0] ? rec : (id ? id : ""));
		printf("%zu change%s waiting for the server (tenfour sync).\n",
		       st.sum.pending, st.sum.pending == 1 ? "" : "s");
	}
	return TF_CLI_OK;
}

static int cmd_create_set(cli *a)
{
	int create = strcmp(a->cmd, "create") == 0;
	size_t skip = create ? 1 : 2;
	tf_err err;
	tf_buf args;
	int rc, code;

	tf_err_clear(&err);
	tf_buf_init(&args);
	rc = fields_args(a->pos + skip, a->npos - skip, &args, &err);
	if (rc) {
		code = fail(a, rc, &err, a->cmd);
		goto out;
	}
	rc = cli_open_unlocked(a, &err);
	if (rc) {
		code = fail(a, rc, &err, a->cmd);
		goto out;
	}
	code = mutate(a, a->pos[0], create ? NULL : a->pos[1],
		      create ? "create" : "set", &args);
out:
	tf_cleanse(args.data, args.cap);
	tf_buf_free(&args);
	return code;
}

/*
 * append ENTITY ID FIELD [TEXT|-]: the log entry's body is TEXT (or
 * stdin), "@<json>" for a whole body; plain text becomes {"body": text}
 * for a message log ("messages") and {"text": text} for the others.
 */
static int cmd_append(cli *a)
{
	const char *field = a->pos[2];
	tf_json *body = NULL, *root = NULL;
	tf_buf text, args;
	tf_err err;
	int rc, code;

	tf_err_clear(&err);
	tf_buf_init(&text);
	tf_buf_init(&args);
	rc = check_field_name(field, strlen(field), field, &err);
	if (rc)
		goto fail;
	if (a->npos < 4 || strcmp(a->pos[3], "-") == 0) {
		rc = read_all_fd(STDIN_FILENO, &text, "stdin", &err);
		if (rc == 0 && text.len && text.data[text.len - 1] == '\n')
			text.data[--text.len] = '\0';
	} else {
		tf_buf_puts(&text, a->pos[3]);
		if (tf_buf_cstr(&text) == NULL)
			rc = tf_err_set(&err, TF_ENOMEM, "append",
					"out of memory");
	}
	if (rc == 0)
		rc = check_text(&text, field, &err);
	if (rc)
		goto fail;
	if (text.len == 0) {
		rc = tf_err_set(&err, TF_EMISSING, field, "the entry is empty");
		goto fail;
	}
	if (text.data[0] == '@') {
		rc = parse_value(text.data, field, &body, &err);
	} else {
		tf_json *s = tf_json_string(text.data, text.len);

		body = tf_json_object();
		if (s == NULL || body == NULL ||
		    tf_json_object_set(body,
				       strcmp(field, "messages") == 0 ? "body"
								      : "text",
				       s) != 0) {
			if (body == NULL)
				tf_json_free(s);
			rc = tf_err_set(&err, TF_ENOMEM, field,
					"out of memory");
		}
	}
	if (rc)
		goto fail;
	root = tf_json_object();
	if (root == NULL || tf_json_object_set(root, "body", body) != 0) {
		rc = tf_err_set(&err, TF_ENOMEM, field, "out of memory");
		goto fail;
	}
	body = NULL;
	if (tf_json_object_set(root, "field", tf_json_cstring(field)) != 0 ||
	    tf_json_write(root, &args) != 0) {
		rc = tf_err_set(&err, TF_ENOMEM, field, "out of memory");
		goto fail;
	}
	rc = cli_open_unlocked(a, &err);
	if (rc)
		goto fail;
	code = mutate(a, a->pos[0], a->pos[1], "append", &args);
	goto out;
fail:
	code = fail(a, rc, &err, "append");
out:
	tf_json_free(body);
	tf_json_free(root);
	tf_cleanse(text.data, text.cap);
	tf_cleanse(args.data, args.cap);
	tf_buf_free(&text);
	tf_buf_free(&args);
	return code;
}

/* The record view's state of one field (borrowed from view), or NULL. */
static const tf_json *view_field(const tf_json *view, const char *field)
{
	return tf_json_object_get(
		tf_json_object_get(tf_json_object_get(view, "record"), "f"),
		field);
}

/*
 * edit ENTITY ID FIELD: the text field in $EDITOR (memory-backed temp
 * file, see edit_text_in_editor), queued as edit_text against the rev
 * the user started from.  A field with an open conflict is refused
 * (resolve it first): exit 8.
 */
static int cmd_edit(cli *a)
{
	const char *field = a->pos[2];
	tf_json *view = NULL, *root = NULL;
	const tf_json *fs, *cf;
	tf_buf b, text, args;
	tf_err err;
	const char *cur;
	size_t curlen;
	int64_t rev;
	int rc, code;

	tf_err_clear(&err);
	tf_buf_init(&b);
	tf_buf_init(&text);
	tf_buf_init(&args);
	rc = check_field_name(field, strlen(field), field, &err);
	if (rc == 0)
		rc = cli_open_unlocked(a, &err);
	if (rc == 0)
		rc = tf_client_get(a->c, a->pos[1], &b, &err);
	if (rc == 0)
		rc = parse_doc(&b, &view, &err);
	if (rc)
		goto fail;
	fs = view_field(view, field);
	cf = tf_json_object_get(fs, "conflicts");
	if (cf && cf->type == TF_JSON_ARRAY && cf->len) {
		rc = tf_err_set(
			&err, TF_ECONFLICT, field,
			"the field has an open conflict: tenfour resolve "
			"%s %s",
			a->pos[1], field);
		goto fail;
	}
	if (fs && tf_json_object_get(fs, "rev") == NULL) {
		rc = tf_err_set(&err, TF_ETYPE, field, "not a text field");
		goto fail;
	}
	cur = text_state(fs, &curlen, &rev);
	rc = edit_text_in_editor(cur, curlen, &text, &err);
	if (rc == 0)
		rc = check_text(&text, field, &err);
	if (rc)
		goto fail;
	if (text.len == curlen &&
	    memcmp(text.len ? text.data : "", cur, curlen) == 0) {
		if (a->json)
			printf("{\"changed\":false}\n");
		else
			printf("No change; nothing queued.\n");
		code = TF_CLI_OK;
		goto out;
	}
	root = tf_json_object();
	if (root == NULL ||
	    tf_json_object_set(root, "field", tf_json_cstring(field)) != 0 ||
	    tf_json_object_set(root, "base_rev", tf_json_int(rev)) != 0 ||
	    tf_json_object_set(root, "base", tf_json_string(cur, curlen)) !=
		    0 ||
	    tf_json_object_set(
		    root, "text",
		    tf_json_string(text.len ? text.data : "", text.len)) != 0 ||
	    tf_json_write(root, &args) != 0) {
		rc = tf_err_set(&err, TF_ENOMEM, field, "out of memory");
		goto fail;
	}
	code = mutate(a, a->pos[0], a->pos[1], "edit_text", &args);
	goto out;
fail:
	code = fail(a, rc, &err, "edit");
out:
	tf_json_free(root);
	tf_json_free(view);
	tf_cleanse(b.data, b.cap);
	tf_cleanse(text.data, text.cap);
	tf_cleanse(args.data, args.cap);
	tf_buf_free(&args);
	tf_buf_free(&text);
	tf_buf_free(&b);
	return code;
}

static void show_conflicts(cli *a, const tf_json *doc)
{
	size_t i;

	(void)a;
	if (doc == NULL || doc->type != TF_JSON_ARRAY || doc->len == 0) {
		printf("no conflicts\n");
		return;
	}
	for (i = 0; i < doc->len; i++) {
		const tf_json *c = doc->u.items[i];
		const tf_json *cf = tf_json_object_get(c, "conflict");
		const char *id = tf_json_get_str(c, "record_id", NULL);
		const char *e = tf_json_get_str(c, "entity", NULL);
		const char *f = tf_json_get_str(c, "field", NULL);
		const char *by = tf_json_get_str(cf, "by", NULL);
		const char *hb = tf_json_get_str(cf, "head_by", NULL);

		id = id ? id : "?";
		f = f ? f : "?";
		printf("%s ", e ? e : "?");
		put_safe(stdout, id, strlen(id), 0);
		printf(" %s: yours (", f);
		put_safe(stdout, by ? by : "?", strlen(by ? by : "?"), 0);
		printf(") against theirs (");
		put_safe(stdout, hb ? hb : "?", strlen(hb ? hb : "?"), 0);
		printf(")%s  -> tenfour resolve ",
		       tf_json_object_get(cf, "merged") ? ", merge available"
							: "");
		put_safe(stdout, id, strlen(id), 0);
		printf(" %s\n", f);
	}
}

static int cmd_conflicts(cli *a)
{
	tf_err err;
	tf_buf b;
	int rc, code;

	tf_err_clear(&err);
	tf_buf_init(&b);
	rc = cli_open_unlocked(a, &err);
	if (rc == 0)
		rc = tf_client_conflicts(a->c, &b, &err);
	code = rc ? fail(a, rc, &err, "conflicts")
		  : print_doc(a, &b, "conflicts", show_conflicts);
	tf_cleanse(b.data, b.cap);
	tf_buf_free(&b);
	return code;
}

/*
 * Bytes of s[0..len) that fit in `cols` display columns (UTF-8 code
 * points count one each), stopping at a newline; *adv gets how far to
 * move (past the newline too).
 */
static size_t fit_cols(const char *s, size_t len, int cols, size_t *adv)
{
	size_t i = 0;
	int used = 0;

	while (i < len && s[i] != '\n') {
		size_t n = 1;

		while (i + n < len && ((unsigned char)s[i + n] & 0xc0) == 0x80)
			n++;
		if (used == cols)
			break;
		used++;
		i += n;
	}
	*adv = i < len && s[i] == '\n' ? i + 1 : i;
	return i;
}

/* Number of display columns of s[0..n) (code points). */
static int cols_of(const char *s, size_t n)
{
	size_t i;
	int c = 0;

	for (i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xc0) != 0x80;
	return c;
}

/*
 * Draws base / theirs / mine side by side from tf_diff3_json hunks: a
 * gutter mark per row ('!' conflict, '>' only theirs changed, '<' only
 * mine, '=' both alike, ' ' unchanged), each column wrapped to a third of
 * the terminal.  Unchanged stretches longer than a few rows are cut.
 */
static void draw_side_by_side(const tf_json *hunks, int width)
{
	static const char *const keys[3] = {"base", "head", "proposed"};
	int col = (width - 8) / 3, k;
	size_t i;

	if (col < 10)
		col = 10;
	printf("  %-*s | %-*s | %-*s\n", col, "BASE", col, "THEIRS (server)",
	       col, "MINE (this device)");
	for (k = 0; k < 3 * col + 8; k++)
		putchar('-');
	putchar('\n');
	for (i = 0; hunks && hunks->type == TF_JSON_ARRAY && i < hunks->len;
	     i++) {
		const tf_json *h = hunks->u.items[i];
		const char *kind = tf_json_get_str(h, "kind", NULL);
		const char *txt[3];
		size_t len[3], off[3] = {0, 0, 0};
		char mark = ' ';
		int row;

		kind = kind ? kind : "same";
		if (strcmp(kind, "conflict") == 0)
			mark = '!';
		else if (strcmp(kind, "head") == 0)
			mark = '>';
		else if (strcmp(kind, "proposed") == 0)
			mark = '<';
		else if (strcmp(kind, "both") == 0)
			mark = '=';
		for (k = 0; k < 3; k++) {
			txt[k] = tf_json_get_str(h, keys[k], &len[k]);
			if (txt[k] == NULL) {
				txt[k] = "";
				len[k] = 0;
			}
		}
		/* Whitespace-only unchanged hunks add nothing to read. */
		if (mark == ' ') {
			size_t j;

			for (j = 0;
			     j < len[0] && isspace((unsigned char)txt[0][j]);
			     j++)
				;
			if (j == len[0])
				continue;
		}
		for (row = 0; row < 200; row++) {
			int any = 0;

			if (mark == ' ' && row == 3) {
				printf("  %-*s |\n", col, "  ...");
				break;
			}
			for (k = 0; k < 3; k++)
				any |= off[k] < len[k];
			if (!any)
				break;
			printf("%c ", mark);
			for (k = 0; k < 3; k++) {
				size_t adv, n = fit_cols(txt[k] + off[k],
							 len[k] - off[k], col,
							 &adv);

				put_safe(stdout, txt[k] + off[k], n, 0);
				if (k < 2)
					printf("%*s | ",
					       col - cols_of(txt[k] + off[k],
							     n),
					       "");
				off[k] += adv;
			}
			putchar('\n');
		}
	}
}

/* Finds the conflict entry of (id, field) in a tf_client_conflicts list. */
static const tf_json *find_conflict(const tf_json *list, const char *id,
				    const char *field)
{
	size_t i;

	for (i = 0; list && list->type == TF_JSON_ARRAY && i < list->len; i++) {
		const tf_json *c = list->u.items[i];
		const char *r = tf_json_get_str(c, "record_id", NULL);
		const char *f = tf_json_get_str(c, "field", NULL);

		if (r && f && strcmp(r, id) == 0 && strcmp(f, field) == 0)
			return tf_json_object_get(c, "conflict");
	}
	return NULL;
}

/*
 * resolve ID FIELD: shows the conflict side by side and takes the choice
 * (terminal, or --choice mine|theirs|merged|edit with --text-file F for
 * edit); "edit" without --text-file opens $EDITOR on the merged text (or
 * mine).  Queues a resolve command (the library audits what is dropped).
 */
static int cmd_resolve(cli *a)
{
	const char *id = a->pos[0], *field = a->pos[1], *choice = a->choice;
	const char *lib_choice, *text = NULL;
	tf_json *list = NULL;
	const tf_json *cf;
	tf_buf b, hunks, edited;
	tf_err err;
	char ans[16];
	size_t n, blen = 0, hlen = 0, plen = 0, mlen = 0;
	const char *base, *head, *mine, *merged;
	int rc, code;

	tf_err_clear(&err);
	tf_buf_init(&b);
	tf_buf_init(&hunks);
	tf_buf_init(&edited);
	if (choice && strcmp(choice, "mine") != 0 &&
	    strcmp(choice, "theirs") != 0 && strcmp(choice, "merged") != 0 &&
	    strcmp(choice, "edit") != 0) {
		code = usage_fail(a, "--choice is mine, theirs, merged or edit",
				  "--choice");
		goto out;
	}
	if (a->text_file && (choice == NULL || strcmp(choice, "edit") != 0)) {
		code = usage_fail(a, "--text-file goes with --choice edit",
				  "--text-file");
		goto out;
	}
	rc = cli_open_unlocked(a, &err);
	if (rc == 0)
		rc = tf_client_conflicts(a->c, &b, &err);
	if (rc == 0)
		rc = parse_doc(&b, &list, &err);
	if (rc)
		goto fail;
	cf = find_conflict(list, id, field);
	if (cf == NULL) {
		rc = tf_err_set(&err, TF_ENOTFOUND, field,
				"no open conflict on %s of record %s", field,
				id);
		goto fail;
	}
	base = tf_json_get_str(cf, "base", &blen);
	head = tf_json_get_str(cf, "head", &hlen);
	mine = tf_json_get_str(cf, "proposed", &plen);
	merged = tf_json_get_str(cf, "merged", &mlen);
	base = base ? base : "";
	head = head ? head : "";
	mine = mine ? mine : "";
	if (!a->json) {
		tf_json *h = NULL;

		if (tf_diff3_json(base, blen, head, hlen, mine, plen, &hunks) ==
			    0 &&
		    parse_doc(&hunks, &h, NULL) == 0) {
			draw_side_by_side(h, term_width(STDOUT_FILENO));
		}
		tf_json_free(h);
		printf("\ntheirs by %s, mine by %s; %s\n",
		       tf_json_get_str(cf, "head_by", NULL)
			       ? tf_json_get_str(cf, "head_by", NULL)
			       : "?",
		       tf_json_get_str(cf, "by", NULL)
			       ? tf_json_get_str(cf, "by", NULL)
			       : "?",
		       merged ? "a clean merge is available"
			      : "no clean merge (the changes overlap)");
		fflush(stdout);
	}
	if (choice == NULL) {
		rc = read_tty(merged ? "Keep [m]ine, [t]heirs, m[e]rged, or "
				       "e[d]it? "
				     : "Keep [m]ine, [t]heirs, or e[d]it? ",
			      1, ans, sizeof ans, &n, "choice", &err);
		if (rc == TF_ENOTFOUND) {
			code = usage_fail(a,
					  "no terminal: pass --choice mine|"
					  "theirs|merged|edit",
					  "resolve");
			goto out;
		}
		if (rc)
			goto fail;
		if (strcmp(ans, "m") == 0 || strcmp(ans, "mine") == 0)
			choice = "mine";
		else if (strcmp(ans, "t") == 0 || strcmp(ans, "theirs") == 0)
			choice = "theirs";
		else if (strcmp(ans, "e") == 0 || strcmp(ans, "merged") == 0)
			choice = "merged";
		else if (strcmp(ans, "d") == 0 || strcmp(ans, "edit") == 0)
			choice = "edit";
		else {
			code = usage_fail(a, "answer m, t, e or d", "resolve");
			goto out;
		}
	}
	if (strcmp(choice, "mine") == 0) {
		lib_choice = "mine";
		text = mine;
	} else if (strcmp(choice, "theirs") == 0) {
		lib_choice = "theirs";
		text = head;
	} else if (strcmp(choice, "merged") == 0) {
		if (merged == NULL) {
			rc = tf_err_set(&err, TF_EINVAL, field,
					"no clean merge for this conflict: "
					"choose mine, theirs or edit");
			goto fail;
		}
		lib_choice = "merged";
		text = merged;
	} else {
		lib_choice = "edited";
		if (a->text_file)
			rc = read_file(a->text_file, &edited, &err);
		else if (merged)
			rc = edit_text_in_editor(merged, mlen, &edited, &err);
		else
			rc = edit_text_in_editor(mine, plen, &edited, &err);
		if (rc == 0)
			rc = check_text(&edited, field, &err);
		if (rc)
			goto fail;
		text = edited.len ? edited.data : "";
	}
	rc = tf_client_resolve(a->c, id, field, lib_choice, text, &err);
	if (rc)
		goto fail;
	if (a->json) {
		tf_buf j;

		tf_buf_init(&j);
		tf_buf_printf(&j, "{\"choice\":\"%s\",\"field\":", lib_choice);
		tf_json_write_string(&j, field, strlen(field));
		tf_buf_puts(&j, ",\"record_id\":");
		tf_json_write_string(&j, id, strlen(id));
		tf_buf_puts(&j, ",\"resolved\":true}");
		put_doc(&j);
		tf_buf_free(&j);
	} else
		printf("Resolved (%s): saved on this device; it goes with the "
		       "next sync.\n",
		       lib_choice);
	code = TF_CLI_OK;
	goto out;
fail:
	code = fail(a, rc, &err, "resolve");
out:
	tf_json_free(list);
	tf_cleanse(b.data, b.cap);
	tf_cleanse(edited.data, edited.cap);
	tf_buf_free(&edited);
	tf_buf_free(&hunks);
	tf_buf_free(&b);
	return code;
}

static int cmd_ack(cli *a)
{
	tf_err err;
	int rc;

	tf_err_clear(&err);
	rc = cli_open_unlocked(a, &err);
	if (rc == 0)
		rc = tf_client_ack(a->c, a->pos[0], &err);
	if (rc)
		return fail(a, rc, &err, a->pos[0]);
	if (a->json) {
		tf_buf j;

		tf_buf_init(&j);
		tf_buf_puts(&j, "{\"acked\":");
		tf_json_write_string(&j, a->pos[0], strlen(a->pos[0]));
		tf_buf_puts(&j, "}");
		put_doc(&j);
		tf_buf_free(&j);
	} else {
		printf("Acknowledged.\n");
	}
	return TF_CLI_OK;
}

static void show_audit(cli *a, const tf_json *doc)
{
	size_t i;

	(void)a;
	for (i = 0; doc && doc->type == TF_JSON_ARRAY && i < doc->len; i++) {
		put_json_compact(stdout, doc->u.items[i]);
		putchar('\n');
	}
	printf("%zu entr%s\n", doc && doc->type == TF_JSON_ARRAY ? doc->len : 0,
	       doc && doc->type == TF_JSON_ARRAY && doc->len == 1 ? "y"
								  : "ies");
}

static int cmd_audit(cli *a)
{
	tf_err err;
	tf_buf b;
	int rc, code;

	tf_err_clear(&err);
	tf_buf_init(&b);
	rc = cli_open_unlocked(a, &err);
	if (rc == 0 && a->verify) {
		rc = tf_client_audit_verify(a->c, &err);
		if (rc == 0) {
			if (a->json)
				printf("{\"intact\":true}\n");
			else
				printf("The local audit chain is intact.\n");
			code = TF_CLI_OK;
			goto out;
		}
	}
	if (rc == 0)
		rc = tf_client_audit(a->c, 0, &b, &err);
	code = rc ? fail(a, rc, &err, "audit")
		  : print_doc(a, &b, "audit", show_audit);
out:
	tf_buf_free(&b);
	return code;
}

static int cmd_wipe(cli *a)
{
	tf_err err;
	char ans[16];
	size_t n = 0;
	pid_t pid = 0;
	int rc;

	tf_err_clear(&err);
	if (!a->yes) {
		rc = read_tty(
			"This crypto-erases every record and queued change "
			"on this device. Type WIPE to go on: ",
			1, ans, sizeof ans, &n, "confirmation", &err);
		if (rc == TF_ENOTFOUND)
			return usage_fail(a,
					  "no terminal to confirm: pass --yes",
					  "wipe");
		if (rc)
			return fail(a, rc, &err, "wipe");
		if (strcmp(ans, "WIPE") != 0) {
			fprintf(stderr, "tenfour: not confirmed; nothing wiped "
					"(wipe)\n");
			return TF_CLI_USAGE;
		}
	}
	rc = stop_watcher(a, &pid, &err);
	if (rc == 0)
		rc = cli_open_unlocked(a, &err);
	if (rc == 0)
		rc = tf_client_wipe(a->c, &err);
	if (rc)
		return fail(a, rc, &err, "wipe");
	if (a->json)
		printf("{\"wiped\":true}\n");
	else
		printf("Wiped: keys erased first, then the data. Log in "
		       "(online) to use this device again.\n");
	return TF_CLI_OK;
}

/* --------------------------------------------------------------- main */

typedef struct cli_cmd {
	const char *name;
	int (*fn)(cli *a);
	unsigned opts; /* beyond O_GLOBAL */
	size_t min_pos, max_pos;
	const char *synopsis;
} cli_cmd;

static const cli_cmd cli_cmds[] = {
	{"enroll", cmd_enroll, O_AGENCY | O_DEVICE | O_LABEL, 0, 0,
	 "enroll --server URL --agency A --device D [--label L]"},
	{"login", cmd_login, O_USER | O_ACCEPT | O_PASS_FD | O_TOTP | O_TOTP_FD,
	 0, 0,
	 "login --user U [--accept-banner] [--password-fd N] "
	 "[--totp CODE | --totp-fd N]"},
	{"unlock", cmd_unlock, 0, 0, 0, "unlock"},
	{"lock", cmd_lock, 0, 0, 0, "lock"},
	{"logout", cmd_logout, 0, 0, 0, "logout"},
	{"status", cmd_status, 0, 0, 0, "status"},
	{"sync", cmd_sync, O_WATCH | O_MAXSEC, 0, 0,
	 "sync [--watch] [--max-seconds N]"},
	{"get", cmd_get, 0, 1, 1, "get ID"},
	{"list", cmd_list, 0, 0, 1, "list [ENTITY]"},
	{"set", cmd_create_set, 0, 3, TF_CLI_MAX_POS,
	 "set ENTITY ID FIELD=VALUE..."},
	{"append", cmd_append, 0, 3, 4, "append ENTITY ID FIELD [TEXT|-]"},
	{"create", cmd_create_set, 0, 2, TF_CLI_MAX_POS,
	 "create ENTITY FIELD=VALUE..."},
	{"edit", cmd_edit, 0, 3, 3, "edit ENTITY ID FIELD"},
	{"conflicts", cmd_conflicts, 0, 0, 0, "conflicts"},
	{"resolve", cmd_resolve, O_CHOICE | O_TEXTFILE, 2, 2,
	 "resolve ID FIELD [--choice mine|theirs|merged|edit "
	 "[--text-file F]]"},
	{"ack", cmd_ack, 0, 1, 1, "ack NOTICE_ID"},
	{"lookup", cmd_get, 0, 1, 1, "lookup ID"},
	{"audit", cmd_audit, O_VERIFY, 0, 0, "audit [--verify]"},
	{"wipe", cmd_wipe, O_YES, 0, 0, "wipe [--yes]"},
};

typedef struct cli_opt {
	const char *name;
	unsigned bit;
	int has_arg;
} cli_opt;

static const cli_opt cli_opts[] = {
	{"--home", O_HOME, 1},
	{"--server", O_SERVER, 1},
	{"--json", O_JSON, 0},
	{"--schema", O_SCHEMA, 1},
	{"--pin-fd", O_PIN_FD, 1},
	{"--user", O_USER, 1},
	{"--accept-banner", O_ACCEPT, 0},
	{"--password-fd", O_PASS_FD, 1},
	{"--totp", O_TOTP, 1},
	{"--totp-fd", O_TOTP_FD, 1},
	{"--agency", O_AGENCY, 1},
	{"--device", O_DEVICE, 1},
	{"--label", O_LABEL, 1},
	{"--watch", O_WATCH, 0},
	{"--max-seconds", O_MAXSEC, 1},
	{"--verify", O_VERIFY, 0},
	{"--yes", O_YES, 0},
	{"--choice", O_CHOICE, 1},
	{"--text-file", O_TEXTFILE, 1},
	{"--help", O_HELP, 0},
	{"-h", O_HELP, 0},
};

static void print_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: tenfour [--home DIR] [--server URL] [--json] "
		   "[--schema PATH] [--pin-fd N] COMMAND ...\n\ncommands:\n");
	for (i = 0; i < sizeof cli_cmds / sizeof cli_cmds[0]; i++)
		fprintf(f, "  tenfour %s\n", cli_cmds[i].synopsis);
	fprintf(f, "\nexit status: 0 ok, 1 usage, 2 invalid input or refused, "
		   "3 locked/wrong PIN/login needed,\n4 grant expired or clock "
		   "rollback, 5 server unreachable (work queued), 6 wiped or "
		   "revoked,\n7 not found, 8 conflict to resolve, 9 other "
		   "failure.  See tenfour(1).\n");
}

/* A file descriptor number argument: 0..1023. */
static int parse_fd(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 1023)
		return -1;
	*out = (int)v;
	return 0;
}

/* Parses argv into a (options anywhere; "--" ends them).  Returns 0 or
   the exit status of a usage error. */
static int parse_args(cli *a, int argc, char **argv)
{
	int i, opts_done = 0;
	size_t k;

	if (argc > TF_CLI_MAX_ARGS)
		return usage_fail(a, "too many arguments", "argv");
	for (i = 1; i < argc; i++) {
		const char *s = argv[i];
		const cli_opt *o = NULL;
		const char *val = NULL;

		if (strlen(s) > TF_CLI_ARG_MAX)
			return usage_fail(
				a, "an argument is longer than 64 KiB", "argv");
		if (!opts_done && strcmp(s, "--") == 0) {
			opts_done = 1;
			continue;
		}
		if (!opts_done && s[0] == '-' && s[1] != '\0') {
			for (k = 0; k < sizeof cli_opts / sizeof cli_opts[0];
			     k++) {
				if (strcmp(s, cli_opts[k].name) == 0)
					o = &cli_opts[k];
			}
			if (o == NULL)
				return usage_fail(a, "unknown option", s);
			if (a->seen & o->bit)
				return usage_fail(a, "option given twice", s);
			a->seen |= o->bit;
			if (o->has_arg) {
				if (i + 1 >= argc)
					return usage_fail(a,
							  "the option needs a "
							  "value",
							  s);
				val = argv[++i];
				if (strlen(val) > TF_CLI_ARG_MAX)
					return usage_fail(a,
							  "an argument is "
							  "longer than 64 KiB",
							  s);
			}
			switch (o->bit) {
			case O_HOME:
				a->home = val;
				break;
			case O_SERVER:
				a->server = val;
				break;
			case O_JSON:
				a->json = 1;
				break;
			case O_SCHEMA:
				a->schema = val;
				break;
			case O_PIN_FD:
				if (parse_fd(val, &a->pin_fd))
					return usage_fail(a,
							  "not a descriptor "
							  "number",
							  s);
				break;
			case O_USER:
				a->user = val;
				break;
			case O_ACCEPT:
				a->accept_banner = 1;
				break;
			case O_PASS_FD:
				if (parse_fd(val, &a->password_fd))
					return usage_fail(a,
							  "not a descriptor "
							  "number",
							  s);
				break;
			case O_TOTP:
				a->totp = val;
				break;
			case O_TOTP_FD:
				if (parse_fd(val, &a->totp_fd))
					return usage_fail(a,
							  "not a descriptor "
							  "number",
							  s);
				break;
			case O_AGENCY:
				a->agency = val;
				break;
			case O_DEVICE:
				a->device = val;
				break;
			case O_LABEL:
				a->label = val;
				break;
			case O_WATCH:
				a->watch = 1;
				break;
			case O_MAXSEC: {
				char *end;

				errno = 0;
				a->max_seconds = strtol(val, &end, 10);
				if (errno || end == val || *end ||
				    a->max_seconds < 1 ||
				    a->max_seconds > TF_CLI_MAX_SECONDS)
					return usage_fail(a,
							  "seconds from 1 to "
							  "604800",
							  s);
				break;
			}
			case O_VERIFY:
				a->verify = 1;
				break;
			case O_YES:
				a->yes = 1;
				break;
			case O_CHOICE:
				a->choice = val;
				break;
			case O_TEXTFILE:
				a->text_file = val;
				break;
			default: /* O_HELP */
				break;
			}
			continue;
		}
		if (a->cmd == NULL) {
			a->cmd = s;
			continue;
		}
		if (a->npos == TF_CLI_MAX_POS)
			return usage_fail(a, "too many arguments", a->cmd);
		a->pos[a->npos++] = argv[i];
	}
	return 0;
}

/* The home: --home, else $TENFOUR_HOME, else $HOME/.tenfour. */
static int pick_home(cli *a)
{
	const char *env;

	if (a->home != NULL)
		return 0;
	env = getenv("TENFOUR_HOME");
	if (env != NULL && *env != '\0') {
		a->home = env;
		return 0;
	}
	env = getenv("HOME");
	if (env == NULL || *env == '\0')
		return usage_fail(a,
				  "no home: pass --home DIR or set "
				  "TENFOUR_HOME",
				  "home");
	if (snprintf(a->home_buf, sizeof a->home_buf, "%s/.tenfour", env) >=
	    (int)sizeof a->home_buf)
		return usage_fail(a, "$HOME is too long", "HOME");
	a->home = a->home_buf;
	return 0;
}

/*
 * Takes $TENFOUR_PIN out of the environment before anything runs: the
 * value is copied into a (bounded), the environment's copy is zeroized
 * (it also shows in /proc/<pid>/environ) and the variable unset, so no
 * child ($EDITOR, its shell) inherits it.
 */
static void take_env_pin(cli *a)
{
	char *env = getenv("TENFOUR_PIN");
	size_t n;

	if (env == NULL)
		return;
	n = strlen(env);
	if (n > TF_CLI_SECRET_MAX) {
		a->env_pin_long = 1;
	} else {
		memcpy(a->env_pin, env, n + 1);
		a->env_pin_len = n;
	}
	tf_cleanse(env, n);
	unsetenv("TENFOUR_PIN");
}

/*
 * TENFOUR_CLOCK_OFFSET_MS (test aid): shifts this client's wall clock,
 * exactly as changing the system clock would; the library's clock guard
 * judges it like any other wall clock (docs/tenfour.1, ENVIRONMENT).
 */
static int pick_clock(cli *a)
{
	const char *env = getenv("TENFOUR_CLOCK_OFFSET_MS");
	char *end;
	long long v;

	a->clock.wall_ms = cli_wall_ms;
	a->clock.mono_ms = cli_mono_ms;
	a->clock.ctx = a;
	if (env == NULL || *env == '\0')
		return 0;
	errno = 0;
	v = strtoll(env, &end, 10);
	if (errno || end == env || *end || v > TF_CLI_CLOCK_OFFSET_MAX ||
	    v < -TF_CLI_CLOCK_OFFSET_MAX)
		return usage_fail(a,
				  "TENFOUR_CLOCK_OFFSET_MS is an integer of "
				  "at most ten years in ms",
				  "TENFOUR_CLOCK_OFFSET_MS");
	a->clock_offset_ms = (int64_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	const cli_cmd *cmd = NULL;
	cli a;
	size_t k;
	int code;

	memset(&a, 0, sizeof a);
	a.pin_fd = a.password_fd = a.totp_fd = a.home_lock_fd = -1;
	a.max_seconds = -1;
	take_env_pin(&a);
	code = parse_args(&a, argc, argv);
	if (code)
		goto out;
	if ((a.seen & O_HELP) ||
	    (a.cmd != NULL && strcmp(a.cmd, "help") == 0)) {
		print_usage(stdout);
		code = TF_CLI_OK;
		goto out;
	}
	if (a.cmd == NULL) {
		print_usage(stderr);
		code = usage_fail(&a, "no command given", "usage");
		goto out;
	}
	for (k = 0; k < sizeof cli_cmds / sizeof cli_cmds[0]; k++) {
		if (strcmp(a.cmd, cli_cmds[k].name) == 0)
			cmd = &cli_cmds[k];
	}
	if (cmd == NULL) {
		code = usage_fail(&a, "unknown command", a.cmd);
		goto out;
	}
	if (a.seen & ~(O_GLOBAL | cmd->opts)) {
		code = usage_fail(&a, "an option this command does not take",
				  cmd->synopsis);
		goto out;
	}
	if (a.npos < cmd->min_pos || a.npos > cmd->max_pos) {
		code = usage_fail(&a, "wrong number of arguments",
				  cmd->synopsis);
		goto out;
	}
	code = pick_home(&a);
	if (code == 0)
		code = pick_clock(&a);
	if (code)
		goto out;
	code = cmd->fn(&a);
	/* Locks and zeroizes keys and decrypted caches (audited). */
	tf_client_close(a.c);
	if (a.home_lock_fd >= 0)
		close(a.home_lock_fd);
out:
	tf_cleanse(a.env_pin, sizeof a.env_pin);
	fflush(stdout);
	/* SIGHUP/SIGTERM during the editor: the temp dir is gone and the
	   client closed; now die of the signal as the sender expects. */
	if (g_edit_signal) {
		signal(g_edit_signal, SIG_DFL);
		raise(g_edit_signal);
	}
	return code;
}

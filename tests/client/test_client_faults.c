/*
 * test_client_faults.c - the native client under network and process
 * faults.  First the fault proxy itself (tests/support/fault_proxy.c)
 * against a small HTTP stub: each mode does what its contract says.
 * Then Alvarez's `tenfour` CLI (home H, device mdt-2a12) syncing with a
 * real tenfourd through the proxy while it drops pushes, delays every
 * chunk, replays pushes to the server, cuts push replies and pull pages
 * mid-way, holds a push reply or a pull page while the CLI is killed
 * (kill -9), and while tenfourd itself is killed and restarted.  After
 * each fault the link passes again and `tenfour sync` runs until it
 * exits 0 (bounded rounds); then, every time:
 *  - nothing lost, nothing applied twice: every queued log entry is on
 *    the server exactly once, every created record once, and the
 *    client's ledger position (ack) reaches its last seq with nothing
 *    pending;
 *  - the client's replica is byte-identical to the server: every record
 *    state the client holds (`tenfour --json get` for the case's record,
 *    the library's view for all) equals, as canonical JSON, the state
 *    tf_h_pull_all gets from the server, and the two hold the same ids.
 * Commands are queued in-process through libtenfour-client on the CLI's
 * home (one unlock for many commands; the CLI pays a PBKDF2 per run).
 */
#define _GNU_SOURCE /* pipe2 */

#include "fault_proxy.h"
#include "srv_harness.h"
#include "tf_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "tenfour/client.h"

/* Ends the member paths of tf_h_get/str/int (a typed null pointer). */
#define END ((const char *)NULL)
#define CLI_WAIT_MS 120000
#define CLI_OUT_MAX ((size_t)16 * 1024 * 1024)

extern char **environ;

/* ------------------------------------------------------------ HTTP stub */

/*
 * A minimal HTTP/1.1 server on loopback for the proxy's own tests: every
 * request is answered 200 with a body of n bytes ('a'..'z' repeating),
 * n from "?n=" in the path (default 16); keep-alive.  It records the
 * requests it saw (count and the bytes of the last two).
 */
#define STUB_CONNS 16
#define STUB_REQ_MAX 65536

typedef struct stub_conn {
	int fd;
	char buf[STUB_REQ_MAX];
	size_t len;
} stub_conn;

typedef struct stub {
	pthread_t thr;
	pthread_mutex_t mu;
	int lfd, port, stop;
	stub_conn conns[STUB_CONNS];
	int requests;
	char last[2][STUB_REQ_MAX];
	size_t last_len[2];
} stub;

/* Length of the complete request at the start of b, or 0. */
static size_t stub_request_len(const char *b, size_t n)
{
	const char *end = NULL, *cl;
	size_t i, body = 0;

	for (i = 0; i + 4 <= n; i++) {
		if (memcmp(b + i, "\r\n\r\n", 4) == 0) {
			end = b + i + 4;
			break;
		}
	}
	if (end == NULL)
		return 0;
	for (cl = b; cl + 16 < end; cl++) {
		if (strncasecmp(cl, "\r\ncontent-length:", 17) == 0) {
			body = (size_t)strtoul(cl + 17, NULL, 10);
			break;
		}
	}
	if ((size_t)(end - b) + body > n)
		return 0;
	return (size_t)(end - b) + body;
}

static void stub_answer(stub *s, stub_conn *c, size_t rlen)
{
	char head[128], body[65536];
	const char *q;
	size_t n = 16, i, off;
	ssize_t w;
	int guard;

	pthread_mutex_lock(&s->mu);
	s->requests++;
	memcpy(s->last[0], s->last[1], s->last_len[1]);
	s->last_len[0] = s->last_len[1];
	memcpy(s->last[1], c->buf, rlen);
	s->last_len[1] = rlen;
	pthread_mutex_unlock(&s->mu);
	q = memchr(c->buf, '?', rlen);
	if (q && strncmp(q, "?n=", 3) == 0)
		n = (size_t)strtoul(q + 3, NULL, 10);
	if (n > sizeof body)
		n = sizeof body;
	for (i = 0; i < n; i++)
		body[i] = (char)('a' + i % 26);
	snprintf(head, sizeof head,
		 "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
	(void)!send(c->fd, head, strlen(head), MSG_NOSIGNAL);
	for (off = 0, guard = 0; off < n && guard < 10000; guard++) {
		w = send(c->fd, body + off, n - off, MSG_NOSIGNAL);
		if (w < 0 && errno != EINTR && errno != EAGAIN)
			break;
		if (w > 0)
			off += (size_t)w;
		else
			tf_h_sleep_ms(1);
	}
	memmove(c->buf, c->buf + rlen, c->len - rlen);
	c->len -= rlen;
}

static void *stub_thread(void *arg)
{
	stub *s = arg;
	struct pollfd pf[1 + STUB_CONNS];
	int ix[STUB_CONNS];
	size_t i, n, rlen;
	ssize_t r;

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		n = 0;
		pf[n].fd = s->lfd;
		pf[n++].events = POLLIN;
		for (i = 0; i < STUB_CONNS; i++) {
			ix[i] = -1;
			if (s->conns[i].fd < 0)
				continue;
			ix[i] = (int)n;
			pf[n].fd = s->conns[i].fd;
			pf[n++].events = POLLIN;
		}
		if (poll(pf, (nfds_t)n, 20) <= 0)
			continue;
		if (pf[0].revents & POLLIN) {
			int fd = accept(s->lfd, NULL, NULL);
			for (i = 0; fd >= 0 && i < STUB_CONNS; i++) {
				if (s->conns[i].fd < 0) {
					s->conns[i].fd = fd;
					s->conns[i].len = 0;
					fd = -1;
				}
			}
			if (fd >= 0)
				close(fd);
		}
		for (i = 0; i < STUB_CONNS; i++) {
			stub_conn *c = &s->conns[i];
			if (ix[i] < 0 || !(pf[ix[i]].revents &
					   (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = recv(c->fd, c->buf + c->len,
				 sizeof c->buf - c->len, 0);
			if (r <= 0) {
				close(c->fd);
				c->fd = -1;
				continue;
			}
			c->len += (size_t)r;
			while ((rlen = stub_request_len(c->buf, c->len)) > 0)
				stub_answer(s, c, rlen);
		}
	}
	for (i = 0; i < STUB_CONNS; i++) {
		if (s->conns[i].fd >= 0)
			close(s->conns[i].fd);
	}
	return NULL;
}

static int stub_start(stub *s)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	size_t i;

	memset(s, 0, sizeof *s);
	pthread_mutex_init(&s->mu, NULL);
	for (i = 0; i < STUB_CONNS; i++)
		s->conns[i].fd = -1;
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    listen(s->lfd, 16) != 0 ||
	    getsockname(s->lfd, (struct sockaddr *)&a, &len) != 0)
		return -1;
	s->port = ntohs(a.sin_port);
	return pthread_create(&s->thr, NULL, stub_thread, s) == 0 ? 0 : -1;
}

static void stub_stop(stub *s)
{
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	pthread_join(s->thr, NULL);
	close(s->lfd);
	pthread_mutex_destroy(&s->mu);
}

static int stub_requests(stub *s)
{
	int n;

	pthread_mutex_lock(&s->mu);
	n = s->requests;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* Closes with a reset, as a killed process's socket would. */
static void close_reset_fd(int fd)
{
	struct linger lg = {1, 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd);
}

/* A client socket to the proxy; -errno when the connect failed. */
static int dial(int port)
{
	struct sockaddr_in a;
	struct timeval tv = {5, 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -errno;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/*
 * Sends one request (GET path, or POST with body) and reads the reply:
 * returns the body bytes read, *complete 1 when the whole reply (by its
 * Content-Length) arrived, 0 when the connection ended before.
 */
static long exchange(int fd, const char *method, const char *path,
		     const char *body, int *complete)
{
	char req[1024], rep[70000];
	size_t len = 0, want = 0, hl = 0;
	ssize_t r;
	int guard;
	char *e;

	*complete = 0;
	snprintf(req, sizeof req,
		 "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
		 method, path, body ? strlen(body) : 0, body ? body : "");
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0)
		return -1;
	for (guard = 0; guard < 10000 && len < sizeof rep - 1; guard++) {
		r = recv(fd, rep + len, sizeof rep - 1 - len, 0);
		if (r <= 0)
			break;
		len += (size_t)r;
		rep[len] = '\0';
		if (hl == 0 && (e = strstr(rep, "\r\n\r\n")) != NULL) {
			hl = (size_t)(e - rep) + 4;
			e = strstr(rep, "Content-Length: ");
			want = e ? (size_t)strtoul(e + 16, NULL, 10) : 0;
		}
		if (hl && len >= hl + want) {
			*complete = 1;
			return (long)(len - hl);
		}
	}
	return hl ? (long)(len - hl) : (long)len;
}

/* Waits (bounded) until the stub saw n requests. */
static int wait_requests(stub *s, int n)
{
	int i;

	for (i = 0; i < 400 && stub_requests(s) < n; i++)
		tf_h_sleep_ms(5);
	return stub_requests(s);
}

TEST(proxy_pass_down_drop)
{
	tf_fault_proxy *p = NULL;
	tf_fp_fault f;
	tf_fp_stats st;
	stub s;
	tf_err err;
	int fd, fd2, complete, port;
	long n;

	CHECK_INT(stub_start(&s), 0);
	CHECK_INT(tf_fp_start(s.port, &p, &err), 0);
	if (p == NULL)
		goto out;
	port = tf_fp_port(p);
	CHECK(port > 0 && port != s.port);

	/* Pass: the reply whole, both ways counted. */
	fd = dial(port);
	CHECK(fd >= 0);
	n = exchange(fd, "GET", "/a?n=5000", NULL, &complete);
	CHECK_INT(n, 5000);
	CHECK(complete);
	n = exchange(fd, "POST", "/b?n=10", "{\"x\":1}", &complete);
	CHECK_INT(n, 10);
	CHECK(complete);
	tf_fp_stats_get(p, &st);
	CHECK_INT(st.requests, 2);
	CHECK_INT(st.responses, 2);
	CHECK_INT(st.accepted, 1);
	CHECK(st.bytes_down > 5010);

	/* Down: the open connection is reset, new ones refused. */
	CHECK_INT(tf_fp_set_mode(p, TF_FP_DOWN, 0), 0);
	n = exchange(fd, "GET", "/c", NULL, &complete);
	CHECK(n <= 0);
	CHECK(!complete);
	close(fd);
	CHECK_INT(dial(port), -ECONNREFUSED);
	CHECK_INT(stub_requests(&s), 2);
	/* Back up on the same port. */
	CHECK_INT(tf_fp_set_mode(p, TF_FP_PASS, 0), 0);
	CHECK_INT(tf_fp_port(p), port);
	fd = dial(port);
	CHECK(fd >= 0);
	CHECK_INT(exchange(fd, "GET", "/d?n=3", NULL, &complete), 3);
	CHECK(complete);
	close(fd);
	CHECK_INT(stub_requests(&s), 3);

	/* Drop: a matching request never reaches the server. */
	memset(&f, 0, sizeof f);
	f.mode = TF_FP_DROP;
	f.path_prefix = "/v1/sync/push";
	CHECK_INT(tf_fp_set(p, &f), 0);
	fd = dial(port);
	fd2 = dial(port);
	CHECK(fd >= 0 && fd2 >= 0);
	n = exchange(fd, "POST", "/v1/sync/push", "{}", &complete);
	CHECK(n <= 0 && !complete);
	CHECK_INT(exchange(fd2, "GET", "/v1/sync/pull?n=7", NULL, &complete),
		  7);
	CHECK(complete);
	close(fd);
	close(fd2);
	tf_fp_stats_get(p, &st);
	CHECK_INT(st.dropped, 1);
	CHECK_INT(st.matched, 1);
	CHECK_INT(st.faulted, 1);
	CHECK_INT(stub_requests(&s), 4);
out:
	tf_fp_stop(p);
	stub_stop(&s);
}

TEST(proxy_delay_dup_cut_hold)
{
	tf_fault_proxy *p = NULL;
	tf_fp_fault f;
	tf_fp_stats st;
	struct pollfd pf;
	char buf[64];
	stub s;
	tf_err err;
	int fd = -1, complete, port, i;
	int64_t t;
	long n;

	CHECK_INT(stub_start(&s), 0);
	CHECK_INT(tf_fp_start(s.port, &p, &err), 0);
	if (p == NULL)
		goto out;
	port = tf_fp_port(p);

	/* Delay: each chunk waits (a lower bound, not a timing). */
	CHECK_INT(tf_fp_set_mode(p, TF_FP_DELAY, 120), 0);
	fd = dial(port);
	t = tf_h_now_ms();
	CHECK_INT(exchange(fd, "GET", "/slow?n=100", NULL, &complete), 100);
	CHECK(complete);
	CHECK(tf_h_now_ms() - t >= 220);
	close(fd);

	/* Duplicate: the server sees the same bytes twice, the client one
	   reply. */
	memset(&f, 0, sizeof f);
	f.mode = TF_FP_DUP;
	f.arg = 50;
	f.path_prefix = "/v1/sync/push";
	CHECK_INT(tf_fp_set(p, &f), 0);
	fd = dial(port);
	CHECK_INT(exchange(fd, "POST", "/v1/sync/push?n=4",
			   "{\"commands\":[1,2,3]}", &complete),
		  4);
	CHECK(complete);
	CHECK_INT(wait_requests(&s, 3), 3);
	pthread_mutex_lock(&s.mu);
	CHECK(s.last_len[0] == s.last_len[1] &&
	      memcmp(s.last[0], s.last[1], s.last_len[0]) == 0);
	pthread_mutex_unlock(&s.mu);
	for (i = 0; i < 400; i++) {
		tf_fp_stats_get(p, &st);
		if (st.dup_replies)
			break;
		tf_h_sleep_ms(5);
	}
	CHECK_INT(st.dup_sent, 1);
	CHECK_INT(st.dup_replies, 1);
	CHECK_INT(st.dup_last_status, 200);
	/* A GET that does not match passes once. */
	CHECK_INT(exchange(fd, "GET", "/v1/sync/pull?n=1", NULL, &complete),
		  1);
	close(fd);
	tf_h_sleep_ms(100);
	CHECK_INT(stub_requests(&s), 4);

	/* Cut: 100 bytes of a 20,000-byte reply, then a reset. */
	CHECK_INT(tf_fp_set_mode(p, TF_FP_CUT, 100), 0);
	fd = dial(port);
	n = exchange(fd, "GET", "/big?n=20000", NULL, &complete);
	CHECK(!complete);
	/* The head (about 40 bytes) is within the 100. */
	CHECK(n > 0 && n < 100);
	close(fd);
	tf_fp_stats_get(p, &st);
	CHECK_INT(st.cut, 1);
	CHECK_INT(stub_requests(&s), 5);

	/* Hold: the reply stays in the proxy until released. */
	memset(&f, 0, sizeof f);
	f.mode = TF_FP_HOLD;
	f.path_prefix = "/v1/sync/pull";
	f.skip = 1;
	CHECK_INT(tf_fp_set(p, &f), 0);
	fd = dial(port);
	CHECK_INT(exchange(fd, "GET", "/v1/sync/pull?n=9", NULL, &complete),
		  9);
	CHECK(complete);
	snprintf(buf, sizeof buf, "GET /v1/sync/pull?n=300 HTTP/1.1\r\n\r\n");
	CHECK(send(fd, buf, strlen(buf), MSG_NOSIGNAL) > 0);
	CHECK_INT(tf_fp_wait_held(p, 1, 5000), 0);
	tf_fp_stats_get(p, &st);
	CHECK_INT(st.held_complete, 1);
	CHECK_INT(st.held_status, 200);
	CHECK(st.held_bytes > 300);
	pf.fd = fd;
	pf.events = POLLIN;
	CHECK_INT(poll(&pf, 1, 100), 0);
	tf_fp_release(p);
	CHECK_INT(poll(&pf, 1, 5000), 1);
	close(fd);
	/* A client that dies while its reply is held: the proxy lets go. */
	fd = dial(port);
	CHECK(send(fd, buf, strlen(buf), MSG_NOSIGNAL) > 0);
	CHECK_INT(tf_fp_wait_held(p, 0, 5000), 0);
	close_reset_fd(fd);
	for (i = 0; i < 400; i++) {
		tf_fp_stats_get(p, &st);
		if (st.open == 0)
			break;
		tf_h_sleep_ms(5);
	}
	CHECK_INT(st.open, 0);
	CHECK_INT(st.held_bytes, 0);
	/* Stop with a connection open. */
	fd = dial(port);
	CHECK(fd >= 0);
out:
	tf_fp_stop(p);
	if (fd >= 0)
		close(fd);
	stub_stop(&s);
}

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
	a.where = "test_client_faults";
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

/* -------------------------------------------------------- the CLI's faults */

static tf_h_server H;
static int ready;
static uint64_t rnd_state = 0xfa017a12;
static tf_fault_proxy *P;
static cli_dev alv = {"alvarez", "mdt-2a12", "2A12", "", "", 0, 0, "583920",
		      NULL};
static tf_h_session s_dana, s_sup, s_svc;
static tf_replica *r_dana, *r_svc;
static char u12[TF_UUID_LEN + 1], inc[TF_UUID_LEN + 1];
static char thr[TF_UUID_LEN + 1];
/* Records the client created, each checked to exist exactly once. */
static char created[16][TF_UUID_LEN + 1];
static size_t ncreated;

/* A mutation on a harness replica (Dana's, the bridge's) at time now. */
static int mut(tf_replica *r, int64_t now, const char *entity,
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
	    tf_json_parse(args, strlen(args), NULL, &a, NULL) != 0)
		return TF_EINVAL;
	tf_err_clear(&err);
	rc = tf_replica_mutate(r, now, rnd, 1, entity, rid, o, a, NULL,
			       rid_out, &err);
	if (rc)
		fprintf(stderr, "mut %s %s: %s\n", op, entity, err.msg);
	tf_json_free(a);
	return rc;
}

static int sync_r(const tf_h_session *s, tf_replica *r)
{
	tf_err err;
	int rc;

	tf_err_clear(&err);
	rc = tf_h_sync(&H, s, r, tf_h_now_ms(), &err);
	if (rc)
		fprintf(stderr, "sync %s: %s\n", s->device, err.msg);
	return rc;
}

/* The CLI's home opened in this process and unlocked (NULL on error). */
static tf_client *lib_open(void)
{
	tf_client_opts o;
	tf_client *c = NULL;
	tf_err err;

	memset(&o, 0, sizeof o);
	o.home = alv.home;
	o.server_url = alv.url;
	tf_err_clear(&err);
	if (tf_client_open(&o, &c, &err) != 0 ||
	    tf_client_unlock(c, alv.pin, strlen(alv.pin), &err) != 0) {
		fprintf(stderr, "client %s: %s\n", alv.home, err.msg);
		tf_client_close(c);
		return NULL;
	}
	return c;
}

/*
 * Queues, offline, a new unit log (activity_log, id to alog) and n
 * entries "<tag>-<i>" in it, plus a status change of 2A12 every 64
 * entries (the client pushes batches of 256).  0 or the first failure.
 */
static int queue(const char *tag, size_t n, char alog[TF_UUID_LEN + 1])
{
	char args[256], cmd[TF_UUID_LEN + 1];
	tf_client *c = lib_open();
	tf_err err;
	size_t i;
	int rc;

	if (c == NULL)
		return TF_EIO;
	tf_err_clear(&err);
	snprintf(args, sizeof args,
		 "{\"fields\":{\"unit_id\":\"2A12\",\"incident_name\":\"%s\"}}",
		 tag);
	rc = tf_client_mutate(c, "activity_log", NULL, "create", args, 0, cmd,
			      alog, &err);
	for (i = 0; rc == 0 && i < n; i++) {
		snprintf(args, sizeof args,
			 "{\"field\":\"entries\",\"body\":{\"text\":\"%s-%zu\"}}",
			 tag, i);
		rc = tf_client_mutate(c, "activity_log", alog, "append", args,
				      0, cmd, NULL, &err);
		if (rc == 0 && i % 64 == 63)
			rc = tf_client_mutate(
				c, "unit", u12, "set",
				i % 128 == 63
					? "{\"fields\":{\"status\":\"busy\"}}"
					: "{\"fields\":{\"status\":"
					  "\"available\"}}",
				0, cmd, NULL, &err);
	}
	if (rc)
		fprintf(stderr, "queue %s: %s\n", tag, err.msg);
	else if (ncreated < sizeof created / sizeof created[0])
		memcpy(created[ncreated++], alog, TF_UUID_LEN + 1);
	tf_client_close(c);
	return rc;
}

/* `tenfour sync` until it exits 0 (at most 6 runs); the last status. */
static int sync_until_ok(void)
{
	int code = -1, round;

	for (round = 0; round < 6 && code != 0; round++)
		code = cli_run(&alv, 0, NULL, NULL, round < 5 ? -1 : 0,
			       ARGS("sync"));
	return code;
}

/* The server's records through the supervisor (everything the officer
   may see: the agency's units and BOLOs, his incident, thread, logs).
   After a restart the session may need a new login. */
static tf_json *server_records(void)
{
	tf_json *recs = NULL;
	tf_h_resp r;

	tf_h_resp_init(&r);
	if (tf_h_pull_all(&H, &s_sup, NULL, &recs, NULL, NULL, NULL, &r) != 0 &&
	    r.status == 401 &&
	    tf_h_login(&H, "ortiz", "console-sup", &s_sup) == 0)
		(void)tf_h_pull_all(&H, &s_sup, NULL, &recs, NULL, NULL, NULL,
				    &r);
	if (recs == NULL)
		fprintf(stderr, "pull_all: HTTP %ld %.300s\n", r.status,
			tf_buf_cstr(&r.body));
	tf_h_resp_free(&r);
	return recs;
}

static void canon(const tf_json *v, tf_buf *out)
{
	tf_buf_reset(out);
	if (v)
		tf_json_write(v, out);
	tf_buf_cstr(out);
}

/*
 * After a fault and the recovery: n entries "<tag>-<i>" on the server's
 * unit log `alog`, each once; every record the client created once; the
 * client's queue empty and acknowledged to its last seq; the client's
 * records byte-identical to the server's, and the same set of ids.
 */
static void verify(const char *tag, size_t n, const char *alog)
{
	tf_json *recs = server_records(), *list = NULL, *view = NULL;
	const tf_json *log, *e;
	tf_client_status st;
	tf_client *c = NULL;
	tf_buf a, b, out;
	tf_err err;
	char want[96];
	size_t i, k, dup = 0, missing = 0, differ = 0, seen;

	tf_buf_init(&a);
	tf_buf_init(&b);
	tf_buf_init(&out);
	tf_err_clear(&err);
	CHECK(recs != NULL);
	if (recs == NULL)
		goto out;
	/* Every entry of the case exactly once. */
	log = tf_h_get(tf_h_find_record(recs, alog), "f", "entries", END);
	e = tf_h_get(log, "e", END);
	CHECK_INT(e ? e->len : 0, n);
	for (i = 0; i < n; i++) {
		snprintf(want, sizeof want, "%s-%zu", tag, i);
		seen = 0;
		for (k = 0; e && k < e->len; k++)
			seen += strcmp(tf_h_str(e->u.items[k], "v", "text",
						END),
				       want) == 0;
		missing += seen == 0;
		dup += seen > 1;
	}
	CHECK_INT(missing, 0);
	CHECK_INT(dup, 0);
	/* Every created record once (ids are unique in a pull). */
	for (i = 0; i < ncreated; i++)
		CHECK(tf_h_find_record(recs, created[i]) != NULL);

	/* The client: nothing pending, acknowledged to its last seq. */
	c = lib_open();
	CHECK(c != NULL);
	if (c == NULL)
		goto out;
	memset(&st, 0, sizeof st);
	CHECK_INT(tf_client_status_get(c, &st), 0);
	CHECK_INT(st.sum.pending, 0);
	CHECK_INT(st.sum.conflicts, 0);
	CHECK_INT(st.sum.rejected, 0);
	CHECK_INT(st.sum.ack + 1, st.sum.next_seq);
	/* Byte-identical replicas. */
	CHECK_INT(tf_client_list(c, NULL, &out, &err), 0);
	CHECK_INT(tf_json_parse(out.data, out.len, NULL, &list, NULL), 0);
	CHECK_INT(list ? list->len : 0, recs->len);
	for (i = 0; list && i < list->len; i++) {
		const char *id = tf_h_str(list->u.items[i], "id", END);
		const tf_json *srv = tf_h_find_record(recs, id);
		/* Every record by id; the states of all but the bulk BOLOs,
		   and of every 40th of those (each read is an audited
		   access: a store write). */
		CHECK(srv != NULL);
		if (strcmp(tf_h_str(list->u.items[i], "entity", END),
			   "bolo") == 0 &&
		    i % 40 != 0)
			continue;
		tf_buf_reset(&out);
		if (tf_client_get(c, id, &out, &err) != 0 ||
		    tf_json_parse(out.data, out.len, NULL, &view, NULL) != 0) {
			differ++;
			continue;
		}
		canon(tf_h_get(view, "record", END), &a);
		canon(srv, &b);
		if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) {
			if (differ++ == 0)
				fprintf(stderr,
					"record %s differs:\nclient %.700s\n"
					"server %.700s\n",
					id, a.data, b.data);
		}
		tf_json_free(view);
		view = NULL;
	}
	CHECK_INT(differ, 0);
	tf_client_close(c);
	c = NULL;
	/* And the CLI shows the case's log as the server has it. */
	CHECK_INT(cli_run(&alv, 0, NULL, &view, 0, ARGS("get", alog)), 0);
	canon(tf_h_get(view, "record", END), &a);
	canon(tf_h_find_record(recs, alog), &b);
	CHECK(a.len > 0 && a.len == b.len &&
	      memcmp(a.data, b.data, a.len) == 0);
	CHECK_STR(tf_h_str(view, "sync", END), "synced");
out:
	tf_client_close(c);
	tf_json_free(view);
	tf_json_free(list);
	tf_json_free(recs);
	tf_buf_free(&a);
	tf_buf_free(&b);
	tf_buf_free(&out);
}

static int cli_setup(const char *argv0)
{
	static const struct {
		const char *user, *roles, *unit, *device;
	} people[] = {
		{"dana", "dispatcher", NULL, "console-3"},
		{"alvarez", "officer", "2A12", NULL},
		{"ortiz", "supervisor", NULL, "console-sup"},
		{"bridge", "service", NULL, "cad-bridge"},
	};
	tf_h_session *sess[] = {&s_dana, NULL, &s_sup, &s_svc};
	char pub[64], args[512];
	int64_t now;
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
	if (tf_fp_start(0, &P, &err) != 0)
		goto fail;
	tf_fp_url(P, alv.url, sizeof alv.url);
	if (cli_enroll(&alv, pub) != 0 || admin_enroll(&H, alv.device, pub))
		return -1;
	tf_h_seed_done(&H);
	if (tf_h_start(&H, &err) != 0)
		goto fail;
	tf_fp_set_upstream(P, H.port);
	for (i = 0; i < sizeof people / sizeof people[0]; i++) {
		if (sess[i] && tf_h_login(&H, people[i].user, people[i].device,
					  sess[i]) != 0)
			return -1;
	}
	if (tf_replica_new(H.schema, "console-3", "dana", 0, &r_dana) ||
	    tf_replica_new(H.schema, "cad-bridge", "bridge", 0, &r_svc))
		return -1;
	tf_replica_set_allow_ref(r_svc, 1);
	/* 2A12's unit (named by the CAD bridge), an incident it is
	   assigned to and a thread it is in. */
	now = tf_h_now_ms();
	if (mut(r_dana, now, "unit", NULL, "create",
		"{\"fields\":{\"status\":\"available\",\"crew\":"
		"[\"alvarez\"]}}",
		u12) ||
	    mut(r_dana, now, "incident", NULL, "create",
		"{\"fields\":{\"type_code\":\"disturbance\",\"priority\":2,"
		"\"status\":\"dispatched\",\"assigned_units\":[\"2A12\"]}}",
		inc) ||
	    mut(r_dana, now, "thread", NULL, "create",
		"{\"fields\":{\"subject\":\"faults\",\"participants\":"
		"[\"alvarez\",\"dana\"]}}",
		thr) ||
	    sync_r(&s_dana, r_dana) || sync_r(&s_svc, r_svc))
		return -1;
	snprintf(args, sizeof args,
		 "{\"fields\":{\"callsign\":{\"v\":\"2A12\",\"fetched_at\":"
		 "%lld,\"ttl\":86400000}}}",
		 (long long)now);
	if (mut(r_svc, now, "unit", u12, "ref_set", args, NULL) ||
	    sync_r(&s_svc, r_svc))
		return -1;
	if (cli_login(&H, &alv, 0) != 0 ||
	    cli_run(&alv, 0, NULL, NULL, 0, ARGS("sync")) != 0)
		return -1;
	return 0;
fail:
	fprintf(stderr, "setup: %s\n", err.msg);
	return -1;
}

/* Sets a fault on requests whose path begins with prefix. */
static int fault(tf_fp_mode mode, int64_t arg, const char *prefix,
		 uint32_t skip)
{
	tf_fp_fault f;

	memset(&f, 0, sizeof f);
	f.mode = mode;
	f.arg = arg;
	f.path_prefix = prefix;
	f.skip = skip;
	return tf_fp_set(P, &f);
}

/* Dropped pushes: the sync fails as unreachable, nothing is lost. */
TEST(drop_push)
{
	char alog[TF_UUID_LEN + 1];
	tf_fp_stats st;

	if (!ready) {
		CHECK(ready);
		return;
	}
	CHECK_INT(queue("drop", 60, alog), 0);
	CHECK_INT(fault(TF_FP_DROP, 0, "/v1/sync/push", 0), 0);
	CHECK_INT(cli_run(&alv, 0, NULL, NULL, 5, ARGS("sync")), 5);
	tf_fp_stats_get(P, &st);
	CHECK(st.dropped >= 1);
	CHECK_INT(tf_fp_set(P, NULL), 0);
	CHECK_INT(sync_until_ok(), 0);
	verify("drop", 60, alog);
}

/* Every chunk both ways 150 ms late: slow, complete. */
TEST(delay_all)
{
	char alog[TF_UUID_LEN + 1];

	if (!ready) {
		CHECK(ready);
		return;
	}
	CHECK_INT(queue("delay", 100, alog), 0);
	CHECK_INT(tf_fp_set_mode(P, TF_FP_DELAY, 150), 0);
	CHECK_INT(cli_run(&alv, 0, NULL, NULL, 0, ARGS("sync")), 0);
	CHECK_INT(tf_fp_set(P, NULL), 0);
	CHECK_INT(sync_until_ok(), 0);
	verify("delay", 100, alog);
}

/* Waits (bounded) until the replays' replies are in: one per push the
   fault acted on since it was set (before: dup_replies then). */
static void wait_dups(uint64_t before)
{
	tf_fp_stats st;
	int i;

	for (i = 0; i < 1000; i++) {
		tf_fp_stats_get(P, &st);
		if (st.dup_replies - before >= st.faulted)
			break;
		tf_h_sleep_ms(10);
	}
	CHECK(st.faulted >= 1);
	CHECK_INT(st.dup_replies - before, st.faulted);
	CHECK_INT(st.dup_last_status, 200);
}

/* Every push reaches the server twice: at once beside the original, and
   later (after the client moved on to its next batch). */
TEST(duplicate_push)
{
	char alog[TF_UUID_LEN + 1], alog2[TF_UUID_LEN + 1];
	tf_fp_stats st;

	if (!ready) {
		CHECK(ready);
		return;
	}
	CHECK_INT(queue("dup", 120, alog), 0);
	CHECK_INT(fault(TF_FP_DUP, 0, "/v1/sync/push", 0), 0);
	tf_fp_stats_get(P, &st);
	CHECK_INT(cli_run(&alv, 0, NULL, NULL, 0, ARGS("sync")), 0);
	wait_dups(st.dup_replies);
	verify("dup", 120, alog);
	CHECK_INT(queue("dup-late", 120, alog2), 0);
	CHECK_INT(fault(TF_FP_DUP, 400, "/v1/sync/push", 0), 0);
	tf_fp_stats_get(P, &st);
	CHECK_INT(cli_run(&alv, 0, NULL, NULL, 0, ARGS("sync")), 0);
	wait_dups(st.dup_replies);
	CHECK_INT(tf_fp_set(P, NULL), 0);
	CHECK_INT(sync_until_ok(), 0);
	verify("dup-late", 120, alog2);
}

/* A push reply cut after 60 bytes (inside its head), then a pull page
   cut after 3000 bytes (inside its body). */
TEST(cut_mid_response)
{
	char alog[TF_UUID_LEN + 1], args[256];
	tf_fp_stats st;
	int64_t now;
	int i;

	if (!ready) {
		CHECK(ready);
		return;
	}
	CHECK_INT(queue("cut", 60, alog), 0);
	CHECK_INT(fault(TF_FP_CUT, 60, "/v1/sync/push", 0), 0);
	CHECK_INT(cli_run(&alv, 0, NULL, NULL, 5, ARGS("sync")), 5);
	tf_fp_stats_get(P, &st);
	CHECK(st.cut >= 1);
	CHECK_INT(tf_fp_set(P, NULL), 0);
	CHECK_INT(sync_until_ok(), 0);
	verify("cut", 60, alog);

	/* Dana's notes make the next pull page large. */
	now = tf_h_now_ms();
	CHECK_INT(sync_r(&s_dana, r_dana), 0);
	for (i = 0; i < 60; i++) {
		snprintf(args, sizeof args,
			 "{\"field\":\"notes\",\"body\":{\"text\":\"note %d: "
			 "caller still on the line, describing the scene\"}}",
			 i);
		CHECK_INT(mut(r_dana, now, "incident", inc, "append", args,
			      NULL),
			  0);
	}
	CHECK_INT(sync_r(&s_dana, r_dana), 0);
	CHECK_INT(queue("cut-pull", 20, alog), 0);
	CHECK_INT(fault(TF_FP_CUT, 3000, "/v1/sync/pull", 0), 0);
	CHECK_INT(cli_run(&alv, 0, NULL, NULL, 5, ARGS("sync")), 5);
	tf_fp_stats_get(P, &st);
	CHECK(st.cut >= 1);
	CHECK_INT(tf_fp_set(P, NULL), 0);
	CHECK_INT(sync_until_ok(), 0);
	verify("cut-pull", 20, alog);
}

/*
 * Spawns `tenfour sync`, waits until the proxy holds the whole reply
 * the fault aims at (the server has answered), then kill -9s the CLI.
 */
static void kill_cli_while_held(void)
{
	tf_fp_stats st;
	pid_t pid;

	pid = cli_spawn(&alv, 0, NULL, ARGS("sync"));
	CHECK(pid > 0);
	CHECK_INT(tf_fp_wait_held(P, 1, 60000), 0);
	kill(pid, SIGKILL);
	CHECK_INT(cli_wait(pid), 128 + SIGKILL);
	tf_fp_stats_get(P, &st);
	CHECK_INT(st.held_complete, 1);
	CHECK_INT(st.held_status, 200);
}

/* kill -9 of the CLI while the server's reply to its second push batch
   (committed on the server) is held in the proxy. */
TEST(kill_client_mid_push)
{
	char alog[TF_UUID_LEN + 1];

	if (!ready) {
		CHECK(ready);
		return;
	}
	CHECK_INT(queue("kill-push", 300, alog), 0);
	CHECK_INT(fault(TF_FP_HOLD, 0, "/v1/sync/push", 1), 0);
	kill_cli_while_held();
	CHECK_INT(tf_fp_set(P, NULL), 0);
	CHECK_INT(sync_until_ok(), 0);
	verify("kill-push", 300, alog);
}

/* kill -9 of tenfourd while the reply to the second push batch is held:
   that reply is lost, the restarted server has the batch, the client
   sends it again. */
TEST(kill_server_mid_sync)
{
	char alog[TF_UUID_LEN + 1];
	tf_err err;
	pid_t pid;

	if (!ready) {
		CHECK(ready);
		return;
	}
	CHECK_INT(queue("kill-server", 300, alog), 0);
	CHECK_INT(fault(TF_FP_HOLD, 0, "/v1/sync/push", 1), 0);
	pid = cli_spawn(&alv, 0, NULL, ARGS("sync"));
	CHECK(pid > 0);
	CHECK_INT(tf_fp_wait_held(P, 1, 60000), 0);
	CHECK_INT(tf_h_kill(&H), 0);
	/* The link drops with the server: the held reply never arrives. */
	CHECK_INT(tf_fp_set_mode(P, TF_FP_DOWN, 0), 0);
	CHECK_INT(cli_wait(pid), 5);
	tf_err_clear(&err);
	CHECK_INT(tf_h_start(&H, &err), 0);
	tf_fp_set_upstream(P, H.port);
	CHECK_INT(tf_fp_set(P, NULL), 0);
	CHECK_INT(sync_until_ok(), 0);
	verify("kill-server", 300, alog);
}

/* A big pull (2,100 BOLOs: three pages of 1,000): kill -9 of the CLI while the
   second page is held, after the first was committed. */
TEST(kill_client_mid_pull)
{
	char alog[TF_UUID_LEN + 1], args[256];
	int64_t now = tf_h_now_ms();
	int i;

	if (!ready) {
		CHECK(ready);
		return;
	}
	for (i = 0; i < 2100; i++) {
		snprintf(args, sizeof args,
			 "{\"fields\":{\"kind\":\"vehicle\",\"status\":"
			 "\"active\",\"descriptors\":{\"plate\":\"F%05d\"}}}",
			 i);
		CHECK_INT(mut(r_dana, now, "bolo", NULL, "create", args, NULL),
			  0);
	}
	CHECK_INT(sync_r(&s_dana, r_dana), 0);
	CHECK_INT(queue("kill-pull", 20, alog), 0);
	CHECK_INT(fault(TF_FP_HOLD, 0, "/v1/sync/pull", 1), 0);
	kill_cli_while_held();
	CHECK_INT(tf_fp_set(P, NULL), 0);
	CHECK_INT(sync_until_ok(), 0);
	verify("kill-pull", 20, alog);
}
/* RUN, with the seconds each case took on stderr under TF_TEST_TIMES. */
#define TIMED(name)                                                            \
	do {                                                                   \
		int64_t t_ = tf_h_now_ms();                                    \
		RUN(name);                                                     \
		if (getenv("TF_TEST_TIMES"))                                   \
			fprintf(stderr, "%s: %.1f s\n", #name,                 \
				(double)(tf_h_now_ms() - t_) / 1000);          \
	} while (0)

int main(int argc, char **argv)
{
	(void)argc;
	signal(SIGPIPE, SIG_IGN);
	int any_failed = 0;

	RUN(proxy_pass_down_drop);
	RUN(proxy_delay_dup_cut_hold);
	ready = cli_setup(argv[0]) == 0;
	if (!ready)
		tf_h_log_tail(&H, 4000);
	TIMED(drop_push);
	any_failed |= tf_test_failed_checks;
	TIMED(delay_all);
	any_failed |= tf_test_failed_checks;
	TIMED(duplicate_push);
	any_failed |= tf_test_failed_checks;
	TIMED(cut_mid_response);
	any_failed |= tf_test_failed_checks;
	TIMED(kill_client_mid_push);
	any_failed |= tf_test_failed_checks;
	TIMED(kill_server_mid_sync);
	any_failed |= tf_test_failed_checks;
	TIMED(kill_client_mid_pull);
	any_failed |= tf_test_failed_checks;
	if (any_failed)
		tf_h_log_tail(&H, 4000);
	tf_replica_free(r_dana);
	tf_replica_free(r_svc);
	tf_fp_stop(P);
	tf_h_destroy(&H);
	cli_cleanup(&alv);
	return tf_test_finish(argv[0]);
}

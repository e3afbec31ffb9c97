/*
 * test_client_faults.c - the native client under network and process
 * faults.  First the fault proxy itself (tests/support/fault_proxy.c)
 * against a small HTTP stub: each mode does what its contract says.
 */
#define _DEFAULT_SOURCE

#include "fault_proxy.h"
#include "srv_harness.h"
#include "tf_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

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

int main(int argc, char **argv)
{
	(void)argc;
	signal(SIGPIPE, SIG_IGN);
	RUN(proxy_pass_down_drop);
	RUN(proxy_delay_dup_cut_hold);
	return tf_test_finish(argv[0]);
}

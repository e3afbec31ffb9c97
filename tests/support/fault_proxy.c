/*
 * fault_proxy.c - the loopback fault proxy of the client suites: one
 * poll() thread, per connection two bounded chunk queues (client to
 * server, server to client) and the few HTTP facts the faults need.
 * Contract: fault_proxy.h.
 *
 * Locking: the thread polls without the lock, then takes it for one pass
 * over every socket (non-blocking I/O only), so the control functions
 * see consistent counters and their settings apply between passes.
 */
#define _GNU_SOURCE /* accept4, pipe2 */

#include "fault_proxy.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FP_MAX_CONNS 64
#define FP_MAX_SINKS 16
#define FP_HEAD_MAX ((size_t)64 * 1024)      /* an HTTP head, either way */
#define FP_QUEUE_MAX ((size_t)16 * 1024 * 1024) /* pending, per direction */
#define FP_DUP_MAX ((size_t)32 * 1024 * 1024)   /* a request kept to replay */
#define FP_READ_CHUNK ((size_t)64 * 1024)
#define FP_POLL_MS 50
#define FP_SINK_MS 10000 /* a replay's reply must come within this */
#define FP_APPLY_WAIT_MS 2000

enum { FP_HEAD = 0, FP_BODY, FP_OPAQUE };

/* A chunk of bytes to forward no earlier than `due`. */
typedef struct fp_chunk {
	struct fp_chunk *next;
	int64_t due;
	size_t len, off;
	char data[];
} fp_chunk;

typedef struct fp_queue {
	fp_chunk *head, *tail;
	size_t bytes; /* not yet written */
} fp_queue;

/* Where an HTTP message stream is: in a head, in a body, or given up. */
typedef struct fp_parser {
	int state;
	tf_buf head;
	uint64_t left; /* body bytes still to come */
	int status;    /* responses: status of the last head */
} fp_parser;

typedef struct fp_conn {
	int used;
	int cfd, ufd;
	int connecting; /* ufd's connect still in progress */
	int c_eof, u_eof;
	fp_queue c2u, u2c;
	fp_parser rq, rs;
	/* The fault acting on the current exchange (set at its request
	   head) and its state. */
	tf_fp_mode fault;
	int64_t arg;
	int holding;
	int64_t cut_left; /* reply bytes still forwarded; -1: no cut */
	int reply_seen;
	tf_buf dup; /* the request's bytes while it is replayed */
	int dup_on;
} fp_conn;

/* A replay: the request's bytes to the server, its reply discarded. */
typedef struct fp_sink {
	int used;
	int fd;
	int connecting;
	int sent_counted;
	fp_queue out;
	fp_parser rs;
	int64_t deadline;
} fp_sink;

struct tf_fault_proxy {
	pthread_t thr;
	int started;
	pthread_mutex_t mu;
	int wake[2];
	int lfd;
	int port;
	int upstream;
	/* The fault; gen counts changes, applied the last one the thread
	   acted on. */
	tf_fp_mode mode;
	int64_t arg;
	char prefix[256];
	uint32_t skip, count;
	uint64_t gen, applied;
	tf_fp_mode applied_mode;
	int release;
	int stopping;
	tf_fp_stats st;
	fp_conn conns[FP_MAX_CONNS];
	fp_sink sinks[FP_MAX_SINKS];
};

static int64_t fp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fp_sleep_ms(int64_t ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL, 0);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Closes with a reset (SO_LINGER 0), as a dying link or process would. */
static void close_reset(int fd)
{
	struct linger lg;

	if (fd < 0)
		return;
	lg.l_onoff = 1;
	lg.l_linger = 0;
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd);
}

/* ---------------------------------------------------------------- queue */

static int q_push(fp_queue *q, const char *p, size_t n, int64_t due)
{
	fp_chunk *c;

	if (n == 0)
		return 0;
	c = malloc(sizeof *c + n);
	if (c == NULL)
		return TF_ENOMEM;
	c->next = NULL;
	c->due = due;
	c->len = n;
	c->off = 0;
	memcpy(c->data, p, n);
	if (q->tail)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
	q->bytes += n;
	return 0;
}

static void q_clear(fp_queue *q)
{
	fp_chunk *c, *next;

	for (c = q->head; c; c = next) {
		next = c->next;
		free(c);
	}
	memset(q, 0, sizeof *q);
}

/* 1 when the first chunk is due at now; *due gets its time (or -1). */
static int q_ready(const fp_queue *q, int64_t now, int64_t *due)
{
	*due = q->head ? q->head->due : -1;
	return q->head != NULL && q->head->due <= now;
}

/*
 * Writes the due chunks to fd (non-blocking); *wrote gets the bytes.
 * 0, or -1 when the socket failed (the peer went away).
 */
static int q_write(fp_queue *q, int fd, int64_t now, size_t *wrote)
{
	fp_chunk *c;
	ssize_t w;
	int guard;

	*wrote = 0;
	for (guard = 0; guard < 1024 && (c = q->head) && c->due <= now;
	     guard++) {
		w = send(fd, c->data + c->off, c->len - c->off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				return 0;
			return -1;
		}
		c->off += (size_t)w;
		q->bytes -= (size_t)w;
		*wrote += (size_t)w;
		if (c->off < c->len)
			return 0;
		q->head = c->next;
		if (q->head == NULL)
			q->tail = NULL;
		free(c);
	}
	return 0;
}

/* --------------------------------------------------------------- parser */

static void parser_init(fp_parser *ps)
{
	memset(ps, 0, sizeof *ps);
	tf_buf_init(&ps->head);
}

/* The facts of one HTTP head. */
typedef struct fp_head {
	char method[16];
	char path[512];
	int status; /* responses */
	int has_len, chunked;
	uint64_t len;
} fp_head;

/* Parses the head in h[0..n) (ending in CRLF CRLF); 0 or -1 when bad. */
static int parse_head(const char *h, size_t n, int response, fp_head *out)
{
	const char *p = h, *end = h + n, *eol, *colon, *v;
	size_t sp;
	int first = 1, guard;

	memset(out, 0, sizeof *out);
	for (guard = 0; guard < 512 && p < end; guard++) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			break;
		if (first) {
			first = 0;
			sp = strcspn(p, " ");
			if (p + sp >= eol)
				return -1;
			if (response) {
				out->status = atoi(p + sp + 1);
			} else {
				snprintf(out->method, sizeof out->method,
					 "%.*s", (int)sp, p);
				v = p + sp + 1;
				snprintf(out->path, sizeof out->path, "%.*s",
					 (int)strcspn(v, " \r\n"), v);
			}
		} else {
			colon = memchr(p, ':', (size_t)(eol - p));
			if (colon) {
				for (v = colon + 1; v < eol && *v == ' '; v++)
					;
				if ((size_t)(colon - p) == 14 &&
				    strncasecmp(p, "content-length", 14) == 0) {
					out->has_len = 1;
					out->len = strtoull(v, NULL, 10);
				} else if ((size_t)(colon - p) == 17 &&
					   strncasecmp(p, "transfer-encoding",
						       17) == 0) {
					out->chunked = 1;
				}
			}
		}
		p = eol + 1;
	}
	return first ? -1 : 0;
}

/* Index just past CRLF CRLF in b (searched from `from`), or 0. */
static size_t head_end(const tf_buf *b, size_t from)
{
	size_t i;

	for (i = from > 3 ? from - 3 : 0; i + 4 <= b->len; i++) {
		if (memcmp(b->data + i, "\r\n\r\n", 4) == 0)
			return i + 4;
	}
	return 0;
}

/* ----------------------------------------------------------- connections */

static void conn_free(tf_fault_proxy *p, fp_conn *c, int reset)
{
	if (!c->used)
		return;
	if (reset) {
		close_reset(c->cfd);
		close_reset(c->ufd);
	} else {
		if (c->cfd >= 0)
			close(c->cfd);
		if (c->ufd >= 0)
			close(c->ufd);
	}
	q_clear(&c->c2u);
	q_clear(&c->u2c);
	tf_buf_free(&c->rq.head);
	tf_buf_free(&c->rs.head);
	tf_buf_free(&c->dup);
	memset(c, 0, sizeof *c);
	c->cfd = c->ufd = -1;
	if (p->st.open > 0)
		p->st.open--;
}

static void sink_free(fp_sink *s)
{
	if (!s->used)
		return;
	if (s->fd >= 0)
		close(s->fd);
	q_clear(&s->out);
	tf_buf_free(&s->rs.head);
	memset(s, 0, sizeof *s);
	s->fd = -1;
}

/* A non-blocking connect to the server; -1 when it failed at once. */
static int connect_upstream(int port, int *connecting)
{
	struct sockaddr_in a;
	int fd, one = 1;

	*connecting = 0;
	if (port <= 0)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (set_nonblock(fd) != 0) {
		close(fd);
		return -1;
	}
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		if (errno != EINPROGRESS) {
			close(fd);
			return -1;
		}
		*connecting = 1;
	}
	return fd;
}

/* 0 when a finished non-blocking connect succeeded. */
static int connect_result(int fd)
{
	int e = 0;
	socklen_t len = sizeof e;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
		return -1;
	return e == 0 ? 0 : -1;
}

static void start_sink(tf_fault_proxy *p, const char *data, size_t len,
		       int64_t due)
{
	fp_sink *s = NULL;
	size_t i;

	for (i = 0; i < FP_MAX_SINKS; i++) {
		if (!p->sinks[i].used) {
			s = &p->sinks[i];
			break;
		}
	}
	if (s == NULL)
		return;
	memset(s, 0, sizeof *s);
	parser_init(&s->rs);
	s->fd = connect_upstream(p->upstream, &s->connecting);
	if (s->fd < 0)
		return;
	s->used = 1;
	s->deadline = fp_now_ms() + FP_SINK_MS;
	if (q_push(&s->out, data, len, due) != 0)
		sink_free(s);
}

/* 1 when a request with this path is one the fault applies to; counts. */
static int fault_applies(tf_fault_proxy *p, const char *path)
{
	size_t n = strlen(p->prefix);

	if (n && strncmp(path, p->prefix, n) != 0)
		return 0;
	p->st.matched++;
	if (p->mode == TF_FP_PASS || p->mode == TF_FP_DOWN)
		return 0;
	if (p->st.matched <= p->skip)
		return 0;
	if (p->count && p->st.faulted >= p->count)
		return 0;
	p->st.faulted++;
	return 1;
}

/*
 * Client bytes: request heads are kept until complete (so a dropped
 * request never reaches the server), then queued toward the server with
 * the body.  Returns -1 when the connection is to be reset (dropped).
 */
static int feed_request(tf_fault_proxy *p, fp_conn *c, const char *d,
			size_t n, int64_t now)
{
	fp_parser *ps = &c->rq;
	fp_head h;
	size_t take, end, before;
	int guard;

	for (guard = 0; guard < 100000 && n > 0; guard++) {
		int64_t due = c->fault == TF_FP_DELAY ? now + c->arg : now;

		if (ps->state == FP_OPAQUE) {
			return q_push(&c->c2u, d, n, due) ? -1 : 0;
		}
		if (ps->state == FP_BODY) {
			take = n < ps->left ? n : (size_t)ps->left;
			if (q_push(&c->c2u, d, take, due))
				return -1;
			if (c->dup_on) {
				if (c->dup.len + take > FP_DUP_MAX)
					c->dup_on = 0;
				else
					tf_buf_append(&c->dup, d, take);
			}
			ps->left -= take;
			d += take;
			n -= take;
			if (ps->left == 0) {
				ps->state = FP_HEAD;
				if (c->dup_on && !c->dup.failed)
					start_sink(p, c->dup.data, c->dup.len,
						   now + c->arg);
				c->dup_on = 0;
			}
			continue;
		}
		/* In a head: gather it. */
		before = ps->head.len;
		take = n;
		if (tf_buf_append(&ps->head, d, take) != 0)
			return -1;
		end = head_end(&ps->head, before);
		if (end == 0) {
			if (ps->head.len > FP_HEAD_MAX) {
				/* Not HTTP as we know it: pass it on. */
				ps->state = FP_OPAQUE;
				if (q_push(&c->c2u, ps->head.data,
					   ps->head.len, due))
					return -1;
				tf_buf_reset(&ps->head);
			}
			return 0;
		}
		/* The head ends inside this chunk: the rest is re-fed. */
		take = end - before;
		d += take;
		n -= take;
		ps->head.len = end;
		p->st.requests++;
		if (parse_head(ps->head.data, end, 0, &h) != 0)
			h.path[0] = '\0';
		c->fault = fault_applies(p, h.path) ? p->mode : TF_FP_PASS;
		c->arg = p->arg;
		c->holding = c->fault == TF_FP_HOLD;
		c->cut_left = c->fault == TF_FP_CUT ? c->arg : -1;
		c->reply_seen = 0;
		if (c->fault == TF_FP_DROP) {
			p->st.dropped++;
			return -1;
		}
		due = c->fault == TF_FP_DELAY ? now + c->arg : now;
		if (q_push(&c->c2u, ps->head.data, end, due))
			return -1;
		c->dup_on = c->fault == TF_FP_DUP;
		tf_buf_reset(&c->dup);
		if (c->dup_on)
			tf_buf_append(&c->dup, ps->head.data, end);
		tf_buf_reset(&ps->head);
		if (h.chunked) {
			ps->state = FP_OPAQUE;
			c->dup_on = 0;
		} else if (h.has_len && h.len > 0) {
			ps->state = FP_BODY;
			ps->left = h.len;
		} else if (c->dup_on) {
			start_sink(p, c->dup.data, c->dup.len, now + c->arg);
			c->dup_on = 0;
		}
		/* The reply of this request starts now. */
		c->rs.state = c->rs.state == FP_OPAQUE ? FP_OPAQUE : FP_HEAD;
		tf_buf_reset(&c->rs.head);
	}
	return 0;
}

/*
 * Follows a reply stream in d[0..n) (already queued by the caller):
 * counts heads, notices a complete body.  *complete gets 1 when a reply
 * (not 1xx) ended in these bytes; status its code.
 */
static void track_response(fp_parser *ps, const char *d, size_t n,
			   int *complete, int *status, uint64_t *heads)
{
	fp_head h;
	size_t take, end, before;
	int guard;

	*complete = 0;
	for (guard = 0; guard < 100000 && n > 0; guard++) {
		if (ps->state == FP_OPAQUE)
			return;
		if (ps->state == FP_BODY) {
			take = n < ps->left ? n : (size_t)ps->left;
			ps->left -= take;
			d += take;
			n -= take;
			if (ps->left == 0) {
				ps->state = FP_HEAD;
				*complete = 1;
				*status = ps->status;
			}
			continue;
		}
		before = ps->head.len;
		if (tf_buf_append(&ps->head, d, n) != 0) {
			ps->state = FP_OPAQUE;
			return;
		}
		end = head_end(&ps->head, before);
		if (end == 0) {
			if (ps->head.len > FP_HEAD_MAX) {
				ps->state = FP_OPAQUE;
				tf_buf_reset(&ps->head);
			}
			return;
		}
		take = end - before;
		d += take;
		n -= take;
		if (parse_head(ps->head.data, end, 1, &h) != 0) {
			ps->state = FP_OPAQUE;
			return;
		}
		tf_buf_reset(&ps->head);
		if (h.status >= 100 && h.status < 200)
			continue;
		(*heads)++;
		ps->status = h.status;
		if (h.chunked || !h.has_len) {
			ps->state = FP_OPAQUE;
		} else if (h.len == 0) {
			*complete = 1;
			*status = h.status;
		} else {
			ps->state = FP_BODY;
			ps->left = h.len;
		}
	}
}

static void accept_one(tf_fault_proxy *p)
{
	fp_conn *c = NULL;
	int fd, one = 1;
	size_t i;

	/* Close-on-exec: a child process (the CLI under test) must not
	   keep a copy that outlives the proxy's close. */
	fd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	p->st.accepted++;
	for (i = 0; i < FP_MAX_CONNS; i++) {
		if (!p->conns[i].used) {
			c = &p->conns[i];
			break;
		}
	}
	if (c == NULL || set_nonblock(fd) != 0) {
		p->st.refused++;
		close_reset(fd);
		return;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	memset(c, 0, sizeof *c);
	parser_init(&c->rq);
	parser_init(&c->rs);
	tf_buf_init(&c->dup);
	c->cfd = fd;
	c->ufd = connect_upstream(p->upstream, &c->connecting);
	c->used = 1;
	c->cut_left = -1;
	p->st.open++;
	if (c->ufd < 0) {
		p->st.refused++;
		conn_free(p, c, 1);
	}
}

/* One pass over a connection after poll; closes it when it is over. */
static void conn_step(tf_fault_proxy *p, fp_conn *c, short cre, short ure,
		      int64_t now)
{
	char buf[FP_READ_CHUNK];
	size_t wrote, keep;
	ssize_t r;
	int complete = 0, status = 0;

	if (c->connecting && (ure & (POLLOUT | POLLERR | POLLHUP))) {
		if (connect_result(c->ufd) != 0) {
			p->st.refused++;
			conn_free(p, c, 1);
			return;
		}
		c->connecting = 0;
	}
	/* Client to server. */
	if ((cre & (POLLIN | POLLHUP | POLLERR)) && !c->c_eof &&
	    c->c2u.bytes < FP_QUEUE_MAX) {
		r = recv(c->cfd, buf, sizeof buf, 0);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
			c->c_eof = 1;
		} else if (r > 0 && feed_request(p, c, buf, (size_t)r, now)) {
			conn_free(p, c, 1);
			return;
		}
	}
	if (!c->connecting && c->c2u.bytes) {
		if (q_write(&c->c2u, c->ufd, now, &wrote) != 0) {
			conn_free(p, c, 1);
			return;
		}
		p->st.bytes_up += wrote;
	}
	if (c->c_eof && c->c2u.bytes == 0) {
		/* The client went away (or was killed): what it sent is
		   delivered, its reply has nobody to go to. */
		conn_free(p, c, 0);
		return;
	}
	/* Server to client. */
	if (!c->connecting && (ure & (POLLIN | POLLHUP | POLLERR)) &&
	    !c->u_eof && c->u2c.bytes < FP_QUEUE_MAX) {
		r = recv(c->ufd, buf, sizeof buf, 0);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
			c->u_eof = 1;
		} else if (r > 0) {
			int64_t due = c->fault == TF_FP_DELAY ? now + c->arg
							      : now;
			keep = (size_t)r;
			if (c->cut_left >= 0) {
				/* A cut reply: the first cut_left bytes go
				   on, the rest is lost with the link. */
				c->reply_seen = 1;
				if ((int64_t)keep > c->cut_left)
					keep = (size_t)c->cut_left;
				c->cut_left -= (int64_t)keep;
			}
			if (q_push(&c->u2c, buf, keep, due)) {
				conn_free(p, c, 1);
				return;
			}
			track_response(&c->rs, buf, (size_t)r, &complete,
				       &status, &p->st.responses);
			if (complete && c->holding) {
				p->st.held_complete++;
				p->st.held_status = status;
			}
		}
	}
	if (!c->holding && c->u2c.bytes) {
		if (q_write(&c->u2c, c->cfd, now, &wrote) != 0) {
			conn_free(p, c, 1);
			return;
		}
		p->st.bytes_down += wrote;
	}
	if (c->cut_left == 0 && c->reply_seen && c->u2c.bytes == 0) {
		p->st.cut++;
		conn_free(p, c, 1);
		return;
	}
	if (c->u_eof && c->u2c.bytes == 0)
		conn_free(p, c, 0);
}

static void sink_step(tf_fault_proxy *p, fp_sink *s, short re, int64_t now)
{
	char buf[FP_READ_CHUNK];
	size_t wrote;
	ssize_t r;
	int complete = 0, status = 0;
	uint64_t heads = 0;

	if (now > s->deadline) {
		sink_free(s);
		return;
	}
	if (s->connecting) {
		if (!(re & (POLLOUT | POLLERR | POLLHUP)))
			return;
		if (connect_result(s->fd) != 0) {
			sink_free(s);
			return;
		}
		s->connecting = 0;
	}
	if (s->out.bytes) {
		if (q_write(&s->out, s->fd, now, &wrote) != 0) {
			sink_free(s);
			return;
		}
	}
	if (s->out.bytes == 0 && !s->sent_counted) {
		s->sent_counted = 1;
		p->st.dup_sent++;
	}
	if (re & (POLLIN | POLLHUP | POLLERR)) {
		r = recv(s->fd, buf, sizeof buf, 0);
		if (r > 0)
			track_response(&s->rs, buf, (size_t)r, &complete,
				       &status, &heads);
		if (complete) {
			p->st.dup_replies++;
			p->st.dup_last_status = status;
		}
		if (complete || r == 0 ||
		    (r < 0 && errno != EAGAIN && errno != EINTR))
			sink_free(s);
	}
}

/* Opens the listener on p->port (0: a random one, then remembered). */
static int listen_on(tf_fault_proxy *p)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)p->port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    listen(fd, 64) != 0 || set_nonblock(fd) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		close(fd);
		return -1;
	}
	p->port = ntohs(a.sin_port);
	p->lfd = fd;
	return 0;
}

/* Acts on a changed fault: the link going down or coming back, held
   replies released.  Called with the lock held. */
static void apply_config(tf_fault_proxy *p)
{
	size_t i;

	if (p->release) {
		for (i = 0; i < FP_MAX_CONNS; i++)
			p->conns[i].holding = 0;
		p->release = 0;
	}
	if (p->applied == p->gen)
		return;
	if (p->mode == TF_FP_DOWN) {
		if (p->lfd >= 0) {
			close(p->lfd);
			p->lfd = -1;
		}
		for (i = 0; i < FP_MAX_CONNS; i++)
			conn_free(p, &p->conns[i], 1);
		for (i = 0; i < FP_MAX_SINKS; i++)
			sink_free(&p->sinks[i]);
	} else if (p->lfd < 0) {
		(void)listen_on(p);
	}
	p->applied_mode = p->mode;
	p->applied = p->gen;
}

static void *fp_thread(void *arg)
{
	tf_fault_proxy *p = arg;
	struct pollfd pf[2 + 2 * FP_MAX_CONNS + FP_MAX_SINKS];
	int cix[FP_MAX_CONNS][2], six[FP_MAX_SINKS];
	int64_t now, due, wait;
	size_t i, n;
	int lix;
	char drain[64];

	pthread_mutex_lock(&p->mu);
	while (!p->stopping) {
		apply_config(p);
		/* Build the poll set. */
		n = 0;
		now = fp_now_ms();
		wait = FP_POLL_MS;
		pf[n].fd = p->wake[0];
		pf[n++].events = POLLIN;
		lix = -1;
		if (p->lfd >= 0) {
			lix = (int)n;
			pf[n].fd = p->lfd;
			pf[n++].events = POLLIN;
		} else if (p->mode != TF_FP_DOWN) {
			/* Rebinding failed: try again soon. */
			(void)listen_on(p);
		}
		for (i = 0; i < FP_MAX_CONNS; i++) {
			fp_conn *c = &p->conns[i];
			cix[i][0] = cix[i][1] = -1;
			if (!c->used)
				continue;
			cix[i][0] = (int)n;
			/* A side that closed is no longer polled (its hangup
			   would wake the loop at once). */
			pf[n].fd = c->c_eof ? -1 : c->cfd;
			pf[n].events = (short)(c->c2u.bytes < FP_QUEUE_MAX
						       ? POLLIN
						       : 0);
			if (!c->holding && q_ready(&c->u2c, now, &due))
				pf[n].events |= POLLOUT;
			else if (!c->holding && due >= 0 && due - now < wait)
				wait = due - now;
			n++;
			cix[i][1] = (int)n;
			pf[n].fd = c->u_eof ? -1 : c->ufd;
			pf[n].events = (short)(c->connecting ? POLLOUT : 0);
			if (!c->connecting) {
				if (c->u2c.bytes < FP_QUEUE_MAX)
					pf[n].events |= POLLIN;
				if (q_ready(&c->c2u, now, &due))
					pf[n].events |= POLLOUT;
				else if (due >= 0 && due - now < wait)
					wait = due - now;
			}
			n++;
		}
		for (i = 0; i < FP_MAX_SINKS; i++) {
			fp_sink *s = &p->sinks[i];
			six[i] = -1;
			if (!s->used)
				continue;
			six[i] = (int)n;
			pf[n].fd = s->fd;
			pf[n].events = (short)(s->connecting ? POLLOUT : POLLIN);
			if (!s->connecting && q_ready(&s->out, now, &due))
				pf[n].events |= POLLOUT;
			else if (!s->connecting && due >= 0 &&
				 due - now < wait)
				wait = due - now;
			n++;
		}
		if (wait < 0)
			wait = 0;
		pthread_mutex_unlock(&p->mu);
		(void)poll(pf, (nfds_t)n, (int)wait);
		pthread_mutex_lock(&p->mu);
		if (pf[0].revents & POLLIN)
			while (read(p->wake[0], drain, sizeof drain) > 0)
				;
		if (p->stopping)
			break;
		now = fp_now_ms();
		if (lix >= 0 && p->lfd >= 0 && (pf[lix].revents & POLLIN)) {
			int k;
			for (k = 0; k < 16; k++) {
				uint64_t before = p->st.accepted;
				accept_one(p);
				if (p->st.accepted == before)
					break;
			}
		}
		/* A fault set meanwhile applies before any byte moves. */
		apply_config(p);
		for (i = 0; i < FP_MAX_CONNS; i++) {
			if (p->conns[i].used && cix[i][0] >= 0)
				conn_step(p, &p->conns[i],
					  pf[cix[i][0]].revents,
					  pf[cix[i][1]].revents, now);
		}
		for (i = 0; i < FP_MAX_SINKS; i++) {
			if (p->sinks[i].used && six[i] >= 0)
				sink_step(p, &p->sinks[i], pf[six[i]].revents,
					  now);
		}
		p->st.held_bytes = 0;
		for (i = 0; i < FP_MAX_CONNS; i++) {
			if (p->conns[i].used && p->conns[i].holding)
				p->st.held_bytes += p->conns[i].u2c.bytes;
		}
	}
	for (i = 0; i < FP_MAX_CONNS; i++)
		conn_free(p, &p->conns[i], 1);
	for (i = 0; i < FP_MAX_SINKS; i++)
		sink_free(&p->sinks[i]);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void wake(tf_fault_proxy *p)
{
	char b = 1;

	(void)!write(p->wake[1], &b, 1);
}

int tf_fp_start(int upstream_port, tf_fault_proxy **out, tf_err *err)
{
	tf_fault_proxy *p;
	size_t i;

	*out = NULL;
	p = calloc(1, sizeof *p);
	if (p == NULL)
		return tf_err_set(err, TF_ENOMEM, "proxy", "no memory");
	pthread_mutex_init(&p->mu, NULL);
	p->lfd = -1;
	p->wake[0] = p->wake[1] = -1;
	p->upstream = upstream_port;
	for (i = 0; i < FP_MAX_CONNS; i++)
		p->conns[i].cfd = p->conns[i].ufd = -1;
	for (i = 0; i < FP_MAX_SINKS; i++)
		p->sinks[i].fd = -1;
	if (pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		tf_err_set(err, TF_EIO, "proxy", "proxy: pipe: %s",
			   strerror(errno));
		goto fail;
	}
	if (listen_on(p) != 0) {
		tf_err_set(err, TF_EIO, "proxy",
			   "proxy: listen on 127.0.0.1: %s", strerror(errno));
		goto fail;
	}
	if (pthread_create(&p->thr, NULL, fp_thread, p) != 0) {
		tf_err_set(err, TF_EIO, "proxy", "proxy: pthread_create");
		goto fail;
	}
	p->started = 1;
	*out = p;
	return 0;
fail:
	tf_fp_stop(p);
	return err ? err->code : TF_EIO;
}

void tf_fp_stop(tf_fault_proxy *p)
{
	if (p == NULL)
		return;
	if (p->started) {
		pthread_mutex_lock(&p->mu);
		p->stopping = 1;
		pthread_mutex_unlock(&p->mu);
		wake(p);
		pthread_join(p->thr, NULL);
	}
	if (p->lfd >= 0)
		close(p->lfd);
	if (p->wake[0] >= 0)
		close(p->wake[0]);
	if (p->wake[1] >= 0)
		close(p->wake[1]);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

int tf_fp_port(const tf_fault_proxy *p)
{
	/* Fixed after start: a relisten binds the same port. */
	return p->port;
}

void tf_fp_url(const tf_fault_proxy *p, char *out, size_t cap)
{
	snprintf(out, cap, "http://127.0.0.1:%d", p->port);
}

void tf_fp_set_upstream(tf_fault_proxy *p, int upstream_port)
{
	pthread_mutex_lock(&p->mu);
	p->upstream = upstream_port;
	pthread_mutex_unlock(&p->mu);
}

int tf_fp_set(tf_fault_proxy *p, const tf_fp_fault *f)
{
	static const tf_fp_fault pass = {TF_FP_PASS, 0, NULL, 0, 0};
	int64_t deadline;
	uint64_t gen;
	int done = 0;

	if (f == NULL)
		f = &pass;
	if (f->mode < TF_FP_PASS || f->mode > TF_FP_HOLD || f->arg < 0 ||
	    (f->path_prefix && strlen(f->path_prefix) >= sizeof p->prefix))
		return TF_EINVAL;
	pthread_mutex_lock(&p->mu);
	p->mode = f->mode;
	p->arg = f->arg;
	snprintf(p->prefix, sizeof p->prefix, "%s",
		 f->path_prefix ? f->path_prefix : "");
	p->skip = f->skip;
	p->count = f->count;
	p->st.matched = 0;
	p->st.faulted = 0;
	p->st.held_complete = 0;
	p->st.held_status = 0;
	p->release = 1;
	gen = ++p->gen;
	pthread_mutex_unlock(&p->mu);
	wake(p);
	/* Wait until the thread acted on it (DOWN has closed everything). */
	deadline = fp_now_ms() + FP_APPLY_WAIT_MS;
	while (fp_now_ms() < deadline) {
		pthread_mutex_lock(&p->mu);
		done = p->applied >= gen;
		pthread_mutex_unlock(&p->mu);
		if (done)
			return 0;
		fp_sleep_ms(2);
	}
	return TF_EBUSY;
}

int tf_fp_set_mode(tf_fault_proxy *p, tf_fp_mode mode, int64_t arg)
{
	tf_fp_fault f;

	memset(&f, 0, sizeof f);
	f.mode = mode;
	f.arg = arg;
	return tf_fp_set(p, &f);
}

void tf_fp_release(tf_fault_proxy *p)
{
	pthread_mutex_lock(&p->mu);
	p->release = 1;
	pthread_mutex_unlock(&p->mu);
	wake(p);
}

void tf_fp_stats_get(tf_fault_proxy *p, tf_fp_stats *st)
{
	pthread_mutex_lock(&p->mu);
	*st = p->st;
	pthread_mutex_unlock(&p->mu);
}

int tf_fp_wait_held(tf_fault_proxy *p, int complete, int64_t timeout_ms)
{
	int64_t deadline = fp_now_ms() + timeout_ms;
	tf_fp_stats st;

	do {
		tf_fp_stats_get(p, &st);
		if (complete ? st.held_complete > 0 : st.held_bytes > 0)
			return 0;
		fp_sleep_ms(5);
	} while (fp_now_ms() < deadline);
	return TF_EBUSY;
}

int tf_fp_wait_faulted(tf_fault_proxy *p, uint64_t n, int64_t timeout_ms)
{
	int64_t deadline = fp_now_ms() + timeout_ms;
	tf_fp_stats st;

	do {
		tf_fp_stats_get(p, &st);
		if (st.faulted >= n)
			return 0;
		fp_sleep_ms(5);
	} while (fp_now_ms() < deadline);
	return TF_EBUSY;
}

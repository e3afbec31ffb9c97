/*
 * http.c - the HTTP front of tenfourd (http.h): libmicrohttpd with its
 * internal epoll thread pool, the route table of server.h, bounded
 * bodies and strict query parameters, the error -> status mapping, the
 * JSON request log, and the graceful stop.
 *
 * A request's life: the first access-handler call matches the route and
 * refuses what can be refused before the body (404, 405, 413 by
 * Content-Length); body chunks are counted into a bounded buffer; the
 * final call authenticates and calls the service: quick reads inline;
 * writes, logins and the audited reads (pull, conflicts, text revisions:
 * each writes an access entry and waits for its group commit) on the
 * service pool with the connection suspended (see offload).  Long-poll
 * pulls between their rounds and SSE streams suspend their connection
 * (events.c); the request-completed callback logs the request and frees
 * its state.
 */
#include "server/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/acl.h"
#include "server/events.h"
#include "server/metrics.h"
#include "tenfour/command.h"
#include "tenfour/json.h"

/*
 * Slow clients.  libmicrohttpd closes a connection silent for
 * CONN_TIMEOUT_S (between bytes, and an idle keep-alive; a suspended
 * connection - an SSE stream or long-poll between events - is exempt).
 * A body must arrive within BODY_DEADLINE_S of its head (checked at each
 * chunk), so a client trickling bytes cannot hold a connection for long;
 * a head is bounded by the timeout between bytes and its 8 KiB (MHD
 * offers no hook while it reads one), and per peer by max-connections-
 * per-ip.
 */
#define CONN_TIMEOUT_S 30
#define BODY_DEADLINE_S 300
#define DRAIN_MS 10000      /* in-flight requests get this long at stop */
#define PATH_LOG_MAX 200    /* bytes of the path kept for the log */
#define SEG_MAX 128         /* bytes of one path parameter */
#define MAX_QUERY_ARGS 8
#define TLS_FILE_MAX ((size_t)1024 * 1024)
#define EXPORT_MAX_LIMIT 10000
#define EXPORT_DEFAULT_LIMIT 1000
#define POOL_MIN 8   /* service threads at least (see offload) */
#define POOL_MAX 64
#define FD_RESERVE 256 /* descriptors beyond connections: db, logs, ... */
/*
 * libmicrohttpd's per-connection memory pool (its default is 32 KiB).  It
 * holds the request line and headers as read (parsed in place), the
 * parsed header and query entries, the reply's status line and headers,
 * and a streamed reply's chunk buffer (SSE: 1 KiB blocks).  Bodies never
 * stay in it: each chunk is handed to access_handler, which copies it
 * into its own bounded buffer.  So the pool only bounds the request head:
 * TF_HTTP_HEAD_MAX bytes of request line and headers are served (the
 * limit docs/API.md names), a head that does not fit gets 431 from
 * libmicrohttpd.  The pool is sized for that head plus its parsed
 * entries and the reply head; held SSE streams are most connections, so
 * this is most of tenfourd's memory per connection.
 */
#define TF_HTTP_HEAD_MAX ((size_t)8 * 1024)
#define CONN_POOL_BYTES ((size_t)16 * 1024)
#define CONN_POOL_INCREMENT ((size_t)1024)
#define MHD_LOG_KEEP 200 /* bytes of libmicrohttpd's last start message */

static const char JSON_TYPE[] = "application/json";

#define IP_BUCKETS 4096 /* per-IP connection counts: hash buckets */

/* One peer address's open connections (in h->ip_tab while n > 0). */
struct ip_count {
	struct ip_count *next;
	unsigned char addr[17]; /* family tag + 16 address bytes */
	unsigned n;
};

struct tf_http {
	tf_srv *srv;
	tf_config cfg;
	struct MHD_Daemon *d;
	tf_events *ev;
	tf_metrics *metrics;
	tf_http_limits lim;
	/* per-IP connection counts (see ip_policy) */
	pthread_mutex_t ip_lock;
	int ip_init;
	struct ip_count **ip_tab;
	/* metrics-allow, normalised */
	char metrics_allow[TF_HTTP_METRICS_ALLOW_MAX][INET6_ADDRSTRLEN + 1];
	size_t nmetrics_allow;
	uint16_t port;
	atomic_int stopping;
	atomic_int quiesced;
	atomic_long active; /* requests begun and not yet completed */
	MHD_socket listen_fd;
	char *cert, *key;
	size_t key_len;
	/* libmicrohttpd's last message while starting (a TLS failure's
	   GnuTLS detail); written only by the thread in tf_http_start */
	atomic_int starting;
	pthread_t start_thread;
	char start_log[MHD_LOG_KEEP + 1];
	/* the service pool */
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cond;
	pthread_t *threads;
	size_t nthreads;
	struct req *jobs, *jobs_tail;
	int pool_quit, pool_init;
};

/* ------------------------------------------------------------ clocks */

int64_t tf_http_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ----------------------------------------------------------- logging */

static atomic_int log_level = TF_LOG_INFO;

void tf_log_set_level(int level)
{
	atomic_store(&log_level, level);
}

int tf_log_enabled(int level)
{
	return level >= atomic_load(&log_level);
}

/* A JSON string of s; bytes that are not valid UTF-8 become \u00XX. */
static void json_text(tf_buf *b, const char *s, size_t n)
{
	if (tf_utf8_valid(s, n)) {
		tf_json_write_string(b, s, n);
		return;
	}
	tf_buf_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
			tf_buf_printf(b, "\\u%04x", ch);
		else
			tf_buf_putc(b, (char)ch);
	}
	tf_buf_putc(b, '"');
}

void tf_log_field_str(tf_buf *b, const char *key, const char *val)
{
	tf_buf_printf(b, ",\"%s\":", key);
	json_text(b, val != NULL ? val : "", val != NULL ? strlen(val) : 0);
}

void tf_log_field_int(tf_buf *b, const char *key, int64_t val)
{
	tf_buf_printf(b, ",\"%s\":%lld", key, (long long)val);
}

void tf_log_write(int level, const char *msg, const char *fields)
{
	struct timespec ts;
	struct tm tm;
	char stamp[40];
	tf_buf b;
	size_t off = 0;

	if (!tf_log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	tf_buf_init(&b);
	tf_buf_printf(&b, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":",
		      stamp, ts.tv_nsec / 1000000,
		      tf_config_log_level_name(level));
	json_text(&b, msg, strlen(msg));
	tf_buf_puts(&b, fields != NULL ? fields : "");
	tf_buf_puts(&b, "}\n");
	while (!b.failed && off < b.len) {
		ssize_t n = write(STDERR_FILENO, b.data + off, b.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	tf_buf_free(&b);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	tf_http *h = cls;
	char line[512];
	size_t n;
	tf_buf f;

	vsnprintf(line, sizeof line, fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	if (h != NULL && atomic_load(&h->starting) &&
	    pthread_equal(pthread_self(), h->start_thread)) {
		size_t k = n < MHD_LOG_KEEP ? n : MHD_LOG_KEEP;

		memcpy(h->start_log, line, k);
		h->start_log[k] = '\0';
	}
	tf_buf_init(&f);
	tf_log_field_str(&f, "detail", line);
	/* Mostly clients that went away: not the operator's concern. */
	tf_log_write(TF_LOG_INFO, "libmicrohttpd", tf_buf_cstr(&f));
	tf_buf_free(&f);
}

/* ------------------------------------------------------------ routes */

struct route_def {
	int route;
	const char *method;
	const char *pattern; /* '*' segments are parameters */
	int session;         /* needs Bearer + X-Tenfour-Device */
	int big;             /* body limit TF_SRV_MAX_BODY (else small) */
	const char *params;  /* allowed query parameters, ' '-separated */
};

static const struct route_def routes[] = {
	{TF_ROUTE_HEALTHZ, "GET", "/healthz", 0, 0, ""},
	{TF_ROUTE_METRICS, "GET", "/metrics", 0, 0, ""},
	{TF_ROUTE_KEYS, "GET", "/v1/keys", 0, 0, ""},
	{TF_ROUTE_BANNER, "GET", "/v1/auth/banner", 0, 0, "agency"},
	{TF_ROUTE_LOGIN, "POST", "/v1/auth/login", 0, 0, ""},
	{TF_ROUTE_LOGOUT, "POST", "/v1/auth/logout", 1, 0, ""},
	{TF_ROUTE_PUSH, "POST", "/v1/sync/push", 1, 1, ""},
	{TF_ROUTE_PULL, "GET", "/v1/sync/pull", 1, 0, "cursor limit wait"},
	{TF_ROUTE_EVENTS, "GET", "/v1/sync/events", 1, 0, ""},
	{TF_ROUTE_CONFLICTS, "GET", "/v1/conflicts", 1, 0, ""},
	{TF_ROUTE_TEXT_REVISIONS, "GET", "/v1/records/*/text/*", 1, 0, ""},
	{TF_ROUTE_WIPE_RECEIPT, "POST", "/v1/devices/wipe-receipt", 0, 0, ""},
	{TF_ROUTE_AUDIT_DEVICE, "POST", "/v1/audit/device", 1, 1, ""},
	{TF_ROUTE_AUDIT_EXPORT, "GET", "/v1/audit/export", 1, 0,
	 "from limit"},
	{TF_ROUTE_AUDIT_VERIFY, "GET", "/v1/audit/verify", 1, 0, ""},
	{TF_ROUTE_ADMIN_DEVICE_REVOKE, "POST", "/v1/admin/devices/*/revoke", 1,
	 0, ""},
	{TF_ROUTE_ADMIN_USER_RELEASE, "POST", "/v1/admin/users/*/release", 1,
	 0, ""},
	{TF_ROUTE_ADMIN_SESSIONS_REVOKE, "POST",
	 "/v1/admin/users/*/revoke-sessions", 1, 0, ""},
};
#define NROUTES (sizeof routes / sizeof routes[0])

/* One request's state (MHD's req_cls). */
struct req {
	tf_http *h;
	const struct route_def *rd; /* NULL once refused early */
	char method[12];
	char path[PATH_LOG_MAX + 1];
	char seg[2][SEG_MAX + 1]; /* path parameters */
	size_t limit;
	tf_buf body;
	int too_big;
	size_t discarded;
	int answered;
	unsigned status;
	int64_t t0_us;
	char source[TF_AUDIT_SOURCE_MAX + 1];
	tf_srv_caller *caller; /* after authentication */
	tf_sse *sse;
	tf_waiter *waiter;
	int waited; /* a long-poll wait has ended */
	/* pull parameters, parsed once */
	char cursor[TF_EVENTS_CURSOR_MAX + 1];
	size_t pull_limit;
	int64_t wait_s;
	int64_t deadline_us;
	uint64_t pull_head; /* a pull round's results (the pool's job) */
	int pull_empty;
	int pull_rounds; /* pulls run so far */
	/* audit export parameters */
	uint64_t export_from;
	size_t export_limit;
	/* a service run on the pool */
	struct MHD_Connection *conn;
	struct req *job_next;
	int job_done, job_rc;
	tf_err job_err;
	tf_buf job_out;
};

/*
 * Matches url against pattern; '*' segments (one path segment each, at
 * most SEG_MAX bytes) are copied into seg.  1 on a match.
 */
static int match(const char *pattern, const char *url,
		 char seg[2][SEG_MAX + 1])
{
	int nseg = 0;

	while (*pattern != '\0' && *url != '\0') {
		if (*pattern == '*') {
			size_t n = strcspn(url, "/");

			if (n == 0 || n > SEG_MAX || nseg == 2)
				return 0;
			memcpy(seg[nseg], url, n);
			seg[nseg++][n] = '\0';
			url += n;
			pattern++;
			continue;
		}
		if (*pattern != *url)
			return 0;
		pattern++;
		url++;
	}
	return *pattern == '\0' && *url == '\0';
}

/* ---------------------------------------------------------- responses */

static void common_headers(struct MHD_Response *resp, const char *ctype)
{
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				"no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
}

/* Queues body (taken over) with status; counts it. */
static enum MHD_Result respond(struct MHD_Connection *conn, struct req *r,
			       unsigned status, const char *ctype, tf_buf *body,
			       const char *allow)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t len = 0;
	char *data = body->failed ? NULL : tf_buf_take(body, &len);

	tf_buf_free(body);
	if (data == NULL || len == 0) {
		free(data);
		resp = MHD_create_response_from_buffer(0, (void *)"",
						       MHD_RESPMEM_PERSISTENT);
	} else {
		resp = MHD_create_response_from_buffer(len, data,
						       MHD_RESPMEM_MUST_FREE);
		if (resp == NULL)
			free(data);
	}
	if (resp == NULL)
		return MHD_NO;
	common_headers(resp, ctype);
	if (allow != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	r->status = status;
	r->answered = 1;
	tf_metrics_request(r->h->metrics, r->rd != NULL ? r->rd->route
							: TF_ROUTE_OTHER,
			   status);
	return ret;
}

static enum MHD_Result respond_json(struct MHD_Connection *conn,
				    struct req *r, unsigned status,
				    tf_buf *body)
{
	return respond(conn, r, status, JSON_TYPE, body, NULL);
}

/* server.h's mapping of error codes onto statuses. */
static unsigned status_of(int rc, int body_route)
{
	switch (rc) {
	case TF_EAUTH:
		return MHD_HTTP_UNAUTHORIZED;
	case TF_EREVOKED:
	case TF_EPERM:
	case TF_ELOCKED:
		return MHD_HTTP_FORBIDDEN;
	case TF_ENOTFOUND:
		return MHD_HTTP_NOT_FOUND;
	case TF_ELIMIT:
		return body_route ? MHD_HTTP_CONTENT_TOO_LARGE
				  : MHD_HTTP_BAD_REQUEST;
	case TF_EBUSY:
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	case TF_EIO:
	case TF_ENOMEM:
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	default:
		return MHD_HTTP_BAD_REQUEST;
	}
}

/* {"code","field","message"[,"wipe":true]} with an explicit status. */
static enum MHD_Result respond_error_status(struct MHD_Connection *conn,
					   struct req *r, unsigned status,
					   const char *code, const char *field,
					   const char *msg, int wipe,
					   const char *allow)
{
	tf_buf b;

	tf_buf_init(&b);
	tf_buf_puts(&b, "{\"code\":");
	json_text(&b, code, strlen(code));
	tf_buf_puts(&b, ",\"field\":");
	json_text(&b, field, strlen(field));
	tf_buf_puts(&b, ",\"message\":");
	json_text(&b, msg, strlen(msg));
	if (wipe)
		tf_buf_puts(&b, ",\"wipe\":true");
	tf_buf_putc(&b, '}');
	return respond(conn, r, status, JSON_TYPE, &b, allow);
}

static enum MHD_Result respond_error(struct MHD_Connection *conn,
				     struct req *r, int rc, const tf_err *err)
{
	const char *msg = err->msg[0] != '\0' ? err->msg : tf_strerror(rc);
	unsigned status =
		status_of(rc, r->rd != NULL && !strcmp(r->rd->method, "POST"));

	if (status == MHD_HTTP_INTERNAL_SERVER_ERROR) {
		tf_buf f;

		tf_buf_init(&f);
		tf_log_field_str(&f, "path", r->path);
		tf_log_field_str(&f, "code", tf_errcode(rc));
		tf_log_field_str(&f, "detail", msg);
		tf_log_write(TF_LOG_ERROR, "request failed",
			     tf_buf_cstr(&f));
		tf_buf_free(&f);
	}
	return respond_error_status(conn, r, status, tf_errcode(rc), err->where,
				    msg, rc == TF_EREVOKED, NULL);
}

/* A 400/404/... of this layer: code from the error number. */
static enum MHD_Result refuse(struct MHD_Connection *conn, struct req *r,
			      int rc, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static enum MHD_Result refuse(struct MHD_Connection *conn, struct req *r,
			      int rc, const char *field, const char *fmt, ...)
{
	tf_err err;
	va_list ap;

	memset(&err, 0, sizeof err);
	err.code = rc;
	snprintf(err.where, sizeof err.where, "%s", field);
	va_start(ap, fmt);
	vsnprintf(err.msg, sizeof err.msg, fmt, ap);
	va_end(ap);
	return respond_error(conn, r, rc, &err);
}

/* ------------------------------------------------------- peer address */

/* Text of an address; IPv4-mapped IPv6 as plain IPv4. */
static int addr_text(const struct sockaddr *sa, char *out, size_t cap)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		return inet_ntop(AF_INET, &in->sin_addr, out, (socklen_t)cap)
			       ? 0
			       : -1;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			return inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12],
					 out, (socklen_t)cap)
				       ? 0
				       : -1;
		return inet_ntop(AF_INET6, &in6->sin6_addr, out,
				 (socklen_t)cap)
			       ? 0
			       : -1;
	}
	return -1;
}

/* Normalises an address literal; -1 when s is none. */
static int literal_text(const char *s, size_t n, char *out, size_t cap)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	unsigned char a[sizeof(struct in6_addr)];

	if (n == 0 || n >= sizeof tmp)
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (inet_pton(AF_INET, tmp, a) == 1)
		return inet_ntop(AF_INET, a, out, (socklen_t)cap) ? 0 : -1;
	if (inet_pton(AF_INET6, tmp, a) == 1)
		return inet_ntop(AF_INET6, a, out, (socklen_t)cap) ? 0 : -1;
	return -1;
}

/*
 * The request's source: the peer address, or, when the peer is the
 * trusted proxy, the last X-Forwarded-For entry (the one that proxy
 * added; earlier entries are the client's word and are not trusted).
 */
static void peer_source(const tf_http *h, struct MHD_Connection *conn,
			char *out, size_t cap)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const char *xff, *last, *end;

	if (ci == NULL || ci->client_addr == NULL ||
	    addr_text(ci->client_addr, out, cap) < 0) {
		snprintf(out, cap, "unknown");
		return;
	}
	if (h->cfg.trusted_proxy[0] == '\0' ||
	    strcmp(out, h->cfg.trusted_proxy) != 0)
		return;
	xff = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
					  "X-Forwarded-For");
	if (xff == NULL)
		return;
	last = strrchr(xff, ',');
	last = last != NULL ? last + 1 : xff;
	while (*last == ' ' || *last == '\t')
		last++;
	end = last + strlen(last);
	while (end > last && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	{
		char norm[INET6_ADDRSTRLEN + 1];

		if (literal_text(last, (size_t)(end - last), norm,
				 sizeof norm) == 0)
			snprintf(out, cap, "%s", norm);
	}
}

/*
 * Whether a request from source (peer_source: the peer, or the client
 * the trusted proxy names, so that a proxy on this host does not make
 * every client loopback) may read /metrics: loopback, or an address
 * named by metrics-allow.  The counts span every agency, so they are not
 * for anyone who can connect.
 */
static int metrics_allowed(const tf_http *h, const char *source)
{
	if (strncmp(source, "127.", 4) == 0 || strcmp(source, "::1") == 0)
		return 1;
	for (size_t i = 0; i < h->nmetrics_allow; i++)
		if (strcmp(source, h->metrics_allow[i]) == 0)
			return 1;
	return 0;
}

/* Parses h->lim.metrics_allow into h->metrics_allow. */
static int parse_metrics_allow(tf_http *h, tf_err *err)
{
	const char *p = h->lim.metrics_allow;

	while (*p != '\0') {
		size_t n = strcspn(p, ",");
		const char *b = p, *e = p + n;

		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (b < e) {
			if (h->nmetrics_allow == TF_HTTP_METRICS_ALLOW_MAX)
				return tf_err_set(err, TF_ELIMIT,
						  "metrics-allow",
						  "metrics-allow: more than %d "
						  "addresses",
						  TF_HTTP_METRICS_ALLOW_MAX);
			if (literal_text(b, (size_t)(e - b),
					 h->metrics_allow[h->nmetrics_allow],
					 sizeof h->metrics_allow[0]) < 0)
				return tf_err_set(err, TF_EINVAL,
						  "metrics-allow",
						  "metrics-allow: \"%.*s\" is no "
						  "IPv4 or IPv6 address",
						  (int)(e - b > 64 ? 64 : e - b),
						  b);
			h->nmetrics_allow++;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* ------------------------------------------------ per-IP connections */

/*
 * The key of a peer address (IPv4-mapped IPv6 as IPv4); 0 when it is
 * exempt from the per-IP limit: the trusted proxy (all its clients share
 * its address; max-connections bounds it) and, unless lim.per_ip_loopback,
 * loopback peers (local clients are the operator's own: a proxy on this
 * host, the benchmarks).  -1 for an address that is neither IPv4 nor 6.
 */
static int ip_key(const tf_http *h, const struct sockaddr *sa,
		  unsigned char key[17])
{
	char text[INET6_ADDRSTRLEN + 1];

	memset(key, 0, 17);
	if (addr_text(sa, text, sizeof text) < 0)
		return -1;
	if (h->cfg.trusted_proxy[0] != '\0' &&
	    strcmp(text, h->cfg.trusted_proxy) == 0)
		return 0;
	if (!h->lim.per_ip_loopback &&
	    (strncmp(text, "127.", 4) == 0 || strcmp(text, "::1") == 0))
		return 0;
	if (strchr(text, ':') == NULL) {
		key[0] = 4;
		if (inet_pton(AF_INET, text, key + 1) != 1)
			return -1;
	} else {
		key[0] = 6;
		if (inet_pton(AF_INET6, text, key + 1) != 1)
			return -1;
	}
	return 1;
}

static size_t ip_hash(const unsigned char key[17])
{
	uint32_t x = 2166136261u; /* FNV-1a */

	for (int i = 0; i < 17; i++)
		x = (x ^ key[i]) * 16777619u;
	return x % IP_BUCKETS;
}

/* Caller holds ip_lock. */
static struct ip_count **ip_find(tf_http *h, const unsigned char key[17])
{
	struct ip_count **pp = &h->ip_tab[ip_hash(key)];

	while (*pp != NULL && memcmp((*pp)->addr, key, 17) != 0)
		pp = &(*pp)->next;
	return pp;
}

/*
 * The accept policy: refuses a peer that already holds per_ip
 * connections (libmicrohttpd closes the socket at once).  Counts are
 * kept by notify_connection; accepts racing on several threads may pass
 * the limit by at most one connection per thread.
 */
static enum MHD_Result ip_policy(void *cls, const struct sockaddr *addr,
				 socklen_t addrlen)
{
	tf_http *h = cls;
	unsigned char key[17];
	struct ip_count *c;
	unsigned n;

	(void)addrlen;
	if (h->ip_tab == NULL || h->lim.per_ip == 0 ||
	    ip_key(h, addr, key) <= 0)
		return MHD_YES;
	pthread_mutex_lock(&h->ip_lock);
	c = *ip_find(h, key);
	n = c != NULL ? c->n : 0;
	pthread_mutex_unlock(&h->ip_lock);
	if (n < h->lim.per_ip)
		return MHD_YES;
	{
		char text[INET6_ADDRSTRLEN + 1];
		tf_buf f;

		tf_buf_init(&f);
		tf_log_field_str(&f, "source",
				 addr_text(addr, text, sizeof text) == 0
					 ? text
					 : "unknown");
		tf_log_field_int(&f, "limit", h->lim.per_ip);
		tf_log_write(TF_LOG_WARN, "per-ip connection limit reached",
			     tf_buf_cstr(&f));
		tf_buf_free(&f);
	}
	return MHD_NO;
}

/* Counts a connection's start and end per peer address; the socket
   context is its counter (NULL when exempt or out of memory). */
static void notify_connection(void *cls, struct MHD_Connection *conn,
			      void **socket_context,
			      enum MHD_ConnectionNotificationCode toe)
{
	tf_http *h = cls;
	struct ip_count *c = *socket_context;

	if (h->ip_tab == NULL || h->lim.per_ip == 0)
		return;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
			conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		unsigned char key[17];
		struct ip_count **pp;

		*socket_context = NULL;
		if (ci == NULL || ci->client_addr == NULL ||
		    ip_key(h, ci->client_addr, key) <= 0)
			return;
		pthread_mutex_lock(&h->ip_lock);
		pp = ip_find(h, key);
		if (*pp == NULL) {
			*pp = calloc(1, sizeof **pp);
			if (*pp != NULL)
				memcpy((*pp)->addr, key, sizeof key);
		}
		if (*pp != NULL) {
			(*pp)->n++;
			*socket_context = *pp;
		}
		pthread_mutex_unlock(&h->ip_lock);
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && c != NULL) {
		*socket_context = NULL;
		pthread_mutex_lock(&h->ip_lock);
		if (--c->n == 0) {
			struct ip_count **pp = ip_find(h, c->addr);

			*pp = c->next;
			free(c);
		}
		pthread_mutex_unlock(&h->ip_lock);
	}
}

static void ip_free(tf_http *h)
{
	if (h->ip_tab != NULL) {
		for (size_t i = 0; i < IP_BUCKETS; i++)
			while (h->ip_tab[i] != NULL) {
				struct ip_count *c = h->ip_tab[i];

				h->ip_tab[i] = c->next;
				free(c);
			}
		free(h->ip_tab);
		h->ip_tab = NULL;
	}
	if (h->ip_init)
		pthread_mutex_destroy(&h->ip_lock);
	h->ip_init = 0;
}

/* ------------------------------------------------------ query params */

struct query {
	const char *allowed;
	const char *key[MAX_QUERY_ARGS];
	const char *val[MAX_QUERY_ARGS];
	size_t n;
	const char *bad;  /* first unknown or repeated parameter */
	int too_many;
};

static int allowed_param(const char *list, const char *key)
{
	size_t n = strlen(key);

	while (*list != '\0') {
		size_t w = strcspn(list, " ");

		if (w == n && memcmp(list, key, n) == 0)
			return 1;
		list += w;
		while (*list == ' ')
			list++;
	}
	return 0;
}

static enum MHD_Result query_iter(void *cls, enum MHD_ValueKind kind,
				  const char *key, const char *value)
{
	struct query *q = cls;

	(void)kind;
	if (q->bad != NULL || q->too_many)
		return MHD_NO;
	if (!allowed_param(q->allowed, key)) {
		q->bad = key;
		return MHD_NO;
	}
	for (size_t i = 0; i < q->n; i++)
		if (strcmp(q->key[i], key) == 0) {
			q->bad = key;
			return MHD_NO;
		}
	if (q->n == MAX_QUERY_ARGS) {
		q->too_many = 1;
		return MHD_NO;
	}
	q->key[q->n] = key;
	q->val[q->n++] = value != NULL ? value : "";
	return MHD_YES;
}

static const char *query_get(const struct query *q, const char *key)
{
	for (size_t i = 0; i < q->n; i++)
		if (strcmp(q->key[i], key) == 0)
			return q->val[i];
	return NULL;
}

/* Digits only, [lo, hi]. */
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	uint64_t n = 0;
	size_t i = 0;

	for (; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 19)
			return -1;
		n = n * 10 + (uint64_t)(s[i] - '0');
	}
	if (i == 0 || n < lo || n > hi)
		return -1;
	*out = n;
	return 0;
}

/* ------------------------------------------------------------ helpers */

static const char *header(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* Authenticates the session of r (once). */
static int authenticate(tf_http *h, struct MHD_Connection *conn,
			struct req *r, int64_t now, tf_err *err)
{
	int rc;

	if (r->caller != NULL)
		return 0;
	r->caller = malloc(sizeof *r->caller);
	if (r->caller == NULL)
		return tf_err_set(err, TF_ENOMEM, "request", "out of memory");
	rc = tf_auth_session(h->srv,
			     header(conn, MHD_HTTP_HEADER_AUTHORIZATION),
			     header(conn, "X-Tenfour-Device"), r->source, now,
			     r->caller, err);
	if (rc < 0) {
		free(r->caller);
		r->caller = NULL;
	}
	return rc;
}

/* ------------------------------------------------------------ handlers */

static enum MHD_Result offload(tf_http *h, struct MHD_Connection *conn,
			       struct req *r);
static enum MHD_Result pull_round_done(tf_http *h, struct MHD_Connection *conn,
				       struct req *r);

static enum MHD_Result do_pull(tf_http *h, struct MHD_Connection *conn,
			       struct req *r, const struct query *q)
{
	tf_err err;
	uint64_t v;
	int rc;
	const char *s;

	memset(&err, 0, sizeof err);
	if (r->waiter != NULL) {
		tf_events_wait_end(r->waiter);
		r->waiter = NULL;
		r->waited = 1;
		/* The session may have been revoked, the user disabled or
		   the scope changed while this request waited: authenticate
		   again before anything is pulled. */
		tf_memzero(r->caller, sizeof *r->caller);
		free(r->caller);
		r->caller = NULL;
	} else {
		s = query_get(q, "cursor");
		if (s != NULL && strlen(s) > TF_EVENTS_CURSOR_MAX)
			return refuse(conn, r, TF_ELIMIT, "cursor",
				      "cursor: longer than %d bytes",
				      TF_EVENTS_CURSOR_MAX);
		snprintf(r->cursor, sizeof r->cursor, "%s", s ? s : "");
		r->pull_limit = TF_SRV_DEFAULT_PULL_LIMIT;
		s = query_get(q, "limit");
		if (s != NULL) {
			if (parse_u64(s, 1, TF_SRV_MAX_PULL_LIMIT, &v) < 0)
				return refuse(conn, r, TF_ERANGE, "limit",
					      "limit: must be an integer from "
					      "1 to %d",
					      TF_SRV_MAX_PULL_LIMIT);
			r->pull_limit = (size_t)v;
		}
		s = query_get(q, "wait");
		if (s != NULL) {
			if (parse_u64(s, 0, TF_SRV_MAX_WAIT_S, &v) < 0)
				return refuse(conn, r, TF_ERANGE, "wait",
					      "wait: must be an integer from "
					      "0 to %d (seconds)",
					      TF_SRV_MAX_WAIT_S);
			r->wait_s = (int64_t)v;
		}
		r->deadline_us = mono_us() + r->wait_s * 1000000;
	}
	rc = authenticate(h, conn, r, tf_http_now_ms(), &err);
	if (rc < 0)
		return respond_error(conn, r, rc, &err);
	/* The pull writes its access audit entry and waits for the group
	   commit: on the pool (pull_round_done goes on from there). */
	return offload(h, conn, r);
}

static enum MHD_Result do_events(tf_http *h, struct MHD_Connection *conn,
				 struct req *r)
{
	const char *last = header(conn, "Last-Event-ID");
	struct MHD_Response *resp = NULL;
	enum MHD_Result ret;
	tf_err err;
	int rc;

	memset(&err, 0, sizeof err);
	if (last != NULL && strlen(last) > TF_EVENTS_CURSOR_MAX)
		return refuse(conn, r, TF_ELIMIT, "Last-Event-ID",
			      "Last-Event-ID: longer than %d bytes",
			      TF_EVENTS_CURSOR_MAX);
	rc = authenticate(h, conn, r, tf_http_now_ms(), &err);
	if (rc == 0 && atomic_load(&h->stopping))
		rc = tf_err_set(&err, TF_EBUSY, "server", "server stopping");
	if (rc == 0)
		rc = tf_events_sse_open(
			h->ev, conn, r->caller,
			header(conn, MHD_HTTP_HEADER_AUTHORIZATION),
			header(conn, "X-Tenfour-Device"), last, &resp, &r->sse,
			&err);
	if (rc < 0)
		return respond_error(conn, r, rc, &err);
	/* The stream keeps its own copy of the caller; a held stream is
	   most of the memory per connection, so drop this one now. */
	tf_memzero(r->caller, sizeof *r->caller);
	free(r->caller);
	r->caller = NULL;
	common_headers(resp, "text/event-stream");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	r->status = MHD_HTTP_OK;
	r->answered = 1;
	tf_metrics_request(h->metrics, TF_ROUTE_EVENTS, MHD_HTTP_OK);
	return ret;
}

/* ------------------------------------------------------ service pool */

/*
 * Services that write (group commit, fsync: pushes, and the reads that
 * write an access audit entry) or burn CPU (PBKDF2 at login) run on a
 * pool of their own: the request's connection is suspended meanwhile,
 * so an MHD worker never blocks on them and keeps serving its other
 * connections (SSE pokes, /healthz among them).  More threads
 * than MHD workers also lets more pushes share one group commit.
 */
static int offloaded(int route)
{
	switch (route) {
	case TF_ROUTE_LOGIN:
	case TF_ROUTE_LOGOUT:
	case TF_ROUTE_PUSH:
	case TF_ROUTE_PULL:
	case TF_ROUTE_CONFLICTS:
	case TF_ROUTE_TEXT_REVISIONS:
	case TF_ROUTE_WIPE_RECEIPT:
	case TF_ROUTE_AUDIT_DEVICE:
	case TF_ROUTE_AUDIT_EXPORT:
	case TF_ROUTE_AUDIT_VERIFY:
	case TF_ROUTE_ADMIN_DEVICE_REVOKE:
	case TF_ROUTE_ADMIN_USER_RELEASE:
	case TF_ROUTE_ADMIN_SESSIONS_REVOKE:
		return 1;
	default:
		return 0;
	}
}

/* Runs r's service on a pool thread; fills r->job_*. */
static void run_job(tf_http *h, struct req *r)
{
	const char *body = tf_buf_cstr(&r->body);
	tf_buf *out = &r->job_out;
	tf_err *err = &r->job_err;
	int64_t now = tf_http_now_ms();
	tf_admin_actor a;
	char where[96];
	int rc = 0;

	switch (r->rd->route) {
	case TF_ROUTE_LOGIN:
		rc = tf_auth_login(h->srv, r->source, now, body, r->body.len,
				   out, err);
		break;
	case TF_ROUTE_LOGOUT:
		rc = tf_auth_logout(h->srv, r->caller, now, err);
		if (rc == 0)
			tf_buf_puts(out, "{\"ok\":true}");
		break;
	case TF_ROUTE_PUSH: {
		int64_t t0 = mono_us();

		rc = tf_sync_push(h->srv, r->caller, now, body, r->body.len,
				  out, err);
		tf_metrics_push_time(h->metrics,
				     (double)(mono_us() - t0) / 1e6);
		if (rc == 0)
			tf_metrics_push_reply(h->metrics, out->data, out->len);
		break;
	}
	case TF_ROUTE_PULL: {
		int64_t t0 = mono_us();

		rc = tf_sync_pull(
			h->srv, r->caller, now, r->cursor[0] ? r->cursor : NULL,
			r->pull_limit, out, &r->pull_head, &r->pull_empty, err);
		tf_metrics_pull_time(h->metrics,
				     (double)(mono_us() - t0) / 1e6);
		break;
	}
	case TF_ROUTE_CONFLICTS:
		rc = tf_sync_conflicts(h->srv, r->caller, now, out, err);
		break;
	case TF_ROUTE_TEXT_REVISIONS:
		if (strlen(r->seg[0]) > TF_UUID_LEN)
			rc = tf_err_set(err, TF_EINVAL, "record_id",
					"record_id: not a record id");
		else if (strlen(r->seg[1]) > TF_NAME_MAX)
			rc = tf_err_set(err, TF_EINVAL, "field",
					"field: not a field name");
		else
			rc = tf_sync_text_revisions(h->srv, r->caller, now,
						    r->seg[0], r->seg[1], out,
						    err);
		break;
	case TF_ROUTE_WIPE_RECEIPT:
		rc = tf_auth_wipe_receipt(h->srv, r->source, now, body,
					  r->body.len, out, err);
		break;
	case TF_ROUTE_AUDIT_DEVICE:
		rc = tf_audit_device_upload(h->srv, r->caller, now, body,
					    r->body.len, out, err);
		break;
	case TF_ROUTE_AUDIT_EXPORT:
		rc = tf_audit_export(h->srv, r->caller, now, r->export_from,
				     r->export_limit, out, err);
		break;
	case TF_ROUTE_AUDIT_VERIFY:
		rc = tf_audit_verify_server(h->srv, r->caller, now, out, err);
		break;
	default: {
		uint64_t n = 0;

		snprintf(where, sizeof where, "%s POST %s",
			 h->srv->node != NULL && h->srv->node[0] != '\0'
				 ? h->srv->node
				 : "tenfourd",
			 tf_route_name(r->rd->route));
		a.agency = r->caller->session.agency;
		a.user = r->caller->user.id;
		a.role = "admin";
		a.source = r->source;
		a.where = where;
		a.device = r->caller->device.id;
		if (r->rd->route == TF_ROUTE_ADMIN_DEVICE_REVOKE)
			rc = tf_admin_device_revoke(h->srv, &a, r->seg[0], now,
						    err);
		else if (r->rd->route == TF_ROUTE_ADMIN_USER_RELEASE)
			rc = tf_admin_user_release(h->srv, &a, r->seg[0], now,
						   err);
		else
			rc = tf_admin_sessions_revoke(h->srv, &a, r->seg[0],
						      now, &n, err);
		if (rc == 0 &&
		    r->rd->route == TF_ROUTE_ADMIN_SESSIONS_REVOKE)
			tf_buf_printf(out, "{\"ok\":true,\"revoked\":%llu}",
				      (unsigned long long)n);
		else if (rc == 0)
			tf_buf_puts(out, "{\"ok\":true}");
		break;
	}
	}
	r->job_rc = rc;
}

static void *pool_main(void *arg)
{
	tf_http *h = arg;

	pthread_mutex_lock(&h->pool_lock);
	for (;;) {
		struct req *r;
		struct MHD_Connection *conn;

		while (h->jobs == NULL && !h->pool_quit)
			pthread_cond_wait(&h->pool_cond, &h->pool_lock);
		if (h->jobs == NULL)
			break;
		r = h->jobs;
		h->jobs = r->job_next;
		if (h->jobs == NULL)
			h->jobs_tail = NULL;
		pthread_mutex_unlock(&h->pool_lock);
		run_job(h, r);
		r->job_done = 1;
		conn = r->conn;
		/* r belongs to the connection again from here on. */
		MHD_resume_connection(conn);
		pthread_mutex_lock(&h->pool_lock);
	}
	pthread_mutex_unlock(&h->pool_lock);
	return NULL;
}

/* The answer of a finished job. */
static enum MHD_Result answer_job(struct MHD_Connection *conn, struct req *r)
{
	if (r->rd->route == TF_ROUTE_PULL)
		return pull_round_done(r->h, conn, r);
	if (r->job_rc < 0) {
		tf_buf_free(&r->job_out);
		return respond_error(conn, r, r->job_rc, &r->job_err);
	}
	if (r->rd->route == TF_ROUTE_AUDIT_EXPORT)
		return respond(conn, r, MHD_HTTP_OK, "application/x-ndjson",
			       &r->job_out, NULL);
	return respond_json(conn, r, MHD_HTTP_OK, &r->job_out);
}

/*
 * Suspends conn and queues r for the pool (suspended first: the pool
 * may resume it at once).  Once the pool stopped (late in a shutdown),
 * runs the service here instead.
 */
static enum MHD_Result offload(tf_http *h, struct MHD_Connection *conn,
			       struct req *r)
{
	tf_buf_init(&r->job_out);
	memset(&r->job_err, 0, sizeof r->job_err);
	r->conn = conn;
	pthread_mutex_lock(&h->pool_lock);
	if (h->pool_quit || h->nthreads == 0) {
		pthread_mutex_unlock(&h->pool_lock);
		run_job(h, r);
		r->job_done = 1;
		return answer_job(conn, r);
	}
	r->job_done = 0;
	MHD_suspend_connection(conn);
	r->job_next = NULL;
	if (h->jobs_tail != NULL)
		h->jobs_tail->job_next = r;
	else
		h->jobs = r;
	h->jobs_tail = r;
	pthread_cond_signal(&h->pool_cond);
	pthread_mutex_unlock(&h->pool_lock);
	return MHD_YES;
}

/*
 * A pull round came back from the pool (on the MHD worker, in the access
 * handler, where a connection may be suspended): answers the page, or,
 * when it is empty and the request long-polls, waits for a poke or the
 * deadline (events.c suspends the connection; the wake comes back
 * through do_pull, which authenticates again and runs the next round).
 * At most 4 rounds: a change announced between a pull and the wait
 * makes the next pull see it.
 */
static enum MHD_Result pull_round_done(tf_http *h, struct MHD_Connection *conn,
				       struct req *r)
{
	int64_t left;
	tf_err err;
	int rc;

	r->job_done = 0;
	r->pull_rounds++;
	if (r->job_rc < 0) {
		tf_buf_free(&r->job_out);
		return respond_error(conn, r, r->job_rc, &r->job_err);
	}
	left = (r->deadline_us - mono_us()) / 1000;
	if (!r->pull_empty || r->waited || r->wait_s == 0 || left <= 0 ||
	    r->pull_rounds >= 4 || atomic_load(&h->stopping))
		return respond_json(conn, r, MHD_HTTP_OK, &r->job_out);
	tf_buf_free(&r->job_out);
	memset(&err, 0, sizeof err);
	rc = tf_events_wait(h->ev, conn, r->caller->session.agency,
			    r->caller->session.token_hash, r->pull_head, left,
			    &r->waiter, &err);
	if (rc < 0)
		return respond_error(conn, r, rc, &err);
	if (rc == 1)
		return MHD_YES; /* suspended until a poke or the deadline */
	return offload(h, conn, r);
}

struct refusal {
	tf_audit_event ev;
};

static int refusal_fn(tf_db_txn *t, void *arg, tf_err *err)
{
	return tf_srv_audit(t, &((struct refusal *)arg)->ev, err);
}

/*
 * AU-2: an admin endpoint refused for want of the admin role is audited
 * as a failed attempt (device_revoke for a device revocation, else
 * permission_change), in the caller's agency's chain, detail
 * {"reason":"role"}.  Runs on the MHD worker: the write is one small
 * group-committed entry, and only callers without the role reach it.
 */
static int audit_refusal(tf_http *h, struct req *r, int64_t now, tf_err *err)
{
	const tf_srv_caller *c = r->caller;
	struct refusal f;
	tf_json *detail = NULL;
	char where[96];
	int rc;

	memset(&f, 0, sizeof f);
	snprintf(where, sizeof where, "%s POST %s",
		 h->srv->node != NULL && h->srv->node[0] != '\0'
			 ? h->srv->node
			 : "tenfourd",
		 tf_route_name(r->rd->route));
	f.ev.ts_ms = now;
	f.ev.type = r->rd->route == TF_ROUTE_ADMIN_DEVICE_REVOKE
			    ? TF_AUDIT_DEVICE_REVOKE
			    : TF_AUDIT_PERMISSION_CHANGE;
	f.ev.success = 0;
	f.ev.user = c->user.id;
	f.ev.device = c->device.id;
	f.ev.role = c->user.nroles > 0 ? c->user.roles[0] : NULL;
	f.ev.agency = c->session.agency;
	f.ev.source = r->source;
	f.ev.where = where;
	if (tf_id_valid(r->seg[0], strlen(r->seg[0])))
		f.ev.target = r->seg[0];
	rc = tf_json_parse("{\"reason\":\"role\"}", 17, NULL, &detail, err);
	f.ev.detail = detail;
	if (rc == 0)
		rc = tf_db_write(h->srv->db, refusal_fn, &f, err);
	tf_json_free(detail);
	return rc;
}

/* The final access-handler call: the whole request is here. */
static enum MHD_Result dispatch(tf_http *h, struct MHD_Connection *conn,
				struct req *r)
{
	const struct route_def *rd = r->rd;
	int64_t now = tf_http_now_ms();
	struct query q;
	tf_err err;
	tf_buf out;
	const char *s;
	uint64_t v;
	int rc = 0;

	if (r->job_done)
		return answer_job(conn, r);
	memset(&err, 0, sizeof err);
	if (r->too_big)
		return refuse(conn, r, TF_ELIMIT, "body",
			      "body: larger than %zu bytes", r->limit);
	if (rd->session) {
		rc = authenticate(h, conn, r, now, &err);
		if (rc < 0)
			return respond_error(conn, r, rc, &err);
	}
	memset(&q, 0, sizeof q);
	q.allowed = rd->params;
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, query_iter, &q);
	if (q.bad != NULL)
		return refuse(conn, r, TF_EINVAL, q.bad,
			      "%.64s: unknown or repeated query parameter",
			      q.bad);
	if (q.too_many)
		return refuse(conn, r, TF_ELIMIT, "query",
			      "query: more than %d parameters",
			      MAX_QUERY_ARGS);
	switch (rd->route) {
	case TF_ROUTE_PULL:
		return do_pull(h, conn, r, &q);
	case TF_ROUTE_EVENTS:
		return do_events(h, conn, r);
	case TF_ROUTE_AUDIT_EXPORT:
		r->export_from = 1;
		r->export_limit = EXPORT_DEFAULT_LIMIT;
		s = query_get(&q, "from");
		if (s != NULL && parse_u64(s, 0, INT64_MAX, &r->export_from) < 0)
			return refuse(conn, r, TF_ERANGE, "from",
				      "from: must be a non-negative integer "
				      "(an audit seq)");
		s = query_get(&q, "limit");
		if (s != NULL) {
			if (parse_u64(s, 1, EXPORT_MAX_LIMIT, &v) < 0)
				return refuse(conn, r, TF_ERANGE, "limit",
					      "limit: must be an integer from "
					      "1 to %d",
					      EXPORT_MAX_LIMIT);
			r->export_limit = (size_t)v;
		}
		break;
	case TF_ROUTE_ADMIN_DEVICE_REVOKE:
	case TF_ROUTE_ADMIN_USER_RELEASE:
	case TF_ROUTE_ADMIN_SESSIONS_REVOKE:
		if (!tf_acl_has_role(r->caller, "admin")) {
			rc = audit_refusal(h, r, now, &err);
			if (rc < 0)
				return respond_error(conn, r, rc, &err);
			return refuse(conn, r, TF_EPERM, "role",
				      "role: the admin role is required");
		}
		if (!tf_id_valid(r->seg[0], strlen(r->seg[0])))
			return refuse(conn, r, TF_EINVAL, "id",
				      "id: must match [A-Za-z0-9._@-]{1,64}");
		break;
	default:
		break;
	}
	if (offloaded(rd->route))
		return offload(h, conn, r);
	tf_buf_init(&out);
	switch (rd->route) {
	case TF_ROUTE_HEALTHZ:
		if (atomic_load(&h->stopping)) {
			tf_buf_puts(&out, "{\"status\":\"stopping\"}");
			return respond_json(conn, r,
					    MHD_HTTP_SERVICE_UNAVAILABLE, &out);
		}
		tf_buf_puts(&out, "{\"status\":\"ok\"}");
		break;
	case TF_ROUTE_METRICS:
		if (!h->cfg.metrics || !metrics_allowed(h, r->source)) {
			tf_buf_free(&out);
			return refuse(conn, r, TF_ENOTFOUND, "path",
				      "path: no such endpoint");
		}
		tf_metrics_render(h->metrics, h->srv->db, now, &out);
		return respond(conn, r, MHD_HTTP_OK,
			       "text/plain; version=0.0.4; charset=utf-8", &out,
			       NULL);
	case TF_ROUTE_KEYS:
		rc = tf_srv_keys(h->srv, &out, &err);
		break;
	case TF_ROUTE_BANNER:
		s = query_get(&q, "agency");
		if (s == NULL || !tf_id_valid(s, strlen(s))) {
			tf_buf_free(&out);
			if (s == NULL)
				return refuse(conn, r, TF_EMISSING, "agency",
					      "agency: required");
			return refuse(conn, r, TF_EINVAL, "agency",
				      "agency: must match "
				      "[A-Za-z0-9._@-]{1,64}");
		}
		rc = tf_auth_banner(h->srv, s, &out, &err);
		break;
	default:
		rc = tf_err_set(&err, TF_EIO, "path", "no handler for %s",
				r->path);
		break;
	}
	if (rc < 0) {
		tf_buf_free(&out);
		return respond_error(conn, r, rc, &err);
	}
	return respond_json(conn, r, MHD_HTTP_OK, &out);
}

/*
 * The first access-handler call: route, method, Content-Length.  Returns
 * MHD_YES to go on reading (r->answered is set when it already answered).
 */
static enum MHD_Result first_call(tf_http *h, struct MHD_Connection *conn,
				  struct req *r, const char *url,
				  const char *method)
{
	const struct route_def *path_match = NULL;
	const char *cl;
	uint64_t n;

	peer_source(h, conn, r->source, sizeof r->source);
	snprintf(r->method, sizeof r->method, "%s", method);
	snprintf(r->path, sizeof r->path, "%s", url);
	for (size_t i = 0; i < NROUTES; i++) {
		if (!match(routes[i].pattern, url, r->seg))
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			r->rd = &routes[i];
			break;
		}
		path_match = &routes[i];
	}
	if (r->rd == NULL && path_match == NULL)
		return refuse(conn, r, TF_ENOTFOUND, "path",
			      "path: no such endpoint");
	if (r->rd == NULL) {
		char msg[64];

		snprintf(msg, sizeof msg, "method: %s only", path_match->method);
		return respond_error_status(conn, r,
					    MHD_HTTP_METHOD_NOT_ALLOWED,
					    "method_not_allowed", "method", msg,
					    0, path_match->method);
	}
	r->limit = r->rd->big ? TF_SRV_MAX_BODY : TF_SRV_MAX_SMALL_BODY;
	cl = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL && parse_u64(cl, 0, UINT64_MAX / 2, &n) == 0 &&
	    n > r->limit)
		return refuse(conn, r, TF_ELIMIT, "body",
			      "body: %llu bytes, the limit is %zu",
			      (unsigned long long)n, r->limit);
	return MHD_YES;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn,
				      const char *url, const char *method,
				      const char *version,
				      const char *upload_data,
				      size_t *upload_data_size, void **req_cls)
{
	tf_http *h = cls;
	struct req *r = *req_cls;

	(void)version;
	if (r == NULL) {
		r = calloc(1, sizeof *r);
		if (r == NULL)
			return MHD_NO;
		r->h = h;
		r->t0_us = mono_us();
		tf_buf_init(&r->body);
		*req_cls = r;
		atomic_fetch_add(&h->active, 1);
		return first_call(h, conn, r, url, method);
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (mono_us() - r->t0_us > (int64_t)BODY_DEADLINE_S * 1000000)
			return MHD_NO; /* a body trickling in: close */
		if (r->answered)
			return MHD_YES;
		if (!r->too_big && r->body.len + n <= r->limit) {
			tf_buf_append(&r->body, upload_data, n);
			if (r->body.failed)
				return MHD_NO;
			return MHD_YES;
		}
		/* Over the limit (a chunked body): drop what came, keep
		   reading to answer 413, but not forever. */
		if (!r->too_big) {
			r->too_big = 1;
			r->discarded = r->body.len;
			tf_buf_free(&r->body);
		}
		r->discarded += n;
		return r->discarded > r->limit + TF_SRV_MAX_BODY ? MHD_NO
								 : MHD_YES;
	}
	if (r->answered)
		return MHD_YES;
	return dispatch(h, conn, r);
}

static void request_completed(void *cls, struct MHD_Connection *conn,
			      void **req_cls,
			      enum MHD_RequestTerminationCode toe)
{
	tf_http *h = cls;
	struct req *r = *req_cls;

	(void)conn;
	if (r == NULL)
		return;
	*req_cls = NULL;
	if (tf_log_enabled(TF_LOG_INFO)) {
		tf_buf f;

		tf_buf_init(&f);
		tf_log_field_str(&f, "method", r->method);
		tf_log_field_str(&f, "path", r->path);
		tf_log_field_int(&f, "status", r->status);
		tf_log_field_int(&f, "ms", (mono_us() - r->t0_us) / 1000);
		tf_log_field_str(&f, "source", r->source);
		if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
			tf_log_field_int(&f, "aborted", (int64_t)toe);
		tf_log_write(TF_LOG_INFO, "request", tf_buf_cstr(&f));
		tf_buf_free(&f);
	}
	tf_events_sse_close(r->sse);
	tf_events_wait_end(r->waiter);
	if (r->caller != NULL) {
		tf_memzero(r->caller, sizeof *r->caller);
		free(r->caller);
	}
	tf_buf_free(&r->body);
	tf_buf_free(&r->job_out);
	free(r);
	atomic_fetch_sub(&h->active, 1);
}

/* -------------------------------------------------------- start, stop */

/*
 * Reads the PEM file of option opt (tls-cert or tls-key) into *out
 * (NUL-terminated, *len bytes; the caller frees, wiping a key).  A key
 * file must not be readable or writable by group or others (the daemon's
 * account alone reads it), and each file must hold the PEM block its
 * option names: errors name the option, the file and what is wrong.
 */
static int read_pem(const char *path, const char *opt, int is_key,
		    char **out, size_t *len, tf_err *err)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	char *buf = NULL;
	size_t n;
	int rc = 0;

	*out = NULL;
	if (f == NULL)
		return tf_err_set(err, TF_EIO, opt, "%s: cannot read %s: %s",
				  opt, path, strerror(errno));
	if (fstat(fileno(f), &st) != 0) {
		rc = tf_err_set(err, TF_EIO, opt, "%s: cannot stat %s: %s",
				opt, path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = tf_err_set(err, TF_EINVAL, opt,
				"%s: %s is not a regular file", opt, path);
		goto out;
	}
	if (is_key && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		rc = tf_err_set(err, TF_EPERM, opt,
				"%s: %s has mode %04o: a private key must not "
				"be accessible to group or others (chmod 600)",
				opt, path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	buf = malloc(TLS_FILE_MAX + 1);
	if (buf == NULL) {
		rc = tf_err_set(err, TF_ENOMEM, opt, "out of memory");
		goto out;
	}
	n = fread(buf, 1, TLS_FILE_MAX + 1, f);
	if (ferror(f) || n == 0 || n > TLS_FILE_MAX) {
		rc = tf_err_set(err, TF_EIO, opt,
				"%s: %s is empty, unreadable or over %zu bytes",
				opt, path, TLS_FILE_MAX);
		goto out;
	}
	buf[n] = '\0';
	if (strlen(buf) != n) {
		rc = tf_err_set(err, TF_EINVAL, opt,
				"%s: %s is not PEM text (a NUL byte)", opt,
				path);
		goto out;
	}
	if (!is_key && strstr(buf, "-----BEGIN CERTIFICATE-----") == NULL) {
		rc = tf_err_set(err, TF_EINVAL, opt,
				"%s: %s holds no PEM certificate "
				"(-----BEGIN CERTIFICATE-----)",
				opt, path);
		goto out;
	}
	if (is_key && strstr(buf, "-----BEGIN ENCRYPTED PRIVATE KEY-----")) {
		rc = tf_err_set(err, TF_EINVAL, opt,
				"%s: %s is an encrypted key; tenfourd needs "
				"it unencrypted (and mode 600)",
				opt, path);
		goto out;
	}
	if (is_key && (strstr(buf, "-----BEGIN ") == NULL ||
		       strstr(buf, "PRIVATE KEY-----") == NULL)) {
		rc = tf_err_set(err, TF_EINVAL, opt,
				"%s: %s holds no PEM private key "
				"(-----BEGIN ... PRIVATE KEY-----)",
				opt, path);
		goto out;
	}
	*out = buf;
	*len = n;
	buf = NULL;
out:
	if (buf != NULL) {
		tf_memzero(buf, TLS_FILE_MAX + 1);
		free(buf);
	}
	fclose(f);
	return rc;
}

/* Raises the descriptor limit to fit the connection limit; returns the
   connection limit that fits. */
static unsigned fit_nofile(unsigned want)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)want + FD_RESERVE;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return want;
	if (rl.rlim_cur < need) {
		struct rlimit nl = rl;

		nl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need
				      ? need
				      : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &nl) == 0)
			rl = nl;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		unsigned fit = rl.rlim_cur > FD_RESERVE + 16
				       ? (unsigned)(rl.rlim_cur - FD_RESERVE)
				       : 16;
		tf_buf f;

		tf_buf_init(&f);
		tf_log_field_int(&f, "wanted", want);
		tf_log_field_int(&f, "max_connections", fit);
		tf_log_write(TF_LOG_WARN,
			     "descriptor limit too low; connection limit "
			     "lowered",
			     tf_buf_cstr(&f));
		tf_buf_free(&f);
		return fit;
	}
	return want;
}

static int write_port_file(const char *path, uint16_t port, tf_err *err)
{
	char tmp[TF_CONFIG_PATH_MAX + 8];
	FILE *f;

	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL)
		return tf_err_set(err, TF_EIO, "port-file",
				  "port-file: cannot write %s: %s", tmp,
				  strerror(errno));
	fprintf(f, "%u\n", (unsigned)port);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return tf_err_set(err, TF_EIO, "port-file",
				  "port-file: cannot write %s: %s", path,
				  strerror(errno));
	}
	return 0;
}

/* Starts up to n pool threads; with none, services run inline. */
static void pool_start(tf_http *h, size_t n)
{
	if (pthread_mutex_init(&h->pool_lock, NULL) != 0)
		return;
	if (pthread_cond_init(&h->pool_cond, NULL) != 0) {
		pthread_mutex_destroy(&h->pool_lock);
		return;
	}
	h->pool_init = 1;
	h->threads = calloc(n, sizeof *h->threads);
	if (h->threads == NULL)
		return;
	while (h->nthreads < n &&
	       pthread_create(&h->threads[h->nthreads], NULL, pool_main, h) ==
		       0)
		h->nthreads++;
}

/* Finishes the queued jobs (each resumes its connection) and joins. */
static void pool_stop(tf_http *h)
{
	if (!h->pool_init)
		return;
	pthread_mutex_lock(&h->pool_lock);
	h->pool_quit = 1;
	pthread_cond_broadcast(&h->pool_cond);
	pthread_mutex_unlock(&h->pool_lock);
	for (size_t i = 0; i < h->nthreads; i++)
		pthread_join(h->threads[i], NULL);
	h->nthreads = 0;
}

static void http_free(tf_http *h)
{
	if (h == NULL)
		return;
	pool_stop(h);
	if (h->pool_init) {
		pthread_cond_destroy(&h->pool_cond);
		pthread_mutex_destroy(&h->pool_lock);
	}
	free(h->threads);
	ip_free(h);
	tf_events_free(h->ev);
	tf_metrics_free(h->metrics);
	free(h->cert);
	if (h->key != NULL) {
		tf_memzero(h->key, h->key_len);
		free(h->key);
	}
	free(h);
}

void tf_http_limits_default(tf_http_limits *l)
{
	memset(l, 0, sizeof *l);
	l->per_ip = TF_HTTP_PER_IP_DEFAULT;
	l->per_session = TF_EVENTS_PER_SESSION;
	l->sse_recheck_ms = TF_EVENTS_RECHECK_MS;
}

void tf_http_limits_config(tf_http_limits *l, const tf_config *cfg)
{
	tf_http_limits_default(l);
	l->per_ip = cfg->max_connections_per_ip;
	snprintf(l->metrics_allow, sizeof l->metrics_allow, "%s",
		 cfg->metrics_allow);
}

int tf_http_start(tf_srv *s, const tf_config *cfg, tf_http **out,
		  tf_err *err)
{
	return tf_http_start_limits(s, cfg, NULL, out, err);
}

int tf_http_start_limits(tf_srv *s, const tf_config *cfg,
			 const tf_http_limits *lim, tf_http **out,
			 tf_err *err)
{
	tf_http *h = calloc(1, sizeof *h);
	const union MHD_DaemonInfo *di;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	unsigned conns;
	size_t certlen = 0;
	int rc;

	*out = NULL;
	if (h == NULL)
		return tf_err_set(err, TF_ENOMEM, "http", "out of memory");
	h->srv = s;
	h->cfg = *cfg;
	if (lim != NULL)
		h->lim = *lim;
	else
		tf_http_limits_config(&h->lim, cfg);
	h->lim.metrics_allow[sizeof h->lim.metrics_allow - 1] = '\0';
	h->listen_fd = MHD_INVALID_SOCKET;
	tf_log_set_level(cfg->log_level);
	rc = parse_metrics_allow(h, err);
	if (rc < 0)
		goto fail;
	if (h->lim.per_ip > 0) {
		if (pthread_mutex_init(&h->ip_lock, NULL) != 0) {
			rc = tf_err_set(err, TF_EIO, "http", "mutex init failed");
			goto fail;
		}
		h->ip_init = 1;
		/* An array of bucket pointers: sizeof a pointer is meant. */
		/* NOLINTNEXTLINE(bugprone-sizeof-expression) */
		h->ip_tab = calloc(IP_BUCKETS, sizeof h->ip_tab[0]);
		if (h->ip_tab == NULL) {
			rc = tf_err_set(err, TF_ENOMEM, "http", "out of memory");
			goto fail;
		}
	}
	if (tf_metrics_new(&h->metrics) < 0) {
		rc = tf_err_set(err, TF_ENOMEM, "http", "out of memory");
		goto fail;
	}
	rc = tf_events_new(s, h->metrics, cfg->sse_heartbeat_s, &h->ev, err);
	if (rc < 0)
		goto fail;
	tf_events_set_limits(h->ev, h->lim.per_session, h->lim.sse_recheck_ms);
	if (cfg->tls_cert[0] != '\0') {
		rc = read_pem(cfg->tls_cert, "tls-cert", 0, &h->cert,
			      &certlen, err);
		if (rc == 0)
			rc = read_pem(cfg->tls_key, "tls-key", 1, &h->key,
				      &h->key_len, err);
		if (rc < 0)
			goto fail;
		flags |= MHD_USE_TLS;
	}
	if (cfg->listen_addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	conns = fit_nofile(cfg->max_connections);
	pool_start(h, cfg->threads * 2 < POOL_MIN ? POOL_MIN
			: cfg->threads * 2 > POOL_MAX ? POOL_MAX
						      : cfg->threads * 2);
	s->notify = tf_events_notify;
	s->notify_arg = h->ev;
	{
		struct MHD_OptionItem o[] = {
			{MHD_OPTION_SOCK_ADDR, 0, (void *)&h->cfg.listen_addr},
			{MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)cfg->threads,
			 NULL},
			{MHD_OPTION_CONNECTION_LIMIT, (intptr_t)conns, NULL},
			{MHD_OPTION_NOTIFY_CONNECTION,
			 (intptr_t)(void *)notify_connection, h},
			{MHD_OPTION_CONNECTION_TIMEOUT, CONN_TIMEOUT_S, NULL},
			{MHD_OPTION_CONNECTION_MEMORY_LIMIT,
			 (intptr_t)CONN_POOL_BYTES, NULL},
			{MHD_OPTION_CONNECTION_MEMORY_INCREMENT,
			 (intptr_t)CONN_POOL_INCREMENT, NULL},
			{MHD_OPTION_NOTIFY_COMPLETED,
			 (intptr_t)(void *)request_completed, h},
			/* TLS last: cut off by MHD_OPTION_END without it */
			{h->cert != NULL ? MHD_OPTION_HTTPS_MEM_CERT
					 : MHD_OPTION_END,
			 0, h->cert},
			{MHD_OPTION_HTTPS_MEM_KEY, 0, h->key},
			{MHD_OPTION_END, 0, NULL},
		};

		/* The logger first, so MHD logs nothing on its own. */
		h->start_thread = pthread_self();
		atomic_store(&h->starting, 1);
		h->d = MHD_start_daemon(flags, 0, ip_policy, h, access_handler,
					h, MHD_OPTION_EXTERNAL_LOGGER,
					mhd_logger, h, MHD_OPTION_ARRAY, o,
					MHD_OPTION_END);
		atomic_store(&h->starting, 0);
	}
	if (h->d == NULL) {
		s->notify = NULL;
		s->notify_arg = NULL;
		/* GnuTLS parses the PEM blocks and pairs key and certificate
		   here: its complaint (the logger kept it) names the cause. */
		if (h->cert != NULL && strstr(h->start_log, "TLS") != NULL)
			rc = tf_err_set(err, TF_EINVAL, "tls-key",
					"tls-cert, tls-key: GnuTLS refused %s "
					"with %s (%s): a damaged PEM block, "
					"an unsupported key type, or a key "
					"that is not the certificate's",
					cfg->tls_cert, cfg->tls_key,
					h->start_log);
		else
			rc = tf_err_set(err, TF_EIO, "listen",
					"listen: cannot serve on %s (%s)",
					cfg->listen,
					h->start_log[0] != '\0'
						? h->start_log
						: "address in use or not local");
		goto fail;
	}
	di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = di != NULL ? di->port : 0;
	if (cfg->port_file[0] != '\0') {
		rc = write_port_file(cfg->port_file, h->port, err);
		if (rc < 0) {
			tf_http_stop(h);
			return rc;
		}
	}
	*out = h;
	return 0;
fail:
	http_free(h);
	return rc;
}

uint16_t tf_http_port(const tf_http *h)
{
	return h->port;
}

void tf_http_live_counts(tf_http *h, size_t *streams, size_t *waiters)
{
	tf_events_counts(h->ev, streams, waiters);
}

void tf_http_quiesce(tf_http *h)
{
	if (atomic_exchange(&h->quiesced, 1))
		return;
	atomic_store(&h->stopping, 1);
	h->listen_fd = MHD_quiesce_daemon(h->d);
	/* Refuse queued and new connects at once (the descriptor itself
	   stays open until the daemon has stopped, as MHD asks). */
	if (h->listen_fd != MHD_INVALID_SOCKET)
		shutdown(h->listen_fd, SHUT_RDWR);
	tf_events_shutdown(h->ev);
}

void tf_http_stop(tf_http *h)
{
	struct timespec nap = {0, 10 * 1000000L};

	if (h == NULL)
		return;
	tf_http_quiesce(h);
	/* Let requests in flight finish and their answers leave. */
	for (int i = 0; i < DRAIN_MS / 10 && atomic_load(&h->active) > 0; i++)
		nanosleep(&nap, NULL);
	/* Nothing may be suspended when the daemon stops: the pool ends
	   its jobs (resuming their connections), events wake anything that
	   slipped in (tf_events_shutdown is idempotent), and what was just
	   resumed gets a moment to answer. */
	pool_stop(h);
	tf_events_shutdown(h->ev);
	for (int i = 0; i < 100 && atomic_load(&h->active) > 0; i++)
		nanosleep(&nap, NULL);
	MHD_stop_daemon(h->d);
	if (h->listen_fd != MHD_INVALID_SOCKET)
		close(h->listen_fd);
	if (h->srv->notify_arg == h->ev) {
		h->srv->notify = NULL;
		h->srv->notify_arg = NULL;
	}
	http_free(h);
}

/*
 * http.c - the native client's libcurl transport: requests with bounded
 * replies, error replies to TF_E* codes, the event-stream reader.
 * Contract: http.h; endpoints: docs/API.md.
 */
#define _DEFAULT_SOURCE

#include "client/http.h"

#include <assert.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "tenfour/json.h"

#define HTTP_DEFAULT_TIMEOUT_MS 30000L
#define HTTP_MAX_TIMEOUT_MS 600000L
#define HTTP_CONNECT_TIMEOUT_MS 10000L
/* Bytes of a server error message quoted into a tf_err. */
#define HTTP_QUOTE_MAX 120
/* Bytes kept of an event stream's error reply. */
#define HTTP_ERRBODY_MAX ((size_t)64 * 1024)

struct tf_http {
	char base[TF_HTTP_BASE_MAX + 1];
	char *ca_file; /* owned, NULL: the system's trust */
	long timeout_ms;
	int loopback; /* never through a proxy */
	CURL *curl;   /* kept between requests: keep-alive */
};

static pthread_once_t http_once = PTHREAD_ONCE_INIT;
static CURLcode http_global_rc = CURLE_FAILED_INIT;

/* The fault hook: countdown of requests (0 off) and where it strikes. */
static atomic_long fault_countdown;
static atomic_int fault_after_reply;

static void http_global_init(void)
{
	http_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void tf_http_fault_after(long nth, int after_reply)
{
	atomic_store(&fault_after_reply, after_reply ? 1 : 0);
	atomic_store(&fault_countdown, nth > 0 ? nth : 0);
}

/* 1 when this request is the one the fault hook picked. */
static int fault_strikes(void)
{
	long n = atomic_load(&fault_countdown);

	while (n > 0) {
		if (atomic_compare_exchange_weak(&fault_countdown, &n, n - 1))
			return n == 1;
	}
	return 0;
}

/* A header value must be printable ASCII: no CR/LF smuggling. */
static int header_value_ok(const char *v)
{
	size_t n = 0;

	for (; v[n]; n++) {
		unsigned char ch = (unsigned char)v[n];
		if (ch < 0x20 || ch > 0x7e || n >= TF_HTTP_HEADER_VALUE_MAX)
			return 0;
	}
	return 1;
}

static int url_text_ok(const char *s, size_t max)
{
	size_t n = 0;

	for (; s[n]; n++) {
		unsigned char ch = (unsigned char)s[n];
		if (ch <= 0x20 || ch > 0x7e || n >= max)
			return 0;
	}
	return n > 0;
}

/* Whether the URL's host is a loopback name or address. */
static int host_is_loopback(const char *url)
{
	static const char *const hosts[] = {"localhost", "127.", "[::1]"};
	const char *p = strstr(url, "://");
	size_t i;

	if (p == NULL)
		return 0;
	p += 3;
	for (i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
		size_t n = strlen(hosts[i]);
		if (strncmp(p, hosts[i], n) != 0)
			continue;
		/* "localhost" must end there; "127." is a prefix. */
		if (hosts[i][n - 1] == '.' || p[n] == '\0' || p[n] == ':' ||
		    p[n] == '/')
			return 1;
	}
	return 0;
}

int tf_http_new(const char *base_url, const char *ca_file, long timeout_ms,
		tf_http **out, tf_err *err)
{
	tf_http *h = NULL;
	size_t n;
	int rc = 0;

	assert(out);
	*out = NULL;
	pthread_once(&http_once, http_global_init);
	if (http_global_rc != CURLE_OK)
		return tf_err_set(err, TF_ENOMEM, "libcurl",
				  "libcurl: global init failed: %s",
				  curl_easy_strerror(http_global_rc));
	if (base_url == NULL || !url_text_ok(base_url, TF_HTTP_BASE_MAX) ||
	    (strncmp(base_url, "http://", 7) != 0 &&
	     strncmp(base_url, "https://", 8) != 0))
		return tf_err_set(err, TF_EINVAL, "server_url",
				  "server_url: not an http:// or https:// URL "
				  "of at most %d printable bytes",
				  TF_HTTP_BASE_MAX);
	if (timeout_ms < 0 || timeout_ms > HTTP_MAX_TIMEOUT_MS)
		return tf_err_set(err, TF_EINVAL, "timeout_ms",
				  "timeout_ms: %ld is outside 0..%ld", timeout_ms,
				  HTTP_MAX_TIMEOUT_MS);
	h = calloc(1, sizeof *h);
	if (h == NULL)
		return tf_err_set(err, TF_ENOMEM, "http", "http: out of memory");
	n = strlen(base_url);
	while (n > 0 && base_url[n - 1] == '/')
		n--;
	memcpy(h->base, base_url, n);
	h->base[n] = '\0';
	h->timeout_ms = timeout_ms ? timeout_ms : HTTP_DEFAULT_TIMEOUT_MS;
	h->loopback = host_is_loopback(h->base);
	if (ca_file) {
		h->ca_file = strdup(ca_file);
		if (h->ca_file == NULL) {
			rc = tf_err_set(err, TF_ENOMEM, "http",
					"http: out of memory");
			goto out;
		}
	}
	h->curl = curl_easy_init();
	if (h->curl == NULL)
		rc = tf_err_set(err, TF_ENOMEM, "libcurl",
				"libcurl: cannot make a handle");
out:
	if (rc) {
		tf_http_free(h);
		return rc;
	}
	*out = h;
	return 0;
}

void tf_http_free(tf_http *h)
{
	if (h == NULL)
		return;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	free(h->ca_file);
	free(h);
}

const char *tf_http_base(const tf_http *h)
{
	return h->base;
}

int tf_http_escape(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	assert(s && out && cap > 0);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		int keep = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			   (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
			   ch == '.' || ch == '~';
		if (o + (keep ? 1 : 3) >= cap) {
			out[0] = '\0';
			return TF_ELIMIT;
		}
		if (keep) {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

/* Cleanses every header line (one may hold a token), then frees them. */
static void headers_free(struct curl_slist *hl)
{
	struct curl_slist *p;

	for (p = hl; p; p = p->next)
		if (p->data)
			tf_cleanse(p->data, strlen(p->data));
	curl_slist_free_all(hl);
}

/*
 * The request's header list: the session headers and extra (may be
 * NULL).  The line with the token is built in a local buffer and
 * cleansed.  NULL when out of memory or a value is not a header value.
 */
static int headers_make(const char *token, const char *device,
			const char *extra1, const char *extra2,
			struct curl_slist **out, tf_err *err)
{
	char line[TF_HTTP_HEADER_VALUE_MAX + 64];
	const char *extras[2] = {extra1, extra2};
	struct curl_slist *hl = NULL, *t;
	int rc = 0;
	size_t i;

	*out = NULL;
	if ((token && !header_value_ok(token)) ||
	    (device && !header_value_ok(device)))
		return tf_err_set(err, TF_EINVAL, token && !header_value_ok(token)
						  ? "token"
						  : "device",
				  "http: the %s is not a printable header value "
				  "of at most %d bytes",
				  token && !header_value_ok(token) ? "token"
								   : "device",
				  TF_HTTP_HEADER_VALUE_MAX);
	/* No "Expect: 100-continue" round trip before a body. */
	t = curl_slist_append(hl, "Expect:");
	if (t == NULL)
		goto nomem;
	hl = t;
	if (token) {
		snprintf(line, sizeof line, "Authorization: Bearer %s", token);
		t = curl_slist_append(hl, line);
		tf_cleanse(line, sizeof line);
		if (t == NULL)
			goto nomem;
		hl = t;
	}
	if (device) {
		snprintf(line, sizeof line, "X-Tenfour-Device: %s", device);
		t = curl_slist_append(hl, line);
		if (t == NULL)
			goto nomem;
		hl = t;
	}
	for (i = 0; i < 2; i++) {
		if (extras[i] == NULL)
			continue;
		t = curl_slist_append(hl, extras[i]);
		if (t == NULL)
			goto nomem;
		hl = t;
	}
	*out = hl;
	return 0;
nomem:
	headers_free(hl);
	rc = tf_err_set(err, TF_ENOMEM, "http", "http: out of memory");
	return rc;
}

/* The options every exchange shares: URL, protocols, TLS, proxy. */
static int common_opts(tf_http *h, CURL *c, const char *path, tf_err *err)
{
	char url[TF_HTTP_BASE_MAX + TF_HTTP_PATH_MAX + 1];

	if (path == NULL || path[0] != '/' ||
	    !url_text_ok(path, TF_HTTP_PATH_MAX))
		return tf_err_set(err, TF_EINVAL, "path",
				  "http: the path must start with '/' and hold "
				  "at most %d printable bytes",
				  TF_HTTP_PATH_MAX);
	snprintf(url, sizeof url, "%s%s", h->base, path);
	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK)
		return tf_err_set(err, TF_EINVAL, "path",
				  "http: libcurl refused the URL");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			 h->timeout_ms < HTTP_CONNECT_TIMEOUT_MS
				 ? h->timeout_ms
				 : HTTP_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (h->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
	if (h->loopback)
		curl_easy_setopt(c, CURLOPT_PROXY, "");
	return 0;
}

/* Why the transport failed, for err: libcurl's words, no data. */
static int net_fail(CURLcode cc, const char *method, const char *path,
		    tf_err *err)
{
	const char *why;

	switch (cc) {
	case CURLE_COULDNT_CONNECT:
		why = "connection refused or unreachable";
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		why = "host name not resolved";
		break;
	case CURLE_OPERATION_TIMEDOUT:
		why = "timed out";
		break;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		why = "connection reset or closed mid-reply";
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		why = "TLS failed";
		break;
	default:
		why = "transfer failed";
		break;
	}
	return tf_err_set(err, TF_ENET, "http", "%s %.200s: %s (%s)", method,
			  path, why, curl_easy_strerror(cc));
}

/* Body sink for plain requests: bounded by TF_HTTP_BODY_MAX. */
typedef struct body_sink {
	tf_buf *out;
	size_t start; /* out->len before the reply */
	int over;     /* 1 when the limit was hit */
} body_sink;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	body_sink *s = arg;
	size_t len = size * n;

	if (s->out->len - s->start + len > TF_HTTP_BODY_MAX) {
		s->over = 1;
		return 0;
	}
	return tf_buf_append(s->out, p, len) == 0 ? len : 0;
}

int tf_http_request(tf_http *h, const char *method, const char *path,
		    const char *token, const char *device, const char *body,
		    size_t len, long *status, tf_buf *reply, tf_err *err)
{
	struct curl_slist *hl = NULL;
	body_sink sink;
	CURL *c;
	CURLcode cc;
	int rc, strike, after;

	assert(h && method && status && reply);
	c = h->curl;
	sink.out = reply;
	sink.start = reply->len;
	sink.over = 0;
	*status = 0;
	strike = fault_strikes();
	after = atomic_load(&fault_after_reply);
	if (strike && !after)
		return tf_err_set(err, TF_ENET, "http",
				  "%s %.200s: fault injected before sending",
				  method, path ? path : "");
	curl_easy_reset(c);
	rc = common_opts(h, c, path, err);
	if (rc)
		return rc;
	rc = headers_make(token, device,
			  body ? "Content-Type: application/json" : NULL, NULL,
			  &hl, err);
	if (rc)
		return rc;
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(body ? len : 0));
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		if (body) {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t)len);
		}
	}
	cc = curl_easy_perform(c);
	/* The list held the token: cleanse before freeing. */
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	headers_free(hl);
	if (sink.over) {
		reply->len = sink.start;
		return tf_err_set(err, TF_ELIMIT, "http",
				  "%s %.200s: reply over %zu bytes", method, path,
				  TF_HTTP_BODY_MAX);
	}
	if (reply->failed)
		return tf_err_set(err, reply->failed, "http",
				  "%s %.200s: cannot hold the reply", method,
				  path);
	if (cc != CURLE_OK)
		return net_fail(cc, method, path, err);
	if (strike) {
		reply->len = sink.start;
		return tf_err_set(err, TF_ENET, "http",
				  "%s %.200s: fault injected, reply dropped",
				  method, path);
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	tf_buf_cstr(reply);
	return 0;
}

int tf_http_call(tf_http *h, const char *method, const char *path,
		 const char *token, const char *device, const char *body,
		 size_t len, tf_buf *reply, tf_err *err)
{
	size_t start = reply->len;
	long status = 0;
	int rc;

	rc = tf_http_request(h, method, path, token, device, body, len,
			     &status, reply, err);
	if (rc)
		return rc;
	if (status >= 200 && status <= 299)
		return 0;
	return tf_http_error(status, reply->data ? reply->data + start : "",
			     reply->len - start, err);
}

/* The code of an error reply without a usable JSON body. */
static int status_code(long status)
{
	switch (status) {
	case 401:
		return TF_EAUTH;
	case 403:
		return TF_EPERM;
	case 404:
		return TF_ENOTFOUND;
	case 413:
		return TF_ELIMIT;
	case 429:
	case 503:
		return TF_EBUSY;
	case 502:
	case 504:
		return TF_ENET;
	default:
		return status >= 500 && status <= 599 ? TF_EIO : TF_EPROTO;
	}
}

/* Copies at most cap-1 bytes of s (n bytes) replacing control bytes. */
static void quote(char *out, size_t cap, const char *s, size_t n)
{
	size_t i;

	if (n > cap - 1)
		n = cap - 1;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		out[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	out[n] = '\0';
}

int tf_http_error(long status, const char *body, size_t len, tf_err *err)
{
	char code[64] = "", field[80] = "", msg[HTTP_QUOTE_MAX + 1] = "";
	const char *s;
	tf_json *v = NULL;
	const tf_json *w;
	size_t n;
	int rc;

	if (status > 0 && status < 300)
		return tf_err_set(err, TF_EPROTO, "http",
				  "server: unexpected HTTP status %ld", status);
	if (body && len > 0 && tf_json_parse(body, len, NULL, &v, NULL) == 0 &&
	    v->type == TF_JSON_OBJECT &&
	    (s = tf_json_get_str(v, "code", &n)) != NULL) {
		quote(code, sizeof code, s, n);
		if ((s = tf_json_get_str(v, "field", &n)) != NULL)
			quote(field, sizeof field, s, n);
		if ((s = tf_json_get_str(v, "message", &n)) != NULL)
			quote(msg, sizeof msg, s, n);
		w = tf_json_object_get(v, "wipe");
		if ((w && w->type == TF_JSON_TRUE) ||
		    strcmp(code, "device_revoked") == 0)
			rc = TF_EREVOKED;
		else if (strcmp(code, "method_not_allowed") == 0)
			rc = TF_EPROTO;
		else
			rc = tf_errno_from_code(code);
		/* An unknown wire code: the status says more. */
		if (rc == TF_EINVAL && strcmp(code, "invalid_argument") != 0)
			rc = status ? status_code(status) : TF_EPROTO;
	} else {
		rc = status ? status_code(status) : TF_EPROTO;
		quote(msg, sizeof msg, body ? body : "", body ? len : 0);
	}
	tf_json_free(v);
	return tf_err_set(err, rc, field[0] ? field : "http",
			  "server: HTTP %ld %s%s%s%s: %s", status,
			  code[0] ? code : tf_errcode(rc), field[0] ? " (" : "",
			  field, field[0] ? ")" : "", msg);
}

/* ------------------------------------------------------------ events */

/* The event-stream parser's state (text/event-stream, WHATWG rules). */
typedef struct sse_state {
	tf_http_event_fn fn;
	void *ctx;
	volatile int *stop;
	CURL *curl;
	tf_err *err;
	long status;	 /* 0 until the first body byte */
	tf_buf line;	 /* the line being read */
	tf_buf data;	 /* the event's data lines, each + LF */
	tf_buf errbody;	 /* a non-200 reply's body (bounded) */
	char event[65];	 /* the event's type ("" = message) */
	char id[TF_HTTP_SSE_ID_MAX + 1]; /* the last event id */
	int cr;		 /* the previous byte was CR */
	int rc;		 /* a parse error */
	int cb_rc;	 /* on_event's non-zero return */
	int stopped;	 /* *stop seen */
	int open;	 /* the stream answered 200 */
} sse_state;

static int sse_dispatch(sse_state *s)
{
	int rc;

	if (s->data.len == 0) {
		s->event[0] = '\0';
		return 0;
	}
	if (s->data.failed)
		return tf_err_set(s->err, TF_ENOMEM, "events",
				  "events: out of memory");
	/* The last data line's LF goes. */
	s->data.data[--s->data.len] = '\0';
	rc = s->fn(s->ctx, s->event[0] ? s->event : "message", s->id,
		   s->data.len ? s->data.data : "");
	tf_buf_reset(&s->data);
	s->event[0] = '\0';
	if (rc)
		s->cb_rc = rc;
	return 0;
}

static int sse_line(sse_state *s, const char *p, size_t n)
{
	const char *colon, *val;
	size_t flen, vlen;

	if (n == 0)
		return sse_dispatch(s);
	if (p[0] == ':')
		return 0; /* a comment: ": ok", ": hb" */
	colon = memchr(p, ':', n);
	if (colon) {
		flen = (size_t)(colon - p);
		val = colon + 1;
		vlen = n - flen - 1;
		if (vlen && *val == ' ') {
			val++;
			vlen--;
		}
	} else {
		flen = n;
		val = p + n;
		vlen = 0;
	}
	if (flen == 5 && memcmp(p, "event", 5) == 0) {
		if (vlen >= sizeof s->event)
			return tf_err_set(s->err, TF_ELIMIT, "events",
					  "events: an event type over %zu bytes",
					  sizeof s->event - 1);
		memcpy(s->event, val, vlen);
		s->event[vlen] = '\0';
	} else if (flen == 4 && memcmp(p, "data", 4) == 0) {
		if (s->data.len + vlen + 1 > TF_HTTP_SSE_DATA_MAX)
			return tf_err_set(s->err, TF_ELIMIT, "events",
					  "events: an event's data over %zu "
					  "bytes",
					  TF_HTTP_SSE_DATA_MAX);
		tf_buf_append(&s->data, val, vlen);
		tf_buf_putc(&s->data, '\n');
	} else if (flen == 2 && memcmp(p, "id", 2) == 0) {
		if (vlen > TF_HTTP_SSE_ID_MAX)
			return tf_err_set(s->err, TF_ELIMIT, "events",
					  "events: an event id over %d bytes",
					  TF_HTTP_SSE_ID_MAX);
		memcpy(s->id, val, vlen);
		s->id[vlen] = '\0';
	}
	/* "retry" and unknown fields are ignored, as the rules say. */
	return 0;
}

/* Feeds received bytes through the line splitter (LF, CR or CRLF). */
static int sse_feed(sse_state *s, const char *p, size_t n)
{
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		char ch = p[i];

		if (s->cr) {
			s->cr = 0;
			if (ch == '\n')
				continue;
		}
		if (ch == '\r' || ch == '\n') {
			s->cr = ch == '\r';
			tf_buf_cstr(&s->line);
			rc = sse_line(s, s->line.data ? s->line.data : "",
				      s->line.len);
			tf_buf_reset(&s->line);
			if (rc)
				return rc;
			if (s->cb_rc)
				return 0;
			if (s->stop && *s->stop) {
				s->stopped = 1;
				return 0;
			}
			continue;
		}
		if (ch == '\0')
			return tf_err_set(s->err, TF_EPROTO, "events",
					  "events: a NUL byte in the stream");
		if (s->line.len >= TF_HTTP_SSE_LINE_MAX)
			return tf_err_set(s->err, TF_ELIMIT, "events",
					  "events: a line over %zu bytes",
					  TF_HTTP_SSE_LINE_MAX);
		if (tf_buf_putc(&s->line, ch) != 0)
			return tf_err_set(s->err, TF_ENOMEM, "events",
					  "events: out of memory");
	}
	return 0;
}

static size_t sse_write(char *p, size_t size, size_t n, void *arg)
{
	sse_state *s = arg;
	size_t len = size * n;

	if (s->status == 0)
		curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
	if (s->status != 200) {
		/* An error reply: keep its head for tf_http_error. */
		if (s->errbody.len < HTTP_ERRBODY_MAX)
			tf_buf_append(&s->errbody, p,
				      len < HTTP_ERRBODY_MAX - s->errbody.len
					      ? len
					      : HTTP_ERRBODY_MAX -
							s->errbody.len);
		return len;
	}
	s->open = 1;
	if (s->stop && *s->stop) {
		s->stopped = 1;
		return 0;
	}
	s->rc = sse_feed(s, p, len);
	if (s->rc || s->cb_rc || s->stopped)
		return 0; /* ends the transfer (CURLE_WRITE_ERROR) */
	return len;
}

/* Called about once a second even when idle: the stop flag. */
static int sse_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
			curl_off_t ultotal, curl_off_t ulnow)
{
	sse_state *s = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (s->stop && *s->stop) {
		s->stopped = 1;
		return 1;
	}
	return 0;
}

int tf_http_events(tf_http *h, const char *path, const char *token,
		   const char *device, const char *last_event_id,
		   tf_http_event_fn on_event, void *ctx, volatile int *stop,
		   int64_t max_ms, tf_err *err)
{
	char lei[TF_HTTP_SSE_ID_MAX + 32];
	struct curl_slist *hl = NULL;
	curl_off_t total_us = 0;
	sse_state s;
	CURLcode cc;
	CURL *c = NULL;
	long status = 0;
	int rc;

	assert(h && on_event);
	memset(&s, 0, sizeof s);
	tf_buf_init(&s.line);
	tf_buf_init(&s.data);
	tf_buf_init(&s.errbody);
	s.fn = on_event;
	s.ctx = ctx;
	s.stop = stop;
	s.err = err;
	if (stop && *stop)
		return 0;
	if (max_ms < 0)
		return tf_err_set(err, TF_EINVAL, "max_ms",
				  "events: max_ms %lld is negative",
				  (long long)max_ms);
	lei[0] = '\0';
	if (last_event_id && last_event_id[0]) {
		if (strlen(last_event_id) > TF_HTTP_SSE_ID_MAX ||
		    !header_value_ok(last_event_id))
			return tf_err_set(err, TF_EINVAL, "last_event_id",
					  "events: the last event id is not a "
					  "printable value of at most %d bytes",
					  TF_HTTP_SSE_ID_MAX);
		snprintf(lei, sizeof lei, "Last-Event-ID: %s", last_event_id);
		snprintf(s.id, sizeof s.id, "%s", last_event_id);
	}
	c = curl_easy_init();
	if (c == NULL) {
		rc = tf_err_set(err, TF_ENOMEM, "libcurl",
				"libcurl: cannot make a handle");
		goto out;
	}
	s.curl = c;
	rc = common_opts(h, c, path, err);
	if (rc)
		goto out;
	rc = headers_make(token, device, "Accept: text/event-stream",
			  lei[0] ? lei : NULL, &hl, err);
	if (rc)
		goto out;
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sse_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, sse_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, &s);
	/* A silent stream is dead: less than a byte a second for that long. */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, TF_HTTP_SSE_IDLE_S);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
			 max_ms > 0x7fffffffLL ? 0L : (long)max_ms);
	cc = curl_easy_perform(c);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c, CURLINFO_TOTAL_TIME_T, &total_us);
	if (s.cb_rc)
		rc = s.cb_rc;
	else if (s.rc)
		rc = s.rc;
	else if (s.stopped || (stop && *stop) ||
		 (status < 300 && cc == CURLE_OPERATION_TIMEDOUT &&
		  max_ms > 0 && total_us / 1000 + 50 >= max_ms))
		rc = 0; /* stopped, or max_ms passed */
	else if (status >= 300)
		rc = tf_http_error(status, s.errbody.data, s.errbody.len, err);
	else if (cc == CURLE_OK)
		rc = tf_err_set(err, TF_ENET, "events",
				"events: the server closed the stream");
	else if (cc == CURLE_OPERATION_TIMEDOUT && s.open)
		rc = tf_err_set(err, TF_ENET, "events",
				"events: nothing received for %ld s",
				TF_HTTP_SSE_IDLE_S);
	else
		rc = net_fail(cc, "GET", path, err);
out:
	headers_free(hl);
	if (c)
		curl_easy_cleanup(c);
	tf_buf_free(&s.errbody);
	tf_buf_free(&s.data);
	tf_buf_free(&s.line);
	return rc;
}

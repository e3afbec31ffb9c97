/*
 * http.h - the native client's transport to tenfourd (libcurl): plain
 * requests with a bounded reply, the mapping of the server's error
 * replies {code, message, field} to TF_E* codes, and a reader of the
 * server-sent event stream (GET /v1/sync/events).  The endpoints and
 * their errors are in docs/API.md.
 *
 * Every exchange has a timeout (the one given to tf_http_new), libcurl
 * never raises signals (CURLOPT_NOSIGNAL), only http and https are
 * spoken, redirects are not followed, https verifies the peer and the
 * host (ca_file, or the system's trust) with TLS 1.2 at least.  Bodies,
 * tokens and headers are never logged; the header lines that carried a
 * token are cleansed before they are freed.
 *
 * This file reads no clock: the deadlines are libcurl's own (transfer
 * timeout, low-speed limit).
 *
 * Not thread-safe: one tf_http belongs to one thread at a time (it keeps
 * one libcurl handle so that keep-alive connections are reused between
 * the requests of a sync).  curl_global_init runs once per process.
 */
#ifndef TF_CLIENT_HTTP_H
#define TF_CLIENT_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "tenfour/tenfour.h"

/* Bytes of a reply body; a larger one fails with TF_ELIMIT. */
#define TF_HTTP_BODY_MAX ((size_t)64 * 1024 * 1024)
/* Bytes of the base URL ("https://host:port[/prefix]"). */
#define TF_HTTP_BASE_MAX 512
/* Bytes of a request path with its query string. */
#define TF_HTTP_PATH_MAX 2048
/* Bytes of a token or a device id placed in a header. */
#define TF_HTTP_HEADER_VALUE_MAX 256
/* Event stream bounds: one line, one event's data, the event id. */
#define TF_HTTP_SSE_LINE_MAX ((size_t)64 * 1024)
#define TF_HTTP_SSE_DATA_MAX ((size_t)256 * 1024)
#define TF_HTTP_SSE_ID_MAX 256
/*
 * An event stream silent this long (no byte, not even a heartbeat: the
 * server sends one every 20 s by default) is taken as dead: TF_ENET.
 */
#define TF_HTTP_SSE_IDLE_S 65L

typedef struct tf_http tf_http;

/*
 * Makes a transport to base_url ("http://host:port" or "https://...",
 * an optional path prefix, no trailing slash needed; at most
 * TF_HTTP_BASE_MAX bytes, no spaces or control characters).  ca_file
 * (may be NULL: the system's trust) is the PEM bundle that verifies an
 * https server.  timeout_ms bounds each exchange (0: 30 s; at most
 * 10 min).  A loopback base URL never goes through a proxy; others honour
 * the environment's proxy settings.  Errors: TF_EINVAL (bad URL or
 * timeout, naming which), TF_ENOMEM.
 */
int tf_http_new(const char *base_url, const char *ca_file, long timeout_ms,
		tf_http **out, tf_err *err);
/* Closes the connections and frees; NULL is fine. */
void tf_http_free(tf_http *h);
/* The base URL as given (without a trailing slash).  Borrowed. */
const char *tf_http_base(const tf_http *h);

/*
 * One exchange: method ("GET", "POST", ...) on base + path (path starts
 * with '/', at most TF_HTTP_PATH_MAX bytes, already escaped).  token
 * (may be NULL) goes in "Authorization: Bearer", device (may be NULL)
 * in "X-Tenfour-Device"; body (may be NULL, len bytes) is sent as
 * application/json.  The reply body is appended to reply (after
 * tf_buf_reset by the caller if wanted), NUL-terminated.
 *
 * Returns 0 when a reply arrived, whatever its status (*status gets it);
 * TF_ENET when the transport failed (refused, unreachable, timed out,
 * reset, TLS failure: err says which, *status 0); TF_ELIMIT for a reply
 * over TF_HTTP_BODY_MAX; TF_EINVAL for a bad path or header value;
 * TF_ENOMEM.
 */
int tf_http_request(tf_http *h, const char *method, const char *path,
		    const char *token, const char *device, const char *body,
		    size_t len, long *status, tf_buf *reply, tf_err *err);

/*
 * tf_http_request, then: 0 for a 2xx status, else the error of the reply
 * (tf_http_error).  reply holds the body either way.
 */
int tf_http_call(tf_http *h, const char *method, const char *path,
		 const char *token, const char *device, const char *body,
		 size_t len, tf_buf *reply, tf_err *err);

/*
 * The TF_E* code of an error reply (status >= 300) and err set to
 * "server: HTTP <status> <code> (<field>): <message>" (bounded; where =
 * the field, else "http").  {code} goes through tf_errno_from_code;
 * "wipe":true, or code device_revoked, is TF_EREVOKED.  Without a JSON
 * error body: 401 TF_EAUTH, 403 TF_EPERM, 404 TF_ENOTFOUND, 413
 * TF_ELIMIT, 429 and 503 TF_EBUSY, 502 and 504 (a proxy that cannot
 * reach the server) TF_ENET, other 5xx TF_EIO, else TF_EPROTO.  A status
 * from 1 to 299 is TF_EPROTO ("unexpected status"); status 0 is an
 * error object that came without a status (an event stream's `end`
 * event).  Never returns 0.
 */
int tf_http_error(long status, const char *body, size_t len, tf_err *err);

/*
 * Percent-encodes s (RFC 3986 unreserved characters kept) into out:
 * TF_ELIMIT when it does not fit in cap bytes with its NUL.
 */
int tf_http_escape(const char *s, char *out, size_t cap);

/*
 * One event of the stream: the event's type ("message" when the event
 * named none), the last event id seen on the stream ("" when none:
 * per the SSE rules it persists from event to event) and the data lines
 * joined with '\n'.  All three are NUL-terminated and valid during the
 * call only.  A non-zero return ends the stream.
 */
typedef int (*tf_http_event_fn)(void *ctx, const char *event, const char *id,
				const char *data);

/*
 * Reads the event stream GET base + path (text/event-stream), with the
 * session headers and "Last-Event-ID: last_event_id" (may be NULL or "";
 * at most TF_HTTP_SSE_ID_MAX bytes), parsing it as it arrives: comments
 * (": ok", ": hb") and unknown fields are skipped, "retry" ignored,
 * lines end in LF, CR or CRLF; a line over TF_HTTP_SSE_LINE_MAX or an
 * event's data over TF_HTTP_SSE_DATA_MAX ends the stream (TF_ELIMIT).
 *
 * Returns:
 *  - on_event's non-zero return, as soon as it returns one (use a
 *    positive value to tell it from the errors below);
 *  - 0 when *stop (may be NULL) became non-zero (checked at least once
 *    a second) or max_ms passed (0: no limit);
 *  - TF_ENET when the connection failed, the stream stayed silent for
 *    TF_HTTP_SSE_IDLE_S or the server closed it;
 *  - the error of a non-200 reply (tf_http_error: TF_EAUTH for an
 *    ended session, TF_EREVOKED, TF_EBUSY for too many streams);
 *  - TF_ELIMIT, TF_EINVAL, TF_ENOMEM.
 */
int tf_http_events(tf_http *h, const char *path, const char *token,
		   const char *device, const char *last_event_id,
		   tf_http_event_fn on_event, void *ctx, volatile int *stop,
		   int64_t max_ms, tf_err *err);

/*
 * Test hook (fault simulation, process-wide, like SQLite's): the nth
 * tf_http_request from now (1 = the next one) on any tf_http fails with
 * TF_ENET; after_reply 0 fails it before anything is sent (the request
 * is lost), 1 after the whole reply arrived (the reply is lost: the
 * server acted on it).  nth 0 turns it off.  Not for production use.
 */
void tf_http_fault_after(long nth, int after_reply);

#endif

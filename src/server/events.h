/*
 * events.h - live pokes for tenfourd: SSE streams (GET /v1/sync/events)
 * and long-poll waiters (GET /v1/sync/pull?wait=N), per agency.
 *
 * Design.  Nothing busy-waits and no thread is parked per client: an idle
 * stream's connection is suspended in libmicrohttpd (MHD_suspend_connection
 * from its content reader, which then returns 0), a waiter's connection is
 * suspended from the access handler.  A poke (tf_events_notify, the
 * tf_srv notify hook sync.c calls after a commit) marks the agency's
 * streams and waiters and resumes their connections; one timer thread
 * marks heartbeats and long-poll deadlines; one sweeper thread re-checks
 * the streams' sessions in the background, in small batches, so a poke
 * goes out without a database lookup.  Per-connection state lives
 * under the agency's mutex, held while suspending; a connection is
 * resumed only by whoever cleared its "suspended" flag under that mutex
 * (a suspended connection cannot be closed, so it is alive until then).
 * A poke resumes its streams after releasing the mutex, so the streams'
 * readers never queue behind the fan-out.
 * Lock order: the registry lock, then an agency's lock, then MHD's own.
 */
#ifndef TF_SERVER_EVENTS_H
#define TF_SERVER_EVENTS_H

#include <microhttpd.h>

#include "server/metrics.h"
#include "server/server.h"

typedef struct tf_events tf_events;
typedef struct tf_sse tf_sse;
typedef struct tf_waiter tf_waiter;

/* Bytes of a Last-Event-ID or cursor the HTTP layer accepts. */
#define TF_EVENTS_CURSOR_MAX 256
/* Defaults of tf_events_set_limits. */
#define TF_EVENTS_PER_SESSION 4    /* SSE streams + long-polls per session */
#define TF_EVENTS_RECHECK_MS 1000  /* a stream's session re-check period */

/*
 * A registry for server s (borrowed) with heartbeats every heartbeat_s
 * seconds (1..60), counting streams in m (may be NULL).  Starts the timer
 * thread.  TF_ENOMEM / TF_EIO (thread) on failure.
 */
int tf_events_new(tf_srv *s, tf_metrics *m, unsigned heartbeat_s,
		  tf_events **out, tf_err *err);

/*
 * Limits (call before the daemon serves): a session (token) holds at most
 * per_session SSE streams and long-poll waits at once (0: no limit).
 * recheck_ms > 0: the sweeper re-checks each stream's session once its
 * last check is recheck_ms old, off the poke path, so a failed session
 * (revoked device, disabled user, expired or revoked session) ends its
 * stream within recheck_ms plus the sweep's pace: a 50 ms grid, up to
 * 250 ms kept off a poke's fan-out, and the checks due at once (~35 us
 * each); under 0.5 s at 5,000 streams on 2 cores, so 1.5 s by default;
 * until then pokes still reach it (a poke carries only a cursor, and
 * every pull authenticates).  recheck_ms 0 (strict): the stream checks
 * its session on its own worker thread before every poke and at every
 * heartbeat, and no sweep runs.
 */
void tf_events_set_limits(tf_events *ev, unsigned per_session,
			  unsigned recheck_ms);

/* The tf_srv_notify_fn: arg is the tf_events.  Call it while the daemon
   runs (sync.c does, from request handlers), not during tf_http_stop. */
void tf_events_notify(void *arg, const char *agency, uint64_t chg);

/*
 * Shutdown, step one: refuses new streams and waits, ends every stream
 * (its content reader ends the body) and wakes every waiter (it answers
 * with a fresh pull), so that no connection stays suspended.  Idempotent.
 */
void tf_events_shutdown(tf_events *ev);
/* Joins the timer thread and frees ev (after the daemon has stopped). */
void tf_events_free(tf_events *ev);

/*
 * Opens an SSE stream on conn for caller c, authenticated with the
 * Authorization and X-Tenfour-Device values (copied: the session is
 * checked again while the stream is open, see tf_events_set_limits;
 * once it fails the stream sends
 * "event: end\ndata: {\"code\",\"field\",\"message\"[,\"wipe\":true]}"
 * and ends, with no poke after the failure).
 * last_event_id (may be NULL): when it names a feed position older than
 * the head, or is no cursor of ours, the first event is a poke.  *resp
 * gets a text/event-stream response (the caller queues and destroys it);
 * *out gets the stream, which tf_events_sse_close must free when the
 * request completes.  TF_EBUSY while shutting down, or (field "session")
 * when the session already holds its limit of streams and waits.
 */
int tf_events_sse_open(tf_events *ev, struct MHD_Connection *conn,
		       const tf_srv_caller *c, const char *authorization,
		       const char *device, const char *last_event_id,
		       struct MHD_Response **resp, tf_sse **out, tf_err *err);
void tf_events_sse_close(tf_sse *s);

/*
 * Long-poll: called from the access handler after a pull came back empty
 * at feed head `seen`, for the session whose token hash is `session`.
 * Returns 1 with conn suspended (and *out set) until a poke of `agency`
 * past `seen` or wait_ms has passed; the handler is then called again
 * and must call tf_events_wait_end, authenticate the session again (it
 * may have been revoked meanwhile) and answer.  Returns 0 (nothing
 * suspended) when a newer change has already been announced, while
 * shutting down, or on ENOMEM: the caller pulls again or answers.
 * TF_EBUSY (err field "session") when the session already holds its
 * limit of streams and waits.
 */
int tf_events_wait(tf_events *ev, struct MHD_Connection *conn,
		   const char *agency, const char *session, uint64_t seen,
		   int64_t wait_ms, tf_waiter **out, tf_err *err);
/* Unlinks and frees a waiter (NULL is fine). */
void tf_events_wait_end(tf_waiter *w);

/* Open SSE streams and queued waiters (for tests and logs). */
void tf_events_counts(tf_events *ev, size_t *streams, size_t *waiters);

#endif

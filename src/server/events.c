/*
 * events.c - SSE pokes and long-poll waits per agency (events.h explains
 * the design: suspended connections, one timer thread, no busy loop).
 * The timer thread also resumes the streams a poke claimed (see
 * tf_events_notify), so a commit's caller does not wait for the fan-out.
 * A sweeper thread re-checks the streams' sessions in the background
 * (see sweep_main), so a poke is delivered without a database lookup.
 *
 * Clocks: deadlines, heartbeats and re-check ages run on CLOCK_MONOTONIC
 * (immune to wall-clock steps); a session check itself takes the
 * wall-clock now_ms from the HTTP layer.
 */
#include "server/events.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/http.h"
#include "tenfour/json.h"

/* Deadlines are rounded up to this grid so the timer wakes at most
   1000 / GRID_MS times a second however many clients wait. */
#define GRID_MS 50
/* Agencies the registry tracks at most (ids come from sessions and
   commits, so this is a guard, not a limit anyone reaches). */
#define MAX_AGENCIES 65536
/* Streams the sweeper takes from an agency at a time: ~35 us of session
   check each, so the agency lock is never held for a check and the
   registry sees the sweeper at least every few milliseconds. */
#define SWEEP_BATCH 32
/* The sweeper keeps off the CPU for this long after a poke's fan-out
   was queued (5,000 streams take tens of ms to write), unless its
   oldest due check is already SWEEP_MAX_LATE_MS late. */
#define SWEEP_QUIET_MS 100
#define SWEEP_MAX_LATE_MS 250

struct agency {
	struct agency *next;
	char id[TF_ID_MAX + 1];
	pthread_mutex_t lock;
	uint64_t last_chg; /* highest change announced for the agency */
	/* Streams in the order of their last session check, oldest first
	   (linked at the tail when opened, moved there when checked). */
	tf_sse *streams, *streams_tail;
	size_t nstreams;
	tf_waiter *waiters;
};

struct tf_sse {
	tf_sse *prev, *next;
	struct agency *ag;
	tf_events *ev;
	struct MHD_Connection *conn;
	tf_srv_caller caller; /* secrets (pwhash, totp) wiped */
	char authz[8 + 2 * TF_SRV_TOKEN_BYTES + 16];
	char device[TF_ID_MAX + 1];
	uint64_t sent_chg; /* last position poked (or known at connect) */
	uint64_t want_chg; /* latest position announced */
	int64_t next_hb;   /* monotonic ms */
	int64_t checked;   /* monotonic ms of the last session check */
	int hb_due, suspended, ending, linked;
	/* The sweeper is checking the session (without the agency lock):
	   tf_events_sse_close then leaves the free to it (orphaned). */
	int pinned, orphaned;
	int strict; /* recheck_ms was 0 at open: checks inline, no sweep */
	tf_buf out; /* pending bytes; freed once drained */
	size_t off;
};

struct tf_waiter {
	tf_waiter *prev, *next;
	struct agency *ag;
	struct MHD_Connection *conn;
	char session[TF_DB_HASH_HEX + 1]; /* the session's token hash */
	uint64_t seen;
	int64_t deadline; /* monotonic ms */
	int linked;
};

/* Connections a poke claimed, for the timer thread to resume. */
struct wake_batch {
	struct wake_batch *next;
	size_t n;
	struct MHD_Connection *conn[];
};

struct tf_events {
	tf_srv *srv;
	tf_metrics *metrics;
	int64_t period_ms;
	unsigned per_session; /* streams + waits per session, 0 = any */
	int64_t recheck_ms;   /* session re-check before a poke */
	pthread_mutex_t lock; /* registry: agencies, stopping, quit */
	pthread_cond_t cond;  /* wakes the timer */
	pthread_t timer;
	pthread_cond_t sweep_cond; /* wakes the sweeper */
	pthread_t sweeper;
	struct agency *agencies;
	size_t nagencies;
	int64_t next_wake; /* monotonic ms the timer sleeps until */
	int64_t fanout_at; /* monotonic ms a poke's fan-out was last queued */
	int stopping, quit;
	/* claimed streams waiting for their resume (under lock) */
	struct wake_batch *batches, *batches_tail;
};

static void sse_free(tf_sse *s);
static void sse_end(tf_sse *s, int rc, const tf_err *err);
static int sse_recheck(const tf_sse *s, tf_srv_caller *c, tf_err *err);

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t grid_up(int64_t t)
{
	return (t + GRID_MS - 1) / GRID_MS * GRID_MS;
}

/* The agency's entry, created on first use; NULL on ENOMEM or past the
   guard.  Entries live as long as the registry. */
static struct agency *agency_get(tf_events *ev, const char *id)
{
	struct agency *a;

	pthread_mutex_lock(&ev->lock);
	for (a = ev->agencies; a != NULL; a = a->next)
		if (strcmp(a->id, id) == 0)
			goto out;
	if (ev->nagencies >= MAX_AGENCIES || strlen(id) > TF_ID_MAX)
		goto out;
	a = calloc(1, sizeof *a);
	if (a == NULL)
		goto out;
	if (pthread_mutex_init(&a->lock, NULL) != 0) {
		free(a);
		a = NULL;
		goto out;
	}
	memcpy(a->id, id, strlen(id) + 1);
	a->next = ev->agencies;
	ev->agencies = a;
	ev->nagencies++;
out:
	pthread_mutex_unlock(&ev->lock);
	return a;
}

/*
 * Caller holds a->lock: the streams and waits the session with token
 * hash `session` holds in agency a (a session belongs to one agency).
 * A linear scan: it runs once per stream or wait opened, and a scan of
 * thousands of entries costs microseconds.
 */
static size_t session_holds(const struct agency *a, const char *session)
{
	size_t n = 0;

	for (const tf_sse *s = a->streams; s != NULL; s = s->next)
		if (strcmp(s->caller.session.token_hash, session) == 0)
			n++;
	for (const tf_waiter *w = a->waiters; w != NULL; w = w->next)
		if (strcmp(w->session, session) == 0)
			n++;
	return n;
}

static int session_full(const tf_events *ev, const struct agency *a,
			const char *session, tf_err *err)
{
	if (ev->per_session == 0 ||
	    session_holds(a, session) < ev->per_session)
		return 0;
	return tf_err_set(err, TF_EBUSY, "session",
			  "session: already holds %u event streams and "
			  "long-polls (the limit); close one first",
			  ev->per_session);
}

/* Caller holds a->lock: links s at the tail (the newest check). */
static void stream_link_tail(struct agency *a, tf_sse *s)
{
	s->next = NULL;
	s->prev = a->streams_tail;
	if (a->streams_tail != NULL)
		a->streams_tail->next = s;
	else
		a->streams = s;
	a->streams_tail = s;
}

/* Caller holds a->lock. */
static void stream_unlink(struct agency *a, tf_sse *s)
{
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		a->streams = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	else
		a->streams_tail = s->prev;
	s->prev = s->next = NULL;
}

/* Caller holds s->ag->lock. */
static void sse_wake(tf_sse *s)
{
	if (s->suspended) {
		s->suspended = 0;
		MHD_resume_connection(s->conn);
	}
}

/* Caller holds w->ag->lock: unlinks and resumes the waiter. */
static void waiter_fire(tf_waiter *w)
{
	struct agency *a = w->ag;

	if (!w->linked)
		return;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		a->waiters = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
	w->linked = 0;
	MHD_resume_connection(w->conn);
}

/*
 * The poke.  Marks the agency's streams and waiters under the agency
 * lock; the streams' suspended connections are claimed there (clearing
 * their flag makes the claimer the only one to resume them, and a
 * suspended connection cannot close) and resumed by the timer thread:
 * libmicrohttpd's resume costs a mutex and an eventfd write each, tens
 * of milliseconds for thousands of streams, which the committing push
 * (the caller) would otherwise wait for before its reply.  Without
 * memory for the batch, the streams are resumed here, under the lock.
 */
void tf_events_notify(void *arg, const char *agency, uint64_t chg)
{
	tf_events *ev = arg;
	struct wake_batch *b = NULL;
	struct agency *a;
	tf_waiter *w, *wn;

	if (ev == NULL || agency == NULL)
		return;
	a = agency_get(ev, agency);
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->lock);
	if (chg > a->last_chg)
		a->last_chg = chg;
	if (a->nstreams > 0) {
		/* An array of connection pointers: sizeof *conn is meant. */
		/* NOLINTNEXTLINE(bugprone-sizeof-expression) */
		b = malloc(sizeof *b + a->nstreams * sizeof b->conn[0]);
		if (b != NULL) {
			b->next = NULL;
			b->n = 0;
		}
	}
	for (tf_sse *s = a->streams; s != NULL; s = s->next) {
		if (chg <= s->want_chg)
			continue;
		s->want_chg = chg;
		if (b == NULL) {
			sse_wake(s);
		} else if (s->suspended) {
			s->suspended = 0;
			b->conn[b->n++] = s->conn;
		}
	}
	for (w = a->waiters; w != NULL; w = wn) {
		wn = w->next;
		if (chg > w->seen)
			waiter_fire(w);
	}
	pthread_mutex_unlock(&a->lock);
	if (b == NULL)
		return;
	if (b->n == 0) {
		free(b);
		return;
	}
	pthread_mutex_lock(&ev->lock);
	if (ev->batches_tail != NULL)
		ev->batches_tail->next = b;
	else
		ev->batches = b;
	ev->batches_tail = b;
	ev->fanout_at = mono_ms();
	pthread_cond_signal(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
}

/* Resumes the queued batches; called with ev->lock held, which it
   releases while resuming. */
static void resume_batches(tf_events *ev)
{
	while (ev->batches != NULL) {
		struct wake_batch *b = ev->batches;

		ev->batches = ev->batches_tail = NULL;
		pthread_mutex_unlock(&ev->lock);
		while (b != NULL) {
			struct wake_batch *next = b->next;

			for (size_t i = 0; i < b->n; i++)
				MHD_resume_connection(b->conn[i]);
			free(b);
			b = next;
		}
		pthread_mutex_lock(&ev->lock);
	}
}

/* One pass: due heartbeats and deadlines; returns the next wake time. */
static int64_t timer_scan(tf_events *ev, int64_t now)
{
	int64_t next = now + 1000;

	for (struct agency *a = ev->agencies; a != NULL; a = a->next) {
		tf_waiter *w, *wn;

		pthread_mutex_lock(&a->lock);
		for (tf_sse *s = a->streams; s != NULL; s = s->next) {
			if (now >= s->next_hb) {
				s->hb_due = 1;
				s->next_hb = grid_up(now + ev->period_ms);
				sse_wake(s);
			}
			if (s->next_hb < next)
				next = s->next_hb;
		}
		for (w = a->waiters; w != NULL; w = wn) {
			wn = w->next;
			if (now >= w->deadline)
				waiter_fire(w);
			else if (w->deadline < next)
				next = w->deadline;
		}
		pthread_mutex_unlock(&a->lock);
	}
	return next;
}

static void *timer_main(void *arg)
{
	tf_events *ev = arg;

	pthread_mutex_lock(&ev->lock);
	while (!ev->quit) {
		int64_t next;
		struct timespec ts;

		resume_batches(ev);
		next = timer_scan(ev, mono_ms());
		ev->next_wake = next;
		ts.tv_sec = (time_t)(next / 1000);
		ts.tv_nsec = (long)(next % 1000) * 1000000L;
		while (!ev->quit && ev->batches == NULL &&
		       mono_ms() < ev->next_wake) {
			int rc = pthread_cond_timedwait(&ev->cond, &ev->lock,
							&ts);

			if (rc == ETIMEDOUT || rc == 0)
				break;
		}
	}
	/* Nothing claimed may stay suspended. */
	resume_batches(ev);
	pthread_mutex_unlock(&ev->lock);
	return NULL;
}

/*
 * One batch of agency a's sweep: takes up to SWEEP_BATCH streams whose
 * last check is recheck_ms old or older from the head (the oldest),
 * stamps them checked and moves them to the tail, pinned, then checks
 * each without the lock.  A failed session queues the end event and
 * resumes the stream; a stream closed meanwhile (orphaned) is freed
 * here.  Returns 1 when the batch was full (more may be due), else 0
 * with *next lowered to the head's next due time.  c is scratch.
 */
static int sweep_batch(struct agency *a, int64_t recheck_ms, int64_t *next,
		       tf_srv_caller *c)
{
	tf_sse *pin[SWEEP_BATCH];
	size_t n = 0, taken = 0;
	int64_t now = mono_ms();
	tf_sse *s;

	pthread_mutex_lock(&a->lock);
	while (taken < SWEEP_BATCH && (s = a->streams) != NULL &&
	       now - s->checked >= recheck_ms) {
		taken++;
		s->checked = now;
		stream_unlink(a, s);
		stream_link_tail(a, s);
		if (s->ending || s->pinned)
			continue;
		s->pinned = 1;
		pin[n++] = s;
	}
	if (taken < SWEEP_BATCH && a->streams != NULL &&
	    a->streams->checked + recheck_ms < *next)
		*next = a->streams->checked + recheck_ms;
	pthread_mutex_unlock(&a->lock);

	for (size_t i = 0; i < n; i++) {
		tf_err err;
		int rc, orphaned;

		s = pin[i];
		memset(&err, 0, sizeof err);
		rc = sse_recheck(s, c, &err);
		pthread_mutex_lock(&a->lock);
		s->pinned = 0;
		orphaned = s->orphaned;
		if (!orphaned && rc < 0 && !s->ending) {
			sse_end(s, rc, &err);
			sse_wake(s);
		}
		pthread_mutex_unlock(&a->lock);
		if (orphaned)
			sse_free(s);
	}
	return taken == SWEEP_BATCH;
}

/*
 * The sweeper: re-checks every stream's session once its last check is
 * recheck_ms old, off the poke path (a poke carries only a cursor and
 * every pull authenticates, so a poke needs no check of its own).  Each
 * agency's list is in check order, so finding the due streams costs
 * nothing per idle stream.  Wakes on the GRID_MS grid: a session is
 * re-checked at most recheck_ms + GRID_MS + the time to check the
 * streams due together after its last check (5,000 streams at 1 s: ~35
 * us each, under a fifth of one core), plus up to SWEEP_MAX_LATE_MS
 * kept off the CPU after a poke's fan-out.  Idle in strict mode
 * (recheck_ms 0) and once shutting down.
 */
static void *sweep_main(void *arg)
{
	tf_events *ev = arg;
	tf_srv_caller *c = malloc(sizeof *c);
	int64_t due = INT64_MAX; /* the oldest check due, as last seen */

	pthread_mutex_lock(&ev->lock);
	while (!ev->quit) {
		int64_t recheck = ev->recheck_ms, now, next = INT64_MAX;
		struct agency *head = ev->agencies;
		int more = 0;
		struct timespec ts;

		now = mono_ms();
		if (recheck > 0 && now - ev->fanout_at < SWEEP_QUIET_MS &&
		    (due == INT64_MAX || now - due < SWEEP_MAX_LATE_MS)) {
			next = ev->fanout_at + SWEEP_QUIET_MS;
			if (due != INT64_MAX &&
			    due + SWEEP_MAX_LATE_MS < next)
				next = due + SWEEP_MAX_LATE_MS;
		} else if (c != NULL && recheck > 0 && !ev->stopping) {
			/* Agencies are only ever added at the head and
			   live as long as the registry: the list from
			   head on is stable without the lock. */
			pthread_mutex_unlock(&ev->lock);
			next = mono_ms() + recheck;
			for (struct agency *a = head; a != NULL; a = a->next)
				more |= sweep_batch(a, recheck, &next, c);
			pthread_mutex_lock(&ev->lock);
			if (more) {
				/* still behind: the oldest is due now */
				if (due == INT64_MAX)
					due = mono_ms();
				continue;
			}
			due = next;
			next = grid_up(next);
		} else if (c == NULL) {
			c = malloc(sizeof *c);
			next = mono_ms() + 1000;
		}
		now = mono_ms();
		if (next <= now)
			continue;
		if (next == INT64_MAX) {
			pthread_cond_wait(&ev->sweep_cond, &ev->lock);
			continue;
		}
		ts.tv_sec = (time_t)(next / 1000);
		ts.tv_nsec = (long)(next % 1000) * 1000000L;
		pthread_cond_timedwait(&ev->sweep_cond, &ev->lock, &ts);
	}
	pthread_mutex_unlock(&ev->lock);
	free(c);
	return NULL;
}

int tf_events_new(tf_srv *s, tf_metrics *m, unsigned heartbeat_s,
		  tf_events **out, tf_err *err)
{
	tf_events *ev = calloc(1, sizeof *ev);
	pthread_condattr_t ca;
	int rc = 0, have_lock = 0, have_cond = 0, have_timer = 0;

	*out = NULL;
	assert(s != NULL && heartbeat_s >= 1 && heartbeat_s <= 60);
	if (ev == NULL)
		return tf_err_set(err, TF_ENOMEM, "events", "out of memory");
	ev->srv = s;
	ev->metrics = m;
	ev->period_ms = (int64_t)heartbeat_s * 1000;
	ev->per_session = TF_EVENTS_PER_SESSION;
	ev->recheck_ms = TF_EVENTS_RECHECK_MS;
	ev->next_wake = INT64_MAX;
	if (pthread_mutex_init(&ev->lock, NULL) != 0) {
		rc = tf_err_set(err, TF_EIO, "events", "mutex init failed");
		goto out;
	}
	have_lock = 1;
	if (pthread_condattr_init(&ca) != 0) {
		rc = tf_err_set(err, TF_EIO, "events", "condattr failed");
		goto out;
	}
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&ev->cond, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		rc = tf_err_set(err, TF_EIO, "events",
				"monotonic condition variable failed");
		goto out;
	}
	if (pthread_cond_init(&ev->sweep_cond, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		pthread_cond_destroy(&ev->cond);
		rc = tf_err_set(err, TF_EIO, "events",
				"monotonic condition variable failed");
		goto out;
	}
	pthread_condattr_destroy(&ca);
	have_cond = 1;
	if (pthread_create(&ev->timer, NULL, timer_main, ev) != 0) {
		rc = tf_err_set(err, TF_EIO, "events",
				"cannot start the timer thread");
		goto out;
	}
	have_timer = 1;
	if (pthread_create(&ev->sweeper, NULL, sweep_main, ev) != 0) {
		rc = tf_err_set(err, TF_EIO, "events",
				"cannot start the session sweeper thread");
		goto out;
	}
	*out = ev;
	return 0;
out:
	if (have_timer) {
		pthread_mutex_lock(&ev->lock);
		ev->quit = 1;
		pthread_cond_signal(&ev->cond);
		pthread_mutex_unlock(&ev->lock);
		pthread_join(ev->timer, NULL);
	}
	if (have_cond) {
		pthread_cond_destroy(&ev->sweep_cond);
		pthread_cond_destroy(&ev->cond);
	}
	if (have_lock)
		pthread_mutex_destroy(&ev->lock);
	free(ev);
	return rc;
}

void tf_events_set_limits(tf_events *ev, unsigned per_session,
			  unsigned recheck_ms)
{
	pthread_mutex_lock(&ev->lock);
	ev->per_session = per_session;
	ev->recheck_ms = recheck_ms;
	pthread_cond_signal(&ev->sweep_cond);
	pthread_mutex_unlock(&ev->lock);
}

void tf_events_shutdown(tf_events *ev)
{
	struct agency *a;

	if (ev == NULL)
		return;
	pthread_mutex_lock(&ev->lock);
	ev->stopping = 1;
	for (a = ev->agencies; a != NULL; a = a->next) {
		pthread_mutex_lock(&a->lock);
		for (tf_sse *s = a->streams; s != NULL; s = s->next) {
			s->ending = 1;
			sse_wake(s);
		}
		while (a->waiters != NULL)
			waiter_fire(a->waiters);
		pthread_mutex_unlock(&a->lock);
	}
	pthread_mutex_unlock(&ev->lock);
}

void tf_events_free(tf_events *ev)
{
	struct agency *a, *an;

	if (ev == NULL)
		return;
	pthread_mutex_lock(&ev->lock);
	ev->quit = 1;
	pthread_cond_signal(&ev->cond);
	pthread_cond_signal(&ev->sweep_cond);
	pthread_mutex_unlock(&ev->lock);
	pthread_join(ev->timer, NULL);
	/* Any stream the sweeper had pinned was freed by it. */
	pthread_join(ev->sweeper, NULL);
	for (a = ev->agencies; a != NULL; a = an) {
		an = a->next;
		/* The daemon has stopped: every request completed, so every
		   stream and waiter has been unlinked and freed. */
		assert(a->streams == NULL && a->waiters == NULL);
		pthread_mutex_destroy(&a->lock);
		free(a);
	}
	pthread_cond_destroy(&ev->sweep_cond);
	pthread_cond_destroy(&ev->cond);
	pthread_mutex_destroy(&ev->lock);
	free(ev);
}

void tf_events_counts(tf_events *ev, size_t *streams, size_t *waiters)
{
	*streams = *waiters = 0;
	pthread_mutex_lock(&ev->lock);
	for (struct agency *a = ev->agencies; a != NULL; a = a->next) {
		pthread_mutex_lock(&a->lock);
		for (tf_sse *s = a->streams; s != NULL; s = s->next)
			(*streams)++;
		for (tf_waiter *w = a->waiters; w != NULL; w = w->next)
			(*waiters)++;
		pthread_mutex_unlock(&a->lock);
	}
	pthread_mutex_unlock(&ev->lock);
}

/* ---------------------------------------------------------------- SSE */

/* Writes the poke event for position chg to out (nothing when the
   cursor cannot be made).  Reads only what is fixed at open. */
static void sse_compose_poke(const tf_sse *s, uint64_t chg, tf_buf *out)
{
	tf_buf cur;

	tf_buf_init(&cur);
	if (tf_sync_cursor_make(s->ev->srv, &s->caller, chg, &cur) < 0 ||
	    cur.failed || cur.len == 0 ||
	    memchr(cur.data, '\n', cur.len) != NULL ||
	    memchr(cur.data, '\r', cur.len) != NULL ||
	    !tf_utf8_valid(cur.data, cur.len))
		goto out;
	tf_buf_puts(out, "id: ");
	tf_buf_append(out, cur.data, cur.len);
	tf_buf_puts(out, "\nevent: poke\ndata: {\"cursor\":");
	tf_json_write_string(out, cur.data, cur.len);
	tf_buf_puts(out, "}\n\n");
out:
	tf_buf_free(&cur);
}

/*
 * Re-checks the stream's session into scratch c (wiped after): 0 when
 * it still holds, else the error (err set).  Transient failures
 * (memory, a busy database) keep the stream: the next check decides.
 * Reads only what is fixed at open, so it needs no lock.
 */
static int sse_recheck(const tf_sse *s, tf_srv_caller *c, tf_err *err)
{
	int rc = tf_auth_session(s->ev->srv, s->authz, s->device,
				 s->caller.source, tf_http_now_ms(), c, err);

	tf_memzero(c, sizeof *c);
	return rc == TF_ENOMEM || rc == TF_EBUSY ? 0 : rc;
}

/* Caller holds the agency lock: queues the last event of a stream whose
   session failed with rc, and ends the stream after it. */
static void sse_end(tf_sse *s, int rc, const tf_err *err)
{
	const char *msg = err->msg[0] != '\0' ? err->msg : tf_strerror(rc);

	tf_buf_puts(&s->out, "event: end\ndata: {\"code\":");
	tf_json_write_string(&s->out, tf_errcode(rc), strlen(tf_errcode(rc)));
	tf_buf_puts(&s->out, ",\"field\":");
	tf_json_write_string(&s->out, err->where, strlen(err->where));
	tf_buf_puts(&s->out, ",\"message\":");
	if (tf_utf8_valid(msg, strlen(msg)))
		tf_json_write_string(&s->out, msg, strlen(msg));
	else
		tf_buf_puts(&s->out, "\"\"");
	if (rc == TF_EREVOKED)
		tf_buf_puts(&s->out, ",\"wipe\":true");
	tf_buf_puts(&s->out, "}\n\n");
	s->ending = 1;
}

/*
 * Strict mode only (recheck_ms 0, s->strict): checks the session before
 * every poke and at every heartbeat, on the stream's own worker thread.
 * Called with the agency lock held, which it drops during the check; 0
 * when the stream goes on, else the stream ends.  Otherwise the sweeper
 * checks in the background and this returns 0.
 */
static int sse_check(tf_sse *s)
{
	struct agency *a = s->ag;
	tf_srv_caller *c;
	tf_err err;
	int rc;

	if (!s->strict)
		return 0;
	c = malloc(sizeof *c);
	if (c == NULL)
		return 0;
	memset(&err, 0, sizeof err);
	pthread_mutex_unlock(&a->lock);
	rc = sse_recheck(s, c, &err);
	free(c);
	pthread_mutex_lock(&a->lock);
	if (rc < 0 && !s->ending)
		sse_end(s, rc, &err);
	return rc;
}

/*
 * The content reader.  Copies pending bytes; composes the next event
 * when there are none; suspends the connection when there is nothing to
 * send (returning 0 then is the documented way to wait without a busy
 * loop).  Runs on the connection's worker thread.
 */
static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	tf_sse *s = cls;
	struct agency *a = s->ag;

	(void)pos;
	pthread_mutex_lock(&a->lock);
	for (;;) {
		if (s->off < s->out.len) {
			size_t n = s->out.len - s->off;

			if (n > max)
				n = max;
			memcpy(buf, s->out.data + s->off, n);
			s->off += n;
			if (s->off == s->out.len) {
				tf_buf_free(&s->out);
				s->off = 0;
			}
			pthread_mutex_unlock(&a->lock);
			return (ssize_t)n;
		}
		if (s->out.failed) {
			tf_buf_free(&s->out);
			s->off = 0;
		}
		if (s->ending) {
			pthread_mutex_unlock(&a->lock);
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		if (s->want_chg > s->sent_chg) {
			uint64_t chg;
			tf_buf ev;

			/* Never a poke past a failed session: a revoked
			   device or a disabled user learns nothing more. */
			if (sse_check(s) < 0)
				continue;
			chg = s->want_chg;
			s->sent_chg = chg;
			tf_buf_init(&ev);
			pthread_mutex_unlock(&a->lock);
			sse_compose_poke(s, chg, &ev);
			pthread_mutex_lock(&a->lock);
			/* The sweeper may have ended the stream meanwhile:
			   its end event is queued, no poke may follow. */
			if (!s->ending && ev.len > 0 && !ev.failed)
				tf_buf_append(&s->out, ev.data, ev.len);
			tf_buf_free(&ev);
			continue;
		}
		if (s->hb_due) {
			s->hb_due = 0;
			if (sse_check(s) == 0)
				tf_buf_puts(&s->out, ": hb\n\n");
			continue;
		}
		s->suspended = 1;
		MHD_suspend_connection(s->conn);
		pthread_mutex_unlock(&a->lock);
		return 0;
	}
}

static int read_head(tf_db_txn *t, void *arg, tf_err *err)
{
	return t->ops->head_chg(t, (uint64_t *)arg, err);
}

int tf_events_sse_open(tf_events *ev, struct MHD_Connection *conn,
		       const tf_srv_caller *c, const char *authorization,
		       const char *device, const char *last_event_id,
		       struct MHD_Response **resp, tf_sse **out, tf_err *err)
{
	tf_sse *s = NULL;
	struct agency *a;
	uint64_t head = 0, last = 0;
	int have_last = 0, rc;

	*resp = NULL;
	*out = NULL;
	if (authorization == NULL || device == NULL ||
	    strlen(authorization) >= sizeof s->authz ||
	    strlen(device) >= sizeof s->device)
		return tf_err_set(err, TF_EAUTH, "authorization",
				  "session credentials missing");
	a = agency_get(ev, c->session.agency);
	s = calloc(1, sizeof *s);
	if (a == NULL || s == NULL) {
		free(s);
		return tf_err_set(err, TF_ENOMEM, "events", "out of memory");
	}
	s->ag = a;
	s->ev = ev;
	s->conn = conn;
	s->caller = *c;
	tf_memzero(s->caller.user.pwhash, sizeof s->caller.user.pwhash);
	tf_memzero(s->caller.user.totp, sizeof s->caller.user.totp);
	memcpy(s->authz, authorization, strlen(authorization) + 1);
	memcpy(s->device, device, strlen(device) + 1);
	tf_buf_init(&s->out);
	tf_buf_puts(&s->out, ": ok\n\n"); /* flushes the headers at once */
	if (last_event_id != NULL && *last_event_id != '\0') {
		/* No cursor of ours (another epoch, garbage): poke at once so
		   the client pulls and learns it must reset. */
		if (tf_sync_cursor_chg(ev->srv, last_event_id, &last) == 0)
			have_last = 1;
		else
			s->want_chg = 1;
	}
	s->sent_chg = last;
	s->next_hb = grid_up(mono_ms() + ev->period_ms);

	/* Link first, then read the head: a commit in between is either
	   announced to the linked stream or seen in the head. */
	pthread_mutex_lock(&ev->lock);
	if (ev->stopping) {
		pthread_mutex_unlock(&ev->lock);
		rc = tf_err_set(err, TF_EBUSY, "events", "server stopping");
		goto fail;
	}
	pthread_mutex_lock(&a->lock);
	rc = session_full(ev, a, c->session.token_hash, err);
	if (rc < 0) {
		pthread_mutex_unlock(&a->lock);
		pthread_mutex_unlock(&ev->lock);
		goto fail;
	}
	/* The caller authenticated just now; stamped under the lock so
	   the list stays in check order for the sweeper. */
	s->checked = mono_ms();
	s->strict = ev->recheck_ms == 0;
	stream_link_tail(a, s);
	a->nstreams++;
	s->linked = 1;
	pthread_mutex_unlock(&a->lock);
	pthread_mutex_unlock(&ev->lock);
	tf_metrics_sse(ev->metrics, 1);

	rc = tf_db_read(ev->srv->db, read_head, &head, err);
	if (rc < 0)
		goto fail;
	pthread_mutex_lock(&a->lock);
	if (have_last) {
		if (head > last && head > s->want_chg)
			s->want_chg = head;
	} else if (s->want_chg == 0) {
		s->sent_chg = s->want_chg = head;
	}
	pthread_mutex_unlock(&a->lock);

	*resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024,
						  sse_read, s, NULL);
	if (*resp == NULL) {
		rc = tf_err_set(err, TF_ENOMEM, "events", "out of memory");
		goto fail;
	}
	*out = s;
	return 0;
fail:
	tf_events_sse_close(s);
	return rc;
}

void tf_events_sse_close(tf_sse *s)
{
	struct agency *a;

	if (s == NULL)
		return;
	a = s->ag;
	pthread_mutex_lock(&a->lock);
	if (s->linked) {
		stream_unlink(a, s);
		s->linked = 0;
		a->nstreams--;
		tf_metrics_sse(s->ev->metrics, -1);
	}
	if (s->pinned) {
		/* The sweeper is checking it: it frees s when done. */
		s->orphaned = 1;
		pthread_mutex_unlock(&a->lock);
		return;
	}
	pthread_mutex_unlock(&a->lock);
	sse_free(s);
}

/* Frees an unlinked stream nobody else refers to. */
static void sse_free(tf_sse *s)
{
	tf_buf_free(&s->out);
	tf_memzero(s, sizeof *s);
	free(s);
}

/* ---------------------------------------------------------- long poll */

int tf_events_wait(tf_events *ev, struct MHD_Connection *conn,
		   const char *agency, const char *session, uint64_t seen,
		   int64_t wait_ms, tf_waiter **out, tf_err *err)
{
	struct agency *a = agency_get(ev, agency);
	tf_waiter *w;
	int rc;

	*out = NULL;
	if (a == NULL || wait_ms <= 0 || strlen(session) >= sizeof w->session)
		return 0;
	w = calloc(1, sizeof *w);
	if (w == NULL)
		return 0;
	memcpy(w->session, session, strlen(session) + 1);
	w->ag = a;
	w->conn = conn;
	w->seen = seen;
	w->deadline = grid_up(mono_ms() + wait_ms);
	pthread_mutex_lock(&ev->lock);
	if (ev->stopping) {
		pthread_mutex_unlock(&ev->lock);
		free(w);
		return 0;
	}
	pthread_mutex_lock(&a->lock);
	rc = a->last_chg > seen ? 0 : session_full(ev, a, session, err);
	if (a->last_chg > seen || rc < 0) {
		pthread_mutex_unlock(&a->lock);
		pthread_mutex_unlock(&ev->lock);
		free(w);
		return rc;
	}
	w->next = a->waiters;
	if (a->waiters != NULL)
		a->waiters->prev = w;
	a->waiters = w;
	w->linked = 1;
	MHD_suspend_connection(conn);
	pthread_mutex_unlock(&a->lock);
	if (w->deadline < ev->next_wake)
		pthread_cond_signal(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
	*out = w;
	return 1;
}

void tf_events_wait_end(tf_waiter *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->ag->lock);
	if (w->linked) {
		/* Only reached when the request ends without a resume,
		   which a suspended connection cannot do; unlink anyway
		   without touching the connection. */
		struct agency *a = w->ag;

		if (w->prev != NULL)
			w->prev->next = w->next;
		else
			a->waiters = w->next;
		if (w->next != NULL)
			w->next->prev = w->prev;
		w->linked = 0;
	}
	pthread_mutex_unlock(&w->ag->lock);
	free(w);
}

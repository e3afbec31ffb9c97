/*
 * sync.c - the native client's sync engine: the core replica moved over
 * the libcurl transport (http.h) and persisted through the encrypted
 * store (tfc_persist).  Contract: tf_client_sync and tf_client_watch in
 * include/tenfour/client.h; the wire: docs/API.md and docs/PROTOCOL.md;
 * the design: ARCHITECTURE.md section 3.
 *
 * Crash safety comes from one rule: every reply is applied to the
 * replica and persisted (one store transaction: records, pending
 * commands and the head with the cursor) before the next request goes
 * out.  A kill -9 at any point therefore leaves the store at a reply
 * boundary, and the next sync resumes from there: pushes are resent with
 * the same seq and cmd_id (the server's ledger replays their results),
 * pulls continue from the persisted cursor.
 */
#define _DEFAULT_SOURCE

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/http.h"
#include "client/internal.h"
#include "tenfour/json.h"

/* Commands per push request (the server takes up to 1,000). */
#define SYNC_PUSH_BATCH 256
/* Records per pull page (the server takes 1..5,000). */
#define SYNC_PULL_LIMIT 1000
/* Push rounds in one sync: 100,000 pending commands / batch, with room. */
#define SYNC_PUSH_ROUNDS_MAX 1000
/* Push rounds in a row that settle nothing (clock_skew re-stamps). */
#define SYNC_PUSH_STALL_MAX 4
/* Pull pages in one sync: 1,000,000 records / page, resets included. */
#define SYNC_PULL_PAGES_MAX 2100
/* Pages in a row whose cursor did not move while has_more. */
#define SYNC_PULL_STALL_MAX 3
/* Audit entries per upload and upload rounds per sync. */
#define SYNC_AUDIT_BATCH 500
#define SYNC_AUDIT_BODY_MAX ((size_t)6 * 1024 * 1024)
#define SYNC_AUDIT_ROUNDS_MAX 1000
/* Default cache budget (client.h): 256 MiB of records. */
#define SYNC_CACHE_BUDGET ((uint64_t)256 * 1024 * 1024)
/* Backoff while unreachable: full jitter between these bounds. */
#define WATCH_BACKOFF_MIN_MS 1000
#define WATCH_BACKOFF_MAX_MS 60000
/* One event stream is re-opened at least this often (session re-check,
   idle lock); sleeps are sliced so a stop is seen within a slice. */
#define WATCH_STREAM_MAX_MS ((int64_t)5 * 60 * 1000)
#define WATCH_SLICE_MS 100
/* Iterations of the watch loop: each one syncs, or sleeps >= 1 s, or
   waited for a poke; the cap only guards against a runaway loop. */
#define WATCH_ROUNDS_MAX 10000000L
/* on_event's answers (positive, unlike the errors). */
#define WATCH_POKE 1
#define WATCH_END 2

/* One sync's progress and what it reports. */
typedef struct sync_run {
	tf_client *c;
	tf_client_progress_fn fn;
	void *ctx;
	tf_client_progress p;
} sync_run;

static void report(sync_run *s)
{
	if (s->fn)
		s->fn(s->ctx, &s->p);
}

/*
 * Sends the wipe receipt due after a crypto-erase, when one is due:
 * "tenfour-wipe\n<agency>\n<device>\n<wiped_at>" signed with the
 * identity key.  0 when none was due or the server took it (the home is
 * then fresh); the request's error otherwise (the receipt stays due).
 */
static int send_receipt(tf_client *c, tf_err *err)
{
	char agency[TF_ID_MAX + 1], device[TF_ID_MAX + 1];
	char server[TFC_URL_MAX + 1], sig[96], msg[256];
	int64_t wiped_at = 0;
	tf_http *h = NULL;
	tf_buf body, reply;
	int rc, n;

	rc = tfc_wipe_pending(c, agency, device, server, &wiped_at, NULL);
	if (rc == TF_ENOTFOUND)
		return 0;
	if (rc)
		return tf_err_set(err, rc, "wipe",
				  "the wipe receipt's facts cannot be read");
	n = snprintf(msg, sizeof msg, "tenfour-wipe\n%s\n%s\n%" PRId64, agency,
		     device, wiped_at);
	assert(n > 0 && (size_t)n < sizeof msg);
	rc = tfc_sign(c, msg, (size_t)n, sig, err);
	if (rc)
		return rc;
	tf_buf_init(&body);
	tf_buf_init(&reply);
	tf_buf_puts(&body, "{\"agency\":");
	tf_json_write_string(&body, agency, strlen(agency));
	tf_buf_puts(&body, ",\"device_id\":");
	tf_json_write_string(&body, device, strlen(device));
	tf_buf_printf(&body, ",\"sig\":\"%s\",\"wiped_at\":%" PRId64 "}", sig,
		      wiped_at);
	if (body.failed) {
		rc = tf_err_set(err, TF_ENOMEM, "wipe", "out of memory");
		goto out;
	}
	rc = tfc_http(c, &h, err);
	if (rc)
		goto out;
	rc = tf_http_call(h, "POST", "/v1/devices/wipe-receipt", NULL, NULL,
			  body.data, body.len, &reply, err);
	tfc_contact(c, rc != TF_ENET);
	if (rc == 0)
		rc = tfc_wipe_receipt_sent(c, err);
out:
	tf_buf_free(&reply);
	tf_buf_free(&body);
	return rc;
}

/*
 * The server said this device is revoked: crypto-erase, then the signed
 * receipt (when it cannot go now, it stays due for the next contact).
 * Always TF_EREVOKED, err saying what happened.
 */
static int revoked(tf_client *c, tf_err *err)
{
	tf_err e2;
	int rc;

	rc = tfc_wipe(c, "device_revoked", &e2);
	if (rc)
		return tf_err_set(err, TF_EREVOKED, "device",
				  "the server revoked this device; the wipe "
				  "did not complete: %s",
				  e2.msg);
	rc = send_receipt(c, &e2);
	if (rc)
		return tf_err_set(err, TF_EREVOKED, "device",
				  "the server revoked this device: the store "
				  "was wiped; the receipt is due at the next "
				  "contact (%s)",
				  e2.msg);
	return tf_err_set(err, TF_EREVOKED, "device",
			  "the server revoked this device: the store was "
			  "wiped and the server has the signed receipt");
}

/*
 * One session request with the client's bookkeeping: online/last
 * contact; 401 drops the session (TF_EAUTH: log in online, nothing
 * lost); 403 device_revoked wipes (TF_EREVOKED).  reply is reset first.
 */
static int sync_call(tf_client *c, const char *method, const char *path,
		     const char *body, size_t len, tf_buf *reply, tf_err *err)
{
	const char *token = NULL, *device = NULL;
	tf_http *h = NULL;
	int rc;

	tf_buf_reset(reply);
	rc = tfc_session(c, &token, &device, err);
	if (rc == 0)
		rc = tfc_http(c, &h, err);
	if (rc)
		return rc;
	rc = tf_http_call(h, method, path, token, device, body, len, reply,
			  err);
	tfc_contact(c, rc != TF_ENET);
	if (rc == TF_EAUTH) {
		tfc_session_drop(c);
		return tf_err_set(err, TF_EAUTH, "session",
				  "the server ended the session: log in "
				  "online (queued work is kept)");
	}
	if (rc == TF_EREVOKED)
		return revoked(c, err);
	return rc;
}

static int64_t wall_now(tf_client *c)
{
	int64_t wall = 0;

	(void)tfc_now(c, &wall, NULL);
	return wall;
}

/*
 * Pushes every unsent command, oldest first, in batches; each reply is
 * applied and persisted before the next request.  A clock_skew result
 * makes the replica re-stamp and the next round resend.  TF_EPROTO when
 * SYNC_PUSH_STALL_MAX rounds in a row settle nothing (the commands stay
 * queued).
 */
static int push_all(sync_run *s, tf_err *err)
{
	tf_client *c = s->c;
	size_t before, unsent, stalled = 0;
	tf_buf req, reply;
	int rc = 0, round;

	tf_buf_init(&req);
	tf_buf_init(&reply);
	s->p.to_push = tf_replica_unsent(c->replica);
	s->p.pushed = 0;
	for (round = 0; round < SYNC_PUSH_ROUNDS_MAX; round++) {
		before = tf_replica_unsent(c->replica);
		if (before == 0)
			break;
		tf_buf_reset(&req);
		rc = tf_replica_push_request(c->replica, SYNC_PUSH_BATCH, &req);
		if (rc) {
			tf_err_set(err, rc, "push",
				   "the push request cannot be made: %s",
				   tf_strerror(rc));
			break;
		}
		rc = sync_call(c, "POST", "/v1/sync/push", req.data, req.len,
			       &reply, err);
		if (rc)
			break;
		rc = tf_replica_apply_push_reply(c->replica, wall_now(c),
						 reply.data, reply.len, err);
		if (rc == 0)
			rc = tfc_persist(c, err);
		if (rc)
			break;
		unsent = tf_replica_unsent(c->replica);
		if (unsent < s->p.to_push)
			s->p.pushed = s->p.to_push - unsent;
		report(s);
		if (unsent < before) {
			stalled = 0;
		} else if (++stalled >= SYNC_PUSH_STALL_MAX) {
			rc = tf_err_set(err, TF_EPROTO, "push",
					"push: %zu rounds settled nothing; "
					"%zu commands stay queued",
					stalled, unsent);
			break;
		}
	}
	if (rc == 0 && tf_replica_unsent(c->replica) > 0)
		rc = tf_err_set(err, TF_ELIMIT, "push",
				"push: still %zu commands after %d rounds",
				tf_replica_unsent(c->replica), round);
	tf_buf_free(&reply);
	tf_buf_free(&req);
	return rc;
}

/* has_more and the number of records of a page (already applied). */
static void page_facts(const tf_buf *page, int *has_more, size_t *nrecords)
{
	tf_json *v = NULL;
	const tf_json *m;

	*has_more = 0;
	*nrecords = 0;
	if (tf_json_parse(page->data, page->len, NULL, &v, NULL) != 0)
		return;
	m = tf_json_object_get(v, "has_more");
	*has_more = m && m->type == TF_JSON_TRUE;
	m = tf_json_object_get(v, "records");
	if (m && m->type == TF_JSON_ARRAY)
		*nrecords = m->len;
	tf_json_free(v);
}

/*
 * Pulls pages from the replica's cursor until has_more is false; each
 * page is applied and persisted (its cursor with it) before the next
 * request.  Progress: records received, and the total as the server
 * estimates it (done + remaining; the count itself once the last page
 * is in).
 */
static int pull_all(sync_run *s, tf_err *err)
{
	char esc[TF_HTTP_SSE_ID_MAX * 3 + 1], path[TF_HTTP_PATH_MAX];
	char last[TF_HTTP_SSE_ID_MAX + 1];
	tf_client *c = s->c;
	int64_t remaining;
	int rc = 0, more = 1, pages, stalled = 0;
	size_t n;
	tf_buf reply;

	tf_buf_init(&reply);
	last[0] = '\0';
	for (pages = 0; pages < SYNC_PULL_PAGES_MAX && more; pages++) {
		const char *cur = tf_replica_cursor(c->replica);

		if (tf_http_escape(cur, esc, sizeof esc) != 0) {
			rc = tf_err_set(err, TF_EPROTO, "cursor",
					"pull: the cursor is over %d bytes",
					TF_HTTP_SSE_ID_MAX);
			break;
		}
		if (pages > 0 && strcmp(cur, last) == 0) {
			if (++stalled >= SYNC_PULL_STALL_MAX) {
				rc = tf_err_set(err, TF_EPROTO, "cursor",
						"pull: the cursor did not move "
						"in %d pages",
						stalled);
				break;
			}
		} else {
			stalled = 0;
		}
		snprintf(last, sizeof last, "%s", cur);
		snprintf(path, sizeof path, "/v1/sync/pull?cursor=%s&limit=%d",
			 esc, SYNC_PULL_LIMIT);
		rc = sync_call(c, "GET", path, NULL, 0, &reply, err);
		if (rc)
			break;
		rc = tf_replica_apply_pull(c->replica, wall_now(c), reply.data,
					   reply.len, err);
		if (rc == 0)
			rc = tfc_persist(c, err);
		if (rc)
			break;
		page_facts(&reply, &more, &n);
		s->p.records_done += n;
		remaining = tf_replica_pull_remaining(c->replica);
		if (!more)
			s->p.records_total = s->p.records_done;
		else if (remaining >= 0 &&
			 s->p.records_done + (uint64_t)remaining >
				 s->p.records_total)
			s->p.records_total =
				s->p.records_done + (uint64_t)remaining;
		report(s);
	}
	if (rc == 0 && more)
		rc = tf_err_set(err, TF_ELIMIT, "pull",
				"pull: still has_more after %d pages", pages);
	tf_buf_free(&reply);
	return rc;
}

/* ------------------------------------------------------------ audit */

typedef struct audit_batch {
	tf_buf *body;
	size_t n;
	uint64_t last;
} audit_batch;

static int audit_add(void *ctx, uint64_t seq, const char *entry, size_t len)
{
	audit_batch *a = ctx;

	/* A JSON string escapes to at most 6 bytes per byte. */
	if (a->n > 0 && a->body->len + 6 * len + 2 > SYNC_AUDIT_BODY_MAX)
		return 1;
	if (a->n > 0)
		tf_buf_putc(a->body, ',');
	tf_json_write_string(a->body, entry, len);
	a->n++;
	a->last = seq;
	return a->body->failed ? a->body->failed : 0;
}

/*
 * Uploads the local audit entries the server does not have (after
 * tfc_audit_sent), in batches; the server's head is recorded after each
 * (tfc_audit_uploaded checks it is an entry of the local chain).  The
 * entries stay in the local log.
 */
static int upload_audit(tf_client *c, tf_err *err)
{
	uint64_t sent, seq = 0;
	tf_buf body, reply;
	audit_batch a;
	const tf_json *head;
	tf_json *doc = NULL;
	const char *hash;
	int rc = 0, round;

	/* Unlocked, the head counts every entry (the queue of the locked
	   time was moved in at unlock): nothing new, no scan. */
	if (tfc_audit_sent(c) >= c->audit_seq)
		return 0;
	tf_buf_init(&body);
	tf_buf_init(&reply);
	for (round = 0; round < SYNC_AUDIT_ROUNDS_MAX; round++) {
		sent = tfc_audit_sent(c);
		tf_buf_reset(&body);
		tf_buf_puts(&body, "{\"device_id\":");
		tf_json_write_string(&body, c->id.device, strlen(c->id.device));
		tf_buf_puts(&body, ",\"entries\":[");
		memset(&a, 0, sizeof a);
		a.body = &body;
		rc = tfc_audit_each(c, sent, SYNC_AUDIT_BATCH, audit_add, &a,
				    err);
		if (rc < 0)
			break;
		rc = 0;
		if (a.n == 0)
			break;
		tf_buf_puts(&body, "]}");
		if (body.failed) {
			rc = tf_err_set(err, body.failed, "audit",
					"audit upload: out of memory");
			break;
		}
		rc = sync_call(c, "POST", "/v1/audit/device", body.data,
			       body.len, &reply, err);
		if (rc)
			break;
		tf_json_free(doc);
		doc = NULL;
		head = NULL;
		if (tf_json_parse(reply.data, reply.len, NULL, &doc, NULL) == 0)
			head = tf_json_object_get(doc, "head");
		hash = tf_json_get_str(head, "hash", NULL);
		if (hash == NULL ||
		    tf_json_uint64(tf_json_object_get(head, "seq"), &seq) != 0) {
			rc = tf_err_set(err, TF_EPROTO, "head",
					"audit upload: the reply has no head");
			break;
		}
		rc = tfc_audit_uploaded(c, seq, hash, err);
		if (rc)
			break;
		if (tfc_audit_sent(c) <= sent) {
			rc = tf_err_set(err, TF_EPROTO, "head",
					"audit upload: the server's head "
					"(seq %" PRIu64 ") did not move past %" PRIu64,
					seq, sent);
			break;
		}
	}
	if (rc == 0 && round == SYNC_AUDIT_ROUNDS_MAX)
		rc = tf_err_set(err, TF_ELIMIT, "audit",
				"audit upload: entries left after %d rounds",
				round);
	tf_json_free(doc);
	if (body.data)
		tf_cleanse(body.data, body.cap);
	tf_buf_free(&body);
	tf_buf_free(&reply);
	return rc;
}

/* ---------------------------------------------------------- eviction */

typedef struct evict_row {
	char key[TF_STORE_KEY_MAX + 1];
	uint64_t bytes;
	int64_t accessed;
} evict_row;

typedef struct evict_rows {
	evict_row *v;
	size_t n, cap;
	uint64_t total;
} evict_rows;

static int evict_collect(void *ctx, const tf_store_rowinfo *ri)
{
	evict_rows *r = ctx;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;
		evict_row *v;

		if (cap > TF_EVICT_MAX_RECORDS)
			return TF_ELIMIT;
		v = realloc(r->v, cap * sizeof *v);
		if (v == NULL)
			return TF_ENOMEM;
		r->v = v;
		r->cap = cap;
	}
	memcpy(r->v[r->n].key, ri->key, sizeof ri->key);
	r->v[r->n].bytes = ri->bytes;
	r->v[r->n].accessed = ri->accessed;
	r->total += ri->bytes;
	r->n++;
	return 0;
}

/*
 * Keeps the stored records under the cache budget: when their bytes
 * pass it, tf_policy_evict picks synced records (least recently
 * accessed first; never pending, rejected, conflicted or superseded
 * ones) and they leave the replica and the store (one transaction).
 */
static int evict(tf_client *c, tf_err *err)
{
	uint64_t budget = c->opts.cache_budget ? c->opts.cache_budget
					       : SYNC_CACHE_BUDGET;
	evict_rows rows;
	tf_evict_rec *recs = NULL;
	size_t *idx = NULL, n = 0, nout = 0, i;
	int met = 0, rc;

	memset(&rows, 0, sizeof rows);
	rc = tf_store_rows(c->store, TF_SK_RECORD, evict_collect, &rows, err);
	if (rc) {
		if (rc == TF_ELIMIT || rc == TF_ENOMEM)
			tf_err_set(err, rc, "evict",
				   "eviction: cannot list the stored records");
		goto out;
	}
	if (rows.total <= budget)
		goto out;
	recs = calloc(rows.n, sizeof *recs);
	idx = calloc(rows.n, sizeof *idx);
	if (recs == NULL || idx == NULL) {
		rc = tf_err_set(err, TF_ENOMEM, "evict", "out of memory");
		goto out;
	}
	for (i = 0; i < rows.n; i++) {
		tf_sync_state st = tf_replica_state(c->replica, rows.v[i].key);

		if (st == TF_SYNC_NONE)
			continue; /* not the replica's: nothing to evict */
		recs[n].id = rows.v[i].key;
		recs[n].state = st;
		recs[n].in_scope = 1; /* records out of scope were purged */
		recs[n].last_access_ms = rows.v[i].accessed;
		recs[n].bytes = rows.v[i].bytes;
		n++;
	}
	rc = tf_policy_evict(recs, n, budget, idx, &nout, &met, NULL, err);
	if (rc)
		goto out;
	for (i = 0; i < nout; i++) {
		/* Chosen ones are synced; a refusal just keeps the record. */
		(void)tf_replica_evict(c->replica, recs[idx[i]].id, NULL);
	}
	if (nout > 0)
		rc = tfc_persist(c, err);
out:
	free(idx);
	free(recs);
	free(rows.v);
	return rc;
}

/* ------------------------------------------------------------ sync */

/*
 * A receipt due from an earlier wipe goes first.  0 when the sync may go
 * on; TF_EREVOKED when this home was wiped (the receipt went now or
 * stays due); the transport's error when it could not be sent.
 */
static int receipt_first(tf_client *c, tf_err *err)
{
	char agency[TF_ID_MAX + 1], device[TF_ID_MAX + 1];
	char server[TFC_URL_MAX + 1];
	int64_t at = 0;
	tf_err e2;
	int rc;

	if (tfc_wipe_pending(c, agency, device, server, &at, NULL) != 0)
		return 0;
	rc = send_receipt(c, &e2);
	if (c->store != NULL && rc != TF_ENET)
		return 0; /* logged in again since: the data sync goes on */
	if (rc == TF_ENET) {
		if (err)
			*err = e2;
		return rc;
	}
	if (rc)
		return tf_err_set(err, TF_EWIPE, "wipe",
				  "this home was wiped; the server refused "
				  "the receipt (%s)",
				  e2.msg);
	return tf_err_set(err, TF_EREVOKED, "device",
			  "this device was wiped; the server has the signed "
			  "receipt");
}

int tf_client_sync(tf_client *c, tf_client_progress_fn fn, void *ctx,
		   tf_err *err)
{
	const char *token = NULL, *device = NULL;
	sync_run s;
	int rc;

	if (c == NULL)
		return tf_err_set(err, TF_EINVAL, "client", "no client");
	rc = receipt_first(c, err);
	if (rc)
		return rc;
	rc = tfc_require_unlocked(c, err);
	if (rc)
		return rc;
	rc = tfc_session(c, &token, &device, err);
	if (rc)
		return rc;
	memset(&s, 0, sizeof s);
	s.c = c;
	s.fn = fn;
	s.ctx = ctx;
	s.p.to_push = tf_replica_unsent(c->replica);
	report(&s);
	/* Pushes first, so the pull that follows carries their acks. */
	rc = push_all(&s, err);
	if (rc == 0 || rc == TF_EPROTO || rc == TF_ELIMIT) {
		/* A stalled push still pulls: other work may unblock it. */
		int prc = c->replica ? pull_all(&s, err) : TF_EREVOKED;

		/* The pull's error wins unless only the push failed. */
		if (rc == 0 || prc == TF_EREVOKED || prc == TF_EAUTH ||
		    prc == TF_ENET)
			rc = prc;
	}
	if (rc == 0)
		rc = upload_audit(c, err);
	if (rc == 0)
		rc = evict(c, err);
	return rc;
}

/* ----------------------------------------------------------- watch */

/* Sleeps ms in slices, ending early on *stop or the deadline. */
static void nap(tf_client *c, int64_t ms, volatile int *stop,
		int64_t deadline)
{
	struct timespec ts;
	int64_t done, mono = 0;

	for (done = 0; done < ms; done += WATCH_SLICE_MS) {
		if (stop && *stop)
			return;
		if (deadline && tfc_now(c, NULL, &mono) == 0 &&
		    mono >= deadline)
			return;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)WATCH_SLICE_MS * 1000000L;
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
}

/* The n-th backoff (n from 0): uniform in [min, min(max, min * 2^n)]. */
static int64_t backoff_ms(unsigned n)
{
	uint8_t r[4];
	uint32_t x;
	int64_t cap = WATCH_BACKOFF_MIN_MS;

	while (n-- > 0 && cap < WATCH_BACKOFF_MAX_MS)
		cap *= 2;
	if (cap > WATCH_BACKOFF_MAX_MS)
		cap = WATCH_BACKOFF_MAX_MS;
	if (cap == WATCH_BACKOFF_MIN_MS || tf_random_bytes(r, sizeof r) != 0)
		return cap;
	x = (uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 |
	    (uint32_t)r[2] << 8 | r[3];
	return WATCH_BACKOFF_MIN_MS +
	       (int64_t)(x % (uint32_t)(cap - WATCH_BACKOFF_MIN_MS + 1));
}

typedef struct watch_ev {
	int code; /* an `end` event's error (the next sync meets it too) */
} watch_ev;

static int on_event(void *ctx, const char *event, const char *id,
		    const char *data)
{
	watch_ev *w = ctx;

	(void)id;
	if (strcmp(event, "poke") == 0)
		return WATCH_POKE;
	if (strcmp(event, "end") == 0) {
		w->code = tf_http_error(0, data, strlen(data), NULL);
		return WATCH_END;
	}
	return 0;
}

/* Errors a later attempt may not meet: back off and retry. */
static int transient(int rc)
{
	return rc == TF_ENET || rc == TF_EBUSY || rc == TF_EIO;
}

int tf_client_watch(tf_client *c, volatile int *stop, int64_t max_ms,
		    tf_client_progress_fn fn, void *ctx, tf_err *err)
{
	char cursor[TF_HTTP_SSE_ID_MAX + 1];
	const char *token = NULL, *device = NULL;
	int64_t mono = 0, deadline = 0, wait;
	tf_client_status st;
	unsigned failures = 0;
	int refused = 0;
	tf_http *h = NULL;
	watch_ev w;
	long round;
	int rc = 0;

	if (c == NULL || max_ms < 0)
		return tf_err_set(err, TF_EINVAL, c ? "max_ms" : "client",
				  "watch: no client or a negative max_ms");
	if (tfc_now(c, NULL, &mono) == 0 && max_ms > 0)
		deadline = mono + max_ms;
	for (round = 0; round < WATCH_ROUNDS_MAX; round++) {
		if (stop && *stop)
			return 0;
		(void)tfc_now(c, NULL, &mono);
		if (deadline && mono >= deadline)
			return 0;
		rc = tf_client_sync(c, fn, ctx, err);
		if (transient(rc)) {
			nap(c, backoff_ms(failures++), stop, deadline);
			continue;
		}
		if (rc)
			return rc; /* locked, session ended, revoked, ... */
		failures = 0;

		/* Listen until a poke, from where the replica is. */
		rc = tfc_session(c, &token, &device, err);
		if (rc == 0)
			rc = tfc_http(c, &h, err);
		if (rc)
			return rc;
		snprintf(cursor, sizeof cursor, "%s",
			 tf_replica_cursor(c->replica));
		wait = WATCH_STREAM_MAX_MS;
		if (deadline && deadline - mono < wait)
			wait = deadline - mono > 0 ? deadline - mono : 1;
		/* Wake for the idle lock: the next sync's gate locks. */
		if (tf_client_status_get(c, &st) == 0 && st.unlocked &&
		    st.lock_in_ms > 0 && st.lock_in_ms + 1000 < wait)
			wait = st.lock_in_ms + 1000;
		memset(&w, 0, sizeof w);
		rc = tf_http_events(h, "/v1/sync/events", token, device,
				    cursor, on_event, &w, stop, wait, err);
		tfc_contact(c, rc != TF_ENET);
		if (rc == WATCH_POKE || rc == WATCH_END || rc == 0) {
			refused = 0;
			continue; /* sync; an ended stream's cause shows then */
		}
		if (transient(rc)) {
			nap(c, backoff_ms(failures++), stop, deadline);
			continue;
		}
		/* The sync meets a refused session or a revoked device and
		   acts on it; a stream refused again and again ends here. */
		if ((rc == TF_EAUTH || rc == TF_EREVOKED) && ++refused < 3)
			continue;
		return rc;
	}
	return tf_err_set(err, TF_ELIMIT, "watch",
			  "watch: %ld rounds without a stop", round);
}

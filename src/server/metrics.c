/*
 * metrics.c - Prometheus counters of tenfourd (metrics.h).  Every hot
 * path update is one relaxed atomic add; rendering reads them without a
 * lock (a scrape may see a request counted and its latency not yet: the
 * exposition format tolerates that).  The db figures are cached for one
 * second under a mutex so scrapes never hammer the database.
 */
#include "server/metrics.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "server/config.h"
#include "tenfour/json.h"

#define STATUS_LO 100
#define STATUS_HI 599
#define NSTATUS (STATUS_HI - STATUS_LO + 1)

/* Histogram upper bounds, seconds (then +Inf). */
static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				0.1,   0.25,   0.5,   1,    2.5,   5,
				10};
#define NBOUNDS (sizeof bounds / sizeof bounds[0])

struct histo {
	atomic_ullong buckets[NBOUNDS + 1]; /* non-cumulative; last = +Inf */
	atomic_ullong count;
	atomic_ullong sum_us;
};

/* Push command statuses of the protocol (tf_status wire names). */
static const char *const push_status[] = {"applied", "duplicate", "rejected",
					  "conflict", "clock_skew"};
#define NPUSH (sizeof push_status / sizeof push_status[0])

struct tf_metrics {
	atomic_ullong requests[TF_ROUTE_COUNT][NSTATUS];
	struct histo push, pull;
	atomic_ullong push_cmds[NPUSH + 1]; /* last: any other status */
	atomic_long sse;
	pthread_mutex_t lock; /* guards the db stats cache */
	tf_db_stats stats;
	int64_t stats_at_ms; /* 0 = never read */
	int stats_ok;
};

static const char *const route_names[TF_ROUTE_COUNT] = {
	[TF_ROUTE_HEALTHZ] = "/healthz",
	[TF_ROUTE_METRICS] = "/metrics",
	[TF_ROUTE_KEYS] = "/v1/keys",
	[TF_ROUTE_BANNER] = "/v1/auth/banner",
	[TF_ROUTE_LOGIN] = "/v1/auth/login",
	[TF_ROUTE_LOGOUT] = "/v1/auth/logout",
	[TF_ROUTE_PUSH] = "/v1/sync/push",
	[TF_ROUTE_PULL] = "/v1/sync/pull",
	[TF_ROUTE_EVENTS] = "/v1/sync/events",
	[TF_ROUTE_CONFLICTS] = "/v1/conflicts",
	[TF_ROUTE_TEXT_REVISIONS] = "/v1/records/{id}/text/{field}",
	[TF_ROUTE_WIPE_RECEIPT] = "/v1/devices/wipe-receipt",
	[TF_ROUTE_AUDIT_DEVICE] = "/v1/audit/device",
	[TF_ROUTE_AUDIT_EXPORT] = "/v1/audit/export",
	[TF_ROUTE_AUDIT_VERIFY] = "/v1/audit/verify",
	[TF_ROUTE_ADMIN_DEVICE_REVOKE] = "/v1/admin/devices/{id}/revoke",
	[TF_ROUTE_ADMIN_USER_RELEASE] = "/v1/admin/users/{id}/release",
	[TF_ROUTE_ADMIN_SESSIONS_REVOKE] =
		"/v1/admin/users/{id}/revoke-sessions",
	[TF_ROUTE_OTHER] = "other",
};

const char *tf_route_name(int route)
{
	return route >= 0 && route < TF_ROUTE_COUNT ? route_names[route]
						    : "other";
}

int tf_metrics_new(tf_metrics **out)
{
	/* calloc: all-zero bits are valid initial atomics on every target
	   we build for (lock-free integer atomics). */
	tf_metrics *m = calloc(1, sizeof *m);

	*out = NULL;
	if (m == NULL)
		return TF_ENOMEM;
	if (pthread_mutex_init(&m->lock, NULL) != 0) {
		free(m);
		return TF_ENOMEM;
	}
	*out = m;
	return 0;
}

void tf_metrics_free(tf_metrics *m)
{
	if (m == NULL)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void tf_metrics_request(tf_metrics *m, int route, unsigned status)
{
	if (m == NULL || route < 0 || route >= TF_ROUTE_COUNT ||
	    status < STATUS_LO || status > STATUS_HI)
		return;
	atomic_fetch_add_explicit(&m->requests[route][status - STATUS_LO], 1,
				  memory_order_relaxed);
}

static void histo_add(struct histo *h, double s)
{
	size_t i = 0;

	if (s < 0)
		s = 0;
	while (i < NBOUNDS && s > bounds[i])
		i++;
	atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us,
				  (unsigned long long)(s * 1e6 + 0.5),
				  memory_order_relaxed);
}

void tf_metrics_push_time(tf_metrics *m, double seconds)
{
	if (m != NULL)
		histo_add(&m->push, seconds);
}

void tf_metrics_pull_time(tf_metrics *m, double seconds)
{
	if (m != NULL)
		histo_add(&m->pull, seconds);
}

void tf_metrics_push_reply(tf_metrics *m, const char *reply, size_t len)
{
	tf_json *doc = NULL, *results;

	if (m == NULL || tf_json_parse(reply, len, NULL, &doc, NULL) < 0)
		return;
	results = tf_json_object_get(doc, "results");
	if (results != NULL && results->type == TF_JSON_ARRAY) {
		for (size_t i = 0; i < results->len; i++) {
			const char *st = tf_json_get_str(results->u.items[i],
							 "status", NULL);
			size_t k = 0;

			while (k < NPUSH &&
			       (st == NULL || strcmp(st, push_status[k]) != 0))
				k++;
			atomic_fetch_add_explicit(&m->push_cmds[k], 1,
						  memory_order_relaxed);
		}
	}
	tf_json_free(doc);
}

void tf_metrics_sse(tf_metrics *m, int delta)
{
	if (m != NULL)
		atomic_fetch_add_explicit(&m->sse, delta, memory_order_relaxed);
}

long tf_metrics_sse_open(tf_metrics *m)
{
	return m != NULL ? atomic_load_explicit(&m->sse, memory_order_relaxed)
			 : 0;
}

static int read_stats(tf_db_txn *t, void *arg, tf_err *err)
{
	return t->ops->stats(t, (tf_db_stats *)arg, err);
}

static void histo_render(const struct histo *h, const char *name,
			 const char *help, tf_buf *out)
{
	unsigned long long cum = 0;

	tf_buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help,
		      name);
	for (size_t i = 0; i <= NBOUNDS; i++) {
		cum += atomic_load_explicit(&h->buckets[i],
					    memory_order_relaxed);
		if (i < NBOUNDS)
			tf_buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name,
				      bounds[i], cum);
		else
			tf_buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n",
				      name, cum);
	}
	tf_buf_printf(out, "%s_sum %.6f\n%s_count %llu\n", name,
		      (double)atomic_load_explicit(&h->sum_us,
						   memory_order_relaxed) /
			      1e6,
		      name, cum);
}

static void gauge(tf_buf *out, const char *name, const char *help,
		  unsigned long long v)
{
	tf_buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", name,
		      help, name, name, v);
}

int tf_metrics_render(tf_metrics *m, tf_db *db, int64_t now_ms, tf_buf *out)
{
	tf_db_stats st;
	int ok;

	assert(m != NULL);
	pthread_mutex_lock(&m->lock);
	if (db != NULL &&
	    (m->stats_at_ms == 0 || now_ms - m->stats_at_ms >= 1000 ||
	     now_ms < m->stats_at_ms)) {
		tf_db_stats fresh;

		memset(&fresh, 0, sizeof fresh);
		if (tf_db_read(db, read_stats, &fresh, NULL) == 0) {
			m->stats = fresh;
			m->stats_ok = 1;
		}
		m->stats_at_ms = now_ms;
	}
	st = m->stats;
	ok = m->stats_ok;
	pthread_mutex_unlock(&m->lock);

	tf_buf_puts(out, "# HELP tenfour_http_requests_total HTTP requests "
			 "answered, by route and status.\n"
			 "# TYPE tenfour_http_requests_total counter\n");
	for (int r = 0; r < TF_ROUTE_COUNT; r++)
		for (int s = 0; s < NSTATUS; s++) {
			unsigned long long n = atomic_load_explicit(
				&m->requests[r][s], memory_order_relaxed);

			if (n != 0)
				tf_buf_printf(out,
					      "tenfour_http_requests_total{"
					      "route=\"%s\",code=\"%d\"} %llu\n",
					      route_names[r], s + STATUS_LO, n);
		}
	histo_render(&m->push, "tenfour_push_seconds",
		     "Time to serve a push, durable commit included.", out);
	histo_render(&m->pull, "tenfour_pull_seconds",
		     "Time to serve a pull page (waits excluded).", out);
	tf_buf_puts(out, "# HELP tenfour_push_commands_total Pushed commands "
			 "by result status.\n"
			 "# TYPE tenfour_push_commands_total counter\n");
	for (size_t k = 0; k <= NPUSH; k++)
		tf_buf_printf(out,
			      "tenfour_push_commands_total{status=\"%s\"} "
			      "%llu\n",
			      k < NPUSH ? push_status[k] : "other",
			      atomic_load_explicit(&m->push_cmds[k],
						   memory_order_relaxed));
	gauge(out, "tenfour_sse_connections", "Open SSE event streams.",
	      (unsigned long long)(tf_metrics_sse_open(m) > 0
					   ? tf_metrics_sse_open(m)
					   : 0));
	if (ok) {
		gauge(out, "tenfour_ledger_rows", "Rows of the command ledger.",
		      st.ledger_rows);
		gauge(out, "tenfour_conflicts_open", "Open text conflicts.",
		      st.conflicts_open);
		gauge(out, "tenfour_records", "Stored records.", st.records);
		gauge(out, "tenfour_audit_entries",
		      "Entries of the server audit log.", st.audit_entries);
	}
	tf_buf_printf(out,
		      "# HELP tenfour_build_info tenfourd build.\n"
		      "# TYPE tenfour_build_info gauge\n"
		      "tenfour_build_info{version=\"%s\"} 1\n",
		      TF_SERVER_VERSION);
	return out->failed;
}

/*
 * metrics.h - tenfourd's counters for GET /metrics (Prometheus text
 * exposition format 0.0.4).  Updates are C11 atomics, safe from every
 * HTTP worker thread; the database figures (ledger rows, records, open
 * conflicts, audit entries) are read from tf_db stats at most once per
 * second.
 */
#ifndef TF_SERVER_METRICS_H
#define TF_SERVER_METRICS_H

#include <stdint.h>

#include "server/db/db.h"
#include "tenfour/tenfour.h"

/* Routes counted in tenfour_http_requests_total{route}. */
enum tf_route {
	TF_ROUTE_HEALTHZ,
	TF_ROUTE_METRICS,
	TF_ROUTE_KEYS,
	TF_ROUTE_BANNER,
	TF_ROUTE_LOGIN,
	TF_ROUTE_LOGOUT,
	TF_ROUTE_PUSH,
	TF_ROUTE_PULL,
	TF_ROUTE_EVENTS,
	TF_ROUTE_CONFLICTS,
	TF_ROUTE_TEXT_REVISIONS,
	TF_ROUTE_WIPE_RECEIPT,
	TF_ROUTE_AUDIT_DEVICE,
	TF_ROUTE_AUDIT_EXPORT,
	TF_ROUTE_AUDIT_VERIFY,
	TF_ROUTE_ADMIN_DEVICE_REVOKE,
	TF_ROUTE_ADMIN_USER_RELEASE,
	TF_ROUTE_ADMIN_SESSIONS_REVOKE,
	TF_ROUTE_OTHER, /* unknown paths (404) */
	TF_ROUTE_COUNT
};

/* The route label: "/v1/sync/push", "other", ... */
const char *tf_route_name(int route);

typedef struct tf_metrics tf_metrics;

int tf_metrics_new(tf_metrics **out);
void tf_metrics_free(tf_metrics *m);

/* One answered request: its route and HTTP status. */
void tf_metrics_request(tf_metrics *m, int route, unsigned status);
/* Service time of a push or pull, seconds. */
void tf_metrics_push_time(tf_metrics *m, double seconds);
void tf_metrics_pull_time(tf_metrics *m, double seconds);
/*
 * Counts the per-command statuses of a push reply (the JSON text of
 * tf_sync_push): every "status":"<s>" inside "results".
 */
void tf_metrics_push_reply(tf_metrics *m, const char *reply, size_t len);
/* The open SSE connection gauge. */
void tf_metrics_sse(tf_metrics *m, int delta);
long tf_metrics_sse_open(tf_metrics *m);

/*
 * Appends the exposition text to out.  db (may be NULL) is read for the
 * stats when the cached copy is older than one second at now_ms.
 */
int tf_metrics_render(tf_metrics *m, tf_db *db, int64_t now_ms, tf_buf *out);

#endif

/*
 * http.h - tenfourd's HTTP layer: libmicrohttpd (internal epoll thread
 * pool, suspend/resume) in front of the services of server.h, the JSON
 * logger of the process, and the wall clock the services get as now_ms.
 *
 * Routes, limits and the error -> status mapping follow server.h; SSE
 * and long-poll live in events.c; /metrics in metrics.c.
 */
#ifndef TF_SERVER_HTTP_H
#define TF_SERVER_HTTP_H

#include <stdint.h>

#include "server/config.h"
#include "server/server.h"

typedef struct tf_http tf_http;

/* Milliseconds since the epoch (CLOCK_REALTIME): the services' now_ms. */
int64_t tf_http_now_ms(void);

/*
 * Connection limits: the options max-connections-per-ip and
 * metrics-allow (tf_config carries them; tf_http_limits_config copies
 * them) and the per-session limits of events.h, which have no option.
 * tf_http_limits_default fills the defaults.
 */
#define TF_HTTP_PER_IP_DEFAULT TF_CONFIG_PER_IP_DEFAULT
#define TF_HTTP_METRICS_ALLOW_MAX TF_CONFIG_METRICS_ALLOW_MAX
typedef struct tf_http_limits {
	/* Connections one peer address may hold (0: no limit).  The
	   trusted proxy is exempt (every client then comes from its
	   address; max-connections bounds it, the proxy limits its
	   clients), and so are loopback peers unless per_ip_loopback. */
	unsigned per_ip;
	int per_ip_loopback;
	unsigned per_session; /* SSE streams + long-polls per session */
	unsigned sse_recheck_ms; /* session re-check period of streams (0: before every poke) */
	/* Peers served GET /metrics besides loopback (127.0.0.0/8, ::1):
	   a comma-separated list of IPv4/IPv6 literals, "" = none. */
	char metrics_allow[TF_CONFIG_METRICS_ALLOW_LEN];
} tf_http_limits;

void tf_http_limits_default(tf_http_limits *l);
/* The defaults with cfg's max-connections-per-ip and metrics-allow. */
void tf_http_limits_config(tf_http_limits *l, const tf_config *cfg);

/*
 * Starts serving s (borrowed; it must outlive the server) as configured
 * (listen, tls-cert/key, threads, max-connections,
 * max-connections-per-ip, sse-heartbeat-s, metrics, metrics-allow,
 * trusted-proxy, port-file).  Sets s->notify/notify_arg to the
 * live-event registry (tf_http_stop clears them).  Raises RLIMIT_NOFILE
 * to fit max-connections.  When cfg->port_file is set, the bound port is
 * written there (atomically, by rename) once the daemon accepts.
 * Errors: TF_EIO (cannot listen, TLS files unreadable), TF_ENOMEM.
 */
int tf_http_start(tf_srv *s, const tf_config *cfg, tf_http **out,
		  tf_err *err);
/* The same with explicit limits (NULL: tf_http_limits_config of cfg);
   lim's per_ip and metrics_allow are used instead of cfg's.  Errors
   also TF_EINVAL (field "metrics-allow") for an entry that is no address. */
int tf_http_start_limits(tf_srv *s, const tf_config *cfg,
			 const tf_http_limits *lim, tf_http **out,
			 tf_err *err);
/* The bound TCP port (useful with port 0). */
uint16_t tf_http_port(const tf_http *h);

/*
 * Graceful stop, phase one: /healthz answers 503 "stopping", no new
 * connection is accepted, SSE streams end and long-poll waiters answer.
 * Idempotent; safe from any thread except a signal handler.
 */
void tf_http_quiesce(tf_http *h);
/*
 * Phase two (runs phase one if needed): waits (bounded, 10 s) for the
 * requests in flight, stops the daemon (joining its threads), frees h.
 * The database is the caller's to close afterwards.
 */
void tf_http_stop(tf_http *h);

/* SSE streams and long-poll waiters open right now (tests). */
void tf_http_live_counts(tf_http *h, size_t *streams, size_t *waiters);

/* ------------------------------------------------------------- logging */

/* Lines below `level` (enum tf_log_level) are dropped; default info. */
void tf_log_set_level(int level);
int tf_log_enabled(int level);
/*
 * Writes one JSON object line to stderr in one write(2):
 * {"ts":"<UTC ISO 8601>","level":"...","msg":"<msg>"<fields>}.
 * fields is "" or a fragment of members starting with ',' built with the
 * helpers below (which escape).  Never log tokens, passwords or bodies.
 */
void tf_log_write(int level, const char *msg, const char *fields);
void tf_log_field_str(tf_buf *b, const char *key, const char *val);
void tf_log_field_int(tf_buf *b, const char *key, int64_t val);

#endif

/*
 * fault_proxy.h - a loopback TCP proxy between a client under test and
 * tenfourd, with network faults the test switches at run time: the link
 * cut ("signal lost"), connections dropped, chunks delayed, requests
 * replayed to the server, replies cut mid-way or held back until released.
 *
 * The proxy listens on 127.0.0.1 (a random port) and forwards each
 * accepted connection to 127.0.0.1:<upstream port>, which may change
 * while it runs (a restarted tenfourd listens on a new port).  One thread
 * runs every connection with poll(); each wait is at most 50 ms, every
 * buffer is bounded (a full buffer stops reading its source), and
 * tf_fp_stop joins the thread and closes every socket.
 *
 * HTTP awareness is kept to what the faults need: request heads (method,
 * path, Content-Length) to find request boundaries and to match a fault
 * to a path, and response heads to know when a held reply is complete.
 * No pipelining is assumed (libcurl does not pipeline): the bytes the
 * server sends after a request belong to that request's reply.  A message
 * with Transfer-Encoding (an event stream) makes the rest of its
 * connection opaque: its bytes pass, counted, without request boundaries.
 *
 * Threads: every function may be called from any thread once
 * tf_fp_start returned; tf_fp_stop once, by the thread that started it.
 * Accepted sockets are close-on-exec, so a process the test spawns (the
 * CLI under test) never keeps a connection the proxy closed alive.
 *
 * Its own tests: tests/client/test_client_faults.c (proxy_*), against a
 * small HTTP stub.
 */
#ifndef TF_FAULT_PROXY_H
#define TF_FAULT_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "tenfour/tenfour.h"

typedef struct tf_fault_proxy tf_fault_proxy;

typedef enum tf_fp_mode {
	/* Forward everything unchanged. */
	TF_FP_PASS = 0,
	/* The link is down: the listening socket is closed (connects are
	   refused) and every open connection is reset.  Switching to another
	   mode listens again on the same port. */
	TF_FP_DOWN,
	/* A matching request is not forwarded: its connection is closed
	   (reset) once the request head arrived, without a reply. */
	TF_FP_DROP,
	/* Each chunk read from either side of a matching exchange is
	   forwarded arg ms after it arrived. */
	TF_FP_DELAY,
	/* A matching request, once complete, is forwarded as usual and its
	   bytes are sent again, arg ms later, on a second connection to the
	   server whose reply is read and discarded: the server sees the
	   request twice, the client gets one reply. */
	TF_FP_DUP,
	/* The first arg bytes of a matching request's reply are forwarded,
	   then both sides are reset. */
	TF_FP_CUT,
	/* A matching request's reply is kept in the proxy (not forwarded)
	   until tf_fp_release or a switch to another mode. */
	TF_FP_HOLD
} tf_fp_mode;

/* A fault: mode, its argument, and which requests it applies to. */
typedef struct tf_fp_fault {
	tf_fp_mode mode;
	int64_t arg; /* DELAY: ms; DUP: ms before the replay; CUT: bytes */
	/* Requests whose path (after the method) begins with this, e.g.
	   "/v1/sync/push"; NULL or "": every request.  Copied. */
	const char *path_prefix;
	/* Matching requests let through untouched before the fault acts
	   (e.g. 2: hold the reply of the third pull). */
	uint32_t skip;
	/* Matching requests the fault acts on after the skipped ones;
	   0: every one. */
	uint32_t count;
} tf_fp_fault;

typedef struct tf_fp_stats {
	uint64_t accepted;  /* client connections accepted */
	uint64_t refused;   /* closed at once (down, full, server unreachable) */
	uint64_t open;      /* client connections open now */
	uint64_t requests;  /* request heads seen */
	uint64_t matched;   /* of them matching the fault's prefix, since it
			       was set */
	uint64_t faulted;   /* requests the fault acted on, since it was set */
	uint64_t responses; /* response heads seen (1xx excluded) */
	uint64_t bytes_up;  /* client -> server, forwarded */
	uint64_t bytes_down; /* server -> client, forwarded */
	uint64_t dropped;   /* requests dropped */
	uint64_t cut;       /* replies cut */
	uint64_t dup_sent;  /* replays sent complete */
	uint64_t dup_replies; /* replies to replays read complete */
	int dup_last_status;  /* HTTP status of the last replay's reply */
	uint64_t held_bytes;  /* reply bytes held now */
	uint64_t held_complete; /* held replies received complete (a matching
				   reply whose whole body is in the proxy) */
	int held_status;     /* HTTP status of the last held reply (0: none) */
} tf_fp_stats;

/*
 * Starts the proxy toward 127.0.0.1:upstream_port (0: not known yet;
 * connections are refused until tf_fp_set_upstream), in pass mode.
 * *out gets the proxy; its port from tf_fp_port.  Errors: TF_EIO (socket,
 * bind, thread) with the call named in err, TF_ENOMEM.
 */
int tf_fp_start(int upstream_port, tf_fault_proxy **out, tf_err *err);
/* Stops the thread, resets every connection, frees; NULL is fine. */
void tf_fp_stop(tf_fault_proxy *p);
/* The port the proxy listens on (stable across TF_FP_DOWN). */
int tf_fp_port(const tf_fault_proxy *p);
/* "http://127.0.0.1:<port>" into out (at least 32 bytes). */
void tf_fp_url(const tf_fault_proxy *p, char *out, size_t cap);
/* New connections go to this port from now on. */
void tf_fp_set_upstream(tf_fault_proxy *p, int upstream_port);

/*
 * Sets the fault (f NULL: pass), resets the matched and faulted counters
 * and releases held replies.  Takes effect before the next byte is
 * forwarded; TF_FP_DOWN has closed the listener and reset every
 * connection when this returns (bounded wait of 2 s for the proxy's
 * thread, else TF_EBUSY).  TF_EINVAL for a bad mode or argument.
 */
int tf_fp_set(tf_fault_proxy *p, const tf_fp_fault *f);
/* tf_fp_set with just a mode and its argument, for every request. */
int tf_fp_set_mode(tf_fault_proxy *p, tf_fp_mode mode, int64_t arg);
/* Forwards the held replies (the mode stays; later ones are held). */
void tf_fp_release(tf_fault_proxy *p);

void tf_fp_stats_get(tf_fault_proxy *p, tf_fp_stats *st);
/*
 * Waits (at most timeout_ms) until a matching reply is held complete
 * (held_complete > 0) or, with complete 0, until some reply bytes are
 * held.  0 then, TF_EBUSY when the time ran out.
 */
int tf_fp_wait_held(tf_fault_proxy *p, int complete, int64_t timeout_ms);
/* Waits (at most timeout_ms) until faulted >= n.  0 or TF_EBUSY. */
int tf_fp_wait_faulted(tf_fault_proxy *p, uint64_t n, int64_t timeout_ms);

#endif

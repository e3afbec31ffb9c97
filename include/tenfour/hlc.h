/*
 * hlc.h - hybrid logical clock and UUIDv7.
 *
 * A stamp is 64 bits: 48-bit milliseconds since the Unix epoch, 16-bit
 * logical counter.  Two stamps of different nodes that are equal are ordered
 * by node id (tf_hlc_order).  The clock never reads time itself: the host
 * passes `now_ms` and persists `last` (the high-water mark), handing it back
 * through tf_clock_init after a restart so stamps stay monotonic.
 *
 * On the wire a stamp is 16 lower-case hex digits, so that the text order
 * is the numeric order ("0191a2b3c4d50001").
 */
#ifndef TENFOUR_HLC_H
#define TENFOUR_HLC_H

#include "tenfour/tenfour.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t tf_hlc;

#define TF_HLC_MS(h) ((int64_t)((h) >> 16))
#define TF_HLC_COUNTER(h) ((unsigned)((h)&0xffffu))
#define TF_HLC_MAKE(ms, c) (((uint64_t)(ms) << 16) | ((uint64_t)(c)&0xffffu))
#define TF_HLC_MAX_MS ((int64_t)0xffffffffffffLL)
#define TF_HLC_TEXT_LEN 16
#define TF_DEFAULT_MAX_SKEW_MS 60000

typedef struct tf_clock {
	tf_hlc last;         /* high-water mark; the host persists it */
	int64_t max_skew_ms; /* remote stamps further ahead are refused */
	int64_t offset_ms;   /* added to now_ms (set after a clock_skew) */
} tf_clock;

/* last = the persisted high-water (0 for a new node). */
void tf_clock_init(tf_clock *c, tf_hlc last, int64_t max_skew_ms);

/*
 * Stamps a local event or send at physical time now_ms (+offset).
 * Strictly greater than every stamp this clock issued or received.
 * TF_ERANGE when now_ms is outside [0, 2^48).
 */
int tf_hlc_now(tf_clock *c, int64_t now_ms, tf_hlc *out);

/*
 * Receives a remote stamp.  TF_ECLOCKSKEW (clock unchanged) when the remote
 * is more than max_skew_ms ahead of now_ms (+offset): never clamped.
 * Otherwise advances the clock past `remote`; *out (may be NULL) gets the
 * new local stamp.
 */
int tf_hlc_recv(tf_clock *c, int64_t now_ms, tf_hlc remote, tf_hlc *out);

/* 0 if `remote` is within max_skew_ms of now_ms, else TF_ECLOCKSKEW. */
int tf_hlc_check_skew(int64_t now_ms, int64_t max_skew_ms, tf_hlc remote);

/*
 * After the server refused a stamp with clock_skew and told its time:
 * sets offset so that now_ms + offset == server_ms and rebases the
 * high-water mark to the server's time, so that the next stamps are
 * accepted.  The only operation that moves the clock backwards; the host
 * audits it.  Returns the new offset.
 */
int64_t tf_clock_rebase(tf_clock *c, int64_t now_ms, int64_t server_ms);

/* Orders (a, node_a) against (b, node_b): <0, 0, >0.  Nodes by strcmp. */
int tf_hlc_order(tf_hlc a, const char *node_a, tf_hlc b, const char *node_b);

/* Writes 16 hex digits and a NUL. */
void tf_hlc_format(tf_hlc h, char out[TF_HLC_TEXT_LEN + 1]);
/* Parses exactly 16 hex digits (either case). TF_EINVAL otherwise. */
int tf_hlc_parse(const char *s, size_t len, tf_hlc *out);

/*
 * UUIDv7 (RFC 9562) from now_ms and 10 random bytes, lower-case text
 * "xxxxxxxx-xxxx-7xxx-yxxx-xxxxxxxxxxxx" plus NUL.  TF_ERANGE for a
 * now_ms outside 48 bits.
 */
#define TF_UUID_LEN 36
int tf_uuid7(int64_t now_ms, const uint8_t rnd[10], char out[TF_UUID_LEN + 1]);
/* 1 if s[0..len) is a lower-case canonical UUID text (any version). */
int tf_uuid_valid(const char *s, size_t len);

#ifdef __cplusplus
}
#endif
#endif

/*
 * sim_server.h - an in-memory reference server for tests: the command
 * ledger of ARCHITECTURE.md section 3 per device, the records applied with
 * the core's merge code (authority 1), a change feed with cursors and
 * retention, and scope-based purge.  Messages go in and out as bytes
 * through the protocol encoders and decoders, exactly as with tenfourd.
 *
 * Ledger rules (per device, last = highest seq held):
 *  - seq <= last: the stored result is replayed (applied and conflict as
 *    "duplicate" with the stored detail; a rejection as the same
 *    rejection); the same seq with another cmd_id, or the same cmd_id with
 *    other canonical bytes, is rejected (cmd_id_reused) without effect;
 *  - seq > last + 1: the batch stops at the gap;
 *  - a stamp more than max_skew ahead of the server's clock: clock_skew
 *    with the server's time; last does not move and the batch stops;
 *  - a cmd_id already used anywhere: rejected cmd_id_reused, stored;
 *  - business rejections (validation, merge refusals) advance last and
 *    store the rejection.
 *
 * Feed: every applied change moves the record to a new global sequence
 * number; a cursor is its decimal text.  A pull returns the records
 * changed after the cursor in feed order, records out of the device's
 * scope as purged ids, up to `limit` entries, and the device's ack.
 */
#ifndef TF_SIM_SERVER_H
#define TF_SIM_SERVER_H

#include "tenfour/replica.h"

typedef struct tf_sim tf_sim;

/* Scope: 1 when `device` may see `rec`.  NULL predicate: everything. */
typedef int (*tf_sim_visible_fn)(void *ctx, const char *device,
				 const tf_json *rec);

int tf_sim_new(const tf_schema *s, tf_sim **out);
void tf_sim_free(tf_sim *sv);

/* Enrolls a device; `service` devices may send ref_set. */
int tf_sim_add_device(tf_sim *sv, const char *device, int service);
void tf_sim_set_max_skew(tf_sim *sv, int64_t ms);
void tf_sim_set_visible(tf_sim *sv, tf_sim_visible_fn fn, void *ctx);
/* Every record re-enters the feed (after a scope rule changed). */
void tf_sim_touch_all(tf_sim *sv);
/* Cursors below `floor` (a feed sequence) are answered with a reset. */
void tf_sim_set_retention(tf_sim *sv, uint64_t floor);
uint64_t tf_sim_feed_seq(const tf_sim *sv);

/*
 * POST /v1/sync/push: `reply` receives the push reply.  A malformed or
 * wrong-version request is an error (the HTTP 400), reply untouched.
 */
int tf_sim_push(tf_sim *sv, int64_t now_ms, const char *req, size_t len,
		tf_buf *reply, tf_err *err);
/*
 * GET /v1/sync/pull: `page` receives one page (limit 0 = 1000, at most
 * 5000).  TF_EPERM for an unknown device, TF_EINVAL for a bad cursor.
 */
int tf_sim_pull(tf_sim *sv, int64_t now_ms, const char *device,
		const char *cursor, size_t limit, tf_buf *page, tf_err *err);

/* The server's state of a record (borrowed), or NULL. */
const tf_json *tf_sim_record(const tf_sim *sv, const char *id);
size_t tf_sim_nrecords(const tf_sim *sv);
/* The device's ledger position (its ack). */
uint64_t tf_sim_last(const tf_sim *sv, const char *device);
/*
 * The stored result of a command id: status and detail (borrowed; either
 * out pointer may be NULL).  TF_ENOTFOUND when never stored.
 */
int tf_sim_cmd_result(const tf_sim *sv, const char *cmd_id, tf_status *st,
		      const tf_json **detail);
/* The records `device` may see (NULL: all), by id, as a JSON array. */
int tf_sim_dump(const tf_sim *sv, const char *device, tf_buf *out);

/*
 * A complete, reliable sync of replica r (device `device`): pushes until
 * nothing is left to send, then pulls pages of `limit` until the last.
 * server_ms is the server's clock, replica_ms the device's.  Returns the
 * first error.
 */
int tf_sim_sync(tf_sim *sv, tf_replica *r, const char *device,
		int64_t server_ms, int64_t replica_ms, size_t limit,
		tf_err *err);

#endif

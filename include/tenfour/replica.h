/*
 * replica.h - the client state machine: confirmed base (server states) plus
 * a queue of pending commands replayed on top.  Sans-I/O: the host moves
 * the bytes (push request out, push reply and pull pages in), passes the
 * time and random bytes, and persists tf_replica_save() output encrypted.
 *
 * Lifecycle: tf_replica_new or tf_replica_load, then any number of
 * mutate / push / apply calls, tf_replica_free.  After an internal failure
 * (TF_ENOMEM half-way) the replica is failed: every call returns TF_ESTATE
 * until it is freed and loaded again from its last saved bytes (sticky,
 * like BearSSL).  Bad input (a malformed page) is refused with nothing
 * applied and does not fail the replica.
 *
 * Borrowed pointers (tf_replica_get) stay valid until the next call that
 * changes the replica.
 */
#ifndef TENFOUR_REPLICA_H
#define TENFOUR_REPLICA_H

#include "tenfour/protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tf_replica tf_replica;

typedef enum tf_sync_state {
	TF_SYNC_NONE = 0, /* no such record */
	TF_SYNC_SYNCED,
	TF_SYNC_PENDING,    /* tentative: commands awaiting ack */
	TF_SYNC_REJECTED,   /* a command was rejected; notice not yet acked */
	TF_SYNC_CONFLICT,   /* an open text conflict */
	TF_SYNC_SUPERSEDED  /* a queued value lost; notice not yet acked */
} tf_sync_state;

const char *tf_sync_state_name(tf_sync_state s);

typedef struct tf_replica_summary {
	size_t pending;            /* commands not yet settled */
	int64_t oldest_pending_ms; /* age of the oldest, 0 when none */
	int64_t last_sync_ms;      /* time of the last complete pull, 0 never */
	size_t conflicts;          /* records with open text conflicts */
	size_t superseded;         /* unacknowledged supersede notices */
	size_t rejected;           /* unacknowledged rejections */
	uint64_t ack;              /* highest seq the server acknowledged */
	uint64_t next_seq;
	size_t records;            /* records in the view */
} tf_replica_summary;

int tf_replica_new(const tf_schema *s, const char *device, const char *user,
		   tf_hlc clock_last, tf_replica **out);
void tf_replica_free(tf_replica *r);

/*
 * Continues a new replica's seqs after last_seq, the device's last seq
 * in the server's ledger (the login reply's device_seq): next_seq
 * becomes last_seq + 1 and the acks last_seq; the head is dirty.  For a
 * replica whose store was wiped while the server kept its ledger.
 * TF_ESTATE unless nothing was queued or acked (next_seq 1); TF_ERANGE
 * for a last_seq of 2^63 - 1 or more.
 */
int tf_replica_resume_seq(tf_replica *r, uint64_t last_seq);

/*
 * Records a local mutation: validates it (online 0 refuses online_only
 * fields with TF_EOFFLINE), stamps it, gives it the next seq, queues it and
 * applies it to the view.  record_id NULL creates a new record (op must be
 * TF_OP_CREATE) with a UUIDv7 from now_ms and rnd; rnd also makes cmd_id
 * (20 bytes: 10 for the cmd_id, 10 for a new record id).
 * cmd_id_out (may be NULL) receives the command id, record_id_out (may be
 * NULL) the record id.
 */
int tf_replica_mutate(tf_replica *r, int64_t now_ms, const uint8_t rnd[20],
		      int online, const char *entity, const char *record_id,
		      tf_op op, const tf_json *args,
		      char cmd_id_out[TF_UUID_LEN + 1],
		      char record_id_out[TF_UUID_LEN + 1], tf_err *err);

/* Encodes a push request of up to max pending commands (oldest first). */
int tf_replica_push_request(tf_replica *r, size_t max, tf_buf *out);

/*
 * Takes the server's push reply: drops acknowledged commands whose result
 * is final, records rejections as notices, and on clock_skew rebases the
 * clock to the server's time and re-stamps the refused command and every
 * later one (in queue order).
 */
int tf_replica_apply_push_reply(tf_replica *r, int64_t now_ms, const char *buf,
				size_t len, tf_err *err);

/* The cursor to send with the next pull ("" at first). Borrowed. */
const char *tf_replica_cursor(const tf_replica *r);

/*
 * Applies one pull page: record states replace the base, purged ids leave
 * (base, view; their pending commands stay until the server answers them),
 * on the final page (has_more false) pending commands with seq <= ack
 * whose result has arrived are dropped (those without stay, to be sent
 * again: the ledger replays their stored results), supersede notices are raised for dropped lww values that lost
 * to another node's write, and the view is rebuilt by replaying the rest.
 * `reset` drops the base and the cursor (pending stays).
 */
int tf_replica_apply_pull(tf_replica *r, int64_t now_ms, const char *buf,
			  size_t len, tf_err *err);

/* The view of a record (base + pending), borrowed; NULL when unknown. */
const tf_json *tf_replica_get(tf_replica *r, const char *record_id);
tf_sync_state tf_replica_state(tf_replica *r, const char *record_id);

/*
 * {record, sync, pending, notices:[...]} for the UI, canonical JSON.
 * TF_ENOTFOUND for an unknown record.
 */
int tf_replica_view_json(tf_replica *r, const char *record_id, tf_buf *out);
/* Every record id in the view, sorted; written as a JSON array. */
int tf_replica_list_json(tf_replica *r, const char *entity, tf_buf *out);
/* The open notices (supersede, rejection) as a JSON array. */
int tf_replica_notices_json(tf_replica *r, tf_buf *out);
/* Acknowledges (removes) a notice by id; TF_ENOTFOUND when unknown. */
int tf_replica_ack_notice(tf_replica *r, const char *notice_id);

void tf_replica_summary_get(tf_replica *r, int64_t now_ms,
			    tf_replica_summary *out);
int tf_replica_summary_json(tf_replica *r, int64_t now_ms, tf_buf *out);

/*
 * Marks the replica as a service account's (default: not): it may then
 * queue ref_set commands.  The server checks the account's role again.
 */
void tf_replica_set_allow_ref(tf_replica *r, int allow);

/*
 * Pending commands whose result has not arrived: what the next push
 * request carries (0: nothing to push).
 */
size_t tf_replica_unsent(const tf_replica *r);

/*
 * Test hook (fault simulation, like SQLite's): the countdown-th
 * allocation point the replica reaches while committing an update fails
 * as if out of memory, which fails the replica.  0 turns it off.
 */
void tf_replica_fault_inject(tf_replica *r, long countdown);

/* The clock high-water mark to persist. */
tf_hlc tf_replica_clock(const tf_replica *r);

/* Whole replica as canonical bytes, and back. */
int tf_replica_save(tf_replica *r, tf_buf *out);
int tf_replica_load(const tf_schema *s, const char *buf, size_t len,
		    tf_replica **out, tf_err *err);

/*
 * Incremental persistence, for stores that keep one sealed row per record
 * (the native SQLite store, the browser's IndexedDB).  The replica tracks
 * what changed since the last checkpoint that the host confirmed:
 *  - records whose confirmed base was written (put_record: the record
 *    state, canonical JSON) or dropped (del_record: purged, evicted,
 *    reset);
 *  - pending commands queued or changed (put_pending: {"at","cmd",
 *    "result"?} as in tf_replica_save's "pending" items; a re-stamp or
 *    a result changes one) or settled (del_pending);
 *  - the head: everything else of tf_replica_save (its "base" and
 *    "pending" arrays empty), written by put_head whenever anything
 *    changed.
 * tf_replica_checkpoint calls the sink once per change (full: for every
 * record and pending command, as after a load or for a new store), in
 * record-id and seq order; a non-zero return of a sink function stops it
 * and is returned.  The host writes them in one transaction and, only
 * once that committed, calls tf_replica_checkpoint_done; when it did not
 * commit, the next checkpoint emits the same changes again (and more).
 * A failed replica refuses both (TF_ESTATE).
 */
typedef struct tf_replica_sink {
	int (*put_record)(void *ctx, const char *id, const char *json,
			  size_t len);
	int (*del_record)(void *ctx, const char *id);
	int (*put_pending)(void *ctx, uint64_t seq, const char *json,
			   size_t len);
	int (*del_pending)(void *ctx, uint64_t seq);
	int (*put_head)(void *ctx, const char *json, size_t len);
} tf_replica_sink;

int tf_replica_checkpoint(tf_replica *r, int full, const tf_replica_sink *s,
			  void *ctx);
void tf_replica_checkpoint_done(tf_replica *r);
/* 1 when there is something to checkpoint. */
int tf_replica_dirty(const tf_replica *r);

/* One stored part: bytes and length (not NUL-terminated). */
typedef struct tf_slice {
	const char *p;
	size_t len;
} tf_slice;

/*
 * Loads what checkpoints wrote: the head, the record states and the
 * pending items (in any order; they are sorted and checked as
 * tf_replica_load checks a whole save).  The result equals the replica
 * that was checkpointed (tf_replica_save gives the same bytes) and has
 * nothing to checkpoint.
 */
int tf_replica_load_parts(const tf_schema *s, const char *head, size_t hlen,
			  const tf_slice *records, size_t nrecords,
			  const tf_slice *pending, size_t npending,
			  tf_replica **out, tf_err *err);

/*
 * Evicts a record's confirmed state from the replica (the cache budget of
 * policy.h tf_policy_evict chose it): only a `synced` record with no
 * pending command and no open notice may go (TF_ESTATE otherwise,
 * TF_ENOTFOUND when unknown).  A later pull brings it back when it
 * changes.  Checkpoints see a del_record.
 */
int tf_replica_evict(tf_replica *r, const char *record_id, tf_err *err);

/*
 * The estimate the last pull page gave of the changes still to come
 * (its "remaining" member), for progress reports; -1 when the server
 * did not say.
 */
int64_t tf_replica_pull_remaining(const tf_replica *r);

#ifdef __cplusplus
}
#endif
#endif

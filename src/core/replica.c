/*
 * replica.c - the client replica: confirmed base (server record states)
 * plus a queue of pending local commands replayed on top to make the view.
 * Contract: replica.h; behaviour: docs/PROTOCOL.md section "Replica" and
 * ARCHITECTURE.md section 3.
 *
 * State:
 *  - a hash table (open addressing, linear probing, backward-shift delete)
 *    from record id to an entry {base, view, pending count, notice counts};
 *    the view is a separate tree only while pending commands touch the
 *    record, otherwise the base is the view;
 *  - the pending queue, in seq order (seq is contiguous when issued; the
 *    server may reject commands out of the middle).  Each command knows
 *    whether a reply has told its result.  An ack says only that the
 *    server holds a command, not how it ended, so a final page's ack
 *    drops only commands whose result has arrived; one it passes with
 *    no result ("acked, result unknown": its reply was lost) stays
 *    queued and is sent again until the ledger replays its result;
 *  - the open notices (supersede, rejection) in the order they were raised.
 *
 * Every update runs in two phases: first everything that can fail on bad
 * input (decoding, cross-checks against the queue) and every allocation
 * that can be made ahead, with the replica untouched; then the commit.  An
 * allocation failure inside the commit (rebuilding views) leaves the
 * replica half-updated, so it is marked failed and refuses every later call
 * with TF_ESTATE until the host loads it again from its last saved bytes.
 *
 * Rebuilding a view never reimplements merging: it clones the base and
 * replays the record's pending commands through tf_record_apply (authority
 * 0), in queue order, only for the records an update touched.
 *
 * Incremental persistence (tf_replica_checkpoint): each base and pending
 * command carries the generation of its last change, drops of bases and
 * settlements of commands are listed with theirs, and every update
 * touches the head; a checkpoint emits what is newer than the last
 * confirmed one.  A checkpoint's head is the saved form with "base" and
 * "pending" empty, so tf_replica_load_parts splices the parts back into
 * one saved document and loads it with tf_replica_load's checks.
 */
#include "tenfour/replica.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLICA_FORMAT 1
#define REPLICA_MAX_PENDING ((size_t)100000)
#define REPLICA_MAX_RECORDS ((size_t)1000000)
#define REPLICA_MAX_NOTICES ((size_t)10000)
/* cmd_id ":" field */
#define NOTICE_ID_MAX (TF_UUID_LEN + 1 + TF_NAME_MAX)

enum { NOTICE_SUPERSEDED = 1, NOTICE_REJECTED };

typedef struct rentry {
	char id[TF_UUID_LEN + 1];
	tf_json *base; /* confirmed server state, owned; NULL when none */
	tf_json *view; /* base + pending, owned; used when has_view */
	int has_view;
	int gone;     /* purged while pending commands name it: hidden */
	int dirty;    /* its view must be rebuilt */
	int conflict; /* the view has an open text conflict */
	size_t npending;
	size_t nsuper, nrej; /* open notices naming the record */
	/*
	 * The ack of the page that delivered the base: the base already
	 * holds the effect of this device's commands up to it, so replay
	 * skips them (pages before the last one of a pull come before the
	 * ack drops those commands).
	 */
	uint64_t base_ack;
	/* Generation of the last change of base (put or drop), 0: none. */
	uint64_t bgen;
} rentry;

typedef struct pend {
	tf_command cmd;
	int64_t at; /* host time when queued, ms (for the oldest age) */
	/*
	 * The result a reply gave, once the server keeps the command
	 * (applied, duplicate, conflict); 0 while unknown.  Rejected
	 * commands leave the queue and clock_skew leaves it unknown.
	 */
	tf_status result;
	uint64_t gen; /* generation of its last change (queued, re-stamped,
			 result told) */
} pend;

/* A record whose base was dropped (its entry may be gone since). */
typedef struct dropped {
	char id[TF_UUID_LEN + 1];
	uint64_t gen;
} dropped;

/* A pending command that left the queue (acked or rejected). */
typedef struct settled_seq {
	uint64_t seq, gen;
} settled_seq;

typedef struct notice {
	int kind;
	char id[NOTICE_ID_MAX + 1];
	char record_id[TF_UUID_LEN + 1];
	tf_json *body; /* the notice object the UI sees, owned */
} notice;

struct tf_replica {
	const tf_schema *schema;
	char device[TF_ID_MAX + 1];
	char user[TF_ID_MAX + 1];
	tf_clock clock;
	uint64_t next_seq;
	uint64_t ack;	     /* highest ack a complete pull applied */
	uint64_t server_ack; /* highest seq the server said it holds */
	/*
	 * Pending commands with seq <= server_ack and no result yet: the
	 * server holds them but their reply was lost, so the next push
	 * sends them again (besides every seq above server_ack).
	 */
	size_t nresend;
	char *cursor;
	int64_t last_sync;
	int allow_ref; /* a service account's replica: may issue ref_set */
	int failed;
	long fault; /* test hook: the fault-th fault point fails; 0 = off */

	rentry **slots; /* power-of-two table of entries, NULL = free */
	size_t cap, nent;
	size_t ndirty;

	pend *pq;
	size_t npq, pqcap;

	notice *nt;
	size_t nnt, ntcap;

	/*
	 * Incremental persistence.  Every change is stamped with the
	 * current generation `gen`; what a confirmed checkpoint wrote has
	 * a generation <= `confirmed`, so a part is dirty when its
	 * generation is above it.  A checkpoint emits the dirty parts,
	 * remembers `gen` as `emitted` and moves `gen` on, so that changes
	 * made while the host commits stay dirty after checkpoint_done.
	 * Drops and settlements are kept in lists because their entries
	 * and queue slots go away; room for them is reserved before a
	 * commit like every other allocation.
	 */
	uint64_t gen, confirmed, emitted, hgen;
	int has_emitted; /* a checkpoint succeeded and awaits its done */
	dropped *dr;
	size_t ndr, drcap;
	settled_seq *st;
	size_t nst, stcap;

	int64_t remaining; /* the last pull page's estimate, -1 unknown */
};

static const char *const sync_names[] = {"none",     "synced",	 "pending",
					 "rejected", "conflict", "superseded"};

const char *tf_sync_state_name(tf_sync_state s)
{
	if ((size_t)s >= sizeof sync_names / sizeof sync_names[0])
		return "unknown";
	return sync_names[s];
}

/*
 * Fault points stand before each allocation the replica makes while
 * committing, so tests can drive every failure path (like SQLite's
 * fault simulator).  Returns 1 when this point must fail.
 */
static int fault(tf_replica *r)
{
	if (r->fault <= 0)
		return 0;
	if (--r->fault == 0)
		return 1;
	return 0;
}

void tf_replica_fault_inject(tf_replica *r, long countdown)
{
	assert(r != NULL);
	r->fault = countdown > 0 ? countdown : 0;
}

/* Marks the replica failed (sticky) and returns TF_ENOMEM. */
static int fail(tf_replica *r, tf_err *err)
{
	r->failed = 1;
	return tf_err_set(err, TF_ENOMEM, NULL,
			  "replica: out of memory during an update; the "
			  "replica is failed, load it again from its last "
			  "saved bytes");
}

static int check_live(const tf_replica *r, tf_err *err)
{
	if (r->failed)
		return tf_err_set(err, TF_ESTATE, NULL,
				  "replica: failed by an earlier error; load "
				  "it again from its last saved bytes");
	return 0;
}

/* ------------------------------------------------------------ table */

static size_t id_hash(const char *id)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (*id) {
		h ^= (unsigned char)*id++;
		h *= 0x100000001b3ULL;
	}
	return (size_t)(h ^ (h >> 29));
}

static size_t table_slot(const tf_replica *r, const char *id)
{
	size_t mask = r->cap - 1, i = id_hash(id) & mask;

	while (r->slots[i] && strcmp(r->slots[i]->id, id) != 0)
		i = (i + 1) & mask;
	return i;
}

static rentry *table_find(const tf_replica *r, const char *id)
{
	if (r->cap == 0 || id == NULL)
		return NULL;
	return r->slots[table_slot(r, id)];
}

/* Makes room for `extra` more entries at a load of at most 3/4. */
static int table_reserve(tf_replica *r, size_t extra)
{
	rentry **old = r->slots, **slots;
	size_t oldcap = r->cap, cap = r->cap ? r->cap : 16, i;

	if (extra > REPLICA_MAX_RECORDS * 2)
		return TF_ELIMIT;
	while ((r->nent + extra) * 4 > cap * 3)
		cap *= 2;
	if (cap == r->cap)
		return 0;
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	slots = calloc(cap, sizeof *slots);
	if (slots == NULL)
		return TF_ENOMEM;
	r->slots = slots;
	r->cap = cap;
	for (i = 0; i < oldcap; i++)
		if (old[i])
			r->slots[table_slot(r, old[i]->id)] = old[i];
	free(old);
	return 0;
}

/* Inserts e (room reserved, id not present). */
static void table_put(tf_replica *r, rentry *e)
{
	size_t i = table_slot(r, e->id);

	assert(r->slots[i] == NULL);
	assert((r->nent + 1) * 4 <= r->cap * 3);
	r->slots[i] = e;
	r->nent++;
}

/* Removes the entry in slot i (backward-shift deletion); frees it. */
static void table_delete_at(tf_replica *r, size_t i)
{
	size_t mask = r->cap - 1, j = i, home;
	rentry *e = r->slots[i];

	assert(e != NULL);
	tf_json_free(e->base);
	tf_json_free(e->view);
	free(e);
	r->slots[i] = NULL;
	r->nent--;
	for (;;) {
		j = (j + 1) & mask;
		if (r->slots[j] == NULL)
			break;
		home = id_hash(r->slots[j]->id) & mask;
		/* Moves j back to i unless its home lies in (i, j]. */
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && (home <= i && home > j))) {
			r->slots[i] = r->slots[j];
			r->slots[j] = NULL;
			i = j;
		}
	}
}

static rentry *entry_new(const char *id)
{
	rentry *e = calloc(1, sizeof *e);

	if (e)
		memcpy(e->id, id, TF_UUID_LEN + 1);
	return e;
}

/* The record state the UI sees for e, or NULL. */
static const tf_json *entry_rec(const rentry *e)
{
	if (e == NULL || e->gone)
		return NULL;
	return e->has_view ? e->view : e->base;
}

static void mark_dirty(tf_replica *r, rentry *e)
{
	if (!e->dirty) {
		e->dirty = 1;
		r->ndirty++;
	}
}

static int entry_removable(const rentry *e)
{
	return e->base == NULL && e->npending == 0 && e->nsuper == 0 &&
	       e->nrej == 0 && !e->dirty;
}

/*
 * Drops entries that hold nothing any more.  A deletion shifts a later
 * entry into the freed slot, so the slot is looked at again; an entry
 * shifted across the wrap-around is merely looked at twice.
 */
static void table_gc(tf_replica *r)
{
	size_t i = 0;

	while (i < r->cap) {
		if (r->slots[i] && entry_removable(r->slots[i])) {
			table_delete_at(r, i);
			continue;
		}
		i++;
	}
}

/* ------------------------------------------------------------ helpers */

/*
 * 1 when rec has an open text conflict.  Entities without text fields
 * (most records: units, assignments) are answered from the schema alone.
 */
static int has_conflict(const tf_replica *r, const tf_json *rec)
{
	const char *name = rec ? tf_record_entity(rec) : NULL;
	const tf_entity *ent = name ? tf_schema_entity(r->schema, name) : NULL;
	size_t i;

	if (ent == NULL)
		return 0;
	for (i = 0; i < ent->nfields; i++)
		if (ent->fields[i].cls == TF_CLASS_TEXT)
			return tf_record_conflicts(rec) > 0;
	return 0;
}

/* The context pending commands are applied in: deterministic per command. */
static tf_apply_ctx replay_ctx(const tf_replica *r, const tf_command *c)
{
	tf_apply_ctx ctx;

	memset(&ctx, 0, sizeof ctx);
	ctx.schema = r->schema;
	ctx.now_ms = TF_HLC_MS(c->hlc);
	ctx.authority = 0;
	ctx.allow_ref = r->allow_ref;
	return ctx;
}

/*
 * The highest seq of this device whose effect e's base already holds:
 * the ack of the page that delivered it, or of the last complete pull
 * (which delivered every record this device's commands up to its ack
 * changed).  0 without a base.
 */
static uint64_t base_holds(const tf_replica *r, const rentry *e)
{
	if (e->base == NULL)
		return 0;
	return e->base_ack > r->ack ? e->base_ack : r->ack;
}

/*
 * Rebuilds the view of every dirty entry: the base cloned, then the
 * record's pending commands the base does not hold yet (seq above
 * base_holds) replayed in queue order.  A replayed command
 * the merge refuses (its record changed under it) simply has no effect on
 * the view; the server decides its fate.  ENOMEM fails the replica.
 */
static int rebuild(tf_replica *r, tf_err *err)
{
	tf_apply_result res;
	size_t i;
	int rc;

	if (r->ndirty == 0)
		return 0;
	for (i = 0; i < r->cap; i++) {
		rentry *e = r->slots[i];
		if (e == NULL || !e->dirty)
			continue;
		tf_json_free(e->view);
		e->view = NULL;
		e->has_view = 0;
		if (e->npending == 0)
			e->gone = 0;
		if (e->npending == 0 || e->gone)
			continue;
		if (e->base) {
			if (fault(r) ||
			    (e->view = tf_json_clone(e->base)) == NULL)
				return fail(r, err);
		}
		e->has_view = 1;
	}
	for (i = 0; i < r->npq; i++) {
		const tf_command *c = &r->pq[i].cmd;
		rentry *e = table_find(r, c->record_id);
		tf_apply_ctx ctx;
		if (e == NULL || !e->dirty || !e->has_view)
			continue;
		if (c->seq <= base_holds(r, e))
			continue;
		ctx = replay_ctx(r, c);
		memset(&res, 0, sizeof res);
		rc = fault(r) ? TF_ENOMEM
			      : tf_record_apply(&e->view, c, &ctx, &res);
		tf_apply_result_clear(&res);
		if (rc == TF_ENOMEM)
			return fail(r, err);
	}
	for (i = 0; i < r->cap; i++) {
		rentry *e = r->slots[i];
		if (e == NULL || !e->dirty)
			continue;
		e->dirty = 0;
		e->conflict = has_conflict(r, entry_rec(e));
	}
	r->ndirty = 0;
	table_gc(r);
	return 0;
}

/* Index of the pending command with `seq`, or r->npq. */
static size_t pq_find(const tf_replica *r, uint64_t seq)
{
	size_t lo = 0, hi = r->npq;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->pq[mid].cmd.seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < r->npq && r->pq[lo].cmd.seq == seq)
		return lo;
	return r->npq;
}

/* Closes the gaps dropped commands (cleared: seq 0) left, keeping order. */
static void pq_compact(tf_replica *r)
{
	size_t i, w;

	for (i = w = 0; i < r->npq; i++)
		if (r->pq[i].cmd.seq != 0)
			r->pq[w++] = r->pq[i];
	r->npq = w;
}

/*
 * Grows the array *arr (*cap elements of `size` bytes, n in use) so that
 * `extra` more fit, doubling from `first`.  Unchanged on TF_ENOMEM.
 */
static int array_reserve(void **arr, size_t *cap, size_t n, size_t extra,
			 size_t size, size_t first)
{
	size_t c = *cap ? *cap : first;
	void *p;

	if (n + extra <= *cap)
		return 0;
	while (c < n + extra)
		c *= 2;
	p = realloc(*arr, c * size);
	if (p == NULL)
		return TF_ENOMEM;
	*arr = p;
	*cap = c;
	return 0;
}

static int pq_reserve(tf_replica *r, size_t extra)
{
	void *p = r->pq;
	int rc = array_reserve(&p, &r->pqcap, r->npq, extra, sizeof *r->pq, 16);

	r->pq = p;
	return rc;
}

static int nt_reserve(tf_replica *r, size_t extra)
{
	void *p = r->nt;
	int rc = array_reserve(&p, &r->ntcap, r->nnt, extra, sizeof *r->nt, 8);

	r->nt = p;
	return rc;
}

/* ------------------------------------------------------------ dirty parts */

/* Orders dropped ids by id, then generation. */
static int cmp_dropped(const void *a, const void *b)
{
	const dropped *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	if (c)
		return c;
	return (x->gen > y->gen) - (x->gen < y->gen);
}

/*
 * Forgets the drops a checkpoint no longer needs to tell: those confirmed,
 * all but the last of one id, and those of records that have a base again
 * (their put, dirty since, supersedes the drop).  Sorts the list.
 */
static void dr_compact(tf_replica *r)
{
	size_t i, w = 0;

	if (r->ndr == 0)
		return;
	qsort(r->dr, r->ndr, sizeof *r->dr, cmp_dropped);
	for (i = 0; i < r->ndr; i++) {
		const rentry *e;
		if (r->dr[i].gen <= r->confirmed)
			continue;
		if (i + 1 < r->ndr && strcmp(r->dr[i].id, r->dr[i + 1].id) == 0)
			continue;
		e = table_find(r, r->dr[i].id);
		if (e && e->base)
			continue;
		r->dr[w++] = r->dr[i];
	}
	r->ndr = w;
}

/*
 * Room for `extra` more drops.  A host that checkpoints rarely would see
 * the list grow with every purge, so a long list is compacted first.
 */
static int dr_reserve(tf_replica *r, size_t extra)
{
	void *p;
	int rc;

	if (r->ndr + extra > r->drcap && r->ndr > 2 * r->nent + 1024)
		dr_compact(r);
	p = r->dr;
	rc = array_reserve(&p, &r->drcap, r->ndr, extra, sizeof *r->dr, 16);
	r->dr = p;
	return rc;
}

static int st_reserve(tf_replica *r, size_t extra)
{
	void *p = r->st;
	int rc = array_reserve(&p, &r->stcap, r->nst, extra, sizeof *r->st, 16);

	r->st = p;
	return rc;
}

/* The head (everything but bases and pending commands) changed. */
static void touch_head(tf_replica *r)
{
	r->hgen = r->gen;
}

/* e's base was replaced: the next checkpoint writes it. */
static void touch_base(tf_replica *r, rentry *e)
{
	e->bgen = r->gen;
}

/* p was queued or changed: the next checkpoint writes it. */
static void touch_pend(tf_replica *r, pend *p)
{
	p->gen = r->gen;
}

/*
 * Drops e's base (room in the drop list reserved by dr_reserve); a
 * record without one is left alone.
 */
static void drop_base(tf_replica *r, rentry *e)
{
	if (e->base == NULL)
		return;
	tf_json_free(e->base);
	e->base = NULL;
	e->base_ack = 0;
	e->bgen = r->gen;
	assert(r->ndr < r->drcap);
	memcpy(r->dr[r->ndr].id, e->id, TF_UUID_LEN + 1);
	r->dr[r->ndr].gen = r->gen;
	r->ndr++;
}

/* Seq left the queue (room reserved by st_reserve). */
static void settle(tf_replica *r, uint64_t seq)
{
	assert(r->nst < r->stcap);
	r->st[r->nst].seq = seq;
	r->st[r->nst].gen = r->gen;
	r->nst++;
}

static size_t nt_find(const tf_replica *r, const char *id)
{
	size_t i;

	for (i = 0; i < r->nnt; i++)
		if (strcmp(r->nt[i].id, id) == 0)
			return i;
	return r->nnt;
}

/* Forgets notice i, keeping the order of the others. */
static void nt_remove(tf_replica *r, size_t i)
{
	rentry *e = table_find(r, r->nt[i].record_id);

	if (e) {
		if (r->nt[i].kind == NOTICE_SUPERSEDED && e->nsuper)
			e->nsuper--;
		else if (r->nt[i].kind == NOTICE_REJECTED && e->nrej)
			e->nrej--;
	}
	tf_json_free(r->nt[i].body);
	memmove(&r->nt[i], &r->nt[i + 1], (r->nnt - i - 1) * sizeof *r->nt);
	r->nnt--;
}

/*
 * Adds a notice (room reserved by nt_reserve; the record's entry exists).
 * At the bound the oldest notice gives way: the queue of notices is for
 * a person to read, and the newest are the ones that matter.
 */
static void nt_add(tf_replica *r, int kind, const char *id,
		   const char *record_id, tf_json *body)
{
	rentry *e;
	notice *n;

	if (r->nnt >= REPLICA_MAX_NOTICES)
		nt_remove(r, 0);
	assert(r->nnt < r->ntcap);
	n = &r->nt[r->nnt++];
	n->kind = kind;
	snprintf(n->id, sizeof n->id, "%s", id);
	memcpy(n->record_id, record_id, TF_UUID_LEN + 1);
	n->body = body;
	e = table_find(r, record_id);
	assert(e != NULL);
	if (kind == NOTICE_SUPERSEDED)
		e->nsuper++;
	else
		e->nrej++;
}

/* Sets key to a new string value; TF_ENOMEM on failure. */
static int set_str(tf_json *o, const char *key, const char *val)
{
	return tf_json_object_set(o, key, tf_json_cstring(val));
}

/* ------------------------------------------------------------ lifecycle */

int tf_replica_new(const tf_schema *s, const char *device, const char *user,
		   tf_hlc clock_last, tf_replica **out)
{
	tf_replica *r;

	assert(out != NULL);
	*out = NULL;
	if (s == NULL || device == NULL || user == NULL ||
	    !tf_id_valid(device, strlen(device)) ||
	    !tf_id_valid(user, strlen(user)))
		return TF_EINVAL;
	r = calloc(1, sizeof *r);
	if (r == NULL)
		return TF_ENOMEM;
	r->cursor = calloc(1, 1);
	if (r->cursor == NULL) {
		free(r);
		return TF_ENOMEM;
	}
	r->schema = s;
	memcpy(r->device, device, strlen(device) + 1);
	memcpy(r->user, user, strlen(user) + 1);
	tf_clock_init(&r->clock, clock_last, 0);
	r->next_seq = 1;
	/* A new replica's head has never been written: it is dirty. */
	r->gen = 1;
	r->hgen = 1;
	r->remaining = -1;
	*out = r;
	return 0;
}

void tf_replica_free(tf_replica *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->cap; i++) {
		if (r->slots[i]) {
			tf_json_free(r->slots[i]->base);
			tf_json_free(r->slots[i]->view);
			free(r->slots[i]);
		}
	}
	free(r->slots);
	for (i = 0; i < r->npq; i++)
		tf_command_clear(&r->pq[i].cmd);
	free(r->pq);
	for (i = 0; i < r->nnt; i++)
		tf_json_free(r->nt[i].body);
	free(r->nt);
	free(r->dr);
	free(r->st);
	free(r->cursor);
	free(r);
}

/*
 * A fresh replica of a device the server already knows (its store was
 * wiped): seqs continue after the ledger's last, and the acks stand
 * there, so pushes are not refused as replays and pull acks above 1
 * are in range.  Only before the replica queued anything.
 */
int tf_replica_resume_seq(tf_replica *r, uint64_t last_seq)
{
	assert(r != NULL);
	if (r->npq != 0 || r->next_seq != 1 || r->ack != 0 ||
	    r->server_ack != 0)
		return TF_ESTATE;
	if (last_seq >= (uint64_t)INT64_MAX)
		return TF_ERANGE;
	r->next_seq = last_seq + 1;
	r->ack = last_seq;
	r->server_ack = last_seq;
	touch_head(r);
	return 0;
}

void tf_replica_set_allow_ref(tf_replica *r, int allow)
{
	assert(r != NULL);
	if (r->allow_ref != (allow != 0))
		touch_head(r);
	r->allow_ref = allow != 0;
}

tf_hlc tf_replica_clock(const tf_replica *r)
{
	assert(r != NULL);
	return r->clock.last;
}

const char *tf_replica_cursor(const tf_replica *r)
{
	assert(r != NULL);
	return r->cursor;
}

/* ------------------------------------------------------------ mutate */

int tf_replica_mutate(tf_replica *r, int64_t now_ms, const uint8_t rnd[20],
		      int online, const char *entity, const char *record_id,
		      tf_op op, const tf_json *args,
		      char cmd_id_out[TF_UUID_LEN + 1],
		      char record_id_out[TF_UUID_LEN + 1], tf_err *err)
{
	tf_apply_result res;
	tf_apply_ctx ctx;
	tf_command c;
	tf_clock ck;
	tf_json *tmp = NULL, **target;
	const tf_json *cur;
	rentry *e, *fresh = NULL;
	const char *cur_entity;
	int rc;

	assert(r != NULL);
	memset(&c, 0, sizeof c);
	memset(&res, 0, sizeof res);
	rc = check_live(r, err);
	if (rc)
		return rc;
	if (rnd == NULL || entity == NULL || args == NULL)
		return tf_err_set(err, TF_EINVAL, NULL,
				  "mutate: rnd, entity and args are required");
	if (now_ms < 0 || now_ms > TF_HLC_MAX_MS)
		return tf_err_set(err, TF_ERANGE, "now_ms",
				  "mutate: now_ms %" PRId64 " out of range",
				  now_ms);
	if (strlen(entity) > TF_NAME_MAX ||
	    tf_schema_entity(r->schema, entity) == NULL)
		return tf_err_set(err, TF_EUNKNOWN, "entity",
				  "mutate: unknown entity \"%.40s\"", entity);
	if (r->npq >= REPLICA_MAX_PENDING)
		return tf_err_set(err, TF_ELIMIT, NULL,
				  "mutate: %zu commands already pending, the "
				  "limit; sync before queueing more",
				  r->npq);
	if (record_id == NULL) {
		if (op != TF_OP_CREATE)
			return tf_err_set(err, TF_EINVAL, "record_id",
					  "mutate: a %s needs a record id",
					  tf_op_name(op));
		tf_uuid7(now_ms, rnd + 10, c.record_id);
	} else {
		if (!tf_uuid_valid(record_id, strlen(record_id)))
			return tf_err_set(err, TF_EINVAL, "record_id",
					  "mutate: record id \"%.40s\" is not "
					  "a lower-case UUID",
					  record_id);
		memcpy(c.record_id, record_id, TF_UUID_LEN + 1);
	}
	e = table_find(r, c.record_id);
	cur = entry_rec(e);
	if (cur == NULL && op != TF_OP_CREATE)
		return tf_err_set(err, TF_ENOTFOUND, c.record_id,
				  "mutate: record %s is not in the replica",
				  c.record_id);
	cur_entity = cur ? tf_record_entity(cur) : NULL;
	if (cur_entity && strcmp(cur_entity, entity) != 0)
		return tf_err_set(err, TF_EINVAL, c.record_id,
				  "mutate: record %s is a %s, not a %s",
				  c.record_id, cur_entity, entity);
	if (e == NULL && r->nent >= REPLICA_MAX_RECORDS)
		return tf_err_set(err, TF_ELIMIT, NULL,
				  "mutate: the replica holds %zu records, "
				  "the limit",
				  r->nent);

	/* The command, stamped on a copy of the clock until it is queued. */
	ck = r->clock;
	tf_uuid7(now_ms, rnd, c.cmd_id);
	rc = tf_hlc_now(&ck, now_ms, &c.hlc);
	if (rc)
		return tf_err_set(err, rc, "now_ms", "mutate: cannot stamp");
	c.seq = r->next_seq;
	memcpy(c.device, r->device, sizeof c.device);
	memcpy(c.user, r->user, sizeof c.user);
	memcpy(c.entity, entity, strlen(entity) + 1);
	c.op = op;
	c.base = cur ? tf_record_ver(cur) : 0;
	c.args = tf_json_clone(args);
	if (c.args == NULL) {
		rc = tf_err_set(err, TF_ENOMEM, NULL, "mutate: out of memory");
		goto out;
	}
	rc = tf_command_validate(r->schema, &c, online, err);
	if (rc)
		goto out;

	/* Room for everything the commit needs, before touching state. */
	if (pq_reserve(r, 1) || table_reserve(r, e ? 0 : 1) ||
	    (e == NULL && (fresh = entry_new(c.record_id)) == NULL)) {
		rc = tf_err_set(err, TF_ENOMEM, NULL, "mutate: out of memory");
		goto out;
	}
	if (e && e->has_view && !e->gone) {
		target = &e->view;
	} else {
		if (cur && (tmp = tf_json_clone(cur)) == NULL) {
			rc = tf_err_set(err, TF_ENOMEM, NULL,
					"mutate: out of memory");
			goto out;
		}
		target = &tmp;
	}
	ctx = replay_ctx(r, &c);
	rc = tf_record_apply(target, &c, &ctx, &res);
	if (rc) {
		tf_err_set(err, rc, c.record_id, "mutate: %s applying %s",
			   tf_strerror(rc), c.cmd_id);
		goto out;
	}
	if (res.status == TF_ST_REJECTED) {
		rc = res.err.code ? res.err.code : TF_EVALIDATE;
		if (err) {
			*err = res.err;
			err->code = rc;
		}
		goto out;
	}

	/* Commit: nothing below fails. */
	if (fresh) {
		table_put(r, fresh);
		e = fresh;
		fresh = NULL;
	}
	if (target == &tmp) {
		tf_json_free(e->view);
		e->view = tmp;
		tmp = NULL;
		e->has_view = 1;
		e->gone = 0;
	}
	e->npending++;
	e->conflict = has_conflict(r, e->view);
	r->pq[r->npq].cmd = c;
	r->pq[r->npq].at = now_ms;
	r->pq[r->npq].result = 0;
	touch_pend(r, &r->pq[r->npq]);
	touch_head(r);
	r->npq++;
	memset(&c, 0, sizeof c);
	r->clock = ck;
	r->next_seq++;
	if (cmd_id_out)
		memcpy(cmd_id_out, r->pq[r->npq - 1].cmd.cmd_id,
		       TF_UUID_LEN + 1);
	if (record_id_out)
		memcpy(record_id_out, e->id, TF_UUID_LEN + 1);
	rc = 0;
out:
	tf_apply_result_clear(&res);
	tf_json_free(tmp);
	free(fresh);
	tf_command_clear(&c);
	return rc;
}

/* ------------------------------------------------------------ push */

/*
 * Raises supersede notices for pending command c (being dropped by an
 * ack): one for each lww value it set that lost, in the confirmed state,
 * to another node's write with a greater stamp (tf_record_superseded
 * decides).  Returns TF_ENOMEM (the caller fails the replica) or 0.
 */
static int supersede_check(tf_replica *r, const tf_command *c)
{
	const tf_json *fields, *base;
	const tf_entity *ent;
	rentry *e = table_find(r, c->record_id);
	char mine_hlc[TF_HLC_TEXT_LEN + 1], win_hlc[TF_HLC_TEXT_LEN + 1];
	char id[NOTICE_ID_MAX + 1];
	size_t i;

	if (c->op != TF_OP_SET && c->op != TF_OP_CREATE)
		return 0;
	if (e == NULL || (base = e->base) == NULL)
		return 0;
	ent = tf_schema_entity(r->schema, c->entity);
	fields = tf_json_object_get(c->args, "fields");
	if (ent == NULL || fields == NULL || fields->type != TF_JSON_OBJECT)
		return 0;
	tf_hlc_format(c->hlc, mine_hlc);
	for (i = 0; i < fields->len; i++) {
		const char *name = fields->u.members[i].key, *node, *by;
		const tf_field *f = tf_entity_field(ent, name);
		tf_json *o;
		tf_hlc wt;
		if (f == NULL || f->cls != TF_CLASS_LWW ||
		    !tf_record_superseded(base, c, name) ||
		    tf_record_lww_stamp(base, name, &wt, &node, &by) != 0)
			continue;
		snprintf(id, sizeof id, "%s:%s", c->cmd_id, name);
		if (nt_find(r, id) < r->nnt)
			continue;
		tf_hlc_format(wt, win_hlc);
		if (fault(r) || nt_reserve(r, 1) ||
		    (o = tf_json_object()) == NULL)
			return TF_ENOMEM;
		if (set_str(o, "kind", "superseded") || set_str(o, "id", id) ||
		    set_str(o, "cmd_id", c->cmd_id) ||
		    set_str(o, "record_id", c->record_id) ||
		    set_str(o, "entity", c->entity) ||
		    set_str(o, "field", name) ||
		    tf_json_object_set(
			    o, "mine",
			    tf_json_clone(fields->u.members[i].value)) ||
		    set_str(o, "mine_hlc", mine_hlc) ||
		    tf_json_object_set(
			    o, "winner",
			    tf_record_value(base, name)
				    ? tf_json_clone(tf_record_value(base, name))
				    : tf_json_null()) ||
		    set_str(o, "winner_by", by) ||
		    set_str(o, "winner_hlc", win_hlc)) {
			tf_json_free(o);
			return TF_ENOMEM;
		}
		nt_add(r, NOTICE_SUPERSEDED, id, c->record_id, o);
	}
	return 0;
}

/*
 * Index of the first command the server does not hold yet: the queue is
 * in seq order and the server holds every seq up to server_ack.
 */
static size_t first_unsent(const tf_replica *r)
{
	size_t lo = 0, hi = r->npq;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->pq[mid].cmd.seq <= r->server_ack)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Raises server_ack to ack (nothing when not higher).  The commands it
 * passes that have no result yet are held by the server with their reply
 * lost: they join those sent again.  Each command is passed once, so the
 * cost over a queue's life is linear.
 */
static void raise_server_ack(tf_replica *r, uint64_t ack)
{
	size_t i;

	if (ack <= r->server_ack)
		return;
	for (i = first_unsent(r); i < r->npq && r->pq[i].cmd.seq <= ack; i++)
		if (r->pq[i].result == 0)
			r->nresend++;
	r->server_ack = ack;
}

size_t tf_replica_unsent(const tf_replica *r)
{
	assert(r != NULL);
	if (r->failed)
		return 0;
	return r->nresend + (r->npq - first_unsent(r));
}

/*
 * The request carries every pending command whose result has not
 * arrived, oldest first: the ones the server holds whose reply was lost
 * (the ledger replays their stored results: seq <= last is a replay, not
 * a gap), then those above server_ack, the first of which is the
 * server's last + 1.
 */
int tf_replica_push_request(tf_replica *r, size_t max, tf_buf *out)
{
	tf_push_request m;
	size_t first, n, i, k = 0, seen = 0;
	int rc;

	assert(r != NULL && out != NULL);
	rc = check_live(r, NULL);
	if (rc)
		return rc;
	first = first_unsent(r);
	n = r->nresend + (r->npq - first);
	if (n > max)
		n = max;
	if (n > tf_proto_default_limits.max_commands)
		n = tf_proto_default_limits.max_commands;
	memset(&m, 0, sizeof m);
	m.schema_version = r->schema->version;
	memcpy(m.device, r->device, sizeof m.device);
	m.ncommands = n;
	if (n) {
		/* Shallow copies: the encoder only reads them. */
		m.commands = malloc(n * sizeof *m.commands);
		if (m.commands == NULL)
			return TF_ENOMEM;
		/* Rare (lost replies only): a walk over the held prefix. */
		for (i = 0; r->nresend && i < first; i++) {
			if (r->pq[i].result != 0)
				continue;
			seen++;
			if (k < n)
				m.commands[k++] = r->pq[i].cmd;
		}
		assert(seen == r->nresend);
		for (i = first; k < n; i++)
			m.commands[k++] = r->pq[i].cmd;
	}
	rc = tf_push_request_encode(&m, out);
	free(m.commands);
	return rc;
}

/* A rejection notice for pending command c, from result res. */
static tf_json *rejection_notice(const tf_command *c, const tf_cmd_result *res)
{
	tf_json *o = tf_json_object();

	if (o == NULL)
		return NULL;
	if (set_str(o, "kind", "rejected") || set_str(o, "id", c->cmd_id) ||
	    set_str(o, "cmd_id", c->cmd_id) ||
	    set_str(o, "record_id", c->record_id) ||
	    set_str(o, "entity", c->entity) ||
	    set_str(o, "op", tf_op_name(c->op)) ||
	    tf_json_object_set(o, "args", tf_json_clone(c->args)) ||
	    set_str(o, "code",
		    tf_errcode(res->code ? res->code : TF_EVALIDATE)) ||
	    set_str(o, "message", res->message) ||
	    set_str(o, "field", res->field)) {
		tf_json_free(o);
		return NULL;
	}
	return o;
}

/*
 * Cross-checks a push reply against the queue before anything is used:
 * results in increasing seq order, each naming a pending command by its
 * seq and cmd_id (or an already settled one, which is skipped: *idx =
 * npq), statuses consistent with the reply's ack, clock_skew last.
 */
static int check_reply(const tf_replica *r, const tf_push_reply *m, size_t *idx,
		       tf_err *err)
{
	uint64_t prev = 0,
		 settled = r->server_ack > r->ack ? r->server_ack : r->ack;
	size_t i, k;

	if (m->schema_version != r->schema->version)
		return tf_err_set(err, TF_EVERSION, "schema_version",
				  "push reply: schema_version %" PRId64
				  " differs from the loaded schema's %" PRId64,
				  m->schema_version, r->schema->version);
	if (m->ack >= r->next_seq)
		return tf_err_set(err, TF_EPROTO, "ack",
				  "push reply: ack %" PRIu64
				  " is beyond the last seq issued (%" PRIu64
				  ")",
				  m->ack, r->next_seq - 1);
	for (i = 0; i < m->nresults; i++) {
		const tf_cmd_result *res = &m->results[i];
		char where[32];
		snprintf(where, sizeof where, "results[%zu]", i);
		if (res->seq <= prev)
			return tf_err_set(err, TF_EPROTO, where,
					  "push reply: %s: seq %" PRIu64
					  " out of order",
					  where, res->seq);
		prev = res->seq;
		if (i > 0 && m->results[i - 1].status == TF_ST_CLOCK_SKEW)
			return tf_err_set(err, TF_EPROTO, where,
					  "push reply: %s: a result after a "
					  "clock_skew",
					  where);
		k = pq_find(r, res->seq);
		if (k == r->npq) {
			if (res->seq <= settled) {
				idx[i] = r->npq;
				continue;
			}
			return tf_err_set(err, TF_EPROTO, where,
					  "push reply: %s: seq %" PRIu64
					  " (%s) is not pending",
					  where, res->seq, res->cmd_id);
		}
		if (strcmp(r->pq[k].cmd.cmd_id, res->cmd_id) != 0)
			return tf_err_set(err, TF_EPROTO, where,
					  "push reply: %s: seq %" PRIu64
					  " is %s here, not %s",
					  where, res->seq, r->pq[k].cmd.cmd_id,
					  res->cmd_id);
		if ((res->status == TF_ST_CLOCK_SKEW) != (res->seq > m->ack))
			return tf_err_set(err, TF_EPROTO, where,
					  "push reply: %s: status %s "
					  "contradicts ack %" PRIu64,
					  where, tf_status_name(res->status),
					  m->ack);
		idx[i] = k;
	}
	return 0;
}

int tf_replica_apply_push_reply(tf_replica *r, int64_t now_ms, const char *buf,
				size_t len, tf_err *err)
{
	tf_push_reply m;
	tf_json **notes = NULL;
	size_t *idx = NULL, i, nrej = 0, skew = SIZE_MAX, ndrop = 0;
	int rc;

	assert(r != NULL);
	memset(&m, 0, sizeof m);
	rc = check_live(r, err);
	if (rc)
		return rc;
	if (now_ms < 0 || now_ms > TF_HLC_MAX_MS)
		return tf_err_set(err, TF_ERANGE, "now_ms",
				  "push reply: now_ms %" PRId64 " out of range",
				  now_ms);
	rc = tf_push_reply_decode(buf, len, NULL, &m, err);
	if (rc)
		return rc;
	if (m.nresults) {
		idx = calloc(m.nresults, sizeof *idx);
		/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
		notes = calloc(m.nresults, sizeof *notes);
		if (idx == NULL || notes == NULL) {
			rc = tf_err_set(err, TF_ENOMEM, NULL,
					"push reply: out of memory");
			goto out;
		}
	}
	rc = check_reply(r, &m, idx, err);
	if (rc)
		goto out;

	/* Everything allocated ahead: the notices and room for them. */
	for (i = 0; i < m.nresults; i++) {
		if (idx[i] == r->npq)
			continue;
		if (m.results[i].status == TF_ST_REJECTED) {
			notes[i] = rejection_notice(&r->pq[idx[i]].cmd,
						    &m.results[i]);
			if (notes[i] == NULL) {
				rc = tf_err_set(err, TF_ENOMEM, NULL,
						"push reply: out of memory");
				goto out;
			}
			nrej++;
		} else if (m.results[i].status == TF_ST_CLOCK_SKEW &&
			   r->pq[idx[i]].cmd.seq > r->server_ack &&
			   TF_HLC_MS(r->pq[idx[i]].cmd.hlc) >
				   m.results[i].server_time) {
			/*
			 * A stamp not ahead of the server's time cannot
			 * have been refused, nor a command the server
			 * already said it holds: such a result is stale
			 * (the command was re-stamped or stored since) and
			 * is ignored.  Re-stamping a held command would
			 * change the bytes the ledger keeps for its id.
			 */
			skew = idx[i];
		}
	}
	if (nt_reserve(r, nrej) || st_reserve(r, m.nresults)) {
		rc = tf_err_set(err, TF_ENOMEM, NULL,
				"push reply: out of memory");
		goto out;
	}

	/* Commit: an allocation failure below fails the replica. */
	touch_head(r);
	raise_server_ack(r, m.ack);
	if (skew != SIZE_MAX) {
		tf_clock_rebase(&r->clock, now_ms,
				m.results[m.nresults - 1].server_time);
		for (i = skew; i < r->npq; i++) {
			rentry *e = table_find(r, r->pq[i].cmd.record_id);
			rc = tf_hlc_now(&r->clock, now_ms, &r->pq[i].cmd.hlc);
			assert(rc == 0);
			touch_pend(r, &r->pq[i]);
			if (e)
				mark_dirty(r, e);
		}
	}
	/*
	 * Two passes: the rejections use the notice room reserved above,
	 * before supersede checks (which reserve their own) take any.
	 */
	for (i = 0; i < m.nresults; i++) {
		tf_status st = m.results[i].status;
		pend *p;
		rentry *e;
		if (idx[i] == r->npq || st == TF_ST_CLOCK_SKEW)
			continue;
		p = &r->pq[idx[i]];
		/* Every seq with a result is now <= server_ack. */
		if (p->result == 0) {
			assert(r->nresend > 0);
			r->nresend--;
		}
		if (st == TF_ST_REJECTED) {
			nt_add(r, NOTICE_REJECTED, p->cmd.cmd_id,
			       p->cmd.record_id, notes[i]);
			notes[i] = NULL;
		} else {
			if (p->result == 0) {
				p->result = st;
				touch_pend(r, p);
			}
			/* Tentative until a final page's ack passes it,
			 * unless one already has (its reply was lost):
			 * then it is settled in the second pass. */
			continue;
		}
		e = table_find(r, p->cmd.record_id);
		assert(e != NULL && e->npending > 0);
		e->npending--;
		mark_dirty(r, e);
		settle(r, p->cmd.seq);
		tf_command_clear(&p->cmd); /* seq 0: compacted below */
		ndrop++;
	}
	for (i = 0; i < m.nresults; i++) {
		pend *p;
		rentry *e;
		if (idx[i] == r->npq)
			continue;
		p = &r->pq[idx[i]];
		if (p->cmd.seq == 0 || p->result == 0 || p->cmd.seq > r->ack)
			continue;
		if (supersede_check(r, &p->cmd)) {
			rc = fail(r, err);
			goto out;
		}
		e = table_find(r, p->cmd.record_id);
		assert(e != NULL && e->npending > 0);
		e->npending--;
		mark_dirty(r, e);
		settle(r, p->cmd.seq);
		tf_command_clear(&p->cmd);
		ndrop++;
	}
	rc = rebuild(r, err);
out:
	if (ndrop)
		pq_compact(r);
	if (notes)
		for (i = 0; i < m.nresults; i++)
			tf_json_free(notes[i]);
	free(notes);
	free(idx);
	tf_push_reply_clear(&m);
	return rc;
}

/* ------------------------------------------------------------ pull */

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Orders an array of rentry pointers by record id. */
static int cmp_entry_id(const void *a, const void *b)
{
	const rentry *x = *(const rentry *const *)a;
	const rentry *y = *(const rentry *const *)b;

	return strcmp(x->id, y->id);
}

/*
 * Checks a decoded page against the replica before it is used: the ack
 * names no seq never issued, no record id twice, no id both delivered
 * and purged, the record bound kept.  Reserves table room for the new ids
 * and room to note the bases it drops and the commands it settles.
 */
static int check_page(tf_replica *r, const tf_pull_page *p, tf_err *err)
{
	const char **ids = NULL;
	size_t n = p->nrecords + p->npurged, i, fresh = 0, nset = 0;
	int rc = 0;

	if (p->schema_version != r->schema->version)
		return tf_err_set(err, TF_EVERSION, "schema_version",
				  "pull page: schema_version differs");
	if (p->ack >= r->next_seq)
		return tf_err_set(err, TF_EPROTO, "ack",
				  "pull page: ack %" PRIu64
				  " is beyond the last seq issued (%" PRIu64
				  ")",
				  p->ack, r->next_seq - 1);
	if (!p->has_more)
		while (nset < r->npq && r->pq[nset].cmd.seq <= p->ack)
			nset++;
	if (dr_reserve(r, p->npurged + (p->reset ? r->nent : 0)) ||
	    st_reserve(r, nset))
		return tf_err_set(err, TF_ENOMEM, NULL,
				  "pull page: out of memory");
	if (n == 0)
		return 0;
	ids = malloc(n * sizeof *ids);
	if (ids == NULL)
		return tf_err_set(err, TF_ENOMEM, NULL,
				  "pull page: out of memory");
	for (i = 0; i < p->nrecords; i++) {
		ids[i] = tf_record_id(p->records[i]);
		if (table_find(r, ids[i]) == NULL)
			fresh++;
	}
	for (i = 0; i < p->npurged; i++)
		ids[p->nrecords + i] = p->purged[i];
	qsort(ids, n, sizeof *ids, cmp_str_ptr);
	for (i = 1; i < n; i++) {
		if (strcmp(ids[i - 1], ids[i]) == 0) {
			rc = tf_err_set(err, TF_EPROTO, ids[i],
					"pull page: record %s appears twice",
					ids[i]);
			goto out;
		}
	}
	if (r->nent + fresh > REPLICA_MAX_RECORDS) {
		rc = tf_err_set(err, TF_ELIMIT, "records",
				"pull page: the replica would hold more than "
				"%zu records",
				REPLICA_MAX_RECORDS);
		goto out;
	}
	if (table_reserve(r, fresh))
		rc = tf_err_set(err, TF_ENOMEM, NULL,
				"pull page: out of memory");
out:
	free(ids);
	return rc;
}

int tf_replica_apply_pull(tf_replica *r, int64_t now_ms, const char *buf,
			  size_t len, tf_err *err)
{
	tf_pull_page p;
	size_t i, ndrop = 0;
	int rc;

	assert(r != NULL);
	rc = check_live(r, err);
	if (rc)
		return rc;
	if (now_ms < 0 || now_ms > TF_HLC_MAX_MS)
		return tf_err_set(err, TF_ERANGE, "now_ms",
				  "pull page: now_ms %" PRId64 " out of range",
				  now_ms);
	rc = tf_pull_page_decode(buf, len, r->schema, NULL, &p, err);
	if (rc)
		return rc;
	rc = check_page(r, &p, err);
	if (rc)
		goto out;

	/* Commit: from here on an allocation failure fails the replica. */
	touch_head(r);
	r->remaining = p.has_remaining ? p.remaining : -1;
	if (p.reset) {
		for (i = 0; i < r->cap; i++) {
			rentry *e = r->slots[i];
			if (e == NULL)
				continue;
			drop_base(r, e);
			e->base_ack = 0;
			mark_dirty(r, e);
		}
	}
	for (i = 0; i < p.nrecords; i++) {
		const char *id = tf_record_id(p.records[i]);
		const char *mhlc = tf_json_get_str(p.records[i], "mhlc", NULL);
		rentry *e = table_find(r, id);
		tf_hlc h;
		if (e == NULL) {
			if (fault(r) || (e = entry_new(id)) == NULL) {
				rc = fail(r, err);
				goto out;
			}
			table_put(r, e);
		}
		tf_json_free(e->base);
		e->base = p.records[i];
		p.records[i] = NULL;
		e->base_ack = p.ack;
		touch_base(r, e);
		e->gone = 0;
		mark_dirty(r, e);
		/* Later local stamps order after what this replica saw. */
		if (mhlc && tf_hlc_parse(mhlc, strlen(mhlc), &h) == 0)
			(void)tf_hlc_recv(&r->clock, now_ms, h, NULL);
	}
	for (i = 0; i < p.npurged; i++) {
		rentry *e = table_find(r, p.purged[i]);
		if (e == NULL)
			continue;
		drop_base(r, e);
		e->base_ack = 0;
		if (e->npending)
			e->gone = 1;
		mark_dirty(r, e);
	}
	if (!p.has_more) {
		/*
		 * The ack drops the commands it passes whose result has
		 * arrived.  One without a result stays (acked, result
		 * unknown) until the ledger replays it; from now on the
		 * base holds its effect if it had any, so its view is
		 * rebuilt without it.
		 */
		for (i = 0; i < r->npq && r->pq[i].cmd.seq <= p.ack; i++) {
			pend *q = &r->pq[i];
			rentry *e = table_find(r, q->cmd.record_id);
			assert(e != NULL && e->npending > 0);
			if (q->result == 0) {
				if (q->cmd.seq > r->ack)
					mark_dirty(r, e);
				continue;
			}
			if (supersede_check(r, &q->cmd)) {
				rc = fail(r, err);
				goto out;
			}
			e->npending--;
			mark_dirty(r, e);
			settle(r, q->cmd.seq);
			tf_command_clear(&q->cmd); /* seq 0: compacted */
			ndrop++;
		}
		pq_compact(r);
		ndrop = 0;
		if (p.ack > r->ack)
			r->ack = p.ack;
		r->last_sync = now_ms;
	}
	/* Any page tells what the server holds, final or not. */
	raise_server_ack(r, p.ack);
	free(r->cursor);
	r->cursor = p.cursor;
	p.cursor = NULL;
	rc = rebuild(r, err);
out:
	if (ndrop) /* only after a failure half-way through the drop */
		pq_compact(r);
	tf_pull_page_clear(&p);
	return rc;
}

/* ------------------------------------------------------------ reading */

const tf_json *tf_replica_get(tf_replica *r, const char *record_id)
{
	assert(r != NULL);
	if (r->failed)
		return NULL;
	return entry_rec(table_find(r, record_id));
}

tf_sync_state tf_replica_state(tf_replica *r, const char *record_id)
{
	const rentry *e;
	const tf_json *rec;

	assert(r != NULL);
	if (r->failed || (e = table_find(r, record_id)) == NULL)
		return TF_SYNC_NONE;
	rec = entry_rec(e);
	if (rec && e->conflict)
		return TF_SYNC_CONFLICT;
	if (e->nsuper)
		return TF_SYNC_SUPERSEDED;
	if (e->nrej)
		return TF_SYNC_REJECTED;
	if (e->npending)
		return TF_SYNC_PENDING;
	return rec ? TF_SYNC_SYNCED : TF_SYNC_NONE;
}

int tf_replica_view_json(tf_replica *r, const char *record_id, tf_buf *out)
{
	tf_sync_state st;
	const tf_json *rec;
	tf_json *cj;
	size_t i, mark, k;
	int rc = 0;

	assert(r != NULL && out != NULL);
	rc = check_live(r, NULL);
	if (rc)
		return rc;
	if (record_id == NULL)
		return TF_EINVAL;
	st = tf_replica_state(r, record_id);
	if (st == TF_SYNC_NONE)
		return TF_ENOTFOUND;
	if (out->failed)
		return out->failed;
	mark = out->len;
	rec = tf_replica_get(r, record_id);
	tf_buf_puts(out, "{\"notices\":[");
	for (i = k = 0; i < r->nnt; i++) {
		if (strcmp(r->nt[i].record_id, record_id) != 0)
			continue;
		if (k++)
			tf_buf_putc(out, ',');
		tf_json_write(r->nt[i].body, out);
	}
	tf_buf_puts(out, "],\"pending\":[");
	for (i = k = 0; i < r->npq; i++) {
		if (strcmp(r->pq[i].cmd.record_id, record_id) != 0)
			continue;
		rc = tf_command_to_json(&r->pq[i].cmd, &cj);
		if (rc)
			break;
		if (k++)
			tf_buf_putc(out, ',');
		tf_json_write(cj, out);
		tf_json_free(cj);
	}
	tf_buf_puts(out, "],\"record\":");
	if (rec)
		tf_json_write(rec, out);
	else
		tf_buf_puts(out, "null");
	tf_buf_printf(out, ",\"sync\":\"%s\"}", tf_sync_state_name(st));
	if (rc == 0 && out->failed)
		rc = out->failed;
	if (rc) {
		out->len = mark;
		out->failed = 0;
		if (out->data)
			out->data[mark] = '\0';
	}
	return rc;
}

/* The visible entries (entity NULL = all), sorted by id; *out malloc'd. */
static int sorted_entries(const tf_replica *r, const char *entity,
			  const rentry ***out, size_t *n)
{
	const rentry **v;
	size_t i, k = 0;

	*out = NULL;
	*n = 0;
	if (r->nent == 0)
		return 0;
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	v = malloc(r->nent * sizeof *v);
	if (v == NULL)
		return TF_ENOMEM;
	for (i = 0; i < r->cap; i++) {
		const rentry *e = r->slots[i];
		const tf_json *rec = entry_rec(e);
		const char *en;
		if (rec == NULL)
			continue;
		en = tf_record_entity(rec);
		if (entity && (en == NULL || strcmp(en, entity) != 0))
			continue;
		v[k++] = e;
	}
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	qsort(v, k, sizeof *v, cmp_entry_id);
	*out = v;
	*n = k;
	return 0;
}

int tf_replica_list_json(tf_replica *r, const char *entity, tf_buf *out)
{
	const rentry **v;
	size_t n, i, mark;
	int rc;

	assert(r != NULL && out != NULL);
	rc = check_live(r, NULL);
	if (rc)
		return rc;
	if (out->failed)
		return out->failed;
	rc = sorted_entries(r, entity, &v, &n);
	if (rc)
		return rc;
	mark = out->len;
	tf_buf_putc(out, '[');
	for (i = 0; i < n; i++) {
		if (i)
			tf_buf_putc(out, ',');
		tf_json_write_string(out, v[i]->id, TF_UUID_LEN);
	}
	tf_buf_putc(out, ']');
	free(v);
	rc = out->failed;
	if (rc) {
		out->len = mark;
		out->failed = 0;
		if (out->data)
			out->data[mark] = '\0';
	}
	return rc;
}

int tf_replica_notices_json(tf_replica *r, tf_buf *out)
{
	size_t i, mark;
	int rc;

	assert(r != NULL && out != NULL);
	rc = check_live(r, NULL);
	if (rc)
		return rc;
	if (out->failed)
		return out->failed;
	mark = out->len;
	tf_buf_putc(out, '[');
	for (i = 0; i < r->nnt; i++) {
		if (i)
			tf_buf_putc(out, ',');
		tf_json_write(r->nt[i].body, out);
	}
	tf_buf_putc(out, ']');
	rc = out->failed;
	if (rc) {
		out->len = mark;
		out->failed = 0;
		if (out->data)
			out->data[mark] = '\0';
	}
	return rc;
}

int tf_replica_ack_notice(tf_replica *r, const char *notice_id)
{
	size_t i;
	int rc;

	assert(r != NULL);
	rc = check_live(r, NULL);
	if (rc)
		return rc;
	if (notice_id == NULL)
		return TF_EINVAL;
	i = nt_find(r, notice_id);
	if (i == r->nnt)
		return TF_ENOTFOUND;
	touch_head(r);
	nt_remove(r, i);
	table_gc(r);
	return 0;
}

void tf_replica_summary_get(tf_replica *r, int64_t now_ms,
			    tf_replica_summary *out)
{
	size_t i;

	assert(r != NULL && out != NULL);
	memset(out, 0, sizeof *out);
	if (r->failed)
		return;
	out->pending = r->npq;
	if (r->npq && now_ms > r->pq[0].at)
		out->oldest_pending_ms = now_ms - r->pq[0].at;
	out->last_sync_ms = r->last_sync;
	for (i = 0; i < r->cap; i++) {
		const rentry *e = r->slots[i];
		if (entry_rec(e) == NULL)
			continue;
		out->records++;
		if (e->conflict)
			out->conflicts++;
	}
	for (i = 0; i < r->nnt; i++) {
		if (r->nt[i].kind == NOTICE_SUPERSEDED)
			out->superseded++;
		else
			out->rejected++;
	}
	out->ack = r->server_ack;
	out->next_seq = r->next_seq;
}

int tf_replica_summary_json(tf_replica *r, int64_t now_ms, tf_buf *out)
{
	tf_replica_summary s;
	size_t mark;
	int rc;

	assert(r != NULL && out != NULL);
	rc = check_live(r, NULL);
	if (rc)
		return rc;
	if (out->failed)
		return out->failed;
	mark = out->len;
	tf_replica_summary_get(r, now_ms, &s);
	tf_buf_printf(out,
		      "{\"ack\":%" PRIu64
		      ",\"conflicts\":%zu,\"last_sync_ms\":%" PRId64
		      ",\"next_seq\":%" PRIu64 ",\"oldest_pending_ms\":%" PRId64
		      ",\"pending\":%zu,\"records\":%zu,\"rejected\":%zu,"
		      "\"superseded\":%zu}",
		      s.ack, s.conflicts, s.last_sync_ms, s.next_seq,
		      s.oldest_pending_ms, s.pending, s.records, s.rejected,
		      s.superseded);
	rc = out->failed;
	if (rc) {
		out->len = mark;
		out->failed = 0;
		if (out->data)
			out->data[mark] = '\0';
	}
	return rc;
}

/* ------------------------------------------------------------ save/load */

/* Appends pending item p, {"at","cmd","result"?}; TF_ENOMEM. */
static int pend_write(const pend *p, tf_buf *out)
{
	tf_json *cj;
	int rc = tf_command_to_json(&p->cmd, &cj);

	if (rc)
		return rc;
	tf_buf_printf(out, "{\"at\":%" PRId64 ",\"cmd\":", p->at);
	tf_json_write(cj, out);
	tf_json_free(cj);
	if (p->result)
		tf_buf_printf(out, ",\"result\":\"%s\"",
			      tf_status_name(p->result));
	return tf_buf_putc(out, '}');
}

/*
 * The saved form, canonical JSON (members in key order):
 * {"ack","allow_ref","base":[records by id],"base_ack":{id:ack, only those
 * above ack: records from a pull not
 * finished},"clock":{"last","offset"},"cursor",
 *  "device","format":1,"gone":[ids],"last_sync","next_seq","notices":[...],
 *  "pending":[{"at","cmd","result"?}],"schema_version","server_ack","user"}
 * A pending command's "result" (applied, duplicate or conflict) is
 * present once a reply has told it; absent, the result is unknown (bytes
 * saved before results were kept load as that, which only sends those
 * commands once more).
 *
 * whole 0 writes the head of a checkpoint: the same document with "base"
 * and "pending" empty (the records and the pending items are its other
 * parts).
 */
static int save_doc(tf_replica *r, tf_buf *out, int whole)
{
	const rentry **v = NULL;
	char hlc[TF_HLC_TEXT_LEN + 1];
	size_t n = 0, i, k, mark;
	int rc = 0;

	if (out->failed)
		return out->failed;
	mark = out->len;
	if (r->nent) {
		/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
		v = malloc(r->nent * sizeof *v);
		if (v == NULL)
			return TF_ENOMEM;
		for (i = 0; i < r->cap; i++)
			if (r->slots[i])
				v[n++] = r->slots[i];
		/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
		qsort(v, n, sizeof *v, cmp_entry_id);
	}
	tf_buf_printf(out, "{\"ack\":%" PRIu64 ",\"allow_ref\":%s,\"base\":[",
		      r->ack, r->allow_ref ? "true" : "false");
	for (i = k = 0; i < n; i++) {
		if (v[i]->base == NULL || !whole)
			continue;
		if (k++)
			tf_buf_putc(out, ',');
		tf_json_write(v[i]->base, out);
	}
	tf_buf_puts(out, "],\"base_ack\":{");
	for (i = k = 0; i < n; i++) {
		if (v[i]->base == NULL || v[i]->base_ack <= r->ack)
			continue;
		if (k++)
			tf_buf_putc(out, ',');
		tf_json_write_string(out, v[i]->id, TF_UUID_LEN);
		tf_buf_printf(out, ":%" PRIu64, v[i]->base_ack);
	}
	tf_hlc_format(r->clock.last, hlc);
	tf_buf_printf(out,
		      "},\"clock\":{\"last\":\"%s\",\"offset\":%" PRId64
		      "},\"cursor\":",
		      hlc, r->clock.offset_ms);
	tf_json_write_string(out, r->cursor, strlen(r->cursor));
	tf_buf_puts(out, ",\"device\":");
	tf_json_write_string(out, r->device, strlen(r->device));
	tf_buf_printf(out, ",\"format\":%d,\"gone\":[", REPLICA_FORMAT);
	for (i = k = 0; i < n; i++) {
		if (!v[i]->gone)
			continue;
		if (k++)
			tf_buf_putc(out, ',');
		tf_json_write_string(out, v[i]->id, TF_UUID_LEN);
	}
	tf_buf_printf(out,
		      "],\"last_sync\":%" PRId64 ",\"next_seq\":%" PRIu64
		      ",\"notices\":[",
		      r->last_sync, r->next_seq);
	for (i = 0; i < r->nnt; i++) {
		if (i)
			tf_buf_putc(out, ',');
		tf_json_write(r->nt[i].body, out);
	}
	tf_buf_puts(out, "],\"pending\":[");
	for (i = 0; whole && i < r->npq && rc == 0; i++) {
		if (i)
			tf_buf_putc(out, ',');
		rc = pend_write(&r->pq[i], out);
	}
	tf_buf_printf(out,
		      "],\"schema_version\":%" PRId64 ",\"server_ack\":%" PRIu64
		      ",\"user\":",
		      r->schema->version, r->server_ack);
	tf_json_write_string(out, r->user, strlen(r->user));
	tf_buf_putc(out, '}');
	free(v);
	if (rc == 0 && out->failed)
		rc = out->failed;
	if (rc) {
		out->len = mark;
		out->failed = 0;
		if (out->data)
			out->data[mark] = '\0';
	}
	return rc;
}

int tf_replica_save(tf_replica *r, tf_buf *out)
{
	int rc;

	assert(r != NULL && out != NULL);
	rc = check_live(r, NULL);
	if (rc)
		return rc;
	return save_doc(r, out, 1);
}

/* Limits for a saved replica: as large as the replica's own bounds. */
static const tf_json_limits load_limits = {
	TF_BUF_MAX, 32, (size_t)1024 * 1024, 1000000, 4096, 64,
};

static int load_u64(const tf_json *o, const char *key, uint64_t *out,
		    tf_err *err)
{
	const tf_json *v = tf_json_object_get(o, key);

	if (v == NULL || tf_json_uint64(v, out) != 0)
		return tf_err_set(err, TF_ETYPE, key,
				  "replica: %s: must be a non-negative integer",
				  key);
	return 0;
}

static int load_ms(const tf_json *o, const char *key, int64_t min, int64_t *out,
		   tf_err *err)
{
	const tf_json *v = tf_json_object_get(o, key);

	*out = 0; /* set on every path: callers may read it after a failure */
	if (v == NULL || tf_json_int64(v, out) != 0 || *out < min ||
	    *out > TF_HLC_MAX_MS)
		return tf_err_set(err, TF_ETYPE, key,
				  "replica: %s: must be an integer in "
				  "%" PRId64 "..2^48-1",
				  key, min);
	return 0;
}

/* An object with exactly the members `keys` (NULL: any), all present. */
static int load_members(const tf_json *o, const char *const *keys,
			const char *where, tf_err *err)
{
	size_t i, n = 0;

	if (o == NULL || o->type != TF_JSON_OBJECT)
		return tf_err_set(err, TF_ETYPE, where,
				  "replica: %s: must be an object", where);
	if (keys == NULL)
		return 0;
	for (i = 0; keys[i]; i++) {
		if (tf_json_object_get(o, keys[i]) == NULL)
			return tf_err_set(err, TF_EMISSING, where,
					  "replica: %s: member \"%s\" missing",
					  where, keys[i]);
		n++;
	}
	if (o->len != n)
		return tf_err_set(err, TF_EUNKNOWN, where,
				  "replica: %s: unknown members", where);
	return 0;
}

static int load_string(const tf_json *o, const char *key, const char *where,
		       const char **s, tf_err *err)
{
	const tf_json *v = tf_json_object_get(o, key);

	*s = ""; /* set on every path: callers may read it after a failure */
	if (v == NULL || v->type != TF_JSON_STRING)
		return tf_err_set(err, TF_ETYPE, where,
				  "replica: %s.%s: must be a string", where,
				  key);
	*s = v->u.str;
	return 0;
}

/* A string member that must satisfy ok (may be NULL); *s borrowed. */
static int notice_str(const tf_json *o, const char *key,
		      int (*ok)(const char *s, size_t len), const char **s)
{
	const tf_json *v = tf_json_object_get(o, key);

	if (v == NULL || v->type != TF_JSON_STRING)
		return TF_EINVAL;
	if (ok && !ok(v->u.str, v->len))
		return TF_EINVAL;
	*s = v->u.str;
	return 0;
}

static int hlc_text_ok(const char *s, size_t len)
{
	tf_hlc h;

	return tf_hlc_parse(s, len, &h) == 0;
}

static int op_ok(const char *s, size_t len)
{
	tf_op op;

	(void)len;
	return tf_op_parse(s, &op) == 0;
}

static int code_ok(const char *s, size_t len)
{
	int c = tf_errno_from_code(s);

	(void)len;
	return c != TF_OK &&
	       (c != TF_EINVAL || strcmp(s, tf_errcode(TF_EINVAL)) == 0);
}

/*
 * Checks a saved notice (members exactly those its kind has, ids and
 * stamps well formed) and files it; takes ownership of o in every case.
 */
static int load_notice(tf_replica *r, tf_json *o, size_t idx, tf_err *err)
{
	static const char *const sup[] = {"cmd_id",    "entity",     "field",
					  "id",	       "kind",	     "mine",
					  "mine_hlc",  "record_id",  "winner",
					  "winner_by", "winner_hlc", NULL};
	static const char *const rej[] = {
		"args", "cmd_id",  "code", "entity",	"field", "id",
		"kind", "message", "op",   "record_id", NULL};
	const char *kind = NULL, *id = NULL, *rid = NULL, *cmd = NULL,
		   *ent = NULL, *field = NULL, *s;
	char where[32], want[NOTICE_ID_MAX + 2];
	const tf_json *args;
	rentry *e;
	int rc, k = 0;

	snprintf(where, sizeof where, "notices[%zu]", idx);
	rc = load_members(o, NULL, where, err);
	if (rc)
		goto out;
	if (notice_str(o, "kind", NULL, &kind) == 0 &&
	    strcmp(kind, "superseded") == 0) {
		k = NOTICE_SUPERSEDED;
		rc = load_members(o, sup, where, err);
		if (rc)
			goto out;
		if (notice_str(o, "mine_hlc", hlc_text_ok, &s) ||
		    notice_str(o, "winner_hlc", hlc_text_ok, &s) ||
		    notice_str(o, "winner_by", NULL, &s))
			goto bad;
	} else if (kind && strcmp(kind, "rejected") == 0) {
		k = NOTICE_REJECTED;
		rc = load_members(o, rej, where, err);
		if (rc)
			goto out;
		args = tf_json_object_get(o, "args");
		if (notice_str(o, "op", op_ok, &s) ||
		    notice_str(o, "code", code_ok, &s) ||
		    notice_str(o, "message", NULL, &s) ||
		    args->type != TF_JSON_OBJECT)
			goto bad;
	} else {
		goto bad;
	}
	if (notice_str(o, "id", NULL, &id) ||
	    notice_str(o, "cmd_id", tf_uuid_valid, &cmd) ||
	    notice_str(o, "record_id", tf_uuid_valid, &rid) ||
	    notice_str(o, "entity", NULL, &ent) ||
	    notice_str(o, "field", NULL, &field) || strlen(ent) > TF_NAME_MAX ||
	    strlen(field) > TF_NAME_MAX ||
	    tf_schema_entity(r->schema, ent) == NULL)
		goto bad;
	if (k == NOTICE_SUPERSEDED)
		snprintf(want, sizeof want, "%s:%s", cmd, field);
	else
		snprintf(want, sizeof want, "%s", cmd);
	if (strcmp(id, want) != 0 || nt_find(r, id) < r->nnt)
		goto bad;
	e = table_find(r, rid);
	if (e == NULL) {
		if (table_reserve(r, 1) || (e = entry_new(rid)) == NULL) {
			rc = tf_err_set(err, TF_ENOMEM, where,
					"replica: out of memory");
			goto out;
		}
		table_put(r, e);
	}
	if (nt_reserve(r, 1)) {
		rc = tf_err_set(err, TF_ENOMEM, where,
				"replica: out of memory");
		goto out;
	}
	nt_add(r, k, id, rid, o);
	return 0;
bad:
	rc = tf_err_set(err, TF_EINVAL, where,
			"replica: %s: malformed %s notice", where,
			kind ? kind : "");
out:
	tf_json_free(o);
	return rc;
}

/*
 * Checks a saved pending command and queues it.  A command with a result
 * lies between ack and server_ack (the server holds it, no final ack has
 * passed it); one without may also lie at or below ack (acked, result
 * unknown).
 */
static int load_pending(tf_replica *r, const tf_json *o, size_t idx,
			tf_err *err)
{
	static const char *const keys[] = {"at", "cmd", NULL};
	static const char *const keys_res[] = {"at", "cmd", "result", NULL};
	const tf_json *res = tf_json_object_get(o, "result");
	tf_status st = 0;
	char where[32];
	tf_command c;
	pend *p;
	rentry *e;
	int64_t at;
	int rc;

	memset(&c, 0, sizeof c);
	snprintf(where, sizeof where, "pending[%zu]", idx);
	rc = load_members(o, res ? keys_res : keys, where, err);
	if (rc == 0)
		rc = load_ms(o, "at", 0, &at, err);
	if (rc)
		return rc;
	if (res && (res->type != TF_JSON_STRING ||
		    tf_status_parse(res->u.str, &st) != 0 ||
		    (st != TF_ST_APPLIED && st != TF_ST_DUPLICATE &&
		     st != TF_ST_CONFLICT)))
		return tf_err_set(err, TF_EINVAL, where,
				  "replica: %s.result: must be \"applied\", "
				  "\"duplicate\" or \"conflict\"",
				  where);
	rc = tf_command_from_json(tf_json_object_get(o, "cmd"), &c, err);
	if (rc == 0)
		rc = tf_command_validate(r->schema, &c, 1, err);
	if (rc)
		goto out;
	if (strcmp(c.device, r->device) != 0 || c.seq == 0 ||
	    c.seq >= r->next_seq ||
	    (r->npq && c.seq <= r->pq[r->npq - 1].cmd.seq)) {
		rc = tf_err_set(err, TF_EINVAL, where,
				"replica: %s: command %s is out of place "
				"(device, or seq %" PRIu64 " not in order "
				"below next_seq)",
				where, c.cmd_id, c.seq);
		goto out;
	}
	if (st && (c.seq <= r->ack || c.seq > r->server_ack)) {
		rc = tf_err_set(err, TF_EINVAL, where,
				"replica: %s: command %s has a result but "
				"seq %" PRIu64 " is not between ack and "
				"server_ack",
				where, c.cmd_id, c.seq);
		goto out;
	}
	e = table_find(r, c.record_id);
	if (e == NULL) {
		if (table_reserve(r, 1) ||
		    (e = entry_new(c.record_id)) == NULL) {
			rc = tf_err_set(err, TF_ENOMEM, where,
					"replica: out of memory");
			goto out;
		}
		table_put(r, e);
	}
	if (pq_reserve(r, 1)) {
		rc = tf_err_set(err, TF_ENOMEM, where,
				"replica: out of memory");
		goto out;
	}
	e->npending++;
	mark_dirty(r, e);
	p = &r->pq[r->npq++];
	p->cmd = c;
	p->at = at;
	p->result = st;
	p->gen = 0;
	if (st == 0 && c.seq <= r->server_ack)
		r->nresend++;
	return 0;
out:
	tf_command_clear(&c);
	return rc;
}

/* Moves every item out of array a into a new vector (in order). */
static tf_json **take_items(tf_json *a, size_t *n)
{
	tf_json **v;
	size_t i;

	*n = a->len;
	if (a->len == 0)
		/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
		return calloc(1, sizeof *v);
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	v = malloc(a->len * sizeof *v);
	if (v == NULL)
		return NULL;
	for (i = a->len; i-- > 0;)
		v[i] = tf_json_array_remove(a, i);
	return v;
}

/*
 * Builds a replica from a parsed saved document (owned: freed in every
 * case), checking every member.  The result has nothing to checkpoint.
 */
static int load_tree(const tf_schema *s, tf_json *root, tf_replica **out,
		     tf_err *err)
{
	static const char *const keys[] = {
		"ack",	   "allow_ref",	     "base",	   "base_ack",
		"clock",   "cursor",	     "device",	   "format",
		"gone",	   "last_sync",	     "next_seq",   "notices",
		"pending", "schema_version", "server_ack", "user",
		NULL};
	static const char *const clock_keys[] = {"last", "offset", NULL};
	tf_json **items = NULL, *a;
	const tf_json *v, *clk;
	const char *dev = NULL, *user = NULL, *cur = NULL, *last = NULL;
	tf_replica *r = NULL;
	size_t n = 0, i;
	int64_t ver, off;
	tf_hlc h;
	int rc;

	rc = load_members(root, NULL, "replica", err);
	if (rc)
		goto out;
	v = tf_json_object_get(root, "format");
	if (v == NULL || tf_json_int64(v, &ver) != 0 || ver != REPLICA_FORMAT) {
		rc = tf_err_set(err, TF_EVERSION, "format",
				"replica: format: unsupported, this build "
				"reads %d",
				REPLICA_FORMAT);
		goto out;
	}
	v = tf_json_object_get(root, "schema_version");
	if (v == NULL || tf_json_int64(v, &ver) != 0 || ver != s->version) {
		rc = tf_err_set(err, TF_EVERSION, "schema_version",
				"replica: schema_version differs from the "
				"loaded schema's %" PRId64,
				s->version);
		goto out;
	}
	rc = load_members(root, keys, "replica", err);
	if (rc)
		goto out;
	if (load_string(root, "device", "replica", &dev, err) ||
	    load_string(root, "user", "replica", &user, err) ||
	    load_string(root, "cursor", "replica", &cur, err)) {
		rc = err ? err->code : TF_ETYPE;
		goto out;
	}
	clk = tf_json_object_get(root, "clock");
	rc = load_members(clk, clock_keys, "clock", err);
	if (rc)
		goto out;
	if (load_string(clk, "last", "clock", &last, err) ||
	    tf_hlc_parse(last, strlen(last), &h) != 0 ||
	    tf_json_int64(tf_json_object_get(clk, "offset"), &off) != 0 ||
	    off < -TF_HLC_MAX_MS || off > TF_HLC_MAX_MS) {
		rc = tf_err_set(err, TF_EINVAL, "clock",
				"replica: clock: malformed");
		goto out;
	}
	if (strlen(cur) > tf_proto_default_limits.max_cursor) {
		rc = tf_err_set(err, TF_ELIMIT, "cursor",
				"replica: cursor: too long");
		goto out;
	}
	rc = tf_replica_new(s, dev, user, h, &r);
	if (rc) {
		tf_err_set(err, rc, "device",
			   "replica: device or user id malformed");
		goto out;
	}
	r->clock.offset_ms = off;
	v = tf_json_object_get(root, "allow_ref");
	if (v->type != TF_JSON_TRUE && v->type != TF_JSON_FALSE) {
		rc = tf_err_set(err, TF_ETYPE, "allow_ref",
				"replica: allow_ref: must be true or false");
		goto out;
	}
	r->allow_ref = v->type == TF_JSON_TRUE;
	free(r->cursor);
	r->cursor = malloc(strlen(cur) + 1);
	if (r->cursor == NULL) {
		rc = tf_err_set(err, TF_ENOMEM, NULL, "replica: out of memory");
		goto out;
	}
	memcpy(r->cursor, cur, strlen(cur) + 1);
	if ((rc = load_u64(root, "ack", &r->ack, err)) ||
	    (rc = load_u64(root, "server_ack", &r->server_ack, err)) ||
	    (rc = load_u64(root, "next_seq", &r->next_seq, err)) ||
	    (rc = load_ms(root, "last_sync", 0, &r->last_sync, err)))
		goto out;
	if (r->next_seq == 0 || r->server_ack < r->ack ||
	    r->server_ack >= r->next_seq) {
		rc = tf_err_set(err, TF_EINVAL, "next_seq",
				"replica: ack, server_ack and next_seq are "
				"inconsistent");
		goto out;
	}

	a = tf_json_object_get(root, "base");
	if (a->type != TF_JSON_ARRAY || a->len > REPLICA_MAX_RECORDS) {
		rc = tf_err_set(err, TF_ETYPE, "base",
				"replica: base: must be an array of at most "
				"%zu records",
				REPLICA_MAX_RECORDS);
		goto out;
	}
	if (table_reserve(r, a->len) || (items = take_items(a, &n)) == NULL) {
		rc = tf_err_set(err, TF_ENOMEM, NULL, "replica: out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		const char *id;
		rentry *e;
		char where[32];
		snprintf(where, sizeof where, "base[%zu]", i);
		rc = tf_record_check(s, items[i], err);
		if (rc)
			goto out;
		id = tf_record_id(items[i]);
		if (id == NULL || !tf_uuid_valid(id, strlen(id)) ||
		    table_find(r, id)) {
			rc = tf_err_set(err, TF_EINVAL, where,
					"replica: %s: id missing or repeated",
					where);
			goto out;
		}
		if ((e = entry_new(id)) == NULL) {
			rc = tf_err_set(err, TF_ENOMEM, NULL,
					"replica: out of memory");
			goto out;
		}
		table_put(r, e);
		e->base = items[i];
		items[i] = NULL;
	}
	free(items);
	items = NULL;

	a = tf_json_object_get(root, "base_ack");
	if (a->type != TF_JSON_OBJECT) {
		rc = tf_err_set(err, TF_ETYPE, "base_ack",
				"replica: base_ack: must be an object");
		goto out;
	}
	for (i = 0; i < a->len; i++) {
		rentry *e = table_find(r, a->u.members[i].key);
		uint64_t ack;
		if (e == NULL || e->base == NULL ||
		    tf_json_uint64(a->u.members[i].value, &ack) != 0 ||
		    ack <= r->ack || ack > r->server_ack) {
			rc = tf_err_set(err, TF_EINVAL, "base_ack",
					"replica: base_ack: entry %zu is not a "
					"base record's ack between ack and "
					"server_ack",
					i);
			goto out;
		}
		e->base_ack = ack;
	}

	a = tf_json_object_get(root, "pending");
	if (a->type != TF_JSON_ARRAY || a->len > REPLICA_MAX_PENDING) {
		rc = tf_err_set(err, TF_ETYPE, "pending",
				"replica: pending: must be an array of at "
				"most %zu commands",
				REPLICA_MAX_PENDING);
		goto out;
	}
	for (i = 0; i < a->len; i++) {
		rc = load_pending(r, a->u.items[i], i, err);
		if (rc)
			goto out;
	}

	a = tf_json_object_get(root, "gone");
	if (a->type != TF_JSON_ARRAY) {
		rc = tf_err_set(err, TF_ETYPE, "gone",
				"replica: gone: must be an array");
		goto out;
	}
	for (i = 0; i < a->len; i++) {
		const tf_json *g = a->u.items[i];
		rentry *e = NULL;
		if (g->type == TF_JSON_STRING)
			e = table_find(r, g->u.str);
		if (e == NULL || e->base || e->npending == 0 || e->gone) {
			rc = tf_err_set(err, TF_EINVAL, "gone",
					"replica: gone[%zu]: not a pending "
					"record without a base",
					i);
			goto out;
		}
		e->gone = 1;
	}

	a = tf_json_object_get(root, "notices");
	if (a->type != TF_JSON_ARRAY || a->len > REPLICA_MAX_NOTICES) {
		rc = tf_err_set(err, TF_ETYPE, "notices",
				"replica: notices: must be an array of at "
				"most %zu notices",
				REPLICA_MAX_NOTICES);
		goto out;
	}
	if ((items = take_items(a, &n)) == NULL) {
		rc = tf_err_set(err, TF_ENOMEM, NULL, "replica: out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		tf_json *o = items[i];
		items[i] = NULL;
		rc = load_notice(r, o, i, err);
		if (rc)
			goto out;
	}

	/* Every entry computes its conflict flag; pending ones replay. */
	for (i = 0; i < r->cap; i++)
		if (r->slots[i])
			mark_dirty(r, r->slots[i]);
	rc = rebuild(r, err);
	if (rc) {
		r->failed = 0;
		goto out;
	}
	/* Everything loaded is what the host stored: nothing is dirty. */
	r->confirmed = r->gen;
	r->gen++;
	*out = r;
	r = NULL;
out:
	if (items) {
		for (i = 0; i < n; i++)
			tf_json_free(items[i]);
		free(items);
	}
	tf_replica_free(r);
	tf_json_free(root);
	return rc;
}

int tf_replica_load(const tf_schema *s, const char *buf, size_t len,
		    tf_replica **out, tf_err *err)
{
	tf_json *root = NULL;
	int rc;

	assert(out != NULL);
	*out = NULL;
	if (s == NULL)
		return tf_err_set(err, TF_EINVAL, NULL, "replica: no schema");
	rc = tf_json_parse(buf ? buf : "", buf ? len : 0, &load_limits, &root,
			   err);
	if (rc)
		return rc;
	return load_tree(s, root, out, err);
}

/* ------------------------------------------------------------ checkpoints */

static int cmp_settled(const void *a, const void *b)
{
	const settled_seq *x = a, *y = b;

	return (x->seq > y->seq) - (x->seq < y->seq);
}

/*
 * The records part of a checkpoint: a put for every record whose base
 * changed since `since` and still has one, a del for the others and for
 * dropped ids (full: a put for every base, no del), in id order, each id
 * once.
 */
static int emit_records(tf_replica *r, int full, uint64_t since,
			const tf_replica_sink *s, void *ctx, tf_buf *b)
{
	const char **ids = NULL;
	size_t n = r->nent + (full ? 0 : r->ndr), k = 0, i;
	int rc = 0;

	if (n == 0)
		return 0;
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	ids = malloc(n * sizeof *ids);
	if (ids == NULL)
		return TF_ENOMEM;
	for (i = 0; i < r->cap; i++) {
		const rentry *e = r->slots[i];
		if (e && (full ? e->base != NULL : e->bgen > since))
			ids[k++] = e->id;
	}
	for (i = 0; !full && i < r->ndr; i++)
		if (r->dr[i].gen > since)
			ids[k++] = r->dr[i].id;
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	qsort(ids, k, sizeof *ids, cmp_str_ptr);
	for (i = 0; i < k && rc == 0; i++) {
		const rentry *e;
		if (i && strcmp(ids[i - 1], ids[i]) == 0)
			continue;
		e = table_find(r, ids[i]);
		if (e == NULL || e->base == NULL) {
			rc = s->del_record(ctx, ids[i]);
			continue;
		}
		tf_buf_reset(b);
		rc = tf_json_write(e->base, b);
		if (rc == 0)
			rc = s->put_record(ctx, e->id, b->data, b->len);
	}
	free(ids);
	return rc;
}

/*
 * The pending part: a put for every command queued or changed since
 * `since`, a del for every seq settled since (full: a put for every
 * command), merged in seq order.
 */
static int emit_pending(tf_replica *r, int full, uint64_t since,
			const tf_replica_sink *s, void *ctx, tf_buf *b)
{
	settled_seq *dels = NULL;
	size_t nd = 0, i = 0, j = 0;
	int rc = 0;

	if (!full && r->nst) {
		dels = malloc(r->nst * sizeof *dels);
		if (dels == NULL)
			return TF_ENOMEM;
		for (i = 0; i < r->nst; i++)
			if (r->st[i].gen > since)
				dels[nd++] = r->st[i];
		qsort(dels, nd, sizeof *dels, cmp_settled);
		i = 0;
	}
	while (rc == 0 && (i < r->npq || j < nd)) {
		const pend *p;
		if (j < nd && (i == r->npq || dels[j].seq < r->pq[i].cmd.seq)) {
			rc = s->del_pending(ctx, dels[j++].seq);
			continue;
		}
		p = &r->pq[i++];
		if (!full && p->gen <= since)
			continue;
		tf_buf_reset(b);
		rc = pend_write(p, b);
		if (rc == 0)
			rc = s->put_pending(ctx, p->cmd.seq, b->data, b->len);
	}
	free(dels);
	return rc;
}

/*
 * Emits the dirty parts (full: all of them) to the sink: records, then
 * pending commands, then the head.  Changes nothing the host can see:
 * only which generation checkpoint_done will confirm.
 */
int tf_replica_checkpoint(tf_replica *r, int full, const tf_replica_sink *s,
			  void *ctx)
{
	uint64_t since;
	tf_buf b;
	int rc;

	assert(r != NULL);
	rc = check_live(r, NULL);
	if (rc)
		return rc;
	if (s == NULL || s->put_record == NULL || s->del_record == NULL ||
	    s->put_pending == NULL || s->del_pending == NULL ||
	    s->put_head == NULL)
		return TF_EINVAL;
	r->has_emitted = 0;
	since = full ? 0 : r->confirmed;
	tf_buf_init(&b);
	rc = emit_records(r, full, since, s, ctx, &b);
	if (rc == 0)
		rc = emit_pending(r, full, since, s, ctx, &b);
	if (rc == 0 && (full || r->hgen > since)) {
		tf_buf_reset(&b);
		rc = save_doc(r, &b, 0);
		if (rc == 0)
			rc = s->put_head(ctx, b.data, b.len);
	}
	tf_buf_free(&b);
	if (rc)
		return rc;
	/* Changes from now on are newer than what was emitted. */
	r->emitted = r->gen;
	r->gen++;
	r->has_emitted = 1;
	return 0;
}

/*
 * The host committed what the last checkpoint emitted: it is clean, and
 * the drops and settlements it told are forgotten.  Without a successful
 * checkpoint since the last done (or after a failed one) nothing changes.
 */
void tf_replica_checkpoint_done(tf_replica *r)
{
	size_t i, w = 0;

	assert(r != NULL);
	if (r->failed || !r->has_emitted)
		return;
	r->has_emitted = 0;
	r->confirmed = r->emitted;
	for (i = 0; i < r->nst; i++)
		if (r->st[i].gen > r->confirmed)
			r->st[w++] = r->st[i];
	r->nst = w;
	dr_compact(r);
}

/*
 * Every change touches the head (it holds the clock, the acks and the
 * counters), so a head newer than the confirmed generation is the sign.
 */
int tf_replica_dirty(const tf_replica *r)
{
	assert(r != NULL);
	return !r->failed && r->hgen > r->confirmed;
}

/* A part's bytes parsed as JSON; errors name the part ("records[3]"). */
static int parse_part(const char *p, size_t len, const char *where,
		      tf_json **out, tf_err *err)
{
	int rc = tf_json_parse(p ? p : "", p ? len : 0, &load_limits, out, err);

	if (rc && err) {
		tf_err e = *err;
		tf_err_set(err, rc, where, "replica %s: %s", where, e.msg);
		err->offset = e.offset;
		err->line = e.line;
		err->col = e.col;
	}
	return rc;
}

typedef struct pkey {
	uint64_t seq;
	size_t idx;
	tf_json *item;
} pkey;

static int cmp_pkey(const void *a, const void *b)
{
	const pkey *x = a, *y = b;

	if (x->seq != y->seq)
		return (x->seq > y->seq) - (x->seq < y->seq);
	return (x->idx > y->idx) - (x->idx < y->idx);
}

/*
 * Splices the parts into the head's empty "base" and "pending" arrays
 * (pending items in seq order, which the load requires) and loads the
 * whole document with tf_replica_load's checks.  Errors about a record
 * name base[i] (i its index in `records`); about a pending item,
 * pending[k] with k its place in seq order.
 */
int tf_replica_load_parts(const tf_schema *s, const char *head, size_t hlen,
			  const tf_slice *records, size_t nrecords,
			  const tf_slice *pending, size_t npending,
			  tf_replica **out, tf_err *err)
{
	tf_json *root = NULL, *base, *pa, *item;
	pkey *keys = NULL;
	char where[40];
	size_t i, nk = 0;
	int rc;

	assert(out != NULL);
	*out = NULL;
	if (s == NULL)
		return tf_err_set(err, TF_EINVAL, NULL, "replica: no schema");
	if ((nrecords && records == NULL) || (npending && pending == NULL))
		return tf_err_set(err, TF_EINVAL, NULL,
				  "replica parts: records or pending missing");
	if (nrecords > REPLICA_MAX_RECORDS)
		return tf_err_set(err, TF_ELIMIT, "records",
				  "replica parts: %zu records, at most %zu",
				  nrecords, REPLICA_MAX_RECORDS);
	if (npending > REPLICA_MAX_PENDING)
		return tf_err_set(err, TF_ELIMIT, "pending",
				  "replica parts: %zu pending commands, at "
				  "most %zu",
				  npending, REPLICA_MAX_PENDING);
	rc = parse_part(head, hlen, "head", &root, err);
	if (rc)
		return rc;
	base = tf_json_object_get(root, "base");
	pa = tf_json_object_get(root, "pending");
	if (root->type != TF_JSON_OBJECT || base == NULL || pa == NULL ||
	    base->type != TF_JSON_ARRAY || pa->type != TF_JSON_ARRAY ||
	    base->len || pa->len) {
		rc = tf_err_set(err, TF_EINVAL, "head",
				"replica head: must be an object whose "
				"\"base\" and \"pending\" are empty arrays");
		goto out;
	}
	for (i = 0; i < nrecords; i++) {
		snprintf(where, sizeof where, "records[%zu]", i);
		rc = parse_part(records[i].p, records[i].len, where, &item,
				err);
		if (rc)
			goto out;
		if (tf_json_array_push(base, item)) {
			rc = tf_err_set(err, TF_ENOMEM, NULL,
					"replica: out of memory");
			goto out;
		}
	}
	if (npending) {
		keys = calloc(npending, sizeof *keys);
		if (keys == NULL) {
			rc = tf_err_set(err, TF_ENOMEM, NULL,
					"replica: out of memory");
			goto out;
		}
	}
	for (i = 0; i < npending; i++, nk++) {
		const tf_json *cmd;
		snprintf(where, sizeof where, "pending[%zu]", i);
		rc = parse_part(pending[i].p, pending[i].len, where,
				&keys[i].item, err);
		if (rc)
			goto out;
		keys[i].idx = i;
		cmd = tf_json_object_get(keys[i].item, "cmd");
		if (keys[i].item->type != TF_JSON_OBJECT || cmd == NULL ||
		    cmd->type != TF_JSON_OBJECT ||
		    tf_json_uint64(tf_json_object_get(cmd, "seq"),
				   &keys[i].seq) != 0) {
			nk++;
			rc = tf_err_set(err, TF_EINVAL, where,
					"replica %s: must be an object with "
					"cmd.seq",
					where);
			goto out;
		}
	}
	if (nk)
		qsort(keys, nk, sizeof *keys, cmp_pkey);
	for (i = 0; i < nk; i++) {
		item = keys[i].item;
		keys[i].item = NULL;
		if (tf_json_array_push(pa, item)) {
			rc = tf_err_set(err, TF_ENOMEM, NULL,
					"replica: out of memory");
			goto out;
		}
	}
	rc = load_tree(s, root, out, err);
	root = NULL;
out:
	for (i = 0; keys && i < nk; i++)
		tf_json_free(keys[i].item);
	free(keys);
	tf_json_free(root);
	return rc;
}

/* ------------------------------------------------------------ eviction */

int tf_replica_evict(tf_replica *r, const char *record_id, tf_err *err)
{
	rentry *e;
	tf_sync_state st;
	int rc;

	assert(r != NULL);
	rc = check_live(r, err);
	if (rc)
		return rc;
	if (record_id == NULL)
		return tf_err_set(err, TF_EINVAL, "record_id",
				  "evict: a record id is required");
	e = table_find(r, record_id);
	if (e == NULL)
		return tf_err_set(err, TF_ENOTFOUND, "record_id",
				  "evict: record %.40s is not in the replica",
				  record_id);
	st = tf_replica_state(r, record_id);
	if (st != TF_SYNC_SYNCED || e->gone || e->base == NULL)
		return tf_err_set(err, TF_ESTATE, "record_id",
				  "evict: record %s is %s, only a synced "
				  "record without pending commands, notices "
				  "or conflicts may be evicted",
				  e->id, tf_sync_state_name(st));
	if (dr_reserve(r, 1))
		return tf_err_set(err, TF_ENOMEM, NULL, "evict: out of memory");
	/* Commit: nothing below fails. */
	touch_head(r);
	drop_base(r, e);
	assert(entry_removable(e));
	table_delete_at(r, table_slot(r, record_id));
	return 0;
}

int64_t tf_replica_pull_remaining(const tf_replica *r)
{
	assert(r != NULL);
	return r->remaining;
}

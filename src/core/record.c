/*
 * record.c - record states and the merge rules (docs/PROTOCOL.md sections
 * 4 and 5): one command applied to one record, identically on the server,
 * in native clients and in wasm.
 *
 * Every apply runs in two phases.  The first looks at the state and the
 * command, decides the outcome and may reject; it changes nothing.  The
 * second records its changes in a small transaction (struct tx): inserts
 * into objects and arrays are done at once and undone on a later failure,
 * value swaps, in-place rewrites of fixed-width strings and deletions are
 * deferred to tx_commit, which cannot fail.  So on REJECTED or any error
 * the record is byte-for-byte what it was, and the hot path (an lww set of
 * one field) touches only the members it changes: no record copy.
 *
 * States are trusted here (they passed tf_record_check or were made by this
 * file), but a malformed member makes apply fail with TF_EINVAL rather
 * than crash.
 */
#include "tenfour/record.h"
#include "tenfour/diff.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- names */

static const char *const status_names[] = {
	NULL, "applied", "duplicate", "rejected", "conflict", "clock_skew",
};
#define STATUS_COUNT (sizeof status_names / sizeof status_names[0])

const char *tf_status_name(tf_status s)
{
	if ((size_t)s == 0 || (size_t)s >= STATUS_COUNT)
		return "unknown";
	return status_names[s];
}

int tf_status_parse(const char *name, tf_status *out)
{
	size_t i;

	if (name == NULL)
		return TF_EINVAL;
	for (i = 1; i < STATUS_COUNT; i++) {
		if (strcmp(name, status_names[i]) == 0) {
			*out = (tf_status)i;
			return 0;
		}
	}
	return TF_EINVAL;
}

void tf_apply_result_clear(tf_apply_result *r)
{
	if (r == NULL)
		return;
	tf_json_free(r->detail);
	memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------ small helpers */

/* Binary search of an object's sorted members (memcmp, prefix first). */
static tf_json_member *slot_of(const tf_json *obj, const char *key)
{
	size_t lo = 0, hi, klen;

	if (obj == NULL || obj->type != TF_JSON_OBJECT)
		return NULL;
	klen = strlen(key);
	hi = obj->len;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const tf_json_member *m = &obj->u.members[mid];
		int r = memcmp(m->key, key, m->klen < klen ? m->klen : klen);
		if (r == 0)
			r = m->klen < klen ? -1 : m->klen > klen;
		if (r == 0)
			return (tf_json_member *)m;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static tf_json *get(const tf_json *obj, const char *key)
{
	tf_json_member *m = slot_of(obj, key);

	return m ? m->value : NULL;
}

/* A string member, or "" when absent or not a string. */
static const char *sget(const tf_json *obj, const char *key)
{
	const tf_json *v = get(obj, key);

	return v && v->type == TF_JSON_STRING ? v->u.str : "";
}

static int is_str(const tf_json *v)
{
	return v != NULL && v->type == TF_JSON_STRING;
}

static int str_eq(const tf_json *v, const char *s, size_t len)
{
	return is_str(v) && v->len == len && memcmp(v->u.str, s, len) == 0;
}

/* 16 lower-case hex digits. */
static int hlc_text_valid(const char *s, size_t len)
{
	size_t i;

	if (len != TF_HLC_TEXT_LEN)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static int name_valid(const char *s)
{
	size_t i, len = strlen(s);

	if (len == 0 || len > TF_NAME_MAX || s[0] < 'a' || s[0] > 'z')
		return 0;
	for (i = 1; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

/* The stamp of a state member "t"; TF_EINVAL when it is not an HLC. */
static int stamp_of(const tf_json *state, tf_hlc *out)
{
	const tf_json *t = get(state, "t");

	if (!is_str(t) || tf_hlc_parse(t->u.str, t->len, out))
		return TF_EINVAL;
	return 0;
}

/*
 * Builds an object from alternating key / value arguments, NULL-ended.
 * Takes ownership of every value (all are freed when any is NULL or an
 * insert fails), so constructors can be passed straight in.
 */
static tf_json *obj_build(const char *key, ...)
{
	va_list ap;
	tf_json *o = tf_json_object(), *v;
	int failed = o == NULL;

	va_start(ap, key);
	while (key) {
		v = va_arg(ap, tf_json *);
		if (failed || v == NULL) {
			tf_json_free(v);
			failed = 1;
		} else if (tf_json_object_set(o, key, v)) {
			failed = 1; /* set freed v */
		}
		key = va_arg(ap, const char *);
	}
	va_end(ap);
	if (failed) {
		tf_json_free(o);
		return NULL;
	}
	return o;
}

/* tf_json_object_set that also accepts a failed (NULL) constructor. */
static int obj_put(tf_json *o, const char *key, tf_json *v)
{
	if (v == NULL)
		return TF_ENOMEM;
	return tf_json_object_set(o, key, v);
}

/* tf_json_array_insert that also accepts a failed (NULL) constructor. */
static int arr_insert(tf_json *arr, size_t idx, tf_json *v)
{
	if (v == NULL)
		return TF_ENOMEM;
	return tf_json_array_insert(arr, idx, v);
}

static int arr_push(tf_json *arr, tf_json *v)
{
	if (v == NULL)
		return TF_ENOMEM;
	return tf_json_array_push(arr, v);
}

/* ------------------------------------------------------ transaction */

typedef enum tx_kind {
	TX_INS_OBJ, /* done: member `key` added to c; undo takes it */
	TX_INS_ARR, /* done: item inserted at idx of c; undo removes it */
	TX_SWAP,    /* deferred: c[key] = val, old value freed */
	TX_WRITE,   /* deferred: same-length rewrite of string/number c */
	TX_DEL_OBJ, /* deferred: member `key` of c removed and freed */
	TX_DEL_ARR  /* deferred: item `val` of array c removed and freed */
} tx_kind;

typedef struct tx_op {
	tx_kind kind;
	tf_json *c;
	const char *key; /* outlives the tx (command args or literal) */
	size_t idx;
	tf_json *val;
	const char *src; /* TX_WRITE: len bytes, outlives the tx */
	size_t len;
} tx_op;

#define TX_INLINE 16

typedef struct tx {
	tx_op *ops;
	size_t n, cap;
	tx_op inline_ops[TX_INLINE];
} tx;

static void tx_init(tx *t)
{
	t->ops = t->inline_ops;
	t->n = 0;
	t->cap = TX_INLINE;
}

/* Room for `more` ops; called before the op is performed. */
static int tx_reserve(tx *t, size_t more)
{
	tx_op *p;
	size_t cap;

	if (t->n + more <= t->cap)
		return 0;
	cap = t->cap * 2 > t->n + more ? t->cap * 2 : t->n + more;
	p = malloc(cap * sizeof *p);
	if (p == NULL)
		return TF_ENOMEM;
	memcpy(p, t->ops, t->n * sizeof *p);
	if (t->ops != t->inline_ops)
		free(t->ops);
	t->ops = p;
	t->cap = cap;
	return 0;
}

static void tx_release(tx *t)
{
	if (t->ops != t->inline_ops)
		free(t->ops);
	t->ops = t->inline_ops;
	t->n = 0;
	t->cap = TX_INLINE;
}

static tx_op *tx_push(tx *t, tx_kind kind, tf_json *c)
{
	tx_op *op;

	assert(t->n < t->cap);
	op = &t->ops[t->n++];
	memset(op, 0, sizeof *op);
	op->kind = kind;
	op->c = c;
	return op;
}

/* Adds member key (absent) to obj now.  Takes ownership of val. */
static int tx_obj_add(tx *t, tf_json *obj, const char *key, tf_json *val)
{
	int rc;

	if (val == NULL)
		return TF_ENOMEM;
	rc = tx_reserve(t, 1);
	if (rc) {
		tf_json_free(val);
		return rc;
	}
	assert(slot_of(obj, key) == NULL);
	rc = tf_json_object_set(obj, key, val);
	if (rc)
		return rc;
	tx_push(t, TX_INS_OBJ, obj)->key = key;
	return 0;
}

/* Inserts val at idx of arr now.  Takes ownership of val. */
static int tx_arr_insert(tx *t, tf_json *arr, size_t idx, tf_json *val)
{
	int rc;

	if (val == NULL)
		return TF_ENOMEM;
	rc = tx_reserve(t, 1);
	if (rc) {
		tf_json_free(val);
		return rc;
	}
	rc = tf_json_array_insert(arr, idx, val);
	if (rc)
		return rc;
	tx_push(t, TX_INS_ARR, arr)->idx = idx;
	return 0;
}

/* Defers obj[key] (present) = val.  Takes ownership of val. */
static int tx_swap(tx *t, tf_json *obj, const char *key, tf_json *val)
{
	tx_op *op;
	int rc;

	if (val == NULL)
		return TF_ENOMEM;
	rc = tx_reserve(t, 1);
	if (rc) {
		tf_json_free(val);
		return rc;
	}
	assert(slot_of(obj, key) != NULL);
	op = tx_push(t, TX_SWAP, obj);
	op->key = key;
	op->val = val;
	return 0;
}

/*
 * Sets string member obj[key] to s: rewritten in place when the length is
 * the same (no allocation on the hot path), else swapped for a new node.
 */
static int tx_set_str(tx *t, tf_json *obj, const char *key, const char *s)
{
	tf_json *cur = get(obj, key);
	size_t len = strlen(s);
	tx_op *op;
	int rc;

	if (str_eq(cur, s, len))
		return 0;
	if (cur == NULL || cur->type != TF_JSON_STRING || cur->len != len)
		return tx_swap(t, obj, key, tf_json_string(s, len));
	rc = tx_reserve(t, 1);
	if (rc)
		return rc;
	op = tx_push(t, TX_WRITE, cur);
	op->src = s;
	op->len = len;
	return 0;
}

static int tx_del_obj(tx *t, tf_json *obj, const char *key)
{
	int rc = tx_reserve(t, 1);

	if (rc)
		return rc;
	tx_push(t, TX_DEL_OBJ, obj)->key = key;
	return 0;
}

static int tx_del_arr(tx *t, tf_json *arr, tf_json *item)
{
	int rc = tx_reserve(t, 1);

	if (rc)
		return rc;
	tx_push(t, TX_DEL_ARR, arr)->val = item;
	return 0;
}

/* Undoes the inserts (newest first) and frees what deferred ops held. */
static void tx_abort(tx *t)
{
	while (t->n > 0) {
		tx_op *op = &t->ops[--t->n];
		switch (op->kind) {
		case TX_INS_OBJ:
			tf_json_free(tf_json_object_take(op->c, op->key));
			break;
		case TX_INS_ARR:
			tf_json_free(tf_json_array_remove(op->c, op->idx));
			break;
		case TX_SWAP:
			tf_json_free(op->val);
			break;
		case TX_WRITE:
		case TX_DEL_OBJ:
		case TX_DEL_ARR:
			break;
		}
	}
	tx_release(t);
}

/* Performs the deferred ops, in order.  Cannot fail. */
static void tx_commit(tx *t)
{
	size_t i, k;

	for (i = 0; i < t->n; i++) {
		tx_op *op = &t->ops[i];
		tf_json_member *m;
		switch (op->kind) {
		case TX_INS_OBJ:
		case TX_INS_ARR:
			break;
		case TX_SWAP:
			m = slot_of(op->c, op->key);
			assert(m != NULL);
			tf_json_free(m->value);
			m->value = op->val;
			break;
		case TX_WRITE:
			assert(op->c->len == op->len);
			memcpy(op->c->u.str, op->src, op->len);
			break;
		case TX_DEL_OBJ:
			tf_json_free(tf_json_object_take(op->c, op->key));
			break;
		case TX_DEL_ARR:
			for (k = 0; k < op->c->len; k++)
				if (op->c->u.items[k] == op->val)
					break;
			assert(k < op->c->len);
			tf_json_free(tf_json_array_remove(op->c, k));
			break;
		}
	}
	t->n = 0;
	tx_release(t);
}

/* ------------------------------------------------------------ records */

int tf_record_new(const char *entity, const char *id, tf_json **out)
{
	assert(out != NULL);
	*out = NULL;
	if (entity == NULL || id == NULL || !name_valid(entity) ||
	    !tf_uuid_valid(id, strlen(id)))
		return TF_EINVAL;
	*out = obj_build("entity", tf_json_cstring(entity), "f",
			 tf_json_object(), "id", tf_json_cstring(id), "mhlc",
			 tf_json_cstring("0000000000000000"), "ver",
			 tf_json_int(0), (const char *)NULL);
	return *out ? 0 : TF_ENOMEM;
}

const char *tf_record_id(const tf_json *rec)
{
	const tf_json *v = get(rec, "id");

	return is_str(v) ? v->u.str : NULL;
}

const char *tf_record_entity(const tf_json *rec)
{
	const tf_json *v = get(rec, "entity");

	return is_str(v) ? v->u.str : NULL;
}

int64_t tf_record_ver(const tf_json *rec)
{
	int64_t ver;
	const tf_json *v = get(rec, "ver");

	if (v == NULL || tf_json_int64(v, &ver))
		return -1;
	return ver;
}

tf_hlc tf_record_mhlc(const tf_json *rec)
{
	tf_hlc h;
	const tf_json *v = get(rec, "mhlc");

	if (!is_str(v) || tf_hlc_parse(v->u.str, v->len, &h))
		return 0;
	return h;
}

const tf_json *tf_record_field(const tf_json *rec, const char *field)
{
	return get(get(rec, "f"), field);
}

const tf_json *tf_record_value(const tf_json *rec, const char *field)
{
	return get(tf_record_field(rec, field), "v");
}

int tf_record_ref_stale(const tf_json *rec, const char *field, int64_t now_ms)
{
	const tf_json *st = tf_record_field(rec, field);
	int64_t at, ttl;

	if (st == NULL || tf_json_int64(get(st, "fetched_at"), &at) ||
	    tf_json_int64(get(st, "ttl"), &ttl) || at < 0 || ttl < 0)
		return 0;
	if (at > INT64_MAX - ttl)
		return 0; /* expires after the end of time */
	return now_ms > at + ttl;
}

int tf_record_lww_stamp(const tf_json *rec, const char *field, tf_hlc *t,
			const char **node, const char **by)
{
	const tf_json *st = tf_record_field(rec, field);
	tf_hlc h;

	if (st == NULL || stamp_of(st, &h))
		return TF_ENOTFOUND;
	if (t)
		*t = h;
	if (node)
		*node = sget(st, "n");
	if (by)
		*by = sget(st, "by");
	return 0;
}

int tf_record_superseded(const tf_json *rec, const tf_command *c,
			 const char *field)
{
	const tf_json *fields, *mine, *st;
	tf_hlc t;

	assert(c != NULL);
	if (c->op != TF_OP_SET && c->op != TF_OP_CREATE)
		return 0;
	fields = get(c->args, "fields");
	mine = get(fields, field);
	st = tf_record_field(rec, field);
	if (mine == NULL || st == NULL || stamp_of(st, &t))
		return 0;
	if (tf_json_equal(get(st, "v"), mine))
		return 0;
	if (strcmp(sget(st, "n"), c->device) == 0)
		return 0;
	return tf_hlc_order(t, sget(st, "n"), c->hlc, c->device) > 0;
}

size_t tf_record_conflicts(const tf_json *rec)
{
	const tf_json *f = get(rec, "f");
	size_t i, n = 0;

	if (f == NULL || f->type != TF_JSON_OBJECT)
		return 0;
	for (i = 0; i < f->len; i++) {
		const tf_json *cs = get(f->u.members[i].value, "conflicts");
		if (cs && cs->type == TF_JSON_ARRAY)
			n += cs->len;
	}
	return n;
}

/* ------------------------------------------------------------- apply */

/* Everything one apply works with. */
typedef struct actx {
	const tf_apply_ctx *ctx;
	const tf_command *c;
	const tf_entity *ent;
	tf_json *rec;
	tf_json *f; /* rec.f */
	char hlc[TF_HLC_TEXT_LEN + 1];
	tf_apply_result *res;
	tx tx;
	char ver_text[24]; /* TX_WRITE source for an in-place ver bump */
} actx;

/* Records a business rejection: status REJECTED, code and reason in err. */
static int reject(actx *a, int code, const char *field, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	__attribute__((format(printf, 4, 5)))
#endif
	;

static int reject(actx *a, int code, const char *field, const char *fmt, ...)
{
	char where[96], msg[200];
	va_list ap;

	if (field)
		snprintf(where, sizeof where, "%s.%.40s", a->c->entity, field);
	else
		snprintf(where, sizeof where, "%s", a->c->entity);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	a->res->status = TF_ST_REJECTED;
	tf_err_set(&a->res->err, code, where, "%s: %s", a->c->cmd_id, msg);
	return 0;
}

/* The schema field of a command arg, of the class the op needs. */
static const tf_field *field_def(actx *a, const char *name, tf_class cls)
{
	const tf_field *f = tf_entity_field(a->ent, name);

	return f && f->cls == cls ? f : NULL;
}

/* The state slot of field `name` in rec.f, or NULL. */
static tf_json *field_state(actx *a, const char *name)
{
	return get(a->f, name);
}

/* by, n, t for a state this command writes. */
static tf_json *str_dup(const char *s)
{
	return tf_json_cstring(s);
}

/*
 * Log entry ordering: (t, id).  Returns the insert position of (t, id) in
 * the entries array and sets *found when an entry with both is there.
 * Entries are sorted (tf_record_check), so this is a binary search.
 */
static size_t log_pos(const tf_json *e, const char *t, const char *id,
		      int *found)
{
	size_t lo = 0, hi = e->len;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const tf_json *en = e->u.items[mid];
		int r = strcmp(sget(en, "t"), t);
		if (r == 0)
			r = strcmp(sget(en, "id"), id);
		if (r == 0) {
			*found = 1;
			return mid;
		}
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A log entry of this command: {by, corrects?, id, n, srv?, t, v}. */
static tf_json *log_entry(actx *a, tf_json *body, const char *corrects)
{
	tf_json *e;

	if (body == NULL)
		return NULL;
	e = obj_build("by", str_dup(a->c->user), "id", str_dup(a->c->cmd_id),
		      "n", str_dup(a->c->device), "t", str_dup(a->hlc), "v",
		      body, (const char *)NULL);
	if (e == NULL)
		return NULL;
	if (corrects && obj_put(e, "corrects", str_dup(corrects)))
		goto fail;
	if (a->ctx->authority && obj_put(e, "srv", tf_json_int(a->ctx->now_ms)))
		goto fail;
	return e;
fail:
	tf_json_free(e);
	return NULL;
}

/*
 * Appends entry (owned) to log field `name` through the tx: creates the
 * state {"e":[entry]} when the log has none, else inserts at (t, id).
 * A duplicate id is dropped (idempotent).
 */
static int log_insert(actx *a, const char *name, tf_json *entry)
{
	tf_json *st = field_state(a, name), *e, *arr;
	size_t pos;
	int found;

	if (entry == NULL)
		return TF_ENOMEM;
	if (st == NULL) {
		arr = tf_json_array();
		if (arr == NULL || tf_json_array_push(arr, entry)) {
			if (arr == NULL)
				tf_json_free(entry);
			tf_json_free(arr);
			return TF_ENOMEM;
		}
		return tx_obj_add(&a->tx, a->f, name,
				  obj_build("e", arr, (const char *)NULL));
	}
	e = get(st, "e");
	if (e == NULL || e->type != TF_JSON_ARRAY) {
		tf_json_free(entry);
		return TF_EINVAL;
	}
	pos = log_pos(e, a->hlc, a->c->cmd_id, &found);
	if (found) {
		tf_json_free(entry);
		return 0;
	}
	return tx_arr_insert(&a->tx, e, pos, entry);
}

/*
 * Checks that an entry of this command can go into log `log`: *dup = 1
 * when it is already there (same (t, id): a replay, no change), else a
 * rejection (*rejected = 1) when the log is full.  O(log n): the entry is
 * found by its (t, id) position.  A command id reused under another stamp
 * is not looked for here: tf_record_apply's caller guarantees a command id
 * is applied under one stamp only (the server's ledger keys commands by
 * cmd_id and refuses a reuse; a replica re-stamps only commands the
 * server refused), and tf_record_check refuses a state holding an id
 * twice, so a broken caller is caught loudly, never merged silently.
 * A scan of the log for every append would make appends O(n).
 */
static int log_room(actx *a, const tf_field *log, int *dup, int *rejected)
{
	const tf_json *st = field_state(a, log->name), *e;

	*dup = 0;
	*rejected = 0;
	if (st == NULL)
		return 0;
	e = get(st, "e");
	if (e == NULL || e->type != TF_JSON_ARRAY)
		return TF_EINVAL;
	log_pos(e, a->hlc, a->c->cmd_id, dup);
	if (*dup)
		return 0;
	if (log->max_entries && e->len >= log->max_entries) {
		*rejected = 1;
		return reject(a, TF_ELIMIT, log->name,
			      "log %s is full (%zu entries)", log->name,
			      log->max_entries);
	}
	return 0;
}

/* History entry {"field": name, "value": value} for lww field f. */
static tf_json *history_body(const tf_field *f, const tf_json *value)
{
	return obj_build("field", tf_json_cstring(f->name), "value",
			 tf_json_clone(value), (const char *)NULL);
}

/* Adds member `key` = val to the result detail (created on first use). */
static int detail_set(actx *a, const char *key, tf_json *val)
{
	if (val == NULL)
		return TF_ENOMEM;
	if (a->res->detail == NULL) {
		a->res->detail = tf_json_object();
		if (a->res->detail == NULL) {
			tf_json_free(val);
			return TF_ENOMEM;
		}
	}
	return tf_json_object_set(a->res->detail, key, val);
}

/* ---- lww */

/* Per field decision of a set, made before anything changes. */
typedef struct lww_plan {
	const char *name;
	const tf_field *def;
	const tf_json *value;
	tf_json *state; /* current state or NULL */
	int cmp;	/* command vs state: >0 wins, 0 same write, <0 loses */
	const tf_field *hist; /* history log, or NULL */
	int hist_dup;
} lww_plan;

/*
 * Decides one lww field: win/lose, transition, history room.  Sets
 * *rejected after a rejection.
 */
static int lww_plan_field(actx *a, lww_plan *p, int *rejected)
{
	tf_hlc t;
	const tf_json *cur;

	*rejected = 0;
	p->cmp = 1;
	if (p->state) {
		if (stamp_of(p->state, &t) || !is_str(get(p->state, "n")))
			return TF_EINVAL;
		p->cmp = tf_hlc_order(a->c->hlc, a->c->device, t,
				      sget(p->state, "n"));
	}
	if (p->cmp > 0 && is_str(p->value) &&
	    p->def->type.type == TF_TYPE_ENUM) {
		cur = p->state ? get(p->state, "v") : NULL;
		if (!tf_field_transition_allowed(
			    p->def, is_str(cur) ? cur->u.str : NULL,
			    p->value->u.str)) {
			*rejected = 1;
			if (is_str(cur))
				return reject(a, TF_ETRANSITION, p->name,
					      "%s may not change from \"%s\" "
					      "to \"%s\"",
					      p->name, cur->u.str,
					      p->value->u.str);
			return reject(a, TF_ETRANSITION, p->name,
				      "%s may not start as \"%s\"", p->name,
				      p->value->u.str);
		}
	}
	p->hist = NULL;
	if (p->def->history) {
		p->hist = field_def(a, p->def->history, TF_CLASS_LOG);
		if (p->hist == NULL)
			return TF_EINVAL;
		return log_room(a, p->hist, &p->hist_dup, rejected);
	}
	return 0;
}

/* The tx ops of a won lww field: new state, or v/by/n/t rewritten. */
static int lww_write(actx *a, const lww_plan *p)
{
	int rc;

	if (p->state == NULL)
		return tx_obj_add(&a->tx, a->f, p->name,
				  obj_build("by", str_dup(a->c->user), "n",
					    str_dup(a->c->device), "t",
					    str_dup(a->hlc), "v",
					    tf_json_clone(p->value),
					    (const char *)NULL));
	rc = tx_swap(&a->tx, p->state, "v", tf_json_clone(p->value));
	if (rc == 0)
		rc = tx_set_str(&a->tx, p->state, "t", a->hlc);
	if (rc == 0)
		rc = tx_set_str(&a->tx, p->state, "n", a->c->device);
	if (rc == 0)
		rc = tx_set_str(&a->tx, p->state, "by", a->c->user);
	return rc;
}

static int apply_set(actx *a)
{
	const tf_json *fields = get(a->c->args, "fields");
	lww_plan one, *plan = &one;
	tf_json *lost = NULL;
	size_t i, n;
	int rc = 0, rejected = 0;

	if (fields == NULL || fields->type != TF_JSON_OBJECT ||
	    fields->len == 0 || fields->len > TF_SCHEMA_MAX_FIELDS)
		return TF_EINVAL;
	n = fields->len;
	if (n > 1) {
		plan = malloc(n * sizeof *plan);
		if (plan == NULL)
			return TF_ENOMEM;
	}
	for (i = 0; i < n && !rejected; i++) {
		lww_plan *p = &plan[i];
		p->name = fields->u.members[i].key;
		p->value = fields->u.members[i].value;
		p->def = field_def(a, p->name, TF_CLASS_LWW);
		if (p->def == NULL) {
			rc = TF_EINVAL;
			goto out;
		}
		p->state = field_state(a, p->name);
		rc = lww_plan_field(a, p, &rejected);
		if (rc)
			goto out;
	}
	if (rejected)
		goto out;
	/* 4 ops per won field (v, t, n, by) and 1 per history entry */
	rc = tx_reserve(&a->tx, 5 * n);
	for (i = 0; i < n && rc == 0; i++) {
		const lww_plan *p = &plan[i];
		if (p->cmp > 0)
			rc = lww_write(a, p);
		if (rc == 0 && p->hist && !p->hist_dup)
			rc = log_insert(
				a, p->hist->name,
				log_entry(a, history_body(p->def, p->value),
					  NULL));
		if (rc == 0 && p->cmp < 0) {
			if (lost == NULL && (lost = tf_json_array()) == NULL)
				rc = TF_ENOMEM;
			if (rc == 0)
				rc = arr_push(lost, tf_json_cstring(p->name));
		}
	}
	if (rc == 0 && lost) {
		rc = detail_set(a, "lost", lost);
		lost = NULL;
	}
	if (rc == 0)
		a->res->status = TF_ST_APPLIED;
out:
	tf_json_free(lost);
	if (plan != &one)
		free(plan);
	return rc;
}

/* ---- log */

static int apply_append(actx *a)
{
	const char *name = sget(a->c->args, "field");
	const tf_field *def = field_def(a, name, TF_CLASS_LOG);
	const tf_json *body = get(a->c->args, "body");
	const tf_json *corr = get(a->c->args, "corrects");
	const tf_json *st, *e;
	size_t i;
	int rc, dup, rejected;

	if (def == NULL || body == NULL || (corr && !is_str(corr)))
		return TF_EINVAL;
	rc = log_room(a, def, &dup, &rejected);
	if (rc || rejected)
		return rc;
	if (dup) {
		a->res->status = TF_ST_APPLIED;
		return 0;
	}
	if (corr) {
		/* Corrections are rare: a scan by id is fine here. */
		st = field_state(a, name);
		e = st ? get(st, "e") : NULL;
		for (i = 0; e && i < e->len; i++)
			if (str_eq(get(e->u.items[i], "id"), corr->u.str,
				   corr->len))
				break;
		if (e == NULL || i == e->len)
			return reject(a, TF_ENOTFOUND, name,
				      "entry %.40s to correct is not in %s",
				      corr->u.str, name);
	}
	rc = log_insert(
		a, def->name,
		log_entry(a, tf_json_clone(body), corr ? corr->u.str : NULL));
	if (rc == 0)
		a->res->status = TF_ST_APPLIED;
	return rc;
}

/* ---- set */

/* Binary search of set elements by canonical bytes of v. */
static size_t set_pos(const tf_json *s, const tf_json *v, int *found)
{
	size_t lo = 0, hi = s->len;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const tf_json *ev = get(s->u.items[mid], "v");
		int r = ev ? tf_json_compare(ev, v) : -1;
		if (r == 0) {
			*found = 1;
			return mid;
		}
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Binary search of sorted tag strings. */
static size_t tag_pos(const tf_json *tags, const char *tag, int *found)
{
	size_t lo = 0, hi = tags->len;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const tf_json *t = tags->u.items[mid];
		int r = strcmp(is_str(t) ? t->u.str : "", tag);
		if (r == 0) {
			*found = 1;
			return mid;
		}
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static tf_json *set_element(actx *a, const tf_json *value)
{
	tf_json *tags = tf_json_array();

	if (tags && arr_push(tags, str_dup(a->c->cmd_id))) {
		tf_json_free(tags);
		return NULL;
	}
	return obj_build("tags", tags, "v", tf_json_clone(value),
			 (const char *)NULL);
}

static int apply_set_add(actx *a)
{
	const char *name = sget(a->c->args, "field");
	const tf_field *def = field_def(a, name, TF_CLASS_SET);
	const tf_json *value = get(a->c->args, "value");
	tf_json *st, *s, *el, *tags;
	size_t pos, tpos;
	int found, tfound, rc;

	if (def == NULL || value == NULL)
		return TF_EINVAL;
	a->res->status = TF_ST_APPLIED;
	st = field_state(a, name);
	if (st == NULL) {
		s = tf_json_array();
		if (s == NULL)
			return TF_ENOMEM;
		if (arr_push(s, set_element(a, value))) {
			tf_json_free(s);
			return TF_ENOMEM;
		}
		return tx_obj_add(&a->tx, a->f, def->name,
				  obj_build("s", s, (const char *)NULL));
	}
	s = get(st, "s");
	if (s == NULL || s->type != TF_JSON_ARRAY)
		return TF_EINVAL;
	pos = set_pos(s, value, &found);
	if (!found) {
		if (def->max_entries && s->len >= def->max_entries)
			return reject(a, TF_ELIMIT, name,
				      "set %s is full (%zu elements)", name,
				      def->max_entries);
		return tx_arr_insert(&a->tx, s, pos, set_element(a, value));
	}
	el = s->u.items[pos];
	tags = get(el, "tags");
	if (tags == NULL || tags->type != TF_JSON_ARRAY)
		return TF_EINVAL;
	tpos = tag_pos(tags, a->c->cmd_id, &tfound);
	if (tfound)
		return 0;
	if (tags->len >= TF_SET_MAX_TAGS)
		return reject(a, TF_ELIMIT, name,
			      "element of %s was added %d times without a "
			      "remove",
			      name, TF_SET_MAX_TAGS);
	rc = tx_arr_insert(&a->tx, tags, tpos, str_dup(a->c->cmd_id));
	return rc;
}

static int apply_set_remove(actx *a)
{
	const char *name = sget(a->c->args, "field");
	const tf_field *def = field_def(a, name, TF_CLASS_SET);
	const tf_json *value = get(a->c->args, "value");
	const tf_json *rm = get(a->c->args, "tags");
	tf_json *st, *s, *el, *tags, *kept = NULL;
	size_t pos, i, nrm = 0;
	int found, tfound, rc = 0;
	unsigned char *drop = NULL;

	if (def == NULL || value == NULL || rm == NULL ||
	    rm->type != TF_JSON_ARRAY)
		return TF_EINVAL;
	a->res->status = TF_ST_APPLIED;
	st = field_state(a, name);
	s = st ? get(st, "s") : NULL;
	if (s == NULL || s->type != TF_JSON_ARRAY)
		return st ? TF_EINVAL : 0;
	pos = set_pos(s, value, &found);
	if (!found)
		return 0; /* already gone: nothing it saw is left */
	el = s->u.items[pos];
	tags = get(el, "tags");
	if (tags == NULL || tags->type != TF_JSON_ARRAY)
		return TF_EINVAL;
	drop = calloc(tags->len ? tags->len : 1, 1);
	if (drop == NULL)
		return TF_ENOMEM;
	for (i = 0; i < rm->len; i++) {
		const tf_json *t = rm->u.items[i];
		size_t tp;
		if (!is_str(t))
			continue;
		tp = tag_pos(tags, t->u.str, &tfound);
		if (tfound && !drop[tp]) {
			drop[tp] = 1;
			nrm++;
		}
	}
	if (nrm == 0)
		goto out;
	if (nrm == tags->len) {
		/* The last tag went: the element goes; an empty set has no
		 * state, so that every path to "empty" gives the same bytes. */
		if (s->len == 1)
			rc = tx_del_obj(&a->tx, a->f, def->name);
		else
			rc = tx_del_arr(&a->tx, s, el);
		goto out;
	}
	kept = tf_json_array();
	for (i = 0; kept && i < tags->len && rc == 0; i++)
		if (!drop[i])
			rc = arr_push(kept, tf_json_clone(tags->u.items[i]));
	if (kept == NULL || rc) {
		tf_json_free(kept);
		rc = TF_ENOMEM;
		goto out;
	}
	rc = tx_swap(&a->tx, el, "tags", kept);
out:
	free(drop);
	return rc;
}

/* ---- text */

/* New text state, or the v/rev/by/n/t rewrite of an existing one. */
static int text_write(actx *a, tf_json *st, const char *name, int64_t rev,
		      const tf_json *text)
{
	int rc;

	if (st == NULL)
		return tx_obj_add(&a->tx, a->f, name,
				  obj_build("by", str_dup(a->c->user), "n",
					    str_dup(a->c->device), "rev",
					    tf_json_int(rev + 1), "t",
					    str_dup(a->hlc), "v",
					    tf_json_clone(text),
					    (const char *)NULL));
	rc = tx_swap(&a->tx, st, "v", tf_json_clone(text));
	if (rc == 0)
		rc = tx_swap(&a->tx, st, "rev", tf_json_int(rev + 1));
	if (rc == 0)
		rc = tx_set_str(&a->tx, st, "t", a->hlc);
	if (rc == 0)
		rc = tx_set_str(&a->tx, st, "n", a->c->device);
	if (rc == 0)
		rc = tx_set_str(&a->tx, st, "by", a->c->user);
	return rc;
}

/* Binary search of conflicts by id. */
static size_t conflict_pos(const tf_json *cs, const char *id, int *found)
{
	size_t lo = 0, hi = cs->len;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(sget(cs->u.items[mid], "id"), id);
		if (r == 0) {
			*found = 1;
			return mid;
		}
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * A conflict record of this command (PROTOCOL.md section 4), with
 * "merged" when the word diff3 of base, head and proposed is clean and
 * fits the field's max_bytes (two sides within the limit can merge past
 * it, and a state holding such a text fails tf_record_check).
 */
static int conflict_build(actx *a, const tf_field *def, const tf_json *base,
			  int64_t base_rev, const tf_json *head,
			  const char *head_by, int64_t head_rev,
			  const tf_json *proposed, tf_json **out)
{
	tf_buf merged;
	tf_json *c = NULL, *m;
	int clean = 0, rc;

	*out = NULL;
	tf_buf_init(&merged);
	rc = tf_diff3_merge(base->u.str, base->len, head->u.str, head->len,
			    proposed->u.str, proposed->len, &merged, &clean);
	if (rc == TF_ELIMIT) {
		clean = 0;
		rc = 0;
	}
	if (rc)
		goto out;
	rc = TF_ENOMEM;
	c = obj_build("base", tf_json_clone(base), "base_rev",
		      tf_json_int(base_rev), "by", str_dup(a->c->user), "head",
		      tf_json_clone(head), "head_by", str_dup(head_by),
		      "head_rev", tf_json_int(head_rev), "id",
		      str_dup(a->c->cmd_id), "n", str_dup(a->c->device),
		      "proposed", tf_json_clone(proposed), "t", str_dup(a->hlc),
		      (const char *)NULL);
	if (c == NULL)
		goto out;
	if (clean && (def->max_bytes == 0 || merged.len <= def->max_bytes)) {
		m = tf_json_string(merged.data ? merged.data : "", merged.len);
		if (m == NULL || tf_json_object_set(c, "merged", m))
			goto out;
	}
	*out = c;
	c = NULL;
	rc = 0;
out:
	tf_json_free(c);
	tf_buf_free(&merged);
	return rc;
}

/*
 * Adds conflict (owned) to text state st through the tx; `replace` (may
 * be NULL) is removed at commit.
 */
static int conflict_insert(actx *a, tf_json *st, tf_json *conflict,
			   tf_json *replace)
{
	tf_json *cs = get(st, "conflicts"), *arr;
	size_t pos;
	int found, rc;

	if (cs == NULL) {
		arr = tf_json_array();
		if (arr == NULL || tf_json_array_push(arr, conflict)) {
			if (arr == NULL)
				tf_json_free(conflict);
			tf_json_free(arr);
			return TF_ENOMEM;
		}
		return tx_obj_add(&a->tx, st, "conflicts", arr);
	}
	pos = conflict_pos(cs, a->c->cmd_id, &found);
	assert(!found);
	rc = tx_arr_insert(&a->tx, cs, pos, conflict);
	if (rc == 0 && replace)
		rc = tx_del_arr(&a->tx, cs, replace);
	return rc;
}

/* Current text state: st (may be NULL), its rev, text and author. */
typedef struct text_cur {
	tf_json *st;
	int64_t rev;
	const tf_json *v;
	const char *by;
} text_cur;

static int text_current(actx *a, const char *name, text_cur *cur)
{
	static tf_json empty = {TF_JSON_STRING, 0, 0, {(char *)""}};

	cur->st = field_state(a, name);
	cur->rev = 0;
	cur->v = &empty;
	cur->by = "";
	if (cur->st == NULL)
		return 0;
	cur->v = get(cur->st, "v");
	cur->by = sget(cur->st, "by");
	if (!is_str(cur->v) || tf_json_int64(get(cur->st, "rev"), &cur->rev))
		return TF_EINVAL;
	return 0;
}

static int same_text(const tf_json *a, const tf_json *b)
{
	return a->len == b->len && memcmp(a->u.str, b->u.str, a->len) == 0;
}

/*
 * Rejects a write that would need a revision past INT64_MAX (rev + 1
 * would overflow); 1 when it did.  Only a forged state gets there.
 */
static int text_rev_full(actx *a, const char *name, const text_cur *cur)
{
	if (cur->rev < INT64_MAX)
		return 0;
	reject(a, TF_ERANGE, name, "%s is at its last revision", name);
	return 1;
}

static int apply_edit_text(actx *a)
{
	const char *name = sget(a->c->args, "field");
	const tf_field *def = field_def(a, name, TF_CLASS_TEXT);
	const tf_json *text = get(a->c->args, "text");
	const tf_json *base = get(a->c->args, "base");
	const tf_json *cs;
	tf_json *conflict = NULL;
	text_cur cur;
	int64_t base_rev;
	int found, rc;

	if (def == NULL || !is_str(text) || !is_str(base) ||
	    tf_json_int64(get(a->c->args, "base_rev"), &base_rev))
		return TF_EINVAL;
	rc = text_current(a, name, &cur);
	if (rc)
		return rc;
	a->res->status = TF_ST_APPLIED;
	/* No state yet: nothing can be lost, the edit applies as rev 1. */
	if (cur.st == NULL)
		return text->len ? text_write(a, NULL, def->name, 0, text) : 0;
	if (same_text(text, cur.v))
		return 0;
	if (base_rev == cur.rev) {
		if (text_rev_full(a, name, &cur))
			return 0;
		return text_write(a, cur.st, def->name, cur.rev, text);
	}
	/* Stale base: an edit that changes nothing is no conflict. */
	if (same_text(text, base))
		return 0;
	cs = get(cur.st, "conflicts");
	if (cs && cs->type != TF_JSON_ARRAY)
		return TF_EINVAL;
	if (cs) {
		conflict_pos(cs, a->c->cmd_id, &found);
		if (!found && cs->len >= TF_TEXT_MAX_CONFLICTS)
			return reject(a, TF_ELIMIT, name,
				      "%s already has %d open conflicts; "
				      "resolve them first",
				      name, TF_TEXT_MAX_CONFLICTS);
		if (found)
			goto conflict_detail;
	}
	rc = conflict_build(a, def, base, base_rev, cur.v, cur.by, cur.rev,
			    text, &conflict);
	if (rc == 0)
		rc = conflict_insert(a, cur.st, conflict, NULL);
	if (rc)
		return rc;
conflict_detail:
	a->res->status = TF_ST_CONFLICT;
	return detail_set(a, "conflict", str_dup(a->c->cmd_id));
}

/* {"by","from","text"} for the resolve detail's "discarded". */
static int discard_push(tf_json *arr, const char *by, const char *from,
			const tf_json *text)
{
	tf_json *d = obj_build("by", tf_json_cstring(by), "from",
			       tf_json_cstring(from), "text",
			       tf_json_clone(text), (const char *)NULL);

	if (d == NULL)
		return TF_ENOMEM;
	return tf_json_array_push(arr, d);
}

static int apply_resolve(actx *a)
{
	const char *name = sget(a->c->args, "field");
	const tf_field *def = field_def(a, name, TF_CLASS_TEXT);
	const tf_json *text = get(a->c->args, "text");
	const tf_json *cid = get(a->c->args, "conflict");
	const tf_json *choice = get(a->c->args, "choice");
	tf_json *cs, *old, *conflict = NULL, *disc = NULL;
	const tf_json *ohead, *oprop;
	text_cur cur;
	int64_t head_rev, ohead_rev;
	size_t pos;
	int found, rc;

	if (def == NULL || !is_str(text) || !is_str(cid) || !is_str(choice) ||
	    tf_json_int64(get(a->c->args, "head_rev"), &head_rev))
		return TF_EINVAL;
	rc = text_current(a, name, &cur);
	if (rc)
		return rc;
	cs = cur.st ? get(cur.st, "conflicts") : NULL;
	if (cs && cs->type != TF_JSON_ARRAY)
		return TF_EINVAL;
	pos = cs ? conflict_pos(cs, cid->u.str, &found) : 0;
	if (cs == NULL || !found)
		return reject(a, TF_ENOTFOUND, name,
			      "%s has no open conflict %.40s (already "
			      "resolved?)",
			      name, cid->u.str);
	old = cs->u.items[pos];
	ohead = get(old, "head");
	oprop = get(old, "proposed");
	if (!is_str(ohead) || !is_str(oprop) ||
	    tf_json_int64(get(old, "head_rev"), &ohead_rev))
		return TF_EINVAL;

	if (head_rev != cur.rev && !same_text(text, cur.v)) {
		/*
		 * The text moved on since the resolver looked: keep every
		 * side by turning the resolution into a new conflict against
		 * the current text, in place of the old one.
		 */
		conflict_pos(cs, a->c->cmd_id, &found);
		if (found)
			return reject(a, TF_EEXIST, name,
				      "%s already has a conflict %s: a command "
				      "id is used once",
				      name, a->c->cmd_id);
		rc = conflict_build(a, def, ohead, ohead_rev, cur.v, cur.by,
				    cur.rev, text, &conflict);
		if (rc == 0)
			rc = conflict_insert(a, cur.st, conflict, old);
		if (rc)
			return rc;
		a->res->status = TF_ST_CONFLICT;
		return detail_set(a, "conflict", str_dup(a->c->cmd_id));
	}

	if (!same_text(cur.v, text) && text_rev_full(a, name, &cur))
		return 0;
	disc = tf_json_array();
	if (disc == NULL)
		return TF_ENOMEM;
	rc = 0;
	if (!same_text(cur.v, text))
		rc = discard_push(disc, cur.by, "head", cur.v);
	if (rc == 0 && !same_text(oprop, text))
		rc = discard_push(disc, sget(old, "by"), "proposed", oprop);
	if (rc == 0)
		rc = detail_set(a, "choice", tf_json_clone(choice));
	if (rc == 0)
		rc = detail_set(a, "conflict", tf_json_clone(cid));
	if (rc == 0) {
		rc = detail_set(a, "discarded", disc);
		disc = NULL;
	}
	if (rc == 0)
		rc = detail_set(a, "field", tf_json_cstring(def->name));
	if (rc == 0)
		rc = detail_set(a, "kept", tf_json_clone(text));
	/* The text changes (rev+1) only when the kept text differs. */
	if (rc == 0 && !same_text(cur.v, text))
		rc = text_write(a, cur.st, def->name, cur.rev, text);
	if (rc == 0)
		rc = cs->len == 1 ? tx_del_obj(&a->tx, cur.st, "conflicts")
				  : tx_del_arr(&a->tx, cs, old);
	tf_json_free(disc);
	if (rc == 0)
		a->res->status = TF_ST_APPLIED;
	return rc;
}

/* ---- ref */

static int apply_ref_set(actx *a)
{
	const tf_json *fields = get(a->c->args, "fields");
	tf_json *lost = NULL, *st, *ns;
	size_t i;
	tf_hlc t = 0;
	int rc = 0;

	if (fields == NULL || fields->type != TF_JSON_OBJECT)
		return TF_EINVAL;
	if (!a->ctx->allow_ref)
		return reject(a, TF_EPERM,
			      fields->len ? fields->u.members[0].key : NULL,
			      "ref fields are set only by the server or a "
			      "service account");
	for (i = 0; i < fields->len; i++) {
		const char *name = fields->u.members[i].key;
		const tf_json *arg = fields->u.members[i].value;
		if (field_def(a, name, TF_CLASS_REF) == NULL ||
		    get(arg, "v") == NULL || get(arg, "fetched_at") == NULL ||
		    get(arg, "ttl") == NULL)
			return TF_EINVAL;
	}
	rc = tx_reserve(&a->tx, fields->len);
	for (i = 0; i < fields->len && rc == 0; i++) {
		const char *name = fields->u.members[i].key;
		const tf_json *arg = fields->u.members[i].value;
		st = field_state(a, name);
		if (st && stamp_of(st, &t)) {
			rc = TF_EINVAL;
			break;
		}
		if (st && a->c->hlc <= t) {
			if (a->c->hlc == t)
				continue; /* the same write */
			if (lost == NULL && (lost = tf_json_array()) == NULL)
				rc = TF_ENOMEM;
			if (rc == 0)
				rc = arr_push(lost, tf_json_cstring(name));
			continue;
		}
		ns = obj_build(
			"fetched_at", tf_json_clone(get(arg, "fetched_at")),
			"t", str_dup(a->hlc), "ttl",
			tf_json_clone(get(arg, "ttl")), "v",
			tf_json_clone(get(arg, "v")), (const char *)NULL);
		rc = st ? tx_swap(&a->tx, a->f, name, ns)
			: tx_obj_add(&a->tx, a->f, name, ns);
	}
	if (rc == 0 && lost) {
		rc = detail_set(a, "lost", lost);
		lost = NULL;
	}
	tf_json_free(lost);
	if (rc == 0)
		a->res->status = TF_ST_APPLIED;
	return rc;
}

/* ---- create */

static int create_field(actx *a, const tf_field *def, const tf_json *val)
{
	lww_plan p;
	tf_json *s = NULL;
	size_t i, pos;
	int found, rc, rejected;

	switch (def->cls) {
	case TF_CLASS_LWW:
		memset(&p, 0, sizeof p);
		p.name = def->name;
		p.def = def;
		p.value = val;
		rc = lww_plan_field(a, &p, &rejected);
		if (rc || rejected)
			return rc;
		rc = lww_write(a, &p);
		if (rc == 0 && p.hist && !p.hist_dup)
			rc = log_insert(
				a, p.hist->name,
				log_entry(a, history_body(def, val), NULL));
		return rc;
	case TF_CLASS_TEXT:
		if (!is_str(val))
			return TF_EINVAL;
		return text_write(a, NULL, def->name, 0, val);
	case TF_CLASS_SET:
		if (val->type != TF_JSON_ARRAY)
			return TF_EINVAL;
		if (val->len == 0)
			return 0; /* an empty set has no state */
		s = tf_json_array();
		if (s == NULL)
			return TF_ENOMEM;
		rc = 0;
		for (i = 0; i < val->len && rc == 0; i++) {
			pos = set_pos(s, val->u.items[i], &found);
			if (!found)
				rc = arr_insert(
					s, pos,
					set_element(a, val->u.items[i]));
		}
		if (rc) {
			tf_json_free(s);
			return rc;
		}
		return tx_obj_add(&a->tx, a->f, def->name,
				  obj_build("s", s, (const char *)NULL));
	case TF_CLASS_LOG:
	case TF_CLASS_REF:
		return reject(a, TF_EVALIDATE, def->name,
			      "%s fields cannot be given in create",
			      tf_class_name(def->cls));
	}
	return TF_EINVAL;
}

/*
 * Create builds a new record off to the side and hands it over only when
 * every field went in, so there is nothing to undo on failure.
 */
static int apply_create(actx *a, tf_json **rec)
{
	const tf_json *fields = get(a->c->args, "fields");
	tf_json *r = NULL;
	size_t i;
	int rc;

	if (fields == NULL || fields->type != TF_JSON_OBJECT)
		return TF_EINVAL;
	if (*rec != NULL)
		return reject(a, TF_EEXIST, NULL, "record %s already exists",
			      a->c->record_id);
	rc = tf_record_new(a->c->entity, a->c->record_id, &r);
	if (rc)
		return rc;
	a->rec = r;
	a->f = get(r, "f");
	for (i = 0; i < fields->len && rc == 0 && a->res->status == 0; i++) {
		const tf_field *def =
			tf_entity_field(a->ent, fields->u.members[i].key);
		if (def == NULL) {
			rc = TF_EINVAL;
			break;
		}
		rc = create_field(a, def, fields->u.members[i].value);
	}
	/* Inserts into a record nobody else sees need no undo. */
	tx_commit(&a->tx);
	if (rc == 0 && a->res->status == 0) {
		tf_json_member *m = slot_of(r, "mhlc");
		memcpy(m->value->u.str, a->hlc, TF_HLC_TEXT_LEN);
		if (a->ctx->authority)
			rc = tx_swap(&a->tx, r, "ver", tf_json_int(1));
		tx_commit(&a->tx);
	}
	if (rc || a->res->status != 0) {
		tf_json_free(r);
		return rc;
	}
	a->res->status = TF_ST_APPLIED;
	*rec = r;
	return 0;
}

/*
 * The record-level stamp of an applied command: mhlc = max, ver + 1 on the
 * server.  Both are rewritten in place when the text keeps its length.
 * A ver that cannot go up (INT64_MAX) turns the outcome into a rejection,
 * which the caller's tx_abort undoes.
 */
static int stamp_record(actx *a)
{
	tf_json *mhlc = get(a->rec, "mhlc"), *ver = get(a->rec, "ver");
	int64_t v;
	tx_op *op;
	int rc = tx_reserve(&a->tx, 2), n;

	if (rc)
		return rc;
	if (!is_str(mhlc) || !hlc_text_valid(mhlc->u.str, mhlc->len) ||
	    ver == NULL || tf_json_int64(ver, &v) || v < 0)
		return TF_EINVAL;
	if (memcmp(a->hlc, mhlc->u.str, TF_HLC_TEXT_LEN) > 0) {
		op = tx_push(&a->tx, TX_WRITE, mhlc);
		op->src = a->hlc;
		op->len = TF_HLC_TEXT_LEN;
	}
	if (!a->ctx->authority)
		return 0;
	if (v == INT64_MAX)
		return reject(a, TF_ERANGE, NULL,
			      "record %s is at its last version",
			      a->c->record_id);
	n = snprintf(a->ver_text, sizeof a->ver_text, "%lld", (long long)v + 1);
	if ((size_t)n == ver->len) {
		op = tx_push(&a->tx, TX_WRITE, ver);
		op->src = a->ver_text;
		op->len = (size_t)n;
		return 0;
	}
	return tx_swap(&a->tx, a->rec, "ver", tf_json_int(v + 1));
}

int tf_record_apply(tf_json **rec, const tf_command *c, const tf_apply_ctx *ctx,
		    tf_apply_result *res)
{
	actx a;
	int rc;

	assert(rec != NULL && c != NULL && ctx != NULL && res != NULL);
	assert(ctx->schema != NULL);
	memset(res, 0, sizeof *res);
	/* The server's now_ms becomes "srv", which a state may not hold
	 * negative: refuse the host's error before it reaches a record. */
	if (ctx->authority && ctx->now_ms < 0) {
		res->err.code = TF_EINVAL;
		return TF_EINVAL;
	}
	a.ctx = ctx;
	a.c = c;
	a.res = res;
	a.rec = *rec;
	a.f = NULL;
	tx_init(&a.tx);
	tf_hlc_format(c->hlc, a.hlc);
	a.ent = tf_schema_entity(ctx->schema, c->entity);
	if (a.ent == NULL)
		return reject(&a, TF_EUNKNOWN, NULL, "unknown entity %s",
			      c->entity);
	if (c->args == NULL || c->args->type != TF_JSON_OBJECT)
		return TF_EINVAL;

	if (c->op == TF_OP_CREATE) {
		rc = apply_create(&a, rec);
		tx_release(&a.tx);
		goto out;
	}
	if (*rec == NULL)
		return reject(&a, TF_ENOTFOUND, NULL, "record %s not found",
			      c->record_id);
	if (strcmp(tf_record_entity(*rec) ? tf_record_entity(*rec) : "",
		   c->entity) != 0)
		return reject(&a, TF_EVALIDATE, NULL, "record %s is not a %s",
			      c->record_id, c->entity);
	if (strcmp(tf_record_id(*rec) ? tf_record_id(*rec) : "",
		   c->record_id) != 0)
		return TF_EINVAL;
	a.f = get(*rec, "f");
	if (a.f == NULL || a.f->type != TF_JSON_OBJECT)
		return TF_EINVAL;

	switch (c->op) {
	case TF_OP_SET:
		rc = apply_set(&a);
		break;
	case TF_OP_APPEND:
		rc = apply_append(&a);
		break;
	case TF_OP_SET_ADD:
		rc = apply_set_add(&a);
		break;
	case TF_OP_SET_REMOVE:
		rc = apply_set_remove(&a);
		break;
	case TF_OP_EDIT_TEXT:
		rc = apply_edit_text(&a);
		break;
	case TF_OP_RESOLVE:
		rc = apply_resolve(&a);
		break;
	case TF_OP_REF_SET:
		rc = apply_ref_set(&a);
		break;
	case TF_OP_CREATE:
	default:
		rc = TF_EINVAL;
		break;
	}
	if (rc == 0 &&
	    (res->status == TF_ST_APPLIED || res->status == TF_ST_CONFLICT))
		rc = stamp_record(&a);
	if (rc == 0 && res->status != TF_ST_REJECTED)
		tx_commit(&a.tx);
	else
		tx_abort(&a.tx);
out:
	if (rc) {
		tf_json_free(res->detail);
		memset(res, 0, sizeof *res);
		res->err.code = rc;
	} else if (res->status == TF_ST_REJECTED) {
		tf_json_free(res->detail);
		res->detail = NULL;
	}
	return rc;
}

/* ------------------------------------------------------------- check */

/*
 * tf_record_check: a state from the network or disk is untrusted.  Every
 * member of every field state is checked for presence, type and format,
 * every value against the schema, every order the merge relies on (log by
 * (t, id), set elements by canonical bytes, tags, conflicts by id) is
 * verified, and every count is bounded, so that apply can binary-search
 * and trust what it finds.
 */
typedef struct cctx {
	const tf_entity *ent;
	const char *id;
	tf_hlc mhlc;
	char where[96];
	tf_err *err;
} cctx;

static void bad_set(cctx *k, int code, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

/* Sets the error and evaluates to code (visibly non-zero to analysis). */
#define bad(k, code, ...) (bad_set((k), (code), __VA_ARGS__), (code))

static void bad_set(cctx *k, int code, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	assert(code < 0);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	tf_err_set(k->err, code, k->where, "record %s: %s: %s",
		   k->id ? k->id : "?", k->where, msg);
}

/* Refuses members of o not in `allowed` (sorted list of names). */
static int only_members(cctx *k, const tf_json *o, const char *const *allowed,
			size_t n, const char *what)
{
	size_t i, j;

	for (i = 0; i < o->len; i++) {
		for (j = 0; j < n; j++)
			if (strcmp(o->u.members[i].key, allowed[j]) == 0)
				break;
		if (j == n)
			return bad(k, TF_EUNKNOWN,
				   "unknown member \"%.40s\" in %s",
				   o->u.members[i].key, what);
	}
	return 0;
}

static int need(cctx *k, const tf_json *o, const char *key, tf_json_type type,
		const char *what, const tf_json **out)
{
	const tf_json *v = get(o, key);

	if (v == NULL)
		return bad(k, TF_EMISSING, "%s has no \"%s\"", what, key);
	if (v->type != type)
		return bad(k, TF_ETYPE, "\"%s\" of %s has the wrong type", key,
			   what);
	*out = v;
	return 0;
}

static int need_id(cctx *k, const tf_json *o, const char *key, const char *what)
{
	const tf_json *v = NULL;
	int rc = need(k, o, key, TF_JSON_STRING, what, &v);

	if (rc == 0 && !tf_id_valid(v->u.str, v->len))
		return bad(k, TF_EVALIDATE, "\"%s\" of %s is not a valid id",
			   key, what);
	return rc;
}

static int need_uuid(cctx *k, const tf_json *o, const char *key,
		     const char *what)
{
	const tf_json *v = NULL;
	int rc = need(k, o, key, TF_JSON_STRING, what, &v);

	if (rc == 0 && !tf_uuid_valid(v->u.str, v->len))
		return bad(k, TF_EVALIDATE, "\"%s\" of %s is not a UUID", key,
			   what);
	return rc;
}

static int need_count(cctx *k, const tf_json *o, const char *key, int64_t min,
		      const char *what, int64_t *out)
{
	const tf_json *v = NULL;
	int64_t n;
	int rc = need(k, o, key, TF_JSON_NUMBER, what, &v);

	if (rc)
		return rc;
	if (tf_json_int64(v, &n) || n < min)
		return bad(k, TF_ERANGE,
			   "\"%s\" of %s must be an integer >= %lld", key, what,
			   (long long)min);
	if (out)
		*out = n;
	return 0;
}

/* "t": an HLC in wire form, not past the record's mhlc. */
static int need_stamp(cctx *k, const tf_json *o, const char *what)
{
	const tf_json *v = NULL;
	tf_hlc h;
	int rc = need(k, o, "t", TF_JSON_STRING, what, &v);

	if (rc)
		return rc;
	if (!hlc_text_valid(v->u.str, v->len) ||
	    tf_hlc_parse(v->u.str, v->len, &h))
		return bad(k, TF_EVALIDATE,
			   "\"t\" of %s is not 16 lower-case hex digits", what);
	if (h > k->mhlc)
		return bad(k, TF_EVALIDATE,
			   "\"t\" of %s is later than the record's mhlc", what);
	return 0;
}

static int need_value(cctx *k, const tf_type_spec *spec, const tf_json *o,
		      const char *what)
{
	tf_err inner;
	const tf_json *v = get(o, "v");
	int rc;

	if (v == NULL)
		return bad(k, TF_EMISSING, "%s has no \"v\"", what);
	tf_err_clear(&inner);
	rc = tf_schema_check_value(spec, v, k->where, &inner);
	if (rc)
		return bad(k, rc, "%s", inner.msg);
	return 0;
}

static int need_text(cctx *k, const tf_field *f, const tf_json *o,
		     const char *key, int optional, const char *what)
{
	const tf_json *v = NULL;
	int rc;

	if (optional && get(o, key) == NULL)
		return 0;
	rc = need(k, o, key, TF_JSON_STRING, what, &v);
	if (rc == 0 && f->max_bytes && v->len > f->max_bytes)
		return bad(k, TF_ELIMIT,
			   "\"%s\" of %s is longer than %zu bytes", key, what,
			   f->max_bytes);
	return rc;
}

static int check_lww(cctx *k, const tf_field *f, const tf_json *st)
{
	static const char *const m[] = {"by", "n", "t", "v"};
	int rc = only_members(k, st, m, 4, "the lww state");

	if (rc == 0)
		rc = need_id(k, st, "by", "the lww state");
	if (rc == 0)
		rc = need_id(k, st, "n", "the lww state");
	if (rc == 0)
		rc = need_stamp(k, st, "the lww state");
	if (rc == 0)
		rc = need_value(k, &f->type, st, "the lww state");
	return rc;
}

static int check_ref(cctx *k, const tf_field *f, const tf_json *st)
{
	static const char *const m[] = {"fetched_at", "t", "ttl", "v"};
	int rc = only_members(k, st, m, 4, "the ref state");

	if (rc == 0)
		rc = need_count(k, st, "fetched_at", 0, "the ref state", NULL);
	if (rc == 0)
		rc = need_count(k, st, "ttl", 0, "the ref state", NULL);
	if (rc == 0)
		rc = need_stamp(k, st, "the ref state");
	if (rc == 0)
		rc = need_value(k, &f->type, st, "the ref state");
	return rc;
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int check_log(cctx *k, const tf_field *f, const tf_json *st)
{
	static const char *const m[] = {"e"};
	static const char *const em[] = {"by",	"corrects", "id", "n",
					 "srv", "t",	    "v"};
	const tf_json *e, *prev = NULL, *en, *corr;
	const char **ids = NULL;
	char what[48];
	size_t i;
	int rc = only_members(k, st, m, 1, "the log state");

	if (rc == 0)
		rc = need(k, st, "e", TF_JSON_ARRAY, "the log state", &e);
	if (rc)
		return rc;
	if (e->len == 0)
		return bad(k, TF_EVALIDATE, "an empty log has no state");
	if (f->max_entries && e->len > f->max_entries)
		return bad(k, TF_ELIMIT, "%zu entries, at most %zu allowed",
			   e->len, f->max_entries);
	for (i = 0; i < e->len; i++) {
		en = e->u.items[i];
		snprintf(what, sizeof what, "entry %zu", i);
		if (en->type != TF_JSON_OBJECT)
			return bad(k, TF_ETYPE, "%s is not an object", what);
		rc = only_members(k, en, em, 7, what);
		if (rc == 0)
			rc = need_id(k, en, "by", what);
		if (rc == 0)
			rc = need_uuid(k, en, "id", what);
		if (rc == 0)
			rc = need_id(k, en, "n", what);
		if (rc == 0)
			rc = need_stamp(k, en, what);
		if (rc == 0 && get(en, "srv"))
			rc = need_count(k, en, "srv", 0, what, NULL);
		if (rc == 0 && get(en, "corrects"))
			rc = need_uuid(k, en, "corrects", what);
		if (rc == 0)
			rc = need_value(k, &f->type, en, what);
		if (rc)
			return rc;
		if (prev) {
			int r = strcmp(sget(prev, "t"), sget(en, "t"));
			if (r == 0)
				r = strcmp(sget(prev, "id"), sget(en, "id"));
			if (r >= 0)
				return bad(k, TF_EVALIDATE,
					   "%s is out of (t, id) order", what);
		}
		prev = en;
	}
	/* Ids are unique and every correction names an entry. */
	ids = malloc(e->len * sizeof *ids);
	if (ids == NULL)
		return bad(k, TF_ENOMEM, "out of memory checking entry ids");
	for (i = 0; i < e->len; i++)
		ids[i] = sget(e->u.items[i], "id");
	qsort(ids, e->len, sizeof *ids, cmp_cstr);
	for (i = 1; i < e->len && rc == 0; i++)
		if (strcmp(ids[i - 1], ids[i]) == 0)
			rc = bad(k, TF_EVALIDATE, "entry id %s appears twice",
				 ids[i]);
	for (i = 0; i < e->len && rc == 0; i++) {
		const char *key;
		corr = get(e->u.items[i], "corrects");
		if (corr == NULL)
			continue;
		key = corr->u.str;
		if (bsearch(&key, ids, e->len, sizeof *ids, cmp_cstr) == NULL)
			rc = bad(k, TF_EVALIDATE,
				 "entry %zu corrects %s, which is not in the "
				 "log",
				 i, key);
	}
	free(ids);
	return rc;
}

static int check_set(cctx *k, const tf_field *f, const tf_json *st)
{
	static const char *const m[] = {"s"};
	static const char *const elm[] = {"tags", "v"};
	const tf_json *s, *el, *tags, *prev = NULL;
	char what[48];
	size_t i, j;
	int rc = only_members(k, st, m, 1, "the set state");

	if (rc == 0)
		rc = need(k, st, "s", TF_JSON_ARRAY, "the set state", &s);
	if (rc)
		return rc;
	if (s->len == 0)
		return bad(k, TF_EVALIDATE, "an empty set has no state");
	if (f->max_entries && s->len > f->max_entries)
		return bad(k, TF_ELIMIT, "%zu elements, at most %zu allowed",
			   s->len, f->max_entries);
	for (i = 0; i < s->len; i++) {
		el = s->u.items[i];
		snprintf(what, sizeof what, "element %zu", i);
		if (el->type != TF_JSON_OBJECT)
			return bad(k, TF_ETYPE, "%s is not an object", what);
		rc = only_members(k, el, elm, 2, what);
		if (rc == 0)
			rc = need(k, el, "tags", TF_JSON_ARRAY, what, &tags);
		if (rc == 0)
			rc = need_value(k, &f->type, el, what);
		if (rc)
			return rc;
		if (tags->len == 0 || tags->len > TF_SET_MAX_TAGS)
			return bad(k, TF_ELIMIT, "%s must have 1 to %d tags",
				   what, TF_SET_MAX_TAGS);
		for (j = 0; j < tags->len; j++) {
			const tf_json *t = tags->u.items[j];
			if (!is_str(t) || !tf_uuid_valid(t->u.str, t->len))
				return bad(k, TF_EVALIDATE,
					   "tag %zu of %s is not a UUID", j,
					   what);
			if (j > 0 &&
			    strcmp(tags->u.items[j - 1]->u.str, t->u.str) >= 0)
				return bad(k, TF_EVALIDATE,
					   "tags of %s are not sorted and "
					   "unique",
					   what);
		}
		if (prev && tf_json_compare(get(prev, "v"), get(el, "v")) >= 0)
			return bad(k, TF_EVALIDATE,
				   "%s is out of order or a duplicate", what);
		prev = el;
	}
	return 0;
}

static int check_conflict(cctx *k, const tf_field *f, const tf_json *c,
			  int64_t rev, const char *what)
{
	static const char *const m[] = {"base",	   "base_rev", "by", "head",
					"head_by", "head_rev", "id", "merged",
					"n",	   "proposed", "t"};
	int64_t head_rev;
	int rc;

	if (c->type != TF_JSON_OBJECT)
		return bad(k, TF_ETYPE, "%s is not an object", what);
	rc = only_members(k, c, m, 11, what);
	if (rc == 0)
		rc = need_text(k, f, c, "base", 0, what);
	if (rc == 0)
		rc = need_count(k, c, "base_rev", 0, what, NULL);
	if (rc == 0)
		rc = need_id(k, c, "by", what);
	if (rc == 0)
		rc = need_text(k, f, c, "head", 0, what);
	if (rc == 0)
		rc = need_id(k, c, "head_by", what);
	if (rc == 0)
		rc = need_count(k, c, "head_rev", 1, what, &head_rev);
	if (rc == 0)
		rc = need_uuid(k, c, "id", what);
	if (rc == 0)
		rc = need_text(k, f, c, "merged", 1, what);
	if (rc == 0)
		rc = need_id(k, c, "n", what);
	if (rc == 0)
		rc = need_text(k, f, c, "proposed", 0, what);
	if (rc == 0)
		rc = need_stamp(k, c, what);
	if (rc == 0 && head_rev > rev)
		return bad(k, TF_EVALIDATE, "head_rev of %s is past rev", what);
	return rc;
}

static int check_text(cctx *k, const tf_field *f, const tf_json *st)
{
	static const char *const m[] = {"by",  "conflicts", "n",
					"rev", "t",	    "v"};
	const tf_json *cs;
	char what[48];
	int64_t rev = 0;
	size_t i;
	int rc = only_members(k, st, m, 6, "the text state");

	if (rc == 0)
		rc = need_id(k, st, "by", "the text state");
	if (rc == 0)
		rc = need_id(k, st, "n", "the text state");
	if (rc == 0)
		rc = need_count(k, st, "rev", 1, "the text state", &rev);
	if (rc == 0)
		rc = need_stamp(k, st, "the text state");
	if (rc == 0)
		rc = need_text(k, f, st, "v", 0, "the text state");
	if (rc || get(st, "conflicts") == NULL)
		return rc;
	rc = need(k, st, "conflicts", TF_JSON_ARRAY, "the text state", &cs);
	if (rc)
		return rc;
	if (cs->len == 0 || cs->len > TF_TEXT_MAX_CONFLICTS)
		return bad(k, TF_ELIMIT, "1 to %d conflicts allowed",
			   TF_TEXT_MAX_CONFLICTS);
	for (i = 0; i < cs->len; i++) {
		snprintf(what, sizeof what, "conflict %zu", i);
		rc = check_conflict(k, f, cs->u.items[i], rev, what);
		if (rc)
			return rc;
		if (i > 0 && strcmp(sget(cs->u.items[i - 1], "id"),
				    sget(cs->u.items[i], "id")) >= 0)
			return bad(k, TF_EVALIDATE,
				   "%s is out of id order or a duplicate",
				   what);
	}
	return 0;
}

int tf_record_check(const tf_schema *s, const tf_json *rec, tf_err *err)
{
	static const char *const m[] = {"entity", "f", "id", "mhlc", "ver"};
	const tf_json *v, *f;
	cctx k;
	size_t i;
	int rc;

	assert(s != NULL);
	memset(&k, 0, sizeof k);
	k.err = err;
	snprintf(k.where, sizeof k.where, "record");
	if (rec == NULL || rec->type != TF_JSON_OBJECT)
		return bad(&k, TF_ETYPE, "a record state must be an object");
	v = get(rec, "id");
	if (is_str(v) && tf_uuid_valid(v->u.str, v->len))
		k.id = v->u.str;
	snprintf(k.where, sizeof k.where, "id");
	rc = need_uuid(&k, rec, "id", "the record");
	if (rc)
		return rc;
	snprintf(k.where, sizeof k.where, "record");
	rc = only_members(&k, rec, m, 5, "the record");
	if (rc)
		return rc;
	snprintf(k.where, sizeof k.where, "entity");
	rc = need(&k, rec, "entity", TF_JSON_STRING, "the record", &v);
	if (rc)
		return rc;
	k.ent = tf_schema_entity(s, v->u.str);
	if (k.ent == NULL)
		return bad(&k, TF_EUNKNOWN, "unknown entity \"%.40s\"",
			   v->u.str);
	snprintf(k.where, sizeof k.where, "ver");
	rc = need_count(&k, rec, "ver", 0, "the record", NULL);
	if (rc)
		return rc;
	snprintf(k.where, sizeof k.where, "mhlc");
	rc = need(&k, rec, "mhlc", TF_JSON_STRING, "the record", &v);
	if (rc)
		return rc;
	if (!hlc_text_valid(v->u.str, v->len) ||
	    tf_hlc_parse(v->u.str, v->len, &k.mhlc))
		return bad(&k, TF_EVALIDATE,
			   "mhlc is not 16 lower-case hex digits");
	snprintf(k.where, sizeof k.where, "f");
	rc = need(&k, rec, "f", TF_JSON_OBJECT, "the record", &f);
	if (rc)
		return rc;
	for (i = 0; i < f->len; i++) {
		const char *name = f->u.members[i].key;
		const tf_json *st = f->u.members[i].value;
		const tf_field *fd = tf_entity_field(k.ent, name);
		snprintf(k.where, sizeof k.where, "%s.%.40s", k.ent->name,
			 name);
		if (fd == NULL)
			return bad(&k, TF_EUNKNOWN, "%s has no such field",
				   k.ent->name);
		if (st->type != TF_JSON_OBJECT)
			return bad(&k, TF_ETYPE,
				   "a field state must be an object");
		switch (fd->cls) {
		case TF_CLASS_LWW:
			rc = check_lww(&k, fd, st);
			break;
		case TF_CLASS_LOG:
			rc = check_log(&k, fd, st);
			break;
		case TF_CLASS_SET:
			rc = check_set(&k, fd, st);
			break;
		case TF_CLASS_TEXT:
			rc = check_text(&k, fd, st);
			break;
		case TF_CLASS_REF:
			rc = check_ref(&k, fd, st);
			break;
		default:
			rc = bad(&k, TF_ESCHEMA, "field has no merge class");
		}
		if (rc)
			return rc;
	}
	return 0;
}

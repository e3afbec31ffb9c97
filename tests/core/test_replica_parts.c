/*
 * test_replica_parts.c - incremental persistence of the replica
 * (tf_replica_checkpoint / _done / _dirty, tf_replica_load_parts,
 * tf_replica_evict, tf_replica_pull_remaining) and the pull page's
 * optional "remaining".
 *
 * A store is simulated by an in-memory map (record id -> state bytes,
 * seq -> pending item bytes, the head), written in transactions: a
 * checkpoint goes into a copy that replaces the map only when the
 * checkpoint succeeded, then checkpoint_done.  After every step of a sync
 * session against the reference server (mutate, push reply, pull page,
 * rejection, clock_skew re-stamp, supersede notice, purge, reset,
 * eviction) the map must load (load_parts) into a replica whose saved
 * bytes are the live replica's, and must equal what a full checkpoint
 * writes.
 */
#include "tenfour/api.h"
#include "tenfour/replica.h"

#include "sim_server.h"
#include "tf_test.h"

#define T0 1764000000000LL
#define SEC 1000LL
#define MIN (60 * SEC)

static tf_schema *schema;
static uint64_t rnd_state = 0x5eed;

/* ------------------------------------------------------------ the map */

typedef struct kv {
	char *key;
	char *val;
	size_t len;
} kv;

typedef struct kvmap {
	kv *v;
	size_t n, cap;
} kvmap;

/* What a store holds: rows of records and of pending items, the head. */
typedef struct store {
	kvmap rec, pend;
	char *head;
	size_t hlen;
} store;

static char *dup_bytes(const char *p, size_t len)
{
	char *s = malloc(len + 1);

	if (s == NULL) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

static size_t kv_find(const kvmap *m, const char *key)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (strcmp(m->v[i].key, key) == 0)
			return i;
	return m->n;
}

static void kv_put(kvmap *m, const char *key, const char *val, size_t len)
{
	size_t i = kv_find(m, key);

	if (i == m->n) {
		if (m->n == m->cap) {
			m->cap = m->cap ? 2 * m->cap : 16;
			m->v = realloc(m->v, m->cap * sizeof *m->v);
			if (m->v == NULL) {
				fprintf(stderr, "out of memory\n");
				exit(1);
			}
		}
		m->v[m->n].key = dup_bytes(key, strlen(key));
		m->v[m->n].val = NULL;
		m->n++;
	}
	free(m->v[i].val);
	m->v[i].val = dup_bytes(val, len);
	m->v[i].len = len;
}

/* Returns 1 when key was there. */
static int kv_del(kvmap *m, const char *key)
{
	size_t i = kv_find(m, key);

	if (i == m->n)
		return 0;
	free(m->v[i].key);
	free(m->v[i].val);
	m->v[i] = m->v[--m->n];
	return 1;
}

static void kv_free(kvmap *m)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		free(m->v[i].key);
		free(m->v[i].val);
	}
	free(m->v);
	memset(m, 0, sizeof *m);
}

static void kv_copy(kvmap *dst, const kvmap *src)
{
	size_t i;

	memset(dst, 0, sizeof *dst);
	for (i = 0; i < src->n; i++)
		kv_put(dst, src->v[i].key, src->v[i].val, src->v[i].len);
}

static int kv_equal(const kvmap *a, const kvmap *b)
{
	size_t i, j;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++) {
		j = kv_find(b, a->v[i].key);
		if (j == b->n || a->v[i].len != b->v[j].len ||
		    memcmp(a->v[i].val, b->v[j].val, a->v[i].len) != 0)
			return 0;
	}
	return 1;
}

static void store_free(store *s)
{
	kv_free(&s->rec);
	kv_free(&s->pend);
	free(s->head);
	memset(s, 0, sizeof *s);
}

static void store_copy(store *dst, const store *src)
{
	kv_copy(&dst->rec, &src->rec);
	kv_copy(&dst->pend, &src->pend);
	dst->head = src->head ? dup_bytes(src->head, src->hlen) : NULL;
	dst->hlen = src->hlen;
}

static int store_equal(const store *a, const store *b)
{
	return kv_equal(&a->rec, &b->rec) && kv_equal(&a->pend, &b->pend) &&
	       a->hlen == b->hlen && a->head && b->head &&
	       memcmp(a->head, b->head, a->hlen) == 0;
}

/* Pending rows are keyed by the seq in 20 digits (sorts as numbers). */
static void seq_key(uint64_t seq, char key[24])
{
	snprintf(key, 24, "%020llu", (unsigned long long)seq);
}

/* ------------------------------------------------------------ the sink */

typedef struct sinkctx {
	store *s;
	long fail_after; /* the n-th call fails (0: never) */
	long calls;
	size_t puts_rec, dels_rec, puts_pend, dels_pend, heads;
	char last_id[TF_UUID_LEN + 1];
	uint64_t last_seq;
	int order_ok, head_last;
} sinkctx;

#define SINK_FAILED (-1000)

static int sink_step(sinkctx *c)
{
	c->calls++;
	if (c->fail_after && c->calls >= c->fail_after)
		return SINK_FAILED;
	if (c->heads)
		c->head_last = 0; /* something after the head */
	return 0;
}

static int s_put_record(void *ctx, const char *id, const char *json, size_t len)
{
	sinkctx *c = ctx;
	tf_json *v = NULL;

	if (sink_step(c))
		return SINK_FAILED;
	if (strcmp(id, c->last_id) <= 0 || c->last_seq || c->heads)
		c->order_ok = 0;
	snprintf(c->last_id, sizeof c->last_id, "%s", id);
	/* A record state, canonical, naming its id. */
	if (tf_json_parse(json, len, NULL, &v, NULL) != 0 ||
	    strcmp(tf_record_id(v), id) != 0)
		c->order_ok = 0;
	tf_json_free(v);
	kv_put(&c->s->rec, id, json, len);
	c->puts_rec++;
	return 0;
}

static int s_del_record(void *ctx, const char *id)
{
	sinkctx *c = ctx;

	if (sink_step(c))
		return SINK_FAILED;
	if (strcmp(id, c->last_id) <= 0 || c->last_seq || c->heads)
		c->order_ok = 0;
	snprintf(c->last_id, sizeof c->last_id, "%s", id);
	kv_del(&c->s->rec, id);
	c->dels_rec++;
	return 0;
}

static int s_put_pending(void *ctx, uint64_t seq, const char *json, size_t len)
{
	sinkctx *c = ctx;
	char key[24];

	if (sink_step(c))
		return SINK_FAILED;
	if (seq <= c->last_seq || c->heads)
		c->order_ok = 0;
	c->last_seq = seq;
	seq_key(seq, key);
	kv_put(&c->s->pend, key, json, len);
	c->puts_pend++;
	return 0;
}

static int s_del_pending(void *ctx, uint64_t seq)
{
	sinkctx *c = ctx;
	char key[24];

	if (sink_step(c))
		return SINK_FAILED;
	if (seq <= c->last_seq || c->heads)
		c->order_ok = 0;
	c->last_seq = seq;
	seq_key(seq, key);
	kv_del(&c->s->pend, key);
	c->dels_pend++;
	return 0;
}

static int s_put_head(void *ctx, const char *json, size_t len)
{
	sinkctx *c = ctx;

	if (sink_step(c))
		return SINK_FAILED;
	if (c->heads)
		c->order_ok = 0;
	free(c->s->head);
	c->s->head = dup_bytes(json, len);
	c->s->hlen = len;
	c->heads++;
	c->head_last = 1;
	/* The head carries neither bases nor pending commands. */
	if (strstr(c->s->head, "\"base\":[],") == NULL ||
	    strstr(c->s->head, "\"pending\":[],") == NULL)
		c->order_ok = 0;
	return 0;
}

static const tf_replica_sink sink = {s_put_record, s_del_record, s_put_pending,
				     s_del_pending, s_put_head};

static void sink_init(sinkctx *c, store *s, long fail_after)
{
	memset(c, 0, sizeof *c);
	c->s = s;
	c->fail_after = fail_after;
	c->order_ok = 1;
}

enum { DISCARD, COMMIT, DONE };

/*
 * One transaction: the checkpoint writes into a copy of *st (an empty
 * store when full), which replaces *st when it succeeded and `how` is
 * COMMIT or DONE (DISCARD: the host's commit failed); DONE then calls
 * checkpoint_done.  Returns the checkpoint's result; *out (may be NULL)
 * gets the counts.
 */
static int ckpt(tf_replica *r, store *st, int full, long fail_after, int how,
		sinkctx *out)
{
	store tx;
	sinkctx c;
	int rc;

	memset(&tx, 0, sizeof tx);
	if (!full)
		store_copy(&tx, st);
	sink_init(&c, &tx, fail_after);
	rc = tf_replica_checkpoint(r, full, &sink, &c);
	if (rc == 0 && how != DISCARD) {
		store_free(st);
		*st = tx;
		if (how == DONE)
			tf_replica_checkpoint_done(r);
	} else {
		store_free(&tx);
	}
	if (out)
		*out = c;
	return rc;
}

/* The map's rows as parts for load_parts (borrowed). */
static int load_store(const store *st, tf_replica **out, tf_err *err)
{
	tf_slice *recs = calloc(st->rec.n + 1, sizeof *recs);
	tf_slice *pend = calloc(st->pend.n + 1, sizeof *pend);
	size_t i;
	int rc;

	if (recs == NULL || pend == NULL) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	/* Rows come in any order: the pending ones backwards. */
	for (i = 0; i < st->rec.n; i++) {
		recs[i].p = st->rec.v[i].val;
		recs[i].len = st->rec.v[i].len;
	}
	for (i = 0; i < st->pend.n; i++) {
		pend[i].p = st->pend.v[st->pend.n - 1 - i].val;
		pend[i].len = st->pend.v[st->pend.n - 1 - i].len;
	}
	rc = tf_replica_load_parts(schema, st->head, st->hlen, recs, st->rec.n,
				   pend, st->pend.n, out, err);
	free(recs);
	free(pend);
	return rc;
}

static char *save_str(tf_replica *r)
{
	tf_buf b;

	tf_buf_init(&b);
	if (tf_replica_save(r, &b) != 0) {
		tf_buf_free(&b);
		return NULL;
	}
	return tf_buf_take(&b, NULL);
}

/*
 * The check after every step: an incremental checkpoint into *st (in
 * order, head last, nothing dirty after), then the map loads into a
 * replica saving the live replica's bytes, with nothing to checkpoint,
 * and a full checkpoint of either writes the same map.
 */
static void step_at(tf_replica *r, store *st, int line)
{
	tf_replica *back = NULL;
	store full;
	sinkctx c;
	char *live, *got;
	tf_err err;
	int rc;

	rc = ckpt(r, st, 0, 0, DONE, &c);
	if (rc != 0 || !c.order_ok || (c.heads && !c.head_last)) {
		tf_test_fail(__FILE__, line, "checkpoint rc %d order %d", rc,
			     c.order_ok);
		return;
	}
	if (tf_replica_dirty(r))
		tf_test_fail(__FILE__, line, "dirty after checkpoint_done");
	rc = load_store(st, &back, &err);
	if (rc != 0) {
		tf_test_fail(__FILE__, line, "load_parts: %d %s (%s)", rc,
			     err.msg, err.where);
		return;
	}
	live = save_str(r);
	got = save_str(back);
	if (live == NULL || got == NULL || strcmp(live, got) != 0)
		tf_test_fail(__FILE__, line, "saved bytes differ:\n%s\n%s",
			     live ? live : "(null)", got ? got : "(null)");
	if (tf_replica_dirty(back))
		tf_test_fail(__FILE__, line, "loaded replica dirty");
	memset(&full, 0, sizeof full);
	if (ckpt(r, &full, 1, 0, COMMIT, NULL) != 0 || !store_equal(&full, st))
		tf_test_fail(__FILE__, line, "full checkpoint differs");
	store_free(&full);
	memset(&full, 0, sizeof full);
	if (ckpt(back, &full, 1, 0, COMMIT, NULL) != 0 ||
	    !store_equal(&full, st))
		tf_test_fail(__FILE__, line, "full checkpoint of load differs");
	store_free(&full);
	free(live);
	free(got);
	tf_replica_free(back);
}

#define STEP(r, st) step_at(r, st, __LINE__)

/* ------------------------------------------------------------ driving */

static tf_schema *load_schema(void)
{
	size_t len;
	char *text = tf_test_read_file(TF_TEST_SCHEMA_PATH, &len);
	tf_schema *s = NULL;
	tf_err err;

	if (text == NULL || tf_schema_load(text, len, &s, &err) != 0) {
		fprintf(stderr, "cannot load %s\n", TF_TEST_SCHEMA_PATH);
		exit(1);
	}
	free(text);
	return s;
}

static tf_replica *mk(const char *device, const char *user)
{
	tf_replica *r = NULL;

	if (tf_replica_new(schema, device, user, 0, &r) != 0) {
		fprintf(stderr, "tf_replica_new failed\n");
		exit(1);
	}
	return r;
}

static tf_sim *mk_server(void)
{
	tf_sim *sv = NULL;

	if (tf_sim_new(schema, &sv) != 0 ||
	    tf_sim_add_device(sv, "console-dana", 0) ||
	    tf_sim_add_device(sv, "mdt-2a12", 0) ||
	    tf_sim_add_device(sv, "console-sup", 0)) {
		fprintf(stderr, "sim server setup failed\n");
		exit(1);
	}
	return sv;
}

static int mutv(tf_replica *r, int64_t now, const char *entity, const char *id,
		char *id_out, tf_op op, char *cmd_out, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	__attribute__((format(printf, 8, 9)))
#endif
	;

static int mutv(tf_replica *r, int64_t now, const char *entity, const char *id,
		char *id_out, tf_op op, char *cmd_out, const char *fmt, ...)
{
	char text[2048], rid[TF_UUID_LEN + 1];
	uint8_t rnd[20];
	tf_json *args = NULL;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (tf_json_parse(text, strlen(text), NULL, &args, NULL) != 0) {
		fprintf(stderr, "bad args fixture: %s\n", text);
		exit(1);
	}
	tf_test_rand_bytes(&rnd_state, rnd, sizeof rnd);
	rc = tf_replica_mutate(r, now, rnd, 1, entity, id, op, args, cmd_out,
			       rid, NULL);
	if (rc == 0 && id_out)
		memcpy(id_out, rid, TF_UUID_LEN + 1);
	tf_json_free(args);
	return rc;
}

#define CREATE(r, now, entity, id_out, ...)                                    \
	mutv(r, now, entity, NULL, id_out, TF_OP_CREATE, NULL, __VA_ARGS__)
#define MUT(r, now, entity, id, op, cmd_out, ...)                              \
	mutv(r, now, entity, id, NULL, op, cmd_out, __VA_ARGS__)

/* One push and its reply applied at the device's time; the reply's
 * bytes (caller frees) or NULL. */
static char *push_at(tf_sim *sv, tf_replica *r, int64_t server_ms,
		     int64_t device_ms, int apply)
{
	tf_buf req, rep;
	tf_err err;
	int rc;

	tf_buf_init(&req);
	tf_buf_init(&rep);
	rc = tf_replica_push_request(r, 1000, &req);
	if (rc == 0)
		rc = tf_sim_push(sv, server_ms, req.data, req.len, &rep, &err);
	if (rc == 0 && apply)
		rc = tf_replica_apply_push_reply(r, device_ms, rep.data,
						 rep.len, &err);
	tf_buf_free(&req);
	if (rc) {
		tf_buf_free(&rep);
		return NULL;
	}
	return tf_buf_take(&rep, NULL);
}

/* One pull page of `limit` applied; 1 when more pages follow, -1 on error. */
static int pull_page(tf_sim *sv, tf_replica *r, const char *device, int64_t now,
		     size_t limit)
{
	tf_buf rep;
	tf_err err;
	int more;

	tf_buf_init(&rep);
	if (tf_sim_pull(sv, now, device, tf_replica_cursor(r), limit, &rep,
			&err) != 0 ||
	    tf_replica_apply_pull(r, now, rep.data, rep.len, &err) != 0) {
		tf_buf_free(&rep);
		return -1;
	}
	more = strstr(tf_buf_cstr(&rep), "\"has_more\":true") != NULL;
	tf_buf_free(&rep);
	return more;
}

/* Pulls page by page until the last, checking the map after each. */
static void pull_steps_at(tf_sim *sv, tf_replica *r, const char *device,
			  int64_t now, size_t limit, store *st, int line)
{
	int more = 1, guard;

	for (guard = 0; more == 1 && guard < 1000; guard++) {
		more = pull_page(sv, r, device, now, limit);
		if (more < 0) {
			tf_test_fail(__FILE__, line, "pull failed");
			return;
		}
		step_at(r, st, line);
	}
}

#define PULL_STEPS(sv, r, dev, now, limit, st)                                 \
	pull_steps_at(sv, r, dev, now, limit, st, __LINE__)

static void sync_at(tf_sim *sv, tf_replica *r, const char *device, int64_t now,
		    int line)
{
	tf_err err;

	if (tf_sim_sync(sv, r, device, now, now, 0, &err) != 0)
		tf_test_fail(__FILE__, line, "sync: %s", err.msg);
}

#define SYNC(sv, r, dev, now) sync_at(sv, r, dev, now, __LINE__)

/* Scope: the record hidden_id is out of mdt-2a12's scope. */
static char hidden_id[TF_UUID_LEN + 1];

static int hide_one(void *ctx, const char *device, const tf_json *rec)
{
	(void)ctx;
	return strcmp(device, "mdt-2a12") != 0 ||
	       strcmp(tf_record_id(rec), hidden_id) != 0;
}

/* ------------------------------------------------------------ tests */

/*
 * The officer's replica through a shift, its map checked after every
 * step; Dana's console (no map) makes the server-side changes.
 */
TEST(every_step_round_trips)
{
	tf_sim *sv = mk_server();
	tf_replica *a = mk("mdt-2a12", "alvarez");
	tf_replica *d = mk("console-dana", "dana");
	const int64_t fast = 90 * SEC;
	char x[TF_UUID_LEN + 1], y[TF_UUID_LEN + 1], z[TF_UUID_LEN + 1];
	char rep[TF_UUID_LEN + 1], cmd[TF_UUID_LEN + 1], sup[TF_UUID_LEN + 1];
	char notice[TF_UUID_LEN + 16];
	store st;
	sinkctx c;
	char *reply;
	int i;

	memset(&st, 0, sizeof st);
	/* A new replica: only its head. */
	CHECK_INT(tf_replica_dirty(a), 1);
	STEP(a, &st);
	CHECK_INT(st.rec.n, 0);
	CHECK_INT(st.pend.n, 0);
	CHECK(st.head != NULL);
	/* Nothing changed: a checkpoint writes nothing. */
	CHECK_INT(ckpt(a, &st, 0, 0, DONE, &c), 0);
	CHECK_INT(c.calls, 0);

	/* Dana's records, pulled a page of one at a time. */
	for (i = 0; i < 4; i++)
		CHECK_INT(CREATE(d, T0, "incident", NULL,
				 "{\"fields\":{\"priority\":%d}}", i + 1),
			  0);
	CHECK_INT(CREATE(d, T0, "incident", x, "{\"fields\":{\"priority\":2}}"),
		  0);
	CHECK_INT(CREATE(d, T0, "incident", y, "{\"fields\":{\"priority\":3}}"),
		  0);
	SYNC(sv, d, "console-dana", T0);
	PULL_STEPS(sv, a, "mdt-2a12", T0 + SEC, 1, &st);
	CHECK_INT(st.rec.n, 6);

	/* Local work: creates and sets queue; only pending rows change. */
	CHECK_INT(CREATE(a, T0 + 2 * SEC, "incident", z,
			 "{\"fields\":{\"priority\":4}}"),
		  0);
	CHECK_INT(ckpt(a, &st, 0, 0, DONE, &c), 0);
	CHECK_INT(c.puts_pend, 1);
	CHECK_INT(c.puts_rec + c.dels_rec + c.dels_pend, 0);
	CHECK_INT(c.heads, 1);
	STEP(a, &st);
	CHECK_INT(
		MUT(a, T0 + 3 * SEC, "incident", x, TF_OP_APPEND, NULL,
		    "{\"field\":\"notes\",\"body\":{\"text\":\"On scene.\"}}"),
		0);
	STEP(a, &st);
	CHECK_INT(st.pend.n, 2);

	/* Pushed: results told (rows change), then a pull settles them. */
	reply = push_at(sv, a, T0 + 4 * SEC, T0 + 4 * SEC, 1);
	CHECK(reply != NULL);
	free(reply);
	CHECK_INT(ckpt(a, &st, 0, 0, DONE, &c), 0);
	CHECK_INT(c.puts_pend, 2);
	STEP(a, &st);
	PULL_STEPS(sv, a, "mdt-2a12", T0 + 5 * SEC, 1, &st);
	CHECK_INT(st.pend.n, 0);
	CHECK_INT(st.rec.n, 7);

	/* A rejection: a report submitted from a stale draft. */
	CHECK_INT(CREATE(a, T0 + 6 * SEC, "report", rep,
			 "{\"fields\":{\"author\":\"alvarez\","
			 "\"status\":\"draft\"}}"),
		  0);
	STEP(a, &st);
	SYNC(sv, a, "mdt-2a12", T0 + 6 * SEC);
	STEP(a, &st);
	SYNC(sv, d, "console-dana", T0 + 6 * SEC);
	CHECK_INT(MUT(d, T0 + 7 * SEC, "report", rep, TF_OP_SET, NULL,
		      "{\"fields\":{\"status\":\"submitted\"}}"),
		  0);
	CHECK_INT(MUT(d, T0 + 8 * SEC, "report", rep, TF_OP_SET, NULL,
		      "{\"fields\":{\"status\":\"approved\"}}"),
		  0);
	SYNC(sv, d, "console-dana", T0 + 8 * SEC);
	CHECK_INT(MUT(a, T0 + 9 * SEC, "report", rep, TF_OP_SET, cmd,
		      "{\"fields\":{\"status\":\"submitted\"}}"),
		  0);
	STEP(a, &st);
	reply = push_at(sv, a, T0 + 10 * SEC, T0 + 10 * SEC, 1);
	CHECK(reply && strstr(reply, "transition_not_allowed") != NULL);
	free(reply);
	CHECK_INT(tf_replica_state(a, rep), TF_SYNC_REJECTED);
	CHECK_INT(ckpt(a, &st, 0, 0, DONE, &c), 0);
	CHECK_INT(c.dels_pend, 1);
	STEP(a, &st);
	PULL_STEPS(sv, a, "mdt-2a12", T0 + 11 * SEC, 2, &st);
	CHECK_INT(tf_replica_ack_notice(a, cmd), 0);
	STEP(a, &st);

	/* A supersede: the officer's older priority loses to Dana's. */
	SYNC(sv, d, "console-dana", T0 + 12 * SEC);
	CHECK_INT(MUT(a, T0 + 12 * SEC, "incident", y, TF_OP_SET, sup,
		      "{\"fields\":{\"priority\":5}}"),
		  0);
	STEP(a, &st);
	CHECK_INT(MUT(d, T0 + 13 * SEC, "incident", y, TF_OP_SET, NULL,
		      "{\"fields\":{\"priority\":1}}"),
		  0);
	SYNC(sv, d, "console-dana", T0 + 13 * SEC);
	reply = push_at(sv, a, T0 + 14 * SEC, T0 + 14 * SEC, 1);
	CHECK(reply != NULL);
	free(reply);
	STEP(a, &st);
	PULL_STEPS(sv, a, "mdt-2a12", T0 + 15 * SEC, 1, &st);
	snprintf(notice, sizeof notice, "%s:priority", sup);
	CHECK_INT(tf_replica_state(a, y), TF_SYNC_SUPERSEDED);
	CHECK_INT(tf_replica_ack_notice(a, notice), 0);
	STEP(a, &st);

	/* clock_skew: a fast clock; the refused commands are re-stamped. */
	CHECK_INT(MUT(a, T0 + 16 * SEC + fast, "incident", x, TF_OP_SET, NULL,
		      "{\"fields\":{\"priority\":1}}"),
		  0);
	CHECK_INT(MUT(a, T0 + 16 * SEC + fast, "incident", z, TF_OP_SET, NULL,
		      "{\"fields\":{\"priority\":2}}"),
		  0);
	STEP(a, &st);
	reply = push_at(sv, a, T0 + 16 * SEC, T0 + 16 * SEC + fast, 1);
	CHECK(reply && strstr(reply, "clock_skew") != NULL);
	free(reply);
	CHECK_INT(ckpt(a, &st, 0, 0, DONE, &c), 0);
	CHECK_INT(c.puts_pend, 2);
	STEP(a, &st);
	reply = push_at(sv, a, T0 + 17 * SEC, T0 + 17 * SEC + fast, 1);
	CHECK(reply && strstr(reply, "clock_skew") == NULL);
	free(reply);
	STEP(a, &st);
	PULL_STEPS(sv, a, "mdt-2a12", T0 + 18 * SEC, 3, &st);
	CHECK_INT(st.pend.n, 0);

	/* Purge: x leaves the scope (its row goes); then y while pending. */
	memcpy(hidden_id, x, sizeof hidden_id);
	tf_sim_set_visible(sv, hide_one, NULL);
	tf_sim_touch_all(sv);
	PULL_STEPS(sv, a, "mdt-2a12", T0 + 19 * SEC, 4, &st);
	CHECK_INT(kv_find(&st.rec, x), st.rec.n);
	CHECK_INT(MUT(a, T0 + 20 * SEC, "incident", y, TF_OP_SET, NULL,
		      "{\"fields\":{\"priority\":4}}"),
		  0);
	STEP(a, &st);
	memcpy(hidden_id, y, sizeof hidden_id);
	tf_sim_touch_all(sv);
	PULL_STEPS(sv, a, "mdt-2a12", T0 + 21 * SEC, 50, &st);
	CHECK(tf_replica_get(a, y) == NULL);
	CHECK_INT(tf_replica_state(a, y), TF_SYNC_PENDING);
	CHECK_INT(kv_find(&st.rec, y), st.rec.n);
	SYNC(sv, a, "mdt-2a12", T0 + 22 * SEC);
	STEP(a, &st);

	/* Reset: the base goes, pending stays, the pages bring it back. */
	hidden_id[0] = '\0';
	CHECK_INT(MUT(a, T0 + 23 * SEC, "incident", z, TF_OP_APPEND, NULL,
		      "{\"field\":\"notes\",\"body\":{\"text\":\"kept\"}}"),
		  0);
	STEP(a, &st);
	CHECK_INT(MUT(d, T0 + 23 * SEC, "incident", x, TF_OP_SET, NULL,
		      "{\"fields\":{\"priority\":5}}"),
		  0);
	SYNC(sv, d, "console-dana", T0 + 23 * SEC);
	tf_sim_set_retention(sv, tf_sim_feed_seq(sv));
	CHECK_INT(pull_page(sv, a, "mdt-2a12", T0 + 24 * SEC, 2), 1);
	CHECK_STR(tf_replica_cursor(a), "");
	CHECK_INT(ckpt(a, &st, 0, 0, DONE, &c), 0);
	CHECK_INT(st.rec.n, 0);
	CHECK_INT(st.pend.n, 1);
	STEP(a, &st);
	PULL_STEPS(sv, a, "mdt-2a12", T0 + 25 * SEC, 2, &st);
	SYNC(sv, a, "mdt-2a12", T0 + 26 * SEC);
	STEP(a, &st);
	CHECK(st.rec.n > 0);
	CHECK_INT(st.pend.n, 0);

	/* Eviction: a del; a later change brings the record back. */
	CHECK_INT(tf_replica_evict(a, x, NULL), 0);
	CHECK_INT(ckpt(a, &st, 0, 0, DONE, &c), 0);
	CHECK_INT(c.dels_rec, 1);
	CHECK_INT(c.puts_rec + c.puts_pend + c.dels_pend, 0);
	STEP(a, &st);
	CHECK_INT(MUT(d, T0 + 27 * SEC, "incident", x, TF_OP_SET, NULL,
		      "{\"fields\":{\"priority\":3}}"),
		  0);
	SYNC(sv, d, "console-dana", T0 + 27 * SEC);
	PULL_STEPS(sv, a, "mdt-2a12", T0 + 28 * SEC, 1, &st);
	CHECK(kv_find(&st.rec, x) < st.rec.n);
	CHECK_INT(tf_replica_state(a, x), TF_SYNC_SYNCED);

	/* The map after everything equals a replica reloaded from save. */
	{
		char *saved = save_str(a);
		tf_replica *b = NULL;
		store full;
		memset(&full, 0, sizeof full);
		CHECK_INT(
			tf_replica_load(schema, saved, strlen(saved), &b, NULL),
			0);
		CHECK_INT(tf_replica_dirty(b), 0);
		CHECK_INT(ckpt(b, &full, 1, 0, DONE, NULL), 0);
		CHECK(store_equal(&full, &st));
		store_free(&full);
		tf_replica_free(b);
		free(saved);
	}
	store_free(&st);
	tf_replica_free(a);
	tf_replica_free(d);
	tf_sim_free(sv);
}

/*
 * A replica with records, pending commands (one with a result), a notice
 * and a record purged while pending: `st` holds its checkpoint; then more
 * changes are made and left unwritten.
 */
static void build(tf_sim **svp, tf_replica **ap, store *st)
{
	tf_sim *sv = mk_server();
	tf_replica *a = mk("mdt-2a12", "alvarez");
	tf_replica *d = mk("console-dana", "dana");
	char x[TF_UUID_LEN + 1], y[TF_UUID_LEN + 1];
	char *reply;
	int i;

	for (i = 0; i < 5; i++)
		CHECK_INT(CREATE(d, T0, "incident", NULL,
				 "{\"fields\":{\"priority\":%d}}", i + 1),
			  0);
	CHECK_INT(CREATE(d, T0, "incident", x, "{\"fields\":{\"priority\":2}}"),
		  0);
	SYNC(sv, d, "console-dana", T0);
	SYNC(sv, a, "mdt-2a12", T0 + SEC);
	memset(st, 0, sizeof *st);
	STEP(a, st);
	/* Unwritten changes: new commands, a result, a purge. */
	CHECK_INT(CREATE(a, T0 + 2 * SEC, "incident", y,
			 "{\"fields\":{\"priority\":1}}"),
		  0);
	CHECK_INT(MUT(a, T0 + 2 * SEC, "incident", x, TF_OP_SET, NULL,
		      "{\"fields\":{\"priority\":4}}"),
		  0);
	reply = push_at(sv, a, T0 + 3 * SEC, T0 + 3 * SEC, 1);
	free(reply);
	CHECK_INT(MUT(a, T0 + 4 * SEC, "incident", y, TF_OP_SET, NULL,
		      "{\"fields\":{\"priority\":2}}"),
		  0);
	memcpy(hidden_id, x, sizeof hidden_id);
	tf_sim_set_visible(sv, hide_one, NULL);
	tf_sim_touch_all(sv);
	CHECK(pull_page(sv, a, "mdt-2a12", T0 + 5 * SEC, 1000) == 0);
	tf_replica_free(d);
	*svp = sv;
	*ap = a;
}

TEST(sink_failure_then_retry)
{
	tf_sim *sv;
	tf_replica *a;
	store st, want, before;
	sinkctx c;
	long k, total;

	build(&sv, &a, &st);
	CHECK_INT(tf_replica_dirty(a), 1);
	/* How many calls the whole checkpoint makes. */
	memset(&want, 0, sizeof want);
	store_copy(&want, &st);
	CHECK_INT(ckpt(a, &want, 0, 0, COMMIT, &c), 0);
	total = c.calls;
	CHECK(total >= 4);
	CHECK(c.dels_rec >= 1 && c.puts_pend >= 1 && c.heads == 1);
	store_free(&want);
	/* Failing at every call: the error comes back, nothing is lost. */
	for (k = 1; k <= total; k++) {
		memset(&before, 0, sizeof before);
		store_copy(&before, &st);
		CHECK_INT(ckpt(a, &st, 0, k, DONE, &c), SINK_FAILED);
		CHECK_INT(c.calls, k);
		CHECK(store_equal(&before, &st));
		store_free(&before);
		/* A done without a successful checkpoint clears nothing. */
		tf_replica_checkpoint_done(a);
		CHECK_INT(tf_replica_dirty(a), 1);
	}
	STEP(a, &st);
	store_free(&st);
	tf_replica_free(a);
	tf_sim_free(sv);
}

TEST(uncommitted_checkpoint_and_changes_during_commit)
{
	tf_sim *sv;
	tf_replica *a, *d, *b = NULL;
	store st, tx;
	sinkctx c;
	char *saved, *got;

	build(&sv, &a, &st);
	/* The host's transaction did not commit: no done. */
	CHECK_INT(ckpt(a, &st, 0, 0, DISCARD, NULL), 0);
	CHECK_INT(tf_replica_dirty(a), 1);
	/* The next checkpoint writes the same changes again, and more. */
	tf_replica_set_allow_ref(a, 1);
	STEP(a, &st);
	CHECK(strstr(st.head, "\"allow_ref\":true") != NULL);
	tf_replica_set_allow_ref(a, 1); /* no change */
	CHECK_INT(tf_replica_dirty(a), 0);

	/* Changes made while the host commits stay dirty after done. */
	memset(&tx, 0, sizeof tx);
	store_copy(&tx, &st);
	CHECK_INT(CREATE(a, T0 + 6 * SEC, "incident", NULL,
			 "{\"fields\":{\"priority\":3}}"),
		  0);
	CHECK_INT(tf_replica_dirty(a), 1);
	sink_init(&c, &tx, 0);
	CHECK_INT(tf_replica_checkpoint(a, 0, &sink, &c), 0);
	CHECK_INT(c.puts_pend, 1);
	CHECK_INT(CREATE(a, T0 + 7 * SEC, "incident", NULL,
			 "{\"fields\":{\"priority\":4}}"),
		  0);
	store_free(&st);
	st = tx; /* committed */
	tf_replica_checkpoint_done(a);
	CHECK_INT(tf_replica_dirty(a), 1);
	CHECK_INT(ckpt(a, &st, 0, 0, DONE, &c), 0);
	CHECK_INT(c.puts_pend, 1);
	CHECK_INT(c.puts_rec + c.dels_rec + c.dels_pend, 0);
	STEP(a, &st);

	/* A failed replica refuses checkpoints; the map keeps the last. */
	d = mk("console-sup", "sup");
	SYNC(sv, d, "console-sup", T0 + 8 * SEC);
	CHECK_INT(CREATE(d, T0 + 8 * SEC, "incident", NULL,
			 "{\"fields\":{\"priority\":1}}"),
		  0);
	SYNC(sv, d, "console-sup", T0 + 8 * SEC);
	saved = save_str(a);
	tf_replica_fault_inject(a, 1);
	CHECK_INT(tf_sim_sync(sv, a, "mdt-2a12", T0 + 9 * SEC, T0 + 9 * SEC, 0,
			      NULL),
		  TF_ENOMEM);
	CHECK_INT(tf_replica_checkpoint(a, 0, &sink, &c), TF_ESTATE);
	CHECK_INT(tf_replica_checkpoint(a, 1, &sink, &c), TF_ESTATE);
	CHECK_INT(tf_replica_dirty(a), 0);
	tf_replica_checkpoint_done(a);
	CHECK_INT(load_store(&st, &b, NULL), 0);
	got = b ? save_str(b) : NULL;
	CHECK(got && saved && strcmp(got, saved) == 0);
	free(got);
	free(saved);
	tf_replica_free(b);
	tf_replica_free(d);
	store_free(&st);
	tf_replica_free(a);
	tf_sim_free(sv);
}

TEST(evict_refusals)
{
	tf_sim *sv = mk_server();
	tf_replica *a = mk("mdt-2a12", "alvarez");
	tf_replica *d = mk("console-dana", "dana");
	const char *base = "Caller reports shouting.";
	char x[TF_UUID_LEN + 1], y[TF_UUID_LEN + 1], t[TF_UUID_LEN + 1];
	char rep[TF_UUID_LEN + 1], cmd[TF_UUID_LEN + 1], *reply, *before;
	store st;
	tf_err err;

	memset(&st, 0, sizeof st);
	CHECK_INT(CREATE(d, T0, "incident", x, "{\"fields\":{\"priority\":2}}"),
		  0);
	CHECK_INT(CREATE(d, T0, "incident", y, "{\"fields\":{\"priority\":3}}"),
		  0);
	CHECK_INT(CREATE(d, T0, "incident", t,
			 "{\"fields\":{\"remarks\":\"%s\"}}", base),
		  0);
	CHECK_INT(CREATE(d, T0, "report", rep,
			 "{\"fields\":{\"author\":\"alvarez\","
			 "\"status\":\"draft\"}}"),
		  0);
	SYNC(sv, d, "console-dana", T0);
	SYNC(sv, a, "mdt-2a12", T0);
	STEP(a, &st);
	before = save_str(a);

	/* Unknown. */
	CHECK_INT(tf_replica_evict(a, "01900000-0000-7000-8000-0000000000ff",
				   &err),
		  TF_ENOTFOUND);
	CHECK_STR(err.where, "record_id");
	CHECK_INT(tf_replica_evict(a, NULL, &err), TF_EINVAL);
	/* Pending commands. */
	CHECK_INT(MUT(a, T0 + SEC, "incident", y, TF_OP_SET, NULL,
		      "{\"fields\":{\"priority\":1}}"),
		  0);
	free(before);
	before = save_str(a);
	CHECK_INT(tf_replica_evict(a, y, &err), TF_ESTATE);
	CHECK(strstr(err.msg, "pending") != NULL);
	/* A record created here and never confirmed. */
	{
		char n[TF_UUID_LEN + 1];
		CHECK_INT(CREATE(a, T0 + SEC, "incident", n,
				 "{\"fields\":{\"priority\":1}}"),
			  0);
		free(before);
		before = save_str(a);
		CHECK_INT(tf_replica_evict(a, n, &err), TF_ESTATE);
	}
	/* An open rejection notice. */
	CHECK_INT(MUT(d, T0 + 2 * SEC, "report", rep, TF_OP_SET, NULL,
		      "{\"fields\":{\"status\":\"submitted\"}}"),
		  0);
	CHECK_INT(MUT(d, T0 + 3 * SEC, "report", rep, TF_OP_SET, NULL,
		      "{\"fields\":{\"status\":\"approved\"}}"),
		  0);
	SYNC(sv, d, "console-dana", T0 + 3 * SEC);
	CHECK_INT(MUT(a, T0 + 4 * SEC, "report", rep, TF_OP_SET, cmd,
		      "{\"fields\":{\"status\":\"submitted\"}}"),
		  0);
	SYNC(sv, a, "mdt-2a12", T0 + 5 * SEC);
	CHECK_INT(tf_replica_state(a, rep), TF_SYNC_REJECTED);
	CHECK_INT(tf_replica_state(a, y), TF_SYNC_SYNCED);
	STEP(a, &st);
	free(before);
	before = save_str(a);
	CHECK_INT(tf_replica_evict(a, rep, &err), TF_ESTATE);
	CHECK(strstr(err.msg, "rejected") != NULL);
	/* An open text conflict in the confirmed state. */
	CHECK_INT(MUT(a, T0 + 6 * SEC, "incident", t, TF_OP_EDIT_TEXT, NULL,
		      "{\"field\":\"remarks\",\"base_rev\":1,\"base\":\"%s\","
		      "\"text\":\"%s Mine.\"}",
		      base, base),
		  0);
	CHECK_INT(MUT(d, T0 + 6 * SEC, "incident", t, TF_OP_EDIT_TEXT, NULL,
		      "{\"field\":\"remarks\",\"base_rev\":1,\"base\":\"%s\","
		      "\"text\":\"Theirs. %s\"}",
		      base, base),
		  0);
	SYNC(sv, d, "console-dana", T0 + 7 * SEC);
	SYNC(sv, a, "mdt-2a12", T0 + 8 * SEC);
	SYNC(sv, d, "console-dana", T0 + 9 * SEC);
	CHECK_INT(tf_replica_state(d, t), TF_SYNC_CONFLICT);
	CHECK_INT(tf_replica_evict(d, t, &err), TF_ESTATE);
	CHECK(strstr(err.msg, "conflict") != NULL);
	STEP(a, &st);
	free(before);
	before = save_str(a);
	/* The refusals changed nothing. */
	CHECK_INT(tf_replica_evict(a, rep, &err), TF_ESTATE);
	CHECK_INT(tf_replica_dirty(a), 0);
	{
		char *now = save_str(a);
		CHECK(now && before && strcmp(now, before) == 0);
		free(now);
	}

	/* A synced record goes: view, state, list and the map. */
	CHECK_INT(tf_replica_state(a, x), TF_SYNC_SYNCED);
	CHECK_INT(tf_replica_evict(a, x, &err), 0);
	CHECK(tf_replica_get(a, x) == NULL);
	CHECK_INT(tf_replica_state(a, x), TF_SYNC_NONE);
	CHECK_INT(tf_replica_evict(a, x, &err), TF_ENOTFOUND);
	CHECK_INT(tf_replica_dirty(a), 1);
	STEP(a, &st);
	CHECK_INT(kv_find(&st.rec, x), st.rec.n);
	/* Pending commands for it are refused (not in the replica). */
	CHECK_INT(MUT(a, T0 + 10 * SEC, "incident", x, TF_OP_SET, NULL,
		      "{\"fields\":{\"priority\":1}}"),
		  TF_ENOTFOUND);
	/* Evicted mid-pull: a page's base_ack leaves the head with it. */
	CHECK_INT(MUT(d, T0 + 11 * SEC, "incident", y, TF_OP_SET, NULL,
		      "{\"fields\":{\"priority\":5}}"),
		  0);
	CHECK_INT(MUT(d, T0 + 11 * SEC, "incident", x, TF_OP_SET, NULL,
		      "{\"fields\":{\"priority\":5}}"),
		  0);
	SYNC(sv, d, "console-dana", T0 + 11 * SEC);
	CHECK_INT(MUT(a, T0 + 12 * SEC, "incident", t, TF_OP_APPEND, NULL,
		      "{\"field\":\"notes\",\"body\":{\"text\":\"x\"}}"),
		  0);
	reply = push_at(sv, a, T0 + 12 * SEC, T0 + 12 * SEC, 1);
	free(reply);
	CHECK_INT(pull_page(sv, a, "mdt-2a12", T0 + 13 * SEC, 1), 1);
	STEP(a, &st);
	CHECK_INT(tf_replica_state(a, y), TF_SYNC_SYNCED);
	CHECK_INT(tf_replica_evict(a, y, &err), 0);
	STEP(a, &st);
	PULL_STEPS(sv, a, "mdt-2a12", T0 + 14 * SEC, 1, &st);
	CHECK_INT(tf_replica_state(a, x), TF_SYNC_SYNCED);
	free(before);
	store_free(&st);
	tf_replica_free(a);
	tf_replica_free(d);
	tf_sim_free(sv);
}

/* load_parts refuses what a whole save would be refused for. */
TEST(load_parts_refusals)
{
	tf_sim *sv;
	tf_replica *a, *b = NULL;
	store st;
	tf_slice head, recs[3], pend[3];
	tf_err err;
	char *p;

	build(&sv, &a, &st);
	/* A record purged while a command for it is pending ("gone"). */
	{
		tf_buf ids;
		tf_json *list = NULL;
		tf_buf_init(&ids);
		CHECK_INT(tf_replica_list_json(a, "incident", &ids), 0);
		CHECK_INT(tf_json_parse(ids.data, ids.len, NULL, &list, NULL),
			  0);
		CHECK(list && list->len > 0);
		memcpy(hidden_id, list->u.items[0]->u.str, sizeof hidden_id);
		tf_json_free(list);
		tf_buf_free(&ids);
	}
	CHECK_INT(MUT(a, T0 + 6 * SEC, "incident", hidden_id, TF_OP_SET, NULL,
		      "{\"fields\":{\"priority\":5}}"),
		  0);
	tf_sim_touch_all(sv);
	CHECK_INT(pull_page(sv, a, "mdt-2a12", T0 + 7 * SEC, 1000), 0);
	CHECK_INT(tf_replica_state(a, hidden_id), TF_SYNC_PENDING);
	STEP(a, &st);
	CHECK(strstr(st.head, "\"gone\":[\"") != NULL);
	CHECK(st.rec.n >= 2 && st.pend.n >= 1);
	head.p = st.head;
	head.len = st.hlen;
	recs[0].p = st.rec.v[0].val;
	recs[0].len = st.rec.v[0].len;
	recs[1] = recs[0];
	pend[0].p = st.pend.v[0].val;
	pend[0].len = st.pend.v[0].len;
	pend[1] = pend[0];

	CHECK_INT(tf_replica_load_parts(NULL, head.p, head.len, NULL, 0, NULL,
					0, &b, &err),
		  TF_EINVAL);
	/* Not JSON: the part is named. */
	CHECK_INT(tf_replica_load_parts(schema, "{", 1, NULL, 0, NULL, 0, &b,
					&err),
		  TF_EJSON);
	CHECK_STR(err.where, "head");
	CHECK(b == NULL);
	recs[2].p = "{\"id\":";
	recs[2].len = 6;
	CHECK_INT(tf_replica_load_parts(schema, head.p, head.len, recs + 2, 1,
					NULL, 0, &b, &err),
		  TF_EJSON);
	CHECK_STR(err.where, "records[0]");
	/* A whole save is not a head. */
	p = save_str(a);
	CHECK_INT(tf_replica_load_parts(schema, p, strlen(p), NULL, 0, NULL, 0,
					&b, &err),
		  TF_EINVAL);
	CHECK_STR(err.where, "head");
	free(p);
	/* The same record twice. */
	CHECK_INT(tf_replica_load_parts(schema, head.p, head.len, recs, 2, NULL,
					0, &b, &err),
		  TF_EINVAL);
	CHECK_STR(err.where, "base[1]");
	/* The same pending command twice. */
	CHECK_INT(tf_replica_load_parts(schema, head.p, head.len, NULL, 0, pend,
					2, &b, &err),
		  TF_EINVAL);
	/* A pending item without cmd.seq. */
	pend[2].p = "{\"at\":1,\"cmd\":{}}";
	pend[2].len = strlen(pend[2].p);
	CHECK_INT(tf_replica_load_parts(schema, head.p, head.len, NULL, 0,
					pend + 2, 1, &b, &err),
		  TF_EINVAL);
	CHECK_STR(err.where, "pending[0]");
	/* A record that is not a record state. */
	recs[2].p = "{\"id\":\"x\"}";
	recs[2].len = strlen(recs[2].p);
	CHECK(tf_replica_load_parts(schema, head.p, head.len, recs + 2, 1, NULL,
				    0, &b, &err) != 0);
	/* Missing parts: the purged-but-pending record's commands. */
	CHECK_INT(tf_replica_load_parts(schema, head.p, head.len, recs, 1, NULL,
					0, &b, &err),
		  TF_EINVAL);
	CHECK_STR(err.where, "gone");
	CHECK(b == NULL);
	CHECK_INT(load_store(&st, &b, &err), 0);
	tf_replica_free(b);
	store_free(&st);
	tf_replica_free(a);
	tf_sim_free(sv);
}

/* ------------------------------------------------------------ remaining */

static const char page_fmt[] =
	"{\"ack\":0,\"cursor\":\"7\",\"has_more\":true,\"protocol_version\":1,"
	"\"purged\":[],\"records\":[]%s,\"reset\":false,\"schema_version\":1}";

static int decode_with(const char *member, tf_pull_page *m, tf_err *err)
{
	char text[512];

	snprintf(text, sizeof text, page_fmt, member);
	return tf_pull_page_decode(text, strlen(text), schema, NULL, m, err);
}

TEST(pull_page_remaining)
{
	static const struct {
		const char *member;
		int code;
	} bad[] = {
		{",\"remaining\":-1", TF_ERANGE},
		{",\"remaining\":9007199254740992", TF_ERANGE},
		{",\"remaining\":18446744073709551616", TF_ERANGE},
		{",\"remaining\":1.5", TF_ERANGE},
		{",\"remaining\":1e3", TF_ERANGE},
		{",\"remaining\":\"5\"", TF_ETYPE},
		{",\"remaining\":null", TF_ETYPE},
		{",\"remaining\":true", TF_ETYPE},
	};
	tf_pull_page m;
	tf_buf b;
	tf_err err;
	size_t i, mark;
	char text[512];

	/* Absent: unknown. */
	CHECK_INT(decode_with("", &m, &err), 0);
	CHECK_INT(m.has_remaining, 0);
	CHECK_INT(m.remaining, -1);
	tf_buf_init(&b);
	CHECK_INT(tf_pull_page_encode(&m, &b), 0);
	snprintf(text, sizeof text, page_fmt, "");
	CHECK_STR(tf_buf_cstr(&b), text);
	tf_pull_page_clear(&m);
	/* 0 and 2^53-1 round-trip. */
	CHECK_INT(decode_with(",\"remaining\":0", &m, &err), 0);
	CHECK_INT(m.has_remaining, 1);
	CHECK_INT(m.remaining, 0);
	tf_buf_reset(&b);
	CHECK_INT(tf_pull_page_encode(&m, &b), 0);
	snprintf(text, sizeof text, page_fmt, ",\"remaining\":0");
	CHECK_STR(tf_buf_cstr(&b), text);
	tf_pull_page_clear(&m);
	CHECK_INT(decode_with(",\"remaining\":9007199254740991", &m, &err), 0);
	CHECK(m.remaining == 9007199254740991LL);
	tf_buf_reset(&b);
	CHECK_INT(tf_pull_page_encode(&m, &b), 0);
	snprintf(text, sizeof text, page_fmt,
		 ",\"remaining\":9007199254740991");
	CHECK_STR(tf_buf_cstr(&b), text);
	tf_pull_page_clear(&m);
	/* Refused with the member named; the output cleared. */
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&m, 0x5a, sizeof m);
		CHECK_INT(decode_with(bad[i].member, &m, &err), bad[i].code);
		CHECK_STR(err.where, "remaining");
		CHECK(strstr(err.msg, "remaining") != NULL);
		CHECK(m.cursor == NULL && m.records == NULL &&
		      m.has_remaining == 0);
	}
	/* The encoder refuses what the decoder would. */
	memset(&m, 0, sizeof m);
	m.schema_version = 1;
	m.cursor = "7";
	tf_buf_reset(&b);
	tf_buf_puts(&b, "x");
	mark = b.len;
	m.has_remaining = 1;
	m.remaining = -1;
	CHECK_INT(tf_pull_page_encode(&m, &b), TF_EINVAL);
	CHECK_INT(b.len, mark);
	m.remaining = 9007199254740992LL;
	CHECK_INT(tf_pull_page_encode(&m, &b), TF_EINVAL);
	CHECK_INT(b.len, mark);
	/* A zeroed page says nothing about what remains. */
	m.has_remaining = 0;
	CHECK_INT(tf_pull_page_encode(&m, &b), 0);
	CHECK(strstr(tf_buf_cstr(&b), "remaining") == NULL);
	tf_buf_free(&b);
}

TEST(replica_remaining)
{
	tf_replica *a = mk("mdt-2a12", "alvarez");
	tf_replica *b = NULL;
	char text[512], *saved;
	tf_err err;

	CHECK_INT(tf_replica_pull_remaining(a), -1);
	snprintf(text, sizeof text, page_fmt, ",\"remaining\":42");
	CHECK_INT(tf_replica_apply_pull(a, T0, text, strlen(text), &err), 0);
	CHECK(tf_replica_pull_remaining(a) == 42);
	/* A refused page changes nothing. */
	snprintf(text, sizeof text, page_fmt, ",\"remaining\":-3");
	CHECK_INT(tf_replica_apply_pull(a, T0, text, strlen(text), &err),
		  TF_ERANGE);
	CHECK(tf_replica_pull_remaining(a) == 42);
	/* Not persisted: the estimate is the last page's, -1 after a load. */
	saved = save_str(a);
	CHECK(saved && strstr(saved, "remaining") == NULL);
	CHECK_INT(tf_replica_load(schema, saved, strlen(saved), &b, &err), 0);
	CHECK_INT(tf_replica_pull_remaining(b), -1);
	snprintf(text, sizeof text, page_fmt, "");
	CHECK_INT(tf_replica_apply_pull(a, T0, text, strlen(text), &err), 0);
	CHECK_INT(tf_replica_pull_remaining(a), -1);
	free(saved);
	tf_replica_free(a);
	tf_replica_free(b);
}

/* ------------------------------------------------------------ JSON API */

/* Calls method with input text; the output (caller frees), *rc its code. */
static char *api_call(tf_api *a, const char *method, const char *in, int *rc)
{
	tf_buf out;

	tf_buf_init(&out);
	*rc = tf_api_call(a, method, strlen(method), in, strlen(in), &out);
	return tf_buf_take(&out, NULL);
}

/* The "ok" member of an output (parsed; caller frees), NULL on error. */
static tf_json *api_ok(tf_api *a, const char *method, const char *in)
{
	tf_json *doc = NULL, *ok = NULL;
	char *out;
	int rc;

	out = api_call(a, method, in, &rc);
	if (rc != 0 || out == NULL ||
	    tf_json_parse(out, strlen(out), NULL, &doc, NULL) != 0) {
		fprintf(stderr, "%s: %s\n", method, out ? out : "(null)");
		free(out);
		return NULL;
	}
	ok = tf_json_object_take(doc, "ok");
	tf_json_free(doc);
	free(out);
	return ok;
}

/*
 * {"head":h,"pending":[...],"records":[...]} for load_parts from a
 * checkpoint's result, the parts as strings or (objects 1) as objects.
 */
static char *parts_input(const tf_json *ck, int objects)
{
	const tf_json *rec = tf_json_object_get(ck, "records");
	const tf_json *pend = tf_json_object_get(ck, "pending");
	const tf_json *head = tf_json_object_get(ck, "head");
	const tf_json *lists[2];
	tf_buf b;
	size_t i, k;

	lists[0] = pend;
	lists[1] = rec;
	tf_buf_init(&b);
	tf_buf_puts(&b, "{\"head\":");
	if (objects)
		tf_buf_append(&b, head->u.str, head->len);
	else
		tf_json_write(head, &b);
	for (k = 0; k < 2; k++) {
		tf_buf_puts(&b, k ? "],\"records\":[" : ",\"pending\":[");
		/* Backwards: parts come in any order. */
		for (i = lists[k]->len; i-- > 0;) {
			const tf_json *v = lists[k]->u.members[i].value;
			if (i + 1 < lists[k]->len)
				tf_buf_putc(&b, ',');
			if (objects)
				tf_buf_append(&b, v->u.str, v->len);
			else
				tf_json_write(v, &b);
		}
	}
	tf_buf_puts(&b, "]}");
	return tf_buf_take(&b, NULL);
}

TEST(json_api_methods)
{
	tf_sim *sv;
	tf_replica *a;
	tf_api *api = tf_api_new();
	store st;
	tf_json *ok, *ck;
	char *text, *in, *out, *s1, *s2, id[TF_UUID_LEN + 1];
	const char *m;
	size_t len, i;
	int rc, k;

	/* The method list stays sorted with the new names in it. */
	{
		const char *const *names = tf_api_methods();
		size_t found = 0;
		for (i = 0; names[i]; i++) {
			if (i)
				CHECK(strcmp(names[i - 1], names[i]) < 0);
			found +=
				strncmp(names[i], "replica.", 8) == 0 &&
				(strcmp(names[i] + 8, "checkpoint") == 0 ||
				 strcmp(names[i] + 8, "checkpoint_done") == 0 ||
				 strcmp(names[i] + 8, "dirty") == 0 ||
				 strcmp(names[i] + 8, "evict") == 0 ||
				 strcmp(names[i] + 8, "load_parts") == 0 ||
				 strcmp(names[i] + 8, "pull_remaining") == 0);
		}
		CHECK_INT(found, 6);
	}
	build(&sv, &a, &st);
	STEP(a, &st);
	text = tf_test_read_file(TF_TEST_SCHEMA_PATH, &len);
	CHECK(api != NULL && text != NULL);
	free(api_call(api, "schema.load", text, &rc));
	CHECK_INT(rc, 0);
	free(text);
	/* The session's replica, loaded from its save (handle 1). */
	{
		char *saved = save_str(a);
		tf_buf b;
		tf_buf_init(&b);
		tf_buf_puts(&b, "{\"saved\":");
		tf_json_write_string(&b, saved, strlen(saved));
		tf_buf_putc(&b, '}');
		out = api_call(api, "replica.load", tf_buf_cstr(&b), &rc);
		CHECK_STR(out, "{\"ok\":{\"replica\":1}}");
		free(out);
		tf_buf_free(&b);
		free(saved);
	}
	out = api_call(api, "replica.dirty", "{\"replica\":1}", &rc);
	CHECK_STR(out, "{\"ok\":false}");
	free(out);
	/* Nothing changed since the load: an empty checkpoint. */
	out = api_call(api, "replica.checkpoint", "{\"replica\":1}", &rc);
	CHECK_STR(out,
		  "{\"ok\":{\"head\":null,\"pending\":{},\"records\":{}}}");
	free(out);
	/* Everything: the parts the C sink gets, as strings. */
	ck = api_ok(api, "replica.checkpoint", "{\"full\":true,\"replica\":1}");
	CHECK(ck != NULL);
	if (ck == NULL)
		goto out;
	CHECK_INT(tf_json_object_get(ck, "records")->len, st.rec.n);
	CHECK_INT(tf_json_object_get(ck, "pending")->len, st.pend.n);
	CHECK(tf_json_object_get(ck, "head")->type == TF_JSON_STRING);
	for (i = 0; i < st.rec.n; i++) {
		const tf_json *v = tf_json_object_get(
			tf_json_object_get(ck, "records"), st.rec.v[i].key);
		CHECK(v && v->type == TF_JSON_STRING &&
		      strcmp(v->u.str, st.rec.v[i].val) == 0);
	}
	for (i = 0; i < st.pend.n; i++) {
		char key[24];
		const tf_json *v;
		snprintf(key, sizeof key, "%llu",
			 strtoull(st.pend.v[i].key, NULL, 10));
		v = tf_json_object_get(tf_json_object_get(ck, "pending"), key);
		CHECK(v && v->type == TF_JSON_STRING &&
		      strcmp(v->u.str, st.pend.v[i].val) == 0);
	}
	CHECK_STR(tf_json_object_get(ck, "head")->u.str, st.head);
	/* load_parts with strings (handle 2) and with objects (3). */
	for (k = 0; k < 2; k++) {
		char want[32];
		in = parts_input(ck, k);
		out = api_call(api, "replica.load_parts", in, &rc);
		snprintf(want, sizeof want, "{\"ok\":{\"replica\":%d}}", k + 2);
		CHECK_STR(out, want);
		free(out);
		free(in);
	}
	s1 = api_call(api, "replica.save", "{\"replica\":1}", &rc);
	s2 = api_call(api, "replica.save", "{\"replica\":2}", &rc);
	CHECK(s1 && s2 && strcmp(s1, s2) == 0);
	free(s2);
	s2 = api_call(api, "replica.save", "{\"replica\":3}", &rc);
	CHECK(s1 && s2 && strcmp(s1, s2) == 0);
	free(s2);
	free(s1);
	/* A change, its checkpoint, done. */
	{
		char req[512];
		ok = api_ok(api, "replica.list", "{\"replica\":2}");
		CHECK(ok && ok->len > 0);
		snprintf(id, sizeof id, "%s", ok ? ok->u.items[0]->u.str : "");
		tf_json_free(ok);
		snprintf(req, sizeof req,
			 "{\"args\":{\"fields\":{\"priority\":3}},"
			 "\"entity\":\"incident\",\"now\":%lld,\"op\":\"set\","
			 "\"random\":\"%040d\",\"record_id\":\"%s\","
			 "\"replica\":2}",
			 (long long)(T0 + MIN), 7, id);
		free(api_call(api, "replica.mutate", req, &rc));
		CHECK_INT(rc, 0);
	}
	out = api_call(api, "replica.dirty", "{\"replica\":2}", &rc);
	CHECK_STR(out, "{\"ok\":true}");
	free(out);
	ok = api_ok(api, "replica.checkpoint", "{\"replica\":2}");
	CHECK(ok && tf_json_object_get(ok, "records")->len == 0 &&
	      tf_json_object_get(ok, "pending")->len == 1 &&
	      tf_json_object_get(ok, "head")->type == TF_JSON_STRING);
	tf_json_free(ok);
	out = api_call(api, "replica.checkpoint_done", "{\"replica\":2}", &rc);
	CHECK_STR(out, "{\"ok\":true}");
	free(out);
	out = api_call(api, "replica.dirty", "{\"replica\":2}", &rc);
	CHECK_STR(out, "{\"ok\":false}");
	free(out);
	/* Seqs past 9: the pending object is still canonical ("10" < "9"). */
	{
		char req[512], *canon;
		tf_buf b;
		for (i = 0; i < 12; i++) {
			snprintf(req, sizeof req,
				 "{\"args\":{\"fields\":{\"priority\":%zu}},"
				 "\"entity\":\"incident\",\"now\":%lld,"
				 "\"op\":\"set\",\"random\":\"%040zu\","
				 "\"record_id\":\"%s\",\"replica\":2}",
				 i % 5 + 1, (long long)(T0 + 2 * MIN), i + 100,
				 id);
			free(api_call(api, "replica.mutate", req, &rc));
			CHECK_INT(rc, 0);
		}
		out = api_call(api, "replica.checkpoint",
			       "{\"full\":true,\"replica\":2}", &rc);
		CHECK_INT(rc, 0);
		tf_buf_init(&b);
		CHECK_INT(
			tf_json_canonicalize(out, strlen(out), NULL, &b, NULL),
			0);
		canon = tf_buf_take(&b, NULL);
		CHECK(canon && strcmp(canon, out) == 0);
		CHECK(strstr(out, "\"pending\":{\"10\":") != NULL);
		free(canon);
		free(out);
		out = api_call(api, "replica.checkpoint_done",
			       "{\"replica\":2}", &rc);
		free(out);
	}
	/* Eviction: refused while pending, unknown, then a synced one. */
	{
		char req[256];
		snprintf(req, sizeof req,
			 "{\"record_id\":\"%s\",\"replica\":2}", id);
		out = api_call(api, "replica.evict", req, &rc);
		CHECK_INT(rc, TF_ESTATE);
		CHECK(out && strstr(out, "\"code\":\"failed_state\"") &&
		      strstr(out, "\"where\":\"input.record_id\""));
		free(out);
		snprintf(req, sizeof req,
			 "{\"record_id\":\"%s\",\"replica\":3}", id);
		out = api_call(api, "replica.evict", req, &rc);
		CHECK_STR(out, "{\"ok\":true}");
		free(out);
		out = api_call(api, "replica.evict", req, &rc);
		CHECK_INT(rc, TF_ENOTFOUND);
		CHECK(out && strstr(out, "\"where\":\"input.record_id\""));
		free(out);
		ok = api_ok(api, "replica.checkpoint", "{\"replica\":3}");
		CHECK(ok && tf_json_object_get(ok, "records")->len == 1);
		CHECK(ok &&
		      tf_json_object_get(tf_json_object_get(ok, "records"), id)
				      ->type == TF_JSON_NULL);
		tf_json_free(ok);
	}
	out = api_call(api, "replica.pull_remaining", "{\"replica\":2}", &rc);
	CHECK_STR(out, "{\"ok\":-1}");
	free(out);
	/* Refusals, each naming the member. */
	{
		static const struct {
			const char *method, *in, *code, *where;
		} bad[] = {
			{"replica.load_parts", "{\"records\":[]}",
			 "missing_field", "input.head"},
			{"replica.load_parts", "{\"head\":{},\"records\":{}}",
			 "wrong_type", "input.records"},
			{"replica.load_parts", "{\"head\":{},\"pending\":[1]}",
			 "wrong_type", "input.pending[0]"},
			{"replica.load_parts", "{\"head\":{},\"extra\":1}",
			 "unknown_field", "input"},
			{"replica.load_parts", "{\"head\":\"{\"}",
			 "malformed_json", "head"},
			{"replica.load_parts", "{\"head\":{}}",
			 "invalid_argument", "head"},
			{"replica.checkpoint", "{\"replica\":9}", "not_found",
			 "input.replica"},
			{"replica.checkpoint", "{\"full\":1,\"replica\":1}",
			 "wrong_type", "input.full"},
			{"replica.evict", "{\"replica\":1}", "missing_field",
			 "input.record_id"},
			{"replica.checkpoint_done", "{}", "missing_field",
			 "input.replica"},
		};
		for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			char want[128];
			out = api_call(api, bad[i].method, bad[i].in, &rc);
			CHECK(rc != 0);
			snprintf(want, sizeof want, "\"code\":\"%s\"",
				 bad[i].code);
			m = out ? strstr(out, want) : NULL;
			CHECK(m != NULL);
			snprintf(want, sizeof want, "\"where\":\"%s\"",
				 bad[i].where);
			m = out ? strstr(out, want) : NULL;
			if (m == NULL)
				fprintf(stderr, "%s %s: %s\n", bad[i].method,
					bad[i].in, out ? out : "");
			CHECK(m != NULL);
			free(out);
		}
	}
	tf_json_free(ck);
out:
	tf_api_free(api);
	store_free(&st);
	tf_replica_free(a);
	tf_sim_free(sv);
}

/* ------------------------------------------------------------ random */

/* The ids of r's records (visible ones), parsed; caller frees. */
static tf_json *ids_of(tf_replica *r)
{
	tf_json *list = NULL;
	tf_buf b;

	tf_buf_init(&b);
	if (tf_replica_list_json(r, NULL, &b) != 0 ||
	    tf_json_parse(b.data, b.len, NULL, &list, NULL) != 0)
		list = NULL;
	tf_buf_free(&b);
	return list;
}

/* A random visible record of r into id; 0 when r shows none. */
static int pick(tf_replica *r, uint64_t *rs, char id[TF_UUID_LEN + 1])
{
	tf_json *l = ids_of(r);
	int found = 0;

	if (l && l->len) {
		snprintf(id, TF_UUID_LEN + 1, "%s",
			 l->u.items[tf_test_rand(rs) % l->len]->u.str);
		found = 1;
	}
	tf_json_free(l);
	return found;
}

/* The first open notice's id into nid; 0 when none. */
static int first_notice(tf_replica *r, char *nid, size_t n)
{
	tf_json *arr = NULL;
	tf_buf b;
	int found = 0;

	tf_buf_init(&b);
	if (tf_replica_notices_json(r, &b) == 0 &&
	    tf_json_parse(b.data, b.len, NULL, &arr, NULL) == 0 && arr->len) {
		snprintf(nid, n, "%s",
			 tf_json_get_str(arr->u.items[0], "id", NULL));
		found = 1;
	}
	tf_json_free(arr);
	tf_buf_free(&b);
	return found;
}

/*
 * Random schedules: the officer's replica and Dana's console do
 * everything the sync offers (lost replies, fast clocks, scope changes,
 * retention resets, evictions, notices) and the officer's store is
 * written after every step: sometimes with a sink failing at a random
 * call, sometimes by a transaction that does not commit, mostly
 * committed and then checked (load_parts == the live save, full ==
 * incremental).  Deterministic seeds, bounded steps.
 */
TEST(random_schedules)
{
	uint64_t seed;
	size_t steps = 0, evicted = 0, failed = 0, discarded = 0, resets = 0;

	for (seed = 1; seed <= 8; seed++) {
		tf_sim *sv = mk_server();
		tf_replica *a = mk("mdt-2a12", "alvarez");
		tf_replica *d = mk("console-dana", "dana");
		uint64_t rs = seed * 0x9e3779b97f4a7c15ULL;
		int64_t now = T0, skew = 0;
		char id[TF_UUID_LEN + 1], nid[TF_UUID_LEN + 40];
		store st;
		int i;

		memset(&st, 0, sizeof st);
		hidden_id[0] = '\0';
		tf_sim_set_visible(sv, hide_one, NULL);
		tf_sim_set_max_skew(sv, 60 * SEC);
		/* The reference server's pull needs a record to exist
		   (qsort of its empty change list otherwise). */
		CHECK_INT(CREATE(d, now, "incident", NULL,
				 "{\"fields\":{\"priority\":3}}"),
			  0);
		SYNC(sv, d, "console-dana", now);
		for (i = 0; i < 150; i++) {
			unsigned op = (unsigned)(tf_test_rand(&rs) % 16);
			char *reply;
			now += SEC;
			switch (op) {
			case 0:
			case 1:
				(void)CREATE(a, now + skew, "incident", NULL,
					     "{\"fields\":{\"priority\":%u}}",
					     op + 1);
				break;
			case 2:
			case 3:
				if (pick(a, &rs, id))
					(void)MUT(
						a, now + skew, "incident", id,
						op == 2 ? TF_OP_SET
							: TF_OP_APPEND,
						NULL,
						op == 2 ? "{\"fields\":{"
							  "\"priority\":4}}"
							: "{\"field\":"
							  "\"notes\",\"body\":"
							  "{\"text\":\"n\"}}");
				break;
			case 4:
				(void)CREATE(d, now, "incident", NULL,
					     "{\"fields\":{\"priority\":2}}");
				if (pick(d, &rs, id))
					(void)MUT(d, now, "incident", id,
						  TF_OP_SET, NULL,
						  "{\"fields\":{"
						  "\"priority\":1}}");
				SYNC(sv, d, "console-dana", now);
				break;
			case 5:
			case 6:
				/* A push; its reply sometimes lost. */
				reply = push_at(sv, a, now, now + skew,
						tf_test_rand(&rs) % 4 != 0);
				free(reply);
				break;
			case 7:
			case 8:
			case 9:
				if (pull_page(sv, a, "mdt-2a12", now,
					      1 + tf_test_rand(&rs) % 4) < 0)
					CHECK(0);
				break;
			case 10:
				/* A record leaves (or all return to) scope. */
				if (tf_test_rand(&rs) % 2 && pick(d, &rs, id))
					memcpy(hidden_id, id, sizeof hidden_id);
				else
					hidden_id[0] = '\0';
				tf_sim_touch_all(sv);
				break;
			case 11:
				/*
				 * The cursor falls out of retention: one
				 * reset page.  (The reference server resets
				 * every cursor below its floor, so the floor
				 * goes back for the resync to progress.)
				 */
				if (tf_test_rand(&rs) % 2 == 0) {
					tf_sim_set_retention(
						sv, tf_sim_feed_seq(sv));
					if (pull_page(sv, a, "mdt-2a12", now,
						      2) < 0)
						CHECK(0);
					resets +=
						tf_replica_cursor(a)[0] == '\0';
					tf_sim_set_retention(sv, 0);
				}
				break;
			case 12:
				if (pick(a, &rs, id)) {
					tf_sync_state s0 =
						tf_replica_state(a, id);
					int rc = tf_replica_evict(a, id, NULL);
					CHECK_INT(rc, s0 == TF_SYNC_SYNCED
							      ? 0
							      : TF_ESTATE);
					evicted += rc == 0;
				}
				break;
			case 13:
				if (first_notice(a, nid, sizeof nid))
					CHECK_INT(tf_replica_ack_notice(a, nid),
						  0);
				break;
			case 14:
				/* The device's clock runs fast, or right. */
				skew = skew ? 0 : 90 * SEC;
				break;
			default: {
				tf_err err;
				if (tf_sim_sync(sv, a, "mdt-2a12", now,
						now + skew, 3, &err) != 0)
					CHECK(0);
				break;
			}
			}
			switch (tf_test_rand(&rs) % 8) {
			case 0: {
				/* The sink fails part-way: nothing changes. */
				store before;
				sinkctx c;
				memset(&before, 0, sizeof before);
				store_copy(&before, &st);
				if (ckpt(a, &st, 0,
					 1 + (long)(tf_test_rand(&rs) % 5),
					 DONE, &c) == SINK_FAILED) {
					CHECK(store_equal(&before, &st) ||
					      before.head == NULL);
					failed++;
				}
				store_free(&before);
				break;
			}
			case 1:
				CHECK_INT(ckpt(a, &st, 0, 0, DISCARD, NULL), 0);
				discarded++;
				break;
			case 2:
			case 3:
				break; /* written later, with more */
			default:
				step_at(a, &st, __LINE__);
				steps++;
			}
		}
		step_at(a, &st, __LINE__);
		store_free(&st);
		tf_replica_free(a);
		tf_replica_free(d);
		tf_sim_free(sv);
	}
	CHECK(steps > 500);
	CHECK(failed > 40 && discarded > 40);
	CHECK(evicted > 0 && resets > 0);
	fprintf(stderr,
		"random_schedules: %zu checked steps, %zu sink failures, "
		"%zu uncommitted, %zu evictions, %zu resets\n",
		steps, failed, discarded, evicted, resets);
}

int main(int argc, char **argv)
{
	(void)argc;
	schema = load_schema();
	RUN(every_step_round_trips);
	RUN(sink_failure_then_retry);
	RUN(uncommitted_checkpoint_and_changes_during_commit);
	RUN(evict_refusals);
	RUN(load_parts_refusals);
	RUN(pull_page_remaining);
	RUN(replica_remaining);
	RUN(json_api_methods);
	RUN(random_schedules);
	tf_schema_free(schema);
	return tf_test_finish(argv[0]);
}

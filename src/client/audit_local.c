/*
 * audit_local.c - the client's local audit log: hash-chained entries
 * (core audit.h builds the canonical bytes, this file hashes them with
 * tf_sha256), sealed in the store as TF_SK_AUDIT rows keyed by the
 * 20-digit seq.  While the store is locked (a failed unlock, an expired
 * grant) entries wait in the device-sealed meta "audit.q" and move into
 * rows at the next unlock, so the chain never forks.  The head (seq,
 * hash) lives in meta "audit", written in the same transaction as each
 * entry.  Contract: internal.h.
 */
#include "client/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUDIT_META "audit"
#define AUDIT_QUEUE "audit.q"
#define SEQ_KEY_LEN 20

static void seq_key(uint64_t seq, char key[SEQ_KEY_LEN + 1])
{
	snprintf(key, SEQ_KEY_LEN + 1, "%020" PRIu64, seq);
}

static void hex_of(const uint8_t h[TF_SHA256_LEN],
		   char out[TF_AUDIT_PREV_LEN + 1])
{
	static const char dig[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < TF_SHA256_LEN; i++) {
		out[2 * i] = dig[h[i] >> 4];
		out[2 * i + 1] = dig[h[i] & 15];
	}
	out[TF_AUDIT_PREV_LEN] = '\0';
}

/* 64 lower-case hex digits into 32 bytes; -1 when not that. */
static int hex_to(const char *hex, uint8_t out[TF_SHA256_LEN])
{
	size_t i;
	int hi, lo;

	if (strlen(hex) != TF_AUDIT_PREV_LEN)
		return -1;
	for (i = 0; i < TF_SHA256_LEN; i++) {
		char a = hex[2 * i], b = hex[2 * i + 1];

		hi = a >= '0' && a <= '9' ? a - '0'
		     : a >= 'a' && a <= 'f' ? a - 'a' + 10
					    : -1;
		lo = b >= '0' && b <= '9' ? b - '0'
		     : b >= 'a' && b <= 'f' ? b - 'a' + 10
					    : -1;
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int is_hash_hex(const char *s)
{
	uint8_t tmp[TF_SHA256_LEN];

	return s != NULL && hex_to(s, tmp) == 0;
}

void tfc_audit_forget(tf_client *c)
{
	c->audit_base_seq = 0;
	memcpy(c->audit_base_prev, tf_audit_genesis, sizeof c->audit_base_prev);
	c->audit_seq = 0;
	memcpy(c->audit_hash, tf_audit_genesis, sizeof c->audit_hash);
	c->audit_sent = 0;
	c->audit_ts = 0;
}

/* Writes the chain state of c into meta "audit". */
static int audit_meta_save(tf_client *c, tf_err *err)
{
	tf_buf b;
	int rc;

	tf_buf_init(&b);
	tf_buf_printf(&b,
		      "{\"base_prev\":\"%s\",\"base_seq\":%" PRIu64
		      ",\"hash\":\"%s\",\"sent_seq\":%" PRIu64
		      ",\"seq\":%" PRIu64 ",\"ts\":%" PRId64 "}",
		      c->audit_base_prev, c->audit_base_seq, c->audit_hash,
		      c->audit_sent, c->audit_seq, c->audit_ts);
	rc = b.failed ? tf_err_set(err, b.failed, "audit", "no memory")
		      : tf_store_meta_put(c->store, AUDIT_META, b.data, b.len,
					  err);
	tf_buf_free(&b);
	return rc;
}

static int get_u64(const tf_json *o, const char *k, uint64_t *out)
{
	return tf_json_uint64(tf_json_object_get(o, k), out);
}

int tfc_audit_load(tf_client *c, tf_err *err)
{
	tf_json *o = NULL;
	const char *bp, *h;
	uint64_t ts = 0;
	tf_buf b;
	int rc;

	tfc_audit_forget(c);
	tf_buf_init(&b);
	rc = tf_store_meta_get(c->store, AUDIT_META, &b, err);
	if (rc == TF_ENOTFOUND) {
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	rc = tf_json_parse(b.data, b.len, NULL, &o, err);
	if (rc)
		goto out;
	bp = o->type == TF_JSON_OBJECT ? tf_json_get_str(o, "base_prev", NULL)
				       : NULL;
	h = o->type == TF_JSON_OBJECT ? tf_json_get_str(o, "hash", NULL) : NULL;
	if (!is_hash_hex(bp) || !is_hash_hex(h) ||
	    get_u64(o, "base_seq", &c->audit_base_seq) != 0 ||
	    get_u64(o, "seq", &c->audit_seq) != 0 ||
	    get_u64(o, "sent_seq", &c->audit_sent) != 0 ||
	    get_u64(o, "ts", &ts) != 0 || c->audit_seq < c->audit_base_seq ||
	    ts > (uint64_t)INT64_MAX) {
		tfc_audit_forget(c);
		rc = tf_err_set(err, TF_EPROTO, "meta.audit",
				"the stored audit head is malformed");
		goto out;
	}
	memcpy(c->audit_base_prev, bp, TF_AUDIT_PREV_LEN + 1);
	memcpy(c->audit_hash, h, TF_AUDIT_PREV_LEN + 1);
	c->audit_ts = (int64_t)ts;
out:
	tf_json_free(o);
	tf_buf_free(&b);
	return rc;
}

int tfc_audit_rebase(tf_client *c, uint64_t seq, const char *hash_hex,
		     tf_err *err)
{
	if (c->store == NULL || c->audit_seq != 0 || c->audit_base_seq != 0)
		return tf_err_set(err, TF_ESTATE, "audit",
				  "the local audit chain has entries already");
	if (seq == 0)
		hash_hex = tf_audit_genesis;
	if (!is_hash_hex(hash_hex) || seq > ((uint64_t)1 << 53))
		return tf_err_set(err, TF_EPROTO, "head",
				  "the server's audit head is malformed");
	c->audit_base_seq = seq;
	memcpy(c->audit_base_prev, hash_hex, TF_AUDIT_PREV_LEN + 1);
	c->audit_seq = seq;
	memcpy(c->audit_hash, hash_hex, TF_AUDIT_PREV_LEN + 1);
	c->audit_sent = seq;
	return audit_meta_save(c, err);
}

/*
 * Appends entry (seq, bytes, hash) to the store: a sealed row when
 * unlocked, else a line "<seq20> <entry>" of the meta queue; the head in
 * meta "audit" in the same transaction.  c's head moves only on commit.
 */
static int audit_store(tf_client *c, uint64_t seq, int64_t ts,
		       const tf_buf *entry, const char *hash, tf_err *err)
{
	uint64_t old_seq = c->audit_seq;
	int64_t old_ts = c->audit_ts;
	char old_hash[TF_AUDIT_PREV_LEN + 1], key[SEQ_KEY_LEN + 1];
	size_t lines = 0, i;
	tf_buf q;
	int rc;

	tf_buf_init(&q);
	memcpy(old_hash, c->audit_hash, sizeof old_hash);
	seq_key(seq, key);
	if (!tf_store_unlocked(c->store)) {
		rc = tf_store_meta_get(c->store, AUDIT_QUEUE, &q, err);
		if (rc == TF_ENOTFOUND)
			rc = 0;
		if (rc)
			goto out;
		for (i = 0; i < q.len; i++)
			lines += q.data[i] == '\n';
		if (lines >= TFC_AUDIT_QUEUE_MAX ||
		    q.len + entry->len + SEQ_KEY_LEN + 2 > TF_STORE_META_MAX) {
			rc = tf_err_set(err, TF_ELIMIT, AUDIT_QUEUE,
					"%d audit entries wait for an unlock "
					"already",
					TFC_AUDIT_QUEUE_MAX);
			goto out;
		}
		tf_buf_printf(&q, "%s ", key);
		tf_buf_append(&q, entry->data, entry->len);
		tf_buf_putc(&q, '\n');
		if (q.failed) {
			rc = tf_err_set(err, q.failed, AUDIT_QUEUE,
					"no memory for the audit queue");
			goto out;
		}
	}
	rc = tf_store_begin(c->store, err);
	if (rc)
		goto out;
	c->audit_seq = seq;
	c->audit_ts = ts;
	memcpy(c->audit_hash, hash, TF_AUDIT_PREV_LEN + 1);
	if (tf_store_unlocked(c->store))
		rc = tf_store_put(c->store, TF_SK_AUDIT, key, entry->data,
				  entry->len, 0, err);
	else
		rc = tf_store_meta_put(c->store, AUDIT_QUEUE, q.data, q.len,
				       err);
	if (rc == 0)
		rc = audit_meta_save(c, err);
	if (rc == 0)
		rc = tf_store_commit(c->store, err);
	if (rc) {
		tf_store_rollback(c->store);
		c->audit_seq = old_seq;
		c->audit_ts = old_ts;
		memcpy(c->audit_hash, old_hash, sizeof old_hash);
	}
out:
	if (q.data)
		tf_cleanse(q.data, q.cap);
	tf_buf_free(&q);
	return rc;
}

int tfc_audit_ev(tf_client *c, const tf_audit_event *in, tf_err *err)
{
	uint8_t h[TF_SHA256_LEN];
	char hex[TF_AUDIT_PREV_LEN + 1];
	int64_t wall = 0;
	tf_audit_event ev;
	tf_buf b;
	int rc;

	if (c->store == NULL)
		return tf_err_set(err, TF_ESTATE, "audit",
				  "no store to write the audit entry into");
	rc = tfc_now(c, &wall, NULL);
	if (rc)
		return tf_err_set(err, rc, "clock", "the wall clock is out of "
						    "range");
	ev = *in;
	ev.seq = c->audit_seq + 1;
	/* ts never goes back along the chain, except at the entries that
	   record the clock's step back (audit.h). */
	ev.ts_ms = wall;
	if (in->type != TF_AUDIT_CLOCK_ROLLBACK &&
	    in->type != TF_AUDIT_CLOCK_REBASE && wall < c->audit_ts)
		ev.ts_ms = c->audit_ts;
	ev.user = c->has_grant ? c->grant.user
		  : c->user[0] ? c->user
			       : "system";
	ev.device = c->id.device[0] ? c->id.device : NULL;
	ev.agency = c->id.agency[0] ? c->id.agency : NULL;
	ev.role = c->has_grant && c->grant.nroles > 0 ? c->grant.roles[0]
						       : NULL;
	ev.source = "local";
	ev.prev = c->audit_hash;
	if (ev.where == NULL)
		ev.where = "mdt";
	tf_buf_init(&b);
	rc = tf_audit_write(&ev, &b, err);
	if (rc)
		goto out;
	rc = tf_sha256(b.data, b.len, h);
	if (rc) {
		tf_err_set(err, rc, "audit", "SHA-256 of the entry failed");
		goto out;
	}
	hex_of(h, hex);
	rc = audit_store(c, ev.seq, ev.ts_ms, &b, hex, err);
out:
	if (b.data)
		tf_cleanse(b.data, b.cap);
	tf_buf_free(&b);
	return rc;
}

int tfc_audit(tf_client *c, tf_audit_type type, int success,
	      const char *where, const char *entity, const char *record_id,
	      const char *field, const char *detail_json, tf_err *err)
{
	tf_json *detail = NULL;
	tf_audit_event ev;
	int rc;

	memset(&ev, 0, sizeof ev);
	if (detail_json) {
		rc = tf_json_parse(detail_json, strlen(detail_json), NULL,
				   &detail, err);
		if (rc)
			return rc;
	}
	ev.type = type;
	ev.success = success;
	ev.where = where;
	ev.entity = entity;
	ev.record_id = record_id;
	ev.field = field;
	ev.detail = detail;
	rc = tfc_audit_ev(c, &ev, err);
	tf_json_free(detail);
	return rc;
}

int tfc_audit_flush(tf_client *c, tf_err *err)
{
	char key[SEQ_KEY_LEN + 1];
	size_t i, start;
	tf_buf q;
	int rc;

	if (c->store == NULL || !tf_store_unlocked(c->store))
		return tf_err_set(err, TF_ELOCKED, "audit",
				  "the store is locked");
	tf_buf_init(&q);
	rc = tf_store_meta_get(c->store, AUDIT_QUEUE, &q, err);
	if (rc == TF_ENOTFOUND) {
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	rc = tf_store_begin(c->store, err);
	if (rc)
		goto out;
	for (start = 0, i = 0; rc == 0 && i < q.len; i++) {
		if (q.data[i] != '\n')
			continue;
		if (i - start < SEQ_KEY_LEN + 2 ||
		    q.data[start + SEQ_KEY_LEN] != ' ') {
			rc = tf_err_set(err, TF_EPROTO, AUDIT_QUEUE,
					"malformed queued audit entry at "
					"byte %zu",
					start);
			break;
		}
		memcpy(key, q.data + start, SEQ_KEY_LEN);
		key[SEQ_KEY_LEN] = '\0';
		rc = tf_store_put(c->store, TF_SK_AUDIT, key,
				  q.data + start + SEQ_KEY_LEN + 1,
				  i - start - SEQ_KEY_LEN - 1, 0, err);
		start = i + 1;
	}
	if (rc == 0)
		rc = tf_store_meta_del(c->store, AUDIT_QUEUE, err);
	if (rc == 0)
		rc = tf_store_commit(c->store, err);
	if (rc)
		tf_store_rollback(c->store);
out:
	if (q.data)
		tf_cleanse(q.data, q.cap);
	tf_buf_free(&q);
	return rc;
}

int tfc_audit_head_entry(tf_client *c, tf_buf *out, tf_err *err)
{
	char key[SEQ_KEY_LEN + 1];
	size_t i, start = 0;
	tf_buf q;
	int rc;

	if (c->store == NULL || c->audit_seq == c->audit_base_seq)
		return tf_err_set(err, TF_ENOTFOUND, "audit", "no entry");
	seq_key(c->audit_seq, key);
	if (tf_store_unlocked(c->store))
		return tf_store_get(c->store, TF_SK_AUDIT, key, out, err);
	tf_buf_init(&q);
	rc = tf_store_meta_get(c->store, AUDIT_QUEUE, &q, err);
	if (rc)
		goto out;
	/* the queue's last line, if it is the head */
	for (i = 0; i + 1 < q.len; i++) {
		if (q.data[i] == '\n')
			start = i + 1;
	}
	if (q.len < start + SEQ_KEY_LEN + 2 ||
	    memcmp(q.data + start, key, SEQ_KEY_LEN) != 0) {
		rc = tf_err_set(err, TF_ENOTFOUND, "audit",
				"the head entry is not queued");
		goto out;
	}
	if (tf_buf_append(out, q.data + start + SEQ_KEY_LEN + 1,
			  q.len - start - SEQ_KEY_LEN - 2) != 0)
		rc = tf_err_set(err, TF_ENOMEM, "audit", "no memory");
out:
	if (q.data)
		tf_cleanse(q.data, q.cap);
	tf_buf_free(&q);
	return rc;
}

/* ---------------------------------------------------------- reading */

typedef struct each_ctx {
	uint64_t from;
	size_t max, count;
	int stopped;
	tfc_audit_fn fn;
	void *ctx;
} each_ctx;

static int each_row(void *ctx, const char *key, const char *data, size_t len)
{
	each_ctx *w = ctx;
	uint64_t seq;
	char *end = NULL;

	seq = strtoull(key, &end, 10);
	if (end == NULL || *end != '\0')
		return TF_EPROTO;
	if (seq <= w->from)
		return 0;
	if (w->count >= w->max) {
		w->stopped = 1;
		return 1;
	}
	w->count++;
	return w->fn(w->ctx, seq, data, len);
}

int tfc_audit_each(tf_client *c, uint64_t from_seq, size_t max,
		   tfc_audit_fn fn, void *ctx, tf_err *err)
{
	each_ctx w;
	int rc;

	rc = tfc_audit_flush(c, err);
	if (rc)
		return rc;
	memset(&w, 0, sizeof w);
	w.from = from_seq;
	w.max = max;
	w.fn = fn;
	w.ctx = ctx;
	rc = tf_store_scan(c->store, TF_SK_AUDIT, each_row, &w, err);
	if (w.stopped && rc == 1)
		rc = 0;
	if (rc == TF_EPROTO)
		tf_err_set(err, rc, "audit", "an audit row has a bad key");
	return rc;
}

uint64_t tfc_audit_sent(tf_client *c)
{
	return c->audit_sent;
}

int tfc_audit_uploaded(tf_client *c, uint64_t seq, const char *hash_hex,
		       tf_err *err)
{
	uint8_t h[TF_SHA256_LEN];
	char hex[TF_AUDIT_PREV_LEN + 1], key[SEQ_KEY_LEN + 1];
	const char *want;
	tf_buf b;
	int rc = 0;

	if (c->store == NULL)
		return tf_err_set(err, TF_ESTATE, "audit", "no store");
	if (hash_hex == NULL || seq < c->audit_base_seq || seq > c->audit_seq)
		return tf_err_set(err, TF_EHASH, "head",
				  "the server's audit head (seq %" PRIu64
				  ") is outside the local chain (%" PRIu64
				  "..%" PRIu64 ")",
				  seq, c->audit_base_seq, c->audit_seq);
	tf_buf_init(&b);
	if (seq == c->audit_seq) {
		want = c->audit_hash;
	} else if (seq == c->audit_base_seq) {
		want = c->audit_base_prev;
	} else {
		seq_key(seq, key);
		rc = tf_store_get(c->store, TF_SK_AUDIT, key, &b, err);
		if (rc == 0)
			rc = tf_sha256(b.data, b.len, h);
		if (rc)
			goto out;
		hex_of(h, hex);
		want = hex;
	}
	if (strcmp(want, hash_hex) != 0) {
		rc = tf_err_set(err, TF_EHASH, "head",
				"the server's audit head at seq %" PRIu64
				" is not the local entry's hash",
				seq);
		goto out;
	}
	if (seq > c->audit_sent) {
		uint64_t old = c->audit_sent;

		c->audit_sent = seq;
		rc = audit_meta_save(c, err);
		if (rc)
			c->audit_sent = old;
	}
out:
	tf_buf_free(&b);
	return rc;
}

/* ------------------------------------------------------- public calls */

typedef struct collect_ctx {
	tf_buf *out;
	size_t n;
} collect_ctx;

static int collect_json(void *ctx, uint64_t seq, const char *entry,
			size_t len)
{
	collect_ctx *w = ctx;

	(void)seq;
	if (w->n++ > 0)
		tf_buf_putc(w->out, ',');
	tf_buf_append(w->out, entry, len);
	return w->out->failed;
}

int tf_client_audit(tf_client *c, uint64_t from_seq, tf_buf *out,
		    tf_err *err)
{
	collect_ctx w;
	size_t mark = out->len;
	char detail[64];
	int rc;

	rc = tfc_require_unlocked(c, err);
	if (rc)
		return rc;
	tfc_activity(c);
	w.out = out;
	w.n = 0;
	tf_buf_putc(out, '[');
	rc = tfc_audit_each(c, from_seq, TF_AUDIT_VERIFY_MAX, collect_json,
			    &w, err);
	tf_buf_putc(out, ']');
	if (rc == 0 && out->failed)
		rc = tf_err_set(err, out->failed, "audit",
				"the audit log does not fit the buffer");
	if (rc == 0) {
		snprintf(detail, sizeof detail,
			 "{\"entries\":%zu,\"from\":%" PRIu64 "}", w.n,
			 from_seq);
		rc = tfc_audit(c, TF_AUDIT_AUDIT_READ, 1, "mdt/audit", NULL,
			       NULL, NULL, detail, err);
	}
	if (rc) {
		if (out->data)
			tf_cleanse(out->data + mark, out->len - mark);
		out->len = mark;
	}
	return rc;
}

typedef struct verify_ctx {
	tf_audit_blob *blobs;
	char **copies;
	size_t n, cap;
	int rc;
} verify_ctx;

static int collect_blob(void *ctx, uint64_t seq, const char *entry,
			size_t len)
{
	verify_ctx *w = ctx;
	size_t ncap;

	(void)seq;
	if (w->n == w->cap) {
		tf_audit_blob *nb;
		char **nc;

		ncap = w->cap ? w->cap * 2 : 64;
		nb = realloc(w->blobs, ncap * sizeof *nb);
		if (nb == NULL)
			return TF_ENOMEM;
		w->blobs = nb;
		nc = realloc(w->copies, ncap * sizeof *nc);
		if (nc == NULL)
			return TF_ENOMEM;
		w->copies = nc;
		w->cap = ncap;
	}
	w->copies[w->n] = malloc(len + 1);
	if (w->copies[w->n] == NULL)
		return TF_ENOMEM;
	memcpy(w->copies[w->n], entry, len);
	w->copies[w->n][len] = '\0';
	w->blobs[w->n].bytes = w->copies[w->n];
	w->blobs[w->n].len = len;
	if (tf_sha256(entry, len, w->blobs[w->n].hash) != 0) {
		free(w->copies[w->n]);
		return TF_EIO;
	}
	w->n++;
	return 0;
}

int tf_client_audit_verify(tf_client *c, tf_err *err)
{
	char hex[TF_AUDIT_PREV_LEN + 1];
	tf_audit_anchor anchor;
	tf_audit_report rep;
	verify_ctx w;
	size_t i;
	int rc;

	rc = tfc_require_unlocked(c, err);
	if (rc)
		return rc;
	tfc_activity(c);
	memset(&w, 0, sizeof w);
	memset(&anchor, 0, sizeof anchor);
	rc = tfc_audit_each(c, 0, TF_AUDIT_VERIFY_MAX, collect_blob, &w, err);
	if (rc) {
		if (rc == TF_ENOMEM)
			tf_err_set(err, rc, "audit", "no memory");
		goto out;
	}
	anchor.has_first = 1;
	anchor.first_seq = c->audit_base_seq + 1;
	if (hex_to(c->audit_base_prev, anchor.first_prev) != 0) {
		rc = tf_err_set(err, TF_EHASH, "meta.audit",
				"the chain's base hash is malformed");
		goto out;
	}
	rc = tf_audit_verify(w.blobs, w.n, &anchor, &rep);
	if (rc == TF_EVALIDATE) {
		rc = tf_err_set(err, TF_EHASH, "audit", "%s: %s",
				tf_audit_fault_name(rep.fault), rep.msg);
		goto out;
	}
	if (rc) {
		tf_err_set(err, rc, "audit", "verification failed");
		goto out;
	}
	/* The head (written with every entry) catches a cut-off tail. */
	if (w.n == 0 ? c->audit_seq != c->audit_base_seq
		     : rep.seq != c->audit_seq) {
		rc = tf_err_set(err, TF_EHASH, "audit",
				"the chain ends at seq %" PRIu64
				" but its head says %" PRIu64
				": entries were removed",
				w.n ? rep.seq : c->audit_base_seq,
				c->audit_seq);
		goto out;
	}
	if (w.n > 0) {
		hex_of(w.blobs[w.n - 1].hash, hex);
		if (strcmp(hex, c->audit_hash) != 0) {
			rc = tf_err_set(err, TF_EHASH, "audit",
					"the last entry (seq %" PRIu64
					") is not the recorded head",
					rep.seq);
			goto out;
		}
	}
out:
	for (i = 0; i < w.n; i++) {
		tf_cleanse(w.copies[i], w.blobs[i].len);
		free(w.copies[i]);
	}
	free(w.copies);
	free(w.blobs);
	return rc;
}

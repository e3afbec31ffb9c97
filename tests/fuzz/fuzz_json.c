/*
 * fuzz_json.c - libFuzzer target for the strict JSON module.
 *
 * Parses the input under small limits.  When it parses: the canonical
 * bytes parse again to an equal tree whose canonical bytes are identical
 * (canonical form is a fixed point); every object is strictly sorted; a
 * clone is equal and writes the same bytes; every member of a top-level
 * object is found by binary search; for arrays, tf_json_compare and
 * tf_json_equal of neighbouring items agree with memcmp of their canonical
 * bytes.  When it fails, the error carries a position inside the input.
 * Any disagreement aborts.
 */
#include "tenfour/json.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const tf_json_limits lim = {
	4096, /* max_bytes */
	16,   /* max_depth */
	256,  /* max_string */
	64,   /* max_items */
	32,   /* max_members */
	32,   /* max_number */
};

static void must(int cond)
{
	if (!cond)
		abort();
}

static int sign(int x)
{
	return (x > 0) - (x < 0);
}

/* Writes v into b from empty; aborts unless it succeeds. */
static void write_fresh(const tf_json *v, tf_buf *b)
{
	tf_buf_reset(b);
	must(tf_json_write(v, b) == 0);
}

static int bytes_order(const tf_buf *a, const tf_buf *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int c = n ? memcmp(a->data, b->data, n) : 0;

	if (c)
		return sign(c);
	return a->len < b->len ? -1 : a->len > b->len;
}

static void check_order(const tf_json *x, const tf_json *y)
{
	tf_buf bx, by;
	int want;

	tf_buf_init(&bx);
	tf_buf_init(&by);
	write_fresh(x, &bx);
	write_fresh(y, &by);
	want = bytes_order(&bx, &by);
	must(tf_json_compare(x, y) == want);
	must(tf_json_compare(y, x) == -want);
	must(tf_json_equal(x, y) == (want == 0));
	tf_buf_free(&bx);
	tf_buf_free(&by);
}

/* Every object of the tree holds its keys strictly ascending (depth <= 16). */
static void check_sorted(const tf_json *v)
{
	size_t i;

	if (v->type == TF_JSON_ARRAY) {
		for (i = 0; i < v->len; i++)
			check_sorted(v->u.items[i]);
	} else if (v->type == TF_JSON_OBJECT) {
		for (i = 0; i < v->len; i++) {
			const tf_json_member *m = &v->u.members[i];

			if (i) {
				const tf_json_member *p = m - 1;
				size_t n = p->klen < m->klen ? p->klen : m->klen;
				int c = memcmp(p->key, m->key, n);

				must(c < 0 || (c == 0 && p->klen < m->klen));
			}
			must(m->value != NULL);
			check_sorted(m->value);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tf_json *v = NULL, *w = NULL, *c = NULL;
	tf_buf b1, b2, b3;
	tf_err err;
	size_t i;
	int rc;

	tf_buf_init(&b1);
	tf_buf_init(&b2);
	tf_buf_init(&b3);
	rc = tf_json_parse((const char *)data, size, &lim, &v, &err);
	if (rc) {
		must(v == NULL);
		must(rc == TF_EJSON || rc == TF_EUTF8 || rc == TF_EDUPKEY ||
		     rc == TF_ELIMIT || rc == TF_ENOMEM);
		must(err.code == rc && err.offset <= size && err.line >= 1 &&
		     err.col >= 1 && strncmp(err.msg, "line ", 5) == 0);
		/* a duplicate is reported at its key's opening quote */
		if (rc == TF_EDUPKEY)
			must(err.offset < size && data[err.offset] == '"');
		goto out;
	}
	check_sorted(v);
	write_fresh(v, &b1);
	must(b1.len <= size);
	must(tf_json_parse(b1.data, b1.len, &lim, &w, &err) == 0);
	write_fresh(w, &b2);
	must(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
	must(tf_json_equal(v, w));
	must(tf_json_compare(v, w) == 0);

	c = tf_json_clone(v);
	must(c != NULL);
	must(tf_json_equal(v, c));
	write_fresh(c, &b3);
	must(b3.len == b1.len && memcmp(b3.data, b1.data, b1.len) == 0);

	if (v->type == TF_JSON_OBJECT) {
		for (i = 0; i < v->len; i++) {
			const tf_json_member *m = &v->u.members[i];

			must(tf_json_object_getn(v, m->key, m->klen) ==
			     m->value);
			must(tf_utf8_valid(m->key, m->klen));
		}
	}
	if (v->type == TF_JSON_ARRAY) {
		for (i = 0; i + 1 < v->len && i < 8; i++)
			check_order(v->u.items[i], v->u.items[i + 1]);
	}
	/* Editing the clone: take every member back out, in key order. */
	if (c->type == TF_JSON_OBJECT) {
		while (c->len) {
			tf_json *t = tf_json_object_take(c, c->u.members[0].key);

			must(t != NULL);
			tf_json_free(t);
		}
	}
out:
	tf_json_free(v);
	tf_json_free(w);
	tf_json_free(c);
	tf_buf_free(&b1);
	tf_buf_free(&b2);
	tf_buf_free(&b3);
	return 0;
}

/*
 * fuzz_diff3.c - libFuzzer target for the word diff and diff3.
 *
 * Input: base, head and proposed separated by NUL bytes (a missing part is
 * empty; further NULs belong to proposed).  Any bytes are allowed, invalid
 * UTF-8 included: the diff must never read out of bounds.  Checked on
 * every input:
 *   - the tokenizer's ends tile each text;
 *   - tf_diff3_merge returns 0 or TF_ELIMIT, is symmetric in its sides
 *     (same cleanliness, same merged bytes), and when one side equals the
 *     base (or both sides are equal) it is clean and gives the other side;
 *   - a conflict or an error leaves the merge buffer untouched;
 *   - the JSON functions agree with the merge on errors, and for valid
 *     UTF-8 their output parses and rebuilds every input text, and the
 *     three-way hunks rebuild the merged text of a clean merge.
 */
#include "tenfour/diff.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(c)                                                             \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

typedef struct part {
	const char *s;
	size_t len;
} part;

static int part_eq(part x, const char *s, size_t len)
{
	return x.len == len && (len == 0 || memcmp(x.s, s, len) == 0);
}

static void check_tokens(part p)
{
	size_t n = 0, i, prev = 0, *ends;

	REQUIRE(tf_diff_tokenize(p.s, p.len, NULL, 0, &n) == 0);
	ends = malloc((n ? n : 1) * sizeof *ends);
	REQUIRE(ends != NULL);
	REQUIRE(tf_diff_tokenize(p.s, p.len, ends, n, &n) == 0);
	for (i = 0; i < n; i++) {
		REQUIRE(ends[i] > prev);
		prev = ends[i];
	}
	REQUIRE(prev == p.len);
	free(ends);
}

/* Merge into a buffer holding "#"; returns rc, fills *clean. */
static int merge(part o, part a, part b, tf_buf *out, int *clean)
{
	int rc;

	tf_buf_init(out);
	tf_buf_putc(out, '#');
	*clean = -1;
	rc = tf_diff3_merge(o.s, o.len, a.s, a.len, b.s, b.len, out, clean);
	REQUIRE(rc == 0 || rc == TF_ELIMIT);
	REQUIRE(*clean == 0 || *clean == 1);
	REQUIRE(rc == 0 || *clean == 0);
	if (!*clean)
		REQUIRE(out->len == 1 && out->data[0] == '#');
	return rc;
}

/* Concatenates member `key` of every hunk of array v into out. */
static void join_member(const tf_json *v, const char *key, tf_buf *out)
{
	size_t i, len;

	for (i = 0; i < v->len; i++) {
		const char *s = tf_json_get_str(v->u.items[i], key, &len);
		if (s)
			tf_buf_append(out, s, len);
	}
}

static void check_diff_json(part a, part b)
{
	tf_buf out, ra, rb;
	tf_json *v = NULL;
	int rc;

	tf_buf_init(&out);
	rc = tf_diff_json(a.s, a.len, b.s, b.len, &out);
	REQUIRE(rc == 0 || rc == TF_ELIMIT);
	if (rc) {
		REQUIRE(out.len == 0);
		return;
	}
	if (tf_utf8_valid(a.s, a.len) && tf_utf8_valid(b.s, b.len)) {
		tf_buf_init(&ra);
		tf_buf_init(&rb);
		REQUIRE(tf_json_parse(out.data, out.len, NULL, &v, NULL) == 0);
		REQUIRE(v->type == TF_JSON_ARRAY);
		join_member(v, "a", &ra);
		join_member(v, "b", &rb);
		REQUIRE(part_eq(a, ra.data, ra.len));
		REQUIRE(part_eq(b, rb.data, rb.len));
		tf_json_free(v);
		tf_buf_free(&rb);
		tf_buf_free(&ra);
	}
	tf_buf_free(&out);
}

/* Three-way hunks rebuild o, a, b and, when clean, the merged text. */
static void check_diff3_json(part o, part a, part b, int mrc, int clean,
			     const tf_buf *merged)
{
	tf_buf out, r;
	tf_json *v = NULL;
	size_t i;
	int rc;

	tf_buf_init(&out);
	rc = tf_diff3_json(o.s, o.len, a.s, a.len, b.s, b.len, &out);
	REQUIRE(rc == mrc);
	if (rc) {
		REQUIRE(out.len == 0);
		return;
	}
	if (tf_utf8_valid(o.s, o.len) && tf_utf8_valid(a.s, a.len) &&
	    tf_utf8_valid(b.s, b.len)) {
		int conflicts = 0;

		REQUIRE(tf_json_parse(out.data, out.len, NULL, &v, NULL) == 0);
		REQUIRE(v->type == TF_JSON_ARRAY);
		tf_buf_init(&r);
		join_member(v, "base", &r);
		REQUIRE(part_eq(o, r.data, r.len));
		tf_buf_reset(&r);
		join_member(v, "head", &r);
		REQUIRE(part_eq(a, r.data, r.len));
		tf_buf_reset(&r);
		join_member(v, "proposed", &r);
		REQUIRE(part_eq(b, r.data, r.len));
		tf_buf_reset(&r);
		for (i = 0; i < v->len; i++) {
			const tf_json *h = v->u.items[i];
			const char *kind = tf_json_get_str(h, "kind", NULL);
			const char *key = "base";
			const char *s;
			size_t len = 0;

			REQUIRE(kind != NULL);
			if (strcmp(kind, "head") == 0 ||
			    strcmp(kind, "both") == 0)
				key = "head";
			else if (strcmp(kind, "proposed") == 0)
				key = "proposed";
			else if (strcmp(kind, "conflict") == 0)
				conflicts++;
			else
				REQUIRE(strcmp(kind, "same") == 0);
			s = tf_json_get_str(h, key, &len);
			REQUIRE(s != NULL);
			tf_buf_append(&r, s, len);
		}
		REQUIRE(clean == (conflicts == 0));
		if (clean)
			REQUIRE(merged->len - 1 == r.len &&
				(r.len == 0 ||
				 memcmp(merged->data + 1, r.data, r.len) == 0));
		tf_buf_free(&r);
		tf_json_free(v);
	}
	tf_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	part p[3];
	size_t i, k = 0, start = 0;
	tf_buf m1, m2;
	int c1, c2, rc1, rc2;

	for (i = 0; i < 3; i++) {
		p[i].s = "";
		p[i].len = 0;
	}
	for (i = 0; i <= size && k < 3; i++) {
		if (i == size || (s[i] == '\0' && k < 2)) {
			p[k].s = size ? s + start : "";
			p[k].len = i - start;
			k++;
			start = i + 1;
		}
	}
	for (i = 0; i < 3; i++)
		check_tokens(p[i]);

	rc1 = merge(p[0], p[1], p[2], &m1, &c1);
	rc2 = merge(p[0], p[2], p[1], &m2, &c2);
	REQUIRE(rc1 == rc2 && c1 == c2);
	REQUIRE(m1.len == m2.len && memcmp(m1.data, m2.data, m1.len) == 0);
	if (rc1 == 0) {
		const part *want = NULL;

		if (part_eq(p[0], p[1].s, p[1].len))
			want = &p[2];
		else if (part_eq(p[0], p[2].s, p[2].len) ||
			 part_eq(p[1], p[2].s, p[2].len))
			want = &p[1];
		if (want) {
			REQUIRE(c1 == 1);
			REQUIRE(part_eq(*want, m1.data + 1, m1.len - 1));
		}
	}
	check_diff3_json(p[0], p[1], p[2], rc1, c1, &m1);
	check_diff_json(p[0], p[1]);
	check_diff_json(p[1], p[2]);
	tf_buf_free(&m2);
	tf_buf_free(&m1);
	return 0;
}

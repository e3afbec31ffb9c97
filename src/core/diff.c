/*
 * diff.c - word-level two-way diff and three-way merge (diff3) for text
 * fields.  Contract in tenfour/diff.h; the merge rules are in
 * docs/PROTOCOL.md (text conflicts).
 *
 * Pipeline: each text is split into tokens (byte offsets); every token is
 * interned so equal tokens share a uint32 id and comparing two tokens is one
 * integer compare; the common prefix and suffix are trimmed; Myers' O(ND)
 * algorithm in its linear-space form (Myers 1986, section 4b: find the
 * middle snake of an optimal path by searching forward and backward at
 * once, then recurse on both halves) runs on what is left.  The result of a
 * diff is, for every token of the first text, the index of its partner in
 * the second or -1.  diff3 is the classic algorithm (Khanna, Kunal and
 * Pierce, "A formal investigation of diff3", 2007) over the two matchings
 * base->head and base->proposed.
 *
 * Everything is deterministic and independent of the hash function: ids
 * only stand for byte-equal tokens, so natively and in wasm a merge gives
 * the same bytes.
 *
 * Memory, for T tokens over the inputs of one call (T <= 3 *
 * TF_DIFF_MAX_TOKENS), in bytes on a 64-bit host:
 *   - per token: 8 (offset) + 4 (id) + 4 (representative table);
 *   - the intern table: 8 per slot, at most 4 slots per distinct token
 *     (load <= 1/2, doubling; it starts at <= 4096 slots), the old table
 *     alive during a doubling;
 *   - per pairwise diff: 4 per token of the first text (partners) and
 *     8 * (N' + M' + 3) for the two diagonal vectors, N' and M' being what
 *     is left after trimming the common prefix and suffix;
 *   - stack: the divide and conquer recurses only into the lower half of a
 *     split, whose cost is at most ceil(D / 2), so at most log2(D) + 3
 *     frames (about 17 at TF_DIFF_MAX_D).
 * At the very limits (600,000 tokens, all distinct) that is under 40 MiB;
 * a 64 KiB narrative merged with two edited copies takes about 1.5 MiB.
 * Time is O((N' + M') D) in the worst case and close to O(N + M + D^2) on
 * real edits; past TF_DIFF_MAX_D the search stops (TF_ELIMIT) after at most
 * TF_DIFF_MAX_D / 2 + 1 rounds in each direction.
 */
#include "tenfour/diff.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ tokens */

enum { TOK_WORD, TOK_SPACE, TOK_PUNCT };

/*
 * Byte classes, as a table rather than <ctype.h>: the locale must never
 * move a token boundary, or two hosts would merge the same edit
 * differently.  Word: ASCII letters, digits, '_' and every byte >= 0x80 (so
 * a UTF-8 sequence is never split); space: HT LF VT FF CR and SP; anything
 * else is a one-byte punctuation token.
 */
/* clang-format off */
#define W TOK_WORD
#define S TOK_SPACE
#define P TOK_PUNCT
static const unsigned char byte_class[256] = {
	P, P, P, P, P, P, P, P, P, S, S, S, S, S, P, P,
	P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P,
	S, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P,
	W, W, W, W, W, W, W, W, W, W, P, P, P, P, P, P,
	P, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,
	W, W, W, W, W, W, W, W, W, W, W, P, P, P, P, W,
	P, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,
	W, W, W, W, W, W, W, W, W, W, W, P, P, P, P, P,
	W, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,
	W, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,
	W, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,
	W, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,
	W, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,
	W, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,
	W, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,
	W, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,
};
#undef W
#undef S
#undef P
/* clang-format on */

/* Bytes in the token that starts at s[i]; i < len. */
static size_t token_len(const char *s, size_t len, size_t i)
{
	const unsigned char *p = (const unsigned char *)s;
	int k = byte_class[p[i]];
	size_t j = i + 1;

	if (k == TOK_PUNCT)
		return 1;
	while (j < len && byte_class[p[j]] == k)
		j++;
	return j - i;
}

int tf_diff_tokenize(const char *text, size_t len, size_t *ends, size_t cap,
		     size_t *count)
{
	size_t i = 0, n = 0;

	assert(text != NULL || len == 0);
	assert(ends != NULL || cap == 0);
	assert(count != NULL);
	while (i < len) {
		if (n == TF_DIFF_MAX_TOKENS) {
			*count = n + 1;
			return TF_ELIMIT;
		}
		i += token_len(text, len, i);
		if (n < cap)
			ends[n] = i;
		n++;
	}
	*count = n;
	return 0;
}

/* One input text, tokenized and interned. */
typedef struct dtext {
	const char *s;
	size_t len;
	size_t n;     /* tokens */
	size_t *off;  /* n + 1 entries: token i is s[off[i] .. off[i + 1]) */
	uint32_t *id; /* n interned ids */
} dtext;

/*
 * Start of token i (i == n: the end).  A text may be (NULL, 0), and NULL +
 * 0 is undefined behaviour, so an empty text reads as "".
 */
static const char *tok_at(const dtext *t, size_t i)
{
	return t->s ? t->s + t->off[i] : "";
}

static void dtext_free(dtext *t)
{
	free(t->id);
	free(t->off);
	t->id = NULL;
	t->off = NULL;
}

/* Splits t->s into t->off; TF_ELIMIT past TF_DIFF_MAX_TOKENS, TF_ENOMEM. */
static int dtext_split(dtext *t)
{
	size_t n;
	int rc = tf_diff_tokenize(t->s, t->len, NULL, 0, &n);

	if (rc)
		return rc;
	t->off = malloc((n + 1) * sizeof *t->off);
	t->id = malloc((n ? n : 1) * sizeof *t->id);
	if (t->off == NULL || t->id == NULL)
		return TF_ENOMEM;
	t->off[0] = 0;
	rc = tf_diff_tokenize(t->s, t->len, t->off + 1, n, &t->n);
	assert(rc == 0 && t->n == n);
	return rc;
}

/* ------------------------------------------------------------ interning */

/* 8 bytes a slot: the table is the largest structure, keep it small. */
typedef struct islot {
	uint32_t hash;
	uint32_t id1; /* id + 1; 0 marks an empty slot */
} islot;

typedef struct interner {
	const dtext *t; /* the texts being interned, in order */
	size_t nt;
	islot *slot;
	size_t cap;    /* slots, a power of two */
	uint32_t *rep; /* rep[id]: first token with that id, numbered across
			  the texts in order */
	uint32_t used; /* ids given */
} interner;

/*
 * FNV-1a with a murmur3 finalizer so the low bits that pick a slot depend
 * on every byte.  Collisions cost time only: slots compare the bytes.
 */
static uint32_t tok_hash(const char *p, size_t n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 16777619u;
	}
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/* Bytes of token number g, counted across the texts in order. */
static const char *intern_bytes(const interner *in, size_t g, size_t *len)
{
	size_t j = 0;

	while (g >= in->t[j].n) {
		g -= in->t[j].n;
		j++;
		assert(j < in->nt);
	}
	*len = in->t[j].off[g + 1] - in->t[j].off[g];
	return in->t[j].s + in->t[j].off[g];
}

/* The slot holding bytes p[0..n) with hash h, or the empty slot for it. */
static islot *intern_find(const interner *in, const char *p, size_t n,
			  uint32_t h)
{
	size_t i = h & (in->cap - 1);

	while (in->slot[i].id1 != 0) {
		if (in->slot[i].hash == h) {
			size_t rlen;
			const char *r = intern_bytes(
				in, in->rep[in->slot[i].id1 - 1], &rlen);
			if (rlen == n && memcmp(r, p, n) == 0)
				return &in->slot[i];
		}
		i = (i + 1) & (in->cap - 1);
	}
	return &in->slot[i];
}

/* Moves the table to `cap` slots, a power of two larger than now. */
static int intern_grow(interner *in, size_t cap)
{
	islot *s = calloc(cap, sizeof *s);
	size_t i, j;

	assert(cap > in->cap && (cap & (cap - 1)) == 0);
	if (s == NULL)
		return TF_ENOMEM;
	/* Entries are distinct: each goes to its first free slot. */
	for (i = 0; i < in->cap; i++) {
		if (in->slot[i].id1 == 0)
			continue;
		for (j = in->slot[i].hash & (cap - 1); s[j].id1 != 0;
		     j = (j + 1) & (cap - 1))
			;
		s[j] = in->slot[i];
	}
	free(in->slot);
	in->slot = s;
	in->cap = cap;
	return 0;
}

/*
 * Gives every token of the texts an id, so that equal bytes <=> equal
 * ids.  `total` is the number of tokens over all texts.
 */
static int intern_all(interner *in, size_t total)
{
	size_t g = 0, i, j;

	for (j = 0; j < in->nt; j++) {
		const dtext *d = &in->t[j];

		for (i = 0; i < d->n; i++, g++) {
			const char *p = d->s + d->off[i];
			size_t n = d->off[i + 1] - d->off[i];
			uint32_t h = tok_hash(p, n);
			islot *s;

			/* Load stays <= 1/2, so probes stay short. */
			if (((size_t)in->used + 1) * 2 > in->cap) {
				int rc = intern_grow(in, in->cap * 2);
				if (rc)
					return rc;
			}
			s = intern_find(in, p, n, h);
			if (s->id1 == 0) {
				assert(in->used < total);
				in->rep[in->used] = (uint32_t)g;
				s->hash = h;
				s->id1 = ++in->used;
			}
			d->id[i] = s->id1 - 1;
		}
	}
	return 0;
}

/*
 * Tokenizes and interns `nt` texts into one id space.  On failure the
 * texts may hold partial arrays; the caller frees them with dtext_free.
 */
static int texts_prepare(dtext *t, size_t nt)
{
	interner in;
	size_t i, total = 0, cap = 16;
	int rc = 0;

	memset(&in, 0, sizeof in);
	in.t = t;
	in.nt = nt;
	for (i = 0; i < nt && rc == 0; i++) {
		rc = dtext_split(&t[i]);
		total += t[i].n;
	}
	if (rc)
		return rc;
	/*
	 * Distinct tokens are usually far fewer than tokens (a narrative
	 * repeats its words and spaces), so start small and let it double.
	 */
	while (cap < 2 * total && cap < 4096)
		cap *= 2;
	in.rep = malloc((total ? total : 1) * sizeof *in.rep);
	if (in.rep == NULL)
		return TF_ENOMEM;
	rc = intern_grow(&in, cap);
	if (rc == 0)
		rc = intern_all(&in, total);
	free(in.slot);
	free(in.rep);
	return rc;
}

/* ------------------------------------------------------------ Myers */

typedef struct myers {
	const uint32_t *x, *y;
	int32_t *mx;	  /* mx[i]: partner of x[i] in y, or -1 */
	int32_t *fd, *bd; /* furthest x per diagonal k = x - y, both ways */
	long max_d;
} myers;

/*
 * Finds a point (xmid, ymid) on an optimal edit path from (xoff, yoff) to
 * (xlim, ylim) by running the forward and the backward greedy searches in
 * lock step, cost c in both, until they overlap on a diagonal.  Each search
 * is confined to the diagonals [xoff - ylim, xlim - yoff] that meet the
 * box.  The forward path can meet the backward one only when the corners'
 * diagonals differ by an odd amount (D = 2c - 1), the backward path only
 * when it is even (D = 2c); so the loop knows exactly when D would exceed
 * max_d and stops there with TF_ELIMIT.  The caller has trimmed the common
 * prefix and suffix, so D >= 2 and the point splits the box into two
 * strictly smaller ones.
 */
static int myers_split(myers *m, long xoff, long xlim, long yoff, long ylim,
		       long *xmid, long *ymid)
{
	const uint32_t *x = m->x, *y = m->y;
	int32_t *fd = m->fd, *bd = m->bd;
	const long dmin = xoff - ylim, dmax = xlim - yoff;
	const long fmid = xoff - yoff, bmid = xlim - ylim;
	const int odd = (fmid - bmid) % 2 != 0;
	long fmin = fmid, fmax = fmid, bmin = bmid, bmax = bmid, c, k;

	fd[fmid] = (int32_t)xoff;
	bd[bmid] = (int32_t)xlim;
	for (c = 1;; c++) {
		if ((odd ? 2 * c - 1 : 2 * c) > m->max_d)
			return TF_ELIMIT;
		/*
		 * Widen the forward band by one diagonal each side; where
		 * the box ends, step inward instead to keep the parity.
		 * The sentinel outside the band loses every comparison.
		 */
		if (fmin > dmin)
			fd[--fmin - 1] = -1;
		else
			fmin++;
		if (fmax < dmax)
			fd[++fmax + 1] = -1;
		else
			fmax--;
		for (k = fmax; k >= fmin; k -= 2) {
			long lo = fd[k - 1], hi = fd[k + 1];
			long px = lo < hi ? hi : lo + 1, py = px - k;

			while (px < xlim && py < ylim && x[px] == y[py]) {
				px++;
				py++;
			}
			fd[k] = (int32_t)px;
			if (odd && bmin <= k && k <= bmax && bd[k] <= px) {
				*xmid = px;
				*ymid = py;
				return 0;
			}
		}
		if (bmin > dmin)
			bd[--bmin - 1] = INT32_MAX;
		else
			bmin++;
		if (bmax < dmax)
			bd[++bmax + 1] = INT32_MAX;
		else
			bmax--;
		for (k = bmax; k >= bmin; k -= 2) {
			long lo = bd[k - 1], hi = bd[k + 1];
			long px = lo < hi ? lo : hi - 1, py = px - k;

			while (px > xoff && py > yoff &&
			       x[px - 1] == y[py - 1]) {
				px--;
				py--;
			}
			bd[k] = (int32_t)px;
			if (!odd && fmin <= k && k <= fmax && px <= fd[k]) {
				*xmid = px;
				*ymid = py;
				return 0;
			}
		}
	}
}

/*
 * Records an optimal matching of x[xoff..xlim) and y[yoff..ylim) in mx.
 * Matches are recorded only while sliding over common prefixes and
 * suffixes; every diagonal step of the final path is such a slide at some
 * depth, because the halves of a split begin or end with its snake.
 */
static int myers_compare(myers *m, long xoff, long xlim, long yoff, long ylim)
{
	long xmid, ymid;
	int rc;

	for (;;) {
		while (xoff < xlim && yoff < ylim && m->x[xoff] == m->y[yoff]) {
			m->mx[xoff] = (int32_t)yoff;
			xoff++;
			yoff++;
		}
		while (xoff < xlim && yoff < ylim &&
		       m->x[xlim - 1] == m->y[ylim - 1]) {
			m->mx[xlim - 1] = (int32_t)(ylim - 1);
			xlim--;
			ylim--;
		}
		if (xoff == xlim || yoff == ylim)
			return 0;
		rc = myers_split(m, xoff, xlim, yoff, ylim, &xmid, &ymid);
		if (rc)
			return rc;
		assert(xoff <= xmid && xmid <= xlim);
		assert(yoff <= ymid && ymid <= ylim);
		assert(xmid - xoff + ymid - yoff > 0);
		assert(xlim - xmid + ylim - ymid > 0);
		rc = myers_compare(m, xoff, xmid, yoff, ymid);
		if (rc)
			return rc;
		/* The upper half as a loop: no stack for it. */
		xoff = xmid;
		yoff = ymid;
	}
}

/*
 * Fills mx[0..n) with an optimal (longest common subsequence) matching of
 * x[0..n) into y[0..m): mx[i] is the index in y matched with x[i], or -1;
 * matched indices increase.  Errors: TF_ELIMIT when the edit distance
 * (insertions + deletions) exceeds TF_DIFF_MAX_D, TF_ENOMEM.
 */
static int diff_ids(const uint32_t *x, size_t n, const uint32_t *y, size_t m,
		    int32_t *mx)
{
	myers my;
	long xoff = 0, yoff = 0, xlim = (long)n, ylim = (long)m, size;
	int32_t *vec;
	size_t i;
	int rc;

	assert(n <= TF_DIFF_MAX_TOKENS && m <= TF_DIFF_MAX_TOKENS);
	memset(&my, 0, sizeof my);
	for (i = 0; i < n; i++)
		mx[i] = -1;
	/* Narratives mostly change in a few places: trim before sizing. */
	while (xoff < xlim && yoff < ylim && x[xoff] == y[yoff]) {
		mx[xoff] = (int32_t)yoff;
		xoff++;
		yoff++;
	}
	while (xoff < xlim && yoff < ylim && x[xlim - 1] == y[ylim - 1]) {
		mx[xlim - 1] = (int32_t)(ylim - 1);
		xlim--;
		ylim--;
	}
	if (xoff == xlim || yoff == ylim)
		return (xlim - xoff) + (ylim - yoff) > TF_DIFF_MAX_D ? TF_ELIMIT
								     : 0;
	/* D >= |N' - M'|: no search needed to refuse a large difference. */
	if (labs((xlim - xoff) - (ylim - yoff)) > TF_DIFF_MAX_D)
		return TF_ELIMIT;
	size = (xlim - xoff) + (ylim - yoff) + 3;
	vec = malloc(2 * (size_t)size * sizeof *vec);
	if (vec == NULL)
		return TF_ENOMEM;
	/* Index diagonal k = x - y, k in [xoff - ylim - 1, xlim - yoff + 1]. */
	my.x = x;
	my.y = y;
	my.mx = mx;
	my.fd = vec + (ylim - xoff + 1);
	my.bd = vec + size + (ylim - xoff + 1);
	my.max_d = TF_DIFF_MAX_D;
	rc = myers_compare(&my, xoff, xlim, yoff, ylim);
	free(vec);
	return rc;
}

/* ------------------------------------------------------------ output */

/* A JSON writer with one sticky result, for the many small appends. */
typedef struct jw {
	tf_buf *out;
	int rc;
} jw;

static void jw_raw(jw *w, const char *s)
{
	if (w->rc == 0)
		w->rc = tf_buf_puts(w->out, s);
}

/* Writes the bytes of tokens [t0, t1) of t as a JSON string. */
static void jw_tokens(jw *w, const dtext *t, size_t t0, size_t t1)
{
	if (w->rc == 0)
		w->rc = tf_json_write_string(w->out, tok_at(t, t0),
					     t->off[t1] - t->off[t0]);
}

/*
 * Appends, on success only: on failure out goes back to its old length
 * (a failed append also leaves the buffer's sticky error set, per tf_buf).
 */
static int buf_settle(tf_buf *out, size_t start, int rc)
{
	if (rc && out->len > start) {
		out->len = start;
		out->data[start] = '\0';
	}
	return rc;
}

/* Token ranges [p0, p1) of p and [q0, q1) of q hold the same tokens. */
static int range_eq(const dtext *p, size_t p0, size_t p1, const dtext *q,
		    size_t q0, size_t q1)
{
	return p1 - p0 == q1 - q0 &&
	       (p1 == p0 ||
		memcmp(p->id + p0, q->id + q0, (p1 - p0) * sizeof *p->id) == 0);
}

/* ------------------------------------------------------------ two-way */

/* One hunk {"a":..,"b":..,"op":..}; keys in canonical (sorted) order. */
static void diff_hunk(jw *w, int *first, const char *op, const dtext *a,
		      size_t a0, size_t a1, const dtext *b, size_t b0,
		      size_t b1)
{
	jw_raw(w, *first ? "{" : ",{");
	*first = 0;
	if (a1 > a0) {
		jw_raw(w, "\"a\":");
		jw_tokens(w, a, a0, a1);
		jw_raw(w, ",");
	}
	if (b1 > b0) {
		jw_raw(w, "\"b\":");
		jw_tokens(w, b, b0, b1);
		jw_raw(w, ",");
	}
	jw_raw(w, "\"op\":\"");
	jw_raw(w, op);
	jw_raw(w, "\"}");
}

/*
 * Walks the matching of a into b: a maximal run of matched tokens is one
 * "eq" hunk; what lies between two runs is the deleted a tokens and the
 * inserted b tokens, written as one "del", "ins" or "rep" hunk, so hunks
 * of one kind are never adjacent.
 */
static void diff_write(jw *w, const dtext *a, const dtext *b, const int32_t *ma)
{
	size_t i = 0, j = 0;
	int first = 1;

	jw_raw(w, "[");
	while (i < a->n || j < b->n) {
		size_t i2 = i, j2;

		if (i < a->n && ma[i] == (int32_t)j) {
			while (i2 < a->n && ma[i2] == (int32_t)(j + (i2 - i)))
				i2++;
			j2 = j + (i2 - i);
			diff_hunk(w, &first, "eq", a, i, i2, b, j, j2);
		} else {
			while (i2 < a->n && ma[i2] < 0)
				i2++;
			j2 = i2 < a->n ? (size_t)ma[i2] : b->n;
			assert(j2 >= j && (i2 > i || j2 > j));
			diff_hunk(w, &first,
				  i2 == i   ? "ins"
				  : j2 == j ? "del"
					    : "rep",
				  a, i, i2, b, j, j2);
		}
		i = i2;
		j = j2;
	}
	jw_raw(w, "]");
}

int tf_diff_json(const char *a, size_t a_len, const char *b, size_t b_len,
		 tf_buf *out)
{
	dtext t[2];
	int32_t *ma = NULL;
	size_t start = out->len;
	jw w = {out, 0};
	int rc;

	assert(a != NULL || a_len == 0);
	assert(b != NULL || b_len == 0);
	memset(t, 0, sizeof t);
	if (out->failed)
		return out->failed;
	t[0].s = a;
	t[0].len = a_len;
	t[1].s = b;
	t[1].len = b_len;
	rc = texts_prepare(t, 2);
	if (rc)
		goto out;
	ma = malloc((t[0].n ? t[0].n : 1) * sizeof *ma);
	if (ma == NULL) {
		rc = TF_ENOMEM;
		goto out;
	}
	rc = diff_ids(t[0].id, t[0].n, t[1].id, t[1].n, ma);
	if (rc)
		goto out;
	diff_write(&w, &t[0], &t[1], ma);
	rc = buf_settle(out, start, w.rc);
out:
	free(ma);
	dtext_free(&t[1]);
	dtext_free(&t[0]);
	return rc;
}

/* ------------------------------------------------------------ diff3 */

enum { K_SAME, K_HEAD, K_PROPOSED, K_BOTH, K_CONFLICT };

static const char *const kind_name[] = {"same", "head", "proposed", "both",
					"conflict"};

/* A region of base [o0, o1) with its counterparts in head and proposed. */
typedef struct chunk {
	int kind;
	size_t o0, o1, a0, a1, b0, b1;
} chunk;

typedef struct d3 {
	const dtext *o, *a, *b; /* base, head, proposed */
	const int32_t *ma, *mb; /* base -> head, base -> proposed */
} d3;

/* Receives each (coalesced) chunk in order; nonzero stops the walk. */
typedef int (*d3_fn)(const d3 *m, const chunk *c, void *arg);

static int d3_kind(const d3 *m, const chunk *c)
{
	int a_same = range_eq(m->o, c->o0, c->o1, m->a, c->a0, c->a1);
	int b_same = range_eq(m->o, c->o0, c->o1, m->b, c->b0, c->b1);

	if (a_same && b_same)
		return K_SAME;
	if (a_same)
		return K_PROPOSED;
	if (b_same)
		return K_HEAD;
	if (range_eq(m->a, c->a0, c->a1, m->b, c->b0, c->b1))
		return K_BOTH;
	return K_CONFLICT;
}

/*
 * The diff3 walk.  From the current position (lo, la, lb): if the next
 * base token is matched to the next token of both sides, the longest such
 * run is a stable "same" chunk.  Otherwise the unstable chunk reaches up
 * to the next base token matched in both sides (or the ends of all three
 * texts) and is classified by content.  Two insertions at one base point
 * land in one unstable chunk with an empty base range, so they conflict
 * unless identical.  Adjacent chunks of one kind are handed to fn as one.
 */
static int d3_walk(const d3 *m, d3_fn fn, void *arg)
{
	const size_t no = m->o->n, na = m->a->n, nb = m->b->n;
	size_t lo = 0, la = 0, lb = 0;
	chunk pend, c;
	int have = 0, rc = 0;

	memset(&pend, 0, sizeof pend);
	while (rc == 0) {
		size_t i = lo;

		while (i < no && m->ma[i] == (int32_t)(la + (i - lo)) &&
		       m->mb[i] == (int32_t)(lb + (i - lo)))
			i++;
		if (i > lo) {
			c.kind = K_SAME;
			c.o0 = lo;
			c.o1 = i;
			c.a0 = la;
			c.a1 = la + (i - lo);
			c.b0 = lb;
			c.b1 = lb + (i - lo);
		} else {
			while (i < no && (m->ma[i] < 0 || m->mb[i] < 0))
				i++;
			c.o0 = lo;
			c.o1 = i;
			c.a0 = la;
			c.a1 = i < no ? (size_t)m->ma[i] : na;
			c.b0 = lb;
			c.b1 = i < no ? (size_t)m->mb[i] : nb;
			if (c.o1 == c.o0 && c.a1 == c.a0 && c.b1 == c.b0)
				break; /* only at the end of all three */
			assert(c.a1 >= c.a0 && c.b1 >= c.b0);
			c.kind = d3_kind(m, &c);
		}
		lo = c.o1;
		la = c.a1;
		lb = c.b1;
		if (have && pend.kind == c.kind) {
			pend.o1 = c.o1;
			pend.a1 = c.a1;
			pend.b1 = c.b1;
			continue;
		}
		if (have)
			rc = fn(m, &pend, arg);
		pend = c;
		have = 1;
	}
	if (rc == 0 && have)
		rc = fn(m, &pend, arg);
	return rc;
}

/*
 * Tokenizes base, a and b and computes both matchings.  On success the
 * caller owns t[0..2] and *ma, *mb (free with d3_free), also on failure.
 */
static int d3_prepare(dtext t[3], int32_t **ma, int32_t **mb, d3 *m)
{
	int rc = texts_prepare(t, 3);

	if (rc)
		return rc;
	*ma = malloc((t[0].n ? t[0].n : 1) * sizeof **ma);
	*mb = malloc((t[0].n ? t[0].n : 1) * sizeof **mb);
	if (*ma == NULL || *mb == NULL)
		return TF_ENOMEM;
	rc = diff_ids(t[0].id, t[0].n, t[1].id, t[1].n, *ma);
	if (rc == 0)
		rc = diff_ids(t[0].id, t[0].n, t[2].id, t[2].n, *mb);
	m->o = &t[0];
	m->a = &t[1];
	m->b = &t[2];
	m->ma = *ma;
	m->mb = *mb;
	return rc;
}

static void d3_free(dtext t[3], int32_t *ma, int32_t *mb)
{
	free(mb);
	free(ma);
	dtext_free(&t[2]);
	dtext_free(&t[1]);
	dtext_free(&t[0]);
}

static void d3_texts(dtext t[3], const char *base, size_t base_len,
		     const char *a, size_t a_len, const char *b, size_t b_len)
{
	assert(base != NULL || base_len == 0);
	assert(a != NULL || a_len == 0);
	assert(b != NULL || b_len == 0);
	memset(t, 0, 3 * sizeof *t);
	t[0].s = base;
	t[0].len = base_len;
	t[1].s = a;
	t[1].len = a_len;
	t[2].s = b;
	t[2].len = b_len;
}

static int d3_find_conflict(const d3 *m, const chunk *c, void *arg)
{
	(void)m;
	(void)arg;
	return c->kind == K_CONFLICT;
}

static int d3_put_merged(const d3 *m, const chunk *c, void *arg)
{
	tf_buf *out = arg;
	const dtext *t = m->o;
	size_t t0 = c->o0, t1 = c->o1;

	assert(c->kind != K_CONFLICT);
	if (c->kind == K_HEAD || c->kind == K_BOTH) {
		t = m->a;
		t0 = c->a0;
		t1 = c->a1;
	} else if (c->kind == K_PROPOSED) {
		t = m->b;
		t0 = c->b0;
		t1 = c->b1;
	}
	return tf_buf_append(out, tok_at(t, t0), t->off[t1] - t->off[t0]);
}

int tf_diff3_merge(const char *base, size_t base_len, const char *a,
		   size_t a_len, const char *b, size_t b_len, tf_buf *merged,
		   int *clean)
{
	dtext t[3];
	int32_t *ma = NULL, *mb = NULL;
	size_t start = merged->len;
	d3 m;
	int rc;

	assert(clean != NULL);
	*clean = 0;
	d3_texts(t, base, base_len, a, a_len, b, b_len);
	if (merged->failed)
		return merged->failed;
	rc = d3_prepare(t, &ma, &mb, &m);
	if (rc)
		goto out;
	/* Decide first, so a conflict leaves `merged` untouched. */
	if (d3_walk(&m, d3_find_conflict, NULL))
		goto out;
	rc = buf_settle(merged, start, d3_walk(&m, d3_put_merged, merged));
	if (rc == 0)
		*clean = 1;
out:
	d3_free(t, ma, mb);
	return rc;
}

/* {"base":..,"head":..,"kind":..,"proposed":..}; keys sorted. */
static int d3_put_json(const d3 *m, const chunk *c, void *arg)
{
	jw *w = arg;

	/* Only the first chunk starts at the start of all three texts. */
	jw_raw(w, c->o0 == 0 && c->a0 == 0 && c->b0 == 0 ? "{\"base\":"
							 : ",{\"base\":");
	jw_tokens(w, m->o, c->o0, c->o1);
	jw_raw(w, ",\"head\":");
	jw_tokens(w, m->a, c->a0, c->a1);
	jw_raw(w, ",\"kind\":\"");
	jw_raw(w, kind_name[c->kind]);
	jw_raw(w, "\",\"proposed\":");
	jw_tokens(w, m->b, c->b0, c->b1);
	jw_raw(w, "}");
	return w->rc;
}

int tf_diff3_json(const char *base, size_t base_len, const char *a,
		  size_t a_len, const char *b, size_t b_len, tf_buf *out)
{
	dtext t[3];
	int32_t *ma = NULL, *mb = NULL;
	size_t start = out->len;
	jw w = {out, 0};
	d3 m;
	int rc;

	d3_texts(t, base, base_len, a, a_len, b, b_len);
	if (out->failed)
		return out->failed;
	rc = d3_prepare(t, &ma, &mb, &m);
	if (rc)
		goto out;
	jw_raw(&w, "[");
	d3_walk(&m, d3_put_json, &w);
	jw_raw(&w, "]");
	rc = buf_settle(out, start, w.rc);
out:
	d3_free(t, ma, mb);
	return rc;
}

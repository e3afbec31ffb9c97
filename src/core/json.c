/*
 * json.c - strict RFC 8259 JSON: the parser, the tree operations and the
 * canonical writer.  Formats: docs/PROTOCOL.md section 1; contract: json.h.
 *
 * Design notes:
 * - Nothing here recurses on the C stack.  The parser keeps its open
 *   containers on an explicit stack bounded by max_depth; clone, write,
 *   equal and compare walk with an explicit stack (inline for the usual
 *   depths, heap beyond); free needs no memory at all (it threads the way
 *   back through the `cap` field of the containers it is tearing down).
 *   Trees built by hand may be deeper than any parse limit, so none of the
 *   walks may assume a bound.
 * - Objects are sorted at all times outside the parser.  Keys that arrive
 *   in order (all canonical input) cost the parser one comparison each; an
 *   object whose keys do not is sorted when it closes, O(n log n), and its
 *   duplicates are found there (see struct pframe; errors are still
 *   reported in document order).  The editing API (tf_json_object_set)
 *   inserts by binary search and memmove: its callers are trusted code.
 * - A STRING or NUMBER node and its text are one allocation (the text
 *   follows the node); free tells the two layouts apart by address.
 */
#include "tenfour/json.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const tf_json_limits tf_json_default_limits = {
	(size_t)16 * 1024 * 1024, /* max_bytes */
	32,			  /* max_depth */
	(size_t)1024 * 1024,	  /* max_string */
	100000,			  /* max_items */
	4096,			  /* max_members */
	64,			  /* max_number */
};

/*
 * Byte classes inside strings.  The parser's fast path skips CH_PLAIN; the
 * writer copies CH_PLAIN and CH_HIGH raw and escapes the rest.
 */
enum { CH_PLAIN = 0, CH_HIGH = 1, CH_QUOTE = 2, CH_BSLASH = 3, CH_CTRL = 4 };

#define C4 CH_CTRL, CH_CTRL, CH_CTRL, CH_CTRL
#define P4 CH_PLAIN, CH_PLAIN, CH_PLAIN, CH_PLAIN
#define H4 CH_HIGH, CH_HIGH, CH_HIGH, CH_HIGH
#define C16 C4, C4, C4, C4
#define P16 P4, P4, P4, P4
#define H16 H4, H4, H4, H4
/* Laid out by hand, a row per range; clang-format would put one a line. */
/* clang-format off */
static const unsigned char chcls[256] = {
	C16, C16,
	/* 0x20: ' ' '!' '"' ... */
	CH_PLAIN, CH_PLAIN, CH_QUOTE, CH_PLAIN, P4, P4, P4,
	P16, P16,
	/* 0x50 ... 0x5c is '\\' */
	P4, P4, P4, CH_BSLASH, CH_PLAIN, CH_PLAIN, CH_PLAIN,
	P16, P16,
	H16, H16, H16, H16, H16, H16, H16, H16,
};
/* clang-format on */
#undef C4
#undef P4
#undef H4
#undef C16
#undef P16
#undef H16

static int is_container(const tf_json *v)
{
	return v->type == TF_JSON_ARRAY || v->type == TF_JSON_OBJECT;
}

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Length of the well-formed UTF-8 sequence at p (1..4), or 0 when it is
 * overlong, a surrogate, past U+10FFFF or truncated before `end`.
 */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0], lo = 0x80, hi = 0xbf;
	size_t avail = (size_t)(end - p);

	if (c < 0x80)
		return 1;
	if (c < 0xc2)
		return 0;
	if (c < 0xe0) {
		if (avail < 2 || (p[1] & 0xc0) != 0x80)
			return 0;
		return 2;
	}
	if (c < 0xf0) {
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
		if (avail < 3 || p[1] < lo || p[1] > hi ||
		    (p[2] & 0xc0) != 0x80)
			return 0;
		return 3;
	}
	if (c < 0xf5) {
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
		if (avail < 4 || p[1] < lo || p[1] > hi ||
		    (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
			return 0;
		return 4;
	}
	return 0;
}

/* Rejects NUL as well: every JSON string of the core is a C string. */
int tf_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		size_t k;

		while (p < end && *p >= 0x01 && *p < 0x80)
			p++;
		if (p == end)
			break;
		k = utf8_seq(p, end);
		if (k <= 1) /* NUL or a bad lead byte */
			return 0;
		p += k;
	}
	return 1;
}

static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/*
 * Binary search of obj's members for key: returns the index of the member
 * (and *found = 1) or of the place where it would be inserted.
 */
static size_t obj_find(const tf_json *obj, const char *key, size_t klen,
		       int *found)
{
	size_t lo = 0, hi = obj->len;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const tf_json_member *m = &obj->u.members[mid];
		int c = key_cmp(key, klen, m->key, m->klen);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Grows an array or object so one more element fits; geometric. */
static int grow_one(tf_json *v)
{
	size_t esz = v->type == TF_JSON_ARRAY ? sizeof(tf_json *)
					      : sizeof(tf_json_member);
	size_t ncap;
	void *p, *old = v->type == TF_JSON_ARRAY ? (void *)v->u.items
						 : (void *)v->u.members;

	if (v->len < v->cap)
		return 0;
	ncap = v->cap ? v->cap * 2 : 4;
	if (ncap < v->cap || ncap > (size_t)-1 / esz)
		return TF_ENOMEM;
	p = realloc(old, ncap * esz);
	if (p == NULL)
		return TF_ENOMEM;
	if (v->type == TF_JSON_ARRAY)
		v->u.items = p;
	else
		v->u.members = p;
	v->cap = ncap;
	return 0;
}

/* ------------------------------------------------------------ nodes */

static tf_json *node_new(tf_json_type type)
{
	tf_json *v = malloc(sizeof *v);

	if (v == NULL)
		return NULL;
	v->type = type;
	v->len = 0;
	v->cap = 0;
	v->u.items = NULL;
	return v;
}

/* A STRING or NUMBER node with room for len bytes of text after it. */
static tf_json *node_text(tf_json_type type, size_t len)
{
	tf_json *v;

	if (len > (size_t)-1 - sizeof *v - 1)
		return NULL;
	v = malloc(sizeof *v + len + 1);
	if (v == NULL)
		return NULL;
	v->type = type;
	v->len = len;
	v->cap = 0;
	v->u.str = (char *)(v + 1);
	v->u.str[len] = '\0';
	return v;
}

/* Frees v's own storage, not its children. */
static void node_release(tf_json *v)
{
	switch (v->type) {
	case TF_JSON_NUMBER:
	case TF_JSON_STRING:
		if (v->u.str != (char *)(v + 1))
			free(v->u.str);
		break;
	case TF_JSON_ARRAY:
		free(v->u.items);
		break;
	case TF_JSON_OBJECT:
		free(v->u.members);
		break;
	default:
		break;
	}
	free(v);
}

/*
 * The way back up during tf_json_free lives in the `cap` field of the
 * container being torn down (its capacity is no longer needed), so freeing
 * a tree of any depth takes no stack and no memory.
 */
_Static_assert(sizeof(tf_json *) <= sizeof(size_t),
	       "tf_json_free keeps a pointer in the cap field");

static void link_set(tf_json *v, tf_json *up)
{
	memcpy(&v->cap, &up, sizeof(tf_json *));
}

static tf_json *link_get(const tf_json *v)
{
	tf_json *up;

	memcpy(&up, &v->cap, sizeof(tf_json *));
	return up;
}

void tf_json_free(tf_json *v)
{
	if (v == NULL)
		return;
	if (!is_container(v)) {
		node_release(v);
		return;
	}
	link_set(v, NULL);
	for (;;) {
		tf_json *child, *up;

		if (v->len) {
			if (v->type == TF_JSON_ARRAY) {
				child = v->u.items[--v->len];
			} else {
				tf_json_member *m = &v->u.members[--v->len];

				free(m->key);
				/* NULL while a parse fills it */
				child = m->value;
			}
			if (child == NULL)
				continue;
			if (is_container(child) && child->len) {
				link_set(child, v);
				v = child;
			} else {
				node_release(child);
			}
			continue;
		}
		up = link_get(v);
		node_release(v);
		if (up == NULL)
			break;
		v = up;
	}
}

/* ------------------------------------------------------------ walk stack */

struct wframe {
	const tf_json *a; /* node being walked */
	const tf_json *b; /* equal: its counterpart */
	tf_json *d;	  /* clone: its copy */
	size_t i;	  /* next child */
	int sep;	  /* canonical stream: ',' emitted for child i */
};

#define WALK_INLINE 40 /* deeper than any default-limits parse */

struct walk {
	struct wframe *f;
	size_t n, cap;
	struct wframe inl[WALK_INLINE];
};

static void walk_init(struct walk *w)
{
	w->f = w->inl;
	w->n = 0;
	w->cap = WALK_INLINE;
}

static void walk_fini(struct walk *w)
{
	if (w->f != w->inl)
		free(w->f);
	w->f = w->inl;
	w->n = 0;
}

static struct wframe *walk_push(struct walk *w)
{
	struct wframe *f;

	if (w->n == w->cap) {
		size_t ncap = w->cap * 2;

		if (ncap > (size_t)-1 / sizeof *f)
			return NULL;
		if (w->f == w->inl) {
			f = malloc(ncap * sizeof *f);
			if (f)
				memcpy(f, w->inl, w->n * sizeof *f);
		} else {
			f = realloc(w->f, ncap * sizeof *f);
		}
		if (f == NULL)
			return NULL;
		w->f = f;
		w->cap = ncap;
	}
	f = &w->f[w->n++];
	memset(f, 0, sizeof *f);
	return f;
}

/*
 * equal and compare have no error channel; their walk only allocates for
 * trees deeper than WALK_INLINE, which no parse with the default limits
 * produces.  Running out of memory there is treated like a broken
 * contract rather than answered with a wrong order.
 */
static struct wframe *walk_push_or_die(struct walk *w)
{
	struct wframe *f = walk_push(w);

	if (f == NULL)
		abort();
	return f;
}

/* ------------------------------------------------------------ parser */

/*
 * An open container.  An object's members stay in arrival order while it
 * is parsed (the member awaiting its value is always the last).  While
 * keys arrive ascending - all canonical input - a new key is checked
 * against the last one only, and that is all.  From the first key out of
 * order on (arrival index `base`), the byte offset of every key is kept
 * (inl, then heap); the object is sorted when it closes (O(n log n)) and
 * a duplicate is reported there at the offset of its second occurrence.
 * Errors stay in document order: when parsing fails later on, the open
 * objects are checked for an earlier duplicate first (parse_fail).
 * Inserting each key into a sorted array instead costs O(n^2) memory moves
 * on shuffled keys (measured: 16 MiB of 4096-member objects in reverse
 * order took 2.3 s to parse that way).
 */
#define SMALL_OBJECT 16 /* members sorted without touching the heap */

struct pframe {
	tf_json *node;
	size_t base;  /* arrival index of the first key out of order; 0: none */
	size_t *heap; /* key offsets once past SMALL_OBJECT (frames move, so
			 the inline array is never pointed to) */
	size_t hcap;
	size_t inl[SMALL_OBJECT];
};

#define PARSE_INLINE 16

struct parser {
	const unsigned char *start, *end;
	const tf_json_limits *lim;
	tf_err *err;
	size_t err_off; /* offset of the error perr reported last */
	struct pframe *stack;
	size_t depth, cap;
	struct pframe inl[PARSE_INLINE];
};

/*
 * Fills err for a parse error at `at`: offset, 1-based line and column
 * (columns count bytes; only '\n' ends a line) and "line L, column C
 * (byte O): detail".  Returns code.
 */
static int perr(struct parser *ps, int code, const unsigned char *at,
		const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	__attribute__((format(printf, 4, 5)))
#endif
	;

static int perr(struct parser *ps, int code, const unsigned char *at,
		const char *fmt, ...)
{
	const unsigned char *p, *bol = ps->start;
	unsigned line = 1;
	size_t off = (size_t)(at - ps->start), col;
	char detail[200], where[32];
	va_list ap;

	ps->err_off = off;
	if (ps->err == NULL)
		return code;
	for (p = ps->start; p < at; p++) {
		if (*p == '\n') {
			line++;
			bol = p + 1;
		}
	}
	col = (size_t)(at - bol) + 1;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	snprintf(where, sizeof where, "byte %zu", off);
	tf_err_set(ps->err, code, where, "line %u, column %zu (byte %zu): %s",
		   line, col, off, detail);
	ps->err->offset = off;
	ps->err->line = line;
	ps->err->col = col > 0xffffffffu ? 0xffffffffu : (unsigned)col;
	return code;
}

/* A printable name for an unexpected byte: 'x' or byte 0xNN. */
static const char *byte_name(unsigned char c, char buf[16])
{
	if (c >= 0x21 && c < 0x7f)
		snprintf(buf, 16, "'%c'", c);
	else
		snprintf(buf, 16, "byte 0x%02x", c);
	return buf;
}

/* key, quoted and shortened for an error message */
static const char *key_name(const char *k, size_t klen, char buf[80])
{
	size_t i = 0, o = 0;

	buf[o++] = '"';
	while (i < klen && o < 64) {
		unsigned char c = (unsigned char)k[i];

		if (c < 0x20 || c == '"' || c == '\\') {
			o += (size_t)snprintf(buf + o, 8,
					      c < 0x20 ? "\\u%04x" : "\\%c", c);
			i++;
		} else if (c < 0x80) {
			buf[o++] = (char)c;
			i++;
		} else {
			size_t n = utf8_seq((const unsigned char *)k + i,
					    (const unsigned char *)k + klen);

			if (n == 0)
				n = 1;
			memcpy(buf + o, k + i, n);
			o += n;
			i += n;
		}
	}
	if (i < klen) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

static const unsigned char *skip_ws(const unsigned char *p,
				    const unsigned char *end)
{
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p;
}

static int hex4(const unsigned char *p, unsigned *out)
{
	unsigned v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		unsigned c = p[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	*out = v;
	return 0;
}

static size_t utf8_len(unsigned cp)
{
	return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

static unsigned char *utf8_put(unsigned char *o, unsigned cp)
{
	if (cp < 0x80) {
		*o++ = (unsigned char)cp;
	} else if (cp < 0x800) {
		*o++ = (unsigned char)(0xc0 | cp >> 6);
		*o++ = (unsigned char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*o++ = (unsigned char)(0xe0 | cp >> 12);
		*o++ = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		*o++ = (unsigned char)(0x80 | (cp & 0x3f));
	} else {
		*o++ = (unsigned char)(0xf0 | cp >> 18);
		*o++ = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
		*o++ = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		*o++ = (unsigned char)(0x80 | (cp & 0x3f));
	}
	return o;
}

/*
 * Validates the string whose opening quote is at `open`: UTF-8, escapes,
 * surrogate pairs, no U+0000, no raw control bytes, decoded length within
 * max_string.  On success *close is the closing quote, *dlen the decoded
 * length and *esc whether it holds any escape.  On failure too the
 * outputs are defined (*close = open, *dlen = 0), so no caller path can
 * read an indeterminate value.
 */
static int str_scan(struct parser *ps, const unsigned char *open,
		    const unsigned char **close, size_t *dlen, int *esc)
{
	const unsigned char *p = open + 1, *end = ps->end;
	size_t n = 0, max = ps->lim->max_string;
	char nb[16];

	*close = open;
	*dlen = 0;
	*esc = 0;
	for (;;) {
		const unsigned char *run = p;
		unsigned cp, lo;
		size_t k;

		while (p < end && chcls[*p] == CH_PLAIN)
			p++;
		n += (size_t)(p - run);
		if (n > max)
			goto toolong;
		if (p == end)
			return perr(ps, TF_EJSON, open, "unterminated string");
		switch (chcls[*p]) {
		case CH_QUOTE:
			*close = p;
			*dlen = n;
			return 0;
		case CH_CTRL:
			return perr(ps, TF_EJSON, p,
				    "raw control character 0x%02x in string "
				    "(escape it)",
				    *p);
		case CH_HIGH:
			k = utf8_seq(p, end);
			if (k == 0)
				return perr(ps, TF_EUTF8, p,
					    "invalid UTF-8 sequence "
					    "starting with byte 0x%02x",
					    *p);
			p += k;
			n += k;
			break;
		default: /* backslash */
			*esc = 1;
			if (end - p < 2)
				return perr(ps, TF_EJSON, open,
					    "unterminated string");
			switch (p[1]) {
			case '"':
			case '\\':
			case '/':
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't':
				p += 2;
				n++;
				break;
			case 'u':
				if (end - p < 6 || hex4(p + 2, &cp))
					return perr(ps, TF_EJSON, p,
						    "invalid \\u escape "
						    "(need 4 hex digits)");
				if (cp == 0)
					return perr(ps, TF_EJSON, p,
						    "\\u0000 is not allowed "
						    "in strings");
				if (cp >= 0xdc00 && cp <= 0xdfff)
					return perr(ps, TF_EUTF8, p,
						    "unpaired low surrogate "
						    "\\u%04x",
						    cp);
				if (cp >= 0xd800 && cp <= 0xdbff) {
					if (end - p < 12 || p[6] != '\\' ||
					    p[7] != 'u' || hex4(p + 8, &lo) ||
					    lo < 0xdc00 || lo > 0xdfff)
						return perr(ps, TF_EUTF8, p,
							    "unpaired high "
							    "surrogate \\u%04x",
							    cp);
					p += 12;
					n += 4;
				} else {
					p += 6;
					n += utf8_len(cp);
				}
				break;
			default:
				return perr(ps, TF_EJSON, p,
					    "invalid escape: backslash "
					    "followed by %s",
					    byte_name(p[1], nb));
			}
			break;
		}
		if (n > max)
			goto toolong;
	}
toolong:
	return perr(ps, TF_ELIMIT, open,
		    "string longer than max_string %zu bytes", max);
}

/* Decodes the validated string body [p, close) into o (NUL-terminated). */
static void str_decode(const unsigned char *p, const unsigned char *close,
		       int esc, char *out)
{
	unsigned char *o = (unsigned char *)out;

	if (!esc) {
		memcpy(o, p, (size_t)(close - p));
		o[close - p] = '\0';
		return;
	}
	while (p < close) {
		const unsigned char *run = p;
		unsigned cp, lo;

		while (p < close && *p != '\\')
			p++;
		memcpy(o, run, (size_t)(p - run));
		o += p - run;
		if (p == close)
			break;
		switch (p[1]) {
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'u':
			hex4(p + 2, &cp);
			if (cp >= 0xd800 && cp <= 0xdbff) {
				hex4(p + 8, &lo);
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				     (lo - 0xdc00);
				p += 6;
			}
			o = utf8_put(o, cp);
			p += 4;
			break;
		default: /* " \ / */
			*o++ = p[1];
			break;
		}
		p += 2;
	}
	*o = '\0';
}

/*
 * Scans a number at p per the RFC 8259 grammar; *endp gets its end (p on
 * failure).
 */
static int num_scan(struct parser *ps, const unsigned char *p,
		    const unsigned char **endp)
{
	const unsigned char *q = p, *end = ps->end;

	*endp = p;
	if (*q == '-')
		q++;
	if (q == end || !is_digit(*q))
		return perr(ps, TF_EJSON, q, "expected a digit after '-'");
	if (*q == '0') {
		q++;
		if (q < end && is_digit(*q))
			return perr(ps, TF_EJSON, p, "leading zero in number");
	} else {
		while (q < end && is_digit(*q))
			q++;
	}
	if (q < end && *q == '.') {
		q++;
		if (q == end || !is_digit(*q))
			return perr(ps, TF_EJSON, q,
				    "expected a digit after '.'");
		while (q < end && is_digit(*q))
			q++;
	}
	if (q < end && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < end && (*q == '+' || *q == '-'))
			q++;
		if (q == end || !is_digit(*q))
			return perr(ps, TF_EJSON, q,
				    "expected a digit in the exponent");
		while (q < end && is_digit(*q))
			q++;
	}
	if ((size_t)(q - p) > ps->lim->max_number)
		return perr(ps, TF_ELIMIT, p,
			    "number longer than max_number %zu characters",
			    ps->lim->max_number);
	*endp = q;
	return 0;
}

/*
 * Hangs v (which starts at `at`) under the innermost open container, or
 * makes it the root.  Frees v on failure.
 */
static int attach(struct parser *ps, tf_json **root, tf_json *v,
		  const unsigned char *at)
{
	struct pframe *f;
	tf_json *c;

	if (ps->depth == 0) {
		*root = v;
		return 0;
	}
	f = &ps->stack[ps->depth - 1];
	c = f->node;
	if (c->type == TF_JSON_OBJECT) {
		assert(c->len > 0 && c->u.members[c->len - 1].value == NULL);
		c->u.members[c->len - 1].value = v;
		return 0;
	}
	if (c->len >= ps->lim->max_items) {
		tf_json_free(v);
		return perr(ps, TF_ELIMIT, at,
			    "array has more than max_items %zu items",
			    ps->lim->max_items);
	}
	if (grow_one(c)) {
		tf_json_free(v);
		return perr(ps, TF_ENOMEM, at, "out of memory");
	}
	c->u.items[c->len++] = v;
	return 0;
}

static int push_frame(struct parser *ps, tf_json *v)
{
	assert(ps->cap > 0);
	if (ps->depth == ps->cap) {
		size_t ncap = ps->cap * 2;
		struct pframe *s;

		if (ncap > (size_t)-1 / sizeof *s)
			return TF_ENOMEM;
		if (ps->stack == ps->inl) {
			s = malloc(ncap * sizeof *s);
			if (s)
				memcpy(s, ps->inl, ps->depth * sizeof *s);
		} else {
			s = realloc(ps->stack, ncap * sizeof *s);
		}
		if (s == NULL)
			return TF_ENOMEM;
		ps->stack = s;
		ps->cap = ncap;
	}
	ps->stack[ps->depth].node = v;
	ps->stack[ps->depth].base = 0;
	ps->stack[ps->depth].heap = NULL;
	ps->stack[ps->depth].hcap = 0;
	ps->depth++;
	return 0;
}

/* Makes room for `need` entries in an array of size_t; geometric. */
static int idx_reserve(size_t **a, size_t *cap, size_t need)
{
	size_t ncap = *cap ? *cap : 16;
	size_t *p;

	if (need <= *cap)
		return 0;
	while (ncap < need) {
		if (ncap > (size_t)-1 / 2 / sizeof **a)
			return TF_ENOMEM;
		ncap *= 2;
	}
	p = realloc(*a, ncap * sizeof **a);
	if (p == NULL)
		return TF_ENOMEM;
	*a = p;
	*cap = ncap;
	return 0;
}

static void frame_release(struct pframe *f)
{
	free(f->heap);
	f->heap = NULL;
	f->base = f->hcap = 0;
}

/* Key offsets of members base, base + 1, ... */
static const size_t *frame_off(const struct pframe *f)
{
	return f->heap ? f->heap : f->inl;
}

/* Records the offset of the key of member n (n >= base > 0). */
static int frame_note_key(struct pframe *f, size_t n, size_t offset)
{
	size_t i = n - f->base;

	assert(f->base > 0 && n >= f->base);
	if (i < SMALL_OBJECT && f->heap == NULL) {
		f->inl[i] = offset;
		return 0;
	}
	if (f->heap == NULL) {
		f->heap = malloc(2 * (size_t)SMALL_OBJECT * sizeof *f->heap);
		if (f->heap == NULL)
			return TF_ENOMEM;
		memcpy(f->heap, f->inl, sizeof f->inl);
		f->hcap = 2 * (size_t)SMALL_OBJECT;
	}
	if (idx_reserve(&f->heap, &f->hcap, i + 1))
		return TF_ENOMEM;
	f->heap[i] = offset;
	return 0;
}

/* Member a sorts before member b: by key, then by arrival. */
static int member_before(const tf_json *obj, size_t a, size_t b)
{
	const tf_json_member *x = &obj->u.members[a], *y = &obj->u.members[b];
	int c = key_cmp(x->key, x->klen, y->key, y->klen);

	return c < 0 || (c == 0 && a < b);
}

/*
 * Sorts the arrival indices 0..n-1 of obj's members into key order
 * (bottom-up merge sort, insertion sort when small; tmp has room for n).
 * Returns the array that holds the result (idx or tmp).
 */
static size_t *sort_members(const tf_json *obj, size_t *idx, size_t *tmp,
			    size_t n)
{
	size_t w, i;

	for (i = 0; i < n; i++)
		idx[i] = i;
	if (n <= SMALL_OBJECT) {
		/* insertion sort: fewest comparisons for a handful */
		for (i = 1; i < n; i++) {
			size_t x = idx[i], j = i;

			for (; j > 0 && member_before(obj, x, idx[j - 1]); j--)
				idx[j] = idx[j - 1];
			idx[j] = x;
		}
		return idx;
	}
	for (w = 1; w < n; w *= 2) {
		size_t *t;

		for (i = 0; i < n; i += 2 * w) {
			size_t mid = n - i > w ? i + w : n;
			size_t hi = n - i > 2 * w ? i + 2 * w : n;
			size_t a = i, b = mid, k = i;

			while (a < mid && b < hi)
				tmp[k++] = member_before(obj, idx[b], idx[a])
						   ? idx[b++]
						   : idx[a++];
			while (a < mid)
				tmp[k++] = idx[a++];
			while (b < hi)
				tmp[k++] = idx[b++];
		}
		t = idx;
		idx = tmp;
		tmp = t;
		if (w > n / 2)
			break;
	}
	return idx;
}

/*
 * Sorts the members of f's object (which did not arrive in order).  On a
 * duplicate key returns TF_EDUPKEY with *dup the offset of the earliest
 * second occurrence and the object unchanged; TF_ENOMEM likewise.
 * `reorder` 0 only looks for duplicates.
 */
static int frame_sort(struct pframe *f, int reorder, size_t *dup)
{
	tf_json *obj = f->node;
	size_t n = obj->len, i, *scratch, *sorted;
	size_t small[2 * SMALL_OBJECT];
	tf_json_member *m = NULL, msmall[SMALL_OBJECT];
	int rc = 0;

	assert(f->base > 0 && n >= 2);
	*dup = (size_t)-1;
	if (n <= SMALL_OBJECT) {
		scratch = small;
	} else {
		if (n > (size_t)-1 / 2 / sizeof *scratch)
			return TF_ENOMEM;
		scratch = malloc(2 * n * sizeof *scratch);
		if (scratch == NULL)
			return TF_ENOMEM;
	}
	sorted = sort_members(obj, scratch, scratch + n, n);
	for (i = 1; i < n; i++) {
		const tf_json_member *x = &obj->u.members[sorted[i - 1]];
		const tf_json_member *y = &obj->u.members[sorted[i]];

		if (key_cmp(x->key, x->klen, y->key, y->klen) == 0) {
			/* y arrived later; keys before base were ascending */
			assert(sorted[i] >= f->base);
			if (frame_off(f)[sorted[i] - f->base] < *dup)
				*dup = frame_off(f)[sorted[i] - f->base];
			rc = TF_EDUPKEY;
		}
	}
	if (rc || !reorder)
		goto out;
	if (n <= SMALL_OBJECT) {
		/* permute in place through a copy on the stack */
		memcpy(msmall, obj->u.members, n * sizeof *m);
		for (i = 0; i < n; i++)
			obj->u.members[i] = msmall[sorted[i]];
		goto out;
	}
	m = malloc(n * sizeof *m);
	if (m == NULL) {
		rc = TF_ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++)
		m[i] = obj->u.members[sorted[i]];
	free(obj->u.members);
	obj->u.members = m;
	obj->cap = n;
out:
	if (scratch != small)
		free(scratch);
	return rc;
}

/*
 * Parses the member key at p (which must be a string), checks the member
 * limit and duplicates, and appends a member with a NULL value (its value
 * comes next); *endp gets the byte after the closing quote.
 */
static int parse_key(struct parser *ps, const unsigned char *p,
		     const unsigned char **endp)
{
	struct pframe *f = &ps->stack[ps->depth - 1];
	tf_json *obj = f->node;
	tf_json_member *m;
	const unsigned char *close;
	size_t dlen;
	char *key, nb[80];
	int esc, c, rc;

	if (p == ps->end)
		return perr(ps, TF_EJSON, p,
			    "unexpected end of input, expected an object key");
	if (*p != '"')
		return perr(ps, TF_EJSON, p,
			    "expected '\"' to begin a key, found %s",
			    byte_name(*p, nb));
	rc = str_scan(ps, p, &close, &dlen, &esc);
	if (rc)
		return rc;
	if (obj->len >= ps->lim->max_members)
		return perr(ps, TF_ELIMIT, p,
			    "object has more than max_members %zu members",
			    ps->lim->max_members);
	key = malloc(dlen + 1);
	if (key == NULL)
		return perr(ps, TF_ENOMEM, p, "out of memory");
	str_decode(p + 1, close, esc, key);
	rc = 0;
	if (f->base == 0 && obj->len) {
		m = &obj->u.members[obj->len - 1];
		c = key_cmp(key, dlen, m->key, m->klen);
		if (c == 0)
			rc = TF_EDUPKEY;
		else if (c < 0)
			f->base = obj->len; /* out of order from here on */
	}
	/* base is 0 only while in order: the first key is never out of it */
	if (rc == 0 && f->base)
		rc = frame_note_key(f, obj->len, (size_t)(p - ps->start));
	if (rc == 0 && grow_one(obj))
		rc = TF_ENOMEM;
	if (rc) {
		if (rc == TF_EDUPKEY)
			perr(ps, rc, p, "duplicate key %s",
			     key_name(key, dlen, nb));
		else
			perr(ps, rc, p, "out of memory");
		free(key);
		return rc;
	}
	m = &obj->u.members[obj->len++];
	m->key = key;
	m->klen = dlen;
	m->value = NULL;
	*endp = close + 1;
	return 0;
}

/*
 * Finishes the container closing at p: an object whose keys did not arrive
 * in order is sorted, or fails with its earliest duplicate.
 */
static int close_frame(struct parser *ps, struct pframe *f,
		       const unsigned char *p)
{
	tf_json *obj = f->node;
	size_t dup;
	int rc;

	if (f->base == 0)
		return 0;
	rc = frame_sort(f, 1, &dup);
	if (rc == TF_EDUPKEY) {
		const tf_json_member *m;
		size_t i;
		char nb[80];

		/* name the key found at `dup` */
		for (i = f->base; i < obj->len; i++)
			if (frame_off(f)[i - f->base] == dup)
				break;
		assert(i < obj->len);
		m = &obj->u.members[i];
		return perr(ps, rc, ps->start + dup, "duplicate key %s",
			    key_name(m->key, m->klen, nb));
	}
	if (rc)
		return perr(ps, rc, p, "out of memory");
	frame_release(f);
	return 0;
}

/*
 * Keeps errors in document order: an open object that did not arrive in
 * order has not been checked for duplicates yet, and one of them may lie
 * before the error just reported (rc).  Returns the error to report.
 */
static int parse_fail(struct parser *ps, int rc)
{
	size_t d, best = ps->err_off, at = 0, dup;

	if (rc == TF_ENOMEM)
		return rc;
	for (d = 0; d < ps->depth; d++) {
		struct pframe *f = &ps->stack[d];

		if (f->base == 0 || f->node->len < 2)
			continue;
		if (frame_sort(f, 0, &dup) == TF_EDUPKEY && dup < best) {
			best = dup;
			at = d + 1;
		}
	}
	if (at == 0)
		return rc;
	/* re-report at the earlier duplicate (close_frame names the key) */
	return close_frame(ps, &ps->stack[at - 1], ps->start + best);
}

static int parse_doc(struct parser *ps, tf_json **out)
{
	const unsigned char *p = ps->start, *end = ps->end, *q, *close;
	tf_json *root = NULL, *v;
	struct pframe *f;
	size_t dlen;
	char nb[16];
	int rc, esc;

value:
	p = skip_ws(p, end);
	if (p == end) {
		rc = perr(ps, TF_EJSON, p,
			  "unexpected end of input, expected a value");
		goto fail;
	}
	switch (*p) {
	case '{':
	case '[':
		if (ps->depth >= ps->lim->max_depth) {
			rc = perr(ps, TF_ELIMIT, p,
				  "nesting deeper than max_depth %zu",
				  ps->lim->max_depth);
			goto fail;
		}
		v = node_new(*p == '[' ? TF_JSON_ARRAY : TF_JSON_OBJECT);
		if (v == NULL) {
			rc = perr(ps, TF_ENOMEM, p, "out of memory");
			goto fail;
		}
		rc = attach(ps, &root, v, p);
		if (rc)
			goto fail;
		if (push_frame(ps, v)) {
			rc = perr(ps, TF_ENOMEM, p, "out of memory");
			goto fail;
		}
		p = skip_ws(p + 1, end);
		if (v->type == TF_JSON_ARRAY) {
			if (p < end && *p == ']') {
				p++;
				ps->depth--;
				goto after;
			}
			goto value;
		}
		if (p < end && *p == '}') {
			p++;
			ps->depth--; /* empty: nothing to sort */
			goto after;
		}
		goto key;
	case '"':
		rc = str_scan(ps, p, &close, &dlen, &esc);
		if (rc)
			goto fail;
		v = node_text(TF_JSON_STRING, dlen);
		if (v == NULL) {
			rc = perr(ps, TF_ENOMEM, p, "out of memory");
			goto fail;
		}
		str_decode(p + 1, close, esc, v->u.str);
		rc = attach(ps, &root, v, p);
		if (rc)
			goto fail;
		p = close + 1;
		goto after;
	case 't':
	case 'f':
	case 'n':
		if (*p == 't' && end - p >= 4 && memcmp(p, "true", 4) == 0) {
			v = node_new(TF_JSON_TRUE);
			q = p + 4;
		} else if (*p == 'f' && end - p >= 5 &&
			   memcmp(p, "false", 5) == 0) {
			v = node_new(TF_JSON_FALSE);
			q = p + 5;
		} else if (*p == 'n' && end - p >= 4 &&
			   memcmp(p, "null", 4) == 0) {
			v = node_new(TF_JSON_NULL);
			q = p + 4;
		} else {
			rc = perr(ps, TF_EJSON, p,
				  "invalid literal (expected true, false or "
				  "null)");
			goto fail;
		}
		if (v == NULL) {
			rc = perr(ps, TF_ENOMEM, p, "out of memory");
			goto fail;
		}
		rc = attach(ps, &root, v, p);
		if (rc)
			goto fail;
		p = q;
		goto after;
	default:
		if (*p != '-' && !is_digit(*p)) {
			rc = perr(ps, TF_EJSON, p,
				  "unexpected %s, expected a value",
				  byte_name(*p, nb));
			goto fail;
		}
		rc = num_scan(ps, p, &q);
		if (rc)
			goto fail;
		v = node_text(TF_JSON_NUMBER, (size_t)(q - p));
		if (v == NULL) {
			rc = perr(ps, TF_ENOMEM, p, "out of memory");
			goto fail;
		}
		memcpy(v->u.str, p, (size_t)(q - p));
		rc = attach(ps, &root, v, p);
		if (rc)
			goto fail;
		p = q;
		goto after;
	}

key:
	rc = parse_key(ps, p, &p);
	if (rc)
		goto fail;
	p = skip_ws(p, end);
	if (p == end || *p != ':') {
		rc = p == end ? perr(ps, TF_EJSON, p,
				     "unexpected end of input, expected ':'")
			      : perr(ps, TF_EJSON, p,
				     "expected ':' after the key, found %s",
				     byte_name(*p, nb));
		goto fail;
	}
	p++;
	goto value;

after:
	if (ps->depth == 0)
		goto done;
	p = skip_ws(p, end);
	f = &ps->stack[ps->depth - 1];
	if (p == end) {
		rc = perr(ps, TF_EJSON, p,
			  "unexpected end of input, expected ',' or '%c'",
			  f->node->type == TF_JSON_ARRAY ? ']' : '}');
		goto fail;
	}
	if (*p == ',') {
		p = skip_ws(p + 1, end);
		if (f->node->type == TF_JSON_ARRAY)
			goto value;
		goto key;
	}
	if (*p == (f->node->type == TF_JSON_ARRAY ? ']' : '}')) {
		rc = close_frame(ps, f, p);
		if (rc)
			goto fail;
		p++;
		ps->depth--;
		goto after;
	}
	rc = perr(ps, TF_EJSON, p, "expected ',' or '%c', found %s",
		  f->node->type == TF_JSON_ARRAY ? ']' : '}',
		  byte_name(*p, nb));
	goto fail;

done:
	p = skip_ws(p, end);
	if (p != end) {
		rc = perr(ps, TF_EJSON, p, "unexpected %s after the value",
			  byte_name(*p, nb));
		goto fail;
	}
	*out = root;
	return 0;
fail:
	rc = parse_fail(ps, rc);
	while (ps->depth)
		frame_release(&ps->stack[--ps->depth]);
	tf_json_free(root);
	return rc;
}

int tf_json_parse(const char *text, size_t len, const tf_json_limits *lim,
		  tf_json **out, tf_err *err)
{
	struct parser ps;
	int rc;

	assert(out != NULL);
	assert(text != NULL || len == 0);
	*out = NULL;
	ps.start = (const unsigned char *)(text ? text : "");
	ps.end = ps.start + len;
	ps.lim = lim ? lim : &tf_json_default_limits;
	ps.err = err;
	ps.err_off = 0;
	ps.stack = ps.inl;
	ps.depth = 0;
	ps.cap = PARSE_INLINE;
	if (len > ps.lim->max_bytes) {
		rc = perr(&ps, TF_ELIMIT, ps.start + ps.lim->max_bytes,
			  "document longer than max_bytes %zu bytes",
			  ps.lim->max_bytes);
	} else {
		rc = parse_doc(&ps, out);
	}
	if (ps.stack != ps.inl)
		free(ps.stack);
	return rc;
}

/* ------------------------------------------------------------ build */

tf_json *tf_json_null(void)
{
	return node_new(TF_JSON_NULL);
}

tf_json *tf_json_bool(int b)
{
	return node_new(b ? TF_JSON_TRUE : TF_JSON_FALSE);
}

tf_json *tf_json_string(const char *s, size_t len)
{
	tf_json *v;

	if (s == NULL && len)
		return NULL;
	if (len && !tf_utf8_valid(s, len))
		return NULL;
	v = node_text(TF_JSON_STRING, len);
	if (v && len)
		memcpy(v->u.str, s, len);
	return v;
}

tf_json *tf_json_cstring(const char *s)
{
	if (s == NULL)
		return NULL;
	return tf_json_string(s, strlen(s));
}

/* 1 if s[0..len) is exactly one JSON number. */
static int number_ok(const char *s, size_t len)
{
	struct parser ps;
	const unsigned char *q;
	tf_json_limits lim = tf_json_default_limits;

	if (s == NULL || len == 0)
		return 0;
	lim.max_number = len;
	memset(&ps, 0, sizeof ps);
	ps.start = (const unsigned char *)s;
	ps.end = ps.start + len;
	ps.lim = &lim;
	return num_scan(&ps, ps.start, &q) == 0 && q == ps.end;
}

tf_json *tf_json_number_text(const char *s, size_t len)
{
	tf_json *v;

	if (!number_ok(s, len))
		return NULL;
	v = node_text(TF_JSON_NUMBER, len);
	if (v)
		memcpy(v->u.str, s, len);
	return v;
}

static tf_json *number_u64(uint64_t mag, int neg)
{
	char buf[24], *p = buf + sizeof buf;

	do {
		*--p = (char)('0' + mag % 10);
		mag /= 10;
	} while (mag);
	if (neg)
		*--p = '-';
	return tf_json_number_text(p, (size_t)(buf + sizeof buf - p));
}

tf_json *tf_json_int(int64_t v)
{
	/* -(v + 1) + 1 avoids negating INT64_MIN */
	if (v < 0)
		return number_u64((uint64_t)(-(v + 1)) + 1, 1);
	return number_u64((uint64_t)v, 0);
}

tf_json *tf_json_uint(uint64_t v)
{
	return number_u64(v, 0);
}

tf_json *tf_json_array(void)
{
	return node_new(TF_JSON_ARRAY);
}

tf_json *tf_json_object(void)
{
	return node_new(TF_JSON_OBJECT);
}

/* ------------------------------------------------------------ arrays */

int tf_json_array_push(tf_json *arr, tf_json *item)
{
	if (arr == NULL)
		return tf_json_array_insert(arr, 0, item);
	return tf_json_array_insert(arr, arr->len, item);
}

int tf_json_array_insert(tf_json *arr, size_t idx, tf_json *item)
{
	int rc = 0;

	assert(item == NULL || item != arr);
	if (item == NULL)
		return TF_EINVAL;
	if (arr == NULL) {
		rc = TF_EINVAL;
		goto out;
	}
	if (arr->type != TF_JSON_ARRAY) {
		rc = TF_ETYPE;
		goto out;
	}
	if (idx > arr->len) {
		rc = TF_ERANGE;
		goto out;
	}
	rc = grow_one(arr);
	if (rc)
		goto out;
	/* items is tf_json **: the elements moved are pointers. */
	memmove(&arr->u.items[idx + 1], &arr->u.items[idx],
		/* NOLINTNEXTLINE(bugprone-sizeof-expression) */
		(arr->len - idx) * sizeof *arr->u.items);
	arr->u.items[idx] = item;
	arr->len++;
	return 0;
out:
	tf_json_free(item);
	return rc;
}

tf_json *tf_json_array_remove(tf_json *arr, size_t idx)
{
	tf_json *v;

	if (arr == NULL || arr->type != TF_JSON_ARRAY || idx >= arr->len)
		return NULL;
	v = arr->u.items[idx];
	/* items is tf_json **: the elements moved are pointers. */
	memmove(&arr->u.items[idx], &arr->u.items[idx + 1],
		/* NOLINTNEXTLINE(bugprone-sizeof-expression) */
		(arr->len - idx - 1) * sizeof *arr->u.items);
	arr->len--;
	return v;
}

/* ------------------------------------------------------------ objects */

int tf_json_object_setn(tf_json *obj, const char *key, size_t klen,
			tf_json *val)
{
	tf_json_member *m;
	size_t pos;
	char *k;
	int found, rc = 0;

	assert(val == NULL || val != obj);
	if (val == NULL)
		return TF_EINVAL;
	if (obj == NULL || (key == NULL && klen)) {
		rc = TF_EINVAL;
		goto out;
	}
	if (obj->type != TF_JSON_OBJECT) {
		rc = TF_ETYPE;
		goto out;
	}
	if (klen && !tf_utf8_valid(key, klen)) {
		rc = TF_EINVAL;
		goto out;
	}
	pos = obj_find(obj, key ? key : "", klen, &found);
	if (found) {
		tf_json_free(obj->u.members[pos].value);
		obj->u.members[pos].value = val;
		return 0;
	}
	k = malloc(klen + 1);
	if (k == NULL || grow_one(obj)) {
		free(k);
		rc = TF_ENOMEM;
		goto out;
	}
	if (klen)
		memcpy(k, key, klen);
	k[klen] = '\0';
	m = &obj->u.members[pos];
	memmove(m + 1, m, (obj->len - pos) * sizeof *m);
	m->key = k;
	m->klen = klen;
	m->value = val;
	obj->len++;
	return 0;
out:
	tf_json_free(val);
	return rc;
}

int tf_json_object_set(tf_json *obj, const char *key, tf_json *val)
{
	if (key == NULL) {
		tf_json_free(val);
		return TF_EINVAL;
	}
	return tf_json_object_setn(obj, key, strlen(key), val);
}

tf_json *tf_json_object_getn(const tf_json *obj, const char *key, size_t klen)
{
	size_t pos;
	int found;

	if (obj == NULL || obj->type != TF_JSON_OBJECT || (key == NULL && klen))
		return NULL;
	pos = obj_find(obj, key ? key : "", klen, &found);
	return found ? obj->u.members[pos].value : NULL;
}

tf_json *tf_json_object_get(const tf_json *obj, const char *key)
{
	if (key == NULL)
		return NULL;
	return tf_json_object_getn(obj, key, strlen(key));
}

tf_json *tf_json_object_take(tf_json *obj, const char *key)
{
	tf_json_member *m;
	tf_json *v;
	size_t pos;
	int found;

	if (obj == NULL || key == NULL || obj->type != TF_JSON_OBJECT)
		return NULL;
	pos = obj_find(obj, key, strlen(key), &found);
	if (!found)
		return NULL;
	m = &obj->u.members[pos];
	v = m->value;
	free(m->key);
	memmove(m, m + 1, (obj->len - pos - 1) * sizeof *m);
	obj->len--;
	return v;
}

/* ------------------------------------------------------------ accessors */

const char *tf_json_str(const tf_json *v, size_t *len)
{
	if (v == NULL || v->type != TF_JSON_STRING)
		return NULL;
	if (len)
		*len = v->len;
	return v->u.str;
}

const char *tf_json_get_str(const tf_json *obj, const char *key, size_t *len)
{
	return tf_json_str(tf_json_object_get(obj, key), len);
}

/*
 * Splits an integer NUMBER into sign and magnitude: TF_ETYPE when v is no
 * NUMBER or has a fraction or exponent, TF_ERANGE past 2^64 - 1.
 */
static int int_parts(const tf_json *v, int *neg, uint64_t *mag)
{
	const char *s;
	size_t i = 0;
	uint64_t m = 0;

	if (v == NULL || v->type != TF_JSON_NUMBER || v->len == 0)
		return TF_ETYPE;
	s = v->u.str;
	*neg = s[0] == '-';
	if (*neg)
		i++;
	if (i == v->len)
		return TF_ETYPE;
	for (; i < v->len; i++) {
		unsigned d;

		if (!is_digit((unsigned char)s[i]))
			return TF_ETYPE;
		d = (unsigned)(s[i] - '0');
		if (m > (UINT64_MAX - d) / 10) {
			/* finish checking the grammar first: 1e999 is ETYPE */
			for (; i < v->len; i++)
				if (!is_digit((unsigned char)s[i]))
					return TF_ETYPE;
			return TF_ERANGE;
		}
		m = m * 10 + d;
	}
	*mag = m;
	return 0;
}

int tf_json_int64(const tf_json *v, int64_t *out)
{
	uint64_t mag;
	int neg, rc = int_parts(v, &neg, &mag);

	if (rc)
		return rc;
	if (neg) {
		if (mag > (uint64_t)INT64_MAX + 1)
			return TF_ERANGE;
		*out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN
						      : -(int64_t)mag;
	} else {
		if (mag > (uint64_t)INT64_MAX)
			return TF_ERANGE;
		*out = (int64_t)mag;
	}
	return 0;
}

int tf_json_uint64(const tf_json *v, uint64_t *out)
{
	uint64_t mag;
	int neg, rc = int_parts(v, &neg, &mag);

	if (rc)
		return rc;
	if (neg && mag != 0)
		return TF_ERANGE;
	*out = mag;
	return 0;
}

/* 1 for true, 0 for false, TF_ETYPE when v is not a boolean. */
int tf_json_is_bool(const tf_json *v)
{
	if (v == NULL)
		return TF_ETYPE;
	if (v->type == TF_JSON_TRUE)
		return 1;
	if (v->type == TF_JSON_FALSE)
		return 0;
	return TF_ETYPE;
}

/* ------------------------------------------------------------ clone */

/*
 * A copy of v without its children: text copied, containers get room for
 * all of v's children and len 0.
 */
static tf_json *clone_shallow(const tf_json *v)
{
	tf_json *c;
	size_t esz;

	switch (v->type) {
	case TF_JSON_NUMBER:
	case TF_JSON_STRING:
		c = node_text(v->type, v->len);
		if (c)
			memcpy(c->u.str, v->u.str, v->len);
		return c;
	case TF_JSON_ARRAY:
	case TF_JSON_OBJECT:
		c = node_new(v->type);
		if (c == NULL || v->len == 0)
			return c;
		esz = v->type == TF_JSON_ARRAY ? sizeof(tf_json *)
					       : sizeof(tf_json_member);
		c->u.items = v->len <= (size_t)-1 / esz ? malloc(v->len * esz)
							: NULL;
		if (c->u.items == NULL) {
			free(c);
			return NULL;
		}
		c->cap = v->len;
		return c;
	default:
		return node_new(v->type);
	}
}

tf_json *tf_json_clone(const tf_json *v)
{
	struct walk w;
	struct wframe *f;
	tf_json *root;

	if (v == NULL)
		return NULL;
	root = clone_shallow(v);
	if (root == NULL || !is_container(v) || v->len == 0)
		return root;
	walk_init(&w);
	f = walk_push(&w);
	f->a = v;
	f->d = root;
	while (w.n) {
		const tf_json *src, *cs;
		tf_json *dst, *cd;

		f = &w.f[w.n - 1];
		src = f->a;
		dst = f->d;
		if (dst->len == src->len) {
			w.n--;
			continue;
		}
		if (src->type == TF_JSON_ARRAY) {
			cs = src->u.items[dst->len];
			cd = clone_shallow(cs);
			if (cd == NULL)
				goto fail;
			dst->u.items[dst->len++] = cd;
		} else {
			const tf_json_member *sm = &src->u.members[dst->len];
			tf_json_member *dm = &dst->u.members[dst->len];
			char *k = malloc(sm->klen + 1);

			cs = sm->value;
			cd = k ? clone_shallow(cs) : NULL;
			if (cd == NULL) {
				free(k);
				goto fail;
			}
			memcpy(k, sm->key, sm->klen + 1);
			dm->key = k;
			dm->klen = sm->klen;
			dm->value = cd;
			dst->len++;
		}
		if (is_container(cs) && cs->len) {
			f = walk_push(&w);
			if (f == NULL)
				goto fail;
			f->a = cs;
			f->d = cd;
		}
	}
	walk_fini(&w);
	return root;
fail:
	walk_fini(&w);
	tf_json_free(root);
	return NULL;
}

/* ------------------------------------------------------------ write */

static const char hexdig[] = "0123456789abcdef";

/* The canonical escape of byte c (a CH_QUOTE/BSLASH/CTRL); its length. */
static size_t escape_seq(unsigned char c, char out[6])
{
	out[0] = '\\';
	switch (c) {
	case '"':
		out[1] = '"';
		return 2;
	case '\\':
		out[1] = '\\';
		return 2;
	case '\b':
		out[1] = 'b';
		return 2;
	case '\f':
		out[1] = 'f';
		return 2;
	case '\n':
		out[1] = 'n';
		return 2;
	case '\r':
		out[1] = 'r';
		return 2;
	case '\t':
		out[1] = 't';
		return 2;
	default:
		out[1] = 'u';
		out[2] = '0';
		out[3] = '0';
		out[4] = hexdig[c >> 4];
		out[5] = hexdig[c & 15];
		return 6;
	}
}

int tf_json_write_string(tf_buf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	char esc[6];

	assert(s != NULL || len == 0);
	tf_buf_putc(out, '"');
	while (p < end) {
		const unsigned char *run = p;

		while (p < end && chcls[*p] <= CH_HIGH)
			p++;
		if (p > run)
			tf_buf_append(out, run, (size_t)(p - run));
		if (p == end)
			break;
		tf_buf_append(out, esc, escape_seq(*p, esc));
		p++;
	}
	return tf_buf_putc(out, '"');
}

/* Writes a scalar or an empty container. */
static void write_leaf(const tf_json *v, tf_buf *out)
{
	switch (v->type) {
	case TF_JSON_NULL:
		tf_buf_append(out, "null", 4);
		break;
	case TF_JSON_FALSE:
		tf_buf_append(out, "false", 5);
		break;
	case TF_JSON_TRUE:
		tf_buf_append(out, "true", 4);
		break;
	case TF_JSON_NUMBER:
		tf_buf_append(out, v->u.str, v->len);
		break;
	case TF_JSON_STRING:
		tf_json_write_string(out, v->u.str, v->len);
		break;
	case TF_JSON_ARRAY:
		tf_buf_append(out, "[]", 2);
		break;
	case TF_JSON_OBJECT:
		tf_buf_append(out, "{}", 2);
		break;
	}
}

int tf_json_write(const tf_json *v, tf_buf *out)
{
	struct walk w;
	struct wframe *f;

	assert(v != NULL);
	if (out->failed)
		return out->failed;
	if (!is_container(v) || v->len == 0) {
		write_leaf(v, out);
		return out->failed;
	}
	walk_init(&w);
	f = walk_push(&w);
	f->a = v;
	tf_buf_putc(out, v->type == TF_JSON_ARRAY ? '[' : '{');
	while (w.n && !out->failed) {
		const tf_json *n, *c;

		f = &w.f[w.n - 1];
		n = f->a;
		if (f->i == n->len) {
			tf_buf_putc(out, n->type == TF_JSON_ARRAY ? ']' : '}');
			w.n--;
			continue;
		}
		if (f->i)
			tf_buf_putc(out, ',');
		if (n->type == TF_JSON_ARRAY) {
			c = n->u.items[f->i];
		} else {
			const tf_json_member *m = &n->u.members[f->i];

			tf_json_write_string(out, m->key, m->klen);
			tf_buf_putc(out, ':');
			c = m->value;
		}
		f->i++;
		if (is_container(c) && c->len) {
			tf_buf_putc(out, c->type == TF_JSON_ARRAY ? '[' : '{');
			f = walk_push(&w);
			if (f == NULL) {
				if (!out->failed)
					out->failed = TF_ENOMEM;
				break;
			}
			f->a = c;
		} else {
			write_leaf(c, out);
		}
	}
	walk_fini(&w);
	return out->failed;
}

int tf_json_canonicalize(const char *text, size_t len,
			 const tf_json_limits *lim, tf_buf *out, tf_err *err)
{
	tf_json *v = NULL;
	int rc = tf_json_parse(text, len, lim, &v, err);

	if (rc)
		return rc;
	rc = tf_json_write(v, out);
	if (rc && err) {
		tf_err_set(err, rc, NULL, "writing canonical JSON: %s",
			   tf_strerror(rc));
		err->offset = 0;
		err->line = 0;
		err->col = 0;
	}
	tf_json_free(v);
	return rc;
}

/* ------------------------------------------------------------ equal */

/* Same type and, for scalars, same text; containers' lengths match. */
static int shallow_equal(const tf_json *a, const tf_json *b)
{
	if (a->type != b->type || a->len != b->len)
		return 0;
	if (a->type == TF_JSON_NUMBER || a->type == TF_JSON_STRING)
		return memcmp(a->u.str, b->u.str, a->len) == 0;
	return 1;
}

int tf_json_equal(const tf_json *a, const tf_json *b)
{
	struct walk w;
	struct wframe *f;
	int eq = 1;

	if (a == NULL || b == NULL)
		return a == b;
	if (!shallow_equal(a, b))
		return 0;
	if (!is_container(a) || a->len == 0)
		return 1;
	walk_init(&w);
	f = walk_push_or_die(&w);
	f->a = a;
	f->b = b;
	while (w.n) {
		const tf_json *ca, *cb;

		f = &w.f[w.n - 1];
		if (f->i == f->a->len) {
			w.n--;
			continue;
		}
		if (f->a->type == TF_JSON_ARRAY) {
			ca = f->a->u.items[f->i];
			cb = f->b->u.items[f->i];
		} else {
			const tf_json_member *ma = &f->a->u.members[f->i];
			const tf_json_member *mb = &f->b->u.members[f->i];

			if (ma->klen != mb->klen ||
			    memcmp(ma->key, mb->key, ma->klen) != 0) {
				eq = 0;
				break;
			}
			ca = ma->value;
			cb = mb->value;
		}
		f->i++;
		if (!shallow_equal(ca, cb)) {
			eq = 0;
			break;
		}
		if (is_container(ca) && ca->len) {
			f = walk_push_or_die(&w);
			f->a = ca;
			f->b = cb;
		}
	}
	walk_fini(&w);
	return eq;
}

/* ------------------------------------------------------------ compare */

/*
 * A pull stream of a tree's canonical bytes, chunk by chunk, so that two
 * trees compare in their canonical order without writing either out.  The
 * chunk sequence concatenates to exactly what tf_json_write emits.
 */
struct canon {
	struct walk w;
	const tf_json *pend;	      /* value to begin next */
	const tf_json *val;	      /* member value to begin after ':' */
	const unsigned char *sp, *se; /* string body still to emit */
	int instr;		      /* inside a string */
	int colon;		      /* ':' is next */
	char esc[6];
};

static void canon_init(struct canon *c, const tf_json *v)
{
	walk_init(&c->w);
	c->pend = v;
	c->val = NULL;
	c->sp = c->se = NULL;
	c->instr = 0;
	c->colon = 0;
}

/* The next chunk in *p, *n; returns 0 at the end. */
static int canon_next(struct canon *c, const unsigned char **p, size_t *n)
{
	static const unsigned char punct[] = "\"[]{},:";
	struct wframe *f;
	const tf_json *v;

	if (c->instr) {
		const unsigned char *run = c->sp;

		if (run < c->se) {
			while (c->sp < c->se && chcls[*c->sp] <= CH_HIGH)
				c->sp++;
			if (c->sp > run) {
				*p = run;
				*n = (size_t)(c->sp - run);
				return 1;
			}
			*n = escape_seq(*c->sp++, c->esc);
			*p = (const unsigned char *)c->esc;
			return 1;
		}
		c->instr = 0;
		if (c->val)
			c->colon = 1;
		*p = punct; /* closing quote */
		*n = 1;
		return 1;
	}
	if (c->colon) {
		c->colon = 0;
		c->pend = c->val;
		c->val = NULL;
		*p = punct + 6;
		*n = 1;
		return 1;
	}
	if (c->pend) {
		v = c->pend;
		c->pend = NULL;
		switch (v->type) {
		case TF_JSON_NULL:
			*p = (const unsigned char *)"null";
			*n = 4;
			return 1;
		case TF_JSON_FALSE:
			*p = (const unsigned char *)"false";
			*n = 5;
			return 1;
		case TF_JSON_TRUE:
			*p = (const unsigned char *)"true";
			*n = 4;
			return 1;
		case TF_JSON_NUMBER:
			*p = (const unsigned char *)v->u.str;
			*n = v->len;
			return 1;
		case TF_JSON_STRING:
			c->instr = 1;
			c->sp = (const unsigned char *)v->u.str;
			c->se = c->sp + v->len;
			*p = punct;
			*n = 1;
			return 1;
		default:
			f = walk_push_or_die(&c->w);
			f->a = v;
			*p = punct + (v->type == TF_JSON_ARRAY ? 1 : 3);
			*n = 1;
			return 1;
		}
	}
	if (c->w.n == 0)
		return 0;
	f = &c->w.f[c->w.n - 1];
	v = f->a;
	if (f->i == v->len) {
		c->w.n--;
		*p = punct + (v->type == TF_JSON_ARRAY ? 2 : 4);
		*n = 1;
		return 1;
	}
	if (f->i && !f->sep) {
		f->sep = 1;
		*p = punct + 5;
		*n = 1;
		return 1;
	}
	f->sep = 0;
	if (v->type == TF_JSON_ARRAY) {
		c->pend = v->u.items[f->i++];
		return canon_next(c, p, n);
	}
	c->val = v->u.members[f->i].value;
	c->instr = 1;
	c->sp = (const unsigned char *)v->u.members[f->i].key;
	c->se = c->sp + v->u.members[f->i].klen;
	f->i++;
	*p = punct;
	*n = 1;
	return 1;
}

int tf_json_compare(const tf_json *a, const tf_json *b)
{
	struct canon ca, cb;
	const unsigned char *pa = NULL, *pb = NULL;
	size_t na = 0, nb = 0;
	int r = 0;

	assert(a != NULL && b != NULL);
	if (a == b)
		return 0;
	canon_init(&ca, a);
	canon_init(&cb, b);
	for (;;) {
		size_t k;

		if (na == 0 && !canon_next(&ca, &pa, &na)) {
			if (nb || canon_next(&cb, &pb, &nb))
				r = -1;
			break;
		}
		if (nb == 0 && !canon_next(&cb, &pb, &nb)) {
			r = 1;
			break;
		}
		/* zero-length chunks (the empty number cannot exist) */
		if (na == 0 || nb == 0)
			continue;
		k = na < nb ? na : nb;
		r = memcmp(pa, pb, k);
		if (r) {
			r = r < 0 ? -1 : 1;
			break;
		}
		pa += k;
		pb += k;
		na -= k;
		nb -= k;
	}
	walk_fini(&ca.w);
	walk_fini(&cb.w);
	return r;
}

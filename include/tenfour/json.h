/*
 * json.h - strict RFC 8259 JSON: parse, build, compare and write canonical
 * bytes.  The core's one data representation: records, commands and
 * protocol messages are tf_json trees.
 *
 * Strictness: UTF-8 validated (no overlongs, no surrogates, nothing past
 * U+10FFFF), "\u" escapes must pair surrogates, duplicate object keys are
 * rejected, U+0000 inside strings is rejected (so every string is also a C
 * string), nothing but whitespace after the value.  Numbers keep their exact
 * source text (grammar-checked, never converted through a double).
 *
 * Canonical form (what tf_json_write emits): no insignificant whitespace;
 * object members sorted by key in byte order (memcmp, a prefix sorts first);
 * strings escape only '"', '\\' and U+0000..U+001F ( \b \f \n \r \t or \u00XX
 * lower-case), everything else is raw UTF-8; numbers as their text; the
 * literals true/false/null.  Objects are kept sorted at all times, so the
 * canonical writer never sorts and lookups are binary searches.
 *
 * Ownership: a tf_json tree owns its children.  Functions that take a
 * tf_json * to insert ("takes ownership") free it themselves on failure.
 */
#ifndef TENFOUR_JSON_H
#define TENFOUR_JSON_H

#include "tenfour/tenfour.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tf_json_type {
	TF_JSON_NULL = 0,
	TF_JSON_FALSE,
	TF_JSON_TRUE,
	TF_JSON_NUMBER,
	TF_JSON_STRING,
	TF_JSON_ARRAY,
	TF_JSON_OBJECT
} tf_json_type;

typedef struct tf_json tf_json;

typedef struct tf_json_member {
	char *key; /* NUL-terminated, klen bytes */
	size_t klen;
	tf_json *value;
} tf_json_member;

struct tf_json {
	tf_json_type type;
	size_t len; /* bytes of str (NUMBER, STRING); items (ARRAY, OBJECT) */
	size_t cap; /* allocated items (ARRAY, OBJECT) */
	union {
		char *str;               /* NUMBER, STRING: NUL-terminated */
		tf_json **items;         /* ARRAY */
		tf_json_member *members; /* OBJECT, sorted by key */
	} u;
};

/*
 * Limits on untrusted input; each violation is TF_ELIMIT with the byte
 * offset, line:column and the limit's name and value in the message.
 */
typedef struct tf_json_limits {
	size_t max_bytes;   /* whole document */
	size_t max_depth;   /* nesting of arrays/objects */
	size_t max_string;  /* bytes of one decoded string or key */
	size_t max_items;   /* elements of one array */
	size_t max_members; /* members of one object */
	size_t max_number;  /* characters of one number */
} tf_json_limits;

/* 16 MiB, depth 32, string 1 MiB, 100000 items, 4096 members, 64 digits */
extern const tf_json_limits tf_json_default_limits;

/*
 * Parses `len` bytes at `text` (need not be NUL-terminated).  `lim` NULL
 * means tf_json_default_limits.  On success *out owns the tree.  Errors:
 * TF_EJSON (grammar), TF_EUTF8, TF_EDUPKEY, TF_ELIMIT, TF_ENOMEM; err gets
 * offset, line, col and a message such as
 * "line 3, column 7 (byte 41): duplicate key \"status\"".
 */
int tf_json_parse(const char *text, size_t len, const tf_json_limits *lim,
		  tf_json **out, tf_err *err);

void tf_json_free(tf_json *v);
/* Deep copy; NULL on ENOMEM. */
tf_json *tf_json_clone(const tf_json *v);

/* Constructors; NULL on ENOMEM (or invalid input for the _text forms). */
tf_json *tf_json_null(void);
tf_json *tf_json_bool(int b);
/* String of len bytes; must be valid UTF-8 without NUL, else NULL. */
tf_json *tf_json_string(const char *s, size_t len);
tf_json *tf_json_cstring(const char *s);
/* Number from its JSON text (grammar checked); NULL if not a JSON number. */
tf_json *tf_json_number_text(const char *s, size_t len);
tf_json *tf_json_int(int64_t v);
tf_json *tf_json_uint(uint64_t v);
tf_json *tf_json_array(void);
tf_json *tf_json_object(void);

/* Arrays.  push/insert take ownership of item. */
int tf_json_array_push(tf_json *arr, tf_json *item);
int tf_json_array_insert(tf_json *arr, size_t idx, tf_json *item);
/* Removes and returns item idx (caller owns it); NULL if out of range. */
tf_json *tf_json_array_remove(tf_json *arr, size_t idx);

/*
 * Objects.  set takes ownership of val, replacing (and freeing) any value
 * under the same key.  get returns a borrowed pointer valid until the
 * object is modified, or NULL.  take removes and returns the value.
 */
int tf_json_object_set(tf_json *obj, const char *key, tf_json *val);
int tf_json_object_setn(tf_json *obj, const char *key, size_t klen,
			tf_json *val);
tf_json *tf_json_object_get(const tf_json *obj, const char *key);
tf_json *tf_json_object_getn(const tf_json *obj, const char *key,
			     size_t klen);
tf_json *tf_json_object_take(tf_json *obj, const char *key);

/* Typed accessors: NULL / TF_ETYPE / TF_ERANGE when v is not of the kind. */
const char *tf_json_str(const tf_json *v, size_t *len); /* STRING only */
/* Member `key` of obj as a string, or NULL. */
const char *tf_json_get_str(const tf_json *obj, const char *key, size_t *len);
/* A NUMBER that is an integer (no fraction/exponent) within int64. */
int tf_json_int64(const tf_json *v, int64_t *out);
int tf_json_uint64(const tf_json *v, uint64_t *out);
int tf_json_is_bool(const tf_json *v);

/* Structural equality (numbers compare by text). */
int tf_json_equal(const tf_json *a, const tf_json *b);
/* Total order: by canonical bytes (memcmp, shorter prefix first). */
int tf_json_compare(const tf_json *a, const tf_json *b);

/*
 * Appends the canonical bytes of v to out.  Returns 0 or the buffer's
 * sticky error (TF_ENOMEM, TF_ELIMIT).
 */
int tf_json_write(const tf_json *v, tf_buf *out);
/* Appends s (len bytes, valid UTF-8) as a canonical JSON string. */
int tf_json_write_string(tf_buf *out, const char *s, size_t len);
/* Parse + canonical write in one step. */
int tf_json_canonicalize(const char *text, size_t len,
			 const tf_json_limits *lim, tf_buf *out, tf_err *err);

/* 1 if s[0..len) is valid UTF-8 (same rules as the parser), else 0. */
int tf_utf8_valid(const char *s, size_t len);

#ifdef __cplusplus
}
#endif
#endif

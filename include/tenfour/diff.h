/*
 * diff.h - word-level text diff (Myers, O((N+M)D)) and three-way merge
 * (diff3) for narrative fields, and the hunks a side-by-side
 * reconciliation screen draws.
 *
 * Tokens: a text is split into maximal runs of word characters, runs of
 * whitespace, and single punctuation characters (UTF-8 aware: a multi-byte
 * sequence counts as a word character), so joining the tokens gives back
 * the text byte for byte.
 *
 * Limits: TF_DIFF_MAX_TOKENS tokens per text and TF_DIFF_MAX_D edit
 * distance; past them TF_ELIMIT (callers then treat a merge as not clean).
 */
#ifndef TENFOUR_DIFF_H
#define TENFOUR_DIFF_H

#include "tenfour/json.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TF_DIFF_MAX_TOKENS 200000
#define TF_DIFF_MAX_D 20000

/*
 * Three-way merge of `a` (head) and `b` (proposed) against `base`.
 * When no changed regions of a and b overlap (changes at the same place
 * that are identical count as not overlapping), *clean = 1 and `merged`
 * receives the merged text; otherwise *clean = 0 and `merged` is left
 * untouched (appends only on a clean result; *clean is 0 on any error).
 * Returns 0, TF_ELIMIT, TF_ENOMEM or the buffer's earlier sticky error.
 */
int tf_diff3_merge(const char *base, size_t base_len, const char *a,
		   size_t a_len, const char *b, size_t b_len, tf_buf *merged,
		   int *clean);

/*
 * Two-way hunks of a -> b as canonical JSON (keys sorted):
 * [{"a":"text","b":"text","op":"eq"|"del"|"ins"|"rep"}, ...]
 * ("eq" carries the text in both, "del" only a, "ins" only b).
 */
int tf_diff_json(const char *a, size_t a_len, const char *b, size_t b_len,
		 tf_buf *out);

/*
 * Three-way hunks for a reconciliation screen, canonical JSON (keys sorted):
 * [{"base":"...","head":"...","kind":"same"|"head"|"proposed"|"both"|
 *   "conflict","proposed":"..."}, ...]
 * "head"/"proposed": only that side changed the region; "both": both made
 * the same change; "conflict": overlapping different changes.
 */
int tf_diff3_json(const char *base, size_t base_len, const char *a,
		  size_t a_len, const char *b, size_t b_len, tf_buf *out);

/*
 * The tokenizer the diff uses, for callers that draw word-level marks.
 * Stores the end offset of token i in ends[i] for i < cap, and sets *count
 * to the number of tokens (call with cap 0 to size `ends`).  Token i is
 * text[i ? ends[i - 1] : 0 .. ends[i]); the last end is len, so the tokens
 * joined give back the text.  Returns 0, or TF_ELIMIT past
 * TF_DIFF_MAX_TOKENS tokens (then *count is TF_DIFF_MAX_TOKENS + 1 and
 * only the first cap ends are stored).
 */
int tf_diff_tokenize(const char *text, size_t len, size_t *ends, size_t cap,
		     size_t *count);

#ifdef __cplusplus
}
#endif
#endif

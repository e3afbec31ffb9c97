/*
 * test_diff.c - the word tokenizer (round trips, classes, limit), two-way
 * hunks as exact JSON, diff3 merges and three-way hunks as exact JSON, the
 * limits (tokens, edit distance) leaving outputs untouched, and properties
 * over seeded random texts: hunks rebuild both texts, the diff is minimal
 * (checked against a dynamic-programming LCS), diff3 with one side equal to
 * the base returns the other side, and diff3 is symmetric in its sides.
 */
#include "tenfour/diff.h"

#include "tf_test.h"

/* ------------------------------------------------------------ helpers */

/* Tokens of s joined with '|' (s must not contain '|'), in a static buf. */
static const char *tokens_of(const char *s)
{
	static char out[512];
	size_t ends[128], n = 0, i, o = 0, prev = 0;
	int rc = tf_diff_tokenize(s, strlen(s), ends, 128, &n);

	if (rc != 0 || n > 128)
		return "(error)";
	for (i = 0; i < n; i++) {
		size_t len = ends[i] - prev;
		if (o + len + 2 > sizeof out)
			return "(overflow)";
		if (i)
			out[o++] = '|';
		memcpy(out + o, s + prev, len);
		o += len;
		prev = ends[i];
	}
	out[o] = '\0';
	return out;
}

/* tf_diff_json of two C strings as a malloc'd string; NULL on error. */
static char *diff_of(const char *a, const char *b)
{
	tf_buf out;

	tf_buf_init(&out);
	if (tf_diff_json(a, strlen(a), b, strlen(b), &out)) {
		tf_buf_free(&out);
		return NULL;
	}
	return tf_buf_take(&out, NULL);
}

static char *diff3_of(const char *o, const char *a, const char *b)
{
	tf_buf out;

	tf_buf_init(&out);
	if (tf_diff3_json(o, strlen(o), a, strlen(a), b, strlen(b), &out)) {
		tf_buf_free(&out);
		return NULL;
	}
	return tf_buf_take(&out, NULL);
}

#define CHECK_DIFF(a, b, want)                                                 \
	do {                                                                   \
		char *got_ = diff_of(a, b);                                    \
		CHECK_STR(got_, want);                                         \
		free(got_);                                                    \
	} while (0)

#define CHECK_DIFF3(o, a, b, want)                                             \
	do {                                                                   \
		char *got_ = diff3_of(o, a, b);                                \
		CHECK_STR(got_, want);                                         \
		free(got_);                                                    \
	} while (0)

/*
 * Merges into a buffer that already holds "<>", so the test also sees
 * that a clean merge appends and a conflict leaves the buffer alone.
 */
static void check_merge(const char *file, int line, const char *o,
			const char *a, const char *b, int want_clean,
			const char *want)
{
	tf_buf out;
	int clean = -1, rc;

	tf_buf_init(&out);
	tf_buf_puts(&out, "<>");
	rc = tf_diff3_merge(o, strlen(o), a, strlen(a), b, strlen(b), &out,
			    &clean);
	if (rc != 0 || clean != want_clean)
		tf_test_fail(file, line, "merge rc %d clean %d, want clean %d",
			     rc, clean, want_clean);
	if (want_clean && (out.len < 2 || strcmp(out.data + 2, want) != 0))
		tf_test_fail(file, line, "merged \"%s\", want \"<>%s\"",
			     tf_buf_cstr(&out), want);
	if (!want_clean && strcmp(tf_buf_cstr(&out), "<>") != 0)
		tf_test_fail(file, line, "conflict changed the buffer: \"%s\"",
			     tf_buf_cstr(&out));
	tf_buf_free(&out);
}

#define CHECK_MERGE(o, a, b, clean, want)                                      \
	check_merge(__FILE__, __LINE__, o, a, b, clean, want)

/* ------------------------------------------------------------ tokenizer */

TEST(tokenize_classes)
{
	CHECK_STR(tokens_of("Suspect fled, N/B on I-95."),
		  "Suspect| |fled|,| |N|/|B| |on| |I|-|95|.");
	CHECK_STR(tokens_of("unit_12  en\troute\r\n\n"),
		  "unit_12|  |en|\t|route|\r\n\n");
	/* Multi-byte UTF-8 is part of words, whatever the character is. */
	CHECK_STR(tokens_of("café niño—ok ü"), "café| |niño—ok| |ü");
	CHECK_STR(tokens_of("(\"a\")"), "(|\"|a|\"|)");
	CHECK_STR(tokens_of("\x01\x02 \x7f"), "\x01|\x02| |\x7f");
	CHECK_STR(tokens_of("..."), ".|.|.");
	CHECK_STR(tokens_of("\v\f x"), "\v\f |x");
	CHECK_STR(tokens_of(""), "");
}

/* Every byte value: two in a row are one token iff the class is a run. */
TEST(tokenize_every_byte)
{
	unsigned c;

	for (c = 0; c < 256; c++) {
		char s[3] = {(char)c, (char)c, 'a'};
		size_t n = 0, ends[3];
		int word = c >= 0x80 || c == '_' || (c >= '0' && c <= '9') ||
			   (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		int space = c == ' ' || (c >= '\t' && c <= '\r');

		CHECK_INT(tf_diff_tokenize(s, 2, ends, 3, &n), 0);
		CHECK_INT(n, word || space ? 1 : 2);
		/* Before a letter: one token only if c is a word byte. */
		CHECK_INT(tf_diff_tokenize(s + 1, 2, ends, 3, &n), 0);
		CHECK_INT(n, word ? 1 : 2);
	}
}

TEST(tokenize_counts_and_cap)
{
	size_t ends[2] = {99, 99}, n = 0;

	CHECK_INT(tf_diff_tokenize("", 0, NULL, 0, &n), 0);
	CHECK_INT(n, 0);
	CHECK_INT(tf_diff_tokenize(NULL, 0, NULL, 0, &n), 0);
	CHECK_INT(n, 0);
	/* cap 0 sizes; a short array gets the first ends only. */
	CHECK_INT(tf_diff_tokenize("a b c", 5, NULL, 0, &n), 0);
	CHECK_INT(n, 5);
	CHECK_INT(tf_diff_tokenize("a b c", 5, ends, 2, &n), 0);
	CHECK_INT(n, 5);
	CHECK_INT(ends[0], 1);
	CHECK_INT(ends[1], 2);
	/* Length is explicit: bytes after len are not read. */
	CHECK_INT(tf_diff_tokenize("ab cd", 2, ends, 2, &n), 0);
	CHECK_INT(n, 1);
	CHECK_INT(ends[0], 2);
}

/*
 * Random bytes (all 256 values, NUL included): ends increase strictly,
 * the last is len, and runs are maximal (two adjacent tokens are never
 * both word runs or both whitespace runs), so joining gives the text back.
 */
TEST(tokenize_round_trip_random_bytes)
{
	uint64_t seed = 0x746f6b656e730001ULL;
	uint8_t text[200];
	size_t ends[200], n, iter, i;

	for (iter = 0; iter < 2000; iter++) {
		size_t len = (size_t)(tf_test_rand(&seed) % sizeof text);
		const char *s = (const char *)text;
		size_t prev = 0;

		tf_test_rand_bytes(&seed, text, len);
		/* Bias toward letters and spaces so runs get long. */
		for (i = 0; i < len; i++) {
			if (text[i] % 3 == 0)
				text[i] = 'a' + text[i] % 26;
			else if (text[i] % 7 == 1)
				text[i] = ' ';
		}
		CHECK_INT(tf_diff_tokenize(s, len, ends, 200, &n), 0);
		CHECK(n <= len && (n > 0) == (len > 0));
		for (i = 0; i < n && i < 200; i++) {
			unsigned char c = text[prev], d;
			int word = c >= 0x80 || c == '_' ||
				   (c >= '0' && c <= '9') ||
				   (c >= 'a' && c <= 'z') ||
				   (c >= 'A' && c <= 'Z');
			CHECK(ends[i] > prev);
			if (i + 1 < n) {
				d = text[ends[i]];
				/* The next token starts with another class. */
				if (word)
					CHECK(!(d >= 0x80 || d == '_' ||
						(d >= '0' && d <= '9') ||
						(d >= 'a' && d <= 'z') ||
						(d >= 'A' && d <= 'Z')));
				if (c == ' ')
					CHECK(d != ' ' && d != '\t' &&
					      d != '\n' && d != '\r' &&
					      d != '\v' && d != '\f');
			}
			prev = ends[i];
		}
		CHECK_INT(prev, len);
	}
}

TEST(tokenize_limit)
{
	size_t len = TF_DIFF_MAX_TOKENS + 1, n = 0;
	char *s = malloc(len);

	CHECK(s != NULL);
	if (s == NULL)
		return;
	memset(s, '.', len);
	CHECK_INT(tf_diff_tokenize(s, len - 1, NULL, 0, &n), 0);
	CHECK_INT(n, TF_DIFF_MAX_TOKENS);
	CHECK_INT(tf_diff_tokenize(s, len, NULL, 0, &n), TF_ELIMIT);
	CHECK_INT(n, TF_DIFF_MAX_TOKENS + 1);
	/* A long run is one token however many bytes it has. */
	memset(s, 'x', len);
	CHECK_INT(tf_diff_tokenize(s, len, NULL, 0, &n), 0);
	CHECK_INT(n, 1);
	free(s);
}

/* ------------------------------------------------------------ two-way */

TEST(diff_table)
{
	CHECK_DIFF("", "", "[]");
	CHECK_DIFF("code 4", "code 4",
		   "[{\"a\":\"code 4\",\"b\":\"code 4\",\"op\":\"eq\"}]");
	CHECK_DIFF("", "on scene", "[{\"b\":\"on scene\",\"op\":\"ins\"}]");
	CHECK_DIFF("on scene", "", "[{\"a\":\"on scene\",\"op\":\"del\"}]");
	/* Insert at the start, in the middle, at the end. */
	CHECK_DIFF("unit en route", "lead unit en route",
		   "[{\"b\":\"lead \",\"op\":\"ins\"},"
		   "{\"a\":\"unit en route\",\"b\":\"unit en route\","
		   "\"op\":\"eq\"}]");
	CHECK_DIFF("suspect fled north", "suspect fled quickly north",
		   "[{\"a\":\"suspect fled \",\"b\":\"suspect fled \","
		   "\"op\":\"eq\"},"
		   "{\"b\":\"quickly \",\"op\":\"ins\"},"
		   "{\"a\":\"north\",\"b\":\"north\",\"op\":\"eq\"}]");
	CHECK_DIFF("arrived", "arrived on scene",
		   "[{\"a\":\"arrived\",\"b\":\"arrived\",\"op\":\"eq\"},"
		   "{\"b\":\" on scene\",\"op\":\"ins\"}]");
	/* Delete in the middle. */
	CHECK_DIFF("suspect fled quickly north", "suspect fled north",
		   "[{\"a\":\"suspect fled \",\"b\":\"suspect fled \","
		   "\"op\":\"eq\"},"
		   "{\"a\":\"quickly \",\"op\":\"del\"},"
		   "{\"a\":\"north\",\"b\":\"north\",\"op\":\"eq\"}]");
	/* Replace: a del directly followed by an ins is one "rep". */
	CHECK_DIFF("the red car", "the blue car",
		   "[{\"a\":\"the \",\"b\":\"the \",\"op\":\"eq\"},"
		   "{\"a\":\"red\",\"b\":\"blue\",\"op\":\"rep\"},"
		   "{\"a\":\" car\",\"b\":\" car\",\"op\":\"eq\"}]");
	CHECK_DIFF("red", "blue",
		   "[{\"a\":\"red\",\"b\":\"blue\",\"op\":\"rep\"}]");
	/* Unicode: words, not bytes, are the unit. */
	CHECK_DIFF("café niño", "café niña",
		   "[{\"a\":\"café \",\"b\":\"café \",\"op\":\"eq\"},"
		   "{\"a\":\"niño\",\"b\":\"niña\",\"op\":\"rep\"}]");
	/* Strings are escaped canonically. */
	CHECK_DIFF("say \"hi\"\n", "say \"bye\"\n",
		   "[{\"a\":\"say \\\"\",\"b\":\"say \\\"\",\"op\":\"eq\"},"
		   "{\"a\":\"hi\",\"b\":\"bye\",\"op\":\"rep\"},"
		   "{\"a\":\"\\\"\\n\",\"b\":\"\\\"\\n\",\"op\":\"eq\"}]");
	CHECK_DIFF("a\tb", "a\001b",
		   "[{\"a\":\"a\",\"b\":\"a\",\"op\":\"eq\"},"
		   "{\"a\":\"\\t\",\"b\":\"\\u0001\",\"op\":\"rep\"},"
		   "{\"a\":\"b\",\"b\":\"b\",\"op\":\"eq\"}]");
}

TEST(diff_appends_to_buffer)
{
	tf_buf out;

	tf_buf_init(&out);
	tf_buf_puts(&out, "x=");
	CHECK_INT(tf_diff_json("a", 1, "a", 1, &out), 0);
	CHECK_STR(tf_buf_cstr(&out),
		  "x=[{\"a\":\"a\",\"b\":\"a\",\"op\":\"eq\"}]");
	tf_buf_free(&out);
}

/* ------------------------------------------------------------ diff3 */

#define BASE "Unit 12 arrived at 1400. Suspect fled north on foot."

TEST(diff3_merge_table)
{
	/* Edits in different places merge. */
	CHECK_MERGE(BASE,
		    "Unit 12 arrived at 1405. Suspect fled north on foot.",
		    "Unit 12 arrived at 1400. Suspect fled south on foot.", 1,
		    "Unit 12 arrived at 1405. Suspect fled south on foot.");
	CHECK_MERGE(BASE, "Unit 12 arrived at 1400. Suspect fled north.",
		    "Officer: Unit 12 arrived at 1400. Suspect fled north on "
		    "foot.",
		    1, "Officer: Unit 12 arrived at 1400. Suspect fled north.");
	/* The same change on both sides is taken once. */
	CHECK_MERGE(BASE, "Unit 12 arrived at 1400. Suspect fled east on foot.",
		    "Unit 12 arrived at 1400. Suspect fled east on foot.", 1,
		    "Unit 12 arrived at 1400. Suspect fled east on foot.");
	/* Different changes to one region conflict. */
	CHECK_MERGE(BASE, "Unit 12 arrived at 1400. Suspect fled east on foot.",
		    "Unit 12 arrived at 1400. Suspect fled west on foot.", 0,
		    "");
	/* Two different insertions at one point conflict; equal ones not. */
	CHECK_MERGE("A B", "A X B", "A Y B", 0, "");
	CHECK_MERGE("A B", "A X B", "A X B", 1, "A X B");
	CHECK_MERGE("", "x", "y", 0, "");
	/* One side deletes a region the other edits inside. */
	CHECK_MERGE("one two three four", "one four", "one two THREE four", 0,
		    "");
	/* Edits touching with no unchanged token between them conflict. */
	CHECK_MERGE("ab,cd", "AB,cd", "ab;cd", 0, "");
	CHECK_MERGE("a b c", "a B c", "a b C", 1, "a B C");
	/* Empty base; base equal to one side; everything empty. */
	CHECK_MERGE("", "x", "", 1, "x");
	CHECK_MERGE("", "", "y z", 1, "y z");
	CHECK_MERGE("", "same", "same", 1, "same");
	CHECK_MERGE(BASE, BASE, "Totally new text.", 1, "Totally new text.");
	CHECK_MERGE(BASE, "", BASE, 1, "");
	CHECK_MERGE(BASE, BASE, BASE, 1, BASE);
	CHECK_MERGE("", "", "", 1, "");
	/* Both delete everything. */
	CHECK_MERGE(BASE, "", "", 1, "");
	/* Unicode words. */
	CHECK_MERGE("señor García llegó", "señor Garcia llegó",
		    "señor García salió", 1, "señor Garcia salió");
}

/* "w0 w1 ... w<n-1>", with word at[i] replaced by sub[i] for i < nsub. */
static void numbered_words(tf_buf *out, int n, const int *at,
			   const char *const *sub, int nsub)
{
	int i, k;

	for (i = 0; i < n; i++) {
		if (i)
			tf_buf_putc(out, ' ');
		for (k = 0; k < nsub && at[k] != i; k++)
			;
		if (k < nsub)
			tf_buf_puts(out, sub[k]);
		else
			tf_buf_printf(out, "w%d", i);
	}
}

/* Thousands of distinct words: the intern table grows many times. */
TEST(diff3_many_distinct_words)
{
	static const int at[] = {7, 5000, 19999};
	static const char *const sub[] = {"seven", "FIVE THOUSAND", "last"};
	tf_buf o, a, b, want, got;
	int clean = -1;

	tf_buf_init(&o);
	tf_buf_init(&a);
	tf_buf_init(&b);
	tf_buf_init(&want);
	tf_buf_init(&got);
	numbered_words(&o, 20000, at, sub, 0);
	numbered_words(&a, 20000, at + 1, sub + 1, 2);
	numbered_words(&b, 20000, at, sub, 1);
	numbered_words(&want, 20000, at, sub, 3);
	CHECK_INT(tf_diff3_merge(o.data, o.len, a.data, a.len, b.data, b.len,
				 &got, &clean),
		  0);
	CHECK_INT(clean, 1);
	CHECK(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);
	tf_buf_free(&got);
	tf_buf_free(&want);
	tf_buf_free(&b);
	tf_buf_free(&a);
	tf_buf_free(&o);
}

TEST(diff3_merge_null_empty_and_sticky)
{
	tf_buf out;
	int clean = -1;

	tf_buf_init(&out);
	CHECK_INT(tf_diff3_merge(NULL, 0, NULL, 0, "x", 1, &out, &clean), 0);
	CHECK_INT(clean, 1);
	CHECK_STR(tf_buf_cstr(&out), "x");
	/*
	 * NULL with length 0 is an empty text on every side, also where the
	 * empty side is the one copied out (no NULL + 0 arithmetic: UB,
	 * which clang's UBSan reports).
	 */
	tf_buf_reset(&out);
	CHECK_INT(tf_diff3_merge("x y", 3, NULL, 0, NULL, 0, &out, &clean), 0);
	CHECK_INT(clean, 1);
	CHECK_INT(out.len, 0);
	CHECK_INT(tf_diff_json(NULL, 0, "a", 1, &out), 0);
	CHECK_STR(tf_buf_cstr(&out), "[{\"b\":\"a\",\"op\":\"ins\"}]");
	tf_buf_reset(&out);
	CHECK_INT(tf_diff3_json("a", 1, NULL, 0, NULL, 0, &out), 0);
	CHECK_STR(tf_buf_cstr(&out), "[{\"base\":\"a\",\"head\":\"\","
				     "\"kind\":\"both\",\"proposed\":\"\"}]");
	tf_buf_reset(&out);
	CHECK_INT(tf_diff3_merge("x", 1, "x", 1, "x", 1, &out, &clean), 0);
	/* A buffer that failed before stays failed and is not written. */
	out.failed = TF_ENOMEM;
	clean = -1;
	CHECK_INT(tf_diff3_merge("a", 1, "a", 1, "b", 1, &out, &clean),
		  TF_ENOMEM);
	CHECK_INT(clean, 0);
	CHECK_INT(out.len, 1);
	CHECK_INT(tf_diff_json("a", 1, "b", 1, &out), TF_ENOMEM);
	CHECK_INT(tf_diff3_json("a", 1, "a", 1, "b", 1, &out), TF_ENOMEM);
	CHECK_INT(out.len, 1);
	tf_buf_free(&out);
}

TEST(diff3_json_table)
{
	CHECK_DIFF3("", "", "", "[]");
	CHECK_DIFF3("a", "a", "a",
		    "[{\"base\":\"a\",\"head\":\"a\",\"kind\":\"same\","
		    "\"proposed\":\"a\"}]");
	/* Word level: the space between two replaced words is unchanged. */
	CHECK_DIFF3(
		"fled north on foot", "fled south on foot", "fled north by car",
		"[{\"base\":\"fled \",\"head\":\"fled \",\"kind\":\"same\","
		"\"proposed\":\"fled \"},"
		"{\"base\":\"north\",\"head\":\"south\",\"kind\":\"head\","
		"\"proposed\":\"north\"},"
		"{\"base\":\" \",\"head\":\" \",\"kind\":\"same\","
		"\"proposed\":\" \"},"
		"{\"base\":\"on\",\"head\":\"on\",\"kind\":\"proposed\","
		"\"proposed\":\"by\"},"
		"{\"base\":\" \",\"head\":\" \",\"kind\":\"same\","
		"\"proposed\":\" \"},"
		"{\"base\":\"foot\",\"head\":\"foot\",\"kind\":\"proposed\","
		"\"proposed\":\"car\"}]");
	CHECK_DIFF3(
		"fled north", "fled east", "fled west",
		"[{\"base\":\"fled \",\"head\":\"fled \",\"kind\":\"same\","
		"\"proposed\":\"fled \"},"
		"{\"base\":\"north\",\"head\":\"east\",\"kind\":\"conflict\","
		"\"proposed\":\"west\"}]");
	CHECK_DIFF3("fled north", "fled east", "fled east",
		    "[{\"base\":\"fled \",\"head\":\"fled \",\"kind\":\"same\","
		    "\"proposed\":\"fled \"},"
		    "{\"base\":\"north\",\"head\":\"east\",\"kind\":\"both\","
		    "\"proposed\":\"east\"}]");
	CHECK_DIFF3("A B", "A X B", "A Y B",
		    "[{\"base\":\"A \",\"head\":\"A \",\"kind\":\"same\","
		    "\"proposed\":\"A \"},"
		    "{\"base\":\"\",\"head\":\"X \",\"kind\":\"conflict\","
		    "\"proposed\":\"Y \"},"
		    "{\"base\":\"B\",\"head\":\"B\",\"kind\":\"same\","
		    "\"proposed\":\"B\"}]");
	CHECK_DIFF3("", "x", "",
		    "[{\"base\":\"\",\"head\":\"x\",\"kind\":\"head\","
		    "\"proposed\":\"\"}]");
	CHECK_DIFF3("q\"", "q\"\n", "q\"",
		    "[{\"base\":\"q\\\"\",\"head\":\"q\\\"\",\"kind\":\"same\","
		    "\"proposed\":\"q\\\"\"},"
		    "{\"base\":\"\",\"head\":\"\\n\",\"kind\":\"head\","
		    "\"proposed\":\"\"}]");
}

/* ------------------------------------------------------------ limits */

/* n copies of the one-byte token c. */
static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	if (s) {
		memset(s, c, n);
		s[n] = '\0';
	}
	return s;
}

/*
 * Every entry point refuses (o, a, b) with TF_ELIMIT and writes nothing;
 * the pair (o, a) alone must already be past a limit.
 */
static void check_limited(const char *file, int line, const char *o, size_t ol,
			  const char *a, size_t al, const char *b, size_t bl)
{
	tf_buf out;
	int clean = -1;

	tf_buf_init(&out);
	tf_buf_puts(&out, "<>");
	if (tf_diff3_merge(o, ol, a, al, b, bl, &out, &clean) != TF_ELIMIT ||
	    clean != 0)
		tf_test_fail(file, line, "merge not limited (clean %d)", clean);
	if (tf_diff3_json(o, ol, a, al, b, bl, &out) != TF_ELIMIT)
		tf_test_fail(file, line, "diff3_json not limited");
	if (tf_diff_json(o, ol, a, al, &out) != TF_ELIMIT)
		tf_test_fail(file, line, "diff_json not limited");
	if (strcmp(tf_buf_cstr(&out), "<>") != 0 || out.failed)
		tf_test_fail(file, line, "output touched: \"%.20s\"",
			     tf_buf_cstr(&out));
	tf_buf_free(&out);
}

TEST(limit_tokens)
{
	char *big = repeat('.', TF_DIFF_MAX_TOKENS + 1);
	tf_buf out;
	int clean = -1;

	CHECK(big != NULL);
	if (big == NULL)
		return;
	check_limited(__FILE__, __LINE__, big, TF_DIFF_MAX_TOKENS + 1, "a", 1,
		      "b", 1);
	check_limited(__FILE__, __LINE__, "a", 1, big, TF_DIFF_MAX_TOKENS + 1,
		      "b", 1);
	/* Exactly at the limit, and equal texts, is fine and fast. */
	tf_buf_init(&out);
	CHECK_INT(tf_diff3_merge(big, TF_DIFF_MAX_TOKENS, big,
				 TF_DIFF_MAX_TOKENS, big, TF_DIFF_MAX_TOKENS,
				 &out, &clean),
		  0);
	CHECK_INT(clean, 1);
	CHECK_INT(out.len, TF_DIFF_MAX_TOKENS);
	tf_buf_free(&out);
	free(big);
}

TEST(limit_edit_distance)
{
	char *dots = repeat('.', TF_DIFF_MAX_D + 1);
	char *commas = repeat(',', TF_DIFF_MAX_D / 2 + 1);
	tf_buf out;
	int clean = -1;

	CHECK(dots != NULL && commas != NULL);
	if (dots == NULL || commas == NULL)
		goto out;
	/* One side empty: D is the other side's length. */
	check_limited(__FILE__, __LINE__, "", 0, dots, TF_DIFF_MAX_D + 1, "",
		      0);
	tf_buf_init(&out);
	CHECK_INT(
		tf_diff3_merge("", 0, dots, TF_DIFF_MAX_D, "", 0, &out, &clean),
		0);
	CHECK_INT(clean, 1);
	CHECK_INT(out.len, TF_DIFF_MAX_D);
	tf_buf_free(&out);
	/*
	 * Nothing in common on either side: the search itself must stop.
	 * D = 2 * (MAX_D / 2 + 1) (even) and MAX_D + 1 (odd) are refused,
	 * D = MAX_D (through the search) is not.
	 */
	tf_buf_init(&out);
	CHECK_INT(tf_diff_json(dots, TF_DIFF_MAX_D / 2 + 1, commas,
			       TF_DIFF_MAX_D / 2 + 1, &out),
		  TF_ELIMIT);
	CHECK_INT(tf_diff_json(dots, TF_DIFF_MAX_D / 2, commas,
			       TF_DIFF_MAX_D / 2 + 1, &out),
		  TF_ELIMIT);
	CHECK(out.len == 0 && out.failed == 0);
	tf_buf_free(&out);
	/* A length difference beyond MAX_D is refused before searching. */
	check_limited(__FILE__, __LINE__, "x", 1, dots, TF_DIFF_MAX_D + 1, "x",
		      1);
	tf_buf_init(&out);
	clean = -1;
	CHECK_INT(tf_diff3_merge(dots, TF_DIFF_MAX_D / 2, commas,
				 TF_DIFF_MAX_D / 2, dots, TF_DIFF_MAX_D / 2,
				 &out, &clean),
		  0);
	CHECK_INT(clean, 1);
	CHECK_INT(out.len, TF_DIFF_MAX_D / 2);
	CHECK(out.data != NULL && out.data[0] == ',');
	tf_buf_free(&out);
out:
	free(commas);
	free(dots);
}

/* ------------------------------------------------------------ properties */

static const char *const vocab[] = {
	"unit", "suspect", "north", "the", "a",	 "fled", "12", "café",
	"niño", " ",	   " ",	    " ",   "  ", "\n",	 ",",  ".",
	"-",	"\"",	   "\t",    "on",  "x",	 "1400", "on", " "};
#define NVOCAB (sizeof vocab / sizeof vocab[0])

/* A random text of at most max_parts vocabulary pieces, appended to buf. */
static void rand_text(uint64_t *seed, tf_buf *buf, size_t max_parts,
		      size_t nvocab)
{
	size_t n = (size_t)(tf_test_rand(seed) % (max_parts + 1)), i;

	for (i = 0; i < n; i++)
		tf_buf_puts(buf, vocab[tf_test_rand(seed) % nvocab]);
}

/*
 * Derives a text from base by a few random edits (delete, insert or
 * replace a span of bytes at token-ish boundaries), like a person editing.
 */
static void rand_edit(uint64_t *seed, const tf_buf *base, tf_buf *out)
{
	size_t edits = (size_t)(tf_test_rand(seed) % 4), e;
	tf_buf cur, next;

	tf_buf_init(&cur);
	tf_buf_append(&cur, base->data ? base->data : "", base->len);
	for (e = 0; e < edits; e++) {
		size_t at =
			cur.len ? (size_t)(tf_test_rand(seed) % cur.len) : 0;
		size_t del = cur.len - at ? (size_t)(tf_test_rand(seed) %
						     (cur.len - at + 1))
					  : 0;
		if (del > 8)
			del = 8;
		/* Cut at character boundaries: inputs are valid UTF-8. */
		while (at > 0 && ((unsigned char)cur.data[at] & 0xc0) == 0x80)
			at--;
		while (at + del < cur.len &&
		       ((unsigned char)cur.data[at + del] & 0xc0) == 0x80)
			del++;
		tf_buf_init(&next);
		tf_buf_append(&next, cur.data ? cur.data : "", at);
		if (tf_test_rand(seed) % 3)
			rand_text(seed, &next, 3, NVOCAB);
		tf_buf_append(&next, cur.data ? cur.data + at + del : "",
			      cur.len - at - del);
		tf_buf_free(&cur);
		cur = next;
	}
	tf_buf_append(out, cur.data ? cur.data : "", cur.len);
	tf_buf_free(&cur);
}

/* Longest common subsequence of two token lists, O(nm) table. */
static size_t lcs_tokens(const char *a, size_t al, const char *b, size_t bl)
{
	size_t ea[256], eb[256], na = 0, nb = 0, i, j, r;
	size_t *row;

	if (tf_diff_tokenize(a, al, ea, 256, &na) ||
	    tf_diff_tokenize(b, bl, eb, 256, &nb) || na > 256 || nb > 256)
		return (size_t)-1;
	row = calloc((na + 1) * (nb + 1), sizeof *row);
	if (row == NULL)
		return (size_t)-1;
	for (i = 1; i <= na; i++) {
		size_t a0 = i > 1 ? ea[i - 2] : 0, alen = ea[i - 1] - a0;
		for (j = 1; j <= nb; j++) {
			size_t b0 = j > 1 ? eb[j - 2] : 0,
			       blen = eb[j - 1] - b0;
			size_t *c = &row[i * (nb + 1) + j];
			if (alen == blen && memcmp(a + a0, b + b0, alen) == 0)
				*c = row[(i - 1) * (nb + 1) + j - 1] + 1;
			else
				*c = row[(i - 1) * (nb + 1) + j] >
						     row[i * (nb + 1) + j - 1]
					     ? row[(i - 1) * (nb + 1) + j]
					     : row[i * (nb + 1) + j - 1];
		}
	}
	r = row[na * (nb + 1) + nb];
	free(row);
	return r;
}

static size_t count_tokens(const char *s, size_t len)
{
	size_t n = 0;

	return tf_diff_tokenize(s, len, NULL, 0, &n) ? (size_t)-1 : n;
}

/*
 * Parses tf_diff_json(a, b) and checks it: hunks rebuild a and b, each
 * hunk's op matches its members, no two neighbours share an op, and the
 * "eq" tokens number the LCS (the diff is minimal).
 */
static void check_diff_hunks(const tf_buf *a, const tf_buf *b)
{
	tf_buf out, ra, rb;
	tf_json *v = NULL;
	const char *prev = "";
	size_t i, eq = 0;
	const char *as = a->data ? a->data : "", *bs = b->data ? b->data : "";

	tf_buf_init(&out);
	tf_buf_init(&ra);
	tf_buf_init(&rb);
	CHECK_INT(tf_diff_json(as, a->len, bs, b->len, &out), 0);
	CHECK_INT(tf_json_parse(out.data, out.len, NULL, &v, NULL), 0);
	CHECK(v != NULL && v->type == TF_JSON_ARRAY);
	for (i = 0; v != NULL && i < v->len; i++) {
		const tf_json *h = v->u.items[i];
		size_t la = 0, lb = 0;
		const char *op = tf_json_get_str(h, "op", NULL);
		const char *ta = tf_json_get_str(h, "a", &la);
		const char *tb = tf_json_get_str(h, "b", &lb);

		CHECK(op != NULL);
		if (op == NULL)
			break;
		CHECK(strcmp(op, prev) != 0);
		prev = op;
		if (strcmp(op, "eq") == 0) {
			CHECK(ta && tb && la == lb && la > 0 &&
			      memcmp(ta, tb, la) == 0);
			eq += ta ? count_tokens(ta, la) : 0;
		} else if (strcmp(op, "del") == 0) {
			CHECK(ta && !tb && la > 0);
		} else if (strcmp(op, "ins") == 0) {
			CHECK(!ta && tb && lb > 0);
		} else {
			CHECK_STR(op, "rep");
			CHECK(ta && tb && la > 0 && lb > 0);
		}
		CHECK_INT(h->len, 1 + (ta != NULL) + (tb != NULL));
		if (ta)
			tf_buf_append(&ra, ta, la);
		if (tb)
			tf_buf_append(&rb, tb, lb);
	}
	CHECK(ra.len == a->len &&
	      (a->len == 0 || !memcmp(ra.data, as, a->len)));
	CHECK(rb.len == b->len &&
	      (b->len == 0 || !memcmp(rb.data, bs, b->len)));
	CHECK_INT(eq, lcs_tokens(as, a->len, bs, b->len));
	tf_json_free(v);
	tf_buf_free(&rb);
	tf_buf_free(&ra);
	tf_buf_free(&out);
}

/* Merge of (o, a, b); *clean set; returns the merged text (malloc'd). */
static char *merge3(const tf_buf *o, const tf_buf *a, const tf_buf *b,
		    int *clean, size_t *len)
{
	tf_buf out;
	int rc;

	tf_buf_init(&out);
	rc = tf_diff3_merge(o->data ? o->data : "", o->len,
			    a->data ? a->data : "", a->len,
			    b->data ? b->data : "", b->len, &out, clean);
	CHECK_INT(rc, 0);
	return tf_buf_take(&out, len);
}

static int same_bytes(const char *p, size_t pl, const tf_buf *q)
{
	return pl == q->len && (pl == 0 || memcmp(p, q->data, pl) == 0);
}

/*
 * tf_diff3_json agrees with tf_diff3_merge: hunks rebuild all three
 * texts, kinds match contents, neighbours differ in kind, and the merge is
 * clean iff no hunk conflicts, with the merged text the chosen sides.
 */
static void check_diff3_hunks(const tf_buf *o, const tf_buf *a, const tf_buf *b,
			      int clean, const char *merged, size_t mlen)
{
	tf_buf out, r[3], m;
	tf_json *v = NULL;
	const char *prev = "";
	size_t i, k;
	int conflicts = 0;
	static const char *const key[3] = {"base", "head", "proposed"};

	tf_buf_init(&out);
	tf_buf_init(&m);
	for (k = 0; k < 3; k++)
		tf_buf_init(&r[k]);
	CHECK_INT(tf_diff3_json(o->data ? o->data : "", o->len,
				a->data ? a->data : "", a->len,
				b->data ? b->data : "", b->len, &out),
		  0);
	CHECK_INT(tf_json_parse(out.data, out.len, NULL, &v, NULL), 0);
	for (i = 0; v != NULL && i < v->len; i++) {
		const tf_json *h = v->u.items[i];
		const char *kind = tf_json_get_str(h, "kind", NULL);
		const char *t[3];
		size_t l[3] = {0, 0, 0};
		int eo_a, eo_b, ea_b;

		for (k = 0; k < 3; k++) {
			t[k] = tf_json_get_str(h, key[k], &l[k]);
			CHECK(t[k] != NULL);
			if (t[k] == NULL)
				goto out;
			tf_buf_append(&r[k], t[k], l[k]);
		}
		CHECK(kind != NULL && strcmp(kind, prev) != 0);
		if (kind == NULL)
			break;
		prev = kind;
		eo_a = l[0] == l[1] && !memcmp(t[0], t[1], l[0]);
		eo_b = l[0] == l[2] && !memcmp(t[0], t[2], l[0]);
		ea_b = l[1] == l[2] && !memcmp(t[1], t[2], l[1]);
		if (strcmp(kind, "same") == 0) {
			CHECK(eo_a && eo_b);
			tf_buf_append(&m, t[0], l[0]);
		} else if (strcmp(kind, "head") == 0) {
			CHECK(!eo_a && eo_b);
			tf_buf_append(&m, t[1], l[1]);
		} else if (strcmp(kind, "proposed") == 0) {
			CHECK(eo_a && !eo_b);
			tf_buf_append(&m, t[2], l[2]);
		} else if (strcmp(kind, "both") == 0) {
			CHECK(!eo_a && ea_b);
			tf_buf_append(&m, t[1], l[1]);
		} else {
			CHECK_STR(kind, "conflict");
			CHECK(!eo_a && !eo_b && !ea_b);
			conflicts++;
		}
	}
	CHECK(same_bytes(r[0].data, r[0].len, o));
	CHECK(same_bytes(r[1].data, r[1].len, a));
	CHECK(same_bytes(r[2].data, r[2].len, b));
	CHECK_INT(clean, conflicts == 0);
	if (clean)
		CHECK(same_bytes(merged, mlen, &m));
out:
	tf_json_free(v);
	for (k = 0; k < 3; k++)
		tf_buf_free(&r[k]);
	tf_buf_free(&m);
	tf_buf_free(&out);
}

TEST(property_random_texts)
{
	uint64_t seed = 0x6469666633000001ULL;
	size_t iter;

	for (iter = 0; iter < 3000; iter++) {
		tf_buf o, a, b;
		char *m1, *m2, *m3;
		size_t l1 = 0, l2 = 0, l3 = 0;
		int c1 = -1, c2 = -1, c3 = -1;
		/* Small vocabularies make many equal tokens: hard cases. */
		size_t nv = iter % 3 == 0 ? 3 : iter % 3 == 1 ? 8 : NVOCAB;

		tf_buf_init(&o);
		tf_buf_init(&a);
		tf_buf_init(&b);
		rand_text(&seed, &o, 30, nv);
		if (iter % 4 == 0) {
			/* Unrelated texts. */
			rand_text(&seed, &a, 30, nv);
			rand_text(&seed, &b, 30, nv);
		} else {
			rand_edit(&seed, &o, &a);
			rand_edit(&seed, &o, &b);
		}
		check_diff_hunks(&a, &b);
		check_diff_hunks(&o, &a);

		m1 = merge3(&o, &a, &b, &c1, &l1);
		m2 = merge3(&o, &b, &a, &c2, &l2);
		CHECK_INT(c1, c2);
		if (c1 && c2)
			CHECK(l1 == l2 && memcmp(m1, m2, l1) == 0);
		check_diff3_hunks(&o, &a, &b, c1, m1, l1);
		/* a == b: clean, the merged text is a. */
		free(m2);
		m2 = merge3(&o, &a, &a, &c2, &l2);
		CHECK(c2 == 1 && same_bytes(m2, l2, &a));
		/* One side is the base: the other side wins. */
		m3 = merge3(&o, &o, &b, &c3, &l3);
		CHECK(c3 == 1 && same_bytes(m3, l3, &b));
		free(m3);
		m3 = merge3(&o, &a, &o, &c3, &l3);
		CHECK(c3 == 1 && same_bytes(m3, l3, &a));
		free(m3);
		free(m2);
		free(m1);
		tf_buf_free(&b);
		tf_buf_free(&a);
		tf_buf_free(&o);
		if (tf_test_failed_checks)
			break; /* one reproducer is enough */
	}
}

int main(int argc, char **argv)
{
	(void)argc;
	RUN(tokenize_classes);
	RUN(tokenize_every_byte);
	RUN(tokenize_counts_and_cap);
	RUN(tokenize_round_trip_random_bytes);
	RUN(tokenize_limit);
	RUN(diff_table);
	RUN(diff_appends_to_buffer);
	RUN(diff3_merge_table);
	RUN(diff3_many_distinct_words);
	RUN(diff3_merge_null_empty_and_sticky);
	RUN(diff3_json_table);
	RUN(limit_tokens);
	RUN(limit_edit_distance);
	RUN(property_random_texts);
	return tf_test_finish(argv[0]);
}

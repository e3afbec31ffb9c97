/*
 * test_vectors.c - runs every case of the tests/vectors/ .json files through
 * tf_api_call and compares the output bytes with the case's "expect"
 * (format: tests/vectors/README.md).  tests/wasm/run-vectors.mjs runs the
 * same files through the WebAssembly build: together they prove a call
 * gives the same bytes natively and in a browser.
 *
 *   test_vectors                    run all (one count per case)
 *   test_vectors FILE...            run only those files
 *   test_vectors --generate FILE    print FILE with "expect" filled in
 *                                   for the cases that have none (the
 *                                   output is reviewed by eye, then
 *                                   committed)
 *   test_vectors --session          read lines "method<TAB>input" and
 *                                   print each output on one line, on one
 *                                   api handle (for scripts that build
 *                                   cases from earlier outputs)
 *
 * Each file runs in order on one fresh api handle, so a file can load a
 * schema and play a replica session step by step.
 */
#include "tenfour/api.h"
#include "tenfour/json.h"

#include "tf_test.h"

#include <dirent.h>

#define VECTOR_DIR "tests/vectors"
#define MAX_FILES 64
#define MAX_PATH 256

static const char *const case_keys[] = {"expect",     "input",	"input_hex",
					"input_text", "method", "name",
					"note",	      NULL};

/* The case being run by run_one (tf_test_run takes a void function). */
static struct {
	tf_api *api;
	const tf_json *cs;
	const char *file;
} cur;

/* The input bytes of a case into b; -1 with a message when malformed. */
static int case_input(const tf_json *cs, tf_buf *b, char *why, size_t cap)
{
	const tf_json *v = tf_json_object_get(cs, "input");
	const char *s;
	size_t len;
	int n = 0;

	n += v != NULL;
	n += tf_json_object_get(cs, "input_text") != NULL;
	n += tf_json_object_get(cs, "input_hex") != NULL;
	if (n > 1) {
		snprintf(why, cap,
			 "more than one of input, input_text, input_hex");
		return -1;
	}
	if (v)
		return tf_json_write(v, b) ? -1 : 0;
	if ((s = tf_json_get_str(cs, "input_text", &len)) != NULL)
		return tf_buf_append(b, s, len) ? -1 : 0;
	if ((s = tf_json_get_str(cs, "input_hex", &len)) != NULL) {
		uint8_t byte;
		size_t i;
		for (i = 0; i + 1 < len; i += 2) {
			if (tf_hex_decode(s + i, 2, &byte, 1) != 0)
				break;
			tf_buf_append(b, &byte, 1);
		}
		if (i != len) {
			snprintf(why, cap, "input_hex: bad hex at %zu", i);
			return -1;
		}
		return b->failed ? -1 : 0;
	}
	if (n) {
		snprintf(why, cap, "input_text and input_hex must be strings");
		return -1;
	}
	return 0; /* no input: empty bytes */
}

/* Checks the members of a case; -1 with a message when malformed. */
static int case_check(const tf_json *cs, char *why, size_t cap)
{
	size_t i, k;

	if (cs->type != TF_JSON_OBJECT) {
		snprintf(why, cap, "case is not an object");
		return -1;
	}
	for (i = 0; i < cs->len; i++) {
		for (k = 0; case_keys[k]; k++) {
			if (strcmp(case_keys[k], cs->u.members[i].key) == 0)
				break;
		}
		if (case_keys[k] == NULL) {
			snprintf(why, cap, "unknown member \"%s\"",
				 cs->u.members[i].key);
			return -1;
		}
	}
	if (tf_json_get_str(cs, "name", NULL) == NULL ||
	    tf_json_get_str(cs, "method", NULL) == NULL) {
		snprintf(why, cap, "name and method must be strings");
		return -1;
	}
	return 0;
}

/* Runs one case on api; out gets the output.  -1 when malformed. */
static int case_call(tf_api *api, const tf_json *cs, tf_buf *out, int *rc,
		     char *why, size_t cap)
{
	const char *method;
	size_t mlen;
	tf_buf in;
	int r;

	if (case_check(cs, why, cap))
		return -1;
	method = tf_json_get_str(cs, "method", &mlen);
	tf_buf_init(&in);
	r = case_input(cs, &in, why, cap);
	if (r == 0)
		*rc = tf_api_call(api, method, mlen, in.data, in.len, out);
	tf_buf_free(&in);
	return r;
}

/* 1 when rc agrees with the output document ({"ok": iff rc == 0). */
static int rc_consistent(int rc, const tf_buf *out)
{
	int ok = out->len >= 6 && memcmp(out->data, "{\"ok\":", 6) == 0;
	int err = out->len >= 9 && memcmp(out->data, "{\"error\":", 9) == 0;

	return rc == 0 ? ok : err;
}

static void run_one(void)
{
	const char *expect;
	size_t elen;
	char why[256];
	tf_buf out;
	int rc = 0;

	tf_buf_init(&out);
	why[0] = '\0';
	if (case_call(cur.api, cur.cs, &out, &rc, why, sizeof why) != 0) {
		tf_test_fail(cur.file, 0, "malformed case: %s", why);
		goto out;
	}
	expect = tf_json_get_str(cur.cs, "expect", &elen);
	if (expect == NULL) {
		tf_test_fail(cur.file, 0, "no \"expect\" (run --generate)");
		goto out;
	}
	if (!rc_consistent(rc, &out))
		tf_test_fail(cur.file, 0,
			     "return code %d disagrees with output", rc);
	if (out.len != elen || memcmp(out.data, expect, elen) != 0)
		tf_test_fail(cur.file, 0,
			     "output differs\n  expect: %s\n  got:    %s",
			     expect, tf_buf_cstr(&out));
out:
	tf_buf_free(&out);
}

/* Runs every case of one file on a fresh handle; returns -1 if unreadable. */
static int run_file(const char *path)
{
	char name[MAX_PATH + 160];
	tf_json *doc = NULL;
	tf_err err;
	size_t len, i;
	char *text = tf_test_read_file(path, &len);
	int rc = -1;

	if (text == NULL) {
		fprintf(stderr, "%s: cannot read\n", path);
		return -1;
	}
	if (tf_json_parse(text, len, NULL, &doc, &err) != 0 ||
	    doc->type != TF_JSON_ARRAY) {
		fprintf(stderr, "%s: %s\n", path,
			doc ? "not an array of cases" : err.msg);
		goto out;
	}
	cur.api = tf_api_new();
	cur.file = path;
	if (cur.api == NULL)
		goto out;
	for (i = 0; i < doc->len; i++) {
		const char *n = tf_json_get_str(doc->u.items[i], "name", NULL);
		snprintf(name, sizeof name, "%s: %s", path,
			 n ? n : "(no name)");
		cur.cs = doc->u.items[i];
		tf_test_run(name, run_one);
	}
	tf_api_free(cur.api);
	cur.api = NULL;
	rc = 0;
out:
	tf_json_free(doc);
	free(text);
	return rc;
}

static void unreadable_file(void)
{
	tf_test_fail(cur.file, 0, "cannot read or parse the vector file");
}

/* Counts a file that could not be run as one failed case. */
static void run_file_counted(const char *path)
{
	if (run_file(path) != 0) {
		cur.file = path;
		tf_test_run(path, unreadable_file);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The vector files in VECTOR_DIR, sorted; returns the count. */
static size_t list_files(char files[MAX_FILES][MAX_PATH])
{
	char *ptrs[MAX_FILES], tmp[MAX_FILES][MAX_PATH];
	DIR *d = opendir(VECTOR_DIR);
	struct dirent *e;
	size_t n = 0, i;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL && n < MAX_FILES) {
		size_t l = strlen(e->d_name);
		if (l < 6 || strcmp(e->d_name + l - 5, ".json") != 0 ||
		    l + sizeof VECTOR_DIR + 1 > MAX_PATH)
			continue;
		memcpy(tmp[n], VECTOR_DIR "/", sizeof VECTOR_DIR);
		memcpy(tmp[n] + sizeof VECTOR_DIR, e->d_name, l + 1);
		ptrs[n] = tmp[n];
		n++;
	}
	closedir(d);
	qsort(ptrs, n, sizeof ptrs[0], cmp_str);
	for (i = 0; i < n; i++)
		snprintf(files[i], MAX_PATH, "%s", ptrs[i]);
	return n;
}

/* Prints one member of a case as "key":<canonical value>. */
static void print_member(const tf_json *cs, const char *key, int *first)
{
	const tf_json *v = tf_json_object_get(cs, key);
	tf_buf b;

	if (v == NULL)
		return;
	tf_buf_init(&b);
	tf_json_write(v, &b);
	printf("%s\"%s\": %s", *first ? "" : ",\n ", key, tf_buf_cstr(&b));
	*first = 0;
	tf_buf_free(&b);
}

/*
 * Prints the file with "expect" filled in where missing, one case per
 * block, members in a fixed order.  Returns 1 on error.
 */
static int generate(const char *path)
{
	static const char *const order[] = {"name",   "note",	    "method",
					    "input",  "input_text", "input_hex",
					    "expect", NULL};
	tf_json *doc = NULL;
	tf_api *api = NULL;
	tf_err err;
	size_t len, i, k;
	char *text = tf_test_read_file(path, &len);
	int bad = 1;

	if (text == NULL || tf_json_parse(text, len, NULL, &doc, &err) != 0 ||
	    doc->type != TF_JSON_ARRAY || (api = tf_api_new()) == NULL) {
		fprintf(stderr, "%s: cannot read, parse or run\n", path);
		goto out;
	}
	printf("[\n");
	for (i = 0; i < doc->len; i++) {
		tf_json *cs = doc->u.items[i];
		char why[256];
		tf_buf out;
		int rc = 0, first = 1;

		tf_buf_init(&out);
		if (case_call(api, cs, &out, &rc, why, sizeof why) != 0) {
			fprintf(stderr, "%s: case %zu: %s\n", path, i, why);
			tf_buf_free(&out);
			goto out;
		}
		if (tf_json_object_get(cs, "expect") == NULL &&
		    tf_json_object_set(cs, "expect",
				       tf_json_string(out.data, out.len)) !=
			    0) {
			tf_buf_free(&out);
			goto out;
		}
		tf_buf_free(&out);
		printf("{");
		for (k = 0; order[k]; k++)
			print_member(cs, order[k], &first);
		printf("}%s\n", i + 1 < doc->len ? "," : "");
	}
	printf("]\n");
	bad = 0;
out:
	tf_api_free(api);
	tf_json_free(doc);
	free(text);
	return bad;
}

/* The --session mode: one call per input line, one output per line. */
static int session(void)
{
	static char line[(size_t)16 * 1024 * 1024];
	tf_api *api = tf_api_new();
	tf_buf out;
	size_t n;

	if (api == NULL)
		return 1;
	tf_buf_init(&out);
	while (fgets(line, sizeof line, stdin) != NULL) {
		char *tab = strchr(line, '\t');
		n = strlen(line);
		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		if (tab == NULL) {
			printf("{\"error\":\"expected method<TAB>input\"}\n");
			continue;
		}
		tf_api_call(api, line, (size_t)(tab - line), tab + 1,
			    n - (size_t)(tab + 1 - line), &out);
		printf("%s\n", tf_buf_cstr(&out));
		fflush(stdout);
	}
	tf_buf_free(&out);
	tf_api_free(api);
	return 0;
}

int main(int argc, char **argv)
{
	char files[MAX_FILES][MAX_PATH];
	size_t n, i;

	if (argc == 3 && strcmp(argv[1], "--generate") == 0)
		return generate(argv[2]);
	if (argc == 2 && strcmp(argv[1], "--session") == 0)
		return session();
	if (argc > 1) {
		for (i = 1; i < (size_t)argc; i++)
			run_file_counted(argv[i]);
	} else {
		n = list_files(files);
		if (n == 0) {
			cur.file = VECTOR_DIR;
			tf_test_run("no vector files", unreadable_file);
		}
		for (i = 0; i < n; i++)
			run_file_counted(files[i]);
	}
	return tf_test_finish(argv[0]);
}

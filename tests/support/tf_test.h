/*
 * tf_test.h - the test harness every test program uses: TEST() functions,
 * CHECK macros that record a failure and go on, a per-program summary line
 * "name: N passed, N failed" (counted per TEST), exit status 1 on failure.
 * Leaks are caught by LeakSanitizer in the SAN=1 run of the same programs.
 */
#ifndef TF_TEST_H
#define TF_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int tf_test_failed_checks; /* checks failed in the running TEST */

void tf_test_fail(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	__attribute__((format(printf, 3, 4)))
#endif
	;
void tf_test_run(const char *name, void (*fn)(void));
int tf_test_finish(const char *program);
/* Reads a whole file (for schemas and vectors); NULL on error. */
char *tf_test_read_file(const char *path, size_t *len);
/* Deterministic test randomness (xorshift64*), seedable. */
uint64_t tf_test_rand(uint64_t *state);
void tf_test_rand_bytes(uint64_t *state, uint8_t *out, size_t n);

#define TEST(name) static void name(void)
#define RUN(name) tf_test_run(#name, name)

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			tf_test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);  \
	} while (0)

#define CHECK_INT(a, b)                                                        \
	do {                                                                   \
		long long tf_a_ = (long long)(a), tf_b_ = (long long)(b);      \
		if (tf_a_ != tf_b_)                                            \
			tf_test_fail(__FILE__, __LINE__,                       \
				     "%s == %s: %lld != %lld", #a, #b, tf_a_,  \
				     tf_b_);                                   \
	} while (0)

#define CHECK_STR(a, b)                                                        \
	do {                                                                   \
		const char *tf_a_ = (a), *tf_b_ = (b);                         \
		if (tf_a_ == NULL || tf_b_ == NULL || strcmp(tf_a_, tf_b_) != 0) \
			tf_test_fail(__FILE__, __LINE__,                       \
				     "%s == %s: \"%s\" != \"%s\"", #a, #b,     \
				     tf_a_ ? tf_a_ : "(null)",                 \
				     tf_b_ ? tf_b_ : "(null)");                \
	} while (0)

/* The schema all tests use: schemas/cad.json (tests run from the root). */
#define TF_TEST_SCHEMA_PATH "schemas/cad.json"

#endif

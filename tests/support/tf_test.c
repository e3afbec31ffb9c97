/* tf_test.c - the harness behind tf_test.h. */
#include "tf_test.h"

#include <stdarg.h>

int tf_test_failed_checks;
static int passed, failed;
static const char *current;

void tf_test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	tf_test_failed_checks++;
	fprintf(stderr, "%s:%d: [%s] ", file, line, current ? current : "?");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void tf_test_run(const char *name, void (*fn)(void))
{
	current = name;
	tf_test_failed_checks = 0;
	fn();
	if (tf_test_failed_checks) {
		failed++;
		fprintf(stderr, "FAIL %s\n", name);
	} else {
		passed++;
	}
	current = NULL;
}

int tf_test_finish(const char *program)
{
	const char *base = strrchr(program, '/');

	printf("%s: %d passed, %d failed\n", base ? base + 1 : program, passed,
	       failed);
	return failed ? 1 : 0;
}

char *tf_test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		if (buf) {
			buf[n] = '\0';
			if (len)
				*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

uint64_t tf_test_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ULL;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

void tf_test_rand_bytes(uint64_t *s, uint8_t *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = (uint8_t)(tf_test_rand(s) >> 56);
}

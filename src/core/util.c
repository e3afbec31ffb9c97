/*
 * util.c - error strings (from the one TF_ERRNO_MAP list), tf_err, tf_buf,
 * hex and zeroing helpers.  No I/O.
 */
#include "tenfour/tenfour.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tf_strerror(int code)
{
	switch (code) {
	case TF_OK:
		return "ok";
#define TF_X_(name, val, str, wire)                                            \
	case TF_##name:                                                        \
		return str;
		TF_ERRNO_MAP(TF_X_)
#undef TF_X_
	default:
		return "unknown error";
	}
}

const char *tf_errcode(int code)
{
	switch (code) {
	case TF_OK:
		return "ok";
#define TF_X_(name, val, str, wire)                                            \
	case TF_##name:                                                        \
		return wire;
		TF_ERRNO_MAP(TF_X_)
#undef TF_X_
	default:
		return "unknown";
	}
}

int tf_errno_from_code(const char *code)
{
	if (code == NULL)
		return TF_EINVAL;
	if (strcmp(code, "ok") == 0)
		return TF_OK;
#define TF_X_(name, val, str, wire)                                            \
	if (strcmp(code, wire) == 0)                                           \
		return TF_##name;
	TF_ERRNO_MAP(TF_X_)
#undef TF_X_
	return TF_EINVAL;
}

void tf_err_clear(tf_err *err)
{
	if (err)
		memset(err, 0, sizeof *err);
}

int tf_err_set(tf_err *err, int code, const char *where, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	if (where) {
		snprintf(err->where, sizeof err->where, "%s", where);
	} else {
		err->where[0] = '\0';
	}
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	return code;
}

void tf_buf_init(tf_buf *b)
{
	memset(b, 0, sizeof *b);
}

void tf_buf_free(tf_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

void tf_buf_reset(tf_buf *b)
{
	b->len = 0;
	b->failed = 0;
	if (b->data)
		b->data[0] = '\0';
}

/* Ensures room for n more bytes plus a NUL. */
static int buf_grow(tf_buf *b, size_t n)
{
	size_t need, cap;
	char *p;

	if (b->failed)
		return b->failed;
	if (n > TF_BUF_MAX || b->len > TF_BUF_MAX - n) {
		b->failed = TF_ELIMIT;
		return TF_ELIMIT;
	}
	need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap < TF_BUF_MAX / 2 ? cap * 2 : need;
	p = realloc(b->data, cap);
	if (p == NULL) {
		b->failed = TF_ENOMEM;
		return TF_ENOMEM;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

int tf_buf_append(tf_buf *b, const void *p, size_t n)
{
	int rc = buf_grow(b, n);

	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int tf_buf_putc(tf_buf *b, char c)
{
	return tf_buf_append(b, &c, 1);
}

int tf_buf_puts(tf_buf *b, const char *s)
{
	return tf_buf_append(b, s, strlen(s));
}

int tf_buf_printf(tf_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, rc;

	if (b->failed)
		return b->failed;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = TF_EINVAL;
		return TF_EINVAL;
	}
	rc = buf_grow(b, (size_t)n);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

const char *tf_buf_cstr(tf_buf *b)
{
	return b->data ? b->data : "";
}

char *tf_buf_take(tf_buf *b, size_t *len)
{
	char *p = b->data;

	if (len)
		*len = b->len;
	if (p == NULL) {
		p = malloc(1);
		if (p)
			p[0] = '\0';
	}
	memset(b, 0, sizeof *b);
	return p;
}

void tf_hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int tf_hex_decode(const char *in, size_t inlen, uint8_t *out, size_t n)
{
	size_t i;

	if (inlen != 2 * n)
		return TF_EINVAL;
	for (i = 0; i < n; i++) {
		int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return TF_EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void tf_memzero(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n--)
		*v++ = 0;
}

/*
 * test_util.c - util.c: error strings and wire codes (every code of
 * TF_ERRNO_MAP round trips), tf_err, tf_buf (append, printf, sticky
 * failure, take, the TF_BUF_MAX cap) and hex encode/decode.
 */
#include "tenfour/tenfour.h"

#include "tf_test.h"

static const struct {
	int code;
	const char *str, *wire;
} codes[] = {
#define TF_X_(name, val, str, wire) {TF_##name, str, wire},
	TF_ERRNO_MAP(TF_X_)
#undef TF_X_
};
#define NCODES (sizeof codes / sizeof *codes)

TEST(error_codes_round_trip)
{
	size_t i, j;

	CHECK_INT(NCODES, 33); /* the wire codes are stable: append only */
	for (i = 0; i < NCODES; i++) {
		CHECK(codes[i].code < 0);
		CHECK_STR(tf_strerror(codes[i].code), codes[i].str);
		CHECK_STR(tf_errcode(codes[i].code), codes[i].wire);
		CHECK_INT(tf_errno_from_code(codes[i].wire), codes[i].code);
		/* values and wire codes are unique */
		for (j = 0; j < i; j++) {
			CHECK(codes[i].code != codes[j].code);
			CHECK(strcmp(codes[i].wire, codes[j].wire) != 0);
		}
	}
	CHECK_STR(tf_strerror(TF_OK), "ok");
	CHECK_STR(tf_errcode(TF_OK), "ok");
	CHECK_INT(tf_errno_from_code("ok"), TF_OK);
	CHECK_STR(tf_strerror(-1000), "unknown error");
	CHECK_STR(tf_strerror(5), "unknown error");
	CHECK_STR(tf_errcode(-1000), "unknown");
	CHECK_INT(tf_errno_from_code("no_such_code"), TF_EINVAL);
	CHECK_INT(tf_errno_from_code(""), TF_EINVAL);
	CHECK_INT(tf_errno_from_code("Clock_Skew"), TF_EINVAL);
	CHECK_INT(tf_errno_from_code(NULL), TF_EINVAL);
	/* a few pinned by the protocol */
	CHECK_STR(tf_errcode(TF_ECLOCKSKEW), "clock_skew");
	CHECK_STR(tf_errcode(TF_EDUPKEY), "duplicate_key");
	CHECK_STR(tf_errcode(TF_EVERSION), "unsupported_version");
}

TEST(err_set_and_clear)
{
	tf_err e;
	char longw[200];

	memset(&e, 0x5a, sizeof e);
	tf_err_clear(&e);
	CHECK_INT(e.code, 0);
	CHECK_INT(e.offset, 0);
	CHECK_INT(e.line, 0);
	CHECK_STR(e.where, "");
	CHECK_STR(e.msg, "");

	CHECK_INT(tf_err_set(&e, TF_EVALIDATE, "incident.priority",
			     "%s: %d is above max %d", "incident.priority", 9,
			     5),
		  TF_EVALIDATE);
	CHECK_INT(e.code, TF_EVALIDATE);
	CHECK_STR(e.where, "incident.priority");
	CHECK_STR(e.msg, "incident.priority: 9 is above max 5");
	CHECK_INT(tf_err_set(&e, TF_ENOMEM, NULL, "out of memory"), TF_ENOMEM);
	CHECK_STR(e.where, "");
	CHECK_STR(e.msg, "out of memory");
	/* NULL err: only the code comes back */
	CHECK_INT(tf_err_set(NULL, TF_EPERM, "x", "y"), TF_EPERM);
	tf_err_clear(NULL);
	/* overlong where and msg are truncated, NUL-terminated */
	memset(longw, 'w', sizeof longw - 1);
	longw[sizeof longw - 1] = '\0';
	tf_err_set(&e, TF_EINVAL, longw, "%s%s", longw, longw);
	CHECK_INT(strlen(e.where), sizeof e.where - 1);
	CHECK_INT(strlen(e.msg), sizeof e.msg - 1);
}

TEST(buf_append)
{
	tf_buf b;
	char *p;
	size_t len = 99, i;

	tf_buf_init(&b);
	CHECK(b.data == NULL && b.len == 0 && b.cap == 0 && b.failed == 0);
	CHECK_STR(tf_buf_cstr(&b), "");
	CHECK_INT(tf_buf_append(&b, "ab", 2), 0);
	CHECK_INT(tf_buf_putc(&b, 'c'), 0);
	CHECK_INT(tf_buf_puts(&b, "de"), 0);
	CHECK_INT(tf_buf_append(&b, NULL, 0), 0);
	CHECK_INT(b.len, 5);
	CHECK_STR(tf_buf_cstr(&b), "abcde");
	CHECK(b.cap > b.len);
	/* embedded NUL is kept, data stays terminated */
	CHECK_INT(tf_buf_append(&b, "\0x", 2), 0);
	CHECK_INT(b.len, 7);
	CHECK(memcmp(b.data, "abcde\0x", 8) == 0);
	/* growth over many appends keeps every byte */
	tf_buf_reset(&b);
	CHECK_INT(b.len, 0);
	CHECK_STR(tf_buf_cstr(&b), "");
	for (i = 0; i < 10000; i++)
		tf_buf_putc(&b, (char)('a' + i % 26));
	CHECK_INT(b.len, 10000);
	CHECK_INT(b.failed, 0);
	for (i = 0; i < 10000; i++)
		if (b.data[i] != (char)('a' + i % 26))
			break;
	CHECK_INT(i, 10000);
	CHECK(b.data[10000] == '\0');

	p = tf_buf_take(&b, &len);
	CHECK_INT(len, 10000);
	CHECK(p != NULL && p[9999] == 'a' + 9999 % 26);
	CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
	free(p);
	/* take of an empty buffer gives an empty string */
	p = tf_buf_take(&b, &len);
	CHECK(p != NULL && p[0] == '\0');
	CHECK_INT(len, 0);
	free(p);
	p = tf_buf_take(&b, NULL);
	free(p);
	tf_buf_free(&b);
	tf_buf_free(&b); /* twice is harmless */
}

TEST(buf_printf)
{
	tf_buf b;
	char big[1000];

	tf_buf_init(&b);
	CHECK_INT(tf_buf_printf(&b, "%s=%d", "ver", 7), 0);
	CHECK_INT(tf_buf_printf(&b, ",%05.1f", 2.25), 0);
	CHECK_INT(tf_buf_printf(&b, "%s", ""), 0);
	CHECK_STR(tf_buf_cstr(&b), "ver=7,002.2");
	CHECK_INT(b.len, 11);
	memset(big, 'z', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	CHECK_INT(tf_buf_printf(&b, "[%s]", big), 0);
	CHECK_INT(b.len, 11 + 1001);
	CHECK(b.data[11] == '[' && b.data[1011] == ']' && b.data[1012] == 0);
	tf_buf_free(&b);
}

TEST(buf_sticky_failure)
{
	tf_buf b;

	tf_buf_init(&b);
	tf_buf_puts(&b, "keep");
	b.failed = TF_ENOMEM;
	CHECK_INT(tf_buf_append(&b, "x", 1), TF_ENOMEM);
	CHECK_INT(tf_buf_putc(&b, 'x'), TF_ENOMEM);
	CHECK_INT(tf_buf_puts(&b, "x"), TF_ENOMEM);
	CHECK_INT(tf_buf_printf(&b, "%d", 1), TF_ENOMEM);
	CHECK_INT(b.len, 4);
	CHECK_STR(tf_buf_cstr(&b), "keep");
	/* reset clears the failure and the contents, keeps the memory */
	tf_buf_reset(&b);
	CHECK_INT(b.failed, 0);
	CHECK(b.cap > 0);
	CHECK_INT(tf_buf_puts(&b, "again"), 0);
	CHECK_STR(tf_buf_cstr(&b), "again");
	tf_buf_free(&b);
}

/*
 * The TF_BUF_MAX cap, without allocating 256 MiB: a buffer whose len is
 * crafted near the cap (its data is never touched on these paths, because
 * the cap is checked before any growth or copy).
 */
TEST(buf_max_cap)
{
	tf_buf b;
	char small[8];

	/* one append larger than the cap: refused before reading p */
	tf_buf_init(&b);
	CHECK_INT(tf_buf_append(&b, small, TF_BUF_MAX + 1), TF_ELIMIT);
	CHECK_INT(b.failed, TF_ELIMIT);
	CHECK_INT(b.len, 0);
	CHECK(b.data == NULL);
	/* and it is sticky */
	CHECK_INT(tf_buf_putc(&b, 'x'), TF_ELIMIT);
	tf_buf_free(&b);

	/* len + n past the cap, also where len + n would wrap size_t */
	tf_buf_init(&b);
	b.data = small;
	b.cap = sizeof small;
	b.len = TF_BUF_MAX - 1;
	CHECK_INT(tf_buf_append(&b, "ab", 2), TF_ELIMIT);
	CHECK_INT(b.len, TF_BUF_MAX - 1);
	b.failed = 0;
	CHECK_INT(tf_buf_printf(&b, "%s", "abc"), TF_ELIMIT);
	b.failed = 0;
	b.len = TF_BUF_MAX;
	CHECK_INT(tf_buf_putc(&b, 'x'), TF_ELIMIT);
	b.failed = 0;
	CHECK_INT(tf_buf_append(&b, small, (size_t)-1), TF_ELIMIT);
	b.failed = 0;
	b.len = 1;
	CHECK_INT(tf_buf_append(&b, small, (size_t)-1), TF_ELIMIT);
	CHECK_INT(tf_buf_append(&b, small, TF_BUF_MAX), TF_ELIMIT);
	/* the crafted buffer is not ours to free */
	tf_buf_init(&b);
	tf_buf_free(&b);
}

TEST(hex)
{
	static const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
	uint8_t back[sizeof bytes], one[1] = {0x42};
	char txt[2 * sizeof bytes + 1];

	tf_hex_encode(bytes, sizeof bytes, txt);
	CHECK_STR(txt, "00017f80abff");
	CHECK_INT(tf_hex_decode(txt, strlen(txt), back, sizeof back), 0);
	CHECK(memcmp(back, bytes, sizeof bytes) == 0);
	CHECK_INT(tf_hex_decode("00017F80ABFF", 12, back, sizeof back), 0);
	CHECK(memcmp(back, bytes, sizeof bytes) == 0);
	tf_hex_encode(bytes, 0, txt);
	CHECK_STR(txt, "");
	CHECK_INT(tf_hex_decode("", 0, back, 0), 0);
	/* wrong length */
	CHECK_INT(tf_hex_decode("abc", 3, back, 1), TF_EINVAL);
	CHECK_INT(tf_hex_decode("ab", 2, back, 2), TF_EINVAL);
	CHECK_INT(tf_hex_decode("abcd", 4, back, 1), TF_EINVAL);
	/* bad digits in either nibble */
	CHECK_INT(tf_hex_decode("g0", 2, one, 1), TF_EINVAL);
	CHECK_INT(tf_hex_decode("0g", 2, one, 1), TF_EINVAL);
	CHECK_INT(tf_hex_decode(" 1", 2, one, 1), TF_EINVAL);
	CHECK_INT(tf_hex_decode("-1", 2, one, 1), TF_EINVAL);
	CHECK_INT(tf_hex_decode("0x", 2, one, 1), TF_EINVAL);
	CHECK_INT(tf_hex_decode("\xff" "0", 2, one, 1), TF_EINVAL);
	CHECK_INT(tf_hex_decode(":0", 2, one, 1), TF_EINVAL);
	CHECK_INT(tf_hex_decode("@0", 2, one, 1), TF_EINVAL);
	CHECK_INT(tf_hex_decode("`0", 2, one, 1), TF_EINVAL);
	CHECK_INT(tf_hex_decode("G0", 2, one, 1), TF_EINVAL);
	CHECK_INT(one[0], 0x42);
	/* every byte value round trips */
	{
		uint8_t all[256], got[256];
		char t[513];
		int i;

		for (i = 0; i < 256; i++)
			all[i] = (uint8_t)i;
		tf_hex_encode(all, 256, t);
		CHECK_INT(strlen(t), 512);
		CHECK_INT(tf_hex_decode(t, 512, got, 256), 0);
		CHECK(memcmp(all, got, 256) == 0);
	}
}

TEST(memzero)
{
	char s[16] = "secret material";
	size_t i;

	tf_memzero(s, sizeof s);
	for (i = 0; i < sizeof s; i++)
		CHECK_INT(s[i], 0);
	tf_memzero(s, 0);
}

int main(int argc, char **argv)
{
	(void)argc;
	RUN(error_codes_round_trip);
	RUN(err_set_and_clear);
	RUN(buf_append);
	RUN(buf_printf);
	RUN(buf_sticky_failure);
	RUN(buf_max_cap);
	RUN(hex);
	RUN(memzero);
	return tf_test_finish(argv[0]);
}

/*
 * test_crypto.c - src/crypto: known-answer vectors (FIPS 180, RFC 4231,
 * RFC 2202, PBKDF2, RFC 6238, RFC 8032, RFC 4648), the refusals of every
 * function, and the key file rules (mode 0600, refusal of a file open to
 * group or others, atomic save).
 */
#include "crypto/crypto.h"
#include "tf_test.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

static void unhex(const char *hex, uint8_t *out, size_t n)
{
	if (tf_hex_decode(hex, strlen(hex), out, n) != 0)
		abort();
}

static int hex_eq(const uint8_t *got, size_t n, const char *want)
{
	char hex[257];

	if (n * 2 + 1 > sizeof hex || strlen(want) != n * 2)
		return 0;
	tf_hex_encode(got, n, hex);
	if (strcmp(hex, want) != 0) {
		fprintf(stderr, "  got  %s\n  want %s\n", hex, want);
		return 0;
	}
	return 1;
}

/* ------------------------------------------------------------- hashes */

TEST(sha256_fips180)
{
	uint8_t d[TF_SHA256_LEN];

	CHECK_INT(tf_sha256("abc", 3, d), 0);
	CHECK(hex_eq(d, sizeof d,
		     "ba7816bf8f01cfea414140de5dae2223"
		     "b00361a396177a9cb410ff61f20015ad"));
	CHECK_INT(tf_sha256("", 0, d), 0);
	CHECK(hex_eq(d, sizeof d,
		     "e3b0c44298fc1c149afbf4c8996fb924"
		     "27ae41e4649b934ca495991b7852b855"));
	CHECK_INT(tf_sha256(NULL, 0, d), 0);
	CHECK(hex_eq(d, sizeof d,
		     "e3b0c44298fc1c149afbf4c8996fb924"
		     "27ae41e4649b934ca495991b7852b855"));
	CHECK_INT(tf_sha256(NULL, 1, d), TF_EINVAL);
}

TEST(hmac_sha256_rfc4231)
{
	uint8_t key[20], d[TF_SHA256_LEN];
	const char *jefe = "what do ya want for nothing?";

	memset(key, 0x0b, sizeof key);
	CHECK_INT(tf_hmac_sha256(key, sizeof key, "Hi There", 8, d), 0);
	CHECK(hex_eq(d, sizeof d,
		     "b0344c61d8db38535ca8afceaf0bf12b"
		     "881dc200c9833da726e9376c2e32cff7"));
	CHECK_INT(tf_hmac_sha256((const uint8_t *)"Jefe", 4, jefe, strlen(jefe),
				 d),
		  0);
	CHECK(hex_eq(d, sizeof d,
		     "5bdcc146bf60754e6a042426089575c7"
		     "5a003f089d2739839dec58b964ec3843"));
	/* An empty key is a key (RFC 2104 pads it with zeros). */
	CHECK_INT(tf_hmac_sha256(NULL, 0, "", 0, d), 0);
	CHECK(hex_eq(d, sizeof d,
		     "b613679a0814d9ec772f95d778c35fc5"
		     "ff1697c493715653c6c712144292c5ad"));
	CHECK_INT(tf_hmac_sha256(NULL, 1, "x", 1, d), TF_EINVAL);
	CHECK_INT(tf_hmac_sha256(key, 1, NULL, 1, d), TF_EINVAL);
}

TEST(hmac_sha1_rfc2202)
{
	uint8_t key[20], d[TF_SHA1_LEN];
	const char *jefe = "what do ya want for nothing?";

	memset(key, 0x0b, sizeof key);
	CHECK_INT(tf_hmac_sha1(key, sizeof key, "Hi There", 8, d), 0);
	CHECK(hex_eq(d, sizeof d, "b617318655057264e28bc0b6fb378c8ef146be00"));
	CHECK_INT(
		tf_hmac_sha1((const uint8_t *)"Jefe", 4, jefe, strlen(jefe), d),
		0);
	CHECK(hex_eq(d, sizeof d, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"));
}

/*
 * No published PBKDF2-HMAC-SHA256 vector uses >= 600,000 iterations and a
 * 16-byte salt; these were computed with both
 *   openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt pass:password
 *     -kdfopt salt:saltsaltsaltsalt -kdfopt iter:600000 PBKDF2
 * and Python's hashlib.pbkdf2_hmac, which agree.
 */
TEST(pbkdf2_vectors)
{
	uint8_t salt[16], out[32], big[64];
	size_t i;

	CHECK_INT(tf_pbkdf2_sha256("password", 8,
				   (const uint8_t *)"saltsaltsaltsalt", 16,
				   600000, out, sizeof out),
		  0);
	CHECK(hex_eq(out, sizeof out,
		     "3257cf76e56a9cc4e3afa561c3fd4daa"
		     "6952b61e91c4e365955121042cfb94a2"));
	for (i = 0; i < sizeof salt; i++)
		salt[i] = (uint8_t)i;
	CHECK_INT(tf_pbkdf2_sha256("correct-horse-battery", 21, salt,
				   sizeof salt, 600001, out, sizeof out),
		  0);
	CHECK(hex_eq(out, sizeof out,
		     "cd465751cf081dfd513ebaf1a1d66369"
		     "256fbeb3bfe722309081fffbbad6e64b"));
	/* A longer output starts with the 32-byte one (block 1 of PBKDF2). */
	CHECK_INT(tf_pbkdf2_sha256("correct-horse-battery", 21, salt,
				   sizeof salt, 600001, big, sizeof big),
		  0);
	CHECK(memcmp(big, out, sizeof out) == 0);
}

TEST(pbkdf2_refusals)
{
	uint8_t salt[16] = {0}, out[32];

	memset(out, 0xaa, sizeof out);
	CHECK_INT(tf_pbkdf2_sha256("pw", 2, salt, sizeof salt, 599999, out,
				   sizeof out),
		  TF_ERANGE);
	CHECK_INT(tf_pbkdf2_sha256("pw", 2, salt, sizeof salt, 1, out,
				   sizeof out),
		  TF_ERANGE);
	CHECK_INT(tf_pbkdf2_sha256("pw", 2, salt, sizeof salt,
				   TF_PBKDF2_MAX_ITER + 1, out, sizeof out),
		  TF_ERANGE);
	CHECK_INT(tf_pbkdf2_sha256("pw", 2, salt, 15, 600000, out, sizeof out),
		  TF_ERANGE);
	CHECK_INT(tf_pbkdf2_sha256("pw", 2, salt, 0, 600000, out, sizeof out),
		  TF_ERANGE);
	CHECK_INT(tf_pbkdf2_sha256("pw", 2, NULL, 16, 600000, out, sizeof out),
		  TF_EINVAL);
	CHECK_INT(tf_pbkdf2_sha256(NULL, 2, salt, 16, 600000, out, sizeof out),
		  TF_EINVAL);
	CHECK_INT(tf_pbkdf2_sha256("pw", 2, salt, 16, 600000, out, 0),
		  TF_EINVAL);
	CHECK_INT(tf_pbkdf2_sha256("pw", 2, salt, 16, 600000, NULL, 32),
		  TF_EINVAL);
	CHECK_INT(tf_pbkdf2_sha256("pw", 2, salt, 16, 600000, out, 4096),
		  TF_EINVAL);
	/* Refusals write nothing. */
	CHECK(out[0] == 0xaa && out[31] == 0xaa);
}

TEST(random_and_ct_equal)
{
	uint8_t a[32], b[32], z[32] = {0};

	CHECK_INT(tf_random_bytes(a, sizeof a), 0);
	CHECK_INT(tf_random_bytes(b, sizeof b), 0);
	CHECK(!tf_ct_equal(a, b, sizeof a));
	CHECK(!tf_ct_equal(a, z, sizeof a));
	CHECK(tf_ct_equal(a, a, sizeof a));
	CHECK(tf_ct_equal(a, b, 0));
	memcpy(b, a, sizeof a);
	b[31] ^= 1;
	CHECK(!tf_ct_equal(a, b, sizeof a));
	CHECK(tf_ct_equal(a, b, 31));
	CHECK_INT(tf_random_bytes(NULL, 0), 0);
	CHECK_INT(tf_random_bytes(NULL, 4), TF_EINVAL);
}

/* -------------------------------------------------------------- codecs */

TEST(b64url_rfc4648)
{
	static const char *plain[] = {"",     "f",     "fo",	"foo",
				      "foob", "fooba", "foobar"};
	static const char *enc[] = {"",	      "Zg",	 "Zm8",	    "Zm9v",
				    "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
	char out[16];
	uint8_t dec[16];
	size_t i, n;

	for (i = 0; i < sizeof plain / sizeof plain[0]; i++) {
		size_t len = strlen(plain[i]);

		CHECK_INT(tf_b64url_encode((const uint8_t *)plain[i], len, out,
					   sizeof out),
			  0);
		CHECK_STR(out, enc[i]);
		CHECK_INT(tf_b64url_decode(enc[i], strlen(enc[i]), dec,
					   sizeof dec, &n),
			  0);
		CHECK_INT(n, len);
		CHECK(memcmp(dec, plain[i], len) == 0);
	}
	/* The url-safe characters: 0xfb 0xff -> "-_8" (not "+/8"). */
	CHECK_INT(tf_b64url_encode((const uint8_t *)"\xfb\xff", 2, out,
				   sizeof out),
		  0);
	CHECK_STR(out, "-_8");
	CHECK_INT(tf_b64url_decode("-_8", 3, dec, sizeof dec, &n), 0);
	CHECK(n == 2 && dec[0] == 0xfb && dec[1] == 0xff);
}

TEST(b64url_round_trip)
{
	uint64_t rs = 42;
	uint8_t in[70], dec[70];
	char enc[100];
	size_t n, len;

	for (len = 0; len <= sizeof in; len++) {
		tf_test_rand_bytes(&rs, in, len);
		CHECK_INT(tf_b64url_encode(in, len, enc, sizeof enc), 0);
		CHECK_INT(strlen(enc),
			  len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0));
		CHECK_INT(
			tf_b64url_decode(enc, strlen(enc), dec, sizeof dec, &n),
			0);
		CHECK_INT(n, len);
		CHECK(memcmp(in, dec, len) == 0);
	}
}

TEST(b64url_refusals)
{
	uint8_t dec[8];
	char out[12];
	size_t n = 99;

	memset(dec, 0x55, sizeof dec);
	/* Padding, whitespace, the standard alphabet's + and /, NUL. */
	CHECK_INT(tf_b64url_decode("Zg==", 4, dec, sizeof dec, &n), TF_EINVAL);
	CHECK_INT(n, 0);
	CHECK_INT(tf_b64url_decode("Zm8=", 4, dec, sizeof dec, &n), TF_EINVAL);
	CHECK_INT(tf_b64url_decode("Zm 9v", 5, dec, sizeof dec, &n), TF_EINVAL);
	CHECK_INT(tf_b64url_decode("Zm9v\n", 5, dec, sizeof dec, &n),
		  TF_EINVAL);
	CHECK_INT(tf_b64url_decode("+/8", 3, dec, sizeof dec, &n), TF_EINVAL);
	CHECK_INT(tf_b64url_decode("Zm\0v", 4, dec, sizeof dec, &n), TF_EINVAL);
	CHECK_INT(tf_b64url_decode("Zm9\xc3", 4, dec, sizeof dec, &n),
		  TF_EINVAL);
	/* A 4k+1 length cannot be base64. */
	CHECK_INT(tf_b64url_decode("Zm9vY", 5, dec, sizeof dec, &n), TF_EINVAL);
	CHECK_INT(tf_b64url_decode("Z", 1, dec, sizeof dec, &n), TF_EINVAL);
	/* Non-zero unused bits: "Zh" would also decode to "f". */
	CHECK_INT(tf_b64url_decode("Zh", 2, dec, sizeof dec, &n), TF_EINVAL);
	CHECK_INT(tf_b64url_decode("Zm9", 3, dec, sizeof dec, &n), TF_EINVAL);
	/* Output room. */
	CHECK_INT(tf_b64url_decode("Zm9vYmFy", 8, dec, 5, &n), TF_ELIMIT);
	CHECK_INT(tf_b64url_decode("Zm9vYmFy", 8, dec, 6, &n), 0);
	CHECK_INT(n, 6);
	memset(dec, 0x55, sizeof dec);
	CHECK_INT(tf_b64url_decode("Zm9vYmFy", 8, NULL, 0, &n), TF_ELIMIT);
	CHECK_INT(tf_b64url_decode("", 0, NULL, 0, &n), 0);
	CHECK_INT(n, 0);
	CHECK_INT(tf_b64url_decode(NULL, 1, dec, sizeof dec, &n), TF_EINVAL);
	CHECK_INT(tf_b64url_decode("Zg", 2, dec, sizeof dec, NULL), TF_EINVAL);
	/* Nothing was written by any refusal. */
	CHECK(dec[0] == 0x55 && dec[7] == 0x55);
	/* Encoder: needs room for the text and the NUL. */
	CHECK_INT(tf_b64url_encode((const uint8_t *)"foobar", 6, out, 9), 0);
	CHECK_STR(out, "Zm9vYmFy");
	CHECK_INT(tf_b64url_encode((const uint8_t *)"foobar", 6, out, 8),
		  TF_ELIMIT);
	CHECK_INT(tf_b64url_encode((const uint8_t *)"f", 1, out, 2), TF_ELIMIT);
	CHECK_INT(tf_b64url_encode((const uint8_t *)"", 0, out, 0), TF_ELIMIT);
	CHECK_INT(tf_b64url_encode(NULL, 0, out, 1), 0);
	CHECK_STR(out, "");
	CHECK_INT(tf_b64url_encode(NULL, 3, out, sizeof out), TF_EINVAL);
	CHECK_INT(tf_b64url_encode((const uint8_t *)"f", 1, NULL, 8),
		  TF_EINVAL);
	/* A length whose encoding overflows size_t. */
	CHECK_INT(tf_b64url_encode((const uint8_t *)"f", SIZE_MAX, out,
				   sizeof out),
		  TF_ELIMIT);
}

TEST(b32_rfc4648)
{
	static const char *plain[] = {"",     "f",     "fo",	"foo",
				      "foob", "fooba", "foobar"};
	static const char *padded[] = {
		"",	    "MY======", "MZXQ====",	   "MZXW6===",
		"MZXW6YQ=", "MZXW6YTB", "MZXW6YTBOI======"};
	char out[40], lower[32];
	uint8_t dec[16];
	size_t i, j, n;

	for (i = 0; i < sizeof plain / sizeof plain[0]; i++) {
		size_t len = strlen(plain[i]), plen = strlen(padded[i]);
		size_t bare = plen;

		while (bare > 0 && padded[i][bare - 1] == '=')
			bare--;
		CHECK_INT(tf_b32_encode((const uint8_t *)plain[i], len, out,
					sizeof out),
			  0);
		/* Output is unpadded. */
		CHECK_INT(strlen(out), bare);
		CHECK(strncmp(out, padded[i], bare) == 0);
		/* Decode takes it padded, unpadded and in lower case. */
		CHECK_INT(tf_b32_decode(padded[i], plen, dec, sizeof dec, &n),
			  0);
		CHECK(n == len && memcmp(dec, plain[i], len) == 0);
		CHECK_INT(tf_b32_decode(out, bare, dec, sizeof dec, &n), 0);
		CHECK(n == len && memcmp(dec, plain[i], len) == 0);
		for (j = 0; j <= plen; j++)
			lower[j] = (char)(padded[i][j] >= 'A' &&
							  padded[i][j] <= 'Z'
						  ? padded[i][j] + 32
						  : padded[i][j]);
		CHECK_INT(tf_b32_decode(lower, plen, dec, sizeof dec, &n), 0);
		CHECK(n == len && memcmp(dec, plain[i], len) == 0);
	}
	/* The RFC 6238 SHA-1 seed as authenticator apps show it. */
	CHECK_INT(tf_b32_encode((const uint8_t *)"12345678901234567890", 20,
				out, sizeof out),
		  0);
	CHECK_STR(out, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
}

TEST(b32_round_trip)
{
	uint64_t rs = 7;
	uint8_t in[45], dec[45];
	char enc[80];
	size_t n, len;

	for (len = 0; len <= sizeof in; len++) {
		tf_test_rand_bytes(&rs, in, len);
		CHECK_INT(tf_b32_encode(in, len, enc, sizeof enc), 0);
		CHECK_INT(tf_b32_decode(enc, strlen(enc), dec, sizeof dec, &n),
			  0);
		CHECK_INT(n, len);
		CHECK(memcmp(in, dec, len) == 0);
	}
}

TEST(b32_refusals)
{
	uint8_t dec[8];
	char out[8];
	size_t n = 99;

	memset(dec, 0x55, sizeof dec);
	/* Bad characters: 0, 1, 8, 9, space, '=' inside the data. */
	CHECK_INT(tf_b32_decode("MZXW0===", 8, dec, sizeof dec, &n), TF_EINVAL);
	CHECK_INT(n, 0);
	CHECK_INT(tf_b32_decode("MZXW1===", 8, dec, sizeof dec, &n), TF_EINVAL);
	CHECK_INT(tf_b32_decode("MZ8Q", 4, dec, sizeof dec, &n), TF_EINVAL);
	CHECK_INT(tf_b32_decode("MZ Q", 4, dec, sizeof dec, &n), TF_EINVAL);
	CHECK_INT(tf_b32_decode("MY==MY==", 8, dec, sizeof dec, &n), TF_EINVAL);
	/* Wrong padding: too little, too much, not to a multiple of 8. */
	CHECK_INT(tf_b32_decode("MY=====", 7, dec, sizeof dec, &n), TF_EINVAL);
	CHECK_INT(tf_b32_decode("MY=", 3, dec, sizeof dec, &n), TF_EINVAL);
	CHECK_INT(tf_b32_decode("MZXW6YTB========", 16, dec, sizeof dec, &n),
		  TF_EINVAL);
	CHECK_INT(tf_b32_decode("========", 8, dec, sizeof dec, &n), TF_EINVAL);
	CHECK_INT(tf_b32_decode("=", 1, dec, sizeof dec, &n), TF_EINVAL);
	/* Impossible data lengths 8k+1, 8k+3, 8k+6. */
	CHECK_INT(tf_b32_decode("M", 1, dec, sizeof dec, &n), TF_EINVAL);
	CHECK_INT(tf_b32_decode("MZX", 3, dec, sizeof dec, &n), TF_EINVAL);
	CHECK_INT(tf_b32_decode("MZXW6Y", 6, dec, sizeof dec, &n), TF_EINVAL);
	/* Non-zero unused bits: "MZ" would also decode to "f". */
	CHECK_INT(tf_b32_decode("MZ", 2, dec, sizeof dec, &n), TF_EINVAL);
	/* Output room. */
	CHECK_INT(tf_b32_decode("MZXW6YTBOI", 10, dec, 5, &n), TF_ELIMIT);
	CHECK_INT(tf_b32_decode("MZXW6YTBOI", 10, NULL, 0, &n), TF_ELIMIT);
	CHECK_INT(tf_b32_decode(NULL, 2, dec, sizeof dec, &n), TF_EINVAL);
	CHECK_INT(tf_b32_decode("MY", 2, dec, sizeof dec, NULL), TF_EINVAL);
	CHECK(dec[0] == 0x55 && dec[7] == 0x55);
	CHECK_INT(tf_b32_decode("MZXW6YTBOI", 10, dec, 6, &n), 0);
	CHECK(n == 6 && memcmp(dec, "foobar", 6) == 0);
	/* Encoder room: "fooba" is 8 characters and a NUL. */
	CHECK_INT(tf_b32_encode((const uint8_t *)"fooba", 5, out, 8),
		  TF_ELIMIT);
	CHECK_INT(tf_b32_encode((const uint8_t *)"foob", 4, out, 8), 0);
	CHECK_STR(out, "MZXW6YQ");
	CHECK_INT(tf_b32_encode(NULL, 1, out, sizeof out), TF_EINVAL);
	CHECK_INT(
		tf_b32_encode((const uint8_t *)"f", SIZE_MAX, out, sizeof out),
		TF_ELIMIT);
}

/* ---------------------------------------------------------------- TOTP */

static const uint8_t totp_key[] = "12345678901234567890";
#define TOTP_KEYLEN 20

TEST(totp_rfc6238)
{
	/* RFC 6238 appendix B, SHA-1; the 6-digit code is the last 6 of 8. */
	static const struct {
		int64_t t;
		const char *code;
	} v[] = {{59, "287082"},	 {1111111109, "081804"},
		 {1111111111, "050471"}, {1234567890, "005924"},
		 {2000000000, "279037"}, {20000000000, "353130"}};
	char code[TF_TOTP_DIGITS + 1];
	int64_t m;
	size_t i;

	for (i = 0; i < sizeof v / sizeof v[0]; i++) {
		CHECK_INT(tf_totp_code(totp_key, TOTP_KEYLEN,
				       v[i].t / TF_TOTP_STEP_S, code),
			  0);
		CHECK_STR(code, v[i].code);
		CHECK_INT(tf_totp_verify(totp_key, TOTP_KEYLEN, v[i].code,
					 v[i].t * 1000, 0, -1, &m),
			  0);
		CHECK_INT(m, v[i].t / TF_TOTP_STEP_S);
	}
	CHECK_INT(tf_totp_code(totp_key, TOTP_KEYLEN, -1, code), TF_EINVAL);
	CHECK_INT(tf_totp_code(NULL, 0, 1, code), TF_EINVAL);
	CHECK_INT(tf_totp_code(totp_key, 0, 1, code), TF_EINVAL);
}

TEST(totp_window)
{
	const int64_t t = 1111111111, step = t / TF_TOTP_STEP_S;
	char code[TF_TOTP_DIGITS + 1];
	int64_t m, d;

	/* Codes of step-1, step, step+1 pass at t with window 1. */
	for (d = -1; d <= 1; d++) {
		CHECK_INT(tf_totp_code(totp_key, TOTP_KEYLEN, step + d, code),
			  0);
		CHECK_INT(tf_totp_verify(totp_key, TOTP_KEYLEN, code, t * 1000,
					 1, -1, &m),
			  0);
		CHECK_INT(m, step + d);
	}
	/* step +-2 are outside window 1 (and step+-1 outside window 0). */
	CHECK_INT(tf_totp_code(totp_key, TOTP_KEYLEN, step - 2, code), 0);
	CHECK_INT(tf_totp_verify(totp_key, TOTP_KEYLEN, code, t * 1000, 1, -1,
				 &m),
		  TF_EAUTH);
	CHECK_INT(m, -1);
	CHECK_INT(tf_totp_code(totp_key, TOTP_KEYLEN, step + 2, code), 0);
	CHECK_INT(tf_totp_verify(totp_key, TOTP_KEYLEN, code, t * 1000, 1, -1,
				 &m),
		  TF_EAUTH);
	CHECK_INT(tf_totp_verify(totp_key, TOTP_KEYLEN, code, t * 1000, 2, -1,
				 &m),
		  0);
	CHECK_INT(m, step + 2);
	CHECK_INT(tf_totp_code(totp_key, TOTP_KEYLEN, step + 1, code), 0);
	CHECK_INT(tf_totp_verify(totp_key, TOTP_KEYLEN, code, t * 1000, 0, -1,
				 &m),
		  TF_EAUTH);
	/* The wrong key. */
	CHECK_INT(tf_totp_code(totp_key, TOTP_KEYLEN, step, code), 0);
	CHECK_INT(tf_totp_verify((const uint8_t *)"another-secret-key!!", 20,
				 code, t * 1000, 1, -1, &m),
		  TF_EAUTH);
	/* Window bounds. */
	CHECK_INT(tf_totp_verify(totp_key, TOTP_KEYLEN, code, t * 1000, -1, -1,
				 &m),
		  TF_EINVAL);
	CHECK_INT(tf_totp_verify(totp_key, TOTP_KEYLEN, code, t * 1000, 11, -1,
				 &m),
		  TF_EINVAL);
	CHECK_INT(tf_totp_verify(totp_key, TOTP_KEYLEN, code, -1, 1, -1, &m),
		  TF_EINVAL);
	/* Near the epoch: no negative steps are tried. */
	CHECK_INT(tf_totp_code(totp_key, TOTP_KEYLEN, 0, code), 0);
	CHECK_INT(tf_totp_verify(totp_key, TOTP_KEYLEN, code, 0, 1, -1, &m), 0);
	CHECK_INT(m, 0);
}

TEST(totp_replay)
{
	const int64_t t = 1234567890, step = t / TF_TOTP_STEP_S;
	char code[TF_TOTP_DIGITS + 1];
	int64_t m = 0;

	CHECK_INT(tf_totp_code(totp_key, TOTP_KEYLEN, step, code), 0);
	CHECK_INT(tf_totp_verify(totp_key, TOTP_KEYLEN, code, t * 1000, 1, -1,
				 &m),
		  0);
	CHECK_INT(m, step);
	/* Used once: the same code again, even 20 s later, is refused. */
	CHECK_INT(tf_totp_verify(totp_key, TOTP_KEYLEN, code, (t + 20) * 1000,
				 1, m, &m),
		  TF_EAUTH);
	/* An older code still in the window is refused too. */
	CHECK_INT(tf_totp_code(totp_key, TOTP_KEYLEN, step - 1, code), 0);
	CHECK_INT(tf_totp_verify(totp_key, TOTP_KEYLEN, code, t * 1000, 1, step,
				 &m),
		  TF_EAUTH);
	/* The next step's code is fine. */
	CHECK_INT(tf_totp_code(totp_key, TOTP_KEYLEN, step + 1, code), 0);
	CHECK_INT(tf_totp_verify(totp_key, TOTP_KEYLEN, code, t * 1000, 1, step,
				 &m),
		  0);
	CHECK_INT(m, step + 1);
}

TEST(totp_bad_codes)
{
	static const char *bad[] = {
		"",	     "12345",  "1234567",
		"12345a",    " 12345", "12345 ",
		"-12345",    "+12345", "\xef\xbc\x91\xef\xbc\x92",
		"12\000456", "abcdef"};
	const int64_t t = 59;
	int64_t m;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_INT(tf_totp_verify(totp_key, TOTP_KEYLEN, bad[i],
					 t * 1000, 1, -1, &m),
			  TF_EINVAL);
	CHECK_INT(tf_totp_verify(totp_key, TOTP_KEYLEN, NULL, t * 1000, 1, -1,
				 &m),
		  TF_EINVAL);
	CHECK_INT(tf_totp_verify(NULL, 0, "287082", t * 1000, 1, -1, &m),
		  TF_EINVAL);
	/* A right-looking wrong code. */
	CHECK_INT(tf_totp_verify(totp_key, TOTP_KEYLEN, "287083", t * 1000, 1,
				 -1, &m),
		  TF_EAUTH);
	CHECK_INT(tf_totp_verify(totp_key, TOTP_KEYLEN, "287082", t * 1000, 1,
				 -1, NULL),
		  0);
}

/* ------------------------------------------------------------- Ed25519 */

/* RFC 8032 section 7.1, TEST 1 (empty message). */
static const char *rfc_secret = "9d61b19deffd5a60ba844af492ec2cc4"
				"4449c5697b326919703bac031cae7f60";
static const char *rfc_public = "d75a980182b10ab7d54bfed3c964073a"
				"0ee172f3daa62325af021a68f707511a";
static const char *rfc_sig = "e5564300c360ac729086e2cc806e828a"
			     "84877f1eb8e5d974d873e06522490155"
			     "5fb8821590a33bacc61e39701cf9b46b"
			     "d25bf5f0595bbe24655141438e7a100b";

/* tf_sigkey is opaque: the test builds the RFC key as PEM with OpenSSL. */
static tf_sigkey *rfc_private_key(void)
{
	uint8_t sk[32];
	EVP_PKEY *pkey;
	BIO *bio;
	char *p = NULL;
	long n;
	tf_sigkey *k = NULL;
	tf_err err;

	unhex(rfc_secret, sk, sizeof sk);
	pkey = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, sk,
					       sizeof sk);
	bio = BIO_new(BIO_s_mem());
	if (pkey == NULL || bio == NULL ||
	    PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1)
		abort();
	n = BIO_get_mem_data(bio, &p);
	if (tf_sigkey_from_pem(p, (size_t)n, &k, &err) != 0)
		fprintf(stderr, "from_pem: %s\n", err.msg);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return k;
}

TEST(ed25519_rfc8032)
{
	uint8_t pub[32], sig[64], got[64], mine[32];
	tf_sigkey *pk = NULL, *sk;

	unhex(rfc_public, pub, sizeof pub);
	unhex(rfc_sig, sig, sizeof sig);
	CHECK_INT(tf_sigkey_from_public(pub, &pk), 0);
	CHECK_INT(tf_sigkey_verify(pk, "", 0, sig, sizeof sig), 0);
	CHECK_INT(tf_sigkey_verify(pk, NULL, 0, sig, sizeof sig), 0);
	CHECK_INT(tf_sigkey_public(pk, mine), 0);
	CHECK(memcmp(mine, pub, 32) == 0);
	/* A public-only key cannot sign. */
	CHECK_INT(tf_sigkey_sign(pk, "", 0, got), TF_EINVAL);
	/* Ed25519 is deterministic: the RFC private key signs the same. */
	sk = rfc_private_key();
	CHECK(sk != NULL);
	if (sk != NULL) {
		CHECK_INT(tf_sigkey_public(sk, mine), 0);
		CHECK(hex_eq(mine, sizeof mine, rfc_public));
		CHECK_INT(tf_sigkey_sign(sk, NULL, 0, got), 0);
		CHECK(hex_eq(got, sizeof got, rfc_sig));
	}
	/* Tampered: a flipped bit anywhere, a non-empty message. */
	sig[0] ^= 1;
	CHECK_INT(tf_sigkey_verify(pk, "", 0, sig, sizeof sig), TF_EAUTH);
	sig[0] ^= 1;
	sig[63] ^= 0x80;
	CHECK_INT(tf_sigkey_verify(pk, "", 0, sig, sizeof sig), TF_EAUTH);
	sig[63] ^= 0x80;
	CHECK_INT(tf_sigkey_verify(pk, "x", 1, sig, sizeof sig), TF_EAUTH);
	tf_sigkey_free(sk);
	tf_sigkey_free(pk);
}

TEST(ed25519_round_trip)
{
	const char *msg = "{\"grant\":{\"user\":\"alvarez\"}}";
	uint8_t pub[32], sig[64], sig2[64];
	tf_sigkey *k = NULL, *k2 = NULL, *pk = NULL;

	CHECK_INT(tf_sigkey_generate(&k), 0);
	CHECK_INT(tf_sigkey_generate(&k2), 0);
	if (k == NULL || k2 == NULL)
		goto out;
	CHECK_INT(tf_sigkey_sign(k, msg, strlen(msg), sig), 0);
	CHECK_INT(tf_sigkey_verify(k, msg, strlen(msg), sig, sizeof sig), 0);
	CHECK_INT(tf_sigkey_public(k, pub), 0);
	CHECK_INT(tf_sigkey_from_public(pub, &pk), 0);
	CHECK_INT(tf_sigkey_verify(pk, msg, strlen(msg), sig, sizeof sig), 0);
	/* Another key, a changed message, a changed or cut signature. */
	CHECK_INT(tf_sigkey_verify(k2, msg, strlen(msg), sig, sizeof sig),
		  TF_EAUTH);
	CHECK_INT(tf_sigkey_verify(pk, msg, strlen(msg) - 1, sig, sizeof sig),
		  TF_EAUTH);
	memcpy(sig2, sig, sizeof sig);
	sig2[10] ^= 4;
	CHECK_INT(tf_sigkey_verify(pk, msg, strlen(msg), sig2, sizeof sig2),
		  TF_EAUTH);
	CHECK_INT(tf_sigkey_verify(pk, msg, strlen(msg), sig, 63), TF_EAUTH);
	CHECK_INT(tf_sigkey_verify(pk, msg, strlen(msg), NULL, 64), TF_EAUTH);
	/* S >= the group order (malformed, not just wrong). */
	memset(sig2 + 32, 0xff, 32);
	CHECK_INT(tf_sigkey_verify(pk, msg, strlen(msg), sig2, sizeof sig2),
		  TF_EAUTH);
	CHECK_INT(tf_sigkey_verify(NULL, msg, 1, sig, 64), TF_EINVAL);
	CHECK_INT(tf_sigkey_sign(NULL, msg, 1, sig), TF_EINVAL);
	CHECK_INT(tf_sigkey_generate(NULL), TF_EINVAL);
out:
	tf_sigkey_free(pk);
	tf_sigkey_free(k2);
	tf_sigkey_free(k);
}

TEST(ed25519_pem_memory)
{
	tf_buf b;
	tf_sigkey *k = NULL, *k2 = NULL, *pk = NULL;
	uint8_t pub[32], pub2[32], sig[64];
	tf_err err;
	char bad[200];

	tf_buf_init(&b);
	CHECK_INT(tf_sigkey_generate(&k), 0);
	CHECK_INT(tf_sigkey_to_pem(k, &b), 0);
	CHECK(strstr(tf_buf_cstr(&b), "-----BEGIN PRIVATE KEY-----") != NULL);
	CHECK_INT(tf_sigkey_from_pem(b.data, b.len, &k2, &err), 0);
	CHECK_INT(tf_sigkey_public(k, pub), 0);
	CHECK_INT(tf_sigkey_public(k2, pub2), 0);
	CHECK(memcmp(pub, pub2, 32) == 0);
	CHECK_INT(tf_sigkey_sign(k2, "m", 1, sig), 0);
	CHECK_INT(tf_sigkey_verify(k, "m", 1, sig, 64), 0);
	tf_sigkey_free(k2);
	k2 = NULL;
	/* A public-only key has no PEM private key. */
	CHECK_INT(tf_sigkey_from_public(pub, &pk), 0);
	CHECK_INT(tf_sigkey_to_pem(pk, &b), TF_EINVAL);
	/* Garbage, truncation, another key type, oversize. */
	CHECK_INT(tf_sigkey_from_pem("hello", 5, &k2, &err), TF_EINVAL);
	CHECK(k2 == NULL);
	CHECK(strstr(err.msg, "pem") != NULL);
	CHECK_INT(tf_sigkey_from_pem(b.data, b.len / 2, &k2, &err), TF_EINVAL);
	snprintf(
		bad, sizeof bad, "%s",
		"-----BEGIN PRIVATE KEY-----\n"
		"MC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
		"-----END PRIVATE KEY-----\n");
	bad[40] = '!';
	CHECK_INT(tf_sigkey_from_pem(bad, strlen(bad), &k2, &err), TF_EINVAL);
	{
		EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		BIO *bio = BIO_new(BIO_s_mem());
		char *p = NULL;
		long n;

		CHECK(ec != NULL && bio != NULL);
		if (ec != NULL && bio != NULL &&
		    PEM_write_bio_PrivateKey(bio, ec, NULL, NULL, 0, NULL,
					     NULL) == 1) {
			n = BIO_get_mem_data(bio, &p);
			CHECK_INT(tf_sigkey_from_pem(p, (size_t)n, &k2, &err),
				  TF_EINVAL);
			CHECK(strstr(err.msg, "not Ed25519") != NULL);
		}
		BIO_free(bio);
		EVP_PKEY_free(ec);
	}
	CHECK_INT(tf_sigkey_from_pem(b.data, 65 * 1024, &k2, &err), TF_ELIMIT);
	CHECK_INT(tf_sigkey_from_pem(NULL, 0, &k2, &err), TF_EINVAL);
	tf_sigkey_free(pk);
	tf_sigkey_free(k2);
	tf_sigkey_free(k);
	tf_buf_free(&b);
}

/*
 * AES-256-GCM: test case 16 of the GCM specification (McGrew and Viega):
 * 256-bit key, 96-bit IV, AAD, 60-byte plaintext.  Then the refusals: a
 * flipped bit in ciphertext, tag or AAD, and a wrong key, each TF_EAUTH
 * with the output zeroed.
 */
TEST(aes256_gcm_vectors)
{
	static const char key_hex[] = "feffe9928665731c6d6a8f9467308308"
				      "feffe9928665731c6d6a8f9467308308";
	static const char iv_hex[] = "cafebabefacedbaddecaf888";
	static const char aad_hex[] = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
	static const char pt_hex[] =
		"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
		"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
	static const char ct_hex[] =
		"522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
		"8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
		"76fc6ece0f4e1768cddf8853bb2d551b";
	uint8_t key[32], iv[12], aad[20], pt[60], ct[76], back[60], bad[76];
	size_t i;

	unhex(key_hex, key, sizeof key);
	unhex(iv_hex, iv, sizeof iv);
	unhex(aad_hex, aad, sizeof aad);
	unhex(pt_hex, pt, sizeof pt);
	CHECK_INT(tf_aead_seal(key, iv, aad, sizeof aad, pt, sizeof pt, ct), 0);
	CHECK(hex_eq(ct, sizeof ct, ct_hex));
	CHECK_INT(tf_aead_open(key, iv, aad, sizeof aad, ct, sizeof ct, back),
		  0);
	CHECK(memcmp(back, pt, sizeof pt) == 0);

	/* Any altered byte: ciphertext, tag; and the AAD, the key. */
	for (i = 0; i < sizeof ct; i += 25) {
		memcpy(bad, ct, sizeof ct);
		bad[i] ^= 0x01;
		memset(back, 0xAA, sizeof back);
		CHECK_INT(tf_aead_open(key, iv, aad, sizeof aad, bad, sizeof bad,
				       back),
			  TF_EAUTH);
		CHECK(back[0] == 0 && back[59] == 0);
	}
	aad[0] ^= 0x80;
	CHECK_INT(tf_aead_open(key, iv, aad, sizeof aad, ct, sizeof ct, back),
		  TF_EAUTH);
	aad[0] ^= 0x80;
	key[31] ^= 0x01;
	CHECK_INT(tf_aead_open(key, iv, aad, sizeof aad, ct, sizeof ct, back),
		  TF_EAUTH);
	key[31] ^= 0x01;
	/* Shorter than a tag, and the empty message (tag only). */
	CHECK_INT(tf_aead_open(key, iv, NULL, 0, ct, 15, back), TF_EAUTH);
	CHECK_INT(tf_aead_seal(key, iv, NULL, 0, NULL, 0, bad), 0);
	CHECK_INT(tf_aead_open(key, iv, NULL, 0, bad, TF_AEAD_TAG_LEN, back),
		  0);
	bad[3] ^= 1;
	CHECK_INT(tf_aead_open(key, iv, NULL, 0, bad, TF_AEAD_TAG_LEN, back),
		  TF_EAUTH);
	/* tf_cleanse zeroes. */
	tf_cleanse(key, sizeof key);
	for (i = 0; i < sizeof key; i++)
		CHECK(key[i] == 0);
}

TEST(ed25519_pem_files)
{
	char dir[] = "/tmp/tf-crypto-XXXXXX", path[128], other[128];
	tf_sigkey *k = NULL, *k2 = NULL, *pk = NULL;
	uint8_t pub[32], pub2[32];
	struct stat st;
	tf_err err;
	mode_t old;
	int fd;

	if (mkdtemp(dir) == NULL) {
		CHECK(!"mkdtemp");
		return;
	}
	snprintf(path, sizeof path, "%s/server.key", dir);
	CHECK_INT(tf_sigkey_generate(&k), 0);
	/* A permissive umask does not widen the file. */
	old = umask(0);
	CHECK_INT(tf_sigkey_save_pem(k, path, &err), 0);
	umask(old);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	CHECK_INT(tf_sigkey_load_pem(path, &k2, &err), 0);
	CHECK_INT(tf_sigkey_public(k, pub), 0);
	if (k2 != NULL) {
		CHECK_INT(tf_sigkey_public(k2, pub2), 0);
		CHECK(memcmp(pub, pub2, 32) == 0);
	}
	tf_sigkey_free(k2);
	k2 = NULL;
	/* Saving again replaces the file atomically (same mode). */
	CHECK_INT(tf_sigkey_save_pem(k, path, &err), 0);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	/* Readable, or only writable, by group or others: refused. */
	CHECK_INT(chmod(path, 0640), 0);
	CHECK_INT(tf_sigkey_load_pem(path, &k2, &err), TF_EPERM);
	CHECK(k2 == NULL);
	CHECK(strstr(err.msg, path) != NULL);
	CHECK(strstr(err.msg, "0640") != NULL);
	CHECK_INT(chmod(path, 0604), 0);
	CHECK_INT(tf_sigkey_load_pem(path, &k2, &err), TF_EPERM);
	CHECK_INT(chmod(path, 0620), 0);
	CHECK_INT(tf_sigkey_load_pem(path, &k2, &err), TF_EPERM);
	CHECK_INT(chmod(path, 0400), 0);
	CHECK_INT(tf_sigkey_load_pem(path, &k2, &err), 0);
	tf_sigkey_free(k2);
	k2 = NULL;
	CHECK_INT(chmod(path, 0600), 0);
	/* Missing file, a directory, a garbage file. */
	snprintf(other, sizeof other, "%s/missing.key", dir);
	CHECK_INT(tf_sigkey_load_pem(other, &k2, &err), TF_ENOTFOUND);
	CHECK(strstr(err.msg, other) != NULL);
	CHECK_INT(chmod(dir, 0700), 0);
	CHECK_INT(tf_sigkey_load_pem(dir, &k2, &err), TF_EINVAL);
	snprintf(other, sizeof other, "%s/garbage.key", dir);
	fd = open(other, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK_INT(write(fd, "not a key\n", 10), 10);
		close(fd);
	}
	CHECK_INT(tf_sigkey_load_pem(other, &k2, &err), TF_EINVAL);
	CHECK(strstr(err.msg, other) != NULL);
	CHECK(k2 == NULL);
	unlink(other);
	/* Save refusals: a public-only key, a missing directory (and no
	   temp file is left behind). */
	CHECK_INT(tf_sigkey_from_public(pub, &pk), 0);
	CHECK_INT(tf_sigkey_save_pem(pk, path, &err), TF_EINVAL);
	snprintf(other, sizeof other, "%s/nodir/server.key", dir);
	CHECK_INT(tf_sigkey_save_pem(k, other, &err), TF_EIO);
	CHECK(strstr(err.msg, other) != NULL);
	CHECK_INT(tf_sigkey_save_pem(k, "", &err), TF_EINVAL);
	/* The key file is intact, and it is the only file in dir. */
	CHECK_INT(tf_sigkey_load_pem(path, &k2, &err), 0);
	tf_sigkey_free(k2);
	CHECK_INT(unlink(path), 0);
	CHECK_INT(rmdir(dir), 0);
	tf_sigkey_free(pk);
	tf_sigkey_free(k);
}

int main(int argc, char **argv)
{
	(void)argc;
	RUN(sha256_fips180);
	RUN(hmac_sha256_rfc4231);
	RUN(hmac_sha1_rfc2202);
	RUN(pbkdf2_vectors);
	RUN(pbkdf2_refusals);
	RUN(random_and_ct_equal);
	RUN(b64url_rfc4648);
	RUN(b64url_round_trip);
	RUN(b64url_refusals);
	RUN(b32_rfc4648);
	RUN(b32_round_trip);
	RUN(b32_refusals);
	RUN(totp_rfc6238);
	RUN(totp_window);
	RUN(totp_replay);
	RUN(totp_bad_codes);
	RUN(ed25519_rfc8032);
	RUN(ed25519_round_trip);
	RUN(ed25519_pem_memory);
	RUN(ed25519_pem_files);
	RUN(aes256_gcm_vectors);
	return tf_test_finish(argv[0]);
}

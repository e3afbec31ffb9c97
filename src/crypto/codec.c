/*
 * codec.c - base64url (RFC 4648 section 5, no padding) for tokens, keys and
 * signatures on the wire, and base32 (RFC 4648 section 6) for TOTP secrets.
 * Encodings, not cryptography: no OpenSSL here.
 *
 * Decoders are strict so that one byte string has exactly one accepted
 * text form (a token or signature cannot be re-spelt): besides bad
 * characters they refuse impossible lengths and non-zero unused bits in the
 * last character (RFC 4648 section 3.5 allows that refusal).  They check
 * the whole input and the output room before writing, so `out` is
 * untouched on any error.
 */
#include "crypto/crypto.h"

#include <stdint.h>

static const char b64url_alpha[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b32_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static int b64url_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Case-insensitive, as authenticator apps and users write either. */
static int b32_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

/*
 * Packs m characters of `width` bits each (all already validated) into
 * bytes, most significant bit first; the unused low bits of the last
 * character were checked to be zero.
 */
static size_t pack_bits(const char *in, size_t m, unsigned width,
			int (*val)(unsigned char), uint8_t *out)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t i, o = 0;

	for (i = 0; i < m; i++) {
		acc = (acc << width) | (uint32_t)val((unsigned char)in[i]);
		bits += width;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1u;
		}
	}
	return o;
}

/*
 * Unpacks n bytes into characters of `width` bits (5 or 6), the last
 * character's spare low bits zero, then a NUL.  The caller checked room.
 */
static void unpack_bits(const uint8_t *in, size_t n, unsigned width,
			const char *alpha, char *out)
{
	uint32_t acc = 0, mask = (1u << width) - 1u;
	unsigned bits = 0;
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= width) {
			bits -= width;
			out[o++] = alpha[(acc >> bits) & mask];
		}
		acc &= (1u << bits) - 1u;
	}
	if (bits > 0)
		out[o++] = alpha[(acc << (width - bits)) & mask];
	out[o] = '\0';
}

int tf_b64url_encode(const uint8_t *in, size_t n, char *out, size_t outcap)
{
	size_t need;

	if ((in == NULL && n != 0) || out == NULL)
		return TF_EINVAL;
	if (n / 3 > (SIZE_MAX - 8) / 4)
		return TF_ELIMIT;
	need = n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
	if (need >= outcap)
		return TF_ELIMIT;
	unpack_bits(in, n, 6, b64url_alpha, out);
	return 0;
}

/*
 * TF_EINVAL: a character outside the alphabet (padding '=' and whitespace
 * included) or a length of 4k+1; non-zero unused bits.  TF_ELIMIT: the
 * decoded length is over outcap.  *outlen is 0 on error.
 */
int tf_b64url_decode(const char *in, size_t n, uint8_t *out, size_t outcap,
		     size_t *outlen)
{
	/* Unused bits of the last character per n % 4 (1 is impossible). */
	static const unsigned spare[4] = {0, 0, 4, 2};
	size_t need, i;

	if (outlen == NULL)
		return TF_EINVAL;
	*outlen = 0;
	if (in == NULL && n != 0)
		return TF_EINVAL;
	if (n % 4 == 1)
		return TF_EINVAL;
	for (i = 0; i < n; i++)
		if (b64url_val((unsigned char)in[i]) < 0)
			return TF_EINVAL;
	if (n > 0 && ((unsigned)b64url_val((unsigned char)in[n - 1]) &
		      ((1u << spare[n % 4]) - 1u)) != 0)
		return TF_EINVAL;
	need = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
	if (need > outcap || (out == NULL && need != 0))
		return TF_ELIMIT;
	*outlen = pack_bits(in, n, 6, b64url_val, out);
	return 0;
}

int tf_b32_encode(const uint8_t *in, size_t n, char *out, size_t outcap)
{
	static const size_t tail[5] = {0, 2, 4, 5, 7};
	size_t need;

	if ((in == NULL && n != 0) || out == NULL)
		return TF_EINVAL;
	if (n / 5 > (SIZE_MAX - 16) / 8)
		return TF_ELIMIT;
	need = n / 5 * 8 + tail[n % 5];
	if (need >= outcap)
		return TF_ELIMIT;
	unpack_bits(in, n, 5, b32_alpha, out);
	return 0;
}

/*
 * Accepts upper or lower case and, optionally, the full '=' padding of
 * RFC 4648 (the total a multiple of 8, exactly the pad the data length
 * calls for).  TF_EINVAL: a bad character ('=' inside the data included),
 * wrong padding, a data length of 8k+1, 8k+3 or 8k+6, non-zero unused
 * bits.  TF_ELIMIT: output over outcap.  *outlen is 0 on error.
 */
int tf_b32_decode(const char *in, size_t n, uint8_t *out, size_t outcap,
		  size_t *outlen)
{
	/* Per data length % 8: the padding it needs (-1: impossible) and
	   the unused bits of its last character. */
	static const int pad[8] = {0, -1, 6, -1, 4, 3, -1, 1};
	static const unsigned spare[8] = {0, 0, 2, 0, 4, 1, 0, 3};
	size_t m = n, npad, need, i;

	if (outlen == NULL)
		return TF_EINVAL;
	*outlen = 0;
	if (in == NULL && n != 0)
		return TF_EINVAL;
	while (m > 0 && in[m - 1] == '=')
		m--;
	npad = n - m;
	if (pad[m % 8] < 0)
		return TF_EINVAL;
	if (npad != 0 && (n % 8 != 0 || npad != (size_t)pad[m % 8]))
		return TF_EINVAL;
	for (i = 0; i < m; i++)
		if (b32_val((unsigned char)in[i]) < 0)
			return TF_EINVAL;
	if (m > 0 && ((unsigned)b32_val((unsigned char)in[m - 1]) &
		      ((1u << spare[m % 8]) - 1u)) != 0)
		return TF_EINVAL;
	need = m / 8 * 5 + (m % 8 * 5) / 8;
	if (need > outcap || (out == NULL && need != 0))
		return TF_ELIMIT;
	*outlen = pack_bits(in, m, 5, b32_val, out);
	return 0;
}

/*
 * totp.c - RFC 6238 time-based one-time passwords (HMAC-SHA1, 30 s steps,
 * 6 digits; the HOTP value and dynamic truncation of RFC 4226 section 5.3),
 * the second login factor.  The HMAC is tf_hmac_sha1 (OpenSSL EVP_MAC).
 */
#include "crypto/crypto.h"

#include <stdio.h>

/* How many steps either side of now a caller may accept (RFC 6238 5.2
   recommends at most one; more is a misconfiguration, not a policy). */
#define TOTP_MAX_WINDOW 10
/* 10^TF_TOTP_DIGITS */
#define TOTP_MOD 1000000u

/* The HOTP value of counter `step` (RFC 4226 5.3), reduced mod 10^6. */
static int totp_value(const uint8_t *key, size_t keylen, int64_t step,
		      uint32_t *value)
{
	uint8_t msg[8], mac[TF_SHA1_LEN];
	uint64_t c = (uint64_t)step;
	unsigned off;
	uint32_t bin;
	int i, rc;

	for (i = 7; i >= 0; i--) {
		msg[i] = (uint8_t)(c & 0xff);
		c >>= 8;
	}
	rc = tf_hmac_sha1(key, keylen, msg, sizeof msg, mac);
	if (rc != 0)
		return rc;
	off = mac[TF_SHA1_LEN - 1] & 0x0f;
	bin = ((uint32_t)(mac[off] & 0x7f) << 24) |
	      ((uint32_t)mac[off + 1] << 16) | ((uint32_t)mac[off + 2] << 8) |
	      (uint32_t)mac[off + 3];
	*value = bin % TOTP_MOD;
	tf_memzero(mac, sizeof mac);
	return 0;
}

/* TF_EINVAL for no key or a negative step; TF_EIO from OpenSSL. */
int tf_totp_code(const uint8_t *key, size_t keylen, int64_t step,
		 char out[TF_TOTP_DIGITS + 1])
{
	uint32_t v = 0;
	int rc;

	if (key == NULL || keylen == 0 || step < 0 || out == NULL)
		return TF_EINVAL;
	rc = totp_value(key, keylen, step, &v);
	if (rc != 0)
		return rc;
	snprintf(out, TF_TOTP_DIGITS + 1, "%06u", (unsigned)v);
	return 0;
}

/*
 * Every step of the window is computed and compared (no early exit), so
 * the time taken does not tell which step matched.  When the code matches
 * several steps (a 10^-6 coincidence) the latest is reported: recording an
 * earlier one would let the same code be replayed once more against the
 * later step.  TF_EINVAL also for a negative now_ms or a window outside
 * 0..TOTP_MAX_WINDOW; TF_EIO from OpenSSL.
 */
int tf_totp_verify(const uint8_t *key, size_t keylen, const char *code,
		   int64_t now_ms, int window, int64_t last_step,
		   int64_t *matched)
{
	uint32_t given = 0, v = 0;
	int64_t now_step, s, found = -1;
	int i, rc;

	if (matched != NULL)
		*matched = -1;
	if (key == NULL || keylen == 0 || code == NULL || now_ms < 0 ||
	    window < 0 || window > TOTP_MAX_WINDOW)
		return TF_EINVAL;
	/* Exactly six ASCII digits then the NUL; stops at the first other. */
	for (i = 0; i < TF_TOTP_DIGITS; i++) {
		if (code[i] < '0' || code[i] > '9')
			return TF_EINVAL;
		given = given * 10u + (uint32_t)(code[i] - '0');
	}
	if (code[TF_TOTP_DIGITS] != '\0')
		return TF_EINVAL;
	now_step = now_ms / 1000 / TF_TOTP_STEP_S;
	for (s = now_step - window; s <= now_step + window; s++) {
		/* Steps before the epoch do not exist; used ones are spent. */
		if (s < 0 || s <= last_step)
			continue;
		rc = totp_value(key, keylen, s, &v);
		if (rc != 0)
			return rc;
		if (tf_ct_equal(&v, &given, sizeof v))
			found = s;
	}
	tf_memzero(&v, sizeof v);
	tf_memzero(&given, sizeof given);
	if (found < 0)
		return TF_EAUTH;
	if (matched != NULL)
		*matched = found;
	return 0;
}

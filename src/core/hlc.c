/*
 * hlc.c - hybrid logical clock (Kulkarni et al., 2014) on 48+16 bits, and
 * UUIDv7.  See hlc.h for the contract.
 */
#include "tenfour/hlc.h"

#include <assert.h>
#include <string.h>

void tf_clock_init(tf_clock *c, tf_hlc last, int64_t max_skew_ms)
{
	c->last = last;
	c->max_skew_ms = max_skew_ms > 0 ? max_skew_ms : TF_DEFAULT_MAX_SKEW_MS;
	c->offset_ms = 0;
}

static int physical(const tf_clock *c, int64_t now_ms, int64_t *pt)
{
	int64_t p;

	if (now_ms < 0 || now_ms > TF_HLC_MAX_MS)
		return TF_ERANGE;
	p = now_ms + c->offset_ms;
	if (p < 0)
		p = 0;
	if (p > TF_HLC_MAX_MS)
		return TF_ERANGE;
	*pt = p;
	return 0;
}

/* Next stamp after (ms, counter); a full counter spills into the ms. */
static tf_hlc bump(int64_t ms, unsigned counter)
{
	if (counter >= 0xffffu)
		return TF_HLC_MAKE(ms + 1, 0);
	return TF_HLC_MAKE(ms, counter + 1);
}

int tf_hlc_now(tf_clock *c, int64_t now_ms, tf_hlc *out)
{
	int64_t pt, lms = TF_HLC_MS(c->last);
	int rc = physical(c, now_ms, &pt);

	if (rc)
		return rc;
	if (pt > lms)
		c->last = TF_HLC_MAKE(pt, 0);
	else
		c->last = bump(lms, TF_HLC_COUNTER(c->last));
	assert(TF_HLC_MS(c->last) <= TF_HLC_MAX_MS);
	*out = c->last;
	return 0;
}

int tf_hlc_check_skew(int64_t now_ms, int64_t max_skew_ms, tf_hlc remote)
{
	if (TF_HLC_MS(remote) > now_ms + max_skew_ms)
		return TF_ECLOCKSKEW;
	return 0;
}

int tf_hlc_recv(tf_clock *c, int64_t now_ms, tf_hlc remote, tf_hlc *out)
{
	int64_t pt, lms = TF_HLC_MS(c->last), rms = TF_HLC_MS(remote);
	int rc = physical(c, now_ms, &pt);

	if (rc)
		return rc;
	if (tf_hlc_check_skew(pt, c->max_skew_ms, remote))
		return TF_ECLOCKSKEW;
	if (pt > lms && pt > rms) {
		c->last = TF_HLC_MAKE(pt, 0);
	} else if (lms == rms) {
		unsigned lc = TF_HLC_COUNTER(c->last);
		unsigned rcn = TF_HLC_COUNTER(remote);

		c->last = bump(lms, lc > rcn ? lc : rcn);
	} else if (lms > rms) {
		c->last = bump(lms, TF_HLC_COUNTER(c->last));
	} else {
		c->last = bump(rms, TF_HLC_COUNTER(remote));
	}
	if (out)
		*out = c->last;
	return 0;
}

int64_t tf_clock_rebase(tf_clock *c, int64_t now_ms, int64_t server_ms)
{
	c->offset_ms = server_ms - now_ms;
	if (server_ms >= 0 && server_ms <= TF_HLC_MAX_MS)
		c->last = TF_HLC_MAKE(server_ms, 0);
	return c->offset_ms;
}

int tf_hlc_order(tf_hlc a, const char *node_a, tf_hlc b, const char *node_b)
{
	if (a != b)
		return a < b ? -1 : 1;
	return strcmp(node_a ? node_a : "", node_b ? node_b : "");
}

void tf_hlc_format(tf_hlc h, char out[TF_HLC_TEXT_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	int i;

	for (i = TF_HLC_TEXT_LEN - 1; i >= 0; i--) {
		out[i] = digits[h & 15];
		h >>= 4;
	}
	out[TF_HLC_TEXT_LEN] = '\0';
}

int tf_hlc_parse(const char *s, size_t len, tf_hlc *out)
{
	tf_hlc h = 0;
	size_t i;

	if (len != TF_HLC_TEXT_LEN)
		return TF_EINVAL;
	for (i = 0; i < len; i++) {
		char ch = s[i];
		unsigned d;
		if (ch >= '0' && ch <= '9')
			d = (unsigned)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			d = (unsigned)(ch - 'a' + 10);
		else if (ch >= 'A' && ch <= 'F')
			d = (unsigned)(ch - 'A' + 10);
		else
			return TF_EINVAL;
		h = h << 4 | d;
	}
	*out = h;
	return 0;
}

int tf_uuid7(int64_t now_ms, const uint8_t rnd[10], char out[TF_UUID_LEN + 1])
{
	uint8_t b[16];
	char hex[33];
	int i;

	if (now_ms < 0 || now_ms > TF_HLC_MAX_MS)
		return TF_ERANGE;
	for (i = 0; i < 6; i++)
		b[i] = (uint8_t)((uint64_t)now_ms >> (8 * (5 - i)));
	memcpy(b + 6, rnd, 10);
	b[6] = (uint8_t)(0x70 | (b[6] & 0x0f)); /* version 7 */
	b[8] = (uint8_t)(0x80 | (b[8] & 0x3f)); /* variant 10 */
	tf_hex_encode(b, 16, hex);
	memcpy(out, hex, 8);
	out[8] = '-';
	memcpy(out + 9, hex + 8, 4);
	out[13] = '-';
	memcpy(out + 14, hex + 12, 4);
	out[18] = '-';
	memcpy(out + 19, hex + 16, 4);
	out[23] = '-';
	memcpy(out + 24, hex + 20, 12);
	out[TF_UUID_LEN] = '\0';
	return 0;
}

int tf_uuid_valid(const char *s, size_t len)
{
	size_t i;

	if (s == NULL || len != TF_UUID_LEN)
		return 0;
	for (i = 0; i < len; i++) {
		char ch = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (ch != '-')
				return 0;
		} else if (!((ch >= '0' && ch <= '9') ||
			     (ch >= 'a' && ch <= 'f'))) {
			return 0;
		}
	}
	return 1;
}

/*
 * test_hlc.c - the hybrid logical clock (send/receive rules, persistence
 * across a restart, counter overflow, skew refusal, rebase, ordering, text
 * form) and UUIDv7 (layout, time prefix, order, validation).
 */
#include "tenfour/hlc.h"

#include "tf_test.h"

#define T0 1764000000000LL /* 2025-11-24T16:00:00Z in ms */

TEST(hlc_make_and_split)
{
	tf_hlc h = TF_HLC_MAKE(T0, 7);

	CHECK_INT(TF_HLC_MS(h), T0);
	CHECK_INT(TF_HLC_COUNTER(h), 7);
	/* The counter is masked to 16 bits, never bleeding into the ms. */
	h = TF_HLC_MAKE(T0, 0x1ffff);
	CHECK_INT(TF_HLC_MS(h), T0);
	CHECK_INT(TF_HLC_COUNTER(h), 0xffff);
	CHECK_INT(TF_HLC_MS(TF_HLC_MAKE(TF_HLC_MAX_MS, 0)), TF_HLC_MAX_MS);
}

TEST(init_defaults)
{
	tf_clock c;

	tf_clock_init(&c, 0, 0);
	CHECK(c.last == 0);
	CHECK_INT(c.max_skew_ms, TF_DEFAULT_MAX_SKEW_MS);
	CHECK_INT(c.offset_ms, 0);
	tf_clock_init(&c, 5, -1);
	CHECK_INT(c.max_skew_ms, TF_DEFAULT_MAX_SKEW_MS);
	tf_clock_init(&c, 5, 1234);
	CHECK_INT(c.max_skew_ms, 1234);
	CHECK(c.last == 5);
}

TEST(now_follows_physical_time)
{
	tf_clock c;
	tf_hlc h;

	tf_clock_init(&c, 0, 0);
	CHECK_INT(tf_hlc_now(&c, T0, &h), 0);
	CHECK(h == TF_HLC_MAKE(T0, 0));
	CHECK(c.last == h);
	/* Same millisecond: the counter counts. */
	CHECK_INT(tf_hlc_now(&c, T0, &h), 0);
	CHECK(h == TF_HLC_MAKE(T0, 1));
	CHECK_INT(tf_hlc_now(&c, T0, &h), 0);
	CHECK(h == TF_HLC_MAKE(T0, 2));
	/* Time moves on: back to counter 0. */
	CHECK_INT(tf_hlc_now(&c, T0 + 5, &h), 0);
	CHECK(h == TF_HLC_MAKE(T0 + 5, 0));
}

TEST(now_is_monotonic_when_wall_clock_goes_back)
{
	tf_clock c;
	tf_hlc h, prev = 0;
	int i;

	tf_clock_init(&c, 0, 0);
	CHECK_INT(tf_hlc_now(&c, T0 + 1000, &prev), 0);
	/* The wall clock steps back 1 s (NTP correction): stamps keep rising.
	 */
	for (i = 0; i < 100; i++) {
		CHECK_INT(tf_hlc_now(&c, T0 + i, &h), 0);
		CHECK(h > prev);
		CHECK_INT(TF_HLC_MS(h), T0 + 1000);
		prev = h;
	}
	CHECK_INT(TF_HLC_COUNTER(prev), 100);
}

TEST(restart_with_persisted_last_stays_monotonic)
{
	tf_clock c, c2;
	tf_hlc h, saved, after;
	int i;

	tf_clock_init(&c, 0, 0);
	for (i = 0; i < 10; i++)
		CHECK_INT(tf_hlc_now(&c, T0 + 60000, &h), 0);
	saved = c.last;
	CHECK(saved == h);
	/* The device restarts with its wall clock a minute behind. */
	tf_clock_init(&c2, saved, 0);
	CHECK_INT(tf_hlc_now(&c2, T0, &after), 0);
	CHECK(after > saved);
	CHECK(after == TF_HLC_MAKE(T0 + 60000, 10));
	/* Without the persisted mark it would have gone backwards. */
	tf_clock_init(&c2, 0, 0);
	CHECK_INT(tf_hlc_now(&c2, T0, &after), 0);
	CHECK(after < saved);
}

TEST(counter_overflow_spills_into_ms)
{
	tf_clock c;
	tf_hlc h;

	tf_clock_init(&c, TF_HLC_MAKE(T0, 0xfffe), 0);
	CHECK_INT(tf_hlc_now(&c, T0, &h), 0);
	CHECK(h == TF_HLC_MAKE(T0, 0xffff));
	CHECK_INT(tf_hlc_now(&c, T0, &h), 0);
	CHECK(h == TF_HLC_MAKE(T0 + 1, 0));
	CHECK_INT(tf_hlc_now(&c, T0, &h), 0);
	CHECK(h == TF_HLC_MAKE(T0 + 1, 1));

	/* The same on receive of a remote stamp with a full counter. */
	tf_clock_init(&c, 0, 0);
	CHECK_INT(tf_hlc_recv(&c, T0, TF_HLC_MAKE(T0, 0xffff), &h), 0);
	CHECK(h == TF_HLC_MAKE(T0 + 1, 0));
}

TEST(now_range_errors_leave_clock_unchanged)
{
	tf_clock c;
	tf_hlc h = 42, last;

	tf_clock_init(&c, TF_HLC_MAKE(T0, 3), 0);
	last = c.last;
	CHECK_INT(tf_hlc_now(&c, -1, &h), TF_ERANGE);
	CHECK_INT(tf_hlc_now(&c, TF_HLC_MAX_MS + 1, &h), TF_ERANGE);
	CHECK(h == 42);
	CHECK(c.last == last);
	CHECK_INT(tf_hlc_recv(&c, -5, TF_HLC_MAKE(T0, 0), &h), TF_ERANGE);
	CHECK(c.last == last);
	/* The top of the range is fine. */
	tf_clock_init(&c, 0, 0);
	CHECK_INT(tf_hlc_now(&c, TF_HLC_MAX_MS, &h), 0);
	CHECK(h == TF_HLC_MAKE(TF_HLC_MAX_MS, 0));
}

TEST(recv_rules)
{
	tf_clock c;
	tf_hlc h;

	/* Physical time ahead of both: (pt, 0). */
	tf_clock_init(&c, TF_HLC_MAKE(T0, 5), 0);
	CHECK_INT(tf_hlc_recv(&c, T0 + 10, TF_HLC_MAKE(T0 + 3, 9), &h), 0);
	CHECK(h == TF_HLC_MAKE(T0 + 10, 0));

	/* Remote ahead of local and physical: remote ms, remote counter+1. */
	tf_clock_init(&c, TF_HLC_MAKE(T0, 5), 0);
	CHECK_INT(tf_hlc_recv(&c, T0, TF_HLC_MAKE(T0 + 20, 9), &h), 0);
	CHECK(h == TF_HLC_MAKE(T0 + 20, 10));

	/* Local ahead of remote and physical: local counter+1. */
	tf_clock_init(&c, TF_HLC_MAKE(T0 + 30, 5), 0);
	CHECK_INT(tf_hlc_recv(&c, T0, TF_HLC_MAKE(T0 + 20, 9), &h), 0);
	CHECK(h == TF_HLC_MAKE(T0 + 30, 6));

	/* Same ms: max counter + 1. */
	tf_clock_init(&c, TF_HLC_MAKE(T0 + 30, 5), 0);
	CHECK_INT(tf_hlc_recv(&c, T0, TF_HLC_MAKE(T0 + 30, 9), &h), 0);
	CHECK(h == TF_HLC_MAKE(T0 + 30, 10));
	tf_clock_init(&c, TF_HLC_MAKE(T0 + 30, 12), 0);
	CHECK_INT(tf_hlc_recv(&c, T0, TF_HLC_MAKE(T0 + 30, 9), &h), 0);
	CHECK(h == TF_HLC_MAKE(T0 + 30, 13));

	/* out may be NULL; the clock still advances. */
	tf_clock_init(&c, 0, 0);
	CHECK_INT(tf_hlc_recv(&c, T0, TF_HLC_MAKE(T0 + 1, 0), NULL), 0);
	CHECK(c.last == TF_HLC_MAKE(T0 + 1, 1));

	/* After a receive, the next send is greater than the remote stamp. */
	CHECK_INT(tf_hlc_now(&c, T0, &h), 0);
	CHECK(h > TF_HLC_MAKE(T0 + 1, 0));
}

TEST(skew_refusal_exact_boundary)
{
	tf_clock c;
	tf_hlc h = 0, last;

	tf_clock_init(&c, TF_HLC_MAKE(T0 - 5, 0), 60000);
	last = c.last;
	/* +1 ms past max_skew: refused, nothing changes. */
	CHECK_INT(tf_hlc_recv(&c, T0, TF_HLC_MAKE(T0 + 60001, 0), &h),
		  TF_ECLOCKSKEW);
	CHECK(c.last == last);
	CHECK(h == 0);
	CHECK_INT(tf_hlc_check_skew(T0, 60000, TF_HLC_MAKE(T0 + 60001, 0)),
		  TF_ECLOCKSKEW);
	/* Exactly max_skew ahead: accepted (the counter is not part of it). */
	CHECK_INT(tf_hlc_check_skew(T0, 60000, TF_HLC_MAKE(T0 + 60000, 0xffff)),
		  0);
	CHECK_INT(tf_hlc_recv(&c, T0, TF_HLC_MAKE(T0 + 60000, 3), &h), 0);
	CHECK(h == TF_HLC_MAKE(T0 + 60000, 4));
	/* A stamp in the past is never skew. */
	CHECK_INT(tf_hlc_check_skew(T0, 60000, TF_HLC_MAKE(0, 0)), 0);
	/* The 40 s fast clock of the domain scenario is within the default. */
	CHECK_INT(tf_hlc_check_skew(T0, TF_DEFAULT_MAX_SKEW_MS,
				    TF_HLC_MAKE(T0 + 40000, 0)),
		  0);
}

TEST(skew_uses_the_offset)
{
	tf_clock c;
	tf_hlc h;

	tf_clock_init(&c, 0, 1000);
	c.offset_ms = 5000;
	/* now + offset = T0 + 5000, so T0 + 6000 is exactly at the limit. */
	CHECK_INT(tf_hlc_recv(&c, T0, TF_HLC_MAKE(T0 + 6000, 0), &h), 0);
	CHECK_INT(tf_hlc_recv(&c, T0, TF_HLC_MAKE(T0 + 6001, 0), &h),
		  TF_ECLOCKSKEW);
}

TEST(rebase_moves_to_server_time)
{
	tf_clock c;
	tf_hlc h;
	int64_t off;

	/* 2A12's clock ran 40 s fast; the server (at T0) refused with skew. */
	tf_clock_init(&c, 0, 0);
	CHECK_INT(tf_hlc_now(&c, T0 + 40000, &h), 0);
	off = tf_clock_rebase(&c, T0 + 40000, T0);
	CHECK_INT(off, -40000);
	CHECK_INT(c.offset_ms, -40000);
	CHECK(c.last == TF_HLC_MAKE(T0, 0));
	/* Next stamps follow the server's time. */
	CHECK_INT(tf_hlc_now(&c, T0 + 40000, &h), 0);
	CHECK(h == TF_HLC_MAKE(T0, 1));
	CHECK_INT(tf_hlc_now(&c, T0 + 40010, &h), 0);
	CHECK(h == TF_HLC_MAKE(T0 + 10, 0));
	/* A clock behind the server gets a positive offset. */
	tf_clock_init(&c, 0, 0);
	CHECK_INT(tf_clock_rebase(&c, T0, T0 + 500), 500);
	CHECK_INT(tf_hlc_now(&c, T0, &h), 0);
	CHECK(h == TF_HLC_MAKE(T0 + 500, 1));
	/* An offset that would go below 0 is floored at 0. */
	tf_clock_init(&c, 0, 0);
	tf_clock_rebase(&c, 1000, 0);
	CHECK_INT(tf_hlc_now(&c, 10, &h), 0);
	CHECK(h == TF_HLC_MAKE(0, 1));
	/* A server time out of range sets the offset but not the mark. */
	tf_clock_init(&c, TF_HLC_MAKE(T0, 0), 0);
	CHECK_INT(tf_clock_rebase(&c, T0, -1), -1 - T0);
	CHECK(c.last == TF_HLC_MAKE(T0, 0));
}

TEST(order_by_stamp_then_node)
{
	tf_hlc a = TF_HLC_MAKE(T0, 1), b = TF_HLC_MAKE(T0, 2);

	CHECK(tf_hlc_order(a, "zz", b, "aa") < 0);
	CHECK(tf_hlc_order(b, "aa", a, "zz") > 0);
	CHECK(tf_hlc_order(a, "mdt-2a12", a, "mdt-2a14") < 0);
	CHECK(tf_hlc_order(a, "mdt-2a14", a, "mdt-2a12") > 0);
	CHECK(tf_hlc_order(a, "dana", a, "dana") == 0);
	/* Byte order, not locale: upper case sorts before lower case. */
	CHECK(tf_hlc_order(a, "Z", a, "a") < 0);
	/* A prefix sorts first; NULL is the empty node. */
	CHECK(tf_hlc_order(a, "mdt", a, "mdt-1") < 0);
	CHECK(tf_hlc_order(a, NULL, a, "x") < 0);
	CHECK(tf_hlc_order(a, NULL, a, "") == 0);
}

TEST(format_and_parse)
{
	char s[TF_HLC_TEXT_LEN + 1];
	tf_hlc h = 0;

	tf_hlc_format(TF_HLC_MAKE(T0, 1), s);
	CHECK_STR(s, "019ab697e8000001");
	CHECK_INT(tf_hlc_parse(s, strlen(s), &h), 0);
	CHECK(h == TF_HLC_MAKE(T0, 1));
	tf_hlc_format(0, s);
	CHECK_STR(s, "0000000000000000");
	tf_hlc_format(UINT64_MAX, s);
	CHECK_STR(s, "ffffffffffffffff");
	CHECK_INT(tf_hlc_parse("FFFFFFFFFFFFFFFF", 16, &h), 0);
	CHECK(h == UINT64_MAX);
	CHECK_INT(tf_hlc_parse("019AB697e8000001", 16, &h), 0);
	CHECK(h == TF_HLC_MAKE(T0, 1));
}

TEST(parse_rejects_bad_text)
{
	static const char *bad[] = {
		"",
		"019ab697e800000",
		"019ab697e80000011",
		"019ab697e800000g",
		"019ab697e800000 ",
		" 19ab6e3c7000001",
		"019ab697-8000001",
		"0x9ab6e3c7000001",
		"+19ab6e3c7000001",
	};
	tf_hlc h = 99;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (tf_hlc_parse(bad[i], strlen(bad[i]), &h) != TF_EINVAL)
			tf_test_fail(__FILE__, __LINE__, "accepted \"%s\"",
				     bad[i]);
	}
	CHECK(h == 99);
	/* Length is the given length, not strlen: a NUL inside is refused. */
	CHECK_INT(tf_hlc_parse("019ab697\0"
			       "e800001",
			       16, &h),
		  TF_EINVAL);
}

TEST(text_order_is_numeric_order)
{
	uint64_t st = 7;
	char sa[TF_HLC_TEXT_LEN + 1], sb[TF_HLC_TEXT_LEN + 1];
	int i;

	for (i = 0; i < 1000; i++) {
		tf_hlc a = tf_test_rand(&st), b = tf_test_rand(&st);
		int num;
		int txt;
		if (i % 3 == 0)
			b = a + (tf_test_rand(&st) & 0xff);
		num = a < b ? -1 : a > b ? 1 : 0;
		tf_hlc_format(a, sa);
		tf_hlc_format(b, sb);
		txt = strcmp(sa, sb);
		txt = txt < 0 ? -1 : txt > 0 ? 1 : 0;
		CHECK_INT(txt, num);
	}
}

TEST(uuid7_layout)
{
	static const uint8_t rnd[10] = {0xff, 0xff, 0xff, 0xff, 0xff,
					0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t zero[10];
	char u[TF_UUID_LEN + 1];

	CHECK_INT(tf_uuid7(T0, rnd, u), 0);
	/* 48-bit ms, version nibble 7, variant bits 10. */
	CHECK_STR(u, "019ab697-e800-7fff-bfff-ffffffffffff");
	CHECK_INT(tf_uuid7(T0, zero, u), 0);
	CHECK_STR(u, "019ab697-e800-7000-8000-000000000000");
	CHECK_INT(tf_uuid_valid(u, strlen(u)), 1);
	CHECK_INT(tf_uuid7(0, zero, u), 0);
	CHECK_STR(u, "00000000-0000-7000-8000-000000000000");
	CHECK_INT(tf_uuid7(TF_HLC_MAX_MS, zero, u), 0);
	CHECK_STR(u, "ffffffff-ffff-7000-8000-000000000000");
}

TEST(uuid7_random_bits_and_range)
{
	static const uint8_t rnd[10] = {0x01, 0x23, 0x45, 0x67, 0x89,
					0xab, 0xcd, 0xef, 0x10, 0x32};
	char u[TF_UUID_LEN + 1] = "unchanged";

	CHECK_INT(tf_uuid7(T0, rnd, u), 0);
	/* rnd[0] high nibble replaced by 7, rnd[2] top bits by 10. */
	CHECK_STR(u, "019ab697-e800-7123-8567-89abcdef1032");
	CHECK(u[14] == '7');
	CHECK(strchr("89ab", u[19]) != NULL);

	strcpy(u, "unchanged");
	CHECK_INT(tf_uuid7(-1, rnd, u), TF_ERANGE);
	CHECK_INT(tf_uuid7(TF_HLC_MAX_MS + 1, rnd, u), TF_ERANGE);
	CHECK_STR(u, "unchanged");
}

TEST(uuid7_sorts_by_time)
{
	uint64_t st = 11;
	char prev[TF_UUID_LEN + 1], cur[TF_UUID_LEN + 1];
	uint8_t rnd[10];
	int i;

	tf_test_rand_bytes(&st, rnd, sizeof rnd);
	CHECK_INT(tf_uuid7(T0, rnd, prev), 0);
	for (i = 1; i < 500; i++) {
		tf_test_rand_bytes(&st, rnd, sizeof rnd);
		CHECK_INT(tf_uuid7(T0 + i * 37, rnd, cur), 0);
		CHECK(strcmp(prev, cur) < 0);
		CHECK(cur[14] == '7');
		CHECK(strchr("89ab", cur[19]) != NULL);
		CHECK_INT(tf_uuid_valid(cur, TF_UUID_LEN), 1);
		memcpy(prev, cur, sizeof cur);
	}
}

TEST(uuid_valid_table)
{
	static const struct {
		const char *s;
		int ok;
	} cases[] = {
		{"019ab697-e800-7123-8567-89abcdef1032", 1},
		{"00000000-0000-0000-0000-000000000000", 1},
		/* any version is accepted, as long as it is canonical text */
		{"123e4567-e89b-12d3-a456-426614174000", 1},
		{"019AB697-E800-7123-8567-89ABCDEF1032", 0}, /* upper case */
		{"019ab697e80071238567-89abcdef1032", 0},   /* dashes missing */
		{"019ab697-e800-7123-8567-89abcdef103", 0}, /* short */
		{"019ab697-e800-7123-8567-89abcdef10321", 0}, /* long */
		{"019ab697-e800-7123-8567_89abcdef1032",
		 0}, /* wrong separator */
		{"019ab697-e800-7123-8567-89abcdef103g", 0}, /* not hex */
		{"019ab69-7e800-7123-8567-89abcdef1032",
		 0}, /* dash misplaced */
		{"{19ab697-e800-7123-8567-89abcdef1032", 0},
		{"", 0},
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int got = tf_uuid_valid(cases[i].s, strlen(cases[i].s));
		if (got != cases[i].ok)
			tf_test_fail(__FILE__, __LINE__, "\"%s\": %d, want %d",
				     cases[i].s, got, cases[i].ok);
	}
	CHECK_INT(tf_uuid_valid(NULL, 36), 0);
	/* The length is the given one: 36 valid bytes followed by more. */
	CHECK_INT(tf_uuid_valid("019ab697-e800-7123-8567-89abcdef1032x", 36),
		  1);
}

int main(int argc, char **argv)
{
	(void)argc;
	RUN(hlc_make_and_split);
	RUN(init_defaults);
	RUN(now_follows_physical_time);
	RUN(now_is_monotonic_when_wall_clock_goes_back);
	RUN(restart_with_persisted_last_stays_monotonic);
	RUN(counter_overflow_spills_into_ms);
	RUN(now_range_errors_leave_clock_unchanged);
	RUN(recv_rules);
	RUN(skew_refusal_exact_boundary);
	RUN(skew_uses_the_offset);
	RUN(rebase_moves_to_server_time);
	RUN(order_by_stamp_then_node);
	RUN(format_and_parse);
	RUN(parse_rejects_bad_text);
	RUN(text_order_is_numeric_order);
	RUN(uuid7_layout);
	RUN(uuid7_random_bits_and_range);
	RUN(uuid7_sorts_by_time);
	RUN(uuid_valid_table);
	return tf_test_finish(argv[0]);
}

/*
 * test_policy.c - every policy decision at its boundaries and every
 * failure path: agency settings, offline grant parse and the clock guard
 * (12 h exactly and 12 h + 1 ms, rollback, monotonic mismatch, suspend,
 * sticky verdicts), idle lock, failed unlocks and the wipe, failed logons,
 * PIN and passphrase tables, the eviction choice, and scope per rule with
 * records written as docs/PROTOCOL.md section 4 JSON text, against an
 * inline schema and against schemas/cad.json when it loads.
 */
#include "tenfour/policy.h"

#include "tf_test.h"

#define T0 1764000000000LL /* 2025-11-24T16:00:00Z in ms */
#define MIN_MS 60000LL
#define HOUR_MS 3600000LL
#define TOL TF_POLICY_CLOCK_TOLERANCE_MS

/* ------------------------------------------------------ agency policy */

TEST(policy_default_is_the_cjis_ceiling)
{
	tf_agency_policy p;
	tf_err err;

	tf_agency_policy_default(&p);
	CHECK_INT(tf_agency_policy_check(&p, &err), 0);
	CHECK_INT(p.lock_after_ms, 30 * MIN_MS);
	CHECK_INT(p.offline_window_ms, 12 * HOUR_MS);
	CHECK_INT(p.session_max_ms, 12 * HOUR_MS);
	CHECK_INT(p.lockout_failures, 5);
	CHECK_INT(p.lockout_window_ms, 15 * MIN_MS);
	CHECK(p.wipe_after >= 1 && p.wipe_after <= 100);
}

/* One setting changed from the default: expected rc and err.where. */
struct policy_case {
	int field;
	int64_t value;
	int rc;
	const char *where;
};

static void set_field(tf_agency_policy *p, int field, int64_t v)
{
	switch (field) {
	case 0:
		p->lock_after_ms = v;
		break;
	case 1:
		p->offline_window_ms = v;
		break;
	case 2:
		p->session_max_ms = v;
		break;
	case 3:
		p->wipe_after = (uint32_t)v;
		break;
	case 4:
		p->lockout_failures = (uint32_t)v;
		break;
	default:
		p->lockout_window_ms = v;
		break;
	}
}

TEST(policy_check_boundaries)
{
	static const struct policy_case cases[] = {
		{0, 30 * MIN_MS, 0, ""},
		{0, 30 * MIN_MS + 1, TF_ERANGE, "policy.lock_after_ms"},
		{0, 1000, 0, ""},
		{0, 999, TF_ERANGE, "policy.lock_after_ms"},
		{0, -1, TF_ERANGE, "policy.lock_after_ms"},
		{1, 12 * HOUR_MS, 0, ""},
		{1, 12 * HOUR_MS + 1, TF_ERANGE, "policy.offline_window_ms"},
		{1, 0, 0, ""},
		{1, -1, TF_ERANGE, "policy.offline_window_ms"},
		{2, 12 * HOUR_MS, 0, ""},
		{2, 12 * HOUR_MS + 1, TF_ERANGE, "policy.session_max_ms"},
		{2, MIN_MS - 1, TF_ERANGE, "policy.session_max_ms"},
		{3, 0, TF_ERANGE, "policy.wipe_after"},
		{3, 1, 0, ""},
		{3, 100, 0, ""},
		{3, 101, TF_ERANGE, "policy.wipe_after"},
		{4, 0, TF_ERANGE, "policy.lockout_failures"},
		{4, 1, 0, ""},
		{4, 5, 0, ""},
		{4, 6, TF_ERANGE, "policy.lockout_failures"},
		{5, 15 * MIN_MS, 0, ""},
		{5, 15 * MIN_MS - 1, TF_ERANGE, "policy.lockout_window_ms"},
		{5, 24 * HOUR_MS, 0, ""},
		{5, 24 * HOUR_MS + 1, TF_ERANGE, "policy.lockout_window_ms"},
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		tf_agency_policy p;
		tf_err err;

		tf_err_clear(&err);
		tf_agency_policy_default(&p);
		set_field(&p, cases[i].field, cases[i].value);
		CHECK_INT(tf_agency_policy_check(&p, &err), cases[i].rc);
		CHECK_STR(err.where, cases[i].where);
		if (cases[i].rc)
			CHECK(strstr(err.msg, "CJIS") != NULL);
	}
}

TEST(policy_parse_and_write)
{
	static const char good[] =
		"{\"lock_after_ms\":600000,\"lockout_failures\":3,"
		"\"lockout_window_ms\":1800000,\"offline_window_ms\":28800000,"
		"\"session_max_ms\":43200000,\"wipe_after\":10}";
	tf_agency_policy p, q;
	tf_buf b;
	tf_err err;

	CHECK_INT(tf_agency_policy_parse(good, strlen(good), &p, &err), 0);
	CHECK_INT(p.lock_after_ms, 10 * MIN_MS);
	CHECK_INT(p.lockout_failures, 3);
	CHECK_INT(p.offline_window_ms, 8 * HOUR_MS);
	CHECK_INT(p.wipe_after, 10);
	tf_buf_init(&b);
	CHECK_INT(tf_agency_policy_write(&p, &b), 0);
	CHECK_STR(tf_buf_cstr(&b), good);
	CHECK_INT(tf_agency_policy_parse(b.data, b.len, &q, &err), 0);
	CHECK(memcmp(&p, &q, sizeof p) == 0);
	tf_buf_free(&b);
}

TEST(policy_parse_errors)
{
	static const struct {
		const char *json;
		int rc;
		const char *where;
	} cases[] = {
		{"[]", TF_ETYPE, "policy"},
		{"{\"lock_after_ms\":600000,\"lockout_failures\":3,"
		 "\"lockout_window_ms\":1800000,\"offline_window_ms\":1,"
		 "\"session_max_ms\":43200000,\"wipe_after\":10,\"x\":1}",
		 TF_EUNKNOWN, "policy.x"},
		{"{\"lock_after_ms\":600000,\"lockout_failures\":3,"
		 "\"lockout_window_ms\":1800000,\"offline_window_ms\":1,"
		 "\"session_max_ms\":43200000}",
		 TF_EMISSING, "policy.wipe_after"},
		{"{\"lock_after_ms\":\"600000\",\"lockout_failures\":3,"
		 "\"lockout_window_ms\":1800000,\"offline_window_ms\":1,"
		 "\"session_max_ms\":43200000,\"wipe_after\":10}",
		 TF_ETYPE, "policy.lock_after_ms"},
		{"{\"lock_after_ms\":6e5,\"lockout_failures\":3,"
		 "\"lockout_window_ms\":1800000,\"offline_window_ms\":1,"
		 "\"session_max_ms\":43200000,\"wipe_after\":10}",
		 TF_ETYPE, "policy.lock_after_ms"},
		/* 2^32 + 5 must not wrap to 5. */
		{"{\"lock_after_ms\":600000,\"lockout_failures\":4294967301,"
		 "\"lockout_window_ms\":1800000,\"offline_window_ms\":1,"
		 "\"session_max_ms\":43200000,\"wipe_after\":10}",
		 TF_ERANGE, "policy.lockout_failures"},
		{"{\"lock_after_ms\":600000,\"lockout_failures\":3,"
		 "\"lockout_window_ms\":1800000,\"offline_window_ms\":1,"
		 "\"session_max_ms\":43200000,\"wipe_after\":-1}",
		 TF_ERANGE, "policy.wipe_after"},
		{"{\"lock_after_ms\":2400000,\"lockout_failures\":3,"
		 "\"lockout_window_ms\":1800000,\"offline_window_ms\":1,"
		 "\"session_max_ms\":43200000,\"wipe_after\":10}",
		 TF_ERANGE, "policy.lock_after_ms"},
		{"{\"lock_after_ms\":", TF_EJSON, ""},
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		tf_agency_policy p;
		tf_err err;

		memset(&p, 0x5a, sizeof p);
		tf_err_clear(&err);
		CHECK_INT(tf_agency_policy_parse(cases[i].json,
						 strlen(cases[i].json), &p,
						 &err),
			  cases[i].rc);
		if (cases[i].where[0])
			CHECK_STR(err.where, cases[i].where);
		CHECK_INT(p.wipe_after, 0x5a5a5a5a); /* untouched */
	}
}

/* ------------------------------------------------------------ grant */

/* A grant's claims text with the given times and limits. */
static void grant_text(char *out, size_t cap, int64_t issued, int64_t not_after,
		       int64_t lock_after, int64_t wipe_after)
{
	snprintf(out, cap,
		 "{\"agency\":\"metro-pd\",\"device\":\"mdt-2a12\","
		 "\"issued_at\":%lld,\"key_id\":\"k2025-11\","
		 "\"lock_after\":%lld,\"not_after\":%lld,"
		 "\"roles\":[\"officer\"],\"user\":\"alvarez\","
		 "\"wipe_after\":%lld}",
		 (long long)issued, (long long)lock_after, (long long)not_after,
		 (long long)wipe_after);
}

static int parse_grant(int64_t issued, int64_t not_after, int64_t lock_after,
		       int64_t wipe_after, tf_grant *g, tf_err *err)
{
	char text[512];

	grant_text(text, sizeof text, issued, not_after, lock_after,
		   wipe_after);
	return tf_grant_parse(text, strlen(text), g, err);
}

static void good_grant(tf_grant *g)
{
	tf_err err;
	int rc = parse_grant(T0, T0 + 12 * HOUR_MS, 30 * MIN_MS, 10, g, &err);

	if (rc)
		tf_test_fail(__FILE__, __LINE__, "good grant: %s", err.msg);
}

TEST(grant_parse_valid)
{
	tf_grant g;
	tf_err err;

	CHECK_INT(parse_grant(T0, T0 + 8 * HOUR_MS, 10 * MIN_MS, 7, &g, &err),
		  0);
	CHECK_STR(g.user, "alvarez");
	CHECK_STR(g.device, "mdt-2a12");
	CHECK_STR(g.agency, "metro-pd");
	CHECK_STR(g.key_id, "k2025-11");
	CHECK_INT(g.nroles, 1);
	CHECK_STR(g.roles[0], "officer");
	CHECK_INT(g.issued_at, T0);
	CHECK_INT(g.not_after, T0 + 8 * HOUR_MS);
	CHECK_INT(g.lock_after, 10 * MIN_MS);
	CHECK_INT(g.wipe_after, 7);
}

TEST(grant_window_12h_exactly_and_12h_plus_1ms)
{
	tf_grant g;
	tf_err err;

	CHECK_INT(parse_grant(T0, T0 + 12 * HOUR_MS, 30 * MIN_MS, 10, &g, &err),
		  0);
	CHECK_INT(parse_grant(T0, T0 + 12 * HOUR_MS + 1, 30 * MIN_MS, 10, &g,
			      &err),
		  TF_ERANGE);
	CHECK_STR(err.where, "grant.not_after");
	CHECK(strstr(err.msg, "43200001") != NULL);
	CHECK(strstr(err.msg, "IA-11") != NULL);
	CHECK_INT(parse_grant(T0, T0, 30 * MIN_MS, 10, &g, &err), TF_ERANGE);
	CHECK_STR(err.where, "grant.not_after");
	CHECK_INT(parse_grant(T0, T0 - 1, 30 * MIN_MS, 10, &g, &err),
		  TF_ERANGE);
	CHECK_INT(parse_grant(-1, T0, 30 * MIN_MS, 10, &g, &err), TF_ERANGE);
	CHECK_STR(err.where, "grant.issued_at");
	CHECK_INT(parse_grant(TF_HLC_MAX_MS, TF_HLC_MAX_MS + 1, 30 * MIN_MS, 10,
			      &g, &err),
		  TF_ERANGE);
}

TEST(grant_lock_after_and_wipe_after_ranges)
{
	static const struct {
		int64_t lock, wipe;
		int rc;
		const char *where;
	} cases[] = {
		{30 * MIN_MS, 10, 0, ""},
		{30 * MIN_MS + 1, 10, TF_ERANGE, "grant.lock_after"},
		{1000, 10, 0, ""},
		{999, 10, TF_ERANGE, "grant.lock_after"},
		{0, 10, TF_ERANGE, "grant.lock_after"},
		{-5, 10, TF_ERANGE, "grant.lock_after"},
		{MIN_MS, 1, 0, ""},
		{MIN_MS, 100, 0, ""},
		{MIN_MS, 0, TF_ERANGE, "grant.wipe_after"},
		{MIN_MS, 101, TF_ERANGE, "grant.wipe_after"},
		{MIN_MS, -1, TF_ERANGE, "grant.wipe_after"},
		{MIN_MS, 4294967297LL, TF_ERANGE, "grant.wipe_after"},
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		tf_grant g;
		tf_err err;

		tf_err_clear(&err);
		CHECK_INT(parse_grant(T0, T0 + HOUR_MS, cases[i].lock,
				      cases[i].wipe, &g, &err),
			  cases[i].rc);
		CHECK_STR(err.where, cases[i].where);
	}
}

TEST(grant_parse_rejects_bad_documents)
{
	static const struct {
		const char *json;
		int rc;
		const char *where;
	} cases[] = {
		{"[1]", TF_ETYPE, "grant"},
		{"{\"agency\":\"a\"", TF_EJSON, ""},
		/* unknown member */
		{"{\"agency\":\"a\",\"device\":\"d\",\"issued_at\":1,"
		 "\"key_id\":\"k\",\"lock_after\":60000,\"not_after\":2,"
		 "\"roles\":[\"officer\"],\"unit\":\"2A12\",\"user\":\"u\","
		 "\"wipe_after\":3}",
		 TF_EUNKNOWN, "grant.unit"},
		/* missing key_id */
		{"{\"agency\":\"a\",\"device\":\"d\",\"issued_at\":1,"
		 "\"lock_after\":60000,\"not_after\":2,"
		 "\"roles\":[\"officer\"],\"user\":\"u\",\"wipe_after\":3}",
		 TF_EMISSING, "grant.key_id"},
		/* missing roles */
		{"{\"agency\":\"a\",\"device\":\"d\",\"issued_at\":1,"
		 "\"key_id\":\"k\",\"lock_after\":60000,\"not_after\":2,"
		 "\"user\":\"u\",\"wipe_after\":3}",
		 TF_EMISSING, "grant.roles"},
		/* user not an id */
		{"{\"agency\":\"a\",\"device\":\"d\",\"issued_at\":1,"
		 "\"key_id\":\"k\",\"lock_after\":60000,\"not_after\":2,"
		 "\"roles\":[\"officer\"],\"user\":\"bob smith\","
		 "\"wipe_after\":3}",
		 TF_EVALIDATE, "grant.user"},
		/* device not a string */
		{"{\"agency\":\"a\",\"device\":7,\"issued_at\":1,"
		 "\"key_id\":\"k\",\"lock_after\":60000,\"not_after\":2,"
		 "\"roles\":[\"officer\"],\"user\":\"u\",\"wipe_after\":3}",
		 TF_ETYPE, "grant.device"},
		/* time as a fraction */
		{"{\"agency\":\"a\",\"device\":\"d\",\"issued_at\":1.5,"
		 "\"key_id\":\"k\",\"lock_after\":60000,\"not_after\":2,"
		 "\"roles\":[\"officer\"],\"user\":\"u\",\"wipe_after\":3}",
		 TF_ETYPE, "grant.issued_at"},
		/* no roles */
		{"{\"agency\":\"a\",\"device\":\"d\",\"issued_at\":1,"
		 "\"key_id\":\"k\",\"lock_after\":60000,\"not_after\":2,"
		 "\"roles\":[],\"user\":\"u\",\"wipe_after\":3}",
		 TF_EVALIDATE, "grant.roles"},
		/* duplicate role */
		{"{\"agency\":\"a\",\"device\":\"d\",\"issued_at\":1,"
		 "\"key_id\":\"k\",\"lock_after\":60000,\"not_after\":2,"
		 "\"roles\":[\"officer\",\"officer\"],\"user\":\"u\","
		 "\"wipe_after\":3}",
		 TF_EVALIDATE, "grant.roles[1]"},
		/* role not a name */
		{"{\"agency\":\"a\",\"device\":\"d\",\"issued_at\":1,"
		 "\"key_id\":\"k\",\"lock_after\":60000,\"not_after\":2,"
		 "\"roles\":[\"Officer\"],\"user\":\"u\",\"wipe_after\":3}",
		 TF_EVALIDATE, "grant.roles[0]"},
		{"{\"agency\":\"a\",\"device\":\"d\",\"issued_at\":1,"
		 "\"key_id\":\"k\",\"lock_after\":60000,\"not_after\":2,"
		 "\"roles\":[1],\"user\":\"u\",\"wipe_after\":3}",
		 TF_ETYPE, "grant.roles[0]"},
		{"{\"agency\":\"a\",\"device\":\"d\",\"issued_at\":1,"
		 "\"key_id\":\"k\",\"lock_after\":60000,\"not_after\":2,"
		 "\"roles\":\"officer\",\"user\":\"u\",\"wipe_after\":3}",
		 TF_ETYPE, "grant.roles"},
		/* 17 roles */
		{"{\"agency\":\"a\",\"device\":\"d\",\"issued_at\":1,"
		 "\"key_id\":\"k\",\"lock_after\":60000,\"not_after\":2,"
		 "\"roles\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\","
		 "\"i\",\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\"],"
		 "\"user\":\"u\",\"wipe_after\":3}",
		 TF_ELIMIT, "grant.roles"},
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		tf_grant g;
		tf_err err;

		memset(&g, 0x5a, sizeof g);
		tf_err_clear(&err);
		CHECK_INT(tf_grant_parse(cases[i].json, strlen(cases[i].json),
					 &g, &err),
			  cases[i].rc);
		if (cases[i].where[0])
			CHECK_STR(err.where, cases[i].where);
		CHECK_INT(g.wipe_after, 0x5a5a5a5a); /* untouched */
	}
}

TEST(grant_parse_size_limit)
{
	char *big = malloc(TF_GRANT_MAX_BYTES + 2);
	tf_grant g;
	tf_err err;

	if (big == NULL)
		return;
	memset(big, ' ', TF_GRANT_MAX_BYTES + 1);
	big[TF_GRANT_MAX_BYTES + 1] = '\0';
	CHECK_INT(tf_grant_parse(big, TF_GRANT_MAX_BYTES + 1, &g, &err),
		  TF_ELIMIT);
	free(big);
}

TEST(grant_write_round_trip_is_canonical)
{
	tf_grant g, h;
	tf_buf b, c;
	tf_err err;

	good_grant(&g);
	memcpy(g.roles[1], "supervisor", 11);
	g.nroles = 2;
	tf_buf_init(&b);
	tf_buf_init(&c);
	CHECK_INT(tf_grant_write(&g, &b, &err), 0);
	CHECK_INT(tf_json_canonicalize(b.data, b.len, NULL, &c, &err), 0);
	CHECK_STR(tf_buf_cstr(&b), tf_buf_cstr(&c));
	CHECK_INT(tf_grant_parse(b.data, b.len, &h, &err), 0);
	CHECK_STR(h.roles[1], "supervisor");
	CHECK_INT(h.not_after, g.not_after);
	/* Writing checks first: a bad grant writes nothing. */
	tf_buf_reset(&b);
	g.lock_after = 31 * MIN_MS;
	CHECK_INT(tf_grant_write(&g, &b, &err), TF_ERANGE);
	CHECK_INT(b.len, 0);
	tf_buf_free(&b);
	tf_buf_free(&c);
}

TEST(grant_from_policy_and_matches)
{
	tf_agency_policy p;
	tf_grant g;
	tf_err err;

	good_grant(&g);
	tf_agency_policy_default(&p);
	p.offline_window_ms = 8 * HOUR_MS;
	p.lock_after_ms = 15 * MIN_MS;
	p.wipe_after = 5;
	CHECK_INT(tf_grant_from_policy(&p, T0 + 5, &g, &err), 0);
	CHECK_INT(g.issued_at, T0 + 5);
	CHECK_INT(g.not_after, T0 + 5 + 8 * HOUR_MS);
	CHECK_INT(g.lock_after, 15 * MIN_MS);
	CHECK_INT(g.wipe_after, 5);
	CHECK_INT(tf_grant_check(&g, &err), 0);
	p.offline_window_ms = 0;
	CHECK_INT(tf_grant_from_policy(&p, T0, &g, &err), TF_EPERM);
	p.offline_window_ms = 13 * HOUR_MS;
	CHECK_INT(tf_grant_from_policy(&p, T0, &g, &err), TF_ERANGE);
	tf_agency_policy_default(&p);
	CHECK_INT(tf_grant_from_policy(&p, -1, &g, &err), TF_ERANGE);

	CHECK_INT(tf_grant_matches(&g, "alvarez", "mdt-2a12", &err), 0);
	CHECK_INT(tf_grant_matches(&g, "brooks", "mdt-2a12", &err), TF_EPERM);
	CHECK_STR(err.where, "grant.user");
	CHECK_INT(tf_grant_matches(&g, "alvarez", "mdt-2a14", &err), TF_EPERM);
	CHECK_STR(err.where, "grant.device");
	CHECK_INT(tf_grant_matches(&g, NULL, NULL, &err), TF_EPERM);
}

/* ------------------------------------------------------- clock guard */

/* A 12 h grant issued at T0, accepted with the device clock `skew` ahead. */
static void accepted(tf_grant *g, tf_timeguard *tg, int64_t skew, int64_t mono)
{
	tf_err err;

	good_grant(g);
	memset(tg, 0, sizeof *tg);
	CHECK_INT(tf_timeguard_accept(tg, g, T0, T0 + skew, mono, &err), 0);
}

TEST(decide_ok_and_expiry_boundary)
{
	tf_grant g;
	tf_timeguard tg;
	tf_grant_decision d;

	accepted(&g, &tg, 0, 1000);
	CHECK_INT(tf_grant_decide(&g, &tg, T0 + HOUR_MS, 1000 + HOUR_MS, &d),
		  0);
	CHECK_INT(d.status, TF_GRANT_OK);
	CHECK_INT(d.remaining_ms, 11 * HOUR_MS);
	CHECK_INT(d.next.high_water_ms, T0 + HOUR_MS);
	CHECK_INT(d.next.tripped, 0);
	tg = d.next;
	/* 1 ms before not_after: still valid. */
	CHECK_INT(tf_grant_decide(&g, &tg, T0 + 12 * HOUR_MS - 1,
				  1000 + 12 * HOUR_MS - 1, &d),
		  0);
	CHECK_INT(d.status, TF_GRANT_OK);
	CHECK_INT(d.remaining_ms, 1);
	/* Exactly at not_after: expired. */
	CHECK_INT(tf_grant_decide(&g, &tg, T0 + 12 * HOUR_MS,
				  1000 + 12 * HOUR_MS, &d),
		  0);
	CHECK_INT(d.status, TF_GRANT_EXPIRED);
	CHECK_INT(d.remaining_ms, 0);
	CHECK_INT(d.next.tripped, TF_GRANT_EXPIRED);
	CHECK(strstr(d.reason, "re-authenticate") != NULL);
	CHECK_STR(tf_grant_status_name(d.status), "expired");
}

TEST(decide_expiry_is_sticky)
{
	tf_grant g;
	tf_timeguard tg;
	tf_grant_decision d;

	accepted(&g, &tg, 0, 0);
	CHECK_INT(tf_grant_decide(&g, &tg, T0 + 13 * HOUR_MS, 13 * HOUR_MS, &d),
		  0);
	CHECK_INT(d.status, TF_GRANT_EXPIRED);
	tg = d.next;
	/* After a restart (no anchor) with the clock "fixed": still locked. */
	tg.anchored = 0;
	CHECK_INT(tf_grant_decide(&g, &tg, T0 + HOUR_MS, 5, &d), 0);
	CHECK_INT(d.status, TF_GRANT_EXPIRED);
	/* Only an online re-auth clears it. */
	CHECK_INT(tf_timeguard_accept(&tg, &g, T0 + HOUR_MS, T0 + HOUR_MS, 5,
				      NULL),
		  0);
	CHECK_INT(tf_grant_decide(&g, &tg, T0 + 2 * HOUR_MS, 5 + HOUR_MS, &d),
		  0);
	CHECK_INT(d.status, TF_GRANT_OK);
}

TEST(decide_uses_server_time_with_a_fast_device_clock)
{
	tf_grant g;
	tf_timeguard tg;
	tf_grant_decision d;
	int64_t skew = 40000; /* the scenario's 2A12 runs 40 s fast */

	accepted(&g, &tg, skew, 0);
	CHECK_INT(tg.offset_ms, -skew);
	/* The device reads 12 h + 39 s: server time is 1 s before the end. */
	CHECK_INT(tf_grant_decide(&g, &tg, T0 + skew + 12 * HOUR_MS - 1000,
				  12 * HOUR_MS - 1000, &d),
		  0);
	CHECK_INT(d.status, TF_GRANT_OK);
	CHECK_INT(d.server_now_ms, T0 + 12 * HOUR_MS - 1000);
	CHECK_INT(d.remaining_ms, 1000);
	tg = d.next;
	CHECK_INT(tf_grant_decide(&g, &tg, T0 + skew + 12 * HOUR_MS,
				  12 * HOUR_MS, &d),
		  0);
	CHECK_INT(d.status, TF_GRANT_EXPIRED);
}

TEST(decide_detects_rollback_against_high_water)
{
	tf_grant g;
	tf_timeguard tg, saved;
	tf_grant_decision d;

	accepted(&g, &tg, 0, 0);
	CHECK_INT(tf_grant_decide(&g, &tg, T0 + 2 * HOUR_MS, 2 * HOUR_MS, &d),
		  0);
	CHECK_INT(d.status, TF_GRANT_OK);
	tg = d.next;
	/* Restart: only the persisted members survive. */
	tg.anchored = 0;
	saved = tg;
	/* Back by exactly the tolerance: accepted, time does not go back. */
	CHECK_INT(tf_grant_decide(&g, &tg, T0 + 2 * HOUR_MS - TOL, 7, &d), 0);
	CHECK_INT(d.status, TF_GRANT_OK);
	CHECK_INT(d.server_now_ms, T0 + 2 * HOUR_MS);
	CHECK_INT(d.next.high_water_ms, T0 + 2 * HOUR_MS);
	/* 1 ms more: rollback. */
	CHECK_INT(
		tf_grant_decide(&g, &saved, T0 + 2 * HOUR_MS - TOL - 1, 7, &d),
		0);
	CHECK_INT(d.status, TF_GRANT_ROLLBACK);
	CHECK_INT(d.next.tripped, TF_GRANT_ROLLBACK);
	CHECK_INT(d.next.high_water_ms, T0 + 2 * HOUR_MS);
	CHECK(strstr(d.reason, "rollback") != NULL);
	CHECK_STR(tf_grant_status_name(d.status), "clock_rollback");
	/* Sticky: setting the clock right again does not revive the grant. */
	tg = d.next;
	CHECK_INT(tf_grant_decide(&g, &tg, T0 + 3 * HOUR_MS, 8, &d), 0);
	CHECK_INT(d.status, TF_GRANT_ROLLBACK);
}

TEST(decide_detects_wall_monotonic_disagreement)
{
	tf_grant g;
	tf_timeguard tg;
	tf_grant_decision d;

	accepted(&g, &tg, 0, 500);
	CHECK_INT(tf_grant_decide(&g, &tg, T0 + HOUR_MS, 500 + HOUR_MS, &d), 0);
	CHECK_INT(d.status, TF_GRANT_OK);
	tg = d.next;
	/*
	 * Two hours pass on the monotonic clock, but the wall clock shows
	 * only 30 min more (set back 90 min, still ahead of the high-water
	 * mark): rollback.
	 */
	CHECK_INT(tf_grant_decide(&g, &tg, T0 + HOUR_MS + 30 * MIN_MS,
				  500 + 3 * HOUR_MS, &d),
		  0);
	CHECK_INT(d.status, TF_GRANT_ROLLBACK);
	CHECK(strstr(d.reason, "monotonic") != NULL);
	/* Within the tolerance: fine (drift). */
	CHECK_INT(tf_grant_decide(&g, &tg, T0 + 3 * HOUR_MS - TOL,
				  500 + 3 * HOUR_MS, &d),
		  0);
	CHECK_INT(d.status, TF_GRANT_OK);
	/* The wall clock ahead of the monotonic one (a suspend): fine. */
	CHECK_INT(tf_grant_decide(&g, &tg, T0 + 5 * HOUR_MS, 500 + HOUR_MS + 10,
				  &d),
		  0);
	CHECK_INT(d.status, TF_GRANT_OK);
	CHECK_INT(d.next.anchor_wall_ms, T0 + 5 * HOUR_MS);
	CHECK_INT(d.next.anchor_mono_ms, 500 + HOUR_MS + 10);
	/* The monotonic reading going backwards: rollback. */
	CHECK_INT(tf_grant_decide(&g, &tg, T0 + HOUR_MS + 1, 499 + HOUR_MS, &d),
		  0);
	CHECK_INT(d.status, TF_GRANT_ROLLBACK);
}

TEST(decide_before_issue_and_bad_state)
{
	tf_grant g, later;
	tf_timeguard tg, bad;
	tf_grant_decision d;

	accepted(&g, &tg, 0, 0);
	/* A guard from an older grant, a grant issued 2 h later. */
	later = g;
	later.issued_at = T0 + 2 * HOUR_MS;
	later.not_after = T0 + 10 * HOUR_MS;
	CHECK_INT(tf_grant_decide(&later, &tg, T0 + 10, 10, &d), 0);
	CHECK_INT(d.status, TF_GRANT_ROLLBACK);
	/* A corrupt stored state is read as a rollback. */
	bad = tg;
	bad.high_water_ms = -5;
	CHECK_INT(tf_grant_decide(&g, &bad, T0 + 10, 10, &d), 0);
	CHECK_INT(d.status, TF_GRANT_ROLLBACK);
	bad = tg;
	bad.offset_ms = INT64_MIN;
	CHECK_INT(tf_grant_decide(&g, &bad, T0 + 10, 10, &d), 0);
	CHECK_INT(d.status, TF_GRANT_ROLLBACK);
	bad = tg;
	bad.tripped = 77;
	CHECK_INT(tf_grant_decide(&g, &bad, T0 + 10, 10, &d), 0);
	CHECK_INT(d.status, TF_GRANT_ROLLBACK);
	/* Argument errors leave out untouched. */
	memset(&d, 0x5a, sizeof d);
	CHECK_INT(tf_grant_decide(&g, &tg, -1, 10, &d), TF_ERANGE);
	CHECK_INT(tf_grant_decide(&g, &tg, TF_HLC_MAX_MS + 1, 10, &d),
		  TF_ERANGE);
	later.lock_after = 0;
	CHECK_INT(tf_grant_decide(&later, &tg, T0, 10, &d), TF_EINVAL);
	CHECK_INT(d.remaining_ms, 0x5a5a5a5a5a5a5a5aLL);
}

TEST(timeguard_accept_checks_and_rebases)
{
	tf_grant g;
	tf_timeguard tg, before;
	tf_err err;

	good_grant(&g);
	memset(&tg, 0, sizeof tg);
	tg.high_water_ms = T0 + 5 * HOUR_MS; /* a clock once set forward */
	tg.tripped = TF_GRANT_ROLLBACK;
	before = tg;
	CHECK_INT(tf_timeguard_accept(&tg, &g, T0 + 12 * HOUR_MS, T0, 1, &err),
		  TF_EEXPIRED);
	CHECK_STR(err.where, "grant.not_after");
	CHECK_INT(tf_timeguard_accept(&tg, &g, T0 - TOL - 1, T0, 1, &err),
		  TF_EEXPIRED);
	CHECK_INT(tf_timeguard_accept(&tg, &g, T0, -1, 1, &err), TF_ERANGE);
	CHECK(memcmp(&tg, &before, sizeof tg) == 0);
	/* Accepting rebases the high-water mark back to the device clock. */
	CHECK_INT(tf_timeguard_accept(&tg, &g, T0, T0 - 3000, 1, &err), 0);
	CHECK_INT(tg.high_water_ms, T0 - 3000);
	CHECK_INT(tg.offset_ms, 3000);
	CHECK_INT(tg.tripped, 0);
	CHECK_INT(tg.anchored, 1);
}

/* -------------------------------------------------------------- idle */

TEST(idle_limit_and_exemption)
{
	tf_grant g;
	int64_t left;

	good_grant(&g); /* lock_after 30 min */
	CHECK_INT(tf_idle_limit(&g, 10 * MIN_MS, 0), 10 * MIN_MS);
	CHECK_INT(tf_idle_limit(&g, 0, 0), 30 * MIN_MS);
	CHECK_INT(tf_idle_limit(&g, 45 * MIN_MS, 0), 30 * MIN_MS);
	/* Exempt terminals skip the agency's limit, never the grant's. */
	CHECK_INT(tf_idle_limit(&g, 10 * MIN_MS, 1), 30 * MIN_MS);
	g.lock_after = 20 * MIN_MS;
	CHECK_INT(tf_idle_limit(&g, 10 * MIN_MS, 1), 20 * MIN_MS);
	/* A broken grant cannot widen the limit past 30 min. */
	g.lock_after = 5 * HOUR_MS;
	CHECK_INT(tf_idle_limit(&g, 0, 1), 30 * MIN_MS);
	g.lock_after = 30 * MIN_MS;

	CHECK_INT(tf_idle_should_lock(&g, 10 * MIN_MS, 0, 1000,
				      1000 + 10 * MIN_MS - 1, &left),
		  0);
	CHECK_INT(left, 1);
	CHECK_INT(tf_idle_should_lock(&g, 10 * MIN_MS, 0, 1000,
				      1000 + 10 * MIN_MS, &left),
		  1);
	CHECK_INT(left, 0);
	CHECK_INT(tf_idle_should_lock(&g, 10 * MIN_MS, 1, 1000,
				      1000 + 10 * MIN_MS, &left),
		  0);
	CHECK_INT(left, 20 * MIN_MS);
	CHECK_INT(tf_idle_should_lock(&g, 10 * MIN_MS, 1, 1000,
				      1000 + 30 * MIN_MS, NULL),
		  1);
	/* A monotonic reading before the last activity locks. */
	CHECK_INT(tf_idle_should_lock(&g, 10 * MIN_MS, 1, 1000, 999, &left), 1);
	CHECK_INT(left, 0);
	/* Extreme readings do not overflow. */
	CHECK_INT(tf_idle_should_lock(&g, 0, 0, INT64_MIN, INT64_MAX, NULL), 1);
}

/* ---------------------------------------------------------- unlocks */

TEST(unlock_counts_before_trying_and_wipes_at_n)
{
	tf_unlock_state st = {0};
	tf_unlock_decision d;
	uint32_t i;

	for (i = 0; i < 2; i++) {
		CHECK_INT(tf_unlock_begin(&st, 3, &d), 0);
		CHECK_INT(d.action, TF_UNLOCK_TRY);
		CHECK_INT(d.attempts_left, 3 - i);
		CHECK_INT(d.next.failures, i + 1);
		st = d.next; /* persisted before verifying */
		CHECK_INT(tf_unlock_end(&st, 0, 3, &d), 0);
		CHECK_INT(d.action, TF_UNLOCK_RETRY);
		CHECK_INT(d.attempts_left, 2 - i);
		st = d.next;
	}
	/* Third wrong PIN of three: wipe. */
	CHECK_INT(tf_unlock_begin(&st, 3, &d), 0);
	CHECK_INT(d.action, TF_UNLOCK_TRY);
	CHECK_INT(d.attempts_left, 1);
	st = d.next;
	CHECK_INT(tf_unlock_end(&st, 0, 3, &d), 0);
	CHECK_INT(d.action, TF_UNLOCK_WIPE);
	CHECK_INT(d.attempts_left, 0);
	CHECK_STR(tf_unlock_action_name(d.action), "wipe");
	/* A wipe interrupted by a restart still happens at the next try. */
	st = d.next;
	CHECK_INT(tf_unlock_begin(&st, 3, &d), 0);
	CHECK_INT(d.action, TF_UNLOCK_WIPE);
	CHECK_INT(d.next.failures, 3);
}

TEST(unlock_restart_mid_attempt_still_counts)
{
	tf_unlock_state st = {0};
	tf_unlock_decision d;

	/* The app is killed after begin: the persisted count went up. */
	CHECK_INT(tf_unlock_begin(&st, 2, &d), 0);
	st = d.next;
	CHECK_INT(tf_unlock_begin(&st, 2, &d), 0);
	CHECK_INT(d.action, TF_UNLOCK_TRY);
	CHECK_INT(d.attempts_left, 1);
	st = d.next;
	CHECK_INT(tf_unlock_end(&st, 0, 2, &d), 0);
	CHECK_INT(d.action, TF_UNLOCK_WIPE);
}

TEST(unlock_success_resets_and_errors)
{
	tf_unlock_state st = {0};
	tf_unlock_decision d;

	CHECK_INT(tf_unlock_begin(&st, 1, &d), 0);
	st = d.next;
	CHECK_INT(tf_unlock_end(&st, 1, 1, &d), 0);
	CHECK_INT(d.action, TF_UNLOCK_UNLOCKED);
	CHECK_INT(d.next.failures, 0);
	CHECK_INT(d.attempts_left, 1);
	/* wipe_after 1: the first wrong PIN wipes. */
	st.failures = 0;
	CHECK_INT(tf_unlock_begin(&st, 1, &d), 0);
	st = d.next;
	CHECK_INT(tf_unlock_end(&st, 0, 1, &d), 0);
	CHECK_INT(d.action, TF_UNLOCK_WIPE);
	/* A lowered wipe_after below the count wipes at once. */
	st.failures = 7;
	CHECK_INT(tf_unlock_begin(&st, 5, &d), 0);
	CHECK_INT(d.action, TF_UNLOCK_WIPE);
	CHECK_INT(tf_unlock_end(&st, 0, 5, &d), 0);
	CHECK_INT(d.action, TF_UNLOCK_WIPE);

	memset(&d, 0x5a, sizeof d);
	CHECK_INT(tf_unlock_begin(&st, 0, &d), TF_ERANGE);
	CHECK_INT(tf_unlock_begin(&st, 101, &d), TF_ERANGE);
	CHECK_INT(tf_unlock_end(&st, 0, 0, &d), TF_ERANGE);
	st.failures = 0;
	CHECK_INT(tf_unlock_end(&st, 1, 5, &d), TF_EINVAL);
	CHECK_INT(d.attempts_left, 0x5a5a5a5a);
	CHECK_STR(tf_unlock_action_name(TF_UNLOCK_TRY), "try");
	CHECK_STR(tf_unlock_action_name((tf_unlock_action)99), "unknown");
}

/* ---------------------------------------------------------- lockout */

TEST(lockout_five_in_fifteen_minutes)
{
	tf_agency_policy p;
	tf_lockout_state st;
	int locked = -1, i;

	tf_agency_policy_default(&p);
	memset(&st, 0, sizeof st);
	for (i = 0; i < 4; i++) {
		CHECK_INT(tf_lockout_fail(&st, &p, T0 + i * MIN_MS, &locked),
			  0);
		CHECK_INT(locked, 0);
	}
	/* The fifth within 15 min of the first locks. */
	CHECK_INT(tf_lockout_fail(&st, &p, T0 + 15 * MIN_MS - 1, &locked), 0);
	CHECK_INT(locked, 1);
	/* A success does not release the lock; an administrator does. */
	tf_lockout_success(&st);
	CHECK_INT(st.locked, 1);
	CHECK_INT(st.nfail, 0);
	tf_lockout_release(&st);
	CHECK_INT(st.locked, 0);

	/* The fifth exactly 15 min after the first: the first dropped out. */
	for (i = 0; i < 4; i++)
		CHECK_INT(tf_lockout_fail(&st, &p, T0 + i * MIN_MS, &locked),
			  0);
	CHECK_INT(tf_lockout_fail(&st, &p, T0 + 15 * MIN_MS, &locked), 0);
	CHECK_INT(locked, 0);
	CHECK_INT(st.nfail, 4);
	/* A clock step back counts as the last failure's time. */
	CHECK_INT(tf_lockout_fail(&st, &p, T0, &locked), 0);
	CHECK_INT(locked, 1);
	CHECK_INT(st.fail_ms[st.nfail - 1], T0 + 15 * MIN_MS);
}

TEST(lockout_stricter_agency_and_errors)
{
	tf_agency_policy p;
	tf_lockout_state st, before;
	int locked = -1;

	tf_agency_policy_default(&p);
	p.lockout_failures = 3;
	p.lockout_window_ms = HOUR_MS;
	memset(&st, 0, sizeof st);
	CHECK_INT(tf_lockout_fail(&st, &p, T0, &locked), 0);
	CHECK_INT(tf_lockout_fail(&st, &p, T0 + 20 * MIN_MS, &locked), 0);
	CHECK_INT(locked, 0);
	CHECK_INT(tf_lockout_fail(&st, &p, T0 + 40 * MIN_MS, &locked), 0);
	CHECK_INT(locked, 1);

	before = st;
	p.lockout_failures = 6;
	CHECK_INT(tf_lockout_fail(&st, &p, T0, &locked), TF_ERANGE);
	tf_agency_policy_default(&p);
	CHECK_INT(tf_lockout_fail(&st, &p, -1, &locked), TF_ERANGE);
	st.nfail = 9;
	CHECK_INT(tf_lockout_fail(&st, &p, T0, &locked), TF_EINVAL);
	st = before;
	st.fail_ms[0] = -7;
	CHECK_INT(tf_lockout_fail(&st, &p, T0, &locked), TF_EINVAL);
	CHECK_INT(st.fail_ms[0], -7);
}

/* ----------------------------------------------------- PIN, passphrase */

TEST(pin_table)
{
	static const struct {
		const char *pin;
		int rc;
		const char *says;
	} cases[] = {
		{"135792", 0, NULL},
		{"907314", 0, NULL},
		{"24681357", 0, NULL},
		{"12345", TF_EVALIDATE, "at least 6 digits"},
		{"", TF_EVALIDATE, "at least 6 digits"},
		{"1234a6", TF_EVALIDATE, "only digits"},
		{"12 456", TF_EVALIDATE, "character 3"},
		{"111111", TF_EVALIDATE, "one digit repeated"},
		{"00000000", TF_EVALIDATE, "one digit repeated"},
		{"123456", TF_EVALIDATE, "ascending"},
		{"234567", TF_EVALIDATE, "ascending"},
		{"890123", TF_EVALIDATE, "ascending"},
		{"654321", TF_EVALIDATE, "descending"},
		{"098765", TF_EVALIDATE, "descending"},
		{"121212", TF_EVALIDATE, "block of 2"},
		{"123123", TF_EVALIDATE, "block of 3"},
		{"12341234", TF_EVALIDATE, "block of 4"},
		{"112233", TF_EVALIDATE, "commonly used"},
		{"147258", TF_EVALIDATE, "commonly used"},
		{"159753", TF_EVALIDATE, "commonly used"},
		{"123456789012345678901234567890123", TF_EVALIDATE,
		 "at most 32"},
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		tf_err err;
		int rc;

		tf_err_clear(&err);
		rc = tf_pin_check(cases[i].pin, strlen(cases[i].pin), &err);
		if (rc != cases[i].rc)
			tf_test_fail(__FILE__, __LINE__, "PIN %s: rc %d",
				     cases[i].pin, rc);
		if (cases[i].says && strstr(err.msg, cases[i].says) == NULL)
			tf_test_fail(__FILE__, __LINE__,
				     "PIN %s: message \"%s\" lacks \"%s\"",
				     cases[i].pin, err.msg, cases[i].says);
		/* The message never repeats the secret. */
		if (strlen(cases[i].pin) >= 6 && strstr(err.msg, cases[i].pin))
			tf_test_fail(__FILE__, __LINE__, "PIN %s echoed",
				     cases[i].pin);
	}
	CHECK_INT(tf_pin_check(NULL, 0, NULL), TF_EVALIDATE);
}

TEST(passphrase_table)
{
	static const char *const extra[] = {"alvarez2025", NULL, "MetroPD!"};
	static const struct {
		const char *p;
		int rc;
		const char *says;
	} cases[] = {
		{"correct horse battery", 0, NULL},
		{"Kr4k3n-Dispatch", 0, NULL},
		/* 9 characters, 27 bytes */
		{"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x91"
		 "\xe3\x82\xb9\xe3\x83\xaf\xe3\x83\xbc\xe3\x83\x89",
		 0, NULL},
		{"short", TF_EVALIDATE, "at least 8 characters (it has 5)"},
		/* 7 characters in 14 bytes: still too short */
		{"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa8",
		 TF_EVALIDATE, "(it has 7)"},
		{"password", TF_EVALIDATE, "most commonly used"},
		{"PassWord1", TF_EVALIDATE, "most commonly used"},
		{"qwertyuiop", TF_EVALIDATE, "most commonly used"},
		{"1234567890", TF_EVALIDATE, "most commonly used"},
		{"aaaaaaaa", TF_EVALIDATE, "one character repeated"},
		{"bcdefghij", TF_EVALIDATE, "consecutive"},
		{"98765432", TF_EVALIDATE, "consecutive"},
		{"12345678", TF_EVALIDATE, "consecutive"},
		{"Alvarez2025", TF_EVALIDATE, "agency's list"},
		{"metropd!", TF_EVALIDATE, "entry 3"},
		{"tab\there ok", TF_EVALIDATE, "control characters"},
		{"c1 \xc2\x85 control", TF_EVALIDATE, "control characters"},
		{"bad \xff utf8 here", TF_EUTF8, "UTF-8"},
		{"over\xc0\xaflong!", TF_EUTF8, "UTF-8"},
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		tf_err err;
		int rc;

		tf_err_clear(&err);
		rc = tf_passphrase_check(cases[i].p, strlen(cases[i].p), extra,
					 3, &err);
		if (rc != cases[i].rc)
			tf_test_fail(__FILE__, __LINE__, "case %zu: rc %d (%s)",
				     i, rc, err.msg);
		if (cases[i].says && strstr(err.msg, cases[i].says) == NULL)
			tf_test_fail(__FILE__, __LINE__,
				     "case %zu: message \"%s\" lacks \"%s\"", i,
				     err.msg, cases[i].says);
		if (strstr(err.msg, cases[i].p))
			tf_test_fail(__FILE__, __LINE__, "case %zu echoed", i);
	}
}

TEST(passphrase_limits)
{
	char *big = malloc(TF_PASSPHRASE_MAX + 1);
	tf_err err;

	if (big == NULL)
		return;
	memset(big, 'x', TF_PASSPHRASE_MAX + 1);
	big[0] = 'y';
	CHECK_INT(tf_passphrase_check(big, TF_PASSPHRASE_MAX, NULL, 0, &err),
		  0);
	CHECK_INT(
		tf_passphrase_check(big, TF_PASSPHRASE_MAX + 1, NULL, 0, &err),
		TF_ELIMIT);
	CHECK_INT(tf_passphrase_check("long enough", 11, NULL,
				      TF_PASSPHRASE_EXTRA_MAX + 1, &err),
		  TF_ELIMIT);
	CHECK_INT(tf_passphrase_check("long enough", 11, NULL, 1, &err),
		  TF_ELIMIT);
	CHECK_INT(tf_passphrase_check(NULL, 0, NULL, 0, &err), TF_EVALIDATE);
	free(big);
}

/* ---------------------------------------------------------- eviction */

TEST(evict_prefers_out_of_scope_then_lru_never_unsynced)
{
	static const tf_evict_rec recs[] = {
		{"r0-pending", TF_SYNC_PENDING, 0, 1, 500},
		{"r1-conflict", TF_SYNC_CONFLICT, 0, 2, 500},
		{"r2-rejected", TF_SYNC_REJECTED, 0, 3, 500},
		{"r3-superseded", TF_SYNC_SUPERSEDED, 0, 4, 500},
		{"r4-recent", TF_SYNC_SYNCED, 1, 900, 100},
		{"r5-old", TF_SYNC_SYNCED, 1, 100, 100},
		{"r6-gone-recent", TF_SYNC_SYNCED, 0, 1000, 100},
		{"r7-mid", TF_SYNC_SYNCED, 1, 500, 100},
		{"r8-gone-old", TF_SYNC_SYNCED, 0, 50, 100},
	};
	size_t idx[9], n = 99;
	uint64_t left = 0;
	int met = -1;
	tf_err err;

	/* Total 2500; budget 2200 needs 3 x 100. */
	CHECK_INT(tf_policy_evict(recs, 9, 2200, idx, &n, &met, &left, &err),
		  0);
	CHECK_INT(n, 3);
	CHECK_INT(met, 1);
	CHECK_INT(left, 2200);
	CHECK_INT(idx[0], 8); /* out of scope, older */
	CHECK_INT(idx[1], 6); /* out of scope, however recent */
	CHECK_INT(idx[2], 5); /* then least recently accessed */
	/* Budget below what the pending work holds: all synced, not met. */
	CHECK_INT(tf_policy_evict(recs, 9, 1000, idx, &n, &met, &left, &err),
		  0);
	CHECK_INT(n, 5);
	CHECK_INT(met, 0);
	CHECK_INT(left, 2000);
	CHECK_INT(idx[3], 7);
	CHECK_INT(idx[4], 4);
	/* Already within budget: nothing. */
	CHECK_INT(tf_policy_evict(recs, 9, 2500, idx, &n, &met, NULL, &err), 0);
	CHECK_INT(n, 0);
	CHECK_INT(met, 1);
	CHECK_INT(tf_policy_evict(NULL, 0, 0, NULL, &n, &met, &left, &err), 0);
	CHECK_INT(n, 0);
	CHECK_INT(met, 1);
	CHECK_INT(left, 0);
}

TEST(evict_tie_break_is_deterministic)
{
	static const tf_evict_rec recs[] = {
		{"c", TF_SYNC_SYNCED, 1, 7, 10},
		{"a", TF_SYNC_SYNCED, 1, 7, 10},
		{"b", TF_SYNC_SYNCED, 1, 7, 10},
		{"a", TF_SYNC_SYNCED, 1, 7, 10},
	};
	size_t idx[4], n;
	int met;

	CHECK_INT(tf_policy_evict(recs, 4, 0, idx, &n, &met, NULL, NULL), 0);
	CHECK_INT(n, 4);
	CHECK_INT(idx[0], 1);
	CHECK_INT(idx[1], 3);
	CHECK_INT(idx[2], 2);
	CHECK_INT(idx[3], 0);
}

TEST(evict_errors_leave_outputs)
{
	tf_evict_rec recs[2] = {
		{"a", TF_SYNC_SYNCED, 1, 7, 10},
		{"b", TF_SYNC_NONE, 1, 7, 10},
	};
	size_t idx[2] = {42, 42}, n = 42;
	int met = 42;
	tf_err err;

	CHECK_INT(tf_policy_evict(recs, 2, 0, idx, &n, &met, NULL, &err),
		  TF_EINVAL);
	CHECK_STR(err.where, "records[1]");
	recs[1].state = (tf_sync_state)42;
	CHECK_INT(tf_policy_evict(recs, 2, 0, idx, &n, &met, NULL, &err),
		  TF_EINVAL);
	recs[1].state = TF_SYNC_SYNCED;
	recs[1].id = NULL;
	CHECK_INT(tf_policy_evict(recs, 2, 0, idx, &n, &met, NULL, &err),
		  TF_EINVAL);
	recs[1].id = "b";
	recs[0].bytes = UINT64_MAX;
	CHECK_INT(tf_policy_evict(recs, 2, 0, idx, &n, &met, NULL, &err),
		  TF_ERANGE);
	CHECK_INT(tf_policy_evict(recs, 2, 0, NULL, &n, &met, NULL, &err),
		  TF_EINVAL);
	CHECK_INT(tf_policy_evict(recs, TF_EVICT_MAX_RECORDS + 1, 0, idx, &n,
				  &met, NULL, &err),
		  TF_ELIMIT);
	CHECK_INT(n, 42);
	CHECK_INT(met, 42);
	CHECK_INT(idx[0], 42);
}

/* ------------------------------------------------------------- scope */

/* The scope-relevant part of schemas/cad.json, in the same format. */
static const char inline_schema[] =
	"{\"schema_version\":1,"
	"\"roles\":[\"officer\",\"dispatcher\",\"supervisor\",\"admin\","
	"\"auditor\",\"service\"],"
	"\"entities\":{"
	"\"incident\":{\"scope\":{\"rule\":\"assigned_unit\","
	"\"field\":\"assigned_units\"},"
	"\"read_roles\":[\"dispatcher\",\"supervisor\",\"auditor\"],"
	"\"write_roles\":[\"dispatcher\",\"supervisor\",\"officer\"],"
	"\"fields\":{\"assigned_units\":{\"class\":\"set\",\"type\":\"string\","
	"\"max\":32,\"max_entries\":64},"
	"\"priority\":{\"class\":\"lww\",\"type\":\"integer\",\"min\":1,"
	"\"max\":5}}},"
	"\"assignment\":{\"scope\":{\"rule\":\"assigned_unit\","
	"\"field\":\"unit_id\"},"
	"\"read_roles\":[\"dispatcher\",\"supervisor\",\"auditor\"],"
	"\"write_roles\":[\"dispatcher\",\"supervisor\",\"officer\"],"
	"\"fields\":{\"unit_id\":{\"class\":\"lww\",\"type\":\"string\","
	"\"max\":32}}},"
	"\"thread\":{\"scope\":{\"rule\":\"participant\","
	"\"field\":\"participants\"},"
	"\"read_roles\":[\"supervisor\",\"auditor\"],"
	"\"write_roles\":[\"officer\",\"dispatcher\",\"supervisor\"],"
	"\"fields\":{\"participants\":{\"class\":\"set\",\"type\":\"string\","
	"\"max\":64,\"max_entries\":256}}},"
	"\"report\":{\"scope\":{\"rule\":\"author\",\"field\":\"author\"},"
	"\"read_roles\":[\"supervisor\",\"auditor\"],"
	"\"write_roles\":[\"officer\",\"supervisor\"],"
	"\"fields\":{\"author\":{\"class\":\"lww\",\"type\":\"string\","
	"\"max\":64}}},"
	"\"bolo\":{\"scope\":{\"rule\":\"agency\"},"
	"\"read_roles\":[\"dispatcher\",\"supervisor\",\"auditor\"],"
	"\"write_roles\":[\"dispatcher\",\"supervisor\",\"officer\"],"
	"\"fields\":{\"status\":{\"class\":\"lww\",\"type\":\"string\","
	"\"max\":32}}}}}";

#define RID "\"id\":\"0191a2b3-c4d5-7000-8000-000000001234\","
#define HLC "\"0191a2b3c4d50001\""
#define TAG "\"0191a2b3-c4d5-7000-8000-0000000000a1\""
#define TAG2 "\"0191a2b3-c4d5-7000-8000-0000000000a2\""
#define LWW(v) "{\"by\":\"dana\",\"n\":\"console-1\",\"t\":" HLC ",\"v\":" v "}"

static const char *const rec_incident =
	"{\"entity\":\"incident\",\"f\":{\"assigned_units\":{\"s\":["
	"{\"tags\":[" TAG "],\"v\":\"2A12\"},"
	"{\"tags\":[],\"v\":\"2A15\"},"
	"{\"tags\":[" TAG2 "],\"v\":\"2A14\"}]},"
	"\"priority\":" LWW("2") "}," RID "\"mhlc\":" HLC ",\"ver\":3}";
static const char *const rec_incident_empty =
	"{\"entity\":\"incident\",\"f\":{\"priority\":" LWW("2") "}," RID
								 "\"mhlc\":" HLC
								 ",\"ver\":1}";
static const char *const rec_assignment =
	"{\"entity\":\"assignment\",\"f\":{\"unit_id\":" LWW(
		"\"2A12\"") "}," RID "\"mhlc\":" HLC ",\"ver\":1}";
static const char *const rec_assignment_null =
	"{\"entity\":\"assignment\",\"f\":{\"unit_id\":" LWW(
		"null") "}," RID "\"mhlc\":" HLC ",\"ver\":1}";
static const char *const rec_thread =
	"{\"entity\":\"thread\",\"f\":{\"participants\":{\"s\":["
	"{\"tags\":[" TAG "],\"v\":\"alvarez\"},"
	"{\"tags\":[" TAG2 "],\"v\":\"brooks\"}]}}," RID "\"mhlc\":" HLC
	",\"ver\":2}";
static const char *const rec_report =
	"{\"entity\":\"report\",\"f\":{\"author\":" LWW(
		"\"alvarez\"") "}," RID "\"mhlc\":" HLC ",\"ver\":0}";
static const char *const rec_bolo =
	"{\"entity\":\"bolo\",\"f\":{}," RID "\"mhlc\":" HLC ",\"ver\":4}";

/*
 * tf_policy_in_scope for record text `rec` of entity `ent`; returns the
 * rc, *in gets the verdict (-1 when untouched).
 */
static int scope(const tf_schema *s, const char *ent, const char *rec,
		 const tf_principal *p, int *in, tf_err *err)
{
	const tf_entity *e = tf_schema_entity(s, ent);
	tf_json *j = NULL;
	int rc;

	*in = -1;
	if (e == NULL) {
		tf_test_fail(__FILE__, __LINE__, "no entity %s", ent);
		return TF_ENOTFOUND;
	}
	rc = tf_json_parse(rec, strlen(rec), NULL, &j, err);
	if (rc) {
		tf_test_fail(__FILE__, __LINE__, "record text: %s",
			     err ? err->msg : "?");
		return rc;
	}
	rc = tf_policy_in_scope(e, j, p, in, err);
	tf_json_free(j);
	return rc;
}

static void principal(tf_principal *p, const char *user, const char *unit,
		      const char *role)
{
	memset(p, 0, sizeof *p);
	p->user = user;
	p->unit = unit;
	p->agency = "metro-pd";
	p->roles[0] = role;
	p->nroles = 1;
}

static void scope_rules(const tf_schema *s)
{
	tf_principal alvarez, brooks, nounit, dana, sup;
	tf_err err;
	int in;

	principal(&alvarez, "alvarez", "2A12", "officer");
	principal(&brooks, "brooks", "2A14", "officer");
	principal(&nounit, "carter", NULL, "officer");
	principal(&dana, "dana", NULL, "dispatcher");
	principal(&sup, "sgt-lee", NULL, "supervisor");

	/* assigned_unit via a set */
	CHECK_INT(scope(s, "incident", rec_incident, &alvarez, &in, &err), 0);
	CHECK_INT(in, 1);
	CHECK_INT(scope(s, "incident", rec_incident, &brooks, &in, &err), 0);
	CHECK_INT(in, 1);
	brooks.unit = "2A15"; /* its element's tags were all removed */
	CHECK_INT(scope(s, "incident", rec_incident, &brooks, &in, &err), 0);
	CHECK_INT(in, 0);
	brooks.unit = "2A14";
	CHECK_INT(scope(s, "incident", rec_incident, &nounit, &in, &err), 0);
	CHECK_INT(in, 0);
	CHECK_INT(scope(s, "incident", rec_incident_empty, &alvarez, &in, &err),
		  0);
	CHECK_INT(in, 0);
	/* read_roles see everything */
	CHECK_INT(scope(s, "incident", rec_incident_empty, &dana, &in, &err),
		  0);
	CHECK_INT(in, 1);

	/* assigned_unit via an lww field */
	CHECK_INT(scope(s, "assignment", rec_assignment, &alvarez, &in, &err),
		  0);
	CHECK_INT(in, 1);
	CHECK_INT(scope(s, "assignment", rec_assignment, &brooks, &in, &err),
		  0);
	CHECK_INT(in, 0);
	CHECK_INT(scope(s, "assignment", rec_assignment_null, &alvarez, &in,
			&err),
		  0);
	CHECK_INT(in, 0);

	/* participant via a set */
	CHECK_INT(scope(s, "thread", rec_thread, &brooks, &in, &err), 0);
	CHECK_INT(in, 1);
	CHECK_INT(scope(s, "thread", rec_thread, &nounit, &in, &err), 0);
	CHECK_INT(in, 0);
	/* a dispatcher is no read role of thread; a supervisor is */
	CHECK_INT(scope(s, "thread", rec_thread, &dana, &in, &err), 0);
	CHECK_INT(in, 0);
	CHECK_INT(scope(s, "thread", rec_thread, &sup, &in, &err), 0);
	CHECK_INT(in, 1);

	/* author via an lww field */
	CHECK_INT(scope(s, "report", rec_report, &alvarez, &in, &err), 0);
	CHECK_INT(in, 1);
	CHECK_INT(scope(s, "report", rec_report, &brooks, &in, &err), 0);
	CHECK_INT(in, 0);
	/* a second role that is a read role is enough */
	brooks.roles[1] = "supervisor";
	brooks.nroles = 2;
	CHECK_INT(scope(s, "report", rec_report, &brooks, &in, &err), 0);
	CHECK_INT(in, 1);

	/* agency: everyone of the agency (separation is the server's) */
	CHECK_INT(scope(s, "bolo", rec_bolo, &nounit, &in, &err), 0);
	CHECK_INT(in, 1);
}

static void scope_errors(const tf_schema *s)
{
	tf_principal alvarez;
	tf_entity twisted;
	tf_json *j = NULL;
	tf_err err;
	int in;

	principal(&alvarez, "alvarez", "2A12", "officer");
	/* a record of another entity */
	CHECK_INT(scope(s, "incident", rec_report, &alvarez, &in, &err),
		  TF_EINVAL);
	CHECK_INT(in, -1);
	CHECK_INT(scope(s, "incident", "{\"entity\":\"incident\"}", &alvarez,
			&in, &err),
		  TF_EINVAL);
	CHECK_INT(scope(s, "incident", "[1]", &alvarez, &in, &err), TF_EINVAL);
	/* malformed field states */
	CHECK_INT(scope(s, "incident",
			"{\"entity\":\"incident\",\"f\":{\"assigned_units\":"
			"{\"s\":{}}}}",
			&alvarez, &in, &err),
		  TF_ETYPE);
	CHECK_STR(err.where, "incident.assigned_units");
	CHECK_INT(in, -1);
	CHECK_INT(scope(s, "incident",
			"{\"entity\":\"incident\",\"f\":{\"assigned_units\":"
			"{\"s\":[{\"v\":\"2A12\"}]}}}",
			&alvarez, &in, &err),
		  TF_ETYPE);
	CHECK_INT(scope(s, "incident",
			"{\"entity\":\"incident\",\"f\":{\"assigned_units\":"
			"{\"s\":[7]}}}",
			&alvarez, &in, &err),
		  TF_ETYPE);
	CHECK_INT(
		scope(s, "incident",
		      "{\"entity\":\"incident\",\"f\":{\"assigned_units\":7}}",
		      &alvarez, &in, &err),
		TF_ETYPE);
	CHECK_INT(scope(s, "report",
			"{\"entity\":\"report\",\"f\":{\"author\":{\"by\":"
			"\"x\"}}}",
			&alvarez, &in, &err),
		  TF_ETYPE);
	/* no user */
	alvarez.user = NULL;
	CHECK_INT(scope(s, "report", rec_report, &alvarez, &in, &err),
		  TF_EINVAL);
	CHECK_STR(err.where, "principal.user");
	CHECK_INT(scope(s, "report", rec_report, NULL, &in, &err), TF_EINVAL);
	alvarez.user = "alvarez";
	/* a rule that cannot read its field's class */
	twisted = *tf_schema_entity(s, "incident");
	twisted.scope = TF_SCOPE_AUTHOR; /* an lww rule on a set field */
	CHECK_INT(tf_json_parse(rec_incident, strlen(rec_incident), NULL, &j,
				&err),
		  0);
	in = -1;
	CHECK_INT(tf_policy_in_scope(&twisted, j, &alvarez, &in, &err),
		  TF_ESCHEMA);
	CHECK_STR(err.where, "incident.assigned_units");
	twisted.scope = TF_SCOPE_PARTICIPANT;
	twisted.scope_field = "priority"; /* a set rule on an lww field */
	CHECK_INT(tf_policy_in_scope(&twisted, j, &alvarez, &in, &err),
		  TF_ESCHEMA);
	twisted.scope_field = "nonexistent";
	CHECK_INT(tf_policy_in_scope(&twisted, j, &alvarez, &in, &err),
		  TF_ESCHEMA);
	twisted.scope_field = NULL;
	CHECK_INT(tf_policy_in_scope(&twisted, j, &alvarez, &in, &err),
		  TF_ESCHEMA);
	CHECK_INT(in, -1);
	tf_json_free(j);
}

TEST(scope_inline_schema)
{
	tf_schema *s = NULL;
	tf_err err;

	if (tf_schema_load(inline_schema, strlen(inline_schema), &s, &err)) {
		tf_test_fail(__FILE__, __LINE__, "inline schema: %s", err.msg);
		return;
	}
	scope_rules(s);
	scope_errors(s);
	tf_schema_free(s);
}

TEST(scope_cad_schema)
{
	size_t len = 0;
	char *text = tf_test_read_file(TF_TEST_SCHEMA_PATH, &len);
	tf_schema *s = NULL;
	tf_err err;

	if (text == NULL) {
		fprintf(stderr,
			"note: %s not found; scope_cad_schema skipped\n",
			TF_TEST_SCHEMA_PATH);
		return;
	}
	if (tf_schema_load(text, len, &s, &err) == 0) {
		scope_rules(s);
		scope_errors(s);
		tf_schema_free(s);
	} else {
		tf_test_fail(__FILE__, __LINE__, "%s: %s", TF_TEST_SCHEMA_PATH,
			     err.msg);
	}
	free(text);
}

TEST(grant_principal_borrows)
{
	tf_grant g;
	tf_principal p;

	good_grant(&g);
	memcpy(g.roles[1], "supervisor", 11);
	g.nroles = 2;
	tf_grant_principal(&g, "2A12", &p);
	CHECK(p.user == g.user);
	CHECK_STR(p.unit, "2A12");
	CHECK_STR(p.agency, "metro-pd");
	CHECK_INT(p.nroles, 2);
	CHECK_STR(p.roles[1], "supervisor");
}

int main(int argc, char **argv)
{
	(void)argc;
	RUN(policy_default_is_the_cjis_ceiling);
	RUN(policy_check_boundaries);
	RUN(policy_parse_and_write);
	RUN(policy_parse_errors);
	RUN(grant_parse_valid);
	RUN(grant_window_12h_exactly_and_12h_plus_1ms);
	RUN(grant_lock_after_and_wipe_after_ranges);
	RUN(grant_parse_rejects_bad_documents);
	RUN(grant_parse_size_limit);
	RUN(grant_write_round_trip_is_canonical);
	RUN(grant_from_policy_and_matches);
	RUN(decide_ok_and_expiry_boundary);
	RUN(decide_expiry_is_sticky);
	RUN(decide_uses_server_time_with_a_fast_device_clock);
	RUN(decide_detects_rollback_against_high_water);
	RUN(decide_detects_wall_monotonic_disagreement);
	RUN(decide_before_issue_and_bad_state);
	RUN(timeguard_accept_checks_and_rebases);
	RUN(idle_limit_and_exemption);
	RUN(unlock_counts_before_trying_and_wipes_at_n);
	RUN(unlock_restart_mid_attempt_still_counts);
	RUN(unlock_success_resets_and_errors);
	RUN(lockout_five_in_fifteen_minutes);
	RUN(lockout_stricter_agency_and_errors);
	RUN(pin_table);
	RUN(passphrase_table);
	RUN(passphrase_limits);
	RUN(evict_prefers_out_of_scope_then_lru_never_unsynced);
	RUN(evict_tie_break_is_deterministic);
	RUN(evict_errors_leave_outputs);
	RUN(scope_inline_schema);
	RUN(scope_cad_schema);
	RUN(grant_principal_borrows);
	return tf_test_finish(argv[0]);
}

/*
 * test_http_acl.c - tenfourd's access rules and abuse handling over HTTP:
 * the ACL matrix (role x entity x scope x agency) for reads (what a pull
 * returns) and writes (what a push applies or rejects), another agency's
 * record ids, the AC-7 lockout and its release, the AC-8 banner, the TOTP
 * window and replay, logout and session revocation, a revoked device
 * (device_revoked, wipe, signed receipt, audited), clock skew, cursor
 * reset (another server's cursor, another scope's cursor), purge on
 * unassign, and bad input on every endpoint: always a 4xx JSON error
 * {code, message, field}, never a 500, and nothing changed.
 */
#include "srv_harness.h"
#include "tf_test.h"

#include <signal.h>

static tf_h_server H;
static int ready;

static tf_h_session s_dana, s_alv, s_bro, s_sup, s_aud, s_svc, s_root;
static tf_h_session s_cdisp, s_coff;

/* Records: metro incidents A (2A12) and B (2A99), unit U, BOLO BO,
   thread T (alvarez, dana), reports RA (alvarez) and RB (brooks),
   lookup L (alvarez); county incident C (2A12). */
static char A[TF_UUID_LEN + 1], B[TF_UUID_LEN + 1], U[TF_UUID_LEN + 1];
static char BO[TF_UUID_LEN + 1], T[TF_UUID_LEN + 1], RA[TF_UUID_LEN + 1];
static char RB[TF_UUID_LEN + 1], L[TF_UUID_LEN + 1], C[TF_UUID_LEN + 1];

/*
 * One command from session s; st and code (may be NULL, 32 and 64
 * bytes) get the result's status and code.  rid NULL creates a record
 * whose id goes to rid_out.
 */
static void wr(const tf_h_session *s, const char *entity, const char *rid,
	       const char *op, const char *args, char *st, char *code,
	       char rid_out[TF_UUID_LEN + 1])
{
	char id[TF_UUID_LEN + 1];
	tf_json *res = NULL;
	int64_t now = tf_h_now_ms();

	if (rid == NULL) {
		tf_h_uuid(now, id);
		rid = id;
	}
	if (st)
		snprintf(st, 32, "(none)");
	if (code)
		code[0] = '\0';
	if (tf_h_cmd(&H, s, now, entity, rid, op, args, &res, NULL, NULL) !=
	    0) {
		CHECK(!"push failed");
		return;
	}
	if (st)
		snprintf(st, 32, "%s", tf_h_str(res, "status", NULL));
	if (code)
		snprintf(code, 64, "%s", tf_h_str(res, "code", NULL));
	if (strcmp(tf_h_str(res, "status", NULL), "applied") != 0)
		fprintf(stderr, "  %s %s %s by %s: %s %s: %s\n", op, entity,
			rid, s->user, tf_h_str(res, "status", NULL),
			tf_h_str(res, "code", NULL),
			tf_h_str(res, "message", NULL));
	if (rid_out)
		memcpy(rid_out, rid, TF_UUID_LEN + 1);
	tf_json_free(res);
}

static void expect_applied(const tf_h_session *s, const char *entity,
			   const char *rid, const char *op, const char *args,
			   int line)
{
	char st[32];

	wr(s, entity, rid, op, args, st, NULL, NULL);
	if (strcmp(st, "applied") != 0)
		tf_test_fail(__FILE__, line, "%s %s by %s: %s, want applied",
			     op, entity, s->user, st);
}

/* A refusal: rejected with permission_denied (or not_found when
   not_found_ok: an id the caller may not know exists). */
static void expect_refused(const tf_h_session *s, const char *entity,
			   const char *rid, const char *op, const char *args,
			   int not_found_ok, int line)
{
	char st[32], code[64];

	wr(s, entity, rid, op, args, st, code, NULL);
	if (strcmp(st, "rejected") != 0 ||
	    (strcmp(code, "permission_denied") != 0 &&
	     !(not_found_ok && strcmp(code, "not_found") == 0)))
		tf_test_fail(__FILE__, line,
			     "%s %s by %s: %s %s, want rejected "
			     "permission_denied%s",
			     op, entity, s->user, st, code,
			     not_found_ok ? " or not_found" : "");
}

#define APPLIED(s, e, r, o, a) expect_applied(s, e, r, o, a, __LINE__)
#define REFUSED(s, e, r, o, a) expect_refused(s, e, r, o, a, 0, __LINE__)
#define REFUSED_NF(s, e, r, o, a) expect_refused(s, e, r, o, a, 1, __LINE__)

static int setup(const char *argv0)
{
	static const struct {
		const char *agency, *user, *roles, *unit, *device;
		tf_h_session *s;
	} people[] = {
		{"metro", "dana", "dispatcher", NULL, "console-3", &s_dana},
		{"metro", "alvarez", "officer", "2A12", "mdt-2a12", &s_alv},
		{"metro", "brooks", "officer", "2A14", "mdt-2a14", &s_bro},
		{"metro", "ortiz", "supervisor", NULL, "console-sup", &s_sup},
		{"metro", "audit", "auditor", NULL, "audit-ws", &s_aud},
		{"metro", "bridge", "service", NULL, "cad-bridge", &s_svc},
		{"metro", "root", "admin", NULL, "admin-ws", &s_root},
		{"county", "cdisp", "dispatcher", NULL, "county-console",
		 &s_cdisp},
		{"county", "coff", "officer", "2A12", "county-mdt", &s_coff},
		/* users of the auth tests, logged in there */
		{"metro", "victim", "officer", "2A20", "mdt-victim", NULL},
		{"metro", "totpu", "officer", "2A21", "mdt-totp", NULL},
		{"metro", "lost", "officer", "2A22", "mdt-lost", NULL},
		{"metro", "leaver", "officer", "2A23", "mdt-leave", NULL},
		{"metro", "quitter", "officer", "2A24", "mdt-quit", NULL},
	};
	tf_err err;
	size_t i;

	tf_err_clear(&err);
	if (tf_h_init(&H, argv0, &err) != 0 ||
	    tf_h_agency(&H, "metro", "Metro PD", &err) != 0 ||
	    tf_h_agency(&H, "county", "County SO", &err) != 0)
		goto fail;
	for (i = 0; i < sizeof people / sizeof people[0]; i++) {
		if (tf_h_user_add(&H, people[i].agency, people[i].user,
				  people[i].roles, people[i].unit,
				  &err) == NULL ||
		    tf_h_device_add(&H, people[i].agency, people[i].device,
				    &err) == NULL)
			goto fail;
	}
	tf_h_seed_done(&H);
	if (tf_h_start(&H, &err) != 0)
		goto fail;
	for (i = 0; i < sizeof people / sizeof people[0]; i++) {
		if (people[i].s &&
		    tf_h_login(&H, people[i].user, people[i].device,
			       people[i].s) != 0)
			return -1;
	}
	return 0;
fail:
	fprintf(stderr, "setup: %s\n", err.msg);
	return -1;
}

#define NEED_READY()                                                           \
	do {                                                                   \
		if (!ready) {                                                  \
			CHECK(ready);                                          \
			return;                                                \
		}                                                              \
	} while (0)

static void make_records(void)
{
	char st[32];

	wr(&s_dana, "incident", NULL, "create",
	   "{\"fields\":{\"type_code\":\"disturbance\",\"priority\":2,"
	   "\"status\":\"dispatched\",\"remarks\":\"Caller reports "
	   "shouting.\",\"assigned_units\":[\"2A12\"]}}",
	   st, NULL, A);
	CHECK_STR(st, "applied");
	wr(&s_dana, "incident", NULL, "create",
	   "{\"fields\":{\"type_code\":\"theft\",\"priority\":4,\"status\":"
	   "\"pending\",\"assigned_units\":[\"2A99\"]}}",
	   st, NULL, B);
	CHECK_STR(st, "applied");
	wr(&s_dana, "unit", NULL, "create",
	   "{\"fields\":{\"status\":\"available\",\"crew\":[\"alvarez\"]}}",
	   st, NULL, U);
	CHECK_STR(st, "applied");
	wr(&s_dana, "bolo", NULL, "create",
	   "{\"fields\":{\"kind\":\"vehicle\",\"status\":\"active\","
	   "\"descriptors\":{\"plate\":\"7ABC123\"}}}",
	   st, NULL, BO);
	CHECK_STR(st, "applied");
	wr(&s_dana, "thread", NULL, "create",
	   "{\"fields\":{\"subject\":\"#1234\",\"participants\":"
	   "[\"alvarez\",\"dana\"]}}",
	   st, NULL, T);
	CHECK_STR(st, "applied");
	wr(&s_alv, "report", NULL, "create",
	   "{\"fields\":{\"author\":\"alvarez\",\"status\":\"draft\","
	   "\"incident_ref\":\"1234\"}}",
	   st, NULL, RA);
	CHECK_STR(st, "applied");
	wr(&s_alv, "lookup", NULL, "create",
	   "{\"fields\":{\"requested_by\":\"alvarez\"}}", st, NULL, L);
	CHECK_STR(st, "applied");
	wr(&s_bro, "report", NULL, "create",
	   "{\"fields\":{\"author\":\"brooks\",\"status\":\"draft\"}}", st,
	   NULL, RB);
	CHECK_STR(st, "applied");
	wr(&s_cdisp, "incident", NULL, "create",
	   "{\"fields\":{\"type_code\":\"county-call\",\"priority\":3,"
	   "\"status\":\"dispatched\",\"assigned_units\":[\"2A12\"]}}",
	   st, NULL, C);
	CHECK_STR(st, "applied");
}

/* Read side: which record each role's pull returns. */
TEST(read_matrix)
{
	static const struct {
		tf_h_session *s;
		const char *sees; /* one letter per record: A B U O T R L S C */
	} rows[] = {
		/*                A B U O T R L S C  (O=BOLO, R=RA, S=RB) */
		{&s_dana, "11111000" "0"},  {&s_alv, "10111110" "0"},
		{&s_bro, "00110001" "0"},   {&s_sup, "11111111" "0"},
		{&s_aud, "11111111" "0"},   {&s_svc, "00110000" "0"},
		{&s_cdisp, "00000000" "1"}, {&s_coff, "00000000" "1"},
	};
	const char *ids[9] = {A, B, U, BO, T, RA, L, RB, C};
	size_t i, j;

	NEED_READY();
	make_records();
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		tf_json *recs = NULL;
		CHECK_INT(tf_h_pull_all(&H, rows[i].s, NULL, &recs, NULL, NULL,
					NULL, NULL),
			  0);
		for (j = 0; recs && j < 9; j++) {
			int seen = tf_h_find_record(recs, ids[j]) != NULL;
			if (seen != (rows[i].sees[j] == '1'))
				tf_test_fail(__FILE__, __LINE__,
					     "%s %s record %zu (%s)",
					     rows[i].s->user,
					     seen ? "sees" : "does not see", j,
					     ids[j]);
		}
		tf_json_free(recs);
	}
}

/* Write side: role x entity x scope x agency. */
TEST(write_matrix)
{
	char args[512];
	tf_json *recs = NULL;
	tf_h_resp r;
	char path[160];

	NEED_READY();
	/* officer: in scope yes, out of scope no */
	APPLIED(&s_alv, "incident", A, "set", "{\"fields\":{\"priority\":1}}");
	REFUSED_NF(&s_alv, "incident", B, "set",
		   "{\"fields\":{\"priority\":1}}");
	REFUSED_NF(&s_bro, "incident", A, "append",
		   "{\"field\":\"notes\",\"body\":{\"text\":\"not mine\"}}");
	/* dispatchers and supervisors: every incident of the agency */
	APPLIED(&s_sup, "incident", B, "set", "{\"fields\":{\"priority\":3}}");
	APPLIED(&s_dana, "incident", B, "append",
		"{\"field\":\"notes\",\"body\":{\"text\":\"RP called "
		"back\"}}");
	/* auditor and service write no incident */
	REFUSED(&s_aud, "incident", A, "set", "{\"fields\":{\"priority\":5}}");
	REFUSED(&s_svc, "incident", A, "set", "{\"fields\":{\"priority\":5}}");
	/* ref fields: the service only */
	snprintf(args, sizeof args,
		 "{\"fields\":{\"callsign\":{\"v\":\"2A12\",\"fetched_at\":"
		 "%lld,\"ttl\":86400000}}}",
		 (long long)tf_h_now_ms());
	APPLIED(&s_svc, "unit", U, "ref_set", args);
	REFUSED(&s_alv, "unit", U, "ref_set", args);
	REFUSED(&s_dana, "unit", U, "ref_set", args);
	/* status_history is written by the merge only */
	REFUSED(&s_dana, "unit", U, "append",
		"{\"field\":\"status_history\",\"body\":{\"field\":\"status\","
		"\"value\":\"busy\"}}");
	APPLIED(&s_alv, "unit", U, "set", "{\"fields\":{\"status\":\"busy\"}}");
	/* AC-6: an officer writes only his own unit (U is 2A12 now) */
	REFUSED(&s_bro, "unit", U, "set",
		"{\"fields\":{\"status\":\"out_of_service\"}}");
	REFUSED(&s_bro, "unit", U, "set_add",
		"{\"field\":\"crew\",\"value\":\"brooks\"}");
	REFUSED(&s_bro, "unit", NULL, "create",
		"{\"fields\":{\"status\":\"available\"}}");
	REFUSED(&s_aud, "unit", U, "set",
		"{\"fields\":{\"status\":\"available\"}}");
	/* bolo.status: dispatcher, supervisor, service; not an officer */
	REFUSED(&s_alv, "bolo", BO, "set",
		"{\"fields\":{\"status\":\"cancelled\"}}");
	APPLIED(&s_alv, "bolo", BO, "append",
		"{\"field\":\"updates\",\"body\":{\"text\":\"seen on 5th\"}}");
	APPLIED(&s_dana, "bolo", BO, "set",
		"{\"fields\":{\"status\":\"cancelled\"}}");
	/* reports: officers and supervisors; the author's own */
	REFUSED(&s_dana, "report", NULL, "create",
		"{\"fields\":{\"author\":\"dana\",\"status\":\"draft\"}}");
	APPLIED(&s_alv, "report", RA, "edit_text",
		"{\"field\":\"narrative\",\"base_rev\":0,\"base\":\"\","
		"\"text\":\"On arrival...\"}");
	REFUSED_NF(&s_bro, "report", RA, "append",
		   "{\"field\":\"supplements\",\"body\":{\"text\":\"x\"}}");
	APPLIED(&s_sup, "report", RA, "append",
		"{\"field\":\"review_comments\",\"body\":{\"text\":\"add "
		"times\"}}");
	APPLIED(&s_alv, "report", RA, "set",
		"{\"fields\":{\"status\":\"submitted\"}}");
	REFUSED(&s_alv, "report", RA, "set",
		"{\"fields\":{\"status\":\"approved\"}}");
	APPLIED(&s_sup, "report", RA, "set",
		"{\"fields\":{\"status\":\"approved\"}}");
	/* threads: participants */
	APPLIED(&s_dana, "thread", T, "append",
		"{\"field\":\"messages\",\"body\":{\"body\":\"copy\"}}");
	REFUSED_NF(&s_bro, "thread", T, "append",
		   "{\"field\":\"messages\",\"body\":{\"body\":\"hi\"}}");
	REFUSED(&s_aud, "thread", T, "append",
		"{\"field\":\"messages\",\"body\":{\"body\":\"hi\"}}");
	/* lookups: the requester */
	APPLIED(&s_alv, "lookup", L, "append",
		"{\"field\":\"query_audit\",\"body\":{\"query\":\"7ABC123\","
		"\"source\":\"bolo\",\"cached\":false}}");
	REFUSED_NF(&s_bro, "lookup", L, "append",
		   "{\"field\":\"query_audit\",\"body\":{\"query\":\"X1\","
		   "\"source\":\"bolo\",\"cached\":false}}");
	/* another agency's ids: never writable */
	REFUSED_NF(&s_cdisp, "incident", A, "set",
		   "{\"fields\":{\"priority\":5}}");
	REFUSED_NF(&s_coff, "incident", A, "append",
		   "{\"field\":\"notes\",\"body\":{\"text\":\"county\"}}");
	REFUSED_NF(&s_dana, "incident", C, "set",
		   "{\"fields\":{\"priority\":5}}");
	REFUSED_NF(&s_alv, "incident", C, "set",
		   "{\"fields\":{\"priority\":5}}");
	/* ... and never readable */
	tf_h_resp_init(&r);
	snprintf(path, sizeof path, "/v1/records/%s/text/remarks", A);
	CHECK_INT(tf_h_request(&H, &s_dana, "GET", path, NULL, 0, NULL, &r),
		  0);
	CHECK_INT(r.status, 200);
	CHECK_INT(tf_h_request(&H, &s_cdisp, "GET", path, NULL, 0, NULL, &r),
		  0);
	CHECK(tf_h_is_error(&r, 0, NULL));
	CHECK(strstr(tf_buf_cstr(&r.body), "shouting") == NULL);
	CHECK_INT(tf_h_request(&H, &s_bro, "GET", path, NULL, 0, NULL, &r), 0);
	CHECK(tf_h_is_error(&r, 0, NULL));
	tf_h_resp_free(&r);

	/* The refused writes changed nothing. */
	CHECK_INT(tf_h_pull_all(&H, &s_dana, NULL, &recs, NULL, NULL, NULL,
				NULL),
		  0);
	CHECK_INT(tf_h_int(0, tf_h_find_record(recs, A), "f", "priority", "v",
			   NULL),
		  1);
	CHECK(tf_h_get(tf_h_find_record(recs, A), "f", "notes", NULL) == NULL);
	CHECK(tf_h_find_record(recs, C) == NULL);
	CHECK_STR(tf_h_str(tf_h_find_record(recs, U), "f", "status", "v",
			   NULL),
		  "busy");
	tf_json_free(recs);
	CHECK_INT(tf_h_pull_all(&H, &s_cdisp, NULL, &recs, NULL, NULL, NULL,
				NULL),
		  0);
	CHECK_INT(tf_h_int(0, tf_h_find_record(recs, C), "f", "priority", "v",
			   NULL),
		  3);
	CHECK_STR(tf_h_str(tf_h_find_record(recs, C), "f", "type_code", "v",
			   NULL),
		  "county-call");
	tf_json_free(recs);
}

/* 1 when the auditor's export holds an entry of `type` whose canonical
   text contains `needle` (NULL: any). */
static int audit_has(const char *type, const char *needle)
{
	tf_json *all = NULL;
	tf_buf b;
	size_t i;
	int found = 0;

	if (tf_h_audit_all(&H, &s_aud, &all) != 0)
		return 0;
	tf_buf_init(&b);
	for (i = 0; all && i < all->len && !found; i++) {
		if (strcmp(tf_h_str(all->u.items[i], "type", NULL), type) != 0)
			continue;
		tf_buf_reset(&b);
		tf_json_write(all->u.items[i], &b);
		found = needle == NULL || strstr(tf_buf_cstr(&b), needle);
	}
	tf_buf_free(&b);
	tf_json_free(all);
	return found;
}

TEST(banner_required_and_audited)
{
	tf_h_user *u = tf_h_user_find(&H, "leaver");
	tf_h_device *d = tf_h_device_find(&H, "mdt-leave");
	tf_h_login_opts o;
	tf_h_session s;
	tf_h_resp r;
	int64_t rev;

	NEED_READY();
	tf_h_resp_init(&r);
	CHECK_INT(tf_h_request(&H, NULL, "GET", "/v1/auth/banner?agency=metro",
			       NULL, 0, NULL, &r),
		  0);
	CHECK_INT(r.status, 200);
	CHECK(strlen(tf_h_str(r.json, "banner", NULL)) > 40);
	rev = tf_h_int(0, r.json, "banner_rev", NULL);
	CHECK(rev >= 1);
	CHECK_INT(tf_h_request(&H, NULL, "GET",
			       "/v1/auth/banner?agency=nowhere", NULL, 0, NULL,
			       &r),
		  0);
	CHECK(tf_h_is_error(&r, 404, NULL));
	/* An old or missing acknowledgement is refused. */
	memset(&o, 0, sizeof o);
	o.set_banner = 1;
	o.banner_rev = rev + 7;
	CHECK_INT(tf_h_login_opt(&H, u, d, &o, NULL, &r), 0);
	CHECK(tf_h_is_error(&r, 400, NULL));
	CHECK_STR(tf_h_str(r.json, "field", NULL), "banner_rev");
	CHECK(strstr(tf_buf_cstr(&r.body), "token") == NULL);
	/* Acknowledged: logged in, and audited as banner_ack. */
	CHECK_INT(tf_h_login(&H, "leaver", "mdt-leave", &s), 0);
	CHECK(audit_has("banner_ack", "\"leaver\""));
	CHECK(audit_has("logon_ok", "\"leaver\""));
	tf_h_resp_free(&r);
}

TEST(lockout_and_release)
{
	tf_h_user *u = tf_h_user_find(&H, "victim");
	tf_h_device *d = tf_h_device_find(&H, "mdt-victim");
	tf_h_login_opts o;
	tf_h_session s;
	tf_h_resp r;
	int i;

	NEED_READY();
	tf_h_resp_init(&r);
	memset(&o, 0, sizeof o);
	o.password = "Wrong-Horse-Battery-9";
	for (i = 0; i < 4; i++) {
		CHECK_INT(tf_h_login_opt(&H, u, d, &o, NULL, &r), 0);
		CHECK(tf_h_is_error(&r, 401, "unauthenticated"));
	}
	/* The fifth failure locks. */
	CHECK_INT(tf_h_login_opt(&H, u, d, &o, NULL, &r), 0);
	CHECK(tf_h_is_error(&r, 0, NULL));
	/* Now even the right password is refused: locked. */
	CHECK_INT(tf_h_login_opt(&H, u, d, NULL, NULL, &r), 0);
	CHECK(tf_h_is_error(&r, 403, "locked"));
	CHECK(audit_has("lockout", "\"victim\""));
	/* Only an admin releases it. */
	CHECK_INT(tf_h_request(&H, &s_alv, "POST",
			       "/v1/admin/users/victim/release", "{}", 2, NULL,
			       &r),
		  0);
	CHECK(tf_h_is_error(&r, 403, NULL));
	CHECK_INT(tf_h_request(&H, &s_root, "POST",
			       "/v1/admin/users/victim/release", "{}", 2, NULL,
			       &r),
		  0);
	CHECK_INT(r.status, 200);
	CHECK(audit_has("lockout_release", "\"victim\""));
	CHECK_INT(tf_h_login(&H, "victim", "mdt-victim", &s), 0);
	tf_h_resp_free(&r);
}

TEST(totp_window_and_replay)
{
	tf_h_user *u = tf_h_user_find(&H, "totpu");
	tf_h_device *d = tf_h_device_find(&H, "mdt-totp");
	tf_h_login_opts o;
	tf_h_resp r;
	tf_buf body;
	int guard;

	NEED_READY();
	tf_h_resp_init(&r);
	tf_buf_init(&body);
	/* Stay clear of a step boundary: a step's last 6 s wait it out. */
	for (guard = 0;
	     guard < 120 && (tf_h_now_ms() / 1000) % TF_TOTP_STEP_S >=
				    TF_TOTP_STEP_S - 6;
	     guard++)
		tf_h_sleep_ms(100);
	memset(&o, 0, sizeof o);
	o.use_step_offset = 1;
	o.step_offset = -2;
	CHECK_INT(tf_h_login_opt(&H, u, d, &o, NULL, &r), 0);
	CHECK(tf_h_is_error(&r, 401, NULL));
	/* Every credential failure is one answer: the wrong code's body is
	   the wrong password's, byte for byte. */
	CHECK_STR(tf_h_str(r.json, "field", NULL), "credentials");
	tf_buf_reset(&body);
	tf_buf_append(&body, r.body.data, r.body.len);
	memset(&o, 0, sizeof o);
	o.password = "Not-The-Password-4";
	CHECK_INT(tf_h_login_opt(&H, u, d, &o, NULL, &r), 0);
	CHECK(tf_h_is_error(&r, 401, "unauthenticated"));
	CHECK_STR(tf_buf_cstr(&r.body), tf_buf_cstr(&body));
	CHECK_STR(tf_h_str(r.json, "message", NULL),
		  "login failed: wrong user, password or one-time code");
	memset(&o, 0, sizeof o);
	o.use_step_offset = 1;
	o.step_offset = 2;
	CHECK_INT(tf_h_login_opt(&H, u, d, &o, NULL, &r), 0);
	CHECK(tf_h_is_error(&r, 401, NULL));
	/* One step either side is inside the window. */
	o.step_offset = -1;
	CHECK_INT(tf_h_login_opt(&H, u, d, &o, NULL, &r), 0);
	CHECK_INT(r.status, 200);
	/* The same code again: a replay. */
	CHECK_INT(tf_h_login_opt(&H, u, d, &o, NULL, &r), 0);
	CHECK(tf_h_is_error(&r, 401, NULL));
	o.step_offset = 1;
	CHECK_INT(tf_h_login_opt(&H, u, d, &o, NULL, &r), 0);
	CHECK_INT(r.status, 200);
	/* A step below the last one used is a replay too. */
	o.step_offset = 0;
	CHECK_INT(tf_h_login_opt(&H, u, d, &o, NULL, &r), 0);
	CHECK(tf_h_is_error(&r, 401, NULL));
	/* A code that is not 6 digits. */
	o.totp = "12ab56";
	CHECK_INT(tf_h_login_opt(&H, u, d, &o, NULL, &r), 0);
	CHECK(tf_h_is_error(&r, 0, NULL));
	tf_buf_free(&body);
	tf_h_resp_free(&r);
}

/* The device proof: another device's key, a stale timestamp. */
TEST(device_proof)
{
	tf_h_user *u = tf_h_user_find(&H, "leaver");
	tf_h_device *d = tf_h_device_find(&H, "mdt-leave");
	tf_h_device *other = tf_h_device_find(&H, "mdt-2a14");
	tf_h_login_opts o;
	tf_h_resp r;

	NEED_READY();
	tf_h_resp_init(&r);
	memset(&o, 0, sizeof o);
	o.sign_with = other->key;
	CHECK_INT(tf_h_login_opt(&H, u, d, &o, NULL, &r), 0);
	CHECK(tf_h_is_error(&r, 401, NULL));
	memset(&o, 0, sizeof o);
	o.proof_ts_offset = -10 * 60 * 1000;
	CHECK_INT(tf_h_login_opt(&H, u, d, &o, NULL, &r), 0);
	CHECK(tf_h_is_error(&r, 401, NULL));
	/* An unknown device. */
	memset(&o, 0, sizeof o);
	o.device = "mdt-unknown";
	CHECK_INT(tf_h_login_opt(&H, u, d, &o, NULL, &r), 0);
	CHECK(tf_h_is_error(&r, 401, NULL));
	tf_h_resp_free(&r);
}

TEST(logout_and_revocation)
{
	tf_h_session s, wrongdev;
	tf_h_resp r;

	NEED_READY();
	tf_h_resp_init(&r);
	CHECK_INT(tf_h_login(&H, "quitter", "mdt-quit", &s), 0);
	CHECK_INT(tf_h_request(&H, &s, "GET", "/v1/sync/pull?cursor=", NULL, 0,
			       NULL, &r),
		  0);
	CHECK_INT(r.status, 200);
	/* The token is bound to its device. */
	wrongdev = s;
	snprintf(wrongdev.device, sizeof wrongdev.device, "mdt-2a12");
	CHECK_INT(tf_h_request(&H, &wrongdev, "GET", "/v1/sync/pull?cursor=",
			       NULL, 0, NULL, &r),
		  0);
	CHECK(tf_h_is_error(&r, 401, "unauthenticated"));
	/* Logout ends it. */
	CHECK_INT(tf_h_request(&H, &s, "POST", "/v1/auth/logout", "{}", 2, NULL,
			       &r),
		  0);
	CHECK_INT(r.status, 200);
	CHECK_INT(tf_h_request(&H, &s, "GET", "/v1/sync/pull?cursor=", NULL, 0,
			       NULL, &r),
		  0);
	CHECK(tf_h_is_error(&r, 401, "unauthenticated"));
	/* An admin revokes a user's sessions; a non-admin may not. */
	CHECK_INT(tf_h_request(&H, &s_bro, "POST",
			       "/v1/admin/users/alvarez/revoke-sessions", "{}",
			       2, NULL, &r),
		  0);
	CHECK(tf_h_is_error(&r, 403, NULL));
	CHECK_INT(tf_h_request(&H, &s_root, "POST",
			       "/v1/admin/users/brooks/revoke-sessions", "{}",
			       2, NULL, &r),
		  0);
	CHECK_INT(r.status, 200);
	CHECK_INT(tf_h_request(&H, &s_bro, "GET", "/v1/sync/pull?cursor=",
			       NULL, 0, NULL, &r),
		  0);
	CHECK(tf_h_is_error(&r, 401, "unauthenticated"));
	CHECK(audit_has("session_revoke", "\"brooks\""));
	/* Brooks logs in again for the tests after this one. */
	CHECK_INT(tf_h_login(&H, "brooks", "mdt-2a14", &s_bro), 0);
	tf_h_resp_free(&r);
}

/* Signed wipe receipt body for device d of agency at wiped_at. */
static void wipe_body(const tf_h_device *d, const tf_sigkey *k,
		      int64_t wiped_at, tf_buf *out)
{
	uint8_t sig[TF_ED25519_SIG_LEN];
	char msg[256], sigtxt[128];

	snprintf(msg, sizeof msg, "tenfour-wipe\n%s\n%s\n%lld", d->agency,
		 d->id, (long long)wiped_at);
	tf_sigkey_sign(k, msg, strlen(msg), sig);
	tf_b64url_encode(sig, sizeof sig, sigtxt, sizeof sigtxt);
	tf_buf_reset(out);
	tf_buf_printf(out,
		      "{\"agency\":\"%s\",\"device_id\":\"%s\",\"sig\":\"%s\","
		      "\"wiped_at\":%lld}",
		      d->agency, d->id, sigtxt, (long long)wiped_at);
}

TEST(revoked_device_wipe)
{
	tf_h_device *d = tf_h_device_find(&H, "mdt-lost");
	tf_h_device *ok = tf_h_device_find(&H, "mdt-2a12");
	tf_h_device *other = tf_h_device_find(&H, "mdt-2a14");
	const tf_json *w;
	tf_h_session s;
	tf_h_resp r;
	tf_buf body;
	int64_t now = tf_h_now_ms();

	NEED_READY();
	tf_h_resp_init(&r);
	tf_buf_init(&body);
	CHECK_INT(tf_h_login(&H, "lost", "mdt-lost", &s), 0);
	/* A receipt before the revocation is refused. */
	wipe_body(d, d->key, now, &body);
	CHECK_INT(tf_h_request(&H, NULL, "POST", "/v1/devices/wipe-receipt",
			       body.data, body.len, NULL, &r),
		  0);
	CHECK(tf_h_is_error(&r, 0, NULL));
	/* Only an admin revokes. */
	CHECK_INT(tf_h_request(&H, &s_dana, "POST",
			       "/v1/admin/devices/mdt-lost/revoke", "{}", 2,
			       NULL, &r),
		  0);
	CHECK(tf_h_is_error(&r, 403, NULL));
	CHECK_INT(tf_h_request(&H, &s_root, "POST",
			       "/v1/admin/devices/mdt-lost/revoke", "{}", 2,
			       NULL, &r),
		  0);
	CHECK_INT(r.status, 200);
	CHECK(audit_has("device_revoke", "mdt-lost"));
	/* Its next contact: 403 device_revoked, told to wipe. */
	CHECK_INT(tf_h_request(&H, &s, "GET", "/v1/sync/pull?cursor=", NULL, 0,
			       NULL, &r),
		  0);
	CHECK(tf_h_is_error(&r, 403, "device_revoked"));
	w = tf_h_get(r.json, "wipe", NULL);
	CHECK(w != NULL && w->type == TF_JSON_TRUE);
	{
		const char *empty = "{\"commands\":[],\"device_id\":"
				    "\"mdt-lost\",\"protocol_version\":1,"
				    "\"schema_version\":1}";
		CHECK_INT(tf_h_request(&H, &s, "POST", "/v1/sync/push", empty,
				       strlen(empty), NULL, &r),
			  0);
	}
	CHECK(tf_h_is_error(&r, 403, "device_revoked"));
	/* No new session on it either. */
	{
		tf_h_session s2;
		CHECK(tf_h_login(&H, "lost", "mdt-lost", &s2) != 0);
	}
	/* A receipt signed by another key is refused. */
	wipe_body(d, other->key, now, &body);
	CHECK_INT(tf_h_request(&H, NULL, "POST", "/v1/devices/wipe-receipt",
			       body.data, body.len, NULL, &r),
		  0);
	CHECK(tf_h_is_error(&r, 0, NULL));
	CHECK(!audit_has("device_wipe_receipt", "mdt-lost"));
	/* The signed receipt is accepted and audited. */
	wipe_body(d, d->key, now, &body);
	CHECK_INT(tf_h_request(&H, NULL, "POST", "/v1/devices/wipe-receipt",
			       body.data, body.len, NULL, &r),
		  0);
	CHECK_INT(r.status, 200);
	CHECK(tf_h_get(r.json, "ok", NULL) &&
	      tf_h_get(r.json, "ok", NULL)->type == TF_JSON_TRUE);
	CHECK(audit_has("device_wipe_receipt", "mdt-lost"));
	/* A device that is not revoked sends none. */
	wipe_body(ok, ok->key, now, &body);
	CHECK_INT(tf_h_request(&H, NULL, "POST", "/v1/devices/wipe-receipt",
			       body.data, body.len, NULL, &r),
		  0);
	CHECK(tf_h_is_error(&r, 0, NULL));
	CHECK_INT(tf_h_request(&H, &s_alv, "GET", "/v1/sync/pull?cursor=",
			       NULL, 0, NULL, &r),
		  0);
	CHECK_INT(r.status, 200);
	tf_buf_free(&body);
	tf_h_resp_free(&r);
}

TEST(clock_skew_then_restamp)
{
	tf_json *res = NULL;
	int64_t now = tf_h_now_ms(), st;
	char id[TF_UUID_LEN + 1];

	NEED_READY();
	tf_h_uuid(now, id);
	CHECK_INT(tf_h_cmd(&H, &s_dana, now + 5 * 60 * 1000, "incident", A,
			   "append",
			   "{\"field\":\"notes\",\"body\":{\"text\":"
			   "\"from the future\"}}",
			   &res, NULL, NULL),
		  0);
	CHECK_STR(tf_h_str(res, "status", NULL), "clock_skew");
	CHECK_STR(tf_h_str(res, "code", NULL), "clock_skew");
	st = tf_h_int(0, res, "server_time", NULL);
	CHECK(st >= now && st < now + 5 * 60 * 1000);
	tf_json_free(res);
	res = NULL;
	/* Re-stamped at the server's time: applied (same seq). */
	CHECK_INT(tf_h_cmd(&H, &s_dana, st, "incident", A, "append",
			   "{\"field\":\"notes\",\"body\":{\"text\":"
			   "\"re-stamped\"}}",
			   &res, NULL, NULL),
		  0);
	CHECK_STR(tf_h_str(res, "status", NULL), "applied");
	tf_json_free(res);
}

TEST(purge_on_unassign)
{
	char cursor[257], args[512], tags[256];
	tf_json *recs = NULL, *purged = NULL;
	const tf_json *s;
	size_t i;
	int found = 0;
	tf_buf b;

	NEED_READY();
	CHECK_INT(tf_h_pull_all(&H, &s_alv, NULL, &recs, NULL, cursor, NULL,
				NULL),
		  0);
	CHECK(tf_h_find_record(recs, A) != NULL);
	tf_json_free(recs);
	/* Dana removes 2A12 with the tags she saw. */
	CHECK_INT(tf_h_pull_all(&H, &s_dana, NULL, &recs, NULL, NULL, NULL,
				NULL),
		  0);
	s = tf_h_get(tf_h_find_record(recs, A), "f", "assigned_units", "s",
		     NULL);
	snprintf(tags, sizeof tags, "[]");
	for (i = 0; s && i < s->len; i++) {
		if (strcmp(tf_h_str(s->u.items[i], "v", NULL), "2A12") != 0)
			continue;
		tf_buf_init(&b);
		tf_json_write(tf_h_get(s->u.items[i], "tags", NULL), &b);
		snprintf(tags, sizeof tags, "%s", tf_buf_cstr(&b));
		tf_buf_free(&b);
	}
	tf_json_free(recs);
	snprintf(args, sizeof args,
		 "{\"field\":\"assigned_units\",\"value\":\"2A12\","
		 "\"tags\":%s}",
		 tags);
	APPLIED(&s_dana, "incident", A, "set_remove", args);
	/* 2A12's next pull purges it. */
	CHECK_INT(tf_h_pull_all(&H, &s_alv, cursor, &recs, &purged, NULL, NULL,
				NULL),
		  0);
	for (i = 0; purged && i < purged->len; i++)
		found |= strcmp(tf_json_str(purged->u.items[i], NULL), A) == 0;
	CHECK(found);
	CHECK(tf_h_find_record(recs, A) == NULL);
	tf_json_free(recs);
	tf_json_free(purged);
	/* A write to it is refused now. */
	REFUSED_NF(&s_alv, "incident", A, "set",
		   "{\"fields\":{\"priority\":2}}");
	CHECK_INT(tf_h_pull_all(&H, &s_alv, NULL, &recs, NULL, NULL, NULL,
				NULL),
		  0);
	CHECK(tf_h_find_record(recs, A) == NULL);
	tf_json_free(recs);
}

/* A cursor from another server's database, or from another scope. */
TEST(cursor_reset)
{
	tf_h_server H2;
	tf_h_session s2;
	char cur2[257], cur_alv[257], id[TF_UUID_LEN + 1];
	tf_json *recs = NULL;
	tf_err err;
	int reset = 0, ok2;

	NEED_READY();
	tf_err_clear(&err);
	/* The same daemon binary as the first server. */
	setenv("TF_TENFOURD", H.exe, 1);
	ok2 = tf_h_init(&H2, H.exe, &err) == 0;
	ok2 = ok2 && tf_h_agency(&H2, "metro", "Metro PD", &err) == 0 &&
	      tf_h_user_add(&H2, "metro", "dana", "dispatcher", NULL, &err) &&
	      tf_h_device_add(&H2, "metro", "console-3", &err);
	if (ok2) {
		tf_h_seed_done(&H2);
		ok2 = tf_h_start(&H2, &err) == 0 &&
		      tf_h_login(&H2, "dana", "console-3", &s2) == 0;
	}
	if (!ok2)
		fprintf(stderr, "second server: %s\n", err.msg);
	CHECK(ok2);
	if (ok2) {
		tf_h_uuid(tf_h_now_ms(), id);
		CHECK_INT(tf_h_cmd(&H2, &s2, tf_h_now_ms(), "bolo", id,
				   "create",
				   "{\"fields\":{\"kind\":\"other\"}}", &recs,
				   NULL, NULL),
			  0);
		tf_json_free(recs);
		recs = NULL;
		CHECK_INT(tf_h_pull_all(&H2, &s2, NULL, &recs, NULL, cur2,
					NULL, NULL),
			  0);
		tf_json_free(recs);
		recs = NULL;
		/* Server 2's cursor on server 1: reset, then everything. */
		CHECK_INT(tf_h_pull_all(&H, &s_dana, cur2, &recs, NULL, NULL,
					&reset, NULL),
			  0);
		CHECK_INT(reset, 1);
		CHECK(tf_h_find_record(recs, B) != NULL);
		tf_json_free(recs);
		recs = NULL;
	}
	tf_h_destroy(&H2);
	/* Another scope's cursor (alvarez's, used by dana): reset. */
	CHECK_INT(tf_h_pull_all(&H, &s_alv, NULL, &recs, NULL, cur_alv, NULL,
				NULL),
		  0);
	tf_json_free(recs);
	recs = NULL;
	reset = 0;
	CHECK_INT(tf_h_pull_all(&H, &s_dana, cur_alv, &recs, NULL, NULL,
				&reset, NULL),
		  0);
	CHECK_INT(reset, 1);
	CHECK(tf_h_find_record(recs, B) != NULL);
	tf_json_free(recs);
}

/* ------------------------------------------------------------ bad input */

typedef struct bad_req {
	const char *label;
	const char *method, *path;
	const char *body; /* NULL: none; "@big": oversize; "@deep": deep */
	int auth;         /* 0 none, 1 dana, 2 officer, 3 auditor, 4 junk */
	long status;      /* expected; 0 = any 4xx */
	const char *code; /* expected code or NULL */
} bad_req;

static void deep_json(tf_buf *b, size_t depth)
{
	size_t i;

	for (i = 0; i < depth; i++)
		tf_buf_putc(b, '[');
	for (i = 0; i < depth; i++)
		tf_buf_putc(b, ']');
}

static void big_push(tf_buf *b, size_t bytes)
{
	tf_buf_puts(b, "{\"commands\":[],\"device_id\":\"console-3\","
		       "\"pad\":\"");
	while (b->len < bytes && !b->failed)
		tf_buf_puts(b, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
			       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	tf_buf_puts(b, "\",\"protocol_version\":1,\"schema_version\":1}");
}

/* A push of n valid-looking commands (too many past 1000). */
static void many_commands(tf_buf *b, size_t n)
{
	char id[TF_UUID_LEN + 1], rid[TF_UUID_LEN + 1];
	char h[TF_HLC_TEXT_LEN + 1];
	int64_t now = tf_h_now_ms();
	size_t i;

	tf_h_uuid(now, rid);
	tf_hlc_format(TF_HLC_MAKE(now, 0), h);
	tf_buf_puts(b, "{\"commands\":[");
	for (i = 0; i < n; i++) {
		tf_h_uuid(now, id);
		tf_buf_printf(b,
			      "%s{\"args\":{\"field\":\"notes\",\"body\":"
			      "{\"text\":\"n\"}},\"base\":0,\"cmd_id\":\"%s\","
			      "\"device\":\"console-3\",\"entity\":"
			      "\"incident\",\"hlc\":\"%s\",\"op\":\"append\","
			      "\"record_id\":\"%s\",\"seq\":%zu,\"user\":"
			      "\"dana\"}",
			      i ? "," : "", id, h, B, 100000 + i);
	}
	tf_buf_puts(b, "],\"device_id\":\"console-3\",\"protocol_version\":1,"
		       "\"schema_version\":1}");
}

/* Canonical bytes of what dana and alvarez pull: the "nothing changed"
   witness. */
static void snapshot(tf_buf *out)
{
	tf_json *recs = NULL;

	tf_buf_reset(out);
	CHECK_INT(tf_h_pull_all(&H, &s_dana, NULL, &recs, NULL, NULL, NULL,
				NULL),
		  0);
	tf_json_write(recs, out);
	tf_json_free(recs);
	recs = NULL;
	CHECK_INT(tf_h_pull_all(&H, &s_alv, NULL, &recs, NULL, NULL, NULL,
				NULL),
		  0);
	tf_json_write(recs, out);
	tf_json_free(recs);
}

TEST(bad_input_everywhere)
{
	static const bad_req reqs[] = {
		/* login */
		{"login malformed", "POST", "/v1/auth/login", "{\"agency\":",
		 0, 400, NULL},
		{"login array", "POST", "/v1/auth/login", "[]", 0, 400, NULL},
		{"login wrong type", "POST", "/v1/auth/login",
		 "{\"agency\":\"metro\",\"banner_rev\":\"1\",\"device_id\":"
		 "\"console-3\",\"password\":\"x\",\"proof\":{\"sig\":\"a\","
		 "\"ts\":1},\"totp\":\"123456\",\"user\":5}",
		 0, 400, NULL},
		{"login unknown field", "POST", "/v1/auth/login",
		 "{\"agency\":\"metro\",\"banner_rev\":1,\"device_id\":"
		 "\"console-3\",\"password\":\"x\",\"proof\":{\"sig\":\"a\","
		 "\"ts\":1},\"totp\":\"123456\",\"user\":\"dana\","
		 "\"admin\":true}",
		 0, 400, NULL},
		{"login missing", "POST", "/v1/auth/login",
		 "{\"agency\":\"metro\",\"user\":\"dana\"}", 0, 400, NULL},
		{"login empty", "POST", "/v1/auth/login", "", 0, 400, NULL},
		{"login deep", "POST", "/v1/auth/login", "@deep", 0, 0, NULL},
		{"login oversize", "POST", "/v1/auth/login", "@big", 0, 0,
		 NULL},
		/* push */
		{"push no auth", "POST", "/v1/sync/push",
		 "{\"commands\":[],\"device_id\":\"console-3\","
		 "\"protocol_version\":1,\"schema_version\":1}",
		 0, 401, "unauthenticated"},
		{"push junk token", "POST", "/v1/sync/push",
		 "{\"commands\":[],\"device_id\":\"console-3\","
		 "\"protocol_version\":1,\"schema_version\":1}",
		 4, 401, "unauthenticated"},
		{"push malformed", "POST", "/v1/sync/push", "{\"commands\":[",
		 1, 400, NULL},
		{"push unknown field", "POST", "/v1/sync/push",
		 "{\"commands\":[],\"device_id\":\"console-3\",\"force\":true,"
		 "\"protocol_version\":1,\"schema_version\":1}",
		 1, 400, NULL},
		{"push wrong type", "POST", "/v1/sync/push",
		 "{\"commands\":\"all\",\"device_id\":\"console-3\","
		 "\"protocol_version\":1,\"schema_version\":1}",
		 1, 400, NULL},
		{"push version", "POST", "/v1/sync/push",
		 "{\"commands\":[],\"device_id\":\"console-3\","
		 "\"protocol_version\":2,\"schema_version\":1}",
		 1, 400, "unsupported_version"},
		{"push other device", "POST", "/v1/sync/push",
		 "{\"commands\":[],\"device_id\":\"mdt-2a12\","
		 "\"protocol_version\":1,\"schema_version\":1}",
		 1, 403, NULL},
		{"push bad command", "POST", "/v1/sync/push", "@badcmd", 1,
		 400, NULL},
		{"push deep", "POST", "/v1/sync/push", "@deep", 1, 0, NULL},
		{"push oversize", "POST", "/v1/sync/push", "@huge", 1, 413,
		 NULL},
		{"push too many", "POST", "/v1/sync/push", "@many", 1, 0,
		 NULL},
		{"push empty", "POST", "/v1/sync/push", "", 1, 400, NULL},
		/* pull */
		{"pull no auth", "GET", "/v1/sync/pull?cursor=", NULL, 0, 401,
		 NULL},
		{"pull bad cursor", "GET", "/v1/sync/pull?cursor=zzz", NULL, 1,
		 400, NULL},
		{"pull long cursor", "GET", "/v1/sync/pull?cursor=@long", NULL,
		 1, 0, NULL},
		{"pull bad limit", "GET", "/v1/sync/pull?cursor=&limit=abc",
		 NULL, 1, 400, NULL},
		{"pull negative limit", "GET",
		 "/v1/sync/pull?cursor=&limit=-1", NULL, 1, 400, NULL},
		{"pull bad wait", "GET", "/v1/sync/pull?cursor=&wait=soon",
		 NULL, 1, 400, NULL},
		/* events */
		{"events no auth", "GET", "/v1/sync/events", NULL, 0, 401,
		 NULL},
		/* conflicts and revisions */
		{"conflicts no auth", "GET", "/v1/conflicts", NULL, 0, 401,
		 NULL},
		{"revisions bad id", "GET", "/v1/records/not-a-uuid/text/"
					    "remarks",
		 NULL, 1, 0, NULL},
		{"revisions bad field", "GET", "@revbadfield", NULL, 1, 0,
		 NULL},
		{"revisions no auth", "GET", "@revnoauth", NULL, 0, 401, NULL},
		/* wipe receipt */
		{"wipe malformed", "POST", "/v1/devices/wipe-receipt", "{", 0,
		 400, NULL},
		{"wipe unknown field", "POST", "/v1/devices/wipe-receipt",
		 "{\"agency\":\"metro\",\"device_id\":\"mdt-2a12\",\"sig\":"
		 "\"AAAA\",\"wiped_at\":1,\"x\":1}",
		 0, 400, NULL},
		{"wipe wrong type", "POST", "/v1/devices/wipe-receipt",
		 "{\"agency\":\"metro\",\"device_id\":\"mdt-2a12\",\"sig\":1,"
		 "\"wiped_at\":\"now\"}",
		 0, 400, NULL},
		{"wipe oversize", "POST", "/v1/devices/wipe-receipt", "@big",
		 0, 0, NULL},
		/* device audit upload */
		{"devaudit no auth", "POST", "/v1/audit/device",
		 "{\"device_id\":\"console-3\",\"entries\":[]}", 0, 401, NULL},
		{"devaudit malformed", "POST", "/v1/audit/device", "{\"", 1,
		 400, NULL},
		{"devaudit unknown field", "POST", "/v1/audit/device",
		 "{\"device_id\":\"console-3\",\"entries\":[],\"x\":1}", 1,
		 400, NULL},
		{"devaudit wrong type", "POST", "/v1/audit/device",
		 "{\"device_id\":\"console-3\",\"entries\":{}}", 1, 400, NULL},
		{"devaudit bad entry", "POST", "/v1/audit/device",
		 "{\"device_id\":\"console-3\",\"entries\":[\"{}\"]}", 1, 0,
		 NULL},
		{"devaudit other device", "POST", "/v1/audit/device",
		 "{\"device_id\":\"mdt-2a12\",\"entries\":[]}", 1, 403, NULL},
		/* audit export/verify */
		{"export no auth", "GET", "/v1/audit/export?from=1", NULL, 0,
		 401, NULL},
		{"export officer", "GET", "/v1/audit/export?from=1", NULL, 2,
		 403, NULL},
		{"export dispatcher", "GET", "/v1/audit/export?from=1", NULL, 1,
		 403, NULL},
		{"export bad from", "GET", "/v1/audit/export?from=abc", NULL,
		 3, 400, NULL},
		{"verify officer", "GET", "/v1/audit/verify", NULL, 2, 403,
		 NULL},
		/* admin */
		{"admin revoke no auth", "POST",
		 "/v1/admin/devices/mdt-2a12/revoke", "{}", 0, 401, NULL},
		{"admin revoke officer", "POST",
		 "/v1/admin/devices/mdt-2a12/revoke", "{}", 2, 403, NULL},
		{"admin release dispatcher", "POST",
		 "/v1/admin/users/dana/release", "{}", 1, 403, NULL},
		/* routing */
		{"unknown path", "GET", "/v1/nope", NULL, 1, 404, NULL},
		{"wrong method", "GET", "/v1/sync/push", NULL, 1, 0, NULL},
		{"wrong method 2", "DELETE", "/v1/auth/login", NULL, 0, 0,
		 NULL},
	};
	tf_buf before, after, body;
	tf_h_session junk;
	tf_h_resp r;
	char path[600];
	size_t i;

	NEED_READY();
	tf_buf_init(&before);
	tf_buf_init(&after);
	tf_buf_init(&body);
	tf_h_resp_init(&r);
	snapshot(&before);
	junk = s_dana;
	snprintf(junk.token, sizeof junk.token,
		 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	for (i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
		const bad_req *q = &reqs[i];
		const tf_h_session *s = q->auth == 1   ? &s_dana
					: q->auth == 2 ? &s_alv
					: q->auth == 3 ? &s_aud
					: q->auth == 4 ? &junk
						       : NULL;
		const char *b = q->body;
		size_t len = b ? strlen(b) : 0;
		tf_buf_reset(&body);
		snprintf(path, sizeof path, "%s", q->path);
		if (b && strcmp(b, "@deep") == 0) {
			deep_json(&body, 200);
		} else if (b && strcmp(b, "@big") == 0) {
			big_push(&body, TF_SRV_MAX_SMALL_BODY + 1024);
		} else if (b && strcmp(b, "@huge") == 0) {
			big_push(&body, TF_SRV_MAX_BODY + 1024);
		} else if (b && strcmp(b, "@many") == 0) {
			many_commands(&body, 1001);
		} else if (b && strcmp(b, "@badcmd") == 0) {
			char id[TF_UUID_LEN + 1];
			tf_h_uuid(tf_h_now_ms(), id);
			tf_buf_printf(&body,
				      "{\"commands\":[{\"args\":{\"fields\":"
				      "{\"priority\":1}},\"base\":0,"
				      "\"cmd_id\":\"%s\",\"device\":"
				      "\"console-3\",\"entity\":\"incident\","
				      "\"hlc\":\"0000000000000000\",\"op\":"
				      "\"set\",\"record_id\":\"%s\",\"seq\":"
				      "1,\"sudo\":true,\"user\":\"dana\"}],"
				      "\"device_id\":\"console-3\","
				      "\"protocol_version\":1,"
				      "\"schema_version\":1}",
				      id, B);
		}
		if (body.len) {
			b = body.data;
			len = body.len;
		}
		if (strstr(path, "@long")) {
			size_t k, n = strlen("/v1/sync/pull?cursor=");
			for (k = 0; k < 400; k++)
				path[n + k] = 'a';
			path[n + k] = '\0';
		} else if (strcmp(path, "@revbadfield") == 0) {
			snprintf(path, sizeof path,
				 "/v1/records/%s/text/nope", B);
		} else if (strcmp(path, "@revnoauth") == 0) {
			snprintf(path, sizeof path,
				 "/v1/records/%s/text/remarks", B);
		}
		CHECK_INT(tf_h_request(&H, s, q->method, path, b, len, NULL,
				       &r),
			  0);
		if (!tf_h_is_error(&r, q->status, q->code) ||
		    (q->status == 0 && r.status == 401 && q->auth)) {
			tf_test_fail(__FILE__, __LINE__,
				     "%s: HTTP %ld %.200s (want %ld %s)",
				     q->label, r.status, tf_buf_cstr(&r.body),
				     q->status, q->code ? q->code : "");
		}
	}
	/* Nothing changed; the server is still up and answering. */
	snapshot(&after);
	CHECK(before.len > 2);
	CHECK_INT(before.len, after.len);
	CHECK(before.len == after.len &&
	      memcmp(before.data, after.data, before.len) == 0);
	CHECK_INT(tf_h_request(&H, NULL, "GET", "/healthz", NULL, 0, NULL, &r),
		  0);
	CHECK_INT(r.status, 200);
	tf_h_resp_free(&r);
	tf_buf_free(&before);
	tf_buf_free(&after);
	tf_buf_free(&body);
}

/* The audit chain of everything above verifies. */
TEST(audit_chain_verifies)
{
	tf_h_resp r;

	NEED_READY();
	tf_h_resp_init(&r);
	CHECK_INT(tf_h_request(&H, &s_aud, "GET", "/v1/audit/verify", NULL, 0,
			       NULL, &r),
		  0);
	CHECK_INT(r.status, 200);
	CHECK(tf_h_get(r.json, "ok", NULL) &&
	      tf_h_get(r.json, "ok", NULL)->type == TF_JSON_TRUE);
	CHECK(audit_has("audit_export", NULL) || audit_has("audit_read", NULL));
	/* AU-2: pulls, conflict lists and text revision reads are accesses */
	CHECK(audit_has("access", " GET /v1/sync/pull\""));
	CHECK(audit_has("access", "\"records\":"));
	CHECK(audit_has("access", " GET /v1/records/{id}/text/{field}\""));
	tf_h_resp_free(&r);
}

int main(int argc, char **argv)
{
	int any = 0;

	(void)argc;
	signal(SIGPIPE, SIG_IGN);
	ready = setup(argv[0]) == 0;
#define RUN_(t)                                                                \
	do {                                                                   \
		RUN(t);                                                        \
		any |= tf_test_failed_checks;                                  \
	} while (0)
	RUN_(read_matrix);
	RUN_(write_matrix);
	RUN_(banner_required_and_audited);
	RUN_(lockout_and_release);
	RUN_(totp_window_and_replay);
	RUN_(device_proof);
	RUN_(logout_and_revocation);
	RUN_(revoked_device_wipe);
	RUN_(clock_skew_then_restamp);
	RUN_(purge_on_unassign);
	RUN_(cursor_reset);
	RUN_(bad_input_everywhere);
	RUN_(audit_chain_verifies);
	if (any || !ready)
		tf_h_log_tail(&H, 4000);
	tf_h_destroy(&H);
	return tf_test_finish(argv[0]);
}

/*
 * test_http_scenario.c - the patrol-car scenario of DOMAIN.md played over
 * HTTP against the real tenfourd, with core replicas as the clients of
 * Dana (console-3), Alvarez (mdt-2a12, clock 40 s fast) and Brooks
 * (mdt-2a14), and each outcome of the scenario's "Expected:" asserted.
 * tools/demo.c plays the same scenario against the simulated server.
 *
 * Time: the replicas' clocks are simulated.  Minute 0 (T0) is set 12
 * minutes before the test reaches the reconnect, so every stamp the
 * scenario makes lies in the server's past and the reconnect happens at
 * "minute 12" of the server's real clock (the `srv` of a delivered
 * message).  Alvarez's device time is the simulated time + 40 s.
 */
#include "srv_harness.h"
#include "tf_test.h"

#define MIN 60000LL
#define SKEW 40000LL /* 2A12's clock runs 40 s fast */

static tf_h_server H;
static int ready;
static uint64_t rnd_state = 0x5eed2a12;

/* Sessions and replicas of the scenario's devices. */
static tf_h_session s_dana, s_alv, s_bro, s_sup, s_aud, s_svc;
static tf_replica *r_dana, *r_alv, *r_bro, *r_sup, *r_svc;

static const char *REMARKS0 = "Caller reports shouting next door.";
static const char *REMARKS_ALV = "Caller reports shouting next door. "
				 "Domestic; RP's boyfriend has a knife.";
static const char *REMARKS_DANA = "Caller reports shouting next door. "
				  "Weapon seen by neighbor.";
static const char *REMARKS_FINAL = "Caller reports shouting next door. "
				   "Weapon seen by neighbor; RP's boyfriend "
				   "has a knife.";

/*
 * A local mutation on replica r at device time now.  rid NULL creates;
 * the record id goes to rid_out (may be NULL).  Returns the replica's
 * code (TF_EOFFLINE for an online_only field offline).
 */
static int mut(tf_replica *r, int64_t now, int online, const char *entity,
	       const char *rid, const char *op, const char *args,
	       char rid_out[TF_UUID_LEN + 1])
{
	uint8_t rnd[20];
	tf_json *a = NULL;
	tf_op o;
	tf_err err;
	int rc;

	tf_test_rand_bytes(&rnd_state, rnd, sizeof rnd);
	if (tf_op_parse(op, &o) != 0 ||
	    tf_json_parse(args, strlen(args), NULL, &a, NULL) != 0) {
		fprintf(stderr, "mut: bad op %s or args %s\n", op, args);
		return TF_EINVAL;
	}
	tf_err_clear(&err);
	rc = tf_replica_mutate(r, now, rnd, online, entity, rid, o, a, NULL,
			       rid_out, &err);
	if (rc && rc != TF_EOFFLINE)
		fprintf(stderr, "mut %s %s: %s\n", op, entity, err.msg);
	tf_json_free(a);
	return rc;
}

static int sync_r(const tf_h_session *s, tf_replica *r, int64_t now)
{
	tf_err err;
	int rc;

	tf_err_clear(&err);
	rc = tf_h_sync(&H, s, r, now, &err);
	if (rc)
		fprintf(stderr, "sync %s: %s\n", s->device, err.msg);
	return rc;
}

static const tf_json *field(tf_replica *r, const char *id, const char *f)
{
	return tf_h_get(tf_replica_get(r, id), "f", f, NULL);
}

/* 1 when the log's entries are in (t, id) order. */
static int log_ordered(const tf_json *log)
{
	const tf_json *e = tf_h_get(log, "e", NULL);
	size_t i;

	for (i = 1; e && i < e->len; i++) {
		const char *t0 = tf_h_str(e->u.items[i - 1], "t", NULL);
		const char *t1 = tf_h_str(e->u.items[i], "t", NULL);
		int c = strcmp(t0, t1);
		if (c > 0 || (c == 0 && strcmp(tf_h_str(e->u.items[i - 1], "id",
							 NULL),
						tf_h_str(e->u.items[i], "id",
							 NULL)) >= 0))
			return 0;
	}
	return 1;
}

static int64_t hlc_ms(const char *hlc)
{
	tf_hlc h = 0;

	if (tf_hlc_parse(hlc, strlen(hlc), &h) != 0)
		return -1;
	return TF_HLC_MS(h);
}

/* The index of the log entry whose body member `key` is `val`, or -1. */
static long find_entry(const tf_json *log, const char *key, const char *val)
{
	const tf_json *e = tf_h_get(log, "e", NULL);
	size_t i;

	for (i = 0; e && i < e->len; i++) {
		if (strcmp(tf_h_str(e->u.items[i], "v", key, NULL), val) == 0)
			return (long)i;
	}
	return -1;
}

/* The tags of set element `val` as a JSON array text ("[]" if none). */
static void tags_of(const tf_json *set, const char *val, char *out, size_t n)
{
	const tf_json *s = tf_h_get(set, "s", NULL);
	tf_buf b;
	size_t i;

	snprintf(out, n, "[]");
	for (i = 0; s && i < s->len; i++) {
		if (strcmp(tf_h_str(s->u.items[i], "v", NULL), val) != 0)
			continue;
		tf_buf_init(&b);
		tf_json_write(tf_h_get(s->u.items[i], "tags", NULL), &b);
		snprintf(out, n, "%s", tf_buf_cstr(&b));
		tf_buf_free(&b);
	}
}

static int set_has(const tf_json *set, const char *val)
{
	const tf_json *s = tf_h_get(set, "s", NULL);
	size_t i;

	for (i = 0; s && i < s->len; i++) {
		if (strcmp(tf_h_str(s->u.items[i], "v", NULL), val) == 0)
			return 1;
	}
	return 0;
}

static int setup(const char *argv0)
{
	static const struct {
		const char *user, *roles, *unit, *device;
	} people[] = {
		{"dana", "dispatcher", NULL, "console-3"},
		{"alvarez", "officer", "2A12", "mdt-2a12"},
		{"brooks", "officer", "2A14", "mdt-2a14"},
		{"ortiz", "supervisor", NULL, "console-sup"},
		{"audit", "auditor", NULL, "audit-ws"},
		{"bridge", "service", NULL, "cad-bridge"},
	};
	tf_h_session *sess[] = {&s_dana, &s_alv, &s_bro,
				&s_sup,  &s_aud, &s_svc};
	tf_err err;
	size_t i;

	tf_err_clear(&err);
	if (tf_h_init(&H, argv0, &err) != 0 ||
	    tf_h_agency(&H, "metro", "Metro PD", &err) != 0)
		goto fail;
	for (i = 0; i < sizeof people / sizeof people[0]; i++) {
		if (tf_h_user_add(&H, "metro", people[i].user, people[i].roles,
				  people[i].unit, &err) == NULL ||
		    tf_h_device_add(&H, "metro", people[i].device, &err) ==
			    NULL)
			goto fail;
	}
	tf_h_seed_done(&H);
	if (tf_h_start(&H, &err) != 0)
		goto fail;
	for (i = 0; i < sizeof people / sizeof people[0]; i++) {
		if (tf_h_login(&H, people[i].user, people[i].device,
			       sess[i]) != 0)
			return -1;
	}
	if (tf_replica_new(H.schema, "console-3", "dana", 0, &r_dana) ||
	    tf_replica_new(H.schema, "mdt-2a12", "alvarez", 0, &r_alv) ||
	    tf_replica_new(H.schema, "mdt-2a14", "brooks", 0, &r_bro) ||
	    tf_replica_new(H.schema, "console-sup", "ortiz", 0, &r_sup) ||
	    tf_replica_new(H.schema, "cad-bridge", "bridge", 0, &r_svc))
		return -1;
	tf_replica_set_allow_ref(r_svc, 1);
	return 0;
fail:
	fprintf(stderr, "setup: %s\n", err.msg);
	return -1;
}

/* Record ids of the scenario. */
static char inc[TF_UUID_LEN + 1], inc2[TF_UUID_LEN + 1];
static char u12[TF_UUID_LEN + 1], u14[TF_UUID_LEN + 1];
static char bolo[TF_UUID_LEN + 1], thr[TF_UUID_LEN + 1];
static char alog[TF_UUID_LEN + 1], lookup[TF_UUID_LEN + 1];
static char rep[TF_UUID_LEN + 1];
static int64_t T0, reconnect_ms;

/* Before minute 4: the incident, units, BOLO, thread and unit log. */
static void before_signal_loss(void)
{
	char args[1024];

	/* Start of shift: the BOLO list; the units. */
	CHECK_INT(mut(r_dana, T0 - 45 * MIN, 1, "bolo", NULL, "create",
		      "{\"fields\":{\"kind\":\"vehicle\",\"status\":"
		      "\"active\",\"descriptors\":{\"plate\":\"7ABC123\","
		      "\"make\":\"Honda\"},\"reason_wanted\":\"armed robbery "
		      "suspect vehicle\"}}",
		      bolo),
		  0);
	CHECK_INT(mut(r_dana, T0 - 44 * MIN, 1, "unit", NULL, "create",
		      "{\"fields\":{\"status\":\"available\",\"crew\":"
		      "[\"alvarez\"]}}",
		      u12),
		  0);
	CHECK_INT(mut(r_dana, T0 - 44 * MIN, 1, "unit", NULL, "create",
		      "{\"fields\":{\"status\":\"available\",\"crew\":"
		      "[\"brooks\"]}}",
		      u14),
		  0);
	CHECK_INT(sync_r(&s_dana, r_dana, T0 - 44 * MIN), 0);

	/* The CAD bridge (service account) names the units. */
	CHECK_INT(sync_r(&s_svc, r_svc, T0 - 43 * MIN), 0);
	snprintf(args, sizeof args,
		 "{\"fields\":{\"callsign\":{\"v\":\"2A12\",\"fetched_at\":"
		 "%lld,\"ttl\":86400000}}}",
		 (long long)(T0 - 43 * MIN));
	CHECK_INT(mut(r_svc, T0 - 43 * MIN, 1, "unit", u12, "ref_set", args,
		      NULL),
		  0);
	snprintf(args, sizeof args,
		 "{\"fields\":{\"callsign\":{\"v\":\"2A14\",\"fetched_at\":"
		 "%lld,\"ttl\":86400000}}}",
		 (long long)(T0 - 43 * MIN));
	CHECK_INT(mut(r_svc, T0 - 43 * MIN, 1, "unit", u14, "ref_set", args,
		      NULL),
		  0);
	CHECK_INT(sync_r(&s_svc, r_svc, T0 - 43 * MIN), 0);
	CHECK_STR(tf_h_str(field(r_svc, u12, "callsign"), "v", NULL), "2A12");

	/* 2A12's MDT caches the BOLO list at -40:00. */
	CHECK_INT(sync_r(&s_alv, r_alv, T0 - 40 * MIN + SKEW), 0);
	CHECK_STR(tf_h_str(field(r_alv, bolo, "status"), "v", NULL), "active");

	/* Minute 0: incident #1234, 2A12 and 2A14 assigned. */
	snprintf(args, sizeof args,
		 "{\"fields\":{\"type_code\":\"disturbance\",\"priority\":2,"
		 "\"status\":\"dispatched\",\"remarks\":\"%s\","
		 "\"assigned_units\":[\"2A12\",\"2A14\"]}}",
		 REMARKS0);
	CHECK_INT(mut(r_dana, T0, 1, "incident", NULL, "create", args, inc),
		  0);
	CHECK_INT(mut(r_dana, T0, 1, "unit", u12, "set",
		      "{\"fields\":{\"status\":\"dispatched\"}}", NULL),
		  0);
	CHECK_INT(mut(r_dana, T0, 1, "unit", u14, "set",
		      "{\"fields\":{\"status\":\"dispatched\"}}", NULL),
		  0);
	CHECK_INT(sync_r(&s_dana, r_dana, T0), 0);

	/* Both go en route; 2A12 arrives, opens its unit log. */
	CHECK_INT(sync_r(&s_alv, r_alv, T0 + MIN + SKEW), 0);
	CHECK_INT(sync_r(&s_bro, r_bro, T0 + MIN), 0);
	CHECK(tf_replica_get(r_alv, inc) != NULL);
	CHECK(tf_replica_get(r_bro, inc) != NULL);
	CHECK_INT(mut(r_alv, T0 + MIN + SKEW, 1, "unit", u12, "set",
		      "{\"fields\":{\"status\":\"enroute\"}}", NULL),
		  0);
	CHECK_INT(mut(r_bro, T0 + MIN, 1, "unit", u14, "set",
		      "{\"fields\":{\"status\":\"enroute\"}}", NULL),
		  0);
	CHECK_INT(sync_r(&s_bro, r_bro, T0 + MIN), 0);
	CHECK_INT(mut(r_alv, T0 + 2 * MIN + SKEW, 1, "unit", u12, "set",
		      "{\"fields\":{\"status\":\"onscene\"}}", NULL),
		  0);
	snprintf(args, sizeof args,
		 "{\"fields\":{\"unit_id\":\"2A12\",\"incident_name\":\"#1234 "
		 "Disturbance\",\"op_period_from\":%lld}}",
		 (long long)T0);
	CHECK_INT(mut(r_alv, T0 + 2 * MIN + SKEW, 1, "activity_log", NULL,
		      "create", args, alog),
		  0);
	CHECK_INT(sync_r(&s_alv, r_alv, T0 + 2 * MIN + SKEW), 0);

	/* Dana opens a thread with both units. */
	CHECK_INT(sync_r(&s_dana, r_dana, T0 + 2 * MIN), 0);
	CHECK_INT(mut(r_dana, T0 + 2 * MIN, 1, "thread", NULL, "create",
		      "{\"fields\":{\"subject\":\"#1234\",\"participants\":"
		      "[\"alvarez\",\"brooks\",\"dana\"]}}",
		      thr),
		  0);
	CHECK_INT(sync_r(&s_dana, r_dana, T0 + 2 * MIN), 0);
	CHECK_INT(sync_r(&s_alv, r_alv, T0 + 3 * MIN + SKEW), 0);
	CHECK(tf_replica_get(r_alv, thr) != NULL);
	CHECK(tf_replica_get(r_alv, alog) != NULL);
	CHECK_INT(tf_replica_unsent(r_alv), 0);
}

/* Minute 4 to 11: 2A12 offline (clock 40 s fast). */
static void offline_on_2a12(void)
{
	char args[1024];
	tf_replica_summary sum;

	CHECK_INT(mut(r_alv, T0 + 5 * MIN + SKEW, 0, "activity_log", alog,
		      "append",
		      "{\"field\":\"entries\",\"body\":{\"text\":\"Contact "
		      "with RP, two males in unit 4B\"}}",
		      NULL),
		  0);
	/* The plate check against the BOLO cache fetched at -40:00. */
	CHECK_INT(mut(r_alv, T0 + 6 * MIN + SKEW, 0, "lookup", NULL, "create",
		      "{\"fields\":{\"requested_by\":\"alvarez\"}}", lookup),
		  0);
	snprintf(args, sizeof args,
		 "{\"field\":\"query_audit\",\"body\":{\"query\":\"7ABC123\","
		 "\"source\":\"bolo\",\"cached\":true,\"cache_fetched_at\":"
		 "%lld,\"stale\":true,\"hit\":true,\"matched\":[\"%s\"]}}",
		 (long long)(T0 - 40 * MIN), bolo);
	CHECK_INT(mut(r_alv, T0 + 6 * MIN + SKEW, 0, "lookup", lookup,
		      "append", args, NULL),
		  0);
	CHECK_INT(mut(r_alv, T0 + 7 * MIN + SKEW, 0, "incident", inc, "set",
		      "{\"fields\":{\"type_code\":\"dv\"}}", NULL),
		  0);
	CHECK_INT(mut(r_alv, T0 + 7 * MIN + 10000 + SKEW, 0, "incident", inc,
		      "append",
		      "{\"field\":\"notes\",\"body\":{\"text\":\"2A12: knife "
		      "reported, one detained\"}}",
		      NULL),
		  0);
	snprintf(args, sizeof args,
		 "{\"field\":\"remarks\",\"base_rev\":1,\"base\":\"%s\","
		 "\"text\":\"%s\"}",
		 REMARKS0, REMARKS_ALV);
	CHECK_INT(mut(r_alv, T0 + 7 * MIN + 30000 + SKEW, 0, "incident", inc,
		      "edit_text", args, NULL),
		  0);
	CHECK_INT(mut(r_alv, T0 + 8 * MIN + SKEW, 0, "thread", thr, "append",
		      "{\"field\":\"messages\",\"body\":{\"body\":\"2A14, "
		      "suspect has a knife, stay back\",\"to\":[\"brooks\"]}}",
		      NULL),
		  0);
	CHECK_INT(mut(r_alv, T0 + 8 * MIN + 30000 + SKEW, 0, "activity_log",
		      alog, "append",
		      "{\"field\":\"entries\",\"body\":{\"text\":\"Suspect "
		      "detained, knife recovered\"}}",
		      NULL),
		  0);
	CHECK_INT(mut(r_alv, T0 + 9 * MIN + SKEW, 0, "report", NULL, "create",
		      "{\"fields\":{\"author\":\"alvarez\",\"incident_ref\":"
		      "\"1234\",\"narrative\":\"On arrival I contacted the "
		      "reporting party...\"}}",
		      rep),
		  0);
	/* Submitting needs the server (online_only): refused offline. */
	CHECK_INT(mut(r_alv, T0 + 9 * MIN + SKEW, 0, "report", rep, "set",
		      "{\"fields\":{\"status\":\"submitted\"}}", NULL),
		  TF_EOFFLINE);
	CHECK_INT(mut(r_alv, T0 + 10 * MIN + SKEW, 0, "unit", u12, "set",
		      "{\"fields\":{\"status\":\"available\"}}", NULL),
		  0);
	tf_replica_summary_get(r_alv, T0 + 11 * MIN + SKEW, &sum);
	CHECK_INT(sum.pending, 10);
	CHECK_STR(tf_sync_state_name(tf_replica_state(r_alv, inc)),
		  tf_sync_state_name(TF_SYNC_PENDING));
}

/* Minute 5 to 10: Dana online. */
static void meanwhile_online(void)
{
	char args[1024], tags[512];

	CHECK_INT(mut(r_dana, T0 + 5 * MIN, 1, "incident", inc, "append",
		      "{\"field\":\"notes\",\"body\":{\"text\":\"Neighbor "
		      "calls again: screaming\"}}",
		      NULL),
		  0);
	CHECK_INT(sync_r(&s_dana, r_dana, T0 + 5 * MIN), 0);
	/* 06:00 2A14 moves to incident #1240. */
	tags_of(field(r_dana, inc, "assigned_units"), "2A14", tags,
		sizeof tags);
	CHECK(strcmp(tags, "[]") != 0);
	snprintf(args, sizeof args,
		 "{\"field\":\"assigned_units\",\"value\":\"2A14\","
		 "\"tags\":%s}",
		 tags);
	CHECK_INT(mut(r_dana, T0 + 6 * MIN, 1, "incident", inc, "set_remove",
		      args, NULL),
		  0);
	CHECK_INT(mut(r_dana, T0 + 6 * MIN, 1, "incident", NULL, "create",
		      "{\"fields\":{\"type_code\":\"traffic\",\"priority\":3,"
		      "\"status\":\"dispatched\",\"assigned_units\":"
		      "[\"2A14\"]}}",
		      inc2),
		  0);
	CHECK_INT(mut(r_dana, T0 + 6 * MIN, 1, "unit", u14, "set",
		      "{\"fields\":{\"status\":\"dispatched\"}}", NULL),
		  0);
	CHECK_INT(sync_r(&s_dana, r_dana, T0 + 6 * MIN), 0);

	/* 2A14's MDT: #1234 is purged, #1240 arrives. */
	CHECK_INT(sync_r(&s_bro, r_bro, T0 + 6 * MIN + 5000), 0);
	CHECK(tf_replica_get(r_bro, inc) == NULL);
	CHECK(tf_replica_get(r_bro, inc2) != NULL);

	/* 07:00 a dispatch entry in 2A12's unit log. */
	CHECK_INT(mut(r_dana, T0 + 7 * MIN, 1, "activity_log", alog, "append",
		      "{\"field\":\"entries\",\"body\":{\"text\":\"Dispatch: "
		      "status check sent to 2A12\"}}",
		      NULL),
		  0);
	CHECK_INT(mut(r_dana, T0 + 8 * MIN, 1, "incident", inc, "set",
		      "{\"fields\":{\"priority\":1,\"type_code\":"
		      "\"assault-weapon\"}}",
		      NULL),
		  0);
	CHECK_INT(mut(r_dana, T0 + 9 * MIN, 1, "unit", u12, "set",
		      "{\"fields\":{\"status\":\"onscene\",\"status_note\":"
		      "\"no contact - missed check-in\"}}",
		      NULL),
		  0);
	snprintf(args, sizeof args,
		 "{\"field\":\"remarks\",\"base_rev\":1,\"base\":\"%s\","
		 "\"text\":\"%s\"}",
		 REMARKS0, REMARKS_DANA);
	CHECK_INT(mut(r_dana, T0 + 9 * MIN + 30000, 1, "incident", inc,
		      "edit_text", args, NULL),
		  0);
	CHECK_INT(mut(r_dana, T0 + 10 * MIN, 1, "bolo", bolo, "set",
		      "{\"fields\":{\"status\":\"cancelled\"}}", NULL),
		  0);
	CHECK_INT(sync_r(&s_dana, r_dana, T0 + 10 * MIN), 0);
	CHECK_INT(tf_replica_unsent(r_dana), 0);
	CHECK_STR(tf_h_str(field(r_dana, inc, "remarks"), "v", NULL),
		  REMARKS_DANA);
}

/* Minute 12: 2A12 reconnects. */
static void reconnect(void)
{
	const tf_json *res, *v, *e, *n;
	tf_replica_summary sum;
	tf_json *notices = NULL;
	tf_h_resp reply;
	tf_buf b;
	tf_err err;
	size_t i, nskew = 0, nconflict = 0, nrejected = 0;
	long k;
	int found;

	tf_h_resp_init(&reply);
	tf_err_clear(&err);
	reconnect_ms = tf_h_now_ms();
	CHECK_INT(tf_h_push(&H, &s_alv, r_alv, reconnect_ms + SKEW, &reply,
			    &err),
		  0);
	res = tf_h_get(reply.json, "results", NULL);
	CHECK(res != NULL && res->len == 10);
	CHECK_INT(tf_h_int(-1, reply.json, "ack", NULL), 13);
	for (i = 0; res && i < res->len; i++) {
		const char *st = tf_h_str(res->u.items[i], "status", NULL);
		nskew += strcmp(st, "clock_skew") == 0;
		nconflict += strcmp(st, "conflict") == 0;
		nrejected += strcmp(st, "rejected") == 0;
		if (strcmp(st, "rejected") == 0)
			fprintf(stderr, "rejected: %s\n",
				tf_buf_cstr(&reply.body));
	}
	/* The 40 s skew is absorbed; only the remarks conflict. */
	CHECK_INT(nskew, 0);
	CHECK_INT(nrejected, 0);
	CHECK_INT(nconflict, 1);
	tf_h_resp_free(&reply);
	CHECK_INT(tf_h_pull(&H, &s_alv, r_alv, reconnect_ms + SKEW, &err), 0);
	tf_replica_summary_get(r_alv, reconnect_ms + SKEW, &sum);
	CHECK_INT(sum.pending, 0);
	CHECK_INT(sum.rejected, 0);
	CHECK_INT(sum.superseded, 1);
	CHECK_INT(sum.conflicts, 1);

	/* Notes interleave by clock, nothing lost. */
	v = field(r_alv, inc, "notes");
	CHECK_INT(tf_h_get(v, "e", NULL) ? tf_h_get(v, "e", NULL)->len : 0, 2);
	CHECK(log_ordered(v));
	CHECK_INT(find_entry(v, "text", "Neighbor calls again: screaming"), 0);
	CHECK_INT(find_entry(v, "text", "2A12: knife reported, one detained"),
		  1);
	/* The unit log: 2A12's offline entries around Dana's 07:00 one. */
	v = field(r_alv, alog, "entries");
	CHECK(log_ordered(v));
	CHECK_INT(find_entry(v, "text",
			     "Contact with RP, two males in unit 4B"),
		  0);
	CHECK_INT(find_entry(v, "text",
			     "Dispatch: status check sent to 2A12"),
		  1);
	CHECK_INT(find_entry(v, "text", "Suspect detained, knife recovered"),
		  2);
	/* 2A12's stamps keep its own (fast) clock. */
	e = tf_h_get(v, "e", NULL);
	if (e && e->len == 3) {
		CHECK_INT(hlc_ms(tf_h_str(e->u.items[0], "t", NULL)),
			  T0 + 5 * MIN + SKEW);
		CHECK_STR(tf_h_str(e->u.items[0], "by", NULL), "alvarez");
		CHECK_STR(tf_h_str(e->u.items[1], "by", NULL), "dana");
	}

	/* type resolves by clock; 2A12 sees a supersede notice. */
	CHECK_STR(tf_h_str(field(r_alv, inc, "type_code"), "v", NULL),
		  "assault-weapon");
	CHECK_INT(tf_h_int(0, field(r_alv, inc, "priority"), "v", NULL), 1);
	tf_buf_init(&b);
	CHECK_INT(tf_replica_notices_json(r_alv, &b), 0);
	CHECK_INT(tf_json_parse(b.data, b.len, NULL, &notices, NULL), 0);
	found = 0;
	for (i = 0; notices && i < notices->len; i++) {
		n = notices->u.items[i];
		if (strcmp(tf_h_str(n, "kind", NULL), "superseded") == 0 &&
		    strcmp(tf_h_str(n, "field", NULL), "type_code") == 0 &&
		    strcmp(tf_h_str(n, "record_id", NULL), inc) == 0) {
			found = 1;
			CHECK_STR(tf_h_str(n, "winner_by", NULL), "dana");
			CHECK(tf_h_get(n, "mine", NULL) &&
			      strcmp(tf_h_get(n, "mine", NULL)->u.str, "dv") ==
				      0);
		}
	}
	CHECK(found);
	tf_json_free(notices);
	tf_buf_free(&b);

	/* 2A14's removal is not undone by the stale offline copy. */
	v = field(r_alv, inc, "assigned_units");
	CHECK(set_has(v, "2A12"));
	CHECK(!set_has(v, "2A14"));
	CHECK_INT(sync_r(&s_bro, r_bro, reconnect_ms + 1000), 0);
	CHECK(tf_replica_get(r_bro, inc) == NULL);

	/* 2A12's status resolves by clock; both changes in the history. */
	CHECK_STR(tf_h_str(field(r_alv, u12, "status"), "v", NULL),
		  "available");
	CHECK_STR(tf_h_str(field(r_alv, u12, "status"), "by", NULL),
		  "alvarez");
	v = field(r_alv, u12, "status_history");
	CHECK(log_ordered(v));
	e = tf_h_get(v, "e", NULL);
	found = 0;
	for (i = 0; e && i < e->len; i++) {
		const char *by = tf_h_str(e->u.items[i], "by", NULL);
		const char *val = tf_h_str(e->u.items[i], "v", "value", NULL);
		if (strcmp(by, "dana") == 0 && strcmp(val, "onscene") == 0)
			found |= 1;
		if (strcmp(by, "alvarez") == 0 && strcmp(val, "available") == 0)
			found |= 2;
	}
	CHECK_INT(found, 3);
	/* Dana's onscene (09:00) sorts before 2A12's available (10:40). */
	k = -1;
	for (i = 0; e && i < e->len; i++) {
		if (strcmp(tf_h_str(e->u.items[i], "v", "value", NULL),
			   "available") == 0 &&
		    strcmp(tf_h_str(e->u.items[i], "by", NULL), "alvarez") == 0)
			k = (long)i;
	}
	CHECK(k > 0 && strcmp(tf_h_str(e->u.items[k - 1], "v", "value", NULL),
			      "onscene") == 0);

	/* The message: sent 08 (MDT clock), delivered 12 (server). */
	CHECK_INT(sync_r(&s_bro, r_bro, reconnect_ms + 2000), 0);
	e = tf_h_get(field(r_bro, thr, "messages"), "e", NULL);
	CHECK(e != NULL && e->len == 1);
	if (e && e->len == 1) {
		int64_t sent = hlc_ms(tf_h_str(e->u.items[0], "t", NULL));
		int64_t srv = tf_h_int(0, e->u.items[0], "srv", NULL);
		CHECK_INT(sent, T0 + 8 * MIN + SKEW);
		CHECK(srv >= reconnect_ms);
		CHECK(srv >= T0 + 12 * MIN);
		CHECK(srv > sent);
		CHECK_STR(tf_h_str(e->u.items[0], "by", NULL), "alvarez");
	}

	/* The BOLO cache refreshed; the plate check is marked stale. */
	CHECK_STR(tf_h_str(field(r_alv, bolo, "status"), "v", NULL),
		  "cancelled");
	v = field(r_alv, lookup, "query_audit");
	e = tf_h_get(v, "e", NULL);
	CHECK(e != NULL && e->len == 1);
	if (e && e->len == 1) {
		const tf_json *q = tf_h_get(e->u.items[0], "v", NULL);
		int64_t fetched = tf_h_int(0, q, "cache_fetched_at", NULL);
		CHECK(tf_h_get(q, "stale", NULL) &&
		      tf_h_get(q, "stale", NULL)->type == TF_JSON_TRUE);
		CHECK(tf_h_get(q, "cached", NULL) &&
		      tf_h_get(q, "cached", NULL)->type == TF_JSON_TRUE);
		CHECK(tf_h_get(q, "matched", NULL) &&
		      tf_h_get(q, "matched", NULL)->len == 1 &&
		      strcmp(tf_h_get(q, "matched", NULL)->u.items[0]->u.str,
			     bolo) == 0);
		/* Fetched before the cancel the refreshed cache shows. */
		CHECK(fetched < hlc_ms(tf_h_str(field(r_alv, bolo, "status"),
						"t", NULL)));
		CHECK_INT(fetched, T0 - 40 * MIN);
	}
	/* The report draft reached the server (author scope). */
	CHECK(tf_replica_get(r_alv, rep) != NULL);
	CHECK_INT(tf_replica_state(r_alv, rep), TF_SYNC_SYNCED);

	/* Back in service, stamped by the 40 s fast clock: no clock_skew. */
	{
		int64_t now = tf_h_now_ms();
		tf_h_resp_init(&reply);
		CHECK_INT(mut(r_alv, now + SKEW, 1, "activity_log", alog,
			      "append",
			      "{\"field\":\"entries\",\"body\":{\"text\":"
			      "\"Back in service\"}}",
			      NULL),
			  0);
		CHECK_INT(tf_h_push(&H, &s_alv, r_alv, now + SKEW, &reply,
				    &err),
			  0);
		CHECK_STR(tf_h_str(tf_h_get(reply.json, "results", NULL)
					   ? tf_h_get(reply.json, "results",
						      NULL)
						     ->u.items[0]
					   : NULL,
				   "status", NULL),
			  "applied");
		tf_h_resp_free(&reply);
		CHECK_INT(tf_h_pull(&H, &s_alv, r_alv, now + SKEW, &err), 0);
	}
}

/*
 * 1 when a discarded-text item of an audit entry names `text`: the text
 * itself, or (the audit keeps entries small) its SHA-256 with an excerpt
 * that begins it.
 */
static int names_text(const tf_json *item, const char *text)
{
	uint8_t h[TF_SHA256_LEN];
	char hex[2 * TF_SHA256_LEN + 1];
	const char *ex = tf_h_str(item, "excerpt", NULL);

	if (strcmp(tf_h_str(item, "text", NULL), text) == 0)
		return 1;
	if (tf_sha256(text, strlen(text), h) != 0)
		return 0;
	tf_hex_encode(h, sizeof h, hex);
	return strcmp(tf_h_str(item, "sha256", NULL), hex) == 0 &&
	       *ex != '\0' && strncmp(text, ex, strlen(ex)) == 0;
}

/* The remarks conflict: listed, resolved side by side, audited. */
static void resolve_remarks(void)
{
	const tf_json *c, *l, *conf;
	char args[2048], path[160];
	tf_h_resp r;
	tf_json *audit = NULL;
	int64_t head_rev;
	size_t i, k;
	int listed, found_dana, found_alv, found;

	tf_h_resp_init(&r);
	/* Listed for the dispatcher and for the supervisor. */
	CHECK_INT(tf_h_request(&H, &s_dana, "GET", "/v1/conflicts", NULL, 0,
			       NULL, &r),
		  0);
	CHECK_INT(r.status, 200);
	l = tf_h_get(r.json, "conflicts", NULL);
	listed = 0;
	for (i = 0; l && i < l->len; i++) {
		c = l->u.items[i];
		if (strcmp(tf_h_str(c, "record_id", NULL), inc) == 0 &&
		    strcmp(tf_h_str(c, "field", NULL), "remarks") == 0 &&
		    strcmp(tf_h_str(c, "entity", NULL), "incident") == 0)
			listed++;
	}
	CHECK_INT(listed, 1);
	CHECK_INT(tf_h_request(&H, &s_sup, "GET", "/v1/conflicts", NULL, 0,
			       NULL, &r),
		  0);
	CHECK_INT(r.status, 200);
	l = tf_h_get(r.json, "conflicts", NULL);
	CHECK(l != NULL && l->len >= 1);

	/* The stored revisions keep both sides. */
	snprintf(path, sizeof path, "/v1/records/%s/text/remarks", inc);
	CHECK_INT(tf_h_request(&H, &s_sup, "GET", path, NULL, 0, NULL, &r), 0);
	CHECK_INT(r.status, 200);
	CHECK(strstr(tf_buf_cstr(&r.body), "Weapon seen by neighbor") != NULL);
	CHECK(strstr(tf_buf_cstr(&r.body), "boyfriend has a knife") != NULL);

	/* The supervisor reconciles side by side: a custom text. */
	CHECK_INT(sync_r(&s_sup, r_sup, T0 + 13 * MIN), 0);
	conf = tf_h_get(field(r_sup, inc, "remarks"), "conflicts", NULL);
	CHECK(conf != NULL && conf->len == 1);
	if (conf == NULL || conf->len != 1)
		goto out;
	CHECK_STR(tf_h_str(conf->u.items[0], "proposed", NULL), REMARKS_ALV);
	CHECK_STR(tf_h_str(conf->u.items[0], "head", NULL), REMARKS_DANA);
	CHECK_STR(tf_h_str(conf->u.items[0], "by", NULL), "alvarez");
	CHECK_STR(tf_h_str(conf->u.items[0], "head_by", NULL), "dana");
	head_rev = tf_h_int(0, conf->u.items[0], "head_rev", NULL);
	snprintf(args, sizeof args,
		 "{\"field\":\"remarks\",\"conflict\":\"%s\",\"head_rev\":%lld,"
		 "\"choice\":\"custom\",\"text\":\"%s\"}",
		 tf_h_str(conf->u.items[0], "id", NULL), (long long)head_rev,
		 REMARKS_FINAL);
	CHECK_INT(mut(r_sup, T0 + 13 * MIN, 1, "incident", inc, "resolve",
		      args, NULL),
		  0);
	CHECK_INT(sync_r(&s_sup, r_sup, T0 + 13 * MIN), 0);
	CHECK_STR(tf_h_str(field(r_sup, inc, "remarks"), "v", NULL),
		  REMARKS_FINAL);
	CHECK(tf_h_get(field(r_sup, inc, "remarks"), "conflicts", NULL) ==
	      NULL);

	/* No longer listed; 2A12 sees the reconciled text. */
	CHECK_INT(tf_h_request(&H, &s_dana, "GET", "/v1/conflicts", NULL, 0,
			       NULL, &r),
		  0);
	CHECK_INT(r.status, 200);
	l = tf_h_get(r.json, "conflicts", NULL);
	for (i = 0; l && i < l->len; i++)
		CHECK(strcmp(tf_h_str(l->u.items[i], "record_id", NULL), inc) !=
		      0);
	CHECK_INT(sync_r(&s_alv, r_alv, tf_h_now_ms() + SKEW), 0);
	CHECK_STR(tf_h_str(field(r_alv, inc, "remarks"), "v", NULL),
		  REMARKS_FINAL);
	CHECK(tf_replica_state(r_alv, inc) != TF_SYNC_CONFLICT);

	/* The auditor finds what was discarded and by whom. */
	CHECK_INT(tf_h_audit_all(&H, &s_aud, &audit), 0);
	found = found_dana = found_alv = 0;
	for (k = 0; audit && k < audit->len; k++) {
		const tf_json *x = audit->u.items[k], *d;
		if (strcmp(tf_h_str(x, "type", NULL), "conflict_resolution") !=
			    0 ||
		    strcmp(tf_h_str(x, "what", "record_id", NULL), inc) != 0)
			continue;
		found++;
		CHECK_STR(tf_h_str(x, "actor", "user", NULL), "ortiz");
		CHECK_STR(tf_h_str(x, "what", "field", NULL), "remarks");
		d = tf_h_get(x, "detail", "discarded", NULL);
		for (i = 0; d && i < d->len; i++) {
			const tf_json *y = d->u.items[i];
			const char *by = tf_h_str(y, "by", NULL);
			if (strcmp(by, "dana") == 0 &&
			    strcmp(tf_h_str(y, "from", NULL), "head") == 0 &&
			    names_text(y, REMARKS_DANA))
				found_dana = 1;
			if (strcmp(by, "alvarez") == 0 &&
			    strcmp(tf_h_str(y, "from", NULL), "proposed") == 0 &&
			    names_text(y, REMARKS_ALV))
				found_alv = 1;
		}
		if (!found_dana || !found_alv) {
			tf_buf eb;
			tf_buf_init(&eb);
			tf_json_write(x, &eb);
			fprintf(stderr, "conflict_resolution entry: %s\n",
				tf_buf_cstr(&eb));
			tf_buf_free(&eb);
		}
	}
	tf_json_free(audit);
	CHECK_INT(found, 1);
	CHECK(found_dana);
	CHECK(found_alv);
	/* The chain of the server log verifies. */
	CHECK_INT(tf_h_request(&H, &s_aud, "GET", "/v1/audit/verify", NULL, 0,
			       NULL, &r),
		  0);
	CHECK_INT(r.status, 200);
	CHECK(tf_h_get(r.json, "ok", NULL) &&
	      tf_h_get(r.json, "ok", NULL)->type == TF_JSON_TRUE);
out:
	tf_h_resp_free(&r);
}

TEST(scenario)
{
	if (!ready) {
		CHECK(ready);
		return;
	}
	/* Minute 12 of the scenario is about now (the reconnect). */
	T0 = tf_h_now_ms() - 12 * MIN;
	before_signal_loss();
	offline_on_2a12();
	meanwhile_online();
	reconnect();
	resolve_remarks();
}

/*
 * A clock 90 s fast is beyond max_skew (60 s): clock_skew with the
 * server's time, the replica re-stamps, the resend is applied.
 */
TEST(skew_90s_restamped)
{
	const tf_json *res;
	tf_h_resp reply;
	tf_err err;
	int64_t now = tf_h_now_ms(), st;

	if (!ready || u14[0] == '\0') {
		CHECK(ready && u14[0]);
		return;
	}
	tf_h_resp_init(&reply);
	tf_err_clear(&err);
	CHECK_INT(sync_r(&s_bro, r_bro, now + 90000), 0);
	CHECK_INT(mut(r_bro, now + 90000, 1, "unit", u14, "set",
		      "{\"fields\":{\"status\":\"enroute\"}}", NULL),
		  0);
	CHECK_INT(tf_h_push(&H, &s_bro, r_bro, now + 90000, &reply, &err), 0);
	res = tf_h_get(reply.json, "results", NULL);
	CHECK(res != NULL && res->len == 1);
	if (res && res->len == 1) {
		CHECK_STR(tf_h_str(res->u.items[0], "status", NULL),
			  "clock_skew");
		st = tf_h_int(0, res->u.items[0], "server_time", NULL);
		CHECK(st >= now && st < now + 90000);
	}
	CHECK_INT(tf_replica_unsent(r_bro), 1);
	CHECK_INT(tf_h_push(&H, &s_bro, r_bro, now + 90000, &reply, &err), 0);
	res = tf_h_get(reply.json, "results", NULL);
	CHECK(res != NULL && res->len == 1);
	if (res && res->len == 1)
		CHECK_STR(tf_h_str(res->u.items[0], "status", NULL),
			  "applied");
	CHECK_INT(tf_h_pull(&H, &s_bro, r_bro, now + 90000, &err), 0);
	CHECK_STR(tf_h_str(field(r_bro, u14, "status"), "v", NULL), "enroute");
	CHECK_INT(tf_replica_unsent(r_bro), 0);
	tf_h_resp_free(&reply);
}

/* A graceful stop after the scenario exits 0. */
TEST(graceful_stop)
{
	int st = -1;

	if (!ready) {
		CHECK(ready);
		return;
	}
	CHECK_INT(tf_h_stop(&H, &st), 0);
	CHECK_INT(st, 0);
}

int main(int argc, char **argv)
{
	int any_failed = 0;

	(void)argc;
	ready = setup(argv[0]) == 0;
	if (!ready)
		tf_h_log_tail(&H, 4000);
	RUN(scenario);
	any_failed |= tf_test_failed_checks;
	RUN(skew_90s_restamped);
	any_failed |= tf_test_failed_checks;
	RUN(graceful_stop);
	any_failed |= tf_test_failed_checks;
	if (any_failed)
		tf_h_log_tail(&H, 4000);
	tf_replica_free(r_dana);
	tf_replica_free(r_alv);
	tf_replica_free(r_bro);
	tf_replica_free(r_sup);
	tf_replica_free(r_svc);
	tf_h_destroy(&H);
	return tf_test_finish(argv[0]);
}

/*
 * test_replica.c - the client replica against the reference server
 * (tests/support/sim_server.c): mutate / push / pull cycles, local
 * refusals, rejections, results whose reply was lost and that arrive
 * only after a pull's ack passed the command (never silent), clock_skew
 * re-stamping, supersede notices, text conflicts, purge, reset, partial
 * pages, save/load, bad input,
 * sticky failure at every fault point, and the dispatch scenario of
 * DOMAIN.md (Dana, 2A12 offline with a fast clock, 2A14 reassigned).
 */
#include "tenfour/replica.h"

#include "sim_server.h"
#include "tf_test.h"

#define T0 1764000000000LL
#define SEC 1000LL
#define MIN (60 * SEC)

static tf_schema *schema;
static uint64_t rnd_state = 0x1234;

static tf_schema *load_schema(void)
{
	size_t len;
	char *text = tf_test_read_file(TF_TEST_SCHEMA_PATH, &len);
	tf_schema *s = NULL;
	tf_err err;

	if (text == NULL || tf_schema_load(text, len, &s, &err) != 0) {
		fprintf(stderr, "cannot load %s\n", TF_TEST_SCHEMA_PATH);
		exit(1);
	}
	free(text);
	return s;
}

static tf_replica *mk(const char *device, const char *user)
{
	tf_replica *r = NULL;

	if (tf_replica_new(schema, device, user, 0, &r) != 0) {
		fprintf(stderr, "tf_replica_new failed\n");
		exit(1);
	}
	return r;
}

static tf_sim *mk_server(void)
{
	tf_sim *sv = NULL;

	if (tf_sim_new(schema, &sv) != 0 ||
	    tf_sim_add_device(sv, "console-dana", 0) ||
	    tf_sim_add_device(sv, "mdt-2a12", 0) ||
	    tf_sim_add_device(sv, "mdt-2a14", 0) ||
	    tf_sim_add_device(sv, "console-sup", 0) ||
	    tf_sim_add_device(sv, "cad-svc", 1)) {
		fprintf(stderr, "sim server setup failed\n");
		exit(1);
	}
	return sv;
}

/*
 * A mutation with args given as JSON text (printf-style).  Returns the
 * replica's result; id is the record id (NULL: a new one, which id_out
 * receives when not NULL).
 */
static int mutv(tf_replica *r, int64_t now, int online, const char *entity,
		const char *id, char *id_out, tf_op op, char *cmd_out,
		tf_err *err, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	__attribute__((format(printf, 10, 11)))
#endif
	;

static int mutv(tf_replica *r, int64_t now, int online, const char *entity,
		const char *id, char *id_out, tf_op op, char *cmd_out,
		tf_err *err, const char *fmt, ...)
{
	char text[4096], rid[TF_UUID_LEN + 1];
	uint8_t rnd[20];
	tf_json *args = NULL;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (tf_json_parse(text, strlen(text), NULL, &args, err) != 0) {
		fprintf(stderr, "bad args fixture: %s\n", text);
		exit(1);
	}
	tf_test_rand_bytes(&rnd_state, rnd, sizeof rnd);
	rc = tf_replica_mutate(r, now, rnd, online, entity, id, op, args,
			       cmd_out, rid, err);
	if (rc == 0 && id_out)
		memcpy(id_out, rid, TF_UUID_LEN + 1);
	tf_json_free(args);
	return rc;
}

/* The common cases: online 1, error details ignored. */
#define CREATE(r, now, entity, id_out, ...)                                    \
	mutv(r, now, 1, entity, NULL, id_out, TF_OP_CREATE, NULL, NULL,        \
	     __VA_ARGS__)
#define MUT(r, now, entity, id, op, cmd_out, ...)                              \
	mutv(r, now, 1, entity, id, NULL, op, cmd_out, NULL, __VA_ARGS__)

static void sync_at(tf_sim *sv, tf_replica *r, const char *device, int64_t now,
		    int64_t skew, size_t limit, int line)
{
	tf_err err;
	int rc = tf_sim_sync(sv, r, device, now, now + skew, limit, &err);

	if (rc != 0)
		tf_test_fail(__FILE__, line, "sync of %s: %d %s", device, rc,
			     err.msg);
}

#define SYNC(sv, r, device, now) sync_at(sv, r, device, now, 0, 0, __LINE__)
/* A device whose clock is `skew` ms ahead of the server's. */
#define SYNC_SKEW(sv, r, device, now, skew)                                    \
	sync_at(sv, r, device, now, skew, 0, __LINE__)

static char *save_str(tf_replica *r)
{
	tf_buf b;

	tf_buf_init(&b);
	if (tf_replica_save(r, &b) != 0) {
		tf_buf_free(&b);
		return NULL;
	}
	return tf_buf_take(&b, NULL);
}

/* The string value of lww field `field` in the view, or NULL. */
static const char *view_str(tf_replica *r, const char *id, const char *field)
{
	const tf_json *v = tf_record_value(tf_replica_get(r, id), field);

	return v && v->type == TF_JSON_STRING ? v->u.str : NULL;
}

/* 1 when every record `device` sees on the server is byte-identical in r
 * and r shows nothing else. */
static int converged(tf_sim *sv, tf_replica *r, const char *device)
{
	tf_buf a, b, ids;
	tf_json *list = NULL;
	size_t i;
	int same;

	tf_buf_init(&a);
	tf_buf_init(&b);
	tf_buf_init(&ids);
	tf_sim_dump(sv, device, &a);
	tf_replica_list_json(r, NULL, &ids);
	tf_json_parse(ids.data, ids.len, NULL, &list, NULL);
	tf_buf_putc(&b, '[');
	for (i = 0; list && i < list->len; i++) {
		if (i)
			tf_buf_putc(&b, ',');
		tf_json_write(tf_replica_get(r, list->u.items[i]->u.str), &b);
	}
	tf_buf_putc(&b, ']');
	same = strcmp(tf_buf_cstr(&a), tf_buf_cstr(&b)) == 0;
	if (!same)
		fprintf(stderr, "server: %s\nreplica: %s\n", tf_buf_cstr(&a),
			tf_buf_cstr(&b));
	tf_json_free(list);
	tf_buf_free(&a);
	tf_buf_free(&b);
	tf_buf_free(&ids);
	return same;
}

static size_t count_notices(tf_replica *r, const char *kind)
{
	tf_buf b;
	tf_json *arr = NULL;
	size_t i, n = 0;

	tf_buf_init(&b);
	tf_replica_notices_json(r, &b);
	tf_json_parse(b.data, b.len, NULL, &arr, NULL);
	for (i = 0; arr && i < arr->len; i++) {
		const char *k = tf_json_get_str(arr->u.items[i], "kind", NULL);
		if (kind == NULL || (k && strcmp(k, kind) == 0))
			n++;
	}
	tf_json_free(arr);
	tf_buf_free(&b);
	return n;
}

/* The first notice of `kind` naming `field` (NULL: any), parsed; caller frees.
 */
static tf_json *find_notice(tf_replica *r, const char *kind, const char *field)
{
	tf_buf b;
	tf_json *arr = NULL, *found = NULL;
	size_t i;

	tf_buf_init(&b);
	tf_replica_notices_json(r, &b);
	tf_json_parse(b.data, b.len, NULL, &arr, NULL);
	for (i = 0; arr && i < arr->len; i++) {
		const char *k = tf_json_get_str(arr->u.items[i], "kind", NULL);
		const char *f = tf_json_get_str(arr->u.items[i], "field", NULL);
		if (k && strcmp(k, kind) == 0 &&
		    (field == NULL || (f && strcmp(f, field) == 0))) {
			found = tf_json_clone(arr->u.items[i]);
			break;
		}
	}
	tf_json_free(arr);
	tf_buf_free(&b);
	return found;
}

/*
 * Pushes once, at most max commands; the reply's bytes (caller frees),
 * NULL on error.
 */
static char *push_max(tf_sim *sv, tf_replica *r, int64_t now, size_t max,
		      size_t *len)
{
	tf_buf req, rep;
	tf_err err;
	int rc;

	tf_buf_init(&req);
	tf_buf_init(&rep);
	rc = tf_replica_push_request(r, max, &req);
	if (rc == 0)
		rc = tf_sim_push(sv, now, req.data, req.len, &rep, &err);
	tf_buf_free(&req);
	if (rc) {
		tf_buf_free(&rep);
		return NULL;
	}
	return tf_buf_take(&rep, len);
}

/* Pushes once; the reply's bytes (caller frees), NULL on error. */
static char *push_once(tf_sim *sv, tf_replica *r, int64_t now, size_t *len)
{
	return push_max(sv, r, now, 1000, len);
}

/* One pull page for device from r's cursor; caller frees. */
static char *pull_once(tf_sim *sv, tf_replica *r, const char *device,
		       int64_t now, size_t limit, size_t *len)
{
	tf_buf rep;
	tf_err err;

	tf_buf_init(&rep);
	if (tf_sim_pull(sv, now, device, tf_replica_cursor(r), limit, &rep,
			&err) != 0) {
		tf_buf_free(&rep);
		return NULL;
	}
	return tf_buf_take(&rep, len);
}

/*
 * Pulls and applies pages of `limit` from r's cursor until the final one,
 * with no push before (unlike tf_sim_sync).  Returns the number of
 * pages, 0 on any error.
 */
static size_t pull_all(tf_sim *sv, tf_replica *r, const char *device,
		       int64_t now, size_t limit)
{
	size_t pages = 0, len;
	int more = 1;

	while (more && pages < 1000) {
		char *p = pull_once(sv, r, device, now, limit, &len);
		if (p == NULL || tf_replica_apply_pull(r, now, p, len, NULL)) {
			free(p);
			return 0;
		}
		more = strstr(p, "\"has_more\":true") != NULL;
		free(p);
		pages++;
	}
	return more ? 0 : pages;
}

/* 1 when r's next push request carries command cmd_id. */
static int in_push_request(tf_replica *r, const char *cmd_id)
{
	tf_buf req;
	int found;

	tf_buf_init(&req);
	found = tf_replica_push_request(r, 1000, &req) == 0 &&
		strstr(tf_buf_cstr(&req), cmd_id) != NULL;
	tf_buf_free(&req);
	return found;
}

/* ------------------------------------------------------------ basics */

TEST(sync_state_names)
{
	CHECK_STR(tf_sync_state_name(TF_SYNC_NONE), "none");
	CHECK_STR(tf_sync_state_name(TF_SYNC_SYNCED), "synced");
	CHECK_STR(tf_sync_state_name(TF_SYNC_PENDING), "pending");
	CHECK_STR(tf_sync_state_name(TF_SYNC_REJECTED), "rejected");
	CHECK_STR(tf_sync_state_name(TF_SYNC_CONFLICT), "conflict");
	CHECK_STR(tf_sync_state_name(TF_SYNC_SUPERSEDED), "superseded");
	CHECK_STR(tf_sync_state_name((tf_sync_state)99), "unknown");
}

TEST(new_refuses_bad_ids)
{
	tf_replica *r = (tf_replica *)1;

	CHECK_INT(tf_replica_new(schema, "bad device", "u", 0, &r), TF_EINVAL);
	CHECK(r == NULL);
	CHECK_INT(tf_replica_new(schema, "d", "", 0, &r), TF_EINVAL);
	CHECK_INT(tf_replica_new(NULL, "d", "u", 0, &r), TF_EINVAL);
}

TEST(mutate_create_view_and_summary)
{
	tf_replica *r = mk("mdt-2a12", "alvarez");
	char id[TF_UUID_LEN + 1], cmd[TF_UUID_LEN + 1];
	tf_replica_summary s;
	tf_buf b;
	tf_err err;

	tf_buf_init(&b);
	CHECK_INT(mutv(r, T0, 0, "incident", NULL, id, TF_OP_CREATE, cmd, &err,
		       "{\"fields\":{\"type_code\":\"disturbance\","
		       "\"priority\":2,\"remarks\":\"Loud argument.\","
		       "\"assigned_units\":[\"2A12\"]}}"),
		  0);
	CHECK(tf_uuid_valid(id, strlen(id)));
	CHECK(tf_uuid_valid(cmd, strlen(cmd)));
	CHECK_STR(view_str(r, id, "type_code"), "disturbance");
	CHECK_INT(tf_record_ver(tf_replica_get(r, id)), 0);
	CHECK_INT(tf_replica_state(r, id), TF_SYNC_PENDING);
	CHECK_INT(tf_replica_state(r, "01900000-0000-7000-8000-000000000000"),
		  TF_SYNC_NONE);
	CHECK(tf_replica_get(r, "01900000-0000-7000-8000-000000000000") ==
	      NULL);
	/* Stamped from the clock: the high-water mark moved. */
	CHECK(TF_HLC_MS(tf_replica_clock(r)) == T0);
	CHECK_INT(MUT(r, T0 + 1, "incident", id, TF_OP_SET, NULL,
		      "{\"fields\":{\"priority\":1}}"),
		  0);
	CHECK_INT(
		MUT(r, T0 + 2, "incident", id, TF_OP_APPEND, NULL,
		    "{\"field\":\"notes\",\"body\":{\"text\":\"On scene.\"}}"),
		0);
	tf_replica_summary_get(r, T0 + 10 * SEC, &s);
	CHECK_INT(s.pending, 3);
	CHECK_INT(s.oldest_pending_ms, 10 * SEC);
	CHECK_INT(s.next_seq, 4);
	CHECK_INT(s.records, 1);
	CHECK_INT(s.ack, 0);
	CHECK_INT(s.last_sync_ms, 0);
	CHECK_INT(tf_replica_unsent(r), 3);
	CHECK_INT(tf_replica_summary_json(r, T0 + 10 * SEC, &b), 0);
	CHECK_STR(tf_buf_cstr(&b),
		  "{\"ack\":0,\"conflicts\":0,\"last_sync_ms\":0,"
		  "\"next_seq\":4,\"oldest_pending_ms\":10000,\"pending\":3,"
		  "\"records\":1,\"rejected\":0,\"superseded\":0}");
	tf_buf_reset(&b);
	CHECK_INT(tf_replica_view_json(r, id, &b), 0);
	CHECK(strstr(tf_buf_cstr(&b), "\"sync\":\"pending\"") != NULL);
	CHECK(strstr(tf_buf_cstr(&b), "\"op\":\"append\"") != NULL);
	CHECK(strncmp(tf_buf_cstr(&b), "{\"notices\":[],\"pending\":[{", 26) ==
	      0);
	tf_buf_reset(&b);
	CHECK_INT(tf_replica_view_json(
			  r, "01900000-0000-7000-8000-000000000000", &b),
		  TF_ENOTFOUND);
	CHECK_INT(tf_replica_list_json(r, NULL, &b), 0);
	CHECK(strstr(tf_buf_cstr(&b), id) != NULL);
	tf_buf_reset(&b);
	CHECK_INT(tf_replica_list_json(r, "unit", &b), 0);
	CHECK_STR(tf_buf_cstr(&b), "[]");
	tf_buf_free(&b);
	tf_replica_free(r);
}

TEST(mutate_refusals_change_nothing)
{
	tf_replica *r = mk("mdt-2a12", "alvarez");
	char id[TF_UUID_LEN + 1], unit[TF_UUID_LEN + 1];
	char *before, *after;
	tf_err err;

	CHECK_INT(
		CREATE(r, T0, "incident", id, "{\"fields\":{\"priority\":2}}"),
		0);
	CHECK_INT(CREATE(r, T0, "unit", unit,
			 "{\"fields\":{\"status\":\"available\"}}"),
		  0);
	before = save_str(r);
	CHECK_INT(mutv(r, T0 + 1, 1, "nonesuch", NULL, NULL, TF_OP_CREATE, NULL,
		       &err, "{\"fields\":{}}"),
		  TF_EUNKNOWN);
	CHECK_INT(mutv(r, T0 + 1, 1, "incident", NULL, NULL, TF_OP_SET, NULL,
		       &err, "{\"fields\":{\"priority\":1}}"),
		  TF_EINVAL);
	CHECK_INT(mutv(r, T0 + 1, 1, "incident", "not-a-uuid", NULL, TF_OP_SET,
		       NULL, &err, "{\"fields\":{\"priority\":1}}"),
		  TF_EINVAL);
	CHECK_INT(mutv(r, T0 + 1, 1, "incident",
		       "01900000-0000-7000-8000-000000000000", NULL, TF_OP_SET,
		       NULL, &err, "{\"fields\":{\"priority\":1}}"),
		  TF_ENOTFOUND);
	CHECK_INT(mutv(r, T0 + 1, 1, "incident", unit, NULL, TF_OP_SET, NULL,
		       &err, "{\"fields\":{\"priority\":1}}"),
		  TF_EINVAL);
	/* The schema refuses the value: the place is named. */
	CHECK_INT(mutv(r, T0 + 1, 1, "incident", id, NULL, TF_OP_SET, NULL,
		       &err, "{\"fields\":{\"priority\":9}}"),
		  TF_ERANGE);
	CHECK_STR(err.where, "incident.priority");
	CHECK_INT(mutv(r, T0 + 1, 1, "incident", id, NULL, TF_OP_APPEND, NULL,
		       &err, "{\"field\":\"priority\",\"body\":{}}"),
		  TF_EVALIDATE);
	CHECK_INT(mutv(r, -1, 1, "incident", id, NULL, TF_OP_SET, NULL, &err,
		       "{\"fields\":{\"priority\":1}}"),
		  TF_ERANGE);
	/* A merge refusal on the view: creating an existing record. */
	CHECK_INT(mutv(r, T0 + 1, 1, "incident", id, NULL, TF_OP_CREATE, NULL,
		       &err, "{\"fields\":{}}"),
		  TF_EEXIST);
	after = save_str(r);
	CHECK(before && after && strcmp(before, after) == 0);
	free(before);
	free(after);
	tf_replica_free(r);
}

TEST(online_only_refused_offline)
{
	tf_replica *r = mk("mdt-2a12", "alvarez");
	char rep[TF_UUID_LEN + 1];
	tf_err err;

	CHECK_INT(CREATE(r, T0, "report", rep,
			 "{\"fields\":{\"author\":\"alvarez\"}}"),
		  0);
	CHECK_INT(mutv(r, T0 + 1, 0, "report", rep, NULL, TF_OP_SET, NULL, &err,
		       "{\"fields\":{\"status\":\"draft\"}}"),
		  TF_EOFFLINE);
	CHECK_STR(err.where, "report.status");
	CHECK_INT(tf_replica_unsent(r), 1);
	/* Online the same change is taken. */
	CHECK_INT(mutv(r, T0 + 2, 1, "report", rep, NULL, TF_OP_SET, NULL, &err,
		       "{\"fields\":{\"status\":\"draft\"}}"),
		  0);
	CHECK_INT(tf_replica_unsent(r), 2);
	tf_replica_free(r);
}

TEST(local_transition_refused_not_queued)
{
	tf_replica *r = mk("mdt-2a12", "alvarez");
	char rep[TF_UUID_LEN + 1];
	tf_err err;

	CHECK_INT(CREATE(r, T0, "report", rep,
			 "{\"fields\":{\"author\":\"alvarez\","
			 "\"status\":\"draft\"}}"),
		  0);
	CHECK_INT(mutv(r, T0 + 1, 1, "report", rep, NULL, TF_OP_SET, NULL, &err,
		       "{\"fields\":{\"status\":\"approved\"}}"),
		  TF_ETRANSITION);
	CHECK(err.msg[0] != '\0');
	CHECK_INT(tf_replica_unsent(r), 1);
	CHECK_STR(view_str(r, rep, "status"), "draft");
	tf_replica_free(r);
}

/* ------------------------------------------------------------ sync */

TEST(push_pull_cycle)
{
	tf_sim *sv = mk_server();
	tf_replica *a = mk("mdt-2a12", "alvarez");
	tf_replica *d = mk("console-dana", "dana");
	char id[TF_UUID_LEN + 1];
	tf_replica_summary s;

	CHECK_INT(CREATE(d, T0, "incident", id,
			 "{\"fields\":{\"type_code\":\"disturbance\","
			 "\"priority\":2}}"),
		  0);
	SYNC(sv, d, "console-dana", T0 + SEC);
	CHECK_INT(tf_replica_state(d, id), TF_SYNC_SYNCED);
	CHECK_INT(tf_record_ver(tf_replica_get(d, id)), 1);
	CHECK(converged(sv, d, "console-dana"));
	tf_replica_summary_get(d, T0 + 2 * SEC, &s);
	CHECK_INT(s.pending, 0);
	CHECK_INT(s.oldest_pending_ms, 0);
	CHECK_INT(s.ack, 1);
	CHECK_INT(s.last_sync_ms, T0 + SEC);
	CHECK(strcmp(tf_replica_cursor(d), "") != 0);

	SYNC(sv, a, "mdt-2a12", T0 + 2 * SEC);
	CHECK_STR(view_str(a, id, "type_code"), "disturbance");
	CHECK_INT(
		MUT(a, T0 + 3 * SEC, "incident", id, TF_OP_APPEND, NULL,
		    "{\"field\":\"notes\",\"body\":{\"text\":\"En route.\"}}"),
		0);
	CHECK_INT(tf_replica_state(a, id), TF_SYNC_PENDING);
	SYNC(sv, a, "mdt-2a12", T0 + 4 * SEC);
	SYNC(sv, d, "console-dana", T0 + 5 * SEC);
	CHECK_INT(tf_replica_state(a, id), TF_SYNC_SYNCED);
	CHECK(converged(sv, a, "mdt-2a12"));
	CHECK(converged(sv, d, "console-dana"));
	tf_replica_free(a);
	tf_replica_free(d);
	tf_sim_free(sv);
}

TEST(lost_reply_resend_is_duplicate)
{
	tf_sim *sv = mk_server();
	tf_replica *a = mk("mdt-2a12", "alvarez");
	char id[TF_UUID_LEN + 1], cmd[TF_UUID_LEN + 1];
	char *rep;
	size_t len;
	tf_status st;
	const tf_json *notes;
	tf_err err;

	CHECK_INT(CREATE(a, T0, "incident", id, "{\"fields\":{}}"), 0);
	CHECK_INT(MUT(a, T0, "incident", id, TF_OP_APPEND, cmd,
		      "{\"field\":\"notes\",\"body\":{\"text\":\"x\"}}"),
		  0);
	rep = push_once(sv, a, T0 + SEC, &len); /* the reply is lost */
	CHECK(rep != NULL);
	free(rep);
	CHECK_INT(tf_replica_unsent(a), 2);
	rep = push_once(sv, a, T0 + 2 * SEC, &len); /* resent */
	CHECK(rep != NULL && strstr(rep, "\"status\":\"duplicate\"") != NULL);
	CHECK_INT(tf_replica_apply_push_reply(a, T0 + 2 * SEC, rep, len, &err),
		  0);
	CHECK_INT(tf_replica_unsent(a), 0);
	/* Still pending (tentative) until a pull's ack passes it. */
	CHECK_INT(tf_replica_state(a, id), TF_SYNC_PENDING);
	/* The same reply again: its results are settled, nothing changes. */
	CHECK_INT(tf_replica_apply_push_reply(a, T0 + 2 * SEC, rep, len, &err),
		  0);
	free(rep);
	SYNC(sv, a, "mdt-2a12", T0 + 3 * SEC);
	CHECK_INT(tf_replica_state(a, id), TF_SYNC_SYNCED);
	CHECK_INT(tf_sim_cmd_result(sv, cmd, &st, NULL), 0);
	CHECK_INT(st, TF_ST_APPLIED);
	notes = tf_json_object_get(
		tf_record_field(tf_sim_record(sv, id), "notes"), "e");
	CHECK(notes != NULL && notes->len == 1);
	CHECK(converged(sv, a, "mdt-2a12"));
	tf_replica_free(a);
	tf_sim_free(sv);
}

TEST(rejection_notice_until_acked)
{
	tf_sim *sv = mk_server();
	tf_replica *a = mk("mdt-2a12", "alvarez");
	tf_replica *d = mk("console-dana", "dana");
	char rep[TF_UUID_LEN + 1], cmd[TF_UUID_LEN + 1];
	tf_replica_summary s;
	tf_json *n;
	tf_err err;

	CHECK_INT(CREATE(a, T0, "report", rep,
			 "{\"fields\":{\"author\":\"alvarez\","
			 "\"status\":\"draft\"}}"),
		  0);
	SYNC(sv, a, "mdt-2a12", T0);
	SYNC(sv, d, "console-dana", T0);
	/* A supervisor (Dana's console here) submits and approves... */
	CHECK_INT(MUT(d, T0 + SEC, "report", rep, TF_OP_SET, NULL,
		      "{\"fields\":{\"status\":\"submitted\"}}"),
		  0);
	CHECK_INT(MUT(d, T0 + 2 * SEC, "report", rep, TF_OP_SET, NULL,
		      "{\"fields\":{\"status\":\"approved\"}}"),
		  0);
	SYNC(sv, d, "console-dana", T0 + 3 * SEC);
	/* ...while the officer, from the stale draft, submits too. */
	CHECK_INT(mutv(a, T0 + 4 * SEC, 1, "report", rep, NULL, TF_OP_SET, cmd,
		       &err, "{\"fields\":{\"status\":\"submitted\"}}"),
		  0);
	CHECK_STR(view_str(a, rep, "status"), "submitted");
	{
		size_t len;
		char *r = push_once(sv, a, T0 + 5 * SEC, &len);
		CHECK(r && strstr(r, "transition_not_allowed") != NULL);
		CHECK_INT(tf_replica_apply_push_reply(a, T0 + 5 * SEC, r, len,
						      &err),
			  0);
		free(r);
	}
	/* Dropped from the queue, the view rebuilt, a notice raised. */
	CHECK_INT(tf_replica_state(a, rep), TF_SYNC_REJECTED);
	CHECK_STR(view_str(a, rep, "status"), "draft");
	tf_replica_summary_get(a, T0 + 5 * SEC, &s);
	CHECK_INT(s.pending, 0);
	CHECK_INT(s.rejected, 1);
	n = find_notice(a, "rejected", NULL);
	CHECK(n != NULL);
	if (n) {
		CHECK_STR(tf_json_get_str(n, "id", NULL), cmd);
		CHECK_STR(tf_json_get_str(n, "cmd_id", NULL), cmd);
		CHECK_STR(tf_json_get_str(n, "record_id", NULL), rep);
		CHECK_STR(tf_json_get_str(n, "entity", NULL), "report");
		CHECK_STR(tf_json_get_str(n, "op", NULL), "set");
		CHECK_STR(tf_json_get_str(n, "code", NULL),
			  "transition_not_allowed");
		CHECK_STR(tf_json_get_str(n, "field", NULL), "status");
		CHECK(tf_json_object_get(n, "args") != NULL);
		CHECK(strlen(tf_json_get_str(n, "message", NULL)) > 0);
	}
	tf_json_free(n);
	/* The notice outlives syncs... */
	SYNC(sv, a, "mdt-2a12", T0 + 6 * SEC);
	CHECK_STR(view_str(a, rep, "status"), "approved");
	CHECK_INT(tf_replica_state(a, rep), TF_SYNC_REJECTED);
	/* ...until the user acknowledges it. */
	CHECK_INT(tf_replica_ack_notice(a, cmd), 0);
	CHECK_INT(tf_replica_ack_notice(a, cmd), TF_ENOTFOUND);
	CHECK_INT(tf_replica_state(a, rep), TF_SYNC_SYNCED);
	CHECK_INT(count_notices(a, NULL), 0);
	CHECK(converged(sv, a, "mdt-2a12"));
	tf_replica_free(a);
	tf_replica_free(d);
	tf_sim_free(sv);
}

/*
 * The silent surprise this guards against: the server rejects a command,
 * the reply is lost, and a pull's final page then carries an ack past the
 * command.  The ack says only that the server holds it, not how it
 * ended: the command stays pending (counted, sent again) until the
 * server's stored rejection comes back, and the officer sees it.
 */
TEST(rejection_reply_lost_then_ack)
{
	tf_sim *sv = mk_server();
	tf_replica *a = mk("mdt-2a12", "alvarez");
	tf_replica *d = mk("console-dana", "dana");
	char rep[TF_UUID_LEN + 1], cmd[TF_UUID_LEN + 1], *saved, *r;
	tf_replica_summary s;
	tf_status st;
	tf_json *n;
	size_t len;
	tf_err err;

	CHECK_INT(CREATE(a, T0, "report", rep,
			 "{\"fields\":{\"author\":\"alvarez\","
			 "\"status\":\"draft\"}}"),
		  0);
	SYNC(sv, a, "mdt-2a12", T0);
	SYNC(sv, d, "console-dana", T0);
	CHECK_INT(MUT(d, T0 + SEC, "report", rep, TF_OP_SET, NULL,
		      "{\"fields\":{\"status\":\"submitted\"}}"),
		  0);
	CHECK_INT(MUT(d, T0 + 2 * SEC, "report", rep, TF_OP_SET, NULL,
		      "{\"fields\":{\"status\":\"approved\"}}"),
		  0);
	SYNC(sv, d, "console-dana", T0 + 3 * SEC);
	/* From the stale draft the officer submits: the server refuses. */
	CHECK_INT(MUT(a, T0 + 4 * SEC, "report", rep, TF_OP_SET, cmd,
		      "{\"fields\":{\"status\":\"submitted\"}}"),
		  0);
	r = push_once(sv, a, T0 + 5 * SEC, &len);
	CHECK(r && strstr(r, "transition_not_allowed") != NULL);
	free(r); /* the reply is lost */
	CHECK_INT(tf_sim_cmd_result(sv, cmd, &st, NULL), 0);
	CHECK_INT(st, TF_ST_REJECTED);
	CHECK_INT(tf_sim_last(sv, "mdt-2a12"), 2);

	/* A pull alone: its final page acks seq 2, the result unknown. */
	CHECK(pull_all(sv, a, "mdt-2a12", T0 + 6 * SEC, 0) > 0);
	tf_replica_summary_get(a, T0 + 6 * SEC, &s);
	CHECK_INT(s.ack, 2);
	CHECK_INT(s.pending, 1);
	CHECK_INT(s.rejected, 0);
	CHECK_INT(tf_replica_state(a, rep), TF_SYNC_PENDING);
	/* The base holds the server's word; the command is not replayed
	 * over it. */
	CHECK_STR(view_str(a, rep, "status"), "approved");
	CHECK_INT(tf_replica_unsent(a), 1);
	CHECK(in_push_request(a, cmd));
	/* Another pull changes nothing: still pending, nothing silent. */
	CHECK(pull_all(sv, a, "mdt-2a12", T0 + 7 * SEC, 0) > 0);
	CHECK_INT(tf_replica_state(a, rep), TF_SYNC_PENDING);
	CHECK_INT(tf_replica_unsent(a), 1);

	/* The state survives a restart. */
	saved = save_str(a);
	CHECK(saved != NULL);
	tf_replica_free(a);
	a = NULL;
	CHECK_INT(tf_replica_load(schema, saved, strlen(saved), &a, &err), 0);
	free(saved);
	CHECK_INT(tf_replica_unsent(a), 1);
	CHECK_INT(tf_replica_state(a, rep), TF_SYNC_PENDING);
	CHECK_STR(view_str(a, rep, "status"), "approved");

	/* Sent again, the ledger replays the stored rejection. */
	SYNC(sv, a, "mdt-2a12", T0 + 8 * SEC);
	CHECK_INT(tf_sim_last(sv, "mdt-2a12"), 2);
	CHECK_INT(tf_replica_state(a, rep), TF_SYNC_REJECTED);
	CHECK_STR(view_str(a, rep, "status"), "approved");
	tf_replica_summary_get(a, T0 + 8 * SEC, &s);
	CHECK_INT(s.pending, 0);
	CHECK_INT(s.rejected, 1);
	CHECK_INT(tf_replica_unsent(a), 0);
	CHECK_INT(count_notices(a, "rejected"), 1);
	n = find_notice(a, "rejected", NULL);
	CHECK(n != NULL);
	if (n) {
		CHECK_STR(tf_json_get_str(n, "cmd_id", NULL), cmd);
		CHECK_STR(tf_json_get_str(n, "record_id", NULL), rep);
		CHECK_STR(tf_json_get_str(n, "code", NULL),
			  "transition_not_allowed");
		CHECK_STR(tf_json_get_str(n, "field", NULL), "status");
	}
	tf_json_free(n);
	/* Once: more syncs raise no second notice. */
	SYNC(sv, a, "mdt-2a12", T0 + 9 * SEC);
	CHECK_INT(count_notices(a, "rejected"), 1);
	CHECK_INT(tf_replica_ack_notice(a, cmd), 0);
	CHECK_INT(tf_replica_state(a, rep), TF_SYNC_SYNCED);
	CHECK(converged(sv, a, "mdt-2a12"));
	tf_replica_free(a);
	tf_replica_free(d);
	tf_sim_free(sv);
}

/*
 * The same with an applied lww value that lost to another node's later
 * write: the supersede notice comes when the result does, checked
 * against the base of that moment.
 */
TEST(lost_lww_reply_then_ack_still_superseded)
{
	tf_sim *sv = mk_server();
	tf_replica *a = mk("mdt-2a12", "alvarez");
	tf_replica *d = mk("console-dana", "dana");
	char id[TF_UUID_LEN + 1], cmd[TF_UUID_LEN + 1], nid[80], *r;
	const tf_json *detail;
	tf_replica_summary s;
	tf_status st;
	tf_json *n;
	size_t len;

	CHECK_INT(CREATE(d, T0, "incident", id,
			 "{\"fields\":{\"type_code\":\"disturbance\"}}"),
		  0);
	SYNC(sv, d, "console-dana", T0);
	SYNC(sv, a, "mdt-2a12", T0);
	CHECK_INT(MUT(a, T0 + 5 * MIN, "incident", id, TF_OP_SET, cmd,
		      "{\"fields\":{\"type_code\":\"dv\"}}"),
		  0);
	CHECK_INT(MUT(d, T0 + 6 * MIN, "incident", id, TF_OP_SET, NULL,
		      "{\"fields\":{\"type_code\":\"assault\"}}"),
		  0);
	SYNC(sv, d, "console-dana", T0 + 6 * MIN);
	r = push_once(sv, a, T0 + 7 * MIN, &len);
	CHECK(r && strstr(r, "\"lost\":[\"type_code\"]") != NULL);
	free(r); /* lost */
	CHECK_INT(tf_sim_cmd_result(sv, cmd, &st, &detail), 0);
	CHECK_INT(st, TF_ST_APPLIED);

	CHECK(pull_all(sv, a, "mdt-2a12", T0 + 7 * MIN, 1) > 0);
	CHECK_STR(view_str(a, id, "type_code"), "assault");
	CHECK_INT(tf_replica_state(a, id), TF_SYNC_PENDING);
	CHECK_INT(count_notices(a, NULL), 0);
	CHECK(in_push_request(a, cmd));

	/* The replayed result (duplicate, with its detail) settles it. */
	SYNC(sv, a, "mdt-2a12", T0 + 8 * MIN);
	tf_replica_summary_get(a, T0 + 8 * MIN, &s);
	CHECK_INT(s.pending, 0);
	CHECK_INT(s.superseded, 1);
	CHECK_INT(s.rejected, 0);
	CHECK_INT(tf_replica_state(a, id), TF_SYNC_SUPERSEDED);
	snprintf(nid, sizeof nid, "%s:type_code", cmd);
	n = find_notice(a, "superseded", "type_code");
	CHECK(n != NULL);
	if (n) {
		CHECK_STR(tf_json_get_str(n, "id", NULL), nid);
		CHECK_STR(tf_json_get_str(n, "mine", NULL), "dv");
		CHECK_STR(tf_json_get_str(n, "winner", NULL), "assault");
		CHECK_STR(tf_json_get_str(n, "winner_by", NULL), "dana");
	}
	tf_json_free(n);
	CHECK_INT(tf_replica_ack_notice(a, nid), 0);
	CHECK_INT(tf_replica_state(a, id), TF_SYNC_SYNCED);
	CHECK(converged(sv, a, "mdt-2a12"));
	tf_replica_free(a);
	tf_replica_free(d);
	tf_sim_free(sv);
}

/*
 * A reply whose ack runs past its results (an earlier, longer push got
 * through but its reply was lost; this one carried fewer commands): the
 * commands with no result are sent again, and each ends as the ledger
 * says: a rejection in the middle is shown, the others settle.
 */
TEST(reply_ack_past_its_results)
{
	tf_sim *sv = mk_server();
	tf_replica *a = mk("mdt-2a12", "alvarez");
	tf_replica *d = mk("console-dana", "dana");
	char inc[TF_UUID_LEN + 1], rep[TF_UUID_LEN + 1];
	char c1[TF_UUID_LEN + 1], c2[TF_UUID_LEN + 1], c3[TF_UUID_LEN + 1];
	tf_replica_summary s;
	tf_status st;
	size_t len;
	tf_err err;
	char *r;

	CHECK_INT(CREATE(d, T0, "incident", inc, "{\"fields\":{}}"), 0);
	CHECK_INT(CREATE(d, T0, "report", rep,
			 "{\"fields\":{\"author\":\"alvarez\","
			 "\"status\":\"draft\"}}"),
		  0);
	SYNC(sv, d, "console-dana", T0);
	SYNC(sv, a, "mdt-2a12", T0);
	MUT(d, T0 + SEC, "report", rep, TF_OP_SET, NULL,
	    "{\"fields\":{\"status\":\"submitted\"}}");
	MUT(d, T0 + SEC, "report", rep, TF_OP_SET, NULL,
	    "{\"fields\":{\"status\":\"approved\"}}");
	SYNC(sv, d, "console-dana", T0 + SEC);
	MUT(a, T0 + 2 * SEC, "incident", inc, TF_OP_APPEND, c1,
	    "{\"field\":\"notes\",\"body\":{\"text\":\"one\"}}");
	MUT(a, T0 + 2 * SEC, "report", rep, TF_OP_SET, c2,
	    "{\"fields\":{\"status\":\"submitted\"}}");
	MUT(a, T0 + 2 * SEC, "incident", inc, TF_OP_APPEND, c3,
	    "{\"field\":\"notes\",\"body\":{\"text\":\"three\"}}");
	r = push_once(sv, a, T0 + 3 * SEC, &len);
	free(r); /* all three held; the reply is lost */
	CHECK_INT(tf_sim_last(sv, "mdt-2a12"), 3);
	r = push_max(sv, a, T0 + 4 * SEC, 1, &len);
	CHECK(r && strstr(r, "\"ack\":3") != NULL);
	CHECK_INT(tf_replica_apply_push_reply(a, T0 + 4 * SEC, r, len, &err),
		  0);
	free(r);
	/* Only seq 1 has a result: 2 and 3 go out again. */
	CHECK_INT(tf_replica_unsent(a), 2);
	CHECK(!in_push_request(a, c1));
	CHECK(in_push_request(a, c2));
	CHECK(in_push_request(a, c3));
	/* A pull in between acks all three; only seq 1 leaves. */
	CHECK(pull_all(sv, a, "mdt-2a12", T0 + 5 * SEC, 0) > 0);
	tf_replica_summary_get(a, T0 + 5 * SEC, &s);
	CHECK_INT(s.pending, 2);
	CHECK_INT(tf_replica_unsent(a), 2);
	SYNC(sv, a, "mdt-2a12", T0 + 6 * SEC);
	tf_replica_summary_get(a, T0 + 6 * SEC, &s);
	CHECK_INT(s.pending, 0);
	CHECK_INT(s.rejected, 1);
	CHECK_INT(tf_replica_state(a, rep), TF_SYNC_REJECTED);
	CHECK_INT(tf_replica_state(a, inc), TF_SYNC_SYNCED);
	CHECK_INT(tf_sim_cmd_result(sv, c2, &st, NULL), 0);
	CHECK_INT(st, TF_ST_REJECTED);
	{
		tf_json *n = find_notice(a, "rejected", NULL);
		CHECK(n != NULL);
		if (n)
			CHECK_STR(tf_json_get_str(n, "cmd_id", NULL), c2);
		tf_json_free(n);
	}
	/* Notes once each: nothing replayed twice. */
	{
		const tf_json *e = tf_json_object_get(
			tf_record_field(tf_replica_get(a, inc), "notes"), "e");
		CHECK(e && e->len == 2);
	}
	CHECK(converged(sv, a, "mdt-2a12"));
	tf_replica_free(a);
	tf_replica_free(d);
	tf_sim_free(sv);
}

TEST(clock_skew_restamps)
{
	tf_sim *sv = mk_server();
	tf_replica *a = mk("mdt-2a12", "alvarez");
	const int64_t fast = 90 * SEC; /* beyond the 60 s the server allows */
	char id[TF_UUID_LEN + 1], c2[TF_UUID_LEN + 1];
	tf_hlc before[3];
	const tf_json *st;
	char *rep, *saved;
	size_t len, i;
	tf_err err;
	tf_json *rec;

	CHECK_INT(CREATE(a, T0 + fast, "incident", id,
			 "{\"fields\":{\"priority\":3}}"),
		  0);
	CHECK_INT(MUT(a, T0 + fast, "incident", id, TF_OP_SET, c2,
		      "{\"fields\":{\"priority\":2}}"),
		  0);
	CHECK_INT(MUT(a, T0 + fast + 1, "incident", id, TF_OP_APPEND, NULL,
		      "{\"field\":\"notes\",\"body\":{\"text\":\"x\"}}"),
		  0);
	{
		/* The stamps as queued. */
		tf_buf v;
		tf_json *j = NULL, *p;
		tf_buf_init(&v);
		tf_replica_view_json(a, id, &v);
		tf_json_parse(v.data, v.len, NULL, &j, NULL);
		p = tf_json_object_get(j, "pending");
		for (i = 0; p && i < 3 && i < p->len; i++) {
			const char *h =
				tf_json_get_str(p->u.items[i], "hlc", NULL);
			tf_hlc_parse(h, strlen(h), &before[i]);
		}
		tf_json_free(j);
		tf_buf_free(&v);
	}
	rep = push_once(sv, a, T0, &len);
	CHECK(rep && strstr(rep, "\"status\":\"clock_skew\"") != NULL);
	CHECK_INT(tf_sim_last(sv, "mdt-2a12"), 0);
	CHECK_INT(tf_replica_apply_push_reply(a, T0 + fast, rep, len, &err), 0);
	/* Re-stamped on the server's time, in order; seq kept. */
	CHECK_INT(tf_replica_unsent(a), 3);
	CHECK(TF_HLC_MS(tf_replica_clock(a)) == T0);
	{
		tf_buf v;
		tf_json *j = NULL, *p;
		tf_hlc prev = 0;
		tf_buf_init(&v);
		tf_replica_view_json(a, id, &v);
		tf_json_parse(v.data, v.len, NULL, &j, NULL);
		p = tf_json_object_get(j, "pending");
		CHECK(p && p->len == 3);
		for (i = 0; p && i < p->len; i++) {
			const char *h =
				tf_json_get_str(p->u.items[i], "hlc", NULL);
			uint64_t seq = 0;
			tf_hlc now;
			tf_hlc_parse(h, strlen(h), &now);
			CHECK(now < before[i]);
			CHECK(now > prev);
			CHECK(TF_HLC_MS(now) == T0);
			tf_json_uint64(tf_json_object_get(p->u.items[i], "seq"),
				       &seq);
			CHECK_INT(seq, i + 1);
			prev = now;
		}
		tf_json_free(j);
		tf_buf_free(&v);
	}
	/* The same clock_skew reply again is stale: nothing moves. */
	saved = save_str(a);
	CHECK_INT(tf_replica_apply_push_reply(a, T0 + fast, rep, len, &err), 0);
	{
		char *again = save_str(a);
		CHECK(saved && again && strcmp(saved, again) == 0);
		free(again);
	}
	free(saved);
	free(rep);
	/* The correction survives a restart. */
	saved = save_str(a);
	tf_replica_free(a);
	a = NULL;
	CHECK_INT(tf_replica_load(schema, saved, strlen(saved), &a, &err), 0);
	free(saved);
	CHECK_INT(MUT(a, T0 + fast + 2 * SEC, "incident", id, TF_OP_SET, NULL,
		      "{\"fields\":{\"priority\":1}}"),
		  0);
	SYNC_SKEW(sv, a, "mdt-2a12", T0 + 3 * SEC, fast);
	CHECK_INT(tf_replica_unsent(a), 0);
	CHECK_INT(tf_sim_last(sv, "mdt-2a12"), 4);
	rec = tf_json_clone(tf_sim_record(sv, id));
	st = tf_record_field(rec, "priority");
	CHECK(st != NULL);
	CHECK(TF_HLC_MS(tf_record_mhlc(rec)) <= T0 + 3 * SEC + 60 * SEC);
	CHECK(converged(sv, a, "mdt-2a12"));
	tf_json_free(rec);
	tf_replica_free(a);
	tf_sim_free(sv);
}

TEST(supersede_notice_until_acked)
{
	tf_sim *sv = mk_server();
	tf_replica *a = mk("mdt-2a12", "alvarez");
	tf_replica *d = mk("console-dana", "dana");
	char id[TF_UUID_LEN + 1], cmd[TF_UUID_LEN + 1], nid[80];
	tf_replica_summary s;
	tf_json *n;

	CHECK_INT(CREATE(d, T0, "incident", id,
			 "{\"fields\":{\"type_code\":\"disturbance\","
			 "\"priority\":2}}"),
		  0);
	SYNC(sv, d, "console-dana", T0);
	SYNC(sv, a, "mdt-2a12", T0);
	/* Offline, the officer changes the type at 5 min... */
	CHECK_INT(MUT(a, T0 + 5 * MIN, "incident", id, TF_OP_SET, cmd,
		      "{\"fields\":{\"type_code\":\"dv\",\"priority\":2}}"),
		  0);
	/* ...dispatch changes it at 6 min and syncs first. */
	CHECK_INT(MUT(d, T0 + 6 * MIN, "incident", id, TF_OP_SET, NULL,
		      "{\"fields\":{\"type_code\":\"assault\"}}"),
		  0);
	SYNC(sv, d, "console-dana", T0 + 6 * MIN);
	SYNC(sv, a, "mdt-2a12", T0 + 7 * MIN);
	CHECK_STR(view_str(a, id, "type_code"), "assault");
	CHECK_INT(tf_replica_state(a, id), TF_SYNC_SUPERSEDED);
	tf_replica_summary_get(a, T0 + 7 * MIN, &s);
	CHECK_INT(s.superseded, 1);
	CHECK_INT(s.pending, 0);
	/* One notice: the priority it set is the field's value. */
	CHECK_INT(count_notices(a, "superseded"), 1);
	n = find_notice(a, "superseded", "type_code");
	CHECK(n != NULL);
	snprintf(nid, sizeof nid, "%s:type_code", cmd);
	if (n) {
		char hlc[17];
		CHECK_STR(tf_json_get_str(n, "id", NULL), nid);
		CHECK_STR(tf_json_get_str(n, "cmd_id", NULL), cmd);
		CHECK_STR(tf_json_get_str(n, "record_id", NULL), id);
		CHECK_STR(tf_json_get_str(n, "entity", NULL), "incident");
		CHECK_STR(tf_json_get_str(n, "mine", NULL), "dv");
		CHECK_STR(tf_json_get_str(n, "winner", NULL), "assault");
		CHECK_STR(tf_json_get_str(n, "winner_by", NULL), "dana");
		tf_hlc_format(TF_HLC_MAKE(T0 + 6 * MIN, 0), hlc);
		CHECK_STR(tf_json_get_str(n, "winner_hlc", NULL), hlc);
		tf_hlc_format(TF_HLC_MAKE(T0 + 5 * MIN, 0), hlc);
		CHECK_STR(tf_json_get_str(n, "mine_hlc", NULL), hlc);
	}
	tf_json_free(n);
	/* The winner has nothing to be told. */
	SYNC(sv, d, "console-dana", T0 + 8 * MIN);
	CHECK_INT(count_notices(d, NULL), 0);
	CHECK_INT(tf_replica_state(d, id), TF_SYNC_SYNCED);
	/* Stays until acknowledged, across syncs. */
	SYNC(sv, a, "mdt-2a12", T0 + 9 * MIN);
	CHECK_INT(tf_replica_state(a, id), TF_SYNC_SUPERSEDED);
	CHECK_INT(tf_replica_ack_notice(a, nid), 0);
	CHECK_INT(tf_replica_state(a, id), TF_SYNC_SYNCED);
	CHECK_INT(tf_replica_ack_notice(a, "nope"), TF_ENOTFOUND);
	CHECK(converged(sv, a, "mdt-2a12"));
	tf_replica_free(a);
	tf_replica_free(d);
	tf_sim_free(sv);
}

TEST(own_later_write_is_no_supersede)
{
	tf_sim *sv = mk_server();
	tf_replica *a = mk("mdt-2a12", "alvarez");
	char id[TF_UUID_LEN + 1];

	CHECK_INT(
		CREATE(a, T0, "incident", id, "{\"fields\":{\"priority\":2}}"),
		0);
	CHECK_INT(MUT(a, T0 + 1, "incident", id, TF_OP_SET, NULL,
		      "{\"fields\":{\"priority\":3}}"),
		  0);
	CHECK_INT(MUT(a, T0 + 2, "incident", id, TF_OP_SET, NULL,
		      "{\"fields\":{\"priority\":4}}"),
		  0);
	SYNC(sv, a, "mdt-2a12", T0 + SEC);
	CHECK_INT(count_notices(a, NULL), 0);
	CHECK_INT(tf_replica_state(a, id), TF_SYNC_SYNCED);
	tf_replica_free(a);
	tf_sim_free(sv);
}

/* The text of conflict 0 of text field `field` in rec, member `m`. */
static const char *conflict_str(const tf_json *rec, const char *field,
				const char *m)
{
	const tf_json *cs =
		tf_json_object_get(tf_record_field(rec, field), "conflicts");

	if (cs == NULL || cs->type != TF_JSON_ARRAY || cs->len == 0)
		return NULL;
	return tf_json_get_str(cs->u.items[0], m, NULL);
}

TEST(text_conflict_both_sides)
{
	tf_sim *sv = mk_server();
	tf_replica *a = mk("mdt-2a12", "alvarez");
	tf_replica *d = mk("console-dana", "dana");
	const char *base = "Caller reports shouting.";
	const char *mine = "Caller reports shouting. DV suspected.";
	const char *theirs = "Caller reports shouting and a weapon.";
	const char *kept =
		"Caller reports shouting and a weapon. DV suspected.";
	char id[TF_UUID_LEN + 1], edit[TF_UUID_LEN + 1], res[TF_UUID_LEN + 1];
	const tf_json *detail, *disc;
	tf_status st;

	CHECK_INT(CREATE(d, T0, "incident", id,
			 "{\"fields\":{\"remarks\":\"%s\"}}", base),
		  0);
	SYNC(sv, d, "console-dana", T0);
	SYNC(sv, a, "mdt-2a12", T0);
	CHECK_INT(MUT(a, T0 + MIN, "incident", id, TF_OP_EDIT_TEXT, edit,
		      "{\"field\":\"remarks\",\"base_rev\":1,\"base\":\"%s\","
		      "\"text\":\"%s\"}",
		      base, mine),
		  0);
	CHECK_INT(MUT(d, T0 + 2 * MIN, "incident", id, TF_OP_EDIT_TEXT, NULL,
		      "{\"field\":\"remarks\",\"base_rev\":1,\"base\":\"%s\","
		      "\"text\":\"%s\"}",
		      base, theirs),
		  0);
	SYNC(sv, d, "console-dana", T0 + 2 * MIN);
	SYNC(sv, a, "mdt-2a12", T0 + 3 * MIN);
	CHECK_INT(tf_sim_cmd_result(sv, edit, &st, NULL), 0);
	CHECK_INT(st, TF_ST_CONFLICT);
	/* Neither text lost: head and proposed side by side. */
	CHECK_INT(tf_replica_state(a, id), TF_SYNC_CONFLICT);
	CHECK_STR(view_str(a, id, "remarks"), theirs);
	CHECK_STR(conflict_str(tf_replica_get(a, id), "remarks", "head"),
		  theirs);
	CHECK_STR(conflict_str(tf_replica_get(a, id), "remarks", "proposed"),
		  mine);
	CHECK_STR(conflict_str(tf_replica_get(a, id), "remarks", "base"), base);
	CHECK_STR(conflict_str(tf_replica_get(a, id), "remarks", "id"), edit);
	SYNC(sv, d, "console-dana", T0 + 4 * MIN);
	CHECK_INT(tf_replica_state(d, id), TF_SYNC_CONFLICT);
	{
		tf_replica_summary s;
		tf_replica_summary_get(d, T0 + 4 * MIN, &s);
		CHECK_INT(s.conflicts, 1);
	}
	/* Reconciled side by side: both sides' texts reported discarded. */
	CHECK_INT(MUT(a, T0 + 5 * MIN, "incident", id, TF_OP_RESOLVE, res,
		      "{\"field\":\"remarks\",\"conflict\":\"%s\","
		      "\"head_rev\":2,\"text\":\"%s\",\"choice\":\"custom\"}",
		      edit, kept),
		  0);
	CHECK_INT(tf_replica_state(a, id), TF_SYNC_PENDING);
	SYNC(sv, a, "mdt-2a12", T0 + 5 * MIN);
	SYNC(sv, d, "console-dana", T0 + 6 * MIN);
	CHECK_INT(tf_replica_state(a, id), TF_SYNC_SYNCED);
	CHECK_INT(tf_replica_state(d, id), TF_SYNC_SYNCED);
	CHECK_STR(view_str(d, id, "remarks"), kept);
	CHECK_INT(tf_sim_cmd_result(sv, res, &st, &detail), 0);
	CHECK_INT(st, TF_ST_APPLIED);
	disc = tf_json_object_get(detail, "discarded");
	CHECK(disc && disc->len == 2);
	if (disc && disc->len == 2) {
		CHECK_STR(tf_json_get_str(disc->u.items[0], "by", NULL),
			  "dana");
		CHECK_STR(tf_json_get_str(disc->u.items[0], "from", NULL),
			  "head");
		CHECK_STR(tf_json_get_str(disc->u.items[1], "by", NULL),
			  "alvarez");
		CHECK_STR(tf_json_get_str(disc->u.items[1], "text", NULL),
			  mine);
	}
	CHECK(converged(sv, a, "mdt-2a12"));
	CHECK(converged(sv, d, "console-dana"));
	tf_replica_free(a);
	tf_replica_free(d);
	tf_sim_free(sv);
}

/* Scope for the purge test: a record id hidden from mdt-2a12. */
static char hidden_id[TF_UUID_LEN + 1];

static int hide_one(void *ctx, const char *device, const tf_json *rec)
{
	(void)ctx;
	return strcmp(device, "mdt-2a12") != 0 ||
	       strcmp(tf_record_id(rec), hidden_id) != 0;
}

TEST(purge_and_pending)
{
	tf_sim *sv = mk_server();
	tf_replica *a = mk("mdt-2a12", "alvarez");
	tf_replica *d = mk("console-dana", "dana");
	char x[TF_UUID_LEN + 1], y[TF_UUID_LEN + 1], *saved;
	tf_replica_summary s;
	tf_err err;

	CHECK_INT(CREATE(d, T0, "incident", x, "{\"fields\":{\"priority\":2}}"),
		  0);
	CHECK_INT(CREATE(d, T0, "incident", y, "{\"fields\":{\"priority\":3}}"),
		  0);
	SYNC(sv, d, "console-dana", T0);
	tf_sim_set_visible(sv, hide_one, NULL);
	SYNC(sv, a, "mdt-2a12", T0);
	CHECK_INT(tf_replica_state(a, x), TF_SYNC_SYNCED);

	/* x leaves 2A12's scope: purged. */
	memcpy(hidden_id, x, sizeof hidden_id);
	tf_sim_touch_all(sv);
	SYNC(sv, a, "mdt-2a12", T0 + SEC);
	CHECK(tf_replica_get(a, x) == NULL);
	CHECK_INT(tf_replica_state(a, x), TF_SYNC_NONE);
	CHECK_INT(tf_replica_state(a, y), TF_SYNC_SYNCED);
	CHECK(converged(sv, a, "mdt-2a12"));

	/* Back in scope; then purged while a command for it is pending. */
	hidden_id[0] = '\0';
	tf_sim_touch_all(sv);
	SYNC(sv, a, "mdt-2a12", T0 + 2 * SEC);
	CHECK_INT(tf_replica_state(a, x), TF_SYNC_SYNCED);
	CHECK_INT(MUT(a, T0 + 3 * SEC, "incident", x, TF_OP_SET, NULL,
		      "{\"fields\":{\"priority\":1}}"),
		  0);
	memcpy(hidden_id, x, sizeof hidden_id);
	tf_sim_touch_all(sv);
	{
		size_t len;
		char *p = pull_once(sv, a, "mdt-2a12", T0 + 4 * SEC, 0, &len);
		CHECK_INT(tf_replica_apply_pull(a, T0 + 4 * SEC, p, len, &err),
			  0);
		free(p);
	}
	CHECK(tf_replica_get(a, x) == NULL);
	CHECK_INT(tf_replica_state(a, x), TF_SYNC_PENDING);
	tf_replica_summary_get(a, T0 + 4 * SEC, &s);
	CHECK_INT(s.pending, 1);
	CHECK_INT(s.records, 1);
	/* The hidden-but-pending state survives a restart. */
	saved = save_str(a);
	CHECK(saved && strstr(saved, "\"gone\":[\"") != NULL);
	tf_replica_free(a);
	a = NULL;
	CHECK_INT(tf_replica_load(schema, saved, strlen(saved), &a, &err), 0);
	free(saved);
	CHECK(tf_replica_get(a, x) == NULL);
	CHECK_INT(tf_replica_state(a, x), TF_SYNC_PENDING);
	/* The server answers it; the ack drops it; nothing is left. */
	SYNC(sv, a, "mdt-2a12", T0 + 5 * SEC);
	CHECK_INT(tf_replica_state(a, x), TF_SYNC_NONE);
	CHECK_INT(tf_replica_unsent(a), 0);
	CHECK(converged(sv, a, "mdt-2a12"));
	{
		int64_t prio = 0;
		CHECK_INT(tf_json_int64(tf_record_value(tf_sim_record(sv, x),
							"priority"),
					&prio),
			  0);
		CHECK_INT(prio, 1);
	}
	tf_replica_free(a);
	tf_replica_free(d);
	tf_sim_free(sv);
}

TEST(reset_drops_base_keeps_pending)
{
	tf_sim *sv = mk_server();
	tf_replica *a = mk("mdt-2a12", "alvarez");
	tf_replica *d = mk("console-dana", "dana");
	char x[TF_UUID_LEN + 1], y[TF_UUID_LEN + 1];
	size_t len;
	char *p;
	tf_err err;

	CHECK_INT(CREATE(d, T0, "incident", x, "{\"fields\":{\"priority\":2}}"),
		  0);
	CHECK_INT(CREATE(d, T0, "incident", y, "{\"fields\":{\"priority\":3}}"),
		  0);
	SYNC(sv, d, "console-dana", T0);
	SYNC(sv, a, "mdt-2a12", T0);
	CHECK_INT(MUT(a, T0 + SEC, "incident", x, TF_OP_APPEND, NULL,
		      "{\"field\":\"notes\",\"body\":{\"text\":\"kept\"}}"),
		  0);
	CHECK_INT(MUT(d, T0 + SEC, "incident", y, TF_OP_SET, NULL,
		      "{\"fields\":{\"priority\":1}}"),
		  0);
	SYNC(sv, d, "console-dana", T0 + SEC);
	/* 2A12's cursor is now older than what the server retains. */
	tf_sim_set_retention(sv, tf_sim_feed_seq(sv));
	p = pull_once(sv, a, "mdt-2a12", T0 + 2 * SEC, 0, &len);
	CHECK(p && strstr(p, "\"reset\":true") != NULL);
	CHECK_INT(tf_replica_apply_pull(a, T0 + 2 * SEC, p, len, &err), 0);
	free(p);
	CHECK_STR(tf_replica_cursor(a), "");
	CHECK(tf_replica_get(a, y) == NULL);
	/* Only an append is pending for x: with no base it has nothing to
	 * apply to until the resync brings x back. */
	CHECK(tf_replica_get(a, x) == NULL);
	CHECK_INT(tf_replica_state(a, x), TF_SYNC_PENDING);
	CHECK_INT(tf_replica_unsent(a), 1);
	SYNC(sv, a, "mdt-2a12", T0 + 3 * SEC);
	CHECK(converged(sv, a, "mdt-2a12"));
	{
		const tf_json *e = tf_json_object_get(
			tf_record_field(tf_replica_get(a, x), "notes"), "e");
		CHECK(e && e->len == 1);
	}
	{
		int64_t prio = 0;
		CHECK_INT(tf_json_int64(tf_record_value(tf_replica_get(a, y),
							"priority"),
					&prio),
			  0);
		CHECK_INT(prio, 1);
	}
	tf_replica_free(a);
	tf_replica_free(d);
	tf_sim_free(sv);
}

TEST(partial_pages_ack_on_last)
{
	tf_sim *sv = mk_server();
	tf_replica *a = mk("mdt-2a12", "alvarez");
	tf_replica *d = mk("console-dana", "dana");
	char ids[5][TF_UUID_LEN + 1];
	const char *base = "Start.";
	size_t i, len, pages = 0;
	tf_err err;
	int more = 1;

	for (i = 0; i < 5; i++)
		CHECK_INT(CREATE(d, T0, "incident", ids[i],
				 "{\"fields\":{\"remarks\":\"%s\"}}", base),
			  0);
	SYNC(sv, d, "console-dana", T0);
	SYNC(sv, a, "mdt-2a12", T0);
	/* 2A12 edits ids[0]; pushed and applied, not yet pulled. */
	CHECK_INT(MUT(a, T0 + SEC, "incident", ids[0], TF_OP_EDIT_TEXT, NULL,
		      "{\"field\":\"remarks\",\"base_rev\":1,\"base\":\"%s\","
		      "\"text\":\"Mine.\"}",
		      base),
		  0);
	{
		char *r = push_once(sv, a, T0 + SEC, &len);
		CHECK_INT(
			tf_replica_apply_push_reply(a, T0 + SEC, r, len, &err),
			0);
		free(r);
	}
	/* Dispatch edits on top of it (rev 3), so ids[0] changes last. */
	SYNC(sv, d, "console-dana", T0 + 2 * SEC);
	CHECK_INT(
		MUT(d, T0 + 3 * SEC, "incident", ids[0], TF_OP_EDIT_TEXT, NULL,
		    "{\"field\":\"remarks\",\"base_rev\":2,\"base\":\"Mine.\","
		    "\"text\":\"Theirs.\"}"),
		0);
	for (i = 1; i < 5; i++)
		CHECK_INT(MUT(d, T0 + 3 * SEC, "incident", ids[i], TF_OP_SET,
			      NULL, "{\"fields\":{\"priority\":1}}"),
			  0);
	SYNC(sv, d, "console-dana", T0 + 3 * SEC);
	/* Pages of one record: the ack only drops pending on the last. */
	while (more && pages < 20) {
		char *p = pull_once(sv, a, "mdt-2a12", T0 + 4 * SEC, 1, &len);
		more = p && strstr(p, "\"has_more\":true") != NULL;
		CHECK_INT(tf_replica_apply_pull(a, T0 + 4 * SEC, p, len, &err),
			  0);
		free(p);
		pages++;
		if (more) {
			tf_replica_summary s;
			tf_replica_summary_get(a, T0 + 4 * SEC, &s);
			CHECK_INT(s.pending, 1);
			/* Its own edit is in the base already: not replayed
			 * against the newer text as a conflict. */
			CHECK(tf_replica_state(a, ids[0]) != TF_SYNC_CONFLICT);
		}
	}
	CHECK_INT(pages, 5);
	CHECK_INT(tf_replica_state(a, ids[0]), TF_SYNC_SYNCED);
	CHECK_STR(view_str(a, ids[0], "remarks"), "Theirs.");
	CHECK(converged(sv, a, "mdt-2a12"));
	tf_replica_free(a);
	tf_replica_free(d);
	tf_sim_free(sv);
}

/* ------------------------------------------------------------ persistence */

/* A replica with base, pending, both kinds of notice and a clock offset. */
static tf_replica *busy_replica(tf_sim *sv)
{
	tf_replica *a = mk("mdt-2a12", "alvarez");
	tf_replica *d = mk("console-dana", "dana");
	char id[TF_UUID_LEN + 1], rep[TF_UUID_LEN + 1];
	size_t len;
	char *r;

	CREATE(d, T0, "incident", id,
	       "{\"fields\":{\"type_code\":\"a\",\"remarks\":\"R.\","
	       "\"assigned_units\":[\"2A12\"]}}");
	CREATE(d, T0, "report", rep,
	       "{\"fields\":{\"author\":\"alvarez\",\"status\":\"draft\"}}");
	SYNC(sv, d, "console-dana", T0);
	SYNC(sv, a, "mdt-2a12", T0);
	MUT(a, T0 + MIN, "incident", id, TF_OP_SET, NULL,
	    "{\"fields\":{\"type_code\":\"mine\"}}");
	MUT(a, T0 + 2 * MIN + SEC, "report", rep, TF_OP_SET, NULL,
	    "{\"fields\":{\"status\":\"submitted\"}}");
	MUT(d, T0 + 2 * MIN, "incident", id, TF_OP_SET, NULL,
	    "{\"fields\":{\"type_code\":\"theirs\"}}");
	MUT(d, T0 + 2 * MIN, "report", rep, TF_OP_SET, NULL,
	    "{\"fields\":{\"status\":\"submitted\"}}");
	MUT(d, T0 + 2 * MIN, "report", rep, TF_OP_SET, NULL,
	    "{\"fields\":{\"status\":\"approved\"}}");
	SYNC(sv, d, "console-dana", T0 + 2 * MIN);
	SYNC(sv, a, "mdt-2a12", T0 + 3 * MIN);
	/* Pending work, one of them pushed (sent) but not pulled. */
	MUT(a, T0 + 4 * MIN, "incident", id, TF_OP_APPEND, NULL,
	    "{\"field\":\"notes\",\"body\":{\"text\":\"one\"}}");
	r = push_once(sv, a, T0 + 4 * MIN, &len);
	tf_replica_apply_push_reply(a, T0 + 4 * MIN, r, len, NULL);
	free(r);
	MUT(a, T0 + 5 * MIN, "incident", id, TF_OP_SET_ADD, NULL,
	    "{\"field\":\"assigned_units\",\"value\":\"2A20\"}");
	MUT(a, T0 + 5 * MIN, "incident", NULL, TF_OP_CREATE, NULL,
	    "{\"fields\":{\"priority\":4}}");
	tf_replica_free(d);
	return a;
}

TEST(save_load_round_trip)
{
	tf_sim *sv = mk_server();
	tf_replica *a = busy_replica(sv), *b = NULL;
	char *s1, *s2;
	tf_buf l1, l2, n1, n2, m1, m2;
	tf_err err;

	tf_buf_init(&l1);
	tf_buf_init(&l2);
	tf_buf_init(&n1);
	tf_buf_init(&n2);
	tf_buf_init(&m1);
	tf_buf_init(&m2);
	CHECK_INT(count_notices(a, "superseded"), 1);
	CHECK_INT(count_notices(a, "rejected"), 1);
	s1 = save_str(a);
	CHECK(s1 != NULL);
	/* The pushed command keeps the result its reply gave. */
	CHECK(s1 && strstr(s1, "\"result\":\"applied\"") != NULL);
	CHECK_INT(tf_replica_load(schema, s1, strlen(s1), &b, &err), 0);
	s2 = b ? save_str(b) : NULL;
	CHECK(s2 != NULL && strcmp(s1, s2) == 0);
	CHECK(tf_replica_clock(a) == tf_replica_clock(b));
	CHECK_STR(tf_replica_cursor(a), tf_replica_cursor(b));
	tf_replica_list_json(a, NULL, &l1);
	tf_replica_list_json(b, NULL, &l2);
	CHECK_STR(tf_buf_cstr(&l1), tf_buf_cstr(&l2));
	tf_replica_notices_json(a, &n1);
	tf_replica_notices_json(b, &n2);
	CHECK_STR(tf_buf_cstr(&n1), tf_buf_cstr(&n2));
	tf_replica_summary_json(a, T0 + 9 * MIN, &m1);
	tf_replica_summary_json(b, T0 + 9 * MIN, &m2);
	CHECK_STR(tf_buf_cstr(&m1), tf_buf_cstr(&m2));
	CHECK_INT(tf_replica_unsent(a), tf_replica_unsent(b));
	{
		/* Every view the same bytes. */
		tf_json *list = NULL;
		size_t i;
		tf_json_parse(l1.data, l1.len, NULL, &list, NULL);
		for (i = 0; list && i < list->len; i++) {
			const char *id = list->u.items[i]->u.str;
			CHECK(tf_json_equal(tf_replica_get(a, id),
					    tf_replica_get(b, id)));
			CHECK_INT(tf_replica_state(a, id),
				  tf_replica_state(b, id));
		}
		tf_json_free(list);
	}
	/* The loaded one syncs on like the original. */
	SYNC(sv, b, "mdt-2a12", T0 + 10 * MIN);
	CHECK_INT(tf_replica_unsent(b), 0);
	CHECK(converged(sv, b, "mdt-2a12"));
	free(s1);
	free(s2);
	tf_buf_free(&l1);
	tf_buf_free(&l2);
	tf_buf_free(&n1);
	tf_buf_free(&n2);
	tf_buf_free(&m1);
	tf_buf_free(&m2);
	tf_replica_free(a);
	tf_replica_free(b);
	tf_sim_free(sv);
}

/* Replaces the first `from` in s by `to`; a new string. */
static char *replace1(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	tf_buf b;

	tf_buf_init(&b);
	if (at == NULL) {
		tf_buf_puts(&b, s);
		tf_buf_puts(&b, "<no match>");
	} else {
		tf_buf_append(&b, s, (size_t)(at - s));
		tf_buf_puts(&b, to);
		tf_buf_puts(&b, at + strlen(from));
	}
	return tf_buf_take(&b, NULL);
}

static void load_fails(const char *saved, const char *from, const char *to,
		       int code, int line)
{
	char *bad = replace1(saved, from, to);
	tf_replica *r = (tf_replica *)1;
	tf_err err;
	int rc;

	rc = tf_replica_load(schema, bad, strlen(bad), &r, &err);
	if (rc != code)
		tf_test_fail(__FILE__, line,
			     "load with %s -> %s: %d != %d (%s)", from, to, rc,
			     code, err.msg);
	if (r != NULL)
		tf_test_fail(__FILE__, line, "output not NULL");
	free(bad);
}

#define LOAD_FAILS(saved, from, to, code)                                      \
	load_fails(saved, from, to, code, __LINE__)

TEST(load_refuses_bad_bytes)
{
	tf_sim *sv = mk_server();
	tf_replica *a = busy_replica(sv), *b = NULL;
	char *s = save_str(a);
	tf_err err;

	CHECK_INT(tf_replica_load(schema, s, strlen(s) - 1, &b, &err),
		  TF_EJSON);
	CHECK(b == NULL);
	CHECK_INT(tf_replica_load(schema, "[]", 2, &b, &err), TF_ETYPE);
	LOAD_FAILS(s, "\"format\":1", "\"format\":2", TF_EVERSION);
	LOAD_FAILS(s, "\"schema_version\":1", "\"schema_version\":2",
		   TF_EVERSION);
	LOAD_FAILS(s, "\"ack\":", "\"zzz\":0,\"ack\":", TF_EUNKNOWN);
	LOAD_FAILS(s, "\"cursor\":", "\"cursorx\":", TF_EMISSING);
	LOAD_FAILS(s, "\"device\":\"mdt-2a12\"", "\"device\":\"bad id\"",
		   TF_EINVAL);
	LOAD_FAILS(s, "\"next_seq\":", "\"next_seq\":0,\"x\":", TF_EUNKNOWN);
	LOAD_FAILS(s, "\"clock\":{\"last\":\"", "\"clock\":{\"last\":\"g",
		   TF_EINVAL);
	LOAD_FAILS(s, "\"kind\":\"superseded\"", "\"kind\":\"other\"",
		   TF_EINVAL);
	LOAD_FAILS(s, "\"code\":\"transition_not_allowed\"",
		   "\"code\":\"what\"", TF_EINVAL);
	LOAD_FAILS(s, "\"pending\":[{\"at\":", "\"pending\":[{\"at\":-",
		   TF_ETYPE);
	LOAD_FAILS(s, "\"op\":\"append\"", "\"op\":\"appendx\"", TF_EVALIDATE);
	LOAD_FAILS(s, "\"gone\":[]", "\"gone\":[\"x\"]", TF_EINVAL);
	LOAD_FAILS(s, "\"base\":[{", "\"base\":[{\"x\":1,", TF_EUNKNOWN);
	LOAD_FAILS(s, "\"v\":\"theirs\"", "\"v\":7", TF_ETYPE);
	/* A pending command's result: only what the server keeps, only
	 * where it can be (the server holds it, no final ack passed it). */
	CHECK(strstr(s, "\"result\":\"applied\"") != NULL);
	LOAD_FAILS(s, "\"result\":\"applied\"", "\"result\":\"rejected\"",
		   TF_EINVAL);
	LOAD_FAILS(s, "\"result\":\"applied\"", "\"result\":\"clock_skew\"",
		   TF_EINVAL);
	LOAD_FAILS(s, "\"result\":\"applied\"", "\"result\":1", TF_EINVAL);
	LOAD_FAILS(s, "\"result\":\"applied\"",
		   "\"result\":\"applied\",\"z\":1", TF_EUNKNOWN);
	{
		unsigned long long ack = 0, sack = 0;
		char from[64], to[64], *two;
		const char *at = strstr(s, "\"server_ack\":");
		CHECK(sscanf(s, "{\"ack\":%llu", &ack) == 1);
		CHECK(at && sscanf(at, "\"server_ack\":%llu", &sack) == 1);
		CHECK(sack == ack + 1);
		/* The command with the result is seq server_ack: below a
		 * lowered server_ack it cannot have one... */
		snprintf(from, sizeof from, "\"server_ack\":%llu", sack);
		snprintf(to, sizeof to, "\"server_ack\":%llu", ack);
		LOAD_FAILS(s, from, to, TF_EINVAL);
		/* ...nor at or below a raised ack (it would have left)... */
		snprintf(from, sizeof from, "{\"ack\":%llu,", ack);
		snprintf(to, sizeof to, "{\"ack\":%llu,", sack);
		LOAD_FAILS(s, from, to, TF_EINVAL);
		/* ...where, without a result, it is acked, result unknown,
		 * and is sent again. */
		two = replace1(s, from, to);
		{
			char *three =
				replace1(two, ",\"result\":\"applied\"", "");
			CHECK_INT(tf_replica_load(schema, three, strlen(three),
						  &b, &err),
				  0);
			CHECK_INT(tf_replica_unsent(b),
				  tf_replica_unsent(a) + 1);
			tf_replica_free(b);
			b = NULL;
			free(three);
		}
		free(two);
	}
	free(s);
	tf_replica_free(a);
	tf_sim_free(sv);
}

TEST(bad_input_changes_nothing)
{
	tf_sim *sv = mk_server();
	tf_replica *a = busy_replica(sv);
	char *before = save_str(a), *after;
	char buf[2048];
	size_t len;
	tf_err err;

	CHECK_INT(tf_replica_apply_pull(a, T0, "garbage", 7, &err), TF_EJSON);
	CHECK_INT(tf_replica_apply_pull(a, T0, NULL, 0, &err), TF_EJSON);
	CHECK_INT(tf_replica_apply_push_reply(a, T0, "{}", 2, &err),
		  TF_EVERSION);
	snprintf(buf, sizeof buf,
		 "{\"ack\":0,\"cursor\":\"\",\"has_more\":false,"
		 "\"protocol_version\":1,\"purged\":[],\"records\":[],"
		 "\"reset\":true,\"schema_version\":2}");
	CHECK_INT(tf_replica_apply_pull(a, T0, buf, strlen(buf), &err),
		  TF_EVERSION);
	/* An ack naming seqs never issued. */
	snprintf(buf, sizeof buf,
		 "{\"ack\":99,\"cursor\":\"\",\"has_more\":false,"
		 "\"protocol_version\":1,\"purged\":[],\"records\":[],"
		 "\"reset\":true,\"schema_version\":1}");
	CHECK_INT(tf_replica_apply_pull(a, T0, buf, strlen(buf), &err),
		  TF_EPROTO);
	CHECK_STR(err.where, "ack");
	/* The same id purged twice. */
	snprintf(
		buf, sizeof buf,
		"{\"ack\":0,\"cursor\":\"\",\"has_more\":false,"
		"\"protocol_version\":1,\"purged\":[\"01900000-0000-7000-"
		"8000-000000000001\",\"01900000-0000-7000-8000-000000000001\"],"
		"\"records\":[],\"reset\":true,\"schema_version\":1}");
	CHECK_INT(tf_replica_apply_pull(a, T0, buf, strlen(buf), &err),
		  TF_EPROTO);
	/* Push replies that do not match the queue. */
	snprintf(buf, sizeof buf,
		 "{\"ack\":7,\"protocol_version\":1,\"results\":[],"
		 "\"schema_version\":1,\"server_time\":0}");
	CHECK_INT(tf_replica_apply_push_reply(a, T0, buf, strlen(buf), &err),
		  TF_EPROTO);
	snprintf(buf, sizeof buf,
		 "{\"ack\":4,\"protocol_version\":1,\"results\":[{\"cmd_id\":"
		 "\"01900000-0000-7000-8000-000000000001\",\"seq\":4,"
		 "\"status\":\"applied\"}],\"schema_version\":1,"
		 "\"server_time\":0}");
	CHECK_INT(tf_replica_apply_push_reply(a, T0, buf, strlen(buf), &err),
		  TF_EPROTO);
	CHECK_STR(err.where, "results[0]");
	snprintf(buf, sizeof buf,
		 "{\"ack\":3,\"protocol_version\":1,\"results\":[{\"cmd_id\":"
		 "\"01900000-0000-7000-8000-000000000001\",\"seq\":6,"
		 "\"status\":\"applied\"}],\"schema_version\":1,"
		 "\"server_time\":0}");
	CHECK_INT(tf_replica_apply_push_reply(a, T0, buf, strlen(buf), &err),
		  TF_EPROTO);
	snprintf(buf, sizeof buf,
		 "{\"ack\":3,\"protocol_version\":1,\"results\":[],"
		 "\"schema_version\":5,\"server_time\":0}");
	CHECK_INT(tf_replica_apply_push_reply(a, T0, buf, strlen(buf), &err),
		  TF_EVERSION);
	CHECK_INT(tf_replica_apply_push_reply(a, -5, buf, strlen(buf), &err),
		  TF_ERANGE);
	after = save_str(a);
	CHECK(before && after && strcmp(before, after) == 0);
	free(after);
	/* And the replica still works. */
	CHECK_INT(MUT(a, T0 + 20 * MIN, "incident", NULL, TF_OP_CREATE, NULL,
		      "{\"fields\":{}}"),
		  0);
	{
		char *p = pull_once(sv, a, "mdt-2a12", T0 + 20 * MIN, 0, &len);
		CHECK_INT(tf_replica_apply_pull(a, T0 + 20 * MIN, p, len, &err),
			  0);
		free(p);
	}
	free(before);
	tf_replica_free(a);
	tf_sim_free(sv);
}

/* Adds work that stays pending, so that views must be replayed. */
static void prep_pending(tf_replica *b, const char *id)
{
	CHECK_INT(MUT(b, T0 + 8 * MIN, "incident", NULL, TF_OP_CREATE, NULL,
		      "{\"fields\":{\"priority\":5}}"),
		  0);
	if (id)
		CHECK_INT(MUT(b, T0 + 8 * MIN, "incident", id, TF_OP_APPEND,
			      NULL,
			      "{\"field\":\"notes\",\"body\":{\"text\":"
			      "\"still pending\"}}"),
			  0);
}

/*
 * Loads `saved`, adds pending work, arms fault point k and applies the
 * push reply (if any) and the pull page (if any), for k = 1, 2, ... until
 * one run succeeds.  Every failed run must leave the replica failed:
 * TF_ESTATE for everything.  Returns the number of failed runs.
 */
static size_t fault_runs(const char *saved, const char *id, int64_t now,
			 const char *reply, size_t rlen, const char *page,
			 size_t plen)
{
	size_t failures = 0;
	tf_replica *b;
	tf_buf out;
	tf_err err;
	long k;

	tf_buf_init(&out);
	for (k = 1; k < 500; k++) {
		int rc = 0;
		b = NULL;
		CHECK_INT(
			tf_replica_load(schema, saved, strlen(saved), &b, &err),
			0);
		if (b == NULL)
			break;
		prep_pending(b, id);
		tf_replica_fault_inject(b, k);
		if (reply)
			rc = tf_replica_apply_push_reply(b, now, reply, rlen,
							 &err);
		if (rc == 0 && page)
			rc = tf_replica_apply_pull(b, now, page, plen, &err);
		if (rc == 0) {
			tf_replica_free(b);
			break;
		}
		failures++;
		CHECK_INT(rc, TF_ENOMEM);
		CHECK_INT(tf_replica_apply_pull(b, now, "{}", 2, &err),
			  TF_ESTATE);
		CHECK_INT(err.code, TF_ESTATE);
		CHECK_INT(tf_replica_apply_push_reply(b, now, "{}", 2, &err),
			  TF_ESTATE);
		CHECK_INT(MUT(b, now, "incident", NULL, TF_OP_CREATE, NULL,
			      "{\"fields\":{}}"),
			  TF_ESTATE);
		tf_buf_reset(&out);
		CHECK_INT(tf_replica_save(b, &out), TF_ESTATE);
		CHECK_INT(tf_replica_push_request(b, 10, &out), TF_ESTATE);
		CHECK_INT(tf_replica_list_json(b, NULL, &out), TF_ESTATE);
		CHECK_INT(tf_replica_notices_json(b, &out), TF_ESTATE);
		CHECK_INT(tf_replica_summary_json(b, now, &out), TF_ESTATE);
		CHECK_INT(tf_replica_view_json(b, id ? id : "x", &out),
			  TF_ESTATE);
		CHECK_INT(tf_replica_ack_notice(b, "x"), TF_ESTATE);
		CHECK_INT(out.len, 0);
		CHECK(tf_replica_get(b, id ? id : "x") == NULL);
		tf_replica_free(b);
	}
	CHECK(k < 500);
	tf_buf_free(&out);
	return failures;
}

/*
 * Drives updates through every fault point: each run either succeeds or
 * leaves the replica failed (TF_ESTATE for everything), never half
 * usable, and never leaks (LeakSanitizer in the SAN build).
 */
TEST(sticky_failure_fault_points)
{
	tf_sim *sv = mk_server();
	tf_replica *a = busy_replica(sv), *b;
	char *saved = save_str(a), *page, *reply, id[TF_UUID_LEN + 1];
	size_t plen, rlen, failures = 0, i;
	tf_buf out;
	tf_err err;

	tf_buf_init(&out);
	/* (1) A push reply and a final page dropping acked commands. */
	{
		tf_replica *d = mk("console-sup", "sgt");
		SYNC(sv, d, "console-sup", T0 + 6 * MIN);
		tf_replica_list_json(d, "incident", &out);
		memcpy(id, out.data + 2, TF_UUID_LEN);
		id[TF_UUID_LEN] = '\0';
		MUT(d, T0 + 7 * MIN, "incident", id, TF_OP_SET, NULL,
		    "{\"fields\":{\"type_code\":\"later\"}}");
		SYNC(sv, d, "console-sup", T0 + 7 * MIN);
		tf_replica_free(d);
	}
	reply = push_once(sv, a, T0 + 8 * MIN, &rlen);
	page = pull_once(sv, a, "mdt-2a12", T0 + 8 * MIN, 0, &plen);
	CHECK(reply != NULL && page != NULL);
	failures +=
		fault_runs(saved, id, T0 + 8 * MIN, reply, rlen, page, plen);
	/* Loading the last saved bytes brings it back. */
	b = NULL;
	CHECK_INT(tf_replica_load(schema, saved, strlen(saved), &b, &err), 0);
	CHECK_INT(
		tf_replica_apply_push_reply(b, T0 + 8 * MIN, reply, rlen, &err),
		0);
	CHECK_INT(tf_replica_apply_pull(b, T0 + 8 * MIN, page, plen, &err), 0);
	tf_replica_free(b);
	free(saved);
	free(page);
	free(reply);
	tf_replica_free(a);

	/* (2) A clock_skew reply re-stamping many pending commands. */
	a = mk("mdt-2a14", "brooks");
	for (i = 0; i < 4; i++) {
		char rid[TF_UUID_LEN + 1];
		CREATE(a, T0 + 10 * MIN + 90 * SEC, "incident", rid,
		       "{\"fields\":{\"priority\":2}}");
		MUT(a, T0 + 10 * MIN + 90 * SEC, "incident", rid, TF_OP_APPEND,
		    NULL, "{\"field\":\"notes\",\"body\":{\"text\":\"x\"}}");
	}
	saved = save_str(a);
	reply = push_once(sv, a, T0 + 10 * MIN, &rlen);
	CHECK(reply && strstr(reply, "clock_skew") != NULL);
	failures += fault_runs(saved, NULL, T0 + 10 * MIN + 90 * SEC, reply,
			       rlen, NULL, 0);
	free(saved);
	free(reply);
	tf_replica_free(a);

	/* (3) Supersede notices raised while the ack drops commands. */
	{
		tf_replica *o = NULL, *d = mk("console-sup", "sgt");
		char *s2;
		tf_sim *sv2 = mk_server();
		char rid[TF_UUID_LEN + 1];
		o = mk("mdt-2a12", "alvarez");
		CREATE(d, T0, "incident", rid,
		       "{\"fields\":{\"priority\":2,\"type_code\":\"a\"}}");
		SYNC(sv2, d, "console-sup", T0);
		SYNC(sv2, o, "mdt-2a12", T0);
		MUT(o, T0 + MIN, "incident", rid, TF_OP_SET, NULL,
		    "{\"fields\":{\"priority\":3,\"type_code\":\"b\","
		    "\"status\":\"active\",\"disposition\":\"x\"}}");
		MUT(d, T0 + 2 * MIN, "incident", rid, TF_OP_SET, NULL,
		    "{\"fields\":{\"priority\":4,\"type_code\":\"c\","
		    "\"status\":\"closed\",\"disposition\":\"y\"}}");
		SYNC(sv2, d, "console-sup", T0 + 2 * MIN);
		reply = push_once(sv2, o, T0 + 3 * MIN, &rlen);
		CHECK_INT(tf_replica_apply_push_reply(o, T0 + 3 * MIN, reply,
						      rlen, &err),
			  0);
		free(reply);
		s2 = save_str(o);
		page = pull_once(sv2, o, "mdt-2a12", T0 + 3 * MIN, 0, &plen);
		failures +=
			fault_runs(s2, rid, T0 + 3 * MIN, NULL, 0, page, plen);
		CHECK_INT(tf_replica_apply_pull(o, T0 + 3 * MIN, page, plen,
						&err),
			  0);
		CHECK_INT(count_notices(o, "superseded"), 4);
		free(page);
		free(s2);
		tf_replica_free(o);
		tf_replica_free(d);
		tf_sim_free(sv2);
	}
	/* (4) The same notices raised by a push reply: the result of a
	 * command a final ack already passed arrives late and settles it. */
	{
		tf_replica *o = mk("mdt-2a12", "alvarez");
		tf_replica *d = mk("console-sup", "sgt");
		tf_sim *sv2 = mk_server();
		char rid[TF_UUID_LEN + 1], *s2;
		CREATE(d, T0, "incident", rid,
		       "{\"fields\":{\"priority\":2,\"type_code\":\"a\"}}");
		SYNC(sv2, d, "console-sup", T0);
		SYNC(sv2, o, "mdt-2a12", T0);
		MUT(o, T0 + MIN, "incident", rid, TF_OP_SET, NULL,
		    "{\"fields\":{\"priority\":3,\"type_code\":\"b\","
		    "\"status\":\"active\",\"disposition\":\"x\"}}");
		MUT(d, T0 + 2 * MIN, "incident", rid, TF_OP_SET, NULL,
		    "{\"fields\":{\"priority\":4,\"type_code\":\"c\","
		    "\"status\":\"closed\",\"disposition\":\"y\"}}");
		SYNC(sv2, d, "console-sup", T0 + 2 * MIN);
		reply = push_once(sv2, o, T0 + 3 * MIN, &rlen);
		free(reply); /* lost */
		CHECK(pull_all(sv2, o, "mdt-2a12", T0 + 3 * MIN, 0) > 0);
		CHECK_INT(count_notices(o, NULL), 0);
		s2 = save_str(o);
		reply = push_once(sv2, o, T0 + 4 * MIN, &rlen);
		CHECK(reply && strstr(reply, "duplicate") != NULL);
		failures +=
			fault_runs(s2, rid, T0 + 4 * MIN, reply, rlen, NULL, 0);
		CHECK_INT(tf_replica_apply_push_reply(o, T0 + 4 * MIN, reply,
						      rlen, &err),
			  0);
		CHECK_INT(count_notices(o, "superseded"), 4);
		CHECK_INT(tf_replica_unsent(o), 0);
		free(reply);
		free(s2);
		tf_replica_free(o);
		tf_replica_free(d);
		tf_sim_free(sv2);
	}
	CHECK(failures >= 20);
	tf_buf_free(&out);
	tf_sim_free(sv);
}

TEST(many_pending_over_many_records)
{
	/* 10,000 records and 2,000 pending commands over them: a full page
	 * rebuilds only what the pending commands touch (timed in the
	 * report, not here). */
	tf_sim *sv = mk_server();
	tf_replica *svc = mk("cad-svc", "svc"), *a = mk("mdt-2a12", "alvarez");
	char(*ids)[TF_UUID_LEN + 1] = malloc(10000 * sizeof *ids);
	tf_replica_summary s;
	size_t i;

	for (i = 0; i < 10000; i++)
		CREATE(svc, T0, "unit", ids[i],
		       "{\"fields\":{\"status\":\"available\"}}");
	sync_at(sv, svc, "cad-svc", T0, 0, 5000, __LINE__);
	sync_at(sv, a, "mdt-2a12", T0, 0, 5000, __LINE__);
	for (i = 0; i < 2000; i++)
		CHECK_INT(MUT(a, T0 + MIN + (int64_t)i, "unit",
			      ids[(i * 7919) % 10000], TF_OP_SET, NULL,
			      "{\"fields\":{\"status\":\"busy\"}}"),
			  0);
	tf_replica_summary_get(a, T0 + 2 * MIN, &s);
	CHECK_INT(s.pending, 2000);
	CHECK_INT(s.records, 10000);
	sync_at(sv, a, "mdt-2a12", T0 + 2 * MIN, 0, 5000, __LINE__);
	tf_replica_summary_get(a, T0 + 2 * MIN, &s);
	CHECK_INT(s.pending, 0);
	CHECK(converged(sv, a, "mdt-2a12"));
	free(ids);
	tf_replica_free(svc);
	tf_replica_free(a);
	tf_sim_free(sv);
}

/* ------------------------------------------------------------ scenario */

/*
 * Incidents are seen by units assigned to them (the assigned_unit rule)
 * and by dispatch; everything else by everyone.
 */
static int cad_scope(void *ctx, const char *device, const tf_json *rec)
{
	const tf_json *s;
	char unit[16];
	size_t i;

	(void)ctx;
	if (strcmp(tf_record_entity(rec), "incident") != 0 ||
	    strncmp(device, "mdt-", 4) != 0)
		return 1;
	snprintf(unit, sizeof unit, "%s", device + 4);
	for (i = 0; unit[i]; i++)
		if (unit[i] >= 'a' && unit[i] <= 'z')
			unit[i] = (char)(unit[i] - 'a' + 'A');
	s = tf_json_object_get(tf_record_field(rec, "assigned_units"), "s");
	for (i = 0; s && i < s->len; i++) {
		const char *v = tf_json_get_str(s->u.items[i], "v", NULL);
		if (v && strcmp(v, unit) == 0)
			return 1;
	}
	return 0;
}

/* The tags of set element `value` in field `field` of rec, as JSON. */
static void tags_of(const tf_json *rec, const char *field, const char *value,
		    tf_buf *out)
{
	const tf_json *s = tf_json_object_get(tf_record_field(rec, field), "s");
	size_t i;

	for (i = 0; s && i < s->len; i++) {
		const char *v = tf_json_get_str(s->u.items[i], "v", NULL);
		if (v && strcmp(v, value) == 0) {
			tf_json_write(tf_json_object_get(s->u.items[i], "tags"),
				      out);
			return;
		}
	}
	tf_buf_puts(out, "[]");
}

/* The entries of log field `field` of rec. */
static const tf_json *log_entries(const tf_json *rec, const char *field)
{
	return tf_json_object_get(tf_record_field(rec, field), "e");
}

static int64_t entry_ms(const tf_json *e)
{
	tf_hlc h = 0;
	const char *t = tf_json_get_str(e, "t", NULL);

	if (t)
		tf_hlc_parse(t, strlen(t), &h);
	return TF_HLC_MS(h);
}

TEST(scenario_dispatch)
{
	tf_sim *sv = mk_server();
	tf_replica *dana = mk("console-dana", "dana");
	tf_replica *a12 = mk("mdt-2a12", "alvarez");
	tf_replica *a14 = mk("mdt-2a14", "brooks");
	tf_replica *svc = mk("cad-svc", "cadsvc");
	const int64_t fast = 40 * SEC; /* 2A12's clock */
	const char *remarks0 = "Caller reports a loud argument next door.";
	const char *remarks12 =
		"Caller reports a loud argument next door. Female victim, DV.";
	const char *remarks_d =
		"Caller reports a loud argument next door. Weapon possible.";
	char inc[TF_UUID_LEN + 1], inc2[TF_UUID_LEN + 1];
	char u12[TF_UUID_LEN + 1], u14[TF_UUID_LEN + 1];
	char bolo[TF_UUID_LEN + 1], look[TF_UUID_LEN + 1];
	char thr[TF_UUID_LEN + 1], rep[TF_UUID_LEN + 1];
	char cmds[16][TF_UUID_LEN + 1], edit12[TF_UUID_LEN + 1];
	char st_avail[TF_UUID_LEN + 1], st_dana[TF_UUID_LEN + 1];
	size_t ncmds = 0, i;
	const tf_json *rec, *e;
	tf_json *n;
	tf_buf tags;
	int64_t t12;

	tf_buf_init(&tags);
	tf_sim_set_visible(sv, cad_scope, NULL);
	tf_replica_set_allow_ref(svc, 1);

	/* Minute 0: units, the incident, a BOLO; the cached plate lookup. */
	CREATE(dana, T0, "unit", u12,
	       "{\"fields\":{\"status\":\"dispatched\"}}");
	CREATE(dana, T0, "unit", u14,
	       "{\"fields\":{\"status\":\"dispatched\"}}");
	CHECK_INT(CREATE(dana, T0, "incident", inc,
			 "{\"fields\":{\"type_code\":\"disturbance\","
			 "\"priority\":2,\"status\":\"dispatched\","
			 "\"remarks\":\"%s\",\"assigned_units\":[\"2A12\","
			 "\"2A14\"]}}",
			 remarks0),
		  0);
	CHECK_INT(CREATE(dana, T0, "bolo", bolo,
			 "{\"fields\":{\"kind\":\"vehicle\",\"status\":"
			 "\"active\",\"descriptors\":{\"plate\":\"ABC123\"}}}"),
		  0);
	SYNC(sv, dana, "console-dana", T0);
	CHECK_INT(CREATE(svc, T0, "lookup", look,
			 "{\"fields\":{\"requested_by\":\"alvarez\"}}"),
		  0);
	CHECK_INT(MUT(svc, T0, "lookup", look, TF_OP_REF_SET, NULL,
		      "{\"fields\":{\"result\":{\"v\":{\"status\":\"hit\","
		      "\"summary\":\"BOLO active: ABC123\"},\"fetched_at\":"
		      "%lld,\"ttl\":%lld}}}",
		      (long long)(T0 - 36 * MIN), (long long)(30 * MIN)),
		  0);
	SYNC(sv, svc, "cad-svc", T0);
	SYNC_SKEW(sv, a12, "mdt-2a12", T0 + MIN, fast);
	SYNC(sv, a14, "mdt-2a14", T0 + MIN);
	CHECK_INT(tf_replica_state(a12, inc), TF_SYNC_SYNCED);
	CHECK_INT(tf_replica_state(a14, inc), TF_SYNC_SYNCED);

	/* Both go en route; 2A12 arrives. */
	MUT(a12, T0 + MIN + fast, "unit", u12, TF_OP_SET, NULL,
	    "{\"fields\":{\"status\":\"enroute\"}}");
	MUT(a14, T0 + MIN, "unit", u14, TF_OP_SET, NULL,
	    "{\"fields\":{\"status\":\"enroute\"}}");
	SYNC(sv, a14, "mdt-2a14", T0 + MIN);
	MUT(a12, T0 + 3 * MIN + fast, "unit", u12, TF_OP_SET, NULL,
	    "{\"fields\":{\"status\":\"onscene\"}}");
	SYNC_SKEW(sv, a12, "mdt-2a12", T0 + 3 * MIN, fast);

	/* Minute 4: 2A12 loses signal.  Offline, on its fast clock: */
	MUT(a12, T0 + 5 * MIN + fast, "incident", inc, TF_OP_APPEND,
	    cmds[ncmds++],
	    "{\"field\":\"notes\",\"body\":{\"text\":"
	    "\"Contacted caller at the door.\"}}");
	MUT(a12, T0 + 6 * MIN + fast, "incident", inc, TF_OP_APPEND,
	    cmds[ncmds++],
	    "{\"field\":\"notes\",\"body\":{\"text\":"
	    "\"Subject located in the garage.\"}}");
	/* The plate check runs against the cached list: stale. */
	CHECK_INT(tf_record_ref_stale(tf_replica_get(a12, look), "result",
				      T0 + 6 * MIN + 30 * SEC),
		  1);
	MUT(a12, T0 + 6 * MIN + 30 * SEC + fast, "lookup", look, TF_OP_APPEND,
	    cmds[ncmds++],
	    "{\"field\":\"query_audit\",\"body\":{\"query\":\"ABC123\","
	    "\"source\":\"bolo\",\"cached\":true,\"cache_fetched_at\":%lld,"
	    "\"stale\":true,\"hit\":true}}",
	    (long long)(T0 - 36 * MIN));
	MUT(a12, T0 + 7 * MIN + fast, "incident", inc, TF_OP_SET, cmds[ncmds++],
	    "{\"fields\":{\"type_code\":\"dv\"}}");
	MUT(a12, T0 + 7 * MIN + fast, "incident", inc, TF_OP_EDIT_TEXT, edit12,
	    "{\"field\":\"remarks\",\"base_rev\":1,\"base\":\"%s\","
	    "\"text\":\"%s\"}",
	    remarks0, remarks12);
	memcpy(cmds[ncmds++], edit12, sizeof edit12);
	CHECK_INT(CREATE(a12, T0 + 8 * MIN + fast, "thread", thr,
			 "{\"fields\":{\"subject\":\"Backup\","
			 "\"participants\":[\"alvarez\",\"brooks\"]}}"),
		  0);
	MUT(a12, T0 + 8 * MIN + fast, "thread", thr, TF_OP_APPEND,
	    cmds[ncmds++],
	    "{\"field\":\"messages\",\"body\":{\"body\":"
	    "\"Need a second unit at 1234?\",\"to\":[\"brooks\"]}}");
	CHECK_INT(CREATE(a12, T0 + 8 * MIN + 30 * SEC + fast, "report", rep,
			 "{\"fields\":{\"author\":\"alvarez\","
			 "\"incident_ref\":\"1234\",\"narrative\":\"On arrival "
			 "I heard shouting from the garage.\"}}"),
		  0);
	MUT(a12, T0 + 9 * MIN + fast, "unit", u12, TF_OP_SET, st_avail,
	    "{\"fields\":{\"status\":\"available\"}}");
	memcpy(cmds[ncmds++], st_avail, sizeof st_avail);
	CHECK_INT(tf_replica_state(a12, inc), TF_SYNC_PENDING);

	/* Meanwhile, online. */
	MUT(dana, T0 + 5 * MIN, "incident", inc, TF_OP_SET, NULL,
	    "{\"fields\":{\"priority\":1}}");
	MUT(dana, T0 + 6 * MIN + 20 * SEC, "incident", inc, TF_OP_APPEND, NULL,
	    "{\"field\":\"notes\",\"body\":{\"text\":"
	    "\"Caller called back: weapon mentioned.\"}}");
	MUT(dana, T0 + 8 * MIN, "incident", inc, TF_OP_SET, NULL,
	    "{\"fields\":{\"type_code\":\"assault - weapon\"}}");
	/* 2A14 moves to a new incident. */
	tags_of(tf_replica_get(dana, inc), "assigned_units", "2A14", &tags);
	CHECK_INT(MUT(dana, T0 + 8 * MIN, "incident", inc, TF_OP_SET_REMOVE,
		      NULL,
		      "{\"field\":\"assigned_units\",\"value\":\"2A14\","
		      "\"tags\":%s}",
		      tf_buf_cstr(&tags)),
		  0);
	CHECK_INT(CREATE(dana, T0 + 8 * MIN, "incident", inc2,
			 "{\"fields\":{\"type_code\":\"traffic\","
			 "\"priority\":3,\"assigned_units\":[\"2A14\"]}}"),
		  0);
	SYNC(sv, dana, "console-dana", T0 + 8 * MIN);
	SYNC(sv, a14, "mdt-2a14", T0 + 9 * MIN);
	CHECK_INT(tf_replica_state(a14, inc), TF_SYNC_NONE);
	CHECK_INT(tf_replica_state(a14, inc2), TF_SYNC_SYNCED);
	/* Missed check-in: dispatch sets 2A12 on scene, no contact. */
	MUT(dana, T0 + 10 * MIN, "unit", u12, TF_OP_SET, st_dana,
	    "{\"fields\":{\"status\":\"onscene\",\"status_note\":"
	    "\"no contact\"}}");
	MUT(dana, T0 + 10 * MIN + 30 * SEC, "incident", inc, TF_OP_EDIT_TEXT,
	    NULL,
	    "{\"field\":\"remarks\",\"base_rev\":1,\"base\":\"%s\","
	    "\"text\":\"%s\"}",
	    remarks0, remarks_d);
	CHECK_INT(MUT(dana, T0 + 11 * MIN, "bolo", bolo, TF_OP_SET, NULL,
		      "{\"fields\":{\"status\":\"cancelled\"}}"),
		  0);
	SYNC(sv, dana, "console-dana", T0 + 11 * MIN);

	/* Minute 12: 2A12 reconnects, its clock still 40 s fast. */
	t12 = T0 + 12 * MIN;
	SYNC_SKEW(sv, a12, "mdt-2a12", t12, fast);
	SYNC(sv, dana, "console-dana", t12 + 10 * SEC);
	SYNC(sv, a14, "mdt-2a14", t12 + 10 * SEC);

	/* Nothing lost: every offline command applied (or conflicted). */
	for (i = 0; i < ncmds; i++) {
		tf_status st = TF_ST_REJECTED;
		CHECK_INT(tf_sim_cmd_result(sv, cmds[i], &st, NULL), 0);
		CHECK(st == TF_ST_APPLIED || st == TF_ST_CONFLICT);
	}
	CHECK_INT(tf_replica_unsent(a12), 0);
	CHECK(tf_sim_record(sv, rep) != NULL);
	CHECK(tf_sim_record(sv, thr) != NULL);

	/* Notes interleave by clock: 5:40 2A12, 6:20 Dana, 6:40 2A12. */
	rec = tf_sim_record(sv, inc);
	e = log_entries(rec, "notes");
	CHECK(e && e->len == 3);
	if (e && e->len == 3) {
		CHECK_STR(tf_json_get_str(e->u.items[0], "by", NULL),
			  "alvarez");
		CHECK_STR(tf_json_get_str(e->u.items[1], "by", NULL), "dana");
		CHECK_STR(tf_json_get_str(e->u.items[2], "by", NULL),
			  "alvarez");
		CHECK_INT(entry_ms(e->u.items[0]), T0 + 5 * MIN + fast);
		CHECK_INT(entry_ms(e->u.items[1]), T0 + 6 * MIN + 20 * SEC);
		CHECK_INT(entry_ms(e->u.items[2]), T0 + 6 * MIN + fast);
	}

	/* type: Dana's later stamp wins; 2A12 sees a supersede notice. */
	CHECK_STR(tf_json_str(tf_record_value(rec, "type_code"), NULL),
		  "assault - weapon");
	n = find_notice(a12, "superseded", "type_code");
	CHECK(n != NULL);
	if (n) {
		CHECK_STR(tf_json_get_str(n, "mine", NULL), "dv");
		CHECK_STR(tf_json_get_str(n, "winner", NULL),
			  "assault - weapon");
		CHECK_STR(tf_json_get_str(n, "winner_by", NULL), "dana");
	}
	tf_json_free(n);
	CHECK_INT(count_notices(dana, NULL), 0);

	/* remarks: a conflict with both texts, on every side. */
	CHECK_STR(view_str(a12, inc, "remarks"), remarks_d);
	CHECK_STR(conflict_str(rec, "remarks", "head"), remarks_d);
	CHECK_STR(conflict_str(rec, "remarks", "head_by"), "dana");
	CHECK_STR(conflict_str(rec, "remarks", "proposed"), remarks12);
	CHECK_STR(conflict_str(rec, "remarks", "by"), "alvarez");
	CHECK_INT(tf_replica_state(a12, inc), TF_SYNC_CONFLICT);
	CHECK_INT(tf_replica_state(dana, inc), TF_SYNC_CONFLICT);

	/* 2A14's removal is not undone by the stale offline copy. */
	{
		tf_buf t;
		tf_buf_init(&t);
		tags_of(rec, "assigned_units", "2A14", &t);
		CHECK_STR(tf_buf_cstr(&t), "[]");
		tf_buf_reset(&t);
		tags_of(tf_replica_get(a12, inc), "assigned_units", "2A14", &t);
		CHECK_STR(tf_buf_cstr(&t), "[]");
		tf_buf_free(&t);
	}
	CHECK_INT(tf_replica_state(a14, inc), TF_SYNC_NONE);
	CHECK_INT(tf_replica_state(a14, inc2), TF_SYNC_SYNCED);

	/* 2A12's status resolves by clock; both changes in the history. */
	rec = tf_sim_record(sv, u12);
	CHECK_STR(tf_json_str(tf_record_value(rec, "status"), NULL), "onscene");
	e = log_entries(rec, "status_history");
	{
		int saw_avail = 0, saw_dana = 0;
		for (i = 0; e && i < e->len; i++) {
			const char *id =
				tf_json_get_str(e->u.items[i], "id", NULL);
			const tf_json *v =
				tf_json_object_get(e->u.items[i], "v");
			const char *val = tf_json_get_str(v, "value", NULL);
			if (id && strcmp(id, st_avail) == 0 && val &&
			    strcmp(val, "available") == 0)
				saw_avail = 1;
			if (id && strcmp(id, st_dana) == 0 && val &&
			    strcmp(val, "onscene") == 0)
				saw_dana = 1;
		}
		CHECK(saw_avail);
		CHECK(saw_dana);
	}
	n = find_notice(a12, "superseded", "status");
	CHECK(n != NULL);
	tf_json_free(n);

	/* The message: sent 08 (its stamp), delivered 12 (server time). */
	e = log_entries(tf_sim_record(sv, thr), "messages");
	CHECK(e && e->len == 1);
	if (e && e->len == 1) {
		int64_t srv = 0;
		CHECK_INT(entry_ms(e->u.items[0]), T0 + 8 * MIN + fast);
		CHECK_INT(
			tf_json_int64(tf_json_object_get(e->u.items[0], "srv"),
				      &srv),
			0);
		CHECK_INT(srv, t12);
	}

	/* The BOLO is cancelled in 2A12's view now; its plate check stays
	 * on record as made against a stale cache. */
	CHECK_STR(view_str(a12, bolo, "status"), "cancelled");
	e = log_entries(tf_replica_get(a12, look), "query_audit");
	CHECK(e && e->len == 1);
	if (e && e->len == 1)
		CHECK(tf_json_object_get(tf_json_object_get(e->u.items[0], "v"),
					 "stale")
			      ->type == TF_JSON_TRUE);
	/* The cache refreshes. */
	CHECK_INT(MUT(svc, t12, "lookup", look, TF_OP_REF_SET, NULL,
		      "{\"fields\":{\"result\":{\"v\":{\"status\":\"no_hit\"},"
		      "\"fetched_at\":%lld,\"ttl\":%lld}}}",
		      (long long)t12, (long long)(30 * MIN)),
		  0);
	SYNC(sv, svc, "cad-svc", t12);
	SYNC_SKEW(sv, a12, "mdt-2a12", t12 + MIN, fast);
	CHECK_INT(tf_record_ref_stale(tf_replica_get(a12, look), "result",
				      t12 + MIN),
		  0);

	/* The remarks are reconciled side by side by 2A12. */
	{
		const tf_json *detail, *disc;
		char res[TF_UUID_LEN + 1];
		tf_status st;
		CHECK_INT(MUT(a12, t12 + 2 * MIN + fast, "incident", inc,
			      TF_OP_RESOLVE, res,
			      "{\"field\":\"remarks\",\"conflict\":\"%s\","
			      "\"head_rev\":2,\"text\":\"%s Weapon possible.\","
			      "\"choice\":\"custom\"}",
			      edit12, remarks12),
			  0);
		SYNC_SKEW(sv, a12, "mdt-2a12", t12 + 2 * MIN, fast);
		SYNC(sv, dana, "console-dana", t12 + 2 * MIN);
		CHECK_INT(tf_sim_cmd_result(sv, res, &st, &detail), 0);
		CHECK_INT(st, TF_ST_APPLIED);
		disc = tf_json_object_get(detail, "discarded");
		CHECK(disc && disc->len == 2);
		CHECK_INT(tf_replica_state(dana, inc), TF_SYNC_SYNCED);
	}
	/* Acknowledged, 2A12's notices go and everything is synced. */
	for (i = 0; i < 20 && count_notices(a12, NULL) > 0; i++) {
		tf_buf nb;
		tf_json *arr = NULL;
		tf_buf_init(&nb);
		tf_replica_notices_json(a12, &nb);
		tf_json_parse(nb.data, nb.len, NULL, &arr, NULL);
		CHECK_INT(tf_replica_ack_notice(
				  a12,
				  tf_json_get_str(arr->u.items[0], "id", NULL)),
			  0);
		tf_json_free(arr);
		tf_buf_free(&nb);
	}
	CHECK_INT(tf_replica_state(a12, inc), TF_SYNC_SYNCED);
	CHECK_INT(tf_replica_state(a12, u12), TF_SYNC_SYNCED);
	SYNC(sv, a14, "mdt-2a14", t12 + 3 * MIN);
	CHECK(converged(sv, a12, "mdt-2a12"));
	CHECK(converged(sv, dana, "console-dana"));
	CHECK(converged(sv, a14, "mdt-2a14"));
	tf_buf_free(&tags);
	tf_replica_free(dana);
	tf_replica_free(a12);
	tf_replica_free(a14);
	tf_replica_free(svc);
	tf_sim_free(sv);
}

int main(int argc, char **argv)
{
	(void)argc;
	schema = load_schema();
	RUN(sync_state_names);
	RUN(new_refuses_bad_ids);
	RUN(mutate_create_view_and_summary);
	RUN(mutate_refusals_change_nothing);
	RUN(online_only_refused_offline);
	RUN(local_transition_refused_not_queued);
	RUN(push_pull_cycle);
	RUN(lost_reply_resend_is_duplicate);
	RUN(rejection_notice_until_acked);
	RUN(rejection_reply_lost_then_ack);
	RUN(lost_lww_reply_then_ack_still_superseded);
	RUN(reply_ack_past_its_results);
	RUN(clock_skew_restamps);
	RUN(supersede_notice_until_acked);
	RUN(own_later_write_is_no_supersede);
	RUN(text_conflict_both_sides);
	RUN(purge_and_pending);
	RUN(reset_drops_base_keeps_pending);
	RUN(partial_pages_ack_on_last);
	RUN(save_load_round_trip);
	RUN(load_refuses_bad_bytes);
	RUN(bad_input_changes_nothing);
	RUN(sticky_failure_fault_points);
	RUN(many_pending_over_many_records);
	RUN(scenario_dispatch);
	tf_schema_free(schema);
	return tf_test_finish(argv[0]);
}

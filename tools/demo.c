/*
 * demo.c - plays the patrol-car scenario of the project's domain notes
 * through the tenfour core and prints what happened (`make demo`).
 *
 * The server is simulated in-process by the core's record store
 * (store.apply with authority: the merge tenfourd runs); unit 2A12's MDT is
 * a replica (replica.*).  Everything goes through the core's JSON API
 * (include/tenfour/api.h), the calls a browser makes through tenfour.wasm;
 * the audit entry at the end is written with tf_audit_write.  Time is
 * simulated: minute 0 is T0, and 2A12's clock runs 40 s fast.
 *
 *   demo [schemas/cad.json]      (run from the repository root)
 */
#include "tenfour/api.h"
#include "tenfour/audit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1764000000000LL
#define MIN 60000LL
#define SKEW 40000LL /* 2A12's clock runs 40 s fast */
#define MAX_RECORDS 16
#define MAX_INPUT ((size_t)1 << 20)

static tf_api *api;
static tf_buf out;
static uint64_t id_counter;

/* Records the simulated server holds, for building pull pages. */
static char server_ids[MAX_RECORDS][TF_UUID_LEN + 1];
static size_t nserver;

/* Command sequence numbers per device on the server side. */
static struct {
	const char *device;
	uint64_t seq;
} seqs[8];

static _Noreturn void fail(const char *what)
{
	fprintf(stderr, "demo: %s: %s\n", what, tf_buf_cstr(&out));
	exit(1);
}

/*
 * Calls method with a printf-formatted input; returns the parsed output
 * document (caller frees).  An error output ends the demo unless
 * allow_error is set.
 */
static tf_json *call(int allow_error, const char *method, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

static tf_json *call(int allow_error, const char *method, const char *fmt, ...)
{
	static char in[MAX_INPUT];
	tf_json *doc = NULL;
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(in, sizeof in, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof in)
		fail(method);
	rc = tf_api_call(api, method, strlen(method), in, (size_t)n, &out);
	if (rc && !allow_error)
		fail(method);
	if (tf_json_parse(out.data, out.len, NULL, &doc, NULL) != 0)
		fail(method);
	return doc;
}

static const tf_json *ok(const tf_json *doc)
{
	return tf_json_object_get(doc, "ok");
}

/* Path lookup: get(v, "f", "status", "v", NULL). */
static const tf_json *get(const tf_json *v, ...)
{
	const char *k;
	va_list ap;

	va_start(ap, v);
	while (v && (k = va_arg(ap, const char *)) != NULL)
		v = tf_json_object_get(v, k);
	va_end(ap);
	return v;
}

static const char *str(const tf_json *v)
{
	const char *s = v ? tf_json_str(v, NULL) : NULL;

	return s ? s : "(none)";
}

/* "mm:ss" after minute 0 ("-mm:ss" before), for a time in ms. */
static const char *clock_of(int64_t ms, char buf[16])
{
	int64_t d = (ms - T0) / 1000;
	int neg = d < 0;

	if (neg)
		d = -d;
	snprintf(buf, 16, "%s%02d:%02d", neg ? "-" : "", (int)(d / 60 % 1000),
		 (int)(d % 60));
	return buf;
}

static const char *hlc_clock(const char *hlc, char buf[16])
{
	tf_hlc h = 0;

	tf_hlc_parse(hlc, strlen(hlc), &h);
	return clock_of(TF_HLC_MS(h), buf);
}

static void new_id(int64_t ms, char id[TF_UUID_LEN + 1])
{
	uint8_t rnd[10] = {0};
	int i;

	id_counter++;
	for (i = 0; i < 8; i++)
		rnd[9 - i] = (uint8_t)(id_counter >> (8 * i));
	tf_uuid7(ms, rnd, id);
}

static uint64_t next_seq(const char *device)
{
	size_t i;

	for (i = 0; i < sizeof seqs / sizeof seqs[0] && seqs[i].device; i++) {
		if (strcmp(seqs[i].device, device) == 0)
			return ++seqs[i].seq;
	}
	if (i == sizeof seqs / sizeof seqs[0])
		fail("too many devices");
	seqs[i].device = device;
	return seqs[i].seq = 1;
}

static void remember(const char *id)
{
	size_t i;

	for (i = 0; i < nserver; i++) {
		if (strcmp(server_ids[i], id) == 0)
			return;
	}
	if (nserver == MAX_RECORDS)
		fail("too many records");
	memcpy(server_ids[nserver++], id, TF_UUID_LEN + 1);
}

/*
 * An online user's command, merged on the server at `now` (the user's
 * clock is right).  rid NULL creates a record; its id goes to rid_out.
 * Returns the store.apply result (caller frees).
 */
static tf_json *server(int64_t now, const char *device, const char *user,
		       const char *entity, const char *rid, const char *op,
		       const char *args, char rid_out[TF_UUID_LEN + 1])
{
	char cmd_id[TF_UUID_LEN + 1], id[TF_UUID_LEN + 1];
	char h[TF_HLC_TEXT_LEN + 1];
	tf_json *doc;

	new_id(now, cmd_id);
	if (rid == NULL) {
		new_id(now, id);
		rid = id;
	}
	tf_hlc_format(TF_HLC_MAKE(now, id_counter & 0xff), h);
	doc = call(0, "store.apply",
		   "{\"allow_ref\":%s,\"authority\":true,\"now\":%lld,"
		   "\"command\":{\"args\":%s,\"base\":0,\"cmd_id\":\"%s\","
		   "\"device\":\"%s\",\"entity\":\"%s\",\"hlc\":\"%s\","
		   "\"op\":\"%s\",\"record_id\":\"%s\",\"seq\":%llu,"
		   "\"user\":\"%s\"}}",
		   strcmp(op, "ref_set") == 0 ? "true" : "false",
		   (long long)now, args, cmd_id, device, entity, h, op, rid,
		   (unsigned long long)next_seq(device), user);
	if (strcmp(str(get(ok(doc), "status", NULL)), "applied") != 0)
		fail(op);
	remember(rid);
	if (rid_out)
		memcpy(rid_out, rid, TF_UUID_LEN + 1);
	return doc;
}

static void server_do(int64_t now, const char *device, const char *user,
		      const char *entity, const char *rid, const char *op,
		      const char *args, char rid_out[TF_UUID_LEN + 1])
{
	tf_json_free(server(now, device, user, entity, rid, op, args, rid_out));
}

/* A pull page of every record the server holds (the MDT's scope). */
static void pull(int64_t now, uint64_t ack, const char *cursor)
{
	tf_buf page;
	tf_json *doc;
	size_t i;

	tf_buf_init(&page);
	tf_buf_printf(&page,
		      "{\"now\":%lld,\"replica\":1,\"page\":{\"ack\":"
		      "%llu,\"cursor\":\"%s\",\"has_more\":false,"
		      "\"protocol_version\":1,\"purged\":[],"
		      "\"records\":[",
		      (long long)now, (unsigned long long)ack, cursor);
	for (i = 0; i < nserver; i++) {
		doc = call(0, "store.get", "{\"id\":\"%s\"}", server_ids[i]);
		if (i)
			tf_buf_putc(&page, ',');
		tf_json_write(ok(doc), &page);
		tf_json_free(doc);
	}
	tf_buf_puts(&page, "],\"reset\":false,\"schema_version\":1}}");
	if (page.failed || tf_api_call(api, "replica.apply_pull", 18, page.data,
				       page.len, &out) != 0)
		fail("replica.apply_pull");
	tf_buf_free(&page);
}

/* An offline change on 2A12's MDT (clock 40 s fast). */
static void mdt(int64_t now, const char *entity, const char *rid,
		const char *op, const char *args, char rid_out[TF_UUID_LEN + 1])
{
	char rec_field[80] = "";
	tf_json *doc;

	if (rid)
		snprintf(rec_field, sizeof rec_field, ",\"record_id\":\"%s\"",
			 rid);
	id_counter++;
	doc = call(0, "replica.mutate",
		   "{\"replica\":1,\"now\":%lld,\"random\":\"%020llx%020llx\","
		   "\"entity\":\"%s\",\"op\":\"%s\",\"args\":%s%s}",
		   (long long)(now + SKEW), (unsigned long long)id_counter,
		   (unsigned long long)id_counter, entity, op, args, rec_field);
	if (rid_out)
		memcpy(rid_out, str(get(ok(doc), "record_id", NULL)),
		       TF_UUID_LEN + 1);
	tf_json_free(doc);
}

static tf_json *view(const char *rid)
{
	return call(0, "replica.view", "{\"replica\":1,\"record_id\":\"%s\"}",
		    rid);
}

static char *load_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
	    fread(buf, 1, (size_t)n, f) == (size_t)n) {
		buf[n] = '\0';
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* Prints a log field's entries: time stamp, author, text member. */
static void print_log(const tf_json *rec, const char *field, const char *text)
{
	const tf_json *e = get(rec, "f", field, "e", NULL);
	char t1[16], t2[16];
	size_t i;

	for (i = 0; e && i < e->len; i++) {
		const tf_json *x = e->u.items[i];
		const tf_json *srv = get(x, "srv", NULL);
		int64_t s = 0;
		if (srv)
			tf_json_int64(srv, &s);
		printf("      %s %-8s %s",
		       hlc_clock(str(get(x, "t", NULL)), t1),
		       str(get(x, "by", NULL)), str(get(x, "v", text, NULL)));
		if (srv)
			printf("   (at the server %s)", clock_of(s, t2));
		printf("\n");
	}
}

int main(int argc, char **argv)
{
	const char *schema_path = argc > 1 ? argv[1] : "schemas/cad.json";
	char inc[TF_UUID_LEN + 1], inc2[TF_UUID_LEN + 1], u12[TF_UUID_LEN + 1];
	char u14[TF_UUID_LEN + 1], bolo[TF_UUID_LEN + 1], thr[TF_UUID_LEN + 1];
	char alog[TF_UUID_LEN + 1], lookup[TF_UUID_LEN + 1];
	char rep[TF_UUID_LEN + 1], t1[16], t2[16];
	const tf_json *v, *cmds, *notices, *conf;
	tf_json *doc, *push, *vi;
	tf_buf reply;
	size_t len, i, acked;
	char *schema;

	api = tf_api_new();
	schema = load_file(schema_path, &len);
	if (api == NULL || schema == NULL) {
		fprintf(stderr, "demo: cannot read %s\n", schema_path);
		return 1;
	}
	if (tf_api_call(api, "schema.load", 11, schema, len, &out) != 0)
		fail("schema.load");
	free(schema);

	printf("tenfour demo: dispatcher Dana, officers Alvarez (2A12) and "
	       "Brooks (2A14)\n\n");
	printf("00:00  Dana creates incident #1234 \"Disturbance\", priority "
	       "2, assigns 2A12 and 2A14\n");
	server_do(T0, "console-3", "dana", "incident", NULL, "create",
		  "{\"fields\":{\"type_code\":\"disturbance\",\"priority\":2,"
		  "\"status\":\"dispatched\",\"remarks\":\"Caller reports "
		  "shouting next door.\",\"assigned_units\":[\"2A12\","
		  "\"2A14\"]}}",
		  inc);
	server_do(T0 + 500, "cad-bridge", "service", "incident", inc, "ref_set",
		  "{\"fields\":{\"incident_number\":{\"v\":\"1234\","
		  "\"fetched_at\":1764000000500,\"ttl\":86400000}}}",
		  NULL);
	server_do(
		T0 + 1000, "console-3", "dana", "unit", NULL, "create",
		"{\"fields\":{\"status\":\"enroute\",\"crew\":[\"alvarez\"]}}",
		u12);
	server_do(T0 + 1000, "console-3", "dana", "unit", NULL, "create",
		  "{\"fields\":{\"status\":\"enroute\",\"crew\":[\"brooks\"]}}",
		  u14);
	server_do(T0 + 2 * MIN, "mdt-2a12", "alvarez", "unit", u12, "set",
		  "{\"fields\":{\"status\":\"onscene\"}}", NULL);
	server_do(T0 + 2 * MIN, "mdt-2a12", "alvarez", "activity_log", NULL,
		  "create",
		  "{\"fields\":{\"unit_id\":\"2A12\",\"incident_name\":\"#1234 "
		  "Disturbance\",\"op_period_from\":1764000000000}}",
		  alog);
	server_do(T0 + 2 * MIN, "console-3", "dana", "thread", NULL, "create",
		  "{\"fields\":{\"subject\":\"#1234\",\"participants\":"
		  "[\"alvarez\",\"brooks\",\"dana\"]}}",
		  thr);
	server_do(T0 - 36 * MIN, "console-3", "dana", "bolo", NULL, "create",
		  "{\"fields\":{\"kind\":\"vehicle\",\"status\":\"active\","
		  "\"descriptors\":{\"plate\":\"7ABC123\",\"make\":\"Honda\"},"
		  "\"reason_wanted\":\"armed robbery suspect vehicle\"}}",
		  bolo);
	printf("02:00  2A12 arrives on scene; its MDT syncs (BOLO list cached "
	       "since -00:36)\n");
	doc = call(0, "replica.new",
		   "{\"device\":\"mdt-2a12\",\"user\":"
		   "\"alvarez\"}");
	tf_json_free(doc);
	pull(T0 + 2 * MIN + SKEW, 0, "c-1");

	printf("\n04:00  2A12 loses signal in a parking structure; its clock "
	       "runs 40 s fast\n");
	printf("       offline on 2A12 (each change applied at once, marked "
	       "tentative):\n");
	mdt(T0 + 5 * MIN, "activity_log", alog, "append",
	    "{\"field\":\"entries\",\"body\":{\"text\":\"Contact with RP, two "
	    "males in unit 4B\"}}",
	    NULL);
	mdt(T0 + 6 * MIN, "lookup", NULL, "create",
	    "{\"fields\":{\"requested_by\":\"alvarez\"}}", lookup);
	{
		char args[512];
		snprintf(args, sizeof args,
			 "{\"field\":\"query_audit\",\"body\":{\"query\":"
			 "\"7ABC123\",\"source\":\"bolo\",\"cached\":true,"
			 "\"cache_fetched_at\":%lld,\"stale\":true,\"hit\":"
			 "true,\"matched\":[\"%s\"]}}",
			 (long long)(T0 - 36 * MIN), bolo);
		mdt(T0 + 6 * MIN, "lookup", lookup, "append", args, NULL);
	}
	mdt(T0 + 7 * MIN + 10000, "incident", inc, "append",
	    "{\"field\":\"notes\",\"body\":{\"text\":\"2A12: knife "
	    "reported, one detained\"}}",
	    NULL);
	mdt(T0 + 7 * MIN, "incident", inc, "set",
	    "{\"fields\":{\"type_code\":\"dv\"}}", NULL);
	mdt(T0 + 7 * MIN + 30000, "incident", inc, "edit_text",
	    "{\"field\":\"remarks\",\"base_rev\":1,\"base\":\"Caller reports "
	    "shouting next door.\",\"text\":\"Caller reports shouting next "
	    "door. Domestic; RP's boyfriend has a knife.\"}",
	    NULL);
	mdt(T0 + 8 * MIN, "thread", thr, "append",
	    "{\"field\":\"messages\",\"body\":{\"body\":\"2A14, suspect "
	    "has a knife, stay back\",\"to\":[\"brooks\"]}}",
	    NULL);
	mdt(T0 + 8 * MIN + 30000, "activity_log", alog, "append",
	    "{\"field\":\"entries\",\"body\":{\"text\":\"Suspect detained, "
	    "knife recovered\"}}",
	    NULL);
	mdt(T0 + 9 * MIN, "report", NULL, "create",
	    "{\"fields\":{\"author\":\"alvarez\",\"incident_ref\":\"1234\","
	    "\"narrative\":\"On arrival I contacted the "
	    "reporting party...\"}}",
	    rep);
	mdt(T0 + 10 * MIN, "unit", u12, "set",
	    "{\"fields\":{\"status\":\"available\"}}", NULL);
	doc = call(0, "replica.summary", "{\"replica\":1,\"now\":%lld}",
		   (long long)(T0 + 11 * MIN + SKEW));
	printf("       two unit-log entries and a note, a plate check of "
	       "7ABC123 against "
	       "the cached BOLO list (hit: active),\n       type -> DV, "
	       "remarks "
	       "rewritten, a message to 2A14, a report draft, 2A12 clears "
	       "itself\n");
	{
		int64_t p = 0, age = 0;
		tf_json_int64(get(ok(doc), "pending", NULL), &p);
		tf_json_int64(get(ok(doc), "oldest_pending_ms", NULL), &age);
		printf("       MDT: %lld changes pending, oldest %lld s: "
		       "\"tentative - awaiting sync\"\n",
		       (long long)p, (long long)(age / 1000));
	}
	tf_json_free(doc);
	doc = call(
		1, "replica.mutate",
		"{\"replica\":1,\"now\":%lld,\"random\":\"%040x\",\"entity\":"
		"\"report\",\"op\":\"set\",\"record_id\":\"%s\",\"args\":"
		"{\"fields\":{\"status\":\"submitted\"}}}",
		(long long)(T0 + 9 * MIN + SKEW), 7, rep);
	printf("       submitting the report offline is refused: %s\n",
	       str(get(doc, "error", "message", NULL)));
	tf_json_free(doc);

	printf("\n       meanwhile, online:\n");
	server_do(T0 + 5 * MIN, "console-3", "dana", "incident", inc, "append",
		  "{\"field\":\"notes\",\"body\":{\"text\":\"Neighbor calls "
		  "again: screaming\"}}",
		  NULL);
	{
		/* Dana removes 2A14 with the tags her console saw. */
		char args[256];
		doc = call(0, "store.get", "{\"id\":\"%s\"}", inc);
		v = get(ok(doc), "f", "assigned_units", "s", NULL);
		snprintf(args, sizeof args,
			 "{\"field\":\"assigned_units\",\"value\":\"2A14\","
			 "\"tags\":[\"%s\"]}",
			 str(v && v->len > 1
				     ? tf_json_object_get(v->u.items[1], "tags")
					       ->u.items[0]
				     : NULL));
		tf_json_free(doc);
		server_do(T0 + 6 * MIN, "console-3", "dana", "incident", inc,
			  "set_remove", args, NULL);
	}
	server_do(T0 + 6 * MIN, "console-3", "dana", "incident", NULL, "create",
		  "{\"fields\":{\"type_code\":\"traffic\",\"priority\":3,"
		  "\"status\":\"dispatched\",\"assigned_units\":[\"2A14\"]}}",
		  inc2);
	server_do(T0 + 6 * MIN, "console-3", "dana", "unit", u14, "set",
		  "{\"fields\":{\"status\":\"dispatched\"}}", NULL);
	printf("05:00  Dana adds a note; 06:00 moves 2A14 to incident #1240\n");
	server_do(T0 + 8 * MIN, "console-3", "dana", "incident", inc, "set",
		  "{\"fields\":{\"priority\":1,\"type_code\":"
		  "\"assault-weapon\"}}",
		  NULL);
	printf("08:00  Dana sets priority 1 and type \"assault-weapon\"\n");
	server_do(T0 + 9 * MIN, "console-3", "dana", "unit", u12, "set",
		  "{\"fields\":{\"status\":\"onscene\",\"status_note\":\"no "
		  "contact - missed check-in\"}}",
		  NULL);
	printf("09:00  2A12 misses a check-in: Dana sets it \"on scene - no "
	       "contact\"\n");
	server_do(T0 + 9 * MIN + 30000, "console-3", "dana", "incident", inc,
		  "edit_text",
		  "{\"field\":\"remarks\",\"base_rev\":1,\"base\":\"Caller "
		  "reports shouting next door.\",\"text\":\"Caller reports "
		  "shouting next door. Weapon seen by neighbor.\"}",
		  NULL);
	printf("09:30  Dana edits the remarks\n");
	server_do(T0 + 10 * MIN, "console-3", "dana", "bolo", bolo, "set",
		  "{\"fields\":{\"status\":\"cancelled\"}}", NULL);
	printf("10:00  Dana cancels the BOLO on 7ABC123 (vehicle recovered)\n");

	printf("\n12:00  2A12 reconnects\n");
	push = call(0, "replica.push_request", "{\"replica\":1}");
	cmds = get(ok(push), "commands", NULL);
	tf_buf_init(&reply);
	tf_buf_printf(&reply,
		      "{\"replica\":1,\"now\":%lld,\"reply\":{\"ack\":%zu,"
		      "\"protocol_version\":1,\"schema_version\":1,"
		      "\"server_time\":%lld,\"results\":[",
		      (long long)(T0 + 12 * MIN + SKEW), cmds->len,
		      (long long)(T0 + 12 * MIN));
	for (i = 0; i < cmds->len; i++) {
		tf_buf c;
		const char *st;
		tf_json *r, *sk;
		tf_buf_init(&c);
		tf_json_write(cmds->u.items[i], &c);
		/* The server's skew check: 40 s ahead is within 60 s. */
		sk = call(0, "hlc.recv", "{\"now\":%lld,\"remote\":\"%s\"}",
			  (long long)(T0 + 12 * MIN),
			  str(get(cmds->u.items[i], "hlc", NULL)));
		tf_json_free(sk);
		r = call(0, "store.apply",
			 "{\"authority\":true,\"now\":%lld,\"command\":%s}",
			 (long long)(T0 + 12 * MIN), c.data);
		remember(str(get(cmds->u.items[i], "record_id", NULL)));
		st = str(get(ok(r), "status", NULL));
		tf_buf_printf(&reply,
			      "%s{\"cmd_id\":\"%s\",\"seq\":%zu,"
			      "\"status\":\"%s\"",
			      i ? "," : "",
			      str(get(cmds->u.items[i], "cmd_id", NULL)), i + 1,
			      st);
		if (get(ok(r), "detail", NULL)) {
			tf_buf_puts(&reply, ",\"detail\":");
			tf_json_write(get(ok(r), "detail", NULL), &reply);
		}
		tf_buf_putc(&reply, '}');
		printf("       server: %-10s %-12s %s%s\n",
		       str(get(cmds->u.items[i], "op", NULL)),
		       str(get(cmds->u.items[i], "entity", NULL)), st,
		       get(ok(r), "detail", "lost", NULL) ? " (value lost)"
							  : "");
		tf_json_free(r);
		tf_buf_free(&c);
	}
	tf_buf_puts(&reply, "]}}");
	if (tf_api_call(api, "replica.apply_push_reply", 24, reply.data,
			reply.len, &out) != 0)
		fail("replica.apply_push_reply");
	tf_buf_free(&reply);
	acked = cmds->len;
	tf_json_free(push);
	printf("       the 40 s skew is absorbed: every stamp was within "
	       "max_skew (60 s) of the server's clock\n");
	pull(T0 + 12 * MIN + SKEW + 500, acked, "c-2");

	printf("\n       after the pull, on 2A12's MDT:\n");
	vi = view(inc);
	v = get(ok(vi), "record", NULL);
	printf("   incident #1234: sync state \"%s\", priority %s, type "
	       "\"%s\"\n",
	       str(get(ok(vi), "sync", NULL)),
	       get(v, "f", "priority", "v", NULL)
		       ? get(v, "f", "priority", "v", NULL)->u.str
		       : "?",
	       str(get(v, "f", "type_code", "v", NULL)));
	printf("     assigned units:");
	for (i = 0;
	     (conf = get(v, "f", "assigned_units", "s", NULL)) && i < conf->len;
	     i++)
		printf(" %s", str(get(conf->u.items[i], "v", NULL)));
	printf("   (2A14's removal stands: the stale offline copy did not "
	       "undo it)\n");
	printf("     notes:\n");
	print_log(v, "notes", "text");
	{
		tf_json *lv = view(alog);
		printf("   2A12's unit log (ICS-214), interleaved by clock:\n");
		print_log(get(ok(lv), "record", NULL), "entries", "text");
		tf_json_free(lv);
	}
	conf = get(v, "f", "remarks", "conflicts", NULL);
	if (conf && conf->len) {
		const tf_json *c0 = conf->u.items[0];
		printf("     remarks: CONFLICT, reconciled side by side\n");
		printf("       base     : %s\n", str(get(c0, "base", NULL)));
		printf("       head     : %s   (%s)\n",
		       str(get(c0, "head", NULL)),
		       str(get(c0, "head_by", NULL)));
		printf("       proposed : %s   (%s)\n",
		       str(get(c0, "proposed", NULL)),
		       str(get(c0, "by", NULL)));
		printf("       merged   : %s\n",
		       get(c0, "merged", NULL) ? str(get(c0, "merged", NULL))
					       : "(the changes overlap)");
	}
	tf_json_free(vi);

	vi = view(u12);
	v = get(ok(vi), "record", NULL);
	printf("   unit 2A12: status \"%s\" by %s (resolved by clock), sync "
	       "\"%s\"\n",
	       str(get(v, "f", "status", "v", NULL)),
	       str(get(v, "f", "status", "by", NULL)),
	       str(get(ok(vi), "sync", NULL)));
	printf("     status history keeps both sides:\n");
	print_log(v, "status_history", "value");
	tf_json_free(vi);

	vi = view(thr);
	v = get(get(ok(vi), "record", NULL), "f", "messages", "e", NULL);
	if (v && v->len) {
		int64_t s = 0;
		tf_json_int64(get(v->u.items[0], "srv", NULL), &s);
		printf("   message to 2A14: sent %s (MDT clock), delivered "
		       "%s\n",
		       hlc_clock(str(get(v->u.items[0], "t", NULL)), t1),
		       clock_of(s, t2));
	}
	tf_json_free(vi);

	vi = view(bolo);
	printf("   BOLO 7ABC123: cache refreshed, now \"%s\"; the plate check "
	       "at 06:40 was made against a\n     cache fetched at -00:36 "
	       "(stale) and is marked so in the lookup's query audit\n",
	       str(get(ok(vi), "record", "f", "status", "v", NULL)));
	tf_json_free(vi);

	doc = call(0, "replica.notices", "{\"replica\":1}");
	notices = ok(doc);
	printf("   supersede notices (shown until acknowledged):\n");
	for (i = 0; notices && i < notices->len; i++) {
		const tf_json *n = notices->u.items[i];
		printf("     %s.%s: your \"%s\" (%s) lost to \"%s\" by %s "
		       "(%s)\n",
		       str(get(n, "entity", NULL)), str(get(n, "field", NULL)),
		       str(get(n, "mine", NULL)),
		       hlc_clock(str(get(n, "mine_hlc", NULL)), t1),
		       str(get(n, "winner", NULL)),
		       str(get(n, "winner_by", NULL)),
		       hlc_clock(str(get(n, "winner_hlc", NULL)), t2));
	}
	tf_json_free(doc);

	{
		/* Alvarez resolves the remarks conflict; it is audited. */
		char args[1024], cmd_id[TF_UUID_LEN + 1];
		tf_audit_event ev;
		tf_json *detail = NULL, *res;
		tf_buf entry;
		tf_err err;

		vi = view(inc);
		conf = get(ok(vi), "record", "f", "remarks", "conflicts", NULL);
		if (conf == NULL || conf->len == 0)
			fail("no remarks conflict");
		snprintf(args, sizeof args,
			 "{\"field\":\"remarks\",\"conflict\":\"%s\",\"head_"
			 "rev\":"
			 "%s,\"choice\":\"%s\",\"text\":\"%s\"}",
			 str(get(conf->u.items[0], "id", NULL)),
			 get(conf->u.items[0], "head_rev", NULL)->u.str,
			 get(conf->u.items[0], "merged", NULL) ? "merged"
							       : "custom",
			 "Caller reports shouting next door. Weapon seen by "
			 "neighbor; RP's boyfriend has a knife.");
		tf_json_free(vi);
		new_id(T0 + 13 * MIN, cmd_id);
		res = server(T0 + 13 * MIN, "mdt-2a12", "alvarez", "incident",
			     inc, "resolve", args, NULL);
		detail = tf_json_clone(get(ok(res), "detail", NULL));
		printf("\n13:00  Alvarez reconciles the remarks (choice "
		       "\"%s\")\n",
		       str(get(detail, "choice", NULL)));
		memset(&ev, 0, sizeof ev);
		ev.seq = 1;
		ev.ts_ms = T0 + 13 * MIN;
		ev.type = TF_AUDIT_CONFLICT_RESOLUTION;
		ev.success = 1;
		ev.user = "alvarez";
		ev.device = "mdt-2a12";
		ev.role = "officer";
		ev.source = "local";
		ev.where = "mdt/reconcile";
		ev.entity = "incident";
		ev.record_id = inc;
		ev.field = "remarks";
		ev.detail = detail;
		ev.prev = tf_audit_genesis;
		tf_buf_init(&entry);
		tf_err_clear(&err);
		if (tf_audit_write(&ev, &entry, &err) != 0) {
			fprintf(stderr, "demo: audit: %s\n", err.msg);
			return 1;
		}
		printf("       audit entry (what was discarded, by whom):\n"
		       "       %s\n",
		       entry.data);
		tf_buf_free(&entry);
		tf_json_free(detail);
		tf_json_free(res);
	}
	doc = call(0, "replica.summary", "{\"replica\":1,\"now\":%lld}",
		   (long long)(T0 + 12 * MIN + SKEW + 600));
	{
		int64_t p = -1;
		tf_json_int64(get(ok(doc), "pending", NULL), &p);
		printf("\n       \"did it save?\": %lld changes pending on "
		       "2A12; "
		       "every change acknowledged (10-4)\n",
		       (long long)p);
	}
	tf_json_free(doc);
	tf_buf_free(&out);
	tf_api_free(api);
	return 0;
}

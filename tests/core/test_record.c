/*
 * test_record.c - the merge rules: every class (lww wins, losses and node
 * ties, transitions, history; log order, idempotency, corrections, limits;
 * add-wins set; text edits, conflicts, merged proposals and resolution;
 * ref permission and staleness), create/missing/mismatch, the authority
 * stamps, order independence where the rules promise it (all permutations,
 * compared as canonical bytes), the incident #1234 scenario of DOMAIN.md
 * in server order, tf_record_check on every produced state plus a failure
 * table, and out-of-memory at every allocation of an apply.
 *
 * json.c and record.c are compiled into this program with their
 * allocators routed through counting hooks (as in test_json.c), so a test
 * can fail the Nth allocation and check that the record is unchanged and
 * nothing leaked.  The library's copies are then not linked.
 */
#include <stdlib.h>
#include <string.h>

#include "tf_test.h"

static long tj_fail_at = -1; /* index of the allocation to fail; -1 never */
static long tj_count;	     /* allocations attempted */
static long tj_live;	     /* blocks alive */

static void *tj_malloc(size_t n)
{
	void *p;

	if (tj_count++ == tj_fail_at)
		return NULL;
	p = malloc(n);
	if (p)
		tj_live++;
	return p;
}

static void *tj_calloc(size_t n, size_t m)
{
	void *p;

	if (tj_count++ == tj_fail_at)
		return NULL;
	p = calloc(n, m);
	if (p)
		tj_live++;
	return p;
}

static void *tj_realloc(void *p, size_t n)
{
	void *q;

	if (tj_count++ == tj_fail_at)
		return NULL;
	q = realloc(p, n);
	if (q && p == NULL)
		tj_live++;
	return q;
}

static void tj_free(void *p)
{
	if (p)
		tj_live--;
	free(p);
}

#define malloc(n) tj_malloc(n)
#define calloc(n, m) tj_calloc(n, m)
#define realloc(p, n) tj_realloc(p, n)
#define free(p) tj_free(p)
#include "core/json.c"
#include "core/record.c"
#undef malloc
#undef calloc
#undef realloc
#undef free

/* ------------------------------------------------------------ helpers */

#define REC "0191a2b3-0000-7000-8000-00000000beef"
#define REC2 "0191a2b3-0000-7000-8000-00000000cafe"
#define CID(nn) "0191a2b3-0000-7000-8000-0000000000" #nn
#define NOW 1764000000000LL

static tf_schema *schema;
static int g_authority;	    /* ctx.authority of t_run */
static int g_allow_ref;	    /* ctx.allow_ref of t_run */
static char g_detail[4096]; /* canonical detail of the last t_run, "" none */
static tf_err g_err;	    /* err of the last t_run */

/* Test JSON is written with single quotes; t_q() makes it JSON. */
static char *t_q(const char *s)
{
	size_t n = strlen(s), i;
	char *d = malloc(n + 1);

	if (d == NULL)
		abort();
	for (i = 0; i <= n; i++)
		d[i] = s[i] == '\'' ? '"' : s[i];
	return d;
}

static tf_json *t_json(const char *text)
{
	char *doc = t_q(text);
	tf_json *j = NULL;
	tf_err err;

	if (tf_json_parse(doc, strlen(doc), NULL, &j, &err) != 0) {
		fprintf(stderr, "bad test JSON %s: %s\n", doc, err.msg);
		abort();
	}
	free(doc);
	return j;
}

/* Canonical bytes of v (malloc'd). */
static char *t_canon(const tf_json *v)
{
	tf_buf b;
	char *s;

	tf_buf_init(&b);
	if (v == NULL)
		tf_buf_puts(&b, "null");
	else
		tf_json_write(v, &b);
	s = tf_buf_take(&b, NULL);
	if (s == NULL)
		abort();
	return s;
}

/* Checks canonical bytes of v against single-quoted `want`. */
static void t_bytes(const tf_json *v, const char *want, int line)
{
	char *got = t_canon(v), *w = t_q(want);

	if (strcmp(got, w) != 0)
		tf_test_fail(__FILE__, line, "bytes\n got: %s\nwant: %s", got,
			     w);
	free(got);
	free(w);
}
#define BYTES(v, want) t_bytes(v, want, __LINE__)

static void t_cmd(tf_command *c, const char *entity, tf_op op,
		  const char *cmd_id, tf_hlc hlc, const char *device,
		  const char *user, const char *args)
{
	memset(c, 0, sizeof *c);
	strcpy(c->cmd_id, cmd_id);
	c->seq = 1;
	c->hlc = hlc;
	strcpy(c->device, device);
	strcpy(c->user, user);
	strcpy(c->entity, entity);
	strcpy(c->record_id, REC);
	c->op = op;
	c->args = t_json(args);
}

/*
 * Validates (must pass) and applies one command; every resulting state
 * must pass tf_record_check.  Returns the status (0 on an error return);
 * the detail and err are kept in g_detail and g_err.
 */
static tf_status t_run_c(tf_json **rec, const tf_command *c, int line)
{
	tf_apply_ctx ctx;
	tf_apply_result res;
	tf_err err;
	tf_status st;
	char *d;
	int rc;

	tf_err_clear(&err);
	if (tf_command_validate(schema, c, 1, &err) != 0)
		tf_test_fail(__FILE__, line, "invalid test command: %s",
			     err.msg);
	memset(&ctx, 0, sizeof ctx);
	ctx.schema = schema;
	ctx.now_ms = NOW;
	ctx.authority = g_authority;
	ctx.allow_ref = g_allow_ref;
	rc = tf_record_apply(rec, c, &ctx, &res);
	if (rc != 0) {
		tf_test_fail(__FILE__, line, "apply returned %d", rc);
		return (tf_status)0;
	}
	g_err = res.err;
	g_detail[0] = '\0';
	if (res.detail) {
		d = t_canon(res.detail);
		snprintf(g_detail, sizeof g_detail, "%s", d);
		free(d);
	}
	if (*rec && tf_record_check(schema, *rec, &err) != 0) {
		d = t_canon(*rec);
		tf_test_fail(__FILE__, line, "state fails check: %s\n%s",
			     err.msg, d);
		free(d);
	}
	st = res.status;
	tf_apply_result_clear(&res);
	return st;
}

/* Builds and applies one command; returns its status. */
static tf_status t_run(tf_json **rec, const char *entity, tf_op op,
		       const char *cmd_id, tf_hlc hlc, const char *device,
		       const char *user, const char *args, int line)
{
	tf_command c;
	tf_status st;

	t_cmd(&c, entity, op, cmd_id, hlc, device, user, args);
	st = t_run_c(rec, &c, line);
	tf_command_clear(&c);
	return st;
}
#define RUN_CMD(rec, ent, op, id, hlc, dev, user, args)                        \
	t_run(rec, ent, op, id, hlc, dev, user, args, __LINE__)

/* Applies and checks that the command was REJECTED with `code` and the
 * record's bytes did not move. */
static void t_rejected(tf_json **rec, const char *entity, tf_op op,
		       const char *cmd_id, tf_hlc hlc, const char *args,
		       int code, const char *where, int line)
{
	char *before = t_canon(*rec), *after;
	tf_status st = t_run(rec, entity, op, cmd_id, hlc, "mdt-2a12",
			     "alvarez", args, line);

	after = t_canon(*rec);
	if (st != TF_ST_REJECTED || g_err.code != code ||
	    (where && strcmp(g_err.where, where) != 0))
		tf_test_fail(__FILE__, line,
			     "want rejected %d at \"%s\", got status %d code "
			     "%d at \"%s\" (%s)",
			     code, where ? where : "", (int)st, g_err.code,
			     g_err.where, g_err.msg);
	if (strcmp(before, after) != 0)
		tf_test_fail(__FILE__, line, "rejected command changed bytes");
	if (g_detail[0])
		tf_test_fail(__FILE__, line, "rejected with a detail");
	free(before);
	free(after);
}
#define REJECTED(rec, ent, op, id, hlc, args, code, where)                     \
	t_rejected(rec, ent, op, id, hlc, args, code, where, __LINE__)

static tf_json *t_incident(void)
{
	tf_json *rec = NULL;

	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_CREATE, CID(01), 0x100,
			  "console-3", "dana",
			  "{'fields':{'priority':2,'type_code':'disturbance',"
			  "'status':'pending','remarks':'Two males arguing in "
			  "the lot.','assigned_units':['2A12','2A14']}}"),
		  TF_ST_APPLIED);
	return rec;
}

static tf_json *t_unit(const char *status)
{
	tf_json *rec = NULL;
	char args[128];

	snprintf(args, sizeof args, "{'fields':{'status':'%s'}}", status);
	CHECK_INT(RUN_CMD(&rec, "unit", TF_OP_CREATE, CID(01), 0x100,
			  "console-3", "dana", args),
		  TF_ST_APPLIED);
	return rec;
}

/* ------------------------------------------------------------ records */

TEST(new_record_shape)
{
	tf_json *rec = NULL;

	CHECK_INT(tf_record_new("incident", REC, &rec), 0);
	BYTES(rec, "{'entity':'incident','f':{},'id':'" REC "','mhlc':"
		   "'0000000000000000','ver':0}");
	CHECK_STR(tf_record_id(rec), REC);
	CHECK_STR(tf_record_entity(rec), "incident");
	CHECK_INT(tf_record_ver(rec), 0);
	CHECK(tf_record_mhlc(rec) == 0);
	CHECK(tf_record_field(rec, "priority") == NULL);
	CHECK_INT(tf_record_check(schema, rec, NULL), 0);
	tf_json_free(rec);
	CHECK_INT(tf_record_new("Incident", REC, &rec), TF_EINVAL);
	CHECK(rec == NULL);
	CHECK_INT(tf_record_new("incident", "nope", &rec), TF_EINVAL);
	CHECK_INT(tf_record_new(NULL, REC, &rec), TF_EINVAL);
	CHECK(tf_record_id(NULL) == NULL);
	CHECK_INT(tf_record_ver(NULL), -1);
}

TEST(status_name_table)
{
	tf_status s = (tf_status)0;

	CHECK_STR(tf_status_name(TF_ST_APPLIED), "applied");
	CHECK_STR(tf_status_name(TF_ST_DUPLICATE), "duplicate");
	CHECK_STR(tf_status_name(TF_ST_REJECTED), "rejected");
	CHECK_STR(tf_status_name(TF_ST_CONFLICT), "conflict");
	CHECK_STR(tf_status_name(TF_ST_CLOCK_SKEW), "clock_skew");
	CHECK_STR(tf_status_name((tf_status)0), "unknown");
	CHECK_INT(tf_status_parse("conflict", &s), 0);
	CHECK_INT(s, TF_ST_CONFLICT);
	CHECK_INT(tf_status_parse("ok", &s), TF_EINVAL);
	CHECK_INT(tf_status_parse(NULL, &s), TF_EINVAL);
}

TEST(create_exact_bytes)
{
	tf_json *rec = t_incident();

	BYTES(rec,
	      "{'entity':'incident','f':{"
	      "'assigned_units':{'s':[{'tags':['" CID(
		      01) "'],'v':'2A12'},"
			  "{'tags':['" CID(
				  01) "'],'v':'2A14'}]},"
				      "'priority':{'by':'dana','n':'console-3',"
				      "'t':'0000000000000100',"
				      "'v':2},"
				      "'remarks':{'by':'dana','n':'console-3','"
				      "rev':1,"
				      "'t':'0000000000000100','v':'Two males "
				      "arguing in the lot.'},"
				      "'status':{'by':'dana','n':'console-3','"
				      "t':'0000000000000100',"
				      "'v':'pending'},"
				      "'type_code':{'by':'dana','n':'console-3'"
				      ","
				      "'t':'0000000000000100','v':'disturbance'"
				      "}},"
				      "'id':'" REC
				      "','mhlc':'0000000000000100','ver':0}");
	CHECK_STR(g_detail, "");
	tf_json_free(rec);
}

TEST(create_dedupes_set_and_records_history)
{
	tf_json *rec = NULL;

	g_authority = 1;
	CHECK_INT(
		RUN_CMD(&rec, "unit", TF_OP_CREATE, CID(01), 0x100, "console-3",
			"dana",
			"{'fields':{'status':'available','crew':['b','a','b'],"
			"'status_note':null}}"),
		TF_ST_APPLIED);
	g_authority = 0;
	BYTES(rec,
	      "{'entity':'unit','f':{"
	      "'crew':{'s':[{'tags':['" CID(01) "'],'v':'a'},{'tags':['" CID(
		      01) "'],'v':'b'}]},"
			  "'status':{'by':'dana','n':'console-3','t':'"
			  "0000000000000100',"
			  "'v':'available'},"
			  "'status_history':{'e':[{'by':'dana','id':'" CID(
				  01) "',"
				      "'n':'console-3','srv':1764000000000,'t':"
				      "'0000000000000100',"
				      "'v':{'field':'status','value':'"
				      "available'}}]},"
				      "'status_note':{'by':'dana','n':'console-"
				      "3',"
				      "'t':'0000000000000100','v':null}},"
				      "'id':'" REC
				      "','mhlc':'0000000000000100','ver':1}");
	tf_json_free(rec);
}

TEST(create_existing_missing_mismatch)
{
	tf_json *rec = t_incident(), *unit = t_unit("available");
	tf_json *none = NULL;

	REJECTED(&rec, "incident", TF_OP_CREATE, CID(02), 0x200,
		 "{'fields':{}}", TF_EEXIST, "incident");
	CHECK(strstr(g_err.msg, "already exists") != NULL);
	/* any other op on a missing record */
	CHECK_INT(RUN_CMD(&none, "incident", TF_OP_SET, CID(03), 0x300,
			  "mdt-2a12", "alvarez", "{'fields':{'priority':1}}"),
		  TF_ST_REJECTED);
	CHECK_INT(g_err.code, TF_ENOTFOUND);
	CHECK(none == NULL);
	CHECK_INT(RUN_CMD(&none, "incident", TF_OP_APPEND, CID(04), 0x300,
			  "mdt-2a12", "alvarez",
			  "{'field':'notes','body':{'text':'x'}}"),
		  TF_ST_REJECTED);
	CHECK_INT(g_err.code, TF_ENOTFOUND);
	/* a unit command against an incident record */
	REJECTED(&rec, "unit", TF_OP_SET, CID(05), 0x300,
		 "{'fields':{'status':'busy'}}", TF_EVALIDATE, "unit");
	tf_json_free(rec);
	tf_json_free(unit);
}

TEST(create_initial_transition)
{
	tf_json *rec = NULL;

	/* report.status must start as draft ("initial") */
	CHECK_INT(
		RUN_CMD(&rec, "report", TF_OP_CREATE, CID(01), 0x100,
			"mdt-2a12", "alvarez",
			"{'fields':{'status':'approved','author':'alvarez'}}"),
		TF_ST_REJECTED);
	CHECK_INT(g_err.code, TF_ETRANSITION);
	CHECK_STR(g_err.where, "report.status");
	CHECK(rec == NULL);
	CHECK_INT(RUN_CMD(&rec, "report", TF_OP_CREATE, CID(01), 0x100,
			  "mdt-2a12", "alvarez",
			  "{'fields':{'status':'draft','author':'alvarez'}}"),
		  TF_ST_APPLIED);
	tf_json_free(rec);
}

/* ---------------------------------------------------------------- lww */

TEST(lww_wins_loses_and_ties)
{
	tf_json *rec = t_incident();

	/* a later stamp wins */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_SET, CID(02), 0x300,
			  "mdt-2a12", "alvarez", "{'fields':{'priority':1}}"),
		  TF_ST_APPLIED);
	CHECK_STR(g_detail, "");
	BYTES(tf_record_field(rec, "priority"),
	      "{'by':'alvarez','n':'mdt-2a12','t':'0000000000000300','v':1}");
	BYTES(get(rec, "mhlc"), "'0000000000000300'");
	/* an earlier stamp loses: applied, named in lost, nothing moves
	 * but nothing else either */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_SET, CID(03), 0x200,
			  "console-3", "dana",
			  "{'fields':{'priority':3,'type_code':'dv'}}"),
		  TF_ST_APPLIED);
	CHECK_STR(g_detail, "{\"lost\":[\"priority\"]}");
	BYTES(tf_record_value(rec, "priority"), "1");
	CHECK_STR(sget(tf_record_field(rec, "priority"), "n"), "mdt-2a12");
	CHECK_STR(tf_record_value(rec, "type_code")->u.str, "dv");
	BYTES(get(rec, "mhlc"), "'0000000000000300'");
	/* equal stamps: the greater node id wins */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_SET, CID(04), 0x300,
			  "mdt-2a14", "brooks", "{'fields':{'priority':4}}"),
		  TF_ST_APPLIED);
	CHECK_STR(g_detail, "");
	CHECK_STR(sget(tf_record_field(rec, "priority"), "n"), "mdt-2a14");
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_SET, CID(05), 0x300,
			  "mdt-2a13", "x", "{'fields':{'priority':5}}"),
		  TF_ST_APPLIED);
	CHECK_STR(g_detail, "{\"lost\":[\"priority\"]}");
	CHECK_STR(sget(tf_record_field(rec, "priority"), "n"), "mdt-2a14");
	tf_json_free(rec);
}

TEST(lww_same_write_is_no_change)
{
	tf_json *rec = t_incident();
	char *before;

	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_SET, CID(02), 0x300,
			  "mdt-2a12", "alvarez", "{'fields':{'priority':1}}"),
		  TF_ST_APPLIED);
	before = t_canon(rec);
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_SET, CID(02), 0x300,
			  "mdt-2a12", "alvarez", "{'fields':{'priority':1}}"),
		  TF_ST_APPLIED);
	CHECK_STR(g_detail, "");
	{
		char *after = t_canon(rec);
		CHECK_STR(after, before);
		free(after);
	}
	free(before);
	tf_json_free(rec);
}

TEST(lww_in_place_lengths)
{
	/* node and user ids of other lengths replace the strings */
	tf_json *rec = t_incident();

	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_SET, CID(02), 0x300, "a", "b",
			  "{'fields':{'priority':1}}"),
		  TF_ST_APPLIED);
	BYTES(tf_record_field(rec, "priority"),
	      "{'by':'b','n':'a','t':'0000000000000300','v':1}");
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_SET, CID(03), 0x400,
			  "a-very-long-device-name", "c",
			  "{'fields':{'priority':2,'location':{'addr':'1 "
			  "Main'}}}"),
		  TF_ST_APPLIED);
	BYTES(tf_record_field(rec, "priority"),
	      "{'by':'c','n':'a-very-long-device-name',"
	      "'t':'0000000000000400','v':2}");
	BYTES(tf_record_value(rec, "location"), "{'addr':'1 Main'}");
	tf_json_free(rec);
}

TEST(lww_transitions)
{
	tf_json *rec = NULL;

	CHECK_INT(RUN_CMD(&rec, "report", TF_OP_CREATE, CID(01), 0x100,
			  "mdt-2a12", "alvarez",
			  "{'fields':{'status':'draft','author':'alvarez'}}"),
		  TF_ST_APPLIED);
	/* draft -> approved is not in the table */
	REJECTED(&rec, "report", TF_OP_SET, CID(02), 0x200,
		 "{'fields':{'status':'approved'}}", TF_ETRANSITION,
		 "report.status");
	CHECK(strstr(g_err.msg, "draft") && strstr(g_err.msg, "approved"));
	/* all or nothing: a good field beside a bad transition */
	REJECTED(&rec, "report", TF_OP_SET, CID(03), 0x200,
		 "{'fields':{'incident_ref':'I-1','status':'approved'}}",
		 TF_ETRANSITION, "report.status");
	CHECK(tf_record_field(rec, "incident_ref") == NULL);
	CHECK_INT(RUN_CMD(&rec, "report", TF_OP_SET, CID(04), 0x300, "mdt-2a12",
			  "alvarez", "{'fields':{'status':'submitted'}}"),
		  TF_ST_APPLIED);
	CHECK_INT(RUN_CMD(&rec, "report", TF_OP_SET, CID(05), 0x400,
			  "console-1", "sgt",
			  "{'fields':{'status':'approved'}}"),
		  TF_ST_APPLIED);
	/* same value again: not a transition */
	CHECK_INT(RUN_CMD(&rec, "report", TF_OP_SET, CID(06), 0x500,
			  "console-1", "sgt",
			  "{'fields':{'status':'approved'}}"),
		  TF_ST_APPLIED);
	/* approved -> draft is refused for a winner ... */
	REJECTED(&rec, "report", TF_OP_SET, CID(07), 0x600,
		 "{'fields':{'status':'draft'}}", TF_ETRANSITION,
		 "report.status");
	/* ... but a stale command that loses changes nothing: no rejection */
	CHECK_INT(RUN_CMD(&rec, "report", TF_OP_SET, CID(08), 0x350, "mdt-2a12",
			  "alvarez", "{'fields':{'status':'draft'}}"),
		  TF_ST_APPLIED);
	CHECK_STR(g_detail, "{\"lost\":[\"status\"]}");
	CHECK_STR(tf_record_value(rec, "status")->u.str, "approved");
	tf_json_free(rec);
}

TEST(lww_history_won_and_lost)
{
	tf_json *rec = t_unit("enroute");

	/* dispatcher at 0x300, the officer's stale command at 0x200 */
	CHECK_INT(RUN_CMD(&rec, "unit", TF_OP_SET, CID(02), 0x300, "console-3",
			  "dana", "{'fields':{'status':'onscene'}}"),
		  TF_ST_APPLIED);
	CHECK_INT(RUN_CMD(&rec, "unit", TF_OP_SET, CID(03), 0x200, "mdt-2a12",
			  "alvarez", "{'fields':{'status':'available'}}"),
		  TF_ST_APPLIED);
	CHECK_STR(g_detail, "{\"lost\":[\"status\"]}");
	CHECK_STR(tf_record_value(rec, "status")->u.str, "onscene");
	BYTES(tf_record_field(rec, "status_history"),
	      "{'e':["
	      "{'by':'dana','id':'" CID(
		      01) "','n':'console-3',"
			  "'t':'0000000000000100','v':{'field':'status','value'"
			  ":'enroute'}},"
			  "{'by':'alvarez','id':'" CID(
				  03) "','n':'mdt-2a12',"
				      "'t':'0000000000000200','v':{'field':'"
				      "status',"
				      "'value':'available'}},"
				      "{'by':'dana','id':'" CID(
					      02) "','n':'console-3',"
						  "'t':'0000000000000300','v':{"
						  "'field':'status','value':'"
						  "onscene'}}"
						  "]}");
	/* the superseded helper sees the loser */
	{
		tf_command c;
		t_cmd(&c, "unit", TF_OP_SET, CID(03), 0x200, "mdt-2a12",
		      "alvarez", "{'fields':{'status':'available'}}");
		CHECK_INT(tf_record_superseded(rec, &c, "status"), 1);
		CHECK_INT(tf_record_superseded(rec, &c, "status_note"), 0);
		tf_command_clear(&c);
		t_cmd(&c, "unit", TF_OP_SET, CID(02), 0x300, "console-3",
		      "dana", "{'fields':{'status':'onscene'}}");
		CHECK_INT(tf_record_superseded(rec, &c, "status"), 0);
		tf_command_clear(&c);
		/* same value from another writer: nothing was lost */
		t_cmd(&c, "unit", TF_OP_SET, CID(09), 0x250, "mdt-2a12",
		      "alvarez", "{'fields':{'status':'onscene'}}");
		CHECK_INT(tf_record_superseded(rec, &c, "status"), 0);
		tf_command_clear(&c);
	}
	{
		tf_hlc t = 0;
		const char *n = NULL, *by = NULL;
		CHECK_INT(tf_record_lww_stamp(rec, "status", &t, &n, &by), 0);
		CHECK(t == 0x300);
		CHECK_STR(n, "console-3");
		CHECK_STR(by, "dana");
		CHECK_INT(tf_record_lww_stamp(rec, "status_note", &t, &n, &by),
			  TF_ENOTFOUND);
	}
	tf_json_free(rec);
}

TEST(lww_history_log_full)
{
	tf_json *rec = t_unit("available");
	tf_json *e = get(tf_record_field(rec, "status_history"), "e");
	tf_json *first = e->u.items[0];
	char id[40], t[17];
	size_t i;

	/* fill status_history to its 10000 entries by hand */
	for (i = 1; i < 10000; i++) {
		tf_json *en = tf_json_clone(first);
		snprintf(id, sizeof id, "0191a2b3-0000-7000-9000-%012zx", i);
		snprintf(t, sizeof t, "%016zx", 0x100 + i);
		tf_json_object_set(en, "id", tf_json_cstring(id));
		tf_json_object_set(en, "t", tf_json_cstring(t));
		tf_json_array_push(e, en);
	}
	tf_json_object_set(rec, "mhlc", tf_json_cstring("0000000000010000"));
	CHECK_INT(tf_record_check(schema, rec, NULL), 0);
	REJECTED(&rec, "unit", TF_OP_SET, CID(02), 0x20000,
		 "{'fields':{'status':'busy'}}", TF_ELIMIT,
		 "unit.status_history");
	tf_json_free(rec);
}

/* ---------------------------------------------------------------- log */

TEST(log_order_idempotency_and_bytes)
{
	tf_json *rec = t_incident();
	char *once;

	g_authority = 0;
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_APPEND, CID(03), 0x300,
			  "console-3", "dana",
			  "{'field':'notes','body':{'text':'third'}}"),
		  TF_ST_APPLIED);
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_APPEND, CID(02), 0x200,
			  "mdt-2a12", "alvarez",
			  "{'field':'notes','body':{'text':'second',"
			  "'kind':'hazard'}}"),
		  TF_ST_APPLIED);
	/* same stamp as the first: ordered by id */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_APPEND, CID(01), 0x300,
			  "mdt-2a14", "brooks",
			  "{'field':'notes','body':{'text':'first at 300'}}"),
		  TF_ST_APPLIED);
	BYTES(tf_record_field(rec, "notes"),
	      "{'e':["
	      "{'by':'alvarez','id':'" CID(
		      02) "','n':'mdt-2a12',"
			  "'t':'0000000000000200','v':{'kind':'hazard','text':'"
			  "second'}},"
			  "{'by':'brooks','id':'" CID(
				  01) "','n':'mdt-2a14',"
				      "'t':'0000000000000300','v':{'text':'"
				      "first at 300'}},"
				      "{'by':'dana','id':'" CID(
					      03) "','n':'console-3',"
						  "'t':'0000000000000300','v':{"
						  "'text':'third'}}]}");
	once = t_canon(rec);
	/* the same append again changes nothing */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_APPEND, CID(02), 0x200,
			  "mdt-2a12", "alvarez",
			  "{'field':'notes','body':{'text':'second',"
			  "'kind':'hazard'}}"),
		  TF_ST_APPLIED);
	{
		char *twice = t_canon(rec);
		CHECK_STR(twice, once);
		free(twice);
	}
	free(once);
	tf_json_free(rec);
}

TEST(log_corrections)
{
	tf_json *rec = t_incident();

	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_APPEND, CID(02), 0x200,
			  "mdt-2a12", "alvarez",
			  "{'field':'notes','body':{'text':'plate ABC123'}}"),
		  TF_ST_APPLIED);
	REJECTED(&rec, "incident", TF_OP_APPEND, CID(03), 0x300,
		 "{'field':'notes','body':{'text':'fix'},'corrects':'" CID(
			 99) "'}",
		 TF_ENOTFOUND, "incident.notes");
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_APPEND, CID(03), 0x300,
			  "mdt-2a12", "alvarez",
			  "{'field':'notes','body':{'text':'plate ABC128'},"
			  "'corrects':'" CID(02) "'}"),
		  TF_ST_APPLIED);
	BYTES(get(tf_record_field(rec, "notes"), "e")->u.items[1],
	      "{'by':'alvarez','corrects':'" CID(02) "','id':'" CID(
		      03) "',"
			  "'n':'mdt-2a12','t':'0000000000000300',"
			  "'v':{'text':'plate ABC128'}}");
	/* the corrected entry stays */
	CHECK_INT(get(tf_record_field(rec, "notes"), "e")->len, 2);
	/* correcting a missing log is not_found too */
	REJECTED(&rec, "incident", TF_OP_APPEND, CID(04), 0x300,
		 "{'field':'notes','body':{'text':'x'},'corrects':'" CID(
			 98) "'}",
		 TF_ENOTFOUND, "incident.notes");
	tf_json_free(rec);
}

TEST(log_limit)
{
	/* assignment.milestones holds 256 entries */
	tf_json *rec = NULL;
	char id[40];
	tf_command c;
	int i;

	CHECK_INT(RUN_CMD(&rec, "assignment", TF_OP_CREATE, CID(01), 0x1,
			  "console-3", "dana", "{'fields':{'unit_id':'2A12'}}"),
		  TF_ST_APPLIED);
	for (i = 0; i < 256; i++) {
		snprintf(id, sizeof id, "0191a2b3-0000-7000-9000-%012x", i);
		t_cmd(&c, "assignment", TF_OP_APPEND, id, (tf_hlc)(0x1000 + i),
		      "mdt-2a12", "alvarez",
		      "{'field':'milestones','body':{'milestone':'enroute'}}");
		if (t_run_c(&rec, &c, __LINE__) != TF_ST_APPLIED)
			CHECK(0);
		tf_command_clear(&c);
	}
	REJECTED(&rec, "assignment", TF_OP_APPEND, CID(02), 0x9000,
		 "{'field':'milestones','body':{'milestone':'clear'}}",
		 TF_ELIMIT, "assignment.milestones");
	/* a replay of an entry that is in is still a no-change success */
	snprintf(id, sizeof id, "0191a2b3-0000-7000-9000-%012x", 5);
	t_cmd(&c, "assignment", TF_OP_APPEND, id, 0x1005, "mdt-2a12", "alvarez",
	      "{'field':'milestones','body':{'milestone':'enroute'}}");
	CHECK_INT(t_run_c(&rec, &c, __LINE__), TF_ST_APPLIED);
	tf_command_clear(&c);
	tf_json_free(rec);
}

/*
 * An entry id is a command id, applied under one stamp only: the server's
 * ledger refuses a reused cmd_id, so apply finds replays by (t, id) in
 * O(log n) and does not scan the log for the id.  The exact replay is a
 * no-change success; a reuse under another stamp (a broken caller) would
 * make a state tf_record_check refuses ("appears twice", tested with the
 * check's failure table), caught wherever the record is loaded next.
 */
TEST(log_id_reused_under_another_stamp)
{
	tf_json *rec = t_incident();
	tf_err err;

	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_APPEND, CID(05), 0x200,
			  "mdt-2a12", "alvarez",
			  "{'field':'notes','body':{'text':'first'}}"),
		  TF_ST_APPLIED);
	/* the same (t, id) is the idempotent replay */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_APPEND, CID(05), 0x200,
			  "mdt-2a12", "alvarez",
			  "{'field':'notes','body':{'text':'first'}}"),
		  TF_ST_APPLIED);
	CHECK_INT(get(tf_record_field(rec, "notes"), "e")->len, 1);
	CHECK_INT(tf_record_check(schema, rec, &err), 0);

	tf_json_free(rec);
}

TEST(log_large_appends_in_random_order)
{
	/* 3000 appends in shuffled order end sorted by (t, id) */
	tf_json *rec = t_incident();
	static int order[3000];
	uint64_t rs = 42;
	char id[40];
	tf_command c;
	tf_json *e;
	size_t i;

	for (i = 0; i < 3000; i++)
		order[i] = (int)i;
	for (i = 2999; i > 0; i--) {
		size_t j = tf_test_rand(&rs) % (i + 1);
		int tmp = order[i];
		order[i] = order[j];
		order[j] = tmp;
	}
	for (i = 0; i < 3000; i++) {
		snprintf(id, sizeof id, "0191a2b3-0000-7000-9000-%012x",
			 order[i]);
		t_cmd(&c, "incident", TF_OP_APPEND, id,
		      (tf_hlc)(0x1000 + order[i] / 3), "mdt-2a12", "alvarez",
		      "{'field':'notes','body':{'text':'n'}}");
		tf_apply_ctx ctx = {schema, NOW, 0, 0};
		tf_apply_result res;
		CHECK_INT(tf_record_apply(&rec, &c, &ctx, &res), 0);
		CHECK_INT(res.status, TF_ST_APPLIED);
		tf_apply_result_clear(&res);
		tf_command_clear(&c);
	}
	CHECK_INT(tf_record_check(schema, rec, NULL), 0);
	e = get(tf_record_field(rec, "notes"), "e");
	CHECK_INT(e->len, 3000);
	for (i = 0; i < 3000; i++) {
		snprintf(id, sizeof id, "0191a2b3-0000-7000-9000-%012zx", i);
		if (strcmp(sget(e->u.items[i], "id"), id) != 0) {
			CHECK_STR(sget(e->u.items[i], "id"), id);
			break;
		}
	}
	tf_json_free(rec);
}

/* ---------------------------------------------------------------- set */

TEST(set_add_remove_observed)
{
	tf_json *rec = t_incident();

	/* a second add of a present value adds its tag */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_SET_ADD, CID(02), 0x200,
			  "mdt-2a14", "brooks",
			  "{'field':'assigned_units','value':'2A14'}"),
		  TF_ST_APPLIED);
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_SET_ADD, CID(03), 0x200,
			  "console-3", "dana",
			  "{'field':'assigned_units','value':'2A10'}"),
		  TF_ST_APPLIED);
	BYTES(tf_record_field(rec, "assigned_units"),
	      "{'s':[{'tags':['" CID(
		      03) "'],'v':'2A10'},"
			  "{'tags':['" CID(01) "'],'v':'2A12'},"
					       "{'tags':['" CID(01) "','" CID(
						       02) "'],'v':'2A14'}]}");
	/* a remove that saw only the create's tag keeps the later add */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_SET_REMOVE, CID(04), 0x300,
			  "console-3", "dana",
			  "{'field':'assigned_units','value':'2A14','tags':["
			  "'" CID(01) "']}"),
		  TF_ST_APPLIED);
	BYTES(tf_record_field(rec, "assigned_units"),
	      "{'s':[{'tags':['" CID(
		      03) "'],'v':'2A10'},"
			  "{'tags':['" CID(01) "'],'v':'2A12'},"
					       "{'tags':['" CID(
						       02) "'],'v':'2A14'}]}");
	/* removing unseen or missing things changes nothing */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_SET_REMOVE, CID(05), 0x300,
			  "console-3", "dana",
			  "{'field':'assigned_units','value':'2A14','tags':["
			  "'" CID(99) "']}"),
		  TF_ST_APPLIED);
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_SET_REMOVE, CID(06), 0x300,
			  "console-3", "dana",
			  "{'field':'assigned_units','value':'9Z99','tags':["
			  "'" CID(01) "']}"),
		  TF_ST_APPLIED);
	CHECK_INT(get(tf_record_field(rec, "assigned_units"), "s")->len, 3);
	/* the last tag goes: the element goes */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_SET_REMOVE, CID(07), 0x400,
			  "console-3", "dana",
			  "{'field':'assigned_units','value':'2A14','tags':["
			  "'" CID(02) "','" CID(02) "']}"),
		  TF_ST_APPLIED);
	CHECK_INT(get(tf_record_field(rec, "assigned_units"), "s")->len, 2);
	/* the whole set empties: no state left */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_SET_REMOVE, CID(08), 0x400,
			  "console-3", "dana",
			  "{'field':'assigned_units','value':'2A10','tags':["
			  "'" CID(03) "']}"),
		  TF_ST_APPLIED);
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_SET_REMOVE, CID(09), 0x400,
			  "console-3", "dana",
			  "{'field':'assigned_units','value':'2A12','tags':["
			  "'" CID(01) "']}"),
		  TF_ST_APPLIED);
	CHECK(tf_record_field(rec, "assigned_units") == NULL);
	/* removing from an absent set is a no-op */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_SET_REMOVE, CID(10), 0x400,
			  "console-3", "dana",
			  "{'field':'assigned_units','value':'2A12','tags':["
			  "'" CID(01) "']}"),
		  TF_ST_APPLIED);
	/* add to the absent set creates it */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_SET_ADD, CID(11), 0x500,
			  "console-3", "dana",
			  "{'field':'assigned_units','value':'2A12'}"),
		  TF_ST_APPLIED);
	BYTES(tf_record_field(rec, "assigned_units"),
	      "{'s':[{'tags':['" CID(11) "'],'v':'2A12'}]}");
	/* the same add again: no change */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_SET_ADD, CID(11), 0x500,
			  "console-3", "dana",
			  "{'field':'assigned_units','value':'2A12'}"),
		  TF_ST_APPLIED);
	BYTES(tf_record_field(rec, "assigned_units"),
	      "{'s':[{'tags':['" CID(11) "'],'v':'2A12'}]}");
	tf_json_free(rec);
}

TEST(set_object_elements_sorted_by_canonical_bytes)
{
	tf_json *rec = NULL;

	CHECK_INT(RUN_CMD(&rec, "report", TF_OP_CREATE, CID(01), 0x100,
			  "mdt-2a12", "alvarez",
			  "{'fields':{'author':'alvarez','offenses':["
			  "{'code':'b','counts':2},{'code':'a'},"
			  "{'counts':2,'code':'b'}]}}"),
		  TF_ST_APPLIED);
	BYTES(tf_record_field(rec, "offenses"),
	      "{'s':[{'tags':['" CID(
		      01) "'],'v':{'code':'a'}},"
			  "{'tags':['" CID(
				  01) "'],'v':{'code':'b','counts':2}}]}");
	tf_json_free(rec);
}

TEST(set_limit)
{
	/* unit.crew: 16 elements */
	tf_json *rec = NULL;
	char args[128], id[40];
	int i;

	CHECK_INT(RUN_CMD(&rec, "unit", TF_OP_CREATE, CID(01), 0x100,
			  "console-3", "dana", "{'fields':{}}"),
		  TF_ST_APPLIED);
	for (i = 0; i < 16; i++) {
		snprintf(id, sizeof id, "0191a2b3-0000-7000-9000-%012x", i);
		snprintf(args, sizeof args,
			 "{'field':'crew','value':'officer%02d'}", i);
		CHECK_INT(RUN_CMD(&rec, "unit", TF_OP_SET_ADD, id,
				  (tf_hlc)(0x200 + i), "console-3", "dana",
				  args),
			  TF_ST_APPLIED);
	}
	REJECTED(&rec, "unit", TF_OP_SET_ADD, CID(02), 0x400,
		 "{'field':'crew','value':'officer99'}", TF_ELIMIT,
		 "unit.crew");
	/* another tag on a present element still fits */
	CHECK_INT(RUN_CMD(&rec, "unit", TF_OP_SET_ADD, CID(03), 0x400,
			  "console-3", "dana",
			  "{'field':'crew','value':'officer03'}"),
		  TF_ST_APPLIED);
	tf_json_free(rec);
}

/* ------------------------------------------------------- commutativity */

/* Applies cmds in every order (n <= 5) from the same start; all results
 * must have the same canonical bytes. */
static void t_all_orders(const char *start, tf_command *cmds, size_t n,
			 int line)
{
	size_t perm[5], i, count = 0;
	char *first = NULL;
	int done = 0;

	for (i = 0; i < n; i++)
		perm[i] = i;
	while (!done && count < 200) {
		tf_json *rec = t_json(start);
		char *bytes;
		for (i = 0; i < n; i++)
			t_run_c(&rec, &cmds[perm[i]], line);
		bytes = t_canon(rec);
		if (first == NULL) {
			first = bytes;
		} else {
			if (strcmp(first, bytes) != 0)
				tf_test_fail(__FILE__, line,
					     "order %zu differs:\n%s\n%s",
					     count, first, bytes);
			free(bytes);
		}
		tf_json_free(rec);
		count++;
		/* next permutation (lexicographic) */
		{
			size_t k = n - 1, l;
			while (k > 0 && perm[k - 1] >= perm[k])
				k--;
			if (k == 0) {
				done = 1;
			} else {
				size_t tmp;
				l = n - 1;
				while (perm[l] <= perm[k - 1])
					l--;
				tmp = perm[k - 1];
				perm[k - 1] = perm[l];
				perm[l] = tmp;
				for (l = n - 1; k < l; k++, l--) {
					tmp = perm[k];
					perm[k] = perm[l];
					perm[l] = tmp;
				}
			}
		}
	}
	free(first);
}

TEST(commutative_lww_log_set)
{
	tf_json *start = t_unit("enroute");
	char *s = t_canon(start);
	tf_command c[5];
	size_t i;

	/* concurrent writes to lww (with history), a node tie, a log entry
	 * and a set add */
	t_cmd(&c[0], "unit", TF_OP_SET, CID(02), 0x300, "console-3", "dana",
	      "{'fields':{'status':'onscene','status_note':'no contact'}}");
	t_cmd(&c[1], "unit", TF_OP_SET, CID(03), 0x300, "mdt-2a12", "alvarez",
	      "{'fields':{'status':'available'}}");
	t_cmd(&c[2], "unit", TF_OP_SET, CID(04), 0x200, "mdt-2a14", "brooks",
	      "{'fields':{'status':'busy','status_note':'meal'}}");
	t_cmd(&c[3], "unit", TF_OP_SET_ADD, CID(05), 0x250, "mdt-2a12",
	      "alvarez", "{'field':'crew','value':'alvarez'}");
	t_cmd(&c[4], "unit", TF_OP_SET_ADD, CID(06), 0x260, "mdt-2a14",
	      "brooks", "{'field':'crew','value':'alvarez'}");
	/* t_json wants single quotes; the canonical text has none */
	t_all_orders(s, c, 5, __LINE__);
	for (i = 0; i < 5; i++)
		tf_command_clear(&c[i]);
	free(s);
	tf_json_free(start);
}

TEST(commutative_add_wins_over_concurrent_remove)
{
	tf_json *start = t_incident();
	char *s = t_canon(start);
	tf_command c[3];
	tf_json *rec;
	size_t i;

	/* dana removes 2A14 (seen: the create's tag) while brooks re-adds
	 * it and alvarez appends a note */
	t_cmd(&c[0], "incident", TF_OP_SET_REMOVE, CID(02), 0x300, "console-3",
	      "dana",
	      "{'field':'assigned_units','value':'2A14','tags':['" CID(
		      01) "']}");
	t_cmd(&c[1], "incident", TF_OP_SET_ADD, CID(03), 0x280, "mdt-2a14",
	      "brooks", "{'field':'assigned_units','value':'2A14'}");
	t_cmd(&c[2], "incident", TF_OP_APPEND, CID(04), 0x290, "mdt-2a12",
	      "alvarez", "{'field':'notes','body':{'text':'x'}}");
	t_all_orders(s, c, 3, __LINE__);
	rec = t_json(s);
	for (i = 0; i < 3; i++)
		t_run_c(&rec, &c[i], __LINE__);
	BYTES(tf_record_field(rec, "assigned_units"),
	      "{'s':[{'tags':['" CID(01) "'],'v':'2A12'},"
					 "{'tags':['" CID(
						 03) "'],'v':'2A14'}]}");
	tf_json_free(rec);
	for (i = 0; i < 3; i++)
		tf_command_clear(&c[i]);
	free(s);
	tf_json_free(start);
}

TEST(deterministic_replay)
{
	/* the same commands in the same order give the same bytes */
	char *a = NULL, *b = NULL;
	int round;

	for (round = 0; round < 2; round++) {
		tf_json *rec = t_incident();
		RUN_CMD(&rec, "incident", TF_OP_SET, CID(02), 0x300, "mdt-2a12",
			"alvarez", "{'fields':{'priority':1}}");
		RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(03), 0x310,
			"mdt-2a12", "alvarez",
			"{'field':'remarks','base_rev':1,'base':'','text':'a "
			"b'}");
		RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(04), 0x320,
			"console-3", "dana",
			"{'field':'remarks','base_rev':1,'base':'a','text':'c'"
			"}");
		if (round == 0)
			a = t_canon(rec);
		else
			b = t_canon(rec);
		tf_json_free(rec);
	}
	CHECK_STR(a, b);
	free(a);
	free(b);
}

/* --------------------------------------------------------------- text */

#define BASE_TXT "Two males arguing in the lot."

TEST(text_edit_applies_on_current_rev)
{
	tf_json *rec = t_incident();

	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(02), 0x200,
			  "console-3", "dana",
			  "{'field':'remarks','base_rev':1,'base':'" BASE_TXT
			  "','text':'" BASE_TXT " One has a knife.'}"),
		  TF_ST_APPLIED);
	BYTES(tf_record_field(rec, "remarks"),
	      "{'by':'dana','n':'console-3','rev':2,'t':'0000000000000200',"
	      "'v':'" BASE_TXT " One has a knife.'}");
	/* the same text again: no change, no new rev */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(03), 0x300,
			  "console-3", "dana",
			  "{'field':'remarks','base_rev':2,'base':'','text':"
			  "'" BASE_TXT " One has a knife.'}"),
		  TF_ST_APPLIED);
	CHECK_INT(sget(tf_record_field(rec, "remarks"), "v")[0], 'T');
	{
		int64_t rev;
		tf_json_int64(get(tf_record_field(rec, "remarks"), "rev"),
			      &rev);
		CHECK_INT(rev, 2);
	}
	tf_json_free(rec);
}

TEST(text_first_edit_of_absent_field)
{
	tf_json *rec = NULL;

	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_CREATE, CID(01), 0x100,
			  "console-3", "dana", "{'fields':{'priority':2}}"),
		  TF_ST_APPLIED);
	CHECK_INT(
		RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(02), 0x200,
			"mdt-2a12", "alvarez",
			"{'field':'remarks','base_rev':0,'base':'','text':''}"),
		TF_ST_APPLIED);
	CHECK(tf_record_field(rec, "remarks") == NULL);
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(03), 0x300,
			  "mdt-2a12", "alvarez",
			  "{'field':'remarks','base_rev':4,'base':'?','text':'"
			  "hi'}"),
		  TF_ST_APPLIED);
	BYTES(tf_record_field(rec, "remarks"),
	      "{'by':'alvarez','n':'mdt-2a12','rev':1,'t':'0000000000000300',"
	      "'v':'hi'}");
	tf_json_free(rec);
}

TEST(text_stale_edit_conflict_with_merged)
{
	tf_json *rec = t_incident();

	RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(02), 0x200, "console-3",
		"dana",
		"{'field':'remarks','base_rev':1,'base':'" BASE_TXT
		"','text':'" BASE_TXT " One has a knife.'}");
	/* alvarez edited rev 1 offline: a different region */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(03), 0x150,
			  "mdt-2a12", "alvarez",
			  "{'field':'remarks','base_rev':1,'base':'" BASE_TXT
			  "','text':'Two adult males arguing in the lot.'}"),
		  TF_ST_CONFLICT);
	CHECK_STR(g_detail, "{\"conflict\":\"" CID(03) "\"}");
	BYTES(tf_record_field(rec, "remarks"),
	      "{'by':'dana','conflicts':[{'base':'" BASE_TXT "','base_rev':1,"
	      "'by':'alvarez','head':'" BASE_TXT " One has a knife.',"
	      "'head_by':'dana','head_rev':2,'id':'" CID(
		      03) "',"
			  "'merged':'Two adult males arguing in the lot. One "
			  "has a "
			  "knife.','n':'mdt-2a12',"
			  "'proposed':'Two adult males arguing in the lot.',"
			  "'t':'0000000000000150'}],"
			  "'n':'console-3','rev':2,'t':'0000000000000200',"
			  "'v':'" BASE_TXT " One has a knife.'}");
	CHECK_INT(tf_record_conflicts(rec), 1);
	/* the same command again: still the one conflict */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(03), 0x150,
			  "mdt-2a12", "alvarez",
			  "{'field':'remarks','base_rev':1,'base':'" BASE_TXT
			  "','text':'Two adult males arguing in the lot.'}"),
		  TF_ST_CONFLICT);
	CHECK_INT(tf_record_conflicts(rec), 1);
	tf_json_free(rec);
}

TEST(text_conflict_without_merged_and_noops)
{
	tf_json *rec = t_incident();

	RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(02), 0x200, "console-3",
		"dana",
		"{'field':'remarks','base_rev':1,'base':'','text':'Two males "
		"fighting in the lot.'}");
	/* the same word changed both ways: no merged proposal */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(03), 0x300,
			  "mdt-2a12", "alvarez",
			  "{'field':'remarks','base_rev':1,'base':'" BASE_TXT
			  "','text':'Two males yelling in the lot.'}"),
		  TF_ST_CONFLICT);
	CHECK(get(get(tf_record_field(rec, "remarks"), "conflicts")->u.items[0],
		  "merged") == NULL);
	/* proposed == head: they agree, nothing to do */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(04), 0x300,
			  "mdt-2a14", "brooks",
			  "{'field':'remarks','base_rev':1,'base':'" BASE_TXT
			  "','text':'Two males fighting in the lot.'}"),
		  TF_ST_APPLIED);
	/* proposed == base: the editor changed nothing */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(05), 0x300,
			  "mdt-2a14", "brooks",
			  "{'field':'remarks','base_rev':1,'base':'" BASE_TXT
			  "','text':'" BASE_TXT "'}"),
		  TF_ST_APPLIED);
	CHECK_INT(tf_record_conflicts(rec), 1);
	tf_json_free(rec);
}

TEST(text_conflict_limit)
{
	tf_json *rec = t_incident();
	char id[40], args[200];
	int i;

	RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(02), 0x200, "console-3",
		"dana",
		"{'field':'remarks','base_rev':1,'base':'','text':'head'}");
	for (i = 0; i < TF_TEXT_MAX_CONFLICTS; i++) {
		snprintf(id, sizeof id, "0191a2b3-0000-7000-9000-%012x", i);
		snprintf(args, sizeof args,
			 "{'field':'remarks','base_rev':1,'base':'b',"
			 "'text':'proposal %d'}",
			 i);
		CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, id,
				  (tf_hlc)(0x300 + i), "mdt-2a12", "alvarez",
				  args),
			  TF_ST_CONFLICT);
	}
	REJECTED(
		&rec, "incident", TF_OP_EDIT_TEXT, CID(03), 0x400,
		"{'field':'remarks','base_rev':1,'base':'b','text':'one more'}",
		TF_ELIMIT, "incident.remarks");
	/* an edit on the current rev still applies */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(04), 0x400,
			  "console-3", "dana",
			  "{'field':'remarks','base_rev':2,'base':'head',"
			  "'text':'head 2'}"),
		  TF_ST_APPLIED);
	CHECK_INT(tf_record_conflicts(rec), TF_TEXT_MAX_CONFLICTS);
	tf_json_free(rec);
}

/* A record with one conflict CID(03) on remarks at rev 2. */
static tf_json *t_conflicted(void)
{
	tf_json *rec = t_incident();

	RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(02), 0x200, "console-3",
		"dana",
		"{'field':'remarks','base_rev':1,'base':'','text':'" BASE_TXT
		" One has a knife.'}");
	RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(03), 0x150, "mdt-2a12",
		"alvarez",
		"{'field':'remarks','base_rev':1,'base':'" BASE_TXT
		"','text':'Two adult males arguing in the lot.'}");
	return rec;
}

TEST(text_resolve_merged)
{
	tf_json *rec = t_conflicted();

	REJECTED(&rec, "incident", TF_OP_RESOLVE, CID(04), 0x400,
		 "{'field':'remarks','conflict':'" CID(
			 99) "','head_rev':2,"
			     "'text':'x','choice':'custom'}",
		 TF_ENOTFOUND, "incident.remarks");
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_RESOLVE, CID(05), 0x400,
			  "console-1", "sgt",
			  "{'field':'remarks','conflict':'" CID(
				  03) "',"
				      "'head_rev':2,'text':'Two adult males "
				      "arguing in the "
				      "lot. One has a "
				      "knife.','choice':'merged'}"),
		  TF_ST_APPLIED);
	{
		char *want = t_q("{'choice':'merged','conflict':'" CID(
			03) "',"
			    "'discarded':[{'by':'dana','from':'head','text':"
			    "'" BASE_TXT " One has a "
			    "knife.'},{'by':'alvarez','from':'proposed',"
			    "'text':'Two adult males arguing in the lot.'}],"
			    "'field':'remarks','kept':'Two adult males arguing "
			    "in "
			    "the lot. One has a knife.'}");
		CHECK_STR(g_detail, want);
		free(want);
	}
	BYTES(tf_record_field(rec, "remarks"),
	      "{'by':'sgt','n':'console-1','rev':3,'t':'0000000000000400',"
	      "'v':'Two adult males arguing in the lot. One has a knife.'}");
	CHECK_INT(tf_record_conflicts(rec), 0);
	/* resolved already */
	REJECTED(&rec, "incident", TF_OP_RESOLVE, CID(06), 0x500,
		 "{'field':'remarks','conflict':'" CID(
			 03) "','head_rev':3,"
			     "'text':'x','choice':'custom'}",
		 TF_ENOTFOUND, "incident.remarks");
	tf_json_free(rec);
}

TEST(text_resolve_keep_head_and_mine)
{
	tf_json *rec = t_conflicted();

	/* keep the head: only the proposal is discarded, text unchanged */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_RESOLVE, CID(05), 0x400,
			  "console-1", "sgt",
			  "{'field':'remarks','conflict':'" CID(
				  03) "',"
				      "'head_rev':2,'text':'" BASE_TXT
				      " One has a knife.','choice':'theirs'}"),
		  TF_ST_APPLIED);
	{
		char *want = t_q("{'choice':'theirs','conflict':'" CID(
			03) "',"
			    "'discarded':[{'by':'alvarez','from':'proposed',"
			    "'text':'Two adult males arguing in the lot.'}],"
			    "'field':'remarks','kept':'" BASE_TXT
			    " One has a knife.'}");
		CHECK_STR(g_detail, want);
		free(want);
	}
	BYTES(tf_record_field(rec, "remarks"),
	      "{'by':'dana','n':'console-3','rev':2,'t':'0000000000000200',"
	      "'v':'" BASE_TXT " One has a knife.'}");
	tf_json_free(rec);

	rec = t_conflicted();
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_RESOLVE, CID(05), 0x400,
			  "mdt-2a12", "alvarez",
			  "{'field':'remarks','conflict':'" CID(
				  03) "',"
				      "'head_rev':2,'text':'Two adult males "
				      "arguing in the "
				      "lot.','choice':'mine'}"),
		  TF_ST_APPLIED);
	{
		char *want = t_q("{'choice':'mine','conflict':'" CID(
			03) "',"
			    "'discarded':[{'by':'dana','from':'head','text':"
			    "'" BASE_TXT
			    " One has a knife.'}],'field':'remarks',"
			    "'kept':'Two adult males arguing in the lot.'}");
		CHECK_STR(g_detail, want);
		free(want);
	}
	tf_json_free(rec);
}

TEST(text_stale_resolve_becomes_new_conflict)
{
	tf_json *rec = t_conflicted();

	/* someone edits after the resolver looked at rev 2 */
	RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(04), 0x300, "console-3",
		"dana",
		"{'field':'remarks','base_rev':2,'base':'','text':'" BASE_TXT
		" One has a knife. Units on scene.'}");
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_RESOLVE, CID(05), 0x400,
			  "console-1", "sgt",
			  "{'field':'remarks','conflict':'" CID(
				  03) "',"
				      "'head_rev':2,'text':'Two adult males "
				      "arguing in the "
				      "lot. One has a "
				      "knife.','choice':'merged'}"),
		  TF_ST_CONFLICT);
	CHECK_STR(g_detail, "{\"conflict\":\"" CID(05) "\"}");
	/* nothing lost: the old conflict's head is the base, the current
	 * text the head, the resolution the proposal */
	BYTES(tf_record_field(rec, "remarks"),
	      "{'by':'dana','conflicts':[{'base':'" BASE_TXT
	      " One has a knife.','base_rev':2,'by':'sgt',"
	      "'head':'" BASE_TXT " One has a knife. Units on scene.',"
	      "'head_by':'dana','head_rev':3,'id':'" CID(
		      05) "',"
			  "'merged':'Two adult males arguing in the lot. One "
			  "has a knife. "
			  "Units on scene.','n':'console-1',"
			  "'proposed':'Two adult males arguing in the lot. One "
			  "has a "
			  "knife.','t':'0000000000000400'}],"
			  "'n':'console-3','rev':3,'t':'0000000000000300',"
			  "'v':'" BASE_TXT
			  " One has a knife. Units on scene.'}");
	/* resolving the new one on the current rev closes it */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_RESOLVE, CID(06), 0x500,
			  "console-1", "sgt",
			  "{'field':'remarks','conflict':'" CID(
				  05) "',"
				      "'head_rev':3,'text':'Two adult males "
				      "arguing in the "
				      "lot. One has a knife. Units on scene.',"
				      "'choice':'merged'}"),
		  TF_ST_APPLIED);
	CHECK_INT(tf_record_conflicts(rec), 0);
	tf_json_free(rec);
}

/*
 * A stale resolve turns into a conflict named by its command id; when a
 * conflict of the field already has that id (a reused command id), the
 * command is rejected with a reason, not failed with a bare TF_EINVAL.
 */
TEST(text_stale_resolve_with_a_taken_id)
{
	tf_json *rec = t_conflicted();

	RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(04), 0x300, "console-3",
		"dana",
		"{'field':'remarks','base_rev':2,'base':'','text':'moved on'}");
	REJECTED(&rec, "incident", TF_OP_RESOLVE, CID(03), 0x400,
		 "{'field':'remarks','conflict':'" CID(
			 03) "','head_rev':2,'text':'mine','choice':'custom'}",
		 TF_EEXIST, "incident.remarks");
	CHECK_INT(tf_record_conflicts(rec), 1);
	tf_json_free(rec);
}

TEST(text_stale_resolve_agreeing_with_current)
{
	tf_json *rec = t_conflicted();

	RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(04), 0x300, "console-3",
		"dana",
		"{'field':'remarks','base_rev':2,'base':'','text':'settled'}");
	/* the resolver (stale rev) keeps exactly the current text */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_RESOLVE, CID(05), 0x400,
			  "console-1", "sgt",
			  "{'field':'remarks','conflict':'" CID(
				  03) "',"
				      "'head_rev':2,'text':'settled','choice':'"
				      "custom'}"),
		  TF_ST_APPLIED);
	CHECK_INT(tf_record_conflicts(rec), 0);
	{
		char *want = t_q("{'choice':'custom','conflict':'" CID(
			03) "',"
			    "'discarded':[{'by':'alvarez','from':'proposed',"
			    "'text':'Two adult males arguing in the lot.'}],"
			    "'field':'remarks','kept':'settled'}");
		CHECK_STR(g_detail, want);
		free(want);
	}
	tf_json_free(rec);
}

TEST(text_resolve_one_of_two)
{
	tf_json *rec = t_conflicted();

	RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(04), 0x160, "mdt-2a14",
		"brooks",
		"{'field':'remarks','base_rev':1,'base':'" BASE_TXT
		"','text':'Three males.'}");
	CHECK_INT(tf_record_conflicts(rec), 2);
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_RESOLVE, CID(05), 0x400,
			  "console-1", "sgt",
			  "{'field':'remarks','conflict':'" CID(
				  04) "',"
				      "'head_rev':2,'text':'Three males. One "
				      "has a knife.',"
				      "'choice':'custom'}"),
		  TF_ST_APPLIED);
	CHECK_INT(tf_record_conflicts(rec), 1);
	CHECK_STR(sget(get(tf_record_field(rec, "remarks"), "conflicts")
			       ->u.items[0],
		       "id"),
		  CID(03));
	tf_json_free(rec);
}

/*
 * Each side within max_bytes does not make their merge so: a "merged"
 * past the field's limit would fail tf_record_check on every replica
 * that pulls the record, so the conflict is kept without one.
 */
TEST(text_merged_past_max_bytes_is_left_out)
{
	tf_json *rec = NULL, *conflict;
	size_t side = 40000, n;
	char *head = malloc(side + 8), *prop = malloc(side + 8);
	char *args = malloc(2 * side + 200);

	if (head == NULL || prop == NULL || args == NULL)
		abort();
	memset(head, 'A', side);
	memcpy(head + side, " lot", 5);
	memcpy(prop, "lot ", 4);
	memset(prop + 4, 'B', side);
	prop[side + 4] = '\0';
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_CREATE, CID(01), 0x100,
			  "console-3", "dana", "{'fields':{'remarks':'lot'}}"),
		  TF_ST_APPLIED);
	snprintf(args, 2 * side + 200,
		 "{'field':'remarks','base_rev':1,'base':'lot','text':'%s'}",
		 head);
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(02), 0x200,
			  "console-3", "dana", args),
		  TF_ST_APPLIED);
	snprintf(args, 2 * side + 200,
		 "{'field':'remarks','base_rev':1,'base':'lot','text':'%s'}",
		 prop);
	/* the two edits merge cleanly, into 80,005 bytes > 65,536 */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(03), 0x180,
			  "mdt-2a12", "alvarez", args),
		  TF_ST_CONFLICT);
	conflict = get(tf_record_field(rec, "remarks"), "conflicts");
	CHECK(conflict != NULL && conflict->len == 1);
	if (conflict && conflict->len == 1) {
		CHECK(get(conflict->u.items[0], "merged") == NULL);
		CHECK(tf_json_get_str(conflict->u.items[0], "proposed", &n) &&
		      n == side + 4);
		CHECK(tf_json_get_str(conflict->u.items[0], "head", &n) &&
		      n == side + 4);
	}
	free(args);
	free(prop);
	free(head);
	tf_json_free(rec);
}

/*
 * A text at rev INT64_MAX (a state tf_record_check accepts) cannot take
 * another revision: the write is refused, not wrapped (signed overflow).
 */
TEST(text_rev_at_int64_max)
{
	tf_json *rec =
		t_json("{'entity':'incident','f':{'remarks':{'by':'dana',"
		       "'conflicts':[{'base':'a','base_rev':1,'by':'alvarez',"
		       "'head':'b','head_by':'dana','head_rev':2,'id':'" CID(
			       03) "','n':'mdt-2a12','proposed':'c',"
				   "'t':'0000000000000150'}],"
				   "'n':'console-3','rev':9223372036854775807,"
				   "'t':'0000000000000200','v':'b'}},'id':'" REC
				   "','mhlc':'0000000000000200','ver':5}");

	CHECK_INT(tf_record_check(schema, rec, NULL), 0);
	REJECTED(&rec, "incident", TF_OP_EDIT_TEXT, CID(04), 0x300,
		 "{'field':'remarks','base_rev':9223372036854775807,"
		 "'base':'b','text':'b2'}",
		 TF_ERANGE, "incident.remarks");
	REJECTED(&rec, "incident", TF_OP_RESOLVE, CID(05), 0x300,
		 "{'field':'remarks','conflict':'" CID(
			 03) "','head_rev':9223372036854775807,"
			     "'text':'c','choice':'mine'}",
		 TF_ERANGE, "incident.remarks");
	/* what needs no new revision still goes through */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_RESOLVE, CID(06), 0x300,
			  "console-1", "sgt",
			  "{'field':'remarks','conflict':'" CID(
				  03) "','head_rev':9223372036854775807,"
				      "'text':'b','choice':'theirs'}"),
		  TF_ST_APPLIED);
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(07), 0x300,
			  "console-1", "sgt",
			  "{'field':'remarks','base_rev':1,'base':'a',"
			  "'text':'z'}"),
		  TF_ST_CONFLICT);
	tf_json_free(rec);
}

/* ---------------------------------------------------------------- ref */

TEST(ref_set_permission_and_stale)
{
	tf_json *rec = t_incident();

	g_allow_ref = 0;
	REJECTED(&rec, "incident", TF_OP_REF_SET, CID(02), 0x200,
		 "{'fields':{'incident_number':{'v':'2026-001234',"
		 "'fetched_at':1764000000000,'ttl':3600000}}}",
		 TF_EPERM, "incident.incident_number");
	g_allow_ref = 1;
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_REF_SET, CID(02), 0x200,
			  "tenfourd", "service",
			  "{'fields':{'incident_number':{'v':'2026-001234',"
			  "'fetched_at':1764000000000,'ttl':3600000}}}"),
		  TF_ST_APPLIED);
	BYTES(tf_record_field(rec, "incident_number"),
	      "{'fetched_at':1764000000000,'t':'0000000000000200',"
	      "'ttl':3600000,'v':'2026-001234'}");
	CHECK_STR(tf_record_value(rec, "incident_number")->u.str,
		  "2026-001234");
	CHECK_INT(tf_record_ref_stale(rec, "incident_number", 1764003600000LL),
		  0);
	CHECK_INT(tf_record_ref_stale(rec, "incident_number", 1764003600001LL),
		  1);
	CHECK_INT(tf_record_ref_stale(rec, "priority", 1764003600001LL), 0);
	CHECK_INT(tf_record_ref_stale(rec, "nope", 1764003600001LL), 0);
	/* an older ref_set loses */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_REF_SET, CID(03), 0x100,
			  "tenfourd", "service",
			  "{'fields':{'incident_number':{'v':'old',"
			  "'fetched_at':1,'ttl':1}}}"),
		  TF_ST_APPLIED);
	CHECK_STR(g_detail, "{\"lost\":[\"incident_number\"]}");
	CHECK_STR(tf_record_value(rec, "incident_number")->u.str,
		  "2026-001234");
	/* a newer one replaces it */
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_REF_SET, CID(04), 0x300,
			  "tenfourd", "service",
			  "{'fields':{'incident_number':{'v':'2026-001235',"
			  "'fetched_at':1764000100000,'ttl':0}}}"),
		  TF_ST_APPLIED);
	CHECK_INT(tf_record_ref_stale(rec, "incident_number", 1764000100000LL),
		  0);
	CHECK_INT(tf_record_ref_stale(rec, "incident_number", 1764000100001LL),
		  1);
	g_allow_ref = 0;
	tf_json_free(rec);
}

/* ---------------------------------------------------------- authority */

TEST(authority_ver_and_srv)
{
	tf_json *rec;
	int64_t i;

	g_authority = 1;
	rec = t_incident();
	CHECK_INT(tf_record_ver(rec), 1);
	for (i = 0; i < 12; i++) {
		char id[40];
		snprintf(id, sizeof id, "0191a2b3-0000-7000-9000-%012llx",
			 (long long)i);
		/* losing sets still count as applied commands */
		CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_SET, id,
				  (tf_hlc)(0x50 + i), "mdt-2a12", "alvarez",
				  "{'fields':{'priority':3}}"),
			  TF_ST_APPLIED);
		CHECK_INT(tf_record_ver(rec), i + 2);
	}
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_APPEND, CID(02), 0x200,
			  "mdt-2a12", "alvarez",
			  "{'field':'notes','body':{'text':'x'}}"),
		  TF_ST_APPLIED);
	CHECK_INT(tf_record_ver(rec), 14);
	BYTES(get(get(tf_record_field(rec, "notes"), "e")->u.items[0], "srv"),
	      "1764000000000");
	/* a conflict counts too; a rejection does not */
	RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(03), 0x210, "console-3",
		"dana",
		"{'field':'remarks','base_rev':1,'base':'','text':'y'}");
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_EDIT_TEXT, CID(04), 0x220,
			  "mdt-2a12", "alvarez",
			  "{'field':'remarks','base_rev':1,'base':'" BASE_TXT
			  "','text':'z'}"),
		  TF_ST_CONFLICT);
	CHECK_INT(tf_record_ver(rec), 16);
	REJECTED(&rec, "incident", TF_OP_CREATE, CID(05), 0x300,
		 "{'fields':{}}", TF_EEXIST, NULL);
	CHECK_INT(tf_record_ver(rec), 16);
	g_authority = 0;
	/* a replica does not stamp */
	RUN_CMD(&rec, "incident", TF_OP_APPEND, CID(06), 0x400, "mdt-2a12",
		"alvarez", "{'field':'notes','body':{'text':'w'}}");
	CHECK_INT(tf_record_ver(rec), 16);
	CHECK(get(get(tf_record_field(rec, "notes"), "e")->u.items[1], "srv") ==
	      NULL);
	BYTES(get(rec, "mhlc"), "'0000000000000400'");
	tf_json_free(rec);
}

/*
 * A server apply raises ver; a record at ver INT64_MAX (which
 * tf_record_check accepts) takes no more: rejected with a reason and the
 * record unchanged, as a replica (no ver bump) still applies.
 */
TEST(authority_ver_at_int64_max)
{
	tf_json *rec = t_incident();

	tf_json_object_set(rec, "ver", tf_json_int(INT64_MAX));
	CHECK_INT(tf_record_check(schema, rec, NULL), 0);
	g_authority = 1;
	REJECTED(&rec, "incident", TF_OP_SET, CID(05), 0x300,
		 "{'fields':{'priority':1}}", TF_ERANGE, "incident");
	g_authority = 0;
	CHECK_INT(RUN_CMD(&rec, "incident", TF_OP_SET, CID(05), 0x300,
			  "mdt-2a12", "alvarez", "{'fields':{'priority':1}}"),
		  TF_ST_APPLIED);
	CHECK_INT(tf_record_ver(rec), INT64_MAX);
	tf_json_free(rec);
}

/*
 * The server stamps "srv" with now_ms, which tf_record_check wants >= 0:
 * a host passing a negative time gets TF_EINVAL, not a state that every
 * replica would refuse.
 */
TEST(authority_needs_a_time)
{
	tf_json *rec = t_incident();
	tf_command c;
	tf_apply_ctx ctx;
	tf_apply_result res;
	char *before = t_canon(rec), *after;

	t_cmd(&c, "incident", TF_OP_APPEND, CID(05), 0x300, "mdt-2a12",
	      "alvarez", "{'field':'notes','body':{'text':'w'}}");
	memset(&ctx, 0, sizeof ctx);
	ctx.schema = schema;
	ctx.now_ms = -1;
	ctx.authority = 1;
	CHECK_INT(tf_record_apply(&rec, &c, &ctx, &res), TF_EINVAL);
	CHECK(res.detail == NULL);
	after = t_canon(rec);
	CHECK_STR(after, before);
	free(after);
	/* a replica does not stamp srv: its clock is not consulted */
	ctx.authority = 0;
	CHECK_INT(tf_record_apply(&rec, &c, &ctx, &res), 0);
	CHECK_INT(res.status, TF_ST_APPLIED);
	CHECK_INT(tf_record_check(schema, rec, NULL), 0);
	tf_apply_result_clear(&res);
	tf_command_clear(&c);
	free(before);
	tf_json_free(rec);
}

/* ----------------------------------------------------------- scenario */

/* Minute m (+ s seconds) of the incident #1234 timeline as an HLC. */
static tf_hlc t_at(int m, int s)
{
	return TF_HLC_MAKE(NOW + (int64_t)m * 60000 + (int64_t)s * 1000, 0);
}

TEST(scenario_incident_1234)
{
	tf_json *inc = NULL, *unit = NULL;
	const int skew = 40; /* 2A12's clock runs 40 s fast */
	tf_command type_2a12;
	tf_json *e;

	g_authority = 1;
	/* minute 0: Dana creates #1234 and assigns 2A12 and 2A14 */
	CHECK_INT(RUN_CMD(&inc, "incident", TF_OP_CREATE, CID(01), t_at(0, 0),
			  "console-3", "dana",
			  "{'fields':{'type_code':'disturbance','priority':2,"
			  "'status':'dispatched','remarks':'" BASE_TXT "',"
			  "'assigned_units':['2A12','2A14']}}"),
		  TF_ST_APPLIED);
	CHECK_INT(RUN_CMD(&unit, "unit", TF_OP_CREATE, CID(02), t_at(0, 1),
			  "console-3", "dana",
			  "{'fields':{'status':'dispatched'}}"),
		  TF_ST_APPLIED);
	CHECK_INT(RUN_CMD(&unit, "unit", TF_OP_SET, CID(03), t_at(1, 0),
			  "mdt-2a12", "alvarez",
			  "{'fields':{'status':'enroute'}}"),
		  TF_ST_APPLIED);
	CHECK_INT(RUN_CMD(&unit, "unit", TF_OP_SET, CID(04), t_at(3, 0),
			  "mdt-2a12", "alvarez",
			  "{'fields':{'status':'onscene'}}"),
		  TF_ST_APPLIED);

	/* minutes 7-9, online: Dana's changes reach the server first */
	CHECK_INT(RUN_CMD(&inc, "incident", TF_OP_SET, CID(10), t_at(7, 0),
			  "console-3", "dana",
			  "{'fields':{'priority':1,'type_code':'assault-weapon'"
			  "}}"),
		  TF_ST_APPLIED);
	CHECK_STR(g_detail, "");
	CHECK_INT(RUN_CMD(&inc, "incident", TF_OP_APPEND, CID(11), t_at(7, 30),
			  "console-3", "dana",
			  "{'field':'notes','body':{'text':'RP calling back: "
			  "one has a knife'}}"),
		  TF_ST_APPLIED);
	CHECK_INT(RUN_CMD(&inc, "incident", TF_OP_SET_REMOVE, CID(12),
			  t_at(8, 0), "console-3", "dana",
			  "{'field':'assigned_units','value':'2A14','tags':["
			  "'" CID(01) "']}"),
		  TF_ST_APPLIED);
	CHECK_INT(RUN_CMD(&inc, "incident", TF_OP_EDIT_TEXT, CID(13),
			  t_at(8, 30), "console-3", "dana",
			  "{'field':'remarks','base_rev':1,'base':'" BASE_TXT
			  "','text':'" BASE_TXT " One has a knife.'}"),
		  TF_ST_APPLIED);
	CHECK_INT(RUN_CMD(&unit, "unit", TF_OP_SET, CID(14), t_at(9, 0),
			  "console-3", "dana",
			  "{'fields':{'status':'onscene','status_note':'no "
			  "contact'}}"),
		  TF_ST_APPLIED);

	/* minute 12: 2A12 reconnects; its queue (stamped offline with its
	 * fast clock) arrives in seq order.  The 40 s skew is inside the
	 * server's 60 s window. */
	CHECK_INT(tf_hlc_check_skew(NOW + 12 * 60000, TF_DEFAULT_MAX_SKEW_MS,
				    t_at(10, skew)),
		  0);
	CHECK_INT(RUN_CMD(&inc, "incident", TF_OP_APPEND, CID(20),
			  t_at(4, skew), "mdt-2a12", "alvarez",
			  "{'field':'notes','body':{'text':'in parking "
			  "structure, no signal'}}"),
		  TF_ST_APPLIED);
	CHECK_INT(RUN_CMD(&inc, "incident", TF_OP_APPEND, CID(21),
			  t_at(5, skew), "mdt-2a12", "alvarez",
			  "{'field':'notes','body':{'text':'plate check "
			  "ABC123: BOLO active (cached)'}}"),
		  TF_ST_APPLIED);
	t_cmd(&type_2a12, "incident", TF_OP_SET, CID(22), t_at(6, skew),
	      "mdt-2a12", "alvarez", "{'fields':{'type_code':'dv'}}");
	CHECK_INT(t_run_c(&inc, &type_2a12, __LINE__), TF_ST_APPLIED);
	CHECK_STR(g_detail, "{\"lost\":[\"type_code\"]}");
	CHECK_INT(RUN_CMD(&inc, "incident", TF_OP_EDIT_TEXT, CID(23),
			  t_at(6, skew + 5), "mdt-2a12", "alvarez",
			  "{'field':'remarks','base_rev':1,'base':'" BASE_TXT
			  "','text':'Two adult males arguing in the lot.'}"),
		  TF_ST_CONFLICT);
	CHECK_STR(g_detail, "{\"conflict\":\"" CID(23) "\"}");
	CHECK_INT(RUN_CMD(&unit, "unit", TF_OP_SET, CID(24), t_at(10, skew),
			  "mdt-2a12", "alvarez",
			  "{'fields':{'status':'available'}}"),
		  TF_ST_APPLIED);
	CHECK_STR(g_detail, "");

	/* notes interleave by clock, nothing lost */
	e = get(tf_record_field(inc, "notes"), "e");
	CHECK_INT(e->len, 3);
	CHECK_STR(sget(e->u.items[0], "id"), CID(20));
	CHECK_STR(sget(e->u.items[1], "id"), CID(21));
	CHECK_STR(sget(e->u.items[2], "id"), CID(11));
	/* type resolves by clock; 2A12 gets a supersede notice */
	CHECK_STR(tf_record_value(inc, "type_code")->u.str, "assault-weapon");
	CHECK_INT(tf_record_superseded(inc, &type_2a12, "type_code"), 1);
	BYTES(tf_record_value(inc, "priority"), "1");
	/* 2A14's removal stands */
	BYTES(tf_record_field(inc, "assigned_units"),
	      "{'s':[{'tags':['" CID(01) "'],'v':'2A12'}]}");
	/* remarks: a conflict with both sides and a merged proposal */
	CHECK_INT(tf_record_conflicts(inc), 1);
	BYTES(get(get(tf_record_field(inc, "remarks"), "conflicts")->u.items[0],
		  "merged"),
	      "'Two adult males arguing in the lot. One has a knife.'");
	/* the supervisor reconciles side by side; the result names what was
	 * discarded and by whom (for the audit entry) */
	CHECK_INT(RUN_CMD(&inc, "incident", TF_OP_RESOLVE, CID(30), t_at(13, 0),
			  "console-1", "sgt-ortiz",
			  "{'field':'remarks','conflict':'" CID(
				  23) "',"
				      "'head_rev':2,'text':'Two adult males "
				      "arguing in the "
				      "lot. One has a "
				      "knife.','choice':'merged'}"),
		  TF_ST_APPLIED);
	CHECK(strstr(g_detail, "\"by\":\"dana\",\"from\":\"head\"") != NULL);
	CHECK(strstr(g_detail, "\"by\":\"alvarez\",\"from\":\"proposed\"") !=
	      NULL);
	/* 2A12's status resolves by clock; both changes in the history */
	CHECK_STR(tf_record_value(unit, "status")->u.str, "available");
	e = get(tf_record_field(unit, "status_history"), "e");
	CHECK_INT(e->len, 5);
	CHECK_STR(sget(e->u.items[3], "id"), CID(14));
	CHECK_STR(sget(e->u.items[4], "id"), CID(24));
	/* every applied command counted */
	CHECK_INT(tf_record_ver(inc), 10);
	CHECK_INT(tf_record_ver(unit), 5);
	g_authority = 0;
	tf_command_clear(&type_2a12);
	tf_json_free(inc);
	tf_json_free(unit);
}

/* ------------------------------------------------------------- check */

typedef struct chk_case {
	const char *from; /* substring of the good record to replace */
	const char *to;
	int code;
	const char *where;
} chk_case;

TEST(check_failure_table)
{
	/* a state with every class, produced by apply */
	tf_json *rec = t_conflicted(), *bad;
	char *good, *text;
	size_t i;
	static const chk_case cases[] = {
		{"\"ver\":0", "\"ver\":-1", TF_ERANGE, "ver"},
		{"\"ver\":0", "\"ver\":\"0\"", TF_ETYPE, "ver"},
		{"\"ver\":0", "\"ver\":0,\"x\":1", TF_EUNKNOWN, "record"},
		{"\"entity\":\"incident\"", "\"entity\":\"warrant\"",
		 TF_EUNKNOWN, "entity"},
		{"\"mhlc\":\"0000000000000200\"", "\"mhlc\":\"00000000000002\"",
		 TF_EVALIDATE, "mhlc"},
		{"\"mhlc\":\"0000000000000200\"",
		 "\"mhlc\":\"00000000000000ff\"", TF_EVALIDATE,
		 "incident.priority"},
		{"\"id\":\"" REC "\"", "\"id\":\"x\"", TF_EVALIDATE, "id"},
		{"\"priority\":{", "\"nope\":{\"a\":1},\"priority\":{",
		 TF_EUNKNOWN, "incident.nope"},
		{"\"v\":2}", "\"v\":9}", TF_ERANGE, "incident.priority"},
		{"\"v\":2}", "\"v\":2,\"w\":1}", TF_EUNKNOWN,
		 "incident.priority"},
		{"\"n\":\"console-3\",\"t\":\"0000000000000100\",\"v\":2",
		 "\"n\":\"console 3\",\"t\":\"0000000000000100\",\"v\":2",
		 TF_EVALIDATE, "incident.priority"},
		{"\"n\":\"console-3\",\"t\":\"0000000000000100\",\"v\":2",
		 "\"t\":\"0000000000000100\",\"v\":2", TF_EMISSING,
		 "incident.priority"},
		{"\"t\":\"0000000000000100\",\"v\":2",
		 "\"t\":\"000000000000010G\",\"v\":2", TF_EVALIDATE,
		 "incident.priority"},
		{"{\"tags\":[\"" CID(01) "\"],\"v\":\"2A12\"},",
		 "{\"tags\":[\"" CID(01) "\"],\"v\":\"2A14\"},", TF_EVALIDATE,
		 "incident.assigned_units"},
		{"{\"tags\":[\"" CID(01) "\"],\"v\":\"2A12\"},",
		 "{\"tags\":[],\"v\":\"2A12\"},", TF_ELIMIT,
		 "incident.assigned_units"},
		{"{\"tags\":[\"" CID(01) "\"],\"v\":\"2A12\"},",
		 "{\"tags\":[\"" CID(01) "\",\"" CID(01) "\"],\"v\":\"2A12\"},",
		 TF_EVALIDATE, "incident.assigned_units"},
		{"{\"tags\":[\"" CID(01) "\"],\"v\":\"2A12\"},",
		 "{\"tags\":[\"x\"],\"v\":\"2A12\"},", TF_EVALIDATE,
		 "incident.assigned_units"},
		{"{\"tags\":[\"" CID(01) "\"],\"v\":\"2A12\"},",
		 "{\"tags\":[\"" CID(01) "\"],\"v\":12},", TF_ETYPE,
		 "incident.assigned_units"},
		{"\"assigned_units\":{\"s\":",
		 "\"assigned_units\":{\"x\":0,\"s\":", TF_EUNKNOWN,
		 "incident.assigned_units"},
		{"\"rev\":2", "\"rev\":0", TF_ERANGE, "incident.remarks"},
		{"\"rev\":2", "\"rev\":1", TF_EVALIDATE, "incident.remarks"},
		{"\"head_rev\":2", "\"head_rev\":\"2\"", TF_ETYPE,
		 "incident.remarks"},
		{"\"head_by\":\"dana\",", "", TF_EMISSING, "incident.remarks"},
		{"\"proposed\":\"Two", "\"extra\":1,\"proposed\":\"Two",
		 TF_EUNKNOWN, "incident.remarks"},
		{"\"id\":\"" CID(03) "\"", "\"id\":\"bad\"", TF_EVALIDATE,
		 "incident.remarks"},
		{"\"conflicts\":[{", "\"x\":[{", TF_EUNKNOWN,
		 "incident.remarks"},
		{"\"base_rev\":1", "\"base_rev\":-4", TF_ERANGE,
		 "incident.remarks"},
		{"\"status\":{\"by\":\"dana\"", "\"status\":{\"by\":\"\"",
		 TF_EVALIDATE, "incident.status"},
		{"\"v\":\"pending\"", "\"v\":\"lost\"", TF_EVALIDATE,
		 "incident.status"},
	};

	good = t_canon(rec);
	CHECK_INT(tf_record_check(schema, rec, NULL), 0);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const chk_case *k = &cases[i];
		const char *at = strstr(good, k->from);
		size_t n;
		tf_err err;
		int rc;

		if (at == NULL) {
			tf_test_fail(__FILE__, __LINE__,
				     "case %zu: \"%s\" not in %s", i, k->from,
				     good);
			continue;
		}
		n = strlen(good) - strlen(k->from) + strlen(k->to);
		text = malloc(n + 1);
		memcpy(text, good, (size_t)(at - good));
		strcpy(text + (at - good), k->to);
		strcat(text, at + strlen(k->from));
		bad = NULL;
		if (tf_json_parse(text, strlen(text), NULL, &bad, &err) != 0) {
			tf_test_fail(__FILE__, __LINE__,
				     "case %zu: does not parse: %s", i, text);
			free(text);
			continue;
		}
		tf_err_clear(&err);
		rc = tf_record_check(schema, bad, &err);
		if (rc != k->code || strcmp(err.where, k->where) != 0)
			tf_test_fail(__FILE__, __LINE__,
				     "case %zu: rc %d where \"%s\" (%s), want "
				     "%d \"%s\"",
				     i, rc, err.where, err.msg, k->code,
				     k->where);
		if (rc && strstr(err.msg, REC) == NULL &&
		    strcmp(k->where, "id") != 0)
			tf_test_fail(
				__FILE__, __LINE__,
				"case %zu: message lacks the record id: %s", i,
				err.msg);
		tf_json_free(bad);
		free(text);
	}
	free(good);
	tf_json_free(rec);
}

TEST(check_log_rules)
{
	tf_json *rec = t_incident(), *e, *bad;
	tf_err err;

	RUN_CMD(&rec, "incident", TF_OP_APPEND, CID(02), 0x100, "mdt-2a12",
		"alvarez", "{'field':'notes','body':{'text':'a'}}");
	RUN_CMD(&rec, "incident", TF_OP_APPEND, CID(03), 0x100, "mdt-2a12",
		"alvarez",
		"{'field':'notes','body':{'text':'b'},'corrects':'" CID(
			02) "'}");
	e = get(tf_record_field(rec, "notes"), "e");
	CHECK_INT(tf_record_check(schema, rec, NULL), 0);

	/* out of order */
	bad = tf_json_clone(rec);
	e = get(tf_record_field(bad, "notes"), "e");
	tf_json_array_insert(e, 0, tf_json_array_remove(e, 1));
	CHECK_INT(tf_record_check(schema, bad, &err), TF_EVALIDATE);
	CHECK_STR(err.where, "incident.notes");
	tf_json_free(bad);
	/* the same id twice (different stamps keep the order right) */
	bad = tf_json_clone(rec);
	e = get(tf_record_field(bad, "notes"), "e");
	tf_json_object_set(e->u.items[1], "id", tf_json_cstring(CID(02)));
	tf_json_object_set(e->u.items[1], "t",
			   tf_json_cstring("0000000000000101"));
	tf_json_free(tf_json_object_take(e->u.items[1], "corrects"));
	tf_json_object_set(bad, "mhlc", tf_json_cstring("0000000000000101"));
	CHECK_INT(tf_record_check(schema, bad, &err), TF_EVALIDATE);
	CHECK(strstr(err.msg, "twice") != NULL);
	tf_json_free(bad);
	/* a correction of nothing */
	bad = tf_json_clone(rec);
	e = get(tf_record_field(bad, "notes"), "e");
	tf_json_object_set(e->u.items[1], "corrects", tf_json_cstring(CID(77)));
	CHECK_INT(tf_record_check(schema, bad, &err), TF_EVALIDATE);
	tf_json_free(bad);
	/* a bad body */
	bad = tf_json_clone(rec);
	e = get(tf_record_field(bad, "notes"), "e");
	tf_json_object_set(e->u.items[1], "v", t_json("{'text':''}"));
	CHECK_INT(tf_record_check(schema, bad, &err), TF_EVALIDATE);
	CHECK_STR(err.where, "incident.notes");
	tf_json_free(bad);
	/* srv must be a count */
	bad = tf_json_clone(rec);
	e = get(tf_record_field(bad, "notes"), "e");
	tf_json_object_set(e->u.items[1], "srv", tf_json_int(-5));
	CHECK_INT(tf_record_check(schema, bad, &err), TF_ERANGE);
	tf_json_free(bad);
	/* an empty log */
	bad = tf_json_clone(rec);
	tf_json_object_set(get(bad, "f"), "notes", t_json("{'e':[]}"));
	CHECK_INT(tf_record_check(schema, bad, &err), TF_EVALIDATE);
	tf_json_free(bad);
	/* an empty conflicts list */
	bad = tf_json_clone(rec);
	tf_json_object_set(get(get(bad, "f"), "remarks"), "conflicts",
			   tf_json_array());
	CHECK_INT(tf_record_check(schema, bad, &err), TF_ELIMIT);
	CHECK_STR(err.where, "incident.remarks");
	tf_json_free(bad);
	/* not an object at all */
	bad = t_json("[1]");
	CHECK_INT(tf_record_check(schema, bad, &err), TF_ETYPE);
	tf_json_free(bad);
	CHECK_INT(tf_record_check(schema, NULL, &err), TF_ETYPE);
	tf_json_free(rec);
}

TEST(check_ref_state)
{
	tf_json *rec = t_incident(), *bad;
	tf_err err;

	g_allow_ref = 1;
	RUN_CMD(&rec, "incident", TF_OP_REF_SET, CID(02), 0x200, "tenfourd",
		"service",
		"{'fields':{'incident_number':{'v':'1','fetched_at':5,'ttl':6}}"
		"}");
	g_allow_ref = 0;
	bad = tf_json_clone(rec);
	tf_json_object_set(get(get(bad, "f"), "incident_number"), "ttl",
			   tf_json_int(-1));
	CHECK_INT(tf_record_check(schema, bad, &err), TF_ERANGE);
	CHECK_STR(err.where, "incident.incident_number");
	tf_json_free(bad);
	bad = tf_json_clone(rec);
	tf_json_object_set(get(get(bad, "f"), "incident_number"), "n",
			   tf_json_cstring("x"));
	CHECK_INT(tf_record_check(schema, bad, &err), TF_EUNKNOWN);
	tf_json_free(bad);
	tf_json_free(rec);
}

/* --------------------------------------------------------------- OOM */

/*
 * Fails allocation k = 0, 1, ... of one apply until it succeeds; each
 * failure must return TF_ENOMEM with the record byte-for-byte unchanged,
 * no result detail and no leak.
 */
static void t_oom(tf_json *(*setup)(void), const char *entity, tf_op op,
		  const char *id, tf_hlc hlc, const char *args, int authority,
		  int line)
{
	tf_command c;
	long k;

	t_cmd(&c, entity, op, id, hlc, "mdt-2a12", "alvarez", args);
	for (k = 0; k < 10000; k++) {
		tf_json *rec = setup ? setup() : NULL;
		char *before = t_canon(rec), *after;
		tf_apply_ctx ctx = {schema, NOW, authority, 1};
		tf_apply_result res;
		long live0 = tj_live;
		int rc;

		tj_count = 0;
		tj_fail_at = k;
		rc = tf_record_apply(&rec, &c, &ctx, &res);
		tj_fail_at = -1;
		if (rc == 0) {
			CHECK(res.status == TF_ST_APPLIED ||
			      res.status == TF_ST_CONFLICT);
			tf_apply_result_clear(&res);
			CHECK_INT(tf_record_check(schema, rec, NULL), 0);
			tf_json_free(rec);
			free(before);
			break;
		}
		if (rc != TF_ENOMEM)
			tf_test_fail(__FILE__, line, "alloc %ld: rc %d", k, rc);
		CHECK(res.detail == NULL);
		if (tj_live != live0)
			tf_test_fail(__FILE__, line, "alloc %ld: leaked %ld", k,
				     tj_live - live0);
		after = t_canon(rec);
		if (strcmp(before, after) != 0)
			tf_test_fail(__FILE__, line, "alloc %ld changed bytes",
				     k);
		free(after);
		free(before);
		tf_json_free(rec);
	}
	tf_command_clear(&c);
}
#define OOM(setup, ent, op, id, hlc, args, auth)                               \
	t_oom(setup, ent, op, id, hlc, args, auth, __LINE__)

static tf_json *t_unit_enroute(void)
{
	return t_unit("enroute");
}

static tf_json *t_incident_auth(void)
{
	tf_json *rec;

	g_authority = 1;
	rec = t_incident();
	g_authority = 0;
	return rec;
}

TEST(out_of_memory_leaves_record_unchanged)
{
	OOM(NULL, "unit", TF_OP_CREATE, CID(05), 0x500,
	    "{'fields':{'status':'available','crew':['a','b'],"
	    "'status_note':'x'}}",
	    1);
	OOM(t_unit_enroute, "unit", TF_OP_SET, CID(05), 0x500,
	    "{'fields':{'status':'available','status_note':'back in service',"
	    "'position':{'lat':1,'lng':2,'ts':3}}}",
	    1);
	OOM(t_unit_enroute, "unit", TF_OP_SET, CID(05), 0x50,
	    "{'fields':{'status':'available'}}", 0);
	OOM(t_incident_auth, "incident", TF_OP_SET, CID(05), 0x500,
	    "{'fields':{'priority':1,'type_code':'a-much-longer-type-code',"
	    "'disposition':null}}",
	    1);
	OOM(t_incident, "incident", TF_OP_APPEND, CID(05), 0x500,
	    "{'field':'notes','body':{'text':'x'}}", 1);
	OOM(t_incident, "incident", TF_OP_SET_ADD, CID(05), 0x500,
	    "{'field':'assigned_units','value':'2A15'}", 1);
	OOM(t_incident, "incident", TF_OP_SET_ADD, CID(05), 0x500,
	    "{'field':'assigned_units','value':'2A14'}", 0);
	OOM(t_incident, "incident", TF_OP_SET_REMOVE, CID(05), 0x500,
	    "{'field':'assigned_units','value':'2A14','tags':['" CID(01) "']}",
	    1);
	OOM(t_conflicted, "incident", TF_OP_EDIT_TEXT, CID(05), 0x500,
	    "{'field':'remarks','base_rev':2,'base':'','text':'new'}", 1);
	OOM(t_conflicted, "incident", TF_OP_EDIT_TEXT, CID(05), 0x500,
	    "{'field':'remarks','base_rev':1,'base':'" BASE_TXT
	    "','text':'Two males arguing in the big lot.'}",
	    1);
	OOM(t_conflicted, "incident", TF_OP_RESOLVE, CID(05), 0x500,
	    "{'field':'remarks','conflict':'" CID(
		    03) "','head_rev':2,"
			"'text':'done','choice':'custom'}",
	    1);
	OOM(t_conflicted, "incident", TF_OP_RESOLVE, CID(05), 0x500,
	    "{'field':'remarks','conflict':'" CID(
		    03) "','head_rev':1,"
			"'text':'done','choice':'custom'}",
	    1);
	OOM(t_incident, "incident", TF_OP_REF_SET, CID(05), 0x500,
	    "{'fields':{'incident_number':{'v':'1','fetched_at':5,'ttl':6}}}",
	    1);
}

TEST(set_with_many_fields_grows_the_tx)
{
	/* more ops than the inline transaction holds */
	tf_json *rec = NULL;

	CHECK_INT(RUN_CMD(&rec, "activity_log", TF_OP_CREATE, CID(01), 0x100,
			  "mdt-2a12", "alvarez",
			  "{'fields':{'unit_id':'2A12','incident_name':'a',"
			  "'op_period_from':1,'unit_name':'b','leader':'c',"
			  "'position':'d','home_agency':'e'}}"),
		  TF_ST_APPLIED);
	CHECK_INT(RUN_CMD(&rec, "activity_log", TF_OP_SET, CID(02), 0x200,
			  "console-3", "dana-the-dispatcher",
			  "{'fields':{'unit_id':'2A14','incident_name':'aa',"
			  "'op_period_from':2,'unit_name':'bb','leader':'cc',"
			  "'position':'dd','home_agency':'ee','signed_by':null}"
			  "}"),
		  TF_ST_APPLIED);
	BYTES(tf_record_field(rec, "leader"),
	      "{'by':'dana-the-dispatcher','n':'console-3',"
	      "'t':'0000000000000200','v':'cc'}");
	OOM(NULL, "activity_log", TF_OP_CREATE, CID(01), 0x100,
	    "{'fields':{'unit_id':'2A12','incident_name':'a',"
	    "'op_period_from':1,'unit_name':'b','leader':'c',"
	    "'position':'d','home_agency':'e','resources_assigned':"
	    "[{'name':'x'}]}}",
	    1);
	tf_json_free(rec);
}

int main(int argc, char **argv)
{
	size_t len = 0;
	char *doc = tf_test_read_file(TF_TEST_SCHEMA_PATH, &len);
	tf_err err;

	(void)argc;
	if (doc == NULL || tf_schema_load(doc, len, &schema, &err) != 0) {
		fprintf(stderr, "cannot load %s\n", TF_TEST_SCHEMA_PATH);
		return 1;
	}
	free(doc);
	RUN(new_record_shape);
	RUN(status_name_table);
	RUN(create_exact_bytes);
	RUN(create_dedupes_set_and_records_history);
	RUN(create_existing_missing_mismatch);
	RUN(create_initial_transition);
	RUN(lww_wins_loses_and_ties);
	RUN(lww_same_write_is_no_change);
	RUN(lww_in_place_lengths);
	RUN(lww_transitions);
	RUN(lww_history_won_and_lost);
	RUN(lww_history_log_full);
	RUN(log_order_idempotency_and_bytes);
	RUN(log_corrections);
	RUN(log_limit);
	RUN(log_id_reused_under_another_stamp);
	RUN(log_large_appends_in_random_order);
	RUN(set_add_remove_observed);
	RUN(set_object_elements_sorted_by_canonical_bytes);
	RUN(set_limit);
	RUN(commutative_lww_log_set);
	RUN(commutative_add_wins_over_concurrent_remove);
	RUN(deterministic_replay);
	RUN(text_edit_applies_on_current_rev);
	RUN(text_first_edit_of_absent_field);
	RUN(text_stale_edit_conflict_with_merged);
	RUN(text_conflict_without_merged_and_noops);
	RUN(text_conflict_limit);
	RUN(text_resolve_merged);
	RUN(text_resolve_keep_head_and_mine);
	RUN(text_stale_resolve_becomes_new_conflict);
	RUN(text_stale_resolve_with_a_taken_id);
	RUN(text_stale_resolve_agreeing_with_current);
	RUN(text_resolve_one_of_two);
	RUN(text_merged_past_max_bytes_is_left_out);
	RUN(text_rev_at_int64_max);
	RUN(ref_set_permission_and_stale);
	RUN(authority_ver_and_srv);
	RUN(authority_needs_a_time);
	RUN(authority_ver_at_int64_max);
	RUN(scenario_incident_1234);
	RUN(check_failure_table);
	RUN(check_log_rules);
	RUN(check_ref_state);
	RUN(out_of_memory_leaves_record_unchanged);
	RUN(set_with_many_fields_grows_the_tx);
	tf_schema_free(schema);
	return tf_test_finish(argv[0]);
}

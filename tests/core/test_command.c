/*
 * test_command.c - the command envelope (parse, write, canonical bytes,
 * copy) and the per-op validation of args against schemas/cad.json,
 * including every failure path with its code and err->where.
 */
#include "tenfour/command.h"

#include "tf_test.h"

#define CMD_ID "0191a2b3-c4d5-7e6f-8a9b-0c1d2e3f4a5b"
#define REC_ID "0191a2b3-c4d5-7e6f-8a9b-000000000001"
#define TAG_A "0191a2b3-c4d5-7e6f-8a9b-00000000000a"
#define HLC "0191a2b3c4d50001"

/* Test JSON is written with single quotes; q() makes it JSON. */
static char *q(const char *s)
{
	size_t n = strlen(s), i;
	char *d = malloc(n + 1);

	if (d == NULL)
		abort();
	for (i = 0; i <= n; i++)
		d[i] = s[i] == '\'' ? '"' : s[i];
	return d;
}

static tf_json *jq(const char *text)
{
	char *doc = q(text);
	tf_json *j = NULL;
	tf_err err;

	if (tf_json_parse(doc, strlen(doc), NULL, &j, &err) != 0)
		tf_test_fail(__FILE__, __LINE__, "bad test JSON %s: %s", doc,
			     err.msg);
	free(doc);
	return j;
}

static tf_schema *schema;

static tf_schema *load_cad(void)
{
	size_t len = 0;
	char *doc = tf_test_read_file(TF_TEST_SCHEMA_PATH, &len);
	tf_schema *s = NULL;
	tf_err err;

	if (doc == NULL) {
		fprintf(stderr, "cannot read %s\n", TF_TEST_SCHEMA_PATH);
		exit(1);
	}
	if (tf_schema_load(doc, len, &s, &err) != 0) {
		fprintf(stderr, "cad.json: %s\n", err.msg);
		exit(1);
	}
	free(doc);
	return s;
}

/* A command for entity/op with args given as single-quoted JSON. */
static void mk(tf_command *c, const char *entity, tf_op op, const char *args)
{
	memset(c, 0, sizeof *c);
	strcpy(c->cmd_id, CMD_ID);
	c->seq = 42;
	c->hlc = 0x0191a2b3c4d50001ULL;
	strcpy(c->device, "mdt-2a12");
	strcpy(c->user, "alvarez");
	strcpy(c->entity, entity);
	strcpy(c->record_id, REC_ID);
	c->op = op;
	c->args = jq(args);
	c->base = 6;
}

/* ------------------------------------------------------------- names */

TEST(op_names_round_trip)
{
	static const char *const names[] = {
		"create",     "set",	   "append",  "set_add",
		"set_remove", "edit_text", "resolve", "ref_set"};
	size_t i;
	tf_op op;

	for (i = 0; i < 8; i++) {
		CHECK_INT(tf_op_parse(names[i], &op), 0);
		CHECK_INT(op, (int)i + 1);
		CHECK_STR(tf_op_name(op), names[i]);
	}
	CHECK_INT(tf_op_parse("delete", &op), TF_EINVAL);
	CHECK_INT(tf_op_parse("SET", &op), TF_EINVAL);
	CHECK_INT(tf_op_parse("", &op), TF_EINVAL);
	CHECK_INT(tf_op_parse(NULL, &op), TF_EINVAL);
	CHECK_STR(tf_op_name((tf_op)0), "unknown");
	CHECK_STR(tf_op_name((tf_op)99), "unknown");
}

TEST(id_valid_table)
{
	char long_id[70];

	CHECK(tf_id_valid("mdt-2a12", 8));
	CHECK(tf_id_valid("a", 1));
	CHECK(tf_id_valid("dana@psap.example_1.x", 21));
	CHECK(!tf_id_valid("", 0));
	CHECK(!tf_id_valid(NULL, 0));
	CHECK(!tf_id_valid("a b", 3));
	CHECK(!tf_id_valid("a/b", 3));
	CHECK(!tf_id_valid("caf\xc3\xa9", 5));
	memset(long_id, 'x', sizeof long_id);
	CHECK(tf_id_valid(long_id, 64));
	CHECK(!tf_id_valid(long_id, 65));
}

/* ---------------------------------------------------------- envelope */

static const char *const good_env =
	"{'args':{'fields':{'priority':1}},'base':6,"
	"'cmd_id':'" CMD_ID "','device':'mdt-2a12','entity':'incident',"
	"'hlc':'" HLC "','op':'set','record_id':'" REC_ID "',"
	"'seq':42,'user':'alvarez'}";

TEST(envelope_parses_and_round_trips)
{
	tf_json *j = jq(good_env), *back = NULL;
	tf_command c;
	tf_buf a, b;
	tf_err err;
	char *want = q(good_env);

	tf_buf_init(&a);
	tf_buf_init(&b);
	CHECK_INT(tf_command_from_json(j, &c, &err), 0);
	CHECK_STR(c.cmd_id, CMD_ID);
	CHECK_INT(c.seq, 42);
	CHECK(c.hlc == 0x0191a2b3c4d50001ULL);
	CHECK_STR(c.device, "mdt-2a12");
	CHECK_STR(c.user, "alvarez");
	CHECK_STR(c.entity, "incident");
	CHECK_STR(c.record_id, REC_ID);
	CHECK_INT(c.op, TF_OP_SET);
	CHECK_INT(c.base, 6);
	CHECK(c.args != NULL && c.args != tf_json_object_get(j, "args"));
	CHECK(tf_json_equal(c.args, tf_json_object_get(j, "args")));

	/* canonical bytes: exactly the wire object, keys sorted */
	CHECK_INT(tf_command_canonical(&c, &a), 0);
	CHECK_STR(tf_buf_cstr(&a), want);
	CHECK_INT(tf_command_to_json(&c, &back), 0);
	CHECK(tf_json_equal(back, j));
	CHECK_INT(tf_json_write(back, &b), 0);
	CHECK_STR(tf_buf_cstr(&b), tf_buf_cstr(&a));

	tf_command_clear(&c);
	CHECK(c.args == NULL && c.cmd_id[0] == '\0');
	tf_json_free(back);
	tf_json_free(j);
	tf_buf_free(&a);
	tf_buf_free(&b);
	free(want);
}

TEST(canonical_bytes_exact)
{
	tf_command c;
	tf_buf b;

	mk(&c, "incident", TF_OP_APPEND,
	   "{'field':'notes','body':{'text':'caller says \\u00e9 \\n "
	   "\\\"x\\\"'}}");
	c.seq = TF_SEQ_MAX;
	c.base = 0;
	c.hlc = 0xffffffffffffffffULL;
	strcpy(c.user, "a.b@c_d-e");
	tf_buf_init(&b);
	CHECK_INT(tf_command_canonical(&c, &b), 0);
	CHECK_STR(tf_buf_cstr(&b),
		  "{\"args\":{\"body\":{\"text\":\"caller says \xc3\xa9 \\n "
		  "\\\"x\\\"\"},\"field\":\"notes\"},\"base\":0,"
		  "\"cmd_id\":\"" CMD_ID "\",\"device\":\"mdt-2a12\","
		  "\"entity\":\"incident\",\"hlc\":\"ffffffffffffffff\","
		  "\"op\":\"append\",\"record_id\":\"" REC_ID "\","
		  "\"seq\":9007199254740991,\"user\":\"a.b@c_d-e\"}");
	tf_buf_free(&b);
	tf_command_clear(&c);
}

/* One envelope failure: a member replaced (or removed) and what to expect. */
typedef struct env_case {
	const char *key;   /* member to change */
	const char *value; /* new JSON text, NULL = remove the member */
	int code;
	const char *where;
} env_case;

TEST(envelope_failure_table)
{
	static const env_case cases[] = {
		{"cmd_id", NULL, TF_EMISSING, "cmd_id"},
		{"cmd_id", "'not-a-uuid'", TF_EVALIDATE, "cmd_id"},
		{"cmd_id", "'0191A2B3-C4D5-7E6F-8A9B-0C1D2E3F4A5B'",
		 TF_EVALIDATE, "cmd_id"},
		{"cmd_id", "7", TF_ETYPE, "cmd_id"},
		{"seq", NULL, TF_EMISSING, "seq"},
		{"seq", "0", TF_ERANGE, "seq"},
		{"seq", "-1", TF_ERANGE, "seq"},
		{"seq", "1.5", TF_ERANGE, "seq"},
		{"seq", "1e3", TF_ERANGE, "seq"},
		{"seq", "18446744073709551616", TF_ERANGE, "seq"},
		{"seq", "9007199254740992", TF_ERANGE, "seq"},
		{"seq", "'42'", TF_ETYPE, "seq"},
		{"hlc", NULL, TF_EMISSING, "hlc"},
		{"hlc", "'0191a2b3c4d5000'", TF_EVALIDATE, "hlc"},
		{"hlc", "'0191A2B3C4D50001'", TF_EVALIDATE, "hlc"},
		{"hlc", "'0191a2b3c4d5000g'", TF_EVALIDATE, "hlc"},
		{"hlc", "12", TF_ETYPE, "hlc"},
		{"device", NULL, TF_EMISSING, "device"},
		{"device", "''", TF_EVALIDATE, "device"},
		{"device", "'mdt 2a12'", TF_EVALIDATE, "device"},
		{"device", "null", TF_ETYPE, "device"},
		{"user", NULL, TF_EMISSING, "user"},
		{"user", "'al/varez'", TF_EVALIDATE, "user"},
		{"entity", NULL, TF_EMISSING, "entity"},
		{"entity", "'Incident'", TF_EVALIDATE, "entity"},
		{"entity", "'1ncident'", TF_EVALIDATE, "entity"},
		{"entity", "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'", TF_EVALIDATE,
		 "entity"},
		{"record_id", NULL, TF_EMISSING, "record_id"},
		{"record_id", "'x'", TF_EVALIDATE, "record_id"},
		{"op", NULL, TF_EMISSING, "op"},
		{"op", "'delete'", TF_EVALIDATE, "op"},
		{"op", "3", TF_ETYPE, "op"},
		{"args", NULL, TF_EMISSING, "args"},
		{"args", "[]", TF_ETYPE, "args"},
		{"args", "null", TF_ETYPE, "args"},
		{"base", NULL, TF_EMISSING, "base"},
		{"base", "-1", TF_ERANGE, "base"},
		{"base", "0.5", TF_ERANGE, "base"},
		{"base", "true", TF_ETYPE, "base"},
		{"extra", "1", TF_EUNKNOWN, "extra"},
		{"seq_", "1", TF_EUNKNOWN, "seq_"},
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const env_case *k = &cases[i];
		tf_json *j = jq(good_env);
		tf_command c;
		tf_err err;
		int rc;

		if (k->value)
			tf_json_object_set(j, k->key, jq(k->value));
		else
			tf_json_free(tf_json_object_take(j, k->key));
		memset(&c, 0x5a, sizeof c);
		tf_err_clear(&err);
		rc = tf_command_from_json(j, &c, &err);
		if (rc != k->code || strcmp(err.where, k->where) != 0)
			tf_test_fail(__FILE__, __LINE__,
				     "case %zu (%s=%s): rc %d where \"%s\" "
				     "(%s), want %d \"%s\"",
				     i, k->key, k->value ? k->value : "absent",
				     rc, err.where, err.msg, k->code, k->where);
		CHECK_INT(err.code, k->code);
		CHECK(err.msg[0] != '\0');
		/* the output is left empty, owning nothing */
		CHECK(c.args == NULL && c.seq == 0);
		tf_json_free(j);
	}
}

TEST(envelope_not_an_object)
{
	tf_json *j = jq("[1]");
	tf_command c;
	tf_err err;

	CHECK_INT(tf_command_from_json(j, &c, &err), TF_ETYPE);
	CHECK_INT(tf_command_from_json(NULL, &c, &err), TF_ETYPE);
	tf_json_free(j);
}

TEST(envelope_error_names_command)
{
	tf_json *j = jq(good_env);
	tf_command c;
	tf_err err;

	tf_json_object_set(j, "seq", tf_json_int(0));
	CHECK_INT(tf_command_from_json(j, &c, &err), TF_ERANGE);
	CHECK(strstr(err.msg, CMD_ID) != NULL);
	CHECK(strstr(err.msg, "seq") != NULL);
	tf_json_free(j);
}

TEST(copy_and_clear)
{
	tf_command a, b;

	mk(&a, "incident", TF_OP_SET, "{'fields':{'priority':2}}");
	CHECK_INT(tf_command_copy(&b, &a), 0);
	CHECK(b.args != a.args);
	CHECK(tf_json_equal(b.args, a.args));
	CHECK_STR(b.cmd_id, a.cmd_id);
	CHECK_INT(b.seq, a.seq);
	tf_command_clear(&a);
	CHECK(tf_json_object_get(b.args, "fields") != NULL);
	tf_command_clear(&b);
	tf_command_clear(NULL);
}

TEST(to_json_without_args)
{
	tf_command c;
	tf_json *j = NULL;
	tf_buf b;

	mk(&c, "incident", TF_OP_SET, "{}");
	tf_json_free(c.args);
	c.args = NULL;
	tf_buf_init(&b);
	CHECK_INT(tf_command_to_json(&c, &j), 0);
	CHECK(j != NULL && tf_json_object_get(j, "args") != NULL);
	CHECK_INT(tf_command_canonical(&c, &b), 0);
	CHECK(strncmp(tf_buf_cstr(&b), "{\"args\":{},", 11) == 0);
	tf_json_free(j);
	tf_buf_free(&b);
}

/* -------------------------------------------------------- validation */

/* Validates a command made by mk(); returns the code, fills err. */
static int val(const char *entity, tf_op op, const char *args, int online,
	       tf_err *err)
{
	tf_command c;
	int rc;

	mk(&c, entity, op, args);
	tf_err_clear(err);
	rc = tf_command_validate(schema, &c, online, err);
	tf_command_clear(&c);
	return rc;
}

typedef struct val_case {
	const char *entity;
	tf_op op;
	const char *args;
	int online;
	int code;
	const char *where; /* NULL: not checked (success) */
} val_case;

static void run_cases(const val_case *cases, size_t n, int line)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const val_case *k = &cases[i];
		tf_err err;
		int rc = val(k->entity, k->op, k->args, k->online, &err);

		if (rc != k->code ||
		    (k->where && strcmp(err.where, k->where) != 0))
			tf_test_fail(__FILE__, line,
				     "case %zu %s %s: rc %d where \"%s\" (%s), "
				     "want %d \"%s\"",
				     i, tf_op_name(k->op), k->args, rc,
				     err.where, err.msg, k->code,
				     k->where ? k->where : "");
		if (k->code)
			CHECK(err.msg[0] != '\0');
	}
}

TEST(validate_accepts_every_op)
{
	static const val_case ok[] = {
		{"incident", TF_OP_CREATE,
		 "{'fields':{'priority':2,'type_code':'disturbance',"
		 "'remarks':'two males arguing','assigned_units':['2A12',"
		 "'2A14'],'status':'pending','caller':null}}",
		 0, 0, NULL},
		{"incident", TF_OP_CREATE, "{'fields':{}}", 0, 0, NULL},
		{"incident", TF_OP_SET,
		 "{'fields':{'priority':1,'type_code':'assault-weapon'}}", 0, 0,
		 NULL},
		{"incident", TF_OP_SET,
		 "{'fields':{'location':{'addr':'1 Main St','lat':40.5,"
		 "'lng':-73.25}}}",
		 0, 0, NULL},
		{"incident", TF_OP_APPEND,
		 "{'field':'notes','body':{'text':'caller callback'}}", 0, 0,
		 NULL},
		{"incident", TF_OP_APPEND,
		 "{'field':'notes','body':{'text':'fix','kind':'update'},"
		 "'corrects':'" TAG_A "'}",
		 0, 0, NULL},
		{"incident", TF_OP_SET_ADD,
		 "{'field':'assigned_units','value':'2A14'}", 0, 0, NULL},
		{"incident", TF_OP_SET_REMOVE,
		 "{'field':'assigned_units','value':'2A14','tags':['" TAG_A
		 "']}",
		 0, 0, NULL},
		{"incident", TF_OP_EDIT_TEXT,
		 "{'field':'remarks','base_rev':3,'base':'a','text':'b'}", 0, 0,
		 NULL},
		{"incident", TF_OP_EDIT_TEXT,
		 "{'field':'remarks','base_rev':0,'base':'','text':''}", 0, 0,
		 NULL},
		{"incident", TF_OP_RESOLVE,
		 "{'field':'remarks','conflict':'" TAG_A "','head_rev':4,"
		 "'text':'x','choice':'merged'}",
		 0, 0, NULL},
		{"incident", TF_OP_REF_SET,
		 "{'fields':{'incident_number':{'v':'2026-001234',"
		 "'fetched_at':1764000000000,'ttl':0}}}",
		 1, 0, NULL},
		{"unit", TF_OP_SET, "{'fields':{'status':'onscene'}}", 0, 0,
		 NULL},
		{"report", TF_OP_SET, "{'fields':{'status':'submitted'}}", 1, 0,
		 NULL},
	};

	run_cases(ok, sizeof ok / sizeof ok[0], __LINE__);
}

TEST(validate_failure_table)
{
	static const val_case bad[] = {
		/* entity and args shape */
		{"warrant", TF_OP_SET, "{'fields':{'x':1}}", 1, TF_EUNKNOWN,
		 "entity"},
		{"incident", TF_OP_SET, "{}", 1, TF_EMISSING, "args.fields"},
		{"incident", TF_OP_SET, "{'fields':[]}", 1, TF_ETYPE,
		 "args.fields"},
		{"incident", TF_OP_SET, "{'fields':{}}", 1, TF_EVALIDATE,
		 "args.fields"},
		{"incident", TF_OP_SET, "{'fields':{'priority':1},'x':1}", 1,
		 TF_EUNKNOWN, "args.x"},
		/* set: field, class, value */
		{"incident", TF_OP_SET, "{'fields':{'nope':1}}", 1, TF_EUNKNOWN,
		 "incident.nope"},
		{"incident", TF_OP_SET, "{'fields':{'priority':9}}", 1,
		 TF_ERANGE, "incident.priority"},
		{"incident", TF_OP_SET, "{'fields':{'priority':'1'}}", 1,
		 TF_ETYPE, "incident.priority"},
		{"incident", TF_OP_SET, "{'fields':{'status':'gone'}}", 1,
		 TF_EVALIDATE, "incident.status"},
		{"incident", TF_OP_SET, "{'fields':{'remarks':'x'}}", 1,
		 TF_EVALIDATE, "incident.remarks"},
		{"incident", TF_OP_SET, "{'fields':{'notes':'x'}}", 1,
		 TF_EVALIDATE, "incident.notes"},
		{"incident", TF_OP_SET, "{'fields':{'incident_number':'x'}}", 1,
		 TF_EVALIDATE, "incident.incident_number"},
		{"incident", TF_OP_SET,
		 "{'fields':{'location':{'addr':'x','zip':'1'}}}", 1,
		 TF_EUNKNOWN, NULL},
		/* create */
		{"incident", TF_OP_CREATE, "{'fields':{'notes':[]}}", 1,
		 TF_EVALIDATE, "incident.notes"},
		{"incident", TF_OP_CREATE, "{'fields':{'incident_number':'x'}}",
		 1, TF_EVALIDATE, "incident.incident_number"},
		{"incident", TF_OP_CREATE, "{'fields':{'remarks':5}}", 1,
		 TF_ETYPE, "incident.remarks"},
		{"incident", TF_OP_CREATE,
		 "{'fields':{'assigned_units':'2A12'}}", 1, TF_ETYPE,
		 "incident.assigned_units"},
		{"incident", TF_OP_CREATE, "{'fields':{'assigned_units':['']}}",
		 1, TF_EVALIDATE, "incident.assigned_units"},
		{"incident", TF_OP_CREATE, "{'fields':{'priority':0}}", 1,
		 TF_ERANGE, "incident.priority"},
		{"incident", TF_OP_CREATE, "{'fields':{'bogus':0}}", 1,
		 TF_EUNKNOWN, "incident.bogus"},
		{"incident", TF_OP_CREATE, "{'fields':{},'base':1}", 1,
		 TF_EUNKNOWN, "args.base"},
		/* append */
		{"incident", TF_OP_APPEND, "{'body':{'text':'x'}}", 1,
		 TF_EMISSING, "args.field"},
		{"incident", TF_OP_APPEND, "{'field':'notes'}", 1, TF_EMISSING,
		 "args.body"},
		{"incident", TF_OP_APPEND, "{'field':7,'body':{'text':'x'}}", 1,
		 TF_ETYPE, "args.field"},
		{"incident", TF_OP_APPEND,
		 "{'field':'priority','body':{'text':'x'}}", 1, TF_EVALIDATE,
		 "incident.priority"},
		{"incident", TF_OP_APPEND, "{'field':'notes','body':{}}", 1,
		 TF_EMISSING, NULL},
		{"incident", TF_OP_APPEND,
		 "{'field':'notes','body':{'text':'x'},'corrects':'abc'}", 1,
		 TF_EVALIDATE, "args.corrects"},
		{"incident", TF_OP_APPEND,
		 "{'field':'notes','body':{'text':'x'},'tags':[]}", 1,
		 TF_EUNKNOWN, "args.tags"},
		/* set_add / set_remove */
		{"incident", TF_OP_SET_ADD, "{'field':'assigned_units'}", 1,
		 TF_EMISSING, "args.value"},
		{"incident", TF_OP_SET_ADD,
		 "{'field':'assigned_units','value':5}", 1, TF_ETYPE,
		 "incident.assigned_units"},
		{"incident", TF_OP_SET_ADD, "{'field':'notes','value':'x'}", 1,
		 TF_EVALIDATE, "incident.notes"},
		{"incident", TF_OP_SET_ADD,
		 "{'field':'assigned_units','value':'x','tags':[]}", 1,
		 TF_EUNKNOWN, "args.tags"},
		{"incident", TF_OP_SET_REMOVE,
		 "{'field':'assigned_units','value':'2A14'}", 1, TF_EMISSING,
		 "args.tags"},
		{"incident", TF_OP_SET_REMOVE,
		 "{'field':'assigned_units','value':'2A14','tags':[]}", 1,
		 TF_EVALIDATE, "args.tags"},
		{"incident", TF_OP_SET_REMOVE,
		 "{'field':'assigned_units','value':'2A14','tags':['x']}", 1,
		 TF_EVALIDATE, "args.tags[0]"},
		{"incident", TF_OP_SET_REMOVE,
		 "{'field':'assigned_units','value':'2A14','tags':'" TAG_A "'}",
		 1, TF_ETYPE, "args.tags"},
		/* edit_text */
		{"incident", TF_OP_EDIT_TEXT,
		 "{'field':'remarks','base':'a','text':'b'}", 1, TF_EMISSING,
		 "args.base_rev"},
		{"incident", TF_OP_EDIT_TEXT,
		 "{'field':'remarks','base_rev':-1,'base':'a','text':'b'}", 1,
		 TF_ERANGE, "args.base_rev"},
		{"incident", TF_OP_EDIT_TEXT,
		 "{'field':'remarks','base_rev':1,'text':'b'}", 1, TF_EMISSING,
		 "args.base"},
		{"incident", TF_OP_EDIT_TEXT,
		 "{'field':'remarks','base_rev':1,'base':'a','text':null}", 1,
		 TF_ETYPE, "args.text"},
		{"incident", TF_OP_EDIT_TEXT,
		 "{'field':'priority','base_rev':1,'base':'a','text':'b'}", 1,
		 TF_EVALIDATE, "incident.priority"},
		{"incident", TF_OP_EDIT_TEXT,
		 "{'field':'remarks','base_rev':1,'base':'a','text':'b','x':1}",
		 1, TF_EUNKNOWN, "args.x"},
		/* resolve */
		{"incident", TF_OP_RESOLVE,
		 "{'field':'remarks','conflict':'x','head_rev':4,'text':'x',"
		 "'choice':'mine'}",
		 1, TF_EVALIDATE, "args.conflict"},
		{"incident", TF_OP_RESOLVE,
		 "{'field':'remarks','conflict':'" TAG_A "','head_rev':4,"
		 "'text':'x','choice':'both'}",
		 1, TF_EVALIDATE, "args.choice"},
		{"incident", TF_OP_RESOLVE,
		 "{'field':'remarks','conflict':'" TAG_A "','text':'x',"
		 "'choice':'mine'}",
		 1, TF_EMISSING, "args.head_rev"},
		{"incident", TF_OP_RESOLVE,
		 "{'field':'remarks','conflict':'" TAG_A "','head_rev':4,"
		 "'choice':'mine'}",
		 1, TF_EMISSING, "args.text"},
		{"incident", TF_OP_RESOLVE,
		 "{'field':'remarks','conflict':'" TAG_A "','head_rev':4,"
		 "'text':'x'}",
		 1, TF_EMISSING, "args.choice"},
		/* ref_set */
		{"incident", TF_OP_REF_SET,
		 "{'fields':{'priority':{'v':1,'fetched_at':1,'ttl':1}}}", 1,
		 TF_EVALIDATE, "incident.priority"},
		{"incident", TF_OP_REF_SET,
		 "{'fields':{'incident_number':{'v':'1','fetched_at':1}}}", 1,
		 TF_EMISSING, "args.ttl"},
		{"incident", TF_OP_REF_SET,
		 "{'fields':{'incident_number':{'v':'1','fetched_at':-1,"
		 "'ttl':1}}}",
		 1, TF_ERANGE, "args.fetched_at"},
		{"incident", TF_OP_REF_SET,
		 "{'fields':{'incident_number':{'fetched_at':1,'ttl':1}}}", 1,
		 TF_EMISSING, "args.v"},
		{"incident", TF_OP_REF_SET,
		 "{'fields':{'incident_number':{'v':'','fetched_at':1,"
		 "'ttl':1}}}",
		 1, TF_EVALIDATE, "incident.incident_number"},
		{"incident", TF_OP_REF_SET,
		 "{'fields':{'incident_number':{'v':'1','fetched_at':1,"
		 "'ttl':1,'src':'x'}}}",
		 1, TF_EUNKNOWN, "args.src"},
		{"incident", TF_OP_REF_SET,
		 "{'fields':{'incident_number':'1'}}", 1, TF_ETYPE,
		 "incident.incident_number"},
		{"incident", TF_OP_REF_SET, "{'fields':{}}", 1, TF_EVALIDATE,
		 "args.fields"},
	};

	run_cases(bad, sizeof bad / sizeof bad[0], __LINE__);
}

TEST(validate_text_limits)
{
	/* report.narrative allows 131072 bytes */
	size_t n = 131073, i;
	char *args = malloc(n + 100);
	tf_err err;
	int len;

	len = sprintf(args, "{'field':'narrative','base_rev':1,'base':'',"
			    "'text':'");
	for (i = 0; i < n; i++)
		args[len + (int)i] = 'x';
	strcpy(args + len + n, "'}");
	CHECK_INT(val("report", TF_OP_EDIT_TEXT, args, 1, &err), TF_ELIMIT);
	CHECK_STR(err.where, "report.narrative");
	CHECK(strstr(err.msg, "131072") != NULL);
	/* exactly at the limit is fine */
	strcpy(args + len + n - 1, "'}");
	CHECK_INT(val("report", TF_OP_EDIT_TEXT, args, 1, &err), 0);
	free(args);
}

TEST(validate_set_create_limits)
{
	/* unit.crew: max_entries 16 */
	char args[1024];
	int len, i;
	tf_err err;

	len = sprintf(args, "{'fields':{'crew':[");
	for (i = 0; i < 17; i++)
		len += sprintf(args + len, "%s'c%d'", i ? "," : "", i);
	strcpy(args + len, "]}}");
	CHECK_INT(val("unit", TF_OP_CREATE, args, 1, &err), TF_ELIMIT);
	CHECK_STR(err.where, "unit.crew");
	len = sprintf(args, "{'fields':{'crew':[");
	for (i = 0; i < 16; i++)
		len += sprintf(args + len, "%s'c%d'", i ? "," : "", i);
	strcpy(args + len, "]}}");
	CHECK_INT(val("unit", TF_OP_CREATE, args, 1, &err), 0);
}

TEST(validate_remove_tag_limit)
{
	size_t n = TF_SET_MAX_TAGS + 1, i;
	char *args = malloc(n * 40 + 100);
	tf_err err;
	size_t len;

	len = (size_t)sprintf(args, "{'field':'crew','value':'x','tags':[");
	for (i = 0; i < n; i++)
		len += (size_t)sprintf(args + len, "%s'" TAG_A "'",
				       i ? "," : "");
	strcpy(args + len, "]}");
	CHECK_INT(val("unit", TF_OP_SET_REMOVE, args, 1, &err), TF_ELIMIT);
	CHECK_STR(err.where, "args.tags");
	free(args);
}

TEST(validate_online_only_refused_offline)
{
	tf_err err;

	/* report.status and bolo.status are online_only */
	CHECK_INT(val("report", TF_OP_SET, "{'fields':{'status':'submitted'}}",
		      0, &err),
		  TF_EOFFLINE);
	CHECK_STR(err.where, "report.status");
	CHECK(strstr(err.msg, "report.status") != NULL);
	CHECK(strstr(err.msg, "online") != NULL);
	CHECK_INT(val("bolo", TF_OP_SET, "{'fields':{'status':'cancelled'}}", 0,
		      &err),
		  TF_EOFFLINE);
	CHECK_STR(err.where, "bolo.status");
	/* in a create too */
	CHECK_INT(val("report", TF_OP_CREATE, "{'fields':{'status':'draft'}}",
		      0, &err),
		  TF_EOFFLINE);
	/* the same commands online pass */
	CHECK_INT(val("bolo", TF_OP_SET, "{'fields':{'status':'cancelled'}}", 1,
		      &err),
		  0);
	CHECK_INT(val("report", TF_OP_CREATE, "{'fields':{'status':'draft'}}",
		      1, &err),
		  0);
	/* other fields of the same entity still queue offline */
	CHECK_INT(val("bolo", TF_OP_SET,
		      "{'fields':{'reason_wanted':'armed robbery'}}", 0, &err),
		  0);
}

TEST(validate_history_clash)
{
	static const char doc[] =
		"{\"schema_version\":1,\"roles\":[\"officer\"],"
		"\"entities\":{\"unit\":{\"scope\":{\"rule\":\"agency\"},"
		"\"write_roles\":[\"officer\"],\"fields\":{"
		"\"a\":{\"class\":\"lww\",\"type\":\"enum\",\"values\":[\"x\"],"
		"\"history\":\"h\"},"
		"\"b\":{\"class\":\"lww\",\"type\":\"enum\",\"values\":[\"x\"],"
		"\"history\":\"h\"},"
		"\"h\":{\"class\":\"log\",\"type\":\"object\",\"props\":{"
		"\"field\":{\"type\":\"enum\",\"values\":[\"a\",\"b\"],"
		"\"required\":true},"
		"\"value\":{\"type\":\"enum\",\"values\":[\"x\"],"
		"\"required\":true}},\"max_entries\":10}}}}}";
	tf_schema *s = NULL;
	tf_command c;
	tf_err err;

	if (tf_schema_load(doc, strlen(doc), &s, &err) != 0) {
		tf_test_fail(__FILE__, __LINE__, "schema: %s", err.msg);
		return;
	}
	mk(&c, "unit", TF_OP_SET, "{'fields':{'a':'x','b':'x'}}");
	CHECK_INT(tf_command_validate(s, &c, 1, &err), TF_EVALIDATE);
	CHECK_STR(err.where, "unit.b");
	tf_command_clear(&c);
	mk(&c, "unit", TF_OP_SET, "{'fields':{'a':'x'}}");
	CHECK_INT(tf_command_validate(s, &c, 1, &err), 0);
	tf_command_clear(&c);
	tf_schema_free(s);
}

TEST(validate_bad_op_and_args)
{
	tf_command c;
	tf_err err;

	mk(&c, "incident", TF_OP_SET, "{'fields':{'priority':1}}");
	c.op = (tf_op)77;
	CHECK_INT(tf_command_validate(schema, &c, 1, &err), TF_EVALIDATE);
	CHECK_STR(err.where, "op");
	c.op = TF_OP_SET;
	tf_json_free(c.args);
	c.args = tf_json_array();
	CHECK_INT(tf_command_validate(schema, &c, 1, &err), TF_ETYPE);
	CHECK_STR(err.where, "args");
	tf_command_clear(&c);
}

int main(int argc, char **argv)
{
	(void)argc;
	schema = load_cad();
	RUN(op_names_round_trip);
	RUN(id_valid_table);
	RUN(envelope_parses_and_round_trips);
	RUN(canonical_bytes_exact);
	RUN(envelope_failure_table);
	RUN(envelope_not_an_object);
	RUN(envelope_error_names_command);
	RUN(copy_and_clear);
	RUN(to_json_without_args);
	RUN(validate_accepts_every_op);
	RUN(validate_failure_table);
	RUN(validate_text_limits);
	RUN(validate_set_create_limits);
	RUN(validate_remove_tag_limit);
	RUN(validate_online_only_refused_offline);
	RUN(validate_history_clash);
	RUN(validate_bad_op_and_args);
	tf_schema_free(schema);
	return tf_test_finish(argv[0]);
}

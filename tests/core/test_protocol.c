/*
 * test_protocol.c - the sync messages: canonical encoding, round trips,
 * and every decode failure (versions first, unknown members, types,
 * limits, nested commands and records) with the place it names and the
 * output left cleared.
 */
#include "tenfour/protocol.h"

#include "tf_test.h"

#define T0 1764000000000LL
#define REC "01900000-0000-7000-8000-000000000001"
#define REC2 "01900000-0000-7000-8000-000000000002"
#define CMD1 "01900000-0000-7000-8000-0000000000c1"
#define CMD2 "01900000-0000-7000-8000-0000000000c2"

static tf_schema *schema;

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

/* A command from its wire JSON; exits on a malformed fixture. */
static void cmd_from(const char *text, tf_command *c)
{
	tf_json *j = NULL;
	tf_err err;

	if (tf_json_parse(text, strlen(text), NULL, &j, &err) != 0 ||
	    tf_command_from_json(j, c, &err) != 0) {
		fprintf(stderr, "bad fixture %s: %s\n", text, err.msg);
		exit(1);
	}
	tf_json_free(j);
}

static const char *set_cmd(const char *cmd_id, int seq, const char *prio)
{
	static char buf[512];

	snprintf(buf, sizeof buf,
		 "{\"args\":{\"fields\":{\"priority\":%s}},\"base\":0,"
		 "\"cmd_id\":\"%s\",\"device\":\"mdt-2a12\","
		 "\"entity\":\"incident\",\"hlc\":\"0191a2b3c4d50001\","
		 "\"op\":\"set\",\"record_id\":\"" REC "\",\"seq\":%d,"
		 "\"user\":\"alvarez\"}",
		 prio, cmd_id, seq);
	return buf;
}

/* A valid incident state made by the merge code itself. */
static tf_json *make_record(const char *id, int priority)
{
	char text[512];
	tf_command c;
	tf_apply_ctx ctx = {schema, T0, 1, 0};
	tf_apply_result res;
	tf_json *rec = NULL;

	snprintf(text, sizeof text,
		 "{\"args\":{\"fields\":{\"priority\":%d,\"type_code\":"
		 "\"disturbance\"}},\"base\":0,\"cmd_id\":\"" CMD1 "\","
		 "\"device\":\"console-1\",\"entity\":\"incident\","
		 "\"hlc\":\"0191a2b3c4d50001\",\"op\":\"create\","
		 "\"record_id\":\"%s\",\"seq\":1,\"user\":\"dana\"}",
		 priority, id);
	cmd_from(text, &c);
	if (tf_record_apply(&rec, &c, &ctx, &res) != 0 ||
	    res.status != TF_ST_APPLIED) {
		fprintf(stderr, "fixture record not created\n");
		exit(1);
	}
	tf_apply_result_clear(&res);
	tf_command_clear(&c);
	return rec;
}

static char *dup_str(const char *s)
{
	char *p = malloc(strlen(s) + 1);

	if (p)
		memcpy(p, s, strlen(s) + 1);
	return p;
}

/* ------------------------------------------------------------ push request */

static void decode_req_fail(const char *text, const tf_proto_limits *lim,
			    const tf_schema *s, int code, const char *where,
			    int line)
{
	tf_push_request m;
	tf_err err;
	int rc;

	memset(&m, 0x5a, sizeof m);
	rc = tf_push_request_decode(text, strlen(text), s, lim, &m, &err);
	if (rc != code)
		tf_test_fail(__FILE__, line, "rc %d (%s) != %d: %s", rc,
			     tf_strerror(rc), code, err.msg);
	else if (where && strcmp(err.where, where) != 0)
		tf_test_fail(__FILE__, line, "where \"%s\" != \"%s\" (%s)",
			     err.where, where, err.msg);
	if (m.commands != NULL || m.ncommands != 0 || m.device[0] != '\0')
		tf_test_fail(__FILE__, line, "output not cleared");
	tf_push_request_clear(&m);
}

#define REQ_FAIL(text, code, where)                                            \
	decode_req_fail(text, NULL, schema, code, where, __LINE__)

TEST(push_request_round_trip)
{
	tf_push_request m, back;
	tf_buf a, b;
	tf_err err;
	char expect[2048];

	memset(&m, 0, sizeof m);
	tf_buf_init(&a);
	tf_buf_init(&b);
	m.schema_version = 1;
	snprintf(m.device, sizeof m.device, "mdt-2a12");
	m.commands = calloc(2, sizeof *m.commands);
	m.ncommands = 2;
	cmd_from(set_cmd(CMD1, 7, "2"), &m.commands[0]);
	cmd_from(set_cmd(CMD2, 8, "3"), &m.commands[1]);
	CHECK_INT(tf_push_request_encode(&m, &a), 0);
	snprintf(expect, sizeof expect, "{\"commands\":[%s,",
		 set_cmd(CMD1, 7, "2"));
	snprintf(expect + strlen(expect), sizeof expect - strlen(expect),
		 "%s],\"device_id\":\"mdt-2a12\",\"protocol_version\":1,"
		 "\"schema_version\":1}",
		 set_cmd(CMD2, 8, "3"));
	CHECK_STR(tf_buf_cstr(&a), expect);

	CHECK_INT(tf_push_request_decode(a.data, a.len, schema, NULL, &back,
					 &err),
		  0);
	CHECK_INT(back.ncommands, 2);
	CHECK_STR(back.device, "mdt-2a12");
	CHECK_INT(back.schema_version, 1);
	CHECK_INT(back.commands[1].seq, 8);
	CHECK_STR(back.commands[0].cmd_id, CMD1);
	CHECK_INT(tf_push_request_encode(&back, &b), 0);
	CHECK_STR(tf_buf_cstr(&b), tf_buf_cstr(&a));

	/* Whitespace and member order do not matter on input. */
	tf_push_request_clear(&back);
	{
		const char *t =
			" { \"schema_version\" : 1, \"protocol_version\""
			": 1, \"device_id\": \"mdt-2a12\", "
			"\"commands\": [] } ";
		CHECK_INT(tf_push_request_decode(t, strlen(t), schema, NULL,
						 &back, &err),
			  0);
	}
	CHECK_INT(back.ncommands, 0);
	CHECK(back.commands == NULL);
	tf_push_request_clear(&back);
	tf_push_request_clear(&m);
	tf_buf_free(&a);
	tf_buf_free(&b);
}

TEST(push_request_versions_first)
{
	/* A bad version wins over every other fault in the message. */
	REQ_FAIL("{\"protocol_version\":2,\"schema_version\":1,\"bogus\":1}",
		 TF_EVERSION, "protocol_version");
	REQ_FAIL("{\"schema_version\":1,\"commands\":7}", TF_EVERSION,
		 "protocol_version");
	REQ_FAIL("{\"protocol_version\":\"1\",\"schema_version\":1}",
		 TF_EVERSION, "protocol_version");
	REQ_FAIL("{\"protocol_version\":1.0,\"schema_version\":1}", TF_EVERSION,
		 "protocol_version");
	REQ_FAIL("{\"protocol_version\":1,\"commands\":7}", TF_EVERSION,
		 "schema_version");
	REQ_FAIL("{\"protocol_version\":1,\"schema_version\":2,"
		 "\"commands\":[{}],\"device_id\":\"x\"}",
		 TF_EVERSION, "schema_version");
	REQ_FAIL("{\"protocol_version\":1,\"schema_version\":-1}", TF_EVERSION,
		 "schema_version");
}

TEST(push_request_schema_version_without_schema)
{
	tf_push_request m;
	const char *t = "{\"commands\":[],\"device_id\":\"d\","
			"\"protocol_version\":1,\"schema_version\":9}";
	tf_err err;

	/* Without a schema the caller compares the version. */
	CHECK_INT(tf_push_request_decode(t, strlen(t), NULL, NULL, &m, &err),
		  0);
	CHECK_INT(m.schema_version, 9);
	tf_push_request_clear(&m);
	decode_req_fail(t, NULL, schema, TF_EVERSION, "schema_version",
			__LINE__);
}

TEST(push_request_members)
{
	char buf[1024];

	REQ_FAIL("", TF_EJSON, NULL);
	REQ_FAIL("{\"a\":1,\"a\":2}", TF_EDUPKEY, NULL);
	REQ_FAIL("[1]", TF_ETYPE, NULL);
	REQ_FAIL("{\"commands\":[],\"device_id\":\"d\",\"extra\":0,"
		 "\"protocol_version\":1,\"schema_version\":1}",
		 TF_EUNKNOWN, "extra");
	REQ_FAIL("{\"device_id\":\"d\",\"protocol_version\":1,"
		 "\"schema_version\":1}",
		 TF_EMISSING, "commands");
	REQ_FAIL("{\"commands\":[],\"protocol_version\":1,"
		 "\"schema_version\":1}",
		 TF_EMISSING, "device_id");
	REQ_FAIL("{\"commands\":{},\"device_id\":\"d\","
		 "\"protocol_version\":1,\"schema_version\":1}",
		 TF_ETYPE, "commands");
	REQ_FAIL("{\"commands\":[],\"device_id\":7,"
		 "\"protocol_version\":1,\"schema_version\":1}",
		 TF_ETYPE, "device_id");
	REQ_FAIL("{\"commands\":[],\"device_id\":\"a b\","
		 "\"protocol_version\":1,\"schema_version\":1}",
		 TF_EINVAL, "device_id");
	REQ_FAIL("{\"commands\":[7],\"device_id\":\"mdt-2a12\","
		 "\"protocol_version\":1,\"schema_version\":1}",
		 TF_ETYPE, "commands[0]");
	/* A command with a member missing: named with its index. */
	snprintf(buf, sizeof buf,
		 "{\"commands\":[%s,{\"cmd_id\":\"" CMD2 "\"}],"
		 "\"device_id\":\"mdt-2a12\",\"protocol_version\":1,"
		 "\"schema_version\":1}",
		 set_cmd(CMD1, 1, "2"));
	REQ_FAIL(buf, TF_EMISSING, "commands[1].seq");
	/* Another device's command inside this device's push. */
	snprintf(buf, sizeof buf,
		 "{\"commands\":[%s],\"device_id\":\"mdt-2a14\","
		 "\"protocol_version\":1,\"schema_version\":1}",
		 set_cmd(CMD1, 1, "2"));
	REQ_FAIL(buf, TF_EINVAL, "commands[0].device");
	/* The schema refuses a value: named by command and field. */
	snprintf(buf, sizeof buf,
		 "{\"commands\":[%s],\"device_id\":\"mdt-2a12\","
		 "\"protocol_version\":1,\"schema_version\":1}",
		 set_cmd(CMD1, 1, "9"));
	REQ_FAIL(buf, TF_ERANGE, "commands[0].incident.priority");
	/* ... which a decoder without a schema lets through. */
	{
		tf_push_request m;
		tf_err err;
		CHECK_INT(tf_push_request_decode(buf, strlen(buf), NULL, NULL,
						 &m, &err),
			  0);
		CHECK_INT(m.ncommands, 1);
		tf_push_request_clear(&m);
	}
}

TEST(push_request_limits)
{
	tf_proto_limits lim = tf_proto_default_limits;
	char buf[2048];

	lim.max_commands = 1;
	snprintf(buf, sizeof buf, "{\"commands\":[%s,", set_cmd(CMD1, 1, "2"));
	snprintf(buf + strlen(buf), sizeof buf - strlen(buf),
		 "%s],\"device_id\":\"mdt-2a12\",\"protocol_version\":1,"
		 "\"schema_version\":1}",
		 set_cmd(CMD2, 2, "2"));
	decode_req_fail(buf, &lim, schema, TF_ELIMIT, "commands", __LINE__);
	lim = tf_proto_default_limits;
	lim.json.max_bytes = 100;
	decode_req_fail(buf, &lim, schema, TF_ELIMIT, NULL, __LINE__);
	lim = tf_proto_default_limits;
	lim.json.max_depth = 2;
	decode_req_fail(buf, &lim, schema, TF_ELIMIT, NULL, __LINE__);
}

TEST(push_request_encode_refuses_bad_input)
{
	tf_push_request m;
	tf_buf out;

	memset(&m, 0, sizeof m);
	tf_buf_init(&out);
	tf_buf_puts(&out, "keep");
	snprintf(m.device, sizeof m.device, "bad device");
	CHECK_INT(tf_push_request_encode(&m, &out), TF_EINVAL);
	CHECK_STR(tf_buf_cstr(&out), "keep");
	/* A command of another device. */
	snprintf(m.device, sizeof m.device, "mdt-2a14");
	m.commands = calloc(1, sizeof *m.commands);
	m.ncommands = 1;
	cmd_from(set_cmd(CMD1, 1, "2"), &m.commands[0]);
	CHECK_INT(tf_push_request_encode(&m, &out), TF_EINVAL);
	CHECK_STR(tf_buf_cstr(&out), "keep");
	CHECK_INT(out.failed, 0);
	tf_push_request_clear(&m);
	tf_buf_free(&out);
}

/* ------------------------------------------------------------ push reply */

static void decode_reply_fail(const char *text, const tf_proto_limits *lim,
			      int code, const char *where, int line)
{
	tf_push_reply m;
	tf_err err;
	int rc;

	memset(&m, 0x5a, sizeof m);
	rc = tf_push_reply_decode(text, strlen(text), lim, &m, &err);
	if (rc != code)
		tf_test_fail(__FILE__, line, "rc %d (%s) != %d: %s", rc,
			     tf_strerror(rc), code, err.msg);
	else if (where && strcmp(err.where, where) != 0)
		tf_test_fail(__FILE__, line, "where \"%s\" != \"%s\" (%s)",
			     err.where, where, err.msg);
	if (m.results != NULL || m.nresults != 0 || m.ack != 0)
		tf_test_fail(__FILE__, line, "output not cleared");
	tf_push_reply_clear(&m);
}

#define REPLY_FAIL(text, code, where)                                          \
	decode_reply_fail(text, NULL, code, where, __LINE__)

/* A reply around one result object's members (text inside the braces). */
static const char *reply_with(const char *result)
{
	static char buf[2048];

	snprintf(buf, sizeof buf,
		 "{\"ack\":3,\"protocol_version\":1,\"results\":[{%s}],"
		 "\"schema_version\":1,\"server_time\":1764000000000}",
		 result);
	return buf;
}

TEST(push_reply_round_trip)
{
	const char *text =
		"{\"ack\":3,\"protocol_version\":1,\"results\":["
		"{\"cmd_id\":\"" CMD1 "\",\"detail\":{\"lost\":[\"priority\"]},"
		"\"seq\":1,\"status\":\"applied\"},"
		"{\"cmd_id\":\"01900000-0000-7000-8000-0000000000c3\","
		"\"seq\":2,\"status\":\"duplicate\"},"
		"{\"cmd_id\":\"01900000-0000-7000-8000-0000000000c4\","
		"\"code\":\"transition_not_allowed\",\"field\":\"status\","
		"\"message\":\"draft -> approved is not allowed\",\"seq\":3,"
		"\"status\":\"rejected\"},"
		"{\"cmd_id\":\"01900000-0000-7000-8000-0000000000c5\","
		"\"code\":\"clock_skew\",\"seq\":4,"
		"\"server_time\":1764000000000,\"status\":\"clock_skew\"}],"
		"\"schema_version\":1,\"server_time\":1764000000123}";
	tf_push_reply m;
	tf_buf out;
	tf_err err;

	tf_buf_init(&out);
	CHECK_INT(tf_push_reply_decode(text, strlen(text), NULL, &m, &err), 0);
	CHECK_INT(m.nresults, 4);
	CHECK_INT(m.ack, 3);
	CHECK_INT(m.server_time, T0 + 123);
	CHECK_INT(m.results[0].status, TF_ST_APPLIED);
	CHECK(m.results[0].detail != NULL);
	CHECK_INT(m.results[1].status, TF_ST_DUPLICATE);
	CHECK_INT(m.results[2].status, TF_ST_REJECTED);
	CHECK_INT(m.results[2].code, TF_ETRANSITION);
	CHECK_STR(m.results[2].field, "status");
	CHECK_STR(m.results[2].message, "draft -> approved is not allowed");
	CHECK_INT(m.results[3].status, TF_ST_CLOCK_SKEW);
	CHECK_INT(m.results[3].server_time, T0);
	CHECK_INT(m.results[3].code, TF_ECLOCKSKEW);
	CHECK_INT(tf_push_reply_encode(&m, &out), 0);
	CHECK_STR(tf_buf_cstr(&out), text);
	tf_push_reply_clear(&m);
	CHECK(m.results == NULL);
	tf_buf_free(&out);
}

TEST(push_reply_failures)
{
	char big[400];

	REPLY_FAIL("{\"ack\":3}", TF_EVERSION, "protocol_version");
	REPLY_FAIL("{\"ack\":3,\"protocol_version\":7,\"schema_version\":1}",
		   TF_EVERSION, "protocol_version");
	REPLY_FAIL("{\"protocol_version\":1,\"schema_version\":true}",
		   TF_EVERSION, "schema_version");
	REPLY_FAIL("{\"ack\":3,\"protocol_version\":1,\"results\":[],"
		   "\"schema_version\":1}",
		   TF_EMISSING, "server_time");
	REPLY_FAIL("{\"ack\":-3,\"protocol_version\":1,\"results\":[],"
		   "\"schema_version\":1,\"server_time\":0}",
		   TF_ERANGE, "ack");
	REPLY_FAIL("{\"ack\":\"3\",\"protocol_version\":1,\"results\":[],"
		   "\"schema_version\":1,\"server_time\":0}",
		   TF_ETYPE, "ack");
	REPLY_FAIL("{\"ack\":3,\"protocol_version\":1,\"results\":[],"
		   "\"schema_version\":1,\"server_time\":281474976710656}",
		   TF_ERANGE, "server_time");
	REPLY_FAIL("{\"ack\":3,\"protocol_version\":1,\"results\":[7],"
		   "\"schema_version\":1,\"server_time\":0}",
		   TF_ETYPE, "results[0]");
	REPLY_FAIL(reply_with("\"cmd_id\":\"" CMD1 "\",\"seq\":1,"
			      "\"status\":\"fine\""),
		   TF_EINVAL, "results[0].status");
	REPLY_FAIL(reply_with("\"cmd_id\":\"" CMD1 "\",\"seq\":0,"
			      "\"status\":\"applied\""),
		   TF_ERANGE, "results[0].seq");
	REPLY_FAIL(reply_with("\"cmd_id\":\"not-a-uuid\",\"seq\":1,"
			      "\"status\":\"applied\""),
		   TF_EINVAL, "results[0].cmd_id");
	REPLY_FAIL(
		reply_with("\"cmd_id\":\"01900000-0000-7000-8000-"
			   "0000000000C1\",\"seq\":1,\"status\":\"applied\""),
		TF_EINVAL, "results[0].cmd_id");
	REPLY_FAIL(reply_with("\"cmd_id\":\"" CMD1 "\",\"seq\":1,"
			      "\"status\":\"applied\",\"why\":1"),
		   TF_EUNKNOWN, "results[0].why");
	REPLY_FAIL(reply_with("\"cmd_id\":\"" CMD1 "\",\"status\":\"applied\""),
		   TF_EMISSING, "results[0].seq");
	/* The rules between status, code and server_time. */
	REPLY_FAIL(reply_with("\"cmd_id\":\"" CMD1 "\",\"seq\":1,"
			      "\"status\":\"rejected\""),
		   TF_EINVAL, "results[0]");
	REPLY_FAIL(reply_with("\"cmd_id\":\"" CMD1 "\",\"code\":\"clock_skew\","
			      "\"seq\":1,\"status\":\"clock_skew\""),
		   TF_EINVAL, "results[0]");
	REPLY_FAIL(reply_with("\"cmd_id\":\"" CMD1 "\",\"seq\":1,"
			      "\"server_time\":0,\"status\":\"clock_skew\""),
		   TF_EINVAL, "results[0]");
	REPLY_FAIL(reply_with("\"cmd_id\":\"" CMD1 "\",\"code\":\"conflict\","
			      "\"seq\":1,\"status\":\"applied\""),
		   TF_EINVAL, "results[0]");
	REPLY_FAIL(reply_with("\"cmd_id\":\"" CMD1 "\",\"code\":\"nope\","
			      "\"seq\":1,\"status\":\"rejected\""),
		   TF_EINVAL, "results[0].code");
	REPLY_FAIL(reply_with("\"cmd_id\":\"" CMD1 "\",\"code\":\"ok\","
			      "\"seq\":1,\"status\":\"rejected\""),
		   TF_EINVAL, "results[0].code");
	REPLY_FAIL(reply_with("\"cmd_id\":\"" CMD1 "\",\"detail\":[],"
			      "\"seq\":1,\"status\":\"applied\""),
		   TF_ETYPE, "results[0].detail");
	REPLY_FAIL(reply_with("\"cmd_id\":\"" CMD1 "\",\"field\":1,"
			      "\"seq\":1,\"status\":\"applied\""),
		   TF_ETYPE, "results[0].field");
	memset(big, 'x', 300);
	big[300] = '\0';
	{
		char r[600];
		snprintf(r, sizeof r,
			 "\"cmd_id\":\"" CMD1 "\",\"message\":\"%s\",\"seq\":1,"
			 "\"status\":\"applied\"",
			 big);
		REPLY_FAIL(reply_with(r), TF_ELIMIT, "results[0].message");
		big[64] = '\0';
		snprintf(r, sizeof r,
			 "\"cmd_id\":\"" CMD1 "\",\"field\":\"%s\",\"seq\":1,"
			 "\"status\":\"applied\"",
			 big);
		REPLY_FAIL(reply_with(r), TF_ELIMIT, "results[0].field");
	}
	{
		tf_proto_limits lim = tf_proto_default_limits;
		lim.max_commands = 0;
		decode_reply_fail(reply_with("\"cmd_id\":\"" CMD1
					     "\",\"seq\":1,\"status\":"
					     "\"applied\""),
				  &lim, TF_ELIMIT, "results", __LINE__);
	}
}

TEST(push_reply_encode_refuses_bad_input)
{
	tf_push_reply m;
	tf_cmd_result r;
	tf_buf out;

	tf_buf_init(&out);
	memset(&m, 0, sizeof m);
	memset(&r, 0, sizeof r);
	m.results = &r;
	m.nresults = 1;
	snprintf(r.cmd_id, sizeof r.cmd_id, CMD1);
	r.seq = 1;
	r.status = TF_ST_REJECTED; /* without a code */
	CHECK_INT(tf_push_reply_encode(&m, &out), TF_EINVAL);
	CHECK_INT(out.len, 0);
	r.code = TF_EPERM;
	CHECK_INT(tf_push_reply_encode(&m, &out), 0);
	CHECK(strstr(tf_buf_cstr(&out), "\"code\":\"permission_denied\"") !=
	      NULL);
	tf_buf_reset(&out);
	r.seq = 0;
	CHECK_INT(tf_push_reply_encode(&m, &out), TF_EINVAL);
	r.seq = 1;
	r.status = TF_ST_CLOCK_SKEW; /* without server_time */
	r.code = 0;
	CHECK_INT(tf_push_reply_encode(&m, &out), TF_EINVAL);
	CHECK_INT(out.len, 0);
	/* Ranges the decoder enforces, so a server cannot send them. */
	r.server_time = TF_HLC_MAX_MS + 1;
	CHECK_INT(tf_push_reply_encode(&m, &out), TF_EINVAL);
	r.server_time = TF_HLC_MAX_MS;
	CHECK_INT(tf_push_reply_encode(&m, &out), 0);
	tf_buf_reset(&out);
	m.server_time = -1;
	CHECK_INT(tf_push_reply_encode(&m, &out), TF_EINVAL);
	m.server_time = TF_HLC_MAX_MS + 1;
	CHECK_INT(tf_push_reply_encode(&m, &out), TF_EINVAL);
	m.server_time = 1;
	m.ack = TF_SEQ_MAX + 1;
	CHECK_INT(tf_push_reply_encode(&m, &out), TF_EINVAL);
	CHECK_INT(out.len, 0);
	tf_buf_free(&out);
}

/* ------------------------------------------------------------ pull page */

static void decode_page_fail(const char *text, const tf_proto_limits *lim,
			     const tf_schema *s, int code, const char *where,
			     int line)
{
	tf_pull_page m;
	tf_err err;
	int rc;

	memset(&m, 0x5a, sizeof m);
	rc = tf_pull_page_decode(text, strlen(text), s, lim, &m, &err);
	if (rc != code)
		tf_test_fail(__FILE__, line, "rc %d (%s) != %d: %s", rc,
			     tf_strerror(rc), code, err.msg);
	else if (where && strcmp(err.where, where) != 0)
		tf_test_fail(__FILE__, line, "where \"%s\" != \"%s\" (%s)",
			     err.where, where, err.msg);
	if (m.records != NULL || m.nrecords != 0 || m.purged != NULL ||
	    m.npurged != 0 || m.cursor != NULL)
		tf_test_fail(__FILE__, line, "output not cleared");
	tf_pull_page_clear(&m);
}

#define PAGE_FAIL(text, code, where)                                           \
	decode_page_fail(text, NULL, schema, code, where, __LINE__)

/* A page whose records array holds `records` (text). */
static char *page_with(const char *records, const char *purged)
{
	tf_buf b;

	tf_buf_init(&b);
	tf_buf_printf(&b,
		      "{\"ack\":0,\"cursor\":\"17\",\"has_more\":false,"
		      "\"protocol_version\":1,\"purged\":[%s],"
		      "\"records\":[%s],\"reset\":false,"
		      "\"schema_version\":1}",
		      purged, records);
	return tf_buf_take(&b, NULL);
}

TEST(pull_page_round_trip)
{
	tf_pull_page m, back;
	tf_buf a, b;
	tf_err err;

	memset(&m, 0, sizeof m);
	tf_buf_init(&a);
	tf_buf_init(&b);
	m.schema_version = 1;
	m.cursor = dup_str("feed:42");
	m.records = calloc(2, sizeof *m.records);
	m.records[0] = make_record(REC, 2);
	m.records[1] = make_record(REC2, 3);
	m.nrecords = 2;
	m.purged = calloc(1, sizeof *m.purged);
	m.purged[0] = dup_str("01900000-0000-7000-8000-0000000000ff");
	m.npurged = 1;
	m.ack = 41;
	m.has_more = 1;
	CHECK_INT(tf_pull_page_encode(&m, &a), 0);
	CHECK(strncmp(tf_buf_cstr(&a),
		      "{\"ack\":41,\"cursor\":\"feed:42\",\"has_more\":true,"
		      "\"protocol_version\":1,\"purged\":[\"01900000-0000-"
		      "7000-8000-0000000000ff\"],\"records\":[{",
		      strlen("{\"ack\":41,\"cursor\":\"feed:42\",\"has_more\":"
			     "true,\"protocol_version\":1,\"purged\":[\""
			     "01900000-0000-7000-8000-0000000000ff\"],"
			     "\"records\":[{")) == 0);
	CHECK(strstr(tf_buf_cstr(&a),
		     "],\"reset\":false,\"schema_version\":1}") != NULL);
	CHECK_INT(tf_pull_page_decode(a.data, a.len, schema, NULL, &back, &err),
		  0);
	CHECK_INT(back.nrecords, 2);
	CHECK_INT(back.npurged, 1);
	CHECK_STR(back.cursor, "feed:42");
	CHECK_INT(back.ack, 41);
	CHECK_INT(back.has_more, 1);
	CHECK_INT(back.reset, 0);
	CHECK(tf_json_equal(back.records[1], m.records[1]));
	CHECK_INT(tf_pull_page_encode(&back, &b), 0);
	CHECK_STR(tf_buf_cstr(&b), tf_buf_cstr(&a));
	tf_pull_page_clear(&back);
	tf_pull_page_clear(&m);
	tf_buf_free(&a);
	tf_buf_free(&b);

	/* An empty reset page. */
	{
		const char *t = "{\"ack\":0,\"cursor\":\"\",\"has_more\":true,"
				"\"protocol_version\":1,\"purged\":[],"
				"\"records\":[],\"reset\":true,"
				"\"schema_version\":1}";
		CHECK_INT(tf_pull_page_decode(t, strlen(t), schema, NULL, &back,
					      &err),
			  0);
		CHECK_INT(back.reset, 1);
		CHECK_STR(back.cursor, "");
		tf_buf_init(&a);
		CHECK_INT(tf_pull_page_encode(&back, &a), 0);
		CHECK_STR(tf_buf_cstr(&a), t);
		tf_buf_free(&a);
		tf_pull_page_clear(&back);
	}
}

TEST(pull_page_failures)
{
	tf_json *rec = make_record(REC, 2);
	tf_json *prio;
	tf_buf rb;
	char *p;

	PAGE_FAIL("{\"protocol_version\":0,\"schema_version\":1}", TF_EVERSION,
		  "protocol_version");
	PAGE_FAIL("{\"ack\":0,\"cursor\":\"\",\"has_more\":false,"
		  "\"protocol_version\":1,\"purged\":[],\"records\":[],"
		  "\"reset\":false,\"schema_version\":3}",
		  TF_EVERSION, "schema_version");
	PAGE_FAIL("{\"ack\":0,\"cursor\":\"\",\"has_more\":false,"
		  "\"protocol_version\":1,\"purged\":[],\"records\":[],"
		  "\"schema_version\":1}",
		  TF_EMISSING, "reset");
	PAGE_FAIL("{\"ack\":0,\"cursor\":\"\",\"has_more\":0,"
		  "\"protocol_version\":1,\"purged\":[],\"records\":[],"
		  "\"reset\":false,\"schema_version\":1}",
		  TF_ETYPE, "has_more");
	PAGE_FAIL("{\"ack\":0,\"cursor\":7,\"has_more\":false,"
		  "\"protocol_version\":1,\"purged\":[],\"records\":[],"
		  "\"reset\":false,\"schema_version\":1}",
		  TF_ETYPE, "cursor");
	PAGE_FAIL("{\"ack\":0,\"cursor\":\"\",\"has_more\":false,"
		  "\"more\":1,\"protocol_version\":1,\"purged\":[],"
		  "\"records\":[],\"reset\":false,\"schema_version\":1}",
		  TF_EUNKNOWN, "more");
	p = page_with("", "\"x\"");
	PAGE_FAIL(p, TF_EINVAL, "purged[0]");
	free(p);
	p = page_with("", "\"" REC "\",7");
	PAGE_FAIL(p, TF_EINVAL, "purged[1]");
	free(p);
	p = page_with("[]", "");
	PAGE_FAIL(p, TF_ETYPE, "records[0]");
	free(p);

	/* A record state the schema refuses, named by index and field. */
	tf_buf_init(&rb);
	tf_json_write(rec, &rb);
	tf_buf_putc(&rb, ',');
	prio = (tf_json *)tf_record_field(rec, "priority");
	CHECK(prio != NULL);
	CHECK_INT(tf_json_object_set(prio, "v", tf_json_int(9)), 0);
	tf_json_write(rec, &rb);
	p = page_with(tf_buf_cstr(&rb), "");
	PAGE_FAIL(p, TF_ERANGE, "records[1].f.priority");
	/* Without a schema only the shape is checked. */
	{
		tf_pull_page m;
		tf_err err;
		CHECK_INT(
			tf_pull_page_decode(p, strlen(p), NULL, NULL, &m, &err),
			0);
		CHECK_INT(m.nrecords, 2);
		tf_pull_page_clear(&m);
	}
	free(p);
	p = page_with("{\"entity\":\"incident\"}", "");
	decode_page_fail(p, NULL, NULL, TF_EINVAL, "records[0]", __LINE__);
	PAGE_FAIL(p, TF_EMISSING, "records[0].id");
	free(p);
	p = page_with("{\"entity\":\"incident\",\"f\":{},\"id\":\"" REC
		      "\",\"mhlc\":\"0000000000000000\",\"ver\":0,\"x\":1}",
		      "");
	PAGE_FAIL(p, TF_EUNKNOWN, "records[0]");
	free(p);
	tf_buf_free(&rb);
	tf_json_free(rec);
}

TEST(pull_page_limits)
{
	tf_proto_limits lim = tf_proto_default_limits;
	tf_json *rec = make_record(REC, 2);
	tf_buf rb;
	char *p;

	tf_buf_init(&rb);
	tf_json_write(rec, &rb);
	p = page_with(tf_buf_cstr(&rb), "\"" REC2 "\"");
	lim.max_records = 0;
	decode_page_fail(p, &lim, schema, TF_ELIMIT, "records", __LINE__);
	lim = tf_proto_default_limits;
	lim.max_purged = 0;
	decode_page_fail(p, &lim, schema, TF_ELIMIT, "purged", __LINE__);
	lim = tf_proto_default_limits;
	lim.max_cursor = 1;
	decode_page_fail(p, &lim, schema, TF_ELIMIT, "cursor", __LINE__);
	lim.max_cursor = 2;
	{
		tf_pull_page m;
		tf_err err;
		CHECK_INT(tf_pull_page_decode(p, strlen(p), schema, &lim, &m,
					      &err),
			  0);
		tf_pull_page_clear(&m);
	}
	free(p);
	tf_buf_free(&rb);
	tf_json_free(rec);
}

TEST(pull_page_encode_refuses_bad_input)
{
	tf_pull_page m;
	char *bad = dup_str("nope");
	tf_buf out;

	memset(&m, 0, sizeof m);
	tf_buf_init(&out);
	tf_buf_puts(&out, "[");
	m.purged = &bad;
	m.npurged = 1;
	CHECK_INT(tf_pull_page_encode(&m, &out), TF_EINVAL);
	CHECK_STR(tf_buf_cstr(&out), "[");
	m.npurged = 0;
	CHECK_INT(tf_pull_page_encode(&m, &out), 0);
	CHECK(strncmp(tf_buf_cstr(&out), "[{\"ack\":0,\"cursor\":\"\",", 22) ==
	      0);
	/* A cursor longer than any decoder takes is refused at the source. */
	{
		char longc[300];
		memset(longc, 'c', sizeof longc - 1);
		longc[sizeof longc - 1] = '\0';
		tf_buf_reset(&out);
		m.cursor = longc;
		CHECK_INT(tf_pull_page_encode(&m, &out), TF_EINVAL);
		CHECK_INT(out.len, 0);
		longc[tf_proto_default_limits.max_cursor] = '\0';
		CHECK_INT(tf_pull_page_encode(&m, &out), 0);
		m.cursor = NULL;
	}
	tf_buf_reset(&out);
	m.ack = TF_SEQ_MAX + 1;
	CHECK_INT(tf_pull_page_encode(&m, &out), TF_EINVAL);
	free(bad);
	tf_buf_free(&out);
}

int main(int argc, char **argv)
{
	(void)argc;
	schema = load_schema();
	RUN(push_request_round_trip);
	RUN(push_request_versions_first);
	RUN(push_request_schema_version_without_schema);
	RUN(push_request_members);
	RUN(push_request_limits);
	RUN(push_request_encode_refuses_bad_input);
	RUN(push_reply_round_trip);
	RUN(push_reply_failures);
	RUN(push_reply_encode_refuses_bad_input);
	RUN(pull_page_round_trip);
	RUN(pull_page_failures);
	RUN(pull_page_limits);
	RUN(pull_page_encode_refuses_bad_input);
	tf_schema_free(schema);
	return tf_test_finish(argv[0]);
}

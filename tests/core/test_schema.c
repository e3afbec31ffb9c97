/*
 * test_schema.c - the schema loader and value checker: the facts of
 * schemas/cad.json the other modules rely on, a table of broken schemas
 * (each refused with TF_ESCHEMA and the right err->where), defaults, and
 * check_value tables for every type including every failure path.
 */
#include "tenfour/schema.h"

#include "tf_test.h"

/*
 * Test documents are written with single quotes for readability; q()
 * turns them into JSON (no test string needs a literal ').
 */
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

static int load_q(const char *text, tf_schema **out, tf_err *err)
{
	char *doc = q(text);
	int rc = tf_schema_load(doc, strlen(doc), out, err);

	free(doc);
	return rc;
}

static tf_schema *load_cad(void)
{
	size_t len = 0;
	char *doc = tf_test_read_file(TF_TEST_SCHEMA_PATH, &len);
	tf_schema *s = NULL;
	tf_err err;

	if (doc == NULL) {
		tf_test_fail(__FILE__, __LINE__, "cannot read %s",
			     TF_TEST_SCHEMA_PATH);
		return NULL;
	}
	tf_err_clear(&err);
	if (tf_schema_load(doc, len, &s, &err) != 0)
		tf_test_fail(__FILE__, __LINE__, "cad.json: %s", err.msg);
	free(doc);
	return s;
}

static const tf_field *field(const tf_schema *s, const char *ent,
			     const char *name)
{
	const tf_field *f = tf_entity_field(tf_schema_entity(s, ent), name);

	if (f == NULL)
		tf_test_fail(__FILE__, __LINE__, "no field %s.%s", ent, name);
	return f;
}

/* ------------------------------------------------------------ cad.json */

TEST(cad_loads_with_every_entity)
{
	static const char *const names[] = {
		"activity_log", "assignment", "bolo",	"incident",
		"lookup",	"report",     "thread", "unit",
	};
	static const char *const roles[] = {"officer",	  "dispatcher",
					    "supervisor", "admin",
					    "auditor",	  "service"};
	tf_schema *s = load_cad();
	size_t i, j;

	if (s == NULL)
		return;
	CHECK_INT(s->version, 1);
	CHECK_INT(s->nentities, 8);
	CHECK_INT(s->nroles, 6);
	for (i = 0; i < 6; i++) {
		CHECK_STR(s->roles[i], roles[i]);
		CHECK(tf_schema_has_role(s, roles[i]));
	}
	CHECK(!tf_schema_has_role(s, "janitor"));
	CHECK(!tf_schema_has_role(s, NULL));
	CHECK(!tf_schema_has_role(NULL, "officer"));
	for (i = 0; i < 8 && i < s->nentities; i++) {
		const tf_entity *e = tf_schema_entity(s, names[i]);

		CHECK(e != NULL);
		if (e == NULL)
			continue;
		CHECK_STR(e->name, names[i]);
		CHECK_INT(e->index, i);
		CHECK(e == &s->entities[i]);
		CHECK(e->nwrite_roles > 0);
		/* Fields sorted, indexed, and found by name. */
		for (j = 0; j < e->nfields; j++) {
			CHECK_INT(e->fields[j].index, j);
			CHECK(tf_entity_field(e, e->fields[j].name) ==
			      &e->fields[j]);
			if (j > 0)
				CHECK(strcmp(e->fields[j - 1].name,
					     e->fields[j].name) < 0);
		}
		CHECK(tf_entity_field(e, "no_such_field") == NULL);
		CHECK(tf_entity_field(e, "") == NULL);
	}
	CHECK(tf_schema_entity(s, "nope") == NULL);
	CHECK(tf_schema_entity(s, "") == NULL);
	CHECK(tf_schema_entity(s, NULL) == NULL);
	CHECK(tf_schema_entity(NULL, "unit") == NULL);
	CHECK(tf_entity_field(NULL, "status") == NULL);
	tf_schema_free(s);
}

TEST(cad_field_classes)
{
	static const struct {
		const char *ent, *field;
		tf_class cls;
	} rows[] = {
		{"incident", "type_code", TF_CLASS_LWW},
		{"incident", "priority", TF_CLASS_LWW},
		{"incident", "status", TF_CLASS_LWW},
		{"incident", "location", TF_CLASS_LWW},
		{"incident", "caller", TF_CLASS_LWW},
		{"incident", "disposition", TF_CLASS_LWW},
		{"incident", "closed_at", TF_CLASS_LWW},
		{"incident", "incident_number", TF_CLASS_REF},
		{"incident", "remarks", TF_CLASS_TEXT},
		{"incident", "assigned_units", TF_CLASS_SET},
		{"incident", "notes", TF_CLASS_LOG},
		{"assignment", "incident_id", TF_CLASS_LWW},
		{"assignment", "unit_id", TF_CLASS_LWW},
		{"assignment", "cleared_at", TF_CLASS_LWW},
		{"assignment", "facility_id", TF_CLASS_LWW},
		{"assignment", "start_miles", TF_CLASS_LWW},
		{"assignment", "end_miles", TF_CLASS_LWW},
		{"assignment", "milestones", TF_CLASS_LOG},
		{"unit", "callsign", TF_CLASS_REF},
		{"unit", "type", TF_CLASS_REF},
		{"unit", "status", TF_CLASS_LWW},
		{"unit", "status_note", TF_CLASS_LWW},
		{"unit", "position", TF_CLASS_LWW},
		{"unit", "crew", TF_CLASS_SET},
		{"unit", "status_history", TF_CLASS_LOG},
		{"activity_log", "incident_name", TF_CLASS_LWW},
		{"activity_log", "op_period_from", TF_CLASS_LWW},
		{"activity_log", "op_period_to", TF_CLASS_LWW},
		{"activity_log", "unit_name", TF_CLASS_LWW},
		{"activity_log", "leader", TF_CLASS_LWW},
		{"activity_log", "position", TF_CLASS_LWW},
		{"activity_log", "home_agency", TF_CLASS_LWW},
		{"activity_log", "signed_by", TF_CLASS_LWW},
		{"activity_log", "signed_at", TF_CLASS_LWW},
		{"activity_log", "resources_assigned", TF_CLASS_SET},
		{"activity_log", "entries", TF_CLASS_LOG},
		{"thread", "incident_id", TF_CLASS_LWW},
		{"thread", "subject", TF_CLASS_LWW},
		{"thread", "priority", TF_CLASS_LWW},
		{"thread", "participants", TF_CLASS_SET},
		{"thread", "read_by", TF_CLASS_SET},
		{"thread", "messages", TF_CLASS_LOG},
		{"report", "incident_ref", TF_CLASS_LWW},
		{"report", "author", TF_CLASS_LWW},
		{"report", "status", TF_CLASS_LWW},
		{"report", "occurred_at", TF_CLASS_LWW},
		{"report", "offenses", TF_CLASS_SET},
		{"report", "victims", TF_CLASS_SET},
		{"report", "offenders", TF_CLASS_SET},
		{"report", "property", TF_CLASS_SET},
		{"report", "narrative", TF_CLASS_TEXT},
		{"report", "supplements", TF_CLASS_LOG},
		{"report", "review_comments", TF_CLASS_LOG},
		{"lookup", "query", TF_CLASS_REF},
		{"lookup", "source", TF_CLASS_REF},
		{"lookup", "result", TF_CLASS_REF},
		{"lookup", "requested_by", TF_CLASS_LWW},
		{"lookup", "query_audit", TF_CLASS_LOG},
		{"bolo", "kind", TF_CLASS_LWW},
		{"bolo", "descriptors", TF_CLASS_LWW},
		{"bolo", "reason_wanted", TF_CLASS_LWW},
		{"bolo", "last_seen", TF_CLASS_LWW},
		{"bolo", "status", TF_CLASS_LWW},
		{"bolo", "expires_at", TF_CLASS_LWW},
		{"bolo", "updates", TF_CLASS_LOG},
	};
	tf_schema *s = load_cad();
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const tf_field *f = field(s, rows[i].ent, rows[i].field);

		if (f && (int)f->cls != (int)rows[i].cls)
			tf_test_fail(__FILE__, __LINE__, "%s.%s is %s",
				     rows[i].ent, rows[i].field,
				     tf_class_name(f->cls));
	}
	tf_schema_free(s);
}

TEST(cad_types_and_limits)
{
	tf_schema *s = load_cad();
	const tf_field *f;

	if (s == NULL)
		return;
	f = field(s, "incident", "priority");
	CHECK_INT(f->type.type, TF_TYPE_INTEGER);
	CHECK(f->type.has_min && f->type.has_max);
	CHECK_INT(f->type.min, 1);
	CHECK_INT(f->type.max, 5);
	f = field(s, "incident", "remarks");
	CHECK_INT(f->type.type, TF_TYPE_STRING);
	CHECK_INT(f->max_bytes, 65536);
	CHECK_INT(f->type.max, 65536);
	f = field(s, "incident", "notes");
	CHECK_INT(f->max_entries, 10000);
	CHECK_INT(f->type.type, TF_TYPE_OBJECT);
	CHECK_INT(f->type.nprops, 2);
	CHECK_STR(f->type.props[0].name, "kind");
	CHECK(!f->type.props[0].required);
	CHECK_STR(f->type.props[1].name, "text");
	CHECK(f->type.props[1].required);
	f = field(s, "incident", "location");
	CHECK_INT(f->type.type, TF_TYPE_OBJECT);
	CHECK_INT(f->type.nprops, 4);
	CHECK_STR(f->type.props[2].name, "lat");
	CHECK_INT(f->type.props[2].spec.type, TF_TYPE_NUMBER);
	CHECK_INT(f->type.props[2].spec.min, -90);
	CHECK_INT(f->type.props[3].spec.max, 180);
	f = field(s, "incident", "status");
	CHECK_INT(f->type.type, TF_TYPE_ENUM);
	CHECK_INT(f->type.nvalues, 4);
	CHECK_STR(f->type.values[0], "pending");
	CHECK_STR(f->type.values[3], "closed");
	f = field(s, "incident", "closed_at");
	CHECK_INT(f->type.type, TF_TYPE_TIMESTAMP);
	CHECK(f->type.nullable);
	f = field(s, "assignment", "incident_id");
	CHECK_INT(f->type.type, TF_TYPE_UUID);
	f = field(s, "assignment", "milestones");
	CHECK_INT(f->type.props[0].spec.nvalues, 6);
	CHECK_STR(f->type.props[0].spec.values[5], "clear");
	f = field(s, "thread", "messages");
	CHECK_STR(f->type.props[1].name, "to");
	CHECK_INT(f->type.props[1].spec.type, TF_TYPE_ARRAY);
	CHECK(f->type.props[1].spec.item != NULL);
	f = field(s, "report", "offenses");
	CHECK_INT(f->type.type, TF_TYPE_OBJECT);
	CHECK_INT(f->max_entries, 64);
	tf_schema_free(s);
}

TEST(cad_unit_status_codes_labels_history)
{
	static const char *const codes[] = {
		"available",	"dispatched", "enroute", "onscene",
		"transporting", "atfacility", "busy",	 "out_of_service",
	};
	tf_schema *s = load_cad();
	const tf_field *st, *h;
	size_t i;

	if (s == NULL)
		return;
	st = field(s, "unit", "status");
	h = field(s, "unit", "status_history");
	CHECK_INT(st->type.nvalues, 8);
	for (i = 0; i < 8 && i < st->type.nvalues; i++)
		CHECK_STR(st->type.values[i], codes[i]);
	CHECK_STR(tf_enum_label(&st->type, "available"), "10-8 Available");
	CHECK_STR(tf_enum_label(&st->type, "out_of_service"),
		  "10-7 Out of service");
	CHECK(tf_enum_label(&st->type, "clear") == NULL);
	CHECK(tf_enum_label(&st->type, NULL) == NULL);
	CHECK(tf_enum_label(NULL, "busy") == NULL);
	CHECK(tf_enum_label(&field(s, "incident", "status")->type, "active") ==
	      NULL);
	CHECK_STR(st->history, "status_history");
	CHECK_INT(h->cls, TF_CLASS_LOG);
	CHECK(field(s, "unit", "status_note")->history == NULL);
	/* No transition table: any change, any first value. */
	CHECK(tf_field_transition_allowed(st, "available", "busy"));
	CHECK(tf_field_transition_allowed(st, NULL, "busy"));
	/* History entries can only be written by the merge (or service). */
	CHECK(!tf_field_role_may_write(tf_schema_entity(s, "unit"), h,
				       "officer"));
	CHECK(tf_field_role_may_write(tf_schema_entity(s, "unit"), st,
				      "officer"));
	tf_schema_free(s);
}

TEST(cad_scopes)
{
	static const struct {
		const char *ent;
		tf_scope scope;
		const char *field;
		tf_class cls;
	} rows[] = {
		{"incident", TF_SCOPE_ASSIGNED_UNIT, "assigned_units",
		 TF_CLASS_SET},
		{"assignment", TF_SCOPE_ASSIGNED_UNIT, "unit_id", TF_CLASS_LWW},
		{"unit", TF_SCOPE_AGENCY, NULL, TF_CLASS_LWW},
		{"activity_log", TF_SCOPE_ASSIGNED_UNIT, "unit_id",
		 TF_CLASS_LWW},
		{"thread", TF_SCOPE_PARTICIPANT, "participants", TF_CLASS_SET},
		{"report", TF_SCOPE_AUTHOR, "author", TF_CLASS_LWW},
		{"lookup", TF_SCOPE_AUTHOR, "requested_by", TF_CLASS_LWW},
		{"bolo", TF_SCOPE_AGENCY, NULL, TF_CLASS_LWW},
	};
	tf_schema *s = load_cad();
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const tf_entity *e = tf_schema_entity(s, rows[i].ent);

		CHECK_INT(e->scope, rows[i].scope);
		if (rows[i].field == NULL) {
			CHECK(e->scope_field == NULL);
			continue;
		}
		CHECK_STR(e->scope_field, rows[i].field);
		CHECK_INT(tf_entity_field(e, e->scope_field)->cls, rows[i].cls);
		CHECK_INT(tf_entity_field(e, e->scope_field)->type.type,
			  TF_TYPE_STRING);
	}
	tf_schema_free(s);
}

TEST(cad_roles_offline_transitions)
{
	tf_schema *s = load_cad();
	const tf_entity *inc, *rep, *lk, *bolo;
	const tf_field *st;

	if (s == NULL)
		return;
	inc = tf_schema_entity(s, "incident");
	rep = tf_schema_entity(s, "report");
	lk = tf_schema_entity(s, "lookup");
	bolo = tf_schema_entity(s, "bolo");
	CHECK_INT(inc->nread_roles, 3);
	CHECK_STR(inc->read_roles[0], "dispatcher");
	/* Ref fields: service only; others follow the entity's roles. */
	CHECK(!tf_field_role_may_write(
		inc, tf_entity_field(inc, "incident_number"), "dispatcher"));
	CHECK(tf_field_role_may_write(
		inc, tf_entity_field(inc, "incident_number"), "service"));
	CHECK(tf_field_role_may_write(inc, tf_entity_field(inc, "priority"),
				      "dispatcher"));
	CHECK(tf_field_role_may_write(inc, NULL, "officer"));
	CHECK(!tf_field_role_may_write(inc, NULL, "auditor"));
	CHECK(!tf_field_role_may_write(inc, NULL, NULL));
	CHECK(!tf_field_role_may_write(lk, tf_entity_field(lk, "result"),
				       "officer"));
	CHECK(tf_field_role_may_write(lk, tf_entity_field(lk, "query_audit"),
				      "officer"));
	CHECK(!tf_field_role_may_write(bolo, tf_entity_field(bolo, "status"),
				       "officer"));
	CHECK(tf_field_role_may_write(bolo, tf_entity_field(bolo, "status"),
				      "supervisor"));
	/* Offline policy. */
	CHECK_INT(tf_entity_field(rep, "status")->offline,
		  TF_OFFLINE_ONLINE_ONLY);
	CHECK_INT(tf_entity_field(bolo, "status")->offline,
		  TF_OFFLINE_ONLINE_ONLY);
	CHECK_INT(tf_entity_field(rep, "narrative")->offline, TF_OFFLINE_QUEUE);
	CHECK_INT(field(s, "unit", "status")->offline, TF_OFFLINE_QUEUE);
	/* Report workflow. */
	st = tf_entity_field(rep, "status");
	CHECK_INT(st->ntransitions, 2);
	CHECK_INT(st->ninitial, 1);
	CHECK(tf_field_transition_allowed(st, "draft", "submitted"));
	CHECK(tf_field_transition_allowed(st, "submitted", "approved"));
	CHECK(tf_field_transition_allowed(st, "submitted", "draft"));
	CHECK(!tf_field_transition_allowed(st, "draft", "approved"));
	CHECK(!tf_field_transition_allowed(st, "approved", "draft"));
	CHECK(!tf_field_transition_allowed(st, "approved", "submitted"));
	CHECK(!tf_field_transition_allowed(st, "draft", "bogus"));
	CHECK(!tf_field_transition_allowed(st, "draft", NULL));
	CHECK(tf_field_transition_allowed(st, "approved", "approved"));
	CHECK(tf_field_transition_allowed(st, NULL, "draft"));
	CHECK(!tf_field_transition_allowed(st, NULL, "approved"));
	CHECK(!tf_field_transition_allowed(st, NULL, NULL));
	tf_schema_free(s);
}

/* -------------------------------------------------------- broken input */

/* A valid document around FIELDS (entity "e", roles officer/service). */
#define DOC_SF(scope, fields)                                                  \
	"{'schema_version':1,'roles':['officer','service'],'entities':{'e':{"  \
	"'scope':" scope ",'write_roles':['officer'],'fields':{" fields "}}}}"
#define DOC(fields) DOC_SF("{'rule':'agency'}", fields)
#define LWW_S "'s':{'class':'lww','type':'string','max':8}"
#define ENUM3 "'type':'enum','values':['a','b','c']"
#define HIST_LOG(value_spec)                                                   \
	"'h':{'class':'log','type':'object','props':{'field':{'type':'enum',"  \
	"'values':['st'],'required':true},'value':" value_spec "}}"

static const struct {
	const char *doc;
	int code;
	const char *where;
	const char *msg; /* a part of the message */
} broken[] = {
	/* The document. */
	{"", TF_EJSON, NULL, NULL},
	{"{'a':1,'a':2}", TF_EDUPKEY, NULL, NULL},
	{"[]", TF_ESCHEMA, "schema", "must be an object"},
	{"{'schema_version':1,'roles':['officer'],'entities':{'e':{}},'x':1}",
	 TF_ESCHEMA, "schema", "unknown member \"x\""},
	{"{'roles':['officer'],'entities':{}}", TF_ESCHEMA, "schema",
	 "\"schema_version\" is missing"},
	{"{'schema_version':0,'roles':['officer'],'entities':{}}", TF_ESCHEMA,
	 "schema", "within 1..2147483647"},
	{"{'schema_version':1.5,'roles':['officer'],'entities':{}}", TF_ESCHEMA,
	 "schema", "must be an integer"},
	{"{'schema_version':'1','roles':['officer'],'entities':{}}", TF_ESCHEMA,
	 "schema", "must be an integer"},
	{"{'schema_version':1,'entities':{}}", TF_ESCHEMA, "schema",
	 "\"roles\" must be"},
	{"{'schema_version':1,'roles':[],'entities':{}}", TF_ESCHEMA, "schema",
	 "\"roles\" must be"},
	{"{'schema_version':1,'roles':['Officer'],'entities':{}}", TF_ESCHEMA,
	 "schema", "\"roles\"[0]"},
	{"{'schema_version':1,'roles':['a',2],'entities':{}}", TF_ESCHEMA,
	 "schema", "\"roles\"[1]"},
	{"{'schema_version':1,'roles':['a','a'],'entities':{}}", TF_ESCHEMA,
	 "schema", "listed twice"},
	{"{'schema_version':1,'roles':['a']}", TF_ESCHEMA, "schema",
	 "\"entities\" must be"},
	{"{'schema_version':1,'roles':['a'],'entities':{}}", TF_ESCHEMA,
	 "schema", "\"entities\" must be"},
	{"{'schema_version':1,'roles':['a'],'entities':[]}", TF_ESCHEMA,
	 "schema", "\"entities\" must be"},
	/* Entities. */
	{"{'schema_version':1,'roles':['a'],'entities':{'E':{}}}", TF_ESCHEMA,
	 "E", "entity name"},
	{"{'schema_version':1,'roles':['a'],'entities':{"
	 "'a23456789012345678901234567890123':{}}}",
	 TF_ESCHEMA, "a23456789012345678901234567890123", "at most 32"},
	{"{'schema_version':1,'roles':['a'],'entities':{'e':[]}}", TF_ESCHEMA,
	 "e", "must be an object"},
	{"{'schema_version':1,'roles':['a'],'entities':{'e':{'x':1}}}",
	 TF_ESCHEMA, "e", "unknown member \"x\""},
	{"{'schema_version':1,'roles':['a'],'entities':{'e':{'scope':{'rule':"
	 "'agency'},'fields':{" LWW_S "}}}}",
	 TF_ESCHEMA, "e", "\"write_roles\" is missing"},
	{"{'schema_version':1,'roles':['a'],'entities':{'e':{'scope':{'rule':"
	 "'agency'},'write_roles':['b'],'fields':{" LWW_S "}}}}",
	 TF_ESCHEMA, "e", "not declared in \"roles\""},
	{"{'schema_version':1,'roles':['a'],'entities':{'e':{'scope':{'rule':"
	 "'agency'},'write_roles':['a','a'],'fields':{" LWW_S "}}}}",
	 TF_ESCHEMA, "e", "twice"},
	{"{'schema_version':1,'roles':['a'],'entities':{'e':{'scope':{'rule':"
	 "'agency'},'write_roles':[],'fields':{" LWW_S "}}}}",
	 TF_ESCHEMA, "e", "1..32 roles"},
	{"{'schema_version':1,'roles':['a'],'entities':{'e':{'scope':{'rule':"
	 "'agency'},'write_roles':'a','fields':{" LWW_S "}}}}",
	 TF_ESCHEMA, "e", "array of role names"},
	{"{'schema_version':1,'roles':['a'],'entities':{'e':{'scope':{'rule':"
	 "'agency'},'write_roles':[1],'fields':{" LWW_S "}}}}",
	 TF_ESCHEMA, "e", "must be a string"},
	{"{'schema_version':1,'roles':['a'],'entities':{'e':{'scope':{'rule':"
	 "'agency'},'write_roles':['a'],'read_roles':['x'],'fields':{" LWW_S
	 "}}}}",
	 TF_ESCHEMA, "e", "\"read_roles\" names role \"x\""},
	{DOC(""), TF_ESCHEMA, "e", "\"fields\" must be"},
	{"{'schema_version':1,'roles':['a'],'entities':{'e':{'scope':{'rule':"
	 "'agency'},'write_roles':['a']}}}",
	 TF_ESCHEMA, "e", "\"fields\" must be"},
	/* Field names and shapes. */
	{DOC("'Bad':{'class':'lww','type':'boolean'}"), TF_ESCHEMA, "e.Bad",
	 "field name"},
	{DOC("'9a':{'class':'lww','type':'boolean'}"), TF_ESCHEMA, "e.9a",
	 "field name"},
	{DOC("'a-b':{'class':'lww','type':'boolean'}"), TF_ESCHEMA, "e.a-b",
	 "field name"},
	{DOC("'f':1"), TF_ESCHEMA, "e.f", "must be an object"},
	{DOC("'f':{'type':'boolean'}"), TF_ESCHEMA, "e.f",
	 "\"class\" is missing"},
	{DOC("'f':{'class':'crdt','type':'boolean'}"), TF_ESCHEMA, "e.f",
	 "\"class\" must be one of"},
	{DOC("'f':{'class':'lww','type':'boolean','colour':1}"), TF_ESCHEMA,
	 "e.f", "unknown member \"colour\""},
	{DOC("'f':{'class':'lww'}"), TF_ESCHEMA, "e.f", "\"type\" is missing"},
	{DOC("'f':{'class':'lww','type':'float'}"), TF_ESCHEMA, "e.f",
	 "\"type\" must be one of"},
	{DOC("'f':{'class':'lww','type':3}"), TF_ESCHEMA, "e.f",
	 "\"type\" must be one of"},
	/* Type parameters. */
	{DOC("'f':{'class':'lww','type':'string'}"), TF_ESCHEMA, "e.f",
	 "needs \"max\""},
	{DOC("'f':{'class':'lww','type':'string','max':-1}"), TF_ESCHEMA, "e.f",
	 "\"max\" is -1"},
	{DOC("'f':{'class':'lww','type':'string','max':1048577}"), TF_ESCHEMA,
	 "e.f", "\"max\" is 1048577"},
	{DOC("'f':{'class':'lww','type':'string','min':5,'max':4}"), TF_ESCHEMA,
	 "e.f", "\"min\" is 5, must be within 0..4"},
	{DOC("'f':{'class':'lww','type':'integer','min':5,'max':4}"),
	 TF_ESCHEMA, "e.f", "greater than \"max\""},
	{DOC("'f':{'class':'lww','type':'number','min':1.5}"), TF_ESCHEMA,
	 "e.f", "must be an integer"},
	{DOC("'f':{'class':'lww','type':'integer','max':1e3}"), TF_ESCHEMA,
	 "e.f", "must be an integer"},
	{DOC("'f':{'class':'lww','type':'integer','max':"
	     "9223372036854775808}"),
	 TF_ESCHEMA, "e.f", "within 64 bits"},
	{DOC("'f':{'class':'lww','type':'integer','values':['a']}"), TF_ESCHEMA,
	 "e.f", "\"values\" is not allowed for type integer"},
	{DOC("'f':{'class':'lww','type':'boolean','max':1}"), TF_ESCHEMA, "e.f",
	 "\"max\" is not allowed for type boolean"},
	{DOC("'f':{'class':'lww','type':'uuid','min':1}"), TF_ESCHEMA, "e.f",
	 "\"min\" is not allowed for type uuid"},
	{DOC("'f':{'class':'lww','type':'timestamp','items':{}}"), TF_ESCHEMA,
	 "e.f", "\"items\" is not allowed for type timestamp"},
	{DOC("'f':{'class':'lww','type':'string','max':3,'props':{}}"),
	 TF_ESCHEMA, "e.f", "\"props\" is not allowed for type string"},
	{DOC("'f':{'class':'lww','type':'enum','values':['a'],'max':1}"),
	 TF_ESCHEMA, "e.f", "\"max\" is not allowed for type enum"},
	{DOC("'f':{'class':'lww','type':'boolean','nullable':1}"), TF_ESCHEMA,
	 "e.f", "\"nullable\" must be true or false"},
	{DOC("'f':{'class':'lww','type':'boolean','required':true}"),
	 TF_ESCHEMA, "e.f", "unknown member \"required\""},
	/* Enums. */
	{DOC("'f':{'class':'lww','type':'enum'}"), TF_ESCHEMA, "e.f",
	 "needs \"values\""},
	{DOC("'f':{'class':'lww','type':'enum','values':[]}"), TF_ESCHEMA,
	 "e.f", "1..64 strings"},
	{DOC("'f':{'class':'lww','type':'enum','values':'a'}"), TF_ESCHEMA,
	 "e.f", "1..64 strings"},
	{DOC("'f':{'class':'lww','type':'enum','values':['a',1]}"), TF_ESCHEMA,
	 "e.f", "\"values\"[1]"},
	{DOC("'f':{'class':'lww','type':'enum','values':['a','']}"), TF_ESCHEMA,
	 "e.f", "\"values\"[1]"},
	{DOC("'f':{'class':'lww','type':'enum','values':['a','b','a']}"),
	 TF_ESCHEMA, "e.f", "\"a\" is listed twice"},
	{DOC("'f':{'class':'lww'," ENUM3 ",'labels':['x']}"), TF_ESCHEMA, "e.f",
	 "\"labels\" must be an object"},
	{DOC("'f':{'class':'lww'," ENUM3 ",'labels':{'d':'x'}}"), TF_ESCHEMA,
	 "e.f", "\"labels\" names \"d\""},
	{DOC("'f':{'class':'lww'," ENUM3 ",'labels':{'a':''}}"), TF_ESCHEMA,
	 "e.f", "label of \"a\""},
	{DOC("'f':{'class':'lww'," ENUM3 ",'labels':{'a':5}}"), TF_ESCHEMA,
	 "e.f", "label of \"a\""},
	/* Objects and arrays. */
	{DOC("'f':{'class':'lww','type':'object'}"), TF_ESCHEMA, "e.f",
	 "needs \"props\""},
	{DOC("'f':{'class':'lww','type':'object','props':[]}"), TF_ESCHEMA,
	 "e.f", "\"props\" must be an object"},
	{DOC("'f':{'class':'lww','type':'object','props':{'Bad':{'type':"
	     "'boolean'}}}"),
	 TF_ESCHEMA, "e.f.Bad", "member name"},
	{DOC("'f':{'class':'lww','type':'object','props':{'p':true}}"),
	 TF_ESCHEMA, "e.f.p", "type spec must be an object"},
	{DOC("'f':{'class':'lww','type':'object','props':{'p':{'type':"
	     "'boolean','requird':true}}}"),
	 TF_ESCHEMA, "e.f.p", "unknown member \"requird\""},
	{DOC("'f':{'class':'lww','type':'object','props':{'p':{'type':"
	     "'boolean','required':'yes'}}}"),
	 TF_ESCHEMA, "e.f.p", "\"required\" must be true or false"},
	{DOC("'f':{'class':'lww','type':'object','props':{'p':{'type':"
	     "'boolean','class':'lww'}}}"),
	 TF_ESCHEMA, "e.f.p", "unknown member \"class\""},
	{DOC("'f':{'class':'lww','type':'object','props':{'p':{'type':"
	     "'string'}}}"),
	 TF_ESCHEMA, "e.f.p", "needs \"max\""},
	{DOC("'f':{'class':'lww','type':'array','max':3}"), TF_ESCHEMA, "e.f",
	 "needs \"items\""},
	{DOC("'f':{'class':'lww','type':'array','items':{'type':'boolean'}}"),
	 TF_ESCHEMA, "e.f", "needs \"max\""},
	{DOC("'f':{'class':'lww','type':'array','max':100001,'items':{'type':"
	     "'boolean'}}"),
	 TF_ESCHEMA, "e.f", "within 0..100000"},
	{DOC("'f':{'class':'lww','type':'array','max':3,'items':'boolean'}"),
	 TF_ESCHEMA, "e.f", "\"items\" must be a type spec"},
	{DOC("'f':{'class':'lww','type':'array','max':3,'items':{'type':"
	     "'enum'}}"),
	 TF_ESCHEMA, "e.f[]", "needs \"values\""},
	{DOC("'f':{'class':'lww','type':'array','max':3,'items':{'type':"
	     "'boolean','required':true}}"),
	 TF_ESCHEMA, "e.f[]", "unknown member \"required\""},
	/* Depth: f (1) > a (2) > b (3) > c (4) > d (5). */
	{DOC("'f':{'class':'lww','type':'object','props':{'a':{'type':"
	     "'object','props':{'b':{'type':'object','props':{'c':{'type':"
	     "'object','props':{'d':{'type':'boolean'}}}}}}}}}"),
	 TF_ESCHEMA, "e.f.a.b.c.d", "deeper than 4"},
	{DOC("'f':{'class':'lww','type':'array','max':1,'items':{'type':"
	     "'array','max':1,'items':{'type':'array','max':1,'items':{"
	     "'type':'array','max':1,'items':{'type':'boolean'}}}}}"),
	 TF_ESCHEMA, "e.f[][][][]", "deeper than 4"},
	/* Class-specific members. */
	{DOC("'f':{'class':'text','type':'string'}"), TF_ESCHEMA, "e.f",
	 "\"type\" is not allowed for class text"},
	{DOC("'f':{'class':'text','max_bytes':0}"), TF_ESCHEMA, "e.f",
	 "\"max_bytes\" is 0"},
	{DOC("'f':{'class':'text','max_bytes':1048577}"), TF_ESCHEMA, "e.f",
	 "\"max_bytes\" is 1048577"},
	{DOC("'f':{'class':'text','max_entries':3}"), TF_ESCHEMA, "e.f",
	 "\"max_entries\" is not allowed for class text"},
	{DOC("'f':{'class':'text','bytes':3}"), TF_ESCHEMA, "e.f",
	 "unknown member \"bytes\""},
	{DOC("'f':{'class':'lww','type':'boolean','max_entries':3}"),
	 TF_ESCHEMA, "e.f", "\"max_entries\" is not allowed for class lww"},
	{DOC("'f':{'class':'set','type':'boolean','max_bytes':3}"), TF_ESCHEMA,
	 "e.f", "\"max_bytes\" is not allowed for class set"},
	{DOC("'f':{'class':'log','type':'boolean','history':'f'}"), TF_ESCHEMA,
	 "e.f", "\"history\" is not allowed for class log"},
	{DOC("'f':{'class':'ref','type':'boolean','transitions':{}}"),
	 TF_ESCHEMA, "e.f", "\"transitions\" is not allowed for class ref"},
	{DOC("'f':{'class':'set','type':'boolean','initial':['a']}"),
	 TF_ESCHEMA, "e.f", "\"initial\" is not allowed for class set"},
	{DOC("'f':{'class':'log','type':'boolean','max_entries':0}"),
	 TF_ESCHEMA, "e.f", "\"max_entries\" is 0"},
	{DOC("'f':{'class':'set','type':'boolean','max_entries':100001}"),
	 TF_ESCHEMA, "e.f", "\"max_entries\" is 100001"},
	{DOC("'f':{'class':'set','type':'boolean','max_entries':'9'}"),
	 TF_ESCHEMA, "e.f", "must be an integer"},
	{DOC("'f':{'class':'lww','type':'boolean','offline':'later'}"),
	 TF_ESCHEMA, "e.f", "\"offline\" must be"},
	{DOC("'f':{'class':'lww','type':'boolean','offline':true}"), TF_ESCHEMA,
	 "e.f", "\"offline\" must be"},
	{DOC("'f':{'class':'lww','type':'boolean','write_roles':['root']}"),
	 TF_ESCHEMA, "e.f", "role \"root\""},
	{DOC("'f':{'class':'lww','type':'boolean','write_roles':[]}"),
	 TF_ESCHEMA, "e.f", "1..32 roles"},
	/* History. */
	{DOC("'st':{'class':'lww'," ENUM3 ",'history':'nope'}"), TF_ESCHEMA,
	 "e.st", "\"nope\", which is not a field of e"},
	{DOC("'st':{'class':'lww'," ENUM3 ",'history':'Bad'}"), TF_ESCHEMA,
	 "e.st", "must name a log field"},
	{DOC("'st':{'class':'lww'," ENUM3 ",'history':7}"), TF_ESCHEMA, "e.st",
	 "must name a log field"},
	{DOC("'st':{'class':'lww'," ENUM3 ",'history':'s'}," LWW_S), TF_ESCHEMA,
	 "e.st", "a lww field; it must be a log"},
	{DOC("'st':{'class':'lww'," ENUM3 ",'history':'h'},'h':{'class':"
	     "'log','type':'string','max':9}"),
	 TF_ESCHEMA, "e.st", "must have object entries"},
	{DOC("'st':{'class':'lww'," ENUM3 ",'history':'h'},'h':{'class':"
	     "'log','type':'object','props':{'value':{" ENUM3 "}}}"),
	 TF_ESCHEMA, "e.st", "prop \"field\" that accepts \"st\""},
	{DOC("'st':{'class':'lww'," ENUM3 ",'history':'h'},'h':{'class':"
	     "'log','type':'object','props':{'field':{'type':'enum','values':"
	     "['other']},'value':{" ENUM3 "}}}"),
	 TF_ESCHEMA, "e.st", "prop \"field\" that accepts \"st\""},
	{DOC("'st':{'class':'lww'," ENUM3 ",'history':'h'},'h':{'class':"
	     "'log','type':'object','props':{'field':{'type':'string','max':"
	     "1},'value':{" ENUM3 "}}}"),
	 TF_ESCHEMA, "e.st", "prop \"field\" that accepts \"st\""},
	{DOC("'st':{'class':'lww'," ENUM3
	     ",'history':'h'}," HIST_LOG("{'type':'enum','values':['a','b']}")),
	 TF_ESCHEMA, "e.st", "\"value\" of exactly this field's type"},
	{DOC("'st':{'class':'lww'," ENUM3
	     ",'nullable':true,'history':'h'}," HIST_LOG("{" ENUM3 "}")),
	 TF_ESCHEMA, "e.st", "\"value\" of exactly this field's type"},
	{DOC("'st':{'class':'lww'," ENUM3 ",'history':'h'},"
	     "'h':{'class':'log','type':'object','props':{'field':{'type':"
	     "'enum','values':['st']},'note':{'type':'boolean','required':"
	     "true},'value':{" ENUM3 "}}}"),
	 TF_ESCHEMA, "e.st", "requires \"note\""},
	{DOC("'st':{'class':'lww','type':'integer','max':3,'history':'h'}"
	     "," HIST_LOG("{'type':'integer','max':4}")),
	 TF_ESCHEMA, "e.st", "\"value\" of exactly this field's type"},
	{DOC("'st':{'class':'lww'," ENUM3 ",'history':'h'}," HIST_LOG(
		 "{'type':'enum','values':['a','b','d']}")),
	 TF_ESCHEMA, "e.st", "\"value\" of exactly this field's type"},
	{DOC("'st':{'class':'lww'," ENUM3 ",'history':'h'},'h':{'class':"
	     "'log','type':'object','props':{'field':{'type':'integer'},"
	     "'value':{" ENUM3 "}}}"),
	 TF_ESCHEMA, "e.st", "prop \"field\" that accepts \"st\""},
	{DOC("'o':{'class':'lww','type':'object','props':{'x':{'type':"
	     "'boolean'}},'history':'h'},'h':{'class':'log','type':'object',"
	     "'props':{'field':{'type':'enum','values':['o']},'value':{'type':"
	     "'object','props':{'x':{'type':'boolean','required':true}}}}}"),
	 TF_ESCHEMA, "e.o", "\"value\" of exactly this field's type"},
	{DOC("'o':{'class':'lww','type':'object','props':{'x':{'type':"
	     "'boolean'}},'history':'h'},'h':{'class':'log','type':'object',"
	     "'props':{'field':{'type':'enum','values':['o']},'value':{'type':"
	     "'object','props':{'y':{'type':'boolean'}}}}}"),
	 TF_ESCHEMA, "e.o", "\"value\" of exactly this field's type"},
	{DOC("'f':null"), TF_ESCHEMA, "e.f", "not null"},
	/* Transitions and initial values. */
	{DOC("'f':{'class':'lww','type':'string','max':3,'transitions':{'a':"
	     "['b']}}"),
	 TF_ESCHEMA, "e.f", "non-nullable enum"},
	{DOC("'f':{'class':'lww'," ENUM3 ",'nullable':true,'transitions':{'a':"
	     "['b']}}"),
	 TF_ESCHEMA, "e.f", "non-nullable enum"},
	{DOC("'f':{'class':'lww','type':'integer','initial':[1]}"), TF_ESCHEMA,
	 "e.f", "\"initial\" needs an lww field"},
	{DOC("'f':{'class':'lww'," ENUM3 ",'transitions':{'d':['a']}}"),
	 TF_ESCHEMA, "e.f", "\"transitions\" names \"d\""},
	{DOC("'f':{'class':'lww'," ENUM3 ",'transitions':{'a':['d']}}"),
	 TF_ESCHEMA, "e.f", "[0] is not one of the field's enum values"},
	{DOC("'f':{'class':'lww'," ENUM3 ",'transitions':{'a':['b','b']}}"),
	 TF_ESCHEMA, "e.f", "names \"b\" twice"},
	{DOC("'f':{'class':'lww'," ENUM3 ",'transitions':{'a':'b'}}"),
	 TF_ESCHEMA, "e.f", "target list must be an array"},
	{DOC("'f':{'class':'lww'," ENUM3 ",'transitions':{}}"), TF_ESCHEMA,
	 "e.f", "non-empty object"},
	{DOC("'f':{'class':'lww'," ENUM3 ",'transitions':['a']}"), TF_ESCHEMA,
	 "e.f", "non-empty object"},
	{DOC("'f':{'class':'lww'," ENUM3 ",'initial':[]}"), TF_ESCHEMA, "e.f",
	 "\"initial\" must be an array of 1..3"},
	{DOC("'f':{'class':'lww'," ENUM3 ",'initial':['z']}"), TF_ESCHEMA,
	 "e.f", "\"initial\"[0] is not one of"},
	{DOC("'f':{'class':'lww'," ENUM3 ",'initial':['a',3]}"), TF_ESCHEMA,
	 "e.f", "\"initial\"[1] is not one of"},
	/* Scope rules. */
	{"{'schema_version':1,'roles':['a'],'entities':{'e':{'write_roles':"
	 "['a'],'fields':{" LWW_S "}}}}",
	 TF_ESCHEMA, "e", "\"scope\" is missing"},
	{DOC_SF("'agency'", LWW_S), TF_ESCHEMA, "e",
	 "\"scope\" must be an object"},
	{DOC_SF("{'rule':'agency','who':1}", LWW_S), TF_ESCHEMA, "e",
	 "unknown member \"who\" in \"scope\""},
	{DOC_SF("{'field':'s'}", LWW_S), TF_ESCHEMA, "e", "needs a \"rule\""},
	{DOC_SF("{'rule':'world'}", LWW_S), TF_ESCHEMA, "e",
	 "scope rule must be"},
	{DOC_SF("{'rule':'agency','field':'s'}", LWW_S), TF_ESCHEMA, "e",
	 "agency takes no \"field\""},
	{DOC_SF("{'rule':'author'}", LWW_S), TF_ESCHEMA, "e",
	 "author needs a \"field\""},
	{DOC_SF("{'rule':'author','field':5}", LWW_S), TF_ESCHEMA, "e",
	 "author needs a \"field\""},
	{DOC_SF("{'rule':'author','field':'who'}", LWW_S), TF_ESCHEMA, "e",
	 "\"who\" is not a field of e"},
	{DOC_SF("{'rule':'author','field':'m'}",
		"'m':{'class':'set','type':'string','max':8}"),
	 TF_ESCHEMA, "e", "author needs an lww field"},
	{DOC_SF("{'rule':'author','field':'m'}",
		"'m':{'class':'lww','type':'integer'}"),
	 TF_ESCHEMA, "e", "of type integer"},
	{DOC_SF("{'rule':'participant','field':'s'}", LWW_S), TF_ESCHEMA, "e",
	 "participant needs a set field"},
	{DOC_SF("{'rule':'assigned_unit','field':'t'}", "'t':{'class':'text'}"),
	 TF_ESCHEMA, "e", "a set or an lww field"},
	{DOC_SF("{'rule':'assigned_unit','field':'r'}",
		"'r':{'class':'ref','type':'string','max':8}"),
	 TF_ESCHEMA, "e", "a set or an lww field"},
	{DOC_SF("{'rule':'assigned_unit','field':'m'}",
		"'m':{'class':'set','type':'uuid'}"),
	 TF_ESCHEMA, "e", "of type uuid"},
};

TEST(broken_schemas_are_refused)
{
	size_t i;

	for (i = 0; i < sizeof broken / sizeof broken[0]; i++) {
		tf_schema *s = (tf_schema *)&s; /* must be reset to NULL */
		tf_err err;
		int rc;

		tf_err_clear(&err);
		rc = load_q(broken[i].doc, &s, &err);
		if (rc != broken[i].code || s != NULL) {
			tf_test_fail(__FILE__, __LINE__,
				     "case %zu: rc %d (%s), want %d: %s", i, rc,
				     tf_strerror(rc), broken[i].code, err.msg);
			tf_schema_free(s);
			continue;
		}
		CHECK_INT(err.code, broken[i].code);
		if (broken[i].where && strcmp(err.where, broken[i].where))
			tf_test_fail(__FILE__, __LINE__,
				     "case %zu: where \"%s\", want \"%s\"", i,
				     err.where, broken[i].where);
		if (broken[i].msg && strstr(err.msg, broken[i].msg) == NULL)
			tf_test_fail(__FILE__, __LINE__,
				     "case %zu: message \"%s\" lacks \"%s\"", i,
				     err.msg, broken[i].msg);
		/* The message names the place. */
		if (broken[i].where &&
		    strncmp(err.msg, err.where, strlen(err.where)))
			tf_test_fail(__FILE__, __LINE__,
				     "case %zu: message \"%s\" does not start "
				     "with where",
				     i, err.msg);
	}
}

TEST(schema_limits_on_counts)
{
	tf_buf b;
	tf_schema *s = NULL;
	tf_err err;
	int i;

	/* 65 enum values. */
	tf_buf_init(&b);
	tf_buf_puts(&b, "{\"schema_version\":1,\"roles\":[\"a\"],\"entities\":"
			"{\"e\":{\"scope\":{\"rule\":\"agency\"},"
			"\"write_roles\":[\"a\"],\"fields\":{\"f\":{"
			"\"class\":\"lww\",\"type\":\"enum\",\"values\":[");
	for (i = 0; i <= TF_SCHEMA_MAX_VALUES; i++)
		tf_buf_printf(&b, "%s\"v%d\"", i ? "," : "", i);
	tf_buf_puts(&b, "]}}}}}");
	CHECK_INT(tf_schema_load(b.data, b.len, &s, &err), TF_ESCHEMA);
	CHECK_STR(err.where, "e.f");
	CHECK(s == NULL);
	/* 65 fields. */
	tf_buf_reset(&b);
	tf_buf_puts(&b, "{\"schema_version\":1,\"roles\":[\"a\"],\"entities\":"
			"{\"e\":{\"scope\":{\"rule\":\"agency\"},"
			"\"write_roles\":[\"a\"],\"fields\":{");
	for (i = 0; i <= TF_SCHEMA_MAX_FIELDS; i++)
		tf_buf_printf(&b, "%s\"f%d\":{\"class\":\"text\"}",
			      i ? "," : "", i);
	tf_buf_puts(&b, "}}}}");
	CHECK_INT(tf_schema_load(b.data, b.len, &s, &err), TF_ESCHEMA);
	CHECK_STR(err.where, "e");
	CHECK(strstr(err.msg, "1..64 fields") != NULL);
	/* 65 entities. */
	tf_buf_reset(&b);
	tf_buf_puts(&b,
		    "{\"schema_version\":1,\"roles\":[\"a\"],\"entities\":{");
	for (i = 0; i <= TF_SCHEMA_MAX_ENTITIES; i++)
		tf_buf_printf(&b,
			      "%s\"e%d\":{\"scope\":{\"rule\":\"agency\"},"
			      "\"write_roles\":[\"a\"],\"fields\":{\"t\":{"
			      "\"class\":\"text\"}}}",
			      i ? "," : "", i);
	tf_buf_puts(&b, "}}");
	CHECK_INT(tf_schema_load(b.data, b.len, &s, &err), TF_ESCHEMA);
	CHECK_STR(err.where, "schema");
	/* 33 roles. */
	tf_buf_reset(&b);
	tf_buf_puts(&b, "{\"schema_version\":1,\"roles\":[");
	for (i = 0; i <= TF_SCHEMA_MAX_ROLES; i++)
		tf_buf_printf(&b, "%s\"r%d\"", i ? "," : "", i);
	tf_buf_puts(&b, "],\"entities\":{}}");
	CHECK_INT(tf_schema_load(b.data, b.len, &s, &err), TF_ESCHEMA);
	CHECK(strstr(err.msg, "1..32 role names") != NULL);
	/* 65 props. */
	tf_buf_reset(&b);
	tf_buf_puts(&b, "{\"schema_version\":1,\"roles\":[\"a\"],\"entities\":"
			"{\"e\":{\"scope\":{\"rule\":\"agency\"},"
			"\"write_roles\":[\"a\"],\"fields\":{\"f\":{"
			"\"class\":\"lww\",\"type\":\"object\",\"props\":{");
	for (i = 0; i <= TF_SCHEMA_MAX_FIELDS; i++)
		tf_buf_printf(&b, "%s\"p%d\":{\"type\":\"boolean\"}",
			      i ? "," : "", i);
	tf_buf_puts(&b, "}}}}}}");
	CHECK_INT(tf_schema_load(b.data, b.len, &s, &err), TF_ESCHEMA);
	CHECK_STR(err.where, "e.f");
	CHECK(b.failed == 0);
	tf_buf_free(&b);
	/* No input at all. */
	CHECK_INT(tf_schema_load(NULL, 3, &s, &err), TF_EINVAL);
	CHECK_INT(tf_schema_load(NULL, 0, &s, &err), TF_EJSON);
	CHECK(s == NULL);
	tf_schema_free(NULL);
}

/* ----------------------------------------------------------- defaults */

TEST(defaults_and_valid_variants)
{
	static const char *doc = DOC_SF(
		"{'rule':'assigned_unit','field':'unit'}",
		"'unit':{'class':'lww','type':'string','max':32},"
		"'l':{'class':'log','type':'boolean'},"
		"'m':{'class':'set','type':'string','max':4},"
		"'t':{'class':'text'},"
		"'st':{'class':'lww'," ENUM3 ",'history':'h','transitions':{"
		"'a':['b'],'b':['a','c'],'c':[]},'write_roles':['service']},"
		"'h':{'class':'log','type':'object','props':{'field':{'type':"
		"'string','max':2},'value':{" ENUM3 "},'extra':{'type':"
		"'boolean'}}},"
		"'q':{'class':'lww','type':'boolean','offline':'queue'},"
		"'ini':{'class':'lww'," ENUM3 ",'initial':['b','c']},"
		"'oh':{'class':'lww','type':'object','props':{'x':{'type':"
		"'array','max':2,'items':{'type':'boolean'}}},'history':'ohl'},"
		"'ohl':{'class':'log','type':'object','props':{'field':{'type':"
		"'enum','values':['oh','other']},'value':{'type':'object',"
		"'props':{'x':{'type':'array','max':2,'items':{'type':"
		"'boolean'}}}}}},"
		"'n':{'class':'lww','type':'number'},"
		"'o':{'class':'lww','type':'object','props':{}},"
		"'deep':{'class':'lww','type':'object','props':{'a':{'type':"
		"'object','props':{'b':{'type':'array','max':2,'items':{'type':"
		"'string','max':1}}}}}}");
	tf_schema *s = NULL;
	const tf_entity *e;
	const tf_field *f;
	tf_err err;

	tf_err_clear(&err);
	CHECK_INT(load_q(doc, &s, &err), 0);
	if (s == NULL) {
		tf_test_fail(__FILE__, __LINE__, "%s", err.msg);
		return;
	}
	e = tf_schema_entity(s, "e");
	CHECK_INT(e->scope, TF_SCOPE_ASSIGNED_UNIT);
	CHECK_STR(e->scope_field, "unit");
	CHECK_INT(e->nread_roles, 0);
	CHECK(e->read_roles == NULL);
	f = tf_entity_field(e, "l");
	CHECK_INT(f->max_entries, 10000);
	CHECK_INT(f->offline, TF_OFFLINE_QUEUE);
	CHECK(f->write_roles == NULL);
	CHECK_INT(tf_entity_field(e, "m")->max_entries, 256);
	f = tf_entity_field(e, "t");
	CHECK_INT(f->max_bytes, 65536);
	CHECK_INT(f->type.type, TF_TYPE_STRING);
	CHECK(!f->type.nullable);
	f = tf_entity_field(e, "st");
	CHECK_STR(f->history, "h");
	CHECK_INT(f->ntransitions, 3);
	CHECK(tf_field_transition_allowed(f, "b", "c"));
	CHECK(!tf_field_transition_allowed(f, "c", "a"));
	CHECK(!tf_field_transition_allowed(f, "a", "c"));
	CHECK(tf_field_transition_allowed(f, NULL, "c"));
	CHECK(tf_field_role_may_write(e, f, "service"));
	CHECK(!tf_field_role_may_write(e, f, "officer"));
	CHECK(tf_enum_label(&f->type, "a") == NULL);
	CHECK_INT(tf_entity_field(e, "q")->offline, TF_OFFLINE_QUEUE);
	f = tf_entity_field(e, "ini");
	CHECK_INT(f->ntransitions, 0);
	CHECK(tf_field_transition_allowed(f, NULL, "b"));
	CHECK(!tf_field_transition_allowed(f, NULL, "a"));
	CHECK(tf_field_transition_allowed(f, "c", "a"));
	CHECK_STR(tf_entity_field(e, "oh")->history, "ohl");
	f = tf_entity_field(e, "n");
	CHECK(!f->type.has_min && !f->type.has_max);
	CHECK_INT(tf_entity_field(e, "o")->type.nprops, 0);
	tf_schema_free(s);
}

TEST(class_and_scope_names)
{
	CHECK_STR(tf_class_name(TF_CLASS_LWW), "lww");
	CHECK_STR(tf_class_name(TF_CLASS_LOG), "log");
	CHECK_STR(tf_class_name(TF_CLASS_SET), "set");
	CHECK_STR(tf_class_name(TF_CLASS_TEXT), "text");
	CHECK_STR(tf_class_name(TF_CLASS_REF), "ref");
	CHECK_STR(tf_class_name((tf_class)0), "unknown");
	CHECK_STR(tf_class_name((tf_class)99), "unknown");
	CHECK_STR(tf_scope_name(TF_SCOPE_AGENCY), "agency");
	CHECK_STR(tf_scope_name(TF_SCOPE_ASSIGNED_UNIT), "assigned_unit");
	CHECK_STR(tf_scope_name(TF_SCOPE_AUTHOR), "author");
	CHECK_STR(tf_scope_name(TF_SCOPE_PARTICIPANT), "participant");
	CHECK_STR(tf_scope_name((tf_scope)0), "unknown");
}

/* -------------------------------------------------------- check_value */

static const char *values_doc = DOC(
	"'s':{'class':'lww','type':'string','min':2,'max':5},"
	"'i':{'class':'lww','type':'integer','min':-3,'max':7},"
	"'imin':{'class':'lww','type':'integer','min':0},"
	"'n':{'class':'lww','type':'number','min':-90,'max':90},"
	"'nbig':{'class':'lww','type':'number','min':-9223372036854775808,"
	"'max':9223372036854775807},"
	"'nany':{'class':'lww','type':'number'},"
	"'b':{'class':'lww','type':'boolean'},"
	"'en':{'class':'lww'," ENUM3 "},"
	"'ts':{'class':'lww','type':'timestamp'},"
	"'u':{'class':'lww','type':'uuid','nullable':true},"
	"'o':{'class':'lww','type':'object','props':{'req':{'type':'string',"
	"'max':3,'required':true},'opt':{'type':'integer'},'sub':{'type':"
	"'object','props':{'x':{'type':'boolean','required':true}}}}},"
	"'a':{'class':'lww','type':'array','max':2,'items':{'type':'integer',"
	"'min':0,'max':9}},"
	"'amin':{'class':'lww','type':'array','min':1,'max':3,'items':{'type':"
	"'enum','values':['x']}}");

static const struct {
	const char *field, *json;
	int code;
	const char *where; /* NULL: the field path itself */
} values[] = {
	/* string: byte lengths (UTF-8 counted in bytes) */
	{"s", "'ab'", 0, NULL},
	{"s", "'abcde'", 0, NULL},
	{"s", "'\xc3\xa9\xc3\xa9'", 0, NULL},
	{"s", "'a'", TF_EVALIDATE, NULL},
	{"s", "'abcdef'", TF_ELIMIT, NULL},
	{"s", "'\xc3\xa9\xc3\xa9\xc3\xa9'", TF_ELIMIT, NULL},
	{"s", "null", TF_ETYPE, NULL},
	{"s", "5", TF_ETYPE, NULL},
	{"s", "['ab']", TF_ETYPE, NULL},
	/* integer */
	{"i", "7", 0, NULL},
	{"i", "-3", 0, NULL},
	{"i", "0", 0, NULL},
	{"i", "8", TF_ERANGE, NULL},
	{"i", "-4", TF_ERANGE, NULL},
	{"i", "1.0", TF_ETYPE, NULL},
	{"i", "1e0", TF_ETYPE, NULL},
	{"i", "'1'", TF_ETYPE, NULL},
	{"i", "true", TF_ETYPE, NULL},
	{"i", "99999999999999999999", TF_ERANGE, NULL},
	{"imin", "9223372036854775807", 0, NULL},
	{"imin", "-1", TF_ERANGE, NULL},
	/* number: exact decimal comparison */
	{"n", "90", 0, NULL},
	{"n", "90.0", 0, NULL},
	{"n", "-90", 0, NULL},
	{"n", "-90.000", 0, NULL},
	{"n", "45.123456789012345678901234567890", 0, NULL},
	{"n", "9e1", 0, NULL},
	{"n", "900e-1", 0, NULL},
	{"n", "0.9E+2", 0, NULL},
	{"n", "0", 0, NULL},
	{"n", "-0", 0, NULL},
	{"n", "-0.0e5", 0, NULL},
	{"n", "1e-400", 0, NULL},
	{"n", "-1e-400", 0, NULL},
	{"n", "90.0000000000000000001", TF_ERANGE, NULL},
	{"n", "-90.5", TF_ERANGE, NULL},
	{"n", "9.1e1", TF_ERANGE, NULL},
	{"n", "91", TF_ERANGE, NULL},
	{"n", "100", TF_ERANGE, NULL},
	{"n", "1e400", TF_ERANGE, NULL},
	{"n", "-1e99999999999999999999", TF_ERANGE, NULL},
	{"n", "'45'", TF_ETYPE, NULL},
	{"nbig", "9223372036854775807", 0, NULL},
	{"nbig", "9223372036854775806.9", 0, NULL},
	{"nbig", "-9223372036854775808", 0, NULL},
	{"nbig", "-9223372036854775807.5", 0, NULL},
	{"nbig", "9223372036854775807.5", TF_ERANGE, NULL},
	{"nbig", "9223372036854775808", TF_ERANGE, NULL},
	{"nbig", "-9223372036854775808.1", TF_ERANGE, NULL},
	{"nbig", "1e19", TF_ERANGE, NULL},
	{"nbig", "9.223372036854775807e18", 0, NULL},
	{"nany", "1e999", 0, NULL},
	{"nany", "-1e999", 0, NULL},
	/* boolean */
	{"b", "true", 0, NULL},
	{"b", "false", 0, NULL},
	{"b", "1", TF_ETYPE, NULL},
	{"b", "'true'", TF_ETYPE, NULL},
	{"b", "null", TF_ETYPE, NULL},
	/* enum */
	{"en", "'a'", 0, NULL},
	{"en", "'c'", 0, NULL},
	{"en", "'d'", TF_EVALIDATE, NULL},
	{"en", "'A'", TF_EVALIDATE, NULL},
	{"en", "''", TF_EVALIDATE, NULL},
	{"en", "1", TF_ETYPE, NULL},
	/* timestamp: integer ms within 48 bits */
	{"ts", "0", 0, NULL},
	{"ts", "1764000000000", 0, NULL},
	{"ts", "281474976710655", 0, NULL},
	{"ts", "281474976710656", TF_ERANGE, NULL},
	{"ts", "-1", TF_ERANGE, NULL},
	{"ts", "1.5", TF_ETYPE, NULL},
	{"ts", "'1764000000000'", TF_ETYPE, NULL},
	/* uuid (nullable) */
	{"u", "'01928c3e-7f3a-7b2c-9d4e-0123456789ab'", 0, NULL},
	{"u", "null", 0, NULL},
	{"u", "'01928C3E-7F3A-7B2C-9D4E-0123456789AB'", TF_EVALIDATE, NULL},
	{"u", "'01928c3e7f3a7b2c9d4e0123456789ab'", TF_EVALIDATE, NULL},
	{"u", "'x'", TF_EVALIDATE, NULL},
	{"u", "5", TF_ETYPE, NULL},
	/* object: unknown, missing, nested paths */
	{"o", "{'req':'ab'}", 0, NULL},
	{"o", "{'req':'ab','opt':-5,'sub':{'x':false}}", 0, NULL},
	{"o", "{}", TF_EMISSING, "t.o.req"},
	{"o", "{'opt':1}", TF_EMISSING, "t.o.req"},
	{"o", "{'req':'ab','zzz':1}", TF_EUNKNOWN, "t.o.zzz"},
	{"o", "{'aaa':1,'req':'ab'}", TF_EUNKNOWN, "t.o.aaa"},
	{"o", "{'req':1}", TF_ETYPE, "t.o.req"},
	{"o", "{'req':'abcd'}", TF_ELIMIT, "t.o.req"},
	{"o", "{'req':'ab','opt':1.5}", TF_ETYPE, "t.o.opt"},
	{"o", "{'req':'ab','sub':{}}", TF_EMISSING, "t.o.sub.x"},
	{"o", "{'req':'ab','sub':{'x':0}}", TF_ETYPE, "t.o.sub.x"},
	{"o", "{'req':'ab','sub':{'x':true,'y':1}}", TF_EUNKNOWN, "t.o.sub.y"},
	{"o", "[]", TF_ETYPE, NULL},
	{"o", "null", TF_ETYPE, NULL},
	/* array */
	{"a", "[]", 0, NULL},
	{"a", "[0,9]", 0, NULL},
	{"a", "[1,2,3]", TF_ELIMIT, NULL},
	{"a", "[1,'x']", TF_ETYPE, "t.a[1]"},
	{"a", "[10]", TF_ERANGE, "t.a[0]"},
	{"a", "{}", TF_ETYPE, NULL},
	{"amin", "['x']", 0, NULL},
	{"amin", "[]", TF_EVALIDATE, NULL},
	{"amin", "['x','y']", TF_EVALIDATE, "t.amin[1]"},
};

TEST(check_value_every_type)
{
	tf_schema *s = NULL;
	const tf_entity *e;
	tf_err err;
	size_t i;

	if (load_q(values_doc, &s, &err) != 0) {
		tf_test_fail(__FILE__, __LINE__, "%s", err.msg);
		return;
	}
	e = tf_schema_entity(s, "e");
	for (i = 0; i < sizeof values / sizeof values[0]; i++) {
		const tf_field *f = tf_entity_field(e, values[i].field);
		char *text = q(values[i].json);
		tf_json *v = NULL;
		char where[64];
		int rc;

		snprintf(where, sizeof where, "t.%s", values[i].field);
		if (tf_json_parse(text, strlen(text), NULL, &v, &err) != 0) {
			tf_test_fail(__FILE__, __LINE__, "case %zu: %s", i,
				     err.msg);
			free(text);
			continue;
		}
		tf_err_clear(&err);
		rc = tf_schema_check_value(&f->type, v, where, &err);
		if (rc != values[i].code)
			tf_test_fail(__FILE__, __LINE__,
				     "case %zu (%s = %s): rc %d, want %d: %s",
				     i, values[i].field, values[i].json, rc,
				     values[i].code, err.msg);
		else if (rc != 0) {
			const char *w =
				values[i].where ? values[i].where : where;

			CHECK_INT(err.code, rc);
			if (strcmp(err.where, w))
				tf_test_fail(__FILE__, __LINE__,
					     "case %zu: where \"%s\", want "
					     "\"%s\"",
					     i, err.where, w);
			if (strncmp(err.msg, w, strlen(w)) ||
			    !err.msg[strlen(w)])
				tf_test_fail(__FILE__, __LINE__,
					     "case %zu: message \"%s\"", i,
					     err.msg);
		}
		tf_json_free(v);
		free(text);
	}
	tf_schema_free(s);
}

static int check_cad(const tf_schema *s, const char *ent, const char *fname,
		     const char *json, tf_err *err)
{
	const tf_field *f = tf_entity_field(tf_schema_entity(s, ent), fname);
	char *text = q(json);
	tf_json *v = NULL;
	char where[96];
	int rc;

	snprintf(where, sizeof where, "%s.%s", ent, fname);
	rc = tf_json_parse(text, strlen(text), NULL, &v, err);
	free(text);
	if (rc)
		return 999;
	tf_err_clear(err);
	rc = tf_schema_check_value(&f->type, v, where, err);
	tf_json_free(v);
	return rc;
}

TEST(check_value_on_cad_fields)
{
	tf_schema *s = load_cad();
	tf_err err;

	if (s == NULL)
		return;
	CHECK_INT(check_cad(s, "incident", "location",
			    "{'addr':'100 Main St','lat':38.8977,"
			    "'lng':-77.0365}",
			    &err),
		  0);
	CHECK_INT(check_cad(s, "incident", "location", "{'lat':91}", &err),
		  TF_ERANGE);
	CHECK_STR(err.where, "incident.location.lat");
	CHECK(strstr(err.msg, "greater than the maximum 90") != NULL);
	CHECK_INT(check_cad(s, "incident", "location", "{'lng':-180.01}", &err),
		  TF_ERANGE);
	CHECK_STR(err.where, "incident.location.lng");
	CHECK_INT(check_cad(s, "incident", "priority", "6", &err), TF_ERANGE);
	CHECK_STR(err.where, "incident.priority");
	CHECK_INT(check_cad(s, "incident", "priority", "2", &err), 0);
	CHECK_INT(check_cad(s, "incident", "notes", "{'text':'Caller hung up'}",
			    &err),
		  0);
	CHECK_INT(check_cad(s, "incident", "notes", "{'kind':'note'}", &err),
		  TF_EMISSING);
	CHECK_STR(err.where, "incident.notes.text");
	CHECK_INT(check_cad(s, "unit", "status", "'enroute'", &err), 0);
	CHECK_INT(check_cad(s, "unit", "status", "'10-8'", &err), TF_EVALIDATE);
	CHECK(strstr(err.msg, "available, dispatched") != NULL);
	CHECK_INT(check_cad(s, "unit", "status_history",
			    "{'field':'status','value':'onscene'}", &err),
		  0);
	CHECK_INT(check_cad(s, "assignment", "milestones",
			    "{'milestone':'atfacility'}", &err),
		  0);
	CHECK_INT(check_cad(s, "thread", "messages",
			    "{'body':'meet at rear lot','to':['2A14']}", &err),
		  0);
	CHECK_INT(check_cad(s, "lookup", "result",
			    "{'status':'hit','hits':[{'summary':'stolen',"
			    "'record_id':'nope'}]}",
			    &err),
		  TF_EVALIDATE);
	CHECK_STR(err.where, "lookup.result.hits[0].record_id");
	CHECK_INT(check_cad(s, "report", "property",
			    "{'description':'bicycle','value_cents':-1}", &err),
		  TF_ERANGE);
	CHECK_STR(err.where, "report.property.value_cents");
	CHECK_INT(
		check_cad(s, "report", "narrative", "'At 0815 hours...'", &err),
		0);
	tf_schema_free(s);
}

/* Number text that the parser would never make still fails cleanly. */
TEST(check_value_malformed_number_text)
{
	static const char *const bad[] = {"",	 "-",	"01", "1.",   "1e",
					  "1e+", "abc", ".5", "1.5x", "--1"};
	tf_type_spec spec;
	tf_json v;
	tf_err err;
	size_t i;

	memset(&spec, 0, sizeof spec);
	spec.type = TF_TYPE_NUMBER;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&v, 0, sizeof v);
		v.type = TF_JSON_NUMBER;
		v.u.str = (char *)bad[i];
		v.len = strlen(bad[i]);
		CHECK_INT(tf_schema_check_value(&spec, &v, "n", &err),
			  TF_ETYPE);
		CHECK(strstr(err.msg, "malformed number") != NULL);
	}
}

TEST(check_value_zero_bounds_and_long_enum_lists)
{
	static const char *doc =
		DOC("'z':{'class':'lww','type':'number','min':0,'max':0},"
		    "'en':{'class':'lww','type':'enum','values':["
		    "'a_very_long_status_value_number_one',"
		    "'a_very_long_status_value_number_two',"
		    "'a_very_long_status_value_number_three',"
		    "'a_very_long_status_value_number_four']}");
	static const struct {
		const char *json;
		int code;
	} rows[] = {
		{"0", 0},   {"-0", 0},		 {"0.000", 0},
		{"0e7", 0}, {"1e-9", TF_ERANGE}, {"-1e-9", TF_ERANGE},
	};
	tf_schema *s = NULL;
	const tf_entity *e;
	tf_json *v = NULL;
	tf_err err;
	size_t i;

	if (load_q(doc, &s, &err) != 0) {
		tf_test_fail(__FILE__, __LINE__, "%s", err.msg);
		return;
	}
	e = tf_schema_entity(s, "e");
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		v = tf_json_number_text(rows[i].json, strlen(rows[i].json));
		CHECK(v != NULL);
		if (v)
			CHECK_INT(tf_schema_check_value(
					  &tf_entity_field(e, "z")->type, v,
					  "z", &err),
				  rows[i].code);
		tf_json_free(v);
	}
	v = tf_json_cstring("other");
	CHECK_INT(tf_schema_check_value(&tf_entity_field(e, "en")->type, v,
					"e.en", &err),
		  TF_EVALIDATE);
	CHECK(strstr(err.msg, "a_very_long_status_value_number_one") != NULL);
	CHECK(strstr(err.msg, "...") != NULL);
	CHECK(strlen(err.msg) < sizeof err.msg - 1);
	tf_json_free(v);
	tf_schema_free(s);
}

TEST(check_value_long_paths_and_bad_args)
{
	tf_type_spec spec;
	tf_json *v = tf_json_int(1);
	char where[200];
	tf_err err;

	memset(&spec, 0, sizeof spec);
	spec.type = TF_TYPE_STRING;
	spec.has_max = 1;
	spec.max = 3;
	/* A path longer than err->where is cut, never overflowed. */
	memset(where, 'x', sizeof where - 1);
	where[sizeof where - 1] = '\0';
	CHECK_INT(tf_schema_check_value(&spec, v, where, &err), TF_ETYPE);
	CHECK_INT(strlen(err.where), sizeof err.where - 1);
	CHECK_INT(tf_schema_check_value(NULL, v, "x", &err), TF_EINVAL);
	CHECK_INT(tf_schema_check_value(&spec, NULL, "x", &err), TF_EINVAL);
	CHECK_INT(tf_schema_check_value(&spec, v, NULL, &err), TF_ETYPE);
	CHECK_STR(err.where, "value");
	/* NULL err is allowed. */
	CHECK_INT(tf_schema_check_value(&spec, v, "x", NULL), TF_ETYPE);
	/* A hand-made spec that is not valid. */
	spec.type = (tf_type)0;
	CHECK_INT(tf_schema_check_value(&spec, v, "x", &err), TF_EINVAL);
	spec.type = TF_TYPE_ARRAY;
	tf_json_free(v);
	v = tf_json_array();
	CHECK_INT(tf_schema_check_value(&spec, v, "x", &err), TF_EINVAL);
	tf_json_free(v);
}

int main(int argc, char **argv)
{
	(void)argc;
	RUN(cad_loads_with_every_entity);
	RUN(cad_field_classes);
	RUN(cad_types_and_limits);
	RUN(cad_unit_status_codes_labels_history);
	RUN(cad_scopes);
	RUN(cad_roles_offline_transitions);
	RUN(broken_schemas_are_refused);
	RUN(schema_limits_on_counts);
	RUN(defaults_and_valid_variants);
	RUN(class_and_scope_names);
	RUN(check_value_every_type);
	RUN(check_value_on_cad_fields);
	RUN(check_value_malformed_number_text);
	RUN(check_value_zero_bounds_and_long_enum_lists);
	RUN(check_value_long_paths_and_bad_args);
	return tf_test_finish(argv[0]);
}

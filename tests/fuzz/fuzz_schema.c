/*
 * fuzz_schema.c - libFuzzer target for the schema loader and the value
 * checker.  Input: a schema document, optionally followed by a NUL byte and
 * a JSON value.  A schema that loads is walked completely (lookups,
 * transitions, roles, labels) and every field's type is checked against
 * the trailing value (when there is one) and a fixed set of values.  The
 * loader must never crash, leak or accept a schema whose references do not
 * resolve.
 */
#include "tenfour/schema.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static const char *const probes[] = {
	"null",
	"true",
	"0",
	"-1",
	"90.5",
	"1e400",
	"-9223372036854775809",
	"\"\"",
	"\"abc\"",
	"\"01928c3e-7f3a-7b2c-9d4e-0123456789ab\"",
	"[]",
	"[1,\"a\",null]",
	"{}",
	"{\"text\":\"x\",\"field\":\"status\",\"value\":\"busy\"}",
};

static void check_all(const tf_schema *s, const tf_json *v)
{
	size_t i, j;
	tf_err err;

	for (i = 0; i < s->nentities; i++) {
		const tf_entity *e = &s->entities[i];

		for (j = 0; j < e->nfields; j++) {
			int rc = tf_schema_check_value(&e->fields[j].type, v,
						       e->fields[j].name, &err);

			assert(rc <= 0);
			(void)rc;
		}
	}
}

/* Every reference a loaded schema holds must resolve. */
static void walk(const tf_schema *s)
{
	size_t i, j, k;

	assert(s->version >= 1);
	for (i = 0; i < s->nentities; i++) {
		const tf_entity *e = &s->entities[i];

		assert(tf_schema_entity(s, e->name) == e);
		assert(e->scope == TF_SCOPE_AGENCY || e->scope_field);
		if (e->scope_field)
			assert(tf_entity_field(e, e->scope_field) != NULL);
		for (j = 0; j < e->nwrite_roles; j++)
			assert(tf_schema_has_role(s, e->write_roles[j]));
		for (j = 0; j < e->nread_roles; j++)
			assert(tf_schema_has_role(s, e->read_roles[j]));
		for (j = 0; j < e->nfields; j++) {
			const tf_field *f = &e->fields[j];
			const tf_type_spec *t = &f->type;

			assert(tf_entity_field(e, f->name) == f);
			assert(f->index == j);
			if (f->history) {
				const tf_field *h =
					tf_entity_field(e, f->history);

				assert(h != NULL && h->cls == TF_CLASS_LOG);
			}
			for (k = 0; k < s->nroles; k++)
				(void)tf_field_role_may_write(e, f,
							      s->roles[k]);
			if (t->type == TF_TYPE_ENUM && t->nvalues > 0) {
				const char *a = t->values[0];
				const char *b = t->values[t->nvalues - 1];

				(void)tf_field_transition_allowed(f, a, b);
				(void)tf_field_transition_allowed(f, b, a);
				(void)tf_field_transition_allowed(f, NULL, a);
				(void)tf_enum_label(t, a);
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *nul = memchr(data, 0, size);
	size_t slen = nul ? (size_t)(nul - text) : size;
	tf_schema *s = NULL;
	tf_json *v = NULL;
	tf_err err;
	size_t i;

	if (tf_schema_load(text, slen, &s, &err) != 0) {
		assert(s == NULL && err.code < 0);
		return 0;
	}
	walk(s);
	if (nul &&
	    tf_json_parse(nul + 1, size - slen - 1, NULL, &v, &err) == 0) {
		check_all(s, v);
		tf_json_free(v);
	}
	for (i = 0; i < sizeof probes / sizeof probes[0]; i++) {
		v = NULL;
		if (tf_json_parse(probes[i], strlen(probes[i]), NULL, &v,
				  &err) == 0)
			check_all(s, v);
		tf_json_free(v);
	}
	tf_schema_free(s);
	return 0;
}

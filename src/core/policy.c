/*
 * policy.c - the CJIS client rules as pure functions: agency settings,
 * offline grant and clock guard, idle lock, failed unlocks and logons,
 * PIN and passphrase rules, eviction choice and scope evaluation.
 * Contracts in include/tenfour/policy.h; the design is ARCHITECTURE.md
 * section 4 and the numbers DOMAIN.md's CJIS table.
 */
#include "tenfour/policy.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

/*
 * [A-Za-z0-9._@-]{1,64}: the id grammar of docs/PROTOCOL.md section 2
 * (tf_id_valid lives in command.c, which a policy-only build need not link).
 */
static int id_ok(const char *s, size_t len)
{
	size_t i;

	if (s == NULL || len == 0 || len > TF_ID_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '@' || c == '-'))
			return 0;
	}
	return 1;
}

/* [a-z][a-z0-9_]*, at most TF_NAME_MAX bytes (roles, like schema names). */
static int name_ok(const char *s, size_t len)
{
	size_t i;

	if (s == NULL || len == 0 || len > TF_NAME_MAX || s[0] < 'a' ||
	    s[0] > 'z')
		return 0;
	for (i = 1; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return 0;
	}
	return 1;
}

/* Length of a NUL-terminated string in a fixed array, cap when unterminated. */
static size_t fixed_len(const char *s, size_t cap)
{
	const char *nul = memchr(s, '\0', cap);

	return nul ? (size_t)(nul - s) : cap;
}

static int cstr_id_ok(const char *s, size_t cap)
{
	size_t n = fixed_len(s, cap);

	return n < cap && id_ok(s, n);
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

static int ms_ok(int64_t ms)
{
	return ms >= 0 && ms <= TF_HLC_MAX_MS;
}

/*
 * Every member of obj must be one of the NULL-terminated `known` names:
 * TF_EUNKNOWN naming "<ctx>.<member>" otherwise.
 */
static int only_members(const tf_json *obj, const char *const *known,
			const char *ctx, tf_err *err)
{
	size_t i, k;
	char where[96];

	for (i = 0; i < obj->len; i++) {
		const char *key = obj->u.members[i].key;
		for (k = 0; known[k]; k++)
			if (strcmp(key, known[k]) == 0)
				break;
		if (known[k] == NULL) {
			snprintf(where, sizeof where, "%s.%.64s", ctx, key);
			return tf_err_set(err, TF_EUNKNOWN, where,
					  "%s: unknown member", where);
		}
	}
	return 0;
}

/* Member `key` of obj as an integer: TF_EMISSING or TF_ETYPE otherwise. */
static int member_int(const tf_json *obj, const char *key, const char *ctx,
		      int64_t *out, tf_err *err)
{
	const tf_json *v = tf_json_object_get(obj, key);
	char where[96];
	int rc;

	snprintf(where, sizeof where, "%s.%s", ctx, key);
	if (v == NULL)
		return tf_err_set(err, TF_EMISSING, where,
				  "%s: required member is missing", where);
	rc = tf_json_int64(v, out);
	if (rc == TF_ERANGE)
		return tf_err_set(err, TF_ERANGE, where,
				  "%s: integer out of the 64-bit range", where);
	if (rc)
		return tf_err_set(err, TF_ETYPE, where,
				  "%s: must be an integer (no fraction or "
				  "exponent)",
				  where);
	return 0;
}

/* Member `key` of obj as an id copied into dst[TF_ID_MAX + 1]. */
static int member_id(const tf_json *obj, const char *key, const char *ctx,
		     char *dst, tf_err *err)
{
	const tf_json *v = tf_json_object_get(obj, key);
	char where[96];
	const char *s;
	size_t len;

	snprintf(where, sizeof where, "%s.%s", ctx, key);
	if (v == NULL)
		return tf_err_set(err, TF_EMISSING, where,
				  "%s: required member is missing", where);
	s = tf_json_str(v, &len);
	if (s == NULL)
		return tf_err_set(err, TF_ETYPE, where, "%s: must be a string",
				  where);
	if (!id_ok(s, len))
		return tf_err_set(err, TF_EVALIDATE, where,
				  "%s: must be 1..%d characters of "
				  "[A-Za-z0-9._@-]",
				  where, TF_ID_MAX);
	memcpy(dst, s, len);
	dst[len] = '\0';
	return 0;
}

/* Limits for the small documents this file parses (grant, settings). */
static const tf_json_limits small_limits = {
	TF_GRANT_MAX_BYTES, /* max_bytes */
	2,		    /* max_depth */
	256,		    /* max_string */
	64,		    /* max_items */
	32,		    /* max_members */
	24,		    /* max_number */
};

/* ------------------------------------------------------- agency policy */

void tf_agency_policy_default(tf_agency_policy *p)
{
	assert(p != NULL);
	p->lock_after_ms = TF_POLICY_MAX_LOCK_MS;
	p->offline_window_ms = TF_POLICY_MAX_OFFLINE_MS;
	p->session_max_ms = TF_POLICY_MAX_SESSION_MS;
	p->wipe_after = 10;
	p->lockout_failures = TF_POLICY_MAX_LOCKOUT_FAILURES;
	p->lockout_window_ms = TF_POLICY_MIN_LOCKOUT_WINDOW_MS;
}

/* A duration setting within [lo, hi], with the control that sets hi. */
static int range_ms(int64_t v, int64_t lo, int64_t hi, const char *name,
		    const char *rule, tf_err *err)
{
	char where[96];

	if (v >= lo && v <= hi)
		return 0;
	snprintf(where, sizeof where, "policy.%s", name);
	return tf_err_set(err, TF_ERANGE, where,
			  "%s is %" PRId64 " ms; %s: allowed %" PRId64
			  " .. %" PRId64 " ms",
			  where, v, rule, lo, hi);
}

int tf_agency_policy_check(const tf_agency_policy *p, tf_err *err)
{
	int rc;

	assert(p != NULL);
	rc = range_ms(p->lock_after_ms, TF_POLICY_MIN_LOCK_MS,
		      TF_POLICY_MAX_LOCK_MS, "lock_after_ms",
		      "CJIS AC-11 session lock after at most 30 min idle", err);
	if (rc)
		return rc;
	rc = range_ms(p->offline_window_ms, 0, TF_POLICY_MAX_OFFLINE_MS,
		      "offline_window_ms",
		      "CJIS IA-11 re-authentication at least every 12 h "
		      "(0 disables offline use)",
		      err);
	if (rc)
		return rc;
	rc = range_ms(p->session_max_ms, TF_POLICY_MINUTE_MS,
		      TF_POLICY_MAX_SESSION_MS, "session_max_ms",
		      "CJIS IA-11 re-authentication at least every 12 h", err);
	if (rc)
		return rc;
	if (p->wipe_after < TF_POLICY_MIN_WIPE_AFTER ||
	    p->wipe_after > TF_POLICY_MAX_WIPE_AFTER)
		return tf_err_set(err, TF_ERANGE, "policy.wipe_after",
				  "policy.wipe_after is %u; the device must "
				  "wipe after 1 .. 100 failed unlocks "
				  "(CJIS 5.13)",
				  (unsigned)p->wipe_after);
	if (p->lockout_failures < 1 ||
	    p->lockout_failures > TF_POLICY_MAX_LOCKOUT_FAILURES)
		return tf_err_set(err, TF_ERANGE, "policy.lockout_failures",
				  "policy.lockout_failures is %u; CJIS AC-7 "
				  "locks an account after at most 5 failed "
				  "logons: allowed 1 .. 5",
				  (unsigned)p->lockout_failures);
	return range_ms(p->lockout_window_ms, TF_POLICY_MIN_LOCKOUT_WINDOW_MS,
			TF_POLICY_MAX_LOCKOUT_WINDOW_MS, "lockout_window_ms",
			"CJIS AC-7 counts failed logons over at least 15 min",
			err);
}

static const char *const policy_members[] = {
	"lock_after_ms",
	"lockout_failures",
	"lockout_window_ms",
	"offline_window_ms",
	"session_max_ms",
	"wipe_after",
	NULL,
};

int tf_agency_policy_parse(const char *json, size_t len, tf_agency_policy *out,
			   tf_err *err)
{
	tf_json *doc = NULL;
	tf_agency_policy p;
	int64_t v[6];
	size_t i;
	int rc;

	assert(out != NULL);
	rc = tf_json_parse(json, len, &small_limits, &doc, err);
	if (rc)
		goto out;
	if (doc->type != TF_JSON_OBJECT) {
		rc = tf_err_set(err, TF_ETYPE, "policy",
				"policy: settings must be a JSON object");
		goto out;
	}
	rc = only_members(doc, policy_members, "policy", err);
	if (rc)
		goto out;
	for (i = 0; i < 6; i++) {
		rc = member_int(doc, policy_members[i], "policy", &v[i], err);
		if (rc)
			goto out;
	}
	/* Counts are checked as counts first, so 2^32 + 5 is not taken for 5.
	 */
	for (i = 1; i < 6; i += 4) {
		if (v[i] < 0 || v[i] > (int64_t)UINT32_MAX) {
			char where[96];
			snprintf(where, sizeof where, "policy.%s",
				 policy_members[i]);
			rc = tf_err_set(err, TF_ERANGE, where,
					"%s is %" PRId64 "; out of range",
					where, v[i]);
			goto out;
		}
	}
	p.lock_after_ms = v[0];
	p.lockout_failures = (uint32_t)v[1];
	p.lockout_window_ms = v[2];
	p.offline_window_ms = v[3];
	p.session_max_ms = v[4];
	p.wipe_after = (uint32_t)v[5];
	rc = tf_agency_policy_check(&p, err);
	if (rc)
		goto out;
	*out = p;
out:
	tf_json_free(doc);
	return rc;
}

int tf_agency_policy_write(const tf_agency_policy *p, tf_buf *out)
{
	assert(p != NULL && out != NULL);
	/* Keys in byte order: this is the canonical form. */
	tf_buf_printf(out,
		      "{\"lock_after_ms\":%" PRId64 ",\"lockout_failures\":%u,"
		      "\"lockout_window_ms\":%" PRId64
		      ",\"offline_window_ms\":%" PRId64
		      ",\"session_max_ms\":%" PRId64 ",\"wipe_after\":%u}",
		      p->lock_after_ms, (unsigned)p->lockout_failures,
		      p->lockout_window_ms, p->offline_window_ms,
		      p->session_max_ms, (unsigned)p->wipe_after);
	return out->failed;
}

/* ------------------------------------------------------------ grant */

static const char *const grant_members[] = {
	"agency",    "device", "issued_at", "key_id",	  "lock_after",
	"not_after", "roles",  "user",	    "wipe_after", NULL,
};

int tf_grant_check(const tf_grant *g, tf_err *err)
{
	static const struct {
		size_t off;
		const char *name;
	} ids[] = {
		{offsetof(tf_grant, user), "grant.user"},
		{offsetof(tf_grant, device), "grant.device"},
		{offsetof(tf_grant, agency), "grant.agency"},
		{offsetof(tf_grant, key_id), "grant.key_id"},
	};
	size_t i, j;
	int64_t window;

	assert(g != NULL);
	for (i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		const char *s = (const char *)g + ids[i].off;
		if (!cstr_id_ok(s, TF_ID_MAX + 1))
			return tf_err_set(err, TF_EVALIDATE, ids[i].name,
					  "%s: must be 1..%d characters of "
					  "[A-Za-z0-9._@-]",
					  ids[i].name, TF_ID_MAX);
	}
	if (g->nroles == 0)
		return tf_err_set(err, TF_EVALIDATE, "grant.roles",
				  "grant.roles: at least one role is required");
	if (g->nroles > TF_POLICY_MAX_ROLES)
		return tf_err_set(err, TF_ELIMIT, "grant.roles",
				  "grant.roles: %zu roles, at most %d",
				  g->nroles, TF_POLICY_MAX_ROLES);
	for (i = 0; i < g->nroles; i++) {
		size_t n = fixed_len(g->roles[i], TF_NAME_MAX + 1);
		char where[48];

		snprintf(where, sizeof where, "grant.roles[%zu]", i);
		if (n > TF_NAME_MAX || !name_ok(g->roles[i], n))
			return tf_err_set(err, TF_EVALIDATE, where,
					  "%s: a role is a name "
					  "[a-z][a-z0-9_]* of at most %d bytes",
					  where, TF_NAME_MAX);
		for (j = 0; j < i; j++)
			if (strcmp(g->roles[j], g->roles[i]) == 0)
				return tf_err_set(err, TF_EVALIDATE, where,
						  "%s: role \"%s\" is listed "
						  "twice",
						  where, g->roles[i]);
	}
	if (!ms_ok(g->issued_at))
		return tf_err_set(err, TF_ERANGE, "grant.issued_at",
				  "grant.issued_at: %" PRId64
				  " is not a time in ms within [0, 2^48)",
				  g->issued_at);
	if (!ms_ok(g->not_after) || g->not_after <= g->issued_at)
		return tf_err_set(err, TF_ERANGE, "grant.not_after",
				  "grant.not_after: %" PRId64
				  " must be a time after issued_at %" PRId64,
				  g->not_after, g->issued_at);
	window = g->not_after - g->issued_at;
	if (window > TF_POLICY_MAX_OFFLINE_MS)
		return tf_err_set(err, TF_ERANGE, "grant.not_after",
				  "grant.not_after: offline window of %" PRId64
				  " ms is longer than the %" PRId64
				  " ms (12 h) CJIS IA-11 allows",
				  window, TF_POLICY_MAX_OFFLINE_MS);
	if (g->lock_after < TF_POLICY_MIN_LOCK_MS ||
	    g->lock_after > TF_POLICY_MAX_LOCK_MS)
		return tf_err_set(err, TF_ERANGE, "grant.lock_after",
				  "grant.lock_after: %" PRId64
				  " ms is outside %" PRId64 " .. %" PRId64
				  " ms (CJIS AC-11: lock after at most 30 min "
				  "idle)",
				  g->lock_after, TF_POLICY_MIN_LOCK_MS,
				  TF_POLICY_MAX_LOCK_MS);
	if (g->wipe_after < TF_POLICY_MIN_WIPE_AFTER ||
	    g->wipe_after > TF_POLICY_MAX_WIPE_AFTER)
		return tf_err_set(err, TF_ERANGE, "grant.wipe_after",
				  "grant.wipe_after: %u is outside 1 .. 100 "
				  "failed unlocks (CJIS 5.13)",
				  (unsigned)g->wipe_after);
	return 0;
}

/* Reads grant.roles into g. */
static int grant_roles(const tf_json *arr, tf_grant *g, tf_err *err)
{
	size_t i;

	if (arr == NULL)
		return tf_err_set(err, TF_EMISSING, "grant.roles",
				  "grant.roles: required member is missing");
	if (arr->type != TF_JSON_ARRAY)
		return tf_err_set(err, TF_ETYPE, "grant.roles",
				  "grant.roles: must be an array of role "
				  "names");
	if (arr->len > TF_POLICY_MAX_ROLES)
		return tf_err_set(err, TF_ELIMIT, "grant.roles",
				  "grant.roles: %zu roles, at most %d",
				  arr->len, TF_POLICY_MAX_ROLES);
	for (i = 0; i < arr->len; i++) {
		size_t len;
		const char *s = tf_json_str(arr->u.items[i], &len);
		char where[48];

		snprintf(where, sizeof where, "grant.roles[%zu]", i);
		if (s == NULL)
			return tf_err_set(err, TF_ETYPE, where,
					  "%s: must be a string", where);
		if (!name_ok(s, len))
			return tf_err_set(err, TF_EVALIDATE, where,
					  "%s: a role is a name "
					  "[a-z][a-z0-9_]* of at most %d bytes",
					  where, TF_NAME_MAX);
		memcpy(g->roles[i], s, len);
		g->roles[i][len] = '\0';
	}
	g->nroles = arr->len;
	return 0;
}

int tf_grant_parse(const char *json, size_t len, tf_grant *out, tf_err *err)
{
	tf_json *doc = NULL;
	tf_grant *g = NULL;
	int64_t wipe = 0;
	int rc;

	assert(out != NULL);
	if (len > TF_GRANT_MAX_BYTES)
		return tf_err_set(err, TF_ELIMIT, "grant",
				  "grant: %zu bytes, at most %d", len,
				  TF_GRANT_MAX_BYTES);
	/* A tf_grant is 1 KiB: allocate rather than risk a small stack. */
	g = calloc(1, sizeof *g);
	if (g == NULL)
		return tf_err_set(err, TF_ENOMEM, "grant", "out of memory");
	rc = tf_json_parse(json, len, &small_limits, &doc, err);
	if (rc)
		goto out;
	if (doc->type != TF_JSON_OBJECT) {
		rc = tf_err_set(err, TF_ETYPE, "grant",
				"grant: claims must be a JSON object");
		goto out;
	}
	if ((rc = only_members(doc, grant_members, "grant", err)) ||
	    (rc = member_id(doc, "user", "grant", g->user, err)) ||
	    (rc = member_id(doc, "device", "grant", g->device, err)) ||
	    (rc = member_id(doc, "agency", "grant", g->agency, err)) ||
	    (rc = member_id(doc, "key_id", "grant", g->key_id, err)) ||
	    (rc = grant_roles(tf_json_object_get(doc, "roles"), g, err)) ||
	    (rc = member_int(doc, "issued_at", "grant", &g->issued_at, err)) ||
	    (rc = member_int(doc, "not_after", "grant", &g->not_after, err)) ||
	    (rc = member_int(doc, "lock_after", "grant", &g->lock_after,
			     err)) ||
	    (rc = member_int(doc, "wipe_after", "grant", &wipe, err)))
		goto out;
	if (wipe < 0 || wipe > (int64_t)UINT32_MAX) {
		rc = tf_err_set(err, TF_ERANGE, "grant.wipe_after",
				"grant.wipe_after: %" PRId64
				" is outside 1 .. 100 failed unlocks "
				"(CJIS 5.13)",
				wipe);
		goto out;
	}
	g->wipe_after = (uint32_t)wipe;
	rc = tf_grant_check(g, err);
	if (rc)
		goto out;
	*out = *g;
out:
	tf_json_free(doc);
	free(g);
	return rc;
}

int tf_grant_write(const tf_grant *g, tf_buf *out, tf_err *err)
{
	size_t i;
	int rc;

	assert(g != NULL && out != NULL);
	rc = tf_grant_check(g, err);
	if (rc)
		return rc;
	/*
	 * Ids and role names are plain ASCII without quotes or escapes, so
	 * they go out as they are; keys in byte order make this canonical.
	 */
	tf_buf_printf(out,
		      "{\"agency\":\"%s\",\"device\":\"%s\",\"issued_at\":"
		      "%" PRId64 ",\"key_id\":\"%s\",\"lock_after\":%" PRId64
		      ",\"not_after\":%" PRId64 ",\"roles\":[",
		      g->agency, g->device, g->issued_at, g->key_id,
		      g->lock_after, g->not_after);
	for (i = 0; i < g->nroles; i++)
		tf_buf_printf(out, "%s\"%s\"", i ? "," : "", g->roles[i]);
	tf_buf_printf(out, "],\"user\":\"%s\",\"wipe_after\":%u}", g->user,
		      (unsigned)g->wipe_after);
	if (out->failed)
		return tf_err_set(err, out->failed, "grant", "grant: %s",
				  tf_strerror(out->failed));
	return 0;
}

int tf_grant_from_policy(const tf_agency_policy *p, int64_t now_ms, tf_grant *g,
			 tf_err *err)
{
	int rc;

	assert(p != NULL && g != NULL);
	rc = tf_agency_policy_check(p, err);
	if (rc)
		return rc;
	if (p->offline_window_ms == 0)
		return tf_err_set(err, TF_EPERM, "policy.offline_window_ms",
				  "the agency has disabled offline use "
				  "(offline_window_ms is 0): no grant");
	if (!ms_ok(now_ms) || now_ms > TF_HLC_MAX_MS - p->offline_window_ms)
		return tf_err_set(err, TF_ERANGE, "now",
				  "now %" PRId64 " ms is not a time within "
				  "[0, 2^48) that leaves room for the window",
				  now_ms);
	g->issued_at = now_ms;
	g->not_after = now_ms + p->offline_window_ms;
	g->lock_after = p->lock_after_ms;
	g->wipe_after = p->wipe_after;
	return 0;
}

int tf_grant_matches(const tf_grant *g, const char *user, const char *device,
		     tf_err *err)
{
	assert(g != NULL);
	if (user == NULL || strcmp(g->user, user) != 0)
		return tf_err_set(err, TF_EPERM, "grant.user",
				  "grant.user: the grant was issued to user "
				  "\"%s\", not to the user unlocking",
				  g->user);
	if (device == NULL || strcmp(g->device, device) != 0)
		return tf_err_set(err, TF_EPERM, "grant.device",
				  "grant.device: the grant was issued to "
				  "device \"%s\", not to this device",
				  g->device);
	return 0;
}

/* ------------------------------------------------------- clock guard */

const char *tf_grant_status_name(tf_grant_status s)
{
	switch (s) {
	case TF_GRANT_OK:
		return "ok";
	case TF_GRANT_EXPIRED:
		return "expired";
	case TF_GRANT_ROLLBACK:
		return "clock_rollback";
	}
	return "unknown";
}

int tf_timeguard_accept(tf_timeguard *tg, const tf_grant *g, int64_t server_ms,
			int64_t now_ms, int64_t mono_ms, tf_err *err)
{
	assert(tg != NULL && g != NULL);
	if (!ms_ok(now_ms) || !ms_ok(server_ms))
		return tf_err_set(
			err, TF_ERANGE, "now",
			"times must be ms within [0, 2^48): now %" PRId64
			", server %" PRId64,
			now_ms, server_ms);
	if (server_ms >= g->not_after ||
	    server_ms < g->issued_at - TF_POLICY_CLOCK_TOLERANCE_MS)
		return tf_err_set(err, TF_EEXPIRED, "grant.not_after",
				  "the grant is valid from %" PRId64
				  " to %" PRId64
				  ", not at server time %" PRId64,
				  g->issued_at, g->not_after, server_ms);
	tg->high_water_ms = now_ms;
	tg->offset_ms = server_ms - now_ms;
	tg->tripped = TF_GRANT_OK;
	tg->anchored = 1;
	tg->anchor_wall_ms = now_ms;
	tg->anchor_mono_ms = mono_ms;
	return 0;
}

/* Stored members within the ranges tf_timeguard_accept produces. */
static int timeguard_sane(const tf_timeguard *tg)
{
	if (!ms_ok(tg->high_water_ms) || tg->offset_ms < -TF_HLC_MAX_MS ||
	    tg->offset_ms > TF_HLC_MAX_MS)
		return 0;
	return !tg->anchored || ms_ok(tg->anchor_wall_ms);
}

/*
 * Wall time the monotonic clock predicts since the anchor.  Monotonic
 * readings are arbitrary int64 from the host; the difference is computed
 * unsigned and capped so that nothing overflows.
 */
static int64_t projected_wall(const tf_timeguard *tg, int64_t mono_ms)
{
	uint64_t d = (uint64_t)mono_ms - (uint64_t)tg->anchor_mono_ms;

	assert(mono_ms >= tg->anchor_mono_ms);
	if (d > (uint64_t)TF_HLC_MAX_MS)
		d = (uint64_t)TF_HLC_MAX_MS;
	return tg->anchor_wall_ms + (int64_t)d;
}

int tf_grant_decide(const tf_grant *g, const tf_timeguard *tg, int64_t now_ms,
		    int64_t mono_ms, tf_grant_decision *out)
{
	tf_grant_decision d;
	int64_t wall;

	assert(g != NULL && tg != NULL && out != NULL);
	if (!ms_ok(now_ms))
		return TF_ERANGE;
	if (tf_grant_check(g, NULL))
		return TF_EINVAL;
	memset(&d, 0, sizeof d);
	d.next = *tg;
	if (!timeguard_sane(tg)) {
		/* Corrupt stored state: the safe reading is a rollback. */
		d.status = TF_GRANT_ROLLBACK;
		d.next.tripped = (int)d.status;
		snprintf(d.reason, sizeof d.reason,
			 "the stored clock state is invalid; sign in online "
			 "to re-authenticate");
		*out = d;
		return 0;
	}
	wall = max64(now_ms, tg->high_water_ms);
	d.server_now_ms = wall + tg->offset_ms;

	if (tg->tripped != TF_GRANT_OK) {
		/* Anything but EXPIRED in the slot is treated as the worse. */
		d.status = tg->tripped == TF_GRANT_EXPIRED ? TF_GRANT_EXPIRED
							   : TF_GRANT_ROLLBACK;
		d.next.tripped = (int)d.status;
		snprintf(d.reason, sizeof d.reason,
			 "the offline grant is no longer usable (%s "
			 "earlier); sign in online to re-authenticate",
			 tf_grant_status_name(d.status));
		*out = d;
		return 0;
	}
	if (now_ms < tg->high_water_ms - TF_POLICY_CLOCK_TOLERANCE_MS) {
		d.status = TF_GRANT_ROLLBACK;
		snprintf(d.reason, sizeof d.reason,
			 "the clock is %" PRId64 " ms behind the latest time "
			 "this device has seen: clock rollback",
			 tg->high_water_ms - now_ms);
	} else if (tg->anchored && mono_ms < tg->anchor_mono_ms) {
		d.status = TF_GRANT_ROLLBACK;
		snprintf(d.reason, sizeof d.reason,
			 "the monotonic clock went back %" PRIu64
			 " ms since the last check",
			 (uint64_t)tg->anchor_mono_ms - (uint64_t)mono_ms);
	} else if (tg->anchored &&
		   now_ms < projected_wall(tg, mono_ms) -
				    TF_POLICY_CLOCK_TOLERANCE_MS) {
		d.status = TF_GRANT_ROLLBACK;
		snprintf(d.reason, sizeof d.reason,
			 "the clock advanced %" PRId64 " ms less than the "
			 "monotonic clock since the last check: clock "
			 "rollback",
			 projected_wall(tg, mono_ms) - now_ms);
	} else if (d.server_now_ms <
		   g->issued_at - TF_POLICY_CLOCK_TOLERANCE_MS) {
		d.status = TF_GRANT_ROLLBACK;
		snprintf(d.reason, sizeof d.reason,
			 "the clock reads %" PRId64 " ms before the grant was "
			 "issued: clock rollback",
			 g->issued_at - d.server_now_ms);
	} else if (d.server_now_ms >= g->not_after) {
		d.status = TF_GRANT_EXPIRED;
		snprintf(d.reason, sizeof d.reason,
			 "the offline grant expired %" PRId64 " ms ago; sign "
			 "in online to re-authenticate",
			 d.server_now_ms - g->not_after);
	} else {
		d.status = TF_GRANT_OK;
		d.remaining_ms = g->not_after - d.server_now_ms;
		snprintf(d.reason, sizeof d.reason,
			 "offline grant valid for %" PRId64 " ms more",
			 d.remaining_ms);
	}
	d.next.high_water_ms = wall;
	d.next.tripped = (int)d.status;
	if (d.status != TF_GRANT_ROLLBACK) {
		/*
		 * Re-anchor at every good check: drift is then judged per
		 * interval, and the high-water mark bounds what many small
		 * steps back can add up to.
		 */
		d.next.anchored = 1;
		d.next.anchor_wall_ms = now_ms;
		d.next.anchor_mono_ms = mono_ms;
	}
	*out = d;
	return 0;
}

/* --------------------------------------------------------- idle lock */

int64_t tf_idle_limit(const tf_grant *g, int64_t agency_lock_ms, int exempt)
{
	int64_t lim;

	assert(g != NULL);
	lim = g->lock_after;
	/* A grant that failed validation must not widen the limit. */
	if (lim <= 0 || lim > TF_POLICY_MAX_LOCK_MS)
		lim = TF_POLICY_MAX_LOCK_MS;
	if (!exempt && agency_lock_ms > 0 && agency_lock_ms < lim)
		lim = agency_lock_ms;
	return lim;
}

int tf_idle_should_lock(const tf_grant *g, int64_t agency_lock_ms, int exempt,
			int64_t last_activity_mono, int64_t mono_now,
			int64_t *left_ms)
{
	int64_t lim = tf_idle_limit(g, agency_lock_ms, exempt);
	uint64_t idle;

	if (mono_now < last_activity_mono) {
		if (left_ms)
			*left_ms = 0;
		return 1;
	}
	idle = (uint64_t)mono_now - (uint64_t)last_activity_mono;
	if (idle >= (uint64_t)lim) {
		if (left_ms)
			*left_ms = 0;
		return 1;
	}
	if (left_ms)
		*left_ms = lim - (int64_t)idle;
	return 0;
}

/* ----------------------------------------------------- failed unlocks */

const char *tf_unlock_action_name(tf_unlock_action a)
{
	switch (a) {
	case TF_UNLOCK_TRY:
		return "try";
	case TF_UNLOCK_RETRY:
		return "retry";
	case TF_UNLOCK_WIPE:
		return "wipe";
	case TF_UNLOCK_UNLOCKED:
		return "unlocked";
	}
	return "unknown";
}

static int wipe_ok(uint32_t wipe_after)
{
	return wipe_after >= TF_POLICY_MIN_WIPE_AFTER &&
	       wipe_after <= TF_POLICY_MAX_WIPE_AFTER;
}

int tf_unlock_begin(const tf_unlock_state *st, uint32_t wipe_after,
		    tf_unlock_decision *out)
{
	assert(st != NULL && out != NULL);
	if (!wipe_ok(wipe_after))
		return TF_ERANGE;
	out->next = *st;
	if (st->failures >= wipe_after) {
		out->action = TF_UNLOCK_WIPE;
		out->attempts_left = 0;
		return 0;
	}
	out->action = TF_UNLOCK_TRY;
	out->attempts_left = wipe_after - st->failures;
	out->next.failures = st->failures + 1;
	return 0;
}

int tf_unlock_end(const tf_unlock_state *st, int ok, uint32_t wipe_after,
		  tf_unlock_decision *out)
{
	assert(st != NULL && out != NULL);
	if (!wipe_ok(wipe_after))
		return TF_ERANGE;
	if (st->failures == 0)
		return TF_EINVAL;
	out->next = *st;
	if (ok) {
		out->action = TF_UNLOCK_UNLOCKED;
		out->next.failures = 0;
		out->attempts_left = wipe_after;
	} else if (st->failures >= wipe_after) {
		out->action = TF_UNLOCK_WIPE;
		out->attempts_left = 0;
	} else {
		out->action = TF_UNLOCK_RETRY;
		out->attempts_left = wipe_after - st->failures;
	}
	return 0;
}

/* ------------------------------------------------------ failed logons */

int tf_lockout_fail(tf_lockout_state *st, const tf_agency_policy *p,
		    int64_t now_ms, int *locked)
{
	tf_lockout_state s;
	uint32_t i, keep = 0;
	int rc;

	assert(st != NULL && p != NULL && locked != NULL);
	rc = tf_agency_policy_check(p, NULL);
	if (rc)
		return rc;
	if (!ms_ok(now_ms))
		return TF_ERANGE;
	if (st->nfail > TF_POLICY_MAX_LOCKOUT_FAILURES)
		return TF_EINVAL;
	for (i = 0; i < st->nfail; i++)
		if (!ms_ok(st->fail_ms[i]))
			return TF_EINVAL;
	s = *st;
	if (s.nfail > 0 && now_ms < s.fail_ms[s.nfail - 1])
		now_ms = s.fail_ms[s.nfail - 1];
	/* Keep the failures still inside the window ending now. */
	for (i = 0; i < s.nfail; i++)
		if (now_ms - s.fail_ms[i] < p->lockout_window_ms)
			s.fail_ms[keep++] = s.fail_ms[i];
	s.nfail = keep;
	if (s.nfail == TF_POLICY_MAX_LOCKOUT_FAILURES) {
		memmove(s.fail_ms, s.fail_ms + 1,
			(s.nfail - 1) * sizeof s.fail_ms[0]);
		s.nfail--;
	}
	s.fail_ms[s.nfail++] = now_ms;
	if (s.nfail >= p->lockout_failures)
		s.locked = 1;
	*st = s;
	*locked = s.locked;
	return 0;
}

void tf_lockout_success(tf_lockout_state *st)
{
	assert(st != NULL);
	memset(st->fail_ms, 0, sizeof st->fail_ms);
	st->nfail = 0;
}

void tf_lockout_release(tf_lockout_state *st)
{
	assert(st != NULL);
	memset(st, 0, sizeof *st);
}

/* ------------------------------------------------- PIN and passphrase */

/*
 * Common 6-digit PINs that the rules below do not already catch: keypad
 * lines and crosses, mirrored and doubled runs (from published PIN
 * frequency studies).
 */
static const char *const common_pins[] = {
	"102030", "111222", "112233", "123321", "123654", "147258", "147852",
	"159357", "159753", "258369", "321654", "369258", "456123", "654123",
	"741852", "789456", "852963", "963852", NULL,
};

int tf_pin_check(const char *pin, size_t len, tf_err *err)
{
	size_t i, d;
	int up = 1, down = 1;

	if (pin == NULL)
		return tf_err_set(err, TF_EVALIDATE, "pin", "no PIN given");
	if (len < TF_PIN_MIN)
		return tf_err_set(err, TF_EVALIDATE, "pin",
				  "the PIN must have at least %d digits "
				  "(it has %zu)",
				  TF_PIN_MIN, len);
	if (len > TF_PIN_MAX)
		return tf_err_set(err, TF_EVALIDATE, "pin",
				  "the PIN may have at most %d digits (it "
				  "has %zu)",
				  TF_PIN_MAX, len);
	for (i = 0; i < len; i++)
		if (pin[i] < '0' || pin[i] > '9')
			return tf_err_set(err, TF_EVALIDATE, "pin",
					  "the PIN may contain only digits "
					  "0-9; character %zu is not a digit",
					  i + 1);
	for (i = 1; i < len; i++) {
		int a = pin[i - 1] - '0', b = pin[i] - '0';
		if (b != (a + 1) % 10)
			up = 0;
		if (b != (a + 9) % 10)
			down = 0;
	}
	if (up)
		return tf_err_set(err, TF_EVALIDATE, "pin",
				  "the PIN is an ascending run of digits; "
				  "choose one that is hard to guess");
	if (down)
		return tf_err_set(err, TF_EVALIDATE, "pin",
				  "the PIN is a descending run of digits; "
				  "choose one that is hard to guess");
	/* Smallest period d dividing len such that the PIN repeats it. */
	for (d = 1; d <= len / 2; d++) {
		if (len % d)
			continue;
		for (i = d; i < len; i++)
			if (pin[i] != pin[i - d])
				break;
		if (i < len)
			continue;
		if (d == 1)
			return tf_err_set(err, TF_EVALIDATE, "pin",
					  "the PIN is one digit repeated; "
					  "choose one that is hard to guess");
		return tf_err_set(err, TF_EVALIDATE, "pin",
				  "the PIN repeats a block of %zu digits; "
				  "choose one that is hard to guess",
				  d);
	}
	for (i = 0; common_pins[i]; i++)
		if (strlen(common_pins[i]) == len &&
		    memcmp(common_pins[i], pin, len) == 0)
			return tf_err_set(err, TF_EVALIDATE, "pin",
					  "the PIN is one of the most "
					  "commonly used PINs; choose one "
					  "that is hard to guess");
	return 0;
}

/*
 * The most common passwords of 8 characters or more (lower case) from
 * public breach-corpus rankings, plus words a police agency's users reach
 * for.  Short ones are refused by length already.  Compared ignoring
 * ASCII case.
 */
static const char *const common_passwords[] = {
	"1234567890", "0987654321",    "123123123",  "1q2w3e4r",
	"1q2w3e4r5t", "1qaz2wsx",      "12qwaszx",   "1234qwer",
	"a1b2c3d4",   "aa123456",      "abc12345",   "abcd1234",
	"admin123",   "administrator", "asdfghjk",   "asdfghjkl",
	"baseball",   "changeme",      "changeme1",  "chocolate",
	"computer",   "corvette",      "dispatch",   "dispatch1",
	"football",   "iloveyou",      "iloveyou1",  "internet",
	"jennifer",   "letmein1",      "letmein123", "liverpool",
	"mercedes",   "michael1",      "officer1",   "p@ssw0rd",
	"p@ssword",   "passw0rd",      "password",   "password!",
	"password1",  "password1!",    "password12", "password123",
	"police123",  "princess",      "q1w2e3r4",   "qwer1234",
	"qwerty12",   "qwerty123",     "qwerty1234", "qwertyui",
	"qwertyuiop", "sheriff1",      "starwars",   "sunshine",
	"superman",   "trustno1",      "welcome1",   "welcome123",
	"whatever",   "zaq12wsx",      "zxcvbnm1",   NULL,
};

static unsigned char ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* p[0..len) equals the C string s ignoring ASCII case; reads <= len+1 of s. */
static int equal_nocase(const char *p, size_t len, const char *s)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == '\0' || ascii_lower((unsigned char)p[i]) !=
					    ascii_lower((unsigned char)s[i]))
			return 0;
	}
	return s[len] == '\0';
}

/* Decodes the code point at p (valid UTF-8 assumed); *n gets its length. */
static uint32_t utf8_cp(const unsigned char *p, size_t *n)
{
	if (p[0] < 0x80) {
		*n = 1;
		return p[0];
	}
	if (p[0] < 0xe0) {
		*n = 2;
		return (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
	}
	if (p[0] < 0xf0) {
		*n = 3;
		return (uint32_t)(p[0] & 0x0f) << 12 |
		       (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
	}
	*n = 4;
	return (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
	       (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
}

int tf_passphrase_check(const char *p, size_t len, const char *const *extra,
			size_t nextra, tf_err *err)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t i, n, chars = 0;
	uint32_t first = 0, prev = 0;
	int same = 1, up = 1, down = 1;

	if (p == NULL)
		return tf_err_set(err, TF_EVALIDATE, "passphrase",
				  "no passphrase given");
	if (len > TF_PASSPHRASE_MAX)
		return tf_err_set(err, TF_ELIMIT, "passphrase",
				  "the passphrase may have at most %d bytes "
				  "(it has %zu)",
				  TF_PASSPHRASE_MAX, len);
	if (nextra > TF_PASSPHRASE_EXTRA_MAX || (nextra > 0 && extra == NULL))
		return tf_err_set(err, TF_ELIMIT, "passphrase",
				  "the extra blocklist has %zu entries, at "
				  "most %d",
				  nextra, TF_PASSPHRASE_EXTRA_MAX);
	if (!tf_utf8_valid(p, len))
		return tf_err_set(err, TF_EUTF8, "passphrase",
				  "the passphrase is not valid UTF-8 text");
	for (i = 0; i < len; i += n) {
		uint32_t cp = utf8_cp(u + i, &n);

		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return tf_err_set(err, TF_EVALIDATE, "passphrase",
					  "the passphrase may not contain "
					  "control characters (character %zu "
					  "is one)",
					  chars + 1);
		if (chars == 0) {
			first = cp;
		} else {
			if (cp != first)
				same = 0;
			if (cp != prev + 1)
				up = 0;
			if (cp + 1 != prev)
				down = 0;
		}
		prev = cp;
		chars++;
	}
	if (chars < TF_PASSPHRASE_MIN)
		return tf_err_set(err, TF_EVALIDATE, "passphrase",
				  "the passphrase must have at least %d "
				  "characters (it has %zu)",
				  TF_PASSPHRASE_MIN, chars);
	if (same)
		return tf_err_set(err, TF_EVALIDATE, "passphrase",
				  "the passphrase is one character repeated");
	if (up || down)
		return tf_err_set(err, TF_EVALIDATE, "passphrase",
				  "the passphrase is a run of consecutive "
				  "characters (like abcdefgh or 87654321)");
	for (i = 0; common_passwords[i]; i++)
		if (equal_nocase(p, len, common_passwords[i]))
			return tf_err_set(err, TF_EVALIDATE, "passphrase",
					  "the passphrase is on the list of "
					  "the most commonly used ones; "
					  "choose another");
	for (i = 0; i < nextra; i++)
		if (extra[i] && equal_nocase(p, len, extra[i]))
			return tf_err_set(err, TF_EVALIDATE, "passphrase",
					  "the passphrase is on the agency's "
					  "list of passwords that may not be "
					  "used (entry %zu)",
					  i + 1);
	return 0;
}

/* ------------------------------------------------------------ eviction */

struct evict_key {
	int out_of_scope; /* 1 sorts first */
	int64_t access;
	const char *id;
	size_t idx;
};

static int evict_cmp(const void *pa, const void *pb)
{
	const struct evict_key *a = pa, *b = pb;
	int c;

	if (a->out_of_scope != b->out_of_scope)
		return a->out_of_scope ? -1 : 1;
	if (a->access != b->access)
		return a->access < b->access ? -1 : 1;
	c = strcmp(a->id, b->id);
	if (c)
		return c;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

int tf_policy_evict(const tf_evict_rec *recs, size_t n, uint64_t budget,
		    size_t *out_idx, size_t *nout, int *met,
		    uint64_t *remaining, tf_err *err)
{
	struct evict_key *keys = NULL;
	uint64_t total = 0;
	size_t i, ncand = 0, nchosen = 0;

	assert(nout != NULL && met != NULL);
	if (n > TF_EVICT_MAX_RECORDS)
		return tf_err_set(err, TF_ELIMIT, "records",
				  "%zu records, at most %zu per call", n,
				  TF_EVICT_MAX_RECORDS);
	if (n > 0 && (recs == NULL || out_idx == NULL))
		return tf_err_set(err, TF_EINVAL, "records",
				  "records or the output array is NULL");
	for (i = 0; i < n; i++) {
		char where[40];

		snprintf(where, sizeof where, "records[%zu]", i);
		if (recs[i].id == NULL)
			return tf_err_set(err, TF_EINVAL, where,
					  "%s: id is NULL", where);
		if (recs[i].state < TF_SYNC_SYNCED ||
		    recs[i].state > TF_SYNC_SUPERSEDED)
			return tf_err_set(err, TF_EINVAL, where,
					  "%s (%.40s): sync state %d is not "
					  "a record's state",
					  where, recs[i].id,
					  (int)recs[i].state);
		if (recs[i].bytes > UINT64_MAX - total)
			return tf_err_set(err, TF_ERANGE, where,
					  "%s: the byte total overflows",
					  where);
		total += recs[i].bytes;
		if (recs[i].state == TF_SYNC_SYNCED)
			ncand++;
	}
	if (ncand > 0) {
		keys = malloc(ncand * sizeof *keys);
		if (keys == NULL)
			return tf_err_set(err, TF_ENOMEM, "records",
					  "out of memory");
	}
	ncand = 0;
	for (i = 0; i < n; i++) {
		if (recs[i].state != TF_SYNC_SYNCED)
			continue;
		keys[ncand].out_of_scope = recs[i].in_scope == 0;
		keys[ncand].access = recs[i].last_access_ms;
		keys[ncand].id = recs[i].id;
		keys[ncand].idx = i;
		ncand++;
	}
	if (ncand > 1)
		qsort(keys, ncand, sizeof *keys, evict_cmp);
	while (total > budget && nchosen < ncand) {
		size_t k = keys[nchosen].idx;
		out_idx[nchosen++] = k;
		total -= recs[k].bytes;
	}
	*nout = nchosen;
	*met = total <= budget;
	if (remaining)
		*remaining = total;
	free(keys);
	return 0;
}

/* --------------------------------------------------------------- scope */

void tf_grant_principal(const tf_grant *g, const char *unit, tf_principal *out)
{
	size_t i;

	assert(g != NULL && out != NULL);
	memset(out, 0, sizeof *out);
	out->user = g->user;
	out->unit = unit;
	out->agency = g->agency;
	out->nroles = g->nroles <= TF_POLICY_MAX_ROLES ? g->nroles
						       : TF_POLICY_MAX_ROLES;
	for (i = 0; i < out->nroles; i++)
		out->roles[i] = g->roles[i];
}

/* 1 when one of the principal's roles is a read role of the entity. */
static int has_read_role(const tf_entity *e, const tf_principal *p)
{
	size_t i, j;

	for (i = 0; i < p->nroles && i < TF_POLICY_MAX_ROLES; i++) {
		if (p->roles[i] == NULL)
			continue;
		for (j = 0; j < e->nread_roles; j++)
			if (strcmp(p->roles[i], e->read_roles[j]) == 0)
				return 1;
	}
	return 0;
}

/* 1 when v is a string equal to s. */
static int str_is(const tf_json *v, const char *s)
{
	size_t len;
	const char *t = tf_json_str(v, &len);

	return t != NULL && s != NULL && strlen(s) == len &&
	       memcmp(t, s, len) == 0;
}

/*
 * Looks for `who` as the value of an lww field state {"v":...} or as a
 * live element of a set field state {"s":[{"tags":[..],"v":...}]}.
 */
static int field_names(const tf_field *f, const tf_json *st, const char *who,
		       const char *where, int *found, tf_err *err)
{
	size_t i;

	*found = 0;
	if (st->type != TF_JSON_OBJECT)
		return tf_err_set(err, TF_ETYPE, where,
				  "%s: field state is not an object", where);
	if (f->cls == TF_CLASS_LWW) {
		const tf_json *v = tf_json_object_get(st, "v");
		if (v == NULL)
			return tf_err_set(err, TF_ETYPE, where,
					  "%s: lww state has no \"v\"", where);
		*found = str_is(v, who);
		return 0;
	}
	{
		const tf_json *s = tf_json_object_get(st, "s");
		if (s == NULL || s->type != TF_JSON_ARRAY)
			return tf_err_set(err, TF_ETYPE, where,
					  "%s: set state has no array \"s\"",
					  where);
		for (i = 0; i < s->len; i++) {
			const tf_json *el = s->u.items[i], *tags;
			if (el->type != TF_JSON_OBJECT)
				return tf_err_set(err, TF_ETYPE, where,
						  "%s: set element %zu is not "
						  "an object",
						  where, i);
			tags = tf_json_object_get(el, "tags");
			if (tags == NULL || tags->type != TF_JSON_ARRAY)
				return tf_err_set(err, TF_ETYPE, where,
						  "%s: set element %zu has no "
						  "array \"tags\"",
						  where, i);
			/* An element whose tags were all removed is gone. */
			if (tags->len > 0 &&
			    str_is(tf_json_object_get(el, "v"), who)) {
				*found = 1;
				return 0;
			}
		}
	}
	return 0;
}

int tf_policy_in_scope(const tf_entity *e, const tf_json *rec,
		       const tf_principal *p, int *in_scope, tf_err *err)
{
	const tf_json *fs, *st;
	const tf_field *f;
	const char *who;
	char where[96];
	int found = 0, rc;

	assert(e != NULL && in_scope != NULL);
	if (p == NULL || p->user == NULL)
		return tf_err_set(err, TF_EINVAL, "principal.user",
				  "principal.user: no user given");
	if (rec == NULL || rec->type != TF_JSON_OBJECT ||
	    !str_is(tf_json_object_get(rec, "entity"), e->name) ||
	    (fs = tf_json_object_get(rec, "f")) == NULL ||
	    fs->type != TF_JSON_OBJECT)
		return tf_err_set(err, TF_EINVAL, e->name,
				  "%s: not a record state of entity \"%s\"",
				  e->name, e->name);
	if (has_read_role(e, p) || e->scope == TF_SCOPE_AGENCY) {
		*in_scope = 1;
		return 0;
	}
	snprintf(where, sizeof where, "%s.%s", e->name,
		 e->scope_field ? e->scope_field : "(none)");
	f = e->scope_field ? tf_entity_field(e, e->scope_field) : NULL;
	if (f == NULL)
		return tf_err_set(err, TF_ESCHEMA, where,
				  "%s: the scope rule %s names no field of "
				  "the entity",
				  where, tf_scope_name(e->scope));
	switch (e->scope) {
	case TF_SCOPE_ASSIGNED_UNIT:
		if (f->cls != TF_CLASS_SET && f->cls != TF_CLASS_LWW)
			goto bad_class;
		who = p->unit;
		break;
	case TF_SCOPE_AUTHOR:
		if (f->cls != TF_CLASS_LWW)
			goto bad_class;
		who = p->user;
		break;
	case TF_SCOPE_PARTICIPANT:
		if (f->cls != TF_CLASS_SET)
			goto bad_class;
		who = p->user;
		break;
	default:
		return tf_err_set(err, TF_ESCHEMA, where,
				  "%s: unknown scope rule %d", where,
				  (int)e->scope);
	}
	st = tf_json_object_get(fs, f->name);
	if (who != NULL && st != NULL) {
		rc = field_names(f, st, who, where, &found, err);
		if (rc)
			return rc;
	}
	*in_scope = found;
	return 0;
bad_class:
	return tf_err_set(err, TF_ESCHEMA, where,
			  "%s: the scope rule %s cannot read a %s field", where,
			  tf_scope_name(e->scope), tf_class_name(f->cls));
}

/*
 * admin.c - administration: the tf_admin_* services of server.h (agency,
 * users, devices, policy, banner), the `tenfourd admin` command line over
 * them, and the demo agency seed.  Design: ARCHITECTURE.md section 4;
 * operator's guide: docs/OPERATIONS.md.
 *
 * Every service validates all of its arguments before it touches the
 * database, then runs one tf_db_write whose callback re-reads what it
 * depends on, writes its effect and appends exactly one audit entry; an
 * error anywhere in the callback rolls the whole step back, so a refused
 * operation changes nothing and leaves no audit entry.
 *
 * The storage interface (db/db.h) has no listing of users or devices, so
 * this file keeps, in the same transactions, an index of the ids it
 * created in the meta table ("admin.users.<agency>", one id a line,
 * sorted) for `user-list` and `device-list`.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "server/admin.h"
#include "server/auth.h"
#include "server/config.h"
#include "tenfour/hlc.h"
#include "tenfour/json.h"
#include "tenfour/schema.h"

/* Unit callsigns are set elements of incident.assigned_units: 1..32. */
#define ADMIN_UNIT_MAX 32
/* TOTP secrets: 160 bits, the RFC 4226 recommendation. */
#define ADMIN_TOTP_BYTES 20
/* Files the command line reads: schema, PEM, password, policy. */
#define ADMIN_FILE_MAX ((size_t)4 * 1024 * 1024)
#define ADMIN_DAY_MS (24 * TF_POLICY_HOUR_MS)

/* ------------------------------------------------------------ checks */

/* An id argument ([A-Za-z0-9._@-]{1,64}); `what` names it. */
static int check_id(const char *what, const char *s, tf_err *err)
{
	if (s == NULL || *s == '\0')
		return tf_err_set(err, TF_EMISSING, what, "%s: missing", what);
	if (!tf_id_valid(s, strlen(s)))
		return tf_err_set(err, TF_EVALIDATE, what,
				  "%s \"%.64s\" is not an id: use 1 to 64 of "
				  "A-Z a-z 0-9 . _ @ -",
				  what, s);
	return 0;
}

/* A unit callsign: an id of at most 32 bytes (the schema's limit). */
static int check_unit(const char *s, tf_err *err)
{
	int rc = check_id("unit", s, err);

	if (rc == 0 && strlen(s) > ADMIN_UNIT_MAX)
		rc = tf_err_set(err, TF_EVALIDATE, "unit",
				"unit \"%s\" is longer than %d bytes", s,
				ADMIN_UNIT_MAX);
	return rc;
}

/*
 * A display text: 1..max bytes of UTF-8 without control characters,
 * except that `multiline` text (the banner) may hold newlines and tabs.
 */
static int check_text(const char *what, const char *s, size_t max,
		      int multiline, tf_err *err)
{
	size_t i, n;

	if (s == NULL || *s == '\0')
		return tf_err_set(err, TF_EMISSING, what, "%s: missing", what);
	n = strlen(s);
	if (n > max)
		return tf_err_set(err, TF_ELIMIT, what,
				  "%s is %zu bytes; at most %zu allowed", what,
				  n, max);
	if (!tf_utf8_valid(s, n))
		return tf_err_set(err, TF_EUTF8, what, "%s is not valid UTF-8",
				  what);
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (multiline && (ch == '\n' || ch == '\t'))
			continue;
		if (ch < 0x20 || ch == 0x7f)
			return tf_err_set(err, TF_EVALIDATE, what,
					  "%s holds a control character at "
					  "byte %zu",
					  what, i);
	}
	return 0;
}

/* Roles: 1..16 distinct names of the schema's "roles" list. */
static int check_roles(const tf_schema *sc, const char *const *roles, size_t n,
		       tf_err *err)
{
	size_t i, j;

	if (roles == NULL || n == 0)
		return tf_err_set(err, TF_EMISSING, "roles",
				  "roles: at least one role is required");
	if (n > TF_POLICY_MAX_ROLES)
		return tf_err_set(err, TF_ELIMIT, "roles",
				  "roles: %zu given, at most %d allowed", n,
				  TF_POLICY_MAX_ROLES);
	for (i = 0; i < n; i++) {
		if (roles[i] == NULL || !tf_schema_has_role(sc, roles[i]))
			return tf_err_set(err, TF_EVALIDATE, "roles",
					  "role \"%.32s\" is not one of the "
					  "schema's roles",
					  roles[i] ? roles[i] : "");
		for (j = 0; j < i; j++)
			if (strcmp(roles[i], roles[j]) == 0)
				return tf_err_set(err, TF_EVALIDATE, "roles",
						  "role \"%s\" is given twice",
						  roles[i]);
	}
	return 0;
}

static void check_actor(const tf_admin_actor *a)
{
	assert(a != NULL);
	assert(a->user != NULL && a->source != NULL && a->where != NULL);
	(void)a;
}

/* Copies s into a fixed field of cap bytes (s already length-checked). */
static void copy_str(char *dst, size_t cap, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	assert(n < cap);
	if (n)
		memcpy(dst, s, n);
	dst[n] = '\0';
}

/* ------------------------------------------------------------ index */

/*
 * Adds id to the sorted id list kept under meta key "admin.<kind>.<agency>"
 * (inside the caller's write transaction).
 */
static int index_add(tf_db_txn *t, const char *kind, const char *agency,
		     const char *id, tf_err *err)
{
	char key[TF_ID_MAX + 32];
	char *val = NULL;
	size_t len = 0, pos = 0, idlen = strlen(id);
	tf_buf out;
	int rc;

	tf_buf_init(&out);
	snprintf(key, sizeof key, "admin.%s.%s", kind, agency);
	rc = t->ops->meta_get(t, key, &val, &len, err);
	if (rc == TF_ENOTFOUND) {
		rc = 0;
		len = 0;
	}
	if (rc)
		goto out;
	/* Lines are sorted: find the first line not below id. */
	while (pos < len) {
		const char *nl = memchr(val + pos, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - (val + pos)) : len - pos;
		int c = memcmp(val + pos, id, l < idlen ? l : idlen);
		if (c == 0 && l == idlen)
			goto out; /* already listed */
		if (c > 0 || (c == 0 && l > idlen))
			break;
		pos += l + (nl ? 1 : 0);
	}
	if (pos)
		tf_buf_append(&out, val, pos);
	tf_buf_append(&out, id, idlen);
	tf_buf_putc(&out, '\n');
	if (len > pos) /* val is NULL for the first entry */
		tf_buf_append(&out, val + pos, len - pos);
	if (out.failed) {
		rc = tf_err_set(err, out.failed, key, "index %s: %s", key,
				tf_strerror(out.failed));
		goto out;
	}
	rc = t->ops->meta_put(t, key, out.data, out.len, err);
out:
	tf_buf_free(&out);
	free(val);
	return rc;
}

/* The id list of a kind (a NUL-terminated copy, "" when none). */
static int index_get(tf_db_txn *t, const char *kind, const char *agency,
		     tf_buf *out, tf_err *err)
{
	char key[TF_ID_MAX + 32];
	char *val = NULL;
	size_t len = 0;
	int rc;

	snprintf(key, sizeof key, "admin.%s.%s", kind, agency);
	rc = t->ops->meta_get(t, key, &val, &len, err);
	if (rc == TF_ENOTFOUND)
		return 0;
	if (rc == 0 && tf_buf_append(out, val, len))
		rc = tf_err_set(err, TF_ENOMEM, key, "index %s: out of memory",
				key);
	free(val);
	return rc;
}

/* ------------------------------------------------------------ audit */

/* Sets member k of o to v (owned), remembering the first failure. */
static void dset(tf_json *o, const char *k, tf_json *v, int *rc)
{
	if (*rc == 0 && (v == NULL || tf_json_object_set(o, k, v)))
		*rc = TF_ENOMEM;
	else if (*rc)
		tf_json_free(v);
}

/* A detail object {"action", "agency"} to add to. NULL on ENOMEM. */
static tf_json *detail_new(const char *agency, const char *action)
{
	tf_json *o = tf_json_object();
	int rc = 0;

	if (o == NULL)
		return NULL;
	if (agency)
		dset(o, "agency", tf_json_cstring(agency), &rc);
	if (action)
		dset(o, "action", tf_json_cstring(action), &rc);
	if (rc) {
		tf_json_free(o);
		return NULL;
	}
	return o;
}

/*
 * Appends the one audit entry of an admin step in transaction t to the
 * chain of `agency` (the agency the step works on, which is also the
 * actor's: an administrator acts within his agency, the command line's
 * "system" on the agency it names; NULL: the system chain).  Takes
 * ownership of detail (may be NULL, then none is written); *drc is a
 * pending failure from building it (TF_ENOMEM).
 */
static int admin_audit(tf_db_txn *t, const tf_admin_actor *a,
		       const char *agency, tf_audit_type type,
		       const char *target, tf_json *detail, int drc,
		       int64_t now_ms, tf_err *err)
{
	tf_audit_event ev;
	int rc;

	if (drc || detail == NULL) {
		tf_json_free(detail);
		return tf_err_set(err, TF_ENOMEM, "audit",
				  "audit detail: out of memory");
	}
	memset(&ev, 0, sizeof ev);
	ev.ts_ms = now_ms;
	ev.type = type;
	ev.success = 1;
	ev.user = a->user;
	ev.role = a->role;
	ev.device = a->device; /* NULL: no device (the command line) */
	ev.agency = agency;
	ev.source = a->source;
	ev.where = a->where;
	ev.target = target;
	ev.detail = detail;
	rc = tf_srv_audit(t, &ev, err);
	tf_json_free(detail);
	return rc;
}

/* The canonical policy as a JSON tree (for audit details). */
static tf_json *policy_json(const tf_agency_policy *p)
{
	tf_buf b;
	tf_json *j = NULL;

	tf_buf_init(&b);
	if (tf_agency_policy_write(p, &b) == 0)
		(void)tf_json_parse(b.data, b.len, NULL, &j, NULL);
	tf_buf_free(&b);
	return j;
}

/* ------------------------------------------------------------ reads */

static int get_agency(tf_db_txn *t, const char *id, tf_db_agency *out,
		      tf_err *err)
{
	int rc = t->ops->agency_get(t, id, out, err);

	if (rc == TF_ENOTFOUND)
		rc = tf_err_set(err, TF_ENOTFOUND, "agency",
				"agency \"%s\" does not exist", id);
	return rc;
}

static int get_user(tf_db_txn *t, const char *agency, const char *id,
		    tf_db_user *out, tf_err *err)
{
	int rc = t->ops->user_get(t, agency, id, out, err);

	if (rc == TF_ENOTFOUND)
		rc = tf_err_set(err, TF_ENOTFOUND, "user",
				"user \"%s\" does not exist in agency \"%s\"",
				id, agency);
	return rc;
}

static int get_device(tf_db_txn *t, const char *agency, const char *id,
		      tf_db_device *out, tf_err *err)
{
	int rc = t->ops->device_get(t, agency, id, out, err);

	if (rc == TF_ENOTFOUND)
		rc = tf_err_set(err, TF_ENOTFOUND, "device",
				"device \"%s\" is not enrolled in agency "
				"\"%s\"",
				id, agency);
	return rc;
}

/* ------------------------------------------------------------ agency */

/*
 * The AC-8 banner every new agency starts with: the four statements
 * (unauthorized use prohibited; monitored and recorded; consent; penalties).
 * An agency replaces it with its counsel's wording (banner-set).
 */
static const char admin_default_banner[] =
	"You are accessing a %s information system that provides access "
	"to Criminal Justice Information (CJI). Only authorized users may "
	"use it, and only for authorized criminal justice purposes; any "
	"other use is prohibited.\n"
	"Use of this system is monitored, recorded and subject to audit.\n"
	"By using this system you consent to that monitoring and "
	"recording.\n"
	"Unauthorized use or misuse of this system or its information is "
	"prohibited and may result in criminal and civil penalties.";

typedef struct admin_op {
	const tf_admin_actor *a;
	int64_t now;
	const char *agency;
	const char *id;
	const char *name;
	const char *const *roles;
	size_t nroles;
	const char *unit;
	const char *pwhash;
	const char *totp;
	const char *pubkey;
	const tf_agency_policy *policy;
	const char *text;
	int flag;
	uint64_t n; /* out: sessions revoked */
} admin_op;

static int agency_init_txn(tf_db_txn *t, void *arg, tf_err *err)
{
	admin_op *op = arg;
	tf_db_agency *ag;
	tf_json *d;
	char *val = NULL;
	size_t len;
	int rc, drc = 0;

	ag = calloc(1, sizeof *ag);
	if (ag == NULL)
		return tf_err_set(err, TF_ENOMEM, "agency", "out of memory");
	rc = t->ops->agency_get(t, op->id, ag, err);
	if (rc == 0) {
		rc = tf_err_set(err, TF_EEXIST, "agency",
				"agency \"%s\" already exists", op->id);
		goto out;
	}
	if (rc != TF_ENOTFOUND)
		goto out;
	memset(ag, 0, sizeof *ag);
	copy_str(ag->id, sizeof ag->id, op->id);
	copy_str(ag->name, sizeof ag->name, op->name);
	tf_agency_policy_default(&ag->policy);
	snprintf(ag->banner, sizeof ag->banner, admin_default_banner, op->name);
	ag->banner_rev = 1;
	rc = t->ops->agency_put(t, ag, err);
	if (rc)
		goto out;
	/* The first agency is the command line's default. */
	rc = t->ops->meta_get(t, "admin.default_agency", &val, &len, err);
	if (rc == TF_ENOTFOUND)
		rc = t->ops->meta_put(t, "admin.default_agency", op->id,
				      strlen(op->id), err);
	if (rc)
		goto out;
	d = detail_new(op->id, "agency_init");
	if (d) {
		dset(d, "name", tf_json_cstring(op->name), &drc);
		dset(d, "policy", policy_json(&ag->policy), &drc);
		dset(d, "banner_rev", tf_json_int(ag->banner_rev), &drc);
	}
	rc = admin_audit(t, op->a, op->id, TF_AUDIT_POLICY_CHANGE, op->id, d,
			 drc, op->now, err);
out:
	free(val);
	free(ag);
	return rc;
}

int tf_admin_agency_init(tf_srv *s, const tf_admin_actor *a, const char *id,
			 const char *name, int64_t now_ms, tf_err *err)
{
	admin_op op;
	int rc;

	assert(s != NULL && s->db != NULL);
	check_actor(a);
	if ((rc = check_id("agency", id, err)) ||
	    (rc = check_text("name", name, TF_DB_NAME_MAX, 0, err)))
		return rc;
	memset(&op, 0, sizeof op);
	op.a = a;
	op.now = now_ms;
	op.id = id;
	op.name = name;
	return tf_db_write(s->db, agency_init_txn, &op, err);
}

static int policy_set_txn(tf_db_txn *t, void *arg, tf_err *err)
{
	admin_op *op = arg;
	tf_db_agency *ag;
	tf_json *d;
	int rc, drc = 0;

	ag = calloc(1, sizeof *ag);
	if (ag == NULL)
		return tf_err_set(err, TF_ENOMEM, "agency", "out of memory");
	rc = get_agency(t, op->agency, ag, err);
	if (rc)
		goto out;
	d = detail_new(op->agency, op->policy ? "policy_set" : "banner_set");
	if (op->policy) {
		if (d) {
			dset(d, "previous", policy_json(&ag->policy), &drc);
			dset(d, "policy", policy_json(op->policy), &drc);
		}
		ag->policy = *op->policy;
	} else {
		copy_str(ag->banner, sizeof ag->banner, op->text);
		ag->banner_rev++;
		if (d)
			dset(d, "banner_rev", tf_json_int(ag->banner_rev),
			     &drc);
	}
	rc = t->ops->agency_put(t, ag, err);
	if (rc) {
		tf_json_free(d);
		goto out;
	}
	rc = admin_audit(t, op->a, op->agency, TF_AUDIT_POLICY_CHANGE,
			 op->agency, d, drc, op->now, err);
out:
	free(ag);
	return rc;
}

int tf_admin_policy_set(tf_srv *s, const tf_admin_actor *a,
			const char *policy_json_text, int64_t now_ms,
			tf_err *err)
{
	tf_agency_policy p;
	admin_op op;
	int rc;

	assert(s != NULL && s->db != NULL);
	check_actor(a);
	if ((rc = check_id("agency", a->agency, err)))
		return rc;
	if (policy_json_text == NULL)
		return tf_err_set(err, TF_EMISSING, "policy",
				  "policy: missing");
	rc = tf_agency_policy_parse(policy_json_text, strlen(policy_json_text),
				    &p, err);
	if (rc)
		return rc;
	memset(&op, 0, sizeof op);
	op.a = a;
	op.now = now_ms;
	op.agency = a->agency;
	op.policy = &p;
	return tf_db_write(s->db, policy_set_txn, &op, err);
}

int tf_admin_banner_set(tf_srv *s, const tf_admin_actor *a, const char *text,
			int64_t now_ms, tf_err *err)
{
	admin_op op;
	int rc;

	assert(s != NULL && s->db != NULL);
	check_actor(a);
	if ((rc = check_id("agency", a->agency, err)) ||
	    (rc = check_text("banner", text, TF_DB_BANNER_MAX, 1, err)))
		return rc;
	memset(&op, 0, sizeof op);
	op.a = a;
	op.now = now_ms;
	op.agency = a->agency;
	op.text = text;
	return tf_db_write(s->db, policy_set_txn, &op, err);
}

/* ------------------------------------------------------------ users */

static tf_json *roles_json(const char *const *roles, size_t n)
{
	tf_json *arr = tf_json_array();
	size_t i;

	for (i = 0; arr && i < n; i++) {
		if (tf_json_array_push(arr, tf_json_cstring(roles[i]))) {
			tf_json_free(arr);
			return NULL;
		}
	}
	return arr;
}

static int user_add_txn(tf_db_txn *t, void *arg, tf_err *err)
{
	admin_op *op = arg;
	tf_db_agency *ag;
	tf_db_user *u;
	tf_json *d;
	size_t i;
	int rc, drc = 0;

	ag = calloc(1, sizeof *ag);
	u = calloc(1, sizeof *u);
	if (ag == NULL || u == NULL) {
		rc = tf_err_set(err, TF_ENOMEM, "user", "out of memory");
		goto out;
	}
	if ((rc = get_agency(t, op->agency, ag, err)))
		goto out;
	rc = t->ops->user_get(t, op->agency, op->id, u, err);
	if (rc == 0) {
		rc = tf_err_set(err, TF_EEXIST, "user",
				"user \"%s\" already exists in agency \"%s\"",
				op->id, op->agency);
		goto out;
	}
	if (rc != TF_ENOTFOUND)
		goto out;
	memset(u, 0, sizeof *u);
	copy_str(u->agency, sizeof u->agency, op->agency);
	copy_str(u->id, sizeof u->id, op->id);
	copy_str(u->name, sizeof u->name, op->name);
	for (i = 0; i < op->nroles; i++)
		copy_str(u->roles[i], sizeof u->roles[i], op->roles[i]);
	u->nroles = op->nroles;
	copy_str(u->unit, sizeof u->unit, op->unit);
	copy_str(u->pwhash, sizeof u->pwhash, op->pwhash);
	copy_str(u->totp, sizeof u->totp, op->totp);
	u->created_at = op->now;
	if ((rc = t->ops->user_put(t, u, err)) ||
	    (rc = index_add(t, "users", op->agency, op->id, err)))
		goto out;
	d = detail_new(op->agency, "user_add");
	if (d) {
		dset(d, "name", tf_json_cstring(op->name), &drc);
		dset(d, "roles", roles_json(op->roles, op->nroles), &drc);
		dset(d, "unit",
		     op->unit ? tf_json_cstring(op->unit) : tf_json_null(),
		     &drc);
	}
	rc = admin_audit(t, op->a, op->agency, TF_AUDIT_PERMISSION_CHANGE,
			 op->id, d, drc, op->now, err);
out:
	if (u)
		tf_memzero(u, sizeof *u);
	free(u);
	free(ag);
	return rc;
}

int tf_admin_user_add(tf_srv *s, const tf_admin_actor *a, const char *id,
		      const char *name, const char *const *roles, size_t nroles,
		      const char *unit, const char *password, int64_t now_ms,
		      char *totp_out, tf_err *err)
{
	char pwhash[TF_DB_PWHASH_MAX + 1];
	char totp[TF_DB_TOTP_MAX + 1];
	uint8_t key[ADMIN_TOTP_BYTES];
	const char *extra[4];
	admin_op op;
	int rc;

	assert(s != NULL && s->db != NULL && s->schema != NULL);
	assert(totp_out != NULL);
	check_actor(a);
	if (unit && *unit == '\0')
		unit = NULL;
	if ((rc = check_id("agency", a->agency, err)) ||
	    (rc = check_id("user", id, err)) ||
	    (rc = check_text("name", name, TF_DB_NAME_MAX, 0, err)) ||
	    (rc = check_roles(s->schema, roles, nroles, err)) ||
	    (unit && (rc = check_unit(unit, err))))
		return rc;
	if (password == NULL)
		return tf_err_set(err, TF_EMISSING, "password",
				  "password: missing");
	/* IA-5: the blocklist also holds words an attacker would try first. */
	extra[0] = id;
	extra[1] = a->agency;
	extra[2] = "tenfour";
	extra[3] = name;
	rc = tf_passphrase_check(password, strlen(password), extra, 4, err);
	if (rc) {
		if (err)
			copy_str(err->where, sizeof err->where, "password");
		return rc;
	}
	rc = tf_auth_hash_password(s, password, strlen(password), pwhash);
	if (rc)
		return tf_err_set(err, rc, "password",
				  "password hashing failed: %s",
				  tf_strerror(rc));
	if (tf_random_bytes(key, sizeof key) ||
	    tf_b32_encode(key, sizeof key, totp, sizeof totp)) {
		rc = tf_err_set(err, TF_EIO, "totp",
				"cannot make a TOTP secret: random source "
				"failed");
		goto out;
	}
	memset(&op, 0, sizeof op);
	op.a = a;
	op.now = now_ms;
	op.agency = a->agency;
	op.id = id;
	op.name = name;
	op.roles = roles;
	op.nroles = nroles;
	op.unit = unit;
	op.pwhash = pwhash;
	op.totp = totp;
	rc = tf_db_write(s->db, user_add_txn, &op, err);
	if (rc == 0)
		memcpy(totp_out, totp, strlen(totp) + 1);
out:
	tf_memzero(key, sizeof key);
	tf_memzero(totp, sizeof totp);
	tf_memzero(pwhash, sizeof pwhash);
	return rc;
}

enum { USER_DISABLE = 1, USER_ENABLE, USER_SET_UNIT, USER_RELEASE };

/* The user steps that read a user, change it and audit the change. */
static int user_change_txn(tf_db_txn *t, void *arg, tf_err *err)
{
	admin_op *op = arg;
	tf_audit_type type = TF_AUDIT_PERMISSION_CHANGE;
	tf_db_user *u;
	tf_json *d = NULL;
	int rc, drc = 0, revoke = 0;

	u = calloc(1, sizeof *u);
	if (u == NULL)
		return tf_err_set(err, TF_ENOMEM, "user", "out of memory");
	if ((rc = get_user(t, op->agency, op->id, u, err)))
		goto out;
	switch (op->flag) {
	case USER_DISABLE:
	case USER_ENABLE:
		d = detail_new(op->agency, op->flag == USER_DISABLE
						   ? "user_disable"
						   : "user_enable");
		u->disabled = op->flag == USER_DISABLE;
		revoke = u->disabled;
		break;
	case USER_SET_UNIT:
		d = detail_new(op->agency, "user_set_unit");
		if (d) {
			dset(d, "from",
			     u->unit[0] ? tf_json_cstring(u->unit)
					: tf_json_null(),
			     &drc);
			dset(d, "to",
			     op->unit ? tf_json_cstring(op->unit)
				      : tf_json_null(),
			     &drc);
		}
		copy_str(u->unit, sizeof u->unit, op->unit);
		revoke = 1; /* the unit is the officer's scope */
		break;
	default:
		assert(op->flag == USER_RELEASE);
		type = TF_AUDIT_LOCKOUT_RELEASE;
		d = detail_new(op->agency, "user_release");
		if (d) {
			dset(d, "was_locked", tf_json_bool(u->lockout.locked),
			     &drc);
			dset(d, "failures", tf_json_uint(u->lockout.nfail),
			     &drc);
		}
		tf_lockout_release(&u->lockout);
		break;
	}
	if ((rc = t->ops->user_put(t, u, err)))
		goto out;
	if (revoke) {
		rc = t->ops->session_revoke_all(t, op->agency, op->id, NULL,
						&op->n, err);
		if (rc)
			goto out;
		if (d)
			dset(d, "sessions_revoked", tf_json_uint(op->n), &drc);
	}
	rc = admin_audit(t, op->a, op->agency, type, op->id, d, drc, op->now,
			 err);
	d = NULL;
out:
	tf_json_free(d);
	tf_memzero(u, sizeof *u);
	free(u);
	return rc;
}

static int user_change(tf_srv *s, const tf_admin_actor *a, const char *id,
		       int what, const char *unit, int64_t now_ms, tf_err *err)
{
	admin_op op;
	int rc;

	assert(s != NULL && s->db != NULL);
	check_actor(a);
	if ((rc = check_id("agency", a->agency, err)) ||
	    (rc = check_id("user", id, err)) ||
	    (unit && (rc = check_unit(unit, err))))
		return rc;
	memset(&op, 0, sizeof op);
	op.a = a;
	op.now = now_ms;
	op.agency = a->agency;
	op.id = id;
	op.flag = what;
	op.unit = unit;
	return tf_db_write(s->db, user_change_txn, &op, err);
}

int tf_admin_user_disable(tf_srv *s, const tf_admin_actor *a, const char *id,
			  int disabled, int64_t now_ms, tf_err *err)
{
	return user_change(s, a, id, disabled ? USER_DISABLE : USER_ENABLE,
			   NULL, now_ms, err);
}

int tf_admin_user_set_unit(tf_srv *s, const tf_admin_actor *a, const char *id,
			   const char *unit, int64_t now_ms, tf_err *err)
{
	if (unit && (*unit == '\0' || strcmp(unit, "-") == 0))
		unit = NULL;
	return user_change(s, a, id, USER_SET_UNIT, unit, now_ms, err);
}

int tf_admin_user_release(tf_srv *s, const tf_admin_actor *a, const char *id,
			  int64_t now_ms, tf_err *err)
{
	return user_change(s, a, id, USER_RELEASE, NULL, now_ms, err);
}

static int sessions_revoke_txn(tf_db_txn *t, void *arg, tf_err *err)
{
	admin_op *op = arg;
	tf_db_user *u;
	tf_json *d;
	int rc, drc = 0;

	u = calloc(1, sizeof *u);
	if (u == NULL)
		return tf_err_set(err, TF_ENOMEM, "user", "out of memory");
	rc = get_user(t, op->agency, op->id, u, err);
	tf_memzero(u, sizeof *u);
	free(u);
	if (rc)
		return rc;
	rc = t->ops->session_revoke_all(t, op->agency, op->id, NULL, &op->n,
					err);
	if (rc)
		return rc;
	d = detail_new(op->agency, "sessions_revoke");
	if (d)
		dset(d, "sessions_revoked", tf_json_uint(op->n), &drc);
	return admin_audit(t, op->a, op->agency, TF_AUDIT_SESSION_REVOKE,
			   op->id, d, drc, op->now, err);
}

int tf_admin_sessions_revoke(tf_srv *s, const tf_admin_actor *a,
			     const char *user, int64_t now_ms, uint64_t *n,
			     tf_err *err)
{
	admin_op op;
	int rc;

	assert(s != NULL && s->db != NULL);
	check_actor(a);
	if ((rc = check_id("agency", a->agency, err)) ||
	    (rc = check_id("user", user, err)))
		return rc;
	memset(&op, 0, sizeof op);
	op.a = a;
	op.now = now_ms;
	op.agency = a->agency;
	op.id = user;
	rc = tf_db_write(s->db, sessions_revoke_txn, &op, err);
	if (rc == 0 && n)
		*n = op.n;
	return rc;
}

/* ------------------------------------------------------------ devices */

static int device_enroll_txn(tf_db_txn *t, void *arg, tf_err *err)
{
	admin_op *op = arg;
	tf_db_agency *ag;
	tf_db_device d;
	tf_json *det;
	int rc, drc = 0;

	ag = calloc(1, sizeof *ag);
	if (ag == NULL)
		return tf_err_set(err, TF_ENOMEM, "device", "out of memory");
	rc = get_agency(t, op->agency, ag, err);
	free(ag);
	if (rc)
		return rc;
	rc = t->ops->device_get(t, op->agency, op->id, &d, err);
	if (rc == 0)
		return tf_err_set(err, TF_EEXIST, "device",
				  "device \"%s\" is already enrolled in "
				  "agency \"%s\" (a revoked device id is not "
				  "reused)",
				  op->id, op->agency);
	if (rc != TF_ENOTFOUND)
		return rc;
	memset(&d, 0, sizeof d);
	copy_str(d.agency, sizeof d.agency, op->agency);
	copy_str(d.id, sizeof d.id, op->id);
	copy_str(d.label, sizeof d.label, op->name);
	copy_str(d.pubkey, sizeof d.pubkey, op->pubkey);
	d.status = TF_DEV_ENROLLED;
	d.enrolled_at = op->now;
	if ((rc = t->ops->device_put(t, &d, err)) ||
	    (rc = index_add(t, "devices", op->agency, op->id, err)))
		return rc;
	det = detail_new(op->agency, "device_enroll");
	if (det) {
		dset(det, "label", tf_json_cstring(op->name), &drc);
		dset(det, "public_key", tf_json_cstring(op->pubkey), &drc);
	}
	return admin_audit(t, op->a, op->agency, TF_AUDIT_DEVICE_ENROLL, op->id,
			   det, drc, op->now, err);
}

int tf_admin_device_enroll(tf_srv *s, const tf_admin_actor *a, const char *id,
			   const char *label, const char *pubkey,
			   int64_t now_ms, tf_err *err)
{
	uint8_t raw[TF_ED25519_PUB_LEN + 1];
	tf_sigkey *k = NULL;
	admin_op op;
	size_t n = 0;
	int rc;

	assert(s != NULL && s->db != NULL);
	check_actor(a);
	if ((rc = check_id("agency", a->agency, err)) ||
	    (rc = check_id("device", id, err)) ||
	    (rc = check_text("label", label, TF_DB_NAME_MAX, 0, err)))
		return rc;
	if (pubkey == NULL || *pubkey == '\0')
		return tf_err_set(err, TF_EMISSING, "pubkey",
				  "pubkey: missing");
	if (strlen(pubkey) > TF_DB_PUBKEY_MAX ||
	    tf_b64url_decode(pubkey, strlen(pubkey), raw, sizeof raw, &n) ||
	    n != TF_ED25519_PUB_LEN || tf_sigkey_from_public(raw, &k))
		return tf_err_set(err, TF_EVALIDATE, "pubkey",
				  "pubkey is not the base64url (no padding) "
				  "of a 32-byte Ed25519 public key");
	tf_sigkey_free(k);
	memset(&op, 0, sizeof op);
	op.a = a;
	op.now = now_ms;
	op.agency = a->agency;
	op.id = id;
	op.name = label;
	op.pubkey = pubkey;
	return tf_db_write(s->db, device_enroll_txn, &op, err);
}

static int device_revoke_txn(tf_db_txn *t, void *arg, tf_err *err)
{
	admin_op *op = arg;
	tf_db_device d;
	tf_json *det;
	int rc, drc = 0;

	if ((rc = get_device(t, op->agency, op->id, &d, err)))
		return rc;
	if (d.status != TF_DEV_ENROLLED)
		return tf_err_set(err, TF_EINVAL, "device",
				  "device \"%s\" is already %s", op->id,
				  d.status == TF_DEV_WIPED ? "revoked and wiped"
							   : "revoked");
	d.status = TF_DEV_REVOKED;
	d.revoked_at = op->now;
	if ((rc = t->ops->device_put(t, &d, err)))
		return rc;
	rc = t->ops->session_revoke_all(t, op->agency, NULL, op->id, &op->n,
					err);
	if (rc)
		return rc;
	det = detail_new(op->agency, "device_revoke");
	if (det) {
		dset(det, "label", tf_json_cstring(d.label), &drc);
		dset(det, "sessions_revoked", tf_json_uint(op->n), &drc);
	}
	return admin_audit(t, op->a, op->agency, TF_AUDIT_DEVICE_REVOKE, op->id,
			   det, drc, op->now, err);
}

int tf_admin_device_revoke(tf_srv *s, const tf_admin_actor *a, const char *id,
			   int64_t now_ms, tf_err *err)
{
	admin_op op;
	int rc;

	assert(s != NULL && s->db != NULL);
	check_actor(a);
	if ((rc = check_id("agency", a->agency, err)) ||
	    (rc = check_id("device", id, err)))
		return rc;
	memset(&op, 0, sizeof op);
	op.a = a;
	op.now = now_ms;
	op.agency = a->agency;
	op.id = id;
	return tf_db_write(s->db, device_revoke_txn, &op, err);
}

/* ------------------------------------------------------------ files */

/* mkdir -p with mode 0700 for the directories it creates. */
static int mkdir_p(const char *path, tf_err *err)
{
	char buf[4096];
	size_t n = strlen(path), i;

	if (n == 0 || n >= sizeof buf)
		return tf_err_set(err, TF_EINVAL, path,
				  "directory path is empty or too long");
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return tf_err_set(err, TF_EIO, path,
					  "cannot create directory %s: %s", buf,
					  strerror(errno));
		buf[i] = i < n ? '/' : '\0';
	}
	return 0;
}

/* Writes len bytes to path, created or truncated with mode 0600. */
static int write_private(const char *path, const char *data, size_t len,
			 tf_err *err)
{
	size_t off = 0;
	int fd, rc = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return tf_err_set(err, TF_EIO, path, "cannot write %s: %s",
				  path, strerror(errno));
	if (fchmod(fd, 0600) != 0)
		rc = tf_err_set(err, TF_EIO, path, "cannot chmod %s: %s", path,
				strerror(errno));
	while (rc == 0 && off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			rc = tf_err_set(err, TF_EIO, path,
					"cannot write %s: %s", path,
					strerror(errno));
		else
			off += (size_t)w;
	}
	if (rc == 0 && fsync(fd) != 0)
		rc = tf_err_set(err, TF_EIO, path, "cannot sync %s: %s", path,
				strerror(errno));
	if (close(fd) != 0 && rc == 0)
		rc = tf_err_set(err, TF_EIO, path, "cannot close %s: %s", path,
				strerror(errno));
	return rc;
}

/* Reads a whole file of at most max bytes into out (NUL-terminated). */
static int read_file(const char *path, size_t max, tf_buf *out, tf_err *err)
{
	char chunk[4096];
	FILE *f = fopen(path, "rb");
	size_t n;
	int rc = 0;

	if (f == NULL)
		return tf_err_set(err, TF_EIO, path, "cannot read %s: %s", path,
				  strerror(errno));
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (out->len + n > max) {
			rc = tf_err_set(err, TF_ELIMIT, path,
					"%s is larger than %zu bytes", path,
					max);
			break;
		}
		if (tf_buf_append(out, chunk, n)) {
			rc = tf_err_set(err, TF_ENOMEM, path,
					"%s: out of memory", path);
			break;
		}
	}
	if (rc == 0 && ferror(f))
		rc = tf_err_set(err, TF_EIO, path, "cannot read %s: %s", path,
				strerror(errno));
	fclose(f);
	if (rc == 0)
		(void)tf_buf_cstr(out);
	return rc;
}

/* ------------------------------------------------------------ demo */

typedef struct demo_user {
	const char *id, *name, *role, *unit, *device, *password;
	const char *role2; /* a second role, or NULL */
} demo_user;

/*
 * The demo agency's people.  The passwords are fixed and printed: this is
 * a demonstration database, never a production one.  cad-bridge is the
 * CAD's service account: it alone may write server-issued references
 * (incident numbers, unit callsigns), and it holds the dispatcher role
 * too, because a command needs its record in the writer's scope.  Its
 * password is random.
 */
static const demo_user demo_users[] = {
	{"dana", "Dana Dispatcher", "dispatcher", NULL, "console-1",
	 "Harbor-Lantern-Quartz-42", NULL},
	{"alvarez", "Officer Alvarez", "officer", "2A12", "mdt-2a12",
	 "Copper-Canyon-Falcon-17", NULL},
	{"brooks", "Officer Brooks", "officer", "2A14", "mdt-2a14",
	 "Maple-Signal-Drift-58", NULL},
	{"sgt.reyes", "Sergeant Reyes", "supervisor", NULL, "mdt-sup",
	 "Granite-Harbor-Owl-23", NULL},
	{"admin", "Agency IT Administrator", "admin", NULL, "console-1",
	 "Cobalt-Meadow-Ridge-91", NULL},
	{"auditor", "CJIS Auditor", "auditor", NULL, "console-1",
	 "Willow-Beacon-Atlas-36", NULL},
	{"cad-bridge", "CAD bridge (service account)", "service", NULL,
	 "cad-bridge", NULL, "dispatcher"},
};
#define DEMO_NUSERS (sizeof demo_users / sizeof demo_users[0])

static const struct {
	const char *id, *label;
} demo_devices[] = {
	{"console-1", "Dispatch console 1"}, {"mdt-2a12", "MDT unit 2A12"},
	{"mdt-2a14", "MDT unit 2A14"},	     {"mdt-sup", "Supervisor MDT"},
	{"cad-bridge", "CAD bridge server"},
};
#define DEMO_NDEVICES (sizeof demo_devices / sizeof demo_devices[0])

/* One device's pending push: commands as canonical text. */
typedef struct demo_push {
	tf_srv *s;
	tf_srv_caller c;
	tf_clock clk;
	uint64_t seq;
	int64_t now;
	tf_buf cmds;
	size_t n;
	const char *ops[32]; /* for messages: op and entity per command */
	const char *entities[32];
} demo_push;

typedef struct caller_ctx {
	const char *agency, *user, *device;
	tf_srv_caller *c;
	uint64_t last;
} caller_ctx;

static int demo_caller_txn(tf_db_txn *t, void *arg, tf_err *err)
{
	caller_ctx *cc = arg;
	int rc;

	if ((rc = get_user(t, cc->agency, cc->user, &cc->c->user, err)) ||
	    (rc = get_device(t, cc->agency, cc->device, &cc->c->device, err)))
		return rc;
	return t->ops->ledger_last(t, cc->agency, cc->device, &cc->last, err);
}

/*
 * A caller as a login would make it, from the stored user and device rows
 * (no session token: the seed runs on the server's own database).
 */
static int demo_push_begin(demo_push *p, tf_srv *s, const char *user,
			   const char *device, int64_t now_ms, tf_err *err)
{
	caller_ctx cc;
	int rc;

	memset(p, 0, sizeof *p);
	p->s = s;
	p->now = now_ms;
	tf_buf_init(&p->cmds);
	tf_clock_init(&p->clk, 0, s->max_skew_ms);
	cc.agency = TF_ADMIN_DEMO_AGENCY;
	cc.user = user;
	cc.device = device;
	cc.c = &p->c;
	cc.last = 0;
	rc = tf_db_read(s->db, demo_caller_txn, &cc, err);
	if (rc)
		return rc;
	p->seq = cc.last;
	copy_str(p->c.session.agency, sizeof p->c.session.agency,
		 TF_ADMIN_DEMO_AGENCY);
	copy_str(p->c.session.user, sizeof p->c.session.user, user);
	copy_str(p->c.session.device, sizeof p->c.session.device, device);
	p->c.session.created_at = now_ms;
	p->c.session.expires_at = now_ms + TF_POLICY_HOUR_MS;
	copy_str(p->c.source, sizeof p->c.source, "local");
	return 0;
}

/*
 * Queues one command; record_id NULL creates a record whose new id is
 * written to new_id (TF_UUID_LEN + 1 bytes).  args is JSON text.
 */
static int demo_cmd(demo_push *p, const char *entity, const char *record_id,
		    const char *op, const char *args, char *new_id, tf_err *err)
{
	char id[TF_UUID_LEN + 1], cmd_id[TF_UUID_LEN + 1];
	char hlc[TF_HLC_TEXT_LEN + 1];
	uint8_t rnd[20];
	tf_hlc h;

	assert(p->n < sizeof p->ops / sizeof p->ops[0]);
	if (tf_random_bytes(rnd, sizeof rnd) || tf_hlc_now(&p->clk, p->now, &h))
		return tf_err_set(err, TF_EIO, "seed-demo",
				  "random source or clock failed");
	tf_uuid7(p->now, rnd, cmd_id);
	if (record_id == NULL) {
		assert(new_id != NULL);
		tf_uuid7(p->now, rnd + 10, id);
		record_id = id;
		memcpy(new_id, id, sizeof id);
	}
	tf_hlc_format(h, hlc);
	p->seq++;
	tf_buf_printf(&p->cmds,
		      "%s{\"args\":%s,\"base\":0,\"cmd_id\":\"%s\","
		      "\"device\":\"%s\",\"entity\":\"%s\",\"hlc\":\"%s\","
		      "\"op\":\"%s\",\"record_id\":\"%s\",\"seq\":%" PRIu64
		      ",\"user\":\"%s\"}",
		      p->n ? "," : "", args, cmd_id, p->c.device.id, entity,
		      hlc, op, record_id, p->seq, p->c.user.id);
	p->ops[p->n] = op;
	p->entities[p->n] = entity;
	p->n++;
	return 0;
}

/* Pushes the queued commands; every one must come back `applied`. */
static int demo_push_send(demo_push *p, tf_err *err)
{
	tf_buf body, reply;
	tf_json *doc = NULL;
	const tf_json *res;
	size_t i;
	int rc;

	tf_buf_init(&body);
	tf_buf_init(&reply);
	tf_buf_printf(&body,
		      "{\"commands\":[%s],\"device_id\":\"%s\","
		      "\"protocol_version\":1,\"schema_version\":%" PRId64 "}",
		      tf_buf_cstr(&p->cmds), p->c.device.id,
		      p->s->schema->version);
	if (body.failed) {
		rc = tf_err_set(err, body.failed, "seed-demo", "push body: %s",
				tf_strerror(body.failed));
		goto out;
	}
	rc = tf_sync_push(p->s, &p->c, p->now, body.data, body.len, &reply,
			  err);
	if (rc)
		goto out;
	rc = tf_json_parse(reply.data, reply.len, NULL, &doc, err);
	if (rc)
		goto out;
	res = tf_json_object_get(doc, "results");
	if (res == NULL || res->type != TF_JSON_ARRAY || res->len != p->n) {
		rc = tf_err_set(err, TF_EPROTO, "seed-demo",
				"push reply for %s holds no result per "
				"command",
				p->c.device.id);
		goto out;
	}
	for (i = 0; i < p->n; i++) {
		const tf_json *r = res->u.items[i];
		const char *st = tf_json_get_str(r, "status", NULL);
		const char *msg = tf_json_get_str(r, "message", NULL);
		if (st == NULL || strcmp(st, "applied") != 0) {
			rc = tf_err_set(err, TF_EVALIDATE, "seed-demo",
					"seed command %zu (%s %s as %s) was "
					"%s: %s",
					i + 1, p->ops[i], p->entities[i],
					p->c.user.id, st ? st : "?",
					msg ? msg : "no message");
			goto out;
		}
	}
out:
	tf_json_free(doc);
	tf_buf_free(&reply);
	tf_buf_free(&body);
	return rc;
}

static void demo_push_end(demo_push *p)
{
	tf_buf_free(&p->cmds);
	tf_memzero(&p->c, sizeof p->c);
}

/* The records of DOMAIN.md's scenario at minute 0, as Dana enters them. */
static int demo_records(tf_srv *s, int64_t now, char inc[2][TF_UUID_LEN + 1],
			char unit[2][TF_UUID_LEN + 1], tf_err *err)
{
	char bolo[3][TF_UUID_LEN + 1], args[1024];
	demo_push p;
	int rc;

	rc = demo_push_begin(&p, s, "dana", "console-1", now, err);
	if (rc)
		goto out;
	if ((rc = demo_cmd(&p, "unit", NULL, "create",
			   "{\"fields\":{\"crew\":[\"alvarez\"],"
			   "\"status\":\"available\",\"status_note\":"
			   "\"Beat 2, north\"}}",
			   unit[0], err)) ||
	    (rc = demo_cmd(&p, "unit", NULL, "create",
			   "{\"fields\":{\"crew\":[\"brooks\"],"
			   "\"status\":\"available\",\"status_note\":"
			   "\"Beat 2, south\"}}",
			   unit[1], err)))
		goto out;
	snprintf(args, sizeof args,
		 "{\"fields\":{\"assigned_units\":[\"2A12\",\"2A14\"],"
		 "\"caller\":{\"name\":\"R. Ortiz\",\"phone\":\"555-0142\"},"
		 "\"location\":{\"addr\":\"1420 Harbor Blvd\",\"apt\":\"4B\","
		 "\"lat\":37.8044,\"lng\":-122.2712},\"priority\":2,"
		 "\"remarks\":\"Caller reports shouting and breaking glass "
		 "next door, unit 4B. Two adults, no weapons seen.\","
		 "\"status\":\"dispatched\",\"type_code\":\"disturbance\"}}");
	if ((rc = demo_cmd(&p, "incident", NULL, "create", args, inc[0], err)))
		goto out;
	if ((rc = demo_cmd(&p, "incident", inc[0], "append",
			   "{\"body\":{\"kind\":\"note\",\"text\":\"RP "
			   "will meet units in the lobby.\"},\"field\":"
			   "\"notes\"}",
			   NULL, err)))
		goto out;
	if ((rc = demo_cmd(&p, "incident", NULL, "create",
			   "{\"fields\":{\"location\":{\"addr\":\"Route 9 "
			   "northbound at mile 14\",\"lat\":37.8311,\"lng\":"
			   "-122.2205},\"priority\":3,\"remarks\":\"Mattress "
			   "in the right lane, vehicles swerving.\","
			   "\"status\":\"pending\",\"type_code\":"
			   "\"traffic_hazard\"}}",
			   inc[1], err)))
		goto out;
	snprintf(args, sizeof args,
		 "{\"fields\":{\"descriptors\":{\"color\":\"silver\","
		 "\"make\":\"Honda\",\"model\":\"Civic\",\"plate\":\"7ABC123\","
		 "\"plate_state\":\"CA\",\"year\":2016},\"expires_at\":%" PRId64
		 ",\"kind\":\"vehicle\",\"last_seen\":{\"addr\":\"Broadway "
		 "and 14th\",\"at\":%" PRId64 ",\"direction\":\"northbound\"},"
		 "\"reason_wanted\":\"Stolen vehicle; used in an armed "
		 "robbery. Do not approach alone.\",\"status\":\"active\"}}",
		 now + 7 * ADMIN_DAY_MS, now - 40 * TF_POLICY_MINUTE_MS);
	if ((rc = demo_cmd(&p, "bolo", NULL, "create", args, bolo[0], err)))
		goto out;
	snprintf(args, sizeof args,
		 "{\"fields\":{\"descriptors\":{\"clothing\":\"Red jacket, "
		 "blue jeans\",\"dob\":\"1948-03-02\",\"name\":\"Walter "
		 "Pruitt\",\"physical\":\"Male, 76, 5'9\\\", white hair, "
		 "walks with a cane\"},\"expires_at\":%" PRId64 ",\"kind\":"
		 "\"person\",\"last_seen\":{\"addr\":\"Lakeside Park\","
		 "\"at\":%" PRId64 "},\"reason_wanted\":\"Missing person, "
		 "dementia; may be disoriented.\",\"status\":\"active\"}}",
		 now + 3 * ADMIN_DAY_MS, now - 3 * TF_POLICY_HOUR_MS);
	if ((rc = demo_cmd(&p, "bolo", NULL, "create", args, bolo[1], err)))
		goto out;
	snprintf(args, sizeof args,
		 "{\"fields\":{\"descriptors\":{\"color\":\"black\","
		 "\"make\":\"Ford\",\"model\":\"F-150\",\"plate\":\"4XYZ789\","
		 "\"plate_state\":\"CA\"},\"expires_at\":%" PRId64 ","
		 "\"kind\":\"vehicle\",\"reason_wanted\":\"Hit and run, "
		 "property damage only.\",\"status\":\"expired\"}}",
		 now - 2 * ADMIN_DAY_MS);
	if ((rc = demo_cmd(&p, "bolo", NULL, "create", args, bolo[2], err)) ||
	    (rc = demo_push_send(&p, err)))
		goto out;
out:
	demo_push_end(&p);
	return rc;
}

/* The CAD's service account issues the incident numbers and callsigns. */
static int demo_refs(tf_srv *s, int64_t now, char inc[2][TF_UUID_LEN + 1],
		     char unit[2][TF_UUID_LEN + 1], tf_err *err)
{
	static const char *const numbers[2] = {"1234", "1240"};
	static const char *const callsigns[2] = {"2A12", "2A14"};
	const int64_t ttl = 365 * ADMIN_DAY_MS;
	char args[512];
	demo_push p;
	size_t i;
	int rc;

	rc = demo_push_begin(&p, s, "cad-bridge", "cad-bridge", now, err);
	for (i = 0; rc == 0 && i < 2; i++) {
		snprintf(args, sizeof args,
			 "{\"fields\":{\"incident_number\":{\"fetched_at\":"
			 "%" PRId64 ",\"ttl\":%" PRId64 ",\"v\":\"%s\"}}}",
			 now, ttl, numbers[i]);
		rc = demo_cmd(&p, "incident", inc[i], "ref_set", args, NULL,
			      err);
		if (rc)
			break;
		snprintf(args, sizeof args,
			 "{\"fields\":{\"callsign\":{\"fetched_at\":%" PRId64
			 ",\"ttl\":%" PRId64 ",\"v\":\"%s\"},\"type\":{"
			 "\"fetched_at\":%" PRId64 ",\"ttl\":%" PRId64
			 ",\"v\":\"patrol\"}}}",
			 now, ttl, callsigns[i], now, ttl);
		rc = demo_cmd(&p, "unit", unit[i], "ref_set", args, NULL, err);
	}
	if (rc == 0)
		rc = demo_push_send(&p, err);
	demo_push_end(&p);
	return rc;
}

typedef struct exists_ctx {
	const char *agency;
	int exists;
} exists_ctx;

static int agency_exists_txn(tf_db_txn *t, void *arg, tf_err *err)
{
	exists_ctx *x = arg;
	tf_db_agency *ag = calloc(1, sizeof *ag);
	int rc;

	if (ag == NULL)
		return tf_err_set(err, TF_ENOMEM, "agency", "out of memory");
	rc = t->ops->agency_get(t, x->agency, ag, err);
	free(ag);
	x->exists = rc == 0;
	return rc == TF_ENOTFOUND ? 0 : rc;
}

/* Writes credentials.json: what a demo client needs to log in. */
static int demo_credentials(const char *dir, char totp[][TF_DB_TOTP_MAX + 1],
			    const char *bridge_pw, tf_err *err)
{
	char path[4096];
	tf_buf b;
	size_t i;
	int rc;

	tf_buf_init(&b);
	tf_buf_puts(&b, "{\n  \"agency\": \"" TF_ADMIN_DEMO_AGENCY "\",\n"
			"  \"server\": \"" TF_ADMIN_DEMO_SERVER "\",\n"
			"  \"users\": [\n");
	for (i = 0; i < DEMO_NUSERS; i++) {
		const demo_user *u = &demo_users[i];
		const char *pw = u->password ? u->password : bridge_pw;
		tf_buf_printf(&b,
			      "    {\"device\": \"%s\", \"id\": \"%s\", "
			      "\"password\": \"%s\", \"role\": \"%s\", "
			      "\"totp_secret\": \"%s\", \"unit\": ",
			      u->device, u->id, pw, u->role, totp[i]);
		if (u->unit)
			tf_buf_printf(&b, "\"%s\"}", u->unit);
		else
			tf_buf_puts(&b, "null}");
		tf_buf_puts(&b, i + 1 < DEMO_NUSERS ? ",\n" : "\n");
	}
	tf_buf_puts(&b, "  ]\n}\n");
	snprintf(path, sizeof path, "%s/credentials.json", dir);
	if (b.failed)
		rc = tf_err_set(err, b.failed, path, "%s: %s", path,
				tf_strerror(b.failed));
	else
		rc = write_private(path, b.data, b.len, err);
	tf_memzero(b.data, b.cap);
	tf_buf_free(&b);
	return rc;
}

/* A device key: generated, its PEM saved 0600, its public half encoded. */
static int demo_device_key(const char *dir, const char *id, char *pub_b64,
			   size_t cap, tf_err *err)
{
	uint8_t pub[TF_ED25519_PUB_LEN];
	char path[4096];
	tf_sigkey *k = NULL;
	int rc;

	snprintf(path, sizeof path, "%s/devices/%s.pem", dir, id);
	if (tf_sigkey_generate(&k) || tf_sigkey_public(k, pub) ||
	    tf_b64url_encode(pub, sizeof pub, pub_b64, cap)) {
		rc = tf_err_set(err, TF_EIO, id,
				"cannot generate the key of device %s", id);
		goto out;
	}
	if (unlink(path) != 0 && errno != ENOENT) {
		rc = tf_err_set(err, TF_EIO, path, "cannot replace %s: %s",
				path, strerror(errno));
		goto out;
	}
	rc = tf_sigkey_save_pem(k, path, err);
	if (rc == 0 && chmod(path, 0600) != 0)
		rc = tf_err_set(err, TF_EIO, path, "cannot chmod %s: %s", path,
				strerror(errno));
out:
	tf_sigkey_free(k);
	return rc;
}

int tf_admin_seed_demo(tf_srv *s, const char *out_dir, int64_t now_ms,
		       FILE *report, tf_err *err)
{
	char totp[DEMO_NUSERS][TF_DB_TOTP_MAX + 1];
	char inc[2][TF_UUID_LEN + 1], unit[2][TF_UUID_LEN + 1];
	char pub[TF_DB_PUBKEY_MAX + 1], path[4096], bridge_pw[32];
	uint8_t rnd[18];
	tf_admin_actor a;
	exists_ctx x;
	size_t i;
	int rc;

	assert(s != NULL && s->db != NULL && out_dir != NULL);
	memset(totp, 0, sizeof totp);
	x.agency = TF_ADMIN_DEMO_AGENCY;
	x.exists = 0;
	if ((rc = tf_db_read(s->db, agency_exists_txn, &x, err)))
		return rc;
	if (x.exists)
		return tf_err_set(err, TF_EEXIST, "agency",
				  "agency \"%s\" already exists: seed-demo "
				  "runs once, on a fresh database (remove "
				  "the data directory to start over)",
				  TF_ADMIN_DEMO_AGENCY);
	snprintf(path, sizeof path, "%s/devices", out_dir);
	if ((rc = mkdir_p(path, err)))
		return rc;
	if (tf_random_bytes(rnd, sizeof rnd) ||
	    tf_b64url_encode(rnd, sizeof rnd, bridge_pw, sizeof bridge_pw))
		return tf_err_set(err, TF_EIO, "seed-demo",
				  "random source failed");

	memset(&a, 0, sizeof a);
	a.agency = TF_ADMIN_DEMO_AGENCY;
	a.user = "system";
	a.source = "local";
	a.where = "tenfourd admin seed-demo";
	rc = tf_admin_agency_init(s, &a, TF_ADMIN_DEMO_AGENCY,
				  "Demo County Police Department", now_ms, err);
	for (i = 0; rc == 0 && i < DEMO_NDEVICES; i++) {
		rc = demo_device_key(out_dir, demo_devices[i].id, pub,
				     sizeof pub, err);
		if (rc == 0)
			rc = tf_admin_device_enroll(s, &a, demo_devices[i].id,
						    demo_devices[i].label, pub,
						    now_ms, err);
	}
	for (i = 0; rc == 0 && i < DEMO_NUSERS; i++) {
		const demo_user *u = &demo_users[i];
		const char *roles[2];
		roles[0] = u->role;
		roles[1] = u->role2;
		rc = tf_admin_user_add(s, &a, u->id, u->name, roles,
				       u->role2 ? 2 : 1, u->unit,
				       u->password ? u->password : bridge_pw,
				       now_ms, totp[i], err);
	}
	if (rc == 0)
		rc = demo_records(s, now_ms, inc, unit, err);
	if (rc == 0)
		rc = demo_refs(s, now_ms, inc, unit, err);
	if (rc == 0)
		rc = demo_credentials(out_dir, totp, bridge_pw, err);
	if (rc == 0 && report) {
		fprintf(report,
			"Seeded agency \"%s\" (Demo County Police "
			"Department)\n\n"
			"  %-11s %-11s %-5s %-11s %-26s %s\n",
			TF_ADMIN_DEMO_AGENCY, "user", "role", "unit", "device",
			"password", "TOTP secret");
		for (i = 0; i < DEMO_NUSERS; i++) {
			const demo_user *u = &demo_users[i];
			fprintf(report, "  %-11s %-11s %-5s %-11s %-26s %s\n",
				u->id, u->role, u->unit ? u->unit : "-",
				u->device,
				u->password ? u->password : bridge_pw, totp[i]);
		}
		fprintf(report,
			"\n  records: units 2A12 and 2A14 (available); "
			"incident #1234 Disturbance (P2, 2A12 + 2A14);\n"
			"           incident #1240 Traffic hazard (P3, "
			"unassigned); 2 active BOLOs, 1 expired\n"
			"  device keys: %s/devices/<device>.pem\n"
			"  credentials: %s/credentials.json\n",
			out_dir, out_dir);
	}
	tf_memzero(totp, sizeof totp);
	tf_memzero(bridge_pw, sizeof bridge_pw);
	return rc;
}

/* ------------------------------------------------------------ CLI */

#define ADMIN_EXIT_OK 0
#define ADMIN_EXIT_FAIL 1
#define ADMIN_EXIT_USAGE 2

static const char admin_usage[] =
	"usage: tenfourd admin [--config PATH] [--data-dir DIR | --db DSN]\n"
	"                      [--schema PATH] [--agency ID] [--as USER]\n"
	"                      <command> ...\n"
	"commands:\n"
	"  init-agency ID NAME\n"
	"  user-add ID --name NAME --roles R1,R2 [--unit UNIT]\n"
	"           [--password-file FILE]   (else the password is read "
	"from stdin)\n"
	"  user-disable ID | user-enable ID | user-release ID\n"
	"  user-set-unit ID UNIT|-\n"
	"  user-list\n"
	"  sessions-revoke USER\n"
	"  device-enroll ID --label LABEL (--pubkey B64URL | --pubkey-pem "
	"FILE)\n"
	"  device-revoke ID\n"
	"  device-list\n"
	"  policy-set '<json>' | policy-show\n"
	"  banner-set                       (banner text from stdin)\n"
	"  audit-verify [--system]          (exit 0 intact, 1 tampered)\n"
	"  audit-export [--from N] [--system]  (JSON lines to stdout)\n"
	"  (audit-*: the agency's own chain, or with --system the chain of\n"
	"   events that belong to no agency)\n"
	"  totp-code USER                   (local operator aid for demos "
	"and tests)\n"
	"  seed-demo [--out DIR]\n"
	"The database and schema follow the daemon's rules (--config file, "
	"then\nTENFOURD_* environment, then flags); TENFOURD_AGENCY names the "
	"agency.\n"
	"defaults: --data-dir /var/lib/tenfourd, --db "
	"sqlite:<data-dir>/tenfourd.db,\n"
	"          --schema /usr/share/tenfour/cad.json, else "
	"./schemas/cad.json\n";

typedef struct admin_cli {
	const char *cmd;
	const char *data_dir, *dsn, *schema_path, *agency_opt, *as;
	int dsn_from_dir;
	tf_config cfg; /* the daemon's option rules: file, environment */
	char where[TF_AUDIT_WHERE_MAX + 1];
	char agency[TF_ID_MAX + 1];
	/* the audit chain the command reads and audits its reading in:
	   agency, or NULL for the system chain (audit-* --system) */
	const char *chain;
	int system_chain;
	char role[TF_NAME_MAX + 1];
	tf_schema *schema;
	tf_srv srv;
	int opened;
	tf_admin_actor actor;
	tf_err err;
} admin_cli;

static int64_t admin_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int usage_error(const admin_cli *cli, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

/* Prints what is wrong with the command line and the usage; exit 2. */
static int usage_error(const admin_cli *cli, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tenfourd admin%s%s: ", cli->cmd ? " " : "",
		cli->cmd ? cli->cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", admin_usage);
	return ADMIN_EXIT_USAGE;
}

/* Prints the error of a failed operation, naming the database. */
static int fail(const admin_cli *cli)
{
	fprintf(stderr, "tenfourd admin %s: %s (database %s)\n", cli->cmd,
		cli->err.msg[0] ? cli->err.msg : tf_strerror(cli->err.code),
		cli->dsn);
	return ADMIN_EXIT_FAIL;
}

typedef struct actor_ctx {
	const char *agency, *user;
	tf_db_user u;
} actor_ctx;

static int actor_txn(tf_db_txn *t, void *arg, tf_err *err)
{
	actor_ctx *x = arg;

	return get_user(t, x->agency, x->user, &x->u, err);
}

typedef struct meta_ctx {
	const char *key;
	char *val;
	size_t len;
} meta_ctx;

static int meta_txn(tf_db_txn *t, void *arg, tf_err *err)
{
	meta_ctx *m = arg;
	int rc = t->ops->meta_get(t, m->key, &m->val, &m->len, err);

	return rc == TF_ENOTFOUND ? 0 : rc;
}

/*
 * The agency the command works on: --agency, TENFOURD_AGENCY, else the
 * first agency init-agency created in this database.
 */
static int cli_agency(admin_cli *cli)
{
	const char *a = cli->agency_opt;
	meta_ctx m;
	int rc;

	if (cli->agency[0])
		return 0;
	if (a == NULL)
		a = getenv("TENFOURD_AGENCY");
	if (a && *a) {
		if ((rc = check_id("agency", a, &cli->err)))
			return rc;
		copy_str(cli->agency, sizeof cli->agency, a);
		return 0;
	}
	memset(&m, 0, sizeof m);
	m.key = "admin.default_agency";
	rc = tf_db_read(cli->srv.db, meta_txn, &m, &cli->err);
	if (rc == 0 && (m.val == NULL || m.len == 0 || m.len > TF_ID_MAX))
		rc = tf_err_set(&cli->err, TF_ENOTFOUND, "agency",
				"no agency given and none initialized: pass "
				"--agency ID (or run init-agency first)");
	if (rc == 0 && m.val != NULL) {
		memcpy(cli->agency, m.val, m.len);
		cli->agency[m.len] = '\0';
	}
	free(m.val);
	return rc;
}

/*
 * Opens the database and the schema and loads the server identity, then
 * resolves the acting user: --as USER (who must hold one of the roles in
 * `need`, a NULL-terminated list) or "system".  need_agency: the command
 * works on one agency.
 */
static int cli_open(admin_cli *cli, int need_agency, const char *const *need)
{
	tf_buf text;
	actor_ctx *x = NULL;
	size_t i, j;
	int rc;

	tf_buf_init(&text);
	rc = read_file(cli->schema_path, ADMIN_FILE_MAX, &text, &cli->err);
	if (rc == 0)
		rc = tf_schema_load(text.data, text.len, &cli->schema,
				    &cli->err);
	tf_buf_free(&text);
	if (rc) {
		if (strstr(cli->err.msg, cli->schema_path) == NULL) {
			char m[sizeof cli->err.msg];
			memcpy(m, cli->err.msg, sizeof m);
			tf_err_set(&cli->err, rc, "schema", "schema %s: %s",
				   cli->schema_path, m);
		}
		return rc;
	}
	if (cli->dsn_from_dir && (rc = mkdir_p(cli->data_dir, &cli->err)))
		return rc;
	memset(&cli->srv, 0, sizeof cli->srv);
	cli->srv.schema = cli->schema;
	cli->srv.max_skew_ms = TF_DEFAULT_MAX_SKEW_MS;
	cli->srv.totp_window = 1;
	cli->srv.pbkdf2_iter = cli->cfg.pbkdf2_iter;
	cli->srv.node = "tenfourd-admin";
	rc = tf_db_open(cli->dsn, NULL, &cli->srv.db, &cli->err);
	if (rc)
		return rc;
	cli->opened = 1;
	if ((rc = tf_srv_init_identity(&cli->srv, &cli->err)))
		return rc;
	if ((need_agency || cli->as) && (rc = cli_agency(cli)))
		return rc;
	cli->actor.agency = cli->agency[0] ? cli->agency : NULL;
	cli->actor.user = "system";
	cli->actor.role = NULL;
	cli->actor.source = "local";
	cli->actor.where = cli->where;
	cli->actor.device = NULL;
	if (cli->as == NULL)
		return 0;
	if ((rc = check_id("--as", cli->as, &cli->err)))
		return rc;
	x = calloc(1, sizeof *x);
	if (x == NULL)
		return tf_err_set(&cli->err, TF_ENOMEM, "--as",
				  "out of memory");
	x->agency = cli->agency;
	x->user = cli->as;
	rc = tf_db_read(cli->srv.db, actor_txn, x, &cli->err);
	if (rc == 0 && x->u.disabled)
		rc = tf_err_set(&cli->err, TF_EPERM, "--as",
				"--as %s: the account is disabled", cli->as);
	for (i = 0; rc == 0 && need[i] && cli->role[0] == '\0'; i++)
		for (j = 0; j < x->u.nroles; j++)
			if (strcmp(x->u.roles[j], need[i]) == 0)
				copy_str(cli->role, sizeof cli->role, need[i]);
	if (rc == 0 && cli->role[0] == '\0')
		rc = tf_err_set(&cli->err, TF_EPERM, "--as",
				"--as %s: the user does not hold the %s role "
				"this command needs",
				cli->as, need[0]);
	tf_memzero(x, sizeof *x);
	free(x);
	if (rc)
		return rc;
	cli->actor.user = cli->as;
	cli->actor.role = cli->role;
	return 0;
}

static const char *const need_admin[] = {"admin", NULL};
static const char *const need_audit[] = {"auditor", "admin", NULL};

static void cli_close(admin_cli *cli)
{
	if (cli->opened) {
		tf_srv_fini(&cli->srv);
		tf_db_close(cli->srv.db);
	}
	tf_schema_free(cli->schema);
	cli->opened = 0;
	cli->schema = NULL;
}

/* `--name value` at argv[*i]: takes it into *val (usage error if absent). */
static int opt_value(admin_cli *cli, int argc, char **argv, int *i,
		     const char **val)
{
	if (*i + 1 >= argc)
		return usage_error(cli, "%s needs a value", argv[*i]);
	*val = argv[*i + 1];
	*i += 2;
	return 0;
}

/* Reads one line (without its newline) of a secret, at most max bytes. */
static int read_line(FILE *f, const char *what, char *out, size_t cap,
		     tf_err *err)
{
	size_t n;

	if (fgets(out, (int)cap, f) == NULL)
		return tf_err_set(err, TF_EMISSING, what, "%s: nothing to read",
				  what);
	n = strlen(out);
	if (n && out[n - 1] == '\n')
		out[--n] = '\0';
	else if (n + 1 >= cap)
		return tf_err_set(err, TF_ELIMIT, what,
				  "%s: longer than %zu bytes", what, cap - 2);
	if (n && out[n - 1] == '\r')
		out[--n] = '\0';
	return 0;
}

/* The new user's password: --password-file, else stdin (no echo on a tty). */
static int read_password(const char *file, const char *user, char *out,
			 size_t cap, tf_err *err)
{
	struct termios old, quiet;
	int tty, rc;
	FILE *f;

	if (file) {
		f = fopen(file, "r");
		if (f == NULL)
			return tf_err_set(err, TF_EIO, file,
					  "cannot read %s: %s", file,
					  strerror(errno));
		rc = read_line(f, file, out, cap, err);
		fclose(f);
		return rc;
	}
	tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	if (tty) {
		fprintf(stderr, "Password for %s: ", user);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	rc = read_line(stdin, "password (stdin)", out, cap, err);
	if (tty) {
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	return rc;
}

/* Percent-encodes an otpauth label part (RFC 3986 unreserved kept). */
static void uri_part(FILE *out, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
		    ch == '_' || ch == '~')
			fputc(ch, out);
		else
			fprintf(out, "%%%02X", ch);
	}
}

static int cmd_init_agency(admin_cli *cli, int argc, char **argv)
{
	if (argc != 3)
		return usage_error(cli, "needs ID NAME");
	if (cli_open(cli, 0, need_admin))
		return fail(cli);
	if (tf_admin_agency_init(&cli->srv, &cli->actor, argv[1], argv[2],
				 admin_now_ms(), &cli->err))
		return fail(cli);
	printf("agency %s (%s) initialized with the default CJIS policy and "
	       "banner\n",
	       argv[1], argv[2]);
	return ADMIN_EXIT_OK;
}

/* Splits "r1,r2" into roles (at most TF_POLICY_MAX_ROLES). */
static size_t split_roles(char *list, const char **roles)
{
	size_t n = 0;
	char *p = list, *c;

	while (p && *p && n < TF_POLICY_MAX_ROLES + 1) {
		c = strchr(p, ',');
		if (c)
			*c = '\0';
		roles[n++] = p;
		p = c ? c + 1 : NULL;
	}
	return n;
}

static int cmd_user_add(admin_cli *cli, int argc, char **argv)
{
	const char *id = NULL, *name = NULL, *roles_s = NULL, *unit = NULL;
	const char *pwfile = NULL, *roles[TF_POLICY_MAX_ROLES + 1];
	char pw[TF_PASSPHRASE_MAX + 2], totp[TF_DB_TOTP_MAX + 1];
	char rolebuf[1024];
	size_t nroles;
	int i = 1, rc = 0, status;

	while (i < argc && rc == 0) {
		if (strcmp(argv[i], "--name") == 0)
			rc = opt_value(cli, argc, argv, &i, &name);
		else if (strcmp(argv[i], "--roles") == 0)
			rc = opt_value(cli, argc, argv, &i, &roles_s);
		else if (strcmp(argv[i], "--unit") == 0)
			rc = opt_value(cli, argc, argv, &i, &unit);
		else if (strcmp(argv[i], "--password-file") == 0)
			rc = opt_value(cli, argc, argv, &i, &pwfile);
		else if (argv[i][0] == '-' || id)
			return usage_error(cli, "unexpected argument %s",
					   argv[i]);
		else
			id = argv[i++];
	}
	if (rc)
		return rc;
	if (id == NULL || name == NULL || roles_s == NULL)
		return usage_error(cli, "needs ID --name NAME --roles R1,R2");
	if (strlen(roles_s) >= sizeof rolebuf)
		return usage_error(cli, "--roles is too long");
	memcpy(rolebuf, roles_s, strlen(roles_s) + 1);
	nroles = split_roles(rolebuf, roles);
	if (cli_open(cli, 1, need_admin) ||
	    read_password(pwfile, id, pw, sizeof pw, &cli->err))
		return fail(cli);
	rc = tf_admin_user_add(&cli->srv, &cli->actor, id, name, roles, nroles,
			       unit, pw, admin_now_ms(), totp, &cli->err);
	tf_memzero(pw, sizeof pw);
	if (rc)
		return fail(cli);
	printf("user %s added to agency %s\n", id, cli->agency);
	printf("TOTP secret: %s\n", totp);
	printf("otpauth://totp/tenfour:");
	uri_part(stdout, id);
	printf("%%40");
	uri_part(stdout, cli->agency);
	printf("?secret=%s&issuer=tenfour&algorithm=SHA1&digits=%d&period=%d"
	       "\n",
	       totp, TF_TOTP_DIGITS, TF_TOTP_STEP_S);
	status = ADMIN_EXIT_OK;
	tf_memzero(totp, sizeof totp);
	return status;
}

/* user-disable, user-enable, user-release, user-set-unit, sessions-revoke,
   device-revoke: one id (and a unit). */
static int cmd_one_id(admin_cli *cli, int argc, char **argv)
{
	const char *c = cli->cmd;
	int64_t now = admin_now_ms();
	int set_unit = strcmp(c, "user-set-unit") == 0;
	uint64_t n = 0;
	int rc;

	if (argc != (set_unit ? 3 : 2))
		return usage_error(cli, "%s",
				   set_unit ? "needs ID UNIT|-"
					    : "needs exactly one ID");
	if (cli_open(cli, 1, need_admin))
		return fail(cli);
	if (strcmp(c, "user-disable") == 0)
		rc = tf_admin_user_disable(&cli->srv, &cli->actor, argv[1], 1,
					   now, &cli->err);
	else if (strcmp(c, "user-enable") == 0)
		rc = tf_admin_user_disable(&cli->srv, &cli->actor, argv[1], 0,
					   now, &cli->err);
	else if (strcmp(c, "user-release") == 0)
		rc = tf_admin_user_release(&cli->srv, &cli->actor, argv[1], now,
					   &cli->err);
	else if (set_unit)
		rc = tf_admin_user_set_unit(&cli->srv, &cli->actor, argv[1],
					    argv[2], now, &cli->err);
	else if (strcmp(c, "sessions-revoke") == 0)
		rc = tf_admin_sessions_revoke(&cli->srv, &cli->actor, argv[1],
					      now, &n, &cli->err);
	else
		rc = tf_admin_device_revoke(&cli->srv, &cli->actor, argv[1],
					    now, &cli->err);
	if (rc)
		return fail(cli);
	if (strcmp(c, "sessions-revoke") == 0)
		printf("%s: %" PRIu64 " session(s) revoked\n", argv[1], n);
	else if (strcmp(c, "device-revoke") == 0)
		printf("device %s revoked: its sessions are revoked; at its "
		       "next contact it is refused with device_revoked and "
		       "told to wipe\n",
		       argv[1]);
	else
		printf("%s: done (%s)\n", argv[1], c);
	return ADMIN_EXIT_OK;
}

/* The raw Ed25519 public key of a PEM file (public or private key). */
static int pem_pubkey(const char *path, char *out, size_t cap, tf_err *err)
{
	/* SubjectPublicKeyInfo of an Ed25519 key, before the 32 key bytes
	   (RFC 8410 section 4). */
	static const uint8_t spki[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
					 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
	static const char begin[] = "-----BEGIN PUBLIC KEY-----";
	static const char end[] = "-----END PUBLIC KEY-----";
	uint8_t der[64], pub[TF_ED25519_PUB_LEN];
	tf_sigkey *k = NULL;
	const char *b, *e, *p;
	char b64[128];
	size_t n = 0, dn = 0;
	tf_buf text;
	int rc;

	tf_buf_init(&text);
	rc = read_file(path, (size_t)64 * 1024, &text, err);
	if (rc)
		goto out;
	b = strstr(tf_buf_cstr(&text), begin);
	if (b == NULL) {
		/* A private key file: derive its public half. */
		rc = tf_sigkey_from_pem(text.data, text.len, &k, err);
		if (rc == 0 && tf_sigkey_public(k, pub))
			rc = TF_EINVAL;
		if (rc) {
			rc = tf_err_set(err, TF_EVALIDATE, path,
					"%s holds neither an Ed25519 public "
					"key nor an Ed25519 private key",
					path);
			goto out;
		}
	} else {
		b += sizeof begin - 1;
		e = strstr(b, end);
		/* base64 -> base64url, without padding and line breaks */
		for (p = b; e && p < e && n < sizeof b64 - 1; p++) {
			if (*p == '+')
				b64[n++] = '-';
			else if (*p == '/')
				b64[n++] = '_';
			else if (*p != '=' && *p != '\n' && *p != '\r' &&
				 *p != ' ')
				b64[n++] = *p;
		}
		if (e == NULL || p < e ||
		    tf_b64url_decode(b64, n, der, sizeof der, &dn) ||
		    dn != sizeof spki + sizeof pub ||
		    memcmp(der, spki, sizeof spki) != 0) {
			rc = tf_err_set(err, TF_EVALIDATE, path,
					"%s: not an Ed25519 public key "
					"(PEM SubjectPublicKeyInfo)",
					path);
			goto out;
		}
		memcpy(pub, der + sizeof spki, sizeof pub);
	}
	if (tf_b64url_encode(pub, sizeof pub, out, cap))
		rc = tf_err_set(err, TF_ELIMIT, path, "key encoding too long");
out:
	tf_sigkey_free(k);
	tf_buf_free(&text);
	return rc;
}

static int cmd_device_enroll(admin_cli *cli, int argc, char **argv)
{
	const char *id = NULL, *label = NULL, *pub = NULL, *pem = NULL;
	char pubbuf[TF_DB_PUBKEY_MAX + 1];
	int i = 1, rc = 0;

	while (i < argc && rc == 0) {
		if (strcmp(argv[i], "--label") == 0)
			rc = opt_value(cli, argc, argv, &i, &label);
		else if (strcmp(argv[i], "--pubkey") == 0)
			rc = opt_value(cli, argc, argv, &i, &pub);
		else if (strcmp(argv[i], "--pubkey-pem") == 0)
			rc = opt_value(cli, argc, argv, &i, &pem);
		else if (argv[i][0] == '-' || id)
			return usage_error(cli, "unexpected argument %s",
					   argv[i]);
		else
			id = argv[i++];
	}
	if (rc)
		return rc;
	if (id == NULL || label == NULL || (pub == NULL) == (pem == NULL))
		return usage_error(cli,
				   "needs ID --label LABEL and one of --pubkey "
				   "B64URL or --pubkey-pem FILE");
	if (pem) {
		if (pem_pubkey(pem, pubbuf, sizeof pubbuf, &cli->err))
			return fail(cli);
		pub = pubbuf;
	}
	if (cli_open(cli, 1, need_admin) ||
	    tf_admin_device_enroll(&cli->srv, &cli->actor, id, label, pub,
				   admin_now_ms(), &cli->err))
		return fail(cli);
	printf("device %s enrolled in agency %s (public key %s)\n", id,
	       cli->agency, pub);
	return ADMIN_EXIT_OK;
}

typedef struct list_ctx {
	const char *agency;
	int devices;
	size_t n;
} list_ctx;

static void print_time(int64_t ms)
{
	char buf[32];
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || gmtime_r(&t, &tm) == NULL) {
		printf("-");
		return;
	}
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%s", buf);
}

static int list_txn(tf_db_txn *t, void *arg, tf_err *err)
{
	list_ctx *l = arg;
	tf_buf ids;
	tf_db_user *u = NULL;
	tf_db_device d;
	char *p, *nl;
	size_t i;
	int rc;

	tf_buf_init(&ids);
	rc = index_get(t, l->devices ? "devices" : "users", l->agency, &ids,
		       err);
	if (rc)
		goto out;
	u = calloc(1, sizeof *u);
	if (u == NULL) {
		rc = tf_err_set(err, TF_ENOMEM, "list", "out of memory");
		goto out;
	}
	if (l->devices)
		printf("%-20s %-9s %-20s %-20s %s\n", "device", "status",
		       "enrolled", "revoked", "label");
	else
		printf("%-20s %-22s %-6s %-8s %s\n", "user", "roles", "unit",
		       "state", "name");
	for (p = (char *)tf_buf_cstr(&ids); *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (nl == NULL)
			break;
		*nl = '\0';
		if (l->devices) {
			rc = t->ops->device_get(t, l->agency, p, &d, err);
			if (rc)
				goto out;
			printf("%-20s %-9s ", d.id,
			       d.status == TF_DEV_ENROLLED  ? "enrolled"
			       : d.status == TF_DEV_REVOKED ? "revoked"
							    : "wiped");
			print_time(d.enrolled_at);
			printf("%*s", 1, "");
			print_time(d.revoked_at);
			printf("%*s%s\n", d.revoked_at ? 1 : 20, "", d.label);
		} else {
			char roles[TF_POLICY_MAX_ROLES * (TF_NAME_MAX + 1)];
			size_t off = 0;
			rc = t->ops->user_get(t, l->agency, p, u, err);
			if (rc)
				goto out;
			roles[0] = '\0';
			for (i = 0; i < u->nroles; i++)
				off += (size_t)snprintf(
					roles + off, sizeof roles - off, "%s%s",
					i ? "," : "", u->roles[i]);
			printf("%-20s %-22s %-6s %-8s %s\n", u->id, roles,
			       u->unit[0] ? u->unit : "-",
			       u->disabled	   ? "disabled"
			       : u->lockout.locked ? "locked"
						   : "active",
			       u->name);
		}
		l->n++;
	}
out:
	if (u)
		tf_memzero(u, sizeof *u);
	free(u);
	tf_buf_free(&ids);
	return rc;
}

static int cmd_list(admin_cli *cli, int argc, char **argv)
{
	list_ctx l;

	(void)argv;
	if (argc != 1)
		return usage_error(cli, "takes no arguments");
	if (cli_open(cli, 1, need_admin))
		return fail(cli);
	l.agency = cli->agency;
	l.devices = strcmp(cli->cmd, "device-list") == 0;
	l.n = 0;
	if (tf_db_read(cli->srv.db, list_txn, &l, &cli->err))
		return fail(cli);
	return ADMIN_EXIT_OK;
}

static int cmd_policy_set(admin_cli *cli, int argc, char **argv)
{
	if (argc != 2)
		return usage_error(cli, "needs one JSON object argument");
	if (cli_open(cli, 1, need_admin) ||
	    tf_admin_policy_set(&cli->srv, &cli->actor, argv[1], admin_now_ms(),
				&cli->err))
		return fail(cli);
	printf("policy of agency %s updated\n", cli->agency);
	return ADMIN_EXIT_OK;
}

typedef struct agency_ctx {
	const char *id;
	tf_db_agency ag;
} agency_ctx;

static int agency_read_txn(tf_db_txn *t, void *arg, tf_err *err)
{
	agency_ctx *x = arg;

	return get_agency(t, x->id, &x->ag, err);
}

static int cmd_policy_show(admin_cli *cli, int argc, char **argv)
{
	agency_ctx *x;
	tf_buf b;
	int rc;

	(void)argv;
	if (argc != 1)
		return usage_error(cli, "takes no arguments");
	if (cli_open(cli, 1, need_admin))
		return fail(cli);
	x = calloc(1, sizeof *x);
	if (x == NULL)
		return fail(cli);
	x->id = cli->agency;
	tf_buf_init(&b);
	rc = tf_db_read(cli->srv.db, agency_read_txn, x, &cli->err);
	if (rc == 0 && tf_agency_policy_write(&x->ag.policy, &b))
		rc = tf_err_set(&cli->err, TF_ENOMEM, "policy",
				"out of memory");
	if (rc == 0)
		printf("%s\n", tf_buf_cstr(&b));
	tf_buf_free(&b);
	free(x);
	return rc ? fail(cli) : ADMIN_EXIT_OK;
}

static int cmd_banner_set(admin_cli *cli, int argc, char **argv)
{
	char *text;
	size_t n = 0, r, i, o;
	int rc;

	(void)argv;
	if (argc != 1)
		return usage_error(cli, "reads the banner from stdin and takes "
					"no arguments");
	text = malloc(TF_DB_BANNER_MAX + 2);
	if (text == NULL)
		return fail(cli);
	while (n < TF_DB_BANNER_MAX + 1 &&
	       (r = fread(text + n, 1, TF_DB_BANNER_MAX + 1 - n, stdin)) > 0)
		n += r;
	text[n] = '\0';
	/* CRLF -> LF, then no trailing line breaks */
	for (i = o = 0; i < n; i++)
		if (!(text[i] == '\r' && i + 1 < n && text[i + 1] == '\n'))
			text[o++] = text[i];
	while (o && (text[o - 1] == '\n' || text[o - 1] == '\r'))
		o--;
	text[o] = '\0';
	if (memchr(text, '\0', o) != NULL) {
		free(text);
		tf_err_set(&cli->err, TF_EVALIDATE, "banner",
			   "banner holds a NUL byte");
		return fail(cli);
	}
	rc = cli_open(cli, 1, need_admin);
	if (rc == 0)
		rc = tf_admin_banner_set(&cli->srv, &cli->actor, text,
					 admin_now_ms(), &cli->err);
	free(text);
	if (rc)
		return fail(cli);
	printf("banner of agency %s updated: users acknowledge it again at "
	       "their next login\n",
	       cli->agency);
	return ADMIN_EXIT_OK;
}

/* Entries held per verified segment of the server's log. */
#define ADMIN_VERIFY_SEGMENT ((size_t)65536)

typedef struct seg_ctx {
	const char *agency; /* the chain: an id or "" */
	uint64_t from;
	tf_audit_blob *blobs;
	size_t n, cap;
	FILE *out; /* export: write lines here instead of collecting */
	uint64_t last_seq;
	int io_error;
} seg_ctx;

static int seg_fn(void *arg, const tf_db_audit *a)
{
	seg_ctx *g = arg;
	char *copy;

	g->last_seq = a->seq;
	if (g->out) {
		if (fwrite(a->bytes, 1, a->len, g->out) != a->len ||
		    fputc('\n', g->out) == EOF) {
			g->io_error = 1;
			return 1;
		}
		g->n++;
		return 0;
	}
	assert(g->n < g->cap);
	copy = malloc(a->len ? a->len : 1);
	if (copy == NULL)
		return TF_ENOMEM;
	memcpy(copy, a->bytes, a->len);
	g->blobs[g->n].bytes = copy;
	g->blobs[g->n].len = a->len;
	memcpy(g->blobs[g->n].hash, a->hash, sizeof a->hash);
	g->n++;
	return 0;
}

static int seg_txn(tf_db_txn *t, void *arg, tf_err *err)
{
	seg_ctx *g = arg;

	return t->ops->audit_scan(t, g->agency, g->from, g->out ? 1000 : g->cap,
				  seg_fn, g, err);
}

static void seg_clear(seg_ctx *g)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		free((void *)g->blobs[i].bytes);
	g->n = 0;
}

typedef struct self_ctx {
	admin_cli *cli;
	tf_audit_type type;
	tf_json *d;
	int drc;
} self_ctx;

static int audit_self_txn(tf_db_txn *t, void *arg, tf_err *err)
{
	self_ctx *x = arg;
	tf_json *d = x->d;

	x->d = NULL; /* admin_audit takes it */
	return admin_audit(t, &x->cli->actor, x->cli->chain, x->type, NULL, d,
			   x->drc, admin_now_ms(), err);
}

/* Appends the audit_read / audit_export entry of the command itself
   (takes ownership of d). */
static int audit_self(admin_cli *cli, tf_audit_type type, tf_json *d, int drc)
{
	self_ctx x;
	int rc;

	x.cli = cli;
	x.type = type;
	x.d = d;
	x.drc = drc;
	rc = tf_db_write(cli->srv.db, audit_self_txn, &x, &cli->err);
	tf_json_free(x.d); /* not run (the write failed before the fn) */
	return rc;
}

/*
 * Opens the database for audit-verify/-export and picks the chain: the
 * agency's (--agency, TENFOURD_AGENCY or the first initialized), or with
 * --system the system chain.
 */
static int cli_open_chain(admin_cli *cli)
{
	int rc = cli_open(cli, !cli->system_chain || cli->as != NULL,
			  need_audit);

	if (rc)
		return rc;
	cli->chain = cli->system_chain ? NULL : cli->agency;
	return 0;
}

/*
 * audit-verify: one chain of the server log in segments, each anchored on
 * the last hash of the one before (the first on seq 1 and the genesis
 * prev).
 */
static int cmd_audit_verify(admin_cli *cli, int argc, char **argv)
{
	tf_audit_anchor anc;
	tf_audit_report rep;
	seg_ctx g;
	uint64_t total = 0;
	tf_json *d;
	int i, rc, ok = 1, drc = 0, status;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--system") == 0)
			cli->system_chain = 1;
		else
			return usage_error(cli, "unexpected argument %s",
					   argv[i]);
	}
	if (cli_open_chain(cli))
		return fail(cli);
	memset(&g, 0, sizeof g);
	g.agency = cli->chain ? cli->chain : "";
	memset(&anc, 0, sizeof anc);
	memset(&rep, 0, sizeof rep);
	g.cap = ADMIN_VERIFY_SEGMENT;
	g.blobs = calloc(g.cap, sizeof *g.blobs);
	if (g.blobs == NULL) {
		tf_err_set(&cli->err, TF_ENOMEM, "audit", "out of memory");
		return fail(cli);
	}
	anc.has_first = 1;
	anc.first_seq = 1; /* first_prev: the genesis, all zero bytes */
	g.from = 1;
	for (;;) {
		seg_clear(&g);
		rc = tf_db_read(cli->srv.db, seg_txn, &g, &cli->err);
		if (rc || g.n == 0)
			break;
		rc = tf_audit_verify(g.blobs, g.n, &anc, &rep);
		if (rc == TF_EVALIDATE) {
			ok = 0;
			rc = 0;
			rep.index += (size_t)total;
			break;
		}
		if (rc) {
			tf_err_set(&cli->err, rc, "audit",
				   "audit verification failed: %s",
				   tf_strerror(rc));
			break;
		}
		total += g.n;
		anc.first_seq = g.last_seq + 1;
		memcpy(anc.first_prev, g.blobs[g.n - 1].hash,
		       sizeof anc.first_prev);
		if (g.n < g.cap)
			break;
		g.from = g.last_seq + 1;
	}
	seg_clear(&g);
	free(g.blobs);
	if (rc)
		return fail(cli);
	if (ok) {
		char hex[TF_AUDIT_PREV_LEN + 1];
		tf_hex_encode(anc.first_prev, sizeof anc.first_prev, hex);
		printf("audit log of %s intact: %" PRIu64 " entries verified",
		       cli->chain ? cli->chain : "the system chain", total);
		if (total)
			printf(", head seq %" PRIu64 " hash %s",
			       anc.first_seq - 1, hex);
		printf("\n");
	} else {
		printf("audit log of %s TAMPERED: %s (fault %s at entry %zu, "
		       "seq %" PRIu64 "; %" PRIu64 " entries before it "
		       "verified)\n",
		       cli->chain ? cli->chain : "the system chain", rep.msg,
		       tf_audit_fault_name(rep.fault), rep.index, rep.seq,
		       total + rep.verified);
	}
	d = detail_new(cli->chain, "audit_verify");
	if (d) {
		dset(d, "ok", tf_json_bool(ok), &drc);
		dset(d, "entries", tf_json_uint(ok ? total : rep.index), &drc);
		if (!ok)
			dset(d, "fault",
			     tf_json_cstring(tf_audit_fault_name(rep.fault)),
			     &drc);
	}
	status = ok ? ADMIN_EXIT_OK : ADMIN_EXIT_FAIL;
	if (audit_self(cli, TF_AUDIT_AUDIT_READ, d, drc))
		return fail(cli);
	return status;
}

static int cmd_audit_export(admin_cli *cli, int argc, char **argv)
{
	const char *from_s = NULL;
	char *end = NULL;
	unsigned long long from = 1;
	uint64_t count = 0;
	seg_ctx g;
	tf_json *d;
	int i = 1, rc = 0, drc = 0;

	while (i < argc && rc == 0) {
		if (strcmp(argv[i], "--from") == 0) {
			rc = opt_value(cli, argc, argv, &i, &from_s);
		} else if (strcmp(argv[i], "--system") == 0) {
			cli->system_chain = 1;
			i++;
		} else {
			return usage_error(cli, "unexpected argument %s",
					   argv[i]);
		}
	}
	if (rc)
		return rc;
	if (from_s) {
		errno = 0;
		from = strtoull(from_s, &end, 10);
		if (errno || end == from_s || *end || from_s[0] == '-' ||
		    from == 0)
			return usage_error(
				cli, "--from needs a seq >= 1, not %s", from_s);
	}
	if (cli_open_chain(cli))
		return fail(cli);
	memset(&g, 0, sizeof g);
	g.agency = cli->chain ? cli->chain : "";
	g.out = stdout;
	g.from = (uint64_t)from;
	/* Bounded by the log's size: each round moves past what it wrote. */
	for (;;) {
		g.n = 0;
		rc = tf_db_read(cli->srv.db, seg_txn, &g, &cli->err);
		if (rc == 0 && g.io_error)
			rc = tf_err_set(&cli->err, TF_EIO, "stdout",
					"cannot write the export: %s",
					strerror(errno));
		if (rc || g.n == 0)
			break;
		count += g.n;
		g.from = g.last_seq + 1;
		if (g.n < 1000)
			break;
	}
	if (fflush(stdout) != 0 && rc == 0)
		rc = tf_err_set(&cli->err, TF_EIO, "stdout",
				"cannot write the export: %s", strerror(errno));
	if (rc)
		return fail(cli);
	d = detail_new(cli->chain, "audit_export");
	if (d) {
		dset(d, "from", tf_json_uint(from), &drc);
		dset(d, "entries", tf_json_uint(count), &drc);
	}
	if (audit_self(cli, TF_AUDIT_AUDIT_EXPORT, d, drc))
		return fail(cli);
	fprintf(stderr, "exported %" PRIu64 " entries from seq %llu\n", count,
		from);
	return ADMIN_EXIT_OK;
}

static int cmd_totp_code(admin_cli *cli, int argc, char **argv)
{
	uint8_t key[TF_DB_TOTP_MAX];
	char code[TF_TOTP_DIGITS + 1];
	actor_ctx *x;
	size_t n = 0;
	int64_t now = admin_now_ms();
	int rc;

	if (argc != 2)
		return usage_error(cli, "needs USER");
	if (cli_open(cli, 1, need_admin))
		return fail(cli);
	if (check_id("user", argv[1], &cli->err))
		return fail(cli);
	x = calloc(1, sizeof *x);
	if (x == NULL)
		return fail(cli);
	x->agency = cli->agency;
	x->user = argv[1];
	rc = tf_db_read(cli->srv.db, actor_txn, x, &cli->err);
	if (rc == 0 && x->u.totp[0] == '\0')
		rc = tf_err_set(&cli->err, TF_ENOTFOUND, "totp",
				"user %s has no TOTP secret", argv[1]);
	if (rc == 0 &&
	    (tf_b32_decode(x->u.totp, strlen(x->u.totp), key, sizeof key, &n) ||
	     tf_totp_code(key, n, now / 1000 / TF_TOTP_STEP_S, code)))
		rc = tf_err_set(&cli->err, TF_EIO, "totp",
				"the stored TOTP secret of %s is unusable",
				argv[1]);
	tf_memzero(x, sizeof *x);
	tf_memzero(key, sizeof key);
	free(x);
	if (rc)
		return fail(cli);
	printf("%s\n", code);
	fprintf(stderr, "valid for %d more seconds\n",
		(int)(TF_TOTP_STEP_S - (now / 1000) % TF_TOTP_STEP_S));
	return ADMIN_EXIT_OK;
}

static int cmd_seed_demo(admin_cli *cli, int argc, char **argv)
{
	const char *out = NULL;
	char dir[4096];
	int i = 1, rc = 0;

	while (i < argc && rc == 0) {
		if (strcmp(argv[i], "--out") == 0)
			rc = opt_value(cli, argc, argv, &i, &out);
		else
			return usage_error(cli, "unexpected argument %s",
					   argv[i]);
	}
	if (rc)
		return rc;
	if (out == NULL) {
		if (snprintf(dir, sizeof dir, "%s/demo", cli->data_dir) >=
		    (int)sizeof dir)
			return usage_error(cli, "--data-dir is too long");
		out = dir;
	}
	if (cli_open(cli, 0, need_admin) ||
	    tf_admin_seed_demo(&cli->srv, out, admin_now_ms(), stdout,
			       &cli->err))
		return fail(cli);
	return ADMIN_EXIT_OK;
}

typedef int (*admin_cmd_fn)(admin_cli *cli, int argc, char **argv);

static const struct {
	const char *name;
	admin_cmd_fn fn;
} admin_cmds[] = {
	{"init-agency", cmd_init_agency},
	{"user-add", cmd_user_add},
	{"user-disable", cmd_one_id},
	{"user-enable", cmd_one_id},
	{"user-set-unit", cmd_one_id},
	{"user-release", cmd_one_id},
	{"sessions-revoke", cmd_one_id},
	{"device-enroll", cmd_device_enroll},
	{"device-revoke", cmd_one_id},
	{"device-list", cmd_list},
	{"user-list", cmd_list},
	{"policy-set", cmd_policy_set},
	{"policy-show", cmd_policy_show},
	{"banner-set", cmd_banner_set},
	{"audit-verify", cmd_audit_verify},
	{"audit-export", cmd_audit_export},
	{"totp-code", cmd_totp_code},
	{"seed-demo", cmd_seed_demo},
};

/*
 * The database, schema and PBKDF2 settings come from the daemon's own
 * option rules (config.c): --config / TENFOURD_CONFIG file, then the
 * TENFOURD_* environment, then the flags given here, so that `tenfourd
 * admin` opens exactly the database the daemon serves.
 */
static int cli_config(admin_cli *cli, const char *config)
{
	char *cargv[9];
	int cargc = 0, rc;

	cargv[cargc++] = (char *)"tenfourd";
	if (config) {
		cargv[cargc++] = (char *)"--config";
		cargv[cargc++] = (char *)config;
	}
	if (cli->data_dir) {
		cargv[cargc++] = (char *)"--data-dir";
		cargv[cargc++] = (char *)cli->data_dir;
	}
	if (cli->dsn) {
		cargv[cargc++] = (char *)"--db";
		cargv[cargc++] = (char *)cli->dsn;
	}
	if (cli->schema_path) {
		cargv[cargc++] = (char *)"--schema";
		cargv[cargc++] = (char *)cli->schema_path;
	}
	cargv[cargc] = NULL;
	rc = tf_config_load(&cli->cfg, cargc, cargv, NULL, &cli->err);
	if (rc)
		return rc;
	cli->data_dir = cli->cfg.data_dir;
	cli->dsn = cli->cfg.db;
	cli->schema_path = cli->cfg.schema;
	cli->dsn_from_dir = !cli->cfg.db_set;
	return 0;
}

int tf_admin_main(int argc, char **argv)
{
	admin_cli *cli;
	const char *v, *config = NULL;
	size_t k;
	int i = 1, status;

	cli = calloc(1, sizeof *cli);
	if (cli == NULL) {
		fprintf(stderr, "tenfourd admin: out of memory\n");
		return ADMIN_EXIT_FAIL;
	}
	while (i < argc && strncmp(argv[i], "--", 2) == 0) {
		const char *o = argv[i];
		if (strcmp(o, "--help") == 0) {
			fputs(admin_usage, stdout);
			status = ADMIN_EXIT_OK;
			goto out;
		}
		if (i + 1 >= argc) {
			status = usage_error(cli, "%s needs a value", o);
			goto out;
		}
		v = argv[i + 1];
		if (strcmp(o, "--config") == 0)
			config = v;
		else if (strcmp(o, "--data-dir") == 0)
			cli->data_dir = v;
		else if (strcmp(o, "--db") == 0)
			cli->dsn = v;
		else if (strcmp(o, "--schema") == 0)
			cli->schema_path = v;
		else if (strcmp(o, "--agency") == 0)
			cli->agency_opt = v;
		else if (strcmp(o, "--as") == 0)
			cli->as = v;
		else {
			status = usage_error(cli, "unknown option %s", o);
			goto out;
		}
		i += 2;
	}
	if (i >= argc) {
		status = usage_error(cli, "no command given");
		goto out;
	}
	if (strcmp(argv[i], "help") == 0) {
		fputs(admin_usage, stdout);
		status = ADMIN_EXIT_OK;
		goto out;
	}
	for (k = 0; k < sizeof admin_cmds / sizeof admin_cmds[0]; k++)
		if (strcmp(argv[i], admin_cmds[k].name) == 0)
			break;
	if (k == sizeof admin_cmds / sizeof admin_cmds[0]) {
		status = usage_error(cli, "unknown command %s", argv[i]);
		goto out;
	}
	cli->cmd = admin_cmds[k].name;
	if (cli_config(cli, config)) {
		/* a bad option value is a usage error; a file we cannot
		   read is an operational one */
		fprintf(stderr, "tenfourd admin %s: %s\n", cli->cmd,
			cli->err.msg);
		status = cli->err.code == TF_EINVAL ? ADMIN_EXIT_USAGE
						    : ADMIN_EXIT_FAIL;
		goto out;
	}
	snprintf(cli->where, sizeof cli->where, "tenfourd admin %s", cli->cmd);
	status = admin_cmds[k].fn(cli, argc - i, argv + i);
out:
	cli_close(cli);
	tf_memzero(cli, sizeof *cli);
	free(cli);
	return status;
}
